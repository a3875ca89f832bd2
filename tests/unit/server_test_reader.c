/*
 * server_test_reader.c — the read path's newest size (server/reader.h) on a
 * real node (dev mode, RocksDB in a mkdtemp directory, removed after;
 * heartbeats every 100 ms make the log grow without any client).
 *
 *   (1) a read answers at the newest checkpoint ITS OWN snapshot holds: a
 *       view opened before the node published a newer checkpoint still
 *       gets the older size (the node's published head is newer; a read at
 *       that size through the old view would find no checkpoint — the race
 *       a verified load run found), while a view opened afterwards, the
 *       latest state and kt_reader_open see the new size;
 *   (2) kt_reader_open refuses a size beyond its view's newest checkpoint.
 */
#define _GNU_SOURCE 1
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "log.h"
#include "node.h"
#include "reader.h"
#include "storage.h"
#include "kt_test_fs.h"

#define WAIT_MS 20000u

struct fx {
	char dir[64];
	kt_config cfg;
	kt_node *node;
};

static void set(kt_config *cfg, const char *kv)
{
	char err[256] = "";

	if (kt_config_set(cfg, kv, err, sizeof(err)) != KT_OK)
		fail_msg("config %s: %s", kv, err);
}

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char kv[128], err[256] = "";

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/kt-reader-test-XXXXXX");
	if (mkdtemp(f->dir) == NULL || kt_config_init(&f->cfg) != KT_OK) {
		free(f);
		return -1;
	}
	kt_slog_set_level(KT_SLOG_ERROR);
	set(&f->cfg, "dev_mode=true");
	set(&f->cfg, "heartbeat_interval=100ms");
	snprintf(kv, sizeof(kv), "data_dir=%s/data", f->dir);
	set(&f->cfg, kv);
	if (kt_config_validate(&f->cfg, err, sizeof(err)) != KT_OK ||
	    kt_node_open(&f->cfg, &f->node, err, sizeof(err)) != KT_OK) {
		fprintf(stderr, "node: %s\n", err);
		kt_config_free(&f->cfg);
		kt_test_rm_tree(f->dir);
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;

	kt_node_close(f->node);
	kt_config_free(&f->cfg);
	kt_test_rm_tree(f->dir);
	free(f);
	return 0;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Waits until the node's published head is beyond `size`; its size. */
static uint64_t head_beyond(kt_node *n, uint64_t size)
{
	uint64_t end = mono_ms() + WAIT_MS;
	kt_apply_head h;
	struct timespec nap = {0, 20 * 1000000L};

	for (;;) {
		kt_node_head(n, &h);
		if (h.tree_size > size)
			return h.tree_size;
		if (mono_ms() > end)
			fail_msg("the head stayed at %llu for %u ms",
				 (unsigned long long)h.tree_size, WAIT_MS);
		nanosleep(&nap, NULL);
	}
}

static void test_newest_is_the_views(void **state)
{
	struct fx *f = *state;
	kt_storage *st = kt_node_storage(f->node);
	kt_storage_view *old, *fresh;
	kt_reader r;
	uint64_t s_old, s_head, got;

	(void)head_beyond(f->node, 0);
	assert_int_equal(kt_storage_view_open(st, &old), KT_OK);
	assert_int_equal(kt_reader_newest(f->node, old, &s_old), KT_OK);
	assert_true(s_old > 0);
	/* a heartbeat is committed and published meanwhile */
	s_head = head_beyond(f->node, s_old);

	/* the old view still answers at its own newest checkpoint ... */
	assert_int_equal(kt_reader_newest(f->node, old, &got), KT_OK);
	assert_int_equal(got, s_old);
	/* ... and holds that checkpoint, but not the head's */
	{
		uint8_t *note = NULL;
		size_t len = 0;

		assert_int_equal(kt_storage_checkpoint_get(st, old, s_old, &note,
							   &len), KT_OK);
		kt_storage_free(note);
		assert_int_equal(kt_storage_checkpoint_get(st, old, s_head, &note,
							   &len), KT_ERR_NOT_FOUND);
	}
	/* twin: views opened now, the latest state and a reader see it */
	assert_int_equal(kt_storage_view_open(st, &fresh), KT_OK);
	assert_int_equal(kt_reader_newest(f->node, fresh, &got), KT_OK);
	assert_true(got >= s_head);
	kt_storage_view_close(fresh);
	assert_int_equal(kt_reader_newest(f->node, NULL, &got), KT_OK);
	assert_true(got >= s_head);
	assert_int_equal(kt_reader_open(&r, f->node, 0), KT_OK);
	assert_true(r.size >= s_head);
	assert_int_equal(r.size, r.head_size);
	kt_reader_close(&r);
	kt_storage_view_close(old);
}

static void test_open_beyond_newest(void **state)
{
	struct fx *f = *state;
	kt_reader r;
	uint64_t s = head_beyond(f->node, 0);

	assert_int_equal(kt_reader_open(&r, f->node, s), KT_OK);
	assert_int_equal(r.size, s);
	kt_reader_close(&r);
	/* far beyond anything committed */
	assert_int_equal(kt_reader_open(&r, f->node, s + 1000000u),
			 KT_ERR_LOG_BAD_SIZE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_newest_is_the_views, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_open_beyond_newest, fx_setup,
						fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
