/*
 * node.c — one ktd node: keys, storage, apply path, local sequencer, the
 * published head, and the background pruning of old map versions.
 *
 * Start order (kt_node_open): data directory, keys, storage, apply path,
 * sequencer, pruning thread.  Close order (kt_node_close): the sequencer
 * drains and stops (every pending change completes), the pruning thread
 * stops, then apply, storage and keys are released.
 *
 * Pruning: every KT_NODE_PRUNE_INTERVAL_MS the thread finds the first log
 * position whose entry is not older than now - retention (entry timestamps
 * never go back, so a binary search over the stored entries finds it), caps
 * it at (newest checkpoint size - 1) and (newest cosigned checkpoint size
 * - 1) so that both stay provable, and, if that is above the stored prune boundary, raises the
 * boundary and deletes superseded map-node versions in steps of
 * KT_NODE_PRUNE_STEP_KEYS keys, checking for close between steps.
 */
#include "node.h"
#include "reader.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#ifdef __linux__
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include <sodium.h>

#include "log.h"
#include "metrics.h"

struct kt_node {
	const kt_config *cfg;          /* borrowed */
	kt_node_keys keys;
	kt_storage *st;
	kt_apply *apply;
	kt_sequencer *seq;

	pthread_mutex_t head_mu;
	kt_apply_head head;            /* published, under head_mu */
	kt_reader_cache *reader_cache;

	pthread_mutex_t prune_mu;
	pthread_cond_t prune_cv;
	int prune_stop;                /* under prune_mu */
	int prune_started;
	pthread_t prune_thread;
};

const char *kt_node_data_dir(const kt_config *cfg)
{
	if (cfg->data_dir != NULL)
		return cfg->data_dir;
	return cfg->dev_mode ? KT_NODE_DEV_DATA_DIR : NULL;
}

const char *kt_node_origin(const kt_config *cfg)
{
	if (cfg->origin != NULL)
		return cfg->origin;
	return cfg->dev_mode ? KT_NODE_DEV_ORIGIN : NULL;
}

uint64_t kt_node_now_ms(kt_node *n)
{
	struct timespec ts;

	(void)n;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- callbacks ------------------------------------------------------------- */

static void storage_log(void *ctx, int code, const char *msg)
{
	char q[KT_SLOG_QUOTE_MAX];

	(void)ctx;
	kt_slog(KT_SLOG_ERROR, "storage_error", "code=%s msg=%s",
		kt_errname(code), kt_slog_quote(q, sizeof(q), msg));
}

/* The head's gauges (ktd_log_size, ktd_checkpoint_timestamp_seconds). */
static void head_metrics(const kt_apply_head *head)
{
	(void)kt_metrics_set(KT_METRIC_LOG_SIZE, head->tree_size);
	(void)kt_metrics_set(KT_METRIC_CHECKPOINT_TS, head->last_timestamp_ms);
}

/* ktd_cosigned_size from the stored newest cosigned size (absent: 0). */
static void cosigned_metric(kt_node *n)
{
	uint64_t v = 0;

	if (kt_storage_meta_get_u64(n->st, NULL, KT_META_COSIGNED_CHECKPOINT,
				    &v) != KT_OK)
		v = 0;
	(void)kt_metrics_set(KT_METRIC_COSIGNED_SIZE, v);
}

static void on_applied(void *arg, const kt_apply_head *head)
{
	kt_node *n = arg;

	pthread_mutex_lock(&n->head_mu);
	n->head = *head;
	pthread_mutex_unlock(&n->head_mu);
	head_metrics(head);
}

/* ---- pruning ------------------------------------------------------------------ */

static int entry_ts(kt_storage *st, uint64_t pos, uint64_t *ts)
{
	kt_log_entry e;
	uint8_t *v = NULL;
	size_t len = 0;
	int r;

	r = kt_storage_log_entry_get(st, NULL, pos, &v, &len);
	if (r == KT_OK)
		r = kt_log_entry_decode(&e, v, len);
	kt_storage_free(v);
	*ts = r == KT_OK ? e.timestamp_ms : 0;
	return r;
}

/* The prune boundary for now: see the file comment.  *out = 0 if there is
 * nothing to prune. */
static int prune_target(kt_node *n, uint64_t *out)
{
	kt_apply_head head;
	uint64_t now = kt_node_now_ms(n), cutoff, lo = 0, hi, ts, cosigned;
	int r;

	*out = 0;
	kt_node_head(n, &head);
	if (head.tree_size == 0 || now <= n->cfg->retention_ms)
		return KT_OK;
	cutoff = now - n->cfg->retention_ms;
	hi = head.tree_size;
	while (lo < hi) { /* first position whose entry is not older */
		uint64_t mid = lo + (hi - lo) / 2;

		r = entry_ts(n->st, mid, &ts);
		if (r != KT_OK)
			return r;
		if (ts < cutoff)
			lo = mid + 1;
		else
			hi = mid;
	}
	*out = lo < head.tree_size - 1 ? lo : head.tree_size - 1;
	/* Keep the newest cosigned checkpoint provable too: strict-mode clients
	 * read at it.  A long witness outage therefore holds pruning back. */
	if (kt_storage_meta_get_u64(n->st, NULL, KT_META_COSIGNED_CHECKPOINT,
				    &cosigned) == KT_OK && cosigned > 0 &&
	    *out > cosigned - 1)
		*out = cosigned - 1;
	return KT_OK;
}

static int prune_stopping(kt_node *n)
{
	int stop;

	pthread_mutex_lock(&n->prune_mu);
	stop = n->prune_stop;
	pthread_mutex_unlock(&n->prune_mu);
	return stop;
}

static void prune_once(kt_node *n)
{
	kt_storage_prune p;
	uint64_t target = 0;
	int r;

	r = prune_target(n, &target);
	if (r != KT_OK || target <= kt_storage_prune_boundary(n->st)) {
		if (r != KT_OK)
			kt_slog(KT_SLOG_WARN, "prune_error", "code=%s",
				kt_errname(r));
		return;
	}
	r = kt_storage_prune_begin(n->st, target, &p);
	while (r == KT_OK && !p.done && !prune_stopping(n))
		r = kt_storage_prune_step(n->st, &p, KT_NODE_PRUNE_STEP_KEYS);
	if (r != KT_OK)
		kt_slog(KT_SLOG_WARN, "prune_error", "boundary=%llu code=%s",
			(unsigned long long)target, kt_errname(r));
	else
		kt_slog(KT_SLOG_INFO, "prune", "boundary=%llu done=%d keys=%llu "
			"deleted=%llu", (unsigned long long)target, p.done,
			(unsigned long long)p.keys_seen,
			(unsigned long long)p.deleted);
}

static int warm_stop(void *ctx)
{
	return prune_stopping(ctx);
}

#define MIB(b) ((unsigned long long)((b) >> 20))

/* What a lookup reads besides the hot caches (the account records and
 * each account's last entry) beside the block cache that should hold it:
 * docs/OPERATIONS.md "Memory: the hot caches". */
static void log_sizes(kt_node *n)
{
	kt_storage_sizes sz;

	kt_storage_get_sizes(n->st, &sz);
	kt_slog(KT_SLOG_INFO, "storage_sizes",
		"accounts_mb=%llu log_entries_mb=%llu map_nodes_mb=%llu "
		"log_nodes_mb=%llu account_names_mb=%llu block_cache_mb=%llu",
		MIB(sz.sst_bytes[KT_CF_ACCOUNTS]),
		MIB(sz.sst_bytes[KT_CF_LOG_ENTRIES]),
		MIB(sz.sst_bytes[KT_CF_MAP_NODES]),
		MIB(sz.sst_bytes[KT_CF_LOG_NODES]),
		MIB(sz.sst_bytes[KT_CF_ACCOUNT_NAMES]),
		MIB(sz.block_cache_capacity));
}

/* Fills the hot caches from the database, so that a restarted node serves
 * lookups from memory without waiting for traffic to fill them. */
static void warm_caches(kt_node *n)
{
	kt_storage_warm_stats ws;
	struct timespec t0, t1;
	int r;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = kt_storage_warm_caches(n->st, warm_stop, n, &ws);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	kt_slog(r == KT_OK ? KT_SLOG_INFO : KT_SLOG_WARN, "cache_warm",
		"code=%s map_positions=%llu map_records=%llu log_nodes=%llu "
		"names=%llu ms=%lld", kt_errname(r),
		(unsigned long long)ws.map_positions,
		(unsigned long long)ws.map_records,
		(unsigned long long)ws.log_nodes, (unsigned long long)ws.names,
		(long long)((t1.tv_sec - t0.tv_sec) * 1000 +
			    (t1.tv_nsec - t0.tv_nsec) / 1000000));
	log_sizes(n);
}

/* The node's background thread: warms the caches once, then prunes.  It
 * runs at a lower cpu priority than the threads that answer requests
 * (Linux: nice applies per thread; a failure only leaves it at normal
 * priority). */
static void *prune_thread(void *arg)
{
	kt_node *n = arg;
	struct timespec ts;

#ifdef __linux__
	(void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid),
			  KT_NODE_BACKGROUND_NICE);
#endif
	warm_caches(n);
	for (;;) {
		pthread_mutex_lock(&n->prune_mu);
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += KT_NODE_PRUNE_INTERVAL_MS / 1000u;
		while (!n->prune_stop &&
		       pthread_cond_timedwait(&n->prune_cv, &n->prune_mu, &ts) !=
			       ETIMEDOUT)
			;
		if (n->prune_stop) {
			pthread_mutex_unlock(&n->prune_mu);
			return NULL;
		}
		pthread_mutex_unlock(&n->prune_mu);
		prune_once(n);
	}
}

static int prune_start(kt_node *n)
{
	pthread_condattr_t ca;
	int ok;

	if (pthread_mutex_init(&n->prune_mu, NULL) != 0)
		return KT_ERR_INTERNAL;
	if (pthread_condattr_init(&ca) != 0)
		return KT_ERR_INTERNAL;
	ok = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
	     pthread_cond_init(&n->prune_cv, &ca) == 0;
	pthread_condattr_destroy(&ca);
	if (!ok)
		return KT_ERR_INTERNAL;
	if (pthread_create(&n->prune_thread, NULL, prune_thread, n) != 0) {
		pthread_cond_destroy(&n->prune_cv);
		return KT_ERR_INTERNAL;
	}
	n->prune_started = 1;
	return KT_OK;
}

static void prune_stop(kt_node *n)
{
	if (!n->prune_started)
		return;
	pthread_mutex_lock(&n->prune_mu);
	n->prune_stop = 1;
	pthread_cond_broadcast(&n->prune_cv);
	pthread_mutex_unlock(&n->prune_mu);
	pthread_join(n->prune_thread, NULL);
	pthread_cond_destroy(&n->prune_cv);
	pthread_mutex_destroy(&n->prune_mu);
	n->prune_started = 0;
}

/* ---- open / close ---------------------------------------------------------------- */

static int open_storage(kt_node *n, const char *dir, char *err, size_t errlen)
{
	kt_storage_options o;
	int r;

	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		kt_err_format(err, errlen, "data_dir %s: %s", dir, strerror(errno));
		return KT_ERR_IO;
	}
	kt_storage_options_init(&o);
	o.create = 1;
	o.cache_entries = (size_t)n->cfg->map_cache_nodes;
	o.log_cache_entries = (size_t)n->cfg->log_cache_nodes;
	o.name_cache_entries = (size_t)n->cfg->name_cache_entries;
	o.block_cache_bytes = (size_t)n->cfg->block_cache_mb << 20;
	o.log = storage_log;
	o.log_ctx = n;
	o.allow_migration = 1; /* kt_apply_open migrates a format 2 database */
	r = kt_storage_open(dir, &o, &n->st);
	if (r != KT_OK)
		kt_err_format(err, errlen, "data_dir %s: cannot open the database: %s", dir,
		     kt_strerror(r));
	return r;
}

static int open_apply(kt_node *n, char *err, size_t errlen)
{
	kt_apply_params ap;
	int r;

	memset(&ap, 0, sizeof(ap));
	ap.storage = n->st;
	ap.log_signer = &n->keys.log_signer;
	ap.origin = n->keys.log_signer.pub.name;
	ap.origin_len = n->keys.log_signer.pub.name_len;
	ap.max_devices = (size_t)n->cfg->max_devices;
	r = kt_apply_open(&ap, &n->apply);
	if (r == KT_ERR_CHECKPOINT_ORIGIN)
		kt_err_format(err, errlen, "the database holds a log of another origin "
		     "than '%s'", ap.origin);
	else if (r != KT_OK)
		kt_err_format(err, errlen, "cannot load the log state: %s", kt_strerror(r));
	return r;
}

/* A new log gets its first heartbeat (and so its first checkpoint) as soon
 * as the sequencer starts.  Waits for it, so that the node never serves
 * before there is a checkpoint to answer at.  KT_ERR_UNAVAILABLE if it does
 * not come within KT_NODE_FIRST_CHECKPOINT_MS. */
#define KT_NODE_FIRST_CHECKPOINT_MS 10000
static int wait_first_checkpoint(kt_node *n)
{
	const struct timespec tick = {0, 5 * 1000 * 1000};
	kt_apply_head head;
	int waited;

	for (waited = 0; waited < KT_NODE_FIRST_CHECKPOINT_MS; waited += 5) {
		kt_node_head(n, &head);
		if (head.tree_size > 0)
			return KT_OK;
		nanosleep(&tick, NULL);
	}
	return KT_ERR_UNAVAILABLE;
}

static int start_sequencer(kt_node *n, char *err, size_t errlen)
{
	kt_seq_local_params sp;
	int r;

	memset(&sp, 0, sizeof(sp));
	sp.apply = n->apply;
	sp.batch_max = (size_t)n->cfg->batch_max;
	sp.batch_delay_ms = n->cfg->batch_delay_ms;
	sp.queue_max = sp.batch_max * 4 < 1024 ? 1024 : sp.batch_max * 4;
	sp.heartbeat_interval_ms = n->cfg->heartbeat_interval_ms;
	sp.applied = on_applied;
	sp.applied_arg = n;
	r = kt_seq_local_start(&sp, &n->seq);
	if (r != KT_OK) {
		kt_err_format(err, errlen, "cannot start the sequencer: %s", kt_strerror(r));
		return r;
	}
	r = wait_first_checkpoint(n);
	if (r != KT_OK)
		kt_err_format(err, errlen, "no first checkpoint: %s", kt_strerror(r));
	return r;
}

static void log_started(kt_node *n)
{
	char vrf[2 * KT_VRF_PUBLICKEY_BYTES + 1];
	char *vk = NULL;
	size_t vk_len = 0;

	sodium_bin2hex(vrf, sizeof(vrf), n->keys.vrf_pk, KT_VRF_PUBLICKEY_BYTES);
	if (kt_note_verifier_format(&n->keys.log_signer.pub, &vk, &vk_len) != KT_OK)
		vk = NULL;
	kt_slog(KT_SLOG_INFO, "node_open",
		"origin=%s tree_size=%llu accounts=%llu log_key=%s vrf_public=%s "
		"registrars=%zu witnesses=%zu admin=%s dev_mode=%d",
		n->keys.log_signer.pub.name, (unsigned long long)n->head.tree_size,
		(unsigned long long)n->head.accounts, vk != NULL ? vk : "?", vrf,
		n->keys.n_registrars, n->keys.n_witnesses,
		n->keys.has_admin_token ? "on" : "off", n->cfg->dev_mode ? 1 : 0);
	free(vk);
}

_Static_assert(KT_CF_COUNT <= KT_METRICS_MAX_CF, "every column family has a series");

/* The metrics' storage source: the database's sizes and the hot caches'
 * counters, read at each scrape. */
static int storage_metrics(void *ctx, kt_metrics_storage *out)
{
	kt_node *n = ctx;
	kt_storage_sizes sz;
	kt_storage_stats ss;
	unsigned i;

	kt_storage_get_sizes(n->st, &sz);
	kt_storage_get_stats(n->st, &ss);
	out->ncf = KT_CF_COUNT;
	for (i = 0; i < KT_CF_COUNT; i++) {
		out->cf_name[i] = kt_storage_cf_name(i);
		out->cf_sst_bytes[i] = sz.sst_bytes[i];
		out->cf_memtable_bytes[i] = sz.memtable_bytes[i];
	}
	out->block_cache_usage_bytes = sz.block_cache_usage;
	out->block_cache_capacity_bytes = sz.block_cache_capacity;
	out->cache_hits[KT_METRICS_CACHE_MAP] = ss.cache_hits;
	out->cache_misses[KT_METRICS_CACHE_MAP] = ss.cache_misses;
	out->cache_slots[KT_METRICS_CACHE_MAP] = sz.map_cache_slots;
	out->cache_hits[KT_METRICS_CACHE_LOG] = ss.log_cache_hits;
	out->cache_misses[KT_METRICS_CACHE_LOG] = ss.log_cache_misses;
	out->cache_slots[KT_METRICS_CACHE_LOG] = sz.log_cache_slots;
	out->cache_hits[KT_METRICS_CACHE_NAME] = ss.name_cache_hits;
	out->cache_misses[KT_METRICS_CACHE_NAME] = ss.name_cache_misses;
	out->cache_slots[KT_METRICS_CACHE_NAME] = sz.name_cache_slots;
	return KT_OK;
}

int kt_node_open(const kt_config *cfg, kt_node **out, char *err, size_t errlen)
{
	kt_apply_head head;
	kt_node *n;
	const char *dir;
	int r;

	*out = NULL;
	kt_err_format(err, errlen, "%s", "");
	if (cfg == NULL)
		return KT_ERR_INVALID_ARG;
	if (sodium_init() < 0) {
		kt_err_format(err, errlen, "libsodium failed to initialise");
		return KT_ERR_INTERNAL;
	}
	dir = kt_node_data_dir(cfg);
	if (dir == NULL) {
		kt_err_format(err, errlen, "data_dir is required (or run ktd --dev)");
		return KT_ERR_CONFIG_INVALID;
	}
	n = calloc(1, sizeof(*n));
	if (n == NULL)
		return KT_ERR_NOMEM;
	n->cfg = cfg;
	if (pthread_mutex_init(&n->head_mu, NULL) != 0) {
		free(n);
		return KT_ERR_INTERNAL;
	}
	r = kt_node_keys_load(cfg, &n->keys, err, errlen);
	if (r == KT_OK)
		r = kt_reader_cache_new(&n->reader_cache);
	if (r == KT_OK)
		r = open_storage(n, dir, err, errlen);
	if (r == KT_OK)
		r = open_apply(n, err, errlen);
	if (r == KT_OK)
		kt_apply_get_head(n->apply, &n->head);
	if (r == KT_OK)
		r = start_sequencer(n, err, errlen);
	if (r == KT_OK) {
		r = prune_start(n);
		if (r != KT_OK)
			kt_err_format(err, errlen, "cannot start the pruning thread");
	}
	if (r != KT_OK) {
		kt_node_close(n);
		return r;
	}
	kt_node_head(n, &head);
	head_metrics(&head);
	cosigned_metric(n);
	kt_metrics_set_storage_source(storage_metrics, n);
	log_started(n);
	*out = n;
	return KT_OK;
}

void kt_node_close(kt_node *n)
{
	if (n == NULL)
		return;
	kt_metrics_clear_storage_source(storage_metrics, n);
	if (n->seq != NULL)
		n->seq->ops->stop(n->seq);
	prune_stop(n);
	if (n->seq != NULL)
		n->seq->ops->destroy(n->seq);
	kt_apply_free(n->apply);
	kt_storage_close(n->st);
	kt_reader_cache_free(n->reader_cache);
	kt_node_keys_wipe(&n->keys);
	pthread_mutex_destroy(&n->head_mu);
	free(n);
}

/* ---- accessors --------------------------------------------------------------------- */

const kt_config *kt_node_config(const kt_node *n)
{
	return n->cfg;
}

const kt_node_keys *kt_node_keys_get(const kt_node *n)
{
	return &n->keys;
}

struct kt_reader_cache *kt_node_reader_cache(kt_node *n)
{
	return n->reader_cache;
}

kt_storage *kt_node_storage(kt_node *n)
{
	return n->st;
}

void kt_node_head(kt_node *n, kt_apply_head *out)
{
	pthread_mutex_lock(&n->head_mu);
	*out = n->head;
	pthread_mutex_unlock(&n->head_mu);
}

int kt_node_submit(kt_node *n, kt_change *change, kt_seq_done_fn done,
		   void *arg)
{
	return n->seq->ops->submit(n->seq, change, done, arg);
}

int kt_node_cosig_put(kt_node *n, uint64_t size, const uint8_t key_hash[4],
		      const uint8_t *name, size_t name_len, const uint8_t *line,
		      size_t line_len)
{
	return kt_apply_put_cosig(n->apply, size, key_hash, name, name_len, line,
				  line_len);
}

int kt_node_cosigned_put(kt_node *n, uint64_t size)
{
	int r = kt_apply_set_cosigned(n->apply, size);

	if (r == KT_OK)
		cosigned_metric(n);
	return r;
}
