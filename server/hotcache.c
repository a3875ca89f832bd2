/*
 * hotcache.c — see hotcache.h.
 *
 * A slot is stride bytes: u64 tag, a byte of padding, u8 value length, 6
 * bytes of padding, the key, the value; a separate array holds a 16-bit
 * fingerprint per slot (0: empty), so a probe reads one line of
 * fingerprints and then only the slot whose fingerprint matches.  Slots come in sets of WAYS: a key lives in
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
	uint16_t *fp;     /* per slot: 0 empty, else the key's fingerprint */
	size_t mask;
	size_t stride;
	size_t key_bytes;
	size_t val_max;
	_Atomic uint64_t hits, misses;
	pthread_mutex_t mu[STRIPES];
};

/* Where a key lives: its set's first slot and its fingerprint (never 0). */
struct place {
	size_t set;
	uint16_t fp;
	unsigned victim;
};

/* One 8-byte word into the running hash: multiply, fold the high half. */
static inline uint64_t hash_word(uint64_t h, uint64_t w)
{
	h = (h ^ w) * 0x9fb21c651e98df25ULL;
	return h ^ (h >> 29);
}

/* Eight bytes at a time (a byte at a time cost the apply thread 3 % of its
 * cpu: keys are 9 to 40 bytes, hashed on every cache read and write), the
 * tail zero-padded with the length mixed in first, then a full avalanche
 * (murmur3's fmix64) so that the set index (low bits) and the fingerprint
 * (high bits) both depend on every key bit. */
uint64_t kt_hotcache_hash(uint8_t tag, const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL ^ ((uint64_t)tag << 56) ^ n, w;

	for (; n >= 8; p += 8, n -= 8) {
		memcpy(&w, p, 8);
		h = hash_word(h, w);
	}
	if (n > 0) { /* byte by byte: a memcpy of variable length is a call */
		w = 0;
		while (n > 0) {
			n--;
			w = (w << 8) | p[n];
		}
		h = hash_word(h, w);
	}
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
	c->fp = calloc(n, sizeof(*c->fp));
	if (c->slots == NULL || c->fp == NULL) {
		free(c->slots);
		free(c->fp);
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
	free(c->fp);
	free(c);
}

static struct place place_of(const kt_hotcache *c, const uint8_t *key)
{
	uint64_t h = kt_hotcache_hash(0xC5, key, c->key_bytes);
	struct place p;

	p.set = (size_t)h & c->mask & ~(size_t)(WAYS - 1);
	p.fp = (uint16_t)(h >> 48);
	if (p.fp == 0)
		p.fp = 1;
	p.victim = (unsigned)(h >> 40) % WAYS;
	return p;
}

static uint8_t *slot_at(const kt_hotcache *c, size_t i)
{
	return c->slots + i * c->stride;
}

static pthread_mutex_t *stripe_of(kt_hotcache *c, const struct place *p)
{
	return &c->mu[(p->set / WAYS) % STRIPES];
}

/* The slot index of the set holding key, or SIZE_MAX.  The fingerprints
 * of a set share one cache line; a slot's key is compared only when its
 * fingerprint matches.  Keys are public positions and node coordinates:
 * memcmp is fine. */
static size_t set_find(const kt_hotcache *c, const struct place *p,
		       const uint8_t *key)
{
	unsigned w;

	for (w = 0; w < WAYS; w++)
		if (c->fp[p->set + w] == p->fp &&
		    memcmp(slot_at(c, p->set + w) + HDR, key, c->key_bytes) == 0)
			return p->set + w;
	return SIZE_MAX;
}

/* Where key goes: its own slot, else an empty one, else a victim chosen by
 * the key's hash (no recency is kept: readers would have to write). */
static size_t set_place(const kt_hotcache *c, const struct place *p,
			const uint8_t *key)
{
	size_t i = set_find(c, p, key);
	unsigned w;

	if (i != SIZE_MAX)
		return i;
	for (w = 0; w < WAYS; w++)
		if (c->fp[p->set + w] == 0)
			return p->set + w;
	return p->set + p->victim;
}

int kt_hotcache_get(kt_hotcache *c, const uint8_t *key, uint64_t max_tag,
		    uint64_t *tag, uint8_t *val, size_t *val_len)
{
	struct place p;
	const uint8_t *s;
	size_t i;
	uint64_t t;
	int hit = 0;

	if (c == NULL)
		return 0;
	p = place_of(c, key);
	pthread_mutex_lock(stripe_of(c, &p));
	i = set_find(c, &p, key);
	if (i != SIZE_MAX) {
		s = slot_at(c, i);
		memcpy(&t, s, 8);
		if (t <= max_tag) {
			*tag = t;
			*val_len = s[9];
			memcpy(val, s + HDR + c->key_bytes, s[9]);
			hit = 1;
		}
	}
	pthread_mutex_unlock(stripe_of(c, &p));
	atomic_fetch_add_explicit(hit ? &c->hits : &c->misses, 1,
				  memory_order_relaxed);
	return hit;
}

static void slot_fill(kt_hotcache *c, size_t i, uint16_t fp,
		      const uint8_t *key, uint64_t tag, const uint8_t *val,
		      size_t val_len)
{
	uint8_t *s = slot_at(c, i);

	memcpy(s, &tag, 8);
	s[9] = (uint8_t)val_len;
	memcpy(s + HDR, key, c->key_bytes);
	memcpy(s + HDR + c->key_bytes, val, val_len);
	c->fp[i] = fp;
}

int kt_hotcache_put_if(kt_hotcache *c, const uint8_t *key, uint64_t tag,
		       const uint8_t *val, size_t val_len,
		       const _Atomic uint64_t *epoch, uint64_t expect)
{
	struct place p;
	int stored = 0;

	if (c == NULL)
		return 0;
	if (val_len > c->val_max) {
		/* not storable: at least the key's older record must go */
		kt_hotcache_drop(c, key);
		return 0;
	}
	p = place_of(c, key);
	pthread_mutex_lock(stripe_of(c, &p));
	if (epoch == NULL || atomic_load(epoch) == expect) {
		slot_fill(c, set_place(c, &p, key), p.fp, key, tag, val,
			  val_len);
		stored = 1;
	}
	pthread_mutex_unlock(stripe_of(c, &p));
	return stored;
}

void kt_hotcache_put(kt_hotcache *c, const uint8_t *key, uint64_t tag,
		     const uint8_t *val, size_t val_len)
{
	(void)kt_hotcache_put_if(c, key, tag, val, val_len, NULL, 0);
}

void kt_hotcache_drop(kt_hotcache *c, const uint8_t *key)
{
	struct place p;
	size_t i;

	if (c == NULL)
		return;
	p = place_of(c, key);
	pthread_mutex_lock(stripe_of(c, &p));
	i = set_find(c, &p, key);
	if (i != SIZE_MAX)
		c->fp[i] = 0;
	pthread_mutex_unlock(stripe_of(c, &p));
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
