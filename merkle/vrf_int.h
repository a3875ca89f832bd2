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

#endif /* KT_VRF_INT_H */
