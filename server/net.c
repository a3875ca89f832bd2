/*
 * net.c — the gRPC C core server layer (see net.h for the contract).
 *
 * Life of a call.  Every posted request owns a slot (struct kt_net_slot)
 * whose embedded tags are what the completion queue hands back:
 *
 *   REQUESTED --(call arrives)--> RUNNING --(handler returns KT_OK)--> SENDING
 *                                    |  \--(kt_net_complete)--> RUNNING_DONE
 *                                    |                              |
 *                                    +--(KT_NET_DEFERRED)--> DEFERRED |
 *                                               |                   |
 *                       (kt_net_complete/stop)  +--> SENDING <------+
 *   SENDING --(batch done)--> FREE (back on the free list)
 *
 * As soon as a request is consumed a replacement is posted, so a method
 * always has `outstanding` requests waiting no matter how many of its calls
 * are running or deferred, until max_inflight calls are in progress: then
 * consumed requests are not replaced (and new calls wait inside gRPC) until
 * calls finish.  Slots are never freed before kt_net_free(), so
 * a stale kt_net_handle can always be checked against the slot's generation
 * number safely.  All slot state and counters are guarded by net->mu; gRPC
 * calls are made outside it except for posting requests.
 */
#include "net.h"

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <grpc/support/log.h>
#include <grpc/support/time.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "grpc/health/v1/health.pb-c.h"
#include "log.h"
#include "metrics.h"

#define HEALTH_CHECK_METHOD "/grpc.health.v1.Health/Check"
#define MAX_METHOD_NAME 256
/* Requests posted per listener for method names nobody registered. */
#define UNKNOWN_OUTSTANDING 2

enum tag_kind { TAG_REQUEST = 1, TAG_SEND, TAG_SHUTDOWN };

enum slot_state { S_FREE, S_REQUESTED, S_RUNNING, S_RUNNING_DONE, S_DEFERRED, S_SENDING };

/* What a completion queue event points at. */
struct tag {
	enum tag_kind kind;
	void *owner; /* struct kt_net_slot or struct listener_srv */
};

/* A reply waiting to be sent. */
struct reply_data {
	int status;
	int has_details;
	int has_body;
	grpc_slice details;
	grpc_slice body;
};

struct kt_net_reply {
	struct reply_data d;
};

/* One method as kept by the layer. */
struct method {
	char *name;
	kt_net_handler handler;
	void *arg;
	unsigned outstanding;
	unsigned listeners;
	int metric;         /* kt_metrics_method_id of name, or -1 */
};

/* One (method, listener) registration; method == NULL: unknown methods. */
struct reg {
	struct method *method;
	void *handle;
	unsigned listener;
	unsigned target;
	unsigned posted;
};

struct listener_srv {
	struct tag shutdown_tag;
	grpc_server *srv;
	int port;
	int shutdown_requested;
	int shutdown_seen;
};

struct kt_net_slot {
	struct tag req_tag;
	struct tag send_tag;
	struct kt_net_slot *next_free;
	struct kt_net_slot *next_all;
	struct kt_net_slot *next_forced;
	kt_net *net;
	struct reg *reg;
	enum slot_state state;
	int is_call;        /* matched: counts in net->calls */
	uint64_t gen;
	/* Filled by gRPC when the request is matched. */
	grpc_call *gcall;
	gpr_timespec deadline;
	grpc_metadata_array md;
	grpc_byte_buffer *payload;
	grpc_call_details cdetails; /* unknown methods only */
	/* The call as the handler sees it. */
	grpc_slice body;
	int has_body;
	char *peer;
	kt_net_call call;
	/* A kt_net_complete() that came while the handler ran. */
	struct reply_data early;
	/* The response batch. */
	grpc_byte_buffer *send_bb;
	grpc_slice send_details;
	int has_send_details;
	int cancelled;
	uint64_t t0_ns;     /* when the call arrived (metrics clock) */
};

struct kt_net {
	void *app;
	struct method *methods; /* n_methods + 1: the last one is Health/Check */
	size_t n_methods;
	struct reg *regs;
	size_t n_regs;
	struct listener_srv srvs[KT_NET_MAX_LISTENERS];
	size_t n_srvs;
	char **health_names;
	size_t n_health;
	uint32_t max_message;
	unsigned max_inflight;
	unsigned n_workers;
	pthread_t threads[KT_NET_MAX_WORKERS];
	unsigned n_threads;
	grpc_completion_queue *cq;
	int grpc_inited;
	int stopped;
	_Atomic int serving;

	pthread_mutex_t mu;
	pthread_cond_t cv;
	/* Guarded by mu. */
	struct kt_net_slot *free_slots;
	struct kt_net_slot *all_slots;
	unsigned posted;    /* requests posted and not yet returned */
	unsigned calls;     /* matched calls not yet finished */
	int starved;
	int stopping;
};

/* ---------- replies ---------- */

static void reply_init(struct reply_data *d)
{
	memset(d, 0, sizeof *d);
	d->status = KT_GRPC_OK;
}

static void reply_clear(struct reply_data *d)
{
	if (d->has_details)
		grpc_slice_unref(d->details);
	if (d->has_body)
		grpc_slice_unref(d->body);
	reply_init(d);
}

static void reply_set(struct reply_data *d, int status, const char *details)
{
	size_t n;

	if (d->has_details)
		grpc_slice_unref(d->details);
	d->has_details = 0;
	d->status = status;
	if (details != NULL) {
		n = strnlen(details, KT_NET_MAX_DETAILS);
		d->details = grpc_slice_from_copied_buffer(details, n);
		d->has_details = 1;
	}
}

static void reply_set_body(struct reply_data *d, grpc_slice body)
{
	if (d->has_body)
		grpc_slice_unref(d->body);
	d->body = body;
	d->has_body = 1;
}

void kt_net_reply_status(kt_net_reply *reply, int status, const char *details)
{
	if (reply != NULL)
		reply_set(&reply->d, status, details);
}

int kt_net_reply_take_body(kt_net_reply *reply, void *body, size_t len)
{
	if (reply == NULL || (body == NULL && len > 0))
		return KT_ERR_INVALID_ARG;
	if (len == 0) {
		free(body);
		reply_set_body(&reply->d, grpc_empty_slice());
		return KT_OK;
	}
	reply_set_body(&reply->d, grpc_slice_new(body, len, free));
	return KT_OK;
}

int kt_net_reply_copy_body(kt_net_reply *reply, const void *body, size_t len)
{
	if (reply == NULL || (body == NULL && len > 0))
		return KT_ERR_INVALID_ARG;
	reply_set_body(&reply->d, grpc_slice_from_copied_buffer(body, len));
	return KT_OK;
}

/* ---------- slots ---------- */

/* Returns a cleared slot, or NULL if out of memory.  Caller holds mu. */
static struct kt_net_slot *slot_get_locked(kt_net *net)
{
	struct kt_net_slot *s = net->free_slots;
	uint64_t gen;

	if (s != NULL) {
		net->free_slots = s->next_free;
		gen = s->gen;
		struct kt_net_slot *all = s->next_all;
		memset(s, 0, sizeof *s);
		s->gen = gen;
		s->next_all = all;
	} else {
		s = calloc(1, sizeof *s);
		if (s == NULL)
			return NULL;
		s->next_all = net->all_slots;
		net->all_slots = s;
	}
	s->net = net;
	s->req_tag.kind = TAG_REQUEST;
	s->req_tag.owner = s;
	s->send_tag.kind = TAG_SEND;
	s->send_tag.owner = s;
	reply_init(&s->early);
	return s;
}

/* Puts s back on the free list.  Caller holds mu; s holds no gRPC object. */
static void slot_put_locked(kt_net *net, struct kt_net_slot *s)
{
	s->state = S_FREE;
	s->gen++;
	s->next_free = net->free_slots;
	net->free_slots = s;
}

/* Drops what a matched or failed request left in the slot (except the
 * call itself). */
static void slot_release_request(struct kt_net_slot *s)
{
	if (s->has_body)
		grpc_slice_unref(s->body);
	s->has_body = 0;
	if (s->payload != NULL)
		grpc_byte_buffer_destroy(s->payload);
	s->payload = NULL;
	grpc_metadata_array_destroy(&s->md);
	memset(&s->md, 0, sizeof s->md);
	if (s->reg->method == NULL)
		grpc_call_details_destroy(&s->cdetails);
	memset(&s->cdetails, 0, sizeof s->cdetails);
	if (s->peer != NULL)
		gpr_free(s->peer);
	s->peer = NULL;
}

/* A slot finished: return it and, if posting was held back by
 * max_inflight, post again.  Caller holds mu. */
static void slot_done_locked(kt_net *net, struct kt_net_slot *s);

/* ---------- posting requests ---------- */

/* Keeps reg->target requests posted.  Caller holds mu. */
static void topup_locked(kt_net *net, struct reg *rg)
{
	struct listener_srv *ls = &net->srvs[rg->listener];
	struct kt_net_slot *s;
	grpc_call_error e;

	while (!net->stopping && rg->posted < rg->target) {
		if (net->calls >= net->max_inflight) {
			net->starved = 1;
			return;
		}
		s = slot_get_locked(net);
		if (s == NULL) {
			net->starved = 1;
			kt_slog(KT_SLOG_ERROR, "net_post_failed", "reason=nomem");
			return;
		}
		s->reg = rg;
		s->state = S_REQUESTED;
		grpc_metadata_array_init(&s->md);
		if (rg->method != NULL) {
			e = grpc_server_request_registered_call(ls->srv, rg->handle, &s->gcall,
			                                        &s->deadline, &s->md, &s->payload,
			                                        net->cq, net->cq, &s->req_tag);
		} else {
			grpc_call_details_init(&s->cdetails);
			e = grpc_server_request_call(ls->srv, &s->gcall, &s->cdetails, &s->md,
			                             net->cq, net->cq, &s->req_tag);
		}
		if (e != GRPC_CALL_OK) {
			slot_release_request(s);
			slot_put_locked(net, s);
			net->starved = 1;
			kt_slog(KT_SLOG_ERROR, "net_post_failed", "error=%d", (int)e);
			return;
		}
		rg->posted++;
		net->posted++;
	}
}

static void topup_all_locked(kt_net *net)
{
	size_t i;

	net->starved = 0;
	for (i = 0; i < net->n_regs; i++)
		topup_locked(net, &net->regs[i]);
}

static void slot_done_locked(kt_net *net, struct kt_net_slot *s)
{
	if (s->is_call)
		net->calls--;
	slot_put_locked(net, s);
	if (net->stopping)
		pthread_cond_broadcast(&net->cv);
	else if (net->starved)
		topup_all_locked(net);
}

/* ---------- sending ---------- */

/* Starts the response batch for s (state already S_SENDING); consumes d.
 * If gRPC refuses the batch, the slot is finished here. */
static void start_send(kt_net *net, struct kt_net_slot *s, struct reply_data *d)
{
	grpc_op ops[4];
	grpc_op *op = ops;
	grpc_slice body;
	grpc_call_error e;

	if (s->reg->method != NULL)
		kt_metrics_rpc_done(s->reg->method->metric, d->status, s->t0_ns);
	memset(ops, 0, sizeof ops);
	op->op = GRPC_OP_SEND_INITIAL_METADATA;
	op->data.send_initial_metadata.count = 0;
	op++;
	if (d->status == KT_GRPC_OK) {
		body = d->has_body ? d->body : grpc_empty_slice();
		s->send_bb = grpc_raw_byte_buffer_create(&body, 1);
		grpc_slice_unref(body);
		d->has_body = 0;
		op->op = GRPC_OP_SEND_MESSAGE;
		op->data.send_message.send_message = s->send_bb;
		op++;
	}
	if (d->has_details) {
		s->send_details = d->details;
		s->has_send_details = 1;
		d->has_details = 0;
	}
	op->op = GRPC_OP_SEND_STATUS_FROM_SERVER;
	op->data.send_status_from_server.trailing_metadata_count = 0;
	op->data.send_status_from_server.status = (grpc_status_code)d->status;
	op->data.send_status_from_server.status_details =
		s->has_send_details ? &s->send_details : NULL;
	op++;
	op->op = GRPC_OP_RECV_CLOSE_ON_SERVER;
	op->data.recv_close_on_server.cancelled = &s->cancelled;
	op++;
	reply_clear(d);
	e = grpc_call_start_batch(s->gcall, ops, (size_t)(op - ops), &s->send_tag, NULL);
	if (e != GRPC_CALL_OK) {
		kt_slog(KT_SLOG_ERROR, "net_send_failed", "error=%d", (int)e);
		if (s->send_bb != NULL)
			grpc_byte_buffer_destroy(s->send_bb);
		s->send_bb = NULL;
		if (s->has_send_details)
			grpc_slice_unref(s->send_details);
		s->has_send_details = 0;
		grpc_call_unref(s->gcall);
		s->gcall = NULL;
		pthread_mutex_lock(&net->mu);
		slot_done_locked(net, s);
		pthread_mutex_unlock(&net->mu);
	}
}

static void send_simple(kt_net *net, struct kt_net_slot *s, int status, const char *details)
{
	struct reply_data d;

	reply_init(&d);
	reply_set(&d, status, details);
	start_send(net, s, &d);
}

static void on_sent(kt_net *net, struct kt_net_slot *s)
{
	if (s->send_bb != NULL)
		grpc_byte_buffer_destroy(s->send_bb);
	s->send_bb = NULL;
	if (s->has_send_details)
		grpc_slice_unref(s->send_details);
	s->has_send_details = 0;
	grpc_call_unref(s->gcall);
	s->gcall = NULL;
	pthread_mutex_lock(&net->mu);
	slot_done_locked(net, s);
	pthread_mutex_unlock(&net->mu);
}

/* ---------- dispatch ---------- */

/* Fills s->call from what gRPC delivered.  Returns KT_OK or KT_ERR_NOMEM. */
static int prepare_call(kt_net *net, struct kt_net_slot *s)
{
	grpc_byte_buffer_reader rd;
	kt_net_call *c = &s->call;

	memset(c, 0, sizeof *c);
	if (s->payload != NULL) {
		if (!grpc_byte_buffer_reader_init(&rd, s->payload))
			return KT_ERR_NOMEM; /* e.g. undecompressible payload */
		s->body = grpc_byte_buffer_reader_readall(&rd);
		s->has_body = 1;
		grpc_byte_buffer_reader_destroy(&rd);
		if (GRPC_SLICE_LENGTH(s->body) > 0) {
			c->body = GRPC_SLICE_START_PTR(s->body);
			c->body_len = GRPC_SLICE_LENGTH(s->body);
		}
	}
	s->peer = grpc_call_get_peer(s->gcall);
	c->peer = s->peer != NULL ? s->peer : "";
	c->method = s->reg->method->name;
	c->method_arg = s->reg->method->arg;
	c->listener = s->reg->listener;
	c->md = &s->md;
	c->handle.net = net;
	c->handle.slot = s;
	c->handle.gen = s->gen;
	return KT_OK;
}

/* Runs the handler of an arrived call and sends or parks the reply. */
static void dispatch(kt_net *net, struct kt_net_slot *s)
{
	struct method *m = s->reg->method;
	kt_net_reply reply;
	struct reply_data d;
	int r;

	reply_init(&reply.d);
	r = prepare_call(net, s);
	if (r == KT_OK)
		r = m->handler(net->app, &s->call, &reply);
	if (r != KT_OK && r != KT_NET_DEFERRED)
		kt_slog(KT_SLOG_ERROR, "net_handler_error", "method=%s error=%s", m->name,
		       kt_errname(r));
	slot_release_request(s);
	memset(&s->call, 0, sizeof s->call);
	reply_init(&d);

	pthread_mutex_lock(&net->mu);
	if (r == KT_NET_DEFERRED && s->state == S_RUNNING && !net->stopping) {
		s->state = S_DEFERRED;
		pthread_mutex_unlock(&net->mu);
		reply_clear(&reply.d);
		return;
	}
	if (r == KT_NET_DEFERRED && s->state == S_RUNNING_DONE) {
		d = s->early;
		reply_init(&s->early);
	} else if (r == KT_NET_DEFERRED) {
		reply_set(&d, KT_GRPC_UNAVAILABLE, "server shutting down");
	} else if (r != KT_OK) {
		reply_set(&d, KT_GRPC_INTERNAL, "internal error");
	} else {
		d = reply.d;
		reply_init(&reply.d);
	}
	/* A kt_net_complete() for a call that was not deferred is dropped. */
	reply_clear(&s->early);
	s->state = S_SENDING;
	s->gen++;
	pthread_mutex_unlock(&net->mu);
	reply_clear(&reply.d);
	start_send(net, s, &d);
}

static void log_unknown_method(const struct kt_net_slot *s)
{
	char name[MAX_METHOD_NAME + 1];
	char q[KT_SLOG_QUOTE_MAX];
	size_t n = GRPC_SLICE_LENGTH(s->cdetails.method);

	if (n > MAX_METHOD_NAME)
		n = MAX_METHOD_NAME;
	memcpy(name, GRPC_SLICE_START_PTR(s->cdetails.method), n);
	name[n] = '\0';
	kt_slog(KT_SLOG_DEBUG, "net_unknown_method", "listener=%u method=%s", s->reg->listener,
	        kt_slog_quote(q, sizeof q, name));
}

static void on_request(kt_net *net, struct kt_net_slot *s, int success)
{
	int stopping;

	pthread_mutex_lock(&net->mu);
	s->reg->posted--;
	net->posted--;
	if (!success) {
		/* The server is shutting down: the request was never matched. */
		slot_release_request(s);
		slot_done_locked(net, s);
		pthread_mutex_unlock(&net->mu);
		return;
	}
	s->state = S_RUNNING;
	s->is_call = 1;
	s->t0_ns = kt_metrics_now_ns();
	net->calls++;
	stopping = net->stopping;
	topup_locked(net, s->reg);
	if (stopping || s->reg->method == NULL)
		s->state = S_SENDING;
	pthread_mutex_unlock(&net->mu);

	if (stopping) {
		slot_release_request(s);
		send_simple(net, s, KT_GRPC_UNAVAILABLE, "server shutting down");
	} else if (s->reg->method == NULL) {
		if (kt_slog_enabled(KT_SLOG_DEBUG))
			log_unknown_method(s);
		slot_release_request(s);
		send_simple(net, s, KT_GRPC_UNIMPLEMENTED, "unknown method");
	} else {
		dispatch(net, s);
	}
}

/* Waits for and handles one completion queue event.  Returns 0 once the
 * queue has been shut down, 1 otherwise. */
static int process_one(kt_net *net)
{
	grpc_event ev;
	struct tag *t;
	struct listener_srv *ls;

	ev = grpc_completion_queue_next(net->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	if (ev.type == GRPC_QUEUE_SHUTDOWN)
		return 0;
	if (ev.type != GRPC_OP_COMPLETE)
		return 1;
	t = ev.tag;
	switch (t->kind) {
	case TAG_REQUEST:
		on_request(net, t->owner, ev.success);
		break;
	case TAG_SEND:
		on_sent(net, t->owner);
		break;
	case TAG_SHUTDOWN:
		ls = t->owner;
		pthread_mutex_lock(&net->mu);
		ls->shutdown_seen = 1;
		pthread_cond_broadcast(&net->cv);
		pthread_mutex_unlock(&net->mu);
		break;
	}
	return 1;
}

static void *worker_main(void *arg)
{
	kt_net *net = arg;

	while (process_one(net)) {
	}
	return NULL;
}

/* ---------- public call API ---------- */

const uint8_t *kt_net_call_metadata(const kt_net_call *call, const char *key, size_t *len)
{
	const grpc_metadata_array *md;
	size_t i, klen;

	if (len != NULL)
		*len = 0;
	if (call == NULL || call->md == NULL || key == NULL || len == NULL)
		return NULL;
	md = call->md;
	klen = strlen(key);
	for (i = 0; i < md->count; i++) {
		const grpc_slice *k = &md->metadata[i].key;
		const grpc_slice *v = &md->metadata[i].value;

		/* Public header names: memcmp is fine. */
		if (GRPC_SLICE_LENGTH(*k) == klen &&
		    memcmp(GRPC_SLICE_START_PTR(*k), key, klen) == 0) {
			*len = GRPC_SLICE_LENGTH(*v);
			return GRPC_SLICE_START_PTR(*v);
		}
	}
	return NULL;
}

int kt_net_complete(kt_net_handle h, int status, const char *details, const void *body,
                    size_t len)
{
	kt_net *net = h.net;
	struct kt_net_slot *s = h.slot;
	struct reply_data d;

	if (net == NULL || s == NULL || (body == NULL && len > 0))
		return KT_ERR_INVALID_ARG;
	reply_init(&d);
	reply_set(&d, status, details);
	if (status == KT_GRPC_OK)
		reply_set_body(&d, grpc_slice_from_copied_buffer(body, len));

	pthread_mutex_lock(&net->mu);
	if (s->gen != h.gen || (s->state != S_RUNNING && s->state != S_DEFERRED)) {
		pthread_mutex_unlock(&net->mu);
		reply_clear(&d);
		return KT_ERR_NET_STALE;
	}
	if (s->state == S_RUNNING) {
		/* The handler has not returned yet: dispatch() sends it. */
		s->early = d;
		s->state = S_RUNNING_DONE;
		pthread_mutex_unlock(&net->mu);
		return KT_OK;
	}
	s->state = S_SENDING;
	s->gen++;
	pthread_mutex_unlock(&net->mu);
	start_send(net, s, &d);
	return KT_OK;
}

void kt_net_set_serving(kt_net *net, int serving)
{
	if (net != NULL)
		atomic_store(&net->serving, serving != 0);
}

uint32_t kt_net_max_message(const kt_net *net)
{
	return net != NULL ? net->max_message : 0;
}

int kt_net_port(const kt_net *net, size_t i)
{
	if (net == NULL || i >= net->n_srvs)
		return 0;
	return net->srvs[i].port;
}

/* ---------- grpc.health.v1.Health/Check ---------- */

static int health_known(const kt_net *net, const char *service)
{
	size_t i;

	if (service == NULL || service[0] == '\0')
		return 1;
	for (i = 0; i < net->n_health; i++) {
		if (strcmp(service, net->health_names[i]) == 0)
			return 1;
	}
	return 0;
}

static int health_check(void *app, const kt_net_call *call, kt_net_reply *reply)
{
	kt_net *net = call->method_arg;
	Grpc__Health__V1__HealthCheckRequest *req;
	Grpc__Health__V1__HealthCheckResponse resp = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
	uint8_t *buf = NULL;
	size_t n;
	int r;

	(void)app;
	req = grpc__health__v1__health_check_request__unpack(NULL, call->body_len, call->body);
	if (req == NULL) {
		kt_net_reply_status(reply, KT_GRPC_INVALID_ARGUMENT, "malformed HealthCheckRequest");
		return KT_OK;
	}
	if (!health_known(net, req->service)) {
		kt_net_reply_status(reply, KT_GRPC_NOT_FOUND, "unknown service");
		r = KT_OK;
		goto out;
	}
	resp.status = atomic_load(&net->serving)
		? GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
		: GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING;
	n = grpc__health__v1__health_check_response__get_packed_size(&resp);
	buf = malloc(n > 0 ? n : 1);
	if (buf == NULL) {
		r = KT_ERR_NOMEM;
		goto out;
	}
	(void)grpc__health__v1__health_check_response__pack(&resp, buf);
	r = kt_net_reply_take_body(reply, buf, n);
	buf = NULL;
out:
	free(buf);
	grpc__health__v1__health_check_request__free_unpacked(req, NULL);
	return r;
}

/* ---------- gRPC's own log lines ---------- */

static void grpc_log_to_kt(gpr_log_func_args *args)
{
	char msg[1024];
	char file[KT_SLOG_QUOTE_MAX];
	kt_slog_level lv = KT_SLOG_INFO;

	if (args->severity == GPR_LOG_SEVERITY_DEBUG)
		lv = KT_SLOG_DEBUG;
	else if (args->severity == GPR_LOG_SEVERITY_ERROR)
		lv = KT_SLOG_ERROR;
	kt_slog(lv, "grpc", "file=%s line=%d msg=%s",
	       kt_slog_quote(file, sizeof file, args->file), args->line,
	       kt_slog_quote(msg, sizeof msg, args->message));
}

/* ---------- start and stop ---------- */

static int valid_method_name(const char *name)
{
	size_t n;
	const char *slash;

	if (name == NULL || name[0] != '/')
		return 0;
	n = strnlen(name, MAX_METHOD_NAME + 1);
	if (n < 4 || n > MAX_METHOD_NAME)
		return 0;
	slash = strchr(name + 1, '/');
	return slash != NULL && slash > name + 1 && slash[1] != '\0' &&
	       strchr(slash + 1, '/') == NULL;
}

static int validate_config(const kt_net_config *cfg)
{
	size_t i, j, nh = 0;
	unsigned all;

	if (cfg == NULL || cfg->listeners == NULL || cfg->n_listeners == 0 ||
	    cfg->n_listeners > KT_NET_MAX_LISTENERS || cfg->n_methods > KT_NET_MAX_METHODS ||
	    (cfg->n_methods > 0 && cfg->methods == NULL) || cfg->workers > KT_NET_MAX_WORKERS ||
	    cfg->max_message > KT_NET_MAX_MAX_MESSAGE ||
	    cfg->max_inflight > KT_NET_MAX_MAX_INFLIGHT)
		return KT_ERR_INVALID_ARG;
	all = (1u << cfg->n_listeners) - 1u;
	for (i = 0; i < cfg->n_listeners; i++) {
		const kt_net_listener *l = &cfg->listeners[i];

		if (l->addr == NULL || l->addr[0] == '\0' ||
		    (l->tls_cert_pem == NULL) != (l->tls_key_pem == NULL) ||
		    (l->tls_client_ca_pem != NULL && l->tls_cert_pem == NULL))
			return KT_ERR_INVALID_ARG;
	}
	for (i = 0; i < cfg->n_methods; i++) {
		const kt_net_method *m = &cfg->methods[i];

		if (!valid_method_name(m->name) || m->handler == NULL ||
		    m->outstanding > KT_NET_MAX_OUTSTANDING || (m->listeners & ~all) != 0 ||
		    strcmp(m->name, HEALTH_CHECK_METHOD) == 0)
			return KT_ERR_INVALID_ARG;
		for (j = 0; j < i; j++) {
			if (strcmp(m->name, cfg->methods[j].name) == 0)
				return KT_ERR_INVALID_ARG;
		}
	}
	if (cfg->health_services != NULL) {
		for (nh = 0; cfg->health_services[nh] != NULL; nh++) {
			if (nh >= KT_NET_MAX_HEALTH_SERVICES ||
			    strnlen(cfg->health_services[nh], MAX_METHOD_NAME + 1) > MAX_METHOD_NAME)
				return KT_ERR_INVALID_ARG;
		}
	}
	return KT_OK;
}

/* Copies the method table (plus Health/Check) and the health names. */
static int copy_tables(kt_net *net, const kt_net_config *cfg)
{
	size_t i, nh = 0;
	struct method *m;

	net->methods = calloc(cfg->n_methods + 1, sizeof *net->methods);
	if (net->methods == NULL)
		return KT_ERR_NOMEM;
	for (i = 0; i < cfg->n_methods; i++) {
		m = &net->methods[i];
		m->name = strdup(cfg->methods[i].name);
		if (m->name == NULL)
			return KT_ERR_NOMEM;
		net->n_methods++;
		m->handler = cfg->methods[i].handler;
		m->arg = cfg->methods[i].arg;
		m->outstanding = cfg->methods[i].outstanding != 0 ? cfg->methods[i].outstanding
		                                                  : KT_NET_DEFAULT_OUTSTANDING;
		m->listeners = cfg->methods[i].listeners;
	}
	m = &net->methods[cfg->n_methods];
	m->name = strdup(HEALTH_CHECK_METHOD);
	if (m->name == NULL)
		return KT_ERR_NOMEM;
	net->n_methods++;
	m->handler = health_check;
	m->arg = net;
	m->outstanding = 2;
	m->listeners = 0;
	for (i = 0; i < net->n_methods; i++)
		net->methods[i].metric = kt_metrics_method_id(net->methods[i].name);
	if (cfg->health_services != NULL) {
		while (cfg->health_services[nh] != NULL)
			nh++;
	}
	net->health_names = calloc(nh + 1, sizeof *net->health_names);
	if (net->health_names == NULL)
		return KT_ERR_NOMEM;
	for (i = 0; i < nh; i++) {
		net->health_names[i] = strdup(cfg->health_services[i]);
		if (net->health_names[i] == NULL)
			return KT_ERR_NOMEM;
		net->n_health++;
	}
	return KT_OK;
}

static grpc_server_credentials *make_creds(const kt_net_listener *l)
{
	grpc_ssl_pem_key_cert_pair pair;
	grpc_ssl_server_certificate_config *cc;
	grpc_ssl_server_credentials_options *opts;

	if (l->tls_cert_pem == NULL)
		return grpc_insecure_server_credentials_create();
	pair.private_key = l->tls_key_pem;
	pair.cert_chain = l->tls_cert_pem;
	cc = grpc_ssl_server_certificate_config_create(l->tls_client_ca_pem, &pair, 1);
	if (cc == NULL)
		return NULL;
	/* Both calls below take ownership of their argument. */
	opts = grpc_ssl_server_credentials_create_options_using_config(
		l->tls_client_ca_pem != NULL
			? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
			: GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE,
		cc);
	if (opts == NULL)
		return NULL;
	return grpc_ssl_server_credentials_create_with_options(opts);
}

/* Creates the server of listener i, registers its methods and binds it. */
static int open_listener(kt_net *net, const kt_net_config *cfg, size_t i)
{
	const kt_net_listener *l = &cfg->listeners[i];
	struct listener_srv *ls = &net->srvs[i];
	grpc_server_credentials *creds;
	grpc_arg args[3];
	grpc_channel_args cargs;
	char q[KT_SLOG_QUOTE_MAX];
	size_t k;

	memset(args, 0, sizeof args);
	args[0].type = GRPC_ARG_INTEGER;
	args[0].key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
	args[0].value.integer = (int)net->max_message;
	args[1].type = GRPC_ARG_INTEGER;
	args[1].key = (char *)GRPC_ARG_MAX_SEND_MESSAGE_LENGTH;
	args[1].value.integer = (int)net->max_message;
	/* Without this two nodes could silently share one port. */
	args[2].type = GRPC_ARG_INTEGER;
	args[2].key = (char *)GRPC_ARG_ALLOW_REUSEPORT;
	args[2].value.integer = 0;
	cargs.num_args = 3;
	cargs.args = args;

	ls->shutdown_tag.kind = TAG_SHUTDOWN;
	ls->shutdown_tag.owner = ls;
	ls->srv = grpc_server_create(&cargs, NULL);
	if (ls->srv == NULL)
		return KT_ERR_INTERNAL;
	net->n_srvs++;
	grpc_server_register_completion_queue(ls->srv, net->cq, NULL);
	for (k = 0; k < net->n_regs; k++) {
		struct reg *rg = &net->regs[k];

		if (rg->listener != i || rg->method == NULL)
			continue;
		rg->handle = grpc_server_register_method(ls->srv, rg->method->name, NULL,
		                                         GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER,
		                                         0);
		if (rg->handle == NULL)
			return KT_ERR_INTERNAL;
	}
	creds = make_creds(l);
	if (creds == NULL) {
		kt_slog(KT_SLOG_ERROR, "net_listen_failed", "addr=%s reason=tls_credentials",
		       kt_slog_quote(q, sizeof q, l->addr));
		return KT_ERR_NET_LISTEN;
	}
	ls->port = grpc_server_add_http2_port(ls->srv, l->addr, creds);
	grpc_server_credentials_release(creds);
	if (ls->port == 0) {
		kt_slog(KT_SLOG_ERROR, "net_listen_failed", "addr=%s tls=%d",
		       kt_slog_quote(q, sizeof q, l->addr), l->tls_cert_pem != NULL);
		return KT_ERR_NET_LISTEN;
	}
	return KT_OK;
}

/* Builds the (method, listener) registrations. */
static int make_regs(kt_net *net, size_t n_listeners)
{
	size_t i, l, n = 0;

	net->regs = calloc((net->n_methods + 1) * n_listeners, sizeof *net->regs);
	if (net->regs == NULL)
		return KT_ERR_NOMEM;
	for (l = 0; l < n_listeners; l++) {
		for (i = 0; i < net->n_methods; i++) {
			struct method *m = &net->methods[i];

			if (m->listeners != 0 && (m->listeners & (1u << l)) == 0)
				continue;
			net->regs[n].method = m;
			net->regs[n].listener = (unsigned)l;
			net->regs[n].target = m->outstanding;
			n++;
		}
		net->regs[n].method = NULL; /* every other method name */
		net->regs[n].listener = (unsigned)l;
		net->regs[n].target = UNKNOWN_OUTSTANDING;
		n++;
	}
	net->n_regs = n;
	return KT_OK;
}

int kt_net_start(const kt_net_config *cfg, kt_net **out)
{
	kt_net *net = NULL;
	size_t i;
	int r;

	if (out != NULL)
		*out = NULL;
	if (out == NULL)
		return KT_ERR_INVALID_ARG;
	r = validate_config(cfg);
	if (r != KT_OK)
		return r;
	net = calloc(1, sizeof *net);
	if (net == NULL)
		return KT_ERR_NOMEM;
	pthread_mutex_init(&net->mu, NULL);
	pthread_cond_init(&net->cv, NULL);
	net->app = cfg->app;
	net->n_workers = cfg->workers != 0 ? cfg->workers : KT_NET_DEFAULT_WORKERS;
	net->max_message = cfg->max_message != 0 ? cfg->max_message : KT_NET_DEFAULT_MAX_MESSAGE;
	net->max_inflight = cfg->max_inflight != 0 ? cfg->max_inflight
	                                           : KT_NET_DEFAULT_MAX_INFLIGHT;
	atomic_store(&net->serving, 0);
	if ((r = copy_tables(net, cfg)) != KT_OK || (r = make_regs(net, cfg->n_listeners)) != KT_OK)
		goto out;

	gpr_set_log_function(grpc_log_to_kt);
	grpc_init();
	net->grpc_inited = 1;
	net->cq = grpc_completion_queue_create_for_next(NULL);
	if (net->cq == NULL) {
		r = KT_ERR_INTERNAL;
		goto out;
	}
	for (i = 0; i < cfg->n_listeners; i++) {
		if ((r = open_listener(net, cfg, i)) != KT_OK)
			goto out;
	}
	for (i = 0; i < net->n_srvs; i++)
		grpc_server_start(net->srvs[i].srv);
	pthread_mutex_lock(&net->mu);
	topup_all_locked(net);
	r = net->starved ? KT_ERR_NOMEM : KT_OK;
	pthread_mutex_unlock(&net->mu);
	if (r != KT_OK)
		goto out;
	for (i = 0; i < net->n_workers; i++) {
		if (pthread_create(&net->threads[i], NULL, worker_main, net) != 0) {
			r = KT_ERR_INTERNAL;
			goto out;
		}
		net->n_threads++;
	}
	for (i = 0; i < net->n_srvs; i++)
		kt_slog(KT_SLOG_INFO, "net_listen", "listener=%zu port=%d tls=%d mtls=%d", i,
		       net->srvs[i].port, cfg->listeners[i].tls_cert_pem != NULL,
		       cfg->listeners[i].tls_client_ca_pem != NULL);
	kt_slog(KT_SLOG_INFO, "net_start", "workers=%u methods=%zu max_message=%u max_inflight=%u",
	       net->n_workers, net->n_methods - 1, net->max_message, net->max_inflight);
	*out = net;
	net = NULL;
out:
	kt_net_free(net);
	return r;
}

/* True once every server reported its shutdown and every slot is back.
 * Caller holds mu. */
static int drained_locked(const kt_net *net)
{
	size_t i;

	for (i = 0; i < net->n_srvs; i++) {
		if (!net->srvs[i].shutdown_seen)
			return 0;
	}
	return net->posted == 0 && net->calls == 0;
}

/* Answers every deferred call with UNAVAILABLE (stopping is set). */
static void force_deferred(kt_net *net)
{
	struct kt_net_slot *s, *forced = NULL;

	pthread_mutex_lock(&net->mu);
	for (s = net->all_slots; s != NULL; s = s->next_all) {
		if (s->state != S_DEFERRED)
			continue;
		s->state = S_SENDING;
		s->gen++;
		s->next_forced = forced;
		forced = s;
	}
	pthread_mutex_unlock(&net->mu);
	while (forced != NULL) {
		s = forced;
		forced = s->next_forced;
		send_simple(net, s, KT_GRPC_UNAVAILABLE, "server shutting down");
	}
}

void kt_net_stop(kt_net *net)
{
	size_t i;

	if (net == NULL || net->stopped)
		return;
	net->stopped = 1;
	if (!net->grpc_inited)
		return;
	pthread_mutex_lock(&net->mu);
	net->stopping = 1;
	pthread_mutex_unlock(&net->mu);
	for (i = 0; i < net->n_srvs; i++) {
		grpc_server_shutdown_and_notify(net->srvs[i].srv, net->cq, &net->srvs[i].shutdown_tag);
		net->srvs[i].shutdown_requested = 1;
	}
	for (i = 0; i < net->n_srvs; i++)
		grpc_server_cancel_all_calls(net->srvs[i].srv);
	force_deferred(net);
	pthread_mutex_lock(&net->mu);
	while (!drained_locked(net)) {
		if (net->n_threads > 0) {
			pthread_cond_wait(&net->cv, &net->mu);
			continue;
		}
		/* kt_net_start failed before any worker ran: drain here. */
		pthread_mutex_unlock(&net->mu);
		(void)process_one(net);
		pthread_mutex_lock(&net->mu);
	}
	pthread_mutex_unlock(&net->mu);
	for (i = 0; i < net->n_srvs; i++)
		grpc_server_destroy(net->srvs[i].srv);
	if (net->cq != NULL) {
		grpc_completion_queue_shutdown(net->cq);
		for (i = 0; i < net->n_threads; i++)
			pthread_join(net->threads[i], NULL);
		if (net->n_threads == 0) {
			while (process_one(net)) {
			}
		}
		grpc_completion_queue_destroy(net->cq);
		net->cq = NULL;
	}
	net->n_threads = 0;
	grpc_shutdown_blocking();
	kt_slog(KT_SLOG_INFO, "net_stop", "listeners=%zu", net->n_srvs);
}

void kt_net_free(kt_net *net)
{
	struct kt_net_slot *s, *next;
	size_t i;

	if (net == NULL)
		return;
	kt_net_stop(net);
	for (s = net->all_slots; s != NULL; s = next) {
		next = s->next_all;
		free(s);
	}
	for (i = 0; i < net->n_methods; i++)
		free(net->methods[i].name);
	free(net->methods);
	for (i = 0; i < net->n_health; i++)
		free(net->health_names[i]);
	free(net->health_names);
	free(net->regs);
	pthread_cond_destroy(&net->cv);
	pthread_mutex_destroy(&net->mu);
	free(net);
}
