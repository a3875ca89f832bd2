/*
 * kt_client.c — libkeytrail's client: open/close, the state discipline
 * (lock, reload without rollback, verify, persist, adopt), and the
 * verified reads (lookup, checkpoint).  Nothing leaves a read before
 * kt_verify_head and kt_verify_lookup accepted it.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "client_int.h"
#include "proto_int.h"

#define TLS_ROOTS_MAX (1024u * 1024u)

_Static_assert(KT_PROVENANCE_DEVICE == KT_PROV_DEVICE &&
		       KT_PROVENANCE_REGISTRAR == KT_PROV_REGISTRAR &&
		       KT_PROVENANCE_OPERATOR == KT_PROV_OPERATOR,
	       "provenance types");
_Static_assert(KT_OPERATION_ADD_DEVICE == KT_OP_ADD_DEVICE &&
		       KT_OPERATION_REMOVE_DEVICE == KT_OP_REMOVE_DEVICE &&
		       KT_OPERATION_SET_PUSH == KT_OP_SET_PUSH &&
		       KT_OPERATION_ENROL == KT_OP_ENROL,
	       "operations");

struct kt_lookup {
	kt_lookup_result res;      /* verified by kt_verify_lookup */
	uint64_t tree_size;
};

#define STR2(x) #x
#define STR(x) STR2(x)

const char *kt_client_version(void)
{
	return STR(KEYTRAIL_VERSION_MAJOR) "." STR(KEYTRAIL_VERSION_MINOR) "." STR(
		KEYTRAIL_VERSION_PATCH);
}

/* ---- outcome of a call ------------------------------------------------------ */

uint64_t kt_client_now_ms(const kt_client *c)
{
	struct timespec ts;

	if (c->cfg.clock != NULL)
		return c->cfg.clock(c->cfg.clock_arg);
	if (clock_gettime(CLOCK_REALTIME, &ts) != 0 || ts.tv_sec < 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void kt_client_reset_outcome(kt_client *c)
{
	c->last_status = KT_GRPC_OK;
	free(c->last_details);
	c->last_details = NULL;
	kt_evidence_free(&c->ev);
	c->have_ev = 0;
}

void kt_client_keep_evidence(kt_client *c, kt_evidence *ev)
{
	kt_evidence_free(&c->ev);
	c->ev = *ev;
	c->have_ev = 1;
	kt_evidence_init(ev);
}

void kt_client_last_status(const kt_client *c, int *code, const char **details)
{
	if (code != NULL)
		*code = c != NULL ? c->last_status : KT_GRPC_OK;
	if (details != NULL)
		*details = c != NULL && c->last_details != NULL ? c->last_details : "";
}

int kt_client_evidence_json(const kt_client *c, char **json)
{
	if (json == NULL)
		return KT_ERR_INVALID_ARG;
	*json = NULL;
	if (c == NULL)
		return KT_ERR_INVALID_ARG;
	if (!c->have_ev)
		return KT_ERR_NOT_FOUND;
	return kt_evidence_write_json(&c->ev, json);
}

const struct kt_evidence *kt_client_last_evidence(const kt_client *c)
{
	return c != NULL && c->have_ev ? &c->ev : NULL;
}

uint64_t kt_client_trusted_size(const kt_client *c)
{
	return c != NULL ? c->st.trust.verified.size : 0;
}

/* ---- open / close ------------------------------------------------------------- */

static int read_tls_roots(kt_client *c, char *err, size_t errlen)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int r;

	if (c->cfg.tls_roots == NULL)
		return KT_OK;
	r = kt_read_file(c->cfg.tls_roots, TLS_ROOTS_MAX, &buf, &len);
	if (r != KT_OK) {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "cannot read tls_roots %s",
				 c->cfg.tls_roots);
		return r == KT_ERR_NOMEM ? r : KT_ERR_IO;
	}
	c->tls_pem = malloc(len + 1);
	if (c->tls_pem == NULL) {
		free(buf);
		return KT_ERR_NOMEM;
	}
	memcpy(c->tls_pem, buf, len);
	c->tls_pem[len] = '\0';
	free(buf);
	return KT_OK;
}

static int load_initial_state(kt_client *c, char *err, size_t errlen)
{
	int r;

	if (c->cfg.state_file == NULL)
		return KT_OK;
	r = kt_client_state_load(&c->st, &c->cfg.trust, c->cfg.state_file);
	if (r == KT_ERR_NOT_FOUND)
		return KT_OK;
	if (r != KT_OK && err != NULL && errlen > 0)
		snprintf(err, errlen, "state file %s: %s", c->cfg.state_file,
			 kt_strerror(r));
	if (r == KT_ERR_TOO_LARGE)
		r = KT_ERR_CLIENT_STATE;
	return r;
}

int kt_client_open(const kt_client_config *cfg, kt_client **out, char *err,
		   size_t errlen)
{
	kt_client *c;
	int r;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (out == NULL)
		return KT_ERR_INVALID_ARG;
	*out = NULL;
	if (cfg == NULL)
		return KT_ERR_INVALID_ARG;
	if (sodium_init() < 0)
		return KT_ERR_INTERNAL;
	r = kt_client_config_finish(cfg, err, errlen);
	if (r != KT_OK)
		return r;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return KT_ERR_NOMEM;
	c->lock_fd = -1;
	kt_client_state_init(&c->st);
	kt_evidence_init(&c->ev);
	r = kt_client_config_copy(&c->cfg, cfg);
	if (r != KT_OK) {
		free(c);
		return r;
	}
	r = read_tls_roots(c, err, errlen);
	if (r == KT_OK)
		r = kt_client_transport_creds(c, err, errlen);
	if (r == KT_OK)
		r = load_initial_state(c, err, errlen);
	if (r != KT_OK) {
		kt_client_close(c);
		return r;
	}
	*out = c;
	return KT_OK;
}

void kt_client_close(kt_client *c)
{
	if (c == NULL)
		return;
	kt_client_transport_close(c);
	kt_state_unlock(c->lock_fd);
	kt_client_state_free(&c->st);
	kt_evidence_free(&c->ev);
	free(c->last_details);
	free(c->tls_pem);
	kt_client_config_clear(&c->cfg);
	free(c);
}

/* ---- the state discipline ----------------------------------------------------- */

/* Refuses a loaded state that is behind the adopted one. */
static int state_not_behind(const kt_client_state *mem,
			    const kt_client_state *file)
{
	const kt_trusted_checkpoint *m = &mem->trust.verified;
	const kt_trusted_checkpoint *f = &file->trust.verified;
	size_t i;

	if (f->size < m->size || file->trust.cosigned.size < mem->trust.cosigned.size)
		return KT_ERR_CLIENT_ROLLBACK;
	/* Roots are public: memcmp is fine. */
	if (f->size == m->size && m->size > 0 &&
	    memcmp(f->root, m->root, KT_HASH_BYTES) != 0)
		return KT_ERR_CLIENT_FORK;
	for (i = 0; i < mem->n; i++) {
		const kt_acct_state *a = &mem->accts[i];
		const kt_acct_state *b =
			kt_client_state_find(file, a->account, a->account_len);

		if (b == NULL || b->version < a->version)
			return KT_ERR_CLIENT_ROLLBACK;
	}
	return KT_OK;
}

static int sync_from_file(kt_client *c)
{
	kt_client_state fs;
	int r;

	r = kt_client_state_load(&fs, &c->cfg.trust, c->cfg.state_file);
	if (r == KT_ERR_NOT_FOUND)
		return KT_OK; /* nothing on disk yet: keep what we have */
	if (r == KT_ERR_TOO_LARGE)
		r = KT_ERR_CLIENT_STATE;
	if (r != KT_OK)
		return r;
	r = state_not_behind(&c->st, &fs);
	if (r != KT_OK) {
		kt_client_state_free(&fs);
		return r;
	}
	kt_client_state_free(&c->st);
	c->st = fs;
	return KT_OK;
}

int kt_client_begin(kt_client *c)
{
	int r;

	kt_client_reset_outcome(c);
	if (c->cfg.state_file == NULL)
		return KT_OK;
	if (c->lock_fd >= 0)
		return KT_ERR_INTERNAL; /* not reentrant */
	r = kt_state_lock(c->cfg.state_file, &c->lock_fd);
	if (r != KT_OK)
		return r;
	r = sync_from_file(c);
	if (r != KT_OK)
		kt_client_end(c);
	return r;
}

void kt_client_end(kt_client *c)
{
	kt_state_unlock(c->lock_fd);
	c->lock_fd = -1;
}

int kt_client_reload_state(kt_client *c)
{
	int r;

	if (c == NULL)
		return KT_ERR_INVALID_ARG;
	r = kt_client_begin(c);
	if (r == KT_OK)
		kt_client_end(c);
	return r;
}

int kt_client_commit(kt_client *c, kt_client_state *ns)
{
	int r;

	if (c->cfg.state_file != NULL) {
		r = kt_client_state_save(ns, c->cfg.state_file);
		if (r != KT_OK)
			return r;
	}
	kt_client_state_free(&c->st);
	c->st = *ns;
	kt_client_state_init(ns);
	return KT_OK;
}

int kt_client_commit_trust(kt_client *c, kt_trust_state *nt)
{
	kt_client_state ns;
	int r;

	r = kt_client_state_copy(&ns, &c->st);
	if (r != KT_OK)
		return r;
	kt_trust_state_free(&ns.trust);
	ns.trust = *nt;
	kt_trust_state_init(nt);
	r = kt_client_commit(c, &ns);
	kt_client_state_free(&ns);
	return r;
}

/* ---- verified reads --------------------------------------------------------- */

/* The tree size of a signed note's checkpoint (unverified: only to pick
 * the size to ask for; the answer is verified in full). */
static uint64_t note_size(const uint8_t *note, size_t len)
{
	kt_checkpoint cp;
	size_t i;

	for (i = 0; i + 1 < len; i++) {
		if (note[i] == '\n' && note[i + 1] == '\n') {
			if (kt_checkpoint_parse(&cp, note, i + 1) == KT_OK)
				return cp.size;
			return 0;
		}
	}
	return 0;
}

int kt_client_pick_size(kt_client *c, uint64_t *size)
{
	const kt_trust_config *t = &c->cfg.trust;
	const kt_trust_state *st = &c->st.trust;
	Keytrail__V1__GetCheckpointRequest req =
		KEYTRAIL__V1__GET_CHECKPOINT_REQUEST__INIT;
	Keytrail__V1__GetCheckpointResponse *resp;
	uint8_t *body = NULL;
	size_t len = 0;
	uint64_t s, now;
	int r;

	*size = 0;
	if (t->n_witnesses == 0 || t->witness_threshold == 0)
		return KT_OK; /* no witness policy: the newest checkpoint */
	r = kt_proto_call(c, "/keytrail.v1.Directory/GetCheckpoint", &req.base,
			  &body, &len);
	if (r != KT_OK)
		return r;
	resp = keytrail__v1__get_checkpoint_response__unpack(NULL, len, body);
	free(body);
	if (resp == NULL)
		return KT_ERR_CLIENT_PROTOCOL;
	s = note_size(resp->cosigned_checkpoint.data, resp->cosigned_checkpoint.len);
	keytrail__v1__get_checkpoint_response__free_unpacked(resp, NULL);
	if (s == 0)
		return KT_OK; /* none cosigned: the verifier will say so */
	if (t->mode == KT_TRUST_STRICT) {
		*size = s > st->verified.size ? s : st->verified.size;
		return KT_OK;
	}
	/* Bounded lag: prefer the newest, but take a newer cosigned one into
	 * the state once the last cosigned one is half-way to the limit. */
	now = kt_client_now_ms(c);
	if (s > st->verified.size &&
	    (st->cosigned.size == 0 || now < st->cosigned.timestamp_ms ||
	     now - st->cosigned.timestamp_ms > t->max_lag_ms / 2))
		*size = s;
	return KT_OK;
}

int kt_client_verified_lookup(kt_client *c, const uint8_t *account,
			      size_t account_len, kt_verified_head *head,
			      kt_lookup_result *res, kt_trust_state *new_trust)
{
	Keytrail__V1__LookupRequest req = KEYTRAIL__V1__LOOKUP_REQUEST__INIT;
	Keytrail__V1__ReadAt at = KEYTRAIL__V1__READ_AT__INIT;
	Keytrail__V1__LookupResponse *resp = NULL;
	kt_proto_head ph;
	kt_lookup_response lr;
	kt_evidence ev;
	uint8_t *body = NULL;
	size_t len = 0;
	uint64_t size;
	int r;

	memset(head, 0, sizeof(*head));
	kt_lookup_result_init(res);
	kt_trust_state_init(new_trust);
	kt_evidence_init(&ev);
	memset(&ph, 0, sizeof(ph));
	if (kt_account_check(account, account_len) != KT_OK)
		return KT_ERR_INVALID_ARG;
	r = kt_client_pick_size(c, &size);
	if (r != KT_OK)
		return r;
	at.tree_size = size;
	at.last_verified_size = c->st.trust.verified.size;
	req.at = &at;
	req.account.data = (uint8_t *)(uintptr_t)account;
	req.account.len = account_len;
	r = kt_proto_call(c, "/keytrail.v1.Directory/Lookup", &req.base, &body,
			  &len);
	if (r != KT_OK)
		return r;
	resp = keytrail__v1__lookup_response__unpack(NULL, len, body);
	free(body);
	if (resp == NULL || resp->head == NULL) {
		r = KT_ERR_CLIENT_PROTOCOL;
		goto out;
	}
	r = kt_proto_head_map(resp->head, &ph);
	if (r != KT_OK)
		goto out;
	r = kt_verify_head(&c->cfg.trust, &c->st.trust, kt_client_now_ms(c),
			   &ph.rh, head, new_trust, &ev);
	if (r != KT_OK)
		goto out;
	lr.vrf_proof = kt_proto_bytes(&resp->vrf_proof);
	lr.map_proof = kt_proto_bytes(&resp->map_proof);
	lr.leaf = kt_proto_bytes(&resp->leaf);
	lr.value = kt_proto_bytes(&resp->value);
	lr.provenance = kt_proto_bytes(&resp->provenance);
	lr.opening = kt_proto_bytes(&resp->opening);
	r = kt_verify_lookup(&c->cfg.trust, head, account, account_len, &lr, res,
			     &ev);
out:
	if (r != KT_OK) {
		if (ev.code != KT_OK)
			kt_client_keep_evidence(c, &ev);
		kt_verified_head_free(head);
		kt_lookup_result_free(res);
		kt_trust_state_free(new_trust);
	}
	kt_evidence_free(&ev);
	kt_proto_head_free(&ph);
	if (resp != NULL)
		keytrail__v1__lookup_response__free_unpacked(resp, NULL);
	return r;
}

int kt_client_lookup(kt_client *c, const uint8_t *account, size_t account_len,
		     kt_lookup **out)
{
	kt_verified_head head;
	kt_trust_state nt;
	kt_lookup *l;
	int r;

	if (out == NULL)
		return KT_ERR_INVALID_ARG;
	*out = NULL;
	if (c == NULL || account == NULL)
		return KT_ERR_INVALID_ARG;
	l = calloc(1, sizeof(*l));
	if (l == NULL)
		return KT_ERR_NOMEM;
	r = kt_client_begin(c);
	if (r != KT_OK) {
		free(l);
		return r;
	}
	r = kt_client_verified_lookup(c, account, account_len, &head, &l->res,
				      &nt);
	if (r == KT_OK) {
		l->tree_size = head.size;
		r = kt_client_commit_trust(c, &nt);
	}
	kt_client_end(c);
	kt_verified_head_free(&head);
	kt_trust_state_free(&nt);
	if (r != KT_OK) {
		kt_lookup_free(l);
		return r;
	}
	*out = l;
	return KT_OK;
}

/* GetCheckpoint with ReadAt (the size per witness policy, the trusted
 * size), and its ReadHead verified.  Between begin and end. */
static int verified_checkpoint(kt_client *c, kt_verified_head *head,
			       kt_trust_state *new_trust)
{
	Keytrail__V1__GetCheckpointRequest req =
		KEYTRAIL__V1__GET_CHECKPOINT_REQUEST__INIT;
	Keytrail__V1__ReadAt at = KEYTRAIL__V1__READ_AT__INIT;
	Keytrail__V1__GetCheckpointResponse *resp = NULL;
	kt_proto_head ph;
	kt_evidence ev;
	uint8_t *body = NULL;
	size_t len = 0;
	uint64_t size;
	int r;

	memset(head, 0, sizeof(*head));
	kt_trust_state_init(new_trust);
	kt_evidence_init(&ev);
	memset(&ph, 0, sizeof(ph));
	r = kt_client_pick_size(c, &size);
	if (r != KT_OK)
		return r;
	at.tree_size = size;
	at.last_verified_size = c->st.trust.verified.size;
	req.at = &at;
	r = kt_proto_call(c, "/keytrail.v1.Directory/GetCheckpoint", &req.base,
			  &body, &len);
	if (r != KT_OK)
		return r;
	resp = keytrail__v1__get_checkpoint_response__unpack(NULL, len, body);
	free(body);
	/* A server that ignores `at` (older than GetCheckpoint.head) sends
	 * no head: nothing to verify. */
	if (resp == NULL || resp->head == NULL) {
		r = KT_ERR_CLIENT_PROTOCOL;
		goto out;
	}
	r = kt_proto_head_map(resp->head, &ph);
	if (r == KT_OK)
		r = kt_verify_head(&c->cfg.trust, &c->st.trust, kt_client_now_ms(c),
				   &ph.rh, head, new_trust, &ev);
out:
	if (r != KT_OK && ev.code != KT_OK)
		kt_client_keep_evidence(c, &ev);
	kt_evidence_free(&ev);
	kt_proto_head_free(&ph);
	if (resp != NULL)
		keytrail__v1__get_checkpoint_response__free_unpacked(resp, NULL);
	return r;
}

int kt_client_checkpoint(kt_client *c, uint64_t *size)
{
	kt_verified_head head;
	kt_trust_state nt;
	int r;

	if (size != NULL)
		*size = 0;
	if (c == NULL)
		return KT_ERR_INVALID_ARG;
	r = kt_client_begin(c);
	if (r != KT_OK)
		return r;
	r = verified_checkpoint(c, &head, &nt);
	if (r == KT_OK)
		r = kt_client_commit_trust(c, &nt);
	kt_client_end(c);
	if (r == KT_OK && size != NULL)
		*size = head.size;
	kt_verified_head_free(&head);
	kt_trust_state_free(&nt);
	return r;
}

int kt_client_verified_checkpoint(const kt_client *c, kt_checkpoint_info *out)
{
	const kt_trusted_checkpoint *v;

	if (out == NULL)
		return KT_ERR_INVALID_ARG;
	memset(out, 0, sizeof(*out));
	if (c == NULL)
		return KT_ERR_INVALID_ARG;
	v = &c->st.trust.verified;
	if (v->size == 0)
		return KT_ERR_NOT_FOUND;
	out->tree_size = v->size;
	memcpy(out->root, v->root, sizeof(out->root));
	out->timestamp_ms = v->timestamp_ms;
	/* kt_verify_head keeps cosigned == verified when this checkpoint met
	 * the witness policy (with no policy, every checkpoint does). */
	out->cosigned = c->st.trust.cosigned.size == v->size &&
			memcmp(c->st.trust.cosigned.root, v->root,
			       sizeof(out->root)) == 0; /* public roots */
	out->cosigned_size = c->st.trust.cosigned.size;
	out->note = (const char *)v->note;
	out->note_len = v->note_len;
	return KT_OK;
}

/* ---- lookup results ---------------------------------------------------------- */

void kt_lookup_free(kt_lookup *l)
{
	if (l == NULL)
		return;
	kt_lookup_result_free(&l->res);
	free(l);
}

int kt_lookup_present(const kt_lookup *l)
{
	return l != NULL && l->res.leaf.present;
}

uint64_t kt_lookup_version(const kt_lookup *l)
{
	return kt_lookup_present(l) ? l->res.leaf.leaf.version : 0;
}

uint64_t kt_lookup_tree_size(const kt_lookup *l)
{
	return l != NULL ? l->tree_size : 0;
}

size_t kt_lookup_device_count(const kt_lookup *l)
{
	return kt_lookup_present(l) ? l->res.value.count : 0;
}

int kt_lookup_device(const kt_lookup *l, size_t i, kt_device_info *out)
{
	const kt_device *d;

	if (out == NULL)
		return KT_ERR_INVALID_ARG;
	memset(out, 0, sizeof(*out));
	if (i >= kt_lookup_device_count(l))
		return KT_ERR_INVALID_ARG;
	d = &l->res.value.devices[i];
	out->id = d->id;
	out->id_len = d->id_len;
	memcpy(out->sign_pk, d->sign_pk.pk, sizeof(out->sign_pk));
	memcpy(out->enc_pk, d->enc_pk.pk, sizeof(out->enc_pk));
	out->push = d->push_len > 0 ? d->push : NULL;
	out->push_len = d->push_len;
	out->kind = d->kind;
	out->added_at_ms = d->added_at_ms;
	out->added_by_type = d->added_by_type;
	out->added_by_id = d->added_by_id_len > 0 ? d->added_by_id : NULL;
	out->added_by_id_len = d->added_by_id_len;
	return KT_OK;
}

void kt_client_provenance_info(const kt_provenance *pv, kt_provenance_info *out)
{
	const kt_update_op *op = &pv->op;

	memset(out, 0, sizeof(*out));
	out->type = pv->type;
	out->operation = op->op;
	if (pv->type == KT_PROV_DEVICE) {
		out->device_id = pv->device_id;
		out->device_id_len = pv->device_id_len;
	} else if (pv->type == KT_PROV_OPERATOR) {
		out->reason = pv->reason;
		out->reason_len = pv->reason_len;
	} else if (pv->type == KT_PROV_REGISTRAR) {
		out->registrar_pk = pv->registrar_pk.pk;
	}
	if (op->op == KT_OP_ADD_DEVICE || op->op == KT_OP_ENROL) {
		out->target_id = op->device.id;
		out->target_id_len = op->device.id_len;
	} else if (op->op == KT_OP_REMOVE_DEVICE || op->op == KT_OP_SET_PUSH) {
		out->target_id = op->device_id;
		out->target_id_len = op->device_id_len;
	}
}

int kt_lookup_provenance(const kt_lookup *l, kt_provenance_info *out)
{
	if (out == NULL)
		return KT_ERR_INVALID_ARG;
	memset(out, 0, sizeof(*out));
	if (!kt_lookup_present(l))
		return KT_ERR_NOT_FOUND;
	kt_client_provenance_info(&l->res.provenance, out);
	return KT_OK;
}
