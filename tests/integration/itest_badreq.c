/*
 * itest_badreq.c — the catalogue of bad requests against a real ktd.
 *
 * Every case is sent once; it must be answered with its gRPC status, and
 * the newest checkpoint (GetCheckpoint) must be byte for byte the same
 * before and after: a rejected request changes nothing.  The table is
 * mirrored in docs/OPERATIONS.md ("Request errors").
 *
 * Registrar tokens are single-use (token_cases): an accepted enrolment's
 * token is refused when replayed as is, at the account's current version,
 * and after the device it enrolled was removed (the recovery path); a new
 * token for the same device is accepted (the twin); the same token twice
 * in flight at once gives exactly one acceptance.
 */
#include "itest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "keytrail/v1/admin.pb-c.h"
#include "keytrail/v1/directory.pb-c.h"
#include "kt_checkpoint.h"
#include "kt_cosig.h"

enum {
	ST_OK = 0,
	ST_INVALID_ARGUMENT = 3,
	ST_NOT_FOUND = 5,
	ST_ALREADY_EXISTS = 6,
	ST_PERMISSION_DENIED = 7,
	ST_RESOURCE_EXHAUSTED = 8,
	ST_FAILED_PRECONDITION = 9,
	ST_OUT_OF_RANGE = 11,
	ST_UNAUTHENTICATED = 16
};

#define ACC_A "tel:+15550001"
#define ACC_B "tel:+15550002"
#define ACC_C "tel:+15550003"
#define ACC_D "tel:+15550004"

typedef struct world {
	itest_ktd k;
	itest_trust t;
	itest_device a1, a2, b1;
	uint8_t *replay;              /* an accepted signed request of A */
	size_t replay_len;
	uint8_t *enrol_a;             /* A's accepted enrolment (its token) */
	size_t enrol_a_len;
	itest_device c1, c2;          /* C: c1 enrolled, then removed by c2 */
	uint8_t *enrol_c;             /* C's accepted enrolment of c1 */
	size_t enrol_c_len;
	uint64_t c_version;
	uint64_t a_version;           /* A's current version */
	uint64_t no_cp_size;          /* a tree size without a checkpoint */
	kt_note_signer witness;       /* configured on the node */
	size_t n_cases;
} world;

/* ---- raw encodings (to send what the encoders refuse to write) ---------- */

typedef struct raw_dev {
	const uint8_t *id;
	size_t id_len;
	uint8_t sk_type;
	const uint8_t *sk;
	uint8_t ek_type;
	const uint8_t *ek;
	const uint8_t *push;
	size_t push_len;
	uint8_t kind;
} raw_dev;

static size_t raw_add_op(uint8_t op, const raw_dev *d, uint8_t *out, size_t cap)
{
	kt_wbuf w;
	uint8_t *p = NULL;
	size_t n = 0;

	kt_wbuf_init(&w, 4096);
	kt_put_u8(&w, op);
	kt_put_vec8(&w, d->id, d->id_len);
	kt_put_u8(&w, d->sk_type);
	kt_put_fixed(&w, d->sk, 32);
	kt_put_u8(&w, d->ek_type);
	kt_put_fixed(&w, d->ek, 32);
	kt_put_vec16(&w, d->push, d->push_len);
	kt_put_u8(&w, d->kind);
	CHECK_OK(kt_wbuf_take(&w, &p, &n));
	CHECK(n <= cap);
	memcpy(out, p, n);
	free(p);
	return n;
}

static raw_dev raw_of(const itest_device *dev)
{
	raw_dev r;

	r.id = dev->d.id;
	r.id_len = dev->d.id_len;
	r.sk_type = dev->d.sign_pk.type;
	r.sk = dev->d.sign_pk.pk;
	r.ek_type = dev->d.enc_pk.type;
	r.ek = dev->d.enc_pk.pk;
	r.push = dev->d.push;
	r.push_len = dev->d.push_len;
	r.kind = dev->d.kind;
	return r;
}

/* An UpdateRequest with raw fields (a dummy 65-byte signature). */
static uint8_t *raw_update(const uint8_t *account, size_t account_len,
			   const uint8_t *op, size_t op_len, uint64_t ev,
			   const char *device_id, size_t *len)
{
	Keytrail__V1__UpdateRequest req = KEYTRAIL__V1__UPDATE_REQUEST__INIT;
	uint8_t sig[KT_SIGNATURE_BYTES];
	uint8_t *buf;

	memset(sig, 0x5a, sizeof(sig));
	sig[0] = KT_SIG_ED25519;
	req.account.data = (uint8_t *)(uintptr_t)account;
	req.account.len = account_len;
	req.operation.data = (uint8_t *)(uintptr_t)op;
	req.operation.len = op_len;
	req.expected_version = ev;
	req.device_id.data = (uint8_t *)(uintptr_t)device_id;
	req.device_id.len = strlen(device_id);
	req.signature.data = sig;
	req.signature.len = sizeof(sig);
	*len = keytrail__v1__update_request__get_packed_size(&req);
	buf = malloc(*len);
	CHECK(buf != NULL);
	keytrail__v1__update_request__pack(&req, buf);
	return buf;
}

/* An enrolment with a token over `signed_dev`, signed with sk and naming
 * registrar key rk, that enrols `dev`. */
static uint8_t *enrol_custom(const char *account, const kt_device *dev,
			     const kt_device *signed_dev, uint64_t expiry,
			     const uint8_t rk[32], const uint8_t sk[64],
			     const uint8_t *op_bytes, size_t op_len, size_t *len)
{
	Keytrail__V1__UpdateRequest req = KEYTRAIL__V1__UPDATE_REQUEST__INIT;
	Keytrail__V1__RegistrarToken tok = KEYTRAIL__V1__REGISTRAR_TOKEN__INIT;
	uint8_t opb[KT_UPDATE_OP_MAX_BYTES], rkb[KT_SIGN_KEY_BYTES];
	uint8_t sigb[KT_SIGNATURE_BYTES];
	kt_update_op op;
	kt_signature sig;
	kt_wbuf w;
	uint8_t *msg = NULL, *buf;
	size_t mlen = 0;

	kt_wbuf_init(&w, 4096);
	/* the token message is built with the primitives, so that it can name
	 * a device spec the encoders would refuse */
	kt_put_vec8(&w, (const uint8_t *)KT_DOMAIN_REGISTRAR_TOKEN,
		    strlen(KT_DOMAIN_REGISTRAR_TOKEN));
	kt_put_vec8(&w, (const uint8_t *)account, strlen(account));
	if (op_bytes != NULL)
		kt_put_fixed(&w, op_bytes + 1, op_len - 1);
	else {
		uint8_t tmp[KT_UPDATE_OP_MAX_BYTES];
		size_t n;

		memset(&op, 0, sizeof(op));
		op.op = KT_OP_ENROL;
		op.device = *signed_dev;
		n = itest_op_encode(&op, tmp, sizeof(tmp));
		kt_put_fixed(&w, tmp + 1, n - 1);
	}
	kt_put_u64(&w, expiry);
	CHECK_OK(kt_wbuf_take(&w, &msg, &mlen));
	CHECK_OK(kt_sig_sign(&sig, sk, msg, mlen));
	free(msg);
	rkb[0] = KT_SIGN_KEY_ED25519;
	memcpy(rkb + 1, rk, 32);
	tok.registrar_key.data = rkb;
	tok.registrar_key.len = sizeof(rkb);
	tok.expiry_ms = expiry;
	sigb[0] = sig.type;
	memcpy(sigb + 1, sig.sig, 64);
	tok.signature.data = sigb;
	tok.signature.len = sizeof(sigb);
	req.account.data = (uint8_t *)(uintptr_t)account;
	req.account.len = strlen(account);
	if (op_bytes != NULL) {
		req.operation.data = (uint8_t *)(uintptr_t)op_bytes;
		req.operation.len = op_len;
	} else {
		memset(&op, 0, sizeof(op));
		op.op = KT_OP_ENROL;
		op.device = *dev;
		req.operation.data = opb;
		req.operation.len = itest_op_encode(&op, opb, sizeof(opb));
	}
	req.token = &tok;
	*len = keytrail__v1__update_request__get_packed_size(&req);
	buf = malloc(*len);
	CHECK(buf != NULL);
	keytrail__v1__update_request__pack(&req, buf);
	return buf;
}

/* ---- running one case --------------------------------------------------- */

static uint8_t *newest_cp(world *w, size_t *len)
{
	uint64_t size;

	return itest_get_checkpoint(&w->k, &w->t, len, &size);
}

/* As run_case; detail (if not NULL) must occur in the status details. */
static void run_case_detail(world *w, const char *name, const char *method,
			    const uint8_t *body, size_t len,
			    const char *const *md, int want, const char *detail)
{
	uint8_t *before, *after;
	size_t blen, alen;
	kt_gc_result res;

	before = newest_cp(w, &blen);
	itest_call(&w->k, method, body, len, md, &res);
	if (res.status != want)
		itest_fail(__FILE__, __LINE__, "case '%s': status %d (%s), want %d",
			   name, res.status, res.details, want);
	if (detail != NULL && strstr(res.details, detail) == NULL)
		itest_fail(__FILE__, __LINE__, "case '%s': details '%s', want '%s'",
			   name, res.details, detail);
	CHECK(want == ST_OK || !res.has_body || res.body_len == 0);
	after = newest_cp(w, &alen);
	if (alen != blen || memcmp(before, after, blen) != 0)
		itest_fail(__FILE__, __LINE__, "case '%s' changed the checkpoint",
			   name);
	printf("  %-62s %2d  %s\n", name, res.status, res.details);
	kt_gc_result_clear(&res);
	free(before);
	free(after);
	w->n_cases++;
}

static void run_case(world *w, const char *name, const char *method,
		     const uint8_t *body, size_t len, const char *const *md,
		     int want)
{
	run_case_detail(w, name, method, body, len, md, want, NULL);
}

static void run_pb(world *w, const char *name, const char *method,
		   const ProtobufCMessage *msg, const char *const *md, int want)
{
	size_t len = protobuf_c_message_get_packed_size(msg);
	uint8_t *buf = malloc(len != 0 ? len : 1);

	CHECK(buf != NULL);
	protobuf_c_message_pack(msg, buf);
	run_case(w, name, method, buf, len, md, want);
	free(buf);
}

static void run_owned(world *w, const char *name, uint8_t *body, size_t len,
		      int want)
{
	run_case(w, name, M_UPDATE, body, len, NULL, want);
	free(body);
}

/* ---- setup ---------------------------------------------------------------- */

static void setup(world *w)
{
	kt_update_op op;
	uint8_t *req;
	size_t len, i, round;
	itest_device c;
	kt_gc_async *as = NULL;
	char acc[64];

	itest_device_new(&w->a1, "a-phone", KT_DEVICE_PRIMARY);
	itest_device_new(&w->a2, "a-laptop", KT_DEVICE_COMPANION);
	itest_device_new(&w->b1, "b-phone", KT_DEVICE_PRIMARY);
	w->enrol_a = itest_req_enrol(&w->k, ACC_A, &w->a1, itest_now_ms() + 600000,
				     &w->enrol_a_len);
	itest_update_ok(&w->k, &w->t, w->enrol_a, w->enrol_a_len, NULL, NULL);
	itest_op_add(&op, &w->a2);
	w->replay = itest_req_signed(ACC_A, &op, 1, &w->a1, &w->replay_len);
	itest_update_ok(&w->k, &w->t, w->replay, w->replay_len, &w->a_version, NULL);
	CHECK(w->a_version == 2);
	req = itest_req_enrol(&w->k, ACC_B, &w->b1, itest_now_ms() + 600000, &len);
	itest_update_ok(&w->k, &w->t, req, len, NULL, NULL);
	free(req);
	/* C: c1 enrolled by a token, c2 added by c1, c1 removed by c2 */
	itest_device_new(&w->c1, "c-phone", KT_DEVICE_PRIMARY);
	itest_device_new(&w->c2, "c-laptop", KT_DEVICE_COMPANION);
	w->enrol_c = itest_req_enrol(&w->k, ACC_C, &w->c1, itest_now_ms() + 600000,
				     &w->enrol_c_len);
	itest_update_ok(&w->k, &w->t, w->enrol_c, w->enrol_c_len, NULL, NULL);
	itest_op_add(&op, &w->c2);
	req = itest_req_signed(ACC_C, &op, 1, &w->c1, &len);
	itest_update_ok(&w->k, &w->t, req, len, NULL, NULL);
	free(req);
	itest_op_remove(&op, "c-phone");
	req = itest_req_signed(ACC_C, &op, 2, &w->c2, &len);
	itest_update_ok(&w->k, &w->t, req, len, &w->c_version, NULL);
	free(req);
	CHECK(w->c_version == 3);

	/* Enrolments in flight at once land in one batch (batch_delay is
	 * long): a position inside a batch has no checkpoint.  An update
	 * whose log_index + 1 is below the size of the checkpoint it was
	 * answered with ended inside its batch.  (Retried with new accounts
	 * in the unlikely case that a loaded machine spread them out.) */
	for (round = 0; round < 5 && w->no_cp_size == 0; round++) {
		CHECK_OK(kt_gc_async_new(w->k.gc, &as));
		for (i = 0; i < 3; i++) {
			snprintf(acc, sizeof(acc), "tel:+155501%zu%zu", round, i);
			itest_device_new(&c, "c-phone", KT_DEVICE_PRIMARY);
			req = itest_req_enrol(&w->k, acc, &c, itest_now_ms() + 600000,
					      &len);
			CHECK_OK(kt_gc_async_start(as, M_UPDATE, req, len, NULL,
						   20000, NULL));
			free(req);
		}
		for (i = 0; i < 3; i++) {
			Keytrail__V1__UpdateResponse *resp;
			kt_gc_result res = {0};
			void *tag = NULL;
			uint64_t size = 0;

			CHECK(kt_gc_async_next(as, 20000, &tag, &res) == 1);
			CHECK_STATUS(&res, 0);
			resp = keytrail__v1__update_response__unpack(NULL, res.body_len,
								     res.body);
			CHECK(resp != NULL);
			CHECK_OK(itest_trust_checkpoint(&w->t, resp->checkpoint.data,
							resp->checkpoint.len, &size,
							NULL));
			if (resp->log_index + 1 < size)
				w->no_cp_size = resp->log_index + 1;
			keytrail__v1__update_response__free_unpacked(resp, NULL);
			kt_gc_result_clear(&res);
		}
		kt_gc_async_free(as);
	}
	CHECK(w->no_cp_size != 0);
	CHECK(itest_trust_root(&w->t, w->no_cp_size) == NULL);
}

/* ---- the cases ------------------------------------------------------------ */

static void update_cases(world *w)
{
	uint8_t op[4096], big[600], sk_small[32], ek_small[32];
	char acc_long[257];
	kt_update_op uop;
	itest_device x, y;
	raw_dev rd;
	uint8_t *req;
	size_t n, len;
	uint8_t rnd_pk[32], rnd_sk[64];
	uint64_t now = itest_now_ms();

	itest_device_new(&x, "x-tablet", KT_DEVICE_COMPANION);
	itest_device_new(&y, "y-watch", KT_DEVICE_COMPANION);
	itest_op_add(&uop, &x);
	n = itest_op_encode(&uop, op, sizeof(op));

	memset(acc_long, 'a', 256);
	acc_long[256] = '\0';
	req = raw_update((const uint8_t *)acc_long, 256, op, n, w->a_version,
			 "a-phone", &len);
	run_owned(w, "Update: account of 256 bytes", req, len, ST_INVALID_ARGUMENT);
	req = raw_update((const uint8_t *)"tel:\xc0\xaf", 6, op, n, w->a_version,
			 "a-phone", &len);
	run_owned(w, "Update: account not UTF-8 (overlong)", req, len,
		  ST_INVALID_ARGUMENT);

	rd = raw_of(&x);
	memset(big, 'i', sizeof(big));
	rd.id = big;
	rd.id_len = 65;
	n = raw_add_op(KT_OP_ADD_DEVICE, &rd, op, sizeof(op));
	req = raw_update((const uint8_t *)ACC_A, strlen(ACC_A), op, n, w->a_version,
			 "a-phone", &len);
	run_owned(w, "Update: device id of 65 bytes", req, len, ST_INVALID_ARGUMENT);

	rd = raw_of(&x);
	rd.push = big;
	rd.push_len = 513;
	n = raw_add_op(KT_OP_ADD_DEVICE, &rd, op, sizeof(op));
	req = raw_update((const uint8_t *)ACC_A, strlen(ACC_A), op, n, w->a_version,
			 "a-phone", &len);
	run_owned(w, "Update: push address of 513 bytes", req, len,
		  ST_INVALID_ARGUMENT);

	/* small-order keys, correctly signed by a registrar token */
	memset(sk_small, 0, sizeof(sk_small));
	sk_small[0] = 1;                      /* the identity point */
	y = x;
	memcpy(y.d.sign_pk.pk, sk_small, 32);
	req = enrol_custom("tel:+15550201", &y.d, &y.d, now + 600000,
			   w->k.registrar.pub.pk, w->k.registrar.sk, NULL, 0, &len);
	run_owned(w, "Update: enrol a small-order sign key", req, len,
		  ST_INVALID_ARGUMENT);
	memset(ek_small, 0, sizeof(ek_small));
	ek_small[0] = 1;                      /* u = 1: low order */
	y = x;
	memcpy(y.d.enc_pk.pk, ek_small, 32);
	req = enrol_custom("tel:+15550201", &y.d, &y.d, now + 600000,
			   w->k.registrar.pub.pk, w->k.registrar.sk, NULL, 0, &len);
	run_owned(w, "Update: enrol a small-order enc key", req, len,
		  ST_INVALID_ARGUMENT);
	rd = raw_of(&x);
	rd.sk_type = 0x02;
	n = raw_add_op(KT_OP_ADD_DEVICE, &rd, op, sizeof(op));
	req = raw_update((const uint8_t *)ACC_A, strlen(ACC_A), op, n, w->a_version,
			 "a-phone", &len);
	run_owned(w, "Update: unknown sign key type 0x02", req, len,
		  ST_INVALID_ARGUMENT);
	n = itest_op_encode(&uop, op, sizeof(op));
	op[0] = 0x09;
	req = raw_update((const uint8_t *)ACC_A, strlen(ACC_A), op, n, w->a_version,
			 "a-phone", &len);
	run_owned(w, "Update: unknown operation byte 0x09", req, len,
		  ST_INVALID_ARGUMENT);

	/* signatures */
	req = itest_req_signed(ACC_A, &uop, w->a_version, &w->a1, &len);
	req[len - 3] ^= 0x10;                 /* inside the signature field */
	run_owned(w, "Update: device signature with one bit flipped", req, len,
		  ST_PERMISSION_DENIED);
	req = itest_req_signed(ACC_A, &uop, w->a_version, &w->b1, &len);
	run_owned(w, "Update: signed by a device of another account", req, len,
		  ST_PERMISSION_DENIED);
	run_case(w, "Update: replay of an accepted signed request", M_UPDATE,
		 w->replay, w->replay_len, NULL, ST_FAILED_PRECONDITION);
	req = itest_req_signed(ACC_A, &uop, w->a_version - 1, &w->a1, &len);
	run_owned(w, "Update: stale expected_version (correctly signed)", req, len,
		  ST_FAILED_PRECONDITION);
	req = itest_req_signed(ACC_A, &uop, w->a_version + 1, &w->a1, &len);
	run_owned(w, "Update: future expected_version (correctly signed)", req,
		  len, ST_FAILED_PRECONDITION);
	itest_op_add(&uop, &w->a2);
	req = itest_req_signed(ACC_A, &uop, w->a_version, &w->a1, &len);
	run_owned(w, "Update: add a device id the account already has", req, len,
		  ST_ALREADY_EXISTS);
	itest_op_remove(&uop, "no-such-device");
	req = itest_req_signed(ACC_A, &uop, w->a_version, &w->a1, &len);
	run_owned(w, "Update: remove a device the account does not have", req,
		  len, ST_NOT_FOUND);
	itest_op_add(&uop, &x);
	req = itest_req_signed("tel:+15559999", &uop, 1, &w->a1, &len);
	run_owned(w, "Update: device-signed change of a missing account", req,
		  len, ST_NOT_FOUND);

	/* registrar tokens */
	req = itest_req_enrol(&w->k, "tel:+15550202", &x, now - 1000, &len);
	run_owned(w, "Update: expired registrar token", req, len,
		  ST_PERMISSION_DENIED);
	req = itest_req_enrol(&w->k, "tel:+15550202", &x, now + 31ull * 86400000,
			      &len);
	run_owned(w, "Update: token expiry beyond registrar_token_max_ttl", req,
		  len, ST_PERMISSION_DENIED);
	crypto_sign_keypair(rnd_pk, rnd_sk);
	req = enrol_custom("tel:+15550202", &x.d, &x.d, now + 600000, rnd_pk,
			   rnd_sk, NULL, 0, &len);
	run_owned(w, "Update: token of an unknown registrar key", req, len,
		  ST_PERMISSION_DENIED);
	req = enrol_custom("tel:+15550202", &x.d, &x.d, now + 600000,
			   w->k.registrar.pub.pk, rnd_sk, NULL, 0, &len);
	run_owned(w, "Update: token naming the registrar, signed by another key",
		  req, len, ST_PERMISSION_DENIED);
	req = enrol_custom("tel:+15550202", &x.d, &w->b1.d, now + 600000,
			   w->k.registrar.pub.pk, w->k.registrar.sk, NULL, 0, &len);
	run_owned(w, "Update: token for another device key", req, len,
		  ST_PERMISSION_DENIED);
	req = enrol_custom("tel:+15550203", &x.d, &x.d, now + 600000,
			   w->k.registrar.pub.pk, w->k.registrar.sk, NULL, 0, &len);
	req[len - 1] ^= 0x01;                 /* last byte of the token signature */
	run_owned(w, "Update: token signature with one bit flipped", req, len,
		  ST_PERMISSION_DENIED);

	run_case(w, "Update: garbage bytes instead of protobuf", M_UPDATE,
		 (const uint8_t *)"\xff\xff\xff\xff\x0f garbage", 14, NULL,
		 ST_INVALID_ARGUMENT);
	sodium_memzero(rnd_sk, sizeof(rnd_sk));
}

/* A packed UpdateRequest with expected_version replaced (the token does
 * not sign it: anyone who holds a token can send it at any version). */
static uint8_t *at_version(const uint8_t *req, size_t len, uint64_t ev,
			   size_t *out_len)
{
	Keytrail__V1__UpdateRequest *u;
	uint8_t *buf;

	u = keytrail__v1__update_request__unpack(NULL, len, req);
	CHECK(u != NULL);
	u->expected_version = ev;
	*out_len = keytrail__v1__update_request__get_packed_size(u);
	buf = malloc(*out_len);
	CHECK(buf != NULL);
	keytrail__v1__update_request__pack(u, buf);
	keytrail__v1__update_request__free_unpacked(u, NULL);
	return buf;
}

/* The same enrolment twice in flight at once (normally one batch: the
 * node's batch_delay is 150 ms): exactly one is accepted, the other is
 * refused as a spent token -- by the apply path ("sequenced change") when
 * both passed the handler before either was committed. */
static void token_pair_case(world *w)
{
	const char *name = "Update: the same registrar token twice in flight";
	kt_gc_async *as = NULL;
	itest_device d;
	uint8_t *req;
	size_t len, i;
	int ok = 0, used = 0;

	itest_device_new(&d, "d-phone", KT_DEVICE_PRIMARY);
	req = itest_req_enrol(&w->k, ACC_D, &d, itest_now_ms() + 600000, &len);
	CHECK_OK(kt_gc_async_new(w->k.gc, &as));
	for (i = 0; i < 2; i++)
		CHECK_OK(kt_gc_async_start(as, M_UPDATE, req, len, NULL, 20000,
					   NULL));
	free(req);
	for (i = 0; i < 2; i++) {
		kt_gc_result res = {0};
		void *tag = NULL;

		CHECK(kt_gc_async_next(as, 20000, &tag, &res) == 1);
		if (res.status == ST_OK) {
			ok++;
		} else {
			CHECK_STATUS(&res, ST_PERMISSION_DENIED);
			CHECK(strstr(res.details, "KT_ERR_TOKEN_USED") != NULL);
			used++;
			printf("  %-62s %2d  %s\n", name, res.status, res.details);
		}
		kt_gc_result_clear(&res);
	}
	kt_gc_async_free(as);
	CHECK(ok == 1 && used == 1);
	w->n_cases++;
}

/* Registrar tokens are single-use. */
static void token_cases(world *w)
{
	uint8_t *req;
	size_t len;
	uint64_t v;

	run_case_detail(w, "Update: replayed registrar token (enrolment accepted)",
			M_UPDATE, w->enrol_a, w->enrol_a_len, NULL,
			ST_PERMISSION_DENIED, "KT_ERR_TOKEN_USED");
	req = at_version(w->enrol_a, w->enrol_a_len, w->a_version, &len);
	run_case_detail(w, "Update: replayed registrar token at the current version",
			M_UPDATE, req, len, NULL, ST_PERMISSION_DENIED,
			"KT_ERR_TOKEN_USED");
	free(req);
	/* the recovery path: without single use this adds c1 back */
	req = at_version(w->enrol_c, w->enrol_c_len, w->c_version, &len);
	run_case_detail(w, "Update: replayed registrar token after its device was removed",
			M_UPDATE, req, len, NULL, ST_PERMISSION_DENIED,
			"KT_ERR_TOKEN_USED");
	free(req);
	/* the twin: a new token for the same device recovers it, once */
	req = itest_req_enrol(&w->k, ACC_C, &w->c1, itest_now_ms() + 600001, &len);
	{
		uint8_t *r2;
		size_t l2;

		r2 = at_version(req, len, w->c_version, &l2);
		itest_update_ok(&w->k, &w->t, r2, l2, &v, NULL);
		CHECK(v == w->c_version + 1);
		w->c_version = v;
		run_case_detail(w, "Update: replayed recovery token (accepted once)",
				M_UPDATE, r2, l2, NULL, ST_PERMISSION_DENIED,
				"KT_ERR_TOKEN_USED");
		free(r2);
	}
	free(req);
	token_pair_case(w);
}

static void read_cases(world *w)
{
	Keytrail__V1__LookupRequest lr = KEYTRAIL__V1__LOOKUP_REQUEST__INIT;
	Keytrail__V1__ReadAt at = KEYTRAIL__V1__READ_AT__INIT;
	Keytrail__V1__GetEntriesRequest er = KEYTRAIL__V1__GET_ENTRIES_REQUEST__INIT;
	Keytrail__V1__GetConsistencyProofRequest cr =
		KEYTRAIL__V1__GET_CONSISTENCY_PROOF_REQUEST__INIT;
	char acc_long[257];

	run_case(w, "Lookup: garbage bytes instead of protobuf", M_LOOKUP,
		 (const uint8_t *)"\x0a\xff\xff\xff", 4, NULL, ST_INVALID_ARGUMENT);
	memset(acc_long, 'a', 256);
	acc_long[256] = '\0';
	lr.account.data = (uint8_t *)acc_long;
	lr.account.len = 256;
	run_pb(w, "Lookup: account of 256 bytes", M_LOOKUP, &lr.base, NULL,
	       ST_INVALID_ARGUMENT);
	lr.account.data = (uint8_t *)(uintptr_t)ACC_A;
	lr.account.len = strlen(ACC_A);
	at.tree_size = w->no_cp_size;
	lr.at = &at;
	run_pb(w, "Lookup: at a tree size with no checkpoint", M_LOOKUP, &lr.base,
	       NULL, ST_NOT_FOUND);
	at.tree_size = w->t.newest + 1000;
	run_pb(w, "Lookup: at a tree size beyond the newest checkpoint", M_LOOKUP,
	       &lr.base, NULL, ST_OUT_OF_RANGE);
	at.tree_size = 0;
	at.last_verified_size = w->t.newest + 1000;
	run_pb(w, "Lookup: last_verified_size beyond the newest checkpoint",
	       M_LOOKUP, &lr.base, NULL, ST_OUT_OF_RANGE);

	er.start = 0;
	er.count = 1001;
	run_pb(w, "GetEntries: count over max_entries_page (1000)", M_GET_ENTRIES,
	       &er.base, NULL, ST_RESOURCE_EXHAUSTED);
	er.start = w->t.newest;
	er.count = 10;
	run_pb(w, "GetEntries: start at or beyond the newest checkpoint",
	       M_GET_ENTRIES, &er.base, NULL, ST_OUT_OF_RANGE);
	cr.from_size = 3;
	cr.to_size = 2;
	run_pb(w, "GetConsistencyProof: from_size > to_size", M_GET_CONSISTENCY,
	       &cr.base, NULL, ST_INVALID_ARGUMENT);
	cr.from_size = 0;
	cr.to_size = 2;
	run_pb(w, "GetConsistencyProof: from_size 0", M_GET_CONSISTENCY, &cr.base,
	       NULL, ST_INVALID_ARGUMENT);
	cr.from_size = 1;
	cr.to_size = w->t.newest + 1;
	run_pb(w, "GetConsistencyProof: to_size beyond the newest checkpoint",
	       M_GET_CONSISTENCY, &cr.base, NULL, ST_OUT_OF_RANGE);
}

static void history_case(world *w, const char *name, const itest_device *dev,
			 uint64_t ts, int flip, int unsigned_req, int want)
{
	Keytrail__V1__HistoryRequest req = KEYTRAIL__V1__HISTORY_REQUEST__INIT;
	uint8_t sigb[KT_SIGNATURE_BYTES];
	kt_signature sig;
	kt_wbuf wb;
	uint8_t *msg = NULL;
	size_t mlen = 0;

	req.account.data = (uint8_t *)(uintptr_t)ACC_A;
	req.account.len = strlen(ACC_A);
	req.from_version = 1;
	req.timestamp_ms = ts;
	if (!unsigned_req) {
		req.device_id.data = (uint8_t *)(uintptr_t)dev->d.id;
		req.device_id.len = dev->d.id_len;
		kt_wbuf_init(&wb, KT_HISTORY_REQUEST_MESSAGE_MAX_BYTES);
		CHECK_OK(kt_history_request_message(&wb, req.account.data,
						    req.account.len, 1, ts,
						    dev->d.id, dev->d.id_len));
		CHECK_OK(kt_wbuf_take(&wb, &msg, &mlen));
		CHECK_OK(kt_sig_sign(&sig, dev->sk, msg, mlen));
		free(msg);
		sigb[0] = sig.type;
		memcpy(sigb + 1, sig.sig, 64);
		if (flip)
			sigb[10] ^= 1;
		req.signature.data = sigb;
		req.signature.len = sizeof(sigb);
	}
	run_pb(w, name, M_HISTORY, &req.base, NULL, want);
}

static void history_cases(world *w)
{
	uint64_t now = itest_now_ms();

	history_case(w, "History: without any signature", NULL, now, 0, 1,
		     ST_PERMISSION_DENIED);
	history_case(w, "History: signature with one bit flipped", &w->a1, now, 1,
		     0, ST_PERMISSION_DENIED);
	history_case(w, "History: signed by a device of another account", &w->b1,
		     now, 0, 0, ST_PERMISSION_DENIED);
	history_case(w, "History: timestamp 10 min old (history_max_skew 5m)",
		     &w->a1, now - 600000, 0, 0, ST_PERMISSION_DENIED);
	/* the positive twin: the same request, fresh and intact, is answered */
	history_case(w, "History: correctly signed by the owner's device (OK)",
		     &w->a1, now, 0, 0, ST_OK);
}

static void cosig_cases(world *w)
{
	Keytrail__V1__AddCosignatureRequest req =
		KEYTRAIL__V1__ADD_COSIGNATURE_REQUEST__INIT;
	kt_note_signer other;
	kt_note_sigstatus st;
	kt_checkpoint cp;
	kt_bytes text;
	uint8_t seed[32], *note, *line = NULL, *body = NULL;
	size_t len, line_len = 0, body_len = 0;
	uint64_t size;

	note = itest_get_checkpoint(&w->k, &w->t, &len, &size);
	CHECK_OK(kt_note_open(note, len, &w->k.log_vk, 1, &text, &st));
	randombytes_buf(seed, sizeof(seed));
	CHECK_OK(kt_note_signer_from_seed(&other, "witness.test/rogue", 18,
					  KT_NOTE_KEY_COSIG_V1, seed));
	CHECK_OK(kt_cosig_sign(&other, itest_now_ms() / 1000, text.p, text.len,
			       &line, &line_len));
	req.tree_size = size;
	req.cosignature.data = line;
	req.cosignature.len = line_len;
	run_pb(w, "AddCosignature: valid line by an unknown witness",
	       M_ADD_COSIG, &req.base, NULL, ST_PERMISSION_DENIED);
	free(line);
	/* a well-formed line by the configured witness, but over another
	 * checkpoint body (same origin and size, another root) */
	CHECK_OK(kt_checkpoint_parse(&cp, text.p, text.len));
	cp.root[0] ^= 0x01;
	CHECK_OK(kt_checkpoint_format(&cp, &body, &body_len));
	CHECK_OK(kt_cosig_sign(&w->witness, itest_now_ms() / 1000, body, body_len,
			       &line, &line_len));
	free(body);
	req.cosignature.data = line;
	req.cosignature.len = line_len;
	run_pb(w, "AddCosignature: configured witness, signature over another root",
	       M_ADD_COSIG, &req.base, NULL, ST_PERMISSION_DENIED);
	req.cosignature.data = (uint8_t *)(uintptr_t)"not a signature line\n";
	req.cosignature.len = 21;
	run_pb(w, "AddCosignature: not a signature line", M_ADD_COSIG, &req.base,
	       NULL, ST_INVALID_ARGUMENT);
	kt_note_signer_wipe(&other);
	free(line);
	free(note);
}

static void admin_cases(world *w)
{
	Keytrail__V1__OperatorUpdateRequest req =
		KEYTRAIL__V1__OPERATOR_UPDATE_REQUEST__INIT;
	Keytrail__V1__StatusRequest sreq = KEYTRAIL__V1__STATUS_REQUEST__INIT;
	uint8_t opb[KT_UPDATE_OP_MAX_BYTES];
	char wrong[65];
	const char *md_wrong[3], *md_short[3];
	itest_device x;
	kt_update_op op;

	itest_device_new(&x, "op-device", KT_DEVICE_OTHER);
	itest_op_add(&op, &x);
	req.account.data = (uint8_t *)(uintptr_t)ACC_A;
	req.account.len = strlen(ACC_A);
	req.operation.data = opb;
	req.operation.len = itest_op_encode(&op, opb, sizeof(opb));
	req.expected_version = w->a_version;
	req.reason = (char *)(uintptr_t)"catalogue";
	memcpy(wrong, w->k.admin_hex, 65);
	wrong[0] = wrong[0] == '0' ? '1' : '0';
	md_wrong[0] = "x-keytrail-admin";
	md_wrong[1] = wrong;
	md_wrong[2] = NULL;
	md_short[0] = "x-keytrail-admin";
	md_short[1] = "00";
	md_short[2] = NULL;
	run_pb(w, "OperatorUpdate: no admin credential", M_OPERATOR_UPDATE,
	       &req.base, NULL, ST_UNAUTHENTICATED);
	run_pb(w, "OperatorUpdate: wrong admin credential (one digit)",
	       M_OPERATOR_UPDATE, &req.base, md_wrong, ST_PERMISSION_DENIED);
	run_pb(w, "OperatorUpdate: malformed admin credential", M_OPERATOR_UPDATE,
	       &req.base, md_short, ST_PERMISSION_DENIED);
	run_pb(w, "Status: wrong admin credential", M_STATUS, &sreq.base,
	       md_wrong, ST_PERMISSION_DENIED);
	req.reason = (char *)(uintptr_t)"";
	run_pb(w, "OperatorUpdate: empty reason", M_OPERATOR_UPDATE, &req.base,
	       itest_admin_md(&w->k), ST_INVALID_ARGUMENT);
	req.reason = (char *)(uintptr_t)"catalogue";
	op.op = KT_OP_ENROL;
	req.operation.len = itest_op_encode(&op, opb, sizeof(opb));
	run_pb(w, "OperatorUpdate: enrol (registrar only)", M_OPERATOR_UPDATE,
	       &req.base, itest_admin_md(&w->k), ST_INVALID_ARGUMENT);
	op.op = KT_OP_ADD_DEVICE;
	req.operation.len = itest_op_encode(&op, opb, sizeof(opb));
	req.expected_version = w->a_version - 1;
	run_pb(w, "OperatorUpdate: stale expected_version", M_OPERATOR_UPDATE,
	       &req.base, itest_admin_md(&w->k), ST_FAILED_PRECONDITION);
	run_pb(w, "Status: correct admin credential (OK)", M_STATUS, &sreq.base,
	       itest_admin_md(&w->k), ST_OK);
}

/* lookup_rate_limit is 20/s on this node: a burst runs out.  (The call
 * that is refused is the catalogue case; the checkpoint is compared around
 * the whole burst, since a GetCheckpoint between the burst and the case
 * would give the bucket time to refill.) */
static void rate_case(world *w)
{
	Keytrail__V1__LookupRequest lr = KEYTRAIL__V1__LOOKUP_REQUEST__INIT;
	const char *name = "Lookup: burst over lookup_rate_limit (20/s)";
	uint8_t *before, *after;
	size_t blen, alen;
	kt_gc_result res;
	int i, limited = -1;

	lr.account.data = (uint8_t *)(uintptr_t)ACC_A;
	lr.account.len = strlen(ACC_A);
	before = newest_cp(w, &blen);
	for (i = 0; i < 400 && limited < 0; i++) {
		itest_call_pb(&w->k, M_LOOKUP, &lr.base, NULL, &res);
		CHECK(res.status == ST_OK || res.status == ST_RESOURCE_EXHAUSTED);
		if (res.status == ST_RESOURCE_EXHAUSTED) {
			limited = i;
			printf("  %-62s %2d  %s\n", name, res.status, res.details);
		}
		kt_gc_result_clear(&res);
	}
	CHECK(limited >= 1);
	after = newest_cp(w, &alen);
	CHECK(alen == blen && memcmp(before, after, blen) == 0);
	free(before);
	free(after);
	w->n_cases++;
	itest_note("rate limit reached after %d lookups", limited);
}

int main(int argc, char **argv)
{
	static world w;
	char *wvk = NULL, wset[700];
	uint8_t seed[32];
	size_t wvk_len = 0;
	const char *extra[6];
	uint64_t t0;

	itest_init(argc, argv);
	t0 = itest_mono_ms();
	randombytes_buf(seed, sizeof(seed));
	CHECK_OK(kt_note_signer_from_seed(&w.witness, "witness.test/w1", 15,
					  KT_NOTE_KEY_COSIG_V1, seed));
	CHECK_OK(kt_note_verifier_format(&w.witness.pub, &wvk, &wvk_len));
	snprintf(wset, sizeof(wset), "witness=%s", wvk);
	free(wvk);
	extra[0] = wset;
	extra[1] = "heartbeat_interval=1h";
	extra[2] = "batch_delay=150ms";
	extra[3] = "lookup_rate_limit=20";
	extra[4] = NULL;
	itest_ktd_new(&w.k, extra);
	itest_ktd_start(&w.k);
	itest_trust_init(&w.t, &w.k);
	setup(&w);
	itest_note("setup done: tree size %llu, no checkpoint at %llu",
		   (unsigned long long)w.t.newest,
		   (unsigned long long)w.no_cp_size);
	update_cases(&w);
	token_cases(&w);
	read_cases(&w);
	history_cases(&w);
	cosig_cases(&w);
	admin_cases(&w);
	rate_case(&w);
	CHECK(w.n_cases >= 20);
	itest_ktd_stop(&w.k);
	itest_ktd_close_channel(&w.k);
	free(w.replay);
	free(w.enrol_a);
	free(w.enrol_c);
	kt_note_signer_wipe(&w.witness);
	itest_note("ok: %zu cases (%llu ms)", w.n_cases,
		   (unsigned long long)(itest_mono_ms() - t0));
	return 0;
}
