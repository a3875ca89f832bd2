/*
 * kt_map.h — the versioned binary prefix tree ("map") of DESIGN §4.
 *
 * Keys are 256-bit indices; bit 0 is the most significant bit of byte 0.
 * A leaf sits at the depth of its shortest unique prefix among all leaves; a
 * missing child counts as 32 zero bytes;
 *     leaf hash   = SHA-256(0x02 || index[32] || leaf_digest[32])
 *     parent hash = SHA-256(0x03 || left[32]  || right[32])
 * The empty tree's root is 32 zero bytes; a one-leaf tree's root is that
 * leaf's hash (the leaf sits at depth 0).  The map only sees
 * (index, leaf_digest); the digest is computed elsewhere.  Re-inserting an
 * index replaces its digest; leaves are never removed.
 *
 * Versioning: every write is made at a version v (the log position of the
 * entry that makes the change).  A node written at v is stored under
 * (position, v) and never overwritten by a later version, so the tree can be
 * read and proven "as of" any earlier version `at`: a read sees, per position,
 * the newest record whose version is <= at.
 *
 * Proofs, node encodings and the verifier's rejection rules are written down
 * byte by byte in docs/PROTOCOL.md §3.
 *
 * THREAD SAFETY: the functions below keep no state of their own.  Reads
 * (kt_map_root, kt_map_lookup, kt_map_prove) may run concurrently if the
 * store's get is safe to call concurrently; writes (kt_map_update,
 * kt_map_bulk_load) need exclusive use of the store.  kt_map_verify and the
 * encoding helpers are pure and thread safe.
 */
#ifndef KT_MAP_H
#define KT_MAP_H

#include <stddef.h>
#include <stdint.h>

#include "kt_enc.h"
#include "kt_err.h"
#include "kt_hash.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Hash-domain prefixes (first byte hashed). */
#define KT_MAP_LEAF_PREFIX 0x02
#define KT_MAP_NODE_PREFIX 0x03

/* Deepest possible node: a leaf whose index differs from another leaf's only
 * in bit 255 sits at depth 256.  Inner nodes live at depths 0..255. */
#define KT_MAP_MAX_DEPTH 256

/* Proof kinds (first byte of an encoded proof). */
#define KT_MAP_PROOF_INCLUSION 0x01     /* the searched index's own leaf */
#define KT_MAP_PROOF_ABSENT_EMPTY 0x02  /* the path ends at an empty child */
#define KT_MAP_PROOF_ABSENT_LEAF 0x03   /* the path ends at another index's leaf */

/* Largest well-formed proof: kind + depth + 32-byte bitmap + 256 siblings +
 * other leaf.  kt_map_verify rejects longer input before reading it. */
#define KT_MAP_MAX_PROOF_BYTES (1 + 2 + 32 + 256 * KT_HASH_BYTES + 2 * KT_HASH_BYTES)

/* ---- stored nodes ---------------------------------------------------- */

#define KT_MAP_NODE_INNER 0x01
#define KT_MAP_NODE_LEAF 0x02

/* One stored node.  An inner node keeps BOTH child hashes (zeros for an empty
 * child), so walking down a path reads only the nodes on the path.  A leaf
 * keeps its index and digest; its hash is derived. */
typedef struct kt_map_node {
	uint8_t kind; /* KT_MAP_NODE_INNER or KT_MAP_NODE_LEAF */
	union {
		struct {
			uint8_t left[KT_HASH_BYTES];
			uint8_t right[KT_HASH_BYTES];
		} inner;
		struct {
			uint8_t index[KT_HASH_BYTES];
			uint8_t digest[KT_HASH_BYTES];
		} leaf;
	};
} kt_map_node;

/* The node store.  A position is (depth, prefix) where prefix[32] holds the
 * first `depth` bits of the path and has every bit at positions >= depth
 * zeroed; the root is (0, zeros).
 *
 * get: stores in *out the newest record of the position whose version is
 *   <= at and returns KT_OK; KT_ERR_NOT_FOUND if the position has no such
 *   record (an empty position); KT_ERR_UNSUPPORTED if the records needed to
 *   answer "as of at" are no longer kept (pruned, or a store without
 *   history); KT_ERR_STORAGE (or another code) on failure.  *out is
 *   unspecified unless KT_OK.
 * put: records *node for the position at `version`.  A put at the same
 *   (position, version) as an existing record replaces it (several updates
 *   at one version, replays after a crash); a put below the position's
 *   newest version must be refused with KT_ERR_INVALID_ARG.  The map never
 *   writes below the root's newest version (kt_map_update checks first).
 *
 * The map reads only "as of" a version, so a store may prune records older
 * than its retention window as long as it keeps, per position, the newest
 * record at or below the oldest version it still serves.
 *
 * The map layer trusts the store: it does not re-hash what it reads.  A store
 * that buffers puts (a RocksDB WriteBatch) must let later gets see them if
 * several updates are applied before the batch is committed. */
typedef struct kt_map_store {
	void *ctx;
	int (*get)(void *ctx, uint16_t depth, const uint8_t prefix[KT_HASH_BYTES],
		   uint64_t at, kt_map_node *out);
	int (*put)(void *ctx, uint16_t depth, const uint8_t prefix[KT_HASH_BYTES],
		   uint64_t version, const kt_map_node *node);
} kt_map_store;

/* Fixed encoding of a stored node (for database values): u8 kind, then
 * fixed[32] left + fixed[32] right (inner) or fixed[32] index +
 * fixed[32] digest (leaf).  Always KT_MAP_NODE_BYTES long. */
#define KT_MAP_NODE_BYTES (1 + 2 * KT_HASH_BYTES)

/* Writes node's encoding into out.  Returns KT_OK or KT_ERR_INVALID_ARG for an
 * unknown kind (out is then zeroed).  Thread safe. */
KT_MUST_CHECK int kt_map_node_encode(uint8_t out[KT_MAP_NODE_BYTES],
				     const kt_map_node *node);

/* Decodes exactly len bytes into *out.  Returns KT_OK, KT_ERR_TRUNCATED /
 * KT_ERR_TRAILING for a wrong length, KT_ERR_BAD_TYPE for an unknown kind (*out
 * is then zeroed).  Thread safe. */
KT_MUST_CHECK int kt_map_node_decode(kt_map_node *out, const uint8_t *in,
				     size_t len);

/* out = the node's hash (leaf hash or parent hash).  Returns KT_OK or
 * KT_ERR_INVALID_ARG for an unknown kind.  Thread safe. */
KT_MUST_CHECK int kt_map_node_hash(uint8_t out[KT_HASH_BYTES],
				   const kt_map_node *node);

/* Recommended database key for a record (storage-internal, not protocol):
 * u16 depth || fixed[32] prefix || u64 (UINT64_MAX - version).  Keys of one
 * position sort newest first, so a seek to the key built with version = at
 * lands on the newest record <= at (if its first 34 bytes match).  Returns
 * KT_OK or KT_ERR_INVALID_ARG (depth > 256, or prefix bits set at >= depth;
 * out is then zeroed).  Thread safe. */
#define KT_MAP_STORE_KEY_BYTES (2 + KT_HASH_BYTES + 8)
KT_MUST_CHECK int kt_map_store_key(uint8_t out[KT_MAP_STORE_KEY_BYTES],
				   uint16_t depth,
				   const uint8_t prefix[KT_HASH_BYTES],
				   uint64_t version);

/* ---- reading and writing the tree ------------------------------------ */

/* Inserts index with leaf_digest, or replaces the digest if index is present,
 * reading the tree as of `version` and writing every changed node (the path
 * from the new leaf to the root, and the moved leaf if one is pushed down) at
 * `version`.  Versions normally grow by call; several updates at one version
 * compose (later ones see earlier ones: a bulk load followed by updates at
 * its version, or a replay after a crash, which rewrites the same records).
 * All reads happen before the first put.  On KT_OK new_root_out (may be NULL)
 * holds the new root.  Costs 1 + depth(new leaf) SHA-256 calls (+1 when the
 * old root was a lone leaf), depth + 3 gets and depth(new leaf) + 1 puts
 * (+1 when a leaf is pushed down).
 * Returns KT_ERR_INVALID_ARG (nothing written) if the tree already has a
 * version newer than `version`, KT_ERR_STORAGE if the store is inconsistent,
 * KT_ERR_MAP_DEPTH if it holds two leaves with one index, or the store's
 * error; on failure new_root_out is zeroed, and after a failed put the store
 * may hold part of the path at `version` (a batching store discards its
 * batch; an in-memory store should not be used further). */
KT_MUST_CHECK int kt_map_update(const kt_map_store *store, uint64_t version,
				const uint8_t index[KT_HASH_BYTES],
				const uint8_t leaf_digest[KT_HASH_BYTES],
				uint8_t new_root_out[KT_HASH_BYTES]);

/* root_out = the root as of `at` (zeros for the empty tree).  One store read
 * and one SHA-256.  Returns KT_OK or the store's error (root_out zeroed). */
KT_MUST_CHECK int kt_map_root(const kt_map_store *store, uint64_t at,
			      uint8_t root_out[KT_HASH_BYTES]);

/* Looks index up as of `at`: KT_OK and its digest in digest_out (may be NULL),
 * KT_ERR_NOT_FOUND if absent (digest_out zeroed), or the store's error. */
KT_MUST_CHECK int kt_map_lookup(const kt_map_store *store, uint64_t at,
				const uint8_t index[KT_HASH_BYTES],
				uint8_t digest_out[KT_HASH_BYTES]);

/* Builds the proof for index as of `at`: an inclusion proof if index has a
 * leaf, else an absence proof.  On KT_OK *proof_out is heap memory the caller
 * frees with free(), *proof_len_out its length (<= KT_MAP_MAX_PROOF_BYTES),
 * and (*proof_out)[0] is its KT_MAP_PROOF_* kind.  On failure *proof_out is
 * NULL and *proof_len_out 0. */
KT_MUST_CHECK int kt_map_prove(const kt_map_store *store, uint64_t at,
			       const uint8_t index[KT_HASH_BYTES],
			       uint8_t **proof_out, size_t *proof_len_out);

/* Checks a proof against root.  With leaf_digest non-NULL it checks that
 * index maps to leaf_digest (inclusion); with leaf_digest NULL that index is
 * absent.  Returns KT_OK only if the proof is well-formed, canonical, of the
 * expected kind and recomputes root; otherwise
 *   KT_ERR_TOO_LARGE        input longer than KT_MAP_MAX_PROOF_BYTES
 *   KT_ERR_TRUNCATED / KT_ERR_TRAILING   wrong length
 *   KT_ERR_BAD_TYPE         unknown kind byte
 *   KT_ERR_MAP_WRONG_KIND   inclusion proof for an absence check, or back
 *   KT_ERR_MAP_DEPTH        depth > 256, or an absence proof at depth 256
 *   KT_ERR_NONCANONICAL     bitmap padding bits set, a present sibling of
 *                           32 zero bytes
 *   KT_ERR_MAP_BAD_PROOF    a shape no tree produces (see docs/PROTOCOL.md §3)
 *   KT_ERR_MAP_ROOT_MISMATCH  the proof computes another root
 * Pure; thread safe. */
KT_MUST_CHECK int kt_map_verify(const uint8_t root[KT_HASH_BYTES],
				const uint8_t index[KT_HASH_BYTES],
				const uint8_t *leaf_digest, kt_bytes proof);

/* ---- bulk loading ----------------------------------------------------- */

typedef struct kt_map_entry {
	uint8_t index[KT_HASH_BYTES];
	uint8_t digest[KT_HASH_BYTES];
} kt_map_entry;

/* Sorts entries by index (ascending, bytewise).  Thread safe on distinct
 * arrays. */
void kt_map_entries_sort(kt_map_entry *entries, size_t n);

/* Builds the tree of n entries, sorted strictly ascending by index, bottom up,
 * hashing each node once and writing every node at `version` through store.
 * The store must be empty (no root record at any version).  On KT_OK root_out
 * (may be NULL) holds the root, equal to inserting the entries one by one.
 * Returns KT_ERR_INVALID_ARG for unsorted or duplicate indices or a non-empty
 * store (nothing written), or the store's error (root_out zeroed). */
KT_MUST_CHECK int kt_map_bulk_load(const kt_map_store *store, uint64_t version,
				   const kt_map_entry *entries, size_t n,
				   uint8_t root_out[KT_HASH_BYTES]);

/* ---- in-memory store -------------------------------------------------- */

/* A pure-memory store: one 96-byte slot per position (its key, newest
 * version, kind and node), so a read touches two adjacent cache lines; the
 * top levels' slots in a table indexed by position (2^d + prefix: as many
 * levels as expected_positions / 8 fills), the deeper ones in an
 * open-addressing hash table; older versions hang off the slot in a list,
 * newest first.  kt_map_update, kt_map_lookup and kt_map_prove recognise this
 * store and reach the positions on the index's path through a prefetching
 * fast path (same results as its get and put); an update of a present key
 * whose path it may rewrite where it lies (KT_MAP_MEM_LATEST_ONLY) rewrites
 * and hashes it from the leaf up, level by level, without walking it down
 * first.  About 2.44 positions per key for random indices: 10M bulk-loaded
 * keys without history, presized for 25M positions, take 3.3 GiB.  At most 2^32 - 2 pool nodes (history, and one
 * per position deeper than 56).  On Linux, big stores ask for transparent huge
 * pages (madvise; a hint).  A read as of an old version walks the position's
 * list newest first (the root has one record per update), so it costs one
 * step per newer record: fine for tests and audits that read recent
 * versions, not a serving store. */
typedef struct kt_map_mem kt_map_mem;

/* Keep every version (reads as of any version) — the default. */
#define KT_MAP_MEM_HISTORY 0u
/* Keep only the newest record per position: a put at a newer version
 * overwrites it; a read as of an older version than a position's record
 * returns KT_ERR_UNSUPPORTED.  For benchmarks and auditors. */
#define KT_MAP_MEM_LATEST_ONLY 1u

/* Creates an empty store.  expected_positions (0 for a default) presizes the
 * table.  Returns KT_OK and *out (free with kt_map_mem_free),
 * KT_ERR_INVALID_ARG for unknown flags, KT_ERR_NOMEM.  One kt_map_mem may be
 * read concurrently but written by one thread at a time with no readers. */
KT_MUST_CHECK int kt_map_mem_new(unsigned flags, size_t expected_positions,
				 kt_map_mem **out);

/* Frees the store and everything in it; m may be NULL. */
void kt_map_mem_free(kt_map_mem *m);

/* The store interface over m (borrowed: valid while m lives). */
kt_map_store kt_map_mem_store(kt_map_mem *m);

/* Statistics: records held (all versions) and bytes allocated. */
size_t kt_map_mem_records(const kt_map_mem *m);
size_t kt_map_mem_bytes(const kt_map_mem *m);

#ifdef __cplusplus
}
#endif
#endif /* KT_MAP_H */
