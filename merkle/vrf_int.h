/*
 * vrf_int.h — ECVRF internals shared with the VRF tests (not public API).
 *
 * THREAD SAFETY: pure functions, thread safe.
 */
#ifndef KT_VRF_INT_H
#define KT_VRF_INT_H

#include <stddef.h>
#include <stdint.h>

#include "kt_err.h"

#define KT_VRF_C_BYTES 16  /* cLen: the challenge is 128 bits */

/* ECVRF_encode_to_curve_try_and_increment with salt = pk (the canonical
 * public-key encoding, not decoded here): h = point_to_string(H).  Returns
 * KT_OK or KT_ERR_VRF_HASH_TO_CURVE when ctr 0..255 give no point whose
 * cofactor multiple is not the identity. */
KT_MUST_CHECK int kt_vrf_int_encode_to_curve(uint8_t h[32], const uint8_t pk[32],
					     const uint8_t *alpha, size_t alpha_len);

/* ECVRF_challenge_generation: c = SHA-512(0x03 || 0x02 || y || h || gamma ||
 * u || v || 0x00)[0..16).  All points are given as their 32-byte encodings. */
void kt_vrf_int_challenge(uint8_t c[KT_VRF_C_BYTES], const uint8_t y[32],
			  const uint8_t h[32], const uint8_t gamma[32],
			  const uint8_t u[32], const uint8_t v[32]);

/* RFC 8032 decoding as RFC 9381 uses it (y < p, x = 0 only with sign bit 0,
 * on the curve; any subgroup) and p8 = 8*P.  KT_OK or KT_ERR_VRF_BAD_POINT. */
KT_MUST_CHECK int kt_vrf_int_decode_point(uint8_t p8[32], const uint8_t s[32]);

/* ---- kt_vrf_curve.c: edwards25519 arithmetic on PUBLIC values ---------
 *
 * VARIABLE TIME: never pass a secret.  Used by the verifier (every input
 * public) and by encode_to_curve (public key and alpha).  Points may lie
 * outside the prime-order subgroup: the formulas are complete. */

/* A field element mod 2^255 - 19: five 51-bit limbs (each below 2^52). */
typedef struct kt_vrf_fe {
	uint64_t v[5];
} kt_vrf_fe;

/* A point in extended coordinates (X:Y:Z:T): x = X/Z, y = Y/Z, xy = T/Z. */
typedef struct kt_vrf_ge {
	kt_vrf_fe X, Y, Z, T;
} kt_vrf_ge;

/* An affine point ready to be added: (y + x, y - x, 2d*x*y). */
typedef struct kt_vrf_niels {
	kt_vrf_fe ypx, ymx, xy2d;
} kt_vrf_niels;

#define KT_VRF_TABLE_W 6      /* wNAF window of the prepared key's tables */
#define KT_VRF_TABLE 16       /* 2^(w-2) odd multiples: P, 3P, ..., 31P */
#define KT_VRF_NIELS_BYTES 96 /* three canonical field encodings */
#define KT_VRF_MAX_BATCH 16   /* most elements of one batch inversion */

/* RFC 8032 §5.1.3 decoding (as RFC 9381 string_to_point): y < p, x = 0
 * only with sign bit 0, on the curve; any subgroup.  KT_OK or
 * KT_ERR_VRF_BAD_POINT (*p unspecified). */
KT_MUST_CHECK int kt_vrf_ge_decode(kt_vrf_ge *p, const uint8_t s[32]);

/* Canonical encodings of n points (one inversion per KT_VRF_MAX_BATCH). */
void kt_vrf_ge_encode_many(uint8_t (*s)[32], const kt_vrf_ge *const *p,
			   size_t n);
void kt_vrf_ge_encode(uint8_t s[32], const kt_vrf_ge *p);

/* 1 if p is the identity (0, 1). */
int kt_vrf_ge_is_identity(const kt_vrf_ge *p);

/* The base point B of RFC 8032.  KT_OK (KT_ERR_INTERNAL, *b the identity,
 * only if the built-in constant were broken). */
KT_MUST_CHECK int kt_vrf_ge_base(kt_vrf_ge *b);

/* r = p + q; r = 2^n * p; r = 8 * p.  r may alias the inputs. */
void kt_vrf_ge_add(kt_vrf_ge *r, const kt_vrf_ge *p, const kt_vrf_ge *q);
void kt_vrf_ge_dbl_n(kt_vrf_ge *r, const kt_vrf_ge *p, unsigned n);
void kt_vrf_ge_mul8(kt_vrf_ge *r, const kt_vrf_ge *p);

/* tab[i] = (2i + 1) * p, i < KT_VRF_TABLE, affine; and their byte form
 * (canonical y+x || y-x || 2dxy).  from_bytes does not reduce: use it only
 * on bytes written by to_bytes. */
void kt_vrf_ge_niels_table(kt_vrf_niels tab[KT_VRF_TABLE], const kt_vrf_ge *p);
void kt_vrf_niels_to_bytes(uint8_t out[KT_VRF_NIELS_BYTES],
			   const kt_vrf_niels *n);
void kt_vrf_niels_from_bytes(kt_vrf_niels *n,
			     const uint8_t in[KT_VRF_NIELS_BYTES]);

/* u = s*B - c*Y for the integers s (32 bytes, little-endian, < 2^256) and
 * c (16 bytes), given tb = table of B, tb128 = table of 2^128 * B and
 * ty = table of Y. */
void kt_vrf_ge_base_sub_mul(kt_vrf_ge *u, const uint8_t s[32],
			    const uint8_t c[16],
			    const kt_vrf_niels tb[KT_VRF_TABLE],
			    const kt_vrf_niels tb128[KT_VRF_TABLE],
			    const kt_vrf_niels ty[KT_VRF_TABLE]);

/* r = a*p + b*q (sub = 0) or a*p - b*q (sub = 1) for the integers a (32
 * bytes) and b (b_len <= 32 bytes), little-endian. */
void kt_vrf_ge_double_mul(kt_vrf_ge *r, const uint8_t a[32], const kt_vrf_ge *p,
			  const uint8_t *b, size_t b_len, const kt_vrf_ge *q,
			  int sub);

/* Checks the field constants (d, 2d, sqrt(-1), the base point) from
 * their definitions: KT_OK or KT_ERR_INTERNAL.  For the tests. */
KT_MUST_CHECK int kt_vrf_int_field_selftest(void);

#endif /* KT_VRF_INT_H */
