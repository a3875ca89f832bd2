/*
 * reader.h — the read path of ktd: everything a read answers, at a named
 * tree size, from one consistent storage snapshot.
 *
 * A read names the tree size it is answered at (ReadAt.tree_size; 0 = the
 * newest checkpoint, see kt_reader_newest).  kt_reader_open resolves that size, checks
 * that a signed checkpoint is stored for it and opens a storage view; every
 * proof built through the reader then comes from that one snapshot and that
 * one size, so a response never mixes two tree states:
 *
 *   - the log is read at `size` (kt_log_* over the view's log store);
 *   - the map is read "at" size - 1 (apply.h: a read at tree size N sees
 *     exactly the batches that end at or before N);
 *   - an account's version record is the newest one whose log_index is
 *     below `size`.
 *
 * Nothing here knows protobuf: the handlers (service.c, admin.c) turn these
 * structs into messages.
 *
 * Errors (out-parameters are reset on failure):
 *   KT_ERR_NO_CHECKPOINT   no signed checkpoint is stored at the size (or
 *                          the node has no checkpoint at all yet);
 *   KT_ERR_LOG_BAD_SIZE    a size beyond the node's newest checkpoint, a
 *                          range that is not inside the tree;
 *   KT_ERR_STORAGE_PRUNED  the size is older than the retention window;
 *   KT_ERR_NO_ACCOUNT      (history) the account does not exist at the size;
 *   KT_ERR_STORAGE, KT_ERR_NOMEM, KT_ERR_INTERNAL, decoding errors of a
 *                          stored record (a corrupt database).
 *
 * THREAD SAFETY: a kt_reader belongs to one thread; any number of readers
 * may be open at once, on any threads, concurrently with the apply thread.
 */
#ifndef KT_SERVER_READER_H
#define KT_SERVER_READER_H

#include <stddef.h>
#include <stdint.h>

#include "kt_err.h"
#include "kt_hash.h"
#include "kt_log.h"
#include "kt_map.h"
#include "kt_types.h"
#include "kt_vrf.h"
#include "node.h"
#include "storage.h"

#ifdef __cplusplus
extern "C" {
#endif

/* An open read at one tree size.  Fields are read-only for callers. */
typedef struct kt_reader {
	kt_node *node;               /* borrowed */
	kt_storage *st;              /* borrowed from node */
	kt_storage_view *view;       /* owned */
	uint64_t head_size;          /* the published head when opened */
	uint64_t size;               /* the size answered at (> 0) */
	kt_log_store log;            /* bound to view */
	kt_map_store map;            /* bound to view */
	uint64_t checkpoint_gen;     /* storage's, read before the view opened */
} kt_reader;

/* The newest checkpoint size committed in storage as seen by v (a view, or
 * NULL for the latest state): never a size v does not hold.  It can be
 * ahead of the node's published head for an instant after a commit, so a
 * client that holds an UpdateResponse can read at its checkpoint at once.
 * 0 if there is none yet. */
KT_MUST_CHECK int kt_reader_newest(kt_node *n, kt_storage_view *v, uint64_t *size);

/* Opens a read at tree_size (0 = the newest checkpoint, kt_reader_newest).  Returns KT_OK,
 * KT_ERR_NO_CHECKPOINT (no checkpoint stored at that size, or the log is
 * still empty), KT_ERR_LOG_BAD_SIZE (beyond the head), KT_ERR_STORAGE,
 * KT_ERR_NOMEM.  On failure *r is zeroed (kt_reader_close is still safe).
 * Close with kt_reader_close. */
KT_MUST_CHECK int kt_reader_open(kt_reader *r, kt_node *n, uint64_t tree_size);

/* Releases the view and zeroes *r.  r may be NULL or already closed. */
void kt_reader_close(kt_reader *r);

/* A list of proof hashes. */
typedef struct kt_read_proof {
	uint8_t h[KT_LOG_MAX_PROOF_HASHES][KT_HASH_BYTES];
	size_t n;
} kt_read_proof;

/* What every read at one tree size shares (the checkpoint with its
 * cosignatures, the last entry and its inclusion proof), cached per node for
 * the last few sizes read, so that lookups at the newest size do not rebuild
 * it from storage each time.  An entry is used only at the storage's
 * checkpoint generation it was built at (a cosignature added since makes it
 * stale).  Thread safe. */
typedef struct kt_reader_cache kt_reader_cache;

/* Returns KT_OK and *out, or KT_ERR_NOMEM. */
KT_MUST_CHECK int kt_reader_cache_new(kt_reader_cache **out);

/* Frees it; c may be NULL.  No reader may be using it. */
void kt_reader_cache_free(kt_reader_cache *c);

/* The verifiable head of every read response (ReadHead). */
typedef struct kt_read_head {
	uint64_t tree_size;
	uint8_t *checkpoint;         /* heap: the signed note with every stored
	                                cosignature line appended */
	size_t checkpoint_len;
	kt_read_proof consistency;   /* between last_verified_size and size */
	uint8_t last_entry[KT_LOG_ENTRY_MAX_BYTES];
	size_t last_entry_len;
	kt_read_proof last_inclusion; /* of entry size-1 at size */
} kt_read_head;

/* Frees what h owns and zeroes it; h may be NULL. */
void kt_read_head_clear(kt_read_head *h);

/* Builds the head at r->size.  The consistency proof goes from
 * last_verified_size to r->size when 0 < last_verified_size < r->size, from
 * r->size to last_verified_size when r->size < last_verified_size <=
 * r->head_size (a client reading at an older, cosigned checkpoint than the
 * newest it verified), and is empty when last_verified_size is 0 or equal
 * to r->size.  last_verified_size beyond the node's head gives
 * KT_ERR_LOG_BAD_SIZE.  Caller clears *out (kt_read_head_clear). */
KT_MUST_CHECK int kt_reader_head(kt_reader *r, uint64_t last_verified_size,
				 kt_read_head *out);

/* The signed checkpoint note at `size` with every stored cosignature line
 * appended (v: a view or NULL).  KT_ERR_NO_CHECKPOINT if none is stored.
 * On KT_OK *note is heap (free()). */
KT_MUST_CHECK int kt_reader_checkpoint(kt_storage *st, kt_storage_view *v,
				       uint64_t size, int with_cosigs,
				       uint8_t **note, size_t *note_len);

/* Resolves an account to its map index and VRF proof: the stored ones if
 * the account was ever created (committed state), else computed with the
 * node's VRF key (about 300 us; the caller rate-limits).  *known is set to
 * 1 when the index came from storage. */
KT_MUST_CHECK int kt_reader_account_index(kt_node *n, kt_storage_view *v,
					  const uint8_t *account,
					  size_t account_len,
					  uint8_t index[KT_INDEX_BYTES],
					  uint8_t vrf_proof[KT_VRF_PROOF_BYTES],
					  int *known);

/* As kt_reader_account_index, and *head is the account's head record in v
 * when *known (zeroed otherwise): one read of it instead of two.  The
 * index comes from the storage's name cache (kt_storage_account_index_cached)
 * when it holds the account. */
KT_MUST_CHECK int kt_reader_account_index_head(kt_node *n, kt_storage_view *v,
					       const uint8_t *account,
					       size_t account_len,
					       uint8_t index[KT_INDEX_BYTES],
					       uint8_t vrf_proof[KT_VRF_PROOF_BYTES],
					       kt_storage_account_head *head,
					       int *known);

/* An account as of r->size. */
typedef struct kt_read_account {
	uint8_t index[KT_INDEX_BYTES];
	uint8_t vrf_proof[KT_VRF_PROOF_BYTES];
	uint8_t *map_proof;          /* heap: inclusion or absence proof */
	size_t map_proof_len;
	int exists;                  /* the account has a version at size */
	uint64_t version;            /* that version (0 if !exists) */
	uint8_t leaf[KT_MAP_LEAF_BYTES]; /* its map leaf (if exists) */
	kt_storage_account_version rec;  /* its record (if exists; owned) */
} kt_read_account;

/* Frees what a owns and zeroes it; a may be NULL. */
void kt_read_account_clear(kt_read_account *a);

/* The account's index, VRF proof, map proof at r->size and (if it exists
 * there) its version record and leaf.  account must pass kt_account_check
 * (the caller's).  Caller clears *out. */
KT_MUST_CHECK int kt_reader_account(kt_reader *r, const uint8_t *account,
				    size_t account_len, kt_read_account *out);

/* One version of an account, as History returns it. */
typedef struct kt_read_version {
	uint64_t version;
	kt_storage_account_version rec;  /* owned */
	uint8_t entry[KT_LOG_ENTRY_MAX_BYTES];
	size_t entry_len;
	uint8_t (*inclusion)[KT_HASH_BYTES]; /* heap: proof of entry
	                                        rec.log_index at size */
	size_t n_inclusion;
} kt_read_version;

typedef struct kt_read_history {
	kt_read_version *v;              /* heap array */
	size_t n;
	int more;                        /* cut by max_versions or max_bytes */
} kt_read_history;

void kt_read_history_clear(kt_read_history *h);

/* Versions from_version (0 is read as 1) up to a->version of the account
 * read by kt_reader_account (which must exist: KT_ERR_NO_ACCOUNT), at most
 * max_versions of them and about max_bytes of values, provenances and
 * proofs (at least one version is always returned); more is set when
 * versions were left out.  A from_version above a->version gives an empty
 * list.  Caller clears *out. */
KT_MUST_CHECK int kt_reader_history(kt_reader *r, const kt_read_account *a,
				    uint64_t from_version, size_t max_versions,
				    size_t max_bytes, kt_read_history *out);

/* The sign key that device_id had in any version of the account (newest
 * first), one candidate at a time: calls fn for every distinct key the id
 * had, from the committed state, and stops when fn returns KT_OK (which is
 * then returned) — KT_ERR_UNAUTHORISED if no key satisfied fn or the
 * account has no such device.  At most max_versions versions are looked
 * at.  Used for History's owner authentication (current or former device). */
typedef int (*kt_reader_key_fn)(void *ctx, const kt_sign_key *pk);
KT_MUST_CHECK int kt_reader_device_keys(kt_node *n,
					const uint8_t index[KT_INDEX_BYTES],
					const uint8_t *device_id,
					size_t device_id_len,
					size_t max_versions,
					kt_reader_key_fn fn, void *ctx);

/* Proof of consistency between from_size and to_size (0 < from <= to <=
 * the newest checkpoint; else KT_ERR_LOG_BAD_SIZE) from a fresh view. */
KT_MUST_CHECK int kt_reader_consistency(kt_node *n, uint64_t from_size,
					uint64_t to_size, kt_read_proof *out);

/* Log entries start.. (at most count of them, and none at or beyond the
 * newest checkpoint: start >= it gives KT_ERR_LOG_BAD_SIZE) in order. */
typedef struct kt_read_entries {
	uint8_t (*e)[KT_LOG_ENTRY_MAX_BYTES];   /* heap array */
	size_t *len;                            /* heap array */
	size_t n;
} kt_read_entries;

void kt_read_entries_clear(kt_read_entries *e);

KT_MUST_CHECK int kt_reader_entries(kt_node *n, uint64_t start, size_t count,
				    kt_read_entries *out);

#ifdef __cplusplus
}
#endif
#endif /* KT_SERVER_READER_H */
