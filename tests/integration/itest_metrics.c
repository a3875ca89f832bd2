/*
 * itest_metrics.c — the Prometheus endpoint of a real ktd
 * (metrics_listen=127.0.0.1:0; the bound address is read from ktd's
 * "ktd: metrics listening on" start line).
 *
 *   1. a scrape before any call: 200, the 0.0.4 content type, ktd_log_size
 *      > 0 (the first heartbeat), ktd_build_info 1;
 *   2. an enrolment and a lookup over gRPC move the counters: Update and
 *      Lookup with code OK, ktd_updates_applied_total, ktd_log_size,
 *      batch size and apply duration histograms; exactly one more Lookup
 *      OK after one more lookup (the counters count calls, not scrapes);
 *      the storage figures are this node's: block cache capacity and name
 *      cache slots as configured, memtable bytes of the accounts written,
 *      name cache reads counted;
 *   3. an Admin call without credential counts as
 *      ktd_admin_denied_total{reason="no_credential"} and as Status with
 *      code UNAUTHENTICATED;
 *   4. twins: POST /metrics -> 405, GET /other -> 404, an oversized request
 *      head -> 400, a garbage request line, an HTTP/2 preface and a NUL
 *      byte -> 400 (at once, not after the read timeout);
 *      after them the endpoint and the gRPC service still answer;
 *   5. SIGTERM stops ktd cleanly (exit 0) and the port is closed.
 * Runtime: about 1 s normal, 3 s under ASan+UBSan.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "itest.h"
#include "keytrail/v1/admin.pb-c.h"

#define ACCOUNT "tel:+15550001234"
#define ANSWER_MAX (1024u * 1024u)
/* ktd's cap on a request head (KT_METRICS_HTTP_MAX_REQUEST, server/metrics.h) */
#define REQUEST_CAP 4096u

/* Connects to "127.0.0.1:PORT"; returns the socket or -1. */
static int connect_addr(const char *addr)
{
	struct sockaddr_in sa;
	struct timeval tv = {10, 0};
	const char *colon = strrchr(addr, ':');
	int fd;

	CHECK(colon != NULL && strncmp(addr, "127.0.0.1:", 10) == 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)atoi(colon + 1));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(fd >= 0);
	CHECK(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0);
	CHECK(setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == 0);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Sends len bytes of req and reads the answer until the server closes.
 * Returns it (heap, NUL-terminated) and its HTTP status in *code. */
static char *http_raw(const char *addr, const char *req, size_t len, int *code)
{
	char *buf = malloc(ANSWER_MAX + 1);
	size_t got = 0;
	ssize_t n;
	int fd = connect_addr(addr);

	CHECK(buf != NULL);
	CHECK(fd >= 0);
	while (len > 0) {
		n = send(fd, req, len, MSG_NOSIGNAL);
		CHECK(n > 0);
		req += n;
		len -= (size_t)n;
	}
	while (got < ANSWER_MAX) {
		n = recv(fd, buf + got, ANSWER_MAX - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		CHECK(n >= 0);          /* a reset or a timeout fails the test */
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	*code = 0;
	if (sscanf(buf, "HTTP/1.1 %d ", code) != 1)
		*code = 0;
	return buf;
}

static char *http(const char *addr, const char *req, int *code)
{
	return http_raw(addr, req, strlen(req), code);
}

/* GET /metrics, requires 200 and the exposition content type; returns the
 * body (heap). */
static char *scrape(itest_ktd *k)
{
	int code = 0;
	char *a = http(k->metrics_addr,
		       "GET /metrics HTTP/1.1\r\nHost: ktd\r\nAccept: */*\r\n\r\n",
		       &code);
	char *body, *copy;

	if (code != 200)
		itest_fail(__FILE__, __LINE__, "scrape: status %d: %.200s", code, a);
	CHECK(strstr(a, "\r\nContent-Type: text/plain; version=0.0.4") != NULL);
	CHECK(strstr(a, "\r\nConnection: close\r\n") != NULL);
	body = strstr(a, "\r\n\r\n");
	CHECK(body != NULL);
	copy = strdup(body + 4);
	CHECK(copy != NULL);
	free(a);
	return copy;
}

/* The value of the sample line `series value`, or -1 if there is none. */
static double value(const char *body, const char *series)
{
	size_t n = strlen(series);
	const char *p = body;

	while ((p = strstr(p, series)) != NULL) {
		if ((p == body || p[-1] == '\n') && p[n] == ' ')
			return strtod(p + n + 1, NULL);
		p++;
	}
	return -1;
}

#define LOOKUP_OK "ktd_rpc_requests_total{method=\"Lookup\",code=\"OK\"}"
#define UPDATE_OK "ktd_rpc_requests_total{method=\"Update\",code=\"OK\"}"

static void lookup(itest_ktd *k, itest_trust *t)
{
	itest_lookup l;

	itest_lookup_verified(k, t, ACCOUNT, 0, 0, &l);
	CHECK(l.exists);
	kt_account_value_free(&l.value);
}

/* Sends req (len bytes; 0: a C string) and requires status want. */
static void expect_code(itest_ktd *k, const char *req, size_t len, int want,
			const char *what)
{
	uint64_t t0 = itest_mono_ms();
	int code = 0;
	char *a = http_raw(k->metrics_addr, req, len > 0 ? len : strlen(req), &code);

	/* answered at once, not after ktd's 1 s read timeout */
	CHECK(itest_mono_ms() - t0 < 800);
	if (code != want)
		itest_fail(__FILE__, __LINE__, "%s: status %d, want %d: %.200s",
			   what, code, want, a);
	CHECK(strstr(a, "\r\nConnection: close\r\n") != NULL);
	CHECK(strstr(a, "# TYPE") == NULL);      /* no metrics in an error */
	free(a);
	itest_note("%s -> %d", what, code);
}

static void twins(itest_ktd *k)
{
	static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
	static const char nul[] = "GET /met\0rics HTTP/1.1\r\n\r\n";
	char *big;
	size_t i, n = 2 * REQUEST_CAP;
	int code = 0;
	char *a;

	expect_code(k, "POST /metrics HTTP/1.1\r\nHost: ktd\r\nContent-Length: 0\r\n\r\n",
		    0, 405, "POST /metrics");
	expect_code(k, "GET /other HTTP/1.1\r\nHost: ktd\r\n\r\n", 0, 404, "GET /other");
	expect_code(k, "GET /metricsx HTTP/1.1\r\n\r\n", 0, 404, "GET /metricsx");
	expect_code(k, "HELLO\r\n\r\n", 0, 400, "garbage");
	expect_code(k, preface, sizeof(preface) - 1, 400, "HTTP/2 preface");
	expect_code(k, nul, sizeof(nul) - 1, 400, "NUL byte");
	big = malloc(n + 1);
	CHECK(big != NULL);
	i = (size_t)snprintf(big, n, "GET /metrics HTTP/1.1\r\nX-Pad: ");
	memset(big + i, 'a', n - i - 4);
	memcpy(big + n - 4, "\r\n\r\n", 4);
	big[n] = '\0';
	expect_code(k, big, n, 400, "oversized request");
	free(big);
	/* HEAD: the headers of a 200, no body */
	a = http(k->metrics_addr, "HEAD /metrics HTTP/1.1\r\n\r\n", &code);
	CHECK(code == 200);
	CHECK(strstr(a, "# TYPE") == NULL);
	free(a);
}

int main(int argc, char **argv)
{
	static const char *const extra[] = {"metrics_listen=127.0.0.1:0",
					    "block_cache_mb=24",
					    "name_cache_entries=4096", NULL};
	itest_ktd k;
	itest_trust t;
	itest_device dev;
	kt_gc_result res;
	Keytrail__V1__StatusRequest sreq = KEYTRAIL__V1__STATUS_REQUEST__INIT;
	uint8_t *req;
	size_t len;
	uint64_t v = 0, li = 0;
	double before, after, ts;
	char *m;
	int fd;

	itest_init(argc, argv);
	itest_ktd_new(&k, extra);
	itest_ktd_start(&k);
	itest_note("ktd on %s, metrics on %s", k.addr, k.metrics_addr);
	CHECK(k.metrics_addr[0] != '\0');
	itest_trust_init(&t, &k);

	/* 1. before any call */
	m = scrape(&k);
	CHECK(value(m, "ktd_log_size") >= 1);
	CHECK(strstr(m, "\nktd_build_info{version=\"") != NULL);
	CHECK(value(m, LOOKUP_OK) == 0);        /* shown at 0 from the start */
	CHECK(value(m, "ktd_rpc_requests_total{method=\"OperatorUpdate\",code=\"OK\"}") == 0);
	ts = value(m, "ktd_checkpoint_timestamp_seconds");
	CHECK(ts > (double)itest_now_ms() / 1000.0 - 600 &&
	      ts < (double)itest_now_ms() / 1000.0 + 60);
	free(m);

	/* 2. enrol and look up */
	itest_device_new(&dev, "phone", KT_DEVICE_PRIMARY);
	req = itest_req_enrol(&k, ACCOUNT, &dev, itest_now_ms() + 3600000u, &len);
	itest_update_ok(&k, &t, req, len, &v, &li);
	free(req);
	lookup(&k, &t);
	m = scrape(&k);
	CHECK(value(m, UPDATE_OK) >= 1);
	CHECK(value(m, LOOKUP_OK) >= 1);
	CHECK(value(m, "ktd_updates_applied_total") >= 1);
	CHECK(value(m, "ktd_log_size") >= (double)(li + 1));
	CHECK(value(m, "ktd_batch_size_count") >= 1);
	CHECK(value(m, "ktd_apply_duration_seconds_count") >= 2);
	CHECK(value(m, "ktd_rpc_duration_seconds_count{method=\"Lookup\"}") >= 1);
	before = value(m, LOOKUP_OK);
	/* the storage figures come from this node's database and caches */
	CHECK(value(m, "ktd_block_cache_capacity_bytes") == 24.0 * 1048576);
	CHECK(value(m, "ktd_block_cache_usage_bytes") >= 0);
	CHECK(value(m, "ktd_cache_slots{cache=\"name\"}") == 4096);
	CHECK(value(m, "ktd_storage_memtable_bytes{cf=\"accounts\"}") > 0);
	CHECK(value(m, "ktd_storage_sst_bytes{cf=\"log_entries\"}") >= 0);
	CHECK(value(m, "ktd_cache_lookups_total{cache=\"name\",result=\"hit\"}") +
	      value(m, "ktd_cache_lookups_total{cache=\"name\",result=\"miss\"}") >= 1);
	free(m);
	lookup(&k, &t);
	m = scrape(&k);
	after = value(m, LOOKUP_OK);
	free(m);
	if (after != before + 1)
		itest_fail(__FILE__, __LINE__, "Lookup OK went %g -> %g", before, after);

	/* 3. a refused Admin call */
	itest_call_pb(&k, M_STATUS, &sreq.base, NULL, &res);
	CHECK_STATUS(&res, 16 /* UNAUTHENTICATED */);
	kt_gc_result_clear(&res);
	m = scrape(&k);
	CHECK(value(m, "ktd_admin_denied_total{reason=\"no_credential\"}") == 1);
	CHECK(value(m, "ktd_admin_denied_total{reason=\"bad_credential\"}") == 0);
	CHECK(value(m, "ktd_rpc_requests_total{method=\"Status\",code=\"UNAUTHENTICATED\"}") == 1);
	free(m);

	/* 4. the twins; then it still serves */
	twins(&k);
	m = scrape(&k);
	CHECK(value(m, "ktd_log_size") >= (double)(li + 1));
	free(m);
	lookup(&k, &t);

	/* 5. clean stop closes the endpoint */
	itest_ktd_stop(&k);
	itest_ktd_close_channel(&k);
	fd = connect_addr(k.metrics_addr);
	CHECK(fd < 0);
	itest_note("ok");
	return 0;
}
