/*
 * mapproof_tree.h — the fixed small map shared by tests/fuzz/fuzz_mapproof.c
 * and its seed generator tests/tools/kt-gen-map-corpus.c.
 *
 * Sixteen query indices; the first MPT_NKEYS are in the tree, each with
 * digest 32 x (i + 1).  They are chosen to give every proof shape: leaves at
 * depth 256 (keys 0 and 1 differ in bit 255 only), short paths, empty
 * children on the way and at the end, and absent indices that meet another
 * leaf.
 */
#ifndef KT_MAPPROOF_TREE_H
#define KT_MAPPROOF_TREE_H

#include <stdint.h>
#include <string.h>

#include "kt_map.h"

#define MPT_NQUERIES 16
#define MPT_NKEYS 8

/* Query index i: bytes 0, 1 and 31 given, the rest zero. */
static const uint8_t mpt_shape[MPT_NQUERIES][3] = {
	/* in the tree */
	{0x00, 0x00, 0x00}, {0x00, 0x00, 0x01}, {0x40, 0x00, 0x00},
	{0x80, 0x00, 0x00}, {0xc0, 0x00, 0x00}, {0x20, 0x00, 0x00},
	{0x5c, 0x5c, 0x5c}, {0x5c, 0x5d, 0x00},
	/* not in the tree */
	{0x00, 0x00, 0x02}, {0x41, 0x00, 0x00}, {0xe0, 0x00, 0x00},
	{0x10, 0x00, 0x00}, {0x5c, 0x5c, 0x5d}, {0x00, 0x80, 0x00},
	{0xff, 0xff, 0xff}, {0x30, 0x00, 0x00},
};

static void mpt_index(uint8_t out[KT_HASH_BYTES], unsigned i)
{
	memset(out, 0, KT_HASH_BYTES);
	out[0] = mpt_shape[i][0];
	out[1] = mpt_shape[i][1];
	out[31] = mpt_shape[i][2];
}

static void mpt_digest(uint8_t out[KT_HASH_BYTES], unsigned i)
{
	memset(out, (int)(i + 1), KT_HASH_BYTES);
}

/* Builds the tree into a new history store; returns it (NULL on failure) and
 * the root.  Key i is written at version i + 1. */
static kt_map_mem *mpt_build(uint8_t root[KT_HASH_BYTES])
{
	kt_map_mem *m = NULL;
	kt_map_store s;
	uint8_t idx[KT_HASH_BYTES], dig[KT_HASH_BYTES];
	unsigned i;

	if (kt_map_mem_new(KT_MAP_MEM_HISTORY, 0, &m) != KT_OK)
		return NULL;
	s = kt_map_mem_store(m);
	for (i = 0; i < MPT_NKEYS; i++) {
		mpt_index(idx, i);
		mpt_digest(dig, i);
		if (kt_map_update(&s, i + 1, idx, dig, root) != KT_OK) {
			kt_map_mem_free(m);
			return NULL;
		}
	}
	return m;
}

#endif /* KT_MAPPROOF_TREE_H */
