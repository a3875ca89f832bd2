/*
 * metrics.h — ktd's process-wide metrics and their Prometheus rendering.
 *
 * A fixed registry of counters, gauges and histograms, all named ktd_*
 * (docs/OPERATIONS.md "Metrics" lists them).  Updates are lock-free (C11
 * relaxed atomics: one to three atomic adds per event), so the hot paths
 * (every gRPC reply, every applied batch) pay almost nothing.  The text
 * exposition format, version 0.0.4, is produced by kt_metrics_render();
 * metrics_http.c serves it on `metrics_listen`.
 *
 * Like the logger (log.h), the registry is process-wide state: the hook
 * points (net.c, seq_local.c, node.c, admin.c) update it without any handle
 * being passed around.  A process runs one node.
 *
 * Histograms keep one counter per bucket (not cumulative) plus an overflow
 * counter; rendering adds them up, and _count is the cumulative total of
 * the same counters, so a scrape never shows a bucket above _count.  _sum
 * is a separate atomic and may lag one observation behind in a scrape.
 *
 * THREAD SAFETY: every function may be called from any thread at any time,
 * except kt_metrics_set_version (before serving) and kt_metrics_reset
 * (tests only).
 */
#ifndef KT_SERVER_METRICS_H
#define KT_SERVER_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "kt_err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The metrics without labels that hook points update by id. */
typedef enum kt_metric {
	KT_METRIC_UPDATES_APPLIED = 0,   /* counter: accepted changes applied */
	KT_METRIC_BATCH_SIZE,            /* histogram: changes per batch */
	KT_METRIC_APPLY_DURATION,        /* histogram (ns): apply + commit */
	KT_METRIC_LOG_SIZE,              /* gauge: newest checkpoint size */
	KT_METRIC_CHECKPOINT_TS,         /* gauge (ms): its last entry's time */
	KT_METRIC_COSIGNED_SIZE,         /* gauge: newest cosigned size; 0 =
	                                    none (the series is then omitted) */
	KT_METRIC_COUNT                  /* not a metric */
} kt_metric;

/* Reasons of ktd_admin_denied_total{reason}. */
typedef enum kt_metrics_deny {
	KT_METRICS_DENY_DISABLED = 0,    /* "disabled": no admin token configured */
	KT_METRICS_DENY_NO_CREDENTIAL,   /* "no_credential" */
	KT_METRICS_DENY_BAD_CREDENTIAL,  /* "bad_credential" */
	KT_METRICS_DENY_COUNT
} kt_metrics_deny;

/* Most bytes kt_metrics_render produces; a registry that would need more
 * is refused (KT_ERR_TOO_LARGE).  The fixed registry needs well under
 * this. */
#define KT_METRICS_MAX_TEXT (256u * 1024u)
/* Longest build version string (ktd_build_info{version}). */
#define KT_METRICS_MAX_VERSION 64
/* Content-Type of the rendered text. */
#define KT_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Adds v to counter id.  Returns KT_OK, or KT_ERR_INVALID_ARG (and changes
 * nothing) if id is not a counter of kt_metric. */
int kt_metrics_add(kt_metric id, uint64_t v);

/* Sets gauge id to v.  Returns KT_OK, or KT_ERR_INVALID_ARG (nothing
 * changed) if id is not a gauge of kt_metric. */
int kt_metrics_set(kt_metric id, uint64_t v);

/* Records one observation v in histogram id (in its unit: nanoseconds for
 * *_DURATION, a count for BATCH_SIZE).  Returns KT_OK, or
 * KT_ERR_INVALID_ARG (nothing changed) if id is not a histogram. */
int kt_metrics_observe(kt_metric id, uint64_t v);

/* The index of a gRPC method in the RPC metrics: the full name
 * "/keytrail.v1.Directory/Lookup" of a Directory, Admin or Health method.
 * Returns the index (>= 0), or -1 for any other name (such calls are not
 * counted). */
int kt_metrics_method_id(const char *full_name);

/* A monotonic clock in ns, for the t0 of kt_metrics_rpc_done. */
uint64_t kt_metrics_now_ns(void);

/* One finished RPC: counts ktd_rpc_requests_total{method,code} and observes
 * now - t0_ns in ktd_rpc_duration_seconds{method}.  status is the gRPC
 * status code (0..16; anything else counts as UNKNOWN).  A method_id that
 * kt_metrics_method_id did not return is ignored. */
void kt_metrics_rpc_done(int method_id, int status, uint64_t t0_ns);

/* Counts one refused Admin call.  An unknown reason is ignored. */
void kt_metrics_admin_denied(kt_metrics_deny reason);

/* ---- storage and cache figures, read at each render ------------------- */

/* The hot caches of ktd_cache_lookups_total{cache} and ktd_cache_slots. */
typedef enum kt_metrics_cache {
	KT_METRICS_CACHE_MAP = 0,        /* "map" */
	KT_METRICS_CACHE_LOG,            /* "log" */
	KT_METRICS_CACHE_NAME,           /* "name" */
	KT_METRICS_CACHE_COUNT
} kt_metrics_cache;

/* Most column families a storage snapshot may name. */
#define KT_METRICS_MAX_CF 16

/* What a storage source reports (all absolute values):
 * ktd_storage_sst_bytes{cf} and ktd_storage_memtable_bytes{cf} for each of
 * the ncf column families (cf_name: static strings of [a-z_]), the block
 * cache's usage and capacity, and per hot cache its hits, misses and
 * slots. */
typedef struct kt_metrics_storage {
	size_t ncf;
	const char *cf_name[KT_METRICS_MAX_CF];
	uint64_t cf_sst_bytes[KT_METRICS_MAX_CF];
	uint64_t cf_memtable_bytes[KT_METRICS_MAX_CF];
	uint64_t block_cache_usage_bytes;
	uint64_t block_cache_capacity_bytes;
	uint64_t cache_hits[KT_METRICS_CACHE_COUNT];
	uint64_t cache_misses[KT_METRICS_CACHE_COUNT];
	uint64_t cache_slots[KT_METRICS_CACHE_COUNT];
} kt_metrics_storage;

/* Fills *out; returns KT_OK, or an error (the storage families are then
 * left out of that render).  Called by kt_metrics_render, on its thread. */
typedef int (*kt_metrics_storage_fn)(void *ctx, kt_metrics_storage *out);

/* Makes fn(ctx) the source of the storage families (fn NULL: none, the
 * families are left out).  Returns once no render is still calling the
 * previous source, so its owner may then free ctx. */
void kt_metrics_set_storage_source(kt_metrics_storage_fn fn, void *ctx);

/* Removes the source if it is still fn(ctx) (a later source stays), with
 * the same guarantee as above. */
void kt_metrics_clear_storage_source(kt_metrics_storage_fn fn, void *ctx);

/* Sets the version label of ktd_build_info (copied; default: the build's
 * version).  Returns KT_OK, KT_ERR_INVALID_ARG (NULL or empty) or
 * KT_ERR_TOO_LARGE (over KT_METRICS_MAX_VERSION bytes); the label is
 * unchanged on failure.  Any byte is allowed: rendering escapes it.
 * NOT thread safe with kt_metrics_render: call it before serving. */
int kt_metrics_set_version(const char *version);

/* Renders every metric in the Prometheus text format 0.0.4 into a new
 * NUL-terminated heap buffer *out (caller frees with free()) of *len bytes
 * (without the NUL).  Returns KT_OK, KT_ERR_NOMEM or KT_ERR_TOO_LARGE;
 * *out NULL and *len 0 on failure. */
KT_MUST_CHECK int kt_metrics_render(char **out, size_t *len);

/* Zeroes every metric and restores the default version.  For tests: not
 * safe while other threads update metrics. */
void kt_metrics_reset(void);

/* ---- the HTTP endpoint (metrics_http.c) ------------------------------- */

/* Most bytes of a request head (request line and headers) read; a longer
 * one gets 400. */
#define KT_METRICS_HTTP_MAX_REQUEST 4096
/* How long one connection may take to send its request head (and to take
 * the answer): a scraper sends its request at once; connections are served
 * one at a time, so this bounds what an idle one costs the others. */
#define KT_METRICS_HTTP_TIMEOUT_MS 1000

typedef struct kt_metrics_http kt_metrics_http;

/* Binds addr ("host:port", "[v6]:port"; port 0 = any free port, or
 * "unix:/path") and starts a thread that answers one connection at a time
 * over HTTP/1.x with Connection: close:
 *   GET /metrics (or HEAD)  200, KT_METRICS_CONTENT_TYPE, kt_metrics_render
 *   another path            404
 *   another method          405 (with Allow: GET, HEAD)
 *   a malformed or oversized request head, or none within the timeout  400
 * *out owned by the caller (kt_metrics_http_stop).  Returns KT_OK,
 * KT_ERR_INVALID_ARG (malformed addr), KT_ERR_NET_LISTEN (cannot resolve or
 * bind; err says why), KT_ERR_NOMEM, KT_ERR_INTERNAL (no thread). */
KT_MUST_CHECK int kt_metrics_http_start(const char *addr, kt_metrics_http **out,
					char *err, size_t errlen);

/* The bound port (the real one for port 0); 0 for a unix socket. */
int kt_metrics_http_port(const kt_metrics_http *h);

/* Stops the thread (a request in progress is cut), closes the socket
 * (removes a unix socket file) and frees h.  NULL is fine. */
void kt_metrics_http_stop(kt_metrics_http *h);

#ifdef __cplusplus
}
#endif
#endif /* KT_SERVER_METRICS_H */
