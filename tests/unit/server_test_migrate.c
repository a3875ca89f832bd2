/*
 * server_test_migrate.c — storage format 3 and the 2 -> 3 migration of the
 * used registrar token records (server/apply.c migrate_tokens,
 * server/storage.h kt_storage_format, docs/OPERATIONS.md "Storage format
 * versions").
 *
 * A faithful format 2 database is made from a format 3 one with plain
 * RocksDB writes (the storage is closed): meta "format" = 2 and every
 * "token_used/", "token_queue/" and "token_queue" record deleted, as a
 * build before single-use tokens left it.  Each test works in its own
 * mkdtemp directory (removed after):
 *   (1) migration: reopened through kt_apply_open, the database is at
 *       format 3 and holds byte for byte the token records the apply path
 *       had written (right ids, log indices, queue order); the spent tokens
 *       are refused with KT_ERR_TOKEN_USED and change nothing; a fresh
 *       token is accepted (the twin);
 *   (2) the negative twin: the same database set to format 3 WITHOUT the
 *       migration accepts the replay (the removed device comes back), so
 *       (1) fails if the migration is skipped or records another id;
 *   (3) crash safety: a failed migration write leaves format 2 and no
 *       record; the next open migrates; opening again migrates nothing
 *       more; migrating the same format 2 state again gives the same
 *       records; the log line is written once per migration;
 *   (4) records a format 2 build already wrote are kept (not appended
 *       twice); missing ones are appended after them;
 *   (5) tokens expired before the last entry's time are not recorded (they
 *       stay refused, as expired); expiry equal to that time is recorded;
 *   (6) formats: a new database is at 3; 1 and 4 are refused even with
 *       allow_migration, 2 without it; a format 2 database opened for
 *       migration refuses every other write until the migration's commit;
 *   (7) ktd's node opens (and migrates) a format 2 database and refuses 4.
 */
#define _GNU_SOURCE 1
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <rocksdb/c.h>
#include <sodium.h>

#include "apply.h"
#include "config.h"
#include "kt_enc.h"
#include "kt_hash.h"
#include "kt_note.h"
#include "kt_types.h"
#include "log.h"
#include "node.h"
#include "storage.h"
#include "kt_test_fs.h"
#include "server_test_util.h"

#define ORIGIN "test.example/migrate"
#define T0 UINT64_C(1767225600000) /* 2026-01-01T00:00:00Z */
#define DAY UINT64_C(86400000)
#define MAXREC 64

/* ---- fixture ------------------------------------------------------------------- */

/* A node whose storage may migrate, with small caches. */
static struct kt_test_node *fx_new(void)
{
	kt_storage_options opt;

	kt_storage_options_init(&opt);
	opt.cache_entries = 1024;
	opt.log_cache_entries = 1024;
	opt.name_cache_entries = 1024;
	opt.block_cache_bytes = 1u << 20;
	opt.allow_migration = 1;
	return kt_test_node_new("migrate", ORIGIN, &opt);
}

/* ---- changes --------------------------------------------------------------------- */

static uint64_t account_version(struct kt_test_node *f, const char *account)
{
	kt_storage_account_head h;
	uint8_t idx[KT_INDEX_BYTES];

	kt_sha256(idx, (const uint8_t *)account, strlen(account));
	assert_int_equal(kt_storage_account_head_get(f->st, NULL, idx, &h), KT_OK);
	return h.version;
}

/* ---- plain RocksDB access (the storage is closed) -------------------------------- */

static const char *const all_cfs[] = {
	"meta", "log_entries", "log_nodes", "map_nodes", "accounts",
	"account_names", "checkpoints", "default",
};
#define NCF 8

struct raw {
	rocksdb_options_t *o;
	rocksdb_t *db;
	rocksdb_column_family_handle_t *h[NCF];
};

static void raw_open(struct raw *r, const char *dir)
{
	const rocksdb_options_t *co[NCF];
	char *err = NULL;
	int i;

	r->o = rocksdb_options_create();
	for (i = 0; i < NCF; i++)
		co[i] = r->o;
	r->db = rocksdb_open_column_families(r->o, dir, NCF, all_cfs, co, r->h,
					     &err);
	if (err != NULL)
		fail_msg("raw open: %s", err);
}

static void raw_close(struct raw *r)
{
	int i;

	for (i = 0; i < NCF; i++)
		rocksdb_column_family_handle_destroy(r->h[i]);
	rocksdb_close(r->db);
	rocksdb_options_destroy(r->o);
}

/* "token_used/...", "token_queue/..." and "token_queue". */
static int is_token_key(const char *k, size_t klen)
{
	return klen >= 11 && (memcmp(k, "token_queue", 11) == 0 ||
			      memcmp(k, "token_used/", 11) == 0);
}

/* Every token record of the meta family, in key order. */
struct recs {
	size_t n;
	struct {
		char k[96];
		size_t klen;
		char v[64];
		size_t vlen;
	} r[MAXREC];
};

static void raw_tokens(const char *dir, struct recs *out)
{
	rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
	rocksdb_iterator_t *it;
	struct raw r;

	memset(out, 0, sizeof(*out));
	raw_open(&r, dir);
	it = rocksdb_create_iterator_cf(r.db, ro, r.h[0]);
	for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it);
	     rocksdb_iter_next(it)) {
		size_t kl, vl;
		const char *k = rocksdb_iter_key(it, &kl);
		const char *v = rocksdb_iter_value(it, &vl);

		if (!is_token_key(k, kl))
			continue;
		assert_true(out->n < MAXREC && kl <= 96 && vl <= 64);
		memcpy(out->r[out->n].k, k, kl);
		out->r[out->n].klen = kl;
		memcpy(out->r[out->n].v, v, vl);
		out->r[out->n].vlen = vl;
		out->n++;
	}
	rocksdb_iter_destroy(it);
	rocksdb_readoptions_destroy(ro);
	raw_close(&r);
}

static void assert_recs_equal(const struct recs *x, const struct recs *y)
{
	size_t i;

	assert_int_equal(x->n, y->n);
	for (i = 0; i < x->n; i++) {
		assert_int_equal(x->r[i].klen, y->r[i].klen);
		assert_memory_equal(x->r[i].k, y->r[i].k, x->r[i].klen);
		assert_int_equal(x->r[i].vlen, y->r[i].vlen);
		assert_memory_equal(x->r[i].v, y->r[i].v, x->r[i].vlen);
	}
}

/* In ONE write: meta "format" = format and, with strip, every token record
 * deleted. */
static void raw_rewrite(const char *dir, uint32_t format, int strip)
{
	rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
	rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
	struct recs all;
	struct raw r;
	uint8_t v[4];
	char *err = NULL;
	size_t i;

	raw_tokens(dir, &all);
	raw_open(&r, dir);
	kt_store_u32be(v, format);
	rocksdb_writebatch_put_cf(wb, r.h[0], "format", 6, (const char *)v, 4);
	for (i = 0; strip && i < all.n; i++)
		rocksdb_writebatch_delete_cf(wb, r.h[0], all.r[i].k, all.r[i].klen);
	rocksdb_writeoptions_set_sync(wo, 1);
	rocksdb_write(r.db, wo, wb, &err);
	if (err != NULL)
		fail_msg("raw write: %s", err);
	rocksdb_writebatch_destroy(wb);
	rocksdb_writeoptions_destroy(wo);
	raw_close(&r);
}

/* A build before single-use tokens: format 2, no token record. */
static void make_format2(const char *dir)
{
	struct recs none;

	raw_rewrite(dir, KT_STORAGE_FORMAT_MIGRATABLE, 1);
	raw_tokens(dir, &none);
	assert_int_equal(none.n, 0);
}

static uint32_t raw_format(const char *dir)
{
	rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
	struct raw r;
	char *v, *err = NULL;
	size_t vl = 0;
	uint32_t f;

	raw_open(&r, dir);
	v = rocksdb_get_cf(r.db, ro, r.h[0], "format", 6, &vl, &err);
	assert_null(err);
	assert_non_null(v);
	assert_int_equal(vl, 4);
	f = kt_load_u32be((const uint8_t *)v);
	rocksdb_free(v);
	rocksdb_readoptions_destroy(ro);
	raw_close(&r);
	return f;
}

/* ---- the structured log ------------------------------------------------------------- */

static FILE *log_capture(void)
{
	FILE *fp = tmpfile();

	assert_non_null(fp);
	kt_slog_set_level(KT_SLOG_INFO);
	kt_slog_set_file(fp);
	return fp;
}

/* Lines holding `what`; the last one into last (may be NULL). */
static int log_count(FILE *fp, const char *what, char *last, size_t cap)
{
	char line[KT_SLOG_LINE_MAX];
	int n = 0;

	fflush(fp);
	rewind(fp);
	while (fgets(line, sizeof(line), fp) != NULL) {
		if (strstr(line, what) == NULL)
			continue;
		n++;
		if (last != NULL)
			snprintf(last, cap, "%s", line);
	}
	fseek(fp, 0, SEEK_END);
	return n;
}

static void log_release(FILE *fp)
{
	kt_slog_set_file(NULL);
	fclose(fp);
}

/* Opens f's format 2 database, which must migrate: exactly one
 * event=storage_migrated line, copied into line. */
static void open_migrated(struct kt_test_node *f, char *line, size_t cap)
{
	FILE *lg = log_capture();

	kt_test_node_open(f);
	assert_int_equal(log_count(lg, "event=storage_migrated", line, cap), 1);
	log_release(lg);
}

/* ---- the state the tests migrate ------------------------------------------------------- */

/* t1 enrols "phone" into tel:+1, which the operator then removes (so a
 * replay of t1 would bring it back); t2 enrols tel:+2; a heartbeat ends
 * the log at T0 + 100. */
static void spend_tokens(struct kt_test_node *f, struct kt_test_tok *t1,
			 struct kt_test_tok *t2)
{
	static const int ok[2] = {KT_OK, KT_OK};
	kt_change ch[2];

	kt_test_make_token(t1, "tel:+1", "phone", 1, T0 + DAY);
	kt_test_make_token(t2, "tel:+2", "tablet", 2, T0 + DAY);
	kt_test_ch_enrol(&ch[0], t1, 0);
	kt_test_ch_enrol(&ch[1], t2, 0);
	kt_test_node_run(f, T0, ch, 2, ok);
	kt_test_ch_remove(&ch[0], "tel:+1", 1, "phone");
	kt_test_node_run1(f, T0 + 10, &ch[0], KT_OK);
	kt_test_node_heartbeat(f, T0 + 100);
	assert_int_equal(account_version(f, "tel:+1"), 2);
}

/* The id a used-token record is keyed by: SHA-256 of the token's signed
 * message for account. */
static void token_id(uint8_t out[KT_HASH_BYTES], const char *account,
		     const struct kt_test_tok *t)
{
	kt_wbuf w;

	kt_wbuf_init(&w, KT_REGISTRAR_TOKEN_MESSAGE_MAX_BYTES);
	assert_int_equal(kt_registrar_token_message(&w, (const uint8_t *)account,
						    strlen(account),
						    &t->pv.op.device,
						    t->pv.expiry_ms),
			 KT_OK);
	kt_sha256(out, w.data, w.len);
	kt_wbuf_free(&w);
}

/* A replay of t1 (at tel:+1's version 2) and of t2 must be refused as
 * used and change nothing. */
static void assert_replays_refused(struct kt_test_node *f,
				   const struct kt_test_tok *t1,
				   const struct kt_test_tok *t2, uint64_t ts)
{
	kt_apply_head before, after;
	uint8_t *note = NULL;
	size_t len = 0;
	kt_change c;

	kt_apply_get_head(f->a, &before);
	kt_test_ch_enrol(&c, t1, 2);
	kt_test_node_run1(f, ts, &c, KT_ERR_TOKEN_USED);
	kt_test_ch_enrol(&c, t2, 1);
	kt_test_node_run1(f, ts + 1, &c, KT_ERR_TOKEN_USED);
	kt_apply_get_head(f->a, &after);
	assert_int_equal(after.tree_size, before.tree_size);
	assert_memory_equal(after.log_root, before.log_root, KT_HASH_BYTES);
	assert_memory_equal(after.map_root, before.map_root, KT_HASH_BYTES);
	assert_int_equal(kt_storage_checkpoint_get(f->st, NULL,
						   before.tree_size + 1, &note,
						   &len),
			 KT_ERR_NOT_FOUND);
	assert_int_equal(account_version(f, "tel:+1"), 2);
	assert_int_equal(account_version(f, "tel:+2"), 1);
}

/* ---- (1) the migration ------------------------------------------------------------------ */

static void test_migration(void **state)
{
	struct kt_test_node *f = fx_new();
	struct recs before, after;
	struct kt_test_tok t1, t2, fresh;
	char line[KT_SLOG_LINE_MAX] = "";
	kt_change c;

	(void)state;
	assert_int_equal(kt_storage_format(f->st), KT_STORAGE_FORMAT_VERSION);
	spend_tokens(f, &t1, &t2);
	kt_test_node_close(f);
	raw_tokens(f->dir, &before);
	assert_int_equal(before.n, 5); /* 2 used, 2 queue entries, bounds */
	make_format2(f->dir);

	open_migrated(f, line, sizeof(line));
	assert_non_null(strstr(line, " from=2 to=3 tokens=2 "));
	assert_non_null(strstr(line, " entries=4 ms="));
	assert_int_equal(kt_storage_format(f->st), KT_STORAGE_FORMAT_VERSION);

	/* byte for byte what the apply path wrote: ids, expiries, the log
	 * indices that spent them, the queue in log order */
	kt_test_node_close(f);
	assert_int_equal(raw_format(f->dir), KT_STORAGE_FORMAT_VERSION);
	raw_tokens(f->dir, &after);
	assert_recs_equal(&after, &before);

	kt_test_node_open(f);
	assert_int_equal(kt_apply_token_used(f->st, (const uint8_t *)t1.account,
					     strlen(t1.account), &t1.pv),
			 KT_ERR_TOKEN_USED);
	assert_replays_refused(f, &t1, &t2, T0 + 200);
	/* the twin: a fresh token is accepted */
	kt_test_make_token(&fresh, "tel:+1", "phone", 1, T0 + DAY + 1);
	kt_test_ch_enrol(&c, &fresh, 2);
	kt_test_node_run1(f, T0 + 300, &c, KT_OK);
	assert_int_equal(account_version(f, "tel:+1"), 3);
	kt_test_node_free(f);
}

/* ---- (2) the negative twin: no migration -------------------------------------------------- */

static void test_without_migration_replay_accepted(void **state)
{
	struct kt_test_node *f = fx_new();
	struct kt_test_tok t1, t2;
	kt_change c;

	(void)state;
	spend_tokens(f, &t1, &t2);
	kt_test_node_close(f);
	/* what an upgrade that only bumped the format would leave */
	raw_rewrite(f->dir, KT_STORAGE_FORMAT_VERSION, 1);
	kt_test_node_open(f);
	assert_int_equal(kt_apply_token_used(f->st, (const uint8_t *)t1.account,
					     strlen(t1.account), &t1.pv),
			 KT_OK);
	/* the removed device comes back with the spent token */
	kt_test_ch_enrol(&c, &t1, 2);
	kt_test_node_run1(f, T0 + 200, &c, KT_OK);
	assert_int_equal(account_version(f, "tel:+1"), 3);
	kt_test_ch_enrol(&c, &t2, 1);
	kt_test_node_run1(f, T0 + 300, &c, KT_ERR_DEVICE_EXISTS);
	kt_test_node_free(f);
}

/* ---- (3) crash safety --------------------------------------------------------------------------- */

static void test_crash_safety(void **state)
{
	struct kt_test_node *f = fx_new();
	struct recs before, now;
	struct kt_test_tok t1, t2;
	char line[KT_SLOG_LINE_MAX] = "";
	FILE *lg;

	(void)state;
	spend_tokens(f, &t1, &t2);
	kt_test_node_close(f);
	raw_tokens(f->dir, &before);
	make_format2(f->dir);

	/* the migration's one write fails: the open fails, nothing changed */
	lg = log_capture();
	assert_int_equal(kt_storage_open(f->dir, &f->opt, &f->st), KT_OK);
	assert_int_equal(kt_storage_format(f->st), KT_STORAGE_FORMAT_MIGRATABLE);
	kt_storage_test_fail_writes(f->st, 1);
	assert_int_equal(kt_test_node_open_apply(f), KT_ERR_STORAGE);
	assert_null(f->a);
	assert_int_equal(kt_storage_format(f->st), KT_STORAGE_FORMAT_MIGRATABLE);
	kt_test_node_close(f);
	assert_int_equal(log_count(lg, "event=storage_migrate_failed", line,
				   sizeof(line)), 1);
	assert_non_null(strstr(line, " code=KT_ERR_STORAGE"));
	assert_int_equal(log_count(lg, "event=storage_migrated", NULL, 0), 0);
	assert_int_equal(raw_format(f->dir), KT_STORAGE_FORMAT_MIGRATABLE);
	raw_tokens(f->dir, &now);
	assert_int_equal(now.n, 0);

	/* the next start migrates */
	kt_test_node_open(f);
	kt_test_node_close(f);
	assert_int_equal(log_count(lg, "event=storage_migrated", NULL, 0), 1);
	assert_int_equal(raw_format(f->dir), KT_STORAGE_FORMAT_VERSION);
	raw_tokens(f->dir, &now);
	assert_recs_equal(&now, &before);
	/* and the one after does nothing more */
	kt_test_node_open(f);
	kt_test_node_close(f);
	assert_int_equal(log_count(lg, "event=storage_migrated", NULL, 0), 1);
	raw_tokens(f->dir, &now);
	assert_recs_equal(&now, &before);
	/* the same format 2 state migrated again: the same records */
	make_format2(f->dir);
	kt_test_node_open(f);
	kt_test_node_close(f);
	assert_int_equal(log_count(lg, "event=storage_migrated", NULL, 0), 2);
	log_release(lg);
	raw_tokens(f->dir, &now);
	assert_recs_equal(&now, &before);

	kt_test_node_open(f);
	assert_replays_refused(f, &t1, &t2, T0 + 200);
	kt_test_node_free(f);
}

/* ---- (4) records a format 2 build already wrote ---------------------------------------------- */

static void test_partly_recorded(void **state)
{
	struct kt_test_node *f = fx_new();
	struct recs now;
	struct kt_test_tok t1, t2;
	char line[KT_SLOG_LINE_MAX] = "";
	kt_change c;

	(void)state;
	/* t1 spent by a build without records ... */
	kt_test_make_token(&t1, "tel:+1", "phone", 1, T0 + DAY);
	kt_test_ch_enrol(&c, &t1, 0);
	kt_test_node_run1(f, T0, &c, KT_OK);
	kt_test_node_close(f);
	raw_rewrite(f->dir, KT_STORAGE_FORMAT_VERSION, 1);
	/* ... t2 by a format 2 build that wrote them (queue entry 0) */
	kt_test_node_open(f);
	kt_test_make_token(&t2, "tel:+2", "tablet", 2, T0 + DAY);
	kt_test_ch_enrol(&c, &t2, 0);
	kt_test_node_run1(f, T0 + 10, &c, KT_OK);
	kt_test_ch_remove(&c, "tel:+1", 1, "phone");
	kt_test_node_run1(f, T0 + 20, &c, KT_OK);
	kt_test_node_close(f);
	raw_rewrite(f->dir, KT_STORAGE_FORMAT_MIGRATABLE, 0);
	raw_tokens(f->dir, &now);
	assert_int_equal(now.n, 3);

	open_migrated(f, line, sizeof(line));
	assert_non_null(strstr(line, " tokens=1 expired=0 recorded=1 "));
	assert_replays_refused(f, &t1, &t2, T0 + 100);
	kt_test_node_close(f);
	/* t2 kept at entry 0, t1 appended as entry 1: bounds 0..2 */
	raw_tokens(f->dir, &now);
	assert_int_equal(now.n, 5);
	assert_int_equal(now.r[0].klen, 11);
	assert_int_equal(kt_load_u64be((const uint8_t *)now.r[0].v), 0);
	assert_int_equal(kt_load_u64be((const uint8_t *)now.r[0].v + 8), 2);
	assert_memory_equal(now.r[1].k, "token_queue/0000000000000000", 28);
	assert_memory_equal(now.r[2].k, "token_queue/0000000000000001", 28);
	{
		uint8_t id1[KT_HASH_BYTES], id2[KT_HASH_BYTES];

		token_id(id1, "tel:+1", &t1);
		token_id(id2, "tel:+2", &t2);
		assert_memory_equal(now.r[1].v, id2, KT_HASH_BYTES);
		assert_memory_equal(now.r[2].v, id1, KT_HASH_BYTES);
	}
	kt_test_node_open(f);
	kt_test_node_free(f);
}

/* ---- (5) tokens that expired before the log's last entry ------------------------------------- */

static void test_expired_not_recorded(void **state)
{
	static const int ok[3] = {KT_OK, KT_OK, KT_OK};
	struct kt_test_node *f = fx_new();
	struct kt_test_tok shortt, edge, longt;
	kt_apply_head before, after;
	char line[KT_SLOG_LINE_MAX] = "";
	kt_change ch[3];

	(void)state;
	kt_test_make_token(&shortt, "tel:+1", "phone", 1, T0 + 1999);
	kt_test_make_token(&edge, "tel:+2", "phone", 2, T0 + 2000);
	kt_test_make_token(&longt, "tel:+3", "phone", 3, T0 + DAY);
	kt_test_ch_enrol(&ch[0], &shortt, 0);
	kt_test_ch_enrol(&ch[1], &edge, 0);
	kt_test_ch_enrol(&ch[2], &longt, 0);
	kt_test_node_run(f, T0, ch, 3, ok);
	kt_test_ch_remove(&ch[0], "tel:+1", 1, "phone");
	kt_test_ch_remove(&ch[1], "tel:+2", 1, "phone");
	kt_test_node_run(f, T0 + 10, ch, 2, ok);
	kt_test_node_heartbeat(f, T0 + 2000); /* the last entry's time */
	kt_test_node_close(f);
	make_format2(f->dir);

	open_migrated(f, line, sizeof(line));
	assert_non_null(strstr(line, " tokens=2 expired=1 recorded=0 "));
	assert_int_equal(kt_apply_token_used(f->st, (const uint8_t *)"tel:+1", 6,
					     &shortt.pv), KT_OK);
	/* not recorded, still refused: it expired before any later batch */
	kt_apply_get_head(f->a, &before);
	kt_test_ch_enrol(&ch[0], &shortt, 2);
	kt_test_node_run1(f, T0 + 1000, &ch[0], KT_ERR_TOKEN_EXPIRED);
	/* expiry == the last entry's time is still valid at that time, so it
	 * was recorded */
	kt_test_ch_enrol(&ch[0], &edge, 2);
	kt_test_node_run1(f, T0 + 2000, &ch[0], KT_ERR_TOKEN_USED);
	kt_test_ch_enrol(&ch[0], &longt, 1);
	kt_test_node_run1(f, T0 + 2000, &ch[0], KT_ERR_TOKEN_USED);
	kt_apply_get_head(f->a, &after);
	assert_int_equal(after.tree_size, before.tree_size);
	assert_memory_equal(after.map_root, before.map_root, KT_HASH_BYTES);
	kt_test_node_free(f);
}

/* ---- (6) formats --------------------------------------------------------------------------------- */

static void test_formats(void **state)
{
	static const uint32_t refused[] = {0, 1, 4, 0xffffffffu};
	struct kt_test_node *f = fx_new();
	kt_storage_batch *sb = NULL;
	kt_storage_prune p;
	kt_storage_options plain;
	uint64_t tree = 0;
	size_t i;

	(void)state;
	/* a new database is at 3 */
	assert_int_equal(KT_STORAGE_FORMAT_VERSION, 3);
	assert_int_equal(kt_storage_format(f->st), 3);
	kt_test_node_heartbeat(f, T0);
	kt_test_node_close(f);
	assert_int_equal(raw_format(f->dir), 3);

	/* other formats are refused, migration allowed or not, and left as
	 * they are */
	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		raw_rewrite(f->dir, refused[i], 0);
		assert_int_equal(kt_storage_open(f->dir, &f->opt, &f->st),
				 KT_ERR_STORAGE_FORMAT);
		assert_null(f->st);
		assert_int_equal(raw_format(f->dir), refused[i]);
	}
	/* 2 only for a caller that migrates */
	make_format2(f->dir);
	plain = f->opt;
	plain.allow_migration = 0;
	assert_int_equal(kt_storage_open(f->dir, &plain, &f->st),
			 KT_ERR_STORAGE_FORMAT);
	assert_null(f->st);
	assert_int_equal(kt_storage_open(f->dir, NULL, &f->st),
			 KT_ERR_STORAGE_FORMAT);
	assert_int_equal(raw_format(f->dir), 2);

	/* opened for migration: reads work, no other write does */
	assert_int_equal(kt_storage_open(f->dir, &f->opt, &f->st), KT_OK);
	assert_int_equal(kt_storage_format(f->st), 2);
	assert_int_equal(kt_storage_meta_get_u64(f->st, NULL, KT_META_TREE_SIZE,
						 &tree), KT_OK);
	assert_int_equal(tree, 1);
	assert_int_equal(kt_storage_batch_begin(f->st, &sb), KT_OK);
	assert_int_equal(kt_storage_batch_put(sb, KT_CF_META,
					      (const uint8_t *)"x", 1,
					      (const uint8_t *)"y", 1), KT_OK);
	assert_int_equal(kt_storage_batch_commit(sb, 7), KT_ERR_STORAGE_FORMAT);
	assert_int_equal(kt_storage_prune_begin(f->st, 1, &p),
			 KT_ERR_STORAGE_FORMAT);
	assert_int_equal(kt_storage_format(f->st), 2);
	/* the twin: the migration's commit (format included) goes through */
	assert_int_equal(kt_storage_batch_begin(f->st, &sb), KT_OK);
	assert_int_equal(kt_storage_batch_put(sb, KT_CF_META,
					      (const uint8_t *)"x", 1,
					      (const uint8_t *)"y", 1), KT_OK);
	assert_int_equal(kt_storage_batch_format_put(sb), KT_OK);
	assert_int_equal(kt_storage_batch_commit(sb, KT_STORAGE_NO_INDEX), KT_OK);
	assert_int_equal(kt_storage_format(f->st), 3);
	assert_int_equal(kt_storage_prune_begin(f->st, 1, &p), KT_OK);
	{
		uint8_t *v = NULL;
		size_t n = 0;

		assert_int_equal(kt_storage_get(f->st, NULL, KT_CF_META,
						(const uint8_t *)"x", 1, &v, &n),
				 KT_OK);
		kt_storage_free(v);
	}
	kt_storage_close(f->st);
	f->st = NULL;
	assert_int_equal(raw_format(f->dir), 3);
	kt_test_node_free(f);
}

/* ---- (7) ktd's node ------------------------------------------------------------------------------ */

static void set(kt_config *cfg, const char *kv)
{
	char err[256] = "";

	if (kt_config_set(cfg, kv, err, sizeof(err)) != KT_OK)
		fail_msg("config %s: %s", kv, err);
}

static void test_node_migrates(void **state)
{
	char dir[64], data[96], kv[128], err[256] = "";
	kt_node *n = NULL;
	kt_config cfg;
	FILE *lg;

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/kt-migrate-node-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(data, sizeof(data), "%s/node", dir);
	lg = log_capture();
	assert_int_equal(kt_config_init(&cfg), KT_OK);
	set(&cfg, "dev_mode=true");
	set(&cfg, "map_cache_nodes=1024");
	set(&cfg, "log_cache_nodes=1024");
	snprintf(kv, sizeof(kv), "data_dir=%s", data);
	set(&cfg, kv);
	assert_int_equal(kt_config_validate(&cfg, err, sizeof(err)), KT_OK);
	if (kt_node_open(&cfg, &n, err, sizeof(err)) != KT_OK)
		fail_msg("node: %s", err);
	assert_int_equal(kt_test_node_operator_change(n, "tel:+1").code, KT_OK);
	kt_node_close(n);
	n = NULL;

	make_format2(data);
	if (kt_node_open(&cfg, &n, err, sizeof(err)) != KT_OK)
		fail_msg("node on format 2: %s", err);
	assert_int_equal(kt_storage_format(kt_node_storage(n)), 3);
	kt_node_close(n);
	n = NULL;
	assert_int_equal(log_count(lg, "event=storage_migrated", NULL, 0), 1);
	assert_int_equal(raw_format(data), 3);

	/* the twin: a format it does not know stops the node */
	raw_rewrite(data, 4, 0);
	assert_int_not_equal(kt_node_open(&cfg, &n, err, sizeof(err)), KT_OK);
	assert_null(n);
	assert_non_null(strstr(err, "cannot open the database"));
	log_release(lg);
	kt_config_free(&cfg);
	kt_test_rm_tree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_migration),
		cmocka_unit_test(test_without_migration_replay_accepted),
		cmocka_unit_test(test_crash_safety),
		cmocka_unit_test(test_partly_recorded),
		cmocka_unit_test(test_expired_not_recorded),
		cmocka_unit_test(test_formats),
		cmocka_unit_test(test_node_migrates),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
