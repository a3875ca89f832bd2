/*
 * admin.c — ktctl's minimal keytrail.v1.Admin client: one unary call on
 * the gRPC C core with the admin credential in the metadata
 * (x-keytrail-admin, docs/OPERATIONS.md "Admin credential").  libkeytrail
 * deliberately has no Admin calls; operators' tools carry this.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/status.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include <sodium.h>

#include "ktctl_int.h"

#define ADMIN_MD_KEY "x-keytrail-admin"
#define TOKEN_FILE_MAX 4096
#define ADMIN_MAX_RESPONSE (4 * 1024 * 1024)

void ktctl_admin_result_clear(ktctl_admin_result *r)
{
	if (r == NULL)
		return;
	free(r->details);
	free(r->body);
	memset(r, 0, sizeof(*r));
}

int ktctl_admin_token_read(const char *path, char out[65])
{
	char buf[TOKEN_FILE_MAX];
	struct stat st;
	ssize_t n;
	size_t i;
	int fd, r;

	memset(out, 0, 65);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return KT_ERR_IO;
	if (fstat(fd, &st) != 0) {
		close(fd);
		return KT_ERR_IO;
	}
	if (!S_ISREG(st.st_mode) || (st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		close(fd);
		return KT_ERR_CLIENT_KEY_FILE;
	}
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n < 0)
		return KT_ERR_IO;
	r = KT_ERR_CLIENT_KEY_FILE;
	if (n < 64 || (n > 64 && buf[64] != '\n' && buf[64] != '\r'))
		goto out;
	for (i = 0; i < 64; i++)
		if (!((buf[i] >= '0' && buf[i] <= '9') ||
		      (buf[i] >= 'a' && buf[i] <= 'f') ||
		      (buf[i] >= 'A' && buf[i] <= 'F')))
			goto out;
	memcpy(out, buf, 64);
	out[64] = '\0';
	r = KT_OK;
out:
	sodium_memzero(buf, sizeof(buf));
	return r;
}

/* Everything one call holds; released by call_free. */
struct admin_call {
	grpc_channel *ch;
	grpc_completion_queue *cq;
	grpc_call *call;
	grpc_byte_buffer *send;
	grpc_byte_buffer *recv;
	grpc_metadata_array initial_md;
	grpc_metadata_array trailing_md;
	grpc_metadata md;
	grpc_status_code status;
	grpc_slice details;
	const char *error_string;
};

static void call_free(struct admin_call *ac)
{
	if (ac->send != NULL)
		grpc_byte_buffer_destroy(ac->send);
	if (ac->recv != NULL)
		grpc_byte_buffer_destroy(ac->recv);
	grpc_metadata_array_destroy(&ac->initial_md);
	grpc_metadata_array_destroy(&ac->trailing_md);
	grpc_slice_unref(ac->details);
	/* The credential slice holds a secret; gRPC owns its memory. */
	grpc_slice_unref(ac->md.key);
	grpc_slice_unref(ac->md.value);
	gpr_free((void *)ac->error_string);
	if (ac->call != NULL)
		grpc_call_unref(ac->call);
	if (ac->ch != NULL)
		grpc_channel_destroy(ac->ch);
	if (ac->cq != NULL) {
		/* The one batch has completed: nothing is left queued. */
		grpc_completion_queue_shutdown(ac->cq);
		grpc_completion_queue_destroy(ac->cq);
	}
}

static int open_channel(struct admin_call *ac, const char *target,
			const char *tls_pem)
{
	grpc_channel_credentials *creds;
	grpc_arg args[2];
	grpc_channel_args cargs;

	memset(args, 0, sizeof(args));
	args[0].type = GRPC_ARG_INTEGER;
	args[0].key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
	args[0].value.integer = ADMIN_MAX_RESPONSE;
	args[1].type = GRPC_ARG_INTEGER;
	args[1].key = (char *)GRPC_ARG_ENABLE_RETRIES;
	args[1].value.integer = 0; /* an OperatorUpdate is not idempotent */
	cargs.num_args = 2;
	cargs.args = args;
	if (tls_pem != NULL)
		creds = grpc_ssl_credentials_create(tls_pem, NULL, NULL, NULL);
	else
		creds = grpc_insecure_credentials_create();
	if (creds == NULL)
		return KT_ERR_INTERNAL;
	ac->ch = grpc_channel_create(target, creds, &cargs);
	grpc_channel_credentials_release(creds);
	ac->cq = grpc_completion_queue_create_for_pluck(NULL);
	return ac->ch != NULL && ac->cq != NULL ? KT_OK : KT_ERR_INTERNAL;
}

static int start_ops(struct admin_call *ac)
{
	grpc_op ops[6];

	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[0].data.send_initial_metadata.count = 1;
	ops[0].data.send_initial_metadata.metadata = &ac->md;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = ac->send;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &ac->initial_md;
	ops[4].op = GRPC_OP_RECV_MESSAGE;
	ops[4].data.recv_message.recv_message = &ac->recv;
	ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[5].data.recv_status_on_client.trailing_metadata = &ac->trailing_md;
	ops[5].data.recv_status_on_client.status = &ac->status;
	ops[5].data.recv_status_on_client.status_details = &ac->details;
	ops[5].data.recv_status_on_client.error_string = &ac->error_string;
	return grpc_call_start_batch(ac->call, ops, 6, ac, NULL) == GRPC_CALL_OK
		       ? KT_OK
		       : KT_ERR_INTERNAL;
}

/* Moves status, details and message into res. */
static int take_result(struct admin_call *ac, ktctl_admin_result *res)
{
	grpc_byte_buffer_reader rd;
	grpc_slice s;
	size_t n;

	res->status = (int)ac->status;
	n = GRPC_SLICE_LENGTH(ac->details);
	res->details = malloc(n + 1);
	if (res->details == NULL)
		return KT_ERR_NOMEM;
	memcpy(res->details, GRPC_SLICE_START_PTR(ac->details), n);
	res->details[n] = '\0';
	if (ac->recv == NULL)
		return KT_OK;
	if (!grpc_byte_buffer_reader_init(&rd, ac->recv))
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

int ktctl_admin_call(const char *target, const char *tls_pem,
		     const char *token_hex, const char *method,
		     const uint8_t *req, size_t req_len, uint64_t deadline_ms,
		     ktctl_admin_result *res)
{
	struct admin_call ac;
	grpc_slice slice;
	grpc_event ev;
	gpr_timespec deadline;
	int r;

	if (res == NULL)
		return KT_ERR_INVALID_ARG;
	memset(res, 0, sizeof(*res));
	if (target == NULL || token_hex == NULL || method == NULL ||
	    (req == NULL && req_len > 0) || deadline_ms == 0 ||
	    deadline_ms > 3600000u)
		return KT_ERR_INVALID_ARG;
	grpc_init();
	memset(&ac, 0, sizeof(ac));
	grpc_metadata_array_init(&ac.initial_md);
	grpc_metadata_array_init(&ac.trailing_md);
	ac.details = grpc_empty_slice();
	ac.md.key = grpc_slice_from_static_string(ADMIN_MD_KEY);
	ac.md.value = grpc_slice_from_copied_string(token_hex);
	r = open_channel(&ac, target, tls_pem);
	if (r != KT_OK)
		goto out;
	slice = grpc_slice_from_copied_buffer((const char *)req, req_len);
	ac.send = grpc_raw_byte_buffer_create(&slice, 1);
	grpc_slice_unref(slice);
	deadline = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
				gpr_time_from_millis((int64_t)deadline_ms,
						     GPR_TIMESPAN));
	slice = grpc_slice_from_copied_string(method);
	ac.call = grpc_channel_create_call(ac.ch, NULL, GRPC_PROPAGATE_DEFAULTS,
					   ac.cq, slice, NULL, deadline, NULL);
	grpc_slice_unref(slice);
	if (ac.call == NULL || ac.send == NULL) {
		r = KT_ERR_INTERNAL;
		goto out;
	}
	r = start_ops(&ac);
	if (r != KT_OK)
		goto out;
	/* The call's deadline bounds this wait. */
	ev = grpc_completion_queue_pluck(ac.cq, &ac,
					 gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	if (ev.type != GRPC_OP_COMPLETE || !ev.success) {
		r = KT_ERR_INTERNAL;
		goto out;
	}
	r = take_result(&ac, res);
out:
	call_free(&ac);
	grpc_shutdown_blocking();
	if (r != KT_OK)
		ktctl_admin_result_clear(res);
	return r;
}
