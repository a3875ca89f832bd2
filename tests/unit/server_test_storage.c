/*
 * server_test_storage.c — ktd's RocksDB storage (server/storage.h).
 *
 * Every test works in its own mkdtemp directory under /tmp, removed after.
 *   (1) open / close / reopen keeps every kind of record; open without
 *       create on nothing fails; the applied index only grows;
 *   (2) a different format version, a foreign database and a database
 *       missing a column family are refused with KT_ERR_STORAGE_FORMAT;
 *   (3) a batch that is not committed (aborted, or with a failed put)
 *       leaves nothing;
 *   (4) versioned map nodes: versions 1, 5, 9 at one position read
 *       correctly at every `at`, neighbouring positions (same depth, next
 *       prefix, and prefixes of each other at other depths) never leak,
 *       committed, in a batch, and mixed;
 *   (5) read-your-writes inside a batch; views are snapshots;
 *   (6) pruning: reads at >= the boundary (and map proofs there) are
 *       unchanged, reads below it fail with KT_ERR_STORAGE_PRUNED, the
 *       boundary survives a restart and never goes down;
 *   (7) adapters: a 1000-entry log and a 1000-key map built through the
 *       RocksDB adapters (over several batches) have the roots and proofs of
 *       the merkle in-memory stores, at every version;
 *   (8) fault injection: a failing write leaves nothing and reports
 *       KT_ERR_STORAGE through the log callback; a failing read too;
 *   (9) the hot-node cache gives the same answers as no cache; readers
 *       fill the map and log caches, except through a view opened before
 *       a commit (which could store a record the commit replaced); a
 *       warm-up after a restart stores each position's newest record;
 *  (10) readers in views, the apply writer and the pruner run together:
 *       every reader's map root at its view's newest size equals the root
 *       the writer recorded there, and its proofs verify;
 *  (11) a writer killed with SIGKILL at a random moment (three times)
 *       restarts with exactly the batches it committed: the applied index,
 *       the tree size, every entry and the map root agree.  (fork() after
 *       RocksDB started its threads: fine for this small child, but not
 *       under ThreadSanitizer, which refuses threads after such a fork.)
 */
#define _GNU_SOURCE 1
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>
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
#include <rocksdb/c.h>
#include <sodium.h>

#include "kt_enc.h"
#include "kt_log.h"
#include "kt_map.h"
#include "storage.h"
#include "kt_test_fs.h"

#define H KT_HASH_BYTES

/* ---- fixtures ---------------------------------------------------------- */

struct logsink {
	int calls;
	int last_code;
	char last[512];
};

static void sink_fn(void *ctx, int code, const char *msg)
{
	struct logsink *s = ctx;

	s->calls++;
	s->last_code = code;
	snprintf(s->last, sizeof(s->last), "%s", msg);
}

struct fx {
	char dir[64];
	struct logsink sink;
	kt_storage_options opt;
	kt_storage *st;
};

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/kt-storage-test-XXXXXX");
	if (mkdtemp(f->dir) == NULL) {
		free(f);
		return -1;
	}
	kt_storage_options_init(&f->opt);
	f->opt.log = sink_fn;
	f->opt.log_ctx = &f->sink;
	if (kt_storage_open(f->dir, &f->opt, &f->st) != KT_OK) {
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

	kt_storage_close(f->st);
	kt_test_rm_tree(f->dir);
	free(f);
	return 0;
}

static void fx_reopen(struct fx *f)
{
	kt_storage_close(f->st);
	f->st = NULL;
	assert_int_equal(kt_storage_open(f->dir, &f->opt, &f->st), KT_OK);
}

static void fill(uint8_t *p, size_t n, uint8_t seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(seed * 31u + i * 7u + 1u);
}

/* A map-node value: distinct per (tag, version). */
static void node_val(uint8_t out[KT_MAP_NODE_BYTES], uint8_t tag, uint64_t v)
{
	memset(out, 0, KT_MAP_NODE_BYTES);
	out[0] = tag;
	kt_store_u64be(out + 1, v);
}

/* ---- (1) open / close / reopen ---------------------------------------- */

struct cosig_seen {
	int n;
	char names[4][32];
	size_t line_len[4];
};

static int cosig_cb(void *ctx, const uint8_t key_hash[4], const uint8_t *name,
		    size_t name_len, const uint8_t *line, size_t line_len)
{
	struct cosig_seen *c = ctx;

	(void)line;
	if (c->n >= 4 || name_len >= 32)
		return -1;
	assert_int_equal(key_hash[0], 0xAA);
	memcpy(c->names[c->n], name, name_len);
	c->names[c->n][name_len] = 0;
	c->line_len[c->n] = line_len;
	c->n++;
	return 0;
}

static void write_everything(kt_storage *st)
{
	kt_storage_batch *b;
	kt_storage_account_head head;
	kt_storage_account_version ver;
	uint8_t idx[32], h[H], node[KT_MAP_NODE_BYTES], prefix[32] = {0};
	static const uint8_t kh[4] = {0xAA, 1, 2, 3};
	static const uint8_t value[] = {0, 1, 9, 9, 9};
	static const uint8_t prov[] = {3, 0, 2, 'o', 'k', 0};

	fill(idx, 32, 1);
	fill(h, H, 2);
	node_val(node, KT_MAP_NODE_LEAF, 7);
	memset(&head, 0, sizeof(head));
	head.version = 1;
	fill(head.vrf_proof, sizeof(head.vrf_proof), 3);
	memcpy(head.account, "tel:+15551234567", 16);
	head.account_len = 16;
	memset(&ver, 0, sizeof(ver));
	ver.log_index = 0;
	ver.timestamp_ms = 1700000000000ULL;
	fill(ver.commitment, sizeof(ver.commitment), 4);
	fill(ver.history, sizeof(ver.history), 5);
	fill(ver.opening, sizeof(ver.opening), 6);
	ver.value = value;
	ver.value_len = sizeof(value);
	ver.provenance = prov;
	ver.provenance_len = sizeof(prov);

	assert_int_equal(kt_storage_batch_begin(st, &b), KT_OK);
	assert_int_equal(kt_storage_batch_meta_put_u64(b, KT_META_TREE_SIZE, 1), KT_OK);
	assert_int_equal(kt_storage_batch_meta_put(b, KT_META_ORIGIN,
						   (const uint8_t *)"example.org/log", 15), KT_OK);
	assert_int_equal(kt_storage_batch_log_entry_put(b, 0, (const uint8_t *)"entry0", 6), KT_OK);
	assert_int_equal(kt_storage_batch_log_node_put(b, 0, 0, h), KT_OK);
	assert_int_equal(kt_storage_batch_map_node_put(b, 0, prefix, 0, node, sizeof(node)), KT_OK);
	assert_int_equal(kt_storage_batch_account_head_put(b, idx, &head), KT_OK);
	assert_int_equal(kt_storage_batch_account_version_put(b, idx, 1, &ver), KT_OK);
	assert_int_equal(kt_storage_batch_checkpoint_put(b, 1, (const uint8_t *)"note1\n", 6), KT_OK);
	assert_int_equal(kt_storage_batch_cosig_put(b, 1, kh, (const uint8_t *)"w2", 2,
						    (const uint8_t *)"line-b\n", 7), KT_OK);
	assert_int_equal(kt_storage_batch_cosig_put(b, 1, kh, (const uint8_t *)"w1", 2,
						    (const uint8_t *)"line-a\n", 7), KT_OK);
	/* a cosignature of another size must not show up for size 1 */
	assert_int_equal(kt_storage_batch_cosig_put(b, 2, kh, (const uint8_t *)"w9", 2,
						    (const uint8_t *)"x\n", 2), KT_OK);
	assert_int_equal(kt_storage_batch_commit(b, 1), KT_OK);
}

static void check_everything(kt_storage *st, kt_storage_view *v)
{
	kt_storage_account_head head;
	kt_storage_account_version ver;
	uint8_t idx[32], idx2[32], h[H], h2[H], node[KT_STORAGE_MAP_NODE_MAX];
	uint8_t prefix[32] = {0}, *val;
	size_t len;
	uint64_t u, version;
	struct cosig_seen cs;

	fill(idx, 32, 1);
	fill(h, H, 2);
	assert_int_equal(kt_storage_meta_get_u64(st, v, KT_META_TREE_SIZE, &u), KT_OK);
	assert_int_equal(u, 1);
	assert_int_equal(kt_storage_meta_get_u64(st, v, KT_META_APPLIED_INDEX, &u), KT_OK);
	assert_int_equal(u, 1);
	assert_int_equal(kt_storage_meta_get_u64(st, v, KT_META_MAP_NEXT_VERSION, &u), KT_OK);
	assert_int_equal(u, 1);
	assert_int_equal(kt_storage_meta_get(st, v, KT_META_ORIGIN, &val, &len), KT_OK);
	assert_int_equal(len, 15);
	assert_memory_equal(val, "example.org/log", 15);
	kt_storage_free(val);
	assert_int_equal(kt_storage_meta_get_u64(st, v, KT_META_LAST_CHECKPOINT, &u),
			 KT_ERR_NOT_FOUND);

	assert_int_equal(kt_storage_log_entry_get(st, v, 0, &val, &len), KT_OK);
	assert_int_equal(len, 6);
	assert_memory_equal(val, "entry0", 6);
	kt_storage_free(val);
	assert_int_equal(kt_storage_log_entry_get(st, v, 1, &val, &len), KT_ERR_NOT_FOUND);
	assert_null(val);

	assert_int_equal(kt_storage_log_node_get(st, v, 0, 0, h2), KT_OK);
	assert_memory_equal(h, h2, H);
	assert_int_equal(kt_storage_log_node_get(st, v, 1, 0, h2), KT_ERR_NOT_FOUND);

	assert_int_equal(kt_storage_map_node_get(st, v, 0, prefix, 0, &version, node, &len), KT_OK);
	assert_int_equal(version, 0);
	assert_int_equal(len, KT_MAP_NODE_BYTES);
	assert_int_equal(node[0], KT_MAP_NODE_LEAF);

	assert_int_equal(kt_storage_account_head_get(st, v, idx, &head), KT_OK);
	assert_int_equal(head.version, 1);
	assert_int_equal(head.account_len, 16);
	assert_memory_equal(head.account, "tel:+15551234567", 16);
	assert_int_equal(kt_storage_account_index_get(st, v, (const uint8_t *)"tel:+15551234567",
						      16, idx2), KT_OK);
	assert_memory_equal(idx, idx2, 32);
	assert_int_equal(kt_storage_account_index_get(st, v, (const uint8_t *)"tel:+15551234568",
						      16, idx2), KT_ERR_NOT_FOUND);

	assert_int_equal(kt_storage_account_version_get(st, v, idx, 1, &ver), KT_OK);
	assert_int_equal(ver.timestamp_ms, 1700000000000ULL);
	assert_int_equal(ver.value_len, 5);
	assert_memory_equal(ver.value, "\x00\x01\x09\x09\x09", 5);
	assert_int_equal(ver.provenance_len, 6);
	assert_int_equal(ver.provenance[3], 'o');
	kt_storage_account_version_free(&ver);
	assert_null(ver.raw);
	assert_int_equal(kt_storage_account_version_get(st, v, idx, 2, &ver), KT_ERR_NOT_FOUND);
	idx[31] ^= 1; /* forgery twin: another index has nothing */
	assert_int_equal(kt_storage_account_head_get(st, v, idx, &head), KT_ERR_NOT_FOUND);

	assert_int_equal(kt_storage_checkpoint_get(st, v, 1, &val, &len), KT_OK);
	assert_memory_equal(val, "note1\n", 6);
	kt_storage_free(val);
	memset(&cs, 0, sizeof(cs));
	assert_int_equal(kt_storage_cosigs_scan(st, v, 1, cosig_cb, &cs), KT_OK);
	assert_int_equal(cs.n, 2);
	assert_string_equal(cs.names[0], "w1"); /* key order */
	assert_string_equal(cs.names[1], "w2");
	memset(&cs, 0, sizeof(cs));
	assert_int_equal(kt_storage_cosigs_scan(st, v, 3, cosig_cb, &cs), KT_OK);
	assert_int_equal(cs.n, 0);
}

static void test_open_close_reopen(void **state)
{
	struct fx *f = *state;
	kt_storage_view *v;
	kt_storage *other = NULL;
	kt_storage_batch *b;
	kt_storage_options o;
	char empty[64];
	uint64_t u;

	write_everything(f->st);
	check_everything(f->st, NULL);
	fx_reopen(f);
	check_everything(f->st, NULL);
	assert_int_equal(kt_storage_view_open(f->st, &v), KT_OK);
	check_everything(f->st, v);
	kt_storage_view_close(v);
	assert_int_equal(kt_storage_applied_index(f->st, &u), KT_OK);
	assert_int_equal(u, 1);

	/* the applied index only grows: 1 again is refused, nothing written */
	assert_int_equal(kt_storage_batch_begin(f->st, &b), KT_OK);
	assert_int_equal(kt_storage_batch_meta_put_u64(b, KT_META_TREE_SIZE, 99), KT_OK);
	assert_int_equal(kt_storage_batch_commit(b, 1), KT_ERR_INVALID_ARG);
	assert_int_equal(kt_storage_meta_get_u64(f->st, NULL, KT_META_TREE_SIZE, &u), KT_OK);
	assert_int_equal(u, 1);
	/* KT_STORAGE_NO_INDEX leaves it alone */
	assert_int_equal(kt_storage_batch_begin(f->st, &b), KT_OK);
	assert_int_equal(kt_storage_batch_meta_put_u64(b, KT_META_TREE_SIZE, 2), KT_OK);
	assert_int_equal(kt_storage_batch_commit(b, KT_STORAGE_NO_INDEX), KT_OK);
	assert_int_equal(kt_storage_meta_get_u64(f->st, NULL, KT_META_APPLIED_INDEX, &u), KT_OK);
	assert_int_equal(u, 1);

	/* a second open of the same directory is refused by RocksDB's lock */
	assert_int_equal(kt_storage_open(f->dir, &f->opt, &other), KT_ERR_STORAGE);
	assert_null(other);

	/* without create, an empty directory is not a database */
	snprintf(empty, sizeof(empty), "/tmp/kt-storage-empty-XXXXXX");
	assert_non_null(mkdtemp(empty));
	kt_storage_options_init(&o);
	o.create = 0;
	assert_int_equal(kt_storage_open(empty, &o, &other), KT_ERR_NOT_FOUND);
	assert_null(other);
	kt_test_rm_tree(empty);
}

/* ---- (2) format version -------------------------------------------------- */

/* Opens dir with raw RocksDB (all our column families) and puts key=val
 * into column family cf_index (0 = "meta"). */
static void raw_put(const char *dir, int cf_index, const char *key,
		    const uint8_t *val, size_t vlen, const char *const *names,
		    int ncf)
{
	rocksdb_options_t *o = rocksdb_options_create();
	rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
	rocksdb_column_family_handle_t *h[16];
	const rocksdb_options_t *co[16];
	rocksdb_t *db;
	char *err = NULL;
	int i;

	rocksdb_options_set_create_if_missing(o, 1);
	rocksdb_options_set_create_missing_column_families(o, 1);
	for (i = 0; i < ncf; i++)
		co[i] = o;
	db = rocksdb_open_column_families(o, dir, ncf, names, co, h, &err);
	assert_null(err);
	rocksdb_put_cf(db, wo, h[cf_index], key, strlen(key), (const char *)val,
		       vlen, &err);
	assert_null(err);
	for (i = 0; i < ncf; i++)
		rocksdb_column_family_handle_destroy(h[i]);
	rocksdb_close(db);
	rocksdb_writeoptions_destroy(wo);
	rocksdb_options_destroy(o);
}

static const char *const all_cfs[] = {
	"meta", "log_entries", "log_nodes", "map_nodes", "accounts",
	"account_names", "checkpoints", "default",
};

static void test_format_mismatch(void **state)
{
	struct fx *f = *state;
	kt_storage *st = NULL;
	uint8_t v[4];
	char dir2[64];
	static const char *const only_default[] = {"default"};
	static const char *const some[] = {"default", "meta"};

	kt_storage_close(f->st);
	f->st = NULL;
	kt_store_u32be(v, KT_STORAGE_FORMAT_VERSION + 1);
	raw_put(f->dir, 0, "format", v, 4, all_cfs, 8);
	f->sink.calls = 0;
	assert_int_equal(kt_storage_open(f->dir, &f->opt, &st), KT_ERR_STORAGE_FORMAT);
	assert_null(st);
	assert_true(f->sink.calls > 0);
	assert_int_equal(f->sink.last_code, KT_ERR_STORAGE_FORMAT);
	/* an older one too */
	kt_store_u32be(v, KT_STORAGE_FORMAT_VERSION - 1);
	raw_put(f->dir, 0, "format", v, 4, all_cfs, 8);
	assert_int_equal(kt_storage_open(f->dir, &f->opt, &st), KT_ERR_STORAGE_FORMAT);
	/* a 3-byte format record */
	raw_put(f->dir, 0, "format", v, 3, all_cfs, 8);
	assert_int_equal(kt_storage_open(f->dir, &f->opt, &st), KT_ERR_STORAGE_FORMAT);
	/* twin: the right version opens */
	kt_store_u32be(v, KT_STORAGE_FORMAT_VERSION);
	raw_put(f->dir, 0, "format", v, 4, all_cfs, 8);
	assert_int_equal(kt_storage_open(f->dir, &f->opt, &f->st), KT_OK);

	/* a foreign database (default family only, with data) */
	snprintf(dir2, sizeof(dir2), "/tmp/kt-storage-foreign-XXXXXX");
	assert_non_null(mkdtemp(dir2));
	raw_put(dir2, 0, "hello", (const uint8_t *)"x", 1, only_default, 1);
	assert_int_equal(kt_storage_open(dir2, &f->opt, &st), KT_ERR_STORAGE_FORMAT);
	/* a database with only some of our families is not touched */
	raw_put(dir2, 1, "k", (const uint8_t *)"x", 1, some, 2);
	assert_int_equal(kt_storage_open(dir2, &f->opt, &st), KT_ERR_STORAGE_FORMAT);
	kt_test_rm_tree(dir2);

	/* all families, data, but no format record: refused too */
	assert_non_null(mkdtemp(strcpy(dir2, "/tmp/kt-storage-noformat-XXXXXX")));
	raw_put(dir2, 1, "k", (const uint8_t *)"x", 1, all_cfs, 8);
	assert_int_equal(kt_storage_open(dir2, &f->opt, &st), KT_ERR_STORAGE_FORMAT);
	kt_test_rm_tree(dir2);
	/* all families and empty (an interrupted creation): initialised */
	assert_non_null(mkdtemp(strcpy(dir2, "/tmp/kt-storage-emptycf-XXXXXX")));
	raw_put(dir2, 7, "k", (const uint8_t *)"x", 1, all_cfs, 8);
	assert_int_equal(kt_storage_open(dir2, &f->opt, &st), KT_OK);
	kt_storage_close(st);
	kt_test_rm_tree(dir2);
}

/* ---- (3) batch atomicity ------------------------------------------------- */

static void test_batch_atomicity(void **state)
{
	struct fx *f = *state;
	kt_storage_batch *b, *b2;
	uint8_t h[H], prefix[32] = {0}, node[KT_STORAGE_MAP_NODE_MAX], *val;
	size_t len;
	uint64_t u, ver;

	fill(h, H, 9);
	node_val(node, 1, 1);
	/* aborted: nothing */
	assert_int_equal(kt_storage_batch_begin(f->st, &b), KT_OK);
	assert_int_equal(kt_storage_batch_begin(f->st, &b2), KT_ERR_INVALID_ARG);
	assert_null(b2);
	assert_int_equal(kt_storage_batch_meta_put_u64(b, KT_META_TREE_SIZE, 5), KT_OK);
	assert_int_equal(kt_storage_batch_log_node_put(b, 3, 4, h), KT_OK);
	assert_int_equal(kt_storage_batch_map_node_put(b, 0, prefix, 1, node, KT_MAP_NODE_BYTES), KT_OK);
	kt_storage_batch_abort(b);
	assert_int_equal(kt_storage_meta_get_u64(f->st, NULL, KT_META_TREE_SIZE, &u), KT_ERR_NOT_FOUND);
	assert_int_equal(kt_storage_log_node_get(f->st, NULL, 3, 4, h), KT_ERR_NOT_FOUND);
	assert_int_equal(kt_storage_map_node_get(f->st, NULL, 0, prefix, 9, &ver, node, &len),
			 KT_ERR_NOT_FOUND);
	assert_int_equal(kt_storage_applied_index(f->st, &u), KT_ERR_NOT_FOUND);

	/* a refused put poisons the batch: the valid puts are not written */
	assert_int_equal(kt_storage_batch_begin(f->st, &b), KT_OK);
	assert_int_equal(kt_storage_batch_meta_put_u64(b, KT_META_TREE_SIZE, 5), KT_OK);
	assert_int_equal(kt_storage_batch_meta_put_u64(b, KT_META_APPLIED_INDEX, 7),
			 KT_ERR_INVALID_ARG);
	assert_int_equal(kt_storage_batch_error(b), KT_ERR_INVALID_ARG);
	assert_int_equal(kt_storage_batch_log_entry_put(b, 0, (const uint8_t *)"e", 1),
			 KT_ERR_INVALID_ARG); /* sticky */
	assert_int_equal(kt_storage_batch_commit(b, 1), KT_ERR_INVALID_ARG);
	assert_int_equal(kt_storage_meta_get_u64(f->st, NULL, KT_META_TREE_SIZE, &u), KT_ERR_NOT_FOUND);
	assert_int_equal(kt_storage_log_entry_get(f->st, NULL, 0, &val, &len), KT_ERR_NOT_FOUND);

	/* raw puts of storage-owned meta keys and into map_nodes are refused */
	assert_int_equal(kt_storage_batch_begin(f->st, &b), KT_OK);
	assert_int_equal(kt_storage_batch_put(b, KT_CF_META, (const uint8_t *)"format", 6,
					      (const uint8_t *)"\0\0\0\1", 4), KT_ERR_INVALID_ARG);
	kt_storage_batch_abort(b);
	assert_int_equal(kt_storage_batch_begin(f->st, &b), KT_OK);
	assert_int_equal(kt_storage_batch_put(b, KT_CF_MAP_NODES, prefix, 32, node, 1),
			 KT_ERR_INVALID_ARG);
	kt_storage_batch_abort(b);
	/* caps */
	assert_int_equal(kt_storage_batch_begin(f->st, &b), KT_OK);
	assert_int_equal(kt_storage_batch_put(b, KT_CF_LOG_ENTRIES, prefix, KT_STORAGE_MAX_KEY + 1,
					      node, 1), KT_ERR_TOO_LARGE);
	kt_storage_batch_abort(b);

	/* twin: the same puts committed are all there */
	assert_int_equal(kt_storage_batch_begin(f->st, &b), KT_OK);
	assert_int_equal(kt_storage_batch_meta_put_u64(b, KT_META_TREE_SIZE, 5), KT_OK);
	assert_int_equal(kt_storage_batch_log_node_put(b, 3, 4, h), KT_OK);
	assert_int_equal(kt_storage_batch_map_node_put(b, 0, prefix, 1, node, KT_MAP_NODE_BYTES), KT_OK);
	assert_int_equal(kt_storage_batch_commit(b, 1), KT_OK);
	fx_reopen(f);
	assert_int_equal(kt_storage_meta_get_u64(f->st, NULL, KT_META_TREE_SIZE, &u), KT_OK);
	assert_int_equal(u, 5);
	assert_int_equal(kt_storage_log_node_get(f->st, NULL, 3, 4, h), KT_OK);
	assert_int_equal(kt_storage_map_node_get(f->st, NULL, 0, prefix, 9, &ver, node, &len), KT_OK);
	assert_int_equal(ver, 1);
}

/* ---- (4) versioned map nodes ------------------------------------------------ */

/* Expected answer at `at` for a position written at versions vs[0..n). */
static int expect_at(const uint64_t *vs, size_t n, uint64_t at, uint64_t *want)
{
	size_t i;
	int found = 0;

	*want = 0;
	for (i = 0; i < n; i++)
		if (vs[i] <= at && (!found || vs[i] > *want)) {
			*want = vs[i];
			found = 1;
		}
	return found;
}

struct mpos {
	uint16_t depth;
	uint8_t prefix[32];
	uint8_t tag;
	uint64_t vs[4];
	size_t n;
};

/* Positions that sort right next to each other and prefixes of each other. */
static void make_positions(struct mpos p[7])
{
	memset(p, 0, 7 * sizeof(*p));
	/* P: depth 8, prefix AB */
	p[0].depth = 8; p[0].prefix[0] = 0xAB; p[0].tag = 1;
	p[0].vs[0] = 1; p[0].vs[1] = 5; p[0].vs[2] = 9; p[0].n = 3;
	/* the next prefix at the same depth */
	p[1].depth = 8; p[1].prefix[0] = 0xAC; p[1].tag = 2;
	p[1].vs[0] = 3; p[1].vs[1] = 7; p[1].n = 2;
	/* the previous prefix at the same depth */
	p[2].depth = 8; p[2].prefix[0] = 0xAA; p[2].tag = 3;
	p[2].vs[0] = 0; p[2].vs[1] = 10; p[2].n = 2;
	/* a child of P: depth 9, same first byte, next bit 0 */
	p[3].depth = 9; p[3].prefix[0] = 0xAB; p[3].tag = 4;
	p[3].vs[0] = 2; p[3].vs[1] = 4; p[3].n = 2;
	/* P's parent: depth 7, prefix AA (AB with bit 7 cleared) */
	p[4].depth = 7; p[4].prefix[0] = 0xAA; p[4].tag = 5;
	p[4].vs[0] = 6; p[4].n = 1;
	/* the root */
	p[5].depth = 0; p[5].tag = 6;
	p[5].vs[0] = 0; p[5].vs[1] = 8; p[5].n = 2;
	/* the deepest position, all ones */
	p[6].depth = 256; memset(p[6].prefix, 0xFF, 32); p[6].tag = 7;
	p[6].vs[0] = 11; p[6].n = 1;
}

typedef int (*map_get_fn)(void *ctx, uint16_t depth, const uint8_t prefix[32],
			  uint64_t at, uint64_t *version, uint8_t *node,
			  size_t *len);

struct getter {
	kt_storage *st;
	kt_storage_view *v;
	kt_storage_batch *b;
};

static int get_any(void *ctx, uint16_t depth, const uint8_t prefix[32],
		   uint64_t at, uint64_t *version, uint8_t *node, size_t *len)
{
	struct getter *g = ctx;

	if (g->b != NULL)
		return kt_storage_batch_map_node_get(g->b, depth, prefix, at,
						     version, node, len);
	return kt_storage_map_node_get(g->st, g->v, depth, prefix, at, version,
				       node, len);
}

static void check_positions(struct getter *g, const struct mpos *p, size_t np)
{
	uint8_t node[KT_STORAGE_MAP_NODE_MAX], want_node[KT_MAP_NODE_BYTES];
	uint64_t at, ver, want;
	size_t i, len;
	static const uint64_t ats[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11,
				       12, 1000, UINT64_MAX - 1, UINT64_MAX};

	for (i = 0; i < np; i++) {
		size_t a;

		for (a = 0; a < sizeof(ats) / sizeof(ats[0]); a++) {
			int r;

			at = ats[a];
			r = get_any(g, p[i].depth, p[i].prefix, at, &ver, node, &len);
			if (!expect_at(p[i].vs, p[i].n, at, &want)) {
				assert_int_equal(r, KT_ERR_NOT_FOUND);
				assert_int_equal(len, 0);
				continue;
			}
			assert_int_equal(r, KT_OK);
			assert_int_equal(ver, want);
			node_val(want_node, p[i].tag, want);
			assert_int_equal(len, KT_MAP_NODE_BYTES);
			assert_memory_equal(node, want_node, KT_MAP_NODE_BYTES);
		}
	}
}

static void put_positions(kt_storage_batch *b, const struct mpos *p, size_t np,
			  uint64_t vmin, uint64_t vmax)
{
	uint8_t node[KT_MAP_NODE_BYTES];
	uint64_t v;
	size_t i, j;

	/* in version order, as the map writes */
	for (v = vmin; v <= vmax; v++)
		for (i = 0; i < np; i++)
			for (j = 0; j < p[i].n; j++)
				if (p[i].vs[j] == v) {
					node_val(node, p[i].tag, v);
					assert_int_equal(kt_storage_batch_map_node_put(
						b, p[i].depth, p[i].prefix, v, node,
						sizeof(node)), KT_OK);
				}
}

static void check_all_ways(kt_storage *st, const struct mpos *p, size_t np)
{
	struct getter g = {st, NULL, NULL};
	kt_storage_batch *b;

	check_positions(&g, p, np);
	assert_int_equal(kt_storage_view_open(st, &g.v), KT_OK);
	check_positions(&g, p, np);
	kt_storage_view_close(g.v);
	g.v = NULL;
	assert_int_equal(kt_storage_batch_begin(st, &g.b), KT_OK);
	check_positions(&g, p, np);
	b = g.b;
	kt_storage_batch_abort(b);
}

static void test_map_versions(void **state)
{
	struct fx *f = *state;
	struct mpos p[7];
	struct getter g = {f->st, NULL, NULL};
	kt_storage_batch *b;
	uint8_t key[KT_MAP_STORE_KEY_BYTES], bad[32] = {0}, node[KT_STORAGE_MAP_NODE_MAX];
	uint8_t v1[KT_MAP_NODE_BYTES];
	uint64_t ver;
	size_t len;

	make_positions(p);
	/* The key layout: depth, prefix, then ~version, newest first. */
	assert_int_equal(kt_map_store_key(key, 8, p[0].prefix, 5), KT_OK);
	assert_int_equal(key[0], 0);
	assert_int_equal(key[1], 8);
	assert_int_equal(key[2], 0xAB);
	assert_int_equal(kt_load_u64be(key + 34), UINT64_MAX - 5);

	/* (a) everything in one batch, read inside it before commit */
	assert_int_equal(kt_storage_batch_begin(f->st, &b), KT_OK);
	put_positions(b, p, 7, 0, 11);
	g.b = b;
	check_positions(&g, p, 7);
	g.b = NULL;
	/* nothing visible outside the batch yet */
	assert_int_equal(kt_storage_map_node_get(f->st, NULL, 8, p[0].prefix, 100, &ver, node, &len),
			 KT_ERR_NOT_FOUND);
	assert_int_equal(kt_storage_batch_commit(b, 1), KT_OK);
	/* (b) committed: latest, a view, and through an empty batch */
	check_all_ways(f->st, p, 7);
	fx_reopen(f);
	check_all_ways(f->st, p, 7);

	/* non-canonical positions are refused, not silently read */
	bad[0] = 0xAB;
	bad[1] = 0x80;
	assert_int_equal(kt_storage_map_node_get(f->st, NULL, 8, bad, 100, &ver, node, &len),
			 KT_ERR_INVALID_ARG);
	assert_int_equal(kt_storage_map_node_get(f->st, NULL, 257, bad, 100, &ver, node, &len),
			 KT_ERR_INVALID_ARG);
	/* a put below the position's newest committed version is refused ... */
	node_val(v1, 1, 4);
	assert_int_equal(kt_storage_batch_begin(f->st, &b), KT_OK);
	assert_int_equal(kt_storage_batch_map_node_put(b, 8, p[0].prefix, 4, v1, sizeof(v1)),
			 KT_ERR_INVALID_ARG);
	kt_storage_batch_abort(b);
	/* ... while the same (position, version) is a replay that replaces */
	node_val(v1, 1, 9);
	assert_int_equal(kt_storage_batch_begin(f->st, &b), KT_OK);
	assert_int_equal(kt_storage_batch_map_node_put(b, 8, p[0].prefix, 9, v1, sizeof(v1)), KT_OK);
	/* the batch's record is what the batch reads, and after commit */
	assert_int_equal(kt_storage_batch_map_node_get(b, 8, p[0].prefix, 9, &ver, node, &len),
			 KT_OK);
	assert_int_equal(ver, 9);
	assert_memory_equal(node, v1, sizeof(v1));
	/* and below the newest in the batch is refused */
	assert_int_equal(kt_storage_batch_map_node_put(b, 8, p[1].prefix, 12, v1, sizeof(v1)), KT_OK);
	assert_int_equal(kt_storage_batch_map_node_put(b, 8, p[1].prefix, 11, v1, sizeof(v1)),
			 KT_ERR_INVALID_ARG);
	kt_storage_batch_abort(b);
	check_all_ways(f->st, p, 7);

	/* a committed replay replaces the record (and the cached copy) */
	node_val(v1, 0x55, 9);
	assert_int_equal(kt_storage_batch_begin(f->st, &b), KT_OK);
	assert_int_equal(kt_storage_batch_map_node_put(b, 8, p[0].prefix, 9, v1, sizeof(v1)), KT_OK);
	assert_int_equal(kt_storage_batch_commit(b, 2), KT_OK);
	assert_int_equal(kt_storage_map_node_get(f->st, NULL, 8, p[0].prefix, 100, &ver, node, &len),
			 KT_OK);
	assert_int_equal(ver, 9);
	assert_memory_equal(node, v1, sizeof(v1));
	fx_reopen(f);
	assert_int_equal(kt_storage_map_node_get(f->st, NULL, 8, p[0].prefix, 9, &ver, node, &len),
			 KT_OK);
	assert_memory_equal(node, v1, sizeof(v1));
}

/* Versions split between committed and the batch: reads must merge. */
static void test_map_versions_mixed(void **state)
{
	struct fx *f = *state;
	struct mpos p[7];
	struct getter g = {f->st, NULL, NULL};
	kt_storage_batch *b;

	make_positions(p);
	assert_int_equal(kt_storage_batch_begin(f->st, &b), KT_OK);
	put_positions(b, p, 7, 0, 4);
	assert_int_equal(kt_storage_batch_commit(b, 1), KT_OK);
	assert_int_equal(kt_storage_batch_begin(f->st, &b), KT_OK);
	put_positions(b, p, 7, 5, 8);
	assert_int_equal(kt_storage_batch_commit(b, 2), KT_OK);
	assert_int_equal(kt_storage_batch_begin(f->st, &b), KT_OK);
	put_positions(b, p, 7, 9, 11);
	g.b = b;
	check_positions(&g, p, 7);
	assert_int_equal(kt_storage_batch_commit(b, 3), KT_OK);
	check_all_ways(f->st, p, 7);
}

/* ---- (5) read-your-writes and views ---------------------------------------- */

static void test_read_your_writes(void **state)
{
	struct fx *f = *state;
	kt_storage_batch *b;
	kt_storage_view *v;
	kt_storage_account_head head, got;
	kt_storage_account_version ver;
	uint8_t idx[32], h[H], h2[H], *val;
	size_t len;
	uint64_t u;

	fill(idx, 32, 3);
	fill(h, H, 4);
	memset(&head, 0, sizeof(head));
	head.version = 1;
	head.account[0] = 'a';
	head.account_len = 1;

	assert_int_equal(kt_storage_batch_begin(f->st, &b), KT_OK);
	assert_int_equal(kt_storage_batch_meta_put_u64(b, KT_META_TREE_SIZE, 1), KT_OK);
	assert_int_equal(kt_storage_batch_log_node_put(b, 0, 0, h), KT_OK);
	assert_int_equal(kt_storage_batch_account_head_put(b, idx, &head), KT_OK);
	assert_int_equal(kt_storage_batch_meta_get_u64(b, KT_META_TREE_SIZE, &u), KT_OK);
	assert_int_equal(u, 1);
	assert_int_equal(kt_storage_batch_log_node_get(b, 0, 0, h2), KT_OK);
	assert_memory_equal(h, h2, H);
	assert_int_equal(kt_storage_batch_account_head_get(b, idx, &got), KT_OK);
	assert_int_equal(got.version, 1);
	/* a second write of the same key in the batch wins */
	head.version = 2;
	assert_int_equal(kt_storage_batch_account_head_put(b, idx, &head), KT_OK);
	assert_int_equal(kt_storage_batch_account_head_get(b, idx, &got), KT_OK);
	assert_int_equal(got.version, 2);
	/* not visible outside before commit */
	assert_int_equal(kt_storage_log_node_get(f->st, NULL, 0, 0, h2), KT_ERR_NOT_FOUND);
	assert_int_equal(kt_storage_batch_commit(b, 1), KT_OK);
	/* twins: a head without an account or at version 0 poisons a batch */
	assert_int_equal(kt_storage_batch_begin(f->st, &b), KT_OK);
	head.account_len = 0;
	assert_int_equal(kt_storage_batch_account_head_put(b, idx, &head), KT_ERR_INVALID_ARG);
	assert_int_equal(kt_storage_batch_commit(b, 2), KT_ERR_INVALID_ARG);
	assert_int_equal(kt_storage_batch_begin(f->st, &b), KT_OK);
	head.account_len = 1;
	head.version = 0;
	assert_int_equal(kt_storage_batch_account_head_put(b, idx, &head), KT_ERR_INVALID_ARG);
	kt_storage_batch_abort(b);
	assert_int_equal(kt_storage_account_head_get(f->st, NULL, idx, &got), KT_OK);
	assert_int_equal(got.version, 2);

	/* a view taken now does not see what is committed after it */
	assert_int_equal(kt_storage_view_open(f->st, &v), KT_OK);
	assert_int_equal(kt_storage_batch_begin(f->st, &b), KT_OK);
	assert_int_equal(kt_storage_batch_meta_put_u64(b, KT_META_TREE_SIZE, 2), KT_OK);
	/* a delete in the batch hides the committed value */
	assert_int_equal(kt_storage_batch_delete(b, KT_CF_LOG_NODES,
						 (const uint8_t *)"\0\0\0\0\0\0\0\0\0", 9), KT_OK);
	assert_int_equal(kt_storage_batch_log_node_get(b, 0, 0, h2), KT_ERR_NOT_FOUND);
	assert_int_equal(kt_storage_batch_get(b, KT_CF_LOG_NODES,
					      (const uint8_t *)"\0\0\0\0\0\0\0\0\0", 9,
					      &val, &len), KT_ERR_NOT_FOUND);
	assert_null(val);
	assert_int_equal(kt_storage_batch_get(b, KT_CF_META, (const uint8_t *)"tree_size", 9,
					      &val, &len), KT_OK);
	assert_int_equal(len, 8);
	assert_int_equal(val[7], 2);
	kt_storage_free(val);
	/* version records are read back decoded */
	memset(&ver, 0, sizeof(ver));
	ver.log_index = 7;
	assert_int_equal(kt_storage_batch_account_version_put(b, idx, 2, &ver), KT_OK);
	assert_int_equal(kt_storage_batch_account_version_get(b, idx, 2, &ver), KT_OK);
	assert_int_equal(ver.log_index, 7);
	assert_int_equal(ver.value_len, 0);
	kt_storage_account_version_free(&ver);
	assert_int_equal(kt_storage_batch_commit(b, 2), KT_OK);

	assert_int_equal(kt_storage_meta_get_u64(f->st, v, KT_META_TREE_SIZE, &u), KT_OK);
	assert_int_equal(u, 1);
	assert_int_equal(kt_storage_log_node_get(f->st, v, 0, 0, h2), KT_OK);
	kt_storage_view_close(v);
	assert_int_equal(kt_storage_meta_get_u64(f->st, NULL, KT_META_TREE_SIZE, &u), KT_OK);
	assert_int_equal(u, 2);
	assert_int_equal(kt_storage_log_node_get(f->st, NULL, 0, 0, h2), KT_ERR_NOT_FOUND);
}

struct scan_seen {
	uint64_t pos[16];
	int n;
	int stop_after;
};

static int scan_cb(void *ctx, uint64_t pos, const uint8_t *entry, size_t len)
{
	struct scan_seen *s = ctx;

	assert_int_equal(len, 2);
	assert_int_equal(entry[0], 'e');
	assert_int_equal(entry[1], (uint8_t)pos);
	if (s->n >= 16)
		return -1;
	s->pos[s->n++] = pos;
	return s->n == s->stop_after ? 42 : 0;
}

static void test_log_entries_scan(void **state)
{
	struct fx *f = *state;
	kt_storage_batch *b;
	kt_storage_view *v;
	struct scan_seen s;
	uint8_t e[2] = {'e', 0};
	uint64_t i;

	assert_int_equal(kt_storage_batch_begin(f->st, &b), KT_OK);
	for (i = 0; i < 10; i++) {
		e[1] = (uint8_t)i;
		assert_int_equal(kt_storage_batch_log_entry_put(b, i, e, 2), KT_OK);
	}
	assert_int_equal(kt_storage_batch_commit(b, 1), KT_OK);
	assert_int_equal(kt_storage_view_open(f->st, &v), KT_OK);
	/* entry 10 committed after the view: the view's scan ends at 9 */
	assert_int_equal(kt_storage_batch_begin(f->st, &b), KT_OK);
	e[1] = 10;
	assert_int_equal(kt_storage_batch_log_entry_put(b, 10, e, 2), KT_OK);
	assert_int_equal(kt_storage_batch_commit(b, 2), KT_OK);

	memset(&s, 0, sizeof(s));
	assert_int_equal(kt_storage_log_entries_scan(f->st, NULL, 3, 7, scan_cb, &s), KT_OK);
	assert_int_equal(s.n, 4); /* 3, 4, 5, 6: end is exclusive */
	assert_int_equal(s.pos[0], 3);
	assert_int_equal(s.pos[3], 6);
	memset(&s, 0, sizeof(s));
	assert_int_equal(kt_storage_log_entries_scan(f->st, v, 8, UINT64_MAX, scan_cb, &s), KT_OK);
	assert_int_equal(s.n, 2);
	memset(&s, 0, sizeof(s));
	assert_int_equal(kt_storage_log_entries_scan(f->st, NULL, 8, UINT64_MAX, scan_cb, &s), KT_OK);
	assert_int_equal(s.n, 3);
	memset(&s, 0, sizeof(s));
	s.stop_after = 2;
	assert_int_equal(kt_storage_log_entries_scan(f->st, NULL, 0, 10, scan_cb, &s), 42);
	assert_int_equal(s.n, 2);
	memset(&s, 0, sizeof(s));
	assert_int_equal(kt_storage_log_entries_scan(f->st, NULL, 5, 5, scan_cb, &s), KT_OK);
	assert_int_equal(s.n, 0);
	kt_storage_view_close(v);
}

/* A stored record that does not decode is an error, not garbage. */
static void test_corrupt_records(void **state)
{
	struct fx *f = *state;
	kt_storage_batch *b;
	kt_storage_account_head head;
	kt_storage_account_version ver;
	uint8_t idx[32], k[40], h[H];

	fill(idx, 32, 8);
	memcpy(k, idx, 32);
	kt_store_u64be(k + 32, 1);
	assert_int_equal(kt_storage_batch_begin(f->st, &b), KT_OK);
	assert_int_equal(kt_storage_batch_put(b, KT_CF_ACCOUNTS, idx, 32, (const uint8_t *)"xx", 2),
			 KT_OK);
	assert_int_equal(kt_storage_batch_put(b, KT_CF_ACCOUNTS, k, 40, (const uint8_t *)"yy", 2),
			 KT_OK);
	assert_int_equal(kt_storage_batch_put(b, KT_CF_LOG_NODES, (const uint8_t *)"\0\0\0\0\0\0\0\0\0",
					      9, (const uint8_t *)"short", 5), KT_OK);
	assert_int_equal(kt_storage_batch_commit(b, 1), KT_OK);
	assert_int_equal(kt_storage_account_head_get(f->st, NULL, idx, &head), KT_ERR_TRUNCATED);
	assert_int_equal(head.version, 0);
	assert_int_equal(kt_storage_account_version_get(f->st, NULL, idx, 1, &ver), KT_ERR_TRUNCATED);
	assert_null(ver.raw);
	assert_int_equal(kt_storage_log_node_get(f->st, NULL, 0, 0, h), KT_ERR_STORAGE);
}

/* ---- (6) pruning ------------------------------------------------------------ */

static void prune_all(kt_storage *st, uint64_t boundary, size_t step)
{
	kt_storage_prune p;
	int guard = 0;

	assert_int_equal(kt_storage_prune_begin(st, boundary, &p), KT_OK);
	while (!p.done) {
		assert_int_equal(kt_storage_prune_step(st, &p, step), KT_OK);
		assert_true(++guard < 100000);
	}
}

static size_t count_map_records(kt_storage *st)
{
	struct mpos p[7];
	size_t i, n = 0;
	uint64_t at, ver;
	uint8_t node[KT_STORAGE_MAP_NODE_MAX];
	size_t len;

	/* count distinct versions readable per position at boundary..max */
	make_positions(p);
	for (i = 0; i < 7; i++) {
		uint64_t last = UINT64_MAX;

		for (at = kt_storage_prune_boundary(st); at <= 12; at++)
			if (kt_storage_map_node_get(st, NULL, p[i].depth, p[i].prefix, at,
						    &ver, node, &len) == KT_OK &&
			    ver != last) {
				last = ver;
				n++;
			}
	}
	return n;
}

static void test_prune_positions(void **state)
{
	struct fx *f = *state;
	struct mpos p[7];
	struct getter g = {f->st, NULL, NULL};
	kt_storage_batch *b;
	kt_storage_prune pr;
	uint8_t node[KT_STORAGE_MAP_NODE_MAX];
	uint64_t ver, at;
	size_t len, i;

	make_positions(p);
	assert_int_equal(kt_storage_batch_begin(f->st, &b), KT_OK);
	put_positions(b, p, 7, 0, 11);
	assert_int_equal(kt_storage_batch_commit(b, 1), KT_OK);
	assert_int_equal(count_map_records(f->st), 13);

	/* prune at 6, in steps of one key: what is live at >= 6 stays */
	prune_all(f->st, 6, 1);
	assert_int_equal(kt_storage_prune_boundary(f->st), 6);
	for (at = 6; at <= 13; at++)
		for (i = 0; i < 7; i++) {
			uint64_t want;
			int r = kt_storage_map_node_get(f->st, NULL, p[i].depth, p[i].prefix,
							at, &ver, node, &len);

			if (expect_at(p[i].vs, p[i].n, at, &want)) {
				assert_int_equal(r, KT_OK);
				assert_int_equal(ver, want);
			} else {
				assert_int_equal(r, KT_ERR_NOT_FOUND);
			}
		}
	/* below the boundary: refused, not answered from a partial history */
	for (at = 0; at < 6; at++)
		assert_int_equal(kt_storage_map_node_get(f->st, NULL, p[0].depth, p[0].prefix,
							 at, &ver, node, &len),
				 KT_ERR_STORAGE_PRUNED);
	/* reads through a batch see the same and are refused the same way */
	assert_int_equal(kt_storage_batch_begin(f->st, &g.b), KT_OK);
	assert_int_equal(kt_storage_batch_map_node_get(g.b, 8, p[0].prefix, 5, &ver, node, &len),
			 KT_ERR_STORAGE_PRUNED);
	kt_storage_batch_abort(g.b);
	g.b = NULL;

	/* the boundary survives a restart and never goes down */
	fx_reopen(f);
	assert_int_equal(kt_storage_prune_boundary(f->st), 6);
	assert_int_equal(kt_storage_prune_begin(f->st, 5, &pr), KT_ERR_INVALID_ARG);
	assert_int_equal(kt_storage_map_node_get(f->st, NULL, 8, p[0].prefix, 5, &ver, node, &len),
			 KT_ERR_STORAGE_PRUNED);
	/* a second pass at the same boundary deletes nothing more */
	assert_int_equal(kt_storage_prune_begin(f->st, 6, &pr), KT_OK);
	while (!pr.done)
		assert_int_equal(kt_storage_prune_step(f->st, &pr, 3), KT_OK);
	assert_int_equal(pr.deleted, 0);
	assert_int_equal(pr.positions, 7);
	/* 13 records - the 2 deleted (P at 1, P's child at 2) */
	assert_int_equal(pr.keys_seen, 11);
}

/* ---- (7) adapters ------------------------------------------------------------- */

static void leaf_for(uint8_t out[H], uint64_t i)
{
	uint8_t e[16];

	kt_store_u64be(e, i);
	kt_store_u64be(e + 8, i * 2654435761u);
	kt_log_leaf_hash(out, e, sizeof(e));
}

static void test_log_adapter(void **state)
{
	struct fx *f = *state;
	kt_log_memstore *m;
	kt_log mem, disk, reloaded;
	kt_log_store vs;
	kt_storage_batch *b;
	kt_storage_view *v;
	uint8_t leaf[H], r1[H], r2[H];
	uint8_t p1[KT_LOG_MAX_PROOF_HASHES][H], p2[KT_LOG_MAX_PROOF_HASHES][H];
	size_t n1, n2;
	uint64_t i, s;

	assert_int_equal(kt_log_memstore_new(&m), KT_OK);
	kt_log_init(&mem, kt_log_memstore_store(m));
	kt_log_init(&disk, kt_storage_log_store_apply(f->st));
	/* without a batch the apply store refuses puts */
	leaf_for(leaf, 0);
	assert_int_equal(kt_log_append(&disk, leaf, NULL), KT_ERR_INVALID_ARG);
	assert_int_equal(disk.size, 0);
	for (i = 0; i < 1000; i++) {
		if (i % 100 == 0)
			assert_int_equal(kt_storage_batch_begin(f->st, &b), KT_OK);
		leaf_for(leaf, i);
		assert_int_equal(kt_log_append(&mem, leaf, NULL), KT_OK);
		assert_int_equal(kt_log_append(&disk, leaf, NULL), KT_OK);
		/* the apply store reads its own batch: root_at over it works */
		if (i % 100 == 57) {
			assert_int_equal(kt_log_root_at(&disk.store, i + 1, r1), KT_OK);
			kt_log_root(&mem, r2);
			assert_memory_equal(r1, r2, H);
		}
		if (i % 100 == 99) {
			assert_int_equal(kt_storage_batch_meta_put_u64(b, KT_META_TREE_SIZE, i + 1),
					 KT_OK);
			assert_int_equal(kt_storage_batch_commit(b, i / 100 + 1), KT_OK);
		}
	}
	kt_log_root(&mem, r1);
	kt_log_root(&disk, r2);
	assert_memory_equal(r1, r2, H);

	fx_reopen(f);
	assert_int_equal(kt_storage_meta_get_u64(f->st, NULL, KT_META_TREE_SIZE, &s), KT_OK);
	assert_int_equal(kt_log_load(&reloaded, kt_storage_log_store_apply(f->st), s), KT_OK);
	kt_log_root(&reloaded, r2);
	assert_memory_equal(r1, r2, H);

	assert_int_equal(kt_storage_view_open(f->st, &v), KT_OK);
	vs = kt_storage_log_store_view(v);
	for (s = 1; s <= 1000; s += 37) {
		kt_log_store ms = kt_log_memstore_store(m);

		assert_int_equal(kt_log_root_at(&vs, s, r1), KT_OK);
		assert_int_equal(kt_log_root_at(&ms, s, r2), KT_OK);
		assert_memory_equal(r1, r2, H);
		assert_int_equal(kt_log_prove_inclusion(&vs, s / 2, s, p1, &n1), KT_OK);
		assert_int_equal(kt_log_prove_inclusion(&ms, s / 2, s, p2, &n2), KT_OK);
		assert_int_equal(n1, n2);
		if (n1 > 0)
			assert_memory_equal(p1, p2, n1 * H);
		assert_int_equal(kt_log_prove_consistency(&vs, s, 1000, p1, &n1), KT_OK);
		assert_int_equal(kt_log_prove_consistency(&ms, s, 1000, p2, &n2), KT_OK);
		assert_int_equal(n1, n2);
		if (n1 > 0)
			assert_memory_equal(p1, p2, n1 * H);
	}
	/* a size beyond what is stored: the missing node is reported */
	assert_int_equal(kt_log_root_at(&vs, 1001, r1), KT_ERR_NOT_FOUND);
	/* the read store refuses writes */
	assert_int_equal(vs.put(vs.ctx, 0, 5000, r1), KT_ERR_INVALID_ARG);
	kt_storage_view_close(v);
	kt_log_memstore_free(m);
}

#define NKEYS 1000
#define PER_BATCH 100

static void key_for(uint8_t idx[H], uint8_t dig[H], uint64_t i)
{
	uint8_t in[8];

	kt_store_u64be(in, i);
	kt_sha256(idx, in, 8);
	kt_sha256(dig, idx, H);
}

/* Builds the same map in memory and through the RocksDB apply adapter:
 * update i at version i; every 7th update rewrites an older key. */
static void build_maps(kt_storage *st, kt_map_mem *mm, uint8_t (*roots)[H])
{
	kt_map_store ms = kt_map_mem_store(mm);
	kt_map_store ds = kt_storage_map_store_apply(st);
	kt_storage_batch *b;
	uint8_t idx[H], dig[H], r1[H], r2[H];
	uint64_t i;

	for (i = 0; i < NKEYS; i++) {
		if (i % PER_BATCH == 0)
			assert_int_equal(kt_storage_batch_begin(st, &b), KT_OK);
		key_for(idx, dig, (i % 7 == 6) ? i / 2 : i);
		dig[0] ^= (uint8_t)i; /* a new digest on rewrites */
		assert_int_equal(kt_map_update(&ms, i, idx, dig, r1), KT_OK);
		assert_int_equal(kt_map_update(&ds, i, idx, dig, r2), KT_OK);
		assert_memory_equal(r1, r2, H);
		memcpy(roots[i], r1, H);
		if (i % PER_BATCH == PER_BATCH - 1)
			assert_int_equal(kt_storage_batch_commit(b, i / PER_BATCH + 1), KT_OK);
	}
}

static void check_map_at(kt_map_store *ds, kt_map_store *ms, uint64_t at,
			 const uint8_t root[H])
{
	uint8_t r[H], idx[H], dig[H];
	uint8_t *p1 = NULL, *p2 = NULL;
	size_t n1, n2;
	uint64_t k;

	assert_int_equal(kt_map_root(ds, at, r), KT_OK);
	assert_memory_equal(r, root, H);
	for (k = 0; k < NKEYS; k += 97) {
		key_for(idx, dig, k);
		assert_int_equal(kt_map_prove(ds, at, idx, &p1, &n1), KT_OK);
		assert_int_equal(kt_map_prove(ms, at, idx, &p2, &n2), KT_OK);
		assert_int_equal(n1, n2);
		assert_memory_equal(p1, p2, n1);
		/* the proof verifies against the root at `at` ... */
		if (p1[0] == KT_MAP_PROOF_INCLUSION) {
			assert_int_equal(kt_map_lookup(ds, at, idx, dig), KT_OK);
			assert_int_equal(kt_map_verify(root, idx, dig, (kt_bytes){p1, n1}), KT_OK);
			dig[5] ^= 1; /* ... and not for another digest */
			assert_int_not_equal(kt_map_verify(root, idx, dig, (kt_bytes){p1, n1}),
					     KT_OK);
		} else {
			assert_int_equal(kt_map_verify(root, idx, NULL, (kt_bytes){p1, n1}), KT_OK);
		}
		free(p1);
		free(p2);
	}
}

static void test_map_adapter(void **state)
{
	struct fx *f = *state;
	kt_map_mem *mm;
	kt_map_store ms, ds;
	kt_storage_view *v;
	uint8_t (*roots)[H] = calloc(NKEYS, H);
	uint8_t r[H], *proof;
	size_t plen;
	uint64_t at;
	kt_storage_stats stats;

	assert_non_null(roots);
	assert_int_equal(kt_map_mem_new(KT_MAP_MEM_HISTORY, 0, &mm), KT_OK);
	ms = kt_map_mem_store(mm);
	build_maps(f->st, mm, roots);
	kt_storage_get_stats(f->st, &stats);
	assert_true(stats.cache_hits > 0);
	fx_reopen(f);

	assert_int_equal(kt_storage_view_open(f->st, &v), KT_OK);
	ds = kt_storage_map_store_view(v);
	for (at = 0; at < NKEYS; at += 111)
		check_map_at(&ds, &ms, at, roots[at]);
	check_map_at(&ds, &ms, NKEYS - 1, roots[NKEYS - 1]);
	/* forgery twin: the root at another version differs */
	assert_int_equal(kt_map_root(&ds, 500, r), KT_OK);
	assert_memory_not_equal(r, roots[501], H);
	kt_storage_view_close(v);

	/* prune at 600: proofs at >= 600 still verify, below are refused */
	prune_all(f->st, 600, 257);
	assert_int_equal(kt_storage_view_open(f->st, &v), KT_OK);
	ds = kt_storage_map_store_view(v);
	for (at = 600; at < NKEYS; at += 53)
		check_map_at(&ds, &ms, at, roots[at]);
	check_map_at(&ds, &ms, 600, roots[600]);
	assert_int_equal(kt_map_root(&ds, 599, r), KT_ERR_STORAGE_PRUNED);
	assert_int_equal(kt_map_prove(&ds, 10, roots[0], &proof, &plen), KT_ERR_STORAGE_PRUNED);
	assert_null(proof);
	kt_storage_view_close(v);

	/* updates continue on the pruned store */
	{
		kt_storage_batch *b;
		uint8_t idx[H], dig[H], r1[H], r2[H];
		kt_map_store as = kt_storage_map_store_apply(f->st);

		assert_int_equal(kt_storage_batch_begin(f->st, &b), KT_OK);
		key_for(idx, dig, 123456);
		assert_int_equal(kt_map_update(&ms, NKEYS, idx, dig, r1), KT_OK);
		assert_int_equal(kt_map_update(&as, NKEYS, idx, dig, r2), KT_OK);
		assert_memory_equal(r1, r2, H);
		assert_int_equal(kt_storage_batch_commit(b, 100), KT_OK);
	}
	kt_map_mem_free(mm);
	free(roots);
}

/* The same map with the hot cache off and tiny: identical roots. */
static void test_cache_equivalence(void **state)
{
	struct fx *f = *state;
	kt_map_mem *mm;
	uint8_t (*roots)[H] = calloc(NKEYS, H);
	uint8_t (*roots2)[H] = calloc(NKEYS, H);
	kt_storage_stats stats;
	size_t sizes[2] = {0, 4};
	int k;

	assert_non_null(roots);
	assert_non_null(roots2);
	assert_int_equal(kt_map_mem_new(KT_MAP_MEM_HISTORY, 0, &mm), KT_OK);
	build_maps(f->st, mm, roots);
	kt_map_mem_free(mm);
	for (k = 0; k < 2; k++) {
		char dir[64];
		kt_storage_options o = f->opt;
		kt_storage *st;

		snprintf(dir, sizeof(dir), "/tmp/kt-storage-cache-XXXXXX");
		assert_non_null(mkdtemp(dir));
		o.cache_entries = sizes[k];
		assert_int_equal(kt_storage_open(dir, &o, &st), KT_OK);
		assert_int_equal(kt_map_mem_new(KT_MAP_MEM_HISTORY, 0, &mm), KT_OK);
		build_maps(st, mm, roots2);
		assert_memory_equal(roots, roots2, (size_t)NKEYS * H);
		kt_storage_get_stats(st, &stats);
		if (sizes[k] == 0)
			assert_int_equal(stats.cache_hits, 0);
		kt_map_mem_free(mm);
		kt_storage_close(st);
		kt_test_rm_tree(dir);
	}
	free(roots);
	free(roots2);
}

/* Map-cache and log-cache hits and misses since the last call. */
static void stats_delta(kt_storage *st, kt_storage_stats *last,
			uint64_t *map_hits, uint64_t *map_misses,
			uint64_t *log_hits, uint64_t *log_misses)
{
	kt_storage_stats now;

	kt_storage_get_stats(st, &now);
	*map_hits = now.cache_hits - last->cache_hits;
	*map_misses = now.cache_misses - last->cache_misses;
	*log_hits = now.log_cache_hits - last->log_cache_hits;
	*log_misses = now.log_cache_misses - last->log_cache_misses;
	*last = now;
}

/* (9b) Readers fill the caches; a view opened before a commit never stores
 * what it read (the commit may have replaced it), and answers at every `at`
 * stay exact with reader-filled entries. */
static void test_reader_fill(void **state)
{
	struct fx *f = *state;
	struct mpos p[7];
	kt_storage_batch *b;
	kt_storage_view *old;
	kt_storage_stats last;
	uint8_t node[KT_STORAGE_MAP_NODE_MAX], h[H], got[H];
	uint64_t ver, mh, mm, lh, lm;
	size_t len;

	make_positions(p);
	fill(h, H, 0x5A);
	assert_int_equal(kt_storage_batch_begin(f->st, &b), KT_OK);
	put_positions(b, p, 7, 0, 11);
	assert_int_equal(kt_storage_batch_log_node_put(b, 2, 7, h), KT_OK);
	assert_int_equal(kt_storage_batch_commit(b, 1), KT_OK);
	fx_reopen(f); /* empty caches */
	assert_int_equal(kt_storage_view_open(f->st, &old), KT_OK);
	/* a commit that writes only p[0], at version 12 */
	assert_int_equal(kt_storage_batch_begin(f->st, &b), KT_OK);
	node_val(node, p[0].tag, 12);
	assert_int_equal(kt_storage_batch_map_node_put(b, p[0].depth, p[0].prefix,
						       12, node, KT_MAP_NODE_BYTES), KT_OK);
	assert_int_equal(kt_storage_batch_commit(b, 2), KT_OK);
	p[0].vs[3] = 12;
	p[0].n = 4;
	kt_storage_get_stats(f->st, &last);

	/* the old view reads p[1] and log node (2, 7): right answers, misses,
	 * and nothing stored: the next plain reads miss too */
	assert_int_equal(kt_storage_map_node_get(f->st, old, p[1].depth, p[1].prefix,
						 UINT64_MAX, &ver, node, &len), KT_OK);
	assert_int_equal(ver, 7);
	assert_int_equal(kt_storage_log_node_get(f->st, old, 2, 7, got), KT_OK);
	assert_memory_equal(got, h, H);
	stats_delta(f->st, &last, &mh, &mm, &lh, &lm);
	assert_int_equal(mh, 0);
	assert_int_equal(lh, 0);
	assert_true(mm >= 1 && lm == 1);
	assert_int_equal(kt_storage_map_node_get(f->st, NULL, p[1].depth, p[1].prefix,
						 UINT64_MAX, &ver, node, &len), KT_OK);
	assert_int_equal(kt_storage_log_node_get(f->st, NULL, 2, 7, got), KT_OK);
	stats_delta(f->st, &last, &mh, &mm, &lh, &lm);
	assert_int_equal(mh, 0);
	assert_int_equal(lh, 0);
	/* those plain reads stored what they found: now both hit */
	assert_int_equal(kt_storage_map_node_get(f->st, NULL, p[1].depth, p[1].prefix,
						 UINT64_MAX, &ver, node, &len), KT_OK);
	assert_int_equal(ver, 7);
	assert_int_equal(kt_storage_log_node_get(f->st, NULL, 2, 7, got), KT_OK);
	assert_memory_equal(got, h, H);
	stats_delta(f->st, &last, &mh, &mm, &lh, &lm);
	assert_int_equal(mh, 1);
	assert_int_equal(lh, 1);
	/* an older `at` than the cached record's version misses, and is exact */
	assert_int_equal(kt_storage_map_node_get(f->st, NULL, p[1].depth, p[1].prefix,
						 5, &ver, node, &len), KT_OK);
	assert_int_equal(ver, 3);
	stats_delta(f->st, &last, &mh, &mm, &lh, &lm);
	assert_int_equal(mh, 0);
	kt_storage_view_close(old);
	/* twice: the second pass reads through what the first one stored */
	check_all_ways(f->st, p, 7);
	check_all_ways(f->st, p, 7);
	stats_delta(f->st, &last, &mh, &mm, &lh, &lm);
	assert_true(mh > 0);
}

/* (9c) Warming after a restart: every cacheable position's NEWEST record
 * and the log nodes enter the caches, reads then hit and stay exact, and a
 * later commit replaces what the warm-up stored. */
static void test_warm_caches(void **state)
{
	struct fx *f = *state;
	struct mpos p[7];
	kt_storage_batch *b;
	kt_storage_stats last;
	kt_storage_warm_stats ws;
	uint8_t node[KT_STORAGE_MAP_NODE_MAX], h[H], got[H];
	static const uint8_t big_prefix[32] = {0x60}; /* depth 3: 011 */
	uint64_t ver, mh, mm, lh, lm;
	size_t len;

	make_positions(p);
	fill(h, H, 0x77);
	assert_int_equal(kt_storage_batch_begin(f->st, &b), KT_OK);
	put_positions(b, p, 7, 0, 11);
	assert_int_equal(kt_storage_batch_log_node_put(b, 0, 3, h), KT_OK);
	assert_int_equal(kt_storage_batch_log_node_put(b, 1, 1, h), KT_OK);
	/* a stored node longer than the cache's records (the storage API
	 * takes up to KT_STORAGE_MAP_NODE_MAX): skipped, never retried */
	memset(node, 0x6B, sizeof(node));
	assert_int_equal(kt_storage_batch_map_node_put(b, 3, big_prefix, 4, node,
						       100), KT_OK);
	assert_int_equal(kt_storage_batch_commit(b, 1), KT_OK);
	fx_reopen(f);
	assert_int_equal(kt_storage_warm_caches(f->st, NULL, NULL, &ws), KT_OK);
	assert_int_equal(kt_storage_map_node_get(f->st, NULL, 3, big_prefix,
						 UINT64_MAX, &ver, node, &len), KT_OK);
	assert_int_equal(len, 100);
	assert_int_equal(node[99], 0x6B);
	/* six positions above depth 48 (the depth-256 one is not cached) */
	assert_int_equal(ws.map_positions, 6);
	assert_int_equal(ws.log_nodes, 2);
	kt_storage_get_stats(f->st, &last);
	assert_int_equal(kt_storage_map_node_get(f->st, NULL, p[0].depth, p[0].prefix,
						 UINT64_MAX, &ver, node, &len), KT_OK);
	assert_int_equal(ver, 9); /* the newest, not an older version */
	assert_int_equal(kt_storage_log_node_get(f->st, NULL, 1, 1, got), KT_OK);
	assert_memory_equal(got, h, H);
	stats_delta(f->st, &last, &mh, &mm, &lh, &lm);
	assert_int_equal(mh, 1);
	assert_int_equal(mm, 0);
	assert_int_equal(lh, 1);
	check_all_ways(f->st, p, 7);
	/* a commit after the warm-up wins */
	assert_int_equal(kt_storage_batch_begin(f->st, &b), KT_OK);
	node_val(node, p[0].tag, 12);
	assert_int_equal(kt_storage_batch_map_node_put(b, p[0].depth, p[0].prefix,
						       12, node, KT_MAP_NODE_BYTES), KT_OK);
	assert_int_equal(kt_storage_batch_commit(b, 2), KT_OK);
	p[0].vs[3] = 12;
	p[0].n = 4;
	check_all_ways(f->st, p, 7);
	/* no caches: nothing to warm */
	{
		char dir[64];
		kt_storage_options o = f->opt;
		kt_storage *st;

		snprintf(dir, sizeof(dir), "/tmp/kt-storage-warm-XXXXXX");
		assert_non_null(mkdtemp(dir));
		o.cache_entries = 0;
		o.log_cache_entries = 0;
		assert_int_equal(kt_storage_open(dir, &o, &st), KT_OK);
		assert_int_equal(kt_storage_warm_caches(st, NULL, NULL, &ws), KT_OK);
		assert_int_equal(ws.map_positions + ws.log_nodes, 0);
		kt_storage_close(st);
		kt_test_rm_tree(dir);
	}
}

/* ---- (8) fault injection ------------------------------------------------------ */

static void test_fault_injection(void **state)
{
	struct fx *f = *state;
	kt_storage_batch *b;
	kt_storage_prune pr;
	kt_map_store as = kt_storage_map_store_apply(f->st);
	uint8_t idx[H], dig[H], r[H], node[KT_STORAGE_MAP_NODE_MAX], *val;
	uint64_t u, ver;
	size_t len;
	kt_storage_stats stats;
	static const uint8_t zero[32];

	key_for(idx, dig, 1);
	f->sink.calls = 0;
	kt_storage_test_fail_writes(f->st, 1);
	assert_int_equal(kt_storage_batch_begin(f->st, &b), KT_OK);
	assert_int_equal(kt_map_update(&as, 0, idx, dig, r), KT_OK);
	assert_int_equal(kt_storage_batch_log_entry_put(b, 0, (const uint8_t *)"e", 1), KT_OK);
	assert_int_equal(kt_storage_batch_meta_put_u64(b, KT_META_TREE_SIZE, 1), KT_OK);
	assert_int_equal(kt_storage_batch_commit(b, 1), KT_ERR_STORAGE);
	assert_int_equal(f->sink.calls, 1);
	assert_int_equal(f->sink.last_code, KT_ERR_STORAGE);
	assert_non_null(strstr(f->sink.last, "commit"));
	kt_storage_get_stats(f->st, &stats);
	assert_int_equal(stats.write_errors, 1);
	/* nothing was written, and nothing is cached */
	assert_int_equal(kt_storage_log_entry_get(f->st, NULL, 0, &val, &len), KT_ERR_NOT_FOUND);
	assert_int_equal(kt_storage_meta_get_u64(f->st, NULL, KT_META_TREE_SIZE, &u), KT_ERR_NOT_FOUND);
	assert_int_equal(kt_storage_applied_index(f->st, &u), KT_ERR_NOT_FOUND);
	assert_int_equal(kt_map_root(&as, UINT64_MAX, r), KT_OK);
	assert_memory_equal(r, zero, 32);
	fx_reopen(f);
	as = kt_storage_map_store_apply(f->st);
	assert_int_equal(kt_storage_log_entry_get(f->st, NULL, 0, &val, &len), KT_ERR_NOT_FOUND);

	/* the retry succeeds (the hook fired once) */
	assert_int_equal(kt_storage_batch_begin(f->st, &b), KT_OK);
	assert_int_equal(kt_map_update(&as, 0, idx, dig, r), KT_OK);
	assert_int_equal(kt_storage_batch_log_entry_put(b, 0, (const uint8_t *)"e", 1), KT_OK);
	assert_int_equal(kt_storage_batch_commit(b, 1), KT_OK);
	assert_int_equal(kt_storage_log_entry_get(f->st, NULL, 0, &val, &len), KT_OK);
	kt_storage_free(val);

	/* a failing read (a position below the hot cache, so RocksDB is asked) */
	f->sink.calls = 0;
	kt_storage_test_fail_reads(f->st, 1);
	assert_int_equal(kt_storage_map_node_get(f->st, NULL, 20, zero, 5, &ver, node, &len),
			 KT_ERR_STORAGE);
	assert_int_equal(len, 0);
	assert_int_equal(f->sink.calls, 1);
	assert_int_equal(kt_storage_map_node_get(f->st, NULL, 20, zero, 5, &ver, node, &len),
			 KT_ERR_NOT_FOUND);
	kt_storage_test_fail_reads(f->st, 1);
	assert_int_equal(kt_storage_log_entry_get(f->st, NULL, 0, &val, &len), KT_ERR_STORAGE);
	assert_null(val);
	assert_int_equal(kt_storage_map_node_get(f->st, NULL, 0, zero, 5, &ver, node, &len), KT_OK);

	/* a failing prune-boundary write leaves the boundary where it was */
	kt_storage_test_fail_writes(f->st, 1);
	assert_int_equal(kt_storage_prune_begin(f->st, 1, &pr), KT_ERR_STORAGE);
	assert_int_equal(kt_storage_prune_boundary(f->st), 0);
}

/* ---- (10) readers, a writer and the pruner at the same time --------------- */

struct conc {
	kt_storage *st;
	atomic_int stop;
	atomic_int failures;
	atomic_ulong reads;
	atomic_ulong pruned; /* reads refused because the view fell behind */
};

#define CONC_BATCH 20

/* Writer: batches of CONC_BATCH map updates; entry i = the map root after
 * update i; TREE_SIZE in the same batch. */
static void *conc_writer(void *arg)
{
	struct conc *c = arg;
	kt_map_store ms = kt_storage_map_store_apply(c->st);
	kt_storage_batch *b;
	uint8_t idx[H], dig[H], root[H];
	uint64_t size = 0, i, batch = 0;

	while (!atomic_load(&c->stop) && size < 2400) {
		if (kt_storage_batch_begin(c->st, &b) != KT_OK)
			break;
		for (i = size; i < size + CONC_BATCH; i++) {
			key_for(idx, dig, i % 300);
			dig[2] ^= (uint8_t)i;
			if (kt_map_update(&ms, i, idx, dig, root) != KT_OK ||
			    kt_storage_batch_log_entry_put(b, i, root, H) != KT_OK)
				atomic_fetch_add(&c->failures, 1);
		}
		size += CONC_BATCH;
		(void)kt_storage_batch_meta_put_u64(b, KT_META_TREE_SIZE, size);
		if (kt_storage_batch_commit(b, ++batch) != KT_OK)
			atomic_fetch_add(&c->failures, 1);
	}
	atomic_store(&c->stop, 1);
	return NULL;
}

/* One reader check.  KT_ERR_STORAGE_PRUNED is a correct answer once the
 * pruner has moved the boundary past the view's size (the view is stale);
 * any other failure, or a wrong root, is not. */
static int conc_check(struct conc *c, kt_map_store *vs, uint64_t at,
		      const uint8_t root[H], uint64_t k)
{
	uint8_t idx[H], dig[H], r[H], *proof = NULL;
	size_t plen;
	int e, inc;

	key_for(idx, dig, k % 300);
	e = kt_map_root(vs, at, r);
	if (e == KT_OK && memcmp(r, root, H) != 0)
		return 0;
	if (e == KT_OK)
		e = kt_map_prove(vs, at, idx, &proof, &plen);
	if (e == KT_OK) {
		inc = proof[0] == KT_MAP_PROOF_INCLUSION;
		if (inc)
			e = kt_map_lookup(vs, at, idx, dig);
		if (e == KT_OK &&
		    kt_map_verify(root, idx, inc ? dig : NULL,
				  (kt_bytes){proof, plen}) != KT_OK) {
			free(proof);
			return 0;
		}
		free(proof);
	}
	if (e == KT_ERR_STORAGE_PRUNED && kt_storage_prune_boundary(c->st) > at) {
		atomic_fetch_add(&c->pruned, 1);
		return 1;
	}
	return e == KT_OK;
}

/* Reader: in a view, the map root at the newest size equals the root the
 * writer recorded in the last entry, and a proof there verifies. */
static void *conc_reader(void *arg)
{
	struct conc *c = arg;
	uint8_t *val;
	size_t len;
	uint64_t size, k = 0;

	while (!atomic_load(&c->stop)) {
		kt_storage_view *v;
		kt_map_store vs;
		int ok = 1;

		if (kt_storage_view_open(c->st, &v) != KT_OK) {
			atomic_fetch_add(&c->failures, 1);
			break;
		}
		vs = kt_storage_map_store_view(v);
		if (kt_storage_meta_get_u64(c->st, v, KT_META_TREE_SIZE, &size) == KT_OK &&
		    size > 0) {
			ok = kt_storage_log_entry_get(c->st, v, size - 1, &val, &len) == KT_OK &&
			     len == H;
			if (ok) {
				ok = conc_check(c, &vs, size - 1, val, k++);
				kt_storage_free(val);
			}
			atomic_fetch_add(&c->reads, 1);
		}
		if (!ok)
			atomic_fetch_add(&c->failures, 1);
		kt_storage_view_close(v);
	}
	return NULL;
}

/* Pruner: keeps the boundary 100 versions behind the tree. */
static void *conc_pruner(void *arg)
{
	struct conc *c = arg;
	kt_storage_prune p;
	uint64_t size;

	while (!atomic_load(&c->stop)) {
		if (kt_storage_meta_get_u64(c->st, NULL, KT_META_TREE_SIZE, &size) != KT_OK ||
		    size < 200 || size - 100 <= kt_storage_prune_boundary(c->st))
			continue;
		if (kt_storage_prune_begin(c->st, size - 100, &p) != KT_OK) {
			atomic_fetch_add(&c->failures, 1);
			break;
		}
		while (!p.done && !atomic_load(&c->stop))
			if (kt_storage_prune_step(c->st, &p, 500) != KT_OK) {
				atomic_fetch_add(&c->failures, 1);
				break;
			}
	}
	return NULL;
}

static void test_concurrency(void **state)
{
	struct fx *f = *state;
	struct conc c;
	pthread_t w, pr, rd[3];
	int i;

	memset(&c, 0, sizeof(c));
	c.st = f->st;
	assert_int_equal(pthread_create(&w, NULL, conc_writer, &c), 0);
	assert_int_equal(pthread_create(&pr, NULL, conc_pruner, &c), 0);
	for (i = 0; i < 3; i++)
		assert_int_equal(pthread_create(&rd[i], NULL, conc_reader, &c), 0);
	assert_int_equal(pthread_join(w, NULL), 0);
	assert_int_equal(pthread_join(pr, NULL), 0);
	for (i = 0; i < 3; i++)
		assert_int_equal(pthread_join(rd[i], NULL), 0);
	assert_int_equal(atomic_load(&c.failures), 0);
	assert_true(atomic_load(&c.reads) > atomic_load(&c.pruned) + 10);
	assert_true(kt_storage_prune_boundary(f->st) > 0);
}

/* ---- (11) kill -9 at a random moment restarts consistent ------------------ */

#define CRASH_BATCH 50

/* The child: appends batches of CRASH_BATCH map updates + log entries
 * (entry = u64 position || map root after it) until it is killed; after
 * its first commit it writes one byte to fd. */
static void crash_child(const char *dir, int fd)
{
	kt_storage *st;
	kt_storage_batch *b;
	kt_map_store ms;
	uint8_t idx[H], dig[H], e[8 + H];
	uint64_t applied = 0, size = 0, i;

	if (kt_storage_open(dir, NULL, &st) != KT_OK)
		_exit(2);
	if (kt_storage_applied_index(st, &applied) != KT_OK)
		applied = 0;
	if (kt_storage_meta_get_u64(st, NULL, KT_META_TREE_SIZE, &size) != KT_OK)
		size = 0;
	ms = kt_storage_map_store_apply(st);
	for (;;) {
		if (kt_storage_batch_begin(st, &b) != KT_OK)
			_exit(3);
		for (i = size; i < size + CRASH_BATCH; i++) {
			key_for(idx, dig, i % 700);
			dig[1] ^= (uint8_t)i;
			kt_store_u64be(e, i);
			if (kt_map_update(&ms, i, idx, dig, e + 8) != KT_OK)
				_exit(4);
			(void)kt_storage_batch_log_entry_put(b, i, e, sizeof(e));
		}
		size += CRASH_BATCH;
		(void)kt_storage_batch_meta_put_u64(b, KT_META_TREE_SIZE, size);
		if (kt_storage_batch_commit(b, ++applied) != KT_OK)
			_exit(5);
		if (fd >= 0 && write(fd, "c", 1) == 1) {
			close(fd);
			fd = -1;
		}
	}
}

static void test_crash_consistency(void **state)
{
	struct fx *f = *state;
	kt_map_mem *mm;
	kt_map_store ms, ds;
	kt_storage_view *v;
	uint8_t idx[H], dig[H], root[H], r[H], *val;
	size_t len;
	uint64_t applied, size, i, done = 0;
	int round, status;

	kt_storage_close(f->st);
	f->st = NULL;
	assert_int_equal(kt_map_mem_new(KT_MAP_MEM_LATEST_ONLY, 0, &mm), KT_OK);
	ms = kt_map_mem_store(mm);
	for (round = 0; round < 3; round++) {
		struct timespec ts = {0, 0};
		int fds[2];
		pid_t pid;
		char c;

		assert_int_equal(pipe(fds), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(fds[0]);
			crash_child(f->dir, fds[1]);
		}
		close(fds[1]);
		/* wait for one commit (EOF here: the child failed), then kill it
		 * at a random moment of its run */
		assert_int_equal(read(fds[0], &c, 1), 1);
		close(fds[0]);
		ts.tv_nsec = (long)(10 + randombytes_uniform(200)) * 1000000L;
		nanosleep(&ts, NULL);
		assert_int_equal(kill(pid, SIGKILL), 0);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFSIGNALED(status)); /* not an early _exit */

		assert_int_equal(kt_storage_open(f->dir, &f->opt, &f->st), KT_OK);
		assert_int_equal(kt_storage_applied_index(f->st, &applied), KT_OK);
		assert_int_equal(kt_storage_meta_get_u64(f->st, NULL, KT_META_TREE_SIZE, &size),
				 KT_OK);
		/* all of every committed batch, nothing of the interrupted one */
		assert_int_equal(size, applied * CRASH_BATCH);
		assert_true(size > done);
		assert_int_equal(kt_storage_log_entry_get(f->st, NULL, size, &val, &len),
				 KT_ERR_NOT_FOUND);
		assert_int_equal(kt_storage_view_open(f->st, &v), KT_OK);
		ds = kt_storage_map_store_view(v);
		for (i = done; i < size; i++) {
			key_for(idx, dig, i % 700);
			dig[1] ^= (uint8_t)i;
			assert_int_equal(kt_map_update(&ms, i, idx, dig, root), KT_OK);
			assert_int_equal(kt_storage_log_entry_get(f->st, v, i, &val, &len), KT_OK);
			assert_int_equal(len, 8 + H);
			assert_int_equal(kt_load_u64be(val), i);
			assert_memory_equal(val + 8, root, H);
			kt_storage_free(val);
		}
		assert_int_equal(kt_map_root(&ds, size - 1, r), KT_OK);
		assert_memory_equal(r, root, H);
		kt_storage_view_close(v);
		done = size;
		kt_storage_close(f->st);
		f->st = NULL;
	}
	assert_int_equal(kt_storage_open(f->dir, &f->opt, &f->st), KT_OK);
	kt_map_mem_free(mm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_close_reopen, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_format_mismatch, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_batch_atomicity, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_map_versions, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_map_versions_mixed, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_read_your_writes, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_log_entries_scan, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_records, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_prune_positions, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_log_adapter, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_map_adapter, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_cache_equivalence, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_reader_fill, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_warm_caches, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_fault_injection, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_concurrency, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_crash_consistency, fx_setup, fx_teardown),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
