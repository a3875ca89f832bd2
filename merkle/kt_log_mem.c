/*
 * kt_log_mem.c — an in-memory kt_log_store for tests and benchmarks.
 *
 * One growable array of hashes per level; the log completes the nodes of a
 * level in index order, so a put is an append (or a repeat of a node already
 * written with the same hash).  Memory only, no I/O.
 */
#include <stdlib.h>
#include <string.h>

#include "kt_log.h"

typedef struct mem_level {
	uint8_t (*h)[KT_HASH_BYTES];
	uint64_t n;   /* nodes written: indices [0, n) */
	uint64_t cap; /* nodes allocated */
} mem_level;

struct kt_log_memstore {
	mem_level lv[KT_LOG_MAX_LEVELS];
};

/* Never let cap * KT_HASH_BYTES overflow size_t. */
#define MEM_MAX_NODES ((uint64_t)(SIZE_MAX / KT_HASH_BYTES / 2))

int kt_log_memstore_new(kt_log_memstore **out)
{
	*out = calloc(1, sizeof(**out));
	return *out == NULL ? KT_ERR_NOMEM : KT_OK;
}

void kt_log_memstore_free(kt_log_memstore *m)
{
	unsigned l;

	if (m == NULL)
		return;
	for (l = 0; l < KT_LOG_MAX_LEVELS; l++)
		free(m->lv[l].h);
	free(m);
}

static int mem_get(void *ctx, unsigned level, uint64_t index,
		   uint8_t out[KT_HASH_BYTES])
{
	const kt_log_memstore *m = ctx;

	if (level >= KT_LOG_MAX_LEVELS)
		return KT_ERR_INVALID_ARG;
	if (index >= m->lv[level].n)
		return KT_ERR_NOT_FOUND;
	memcpy(out, m->lv[level].h[index], KT_HASH_BYTES);
	return KT_OK;
}

static int mem_grow(mem_level *lv)
{
	uint64_t cap = lv->cap == 0 ? 16 : lv->cap * 2;
	uint8_t (*h)[KT_HASH_BYTES];

	if (cap > MEM_MAX_NODES)
		return KT_ERR_TOO_LARGE;
	h = realloc(lv->h, (size_t)cap * KT_HASH_BYTES);
	if (h == NULL)
		return KT_ERR_NOMEM;
	lv->h = h;
	lv->cap = cap;
	return KT_OK;
}

static int mem_put(void *ctx, unsigned level, uint64_t index,
		   const uint8_t hash[KT_HASH_BYTES])
{
	kt_log_memstore *m = ctx;
	mem_level *lv;
	int r;

	if (level >= KT_LOG_MAX_LEVELS)
		return KT_ERR_INVALID_ARG;
	lv = &m->lv[level];
	if (index < lv->n) {
		/* Public hashes: memcmp is fine.  Complete nodes are immutable. */
		return memcmp(lv->h[index], hash, KT_HASH_BYTES) == 0
			       ? KT_OK
			       : KT_ERR_INTERNAL;
	}
	if (index != lv->n)
		return KT_ERR_INVALID_ARG;
	if (lv->n == lv->cap && (r = mem_grow(lv)) != KT_OK)
		return r;
	memcpy(lv->h[index], hash, KT_HASH_BYTES);
	lv->n++;
	return KT_OK;
}

kt_log_store kt_log_memstore_store(kt_log_memstore *m)
{
	kt_log_store s;

	s.ctx = m;
	s.get = mem_get;
	s.put = mem_put;
	return s;
}
