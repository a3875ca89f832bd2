/*
 * server_test_metrics.c — the metrics registry and its Prometheus text
 * rendering (server/metrics.h, metrics.c), and the start-up failures of the
 * HTTP endpoint (metrics_http.c; its answers are tested end to end by
 * tests/integration/itest_metrics.c).
 *   (1) exact text of the scalar series for known values: counter, gauges
 *       (ms rendered as exact decimal seconds), the cosigned gauge omitted
 *       while 0;
 *   (2) a whole histogram block, exactly: buckets cumulative, le labels,
 *       +Inf equal to _count, _sum; durations rendered as exact seconds,
 *       a value on a bound counts in that bucket, overflow only in +Inf;
 *   (3) RPC counters by method and code name, a status out of range counts
 *       as UNKNOWN; twins: unknown method names are -1 and ids that were
 *       not returned change nothing;
 *   (4) label escaping (backslash, double quote, newline) of the version
 *       label; twins: an empty or oversized version is refused and leaves
 *       the label as it was;
 *   (5) twins: an unknown metric id, or an id of the wrong type, is refused
 *       with KT_ERR_INVALID_ARG and the text is byte-identical afterwards;
 *   (6) admin denials by reason; an unknown reason is ignored;
 *   (7) the whole text is well formed: HELP then TYPE before each family's
 *       samples, every name ktd_*, every sample line "name[{labels}] value";
 *   (8) four threads update concurrently: totals are exact;
 *   (9) kt_metrics_http_start refuses a malformed address and an address
 *       in use, and serves (then stops) on 127.0.0.1:0;
 *  (10) the storage source: its figures rendered exactly at each render
 *       (per column family, block cache, hot caches) and well formed;
 *       twins: no families without a source, none when the source fails
 *       or claims too many column families, and clearing with another
 *       source's (fn, ctx) leaves the source in place.
 * Runtime: well under 1 s, normal and under ASan+UBSan.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "metrics.h"

static char *render(void)
{
	char *t = NULL;
	size_t len = 0;

	assert_int_equal(kt_metrics_render(&t, &len), KT_OK);
	assert_non_null(t);
	assert_int_equal(strlen(t), len);
	return t;
}

/* text contains the whole line `line` (with its newline). */
static int has_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	const char *p = text;

	while ((p = strstr(p, line)) != NULL) {
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return 1;
		p++;
	}
	return 0;
}

static void check_line(const char *line)
{
	char *t = render();

	if (!has_line(t, line))
		fail_msg("missing line '%s' in:\n%s", line, t);
	free(t);
}

static void check_no_line_prefix(const char *prefix)
{
	char *t = render();
	char want[256];

	snprintf(want, sizeof(want), "\n%s", prefix);
	if (strstr(t, want) != NULL)
		fail_msg("unexpected '%s' in:\n%s", prefix, t);
	free(t);
}

static int setup(void **state)
{
	(void)state;
	kt_metrics_reset();
	return 0;
}

/* (1) */
static void test_scalars(void **state)
{
	(void)state;
	check_line("ktd_updates_applied_total 0");
	check_line("ktd_log_size 0");
	check_no_line_prefix("ktd_cosigned_size ");
	check_line("# HELP ktd_cosigned_size Tree size of the newest witness-cosigned "
		   "checkpoint (absent until there is one).");
	assert_int_equal(kt_metrics_add(KT_METRIC_UPDATES_APPLIED, 3), KT_OK);
	assert_int_equal(kt_metrics_add(KT_METRIC_UPDATES_APPLIED, 4), KT_OK);
	assert_int_equal(kt_metrics_set(KT_METRIC_LOG_SIZE, 42), KT_OK);
	assert_int_equal(kt_metrics_set(KT_METRIC_CHECKPOINT_TS, 1700000000123u), KT_OK);
	assert_int_equal(kt_metrics_set(KT_METRIC_COSIGNED_SIZE, 40), KT_OK);
	check_line("# TYPE ktd_updates_applied_total counter");
	check_line("ktd_updates_applied_total 7");
	check_line("# TYPE ktd_log_size gauge");
	check_line("ktd_log_size 42");
	check_line("ktd_checkpoint_timestamp_seconds 1700000000.123");
	check_line("ktd_cosigned_size 40");
	assert_int_equal(kt_metrics_set(KT_METRIC_CHECKPOINT_TS, 1700000000000u), KT_OK);
	check_line("ktd_checkpoint_timestamp_seconds 1700000000");
	assert_int_equal(kt_metrics_set(KT_METRIC_CHECKPOINT_TS, 5), KT_OK);
	check_line("ktd_checkpoint_timestamp_seconds 0.005");
	/* a gauge goes down too */
	assert_int_equal(kt_metrics_set(KT_METRIC_LOG_SIZE, 9), KT_OK);
	check_line("ktd_log_size 9");
}

static const char batch_block[] =
	"# HELP ktd_batch_size Changes per applied batch (heartbeats not counted).\n"
	"# TYPE ktd_batch_size histogram\n"
	"ktd_batch_size_bucket{le=\"1\"} 1\n"
	"ktd_batch_size_bucket{le=\"2\"} 1\n"
	"ktd_batch_size_bucket{le=\"4\"} 2\n"
	"ktd_batch_size_bucket{le=\"8\"} 2\n"
	"ktd_batch_size_bucket{le=\"16\"} 2\n"
	"ktd_batch_size_bucket{le=\"32\"} 2\n"
	"ktd_batch_size_bucket{le=\"64\"} 2\n"
	"ktd_batch_size_bucket{le=\"128\"} 3\n"
	"ktd_batch_size_bucket{le=\"256\"} 3\n"
	"ktd_batch_size_bucket{le=\"512\"} 3\n"
	"ktd_batch_size_bucket{le=\"1024\"} 3\n"
	"ktd_batch_size_bucket{le=\"4096\"} 3\n"
	"ktd_batch_size_bucket{le=\"16384\"} 3\n"
	"ktd_batch_size_bucket{le=\"65536\"} 3\n"
	"ktd_batch_size_bucket{le=\"+Inf\"} 4\n"
	"ktd_batch_size_sum 70104\n"
	"ktd_batch_size_count 4\n";

/* (2) */
static void test_histograms(void **state)
{
	char *t;

	(void)state;
	assert_int_equal(kt_metrics_observe(KT_METRIC_BATCH_SIZE, 1), KT_OK);
	assert_int_equal(kt_metrics_observe(KT_METRIC_BATCH_SIZE, 3), KT_OK);
	assert_int_equal(kt_metrics_observe(KT_METRIC_BATCH_SIZE, 100), KT_OK);
	assert_int_equal(kt_metrics_observe(KT_METRIC_BATCH_SIZE, 70000), KT_OK);
	t = render();
	if (strstr(t, batch_block) == NULL)
		fail_msg("batch_size block differs:\n%s", t);
	free(t);

	/* 0.00015 s, exactly 0.001 s (on a bound), 20 s (overflow) */
	assert_int_equal(kt_metrics_observe(KT_METRIC_APPLY_DURATION, 150000u), KT_OK);
	assert_int_equal(kt_metrics_observe(KT_METRIC_APPLY_DURATION, 1000000u), KT_OK);
	assert_int_equal(kt_metrics_observe(KT_METRIC_APPLY_DURATION, 20000000000u), KT_OK);
	check_line("ktd_apply_duration_seconds_bucket{le=\"0.0001\"} 0");
	check_line("ktd_apply_duration_seconds_bucket{le=\"0.00025\"} 1");
	check_line("ktd_apply_duration_seconds_bucket{le=\"0.0005\"} 1");
	check_line("ktd_apply_duration_seconds_bucket{le=\"0.001\"} 2");
	check_line("ktd_apply_duration_seconds_bucket{le=\"10\"} 2");
	check_line("ktd_apply_duration_seconds_bucket{le=\"+Inf\"} 3");
	check_line("ktd_apply_duration_seconds_sum 20.00115");
	check_line("ktd_apply_duration_seconds_count 3");
}

/* (3) */
static void test_rpc(void **state)
{
	int lookup = kt_metrics_method_id("/keytrail.v1.Directory/Lookup");
	int status = kt_metrics_method_id("/keytrail.v1.Admin/Status");
	int health = kt_metrics_method_id("/grpc.health.v1.Health/Check");
	uint64_t t0 = kt_metrics_now_ns();
	char *before, *after;

	(void)state;
	assert_true(lookup >= 0 && status >= 0 && health >= 0);
	assert_int_not_equal(lookup, status);
	/* twins: names that are not ours */
	assert_int_equal(kt_metrics_method_id("/keytrail.v1.Directory/lookup"), -1);
	assert_int_equal(kt_metrics_method_id("Lookup"), -1);
	assert_int_equal(kt_metrics_method_id(""), -1);
	assert_int_equal(kt_metrics_method_id(NULL), -1);
	before = render();
	kt_metrics_rpc_done(-1, 0, t0);
	kt_metrics_rpc_done(1000, 0, t0);
	after = render();
	assert_string_equal(before, after);
	free(before);
	free(after);

	kt_metrics_rpc_done(lookup, 0, t0);
	kt_metrics_rpc_done(lookup, 0, t0);
	kt_metrics_rpc_done(lookup, 5, t0);
	kt_metrics_rpc_done(lookup, 99, t0);
	kt_metrics_rpc_done(lookup, -3, t0);
	kt_metrics_rpc_done(status, 16, t0 + 1000000000000u); /* t0 in the future */
	check_line("ktd_rpc_requests_total{method=\"Lookup\",code=\"OK\"} 2");
	check_line("ktd_rpc_requests_total{method=\"Lookup\",code=\"NOT_FOUND\"} 1");
	check_line("ktd_rpc_requests_total{method=\"Lookup\",code=\"UNKNOWN\"} 2");
	check_line("ktd_rpc_requests_total{method=\"Status\",code=\"UNAUTHENTICATED\"} 1");
	check_line("ktd_rpc_duration_seconds_count{method=\"Lookup\"} 5");
	check_line("ktd_rpc_duration_seconds_bucket{method=\"Lookup\",le=\"+Inf\"} 5");
	check_line("ktd_rpc_duration_seconds_sum{method=\"Status\"} 0");
	check_line("ktd_rpc_duration_seconds_bucket{method=\"Status\",le=\"0.0001\"} 1");
	/* never-called methods: code OK shown at 0 (so that increase() sees
	 * the first call), other codes absent, except on the Admin methods,
	 * whose every code is shown (the first OperatorUpdate must alert) */
	check_line("ktd_rpc_requests_total{method=\"Check\",code=\"OK\"} 0");
	check_no_line_prefix("ktd_rpc_requests_total{method=\"Check\",code=\"NOT_FOUND\"}");
	check_no_line_prefix("ktd_rpc_duration_seconds_count{method=\"Check\"}");
	check_line("ktd_rpc_requests_total{method=\"OperatorUpdate\",code=\"OK\"} 0");
	check_line("ktd_rpc_requests_total{method=\"OperatorUpdate\",code=\"PERMISSION_DENIED\"} 0");
}

/* (4) */
static void test_escaping(void **state)
{
	char big[KT_METRICS_MAX_VERSION + 2], def[160];
	char *t, *p, *nl;

	(void)state;
	/* the default: the build's version, not empty */
	t = render();
	p = strstr(t, "\nktd_build_info{version=\"");
	assert_non_null(p);
	nl = strchr(p + 1, '\n');
	assert_non_null(nl);
	assert_true((size_t)(nl - p - 1) < sizeof(def));
	snprintf(def, sizeof(def), "%.*s", (int)(nl - p - 1), p + 1);
	free(t);
	assert_null(strstr(def, "version=\"\""));
	check_line(def);
	assert_int_equal(kt_metrics_set_version("1.2.3"), KT_OK);
	check_line("ktd_build_info{version=\"1.2.3\"} 1");
	assert_int_equal(kt_metrics_set_version("a\"b\\c\nd}e"), KT_OK);
	check_line("ktd_build_info{version=\"a\\\"b\\\\c\\nd}e\"} 1");
	/* twins: refused, the label stays */
	memset(big, 'v', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(kt_metrics_set_version(big), KT_ERR_TOO_LARGE);
	assert_int_equal(kt_metrics_set_version(""), KT_ERR_INVALID_ARG);
	assert_int_equal(kt_metrics_set_version(NULL), KT_ERR_INVALID_ARG);
	check_line("ktd_build_info{version=\"a\\\"b\\\\c\\nd}e\"} 1");
	big[KT_METRICS_MAX_VERSION] = '\0';     /* exactly the maximum */
	assert_int_equal(kt_metrics_set_version(big), KT_OK);
	kt_metrics_reset();
	check_line(def);
}

/* (5) */
static void test_refused_ids(void **state)
{
	char *before, *after;

	(void)state;
	assert_int_equal(kt_metrics_add(KT_METRIC_UPDATES_APPLIED, 1), KT_OK);
	before = render();
	assert_int_equal(kt_metrics_add(KT_METRIC_COUNT, 1), KT_ERR_INVALID_ARG);
	assert_int_equal(kt_metrics_add((kt_metric)-1, 1), KT_ERR_INVALID_ARG);
	assert_int_equal(kt_metrics_add((kt_metric)1000, 1), KT_ERR_INVALID_ARG);
	assert_int_equal(kt_metrics_set(KT_METRIC_COUNT, 1), KT_ERR_INVALID_ARG);
	assert_int_equal(kt_metrics_observe(KT_METRIC_COUNT, 1), KT_ERR_INVALID_ARG);
	/* the wrong type */
	assert_int_equal(kt_metrics_add(KT_METRIC_LOG_SIZE, 1), KT_ERR_INVALID_ARG);
	assert_int_equal(kt_metrics_add(KT_METRIC_BATCH_SIZE, 1), KT_ERR_INVALID_ARG);
	assert_int_equal(kt_metrics_set(KT_METRIC_UPDATES_APPLIED, 5), KT_ERR_INVALID_ARG);
	assert_int_equal(kt_metrics_set(KT_METRIC_APPLY_DURATION, 5), KT_ERR_INVALID_ARG);
	assert_int_equal(kt_metrics_observe(KT_METRIC_LOG_SIZE, 5), KT_ERR_INVALID_ARG);
	assert_int_equal(kt_metrics_observe(KT_METRIC_UPDATES_APPLIED, 5), KT_ERR_INVALID_ARG);
	after = render();
	assert_string_equal(before, after);
	free(before);
	free(after);
}

/* (6) */
static void test_admin_denied(void **state)
{
	(void)state;
	check_line("ktd_admin_denied_total{reason=\"bad_credential\"} 0");
	kt_metrics_admin_denied(KT_METRICS_DENY_BAD_CREDENTIAL);
	kt_metrics_admin_denied(KT_METRICS_DENY_BAD_CREDENTIAL);
	kt_metrics_admin_denied(KT_METRICS_DENY_NO_CREDENTIAL);
	kt_metrics_admin_denied(KT_METRICS_DENY_COUNT);
	kt_metrics_admin_denied((kt_metrics_deny)-1);
	check_line("ktd_admin_denied_total{reason=\"bad_credential\"} 2");
	check_line("ktd_admin_denied_total{reason=\"no_credential\"} 1");
	check_line("ktd_admin_denied_total{reason=\"disabled\"} 0");
}

/* Checks one sample line: name[{k="v",...}] value, name a declared family
 * (fam) or fam_bucket/_sum/_count of a histogram. */
static void check_sample(const char *line, size_t len, const char *fam,
			 const char *type)
{
	char name[128];
	size_t i = 0, fl = strlen(fam);

	while (i < len && line[i] != '{' && line[i] != ' ')
		i++;
	assert_true(i > 0 && i < sizeof(name));
	memcpy(name, line, i);
	name[i] = '\0';
	if (strcmp(type, "histogram") == 0)
		assert_true(strncmp(name, fam, fl) == 0 &&
			    (strcmp(name + fl, "_bucket") == 0 ||
			     strcmp(name + fl, "_sum") == 0 ||
			     strcmp(name + fl, "_count") == 0));
	else
		assert_string_equal(name, fam);
	if (line[i] == '{') {
		while (i < len && line[i] != '}')
			i++;
		assert_true(i < len);
		i++;
	}
	assert_true(i + 1 < len && line[i] == ' ');
	for (i++; i < len; i++)
		assert_true((line[i] >= '0' && line[i] <= '9') || line[i] == '.');
}

/* Every line of t is a HELP, a TYPE after its HELP, or a sample of the
 * family just declared. */
static void check_well_formed(const char *t)
{
	char fam[128] = "", type[32] = "", help_of[128] = "";
	const char *p, *nl;

	assert_true(strlen(t) > 0 && t[strlen(t) - 1] == '\n');
	for (p = t; *p != '\0'; p = nl + 1) {
		nl = strchr(p, '\n');
		assert_non_null(nl);
		if (strncmp(p, "# HELP ", 7) == 0) {
			assert_int_equal(sscanf(p + 7, "%127s", help_of), 1);
			assert_memory_equal(help_of, "ktd_", 4);
		} else if (strncmp(p, "# TYPE ", 7) == 0) {
			assert_int_equal(sscanf(p + 7, "%127s %31s", fam, type), 2);
			assert_string_equal(fam, help_of);     /* HELP came first */
			assert_true(strcmp(type, "counter") == 0 ||
				    strcmp(type, "gauge") == 0 ||
				    strcmp(type, "histogram") == 0);
			if (strcmp(type, "counter") == 0)
				assert_non_null(strstr(fam, "_total"));
		} else {
			assert_true(fam[0] != '\0');
			check_sample(p, (size_t)(nl - p), fam, type);
		}
	}
}

/* (7) */
static void test_well_formed(void **state)
{
	char *t;

	(void)state;
	kt_metrics_rpc_done(0, 0, kt_metrics_now_ns());
	(void)kt_metrics_observe(KT_METRIC_BATCH_SIZE, 2);
	(void)kt_metrics_set(KT_METRIC_COSIGNED_SIZE, 1);
	t = render();
	check_well_formed(t);
	free(t);
}

/* (10) */
struct fake_storage {
	int fail;
	size_t ncf;
	uint64_t hits;
};

static int fake_source(void *ctx, kt_metrics_storage *out)
{
	struct fake_storage *f = ctx;

	if (f->fail)
		return KT_ERR_STORAGE;
	out->ncf = f->ncf;
	out->cf_name[0] = "accounts";
	out->cf_sst_bytes[0] = 902666422;
	out->cf_memtable_bytes[0] = 2048;
	out->cf_name[1] = "log_entries";
	out->cf_sst_bytes[1] = 7;
	out->block_cache_usage_bytes = 355650768;
	out->block_cache_capacity_bytes = (uint64_t)4096 << 20;
	out->cache_hits[KT_METRICS_CACHE_LOG] = f->hits;
	out->cache_misses[KT_METRICS_CACHE_LOG] = 8;
	out->cache_slots[KT_METRICS_CACHE_NAME] = 2097152;
	return KT_OK;
}

static int other_source(void *ctx, kt_metrics_storage *out)
{
	(void)ctx;
	(void)out;
	return KT_OK;
}

static void test_storage_source(void **state)
{
	struct fake_storage f = {0, 2, 5}, g = f;
	char *t;

	(void)state;
	check_no_line_prefix("ktd_storage_sst_bytes");
	check_no_line_prefix("ktd_cache_lookups_total");
	kt_metrics_set_storage_source(fake_source, &f);
	check_line("ktd_storage_sst_bytes{cf=\"accounts\"} 902666422");
	check_line("ktd_storage_sst_bytes{cf=\"log_entries\"} 7");
	check_line("ktd_storage_memtable_bytes{cf=\"accounts\"} 2048");
	check_line("ktd_storage_memtable_bytes{cf=\"log_entries\"} 0");
	check_line("ktd_block_cache_usage_bytes 355650768");
	check_line("ktd_block_cache_capacity_bytes 4294967296");
	check_line("ktd_cache_lookups_total{cache=\"log\",result=\"hit\"} 5");
	check_line("ktd_cache_lookups_total{cache=\"log\",result=\"miss\"} 8");
	check_line("ktd_cache_lookups_total{cache=\"map\",result=\"hit\"} 0");
	check_line("ktd_cache_slots{cache=\"name\"} 2097152");
	check_line("ktd_cache_slots{cache=\"map\"} 0");
	t = render();
	check_well_formed(t);
	free(t);
	/* read at each render, not once */
	f.hits = 6;
	check_line("ktd_cache_lookups_total{cache=\"log\",result=\"hit\"} 6");
	/* twins: a failing source, one claiming too many families */
	f.fail = 1;
	check_no_line_prefix("ktd_storage_sst_bytes");
	check_no_line_prefix("ktd_block_cache_capacity_bytes");
	f.fail = 0;
	f.ncf = KT_METRICS_MAX_CF + 1;
	check_no_line_prefix("ktd_storage_sst_bytes");
	f.ncf = 1;
	check_no_line_prefix("ktd_storage_sst_bytes{cf=\"log_entries\"}");
	/* clearing someone else's source changes nothing; the owner's does */
	kt_metrics_clear_storage_source(fake_source, &g);
	kt_metrics_clear_storage_source(other_source, &f);
	check_line("ktd_storage_sst_bytes{cf=\"accounts\"} 902666422");
	kt_metrics_clear_storage_source(fake_source, &f);
	check_no_line_prefix("ktd_storage_sst_bytes");
	/* reset forgets the source too */
	kt_metrics_set_storage_source(fake_source, &f);
	kt_metrics_reset();
	check_no_line_prefix("ktd_block_cache_usage_bytes");
}

/* (8) */
#define THREADS 4
#define ROUNDS 20000

static void *hammer(void *arg)
{
	int i, m = kt_metrics_method_id("/keytrail.v1.Directory/Update");

	(void)arg;
	for (i = 0; i < ROUNDS; i++) {
		(void)kt_metrics_add(KT_METRIC_UPDATES_APPLIED, 2);
		(void)kt_metrics_observe(KT_METRIC_BATCH_SIZE, (uint64_t)(i % 300));
		kt_metrics_rpc_done(m, i % 2 == 0 ? 0 : 9, kt_metrics_now_ns());
	}
	return NULL;
}

static void test_threads(void **state)
{
	pthread_t th[THREADS];
	char line[128];
	char *mid;
	int i;

	(void)state;
	for (i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, hammer, NULL), 0);
	for (i = 0; i < 20; i++) {
		mid = render(); /* concurrently: well formed, not exact */
		check_well_formed(mid);
		free(mid);
	}
	for (i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	snprintf(line, sizeof(line), "ktd_updates_applied_total %d",
		 THREADS * ROUNDS * 2);
	check_line(line);
	snprintf(line, sizeof(line), "ktd_batch_size_count %d", THREADS * ROUNDS);
	check_line(line);
	snprintf(line, sizeof(line),
		 "ktd_rpc_requests_total{method=\"Update\",code=\"OK\"} %d",
		 THREADS * ROUNDS / 2);
	check_line(line);
	snprintf(line, sizeof(line),
		 "ktd_rpc_requests_total{method=\"Update\",code=\"FAILED_PRECONDITION\"} %d",
		 THREADS * ROUNDS / 2);
	check_line(line);
}

/* (9) */
static void test_http_start(void **state)
{
	kt_metrics_http *h = NULL, *h2 = NULL;
	char err[256], addr[64];

	(void)state;
	assert_int_equal(kt_metrics_http_start("nocolon", &h, err, sizeof(err)),
			 KT_ERR_INVALID_ARG);
	assert_null(h);
	assert_int_equal(kt_metrics_http_start("127.0.0.1:", &h, err, sizeof(err)),
			 KT_ERR_INVALID_ARG);
	assert_int_equal(kt_metrics_http_start("", &h, err, sizeof(err)),
			 KT_ERR_INVALID_ARG);
	assert_int_equal(kt_metrics_http_start("127.0.0.1:notaport", &h, err,
					       sizeof(err)), KT_ERR_NET_LISTEN);
	assert_null(h);
	assert_int_equal(kt_metrics_http_start("127.0.0.1:0", &h, err, sizeof(err)),
			 KT_OK);
	assert_non_null(h);
	assert_true(kt_metrics_http_port(h) > 0);
	/* the same port again: in use */
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", kt_metrics_http_port(h));
	assert_int_equal(kt_metrics_http_start(addr, &h2, err, sizeof(err)),
			 KT_ERR_NET_LISTEN);
	assert_null(h2);
	assert_non_null(strstr(err, "metrics_listen"));
	kt_metrics_http_stop(h);
	kt_metrics_http_stop(NULL);
	assert_int_equal(kt_metrics_http_port(NULL), 0);
}

/* Connects socket fd to port on the loopback address. */
static void connect_local(int fd, int port)
{
	struct sockaddr_in a;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
}

static double cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

#define FILLERS 256

/* (10) Out of file descriptors with a client waiting: the endpoint must
 * not spin on accept (the waiting connection keeps the socket readable),
 * and must serve the client once descriptors are free again. */
static void test_http_fd_exhaustion(void **state)
{
	static const char req[] = "GET /metrics HTTP/1.1\r\n\r\n";
	kt_metrics_http *h = NULL;
	struct rlimit old, low;
	int fill[FILLERS], nfill = 0, c, i;
	char err[256], buf[64];
	double cpu0, used;
	ssize_t n;

	(void)state;
	assert_int_equal(kt_metrics_http_start("127.0.0.1:0", &h, err, sizeof(err)),
			 KT_OK);
	/* The client's socket first, then no descriptor left for accept (a
	 * low limit, filled up), then the connection. */
	c = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(c >= 0);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = (rlim_t)c + 8 < old.rlim_cur ? (rlim_t)c + 8 : old.rlim_cur;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	while (nfill < FILLERS && (fill[nfill] = open("/dev/null", O_RDONLY)) >= 0)
		nfill++;
	assert_true(nfill < FILLERS);
	connect_local(c, kt_metrics_http_port(h));
	assert_int_equal(send(c, req, sizeof(req) - 1, 0), (ssize_t)(sizeof(req) - 1));
	cpu0 = cpu_seconds();
	usleep(500000);
	used = cpu_seconds() - cpu0;
	for (i = 0; i < nfill; i++)
		close(fill[i]);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	/* a spinning accept loop burns ~0.5 s of cpu here */
	if (used > 0.2)
		fail_msg("endpoint used %.2f s of cpu in 0.5 s while out of descriptors",
			 used);
	/* descriptors back: the waiting client gets its answer */
	n = recv(c, buf, sizeof(buf) - 1, MSG_WAITALL);
	assert_true(n > 12);
	buf[n] = '\0';
	assert_memory_equal(buf, "HTTP/1.1 200", 12);
	close(c);
	kt_metrics_http_stop(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_http_fd_exhaustion, setup),
		cmocka_unit_test_setup(test_scalars, setup),
		cmocka_unit_test_setup(test_histograms, setup),
		cmocka_unit_test_setup(test_rpc, setup),
		cmocka_unit_test_setup(test_escaping, setup),
		cmocka_unit_test_setup(test_refused_ids, setup),
		cmocka_unit_test_setup(test_admin_denied, setup),
		cmocka_unit_test_setup(test_well_formed, setup),
		cmocka_unit_test_setup(test_threads, setup),
		cmocka_unit_test_setup(test_http_start, setup),
		cmocka_unit_test_setup(test_storage_source, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
