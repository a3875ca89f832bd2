/*
 * itest_tamper.c — libkeytrail against a real `ktd --dev` (issue 4): the
 * happy path of every library call, then answers altered on the way by
 * the transport hook of client/client_int.h (a man in the middle, or a
 * lying directory).
 *
 * Happy path: device keys (generate, save, load), a registrar token from
 * the dev registrar file, enrol, add a device, set a push address, lookup,
 * seal and open by each device, monitor without alert, remove a device,
 * checkpoint, reload of the state file.
 *
 * Tampering with the Lookup answer — each must fail with its own error
 * code (a failed verification: the range ktctl exits 3 for), record
 * evidence naming it, leave the trust state file byte-identical, and make
 * kt_client_seal produce nothing:
 *   one bit flipped in each consistency hash        KT_ERR_CLIENT_INCONSISTENT
 *   one bit flipped in each last-entry inclusion hash KT_ERR_CLIENT_ENTRY_INCLUSION
 *   one bit flipped in each byte of the map proof   KT_ERR_CLIENT_MAP_PROOF
 *   one bit flipped in each byte of the VRF proof   KT_ERR_CLIENT_VRF
 *   another account's (valid) VRF proof             KT_ERR_CLIENT_VRF
 *   one bit flipped in each byte of the opening     KT_ERR_CLIENT_OPENING
 *   a changed value (a device key swapped)          KT_ERR_CLIENT_OPENING
 *   the account hidden (answered as absent)         KT_ERR_CLIENT_MAP_PROOF
 *   the checkpoint re-signed with another key       KT_ERR_CLIENT_CHECKPOINT_SIG
 *   the trusted size, another root, log-signed      KT_ERR_CLIENT_FORK
 *   an older checkpoint than the trusted one        KT_ERR_CLIENT_ROLLBACK
 *   a checkpoint older than max age (clock, max_age) KT_ERR_CLIENT_STALE
 *   a witness that never cosigned (k=1, strict)     KT_ERR_CLIENT_WITNESS_POLICY
 * and with the History answer of the owner's monitor (state unchanged):
 *   a version withheld (the first new one)          KT_ERR_CLIENT_VERSION_GAP
 *   one bit flipped in a version's opening          KT_ERR_CLIENT_OPENING
 *
 * The node runs with heartbeat_interval=1h so that the tree only grows
 * when the test changes something (proof sizes are then fixed).
 *
 * Usage: itest_tamper PATH-TO-KTD [PATH-TO-KTCTL]   (ctest passes both)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "client_int.h"
#include "itest.h"
#include "keytrail.h"
#include "keytrail/v1/directory.pb-c.h"
#include "kt_json.h"
#include "kt_note.h"

#define ALICE "tel:+15551234567"
#define CAROL "mailto:carol@example.org"
#define ACCT(s) (const uint8_t *)(s), strlen(s)

#define M_LOOKUP_ "/keytrail.v1.Directory/Lookup"
#define M_HISTORY_ "/keytrail.v1.Directory/History"

enum {
	T_NONE,
	T_COUNT,          /* record the sizes of the proofs, then break opening */
	T_CONS,           /* flip a bit of consistency[idx] */
	T_INCL,           /* flip a bit of last_entry_inclusion[idx] */
	T_MAP,            /* flip a bit of map_proof byte idx */
	T_VRF,            /* flip a bit of vrf_proof byte idx */
	T_VRF_OTHER,      /* Carol's VRF proof */
	T_OPENING,        /* flip a bit of opening byte idx */
	T_VALUE,          /* a bit of the value's last byte... see below */
	T_HIDE,           /* leaf, value, provenance, opening dropped */
	T_FORGED,         /* checkpoint re-signed by another key */
	T_FORK,           /* at the trusted size, another root, log-signed */
	T_ROLLBACK,       /* ask for an older size, no consistency proof */
	T_HIST_WITHHOLD,  /* History: the first version dropped */
	T_HIST_OPENING    /* History: a bit of the first version's opening */
};

typedef struct tamper {
	int mode;
	size_t idx;
	int applied;                 /* the hook altered an answer */
	/* T_COUNT results */
	size_t n_cons, n_incl, map_len, vrf_len, opening_len;
	/* inputs */
	uint64_t old_size;           /* T_ROLLBACK */
	uint64_t fork_size;          /* T_FORK */
	kt_note_signer forger;       /* T_FORGED: another key, the log's name */
	kt_note_signer log;          /* T_FORK: the node's real log key */
	uint8_t other_vrf[80];       /* T_VRF_OTHER */
	size_t other_vrf_len;
} tamper;

static tamper T;

/* ---- the hook ------------------------------------------------------------ */

static void flip(uint8_t *p, size_t len, size_t i)
{
	CHECK(len > 0);
	p[i % len] ^= (uint8_t)(1u << (i % 8));
}

/* Re-signs the note's text (everything before the blank line) with s; if
 * root_flip, one bit of the root line is flipped first. */
static void resign(ProtobufCBinaryData *note, const kt_note_signer *s,
		   int root_flip)
{
	uint8_t *text, *out = NULL, root[32];
	size_t tlen, i, olen = 0, rlen = 0, l0, l1;
	char b64[64];

	for (i = 0; i + 1 < note->len; i++)
		if (note->data[i] == '\n' && note->data[i + 1] == '\n')
			break;
	CHECK(i + 1 < note->len);
	tlen = i + 1;
	text = malloc(tlen);
	CHECK(text != NULL);
	memcpy(text, note->data, tlen);
	if (root_flip) {
		/* origin \n size \n root(base64) \n */
		for (l0 = 0; text[l0] != '\n'; l0++)
			;
		for (l1 = l0 + 1; text[l1] != '\n'; l1++)
			;
		i = l1 + 1;
		CHECK(tlen >= i + 45 && text[i + 44] == '\n');
		CHECK(sodium_base642bin(root, sizeof(root), (const char *)text + i,
					44, NULL, &rlen, NULL,
					sodium_base64_VARIANT_ORIGINAL) == 0 &&
		      rlen == 32);
		root[7] ^= 0x10;
		sodium_bin2base64(b64, sizeof(b64), root, 32,
				  sodium_base64_VARIANT_ORIGINAL);
		memcpy(text + i, b64, 44);
	}
	CHECK_OK(kt_note_sign(s, 0, text, tlen, &out, &olen));
	free(text);
	free(note->data);           /* the hook owns the unpacked copy */
	note->data = out;
	note->len = olen;
}

/* Rewrites a LookupRequest's ReadAt. */
static uint8_t *rewrite_at(const uint8_t *req, size_t len, uint64_t size,
			   uint64_t last, size_t *out_len)
{
	Keytrail__V1__LookupRequest *lr;
	Keytrail__V1__ReadAt at = KEYTRAIL__V1__READ_AT__INIT;
	uint8_t *b;

	lr = keytrail__v1__lookup_request__unpack(NULL, len, req);
	CHECK(lr != NULL);
	at.tree_size = size;
	at.last_verified_size = last;
	if (lr->at != NULL)
		keytrail__v1__read_at__free_unpacked(lr->at, NULL);
	lr->at = &at;
	*out_len = keytrail__v1__lookup_request__get_packed_size(lr);
	b = malloc(*out_len + 1);
	CHECK(b != NULL);
	keytrail__v1__lookup_request__pack(lr, b);
	lr->at = NULL; /* not ours to free */
	keytrail__v1__lookup_request__free_unpacked(lr, NULL);
	return b;
}

/* protobuf-c frees what it unpacked with its allocator (malloc): replacing
 * a bytes field with a malloc'd buffer is safe. */
static void set_bytes(ProtobufCBinaryData *b, const uint8_t *p, size_t n)
{
	free(b->data);
	b->data = n > 0 ? malloc(n) : NULL;
	if (n > 0) {
		CHECK(b->data != NULL);
		memcpy(b->data, p, n);
	}
	b->len = n;
}

static void tamper_lookup(Keytrail__V1__LookupResponse *m)
{
	Keytrail__V1__ReadHead *h = m->head;

	CHECK(h != NULL);
	switch (T.mode) {
	case T_COUNT:
		T.n_cons = h->n_consistency;
		T.n_incl = h->n_last_entry_inclusion;
		T.map_len = m->map_proof.len;
		T.vrf_len = m->vrf_proof.len;
		T.opening_len = m->opening.len;
		flip(m->opening.data, m->opening.len, 0);
		break;
	case T_CONS:
		CHECK(T.idx < h->n_consistency);
		flip(h->consistency[T.idx].data, h->consistency[T.idx].len, T.idx);
		break;
	case T_INCL:
		CHECK(T.idx < h->n_last_entry_inclusion);
		flip(h->last_entry_inclusion[T.idx].data,
		     h->last_entry_inclusion[T.idx].len, T.idx);
		break;
	case T_MAP:
		CHECK(T.idx < m->map_proof.len);
		flip(m->map_proof.data + T.idx, 1, T.idx);
		break;
	case T_VRF:
		CHECK(T.idx < m->vrf_proof.len);
		flip(m->vrf_proof.data + T.idx, 1, T.idx);
		break;
	case T_VRF_OTHER:
		set_bytes(&m->vrf_proof, T.other_vrf, T.other_vrf_len);
		break;
	case T_OPENING:
		CHECK(T.idx < m->opening.len);
		flip(m->opening.data + T.idx, 1, T.idx);
		break;
	case T_VALUE:
		/* the last byte of the value: inside the last device's
		 * added_at (any byte would do: the commitment covers all) */
		CHECK(m->value.len > 0);
		flip(m->value.data + m->value.len - 1, 1, 3);
		break;
	case T_HIDE:
		set_bytes(&m->leaf, NULL, 0);
		set_bytes(&m->value, NULL, 0);
		set_bytes(&m->provenance, NULL, 0);
		set_bytes(&m->opening, NULL, 0);
		break;
	case T_FORGED:
		resign(&h->checkpoint, &T.forger, 0);
		break;
	case T_FORK:
		resign(&h->checkpoint, &T.log, 1);
		break;
	default:
		return;
	}
	T.applied = 1;
}

static void tamper_history(Keytrail__V1__HistoryResponse *m)
{
	switch (T.mode) {
	case T_HIST_WITHHOLD:
		CHECK(m->n_versions >= 2);
		keytrail__v1__history_version__free_unpacked(m->versions[0], NULL);
		memmove(m->versions, m->versions + 1,
			(m->n_versions - 1) * sizeof(m->versions[0]));
		m->n_versions--;
		break;
	case T_HIST_OPENING:
		CHECK(m->n_versions >= 1 && m->versions[0]->opening.len > 0);
		flip(m->versions[0]->opening.data, m->versions[0]->opening.len, 5);
		break;
	default:
		return;
	}
	T.applied = 1;
}

static int hook(void *arg, kt_client *c, size_t endpoint, const char *target,
		const char *method, const uint8_t *req, size_t req_len,
		kt_call_result *res)
{
	uint8_t *req2 = NULL;
	size_t len2 = 0, n;
	int r, is_lookup = strcmp(method, M_LOOKUP_) == 0;

	(void)arg;
	(void)target;
	if (is_lookup && T.mode == T_ROLLBACK) {
		req2 = rewrite_at(req, req_len, T.old_size, 0, &len2);
		T.applied = 1;
	} else if (is_lookup && T.mode == T_FORK) {
		req2 = rewrite_at(req, req_len, T.fork_size, T.fork_size, &len2);
	}
	r = kt_client_grpc_call(c, endpoint, method, req2 != NULL ? req2 : req,
				req2 != NULL ? len2 : req_len, res);
	free(req2);
	if (r != KT_OK || res->status != 0 || res->body == NULL)
		return r;
	if (is_lookup && T.mode != T_NONE && T.mode != T_ROLLBACK) {
		Keytrail__V1__LookupResponse *m =
			keytrail__v1__lookup_response__unpack(NULL, res->body_len,
							      res->body);
		CHECK(m != NULL);
		tamper_lookup(m);
		n = keytrail__v1__lookup_response__get_packed_size(m);
		free(res->body);
		res->body = malloc(n + 1);
		CHECK(res->body != NULL);
		keytrail__v1__lookup_response__pack(m, res->body);
		res->body_len = n;
		keytrail__v1__lookup_response__free_unpacked(m, NULL);
	} else if (strcmp(method, M_HISTORY_) == 0 &&
		   (T.mode == T_HIST_WITHHOLD || T.mode == T_HIST_OPENING)) {
		Keytrail__V1__HistoryResponse *m =
			keytrail__v1__history_response__unpack(NULL, res->body_len,
							       res->body);
		CHECK(m != NULL);
		tamper_history(m);
		n = keytrail__v1__history_response__get_packed_size(m);
		free(res->body);
		res->body = malloc(n + 1);
		CHECK(res->body != NULL);
		keytrail__v1__history_response__pack(m, res->body);
		res->body_len = n;
		keytrail__v1__history_response__free_unpacked(m, NULL);
	}
	return KT_OK;
}

/* ---- helpers ------------------------------------------------------------------ */

static char conf_path[400], work[400];

static const char *wfile(const char *name)
{
	static char b[8][500];
	static size_t i;
	char *p = b[i++ % 8];

	snprintf(p, sizeof(b[0]), "%s/%s", work, name);
	return p;
}

/* A client from ktd's client.conf with state file `state` (NULL: none),
 * the hook, and optional tweaks. */
static kt_client *client_open(const char *state, int with_hook,
			      kt_client_clock_fn clock, uint64_t max_age_ms,
			      const char *witness)
{
	kt_client_config *cfg = NULL;
	kt_client *c = NULL;
	char err[256] = "";

	CHECK_OK(kt_client_config_new(&cfg));
	CHECK_OK(kt_client_config_load_file(cfg, conf_path, err, sizeof(err)));
	if (state != NULL)
		CHECK_OK(kt_client_config_set_state_file(cfg, state));
	if (with_hook)
		kt_client_config_set_transport(cfg, hook, NULL);
	if (clock != NULL)
		kt_client_config_set_clock(cfg, clock, NULL);
	if (max_age_ms > 0)
		CHECK_OK(kt_client_config_set_max_age(cfg, max_age_ms));
	if (witness != NULL) {
		CHECK_OK(kt_client_config_add_witness(cfg, witness));
		CHECK_OK(kt_client_config_set_witness_threshold(cfg, 1));
		CHECK_OK(kt_client_config_set_witness_mode(cfg, KT_WITNESS_MODE_STRICT,
							   0));
	}
	if (kt_client_open(cfg, &c, err, sizeof(err)) != KT_OK)
		itest_fail(__FILE__, __LINE__, "kt_client_open: %s", err);
	kt_client_config_free(cfg);
	return c;
}

static uint8_t *read_state(const char *path, size_t *len)
{
	uint8_t *b = (uint8_t *)kt_test_read_file(path, len);

	CHECK(b != NULL && *len > 0);
	return b;
}

/* The same predicate as ktctl's exit code 3. */
static int is_verify_error(int r)
{
	return r <= KT_ERR_CLIENT_CHECKPOINT_SIG && r > KT_ERR_CLIENT_UNAVAILABLE;
}

static void check_evidence(kt_client *c, int want)
{
	char *json = NULL, needle[128];
	kt_json *js;

	CHECK_OK(kt_client_evidence_json(c, &json));
	js = kt_json_parse(json, strlen(json));
	CHECK(js != NULL);
	snprintf(needle, sizeof(needle), "%s", kt_errname(want));
	CHECK(strcmp(kt_json_get(js, "error")->text, needle) == 0);
	CHECK(kt_json_get(js, "checkpoint") != NULL ||
	      kt_json_get(js, "trusted_checkpoint") != NULL);
	kt_json_free(js);
	free(json);
}

/* One tampered lookup and seal through c: want, evidence, state file
 * unchanged, nothing sealed. */
static void expect_fail(kt_client *c, const char *state, int mode, size_t idx,
			int want, const char *what)
{
	uint8_t *before, *after;
	size_t blen, alen;
	kt_lookup *l = (kt_lookup *)(uintptr_t)1;
	kt_sealed *s = (kt_sealed *)(uintptr_t)1;
	int r;

	before = read_state(state, &blen);
	T.mode = mode;
	T.idx = idx;
	T.applied = 0;
	r = kt_client_lookup(c, ACCT(ALICE), &l);
	if (r != want)
		itest_fail(__FILE__, __LINE__, "%s [%zu]: lookup gave %s, want %s",
			   what, idx, kt_errname(r), kt_errname(want));
	CHECK(T.applied && l == NULL && is_verify_error(r));
	check_evidence(c, want);
	after = read_state(state, &alen);
	CHECK(alen == blen && memcmp(before, after, blen) == 0);
	free(after);
	T.applied = 0;
	r = kt_client_seal(c, ACCT(ALICE), (const uint8_t *)"secret", 6, &s);
	if (r != want)
		itest_fail(__FILE__, __LINE__, "%s [%zu]: seal gave %s, want %s",
			   what, idx, kt_errname(r), kt_errname(want));
	CHECK(T.applied && s == NULL);
	after = read_state(state, &alen);
	CHECK(alen == blen && memcmp(before, after, blen) == 0);
	free(after);
	free(before);
	T.mode = T_NONE;
}

/* ---- the happy path ------------------------------------------------------------- */

typedef struct world {
	kt_device_keys *phone, *laptop, *tablet;
	kt_client *owner;            /* Alice's devices' client (no hook) */
	kt_client *sender;           /* Bob's client (hook) */
	uint64_t size_a;             /* a checkpoint size Bob verified early */
} world;

static kt_device_keys *keys_roundtrip(const char *id, const char *file)
{
	kt_device_keys *k = NULL, *k2 = NULL;
	uint8_t a[32], b[32];
	const uint8_t *i1, *i2;
	size_t n1, n2;
	struct stat st;

	CHECK_OK(kt_device_keys_generate(ACCT(id), &k));
	CHECK_OK(kt_device_keys_save(k, wfile(file)));
	CHECK(kt_device_keys_save(k, wfile(file)) == KT_ERR_IO); /* O_EXCL */
	CHECK(stat(wfile(file), &st) == 0 && (st.st_mode & 0777) == 0600);
	CHECK_OK(kt_device_keys_load(wfile(file), &k2));
	i1 = kt_device_keys_id(k, &n1);
	i2 = kt_device_keys_id(k2, &n2);
	CHECK(n1 == n2 && memcmp(i1, i2, n1) == 0);
	kt_device_keys_sign_pk(k, a);
	kt_device_keys_sign_pk(k2, b);
	CHECK(memcmp(a, b, 32) == 0);
	kt_device_keys_enc_pk(k, a);
	kt_device_keys_enc_pk(k2, b);
	CHECK(memcmp(a, b, 32) == 0);
	kt_device_keys_free(k);
	/* A key file others may read is refused. */
	CHECK(chmod(wfile(file), 0640) == 0);
	CHECK(kt_device_keys_load(wfile(file), &k) == KT_ERR_CLIENT_KEY_FILE &&
	      k == NULL);
	CHECK(chmod(wfile(file), 0600) == 0);
	return k2;
}

static void open_each(const kt_sealed *s, kt_device_keys *const *keys, size_t n,
		      const char *msg)
{
	kt_sealed_item it;
	uint8_t *m = NULL;
	size_t i, j, mlen = 0, id_len;
	const uint8_t *id;

	CHECK(kt_sealed_count(s) == n);
	for (j = 0; j < n; j++) {
		id = kt_device_keys_id(keys[j], &id_len);
		for (i = 0; i < kt_sealed_count(s); i++) {
			CHECK_OK(kt_sealed_get(s, i, &it));
			if (it.device_id_len == id_len &&
			    memcmp(it.device_id, id, id_len) == 0)
				break;
		}
		CHECK(i < kt_sealed_count(s));
		CHECK(it.ciphertext_len == strlen(msg) + KT_SEAL_OVERHEAD);
		CHECK_OK(kt_device_keys_open(keys[j], it.ciphertext,
					     it.ciphertext_len, &m, &mlen));
		CHECK(mlen == strlen(msg) && memcmp(m, msg, mlen) == 0);
		free(m);
		/* Another device's key does not open it. */
		CHECK(kt_device_keys_open(keys[(j + 1) % n], it.ciphertext,
					  it.ciphertext_len, &m, &mlen) ==
		      KT_ERR_CLIENT_DECRYPT);
		/* A flipped bit does not open. */
		((uint8_t *)(uintptr_t)it.ciphertext)[it.ciphertext_len - 1] ^= 1;
		CHECK(kt_device_keys_open(keys[j], it.ciphertext, it.ciphertext_len,
					  &m, &mlen) == KT_ERR_CLIENT_DECRYPT);
		((uint8_t *)(uintptr_t)it.ciphertext)[it.ciphertext_len - 1] ^= 1;
	}
}

static void happy(itest_ktd *k, world *w)
{
	char reg[400];
	kt_device_spec spec;
	kt_registrar_token tok;
	kt_update_result res;
	kt_lookup *l = NULL;
	kt_sealed *s = NULL;
	kt_monitor_report *rep = NULL;
	kt_monitor_item it;
	kt_device_info d;
	kt_provenance_info p;
	kt_owner_device own;
	uint8_t lpk[32];
	const uint8_t *lid;
	uint64_t size = 0;
	kt_device_keys *both[2];

	CHECK(strcmp(kt_client_version(), "0.1.0") == 0);
	snprintf(reg, sizeof(reg), "%s/registrar.key", k->data_dir);
	w->phone = keys_roundtrip("alice-phone", "phone.key");
	w->laptop = keys_roundtrip("alice-laptop", "laptop.key");
	w->tablet = keys_roundtrip("alice-tablet", "tablet.key");
	w->owner = client_open(wfile("alice.state"), 0, NULL, 0, NULL);
	w->sender = client_open(wfile("bob.state"), 1, NULL, 0, NULL);

	/* Enrol (registrar token from the dev registrar key file). */
	kt_device_keys_spec(w->phone, ACCT("apns:phone"), KT_DEVICE_KIND_PRIMARY,
			    &spec);
	CHECK_OK(kt_registrar_token_make_file(reg, ACCT(ALICE), &spec,
					      itest_now_ms() + 600000, &tok));
	CHECK_OK(kt_client_enroll(w->owner, ACCT(ALICE), &spec, &tok, &res));
	CHECK(res.version == 1);
	/* The token does not enrol another device (the server refuses). */
	kt_device_keys_spec(w->tablet, ACCT("apns:phone"), KT_DEVICE_KIND_PRIMARY,
			    &spec);
	CHECK(kt_client_enroll(w->owner, ACCT(CAROL), &spec, &tok, &res) ==
	      KT_ERR_CLIENT_DENIED);
	/* Carol (for another account's VRF proof later). */
	kt_device_keys_spec(w->tablet, NULL, 0, KT_DEVICE_KIND_PRIMARY, &spec);
	CHECK_OK(kt_registrar_token_make_file(reg, ACCT(CAROL), &spec,
					      itest_now_ms() + 600000, &tok));
	CHECK_OK(kt_client_enroll(w->owner, ACCT(CAROL), &spec, &tok, &res));

	/* Bob's first look: Alice has one device. */
	CHECK_OK(kt_client_lookup(w->sender, ACCT(ALICE), &l));
	CHECK(kt_lookup_present(l) && kt_lookup_version(l) == 1);
	CHECK(kt_lookup_device_count(l) == 1);
	w->size_a = kt_lookup_tree_size(l);
	CHECK(kt_client_trusted_size(w->sender) == w->size_a);
	kt_lookup_free(l);

	/* Alice adds her laptop, the laptop sets its push address. */
	kt_device_keys_spec(w->laptop, ACCT("fcm:laptop"), KT_DEVICE_KIND_COMPANION,
			    &spec);
	CHECK_OK(kt_client_add_device(w->owner, ACCT(ALICE), w->phone, &spec, &res));
	CHECK(res.version == 2);
	lid = kt_device_keys_id(w->laptop, &spec.id_len);
	CHECK_OK(kt_client_set_push(w->owner, ACCT(ALICE), w->laptop, lid,
				    spec.id_len, ACCT("fcm:laptop-2"), &res));
	CHECK(res.version == 3);
	/* A device that is not Alice's cannot sign for her. */
	CHECK(kt_client_set_push(w->owner, ACCT(ALICE), w->tablet, lid,
				 spec.id_len, ACCT("x"), &res) ==
	      KT_ERR_CLIENT_DENIED);
	CHECK(res.version == 0);

	/* Bob: two devices, the current version by the laptop. */
	CHECK_OK(kt_client_lookup(w->sender, ACCT(ALICE), &l));
	CHECK(kt_lookup_version(l) == 3 && kt_lookup_device_count(l) == 2);
	CHECK_OK(kt_lookup_device(l, 0, &d));
	CHECK(d.id_len == 12 && memcmp(d.id, "alice-laptop", 12) == 0);
	CHECK(d.push_len == 12 && memcmp(d.push, "fcm:laptop-2", 12) == 0);
	CHECK(d.kind == KT_DEVICE_KIND_COMPANION);
	kt_device_keys_sign_pk(w->laptop, lpk);
	CHECK(memcmp(d.sign_pk, lpk, 32) == 0);
	CHECK(kt_lookup_device(l, 2, &d) == KT_ERR_INVALID_ARG);
	CHECK_OK(kt_lookup_provenance(l, &p));
	CHECK(p.type == KT_PROVENANCE_DEVICE && p.operation == KT_OPERATION_SET_PUSH);
	CHECK(p.device_id_len == 12 && memcmp(p.device_id, "alice-laptop", 12) == 0);
	kt_lookup_free(l);
	/* Absent accounts are proven absent. */
	CHECK_OK(kt_client_lookup(w->sender, ACCT("tel:+10000000000"), &l));
	CHECK(!kt_lookup_present(l) && kt_lookup_version(l) == 0);
	CHECK(kt_lookup_provenance(l, &p) == KT_ERR_NOT_FOUND);
	kt_lookup_free(l);
	CHECK(kt_client_seal(w->sender, ACCT("tel:+10000000000"), ACCT("x"), &s) ==
	      KT_ERR_CLIENT_NO_DEVICES && s == NULL);

	/* Seal, opened by each device. */
	CHECK_OK(kt_client_seal(w->sender, ACCT(ALICE), ACCT("hello alice"), &s));
	CHECK(kt_sealed_version(s) == 3);
	both[0] = w->phone;
	both[1] = w->laptop;
	open_each(s, both, 2, "hello alice");
	kt_sealed_free(s);

	/* Monitor: three versions, none flagged. */
	own.id = kt_device_keys_id(w->laptop, &own.id_len);
	own.sign_pk = lpk;
	CHECK_OK(kt_client_monitor(w->owner, ACCT(ALICE), w->phone, &own, 1, &rep));
	CHECK(kt_monitor_report_count(rep) == 3);
	CHECK(kt_monitor_report_flagged(rep) == 0);
	CHECK(kt_monitor_report_version(rep) == 3);
	CHECK_OK(kt_monitor_report_item(rep, 0, &it));
	CHECK(it.version == 1 && it.provenance.type == KT_PROVENANCE_REGISTRAR);
	CHECK(it.provenance.operation == KT_OPERATION_ENROL);
	kt_monitor_report_free(rep);
	/* Without the laptop in the owner set, its change is flagged. */
	{
		kt_client *c3 = client_open(wfile("alice3.state"), 0, NULL, 0, NULL);

		CHECK_OK(kt_client_monitor(c3, ACCT(ALICE), w->phone, NULL, 0, &rep));
		CHECK(kt_monitor_report_flagged(rep) == 1);
		CHECK_OK(kt_monitor_report_item(rep, 2, &it));
		CHECK(it.flags == KT_MONITOR_FLAG_UNKNOWN_DEVICE);
		kt_monitor_report_free(rep);
		kt_client_close(c3);
	}
	/* A device that is not Alice's may not read her history. */
	CHECK(kt_client_monitor(w->owner, ACCT(ALICE), w->tablet, NULL, 0, &rep) ==
	      KT_ERR_CLIENT_DENIED && rep == NULL);

	/* Remove the laptop, re-add it: the log grows by two. */
	CHECK_OK(kt_client_remove_device(w->owner, ACCT(ALICE), w->phone, lid,
					 spec.id_len, &res));
	CHECK(res.version == 4);
	kt_device_keys_spec(w->laptop, ACCT("fcm:laptop-3"),
			    KT_DEVICE_KIND_COMPANION, &spec);
	CHECK_OK(kt_client_add_device(w->owner, ACCT(ALICE), w->phone, &spec, &res));
	CHECK(res.version == 5);
	CHECK(kt_client_remove_device(w->owner, ACCT(ALICE), w->phone,
				      ACCT("no-such-device"), &res) ==
	      KT_ERR_CLIENT_NOT_FOUND);

	/* Checkpoint: the owner's client is at the newest size. */
	CHECK_OK(kt_client_checkpoint(w->owner, &size));
	CHECK(size > w->size_a && kt_client_trusted_size(w->owner) == size);
	CHECK_OK(kt_client_reload_state(w->owner));
	CHECK(kt_client_trusted_size(w->owner) == size);
	itest_note("library happy paths: ok (tree size %llu)",
		   (unsigned long long)size);
}

/* ---- the tampering ---------------------------------------------------------------- */

static uint64_t clock_late(void *arg)
{
	(void)arg;
	return itest_now_ms() + 3600u * 1000u;
}

static void tampering(itest_ktd *k, world *w)
{
	const char *bob = wfile("bob.state");
	char keyline[1024], *wvk = NULL;
	uint8_t seed[32], *before;
	kt_note_signer wit;
	kt_lookup *l = NULL;
	kt_client *c;
	size_t i, n, blen, vlen = 0;
	FILE *f;

	/* Another account's valid VRF proof (a separate lookup). */
	{
		Keytrail__V1__LookupRequest req = KEYTRAIL__V1__LOOKUP_REQUEST__INIT;
		Keytrail__V1__ReadAt at = KEYTRAIL__V1__READ_AT__INIT;
		Keytrail__V1__LookupResponse *m;
		kt_gc_result res;

		req.at = &at;
		req.account.data = (uint8_t *)(uintptr_t)CAROL;
		req.account.len = strlen(CAROL);
		itest_call_pb(k, M_LOOKUP, &req.base, NULL, &res);
		CHECK_STATUS(&res, 0);
		m = keytrail__v1__lookup_response__unpack(NULL, res.body_len, res.body);
		CHECK(m != NULL && m->vrf_proof.len == sizeof(T.other_vrf));
		memcpy(T.other_vrf, m->vrf_proof.data, m->vrf_proof.len);
		T.other_vrf_len = m->vrf_proof.len;
		keytrail__v1__lookup_response__free_unpacked(m, NULL);
		kt_gc_result_clear(&res);
	}
	/* Keys: another key with the log's name; the node's own log key. */
	randombytes_buf(seed, sizeof(seed));
	CHECK_OK(kt_note_signer_from_seed(&T.forger, k->origin, strlen(k->origin),
					  KT_NOTE_KEY_ED25519, seed));
	snprintf(keyline, sizeof(keyline), "%s/log.key", k->data_dir);
	f = fopen(keyline, "r");
	CHECK(f != NULL && fgets(keyline, sizeof(keyline), f) != NULL);
	fclose(f);
	n = strcspn(keyline, "\n");
	CHECK_OK(kt_note_signer_parse(&T.log, keyline, n));
	sodium_memzero(keyline, sizeof(keyline));

	/* Bob trusts size_a; the log has grown since: the answer carries a
	 * consistency proof.  Count the proofs' elements. */
	T.mode = T_COUNT;
	CHECK(kt_client_lookup(w->sender, ACCT(ALICE), &l) == KT_ERR_CLIENT_OPENING);
	T.mode = T_NONE;
	CHECK(T.n_cons >= 1 && T.n_incl >= 1 && T.map_len > 0);
	CHECK(T.vrf_len == 80 && T.opening_len == 16);
	itest_note("proofs: %zu consistency, %zu inclusion hashes, map proof %zu "
		   "bytes", T.n_cons, T.n_incl, T.map_len);

	for (i = 0; i < T.n_cons; i++)
		expect_fail(w->sender, bob, T_CONS, i, KT_ERR_CLIENT_INCONSISTENT,
			    "consistency hash");
	for (i = 0; i < T.n_incl; i++)
		expect_fail(w->sender, bob, T_INCL, i, KT_ERR_CLIENT_ENTRY_INCLUSION,
			    "inclusion hash");
	for (i = 0; i < T.map_len; i++)
		expect_fail(w->sender, bob, T_MAP, i, KT_ERR_CLIENT_MAP_PROOF,
			    "map proof byte");
	for (i = 0; i < T.vrf_len; i++)
		expect_fail(w->sender, bob, T_VRF, i, KT_ERR_CLIENT_VRF,
			    "VRF proof byte");
	expect_fail(w->sender, bob, T_VRF_OTHER, 0, KT_ERR_CLIENT_VRF,
		    "another account's VRF proof");
	for (i = 0; i < T.opening_len; i++)
		expect_fail(w->sender, bob, T_OPENING, i, KT_ERR_CLIENT_OPENING,
			    "opening byte");
	expect_fail(w->sender, bob, T_VALUE, 0, KT_ERR_CLIENT_OPENING,
		    "changed value");
	expect_fail(w->sender, bob, T_HIDE, 0, KT_ERR_CLIENT_MAP_PROOF,
		    "account hidden");
	expect_fail(w->sender, bob, T_FORGED, 0, KT_ERR_CLIENT_CHECKPOINT_SIG,
		    "checkpoint signed by another key");
	T.fork_size = kt_client_trusted_size(w->sender);
	expect_fail(w->sender, bob, T_FORK, 0, KT_ERR_CLIENT_FORK,
		    "log-signed fork at the trusted size");
	T.old_size = w->size_a;
	/* Bob must trust something newer than size_a first. */
	CHECK_OK(kt_client_lookup(w->sender, ACCT(ALICE), &l));
	CHECK(kt_lookup_version(l) == 5);
	kt_lookup_free(l);
	CHECK(kt_client_trusted_size(w->sender) > w->size_a);
	expect_fail(w->sender, bob, T_ROLLBACK, 0, KT_ERR_CLIENT_ROLLBACK,
		    "older checkpoint");
	itest_note("tampered lookups: each failed with its error, state unchanged");

	/* Stale: a clock an hour late, then a 1 ms max age. */
	c = client_open(bob, 1, clock_late, 0, NULL);
	T.mode = T_NONE;
	before = read_state(bob, &blen);
	CHECK(kt_client_lookup(c, ACCT(ALICE), &l) == KT_ERR_CLIENT_STALE);
	check_evidence(c, KT_ERR_CLIENT_STALE);
	{
		kt_sealed *s = NULL;

		CHECK(kt_client_seal(c, ACCT(ALICE), ACCT("x"), &s) ==
		      KT_ERR_CLIENT_STALE && s == NULL);
	}
	kt_client_close(c);
	c = client_open(bob, 1, NULL, 1, NULL);
	usleep(5000);
	CHECK(kt_client_lookup(c, ACCT(ALICE), &l) == KT_ERR_CLIENT_STALE);
	kt_client_close(c);
	{
		size_t alen;
		uint8_t *after = read_state(bob, &alen);

		CHECK(alen == blen && memcmp(after, before, blen) == 0);
		free(after);
	}
	free(before);

	/* A witness policy no checkpoint meets: a fresh state file stays
	 * absent (Bob's, made without witnesses, is refused at open). */
	randombytes_buf(seed, sizeof(seed));
	CHECK_OK(kt_note_signer_from_seed(&wit, "witness.example/w1", 18,
					  KT_NOTE_KEY_COSIG_V1, seed));
	CHECK_OK(kt_note_verifier_format(&wit.pub, &wvk, &vlen));
	kt_note_signer_wipe(&wit);
	c = client_open(wfile("w.state"), 1, NULL, 0, wvk);
	CHECK(kt_client_lookup(c, ACCT(ALICE), &l) == KT_ERR_CLIENT_WITNESS_POLICY);
	check_evidence(c, KT_ERR_CLIENT_WITNESS_POLICY);
	{
		kt_sealed *s = NULL;

		CHECK(kt_client_seal(c, ACCT(ALICE), ACCT("x"), &s) ==
		      KT_ERR_CLIENT_WITNESS_POLICY && s == NULL);
	}
	CHECK(access(wfile("w.state"), F_OK) != 0);
	kt_client_close(c);
	free(wvk);
	itest_note("stale and witness policy: ok");
}

/* The owner's monitor against altered History answers. */
static void tamper_monitor(world *w)
{
	kt_client *c;
	kt_monitor_report *rep = NULL;
	const char *st = wfile("alice4.state");
	kt_update_result res;
	const uint8_t *pid;
	size_t pid_len, blen, alen;
	uint8_t *before, *after;

	/* Caught up to version 5, then two more changes by the phone. */
	c = client_open(st, 1, NULL, 0, NULL);
	CHECK_OK(kt_client_monitor(c, ACCT(ALICE), w->phone, NULL, 0, &rep));
	CHECK(kt_monitor_report_version(rep) == 5);
	kt_monitor_report_free(rep);
	pid = kt_device_keys_id(w->phone, &pid_len);
	CHECK_OK(kt_client_set_push(w->owner, ACCT(ALICE), w->phone, pid, pid_len,
				    ACCT("apns:phone-6"), &res));
	CHECK_OK(kt_client_set_push(w->owner, ACCT(ALICE), w->phone, pid, pid_len,
				    ACCT("apns:phone-7"), &res));
	CHECK(res.version == 7);
	before = read_state(st, &blen);
	T.mode = T_HIST_WITHHOLD;
	T.applied = 0;
	CHECK(kt_client_monitor(c, ACCT(ALICE), w->phone, NULL, 0, &rep) ==
	      KT_ERR_CLIENT_VERSION_GAP);
	CHECK(T.applied && rep == NULL);
	check_evidence(c, KT_ERR_CLIENT_VERSION_GAP);
	T.mode = T_HIST_OPENING;
	T.applied = 0;
	CHECK(kt_client_monitor(c, ACCT(ALICE), w->phone, NULL, 0, &rep) ==
	      KT_ERR_CLIENT_OPENING);
	CHECK(T.applied && rep == NULL);
	check_evidence(c, KT_ERR_CLIENT_OPENING);
	T.mode = T_NONE;
	after = read_state(st, &alen);
	CHECK(alen == blen && memcmp(after, before, blen) == 0);
	free(after);
	free(before);
	/* Untampered, the same client verifies the two new versions. */
	CHECK_OK(kt_client_monitor(c, ACCT(ALICE), w->phone, NULL, 0, &rep));
	CHECK(kt_monitor_report_count(rep) == 2 && kt_monitor_report_flagged(rep) == 0);
	CHECK(kt_monitor_report_version(rep) == 7);
	kt_monitor_report_free(rep);
	kt_client_close(c);
	itest_note("tampered histories: ok");
}

int main(int argc, char **argv)
{
	static const char *const extra[] = {"heartbeat_interval=1h", NULL};
	itest_ktd k;
	world w;

	itest_init(argc, argv);
	memset(&w, 0, sizeof(w));
	itest_ktd_new(&k, extra);
	snprintf(work, sizeof(work), "%s/w", k.base);
	CHECK(mkdir(work, 0700) == 0);
	itest_ktd_start(&k);
	snprintf(conf_path, sizeof(conf_path), "%s/client.conf", k.data_dir);
	happy(&k, &w);
	tampering(&k, &w);
	tamper_monitor(&w);
	kt_client_close(w.owner);
	kt_client_close(w.sender);
	kt_device_keys_free(w.phone);
	kt_device_keys_free(w.laptop);
	kt_device_keys_free(w.tablet);
	kt_note_signer_wipe(&T.forger);
	kt_note_signer_wipe(&T.log);
	itest_ktd_stop(&k);
	itest_ktd_close_channel(&k);
	itest_note("tamper: all passed");
	return 0;
}
