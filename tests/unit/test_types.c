/*
 * test_types.c — the fixed encodings (kt_types.h) and commitments / history
 * (kt_commit.h).
 *
 * The vector tests rebuild every structure from the inputs written in
 * tests/vectors/keytrail/encodings.json (keys re-derived from their seeds,
 * signatures re-computed) and compare every output byte with the committed
 * file: a silent change of any encoding fails here.  Every positive check has
 * a forgery twin that must fail.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "kt_commit.h"
#include "kt_json.h"
#include "kt_types.h"

#define VECTORS KT_TEST_VECTORS "/keytrail/encodings.json"

/* ---- helpers ----------------------------------------------------------- */

static kt_json *load_vectors(void)
{
	kt_json *j = kt_json_load(VECTORS);

	assert_non_null(j);
	return j;
}

static const kt_json *get(const kt_json *o, const char *key)
{
	const kt_json *m = kt_json_get(o, key);

	if (m == NULL)
		fail_msg("vector member %s missing", key);
	return m;
}

/* Hex member into a fixed buffer of exactly n bytes. */
static void hex_fixed(const kt_json *o, const char *key, uint8_t *out, size_t n)
{
	size_t len;
	uint8_t *b = kt_json_hex(get(o, key), &len);

	assert_int_equal(len, n);
	memcpy(out, b, n);
	free(b);
}

/* Hex member into a buffer of at most max bytes; returns the length. */
static size_t hex_var(const kt_json *o, const char *key, uint8_t *out, size_t max)
{
	size_t len;
	uint8_t *b = kt_json_hex(get(o, key), &len);

	assert_true(len <= max);
	if (len != 0)
		memcpy(out, b, len);
	free(b);
	return len;
}

static uint64_t u64(const kt_json *o, const char *key)
{
	return kt_json_u64(get(o, key));
}

/* Asserts that w holds exactly the hex member key of o; frees w. */
static void expect_wbuf(kt_wbuf *w, int r, const kt_json *o, const char *key)
{
	size_t len;
	uint8_t *want = kt_json_hex(get(o, key), &len);

	assert_int_equal(r, KT_OK);
	assert_int_equal(w->len, len);
	if (len != 0)
		assert_memory_equal(w->data, want, len);
	free(want);
	kt_wbuf_free(w);
}

static void expect_bytes(const uint8_t *p, size_t n, const kt_json *o, const char *key)
{
	size_t len;
	uint8_t *want = kt_json_hex(get(o, key), &len);

	assert_int_equal(n, len);
	assert_memory_equal(p, want, len);
	free(want);
}

static void sign_key_from(const kt_json *o, const char *key, kt_sign_key *k)
{
	uint8_t b[KT_SIGN_KEY_BYTES];

	hex_fixed(o, key, b, sizeof(b));
	assert_int_equal(kt_sign_key_decode(k, b, sizeof(b)), KT_OK);
}

static void sig_from(const kt_json *o, const char *key, kt_signature *s)
{
	uint8_t b[KT_SIGNATURE_BYTES];

	hex_fixed(o, key, b, sizeof(b));
	assert_int_equal(kt_signature_decode(s, b, sizeof(b)), KT_OK);
}

static void device_from(const kt_json *o, kt_device *d, int with_time)
{
	uint8_t b[KT_ENC_KEY_BYTES];

	memset(d, 0, sizeof(*d));
	d->id_len = hex_var(o, "id", d->id, sizeof(d->id));
	sign_key_from(o, "sign_key", &d->sign_pk);
	hex_fixed(o, "enc_key", b, sizeof(b));
	assert_int_equal(kt_enc_key_decode(&d->enc_pk, b, sizeof(b)), KT_OK);
	d->push_len = hex_var(o, "push", d->push, sizeof(d->push));
	d->kind = (uint8_t)u64(o, "kind");
	if (with_time) {
		d->added_at_ms = u64(o, "added_at_ms");
		d->added_by_type = (uint8_t)u64(o, "added_by_type");
		d->added_by_id_len = hex_var(o, "added_by_id", d->added_by_id,
					     sizeof(d->added_by_id));
	}
}

/* Secret key of a named test key, re-derived from its seed in the file;
 * checks the derived public keys against the file. */
static void key_by_name(const kt_json *j, const char *name,
			uint8_t sk[KT_ED25519_SK_BYTES], kt_sign_key *pk)
{
	const kt_json *keys = get(j, "keys");
	size_t i;

	for (i = 0; i < kt_json_len(keys); i++) {
		const kt_json *k = kt_json_at(keys, i);
		uint8_t seed[32], derived[32];

		if (strcmp(get(k, "name")->text, name) != 0)
			continue;
		hex_fixed(k, "ed25519_seed", seed, sizeof(seed));
		assert_int_equal(crypto_sign_seed_keypair(derived, sk, seed), 0);
		sign_key_from(k, "sign_key", pk);
		assert_memory_equal(derived, pk->pk, 32);
		return;
	}
	fail_msg("no key %s", name);
}

static int encode_value(kt_wbuf *w, const kt_account_value *v)
{
	kt_wbuf_init(w, KT_VALUE_MAX_BYTES);
	return kt_account_value_encode(w, v);
}

/* ---- vector tests --------------------------------------------------------- */

static void test_vector_keys(void **state)
{
	kt_json *j = load_vectors();
	const kt_json *keys = get(j, "keys");
	size_t i;

	(void)state;
	assert_int_equal(kt_json_len(keys), 3);
	for (i = 0; i < kt_json_len(keys); i++) {
		const kt_json *k = kt_json_at(keys, i);
		uint8_t sk[KT_ED25519_SK_BYTES], secret[32], pub[32];
		kt_sign_key pk;
		kt_enc_key ek;
		uint8_t b[KT_ENC_KEY_BYTES];

		key_by_name(j, get(k, "name")->text, sk, &pk);
		assert_int_equal(kt_sign_key_validate(&pk), KT_OK);
		if (kt_json_get(k, "x25519_secret") == NULL)
			continue;
		hex_fixed(k, "x25519_secret", secret, sizeof(secret));
		assert_int_equal(crypto_scalarmult_base(pub, secret), 0);
		hex_fixed(k, "enc_key", b, sizeof(b));
		assert_int_equal(kt_enc_key_decode(&ek, b, sizeof(b)), KT_OK);
		assert_memory_equal(ek.pk, pub, 32);
		assert_int_equal(kt_enc_key_validate(&ek), KT_OK);
	}
	kt_json_free(j);
}

static void check_device_vector(const kt_json *o)
{
	kt_device d, back;
	kt_wbuf w;
	size_t len;
	uint8_t *enc;

	device_from(o, &d, 1);
	assert_int_equal(kt_device_validate(&d), KT_OK);
	kt_wbuf_init(&w, KT_DEVICE_MAX_BYTES);
	expect_wbuf(&w, kt_device_encode(&w, &d), o, "encoding");
	kt_wbuf_init(&w, KT_DEVICE_SPEC_MAX_BYTES);
	expect_wbuf(&w, kt_device_spec_encode(&w, &d), o, "spec_encoding");

	enc = kt_json_hex(get(o, "encoding"), &len);
	assert_int_equal(kt_device_decode(&back, enc, len), KT_OK);
	assert_memory_equal(&back, &d, sizeof(d));
	free(enc);
	enc = kt_json_hex(get(o, "spec_encoding"), &len);
	assert_int_equal(kt_device_spec_decode(&back, enc, len), KT_OK);
	assert_int_equal(back.added_at_ms, 0);
	assert_int_equal(back.added_by_type, 0);
	assert_int_equal(back.added_by_id_len, 0);
	back.added_at_ms = d.added_at_ms;
	back.added_by_type = d.added_by_type;
	memcpy(back.added_by_id, d.added_by_id, d.added_by_id_len);
	back.added_by_id_len = d.added_by_id_len;
	assert_memory_equal(&back, &d, sizeof(d));
	free(enc);
}

static void test_vector_device_and_value(void **state)
{
	kt_json *j = load_vectors();
	const kt_json *val = get(j, "value");
	const kt_json *devs = get(val, "devices");
	kt_account_value v, back;
	kt_wbuf w;
	size_t i, len;
	uint8_t *enc;

	(void)state;
	check_device_vector(get(j, "device"));
	check_device_vector(get(j, "device_added_by_operator"));
	/* who added each device: registrar (phone), device "phone" (laptop),
	 * operator (escrow) */
	{
		kt_device d;

		device_from(get(j, "device"), &d, 1);
		assert_int_equal(d.added_by_type, KT_PROV_REGISTRAR);
		assert_int_equal(d.added_by_id_len, 0);
		device_from(get(j, "device_added_by_operator"), &d, 1);
		assert_int_equal(d.added_by_type, KT_PROV_OPERATOR);
		assert_int_equal(d.kind, KT_DEVICE_ESCROW);
		device_from(kt_json_at(devs, 0), &d, 1);
		assert_int_equal(d.added_by_type, KT_PROV_DEVICE);
		assert_int_equal(d.added_by_id_len, 5);
		assert_memory_equal(d.added_by_id, "phone", 5);
	}
	kt_account_value_init(&v);
	assert_int_equal(kt_json_len(devs), 2);
	for (i = 0; i < kt_json_len(devs); i++) {
		kt_device d;

		check_device_vector(kt_json_at(devs, i));
		device_from(kt_json_at(devs, i), &d, 1);
		assert_int_equal(kt_account_value_add(&v, &d, KT_DEFAULT_MAX_DEVICES), KT_OK);
	}
	expect_wbuf(&w, encode_value(&w, &v), val, "encoding");
	enc = kt_json_hex(get(val, "encoding"), &len);
	assert_int_equal(kt_account_value_decode(&back, enc, len), KT_OK);
	assert_int_equal(back.count, 2);
	assert_memory_equal(back.devices, v.devices, 2 * sizeof(kt_device));
	assert_int_equal(kt_account_value_validate(&back), KT_OK);
	free(enc);
	kt_account_value_free(&back);
	kt_account_value_free(&v);
	kt_json_free(j);
}

static void op_from(const kt_json *o, kt_update_op *op)
{
	memset(op, 0, sizeof(*op));
	op->op = (uint8_t)u64(o, "op");
	if (op->op == KT_OP_ENROL || op->op == KT_OP_ADD_DEVICE) {
		device_from(get(o, "device"), &op->device, 0);
		return;
	}
	op->device_id_len = hex_var(o, "device_id", op->device_id, sizeof(op->device_id));
	if (op->op == KT_OP_SET_PUSH)
		op->push_len = hex_var(o, "push", op->push, sizeof(op->push));
}

/* What a monitor does with a signed provenance: rebuild the signed message
 * from the provenance's own op (and the token fields), compare it with the
 * vector, verify; then twins whose op differs from what was signed. */
static void check_prov_signature(const kt_json *j, const kt_json *o,
				 const kt_provenance *pv, const uint8_t *acct,
				 size_t alen)
{
	uint8_t sk[KT_ED25519_SK_BYTES];
	kt_sign_key signer, laptop;
	kt_update_op forged;
	kt_wbuf w;
	uint64_t ev;

	key_by_name(j, "laptop", sk, &laptop);
	if (pv->type == KT_PROV_DEVICE) {
		key_by_name(j, "phone", sk, &signer);
		assert_int_equal(pv->device_id_len, 5);
		assert_memory_equal(pv->device_id, "phone", 5);
		ev = u64(o, "expected_version");
		kt_wbuf_init(&w, KT_UPDATE_MESSAGE_MAX_BYTES);
		expect_wbuf(&w, kt_update_message(&w, acct, alen, &pv->op, ev), o,
			    "signed_message");
		assert_int_equal(kt_update_verify(&signer, &pv->sig, acct, alen, &pv->op,
						  ev), KT_OK);
		/* The directory swaps in another op (other push, other key). */
		forged = pv->op;
		forged.device.push[0] = 'x';
		forged.device.push_len = 1;
		assert_int_equal(kt_update_verify(&signer, &pv->sig, acct, alen, &forged,
						  ev), KT_ERR_BAD_SIGNATURE);
		forged = pv->op;
		forged.device.enc_pk.pk[0] ^= 1;
		assert_int_equal(kt_update_verify(&signer, &pv->sig, acct, alen, &forged,
						  ev), KT_ERR_BAD_SIGNATURE);
		return;
	}
	key_by_name(j, "registrar", sk, &signer);
	assert_memory_equal(&signer, &pv->registrar_pk, sizeof(signer));
	kt_wbuf_init(&w, KT_REGISTRAR_TOKEN_MESSAGE_MAX_BYTES);
	expect_wbuf(&w, kt_registrar_token_message(&w, acct, alen, &pv->op.device,
						   pv->expiry_ms), o, "signed_message");
	assert_int_equal(kt_registrar_token_verify(&pv->registrar_pk, &pv->sig, acct,
						   alen, &pv->op.device,
						   pv->expiry_ms), KT_OK);
	/* Enrolling another key, or the same key with the directory's own
	 * encryption key, under this token fails. */
	forged = pv->op;
	forged.device.sign_pk = laptop;
	assert_int_equal(kt_registrar_token_verify(&pv->registrar_pk, &pv->sig, acct,
						   alen, &forged.device, pv->expiry_ms),
			 KT_ERR_BAD_SIGNATURE);
	forged = pv->op;
	forged.device.enc_pk.pk[0] ^= 1;
	assert_int_equal(kt_registrar_token_verify(&pv->registrar_pk, &pv->sig, acct,
						   alen, &forged.device, pv->expiry_ms),
			 KT_ERR_BAD_SIGNATURE);
}

static void test_vector_provenance(void **state)
{
	kt_json *j = load_vectors();
	const kt_json *arr = get(j, "provenance");
	uint8_t acct[KT_ACCOUNT_MAX];
	size_t i, len, oplen, alen;

	(void)state;
	alen = hex_var(get(j, "commitment"), "account", acct, sizeof(acct));
	assert_int_equal(kt_json_len(arr), 3);
	for (i = 0; i < kt_json_len(arr); i++) {
		const kt_json *o = kt_json_at(arr, i);
		kt_provenance pv, back;
		kt_wbuf w;
		uint8_t *enc, *msg, *openc;
		uint8_t sk[KT_ED25519_SK_BYTES];
		kt_sign_key signer;

		memset(&pv, 0, sizeof(pv));
		pv.type = (uint8_t)u64(o, "type");
		op_from(get(o, "op"), &pv.op);
		kt_wbuf_init(&w, KT_UPDATE_OP_MAX_BYTES);
		expect_wbuf(&w, kt_update_op_encode(&w, &pv.op), get(o, "op"), "op_encoding");
		if (pv.type == KT_PROV_DEVICE) {
			assert_int_equal(pv.op.op, KT_OP_ADD_DEVICE);
			pv.device_id_len = hex_var(o, "device_id", pv.device_id,
						   sizeof(pv.device_id));
			sig_from(o, "signature", &pv.sig);
			key_by_name(j, "phone", sk, &signer);
		} else if (pv.type == KT_PROV_REGISTRAR) {
			assert_int_equal(pv.op.op, KT_OP_ENROL);
			sign_key_from(o, "registrar_key", &pv.registrar_pk);
			pv.expiry_ms = u64(o, "expiry_ms");
			sig_from(o, "signature", &pv.sig);
			key_by_name(j, "registrar", sk, &signer);
		} else {
			assert_int_equal(pv.type, KT_PROV_OPERATOR);
			assert_int_equal(pv.op.op, KT_OP_REMOVE_DEVICE);
			pv.reason_len = hex_var(o, "reason", pv.reason, sizeof(pv.reason));
			pv.label_len = hex_var(o, "label", pv.label, sizeof(pv.label));
		}
		kt_wbuf_init(&w, KT_PROVENANCE_MAX_BYTES);
		expect_wbuf(&w, kt_provenance_encode(&w, &pv), o, "encoding");
		enc = kt_json_hex(get(o, "encoding"), &len);
		assert_int_equal(kt_provenance_decode(&back, enc, len), KT_OK);
		assert_memory_equal(&back, &pv, sizeof(pv));
		/* type || the op's own encoding || body */
		openc = kt_json_hex(get(get(o, "op"), "op_encoding"), &oplen);
		assert_true(len > 1 + oplen);
		assert_int_equal(enc[0], pv.type);
		assert_memory_equal(enc + 1, openc, oplen);
		free(openc);
		free(enc);
		if (pv.type == KT_PROV_OPERATOR)
			continue;
		/* The signature verifies over the message it claims, and only it. */
		msg = kt_json_hex(get(o, "signed_message"), &len);
		assert_int_equal(kt_sig_verify(&signer, &pv.sig, msg, len), KT_OK);
		msg[len - 1] ^= 1;
		assert_int_equal(kt_sig_verify(&signer, &pv.sig, msg, len),
				 KT_ERR_BAD_SIGNATURE);
		free(msg);
		check_prov_signature(j, o, &back, acct, alen);
	}
	kt_json_free(j);
}

static void test_vector_update_messages(void **state)
{
	kt_json *j = load_vectors();
	const kt_json *arr = get(j, "update_messages");
	uint8_t sk[KT_ED25519_SK_BYTES], other_sk[KT_ED25519_SK_BYTES];
	uint8_t acct[KT_ACCOUNT_MAX];
	kt_sign_key phone, other;
	size_t i, len, alen;

	(void)state;
	key_by_name(j, "phone", sk, &phone);
	key_by_name(j, "laptop", other_sk, &other);
	assert_int_equal(kt_json_len(arr), 4);
	for (i = 0; i < kt_json_len(arr); i++) {
		const kt_json *o = kt_json_at(arr, i);
		kt_update_op op, back;
		kt_signature sig, want;
		kt_wbuf w;
		uint8_t *enc;
		uint64_t ev = u64(o, "expected_version");

		op_from(o, &op);
		alen = hex_var(o, "account", acct, sizeof(acct));
		kt_wbuf_init(&w, KT_UPDATE_OP_MAX_BYTES);
		expect_wbuf(&w, kt_update_op_encode(&w, &op), o, "op_encoding");
		enc = kt_json_hex(get(o, "op_encoding"), &len);
		assert_int_equal(kt_update_op_decode(&back, enc, len), KT_OK);
		assert_memory_equal(&back, &op, sizeof(op));
		free(enc);
		kt_wbuf_init(&w, KT_UPDATE_MESSAGE_MAX_BYTES);
		assert_int_equal(kt_update_message(&w, acct, alen, &op, ev), KT_OK);
		assert_int_equal(kt_sig_sign(&sig, sk, w.data, w.len), KT_OK);
		expect_wbuf(&w, KT_OK, o, "message");
		if (kt_json_get(o, "signature") == NULL) {
			assert_int_equal(op.op, KT_OP_ENROL);
			continue;
		}
		sig_from(o, "signature", &want);
		assert_memory_equal(&sig, &want, sizeof(sig));
		assert_int_equal(kt_update_verify(&phone, &sig, acct, alen, &op, ev), KT_OK);
		/* Twins: replay at another version, another account, another key,
		 * another op. */
		assert_int_equal(kt_update_verify(&phone, &sig, acct, alen, &op, ev + 1),
				 KT_ERR_BAD_SIGNATURE);
		acct[alen - 1] ^= 1;
		assert_int_equal(kt_update_verify(&phone, &sig, acct, alen, &op, ev),
				 KT_ERR_BAD_SIGNATURE);
		acct[alen - 1] ^= 1;
		assert_int_equal(kt_update_verify(&other, &sig, acct, alen, &op, ev),
				 KT_ERR_BAD_SIGNATURE);
		op.op = op.op == KT_OP_REMOVE_DEVICE ? KT_OP_SET_PUSH : op.op;
		op.device_id[0] ^= 1;
		op.device.id[0] ^= 1;
		assert_int_equal(kt_update_verify(&phone, &sig, acct, alen, &op, ev),
				 KT_ERR_BAD_SIGNATURE);
	}
	kt_json_free(j);
}

/* A token signed over spec *a fails for every spec differing from it in
 * one field: enc key, push address (content and length), id (content and
 * length), kind, sign key.  *a itself verifies. */
static void expect_token_spec_twins(const kt_sign_key *reg, const kt_signature *sig,
				    const uint8_t *acct, size_t alen,
				    const kt_device *a, uint64_t exp)
{
	kt_device b;
	size_t field;

	assert_int_equal(kt_registrar_token_verify(reg, sig, acct, alen, a, exp), KT_OK);
	for (field = 0; field < 7; field++) {
		b = *a;
		switch (field) {
		case 0: /* the directory swaps in its own encryption key */
			b.enc_pk.pk[31] ^= 0x01;
			break;
		case 1: /* another push address, same length */
			b.push[0] ^= 0x01;
			assert_true(b.push_len > 0);
			break;
		case 2: /* one byte more push address */
			b.push[b.push_len] = 'z';
			b.push_len++;
			break;
		case 3: /* another id */
			b.id[0] ^= 0x01;
			break;
		case 4: /* a shorter id */
			b.id_len--;
			assert_true(b.id_len > 0);
			break;
		case 5: /* another kind */
			b.kind = b.kind == KT_DEVICE_ESCROW ? KT_DEVICE_PRIMARY :
				 KT_DEVICE_ESCROW;
			break;
		default: /* another sign key */
			b.sign_pk.pk[0] ^= 0x01;
			break;
		}
		assert_int_equal(kt_registrar_token_verify(reg, sig, acct, alen, &b, exp),
				 KT_ERR_BAD_SIGNATURE);
	}
	/* A structurally bad spec is refused before any signature check. */
	b = *a;
	b.kind = 0;
	assert_int_equal(kt_registrar_token_verify(reg, sig, acct, alen, &b, exp),
			 KT_ERR_BAD_TYPE);
}

static void test_vector_registrar_and_history_request(void **state)
{
	kt_json *j = load_vectors();
	const kt_json *t = get(j, "registrar_token");
	const kt_json *h = get(j, "history_request");
	uint8_t sk[KT_ED25519_SK_BYTES], phone_sk[KT_ED25519_SK_BYTES];
	uint8_t acct[KT_ACCOUNT_MAX], id[KT_DEVICE_ID_MAX];
	kt_sign_key reg, phone;
	kt_device dev, other;
	kt_signature sig, want;
	kt_wbuf w;
	size_t alen, idlen, len;
	uint64_t exp, from, ts;
	uint8_t *spec;

	(void)state;
	key_by_name(j, "registrar", sk, &reg);
	key_by_name(j, "phone", phone_sk, &phone);

	alen = hex_var(t, "account", acct, sizeof(acct));
	device_from(get(t, "device"), &dev, 0);
	assert_memory_equal(&dev.sign_pk, &phone, sizeof(phone)); /* enrols the phone */
	exp = u64(t, "expiry_ms");
	kt_wbuf_init(&w, KT_REGISTRAR_TOKEN_MESSAGE_MAX_BYTES);
	assert_int_equal(kt_registrar_token_message(&w, acct, alen, &dev, exp), KT_OK);
	/* domain || account || the whole spec encoding || expiry */
	spec = kt_json_hex(get(get(t, "device"), "spec_encoding"), &len);
	assert_int_equal(w.len, 1 + 27 + 1 + alen + len + 8);
	assert_memory_equal(w.data + 1 + 27 + 1 + alen, spec, len);
	free(spec);
	assert_int_equal(kt_sig_sign(&sig, sk, w.data, w.len), KT_OK);
	expect_wbuf(&w, KT_OK, t, "message");
	sig_from(t, "signature", &want);
	assert_memory_equal(&sig, &want, sizeof(sig));
	assert_int_equal(kt_registrar_token_verify(&reg, &sig, acct, alen, &dev, exp), KT_OK);
	/* added_at_ms is not part of the spec: the apply path sets it. */
	other = dev;
	other.added_at_ms = 12345;
	assert_int_equal(kt_registrar_token_verify(&reg, &sig, acct, alen, &other, exp),
			 KT_OK);
	/* Twins: another account, expiry, registrar, and a spec that differs
	 * from the signed one in any single field. */
	acct[0] ^= 1;
	assert_int_equal(kt_registrar_token_verify(&reg, &sig, acct, alen, &dev, exp),
			 KT_ERR_BAD_SIGNATURE);
	acct[0] ^= 1;
	assert_int_equal(kt_registrar_token_verify(&reg, &sig, acct, alen, &dev, exp + 1),
			 KT_ERR_BAD_SIGNATURE);
	assert_int_equal(kt_registrar_token_verify(&phone, &sig, acct, alen, &dev, exp),
			 KT_ERR_BAD_SIGNATURE);
	assert_int_equal(kt_registrar_token_verify(&reg, &sig, acct, 0, &dev, exp),
			 KT_ERR_BAD_LENGTH);
	expect_token_spec_twins(&reg, &sig, acct, alen, &dev, exp);

	alen = hex_var(h, "account", acct, sizeof(acct));
	idlen = hex_var(h, "device_id", id, sizeof(id));
	from = u64(h, "from_version");
	ts = u64(h, "timestamp_ms");
	kt_wbuf_init(&w, KT_HISTORY_REQUEST_MESSAGE_MAX_BYTES);
	assert_int_equal(kt_history_request_message(&w, acct, alen, from, ts, id, idlen),
			 KT_OK);
	assert_int_equal(kt_sig_sign(&sig, phone_sk, w.data, w.len), KT_OK);
	expect_wbuf(&w, KT_OK, h, "message");
	sig_from(h, "signature", &want);
	assert_memory_equal(&sig, &want, sizeof(sig));
	assert_int_equal(kt_history_request_verify(&phone, &sig, acct, alen, from, ts,
						   id, idlen), KT_OK);
	assert_int_equal(kt_history_request_verify(&phone, &sig, acct, alen, from + 1, ts,
						   id, idlen), KT_ERR_BAD_SIGNATURE);
	assert_int_equal(kt_history_request_verify(&phone, &sig, acct, alen, from, ts + 1,
						   id, idlen), KT_ERR_BAD_SIGNATURE);
	assert_int_equal(kt_history_request_verify(&phone, &sig, acct, alen, from, ts,
						   id, idlen - 1), KT_ERR_BAD_SIGNATURE);
	assert_int_equal(kt_history_request_verify(&reg, &sig, acct, alen, from, ts,
						   id, idlen), KT_ERR_BAD_SIGNATURE);
	kt_json_free(j);
}

/* Loads the inputs of one commitment from o. */
typedef struct commit_in {
	uint8_t opening[KT_OPENING_BYTES];
	uint8_t account[KT_ACCOUNT_MAX];
	size_t account_len;
	uint64_t version;
	uint8_t *value, *prov;
	size_t value_len, prov_len;
} commit_in;

static void commit_from(const kt_json *o, const kt_json *acct_src, uint64_t version,
			commit_in *c)
{
	hex_fixed(o, "opening", c->opening, KT_OPENING_BYTES);
	c->account_len = hex_var(acct_src, "account", c->account, sizeof(c->account));
	c->version = version;
	c->value = kt_json_hex(get(o, "value"), &c->value_len);
	c->prov = kt_json_hex(get(o, "provenance"), &c->prov_len);
}

static int commit_verify(const uint8_t cm[32], const commit_in *c)
{
	return kt_commitment_verify(cm, c->opening, c->account, c->account_len,
				    c->version, c->value, c->value_len, c->prov,
				    c->prov_len);
}

static void test_vector_commitment(void **state)
{
	kt_json *j = load_vectors();
	const kt_json *o = get(j, "commitment");
	commit_in c;
	uint8_t cm[32], want[32];

	(void)state;
	commit_from(o, o, u64(o, "version"), &c);
	hex_fixed(o, "commitment", want, sizeof(want));
	assert_int_equal(kt_commitment_compute(cm, c.opening, c.account, c.account_len,
					       c.version, c.value, c.value_len,
					       c.prov, c.prov_len), KT_OK);
	assert_memory_equal(cm, want, 32);
	assert_int_equal(commit_verify(want, &c), KT_OK);
	/* Twins: each input changed in turn. */
	c.opening[15] ^= 1;
	assert_int_equal(commit_verify(want, &c), KT_ERR_COMMITMENT_MISMATCH);
	c.opening[15] ^= 1;
	c.account[0] ^= 1;
	assert_int_equal(commit_verify(want, &c), KT_ERR_COMMITMENT_MISMATCH);
	c.account[0] ^= 1;
	c.version++;
	assert_int_equal(commit_verify(want, &c), KT_ERR_COMMITMENT_MISMATCH);
	c.version--;
	c.value[c.value_len - 1] ^= 1;
	assert_int_equal(commit_verify(want, &c), KT_ERR_COMMITMENT_MISMATCH);
	c.value[c.value_len - 1] ^= 1;
	c.prov[c.prov_len - 1] ^= 1;
	assert_int_equal(commit_verify(want, &c), KT_ERR_COMMITMENT_MISMATCH);
	c.prov[c.prov_len - 1] ^= 1;
	/* Moving a byte across the value/provenance boundary changes the
	 * length prefixes, so it must not collide. */
	c.value_len--;
	assert_int_equal(commit_verify(want, &c), KT_ERR_COMMITMENT_MISMATCH);
	c.value_len++;
	want[0] ^= 1;
	assert_int_equal(commit_verify(want, &c), KT_ERR_COMMITMENT_MISMATCH);
	want[0] ^= 1;
	assert_int_equal(commit_verify(want, &c), KT_OK);
	/* Input errors. */
	assert_int_equal(kt_commitment_compute(cm, c.opening, c.account, 0, 1, c.value,
					       c.value_len, c.prov, c.prov_len),
			 KT_ERR_BAD_LENGTH);
	assert_true(sodium_is_zero(cm, sizeof(cm)));
	assert_int_equal(kt_commitment_compute(cm, c.opening, c.account, c.account_len, 1,
					       c.value, KT_VALUE_MAX_BYTES + 1,
					       c.prov, c.prov_len), KT_ERR_TOO_LARGE);
	assert_int_equal(kt_commitment_compute(cm, c.opening, c.account, c.account_len, 1,
					       c.value, c.value_len, c.prov,
					       KT_PROVENANCE_MAX_BYTES + 1), KT_ERR_TOO_LARGE);
	free(c.value);
	free(c.prov);
	kt_json_free(j);
}

static void leaf_from(const kt_json *o, kt_map_leaf *leaf)
{
	leaf->version = u64(o, "version");
	leaf->log_index = u64(o, "log_index");
	hex_fixed(o, "commitment", leaf->commitment, 32);
	hex_fixed(o, "history", leaf->history, 32);
}

static void test_vector_leaf_and_history(void **state)
{
	kt_json *j = load_vectors();
	const kt_json *ml = get(j, "map_leaf");
	const kt_json *hc = get(j, "history_chain");
	const kt_json *vers = get(hc, "versions");
	kt_map_leaf leaf, back, leaves[3], bad[3];
	uint8_t digest[32], start[32], head[32], fixed[KT_MAP_LEAF_BYTES];
	kt_wbuf w;
	size_t i, len, at;
	uint8_t *enc;

	(void)state;
	leaf_from(ml, &leaf);
	kt_wbuf_init(&w, KT_MAP_LEAF_BYTES);
	expect_wbuf(&w, kt_map_leaf_encode(&w, &leaf), ml, "encoding");
	kt_map_leaf_bytes(fixed, &leaf);
	expect_bytes(fixed, sizeof(fixed), ml, "encoding");
	kt_map_leaf_digest(digest, &leaf);
	expect_bytes(digest, 32, ml, "leaf_digest");
	enc = kt_json_hex(get(ml, "encoding"), &len);
	assert_int_equal(kt_map_leaf_decode(&back, enc, len), KT_OK);
	assert_memory_equal(&back, &leaf, sizeof(leaf));
	free(enc);
	leaf.log_index++;
	kt_map_leaf_digest(digest, &leaf);
	enc = kt_json_hex(get(ml, "leaf_digest"), &len);
	assert_memory_not_equal(digest, enc, 32);
	free(enc);

	hex_fixed(hc, "start", start, 32);
	assert_true(sodium_is_zero(start, 32));
	assert_int_equal(u64(hc, "start_version"), 0);
	assert_int_equal(kt_json_len(vers), 3);
	memcpy(head, start, 32);
	for (i = 0; i < 3; i++) {
		const kt_json *o = kt_json_at(vers, i);
		commit_in c;

		leaf_from(o, &leaves[i]);
		assert_int_equal(leaves[i].version, i + 1);
		/* The chain's account is the commitment vector's. */
		commit_from(o, get(j, "commitment"), leaves[i].version, &c);
		assert_int_equal(commit_verify(leaves[i].commitment, &c), KT_OK);
		free(c.value);
		free(c.prov);
		kt_history_step(head, head, leaves[i].version, leaves[i].log_index,
				leaves[i].commitment);
		assert_memory_equal(head, leaves[i].history, 32);
	}
	assert_int_equal(kt_history_verify(start, 0, leaves, 3, head, &at), KT_OK);
	assert_int_equal(at, 3);
	/* A monitor that checked version 1 already. */
	assert_int_equal(kt_history_verify(leaves[0].history, 1, leaves + 1, 2, head, &at),
			 KT_OK);
	assert_int_equal(kt_history_verify(head, 3, NULL, 0, head, &at), KT_OK);
	/* Twins. */
	assert_int_equal(kt_history_verify(start, 0, leaves, 3, leaves[1].history, &at),
			 KT_ERR_HISTORY_MISMATCH);
	assert_int_equal(at, 3);
	assert_int_equal(kt_history_verify(start, 1, leaves, 3, head, &at),
			 KT_ERR_VERSION_GAP);
	assert_int_equal(at, 0);
	bad[0] = leaves[0];
	bad[1] = leaves[2]; /* version 2 missing */
	assert_int_equal(kt_history_verify(start, 0, bad, 2, head, &at), KT_ERR_VERSION_GAP);
	assert_int_equal(at, 1);
	memcpy(bad, leaves, sizeof(bad));
	bad[1].commitment[5] ^= 1;
	assert_int_equal(kt_history_verify(start, 0, bad, 3, head, &at),
			 KT_ERR_HISTORY_MISMATCH);
	assert_int_equal(at, 1);
	memcpy(bad, leaves, sizeof(bad));
	bad[2].log_index++;
	assert_int_equal(kt_history_verify(start, 0, bad, 3, head, &at),
			 KT_ERR_HISTORY_MISMATCH);
	assert_int_equal(at, 2);
	start[0] = 1;
	assert_int_equal(kt_history_verify(start, 0, leaves, 3, head, NULL),
			 KT_ERR_HISTORY_MISMATCH);
	assert_int_equal(kt_history_verify(head, UINT64_MAX, leaves, 1, head, &at),
			 KT_ERR_VERSION_GAP);
	kt_json_free(j);
}

static void test_vector_log_entries(void **state)
{
	kt_json *j = load_vectors();
	const kt_json *le = get(j, "log_entries");
	const kt_json *u = get(le, "update"), *h = get(le, "heartbeat");
	kt_log_entry e, back;
	kt_map_leaf leaf;
	kt_wbuf w;
	uint8_t lh[32], *enc;
	size_t len;

	(void)state;
	memset(&e, 0, sizeof(e));
	e.type = KT_ENTRY_UPDATE;
	e.timestamp_ms = u64(u, "timestamp_ms");
	hex_fixed(u, "index", e.index, 32);
	leaf_from(get(u, "leaf"), &e.leaf);
	hex_fixed(u, "map_root", e.map_root, 32);
	kt_wbuf_init(&w, KT_LOG_ENTRY_MAX_BYTES);
	assert_int_equal(kt_log_entry_encode(&w, &e), KT_OK);
	assert_int_equal(w.len, KT_LOG_ENTRY_UPDATE_BYTES);
	kt_sha256_prefixed(lh, 0x00, w.data, w.len, NULL, 0);
	expect_bytes(lh, 32, u, "rfc9162_leaf_hash");
	expect_wbuf(&w, KT_OK, u, "encoding");
	enc = kt_json_hex(get(u, "encoding"), &len);
	assert_int_equal(kt_log_entry_decode(&back, enc, len), KT_OK);
	assert_memory_equal(&back, &e, sizeof(e));
	free(enc);

	/* The entry's leaf is the map leaf vector. */
	leaf_from(get(j, "map_leaf"), &leaf);
	assert_int_equal(kt_log_entry_check_leaf(&back, e.index, &leaf), KT_OK);
	leaf.history[31] ^= 1;
	assert_int_equal(kt_log_entry_check_leaf(&back, e.index, &leaf), KT_ERR_LEAF_MISMATCH);
	leaf.history[31] ^= 1;
	leaf.commitment[0] ^= 1;
	assert_int_equal(kt_log_entry_check_leaf(&back, e.index, &leaf), KT_ERR_LEAF_MISMATCH);
	leaf.commitment[0] ^= 1;
	leaf.version++;
	assert_int_equal(kt_log_entry_check_leaf(&back, e.index, &leaf), KT_ERR_LEAF_MISMATCH);
	leaf.version--;
	leaf.log_index++;
	assert_int_equal(kt_log_entry_check_leaf(&back, e.index, &leaf), KT_ERR_LEAF_MISMATCH);
	leaf.log_index--;
	e.index[0] ^= 1;
	assert_int_equal(kt_log_entry_check_leaf(&back, e.index, &leaf), KT_ERR_LEAF_MISMATCH);
	e.index[0] ^= 1;

	memset(&e, 0, sizeof(e));
	e.type = KT_ENTRY_HEARTBEAT;
	e.timestamp_ms = u64(h, "timestamp_ms");
	hex_fixed(h, "map_root", e.map_root, 32);
	kt_wbuf_init(&w, KT_LOG_ENTRY_MAX_BYTES);
	assert_int_equal(kt_log_entry_encode(&w, &e), KT_OK);
	assert_int_equal(w.len, KT_LOG_ENTRY_HEARTBEAT_BYTES);
	kt_sha256_prefixed(lh, 0x00, w.data, w.len, NULL, 0);
	expect_bytes(lh, 32, h, "rfc9162_leaf_hash");
	expect_wbuf(&w, KT_OK, h, "encoding");
	enc = kt_json_hex(get(h, "encoding"), &len);
	assert_int_equal(kt_log_entry_decode(&back, enc, len), KT_OK);
	assert_memory_equal(&back, &e, sizeof(e));
	assert_int_equal(kt_log_entry_check_leaf(&back, e.index, &leaf), KT_ERR_BAD_TYPE);
	free(enc);
	kt_json_free(j);
}

/* ---- forgery twins of every decoder --------------------------------------- */

typedef int (*decode_fn)(const uint8_t *p, size_t len);

static int dec_device(const uint8_t *p, size_t n)
{
	kt_device d;

	return kt_device_decode(&d, p, n);
}

static int dec_spec(const uint8_t *p, size_t n)
{
	kt_device d;

	return kt_device_spec_decode(&d, p, n);
}

static int dec_value(const uint8_t *p, size_t n)
{
	kt_account_value v;
	int r = kt_account_value_decode(&v, p, n);

	if (r != KT_OK) {
		assert_null(v.devices);
		assert_int_equal(v.count, 0);
	}
	kt_account_value_free(&v);
	return r;
}

static int dec_prov(const uint8_t *p, size_t n)
{
	kt_provenance pv;

	return kt_provenance_decode(&pv, p, n);
}

static int dec_op(const uint8_t *p, size_t n)
{
	kt_update_op op;

	return kt_update_op_decode(&op, p, n);
}

static int dec_leaf(const uint8_t *p, size_t n)
{
	kt_map_leaf l;

	return kt_map_leaf_decode(&l, p, n);
}

static int dec_entry(const uint8_t *p, size_t n)
{
	kt_log_entry e;

	return kt_log_entry_decode(&e, p, n);
}

static int dec_sign_key(const uint8_t *p, size_t n)
{
	kt_sign_key k;

	return kt_sign_key_decode(&k, p, n);
}

static int dec_enc_key(const uint8_t *p, size_t n)
{
	kt_enc_key k;

	return kt_enc_key_decode(&k, p, n);
}

static int dec_sig(const uint8_t *p, size_t n)
{
	kt_signature s;

	return kt_signature_decode(&s, p, n);
}

/* Accepts p; rejects every truncation (KT_ERR_TRUNCATED) and one extra byte
 * (KT_ERR_TRAILING). */
static void truncations(decode_fn dec, const uint8_t *p, size_t n)
{
	uint8_t *q = malloc(n + 1);
	size_t i;

	assert_non_null(q);
	memcpy(q, p, n);
	assert_int_equal(dec(q, n), KT_OK);
	for (i = 0; i < n; i++)
		assert_int_equal(dec(q, i), KT_ERR_TRUNCATED);
	assert_int_equal(dec(NULL, 0), KT_ERR_TRUNCATED);
	q[n] = 0;
	assert_int_equal(dec(q, n + 1), KT_ERR_TRAILING);
	free(q);
}

/* dec(p with byte at off replaced by b) == want; p restored. */
static void poke8(decode_fn dec, uint8_t *p, size_t n, size_t off, uint8_t b, int want)
{
	uint8_t old = p[off];

	p[off] = b;
	assert_int_equal(dec(p, n), want);
	p[off] = old;
}

/* Same with a big-endian u16 at off. */
static void poke16(decode_fn dec, uint8_t *p, size_t n, size_t off, uint16_t v, int want)
{
	uint8_t a = p[off], b = p[off + 1];

	p[off] = (uint8_t)(v >> 8);
	p[off + 1] = (uint8_t)v;
	assert_int_equal(dec(p, n), want);
	p[off] = a;
	p[off + 1] = b;
}

static uint8_t *vec(const kt_json *o, const char *key, size_t *len)
{
	return kt_json_hex(get(o, key), len);
}

/* p[0..n) is a device added by the registrar (its encoding ends with
 * added_by_type = 2 at by_off and an empty added_by_id). */
static void added_by_twins(uint8_t *p, size_t n, size_t by_off)
{
	uint8_t *q = malloc(n + 6);

	assert_int_equal(by_off + 2, n);
	assert_int_equal(p[by_off], KT_PROV_REGISTRAR);
	assert_int_equal(p[by_off + 1], 0);
	/* unknown types */
	poke8(dec_device, p, n, by_off, 0, KT_ERR_BAD_TYPE);
	poke8(dec_device, p, n, by_off, KT_PROV_OPERATOR + 1, KT_ERR_BAD_TYPE);
	poke8(dec_device, p, n, by_off, 0xff, KT_ERR_BAD_TYPE);
	/* an unknown type stops at its byte: no id is read */
	assert_int_equal(dec_device(p, by_off + 1), KT_ERR_TRUNCATED);
	p[by_off] = 0x09;
	assert_int_equal(dec_device(p, by_off + 1), KT_ERR_BAD_TYPE);
	p[by_off] = KT_PROV_REGISTRAR;
	/* operator, empty id: structurally fine (the transition check says
	 * whether it is the right one) */
	poke8(dec_device, p, n, by_off, KT_PROV_OPERATOR, KT_OK);
	/* device without its id */
	poke8(dec_device, p, n, by_off, KT_PROV_DEVICE, KT_ERR_BAD_LENGTH);
	/* an id for a non-device type */
	assert_non_null(q);
	memcpy(q, p, n);
	q[n - 1] = 5;
	memcpy(q + n, "phone", 5);
	assert_int_equal(dec_device(q, n + 5), KT_ERR_TOO_LARGE);
	q[by_off] = KT_PROV_OPERATOR;
	assert_int_equal(dec_device(q, n + 5), KT_ERR_TOO_LARGE);
	q[by_off] = KT_PROV_DEVICE;
	assert_int_equal(dec_device(q, n + 5), KT_OK);
	free(q);
}

/* p[0..n) is a device added by the device "phone" (ends 01 05 "phone"). */
static void added_by_device_twins(uint8_t *p, size_t n)
{
	size_t by_off = n - 7;

	assert_int_equal(p[by_off], KT_PROV_DEVICE);
	assert_int_equal(p[by_off + 1], 5);
	assert_memory_equal(p + by_off + 2, "phone", 5);
	/* the id with another type */
	poke8(dec_device, p, n, by_off, KT_PROV_REGISTRAR, KT_ERR_TOO_LARGE);
	poke8(dec_device, p, n, by_off, KT_PROV_OPERATOR, KT_ERR_TOO_LARGE);
	poke8(dec_device, p, n, by_off, 0, KT_ERR_BAD_TYPE);
	/* id length: empty, too long, longer / shorter than the bytes */
	poke8(dec_device, p, n, by_off + 1, 0, KT_ERR_BAD_LENGTH);
	poke8(dec_device, p, n, by_off + 1, KT_DEVICE_ID_MAX + 1, KT_ERR_TOO_LARGE);
	poke8(dec_device, p, n, by_off + 1, 0xff, KT_ERR_TOO_LARGE);
	poke8(dec_device, p, n, by_off + 1, 6, KT_ERR_TRUNCATED);
	poke8(dec_device, p, n, by_off + 1, 4, KT_ERR_TRAILING);
	/* another id decodes (the transition check compares it) */
	poke8(dec_device, p, n, by_off + 2, 'P', KT_OK);
	/* a missing id cut off at the type byte */
	assert_int_equal(dec_device(p, by_off + 1), KT_ERR_TRUNCATED);
}

static void test_decoder_twins_device_value(void **state)
{
	kt_json *j = load_vectors();
	const kt_json *val = get(j, "value");
	const kt_json *d0 = kt_json_at(get(val, "devices"), 0); /* laptop */
	const kt_json *d1 = kt_json_at(get(val, "devices"), 1); /* phone */
	uint8_t *p, *q, *buf;
	size_t n, nq, idl, push_off, kind_off;

	(void)state;
	/* Device: "phone", 5-byte id, 21-byte push. */
	p = vec(get(j, "device"), "encoding", &n);
	truncations(dec_device, p, n);
	idl = p[0];
	push_off = 1 + idl + KT_SIGN_KEY_BYTES + KT_ENC_KEY_BYTES;
	kind_off = push_off + 2 + (size_t)((p[push_off] << 8) | p[push_off + 1]);
	poke8(dec_device, p, n, 0, KT_DEVICE_ID_MAX + 1, KT_ERR_TOO_LARGE);
	poke8(dec_device, p, n, 0, 0, KT_ERR_BAD_LENGTH);
	poke8(dec_device, p, n, 0, 0xff, KT_ERR_TOO_LARGE);
	poke16(dec_device, p, n, push_off, KT_PUSH_ADDRESS_MAX + 1, KT_ERR_TOO_LARGE);
	poke16(dec_device, p, n, push_off, 0xffff, KT_ERR_TOO_LARGE);
	poke8(dec_device, p, n, 1 + idl, 0x00, KT_ERR_BAD_KEY_TYPE);
	poke8(dec_device, p, n, 1 + idl, 0x02, KT_ERR_BAD_KEY_TYPE);
	poke8(dec_device, p, n, 1 + idl + KT_SIGN_KEY_BYTES, 0x02, KT_ERR_BAD_KEY_TYPE);
	poke8(dec_device, p, n, kind_off, 0, KT_ERR_BAD_TYPE);
	poke8(dec_device, p, n, kind_off, KT_DEVICE_OTHER + 1, KT_ERR_BAD_TYPE);
	poke8(dec_device, p, n, kind_off, KT_DEVICE_OTHER, KT_OK);
	added_by_twins(p, n, kind_off + 1 + 8);
	free(p);
	/* "laptop", added by the device "phone". */
	p = vec(d0, "encoding", &n);
	truncations(dec_device, p, n);
	added_by_device_twins(p, n);
	free(p);
	p = vec(get(j, "device"), "spec_encoding", &n);
	truncations(dec_spec, p, n);
	assert_int_equal(dec_device(p, n), KT_ERR_TRUNCATED); /* no added_at */
	free(p);

	/* Value of two devices. */
	p = vec(val, "encoding", &n);
	truncations(dec_value, p, n);
	poke16(dec_value, p, n, 0, KT_MAX_DEVICES_ENCODING + 1, KT_ERR_TOO_LARGE);
	poke16(dec_value, p, n, 0, 0xffff, KT_ERR_TOO_LARGE);
	poke16(dec_value, p, n, 0, 3, KT_ERR_TRUNCATED);
	poke16(dec_value, p, n, 0, 1, KT_ERR_TRAILING);
	poke16(dec_value, p, n, 0, 0, KT_ERR_TRAILING);
	poke8(dec_value, p, n, 2, 0, KT_ERR_BAD_LENGTH); /* empty device_id */
	free(p);

	/* Unsorted and duplicate devices, built from the device encodings. */
	p = vec(d0, "encoding", &n);
	q = vec(d1, "encoding", &nq);
	buf = malloc(2 + 2 * (n + nq));
	assert_non_null(buf);
	buf[0] = 0;
	buf[1] = 2;
	memcpy(buf + 2, q, nq);
	memcpy(buf + 2 + nq, p, n);
	assert_int_equal(dec_value(buf, 2 + n + nq), KT_ERR_NONCANONICAL);
	memcpy(buf + 2, p, n);
	memcpy(buf + 2 + n, p, n);
	assert_int_equal(dec_value(buf, 2 + 2 * n), KT_ERR_NONCANONICAL);
	memcpy(buf + 2 + n, q, nq);
	assert_int_equal(dec_value(buf, 2 + n + nq), KT_OK);
	/* "laptop" then "laptop" cut to "lapto": shorter prefix must come first. */
	memcpy(buf + 2, p, n);
	memcpy(buf + 2 + n, p, n);
	buf[2 + n] = 5;
	memmove(buf + 2 + n + 6, buf + 2 + n + 7, n - 7);
	assert_int_equal(dec_value(buf, 2 + 2 * n - 1), KT_ERR_NONCANONICAL);
	free(buf);
	free(p);
	free(q);
	kt_json_free(j);
}

/* dec_prov of p without the bytes [off, off + cut). */
static int dec_prov_cut(const uint8_t *p, size_t n, size_t off, size_t cut)
{
	uint8_t *q = malloc(n);
	int r;

	assert_non_null(q);
	memcpy(q, p, off);
	memcpy(q + off, p + off + cut, n - off - cut);
	r = dec_prov(q, n - cut);
	free(q);
	return r;
}

/* The body of an operator provenance starting at b: reason and label. */
static void operator_body_twins(uint8_t *p, size_t n, size_t b)
{
	size_t rl = (size_t)((p[b] << 8) | p[b + 1]), t = b + 2;
	uint8_t r0 = p[t], r1 = p[t + 1];

	poke16(dec_prov, p, n, b, 0, KT_ERR_BAD_LENGTH);
	poke16(dec_prov, p, n, b, KT_REASON_MAX + 1, KT_ERR_TOO_LARGE);
	/* Invalid, overlong ('/' as C0 AF), NUL, surrogate in reason. */
	poke8(dec_prov, p, n, t, 0xff, KT_ERR_BAD_UTF8);
	poke8(dec_prov, p, n, t, 0x00, KT_ERR_BAD_UTF8);
	p[t] = 0xc0;
	poke8(dec_prov, p, n, t + 1, 0xaf, KT_ERR_BAD_UTF8);
	p[t] = 0xed;
	p[t + 1] = 0xa0;
	poke8(dec_prov, p, n, t + 2, 0x80, KT_ERR_BAD_UTF8);
	p[t] = r0;
	p[t + 1] = r1;
	assert_int_equal(dec_prov(p, n), KT_OK);
	/* Invalid label; a label length running past the end. */
	poke8(dec_prov, p, n, t + rl + 1, 0x80, KT_ERR_BAD_UTF8);
	poke8(dec_prov, p, n, t + rl, (uint8_t)(n - t - rl), KT_ERR_TRUNCATED);
}

/* Twins of one provenance vector p (n bytes) whose op encoding is oplen
 * bytes long. */
static void prov_twins(uint8_t *p, size_t n, size_t oplen)
{
	const size_t b = 1 + oplen; /* the first byte after the op */
	const int reg = p[0] == KT_PROV_REGISTRAR;
	uint8_t op = p[1];

	truncations(dec_prov, p, n);
	poke8(dec_prov, p, n, 0, 0, KT_ERR_BAD_TYPE);
	poke8(dec_prov, p, n, 0, 4, KT_ERR_BAD_TYPE);
	poke8(dec_prov, p, n, 0, 0xff, KT_ERR_BAD_TYPE);

	/* The op byte: unknown, or not one this type may carry (detected at
	 * the op byte, even with the rest of the input missing). */
	poke8(dec_prov, p, n, 1, 0, KT_ERR_BAD_TYPE);
	poke8(dec_prov, p, n, 1, KT_OP_ENROL + 1, KT_ERR_BAD_TYPE);
	poke8(dec_prov, p, n, 1, 0xff, KT_ERR_BAD_TYPE);
	if (reg) {
		poke8(dec_prov, p, n, 1, KT_OP_ADD_DEVICE, KT_ERR_PROVENANCE_OP);
		poke8(dec_prov, p, n, 1, KT_OP_REMOVE_DEVICE, KT_ERR_PROVENANCE_OP);
		poke8(dec_prov, p, n, 1, KT_OP_SET_PUSH, KT_ERR_PROVENANCE_OP);
		p[1] = KT_OP_ADD_DEVICE;
	} else {
		poke8(dec_prov, p, n, 1, KT_OP_ENROL, KT_ERR_PROVENANCE_OP);
		p[1] = KT_OP_ENROL;
	}
	assert_int_equal(dec_prov(p, 2), KT_ERR_PROVENANCE_OP);
	p[1] = op;
	assert_int_equal(dec_prov(p, 2), KT_ERR_TRUNCATED);

	/* The op's payload: every op here starts with a vec8 device id. */
	poke8(dec_prov, p, n, 2, 0, KT_ERR_BAD_LENGTH);
	poke8(dec_prov, p, n, 2, KT_DEVICE_ID_MAX + 1, KT_ERR_TOO_LARGE);

	/* The op left out (the encoding before the op was added): the first
	 * body byte is read as the op — device: vec8 length 5, operator: the
	 * high byte 0 of the reason length (both unknown ops), registrar: the
	 * key type 0x01 = add_device (not the registrar's). */
	assert_int_equal(dec_prov_cut(p, n, 1, oplen),
			 reg ? KT_ERR_PROVENANCE_OP : KT_ERR_BAD_TYPE);
	/* The op cut short by one byte, anywhere in it. */
	assert_int_not_equal(dec_prov_cut(p, n, b - 1, 1), KT_OK);
	assert_int_not_equal(dec_prov_cut(p, n, 2, 1), KT_OK);

	if (p[0] == KT_PROV_DEVICE) {
		poke8(dec_prov, p, n, b, 0, KT_ERR_BAD_LENGTH);
		poke8(dec_prov, p, n, b, KT_DEVICE_ID_MAX + 1, KT_ERR_TOO_LARGE);
		poke8(dec_prov, p, n, b + 1 + p[b], 0x02, KT_ERR_BAD_KEY_TYPE);
	} else if (reg) {
		poke8(dec_prov, p, n, b, 0x02, KT_ERR_BAD_KEY_TYPE);
		poke8(dec_prov, p, n, b + KT_SIGN_KEY_BYTES + 8, 0x00,
		      KT_ERR_BAD_KEY_TYPE);
	} else {
		operator_body_twins(p, n, b);
	}
}

static void test_decoder_twins_provenance_op(void **state)
{
	kt_json *j = load_vectors();
	const kt_json *pa = get(j, "provenance");
	const kt_json *ops = get(j, "update_messages");
	uint8_t *p, *q;
	size_t n, nq, i;

	(void)state;
	for (i = 0; i < 3; i++) {
		p = vec(kt_json_at(pa, i), "encoding", &n);
		q = vec(get(kt_json_at(pa, i), "op"), "op_encoding", &nq);
		prov_twins(p, n, nq);
		free(q);
		free(p);
	}
	for (i = 0; i < kt_json_len(ops); i++) {
		p = vec(kt_json_at(ops, i), "op_encoding", &n);
		truncations(dec_op, p, n);
		poke8(dec_op, p, n, 0, 0, KT_ERR_BAD_TYPE);
		poke8(dec_op, p, n, 0, 5, KT_ERR_BAD_TYPE);
		poke8(dec_op, p, n, 1, 0, KT_ERR_BAD_LENGTH);
		poke8(dec_op, p, n, 1, KT_DEVICE_ID_MAX + 1, KT_ERR_TOO_LARGE);
		if (p[0] == KT_OP_SET_PUSH)
			poke16(dec_op, p, n, 2 + p[1], KT_PUSH_ADDRESS_MAX + 1,
			       KT_ERR_TOO_LARGE);
		if (p[0] == KT_OP_REMOVE_DEVICE) /* same bytes as set_push minus push */
			poke8(dec_op, p, n, 0, KT_OP_SET_PUSH, KT_ERR_TRUNCATED);
		free(p);
	}
	kt_json_free(j);
}

static void test_decoder_twins_fixed(void **state)
{
	kt_json *j = load_vectors();
	const kt_json *le = get(j, "log_entries");
	uint8_t *p, key[KT_SIGN_KEY_BYTES], sig[KT_SIGNATURE_BYTES];
	size_t n;

	(void)state;
	p = vec(get(j, "map_leaf"), "encoding", &n);
	truncations(dec_leaf, p, n);
	free(p);
	p = vec(get(le, "update"), "encoding", &n);
	truncations(dec_entry, p, n);
	poke8(dec_entry, p, n, 0, 0, KT_ERR_BAD_TYPE);
	poke8(dec_entry, p, n, 0, 3, KT_ERR_BAD_TYPE);
	poke8(dec_entry, p, n, 0, KT_ENTRY_HEARTBEAT, KT_ERR_TRAILING);
	free(p);
	p = vec(get(le, "heartbeat"), "encoding", &n);
	truncations(dec_entry, p, n);
	poke8(dec_entry, p, n, 0, KT_ENTRY_UPDATE, KT_ERR_TRUNCATED);
	poke8(dec_entry, p, n, 0, 0xff, KT_ERR_BAD_TYPE);
	free(p);

	hex_fixed(kt_json_at(get(j, "keys"), 0), "sign_key", key, sizeof(key));
	truncations(dec_sign_key, key, sizeof(key));
	poke8(dec_sign_key, key, sizeof(key), 0, 0x02, KT_ERR_BAD_KEY_TYPE);
	poke8(dec_sign_key, key, sizeof(key), 0, 0x00, KT_ERR_BAD_KEY_TYPE);
	hex_fixed(kt_json_at(get(j, "keys"), 0), "enc_key", key, sizeof(key));
	truncations(dec_enc_key, key, sizeof(key));
	poke8(dec_enc_key, key, sizeof(key), 0, 0x02, KT_ERR_BAD_KEY_TYPE);
	hex_fixed(get(j, "registrar_token"), "signature", sig, sizeof(sig));
	truncations(dec_sig, sig, sizeof(sig));
	poke8(dec_sig, sig, sizeof(sig), 0, 0x02, KT_ERR_BAD_KEY_TYPE);
	poke8(dec_sig, sig, sizeof(sig), 0, 0x04, KT_ERR_BAD_KEY_TYPE);
	kt_json_free(j);
}

/* ---- text -------------------------------------------------------------- */

static void test_utf8_and_account(void **state)
{
	static const struct {
		const char *s;
		size_t n;
		int ok;
	} cases[] = {
		{"tel:+15551234567", 16, 1},
		{"mailto:zo\xc3\xab@example.org", 23, 1},
		{"\xe2\x82\xac", 3, 1},                 /* U+20AC */
		{"\xf0\x9f\x94\x91", 4, 1},             /* U+1F511 */
		{"\xf4\x8f\xbf\xbf", 4, 1},             /* U+10FFFF */
		{"\xed\x9f\xbf", 3, 1},                 /* U+D7FF */
		{"\xff", 1, 0},
		{"\x80", 1, 0},                         /* lone continuation */
		{"\xc0\xaf", 2, 0},                     /* overlong '/' */
		{"\xc1\xbf", 2, 0},                     /* overlong */
		{"\xe0\x80\xaf", 3, 0},                 /* overlong 3-byte */
		{"\xe0\x9f\xbf", 3, 0},                 /* overlong 3-byte */
		{"\xf0\x80\x80\xaf", 4, 0},             /* overlong 4-byte */
		{"\xf0\x8f\xbf\xbf", 4, 0},             /* overlong 4-byte */
		{"\xed\xa0\x80", 3, 0},                 /* surrogate U+D800 */
		{"\xed\xbf\xbf", 3, 0},                 /* surrogate U+DFFF */
		{"\xf4\x90\x80\x80", 4, 0},             /* above U+10FFFF */
		{"\xf5\x80\x80\x80", 4, 0},
		{"\xe2\x82", 2, 0},                     /* cut sequence */
		{"a\xe2\x82", 3, 0},
		{"\xe2\x28\xa1", 3, 0},                 /* bad continuation */
		{"a\0b", 3, 0},                         /* U+0000 */
	};
	uint8_t big[KT_ACCOUNT_MAX + 1];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int want = cases[i].ok ? KT_OK : KT_ERR_BAD_UTF8;

		assert_int_equal(kt_utf8_check((const uint8_t *)cases[i].s, cases[i].n), want);
		assert_int_equal(kt_account_check((const uint8_t *)cases[i].s, cases[i].n),
				 want);
	}
	assert_int_equal(kt_utf8_check(NULL, 0), KT_OK);
	assert_int_equal(kt_account_check(NULL, 0), KT_ERR_BAD_LENGTH);
	memset(big, 'a', sizeof(big));
	assert_int_equal(kt_account_check(big, KT_ACCOUNT_MAX), KT_OK);
	assert_int_equal(kt_account_check(big, KT_ACCOUNT_MAX + 1), KT_ERR_TOO_LARGE);
}

/* ---- keys ---------------------------------------------------------------- */

static void hexkey(uint8_t out[32], const char *hex)
{
	size_t n;

	assert_int_equal(sodium_hex2bin(out, 32, hex, strlen(hex), NULL, &n, NULL), 0);
	assert_int_equal(n, 32);
}

static void test_sign_key_validation(void **state)
{
	kt_sign_key k, bad;
	uint8_t sk[64], seed[32], t4[32], q[32];

	(void)state;
	memset(seed, 7, sizeof(seed));
	k.type = KT_SIGN_KEY_ED25519;
	assert_int_equal(crypto_sign_seed_keypair(k.pk, sk, seed), 0);
	assert_int_equal(kt_sign_key_validate(&k), KT_OK);

	bad = k;
	bad.type = 0x02;
	assert_int_equal(kt_sign_key_validate(&bad), KT_ERR_BAD_KEY_TYPE);
	bad.type = KT_SIGN_KEY_ED25519;
	memset(bad.pk, 0, 32); /* y = 0: order 4 */
	assert_int_equal(kt_sign_key_validate(&bad), KT_ERR_BAD_KEY);
	bad.pk[0] = 1; /* identity */
	assert_int_equal(kt_sign_key_validate(&bad), KT_ERR_BAD_KEY);
	bad.pk[31] = 0x80; /* identity with the sign bit: x = 0 "negative zero" */
	assert_int_equal(kt_sign_key_validate(&bad), KT_ERR_BAD_KEY);
	/* y = -1: order 2 */
	hexkey(bad.pk, "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f");
	assert_int_equal(kt_sign_key_validate(&bad), KT_ERR_BAD_KEY);
	/* An order-8 point. */
	hexkey(bad.pk, "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a");
	assert_int_equal(kt_sign_key_validate(&bad), KT_ERR_BAD_KEY);
	/* Non-canonical y: p (= 0) and p + 1 (= identity). */
	hexkey(bad.pk, "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f");
	assert_int_equal(kt_sign_key_validate(&bad), KT_ERR_BAD_KEY);
	hexkey(bad.pk, "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f");
	assert_int_equal(kt_sign_key_validate(&bad), KT_ERR_BAD_KEY);
	/* y = 2 is not on the curve. */
	memset(bad.pk, 0, 32);
	bad.pk[0] = 2;
	assert_int_equal(kt_sign_key_validate(&bad), KT_ERR_BAD_KEY);
	/* A valid key plus a point of order 4: on the curve, not in the subgroup. */
	memset(t4, 0, sizeof(t4));
	assert_int_equal(crypto_core_ed25519_add(q, k.pk, t4), 0);
	memcpy(bad.pk, q, 32);
	assert_int_equal(kt_sign_key_validate(&bad), KT_ERR_BAD_KEY);
}

static void test_enc_key_validation(void **state)
{
	/* The X25519 points of order 1, 2, 4, 8 and their non-canonical
	 * encodings (u + p). */
	static const char *low_order[] = {
		"0000000000000000000000000000000000000000000000000000000000000000",
		"0100000000000000000000000000000000000000000000000000000000000000",
		"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
		"5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		"cdeb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b880",
		"4c9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f11d7",
		"d9ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
		"daffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
		"dbffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
	};
	kt_enc_key k, bad;
	uint8_t secret[32];
	size_t i;

	(void)state;
	memset(secret, 0x42, sizeof(secret));
	k.type = KT_ENC_KEY_X25519;
	assert_int_equal(crypto_scalarmult_base(k.pk, secret), 0);
	assert_int_equal(kt_enc_key_validate(&k), KT_OK);
	bad = k;
	bad.type = 0x02;
	assert_int_equal(kt_enc_key_validate(&bad), KT_ERR_BAD_KEY_TYPE);
	bad.type = KT_ENC_KEY_X25519;
	for (i = 0; i < sizeof(low_order) / sizeof(low_order[0]); i++) {
		hexkey(bad.pk, low_order[i]);
		assert_int_equal(kt_enc_key_validate(&bad), KT_ERR_BAD_KEY);
	}
	/* A valid key with the (ignored by X25519) top bit set: non-canonical. */
	bad = k;
	bad.pk[31] |= 0x80;
	assert_int_equal(kt_enc_key_validate(&bad), KT_ERR_BAD_KEY);
}

/* 1 if the 255-bit little-endian u (top bit masked) is below 2^255 - 19. */
static int u_below_p(const uint8_t u[32])
{
	size_t i;

	if ((u[31] & 0x7f) != 0x7f)
		return 1;
	for (i = 30; i >= 1; i--)
		if (u[i] != 0xff)
			return 1;
	return u[0] < 0xed;
}

/* kt_enc_key_validate as it was before the low-order check became a list
 * (the reference): an X25519 multiplication by a fixed public scalar, a
 * multiple of 8 below 8*l once clamped, is all zeros (libsodium returns
 * -1) exactly for the points of order dividing 8. */
static int enc_key_validate_by_scalarmult(const kt_enc_key *k)
{
	static const uint8_t probe[32] = {
		0x6b, 0x74, 0x2f, 0x76, 0x31, 0x2f, 0x78, 0x32,
		0x35, 0x35, 0x31, 0x39, 0x2d, 0x70, 0x72, 0x6f,
		0x62, 0x65, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
	};
	uint8_t q[32];

	if (k->type != KT_ENC_KEY_X25519)
		return KT_ERR_BAD_KEY_TYPE;
	if (sodium_is_zero(k->pk, 32) || (k->pk[31] & 0x80) != 0 ||
	    !u_below_p(k->pk))
		return KT_ERR_BAD_KEY;
	return crypto_scalarmult(q, probe, k->pk) == 0 ? KT_OK : KT_ERR_BAD_KEY;
}

/* u += delta (mod 2^256), little-endian; delta may be negative. */
static void u_add(uint8_t u[32], int delta)
{
	int carry = delta;
	size_t i;

	for (i = 0; i < 32; i++) {
		int v = u[i] + carry;

		u[i] = (uint8_t)(v & 0xff);
		carry = v >> 8; /* arithmetic: -1 on a borrow */
	}
}

static void assert_enc_validators_agree(const uint8_t pk[32])
{
	kt_enc_key k;

	k.type = KT_ENC_KEY_X25519;
	memcpy(k.pk, pk, 32);
	assert_int_equal(kt_enc_key_validate(&k), enc_key_validate_by_scalarmult(&k));
}

/*
 * The list in kt_enc_key_validate (kt_types.c) has the same accept/reject
 * set as the scalar multiplication it replaced: on every listed value, its
 * non-canonical forms (+p, top bit), its neighbours, every u >= p, and
 * 100,000 random keys.
 */
static void test_enc_key_list_matches_scalarmult(void **state)
{
	static const char *low_order[] = {
		"0000000000000000000000000000000000000000000000000000000000000000",
		"0100000000000000000000000000000000000000000000000000000000000000",
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
		"5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
	};
	static const uint8_t p_le[32] = {
		0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
	};
	uint8_t u[32], v[32], secret[32], shared[32];
	kt_enc_key k;
	size_t i, j, accepted = 0;
	int d;

	(void)state;
	k.type = KT_ENC_KEY_X25519;
	for (i = 0; i < sizeof(low_order) / sizeof(low_order[0]); i++) {
		hexkey(u, low_order[i]);
		/* each listed u really is of low order: every secret key gives
		 * the all-zero shared secret (libsodium refuses it) */
		for (j = 0; j < 4; j++) {
			randombytes_buf(secret, sizeof(secret));
			assert_int_equal(crypto_scalarmult(shared, secret, u), -1);
		}
		memcpy(k.pk, u, 32);
		assert_int_equal(kt_enc_key_validate(&k), KT_ERR_BAD_KEY);
		assert_enc_validators_agree(u);
		/* the top bit set, and the neighbours */
		memcpy(v, u, 32);
		v[31] |= 0x80;
		assert_enc_validators_agree(v);
		for (d = -2; d <= 2; d++) {
			memcpy(v, u, 32);
			u_add(v, d);
			v[31] &= 0x7f;
			assert_enc_validators_agree(v);
		}
	}
	/* every u from p to 2^255 - 1 (u + p for u = 0..18: p and p + 1 are
	 * the non-canonical forms of the low-order 0 and 1), with and without
	 * the top bit */
	memcpy(u, p_le, 32);
	for (i = 0; i < 19; i++) {
		assert_enc_validators_agree(u);
		memcpy(k.pk, u, 32);
		assert_int_equal(kt_enc_key_validate(&k), KT_ERR_BAD_KEY);
		memcpy(v, u, 32);
		v[31] |= 0x80;
		assert_enc_validators_agree(v);
		u_add(u, 1);
	}
	/* 100,000 random keys: half with the top bit cleared (mostly valid:
	 * both the curve's and the twist's points are accepted), half as
	 * drawn (then half have the top bit set) */
	for (i = 0; i < 100000; i++) {
		randombytes_buf(u, sizeof(u));
		if (i % 2 == 0)
			u[31] &= 0x7f;
		memcpy(k.pk, u, 32);
		if (kt_enc_key_validate(&k) == KT_OK)
			accepted++;
		assert_enc_validators_agree(u);
	}
	/* not a tautology: about 3/4 of them are accepted */
	assert_true(accepted > 70000 && accepted < 80000);
}

static void test_device_validate_recipient(void **state)
{
	kt_json *j = load_vectors();
	kt_device d, bad, devs[2];
	kt_account_value v;

	(void)state;
	device_from(get(j, "device"), &d, 1);
	assert_int_equal(kt_device_validate(&d), KT_OK);
	assert_int_equal(kt_device_validate_recipient(&d), KT_OK);
	/* A sign key that is the identity: the server's check refuses it, a
	 * sender's does not look at sign keys beyond their type. */
	bad = d;
	memset(bad.sign_pk.pk, 0, 32);
	bad.sign_pk.pk[0] = 1;
	assert_int_equal(kt_device_validate(&bad), KT_ERR_BAD_KEY);
	assert_int_equal(kt_device_validate_recipient(&bad), KT_OK);
	bad.sign_pk.pk[0] = 2; /* y = 2: off the curve */
	assert_int_equal(kt_device_validate(&bad), KT_ERR_BAD_KEY);
	assert_int_equal(kt_device_validate_recipient(&bad), KT_OK);
	bad.sign_pk.type = 0x02;
	assert_int_equal(kt_device_validate_recipient(&bad), KT_ERR_BAD_KEY_TYPE);
	/* The encryption key is checked in full by both. */
	bad = d;
	memset(bad.enc_pk.pk, 0, 32);
	bad.enc_pk.pk[0] = 1; /* u = 1: order 4 */
	assert_int_equal(kt_device_validate(&bad), KT_ERR_BAD_KEY);
	assert_int_equal(kt_device_validate_recipient(&bad), KT_ERR_BAD_KEY);
	bad.enc_pk.type = 0x02;
	assert_int_equal(kt_device_validate_recipient(&bad), KT_ERR_BAD_KEY_TYPE);
	/* and the structure */
	bad = d;
	bad.kind = 9;
	assert_int_equal(kt_device_validate_recipient(&bad), KT_ERR_BAD_TYPE);
	bad = d;
	bad.id_len = 0;
	assert_int_equal(kt_device_validate_recipient(&bad), KT_ERR_BAD_LENGTH);

	/* A value: the order, every enc key; sign keys by type only. */
	devs[0] = d;
	devs[1] = d;
	devs[0].id[0] = 'a';
	devs[0].id_len = 1;
	devs[1].id[0] = 'b';
	devs[1].id_len = 1;
	kt_account_value_init(&v);
	v.devices = devs;
	v.count = 2;
	assert_int_equal(kt_account_value_validate(&v), KT_OK);
	assert_int_equal(kt_account_value_validate_recipients(&v), KT_OK);
	memset(devs[1].sign_pk.pk, 0, 32);
	assert_int_equal(kt_account_value_validate(&v), KT_ERR_BAD_KEY);
	assert_int_equal(kt_account_value_validate_recipients(&v), KT_OK);
	memset(devs[1].enc_pk.pk, 0, 32);
	assert_int_equal(kt_account_value_validate_recipients(&v), KT_ERR_BAD_KEY);
	devs[1] = devs[0]; /* duplicate id */
	assert_int_equal(kt_account_value_validate_recipients(&v), KT_ERR_NONCANONICAL);
	devs[0].id[0] = 'c'; /* unsorted */
	assert_int_equal(kt_account_value_validate_recipients(&v), KT_ERR_NONCANONICAL);
	kt_json_free(j);
}

/* Signs the update message of (acct, op, ev) with sk. */
static void sign_update_message(kt_signature *sig, const uint8_t sk[64],
				const uint8_t *acct, size_t alen,
				const kt_update_op *op, uint64_t ev)
{
	kt_wbuf w;

	kt_wbuf_init(&w, KT_UPDATE_MESSAGE_MAX_BYTES);
	assert_int_equal(kt_update_message(&w, acct, alen, op, ev), KT_OK);
	assert_int_equal(kt_sig_sign(sig, sk, w.data, w.len), KT_OK);
	kt_wbuf_free(&w);
}

/* kt_update_verify_committed / kt_history_request_verify_committed (keys
 * from committed state) answer as the checked variants for every valid
 * key; for an invalid key, which the checked ones refuse as
 * KT_ERR_BAD_KEY, they must still never say KT_OK. */
static void test_verify_committed(void **state)
{
	static const char *const bad_keys[] = {
		"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a", /* order 8 */
		"0000000000000000000000000000000000000000000000000000000000000000", /* order 4 */
		"0100000000000000000000000000000000000000000000000000000000000000", /* identity */
		"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", /* p + 1 */
	};
	const uint8_t acct[] = "tel:+15550001234";
	size_t alen = sizeof(acct) - 1, i;
	uint8_t sk[64], sk2[64], seed[32], t4[32];
	kt_sign_key k, k2, bad;
	kt_update_op op;
	kt_signature sig, hsig;
	kt_wbuf w;

	(void)state;
	memset(seed, 7, sizeof(seed));
	k.type = k2.type = KT_SIGN_KEY_ED25519;
	assert_int_equal(crypto_sign_seed_keypair(k.pk, sk, seed), 0);
	seed[0] ^= 1;
	assert_int_equal(crypto_sign_seed_keypair(k2.pk, sk2, seed), 0);
	memset(&op, 0, sizeof(op));
	op.op = KT_OP_REMOVE_DEVICE;
	memcpy(op.device_id, "laptop", 6);
	op.device_id_len = 6;
	sign_update_message(&sig, sk, acct, alen, &op, 3);

	assert_int_equal(kt_update_verify_committed(&k, &sig, acct, alen, &op, 3), KT_OK);
	assert_int_equal(kt_update_verify(&k, &sig, acct, alen, &op, 3), KT_OK);
	/* twins: another version, another signer, another op, a bad type */
	assert_int_equal(kt_update_verify_committed(&k, &sig, acct, alen, &op, 4),
			 KT_ERR_BAD_SIGNATURE);
	assert_int_equal(kt_update_verify_committed(&k2, &sig, acct, alen, &op, 3),
			 KT_ERR_BAD_SIGNATURE);
	op.device_id[0] ^= 1;
	assert_int_equal(kt_update_verify_committed(&k, &sig, acct, alen, &op, 3),
			 KT_ERR_BAD_SIGNATURE);
	op.device_id[0] ^= 1;
	bad = k;
	bad.type = 0x02;
	assert_int_equal(kt_update_verify_committed(&bad, &sig, acct, alen, &op, 3),
			 KT_ERR_BAD_KEY_TYPE);
	/* invalid keys: refused by both (libsodium's verify checks encoding
	 * and small order itself), only the checked variant says why */
	bad.type = KT_SIGN_KEY_ED25519;
	for (i = 0; i < sizeof(bad_keys) / sizeof(bad_keys[0]); i++) {
		hexkey(bad.pk, bad_keys[i]);
		assert_int_equal(kt_update_verify(&bad, &sig, acct, alen, &op, 3),
				 KT_ERR_BAD_KEY);
		assert_int_equal(kt_update_verify_committed(&bad, &sig, acct, alen,
							    &op, 3),
				 KT_ERR_BAD_SIGNATURE);
	}
	/* a mixed-order key (k plus a point of order 4): the checked variant
	 * refuses the key; the committed one has only the equation, which a
	 * signature by k does not satisfy */
	memset(t4, 0, sizeof(t4));
	assert_int_equal(crypto_core_ed25519_add(bad.pk, k.pk, t4), 0);
	assert_int_equal(kt_update_verify(&bad, &sig, acct, alen, &op, 3), KT_ERR_BAD_KEY);
	assert_int_equal(kt_update_verify_committed(&bad, &sig, acct, alen, &op, 3),
			 KT_ERR_BAD_SIGNATURE);

	/* the History request: same split */
	kt_wbuf_init(&w, KT_HISTORY_REQUEST_MESSAGE_MAX_BYTES);
	assert_int_equal(kt_history_request_message(&w, acct, alen, 1, 1700000000000u,
						    op.device_id, op.device_id_len),
			 KT_OK);
	assert_int_equal(kt_sig_sign(&hsig, sk, w.data, w.len), KT_OK);
	kt_wbuf_free(&w);
	assert_int_equal(kt_history_request_verify_committed(&k, &hsig, acct, alen, 1,
							     1700000000000u,
							     op.device_id,
							     op.device_id_len),
			 KT_OK);
	assert_int_equal(kt_history_request_verify_committed(&k, &hsig, acct, alen, 2,
							     1700000000000u,
							     op.device_id,
							     op.device_id_len),
			 KT_ERR_BAD_SIGNATURE);
	assert_int_equal(kt_history_request_verify_committed(&k2, &hsig, acct, alen, 1,
							     1700000000000u,
							     op.device_id,
							     op.device_id_len),
			 KT_ERR_BAD_SIGNATURE);
}

static void test_device_validate_and_sig(void **state)
{
	kt_json *j = load_vectors();
	kt_device d, bad;
	kt_signature sig;
	uint8_t sk[64], msg[3] = {1, 2, 3};
	kt_sign_key pk;

	(void)state;
	device_from(get(j, "device"), &d, 1);
	assert_int_equal(kt_device_validate(&d), KT_OK);
	bad = d;
	memset(bad.enc_pk.pk, 0, 32);
	assert_int_equal(kt_device_validate(&bad), KT_ERR_BAD_KEY);
	bad = d;
	memset(bad.sign_pk.pk, 0, 32);
	bad.sign_pk.pk[0] = 1;
	assert_int_equal(kt_device_validate(&bad), KT_ERR_BAD_KEY);
	bad = d;
	bad.kind = 9;
	assert_int_equal(kt_device_validate(&bad), KT_ERR_BAD_TYPE);
	bad = d;
	bad.id_len = 0;
	assert_int_equal(kt_device_validate(&bad), KT_ERR_BAD_LENGTH);

	key_by_name(j, "phone", sk, &pk);
	assert_int_equal(kt_sig_sign(&sig, sk, msg, sizeof(msg)), KT_OK);
	assert_int_equal(kt_sig_verify(&pk, &sig, msg, sizeof(msg)), KT_OK);
	assert_int_equal(kt_sig_verify(&pk, &sig, msg, 2), KT_ERR_BAD_SIGNATURE);
	sig.sig[63] ^= 0x10;
	assert_int_equal(kt_sig_verify(&pk, &sig, msg, sizeof(msg)), KT_ERR_BAD_SIGNATURE);
	sig.sig[63] ^= 0x10;
	sig.type = 0x02;
	assert_int_equal(kt_sig_verify(&pk, &sig, msg, sizeof(msg)), KT_ERR_BAD_KEY_TYPE);
	sig.type = KT_SIG_ED25519;
	pk.pk[0] ^= 0xff; /* most likely off curve; certainly not the signer */
	assert_true(kt_sig_verify(&pk, &sig, msg, sizeof(msg)) != KT_OK);
	memset(pk.pk, 0, 32);
	pk.pk[0] = 1;
	assert_int_equal(kt_sig_verify(&pk, &sig, msg, sizeof(msg)), KT_ERR_BAD_KEY);
	assert_int_equal(kt_sig_sign(&sig, sk, NULL, 0), KT_OK);
	key_by_name(j, "phone", sk, &pk);
	assert_int_equal(kt_sig_verify(&pk, &sig, NULL, 0), KT_OK);
	kt_json_free(j);
}

/* ---- encoders refuse bad structs, caps are exact ------------------------ */

static void max_device(kt_device *d, uint8_t tag)
{
	memset(d, 0, sizeof(*d));
	memset(d->id, 'x', KT_DEVICE_ID_MAX);
	d->id[KT_DEVICE_ID_MAX - 2] = (uint8_t)(tag >> 4 | 0x40);
	d->id[KT_DEVICE_ID_MAX - 1] = (uint8_t)((tag & 0x0f) | 0x40);
	d->id_len = KT_DEVICE_ID_MAX;
	d->sign_pk.type = KT_SIGN_KEY_ED25519;
	d->enc_pk.type = KT_ENC_KEY_X25519;
	memset(d->push, 'p', KT_PUSH_ADDRESS_MAX);
	d->push_len = KT_PUSH_ADDRESS_MAX;
	d->kind = KT_DEVICE_OTHER;
	d->added_at_ms = UINT64_MAX;
	d->added_by_type = KT_PROV_DEVICE;
	memset(d->added_by_id, 'a', KT_DEVICE_ID_MAX);
	d->added_by_id_len = KT_DEVICE_ID_MAX;
}

/* The encoder refuses bad added_by fields (and the spec encoder ignores
 * them); *d is a valid max_device, restored on return. */
static void added_by_encoder_twins(kt_device *d)
{
	kt_device b = *d;
	kt_wbuf w;

	kt_wbuf_init(&w, KT_DEVICE_MAX_BYTES);
	b.added_by_type = 0;
	assert_int_equal(kt_device_encode(&w, &b), KT_ERR_BAD_TYPE);
	assert_int_equal(w.len, 0);
	kt_wbuf_free(&w);
	assert_int_equal(kt_device_spec_encode(&w, &b), KT_OK); /* not in a spec */
	kt_wbuf_free(&w);
	b.added_by_type = KT_PROV_OPERATOR + 1;
	assert_int_equal(kt_device_encode(&w, &b), KT_ERR_BAD_TYPE);
	kt_wbuf_free(&w);
	b.added_by_type = KT_PROV_DEVICE;
	b.added_by_id_len = 0;
	assert_int_equal(kt_device_encode(&w, &b), KT_ERR_BAD_LENGTH);
	kt_wbuf_free(&w);
	b.added_by_id_len = KT_DEVICE_ID_MAX + 1;
	assert_int_equal(kt_device_encode(&w, &b), KT_ERR_TOO_LARGE);
	kt_wbuf_free(&w);
	b.added_by_id_len = 1;
	b.added_by_type = KT_PROV_OPERATOR;
	assert_int_equal(kt_device_encode(&w, &b), KT_ERR_TOO_LARGE);
	kt_wbuf_free(&w);
	b.added_by_type = KT_PROV_REGISTRAR;
	assert_int_equal(kt_device_encode(&w, &b), KT_ERR_TOO_LARGE);
	kt_wbuf_free(&w);
	b.added_by_id_len = 0;
	assert_int_equal(kt_device_encode(&w, &b), KT_OK);
	assert_int_equal(w.len, KT_DEVICE_MAX_BYTES - KT_DEVICE_ID_MAX);
	kt_wbuf_free(&w);
	/* a value refuses such a device too */
	{
		kt_account_value v;

		kt_account_value_init(&v);
		b.added_by_type = 0;
		assert_int_equal(kt_account_value_add(&v, &b, 8), KT_ERR_BAD_TYPE);
		assert_int_equal(v.count, 0);
		v.devices = &b;
		v.count = 1;
		kt_wbuf_init(&w, KT_VALUE_MAX_BYTES);
		assert_int_equal(kt_account_value_encode(&w, &v), KT_ERR_BAD_TYPE);
		kt_wbuf_free(&w);
		assert_int_equal(kt_account_value_validate(&v), KT_ERR_BAD_TYPE);
	}
}

static void test_encoder_rejects(void **state)
{
	kt_device d;
	kt_wbuf w;
	kt_provenance pv;
	kt_update_op op;
	kt_log_entry e;
	uint8_t acct[3] = {'a', 'b', 'c'};

	(void)state;
	max_device(&d, 0);
	kt_wbuf_init(&w, KT_DEVICE_MAX_BYTES);
	assert_int_equal(kt_device_encode(&w, &d), KT_OK);
	assert_int_equal(w.len, KT_DEVICE_MAX_BYTES);
	kt_wbuf_free(&w);
	kt_wbuf_init(&w, KT_DEVICE_MAX_BYTES - 1); /* writer cap too small */
	assert_int_equal(kt_device_encode(&w, &d), KT_ERR_TOO_LARGE);
	kt_wbuf_free(&w);
	added_by_encoder_twins(&d);
	d.id_len = KT_DEVICE_ID_MAX + 1;
	kt_wbuf_init(&w, KT_DEVICE_MAX_BYTES);
	assert_int_equal(kt_device_encode(&w, &d), KT_ERR_TOO_LARGE);
	assert_int_equal(kt_wbuf_error(&w), KT_ERR_TOO_LARGE); /* sticky */
	assert_int_equal(w.len, 0);
	kt_wbuf_free(&w);
	d.id_len = 0;
	assert_int_equal(kt_device_spec_encode(&w, &d), KT_ERR_BAD_LENGTH);
	kt_wbuf_free(&w);
	d.id_len = 1;
	d.push_len = KT_PUSH_ADDRESS_MAX + 1;
	assert_int_equal(kt_device_encode(&w, &d), KT_ERR_TOO_LARGE);
	kt_wbuf_free(&w);
	d.push_len = 0;
	d.kind = 0;
	assert_int_equal(kt_device_encode(&w, &d), KT_ERR_BAD_TYPE);
	kt_wbuf_free(&w);
	d.kind = 1;
	d.enc_pk.type = 7;
	assert_int_equal(kt_device_encode(&w, &d), KT_ERR_BAD_KEY_TYPE);
	kt_wbuf_free(&w);
	assert_int_equal(kt_enc_key_encode(&w, &d.enc_pk), KT_ERR_BAD_KEY_TYPE);
	kt_wbuf_free(&w);
	d.sign_pk.type = 7;
	assert_int_equal(kt_sign_key_encode(&w, &d.sign_pk), KT_ERR_BAD_KEY_TYPE);
	kt_wbuf_free(&w);

	/* Provenance: the type, the op and its pairing with the type, then the
	 * body; the largest encoding of each type. */
	memset(&pv, 0, sizeof(pv));
	kt_wbuf_init(&w, KT_PROVENANCE_MAX_BYTES);
	assert_int_equal(kt_provenance_encode(&w, &pv), KT_ERR_BAD_TYPE);
	kt_wbuf_free(&w);
	pv.type = KT_PROV_OPERATOR;
	assert_int_equal(kt_provenance_encode(&w, &pv), KT_ERR_BAD_TYPE); /* op 0 */
	kt_wbuf_free(&w);
	pv.op.op = KT_OP_ENROL + 1;
	assert_int_equal(kt_provenance_encode(&w, &pv), KT_ERR_BAD_TYPE);
	kt_wbuf_free(&w);
	pv.op.op = KT_OP_ENROL;
	max_device(&pv.op.device, 2);
	assert_int_equal(kt_provenance_encode(&w, &pv), KT_ERR_PROVENANCE_OP);
	kt_wbuf_free(&w);
	pv.op.op = KT_OP_ADD_DEVICE;
	pv.op.device.kind = 0;
	assert_int_equal(kt_provenance_encode(&w, &pv), KT_ERR_BAD_TYPE);
	kt_wbuf_free(&w);
	pv.op.device.kind = KT_DEVICE_OTHER;
	assert_int_equal(kt_provenance_encode(&w, &pv), KT_ERR_BAD_LENGTH); /* reason */
	kt_wbuf_free(&w);
	pv.reason_len = KT_REASON_MAX;
	memset(pv.reason, 'r', KT_REASON_MAX);
	pv.label_len = KT_OPERATOR_LABEL_MAX;
	memset(pv.label, 'l', KT_OPERATOR_LABEL_MAX);
	assert_int_equal(kt_provenance_encode(&w, &pv), KT_OK);
	assert_int_equal(w.len, KT_PROVENANCE_MAX_BYTES);
	kt_wbuf_free(&w);
	kt_wbuf_init(&w, KT_PROVENANCE_MAX_BYTES - 1); /* writer cap too small */
	assert_int_equal(kt_provenance_encode(&w, &pv), KT_ERR_TOO_LARGE);
	kt_wbuf_free(&w);
	kt_wbuf_init(&w, KT_PROVENANCE_MAX_BYTES);
	pv.reason[7] = 0xc0;
	assert_int_equal(kt_provenance_encode(&w, &pv), KT_ERR_BAD_UTF8);
	kt_wbuf_free(&w);
	pv.type = KT_PROV_DEVICE;
	assert_int_equal(kt_provenance_encode(&w, &pv), KT_ERR_BAD_LENGTH);
	kt_wbuf_free(&w);
	pv.device_id_len = KT_DEVICE_ID_MAX;
	assert_int_equal(kt_provenance_encode(&w, &pv), KT_ERR_BAD_KEY_TYPE);
	kt_wbuf_free(&w);
	pv.sig.type = KT_SIG_ED25519;
	assert_int_equal(kt_provenance_encode(&w, &pv), KT_OK);
	assert_int_equal(w.len, 778); /* docs/PROTOCOL.md §1.5 */
	kt_wbuf_free(&w);
	pv.op.op = KT_OP_ENROL;
	assert_int_equal(kt_provenance_encode(&w, &pv), KT_ERR_PROVENANCE_OP);
	kt_wbuf_free(&w);
	pv.type = KT_PROV_REGISTRAR;
	assert_int_equal(kt_provenance_encode(&w, &pv), KT_ERR_BAD_KEY_TYPE);
	kt_wbuf_free(&w);
	pv.registrar_pk.type = KT_SIGN_KEY_ED25519;
	assert_int_equal(kt_provenance_encode(&w, &pv), KT_OK);
	assert_int_equal(w.len, 754);
	kt_wbuf_free(&w);
	pv.op.op = KT_OP_REMOVE_DEVICE;
	pv.op.device_id_len = 1;
	assert_int_equal(kt_provenance_encode(&w, &pv), KT_ERR_PROVENANCE_OP);
	kt_wbuf_free(&w);
	pv.type = KT_PROV_DEVICE;
	pv.op.device_id_len = 0;
	assert_int_equal(kt_provenance_encode(&w, &pv), KT_ERR_BAD_LENGTH);
	kt_wbuf_free(&w);
	pv.sig.type = 0x02;
	assert_int_equal(kt_signature_encode(&w, &pv.sig), KT_ERR_BAD_KEY_TYPE);
	kt_wbuf_free(&w);

	/* The largest update message. */
	memset(&op, 0, sizeof(op));
	op.op = KT_OP_ADD_DEVICE;
	max_device(&op.device, 1);
	{
		uint8_t big[KT_ACCOUNT_MAX];

		memset(big, 'a', sizeof(big));
		kt_wbuf_init(&w, KT_UPDATE_MESSAGE_MAX_BYTES);
		assert_int_equal(kt_update_message(&w, big, sizeof(big), &op, 0), KT_OK);
		assert_int_equal(w.len, KT_UPDATE_MESSAGE_MAX_BYTES);
		kt_wbuf_free(&w);
	}
	op.op = 0;
	assert_int_equal(kt_update_op_encode(&w, &op), KT_ERR_BAD_TYPE);
	kt_wbuf_free(&w);
	op.op = KT_OP_REMOVE_DEVICE;
	assert_int_equal(kt_update_op_encode(&w, &op), KT_ERR_BAD_LENGTH);
	kt_wbuf_free(&w);
	op.op = KT_OP_SET_PUSH;
	op.device_id_len = 1;
	op.push_len = KT_PUSH_ADDRESS_MAX + 1;
	assert_int_equal(kt_update_op_encode(&w, &op), KT_ERR_TOO_LARGE);
	kt_wbuf_free(&w);
	op.push_len = 0;
	assert_int_equal(kt_update_message(&w, (const uint8_t *)"\xc0\xaf", 2, &op, 0),
			 KT_ERR_BAD_UTF8);
	kt_wbuf_free(&w);
	assert_int_equal(kt_update_message(&w, acct, 0, &op, 0), KT_ERR_BAD_LENGTH);
	kt_wbuf_free(&w);
	assert_int_equal(kt_history_request_message(&w, acct, 3, 0, 0, acct, 0),
			 KT_ERR_BAD_LENGTH);
	kt_wbuf_free(&w);
	assert_int_equal(kt_registrar_token_message(&w, acct, 3, &d, 0),
			 KT_ERR_BAD_KEY_TYPE);
	assert_int_equal(w.len, 0);
	kt_wbuf_free(&w);
	d.sign_pk.type = KT_SIGN_KEY_ED25519;
	d.enc_pk.type = KT_ENC_KEY_X25519;
	d.id_len = 0;
	assert_int_equal(kt_registrar_token_message(&w, acct, 3, &d, 0),
			 KT_ERR_BAD_LENGTH);
	kt_wbuf_free(&w);
	d.id_len = 1;
	assert_int_equal(kt_registrar_token_message(&w, acct, 0, &d, 0),
			 KT_ERR_BAD_LENGTH);
	kt_wbuf_free(&w);
	/* The largest token message: 255-byte account, the largest spec. */
	max_device(&d, 3);
	{
		uint8_t big[KT_ACCOUNT_MAX];

		memset(big, 'a', sizeof(big));
		kt_wbuf_init(&w, KT_REGISTRAR_TOKEN_MESSAGE_MAX_BYTES);
		assert_int_equal(kt_registrar_token_message(&w, big, sizeof(big), &d,
							    UINT64_MAX), KT_OK);
		assert_int_equal(w.len, KT_REGISTRAR_TOKEN_MESSAGE_MAX_BYTES);
		assert_int_equal(w.len, 938); /* docs/PROTOCOL.md §1.6.2 */
		kt_wbuf_free(&w);
		kt_wbuf_init(&w, KT_REGISTRAR_TOKEN_MESSAGE_MAX_BYTES - 1);
		assert_int_equal(kt_registrar_token_message(&w, big, sizeof(big), &d,
							    UINT64_MAX), KT_ERR_TOO_LARGE);
		kt_wbuf_free(&w);
	}

	memset(&e, 0, sizeof(e));
	e.type = 3;
	assert_int_equal(kt_log_entry_encode(&w, &e), KT_ERR_BAD_TYPE);
	kt_wbuf_free(&w);
}

static void test_value_caps(void **state)
{
	kt_account_value v, back;
	kt_wbuf w;
	kt_device d;
	uint8_t *enc;
	size_t len;
	unsigned i;

	(void)state;
	kt_account_value_init(&v);
	for (i = 0; i < KT_MAX_DEVICES_ENCODING; i++) {
		max_device(&d, (uint8_t)i);
		assert_int_equal(kt_account_value_add(&v, &d, SIZE_MAX), KT_OK);
	}
	max_device(&d, 0);
	d.id_len = 3;
	assert_int_equal(kt_account_value_add(&v, &d, SIZE_MAX), KT_ERR_TOO_LARGE);
	assert_int_equal(encode_value(&w, &v), KT_OK);
	assert_int_equal(w.len, KT_VALUE_MAX_BYTES);
	assert_int_equal(kt_wbuf_take(&w, &enc, &len), KT_OK);
	assert_int_equal(kt_account_value_decode(&back, enc, len), KT_OK);
	assert_int_equal(back.count, KT_MAX_DEVICES_ENCODING);
	assert_memory_equal(back.devices, v.devices, v.count * sizeof(kt_device));
	kt_account_value_free(&back);
	free(enc);

	/* The encoder refuses more than the cap, and unsorted arrays. */
	{
		kt_account_value big;

		big.count = KT_MAX_DEVICES_ENCODING + 1;
		big.devices = calloc(big.count, sizeof(kt_device));
		assert_non_null(big.devices);
		memcpy(big.devices, v.devices, v.count * sizeof(kt_device));
		assert_int_equal(encode_value(&w, &big), KT_ERR_TOO_LARGE);
		kt_wbuf_free(&w);
		assert_int_equal(kt_account_value_copy(&back, &big), KT_ERR_TOO_LARGE);
		assert_null(back.devices);
		kt_account_value_free(&big);
	}
	d = v.devices[0];
	v.devices[0] = v.devices[1];
	v.devices[1] = d;
	assert_int_equal(encode_value(&w, &v), KT_ERR_NONCANONICAL);
	kt_wbuf_free(&w);
	v.devices[0] = v.devices[1];
	assert_int_equal(encode_value(&w, &v), KT_ERR_NONCANONICAL);
	kt_wbuf_free(&w);
	assert_int_equal(kt_account_value_validate(&v), KT_ERR_NONCANONICAL);
	kt_account_value_free(&v);
	assert_int_equal(v.count, 0);
	kt_account_value_free(NULL);
}

/* ---- value editing -------------------------------------------------------- */

static void named(kt_device *d, const char *id)
{
	max_device(d, 0);
	d->id_len = strlen(id);
	memcpy(d->id, id, d->id_len);
	d->push_len = 0;
}

static void expect_ids(const kt_account_value *v, const char *const *ids, size_t n)
{
	size_t i;

	assert_int_equal(v->count, n);
	for (i = 0; i < n; i++) {
		assert_int_equal(v->devices[i].id_len, strlen(ids[i]));
		assert_memory_equal(v->devices[i].id, ids[i], strlen(ids[i]));
	}
}

static void test_value_editing(void **state)
{
	static const char *const after_add[] = {"a", "ab", "b", "m"};
	static const char *const after_rm[] = {"a", "b", "m"};
	kt_account_value v, c;
	kt_device d;
	const kt_device *f;
	kt_wbuf w;
	uint8_t push[KT_PUSH_ADDRESS_MAX + 1];

	(void)state;
	kt_account_value_init(&v);
	named(&d, "m");
	assert_int_equal(kt_account_value_add(&v, &d, 4), KT_OK);
	named(&d, "ab");
	assert_int_equal(kt_account_value_add(&v, &d, 4), KT_OK);
	named(&d, "b");
	assert_int_equal(kt_account_value_add(&v, &d, 4), KT_OK);
	named(&d, "a");
	assert_int_equal(kt_account_value_add(&v, &d, 4), KT_OK);
	expect_ids(&v, after_add, 4);
	named(&d, "z");
	assert_int_equal(kt_account_value_add(&v, &d, 4), KT_ERR_TOO_LARGE);
	named(&d, "ab");
	assert_int_equal(kt_account_value_add(&v, &d, 8), KT_ERR_DEVICE_EXISTS);
	d.id_len = 0;
	assert_int_equal(kt_account_value_add(&v, &d, 8), KT_ERR_BAD_LENGTH);
	expect_ids(&v, after_add, 4);
	assert_int_equal(encode_value(&w, &v), KT_OK);
	kt_wbuf_free(&w);

	assert_int_equal(kt_account_value_copy(&c, &v), KT_OK);
	assert_int_equal(kt_account_value_remove(&c, (const uint8_t *)"ab", 2), KT_OK);
	expect_ids(&c, after_rm, 3);
	expect_ids(&v, after_add, 4); /* the copy is deep */
	assert_int_equal(kt_account_value_remove(&c, (const uint8_t *)"ab", 2),
			 KT_ERR_NOT_FOUND);
	assert_int_equal(kt_account_value_remove(&c, (const uint8_t *)"x", 1),
			 KT_ERR_NOT_FOUND);
	assert_null(kt_account_value_find(&c, (const uint8_t *)"ab", 2));
	assert_null(kt_account_value_find(&c, (const uint8_t *)"", 0));
	f = kt_account_value_find(&c, (const uint8_t *)"m", 1);
	assert_non_null(f);
	assert_int_equal(f->push_len, 0);

	memset(push, 'q', sizeof(push));
	assert_int_equal(kt_account_value_set_push(&c, (const uint8_t *)"m", 1, push,
						   KT_PUSH_ADDRESS_MAX + 1), KT_ERR_TOO_LARGE);
	assert_int_equal(kt_account_value_set_push(&c, (const uint8_t *)"n", 1, push, 4),
			 KT_ERR_NOT_FOUND);
	assert_int_equal(kt_account_value_set_push(&c, (const uint8_t *)"m", 1, push, 4),
			 KT_OK);
	assert_int_equal(f->push_len, 4);
	assert_memory_equal(f->push, "qqqq", 4);
	assert_int_equal(kt_account_value_set_push(&c, (const uint8_t *)"m", 1, NULL, 0),
			 KT_OK);
	assert_int_equal(f->push_len, 0);

	/* Removing every device leaves the empty value, encoded as u16 0. */
	assert_int_equal(kt_account_value_remove(&c, (const uint8_t *)"a", 1), KT_OK);
	assert_int_equal(kt_account_value_remove(&c, (const uint8_t *)"m", 1), KT_OK);
	assert_int_equal(kt_account_value_remove(&c, (const uint8_t *)"b", 1), KT_OK);
	assert_int_equal(c.count, 0);
	assert_null(c.devices);
	assert_int_equal(encode_value(&w, &c), KT_OK);
	assert_int_equal(w.len, 2);
	assert_int_equal(w.data[0] | w.data[1], 0);
	assert_int_equal(kt_account_value_decode(&c, w.data, w.len), KT_OK);
	assert_int_equal(c.count, 0);
	kt_wbuf_free(&w);
	assert_int_equal(kt_account_value_remove(&c, (const uint8_t *)"a", 1),
			 KT_ERR_NOT_FOUND);
	assert_int_equal(kt_account_value_add(&c, &v.devices[0], 0), KT_ERR_TOO_LARGE);
	kt_account_value_free(&c);
	kt_account_value_free(&v);
}

/* ---- transitions ---------------------------------------------------------- */

/* A value holding the named devices (built with kt_account_value_add). */
static void value_of(kt_account_value *v, const char *const *ids, size_t n)
{
	kt_device d;
	size_t i;

	kt_account_value_init(v);
	for (i = 0; i < n; i++) {
		named(&d, ids[i]);
		d.added_at_ms = 1000 + i;
		assert_int_equal(kt_account_value_add(v, &d, KT_MAX_DEVICES_ENCODING), KT_OK);
	}
}

static void op_named(kt_update_op *op, uint8_t which, const char *id,
		     const char *push)
{
	memset(op, 0, sizeof(*op));
	op->op = which;
	if (which == KT_OP_ADD_DEVICE || which == KT_OP_ENROL) {
		named(&op->device, id);
		op->device.added_at_ms = 5; /* not encoded: ignored */
		return;
	}
	op->device_id_len = strlen(id);
	memcpy(op->device_id, id, op->device_id_len);
	if (push != NULL) {
		op->push_len = strlen(push);
		memcpy(op->push, push, op->push_len);
	}
}

/* A structurally valid provenance of this type carrying op. */
static void prov_with(kt_provenance *pv, uint8_t type, const kt_update_op *op)
{
	memset(pv, 0, sizeof(*pv));
	pv->type = type;
	memcpy(&pv->op, op, sizeof(*op));
	pv->sig.type = KT_SIG_ED25519;
	pv->device_id_len = 1;
	pv->device_id[0] = 'a';
	pv->registrar_pk.type = KT_SIGN_KEY_ED25519;
	pv->reason_len = 1;
	pv->reason[0] = 'r';
}

/* kt_value_apply_op with op authorised as the honest path would: an
 * enrolment by the registrar, anything else by the device "a". */
static int apply_op(kt_account_value *out, const kt_account_value *prev,
		    const kt_update_op *op, uint64_t ts, size_t max)
{
	kt_provenance pv;

	prov_with(&pv, op->op == KT_OP_ENROL ? KT_PROV_REGISTRAR : KT_PROV_DEVICE,
		  op);
	return kt_value_apply_op(out, prev, &pv, ts, max);
}

/* Asserts kt_value_apply_op fails with want and leaves *out empty. */
static void apply_fails(const kt_account_value *prev, const kt_update_op *op,
			size_t max, int want)
{
	kt_account_value out;

	out.devices = (kt_device *)(uintptr_t)1; /* must be reset */
	out.count = 7;
	assert_int_equal(apply_op(&out, prev, op, 77, max), want);
	assert_null(out.devices);
	assert_int_equal(out.count, 0);
}

static void test_value_apply_op(void **state)
{
	static const char *const am[] = {"a", "m"};
	static const char *const abm[] = {"a", "b", "m"};
	static const char *const a[] = {"a"};
	kt_account_value prev, out, out2, bad;
	kt_update_op op;
	const kt_device *f;

	(void)state;
	value_of(&prev, am, 2);

	/* add and enrol: inserted in order, added_at from the caller. */
	op_named(&op, KT_OP_ADD_DEVICE, "b", NULL);
	assert_int_equal(apply_op(&out, &prev, &op, 77, 3), KT_OK);
	expect_ids(&out, abm, 3);
	assert_int_equal(out.devices[1].added_at_ms, 77);
	assert_int_equal(out.devices[0].added_at_ms, 1000);
	expect_ids(&prev, am, 2); /* prev only read */
	kt_account_value_free(&out);
	op.op = KT_OP_ENROL;
	assert_int_equal(apply_op(&out, &prev, &op, 78, 3), KT_OK);
	expect_ids(&out, abm, 3);
	assert_int_equal(out.devices[1].added_at_ms, 78);
	kt_account_value_free(&out);
	apply_fails(&prev, &op, 2, KT_ERR_TOO_LARGE);         /* the cap */
	apply_fails(&prev, &op, 0, KT_ERR_TOO_LARGE);
	op_named(&op, KT_OP_ADD_DEVICE, "m", NULL);
	apply_fails(&prev, &op, 8, KT_ERR_DEVICE_EXISTS);
	op.device.kind = 0;
	apply_fails(&prev, &op, 8, KT_ERR_BAD_TYPE);

	/* remove, down to the empty value. */
	op_named(&op, KT_OP_REMOVE_DEVICE, "m", NULL);
	assert_int_equal(apply_op(&out, &prev, &op, 77, 8), KT_OK);
	expect_ids(&out, a, 1);
	op_named(&op, KT_OP_REMOVE_DEVICE, "a", NULL);
	assert_int_equal(apply_op(&out2, &out, &op, 77, 8), KT_OK);
	assert_int_equal(out2.count, 0);
	assert_null(out2.devices);
	apply_fails(&out2, &op, 8, KT_ERR_NOT_FOUND);
	kt_account_value_free(&out);
	op_named(&op, KT_OP_REMOVE_DEVICE, "ab", NULL);
	apply_fails(&prev, &op, 8, KT_ERR_NOT_FOUND);
	op.device_id_len = 0;
	apply_fails(&prev, &op, 8, KT_ERR_BAD_LENGTH);

	/* set_push, and the no-op. */
	op_named(&op, KT_OP_SET_PUSH, "m", "fcm:1");
	assert_int_equal(apply_op(&out, &prev, &op, 77, 8), KT_OK);
	f = kt_account_value_find(&out, (const uint8_t *)"m", 1);
	assert_non_null(f);
	assert_int_equal(f->push_len, 5);
	assert_memory_equal(f->push, "fcm:1", 5);
	assert_int_equal(kt_account_value_find(&prev, (const uint8_t *)"m", 1)->push_len, 0);
	apply_fails(&out, &op, 8, KT_ERR_NOOP_CHANGE);        /* same address */
	op.push[4] = '2';                                     /* same length */
	assert_int_equal(apply_op(&out2, &out, &op, 77, 8), KT_OK);
	kt_account_value_free(&out2);
	op_named(&op, KT_OP_SET_PUSH, "m", NULL);             /* back to empty */
	assert_int_equal(apply_op(&out2, &out, &op, 77, 8), KT_OK);
	apply_fails(&out2, &op, 8, KT_ERR_NOOP_CHANGE);       /* empty to empty */
	kt_account_value_free(&out2);
	kt_account_value_free(&out);
	op_named(&op, KT_OP_SET_PUSH, "z", "fcm:1");
	apply_fails(&prev, &op, 8, KT_ERR_NOT_FOUND);
	op.push_len = KT_PUSH_ADDRESS_MAX + 1;
	apply_fails(&prev, &op, 8, KT_ERR_TOO_LARGE);

	/* Bad arguments: unknown op, out aliasing prev, non-canonical prev. */
	op.op = 0;
	apply_fails(&prev, &op, 8, KT_ERR_BAD_TYPE);
	op_named(&op, KT_OP_REMOVE_DEVICE, "m", NULL);
	assert_int_equal(apply_op(&prev, &prev, &op, 77, 8), KT_ERR_INVALID_ARG);
	expect_ids(&prev, am, 2);
	assert_int_equal(kt_account_value_copy(&bad, &prev), KT_OK);
	bad.devices[0] = prev.devices[1];
	bad.devices[1] = prev.devices[0];
	apply_fails(&bad, &op, 8, KT_ERR_NONCANONICAL);
	kt_account_value_free(&bad);
	kt_account_value_free(&prev);
}

static void test_check_transition(void **state)
{
	static const char *const am[] = {"a", "m"};
	kt_account_value prev, next, bad, empty;
	kt_update_op op, other;
	kt_provenance pv;
	kt_device d;
	const uint64_t t = 1767229200000ULL;

	(void)state;
	value_of(&prev, am, 2);
	kt_account_value_init(&empty);

	/* add "b", signed by device "a": the honest transition. */
	op_named(&op, KT_OP_ADD_DEVICE, "b", NULL);
	prov_with(&pv, KT_PROV_DEVICE, &op);
	assert_int_equal(apply_op(&next, &prev, &op, t, 8), KT_OK);
	assert_int_equal(kt_provenance_check_transition(&prev, &next, &pv, t), KT_OK);
	/* Another added_at than the entry's timestamp. */
	assert_int_equal(kt_provenance_check_transition(&prev, &next, &pv, t + 1),
			 KT_ERR_VALUE_MISMATCH);
	/* The signed device, and also "x". */
	assert_int_equal(kt_account_value_copy(&bad, &next), KT_OK);
	named(&d, "x");
	d.added_at_ms = t;
	assert_int_equal(kt_account_value_add(&bad, &d, 8), KT_OK);
	assert_int_equal(kt_provenance_check_transition(&prev, &bad, &pv, t),
			 KT_ERR_VALUE_MISMATCH);
	kt_account_value_free(&bad);
	/* The signed device with another encryption key; with another push. */
	assert_int_equal(kt_account_value_copy(&bad, &next), KT_OK);
	bad.devices[1].enc_pk.pk[0] ^= 1;
	assert_int_equal(kt_provenance_check_transition(&prev, &bad, &pv, t),
			 KT_ERR_VALUE_MISMATCH);
	bad.devices[1].enc_pk.pk[0] ^= 1;
	assert_int_equal(kt_provenance_check_transition(&prev, &bad, &pv, t), KT_OK);
	bad.devices[1].push_len = 1;
	assert_int_equal(kt_provenance_check_transition(&prev, &bad, &pv, t),
			 KT_ERR_VALUE_MISMATCH);
	kt_account_value_free(&bad);
	/* Nothing changed, or an existing device changed instead. */
	assert_int_equal(kt_provenance_check_transition(&prev, &prev, &pv, t),
			 KT_ERR_VALUE_MISMATCH);
	/* The op does not apply to prev: "b" already there. */
	assert_int_equal(kt_provenance_check_transition(&next, &next, &pv, t),
			 KT_ERR_DEVICE_EXISTS);
	/* The same add attributed to the registrar: not its op. */
	pv.type = KT_PROV_REGISTRAR;
	assert_int_equal(kt_provenance_check_transition(&prev, &next, &pv, t),
			 KT_ERR_PROVENANCE_OP);
	/* ... and by the operator: allowed, but the value records who added
	 * the device, so the device-added value does not match ... */
	pv.type = KT_PROV_OPERATOR;
	assert_int_equal(kt_provenance_check_transition(&prev, &next, &pv, t),
			 KT_ERR_VALUE_MISMATCH);
	/* ... nor one that names another authorising device ... */
	pv.type = KT_PROV_DEVICE;
	pv.device_id[0] = 'm';
	assert_int_equal(kt_provenance_check_transition(&prev, &next, &pv, t),
			 KT_ERR_VALUE_MISMATCH);
	pv.device_id[0] = 'a';
	assert_int_equal(kt_provenance_check_transition(&prev, &next, &pv, t), KT_OK);
	/* ... while the operator-added value does. */
	pv.type = KT_PROV_OPERATOR;
	assert_int_equal(kt_value_apply_op(&bad, &prev, &pv, t, 8), KT_OK);
	assert_int_equal(bad.devices[1].added_by_type, KT_PROV_OPERATOR);
	assert_int_equal(bad.devices[1].added_by_id_len, 0);
	assert_int_equal(kt_provenance_check_transition(&prev, &bad, &pv, t), KT_OK);
	kt_account_value_free(&bad);
	/* An enrolment authorised by a device: refused. */
	pv.type = KT_PROV_DEVICE;
	pv.op.op = KT_OP_ENROL;
	assert_int_equal(kt_provenance_check_transition(&prev, &next, &pv, t),
			 KT_ERR_PROVENANCE_OP);
	/* ... by the registrar: the device keys are the same, but it was not
	 * added by the device "a". */
	pv.type = KT_PROV_REGISTRAR;
	assert_int_equal(kt_provenance_check_transition(&prev, &next, &pv, t),
			 KT_ERR_VALUE_MISMATCH);
	kt_account_value_free(&next);

	/* First enrolment from the empty value, its entry at the token's
	 * expiry at the latest. */
	op_named(&op, KT_OP_ENROL, "a", NULL);
	prov_with(&pv, KT_PROV_REGISTRAR, &op);
	pv.expiry_ms = t;
	assert_int_equal(apply_op(&next, &empty, &op, t, 8), KT_OK);
	assert_int_equal(kt_provenance_check_transition(&empty, &next, &pv, t), KT_OK);
	/* ... an entry 1 ms after the expiry: a token the log should have
	 * refused (the value itself is right) */
	pv.expiry_ms = t - 1;
	assert_int_equal(kt_provenance_check_transition(&empty, &next, &pv, t),
			 KT_ERR_TOKEN_EXPIRED);
	pv.expiry_ms = t;
	assert_int_equal(kt_provenance_check_transition(&empty, &empty, &pv, t),
			 KT_ERR_VALUE_MISMATCH);
	kt_account_value_free(&next);

	/* set_push: the signed address, not another one, and not a no-op. */
	op_named(&op, KT_OP_SET_PUSH, "a", "fcm:good");
	op_named(&other, KT_OP_SET_PUSH, "a", "fcm:evil");
	prov_with(&pv, KT_PROV_DEVICE, &op);
	assert_int_equal(apply_op(&next, &prev, &op, t, 8), KT_OK);
	assert_int_equal(kt_provenance_check_transition(&prev, &next, &pv, t), KT_OK);
	assert_int_equal(kt_provenance_check_transition(&prev, &next, &pv, 0), KT_OK);
	assert_int_equal(apply_op(&bad, &prev, &other, t, 8), KT_OK);
	assert_int_equal(kt_provenance_check_transition(&prev, &bad, &pv, t),
			 KT_ERR_VALUE_MISMATCH);
	kt_account_value_free(&bad);
	assert_int_equal(kt_provenance_check_transition(&next, &next, &pv, t),
			 KT_ERR_NOOP_CHANGE);
	kt_account_value_free(&next);

	/* remove: the device must be gone, and only it. */
	op_named(&op, KT_OP_REMOVE_DEVICE, "m", NULL);
	op_named(&other, KT_OP_REMOVE_DEVICE, "a", NULL);
	prov_with(&pv, KT_PROV_OPERATOR, &op);
	assert_int_equal(apply_op(&next, &prev, &op, t, 8), KT_OK);
	assert_int_equal(kt_provenance_check_transition(&prev, &next, &pv, t), KT_OK);
	assert_int_equal(kt_provenance_check_transition(&prev, &prev, &pv, t),
			 KT_ERR_VALUE_MISMATCH);
	assert_int_equal(apply_op(&bad, &prev, &other, t, 8), KT_OK);
	assert_int_equal(kt_provenance_check_transition(&prev, &bad, &pv, t),
			 KT_ERR_VALUE_MISMATCH);
	kt_account_value_free(&bad);
	assert_int_equal(kt_provenance_check_transition(&prev, &empty, &pv, t),
			 KT_ERR_VALUE_MISMATCH);
	assert_int_equal(kt_provenance_check_transition(&next, &next, &pv, t),
			 KT_ERR_NOT_FOUND);
	/* A malformed provenance or next value. */
	pv.reason_len = 0;
	assert_int_equal(kt_provenance_check_transition(&prev, &next, &pv, t),
			 KT_ERR_BAD_LENGTH);
	pv.reason_len = 1;
	assert_int_equal(kt_account_value_copy(&bad, &prev), KT_OK);
	bad.devices[0] = prev.devices[1];
	bad.devices[1] = prev.devices[1];
	op_named(&op, KT_OP_ADD_DEVICE, "b", NULL);
	prov_with(&pv, KT_PROV_OPERATOR, &op);
	assert_int_equal(kt_provenance_check_transition(&prev, &bad, &pv, t),
			 KT_ERR_NONCANONICAL);
	kt_account_value_free(&bad);
	kt_account_value_free(&next);
	kt_account_value_free(&prev);
}

/* A real Ed25519 key pair from a 32-byte seed of one repeated byte. */
static void seeded_key(uint8_t seed_byte, uint8_t sk[KT_ED25519_SK_BYTES],
		       kt_sign_key *pk)
{
	uint8_t seed[32];

	memset(seed, seed_byte, sizeof(seed));
	pk->type = KT_SIGN_KEY_ED25519;
	assert_int_equal(crypto_sign_seed_keypair(pk->pk, sk, seed), 0);
}

static void sign_update(kt_provenance *pv, const uint8_t *sk, const uint8_t *acct,
			size_t alen, uint64_t ev)
{
	kt_wbuf w;

	kt_wbuf_init(&w, KT_UPDATE_MESSAGE_MAX_BYTES);
	assert_int_equal(kt_update_message(&w, acct, alen, &pv->op, ev), KT_OK);
	assert_int_equal(kt_sig_sign(&pv->sig, sk, w.data, w.len), KT_OK);
	kt_wbuf_free(&w);
}

static void sign_token(kt_signature *sig, const uint8_t *sk, const uint8_t *acct,
		       size_t alen, const kt_device *spec, uint64_t exp)
{
	kt_wbuf w;

	kt_wbuf_init(&w, KT_REGISTRAR_TOKEN_MESSAGE_MAX_BYTES);
	assert_int_equal(kt_registrar_token_message(&w, acct, alen, spec, exp), KT_OK);
	assert_int_equal(kt_sig_sign(sig, sk, w.data, w.len), KT_OK);
	kt_wbuf_free(&w);
}

/* Device provenance: signed by "a" of prev = {a, m} at expected_version 4. */
static void verify_sig_device_cases(const uint8_t *acct, size_t alen)
{
	static const char *const am[] = {"a", "m"};
	uint8_t a_sk[KT_ED25519_SK_BYTES], m_sk[KT_ED25519_SK_BYTES];
	kt_sign_key a_pk, m_pk;
	kt_account_value prev;
	kt_provenance pv, bad;
	kt_update_op op;
	const uint64_t ev = 4;

	seeded_key(0x0a, a_sk, &a_pk);
	seeded_key(0x0b, m_sk, &m_pk);
	value_of(&prev, am, 2);
	prev.devices[0].sign_pk = a_pk;
	prev.devices[1].sign_pk = m_pk;
	op_named(&op, KT_OP_ADD_DEVICE, "b", NULL);
	prov_with(&pv, KT_PROV_DEVICE, &op);
	sign_update(&pv, a_sk, acct, alen, ev);
	assert_int_equal(kt_provenance_verify_signature(&prev, &pv, acct, alen, ev), KT_OK);

	/* Attributed to another device of prev ("m" did not sign it). */
	bad = pv;
	bad.device_id[0] = 'm';
	assert_int_equal(kt_provenance_verify_signature(&prev, &bad, acct, alen, ev),
			 KT_ERR_BAD_SIGNATURE);
	/* Signed by "m" but attributed to "a". */
	bad = pv;
	sign_update(&bad, m_sk, acct, alen, ev);
	assert_int_equal(kt_provenance_verify_signature(&prev, &bad, acct, alen, ev),
			 KT_ERR_BAD_SIGNATURE);
	/* A device that is not in prev: "b" (the one being added), "z". */
	bad = pv;
	bad.device_id[0] = 'b';
	assert_int_equal(kt_provenance_verify_signature(&prev, &bad, acct, alen, ev),
			 KT_ERR_UNAUTHORISED);
	bad.device_id[0] = 'z';
	sign_update(&bad, a_sk, acct, alen, ev);
	assert_int_equal(kt_provenance_verify_signature(&prev, &bad, acct, alen, ev),
			 KT_ERR_UNAUTHORISED);
	/* The key "a" has in prev is what counts: another key there fails. */
	prev.devices[0].sign_pk = m_pk;
	assert_int_equal(kt_provenance_verify_signature(&prev, &pv, acct, alen, ev),
			 KT_ERR_BAD_SIGNATURE);
	prev.devices[0].sign_pk = a_pk;
	/* The op swapped: another device added, another enc key, a remove. */
	bad = pv;
	bad.op.device.id[0] = 'c';
	assert_int_equal(kt_provenance_verify_signature(&prev, &bad, acct, alen, ev),
			 KT_ERR_BAD_SIGNATURE);
	bad = pv;
	bad.op.device.enc_pk.pk[0] ^= 1;
	assert_int_equal(kt_provenance_verify_signature(&prev, &bad, acct, alen, ev),
			 KT_ERR_BAD_SIGNATURE);
	op_named(&bad.op, KT_OP_REMOVE_DEVICE, "m", NULL);
	assert_int_equal(kt_provenance_verify_signature(&prev, &bad, acct, alen, ev),
			 KT_ERR_BAD_SIGNATURE);
	/* expected_version off by one either way; another account. */
	assert_int_equal(kt_provenance_verify_signature(&prev, &pv, acct, alen, ev + 1),
			 KT_ERR_BAD_SIGNATURE);
	assert_int_equal(kt_provenance_verify_signature(&prev, &pv, acct, alen, ev - 1),
			 KT_ERR_BAD_SIGNATURE);
	assert_int_equal(kt_provenance_verify_signature(&prev, &pv, acct, alen - 1, ev),
			 KT_ERR_BAD_SIGNATURE);
	/* Malformed inputs: no previous value, a bad account, a bad struct,
	 * an enrolment claimed by a device. */
	assert_int_equal(kt_provenance_verify_signature(NULL, &pv, acct, alen, ev),
			 KT_ERR_INVALID_ARG);
	assert_int_equal(kt_provenance_verify_signature(&prev, &pv, acct, 0, ev),
			 KT_ERR_BAD_LENGTH);
	bad = pv;
	bad.device_id_len = 0;
	assert_int_equal(kt_provenance_verify_signature(&prev, &bad, acct, alen, ev),
			 KT_ERR_BAD_LENGTH);
	bad = pv;
	bad.op.op = KT_OP_ENROL;
	assert_int_equal(kt_provenance_verify_signature(&prev, &bad, acct, alen, ev),
			 KT_ERR_PROVENANCE_OP);
	kt_account_value_free(&prev);
}

/* Registrar provenance enrolling spec "e"; operator provenance. */
static void verify_sig_registrar_cases(const uint8_t *acct, size_t alen)
{
	uint8_t r_sk[KT_ED25519_SK_BYTES], o_sk[KT_ED25519_SK_BYTES];
	kt_sign_key r_pk, o_pk;
	kt_account_value empty;
	kt_provenance pv, bad;
	kt_update_op op;
	kt_device other;
	const uint64_t exp = 1767312000000ULL;

	seeded_key(0x0c, r_sk, &r_pk);
	seeded_key(0x0d, o_sk, &o_pk);
	kt_account_value_init(&empty);
	op_named(&op, KT_OP_ENROL, "e", NULL);
	prov_with(&pv, KT_PROV_REGISTRAR, &op);
	pv.op.device.sign_pk = o_pk;
	memcpy(pv.op.device.push, "apns:e", 6);
	pv.op.device.push_len = 6;
	pv.registrar_pk = r_pk;
	pv.expiry_ms = exp;
	sign_token(&pv.sig, r_sk, acct, alen, &pv.op.device, exp);
	assert_int_equal(kt_provenance_verify_signature(&empty, &pv, acct, alen, 0), KT_OK);
	/* The token binds no version and needs no previous value. */
	assert_int_equal(kt_provenance_verify_signature(NULL, &pv, acct, alen, 7), KT_OK);
	/* The directory swaps its own encryption key into the enrolled spec. */
	bad = pv;
	bad.op.device.enc_pk.pk[0] ^= 1;
	assert_int_equal(kt_provenance_verify_signature(&empty, &bad, acct, alen, 0),
			 KT_ERR_BAD_SIGNATURE);
	/* A registrar signature over another spec (other push) carried with
	 * this spec. */
	other = pv.op.device;
	other.push[0] = 'f';
	bad = pv;
	sign_token(&bad.sig, r_sk, acct, alen, &other, exp);
	assert_int_equal(kt_provenance_verify_signature(&empty, &bad, acct, alen, 0),
			 KT_ERR_BAD_SIGNATURE);
	bad.op.device = other; /* ... and with that spec it verifies */
	assert_int_equal(kt_provenance_verify_signature(&empty, &bad, acct, alen, 0),
			 KT_OK);
	/* Another expiry, another registrar key, another account. */
	bad = pv;
	bad.expiry_ms = exp + 1;
	assert_int_equal(kt_provenance_verify_signature(&empty, &bad, acct, alen, 0),
			 KT_ERR_BAD_SIGNATURE);
	bad = pv;
	bad.registrar_pk = o_pk;
	assert_int_equal(kt_provenance_verify_signature(&empty, &bad, acct, alen, 0),
			 KT_ERR_BAD_SIGNATURE);
	assert_int_equal(kt_provenance_verify_signature(&empty, &pv, acct, alen - 1, 0),
			 KT_ERR_BAD_SIGNATURE);
	/* A registrar provenance may carry nothing but an enrolment. */
	bad = pv;
	bad.op.op = KT_OP_ADD_DEVICE;
	assert_int_equal(kt_provenance_verify_signature(&empty, &bad, acct, alen, 0),
			 KT_ERR_PROVENANCE_OP);
	/* Operator: nothing to verify (the caller reports it). */
	op_named(&op, KT_OP_REMOVE_DEVICE, "e", NULL);
	prov_with(&bad, KT_PROV_OPERATOR, &op);
	assert_int_equal(kt_provenance_verify_signature(NULL, &bad, acct, alen, 3), KT_OK);
	bad.reason_len = 0;
	assert_int_equal(kt_provenance_verify_signature(NULL, &bad, acct, alen, 3),
			 KT_ERR_BAD_LENGTH);
}

static void test_provenance_verify_signature(void **state)
{
	const uint8_t *acct = (const uint8_t *)"tel:+15550001111";

	(void)state;
	verify_sig_device_cases(acct, 16);
	verify_sig_registrar_cases(acct, 16);
}

/* next with the device pv added recorded as added by someone else fails
 * the transition check; next is restored. */
static void relabelled_twin(const kt_account_value *prev, kt_account_value *next,
			    const kt_provenance *pv, uint64_t ts)
{
	kt_device *d = (kt_device *)(uintptr_t)kt_account_value_find(
		next, pv->op.device.id, pv->op.device.id_len);
	kt_device keep;

	assert_non_null(d);
	keep = *d;
	assert_int_equal(d->added_by_type, pv->type);
	d->added_by_type = d->added_by_type == KT_PROV_OPERATOR ? KT_PROV_REGISTRAR
								 : KT_PROV_OPERATOR;
	d->added_by_id_len = 0;
	assert_int_equal(kt_provenance_check_transition(prev, next, pv, ts),
			 KT_ERR_VALUE_MISMATCH);
	d->added_by_type = KT_PROV_DEVICE;
	d->added_by_id[0] = 'x';
	d->added_by_id_len = 1;
	assert_int_equal(kt_provenance_check_transition(prev, next, pv, ts),
			 KT_ERR_VALUE_MISMATCH);
	*d = keep;
	assert_int_equal(kt_provenance_check_transition(prev, next, pv, ts), KT_OK);
}

/* The story of the vectors: every version is the previous one with its
 * provenance's op applied at its entry's timestamp, and its provenance's
 * signature verifies against the previous version. */
static void test_vector_transitions(void **state)
{
	kt_json *j = load_vectors();
	const kt_json *vers = get(get(j, "history_chain"), "versions");
	kt_account_value prev, next, want;
	kt_provenance pv;
	kt_wbuf w;
	uint8_t *enc;
	uint8_t acct[KT_ACCOUNT_MAX];
	size_t i, len, alen;
	uint64_t ts;

	(void)state;
	alen = hex_var(get(j, "commitment"), "account", acct, sizeof(acct));
	kt_account_value_init(&prev);
	assert_int_equal(u64(get(get(j, "log_entries"), "update"), "timestamp_ms"),
			 u64(kt_json_at(vers, 1), "timestamp_ms"));
	for (i = 0; i < kt_json_len(vers); i++) {
		const kt_json *o = kt_json_at(vers, i);

		ts = u64(o, "timestamp_ms");
		enc = vec(o, "value", &len);
		assert_int_equal(kt_account_value_decode(&next, enc, len), KT_OK);
		free(enc);
		enc = vec(o, "provenance", &len);
		assert_int_equal(kt_provenance_decode(&pv, enc, len), KT_OK);
		free(enc);
		assert_int_equal(kt_provenance_check_transition(&prev, &next, &pv, ts),
				 KT_OK);
		assert_int_equal(kt_provenance_verify_signature(&prev, &pv, acct, alen,
								(uint64_t)i), KT_OK);
		/* Twin: the device signature is bound to version v-1 (the token
		 * binds none; the operator has no signature). */
		assert_int_equal(kt_provenance_verify_signature(&prev, &pv, acct, alen,
								(uint64_t)i + 1),
				 pv.type == KT_PROV_DEVICE ? KT_ERR_BAD_SIGNATURE : KT_OK);
		assert_int_equal(kt_value_apply_op(&want, &prev, &pv, ts,
						   KT_DEFAULT_MAX_DEVICES), KT_OK);
		expect_wbuf(&w, encode_value(&w, &want), o, "value");
		kt_account_value_free(&want);
		/* Twin: the added device committed with another added_by. */
		if (pv.op.op != KT_OP_REMOVE_DEVICE)
			relabelled_twin(&prev, &next, &pv, ts);
		/* Twins: another timestamp (adds only), skipping a version. */
		assert_int_equal(kt_provenance_check_transition(&prev, &next, &pv, ts + 1),
				 pv.op.op == KT_OP_REMOVE_DEVICE ? KT_OK :
				 KT_ERR_VALUE_MISMATCH);
		assert_int_not_equal(kt_provenance_check_transition(&next, &next, &pv, ts),
				     KT_OK);
		kt_account_value_free(&prev);
		prev = next;
	}
	assert_int_equal(prev.count, 1);
	kt_account_value_free(&prev);
	kt_json_free(j);
}

/* The escrow story in values: a device the operator adds keeps "added by
 * operator" through every later change, and a directory that relabels it
 * fails the monitor's transition check. */
static void test_added_by_survives(void **state)
{
	static const char *const a[] = {"a"};
	kt_account_value v0, v1, v2, bad;
	kt_update_op op;
	kt_provenance pv, pv2;
	const kt_device *e;
	const uint64_t t1 = 1767229200000ULL, t2 = t1 + 60000;

	(void)state;
	value_of(&v0, a, 1);
	/* the operator adds the escrow device "e" */
	op_named(&op, KT_OP_ADD_DEVICE, "e", NULL);
	op.device.kind = KT_DEVICE_ESCROW;
	op.device.added_by_type = KT_PROV_DEVICE; /* a spec's added_by: ignored */
	op.device.added_by_id_len = 1;
	prov_with(&pv, KT_PROV_OPERATOR, &op);
	assert_int_equal(kt_value_apply_op(&v1, &v0, &pv, t1, 8), KT_OK);
	e = kt_account_value_find(&v1, (const uint8_t *)"e", 1);
	assert_non_null(e);
	assert_int_equal(e->added_by_type, KT_PROV_OPERATOR);
	assert_int_equal(e->added_by_id_len, 0);
	assert_int_equal(e->added_at_ms, t1);
	assert_int_equal(kt_provenance_check_transition(&v0, &v1, &pv, t1), KT_OK);
	/* the owner's device "a" later sets its own push address */
	op_named(&op, KT_OP_SET_PUSH, "a", "apns:new");
	prov_with(&pv2, KT_PROV_DEVICE, &op);
	assert_int_equal(kt_value_apply_op(&v2, &v1, &pv2, t2, 8), KT_OK);
	e = kt_account_value_find(&v2, (const uint8_t *)"e", 1);
	assert_non_null(e);
	assert_int_equal(e->added_by_type, KT_PROV_OPERATOR); /* still */
	assert_int_equal(e->added_at_ms, t1);
	assert_int_equal(kt_provenance_check_transition(&v1, &v2, &pv2, t2), KT_OK);
	/* twins: "e" relabelled as added by the device "a", or re-dated */
	assert_int_equal(kt_account_value_copy(&bad, &v2), KT_OK);
	bad.devices[1].added_by_type = KT_PROV_DEVICE;
	bad.devices[1].added_by_id[0] = 'a';
	bad.devices[1].added_by_id_len = 1;
	assert_int_equal(kt_provenance_check_transition(&v1, &bad, &pv2, t2),
			 KT_ERR_VALUE_MISMATCH);
	bad.devices[1] = v2.devices[1];
	bad.devices[1].added_by_type = KT_PROV_REGISTRAR;
	assert_int_equal(kt_provenance_check_transition(&v1, &bad, &pv2, t2),
			 KT_ERR_VALUE_MISMATCH);
	bad.devices[1] = v2.devices[1];
	bad.devices[1].added_at_ms = t2;
	assert_int_equal(kt_provenance_check_transition(&v1, &bad, &pv2, t2),
			 KT_ERR_VALUE_MISMATCH);
	bad.devices[1] = v2.devices[1];
	assert_int_equal(kt_provenance_check_transition(&v1, &bad, &pv2, t2), KT_OK);
	kt_account_value_free(&bad);

	/* what kt_value_apply_op reads of the provenance */
	pv2.type = 0;
	assert_int_equal(kt_value_apply_op(&bad, &v1, &pv2, t2, 8), KT_ERR_BAD_TYPE);
	pv2.type = KT_PROV_OPERATOR + 1;
	assert_int_equal(kt_value_apply_op(&bad, &v1, &pv2, t2, 8), KT_ERR_BAD_TYPE);
	pv2.type = KT_PROV_REGISTRAR;
	assert_int_equal(kt_value_apply_op(&bad, &v1, &pv2, t2, 8),
			 KT_ERR_PROVENANCE_OP);
	pv2.type = KT_PROV_DEVICE;
	pv2.device_id_len = 0;
	assert_int_equal(kt_value_apply_op(&bad, &v1, &pv2, t2, 8), KT_ERR_BAD_LENGTH);
	pv2.device_id_len = KT_DEVICE_ID_MAX + 1;
	assert_int_equal(kt_value_apply_op(&bad, &v1, &pv2, t2, 8), KT_ERR_TOO_LARGE);
	assert_null(bad.devices);
	pv2.device_id_len = 1;
	pv.op.op = KT_OP_ENROL; /* the operator may not enrol */
	assert_int_equal(kt_value_apply_op(&bad, &v0, &pv, t1, 8), KT_ERR_PROVENANCE_OP);
	/* the device that authorised an add is recorded by id */
	pv.type = KT_PROV_REGISTRAR;
	assert_int_equal(kt_value_apply_op(&bad, &v0, &pv, t1, 8), KT_OK);
	e = kt_account_value_find(&bad, (const uint8_t *)"e", 1);
	assert_int_equal(e->added_by_type, KT_PROV_REGISTRAR);
	kt_account_value_free(&bad);
	pv.type = KT_PROV_DEVICE;
	pv.op.op = KT_OP_ADD_DEVICE;
	memcpy(pv.device_id, "phone-2", 7);
	pv.device_id_len = 7;
	assert_int_equal(kt_value_apply_op(&bad, &v0, &pv, t1, 8), KT_OK);
	e = kt_account_value_find(&bad, (const uint8_t *)"e", 1);
	assert_int_equal(e->added_by_type, KT_PROV_DEVICE);
	assert_int_equal(e->added_by_id_len, 7);
	assert_memory_equal(e->added_by_id, "phone-2", 7);
	kt_account_value_free(&bad);
	kt_account_value_free(&v2);
	kt_account_value_free(&v1);
	kt_account_value_free(&v0);
}

static void test_id_order(void **state)
{
	(void)state;
	assert_true(kt_device_id_cmp((const uint8_t *)"a", 1, (const uint8_t *)"ab", 2) < 0);
	assert_true(kt_device_id_cmp((const uint8_t *)"ab", 2, (const uint8_t *)"a", 1) > 0);
	assert_true(kt_device_id_cmp((const uint8_t *)"ab", 2, (const uint8_t *)"b", 1) < 0);
	assert_true(kt_device_id_cmp((const uint8_t *)"\x7f", 1,
				     (const uint8_t *)"\x80", 1) < 0); /* unsigned */
	assert_int_equal(kt_device_id_cmp((const uint8_t *)"ab", 2,
					  (const uint8_t *)"ab", 2), 0);
	assert_int_equal(kt_device_id_cmp(NULL, 0, NULL, 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vector_keys),
		cmocka_unit_test(test_vector_device_and_value),
		cmocka_unit_test(test_vector_provenance),
		cmocka_unit_test(test_vector_update_messages),
		cmocka_unit_test(test_vector_registrar_and_history_request),
		cmocka_unit_test(test_vector_commitment),
		cmocka_unit_test(test_vector_leaf_and_history),
		cmocka_unit_test(test_vector_log_entries),
		cmocka_unit_test(test_vector_transitions),
		cmocka_unit_test(test_decoder_twins_device_value),
		cmocka_unit_test(test_decoder_twins_provenance_op),
		cmocka_unit_test(test_decoder_twins_fixed),
		cmocka_unit_test(test_utf8_and_account),
		cmocka_unit_test(test_sign_key_validation),
		cmocka_unit_test(test_enc_key_validation),
		cmocka_unit_test(test_enc_key_list_matches_scalarmult),
		cmocka_unit_test(test_device_validate_recipient),
		cmocka_unit_test(test_device_validate_and_sig),
		cmocka_unit_test(test_verify_committed),
		cmocka_unit_test(test_encoder_rejects),
		cmocka_unit_test(test_value_caps),
		cmocka_unit_test(test_value_editing),
		cmocka_unit_test(test_value_apply_op),
		cmocka_unit_test(test_check_transition),
		cmocka_unit_test(test_added_by_survives),
		cmocka_unit_test(test_provenance_verify_signature),
		cmocka_unit_test(test_id_order),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
