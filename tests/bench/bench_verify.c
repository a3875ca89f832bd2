/*
 * bench_verify — time of one client lookup verification on one core:
 * kt_verify_head + kt_verify_lookup, against a real small log
 * (tests/support/kt_fake_log.c: 1,000 accounts, then ours with 3 devices
 * and one with 8, then heartbeats), with 3 witnesses and k = 2.
 *
 *   cold, first use   empty trust state: log signature + 2 cosignatures,
 *                     last entry inclusion, VRF, map proof, opening, keys
 *   cold, advance     trust state at an older size: + consistency proof
 *   warm              the checkpoint the state already holds (byte-equal:
 *                     signatures are not re-verified): a cached checkpoint
 * and the parts alone: the VRF (key prepared once, as
 * kt_trust_config_set_vrf_key does; and unprepared), one Ed25519
 * verification, the device checks (the server's kt_device_validate, the
 * sender's kt_device_validate_recipient), kt_verify_lookup for 3 and 8
 * devices and with an unprepared VRF key.
 *
 * Usage:
 *   bench_verify [iterations]          timings: best of 5 batches (default
 *                                      300 iterations per batch)
 *   bench_verify --count STEP N        runs STEP N times in count_steps(),
 *                                      untimed: for instruction counts,
 *     valgrind --tool=callgrind --collect-atstart=no \
 *              --toggle-collect=count_steps bench_verify --count warm 20
 *                                      ("Collected" / N = per call)
 *   STEP: cold-first cold-advance warm head-advance lookup lookup8
 *         lookup-unprepared vrf-prepared vrf prepare ed25519 device
 *         recipient
 * Numbers: docs/BENCHMARKS.md ("client: verifying a lookup").
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
#define ACCOUNT8 "many@example.com"   /* 8 devices */
#define BATCHES 5

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

/* Everything a step needs, built once. */
typedef struct bench {
	kt_fake_log *log;
	kt_trust_config cfg;       /* VRF key prepared */
	kt_trust_config cfg_raw;   /* VRF key copied in, not prepared */
	kt_trust_state empty, st_old, st_new;
	kt_verified_head head;     /* the verified head at the log's size */
	response cur, cur8;        /* at the log's size, from size - 20 */
	uint64_t now;
	uint8_t ed_pk[32], ed_sig[64], ed_msg[64];
} bench;

static int build(response *x, const kt_fake_log *log, uint64_t size,
		 uint64_t from, const char *account)
{
	if (kt_fake_log_head(log, size, from, 3, &x->fh) != KT_OK ||
	    kt_fake_log_lookup(log, size, account, &x->fl) != KT_OK)
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

/* kt_verify_head from st (with or without the consistency proof), then,
 * if lookup, kt_verify_lookup of account against the new head. */
static int head_lookup(const bench *b, const kt_trust_state *st,
		       const response *x, int with_consistency, int lookup,
		       const char *account)
{
	kt_verified_head h;
	kt_trust_state ns;
	kt_lookup_result res;
	kt_read_head rh = x->rh;
	int r;

	if (!with_consistency)
		rh.n_consistency = 0;
	r = kt_verify_head(&b->cfg, st, b->now, &rh, &h, &ns, NULL);
	kt_trust_state_free(&ns);
	if (r == KT_OK && lookup) {
		r = kt_verify_lookup(&b->cfg, &h, (const uint8_t *)account,
				     strlen(account), &x->lr, &res, NULL);
		kt_lookup_result_free(&res);
	}
	kt_verified_head_free(&h);
	return r;
}

static int lookup_only(const bench *b, const kt_trust_config *cfg,
		       const response *x, const char *account)
{
	kt_lookup_result res;
	int r;

	r = kt_verify_lookup(cfg, &b->head, (const uint8_t *)account,
			     strlen(account), &x->lr, &res, NULL);
	kt_lookup_result_free(&res);
	return r;
}

static const char *const steps[] = {
	"cold-first", "cold-advance", "warm", "head-advance", "lookup",
	"lookup8", "lookup-unprepared", "vrf-prepared", "vrf", "prepare",
	"ed25519", "device", "recipient",
};
#define N_STEPS (sizeof(steps) / sizeof(steps[0]))

/* One call of step s; KT_OK or the failure. */
static int step(const bench *b, size_t s)
{
	uint8_t beta[KT_VRF_OUTPUT_BYTES];
	const uint8_t *alpha = (const uint8_t *)ACCOUNT;
	kt_vrf_public_key key;

	switch (s) {
	case 0: return head_lookup(b, &b->empty, &b->cur, 0, 1, ACCOUNT);
	case 1: return head_lookup(b, &b->st_old, &b->cur, 1, 1, ACCOUNT);
	case 2: return head_lookup(b, &b->st_new, &b->cur, 0, 1, ACCOUNT);
	case 3: return head_lookup(b, &b->st_old, &b->cur, 1, 0, ACCOUNT);
	case 4: return lookup_only(b, &b->cfg, &b->cur, ACCOUNT);
	case 5: return lookup_only(b, &b->cfg, &b->cur8, ACCOUNT8);
	case 6: return lookup_only(b, &b->cfg_raw, &b->cur, ACCOUNT);
	case 7: return kt_vrf_verify_prepared(beta, &b->cfg.vrf_key,
					      b->cur.fl.vrf_proof, alpha,
					      strlen(ACCOUNT));
	case 8: return kt_vrf_verify(beta, b->cfg.vrf_pk, b->cur.fl.vrf_proof,
				     alpha, strlen(ACCOUNT));
	case 9: return kt_vrf_public_key_prepare(&key, b->cfg.vrf_pk);
	case 10: return crypto_sign_verify_detached(b->ed_sig, b->ed_msg,
						    sizeof(b->ed_msg),
						    b->ed_pk) == 0 ?
			       KT_OK : KT_ERR_BAD_SIGNATURE;
	case 11: return kt_device_validate(kt_fake_log_device(b->log, 0));
	case 12: return kt_device_validate_recipient(kt_fake_log_device(b->log, 0));
	default: return KT_ERR_INVALID_ARG;
	}
}

/* Runs step s n times (the only function callgrind collects in --count). */
__attribute__((noinline)) int count_steps(const bench *b, size_t s, long n);
__attribute__((noinline)) int count_steps(const bench *b, size_t s, long n)
{
	long i;
	int r = KT_OK;

	for (i = 0; i < n && r == KT_OK; i++)
		r = step(b, s);
	return r;
}

/* Seconds of one call of step s: the best of BATCHES batch averages (the
 * machine may be shared). */
static double time_step(const bench *b, size_t s, int iters)
{
	double t, best = 1e9;
	int i;

	for (i = 0; i < BATCHES; i++) {
		t = now_s();
		if (count_steps(b, s, iters) != KT_OK) {
			fprintf(stderr, "%s failed\n", steps[s]);
			exit(1);
		}
		t = (now_s() - t) / iters;
		if (t < best)
			best = t;
	}
	return best;
}

static int make_log(bench *b)
{
	uint64_t t = T0;
	unsigned i;

	if (kt_fake_log_new(&b->log, t) != KT_OK)
		return 1;
	for (i = 0; i < 1000; i++) {
		char name[32];

		snprintf(name, sizeof(name), "user%u@example.com", i);
		if (kt_fake_log_enrol(b->log, name, i % 8) != KT_OK)
			return 1;
	}
	if (kt_fake_log_enrol(b->log, ACCOUNT, 0) != KT_OK ||
	    kt_fake_log_add(b->log, ACCOUNT, 0, 1) != KT_OK ||
	    kt_fake_log_add(b->log, ACCOUNT, 0, 2) != KT_OK ||
	    kt_fake_log_enrol(b->log, ACCOUNT8, 0) != KT_OK)
		return 1;
	for (i = 1; i < KT_FAKE_DEVICES; i++)
		if (kt_fake_log_add(b->log, ACCOUNT8, 0, i) != KT_OK)
			return 1;
	if (kt_fake_log_heartbeat(b->log) != KT_OK)
		return 1;
	for (i = 0; i < 37; i++) {
		t += 1000;
		kt_fake_log_set_time(b->log, t);
		if (kt_fake_log_heartbeat(b->log) != KT_OK)
			return 1;
	}
	b->now = t + 500;
	return 0;
}

static int setup(bench *b)
{
	const uint8_t *vrf_pk;
	kt_verified_head h;
	response old;
	uint8_t sk[64];
	uint64_t size;
	unsigned k;

	memset(b, 0, sizeof(*b));
	if (make_log(b) != 0)
		return 1;
	vrf_pk = kt_fake_log_vrf_pk(b->log);
	kt_trust_config_init(&b->cfg);
	if (kt_trust_config_set_origin(&b->cfg, KT_FAKE_ORIGIN,
				       strlen(KT_FAKE_ORIGIN)) != KT_OK)
		return 1;
	b->cfg.log_key = kt_fake_log_signer(b->log)->pub;
	for (k = 0; k < KT_FAKE_WITNESSES; k++)
		b->cfg.witnesses[k] = kt_fake_log_witness(b->log, k)->pub;
	b->cfg.n_witnesses = KT_FAKE_WITNESSES;
	b->cfg.witness_threshold = 2;
	b->cfg_raw = b->cfg;
	memcpy(b->cfg_raw.vrf_pk, vrf_pk, KT_VRF_PUBLICKEY_BYTES);
	if (kt_trust_config_set_vrf_key(&b->cfg, vrf_pk) != KT_OK ||
	    kt_trust_config_check(&b->cfg) != KT_OK ||
	    kt_trust_config_check(&b->cfg_raw) != KT_OK)
		return 1;
	kt_trust_state_init(&b->empty);
	size = kt_fake_log_size(b->log);
	if (build(&old, b->log, size - 20, 0, ACCOUNT) != 0 ||
	    build(&b->cur, b->log, size, size - 20, ACCOUNT) != 0 ||
	    build(&b->cur8, b->log, size, size - 20, ACCOUNT8) != 0)
		return 1;
	old.rh.n_consistency = 0;
	if (kt_verify_head(&b->cfg, &b->empty, b->now, &old.rh, &h, &b->st_old,
			   NULL) != KT_OK ||
	    kt_verify_head(&b->cfg, &b->st_old, b->now, &b->cur.rh, &b->head,
			   &b->st_new, NULL) != KT_OK)
		return 1;
	kt_verified_head_free(&h);
	kt_fake_head_free(&old.fh);
	kt_fake_lookup_free(&old.fl);
	crypto_sign_keypair(b->ed_pk, sk);
	crypto_sign_detached(b->ed_sig, NULL, b->ed_msg, sizeof(b->ed_msg), sk);
	return 0;
}

static void teardown(bench *b)
{
	kt_verified_head_free(&b->head);
	kt_trust_state_free(&b->st_old);
	kt_trust_state_free(&b->st_new);
	kt_fake_head_free(&b->cur.fh);
	kt_fake_head_free(&b->cur8.fh);
	kt_fake_lookup_free(&b->cur.fl);
	kt_fake_lookup_free(&b->cur8.fl);
	kt_fake_log_free(b->log);
}

static int count_mode(bench *b, const char *name, long n)
{
	size_t s;

	for (s = 0; s < N_STEPS; s++)
		if (strcmp(name, steps[s]) == 0)
			break;
	if (s == N_STEPS || n <= 0) {
		fprintf(stderr, "unknown step or count\n");
		return 2;
	}
	if (count_steps(b, s, n) != KT_OK) {
		fprintf(stderr, "%s failed\n", name);
		return 1;
	}
	printf("%s x %ld\n", name, n);
	return 0;
}

static void timing_mode(const bench *b, int iters)
{
	static const char *const label[N_STEPS] = {
		"head+lookup cold, first use (k=2)",
		"head+lookup cold, advance (k=2)",
		"head+lookup warm (cached checkpoint)",
		"kt_verify_head cold, advance (k=2)",
		"kt_verify_lookup (3 devices)",
		"kt_verify_lookup (8 devices)",
		"kt_verify_lookup (3, key unprepared)",
		"kt_vrf_verify_prepared",
		"kt_vrf_verify (prepares the key)",
		"kt_vrf_public_key_prepare",
		"Ed25519 verify alone",
		"kt_device_validate (one device)",
		"kt_device_validate_recipient (one)",
	};
	double t[N_STEPS];
	size_t s;

	for (s = 0; s < N_STEPS; s++)
		t[s] = time_step(b, s, iters);
	printf("tree size %llu, best of %d batches of %d, one core\n",
	       (unsigned long long)kt_fake_log_size(b->log), BATCHES, iters);
	for (s = 0; s < N_STEPS; s++)
		printf("%-38s %9.3f us\n", label[s], t[s] * 1e6);
}

int main(int argc, char **argv)
{
	bench b;
	int r = 0;

	if (sodium_init() < 0 || setup(&b) != 0) {
		fprintf(stderr, "setup failed\n");
		return 1;
	}
	if (argc == 4 && strcmp(argv[1], "--count") == 0)
		r = count_mode(&b, argv[2], atol(argv[3]));
	else if (argc <= 2 && (argc < 2 || atoi(argv[1]) > 0))
		timing_mode(&b, argc > 1 ? atoi(argv[1]) : 300);
	else
		r = 2;
	teardown(&b);
	return r;
}
