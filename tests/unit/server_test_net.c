/*
 * server_test_net.c — the gRPC server layer (server/net.c) against the C test client
 * (tests/support/kt_grpc_client.c) on 127.0.0.1 with ports picked at run time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <time.h>

#include "grpc/health/v1/health.pb-c.h"
#include "kt_err.h"
#include "kt_grpc_client.h"
#include "kt_json.h"
#include "log.h"
#include "net.h"

#define M_ECHO "/keytrail.v1.Test/Echo"
#define M_FAIL "/keytrail.v1.Test/Fail"
#define M_BROKEN "/keytrail.v1.Test/Broken"
#define M_META "/keytrail.v1.Test/Meta"
#define M_DEFER "/keytrail.v1.Test/Defer"
#define M_EARLY "/keytrail.v1.Test/Early"
#define M_ADMIN "/keytrail.v1.Test/Admin"
#define M_HEALTH "/grpc.health.v1.Health/Check"
#define M_WATCH "/grpc.health.v1.Health/Watch"
#define TIMEOUT_MS 10000
#define MAX_PARKED 512

/* Deferred calls waiting for the test (or the completer thread). */
struct parked {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	kt_net_handle h[MAX_PARKED];
	uint8_t *body[MAX_PARKED];
	size_t len[MAX_PARKED];
	size_t n;       /* parked so far */
	size_t done;    /* completed by the completer */
	int auto_complete;
	int quit;
};

static struct parked g_park = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void park_reset(int auto_complete)
{
	size_t i;

	pthread_mutex_lock(&g_park.mu);
	for (i = 0; i < g_park.n; i++)
		free(g_park.body[i]);
	g_park.n = 0;
	g_park.done = 0;
	g_park.quit = 0;
	g_park.auto_complete = auto_complete;
	pthread_mutex_unlock(&g_park.mu);
}

/* Waits until at least n calls are parked; returns 0 on timeout. */
static int park_wait(size_t n)
{
	struct timespec dl;
	int ok = 1;

	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += 10;
	pthread_mutex_lock(&g_park.mu);
	while (g_park.n < n && ok)
		ok = pthread_cond_timedwait(&g_park.cv, &g_park.mu, &dl) == 0;
	ok = g_park.n >= n;
	pthread_mutex_unlock(&g_park.mu);
	return ok;
}

/* Completes parked calls as they come: body "deferred:" + request. */
static void *completer_main(void *arg)
{
	uint8_t buf[256];
	size_t i, n;
	kt_net_handle h;

	(void)arg;
	pthread_mutex_lock(&g_park.mu);
	for (;;) {
		while (!g_park.quit && g_park.done == g_park.n)
			pthread_cond_wait(&g_park.cv, &g_park.mu);
		if (g_park.quit && g_park.done == g_park.n)
			break;
		i = g_park.done++;
		h = g_park.h[i];
		n = g_park.len[i] < sizeof buf - 9 ? g_park.len[i] : sizeof buf - 9;
		memcpy(buf, "deferred:", 9);
		if (n > 0)
			memcpy(buf + 9, g_park.body[i], n);
		pthread_mutex_unlock(&g_park.mu);
		if (kt_net_complete(h, KT_GRPC_OK, NULL, buf, n + 9) != KT_OK)
			abort();
		pthread_mutex_lock(&g_park.mu);
	}
	pthread_mutex_unlock(&g_park.mu);
	return NULL;
}

/* ---------- handlers ---------- */

static int h_echo(void *app, const kt_net_call *call, kt_net_reply *reply)
{
	(void)app;
	return kt_net_reply_copy_body(reply, call->body, call->body_len);
}

static int h_fail(void *app, const kt_net_call *call, kt_net_reply *reply)
{
	(void)app;
	(void)call;
	/* A body set before a non-OK status must not be sent. */
	if (kt_net_reply_copy_body(reply, "x", 1) != KT_OK)
		return KT_ERR_INTERNAL;
	kt_net_reply_status(reply, KT_GRPC_FAILED_PRECONDITION, "version mismatch: expected 3");
	return KT_OK;
}

static int h_broken(void *app, const kt_net_call *call, kt_net_reply *reply)
{
	(void)app;
	(void)call;
	(void)reply;
	return KT_ERR_STORAGE;
}

/* Answers the x-keytrail-admin value and the x-test-bin value, "|"-joined. */
static int h_meta(void *app, const kt_net_call *call, kt_net_reply *reply)
{
	const uint8_t *v, *b;
	size_t vlen, blen;
	uint8_t *out;

	(void)app;
	v = kt_net_call_metadata(call, "x-keytrail-admin", &vlen);
	if (v == NULL) {
		kt_net_reply_status(reply, KT_GRPC_PERMISSION_DENIED, "admin credential required");
		return KT_OK;
	}
	b = kt_net_call_metadata(call, "x-test-bin", &blen);
	out = malloc(vlen + 1 + blen + 1);
	if (out == NULL)
		return KT_ERR_NOMEM;
	memcpy(out, v, vlen);
	out[vlen] = '|';
	if (blen > 0)
		memcpy(out + vlen + 1, b, blen);
	return kt_net_reply_take_body(reply, out, vlen + 1 + blen);
}

static int h_defer(void *app, const kt_net_call *call, kt_net_reply *reply)
{
	uint8_t *copy = NULL;

	(void)app;
	/* Whatever is set on the reply of a deferred call is ignored. */
	kt_net_reply_status(reply, KT_GRPC_INTERNAL, "ignored");
	if (call->body_len > 0) {
		copy = malloc(call->body_len);
		if (copy == NULL)
			return KT_ERR_NOMEM;
		memcpy(copy, call->body, call->body_len);
	}
	pthread_mutex_lock(&g_park.mu);
	if (g_park.n == MAX_PARKED) {
		pthread_mutex_unlock(&g_park.mu);
		free(copy);
		return KT_ERR_INTERNAL;
	}
	g_park.h[g_park.n] = call->handle;
	g_park.body[g_park.n] = copy;
	g_park.len[g_park.n] = call->body_len;
	g_park.n++;
	pthread_cond_broadcast(&g_park.cv);
	pthread_mutex_unlock(&g_park.mu);
	return KT_NET_DEFERRED;
}

/* Completes its own call before returning KT_NET_DEFERRED. */
static int h_early(void *app, const kt_net_call *call, kt_net_reply *reply)
{
	(void)app;
	(void)reply;
	if (kt_net_complete(call->handle, KT_GRPC_OK, NULL, "early", 5) != KT_OK)
		return KT_ERR_INTERNAL;
	/* A second completion of the same call is refused. */
	if (kt_net_complete(call->handle, KT_GRPC_OK, NULL, "again", 5) != KT_ERR_NET_STALE)
		return KT_ERR_INTERNAL;
	return KT_NET_DEFERRED;
}

/* Answers the listener index the call came in on. */
static int h_admin(void *app, const kt_net_call *call, kt_net_reply *reply)
{
	char buf[16];
	int n;

	(void)app;
	n = snprintf(buf, sizeof buf, "listener=%u", call->listener);
	return kt_net_reply_copy_body(reply, buf, (size_t)n);
}

static const kt_net_method test_methods[] = {
	{M_ECHO, h_echo, NULL, 0, 0},
	{M_FAIL, h_fail, NULL, 0, 0},
	{M_BROKEN, h_broken, NULL, 0, 0},
	{M_META, h_meta, NULL, 0, 0},
	{M_DEFER, h_defer, NULL, 4, 0},
	{M_EARLY, h_early, NULL, 0, 0},
	{M_ADMIN, h_admin, NULL, 0, 2}, /* listener 1 only */
};

static const char *const health_names[] = {"keytrail.v1.Directory", NULL};

/* Where kt_slog writes during the tests, or NULL (stderr). */
static FILE *g_log;

/* Returns 1 if the log written since offset `from` contains needle. */
static int logged_since(long from, const char *needle)
{
	char line[KT_SLOG_LINE_MAX];
	int found = 0;

	if (g_log == NULL)
		return 1; /* verbose mode: not checked */
	fflush(g_log);
	if (fseek(g_log, from, SEEK_SET) != 0)
		return 0;
	while (fgets(line, sizeof line, g_log) != NULL)
		found |= strstr(line, needle) != NULL;
	fseek(g_log, 0, SEEK_END);
	return found;
}

static long log_pos(void)
{
	if (g_log == NULL)
		return 0;
	fseek(g_log, 0, SEEK_END);
	return ftell(g_log);
}

/* ---------- helpers ---------- */

struct env {
	kt_net *net;
	kt_gc *gc;
	int port;
};

static void start_env(struct env *e, uint32_t max_message, unsigned max_inflight)
{
	kt_net_listener l = {"127.0.0.1:0", NULL, NULL, NULL};
	kt_net_config cfg;
	char target[64];

	memset(&cfg, 0, sizeof cfg);
	cfg.listeners = &l;
	cfg.n_listeners = 1;
	cfg.methods = test_methods;
	cfg.n_methods = 6; /* all but M_ADMIN, which needs listener 1 */
	cfg.max_message = max_message;
	cfg.max_inflight = max_inflight;
	cfg.health_services = health_names;
	assert_int_equal(kt_net_start(&cfg, &e->net), KT_OK);
	e->port = kt_net_port(e->net, 0);
	assert_true(e->port > 0);
	assert_int_equal(kt_net_port(e->net, 1), 0);
	snprintf(target, sizeof target, "127.0.0.1:%d", e->port);
	assert_int_equal(kt_gc_open(target, NULL, &e->gc), KT_OK);
}

static void stop_env(struct env *e)
{
	kt_gc_close(e->gc);
	kt_net_free(e->net);
	e->gc = NULL;
	e->net = NULL;
}

static void call_ok(kt_gc *gc, const char *method, const void *req, size_t len,
                    const void *want, size_t want_len)
{
	kt_gc_result res = {0};

	assert_int_equal(kt_gc_call(gc, method, req, len, NULL, TIMEOUT_MS, &res), KT_OK);
	assert_int_equal(res.status, KT_GRPC_OK);
	assert_true(res.has_body);
	assert_int_equal(res.body_len, want_len);
	if (want_len > 0)
		assert_memory_equal(res.body, want, want_len);
	kt_gc_result_clear(&res);
}

static int call_status(kt_gc *gc, const char *method, const void *req, size_t len,
                       const char *const *md, kt_gc_result *res)
{
	assert_int_equal(kt_gc_call(gc, method, req, len, md, TIMEOUT_MS, res), KT_OK);
	return res->status;
}

/* Health/Check for service; returns the serving status, or -(grpc status). */
static int health(kt_gc *gc, const char *service)
{
	Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
	Grpc__Health__V1__HealthCheckResponse *resp;
	uint8_t buf[300];
	size_t n;
	kt_gc_result res = {0};
	int st;

	req.service = (char *)service;
	n = grpc__health__v1__health_check_request__get_packed_size(&req);
	assert_true(n <= sizeof buf);
	grpc__health__v1__health_check_request__pack(&req, buf);
	if (call_status(gc, M_HEALTH, buf, n, NULL, &res) != KT_GRPC_OK) {
		st = -res.status;
		kt_gc_result_clear(&res);
		return st;
	}
	resp = grpc__health__v1__health_check_response__unpack(NULL, res.body_len, res.body);
	assert_non_null(resp);
	st = (int)resp->status;
	grpc__health__v1__health_check_response__free_unpacked(resp, NULL);
	kt_gc_result_clear(&res);
	return st;
}

/* ---------- tests ---------- */

static void test_echo_and_errors(void **state)
{
	struct env e;
	kt_gc_result res = {0};
	static const char hello[] = "hello, keytrail";

	(void)state;
	start_env(&e, 0, 0);
	call_ok(e.gc, M_ECHO, hello, sizeof hello - 1, hello, sizeof hello - 1);
	/* An empty request is an empty message, answered with an empty one. */
	call_ok(e.gc, M_ECHO, NULL, 0, NULL, 0);

	assert_int_equal(call_status(e.gc, M_FAIL, "a", 1, NULL, &res), KT_GRPC_FAILED_PRECONDITION);
	assert_string_equal(res.details, "version mismatch: expected 3");
	assert_false(res.has_body);

	assert_int_equal(call_status(e.gc, M_BROKEN, "a", 1, NULL, &res), KT_GRPC_INTERNAL);
	assert_string_equal(res.details, "internal error");
	assert_false(res.has_body);

	/* Nobody registered these names: UNIMPLEMENTED, not a hang. */
	assert_int_equal(call_status(e.gc, "/keytrail.v1.Test/Nope", "a", 1, NULL, &res),
	                 KT_GRPC_UNIMPLEMENTED);
	assert_int_equal(call_status(e.gc, "/other.Svc/Echo", NULL, 0, NULL, &res),
	                 KT_GRPC_UNIMPLEMENTED);
	/* M_ADMIN exists in the table but is not served on this listener. */
	assert_int_equal(call_status(e.gc, M_ADMIN, NULL, 0, NULL, &res), KT_GRPC_UNIMPLEMENTED);
	kt_gc_result_clear(&res);
	/* Still serving afterwards. */
	call_ok(e.gc, M_ECHO, "z", 1, "z", 1);
	stop_env(&e);
}

static void test_metadata(void **state)
{
	struct env e;
	kt_gc_result res = {0};
	const char *const md[] = {"x-keytrail-admin", "s3cret", "x-test-bin", "b\x01n", NULL};
	const char *const other[] = {"x-keytrail-admin2", "s3cret", NULL};

	(void)state;
	start_env(&e, 0, 0);
	assert_int_equal(call_status(e.gc, M_META, NULL, 0, md, &res), KT_GRPC_OK);
	assert_int_equal(res.body_len, 10);
	assert_memory_equal(res.body, "s3cret|b\x01n", 10);
	/* Twins: no key, and a key that only starts like it. */
	assert_int_equal(call_status(e.gc, M_META, NULL, 0, NULL, &res), KT_GRPC_PERMISSION_DENIED);
	assert_string_equal(res.details, "admin credential required");
	assert_int_equal(call_status(e.gc, M_META, NULL, 0, other, &res), KT_GRPC_PERMISSION_DENIED);
	kt_gc_result_clear(&res);
	stop_env(&e);
}

static void test_health(void **state)
{
	struct env e;
	kt_gc_result res = {0};
	static const uint8_t garbage[] = {0x0a, 0x05, 'a'}; /* field 1, length past the end */

	(void)state;
	start_env(&e, 0, 0);
	assert_int_equal(health(e.gc, ""), GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING);
	kt_net_set_serving(e.net, 1);
	assert_int_equal(health(e.gc, ""), GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING);
	assert_int_equal(health(e.gc, "keytrail.v1.Directory"),
	                 GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING);
	assert_int_equal(health(e.gc, "keytrail.v1.Directory2"), -KT_GRPC_NOT_FOUND);
	kt_net_set_serving(e.net, 0);
	assert_int_equal(health(e.gc, "keytrail.v1.Directory"),
	                 GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING);
	assert_int_equal(call_status(e.gc, M_HEALTH, garbage, sizeof garbage, NULL, &res),
	                 KT_GRPC_INVALID_ARGUMENT);
	/* Watch is not offered. */
	assert_int_equal(call_status(e.gc, M_WATCH, NULL, 0, NULL, &res), KT_GRPC_UNIMPLEMENTED);
	kt_gc_result_clear(&res);
	stop_env(&e);
}

/* Messages over max_message are refused by gRPC with RESOURCE_EXHAUSTED.
 * Kept to 16 KiB: a multi-MiB write from the in-process client makes gRPC
 * 1.51 start its TCP "backup poller", which delays grpc_shutdown_blocking()
 * by up to 10 s (a 10 s epoll_wait on the executor thread). */
static void test_max_message(void **state)
{
	enum { MAX = 16384 };
	struct env e;
	kt_gc_result res = {0};
	uint8_t *big = malloc(MAX + 1);

	(void)state;
	assert_non_null(big);
	memset(big, 0xa5, MAX + 1);
	start_env(&e, 0, 0);
	assert_int_equal(kt_net_max_message(e.net), KT_NET_DEFAULT_MAX_MESSAGE);
	assert_int_equal(KT_NET_DEFAULT_MAX_MESSAGE, 4u * 1024u * 1024u);
	stop_env(&e);

	start_env(&e, MAX, 0);
	assert_int_equal(kt_net_max_message(e.net), MAX);
	call_ok(e.gc, M_ECHO, big, MAX, big, MAX);
	assert_int_equal(call_status(e.gc, M_ECHO, big, MAX + 1, NULL, &res),
	                 KT_GRPC_RESOURCE_EXHAUSTED);
	/* The server goes on serving. */
	call_ok(e.gc, M_ECHO, "ok", 2, "ok", 2);
	kt_gc_result_clear(&res);
	stop_env(&e);
	free(big);
}

static void test_deferred(void **state)
{
	struct env e;
	pthread_t th;
	kt_net_handle stale;
	char req[32];
	int i;

	(void)state;
	park_reset(1);
	assert_int_equal(pthread_create(&th, NULL, completer_main, NULL), 0);
	start_env(&e, 0, 0);
	for (i = 0; i < 20; i++) {
		char want[64];
		int n = snprintf(req, sizeof req, "update-%d", i);

		memcpy(want, "deferred:", 9);
		memcpy(want + 9, req, (size_t)n);
		call_ok(e.gc, M_DEFER, req, (size_t)n, want, (size_t)n + 9);
	}
	call_ok(e.gc, M_EARLY, NULL, 0, "early", 5);
	/* Completing an answered call again is refused and sends nothing. */
	pthread_mutex_lock(&g_park.mu);
	stale = g_park.h[3];
	pthread_mutex_unlock(&g_park.mu);
	assert_int_equal(kt_net_complete(stale, KT_GRPC_OK, NULL, "x", 1), KT_ERR_NET_STALE);
	assert_int_equal(kt_net_complete(stale, KT_GRPC_OK, NULL, NULL, 1), KT_ERR_INVALID_ARG);
	pthread_mutex_lock(&g_park.mu);
	g_park.quit = 1;
	pthread_cond_broadcast(&g_park.cv);
	pthread_mutex_unlock(&g_park.mu);
	pthread_join(th, NULL);
	stop_env(&e);
	park_reset(0);
}

/* 200 calls in flight at once (echo and deferred mixed) all complete. */
static void test_many_in_flight(void **state)
{
	enum { N = 200 };
	struct env e;
	kt_gc_async *a;
	kt_gc_result res = {0};
	pthread_t th;
	char req[32], want[64];
	int seen[N];
	void *tag;
	int i, n, k;

	(void)state;
	park_reset(1);
	assert_int_equal(pthread_create(&th, NULL, completer_main, NULL), 0);
	start_env(&e, 0, 0);
	assert_int_equal(kt_gc_async_new(e.gc, &a), KT_OK);
	memset(seen, 0, sizeof seen);
	for (i = 0; i < N; i++) {
		n = snprintf(req, sizeof req, "call-%d", i);
		assert_int_equal(kt_gc_async_start(a, i % 3 == 0 ? M_DEFER : M_ECHO, req, (size_t)n,
		                                   NULL, TIMEOUT_MS, (void *)(intptr_t)(i + 1)),
		                 KT_OK);
	}
	assert_int_equal(kt_gc_async_pending(a), N);
	for (k = 0; k < N; k++) {
		assert_int_equal(kt_gc_async_next(a, TIMEOUT_MS, &tag, &res), 1);
		i = (int)(intptr_t)tag - 1;
		assert_true(i >= 0 && i < N);
		assert_false(seen[i]);
		seen[i] = 1;
		assert_int_equal(res.status, KT_GRPC_OK);
		n = snprintf(req, sizeof req, "call-%d", i);
		if (i % 3 == 0) {
			memcpy(want, "deferred:", 9);
			memcpy(want + 9, req, (size_t)n);
			n += 9;
		} else {
			memcpy(want, req, (size_t)n);
		}
		assert_int_equal(res.body_len, (size_t)n);
		assert_memory_equal(res.body, want, (size_t)n);
	}
	kt_gc_result_clear(&res);
	assert_int_equal(kt_gc_async_next(a, 0, &tag, &res), 0);
	kt_gc_async_free(a);
	pthread_mutex_lock(&g_park.mu);
	g_park.quit = 1;
	pthread_cond_broadcast(&g_park.cv);
	pthread_mutex_unlock(&g_park.mu);
	pthread_join(th, NULL);
	stop_env(&e);
	park_reset(0);
}

/* max_inflight bounds deferred calls; the rest wait inside gRPC.  With a
 * cap of 2 and 4 requests posted for M_DEFER, the second call is not
 * replaced and the 3 requests still posted are matched: 5 calls at most. */
static void test_max_inflight(void **state)
{
	enum { N = 12, MOST = 2 + 4 - 1 };
	struct env e;
	kt_gc_async *a;
	kt_gc_result res = {0};
	void *tag;
	size_t i, done = 0;

	(void)state;
	park_reset(0);
	start_env(&e, 0, 2);
	assert_int_equal(kt_gc_async_new(e.gc, &a), KT_OK);
	for (i = 0; i < N; i++)
		assert_int_equal(kt_gc_async_start(a, M_DEFER, "q", 1, NULL, TIMEOUT_MS, NULL), KT_OK);
	assert_true(park_wait(2));
	/* Nothing completes and no more arrive while they are parked. */
	assert_int_equal(kt_gc_async_next(a, 300, &tag, &res), 0);
	pthread_mutex_lock(&g_park.mu);
	assert_true(g_park.n >= 2 && g_park.n <= MOST);
	pthread_mutex_unlock(&g_park.mu);
	/* Completing them lets the others in, in turn. */
	while (done < N) {
		size_t n;

		assert_true(park_wait(done + 1));
		pthread_mutex_lock(&g_park.mu);
		n = g_park.n;
		pthread_mutex_unlock(&g_park.mu);
		assert_true(n - done <= MOST);
		for (; done < n; done++)
			assert_int_equal(kt_net_complete(g_park.h[done], KT_GRPC_OK, NULL, "a", 1), KT_OK);
	}
	for (i = 0; i < N; i++) {
		assert_int_equal(kt_gc_async_next(a, TIMEOUT_MS, &tag, &res), 1);
		assert_int_equal(res.status, KT_GRPC_OK);
	}
	kt_gc_result_clear(&res);
	kt_gc_async_free(a);
	stop_env(&e);
	park_reset(0);
}

/* A deferred call still pending at shutdown is answered UNAVAILABLE and
 * its handle goes stale; nothing leaks (run under ASan). */
static void test_shutdown_with_pending(void **state)
{
	struct env e;
	kt_gc_async *a;
	kt_gc_result res = {0};
	kt_net_handle h;
	void *tag;

	(void)state;
	park_reset(0);
	start_env(&e, 0, 0);
	assert_int_equal(kt_gc_async_new(e.gc, &a), KT_OK);
	assert_int_equal(kt_gc_async_start(a, M_DEFER, "p", 1, NULL, TIMEOUT_MS, &e), KT_OK);
	assert_int_equal(kt_gc_async_start(a, M_DEFER, "q", 1, NULL, TIMEOUT_MS, &e), KT_OK);
	assert_true(park_wait(2));
	kt_net_stop(e.net);
	kt_net_stop(e.net); /* idempotent */
	assert_int_equal(kt_gc_async_next(a, TIMEOUT_MS, &tag, &res), 1);
	assert_ptr_equal(tag, &e);
	assert_true(res.status == KT_GRPC_UNAVAILABLE || res.status == KT_GRPC_CANCELLED);
	assert_int_equal(kt_gc_async_next(a, TIMEOUT_MS, &tag, &res), 1);
	assert_true(res.status == KT_GRPC_UNAVAILABLE || res.status == KT_GRPC_CANCELLED);
	kt_gc_result_clear(&res);
	pthread_mutex_lock(&g_park.mu);
	h = g_park.h[0];
	pthread_mutex_unlock(&g_park.mu);
	assert_int_equal(kt_net_complete(h, KT_GRPC_OK, NULL, "late", 4), KT_ERR_NET_STALE);
	/* A stopped server refuses connections. */
	assert_int_equal(call_status(e.gc, M_ECHO, NULL, 0, NULL, &res), KT_GRPC_UNAVAILABLE);
	kt_gc_result_clear(&res);
	kt_gc_async_free(a);
	stop_env(&e);
	park_reset(0);
}

static void test_start_errors(void **state)
{
	struct env e;
	char sentinel;
	kt_net *net = (kt_net *)(void *)&sentinel;
	kt_net_listener l = {"127.0.0.1:0", NULL, NULL, NULL};
	kt_net_method m[2] = {{M_ECHO, h_echo, NULL, 0, 0}, {M_ECHO, h_echo, NULL, 0, 0}};
	kt_net_config cfg;
	char addr[64];
	long pos;

	(void)state;
	memset(&cfg, 0, sizeof cfg);
	cfg.listeners = &l;
	cfg.n_listeners = 1;
	cfg.methods = m;
	cfg.n_methods = 2;
	/* Duplicate method names. */
	assert_int_equal(kt_net_start(&cfg, &net), KT_ERR_INVALID_ARG);
	assert_null(net);
	/* Malformed names, missing handler, listener bit out of range. */
	cfg.n_methods = 1;
	m[0].name = "keytrail.v1.Test/Echo";
	assert_int_equal(kt_net_start(&cfg, &net), KT_ERR_INVALID_ARG);
	m[0].name = "/keytrail.v1.Test/";
	assert_int_equal(kt_net_start(&cfg, &net), KT_ERR_INVALID_ARG);
	m[0].name = M_HEALTH;
	assert_int_equal(kt_net_start(&cfg, &net), KT_ERR_INVALID_ARG);
	m[0].name = M_ECHO;
	m[0].handler = NULL;
	assert_int_equal(kt_net_start(&cfg, &net), KT_ERR_INVALID_ARG);
	m[0].handler = h_echo;
	m[0].listeners = 2;
	assert_int_equal(kt_net_start(&cfg, &net), KT_ERR_INVALID_ARG);
	m[0].listeners = 0;
	m[0].outstanding = KT_NET_MAX_OUTSTANDING + 1;
	assert_int_equal(kt_net_start(&cfg, &net), KT_ERR_INVALID_ARG);
	m[0].outstanding = 0;
	/* A TLS key without a certificate. */
	l.tls_key_pem = "key";
	assert_int_equal(kt_net_start(&cfg, &net), KT_ERR_INVALID_ARG);
	l.tls_key_pem = NULL;
	cfg.max_message = KT_NET_MAX_MAX_MESSAGE + 1;
	assert_int_equal(kt_net_start(&cfg, &net), KT_ERR_INVALID_ARG);
	cfg.max_message = 0;
	assert_int_equal(kt_net_start(NULL, &net), KT_ERR_INVALID_ARG);

	/* The control: this config works.  Then its port is taken. */
	start_env(&e, 0, 0);
	snprintf(addr, sizeof addr, "127.0.0.1:%d", e.port);
	l.addr = addr;
	pos = log_pos();
	assert_int_equal(kt_net_start(&cfg, &net), KT_ERR_NET_LISTEN);
	assert_null(net);
	assert_true(logged_since(pos, "level=error event=net_listen_failed addr=127.0.0.1:"));
	l.addr = "256.1.1.1:1";
	assert_int_equal(kt_net_start(&cfg, &net), KT_ERR_NET_LISTEN);
	/* The running server was not disturbed. */
	call_ok(e.gc, M_ECHO, "still", 5, "still", 5);
	stop_env(&e);
}

struct tls_files {
	char *ca, *srv_cert, *srv_key, *cli_cert, *cli_key, *rogue_cert, *rogue_key;
};

static char *read_vec(const char *name)
{
	char path[512];
	char *s;

	snprintf(path, sizeof path, "%s/tls/%s", KT_TEST_VECTORS, name);
	s = kt_test_read_file(path, NULL);
	assert_non_null(s);
	return s;
}

static void tls_status(int port, const kt_gc_tls *tls, const char *method, int want_status,
                       const char *want_body)
{
	char target[64];
	kt_gc *gc;
	kt_gc_result res = {0};

	snprintf(target, sizeof target, "127.0.0.1:%d", port);
	assert_int_equal(kt_gc_open(target, tls, &gc), KT_OK);
	assert_int_equal(kt_gc_call(gc, method, "t", 1, NULL, TIMEOUT_MS, &res), KT_OK);
	assert_int_equal(res.status, want_status);
	if (want_body != NULL) {
		assert_int_equal(res.body_len, strlen(want_body));
		assert_memory_equal(res.body, want_body, strlen(want_body));
	}
	kt_gc_result_clear(&res);
	kt_gc_close(gc);
}

/* Listener 0: TLS for everyone; listener 1: mTLS, the only one with Admin. */
static void test_tls_and_mtls(void **state)
{
	struct tls_files f;
	kt_net_listener ls[2];
	kt_net_config cfg;
	kt_net *net;
	kt_gc_tls plain_tls, cli, rogue, wrong_ca;
	int p0, p1;

	(void)state;
	f.ca = read_vec("ca.pem");
	f.srv_cert = read_vec("server.pem");
	f.srv_key = read_vec("server.key");
	f.cli_cert = read_vec("client.pem");
	f.cli_key = read_vec("client.key");
	f.rogue_cert = read_vec("rogue-client.pem");
	f.rogue_key = read_vec("rogue-client.key");
	memset(ls, 0, sizeof ls);
	ls[0].addr = "127.0.0.1:0";
	ls[0].tls_cert_pem = f.srv_cert;
	ls[0].tls_key_pem = f.srv_key;
	ls[1] = ls[0];
	ls[1].tls_client_ca_pem = f.ca;
	memset(&cfg, 0, sizeof cfg);
	cfg.listeners = ls;
	cfg.n_listeners = 2;
	cfg.methods = test_methods;
	cfg.n_methods = sizeof test_methods / sizeof test_methods[0];
	cfg.workers = 2;
	assert_int_equal(kt_net_start(&cfg, &net), KT_OK);
	p0 = kt_net_port(net, 0);
	p1 = kt_net_port(net, 1);
	assert_true(p0 > 0 && p1 > 0 && p0 != p1);

	memset(&plain_tls, 0, sizeof plain_tls);
	plain_tls.root_pem = f.ca;
	cli = plain_tls;
	cli.cert_pem = f.cli_cert;
	cli.key_pem = f.cli_key;
	rogue = plain_tls;
	rogue.cert_pem = f.rogue_cert;
	rogue.key_pem = f.rogue_key;
	/* Trusting another CA than the server's: the handshake fails. */
	wrong_ca = cli;
	wrong_ca.root_pem = f.cli_cert;

	tls_status(p0, &plain_tls, M_ECHO, KT_GRPC_OK, "t");
	tls_status(p0, &plain_tls, M_ADMIN, KT_GRPC_UNIMPLEMENTED, NULL);
	tls_status(p0, NULL, M_ECHO, KT_GRPC_UNAVAILABLE, NULL); /* plaintext to TLS */
	tls_status(p0, &wrong_ca, M_ECHO, KT_GRPC_UNAVAILABLE, NULL);
	tls_status(p1, &cli, M_ADMIN, KT_GRPC_OK, "listener=1");
	tls_status(p1, &cli, M_ECHO, KT_GRPC_OK, "t");
	tls_status(p1, &plain_tls, M_ADMIN, KT_GRPC_UNAVAILABLE, NULL); /* no client cert */
	tls_status(p1, &rogue, M_ADMIN, KT_GRPC_UNAVAILABLE, NULL);    /* unknown CA */
	kt_net_free(net);

	/* Unusable credentials are refused at start. */
	ls[0].tls_key_pem = f.cli_key; /* key of another certificate */
	cfg.n_listeners = 1;
	cfg.n_methods = 1;
	assert_int_equal(kt_net_start(&cfg, &net), KT_ERR_NET_LISTEN);
	assert_null(net);
	ls[0].tls_key_pem = "not a key";
	assert_int_equal(kt_net_start(&cfg, &net), KT_ERR_NET_LISTEN);

	free(f.ca);
	free(f.srv_cert);
	free(f.srv_key);
	free(f.cli_cert);
	free(f.cli_key);
	free(f.rogue_cert);
	free(f.rogue_key);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_echo_and_errors),
		cmocka_unit_test(test_metadata),
		cmocka_unit_test(test_health),
		cmocka_unit_test(test_max_message),
		cmocka_unit_test(test_deferred),
		cmocka_unit_test(test_many_in_flight),
		cmocka_unit_test(test_max_inflight),
		cmocka_unit_test(test_shutdown_with_pending),
		cmocka_unit_test(test_start_errors),
		cmocka_unit_test(test_tls_and_mtls),
	};

	FILE *logf = tmpfile();
	int r;

	/* Errors logged on purpose by the failure tests go to a file that
	 * test_start_errors reads (KT_TEST_VERBOSE=1: to stderr). */
	if (getenv("KT_TEST_VERBOSE") == NULL) {
		g_log = logf;
		kt_slog_set_file(logf);
	}
	r = cmocka_run_group_tests(tests, NULL, NULL);
	kt_slog_set_file(NULL);
	if (logf != NULL)
		fclose(logf);
	return r;
}
