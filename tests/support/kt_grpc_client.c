/*
 * kt_grpc_client.c — gRPC C core test client (see kt_grpc_client.h).
 */
#include "kt_grpc_client.h"

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include <stdlib.h>
#include <string.h>

#define GC_MAX_METADATA 32

struct kt_gc {
	grpc_channel *channel;
	grpc_completion_queue *pluck_cq;
};

/* One call in flight. */
struct gc_call {
	struct gc_call *prev, *next;
	void *user_tag;
	grpc_call *call;
	grpc_metadata md[GC_MAX_METADATA];
	size_t n_md;
	grpc_byte_buffer *send_bb;
	grpc_byte_buffer *recv_bb;
	grpc_metadata_array initial_md;
	grpc_metadata_array trailing_md;
	grpc_status_code status;
	grpc_slice details;
	const char *error_string;
};

struct kt_gc_async {
	kt_gc *gc;
	grpc_completion_queue *cq;
	struct gc_call *pending;
	size_t n_pending;
};

static gpr_timespec deadline_in(int timeout_ms)
{
	if (timeout_ms <= 0)
		return gpr_inf_future(GPR_CLOCK_MONOTONIC);
	return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
	                    gpr_time_from_millis(timeout_ms, GPR_TIMESPAN));
}

static void drain_and_destroy(grpc_completion_queue *cq, int pluck)
{
	grpc_completion_queue_shutdown(cq);
	if (!pluck) {
		while (grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
		       GRPC_QUEUE_SHUTDOWN) {
		}
	}
	grpc_completion_queue_destroy(cq);
}

int kt_gc_open(const char *target, const kt_gc_tls *tls, kt_gc **out)
{
	kt_gc *c;
	grpc_channel_credentials *creds;
	grpc_ssl_pem_key_cert_pair pair;
	grpc_arg args[4];
	grpc_channel_args cargs;

	if (out != NULL)
		*out = NULL;
	if (out == NULL || target == NULL ||
	    (tls != NULL && (tls->root_pem == NULL || (tls->cert_pem == NULL) != (tls->key_pem == NULL))))
		return KT_ERR_INVALID_ARG;
	c = calloc(1, sizeof *c);
	if (c == NULL)
		return KT_ERR_NOMEM;
	grpc_init();
	memset(args, 0, sizeof args);
	args[0].type = GRPC_ARG_INTEGER;
	args[0].key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
	args[0].value.integer = -1;
	args[1].type = GRPC_ARG_INTEGER;
	args[1].key = (char *)GRPC_ARG_MAX_SEND_MESSAGE_LENGTH;
	args[1].value.integer = -1;
	/* Each kt_gc gets its own connection (gRPC would otherwise share one
	 * between channels with equal arguments). */
	args[2].type = GRPC_ARG_INTEGER;
	args[2].key = (char *)GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL;
	args[2].value.integer = 1;
	cargs.num_args = 3;
	cargs.args = args;
	if (tls == NULL) {
		creds = grpc_insecure_credentials_create();
	} else {
		pair.private_key = tls->key_pem;
		pair.cert_chain = tls->cert_pem;
		creds = grpc_ssl_credentials_create(tls->root_pem,
		                                    tls->cert_pem != NULL ? &pair : NULL, NULL, NULL);
		if (tls->server_name != NULL) {
			args[3].type = GRPC_ARG_STRING;
			args[3].key = (char *)GRPC_SSL_TARGET_NAME_OVERRIDE_ARG;
			args[3].value.string = (char *)tls->server_name;
			cargs.num_args = 4;
		}
	}
	if (creds == NULL)
		goto fail;
	c->channel = grpc_channel_create(target, creds, &cargs);
	grpc_channel_credentials_release(creds);
	c->pluck_cq = grpc_completion_queue_create_for_pluck(NULL);
	if (c->channel == NULL || c->pluck_cq == NULL)
		goto fail;
	*out = c;
	return KT_OK;
fail:
	kt_gc_close(c);
	return KT_ERR_INTERNAL;
}

void kt_gc_close(kt_gc *c)
{
	if (c == NULL)
		return;
	if (c->pluck_cq != NULL)
		drain_and_destroy(c->pluck_cq, 1);
	if (c->channel != NULL)
		grpc_channel_destroy(c->channel);
	free(c);
	grpc_shutdown_blocking();
}

void kt_gc_result_clear(kt_gc_result *r)
{
	if (r == NULL)
		return;
	free(r->details);
	free(r->body);
	memset(r, 0, sizeof *r);
}

static void call_free(struct gc_call *gc)
{
	size_t i;

	if (gc == NULL)
		return;
	for (i = 0; i < gc->n_md; i++) {
		grpc_slice_unref(gc->md[i].key);
		grpc_slice_unref(gc->md[i].value);
	}
	if (gc->send_bb != NULL)
		grpc_byte_buffer_destroy(gc->send_bb);
	if (gc->recv_bb != NULL)
		grpc_byte_buffer_destroy(gc->recv_bb);
	grpc_metadata_array_destroy(&gc->initial_md);
	grpc_metadata_array_destroy(&gc->trailing_md);
	grpc_slice_unref(gc->details);
	gpr_free((void *)gc->error_string);
	if (gc->call != NULL)
		grpc_call_unref(gc->call);
	free(gc);
}

/* Creates the call on cq and starts its one batch with tag gc. */
static int call_start(kt_gc *c, grpc_completion_queue *cq, const char *method,
                      const void *req, size_t len, const char *const *md, int timeout_ms,
                      struct gc_call **out)
{
	struct gc_call *gc;
	grpc_slice slice;
	grpc_op ops[6];
	grpc_op *op = ops;
	size_t i;
	int r;

	*out = NULL;
	if (c == NULL || method == NULL || (req == NULL && len > 0))
		return KT_ERR_INVALID_ARG;
	gc = calloc(1, sizeof *gc);
	if (gc == NULL)
		return KT_ERR_NOMEM;
	grpc_metadata_array_init(&gc->initial_md);
	grpc_metadata_array_init(&gc->trailing_md);
	gc->details = grpc_empty_slice();
	for (i = 0; md != NULL && md[i] != NULL; i += 2) {
		if (md[i + 1] == NULL || gc->n_md == GC_MAX_METADATA) {
			r = KT_ERR_INVALID_ARG;
			goto fail;
		}
		gc->md[gc->n_md].key = grpc_slice_from_copied_string(md[i]);
		gc->md[gc->n_md].value = grpc_slice_from_copied_string(md[i + 1]);
		gc->n_md++;
	}
	slice = grpc_slice_from_copied_buffer(req, len);
	gc->send_bb = grpc_raw_byte_buffer_create(&slice, 1);
	grpc_slice_unref(slice);

	slice = grpc_slice_from_copied_string(method);
	gc->call = grpc_channel_create_call(c->channel, NULL, GRPC_PROPAGATE_DEFAULTS, cq, slice,
	                                    NULL, deadline_in(timeout_ms), NULL);
	grpc_slice_unref(slice);
	if (gc->call == NULL) {
		r = KT_ERR_INTERNAL;
		goto fail;
	}
	memset(ops, 0, sizeof ops);
	op->op = GRPC_OP_SEND_INITIAL_METADATA;
	op->data.send_initial_metadata.count = gc->n_md;
	op->data.send_initial_metadata.metadata = gc->n_md > 0 ? gc->md : NULL;
	op++;
	op->op = GRPC_OP_SEND_MESSAGE;
	op->data.send_message.send_message = gc->send_bb;
	op++;
	op->op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	op++;
	op->op = GRPC_OP_RECV_INITIAL_METADATA;
	op->data.recv_initial_metadata.recv_initial_metadata = &gc->initial_md;
	op++;
	op->op = GRPC_OP_RECV_MESSAGE;
	op->data.recv_message.recv_message = &gc->recv_bb;
	op++;
	op->op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	op->data.recv_status_on_client.trailing_metadata = &gc->trailing_md;
	op->data.recv_status_on_client.status = &gc->status;
	op->data.recv_status_on_client.status_details = &gc->details;
	op->data.recv_status_on_client.error_string = &gc->error_string;
	op++;
	if (grpc_call_start_batch(gc->call, ops, (size_t)(op - ops), gc, NULL) != GRPC_CALL_OK) {
		r = KT_ERR_INTERNAL;
		goto fail;
	}
	*out = gc;
	return KT_OK;
fail:
	call_free(gc);
	return r;
}

/* Moves the outcome of a finished call into res and frees the call. */
static int call_finish(struct gc_call *gc, kt_gc_result *res)
{
	grpc_byte_buffer_reader rd;
	grpc_slice s;
	size_t n;
	int r = KT_OK;

	res->status = (int)gc->status;
	n = GRPC_SLICE_LENGTH(gc->details);
	res->details = malloc(n + 1);
	if (res->details == NULL) {
		r = KT_ERR_NOMEM;
		goto out;
	}
	memcpy(res->details, GRPC_SLICE_START_PTR(gc->details), n);
	res->details[n] = '\0';
	if (gc->recv_bb != NULL) {
		if (!grpc_byte_buffer_reader_init(&rd, gc->recv_bb)) {
			r = KT_ERR_INTERNAL;
			goto out;
		}
		s = grpc_byte_buffer_reader_readall(&rd);
		grpc_byte_buffer_reader_destroy(&rd);
		n = GRPC_SLICE_LENGTH(s);
		res->body = malloc(n > 0 ? n : 1);
		if (res->body != NULL && n > 0)
			memcpy(res->body, GRPC_SLICE_START_PTR(s), n);
		grpc_slice_unref(s);
		if (res->body == NULL) {
			r = KT_ERR_NOMEM;
			goto out;
		}
		res->body_len = n;
		res->has_body = 1;
	}
out:
	call_free(gc);
	if (r != KT_OK)
		kt_gc_result_clear(res);
	return r;
}

int kt_gc_call(kt_gc *c, const char *method, const void *req, size_t len,
               const char *const *md, int timeout_ms, kt_gc_result *res)
{
	struct gc_call *gc;
	grpc_event ev;
	int r;

	if (res == NULL)
		return KT_ERR_INVALID_ARG;
	kt_gc_result_clear(res);
	if (c == NULL)
		return KT_ERR_INVALID_ARG;
	r = call_start(c, c->pluck_cq, method, req, len, md, timeout_ms, &gc);
	if (r != KT_OK)
		return r;
	/* The call's own deadline bounds this wait. */
	ev = grpc_completion_queue_pluck(c->pluck_cq, gc, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	if (ev.type != GRPC_OP_COMPLETE) {
		grpc_call_cancel(gc->call, NULL);
		(void)grpc_completion_queue_pluck(c->pluck_cq, gc,
		                                  gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
		call_free(gc);
		return KT_ERR_INTERNAL;
	}
	return call_finish(gc, res);
}

int kt_gc_async_new(kt_gc *c, kt_gc_async **out)
{
	kt_gc_async *a;

	if (out != NULL)
		*out = NULL;
	if (c == NULL || out == NULL)
		return KT_ERR_INVALID_ARG;
	a = calloc(1, sizeof *a);
	if (a == NULL)
		return KT_ERR_NOMEM;
	a->gc = c;
	a->cq = grpc_completion_queue_create_for_next(NULL);
	if (a->cq == NULL) {
		free(a);
		return KT_ERR_INTERNAL;
	}
	*out = a;
	return KT_OK;
}

int kt_gc_async_start(kt_gc_async *a, const char *method, const void *req, size_t len,
                      const char *const *md, int timeout_ms, void *tag)
{
	struct gc_call *gc;
	int r;

	if (a == NULL)
		return KT_ERR_INVALID_ARG;
	r = call_start(a->gc, a->cq, method, req, len, md, timeout_ms, &gc);
	if (r != KT_OK)
		return r;
	gc->user_tag = tag;
	gc->next = a->pending;
	if (a->pending != NULL)
		a->pending->prev = gc;
	a->pending = gc;
	a->n_pending++;
	return KT_OK;
}

static void unlink_call(kt_gc_async *a, struct gc_call *gc)
{
	if (gc->prev != NULL)
		gc->prev->next = gc->next;
	else
		a->pending = gc->next;
	if (gc->next != NULL)
		gc->next->prev = gc->prev;
	a->n_pending--;
}

int kt_gc_async_next(kt_gc_async *a, int timeout_ms, void **tag, kt_gc_result *res)
{
	grpc_event ev;
	struct gc_call *gc;
	gpr_timespec dl;

	if (a == NULL || tag == NULL || res == NULL)
		return KT_ERR_INVALID_ARG;
	*tag = NULL;
	kt_gc_result_clear(res);
	if (a->n_pending == 0)
		return 0;
	dl = timeout_ms < 0 ? gpr_inf_future(GPR_CLOCK_MONOTONIC) : deadline_in(timeout_ms);
	if (timeout_ms == 0)
		dl = gpr_now(GPR_CLOCK_MONOTONIC);
	ev = grpc_completion_queue_next(a->cq, dl, NULL);
	if (ev.type == GRPC_QUEUE_TIMEOUT)
		return 0;
	if (ev.type != GRPC_OP_COMPLETE)
		return KT_ERR_INTERNAL;
	gc = ev.tag;
	unlink_call(a, gc);
	*tag = gc->user_tag;
	return call_finish(gc, res) == KT_OK ? 1 : KT_ERR_NOMEM;
}

size_t kt_gc_async_pending(const kt_gc_async *a)
{
	return a != NULL ? a->n_pending : 0;
}

void kt_gc_async_free(kt_gc_async *a)
{
	struct gc_call *gc;
	grpc_event ev;

	if (a == NULL)
		return;
	for (gc = a->pending; gc != NULL; gc = gc->next)
		grpc_call_cancel(gc->call, NULL);
	while (a->n_pending > 0) {
		ev = grpc_completion_queue_next(a->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
		if (ev.type != GRPC_OP_COMPLETE)
			continue;
		gc = ev.tag;
		unlink_call(a, gc);
		call_free(gc);
	}
	drain_and_destroy(a->cq, 0);
	free(a);
}
