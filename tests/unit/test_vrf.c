/*
 * test_vrf.c — ECVRF-EDWARDS25519-SHA512-TAI (RFC 9381) against the RFC's
 * vectors, with a forgery twin for every accepted proof.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "kt_err.h"
#include "kt_json.h"
#include "kt_vrf.h"
#include "vrf_int.h"

#define NVEC 3
#define C_OFF 32
#define S_OFF 48

/* One RFC 9381 Appendix B.3 example, decoded. */
struct vec {
	uint8_t seed[32], pk[32], pi[80], beta[64], h[32];
	uint8_t *alpha;
	size_t alpha_len;
	int has_h;
};

static struct vec vecs[NVEC];

static void fixed_hex(uint8_t *out, size_t want, const kt_json *j)
{
	size_t n;
	uint8_t *b = kt_json_hex(j, &n);

	assert_int_equal(n, want);
	memcpy(out, b, want);
	free(b);
}

static int load_vectors(void **state)
{
	kt_json *doc;
	const kt_json *arr;
	size_t i;

	(void)state;
	if (sodium_init() < 0)
		return -1;
	doc = kt_json_load(KT_TEST_VECTORS "/ecvrf/rfc9381-edwards25519-sha512-tai.json");
	if (doc == NULL)
		return -1;
	arr = kt_json_get(doc, "vectors");
	if (kt_json_len(arr) != NVEC)
		return -1;
	for (i = 0; i < NVEC; i++) {
		const kt_json *v = kt_json_at(arr, i);
		const kt_json *h = kt_json_get(v, "h");

		fixed_hex(vecs[i].seed, 32, kt_json_get(v, "sk"));
		fixed_hex(vecs[i].pk, 32, kt_json_get(v, "pk"));
		fixed_hex(vecs[i].pi, 80, kt_json_get(v, "pi"));
		fixed_hex(vecs[i].beta, 64, kt_json_get(v, "beta"));
		vecs[i].has_h = h != NULL;
		if (h != NULL)
			fixed_hex(vecs[i].h, 32, h);
		vecs[i].alpha = kt_json_hex(kt_json_get(v, "alpha"), &vecs[i].alpha_len);
	}
	kt_json_free(doc);
	return 0;
}

static int free_vectors(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < NVEC; i++)
		free(vecs[i].alpha);
	return 0;
}

static void unhex32(uint8_t out[32], const char *hex)
{
	size_t n;

	assert_int_equal(sodium_hex2bin(out, 32, hex, strlen(hex), NULL, &n, NULL), 0);
	assert_int_equal(n, 32);
}

static void assert_zero(const uint8_t *p, size_t len)
{
	assert_true(sodium_is_zero(p, len));
}

/* ---- the RFC vectors ------------------------------------------------- */

static void test_rfc_vectors(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < NVEC; i++) {
		const struct vec *v = &vecs[i];
		uint8_t pk[32], sk[64], edpk[32], edsk[64], h[32], pi[80];
		uint8_t beta[64], beta2[64], index[32];

		assert_int_equal(kt_vrf_keypair_from_seed(pk, sk, v->seed), KT_OK);
		assert_memory_equal(pk, v->pk, 32);
		assert_memory_equal(sk, v->seed, 32);
		assert_memory_equal(sk + 32, v->pk, 32);
		/* Key expansion is Ed25519's: libsodium's signer agrees. */
		assert_int_equal(crypto_sign_seed_keypair(edpk, edsk, v->seed), 0);
		assert_memory_equal(edpk, pk, 32);
		assert_int_equal(kt_vrf_validate_public_key(pk), KT_OK);

		assert_int_equal(kt_vrf_int_encode_to_curve(h, pk, v->alpha, v->alpha_len), KT_OK);
		if (v->has_h)
			assert_memory_equal(h, v->h, 32);

		assert_int_equal(kt_vrf_prove(pi, sk, v->alpha, v->alpha_len), KT_OK);
		assert_memory_equal(pi, v->pi, 80);

		memset(beta, 0xaa, sizeof(beta));
		assert_int_equal(kt_vrf_verify(beta, v->pk, v->pi, v->alpha, v->alpha_len), KT_OK);
		assert_memory_equal(beta, v->beta, 64);
		{
			kt_vrf_public_key key;

			assert_int_equal(kt_vrf_public_key_prepare(&key, v->pk), KT_OK);
			memset(beta2, 0xaa, sizeof(beta2));
			assert_int_equal(kt_vrf_verify_prepared(beta2, &key, v->pi, v->alpha,
								v->alpha_len), KT_OK);
			assert_memory_equal(beta2, v->beta, 64);
		}
		assert_int_equal(kt_vrf_proof_to_hash(beta2, v->pi), KT_OK);
		assert_memory_equal(beta2, v->beta, 64);
		kt_vrf_index(index, beta);
		assert_memory_equal(index, v->beta, 32);
	}
}

/* Forgery twins of each vector: every single-bit flip of the proof. */
static void test_every_bit_flip_fails(void **state)
{
	size_t i, bit;

	(void)state;
	for (i = 0; i < NVEC; i++) {
		const struct vec *v = &vecs[i];
		int by_code[4] = {0, 0, 0, 0};

		for (bit = 0; bit < 80 * 8; bit++) {
			uint8_t pi[80], beta[64];
			int r;

			memcpy(pi, v->pi, 80);
			pi[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			memset(beta, 0xaa, sizeof(beta));
			r = kt_vrf_verify(beta, v->pk, pi, v->alpha, v->alpha_len);
			assert_int_not_equal(r, KT_OK);
			assert_zero(beta, sizeof(beta));
			if (r == KT_ERR_VRF_BAD_PROOF)
				by_code[0]++;
			else if (r == KT_ERR_VRF_BAD_POINT)
				by_code[1]++;
			else if (r == KT_ERR_VRF_BAD_SCALAR)
				by_code[2]++;
			else
				by_code[3]++;
			/* a flip in c or s cannot make Gamma invalid */
			if (bit >= 256)
				assert_true(r == KT_ERR_VRF_BAD_PROOF || r == KT_ERR_VRF_BAD_SCALAR);
		}
		assert_int_equal(by_code[3], 0);
		assert_true(by_code[0] > 0 && by_code[1] > 0 && by_code[2] > 0);
	}
}

static void test_wrong_key_and_alpha(void **state)
{
	size_t i;
	uint8_t beta[64], alpha[300];

	(void)state;
	for (i = 0; i < NVEC; i++) {
		const struct vec *v = &vecs[i];
		const struct vec *other = &vecs[(i + 1) % NVEC];

		/* positive control, then twins */
		assert_int_equal(kt_vrf_verify(beta, v->pk, v->pi, v->alpha, v->alpha_len), KT_OK);
		memset(beta, 0xaa, sizeof(beta));
		assert_int_equal(kt_vrf_verify(beta, other->pk, v->pi, v->alpha, v->alpha_len),
				 KT_ERR_VRF_BAD_PROOF);
		assert_zero(beta, sizeof(beta));
		assert_int_equal(kt_vrf_verify(beta, v->pk, v->pi, other->alpha, other->alpha_len),
				 KT_ERR_VRF_BAD_PROOF);
		/* alpha extended by one byte, and (where possible) truncated */
		memcpy(alpha, v->alpha, v->alpha_len);
		alpha[v->alpha_len] = 0;
		assert_int_equal(kt_vrf_verify(beta, v->pk, v->pi, alpha, v->alpha_len + 1),
				 KT_ERR_VRF_BAD_PROOF);
		if (v->alpha_len > 0) {
			assert_int_equal(kt_vrf_verify(beta, v->pk, v->pi, alpha, v->alpha_len - 1),
					 KT_ERR_VRF_BAD_PROOF);
			alpha[0] ^= 0x01;
			assert_int_equal(kt_vrf_verify(beta, v->pk, v->pi, alpha, v->alpha_len),
					 KT_ERR_VRF_BAD_PROOF);
		}
		/* a proof of another vector under this key */
		assert_int_equal(kt_vrf_verify(beta, v->pk, other->pi, v->alpha, v->alpha_len),
				 KT_ERR_VRF_BAD_PROOF);
	}
}

/* ---- encodings the verifier must reject ------------------------------ */

/* The eight points of small order (orders 1, 2, 4, 8), canonical encodings. */
static const char *const small_order_canonical[8] = {
	"0100000000000000000000000000000000000000000000000000000000000000", /* identity */
	"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", /* order 2 */
	"0000000000000000000000000000000000000000000000000000000000000000", /* order 4 */
	"0000000000000000000000000000000000000000000000000000000000000080", /* order 4 */
	"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05", /* order 8 */
	"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85", /* order 8 */
	"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a", /* order 8 */
	"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa", /* order 8 */
};

/* Non-canonical encodings that lax decoders map to small-order points:
 * x = 0 with the sign bit set, and y = p, p + 1 (y mod p = 0, 1). */
static const char *const small_order_noncanonical[5] = {
	"0100000000000000000000000000000000000000000000000000000000000080",
	"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
	"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
	"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
};

static void test_small_order_public_keys(void **state)
{
	size_t i;
	uint8_t pk[32], beta[64], p8[32], ident[32];

	(void)state;
	for (i = 0; i < 8 + 5; i++) {
		unhex32(pk, i < 8 ? small_order_canonical[i] : small_order_noncanonical[i - 8]);
		assert_int_equal(kt_vrf_validate_public_key(pk), KT_ERR_VRF_BAD_POINT);
		memset(beta, 0xaa, sizeof(beta));
		assert_int_equal(kt_vrf_verify(beta, pk, vecs[0].pi, vecs[0].alpha,
					       vecs[0].alpha_len), KT_ERR_VRF_BAD_POINT);
		assert_zero(beta, sizeof(beta));
	}
	/* y = 2 has no x: off the curve */
	memset(pk, 0, sizeof(pk));
	pk[0] = 2;
	assert_int_equal(kt_vrf_validate_public_key(pk), KT_ERR_VRF_BAD_POINT);
	assert_int_equal(kt_vrf_int_decode_point(p8, pk), KT_ERR_VRF_BAD_POINT);
	/* string_to_point itself: the canonical small-order encodings decode
	 * (only validate_key refuses them); the non-canonical ones do not. */
	for (i = 0; i < 8; i++) {
		unhex32(pk, small_order_canonical[i]);
		assert_int_equal(kt_vrf_int_decode_point(p8, pk), KT_OK);
		unhex32(ident, small_order_canonical[0]);
		assert_memory_equal(p8, ident, 32);
	}
	for (i = 0; i < 5; i++) {
		unhex32(pk, small_order_noncanonical[i]);
		assert_int_equal(kt_vrf_int_decode_point(p8, pk), KT_ERR_VRF_BAD_POINT);
	}
	/* twins: the vector keys are valid */
	for (i = 0; i < NVEC; i++)
		assert_int_equal(kt_vrf_validate_public_key(vecs[i].pk), KT_OK);
}

/* Gamma encoded with y >= p (all 38 such strings), with x = 0 and the sign
 * bit set, off the curve, or of small order: BAD_POINT, never a decode mod p. */
static void test_bad_gamma(void **state)
{
	const struct vec *v = &vecs[0];
	uint8_t pi[80], beta[64];
	unsigned y, sign;
	size_t i;

	(void)state;
	for (y = 0; y < 19; y++) {
		for (sign = 0; sign < 2; sign++) {
			memcpy(pi, v->pi, 80);
			memset(pi, 0xff, 32);
			pi[0] = (uint8_t)(0xed + y);
			pi[31] = sign ? 0xff : 0x7f;
			assert_int_equal(kt_vrf_verify(beta, v->pk, pi, v->alpha, v->alpha_len),
					 KT_ERR_VRF_BAD_POINT);
			assert_int_equal(kt_vrf_proof_to_hash(beta, pi), KT_ERR_VRF_BAD_POINT);
			assert_zero(beta, sizeof(beta));
		}
	}
	for (i = 0; i < 8 + 5; i++) {
		memcpy(pi, v->pi, 80);
		unhex32(pi, i < 8 ? small_order_canonical[i] : small_order_noncanonical[i - 8]);
		assert_int_equal(kt_vrf_verify(beta, v->pk, pi, v->alpha, v->alpha_len),
				 KT_ERR_VRF_BAD_POINT);
	}
	memcpy(pi, v->pi, 80);
	memset(pi, 0, 32);
	pi[0] = 2; /* off the curve */
	assert_int_equal(kt_vrf_verify(beta, v->pk, pi, v->alpha, v->alpha_len),
			 KT_ERR_VRF_BAD_POINT);
	/* twin: the vector's Gamma with the sign bit flipped is a valid point
	 * (-Gamma), so it reaches the challenge and fails there */
	memcpy(pi, v->pi, 80);
	pi[31] ^= 0x80;
	assert_int_equal(kt_vrf_verify(beta, v->pk, pi, v->alpha, v->alpha_len),
			 KT_ERR_VRF_BAD_PROOF);
}

static void test_s_not_canonical(void **state)
{
	static const uint8_t l[32] = {
		0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7,
		0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		0, 0, 0, 0x10,
	};
	size_t i, j;
	uint8_t pi[80], beta[64];

	(void)state;
	for (i = 0; i < NVEC; i++) {
		const struct vec *v = &vecs[i];
		unsigned carry = 0;

		/* s + L: the same scalar mod L, so only the range check stops it */
		memcpy(pi, v->pi, 80);
		for (j = 0; j < 32; j++) {
			unsigned sum = (unsigned)pi[S_OFF + j] + l[j] + carry;

			pi[S_OFF + j] = (uint8_t)sum;
			carry = sum >> 8;
		}
		assert_int_equal(carry, 0);
		memset(beta, 0xaa, sizeof(beta));
		assert_int_equal(kt_vrf_verify(beta, v->pk, pi, v->alpha, v->alpha_len),
				 KT_ERR_VRF_BAD_SCALAR);
		assert_zero(beta, sizeof(beta));
		assert_int_equal(kt_vrf_proof_to_hash(beta, pi), KT_ERR_VRF_BAD_SCALAR);
	}
	/* s = L and s = 2^256 - 1 are rejected; s = L - 1 and s = 0 decode and
	 * fail at the challenge */
	memcpy(pi, vecs[0].pi, 80);
	memcpy(pi + S_OFF, l, 32);
	assert_int_equal(kt_vrf_verify(beta, vecs[0].pk, pi, NULL, 0), KT_ERR_VRF_BAD_SCALAR);
	memset(pi + S_OFF, 0xff, 32);
	assert_int_equal(kt_vrf_verify(beta, vecs[0].pk, pi, NULL, 0), KT_ERR_VRF_BAD_SCALAR);
	memcpy(pi + S_OFF, l, 32);
	pi[S_OFF] = (uint8_t)(pi[S_OFF] - 1);
	assert_int_equal(kt_vrf_verify(beta, vecs[0].pk, pi, NULL, 0), KT_ERR_VRF_BAD_PROOF);
	memset(pi + S_OFF, 0, 32);
	assert_int_equal(kt_vrf_verify(beta, vecs[0].pk, pi, NULL, 0), KT_ERR_VRF_BAD_PROOF);
	memset(pi + C_OFF, 0, 16); /* c = 0 and s = 0 */
	assert_int_equal(kt_vrf_verify(beta, vecs[0].pk, pi, NULL, 0), KT_ERR_VRF_BAD_PROOF);
}

/* ---- round trips ------------------------------------------------------ */

static void test_random_roundtrip(void **state)
{
	int iter;

	(void)state;
	for (iter = 0; iter < 24; iter++) {
		uint8_t seed[32], pk[32], sk[64], pi[80], pi2[80], beta[64], beta2[64];
		uint8_t alpha[256];
		size_t alen = (size_t)randombytes_uniform(sizeof(alpha));

		randombytes_buf(seed, sizeof(seed));
		randombytes_buf(alpha, sizeof(alpha));
		assert_int_equal(kt_vrf_keypair_from_seed(pk, sk, seed), KT_OK);
		assert_int_equal(kt_vrf_prove(pi, sk, alpha, alen), KT_OK);
		assert_int_equal(kt_vrf_prove(pi2, sk, alpha, alen), KT_OK);
		assert_memory_equal(pi, pi2, 80); /* deterministic */
		assert_int_equal(kt_vrf_verify(beta, pk, pi, alpha, alen), KT_OK);
		assert_int_equal(kt_vrf_proof_to_hash(beta2, pi), KT_OK);
		assert_memory_equal(beta, beta2, 64);
		/* twins: another alpha gives another beta and does not verify */
		alpha[alen] ^= 0x5a;
		assert_int_equal(kt_vrf_prove(pi2, sk, alpha, alen + 1), KT_OK);
		assert_int_equal(kt_vrf_verify(beta2, pk, pi2, alpha, alen + 1), KT_OK);
		assert_memory_not_equal(beta, beta2, 64);
		assert_int_equal(kt_vrf_verify(beta2, pk, pi, alpha, alen + 1),
				 KT_ERR_VRF_BAD_PROOF);
		assert_int_equal(kt_vrf_verify(beta2, vecs[0].pk, pi, alpha, alen),
				 KT_ERR_VRF_BAD_PROOF);
	}
}

static void test_bad_arguments(void **state)
{
	const struct vec *v = &vecs[1];
	uint8_t pk[32], sk[64], pi[80], beta[64];

	(void)state;
	assert_int_equal(kt_vrf_keypair_from_seed(pk, sk, v->seed), KT_OK);
	/* sk whose public half is not the seed's key: refused, proof zeroed */
	sk[40] ^= 1;
	memset(pi, 0xaa, sizeof(pi));
	assert_int_equal(kt_vrf_prove(pi, sk, v->alpha, v->alpha_len), KT_ERR_INVALID_ARG);
	assert_zero(pi, sizeof(pi));
	sk[40] ^= 1;
	assert_int_equal(kt_vrf_prove(pi, sk, v->alpha, v->alpha_len), KT_OK);
	assert_int_equal(kt_vrf_prove(pi, sk, NULL, 1), KT_ERR_INVALID_ARG);
	assert_int_equal(kt_vrf_prove(pi, NULL, NULL, 0), KT_ERR_INVALID_ARG);
	memset(beta, 0xaa, sizeof(beta));
	assert_int_equal(kt_vrf_verify(beta, v->pk, v->pi, NULL, 1), KT_ERR_INVALID_ARG);
	assert_zero(beta, sizeof(beta));
	assert_int_equal(kt_vrf_verify(beta, NULL, v->pi, NULL, 0), KT_ERR_INVALID_ARG);
	assert_int_equal(kt_vrf_verify(beta, v->pk, NULL, NULL, 0), KT_ERR_INVALID_ARG);
	assert_int_equal(kt_vrf_verify(NULL, v->pk, v->pi, NULL, 0), KT_ERR_INVALID_ARG);
	assert_int_equal(kt_vrf_proof_to_hash(beta, NULL), KT_ERR_INVALID_ARG);
	assert_int_equal(kt_vrf_validate_public_key(NULL), KT_ERR_INVALID_ARG);
	/* empty alpha as NULL equals empty alpha as a pointer (vector 16) */
	assert_int_equal(kt_vrf_verify(beta, vecs[0].pk, vecs[0].pi, NULL, 0), KT_OK);
	assert_memory_equal(beta, vecs[0].beta, 64);
}

/* ---- points outside the prime-order subgroup (RFC 9381 accepts them) --- */

/* x = clamp(SHA-512(seed)[0..32)) mod L, as the prover derives it. */
static void secret_scalar(uint8_t x[32], const uint8_t seed[32])
{
	uint8_t az[64];

	crypto_hash_sha512(az, seed, 32);
	az[0] &= 248;
	az[31] &= 127;
	az[31] |= 64;
	memset(az + 32, 0, 32);
	crypto_core_ed25519_scalar_reduce(x, az);
}

static void small_multiple(uint8_t out[32], unsigned j, const uint8_t t[32])
{
	unhex32(out, small_order_canonical[0]);
	for (; j > 0; j--)
		assert_int_equal(crypto_core_ed25519_add(out, out, t), 0);
}

/*
 * Builds, as a dishonest prover holding x could, a proof whose Gamma (if
 * tgamma) or public key y (if !tgamma) carries the order-8 component T.
 * The verifier's U or V then picks up -(c mod 8)*T, so the prover guesses
 * j = c mod 8 (j != 0, so T really matters) and retries with another nonce.
 */
static void craft_mixed(uint8_t pi[80], const uint8_t x[32], const uint8_t y[32],
			const uint8_t *alpha, size_t alen, int tgamma)
{
	uint8_t t[32], h[32], gamma[32], k[32], kb[32], kh[32], u[32], v[32];
	uint8_t jt[32], c[32] = {0}, cx[32], s[32], wide[64];
	unsigned ctr, j;

	unhex32(t, small_order_canonical[6]);
	assert_int_equal(kt_vrf_int_encode_to_curve(h, y, alpha, alen), KT_OK);
	assert_int_equal(crypto_scalarmult_ed25519_noclamp(gamma, x, h), 0);
	if (tgamma)
		assert_int_equal(crypto_core_ed25519_add(gamma, gamma, t), 0);
	for (ctr = 0; ctr < 64; ctr++) {
		memset(wide, 0, sizeof(wide));
		wide[0] = (uint8_t)ctr;
		wide[1] = 0x4b;
		crypto_hash_sha512(wide, wide, 2);
		crypto_core_ed25519_scalar_reduce(k, wide);
		assert_int_equal(crypto_scalarmult_ed25519_base_noclamp(kb, k), 0);
		assert_int_equal(crypto_scalarmult_ed25519_noclamp(kh, k, h), 0);
		for (j = 1; j < 8; j++) {
			small_multiple(jt, j, t);
			memcpy(u, kb, 32);
			memcpy(v, kh, 32);
			if (tgamma)
				assert_int_equal(crypto_core_ed25519_sub(v, kh, jt), 0);
			else
				assert_int_equal(crypto_core_ed25519_sub(u, kb, jt), 0);
			kt_vrf_int_challenge(c, y, h, gamma, u, v);
			if ((c[0] & 7) != j)
				continue;
			crypto_core_ed25519_scalar_mul(cx, c, x);
			crypto_core_ed25519_scalar_add(s, k, cx);
			memcpy(pi, gamma, 32);
			memcpy(pi + C_OFF, c, 16);
			memcpy(pi + S_OFF, s, 32);
			return;
		}
	}
	fail_msg("no nonce matched c mod 8");
}

static void test_mixed_order_points(void **state)
{
	const struct vec *v = &vecs[1];
	uint8_t x[32], t[32], ymix[32], pi[80], beta[64], p8[32], g8[32];

	(void)state;
	secret_scalar(x, v->seed);
	unhex32(t, small_order_canonical[6]);

	/* Gamma' = Gamma + T: RFC 9381 verifies it, and 8*Gamma' = 8*Gamma, so
	 * beta is the honest one: the output stays unique. */
	craft_mixed(pi, x, v->pk, v->alpha, v->alpha_len, 1);
	assert_false(crypto_core_ed25519_is_valid_point(pi)); /* outside the subgroup */
	assert_int_equal(kt_vrf_verify(beta, v->pk, pi, v->alpha, v->alpha_len), KT_OK);
	assert_memory_equal(beta, v->beta, 64);
	/* twins: the honest Gamma with this (c, s), and a flipped c bit */
	memcpy(pi, v->pi, 32);
	assert_int_equal(kt_vrf_verify(beta, v->pk, pi, v->alpha, v->alpha_len),
			 KT_ERR_VRF_BAD_PROOF);
	craft_mixed(pi, x, v->pk, v->alpha, v->alpha_len, 1);
	pi[C_OFF] ^= 1;
	assert_int_equal(kt_vrf_verify(beta, v->pk, pi, v->alpha, v->alpha_len),
			 KT_ERR_VRF_BAD_PROOF);

	/* Y' = Y + T passes ECVRF_validate_key (8*Y' = 8*Y is not the
	 * identity) and a proof under it verifies. */
	assert_int_equal(crypto_core_ed25519_add(ymix, v->pk, t), 0);
	assert_int_equal(kt_vrf_validate_public_key(ymix), KT_OK);
	assert_int_equal(kt_vrf_int_decode_point(p8, ymix), KT_OK);
	assert_int_equal(kt_vrf_int_decode_point(g8, v->pk), KT_OK);
	assert_memory_equal(p8, g8, 32);
	craft_mixed(pi, x, ymix, v->alpha, v->alpha_len, 0);
	assert_int_equal(kt_vrf_verify(beta, ymix, pi, v->alpha, v->alpha_len), KT_OK);
	/* twins: the same proof under Y, or with a flipped s bit */
	assert_int_equal(kt_vrf_verify(beta, v->pk, pi, v->alpha, v->alpha_len),
			 KT_ERR_VRF_BAD_PROOF);
	pi[S_OFF] ^= 1;
	assert_int_equal(kt_vrf_verify(beta, ymix, pi, v->alpha, v->alpha_len),
			 KT_ERR_VRF_BAD_PROOF);
}

/* The try-and-increment trap: decoding must accept candidates outside the
 * prime-order subgroup (the first on-curve candidate of examples 17 and
 * 18 is one; test_rfc_vectors fails if they are skipped). */
static void test_encode_to_curve_candidates(void **state)
{
	size_t i;
	uint8_t h[32];

	(void)state;
	for (i = 0; i < NVEC; i++) {
		assert_int_equal(kt_vrf_int_encode_to_curve(h, vecs[i].pk, vecs[i].alpha,
							      vecs[i].alpha_len), KT_OK);
		assert_true(crypto_core_ed25519_is_valid_point(h)); /* cofactor cleared */
	}
	/* twin: another salt gives another H */
	assert_int_equal(kt_vrf_int_encode_to_curve(h, vecs[0].pk, vecs[1].alpha,
						      vecs[1].alpha_len), KT_OK);
	assert_memory_not_equal(h, vecs[1].h, 32);
}

/* ---- the prepared key --------------------------------------------------- */

static void test_prepared_key(void **state)
{
	const struct vec *v = &vecs[2];
	kt_vrf_public_key key, copy;
	uint8_t pk[32], beta[64];
	size_t i;

	(void)state;
	assert_int_equal(kt_vrf_public_key_prepare(&key, v->pk), KT_OK);
	assert_int_equal(key.ready, KT_VRF_KEY_READY);
	assert_memory_equal(key.pk, v->pk, 32);
	/* a plain value: a copy verifies as well */
	memcpy(&copy, &key, sizeof(key));
	assert_int_equal(kt_vrf_verify_prepared(beta, &copy, v->pi, v->alpha,
						v->alpha_len), KT_OK);
	assert_memory_equal(beta, v->beta, 64);
	/* twins: another key's proof; the pk bytes or a table byte of the
	 * prepared key altered; a key that is not ready */
	memset(beta, 0xaa, sizeof(beta));
	assert_int_equal(kt_vrf_verify_prepared(beta, &key, vecs[1].pi, v->alpha,
						v->alpha_len), KT_ERR_VRF_BAD_PROOF);
	assert_zero(beta, sizeof(beta));
	copy.pk[0] ^= 1;
	assert_int_not_equal(kt_vrf_verify_prepared(beta, &copy, v->pi, v->alpha,
						    v->alpha_len), KT_OK);
	memcpy(&copy, &key, sizeof(key));
	copy.tables[sizeof(copy.tables) - 40] ^= 1; /* inside Y's table */
	assert_int_not_equal(kt_vrf_verify_prepared(beta, &copy, v->pi, v->alpha,
						    v->alpha_len), KT_OK);
	memcpy(&copy, &key, sizeof(key));
	copy.ready = 0;
	memset(beta, 0xaa, sizeof(beta));
	assert_int_equal(kt_vrf_verify_prepared(beta, &copy, v->pi, v->alpha,
						v->alpha_len), KT_ERR_INVALID_ARG);
	assert_zero(beta, sizeof(beta));
	assert_int_equal(kt_vrf_verify_prepared(beta, NULL, v->pi, NULL, 0),
			 KT_ERR_INVALID_ARG);
	assert_int_equal(kt_vrf_verify_prepared(beta, &key, NULL, NULL, 0),
			 KT_ERR_INVALID_ARG);
	assert_int_equal(kt_vrf_verify_prepared(beta, &key, v->pi, NULL, 1),
			 KT_ERR_INVALID_ARG);
	assert_int_equal(kt_vrf_verify_prepared(NULL, &key, v->pi, NULL, 0),
			 KT_ERR_INVALID_ARG);
	/* keys that fail ECVRF_validate_key are refused, the struct zeroed */
	for (i = 0; i < 8 + 5; i++) {
		unhex32(pk, i < 8 ? small_order_canonical[i] : small_order_noncanonical[i - 8]);
		memset(&copy, 0xaa, sizeof(copy));
		assert_int_equal(kt_vrf_public_key_prepare(&copy, pk), KT_ERR_VRF_BAD_POINT);
		assert_int_equal(copy.ready, 0);
		assert_zero(copy.tables, sizeof(copy.tables));
	}
	memset(pk, 0, sizeof(pk));
	pk[0] = 2; /* off the curve */
	assert_int_equal(kt_vrf_public_key_prepare(&copy, pk), KT_ERR_VRF_BAD_POINT);
	assert_int_equal(kt_vrf_public_key_prepare(&copy, NULL), KT_ERR_INVALID_ARG);
	assert_int_equal(kt_vrf_public_key_prepare(NULL, pk), KT_ERR_INVALID_ARG);
}

/* ---- the arithmetic of kt_vrf_curve.c against libsodium ----------------- */

static void random_scalar(uint8_t n[32])
{
	crypto_core_ed25519_scalar_random(n);
}

/* n*P for a prime-order P and any 32-byte n (taken mod L), the identity
 * for n = 0 mod L (libsodium refuses it). */
static void ref_mul_subgroup(uint8_t out[32], const uint8_t n[32], const uint8_t p[32])
{
	uint8_t wide[64] = {0}, r[32];

	memcpy(wide, n, 32);
	crypto_core_ed25519_scalar_reduce(r, wide);
	if (sodium_is_zero(r, 32)) {
		unhex32(out, small_order_canonical[0]);
		return;
	}
	assert_int_equal(crypto_scalarmult_ed25519_noclamp(out, r, p), 0);
}

static void enc(uint8_t out[32], const kt_vrf_ge *p)
{
	kt_vrf_ge_encode(out, p);
}

static void dec(kt_vrf_ge *p, const uint8_t s[32])
{
	assert_int_equal(kt_vrf_ge_decode(p, s), KT_OK);
}

/* Scalars at the edges of the wNAF recoding and the s split. */
static void edge_scalar(uint8_t n[32], unsigned which)
{
	static const uint8_t l[32] = {
		0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7,
		0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		0, 0, 0, 0x10,
	};

	memset(n, 0, 32);
	switch (which % 10) {
	case 0: break;                                   /* 0 */
	case 1: n[0] = 1; break;                         /* 1 */
	case 2: memset(n, 0xff, 16); break;              /* 2^128 - 1 */
	case 3: n[16] = 1; break;                        /* 2^128 */
	case 4: memcpy(n, l, 32); n[0]--; break;         /* L - 1 */
	case 5: memset(n, 0xff, 32); n[31] = 0x1f; break;/* 2^253 - 1 */
	case 6: memset(n, 0x1f, 32); n[31] = 0x0f; break;
	case 7: memset(n, 0x3f, 32); n[31] = 0x0f; break;
	case 8: memset(n, 0xe1, 32); n[31] = 0x11; break;/* negative digits, carries */
	default: memset(n, 0xff, 32); break;             /* 2^256 - 1 */
	}
}

static void test_curve_against_libsodium(void **state)
{
	uint8_t a[32], b[32], pa[32], pb[32], t[32], pm[32], x[32], y[32];
	uint8_t ra[32], rb[32];
	kt_vrf_ge p, q, r, m;
	unsigned iter, j;

	(void)state;
	assert_int_equal(kt_vrf_int_field_selftest(), KT_OK);
	assert_int_equal(kt_vrf_ge_base(&p), KT_OK);
	enc(x, &p);
	assert_int_equal(crypto_scalarmult_ed25519_base_noclamp(y, (const uint8_t[32]){1}), 0);
	assert_memory_equal(x, y, 32);
	for (iter = 0; iter < 60; iter++) {
		random_scalar(a);
		random_scalar(b);
		assert_int_equal(crypto_scalarmult_ed25519_base_noclamp(pa, a), 0);
		assert_int_equal(crypto_scalarmult_ed25519_base_noclamp(pb, b), 0);
		unhex32(t, small_order_canonical[2 + iter % 6]);
		assert_int_equal(crypto_core_ed25519_add(pm, pa, t), 0);
		/* decode then encode is the identity on canonical encodings */
		dec(&p, pa);
		enc(x, &p);
		assert_memory_equal(x, pa, 32);
		dec(&m, pm);
		enc(x, &m);
		assert_memory_equal(x, pm, 32);
		/* addition, also of a point with a torsion component */
		dec(&q, pb);
		kt_vrf_ge_add(&r, &p, &q);
		enc(x, &r);
		assert_int_equal(crypto_core_ed25519_add(y, pa, pb), 0);
		assert_memory_equal(x, y, 32);
		kt_vrf_ge_add(&r, &m, &q);
		enc(x, &r);
		assert_int_equal(crypto_core_ed25519_add(y, pm, pb), 0);
		assert_memory_equal(x, y, 32);
		/* 8*(P + T) = 8*P */
		kt_vrf_ge_mul8(&r, &m);
		enc(x, &r);
		assert_int_equal(crypto_core_ed25519_add(y, pa, pa), 0);
		assert_int_equal(crypto_core_ed25519_add(y, y, y), 0);
		assert_int_equal(crypto_core_ed25519_add(y, y, y), 0);
		assert_memory_equal(x, y, 32);
		/* a*P - b*Q and a*P + b*Q, b of 16 bytes (the challenge) */
		if (iter < 20) {
			edge_scalar(a, iter);
			if (iter % 3 == 0)
				edge_scalar(b, iter / 3);
		}
		memset(b + 16, 0, 16);
		ref_mul_subgroup(ra, a, pa);
		ref_mul_subgroup(rb, b, pb);
		for (j = 0; j < 2; j++) {
			kt_vrf_ge_double_mul(&r, a, &p, b, 16, &q, (int)j);
			enc(x, &r);
			if (j == 1)
				assert_int_equal(crypto_core_ed25519_sub(y, ra, rb), 0);
			else
				assert_int_equal(crypto_core_ed25519_add(y, ra, rb), 0);
			assert_memory_equal(x, y, 32);
		}
	}
	/* twin: a flipped bit of a changes a*P */
	a[3] ^= 4;
	kt_vrf_ge_double_mul(&r, a, &p, b, 16, &q, 1);
	enc(x, &r);
	assert_memory_not_equal(x, y, 32);
}

/* s*B - c*Y with the tables kt_vrf_public_key_prepare builds. */
static void test_base_sub_mul(void **state)
{
	kt_vrf_niels tb[KT_VRF_TABLE], tb128[KT_VRF_TABLE], ty[KT_VRF_TABLE];
	uint8_t s[32], c[32], sb[32], cy[32], x[32], y[32], ysk[32], bp[32], ref[32];
	kt_vrf_ge b, yp, u;
	unsigned iter;

	(void)state;
	random_scalar(ysk);
	assert_int_equal(crypto_scalarmult_ed25519_base_noclamp(y, ysk), 0);
	dec(&yp, y);
	assert_int_equal(crypto_scalarmult_ed25519_base_noclamp(bp, (const uint8_t[32]){1}), 0);
	assert_int_equal(kt_vrf_ge_base(&b), KT_OK);
	kt_vrf_ge_niels_table(tb, &b);
	kt_vrf_ge_dbl_n(&b, &b, 128);
	kt_vrf_ge_niels_table(tb128, &b);
	kt_vrf_ge_niels_table(ty, &yp);
	for (iter = 0; iter < 40; iter++) {
		random_scalar(s);
		random_scalar(c);
		if (iter < 10)
			edge_scalar(s, iter);
		if (iter % 4 == 1)
			edge_scalar(c, iter);
		memset(c + 16, 0, 16);
		kt_vrf_ge_base_sub_mul(&u, s, c, tb, tb128, ty);
		enc(x, &u);
		/* reference: s*B - c*Y with libsodium */
		ref_mul_subgroup(cy, c, y);
		ref_mul_subgroup(sb, s, bp);
		assert_int_equal(crypto_core_ed25519_sub(ref, sb, cy), 0);
		assert_memory_equal(x, ref, 32);
	}
	/* twin: a table of another point */
	kt_vrf_ge_niels_table(ty, &b);
	kt_vrf_ge_base_sub_mul(&u, s, c, tb, tb128, ty);
	enc(x, &u);
	assert_memory_not_equal(x, ref, 32);
}

/* ---- the verifier against the libsodium-only verifier it replaced ------- */

/* The previous implementation of kt_vrf.c's verifier, on libsodium's
 * edwards25519 API only (decoding by crypto_core_ed25519_add, torsion
 * split off before crypto_scalarmult_ed25519_noclamp).  Kept here as the
 * reference that kt_vrf_curve.c must agree with, result for result. */
static const uint8_t ref_identity[32] = {1};

static int ref_y_canonical(const uint8_t s[32])
{
	size_t i;

	if ((s[31] & 0x7f) != 0x7f)
		return 1;
	for (i = 30; i > 0; i--)
		if (s[i] != 0xff)
			return 1;
	return s[0] < 0xed;
}

static int ref_x_zero_with_sign(const uint8_t s[32])
{
	uint8_t y[32], minus_one[32];

	if ((s[31] & 0x80) == 0)
		return 0;
	memcpy(y, s, 32);
	y[31] &= 0x7f;
	unhex32(minus_one, small_order_canonical[1]);
	return memcmp(y, ref_identity, 32) == 0 || memcmp(y, minus_one, 32) == 0;
}

static int ref_decode(uint8_t p8[32], const uint8_t s[32])
{
	uint8_t t[32];

	if (!ref_y_canonical(s) || ref_x_zero_with_sign(s))
		return KT_ERR_VRF_BAD_POINT;
	if (crypto_core_ed25519_add(t, s, s) != 0 ||
	    crypto_core_ed25519_add(t, t, t) != 0 ||
	    crypto_core_ed25519_add(p8, t, t) != 0)
		return KT_ERR_VRF_BAD_POINT;
	return KT_OK;
}

static int ref_decode_large(uint8_t p8[32], const uint8_t s[32])
{
	int r = ref_decode(p8, s);

	return r == KT_OK && memcmp(p8, ref_identity, 32) == 0 ? KT_ERR_VRF_BAD_POINT : r;
}

/* n*P for n < 2^256 given mod-8 behaviour exactly: P = P0 + T with
 * P0 = (8^-1 mod L)*(8P); n*P = n*P0 + (n mod 8)*T. */
static void ref_point_mul(uint8_t out[32], const uint8_t n[32], const uint8_t p[32],
			  const uint8_t p8[32])
{
	static const uint8_t eight[32] = {8};
	uint8_t inv8[32], p0[32], t[32], np0[32], jt[32];
	unsigned j;

	assert_int_equal(crypto_core_ed25519_scalar_invert(inv8, eight), 0);
	ref_mul_subgroup(p0, inv8, p8);
	assert_int_equal(crypto_core_ed25519_sub(t, p, p0), 0);
	ref_mul_subgroup(np0, n, p0);
	memcpy(jt, ref_identity, 32);
	for (j = n[0] & 7; j > 0; j--)
		assert_int_equal(crypto_core_ed25519_add(jt, jt, t), 0);
	assert_int_equal(crypto_core_ed25519_add(out, np0, jt), 0);
}

static int ref_verify(uint8_t beta[64], const uint8_t pk[32], const uint8_t pi[80],
		      const uint8_t *alpha, size_t alen)
{
	uint8_t y8[32], g8[32], h[32], u[32], v[32], c[32] = {0}, c2[16];
	uint8_t sb[32], cy[32], sh[32], cg[32], bp[32];
	const uint8_t *s = pi + S_OFF;
	static const uint8_t l[32] = {
		0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7,
		0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		0, 0, 0, 0x10,
	};
	size_t i = 32;
	int r, lt = 0;

	memset(beta, 0, 64);
	if ((r = ref_decode_large(y8, pk)) != KT_OK)
		return r;
	if ((r = ref_decode_large(g8, pi)) != KT_OK)
		return r;
	while (i-- > 0) {
		if (s[i] != l[i]) {
			lt = s[i] < l[i];
			break;
		}
	}
	if (!lt)
		return KT_ERR_VRF_BAD_SCALAR;
	/* encode_to_curve with the reference decoding */
	{
		uint8_t buf[2 + 32 + 512 + 2], d[64];
		unsigned ctr;

		assert_true(alen <= 512);
		buf[0] = 0x03;
		buf[1] = 0x01;
		memcpy(buf + 2, pk, 32);
		if (alen)
			memcpy(buf + 34, alpha, alen);
		for (ctr = 0; ctr < 256; ctr++) {
			buf[34 + alen] = (uint8_t)ctr;
			buf[35 + alen] = 0;
			crypto_hash_sha512(d, buf, 36 + alen);
			if (ref_decode(h, d) == KT_OK && memcmp(h, ref_identity, 32) != 0)
				break;
		}
		if (ctr == 256)
			return KT_ERR_VRF_HASH_TO_CURVE;
	}
	memcpy(c, pi + C_OFF, 16);
	assert_int_equal(crypto_scalarmult_ed25519_base_noclamp(bp, (const uint8_t[32]){1}), 0);
	ref_mul_subgroup(sb, s, bp);
	ref_point_mul(cy, c, pk, y8);
	assert_int_equal(crypto_core_ed25519_sub(u, sb, cy), 0);
	ref_mul_subgroup(sh, s, h);
	ref_point_mul(cg, c, pi, g8);
	assert_int_equal(crypto_core_ed25519_sub(v, sh, cg), 0);
	kt_vrf_int_challenge(c2, pk, h, pi, u, v);
	if (memcmp(c2, pi + C_OFF, 16) != 0)
		return KT_ERR_VRF_BAD_PROOF;
	{
		uint8_t buf[35];

		buf[0] = 0x03;
		buf[1] = 0x03;
		memcpy(buf + 2, g8, 32);
		buf[34] = 0;
		crypto_hash_sha512(beta, buf, sizeof(buf));
	}
	return KT_OK;
}

/* kt_vrf_verify, kt_vrf_verify_prepared and the reference agree on (pk,
 * pi, alpha): the same code and the same beta. */
static int agree(const uint8_t pk[32], const uint8_t pi[80], const uint8_t *alpha,
		 size_t alen)
{
	uint8_t b1[64], b2[64], b3[64];
	kt_vrf_public_key key;
	int r1, r2, r3;

	r1 = ref_verify(b1, pk, pi, alpha, alen);
	r2 = kt_vrf_verify(b2, pk, pi, alpha, alen);
	assert_int_equal(r2, r1);
	assert_memory_equal(b2, b1, 64);
	r3 = kt_vrf_public_key_prepare(&key, pk);
	if (r3 == KT_OK)
		r3 = kt_vrf_verify_prepared(b3, &key, pi, alpha, alen);
	else
		memset(b3, 0, sizeof(b3));
	assert_int_equal(r3, r1);
	assert_memory_equal(b3, b1, 64);
	return r1;
}

static void test_verify_matches_reference(void **state)
{
	uint8_t seed[32], pk[32], sk[64], pi[80], bad[80], x[32], t[32], ymix[32];
	uint8_t alpha[64];
	size_t alen, i;
	unsigned iter, ok = 0, bit;

	(void)state;
	for (i = 0; i < NVEC; i++)
		assert_int_equal(agree(vecs[i].pk, vecs[i].pi, vecs[i].alpha,
				       vecs[i].alpha_len), KT_OK);
	for (iter = 0; iter < 12; iter++) {
		randombytes_buf(seed, sizeof(seed));
		alen = (size_t)randombytes_uniform(sizeof(alpha));
		randombytes_buf(alpha, sizeof(alpha));
		assert_int_equal(kt_vrf_keypair_from_seed(pk, sk, seed), KT_OK);
		assert_int_equal(kt_vrf_prove(pi, sk, alpha, alen), KT_OK);
		ok += agree(pk, pi, alpha, alen) == KT_OK;
		/* random single-bit flips of the proof and of the key */
		for (i = 0; i < 24; i++) {
			memcpy(bad, pi, 80);
			bit = randombytes_uniform(640);
			bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			assert_int_not_equal(agree(pk, bad, alpha, alen), KT_OK);
		}
		memcpy(x, pk, 32);
		x[randombytes_uniform(32)] ^= (uint8_t)(1u << randombytes_uniform(8));
		assert_int_not_equal(agree(x, pi, alpha, alen), KT_OK);
		/* Gamma replaced by another valid point: reaches the challenge */
		memcpy(bad, pi, 80);
		random_scalar(x);
		assert_int_equal(crypto_scalarmult_ed25519_base_noclamp(bad, x), 0);
		assert_int_equal(agree(pk, bad, alpha, alen), KT_ERR_VRF_BAD_PROOF);
		/* ... or by that point plus a torsion point */
		unhex32(t, small_order_canonical[2 + iter % 6]);
		assert_int_equal(crypto_core_ed25519_add(bad, bad, t), 0);
		assert_int_equal(agree(pk, bad, alpha, alen), KT_ERR_VRF_BAD_PROOF);
		/* a key with a torsion component */
		assert_int_equal(crypto_core_ed25519_add(ymix, pk, t), 0);
		assert_int_equal(agree(ymix, pi, alpha, alen), KT_ERR_VRF_BAD_PROOF);
		/* random proofs (mostly invalid Gamma or s) */
		randombytes_buf(bad, sizeof(bad));
		assert_int_not_equal(agree(pk, bad, alpha, alen), KT_OK);
	}
	assert_int_equal(ok, 12);
	/* proofs crafted with torsion in Gamma or in the key (test above) */
	{
		const struct vec *v = &vecs[1];
		uint8_t xs[32];

		secret_scalar(xs, v->seed);
		unhex32(t, small_order_canonical[6]);
		craft_mixed(pi, xs, v->pk, v->alpha, v->alpha_len, 1);
		assert_int_equal(agree(v->pk, pi, v->alpha, v->alpha_len), KT_OK);
		assert_int_equal(crypto_core_ed25519_add(ymix, v->pk, t), 0);
		craft_mixed(pi, xs, ymix, v->alpha, v->alpha_len, 0);
		assert_int_equal(agree(ymix, pi, v->alpha, v->alpha_len), KT_OK);
		pi[S_OFF + 5] ^= 0x20;
		assert_int_equal(agree(ymix, pi, v->alpha, v->alpha_len), KT_ERR_VRF_BAD_PROOF);
	}
	/* small-order and non-canonical Gammas and keys */
	for (i = 0; i < 8 + 5; i++) {
		unhex32(x, i < 8 ? small_order_canonical[i] : small_order_noncanonical[i - 8]);
		memcpy(bad, vecs[0].pi, 80);
		memcpy(bad, x, 32);
		assert_int_equal(agree(vecs[0].pk, bad, vecs[0].alpha, vecs[0].alpha_len),
				 KT_ERR_VRF_BAD_POINT);
		assert_int_equal(agree(x, vecs[0].pi, vecs[0].alpha, vecs[0].alpha_len),
				 KT_ERR_VRF_BAD_POINT);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc_vectors),
		cmocka_unit_test(test_every_bit_flip_fails),
		cmocka_unit_test(test_wrong_key_and_alpha),
		cmocka_unit_test(test_small_order_public_keys),
		cmocka_unit_test(test_bad_gamma),
		cmocka_unit_test(test_s_not_canonical),
		cmocka_unit_test(test_random_roundtrip),
		cmocka_unit_test(test_bad_arguments),
		cmocka_unit_test(test_mixed_order_points),
		cmocka_unit_test(test_encode_to_curve_candidates),
		cmocka_unit_test(test_prepared_key),
		cmocka_unit_test(test_curve_against_libsodium),
		cmocka_unit_test(test_base_sub_mul),
		cmocka_unit_test(test_verify_matches_reference),
	};

	return cmocka_run_group_tests(tests, load_vectors, free_vectors);
}
