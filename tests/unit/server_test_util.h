/*
 * server_test_util.h — helpers shared by the server unit tests (included
 * after <cmocka.h>, sodium.h and the server headers a test uses; every
 * helper is static inline, so a test pays only for what it calls).
 */
#ifndef KT_SERVER_TEST_UTIL_H
#define KT_SERVER_TEST_UTIL_H

#include <pthread.h>
#include <string.h>

#include <sodium.h>

#include "kt_enc.h"
#include "kt_types.h"
#include "kt_vrf.h"
#include "node.h"

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

#endif /* KT_SERVER_TEST_UTIL_H */
