/*
 * storage.c — ktd's RocksDB storage (see storage.h and
 * docs/PROTOCOL.md §9).
 *
 * Read-your-writes: a batch buffers its writes in an in-memory overlay (an
 * open-addressing hash table keyed by (column family, key)) plus, for map
 * nodes, a per-position list of the versions written in the batch.  Reads
 * through the batch look at the overlay first and then at RocksDB; for the
 * versioned map seek, a batch record <= at wins (a batch never writes a
 * position below its newest committed version), else the committed state
 * is sought.  The RocksDB WriteBatch is built from the overlay at commit,
 * sorted by key, so a key rewritten in a batch is written once.
 * (WriteBatchWithIndex was the alternative: its point reads work, but every
 * versioned seek would need a fresh base+delta iterator, which costs
 * microseconds per map node on the hot apply path; the overlay answers from
 * memory and lets the commit update the hot-node cache exactly.)
 */
#include "storage.h"
#include "hotcache.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rocksdb/c.h>
#include <sodium.h>

#include "kt_enc.h"

/* ---- names ------------------------------------------------------------ */

static const char *const cf_names[KT_CF_COUNT] = {
	"meta", "log_entries", "log_nodes", "map_nodes", "accounts",
	"account_names", "checkpoints",
};

static const char *const meta_names[KT_META_COUNT] = {
	"format", "tree_size", "applied_index", "node_id", "origin",
	"last_checkpoint", "cosigned_checkpoint", "prune_boundary",
	"map_next_version",
};

/* Meta keys only storage.c writes. */
static int meta_reserved(kt_storage_meta m)
{
	return m == KT_META_FORMAT || m == KT_META_APPLIED_INDEX ||
	       m == KT_META_PRUNE_BOUNDARY || m == KT_META_MAP_NEXT_VERSION;
}

#define POS_BYTES KT_STORAGE_MAP_POS_BYTES
#define MKEY_BYTES KT_MAP_STORE_KEY_BYTES
#define LOG_NODE_KEY_BYTES 9
#define ACCOUNT_VERSION_KEY_BYTES (KT_INDEX_BYTES + 8)
#define COSIG_TAG 0x01

_Static_assert(MKEY_BYTES == POS_BYTES + 8, "map key = position || ~version");
_Static_assert(KT_MAP_NODE_BYTES <= KT_STORAGE_MAP_NODE_MAX,
	       "a kt_map node fits a stored node");
_Static_assert(KT_STORAGE_MAP_NODE_MAX <= 255, "cache slot length is a u8");

/* ---- structures --------------------------------------------------------- */

struct kt_storage {
	rocksdb_t *db;
	rocksdb_options_t *db_opts;
	rocksdb_options_t *cf_opts[KT_CF_COUNT + 1]; /* [KT_CF_COUNT]: default */
	rocksdb_column_family_handle_t *cf[KT_CF_COUNT + 1];
	rocksdb_cache_t *block_cache;
	rocksdb_env_t *env;              /* the default environment's handle */
	rocksdb_readoptions_t *ro;       /* latest state */
	rocksdb_readoptions_t *ro_total; /* latest state, total-order seeks */
	rocksdb_writeoptions_t *wo_sync;
	rocksdb_writeoptions_t *wo_nosync;
	kt_storage_log_fn log;
	void *log_ctx;

	/* apply thread only (read elsewhere only through stats) */
	uint64_t applied_index;
	int have_applied;
	uint64_t map_next_version;

	_Atomic uint64_t prune_boundary;
	pthread_mutex_t prune_mu;
	atomic_int batch_open;
	kt_storage_batch *batch; /* the open batch (apply thread) */
	atomic_uint fail_writes;
	atomic_uint fail_reads;
	_Atomic uint64_t commits, write_errors;
	/* Hot caches (NULL: disabled): the newest committed record of map
	 * positions with depth < map_cache_depth, and log node hashes. */
	kt_hotcache *map_cache;
	unsigned map_cache_depth;
	kt_hotcache *log_cache;
	/* SHA-256(account name) -> map index of committed names (see
	 * kt_storage_account_index_cached); NULL: disabled. */
	kt_hotcache *name_cache;
	size_t block_cache_bytes;
	/* Odd while a commit changes committed map records; see map_fill. */
	_Atomic uint64_t commit_epoch;
	/* Bumped after each commit that wrote checkpoints or cosignatures. */
	_Atomic uint64_t checkpoint_gen;
	/* Format on disk: KT_STORAGE_FORMAT_VERSION, or
	 * KT_STORAGE_FORMAT_MIGRATABLE until the migration's commit. */
	atomic_uint format;
};

struct kt_storage_view {
	kt_storage *st;
	const rocksdb_snapshot_t *snap;
	rocksdb_readoptions_t *ro;
	rocksdb_iterator_t *map_it; /* lazily created, reused */
	uint64_t epoch; /* commit_epoch at the snapshot, or NO_FILL */
};

/* Overlay entry: key and value in one allocation (kv = key || value). */
struct ov_slot {
	uint64_t h;
	uint8_t *kv; /* NULL: empty slot */
	uint32_t klen;
	uint32_t vlen;
	uint8_t cf;
	uint8_t tomb;
};

struct overlay {
	struct ov_slot *s;
	size_t cap; /* power of two */
	size_t n;
	size_t bytes;
};

/* Versions of one map position written in the batch, ascending. */
struct pv_slot {
	uint8_t pos[POS_BYTES];
	uint8_t used;
	uint32_t n, cap;
	uint64_t *v;
};

struct posindex {
	struct pv_slot *s;
	size_t cap;
	size_t n;
};

struct kt_storage_batch {
	kt_storage *st;
	int err;
	struct overlay ov;
	struct posindex pv;
	rocksdb_iterator_t *map_it; /* committed map nodes, lazily created */
	uint64_t map_max;           /* highest map version written */
	int has_map;
	/* Log nodes written through the generic put/delete (tests, repairs):
	 * their cache entries are dropped at commit.  The log's own puts
	 * write immutable nodes and need no drop. */
	int log_rewritten;
	int wrote_checkpoints;      /* checkpoint or cosignature records */
	int wrote_names;            /* account_names records (name cache) */
	int set_format;             /* commit writes the current format */
};

/* ---- small helpers ------------------------------------------------------ */

static void report(kt_storage *st, int code, const char *what, const char *detail)
{
	char msg[512];

	if (st->log == NULL)
		return;
	snprintf(msg, sizeof(msg), "storage: %s: %s", what,
		 detail != NULL ? detail : "(no detail)");
	st->log(st->log_ctx, code, msg);
}

/* Maps a RocksDB error string to KT_ERR_STORAGE, reports and frees it. */
static int rdb_err(kt_storage *st, char *err, const char *what)
{
	report(st, KT_ERR_STORAGE, what, err);
	rocksdb_free(err);
	return KT_ERR_STORAGE;
}

/* Fault injection: consumes one pending injected failure, if any. */
static int injected(kt_storage *st, atomic_uint *ctr, const char *what)
{
	unsigned n = atomic_load(ctr);

	while (n > 0) {
		if (atomic_compare_exchange_weak(ctr, &n, n - 1)) {
			report(st, KT_ERR_STORAGE, what, "injected fault");
			return 1;
		}
	}
	return 0;
}

static void put_u64(uint8_t out[8], uint64_t v)
{
	kt_store_u64be(out, v);
}

static const uint8_t *meta_key(kt_storage_meta m, size_t *len)
{
	*len = strlen(meta_names[m]);
	return (const uint8_t *)meta_names[m];
}

static void log_node_key(uint8_t k[LOG_NODE_KEY_BYTES], unsigned level,
			 uint64_t index)
{
	k[0] = (uint8_t)level;
	put_u64(k + 1, index);
}

static void account_version_key(uint8_t k[ACCOUNT_VERSION_KEY_BYTES],
				const uint8_t index[KT_INDEX_BYTES],
				uint64_t version)
{
	memcpy(k, index, KT_INDEX_BYTES);
	put_u64(k + KT_INDEX_BYTES, version);
}

static uint64_t key_version(const uint8_t *k)
{
	return UINT64_MAX - kt_load_u64be(k + POS_BYTES);
}

static int pruned(kt_storage *st, uint64_t at)
{
	return at < atomic_load(&st->prune_boundary) ? KT_ERR_STORAGE_PRUNED
						     : KT_OK;
}

/* ---- hot caches --------------------------------------------------------- */
/*
 * map_cache, keyed by position, holds the NEWEST COMMITTED record of its
 * position.  A reader at `at` uses an entry only if its version is <= at,
 * which is then exactly the newest record <= at.  Writers: the commit drops
 * the positions a batch writes before the RocksDB write and stores the
 * batch's newest records after it; a read may store what it found if that
 * is the position's newest committed record (reader_map_get).
 * commit_epoch is odd while a commit runs; a read remembers the epoch its
 * snapshot was taken at and stores only while the epoch is unchanged
 * (checked under the slot's lock, which the commit's drop also takes), so a
 * record read before a commit can never re-enter the cache after the commit
 * dropped it.
 *
 * log_cache holds log node hashes, keyed by (level, index).  Log nodes never
 * change once written, so any read may store what it found.
 */

static int map_cacheable(const kt_storage *st, const uint8_t pos[POS_BYTES])
{
	unsigned depth = ((unsigned)pos[0] << 8) | pos[1];

	return st->map_cache != NULL && depth < st->map_cache_depth;
}

static int cache_get(kt_storage *st, const uint8_t pos[POS_BYTES], uint64_t at,
		     uint64_t *version, uint8_t *node, size_t *len)
{
	if (!map_cacheable(st, pos))
		return 0;
	return kt_hotcache_get(st->map_cache, pos, at, version, node, len);
}

static void cache_put(kt_storage *st, const uint8_t pos[POS_BYTES],
		      uint64_t version, const uint8_t *node, size_t len)
{
	if (map_cacheable(st, pos))
		kt_hotcache_put(st->map_cache, pos, version, node, len);
}

static void cache_invalidate(kt_storage *st, const uint8_t pos[POS_BYTES])
{
	if (map_cacheable(st, pos))
		kt_hotcache_drop(st->map_cache, pos);
}

/* The epoch a read that starts now may fill the map cache under, or
 * NO_FILL while a commit runs. */
#define NO_FILL UINT64_MAX
static uint64_t fill_epoch(kt_storage *st)
{
	uint64_t e = atomic_load(&st->commit_epoch);

	return (e & 1) != 0 ? NO_FILL : e;
}

static int caches_open(kt_storage *st, const kt_storage_options *o)
{
	int r;

	st->map_cache_depth = o->cache_max_depth;
	r = kt_hotcache_new(o->cache_max_depth > 0 ? o->cache_entries : 0,
			    POS_BYTES, KT_MAP_NODE_BYTES, &st->map_cache);
	if (r == KT_OK)
		r = kt_hotcache_new(o->log_cache_entries, LOG_NODE_KEY_BYTES,
				    KT_HASH_BYTES, &st->log_cache);
	if (r == KT_OK)
		r = kt_hotcache_new(o->name_cache_entries, KT_HASH_BYTES,
				    KT_INDEX_BYTES, &st->name_cache);
	return r;
}

/* ---- warming the caches --------------------------------------------------- */

#define WARM_CHECK_EVERY 4096u

struct warm {
	kt_storage *st;
	kt_storage_cf cf;
	rocksdb_iterator_t *it;
	uint64_t epoch;
	int (*stop)(void *);
	void *ctx;
	uint64_t steps;
};

/* A fresh iterator at an even commit epoch, at the first key >= key
 * (forward) or the last key <= key (backward; key NULL: the last key). */
static int warm_reopen(struct warm *w, const uint8_t *key, size_t klen,
		       int backward)
{
	if (w->it != NULL)
		rocksdb_iter_destroy(w->it);
	w->it = NULL;
	while ((w->epoch = fill_epoch(w->st)) == NO_FILL)
		sched_yield();
	w->it = rocksdb_create_iterator_cf(w->st->db, w->st->ro_total,
					   w->st->cf[w->cf]);
	if (w->it == NULL)
		return KT_ERR_NOMEM;
	if (!backward)
		rocksdb_iter_seek(w->it, (const char *)key, klen);
	else if (key != NULL)
		rocksdb_iter_seek_for_prev(w->it, (const char *)key, klen);
	else
		rocksdb_iter_seek_to_last(w->it);
	return KT_OK;
}

/* 1 when the scan should end: stop() said so (checked now and then). */
static int warm_stopping(struct warm *w)
{
	return ++w->steps % WARM_CHECK_EVERY == 0 && w->stop != NULL &&
	       w->stop(w->ctx);
}

static int warm_iter_error(struct warm *w, const char *what)
{
	char *err = NULL;

	rocksdb_iter_get_error(w->it, &err);
	return err != NULL ? rdb_err(w->st, err, what) : KT_OK;
}

/* Map records sort by position (depth first), newest version first: the
 * first record of each position is its newest. */
static int warm_map(struct warm *w, kt_storage_warm_stats *out)
{
	kt_storage *st = w->st;
	size_t budget = kt_hotcache_capacity(st->map_cache) / 4 * 3;
	uint8_t last[POS_BYTES], seek[MKEY_BYTES];
	const uint8_t *k, *v;
	size_t kl, vl;
	int have_last = 0, r;

	memset(seek, 0, sizeof(seek));
	r = warm_reopen(w, seek, MKEY_BYTES, 0);
	while (r == KT_OK && rocksdb_iter_valid(w->it) &&
	       out->map_positions < budget && !warm_stopping(w)) {
		k = (const uint8_t *)rocksdb_iter_key(w->it, &kl);
		v = (const uint8_t *)rocksdb_iter_value(w->it, &vl);
		out->map_records++;
		if (kl != MKEY_BYTES || !map_cacheable(st, k))
			break; /* deeper than the cache keeps, and all after */
		if ((have_last && memcmp(k, last, POS_BYTES) == 0) ||
		    vl > KT_MAP_NODE_BYTES) {
			/* an older version, or a record the cache cannot
			 * hold (put_if would refuse it at every retry) */
			rocksdb_iter_next(w->it);
			continue;
		}
		if (!kt_hotcache_put_if(st->map_cache, k, key_version(k), v, vl,
					&st->commit_epoch, w->epoch)) {
			/* a commit ran: read this position's newest again */
			memcpy(seek, k, POS_BYTES);
			memset(seek + POS_BYTES, 0, 8);
			r = warm_reopen(w, seek, MKEY_BYTES, 0);
			continue;
		}
		memcpy(last, k, POS_BYTES);
		have_last = 1;
		out->map_positions++;
		rocksdb_iter_next(w->it);
	}
	return r == KT_OK ? warm_iter_error(w, "warm map cache") : r;
}

/* Log nodes, highest level first (the key starts with the level). */
static int warm_log(struct warm *w, kt_storage_warm_stats *out)
{
	kt_storage *st = w->st;
	size_t budget = kt_hotcache_capacity(st->log_cache) / 4 * 3;
	uint8_t at[LOG_NODE_KEY_BYTES];
	const uint8_t *k, *v;
	size_t kl, vl;
	int r;

	r = warm_reopen(w, NULL, 0, 1);
	while (r == KT_OK && rocksdb_iter_valid(w->it) &&
	       out->log_nodes < budget && !warm_stopping(w)) {
		k = (const uint8_t *)rocksdb_iter_key(w->it, &kl);
		v = (const uint8_t *)rocksdb_iter_value(w->it, &vl);
		if (kl == LOG_NODE_KEY_BYTES && vl == KT_HASH_BYTES) {
			if (!kt_hotcache_put_if(st->log_cache, k, 0, v, vl,
						&st->commit_epoch, w->epoch)) {
				memcpy(at, k, sizeof(at));
				r = warm_reopen(w, at, sizeof(at), 1);
				continue;
			}
			out->log_nodes++;
		}
		rocksdb_iter_prev(w->it);
	}
	return r == KT_OK ? warm_iter_error(w, "warm log cache") : r;
}

static void name_cache_key(uint8_t k[KT_HASH_BYTES], const uint8_t *account,
			   size_t account_len);

/* Account names in key order (each record is immutable once written). */
static int warm_names(struct warm *w, kt_storage_warm_stats *out)
{
	kt_storage *st = w->st;
	size_t budget = kt_hotcache_capacity(st->name_cache) / 4 * 3;
	uint8_t at[KT_ACCOUNT_MAX], ck[KT_HASH_BYTES];
	const uint8_t *k, *v;
	size_t kl, vl;
	int r;

	r = warm_reopen(w, (const uint8_t *)"", 0, 0);
	while (r == KT_OK && rocksdb_iter_valid(w->it) &&
	       out->names < budget && !warm_stopping(w)) {
		k = (const uint8_t *)rocksdb_iter_key(w->it, &kl);
		v = (const uint8_t *)rocksdb_iter_value(w->it, &vl);
		if (kl >= KT_ACCOUNT_MIN && kl <= KT_ACCOUNT_MAX &&
		    vl == KT_INDEX_BYTES) {
			name_cache_key(ck, k, kl);
			if (!kt_hotcache_put_if(st->name_cache, ck, 0, v, vl,
						&st->commit_epoch, w->epoch)) {
				memcpy(at, k, kl);
				r = warm_reopen(w, at, kl, 0);
				continue;
			}
			out->names++;
		}
		rocksdb_iter_next(w->it);
	}
	return r == KT_OK ? warm_iter_error(w, "warm name cache") : r;
}

int kt_storage_warm_caches(kt_storage *st, int (*stop)(void *), void *ctx,
			   kt_storage_warm_stats *out)
{
	kt_storage_warm_stats local;
	struct warm w;
	int r = KT_OK;

	if (out == NULL)
		out = &local;
	memset(out, 0, sizeof(*out));
	memset(&w, 0, sizeof(w));
	w.st = st;
	w.stop = stop;
	w.ctx = ctx;
	if (st->map_cache != NULL) {
		w.cf = KT_CF_MAP_NODES;
		r = warm_map(&w, out);
	}
	if (r == KT_OK && st->log_cache != NULL && (stop == NULL || !stop(ctx))) {
		w.cf = KT_CF_LOG_NODES;
		r = warm_log(&w, out);
	}
	if (r == KT_OK && st->name_cache != NULL && (stop == NULL || !stop(ctx))) {
		w.cf = KT_CF_ACCOUNT_NAMES;
		r = warm_names(&w, out);
	}
	if (w.it != NULL)
		rocksdb_iter_destroy(w.it);
	return r;
}

/* ---- open / close --------------------------------------------------------- */

void kt_storage_options_init(kt_storage_options *o)
{
	memset(o, 0, sizeof(*o));
	o->create = 1;
	o->cache_entries = KT_STORAGE_CACHE_DEFAULT_ENTRIES;
	o->cache_max_depth = KT_STORAGE_CACHE_DEFAULT_DEPTH;
	o->log_cache_entries = KT_STORAGE_LOG_CACHE_DEFAULT_ENTRIES;
	o->name_cache_entries = KT_STORAGE_NAME_CACHE_DEFAULT_ENTRIES;
}

static void free_handles(kt_storage *st)
{
	size_t i;

	for (i = 0; i <= KT_CF_COUNT; i++) {
		if (st->cf[i] != NULL)
			rocksdb_column_family_handle_destroy(st->cf[i]);
		st->cf[i] = NULL;
	}
}

void kt_storage_close(kt_storage *st)
{
	size_t i;

	if (st == NULL)
		return;
	/* A batch left open (a caller's bug, or a failed test) would keep a
	 * RocksDB iterator alive past the close. */
	kt_storage_batch_abort(st->batch);
	/* Column-family handles go before the database. */
	free_handles(st);
	if (st->db != NULL)
		rocksdb_close(st->db);
	for (i = 0; i <= KT_CF_COUNT; i++)
		if (st->cf_opts[i] != NULL)
			rocksdb_options_destroy(st->cf_opts[i]);
	if (st->db_opts != NULL)
		rocksdb_options_destroy(st->db_opts);
	if (st->env != NULL)
		rocksdb_env_destroy(st->env);
	if (st->block_cache != NULL)
		rocksdb_cache_destroy(st->block_cache);
	if (st->ro != NULL)
		rocksdb_readoptions_destroy(st->ro);
	if (st->ro_total != NULL)
		rocksdb_readoptions_destroy(st->ro_total);
	if (st->wo_sync != NULL)
		rocksdb_writeoptions_destroy(st->wo_sync);
	if (st->wo_nosync != NULL)
		rocksdb_writeoptions_destroy(st->wo_nosync);
	kt_hotcache_free(st->map_cache);
	kt_hotcache_free(st->log_cache);
	kt_hotcache_free(st->name_cache);
	pthread_mutex_destroy(&st->prune_mu);
	free(st);
}

void kt_storage_free(void *p)
{
	/* RocksDB's C API returns malloc()ed copies (rocksdb_free is free). */
	free(p);
}

/* Per-column-family options: a shared block cache, bloom filters; map_nodes
 * gets a 34-byte (position) prefix extractor so that its bloom filter
 * answers the versioned seeks. */
static int make_cf_options(kt_storage *st)
{
	size_t i;

	st->block_cache = rocksdb_cache_create_lru(st->block_cache_bytes);
	if (st->block_cache == NULL)
		return KT_ERR_NOMEM;
	for (i = 0; i <= KT_CF_COUNT; i++) {
		rocksdb_block_based_table_options_t *t;

		st->cf_opts[i] = rocksdb_options_create_copy(st->db_opts);
		t = rocksdb_block_based_options_create();
		if (st->cf_opts[i] == NULL || t == NULL) {
			if (t != NULL)
				rocksdb_block_based_options_destroy(t);
			return KT_ERR_NOMEM;
		}
		rocksdb_block_based_options_set_block_cache(t, st->block_cache);
		/* the table options take ownership of the policy */
		rocksdb_block_based_options_set_filter_policy(
			t, rocksdb_filterpolicy_create_bloom_full(10));
		if (i == KT_CF_MAP_NODES) {
			rocksdb_block_based_options_set_whole_key_filtering(t, 0);
			/* the options take ownership of the transform */
			rocksdb_options_set_prefix_extractor(
				st->cf_opts[i],
				rocksdb_slicetransform_create_fixed_prefix(POS_BYTES));
		}
		/* A bloom filter over the memtable: point reads of keys it does
		 * not hold (most reads, after a burst of writes) skip its
		 * skiplist search, which was 10 % of a lookup's cpu. */
		rocksdb_options_set_memtable_prefix_bloom_size_ratio(st->cf_opts[i],
								     0.05);
		if (i != KT_CF_MAP_NODES)
			rocksdb_options_set_memtable_whole_key_filtering(
				st->cf_opts[i], 1);
		/* Tree nodes and entries are hashes: compression costs CPU on
		 * every read (snappy was 13% of an update) and saves nothing. */
		if (i == KT_CF_MAP_NODES || i == KT_CF_LOG_NODES)
			rocksdb_options_set_compression(st->cf_opts[i],
							rocksdb_no_compression);
		/* copies the table options */
		rocksdb_options_set_block_based_table_factory(st->cf_opts[i], t);
		rocksdb_block_based_options_destroy(t);
	}
	return KT_OK;
}

/* 1 if every name of ours is in list. */
static int has_all_cfs(char **list, size_t n)
{
	size_t i, j;

	for (i = 0; i < KT_CF_COUNT; i++) {
		for (j = 0; j < n; j++)
			if (strcmp(list[j], cf_names[i]) == 0)
				break;
		if (j == n)
			return 0;
	}
	return 1;
}

static int cf_is_empty(kt_storage *st, rocksdb_column_family_handle_t *cf,
		       int *empty)
{
	rocksdb_iterator_t *it = rocksdb_create_iterator_cf(st->db, st->ro_total, cf);
	char *err = NULL;

	if (it == NULL)
		return KT_ERR_NOMEM;
	rocksdb_iter_seek_to_first(it);
	*empty = !rocksdb_iter_valid(it);
	rocksdb_iter_get_error(it, &err);
	rocksdb_iter_destroy(it);
	return err != NULL ? rdb_err(st, err, "open: scan") : KT_OK;
}

/* Raw read of a meta value at the latest state into a fixed buffer. */
static int meta_read_fixed(kt_storage *st, kt_storage_meta m, uint8_t *out,
			   size_t want, int *found)
{
	rocksdb_pinnableslice_t *ps;
	const char *v;
	size_t klen, vlen;
	const uint8_t *k = meta_key(m, &klen);
	char *err = NULL;

	*found = 0;
	ps = rocksdb_get_pinned_cf(st->db, st->ro, st->cf[KT_CF_META],
				   (const char *)k, klen, &err);
	if (err != NULL)
		return rdb_err(st, err, "open: read meta");
	if (ps == NULL)
		return KT_OK;
	v = rocksdb_pinnableslice_value(ps, &vlen);
	if (vlen != want) {
		rocksdb_pinnableslice_destroy(ps);
		report(st, KT_ERR_STORAGE_FORMAT, "open", "meta value of wrong length");
		return KT_ERR_STORAGE_FORMAT;
	}
	memcpy(out, v, want);
	rocksdb_pinnableslice_destroy(ps);
	*found = 1;
	return KT_OK;
}

static int meta_read_u64(kt_storage *st, kt_storage_meta m, uint64_t *out,
			 int *found)
{
	uint8_t b[8];
	int r = meta_read_fixed(st, m, b, 8, found);

	*out = (r == KT_OK && *found) ? kt_load_u64be(b) : 0;
	return r;
}

/* Checks the format of an opened database, initialising a new (empty) one;
 * with allow_migration the format a migration starts from is taken too.
 * Sets st->format. */
static int check_format(kt_storage *st, int allow_migration)
{
	uint8_t b[4];
	int found, empty, r;
	size_t i, klen;
	const uint8_t *k;
	char *err = NULL;

	r = meta_read_fixed(st, KT_META_FORMAT, b, 4, &found);
	if (r != KT_OK)
		return r;
	if (found) {
		uint32_t f = kt_load_u32be(b);

		if (f != KT_STORAGE_FORMAT_VERSION &&
		    !(allow_migration && f == KT_STORAGE_FORMAT_MIGRATABLE)) {
			report(st, KT_ERR_STORAGE_FORMAT, "open",
			       "on-disk format version differs");
			return KT_ERR_STORAGE_FORMAT;
		}
		atomic_store(&st->format, f);
		return KT_OK;
	}
	/* No format record: only a database with nothing in it (new, or one
	 * whose creation was interrupted) may be initialised. */
	for (i = 0; i < KT_CF_COUNT; i++) {
		r = cf_is_empty(st, st->cf[i], &empty);
		if (r != KT_OK)
			return r;
		if (!empty) {
			report(st, KT_ERR_STORAGE_FORMAT, "open",
			       "database has data but no format record");
			return KT_ERR_STORAGE_FORMAT;
		}
	}
	kt_store_u32be(b, KT_STORAGE_FORMAT_VERSION);
	k = meta_key(KT_META_FORMAT, &klen);
	rocksdb_put_cf(st->db, st->wo_sync, st->cf[KT_CF_META], (const char *)k,
		       klen, (const char *)b, 4, &err);
	if (err != NULL)
		return rdb_err(st, err, "open: write format");
	atomic_store(&st->format, KT_STORAGE_FORMAT_VERSION);
	return KT_OK;
}

static int load_state(kt_storage *st)
{
	uint64_t v;
	int found, r;

	r = meta_read_u64(st, KT_META_APPLIED_INDEX, &st->applied_index,
			  &st->have_applied);
	if (r == KT_OK)
		r = meta_read_u64(st, KT_META_MAP_NEXT_VERSION,
				  &st->map_next_version, &found);
	if (r == KT_OK)
		r = meta_read_u64(st, KT_META_PRUNE_BOUNDARY, &v, &found);
	if (r == KT_OK)
		atomic_store(&st->prune_boundary, v);
	return r;
}

static int open_db(kt_storage *st, const char *dir, int create)
{
	const char *names[KT_CF_COUNT + 1];
	rocksdb_column_family_handle_t *handles[KT_CF_COUNT + 1];
	char **list;
	size_t n = 0, i;
	char *err = NULL;
	int exists;

	list = rocksdb_list_column_families(st->db_opts, dir, &n, &err);
	exists = (err == NULL);
	if (err != NULL)
		rocksdb_free(err);
	err = NULL;
	if (exists) {
		int ok = list != NULL && has_all_cfs(list, n);

		if (list != NULL)
			rocksdb_list_column_families_destroy(list, n);
		if (!ok) {
			report(st, KT_ERR_STORAGE_FORMAT, "open",
			       "column families missing: not a ktd database");
			return KT_ERR_STORAGE_FORMAT;
		}
	} else {
		/* even on failure the C API returns a (zero-length) list */
		if (list != NULL)
			rocksdb_list_column_families_destroy(list, n);
		if (!create)
			return KT_ERR_NOT_FOUND;
	}
	for (i = 0; i < KT_CF_COUNT; i++)
		names[i] = cf_names[i];
	names[KT_CF_COUNT] = "default";
	memset(handles, 0, sizeof(handles));
	st->db = rocksdb_open_column_families(
		st->db_opts, dir, KT_CF_COUNT + 1, names,
		(const rocksdb_options_t *const *)st->cf_opts, handles, &err);
	if (err != NULL) {
		st->db = NULL;
		return rdb_err(st, err, "open");
	}
	for (i = 0; i <= KT_CF_COUNT; i++)
		st->cf[i] = handles[i];
	return KT_OK;
}

static int make_rw_options(kt_storage *st)
{
	st->ro = rocksdb_readoptions_create();
	st->ro_total = rocksdb_readoptions_create();
	st->wo_sync = rocksdb_writeoptions_create();
	st->wo_nosync = rocksdb_writeoptions_create();
	if (st->ro == NULL || st->ro_total == NULL || st->wo_sync == NULL ||
	    st->wo_nosync == NULL)
		return KT_ERR_NOMEM;
	rocksdb_readoptions_set_total_order_seek(st->ro_total, 1);
	rocksdb_writeoptions_set_sync(st->wo_sync, 1);
	rocksdb_writeoptions_set_sync(st->wo_nosync, 0);
	return KT_OK;
}

/* Compactions (RocksDB's low-priority pool) run at a lower cpu and i/o
 * priority than the apply thread and the request workers: on a small
 * machine they otherwise take a core from the critical path for seconds
 * and show in the update latency tail.  Flushes keep their priority
 * (writes wait for them).  The priority belongs to the process's default
 * environment, shared by every database the process opens. */
static int lower_compaction_priority(kt_storage *st)
{
	st->env = rocksdb_create_default_env();
	if (st->env == NULL)
		return KT_ERR_NOMEM;
	rocksdb_env_lower_thread_pool_cpu_priority(st->env);
	rocksdb_env_lower_thread_pool_io_priority(st->env);
	rocksdb_options_set_env(st->db_opts, st->env);
	return KT_OK;
}

int kt_storage_open(const char *dir, const kt_storage_options *o,
		    kt_storage **out)
{
	kt_storage_options defaults;
	kt_storage *st = NULL;
	int r;

	*out = NULL;
	if (o == NULL) {
		kt_storage_options_init(&defaults);
		o = &defaults;
	}
	if (dir == NULL || o->cache_max_depth > KT_MAP_MAX_DEPTH + 1)
		return KT_ERR_INVALID_ARG;
	st = calloc(1, sizeof(*st));
	if (st == NULL)
		return KT_ERR_NOMEM;
	st->log = o->log;
	st->log_ctx = o->log_ctx;
	if (pthread_mutex_init(&st->prune_mu, NULL) != 0) {
		free(st);
		return KT_ERR_NOMEM;
	}
	st->block_cache_bytes = o->block_cache_bytes != 0
				? o->block_cache_bytes
				: KT_STORAGE_BLOCK_CACHE_DEFAULT_BYTES;
	r = caches_open(st, o);
	if (r != KT_OK)
		goto out;
	st->db_opts = rocksdb_options_create();
	if (st->db_opts == NULL) {
		r = KT_ERR_NOMEM;
		goto out;
	}
	rocksdb_options_set_create_if_missing(st->db_opts, o->create ? 1 : 0);
	rocksdb_options_set_create_missing_column_families(st->db_opts,
							   o->create ? 1 : 0);
	rocksdb_options_set_keep_log_file_num(st->db_opts, 4);
	/* Column families written rarely (meta, checkpoints) keep old WAL
	 * files alive until their memtables flush: at 1M accounts dozens of
	 * files (over a gigabyte) piled up and a restart replayed them for
	 * ~10 s.  Past this total, RocksDB flushes the families that hold the
	 * oldest file. */
	rocksdb_options_set_max_total_wal_size(st->db_opts, KT_STORAGE_MAX_WAL_BYTES);
	r = lower_compaction_priority(st);
	if (r == KT_OK)
		r = make_rw_options(st);
	if (r == KT_OK)
		r = make_cf_options(st);
	if (r == KT_OK)
		r = open_db(st, dir, o->create);
	if (r == KT_OK)
		r = check_format(st, o->allow_migration);
	if (r == KT_OK)
		r = load_state(st);
	if (r != KT_OK)
		goto out;
	*out = st;
	st = NULL;
out:
	kt_storage_close(st);
	return r;
}

uint32_t kt_storage_format(kt_storage *st)
{
	return atomic_load(&st->format);
}

/* ---- views ------------------------------------------------------------------ */

int kt_storage_view_open(kt_storage *st, kt_storage_view **out)
{
	kt_storage_view *v;

	*out = NULL;
	v = calloc(1, sizeof(*v));
	if (v == NULL)
		return KT_ERR_NOMEM;
	v->st = st;
	v->ro = rocksdb_readoptions_create();
	if (v->ro == NULL) {
		free(v);
		return KT_ERR_NOMEM;
	}
	v->epoch = fill_epoch(st);
	v->snap = rocksdb_create_snapshot(st->db);
	rocksdb_readoptions_set_snapshot(v->ro, v->snap);
	*out = v;
	return KT_OK;
}

void kt_storage_view_close(kt_storage_view *v)
{
	if (v == NULL)
		return;
	if (v->map_it != NULL)
		rocksdb_iter_destroy(v->map_it);
	rocksdb_readoptions_destroy(v->ro);
	rocksdb_release_snapshot(v->st->db, v->snap);
	free(v);
}

static const rocksdb_readoptions_t *ro_of(kt_storage *st, kt_storage_view *v)
{
	return v != NULL ? v->ro : st->ro;
}

/* ---- committed reads ---------------------------------------------------------- */

static int check_key(kt_storage_cf cf, const uint8_t *key, size_t klen)
{
	if ((unsigned)cf >= KT_CF_COUNT || (key == NULL && klen > 0))
		return KT_ERR_INVALID_ARG;
	if (klen > KT_STORAGE_MAX_KEY)
		return KT_ERR_TOO_LARGE;
	return KT_OK;
}

static int db_get(kt_storage *st, const rocksdb_readoptions_t *ro,
		  kt_storage_cf cf, const uint8_t *key, size_t klen,
		  uint8_t **val, size_t *vlen)
{
	char *err = NULL, *p;
	size_t n = 0;

	if (injected(st, &st->fail_reads, "get"))
		return KT_ERR_STORAGE;
	p = rocksdb_get_cf(st->db, ro, st->cf[cf], (const char *)key, klen, &n,
			   &err);
	if (err != NULL)
		return rdb_err(st, err, "get");
	if (p == NULL)
		return KT_ERR_NOT_FOUND;
	*val = (uint8_t *)p;
	*vlen = n;
	return KT_OK;
}

/* Reads a value that must be exactly `want` bytes into out (no allocation). */
static int db_get_fixed(kt_storage *st, const rocksdb_readoptions_t *ro,
			kt_storage_cf cf, const uint8_t *key, size_t klen,
			uint8_t *out, size_t want)
{
	rocksdb_pinnableslice_t *ps;
	const char *v;
	size_t vlen;
	char *err = NULL;

	if (injected(st, &st->fail_reads, "get"))
		return KT_ERR_STORAGE;
	ps = rocksdb_get_pinned_cf(st->db, ro, st->cf[cf], (const char *)key,
				   klen, &err);
	if (err != NULL)
		return rdb_err(st, err, "get");
	if (ps == NULL)
		return KT_ERR_NOT_FOUND;
	v = rocksdb_pinnableslice_value(ps, &vlen);
	if (vlen == want)
		memcpy(out, v, want);
	rocksdb_pinnableslice_destroy(ps);
	if (vlen != want) {
		report(st, KT_ERR_STORAGE, "get", "stored value has the wrong length");
		return KT_ERR_STORAGE;
	}
	return KT_OK;
}

int kt_storage_get(kt_storage *st, kt_storage_view *v, kt_storage_cf cf,
		   const uint8_t *key, size_t klen, uint8_t **val, size_t *vlen)
{
	int r;

	*val = NULL;
	*vlen = 0;
	r = check_key(cf, key, klen);
	if (r != KT_OK)
		return r;
	return db_get(st, ro_of(st, v), cf, key, klen, val, vlen);
}

int kt_storage_meta_get(kt_storage *st, kt_storage_view *v, kt_storage_meta m,
			uint8_t **val, size_t *vlen)
{
	size_t klen;
	const uint8_t *k;

	*val = NULL;
	*vlen = 0;
	if ((unsigned)m >= KT_META_COUNT)
		return KT_ERR_INVALID_ARG;
	k = meta_key(m, &klen);
	return db_get(st, ro_of(st, v), KT_CF_META, k, klen, val, vlen);
}

int kt_storage_meta_get_u64(kt_storage *st, kt_storage_view *v,
			    kt_storage_meta m, uint64_t *out)
{
	uint8_t b[8];
	size_t klen;
	const uint8_t *k;
	int r;

	*out = 0;
	if ((unsigned)m >= KT_META_COUNT || m == KT_META_FORMAT)
		return KT_ERR_INVALID_ARG;
	k = meta_key(m, &klen);
	r = db_get_fixed(st, ro_of(st, v), KT_CF_META, k, klen, b, 8);
	if (r == KT_OK)
		*out = kt_load_u64be(b);
	return r;
}

int kt_storage_log_entry_get(kt_storage *st, kt_storage_view *v, uint64_t pos,
			     uint8_t **val, size_t *vlen)
{
	uint8_t k[8];

	*val = NULL;
	*vlen = 0;
	put_u64(k, pos);
	return db_get(st, ro_of(st, v), KT_CF_LOG_ENTRIES, k, 8, val, vlen);
}

int kt_storage_log_entries_scan(kt_storage *st, kt_storage_view *v,
				uint64_t start, uint64_t end,
				kt_storage_entry_fn fn, void *ctx)
{
	rocksdb_iterator_t *it;
	uint8_t k[8];
	char *err = NULL;
	int r = KT_OK;

	if (fn == NULL)
		return KT_ERR_INVALID_ARG;
	if (start >= end)
		return KT_OK;
	if (injected(st, &st->fail_reads, "scan log entries"))
		return KT_ERR_STORAGE;
	it = rocksdb_create_iterator_cf(st->db, ro_of(st, v),
					st->cf[KT_CF_LOG_ENTRIES]);
	if (it == NULL)
		return KT_ERR_NOMEM;
	put_u64(k, start);
	for (rocksdb_iter_seek(it, (const char *)k, 8); rocksdb_iter_valid(it);
	     rocksdb_iter_next(it)) {
		size_t kl, vl;
		const uint8_t *kp = (const uint8_t *)rocksdb_iter_key(it, &kl);
		const uint8_t *vp = (const uint8_t *)rocksdb_iter_value(it, &vl);
		uint64_t pos;

		if (kl != 8) {
			report(st, KT_ERR_STORAGE, "scan log entries", "bad key length");
			r = KT_ERR_STORAGE;
			break;
		}
		pos = kt_load_u64be(kp);
		if (pos >= end)
			break;
		r = fn(ctx, pos, vp, vl);
		if (r != 0)
			break;
	}
	if (r == KT_OK) {
		rocksdb_iter_get_error(it, &err);
		if (err != NULL)
			r = rdb_err(st, err, "scan log entries");
	}
	rocksdb_iter_destroy(it);
	return r;
}

/* 1 and the hash if the log cache holds node k. */
static int log_cache_get(kt_storage *st, const uint8_t k[LOG_NODE_KEY_BYTES],
			 uint8_t out[KT_HASH_BYTES])
{
	uint64_t tag;
	size_t len = 0;

	return kt_hotcache_get(st->log_cache, k, UINT64_MAX, &tag, out, &len) &&
	       len == KT_HASH_BYTES;
}

int kt_storage_log_node_get(kt_storage *st, kt_storage_view *v, unsigned level,
			    uint64_t index, uint8_t out[KT_HASH_BYTES])
{
	uint8_t k[LOG_NODE_KEY_BYTES];
	uint64_t epoch;
	int r;

	if (level >= KT_LOG_MAX_LEVELS) {
		memset(out, 0, KT_HASH_BYTES);
		return KT_ERR_INVALID_ARG;
	}
	log_node_key(k, level, index);
	if (log_cache_get(st, k, out))
		return KT_OK;
	/* Log nodes do not change; the epoch only matters for the generic
	 * deletes tests make (see log_rewritten). */
	epoch = v != NULL ? v->epoch : fill_epoch(st);
	r = db_get_fixed(st, ro_of(st, v), KT_CF_LOG_NODES, k, sizeof(k), out,
			 KT_HASH_BYTES);
	if (r == KT_OK && epoch != NO_FILL)
		(void)kt_hotcache_put_if(st->log_cache, k, 0, out, KT_HASH_BYTES,
					 &st->commit_epoch, epoch);
	if (r != KT_OK)
		memset(out, 0, KT_HASH_BYTES);
	return r;
}

/* Seeks it to the newest record of key's position whose version is <= the
 * version in key (key = position || ~at). */
static int map_seek(kt_storage *st, rocksdb_iterator_t *it,
		    const uint8_t key[MKEY_BYTES], uint64_t *version,
		    uint8_t *node, size_t *len)
{
	const uint8_t *kp, *vp;
	size_t kl, vl;
	char *err = NULL;

	if (injected(st, &st->fail_reads, "map seek"))
		return KT_ERR_STORAGE;
	rocksdb_iter_seek(it, (const char *)key, MKEY_BYTES);
	if (!rocksdb_iter_valid(it)) {
		rocksdb_iter_get_error(it, &err);
		return err != NULL ? rdb_err(st, err, "map seek") : KT_ERR_NOT_FOUND;
	}
	kp = (const uint8_t *)rocksdb_iter_key(it, &kl);
	/* another position (or none) follows: nothing <= at here */
	if (kl != MKEY_BYTES || memcmp(kp, key, POS_BYTES) != 0)
		return KT_ERR_NOT_FOUND;
	vp = (const uint8_t *)rocksdb_iter_value(it, &vl);
	if (vl == 0 || vl > KT_STORAGE_MAP_NODE_MAX) {
		report(st, KT_ERR_STORAGE, "map seek", "stored node has a bad length");
		return KT_ERR_STORAGE;
	}
	*version = key_version(kp);
	memcpy(node, vp, vl);
	*len = vl;
	return KT_OK;
}

/* The newest COMMITTED record <= at of key's position, for the apply
 * thread: the hot cache, else a seek with it.  fill: the caller knows no
 * committed version is newer than at, so a found record is the position's
 * newest and may enter the cache (only the apply thread commits, so nothing
 * can commit meanwhile). */
static int committed_map_get(kt_storage *st, rocksdb_iterator_t *it,
			     const uint8_t key[MKEY_BYTES], uint64_t at, int fill,
			     uint64_t *version, uint8_t *node, size_t *len)
{
	int r;

	if (cache_get(st, key, at, version, node, len))
		return KT_OK;
	r = map_seek(st, it, key, version, node, len);
	if (r == KT_OK && fill)
		cache_put(st, key, *version, node, *len);
	return r;
}

/* The same for a reader whose iterator sees the committed state as of
 * commit_epoch == epoch (NO_FILL: unknown).  It first seeks the position's
 * newest record: if that is <= at it is the answer and, while the epoch is
 * unchanged, the newest committed record, which may enter the cache. */
static int reader_map_get(kt_storage *st, rocksdb_iterator_t *it,
			  uint64_t epoch, const uint8_t key[MKEY_BYTES],
			  uint64_t at, uint64_t *version, uint8_t *node,
			  size_t *len)
{
	uint8_t newest[MKEY_BYTES];
	int r;

	if (cache_get(st, key, at, version, node, len))
		return KT_OK;
	if (epoch == NO_FILL || !map_cacheable(st, key))
		return map_seek(st, it, key, version, node, len);
	memcpy(newest, key, POS_BYTES);
	memset(newest + POS_BYTES, 0, 8); /* ~UINT64_MAX */
	r = map_seek(st, it, newest, version, node, len);
	if (r != KT_OK)
		return r; /* no record at all: none <= at either */
	if (*version > at)
		return map_seek(st, it, key, version, node, len);
	(void)kt_hotcache_put_if(st->map_cache, key, *version, node, *len,
				 &st->commit_epoch, epoch);
	return KT_OK;
}

static int map_key(uint8_t key[MKEY_BYTES], uint16_t depth,
		   const uint8_t prefix[KT_HASH_BYTES], uint64_t version)
{
	if (prefix == NULL)
		return KT_ERR_INVALID_ARG;
	return kt_map_store_key(key, depth, prefix, version);
}

static void map_out_reset(uint64_t *version, uint8_t *node, size_t *len)
{
	*version = 0;
	*len = 0;
	memset(node, 0, KT_STORAGE_MAP_NODE_MAX);
}

int kt_storage_map_node_get(kt_storage *st, kt_storage_view *v, uint16_t depth,
			    const uint8_t prefix[KT_HASH_BYTES], uint64_t at,
			    uint64_t *version,
			    uint8_t node[KT_STORAGE_MAP_NODE_MAX],
			    size_t *node_len)
{
	uint8_t key[MKEY_BYTES];
	rocksdb_iterator_t *it;
	uint64_t epoch;
	int r;

	map_out_reset(version, node, node_len);
	r = map_key(key, depth, prefix, at);
	if (r == KT_OK)
		r = pruned(st, at);
	if (r != KT_OK)
		return r;
	if (v != NULL) {
		if (v->map_it == NULL)
			v->map_it = rocksdb_create_iterator_cf(
				st->db, v->ro, st->cf[KT_CF_MAP_NODES]);
		it = v->map_it;
		epoch = v->epoch;
	} else {
		epoch = fill_epoch(st);
		it = rocksdb_create_iterator_cf(st->db, st->ro,
						st->cf[KT_CF_MAP_NODES]);
	}
	if (it == NULL)
		return KT_ERR_NOMEM;
	r = reader_map_get(st, it, epoch, key, at, version, node, node_len);
	if (v == NULL)
		rocksdb_iter_destroy(it);
	/* Checked again after the read: a prune pass that raised the boundary
	 * meanwhile may have deleted what this read needed. */
	if (r == KT_OK)
		r = pruned(st, at);
	if (r != KT_OK)
		map_out_reset(version, node, node_len);
	return r;
}

/* ---- account records ------------------------------------------------------------ */

#define HEAD_MAX_BYTES (8 + KT_VRF_PROOF_BYTES + 1 + KT_ACCOUNT_MAX)
#define VERSION_FIXED_BYTES \
	(8 + 8 + KT_COMMITMENT_BYTES + KT_HASH_BYTES + KT_OPENING_BYTES)
#define VERSION_MAX_BYTES \
	(VERSION_FIXED_BYTES + 4 + KT_VALUE_MAX_BYTES + 2 + KT_PROVENANCE_MAX_BYTES)

static int head_encode(kt_wbuf *w, const kt_storage_account_head *h)
{
	if (h->version == 0 || h->account_len < KT_ACCOUNT_MIN ||
	    h->account_len > KT_ACCOUNT_MAX)
		return KT_ERR_INVALID_ARG;
	kt_put_u64(w, h->version);
	kt_put_fixed(w, h->vrf_proof, KT_VRF_PROOF_BYTES);
	kt_put_vec8(w, h->account, h->account_len);
	return kt_wbuf_error(w);
}

static int head_decode(kt_storage_account_head *h, const uint8_t *p, size_t len)
{
	kt_rbuf r;
	const uint8_t *a;
	size_t n;
	int e;

	kt_rbuf_init(&r, p, len);
	h->version = kt_get_u64(&r);
	kt_get_fixed(&r, h->vrf_proof, KT_VRF_PROOF_BYTES);
	a = kt_get_vec8(&r, KT_ACCOUNT_MIN, KT_ACCOUNT_MAX, &n);
	e = kt_rbuf_finish(&r);
	if (e == KT_OK && h->version == 0)
		e = KT_ERR_STORAGE;
	if (e != KT_OK) {
		memset(h, 0, sizeof(*h));
		return e;
	}
	memcpy(h->account, a, n);
	h->account_len = n;
	return KT_OK;
}

static int version_encode(kt_wbuf *w, const kt_storage_account_version *v)
{
	if ((v->value == NULL && v->value_len > 0) ||
	    (v->provenance == NULL && v->provenance_len > 0))
		return KT_ERR_INVALID_ARG;
	if (v->value_len > KT_VALUE_MAX_BYTES ||
	    v->provenance_len > KT_PROVENANCE_MAX_BYTES)
		return KT_ERR_TOO_LARGE;
	kt_put_u64(w, v->log_index);
	kt_put_u64(w, v->timestamp_ms);
	kt_put_fixed(w, v->commitment, KT_COMMITMENT_BYTES);
	kt_put_fixed(w, v->history, KT_HASH_BYTES);
	kt_put_fixed(w, v->opening, KT_OPENING_BYTES);
	kt_put_vec32(w, v->value, v->value_len);
	kt_put_vec16(w, v->provenance, v->provenance_len);
	return kt_wbuf_error(w);
}

/* Decodes raw[0..len) into *v, which then owns raw.  On failure raw is
 * wiped and freed and *v zeroed. */
static int version_decode(kt_storage_account_version *v, uint8_t *raw,
			  size_t len)
{
	kt_rbuf r;
	int e;

	memset(v, 0, sizeof(*v));
	kt_rbuf_init(&r, raw, len);
	v->log_index = kt_get_u64(&r);
	v->timestamp_ms = kt_get_u64(&r);
	kt_get_fixed(&r, v->commitment, KT_COMMITMENT_BYTES);
	kt_get_fixed(&r, v->history, KT_HASH_BYTES);
	kt_get_fixed(&r, v->opening, KT_OPENING_BYTES);
	v->value = kt_get_vec32(&r, 0, KT_VALUE_MAX_BYTES, &v->value_len);
	v->provenance = kt_get_vec16(&r, 0, KT_PROVENANCE_MAX_BYTES,
				     &v->provenance_len);
	e = kt_rbuf_finish(&r);
	if (e != KT_OK) {
		sodium_memzero(v, sizeof(*v));
		sodium_memzero(raw, len);
		free(raw);
		return e;
	}
	v->raw = raw;
	v->raw_len = len;
	return KT_OK;
}

void kt_storage_account_version_free(kt_storage_account_version *rec)
{
	if (rec == NULL)
		return;
	if (rec->raw != NULL) {
		sodium_memzero(rec->raw, rec->raw_len);
		free(rec->raw);
	}
	sodium_memzero(rec, sizeof(*rec));
}

int kt_storage_account_head_get(kt_storage *st, kt_storage_view *v,
				const uint8_t index[KT_INDEX_BYTES],
				kt_storage_account_head *out)
{
	uint8_t *val = NULL;
	size_t vlen = 0;
	int r;

	memset(out, 0, sizeof(*out));
	r = db_get(st, ro_of(st, v), KT_CF_ACCOUNTS, index, KT_INDEX_BYTES,
		   &val, &vlen);
	if (r == KT_OK)
		r = head_decode(out, val, vlen);
	free(val);
	return r;
}

int kt_storage_account_version_get(kt_storage *st, kt_storage_view *v,
				   const uint8_t index[KT_INDEX_BYTES],
				   uint64_t version,
				   kt_storage_account_version *out)
{
	uint8_t k[ACCOUNT_VERSION_KEY_BYTES];
	uint8_t *val = NULL;
	size_t vlen = 0;
	int r;

	memset(out, 0, sizeof(*out));
	account_version_key(k, index, version);
	r = db_get(st, ro_of(st, v), KT_CF_ACCOUNTS, k, sizeof(k), &val, &vlen);
	if (r != KT_OK)
		return r;
	return version_decode(out, val, vlen);
}

int kt_storage_account_index_get(kt_storage *st, kt_storage_view *v,
				 const uint8_t *account, size_t account_len,
				 uint8_t index[KT_INDEX_BYTES])
{
	int r;

	memset(index, 0, KT_INDEX_BYTES);
	if (account == NULL || account_len < KT_ACCOUNT_MIN ||
	    account_len > KT_ACCOUNT_MAX)
		return KT_ERR_INVALID_ARG;
	r = db_get_fixed(st, ro_of(st, v), KT_CF_ACCOUNT_NAMES, account,
			 account_len, index, KT_INDEX_BYTES);
	if (r != KT_OK)
		memset(index, 0, KT_INDEX_BYTES);
	return r;
}

/* The name cache's key of an account: SHA-256 of the name (names are up
 * to 255 bytes, cache keys fixed). */
static void name_cache_key(uint8_t k[KT_HASH_BYTES], const uint8_t *account,
			   size_t account_len)
{
	kt_sha256(k, account, account_len);
}

static void name_cache_drop(kt_storage *st, const uint8_t *account,
			    size_t account_len)
{
	uint8_t k[KT_HASH_BYTES];

	if (st->name_cache == NULL)
		return;
	name_cache_key(k, account, account_len);
	kt_hotcache_drop(st->name_cache, k);
}

int kt_storage_account_index_cached(kt_storage *st, const uint8_t *account,
				    size_t account_len,
				    uint8_t index[KT_INDEX_BYTES])
{
	uint8_t k[KT_HASH_BYTES];
	uint64_t tag, epoch;
	size_t len = 0;
	int r;

	memset(index, 0, KT_INDEX_BYTES);
	if (account == NULL || account_len < KT_ACCOUNT_MIN ||
	    account_len > KT_ACCOUNT_MAX)
		return KT_ERR_INVALID_ARG;
	if (st->name_cache == NULL)
		return kt_storage_account_index_get(st, NULL, account,
						    account_len, index);
	name_cache_key(k, account, account_len);
	if (kt_hotcache_get(st->name_cache, k, UINT64_MAX, &tag, index, &len)) {
		if (len == KT_INDEX_BYTES)
			return KT_OK;
		memset(index, 0, KT_INDEX_BYTES);
	}
	/* Before the read: a commit that rewrites the name meanwhile makes
	 * the fill below fail (it drops the entry under an odd epoch). */
	epoch = fill_epoch(st);
	r = kt_storage_account_index_get(st, NULL, account, account_len, index);
	if (r == KT_OK && epoch != NO_FILL)
		(void)kt_hotcache_put_if(st->name_cache, k, 0, index,
					 KT_INDEX_BYTES, &st->commit_epoch,
					 epoch);
	return r;
}

/* ---- checkpoints ---------------------------------------------------------- */

int kt_storage_checkpoint_get(kt_storage *st, kt_storage_view *v, uint64_t size,
			      uint8_t **note, size_t *len)
{
	uint8_t k[8];

	*note = NULL;
	*len = 0;
	put_u64(k, size);
	return db_get(st, ro_of(st, v), KT_CF_CHECKPOINTS, k, 8, note, len);
}

int kt_storage_cosigs_scan(kt_storage *st, kt_storage_view *v, uint64_t size,
			   kt_storage_cosig_fn fn, void *ctx)
{
	rocksdb_iterator_t *it;
	uint8_t k[9];
	char *err = NULL;
	int r = KT_OK;

	if (fn == NULL)
		return KT_ERR_INVALID_ARG;
	if (injected(st, &st->fail_reads, "scan cosignatures"))
		return KT_ERR_STORAGE;
	it = rocksdb_create_iterator_cf(st->db, ro_of(st, v),
					st->cf[KT_CF_CHECKPOINTS]);
	if (it == NULL)
		return KT_ERR_NOMEM;
	put_u64(k, size);
	k[8] = COSIG_TAG;
	for (rocksdb_iter_seek(it, (const char *)k, 9); rocksdb_iter_valid(it);
	     rocksdb_iter_next(it)) {
		size_t kl, vl;
		const uint8_t *kp = (const uint8_t *)rocksdb_iter_key(it, &kl);
		const uint8_t *vp = (const uint8_t *)rocksdb_iter_value(it, &vl);

		if (kl < 9 || memcmp(kp, k, 9) != 0)
			break;
		if (kl < 9 + 4 + 1) {
			report(st, KT_ERR_STORAGE, "scan cosignatures", "bad key");
			r = KT_ERR_STORAGE;
			break;
		}
		r = fn(ctx, kp + 9, kp + 13, kl - 13, vp, vl);
		if (r != 0)
			break;
	}
	if (r == KT_OK) {
		rocksdb_iter_get_error(it, &err);
		if (err != NULL)
			r = rdb_err(st, err, "scan cosignatures");
	}
	rocksdb_iter_destroy(it);
	return r;
}

/* ---- overlay -------------------------------------------------------------------- */

static struct ov_slot *ov_find(struct overlay *o, uint8_t cf, const uint8_t *k,
			       size_t kl, uint64_t h)
{
	size_t i = (size_t)h & (o->cap - 1);

	for (;; i = (i + 1) & (o->cap - 1)) {
		struct ov_slot *s = &o->s[i];

		if (s->kv == NULL)
			return s;
		/* public keys: memcmp is fine */
		if (s->h == h && s->cf == cf && s->klen == kl &&
		    memcmp(s->kv, k, kl) == 0)
			return s;
	}
}

static int ov_grow(struct overlay *o)
{
	struct overlay n;
	size_t i;

	n.cap = o->cap == 0 ? 1024 : o->cap * 2;
	n.s = calloc(n.cap, sizeof(*n.s));
	if (n.s == NULL)
		return KT_ERR_NOMEM;
	for (i = 0; i < o->cap; i++) {
		struct ov_slot *s = &o->s[i];
		size_t j;

		if (s->kv == NULL)
			continue;
		for (j = (size_t)s->h & (n.cap - 1); n.s[j].kv != NULL;
		     j = (j + 1) & (n.cap - 1))
			;
		n.s[j] = *s;
	}
	free(o->s);
	o->s = n.s;
	o->cap = n.cap;
	return KT_OK;
}

static int ov_set(struct overlay *o, uint8_t cf, const uint8_t *k, size_t kl,
		  const uint8_t *v, size_t vl, int tomb)
{
	uint64_t h = kt_hotcache_hash(cf, k, kl);
	struct ov_slot *s;
	uint8_t *kv;
	int r;

	if ((o->n + 1) * 4 > o->cap * 3) {
		r = ov_grow(o);
		if (r != KT_OK)
			return r;
	}
	s = ov_find(o, cf, k, kl, h);
	if ((s->kv == NULL && o->n >= KT_STORAGE_MAX_BATCH_OPS) ||
	    o->bytes + kl + vl > KT_STORAGE_MAX_BATCH_BYTES)
		return KT_ERR_TOO_LARGE;
	kv = malloc(kl + vl + 1);
	if (kv == NULL)
		return KT_ERR_NOMEM;
	memcpy(kv, k, kl);
	if (vl > 0)
		memcpy(kv + kl, v, vl);
	if (s->kv != NULL) {
		o->bytes -= (size_t)s->klen + s->vlen;
		free(s->kv);
	} else {
		o->n++;
	}
	s->h = h;
	s->kv = kv;
	s->klen = (uint32_t)kl;
	s->vlen = (uint32_t)vl;
	s->cf = cf;
	s->tomb = (uint8_t)(tomb != 0);
	o->bytes += kl + vl;
	return KT_OK;
}

/* The overlay slot of (cf, key), or NULL. */
static const struct ov_slot *ov_get(const struct overlay *o, uint8_t cf,
				    const uint8_t *k, size_t kl)
{
	struct ov_slot *s;

	if (o->cap == 0)
		return NULL;
	s = ov_find((struct overlay *)o, cf, k, kl, kt_hotcache_hash(cf, k, kl));
	return s->kv != NULL ? s : NULL;
}

static void ov_free(struct overlay *o)
{
	size_t i;

	for (i = 0; i < o->cap; i++)
		if (o->s[i].kv != NULL) {
			/* values may hold openings: wipe */
			sodium_memzero(o->s[i].kv,
				       (size_t)o->s[i].klen + o->s[i].vlen);
			free(o->s[i].kv);
		}
	free(o->s);
	memset(o, 0, sizeof(*o));
}

/* ---- position index (map versions in the batch) ---------------------------- */

static struct pv_slot *pv_find(struct posindex *p, const uint8_t pos[POS_BYTES])
{
	size_t i = (size_t)kt_hotcache_hash(0xB0, pos, POS_BYTES) & (p->cap - 1);

	for (;; i = (i + 1) & (p->cap - 1)) {
		struct pv_slot *s = &p->s[i];

		if (!s->used || memcmp(s->pos, pos, POS_BYTES) == 0)
			return s;
	}
}

static const struct pv_slot *pv_get(const struct posindex *p,
				    const uint8_t pos[POS_BYTES])
{
	struct pv_slot *s;

	if (p->cap == 0)
		return NULL;
	s = pv_find((struct posindex *)p, pos);
	return s->used ? s : NULL;
}

static int pv_grow(struct posindex *p)
{
	struct posindex n;
	size_t i;

	n.cap = p->cap == 0 ? 256 : p->cap * 2;
	n.n = p->n;
	n.s = calloc(n.cap, sizeof(*n.s));
	if (n.s == NULL)
		return KT_ERR_NOMEM;
	for (i = 0; i < p->cap; i++)
		if (p->s[i].used)
			*pv_find(&n, p->s[i].pos) = p->s[i];
	free(p->s);
	*p = n;
	return KT_OK;
}

/* Records that the batch wrote pos at version (kept sorted, no duplicates). */
static int pv_add(struct posindex *p, const uint8_t pos[POS_BYTES],
		  uint64_t version)
{
	struct pv_slot *s;
	uint32_t i;
	int r;

	if ((p->n + 1) * 4 > p->cap * 3) {
		r = pv_grow(p);
		if (r != KT_OK)
			return r;
	}
	s = pv_find(p, pos);
	if (!s->used) {
		memset(s, 0, sizeof(*s));
		memcpy(s->pos, pos, POS_BYTES);
		s->used = 1;
		p->n++;
	}
	if (s->n > 0 && s->v[s->n - 1] == version)
		return KT_OK;
	if (s->n == s->cap) {
		uint32_t ncap = s->cap == 0 ? 2 : s->cap * 2;
		uint64_t *nv;

		if (ncap > KT_STORAGE_MAX_BATCH_OPS)
			return KT_ERR_TOO_LARGE;
		nv = realloc(s->v, (size_t)ncap * sizeof(*nv));
		if (nv == NULL)
			return KT_ERR_NOMEM;
		s->v = nv;
		s->cap = ncap;
	}
	/* puts below the newest version are refused earlier: append */
	i = s->n;
	s->v[i] = version;
	s->n++;
	return KT_OK;
}

/* Newest version <= at in s, or 0 with *found = 0. */
static uint64_t pv_newest_at(const struct pv_slot *s, uint64_t at, int *found)
{
	uint32_t lo = 0, hi = s->n;

	/* first element > at */
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (s->v[mid] <= at)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo > 0;
	return lo > 0 ? s->v[lo - 1] : 0;
}

static void pv_free(struct posindex *p)
{
	size_t i;

	for (i = 0; i < p->cap; i++)
		free(p->s[i].v);
	free(p->s);
	memset(p, 0, sizeof(*p));
}

/* ---- batches ---------------------------------------------------------------------- */

int kt_storage_batch_begin(kt_storage *st, kt_storage_batch **out)
{
	kt_storage_batch *b;
	int expected = 0;

	*out = NULL;
	if (!atomic_compare_exchange_strong(&st->batch_open, &expected, 1))
		return KT_ERR_INVALID_ARG;
	b = calloc(1, sizeof(*b));
	if (b == NULL) {
		atomic_store(&st->batch_open, 0);
		return KT_ERR_NOMEM;
	}
	b->st = st;
	st->batch = b;
	*out = b;
	return KT_OK;
}

void kt_storage_batch_abort(kt_storage_batch *b)
{
	kt_storage *st;

	if (b == NULL)
		return;
	st = b->st;
	if (b->map_it != NULL)
		rocksdb_iter_destroy(b->map_it);
	ov_free(&b->ov);
	pv_free(&b->pv);
	free(b);
	st->batch = NULL;
	atomic_store(&st->batch_open, 0);
}

int kt_storage_batch_error(const kt_storage_batch *b)
{
	return b->err;
}

int kt_storage_batch_format_put(kt_storage_batch *b)
{
	b->set_format = 1;
	return b->err;
}

static int batch_fail(kt_storage_batch *b, int r)
{
	if (r != KT_OK && b->err == KT_OK)
		b->err = r;
	return r;
}

/* True if (cf, key) names a meta key only storage.c may write. */
static int reserved_key(kt_storage_cf cf, const uint8_t *key, size_t klen)
{
	int m;

	if (cf != KT_CF_META)
		return 0;
	for (m = 0; m < KT_META_COUNT; m++) {
		size_t n;
		const uint8_t *k = meta_key((kt_storage_meta)m, &n);

		if (meta_reserved((kt_storage_meta)m) && n == klen &&
		    memcmp(k, key, n) == 0)
			return 1;
	}
	return 0;
}

/* Buffers a write after the caps and the sticky error are checked. */
static int batch_write(kt_storage_batch *b, kt_storage_cf cf,
		       const uint8_t *key, size_t klen, const uint8_t *val,
		       size_t vlen, int tomb)
{
	int r;

	if (b->err != KT_OK)
		return b->err;
	r = check_key(cf, key, klen);
	b->wrote_checkpoints |= cf == KT_CF_CHECKPOINTS;
	b->wrote_names |= cf == KT_CF_ACCOUNT_NAMES;
	if (r == KT_OK && (val == NULL && vlen > 0))
		r = KT_ERR_INVALID_ARG;
	if (r == KT_OK && vlen > KT_STORAGE_MAX_VALUE)
		r = KT_ERR_TOO_LARGE;
	if (r == KT_OK)
		r = ov_set(&b->ov, (uint8_t)cf, key, klen, val, vlen, tomb);
	return batch_fail(b, r);
}

int kt_storage_batch_put(kt_storage_batch *b, kt_storage_cf cf,
			 const uint8_t *key, size_t klen, const uint8_t *val,
			 size_t vlen)
{
	if (cf == KT_CF_MAP_NODES || reserved_key(cf, key, klen))
		return batch_fail(b, KT_ERR_INVALID_ARG);
	b->log_rewritten |= cf == KT_CF_LOG_NODES;
	return batch_write(b, cf, key, klen, val, vlen, 0);
}

int kt_storage_batch_delete(kt_storage_batch *b, kt_storage_cf cf,
			    const uint8_t *key, size_t klen)
{
	if (cf == KT_CF_MAP_NODES || reserved_key(cf, key, klen))
		return batch_fail(b, KT_ERR_INVALID_ARG);
	b->log_rewritten |= cf == KT_CF_LOG_NODES;
	return batch_write(b, cf, key, klen, NULL, 0, 1);
}

/* Looks (cf, key) up in the overlay: 1 and the slot if buffered. */
static int batch_lookup(const kt_storage_batch *b, kt_storage_cf cf,
			const uint8_t *key, size_t klen,
			const struct ov_slot **out)
{
	*out = ov_get(&b->ov, (uint8_t)cf, key, klen);
	return *out != NULL;
}

int kt_storage_batch_get(kt_storage_batch *b, kt_storage_cf cf,
			 const uint8_t *key, size_t klen, uint8_t **val,
			 size_t *vlen)
{
	const struct ov_slot *s;
	int r;

	*val = NULL;
	*vlen = 0;
	r = check_key(cf, key, klen);
	if (r != KT_OK)
		return r;
	if (!batch_lookup(b, cf, key, klen, &s))
		return db_get(b->st, b->st->ro, cf, key, klen, val, vlen);
	if (s->tomb)
		return KT_ERR_NOT_FOUND;
	*val = malloc(s->vlen > 0 ? s->vlen : 1);
	if (*val == NULL)
		return KT_ERR_NOMEM;
	memcpy(*val, s->kv + s->klen, s->vlen);
	*vlen = s->vlen;
	return KT_OK;
}

/* Fixed-size read through the batch (no allocation). */
static int batch_get_fixed(kt_storage_batch *b, kt_storage_cf cf,
			   const uint8_t *key, size_t klen, uint8_t *out,
			   size_t want)
{
	const struct ov_slot *s;

	if (!batch_lookup(b, cf, key, klen, &s))
		return db_get_fixed(b->st, b->st->ro, cf, key, klen, out, want);
	if (s->tomb)
		return KT_ERR_NOT_FOUND;
	if (s->vlen != want)
		return KT_ERR_STORAGE;
	memcpy(out, s->kv + s->klen, want);
	return KT_OK;
}

int kt_storage_batch_meta_put(kt_storage_batch *b, kt_storage_meta m,
			      const uint8_t *val, size_t len)
{
	size_t klen;
	const uint8_t *k;

	if ((unsigned)m >= KT_META_COUNT || meta_reserved(m))
		return batch_fail(b, KT_ERR_INVALID_ARG);
	k = meta_key(m, &klen);
	return batch_write(b, KT_CF_META, k, klen, val, len, 0);
}

int kt_storage_batch_meta_put_u64(kt_storage_batch *b, kt_storage_meta m,
				  uint64_t value)
{
	uint8_t v[8];

	put_u64(v, value);
	return kt_storage_batch_meta_put(b, m, v, 8);
}

int kt_storage_batch_meta_get_u64(kt_storage_batch *b, kt_storage_meta m,
				  uint64_t *out)
{
	uint8_t v[8];
	size_t klen;
	const uint8_t *k;
	int r;

	*out = 0;
	if ((unsigned)m >= KT_META_COUNT || m == KT_META_FORMAT)
		return KT_ERR_INVALID_ARG;
	k = meta_key(m, &klen);
	r = batch_get_fixed(b, KT_CF_META, k, klen, v, 8);
	if (r == KT_OK)
		*out = kt_load_u64be(v);
	return r;
}

int kt_storage_batch_log_entry_put(kt_storage_batch *b, uint64_t pos,
				   const uint8_t *entry, size_t len)
{
	uint8_t k[8];

	put_u64(k, pos);
	return batch_write(b, KT_CF_LOG_ENTRIES, k, 8, entry, len, 0);
}

int kt_storage_batch_log_node_put(kt_storage_batch *b, unsigned level,
				  uint64_t index,
				  const uint8_t hash[KT_HASH_BYTES])
{
	uint8_t k[LOG_NODE_KEY_BYTES];

	if (level >= KT_LOG_MAX_LEVELS || hash == NULL)
		return batch_fail(b, KT_ERR_INVALID_ARG);
	log_node_key(k, level, index);
	return batch_write(b, KT_CF_LOG_NODES, k, sizeof(k), hash,
			   KT_HASH_BYTES, 0);
}

int kt_storage_batch_log_node_get(kt_storage_batch *b, unsigned level,
				  uint64_t index, uint8_t out[KT_HASH_BYTES])
{
	uint8_t k[LOG_NODE_KEY_BYTES];
	int r;

	if (level >= KT_LOG_MAX_LEVELS) {
		memset(out, 0, KT_HASH_BYTES);
		return KT_ERR_INVALID_ARG;
	}
	log_node_key(k, level, index);
	r = batch_get_fixed(b, KT_CF_LOG_NODES, k, sizeof(k), out,
			    KT_HASH_BYTES);
	if (r != KT_OK)
		memset(out, 0, KT_HASH_BYTES);
	return r;
}

static rocksdb_iterator_t *batch_map_iter(kt_storage_batch *b)
{
	if (b->map_it == NULL)
		b->map_it = rocksdb_create_iterator_cf(b->st->db, b->st->ro,
						       b->st->cf[KT_CF_MAP_NODES]);
	return b->map_it;
}

/* The newest committed record of the position (any version). */
static int committed_newest(kt_storage_batch *b, const uint8_t key[MKEY_BYTES],
			    uint64_t *version, uint8_t *node, size_t *len)
{
	uint8_t k[MKEY_BYTES];
	rocksdb_iterator_t *it = batch_map_iter(b);

	if (it == NULL)
		return KT_ERR_NOMEM;
	memcpy(k, key, POS_BYTES);
	memset(k + POS_BYTES, 0, 8); /* ~UINT64_MAX */
	return committed_map_get(b->st, it, k, UINT64_MAX, 1, version, node,
				 len);
}

int kt_storage_batch_map_node_put(kt_storage_batch *b, uint16_t depth,
				  const uint8_t prefix[KT_HASH_BYTES],
				  uint64_t version, const uint8_t *node,
				  size_t node_len)
{
	uint8_t key[MKEY_BYTES], old[KT_STORAGE_MAP_NODE_MAX];
	const struct pv_slot *s;
	uint64_t newest;
	size_t old_len;
	int r;

	if (b->err != KT_OK)
		return b->err;
	r = map_key(key, depth, prefix, version);
	if (r == KT_OK && (node == NULL || node_len == 0 ||
			   version == UINT64_MAX))
		r = KT_ERR_INVALID_ARG;
	if (r == KT_OK && node_len > KT_STORAGE_MAP_NODE_MAX)
		r = KT_ERR_TOO_LARGE;
	if (r != KT_OK)
		return batch_fail(b, r);
	s = pv_get(&b->pv, key);
	if (s != NULL && version < s->v[s->n - 1])
		return batch_fail(b, KT_ERR_INVALID_ARG);
	if (version < b->st->map_next_version) {
		/* Not above every committed version: compare with this
		 * position's newest committed record (a replay). */
		r = committed_newest(b, key, &newest, old, &old_len);
		if (r == KT_OK && version < newest)
			r = KT_ERR_INVALID_ARG;
		if (r != KT_OK && r != KT_ERR_NOT_FOUND)
			return batch_fail(b, r);
	}
	r = ov_set(&b->ov, KT_CF_MAP_NODES, key, MKEY_BYTES, node, node_len, 0);
	if (r == KT_OK)
		r = pv_add(&b->pv, key, version);
	if (r != KT_OK)
		return batch_fail(b, r);
	if (!b->has_map || version > b->map_max)
		b->map_max = version;
	b->has_map = 1;
	return KT_OK;
}

int kt_storage_batch_map_node_get(kt_storage_batch *b, uint16_t depth,
				  const uint8_t prefix[KT_HASH_BYTES],
				  uint64_t at, uint64_t *version,
				  uint8_t node[KT_STORAGE_MAP_NODE_MAX],
				  size_t *node_len)
{
	kt_storage *st = b->st;
	uint8_t key[MKEY_BYTES];
	const struct pv_slot *s;
	const struct ov_slot *o;
	rocksdb_iterator_t *it;
	uint64_t ov_version = 0;
	int have_ov = 0, fill, r;

	map_out_reset(version, node, node_len);
	r = map_key(key, depth, prefix, at);
	if (r == KT_OK)
		r = pruned(st, at);
	if (r != KT_OK)
		return r;
	s = pv_get(&b->pv, key);
	if (s != NULL)
		ov_version = pv_newest_at(s, at, &have_ov);
	if (have_ov) {
		/* The put rule keeps every batch record of a position at or
		 * above its newest committed one (equal: the batch replaces
		 * it), so a batch record <= at is the answer. */
		put_u64(key + POS_BYTES, UINT64_MAX - ov_version);
		o = ov_get(&b->ov, KT_CF_MAP_NODES, key, MKEY_BYTES);
		if (o == NULL)
			return KT_ERR_INTERNAL;
		*version = ov_version;
		*node_len = o->vlen;
		memcpy(node, o->kv + o->klen, o->vlen);
		return KT_OK;
	}
	it = batch_map_iter(b);
	if (it == NULL)
		return KT_ERR_NOMEM;
	/* No committed version is above map_next_version - 1: reading at or
	 * above it finds the position's newest record, which may be cached. */
	fill = st->map_next_version == 0 || at >= st->map_next_version - 1;
	r = committed_map_get(st, it, key, at, fill, version, node, node_len);
	if (r == KT_OK)
		r = pruned(st, at);
	if (r != KT_OK)
		map_out_reset(version, node, node_len);
	return r;
}

int kt_storage_batch_account_head_put(kt_storage_batch *b,
				      const uint8_t index[KT_INDEX_BYTES],
				      const kt_storage_account_head *head)
{
	kt_wbuf w;
	uint8_t *enc = NULL;
	size_t len = 0;
	int r;

	if (b->err != KT_OK)
		return b->err;
	if (index == NULL || head == NULL)
		return batch_fail(b, KT_ERR_INVALID_ARG);
	kt_wbuf_init(&w, HEAD_MAX_BYTES);
	r = head_encode(&w, head);
	if (r == KT_OK)
		r = kt_wbuf_take(&w, &enc, &len);
	kt_wbuf_free(&w);
	if (r != KT_OK)
		return batch_fail(b, r);
	r = batch_write(b, KT_CF_ACCOUNTS, index, KT_INDEX_BYTES, enc, len, 0);
	free(enc);
	/* The name record never changes after the account's creation: writing
	 * it again at every version cost a memtable insert per update and
	 * dropped the name from the name cache at every commit. */
	if (r == KT_OK && head->version == 1)
		r = batch_write(b, KT_CF_ACCOUNT_NAMES, head->account,
				head->account_len, index, KT_INDEX_BYTES, 0);
	return r;
}

int kt_storage_batch_account_head_get(kt_storage_batch *b,
				      const uint8_t index[KT_INDEX_BYTES],
				      kt_storage_account_head *out)
{
	uint8_t *val = NULL;
	size_t vlen = 0;
	int r;

	memset(out, 0, sizeof(*out));
	r = kt_storage_batch_get(b, KT_CF_ACCOUNTS, index, KT_INDEX_BYTES, &val,
				 &vlen);
	if (r == KT_OK)
		r = head_decode(out, val, vlen);
	free(val);
	return r;
}

int kt_storage_batch_account_version_put(kt_storage_batch *b,
					 const uint8_t index[KT_INDEX_BYTES],
					 uint64_t version,
					 const kt_storage_account_version *rec)
{
	uint8_t k[ACCOUNT_VERSION_KEY_BYTES];
	kt_wbuf w;
	uint8_t *enc = NULL;
	size_t len = 0;
	int r;

	if (b->err != KT_OK)
		return b->err;
	if (index == NULL || rec == NULL || version == 0)
		return batch_fail(b, KT_ERR_INVALID_ARG);
	kt_wbuf_init(&w, VERSION_MAX_BYTES);
	r = version_encode(&w, rec);
	if (r == KT_OK)
		r = kt_wbuf_take(&w, &enc, &len);
	kt_wbuf_free(&w);
	if (r != KT_OK)
		return batch_fail(b, r);
	account_version_key(k, index, version);
	r = batch_write(b, KT_CF_ACCOUNTS, k, sizeof(k), enc, len, 0);
	sodium_memzero(enc, len);
	free(enc);
	return r;
}

int kt_storage_batch_account_version_get(kt_storage_batch *b,
					 const uint8_t index[KT_INDEX_BYTES],
					 uint64_t version,
					 kt_storage_account_version *out)
{
	uint8_t k[ACCOUNT_VERSION_KEY_BYTES];
	uint8_t *val = NULL;
	size_t vlen = 0;
	int r;

	memset(out, 0, sizeof(*out));
	account_version_key(k, index, version);
	r = kt_storage_batch_get(b, KT_CF_ACCOUNTS, k, sizeof(k), &val, &vlen);
	if (r != KT_OK)
		return r;
	return version_decode(out, val, vlen);
}

int kt_storage_batch_checkpoint_put(kt_storage_batch *b, uint64_t size,
				    const uint8_t *note, size_t len)
{
	uint8_t k[8];

	put_u64(k, size);
	return batch_write(b, KT_CF_CHECKPOINTS, k, 8, note, len, 0);
}

int kt_storage_batch_cosig_put(kt_storage_batch *b, uint64_t size,
			       const uint8_t key_hash[4], const uint8_t *name,
			       size_t name_len, const uint8_t *line,
			       size_t line_len)
{
	uint8_t k[8 + 1 + 4 + KT_STORAGE_MAX_NAME];

	if (key_hash == NULL || name == NULL || name_len == 0 ||
	    name_len > KT_STORAGE_MAX_NAME)
		return batch_fail(b, KT_ERR_INVALID_ARG);
	put_u64(k, size);
	k[8] = COSIG_TAG;
	memcpy(k + 9, key_hash, 4);
	memcpy(k + 13, name, name_len);
	return batch_write(b, KT_CF_CHECKPOINTS, k, 13 + name_len, line,
			   line_len, 0);
}

/* Orders overlay slots as RocksDB's bytewise comparator orders keys, column
 * family first. */
static int ov_slot_cmp(const void *a, const void *b)
{
	const struct ov_slot *x = *(const struct ov_slot *const *)a;
	const struct ov_slot *y = *(const struct ov_slot *const *)b;
	uint32_t n = x->klen < y->klen ? x->klen : y->klen;
	int c;

	if (x->cf != y->cf)
		return x->cf < y->cf ? -1 : 1;
	c = n > 0 ? memcmp(x->kv, y->kv, n) : 0;
	if (c != 0)
		return c;
	return x->klen < y->klen ? -1 : (x->klen > y->klen ? 1 : 0);
}

/* Builds the RocksDB batch from the overlay plus the storage-owned meta. */
static int build_writebatch(kt_storage_batch *b, uint64_t applied_index,
			    rocksdb_writebatch_t **out)
{
	kt_storage *st = b->st;
	rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
	const struct ov_slot **sorted;
	uint8_t v[8];
	size_t i, n = 0, klen;
	const uint8_t *k;

	*out = NULL;
	sorted = malloc((b->ov.n > 0 ? b->ov.n : 1) * sizeof(*sorted));
	if (wb == NULL || sorted == NULL) {
		if (wb != NULL)
			rocksdb_writebatch_destroy(wb);
		free(sorted);
		return KT_ERR_NOMEM;
	}
	for (i = 0; i < b->ov.cap; i++)
		if (b->ov.s[i].kv != NULL)
			sorted[n++] = &b->ov.s[i];
	/* In key order the memtable's skip list inserts each key next to the
	 * previous one (several times faster than random order). */
	qsort(sorted, n, sizeof(*sorted), ov_slot_cmp);
	for (i = 0; i < n; i++) {
		const struct ov_slot *s = sorted[i];

		if (s->tomb)
			rocksdb_writebatch_delete_cf(wb, st->cf[s->cf],
						     (const char *)s->kv, s->klen);
		else
			rocksdb_writebatch_put_cf(wb, st->cf[s->cf],
						  (const char *)s->kv, s->klen,
						  (const char *)s->kv + s->klen,
						  s->vlen);
	}
	free(sorted);
	if (applied_index != KT_STORAGE_NO_INDEX) {
		k = meta_key(KT_META_APPLIED_INDEX, &klen);
		put_u64(v, applied_index);
		rocksdb_writebatch_put_cf(wb, st->cf[KT_CF_META], (const char *)k,
					  klen, (const char *)v, 8);
	}
	if (b->has_map && b->map_max >= st->map_next_version) {
		k = meta_key(KT_META_MAP_NEXT_VERSION, &klen);
		put_u64(v, b->map_max + 1);
		rocksdb_writebatch_put_cf(wb, st->cf[KT_CF_META], (const char *)k,
					  klen, (const char *)v, 8);
	}
	if (b->set_format) {
		k = meta_key(KT_META_FORMAT, &klen);
		kt_store_u32be(v, KT_STORAGE_FORMAT_VERSION);
		rocksdb_writebatch_put_cf(wb, st->cf[KT_CF_META], (const char *)k,
					  klen, (const char *)v, 4);
	}
	*out = wb;
	return KT_OK;
}

/* After a successful write: the newest batch record of each cached position
 * becomes the cache entry. */
static void cache_after_commit(kt_storage_batch *b)
{
	size_t i;

	for (i = 0; i < b->pv.cap; i++) {
		const struct pv_slot *s = &b->pv.s[i];
		const struct ov_slot *o;
		uint8_t k[MKEY_BYTES];

		if (!s->used || !map_cacheable(b->st, s->pos))
			continue;
		memcpy(k, s->pos, POS_BYTES);
		put_u64(k + POS_BYTES, UINT64_MAX - s->v[s->n - 1]);
		o = ov_get(&b->ov, KT_CF_MAP_NODES, k, MKEY_BYTES);
		if (o != NULL)
			cache_put(b->st, s->pos, s->v[s->n - 1],
				  o->kv + o->klen, o->vlen);
	}
}

/* The synced RocksDB write of a batch (or an injected failure). */
static int write_batch(kt_storage *st, rocksdb_writebatch_t *wb)
{
	char *err = NULL;

	if (injected(st, &st->fail_writes, "commit"))
		return KT_ERR_STORAGE;
	rocksdb_write(st->db, st->wo_sync, wb, &err);
	return err != NULL ? rdb_err(st, err, "commit") : KT_OK;
}

int kt_storage_batch_commit(kt_storage_batch *b, uint64_t applied_index)
{
	kt_storage *st = b->st;
	rocksdb_writebatch_t *wb = NULL;
	size_t i;
	int r = b->err;

	if (r != KT_OK)
		goto out;
	if (applied_index != KT_STORAGE_NO_INDEX && st->have_applied &&
	    applied_index <= st->applied_index) {
		r = KT_ERR_INVALID_ARG;
		goto out;
	}
	/* a database not yet migrated takes only the migration's write */
	if (atomic_load(&st->format) != KT_STORAGE_FORMAT_VERSION &&
	    !b->set_format) {
		report(st, KT_ERR_STORAGE_FORMAT, "commit",
		       "database not migrated to the current format");
		r = KT_ERR_STORAGE_FORMAT;
		goto out;
	}
	r = build_writebatch(b, applied_index, &wb);
	if (r != KT_OK)
		goto out;
	/* Readers must not find a cached record older than what is about
	 * to be committed: drop the entries first, refill after.  The epoch
	 * stays odd meanwhile, so no reader refills them from older state. */
	atomic_fetch_add(&st->commit_epoch, 1);
	for (i = 0; i < b->pv.cap; i++)
		if (b->pv.s[i].used)
			cache_invalidate(st, b->pv.s[i].pos);
	for (i = 0; b->log_rewritten && i < b->ov.cap; i++)
		if (b->ov.s[i].kv != NULL && b->ov.s[i].cf == KT_CF_LOG_NODES &&
		    b->ov.s[i].klen == LOG_NODE_KEY_BYTES)
			kt_hotcache_drop(st->log_cache, b->ov.s[i].kv);
	for (i = 0; b->wrote_names && i < b->ov.cap; i++)
		if (b->ov.s[i].kv != NULL && b->ov.s[i].cf == KT_CF_ACCOUNT_NAMES)
			name_cache_drop(st, b->ov.s[i].kv, b->ov.s[i].klen);
	r = write_batch(st, wb);
	if (r == KT_OK)
		cache_after_commit(b);
	atomic_fetch_add(&st->commit_epoch, 1);
	if (r != KT_OK)
		goto out;
	if (applied_index != KT_STORAGE_NO_INDEX) {
		st->applied_index = applied_index;
		st->have_applied = 1;
	}
	if (b->has_map && b->map_max >= st->map_next_version)
		st->map_next_version = b->map_max + 1;
	if (b->wrote_checkpoints)
		atomic_fetch_add(&st->checkpoint_gen, 1);
	if (b->set_format)
		atomic_store(&st->format, KT_STORAGE_FORMAT_VERSION);
	atomic_fetch_add_explicit(&st->commits, 1, memory_order_relaxed);
	r = KT_OK;
out:
	if (r == KT_ERR_STORAGE)
		atomic_fetch_add_explicit(&st->write_errors, 1,
					  memory_order_relaxed);
	if (wb != NULL)
		rocksdb_writebatch_destroy(wb);
	kt_storage_batch_abort(b);
	return r;
}

int kt_storage_applied_index(kt_storage *st, uint64_t *out)
{
	*out = st->have_applied ? st->applied_index : 0;
	return st->have_applied ? KT_OK : KT_ERR_NOT_FOUND;
}

/* ---- pruning ---------------------------------------------------------------------- */

uint64_t kt_storage_prune_boundary(kt_storage *st)
{
	return atomic_load(&st->prune_boundary);
}

int kt_storage_prune_begin(kt_storage *st, uint64_t boundary,
			   kt_storage_prune *p)
{
	uint8_t v[8];
	size_t klen;
	const uint8_t *k;
	char *err = NULL;
	int r = KT_OK;

	memset(p, 0, sizeof(*p));
	if (atomic_load(&st->format) != KT_STORAGE_FORMAT_VERSION)
		return KT_ERR_STORAGE_FORMAT; /* not migrated: no writes */
	pthread_mutex_lock(&st->prune_mu);
	if (boundary < atomic_load(&st->prune_boundary)) {
		r = KT_ERR_INVALID_ARG;
		goto out;
	}
	if (boundary > atomic_load(&st->prune_boundary)) {
		/* Durable and visible before anything is deleted. */
		if (injected(st, &st->fail_writes, "prune boundary")) {
			r = KT_ERR_STORAGE;
			goto out;
		}
		k = meta_key(KT_META_PRUNE_BOUNDARY, &klen);
		put_u64(v, boundary);
		rocksdb_put_cf(st->db, st->wo_sync, st->cf[KT_CF_META],
			       (const char *)k, klen, (const char *)v, 8, &err);
		if (err != NULL) {
			r = rdb_err(st, err, "prune boundary");
			goto out;
		}
		atomic_store(&st->prune_boundary, boundary);
	}
	p->boundary = boundary;
out:
	pthread_mutex_unlock(&st->prune_mu);
	if (r != KT_OK)
		memset(p, 0, sizeof(*p));
	return r;
}

/* Walks up to max_keys keys from the cursor, queueing deletes into wb. */
static int prune_walk(kt_storage *st, kt_storage_prune *p,
		      rocksdb_iterator_t *it, rocksdb_writebatch_t *wb,
		      size_t max_keys)
{
	size_t n = 0;
	char *err = NULL;

	if (p->started)
		rocksdb_iter_seek(it, (const char *)p->cursor, MKEY_BYTES);
	else
		rocksdb_iter_seek_to_first(it);
	for (; rocksdb_iter_valid(it) && n < max_keys; rocksdb_iter_next(it), n++) {
		size_t kl;
		const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &kl);
		uint64_t ver;

		if (kl != MKEY_BYTES) {
			report(st, KT_ERR_STORAGE, "prune", "bad map key length");
			return KT_ERR_STORAGE;
		}
		/* public position bytes: memcmp is fine */
		if (!p->started || memcmp(k, p->pos, POS_BYTES) != 0) {
			memcpy(p->pos, k, POS_BYTES);
			p->live_seen = 0;
			p->positions++;
			p->started = 1;
		}
		ver = key_version(k);
		p->keys_seen++;
		if (ver > p->boundary)
			continue;
		if (!p->live_seen) {
			p->live_seen = 1; /* the record live at the boundary stays */
			continue;
		}
		rocksdb_writebatch_delete_cf(wb, st->cf[KT_CF_MAP_NODES],
					     (const char *)k, kl);
		p->deleted++;
	}
	if (rocksdb_iter_valid(it)) {
		size_t kl;
		const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &kl);

		if (kl != MKEY_BYTES) {
			report(st, KT_ERR_STORAGE, "prune", "bad map key length");
			return KT_ERR_STORAGE;
		}
		memcpy(p->cursor, k, MKEY_BYTES);
		return KT_OK;
	}
	rocksdb_iter_get_error(it, &err);
	if (err != NULL)
		return rdb_err(st, err, "prune");
	p->done = 1;
	return KT_OK;
}

int kt_storage_prune_step(kt_storage *st, kt_storage_prune *p, size_t max_keys)
{
	rocksdb_iterator_t *it;
	rocksdb_writebatch_t *wb;
	char *err = NULL;
	int r;

	if (max_keys == 0)
		return KT_ERR_INVALID_ARG;
	if (p->done)
		return KT_OK;
	if (p->boundary > atomic_load(&st->prune_boundary))
		return KT_ERR_INVALID_ARG; /* not from kt_storage_prune_begin */
	it = rocksdb_create_iterator_cf(st->db, st->ro_total,
					st->cf[KT_CF_MAP_NODES]);
	wb = rocksdb_writebatch_create();
	if (it == NULL || wb == NULL) {
		r = KT_ERR_NOMEM;
		goto out;
	}
	r = prune_walk(st, p, it, wb, max_keys);
	if (r != KT_OK || rocksdb_writebatch_count(wb) == 0)
		goto out;
	if (injected(st, &st->fail_writes, "prune")) {
		r = KT_ERR_STORAGE;
		goto out;
	}
	/* Unsynced: a lost delete is redone by the next pass. */
	rocksdb_write(st->db, st->wo_nosync, wb, &err);
	if (err != NULL)
		r = rdb_err(st, err, "prune");
out:
	if (r != KT_OK)
		p->done = 0;
	if (it != NULL)
		rocksdb_iter_destroy(it);
	if (wb != NULL)
		rocksdb_writebatch_destroy(wb);
	return r;
}

/* ---- merkle adapters --------------------------------------------------------------- */

static int log_get_view(void *ctx, unsigned level, uint64_t index,
			uint8_t out[KT_HASH_BYTES])
{
	kt_storage_view *v = ctx;

	return kt_storage_log_node_get(v->st, v, level, index, out);
}

static int log_put_refused(void *ctx, unsigned level, uint64_t index,
			   const uint8_t hash[KT_HASH_BYTES])
{
	(void)ctx;
	(void)level;
	(void)index;
	(void)hash;
	return KT_ERR_INVALID_ARG;
}

static kt_storage_batch *open_batch(kt_storage *st)
{
	return st->batch;
}

static int log_get_apply(void *ctx, unsigned level, uint64_t index,
			 uint8_t out[KT_HASH_BYTES])
{
	kt_storage *st = ctx;
	kt_storage_batch *b = open_batch(st);

	if (b != NULL)
		return kt_storage_batch_log_node_get(b, level, index, out);
	return kt_storage_log_node_get(st, NULL, level, index, out);
}

static int log_put_apply(void *ctx, unsigned level, uint64_t index,
			 const uint8_t hash[KT_HASH_BYTES])
{
	kt_storage_batch *b = open_batch(ctx);

	if (b == NULL)
		return KT_ERR_INVALID_ARG;
	return kt_storage_batch_log_node_put(b, level, index, hash);
}

kt_log_store kt_storage_log_store_view(kt_storage_view *v)
{
	kt_log_store s;

	s.ctx = v;
	s.get = log_get_view;
	s.put = log_put_refused;
	return s;
}

kt_log_store kt_storage_log_store_apply(kt_storage *st)
{
	kt_log_store s;

	s.ctx = st;
	s.get = log_get_apply;
	s.put = log_put_apply;
	return s;
}

static int decode_node(int r, const uint8_t *buf, size_t len, kt_map_node *out)
{
	if (r != KT_OK)
		return r;
	return kt_map_node_decode(out, buf, len) == KT_OK ? KT_OK
							   : KT_ERR_STORAGE;
}

static int map_get_view(void *ctx, uint16_t depth,
			const uint8_t prefix[KT_HASH_BYTES], uint64_t at,
			kt_map_node *out)
{
	kt_storage_view *v = ctx;
	uint8_t buf[KT_STORAGE_MAP_NODE_MAX];
	uint64_t ver;
	size_t len;
	int r;

	r = kt_storage_map_node_get(v->st, v, depth, prefix, at, &ver, buf, &len);
	return decode_node(r, buf, len, out);
}

static int map_put_refused(void *ctx, uint16_t depth,
			   const uint8_t prefix[KT_HASH_BYTES],
			   uint64_t version, const kt_map_node *node)
{
	(void)ctx;
	(void)depth;
	(void)prefix;
	(void)version;
	(void)node;
	return KT_ERR_INVALID_ARG;
}

static int map_get_apply(void *ctx, uint16_t depth,
			 const uint8_t prefix[KT_HASH_BYTES], uint64_t at,
			 kt_map_node *out)
{
	kt_storage *st = ctx;
	kt_storage_batch *b = open_batch(st);
	uint8_t buf[KT_STORAGE_MAP_NODE_MAX];
	uint64_t ver;
	size_t len;
	int r;

	if (b != NULL)
		r = kt_storage_batch_map_node_get(b, depth, prefix, at, &ver,
						  buf, &len);
	else
		r = kt_storage_map_node_get(st, NULL, depth, prefix, at, &ver,
					    buf, &len);
	return decode_node(r, buf, len, out);
}

static int map_put_apply(void *ctx, uint16_t depth,
			 const uint8_t prefix[KT_HASH_BYTES], uint64_t version,
			 const kt_map_node *node)
{
	kt_storage_batch *b = open_batch(ctx);
	uint8_t buf[KT_MAP_NODE_BYTES];
	int r;

	if (b == NULL)
		return KT_ERR_INVALID_ARG;
	r = kt_map_node_encode(buf, node);
	if (r != KT_OK)
		return r;
	return kt_storage_batch_map_node_put(b, depth, prefix, version, buf,
					     sizeof(buf));
}

kt_map_store kt_storage_map_store_view(kt_storage_view *v)
{
	kt_map_store s;

	s.ctx = v;
	s.get = map_get_view;
	s.put = map_put_refused;
	return s;
}

kt_map_store kt_storage_map_store_apply(kt_storage *st)
{
	kt_map_store s;

	s.ctx = st;
	s.get = map_get_apply;
	s.put = map_put_apply;
	return s;
}

/* ---- statistics and tests ------------------------------------------------------------ */

uint64_t kt_storage_checkpoint_generation(kt_storage *st)
{
	return atomic_load(&st->checkpoint_gen);
}

void kt_storage_get_stats(kt_storage *st, kt_storage_stats *out)
{
	kt_hotcache_counts(st->map_cache, &out->cache_hits, &out->cache_misses);
	kt_hotcache_counts(st->log_cache, &out->log_cache_hits,
			   &out->log_cache_misses);
	kt_hotcache_counts(st->name_cache, &out->name_cache_hits,
			   &out->name_cache_misses);
	out->commits = atomic_load_explicit(&st->commits, memory_order_relaxed);
	out->write_errors = atomic_load_explicit(&st->write_errors, memory_order_relaxed);
}

static uint64_t cf_property(kt_storage *st, unsigned cf, const char *name)
{
	uint64_t v = 0;

	if (rocksdb_property_int_cf(st->db, st->cf[cf], name, &v) != 0)
		return 0;
	return v;
}

void kt_storage_get_sizes(kt_storage *st, kt_storage_sizes *out)
{
	unsigned i;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < KT_CF_COUNT; i++) {
		out->sst_bytes[i] = cf_property(st, i, "rocksdb.live-sst-files-size");
		out->memtable_bytes[i] =
			cf_property(st, i, "rocksdb.cur-size-all-mem-tables");
	}
	out->block_cache_usage = rocksdb_cache_get_usage(st->block_cache);
	out->block_cache_capacity = rocksdb_cache_get_capacity(st->block_cache);
	out->map_cache_slots = kt_hotcache_capacity(st->map_cache);
	out->log_cache_slots = kt_hotcache_capacity(st->log_cache);
	out->name_cache_slots = kt_hotcache_capacity(st->name_cache);
}

const char *kt_storage_cf_name(unsigned cf)
{
	return cf < KT_CF_COUNT ? cf_names[cf] : NULL;
}

void kt_storage_test_fail_writes(kt_storage *st, unsigned n)
{
	atomic_store(&st->fail_writes, n);
}

void kt_storage_test_fail_reads(kt_storage *st, unsigned n)
{
	atomic_store(&st->fail_reads, n);
}
