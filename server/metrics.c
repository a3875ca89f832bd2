/*
 * metrics.c — the process-wide metrics registry and its Prometheus text
 * rendering (see metrics.h).
 *
 * Every value is an _Atomic uint64_t updated with relaxed ordering: a
 * scrape needs no ordering between metrics, only untorn values.  Durations
 * are kept in nanoseconds and rendered as seconds with exact decimal
 * digits (no floating point), so the rendered text is reproducible.
 */
#include "metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef KT_BUILD_VERSION
#define KT_BUILD_VERSION "unknown"
#endif

#define N_CODES 17            /* gRPC status codes 0..16 */
#define CODE_UNKNOWN 2
#define MAX_BUCKETS 16

/* ---- bucket layouts ----------------------------------------------------- */

/* Durations: upper bounds in ns and as rendered (seconds). */
static const uint64_t dur_bounds[] = {
	100000u, 250000u, 500000u, 1000000u, 2500000u, 5000000u, 10000000u,
	25000000u, 50000000u, 100000000u, 250000000u, 500000000u,
	1000000000u, 2500000000u, 5000000000u, 10000000000u,
};
static const char *const dur_labels[] = {
	"0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01",
	"0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10",
};
/* Batch sizes (changes). */
static const uint64_t size_bounds[] = {
	1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384, 65536,
};
static const char *const size_labels[] = {
	"1", "2", "4", "8", "16", "32", "64", "128", "256", "512", "1024",
	"4096", "16384", "65536",
};
#define N_DUR (sizeof(dur_bounds) / sizeof(dur_bounds[0]))
#define N_SIZE (sizeof(size_bounds) / sizeof(size_bounds[0]))
_Static_assert(N_DUR == sizeof(dur_labels) / sizeof(dur_labels[0]), "labels");
_Static_assert(N_SIZE == sizeof(size_labels) / sizeof(size_labels[0]), "labels");
_Static_assert(N_DUR <= MAX_BUCKETS && N_SIZE <= MAX_BUCKETS, "buckets");

typedef struct layout {
	const uint64_t *bounds;
	const char *const *labels;
	size_t n;
	int ns;                    /* values are ns, rendered as seconds */
} layout;

static const layout dur_layout = {dur_bounds, dur_labels, N_DUR, 1};
static const layout size_layout = {size_bounds, size_labels, N_SIZE, 0};

typedef struct hist {
	_Atomic uint64_t bucket[MAX_BUCKETS + 1];   /* [n] = above the last */
	_Atomic uint64_t sum;
} hist;

/* ---- the registry --------------------------------------------------------- */

enum kind { K_COUNTER, K_GAUGE, K_HIST };

typedef struct scalar_def {
	const char *name;
	const char *help;
	enum kind kind;
	const layout *lay;        /* K_HIST */
	int ms_as_seconds;        /* K_GAUGE kept in ms */
	int omit_zero;            /* K_GAUGE: no series while 0 */
} scalar_def;

static const scalar_def scalar_defs[KT_METRIC_COUNT] = {
	[KT_METRIC_UPDATES_APPLIED] = {"ktd_updates_applied_total",
		"Changes accepted and applied (one log entry each).",
		K_COUNTER, NULL, 0, 0},
	[KT_METRIC_BATCH_SIZE] = {"ktd_batch_size",
		"Changes per applied batch (heartbeats not counted).",
		K_HIST, &size_layout, 0, 0},
	[KT_METRIC_APPLY_DURATION] = {"ktd_apply_duration_seconds",
		"Time to apply and commit one batch, heartbeats included.",
		K_HIST, &dur_layout, 0, 0},
	[KT_METRIC_LOG_SIZE] = {"ktd_log_size",
		"Tree size of the newest checkpoint.", K_GAUGE, NULL, 0, 0},
	[KT_METRIC_CHECKPOINT_TS] = {"ktd_checkpoint_timestamp_seconds",
		"Timestamp of the newest checkpoint's last entry (Unix seconds).",
		K_GAUGE, NULL, 1, 0},
	[KT_METRIC_COSIGNED_SIZE] = {"ktd_cosigned_size",
		"Tree size of the newest witness-cosigned checkpoint (absent "
		"until there is one).", K_GAUGE, NULL, 0, 1},
};

static const char *const method_names[] = {
	"/keytrail.v1.Directory/Update",
	"/keytrail.v1.Directory/Lookup",
	"/keytrail.v1.Directory/History",
	"/keytrail.v1.Directory/GetCheckpoint",
	"/keytrail.v1.Directory/GetConsistencyProof",
	"/keytrail.v1.Directory/GetEntries",
	"/keytrail.v1.Directory/AddCosignature",
	"/keytrail.v1.Admin/OperatorUpdate",
	"/keytrail.v1.Admin/Status",
	"/grpc.health.v1.Health/Check",
};
#define N_METHODS (sizeof(method_names) / sizeof(method_names[0]))

static const char *const code_names[N_CODES] = {
	"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
	"NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED",
	"RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
	"UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
	"UNAUTHENTICATED",
};

static const char *const deny_names[KT_METRICS_DENY_COUNT] = {
	"disabled", "no_credential", "bad_credential",
};

static struct {
	_Atomic uint64_t scalar[KT_METRIC_COUNT];   /* counters and gauges */
	hist scalar_hist[KT_METRIC_COUNT];          /* histograms by id */
	_Atomic uint64_t rpc[N_METHODS][N_CODES];
	hist rpc_dur[N_METHODS];
	_Atomic uint64_t denied[KT_METRICS_DENY_COUNT];
	char version[KT_METRICS_MAX_VERSION + 1];   /* "" = KT_BUILD_VERSION */
} reg;

/* The storage source: set and cleared rarely, called once per render. */
static pthread_mutex_t source_mu = PTHREAD_MUTEX_INITIALIZER;
static kt_metrics_storage_fn source_fn;
static void *source_ctx;

static const char *const cache_names[KT_METRICS_CACHE_COUNT] = {
	"map", "log", "name",
};

/* ---- updates ------------------------------------------------------------------ */

static void hist_observe(hist *h, const layout *lay, uint64_t v)
{
	size_t i = 0;

	while (i < lay->n && v > lay->bounds[i])
		i++;
	atomic_fetch_add_explicit(&h->bucket[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum, v, memory_order_relaxed);
}

static int valid_id(kt_metric id, enum kind kind)
{
	return (unsigned)id < KT_METRIC_COUNT && scalar_defs[id].kind == kind;
}

int kt_metrics_add(kt_metric id, uint64_t v)
{
	if (!valid_id(id, K_COUNTER))
		return KT_ERR_INVALID_ARG;
	atomic_fetch_add_explicit(&reg.scalar[id], v, memory_order_relaxed);
	return KT_OK;
}

int kt_metrics_set(kt_metric id, uint64_t v)
{
	if (!valid_id(id, K_GAUGE))
		return KT_ERR_INVALID_ARG;
	atomic_store_explicit(&reg.scalar[id], v, memory_order_relaxed);
	return KT_OK;
}

int kt_metrics_observe(kt_metric id, uint64_t v)
{
	if (!valid_id(id, K_HIST))
		return KT_ERR_INVALID_ARG;
	hist_observe(&reg.scalar_hist[id], scalar_defs[id].lay, v);
	return KT_OK;
}

int kt_metrics_method_id(const char *full_name)
{
	size_t i;

	if (full_name == NULL)
		return -1;
	for (i = 0; i < N_METHODS; i++)
		if (strcmp(full_name, method_names[i]) == 0)
			return (int)i;
	return -1;
}

uint64_t kt_metrics_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void kt_metrics_rpc_done(int method_id, int status, uint64_t t0_ns)
{
	uint64_t now;

	if (method_id < 0 || (size_t)method_id >= N_METHODS)
		return;
	if (status < 0 || status >= N_CODES)
		status = CODE_UNKNOWN;
	now = kt_metrics_now_ns();
	atomic_fetch_add_explicit(&reg.rpc[method_id][status], 1,
				  memory_order_relaxed);
	hist_observe(&reg.rpc_dur[method_id], &dur_layout,
		     now > t0_ns ? now - t0_ns : 0);
}

void kt_metrics_admin_denied(kt_metrics_deny reason)
{
	if ((unsigned)reason >= KT_METRICS_DENY_COUNT)
		return;
	atomic_fetch_add_explicit(&reg.denied[reason], 1, memory_order_relaxed);
}

void kt_metrics_set_storage_source(kt_metrics_storage_fn fn, void *ctx)
{
	pthread_mutex_lock(&source_mu);
	source_fn = fn;
	source_ctx = fn != NULL ? ctx : NULL;
	pthread_mutex_unlock(&source_mu);
}

void kt_metrics_clear_storage_source(kt_metrics_storage_fn fn, void *ctx)
{
	pthread_mutex_lock(&source_mu);
	if (source_fn == fn && source_ctx == ctx) {
		source_fn = NULL;
		source_ctx = NULL;
	}
	pthread_mutex_unlock(&source_mu);
}

/* Asks the source (under source_mu, so it cannot be cleared meanwhile).
 * Returns 1 with *s filled if there is one and it answered sanely. */
static int storage_snapshot(kt_metrics_storage *s)
{
	int ok = 0;

	memset(s, 0, sizeof(*s));
	pthread_mutex_lock(&source_mu);
	if (source_fn != NULL)
		ok = source_fn(source_ctx, s) == KT_OK && s->ncf <= KT_METRICS_MAX_CF;
	pthread_mutex_unlock(&source_mu);
	return ok;
}

int kt_metrics_set_version(const char *version)
{
	size_t len;

	if (version == NULL || version[0] == '\0')
		return KT_ERR_INVALID_ARG;
	len = strnlen(version, KT_METRICS_MAX_VERSION + 1);
	if (len > KT_METRICS_MAX_VERSION)
		return KT_ERR_TOO_LARGE;
	memcpy(reg.version, version, len + 1);
	return KT_OK;
}

void kt_metrics_reset(void)
{
	size_t i, j;

	for (i = 0; i < KT_METRIC_COUNT; i++) {
		atomic_store(&reg.scalar[i], 0);
		for (j = 0; j <= MAX_BUCKETS; j++)
			atomic_store(&reg.scalar_hist[i].bucket[j], 0);
		atomic_store(&reg.scalar_hist[i].sum, 0);
	}
	for (i = 0; i < N_METHODS; i++) {
		for (j = 0; j < N_CODES; j++)
			atomic_store(&reg.rpc[i][j], 0);
		for (j = 0; j <= MAX_BUCKETS; j++)
			atomic_store(&reg.rpc_dur[i].bucket[j], 0);
		atomic_store(&reg.rpc_dur[i].sum, 0);
	}
	for (i = 0; i < KT_METRICS_DENY_COUNT; i++)
		atomic_store(&reg.denied[i], 0);
	reg.version[0] = '\0';
	kt_metrics_set_storage_source(NULL, NULL);
}

/* ---- rendering ------------------------------------------------------------------ */

typedef struct out {
	char *buf;
	size_t len, cap;
	int r;                    /* first error */
} out;

static void put(out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(out *o, const char *fmt, ...)
{
	va_list ap;
	size_t need;
	int n;
	char *nb;

	if (o->r != KT_OK)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	if (n < 0) {
		o->r = KT_ERR_INTERNAL;
		return;
	}
	if ((size_t)n < o->cap - o->len) {
		o->len += (size_t)n;
		return;
	}
	need = o->len + (size_t)n + 1;
	if (need > KT_METRICS_MAX_TEXT + 1) {
		o->r = KT_ERR_TOO_LARGE;
		return;
	}
	while (o->cap < need)
		o->cap *= 2;
	if (o->cap > KT_METRICS_MAX_TEXT + 1)
		o->cap = KT_METRICS_MAX_TEXT + 1;
	nb = realloc(o->buf, o->cap);
	if (nb == NULL) {
		o->r = KT_ERR_NOMEM;
		return;
	}
	o->buf = nb;
	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->cap - o->len) {
		o->r = KT_ERR_INTERNAL;
		return;
	}
	o->len += (size_t)n;
}

/* v / 10^digits as an exact decimal without trailing zeros ("1.5", "0",
 * "0.000001"). */
static void put_fixed(out *o, uint64_t v, unsigned digits)
{
	char frac[24];
	uint64_t div = 1;
	unsigned i;
	int n;

	for (i = 0; i < digits; i++)
		div *= 10u;
	n = snprintf(frac, sizeof(frac), "%0*llu", (int)digits,
		     (unsigned long long)(v % div));
	while (n > 0 && frac[n - 1] == '0')
		frac[--n] = '\0';
	if (n > 0)
		put(o, "%llu.%s", (unsigned long long)(v / div), frac);
	else
		put(o, "%llu", (unsigned long long)(v / div));
}

/* A label value as the exposition format wants it: backslash, double
 * quote and newline escaped; every other byte as is. */
static void put_label_value(out *o, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\')
			put(o, "\\\\");
		else if (*s == '"')
			put(o, "\\\"");
		else if (*s == '\n')
			put(o, "\\n");
		else
			put(o, "%c", *s);
	}
}

static void put_header(out *o, const char *name, const char *help,
		       const char *type)
{
	put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* The series of one histogram; labels: "" or `method="Lookup",`. */
static void put_hist(out *o, const char *name, const char *labels,
		     const hist *h, const layout *lay)
{
	uint64_t cum = 0;
	size_t i;

	for (i = 0; i <= lay->n; i++) {
		cum += atomic_load_explicit(&h->bucket[i], memory_order_relaxed);
		put(o, "%s_bucket{%sle=\"%s\"} %llu\n", name, labels,
		    i < lay->n ? lay->labels[i] : "+Inf",
		    (unsigned long long)cum);
	}
	put(o, "%s_sum", name);
	if (labels[0] != '\0')
		put(o, "{%.*s}", (int)(strlen(labels) - 1), labels);
	put(o, " ");
	if (lay->ns)
		put_fixed(o, atomic_load_explicit(&h->sum, memory_order_relaxed), 9);
	else
		put(o, "%llu", (unsigned long long)atomic_load_explicit(
				       &h->sum, memory_order_relaxed));
	put(o, "\n%s_count", name);
	if (labels[0] != '\0')
		put(o, "{%.*s}", (int)(strlen(labels) - 1), labels);
	put(o, " %llu\n", (unsigned long long)cum);
}

static uint64_t hist_total(const hist *h)
{
	uint64_t t = 0;
	size_t i;

	for (i = 0; i <= MAX_BUCKETS; i++)
		t += atomic_load_explicit(&h->bucket[i], memory_order_relaxed);
	return t;
}

/* The short method name: what follows the last '/'. */
static const char *short_method(size_t m)
{
	return strrchr(method_names[m], '/') + 1;
}

/* Whether the series of method m with status code c is shown while still 0:
 * code OK of every method, and every code of the Admin methods.  A series
 * that first appears at 1 is invisible to Prometheus' increase(), and the
 * first operator change after a start must not be (alerts.yml). */
static int rpc_series_always(size_t m, size_t c)
{
	return c == 0 || strncmp(method_names[m], "/keytrail.v1.Admin/", 19) == 0;
}

static void render_rpc(out *o)
{
	char labels[96];
	size_t m, c;
	uint64_t v;

	put_header(o, "ktd_rpc_requests_total",
		   "gRPC calls answered, by method and status code.", "counter");
	for (m = 0; m < N_METHODS; m++)
		for (c = 0; c < N_CODES; c++) {
			v = atomic_load_explicit(&reg.rpc[m][c], memory_order_relaxed);
			if (v > 0 || rpc_series_always(m, c))
				put(o, "ktd_rpc_requests_total{method=\"%s\",code=\"%s\"} %llu\n",
				    short_method(m), code_names[c],
				    (unsigned long long)v);
		}
	put_header(o, "ktd_rpc_duration_seconds",
		   "Time from a call's arrival to its answer being sent, by method.",
		   "histogram");
	for (m = 0; m < N_METHODS; m++) {
		if (hist_total(&reg.rpc_dur[m]) == 0)
			continue;
		snprintf(labels, sizeof(labels), "method=\"%s\",", short_method(m));
		put_hist(o, "ktd_rpc_duration_seconds", labels, &reg.rpc_dur[m],
			 &dur_layout);
	}
}

static void render_scalars(out *o)
{
	size_t i;
	uint64_t v;

	for (i = 0; i < KT_METRIC_COUNT; i++) {
		const scalar_def *d = &scalar_defs[i];

		v = atomic_load_explicit(&reg.scalar[i], memory_order_relaxed);
		put_header(o, d->name, d->help,
			   d->kind == K_COUNTER ? "counter" :
			   d->kind == K_GAUGE ? "gauge" : "histogram");
		if (d->kind == K_HIST) {
			put_hist(o, d->name, "", &reg.scalar_hist[i], d->lay);
		} else if (!(d->omit_zero && v == 0)) {
			put(o, "%s ", d->name);
			if (d->ms_as_seconds)
				put_fixed(o, v, 3);
			else
				put(o, "%llu", (unsigned long long)v);
			put(o, "\n");
		}
	}
}

/* One gauge family with a series per column family. */
static void render_cf_gauge(out *o, const kt_metrics_storage *s,
			    const char *name, const char *help,
			    const uint64_t *v)
{
	size_t i;

	put_header(o, name, help, "gauge");
	for (i = 0; i < s->ncf; i++)
		if (s->cf_name[i] != NULL)
			put(o, "%s{cf=\"%s\"} %llu\n", name, s->cf_name[i],
			    (unsigned long long)v[i]);
}

static void render_storage(out *o)
{
	kt_metrics_storage s;
	size_t i;

	if (!storage_snapshot(&s))
		return;
	render_cf_gauge(o, &s, "ktd_storage_sst_bytes",
			"Live SST file bytes of each RocksDB column family.",
			s.cf_sst_bytes);
	render_cf_gauge(o, &s, "ktd_storage_memtable_bytes",
			"Memtable bytes of each RocksDB column family.",
			s.cf_memtable_bytes);
	put_header(o, "ktd_block_cache_usage_bytes",
		   "Bytes held by RocksDB's block cache.", "gauge");
	put(o, "ktd_block_cache_usage_bytes %llu\n",
	    (unsigned long long)s.block_cache_usage_bytes);
	put_header(o, "ktd_block_cache_capacity_bytes",
		   "Capacity of RocksDB's block cache (block_cache_mb).", "gauge");
	put(o, "ktd_block_cache_capacity_bytes %llu\n",
	    (unsigned long long)s.block_cache_capacity_bytes);
	put_header(o, "ktd_cache_lookups_total",
		   "Reads of the in-memory hot caches, by cache and result.",
		   "counter");
	for (i = 0; i < KT_METRICS_CACHE_COUNT; i++) {
		put(o, "ktd_cache_lookups_total{cache=\"%s\",result=\"hit\"} %llu\n",
		    cache_names[i], (unsigned long long)s.cache_hits[i]);
		put(o, "ktd_cache_lookups_total{cache=\"%s\",result=\"miss\"} %llu\n",
		    cache_names[i], (unsigned long long)s.cache_misses[i]);
	}
	put_header(o, "ktd_cache_slots",
		   "Slots of each hot cache (0: the cache is off).", "gauge");
	for (i = 0; i < KT_METRICS_CACHE_COUNT; i++)
		put(o, "ktd_cache_slots{cache=\"%s\"} %llu\n", cache_names[i],
		    (unsigned long long)s.cache_slots[i]);
}

static void render_misc(out *o)
{
	const char *version = reg.version[0] != '\0' ? reg.version : KT_BUILD_VERSION;
	size_t i;

	put_header(o, "ktd_admin_denied_total",
		   "Admin calls refused, by reason.", "counter");
	for (i = 0; i < KT_METRICS_DENY_COUNT; i++)
		put(o, "ktd_admin_denied_total{reason=\"%s\"} %llu\n", deny_names[i],
		    (unsigned long long)atomic_load_explicit(&reg.denied[i],
							     memory_order_relaxed));
	put_header(o, "ktd_build_info", "Always 1; the label says ktd's version.",
		   "gauge");
	put(o, "ktd_build_info{version=\"");
	put_label_value(o, version);
	put(o, "\"} 1\n");
}

int kt_metrics_render(char **out_text, size_t *out_len)
{
	out o;
	int r;

	*out_text = NULL;
	*out_len = 0;
	memset(&o, 0, sizeof(o));
	o.cap = 8192;
	o.buf = malloc(o.cap);
	if (o.buf == NULL)
		return KT_ERR_NOMEM;
	o.buf[0] = '\0';
	render_rpc(&o);
	render_scalars(&o);
	render_storage(&o);
	render_misc(&o);
	r = o.r;
	if (r != KT_OK) {
		free(o.buf);
		return r;
	}
	*out_text = o.buf;
	*out_len = o.len;
	return KT_OK;
}
