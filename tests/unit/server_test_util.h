/*
 * server_test_util.h — helpers shared by the server unit tests (included
 * after <cmocka.h>, sodium.h and the server headers a test uses; every
 * helper is static inline, so a test pays only for what it calls).
 */
#ifndef KT_SERVER_TEST_UTIL_H
#define KT_SERVER_TEST_UTIL_H

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "kt_enc.h"
#include "kt_hash.h"
#include "kt_types.h"
#include "kt_vrf.h"
#include "node.h"
#include "storage.h"
#include "kt_test_fs.h"

/* Encoded provenance of an operator change adding device "d" of `kind`
 * (keys from a seed of `seed_byte` bytes) with `reason`; *out is heap
 * (free()). */
static inline void kt_test_operator_prov(uint8_t seed_byte, uint8_t kind,
					 const char *reason, uint8_t **out,
					 size_t *len)
{
	kt_provenance pv;
	uint8_t seed[32], sk[64];
	kt_wbuf wb;

	memset(&pv, 0, sizeof(pv));
	pv.type = KT_PROV_OPERATOR;
	pv.op.op = KT_OP_ADD_DEVICE;
	pv.op.device.id[0] = 'd';
	pv.op.device.id_len = 1;
	pv.op.device.sign_pk.type = KT_SIGN_KEY_ED25519;
	memset(seed, seed_byte, sizeof(seed));
	assert_int_equal(crypto_sign_seed_keypair(pv.op.device.sign_pk.pk, sk, seed), 0);
	pv.op.device.enc_pk.type = KT_ENC_KEY_X25519;
	assert_int_equal(crypto_scalarmult_base(pv.op.device.enc_pk.pk, seed), 0);
	pv.op.device.kind = kind;
	memcpy(pv.reason, reason, strlen(reason));
	pv.reason_len = strlen(reason);
	kt_wbuf_init(&wb, KT_PROVENANCE_MAX_BYTES);
	assert_int_equal(kt_provenance_encode(&wb, &pv), KT_OK);
	assert_int_equal(kt_wbuf_take(&wb, out, len), KT_OK);
}

/* Waits for one change submitted to a node. */
struct kt_test_waiter {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done;
	kt_change_result res;
};

static inline void kt_test_on_done(void *arg, const kt_change_result *r,
				   const kt_apply_head *h)
{
	struct kt_test_waiter *w = arg;

	(void)h;
	pthread_mutex_lock(&w->mu);
	w->res = *r;
	w->done = 1;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

/* Submits an operator change that creates (or adds device "d" to)
 * `account` to node n, waits for its result and returns it. */
static inline kt_change_result kt_test_node_operator_change(kt_node *n,
							    const char *account)
{
	struct kt_test_waiter w;
	uint8_t beta[64];
	kt_change c;

	memset(&c, 0, sizeof(c));
	c.account_len = strlen(account);
	memcpy(c.account, account, c.account_len);
	kt_test_operator_prov(3, KT_DEVICE_OTHER, "t", &c.provenance,
			      &c.provenance_len);
	c.has_vrf = 1;
	assert_int_equal(kt_vrf_prove(c.vrf_proof, kt_node_keys_get(n)->vrf_sk,
				      c.account, c.account_len), KT_OK);
	assert_int_equal(kt_vrf_proof_to_hash(beta, c.vrf_proof), KT_OK);
	kt_vrf_index(c.index, beta);
	memset(&w, 0, sizeof(w));
	pthread_mutex_init(&w.mu, NULL);
	pthread_cond_init(&w.cv, NULL);
	assert_int_equal(kt_node_submit(n, &c, kt_test_on_done, &w), KT_OK);
	pthread_mutex_lock(&w.mu);
	while (!w.done)
		pthread_cond_wait(&w.cv, &w.mu);
	pthread_mutex_unlock(&w.mu);
	pthread_cond_destroy(&w.cv);
	pthread_mutex_destroy(&w.mu);
	return w.res;
}

/* ---- changes for the apply path (server_tokens, server_migrate) ---------- */

/* A registrar token for one enrolment: the account and the provenance. */
struct kt_test_tok {
	char account[64];
	kt_provenance pv;
};

/* Device `id` with keys from a seed of seed_byte bytes, push address
 * "apns:token-test". */
static inline void kt_test_make_device(kt_device *d, const char *id,
				       uint8_t seed_byte)
{
	uint8_t seed[32], sk[64], xs[32];

	memset(d, 0, sizeof(*d));
	memcpy(d->id, id, strlen(id));
	d->id_len = strlen(id);
	d->sign_pk.type = KT_SIGN_KEY_ED25519;
	d->enc_pk.type = KT_ENC_KEY_X25519;
	memset(seed, seed_byte, sizeof(seed));
	assert_int_equal(crypto_sign_seed_keypair(d->sign_pk.pk, sk, seed), 0);
	memset(xs, (uint8_t)(seed_byte + 0x40), sizeof(xs));
	assert_int_equal(crypto_scalarmult_base(d->enc_pk.pk, xs), 0);
	memcpy(d->push, "apns:token-test", 15);
	d->push_len = 15;
	d->kind = KT_DEVICE_PRIMARY;
	sodium_memzero(sk, sizeof(sk));
}

/* A token of the test registrar enrolling device (id, seed) into account
 * until expiry, really signed. */
static inline void kt_test_make_token(struct kt_test_tok *t, const char *account,
				      const char *id, uint8_t seed, uint64_t expiry)
{
	uint8_t rseed[32], rsk[64];
	kt_wbuf w;

	memset(t, 0, sizeof(*t));
	snprintf(t->account, sizeof(t->account), "%s", account);
	t->pv.type = KT_PROV_REGISTRAR;
	t->pv.op.op = KT_OP_ENROL;
	kt_test_make_device(&t->pv.op.device, id, seed);
	memset(rseed, 0x33, sizeof(rseed));
	t->pv.registrar_pk.type = KT_SIGN_KEY_ED25519;
	assert_int_equal(crypto_sign_seed_keypair(t->pv.registrar_pk.pk, rsk,
						  rseed), 0);
	t->pv.expiry_ms = expiry;
	kt_wbuf_init(&w, KT_REGISTRAR_TOKEN_MESSAGE_MAX_BYTES);
	assert_int_equal(kt_registrar_token_message(&w, (const uint8_t *)account,
						    strlen(account),
						    &t->pv.op.device, expiry),
			 KT_OK);
	assert_int_equal(kt_sig_sign(&t->pv.sig, rsk, w.data, w.len), KT_OK);
	kt_wbuf_free(&w);
	sodium_memzero(rsk, sizeof(rsk));
}

/* A change of account at expected with provenance pv; the map index is
 * SHA-256 of the name (the apply path trusts the handler's index). */
static inline void kt_test_fill_change(kt_change *c, const char *account,
				       uint64_t expected, const kt_provenance *pv)
{
	kt_wbuf w;

	memset(c, 0, sizeof(*c));
	memcpy(c->account, account, strlen(account));
	c->account_len = strlen(account);
	c->expected_version = expected;
	kt_wbuf_init(&w, KT_PROVENANCE_MAX_BYTES);
	assert_int_equal(kt_provenance_encode(&w, pv), KT_OK);
	assert_int_equal(kt_wbuf_take(&w, &c->provenance, &c->provenance_len),
			 KT_OK);
	randombytes_buf(c->opening, sizeof(c->opening));
	c->has_vrf = 1;
	kt_sha256(c->index, (const uint8_t *)account, strlen(account));
}

static inline void kt_test_ch_enrol(kt_change *c, const struct kt_test_tok *t,
				    uint64_t expected)
{
	kt_test_fill_change(c, t->account, expected, &t->pv);
}

/* An operator's remove of device id. */
static inline void kt_test_ch_remove(kt_change *c, const char *account,
				     uint64_t expected, const char *id)
{
	kt_provenance pv;

	memset(&pv, 0, sizeof(pv));
	pv.type = KT_PROV_OPERATOR;
	pv.op.op = KT_OP_REMOVE_DEVICE;
	memcpy(pv.op.device_id, id, strlen(id));
	pv.op.device_id_len = strlen(id);
	memcpy(pv.reason, "test", 4);
	pv.reason_len = 4;
	kt_test_fill_change(c, account, expected, &pv);
}


/* Opens the apply path over st with signer for origin (default device
 * limit).  Returns kt_apply_open's code. */
static inline int kt_test_apply_open(kt_storage *st, kt_note_signer *signer,
				     const char *origin, kt_apply **out)
{
	kt_apply_params p;

	memset(&p, 0, sizeof(p));
	p.storage = st;
	p.log_signer = signer;
	p.origin = origin;
	p.origin_len = strlen(origin);
	p.max_devices = KT_DEFAULT_MAX_DEVICES;
	return kt_apply_open(&p, out);
}

/* Most changes kt_test_apply_run takes in one batch. */
#define KT_TEST_MAX_BATCH 80

/* Applies the n changes (cleared after) as one batch at time ts and applied
 * index (*applied)++; change i must get code expect[i].  n == 0: a
 * heartbeat. */
static inline void kt_test_apply_run(kt_apply *a, uint64_t *applied,
				     uint64_t ts, kt_change *ch, size_t n,
				     const int *expect)
{
	kt_change_result res[KT_TEST_MAX_BATCH];
	kt_batch b;
	size_t i;

	assert_true(n <= KT_TEST_MAX_BATCH);
	memset(&b, 0, sizeof(b));
	b.timestamp_ms = ts;
	b.changes = n > 0 ? ch : NULL;
	b.count = n;
	b.heartbeat = n == 0;
	assert_int_equal(kt_apply_batch(a, &b, (*applied)++, res), KT_OK);
	for (i = 0; i < n; i++) {
		if (res[i].code != expect[i])
			fail_msg("change %zu: %s, want %s", i,
				 kt_errname(res[i].code), kt_errname(expect[i]));
		kt_change_clear(&ch[i]);
	}
}

/* ---- one node's storage and apply path ------------------------------- */

/* Storage and the apply path in a temporary directory, for tests that run
 * batches straight into kt_apply (no sequencer). */
struct kt_test_node {
	char dir[64];
	kt_storage_options opt; /* what kt_test_node_open opens storage with */
	kt_storage *st;
	kt_apply *a;
	kt_note_signer signer;
	const char *origin;
	uint64_t applied;       /* next applied index */
};

/* Opens the apply path over f's open storage: kt_apply_open's code. */
static inline int kt_test_node_open_apply(struct kt_test_node *f)
{
	return kt_test_apply_open(f->st, &f->signer, f->origin, &f->a);
}

/* Opens f's storage (with f->opt) and apply path; the next applied index
 * follows the stored one. */
static inline void kt_test_node_open(struct kt_test_node *f)
{
	assert_int_equal(kt_storage_open(f->dir, &f->opt, &f->st), KT_OK);
	assert_int_equal(kt_test_node_open_apply(f), KT_OK);
	f->applied = kt_apply_applied_index(f->a) + 1;
}

static inline void kt_test_node_close(struct kt_test_node *f)
{
	kt_apply_free(f->a);
	f->a = NULL;
	kt_storage_close(f->st);
	f->st = NULL;
}

/* A node in a new /tmp/kt-<tag>-test-XXXXXX, its log signed for origin
 * (a fixed seed), storage options *opt (NULL: the defaults); opened. */
static inline struct kt_test_node *kt_test_node_new(const char *tag,
						    const char *origin,
						    const kt_storage_options *opt)
{
	struct kt_test_node *f = calloc(1, sizeof(*f));
	uint8_t seed[32];

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/kt-%s-test-XXXXXX", tag);
	assert_non_null(mkdtemp(f->dir));
	if (opt != NULL)
		f->opt = *opt;
	else
		kt_storage_options_init(&f->opt);
	f->origin = origin;
	memset(seed, 0x5a, sizeof(seed));
	assert_int_equal(kt_note_signer_from_seed(&f->signer, origin,
						  strlen(origin),
						  KT_NOTE_KEY_ED25519, seed),
			 KT_OK);
	kt_test_node_open(f);
	return f;
}

/* Closes f, removes its directory and frees it. */
static inline void kt_test_node_free(struct kt_test_node *f)
{
	kt_test_node_close(f);
	kt_test_rm_tree(f->dir);
	kt_note_signer_wipe(&f->signer);
	free(f);
}

/* kt_test_apply_run on f's apply path at its next applied index. */
static inline void kt_test_node_run(struct kt_test_node *f, uint64_t ts,
				    kt_change *ch, size_t n, const int *expect)
{
	kt_test_apply_run(f->a, &f->applied, ts, ch, n, expect);
}

/* One change, which must get code expect. */
static inline void kt_test_node_run1(struct kt_test_node *f, uint64_t ts,
				     kt_change *c, int expect)
{
	kt_test_node_run(f, ts, c, 1, &expect);
}

static inline void kt_test_node_heartbeat(struct kt_test_node *f, uint64_t ts)
{
	kt_test_node_run(f, ts, NULL, 0, NULL);
}

#endif /* KT_SERVER_TEST_UTIL_H */
