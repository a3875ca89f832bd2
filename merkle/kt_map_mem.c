/*
 * kt_map_mem.c — the in-memory versioned node store for the map.
 *
 * Layout: records live in a pool of fixed-size chunks (no reallocation, so
 * growing to tens of millions of records never copies them).  A record holds
 * its position (depth, prefix), the node, its version and the id of the
 * position's previous record (its older version), so each position has a
 * version chain, newest first.  An open-addressing table with linear probing
 * maps a position to its newest record: each 8-byte slot is the 32-bit hash of
 * the position (high half) and the record id (low half, 0 = empty slot).
 * The table grows at 70 % load by rehashing slots alone (the stored hash gives
 * the new slot, no record is touched).
 */
#include "kt_map.h"

#include <stdlib.h>
#include <string.h>

#define CHUNK_SHIFT 16u
#define CHUNK_RECS ((size_t)1 << CHUNK_SHIFT)
#define MAX_RECS ((size_t)UINT32_MAX - 1)
#define MIN_SLOTS ((size_t)1 << 10)

struct mem_rec {
	uint8_t prefix[KT_HASH_BYTES];
	uint8_t a[KT_HASH_BYTES]; /* inner: left; leaf: index */
	uint8_t b[KT_HASH_BYTES]; /* inner: right; leaf: digest */
	uint64_t version;
	uint32_t prev; /* id of the position's previous record, 0 = none */
	uint16_t depth;
	uint8_t kind;
};

struct kt_map_mem {
	unsigned flags;
	uint64_t *slots;  /* (hash << 32) | record id */
	size_t nslots;    /* power of two */
	size_t npos;      /* occupied slots = positions */
	struct mem_rec **chunks;
	size_t nchunks, chunks_cap;
	size_t nrecs;     /* ids 1..nrecs are in use */
};

/* 32-bit hash of a position: all prefix words and the depth, mixed. */
static uint32_t pos_hash(uint16_t depth, const uint8_t prefix[KT_HASH_BYTES])
{
	uint64_t h = 0x9e3779b97f4a7c15ULL * ((uint64_t)depth + 1);
	unsigned i;

	for (i = 0; i < KT_HASH_BYTES; i += 8) {
		h ^= kt_load_u64be(prefix + i);
		h *= 0xff51afd7ed558ccdULL;
		h ^= h >> 33;
	}
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 29;
	return (uint32_t)(h >> 32);
}

static struct mem_rec *rec_at(const kt_map_mem *m, uint32_t id)
{
	size_t i = (size_t)id - 1;

	return &m->chunks[i >> CHUNK_SHIFT][i & (CHUNK_RECS - 1)];
}

static int alloc_slots(size_t n, uint64_t **out)
{
	*out = calloc(n, sizeof(**out));
	return *out != NULL ? KT_OK : KT_ERR_NOMEM;
}

/* Smallest power of two >= 2 * expected (at least MIN_SLOTS). */
static size_t slots_for(size_t expected)
{
	size_t n = MIN_SLOTS;

	if (expected > MAX_RECS)
		expected = MAX_RECS;
	while (n < expected * 2 && n <= MAX_RECS)
		n *= 2;
	return n;
}

int kt_map_mem_new(unsigned flags, size_t expected_positions, kt_map_mem **out)
{
	kt_map_mem *m = NULL;
	int r;

	*out = NULL;
	if (flags != KT_MAP_MEM_HISTORY && flags != KT_MAP_MEM_LATEST_ONLY)
		return KT_ERR_INVALID_ARG;
	m = calloc(1, sizeof(*m));
	if (m == NULL)
		return KT_ERR_NOMEM;
	m->flags = flags;
	m->nslots = slots_for(expected_positions);
	r = alloc_slots(m->nslots, &m->slots);
	if (r != KT_OK)
		goto out;
	*out = m;
	m = NULL;
out:
	kt_map_mem_free(m);
	return r;
}

void kt_map_mem_free(kt_map_mem *m)
{
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; i < m->nchunks; i++)
		free(m->chunks[i]);
	free(m->chunks);
	free(m->slots);
	free(m);
}

size_t kt_map_mem_records(const kt_map_mem *m)
{
	return m->nrecs;
}

size_t kt_map_mem_bytes(const kt_map_mem *m)
{
	return sizeof(*m) + m->nslots * sizeof(uint64_t) +
	       m->chunks_cap * sizeof(struct mem_rec *) +
	       m->nchunks * CHUNK_RECS * sizeof(struct mem_rec);
}

/* Slot of the position, or of the empty slot where it would go. */
static size_t find_slot(const kt_map_mem *m, uint32_t h, uint16_t depth,
			const uint8_t prefix[KT_HASH_BYTES])
{
	size_t mask = m->nslots - 1, i = h & mask;
	uint64_t s;
	const struct mem_rec *rec;

	for (;; i = (i + 1) & mask) {
		s = m->slots[i];
		if (s == 0)
			return i;
		if ((uint32_t)(s >> 32) != h)
			continue;
		rec = rec_at(m, (uint32_t)s);
		if (rec->depth == depth &&
		    memcmp(rec->prefix, prefix, KT_HASH_BYTES) == 0)
			return i;
	}
}

/* Doubles the table; slots carry their hash, so records are not read. */
static int grow_slots(kt_map_mem *m)
{
	uint64_t *old = m->slots, *slots;
	size_t oldn = m->nslots, n = oldn * 2, i, j;
	int r;

	if (n > (size_t)UINT32_MAX + 1)
		return KT_ERR_NOMEM;
	r = alloc_slots(n, &slots);
	if (r != KT_OK)
		return r;
	for (i = 0; i < oldn; i++) {
		if (old[i] == 0)
			continue;
		for (j = (old[i] >> 32) & (n - 1); slots[j] != 0;
		     j = (j + 1) & (n - 1))
			;
		slots[j] = old[i];
	}
	free(old);
	m->slots = slots;
	m->nslots = n;
	return KT_OK;
}

/* Allocates a zeroed record; returns its id in *id. */
static int new_rec(kt_map_mem *m, uint32_t *id)
{
	struct mem_rec **chunks;
	size_t cap;

	if (m->nrecs >= MAX_RECS)
		return KT_ERR_NOMEM;
	if (m->nrecs == m->nchunks * CHUNK_RECS) {
		if (m->nchunks == m->chunks_cap) {
			cap = m->chunks_cap != 0 ? m->chunks_cap * 2 : 16;
			chunks = realloc(m->chunks, cap * sizeof(*chunks));
			if (chunks == NULL)
				return KT_ERR_NOMEM;
			m->chunks = chunks;
			m->chunks_cap = cap;
		}
		m->chunks[m->nchunks] = calloc(CHUNK_RECS, sizeof(struct mem_rec));
		if (m->chunks[m->nchunks] == NULL)
			return KT_ERR_NOMEM;
		m->nchunks++;
	}
	m->nrecs++;
	*id = (uint32_t)m->nrecs;
	return KT_OK;
}

static void rec_set(struct mem_rec *rec, uint64_t version,
		    const kt_map_node *node)
{
	rec->version = version;
	rec->kind = node->kind;
	memcpy(rec->a, node->inner.left, KT_HASH_BYTES);
	memcpy(rec->b, node->inner.right, KT_HASH_BYTES);
}

static int mem_get(void *ctx, uint16_t depth,
		   const uint8_t prefix[KT_HASH_BYTES], uint64_t at,
		   kt_map_node *out)
{
	const kt_map_mem *m = ctx;
	uint32_t h = pos_hash(depth, prefix);
	uint64_t s = m->slots[find_slot(m, h, depth, prefix)];
	uint32_t id = (uint32_t)s;
	const struct mem_rec *rec;

	while (id != 0) {
		rec = rec_at(m, id);
		if (rec->version <= at) {
			out->kind = rec->kind;
			memcpy(out->inner.left, rec->a, KT_HASH_BYTES);
			memcpy(out->inner.right, rec->b, KT_HASH_BYTES);
			return KT_OK;
		}
		id = rec->prev;
	}
	/* Newer records only: without history the older state is gone. */
	if (s != 0 && m->flags == KT_MAP_MEM_LATEST_ONLY)
		return KT_ERR_UNSUPPORTED;
	return KT_ERR_NOT_FOUND;
}

static int mem_put(void *ctx, uint16_t depth,
		   const uint8_t prefix[KT_HASH_BYTES], uint64_t version,
		   const kt_map_node *node)
{
	kt_map_mem *m = ctx;
	uint32_t h = pos_hash(depth, prefix), id;
	size_t i;
	struct mem_rec *rec;
	int r;

	if (depth > KT_MAP_MAX_DEPTH ||
	    (node->kind != KT_MAP_NODE_INNER && node->kind != KT_MAP_NODE_LEAF))
		return KT_ERR_INVALID_ARG;
	i = find_slot(m, h, depth, prefix);
	if (m->slots[i] != 0) {
		rec = rec_at(m, (uint32_t)m->slots[i]);
		if (version < rec->version)
			return KT_ERR_INVALID_ARG;
		if (version == rec->version ||
		    m->flags == KT_MAP_MEM_LATEST_ONLY) {
			rec_set(rec, version, node);
			return KT_OK;
		}
	} else if ((m->npos + 1) * 10 > m->nslots * 7) {
		r = grow_slots(m);
		if (r != KT_OK)
			return r;
		i = find_slot(m, h, depth, prefix);
	}
	r = new_rec(m, &id);
	if (r != KT_OK)
		return r;
	rec = rec_at(m, id);
	memcpy(rec->prefix, prefix, KT_HASH_BYTES);
	rec->depth = depth;
	rec->prev = (uint32_t)m->slots[i];
	rec_set(rec, version, node);
	if (m->slots[i] == 0)
		m->npos++;
	m->slots[i] = ((uint64_t)h << 32) | id;
	return KT_OK;
}

kt_map_store kt_map_mem_store(kt_map_mem *m)
{
	kt_map_store s;

	s.ctx = m;
	s.get = mem_get;
	s.put = mem_put;
	return s;
}
