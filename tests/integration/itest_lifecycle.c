/*
 * itest_lifecycle.c — the life cycle of an account against a real ktd:
 * enrol (registrar token), add a device, set a push address, remove a
 * device, remove the last one (an empty account that still exists).  After
 * every step: a verified Lookup at the newest checkpoint (with the
 * consistency proof from the previous one) and at every earlier checkpoint
 * size, each showing the account as it was then.  Then: absence proof of
 * an unknown account, History with every version verified by the owner's
 * monitor checks, consistency between checkpoints, GetEntries giving every
 * root, an operator change and Status through Admin, and a witness
 * cosignature through AddCosignature.
 */
#include "itest.h"
#include "itest_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "keytrail/v1/admin.pb-c.h"
#include "keytrail/v1/directory.pb-c.h"
#include "kt_checkpoint.h"
#include "kt_cosig.h"

#define ACCOUNT "tel:+15551234567"
#define MAX_STEPS 16

#ifdef KT_ITEST_CLIENT_VERIFY
static itest_client client;    /* a sender's client, across all steps */
#endif

/* The client library's verifier agrees (when it is built). */
static void client_check(itest_ktd *k, uint64_t version, size_t n_devices)
{
#ifdef KT_ITEST_CLIENT_VERIFY
	kt_lookup_result res;

	itest_client_lookup(&client, k, ACCOUNT, &res);
	CHECK(res.leaf.present && res.leaf.leaf.version == version &&
	      res.value.count == n_devices);
	kt_lookup_result_free(&res);
#else
	(void)k;
	(void)version;
	(void)n_devices;
#endif
}

/* The account's version as of each checkpoint size the test has seen. */
typedef struct expect {
	uint64_t size[ITEST_MAX_CPS];
	uint64_t version[ITEST_MAX_CPS];
	size_t n_devices[ITEST_MAX_CPS];
	size_t n;
} expect;

static void expect_add(expect *x, uint64_t size, uint64_t version, size_t nd)
{
	CHECK(x->n < ITEST_MAX_CPS);
	x->size[x->n] = size;
	x->version[x->n] = version;
	x->n_devices[x->n] = nd;
	x->n++;
}

/* The version the account had at tree size `size`: that of the newest
 * update whose entry lies below it. */
static void expect_at(const expect *x, uint64_t size, uint64_t *version,
		      size_t *nd)
{
	size_t i;

	*version = 0;
	*nd = 0;
	for (i = 0; i < x->n; i++)
		if (x->size[i] <= size) {
			*version = x->version[i];
			*nd = x->n_devices[i];
		}
}

/* Lookups at the newest size (consistency from prev_newest) and at every
 * recorded checkpoint size; each must verify and show the right version. */
static void check_all_sizes(itest_ktd *k, itest_trust *t, const expect *x,
			    uint64_t prev_newest)
{
	itest_lookup l;
	uint64_t sizes[ITEST_MAX_CPS], v;
	size_t i, n, nd;

	itest_lookup_verified(k, t, ACCOUNT, 0, prev_newest, &l);
	expect_at(x, l.head.size, &v, &nd);
	if (!l.exists || l.leaf.version != v || l.value.count != nd)
		itest_fail(__FILE__, __LINE__, "at %llu: exists %d version %llu "
			   "(want %llu) devices %zu (want %zu)",
			   (unsigned long long)l.head.size, l.exists,
			   (unsigned long long)l.leaf.version,
			   (unsigned long long)v, l.value.count, nd);
	kt_account_value_free(&l.value);
	n = t->n;
	memcpy(sizes, t->size, n * sizeof(sizes[0]));
	for (i = 0; i < n; i++) {
		itest_lookup_verified(k, t, ACCOUNT, sizes[i], t->newest, &l);
		expect_at(x, sizes[i], &v, &nd);
		CHECK(l.exists == (v != 0));
		if (l.exists)
			CHECK(l.leaf.version == v && l.value.count == nd);
		kt_account_value_free(&l.value);
	}
}

/* One device-signed step; returns the new version. */
static uint64_t step(itest_ktd *k, itest_trust *t, expect *x,
		     const kt_update_op *op, uint64_t version,
		     const itest_device *signer, size_t n_devices_after)
{
	uint64_t v = 0, li = 0, prev = t->newest;
	size_t len;
	uint8_t *req = itest_req_signed(ACCOUNT, op, version, signer, &len);

	itest_update_ok(k, t, req, len, &v, &li);
	free(req);
	CHECK(v == version + 1);
	expect_add(x, li + 1, v, n_devices_after);
	check_all_sizes(k, t, x, prev);
	client_check(k, v, n_devices_after);
	return v;
}

static void check_absent(itest_ktd *k, itest_trust *t)
{
	itest_lookup l;

	itest_lookup_verified(k, t, "mailto:nobody@example.org", 0, 0, &l);
	CHECK(!l.exists);
	kt_account_value_free(&l.value);
}

static void check_history(itest_ktd *k, itest_trust *t, const itest_device *dev,
			  uint64_t tree_size, uint64_t want_versions)
{
	Keytrail__V1__HistoryRequest req = KEYTRAIL__V1__HISTORY_REQUEST__INIT;
	Keytrail__V1__ReadAt at = KEYTRAIL__V1__READ_AT__INIT;
	Keytrail__V1__HistoryResponse *resp;
	uint8_t sigb[KT_SIGNATURE_BYTES];
	kt_signature sig;
	kt_gc_result res;
	kt_wbuf w;
	uint8_t *msg = NULL;
	size_t mlen = 0, n = 0;
	int r;

	at.tree_size = tree_size;
	req.at = &at;
	req.account.data = (uint8_t *)(uintptr_t)ACCOUNT;
	req.account.len = strlen(ACCOUNT);
	req.from_version = 1;
	req.timestamp_ms = itest_now_ms();
	req.device_id.data = (uint8_t *)(uintptr_t)dev->d.id;
	req.device_id.len = dev->d.id_len;
	kt_wbuf_init(&w, KT_HISTORY_REQUEST_MESSAGE_MAX_BYTES);
	CHECK_OK(kt_history_request_message(&w, req.account.data, req.account.len,
					    req.from_version, req.timestamp_ms,
					    dev->d.id, dev->d.id_len));
	CHECK_OK(kt_wbuf_take(&w, &msg, &mlen));
	CHECK_OK(kt_sig_sign(&sig, dev->sk, msg, mlen));
	free(msg);
	sigb[0] = sig.type;
	memcpy(sigb + 1, sig.sig, sizeof(sig.sig));
	req.signature.data = sigb;
	req.signature.len = sizeof(sigb);
	itest_call_pb(k, M_HISTORY, &req.base, NULL, &res);
	CHECK_STATUS(&res, 0);
	resp = keytrail__v1__history_response__unpack(NULL, res.body_len, res.body);
	CHECK(resp != NULL);
	r = itest_verify_history(t, resp, ACCOUNT, &n);
	if (r != KT_OK)
		itest_fail(__FILE__, __LINE__, "history: %s", kt_errname(r));
	CHECK(n == want_versions && !resp->more);
	/* forgery twin: a changed value must break the opening */
	CHECK(resp->versions[0]->value.len > 0);
	resp->versions[0]->value.data[resp->versions[0]->value.len - 1] ^= 1;
	CHECK(itest_verify_history(t, resp, ACCOUNT, &n) != KT_OK);
	keytrail__v1__history_response__free_unpacked(resp, NULL);
	kt_gc_result_clear(&res);
}

static void check_admin(itest_ktd *k, itest_trust *t)
{
	Keytrail__V1__OperatorUpdateRequest req =
		KEYTRAIL__V1__OPERATOR_UPDATE_REQUEST__INIT;
	Keytrail__V1__StatusRequest sreq = KEYTRAIL__V1__STATUS_REQUEST__INIT;
	Keytrail__V1__OperatorUpdateResponse *resp;
	Keytrail__V1__StatusResponse *sresp;
	uint8_t opb[KT_UPDATE_OP_MAX_BYTES];
	itest_device dev;
	kt_update_op op;
	kt_gc_result res;
	itest_lookup l;
	const char *acc = "mailto:escrowed@example.org";

	itest_device_new(&dev, "lawful-intercept", KT_DEVICE_ESCROW);
	itest_op_add(&op, &dev);
	req.account.data = (uint8_t *)(uintptr_t)acc;
	req.account.len = strlen(acc);
	req.operation.data = opb;
	req.operation.len = itest_op_encode(&op, opb, sizeof(opb));
	req.expected_version = 0;
	req.reason = (char *)(uintptr_t)"court order 2026-17 (test)";
	itest_call_pb(k, M_OPERATOR_UPDATE, &req.base, itest_admin_md(k), &res);
	CHECK_STATUS(&res, 0);
	resp = keytrail__v1__operator_update_response__unpack(NULL, res.body_len,
							      res.body);
	CHECK(resp != NULL && resp->version == 1);
	CHECK_OK(itest_trust_checkpoint(t, resp->checkpoint.data,
					resp->checkpoint.len, NULL, NULL));
	keytrail__v1__operator_update_response__free_unpacked(resp, NULL);
	kt_gc_result_clear(&res);
	/* everyone sees who did it, and why */
	itest_lookup_verified(k, t, acc, 0, 0, &l);
	CHECK(l.exists && l.prov.type == KT_PROV_OPERATOR &&
	      l.prov.reason_len == strlen("court order 2026-17 (test)"));
	kt_account_value_free(&l.value);

	itest_call_pb(k, M_STATUS, &sreq.base, itest_admin_md(k), &res);
	CHECK_STATUS(&res, 0);
	sresp = keytrail__v1__status_response__unpack(NULL, res.body_len, res.body);
	CHECK(sresp != NULL);
	CHECK(sresp->tree_size >= l.head.size && sresp->accounts == 2);
	CHECK(strcmp(sresp->origin, k->origin) == 0);
	CHECK(strcmp(sresp->role, "single") == 0);
	keytrail__v1__status_response__free_unpacked(sresp, NULL);
	kt_gc_result_clear(&res);
}

/* A witness cosigns the newest checkpoint; GetCheckpoint then serves it
 * as the newest cosigned one, and reads at that size carry the line. */
/* The checkpoint in the head of a Lookup at `size`, opened with keys. */
static void lookup_head_sigs(itest_ktd *k, uint64_t size,
			     const kt_note_verifier keys[2],
			     kt_note_sigstatus st[2])
{
	Keytrail__V1__LookupRequest lreq = KEYTRAIL__V1__LOOKUP_REQUEST__INIT;
	Keytrail__V1__ReadAt at = KEYTRAIL__V1__READ_AT__INIT;
	Keytrail__V1__LookupResponse *lresp;
	kt_checkpoint cp;
	kt_gc_result res;

	at.tree_size = size;
	lreq.at = &at;
	lreq.account.data = (uint8_t *)(uintptr_t)ACCOUNT;
	lreq.account.len = strlen(ACCOUNT);
	itest_call_pb(k, M_LOOKUP, &lreq.base, NULL, &res);
	CHECK_STATUS(&res, 0);
	lresp = keytrail__v1__lookup_response__unpack(NULL, res.body_len, res.body);
	CHECK(lresp != NULL && lresp->head != NULL);
	CHECK_OK(kt_checkpoint_open(&cp, lresp->head->checkpoint.data,
				    lresp->head->checkpoint.len, k->origin,
				    strlen(k->origin), keys, 2, st));
	CHECK(cp.size == size);
	keytrail__v1__lookup_response__free_unpacked(lresp, NULL);
	kt_gc_result_clear(&res);
}

static void check_cosign(itest_ktd *k, itest_trust *t, const kt_note_signer *w)
{
	Keytrail__V1__AddCosignatureRequest req =
		KEYTRAIL__V1__ADD_COSIGNATURE_REQUEST__INIT;
	Keytrail__V1__GetCheckpointRequest greq =
		KEYTRAIL__V1__GET_CHECKPOINT_REQUEST__INIT;
	Keytrail__V1__GetCheckpointResponse *gresp;
	kt_note_sigstatus st[2];
	kt_note_verifier keys[2];
	kt_checkpoint cp;
	kt_gc_result res;
	kt_bytes text;
	uint8_t *note, *line = NULL;
	size_t len, line_len = 0;
	uint64_t size;

	note = itest_get_checkpoint(k, t, &len, &size);
	CHECK_OK(kt_note_open(note, len, &k->log_vk, 1, &text, st));
	keys[0] = k->log_vk;
	keys[1] = w->pub;
	/* a read at the size before the witness cosigns: no cosignature (and
	 * the node now holds this head in its per-size cache) */
	lookup_head_sigs(k, size, keys, st);
	CHECK(st[0].verified && !st[1].verified);
	CHECK_OK(kt_cosig_sign(w, itest_now_ms() / 1000u, text.p, text.len, &line,
			       &line_len));
	req.tree_size = size;
	req.cosignature.data = line;
	req.cosignature.len = line_len;
	/* forgery twin first: a flipped bit is refused */
	line[line_len - 5] ^= 1;
	itest_call_pb(k, M_ADD_COSIG, &req.base, NULL, &res);
	CHECK(res.status == 7 || res.status == 3);
	kt_gc_result_clear(&res);
	line[line_len - 5] ^= 1;
	itest_call_pb(k, M_ADD_COSIG, &req.base, NULL, &res);
	CHECK_STATUS(&res, 0);
	kt_gc_result_clear(&res);
	itest_call_pb(k, M_GET_CHECKPOINT, &greq.base, NULL, &res);
	CHECK_STATUS(&res, 0);
	gresp = keytrail__v1__get_checkpoint_response__unpack(NULL, res.body_len,
							      res.body);
	CHECK(gresp != NULL && gresp->cosigned_checkpoint.len > 0);
	keys[0] = k->log_vk;
	keys[1] = w->pub;
	CHECK_OK(kt_checkpoint_open(&cp, gresp->cosigned_checkpoint.data,
				    gresp->cosigned_checkpoint.len, k->origin,
				    strlen(k->origin), keys, 2, st));
	CHECK(st[0].verified && st[1].verified && cp.size == size);
	keytrail__v1__get_checkpoint_response__free_unpacked(gresp, NULL);
	kt_gc_result_clear(&res);
	/* a read at that size carries the cosignature in its head */
	{
		Keytrail__V1__LookupRequest lreq = KEYTRAIL__V1__LOOKUP_REQUEST__INIT;
		Keytrail__V1__ReadAt at = KEYTRAIL__V1__READ_AT__INIT;
		Keytrail__V1__LookupResponse *lresp;
		itest_lookup l;

		at.tree_size = size;
		lreq.at = &at;
		lreq.account.data = (uint8_t *)(uintptr_t)ACCOUNT;
		lreq.account.len = strlen(ACCOUNT);
		itest_call_pb(k, M_LOOKUP, &lreq.base, NULL, &res);
		CHECK_STATUS(&res, 0);
		lresp = keytrail__v1__lookup_response__unpack(NULL, res.body_len,
							      res.body);
		CHECK(lresp != NULL && lresp->head != NULL);
		CHECK_OK(kt_checkpoint_open(&cp, lresp->head->checkpoint.data,
					    lresp->head->checkpoint.len, k->origin,
					    strlen(k->origin), keys, 2, st));
		CHECK(st[0].verified && st[1].verified && cp.size == size);
		CHECK_OK(itest_verify_lookup(t, lresp, ACCOUNT, 0, &l));
		kt_account_value_free(&l.value);
		keytrail__v1__lookup_response__free_unpacked(lresp, NULL);
		kt_gc_result_clear(&res);
	}
	free(line);
	free(note);
}

/* The owner's monitor in the client library: nothing is flagged for the
 * owner's own account; the operator's insertion is. */
static void client_history(itest_ktd *k, const itest_device *d1,
			   const itest_device *d2)
{
#ifdef KT_ITEST_CLIENT_VERIFY
	kt_history_report rep;
	kt_owner_set own;
	kt_bytes ids[2];
	kt_sign_key keys[2];
	itest_device esc;

	ids[0].p = d1->d.id;
	ids[0].len = d1->d.id_len;
	ids[1].p = d2->d.id;
	ids[1].len = d2->d.id_len;
	keys[0] = d1->d.sign_pk;
	keys[1] = d2->d.sign_pk;
	own.device_ids = ids;
	own.n_device_ids = 2;
	own.sign_keys = keys;
	own.n_sign_keys = 2;
	CHECK(itest_client_history(&client, k, ACCOUNT, d2, &own, &rep) == 5);
	CHECK(rep.n == 5 && rep.flagged == 0);
	kt_history_report_free(&rep);
	/* the same history seen by someone who owns only the phone: the
	 * laptop's changes are flagged */
	own.n_device_ids = 1;
	own.n_sign_keys = 1;
	CHECK(itest_client_history(&client, k, ACCOUNT, d2, &own, &rep) == 5);
	CHECK(rep.flagged == 3);
	kt_history_report_free(&rep);
	(void)esc;
#else
	(void)k;
	(void)d1;
	(void)d2;
#endif
}

int main(int argc, char **argv)
{
	itest_ktd k;
	itest_trust t;
	itest_device d1, d2;
	kt_update_op op;
	kt_note_signer w;
	expect x;
	uint8_t seed[32], *req;
	char *wvk = NULL, wset[700];
	size_t len, wvk_len = 0;
	uint64_t v = 0, li = 0, prev;
	const char *extra[4];
	uint64_t t0;

	itest_init(argc, argv);
	t0 = itest_mono_ms();
	/* a witness the node trusts */
	randombytes_buf(seed, sizeof(seed));
	CHECK_OK(kt_note_signer_from_seed(&w, "witness.test/w1", 15,
					  KT_NOTE_KEY_COSIG_V1, seed));
	CHECK_OK(kt_note_verifier_format(&w.pub, &wvk, &wvk_len));
	snprintf(wset, sizeof(wset), "witness=%s", wvk);
	free(wvk);
	extra[0] = wset;
	extra[1] = "heartbeat_interval=1h";
	extra[2] = NULL;
	itest_ktd_new(&k, extra);
	itest_ktd_start(&k);
	itest_note("ktd on %s, data in %s", k.addr, k.data_dir);
	itest_trust_init(&t, &k);
	memset(&x, 0, sizeof(x));

	/* 1. enrol */
	itest_device_new(&d1, "phone", KT_DEVICE_PRIMARY);
	itest_device_new(&d2, "laptop", KT_DEVICE_COMPANION);
	req = itest_req_enrol(&k, ACCOUNT, &d1, itest_now_ms() + 3600000u, &len);
	itest_update_ok(&k, &t, req, len, &v, &li);
	free(req);
	CHECK(v == 1);
	expect_add(&x, li + 1, 1, 1);
	check_all_sizes(&k, &t, &x, 0);
#ifdef KT_ITEST_CLIENT_VERIFY
	itest_client_init(&client, &k);
#endif
	client_check(&k, 1, 1);
	itest_note("enrolled: version 1 at %llu", (unsigned long long)li);
	/* 2. add a device (signed by the phone) */
	itest_op_add(&op, &d2);
	v = step(&k, &t, &x, &op, v, &d1, 2);
	/* 3. set the laptop's push address (signed by the laptop) */
	itest_op_set_push(&op, "laptop", "apns:0123456789abcdef");
	v = step(&k, &t, &x, &op, v, &d2, 2);
	/* 4. remove the phone (signed by the laptop) */
	itest_op_remove(&op, "phone");
	v = step(&k, &t, &x, &op, v, &d2, 1);
	/* 5. remove the last device: an empty account, still present */
	itest_op_remove(&op, "laptop");
	prev = t.newest;
	v = step(&k, &t, &x, &op, v, &d2, 0);
	CHECK(v == 5);
	(void)prev;
	itest_note("life cycle done: version %llu, %zu checkpoints",
		   (unsigned long long)v, t.n);

	check_absent(&k, &t);
	/* History: signed by the laptop, now a former device */
	check_history(&k, &t, &d2, 0, 5);
	/* and as of the checkpoint right after version 3 */
	check_history(&k, &t, &d2, x.size[2], 3);
	check_admin(&k, &t);
	client_history(&k, &d1, &d2);
	check_cosign(&k, &t, &w);
	itest_check_all_consistency(&k, &t, 200);
	itest_check_entries(&k, &t, 3);
	itest_ktd_stop(&k);
	itest_ktd_close_channel(&k);
#ifdef KT_ITEST_CLIENT_VERIFY
	itest_client_free(&client);
	itest_note("client library verifier: agreed on every step");
#endif
	kt_note_signer_wipe(&w);
	itest_note("ok (%llu ms)", (unsigned long long)(itest_mono_ms() - t0));
	return 0;
}
