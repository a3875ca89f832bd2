/*
 * server_test_namecache.c — the account name cache (storage.c,
 * kt_storage_account_index_cached) and the read path that uses it
 * (reader.c, kt_reader_account_index_head).
 *
 * The cache keeps committed name -> index records in memory.  These tests
 * fail if it ever answers with something the database does not hold:
 *   - a name rewritten by a later commit is answered with its new index
 *     (the commit drops the cached one), while later versions of an
 *     account do not rewrite (nor drop) its name;
 *   - a name that was absent is not remembered as absent;
 *   - a reader whose snapshot predates an account answers "no such
 *     account" (absence proof, the VRF proof a fresh computation gives)
 *     although the cache already knows the name, and a database that holds
 *     a name without its head is still reported as corrupt;
 *   - warming fills it, and a disabled cache gives the same answers.
 */
#define _GNU_SOURCE 1
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "config.h"
#include "kt_enc.h"
#include "kt_map.h"
#include "log.h"
#include "node.h"
#include "reader.h"
#include "storage.h"
#include "kt_test_fs.h"
#include "server_test_util.h"

/* ---- fixtures ---------------------------------------------------------- */

struct fx {
	char dir[64];
	kt_storage_options opt;
	kt_storage *st;
	kt_config cfg;
	kt_node *node;
	int have_cfg;
};

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/kt-namecache-test-XXXXXX");
	if (mkdtemp(f->dir) == NULL) {
		free(f);
		return -1;
	}
	kt_storage_options_init(&f->opt);
	/* small caches: a test process must stay light */
	f->opt.cache_entries = 1024;
	f->opt.log_cache_entries = 1024;
	f->opt.name_cache_entries = 1024;
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;

	kt_node_close(f->node);
	kt_storage_close(f->st);
	if (f->have_cfg)
		kt_config_free(&f->cfg);
	kt_test_rm_tree(f->dir);
	free(f);
	return 0;
}

static void fx_open(struct fx *f)
{
	assert_int_equal(kt_storage_open(f->dir, &f->opt, &f->st), KT_OK);
}

static uint64_t name_hits(kt_storage *st)
{
	kt_storage_stats s;

	kt_storage_get_stats(st, &s);
	return s.name_cache_hits;
}

/* Commits the head of account `name` with index idx at head version. */
static void put_head(kt_storage *st, const char *name, uint8_t idx_byte,
		     uint64_t version, uint64_t applied)
{
	kt_storage_batch *b = NULL;
	kt_storage_account_head head;
	uint8_t idx[KT_INDEX_BYTES];

	memset(&head, 0, sizeof(head));
	memset(idx, idx_byte, sizeof(idx));
	head.version = version;
	memset(head.vrf_proof, idx_byte, sizeof(head.vrf_proof));
	head.account_len = strlen(name);
	memcpy(head.account, name, head.account_len);
	assert_int_equal(kt_storage_batch_begin(st, &b), KT_OK);
	assert_int_equal(kt_storage_batch_account_head_put(b, idx, &head), KT_OK);
	assert_int_equal(kt_storage_batch_commit(b, applied), KT_OK);
}

/* Commits account `name` with index idx (head version 1: its creation). */
static void put_account(kt_storage *st, const char *name, uint8_t idx_byte,
			uint64_t applied)
{
	put_head(st, name, idx_byte, 1, applied);
}

/* Rewrites only the name record of `name` (a repair, or a corrupt write). */
static void put_name(kt_storage *st, const char *name, uint8_t idx_byte,
		     uint64_t applied)
{
	kt_storage_batch *b = NULL;
	uint8_t idx[KT_INDEX_BYTES];

	memset(idx, idx_byte, sizeof(idx));
	assert_int_equal(kt_storage_batch_begin(st, &b), KT_OK);
	assert_int_equal(kt_storage_batch_put(b, KT_CF_ACCOUNT_NAMES,
					      (const uint8_t *)name,
					      strlen(name), idx, sizeof(idx)),
			 KT_OK);
	assert_int_equal(kt_storage_batch_commit(b, applied), KT_OK);
}

static void expect_index(kt_storage *st, const char *name, uint8_t idx_byte)
{
	uint8_t got[KT_INDEX_BYTES], want[KT_INDEX_BYTES];

	memset(want, idx_byte, sizeof(want));
	assert_int_equal(kt_storage_account_index_cached(st, (const uint8_t *)name,
							 strlen(name), got),
			 KT_OK);
	assert_memory_equal(got, want, sizeof(want));
}

/* ---- storage ----------------------------------------------------------- */

static void test_cached_and_rewritten(void **state)
{
	struct fx *f = *state;
	uint64_t h0;

	fx_open(f);
	put_account(f->st, "tel:+1", 0x11, 1);
	expect_index(f->st, "tel:+1", 0x11);      /* miss: read and cached */
	h0 = name_hits(f->st);
	expect_index(f->st, "tel:+1", 0x11);      /* from the cache */
	assert_int_equal(name_hits(f->st), h0 + 1);
	/* a later commit rewrites the name: the cached index must go */
	put_name(f->st, "tel:+1", 0x22, 2);
	expect_index(f->st, "tel:+1", 0x22);
	expect_index(f->st, "tel:+1", 0x22);
	assert_int_equal(name_hits(f->st), h0 + 2); /* cached again */
}

/* A later version of an account writes its head, not its name again:
 * the cached name survives the commit (a hit, no miss).  Twin: the
 * creation of an account (version 1) does write the name. */
static void test_later_versions_keep_the_name(void **state)
{
	struct fx *f = *state;
	kt_storage_stats s0, s1;
	uint8_t got[KT_INDEX_BYTES];

	fx_open(f);
	put_account(f->st, "tel:+3", 0x33, 1);
	expect_index(f->st, "tel:+3", 0x33);      /* miss: read and cached */
	put_head(f->st, "tel:+3", 0x33, 2, 2);
	put_head(f->st, "tel:+3", 0x33, 3, 3);
	kt_storage_get_stats(f->st, &s0);
	expect_index(f->st, "tel:+3", 0x33);
	kt_storage_get_stats(f->st, &s1);
	assert_int_equal(s1.name_cache_hits, s0.name_cache_hits + 1);
	assert_int_equal(s1.name_cache_misses, s0.name_cache_misses);
	/* a head at version 2 of a name never created writes no name */
	put_head(f->st, "tel:+4", 0x44, 2, 4);
	assert_int_equal(kt_storage_account_index_cached(f->st,
							 (const uint8_t *)"tel:+4",
							 6, got),
			 KT_ERR_NOT_FOUND);
	/* twin: version 1 writes it */
	put_head(f->st, "tel:+4", 0x44, 1, 5);
	expect_index(f->st, "tel:+4", 0x44);
}

static void test_absent_not_remembered(void **state)
{
	struct fx *f = *state;
	uint8_t got[KT_INDEX_BYTES];

	fx_open(f);
	assert_int_equal(kt_storage_account_index_cached(f->st,
							 (const uint8_t *)"x", 1,
							 got),
			 KT_ERR_NOT_FOUND);
	put_account(f->st, "x", 0x33, 1);
	expect_index(f->st, "x", 0x33);
	/* bad lengths are refused, not looked up */
	assert_int_equal(kt_storage_account_index_cached(f->st,
							 (const uint8_t *)"x", 0,
							 got),
			 KT_ERR_INVALID_ARG);
	assert_int_equal(kt_storage_account_index_cached(f->st, NULL, 1, got),
			 KT_ERR_INVALID_ARG);
}

static void test_newer_than_a_view(void **state)
{
	struct fx *f = *state;
	kt_storage_view *v = NULL;
	kt_storage_account_head head;
	uint8_t idx[KT_INDEX_BYTES];

	fx_open(f);
	put_account(f->st, "a", 0x01, 1);
	assert_int_equal(kt_storage_view_open(f->st, &v), KT_OK);
	put_account(f->st, "b", 0x02, 2);
	/* the cache (latest state) knows b ... */
	expect_index(f->st, "b", 0x02);
	expect_index(f->st, "b", 0x02);
	/* ... the view does not: a caller must check the head in its view */
	assert_int_equal(kt_storage_account_index_get(f->st, v,
						      (const uint8_t *)"b", 1,
						      idx),
			 KT_ERR_NOT_FOUND);
	memset(idx, 0x02, sizeof(idx));
	assert_int_equal(kt_storage_account_head_get(f->st, v, idx, &head),
			 KT_ERR_NOT_FOUND);
	memset(idx, 0x01, sizeof(idx));
	assert_int_equal(kt_storage_account_head_get(f->st, v, idx, &head),
			 KT_OK);
	kt_storage_view_close(v);
}

static void test_warm_and_disabled(void **state)
{
	struct fx *f = *state;
	kt_storage_warm_stats ws;
	char name[16];
	uint64_t h0;
	int i;

	fx_open(f);
	for (i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "n%02d", i);
		put_account(f->st, name, (uint8_t)(i + 1), (uint64_t)i + 1);
	}
	/* a restart empties the cache; warming fills it */
	kt_storage_close(f->st);
	f->st = NULL;
	fx_open(f);
	assert_int_equal(kt_storage_warm_caches(f->st, NULL, NULL, &ws), KT_OK);
	assert_int_equal(ws.names, 40);
	h0 = name_hits(f->st);
	for (i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "n%02d", i);
		expect_index(f->st, name, (uint8_t)(i + 1));
	}
	assert_true(name_hits(f->st) >= h0 + 36); /* 4-way sets may lose a few */
	/* the same answers without a cache */
	kt_storage_close(f->st);
	f->st = NULL;
	f->opt.name_cache_entries = 0;
	fx_open(f);
	assert_int_equal(kt_storage_warm_caches(f->st, NULL, NULL, &ws), KT_OK);
	assert_int_equal(ws.names, 0);
	for (i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "n%02d", i);
		expect_index(f->st, name, (uint8_t)(i + 1));
	}
	assert_int_equal(name_hits(f->st), 0);
}

/* ---- the read path, on a dev node ---------------------------------------- */

static void set(kt_config *cfg, const char *kv)
{
	char err[256] = "";

	if (kt_config_set(cfg, kv, err, sizeof(err)) != KT_OK)
		fail_msg("config %s: %s", kv, err);
}

static void node_open(struct fx *f)
{
	char kv[128], err[256] = "";

	kt_slog_set_level(KT_SLOG_ERROR);
	assert_int_equal(kt_config_init(&f->cfg), KT_OK);
	f->have_cfg = 1;
	set(&f->cfg, "dev_mode=true");
	set(&f->cfg, "map_cache_nodes=1024");
	set(&f->cfg, "log_cache_nodes=1024");
	snprintf(kv, sizeof(kv), "data_dir=%s/node", f->dir);
	set(&f->cfg, kv);
	assert_int_equal(kt_config_validate(&f->cfg, err, sizeof(err)), KT_OK);
	if (kt_node_open(&f->cfg, &f->node, err, sizeof(err)) != KT_OK)
		fail_msg("node: %s", err);
}

/* Commits an operator change that creates `account`; waits until it is
 * readable. */
static void create_account(kt_node *n, const char *account)
{
	kt_change_result res = kt_test_node_operator_change(n, account);
	kt_reader r;
	int i;

	assert_int_equal(res.code, KT_OK);
	for (i = 0; i < 1000; i++) {
		assert_int_equal(kt_reader_open(&r, n, 0), KT_OK);
		if (r.size > res.log_index) {
			kt_reader_close(&r);
			return;
		}
		kt_reader_close(&r);
		usleep(10000);
	}
	fail_msg("the account's checkpoint never came");
}

static void test_reader_older_than_account(void **state)
{
	struct fx *f = *state;
	kt_reader old, now;
	kt_read_account a_old, a_now;
	kt_storage_account_head head;
	uint8_t idx[KT_INDEX_BYTES], vrf[KT_VRF_PROOF_BYTES];
	uint8_t late_idx[KT_INDEX_BYTES];
	uint64_t h0;
	int known = -1;

	node_open(f);
	create_account(f->node, "first");
	/* a read opened before "late" exists ... */
	assert_int_equal(kt_reader_open(&old, f->node, 0), KT_OK);
	create_account(f->node, "late");
	/* ... while a new read finds it (and the cache learns its name) */
	assert_int_equal(kt_reader_open(&now, f->node, 0), KT_OK);
	assert_int_equal(kt_reader_account(&now, (const uint8_t *)"late", 4,
					   &a_now), KT_OK);
	assert_true(a_now.exists);
	assert_int_equal(a_now.map_proof[0], KT_MAP_PROOF_INCLUSION);
	h0 = name_hits(kt_node_storage(f->node));
	/* the old read must not see it: absent at its size, with the very
	 * VRF proof and index a computation gives */
	assert_int_equal(kt_reader_account(&old, (const uint8_t *)"late", 4,
					   &a_old), KT_OK);
	assert_true(name_hits(kt_node_storage(f->node)) > h0); /* via the cache */
	assert_false(a_old.exists);
	assert_int_equal(a_old.version, 0);
	assert_int_not_equal(a_old.map_proof[0], KT_MAP_PROOF_INCLUSION);
	assert_memory_equal(a_old.index, a_now.index, KT_INDEX_BYTES);
	assert_memory_equal(a_old.vrf_proof, a_now.vrf_proof, KT_VRF_PROOF_BYTES);
	memcpy(late_idx, a_now.index, KT_INDEX_BYTES);
	/* and an account both see is the same for both */
	kt_read_account_clear(&a_old);
	kt_read_account_clear(&a_now);
	assert_int_equal(kt_reader_account(&old, (const uint8_t *)"first", 5,
					   &a_old), KT_OK);
	assert_int_equal(kt_reader_account(&now, (const uint8_t *)"first", 5,
					   &a_now), KT_OK);
	assert_true(a_old.exists && a_now.exists);
	assert_memory_equal(a_old.leaf, a_now.leaf, KT_MAP_LEAF_BYTES);
	/* the update path's resolution: known, with its head, in a fresh view */
	assert_int_equal(kt_reader_account_index_head(f->node, NULL,
						      (const uint8_t *)"late", 4,
						      idx, vrf, &head, &known),
			 KT_OK);
	assert_int_equal(known, 1);
	assert_int_equal(head.version, 1);
	assert_memory_equal(idx, late_idx, KT_INDEX_BYTES);
	assert_memory_equal(vrf, head.vrf_proof, KT_VRF_PROOF_BYTES);
	kt_read_account_clear(&a_old);
	kt_read_account_clear(&a_now);
	kt_reader_close(&old);
	kt_reader_close(&now);
}

/* Twin: a view that holds the name but not its head is a corrupt
 * database, cache or not. */
static void test_name_without_head_is_corrupt(void **state)
{
	struct fx *f = *state;
	kt_storage_account_head head;
	uint8_t idx[KT_INDEX_BYTES], vrf[KT_VRF_PROOF_BYTES];
	int known = -1;

	char dir[128];

	node_open(f);
	/* with the node closed, a name record without its head is written */
	kt_node_close(f->node);
	f->node = NULL;
	snprintf(dir, sizeof(dir), "%s/node", f->dir);
	assert_int_equal(kt_storage_open(dir, &f->opt, &f->st), KT_OK);
	put_name(f->st, "orphan", 0x44, KT_STORAGE_NO_INDEX);
	kt_storage_close(f->st);
	f->st = NULL;
	if (kt_node_open(&f->cfg, &f->node, dir, sizeof(dir)) != KT_OK)
		fail_msg("node: %s", dir);
	expect_index(kt_node_storage(f->node), "orphan", 0x44); /* cached */
	assert_int_equal(kt_reader_account_index_head(f->node, NULL,
						      (const uint8_t *)"orphan", 6,
						      idx, vrf, &head, &known),
			 KT_ERR_STORAGE);
	assert_int_equal(known, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_cached_and_rewritten, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_later_versions_keep_the_name,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_absent_not_remembered, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_newer_than_a_view, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_warm_and_disabled, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_reader_older_than_account,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_name_without_head_is_corrupt,
						fx_setup, fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
