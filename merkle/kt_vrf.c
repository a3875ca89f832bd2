/*
 * kt_vrf.c — ECVRF-EDWARDS25519-SHA512-TAI (RFC 9381, suite 0x03) on
 * libsodium's edwards25519 primitives.
 *
 * libsodium 1.0.18 has no VRF, and two of its primitives are stricter than
 * RFC 9381 needs:
 *   - crypto_core_ed25519_is_valid_point() and the *_noclamp scalar
 *     multiplications refuse points outside the prime-order subgroup.
 *     RFC 9381 decodes any curve point (string_to_point of RFC 8032) and
 *     clears the cofactor itself, so decoding here is "canonical and on the
 *     curve" (crypto_core_ed25519_add accepts every curve point) and the
 *     cofactor is cleared by three doublings.
 *   - *_noclamp multiplications fail when the result is the identity.
 * point_mul() below multiplies any non-small-order curve point, splitting
 * off the torsion part when libsodium refuses the point.
 *
 * Scalars are 32-byte little-endian; L is the prime group order.
 */
#include "kt_vrf.h"
#include "vrf_int.h"

#include <string.h>

#include <sodium.h>

#define PT 32                     /* ptLen */
#define SC 32                     /* qLen */
#define DS_ENCODE_FRONT 0x01      /* encode_to_curve_domain_separator_front */
#define DS_CHALLENGE_FRONT 0x02   /* challenge_generation_domain_separator_front */
#define DS_PROOF_TO_HASH 0x03     /* proof_to_hash_domain_separator_front */
#define DS_BACK 0x00              /* every *_domain_separator_back */

/* Encoding of the identity point (x = 0, y = 1). */
static const uint8_t identity_enc[PT] = {1};

/* L = 2^252 + 27742317777372353535851937790883648493, little-endian. */
static const uint8_t order_l[SC] = {
	0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58,
	0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
};

_Static_assert(KT_VRF_PROOF_BYTES == PT + KT_VRF_C_BYTES + SC, "proof layout");
_Static_assert(KT_VRF_OUTPUT_BYTES == crypto_hash_sha512_BYTES, "beta is SHA-512");
_Static_assert(KT_VRF_SECRETKEY_BYTES == KT_VRF_SEED_BYTES + KT_VRF_PUBLICKEY_BYTES,
	       "sk = seed || pk");

/* ---- field and scalar encodings (public values only) ------------------ */

/* 1 if the 255-bit little-endian y of s (sign bit ignored) is < p = 2^255-19. */
static int y_is_canonical(const uint8_t s[PT])
{
	size_t i;

	if ((s[31] & 0x7f) != 0x7f)
		return 1;
	for (i = 30; i > 0; i--)
		if (s[i] != 0xff)
			return 1;
	return s[0] < 0xed;
}

/* 1 if s has the sign bit set on a point with x = 0: y = 1 or y = p - 1.
 * RFC 8032 §5.1.3 step 4 makes that decoding fail. */
static int x_zero_with_sign(const uint8_t s[PT])
{
	uint8_t y[PT];
	size_t i;
	int one = 1, minus_one = 1;

	if ((s[31] & 0x80) == 0)
		return 0;
	memcpy(y, s, PT);
	y[31] &= 0x7f;
	for (i = 0; i < PT; i++) {
		uint8_t want_one = (uint8_t)(i == 0 ? 0x01 : 0x00);
		uint8_t want_m1 = (uint8_t)(i == 0 ? 0xec : (i == 31 ? 0x7f : 0xff));

		one &= y[i] == want_one;
		minus_one &= y[i] == want_m1;
	}
	return one | minus_one;
}

/* 1 if the 32-byte little-endian integer s is < L. */
static int scalar_is_canonical(const uint8_t s[SC])
{
	size_t i = SC;

	while (i-- > 0) {
		if (s[i] < order_l[i])
			return 1;
		if (s[i] > order_l[i])
			return 0;
	}
	return 0; /* s == L */
}

/* out = n mod L for a 32-byte n (out may alias n). */
static void scalar_reduce32(uint8_t out[SC], const uint8_t n[SC])
{
	uint8_t wide[64];

	memcpy(wide, n, SC);
	memset(wide + SC, 0, sizeof(wide) - SC);
	crypto_core_ed25519_scalar_reduce(out, wide);
	sodium_memzero(wide, sizeof(wide));
}

static int is_identity(const uint8_t p[PT])
{
	return memcmp(p, identity_enc, PT) == 0; /* public point */
}

/* ---- points ------------------------------------------------------------ */

int kt_vrf_int_decode_point(uint8_t p8[PT], const uint8_t s[PT])
{
	uint8_t t[PT];

	if (!y_is_canonical(s) || x_zero_with_sign(s))
		return KT_ERR_VRF_BAD_POINT;
	/* crypto_core_ed25519_add decodes any curve point and fails when y has
	 * no x (off the curve); it outputs canonical encodings. */
	if (crypto_core_ed25519_add(t, s, s) != 0 ||
	    crypto_core_ed25519_add(t, t, t) != 0 ||
	    crypto_core_ed25519_add(p8, t, t) != 0)
		return KT_ERR_VRF_BAD_POINT;
	return KT_OK;
}

/* Decodes s and rejects it if 8*P is the identity (small order).  This is
 * ECVRF_validate_key for public keys. */
static int decode_large_point(uint8_t p8[PT], const uint8_t s[PT])
{
	int r = kt_vrf_int_decode_point(p8, s);

	if (r == KT_OK && is_identity(p8))
		r = KT_ERR_VRF_BAD_POINT;
	return r;
}

/* out = n*B, n < L (already reduced).  n = 0 gives the identity. */
static int base_mul(uint8_t out[PT], const uint8_t n[SC])
{
	if (sodium_is_zero(n, SC)) {
		memcpy(out, identity_enc, PT);
		return KT_OK;
	}
	return crypto_scalarmult_ed25519_base_noclamp(out, n) == 0 ? KT_OK
								   : KT_ERR_INTERNAL;
}

/* out = j*t for 0 <= j < 8 by repeated addition (t is a torsion point). */
static int small_mul(uint8_t out[PT], unsigned j, const uint8_t t[PT])
{
	uint8_t acc[PT];

	memcpy(acc, identity_enc, PT);
	for (; j > 0; j--)
		if (crypto_core_ed25519_add(acc, acc, t) != 0)
			return KT_ERR_INTERNAL;
	memcpy(out, acc, PT);
	return KT_OK;
}

/*
 * out = n*P for a scalar n < L and a curve point P (canonical encoding p).
 * p8 = 8*P, not the identity, or NULL when P is known to be in the
 * prime-order subgroup (H).  libsodium multiplies subgroup points only; for
 * any other P, write P = P0 + T with P0 = (8^-1 mod L)*(8P) in the subgroup
 * and T = P - P0 of order dividing 8: n*P = n*P0 + (n mod 8)*T.
 */
static int point_mul(uint8_t out[PT], const uint8_t n[SC], const uint8_t p[PT],
		     const uint8_t p8[PT])
{
	static const uint8_t eight[SC] = {8};
	uint8_t inv8[SC], p0[PT], t[PT], np0[PT], jt[PT];
	int r = KT_ERR_INTERNAL;

	if (sodium_is_zero(n, SC)) {
		memcpy(out, identity_enc, PT);
		return KT_OK;
	}
	if (crypto_scalarmult_ed25519_noclamp(out, n, p) == 0)
		return KT_OK; /* P in the prime-order subgroup: the usual case */
	if (p8 == NULL)
		return KT_ERR_INTERNAL;
	if (crypto_core_ed25519_scalar_invert(inv8, eight) != 0 ||
	    crypto_scalarmult_ed25519_noclamp(p0, inv8, p8) != 0 ||
	    crypto_core_ed25519_sub(t, p, p0) != 0 ||
	    crypto_scalarmult_ed25519_noclamp(np0, n, p0) != 0 ||
	    small_mul(jt, (unsigned)(n[0] & 7), t) != KT_OK ||
	    crypto_core_ed25519_add(out, np0, jt) != 0)
		goto out;
	r = KT_OK;
out:
	sodium_memzero(np0, sizeof(np0));
	return r;
}

/* ---- hashes ------------------------------------------------------------ */

int kt_vrf_int_encode_to_curve(uint8_t h[PT], const uint8_t pk[PT],
			       const uint8_t *alpha, size_t alpha_len)
{
	static const uint8_t front[2] = {KT_VRF_SUITE, DS_ENCODE_FRONT};
	crypto_hash_sha512_state base, st;
	uint8_t digest[crypto_hash_sha512_BYTES], tail[2], p8[PT];
	unsigned ctr;

	crypto_hash_sha512_init(&base);
	crypto_hash_sha512_update(&base, front, sizeof(front));
	crypto_hash_sha512_update(&base, pk, PT);
	if (alpha_len != 0)
		crypto_hash_sha512_update(&base, alpha, alpha_len);
	for (ctr = 0; ctr <= 255; ctr++) {
		st = base;
		tail[0] = (uint8_t)ctr;
		tail[1] = DS_BACK;
		crypto_hash_sha512_update(&st, tail, sizeof(tail));
		crypto_hash_sha512_final(&st, digest);
		/* interpret_hash_value_as_a_point = string_to_point(digest[0..32));
		 * then H = cofactor * H, retried while invalid or the identity. */
		if (kt_vrf_int_decode_point(p8, digest) == KT_OK && !is_identity(p8)) {
			memcpy(h, p8, PT);
			return KT_OK;
		}
	}
	return KT_ERR_VRF_HASH_TO_CURVE;
}

void kt_vrf_int_challenge(uint8_t c[KT_VRF_C_BYTES], const uint8_t y[PT],
			  const uint8_t h[PT], const uint8_t gamma[PT],
			  const uint8_t u[PT], const uint8_t v[PT])
{
	static const uint8_t front[2] = {KT_VRF_SUITE, DS_CHALLENGE_FRONT};
	static const uint8_t back[1] = {DS_BACK};
	crypto_hash_sha512_state st;
	uint8_t digest[crypto_hash_sha512_BYTES];

	crypto_hash_sha512_init(&st);
	crypto_hash_sha512_update(&st, front, sizeof(front));
	crypto_hash_sha512_update(&st, y, PT);
	crypto_hash_sha512_update(&st, h, PT);
	crypto_hash_sha512_update(&st, gamma, PT);
	crypto_hash_sha512_update(&st, u, PT);
	crypto_hash_sha512_update(&st, v, PT);
	crypto_hash_sha512_update(&st, back, sizeof(back));
	crypto_hash_sha512_final(&st, digest);
	memcpy(c, digest, KT_VRF_C_BYTES);
}

/* beta = SHA-512(0x03 || 0x03 || point_to_string(8*Gamma) || 0x00). */
static void gamma8_to_hash(uint8_t beta[KT_VRF_OUTPUT_BYTES], const uint8_t gamma8[PT])
{
	static const uint8_t front[2] = {KT_VRF_SUITE, DS_PROOF_TO_HASH};
	static const uint8_t back[1] = {DS_BACK};
	crypto_hash_sha512_state st;

	crypto_hash_sha512_init(&st);
	crypto_hash_sha512_update(&st, front, sizeof(front));
	crypto_hash_sha512_update(&st, gamma8, PT);
	crypto_hash_sha512_update(&st, back, sizeof(back));
	crypto_hash_sha512_final(&st, beta);
}

/* ECVRF_decode_proof: Gamma canonical, on the curve and not of small order;
 * s < L.  Sets gamma8 = 8*Gamma. */
static int decode_proof(uint8_t gamma8[PT], const uint8_t proof[KT_VRF_PROOF_BYTES])
{
	int r = decode_large_point(gamma8, proof);

	if (r != KT_OK)
		return r;
	if (!scalar_is_canonical(proof + PT + KT_VRF_C_BYTES))
		return KT_ERR_VRF_BAD_SCALAR;
	return KT_OK;
}

/* ---- keys -------------------------------------------------------------- */

/* x = clamp(SHA-512(seed)[0..32)) mod L, prefix = SHA-512(seed)[32..64),
 * pk = x*B.  The same as Ed25519 key expansion. */
static int expand_seed(uint8_t x[SC], uint8_t prefix[32], uint8_t pk[PT],
		       const uint8_t seed[KT_VRF_SEED_BYTES])
{
	uint8_t az[crypto_hash_sha512_BYTES];
	int r;

	crypto_hash_sha512(az, seed, KT_VRF_SEED_BYTES);
	az[0] &= 248;
	az[31] &= 127;
	az[31] |= 64;
	scalar_reduce32(x, az);
	memcpy(prefix, az + 32, 32);
	r = base_mul(pk, x);
	sodium_memzero(az, sizeof(az));
	return r;
}

int kt_vrf_keypair_from_seed(uint8_t pk[KT_VRF_PUBLICKEY_BYTES],
			     uint8_t sk[KT_VRF_SECRETKEY_BYTES],
			     const uint8_t seed[KT_VRF_SEED_BYTES])
{
	uint8_t x[SC], prefix[32], y[PT];
	int r;

	if (pk == NULL || sk == NULL || seed == NULL)
		return KT_ERR_INVALID_ARG;
	r = expand_seed(x, prefix, y, seed);
	if (r != KT_OK) {
		memset(pk, 0, KT_VRF_PUBLICKEY_BYTES);
		sodium_memzero(sk, KT_VRF_SECRETKEY_BYTES);
		goto out;
	}
	memmove(sk, seed, KT_VRF_SEED_BYTES); /* seed may alias sk */
	memcpy(sk + KT_VRF_SEED_BYTES, y, PT);
	memcpy(pk, y, PT);
out:
	sodium_memzero(x, sizeof(x));
	sodium_memzero(prefix, sizeof(prefix));
	return r;
}

int kt_vrf_validate_public_key(const uint8_t pk[KT_VRF_PUBLICKEY_BYTES])
{
	uint8_t y8[PT];

	if (pk == NULL)
		return KT_ERR_INVALID_ARG;
	return decode_large_point(y8, pk);
}

void kt_vrf_index(uint8_t index[KT_VRF_INDEX_BYTES],
		  const uint8_t beta[KT_VRF_OUTPUT_BYTES])
{
	memcpy(index, beta, KT_VRF_INDEX_BYTES);
}

/* ---- prove ------------------------------------------------------------- */

/* k = SHA-512(prefix || h) mod L (RFC 8032 §5.1.6 style, RFC 9381 §5.4.2.2). */
static void nonce(uint8_t k[SC], const uint8_t prefix[32], const uint8_t h[PT])
{
	crypto_hash_sha512_state st;
	uint8_t kstr[crypto_hash_sha512_BYTES];

	crypto_hash_sha512_init(&st);
	crypto_hash_sha512_update(&st, prefix, 32);
	crypto_hash_sha512_update(&st, h, PT);
	crypto_hash_sha512_final(&st, kstr);
	crypto_core_ed25519_scalar_reduce(k, kstr);
	sodium_memzero(kstr, sizeof(kstr));
	sodium_memzero(&st, sizeof(st));
}

int kt_vrf_prove(uint8_t proof[KT_VRF_PROOF_BYTES],
		 const uint8_t sk[KT_VRF_SECRETKEY_BYTES],
		 const uint8_t *alpha, size_t alpha_len)
{
	uint8_t x[SC], prefix[32], k[SC], cx[SC], s[SC], c[SC] = {0};
	uint8_t y[PT], h[PT], gamma[PT], u[PT], v[PT];
	int r;

	if (proof == NULL)
		return KT_ERR_INVALID_ARG;
	memset(proof, 0, KT_VRF_PROOF_BYTES);
	r = KT_ERR_INVALID_ARG;
	if (sk == NULL || (alpha == NULL && alpha_len != 0))
		goto out;
	if ((r = expand_seed(x, prefix, y, sk)) != KT_OK)
		goto out;
	r = KT_ERR_INVALID_ARG;
	if (memcmp(y, sk + KT_VRF_SEED_BYTES, PT) != 0) /* public key: memcmp */
		goto out;
	if ((r = kt_vrf_int_encode_to_curve(h, y, alpha, alpha_len)) != KT_OK)
		goto out;
	/* Gamma = x*H, U = k*B, V = k*H; H is in the prime-order subgroup. */
	nonce(k, prefix, h);
	r = KT_ERR_INTERNAL;
	if (crypto_scalarmult_ed25519_noclamp(gamma, x, h) != 0)
		goto out;
	if (base_mul(u, k) != KT_OK || point_mul(v, k, h, NULL) != KT_OK)
		goto out;
	kt_vrf_int_challenge(c, y, h, gamma, u, v);
	/* s = (k + c*x) mod L */
	crypto_core_ed25519_scalar_mul(cx, c, x);
	crypto_core_ed25519_scalar_add(s, k, cx);
	memcpy(proof, gamma, PT);
	memcpy(proof + PT, c, KT_VRF_C_BYTES);
	memcpy(proof + PT + KT_VRF_C_BYTES, s, SC);
	r = KT_OK;
out:
	sodium_memzero(x, sizeof(x));
	sodium_memzero(prefix, sizeof(prefix));
	sodium_memzero(k, sizeof(k));
	sodium_memzero(cx, sizeof(cx));
	sodium_memzero(s, sizeof(s));
	sodium_memzero(u, sizeof(u));
	sodium_memzero(v, sizeof(v));
	return r;
}

/* ---- verify ------------------------------------------------------------ */

int kt_vrf_proof_to_hash(uint8_t beta[KT_VRF_OUTPUT_BYTES],
			 const uint8_t proof[KT_VRF_PROOF_BYTES])
{
	uint8_t gamma8[PT];
	int r;

	if (beta == NULL)
		return KT_ERR_INVALID_ARG;
	memset(beta, 0, KT_VRF_OUTPUT_BYTES);
	if (proof == NULL)
		return KT_ERR_INVALID_ARG;
	if ((r = decode_proof(gamma8, proof)) != KT_OK)
		return r;
	gamma8_to_hash(beta, gamma8);
	return KT_OK;
}

/* U = s*B - c*Y and V = s*H - c*Gamma. */
static int verifier_points(uint8_t u[PT], uint8_t v[PT],
			   const uint8_t pk[PT], const uint8_t y8[PT],
			   const uint8_t h[PT], const uint8_t proof[KT_VRF_PROOF_BYTES],
			   const uint8_t gamma8[PT])
{
	uint8_t c[SC] = {0}, sb[PT], cy[PT], sh[PT], cg[PT];
	const uint8_t *s = proof + PT + KT_VRF_C_BYTES;

	memcpy(c, proof + PT, KT_VRF_C_BYTES);
	if (base_mul(sb, s) != KT_OK || point_mul(cy, c, pk, y8) != KT_OK ||
	    crypto_core_ed25519_sub(u, sb, cy) != 0)
		return KT_ERR_INTERNAL;
	if (point_mul(sh, s, h, NULL) != KT_OK ||
	    point_mul(cg, c, proof, gamma8) != KT_OK ||
	    crypto_core_ed25519_sub(v, sh, cg) != 0)
		return KT_ERR_INTERNAL;
	return KT_OK;
}

int kt_vrf_verify(uint8_t beta[KT_VRF_OUTPUT_BYTES],
		  const uint8_t pk[KT_VRF_PUBLICKEY_BYTES],
		  const uint8_t proof[KT_VRF_PROOF_BYTES],
		  const uint8_t *alpha, size_t alpha_len)
{
	uint8_t y8[PT], gamma8[PT], h[PT], u[PT], v[PT], c[KT_VRF_C_BYTES];
	int r;

	if (beta == NULL)
		return KT_ERR_INVALID_ARG;
	memset(beta, 0, KT_VRF_OUTPUT_BYTES);
	if (pk == NULL || proof == NULL || (alpha == NULL && alpha_len != 0))
		return KT_ERR_INVALID_ARG;
	/* Y = string_to_point(pk), ECVRF_validate_key(Y) */
	if ((r = decode_large_point(y8, pk)) != KT_OK)
		return r;
	if ((r = decode_proof(gamma8, proof)) != KT_OK)
		return r;
	/* pk and Gamma are canonical, so they are their own point_to_string. */
	if ((r = kt_vrf_int_encode_to_curve(h, pk, alpha, alpha_len)) != KT_OK)
		return r;
	if ((r = verifier_points(u, v, pk, y8, h, proof, gamma8)) != KT_OK)
		return r;
	kt_vrf_int_challenge(c, pk, h, proof, u, v);
	if (memcmp(c, proof + PT, KT_VRF_C_BYTES) != 0) /* public values */
		return KT_ERR_VRF_BAD_PROOF;
	gamma8_to_hash(beta, gamma8);
	return KT_OK;
}
