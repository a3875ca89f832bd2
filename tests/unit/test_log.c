/*
 * test_log.c — the RFC 9162 log tree (merkle/kt_log.h).
 *
 * (1) every transparency-dev vector under tests/vectors/tlog gives an error
 *     iff its wantErr is true, and the happy-path proofs are reproduced by our
 *     generator on the RFC 6962 reference tree of 8 leaves;
 * (2) on random trees, roots and proofs equal a naive reference written here
 *     straight from the RFC 9162 definitions (MTH, PATH, SUBPROOF), verify,
 *     and every forgery twin fails;
 * (3) reloading the state from the store gives the same log; failed puts
 *     leave the log unchanged;
 * (4) proofs take O(log n) store reads.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <sodium.h>

#include "kt_json.h"
#include "kt_log.h"

#define H KT_HASH_BYTES
#define MAXP KT_LOG_MAX_PROOF_HASHES

/* ---- a wrapping store that counts reads and can fail ----------------- */

typedef struct wrap_store {
	kt_log_store inner;
	unsigned long gets, puts;
	long fail_put_at; /* the put with this number (from 0) fails; -1 never */
	long fail_get_at;
} wrap_store;

static int wrap_get(void *ctx, unsigned level, uint64_t index, uint8_t out[H])
{
	wrap_store *w = ctx;

	if (w->fail_get_at >= 0 && (long)w->gets == w->fail_get_at) {
		w->gets++;
		return KT_ERR_STORAGE;
	}
	w->gets++;
	return w->inner.get(w->inner.ctx, level, index, out);
}

static int wrap_put(void *ctx, unsigned level, uint64_t index,
		    const uint8_t hash[H])
{
	wrap_store *w = ctx;

	if (w->fail_put_at >= 0 && (long)w->puts == w->fail_put_at) {
		w->puts++;
		return KT_ERR_STORAGE;
	}
	w->puts++;
	return w->inner.put(w->inner.ctx, level, index, hash);
}

static kt_log_store wrap_init(wrap_store *w, kt_log_memstore *m)
{
	kt_log_store s;

	memset(w, 0, sizeof(*w));
	w->inner = kt_log_memstore_store(m);
	w->fail_put_at = -1;
	w->fail_get_at = -1;
	s.ctx = w;
	s.get = wrap_get;
	s.put = wrap_put;
	return s;
}

/* ---- the naive reference, from the RFC 9162 §2.1 definitions --------- */

typedef struct ref_tree {
	uint8_t (*leaf)[H]; /* leaf hashes */
	uint64_t n;
	uint8_t *memo;      /* optional (n+1)^2 cache of MTH(D[lo:hi]), 33 B each */
} ref_tree;

static uint64_t largest_pow2_below(uint64_t w)
{
	uint64_t k = 1;

	while (k * 2 < w)
		k *= 2;
	return k;
}

static void ref_mth(ref_tree *t, uint64_t lo, uint64_t hi, uint8_t out[H])
{
	uint8_t l[H], r[H], *slot = NULL;
	crypto_hash_sha256_state c;
	uint64_t k;

	if (hi - lo == 1) {
		memcpy(out, t->leaf[lo], H);
		return;
	}
	if (t->memo != NULL) {
		slot = t->memo + (lo * (t->n + 1) + hi) * (H + 1);
		if (slot[0]) {
			memcpy(out, slot + 1, H);
			return;
		}
	}
	k = largest_pow2_below(hi - lo);
	ref_mth(t, lo, lo + k, l);
	ref_mth(t, lo + k, hi, r);
	crypto_hash_sha256_init(&c);
	crypto_hash_sha256_update(&c, (const uint8_t *)"\x01", 1);
	crypto_hash_sha256_update(&c, l, H);
	crypto_hash_sha256_update(&c, r, H);
	crypto_hash_sha256_final(&c, out);
	if (slot != NULL) {
		slot[0] = 1;
		memcpy(slot + 1, out, H);
	}
}

static void ref_root(ref_tree *t, uint64_t size, uint8_t out[H])
{
	if (size == 0)
		crypto_hash_sha256(out, NULL, 0);
	else
		ref_mth(t, 0, size, out);
}

/* PATH(m, D[lo:hi]) */
static void ref_path(ref_tree *t, uint64_t m, uint64_t lo, uint64_t hi,
		     uint8_t out[][H], size_t *n)
{
	uint64_t k;

	if (hi - lo == 1)
		return;
	k = largest_pow2_below(hi - lo);
	if (m < k) {
		ref_path(t, m, lo, lo + k, out, n);
		ref_mth(t, lo + k, hi, out[(*n)++]);
	} else {
		ref_path(t, m - k, lo + k, hi, out, n);
		ref_mth(t, lo, lo + k, out[(*n)++]);
	}
}

/* SUBPROOF(m, D[lo:hi], b) */
static void ref_subproof(ref_tree *t, uint64_t m, uint64_t lo, uint64_t hi,
			 int b, uint8_t out[][H], size_t *n)
{
	uint64_t k;

	if (m == hi - lo) {
		if (!b)
			ref_mth(t, lo, hi, out[(*n)++]);
		return;
	}
	k = largest_pow2_below(hi - lo);
	if (m <= k) {
		ref_subproof(t, m, lo, lo + k, b, out, n);
		ref_mth(t, lo + k, hi, out[(*n)++]);
	} else {
		ref_subproof(t, m - k, lo + k, hi, 0, out, n);
		ref_mth(t, lo, lo + k, out[(*n)++]);
	}
}

static void ref_init(ref_tree *t, uint64_t n, int memo, uint8_t seed_byte)
{
	uint8_t seed[randombytes_SEEDBYTES] = {seed_byte};
	uint64_t i;

	t->n = n;
	t->leaf = malloc((size_t)n * H);
	assert_non_null(t->leaf);
	randombytes_buf_deterministic(t->leaf, (size_t)n * H, seed);
	for (i = 0; i < n; i++) /* leaf hashes of random entries */
		kt_log_leaf_hash(t->leaf[i], t->leaf[i], H);
	t->memo = memo ? calloc((size_t)((n + 1) * (n + 1)), H + 1) : NULL;
	if (memo)
		assert_non_null(t->memo);
}

static void ref_free(ref_tree *t)
{
	free(t->leaf);
	free(t->memo);
}

/* ---- helpers ----------------------------------------------------------- */

static kt_bytes kb(const uint8_t *p, size_t len)
{
	kt_bytes b;

	b.p = p;
	b.len = len;
	return b;
}

/* Copies a proof into a private buffer and views it, so twins can mutate. */
typedef struct proof_buf {
	uint8_t h[MAXP + 2][H + 1];
	kt_bytes v[MAXP + 2];
	size_t n;
} proof_buf;

static void pb_set(proof_buf *pb, const uint8_t (*h)[H], size_t n)
{
	size_t i;

	assert_true(n <= MAXP);
	memset(pb, 0, sizeof(*pb));
	for (i = 0; i < n; i++) {
		memcpy(pb->h[i], h[i], H);
		pb->v[i] = kb(pb->h[i], H);
	}
	pb->n = n;
}

/* Struct copy, with the views pointing into the copy's own bytes. */
static void pb_copy(proof_buf *dst, const proof_buf *src)
{
	size_t i;

	*dst = *src;
	for (i = 0; i < dst->n; i++)
		dst->v[i].p = dst->h[i];
}

/* ---- (2) random trees against the reference --------------------------- */

static void inclusion_twins(ref_tree *t, const kt_log_store *s, uint64_t i,
			    uint64_t n, const proof_buf *good, const uint8_t root[H])
{
	proof_buf pb;
	kt_bytes leaf = kb(t->leaf[i], H), rt = kb(root, H);
	uint8_t bad[H + 1], other[MAXP][H];
	size_t j, no;

	for (j = 0; j < good->n; j++) { /* one flipped bit per element */
		pb_copy(&pb, good);
		pb.h[j][(i + j) % H] ^= (uint8_t)(1u << (j % 8));
		assert_int_equal(kt_log_verify_inclusion(leaf, i, n, pb.v, pb.n, rt),
				 KT_ERR_LOG_ROOT_MISMATCH);
	}
	pb_copy(&pb, good);
	memcpy(bad, t->leaf[i], H);
	bad[0] ^= 0x80;
	assert_int_equal(kt_log_verify_inclusion(kb(bad, H), i, n, pb.v, pb.n, rt),
			 KT_ERR_LOG_ROOT_MISMATCH);
	memcpy(bad, root, H);
	bad[H - 1] ^= 1;
	assert_int_equal(kt_log_verify_inclusion(leaf, i, n, pb.v, pb.n, kb(bad, H)),
			 KT_ERR_LOG_ROOT_MISMATCH);
	/* wrong index, wrong size */
	if ((i ^ 1) < n)
		assert_int_not_equal(kt_log_verify_inclusion(leaf, i ^ 1, n, pb.v, pb.n, rt), KT_OK);
	if (i + 1 < n)
		assert_int_not_equal(kt_log_verify_inclusion(leaf, i + 1, n, pb.v, pb.n, rt), KT_OK);
	if (n - 1 - i != i)
		assert_int_not_equal(kt_log_verify_inclusion(leaf, n - 1 - i, n, pb.v, pb.n, rt), KT_OK);
	assert_int_equal(kt_log_verify_inclusion(leaf, n, n, pb.v, pb.n, rt), KT_ERR_LOG_BAD_SIZE);
	assert_int_equal(kt_log_verify_inclusion(leaf, i, 0, pb.v, pb.n, rt), KT_ERR_LOG_BAD_SIZE);
	assert_int_equal(kt_log_verify_inclusion(leaf, i, 2 * n, pb.v, pb.n, rt),
			 KT_ERR_LOG_PROOF_LENGTH);
	/* the (correct) proof for the tree one leaf smaller */
	if (i + 1 < n) {
		assert_int_equal(kt_log_prove_inclusion(s, i, n - 1, other, &no), KT_OK);
		kt_bytes ov[MAXP];
		kt_log_hashes_as_bytes(ov, (const uint8_t(*)[H])other, no);
		assert_int_not_equal(kt_log_verify_inclusion(leaf, i, n, ov, no, rt), KT_OK);
	}
	/* dropped / added elements */
	if (pb.n > 0) {
		assert_int_equal(kt_log_verify_inclusion(leaf, i, n, pb.v, pb.n - 1, rt),
				 KT_ERR_LOG_PROOF_LENGTH);
		assert_int_equal(kt_log_verify_inclusion(leaf, i, n, pb.v + 1, pb.n - 1, rt),
				 KT_ERR_LOG_PROOF_LENGTH);
	}
	pb.v[pb.n] = pb.n > 0 ? pb.v[0] : rt;
	assert_int_equal(kt_log_verify_inclusion(leaf, i, n, pb.v, pb.n + 1, rt),
			 KT_ERR_LOG_PROOF_LENGTH);
	/* elements, leaf and root that are not 32 bytes */
	if (pb.n > 0) {
		pb.v[pb.n - 1].len = H - 1;
		assert_int_equal(kt_log_verify_inclusion(leaf, i, n, pb.v, pb.n, rt),
				 KT_ERR_LOG_BAD_HASH);
		pb.v[pb.n - 1].len = H + 1;
		assert_int_equal(kt_log_verify_inclusion(leaf, i, n, pb.v, pb.n, rt),
				 KT_ERR_LOG_BAD_HASH);
		pb.v[pb.n - 1].len = 0;
		assert_int_equal(kt_log_verify_inclusion(leaf, i, n, pb.v, pb.n, rt),
				 KT_ERR_LOG_BAD_HASH);
		pb.v[pb.n - 1].len = H;
	}
	assert_int_equal(kt_log_verify_inclusion(kb(t->leaf[i], H - 1), i, n, pb.v, pb.n, rt),
			 KT_ERR_LOG_BAD_HASH);
	assert_int_equal(kt_log_verify_inclusion(leaf, i, n, pb.v, pb.n, kb(root, 0)),
			 KT_ERR_LOG_BAD_HASH);
}

static void consistency_twins(const kt_log_store *s, uint64_t m, uint64_t n,
			      const proof_buf *good, const uint8_t r1[H],
			      const uint8_t r2[H])
{
	proof_buf pb;
	kt_bytes a = kb(r1, H), b = kb(r2, H);
	uint8_t bad[H], other[MAXP][H];
	kt_bytes ov[MAXP];
	size_t j, no;

	for (j = 0; j < good->n; j++) {
		pb_copy(&pb, good);
		pb.h[j][(m + j) % H] ^= (uint8_t)(1u << (j % 8));
		assert_int_equal(kt_log_verify_consistency(m, n, a, b, pb.v, pb.n),
				 KT_ERR_LOG_ROOT_MISMATCH);
	}
	pb_copy(&pb, good);
	memcpy(bad, r1, H);
	bad[3] ^= 4;
	assert_int_equal(kt_log_verify_consistency(m, n, kb(bad, H), b, pb.v, pb.n),
			 KT_ERR_LOG_ROOT_MISMATCH);
	memcpy(bad, r2, H);
	bad[H - 1] ^= 1;
	assert_int_equal(kt_log_verify_consistency(m, n, a, kb(bad, H), pb.v, pb.n),
			 KT_ERR_LOG_ROOT_MISMATCH);
	assert_int_equal(kt_log_verify_consistency(0, n, a, b, pb.v, pb.n), KT_ERR_LOG_BAD_SIZE);
	assert_int_equal(kt_log_verify_consistency(n + 1, n, a, b, pb.v, pb.n),
			 KT_ERR_LOG_BAD_SIZE);
	if (m == n) {
		assert_int_equal(kt_log_verify_consistency(m, n, a, b, &b, 1),
				 KT_ERR_LOG_PROOF_LENGTH);
		return;
	}
	assert_int_not_equal(kt_log_verify_consistency(m, n, b, a, pb.v, pb.n), KT_OK);
	/* correct proofs for other sizes do not prove these roots */
	if (m > 1) {
		assert_int_equal(kt_log_prove_consistency(s, m - 1, n, other, &no), KT_OK);
		kt_log_hashes_as_bytes(ov, (const uint8_t(*)[H])other, no);
		assert_int_not_equal(kt_log_verify_consistency(m, n, a, b, ov, no), KT_OK);
	}
	if (m < n - 1) {
		assert_int_equal(kt_log_prove_consistency(s, m, n - 1, other, &no), KT_OK);
		kt_log_hashes_as_bytes(ov, (const uint8_t(*)[H])other, no);
		assert_int_not_equal(kt_log_verify_consistency(m, n, a, b, ov, no), KT_OK);
	}
	assert_int_equal(kt_log_verify_consistency(m, n, a, b, pb.v, pb.n - 1),
			 KT_ERR_LOG_PROOF_LENGTH);
	assert_int_equal(kt_log_verify_consistency(m, n, a, b, pb.v + 1, pb.n - 1),
			 KT_ERR_LOG_PROOF_LENGTH);
	pb.v[pb.n] = pb.v[0];
	assert_int_equal(kt_log_verify_consistency(m, n, a, b, pb.v, pb.n + 1),
			 KT_ERR_LOG_PROOF_LENGTH);
	pb.v[0].len = H + 1;
	assert_int_equal(kt_log_verify_consistency(m, n, a, b, pb.v, pb.n),
			 KT_ERR_LOG_BAD_HASH);
	pb.v[0].len = H;
	assert_int_equal(kt_log_verify_consistency(m, n, kb(r1, H - 1), b, pb.v, pb.n),
			 KT_ERR_LOG_BAD_HASH);
	assert_int_equal(kt_log_verify_consistency(m, n, a, kb(r2, 0), pb.v, pb.n),
			 KT_ERR_LOG_BAD_HASH);
}

static void check_inclusion(ref_tree *t, const kt_log_store *s, uint64_t i,
			    uint64_t n, int twins)
{
	uint8_t got[MAXP][H], want[MAXP][H], root[H], computed[H];
	size_t ng, nw = 0;
	proof_buf pb;

	assert_int_equal(kt_log_prove_inclusion(s, i, n, got, &ng), KT_OK);
	ref_path(t, i, 0, n, want, &nw);
	assert_int_equal(ng, nw);
	if (nw > 0)
		assert_memory_equal(got, want, nw * H);
	ref_root(t, n, root);
	pb_set(&pb, (const uint8_t(*)[H])got, ng);
	assert_int_equal(kt_log_verify_inclusion(kb(t->leaf[i], H), i, n, pb.v, pb.n,
						 kb(root, H)), KT_OK);
	assert_int_equal(kt_log_root_from_inclusion(kb(t->leaf[i], H), i, n, pb.v,
						    pb.n, computed), KT_OK);
	assert_memory_equal(computed, root, H);
	if (twins)
		inclusion_twins(t, s, i, n, &pb, root);
}

static void check_consistency(ref_tree *t, const kt_log_store *s, uint64_t m,
			      uint64_t n, int twins)
{
	uint8_t got[MAXP][H], want[MAXP][H], r1[H], r2[H];
	size_t ng, nw = 0;
	proof_buf pb;

	assert_int_equal(kt_log_prove_consistency(s, m, n, got, &ng), KT_OK);
	ref_subproof(t, m, 0, n, 1, want, &nw);
	assert_int_equal(ng, nw);
	if (nw > 0)
		assert_memory_equal(got, want, nw * H);
	ref_root(t, m, r1);
	ref_root(t, n, r2);
	pb_set(&pb, (const uint8_t(*)[H])got, ng);
	assert_int_equal(kt_log_verify_consistency(m, n, kb(r1, H), kb(r2, H),
						   pb.v, pb.n), KT_OK);
	if (twins)
		consistency_twins(s, m, n, &pb, r1, r2);
}

/* After each append: current root, every earlier root, every inclusion and
 * consistency proof of the tree.  Twins for all proofs of small trees and
 * a sample of the larger ones. */
static void test_random_small_trees(void **state)
{
	const uint64_t N = 300;
	kt_log_memstore *m;
	kt_log_store s;
	kt_log log;
	ref_tree t;
	uint8_t got[H], want[H];
	uint64_t n, i, idx;

	(void)state;
	ref_init(&t, N, 1, 1);
	assert_int_equal(kt_log_memstore_new(&m), KT_OK);
	s = kt_log_memstore_store(m);
	kt_log_init(&log, s);
	for (n = 1; n <= N; n++) {
		assert_int_equal(kt_log_append(&log, t.leaf[n - 1], &idx), KT_OK);
		assert_true(idx == n - 1);
		kt_log_root(&log, got);
		ref_root(&t, n, want);
		assert_memory_equal(got, want, H);
		for (i = 0; i <= n; i++) {
			assert_int_equal(kt_log_root_at(&s, i, got), KT_OK);
			ref_root(&t, i, want);
			assert_memory_equal(got, want, H);
		}
		for (i = 0; i < n; i++)
			check_inclusion(&t, &s, i, n, n <= 64 || (i + n) % 13 == 0);
		for (i = 1; i <= n; i++)
			check_consistency(&t, &s, i, n, n <= 64 || (i + n) % 13 == 0);
	}
	kt_log_memstore_free(m);
	ref_free(&t);
}

static void check_large_tree(uint64_t N, uint8_t seed)
{
	kt_log_memstore *m;
	kt_log_store s;
	kt_log log;
	ref_tree t;
	uint8_t got[H], want[H];
	uint64_t i, k;

	ref_init(&t, N, 0, seed);
	assert_int_equal(kt_log_memstore_new(&m), KT_OK);
	s = kt_log_memstore_store(m);
	kt_log_init(&log, s);
	for (i = 0; i < N; i++)
		assert_int_equal(kt_log_append(&log, t.leaf[i], NULL), KT_OK);
	kt_log_root(&log, got);
	ref_root(&t, N, want);
	assert_memory_equal(got, want, H);
	for (k = 0; k < 24; k++) {
		uint64_t a = 1 + (k * 7919) % N, b;

		b = a + (k * 104729) % (N - a + 1);
		assert_int_equal(kt_log_root_at(&s, a, got), KT_OK);
		ref_root(&t, a, want);
		assert_memory_equal(got, want, H);
		check_inclusion(&t, &s, a - 1, b, 1);
		check_inclusion(&t, &s, (k * 31) % N, N, 1);
		check_consistency(&t, &s, a, b, 1);
		check_consistency(&t, &s, a, N, 1);
	}
	for (k = 1; k < N; k *= 2) { /* the power-of-two edges */
		check_consistency(&t, &s, k, N, 1);
		check_consistency(&t, &s, k - 1 > 0 ? k - 1 : 1, k + 1, 1);
		check_inclusion(&t, &s, k, N, 1);
	}
	check_inclusion(&t, &s, N - 1, N, 1);
	kt_log_memstore_free(m);
	ref_free(&t);
}

static void test_random_large_trees(void **state)
{
	(void)state;
	check_large_tree(1000, 2);
	check_large_tree(4097, 3);
}

/* ---- (1) the transparency-dev vectors ---------------------------------- */

typedef struct vec_stats {
	unsigned files, happy, inclusion, consistency;
} vec_stats;

static kt_bytes *json_proof(const kt_json *arr, uint8_t ***bufs, size_t *n)
{
	size_t i, len = kt_json_len(arr);
	kt_bytes *v = calloc(len + 1, sizeof(*v));

	*bufs = calloc(len + 1, sizeof(**bufs));
	assert_non_null(v);
	assert_non_null(*bufs);
	for (i = 0; i < len; i++) {
		(*bufs)[i] = kt_json_b64(kt_json_at(arr, i), &v[i].len);
		v[i].p = (*bufs)[i];
	}
	*n = len;
	return v;
}

static void free_proof(kt_bytes *v, uint8_t **bufs, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(bufs[i]);
	free(bufs);
	free(v);
}

static kt_bytes json_b64(const kt_json *j, const char *key, uint8_t **buf)
{
	kt_bytes b;

	*buf = kt_json_b64(kt_json_get(j, key), &b.len);
	b.p = *buf;
	return b;
}

static int run_inclusion_vector(const kt_json *j)
{
	uint8_t *lb, *rb, **pbufs;
	kt_bytes leaf = json_b64(j, "leafHash", &lb), root = json_b64(j, "root", &rb);
	size_t n;
	kt_bytes *proof = json_proof(kt_json_get(j, "proof"), &pbufs, &n);
	int r;

	r = kt_log_verify_inclusion(leaf, kt_json_u64(kt_json_get(j, "leafIdx")),
				    kt_json_u64(kt_json_get(j, "treeSize")),
				    proof, n, root);
	free_proof(proof, pbufs, n);
	free(lb);
	free(rb);
	return r;
}

static int run_consistency_vector(const kt_json *j)
{
	uint8_t *b1, *b2, **pbufs;
	kt_bytes r1 = json_b64(j, "root1", &b1), r2 = json_b64(j, "root2", &b2);
	size_t n;
	kt_bytes *proof = json_proof(kt_json_get(j, "proof"), &pbufs, &n);
	int r;

	r = kt_log_verify_consistency(kt_json_u64(kt_json_get(j, "size1")),
				      kt_json_u64(kt_json_get(j, "size2")),
				      r1, r2, proof, n);
	free_proof(proof, pbufs, n);
	free(b1);
	free(b2);
	return r;
}

static void run_vector_file(const char *path, vec_stats *st)
{
	kt_json *j = kt_json_load(path);
	const kt_json *want;
	int r;

	if (j == NULL)
		fail_msg("cannot parse %s", path);
	want = kt_json_get(j, "wantErr");
	assert_non_null(want);
	if (strstr(path, "/inclusion/") != NULL) {
		r = run_inclusion_vector(j);
		st->inclusion++;
	} else {
		assert_non_null(strstr(path, "/consistency/"));
		r = run_consistency_vector(j);
		st->consistency++;
	}
	if (want->boolean ? r == KT_OK : r != KT_OK)
		fail_msg("%s: got %s, wantErr %d", path, kt_errname(r), want->boolean);
	st->happy += want->boolean ? 0u : 1u;
	st->files++;
	kt_json_free(j);
}

static void walk_vectors(const char *dir, vec_stats *st)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (d == NULL)
		fail_msg("cannot open %s", dir);
	while ((e = readdir(d)) != NULL) {
		char path[4096];
		struct stat sb;
		size_t len = strlen(e->d_name);

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		assert_int_equal(stat(path, &sb), 0);
		if (S_ISDIR(sb.st_mode))
			walk_vectors(path, st);
		else if (len > 5 && strcmp(e->d_name + len - 5, ".json") == 0)
			run_vector_file(path, st);
	}
	closedir(d);
}

static void test_tlog_vectors(void **state)
{
	vec_stats st = {0, 0, 0, 0};

	(void)state;
	walk_vectors(KT_TEST_VECTORS "/tlog", &st);
	assert_int_equal(st.files, 196);
	assert_int_equal(st.inclusion, 98);
	assert_int_equal(st.consistency, 98);
	assert_int_equal(st.happy, 12);
}

/* The vectors' trees are the RFC 6962 reference tree of 8 leaves (the
 * certificate-transparency test data).  Our generator must reproduce each
 * happy-path proof byte for byte. */
static const char *const ref_leaves_hex[8] = {
	"", "00", "10", "2021", "3031", "40414243",
	"5051525354555657", "606162636465666768696a6b6c6d6e6f",
};

static void build_reference_log(kt_log *log, kt_log_memstore *m)
{
	uint8_t entry[16], lh[H];
	size_t i, len;

	kt_log_init(log, kt_log_memstore_store(m));
	for (i = 0; i < 8; i++) {
		assert_int_equal(sodium_hex2bin(entry, sizeof(entry), ref_leaves_hex[i],
						strlen(ref_leaves_hex[i]), NULL, &len, NULL), 0);
		kt_log_leaf_hash(lh, entry, len);
		assert_int_equal(kt_log_append(log, lh, NULL), KT_OK);
	}
}

static void assert_same_proof(const kt_json *arr, const uint8_t (*got)[H], size_t n)
{
	uint8_t **bufs;
	size_t i, nv;
	kt_bytes *v = json_proof(arr, &bufs, &nv);

	assert_int_equal(nv, n);
	for (i = 0; i < n; i++) {
		assert_int_equal(v[i].len, H);
		assert_memory_equal(v[i].p, got[i], H);
	}
	free_proof(v, bufs, nv);
}

static void regenerate_happy(const kt_log_store *s, const char *kind, int d)
{
	char path[512];
	kt_json *j;
	uint8_t got[MAXP][H];
	size_t n;

	snprintf(path, sizeof(path), KT_TEST_VECTORS "/tlog/%s/%d/happy-path.json", kind, d);
	j = kt_json_load(path);
	assert_non_null(j);
	if (kind[0] == 'i')
		assert_int_equal(kt_log_prove_inclusion(s,
			kt_json_u64(kt_json_get(j, "leafIdx")),
			kt_json_u64(kt_json_get(j, "treeSize")), got, &n), KT_OK);
	else
		assert_int_equal(kt_log_prove_consistency(s,
			kt_json_u64(kt_json_get(j, "size1")),
			kt_json_u64(kt_json_get(j, "size2")), got, &n), KT_OK);
	assert_same_proof(kt_json_get(j, "proof"), (const uint8_t(*)[H])got, n);
	kt_json_free(j);
}

static void test_tlog_vectors_regenerated(void **state)
{
	kt_log_memstore *m;
	kt_log log;
	kt_log_store s;
	uint8_t root[H];
	uint8_t *want;
	size_t len;
	kt_json *j;
	int d;

	(void)state;
	assert_int_equal(kt_log_memstore_new(&m), KT_OK);
	build_reference_log(&log, m);
	s = kt_log_memstore_store(m);
	j = kt_json_load(KT_TEST_VECTORS "/tlog/inclusion/1/happy-path.json");
	assert_non_null(j);
	want = kt_json_b64(kt_json_get(j, "root"), &len);
	kt_log_root(&log, root);
	assert_int_equal(len, H);
	assert_memory_equal(root, want, H);
	free(want);
	kt_json_free(j);
	for (d = 0; d <= 4; d++) {
		regenerate_happy(&s, "inclusion", d);
		regenerate_happy(&s, "consistency", d);
	}
	kt_log_memstore_free(m);
}

/* ---- hashing and verifier edges ---------------------------------------- */

static void test_hashing(void **state)
{
	static const char *empty_hex =
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
	static const char *leaf_empty_hex =
		"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d";
	uint8_t out[H], want[H], l[H], r[H];
	char hex[2 * H + 1];

	(void)state;
	assert_int_equal(KT_LOG_LEAF_PREFIX, 0x00);
	assert_int_equal(KT_LOG_NODE_PREFIX, 0x01);
	kt_log_empty_root(out);
	assert_string_equal(sodium_bin2hex(hex, sizeof(hex), out, H), empty_hex);
	kt_log_leaf_hash(out, NULL, 0);
	assert_string_equal(sodium_bin2hex(hex, sizeof(hex), out, H), leaf_empty_hex);
	memset(l, 0xaa, H);
	memset(r, 0x55, H);
	kt_log_node_hash(out, l, r);
	kt_sha256_prefixed(want, 0x01, l, H, r, H);
	assert_memory_equal(out, want, H);
	kt_log_node_hash(l, l, r); /* aliasing */
	assert_memory_equal(l, want, H);
	kt_log_node_hash(out, r, want); /* order matters */
	assert_memory_not_equal(out, want, H);
}

static void test_verify_edges(void **state)
{
	uint8_t h[MAXP + 1][H], root[H];
	kt_bytes v[MAXP + 1], odd = kb((const uint8_t *)"dont care 12", 12);
	kt_bytes hb = kb(h[0], H), rb = kb(root, H);

	(void)state;
	memset(h, 7, sizeof(h));
	memset(root, 9, sizeof(root));
	kt_log_hashes_as_bytes(v, (const uint8_t(*)[H])h, MAXP + 1);
	/* caps before anything else */
	assert_int_equal(kt_log_verify_inclusion(hb, 0, UINT64_C(1) << 63, v, MAXP + 1, rb),
			 KT_ERR_LOG_PROOF_LENGTH);
	v[MAXP].len = 0; /* the count is checked before any element */
	assert_int_equal(kt_log_verify_inclusion(hb, 0, 2, v, MAXP + 1, rb),
			 KT_ERR_LOG_PROOF_LENGTH);
	assert_int_equal(kt_log_verify_consistency(1, 2, rb, rb, v, MAXP + 1),
			 KT_ERR_LOG_PROOF_LENGTH);
	assert_int_equal(kt_log_verify_inclusion(hb, 0, 2, v + 1, MAXP, rb),
			 KT_ERR_LOG_BAD_HASH);
	v[MAXP].len = H;
	assert_int_equal(kt_log_verify_inclusion(hb, 0, KT_LOG_MAX_SIZE + 1, v, 1, rb),
			 KT_ERR_LOG_BAD_SIZE);
	assert_int_equal(kt_log_verify_inclusion(hb, UINT64_MAX, 1, v, 0, rb),
			 KT_ERR_LOG_BAD_SIZE);
	assert_int_equal(kt_log_verify_inclusion(hb, 0, 2, NULL, 1, rb), KT_ERR_INVALID_ARG);
	assert_int_equal(kt_log_verify_consistency(3, 5, rb, rb, v, MAXP + 1),
			 KT_ERR_LOG_PROOF_LENGTH);
	assert_int_equal(kt_log_verify_consistency(1, KT_LOG_MAX_SIZE + 1, rb, rb, v, 1),
			 KT_ERR_LOG_BAD_SIZE);
	/* 63 + 1 hashes is the longest possible proof, at the size cap */
	assert_int_equal(kt_log_verify_consistency(3, KT_LOG_MAX_SIZE, rb, rb, v, MAXP),
			 KT_ERR_LOG_ROOT_MISMATCH);
	assert_int_equal(kt_log_verify_inclusion(hb, 0, KT_LOG_MAX_SIZE, v, 63, rb),
			 KT_ERR_LOG_ROOT_MISMATCH);
	assert_int_equal(kt_log_verify_inclusion(hb, 0, KT_LOG_MAX_SIZE, v, 64, rb),
			 KT_ERR_LOG_PROOF_LENGTH);
	/* equal sizes: byte-equal roots of any length, and an empty proof */
	assert_int_equal(kt_log_verify_consistency(5, 5, odd, odd, NULL, 0), KT_OK);
	assert_int_equal(kt_log_verify_consistency(5, 5, odd, rb, NULL, 0),
			 KT_ERR_LOG_ROOT_MISMATCH);
	assert_int_equal(kt_log_verify_consistency(0, 0, rb, rb, NULL, 0), KT_ERR_LOG_BAD_SIZE);
	/* different sizes: an empty proof is never enough (RFC step 1) */
	assert_int_equal(kt_log_verify_consistency(2, 4, rb, rb, NULL, 0),
			 KT_ERR_LOG_PROOF_LENGTH);
	assert_int_equal(kt_log_verify_consistency(2, 4, odd, rb, v, 1), KT_ERR_LOG_BAD_HASH);
	/* hash lengths are checked before the proof's length is */
	assert_int_equal(kt_log_verify_inclusion(hb, 0, 2, v, 0, odd), KT_ERR_LOG_BAD_HASH);
	assert_int_equal(kt_log_verify_inclusion(hb, 0, 2, v, 0, rb), KT_ERR_LOG_PROOF_LENGTH);
}

/* ---- (3) reload, failing stores ---------------------------------------- */

static void test_reload(void **state)
{
	static const uint64_t sizes[] = {0, 1, 2, 3, 255, 256, 257, 999, 1000};
	kt_log_memstore *m;
	kt_log a, b;
	ref_tree t;
	wrap_store w;
	kt_log_store s;
	uint8_t ra[H], rb[H];
	uint64_t i;
	size_t k;

	(void)state;
	ref_init(&t, 1000, 0, 4);
	assert_int_equal(kt_log_memstore_new(&m), KT_OK);
	s = wrap_init(&w, m);
	kt_log_init(&a, s);
	for (i = 0; i < 1000; i++)
		assert_int_equal(kt_log_append(&a, t.leaf[i], NULL), KT_OK);
	for (k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		w.gets = 0;
		assert_int_equal(kt_log_load(&b, s, sizes[k]), KT_OK);
		assert_int_equal(w.gets, __builtin_popcountll(sizes[k]));
		assert_true(b.size == sizes[k]);
		kt_log_root(&b, rb);
		assert_int_equal(kt_log_root_at(&s, sizes[k], ra), KT_OK);
		assert_memory_equal(ra, rb, H);
		/* The reloaded log continues exactly as the original did: the
		 * store accepts only the identical (immutable) nodes again. */
		for (i = sizes[k]; i < 1000; i++)
			assert_int_equal(kt_log_append(&b, t.leaf[i], NULL), KT_OK);
		kt_log_root(&a, ra);
		kt_log_root(&b, rb);
		assert_memory_equal(ra, rb, H);
		assert_true(a.size == b.size);
	}
	/* twins: a size the store does not hold; a different leaf 500 */
	assert_int_equal(kt_log_load(&b, s, 1001), KT_ERR_NOT_FOUND);
	assert_true(b.size == 0);
	assert_int_equal(kt_log_load(&b, s, KT_LOG_MAX_SIZE + 1), KT_ERR_LOG_BAD_SIZE);
	assert_int_equal(kt_log_load(&b, s, 500), KT_OK);
	assert_int_equal(kt_log_append(&b, t.leaf[0], NULL), KT_ERR_INTERNAL);
	assert_true(b.size == 500);
	kt_log_memstore_free(m);
	ref_free(&t);
}

/* A put that fails leaves the log unchanged; the retry then succeeds. */
static void test_failed_put(void **state)
{
	kt_log_memstore *m;
	kt_log log;
	ref_tree t;
	wrap_store w;
	kt_log_store s;
	uint8_t before[H], after[H], want[H];
	uint64_t i;

	(void)state;
	ref_init(&t, 64, 0, 5);
	assert_int_equal(kt_log_memstore_new(&m), KT_OK);
	s = wrap_init(&w, m);
	kt_log_init(&log, s);
	for (i = 0; i < 64; i++) {
		unsigned long puts = w.puts;

		/* appending leaf 63 completes 6 subtrees: fail each put once */
		w.fail_put_at = (long)(puts + i % 7);
		kt_log_root(&log, before);
		if (i % 7 <= (unsigned)__builtin_ctzll(~i)) {
			assert_int_equal(kt_log_append(&log, t.leaf[i], NULL), KT_ERR_STORAGE);
			assert_true(log.size == i);
			kt_log_root(&log, after);
			assert_memory_equal(before, after, H);
		}
		w.fail_put_at = -1;
		assert_int_equal(kt_log_append(&log, t.leaf[i], NULL), KT_OK);
		kt_log_root(&log, after);
		ref_root(&t, i + 1, want);
		assert_memory_equal(after, want, H);
	}
	kt_log_memstore_free(m);
	ref_free(&t);
}

static void test_failed_get(void **state)
{
	kt_log_memstore *m;
	kt_log log;
	ref_tree t;
	wrap_store w;
	kt_log_store s;
	uint8_t proof[MAXP][H], root[H];
	size_t n;
	uint64_t i;

	(void)state;
	ref_init(&t, 100, 0, 6);
	assert_int_equal(kt_log_memstore_new(&m), KT_OK);
	s = wrap_init(&w, m);
	kt_log_init(&log, s);
	for (i = 0; i < 100; i++)
		assert_int_equal(kt_log_append(&log, t.leaf[i], NULL), KT_OK);
	for (i = 0; i < 8; i++) {
		w.gets = 0;
		w.fail_get_at = (long)i;
		if (i < 7) /* the proof of leaf 37 in 100 has 7 hashes */
			assert_int_equal(kt_log_prove_inclusion(&s, 37, 100, proof, &n),
					 KT_ERR_STORAGE);
		assert_int_equal(n, 0);
		w.gets = 0;
		if (i < 3) /* popcount(100) == 3 */
			assert_int_equal(kt_log_root_at(&s, 100, root), KT_ERR_STORAGE);
		w.gets = 0;
		if (i < 3) /* 5 -> 100: seed + path */
			assert_int_equal(kt_log_prove_consistency(&s, 5, 100, proof, &n),
					 KT_ERR_STORAGE);
	}
	w.fail_get_at = -1;
	assert_int_equal(kt_log_prove_inclusion(&s, 37, 101, proof, &n), KT_ERR_NOT_FOUND);
	assert_int_equal(n, 0);
	assert_int_equal(kt_log_prove_inclusion(&s, 100, 100, proof, &n), KT_ERR_LOG_BAD_SIZE);
	assert_int_equal(kt_log_prove_consistency(&s, 0, 100, proof, &n), KT_ERR_LOG_BAD_SIZE);
	assert_int_equal(kt_log_prove_consistency(&s, 101, 100, proof, &n), KT_ERR_LOG_BAD_SIZE);
	assert_int_equal(kt_log_prove_consistency(&s, 100, 100, proof, &n), KT_OK);
	assert_int_equal(n, 0);
	assert_int_equal(kt_log_root_at(&s, KT_LOG_MAX_SIZE + 1, root), KT_ERR_LOG_BAD_SIZE);
	kt_log_memstore_free(m);
	ref_free(&t);
}

/* ---- (4) O(log n) reads ------------------------------------------------ */

static unsigned ceil_log2(uint64_t n)
{
	unsigned b = 0;

	while ((UINT64_C(1) << b) < n)
		b++;
	return b;
}

static void test_read_counts(void **state)
{
	const uint64_t N = 100000;
	kt_log_memstore *m;
	kt_log log;
	wrap_store w;
	kt_log_store s;
	uint8_t proof[MAXP][H], leaf[H], root[H], r1[H];
	kt_bytes v[MAXP];
	size_t n;
	uint64_t i, a, b, max_reads = 0;

	(void)state;
	assert_int_equal(kt_log_memstore_new(&m), KT_OK);
	s = wrap_init(&w, m);
	kt_log_init(&log, s);
	for (i = 0; i < N; i++) {
		kt_store_u64be(leaf, i);
		kt_log_leaf_hash(leaf, leaf, 8);
		assert_int_equal(kt_log_append(&log, leaf, NULL), KT_OK);
	}
	assert_true(w.puts < 2 * N); /* leaves + inner nodes */
	for (i = 0; i < 3000; i++) {
		b = 1 + (i * 2654435761u) % N;
		a = (i * 40503u) % b;
		w.gets = 0;
		assert_int_equal(kt_log_prove_inclusion(&s, a, b, proof, &n), KT_OK);
		assert_true(w.gets <= 2 * ceil_log2(b) + 2);
		max_reads = w.gets > max_reads ? w.gets : max_reads;
		assert_int_equal(kt_log_root_at(&s, b, root), KT_OK);
		kt_store_u64be(leaf, a);
		kt_log_leaf_hash(leaf, leaf, 8);
		kt_log_hashes_as_bytes(v, (const uint8_t(*)[H])proof, n);
		assert_int_equal(kt_log_verify_inclusion(kb(leaf, H), a, b, v, n,
							 kb(root, H)), KT_OK);
		a += 1;
		w.gets = 0;
		assert_int_equal(kt_log_prove_consistency(&s, a, b, proof, &n), KT_OK);
		assert_true(w.gets <= 2 * ceil_log2(b) + 2);
		w.gets = 0;
		assert_int_equal(kt_log_root_at(&s, a, r1), KT_OK);
		assert_int_equal(w.gets, __builtin_popcountll(a));
		kt_log_hashes_as_bytes(v, (const uint8_t(*)[H])proof, n);
		assert_int_equal(kt_log_verify_consistency(a, b, kb(r1, H), kb(root, H),
							   v, n), KT_OK);
	}
	assert_true(max_reads >= ceil_log2(N) - 1); /* the bound is not vacuous */
	kt_log_memstore_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hashing),
		cmocka_unit_test(test_tlog_vectors),
		cmocka_unit_test(test_tlog_vectors_regenerated),
		cmocka_unit_test(test_verify_edges),
		cmocka_unit_test(test_random_small_trees),
		cmocka_unit_test(test_random_large_trees),
		cmocka_unit_test(test_reload),
		cmocka_unit_test(test_failed_put),
		cmocka_unit_test(test_failed_get),
		cmocka_unit_test(test_read_counts),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
