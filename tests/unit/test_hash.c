/*
 * test_hash.c — keytrail's SHA-256 (merkle/kt_hash.h), on BOTH compressions
 * (portable C and SHA-NI, forced through kt_sha256_set_impl):
 *
 * (1) the NIST example vectors: "abc", the 448-bit and 896-bit messages
 *     (FIPS 180-4 examples, NIST CSRC "SHA256.pdf" / "SHA2_Additional"),
 *     one million 'a' (FIPS 180-2 appendix B.3), and the empty string;
 * (2) equality with libsodium's crypto_hash_sha256 (an independent
 *     implementation) for 10,000 pseudo-random inputs whose lengths run
 *     through every value 0..300 (every padding boundary: 55/56, 63/64,
 *     119/120 ...) plus large inputs up to 1 MiB, through kt_sha256 (one
 *     shot), kt_sha256_init/update/final with the input cut at random points
 *     (empty pieces included) and kt_sha256_prefixed cut at random points;
 * (3) forgery twins: one flipped input bit (or prefix bit) changes the digest;
 *     the length field of messages up to 2^61 bytes (white box, see below);
 * (4) the dispatch: set_impl refuses unknown values, a context may change
 *     implementation mid-message, threads hashing while the implementation
 *     is switched all get libsodium's digests.
 * The PRNG is a fixed-seed SplitMix64, so a failure reproduces.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "hash_int.h"
#include "kt_err.h"
#include "kt_hash.h"

#define H KT_HASH_BYTES
#define N_RANDOM 10000
#define MAX_SMALL 300
#define LARGE_MAX ((size_t)1 << 20)

/* ---- helpers --------------------------------------------------------- */

typedef struct rng {
	uint64_t s;
} rng;

static uint64_t rng_next(rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* uniform enough in [0, n] for tests; n < 2^32 */
static size_t rng_upto(rng *r, size_t n)
{
	return (size_t)(rng_next(r) % ((uint64_t)n + 1));
}

static void rng_fill(rng *r, uint8_t *p, size_t n)
{
	while (n > 0) {
		uint64_t v = rng_next(r);
		size_t k = n < 8 ? n : 8;

		memcpy(p, &v, k);
		p += k;
		n -= k;
	}
}

static void unhex(uint8_t *out, const char *hex, size_t n)
{
	size_t i;

	assert_int_equal(strlen(hex), 2 * n);
	for (i = 0; i < n; i++) {
		unsigned int v;

		assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
}

/* Forces impl; skips the test when this CPU (or build) lacks it. */
static void use_impl(kt_sha256_impl impl)
{
	int r = kt_sha256_set_impl(impl);

	if (r == KT_ERR_UNSUPPORTED && impl == KT_SHA256_IMPL_SHA_NI) {
		print_message("SHA-NI not compiled in or not on this CPU: skipped\n");
		skip();
	}
	assert_int_equal(r, KT_OK);
	assert_string_equal(kt_sha256_impl_name(),
			    impl == KT_SHA256_IMPL_SHA_NI ? "sha-ni" : "portable");
}

static int reset_impl(void **state)
{
	(void)state;
	return kt_sha256_set_impl(KT_SHA256_IMPL_AUTO) == KT_OK ? 0 : -1;
}

/* SHA-256 through init/update/final with the input cut at random points
 * (up to 7 pieces, empty pieces allowed). */
static void sha256_pieces(rng *r, uint8_t out[H], const uint8_t *in, size_t len)
{
	kt_sha256_ctx c;
	size_t off = 0, k, pieces = 1 + rng_upto(r, 6);

	kt_sha256_init(&c);
	for (k = 0; k + 1 < pieces; k++) {
		size_t n = rng_upto(r, len - off);

		kt_sha256_update(&c, in + off, n);
		off += n;
	}
	kt_sha256_update(&c, in + off, len - off);
	kt_sha256_final(&c, out);
}

/* Checks the three entry points against libsodium on in[0..len). */
static void check_against_sodium(rng *r, const uint8_t *in, size_t len)
{
	uint8_t want[H], got[H];
	size_t alen;

	crypto_hash_sha256(want, in, len);
	kt_sha256(got, in, len);
	assert_memory_equal(got, want, H);
	memset(got, 0, H);
	sha256_pieces(r, got, in, len);
	assert_memory_equal(got, want, H);
	if (len > 0) { /* prefix = first byte, then a random cut */
		alen = rng_upto(r, len - 1);
		memset(got, 0, H);
		kt_sha256_prefixed(got, in[0], in + 1, alen, in + 1 + alen,
				   len - 1 - alen);
		assert_memory_equal(got, want, H);
	}
}

/* ---- (1) NIST vectors ------------------------------------------------- */

static const struct {
	const char *msg;
	const char *digest;
} nist[] = {
	{"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
	{"abc",
	 "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
	{"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
	 "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
	{"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
	 "ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
	 "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
};

static void run_nist(void)
{
	uint8_t want[H], got[H];
	uint8_t *a;
	kt_sha256_ctx c;
	size_t i, len;
	rng r = {1};

	for (i = 0; i < sizeof(nist) / sizeof(nist[0]); i++) {
		const uint8_t *m = (const uint8_t *)nist[i].msg;

		len = strlen(nist[i].msg);
		unhex(want, nist[i].digest, H);
		kt_sha256(got, m, len);
		assert_memory_equal(got, want, H);
		sha256_pieces(&r, got, m, len);
		assert_memory_equal(got, want, H);
		if (len > 0) {
			kt_sha256_prefixed(got, m[0], m + 1, len - 1, NULL, 0);
			assert_memory_equal(got, want, H);
		}
		/* forgery twin: the last bit of the message flipped */
		if (len > 0) {
			uint8_t buf[128];

			memcpy(buf, m, len);
			buf[len - 1] ^= 1;
			kt_sha256(got, buf, len);
			assert_memory_not_equal(got, want, H);
		}
	}
	kt_sha256(got, NULL, 0);
	unhex(want, nist[0].digest, H);
	assert_memory_equal(got, want, H);
	kt_sha256_prefixed(got, 'a', NULL, 0, NULL, 0);
	crypto_hash_sha256(want, (const uint8_t *)"a", 1);
	assert_memory_equal(got, want, H);

	/* one million 'a': one shot, and 1000 updates of 1000 bytes */
	len = 1000000;
	a = malloc(len);
	assert_non_null(a);
	memset(a, 'a', len);
	unhex(want, "cdc76e5c9914fb9281a1c7e284d73e67"
		    "f1809a48a497200e046d39ccc7112cd0", H);
	kt_sha256(got, a, len);
	assert_memory_equal(got, want, H);
	kt_sha256_init(&c);
	for (i = 0; i < 1000; i++)
		kt_sha256_update(&c, a, 1000);
	kt_sha256_final(&c, got);
	assert_memory_equal(got, want, H);
	a[len / 2] ^= 0x80; /* forgery twin */
	kt_sha256(got, a, len);
	assert_memory_not_equal(got, want, H);
	free(a);
}

static void test_nist_portable(void **state)
{
	(void)state;
	use_impl(KT_SHA256_IMPL_PORTABLE);
	run_nist();
}

static void test_nist_sha_ni(void **state)
{
	(void)state;
	use_impl(KT_SHA256_IMPL_SHA_NI);
	run_nist();
}

/* ---- (2) against libsodium, (3) forgery twins ------------------------- */

static void run_random(uint64_t seed)
{
	static const size_t large[] = {
		1000, 4096, 4096 + 7, 65536 - 1, 65536 + 13, 100003, LARGE_MAX,
	};
	uint8_t *buf;
	uint8_t want[H], got[H];
	size_t i, len;
	rng r = {seed};

	buf = malloc(LARGE_MAX);
	assert_non_null(buf);
	for (i = 0; i < N_RANDOM; i++) {
		len = i % (MAX_SMALL + 1);
		rng_fill(&r, buf, len);
		check_against_sodium(&r, buf, len);
		if (len == 0)
			continue;
		/* forgery twin: one random bit flipped */
		kt_sha256(want, buf, len);
		buf[rng_upto(&r, len - 1)] ^= (uint8_t)(1U << rng_upto(&r, 7));
		kt_sha256(got, buf, len);
		assert_memory_not_equal(got, want, H);
	}
	for (i = 0; i < sizeof(large) / sizeof(large[0]); i++) {
		rng_fill(&r, buf, large[i]);
		check_against_sodium(&r, buf, large[i]);
		kt_sha256(want, buf, large[i]);
		buf[rng_upto(&r, large[i] - 1)] ^= 0x01;
		kt_sha256(got, buf, large[i]);
		assert_memory_not_equal(got, want, H);
	}
	free(buf);
}

static void test_random_portable(void **state)
{
	(void)state;
	use_impl(KT_SHA256_IMPL_PORTABLE);
	run_random(0x6b74736861ULL);
}

static void test_random_sha_ni(void **state)
{
	(void)state;
	use_impl(KT_SHA256_IMPL_SHA_NI);
	run_random(0x6b74736861ULL);
}

/* A tree node (65 bytes) as kt_log/kt_map hash it, the output written over
 * its own input, and the prefix's forgery twin. */
static void run_node(void)
{
	uint8_t node[1 + 2 * H], buf[2 * H], want[H], got[H];
	rng r = {7};

	rng_fill(&r, node, sizeof(node));
	node[0] = 0x01;
	crypto_hash_sha256(want, node, sizeof(node));
	memcpy(buf, node + 1, sizeof(buf));
	kt_sha256_prefixed(buf, 0x01, buf, H, buf + H, H); /* out aliases a */
	assert_memory_equal(buf, want, H);
	kt_sha256_prefixed(got, 0x00, node + 1, H, node + 1 + H, H);
	assert_memory_not_equal(got, want, H);
	kt_sha256_prefixed(got, 0x01, node + 1, H, node + 1 + H, H - 1);
	assert_memory_not_equal(got, want, H); /* truncated */
}

static void test_node_both(void **state)
{
	(void)state;
	use_impl(KT_SHA256_IMPL_PORTABLE);
	run_node();
	if (kt_sha256_set_impl(KT_SHA256_IMPL_SHA_NI) == KT_OK)
		run_node();
}

/* The 64-bit length field for messages too long to hash here: both
 * contexts are put in the state "X bytes absorbed, chaining value v" (white
 * box: libsodium 1.0.18 counts bits, we count bytes), then fed the same
 * tail.  Catches a length field that drops high bits. */
static void run_huge_lengths(void)
{
	static const uint64_t absorbed[] = {
		(uint64_t)1 << 29, (uint64_t)1 << 32, ((uint64_t)1 << 40) + 64,
		((uint64_t)1 << 61) - 128,
	};
	crypto_hash_sha256_state st;
	kt_sha256_ctx c;
	uint8_t tail[130], want[H], got[H];
	size_t i, n;
	rng r = {5};

	for (i = 0; i < sizeof(absorbed) / sizeof(absorbed[0]); i++) {
		for (n = 0; n <= sizeof(tail); n += 13) {
			rng_fill(&r, tail, n);
			crypto_hash_sha256_init(&st);
			kt_sha256_init(&c);
			rng_fill(&r, (uint8_t *)c.state, sizeof(c.state));
			memcpy(st.state, c.state, sizeof(st.state));
			c.count = absorbed[i];
			st.count = absorbed[i] << 3;
			crypto_hash_sha256_update(&st, tail, n);
			crypto_hash_sha256_final(&st, want);
			kt_sha256_update(&c, tail, n);
			kt_sha256_final(&c, got);
			assert_memory_equal(got, want, H);
		}
	}
}

static void test_huge_lengths_both(void **state)
{
	(void)state;
	use_impl(KT_SHA256_IMPL_PORTABLE);
	run_huge_lengths();
	if (kt_sha256_set_impl(KT_SHA256_IMPL_SHA_NI) == KT_OK)
		run_huge_lengths();
}

/* ---- (4) dispatch ----------------------------------------------------- */

static void test_set_impl(void **state)
{
	kt_sha256_ctx c;
	uint8_t msg[200], want[H], got[H];
	size_t i;
	int r;
	rng g = {3};

	(void)state;
	assert_int_equal(kt_sha256_set_impl((kt_sha256_impl)3),
			 KT_ERR_INVALID_ARG);
	assert_int_equal(kt_sha256_set_impl((kt_sha256_impl)-1),
			 KT_ERR_INVALID_ARG);
	assert_int_equal(kt_sha256_set_impl(KT_SHA256_IMPL_AUTO), KT_OK);
#ifdef KT_HAVE_SHA_NI
	assert_string_equal(kt_sha256_impl_name(),
			    kt_sha256_ni_supported() ? "sha-ni" : "portable");
#else
	assert_string_equal(kt_sha256_impl_name(), "portable");
#endif

	/* one context, the implementation switched between updates */
	rng_fill(&g, msg, sizeof(msg));
	crypto_hash_sha256(want, msg, sizeof(msg));
	r = kt_sha256_set_impl(KT_SHA256_IMPL_PORTABLE);
	assert_int_equal(r, KT_OK);
	kt_sha256_init(&c);
	kt_sha256_update(&c, msg, 70);
	r = kt_sha256_set_impl(KT_SHA256_IMPL_SHA_NI); /* may be refused */
	assert_true(r == KT_OK || r == KT_ERR_UNSUPPORTED);
	kt_sha256_update(&c, msg + 70, 100);
	assert_int_equal(kt_sha256_set_impl(KT_SHA256_IMPL_PORTABLE), KT_OK);
	kt_sha256_update(&c, msg + 170, sizeof(msg) - 170);
	kt_sha256_final(&c, got);
	assert_memory_equal(got, want, H);
	/* final wipes the context */
	for (i = 0; i < sizeof(c); i++)
		assert_int_equal(((const uint8_t *)&c)[i], 0);
}

#define N_THREADS 3
#define PER_THREAD 1500

static void *hash_worker(void *arg)
{
	rng r = {(uint64_t)(uintptr_t)arg};
	uint8_t buf[MAX_SMALL], want[H], got[H];
	uintptr_t bad = 0;
	int i;

	for (i = 0; i < PER_THREAD; i++) {
		size_t len = rng_upto(&r, sizeof(buf));

		rng_fill(&r, buf, len);
		crypto_hash_sha256(want, buf, len);
		kt_sha256(got, buf, len);
		bad += memcmp(got, want, H) != 0;
		sha256_pieces(&r, got, buf, len);
		bad += memcmp(got, want, H) != 0;
	}
	return (void *)bad;
}

static void test_threads_while_switching(void **state)
{
	pthread_t t[N_THREADS];
	uintptr_t i;
	int k;

	(void)state;
	for (i = 0; i < N_THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, hash_worker,
						(void *)(i + 11)), 0);
	for (k = 0; k < 2000; k++) {
		int r = kt_sha256_set_impl((kt_sha256_impl)(k % 3));

		assert_true(r == KT_OK || r == KT_ERR_UNSUPPORTED);
	}
	for (i = 0; i < N_THREADS; i++) {
		void *bad;

		assert_int_equal(pthread_join(t[i], &bad), 0);
		assert_int_equal((uintptr_t)bad, 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_nist_portable, reset_impl),
		cmocka_unit_test_teardown(test_nist_sha_ni, reset_impl),
		cmocka_unit_test_teardown(test_random_portable, reset_impl),
		cmocka_unit_test_teardown(test_random_sha_ni, reset_impl),
		cmocka_unit_test_teardown(test_node_both, reset_impl),
		cmocka_unit_test_teardown(test_huge_lengths_both, reset_impl),
		cmocka_unit_test_teardown(test_set_impl, reset_impl),
		cmocka_unit_test_teardown(test_threads_while_switching,
					  reset_impl),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
