/*
 * fuzz_mapproof.c — kt_map_verify on arbitrary proof bytes against the fixed
 * small tree of mapproof_tree.h.
 *
 * Input layout:
 *   u8 selector   bits 0-3: query index q (0..15; 0..7 are in the tree)
 *                 bits 4-5: claim
 *                   0  inclusion with the tree's digest of q (32 x 0x77
 *                      when q is absent)
 *                   1  inclusion with that digest with its last bit flipped
 *                   2  absence (NULL digest)
 *                   3  inclusion with the 32 bytes after the selector
 *                 bit 6: also decode the proof bytes as a stored node
 *                        (kt_map_node_decode; must re-encode identically)
 *                 bit 7: ignored
 *   [fixed[32] digest, claim 3 only]
 *   proof bytes   everything else, passed to kt_map_verify as is
 *
 * Never crashes; aborts when kt_map_verify accepts a false claim (a digest
 * the tree does not hold for q, or absence of a present key), or answers
 * with a code outside the verifier's documented set.  Seeds
 * (tests/fuzz/corpus/mapproof/) are written by tests/tools/kt-gen-map-corpus.c:
 * the honest proof of every query under every claim, plus malformed ones.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kt_enc.h"
#include "kt_map.h"
#include "mapproof_tree.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int known_code(int r)
{
	switch (r) {
	case KT_OK:
	case KT_ERR_TOO_LARGE:
	case KT_ERR_TRUNCATED:
	case KT_ERR_TRAILING:
	case KT_ERR_BAD_TYPE:
	case KT_ERR_NONCANONICAL:
	case KT_ERR_MAP_WRONG_KIND:
	case KT_ERR_MAP_DEPTH:
	case KT_ERR_MAP_BAD_PROOF:
	case KT_ERR_MAP_ROOT_MISMATCH:
		return 1;
	default:
		return 0;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Built once per process: the tree never changes. */
	static uint8_t root[KT_HASH_BYTES];
	static int ready;
	uint8_t idx[KT_HASH_BYTES], dig[KT_HASH_BYTES], truth[KT_HASH_BYTES];
	const uint8_t *claim_dig = dig;
	unsigned q, claim, present;
	uint8_t enc[KT_MAP_NODE_BYTES];
	kt_map_node node;
	kt_bytes proof;
	int r;

	if (!ready) {
		kt_map_mem *m = mpt_build(root);

		if (m == NULL)
			abort();
		kt_map_mem_free(m);
		ready = 1;
	}
	if (size < 1)
		return 0;
	q = data[0] & 0x0fu;
	claim = (data[0] >> 4) & 3u;
	present = q < MPT_NKEYS;
	mpt_index(idx, q);
	if (present)
		mpt_digest(truth, q);
	else
		memset(truth, 0x77, KT_HASH_BYTES);
	memcpy(dig, truth, KT_HASH_BYTES);
	proof.p = data + 1;
	proof.len = size - 1;
	if (claim == 1) {
		dig[31] ^= 1;
	} else if (claim == 2) {
		claim_dig = NULL;
	} else if (claim == 3) {
		if (size < 1 + KT_HASH_BYTES)
			return 0;
		memcpy(dig, data + 1, KT_HASH_BYTES);
		proof.p = data + 1 + KT_HASH_BYTES;
		proof.len = size - 1 - KT_HASH_BYTES;
	}
	if ((data[0] & 0x40u) &&
	    kt_map_node_decode(&node, proof.p, proof.len) == KT_OK) {
		/* A decoded node re-encodes to the same bytes. */
		if (kt_map_node_encode(enc, &node) != KT_OK ||
		    memcmp(enc, proof.p, KT_MAP_NODE_BYTES) != 0)
			abort();
	}

	r = kt_map_verify(root, idx, claim_dig, proof);
	if (!known_code(r))
		abort();
	if (r == KT_OK) {
		/* Public test values: memcmp is fine. */
		if (claim_dig == NULL && present)
			abort(); /* "absent" for a key in the tree */
		if (claim_dig != NULL &&
		    (!present || memcmp(claim_dig, truth, KT_HASH_BYTES) != 0))
			abort(); /* a digest the tree does not hold */
	}
	return 0;
}
