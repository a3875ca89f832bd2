/*
 * server_test_hotcache.c — the set-associative record cache
 * (server/hotcache.h, server/hotcache.c), used by storage.c for map and log
 * nodes.  Everything is deterministic (fixed seeds) except the thread
 * interleaving of (7).
 *   (1) kt_hotcache_new: every bad size is KT_ERR_INVALID_ARG with *out
 *       reset; entries 0 is KT_OK with NULL, and every call accepts NULL;
 *       capacity is a power of two >= entries and >= the stripe minimum;
 *   (2) round trip: many random keys come back with their exact tag, value
 *       bytes and length (a bounded eviction rate, see LOSS_*); keys never
 *       put, and keys one bit away from stored ones, miss; max_tag; values
 *       longer than val_max are not stored; replacing a key takes no second
 *       slot (checked by filling);
 *   (3) drop removes exactly that key;
 *   (4) put_if stores only while the epoch is unchanged;
 *   (5) eviction: a minimum-size cache flooded with 10x its capacity, then
 *       probed with millions of absent keys, never answers with a wrong
 *       record (a miss is fine, a hit must be exact); keys crafted to share
 *       a set and a fingerprint are still told apart;
 *   (6) the hit and miss counters count exactly;
 *   (7) four threads put/get/drop on a shared key space for ~1 s; every hit
 *       is checked against the value derived from (key, tag), so a torn
 *       record would show; the counters add up.
 * Runtime: about 1.3 s normal, 1.5 s under ASan+UBSan, 2.7 s under TSan
 * (1 s of it is (7)).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "hotcache.h"

/* hotcache.c allocates at least one slot per stripe (STRIPES = 512 there):
 * the smallest capacity a cache can have. */
#define STRIPE_MIN 512u
/* The tiny caches of (2) and (5): created with entries = 1. */
#define KB 32u                  /* key bytes, like a map position */
#define VM 64u                  /* val_max, like a map node */

/* ---- deterministic keys and values --------------------------------------- */

/* splitmix64: its output is a bijection of the state, so the first 8 bytes
 * of key_of() differ for different ids. */
static uint64_t mix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void fill_bytes(uint64_t seed, uint8_t *p, size_t n)
{
	uint64_t s = seed, w = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (i % 8 == 0)
			w = mix64(&s);
		p[i] = (uint8_t)(w >> (8 * (i % 8)));
	}
}

/* A random-looking key of kb bytes, distinct for distinct ids (kb >= 8).
 * `space` separates the key sets of different tests. */
static void key_of(uint64_t space, uint64_t id, size_t kb, uint8_t *key)
{
	fill_bytes(space * 0x100000000ULL + id, key, kb);
}

/* The value a test stores for (key, tag): its length (1..vmax) and every
 * byte depend on both, so a record assembled from two puts does not match. */
static size_t val_of(const uint8_t *key, size_t kb, uint64_t tag, size_t vmax,
		     uint8_t *val)
{
	uint64_t s = 0x5157a1ed0b5e55edULL ^ tag, h = 0;
	size_t i, len;

	for (i = 0; i < kb; i++)
		h = (h ^ key[i]) * 0x100000001b3ULL;
	s ^= h * 0x9e3779b97f4a7c15ULL;
	len = 1 + (size_t)(mix64(&s) % vmax);
	fill_bytes(mix64(&s), val, len);
	return len;
}

/* 1 if (tag, val[0..len)) is what val_of gives for (key, tag). */
static int record_ok(const uint8_t *key, size_t kb, uint64_t tag, size_t vmax,
		     const uint8_t *val, size_t len)
{
	uint8_t want[KT_HOTCACHE_MAX_VAL];
	size_t wl = val_of(key, kb, tag, vmax, want);

	return wl == len && memcmp(want, val, len) == 0;
}

static void put_derived(kt_hotcache *c, const uint8_t *key, size_t kb,
			uint64_t tag, size_t vmax)
{
	uint8_t v[KT_HOTCACHE_MAX_VAL];
	size_t vl = val_of(key, kb, tag, vmax, v);

	kt_hotcache_put(c, key, tag, v, vl);
}

/* 1 if key hits; a hit must carry want_tag and its derived value. */
static int present(kt_hotcache *c, const uint8_t *key, size_t kb,
		   uint64_t want_tag, size_t vmax)
{
	uint8_t v[KT_HOTCACHE_MAX_VAL];
	uint64_t t = 0;
	size_t vl = 0;

	if (!kt_hotcache_get(c, key, UINT64_MAX, &t, v, &vl))
		return 0;
	assert_int_equal(t, want_tag);
	assert_true(record_ok(key, kb, t, vmax, v, vl));
	return 1;
}

static kt_hotcache *cache_new(size_t entries, size_t kb, size_t vmax)
{
	kt_hotcache *c = NULL;

	assert_int_equal(kt_hotcache_new(entries, kb, vmax, &c), KT_OK);
	assert_non_null(c);
	return c;
}

/* ---- (1) creation --------------------------------------------------------- */

static void expect_bad(size_t entries, size_t kb, size_t vmax)
{
	kt_hotcache *c = (kt_hotcache *)&c;   /* any non-NULL value */

	assert_int_equal(kt_hotcache_new(entries, kb, vmax, &c),
			 KT_ERR_INVALID_ARG);
	assert_null(c);
}

static void expect_good(size_t entries, size_t kb, size_t vmax)
{
	kt_hotcache_free(cache_new(entries, kb, vmax));
}

static void test_new_sizes(void **state)
{
	(void)state;
	/* each bad size, next to its smallest change that is good */
	expect_bad(16, 0, VM);
	expect_good(16, 1, VM);
	expect_bad(16, KT_HOTCACHE_MAX_KEY + 1, VM);
	expect_good(16, KT_HOTCACHE_MAX_KEY, VM);
	expect_bad(16, KB, 0);
	expect_good(16, KB, 1);
	expect_bad(16, KB, KT_HOTCACHE_MAX_VAL + 1);
	expect_good(16, KB, KT_HOTCACHE_MAX_VAL);
	expect_bad(KT_HOTCACHE_MAX_ENTRIES + 1, KB, VM);
	expect_bad(SIZE_MAX, KB, VM);
	/* (KT_HOTCACHE_MAX_ENTRIES itself would reserve ~GBs: not made here.)
	 * Bad sizes are refused even when nothing would be allocated. */
	expect_bad(0, 0, VM);
	expect_bad(0, KB, KT_HOTCACHE_MAX_VAL + 1);
}

static void test_capacity(void **state)
{
	static const size_t want[][2] = {
		{ 1, STRIPE_MIN },          { STRIPE_MIN - 1, STRIPE_MIN },
		{ STRIPE_MIN, STRIPE_MIN }, { STRIPE_MIN + 1, 2 * STRIPE_MIN },
		{ 4096, 4096 },             { 4097, 8192 },
		{ 100000, 131072 },
	};
	size_t i, n;
	kt_hotcache *c;

	(void)state;
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		c = cache_new(want[i][0], KB, VM);
		n = kt_hotcache_capacity(c);
		assert_int_equal(n, want[i][1]);
		assert_int_equal(n & (n - 1), 0);          /* a power of two */
		assert_true(n >= want[i][0] && n >= STRIPE_MIN);
		kt_hotcache_free(c);
	}
}

static void test_null_cache(void **state)
{
	_Atomic uint64_t epoch = 3;
	uint8_t key[KB], v[VM] = { 0 }, out[VM];
	uint64_t tag = 77, hits = 9, misses = 9;
	size_t vl = 55;
	kt_hotcache *c = (kt_hotcache *)&c;

	(void)state;
	assert_int_equal(kt_hotcache_new(0, KB, VM, &c), KT_OK);
	assert_null(c);
	key_of(1, 1, KB, key);
	kt_hotcache_put(NULL, key, 1, v, 8);
	assert_int_equal(kt_hotcache_put_if(NULL, key, 1, v, 8, &epoch, 3), 0);
	assert_int_equal(kt_hotcache_get(NULL, key, UINT64_MAX, &tag, out, &vl),
			 0);
	assert_int_equal(tag, 77);      /* outputs untouched */
	assert_int_equal(vl, 55);
	kt_hotcache_drop(NULL, key);
	assert_int_equal(kt_hotcache_capacity(NULL), 0);
	kt_hotcache_counts(NULL, &hits, &misses);
	assert_int_equal(hits, 0);
	assert_int_equal(misses, 0);
	kt_hotcache_free(NULL);

	/* twin: the same calls on a real cache store, hit and count */
	c = cache_new(1, KB, VM);
	assert_int_equal(kt_hotcache_put_if(c, key, 1, v, 8, &epoch, 3), 1);
	assert_int_equal(kt_hotcache_get(c, key, UINT64_MAX, &tag, out, &vl), 1);
	assert_int_equal(tag, 1);
	assert_int_equal(vl, 8);
	assert_int_not_equal(kt_hotcache_capacity(c), 0);
	kt_hotcache_counts(c, &hits, &misses);
	assert_int_equal(hits, 1);
	kt_hotcache_free(c);
}

/* ---- (2) round trip ------------------------------------------------------- */

/*
 * Filled to 50 % with random keys, a 4-way set holds Poisson(2) keys on
 * average and a key is lost when its set gets a fifth: the expected loss is
 * E[max(X - 4, 0)] / 2 = 3.7 % (X ~ Poisson(2)); at 25 % it is 0.4 %.  (A
 * direct-mapped table would lose 21 % and 12 %.)  The bounds leave room for
 * chance (the standard deviation at 32768 keys is about 0.2 %).
 */
#define LOSS_HALF_PERMILLE 50u          /* 5 % at 50 % load */
#define LOSS_QUARTER_PERMILLE 10u       /* 1 % at 25 % load */

/* Puts n keys of `space` (tag = id + 1), returns how many still hit. */
static size_t fill_and_count(kt_hotcache *c, uint64_t space, size_t n)
{
	uint8_t key[KB];
	size_t i, found = 0;

	for (i = 0; i < n; i++) {
		key_of(space, i, KB, key);
		put_derived(c, key, KB, i + 1, VM);
	}
	for (i = 0; i < n; i++) {
		key_of(space, i, KB, key);
		found += (size_t)present(c, key, KB, i + 1, VM);
	}
	return found;
}

static void test_roundtrip_many(void **state)
{
	kt_hotcache *c = cache_new(65536, KB, VM);
	size_t cap = kt_hotcache_capacity(c), n = cap / 2, found, i, b;
	uint8_t key[KB], v[VM];
	uint64_t t;
	size_t vl;

	(void)state;
	found = fill_and_count(c, 2, n);
	printf("# 50 %% load: %zu of %zu found (%.2f %% lost)\n", found, n,
	       100.0 * (double)(n - found) / (double)n);
	assert_true((n - found) * 1000 < n * LOSS_HALF_PERMILLE);

	/* keys never put miss; so does every one-bit change of a stored key */
	for (i = 0; i < n; i++) {
		key_of(3, i, KB, key);
		assert_int_equal(kt_hotcache_get(c, key, UINT64_MAX, &t, v, &vl),
				 0);
	}
	for (i = 0; i < 64; i++) {
		key_of(2, i, KB, key);
		if (!present(c, key, KB, i + 1, VM))
			continue;
		for (b = 0; b < KB * 8; b++) {
			key[b / 8] ^= (uint8_t)(1u << (b % 8));
			assert_int_equal(kt_hotcache_get(c, key, UINT64_MAX,
							 &t, v, &vl), 0);
			key[b / 8] ^= (uint8_t)(1u << (b % 8));
		}
		assert_true(present(c, key, KB, i + 1, VM));   /* twin */
	}
	kt_hotcache_free(c);

	/* at a quarter load nearly every key stays */
	c = cache_new(65536, KB, VM);
	n = kt_hotcache_capacity(c) / 4;
	found = fill_and_count(c, 4, n);
	assert_true((n - found) * 1000 < n * LOSS_QUARTER_PERMILLE);
	kt_hotcache_free(c);
}

/* Keys shaped like the caches' own, which differ in few bits: log nodes
 * (u8 level || u64 big-endian index, consecutive indices) and map
 * positions (u16 depth || 32-byte prefix with only the first depth bits of
 * a random index kept, 24 depths per index).  The hash must spread them as well as random keys:
 * the same loss bound at half load.  (A hash that read only the first 8
 * bytes, or dropped a tail shorter than a word, fails this.) */
static size_t fill_structured(kt_hotcache *c, size_t kb, size_t n, int map)
{
	uint8_t key[64], idx[32];
	size_t i, found = 0, d;

	for (int pass = 0; pass < 2; pass++)
		for (i = 0; i < n; i++) {
			memset(key, 0, sizeof(key));
			if (!map) {
				key[0] = (uint8_t)(i % 4);
				for (d = 0; d < 8; d++)
					key[1 + d] = (uint8_t)((i / 4) >> (56 - 8 * d));
			} else {
				/* depth 32..55: distinct prefixes for
				 * distinct indices (no duplicate keys) */
				d = 32 + i % 24;
				fill_bytes(i / 24 + 1, idx, sizeof(idx));
				key[0] = 0;
				key[1] = (uint8_t)d;
				memcpy(key + 2, idx, (d + 7) / 8);
				if (d % 8 != 0)
					key[2 + d / 8] &= (uint8_t)(0xff00u >> (d % 8));
			}
			if (pass == 0)
				put_derived(c, key, kb, i + 1, VM);
			else
				found += (size_t)present(c, key, kb, i + 1, VM);
		}
	return found;
}

static void test_structured_keys(void **state)
{
	kt_hotcache *c;
	size_t n, found;

	(void)state;
	c = cache_new(65536, 9, VM);
	n = kt_hotcache_capacity(c) / 2;
	found = fill_structured(c, 9, n, 0);
	printf("# log-node keys at 50 %% load: %.2f %% lost\n",
	       100.0 * (double)(n - found) / (double)n);
	assert_true((n - found) * 1000 < n * LOSS_HALF_PERMILLE);
	kt_hotcache_free(c);
	c = cache_new(65536, 34, VM);
	n = kt_hotcache_capacity(c) / 2;
	found = fill_structured(c, 34, n, 1);
	printf("# map-position keys at 50 %% load: %.2f %% lost\n",
	       100.0 * (double)(n - found) / (double)n);
	assert_true((n - found) * 1000 < n * LOSS_HALF_PERMILLE);
	kt_hotcache_free(c);
}

/* The largest keys and values, and the smallest (1-byte keys: all 256). */
static void test_roundtrip_sizes(void **state)
{
	kt_hotcache *c = cache_new(1, KT_HOTCACHE_MAX_KEY, KT_HOTCACHE_MAX_VAL);
	uint8_t key[KT_HOTCACHE_MAX_KEY], v[KT_HOTCACHE_MAX_VAL];
	uint64_t t = 0;
	size_t vl = 0, i, b, found = 0;

	(void)state;
	for (i = 0; i < 8; i++) {
		key_of(5, i, KT_HOTCACHE_MAX_KEY, key);
		put_derived(c, key, KT_HOTCACHE_MAX_KEY, i, KT_HOTCACHE_MAX_VAL);
		assert_true(present(c, key, KT_HOTCACHE_MAX_KEY, i,
				    KT_HOTCACHE_MAX_VAL));
		/* the last key bit counts as much as the first */
		for (b = 0; b < KT_HOTCACHE_MAX_KEY * 8; b += 7) {
			key[b / 8] ^= (uint8_t)(1u << (b % 8));
			assert_int_equal(kt_hotcache_get(c, key, UINT64_MAX,
							 &t, v, &vl), 0);
			key[b / 8] ^= (uint8_t)(1u << (b % 8));
		}
		key[KT_HOTCACHE_MAX_KEY - 1] ^= 0x80;
		assert_int_equal(kt_hotcache_get(c, key, UINT64_MAX, &t, v, &vl),
				 0);
	}
	/* a value of exactly val_max bytes */
	memset(v, 0xA5, sizeof(v));
	kt_hotcache_put(c, key, 9, v, KT_HOTCACHE_MAX_VAL);
	memset(v, 0, sizeof(v));
	assert_int_equal(kt_hotcache_get(c, key, UINT64_MAX, &t, v, &vl), 1);
	assert_int_equal(vl, KT_HOTCACHE_MAX_VAL);
	assert_int_equal(v[0], 0xA5);
	assert_int_equal(v[KT_HOTCACHE_MAX_VAL - 1], 0xA5);
	kt_hotcache_free(c);

	c = cache_new(1, 1, 1);
	for (i = 0; i < 256; i++) {
		key[0] = (uint8_t)i;
		v[0] = (uint8_t)(255 - i);
		kt_hotcache_put(c, key, i, v, 1);
	}
	for (i = 0; i < 256; i++) {
		key[0] = (uint8_t)i;
		if (!kt_hotcache_get(c, key, UINT64_MAX, &t, v, &vl))
			continue;
		found++;
		assert_int_equal(t, i);
		assert_int_equal(vl, 1);
		assert_int_equal(v[0], 255 - i);
	}
	assert_true(found > 200);       /* 256 keys in 128 sets of 4 */
	kt_hotcache_free(c);
}

static void test_tag_and_value(void **state)
{
	kt_hotcache *c = cache_new(1, KB, VM);
	uint8_t key[KB], v[VM + 1], out[VM];
	uint64_t t;
	size_t vl, i;

	(void)state;
	key_of(6, 0, KB, key);
	for (i = 0; i < sizeof(v); i++)
		v[i] = (uint8_t)(i * 7 + 1);
	kt_hotcache_put(c, key, 100, v, 13);

	/* max_tag below the stored tag misses, outputs untouched */
	t = 1;
	vl = 2;
	memset(out, 0xEE, sizeof(out));
	assert_int_equal(kt_hotcache_get(c, key, 99, &t, out, &vl), 0);
	assert_int_equal(kt_hotcache_get(c, key, 0, &t, out, &vl), 0);
	assert_int_equal(t, 1);
	assert_int_equal(vl, 2);
	assert_int_equal(out[0], 0xEE);
	/* at or above it hits, with the tag and the exact bytes and length */
	assert_int_equal(kt_hotcache_get(c, key, 100, &t, out, &vl), 1);
	assert_int_equal(t, 100);
	assert_int_equal(vl, 13);
	assert_memory_equal(out, v, 13);
	assert_int_equal(out[13], 0xEE);        /* nothing beyond the length */
	assert_int_equal(kt_hotcache_get(c, key, 101, &t, out, &vl), 1);
	assert_int_equal(kt_hotcache_get(c, key, UINT64_MAX, &t, out, &vl), 1);

	/* tag 0 and an empty value are records too */
	kt_hotcache_put(c, key, 0, v, 0);
	assert_int_equal(kt_hotcache_get(c, key, 0, &t, out, &vl), 1);
	assert_int_equal(t, 0);
	assert_int_equal(vl, 0);

	/* a value longer than val_max is not stored; val_max bytes are */
	key_of(6, 1, KB, key);
	kt_hotcache_put(c, key, 5, v, VM + 1);
	assert_int_equal(kt_hotcache_get(c, key, UINT64_MAX, &t, out, &vl), 0);
	kt_hotcache_put(c, key, 5, v, VM);
	assert_int_equal(kt_hotcache_get(c, key, UINT64_MAX, &t, out, &vl), 1);
	assert_int_equal(vl, VM);
	assert_memory_equal(out, v, VM);
	/* ... and an over-long value for a stored key drops the older record
	 * (a later get must not return what the caller meant to replace) */
	kt_hotcache_put(c, key, 6, v + 1, VM + 1);
	assert_int_equal(kt_hotcache_get(c, key, UINT64_MAX, &t, out, &vl), 0);
	kt_hotcache_free(c);
}

/* Which of keys [0, n) of `space` (tag: tags[i]) hit, into bits[]. */
static void snapshot(kt_hotcache *c, uint64_t space, size_t n,
		     const uint64_t *tags, uint8_t *bits)
{
	uint8_t key[KB];
	size_t i;

	for (i = 0; i < n; i++) {
		key_of(space, i, KB, key);
		bits[i] = (uint8_t)present(c, key, KB, tags[i], VM);
	}
}

#define REPL_BASE 512u          /* keys filling a minimum cache */
#define REPL_X 100u             /* keys put over and over */
#define REPL_ROUNDS 100u
#define REPL_ONE 10000u

/*
 * Replacing a key's record returns the new one and takes no second slot.
 * A minimum cache is filled to 100 % (most sets full), then REPL_X new keys
 * are put once (which may evict), the survivors noted; then those keys are
 * put again and again with new tags and one of them REPL_ONE times: nothing
 * else may be lost.  Twin: REPL_X further new keys do evict.
 */
static void test_replace_no_second_slot(void **state)
{
	kt_hotcache *c = cache_new(1, KB, VM);
	uint64_t tags[REPL_BASE + REPL_X];
	uint8_t before[REPL_BASE + REPL_X], after[REPL_BASE + REPL_X];
	uint8_t key[KB];
	size_t i, r, x, lost = 0;

	(void)state;
	assert_int_equal(kt_hotcache_capacity(c), REPL_BASE);
	/* ids [0, BASE) are the base keys, [BASE, BASE + X) the replaced ones */
	for (i = 0; i < REPL_BASE + REPL_X; i++) {
		tags[i] = i;
		key_of(7, i, KB, key);
		put_derived(c, key, KB, tags[i], VM);
	}
	snapshot(c, 7, REPL_BASE + REPL_X, tags, before);
	for (r = 1; r < REPL_ROUNDS; r++)
		for (i = REPL_BASE; i < REPL_BASE + REPL_X; i++) {
			tags[i] = r * 1000 + i;
			key_of(7, i, KB, key);
			if (before[i]) {
				put_derived(c, key, KB, tags[i], VM);
				assert_true(present(c, key, KB, tags[i], VM));
			}
		}
	/* one of them (one that stayed) REPL_ONE times */
	for (x = REPL_BASE; x < REPL_BASE + REPL_X && !before[x]; x++)
		;
	assert_true(x < REPL_BASE + REPL_X);
	key_of(7, x, KB, key);
	for (r = 0; r < REPL_ONE; r++) {
		tags[x] = 1000000 + r;
		put_derived(c, key, KB, tags[x], VM);
	}
	assert_true(present(c, key, KB, tags[x], VM));
	snapshot(c, 7, REPL_BASE + REPL_X, tags, after);
	assert_memory_equal(before, after, sizeof(before));

	/* twin: the same check sees keys go when new keys are put */
	for (i = 0; i < REPL_X; i++) {
		key_of(8, i, KB, key);
		put_derived(c, key, KB, 1, VM);
	}
	snapshot(c, 7, REPL_BASE + REPL_X, tags, after);
	for (i = 0; i < REPL_BASE + REPL_X; i++) {
		assert_true(after[i] <= before[i]);   /* nothing comes back */
		lost += (size_t)(before[i] && !after[i]);
	}
	assert_true(lost > 0);
	kt_hotcache_free(c);
}

/* ---- (3) drop -------------------------------------------------------------- */

#define DROP_N 1000u

static void test_drop(void **state)
{
	kt_hotcache *c = cache_new(65536, KB, VM);
	uint8_t key[KB];
	uint64_t tags[DROP_N];
	uint8_t bits[DROP_N];
	size_t i, gone = 0;

	(void)state;
	for (i = 0; i < DROP_N; i++) {
		tags[i] = i;
		key_of(9, i, KB, key);
		put_derived(c, key, KB, i, VM);
	}
	/* 1000 keys in 16384 sets: no set overflows (checked) */
	snapshot(c, 9, DROP_N, tags, bits);
	for (i = 0; i < DROP_N; i++)
		assert_int_equal(bits[i], 1);

	/* dropping keys never put, one bit away from a stored key, or twice */
	for (i = 0; i < DROP_N; i++) {
		key_of(10, i, KB, key);
		kt_hotcache_drop(c, key);
		key_of(9, i, KB, key);
		key[i % KB] ^= 1;
		kt_hotcache_drop(c, key);
	}
	snapshot(c, 9, DROP_N, tags, bits);
	for (i = 0; i < DROP_N; i++)
		assert_int_equal(bits[i], 1);

	/* dropping a stored key removes it and nothing else */
	for (i = 0; i < DROP_N; i += 3) {
		key_of(9, i, KB, key);
		kt_hotcache_drop(c, key);
		kt_hotcache_drop(c, key);
	}
	snapshot(c, 9, DROP_N, tags, bits);
	for (i = 0; i < DROP_N; i++) {
		assert_int_equal(bits[i], i % 3 != 0);
		gone += (size_t)!bits[i];
	}
	assert_int_equal(gone, (DROP_N + 2) / 3);

	/* a dropped key can be put again */
	key_of(9, 0, KB, key);
	put_derived(c, key, KB, 42, VM);
	assert_true(present(c, key, KB, 42, VM));
	kt_hotcache_free(c);
}

/* ---- (4) put_if ------------------------------------------------------------ */

static void test_put_if(void **state)
{
	kt_hotcache *c = cache_new(1, KB, VM);
	_Atomic uint64_t epoch = 6;
	uint8_t key[KB], v[VM + 1], out[VM];
	uint64_t t;
	size_t vl;

	(void)state;
	memset(v, 0x3C, sizeof(v));
	key_of(11, 0, KB, key);
	/* a changed epoch stores nothing */
	assert_int_equal(kt_hotcache_put_if(c, key, 1, v, 4, &epoch, 5), 0);
	assert_int_equal(kt_hotcache_put_if(c, key, 1, v, 4, &epoch, 7), 0);
	assert_int_equal(kt_hotcache_get(c, key, UINT64_MAX, &t, out, &vl), 0);
	/* the current one does */
	assert_int_equal(kt_hotcache_put_if(c, key, 1, v, 4, &epoch, 6), 1);
	assert_int_equal(kt_hotcache_get(c, key, UINT64_MAX, &t, out, &vl), 1);
	assert_int_equal(t, 1);
	assert_int_equal(vl, 4);

	/* after the epoch moves, a replacement under the old one is refused
	 * and the stored record stays as it was */
	atomic_store(&epoch, 8);
	memset(v, 0x77, sizeof(v));
	assert_int_equal(kt_hotcache_put_if(c, key, 2, v, 9, &epoch, 6), 0);
	assert_int_equal(kt_hotcache_get(c, key, UINT64_MAX, &t, out, &vl), 1);
	assert_int_equal(t, 1);
	assert_int_equal(vl, 4);
	assert_int_equal(out[0], 0x3C);
	/* under the new epoch it goes through */
	assert_int_equal(kt_hotcache_put_if(c, key, 2, v, 9, &epoch, 8), 1);
	assert_int_equal(kt_hotcache_get(c, key, UINT64_MAX, &t, out, &vl), 1);
	assert_int_equal(t, 2);
	assert_int_equal(vl, 9);
	assert_int_equal(out[0], 0x77);
	/* a too-long value is not stored even under the right epoch, and
	 * the key's older record is gone */
	assert_int_equal(kt_hotcache_put_if(c, key, 3, v, VM + 1, &epoch, 8), 0);
	assert_int_equal(kt_hotcache_get(c, key, UINT64_MAX, &t, out, &vl), 0);
	kt_hotcache_free(c);
}

/* ---- (5) eviction never gives a wrong record ------------------------------- */

#define EVICT_FACTOR 10u
#define ABSENT_PROBES 2000000u

/*
 * A minimum cache gets 10x its capacity in keys, each read back at random
 * while the flood goes on; then every key is read: a hit must be exact.
 * Then millions of absent keys are probed against the full cache: with
 * 16-bit fingerprints and 4 compared per probe, about 2e6 * 4 / 65536 = 120
 * of them match a stored fingerprint, and must still miss on the key.
 * Twin: the checker rejects a record under a neighbouring tag.
 */
static void test_eviction_safety(void **state)
{
	kt_hotcache *c = cache_new(1, KB, VM);
	size_t cap = kt_hotcache_capacity(c), n = cap * EVICT_FACTOR, i, j;
	size_t hits = 0;
	uint64_t s = 12345, t;
	uint8_t key[KB], v[VM];
	size_t vl;

	(void)state;
	assert_int_equal(cap, STRIPE_MIN);
	for (i = 0; i < n; i++) {
		key_of(12, i, KB, key);
		put_derived(c, key, KB, i * 3 + 1, VM);
		j = (size_t)(mix64(&s) % (i + 1));
		key_of(12, j, KB, key);
		(void)present(c, key, KB, j * 3 + 1, VM);
	}
	for (i = 0; i < n; i++) {
		key_of(12, i, KB, key);
		hits += (size_t)present(c, key, KB, i * 3 + 1, VM);
	}
	assert_true(hits <= cap);
	assert_true(hits > cap / 2);    /* the cache is in use, not empty */

	for (i = 0; i < ABSENT_PROBES; i++) {
		key_of(13, i, KB, key);
		assert_int_equal(kt_hotcache_get(c, key, UINT64_MAX, &t, v, &vl),
				 0);
	}

	/* twin: a record under another tag, or cut short, is caught */
	key_of(12, n - 1, KB, key);
	assert_int_equal(kt_hotcache_get(c, key, UINT64_MAX, &t, v, &vl), 1);
	assert_true(record_ok(key, KB, t, VM, v, vl));
	assert_false(record_ok(key, KB, t + 1, VM, v, vl));
	if (vl > 1)
		assert_false(record_ok(key, KB, t, VM, v, vl - 1));
	v[0] ^= 1;
	assert_false(record_ok(key, KB, t, VM, v, vl));
	kt_hotcache_free(c);
}

/*
 * Keys that share a set and a fingerprint must still be told apart by
 * their bytes.  The pairs are found with the public kt_hotcache_hash the
 * way hotcache.c places keys today (hash tag 0xC5; set from the low bits;
 * fingerprint from the top 16): if that changes, the pairs merely stop
 * colliding and the checks below still hold.  Pairs differ only in the
 * last key byte, or only in the first.
 */
#define COLL_PAIRS 4u

static size_t find_pairs(size_t mask, size_t pos, uint8_t (*a)[KB],
			 uint8_t (*b)[KB])
{
	uint64_t seen[256];
	uint8_t key[KB];
	uint64_t id, h;
	size_t n = 0, v, u;

	for (id = 0; id < 4000000 && n < COLL_PAIRS; id++) {
		key_of(16, id, KB, key);
		for (v = 0; v < 256 && n < COLL_PAIRS; v++) {
			key[pos] = (uint8_t)v;
			h = kt_hotcache_hash(0xC5, key, KB);
			seen[v] = (h >> 48) << 32 | (h & mask & ~(uint64_t)3);
			for (u = 0; u < v; u++)
				if (seen[u] == seen[v])
					break;
			if (u == v)
				continue;
			memcpy(a[n], key, KB);
			memcpy(b[n], key, KB);
			a[n][pos] = (uint8_t)u;
			n++;
			break;
		}
	}
	return n;
}

static void test_fingerprint_collisions(void **state)
{
	kt_hotcache *c = cache_new(1, KB, VM);
	size_t mask = kt_hotcache_capacity(c) - 1, n, i, k;
	static const size_t pos[2] = { KB - 1, 0 };
	uint8_t a[COLL_PAIRS][KB], b[COLL_PAIRS][KB], v[VM];
	uint64_t t;
	size_t vl;

	(void)state;
	for (k = 0; k < 2; k++) {
		n = find_pairs(mask, pos[k], a, b);
		assert_int_equal(n, COLL_PAIRS);
		for (i = 0; i < n; i++) {
			assert_memory_not_equal(a[i], b[i], KB);
			put_derived(c, a[i], KB, 1, VM);
			assert_int_equal(kt_hotcache_get(c, b[i], UINT64_MAX,
							 &t, v, &vl), 0);
			kt_hotcache_drop(c, b[i]);
			assert_true(present(c, a[i], KB, 1, VM));
			put_derived(c, b[i], KB, 2, VM);
			assert_true(present(c, b[i], KB, 2, VM));
			assert_true(present(c, a[i], KB, 1, VM));
			kt_hotcache_drop(c, a[i]);
			assert_false(present(c, a[i], KB, 1, VM));
			assert_true(present(c, b[i], KB, 2, VM));
			kt_hotcache_drop(c, b[i]);
		}
	}
	kt_hotcache_free(c);
}

/* ---- (6) counters ---------------------------------------------------------- */

static void expect_counts(const kt_hotcache *c, uint64_t h, uint64_t m)
{
	uint64_t hits = 99, misses = 99;

	kt_hotcache_counts(c, &hits, &misses);
	assert_int_equal(hits, h);
	assert_int_equal(misses, m);
}

static void test_counters(void **state)
{
	kt_hotcache *c = cache_new(1, KB, VM);
	uint8_t a[KB], b[KB], v[VM] = { 0 };
	uint64_t t, i;
	size_t vl;

	(void)state;
	key_of(14, 0, KB, a);
	key_of(14, 1, KB, b);
	expect_counts(c, 0, 0);
	kt_hotcache_put(c, a, 10, v, 1);        /* puts and drops count nothing */
	kt_hotcache_drop(c, b);
	expect_counts(c, 0, 0);
	assert_int_equal(kt_hotcache_get(c, a, 10, &t, v, &vl), 1);
	expect_counts(c, 1, 0);
	assert_int_equal(kt_hotcache_get(c, b, 10, &t, v, &vl), 0);
	expect_counts(c, 1, 1);
	assert_int_equal(kt_hotcache_get(c, a, 9, &t, v, &vl), 0); /* tag */
	expect_counts(c, 1, 2);
	for (i = 0; i < 1000; i++)
		(void)kt_hotcache_get(c, (i & 1) ? a : b, 10, &t, v, &vl);
	expect_counts(c, 501, 502);
	kt_hotcache_drop(c, a);
	assert_int_equal(kt_hotcache_get(c, a, 10, &t, v, &vl), 0);
	expect_counts(c, 501, 503);
	kt_hotcache_free(c);
}

/* ---- (7) threads ----------------------------------------------------------- */

#define TH_N 4u
#define TH_KEYS 1024u           /* twice the minimum cache: evictions too */
#define TH_HOT 8u
#define TH_VM KT_HOTCACHE_MAX_VAL
#define TH_NS 1000000000LL      /* run for about 1 s */

struct worker {
	kt_hotcache *c;
	_Atomic uint64_t *epoch;
	const uint8_t (*keys)[KB];
	uint64_t seed;
	uint64_t gets, hits, bad, puts, put_ifs, drops;
};

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void worker_step(struct worker *w)
{
	uint8_t v[TH_VM];
	uint64_t r = mix64(&w->seed), tag = mix64(&w->seed) % 100000, t, e;
	/* half the operations on a few hot keys (same-key races), half over
	 * all keys (evictions) */
	const uint8_t *key = w->keys[(r >> 63) ? r % TH_HOT : r % TH_KEYS];
	size_t vl;

	switch ((r >> 32) % 8) {
	case 0: case 1: case 2: case 3:
		w->gets++;
		if (kt_hotcache_get(w->c, key, UINT64_MAX, &t, v, &vl)) {
			w->hits++;
			w->bad += (uint64_t)!record_ok(key, KB, t, TH_VM, v, vl);
		}
		break;
	case 4: case 5:
		w->puts++;
		put_derived(w->c, key, KB, tag, TH_VM);
		break;
	case 6:
		w->drops++;
		kt_hotcache_drop(w->c, key);
		if ((r >> 40) % 16 == 0)
			atomic_fetch_add(w->epoch, 1);
		break;
	default:
		w->put_ifs++;
		e = atomic_load(w->epoch);
		vl = val_of(key, KB, tag, TH_VM, v);
		(void)kt_hotcache_put_if(w->c, key, tag, v, vl, w->epoch, e);
		break;
	}
}

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	long long end = now_ns() + TH_NS;
	unsigned i;

	do {
		for (i = 0; i < 1024; i++)
			worker_step(w);
	} while (now_ns() < end);
	return NULL;
}

static void test_threads(void **state)
{
	static uint8_t keys[TH_KEYS][KB];
	kt_hotcache *c = cache_new(1, KB, TH_VM);
	_Atomic uint64_t epoch = 0;
	struct worker w[TH_N];
	pthread_t th[TH_N];
	uint64_t gets = 0, hits = 0, bad = 0, ch, cm;
	size_t i;

	(void)state;
	for (i = 0; i < TH_KEYS; i++)
		key_of(15, i, KB, keys[i]);
	memset(w, 0, sizeof(w));
	for (i = 0; i < TH_N; i++) {
		w[i].c = c;
		w[i].epoch = &epoch;
		w[i].keys = (const uint8_t (*)[KB])keys;
		w[i].seed = 1000 + i;
		assert_int_equal(pthread_create(&th[i], NULL, worker_run, &w[i]),
				 0);
	}
	for (i = 0; i < TH_N; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		gets += w[i].gets;
		hits += w[i].hits;
		bad += w[i].bad;
		assert_true(w[i].puts > 0 && w[i].put_ifs > 0 && w[i].drops > 0);
	}
	printf("# threads: %llu gets, %llu hits, %llu bad\n",
	       (unsigned long long)gets, (unsigned long long)hits,
	       (unsigned long long)bad);
	assert_int_equal(bad, 0);
	assert_true(hits > 0 && hits < gets);   /* both outcomes were seen */
	kt_hotcache_counts(c, &ch, &cm);
	assert_int_equal(ch, hits);
	assert_int_equal(ch + cm, gets);
	kt_hotcache_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_sizes),
		cmocka_unit_test(test_capacity),
		cmocka_unit_test(test_null_cache),
		cmocka_unit_test(test_roundtrip_many),
		cmocka_unit_test(test_roundtrip_sizes),
		cmocka_unit_test(test_structured_keys),
		cmocka_unit_test(test_tag_and_value),
		cmocka_unit_test(test_replace_no_second_slot),
		cmocka_unit_test(test_drop),
		cmocka_unit_test(test_put_if),
		cmocka_unit_test(test_eviction_safety),
		cmocka_unit_test(test_fingerprint_collisions),
		cmocka_unit_test(test_counters),
		cmocka_unit_test(test_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
