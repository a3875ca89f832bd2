/*
 * client_fake.h — a fake keytrail server for the libkeytrail unit tests:
 * a transport hook (client/client_int.h) that answers Lookup, History,
 * GetCheckpoint and Update from a kt_fake_log (tests/support), with
 * switches to fail endpoints, force a gRPC status or tamper with one
 * field of the next answers.  Included by tests/unit/client_test_*.c
 * (static functions; one fake per test).
 */
#ifndef KT_TEST_CLIENT_FAKE_H
#define KT_TEST_CLIENT_FAKE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "client_int.h"
#include "keytrail/v1/admin.pb-c.h"
#include "keytrail/v1/common.pb-c.h"
#include "keytrail/v1/directory.pb-c.h"
#include "kt_fake_log.h"

#define CF_T0 UINT64_C(1767225600000) /* 2026-01-01T00:00:00Z */
#define CF_ALICE "tel:+15551234567"
#define CF_BOB "mailto:bob@example.com"

enum { CF_PHONE = 0, CF_LAPTOP = 1, CF_TABLET = 2, CF_ESCROW = 5 };

/* Tampering switches (stay set until cleared). */
#define CF_TAMPER_OPENING 0x01u     /* flip a bit of LookupResponse.opening */
#define CF_TAMPER_NOTE 0x02u        /* flip a bit in the checkpoint signature */
#define CF_TAMPER_VALUE 0x04u       /* flip a bit of LookupResponse.value */
#define CF_TAMPER_GARBAGE 0x08u     /* answer bytes that are no protobuf */

typedef struct cf_server {
	kt_fake_log *fl;
	uint64_t now_ms;            /* the client's clock */
	unsigned witness_mask;      /* cosignatures on served checkpoints */
	uint64_t serve_size;        /* answer at this size (0: newest / asked) */
	unsigned tamper;            /* CF_TAMPER_* */
	unsigned unavailable_mask;  /* endpoints answering UNAVAILABLE */
	int force_status;           /* != 0: every call ends with this status */
	const char *force_details;
	unsigned lag_mask;          /* endpoints that lag: every call ends with
	                               lag_status (OUT_OF_RANGE by default) */
	int lag_status;
	const char *lag_details;
	/* capture */
	unsigned calls;
	unsigned endpoint_calls[4];
	char last_method[128];
	uint8_t last_update[4096];
	size_t last_update_len;
	uint64_t last_lvs;          /* last ReadAt.last_verified_size seen */
	unsigned admin_slot_calls;  /* calls to KT_CLIENT_ADMIN_SLOT */
	char last_target[128];
	char last_admin_token[65];  /* the credential an Admin call carried */
	uint8_t last_admin[4096];   /* the last OperatorUpdateRequest */
	size_t last_admin_len;
	int checkpoint_no_head;     /* GetCheckpoint ignores ReadAt (old server) */
} cf_server;

static inline uint64_t cf_clock(void *arg)
{
	return ((cf_server *)arg)->now_ms;
}

static inline void cf_tick(cf_server *s, uint64_t *t)
{
	*t += 1000;
	kt_fake_log_set_time(s->fl, *t);
	s->now_ms = *t + 500;
}

static inline int cf_dup(kt_call_result *res, const uint8_t *p, size_t n)
{
	res->body = malloc(n > 0 ? n : 1);
	if (res->body == NULL)
		return KT_ERR_NOMEM;
	if (n > 0)
		memcpy(res->body, p, n);
	res->body_len = n;
	return KT_OK;
}

static inline int cf_pack(kt_call_result *res, const ProtobufCMessage *m)
{
	size_t n = protobuf_c_message_get_packed_size(m);

	res->body = malloc(n > 0 ? n : 1);
	if (res->body == NULL)
		return KT_ERR_NOMEM;
	res->body_len = protobuf_c_message_pack(m, res->body);
	return KT_OK;
}

static inline uint64_t cf_size(const cf_server *s, const Keytrail__V1__ReadAt *at)
{
	if (s->serve_size != 0)
		return s->serve_size;
	if (at != NULL && at->tree_size != 0)
		return at->tree_size;
	return kt_fake_log_size(s->fl);
}

/* Changes one base64 character in the middle of the log's signature (the
 * first signature line): still a well-formed note, no longer a valid
 * signature. */
static inline void cf_tamper_note(uint8_t *note, size_t len)
{
	size_t i, sp = 0;

	for (i = 0; i + 1 < len; i++)
		if (note[i] == '\n' && note[i + 1] == '\n')
			break;
	for (i += 2 + KT_NOTE_SIG_PREFIX_LEN; i < len; i++)
		if (note[i] == ' ') {
			sp = i;
			break;
		}
	if (sp == 0 || sp + 21 >= len)
		return;
	note[sp + 20] = note[sp + 20] == 'A' ? 'B' : 'A';
}

/* Fills a ReadHead (pointing into h and the two arrays). */
static inline int cf_head(cf_server *s, const Keytrail__V1__ReadAt *at, kt_fake_head *h,
		   Keytrail__V1__ReadHead *rh, ProtobufCBinaryData *cons,
		   ProtobufCBinaryData *incl)
{
	uint64_t size = cf_size(s, at), lvs = at != NULL ? at->last_verified_size : 0;
	size_t i;
	int r;

	s->last_lvs = lvs;
	r = kt_fake_log_head(s->fl, size, lvs <= size ? lvs : 0, s->witness_mask, h);
	if (r != KT_OK)
		return r;
	if (s->tamper & CF_TAMPER_NOTE)
		cf_tamper_note(h->checkpoint, h->checkpoint_len);
	rh->checkpoint.data = h->checkpoint;
	rh->checkpoint.len = h->checkpoint_len;
	rh->tree_size = h->tree_size;
	for (i = 0; i < h->n_consistency; i++) {
		cons[i].data = h->consistency[i];
		cons[i].len = KT_HASH_BYTES;
	}
	rh->n_consistency = h->n_consistency;
	rh->consistency = cons;
	rh->last_entry.data = h->last_entry;
	rh->last_entry.len = h->last_entry_len;
	for (i = 0; i < h->n_inclusion; i++) {
		incl[i].data = h->inclusion[i];
		incl[i].len = KT_HASH_BYTES;
	}
	rh->n_last_entry_inclusion = h->n_inclusion;
	rh->last_entry_inclusion = incl;
	return KT_OK;
}

static inline char *cf_account(const ProtobufCBinaryData *b)
{
	char *a = malloc(b->len + 1);

	if (a != NULL) {
		memcpy(a, b->data, b->len);
		a[b->len] = '\0';
	}
	return a;
}

static inline int cf_lookup(cf_server *s, const uint8_t *req, size_t len,
		     kt_call_result *res)
{
	Keytrail__V1__LookupRequest *q;
	Keytrail__V1__LookupResponse resp = KEYTRAIL__V1__LOOKUP_RESPONSE__INIT;
	Keytrail__V1__ReadHead rh = KEYTRAIL__V1__READ_HEAD__INIT;
	ProtobufCBinaryData cons[KT_LOG_MAX_PROOF_HASHES], incl[KT_LOG_MAX_PROOF_HASHES];
	kt_fake_head h;
	kt_fake_lookup lk;
	char *account = NULL;
	int r;

	memset(&lk, 0, sizeof(lk));
	memset(&h, 0, sizeof(h));
	q = keytrail__v1__lookup_request__unpack(NULL, len, req);
	if (q == NULL)
		return KT_ERR_INTERNAL;
	account = cf_account(&q->account);
	r = cf_head(s, q->at, &h, &rh, cons, incl);
	if (r == KT_OK)
		r = kt_fake_log_lookup(s->fl, h.tree_size, account, &lk);
	if (r != KT_OK)
		goto out;
	resp.head = &rh;
	resp.vrf_proof.data = lk.vrf_proof;
	resp.vrf_proof.len = sizeof(lk.vrf_proof);
	resp.map_proof.data = lk.map_proof;
	resp.map_proof.len = lk.map_proof_len;
	if (lk.present) {
		resp.leaf.data = lk.leaf;
		resp.leaf.len = sizeof(lk.leaf);
		resp.value.data = lk.value;
		resp.value.len = lk.value_len;
		resp.provenance.data = lk.provenance;
		resp.provenance.len = lk.provenance_len;
		resp.opening.data = lk.opening;
		resp.opening.len = sizeof(lk.opening);
		if (s->tamper & CF_TAMPER_OPENING)
			lk.opening[3] ^= 0x10;
		if ((s->tamper & CF_TAMPER_VALUE) && lk.value_len > 10)
			lk.value[lk.value_len - 10] ^= 0x01;
	}
	r = cf_pack(res, &resp.base);
out:
	kt_fake_lookup_free(&lk);
	kt_fake_head_free(&h);
	free(account);
	keytrail__v1__lookup_request__free_unpacked(q, NULL);
	return r;
}

static inline int cf_history(cf_server *s, const uint8_t *req, size_t len,
		      kt_call_result *res)
{
	Keytrail__V1__HistoryRequest *q;
	Keytrail__V1__HistoryResponse resp = KEYTRAIL__V1__HISTORY_RESPONSE__INIT;
	Keytrail__V1__ReadHead rh = KEYTRAIL__V1__READ_HEAD__INIT;
	ProtobufCBinaryData cons[KT_LOG_MAX_PROOF_HASHES], incl[KT_LOG_MAX_PROOF_HASHES];
	Keytrail__V1__HistoryVersion *hv = NULL, **ptrs = NULL;
	ProtobufCBinaryData *vincl = NULL;
	kt_fake_version *vs = NULL;
	size_t n = 0, i, j;
	kt_fake_head h;
	kt_fake_lookup lk;
	char *account = NULL;
	int r;

	memset(&lk, 0, sizeof(lk));
	memset(&h, 0, sizeof(h));
	q = keytrail__v1__history_request__unpack(NULL, len, req);
	if (q == NULL)
		return KT_ERR_INTERNAL;
	account = cf_account(&q->account);
	r = cf_head(s, q->at, &h, &rh, cons, incl);
	if (r == KT_OK)
		r = kt_fake_log_lookup(s->fl, h.tree_size, account, &lk);
	if (r == KT_OK && !lk.present) {
		res->status = 5; /* NOT_FOUND */
		goto out;
	}
	if (r == KT_OK)
		r = kt_fake_log_history(s->fl, h.tree_size, account,
					q->from_version, &vs, &n);
	if (r != KT_OK)
		goto out;
	hv = calloc(n + 1, sizeof(*hv));
	ptrs = calloc(n + 1, sizeof(*ptrs));
	vincl = calloc((n + 1) * KT_LOG_MAX_PROOF_HASHES, sizeof(*vincl));
	if (hv == NULL || ptrs == NULL || vincl == NULL) {
		r = KT_ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < n; i++) {
		keytrail__v1__history_version__init(&hv[i]);
		hv[i].log_index = vs[i].log_index;
		hv[i].entry.data = vs[i].entry;
		hv[i].entry.len = vs[i].entry_len;
		for (j = 0; j < vs[i].n_inclusion; j++) {
			vincl[i * KT_LOG_MAX_PROOF_HASHES + j].data = vs[i].inclusion[j];
			vincl[i * KT_LOG_MAX_PROOF_HASHES + j].len = KT_HASH_BYTES;
		}
		hv[i].n_inclusion = vs[i].n_inclusion;
		hv[i].inclusion = &vincl[i * KT_LOG_MAX_PROOF_HASHES];
		hv[i].value.data = vs[i].value;
		hv[i].value.len = vs[i].value_len;
		hv[i].provenance.data = vs[i].provenance;
		hv[i].provenance.len = vs[i].provenance_len;
		hv[i].opening.data = vs[i].opening;
		hv[i].opening.len = sizeof(vs[i].opening);
		ptrs[i] = &hv[i];
	}
	resp.head = &rh;
	resp.vrf_proof.data = lk.vrf_proof;
	resp.vrf_proof.len = sizeof(lk.vrf_proof);
	resp.map_proof.data = lk.map_proof;
	resp.map_proof.len = lk.map_proof_len;
	resp.leaf.data = lk.leaf;
	resp.leaf.len = sizeof(lk.leaf);
	resp.n_versions = n;
	resp.versions = n > 0 ? ptrs : NULL;
	r = cf_pack(res, &resp.base);
out:
	free(hv);
	free(ptrs);
	free(vincl);
	kt_fake_versions_free(vs, n);
	kt_fake_lookup_free(&lk);
	kt_fake_head_free(&h);
	free(account);
	keytrail__v1__history_request__free_unpacked(q, NULL);
	return r;
}

static inline int cf_get_checkpoint(cf_server *s, const uint8_t *req,
				    size_t len, kt_call_result *res)
{
	Keytrail__V1__GetCheckpointRequest *q;
	Keytrail__V1__GetCheckpointResponse resp =
		KEYTRAIL__V1__GET_CHECKPOINT_RESPONSE__INIT;
	Keytrail__V1__ReadHead rh = KEYTRAIL__V1__READ_HEAD__INIT;
	ProtobufCBinaryData cons[KT_LOG_MAX_PROOF_HASHES], incl[KT_LOG_MAX_PROOF_HASHES];
	kt_fake_head h;
	uint8_t *note = NULL, *cnote = NULL;
	size_t nl = 0, cl = 0;
	uint64_t size = cf_size(s, NULL);
	int r = KT_OK;

	memset(&h, 0, sizeof(h));
	q = keytrail__v1__get_checkpoint_request__unpack(NULL, len, req);
	if (q == NULL)
		return KT_ERR_INTERNAL;
	/* the head at at.tree_size, as ktd fills GetCheckpointResponse.head */
	if (q->at != NULL && !s->checkpoint_no_head) {
		r = cf_head(s, q->at, &h, &rh, cons, incl);
		resp.head = &rh;
	}
	if (r == KT_OK)
		r = kt_fake_log_checkpoint(s->fl, size, 0, 0, &note, &nl);
	if (r == KT_OK)
		r = kt_fake_log_checkpoint(s->fl, size, s->witness_mask,
					   s->now_ms / 1000, &cnote, &cl);
	if (r == KT_OK) {
		resp.checkpoint.data = note;
		resp.checkpoint.len = nl;
		resp.cosigned_checkpoint.data = cnote;
		resp.cosigned_checkpoint.len = cl;
		r = cf_pack(res, &resp.base);
	}
	free(note);
	free(cnote);
	kt_fake_head_free(&h);
	keytrail__v1__get_checkpoint_request__free_unpacked(q, NULL);
	return r;
}

/* OperatorUpdate: records the request and the credential the call
 * carried (the client's call_admin_token, sent as metadata). */
static inline int cf_admin(cf_server *s, kt_client *c, const uint8_t *req,
			   size_t len, kt_call_result *res)
{
	Keytrail__V1__UpdateResponse resp = KEYTRAIL__V1__UPDATE_RESPONSE__INIT;

	if (len > sizeof(s->last_admin))
		return KT_ERR_INTERNAL;
	memcpy(s->last_admin, req, len);
	s->last_admin_len = len;
	snprintf(s->last_admin_token, sizeof(s->last_admin_token), "%s",
		 c->call_admin ? c->call_admin_token : "");
	resp.version = 43;
	resp.log_index = 8;
	/* OperatorUpdateResponse has the same fields and numbers. */
	return cf_pack(res, &resp.base);
}

static inline int cf_update(cf_server *s, const uint8_t *req, size_t len,
		     kt_call_result *res)
{
	Keytrail__V1__UpdateResponse resp = KEYTRAIL__V1__UPDATE_RESPONSE__INIT;

	if (len > sizeof(s->last_update))
		return KT_ERR_INTERNAL;
	memcpy(s->last_update, req, len);
	s->last_update_len = len;
	resp.version = 42;
	resp.log_index = 7;
	return cf_pack(res, &resp.base);
}

static inline int cf_transport(void *arg, kt_client *c, size_t endpoint,
			const char *target, const char *method,
			const uint8_t *req, size_t req_len, kt_call_result *res)
{
	cf_server *s = arg;

	s->calls++;
	if (endpoint < 4)
		s->endpoint_calls[endpoint]++;
	if (endpoint == KT_CLIENT_ADMIN_SLOT)
		s->admin_slot_calls++;
	snprintf(s->last_method, sizeof(s->last_method), "%s", method);
	snprintf(s->last_target, sizeof(s->last_target), "%s", target);
	if (endpoint < 32 && (s->lag_mask & (1u << endpoint))) {
		res->status = s->lag_status != 0 ? s->lag_status : 11;
		res->details = strdup(s->lag_details != NULL
					      ? s->lag_details
					      : "KT_ERR_LOG_BAD_SIZE: tree size (at.tree_size)");
		return KT_OK;
	}
	if (endpoint < 32 && (s->unavailable_mask & (1u << endpoint))) {
		res->status = 14;
		res->details = strdup("connection refused");
		return KT_OK;
	}
	if (s->force_status != 0) {
		res->status = s->force_status;
		res->details = strdup(s->force_details != NULL ? s->force_details : "");
		return KT_OK;
	}
	if (s->tamper & CF_TAMPER_GARBAGE)
		return cf_dup(res, (const uint8_t *)"\xff\xff\xff", 3);
	if (strcmp(method, "/keytrail.v1.Directory/Lookup") == 0)
		return cf_lookup(s, req, req_len, res);
	if (strcmp(method, "/keytrail.v1.Directory/History") == 0)
		return cf_history(s, req, req_len, res);
	if (strcmp(method, "/keytrail.v1.Directory/GetCheckpoint") == 0)
		return cf_get_checkpoint(s, req, req_len, res);
	if (strcmp(method, "/keytrail.v1.Directory/Update") == 0)
		return cf_update(s, req, req_len, res);
	if (strcmp(method, "/keytrail.v1.Admin/OperatorUpdate") == 0)
		return cf_admin(s, c, req, req_len, res);
	res->status = 12; /* UNIMPLEMENTED */
	return KT_OK;
}

/* A client configuration that trusts the fake's keys, talks to n_endpoints
 * fake endpoints through the hook, and keeps its state in state_path (or
 * in memory if NULL).  k witnesses of the fake's 3 (threshold k) if k > 0. */
static inline kt_client_config *cf_config(cf_server *s, const char *state_path,
				   size_t n_endpoints, unsigned k)
{
	kt_client_config *cfg = NULL;
	char *vk = NULL, hex[2 * KT_VRF_PUBLICKEY_BYTES + 1], ep[32];
	size_t vk_len = 0, i;

	if (kt_client_config_new(&cfg) != KT_OK)
		return NULL;
	if (kt_note_verifier_format(&kt_fake_log_signer(s->fl)->pub, &vk,
				    &vk_len) != KT_OK ||
	    kt_client_config_set_log_key(cfg, vk) != KT_OK)
		goto fail;
	free(vk);
	vk = NULL;
	sodium_bin2hex(hex, sizeof(hex), kt_fake_log_vrf_pk(s->fl),
		       KT_VRF_PUBLICKEY_BYTES);
	if (kt_client_config_set_vrf_key(cfg, hex) != KT_OK)
		goto fail;
	for (i = 0; i < n_endpoints; i++) {
		snprintf(ep, sizeof(ep), "fake-%zu:1", i);
		if (kt_client_config_add_endpoint(cfg, ep) != KT_OK)
			goto fail;
	}
	for (i = 0; k > 0 && i < KT_FAKE_WITNESSES; i++) {
		if (kt_note_verifier_format(&kt_fake_log_witness(s->fl, (unsigned)i)->pub,
					    &vk, &vk_len) != KT_OK ||
		    kt_client_config_add_witness(cfg, vk) != KT_OK)
			goto fail;
		free(vk);
		vk = NULL;
	}
	if (k > 0 && kt_client_config_set_witness_threshold(cfg, k) != KT_OK)
		goto fail;
	if (state_path != NULL &&
	    kt_client_config_set_state_file(cfg, state_path) != KT_OK)
		goto fail;
	kt_client_config_set_transport(cfg, cf_transport, s);
	kt_client_config_set_clock(cfg, cf_clock, s);
	return cfg;
fail:
	free(vk);
	kt_client_config_free(cfg);
	return NULL;
}

/* A temporary directory for one test: path in dir[cap]. */
static inline void cf_tmpdir(char *dir, size_t cap)
{
	snprintf(dir, cap, "/tmp/kt-client-test-XXXXXX");
	if (mkdtemp(dir) == NULL)
		dir[0] = '\0';
}

/* Removes the files a test made in dir (flat) and dir itself. */
static inline void cf_rmdir(const char *dir)
{
	char cmd[512];

	if (dir[0] == '\0' || strncmp(dir, "/tmp/kt-client-test-", 20) != 0)
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		return;
}

/* The device keys of fake slot s (id, both secret keys from the fake's
 * fixed seeds). */
static inline kt_device_keys *cf_slot_keys(cf_server *s, unsigned slot)
{
	const kt_device *d = kt_fake_log_device(s->fl, slot);
	kt_device_keys k, *out = NULL;
	uint8_t *enc = NULL;
	size_t len = 0;

	memset(&k, 0, sizeof(k));
	memcpy(k.id, d->id, d->id_len);
	k.id_len = d->id_len;
	memset(k.sign_sk, 0x40 + (int)slot, 32);
	memset(k.enc_sk, 0x60 + (int)slot, 32);
	if (kt_device_keys_encode(&k, &enc, &len) == KT_OK) {
		out = calloc(1, sizeof(*out));
		if (out != NULL && kt_device_keys_decode(out, enc, len) != KT_OK) {
			free(out);
			out = NULL;
		}
	}
	free(enc);
	sodium_memzero(&k, sizeof(k));
	return out;
}

/* Reads a whole file (test helper). */
static inline uint8_t *cf_read(const char *path, size_t *len)
{
	uint8_t *buf = NULL;

	*len = 0;
	if (kt_read_file(path, 64u << 20, &buf, len) != KT_OK)
		return NULL;
	return buf;
}

#endif /* KT_TEST_CLIENT_FAKE_H */
