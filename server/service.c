/*
 * service.c — keytrail.v1.Directory handlers of ktd (see service.h).
 */
#include "service.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "keytrail/v1/directory.pb-c.h"
#include "kt_cosig.h"
#include "kt_note.h"
#include "log.h"
#include "reader.h"

/* Lookup/History rate limiter: a token bucket per peer address, in a
 * direct-mapped table keyed by a keyed hash of the address (SipHash with a
 * random key, so that nobody can aim a collision at someone else's bucket;
 * peers that do collide share a budget).  Capacity: one second's worth. */
#define RL_BUCKETS 4096u
#define RL_LOCKS 16u
#define RL_PEER_MAX 128u

typedef struct rl_bucket {
	uint64_t milli_tokens;     /* tokens * 1000 */
	uint64_t last_ms;          /* monotonic */
} rl_bucket;

struct kt_service {
	kt_node *node;

	/* checkpoint returned by Update: the note at cp_size */
	pthread_mutex_t cp_mu;
	uint64_t cp_size;
	uint8_t *cp_note;
	size_t cp_len;

	uint64_t rate;             /* lookups per second per peer; 0 = off */
	pthread_mutex_t rl_mu[RL_LOCKS];
	rl_bucket rl[RL_BUCKETS];
	uint8_t rl_key[crypto_shorthash_KEYBYTES];

	/* guards the read-modify-write of the cosigned checkpoint marker */
	pthread_mutex_t cosig_mu;
};

/* ---- status mapping ----------------------------------------------------- */

int kt_service_grpc_status(int code)
{
	switch (code) {
	case KT_OK:
		return KT_GRPC_OK;
	case KT_ERR_INVALID_ARG:
	case KT_ERR_TRUNCATED:
	case KT_ERR_TRAILING:
	case KT_ERR_TOO_LARGE:
	case KT_ERR_BAD_TYPE:
	case KT_ERR_NONCANONICAL:
	case KT_ERR_BAD_LENGTH:
	case KT_ERR_BAD_UTF8:
	case KT_ERR_BAD_BASE64:
	case KT_ERR_BAD_KEY:
	case KT_ERR_BAD_KEY_TYPE:
	case KT_ERR_PROVENANCE_OP:
	case KT_ERR_NOTE_MALFORMED:
	case KT_ERR_CHECKPOINT_MALFORMED:
	case KT_ERR_COSIG_MALFORMED:
		return KT_GRPC_INVALID_ARGUMENT;
	case KT_ERR_BAD_SIGNATURE:
	case KT_ERR_UNAUTHORISED:
	case KT_ERR_UNKNOWN_REGISTRAR:
	case KT_ERR_TOKEN_EXPIRED:
	case KT_ERR_TOKEN_USED:
	case KT_ERR_STALE_REQUEST:
	case KT_ERR_ADMIN_DENIED:
	case KT_ERR_UNKNOWN_WITNESS:
	case KT_ERR_NOTE_BAD_SIG:
	case KT_ERR_NOTE_NO_VERIFIED_SIG:
		return KT_GRPC_PERMISSION_DENIED;
	case KT_ERR_VERSION_MISMATCH:
	case KT_ERR_NOOP_CHANGE:
	case KT_ERR_ACCOUNT_EXISTS:
		return KT_GRPC_FAILED_PRECONDITION;
	case KT_ERR_NOT_FOUND:
	case KT_ERR_NO_ACCOUNT:
	case KT_ERR_NO_CHECKPOINT:
		return KT_GRPC_NOT_FOUND;
	case KT_ERR_DEVICE_EXISTS:
		return KT_GRPC_ALREADY_EXISTS;
	case KT_ERR_RATE_LIMITED:
	case KT_ERR_BUSY:
		return KT_GRPC_RESOURCE_EXHAUSTED;
	case KT_ERR_LOG_BAD_SIZE:
	case KT_ERR_STORAGE_PRUNED:
		return KT_GRPC_OUT_OF_RANGE;
	case KT_ERR_UNAVAILABLE:
	case KT_ERR_NOT_LEADER:
		return KT_GRPC_UNAVAILABLE;
	case KT_ERR_UNSUPPORTED:
		return KT_GRPC_UNIMPLEMENTED;
	default:
		return KT_GRPC_INTERNAL;
	}
}

static void details(char *buf, size_t cap, int code, const char *field)
{
	if (field != NULL)
		snprintf(buf, cap, "%s: %s (%s)", kt_errname(code),
			 kt_strerror(code), field);
	else
		snprintf(buf, cap, "%s: %s", kt_errname(code), kt_strerror(code));
}

void kt_service_reject_status(kt_net_reply *reply, int status, int code,
			      const char *field)
{
	char buf[256];

	details(buf, sizeof(buf), code, field);
	kt_net_reply_status(reply, status, buf);
	if (kt_slog_enabled(KT_SLOG_DEBUG)) {
		char q[KT_SLOG_QUOTE_MAX];

		kt_slog(KT_SLOG_DEBUG, "request_rejected", "status=%d details=%s",
			status, kt_slog_quote(q, sizeof(q), buf));
	}
}

void kt_service_reject(const kt_net_call *call, kt_net_reply *reply, int code,
		       const char *field)
{
	int status = kt_service_grpc_status(code);

	if (status == KT_GRPC_INTERNAL)
		kt_slog(KT_SLOG_ERROR, "request_error", "method=%s code=%s field=%s",
			call->method, kt_errname(code),
			field != NULL ? field : "-");
	kt_service_reject_status(reply, status, code, field);
}

kt_node *kt_service_node(kt_service *s)
{
	return s->node;
}

/* ---- rate limiting ------------------------------------------------------ */

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The peer's address without its port: "ipv4:1.2.3.4:5678" -> "ipv4:1.2.3.4",
 * "ipv6:[::1]:5678" -> "ipv6:[::1]"; anything else as is. */
static size_t peer_address(const char *peer)
{
	size_t n = strlen(peer), i;

	if (n > RL_PEER_MAX)
		n = RL_PEER_MAX;
	if (strncmp(peer, "ipv4:", 5) != 0 && strncmp(peer, "ipv6:", 5) != 0)
		return n;
	for (i = n; i > 5; i--)
		if (peer[i - 1] == ':')
			return i - 1;
	return n;
}

/* KT_OK if the peer may make one more rate-limited call now. */
static int rate_check(kt_service *s, const char *peer)
{
	uint8_t h[crypto_shorthash_BYTES];
	uint64_t now, cap, idx, add;
	rl_bucket *b;
	int rc;

	if (s->rate == 0)
		return KT_OK;
	crypto_shorthash(h, (const uint8_t *)peer, peer_address(peer), s->rl_key);
	idx = ((uint64_t)h[0] | (uint64_t)h[1] << 8 | (uint64_t)h[2] << 16) &
	      (RL_BUCKETS - 1);
	cap = s->rate * 1000u;
	now = mono_ms();
	pthread_mutex_lock(&s->rl_mu[idx % RL_LOCKS]);
	b = &s->rl[idx];
	if (b->last_ms == 0) {
		b->milli_tokens = cap;
	} else if (now > b->last_ms) {
		/* rate tokens per second = rate milli-tokens per ms */
		add = (now - b->last_ms) * s->rate;
		b->milli_tokens = cap - b->milli_tokens < add ? cap : b->milli_tokens + add;
	}
	b->last_ms = now;
	if (b->milli_tokens >= 1000u) {
		b->milli_tokens -= 1000u;
		rc = KT_OK;
	} else {
		rc = KT_ERR_RATE_LIMITED;
	}
	pthread_mutex_unlock(&s->rl_mu[idx % RL_LOCKS]);
	return rc;
}

/* ---- new / free --------------------------------------------------------- */

int kt_service_new(kt_node *n, kt_service **out)
{
	kt_service *s;
	unsigned i;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return KT_ERR_NOMEM;
	s->node = n;
	s->rate = kt_node_config(n)->lookup_rate_limit;
	pthread_mutex_init(&s->cp_mu, NULL);
	pthread_mutex_init(&s->cosig_mu, NULL);
	for (i = 0; i < RL_LOCKS; i++)
		pthread_mutex_init(&s->rl_mu[i], NULL);
	randombytes_buf(s->rl_key, sizeof(s->rl_key));
	*out = s;
	return KT_OK;
}

void kt_service_free(kt_service *s)
{
	unsigned i;

	if (s == NULL)
		return;
	free(s->cp_note);
	pthread_mutex_destroy(&s->cp_mu);
	pthread_mutex_destroy(&s->cosig_mu);
	for (i = 0; i < RL_LOCKS; i++)
		pthread_mutex_destroy(&s->rl_mu[i]);
	free(s);
}

/* ---- helpers for handlers ----------------------------------------------- */

static uint8_t *pb_bytes(const void *p)
{
	/* protobuf-c's ProtobufCBinaryData has a non-const pointer; packing
	 * only reads it. */
	return (uint8_t *)(uintptr_t)p;
}

/* Packs msg into a heap buffer handed to the reply. */
static void reply_pack(const kt_net_call *call, kt_net_reply *reply,
		       const ProtobufCMessage *msg)
{
	size_t len = protobuf_c_message_get_packed_size(msg);
	uint8_t *buf = malloc(len != 0 ? len : 1);

	if (buf == NULL) {
		kt_service_reject(call, reply, KT_ERR_NOMEM, "response");
		return;
	}
	protobuf_c_message_pack(msg, buf);
	if (kt_net_reply_take_body(reply, buf, len) != KT_OK) {
		free(buf);
		kt_service_reject(call, reply, KT_ERR_INTERNAL, "response");
	}
}

/* The ReadHead of a response and the arrays it points to. */
typedef struct head_pb {
	Keytrail__V1__ReadHead msg;
	ProtobufCBinaryData cons[KT_LOG_MAX_PROOF_HASHES];
	ProtobufCBinaryData incl[KT_LOG_MAX_PROOF_HASHES];
} head_pb;

static void proof_to_pb(const kt_read_proof *p, ProtobufCBinaryData *out)
{
	size_t i;

	for (i = 0; i < p->n; i++) {
		out[i].data = pb_bytes(p->h[i]);
		out[i].len = KT_HASH_BYTES;
	}
}

static void head_to_pb(const kt_read_head *h, head_pb *out)
{
	Keytrail__V1__ReadHead init = KEYTRAIL__V1__READ_HEAD__INIT;

	out->msg = init;
	out->msg.checkpoint.data = pb_bytes(h->checkpoint);
	out->msg.checkpoint.len = h->checkpoint_len;
	out->msg.tree_size = h->tree_size;
	proof_to_pb(&h->consistency, out->cons);
	out->msg.n_consistency = h->consistency.n;
	out->msg.consistency = h->consistency.n != 0 ? out->cons : NULL;
	out->msg.last_entry.data = pb_bytes(h->last_entry);
	out->msg.last_entry.len = h->last_entry_len;
	proof_to_pb(&h->last_inclusion, out->incl);
	out->msg.n_last_entry_inclusion = h->last_inclusion.n;
	out->msg.last_entry_inclusion = h->last_inclusion.n != 0 ? out->incl : NULL;
}

static int sig_from_pb(kt_signature *sig, const ProtobufCBinaryData *b)
{
	return kt_signature_decode(sig, b->data, b->len);
}

static int device_id_check(const ProtobufCBinaryData *b)
{
	if (b->len < KT_DEVICE_ID_MIN)
		return KT_ERR_BAD_LENGTH;
	if (b->len > KT_DEVICE_ID_MAX)
		return KT_ERR_TOO_LARGE;
	return KT_OK;
}

/* ---- accounts and changes (shared with admin.c) ------------------------- */

void kt_service_account_clear(kt_service_account *a)
{
	if (a == NULL)
		return;
	kt_account_value_free(&a->value);
	memset(a, 0, sizeof(*a));
}

int kt_service_account_load(kt_service *s, const uint8_t *account,
			    size_t account_len, kt_service_account *out)
{
	kt_storage *st = kt_node_storage(s->node);
	kt_storage_view *view = NULL;
	kt_storage_account_head head;
	kt_storage_account_version rec;
	int rc;

	memset(out, 0, sizeof(*out));
	memset(&rec, 0, sizeof(rec));
	kt_account_value_init(&out->value);
	rc = kt_storage_view_open(st, &view);
	if (rc != KT_OK)
		return rc;
	rc = kt_reader_account_index_head(s->node, view, account, account_len,
					  out->index, out->vrf_proof, &head,
					  &out->known);
	if (rc != KT_OK || !out->known)
		goto out;
	rc = kt_storage_account_version_get(st, view, out->index, head.version,
					    &rec);
	if (rc == KT_ERR_NOT_FOUND)
		rc = KT_ERR_STORAGE;
	if (rc == KT_OK)
		rc = kt_account_value_decode(&out->value, rec.value, rec.value_len);
	if (rc == KT_OK)
		out->version = head.version;
out:
	kt_storage_account_version_free(&rec);
	kt_storage_view_close(view);
	if (rc != KT_OK)
		kt_service_account_clear(out);
	return rc;
}

int kt_service_op_check(const uint8_t *p, size_t len, unsigned allowed_ops,
			kt_update_op *op, const char **field)
{
	int rc;

	*field = "operation";
	if (len > KT_UPDATE_OP_MAX_BYTES)
		return KT_ERR_TOO_LARGE;
	rc = kt_update_op_decode(op, p, len);
	if (rc != KT_OK)
		return rc;
	if (op->op >= 8 || (allowed_ops & (1u << op->op)) == 0)
		return KT_ERR_PROVENANCE_OP;
	if (op->op == KT_OP_ADD_DEVICE || op->op == KT_OP_ENROL) {
		*field = "operation.device";
		rc = kt_device_validate(&op->device);
	}
	return rc;
}

int kt_service_change_check(kt_service *s, const kt_service_account *acct,
			    uint64_t expected_version, const kt_update_op *op,
			    int *status, const char **field)
{
	const kt_config *cfg = kt_node_config(s->node);
	kt_account_value next;
	kt_provenance pv;
	int rc;

	*status = KT_GRPC_OK;
	*field = NULL;
	if (expected_version != acct->version) {
		*field = "expected_version";
		rc = KT_ERR_VERSION_MISMATCH;
		goto out;
	}
	/* Whether the op applies does not depend on who authorised it (that
	 * only sets the added device's added_by): try it as a type that
	 * may carry this op, the registrar for an enrolment, else the
	 * operator.  The apply path applies the real provenance. */
	memset(&pv, 0, sizeof(pv));
	pv.type = op->op == KT_OP_ENROL ? KT_PROV_REGISTRAR : KT_PROV_OPERATOR;
	pv.op = *op;
	kt_account_value_init(&next);
	rc = kt_value_apply_op(&next, &acct->value, &pv, kt_node_now_ms(s->node),
			       (size_t)cfg->max_devices);
	kt_account_value_free(&next);
	switch (rc) {
	case KT_OK:
		break;
	case KT_ERR_DEVICE_EXISTS:
		*field = "operation.device.id";
		break;
	case KT_ERR_NOT_FOUND:
		*field = "operation.device_id";
		break;
	case KT_ERR_NOOP_CHANGE:
		*field = "operation.push_address";
		break;
	case KT_ERR_TOO_LARGE:
		/* the account holds max_devices devices: a limit */
		*field = "operation (max_devices reached)";
		*status = KT_GRPC_RESOURCE_EXHAUSTED;
		return rc;
	default:
		*field = "operation";
		break;
	}
out:
	if (rc != KT_OK)
		*status = kt_service_grpc_status(rc);
	return rc;
}

/* The checkpoint note at size (plain: log signature only), cached. */
static int checkpoint_at(kt_service *s, uint64_t size, uint8_t **note,
			 size_t *len)
{
	uint8_t *fresh = NULL;
	size_t flen = 0;
	int rc = KT_OK;

	*note = NULL;
	*len = 0;
	pthread_mutex_lock(&s->cp_mu);
	if (s->cp_note == NULL || s->cp_size != size) {
		rc = kt_reader_checkpoint(kt_node_storage(s->node), NULL, size,
					  0, &fresh, &flen);
		if (rc == KT_OK) {
			free(s->cp_note);
			s->cp_note = fresh;
			s->cp_len = flen;
			s->cp_size = size;
		}
	}
	if (rc == KT_OK) {
		*note = malloc(s->cp_len);
		if (*note == NULL)
			rc = KT_ERR_NOMEM;
		else
			memcpy(*note, s->cp_note, s->cp_len);
		*len = s->cp_len;
	}
	pthread_mutex_unlock(&s->cp_mu);
	if (rc != KT_OK)
		*len = 0;
	return rc;
}

/* A deferred Update / OperatorUpdate. */
typedef struct pending {
	kt_service *svc;
	kt_net_handle handle;
	int admin;
} pending;

static void complete_error(kt_net_handle h, int code, const char *field)
{
	char buf[256];

	details(buf, sizeof(buf), code, field);
	if (kt_net_complete(h, kt_service_grpc_status(code), buf, NULL, 0) != KT_OK)
		kt_slog(KT_SLOG_DEBUG, "update_reply_stale", "code=%s",
			kt_errname(code));
}

static void update_done(void *arg, const kt_change_result *res,
			const kt_apply_head *head)
{
	pending *p = arg;
	Keytrail__V1__UpdateResponse ur = KEYTRAIL__V1__UPDATE_RESPONSE__INIT;
	uint8_t *note = NULL, *buf = NULL;
	size_t note_len = 0, len;
	int rc;

	if (res->code == KT_ERR_TOO_LARGE) {
		/* the apply path's device cap (a request that raced another
		 * change past the handler's pre-check) */
		char d[256];

		details(d, sizeof(d), res->code, "operation (max_devices reached)");
		if (kt_net_complete(p->handle, KT_GRPC_RESOURCE_EXHAUSTED, d, NULL,
				    0) != KT_OK)
			kt_slog(KT_SLOG_DEBUG, "update_reply_stale", "code=%s",
				kt_errname(res->code));
		goto out;
	}
	if (res->code != KT_OK) {
		complete_error(p->handle, res->code, "sequenced change");
		goto out;
	}
	rc = checkpoint_at(p->svc, head->tree_size, &note, &note_len);
	if (rc != KT_OK) {
		kt_slog(KT_SLOG_ERROR, "update_checkpoint", "size=%llu code=%s",
			(unsigned long long)head->tree_size, kt_errname(rc));
		complete_error(p->handle, rc, "checkpoint");
		goto out;
	}
	/* OperatorUpdateResponse has the same fields with the same numbers,
	 * hence the same encoding. */
	ur.version = res->version;
	ur.log_index = res->log_index;
	ur.checkpoint.data = note;
	ur.checkpoint.len = note_len;
	len = keytrail__v1__update_response__get_packed_size(&ur);
	buf = malloc(len != 0 ? len : 1);
	if (buf == NULL) {
		complete_error(p->handle, KT_ERR_NOMEM, "response");
		goto out;
	}
	keytrail__v1__update_response__pack(&ur, buf);
	if (kt_net_complete(p->handle, KT_GRPC_OK, NULL, buf, len) != KT_OK)
		kt_slog(KT_SLOG_DEBUG, "update_reply_stale", "version=%llu",
			(unsigned long long)res->version);
out:
	free(buf);
	free(note);
	free(p);
}

int kt_service_submit(kt_service *s, const kt_net_call *call,
		      kt_net_reply *reply, const uint8_t *account,
		      size_t account_len, const kt_service_account *acct,
		      uint64_t expected_version, const kt_provenance *pv,
		      int admin)
{
	kt_change change;
	kt_wbuf w;
	pending *p = NULL;
	int rc;

	memset(&change, 0, sizeof(change));
	if (account_len > KT_ACCOUNT_MAX) {
		kt_service_reject(call, reply, KT_ERR_TOO_LARGE, "account");
		return KT_OK;
	}
	kt_wbuf_init(&w, KT_PROVENANCE_MAX_BYTES);
	rc = kt_provenance_encode(&w, pv);
	if (rc == KT_OK)
		rc = kt_wbuf_take(&w, &change.provenance, &change.provenance_len);
	kt_wbuf_free(&w);
	if (rc != KT_OK) {
		kt_service_reject(call, reply, rc, "provenance");
		return KT_OK;
	}
	memcpy(change.account, account, account_len);
	change.account_len = account_len;
	change.expected_version = expected_version;
	if (!acct->known) {
		change.has_vrf = 1;
		memcpy(change.index, acct->index, KT_INDEX_BYTES);
		memcpy(change.vrf_proof, acct->vrf_proof, KT_VRF_PROOF_BYTES);
	}
	p = calloc(1, sizeof(*p));
	if (p == NULL) {
		kt_change_clear(&change);
		kt_service_reject(call, reply, KT_ERR_NOMEM, NULL);
		return KT_OK;
	}
	p->svc = s;
	p->handle = call->handle;
	p->admin = admin;
	/* The sequencer owns the change from here, whatever it returns; on
	 * KT_OK update_done will run exactly once (perhaps before we return)
	 * and frees p. */
	rc = kt_node_submit(s->node, &change, update_done, p);
	if (rc != KT_OK) {
		free(p);
		kt_service_reject(call, reply, rc, "submit");
		return KT_OK;
	}
	return KT_NET_DEFERRED;
}

/* ---- Update ------------------------------------------------------------- */

#define OPS_DEVICE ((1u << KT_OP_ADD_DEVICE) | (1u << KT_OP_REMOVE_DEVICE) | \
		    (1u << KT_OP_SET_PUSH))
#define OPS_ALL (OPS_DEVICE | (1u << KT_OP_ENROL))

/* Enrolment: the registrar token authorises exactly op->device (the whole
 * device spec) for this account, until its expiry. */
static int enrol_authorise(kt_service *s, const Keytrail__V1__UpdateRequest *req,
			   const kt_update_op *op, kt_provenance *pv,
			   const char **field)
{
	const kt_node_keys *keys = kt_node_keys_get(s->node);
	const kt_config *cfg = kt_node_config(s->node);
	const Keytrail__V1__RegistrarToken *t = req->token;
	uint64_t now = kt_node_now_ms(s->node);
	kt_sign_key rk;
	size_t i;
	int rc;

	*field = "token";
	if (t == NULL)
		return KT_ERR_UNAUTHORISED;
	*field = "device_id/signature (not used by enrol)";
	if (req->device_id.len != 0 || req->signature.len != 0)
		return KT_ERR_INVALID_ARG;
	*field = "token.registrar_key";
	rc = kt_sign_key_decode(&rk, t->registrar_key.data, t->registrar_key.len);
	if (rc != KT_OK)
		return rc;
	for (i = 0; i < keys->n_registrars; i++)
		/* public keys: memcmp is fine */
		if (keys->registrars[i].type == rk.type &&
		    memcmp(keys->registrars[i].pk, rk.pk, sizeof(rk.pk)) == 0)
			break;
	if (i == keys->n_registrars)
		return KT_ERR_UNKNOWN_REGISTRAR;
	*field = "token.expiry_ms";
	if (t->expiry_ms < now || t->expiry_ms - now > cfg->registrar_token_max_ttl_ms)
		return KT_ERR_TOKEN_EXPIRED;
	*field = "token.signature";
	rc = kt_signature_decode(&pv->sig, t->signature.data, t->signature.len);
	if (rc != KT_OK)
		return rc;
	rc = kt_registrar_token_verify(&rk, &pv->sig, req->account.data,
				       req->account.len, &op->device,
				       t->expiry_ms);
	if (rc != KT_OK)
		return rc;
	pv->type = KT_PROV_REGISTRAR;
	pv->op = *op;
	pv->registrar_pk = rk;
	pv->expiry_ms = t->expiry_ms;
	return KT_OK;
}

/* A device-signed change: the signer must be a current device. */
static int device_authorise(const Keytrail__V1__UpdateRequest *req,
			    const kt_service_account *acct,
			    const kt_update_op *op, kt_provenance *pv,
			    const char **field)
{
	const kt_device *d;
	int rc;

	*field = "device_id";
	d = kt_account_value_find(&acct->value, req->device_id.data,
				  req->device_id.len);
	if (d == NULL)
		return KT_ERR_UNAUTHORISED;
	*field = "signature";
	/* d is committed state: its key was validated when it was added */
	rc = kt_update_verify_committed(&d->sign_pk, &pv->sig, req->account.data,
					req->account.len, op,
					req->expected_version);
	if (rc != KT_OK)
		return rc == KT_ERR_NOMEM ? rc : KT_ERR_BAD_SIGNATURE;
	pv->type = KT_PROV_DEVICE;
	pv->op = *op;
	memcpy(pv->device_id, req->device_id.data, req->device_id.len);
	pv->device_id_len = req->device_id.len;
	return KT_OK;
}

/* Stateless checks of a device-signed request. */
static int device_stateless(const Keytrail__V1__UpdateRequest *req,
			    kt_provenance *pv, const char **field)
{
	int rc;

	*field = "token (only with enrol)";
	if (req->token != NULL)
		return KT_ERR_INVALID_ARG;
	*field = "device_id";
	rc = device_id_check(&req->device_id);
	if (rc != KT_OK)
		return rc;
	*field = "signature";
	return sig_from_pb(&pv->sig, &req->signature);
}

static int handle_update(void *app, const kt_net_call *call, kt_net_reply *reply)
{
	kt_service *s = app;
	Keytrail__V1__UpdateRequest *req;
	kt_service_account acct;
	kt_update_op op;
	kt_provenance pv;
	const char *field = NULL;
	int rc, status, ret = KT_OK;

	memset(&acct, 0, sizeof(acct));
	memset(&pv, 0, sizeof(pv));
	req = keytrail__v1__update_request__unpack(NULL, call->body_len, call->body);
	if (req == NULL) {
		kt_service_reject(call, reply, KT_ERR_INVALID_ARG,
				  "request: malformed protobuf");
		return KT_OK;
	}
	/* 1. stateless */
	field = "account";
	rc = kt_account_check(req->account.data, req->account.len);
	if (rc == KT_OK)
		rc = kt_service_op_check(req->operation.data, req->operation.len,
					 OPS_ALL, &op, &field);
	if (rc == KT_OK && op.op == KT_OP_ENROL)
		rc = enrol_authorise(s, req, &op, &pv, &field);
	else if (rc == KT_OK)
		rc = device_stateless(req, &pv, &field);
	if (rc != KT_OK)
		goto reject;
	/* 2. committed state */
	field = "account";
	rc = kt_service_account_load(s, req->account.data, req->account.len, &acct);
	if (rc == KT_OK && !acct.known && op.op != KT_OP_ENROL)
		rc = KT_ERR_NO_ACCOUNT;
	if (rc == KT_OK && op.op == KT_OP_ENROL) {
		/* single use: the early refusal (the apply path decides) */
		field = "token";
		rc = kt_apply_token_used(kt_node_storage(s->node),
					 req->account.data, req->account.len,
					 &pv);
	}
	if (rc != KT_OK)
		goto reject;
	if (op.op != KT_OP_ENROL) {
		if (req->expected_version != acct.version) {
			field = "expected_version";
			rc = KT_ERR_VERSION_MISMATCH;
			goto reject;
		}
		rc = device_authorise(req, &acct, &op, &pv, &field);
		if (rc != KT_OK)
			goto reject;
	}
	rc = kt_service_change_check(s, &acct, req->expected_version, &op,
				     &status, &field);
	if (rc != KT_OK) {
		kt_service_reject_status(reply, status, rc, field);
		goto out;
	}
	/* 3. sequence */
	ret = kt_service_submit(s, call, reply, req->account.data,
				req->account.len, &acct, req->expected_version,
				&pv, 0);
	goto out;
reject:
	kt_service_reject(call, reply, rc, field);
out:
	kt_service_account_clear(&acct);
	sodium_memzero(&pv, sizeof(pv));
	keytrail__v1__update_request__free_unpacked(req, NULL);
	return ret;
}

/* ---- Lookup ------------------------------------------------------------- */

static void read_at(const Keytrail__V1__ReadAt *at, uint64_t *size, uint64_t *lvs)
{
	*size = at != NULL ? at->tree_size : 0;
	*lvs = at != NULL ? at->last_verified_size : 0;
}

static int handle_lookup(void *app, const kt_net_call *call, kt_net_reply *reply)
{
	kt_service *s = app;
	Keytrail__V1__LookupRequest *req;
	Keytrail__V1__LookupResponse resp = KEYTRAIL__V1__LOOKUP_RESPONSE__INIT;
	kt_reader r;
	kt_read_head h;
	kt_read_account a;
	head_pb hp;
	uint64_t size, lvs;
	const char *field = "account";
	int rc;

	memset(&r, 0, sizeof(r));
	memset(&h, 0, sizeof(h));
	memset(&a, 0, sizeof(a));
	req = keytrail__v1__lookup_request__unpack(NULL, call->body_len, call->body);
	if (req == NULL) {
		kt_service_reject(call, reply, KT_ERR_INVALID_ARG,
				  "request: malformed protobuf");
		return KT_OK;
	}
	rc = kt_account_check(req->account.data, req->account.len);
	if (rc != KT_OK)
		goto reject;
	field = "peer (lookup_rate_limit)";
	rc = rate_check(s, call->peer);
	if (rc != KT_OK)
		goto reject;
	read_at(req->at, &size, &lvs);
	field = "at.tree_size";
	rc = kt_reader_open(&r, s->node, size);
	if (rc != KT_OK)
		goto reject;
	field = "at.last_verified_size";
	rc = kt_reader_head(&r, lvs, &h);
	if (rc != KT_OK)
		goto reject;
	field = "account";
	rc = kt_reader_account(&r, req->account.data, req->account.len, &a);
	if (rc != KT_OK)
		goto reject;
	head_to_pb(&h, &hp);
	resp.head = &hp.msg;
	resp.vrf_proof.data = a.vrf_proof;
	resp.vrf_proof.len = KT_VRF_PROOF_BYTES;
	resp.map_proof.data = a.map_proof;
	resp.map_proof.len = a.map_proof_len;
	if (a.exists) {
		resp.leaf.data = a.leaf;
		resp.leaf.len = KT_MAP_LEAF_BYTES;
		resp.value.data = pb_bytes(a.rec.value);
		resp.value.len = a.rec.value_len;
		resp.provenance.data = pb_bytes(a.rec.provenance);
		resp.provenance.len = a.rec.provenance_len;
		resp.opening.data = a.rec.opening;
		resp.opening.len = KT_OPENING_BYTES;
	}
	reply_pack(call, reply, &resp.base);
	goto out;
reject:
	kt_service_reject(call, reply, rc, field);
out:
	kt_read_account_clear(&a);
	kt_read_head_clear(&h);
	kt_reader_close(&r);
	keytrail__v1__lookup_request__free_unpacked(req, NULL);
	return KT_OK;
}

/* ---- History ------------------------------------------------------------ */

typedef struct hist_auth {
	const Keytrail__V1__HistoryRequest *req;
	kt_signature sig;
} hist_auth;

static int hist_key_fn(void *ctx, const kt_sign_key *pk)
{
	const hist_auth *h = ctx;

	/* pk is committed state (kt_reader_device_keys) */
	return kt_history_request_verify_committed(pk, &h->sig,
						   h->req->account.data,
						   h->req->account.len,
						   h->req->from_version,
						   h->req->timestamp_ms,
						   h->req->device_id.data,
						   h->req->device_id.len);
}

/* Owner authentication of a History request (DESIGN §6). */
static int history_authorise(kt_service *s, const Keytrail__V1__HistoryRequest *req,
			     const char **field)
{
	const kt_config *cfg = kt_node_config(s->node);
	uint64_t now = kt_node_now_ms(s->node);
	uint8_t index[KT_INDEX_BYTES];
	hist_auth ha;
	int rc;

	*field = "device_id/signature (History is answered to the account's "
		 "devices only)";
	if (req->device_id.len == 0 && req->signature.len == 0)
		return KT_ERR_UNAUTHORISED;
	*field = "device_id";
	rc = device_id_check(&req->device_id);
	if (rc != KT_OK)
		return rc;
	*field = "signature";
	ha.req = req;
	rc = sig_from_pb(&ha.sig, &req->signature);
	if (rc != KT_OK)
		return rc;
	*field = "timestamp_ms";
	if ((req->timestamp_ms > now ? req->timestamp_ms - now
				     : now - req->timestamp_ms) > cfg->history_max_skew_ms)
		return KT_ERR_STALE_REQUEST;
	*field = "account";
	rc = kt_storage_account_index_get(kt_node_storage(s->node), NULL,
					  req->account.data, req->account.len,
					  index);
	if (rc == KT_ERR_NOT_FOUND)
		return KT_ERR_UNAUTHORISED;  /* no devices: nobody may read */
	if (rc != KT_OK)
		return rc;
	*field = "device_id/signature";
	return kt_reader_device_keys(s->node, index, req->device_id.data,
				     req->device_id.len,
				     KT_SERVICE_HISTORY_AUTH_VERSIONS,
				     hist_key_fn, &ha);
}

typedef struct hist_pb {
	Keytrail__V1__HistoryVersion *msgs;
	Keytrail__V1__HistoryVersion **ptrs;
	ProtobufCBinaryData *incl;
} hist_pb;

static void hist_pb_free(hist_pb *p)
{
	free(p->msgs);
	free(p->ptrs);
	free(p->incl);
	memset(p, 0, sizeof(*p));
}

static int history_to_pb(const kt_read_history *h, hist_pb *p)
{
	Keytrail__V1__HistoryVersion init = KEYTRAIL__V1__HISTORY_VERSION__INIT;
	size_t i, j, k = 0, total = 0;

	memset(p, 0, sizeof(*p));
	for (i = 0; i < h->n; i++)
		total += h->v[i].n_inclusion;
	p->msgs = calloc(h->n != 0 ? h->n : 1, sizeof(*p->msgs));
	p->ptrs = calloc(h->n != 0 ? h->n : 1, sizeof(*p->ptrs));
	p->incl = calloc(total != 0 ? total : 1, sizeof(*p->incl));
	if (p->msgs == NULL || p->ptrs == NULL || p->incl == NULL) {
		hist_pb_free(p);
		return KT_ERR_NOMEM;
	}
	for (i = 0; i < h->n; i++) {
		const kt_read_version *v = &h->v[i];
		Keytrail__V1__HistoryVersion *m = &p->msgs[i];

		*m = init;
		m->log_index = v->rec.log_index;
		m->entry.data = pb_bytes(v->entry);
		m->entry.len = v->entry_len;
		m->n_inclusion = v->n_inclusion;
		m->inclusion = &p->incl[k];
		for (j = 0; j < v->n_inclusion; j++, k++) {
			p->incl[k].data = pb_bytes(v->inclusion[j]);
			p->incl[k].len = KT_HASH_BYTES;
		}
		m->value.data = pb_bytes(v->rec.value);
		m->value.len = v->rec.value_len;
		m->provenance.data = pb_bytes(v->rec.provenance);
		m->provenance.len = v->rec.provenance_len;
		m->opening.data = pb_bytes(v->rec.opening);
		m->opening.len = KT_OPENING_BYTES;
		p->ptrs[i] = m;
	}
	return KT_OK;
}

static int handle_history(void *app, const kt_net_call *call, kt_net_reply *reply)
{
	kt_service *s = app;
	const kt_config *cfg = kt_node_config(s->node);
	Keytrail__V1__HistoryRequest *req;
	Keytrail__V1__HistoryResponse resp = KEYTRAIL__V1__HISTORY_RESPONSE__INIT;
	kt_reader r;
	kt_read_head h;
	kt_read_account a;
	kt_read_history hist;
	hist_pb hpb;
	head_pb hp;
	uint64_t size, lvs;
	size_t maxv;
	const char *field = "account";
	int rc;

	memset(&r, 0, sizeof(r));
	memset(&h, 0, sizeof(h));
	memset(&a, 0, sizeof(a));
	memset(&hist, 0, sizeof(hist));
	memset(&hpb, 0, sizeof(hpb));
	req = keytrail__v1__history_request__unpack(NULL, call->body_len, call->body);
	if (req == NULL) {
		kt_service_reject(call, reply, KT_ERR_INVALID_ARG,
				  "request: malformed protobuf");
		return KT_OK;
	}
	rc = kt_account_check(req->account.data, req->account.len);
	if (rc != KT_OK)
		goto reject;
	field = "peer (lookup_rate_limit)";
	rc = rate_check(s, call->peer);
	if (rc != KT_OK)
		goto reject;
	if (!cfg->history_public) {
		rc = history_authorise(s, req, &field);
		if (rc != KT_OK)
			goto reject;
	}
	read_at(req->at, &size, &lvs);
	field = "at.tree_size";
	rc = kt_reader_open(&r, s->node, size);
	if (rc != KT_OK)
		goto reject;
	field = "at.last_verified_size";
	rc = kt_reader_head(&r, lvs, &h);
	if (rc != KT_OK)
		goto reject;
	field = "account";
	rc = kt_reader_account(&r, req->account.data, req->account.len, &a);
	if (rc == KT_OK && !a.exists)
		rc = KT_ERR_NO_ACCOUNT;
	if (rc != KT_OK)
		goto reject;
	maxv = (size_t)cfg->max_history_versions;
	if (req->max_versions != 0 && req->max_versions < maxv)
		maxv = req->max_versions;
	rc = kt_reader_history(&r, &a, req->from_version, maxv,
			       (size_t)cfg->max_message_bytes / 4u * 3u, &hist);
	if (rc == KT_OK)
		rc = history_to_pb(&hist, &hpb);
	if (rc != KT_OK)
		goto reject;
	head_to_pb(&h, &hp);
	resp.head = &hp.msg;
	resp.vrf_proof.data = a.vrf_proof;
	resp.vrf_proof.len = KT_VRF_PROOF_BYTES;
	resp.map_proof.data = a.map_proof;
	resp.map_proof.len = a.map_proof_len;
	resp.leaf.data = a.leaf;
	resp.leaf.len = KT_MAP_LEAF_BYTES;
	resp.n_versions = hist.n;
	resp.versions = hist.n != 0 ? hpb.ptrs : NULL;
	resp.more = hist.more != 0;
	reply_pack(call, reply, &resp.base);
	goto out;
reject:
	kt_service_reject(call, reply, rc, field);
out:
	hist_pb_free(&hpb);
	kt_read_history_clear(&hist);
	kt_read_account_clear(&a);
	kt_read_head_clear(&h);
	kt_reader_close(&r);
	keytrail__v1__history_request__free_unpacked(req, NULL);
	return KT_OK;
}

/* ---- GetCheckpoint ------------------------------------------------------ */

/* The ReadHead of a GetCheckpoint that set `at`: opens *r at at.tree_size
 * and proves from at.last_verified_size, as a Lookup's head.  *field names
 * what failed. */
static int checkpoint_head(kt_service *s, const Keytrail__V1__ReadAt *at,
			   kt_reader *r, kt_read_head *h, const char **field)
{
	uint64_t size, lvs;
	int rc;

	read_at(at, &size, &lvs);
	*field = "at.tree_size";
	rc = kt_reader_open(r, s->node, size);
	if (rc != KT_OK)
		return rc;
	*field = "at.last_verified_size";
	return kt_reader_head(r, lvs, h);
}

static int handle_get_checkpoint(void *app, const kt_net_call *call,
				 kt_net_reply *reply)
{
	kt_service *s = app;
	kt_storage *st = kt_node_storage(s->node);
	Keytrail__V1__GetCheckpointRequest *req;
	Keytrail__V1__GetCheckpointResponse resp =
		KEYTRAIL__V1__GET_CHECKPOINT_RESPONSE__INIT;
	kt_storage_view *view = NULL;
	uint8_t *cp = NULL, *cosigned = NULL;
	size_t cp_len = 0, cosigned_len = 0;
	uint64_t csize = 0, newest = 0;
	kt_reader r;
	kt_read_head h;
	head_pb hp;
	const char *field = "checkpoint";
	int rc;

	memset(&r, 0, sizeof(r));
	memset(&h, 0, sizeof(h));
	req = keytrail__v1__get_checkpoint_request__unpack(NULL, call->body_len,
							   call->body);
	if (req == NULL) {
		kt_service_reject(call, reply, KT_ERR_INVALID_ARG,
				  "request: malformed protobuf");
		return KT_OK;
	}
	if (req->at != NULL) {
		/* a verifiable head, as a Lookup's: rate-limited like one */
		field = "peer (lookup_rate_limit)";
		rc = rate_check(s, call->peer);
		if (rc == KT_OK)
			rc = checkpoint_head(s, req->at, &r, &h, &field);
		if (rc != KT_OK)
			goto reject;
		field = "checkpoint";
	}
	rc = kt_storage_view_open(st, &view);
	if (rc == KT_OK)
		rc = kt_reader_newest(s->node, view, &newest);
	if (rc == KT_OK && newest == 0)
		rc = KT_ERR_NO_CHECKPOINT;
	if (rc == KT_OK)
		rc = kt_reader_checkpoint(st, view, newest, 0, &cp, &cp_len);
	if (rc != KT_OK)
		goto reject;
	field = "cosigned_checkpoint";
	rc = kt_storage_meta_get_u64(st, view, KT_META_COSIGNED_CHECKPOINT, &csize);
	if (rc == KT_OK && csize != 0)
		rc = kt_reader_checkpoint(st, view, csize, 1, &cosigned,
					  &cosigned_len);
	else if (rc == KT_ERR_NOT_FOUND)
		rc = KT_OK;
	if (rc != KT_OK)
		goto reject;
	resp.checkpoint.data = cp;
	resp.checkpoint.len = cp_len;
	resp.cosigned_checkpoint.data = cosigned;
	resp.cosigned_checkpoint.len = cosigned_len;
	if (req->at != NULL) {
		head_to_pb(&h, &hp);
		resp.head = &hp.msg;
	}
	reply_pack(call, reply, &resp.base);
	goto out;
reject:
	kt_service_reject(call, reply, rc, field);
out:
	free(cp);
	free(cosigned);
	kt_read_head_clear(&h);
	kt_reader_close(&r);
	kt_storage_view_close(view);
	keytrail__v1__get_checkpoint_request__free_unpacked(req, NULL);
	return KT_OK;
}

/* ---- GetConsistencyProof ------------------------------------------------ */

static int handle_get_consistency(void *app, const kt_net_call *call,
				  kt_net_reply *reply)
{
	kt_service *s = app;
	Keytrail__V1__GetConsistencyProofRequest *req;
	Keytrail__V1__GetConsistencyProofResponse resp =
		KEYTRAIL__V1__GET_CONSISTENCY_PROOF_RESPONSE__INIT;
	ProtobufCBinaryData pb[KT_LOG_MAX_PROOF_HASHES];
	kt_read_proof proof;
	int rc;

	req = keytrail__v1__get_consistency_proof_request__unpack(NULL, call->body_len,
								  call->body);
	if (req == NULL) {
		kt_service_reject(call, reply, KT_ERR_INVALID_ARG,
				  "request: malformed protobuf");
		return KT_OK;
	}
	if (req->from_size == 0 || req->from_size > req->to_size) {
		kt_service_reject_status(reply, KT_GRPC_INVALID_ARGUMENT,
					 KT_ERR_LOG_BAD_SIZE,
					 "from_size (0 < from_size <= to_size)");
		goto out;
	}
	rc = kt_reader_consistency(s->node, req->from_size, req->to_size, &proof);
	if (rc != KT_OK) {
		kt_service_reject(call, reply, rc, "to_size");
		goto out;
	}
	proof_to_pb(&proof, pb);
	resp.n_proof = proof.n;
	resp.proof = proof.n != 0 ? pb : NULL;
	reply_pack(call, reply, &resp.base);
out:
	keytrail__v1__get_consistency_proof_request__free_unpacked(req, NULL);
	return KT_OK;
}

/* ---- GetEntries --------------------------------------------------------- */

static int handle_get_entries(void *app, const kt_net_call *call,
			      kt_net_reply *reply)
{
	kt_service *s = app;
	const kt_config *cfg = kt_node_config(s->node);
	Keytrail__V1__GetEntriesRequest *req;
	Keytrail__V1__GetEntriesResponse resp = KEYTRAIL__V1__GET_ENTRIES_RESPONSE__INIT;
	ProtobufCBinaryData *pb = NULL;
	kt_read_entries e;
	size_t count, i;
	int rc;

	memset(&e, 0, sizeof(e));
	req = keytrail__v1__get_entries_request__unpack(NULL, call->body_len,
							call->body);
	if (req == NULL) {
		kt_service_reject(call, reply, KT_ERR_INVALID_ARG,
				  "request: malformed protobuf");
		return KT_OK;
	}
	count = req->count != 0 ? req->count : (size_t)cfg->max_entries_page;
	if (count > cfg->max_entries_page) {
		kt_service_reject_status(reply, KT_GRPC_RESOURCE_EXHAUSTED,
					 KT_ERR_TOO_LARGE,
					 "count (over max_entries_page)");
		goto out;
	}
	/* A page always fits in one message: fewer entries than asked may
	 * come back (the client pages on from start + n). */
	if (count > cfg->max_message_bytes / 2u / (KT_LOG_ENTRY_MAX_BYTES + 4u))
		count = (size_t)(cfg->max_message_bytes / 2u /
				 (KT_LOG_ENTRY_MAX_BYTES + 4u));
	rc = kt_reader_entries(s->node, req->start, count, &e);
	if (rc != KT_OK) {
		kt_service_reject(call, reply, rc, "start");
		goto out;
	}
	pb = calloc(e.n != 0 ? e.n : 1, sizeof(*pb));
	if (pb == NULL) {
		kt_service_reject(call, reply, KT_ERR_NOMEM, NULL);
		goto out;
	}
	for (i = 0; i < e.n; i++) {
		pb[i].data = e.e[i];
		pb[i].len = e.len[i];
	}
	resp.n_entries = e.n;
	resp.entries = e.n != 0 ? pb : NULL;
	reply_pack(call, reply, &resp.base);
out:
	free(pb);
	kt_read_entries_clear(&e);
	keytrail__v1__get_entries_request__free_unpacked(req, NULL);
	return KT_OK;
}

/* ---- AddCosignature ----------------------------------------------------- */

/* The configured witness that line names (by name and key hash). */
static int witness_of(const kt_node_keys *keys, const uint8_t *line, size_t len,
		      const kt_note_verifier **out)
{
	kt_note_sig sig;
	size_t i;
	int rc;

	*out = NULL;
	rc = kt_note_sig_parse(&sig, line, len);
	if (rc != KT_OK)
		return KT_ERR_COSIG_MALFORMED;
	for (i = 0; i < keys->n_witnesses; i++) {
		const kt_note_verifier *w = &keys->witnesses[i];

		/* public names: memcmp is fine */
		if (w->key_hash == sig.key_hash && w->name_len == sig.name.len &&
		    memcmp(w->name, sig.name.p, sig.name.len) == 0) {
			*out = w;
			return KT_OK;
		}
	}
	return KT_ERR_UNKNOWN_WITNESS;
}

/* Counts the stored cosignatures of configured witnesses. */
typedef struct cosig_count {
	const kt_node_keys *keys;
	size_t n;
} cosig_count;

static int count_fn(void *ctx, const uint8_t key_hash[4], const uint8_t *name,
		    size_t name_len, const uint8_t *line, size_t line_len)
{
	cosig_count *c = ctx;
	const kt_note_verifier *w;

	(void)key_hash;
	(void)name;
	(void)name_len;
	if (witness_of(c->keys, line, line_len, &w) == KT_OK)
		c->n++;
	return KT_OK;
}

/* Stores a verified cosignature line of witness w at tree size `size`
 * and, once witness_threshold configured witnesses (0 counts as 1) have
 * cosigned that size, makes it the newest cosigned checkpoint.  Both writes
 * go through the node, which serialises them with the apply path's
 * batches.  Caller holds s->cosig_mu. */
static int cosig_store(kt_service *s, uint64_t size, const kt_note_verifier *w,
		       const uint8_t *line, size_t line_len)
{
	const kt_config *cfg = kt_node_config(s->node);
	kt_storage *st = kt_node_storage(s->node);
	uint64_t csize = 0, need;
	uint8_t kh[4];
	cosig_count cc;
	int rc;

	kh[0] = (uint8_t)(w->key_hash >> 24);
	kh[1] = (uint8_t)(w->key_hash >> 16);
	kh[2] = (uint8_t)(w->key_hash >> 8);
	kh[3] = (uint8_t)w->key_hash;
	rc = kt_node_cosig_put(s->node, size, kh, (const uint8_t *)w->name,
			       w->name_len, line, line_len);
	if (rc != KT_OK)
		return rc;
	cc.keys = kt_node_keys_get(s->node);
	cc.n = 0;
	rc = kt_storage_cosigs_scan(st, NULL, size, count_fn, &cc);
	if (rc != KT_OK)
		return rc;
	rc = kt_storage_meta_get_u64(st, NULL, KT_META_COSIGNED_CHECKPOINT, &csize);
	if (rc == KT_ERR_NOT_FOUND)
		csize = 0;
	else if (rc != KT_OK)
		return rc;
	need = cfg->witness_threshold != 0 ? cfg->witness_threshold : 1;
	if (size > csize && cc.n >= need)
		return kt_node_cosigned_put(s->node, size);
	return KT_OK;
}

static int handle_add_cosignature(void *app, const kt_net_call *call,
				  kt_net_reply *reply)
{
	kt_service *s = app;
	const kt_node_keys *keys = kt_node_keys_get(s->node);
	kt_storage *st = kt_node_storage(s->node);
	Keytrail__V1__AddCosignatureRequest *req;
	const kt_note_verifier *w = NULL;
	kt_note_sigstatus status;
	kt_bytes text;
	uint8_t *note = NULL;
	size_t note_len = 0;
	uint64_t ts = 0, newest = 0;
	const char *field = "cosignature";
	int rc;

	req = keytrail__v1__add_cosignature_request__unpack(NULL, call->body_len,
							    call->body);
	if (req == NULL) {
		kt_service_reject(call, reply, KT_ERR_INVALID_ARG,
				  "request: malformed protobuf");
		return KT_OK;
	}
	rc = req->cosignature.len > KT_SERVICE_MAX_COSIG_LINE ? KT_ERR_TOO_LARGE
							      : KT_OK;
	if (rc == KT_OK)
		rc = witness_of(keys, req->cosignature.data, req->cosignature.len, &w);
	if (rc != KT_OK)
		goto reject;
	field = "tree_size";
	rc = kt_reader_newest(s->node, NULL, &newest);
	if (rc == KT_OK && req->tree_size == 0)
		rc = KT_ERR_NO_CHECKPOINT;
	else if (rc == KT_OK && req->tree_size > newest)
		rc = KT_ERR_LOG_BAD_SIZE;
	else if (rc == KT_OK)
		rc = kt_storage_checkpoint_get(st, NULL, req->tree_size, &note,
					       &note_len);
	if (rc == KT_ERR_NOT_FOUND)
		rc = KT_ERR_NO_CHECKPOINT;
	if (rc != KT_OK)
		goto reject;
	/* The stored note is ours: open it to get the signed body. */
	rc = kt_note_open(note, note_len, &keys->log_signer.pub, 1, &text, &status);
	if (rc != KT_OK) {
		rc = KT_ERR_INTERNAL;
		goto reject;
	}
	field = "cosignature";
	rc = kt_cosig_verify(req->cosignature.data, req->cosignature.len, w,
			     text.p, text.len, &ts);
	if (rc != KT_OK)
		goto reject;
	/* Store it; count the witnesses at this size and move the cosigned
	 * marker forward once witness_threshold (0 counts as 1) are there.
	 * One at a time, so that concurrent witnesses cannot both miss the
	 * threshold. */
	pthread_mutex_lock(&s->cosig_mu);
	rc = cosig_store(s, req->tree_size, w, req->cosignature.data,
			 req->cosignature.len);
	pthread_mutex_unlock(&s->cosig_mu);
	if (rc != KT_OK) {
		field = "store";
		goto reject;
	}
	kt_slog(KT_SLOG_INFO, "cosignature", "size=%llu witness_hash=%08x time=%llu",
		(unsigned long long)req->tree_size, w->key_hash,
		(unsigned long long)ts);
	goto out;
reject:
	kt_service_reject(call, reply, rc, field);
out:
	kt_storage_free(note);
	keytrail__v1__add_cosignature_request__free_unpacked(req, NULL);
	return KT_OK;
}

/* ---- the method table --------------------------------------------------- */

int kt_service_methods(kt_service *s, unsigned dir_listeners,
		       unsigned admin_listeners, unsigned outstanding,
		       kt_net_method *out, size_t cap, size_t *n)
{
	static const struct {
		const char *name;
		kt_net_handler fn;
		int admin;
	} tab[KT_SERVICE_MAX_METHODS] = {
		{"/keytrail.v1.Directory/Update", handle_update, 0},
		{"/keytrail.v1.Directory/Lookup", handle_lookup, 0},
		{"/keytrail.v1.Directory/History", handle_history, 0},
		{"/keytrail.v1.Directory/GetCheckpoint", handle_get_checkpoint, 0},
		{"/keytrail.v1.Directory/GetConsistencyProof", handle_get_consistency, 0},
		{"/keytrail.v1.Directory/GetEntries", handle_get_entries, 0},
		{"/keytrail.v1.Directory/AddCosignature", handle_add_cosignature, 0},
		{"/keytrail.v1.Admin/OperatorUpdate", kt_admin_operator_update, 1},
		{"/keytrail.v1.Admin/Status", kt_admin_status, 1},
	};
	size_t i;

	*n = 0;
	if (cap < KT_SERVICE_MAX_METHODS)
		return KT_ERR_INVALID_ARG;
	for (i = 0; i < KT_SERVICE_MAX_METHODS; i++) {
		memset(&out[i], 0, sizeof(out[i]));
		out[i].name = tab[i].name;
		out[i].handler = tab[i].fn;
		out[i].arg = s;
		out[i].outstanding = outstanding;
		out[i].listeners = tab[i].admin ? admin_listeners : dir_listeners;
	}
	*n = KT_SERVICE_MAX_METHODS;
	return KT_OK;
}
