/*
 * kt-gen-vectors — writes tests/vectors/keytrail/encodings.json: the fixed
 * encodings of keytrail's structures (merkle/kt_types.h, merkle/kt_commit.h)
 * computed from fixed, documented inputs.
 *
 * usage: kt-gen-vectors OUT.json [FUZZ_CORPUS_DIR]
 *
 * With FUZZ_CORPUS_DIR it also writes the seeds of tests/fuzz/corpus/types/:
 * each vector's encoding behind the selector byte of tests/fuzz/fuzz_types.c.
 *
 * Inputs (all fixed; see docs/PROTOCOL.md §1 and the "inputs" member of the
 * output):
 *   Ed25519 keys from RFC 8032 seeds: phone = 32 x 0x01, laptop = 32 x 0x02,
 *   registrar = 32 x 0x03.  X25519 keys: secret 32 x 0x11 (phone), 32 x 0x12
 *   (laptop), public = X25519(secret, 9).  Openings: 0x10..0x1f (version 1),
 *   0x00..0x0f (version 2), 0x20..0x2f (version 3).  Index 0x80..0x9f, map
 *   root 0xc0..0xdf.  Log entry timestamps T1, T2, T3 (below) for versions
 *   1..3; each value is built with kt_value_apply_op from the previous one,
 *   the provenance and that timestamp (so each device records who added it:
 *   "phone" by the registrar, "laptop" by the device "phone"), and checked
 *   with
 *   kt_provenance_check_transition and kt_provenance_verify_signature.  The
 *   registrar token signs the whole enrolled device spec.
 *
 * The unit test tests/unit/test_types.c re-derives every value from these
 * inputs and compares it with the committed file, so regenerate the file only
 * for a deliberate, documented encoding change.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "kt_commit.h"
#include "kt_hash.h"
#include "kt_types.h"

#define ACCOUNT "tel:+15551234567"
#define T1 1767225600000ULL           /* 2026-01-01T00:00:00Z: version 1 entry */
#define T2 1767229200000ULL           /* version 2 entry */
#define T3 1767232800000ULL           /* version 3 entry */
#define TOKEN_EXPIRY 1767312000000ULL /* registrar token expiry */
#define HISTORY_REQ_TS 1767240000000ULL
#define HEARTBEAT_TS (T2 + 10000ULL)
#define REASON "laptop reported stolen (Ger\xc3\xa4t gestohlen), ticket 4711"
#define LABEL "ops-admin"
#define NEW_PUSH "fcm:cXyZ-0123"

/* Fuzz selectors: keep in step with tests/fuzz/fuzz_types.c. */
enum {
	SEL_DEVICE, SEL_SPEC, SEL_VALUE, SEL_PROV, SEL_OP, SEL_LEAF, SEL_ENTRY,
	SEL_SIGN_KEY, SEL_ENC_KEY, SEL_SIG, SEL_TEXT
};

static void die(const char *what, int r)
{
	fprintf(stderr, "kt-gen-vectors: %s: %s\n", what, kt_errname(r));
	exit(1);
}

static void check(const char *what, int r)
{
	if (r != KT_OK)
		die(what, r);
}

/* ---- a tiny JSON writer ---------------------------------------------- */

typedef struct jw {
	FILE *f;
	int depth;
	int first[16];
} jw;

/* Comma, newline and indentation before a member / element. */
static void jw_sep(jw *j, const char *key)
{
	int i;

	if (j->depth > 0) {
		if (!j->first[j->depth])
			fputc(',', j->f);
		fputc('\n', j->f);
	}
	j->first[j->depth] = 0;
	for (i = 0; i < j->depth; i++)
		fputs("  ", j->f);
	if (key != NULL)
		fprintf(j->f, "\"%s\": ", key);
}

static void jw_begin(jw *j, const char *key, char open)
{
	jw_sep(j, key);
	fputc(open, j->f);
	j->depth++;
	j->first[j->depth] = 1;
}

static void jw_end(jw *j, char close)
{
	int i;

	j->depth--;
	fputc('\n', j->f);
	for (i = 0; i < j->depth; i++)
		fputs("  ", j->f);
	fputc(close, j->f);
}

static void jw_hex(jw *j, const char *key, const uint8_t *p, size_t n)
{
	size_t i;

	jw_sep(j, key);
	fputc('"', j->f);
	for (i = 0; i < n; i++)
		fprintf(j->f, "%02x", p[i]);
	fputc('"', j->f);
}

static void jw_u64(jw *j, const char *key, uint64_t v)
{
	jw_sep(j, key);
	fprintf(j->f, "%llu", (unsigned long long)v);
}

/* UTF-8 text that needs no escaping (checked). */
static void jw_str(jw *j, const char *key, const char *s)
{
	if (strpbrk(s, "\"\\\n\t") != NULL)
		die("string needs escaping", KT_ERR_INVALID_ARG);
	jw_sep(j, key);
	fprintf(j->f, "\"%s\"", s);
}

/* ---- encoded blobs -------------------------------------------------------- */

typedef struct blob {
	uint8_t *p;
	size_t n;
} blob;

static blob take(kt_wbuf *w, int r, const char *what)
{
	blob b;

	if (r != KT_OK) {
		kt_wbuf_free(w);
		die(what, r);
	}
	check(what, kt_wbuf_take(w, &b.p, &b.n));
	return b;
}

static void blob_free(blob *b)
{
	free(b->p);
	b->p = NULL;
	b->n = 0;
}

static blob enc_sign_key(const kt_sign_key *k)
{
	kt_wbuf w;

	kt_wbuf_init(&w, KT_SIGN_KEY_BYTES);
	return take(&w, kt_sign_key_encode(&w, k), "sign key");
}

static blob enc_enc_key(const kt_enc_key *k)
{
	kt_wbuf w;

	kt_wbuf_init(&w, KT_ENC_KEY_BYTES);
	return take(&w, kt_enc_key_encode(&w, k), "enc key");
}

static blob enc_sig(const kt_signature *s)
{
	kt_wbuf w;

	kt_wbuf_init(&w, KT_SIGNATURE_BYTES);
	return take(&w, kt_signature_encode(&w, s), "signature");
}

static blob enc_device(const kt_device *d)
{
	kt_wbuf w;

	kt_wbuf_init(&w, KT_DEVICE_MAX_BYTES);
	return take(&w, kt_device_encode(&w, d), "device");
}

static blob enc_spec(const kt_device *d)
{
	kt_wbuf w;

	kt_wbuf_init(&w, KT_DEVICE_SPEC_MAX_BYTES);
	return take(&w, kt_device_spec_encode(&w, d), "device spec");
}

static blob enc_value(const kt_account_value *v)
{
	kt_wbuf w;

	kt_wbuf_init(&w, KT_VALUE_MAX_BYTES);
	return take(&w, kt_account_value_encode(&w, v), "value");
}

static blob enc_prov(const kt_provenance *pv)
{
	kt_wbuf w;

	kt_wbuf_init(&w, KT_PROVENANCE_MAX_BYTES);
	return take(&w, kt_provenance_encode(&w, pv), "provenance");
}

static blob enc_op(const kt_update_op *op)
{
	kt_wbuf w;

	kt_wbuf_init(&w, KT_UPDATE_OP_MAX_BYTES);
	return take(&w, kt_update_op_encode(&w, op), "op");
}

static blob update_msg(const kt_update_op *op, uint64_t expected)
{
	kt_wbuf w;

	kt_wbuf_init(&w, KT_UPDATE_MESSAGE_MAX_BYTES);
	return take(&w, kt_update_message(&w, (const uint8_t *)ACCOUNT, strlen(ACCOUNT),
					  op, expected), "update message");
}

/* The token covers the whole device spec being enrolled. */
static blob token_msg(const kt_device *device_spec, uint64_t expiry)
{
	kt_wbuf w;

	kt_wbuf_init(&w, KT_REGISTRAR_TOKEN_MESSAGE_MAX_BYTES);
	return take(&w, kt_registrar_token_message(&w, (const uint8_t *)ACCOUNT,
						   strlen(ACCOUNT), device_spec, expiry),
		    "token message");
}

static blob enc_leaf(const kt_map_leaf *leaf)
{
	kt_wbuf w;

	kt_wbuf_init(&w, KT_MAP_LEAF_BYTES);
	return take(&w, kt_map_leaf_encode(&w, leaf), "map leaf");
}

static blob enc_entry(const kt_log_entry *e)
{
	kt_wbuf w;

	kt_wbuf_init(&w, KT_LOG_ENTRY_MAX_BYTES);
	return take(&w, kt_log_entry_encode(&w, e), "entry");
}

/* ---- fixed inputs ------------------------------------------------------ */

typedef struct key_in {
	const char *name;
	uint8_t seed[32];
	uint8_t sk[KT_ED25519_SK_BYTES];
	kt_sign_key sign;
	int has_enc;
	uint8_t enc_secret[32];
	kt_enc_key enc;
} key_in;

static void make_key(key_in *k, const char *name, uint8_t seed_byte, uint8_t enc_byte)
{
	memset(k, 0, sizeof(*k));
	k->name = name;
	memset(k->seed, seed_byte, sizeof(k->seed));
	k->sign.type = KT_SIGN_KEY_ED25519;
	if (crypto_sign_seed_keypair(k->sign.pk, k->sk, k->seed) != 0)
		die("seed keypair", KT_ERR_INTERNAL);
	if (enc_byte != 0) {
		k->has_enc = 1;
		memset(k->enc_secret, enc_byte, sizeof(k->enc_secret));
		k->enc.type = KT_ENC_KEY_X25519;
		if (crypto_scalarmult_base(k->enc.pk, k->enc_secret) != 0)
			die("x25519 base", KT_ERR_INTERNAL);
	}
}

static void set_bytes(uint8_t *dst, size_t *dst_len, const char *s)
{
	*dst_len = strlen(s);
	memcpy(dst, s, *dst_len);
}

/* by_id: the authorising device for KT_PROV_DEVICE, "" otherwise. */
static void make_device(kt_device *d, const char *id, const key_in *k,
			const char *push, uint8_t kind, uint64_t added_at,
			uint8_t by_type, const char *by_id)
{
	memset(d, 0, sizeof(*d));
	set_bytes(d->id, &d->id_len, id);
	d->sign_pk = k->sign;
	d->enc_pk = k->enc;
	set_bytes(d->push, &d->push_len, push);
	d->kind = kind;
	d->added_at_ms = added_at;
	d->added_by_type = by_type;
	set_bytes(d->added_by_id, &d->added_by_id_len, by_id);
}

static void fill(uint8_t *p, size_t n, uint8_t first)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(first + i);
}

/* ---- fuzz seeds ---------------------------------------------------------- */

static void seed(const char *dir, const char *name, int selector, const blob *b)
{
	char path[4096];
	FILE *f;

	if (dir == NULL)
		return;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (f == NULL)
		die(path, KT_ERR_IO);
	if (fputc(selector, f) == EOF ||
	    (b->n != 0 && fwrite(b->p, 1, b->n, f) != b->n)) {
		fclose(f);
		die(path, KT_ERR_IO);
	}
	if (fclose(f) != 0)
		die(path, KT_ERR_IO);
}

/* ---- JSON pieces --------------------------------------------------------- */

static void jw_blob(jw *j, const char *key, const blob *b)
{
	jw_hex(j, key, b->p, b->n);
}

static void jw_sign_key(jw *j, const char *key, const kt_sign_key *k)
{
	blob b = enc_sign_key(k);

	jw_blob(j, key, &b);
	blob_free(&b);
}

static void jw_sig(jw *j, const char *key, const kt_signature *s)
{
	blob b = enc_sig(s);

	jw_blob(j, key, &b);
	blob_free(&b);
}

/* Device fields; with_time 0 writes a spec (no added_at_ms, no added_by,
 * no device encoding). */
static void jw_device(jw *j, const char *key, const kt_device *d, int with_time)
{
	blob e, s = enc_spec(d), ek = enc_enc_key(&d->enc_pk);

	jw_begin(j, key, '{');
	jw_hex(j, "id", d->id, d->id_len);
	jw_sign_key(j, "sign_key", &d->sign_pk);
	jw_blob(j, "enc_key", &ek);
	jw_hex(j, "push", d->push, d->push_len);
	jw_u64(j, "kind", d->kind);
	if (with_time) {
		e = enc_device(d);
		jw_u64(j, "added_at_ms", d->added_at_ms);
		jw_u64(j, "added_by_type", d->added_by_type);
		jw_hex(j, "added_by_id", d->added_by_id, d->added_by_id_len);
		jw_blob(j, "encoding", &e);
		blob_free(&e);
	}
	jw_blob(j, "spec_encoding", &s);
	jw_end(j, '}');
	blob_free(&s);
	blob_free(&ek);
}

static void jw_value(jw *j, const char *key, const kt_account_value *v)
{
	blob e = enc_value(v);
	size_t i;

	jw_begin(j, key, '{');
	jw_begin(j, "devices", '[');
	for (i = 0; i < v->count; i++)
		jw_device(j, NULL, &v->devices[i], 1);
	jw_end(j, ']');
	jw_blob(j, "encoding", &e);
	jw_end(j, '}');
	blob_free(&e);
}

/* The fields of an update op (op byte, then its payload's fields). */
static void jw_op_fields(jw *j, const kt_update_op *op)
{
	jw_u64(j, "op", op->op);
	if (op->op == KT_OP_ENROL || op->op == KT_OP_ADD_DEVICE) {
		jw_device(j, "device", &op->device, 0);
	} else {
		jw_hex(j, "device_id", op->device_id, op->device_id_len);
		if (op->op == KT_OP_SET_PUSH)
			jw_hex(j, "push", op->push, op->push_len);
	}
}

/* expected_version: what the device signed (device provenance only). */
static void jw_prov(jw *j, const kt_provenance *pv, const blob *signed_msg,
		    uint64_t expected_version)
{
	blob e = enc_prov(pv), o = enc_op(&pv->op);

	jw_begin(j, NULL, '{');
	jw_u64(j, "type", pv->type);
	jw_begin(j, "op", '{');
	jw_op_fields(j, &pv->op);
	jw_blob(j, "op_encoding", &o);
	jw_end(j, '}');
	if (pv->type == KT_PROV_DEVICE) {
		jw_hex(j, "device_id", pv->device_id, pv->device_id_len);
		jw_u64(j, "expected_version", expected_version);
		jw_sig(j, "signature", &pv->sig);
		jw_blob(j, "signed_message", signed_msg);
	} else if (pv->type == KT_PROV_REGISTRAR) {
		jw_sign_key(j, "registrar_key", &pv->registrar_pk);
		jw_u64(j, "expiry_ms", pv->expiry_ms);
		jw_sig(j, "signature", &pv->sig);
		jw_blob(j, "signed_message", signed_msg);
	} else {
		jw_hex(j, "reason", pv->reason, pv->reason_len);
		jw_str(j, "reason_text", REASON);
		jw_hex(j, "label", pv->label, pv->label_len);
	}
	jw_blob(j, "encoding", &e);
	jw_end(j, '}');
	blob_free(&e);
	blob_free(&o);
}

static void jw_leaf_fields(jw *j, const kt_map_leaf *leaf)
{
	jw_u64(j, "version", leaf->version);
	jw_u64(j, "log_index", leaf->log_index);
	jw_hex(j, "commitment", leaf->commitment, sizeof(leaf->commitment));
	jw_hex(j, "history", leaf->history, sizeof(leaf->history));
}

/* ---- the story: three versions of one account ---------------------------- */

typedef struct story {
	key_in phone, laptop, registrar;
	kt_device d_phone, d_laptop;
	kt_device d_escrow;            /* a device the operator added (not in
	                                  the story's values) */
	kt_account_value val[4];       /* val[v] = value at version v (1..3) */
	kt_provenance prov[4];         /* provenance of version v */
	blob val_enc[4], prov_enc[4];
	blob signed_msg[4];            /* message the provenance's signature covers */
	uint8_t opening[4][KT_OPENING_BYTES];
	uint64_t log_index[4];
	uint64_t timestamp[4];         /* timestamp_ms of version v's log entry */
	kt_map_leaf leaf[4];
	kt_update_op ops[4];           /* enrol, add, set_push, remove */
	uint64_t op_expected[4];
	blob op_msg[4];
	kt_signature op_sig[4];
} story;

static void build_ops(story *s)
{
	kt_update_op *op = s->ops;
	int i;

	memset(op, 0, 4 * sizeof(*op));
	op[0].op = KT_OP_ENROL;
	op[0].device = s->d_phone;
	op[0].device.added_at_ms = 0;          /* a spec: no time, no added_by */
	op[0].device.added_by_type = 0;
	op[0].device.added_by_id_len = 0;
	memset(op[0].device.added_by_id, 0, sizeof(op[0].device.added_by_id));
	s->op_expected[0] = 0;
	op[1].op = KT_OP_ADD_DEVICE;
	op[1].device = s->d_laptop;
	op[1].device.added_at_ms = 0;
	op[1].device.added_by_type = 0;
	op[1].device.added_by_id_len = 0;
	memset(op[1].device.added_by_id, 0, sizeof(op[1].device.added_by_id));
	s->op_expected[1] = 1;
	op[2].op = KT_OP_SET_PUSH;
	set_bytes(op[2].device_id, &op[2].device_id_len, "laptop");
	set_bytes(op[2].push, &op[2].push_len, NEW_PUSH);
	s->op_expected[2] = 2;
	op[3].op = KT_OP_REMOVE_DEVICE;
	set_bytes(op[3].device_id, &op[3].device_id_len, "laptop");
	s->op_expected[3] = 2;
	for (i = 0; i < 4; i++) {
		s->op_msg[i] = update_msg(&op[i], s->op_expected[i]);
		memset(&s->op_sig[i], 0, sizeof(s->op_sig[i]));
		if (i > 0)
			check("sign op", kt_sig_sign(&s->op_sig[i], s->phone.sk,
						     s->op_msg[i].p, s->op_msg[i].n));
	}
}

/* 1 if a and b have the same encoding (added_at_ms included). */
static int same_device(const kt_device *a, const kt_device *b)
{
	blob x = enc_device(a), y = enc_device(b);
	int same = x.n == y.n && memcmp(x.p, y.p, x.n) == 0;

	blob_free(&x);
	blob_free(&y);
	return same;
}

/* val[v] = val[v-1] with prov[v].op applied at timestamp[v]; checked against
 * the devices of the story, with kt_provenance_check_transition and with
 * kt_provenance_verify_signature (expected_version v-1). */
static void build_values(story *s)
{
	int v;

	for (v = 1; v <= 3; v++) {
		check("apply", kt_value_apply_op(&s->val[v], &s->val[v - 1],
						 &s->prov[v], s->timestamp[v],
						 KT_DEFAULT_MAX_DEVICES));
		check("transition", kt_provenance_check_transition(
			      &s->val[v - 1], &s->val[v], &s->prov[v], s->timestamp[v]));
		check("provenance signature", kt_provenance_verify_signature(
			      &s->val[v - 1], &s->prov[v], (const uint8_t *)ACCOUNT,
			      strlen(ACCOUNT), (uint64_t)(v - 1)));
	}
	if (s->val[2].count != 2 || s->val[3].count != 1 ||
	    !same_device(&s->val[2].devices[0], &s->d_laptop) ||
	    !same_device(&s->val[2].devices[1], &s->d_phone) ||
	    !same_device(&s->val[3].devices[0], &s->d_phone))
		die("story values", KT_ERR_INTERNAL);
}

static void build_story(story *s)
{
	uint8_t hist[KT_HASH_BYTES];
	int v;

	memset(s, 0, sizeof(*s));
	make_key(&s->phone, "phone", 0x01, 0x11);
	make_key(&s->laptop, "laptop", 0x02, 0x12);
	make_key(&s->registrar, "registrar", 0x03, 0);
	make_device(&s->d_phone, "phone", &s->phone, "apns:0123456789abcdef",
		    KT_DEVICE_PRIMARY, T1, KT_PROV_REGISTRAR, "");
	make_device(&s->d_laptop, "laptop", &s->laptop, "", KT_DEVICE_COMPANION, T2,
		    KT_PROV_DEVICE, "phone");
	make_device(&s->d_escrow, "escrow", &s->laptop, "", KT_DEVICE_ESCROW, T3,
		    KT_PROV_OPERATOR, "");
	build_ops(s);

	s->timestamp[1] = T1;
	s->timestamp[2] = T2;
	s->timestamp[3] = T3;
	/* v1: enrolled by the registrar. */
	s->prov[1].type = KT_PROV_REGISTRAR;
	s->prov[1].op = s->ops[0];
	s->prov[1].registrar_pk = s->registrar.sign;
	s->prov[1].expiry_ms = TOKEN_EXPIRY;
	s->signed_msg[1] = token_msg(&s->prov[1].op.device, TOKEN_EXPIRY);
	check("sign token", kt_sig_sign(&s->prov[1].sig, s->registrar.sk,
					s->signed_msg[1].p, s->signed_msg[1].n));
	/* v2: the phone adds the laptop. */
	s->prov[2].type = KT_PROV_DEVICE;
	s->prov[2].op = s->ops[1];
	set_bytes(s->prov[2].device_id, &s->prov[2].device_id_len, "phone");
	s->prov[2].sig = s->op_sig[1];
	s->signed_msg[2] = update_msg(&s->ops[1], s->op_expected[1]);
	/* v3: the operator removes the laptop. */
	s->prov[3].type = KT_PROV_OPERATOR;
	s->prov[3].op = s->ops[3];
	set_bytes(s->prov[3].reason, &s->prov[3].reason_len, REASON);
	set_bytes(s->prov[3].label, &s->prov[3].label_len, LABEL);
	build_values(s);

	fill(s->opening[1], KT_OPENING_BYTES, 0x10);
	fill(s->opening[2], KT_OPENING_BYTES, 0x00);
	fill(s->opening[3], KT_OPENING_BYTES, 0x20);
	s->log_index[1] = 3;
	s->log_index[2] = 7;
	s->log_index[3] = 12;
	memset(hist, 0, sizeof(hist));
	for (v = 1; v <= 3; v++) {
		s->val_enc[v] = enc_value(&s->val[v]);
		s->prov_enc[v] = enc_prov(&s->prov[v]);
		s->leaf[v].version = (uint64_t)v;
		s->leaf[v].log_index = s->log_index[v];
		check("commitment", kt_commitment_compute(
			      s->leaf[v].commitment, s->opening[v],
			      (const uint8_t *)ACCOUNT, strlen(ACCOUNT), (uint64_t)v,
			      s->val_enc[v].p, s->val_enc[v].n,
			      s->prov_enc[v].p, s->prov_enc[v].n));
		kt_history_step(hist, hist, (uint64_t)v, s->log_index[v],
				s->leaf[v].commitment);
		memcpy(s->leaf[v].history, hist, sizeof(hist));
	}
}

static void story_free(story *s)
{
	int i;

	for (i = 0; i < 4; i++) {
		kt_account_value_free(&s->val[i]);
		blob_free(&s->val_enc[i]);
		blob_free(&s->prov_enc[i]);
		blob_free(&s->signed_msg[i]);
		blob_free(&s->op_msg[i]);
	}
	sodium_memzero(s, sizeof(*s));
}

/* ---- sections of the output ---------------------------------------------- */

static void write_keys(jw *j, const story *s)
{
	const key_in *keys[3] = {&s->phone, &s->laptop, &s->registrar};
	blob b;
	int i;

	jw_begin(j, "keys", '[');
	for (i = 0; i < 3; i++) {
		jw_begin(j, NULL, '{');
		jw_str(j, "name", keys[i]->name);
		jw_hex(j, "ed25519_seed", keys[i]->seed, sizeof(keys[i]->seed));
		jw_sign_key(j, "sign_key", &keys[i]->sign);
		if (keys[i]->has_enc) {
			jw_hex(j, "x25519_secret", keys[i]->enc_secret,
			       sizeof(keys[i]->enc_secret));
			b = enc_enc_key(&keys[i]->enc);
			jw_blob(j, "enc_key", &b);
			blob_free(&b);
		}
		jw_end(j, '}');
	}
	jw_end(j, ']');
}

static void write_ops(jw *j, const story *s, const char *corpus)
{
	static const char *names[4] = {"op-enrol", "op-add", "op-set-push", "op-remove"};
	blob e;
	int i;

	jw_begin(j, "update_messages", '[');
	for (i = 0; i < 4; i++) {
		const kt_update_op *op = &s->ops[i];

		e = enc_op(op);
		jw_begin(j, NULL, '{');
		jw_op_fields(j, op);
		jw_hex(j, "account", (const uint8_t *)ACCOUNT, strlen(ACCOUNT));
		jw_u64(j, "expected_version", s->op_expected[i]);
		jw_blob(j, "op_encoding", &e);
		jw_blob(j, "message", &s->op_msg[i]);
		if (i > 0) {
			jw_str(j, "signer", "phone");
			jw_sig(j, "signature", &s->op_sig[i]);
		}
		jw_end(j, '}');
		seed(corpus, names[i], SEL_OP, &e);
		blob_free(&e);
	}
	jw_end(j, ']');
}

static void write_token_and_request(jw *j, const story *s)
{
	kt_wbuf w;
	blob m;
	kt_signature sig;

	jw_begin(j, "registrar_token", '{');
	jw_hex(j, "account", (const uint8_t *)ACCOUNT, strlen(ACCOUNT));
	jw_device(j, "device", &s->prov[1].op.device, 0);
	jw_u64(j, "expiry_ms", TOKEN_EXPIRY);
	jw_str(j, "signer", "registrar");
	jw_blob(j, "message", &s->signed_msg[1]);
	jw_sig(j, "signature", &s->prov[1].sig);
	jw_end(j, '}');

	kt_wbuf_init(&w, KT_HISTORY_REQUEST_MESSAGE_MAX_BYTES);
	m = take(&w, kt_history_request_message(&w, (const uint8_t *)ACCOUNT,
						strlen(ACCOUNT), 1, HISTORY_REQ_TS,
						(const uint8_t *)"phone", 5),
		 "history request");
	check("sign history request", kt_sig_sign(&sig, s->phone.sk, m.p, m.n));
	jw_begin(j, "history_request", '{');
	jw_hex(j, "account", (const uint8_t *)ACCOUNT, strlen(ACCOUNT));
	jw_u64(j, "from_version", 1);
	jw_u64(j, "timestamp_ms", HISTORY_REQ_TS);
	jw_hex(j, "device_id", (const uint8_t *)"phone", 5);
	jw_str(j, "signer", "phone");
	jw_blob(j, "message", &m);
	jw_sig(j, "signature", &sig);
	jw_end(j, '}');
	blob_free(&m);
}

static void write_commitments(jw *j, const story *s, const char *corpus)
{
	uint8_t digest[KT_HASH_BYTES], zero[KT_HASH_BYTES] = {0};
	blob e;
	int v;

	jw_begin(j, "commitment", '{');
	jw_hex(j, "opening", s->opening[2], KT_OPENING_BYTES);
	jw_hex(j, "account", (const uint8_t *)ACCOUNT, strlen(ACCOUNT));
	jw_u64(j, "version", 2);
	jw_blob(j, "value", &s->val_enc[2]);
	jw_blob(j, "provenance", &s->prov_enc[2]);
	jw_hex(j, "commitment", s->leaf[2].commitment, KT_COMMITMENT_BYTES);
	jw_end(j, '}');

	e = enc_leaf(&s->leaf[2]);
	kt_map_leaf_digest(digest, &s->leaf[2]);
	jw_begin(j, "map_leaf", '{');
	jw_leaf_fields(j, &s->leaf[2]);
	jw_blob(j, "encoding", &e);
	jw_hex(j, "leaf_digest", digest, sizeof(digest));
	jw_end(j, '}');
	seed(corpus, "map-leaf", SEL_LEAF, &e);
	blob_free(&e);

	jw_begin(j, "history_chain", '{');
	jw_hex(j, "start", zero, sizeof(zero));
	jw_u64(j, "start_version", 0);
	jw_begin(j, "versions", '[');
	for (v = 1; v <= 3; v++) {
		jw_begin(j, NULL, '{');
		jw_u64(j, "timestamp_ms", s->timestamp[v]);
		jw_hex(j, "opening", s->opening[v], KT_OPENING_BYTES);
		jw_blob(j, "value", &s->val_enc[v]);
		jw_blob(j, "provenance", &s->prov_enc[v]);
		jw_leaf_fields(j, &s->leaf[v]);
		jw_end(j, '}');
	}
	jw_end(j, ']');
	jw_end(j, '}');
}

static void write_entries(jw *j, const story *s, const char *corpus)
{
	kt_log_entry up, hb;
	blob eu, eh;
	uint8_t lh[KT_HASH_BYTES];

	memset(&up, 0, sizeof(up));
	up.type = KT_ENTRY_UPDATE;
	up.timestamp_ms = T2;
	fill(up.index, KT_INDEX_BYTES, 0x80);
	up.leaf = s->leaf[2];
	fill(up.map_root, KT_ROOT_BYTES, 0xc0);
	memset(&hb, 0, sizeof(hb));
	hb.type = KT_ENTRY_HEARTBEAT;
	hb.timestamp_ms = HEARTBEAT_TS;
	memcpy(hb.map_root, up.map_root, KT_ROOT_BYTES);
	eu = enc_entry(&up);
	eh = enc_entry(&hb);

	jw_begin(j, "log_entries", '{');
	jw_begin(j, "update", '{');
	jw_u64(j, "timestamp_ms", up.timestamp_ms);
	jw_hex(j, "index", up.index, KT_INDEX_BYTES);
	jw_begin(j, "leaf", '{');
	jw_leaf_fields(j, &up.leaf);
	jw_end(j, '}');
	jw_hex(j, "map_root", up.map_root, KT_ROOT_BYTES);
	jw_blob(j, "encoding", &eu);
	kt_sha256_prefixed(lh, 0x00, eu.p, eu.n, NULL, 0);
	jw_hex(j, "rfc9162_leaf_hash", lh, sizeof(lh));
	jw_end(j, '}');
	jw_begin(j, "heartbeat", '{');
	jw_u64(j, "timestamp_ms", hb.timestamp_ms);
	jw_hex(j, "map_root", hb.map_root, KT_ROOT_BYTES);
	jw_blob(j, "encoding", &eh);
	kt_sha256_prefixed(lh, 0x00, eh.p, eh.n, NULL, 0);
	jw_hex(j, "rfc9162_leaf_hash", lh, sizeof(lh));
	jw_end(j, '}');
	jw_end(j, '}');

	seed(corpus, "entry-update", SEL_ENTRY, &eu);
	seed(corpus, "entry-heartbeat", SEL_ENTRY, &eh);
	blob_free(&eu);
	blob_free(&eh);
}

static void write_seeds(const story *s, const char *corpus)
{
	static const char *pnames[4] = {NULL, "prov-registrar", "prov-device", "prov-operator"};
	blob b;
	int v;

	if (corpus == NULL)
		return;
	b = enc_device(&s->d_phone);
	seed(corpus, "device", SEL_DEVICE, &b);
	blob_free(&b);
	b = enc_device(&s->d_laptop);
	seed(corpus, "device-added-by-device", SEL_DEVICE, &b);
	blob_free(&b);
	b = enc_device(&s->d_escrow);
	seed(corpus, "device-added-by-operator", SEL_DEVICE, &b);
	blob_free(&b);
	b = enc_spec(&s->d_laptop);
	seed(corpus, "device-spec", SEL_SPEC, &b);
	blob_free(&b);
	seed(corpus, "value-2", SEL_VALUE, &s->val_enc[2]);
	b = enc_value(&s->val[0]);
	seed(corpus, "value-empty", SEL_VALUE, &b);
	blob_free(&b);
	for (v = 1; v <= 3; v++)
		seed(corpus, pnames[v], SEL_PROV, &s->prov_enc[v]);
	b = enc_sign_key(&s->phone.sign);
	seed(corpus, "sign-key", SEL_SIGN_KEY, &b);
	blob_free(&b);
	b = enc_enc_key(&s->phone.enc);
	seed(corpus, "enc-key", SEL_ENC_KEY, &b);
	blob_free(&b);
	b = enc_sig(&s->prov[1].sig);
	seed(corpus, "signature", SEL_SIG, &b);
	blob_free(&b);
	b.p = (uint8_t *)REASON;
	b.n = strlen(REASON);
	seed(corpus, "text", SEL_TEXT, &b);
}

int main(int argc, char **argv)
{
	static story s;
	const char *corpus = argc > 2 ? argv[2] : NULL;
	jw j;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: %s OUT.json [FUZZ_CORPUS_DIR]\n", argv[0]);
		return 2;
	}
	if (sodium_init() < 0)
		die("sodium_init", KT_ERR_INTERNAL);
	build_story(&s);
	memset(&j, 0, sizeof(j));
	j.f = fopen(argv[1], "w");
	if (j.f == NULL)
		die(argv[1], KT_ERR_IO);

	jw_begin(&j, NULL, '{');
	jw_str(&j, "comment", "keytrail fixed encodings; generated by "
	       "tests/tools/kt-gen-vectors.c from fixed inputs; "
	       "documented in docs/PROTOCOL.md §1");
	jw_str(&j, "account_text", ACCOUNT);
	write_keys(&j, &s);
	jw_device(&j, "device", &s.d_phone, 1);
	jw_device(&j, "device_added_by_operator", &s.d_escrow, 1);
	jw_value(&j, "value", &s.val[2]);
	jw_begin(&j, "provenance", '[');
	jw_prov(&j, &s.prov[2], &s.signed_msg[2], s.op_expected[1]);
	jw_prov(&j, &s.prov[1], &s.signed_msg[1], 0);
	jw_prov(&j, &s.prov[3], NULL, 0);
	jw_end(&j, ']');
	write_ops(&j, &s, corpus);
	write_token_and_request(&j, &s);
	write_commitments(&j, &s, corpus);
	write_entries(&j, &s, corpus);
	jw_end(&j, '}');
	fputc('\n', j.f);
	if (fclose(j.f) != 0)
		die(argv[1], KT_ERR_IO);
	write_seeds(&s, corpus);
	story_free(&s);
	return 0;
}
