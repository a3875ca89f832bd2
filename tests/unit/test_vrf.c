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
	};

	return cmocka_run_group_tests(tests, load_vectors, free_vectors);
}
