/*
 * kt_update.c — device-signed updates, enrolment, and the operator's
 * changes through keytrail.v1.Admin.  Each first learns the account's
 * current version from a verified lookup and binds the update to it
 * (expected_version), so a replayed update cannot apply.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "keytrail/v1/admin.pb-c.h"
#include "proto_int.h"

#define ADMIN_TOKEN_HEX 64

/* What one update sends besides the operation. */
typedef struct upd_auth {
	const kt_device_keys *signer;        /* device-signed, or NULL */
	const kt_registrar_token *token;     /* enrolment, or NULL */
	const char *admin_token;             /* operator (Admin), or NULL */
	const char *reason;                  /* operator: 1..1024 UTF-8 */
} upd_auth;

static int enc_op(const kt_update_op *op, uint8_t **out, size_t *len)
{
	kt_wbuf w;

	kt_wbuf_init(&w, KT_UPDATE_OP_MAX_BYTES);
	if (kt_update_op_encode(&w, op) != KT_OK) {
		kt_wbuf_free(&w);
		*out = NULL;
		*len = 0;
		return KT_ERR_INVALID_ARG;
	}
	return kt_wbuf_take(&w, out, len);
}

/* The device's typed signature over the update message. */
static int sign_update(const kt_device_keys *signer, const uint8_t *account,
		       size_t account_len, const kt_update_op *op,
		       uint64_t version, uint8_t sig_out[KT_SIGNATURE_BYTES])
{
	kt_signature sig;
	kt_wbuf w;
	int r;

	kt_wbuf_init(&w, KT_UPDATE_MESSAGE_MAX_BYTES);
	r = kt_update_message(&w, account, account_len, op, version);
	if (r == KT_OK)
		r = kt_wbuf_error(&w);
	if (r == KT_OK)
		r = kt_sig_sign(&sig, signer->sign_sk, w.data, w.len);
	kt_wbuf_free(&w);
	if (r != KT_OK)
		return r == KT_ERR_NOMEM ? r : KT_ERR_INVALID_ARG;
	kt_wbuf_init(&w, KT_SIGNATURE_BYTES);
	r = kt_signature_encode(&w, &sig);
	if (r == KT_OK && w.len == KT_SIGNATURE_BYTES)
		memcpy(sig_out, w.data, KT_SIGNATURE_BYTES);
	else if (r == KT_OK)
		r = KT_ERR_INTERNAL;
	kt_wbuf_free(&w);
	return r;
}

/* Typed key and signature of a registrar token. */
static int enc_token(const kt_registrar_token *t,
		     uint8_t key[KT_SIGN_KEY_BYTES],
		     uint8_t sig[KT_SIGNATURE_BYTES])
{
	kt_sign_key k;
	kt_signature s;
	kt_wbuf w;
	int r;

	k.type = KT_SIGN_KEY_ED25519;
	memcpy(k.pk, t->registrar_pk, sizeof(k.pk));
	s.type = KT_SIG_ED25519;
	memcpy(s.sig, t->signature, sizeof(s.sig));
	kt_wbuf_init(&w, KT_SIGN_KEY_BYTES + KT_SIGNATURE_BYTES);
	r = kt_sign_key_encode(&w, &k);
	if (r == KT_OK)
		r = kt_signature_encode(&w, &s);
	if (r == KT_OK && w.len == KT_SIGN_KEY_BYTES + KT_SIGNATURE_BYTES) {
		memcpy(key, w.data, KT_SIGN_KEY_BYTES);
		memcpy(sig, w.data + KT_SIGN_KEY_BYTES, KT_SIGNATURE_BYTES);
	} else if (r == KT_OK) {
		r = KT_ERR_INTERNAL;
	}
	kt_wbuf_free(&w);
	return r;
}

/* A fresh verified lookup (its trust state persisted): the version to
 * bind the update to. */
static int current_version(kt_client *c, const uint8_t *account,
			   size_t account_len, uint64_t *version)
{
	kt_verified_head head;
	kt_lookup_result res;
	kt_trust_state nt;
	int r;

	*version = 0;
	r = kt_client_verified_lookup(c, account, account_len, &head, &res, &nt);
	if (r == KT_OK) {
		*version = res.leaf.present ? res.leaf.leaf.version : 0;
		r = kt_client_commit_trust(c, &nt);
	}
	kt_verified_head_free(&head);
	kt_lookup_result_free(&res);
	kt_trust_state_free(&nt);
	return r;
}

/* keytrail.v1.Admin/OperatorUpdate of the encoded op at version, with the
 * admin credential in the call's metadata (wiped after the call). */
static int send_admin(kt_client *c, const uint8_t *account, size_t account_len,
		      const uint8_t *opb, size_t oplen, uint64_t version,
		      const upd_auth *auth, kt_update_result *res)
{
	Keytrail__V1__OperatorUpdateRequest req =
		KEYTRAIL__V1__OPERATOR_UPDATE_REQUEST__INIT;
	Keytrail__V1__OperatorUpdateResponse *resp;
	uint8_t *reqb = NULL, *body = NULL;
	size_t n, len = 0;
	int r;

	req.account.data = (uint8_t *)(uintptr_t)account;
	req.account.len = account_len;
	req.operation.data = (uint8_t *)(uintptr_t)opb;
	req.operation.len = oplen;
	req.expected_version = version;
	req.reason = (char *)(uintptr_t)auth->reason;
	n = protobuf_c_message_get_packed_size(&req.base);
	reqb = malloc(n > 0 ? n : 1);
	if (reqb == NULL)
		return KT_ERR_NOMEM;
	if (protobuf_c_message_pack(&req.base, reqb) != n) {
		free(reqb);
		return KT_ERR_INTERNAL;
	}
	memcpy(c->call_admin_token, auth->admin_token, ADMIN_TOKEN_HEX);
	c->call_admin_token[ADMIN_TOKEN_HEX] = '\0';
	c->call_admin = 1;
	r = kt_client_call_admin(c, "/keytrail.v1.Admin/OperatorUpdate", reqb, n,
				 &body, &len);
	c->call_admin = 0;
	sodium_memzero(c->call_admin_token, sizeof(c->call_admin_token));
	free(reqb);
	if (r != KT_OK)
		return r;
	resp = keytrail__v1__operator_update_response__unpack(NULL, len, body);
	free(body);
	if (resp == NULL)
		return KT_ERR_CLIENT_PROTOCOL;
	res->version = resp->version;
	res->log_index = resp->log_index;
	keytrail__v1__operator_update_response__free_unpacked(resp, NULL);
	return KT_OK;
}

static int send_update(kt_client *c, const uint8_t *account, size_t account_len,
		       const kt_update_op *op, const upd_auth *auth,
		       kt_update_result *res)
{
	Keytrail__V1__UpdateRequest req = KEYTRAIL__V1__UPDATE_REQUEST__INIT;
	Keytrail__V1__RegistrarToken tok = KEYTRAIL__V1__REGISTRAR_TOKEN__INIT;
	Keytrail__V1__UpdateResponse *resp;
	uint8_t sig[KT_SIGNATURE_BYTES], tkey[KT_SIGN_KEY_BYTES];
	uint8_t *opb = NULL, *body = NULL;
	size_t oplen = 0, len = 0;
	uint64_t version;
	int r;

	r = enc_op(op, &opb, &oplen);
	if (r != KT_OK)
		return r;
	r = current_version(c, account, account_len, &version);
	if (r != KT_OK)
		goto out;
	if (auth->admin_token != NULL) {
		r = send_admin(c, account, account_len, opb, oplen, version, auth,
			       res);
		goto out;
	}
	req.account.data = (uint8_t *)(uintptr_t)account;
	req.account.len = account_len;
	req.operation.data = opb;
	req.operation.len = oplen;
	req.expected_version = version;
	if (auth->signer != NULL) {
		r = sign_update(auth->signer, account, account_len, op, version, sig);
		if (r != KT_OK)
			goto out;
		req.device_id.data = (uint8_t *)(uintptr_t)auth->signer->id;
		req.device_id.len = auth->signer->id_len;
		req.signature.data = sig;
		req.signature.len = sizeof(sig);
	} else {
		r = enc_token(auth->token, tkey, sig);
		if (r != KT_OK)
			goto out;
		tok.registrar_key.data = tkey;
		tok.registrar_key.len = sizeof(tkey);
		tok.expiry_ms = auth->token->expiry_ms;
		tok.signature.data = sig;
		tok.signature.len = sizeof(sig);
		req.token = &tok;
	}
	r = kt_proto_call(c, "/keytrail.v1.Directory/Update", &req.base, &body,
			  &len);
	if (r != KT_OK)
		goto out;
	resp = keytrail__v1__update_response__unpack(NULL, len, body);
	if (resp == NULL) {
		r = KT_ERR_CLIENT_PROTOCOL;
		goto out;
	}
	res->version = resp->version;
	res->log_index = resp->log_index;
	keytrail__v1__update_response__free_unpacked(resp, NULL);
out:
	free(opb);
	free(body);
	return r;
}

/* begin / send / end, with the result reset on failure. */
static int run_update(kt_client *c, const uint8_t *account, size_t account_len,
		      const kt_update_op *op, const upd_auth *auth,
		      kt_update_result *res)
{
	kt_update_result tmp;
	int r;

	memset(&tmp, 0, sizeof(tmp));
	if (res != NULL)
		memset(res, 0, sizeof(*res));
	if (kt_account_check(account, account_len) != KT_OK)
		return KT_ERR_INVALID_ARG;
	r = kt_client_begin(c);
	if (r != KT_OK)
		return r;
	r = send_update(c, account, account_len, op, auth, &tmp);
	kt_client_end(c);
	if (r == KT_OK && res != NULL)
		*res = tmp;
	return r;
}

static int id_ok(const uint8_t *id, size_t len)
{
	return id != NULL && len >= KT_DEVICE_ID_MIN && len <= KT_DEVICE_ID_MAX;
}

int kt_client_enroll(kt_client *c, const uint8_t *account, size_t account_len,
		     const kt_device_spec *device,
		     const kt_registrar_token *token, kt_update_result *res)
{
	kt_update_op op;
	upd_auth auth = {NULL, token, NULL, NULL};

	if (res != NULL)
		memset(res, 0, sizeof(*res));
	memset(&op, 0, sizeof(op));
	if (c == NULL || token == NULL ||
	    kt_client_spec_to_device(device, &op.device) != KT_OK)
		return KT_ERR_INVALID_ARG;
	op.op = KT_OP_ENROL;
	return run_update(c, account, account_len, &op, &auth, res);
}

int kt_client_add_device(kt_client *c, const uint8_t *account,
			 size_t account_len, const kt_device_keys *signer,
			 const kt_device_spec *device, kt_update_result *res)
{
	kt_update_op op;
	upd_auth auth = {signer, NULL, NULL, NULL};

	if (res != NULL)
		memset(res, 0, sizeof(*res));
	memset(&op, 0, sizeof(op));
	if (c == NULL || signer == NULL ||
	    kt_client_spec_to_device(device, &op.device) != KT_OK)
		return KT_ERR_INVALID_ARG;
	op.op = KT_OP_ADD_DEVICE;
	return run_update(c, account, account_len, &op, &auth, res);
}

int kt_client_remove_device(kt_client *c, const uint8_t *account,
			    size_t account_len, const kt_device_keys *signer,
			    const uint8_t *id, size_t id_len,
			    kt_update_result *res)
{
	kt_update_op op;
	upd_auth auth = {signer, NULL, NULL, NULL};

	if (res != NULL)
		memset(res, 0, sizeof(*res));
	if (c == NULL || signer == NULL || !id_ok(id, id_len))
		return KT_ERR_INVALID_ARG;
	memset(&op, 0, sizeof(op));
	op.op = KT_OP_REMOVE_DEVICE;
	memcpy(op.device_id, id, id_len);
	op.device_id_len = id_len;
	return run_update(c, account, account_len, &op, &auth, res);
}

/* 64 hex digits and nothing else. */
static int admin_token_ok(const char *t)
{
	size_t i;

	if (t == NULL || strlen(t) != ADMIN_TOKEN_HEX)
		return 0;
	for (i = 0; i < ADMIN_TOKEN_HEX; i++)
		if (!((t[i] >= '0' && t[i] <= '9') || (t[i] >= 'a' && t[i] <= 'f') ||
		      (t[i] >= 'A' && t[i] <= 'F')))
			return 0;
	return 1;
}

static int reason_ok(const char *reason)
{
	size_t n;

	if (reason == NULL)
		return 0;
	n = strlen(reason);
	return n >= KT_REASON_MIN && n <= KT_REASON_MAX &&
	       kt_utf8_check((const uint8_t *)reason, n) == KT_OK;
}

/* The public operation in kt_types form (not enrol: the operator may not). */
static int admin_op(const kt_admin_op *in, kt_update_op *op)
{
	memset(op, 0, sizeof(*op));
	if (in == NULL)
		return KT_ERR_INVALID_ARG;
	switch (in->operation) {
	case KT_OPERATION_ADD_DEVICE:
		op->op = KT_OP_ADD_DEVICE;
		return kt_client_spec_to_device(&in->device, &op->device);
	case KT_OPERATION_REMOVE_DEVICE:
	case KT_OPERATION_SET_PUSH:
		if (!id_ok(in->id, in->id_len))
			return KT_ERR_INVALID_ARG;
		op->op = (uint8_t)in->operation;
		memcpy(op->device_id, in->id, in->id_len);
		op->device_id_len = in->id_len;
		if (in->operation == KT_OPERATION_REMOVE_DEVICE)
			return KT_OK;
		if (in->push_len > KT_PUSH_ADDRESS_MAX ||
		    (in->push == NULL && in->push_len > 0))
			return KT_ERR_INVALID_ARG;
		if (in->push_len > 0)
			memcpy(op->push, in->push, in->push_len);
		op->push_len = in->push_len;
		return KT_OK;
	default:
		return KT_ERR_INVALID_ARG;
	}
}

int kt_client_admin_update(kt_client *c, const char *admin_token,
			   const uint8_t *account, size_t account_len,
			   const kt_admin_op *op, const char *reason,
			   kt_update_result *res)
{
	kt_update_op uop;
	upd_auth auth = {NULL, NULL, admin_token, reason};

	if (res != NULL)
		memset(res, 0, sizeof(*res));
	if (c == NULL || !admin_token_ok(admin_token) || !reason_ok(reason) ||
	    admin_op(op, &uop) != KT_OK)
		return KT_ERR_INVALID_ARG;
	return run_update(c, account, account_len, &uop, &auth, res);
}

int kt_client_set_push(kt_client *c, const uint8_t *account, size_t account_len,
		       const kt_device_keys *signer, const uint8_t *id,
		       size_t id_len, const uint8_t *push, size_t push_len,
		       kt_update_result *res)
{
	kt_update_op op;
	upd_auth auth = {signer, NULL, NULL, NULL};

	if (res != NULL)
		memset(res, 0, sizeof(*res));
	if (c == NULL || signer == NULL || !id_ok(id, id_len) ||
	    push_len > KT_PUSH_ADDRESS_MAX || (push == NULL && push_len > 0))
		return KT_ERR_INVALID_ARG;
	memset(&op, 0, sizeof(op));
	op.op = KT_OP_SET_PUSH;
	memcpy(op.device_id, id, id_len);
	op.device_id_len = id_len;
	if (push_len > 0)
		memcpy(op.push, push, push_len);
	op.push_len = push_len;
	return run_update(c, account, account_len, &op, &auth, res);
}
