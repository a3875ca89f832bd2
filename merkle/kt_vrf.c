/*
 * kt_vrf.c — ECVRF-EDWARDS25519-SHA512-TAI (RFC 9381, suite 0x03).
 *
 * libsodium 1.0.18 has no VRF.  The prover uses libsodium's constant-time
 * edwards25519 multiplications for everything that touches the secret key
 * (x*H, k*B, k*H).  Everything else works on public values with the
 * variable-time arithmetic of kt_vrf_curve.c:
 *   - decoding (RFC 8032 string_to_point): any curve point, also outside
 *     the prime-order subgroup, as RFC 9381 requires (libsodium's
 *     crypto_core_ed25519_is_valid_point refuses those);
 *   - encode_to_curve (try-and-increment on public pk and alpha) and the
 *     cofactor clearing 8*P;
 *   - the verifier's U = s*B - c*Y and V = s*H - c*Gamma, exact for every
 *     curve point (libsodium's *_noclamp multiplications refuse points
 *     outside the subgroup and run a subgroup check per call).
 * A verifier with a fixed key prepares it once (kt_vrf_public_key_prepare:
 * decoded Y and tables of odd multiples of Y, B and 2^128*B); every point
 * of a proof is decoded exactly once.
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

/* Layout of kt_vrf_public_key.tables: three tables of KT_VRF_TABLE affine
 * odd multiples, KT_VRF_NIELS_BYTES each: B, 2^128*B, Y. */
#define TAB_B 0
#define TAB_B128 1
#define TAB_Y 2
#define TAB_BYTES (KT_VRF_TABLE * KT_VRF_NIELS_BYTES)

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
_Static_assert(KT_VRF_KEY_TABLES_BYTES == 3 * TAB_BYTES, "prepared key layout");

/* ---- scalars (public values only) --------------------------------------- */

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

/* ---- points ------------------------------------------------------------ */

/* string_to_point(s) and its cofactor multiple. */
static int decode_with_8(kt_vrf_ge *p, kt_vrf_ge *p8, const uint8_t s[PT])
{
	int r = kt_vrf_ge_decode(p, s);

	if (r == KT_OK)
		kt_vrf_ge_mul8(p8, p);
	return r;
}

int kt_vrf_int_decode_point(uint8_t p8[PT], const uint8_t s[PT])
{
	kt_vrf_ge p, q;
	int r = decode_with_8(&p, &q, s);

	if (r == KT_OK)
		kt_vrf_ge_encode(p8, &q);
	return r;
}

/* Decodes s and rejects it if 8*P is the identity (small order): this is
 * ECVRF_validate_key for public keys. */
static int decode_large_point(kt_vrf_ge *p, kt_vrf_ge *p8, const uint8_t s[PT])
{
	int r = decode_with_8(p, p8, s);

	if (r == KT_OK && kt_vrf_ge_is_identity(p8))
		r = KT_ERR_VRF_BAD_POINT;
	return r;
}

/* out = n*B, n < L (already reduced; n may be secret: libsodium's
 * constant-time multiplication).  n = 0 gives the identity. */
static int base_mul(uint8_t out[PT], const uint8_t n[SC])
{
	if (sodium_is_zero(n, SC)) {
		memcpy(out, identity_enc, PT);
		return KT_OK;
	}
	return crypto_scalarmult_ed25519_base_noclamp(out, n) == 0 ? KT_OK
								   : KT_ERR_INTERNAL;
}

/* out = n*H for a secret n < L and H in the prime-order subgroup (the
 * output of encode_to_curve), in constant time.  n = 0 gives the identity
 * (libsodium refuses an identity result). */
static int subgroup_mul(uint8_t out[PT], const uint8_t n[SC], const uint8_t h[PT])
{
	if (sodium_is_zero(n, SC)) {
		memcpy(out, identity_enc, PT);
		return KT_OK;
	}
	return crypto_scalarmult_ed25519_noclamp(out, n, h) == 0 ? KT_OK
								 : KT_ERR_INTERNAL;
}

/* ---- hashes ------------------------------------------------------------ */

/* ECVRF_encode_to_curve_try_and_increment, H as a point. */
static int encode_to_curve(kt_vrf_ge *h, const uint8_t pk[PT],
			   const uint8_t *alpha, size_t alpha_len)
{
	static const uint8_t front[2] = {KT_VRF_SUITE, DS_ENCODE_FRONT};
	crypto_hash_sha512_state base, st;
	uint8_t digest[crypto_hash_sha512_BYTES], tail[2];
	kt_vrf_ge p;
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
		if (decode_with_8(&p, h, digest) == KT_OK &&
		    !kt_vrf_ge_is_identity(h))
			return KT_OK;
	}
	return KT_ERR_VRF_HASH_TO_CURVE;
}

int kt_vrf_int_encode_to_curve(uint8_t h[PT], const uint8_t pk[PT],
			       const uint8_t *alpha, size_t alpha_len)
{
	kt_vrf_ge hp;
	int r = encode_to_curve(&hp, pk, alpha, alpha_len);

	if (r == KT_OK)
		kt_vrf_ge_encode(h, &hp);
	return r;
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
 * s < L.  Sets gamma and gamma8 = 8*Gamma. */
static int decode_proof(kt_vrf_ge *gamma, kt_vrf_ge *gamma8,
			const uint8_t proof[KT_VRF_PROOF_BYTES])
{
	int r = decode_large_point(gamma, gamma8, proof);

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
	kt_vrf_ge y, y8;

	if (pk == NULL)
		return KT_ERR_INVALID_ARG;
	return decode_large_point(&y, &y8, pk);
}

static void put_table(uint8_t *out, const kt_vrf_ge *p)
{
	kt_vrf_niels tab[KT_VRF_TABLE];
	size_t i;

	kt_vrf_ge_niels_table(tab, p);
	for (i = 0; i < KT_VRF_TABLE; i++)
		kt_vrf_niels_to_bytes(out + i * KT_VRF_NIELS_BYTES, &tab[i]);
}

static void get_table(kt_vrf_niels tab[KT_VRF_TABLE], const uint8_t *in)
{
	size_t i;

	for (i = 0; i < KT_VRF_TABLE; i++)
		kt_vrf_niels_from_bytes(&tab[i], in + i * KT_VRF_NIELS_BYTES);
}

int kt_vrf_public_key_prepare(kt_vrf_public_key *key,
			      const uint8_t pk[KT_VRF_PUBLICKEY_BYTES])
{
	kt_vrf_ge y, y8, b;
	uint8_t pkc[PT];
	int r;

	if (key == NULL)
		return KT_ERR_INVALID_ARG;
	if (pk != NULL)
		memcpy(pkc, pk, PT); /* pk may point into *key */
	memset(key, 0, sizeof(*key));
	if (pk == NULL)
		return KT_ERR_INVALID_ARG;
	/* Y = string_to_point(pk), ECVRF_validate_key(Y) */
	if ((r = decode_large_point(&y, &y8, pkc)) != KT_OK)
		return r;
	if (kt_vrf_ge_base(&b) != KT_OK)
		return KT_ERR_INTERNAL;
	put_table(key->tables + TAB_B * TAB_BYTES, &b);
	kt_vrf_ge_dbl_n(&b, &b, 128);
	put_table(key->tables + TAB_B128 * TAB_BYTES, &b);
	put_table(key->tables + TAB_Y * TAB_BYTES, &y);
	memcpy(key->pk, pkc, PT);
	key->ready = KT_VRF_KEY_READY;
	return KT_OK;
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
	if (base_mul(u, k) != KT_OK || subgroup_mul(v, k, h) != KT_OK)
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
	kt_vrf_ge gamma, gamma8;
	uint8_t g8[PT];
	int r;

	if (beta == NULL)
		return KT_ERR_INVALID_ARG;
	memset(beta, 0, KT_VRF_OUTPUT_BYTES);
	if (proof == NULL)
		return KT_ERR_INVALID_ARG;
	if ((r = decode_proof(&gamma, &gamma8, proof)) != KT_OK)
		return r;
	kt_vrf_ge_encode(g8, &gamma8);
	gamma8_to_hash(beta, g8);
	return KT_OK;
}

int kt_vrf_verify_prepared(uint8_t beta[KT_VRF_OUTPUT_BYTES],
			   const kt_vrf_public_key *key,
			   const uint8_t proof[KT_VRF_PROOF_BYTES],
			   const uint8_t *alpha, size_t alpha_len)
{
	kt_vrf_niels tb[KT_VRF_TABLE], tb128[KT_VRF_TABLE], ty[KT_VRF_TABLE];
	kt_vrf_ge gamma, gamma8, h, u, v;
	const kt_vrf_ge *pts[4];
	uint8_t enc[4][PT], c[KT_VRF_C_BYTES];
	const uint8_t *s;
	int r;

	if (beta == NULL)
		return KT_ERR_INVALID_ARG;
	memset(beta, 0, KT_VRF_OUTPUT_BYTES);
	if (key == NULL || key->ready != KT_VRF_KEY_READY || proof == NULL ||
	    (alpha == NULL && alpha_len != 0))
		return KT_ERR_INVALID_ARG;
	if ((r = decode_proof(&gamma, &gamma8, proof)) != KT_OK)
		return r;
	/* pk and Gamma are canonical, so they are their own point_to_string. */
	if ((r = encode_to_curve(&h, key->pk, alpha, alpha_len)) != KT_OK)
		return r;
	/* U = s*B - c*Y and V = s*H - c*Gamma (c, s as integers). */
	s = proof + PT + KT_VRF_C_BYTES;
	get_table(tb, key->tables + TAB_B * TAB_BYTES);
	get_table(tb128, key->tables + TAB_B128 * TAB_BYTES);
	get_table(ty, key->tables + TAB_Y * TAB_BYTES);
	kt_vrf_ge_base_sub_mul(&u, s, proof + PT, tb, tb128, ty);
	kt_vrf_ge_double_mul(&v, s, &h, proof + PT, KT_VRF_C_BYTES, &gamma, 1);
	pts[0] = &h;
	pts[1] = &u;
	pts[2] = &v;
	pts[3] = &gamma8;
	kt_vrf_ge_encode_many(enc, pts, 4);
	kt_vrf_int_challenge(c, key->pk, enc[0], proof, enc[1], enc[2]);
	if (memcmp(c, proof + PT, KT_VRF_C_BYTES) != 0) /* public values */
		return KT_ERR_VRF_BAD_PROOF;
	gamma8_to_hash(beta, enc[3]);
	return KT_OK;
}

int kt_vrf_verify(uint8_t beta[KT_VRF_OUTPUT_BYTES],
		  const uint8_t pk[KT_VRF_PUBLICKEY_BYTES],
		  const uint8_t proof[KT_VRF_PROOF_BYTES],
		  const uint8_t *alpha, size_t alpha_len)
{
	kt_vrf_public_key key;
	int r;

	if (beta == NULL)
		return KT_ERR_INVALID_ARG;
	memset(beta, 0, KT_VRF_OUTPUT_BYTES);
	if (pk == NULL || proof == NULL || (alpha == NULL && alpha_len != 0))
		return KT_ERR_INVALID_ARG;
	if ((r = kt_vrf_public_key_prepare(&key, pk)) != KT_OK)
		return r;
	return kt_vrf_verify_prepared(beta, &key, proof, alpha, alpha_len);
}
