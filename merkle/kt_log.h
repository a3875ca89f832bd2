/*
 * kt_log.h — the append-only log tree of keytrail: an RFC 9162 (RFC 6962)
 * Merkle tree over SHA-256, with inclusion and consistency proofs exactly as
 * RFC 9162 §2.1.3–2.1.4 defines them (generation and verification).
 *
 * Hashing:
 *   leaf hash  = SHA-256(0x00 || entry)
 *   node hash  = SHA-256(0x01 || left || right)
 *   empty root = SHA-256("")
 *
 * Node storage goes through kt_log_store, so that the server keeps the nodes
 * in RocksDB and the tests in memory.  A stored node is the hash of a
 * COMPLETE (perfect) subtree, addressed by (level, index): it covers the
 * leaves [index << level, (index + 1) << level).  Level 0 holds the leaf
 * hashes.  Complete subtrees never change once written, so the store needs
 * no versions: the tree of any size m <= n is read from the same nodes.
 *
 * Every proof is generated with O(log n) reads (at most one per level for
 * the path, plus at most one per level for the one right-edge subtree that
 * is not complete).  No function allocates except kt_log_memstore_*.
 *
 * Layout documented in docs/PROTOCOL.md §2.
 */
#ifndef KT_LOG_H
#define KT_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "kt_enc.h"
#include "kt_err.h"
#include "kt_hash.h"

#ifdef __cplusplus
extern "C" {
#endif

/* RFC 6962 §2.1 domain-separation prefixes. */
#define KT_LOG_LEAF_PREFIX 0x00
#define KT_LOG_NODE_PREFIX 0x01

/* Largest tree size keytrail accepts (2^63).  With it every proof has at
 * most 64 hashes (an inclusion proof at most 63, a consistency proof at most
 * 63 + 1), so KT_LOG_MAX_PROOF_HASHES bounds every proof array. */
#define KT_LOG_MAX_SIZE (UINT64_C(1) << 63)

/* Cap on the number of hashes in any proof, generated or verified. */
#define KT_LOG_MAX_PROOF_HASHES 64

/* Number of levels of the frontier (one perfect subtree per set bit). */
#define KT_LOG_MAX_LEVELS 64

/*
 * Node store.  get/put address the complete subtree covering leaves
 * [index << level, (index + 1) << level), level in [0, 63].
 *   get: copies the hash to out and returns KT_OK, KT_ERR_NOT_FOUND if the
 *        node was never written, or another error (KT_ERR_STORAGE, ...).
 *   put: stores the hash and returns KT_OK or an error.  The log only puts a
 *        node once it is complete; it may put the same node again with the
 *        same hash (after a failed append), which must succeed.
 * The log passes ctx back unchanged and never frees it.
 * THREAD SAFETY: the log calls get from every thread that reads proofs and
 * put from the appending thread; the store decides what it supports.
 */
typedef struct kt_log_store {
	void *ctx;
	int (*get)(void *ctx, unsigned level, uint64_t index,
		   uint8_t out[KT_HASH_BYTES]);
	int (*put)(void *ctx, unsigned level, uint64_t index,
		   const uint8_t hash[KT_HASH_BYTES]);
} kt_log_store;

/*
 * The appender's state: the tree size and its right-edge frontier, i.e. for
 * every set bit l of size, frontier[l] = the perfect subtree of 2^l leaves
 * ending the tree at that bit (entries for clear bits are unspecified).
 * O(log n) memory; it holds no pointer except the copied store.
 * THREAD SAFETY: one appender at a time; readers of a kt_log must not run
 * concurrently with kt_log_append on it.
 */
typedef struct kt_log {
	kt_log_store store;
	uint64_t size;
	uint8_t frontier[KT_LOG_MAX_LEVELS][KT_HASH_BYTES];
} kt_log;

/* ---- hashing ---------------------------------------------------------- */

/* out = SHA-256(0x00 || entry[0..len)).  entry may be NULL if len is 0. */
void kt_log_leaf_hash(uint8_t out[KT_HASH_BYTES], const uint8_t *entry,
		      size_t len);

/* out = SHA-256(0x01 || left || right).  out may alias left or right. */
void kt_log_node_hash(uint8_t out[KT_HASH_BYTES],
		      const uint8_t left[KT_HASH_BYTES],
		      const uint8_t right[KT_HASH_BYTES]);

/* out = SHA-256(""), the root of the empty tree. */
void kt_log_empty_root(uint8_t out[KT_HASH_BYTES]);

/* ---- appending -------------------------------------------------------- */

/* Starts an empty log (size 0) over store; store is copied, its ctx is
 * borrowed and must outlive log.  Writes nothing. */
void kt_log_init(kt_log *log, kt_log_store store);

/* Restores the state of a log of `size` leaves whose nodes are in store
 * (after a restart), with popcount(size) <= 64 reads.  Returns KT_OK,
 * KT_ERR_LOG_BAD_SIZE if size > KT_LOG_MAX_SIZE, or the store's error (then
 * log is an empty log over store). */
KT_MUST_CHECK int kt_log_load(kt_log *log, kt_log_store store, uint64_t size);

/* Appends one leaf (its leaf hash, see kt_log_leaf_hash) at index log->size,
 * putting the leaf and every subtree it completes (at most 1 + 64 puts).
 * Returns KT_OK (and *index_out = the new leaf's index if index_out is not
 * NULL), KT_ERR_LOG_BAD_SIZE if the log is full, or the store's error: then
 * the log is unchanged (nodes already put are the same immutable values an
 * append retry will put again). */
KT_MUST_CHECK int kt_log_append(kt_log *log,
				const uint8_t leaf_hash[KT_HASH_BYTES],
				uint64_t *index_out);

/* Root hash of the current tree (SHA-256("") when empty).  No reads. */
void kt_log_root(const kt_log *log, uint8_t out[KT_HASH_BYTES]);

/* ---- reading from a store (any thread the store allows) -------------- */
/*
 * These take the store and the tree size to answer at: the caller must know
 * that the store holds every complete node of a tree of at least that size
 * (a node that is absent gives the store's KT_ERR_NOT_FOUND).  They never
 * write.  On error the outputs are zeroed (*n_out = 0).
 */

/* Root of the tree of the first `size` leaves: popcount(size) reads.
 * size 0 gives SHA-256("").  KT_ERR_LOG_BAD_SIZE if size > KT_LOG_MAX_SIZE. */
KT_MUST_CHECK int kt_log_root_at(const kt_log_store *store, uint64_t size,
				 uint8_t out[KT_HASH_BYTES]);

/* Inclusion proof (RFC 9162 §2.1.3.1 PATH) of leaf `index` in the tree of
 * `size` leaves, bottom-up, into out[0..*n_out).  KT_ERR_LOG_BAD_SIZE unless
 * index < size <= KT_LOG_MAX_SIZE. */
KT_MUST_CHECK int kt_log_prove_inclusion(const kt_log_store *store,
					 uint64_t index, uint64_t size,
					 uint8_t out[KT_LOG_MAX_PROOF_HASHES][KT_HASH_BYTES],
					 size_t *n_out);

/* Consistency proof (RFC 9162 §2.1.4.1 PROOF(m, D[n])) between the trees of
 * size1 and size2 leaves, into out[0..*n_out); empty when size1 == size2.
 * KT_ERR_LOG_BAD_SIZE unless 0 < size1 <= size2 <= KT_LOG_MAX_SIZE. */
KT_MUST_CHECK int kt_log_prove_consistency(const kt_log_store *store,
					   uint64_t size1, uint64_t size2,
					   uint8_t out[KT_LOG_MAX_PROOF_HASHES][KT_HASH_BYTES],
					   size_t *n_out);

/* ---- verification (wire-supplied values as kt_bytes) ----------------- */
/*
 * Pure and thread safe; no allocation, no store.  Checked in this order:
 *   sizes (KT_ERR_LOG_BAD_SIZE), proof count > KT_LOG_MAX_PROOF_HASHES
 *   (KT_ERR_LOG_PROOF_LENGTH), every hash exactly 32 bytes
 *   (KT_ERR_LOG_BAD_HASH), then the RFC 9162 algorithm: a proof that is too
 *   long or too short for the sizes gives KT_ERR_LOG_PROOF_LENGTH, a proof
 *   that computes another root KT_ERR_LOG_ROOT_MISMATCH.
 */

/* RFC 9162 §2.1.3.2 steps 1–4: the root that proof computes for leaf_hash at
 * index in a tree of size leaves, into out (zeroed on error).  Returns KT_OK
 * when the proof has exactly the right length. */
KT_MUST_CHECK int kt_log_root_from_inclusion(kt_bytes leaf_hash,
					     uint64_t index, uint64_t size,
					     const kt_bytes *proof, size_t n,
					     uint8_t out[KT_HASH_BYTES]);

/* KT_OK iff proof proves that leaf_hash is leaf `index` of the tree of
 * `size` leaves whose root is `root` (32 bytes). */
KT_MUST_CHECK int kt_log_verify_inclusion(kt_bytes leaf_hash, uint64_t index,
					  uint64_t size, const kt_bytes *proof,
					  size_t n, kt_bytes root);

/* KT_OK iff proof proves that the tree of size1 leaves with root root1 is a
 * prefix of the tree of size2 leaves with root root2 (RFC 9162 §2.1.4.2).
 * size1 == 0 is always rejected (KT_ERR_LOG_BAD_SIZE): there is nothing to
 * be consistent with.  size1 == size2 needs an empty proof and byte-equal
 * roots (compared as byte strings, any length); otherwise both roots must
 * be 32 bytes. */
KT_MUST_CHECK int kt_log_verify_consistency(uint64_t size1, uint64_t size2,
					    kt_bytes root1, kt_bytes root2,
					    const kt_bytes *proof, size_t n);

/* Views n 32-byte hashes as kt_bytes (out has room for n), for a
 * caller that verifies its own proof arrays; out borrows from hashes. */
void kt_log_hashes_as_bytes(kt_bytes *out,
			    const uint8_t (*hashes)[KT_HASH_BYTES], size_t n);

/* ---- in-memory store (tests, benchmarks; no I/O) --------------------- */

typedef struct kt_log_memstore kt_log_memstore;

/* Creates an empty memory store; *out is owned by the caller (free with
 * kt_log_memstore_free).  KT_ERR_NOMEM on allocation failure. */
KT_MUST_CHECK int kt_log_memstore_new(kt_log_memstore **out);

/* Frees m; NULL is fine. */
void kt_log_memstore_free(kt_log_memstore *m);

/* The kt_log_store view of m (ctx = m, borrowed).  Its put accepts the next
 * index of a level, or an index already written with the same hash (other
 * indices give KT_ERR_INVALID_ARG, a different hash KT_ERR_INTERNAL).
 * THREAD SAFETY: concurrent gets are fine; a put must not run concurrently
 * with anything else on m. */
kt_log_store kt_log_memstore_store(kt_log_memstore *m);

#ifdef __cplusplus
}
#endif
#endif /* KT_LOG_H */
