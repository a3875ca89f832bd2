/*
 * hotcache.h — a fixed-size, 4-way set-associative cache of small records in
 * memory, safe for many readers and writers at once.
 *
 * storage.c keeps two: the newest committed record of map positions and the
 * hashes of log tree nodes, so that the proofs of a lookup come from memory
 * instead of one RocksDB read per tree level.  What a record means, and when
 * it may be cached, is the caller's business; the cache only stores
 * (key, tag, value) and answers for an exact key.
 *
 * Keys have one fixed length per cache; values up to a fixed maximum.  A key
 * may sit in one of 4 slots; a put replaces the key's record, else fills an
 * empty slot, else evicts one of the 4.
 * Slots are guarded by a set of striped mutexes, so a reader never sees half
 * a record.  Memory: per slot, 16 + key_bytes + val_max rounded up to 8,
 * plus 2 bytes of fingerprint; at least 512 slots; allocated at once but
 * touched only as slots fill.
 */
#ifndef KT_HOTCACHE_H
#define KT_HOTCACHE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "kt_err.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KT_HOTCACHE_MAX_ENTRIES ((size_t)1 << 28)
#define KT_HOTCACHE_MAX_KEY 64u
#define KT_HOTCACHE_MAX_VAL 255u

typedef struct kt_hotcache kt_hotcache;

/* Creates a cache of `entries` slots (rounded up to a power of two, at most
 * KT_HOTCACHE_MAX_ENTRIES) for keys of exactly key_bytes (1..MAX_KEY) and
 * values of at most val_max (1..MAX_VAL) bytes.  entries == 0 gives *out ==
 * NULL and KT_OK: every function below accepts a NULL cache (nothing is
 * cached).  Returns KT_OK, KT_ERR_INVALID_ARG for bad sizes, KT_ERR_NOMEM. */
KT_MUST_CHECK int kt_hotcache_new(size_t entries, size_t key_bytes,
				  size_t val_max, kt_hotcache **out);

/* Frees the cache; c may be NULL.  No other call may be running on it. */
void kt_hotcache_free(kt_hotcache *c);

/* 1 if the slot of key holds key with a tag <= max_tag: then *tag, val[0..
 * *val_len) are its record (val must hold val_max bytes).  0 otherwise
 * (outputs untouched).  Counts a hit or a miss.  Thread safe. */
int kt_hotcache_get(kt_hotcache *c, const uint8_t *key, uint64_t max_tag,
		    uint64_t *tag, uint8_t *val, size_t *val_len);

/* Stores (key, tag, val) in key's slot, replacing what it held.  A value
 * longer than val_max is not stored, and the key's older record is dropped
 * (a later get misses rather than returning it).  Thread safe. */
void kt_hotcache_put(kt_hotcache *c, const uint8_t *key, uint64_t tag,
		     const uint8_t *val, size_t val_len);

/* As kt_hotcache_put (including the drop of an over-long value), but only
 * if *epoch still equals `expect` while the
 * slot is locked; returns 1 if stored.  A writer that changes *epoch before
 * it drops or replaces slots (kt_hotcache_drop, which takes the same lock)
 * can thereby keep a reader from storing a record it read before the
 * change.  Thread safe. */
int kt_hotcache_put_if(kt_hotcache *c, const uint8_t *key, uint64_t tag,
		       const uint8_t *val, size_t val_len,
		       const _Atomic uint64_t *epoch, uint64_t expect);

/* Empties key's slot if it holds key.  Thread safe. */
void kt_hotcache_drop(kt_hotcache *c, const uint8_t *key);

/* Number of slots (0 for a NULL cache).  Thread safe. */
size_t kt_hotcache_capacity(const kt_hotcache *c);

/* Counters since creation (relaxed reads); zeros for a NULL cache. */
void kt_hotcache_counts(const kt_hotcache *c, uint64_t *hits,
			uint64_t *misses);

/* A 64-bit hash of (tag, p[0..n)) with good low bits; also used by
 * storage.c's batch overlay.  Pure. */
uint64_t kt_hotcache_hash(uint8_t tag, const uint8_t *p, size_t n);

#ifdef __cplusplus
}
#endif
#endif /* KT_HOTCACHE_H */
