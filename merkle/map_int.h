/*
 * map_int.h — internals shared by kt_map.c and kt_map_mem.c.  Not part of
 * the public API.
 *
 * The path interface of the in-memory store.  Every read and write of one
 * update, lookup or proof touches the positions on one index's path:
 * (d, first d bits of index) for d = 0, 1, ...  Through the generic
 * kt_map_store interface each get and each put hashes its position and probes
 * the table again, and each level waits for its own cache misses (a slot,
 * then a node) before the walk moves on.  A kt_map_mem_path instead knows the
 * index up front: it hashes the path's positions once, prefetches all their
 * slots (a slot holds its node) in one batch, so the misses of all levels
 * overlap, and remembers where each position was found, so the put that
 * rewrites a node does not probe again.  kt_map_update goes further for a
 * present key whose path can be rewritten where it lies: it takes each
 * record's place (kt_map_mem_path_rec) and rewrites and hashes the path from
 * the leaf up, so it need not walk down first.
 *
 * A kt_map_mem_path is caller-owned scratch for one call (the caller's heap
 * block): the store itself keeps no per-call state, so concurrent readers
 * stay safe.  Reads and writes through it have exactly the semantics of the
 * store's get and put for the same position (tests/unit/test_map.c checks
 * both routes against each other).
 */
#ifndef KT_MAP_INT_H
#define KT_MAP_INT_H

#include <stddef.h>
#include <stdint.h>

#include "kt_map.h"

#ifdef __cplusplus
extern "C" {
#endif

/* slot[d] value: not looked up yet (or the table grew since). */
#define KT_MAP_MEM_NO_SLOT SIZE_MAX

struct kt_map_mem_path {
	kt_map_mem *m;
	uint64_t w[4];  /* the index as four big-endian words */
	size_t nslots;  /* table size slot[] refers to */
	unsigned n;     /* hash[d] and slot[d] are set for d < n */
	/* Position hash of depth d on the path. */
	uint32_t hash[KT_MAP_MAX_DEPTH + 1];
	/* A dense depth: its slot's index in the dense table.  Else a slot of
	 * depth d's probe sequence with no match and no empty slot before it
	 * (where the probe may resume), or KT_MAP_MEM_NO_SLOT. */
	size_t slot[KT_MAP_MAX_DEPTH + 1];
	/* 1: slot[d] holds the position (its key checked). */
	uint8_t hit[KT_MAP_MAX_DEPTH + 1];
	/* Depth where kt_map_mem_path_prefetch found a leaf, or -1. */
	int leaf;
};

/* A position's newest record, where the store keeps it: kind, version and
 * the 64-byte node (left || right, or index || digest). */
struct kt_map_mem_rec {
	uint8_t kind;
	uint64_t *version;
	uint8_t *node;
};

/* If store is a kt_map_mem's store (kt_map_mem_store), sets p up for
 * index's path, starts prefetching the table slots of the depths the tree
 * probably has, and returns 1; otherwise returns 0 and leaves p untouched.
 * Reads nothing that must already be in cache: meant to be followed by other
 * work (a hash) and then kt_map_mem_path_prefetch. */
int kt_map_mem_path_start(struct kt_map_mem_path *p, const kt_map_store *store,
			  const uint8_t index[KT_HASH_BYTES]);

/* Second step: reads the prefetched slots down to the first depth with no
 * position or with a leaf (the newest record), notes where each depth's
 * position is, and prefetches those that probing placed past their home
 * slot; a path deeper than the first batch has its next levels fetched as
 * the reading goes.  Changes only p.  Thread safety: as a read of the
 * store. */
void kt_map_mem_path_prefetch(struct kt_map_mem_path *p);

/* The store's get / put of position (depth, first depth bits of the index):
 * the same results and errors as the store's get and put (depth > 256: get
 * KT_ERR_NOT_FOUND, put KT_ERR_INVALID_ARG).  get changes only p and may run
 * beside other readers; put needs exclusive use of the store. */
KT_MUST_CHECK int kt_map_mem_path_get(struct kt_map_mem_path *p,
				      unsigned depth, uint64_t at,
				      kt_map_node *out);
KT_MUST_CHECK int kt_map_mem_path_put(struct kt_map_mem_path *p,
				      unsigned depth, uint64_t version,
				      const kt_map_node *node);

/* Depth of the leaf that kt_map_mem_path_prefetch found on the path (in
 * the table levels, the position probably there: kt_map_mem_path_rec
 * checks), or -1 if it found none. */
int kt_map_mem_path_leaf(const struct kt_map_mem_path *p);

/* For rewriting a record in place: if a put at version at depth would
 * overwrite the position's newest record where it is (the position is on
 * record, and its record is at version, or older in a KT_MAP_MEM_LATEST_ONLY
 * store), sets *out to that record and returns 1; else returns 0.  Writing
 * through *out is a put of the same kind at version: the caller writes the
 * version and node bytes, and may restore both as they were.  The pointers
 * hold until the next put through p or the store, or the store's end.  Changes
 * only p; needs exclusive use of the store to write through *out. */
int kt_map_mem_path_rec(struct kt_map_mem_path *p, unsigned depth,
			uint64_t version, struct kt_map_mem_rec *out);

/* m's 32-bit table hash of the hashed position (depth, prefix), whose low
 * bits are its home slot: for tests that build positions whose hashes
 * collide.  Depends on m's anchor depth, fixed when m was made. */
uint32_t kt_map_mem_table_hash(const kt_map_mem *m, unsigned depth,
			       const uint8_t prefix[KT_HASH_BYTES]);

#ifdef __cplusplus
}
#endif
#endif /* KT_MAP_INT_H */
