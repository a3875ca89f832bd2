/*
 * bench_verify — time of one client lookup verification on one core:
 * kt_verify_head + kt_verify_lookup, against a real small log
 * (tests/support/kt_fake_log.c), with 3 witnesses and k = 2.
 *
 *   cold, first use   empty trust state: log signature + 2 cosignatures,
 *                     last entry inclusion, VRF, map proof, opening, keys
 *   cold, advance     trust state at an older size: + consistency proof
 *   warm              the checkpoint the state already holds (byte-equal:
 *                     signatures are not re-verified)
 * and, for reference, kt_vrf_verify and one Ed25519 verification alone.
 *
 * Usage: bench_verify [iterations]   (default 300)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "kt_fake_log.h"
#include "kt_verify.h"

#define T0 UINT64_C(1767225600000)
#define ACCOUNT "tel:+15551234567"

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

typedef struct response {
	kt_fake_head fh;
	kt_bytes cons[KT_LOG_MAX_PROOF_HASHES];
	kt_bytes inc[KT_LOG_MAX_PROOF_HASHES];
	kt_read_head rh;
	kt_fake_lookup fl;
	kt_lookup_response lr;
} response;

static int build(response *x, const kt_fake_log *log, uint64_t size,
		 uint64_t from)
{
	if (kt_fake_log_head(log, size, from, 3, &x->fh) != KT_OK ||
	    kt_fake_log_lookup(log, size, ACCOUNT, &x->fl) != KT_OK)
		return 1;
	kt_log_hashes_as_bytes(x->cons, (const uint8_t (*)[KT_HASH_BYTES])x->fh.consistency,
			       x->fh.n_consistency);
	kt_log_hashes_as_bytes(x->inc, (const uint8_t (*)[KT_HASH_BYTES])x->fh.inclusion,
			       x->fh.n_inclusion);
	memset(&x->rh, 0, sizeof(x->rh));
	x->rh.checkpoint.p = x->fh.checkpoint;
	x->rh.checkpoint.len = x->fh.checkpoint_len;
	x->rh.tree_size = size;
	x->rh.consistency = x->cons;
	x->rh.n_consistency = x->fh.n_consistency;
	x->rh.last_entry.p = x->fh.last_entry;
	x->rh.last_entry.len = x->fh.last_entry_len;
	x->rh.last_entry_inclusion = x->inc;
	x->rh.n_last_entry_inclusion = x->fh.n_inclusion;
	memset(&x->lr, 0, sizeof(x->lr));
	x->lr.vrf_proof.p = x->fl.vrf_proof;
	x->lr.vrf_proof.len = sizeof(x->fl.vrf_proof);
	x->lr.map_proof.p = x->fl.map_proof;
	x->lr.map_proof.len = x->fl.map_proof_len;
	x->lr.leaf.p = x->fl.leaf;
	x->lr.leaf.len = sizeof(x->fl.leaf);
	x->lr.value.p = x->fl.value;
	x->lr.value.len = x->fl.value_len;
	x->lr.provenance.p = x->fl.provenance;
	x->lr.provenance.len = x->fl.provenance_len;
	x->lr.opening.p = x->fl.opening;
	x->lr.opening.len = sizeof(x->fl.opening);
	return 0;
}

#define BATCHES 5

/* Seconds of one head (what & 1) and / or lookup (what & 2) verification:
 * the best of BATCHES batch averages (the machine may be shared). */
static double run(const kt_trust_config *cfg, const kt_trust_state *st,
		  uint64_t now, const response *x, int iters, int what)
{
	kt_verified_head h, h0;
	kt_trust_state ns;
	kt_lookup_result res;
	double t, best = 1e9;
	int i, b, r;

	if (kt_verify_head(cfg, st, now, &x->rh, &h0, &ns, NULL) != KT_OK)
		exit(1);
	kt_trust_state_free(&ns);
	for (b = 0; b < BATCHES; b++) {
		t = now_s();
		for (i = 0; i < iters; i++) {
			r = KT_OK;
			if (what & 1) {
				r = kt_verify_head(cfg, st, now, &x->rh, &h, &ns,
						   NULL);
				kt_verified_head_free(&h);
				kt_trust_state_free(&ns);
			}
			if (r == KT_OK && (what & 2)) {
				r = kt_verify_lookup(cfg, &h0,
						     (const uint8_t *)ACCOUNT,
						     strlen(ACCOUNT), &x->lr,
						     &res, NULL);
				kt_lookup_result_free(&res);
			}
			if (r != KT_OK) {
				fprintf(stderr, "verification failed\n");
				exit(1);
			}
		}
		t = (now_s() - t) / iters;
		if (t < best)
			best = t;
	}
	kt_verified_head_free(&h0);
	return best;
}

int main(int argc, char **argv)
{
	int iters = argc > 1 ? atoi(argv[1]) : 300;
	kt_fake_log *log;
	kt_trust_config cfg;
	kt_trust_state empty, st_old, st_new;
	kt_verified_head h;
	response old, cur;
	uint8_t beta[KT_VRF_OUTPUT_BYTES], pk[32], sk[64], sig[64], msg[64] = {0};
	uint64_t t = T0, now;
	double t0, vrf, ed, cold1, cold2, warm, hc, hw, lk, dv;
	const kt_device *dev;
	unsigned i, k;

	if (sodium_init() < 0 || iters <= 0 ||
	    kt_fake_log_new(&log, t) != KT_OK)
		return 1;
	/* 1000 accounts, then ours with 3 devices, then heartbeats. */
	for (i = 0; i < 1000; i++) {
		char name[32];

		snprintf(name, sizeof(name), "user%u@example.com", i);
		if (kt_fake_log_enrol(log, name, i % 8) != KT_OK)
			return 1;
	}
	if (kt_fake_log_enrol(log, ACCOUNT, 0) != KT_OK ||
	    kt_fake_log_add(log, ACCOUNT, 0, 1) != KT_OK ||
	    kt_fake_log_add(log, ACCOUNT, 0, 2) != KT_OK ||
	    kt_fake_log_heartbeat(log) != KT_OK)
		return 1;
	for (k = 0; k < 37; k++) {
		t += 1000;
		kt_fake_log_set_time(log, t);
		if (kt_fake_log_heartbeat(log) != KT_OK)
			return 1;
	}
	now = t + 500;
	kt_trust_config_init(&cfg);
	if (kt_trust_config_set_origin(&cfg, KT_FAKE_ORIGIN,
				       strlen(KT_FAKE_ORIGIN)) != KT_OK)
		return 1;
	cfg.log_key = kt_fake_log_signer(log)->pub;
	memcpy(cfg.vrf_pk, kt_fake_log_vrf_pk(log), 32);
	for (k = 0; k < KT_FAKE_WITNESSES; k++)
		cfg.witnesses[k] = kt_fake_log_witness(log, k)->pub;
	cfg.n_witnesses = KT_FAKE_WITNESSES;
	cfg.witness_threshold = 2;
	if (kt_trust_config_check(&cfg) != KT_OK)
		return 1;
	kt_trust_state_init(&empty);
	if (build(&old, log, kt_fake_log_size(log) - 20, 0) != 0 ||
	    build(&cur, log, kt_fake_log_size(log),
		  kt_fake_log_size(log) - 20) != 0)
		return 1;
	old.rh.n_consistency = 0;
	if (kt_verify_head(&cfg, &empty, now, &old.rh, &h, &st_old, NULL) != KT_OK)
		return 1;
	kt_verified_head_free(&h);
	if (kt_verify_head(&cfg, &st_old, now, &cur.rh, &h, &st_new, NULL) !=
	    KT_OK)
		return 1;
	kt_verified_head_free(&h);

	crypto_sign_keypair(pk, sk);
	crypto_sign_detached(sig, NULL, msg, sizeof(msg), sk);
	t0 = now_s();
	for (i = 0; i < (unsigned)iters; i++)
		if (kt_vrf_verify(beta, cfg.vrf_pk, cur.fl.vrf_proof,
				  (const uint8_t *)ACCOUNT, strlen(ACCOUNT)) != KT_OK)
			return 1;
	vrf = (now_s() - t0) / iters;
	t0 = now_s();
	for (i = 0; i < (unsigned)iters; i++)
		if (crypto_sign_verify_detached(sig, msg, sizeof(msg), pk) != 0)
			return 1;
	ed = (now_s() - t0) / iters;
	dev = kt_fake_log_device(log, 0);
	t0 = now_s();
	for (i = 0; i < (unsigned)iters; i++)
		if (kt_device_validate(dev) != KT_OK)
			return 1;
	dv = (now_s() - t0) / iters;

	cur.rh.n_consistency = 0;
	cold1 = run(&cfg, &empty, now, &cur, iters, 3);
	cur.rh.n_consistency = cur.fh.n_consistency;
	cold2 = run(&cfg, &st_old, now, &cur, iters, 3);
	hc = run(&cfg, &st_old, now, &cur, iters, 1);
	lk = run(&cfg, &st_old, now, &cur, iters, 2);
	cur.rh.n_consistency = 0;
	warm = run(&cfg, &st_new, now, &cur, iters, 3);
	hw = run(&cfg, &st_new, now, &cur, iters, 1);

	printf("tree size %llu, best of %d batches of %d, one core\n",
	       (unsigned long long)kt_fake_log_size(log), BATCHES, iters);
	printf("kt_vrf_verify alone                 %8.1f us\n", vrf * 1e6);
	printf("Ed25519 verify alone                %8.1f us\n", ed * 1e6);
	printf("kt_device_validate (one device)     %8.1f us\n", dv * 1e6);
	printf("kt_verify_head cold, advance (k=2)  %8.1f us\n", hc * 1e6);
	printf("kt_verify_head warm                 %8.1f us\n", hw * 1e6);
	printf("kt_verify_lookup (3 devices)        %8.1f us\n", lk * 1e6);
	printf("head+lookup cold, first use (k=2)   %8.1f us (%.2f x VRF)\n",
	       cold1 * 1e6, cold1 / vrf);
	printf("head+lookup cold, advance (k=2)     %8.1f us (%.2f x VRF)\n",
	       cold2 * 1e6, cold2 / vrf);
	printf("head+lookup warm (same checkpoint)  %8.1f us (%.2f x VRF)\n",
	       warm * 1e6, warm / vrf);
	kt_trust_state_free(&st_old);
	kt_trust_state_free(&st_new);
	kt_fake_head_free(&old.fh);
	kt_fake_head_free(&cur.fh);
	kt_fake_lookup_free(&old.fl);
	kt_fake_lookup_free(&cur.fl);
	kt_fake_log_free(log);
	return 0;
}
