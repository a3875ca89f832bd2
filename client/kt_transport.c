/*
 * kt_transport.c — libkeytrail's transport on the gRPC C core API: one
 * channel per endpoint (created at first use), one unary-call helper, the
 * failover over endpoints and the mapping of gRPC statuses to kt_err codes.
 */
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/status.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include <sodium.h>

#include "client_int.h"

#define ADMIN_MD_KEY "x-keytrail-admin"

_Static_assert(KT_GRPC_DEADLINE_EXCEEDED == GRPC_STATUS_DEADLINE_EXCEEDED &&
		       KT_GRPC_UNAVAILABLE == GRPC_STATUS_UNAVAILABLE &&
		       KT_GRPC_OK == GRPC_STATUS_OK,
	       "gRPC status numbers");

void kt_call_result_clear(kt_call_result *r)
{
	if (r == NULL)
		return;
	free(r->details);
	free(r->body);
	memset(r, 0, sizeof(*r));
}

int kt_client_status_error(int status)
{
	switch (status) {
	case GRPC_STATUS_OK:
		return KT_OK;
	case GRPC_STATUS_UNAVAILABLE:
		return KT_ERR_CLIENT_UNAVAILABLE;
	case GRPC_STATUS_DEADLINE_EXCEEDED:
		return KT_ERR_CLIENT_DEADLINE;
	case GRPC_STATUS_INVALID_ARGUMENT:
	case GRPC_STATUS_OUT_OF_RANGE:
		return KT_ERR_CLIENT_INVALID_REQUEST;
	case GRPC_STATUS_PERMISSION_DENIED:
	case GRPC_STATUS_UNAUTHENTICATED:
		return KT_ERR_CLIENT_DENIED;
	case GRPC_STATUS_FAILED_PRECONDITION:
	case GRPC_STATUS_ABORTED:
		return KT_ERR_CLIENT_PRECONDITION;
	case GRPC_STATUS_RESOURCE_EXHAUSTED:
		return KT_ERR_CLIENT_LIMITED;
	case GRPC_STATUS_NOT_FOUND:
		return KT_ERR_CLIENT_NOT_FOUND;
	default:
		return KT_ERR_CLIENT_SERVER;
	}
}

/* ---- channels ----------------------------------------------------------- */

static void grpc_start(kt_client *c)
{
	if (!c->grpc_up) {
		grpc_init();
		c->grpc_up = 1;
	}
}

int kt_client_transport_creds(kt_client *c, char *err, size_t errlen)
{
	grpc_ssl_pem_key_cert_pair pair;
	char *cert = NULL, *key = NULL;
	int r;

	if (c->tls_pem == NULL)
		return KT_OK;
	if (c->cfg.tls_client_cert != NULL) {
		r = kt_tls_identity_read(c->cfg.tls_client_cert,
					 c->cfg.tls_client_key, &cert, &key,
					 err, errlen);
		if (r != KT_OK)
			return r;
	}
	grpc_start(c);
	pair.cert_chain = cert;
	pair.private_key = key;
	/* gRPC copies the pair; our copy of the key is wiped below. */
	c->creds = grpc_ssl_credentials_create(c->tls_pem,
					       cert != NULL ? &pair : NULL,
					       NULL, NULL);
	r = c->creds != NULL ? KT_OK : KT_ERR_INTERNAL;
	if (r != KT_OK)
		kt_err_format(err, errlen, "cannot make TLS credentials");
	free(cert);
	if (key != NULL) {
		sodium_memzero(key, strlen(key));
		free(key);
	}
	return r;
}

static int channel_get(kt_client *c, size_t i, grpc_channel **out)
{
	grpc_channel_credentials *creds;
	grpc_arg args[2];
	grpc_channel_args cargs;
	const char *target = i == KT_CLIENT_ADMIN_SLOT ? c->cfg.admin_endpoint
						       : c->cfg.endpoints[i];

	*out = NULL;
	if (c->ch[i] != NULL) {
		*out = c->ch[i];
		return KT_OK;
	}
	grpc_start(c);
	if (c->cq == NULL) {
		c->cq = grpc_completion_queue_create_for_pluck(NULL);
		if (c->cq == NULL)
			return KT_ERR_INTERNAL;
	}
	memset(args, 0, sizeof(args));
	args[0].type = GRPC_ARG_INTEGER;
	args[0].key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
	args[0].value.integer = (int)KT_CLIENT_MAX_RESPONSE_BYTES;
	args[1].type = GRPC_ARG_INTEGER;
	args[1].key = (char *)GRPC_ARG_ENABLE_RETRIES;
	args[1].value.integer = 0;
	cargs.num_args = 2;
	cargs.args = args;
	if (c->creds != NULL) {
		c->ch[i] = grpc_channel_create(target, c->creds, &cargs);
	} else {
		creds = grpc_insecure_credentials_create();
		if (creds == NULL)
			return KT_ERR_INTERNAL;
		c->ch[i] = grpc_channel_create(target, creds, &cargs);
		grpc_channel_credentials_release(creds);
	}
	if (c->ch[i] == NULL)
		return KT_ERR_INTERNAL;
	*out = c->ch[i];
	return KT_OK;
}

void kt_client_transport_close(kt_client *c)
{
	size_t i;

	for (i = 0; i <= KT_CLIENT_ADMIN_SLOT; i++) {
		if (c->ch[i] != NULL)
			grpc_channel_destroy(c->ch[i]);
		c->ch[i] = NULL;
	}
	if (c->cq != NULL) {
		grpc_completion_queue_shutdown(c->cq);
		grpc_completion_queue_destroy(c->cq);
		c->cq = NULL;
	}
	if (c->creds != NULL)
		grpc_channel_credentials_release(c->creds);
	c->creds = NULL;
	if (c->grpc_up)
		grpc_shutdown_blocking();
	c->grpc_up = 0;
}

/* ---- one call --------------------------------------------------------------- */

struct one_call {
	grpc_call *call;
	grpc_byte_buffer *send;
	grpc_byte_buffer *recv;
	grpc_metadata_array initial_md;
	grpc_metadata_array trailing_md;
	grpc_status_code status;
	grpc_slice details;
	const char *error_string;
	grpc_metadata md;                /* the admin credential, if any */
	size_t n_md;
};

static void one_call_free(struct one_call *oc)
{
	if (oc->send != NULL)
		grpc_byte_buffer_destroy(oc->send);
	if (oc->recv != NULL)
		grpc_byte_buffer_destroy(oc->recv);
	grpc_metadata_array_destroy(&oc->initial_md);
	grpc_metadata_array_destroy(&oc->trailing_md);
	grpc_slice_unref(oc->details);
	gpr_free((void *)oc->error_string);
	if (oc->n_md > 0) {
		/* The credential slice holds a secret; gRPC owns its memory. */
		grpc_slice_unref(oc->md.key);
		grpc_slice_unref(oc->md.value);
	}
	if (oc->call != NULL)
		grpc_call_unref(oc->call);
}

/* Moves the outcome into res. */
static int one_call_result(struct one_call *oc, kt_call_result *res)
{
	grpc_byte_buffer_reader rd;
	grpc_slice s;
	size_t n;

	res->status = (int)oc->status;
	n = GRPC_SLICE_LENGTH(oc->details);
	res->details = malloc(n + 1);
	if (res->details == NULL)
		return KT_ERR_NOMEM;
	memcpy(res->details, GRPC_SLICE_START_PTR(oc->details), n);
	res->details[n] = '\0';
	if (oc->recv == NULL)
		return KT_OK;
	if (!grpc_byte_buffer_reader_init(&rd, oc->recv))
		return KT_ERR_INTERNAL;
	s = grpc_byte_buffer_reader_readall(&rd);
	grpc_byte_buffer_reader_destroy(&rd);
	n = GRPC_SLICE_LENGTH(s);
	res->body = malloc(n > 0 ? n : 1);
	if (res->body != NULL && n > 0)
		memcpy(res->body, GRPC_SLICE_START_PTR(s), n);
	grpc_slice_unref(s);
	if (res->body == NULL)
		return KT_ERR_NOMEM;
	res->body_len = n;
	return KT_OK;
}

static int start_batch(struct one_call *oc)
{
	grpc_op ops[6];

	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[0].data.send_initial_metadata.count = oc->n_md;
	ops[0].data.send_initial_metadata.metadata = oc->n_md > 0 ? &oc->md : NULL;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = oc->send;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &oc->initial_md;
	ops[4].op = GRPC_OP_RECV_MESSAGE;
	ops[4].data.recv_message.recv_message = &oc->recv;
	ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[5].data.recv_status_on_client.trailing_metadata = &oc->trailing_md;
	ops[5].data.recv_status_on_client.status = &oc->status;
	ops[5].data.recv_status_on_client.status_details = &oc->details;
	ops[5].data.recv_status_on_client.error_string = &oc->error_string;
	return grpc_call_start_batch(oc->call, ops, 6, oc, NULL) == GRPC_CALL_OK
		       ? KT_OK
		       : KT_ERR_INTERNAL;
}

int kt_client_grpc_call(kt_client *c, size_t endpoint, const char *method,
			const uint8_t *req, size_t req_len, kt_call_result *res)
{
	struct one_call oc;
	grpc_channel *ch;
	grpc_slice slice;
	grpc_event ev;
	gpr_timespec deadline;
	int r;

	if (res == NULL)
		return KT_ERR_INVALID_ARG;
	memset(res, 0, sizeof(*res));
	if (c == NULL || method == NULL || (req == NULL && req_len > 0))
		return KT_ERR_INVALID_ARG;
	if (endpoint >= c->cfg.n_endpoints &&
	    (endpoint != KT_CLIENT_ADMIN_SLOT || c->cfg.admin_endpoint == NULL))
		return KT_ERR_INVALID_ARG;
	r = channel_get(c, endpoint, &ch);
	if (r != KT_OK)
		return r;
	memset(&oc, 0, sizeof(oc));
	grpc_metadata_array_init(&oc.initial_md);
	grpc_metadata_array_init(&oc.trailing_md);
	oc.details = grpc_empty_slice();
	if (c->call_admin) {
		oc.md.key = grpc_slice_from_static_string(ADMIN_MD_KEY);
		oc.md.value = grpc_slice_from_copied_string(c->call_admin_token);
		oc.n_md = 1;
	}
	slice = grpc_slice_from_copied_buffer((const char *)req, req_len);
	oc.send = grpc_raw_byte_buffer_create(&slice, 1);
	grpc_slice_unref(slice);
	deadline = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
				gpr_time_from_millis((int64_t)c->cfg.deadline_ms,
						     GPR_TIMESPAN));
	slice = grpc_slice_from_copied_string(method);
	oc.call = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, c->cq,
					   slice, NULL, deadline, NULL);
	grpc_slice_unref(slice);
	if (oc.call == NULL || oc.send == NULL) {
		r = KT_ERR_INTERNAL;
		goto out;
	}
	r = start_batch(&oc);
	if (r != KT_OK)
		goto out;
	/* The call's deadline bounds this wait. */
	ev = grpc_completion_queue_pluck(c->cq, &oc,
					 gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	if (ev.type != GRPC_OP_COMPLETE) {
		grpc_call_cancel(oc.call, NULL);
		(void)grpc_completion_queue_pluck(c->cq, &oc,
						  gpr_inf_future(GPR_CLOCK_REALTIME),
						  NULL);
		r = KT_ERR_INTERNAL;
		goto out;
	}
	r = one_call_result(&oc, res);
out:
	one_call_free(&oc);
	if (r != KT_OK)
		kt_call_result_clear(res);
	return r;
}

/* ---- failover ---------------------------------------------------------------- */

static void keep_status(kt_client *c, const kt_call_result *res)
{
	free(c->last_details);
	c->last_details = NULL;
	c->last_status = res->status;
	if (res->details != NULL)
		c->last_details = strdup(res->details);
}

static int call_endpoint(kt_client *c, size_t i, const char *method,
			 const uint8_t *req, size_t req_len, kt_call_result *res)
{
	const char *target = "hook";

	if (i == KT_CLIENT_ADMIN_SLOT && c->cfg.admin_endpoint != NULL)
		target = c->cfg.admin_endpoint;
	else if (i < c->cfg.n_endpoints)
		target = c->cfg.endpoints[i];
	if (c->cfg.transport != NULL)
		return c->cfg.transport(c->cfg.transport_arg, c, i, target, method,
					req, req_len, res);
	return kt_client_grpc_call(c, i, method, req, req_len, res);
}

/* The read methods: a lagging node's refusal of a tree size is worth
 * another endpoint (an update's refusal is not). */
static int is_read_method(const char *method)
{
	static const char *const reads[] = {
		"/keytrail.v1.Directory/Lookup",
		"/keytrail.v1.Directory/History",
		"/keytrail.v1.Directory/GetCheckpoint",
		"/keytrail.v1.Directory/GetConsistencyProof",
		"/keytrail.v1.Directory/GetEntries",
	};
	size_t i;

	for (i = 0; i < sizeof(reads) / sizeof(reads[0]); i++)
		if (strcmp(method, reads[i]) == 0)
			return 1;
	return 0;
}

/* 1 if the answer is one another endpoint may not give: unreachable, out
 * of time, or (reads) a node behind the tree size asked for.  ktd answers
 * a size above its newest checkpoint (or a last_verified_size above it)
 * with OUT_OF_RANGE, a size it holds no checkpoint for with NOT_FOUND
 * "KT_ERR_NO_CHECKPOINT: ...". */
static int try_next(const char *method, const kt_call_result *res)
{
	static const char no_cp[] = "KT_ERR_NO_CHECKPOINT";

	if (res->status == GRPC_STATUS_UNAVAILABLE ||
	    res->status == GRPC_STATUS_DEADLINE_EXCEEDED)
		return 1;
	if (!is_read_method(method))
		return 0;
	if (res->status == GRPC_STATUS_OUT_OF_RANGE)
		return 1;
	return res->status == GRPC_STATUS_NOT_FOUND && res->details != NULL &&
	       strncmp(res->details, no_cp, sizeof(no_cp) - 1) == 0;
}

/* Calls endpoint i; on an OK answer with a body moves it to *resp. */
static int call_one(kt_client *c, size_t i, const char *method,
		    const uint8_t *req, size_t req_len, kt_call_result *res)
{
	int r;

	memset(res, 0, sizeof(*res));
	r = call_endpoint(c, i, method, req, req_len, res);
	if (r != KT_OK) {
		kt_call_result_clear(res);
		return r;
	}
	keep_status(c, res);
	return KT_OK;
}

static int take_body(kt_call_result *res, uint8_t **resp, size_t *resp_len)
{
	int r = kt_client_status_error(res->status);

	if (r == KT_OK) {
		if (res->body == NULL) {
			r = KT_ERR_CLIENT_PROTOCOL;
		} else {
			*resp = res->body;
			*resp_len = res->body_len;
			res->body = NULL;
		}
	}
	kt_call_result_clear(res);
	return r;
}

int kt_client_call(kt_client *c, const char *method, const uint8_t *req,
		   size_t req_len, uint8_t **resp, size_t *resp_len)
{
	kt_call_result res;
	size_t n, k, i;
	int r = KT_ERR_CLIENT_UNAVAILABLE;

	*resp = NULL;
	*resp_len = 0;
	n = c->cfg.n_endpoints > 0 ? c->cfg.n_endpoints : 1;
	for (k = 0; k < n; k++) {
		i = (c->cur + k) % n;
		r = call_one(c, i, method, req, req_len, &res);
		if (r != KT_OK)
			return r;
		if (k + 1 < n && try_next(method, &res)) {
			r = kt_client_status_error(res.status);
			kt_call_result_clear(&res);
			continue;
		}
		/* This endpoint answered (or it was the last one): keep it
		 * first unless it could not be reached. */
		if (!try_next(method, &res))
			c->cur = i;
		return take_body(&res, resp, resp_len);
	}
	return r;
}

int kt_client_call_admin(kt_client *c, const char *method, const uint8_t *req,
			 size_t req_len, uint8_t **resp, size_t *resp_len)
{
	kt_call_result res;
	int r;

	*resp = NULL;
	*resp_len = 0;
	if (c->cfg.admin_endpoint == NULL)
		return kt_client_call(c, method, req, req_len, resp, resp_len);
	r = call_one(c, KT_CLIENT_ADMIN_SLOT, method, req, req_len, &res);
	return r != KT_OK ? r : take_body(&res, resp, resp_len);
}
