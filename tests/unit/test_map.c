/* test_map.c — the versioned prefix tree: hand-computed roots, proofs of both
 * kinds, strict decoding, random-key properties, order independence, bulk
 * loading, versioning, the in-memory store (its fast path against its plain
 * get / put) and storage failures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "kt_enc.h"
#include "kt_err.h"
#include "kt_map.h"
#include "map_int.h" /* kt_map_mem_table_hash, for hash collisions */

#define HB KT_HASH_BYTES

/* ---- independent reference hashing (not through kt_map.c) ---------------- */

static void ref_hash3(uint8_t out[HB], uint8_t prefix, const uint8_t a[HB],
		      const uint8_t b[HB])
{
	uint8_t buf[1 + 2 * HB];

	buf[0] = prefix;
	memcpy(buf + 1, a, HB);
	memcpy(buf + 1 + HB, b, HB);
	crypto_hash_sha256(out, buf, sizeof(buf));
}

static void ref_leaf(uint8_t out[HB], const uint8_t idx[HB], const uint8_t dig[HB])
{
	ref_hash3(out, 0x02, idx, dig);
}

static void ref_node(uint8_t out[HB], const uint8_t l[HB], const uint8_t r[HB])
{
	ref_hash3(out, 0x03, l, r);
}

static const uint8_t ZERO[HB];

/* ---- helpers ---------------------------------------------------------- */

static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void rng_fill(uint64_t *s, uint8_t *out, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		out[i] = (uint8_t)rng_next(s);
}

/* An index that is all zero except byte 0 = b0 and byte 31 = b31. */
static void mk_index(uint8_t out[HB], uint8_t b0, uint8_t b31)
{
	memset(out, 0, HB);
	out[0] = b0;
	out[31] = b31;
}

static void mk_digest(uint8_t out[HB], uint8_t v)
{
	memset(out, v, HB);
}

static kt_map_mem *new_mem(unsigned flags)
{
	kt_map_mem *m = NULL;

	assert_int_equal(kt_map_mem_new(flags, 0, &m), KT_OK);
	assert_non_null(m);
	return m;
}

static void prove(const kt_map_store *s, uint64_t at, const uint8_t idx[HB],
		  uint8_t **p, size_t *n)
{
	assert_int_equal(kt_map_prove(s, at, idx, p, n), KT_OK);
	assert_non_null(*p);
}

static int verify(const uint8_t root[HB], const uint8_t idx[HB],
		  const uint8_t *dig, const uint8_t *p, size_t n)
{
	kt_bytes b;

	b.p = p;
	b.len = n;
	return kt_map_verify(root, idx, dig, b);
}

/* Asserts the proof for idx (kind, length) verifies, and its twins fail:
 * the other kind of check, another root, a wrong digest. */
static void check_proof(const kt_map_store *s, const uint8_t root[HB],
			const uint8_t idx[HB], const uint8_t *dig,
			uint8_t want_kind, size_t want_len)
{
	uint8_t *p, bad_root[HB], bad_dig[HB];
	size_t n;

	prove(s, UINT64_MAX, idx, &p, &n);
	assert_int_equal(p[0], want_kind);
	assert_int_equal(n, want_len);
	assert_int_equal(verify(root, idx, dig, p, n), KT_OK);
	memcpy(bad_root, root, HB);
	bad_root[5] ^= 0x10;
	assert_int_equal(verify(bad_root, idx, dig, p, n), KT_ERR_MAP_ROOT_MISMATCH);
	if (dig != NULL) {
		memcpy(bad_dig, dig, HB);
		bad_dig[31] ^= 1;
		assert_int_equal(verify(root, idx, bad_dig, p, n),
				 KT_ERR_MAP_ROOT_MISMATCH);
		assert_int_equal(verify(root, idx, NULL, p, n),
				 KT_ERR_MAP_WRONG_KIND);
	} else {
		assert_int_equal(verify(root, idx, ZERO, p, n),
				 KT_ERR_MAP_WRONG_KIND);
	}
	free(p);
}

static void assert_root(const kt_map_store *s, uint64_t at, const uint8_t want[HB])
{
	uint8_t root[HB];

	assert_int_equal(kt_map_root(s, at, root), KT_OK);
	assert_memory_equal(root, want, HB);
}

/* ---- small hand-built trees ------------------------------------------- */

static void test_empty_tree(void **state)
{
	kt_map_mem *m = new_mem(KT_MAP_MEM_HISTORY);
	kt_map_store s = kt_map_mem_store(m);
	uint8_t idx[HB], dig[HB], one[HB];
	uint8_t *p;
	size_t n;
	static const uint8_t want[3] = {0x02, 0x00, 0x00};

	(void)state;
	mk_index(idx, 0x42, 0x17);
	assert_root(&s, UINT64_MAX, ZERO);
	assert_int_equal(kt_map_lookup(&s, UINT64_MAX, idx, dig), KT_ERR_NOT_FOUND);
	prove(&s, UINT64_MAX, idx, &p, &n);
	assert_int_equal(n, 3);
	assert_memory_equal(p, want, 3);
	assert_int_equal(verify(ZERO, idx, NULL, p, n), KT_OK);
	/* Twins: a non-empty root; claiming inclusion. */
	memset(one, 0, HB);
	one[0] = 1;
	assert_int_equal(verify(one, idx, NULL, p, n), KT_ERR_MAP_ROOT_MISMATCH);
	assert_int_equal(verify(ZERO, idx, ZERO, p, n), KT_ERR_MAP_WRONG_KIND);
	free(p);
	kt_map_mem_free(m);
}

static void test_one_leaf(void **state)
{
	kt_map_mem *m = new_mem(KT_MAP_MEM_HISTORY);
	kt_map_store s = kt_map_mem_store(m);
	uint8_t a[HB], da[HB], other[HB], want[HB], root[HB], got[HB];

	(void)state;
	mk_index(a, 0x5a, 0x01);
	mk_digest(da, 0xaa);
	ref_leaf(want, a, da);
	assert_int_equal(kt_map_update(&s, 1, a, da, root), KT_OK);
	assert_memory_equal(root, want, HB);
	assert_root(&s, 1, want);
	assert_root(&s, 0, ZERO);
	assert_int_equal(kt_map_lookup(&s, 1, a, got), KT_OK);
	assert_memory_equal(got, da, HB);
	/* Inclusion: kind, depth 0, no bitmap, no siblings. */
	check_proof(&s, want, a, da, KT_MAP_PROOF_INCLUSION, 3);
	/* Absence for any other index ends at a's leaf at depth 0. */
	mk_index(other, 0xa5, 0x00);
	check_proof(&s, want, other, NULL, KT_MAP_PROOF_ABSENT_LEAF, 3 + 64);
	/* Replacing the digest gives the new leaf hash; the old root stays
	 * readable as of version 1. */
	mk_digest(da, 0xbb);
	ref_leaf(want, a, da);
	assert_int_equal(kt_map_update(&s, 2, a, da, root), KT_OK);
	assert_memory_equal(root, want, HB);
	mk_digest(got, 0xaa);
	ref_leaf(want, a, got);
	assert_root(&s, 1, want);
	kt_map_mem_free(m);
}

static void test_two_leaves_bit0(void **state)
{
	kt_map_mem *m = new_mem(KT_MAP_MEM_HISTORY);
	kt_map_store s = kt_map_mem_store(m);
	uint8_t a[HB], b[HB], c[HB], da[HB], db[HB], la[HB], lb[HB], want[HB];
	uint8_t root[HB], *p;
	size_t n;

	(void)state;
	mk_index(a, 0x00, 0x07);
	mk_index(b, 0x80, 0x07);
	mk_digest(da, 0x11);
	mk_digest(db, 0x22);
	ref_leaf(la, a, da);
	ref_leaf(lb, b, db);
	ref_node(want, la, lb);
	assert_int_equal(kt_map_update(&s, 1, b, db, NULL), KT_OK);
	assert_int_equal(kt_map_update(&s, 2, a, da, root), KT_OK);
	assert_memory_equal(root, want, HB);
	/* 1 kind + 2 depth + 1 bitmap + 1 sibling. */
	check_proof(&s, want, a, da, KT_MAP_PROOF_INCLUSION, 36);
	check_proof(&s, want, b, db, KT_MAP_PROOF_INCLUSION, 36);
	prove(&s, 2, a, &p, &n);
	assert_int_equal(p[2], 1);      /* depth 1 */
	assert_int_equal(p[3], 0x80);   /* sibling at depth 1 present */
	assert_memory_equal(p + 4, lb, HB);
	free(p);
	/* 0x40.. goes left and meets a's leaf at depth 1. */
	mk_index(c, 0x40, 0x00);
	check_proof(&s, want, c, NULL, KT_MAP_PROOF_ABSENT_LEAF, 36 + 64);
	kt_map_mem_free(m);
}

static void test_two_leaves_bit255(void **state)
{
	kt_map_mem *m = new_mem(KT_MAP_MEM_HISTORY);
	kt_map_store s = kt_map_mem_store(m);
	uint8_t a[HB], b[HB], c[HB], d[HB], da[HB], db[HB], la[HB], lb[HB];
	uint8_t h[HB], chain[256][HB], root[HB], *p;
	size_t n;
	int k;

	(void)state;
	mk_index(a, 0x00, 0x00);
	mk_index(b, 0x00, 0x01); /* differs from a in bit 255 only */
	mk_digest(da, 0x33);
	mk_digest(db, 0x44);
	ref_leaf(la, a, da);
	ref_leaf(lb, b, db);
	/* Inner node at depth 255, then 255 single-child parents above. */
	ref_node(h, la, lb);
	memcpy(chain[255], h, HB);
	for (k = 254; k >= 0; k--) {
		ref_node(h, h, ZERO);
		memcpy(chain[k], h, HB);
	}
	assert_int_equal(kt_map_update(&s, 7, a, da, NULL), KT_OK);
	assert_int_equal(kt_map_update(&s, 8, b, db, root), KT_OK);
	assert_memory_equal(root, h, HB);
	/* Depth 256: 32-byte bitmap, one sibling. */
	check_proof(&s, root, a, da, KT_MAP_PROOF_INCLUSION, 1 + 2 + 32 + 32);
	check_proof(&s, root, b, db, KT_MAP_PROOF_INCLUSION, 1 + 2 + 32 + 32);
	prove(&s, 8, b, &p, &n);
	assert_int_equal(p[1], 0x01);
	assert_int_equal(p[2], 0x00);
	assert_int_equal(p[3 + 31], 0x01);
	assert_memory_equal(p + 35, la, HB);
	free(p);
	/* c differs in bit 254: the empty right child of the depth-254 node;
	 * its sibling (depth 255) is the node over a and b. */
	mk_index(c, 0x00, 0x02);
	check_proof(&s, root, c, NULL, KT_MAP_PROOF_ABSENT_EMPTY, 1 + 2 + 32 + 32);
	prove(&s, 8, c, &p, &n);
	assert_int_equal(p[2], 255);
	assert_memory_equal(p + 35, chain[255], HB);
	free(p);
	/* d differs in bit 0: empty at depth 1, sibling = chain[1]. */
	mk_index(d, 0x80, 0x00);
	check_proof(&s, root, d, NULL, KT_MAP_PROOF_ABSENT_EMPTY, 1 + 2 + 1 + 32);
	prove(&s, 8, d, &p, &n);
	assert_memory_equal(p + 4, chain[1], HB);
	free(p);
	/* As of version 7 the tree was the single leaf a. */
	assert_root(&s, 7, la);
	check_proof(&s, root, a, da, KT_MAP_PROOF_INCLUSION, 67);
	kt_map_mem_free(m);
}

/* Three leaves: A = 00.., B = 01.., C = 1..: root = H(H(LA, LB), LC);
 * then three leaves A = 000.., B = 001.., C = 1..: the position 01 is empty. */
static void test_three_leaves(void **state)
{
	kt_map_mem *m = new_mem(KT_MAP_MEM_HISTORY);
	kt_map_store s = kt_map_mem_store(m);
	uint8_t a[HB], b[HB], c[HB], x[HB], da[HB], db[HB], dc[HB];
	uint8_t la[HB], lb[HB], lc[HB], n1[HB], n2[HB], want[HB], root[HB];

	(void)state;
	mk_index(a, 0x00, 0x09);
	mk_index(b, 0x40, 0x09);
	mk_index(c, 0x80, 0x09);
	mk_digest(da, 1);
	mk_digest(db, 2);
	mk_digest(dc, 3);
	ref_leaf(la, a, da);
	ref_leaf(lb, b, db);
	ref_leaf(lc, c, dc);
	ref_node(n1, la, lb);
	ref_node(want, n1, lc);
	assert_int_equal(kt_map_update(&s, 1, c, dc, NULL), KT_OK);
	assert_int_equal(kt_map_update(&s, 2, a, da, NULL), KT_OK);
	assert_int_equal(kt_map_update(&s, 3, b, db, root), KT_OK);
	assert_memory_equal(root, want, HB);
	check_proof(&s, root, a, da, KT_MAP_PROOF_INCLUSION, 3 + 1 + 64);
	check_proof(&s, root, b, db, KT_MAP_PROOF_INCLUSION, 3 + 1 + 64);
	check_proof(&s, root, c, dc, KT_MAP_PROOF_INCLUSION, 3 + 1 + 32);
	mk_index(x, 0x60, 0x00); /* 011.. meets b's leaf at depth 2 */
	check_proof(&s, root, x, NULL, KT_MAP_PROOF_ABSENT_LEAF, 3 + 1 + 64 + 64);
	mk_index(x, 0xc0, 0x00); /* 11.. meets c's leaf at depth 1 */
	check_proof(&s, root, x, NULL, KT_MAP_PROOF_ABSENT_LEAF, 3 + 1 + 32 + 64);
	kt_map_mem_free(m);

	m = new_mem(KT_MAP_MEM_HISTORY);
	s = kt_map_mem_store(m);
	mk_index(b, 0x20, 0x09);
	ref_leaf(lb, b, db);
	ref_node(n1, la, lb);   /* depth 2, prefix 00 */
	ref_node(n2, n1, ZERO); /* depth 1, prefix 0: right child 01 empty */
	ref_node(want, n2, lc);
	assert_int_equal(kt_map_update(&s, 1, a, da, NULL), KT_OK);
	assert_int_equal(kt_map_update(&s, 2, b, db, NULL), KT_OK);
	assert_int_equal(kt_map_update(&s, 3, c, dc, root), KT_OK);
	assert_memory_equal(root, want, HB);
	/* a: depth 3, siblings at 1 (lc), 2 (empty), 3 (lb). */
	check_proof(&s, root, a, da, KT_MAP_PROOF_INCLUSION, 3 + 1 + 64);
	mk_index(x, 0x40, 0x00); /* 010.. ends at the empty position 01 */
	check_proof(&s, root, x, NULL, KT_MAP_PROOF_ABSENT_EMPTY, 3 + 1 + 64);
	kt_map_mem_free(m);
}

/* The worked example of docs/PROTOCOL.md §3 (cross-checked there with
 * Python hashlib): the values must stay what the document says. */
static void from_hex(uint8_t *out, const char *hex, size_t n)
{
	size_t i;
	unsigned v;

	assert_int_equal(strlen(hex), 2 * n);
	for (i = 0; i < n; i++) {
		assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
}

static void test_documented_example(void **state)
{
	kt_map_mem *m = new_mem(KT_MAP_MEM_HISTORY);
	kt_map_store s = kt_map_mem_store(m);
	uint8_t a[HB], b[HB], c[HB], x[HB], y[HB], da[HB], db[HB], dc[HB];
	uint8_t root[HB], want[HB], buf[100], *p;
	size_t n;

	(void)state;
	memset(a, 0, HB);
	mk_index(b, 0x20, 0);
	mk_index(c, 0x80, 0);
	mk_index(x, 0x40, 0);
	mk_index(y, 0xc0, 0);
	mk_digest(da, 0x11);
	mk_digest(db, 0x22);
	mk_digest(dc, 0x33);
	assert_int_equal(kt_map_update(&s, 1, a, da, NULL), KT_OK);
	assert_int_equal(kt_map_update(&s, 2, b, db, NULL), KT_OK);
	assert_int_equal(kt_map_update(&s, 3, c, dc, root), KT_OK);
	from_hex(want, "b5ffe0b464460537046a31929a7c335455fe091dde2cf3983e86505be9063b06", HB);
	assert_memory_equal(root, want, HB);
	from_hex(want, "67533789dfde3af8f8fe39ccc9e686287a9d0186f8cebba4685a26061ac11175", HB);
	assert_root(&s, 2, want);

	prove(&s, 3, a, &p, &n);
	from_hex(buf, "010003a0"
		 "96dbe9204abbe0d586c9a040864211602ed5b048770965ead88a810548b9db98"
		 "c7f3eedb72ee9fa6823216dad5bfd4b4addd54949406474a2244791da56ad343", 68);
	assert_int_equal(n, 68);
	assert_memory_equal(p, buf, 68);
	free(p);
	prove(&s, 3, x, &p, &n);
	from_hex(buf, "020002c0"
		 "96dbe9204abbe0d586c9a040864211602ed5b048770965ead88a810548b9db98"
		 "08a881ce562db3e50d535db02ad3bdacec17cbb5d120b12853394d65607abdef", 68);
	assert_int_equal(n, 68);
	assert_memory_equal(p, buf, 68);
	assert_int_equal(verify(root, x, NULL, p, n), KT_OK);
	free(p);
	prove(&s, 3, y, &p, &n);
	from_hex(buf, "03000180"
		 "4594060bd66dcfa9ee0e8e6b7203a3db912ad809e3df704a09ce7d037fbea16e"
		 "8000000000000000000000000000000000000000000000000000000000000000"
		 "3333333333333333333333333333333333333333333333333333333333333333", 100);
	assert_int_equal(n, 100);
	assert_memory_equal(p, buf, 100);
	assert_int_equal(verify(root, y, NULL, p, n), KT_OK);
	/* Twin: the same bytes do not prove absence of C itself. */
	assert_int_equal(verify(root, c, NULL, p, n), KT_ERR_MAP_BAD_PROOF);
	free(p);
	kt_map_mem_free(m);
}

/* ---- strict decoding -------------------------------------------------- */

/* Builds a proof by hand: kind, depth, bitmap bytes, hashes, other leaf. */
static size_t craft(uint8_t *out, uint8_t kind, unsigned depth,
		    const uint8_t *bitmap, const uint8_t (*sibs)[HB],
		    size_t nsibs, const uint8_t *oidx, const uint8_t *odig)
{
	size_t n = 0, i, nb = (depth + 7) / 8;

	out[n++] = kind;
	out[n++] = (uint8_t)(depth >> 8);
	out[n++] = (uint8_t)depth;
	memcpy(out + n, bitmap, nb);
	n += nb;
	for (i = 0; i < nsibs; i++, n += HB)
		memcpy(out + n, sibs[i], HB);
	if (oidx != NULL) {
		memcpy(out + n, oidx, HB);
		memcpy(out + n + HB, odig, HB);
		n += 2 * HB;
	}
	return n;
}

static void test_rejects_noncanonical(void **state)
{
	uint8_t buf[KT_MAP_MAX_PROOF_BYTES + 8], a[HB], b[HB], da[HB], db[HB];
	uint8_t la[HB], lb[HB], root[HB], bm[33], sibs[2][HB];
	size_t n;

	(void)state;
	mk_index(a, 0x00, 0x01);
	mk_index(b, 0x80, 0x01);
	mk_digest(da, 5);
	mk_digest(db, 6);
	ref_leaf(la, a, da);
	ref_leaf(lb, b, db);
	memset(bm, 0, sizeof(bm));

	/* The canonical proof of a in {a, b} verifies ... */
	ref_node(root, la, lb);
	bm[0] = 0x80;
	memcpy(sibs[0], lb, HB);
	n = craft(buf, KT_MAP_PROOF_INCLUSION, 1, bm, sibs, 1, NULL, NULL);
	assert_int_equal(verify(root, a, da, buf, n), KT_OK);
	/* ... and every malformed variant of it fails with its own code. */
	assert_int_equal(verify(root, a, da, buf, n - 1), KT_ERR_TRUNCATED);
	buf[n] = 0;
	assert_int_equal(verify(root, a, da, buf, n + 1), KT_ERR_TRAILING);
	assert_int_equal(verify(root, a, da, buf, 0), KT_ERR_TRUNCATED);
	assert_int_equal(verify(root, a, da, buf, sizeof(buf)), KT_ERR_TOO_LARGE);
	buf[0] = 0x00;
	assert_int_equal(verify(root, a, da, buf, n), KT_ERR_BAD_TYPE);
	buf[0] = 0x04;
	assert_int_equal(verify(root, a, da, buf, n), KT_ERR_BAD_TYPE);
	buf[0] = KT_MAP_PROOF_INCLUSION;
	bm[0] = 0xc0; /* padding bit set */
	n = craft(buf, KT_MAP_PROOF_INCLUSION, 1, bm, sibs, 1, NULL, NULL);
	assert_int_equal(verify(root, a, da, buf, n), KT_ERR_NONCANONICAL);
	/* A "present" sibling that is 32 zero bytes. */
	bm[0] = 0x80;
	n = craft(buf, KT_MAP_PROOF_INCLUSION, 1, bm, &ZERO, 1, NULL, NULL);
	ref_node(root, la, ZERO);
	assert_int_equal(verify(root, a, da, buf, n), KT_ERR_NONCANONICAL);
	/* A lone leaf pushed to depth 1 (empty sibling): it sits at depth 0. */
	bm[0] = 0x00;
	n = craft(buf, KT_MAP_PROOF_INCLUSION, 1, bm, NULL, 0, NULL, NULL);
	assert_int_equal(verify(root, a, da, buf, n), KT_ERR_MAP_BAD_PROOF);
	/* An empty terminal whose sibling is empty too. */
	ref_node(root, ZERO, ZERO);
	n = craft(buf, KT_MAP_PROOF_ABSENT_EMPTY, 1, bm, NULL, 0, NULL, NULL);
	assert_int_equal(verify(root, a, NULL, buf, n), KT_ERR_MAP_BAD_PROOF);
	/* Depth 257, and an absence at depth 256. */
	memset(bm, 0, sizeof(bm));
	n = craft(buf, KT_MAP_PROOF_INCLUSION, 257, bm, NULL, 0, NULL, NULL);
	assert_int_equal(verify(root, a, da, buf, n), KT_ERR_MAP_DEPTH);
	bm[31] = 0x01;
	n = craft(buf, KT_MAP_PROOF_ABSENT_EMPTY, 256, bm, &lb, 1, NULL, NULL);
	assert_int_equal(verify(root, a, NULL, buf, n), KT_ERR_MAP_DEPTH);
	n = craft(buf, KT_MAP_PROOF_ABSENT_LEAF, 256, bm, &lb, 1, b, db);
	assert_int_equal(verify(root, a, NULL, buf, n), KT_ERR_MAP_DEPTH);

	/* Other-leaf proofs: the leaf must share the path and differ. */
	memset(bm, 0, sizeof(bm));
	n = craft(buf, KT_MAP_PROOF_ABSENT_LEAF, 0, bm, NULL, 0, a, da);
	assert_int_equal(verify(la, b, NULL, buf, n), KT_OK);
	assert_int_equal(verify(la, a, NULL, buf, n), KT_ERR_MAP_BAD_PROOF);
	ref_node(root, lb, la); /* a "leaf of a" claimed on b's side */
	bm[0] = 0x80;
	memcpy(sibs[0], lb, HB);
	n = craft(buf, KT_MAP_PROOF_ABSENT_LEAF, 1, bm, sibs, 1, a, da);
	mk_index(sibs[1], 0xc0, 0x00);
	assert_int_equal(verify(root, sibs[1], NULL, buf, n), KT_ERR_MAP_BAD_PROOF);
	/* Kind byte turned into an inclusion proof: the other leaf trails. */
	buf[0] = KT_MAP_PROOF_INCLUSION;
	assert_int_equal(verify(root, b, db, buf, n), KT_ERR_TRAILING);
}

/* ---- node encoding and store keys ------------------------------------- */

static void test_node_encoding(void **state)
{
	kt_map_node node, back;
	uint8_t enc[KT_MAP_NODE_BYTES + 1], h[HB], want[HB];
	uint8_t k1[KT_MAP_STORE_KEY_BYTES], k2[KT_MAP_STORE_KEY_BYTES], pre[HB];

	(void)state;
	memset(&node, 0, sizeof(node));
	node.kind = KT_MAP_NODE_LEAF;
	mk_index(node.leaf.index, 0x12, 0x34);
	mk_digest(node.leaf.digest, 0x56);
	assert_int_equal(kt_map_node_encode(enc, &node), KT_OK);
	assert_int_equal(enc[0], 0x02);
	assert_int_equal(enc[1], 0x12);
	assert_int_equal(enc[33 + 5], 0x56);
	assert_int_equal(kt_map_node_decode(&back, enc, KT_MAP_NODE_BYTES), KT_OK);
	assert_memory_equal(&back.leaf, &node.leaf, sizeof(node.leaf));
	assert_int_equal(kt_map_node_hash(h, &node), KT_OK);
	ref_leaf(want, node.leaf.index, node.leaf.digest);
	assert_memory_equal(h, want, HB);
	node.kind = KT_MAP_NODE_INNER;
	assert_int_equal(kt_map_node_hash(h, &node), KT_OK);
	ref_node(want, node.inner.left, node.inner.right);
	assert_memory_equal(h, want, HB);
	/* Twins: wrong lengths, unknown kinds. */
	assert_int_equal(kt_map_node_decode(&back, enc, KT_MAP_NODE_BYTES - 1),
			 KT_ERR_TRUNCATED);
	enc[KT_MAP_NODE_BYTES] = 0;
	assert_int_equal(kt_map_node_decode(&back, enc, KT_MAP_NODE_BYTES + 1),
			 KT_ERR_TRAILING);
	enc[0] = 3;
	assert_int_equal(kt_map_node_decode(&back, enc, KT_MAP_NODE_BYTES),
			 KT_ERR_BAD_TYPE);
	assert_int_equal(back.kind, 0);
	node.kind = 9;
	assert_int_equal(kt_map_node_encode(enc, &node), KT_ERR_INVALID_ARG);
	assert_int_equal(kt_map_node_hash(h, &node), KT_ERR_INVALID_ARG);

	/* Keys: newest version first within a position; prefix must be clean. */
	mk_index(pre, 0x80, 0x00);
	assert_int_equal(kt_map_store_key(k1, 1, pre, 10), KT_OK);
	assert_int_equal(kt_map_store_key(k2, 1, pre, 9), KT_OK);
	assert_true(memcmp(k1, k2, sizeof(k1)) < 0);
	assert_int_equal(k1[1], 1);
	assert_int_equal(k1[2], 0x80);
	assert_int_equal(kt_map_store_key(k2, 0, pre, 9), KT_ERR_INVALID_ARG);
	assert_int_equal(kt_map_store_key(k2, 257, ZERO, 9), KT_ERR_INVALID_ARG);
}

/* ---- random keys ------------------------------------------------------ */

/* SHA-256 dominates the run time (libsodium's portable code, ~1 us per node
 * hash): every-bit flips cost bits * depth hashes per proof, so they run on
 * NFLIP_INC + NFLIP_ABS proofs; wrong-digest / wrong-index twins on every
 * TWIN_EVERY-th proof; one random flip on every proof. */
#define NKEYS 100000
#define NFLIP_INC 130
#define NFLIP_ABS 70
#define NABSENT 2000
#define TWIN_EVERY 10
#define NORDER 20000

struct keyset {
	kt_map_entry *e; /* in insertion order */
	size_t n;
};

static struct keyset make_keys(size_t n, uint64_t seed)
{
	struct keyset k;
	size_t i;

	k.n = n;
	k.e = malloc(n * sizeof(*k.e));
	assert_non_null(k.e);
	for (i = 0; i < n; i++)
		rng_fill(&seed, (uint8_t *)&k.e[i], sizeof(k.e[i]));
	return k;
}

static void insert_all(const kt_map_store *s, const kt_map_entry *e, size_t n,
		       size_t stride, uint8_t root[HB])
{
	size_t i, j = 0;

	/* stride (odd, co-prime with n) permutes the insertion order. */
	for (i = 0; i < n; i++, j = (j + stride) % n)
		assert_int_equal(kt_map_update(s, i + 1, e[j].index, e[j].digest,
					       root), KT_OK);
}

/* Every single-bit flip of the proof must fail. */
static void flip_every_bit(const uint8_t root[HB], const uint8_t idx[HB],
			   const uint8_t *dig, uint8_t *p, size_t n)
{
	size_t bit;

	for (bit = 0; bit < n * 8; bit++) {
		p[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		assert_int_not_equal(verify(root, idx, dig, p, n), KT_OK);
		p[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	assert_int_equal(verify(root, idx, dig, p, n), KT_OK);
}

static void test_random_keys(void **state)
{
	kt_map_mem *m = new_mem(KT_MAP_MEM_LATEST_ONLY);
	kt_map_store s = kt_map_mem_store(m);
	struct keyset k = make_keys(NKEYS, 42);
	uint64_t seed = 7;
	uint8_t root[HB], idx[HB], *p;
	size_t i, n, bit, total = 0, maxlen = 0;

	(void)state;
	insert_all(&s, k.e, k.n, 1, root);
	for (i = 0; i < k.n; i++) {
		const uint8_t *dig = k.e[i].digest;

		prove(&s, UINT64_MAX, k.e[i].index, &p, &n);
		assert_int_equal(p[0], KT_MAP_PROOF_INCLUSION);
		assert_int_equal(verify(root, k.e[i].index, dig, p, n), KT_OK);
		total += n;
		maxlen = n > maxlen ? n : maxlen;
		/* Twins: another key's digest, another key's index, one random
		 * bit flipped, every bit flipped (for the first few hundred). */
		if (i % TWIN_EVERY == 0) {
			assert_int_equal(verify(root, k.e[i].index,
						k.e[(i + 1) % k.n].digest, p, n),
					 KT_ERR_MAP_ROOT_MISMATCH);
			assert_int_not_equal(verify(root, k.e[(i + 1) % k.n].index,
						    dig, p, n), KT_OK);
		}
		bit = (size_t)(rng_next(&seed) % (n * 8));
		p[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		assert_int_not_equal(verify(root, k.e[i].index, dig, p, n), KT_OK);
		p[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		if (i < NFLIP_INC)
			flip_every_bit(root, k.e[i].index, dig, p, n);
		free(p);
	}
	print_message("map: %d keys, inclusion proof mean %zu max %zu bytes\n",
		      NKEYS, total / k.n, maxlen);

	for (i = 0; i < NABSENT; i++) {
		rng_fill(&seed, idx, HB);
		assert_int_equal(kt_map_lookup(&s, UINT64_MAX, idx, NULL),
				 KT_ERR_NOT_FOUND);
		prove(&s, UINT64_MAX, idx, &p, &n);
		assert_int_not_equal(p[0], KT_MAP_PROOF_INCLUSION);
		assert_int_equal(verify(root, idx, NULL, p, n), KT_OK);
		assert_int_equal(verify(root, idx, k.e[0].digest, p, n),
				 KT_ERR_MAP_WRONG_KIND);
		/* The proof says nothing about a present key on its path. */
		assert_int_not_equal(verify(root, k.e[i].index, NULL, p, n), KT_OK);
		bit = (size_t)(rng_next(&seed) % (n * 8));
		p[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		assert_int_not_equal(verify(root, idx, NULL, p, n), KT_OK);
		p[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		if (i < NFLIP_ABS)
			flip_every_bit(root, idx, NULL, p, n);
		free(p);
	}
	free(k.e);
	kt_map_mem_free(m);
}

static void test_order_independence(void **state)
{
	struct keyset k = make_keys(NORDER, 99);
	kt_map_entry *sorted;
	kt_map_mem *m;
	kt_map_store s;
	uint8_t r1[HB], r2[HB], r3[HB], r4[HB], old[HB];
	size_t i;

	(void)state;
	m = new_mem(KT_MAP_MEM_LATEST_ONLY);
	s = kt_map_mem_store(m);
	insert_all(&s, k.e, k.n, 1, r1);
	kt_map_mem_free(m);

	m = new_mem(KT_MAP_MEM_LATEST_ONLY);
	s = kt_map_mem_store(m);
	insert_all(&s, k.e, k.n, 7919, r2); /* prime, co-prime with n */
	kt_map_mem_free(m);

	/* Third order: sorted, with every key first inserted with a wrong
	 * digest and then corrected (replacement). */
	sorted = malloc(k.n * sizeof(*sorted));
	assert_non_null(sorted);
	memcpy(sorted, k.e, k.n * sizeof(*sorted));
	kt_map_entries_sort(sorted, k.n);
	m = new_mem(KT_MAP_MEM_HISTORY);
	s = kt_map_mem_store(m);
	for (i = 0; i < k.n; i++)
		assert_int_equal(kt_map_update(&s, i + 1, sorted[i].index,
					       sorted[k.n - 1 - i].digest, NULL), KT_OK);
	assert_int_equal(kt_map_root(&s, UINT64_MAX, old), KT_OK);
	for (i = 0; i < k.n; i++)
		assert_int_equal(kt_map_update(&s, k.n + i + 1, sorted[i].index,
					       sorted[i].digest, r3), KT_OK);
	assert_root(&s, k.n, old);
	kt_map_mem_free(m);

	m = new_mem(KT_MAP_MEM_LATEST_ONLY);
	s = kt_map_mem_store(m);
	assert_int_equal(kt_map_bulk_load(&s, 1, sorted, k.n, r4), KT_OK);
	assert_root(&s, 1, r4);
	kt_map_mem_free(m);

	assert_memory_equal(r1, r2, HB);
	assert_memory_equal(r1, r3, HB);
	assert_memory_equal(r1, r4, HB);
	/* Twin: a changed digest changes the root. */
	assert_memory_not_equal(r1, old, HB);
	free(sorted);
	free(k.e);
}

static void test_bulk_load_errors(void **state)
{
	kt_map_mem *m = new_mem(KT_MAP_MEM_HISTORY);
	kt_map_store s = kt_map_mem_store(m);
	kt_map_entry e[3];
	uint8_t root[HB], want[HB], la[HB], lb[HB];

	(void)state;
	memset(e, 0, sizeof(e));
	mk_index(e[0].index, 0x10, 0);
	mk_index(e[1].index, 0x20, 0);
	mk_index(e[2].index, 0x20, 0); /* duplicate */
	assert_int_equal(kt_map_bulk_load(&s, 1, e, 3, root), KT_ERR_INVALID_ARG);
	mk_index(e[2].index, 0x18, 0); /* unsorted */
	assert_int_equal(kt_map_bulk_load(&s, 1, e, 3, root), KT_ERR_INVALID_ARG);
	assert_int_equal(kt_map_mem_records(m), 0);
	assert_int_equal(kt_map_bulk_load(&s, 1, e, 0, root), KT_OK);
	assert_memory_equal(root, ZERO, HB);
	assert_int_equal(kt_map_bulk_load(&s, 1, e, 2, root), KT_OK);
	ref_leaf(la, e[0].index, e[0].digest);
	ref_leaf(lb, e[1].index, e[1].digest);
	ref_node(want, la, lb); /* 0001 vs 0010: diverge at bit 2 */
	ref_node(want, want, ZERO);
	ref_node(want, want, ZERO);
	assert_memory_equal(root, want, HB);
	/* Not into a non-empty store. */
	assert_int_equal(kt_map_bulk_load(&s, 2, e, 1, root), KT_ERR_INVALID_ARG);
	/* Updates continue on top of a bulk load, also at its own version
	 * (updates at one version compose). */
	assert_int_equal(kt_map_update(&s, 1, e[2].index, e[2].digest, root), KT_OK);
	/* 0x18 sits at depth 5; non-empty siblings at depths 3 and 5. */
	check_proof(&s, root, e[2].index, e[2].digest, KT_MAP_PROOF_INCLUSION,
		    3 + 1 + 2 * 32);
	kt_map_entries_sort(e, 3);
	{
		kt_map_mem *m2 = new_mem(KT_MAP_MEM_HISTORY);
		kt_map_store s2 = kt_map_mem_store(m2);

		assert_int_equal(kt_map_bulk_load(&s2, 0, e, 3, want), KT_OK);
		assert_memory_equal(root, want, HB);
		kt_map_mem_free(m2);
	}
	kt_map_mem_free(m);
}

/* ---- versioning ------------------------------------------------------- */

#define NVER 160

/* The i-th update of the versioning script: new keys, replacements, and
 * keys that share long prefixes. */
static void script_update(size_t i, uint8_t idx[HB], uint8_t dig[HB])
{
	uint64_t s = 1000 + i;

	rng_fill(&s, dig, HB);
	if (i % 5 == 3) {            /* replace an earlier key */
		s = 5000 + (i / 2);
		rng_fill(&s, idx, HB);
	} else if (i % 7 == 0) {     /* a near neighbour of a fixed key */
		memset(idx, 0x5c, HB);
		idx[31 - (i % 32)] ^= (uint8_t)(1u << (i % 8));
	} else {
		s = 5000 + i;
		rng_fill(&s, idx, HB);
	}
}

static void test_versioning(void **state)
{
	kt_map_mem *m = new_mem(KT_MAP_MEM_HISTORY), *f;
	kt_map_store s = kt_map_mem_store(m), fs;
	uint8_t roots[NVER + 1][HB], idx[HB], dig[HB], r[HB];
	uint8_t *p1, *p2;
	size_t i, j, k, n1, n2;

	(void)state;
	memset(roots[0], 0, HB);
	for (i = 1; i <= NVER; i++) {
		script_update(i, idx, dig);
		/* Versions with gaps: update i is written at version 3 * i. */
		assert_int_equal(kt_map_update(&s, 3 * i, idx, dig, roots[i]), KT_OK);
	}
	for (k = 0; k <= NVER; k++) {
		f = new_mem(KT_MAP_MEM_HISTORY);
		fs = kt_map_mem_store(f);
		for (i = 1; i <= k; i++) {
			script_update(i, idx, dig);
			assert_int_equal(kt_map_update(&fs, i, idx, dig, r), KT_OK);
		}
		assert_root(&fs, UINT64_MAX, roots[k]);
		assert_root(&s, 3 * k, roots[k]);
		assert_root(&s, 3 * k + 2, roots[k]);
		/* Proofs as of 3k equal the fresh tree's, byte for byte, for
		 * every key of the script (present or not yet) and verify. */
		for (j = 1; j <= NVER; j += (k % 8 == 0) ? 1 : 9) {
			script_update(j, idx, dig);
			prove(&s, 3 * k + 1, idx, &p1, &n1);
			prove(&fs, UINT64_MAX, idx, &p2, &n2);
			assert_int_equal(n1, n2);
			assert_memory_equal(p1, p2, n1);
			if (p1[0] == KT_MAP_PROOF_INCLUSION) {
				assert_int_equal(kt_map_lookup(&s, 3 * k, idx, dig), KT_OK);
				assert_int_equal(verify(roots[k], idx, dig, p1, n1), KT_OK);
			} else {
				assert_int_equal(verify(roots[k], idx, NULL, p1, n1), KT_OK);
			}
			/* Twin: against the newest root (if it differs). */
			if (k < NVER)
				assert_int_not_equal(verify(roots[NVER], idx,
					p1[0] == KT_MAP_PROOF_INCLUSION ? dig : NULL,
					p1, n1), KT_OK);
			free(p1);
			free(p2);
		}
		kt_map_mem_free(f);
	}
	/* Replaying the last update at its own version is harmless; a version
	 * below a stored one is refused by the store. */
	script_update(NVER, idx, dig);
	assert_int_equal(kt_map_update(&s, 3 * NVER, idx, dig, r), KT_OK);
	assert_memory_equal(r, roots[NVER], HB);
	assert_int_equal(kt_map_update(&s, 3, idx, dig, r), KT_ERR_INVALID_ARG);
	assert_memory_equal(r, ZERO, HB);
	n1 = kt_map_mem_records(m);
	assert_int_equal(kt_map_update(&s, 3 * NVER - 1, idx, dig, r),
			 KT_ERR_INVALID_ARG);
	memset(idx, 0xd7, HB); /* a new index: its leaf position is new */
	assert_int_equal(kt_map_update(&s, 3 * NVER - 1, idx, dig, r),
			 KT_ERR_INVALID_ARG);
	assert_int_equal(kt_map_mem_records(m), n1); /* nothing written */
	assert_root(&s, UINT64_MAX, roots[NVER]);
	for (k = 1; k < NVER; k++)
		assert_root(&s, 3 * k, roots[k]);
	kt_map_mem_free(m);
}

static void test_latest_only_store(void **state)
{
	kt_map_mem *h = new_mem(KT_MAP_MEM_HISTORY);
	kt_map_mem *l = new_mem(KT_MAP_MEM_LATEST_ONLY), *bad = h;
	kt_map_store hs = kt_map_mem_store(h), ls = kt_map_mem_store(l);
	uint8_t idx[HB], dig[HB], rh[HB], rl[HB];
	size_t i;

	(void)state;
	for (i = 1; i <= 200; i++) {
		script_update(i, idx, dig);
		assert_int_equal(kt_map_update(&hs, i, idx, dig, rh), KT_OK);
		assert_int_equal(kt_map_update(&ls, i, idx, dig, rl), KT_OK);
		assert_memory_equal(rh, rl, HB);
	}
	assert_true(kt_map_mem_records(l) < kt_map_mem_records(h));
	assert_true(kt_map_mem_bytes(l) > 0);
	/* Old state is gone: an honest "unsupported", never a wrong root. */
	assert_int_equal(kt_map_root(&ls, 100, rl), KT_ERR_UNSUPPORTED);
	assert_memory_equal(rl, ZERO, HB);
	assert_int_equal(kt_map_update(&ls, 150, idx, dig, rl), KT_ERR_INVALID_ARG);
	assert_int_equal(kt_map_root(&ls, UINT64_MAX, rl), KT_OK);
	assert_memory_equal(rl, rh, HB);
	assert_int_equal(kt_map_root(&hs, 100, rh), KT_OK);
	assert_int_equal(kt_map_mem_new(7, 0, &bad), KT_ERR_INVALID_ARG);
	assert_null(bad);
	kt_map_mem_free(NULL);
	kt_map_mem_free(h);
	kt_map_mem_free(l);
}

/* ---- the in-memory store's fast path ----------------------------------- */

/* A store that forwards to a kt_map_mem's store.  kt_map.c recognises only
 * the in-memory store itself, so through this wrapper it takes the generic
 * route (a get / put per position) instead of the prefetching fast path. */
struct plain {
	kt_map_store inner;
};

static int plain_get(void *ctx, uint16_t depth, const uint8_t prefix[HB],
		     uint64_t at, kt_map_node *out)
{
	struct plain *p = ctx;

	return p->inner.get(p->inner.ctx, depth, prefix, at, out);
}

static int plain_put(void *ctx, uint16_t depth, const uint8_t prefix[HB],
		     uint64_t version, const kt_map_node *node)
{
	struct plain *p = ctx;

	return p->inner.put(p->inner.ctx, depth, prefix, version, node);
}

static kt_map_store plain_store(struct plain *p, kt_map_mem *m)
{
	kt_map_store s;

	p->inner = kt_map_mem_store(m);
	s.ctx = p;
	s.get = plain_get;
	s.put = plain_put;
	return s;
}

/* Proofs (or the error) of idx as of at through two stores are identical. */
static void same_proof(const kt_map_store *s1, const kt_map_store *s2,
		       uint64_t at, const uint8_t idx[HB])
{
	uint8_t *p1 = NULL, *p2 = NULL, d1[HB], d2[HB];
	size_t n1 = 0, n2 = 0;
	int r1, r2;

	r1 = kt_map_prove(s1, at, idx, &p1, &n1);
	r2 = kt_map_prove(s2, at, idx, &p2, &n2);
	assert_int_equal(r1, r2);
	assert_int_equal(n1, n2);
	if (r1 == KT_OK)
		assert_memory_equal(p1, p2, n1);
	free(p1);
	free(p2);
	r1 = kt_map_lookup(s1, at, idx, d1);
	r2 = kt_map_lookup(s2, at, idx, d2);
	assert_int_equal(r1, r2);
	assert_memory_equal(d1, d2, HB);
}

#define NFAST 500

/* The same updates through the fast path (store a) and the generic route
 * (store b, through the wrapper) give the same roots, records and proofs,
 * as of every version kept; reading a through the wrapper gives the same
 * proofs as the fast path.  The script has replacements and keys with long
 * common prefixes (positions deeper than 56, whose keys need an ext node).
 * Store b starts small (one dense level), so its table grows during updates;
 * store a is made for `expected` positions, which sets how many of the top
 * levels are dense (kept by position, not hashed): 0 (like b), 4096 (8
 * levels: the tree spans both kinds), 2^20 (17: all but the deep keys'
 * positions). */
static void fast_path_matches(unsigned flags, size_t expected)
{
	kt_map_mem *a = NULL, *b = new_mem(flags);
	struct plain pa, pb;
	kt_map_store sa, sb, sa_plain;
	uint8_t idx[HB], dig[HB], ra[HB], rb[HB], *p1, *p2;
	uint64_t seed = 5, at;
	size_t i, n1, n2;

	assert_int_equal(kt_map_mem_new(flags, expected, &a), KT_OK);
	sa = kt_map_mem_store(a);
	sb = plain_store(&pb, b);
	sa_plain = plain_store(&pa, a);
	for (i = 1; i <= NFAST; i++) {
		script_update(i, idx, dig);
		assert_int_equal(kt_map_update(&sa, 2 * i, idx, dig, ra), KT_OK);
		assert_int_equal(kt_map_update(&sb, 2 * i, idx, dig, rb), KT_OK);
		assert_memory_equal(ra, rb, HB);
	}
	assert_int_equal(kt_map_mem_records(a), kt_map_mem_records(b));
	for (at = 2 * NFAST; at > 0; at = at > 150 ? at - 150 : 0) {
		for (i = 1; i <= NFAST; i += 3) {
			script_update(i, idx, dig);
			same_proof(&sa, &sb, at, idx);
			same_proof(&sa, &sa_plain, at, idx);
		}
		rng_fill(&seed, idx, HB); /* absent */
		same_proof(&sa, &sb, at, idx);
		if (flags == KT_MAP_MEM_LATEST_ONLY)
			break; /* older versions: UNSUPPORTED (checked below) */
	}
	if (flags == KT_MAP_MEM_LATEST_ONLY) {
		script_update(NFAST, idx, dig);
		assert_int_equal(kt_map_lookup(&sa, NFAST, idx, dig),
				 KT_ERR_UNSUPPORTED);
		same_proof(&sa, &sb, NFAST, idx);
	}
	/* Twin: one more update on a alone, and the stores differ: the root,
	 * and another key's proof (the changed leaf's subtree is one of its
	 * siblings). */
	script_update(NFAST, idx, dig);
	dig[0] ^= 1;
	assert_int_equal(kt_map_update(&sa, 2 * NFAST + 1, idx, dig, ra), KT_OK);
	assert_int_equal(kt_map_root(&sb, UINT64_MAX, rb), KT_OK);
	assert_memory_not_equal(ra, rb, HB);
	script_update(1, idx, dig);
	prove(&sa, UINT64_MAX, idx, &p1, &n1);
	prove(&sb, UINT64_MAX, idx, &p2, &n2);
	assert_true(n1 == n2);
	assert_memory_not_equal(p1, p2, n1);
	free(p1);
	free(p2);
	kt_map_mem_free(a);
	kt_map_mem_free(b);
}

static void test_fast_path_matches(void **state)
{
	(void)state;
	fast_path_matches(KT_MAP_MEM_HISTORY, 0);
	fast_path_matches(KT_MAP_MEM_LATEST_ONLY, 0);
	fast_path_matches(KT_MAP_MEM_HISTORY, 4096);
	fast_path_matches(KT_MAP_MEM_LATEST_ONLY, 4096);
	fast_path_matches(KT_MAP_MEM_HISTORY, (size_t)1 << 20);
}

/* ---- the in-place update and its fallback ------------------------------ */

#define NPLACE 2000

/* The first depth bits of idx, the rest zero: a position's prefix. */
static void prefix_at(uint8_t out[HB], const uint8_t idx[HB], unsigned depth)
{
	unsigned i;

	memset(out, 0, HB);
	for (i = 0; i < depth; i++)
		out[i / 8] |= (uint8_t)(idx[i / 8] & (0x80u >> (i % 8)));
}

/* Depth of idx's leaf in s (its proof's depth). */
static unsigned leaf_depth(const kt_map_store *s, const uint8_t idx[HB])
{
	uint8_t *p;
	size_t n;
	unsigned d;

	prove(s, UINT64_MAX, idx, &p, &n);
	assert_true(n >= 3);
	d = ((unsigned)p[1] << 8) | p[2];
	free(p);
	return d;
}

/* Damages the inner node at depth on idx's path as of version: how 0
 * empties its child on the path, how 1 makes it a leaf (of its own bytes).
 * *was: the node before. */
static void damage(const kt_map_store *s, const uint8_t idx[HB],
		   unsigned depth, uint64_t version, int how, kt_map_node *was)
{
	uint8_t prefix[HB];
	kt_map_node n;
	unsigned bit = (idx[depth / 8] >> (7 - depth % 8)) & 1u;

	prefix_at(prefix, idx, depth);
	assert_int_equal(s->get(s->ctx, (uint16_t)depth, prefix, UINT64_MAX, &n),
			 KT_OK);
	assert_int_equal(n.kind, KT_MAP_NODE_INNER);
	*was = n;
	if (how == 0)
		memset(bit ? n.inner.right : n.inner.left, 0, HB);
	else
		n.kind = KT_MAP_NODE_LEAF;
	assert_int_equal(s->put(s->ctx, (uint16_t)depth, prefix, version, &n),
			 KT_OK);
}

static void repair(const kt_map_store *s, const uint8_t idx[HB],
		   unsigned depth, uint64_t version, const kt_map_node *was)
{
	uint8_t prefix[HB];

	prefix_at(prefix, idx, depth);
	assert_int_equal(s->put(s->ctx, (uint16_t)depth, prefix, version, was),
			 KT_OK);
}

/* In a KT_MAP_MEM_LATEST_ONLY store an update of a present key rewrites its
 * path where it lies, from the leaf up, checking each level as it goes; where
 * a check fails it must undo what it wrote and take the walk, as the generic
 * route does from the start.  Store a (fast path; `expected` sets its dense
 * levels) and store b (generic, via the wrapper) are damaged alike at depth
 * `at` on a key's path (or `above` levels above its leaf, for at < 0), then
 * get the same update: the same result, root, records and proofs.  Where the
 * update fails, the damage is repaired in both, and again they must match:
 * what the fast path wrote before it found the damage is gone. */
static void in_place_falls_back(size_t expected, int at, unsigned above,
				int how)
{
	kt_map_mem *a = NULL, *b = new_mem(KT_MAP_MEM_LATEST_ONLY);
	struct plain pb;
	kt_map_store sa, sb = plain_store(&pb, b);
	uint8_t idx[HB], dig[HB], ra[HB], rb[HB], other[HB];
	kt_map_node was;
	size_t i;
	unsigned d, depth;
	int r1, r2;

	assert_int_equal(kt_map_mem_new(KT_MAP_MEM_LATEST_ONLY, expected, &a),
			 KT_OK);
	sa = kt_map_mem_store(a);
	for (i = 1; i <= NPLACE; i++) {
		script_update(i, idx, dig);
		assert_int_equal(kt_map_update(&sa, i, idx, dig, ra), KT_OK);
		assert_int_equal(kt_map_update(&sb, i, idx, dig, rb), KT_OK);
	}
	/* A present key whose leaf lies deep enough for the damage. */
	for (i = NPLACE;; i--) {
		assert_true(i > 0);
		script_update(i, idx, dig);
		d = leaf_depth(&sa, idx);
		if (at < 0 ? d > above : d > (unsigned)at + 2)
			break;
	}
	depth = at < 0 ? d - above : (unsigned)at;
	damage(&sa, idx, depth, NPLACE, how, &was);
	damage(&sb, idx, depth, NPLACE, how, &was);
	dig[0] ^= 0x5a;
	r1 = kt_map_update(&sa, NPLACE + 1, idx, dig, ra);
	r2 = kt_map_update(&sb, NPLACE + 1, idx, dig, rb);
	assert_int_equal(r1, r2);
	assert_int_equal(r1, how == 0 ? KT_OK : KT_ERR_STORAGE);
	assert_memory_equal(ra, rb, HB);
	if (r1 != KT_OK) {
		repair(&sa, idx, depth, NPLACE, &was);
		repair(&sb, idx, depth, NPLACE, &was);
	}
	assert_int_equal(kt_map_mem_records(a), kt_map_mem_records(b));
	same_proof(&sa, &sb, UINT64_MAX, idx);
	/* As of the last version before the update: a record the update
	 * stamped with its version and left would read as too new. */
	same_proof(&sa, &sb, NPLACE, idx);
	for (i = 1; i <= NPLACE; i += 7) {
		script_update(i, other, dig);
		same_proof(&sa, &sb, UINT64_MAX, other);
	}
	kt_map_mem_free(a);
	kt_map_mem_free(b);
}

static void test_in_place_update_falls_back(void **state)
{
	(void)state;
	/* Emptied child: the walk ends there and the key gets a new leaf. */
	in_place_falls_back(0, -1, 1, 0);
	in_place_falls_back(0, -1, 3, 0);
	/* A leaf mid-path, not sharing the key's prefix: the store is
	 * inconsistent (KT_ERR_STORAGE) and nothing may change.  In the table
	 * levels the path's prefetch stops at that leaf; in the dense levels
	 * (4096 expected positions: depths 0..8) it does not look, so the
	 * update has rewritten the levels below before it finds it. */
	in_place_falls_back(0, -1, 1, 1);
	in_place_falls_back(0, -1, 3, 1);
	in_place_falls_back(4096, 5, 0, 1);
	in_place_falls_back(4096, 8, 0, 1);
}

#define NDEEP 30000

/* Many positions deeper than 56 (each takes a node pair: its node and its
 * prefix words 1..3), more nodes than one pool chunk (2^17) holds, beside
 * one shallow key.  Every key is found and proven, through both routes, and
 * the proofs verify against the bulk loader's root. */
static void test_deep_positions(void **state)
{
	kt_map_entry *e = malloc(NDEEP * sizeof(*e));
	kt_map_mem *m = NULL;
	struct plain pl;
	kt_map_store s, sp;
	uint8_t root[HB], dig[HB], *p;
	uint64_t seed = 77;
	size_t i, n;

	(void)state;
	assert_non_null(e);
	for (i = 0; i < NDEEP; i++) {
		rng_fill(&seed, e[i].index, HB);
		rng_fill(&seed, e[i].digest, HB);
		/* Keys share their first 9 bytes: 0x80 00 .. 00. */
		memset(e[i].index, 0, 9);
		e[i].index[0] = 0x80;
	}
	e[0].index[0] = 0x00; /* the shallow key, a leaf at depth 1 */
	kt_map_entries_sort(e, NDEEP);
	assert_int_equal(kt_map_mem_new(KT_MAP_MEM_LATEST_ONLY, 1000, &m), KT_OK);
	s = kt_map_mem_store(m);
	sp = plain_store(&pl, m);
	assert_int_equal(kt_map_bulk_load(&s, 1, e, NDEEP, root), KT_OK);
	assert_true(kt_map_mem_records(m) > 2 * NDEEP);
	assert_true(kt_map_mem_bytes(m) > 16u << 20); /* two node chunks */
	for (i = 0; i < NDEEP; i++) {
		assert_int_equal(kt_map_lookup(&s, 1, e[i].index, dig), KT_OK);
		assert_memory_equal(dig, e[i].digest, HB);
		if (i % 13 != 0)
			continue;
		same_proof(&s, &sp, 1, e[i].index);
		prove(&s, 1, e[i].index, &p, &n);
		assert_int_equal(verify(root, e[i].index, e[i].digest, p, n), KT_OK);
		/* Twin: another key's digest. */
		assert_int_equal(verify(root, e[i].index, e[(i + 1) % NDEEP].digest,
					p, n), KT_ERR_MAP_ROOT_MISMATCH);
		free(p);
	}
	/* Absent neighbours (one bit from a key) are absent on both routes. */
	for (i = 0; i < NDEEP; i += 97) {
		memcpy(dig, e[i].index, HB);
		dig[31] ^= 1;
		assert_int_equal(kt_map_lookup(&s, 1, dig, NULL), KT_ERR_NOT_FOUND);
		same_proof(&s, &sp, 1, dig);
	}
	/* Updates continue on top, rewriting deep nodes in place. */
	for (i = 0; i < NDEEP; i += 1001) {
		e[i].digest[7] ^= 0x40;
		assert_int_equal(kt_map_update(&s, 2, e[i].index, e[i].digest,
					       root), KT_OK);
		assert_int_equal(kt_map_lookup(&sp, 2, e[i].index, dig), KT_OK);
		assert_memory_equal(dig, e[i].digest, HB);
	}
	kt_map_mem_free(m);
	free(e);
}

/* ---- positions whose table hashes collide ------------------------------ */

struct cand {
	uint32_t hash;
	uint32_t i;
};

static int cand_cmp(const void *x, const void *y)
{
	const struct cand *a = x, *b = y;

	if (a->hash != b->hash)
		return a->hash < b->hash ? -1 : 1;
	return a->i < b->i ? -1 : a->i > b->i;
}

/* prefix = base with bytes at..at+2 = i (big-endian), for a prefix of depth
 * bits (base and i keep every bit at >= depth zero). */
static void cand_prefix(uint8_t out[HB], const uint8_t base[HB], unsigned at,
			uint32_t i)
{
	memcpy(out, base, HB);
	out[at] = (uint8_t)(i >> 16);
	out[at + 1] = (uint8_t)(i >> 8);
	out[at + 2] = (uint8_t)i;
}

#define NCAND (1u << 18)

/* Finds two prefixes of depth bits in m's table (base with `bits` <= 24
 * varied bits ending at byte at + 3) whose table hashes collide.  Deep
 * positions are placed by their own 32-bit hash (a birthday search: 2^18
 * candidates fail to collide with probability e^-8); positions a few levels
 * below the anchor depth share their ancestor's window bits, so among 2^12
 * prefixes of one depth some agree in the rest. */
static void find_collision(const kt_map_mem *m, unsigned depth,
			   const uint8_t base[HB], unsigned at, unsigned bits,
			   uint8_t p1[HB], uint8_t p2[HB])
{
	uint32_t ncand = bits >= 18 ? NCAND : (1u << bits) - 1, i;
	struct cand *c = malloc(ncand * sizeof(*c));
	uint8_t pre[HB];

	assert_non_null(c);
	for (i = 0; i < ncand; i++) {
		cand_prefix(pre, base, at, (i + 1) << (24 - bits));
		c[i].hash = kt_map_mem_table_hash(m, depth, pre);
		c[i].i = (i + 1) << (24 - bits);
	}
	qsort(c, ncand, sizeof(*c), cand_cmp);
	for (i = 1; i < ncand && c[i].hash != c[i - 1].hash; i++)
		;
	assert_true(i < ncand);
	cand_prefix(p1, base, at, c[i - 1].i);
	cand_prefix(p2, base, at, c[i].i);
	assert_int_equal(kt_map_mem_table_hash(m, depth, p1),
			 kt_map_mem_table_hash(m, depth, p2));
	assert_memory_not_equal(p1, p2, HB);
	free(c);
}

/* Two keys below prefix pre (depth bits): they differ at bit depth, so their
 * parent is the position (depth, pre). */
static void keys_below(uint8_t k[2][HB], const uint8_t pre[HB], unsigned depth,
		       uint64_t *seed)
{
	unsigned j, b;

	for (j = 0; j < 2; j++) {
		rng_fill(seed, k[j], HB);
		for (b = 0; b < depth; b++) /* copy the prefix bits */
			if (pre[b / 8] & (0x80u >> (b % 8)))
				k[j][b / 8] |= (uint8_t)(0x80u >> (b % 8));
			else
				k[j][b / 8] &= (uint8_t)~(0x80u >> (b % 8));
		if (j == 0)
			k[j][depth / 8] &= (uint8_t)~(0x80u >> (depth % 8));
		else
			k[j][depth / 8] |= (uint8_t)(0x80u >> (depth % 8));
	}
}

/* Positions with equal table hashes at one depth, inserted one after the
 * other so the second probes past the first: every lookup must tell them
 * apart by key (depths 12, in a shared window, and 40), or by key and the
 * ext node's prefix words (depth 100, where the two also share prefix word
 * 0, the whole key).  Checked on both routes and against proofs; the twins
 * are the other prefix's keys. */
static void collide_at(unsigned flags, unsigned depth, unsigned at,
		       unsigned bits)
{
	uint8_t base[HB], p1[HB], p2[HB], k[4][HB], dig[4][HB], got[HB], root[HB];
	kt_map_mem *m = new_mem(flags), *g = new_mem(flags);
	struct plain pl;
	kt_map_store s = kt_map_mem_store(m), sg;
	uint64_t seed = depth;
	uint8_t *p;
	size_t n;
	unsigned j;

	memset(base, 0, HB);
	base[0] = 0xa5; /* keeps the varied bytes below depth and non-zero */
	base[1] = 0x5a;
	find_collision(m, depth, base, at, bits, p1, p2);
	keys_below(k, p1, depth, &seed);
	keys_below(k + 2, p2, depth, &seed);
	sg = plain_store(&pl, g);
	for (j = 0; j < 4; j++) {
		rng_fill(&seed, dig[j], HB);
		assert_int_equal(kt_map_update(&s, j + 1, k[j], dig[j], root), KT_OK);
		assert_int_equal(kt_map_update(&sg, j + 1, k[j], dig[j], got), KT_OK);
		assert_memory_equal(root, got, HB);
	}
	for (j = 0; j < 4; j++) {
		assert_int_equal(kt_map_lookup(&s, 4, k[j], got), KT_OK);
		assert_memory_equal(got, dig[j], HB);
		same_proof(&s, &sg, 4, k[j]);
		prove(&s, 4, k[j], &p, &n);
		assert_int_equal(p[0], KT_MAP_PROOF_INCLUSION);
		assert_int_equal(verify(root, k[j], dig[j], p, n), KT_OK);
		assert_int_not_equal(verify(root, k[j], dig[j ^ 2], p, n), KT_OK);
		assert_int_not_equal(verify(root, k[j ^ 2], dig[j ^ 2], p, n), KT_OK);
		free(p);
	}
	kt_map_mem_free(m);
	kt_map_mem_free(g);
}

static void test_hash_collisions(void **state)
{
	(void)state;
	collide_at(KT_MAP_MEM_LATEST_ONLY, 12, 0, 12);
	collide_at(KT_MAP_MEM_HISTORY, 12, 0, 12);
	collide_at(KT_MAP_MEM_LATEST_ONLY, 40, 2, 24);
	collide_at(KT_MAP_MEM_HISTORY, 100, 9, 24);
}

/* ---- storage failures ------------------------------------------------- */

/* A store that forwards to a real one and fails the n-th call. */
struct faulty {
	kt_map_store inner;
	long calls, fail_at;
	int missing; /* answer NOT_FOUND instead of an error */
};

static int faulty_get(void *ctx, uint16_t depth, const uint8_t prefix[HB],
		      uint64_t at, kt_map_node *out)
{
	struct faulty *f = ctx;

	if (f->calls++ == f->fail_at)
		return f->missing ? KT_ERR_NOT_FOUND : KT_ERR_STORAGE;
	return f->inner.get(f->inner.ctx, depth, prefix, at, out);
}

static int faulty_put(void *ctx, uint16_t depth, const uint8_t prefix[HB],
		      uint64_t version, const kt_map_node *node)
{
	struct faulty *f = ctx;

	if (f->calls++ == f->fail_at)
		return KT_ERR_STORAGE;
	return f->inner.put(f->inner.ctx, depth, prefix, version, node);
}

static void test_store_failures(void **state)
{
	kt_map_mem *m = new_mem(KT_MAP_MEM_HISTORY);
	struct faulty f;
	kt_map_store s;
	uint8_t idx[HB], dig[HB], root[HB], *p;
	size_t i, n;
	long at;
	int r, failed;

	(void)state;
	f.inner = kt_map_mem_store(m);
	f.fail_at = -1;
	f.missing = 0;
	s.ctx = &f;
	s.get = faulty_get;
	s.put = faulty_put;
	for (i = 1; i <= 64; i++) {
		script_update(i, idx, dig);
		assert_int_equal(kt_map_update(&s, i, idx, dig, NULL), KT_OK);
	}
	/* Fail each call of one update / prove in turn. */
	script_update(65, idx, dig);
	for (at = 0, failed = 1; failed; at++) {
		f.calls = 0;
		f.fail_at = at;
		memset(root, 0xee, HB);
		r = kt_map_update(&s, 1000 + (uint64_t)at, idx, dig, root);
		failed = f.calls > at;
		if (failed) {
			assert_int_equal(r, KT_ERR_STORAGE);
			assert_memory_equal(root, ZERO, HB);
		}
	}
	assert_true(at > 3);
	for (at = 0, failed = 1; failed; at++) {
		f.calls = 0;
		f.fail_at = at;
		f.missing = 1; /* a child the parent names is missing */
		p = (uint8_t *)&f; /* garbage: must come back NULL */
		n = 99;
		r = kt_map_prove(&s, UINT64_MAX, idx, &p, &n);
		failed = f.calls > at;
		if (failed) {
			/* A missing root is an empty tree; deeper, corruption. */
			if (at == 0) {
				assert_int_equal(r, KT_OK);
				free(p);
				continue;
			}
			assert_int_equal(r, KT_ERR_STORAGE);
			assert_null(p);
			assert_int_equal(n, 0);
		} else {
			assert_int_equal(r, KT_OK);
			free(p);
		}
	}
	f.fail_at = 0;
	f.calls = 0;
	f.missing = 0;
	assert_int_equal(kt_map_root(&s, UINT64_MAX, root), KT_ERR_STORAGE);
	f.calls = 0;
	assert_int_equal(kt_map_lookup(&s, UINT64_MAX, idx, dig), KT_ERR_STORAGE);
	kt_map_mem_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_tree),
		cmocka_unit_test(test_one_leaf),
		cmocka_unit_test(test_two_leaves_bit0),
		cmocka_unit_test(test_two_leaves_bit255),
		cmocka_unit_test(test_three_leaves),
		cmocka_unit_test(test_documented_example),
		cmocka_unit_test(test_rejects_noncanonical),
		cmocka_unit_test(test_node_encoding),
		cmocka_unit_test(test_random_keys),
		cmocka_unit_test(test_order_independence),
		cmocka_unit_test(test_bulk_load_errors),
		cmocka_unit_test(test_versioning),
		cmocka_unit_test(test_latest_only_store),
		cmocka_unit_test(test_fast_path_matches),
		cmocka_unit_test(test_in_place_update_falls_back),
		cmocka_unit_test(test_deep_positions),
		cmocka_unit_test(test_hash_collisions),
		cmocka_unit_test(test_store_failures),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
