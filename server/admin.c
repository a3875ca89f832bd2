/*
 * admin.c — keytrail.v1.Admin handlers of ktd (see service.h).
 *
 * Every call carries the admin credential in the metadata key
 * "x-keytrail-admin": the node's admin token as 64 hex digits.  It is
 * decoded with libsodium's constant-time hex decoder and compared with
 * sodium_memcmp.  Answers:
 *   no admin token configured     PERMISSION_DENIED (KT_ERR_ADMIN_DENIED)
 *   no credential in the call     UNAUTHENTICATED   (KT_ERR_ADMIN_DENIED)
 *   malformed or wrong credential PERMISSION_DENIED (KT_ERR_ADMIN_DENIED)
 */
#include "service.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "keytrail/v1/admin.pb-c.h"
#include "log.h"
#include "metrics.h"

/* Checks the call's credential; on failure sets the rejection and returns
 * an error. */
static int admin_check(kt_service *s, const kt_net_call *call,
		       kt_net_reply *reply)
{
	const kt_node_keys *keys = kt_node_keys_get(kt_service_node(s));
	uint8_t tok[KT_ADMIN_TOKEN_BYTES];
	char hex[2 * KT_ADMIN_TOKEN_BYTES];
	const uint8_t *v;
	size_t len = 0, bin_len = 0;
	int ok;

	if (!keys->has_admin_token) {
		kt_metrics_admin_denied(KT_METRICS_DENY_DISABLED);
		kt_service_reject_status(reply, KT_GRPC_PERMISSION_DENIED,
					 KT_ERR_ADMIN_DENIED,
					 "admin service disabled: no admin_token_file");
		return KT_ERR_ADMIN_DENIED;
	}
	v = kt_net_call_metadata(call, KT_ADMIN_METADATA, &len);
	if (v == NULL) {
		kt_slog(KT_SLOG_WARN, "admin_denied",
			"method=%s peer=%s reason=no_credential", call->method,
			call->peer);
		kt_metrics_admin_denied(KT_METRICS_DENY_NO_CREDENTIAL);
		kt_service_reject_status(reply, KT_GRPC_UNAUTHENTICATED,
					 KT_ERR_ADMIN_DENIED,
					 "metadata " KT_ADMIN_METADATA " missing");
		return KT_ERR_ADMIN_DENIED;
	}
	ok = len == sizeof(hex);
	if (ok) {
		memcpy(hex, v, sizeof(hex));
		ok = sodium_hex2bin(tok, sizeof(tok), hex, sizeof(hex), NULL,
				    &bin_len, NULL) == 0 &&
		     bin_len == sizeof(tok);
	}
	/* Compare even a malformed credential, so that timing says nothing
	 * about which check failed. */
	if (!ok)
		memset(tok, 0, sizeof(tok));
	ok = sodium_memcmp(tok, keys->admin_token, sizeof(tok)) == 0 && ok;
	sodium_memzero(tok, sizeof(tok));
	sodium_memzero(hex, sizeof(hex));
	if (!ok) {
		kt_slog(KT_SLOG_WARN, "admin_denied",
			"method=%s peer=%s reason=bad_credential", call->method,
			call->peer);
		kt_metrics_admin_denied(KT_METRICS_DENY_BAD_CREDENTIAL);
		kt_service_reject_status(reply, KT_GRPC_PERMISSION_DENIED,
					 KT_ERR_ADMIN_DENIED,
					 "metadata " KT_ADMIN_METADATA);
		return KT_ERR_ADMIN_DENIED;
	}
	return KT_OK;
}

#define OPS_OPERATOR ((1u << KT_OP_ADD_DEVICE) | (1u << KT_OP_REMOVE_DEVICE) | \
		      (1u << KT_OP_SET_PUSH))

int kt_admin_operator_update(void *app, const kt_net_call *call,
			     kt_net_reply *reply)
{
	kt_service *s = app;
	Keytrail__V1__OperatorUpdateRequest *req = NULL;
	kt_service_account acct;
	kt_update_op op;
	kt_provenance pv;
	const char *field = NULL;
	size_t reason_len;
	int rc, status, ret = KT_OK;
	char q[KT_SLOG_QUOTE_MAX];

	memset(&acct, 0, sizeof(acct));
	memset(&pv, 0, sizeof(pv));
	if (admin_check(s, call, reply) != KT_OK)
		return KT_OK;
	req = keytrail__v1__operator_update_request__unpack(NULL, call->body_len,
							    call->body);
	if (req == NULL) {
		kt_service_reject(call, reply, KT_ERR_INVALID_ARG,
				  "request: malformed protobuf");
		return KT_OK;
	}
	/* stateless: account, reason, operation */
	field = "account";
	rc = kt_account_check(req->account.data, req->account.len);
	if (rc != KT_OK)
		goto reject;
	field = "reason";
	reason_len = req->reason != NULL ? strlen(req->reason) : 0;
	if (reason_len < KT_REASON_MIN)
		rc = KT_ERR_BAD_LENGTH;
	else if (reason_len > KT_REASON_MAX)
		rc = KT_ERR_TOO_LARGE;
	else
		rc = kt_utf8_check((const uint8_t *)req->reason, reason_len);
	if (rc != KT_OK)
		goto reject;
	rc = kt_service_op_check(req->operation.data, req->operation.len,
				 OPS_OPERATOR, &op, &field);
	if (rc != KT_OK)
		goto reject;
	/* state: an operator may create an account by adding a device */
	field = "account";
	rc = kt_service_account_load(s, req->account.data, req->account.len, &acct);
	if (rc == KT_OK && !acct.known && op.op != KT_OP_ADD_DEVICE)
		rc = KT_ERR_NO_ACCOUNT;
	if (rc != KT_OK)
		goto reject;
	rc = kt_service_change_check(s, &acct, req->expected_version, &op,
				     &status, &field);
	if (rc != KT_OK) {
		kt_service_reject_status(reply, status, rc, field);
		goto out;
	}
	pv.type = KT_PROV_OPERATOR;
	pv.op = op;
	memcpy(pv.reason, req->reason, reason_len);
	pv.reason_len = reason_len;
	kt_slog(KT_SLOG_INFO, "operator_update", "op=%u expected_version=%llu "
		"peer=%s reason=%s", op.op,
		(unsigned long long)req->expected_version, call->peer,
		kt_slog_quote(q, sizeof(q), req->reason));
	ret = kt_service_submit(s, call, reply, req->account.data,
				req->account.len, &acct, req->expected_version,
				&pv, 1);
	goto out;
reject:
	kt_service_reject(call, reply, rc, field);
out:
	kt_service_account_clear(&acct);
	keytrail__v1__operator_update_request__free_unpacked(req, NULL);
	return ret;
}

int kt_admin_status(void *app, const kt_net_call *call, kt_net_reply *reply)
{
	kt_service *s = app;
	kt_node *n = kt_service_node(s);
	const kt_node_keys *keys = kt_node_keys_get(n);
	Keytrail__V1__StatusRequest *req;
	Keytrail__V1__StatusResponse resp = KEYTRAIL__V1__STATUS_RESPONSE__INIT;
	kt_apply_head head;
	uint64_t applied = 0;
	uint8_t *buf;
	size_t len;

	if (admin_check(s, call, reply) != KT_OK)
		return KT_OK;
	req = keytrail__v1__status_request__unpack(NULL, call->body_len, call->body);
	if (req == NULL) {
		kt_service_reject(call, reply, KT_ERR_INVALID_ARG,
				  "request: malformed protobuf");
		return KT_OK;
	}
	keytrail__v1__status_request__free_unpacked(req, NULL);
	kt_node_head(n, &head);
	if (kt_storage_applied_index(kt_node_storage(n), &applied) != KT_OK)
		applied = 0;
	resp.tree_size = head.tree_size;
	resp.accounts = head.accounts;
	/* the log signer's name is the origin (NUL-terminated) */
	resp.origin = (char *)(uintptr_t)keys->log_signer.pub.name;
	resp.role = (char *)(uintptr_t)"single";
	resp.applied_index = applied;
	len = keytrail__v1__status_response__get_packed_size(&resp);
	buf = malloc(len != 0 ? len : 1);
	if (buf == NULL) {
		kt_service_reject(call, reply, KT_ERR_NOMEM, NULL);
		return KT_OK;
	}
	keytrail__v1__status_response__pack(&resp, buf);
	if (kt_net_reply_take_body(reply, buf, len) != KT_OK) {
		free(buf);
		kt_service_reject(call, reply, KT_ERR_INTERNAL, "response");
	}
	return KT_OK;
}
