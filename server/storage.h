/*
 * storage.h — ktd's RocksDB storage: column families, the on-disk format
 * version, node metadata, atomic synced write batches with read-your-writes,
 * versioned map nodes with pruning, and the kt_log_store / kt_map_store
 * adapters the apply and read paths hand to merkle/kt_log.h and
 * merkle/kt_map.h.
 *
 * Every key and value layout is written down in docs/PROTOCOL.md §9
 * (on-disk format KT_STORAGE_FORMAT_VERSION).
 *
 * Model
 *   - One kt_storage per data directory, opened by main and shared by every
 *     thread.
 *   - Writes happen only through a batch (kt_storage_batch_*): puts are
 *     buffered in memory, reads through the batch see them (read-your-writes,
 *     also for the versioned seek of map nodes), and kt_storage_batch_commit
 *     writes everything plus the applied sequencer/raft index in ONE synced
 *     RocksDB write.  A crash at any point leaves either all of a batch or
 *     none of it.  At most one batch is open at a time; the thread that owns
 *     it is "the apply thread".
 *   - Reads name what they read from: a kt_storage_view (a consistent
 *     RocksDB snapshot, owned by one thread at a time) or NULL (the latest
 *     committed state, each call on its own).
 *   - Map nodes are versioned: a node is stored under (position, version),
 *     never overwritten by a later version; a read "at" version `at` sees the
 *     newest record <= at.  Versions older than a prune boundary B are
 *     deleted in the background (kt_storage_prune_*), and from then on every
 *     map read at a version < B fails with KT_ERR_STORAGE_PRUNED instead of
 *     answering from an incomplete history.
 *
 * Errors: KT_OK, KT_ERR_NOT_FOUND (absent key), KT_ERR_STORAGE (RocksDB
 * failed: the message goes to the options' log callback, never to stdout or
 * stderr), KT_ERR_STORAGE_FORMAT, KT_ERR_STORAGE_PRUNED, KT_ERR_INVALID_ARG,
 * KT_ERR_TOO_LARGE (a key or value over its cap), KT_ERR_NOMEM, and decoding
 * errors (KT_ERR_TRUNCATED, ...) for a stored record that does not decode.
 * Out-parameters are reset on failure.
 *
 * THREAD SAFETY: kt_storage_* reads with v == NULL, kt_storage_view_open,
 * kt_storage_prune_* and the accessors are safe from any thread.  A view is
 * used by one thread at a time (many views may exist at once).  A batch and
 * the "apply" adapters belong to the apply thread.  Pruning may run on its
 * own thread concurrently with the apply thread and readers.
 */
#ifndef KT_STORAGE_H
#define KT_STORAGE_H

#include <stddef.h>
#include <stdint.h>

#include "kt_err.h"
#include "kt_hash.h"
#include "kt_log.h"
#include "kt_map.h"
#include "kt_types.h"
#include "kt_vrf.h"

#ifdef __cplusplus
extern "C" {
#endif

/* On-disk format version, stored in meta at creation and checked at open.
 * Bump it for any change of a key or value layout (docs/PROTOCOL.md §9).
 * 3: the apply path's used registrar token records are complete (a format
 * 2 database may lack them for enrolments of older builds). */
#define KT_STORAGE_FORMAT_VERSION 3u
/* The one older format that opens (only with
 * kt_storage_options.allow_migration), for kt_apply_open to migrate. */
#define KT_STORAGE_FORMAT_MIGRATABLE 2u

/* Caps (checked before anything is allocated or written). */
#define KT_STORAGE_MAX_KEY 512u                 /* any key, bytes */
#define KT_STORAGE_MAX_VALUE (4u << 20)         /* any value, bytes */
#define KT_STORAGE_MAP_NODE_MAX 128u            /* one stored map node, bytes */
#define KT_STORAGE_MAX_BATCH_OPS (1u << 22)     /* distinct keys in one batch */
#define KT_STORAGE_MAX_BATCH_BYTES (1u << 30)   /* keys + values in one batch */
#define KT_STORAGE_MAX_NAME 255u                /* witness name in a cosig key */

/* Position part of a map node key: u16 depth || prefix[32]. */
#define KT_STORAGE_MAP_POS_BYTES (2 + KT_HASH_BYTES)

/* kt_storage_batch_commit: do not record an applied index. */
#define KT_STORAGE_NO_INDEX UINT64_MAX

/* Hot cache defaults (kt_storage_options): memory is touched only as the
 * caches fill (120 bytes per map slot, 64 per log slot). */
#define KT_STORAGE_CACHE_DEFAULT_ENTRIES (1u << 22)
#define KT_STORAGE_CACHE_DEFAULT_DEPTH 48u
#define KT_STORAGE_LOG_CACHE_DEFAULT_ENTRIES (1u << 22)
/* Account name cache (80 bytes per slot, touched as it fills): 2 x the
 * accounts keeps nearly every name. */
#define KT_STORAGE_NAME_CACHE_DEFAULT_ENTRIES (1u << 21)
/* Most write-ahead log kept before the oldest is forced out by flushes. */
#define KT_STORAGE_MAX_WAL_BYTES ((uint64_t)256 << 20)
/* RocksDB's block cache, shared by all column families. */
#define KT_STORAGE_BLOCK_CACHE_DEFAULT_BYTES ((size_t)256 << 20)

/* Column families.  "default" exists (RocksDB requires it) but holds
 * nothing. */
typedef enum kt_storage_cf {
	KT_CF_META = 0,       /* "meta": node metadata (kt_storage_meta) */
	KT_CF_LOG_ENTRIES,    /* "log_entries": u64 position -> entry */
	KT_CF_LOG_NODES,      /* "log_nodes": u8 level || u64 index -> hash */
	KT_CF_MAP_NODES,      /* "map_nodes": position || ~version -> node */
	KT_CF_ACCOUNTS,       /* "accounts": index [|| u64 version] -> record */
	KT_CF_ACCOUNT_NAMES,  /* "account_names": account -> index */
	KT_CF_CHECKPOINTS,    /* "checkpoints": u64 size [|| cosig id] -> note */
	KT_CF_COUNT
} kt_storage_cf;

/* Metadata keys (the meta CF).  Storage-owned keys (FORMAT, APPLIED_INDEX,
 * PRUNE_BOUNDARY, MAP_NEXT_VERSION) cannot be written by a batch put. */
typedef enum kt_storage_meta {
	KT_META_FORMAT = 0,           /* u32: KT_STORAGE_FORMAT_VERSION */
	KT_META_TREE_SIZE,            /* u64: log size after the last batch */
	KT_META_APPLIED_INDEX,        /* u64: last applied sequencer/raft index */
	KT_META_NODE_ID,              /* bytes: this node's identity */
	KT_META_ORIGIN,               /* bytes: the log origin line */
	KT_META_LAST_CHECKPOINT,      /* u64: size of the newest checkpoint */
	KT_META_COSIGNED_CHECKPOINT,  /* u64: size of the newest cosigned one */
	KT_META_PRUNE_BOUNDARY,       /* u64: map versions < this are refused */
	KT_META_MAP_NEXT_VERSION,     /* u64: 1 + highest committed map version */
	KT_META_COUNT
} kt_storage_meta;

/* Receives RocksDB error text (and the kt code it became).  Called from any
 * thread that hit the error; must be thread safe.  msg is valid during the
 * call only. */
typedef void (*kt_storage_log_fn)(void *ctx, int code, const char *msg);

typedef struct kt_storage_options {
	int create;                 /* nonzero: create the database if missing */
	size_t cache_entries;       /* hot map-node cache slots (rounded up to a
	                               power of two, <= 2^28); 0 disables it */
	unsigned cache_max_depth;   /* cache map nodes with depth < this (<= 256) */
	size_t log_cache_entries;   /* log node hash cache slots; 0 disables */
	size_t name_cache_entries;  /* account name -> index cache slots; 0
	                               disables */
	size_t block_cache_bytes;   /* RocksDB block cache; 0: the default */
	kt_storage_log_fn log;      /* NULL: errors are only returned */
	void *log_ctx;
	int allow_migration;        /* nonzero: a KT_STORAGE_FORMAT_MIGRATABLE
	                               database opens too (kt_storage_format);
	                               default 0: refused */
} kt_storage_options;

typedef struct kt_storage kt_storage;
typedef struct kt_storage_view kt_storage_view;
typedef struct kt_storage_batch kt_storage_batch;

/* ---- records ---------------------------------------------------------- */

/* An account's head record (key: index).  The account identifier is kept so
 * that the VRF proof need not be recomputed. */
typedef struct kt_storage_account_head {
	uint64_t version;                         /* newest version, >= 1 */
	uint8_t vrf_proof[KT_VRF_PROOF_BYTES];    /* proof of index for account */
	uint8_t account[KT_ACCOUNT_MAX];
	size_t account_len;                       /* 1..KT_ACCOUNT_MAX */
} kt_storage_account_head;

/* One version of an account (key: index || u64 version).  value and
 * provenance are the kt_types.h encodings.  When filled by a get they borrow
 * from `raw` (owned; release with kt_storage_account_version_free); for a
 * put the caller points them at its own bytes and leaves raw NULL. */
typedef struct kt_storage_account_version {
	uint64_t log_index;                       /* position of its log entry */
	uint64_t timestamp_ms;                    /* that entry's timestamp */
	uint8_t commitment[KT_COMMITMENT_BYTES];
	uint8_t history[KT_HASH_BYTES];           /* history_v */
	uint8_t opening[KT_OPENING_BYTES];        /* wiped on free */
	const uint8_t *value;                     /* <= KT_VALUE_MAX_BYTES */
	size_t value_len;
	const uint8_t *provenance;                /* <= KT_PROVENANCE_MAX_BYTES */
	size_t provenance_len;
	uint8_t *raw;                             /* owned storage, or NULL */
	size_t raw_len;
} kt_storage_account_version;

/* Releases rec->raw (wiped) and zeroes *rec; rec may be NULL. */
void kt_storage_account_version_free(kt_storage_account_version *rec);

/* ---- open / close ----------------------------------------------------- */

/* Fills *o with the defaults: create = 1, the default cache, no log, no
 * migration. */
void kt_storage_options_init(kt_storage_options *o);

/* Opens (and with o->create, creates) the database in directory dir.
 * A new database gets every column family and meta FORMAT =
 * KT_STORAGE_FORMAT_VERSION; an existing one must have every column family
 * and exactly that format version (or, with o->allow_migration,
 * KT_STORAGE_FORMAT_MIGRATABLE), else KT_ERR_STORAGE_FORMAT (nothing is
 * changed on disk).  A missing database without o->create gives
 * KT_ERR_NOT_FOUND.  o may be NULL (defaults).  On KT_OK *out is owned by
 * the caller (kt_storage_close); else *out is NULL.  Not thread safe with
 * another open of the same directory (RocksDB's LOCK file refuses a second
 * process: KT_ERR_STORAGE). */
KT_MUST_CHECK int kt_storage_open(const char *dir, const kt_storage_options *o,
				  kt_storage **out);

/* The format of the open database: KT_STORAGE_FORMAT_VERSION, or
 * KT_STORAGE_FORMAT_MIGRATABLE for one opened with allow_migration and not
 * migrated yet.  Until a commit that carries kt_storage_batch_format_put,
 * such a database refuses every write (commit and kt_storage_prune_begin
 * return KT_ERR_STORAGE_FORMAT, nothing written); reads work.  Any
 * thread. */
uint32_t kt_storage_format(kt_storage *st);

/* Closes the database.  No view may be open; an open batch is aborted
 * (its pointer is then invalid).  st may be NULL. */
void kt_storage_close(kt_storage *st);

/* Frees a value returned by a kt_storage_*get* function; p may be NULL. */
void kt_storage_free(void *p);

/* ---- views (consistent snapshots) ------------------------------------ */

/* Opens a read view of the state committed now.  Every read through it sees
 * that state, whatever commits later (map reads through the hot cache give
 * the same records: versions are immutable).  *out is owned by the caller
 * (kt_storage_view_close); one thread at a time. */
KT_MUST_CHECK int kt_storage_view_open(kt_storage *st, kt_storage_view **out);

/* Releases the snapshot and its iterators; v may be NULL. */
void kt_storage_view_close(kt_storage_view *v);

/* ---- reads (v: a view, or NULL for the latest committed state) ------- */

/* Any column family by raw key.  On KT_OK *val (heap, kt_storage_free) holds
 * *vlen bytes; KT_ERR_NOT_FOUND if absent. */
KT_MUST_CHECK int kt_storage_get(kt_storage *st, kt_storage_view *v,
				 kt_storage_cf cf, const uint8_t *key,
				 size_t klen, uint8_t **val, size_t *vlen);

/* A metadata value (raw bytes, as kt_storage_get). */
KT_MUST_CHECK int kt_storage_meta_get(kt_storage *st, kt_storage_view *v,
				      kt_storage_meta m, uint8_t **val,
				      size_t *vlen);

/* A u64 metadata value.  KT_ERR_NOT_FOUND if never written,
 * KT_ERR_STORAGE if the stored value is not 8 bytes, KT_ERR_INVALID_ARG for
 * KT_META_FORMAT (a u32). */
KT_MUST_CHECK int kt_storage_meta_get_u64(kt_storage *st, kt_storage_view *v,
					  kt_storage_meta m, uint64_t *out);

/* The log entry at position pos (heap, kt_storage_free). */
KT_MUST_CHECK int kt_storage_log_entry_get(kt_storage *st, kt_storage_view *v,
					   uint64_t pos, uint8_t **val,
					   size_t *vlen);

/* Calls fn for every stored entry with start <= position < end, in order,
 * without allocating; entry bytes are valid during the call only.  Stops
 * early and returns fn's value when fn returns non-zero.  Returns KT_OK
 * after the range. */
typedef int (*kt_storage_entry_fn)(void *ctx, uint64_t pos,
				   const uint8_t *entry, size_t len);
KT_MUST_CHECK int kt_storage_log_entries_scan(kt_storage *st,
					      kt_storage_view *v,
					      uint64_t start, uint64_t end,
					      kt_storage_entry_fn fn, void *ctx);

/* The log node (level <= 63, index) into out. */
KT_MUST_CHECK int kt_storage_log_node_get(kt_storage *st, kt_storage_view *v,
					  unsigned level, uint64_t index,
					  uint8_t out[KT_HASH_BYTES]);

/* The newest record of map position (depth, prefix) whose version is
 * <= at: on KT_OK its version in *version and its bytes in
 * node[0..*node_len).  KT_ERR_NOT_FOUND: no such record.
 * KT_ERR_STORAGE_PRUNED: at < the prune boundary.  KT_ERR_INVALID_ARG:
 * depth > 256 or prefix bits set at or after depth. */
KT_MUST_CHECK int kt_storage_map_node_get(kt_storage *st, kt_storage_view *v,
					  uint16_t depth,
					  const uint8_t prefix[KT_HASH_BYTES],
					  uint64_t at, uint64_t *version,
					  uint8_t node[KT_STORAGE_MAP_NODE_MAX],
					  size_t *node_len);

/* The head record of an account by map index. */
KT_MUST_CHECK int kt_storage_account_head_get(kt_storage *st,
					      kt_storage_view *v,
					      const uint8_t index[KT_INDEX_BYTES],
					      kt_storage_account_head *out);

/* One version record.  On KT_OK *out owns its bytes
 * (kt_storage_account_version_free). */
KT_MUST_CHECK int kt_storage_account_version_get(kt_storage *st,
						 kt_storage_view *v,
						 const uint8_t index[KT_INDEX_BYTES],
						 uint64_t version,
						 kt_storage_account_version *out);

/* The map index of an account identifier (1..KT_ACCOUNT_MAX bytes). */
KT_MUST_CHECK int kt_storage_account_index_get(kt_storage *st,
					       kt_storage_view *v,
					       const uint8_t *account,
					       size_t account_len,
					       uint8_t index[KT_INDEX_BYTES]);

/* The map index of a committed account identifier, from a cache of the
 * name -> index records when it holds the name, else from the latest
 * committed state (then cached).  A name's record never changes once
 * committed, but it may be newer than any view: a caller reading through a
 * view must check that the view holds the account (its head record).
 * KT_ERR_NOT_FOUND if no such name is committed (not cached);
 * KT_ERR_INVALID_ARG for a length outside 1..KT_ACCOUNT_MAX. */
KT_MUST_CHECK int kt_storage_account_index_cached(kt_storage *st,
						  const uint8_t *account,
						  size_t account_len,
						  uint8_t index[KT_INDEX_BYTES]);

/* The signed checkpoint note of tree size `size` (heap, kt_storage_free). */
KT_MUST_CHECK int kt_storage_checkpoint_get(kt_storage *st, kt_storage_view *v,
					    uint64_t size, uint8_t **note,
					    size_t *len);

/* Calls fn for every cosignature stored for tree size `size`, in key order
 * (key hash, then name); arguments are valid during the call only.  Stops
 * early and returns fn's value when it is non-zero. */
typedef int (*kt_storage_cosig_fn)(void *ctx,
				   const uint8_t key_hash[4],
				   const uint8_t *name, size_t name_len,
				   const uint8_t *line, size_t line_len);
KT_MUST_CHECK int kt_storage_cosigs_scan(kt_storage *st, kt_storage_view *v,
					 uint64_t size, kt_storage_cosig_fn fn,
					 void *ctx);

/* ---- batches (apply thread) ------------------------------------------- */

/* Starts the batch.  KT_ERR_INVALID_ARG if one is already open.  *out is
 * owned by the caller until kt_storage_batch_commit or _abort. */
KT_MUST_CHECK int kt_storage_batch_begin(kt_storage *st, kt_storage_batch **out);

/* Buffers a put / delete of a raw key (not into map_nodes, and not of a
 * storage-owned meta key: KT_ERR_INVALID_ARG).  A later put of the same key
 * in the batch replaces the earlier one.  Every batch write returns its
 * result AND records the first failure in the batch, which commit then
 * returns (so a caller may check only commit's result). */
int kt_storage_batch_put(kt_storage_batch *b, kt_storage_cf cf,
			 const uint8_t *key, size_t klen,
			 const uint8_t *val, size_t vlen);
int kt_storage_batch_delete(kt_storage_batch *b, kt_storage_cf cf,
			    const uint8_t *key, size_t klen);

/* Reads through the batch: its own buffered writes first (a buffered delete
 * gives KT_ERR_NOT_FOUND), else the latest committed state.  As
 * kt_storage_get. */
KT_MUST_CHECK int kt_storage_batch_get(kt_storage_batch *b, kt_storage_cf cf,
				       const uint8_t *key, size_t klen,
				       uint8_t **val, size_t *vlen);

int kt_storage_batch_meta_put(kt_storage_batch *b, kt_storage_meta m,
			      const uint8_t *val, size_t len);
int kt_storage_batch_meta_put_u64(kt_storage_batch *b, kt_storage_meta m,
				  uint64_t value);
KT_MUST_CHECK int kt_storage_batch_meta_get_u64(kt_storage_batch *b,
						kt_storage_meta m,
						uint64_t *out);

int kt_storage_batch_log_entry_put(kt_storage_batch *b, uint64_t pos,
				   const uint8_t *entry, size_t len);
int kt_storage_batch_log_node_put(kt_storage_batch *b, unsigned level,
				  uint64_t index,
				  const uint8_t hash[KT_HASH_BYTES]);
KT_MUST_CHECK int kt_storage_batch_log_node_get(kt_storage_batch *b,
						unsigned level, uint64_t index,
						uint8_t out[KT_HASH_BYTES]);

/* Records a map node at `version`.  Refused (KT_ERR_INVALID_ARG) when
 * version is below the newest version of the position (committed or in the
 * batch); the same (position, version) replaces the earlier record. */
int kt_storage_batch_map_node_put(kt_storage_batch *b, uint16_t depth,
				  const uint8_t prefix[KT_HASH_BYTES],
				  uint64_t version, const uint8_t *node,
				  size_t node_len);
/* As kt_storage_map_node_get, seeing the batch's own records. */
KT_MUST_CHECK int kt_storage_batch_map_node_get(kt_storage_batch *b,
						uint16_t depth,
						const uint8_t prefix[KT_HASH_BYTES],
						uint64_t at, uint64_t *version,
						uint8_t node[KT_STORAGE_MAP_NODE_MAX],
						size_t *node_len);

/* Writes the head of account index; at head->version 1 (the account's
 * creation) also its account_names record (head->account -> index), which
 * later versions leave alone: a name's index never changes. */
int kt_storage_batch_account_head_put(kt_storage_batch *b,
				      const uint8_t index[KT_INDEX_BYTES],
				      const kt_storage_account_head *head);
KT_MUST_CHECK int kt_storage_batch_account_head_get(kt_storage_batch *b,
						    const uint8_t index[KT_INDEX_BYTES],
						    kt_storage_account_head *out);
int kt_storage_batch_account_version_put(kt_storage_batch *b,
					 const uint8_t index[KT_INDEX_BYTES],
					 uint64_t version,
					 const kt_storage_account_version *rec);
KT_MUST_CHECK int kt_storage_batch_account_version_get(kt_storage_batch *b,
						       const uint8_t index[KT_INDEX_BYTES],
						       uint64_t version,
						       kt_storage_account_version *out);

int kt_storage_batch_checkpoint_put(kt_storage_batch *b, uint64_t size,
				    const uint8_t *note, size_t len);
/* name: 1..KT_STORAGE_MAX_NAME bytes. */
int kt_storage_batch_cosig_put(kt_storage_batch *b, uint64_t size,
			       const uint8_t key_hash[4],
			       const uint8_t *name, size_t name_len,
			       const uint8_t *line, size_t line_len);

/* The batch's first error (KT_OK if none). */
KT_MUST_CHECK int kt_storage_batch_error(const kt_storage_batch *b);

/* Writes the whole batch, plus meta APPLIED_INDEX = applied_index (unless
 * KT_STORAGE_NO_INDEX) and MAP_NEXT_VERSION, as ONE RocksDB write with
 * sync = true, then frees b.  applied_index must be greater than the stored
 * one (KT_ERR_INVALID_ARG).  A database not yet migrated
 * (kt_storage_format) refuses a batch without kt_storage_batch_format_put
 * (KT_ERR_STORAGE_FORMAT).  On any error nothing is written.  The hot
 * cache is updated for the positions the batch wrote. */
KT_MUST_CHECK int kt_storage_batch_commit(kt_storage_batch *b,
					  uint64_t applied_index);

/* Makes the commit of b also write meta FORMAT = KT_STORAGE_FORMAT_VERSION
 * (the last step of a migration: the migrated records and the new format
 * go in ONE synced write); once it succeeded kt_storage_format says so.
 * Returns the batch's error (KT_OK if none). */
int kt_storage_batch_format_put(kt_storage_batch *b);

/* Discards the batch (nothing written); b may be NULL. */
void kt_storage_batch_abort(kt_storage_batch *b);

/* Committed values kept in memory (apply thread; or any thread for a
 * possibly stale answer).  *out is set and KT_OK, or KT_ERR_NOT_FOUND when
 * nothing was recorded yet. */
KT_MUST_CHECK int kt_storage_applied_index(kt_storage *st, uint64_t *out);

/* ---- pruning ---------------------------------------------------------- */

/* Progress of one pruning pass; owned by the pruning thread. */
typedef struct kt_storage_prune {
	uint64_t boundary;
	uint8_t cursor[KT_MAP_STORE_KEY_BYTES]; /* next key to look at */
	uint8_t pos[KT_STORAGE_MAP_POS_BYTES];  /* position of the last key seen */
	int started;                /* cursor and pos are set */
	int live_seen;              /* pos already kept its record live at boundary */
	int done;                   /* the pass reached the end */
	uint64_t keys_seen;         /* records looked at */
	uint64_t positions;         /* positions looked at */
	uint64_t deleted;           /* records deleted */
} kt_storage_prune;

/* Starts a pass that will delete, for every map position, the records older
 * than the newest record whose version is <= boundary (that one, live at
 * boundary, and everything newer are kept).  First raises the stored prune
 * boundary to `boundary` (synced) so that reads below it fail from now on.
 * A boundary lower than the stored one is refused (KT_ERR_INVALID_ARG). */
KT_MUST_CHECK int kt_storage_prune_begin(kt_storage *st, uint64_t boundary,
					 kt_storage_prune *p);

/* One bounded step: looks at up to max_keys map-node keys (>= 1), deletes
 * what is older than the live record (one unsynced write; a crash only
 * leaves work for the next pass).  Returns KT_OK; p->done is set once the
 * pass is complete. */
KT_MUST_CHECK int kt_storage_prune_step(kt_storage *st, kt_storage_prune *p,
					size_t max_keys);

/* The current prune boundary (0 when nothing was pruned). */
uint64_t kt_storage_prune_boundary(kt_storage *st);

/* ---- merkle adapters -------------------------------------------------- */
/*
 * Read adapters bind a view: they read the view's snapshot; put fails with
 * KT_ERR_INVALID_ARG.  The view must outlive every use of the store.
 *
 * Apply adapters bind the storage: get reads through the open batch if
 * there is one (read-your-writes) else the latest committed state; put
 * requires an open batch (KT_ERR_INVALID_ARG otherwise).  Apply thread only.
 * Because they never point at a batch, a kt_log kept across batches stays
 * valid.
 *
 * Map reads below the prune boundary return KT_ERR_STORAGE_PRUNED.  A
 * stored record that does not decode gives KT_ERR_STORAGE.
 */
kt_log_store kt_storage_log_store_view(kt_storage_view *v);
kt_log_store kt_storage_log_store_apply(kt_storage *st);
kt_map_store kt_storage_map_store_view(kt_storage_view *v);
kt_map_store kt_storage_map_store_apply(kt_storage *st);

/* ---- warming the hot caches -------------------------------------------- */

typedef struct kt_storage_warm_stats {
	uint64_t map_positions; /* newest records stored in the map cache */
	uint64_t map_records;   /* map records read (all versions) */
	uint64_t log_nodes;     /* log node hashes stored */
	uint64_t names;         /* account names stored in the name cache */
} kt_storage_warm_stats;

/* Fills the hot caches from the database, so that reads after a restart
 * come from memory at once: the newest record of every map position the
 * map cache takes (upper levels first), then log nodes (upper levels
 * first), then account names (in name order), each until the cache is
 * three quarters full.  Safe beside the
 * apply thread and readers (a commit meanwhile makes it re-read from the
 * position it was at).  Calls stop(ctx) every few thousand records and
 * returns KT_OK early when it says nonzero.  *out (may be NULL) counts what
 * was done.  Returns KT_OK or KT_ERR_STORAGE / KT_ERR_NOMEM.  Meant for
 * one background thread. */
KT_MUST_CHECK int kt_storage_warm_caches(kt_storage *st, int (*stop)(void *),
					 void *ctx, kt_storage_warm_stats *out);

/* ---- statistics and tests --------------------------------------------- */

typedef struct kt_storage_stats {
	uint64_t cache_hits;       /* map node cache */
	uint64_t cache_misses;
	uint64_t log_cache_hits;   /* log node cache */
	uint64_t log_cache_misses;
	uint64_t commits;
	uint64_t write_errors;
	uint64_t name_cache_hits;  /* account name cache */
	uint64_t name_cache_misses;
} kt_storage_stats;

/* What the database and its caches hold, for operators sizing the caches
 * (metrics, start-up log).  RocksDB's own estimates: live SST bytes and
 * memtable bytes per column family (index = kt_storage_cf), the block
 * cache's usage and capacity, and the slots of each hot cache (0: off). */
typedef struct kt_storage_sizes {
	uint64_t sst_bytes[KT_CF_COUNT];
	uint64_t memtable_bytes[KT_CF_COUNT];
	uint64_t block_cache_usage;
	uint64_t block_cache_capacity;
	uint64_t map_cache_slots;
	uint64_t log_cache_slots;
	uint64_t name_cache_slots;
} kt_storage_sizes;

/* Fills *out (a property RocksDB cannot give reads as 0).  Any thread;
 * costs a few property reads per column family. */
void kt_storage_get_sizes(kt_storage *st, kt_storage_sizes *out);

/* The name of column family cf ("meta", "log_entries", ...), or NULL if cf
 * is not a kt_storage_cf.  Pure. */
const char *kt_storage_cf_name(unsigned cf);

/* A number that changes after every commit that wrote a checkpoint or a
 * cosignature: what a reader built from them at an older generation may be
 * out of date (a cosignature added since).  Any thread. */
uint64_t kt_storage_checkpoint_generation(kt_storage *st);

/* Copies the counters (relaxed reads; any thread). */
void kt_storage_get_stats(kt_storage *st, kt_storage_stats *out);

/* Fault injection for tests: the next n writes (commits, prune writes) or
 * reads fail with KT_ERR_STORAGE before reaching RocksDB, exactly as a
 * RocksDB error would (the log callback is called).  Any thread. */
void kt_storage_test_fail_writes(kt_storage *st, unsigned n);
void kt_storage_test_fail_reads(kt_storage *st, unsigned n);

#ifdef __cplusplus
}
#endif
#endif /* KT_STORAGE_H */
