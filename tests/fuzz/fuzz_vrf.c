/*
 * fuzz_vrf.c — ECVRF verifier on arbitrary input.
 *
 * Input of 112 bytes or more: pk (32) || proof (80) || alpha (the rest),
 * run through kt_vrf_verify.  Invariants: the result is one of the
 * documented codes; on failure beta is all zero; on success the key
 * validates, proof_to_hash gives the same beta, and the proof with its
 * last bit flipped does not verify.
 * Shorter input: seed (up to 32 bytes, zero padded) || alpha; prove, then
 * the proof must verify and a flipped bit must not.
 * An invariant violation aborts (a crash for libFuzzer and for the replay).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "kt_vrf.h"

#define HEAD (KT_VRF_PUBLICKEY_BYTES + KT_VRF_PROOF_BYTES)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_verified(const uint8_t *pk, const uint8_t *proof,
			   const uint8_t *alpha, size_t alen,
			   const uint8_t beta[KT_VRF_OUTPUT_BYTES])
{
	uint8_t beta2[KT_VRF_OUTPUT_BYTES], flipped[KT_VRF_PROOF_BYTES];

	if (kt_vrf_validate_public_key(pk) != KT_OK)
		abort();
	if (kt_vrf_proof_to_hash(beta2, proof) != KT_OK ||
	    memcmp(beta, beta2, sizeof(beta2)) != 0)
		abort();
	memcpy(flipped, proof, sizeof(flipped));
	flipped[(alen * 7) % KT_VRF_PROOF_BYTES] ^= (uint8_t)(1u << (alen % 8));
	if (kt_vrf_verify(beta2, pk, flipped, alpha, alen) == KT_OK)
		abort();
	if (!sodium_is_zero(beta2, sizeof(beta2)))
		abort();
}

static void verify_input(const uint8_t *data, size_t size)
{
	const uint8_t *pk = data, *proof = data + KT_VRF_PUBLICKEY_BYTES;
	const uint8_t *alpha = data + HEAD;
	size_t alen = size - HEAD;
	uint8_t beta[KT_VRF_OUTPUT_BYTES];
	int r = kt_vrf_verify(beta, pk, proof, alpha, alen);

	switch (r) {
	case KT_OK:
		check_verified(pk, proof, alpha, alen, beta);
		break;
	case KT_ERR_VRF_BAD_POINT:
	case KT_ERR_VRF_BAD_SCALAR:
	case KT_ERR_VRF_BAD_PROOF:
	case KT_ERR_VRF_HASH_TO_CURVE:
		if (!sodium_is_zero(beta, sizeof(beta)))
			abort();
		break;
	default:
		abort();
	}
}

static void roundtrip_input(const uint8_t *data, size_t size)
{
	uint8_t seed[KT_VRF_SEED_BYTES] = {0}, pk[KT_VRF_PUBLICKEY_BYTES];
	uint8_t sk[KT_VRF_SECRETKEY_BYTES], proof[KT_VRF_PROOF_BYTES];
	uint8_t beta[KT_VRF_OUTPUT_BYTES];
	size_t n = size < sizeof(seed) ? size : sizeof(seed);

	memcpy(seed, data, n);
	if (kt_vrf_keypair_from_seed(pk, sk, seed) != KT_OK)
		abort();
	if (kt_vrf_prove(proof, sk, data + n, size - n) != KT_OK)
		abort();
	if (kt_vrf_verify(beta, pk, proof, data + n, size - n) != KT_OK)
		abort();
	check_verified(pk, proof, data + n, size - n, beta);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size >= HEAD)
		verify_input(data, size);
	else
		roundtrip_input(data, size);
	return 0;
}
