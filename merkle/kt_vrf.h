/*
 * kt_vrf.h — ECVRF-EDWARDS25519-SHA512-TAI (RFC 9381, suite 0x03).
 *
 * The directory maps an account identifier (alpha) to its map index with this
 * VRF: only the holder of the VRF secret key can compute the index, anyone
 * with the public key can check it, and the output is unique for a public
 * key and alpha.  The byte-level definition is docs/PROTOCOL.md §4.
 *
 * Keys are Ed25519-shaped: a 32-byte seed is hashed with SHA-512 and the
 * first half clamped to give the secret scalar x; the public key is x*B.
 * The secret key is stored as seed || pk (64 bytes), as libsodium does.
 *
 * THREAD SAFETY: every function is pure (no global state) and thread safe.
 * No function allocates.  libsodium need not be initialised for these calls.
 */
#ifndef KT_VRF_H
#define KT_VRF_H

#include <stddef.h>
#include <stdint.h>

#include "kt_err.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KT_VRF_SUITE 0x03           /* RFC 9381 suite_string */
#define KT_VRF_SEED_BYTES 32
#define KT_VRF_PUBLICKEY_BYTES 32
#define KT_VRF_SECRETKEY_BYTES 64   /* seed || pk */
#define KT_VRF_PROOF_BYTES 80       /* Gamma(32) || c(16) || s(32) */
#define KT_VRF_OUTPUT_BYTES 64      /* beta */
#define KT_VRF_INDEX_BYTES 32       /* map index = beta[0..32) */

/* Derives the key pair of seed (the seed is the secret; keep it so).
 * pk = x*B, sk = seed || pk.  Returns KT_OK, or KT_ERR_INVALID_ARG for NULL
 * arguments, KT_ERR_INTERNAL if libsodium refuses (cannot happen); on failure
 * pk and sk are zeroed.  Intermediate secrets are wiped. */
KT_MUST_CHECK int kt_vrf_keypair_from_seed(uint8_t pk[KT_VRF_PUBLICKEY_BYTES],
					   uint8_t sk[KT_VRF_SECRETKEY_BYTES],
					   const uint8_t seed[KT_VRF_SEED_BYTES]);

/* ECVRF_prove: writes the 80-byte proof for alpha (alpha_len bytes, any
 * length; alpha may be NULL when alpha_len is 0).  Deterministic: the same sk
 * and alpha always give the same proof.  The public half of sk must be the
 * key derived from its seed, else KT_ERR_INVALID_ARG (a corrupt key is never
 * used).  Returns KT_OK, KT_ERR_INVALID_ARG, KT_ERR_VRF_HASH_TO_CURVE (no
 * point after 256 tries: probability about 2^-256) or KT_ERR_INTERNAL; on
 * failure proof is zeroed.  Intermediate secrets are wiped. */
KT_MUST_CHECK int kt_vrf_prove(uint8_t proof[KT_VRF_PROOF_BYTES],
			       const uint8_t sk[KT_VRF_SECRETKEY_BYTES],
			       const uint8_t *alpha, size_t alpha_len);

/* ECVRF_verify with key validation: checks that proof is pk's proof for
 * alpha and, only then, writes the VRF output beta.  It prepares pk on
 * every call: a verifier with a fixed key should use
 * kt_vrf_public_key_prepare once and kt_vrf_verify_prepared.  Returns
 *   KT_OK                     valid; beta set
 *   KT_ERR_VRF_BAD_POINT      pk or Gamma is not a canonical encoding of a
 *                             curve point, or is of small order (pk: RFC 9381
 *                             ECVRF_validate_key; Gamma: see docs/PROTOCOL.md §4)
 *   KT_ERR_VRF_BAD_SCALAR     s >= L
 *   KT_ERR_VRF_HASH_TO_CURVE  encode_to_curve failed (probability ~2^-256)
 *   KT_ERR_VRF_BAD_PROOF      the challenge does not match
 *   KT_ERR_INVALID_ARG        NULL pointer (alpha may be NULL if alpha_len 0)
 * On any failure beta is zeroed. */
KT_MUST_CHECK int kt_vrf_verify(uint8_t beta[KT_VRF_OUTPUT_BYTES],
				const uint8_t pk[KT_VRF_PUBLICKEY_BYTES],
				const uint8_t proof[KT_VRF_PROOF_BYTES],
				const uint8_t *alpha, size_t alpha_len);

/* A VRF public key decoded and validated once, with the multiples of its
 * point (and of the base point) that every verification needs.  Fill it
 * with kt_vrf_public_key_prepare; it is a plain value (no pointers: copy it
 * with = or memcpy, compare pk to know which key it holds).  The tables are
 * internal (kt_vrf.c): do not write them. */
#define KT_VRF_KEY_TABLES_BYTES (3 * 16 * 96)
typedef struct kt_vrf_public_key {
	uint8_t pk[KT_VRF_PUBLICKEY_BYTES];  /* the key it was prepared from */
	uint32_t ready;                      /* KT_VRF_KEY_READY once prepared */
	uint8_t tables[KT_VRF_KEY_TABLES_BYTES];
} kt_vrf_public_key;

#define KT_VRF_KEY_READY 0x6b747672u     /* "ktvr" */

/* Decodes and validates pk as kt_vrf_validate_public_key does (canonical
 * encoding of a curve point, 8*Y not the identity) and precomputes what
 * kt_vrf_verify_prepared needs (about 0.7 M instructions, once).  Returns
 * KT_OK, KT_ERR_VRF_BAD_POINT, KT_ERR_INVALID_ARG (NULL) or
 * KT_ERR_INTERNAL (cannot happen); on failure *key is zeroed (not ready).
 * Variable time: for public keys only. */
KT_MUST_CHECK int kt_vrf_public_key_prepare(kt_vrf_public_key *key,
					    const uint8_t pk[KT_VRF_PUBLICKEY_BYTES]);

/* kt_vrf_verify with a prepared key: the same checks (minus the key's,
 * done once by kt_vrf_public_key_prepare), the same results and errors,
 * byte for byte.  KT_ERR_INVALID_ARG also when key is not ready.  beta is
 * zeroed on any failure.  key is only read (share it between threads). */
KT_MUST_CHECK int kt_vrf_verify_prepared(uint8_t beta[KT_VRF_OUTPUT_BYTES],
					 const kt_vrf_public_key *key,
					 const uint8_t proof[KT_VRF_PROOF_BYTES],
					 const uint8_t *alpha, size_t alpha_len);

/* ECVRF_proof_to_hash: beta of a proof WITHOUT verifying it.  Only for a
 * proof this party produced itself or has already verified (e.g. a stored
 * proof); a client must use kt_vrf_verify.  Decodes the proof as the
 * verifier does: returns KT_OK, KT_ERR_VRF_BAD_POINT, KT_ERR_VRF_BAD_SCALAR
 * or KT_ERR_INVALID_ARG; beta is zeroed on failure. */
KT_MUST_CHECK int kt_vrf_proof_to_hash(uint8_t beta[KT_VRF_OUTPUT_BYTES],
				       const uint8_t proof[KT_VRF_PROOF_BYTES]);

/* RFC 9381 ECVRF_validate_key plus canonical decoding: KT_OK if pk is the
 * canonical encoding of a curve point whose cofactor multiple is not the
 * identity, else KT_ERR_VRF_BAD_POINT (KT_ERR_INVALID_ARG for NULL).  Use it
 * when a VRF public key is configured or pinned, so that a bad key is
 * refused at once rather than at the first verification. */
KT_MUST_CHECK int kt_vrf_validate_public_key(const uint8_t pk[KT_VRF_PUBLICKEY_BYTES]);

/* The account's map index (DESIGN §3): index = beta[0..32).  Never fails. */
void kt_vrf_index(uint8_t index[KT_VRF_INDEX_BYTES],
		  const uint8_t beta[KT_VRF_OUTPUT_BYTES]);

#ifdef __cplusplus
}
#endif
#endif /* KT_VRF_H */
