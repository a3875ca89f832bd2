/*
 * kt_log.c — RFC 9162 Merkle log tree: hashing, append, roots, proofs.
 *
 * Nodes are addressed bottom-up: node (level, idx) of the tree of `size`
 * leaves covers leaves [idx << level, min((idx + 1) << level, size)).  If
 * that range has 2^level leaves the node is complete and stored; otherwise
 * it lies on the right edge and its hash is folded from the complete
 * subtrees that make up the range (one per set bit of its width), exactly
 * as RFC 9162's MTH splits at the largest power of two below the width.  A
 * node whose right sibling would start at or past `size` has no sibling at
 * that level (it stands for its parent), as in the RFC's unbalanced tree.
 */
#include <string.h>

#include "kt_log.h"

/* ---- small bit helpers ------------------------------------------------ */

static int is_pow2(uint64_t x)
{
	return x != 0 && (x & (x - 1)) == 0;
}

static unsigned trailing_zeros(uint64_t x)
{
	unsigned n = 0;

	while (n < 64 && ((x >> n) & 1) == 0)
		n++;
	return n;
}

/* ---- hashing ---------------------------------------------------------- */

void kt_log_leaf_hash(uint8_t out[KT_HASH_BYTES], const uint8_t *entry,
		      size_t len)
{
	kt_sha256_prefixed(out, KT_LOG_LEAF_PREFIX, entry, len, NULL, 0);
}

void kt_log_node_hash(uint8_t out[KT_HASH_BYTES],
		      const uint8_t left[KT_HASH_BYTES],
		      const uint8_t right[KT_HASH_BYTES])
{
	uint8_t tmp[KT_HASH_BYTES];

	/* Hash into tmp first: out may alias an input. */
	kt_sha256_prefixed(tmp, KT_LOG_NODE_PREFIX, left, KT_HASH_BYTES,
			   right, KT_HASH_BYTES);
	memcpy(out, tmp, KT_HASH_BYTES);
}

void kt_log_empty_root(uint8_t out[KT_HASH_BYTES])
{
	kt_sha256(out, NULL, 0);
}

/* ---- reading nodes ---------------------------------------------------- */

static int store_get(const kt_log_store *s, unsigned level, uint64_t idx,
		     uint8_t out[KT_HASH_BYTES])
{
	if (s == NULL || s->get == NULL)
		return KT_ERR_INVALID_ARG;
	return s->get(s->ctx, level, idx, out);
}

/* Hash of leaves [lo, hi), 0 <= lo < hi, where lo is aligned to a power of
 * two >= hi - lo: the complete subtrees for the set bits of hi - lo,
 * largest first from lo, folded from the right.  popcount(hi - lo) reads. */
static int fold_range(const kt_log_store *s, uint64_t lo, uint64_t hi,
		      uint8_t out[KT_HASH_BYTES])
{
	uint64_t width = hi - lo, end = hi;
	uint8_t h[KT_HASH_BYTES];
	unsigned l;
	int r, first = 1;

	for (l = 0; l < 64; l++) {
		uint64_t start;

		if (((width >> l) & 1) == 0)
			continue;
		start = end - (UINT64_C(1) << l);
		if ((r = store_get(s, l, start >> l, h)) != KT_OK)
			return r;
		if (first)
			memcpy(out, h, KT_HASH_BYTES);
		else
			kt_log_node_hash(out, h, out);
		first = 0;
		end = start;
	}
	return KT_OK;
}

/* Hash of node (level, idx) of the tree of size leaves (idx << level must
 * be < size): one read if complete, else folded from the right edge. */
static int node_at(const kt_log_store *s, unsigned level, uint64_t idx,
		   uint64_t size, uint8_t out[KT_HASH_BYTES])
{
	uint64_t lo = idx << level;

	if (size - lo >= (UINT64_C(1) << level))
		return store_get(s, level, idx, out);
	return fold_range(s, lo, size, out);
}

/* Appends to out the sibling hashes on the way from node (level, node) to
 * the root of the tree of size leaves, bottom-up: RFC 9162 PATH for that
 * subtree.  At most one sibling is on the right edge. */
static int path_up(const kt_log_store *s, unsigned level, uint64_t node,
		   uint64_t size,
		   uint8_t out[KT_LOG_MAX_PROOF_HASHES][KT_HASH_BYTES],
		   size_t *n)
{
	uint64_t last = (size - 1) >> level;
	int r;

	while (last != 0) {
		uint64_t sib = node ^ 1;

		if (sib <= last) {
			if (*n >= KT_LOG_MAX_PROOF_HASHES)
				return KT_ERR_INTERNAL;
			r = node_at(s, level, sib, size, out[*n]);
			if (r != KT_OK)
				return r;
			(*n)++;
		}
		node >>= 1;
		last >>= 1;
		level++;
	}
	return KT_OK;
}

static void wipe_proof(uint8_t out[KT_LOG_MAX_PROOF_HASHES][KT_HASH_BYTES],
		       size_t *n_out)
{
	memset(out, 0, (size_t)KT_LOG_MAX_PROOF_HASHES * KT_HASH_BYTES);
	*n_out = 0;
}

int kt_log_root_at(const kt_log_store *store, uint64_t size,
		   uint8_t out[KT_HASH_BYTES])
{
	int r;

	if (size > KT_LOG_MAX_SIZE) {
		r = KT_ERR_LOG_BAD_SIZE;
		goto out;
	}
	if (size == 0) {
		kt_log_empty_root(out);
		return KT_OK;
	}
	r = fold_range(store, 0, size, out);
out:
	if (r != KT_OK)
		memset(out, 0, KT_HASH_BYTES);
	return r;
}

int kt_log_prove_inclusion(const kt_log_store *store, uint64_t index,
			   uint64_t size,
			   uint8_t out[KT_LOG_MAX_PROOF_HASHES][KT_HASH_BYTES],
			   size_t *n_out)
{
	int r;

	*n_out = 0;
	if (size > KT_LOG_MAX_SIZE || index >= size) {
		r = KT_ERR_LOG_BAD_SIZE;
		goto out;
	}
	r = path_up(store, 0, index, size, out, n_out);
out:
	if (r != KT_OK)
		wipe_proof(out, n_out);
	return r;
}

/*
 * PROOF(m, D[n]) = SUBPROOF(m, D[n], true).  The recursion stops at the
 * largest complete subtree that ends exactly at m: the node at level
 * k = trailing_zeros(m) with index (m >> k) - 1.  The proof is that node's
 * hash (omitted when it is the whole old tree, m == 2^k, because the
 * verifier has it) followed by that node's path to the root of D[n].
 */
int kt_log_prove_consistency(const kt_log_store *store, uint64_t size1,
			     uint64_t size2,
			     uint8_t out[KT_LOG_MAX_PROOF_HASHES][KT_HASH_BYTES],
			     size_t *n_out)
{
	unsigned k;
	uint64_t node;
	int r;

	*n_out = 0;
	if (size1 == 0 || size1 > size2 || size2 > KT_LOG_MAX_SIZE) {
		r = KT_ERR_LOG_BAD_SIZE;
		goto out;
	}
	if (size1 == size2)
		return KT_OK;
	k = trailing_zeros(size1);
	node = (size1 >> k) - 1;
	if (!is_pow2(size1)) {
		if ((r = store_get(store, k, node, out[0])) != KT_OK)
			goto out;
		*n_out = 1;
	}
	r = path_up(store, k, node, size2, out, n_out);
out:
	if (r != KT_OK)
		wipe_proof(out, n_out);
	return r;
}

/* ---- appending -------------------------------------------------------- */

void kt_log_init(kt_log *log, kt_log_store store)
{
	memset(log, 0, sizeof(*log));
	log->store = store;
}

int kt_log_load(kt_log *log, kt_log_store store, uint64_t size)
{
	unsigned l;
	int r = KT_OK;

	kt_log_init(log, store);
	if (size > KT_LOG_MAX_SIZE)
		return KT_ERR_LOG_BAD_SIZE;
	for (l = 0; l < KT_LOG_MAX_LEVELS; l++) {
		if (((size >> l) & 1) == 0)
			continue;
		r = store_get(&log->store, l, (size >> l) - 1, log->frontier[l]);
		if (r != KT_OK)
			goto out;
	}
	log->size = size;
out:
	if (r != KT_OK)
		kt_log_init(log, store);
	return r;
}

static int store_put(const kt_log_store *s, unsigned level, uint64_t idx,
		     const uint8_t hash[KT_HASH_BYTES])
{
	if (s->put == NULL)
		return KT_ERR_INVALID_ARG;
	return s->put(s->ctx, level, idx, hash);
}

int kt_log_append(kt_log *log, const uint8_t leaf_hash[KT_HASH_BYTES],
		  uint64_t *index_out)
{
	uint64_t n = log->size;
	uint8_t cur[KT_HASH_BYTES];
	unsigned l;
	int r;

	if (n >= KT_LOG_MAX_SIZE)
		return KT_ERR_LOG_BAD_SIZE;
	if ((r = store_put(&log->store, 0, n, leaf_hash)) != KT_OK)
		return r;
	memcpy(cur, leaf_hash, KT_HASH_BYTES);
	/* Each set low bit of n is a perfect subtree that the new leaf's
	 * subtree of the same size now completes (a binary carry). */
	for (l = 0; ((n >> l) & 1) != 0; l++) {
		kt_log_node_hash(cur, log->frontier[l], cur);
		if ((r = store_put(&log->store, l + 1, n >> (l + 1), cur)) != KT_OK)
			return r;
	}
	/* Every put succeeded: only now change the state. */
	memcpy(log->frontier[l], cur, KT_HASH_BYTES);
	log->size = n + 1;
	if (index_out != NULL)
		*index_out = n;
	return KT_OK;
}

void kt_log_root(const kt_log *log, uint8_t out[KT_HASH_BYTES])
{
	unsigned l;
	int first = 1;

	if (log->size == 0) {
		kt_log_empty_root(out);
		return;
	}
	for (l = 0; l < KT_LOG_MAX_LEVELS; l++) {
		if (((log->size >> l) & 1) == 0)
			continue;
		if (first)
			memcpy(out, log->frontier[l], KT_HASH_BYTES);
		else
			kt_log_node_hash(out, log->frontier[l], out);
		first = 0;
	}
}

/* ---- verification ----------------------------------------------------- */

static int check_hash(kt_bytes b)
{
	return (b.len == KT_HASH_BYTES && b.p != NULL) ? KT_OK
						       : KT_ERR_LOG_BAD_HASH;
}

/* Count cap first, then the length of every element. */
static int check_proof(const kt_bytes *proof, size_t n)
{
	size_t i;
	int r;

	if (n > KT_LOG_MAX_PROOF_HASHES)
		return KT_ERR_LOG_PROOF_LENGTH;
	if (n != 0 && proof == NULL)
		return KT_ERR_INVALID_ARG;
	for (i = 0; i < n; i++)
		if ((r = check_hash(proof[i])) != KT_OK)
			return r;
	return KT_OK;
}

/* The RFC 9162 §2.1.3.2 / §2.1.4.2 step test: "if LSB(fn) is set or fn is
 * equal to sn" the proof element is a LEFT sibling, and if LSB(fn) is not
 * set, fn and sn are right-shifted until LSB(fn) is set or fn is 0.
 * Returns 1 for a left sibling, 0 for a right one.  The caller then does
 * the step's final single right shift. */
static int rfc_left_step(uint64_t *fn, uint64_t *sn)
{
	if ((*fn & 1) == 0 && *fn != *sn)
		return 0;
	while ((*fn & 1) == 0 && *fn != 0) {
		*fn >>= 1;
		*sn >>= 1;
	}
	return 1;
}

/* Public values: memcmp is fine (nothing secret is compared here). */
static int bytes_equal(kt_bytes a, kt_bytes b)
{
	if (a.len != b.len)
		return 0;
	if (a.len == 0)
		return 1;
	return a.p != NULL && b.p != NULL && memcmp(a.p, b.p, a.len) == 0;
}

static int inclusion_fold(const uint8_t leaf[KT_HASH_BYTES], uint64_t index,
			  uint64_t size, const kt_bytes *proof, size_t n,
			  uint8_t out[KT_HASH_BYTES])
{
	uint64_t fn = index, sn = size - 1;
	size_t i;

	memcpy(out, leaf, KT_HASH_BYTES);
	for (i = 0; i < n; i++) {
		if (sn == 0)
			return KT_ERR_LOG_PROOF_LENGTH; /* too long */
		if (rfc_left_step(&fn, &sn))
			kt_log_node_hash(out, proof[i].p, out);
		else
			kt_log_node_hash(out, out, proof[i].p);
		fn >>= 1;
		sn >>= 1;
	}
	return sn == 0 ? KT_OK : KT_ERR_LOG_PROOF_LENGTH; /* too short */
}

/* Steps 1–3 of the documented checks: sizes, proof count, hash lengths. */
static int inclusion_precheck(kt_bytes leaf_hash, uint64_t index,
			      uint64_t size, const kt_bytes *proof, size_t n)
{
	int r;

	if (size == 0 || size > KT_LOG_MAX_SIZE || index >= size)
		return KT_ERR_LOG_BAD_SIZE;
	if ((r = check_proof(proof, n)) != KT_OK)
		return r;
	return check_hash(leaf_hash);
}

int kt_log_root_from_inclusion(kt_bytes leaf_hash, uint64_t index,
			       uint64_t size, const kt_bytes *proof, size_t n,
			       uint8_t out[KT_HASH_BYTES])
{
	int r;

	r = inclusion_precheck(leaf_hash, index, size, proof, n);
	if (r == KT_OK)
		r = inclusion_fold(leaf_hash.p, index, size, proof, n, out);
	if (r != KT_OK)
		memset(out, 0, KT_HASH_BYTES);
	return r;
}

int kt_log_verify_inclusion(kt_bytes leaf_hash, uint64_t index, uint64_t size,
			    const kt_bytes *proof, size_t n, kt_bytes root)
{
	uint8_t got[KT_HASH_BYTES];
	kt_bytes g = {got, sizeof(got)};
	int r;

	if ((r = inclusion_precheck(leaf_hash, index, size, proof, n)) != KT_OK)
		return r;
	if ((r = check_hash(root)) != KT_OK)
		return r;
	r = inclusion_fold(leaf_hash.p, index, size, proof, n, got);
	if (r != KT_OK)
		return r;
	return bytes_equal(g, root) ? KT_OK : KT_ERR_LOG_ROOT_MISMATCH;
}

/* Element i of the RFC's consistency_path: root1 prepended when size1 is a
 * power of two, then the proof. */
static const uint8_t *cpath_at(size_t i, int seeded, kt_bytes root1,
			       const kt_bytes *proof)
{
	if (seeded)
		return i == 0 ? root1.p : proof[i - 1].p;
	return proof[i].p;
}

/* RFC 9162 §2.1.4.2 steps 2–7 for 0 < size1 < size2 and 0 < n. */
static int consistency_fold(uint64_t size1, uint64_t size2, kt_bytes root1,
			    kt_bytes root2, const kt_bytes *proof, size_t n)
{
	int seeded = is_pow2(size1);
	size_t i, len = n + (seeded ? 1u : 0u);
	uint64_t fn = size1 - 1, sn = size2 - 1;
	uint8_t fr[KT_HASH_BYTES], sr[KT_HASH_BYTES];
	kt_bytes f = {fr, sizeof(fr)}, s = {sr, sizeof(sr)};

	while ((fn & 1) != 0) {
		fn >>= 1;
		sn >>= 1;
	}
	memcpy(fr, cpath_at(0, seeded, root1, proof), KT_HASH_BYTES);
	memcpy(sr, fr, KT_HASH_BYTES);
	for (i = 1; i < len; i++) {
		const uint8_t *c = cpath_at(i, seeded, root1, proof);

		if (sn == 0)
			return KT_ERR_LOG_PROOF_LENGTH; /* too long */
		if (rfc_left_step(&fn, &sn)) {
			kt_log_node_hash(fr, c, fr);
			kt_log_node_hash(sr, c, sr);
		} else {
			kt_log_node_hash(sr, sr, c);
		}
		fn >>= 1;
		sn >>= 1;
	}
	if (sn != 0)
		return KT_ERR_LOG_PROOF_LENGTH; /* too short */
	if (!bytes_equal(f, root1) || !bytes_equal(s, root2))
		return KT_ERR_LOG_ROOT_MISMATCH;
	return KT_OK;
}

int kt_log_verify_consistency(uint64_t size1, uint64_t size2, kt_bytes root1,
			      kt_bytes root2, const kt_bytes *proof, size_t n)
{
	int r;

	if (size1 == 0 || size1 > size2 || size2 > KT_LOG_MAX_SIZE)
		return KT_ERR_LOG_BAD_SIZE;
	if (size1 == size2) {
		if (n != 0)
			return KT_ERR_LOG_PROOF_LENGTH;
		return bytes_equal(root1, root2) ? KT_OK
						 : KT_ERR_LOG_ROOT_MISMATCH;
	}
	if ((r = check_proof(proof, n)) != KT_OK)
		return r;
	if ((r = check_hash(root1)) != KT_OK || (r = check_hash(root2)) != KT_OK)
		return r;
	if (n == 0)
		return KT_ERR_LOG_PROOF_LENGTH; /* RFC step 1 */
	return consistency_fold(size1, size2, root1, root2, proof, n);
}

void kt_log_hashes_as_bytes(kt_bytes *out,
			    const uint8_t (*hashes)[KT_HASH_BYTES], size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		out[i].p = hashes[i];
		out[i].len = KT_HASH_BYTES;
	}
}
