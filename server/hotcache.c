/*
 * hotcache.c — see hotcache.h.
 *
 * A slot is stride bytes: u64 tag, u8 valid, u8 value length, 6 bytes of
 * padding, the key, the value.  Slots come in sets of WAYS: a key lives in
 * one slot of the set its hash names (4-way set associative: a table filled
 * to 60 % keeps nearly every key, where a direct-mapped one would lose a
 * quarter of them).  A set is guarded by stripe (set % STRIPES).
 */
#include "hotcache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define STRIPES 512u
#define HDR 16u
#define WAYS 4u

struct kt_hotcache {
	uint8_t *slots;
	size_t mask;
	size_t stride;
	size_t key_bytes;
	size_t val_max;
	_Atomic uint64_t hits, misses;
	pthread_mutex_t mu[STRIPES];
};

uint64_t kt_hotcache_hash(uint8_t tag, const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t i;

	h = (h ^ tag) * 0x100000001b3ULL;
	for (i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

int kt_hotcache_new(size_t entries, size_t key_bytes, size_t val_max,
		    kt_hotcache **out)
{
	kt_hotcache *c;
	size_t n = STRIPES, i;

	*out = NULL;
	if (key_bytes == 0 || key_bytes > KT_HOTCACHE_MAX_KEY || val_max == 0 ||
	    val_max > KT_HOTCACHE_MAX_VAL || entries > KT_HOTCACHE_MAX_ENTRIES)
		return KT_ERR_INVALID_ARG;
	if (entries == 0)
		return KT_OK;
	while (n < entries)
		n <<= 1;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return KT_ERR_NOMEM;
	c->key_bytes = key_bytes;
	c->val_max = val_max;
	c->stride = (HDR + key_bytes + val_max + 7) & ~(size_t)7;
	c->mask = n - 1;
	/* calloc: the pages stay untouched (and unbacked) until used */
	c->slots = calloc(n, c->stride);
	if (c->slots == NULL) {
		free(c);
		return KT_ERR_NOMEM;
	}
	for (i = 0; i < STRIPES; i++)
		pthread_mutex_init(&c->mu[i], NULL);
	*out = c;
	return KT_OK;
}

void kt_hotcache_free(kt_hotcache *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < STRIPES; i++)
		pthread_mutex_destroy(&c->mu[i]);
	free(c->slots);
	free(c);
}

/* First slot of key's set. */
static size_t set_index(const kt_hotcache *c, const uint8_t *key)
{
	return (size_t)kt_hotcache_hash(0xC5, key, c->key_bytes) & c->mask &
	       ~(size_t)(WAYS - 1);
}

static uint8_t *slot_at(const kt_hotcache *c, size_t i)
{
	return c->slots + i * c->stride;
}

static pthread_mutex_t *stripe_of(kt_hotcache *c, size_t set)
{
	return &c->mu[(set / WAYS) % STRIPES];
}

/* Keys are public positions and node coordinates: memcmp is fine. */
static int slot_holds(const kt_hotcache *c, const uint8_t *s,
		      const uint8_t *key)
{
	return s[8] != 0 && memcmp(s + HDR, key, c->key_bytes) == 0;
}

/* The slot of the set holding key, or NULL. */
static uint8_t *set_find(const kt_hotcache *c, size_t set, const uint8_t *key)
{
	unsigned w;

	for (w = 0; w < WAYS; w++)
		if (slot_holds(c, slot_at(c, set + w), key))
			return slot_at(c, set + w);
	return NULL;
}

/* Where key goes: its own slot, else an empty one, else a victim chosen by
 * the key's hash (no recency is kept: readers would have to write). */
static uint8_t *set_place(const kt_hotcache *c, size_t set, const uint8_t *key)
{
	uint8_t *s = set_find(c, set, key);
	unsigned w;

	if (s != NULL)
		return s;
	for (w = 0; w < WAYS; w++)
		if (slot_at(c, set + w)[8] == 0)
			return slot_at(c, set + w);
	w = (unsigned)(kt_hotcache_hash(0xC6, key, c->key_bytes) % WAYS);
	return slot_at(c, set + w);
}

int kt_hotcache_get(kt_hotcache *c, const uint8_t *key, uint64_t max_tag,
		    uint64_t *tag, uint8_t *val, size_t *val_len)
{
	size_t set;
	const uint8_t *s;
	uint64_t t;
	int hit = 0;

	if (c == NULL)
		return 0;
	set = set_index(c, key);
	pthread_mutex_lock(stripe_of(c, set));
	s = set_find(c, set, key);
	if (s != NULL) {
		memcpy(&t, s, 8);
		if (t <= max_tag) {
			*tag = t;
			*val_len = s[9];
			memcpy(val, s + HDR + c->key_bytes, s[9]);
			hit = 1;
		}
	}
	pthread_mutex_unlock(stripe_of(c, set));
	atomic_fetch_add_explicit(hit ? &c->hits : &c->misses, 1,
				  memory_order_relaxed);
	return hit;
}

static void slot_fill(const kt_hotcache *c, uint8_t *s, const uint8_t *key,
		      uint64_t tag, const uint8_t *val, size_t val_len)
{
	memcpy(s, &tag, 8);
	s[8] = 1;
	s[9] = (uint8_t)val_len;
	memcpy(s + HDR, key, c->key_bytes);
	memcpy(s + HDR + c->key_bytes, val, val_len);
}

int kt_hotcache_put_if(kt_hotcache *c, const uint8_t *key, uint64_t tag,
		       const uint8_t *val, size_t val_len,
		       const _Atomic uint64_t *epoch, uint64_t expect)
{
	size_t set;
	int stored = 0;

	if (c == NULL || val_len > c->val_max)
		return 0;
	set = set_index(c, key);
	pthread_mutex_lock(stripe_of(c, set));
	if (epoch == NULL || atomic_load(epoch) == expect) {
		slot_fill(c, set_place(c, set, key), key, tag, val, val_len);
		stored = 1;
	}
	pthread_mutex_unlock(stripe_of(c, set));
	return stored;
}

void kt_hotcache_put(kt_hotcache *c, const uint8_t *key, uint64_t tag,
		     const uint8_t *val, size_t val_len)
{
	(void)kt_hotcache_put_if(c, key, tag, val, val_len, NULL, 0);
}

void kt_hotcache_drop(kt_hotcache *c, const uint8_t *key)
{
	size_t set;
	uint8_t *s;

	if (c == NULL)
		return;
	set = set_index(c, key);
	pthread_mutex_lock(stripe_of(c, set));
	s = set_find(c, set, key);
	if (s != NULL)
		s[8] = 0;
	pthread_mutex_unlock(stripe_of(c, set));
}

size_t kt_hotcache_capacity(const kt_hotcache *c)
{
	return c != NULL ? c->mask + 1 : 0;
}

void kt_hotcache_counts(const kt_hotcache *c, uint64_t *hits,
			uint64_t *misses)
{
	*hits = c != NULL ? atomic_load_explicit(&c->hits, memory_order_relaxed) : 0;
	*misses = c != NULL ? atomic_load_explicit(&c->misses, memory_order_relaxed) : 0;
}
