/*
 * kt-bench.c — micro-benchmarks of merkle/, each beside the machine's own
 * limit measured by the same program (SHA-256 of a tree node, Ed25519
 * verify), so every figure reads as a ratio.  Not a test: it asserts no
 * timing.  docs/BENCHMARKS.md records its figures and the command.
 *
 * usage: kt-bench [--quick] [--log N] [--map N[,N...]] [--seed S]
 *   --quick   small sizes (a smoke run: ctest runs it so it cannot rot)
 *   --log N   log size for the log figures (default 1,000,000)
 *   --map L   map sizes, comma separated (default 1000000,10000000)
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "kt_checkpoint.h"
#include "kt_hash.h"
#include "kt_log.h"
#include "kt_map.h"
#include "kt_note.h"
#include "kt_vrf.h"

#define MAX_MAP_SIZES 8

struct options {
	uint64_t log_size;
	uint64_t map_sizes[MAX_MAP_SIZES];
	size_t n_map_sizes;
	int quick;
};

/* Figures of the machine's limits, used for the ratios. */
struct limits {
	double sha256_node_us;   /* one SHA-256 of a 65-byte tree node */
	double ed25519_verify_us;
};

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void die(const char *what, int code)
{
	fprintf(stderr, "kt-bench: %s: %s\n", what, kt_strerror(code));
	exit(1);
}

/* Deterministic pseudo-random bytes (not for secrets): SplitMix64. */
static uint64_t rng_state = 0x6b74726169ULL;

static uint64_t rng_next(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void rng_fill(uint8_t *p, size_t n)
{
	while (n > 0) {
		uint64_t v = rng_next();
		size_t k = n < 8 ? n : 8;

		memcpy(p, &v, k);
		p += k;
		n -= k;
	}
}

static void print_row(const char *name, double us, const char *note)
{
	printf("  %-44s %12.3f us  %s\n", name, us, note != NULL ? note : "");
}

/* ---- the machine's limits ------------------------------------------- */

#define LIMIT_ROUNDS 5

/* Time of one SHA-256 of a 65-byte tree node in a chain of dependent hashes
 * (as on a tree path): the fastest of `rounds` rounds of n / rounds hashes,
 * so a burst of other work on a shared machine does not make the limit (and
 * every ratio to it) look better. */
static double node_hash_limit_us(long n, int rounds)
{
	uint8_t node[KT_HASH_BYTES * 2], out[KT_HASH_BYTES];
	double best = 0, t0, us;
	long i;
	int round;

	rng_fill(node, sizeof(node));
	for (round = 0; round < rounds; round++) {
		t0 = now_us();
		for (i = 0; i < n / rounds; i++) {
			kt_sha256_prefixed(out, 0x01, node, 32, node + 32, 32);
			node[0] ^= out[0];
		}
		us = (now_us() - t0) / (double)(n / rounds);
		if (round == 0 || us < best)
			best = us;
	}
	return best;
}

static void bench_limits(struct limits *lim, int quick)
{
	uint8_t node[KT_HASH_BYTES * 2], out[KT_HASH_BYTES];
	uint8_t pk[32], sk[64], sig[64], msg[128];
	long i, n = quick ? 20000 : 2000000;
	double t0, sodium_node_us;
	char note[64];

	lim->sha256_node_us = node_hash_limit_us(n, LIMIT_ROUNDS);
	rng_fill(node, sizeof(node));

	/* the same node through libsodium's (portable C) SHA-256, for the ratio */
	t0 = now_us();
	for (i = 0; i < n; i++) {
		crypto_hash_sha256_state st;
		uint8_t one = 0x01;

		crypto_hash_sha256_init(&st);
		crypto_hash_sha256_update(&st, &one, 1);
		crypto_hash_sha256_update(&st, node, KT_HASH_BYTES);
		crypto_hash_sha256_update(&st, node + KT_HASH_BYTES, KT_HASH_BYTES);
		crypto_hash_sha256_final(&st, out);
		node[0] ^= out[0];
	}
	sodium_node_us = (now_us() - t0) / (double)n;

	crypto_sign_keypair(pk, sk);
	rng_fill(msg, sizeof(msg));
	crypto_sign_detached(sig, NULL, msg, sizeof(msg), sk);
	n = quick ? 200 : 20000;
	t0 = now_us();
	for (i = 0; i < n; i++)
		if (crypto_sign_verify_detached(sig, msg, sizeof(msg), pk) != 0)
			die("ed25519 verify", KT_ERR_BAD_SIGNATURE);
	lim->ed25519_verify_us = (now_us() - t0) / (double)n;

	printf("machine limits (one core)\n");
	snprintf(note, sizeof(note), "(kt_hash: %s; fastest of %d rounds)",
		 kt_sha256_impl_name(), LIMIT_ROUNDS);
	print_row("SHA-256 of a 65-byte tree node", lim->sha256_node_us, note);
	printf("  %-44s %12.0f /s\n", "  = tree-node hashes per second",
	       1e6 / lim->sha256_node_us);
	snprintf(note, sizeof(note), "(%.2f x kt_hash)",
		 sodium_node_us / lim->sha256_node_us);
	print_row("  same node, libsodium SHA-256", sodium_node_us, note);
	printf("  %-44s %12.0f /s\n", "  = libsodium node hashes per second",
	       1e6 / sodium_node_us);
	print_row("Ed25519 verify (libsodium)", lim->ed25519_verify_us, "");
}

/* ---- log ------------------------------------------------------------- */

/* A store wrapper that counts reads, to show O(log n) proofs. */
struct counting_store {
	kt_log_store inner;
	uint64_t reads;
};

static int counting_get(void *ctx, unsigned level, uint64_t index,
			uint8_t out[KT_HASH_BYTES])
{
	struct counting_store *c = ctx;

	c->reads++;
	return c->inner.get(c->inner.ctx, level, index, out);
}

static int counting_put(void *ctx, unsigned level, uint64_t index,
			const uint8_t hash[KT_HASH_BYTES])
{
	struct counting_store *c = ctx;

	return c->inner.put(c->inner.ctx, level, index, hash);
}

static void bench_log(uint64_t size, const struct limits *lim, int quick)
{
	kt_log_memstore *mem = NULL;
	struct counting_store cs;
	kt_log_store store;
	kt_log log;
	uint8_t leaf[KT_HASH_BYTES], root[KT_HASH_BYTES], root1[KT_HASH_BYTES];
	uint8_t proof[KT_LOG_MAX_PROOF_HASHES][KT_HASH_BYTES];
	kt_bytes views[KT_LOG_MAX_PROOF_HASHES];
	size_t n_proof = 0, max_incl = 0, max_cons = 0;
	long i, reps = quick ? 200 : 20000;
	uint64_t idx, s1, reads_incl = 0, reads_cons = 0;
	double t0, t_append, t_incl, t_incl_v, t_cons, t_cons_v;
	char note[96];
	int r;

	r = kt_log_memstore_new(&mem);
	if (r != KT_OK)
		die("log memstore", r);
	cs.inner = kt_log_memstore_store(mem);
	cs.reads = 0;
	store.ctx = &cs;
	store.get = counting_get;
	store.put = counting_put;
	kt_log_init(&log, store);

	t0 = now_us();
	for (idx = 0; idx < size; idx++) {
		uint8_t entry[8];

		kt_store_u64be(entry, idx);
		kt_log_leaf_hash(leaf, entry, sizeof(entry));
		r = kt_log_append(&log, leaf, NULL);
		if (r != KT_OK)
			die("log append", r);
	}
	t_append = (now_us() - t0) / (double)size;
	kt_log_root(&log, root);

	/* Inclusion proofs at random indices. */
	t_incl = t_incl_v = 0;
	for (i = 0; i < reps; i++) {
		uint8_t entry[8];

		idx = rng_next() % size;
		kt_store_u64be(entry, idx);
		kt_log_leaf_hash(leaf, entry, sizeof(entry));
		cs.reads = 0;
		t0 = now_us();
		r = kt_log_prove_inclusion(&store, idx, size, proof, &n_proof);
		t_incl += now_us() - t0;
		if (r != KT_OK)
			die("prove inclusion", r);
		reads_incl = cs.reads > reads_incl ? cs.reads : reads_incl;
		max_incl = n_proof > max_incl ? n_proof : max_incl;
		kt_log_hashes_as_bytes(views, (const uint8_t(*)[KT_HASH_BYTES])proof, n_proof);
		t0 = now_us();
		r = kt_log_verify_inclusion((kt_bytes){leaf, KT_HASH_BYTES}, idx, size,
					    views, n_proof, (kt_bytes){root, KT_HASH_BYTES});
		t_incl_v += now_us() - t0;
		if (r != KT_OK)
			die("verify inclusion", r);
	}

	/* Consistency proofs from random earlier sizes. */
	t_cons = t_cons_v = 0;
	for (i = 0; i < reps; i++) {
		s1 = 1 + rng_next() % (size - 1);
		r = kt_log_root_at(&store, s1, root1);
		if (r != KT_OK)
			die("root at", r);
		cs.reads = 0;
		t0 = now_us();
		r = kt_log_prove_consistency(&store, s1, size, proof, &n_proof);
		t_cons += now_us() - t0;
		if (r != KT_OK)
			die("prove consistency", r);
		reads_cons = cs.reads > reads_cons ? cs.reads : reads_cons;
		max_cons = n_proof > max_cons ? n_proof : max_cons;
		kt_log_hashes_as_bytes(views, (const uint8_t(*)[KT_HASH_BYTES])proof, n_proof);
		t0 = now_us();
		r = kt_log_verify_consistency(s1, size, (kt_bytes){root1, KT_HASH_BYTES},
					      (kt_bytes){root, KT_HASH_BYTES}, views, n_proof);
		t_cons_v += now_us() - t0;
		if (r != KT_OK)
			die("verify consistency", r);
	}

	printf("\nlog tree (RFC 9162), %llu leaves, in-memory store\n",
	       (unsigned long long)size);
	snprintf(note, sizeof(note), "(%.2f x one node hash)", t_append / lim->sha256_node_us);
	print_row("append (leaf hash given)", t_append, note);
	snprintf(note, sizeof(note), "(<= %zu hashes, <= %llu node reads; log2 n = %.1f)",
		 max_incl, (unsigned long long)reads_incl, log2((double)size));
	print_row("inclusion proof: generate", t_incl / (double)reps, note);
	snprintf(note, sizeof(note), "(%.2f x one node hash per proof hash)",
		 t_incl_v / (double)reps / ((double)max_incl * lim->sha256_node_us));
	print_row("inclusion proof: verify", t_incl_v / (double)reps, note);
	snprintf(note, sizeof(note), "(<= %zu hashes, <= %llu node reads)", max_cons,
		 (unsigned long long)reads_cons);
	print_row("consistency proof: generate", t_cons / (double)reps, note);
	print_row("consistency proof: verify", t_cons_v / (double)reps, "");
	kt_log_memstore_free(mem);
}

/* ---- map ------------------------------------------------------------- */

static unsigned proof_depth(const uint8_t *proof, size_t len)
{
	/* kind (1) || u16 depth: see docs/PROTOCOL.md §3 */
	return len >= 3 ? ((unsigned)proof[1] << 8) | proof[2] : 0;
}

/* Rounds of the map update measurement (reps is a multiple). */
#define MAP_ROUNDS 5

/* The hash limits measured before the rounds differ by at most this much
 * (fraction of the fastest) while the machine is quiet: 1-4 % in the runs of
 * docs/BENCHMARKS.md.  A wider spread means other work shared the core (the
 * host sometimes puts this VM's two vCPUs on one core's hardware threads),
 * and the update's ratio then rises more than the hash limit does. */
#define QUIET_LIMIT_SPREAD 0.05

/* One round of map updates and the hash limit measured just before it. */
struct map_round {
	double us;       /* time of the round's updates */
	double hashes;   /* their paths' node hashes (depth + 1 each) */
	double limit_us; /* one node hash, measured before the round */
	double ratio;    /* us / (hashes * limit_us) */
};

static int round_cmp(const void *a, const void *b)
{
	double x = ((const struct map_round *)a)->ratio;
	double y = ((const struct map_round *)b)->ratio;

	return x < y ? -1 : x > y;
}

static double limit_min(const struct map_round *r)
{
	double m = r[0].limit_us;
	int k;

	for (k = 1; k < MAP_ROUNDS; k++)
		m = r[k].limit_us < m ? r[k].limit_us : m;
	return m;
}

static double limit_max(const struct map_round *r)
{
	double m = r[0].limit_us;
	int k;

	for (k = 1; k < MAP_ROUNDS; k++)
		m = r[k].limit_us > m ? r[k].limit_us : m;
	return m;
}

static void bench_map(uint64_t nkeys, int quick)
{
	kt_map_mem *mem = NULL;
	kt_map_store store;
	kt_map_entry *entries;
	uint8_t root[KT_HASH_BYTES], digest[KT_HASH_BYTES], index[KT_HASH_BYTES];
	long i, reps = quick ? 200 : 20000;
	double t0, t_load, t_prove = 0, t_verify = 0;
	struct map_round rounds[MAP_ROUNDS];
	double depth_sum = 0, size_sum = 0;
	size_t size_max = 0, *sizes;
	unsigned depth_max = 0;
	char note[128];
	int r;

	memset(rounds, 0, sizeof(rounds));
	entries = malloc(nkeys * sizeof(*entries));
	sizes = malloc((size_t)reps * sizeof(*sizes));
	if (entries == NULL || sizes == NULL)
		die("map entries", KT_ERR_NOMEM);
	for (uint64_t k = 0; k < nkeys; k++)
		rng_fill((uint8_t *)&entries[k], sizeof(entries[k]));
	kt_map_entries_sort(entries, nkeys);
	r = kt_map_mem_new(KT_MAP_MEM_LATEST_ONLY, (size_t)(nkeys * 5 / 2), &mem);
	if (r != KT_OK)
		die("map memstore", r);
	store = kt_map_mem_store(mem);
	t0 = now_us();
	r = kt_map_bulk_load(&store, 1, entries, nkeys, root);
	t_load = now_us() - t0;
	if (r != KT_OK)
		die("map bulk load", r);

	/* Proofs of random present keys: size and cost. */
	for (i = 0; i < reps; i++) {
		const kt_map_entry *e = &entries[rng_next() % nkeys];
		uint8_t *proof = NULL;
		size_t plen = 0;

		/* The key in hand, as a caller has it (not a miss on this
		 * benchmark's own 10M-entry list, charged to the map). */
		memcpy(index, e->index, sizeof(index));
		t0 = now_us();
		r = kt_map_prove(&store, 1, index, &proof, &plen);
		t_prove += now_us() - t0;
		if (r != KT_OK)
			die("map prove", r);
		t0 = now_us();
		r = kt_map_verify(root, e->index, e->digest, (kt_bytes){proof, plen});
		t_verify += now_us() - t0;
		if (r != KT_OK)
			die("map verify", r);
		sizes[i] = plen;
		size_sum += (double)plen;
		size_max = plen > size_max ? plen : size_max;
		free(proof);
	}

	/* Updates of random present keys (a new version of an account): the
	 * path's depth + 1 node hashes is the floor.  Timed in rounds, each
	 * beside its own fresh measurement of the hash limit (this shared
	 * host's speed drifts over a run); the round with the median ratio is
	 * the figure. */
	for (i = 0; i < reps; i++) {
		kt_map_entry *e = &entries[rng_next() % nkeys];
		int round = (int)(i / (reps / MAP_ROUNDS));
		uint8_t *proof = NULL;
		size_t plen = 0;
		unsigned depth;

		if (i % (reps / MAP_ROUNDS) == 0)
			rounds[round].limit_us = node_hash_limit_us(quick ? 3000 : 60000, 3);
		rng_fill(digest, sizeof(digest));
		memcpy(index, e->index, sizeof(index)); /* as for proofs */
		t0 = now_us();
		r = kt_map_update(&store, (uint64_t)i + 2, index, digest, root);
		rounds[round].us += now_us() - t0;
		if (r != KT_OK)
			die("map update", r);
		memcpy(e->digest, digest, sizeof(digest));
		r = kt_map_prove(&store, (uint64_t)i + 2, e->index, &proof, &plen);
		if (r != KT_OK)
			die("map prove", r);
		depth = proof_depth(proof, plen);
		depth_sum += depth;
		rounds[round].hashes += depth + 1;
		depth_max = depth > depth_max ? depth : depth_max;
		free(proof);
	}

	printf("\nmap (prefix tree), %llu keys, in-memory store (%.0f MiB)\n",
	       (unsigned long long)nkeys, (double)kt_map_mem_bytes(mem) / 1048576.0);
	snprintf(note, sizeof(note), "(%.2f s in all)", t_load / 1e6);
	print_row("bulk load, per key", t_load / (double)nkeys, note);
	{
		double mean_depth = depth_sum / (double)reps;
		const struct map_round *mid;
		int k;

		for (k = 0; k < MAP_ROUNDS; k++)
			rounds[k].ratio = rounds[k].us /
					  (rounds[k].hashes * rounds[k].limit_us);
		qsort(rounds, MAP_ROUNDS, sizeof(rounds[0]), round_cmp);
		mid = &rounds[MAP_ROUNDS / 2];
		snprintf(note, sizeof(note),
			 "(mean depth %.1f, max %u: %.2f x the %.1f node hashes; target <= 1.5)",
			 mean_depth, depth_max, mid->ratio, mean_depth + 1);
		print_row("update of a present key",
			  mid->us / (double)(reps / MAP_ROUNDS), note);
		printf("  %-44s %.2f .. %.2f x (hash limit %.3f .. %.3f us)\n",
		       "  ratio over the rounds", rounds[0].ratio,
		       rounds[MAP_ROUNDS - 1].ratio, limit_min(rounds),
		       limit_max(rounds));
		if (limit_max(rounds) >
		    limit_min(rounds) * (1.0 + QUIET_LIMIT_SPREAD))
			printf("  %-44s the hash limit moved %.0f %% between "
			       "rounds: rerun on a quiet machine\n",
			       "  host BUSY:",
			       100.0 * (limit_max(rounds) / limit_min(rounds) - 1.0));
	}
	print_row("proof: generate", t_prove / (double)reps, "");
	print_row("proof: verify", t_verify / (double)reps, "");
	{
		size_t k;
		double p99;

		/* Sort the sizes for a percentile (insertion sort is fine here). */
		for (k = 1; k < (size_t)reps; k++) {
			size_t v = sizes[k], j = k;

			while (j > 0 && sizes[j - 1] > v) {
				sizes[j] = sizes[j - 1];
				j--;
			}
			sizes[j] = v;
		}
		p99 = (double)sizes[(size_t)((double)reps * 0.99)];
		printf("  %-44s mean %.0f B, p99 %.0f B, max %zu B (target <= 1200 B)\n",
		       "proof size beyond the leaf", size_sum / (double)reps, p99, size_max);
	}
	kt_map_mem_free(mem);
	free(entries);
	free(sizes);
}

/* ---- VRF and notes --------------------------------------------------- */

static void bench_vrf_and_notes(const struct limits *lim, int quick)
{
	uint8_t seed[32], pk[32], sk[64], pi[80], beta[64];
	static const char account[] = "tel:+15551234567";
	kt_note_signer signer;
	kt_note_verifier verifier;
	kt_checkpoint cp;
	uint8_t *body = NULL, *note = NULL;
	size_t body_len = 0, note_len = 0;
	long i, n = quick ? 50 : 5000;
	double t0, t_prove, t_verify, t_note;
	char ratio[96];
	int r;

	memset(seed, 7, sizeof(seed));
	r = kt_vrf_keypair_from_seed(pk, sk, seed);
	if (r != KT_OK)
		die("vrf keypair", r);
	t0 = now_us();
	for (i = 0; i < n; i++) {
		r = kt_vrf_prove(pi, sk, (const uint8_t *)account, sizeof(account) - 1);
		if (r != KT_OK)
			die("vrf prove", r);
	}
	t_prove = (now_us() - t0) / (double)n;
	t0 = now_us();
	for (i = 0; i < n; i++) {
		r = kt_vrf_verify(beta, pk, pi, (const uint8_t *)account, sizeof(account) - 1);
		if (r != KT_OK)
			die("vrf verify", r);
	}
	t_verify = (now_us() - t0) / (double)n;

	r = kt_note_signer_from_seed(&signer, "bench.example/log", 17, KT_NOTE_KEY_ED25519, seed);
	if (r != KT_OK)
		die("note signer", r);
	verifier = signer.pub;
	memset(&cp, 0, sizeof(cp));
	cp.origin = (kt_bytes){(const uint8_t *)"bench.example/log", 17};
	cp.size = 1000000;
	r = kt_checkpoint_format(&cp, &body, &body_len);
	if (r == KT_OK)
		r = kt_note_sign(&signer, 0, body, body_len, &note, &note_len);
	if (r != KT_OK)
		die("checkpoint sign", r);
	t0 = now_us();
	for (i = 0; i < n; i++) {
		kt_checkpoint got;
		kt_note_sigstatus st;

		r = kt_checkpoint_open(&got, note, note_len, "bench.example/log", 17,
				       &verifier, 1, &st);
		if (r != KT_OK)
			die("checkpoint open", r);
	}
	t_note = (now_us() - t0) / (double)n;

	printf("\nECVRF-EDWARDS25519-SHA512-TAI and signed notes\n");
	snprintf(ratio, sizeof(ratio), "(%.1f x Ed25519 verify)", t_prove / lim->ed25519_verify_us);
	print_row("VRF prove", t_prove, ratio);
	snprintf(ratio, sizeof(ratio), "(%.1f x Ed25519 verify)", t_verify / lim->ed25519_verify_us);
	print_row("VRF verify", t_verify, ratio);
	snprintf(ratio, sizeof(ratio), "(%.2f x Ed25519 verify)", t_note / lim->ed25519_verify_us);
	print_row("checkpoint note: parse + verify", t_note, ratio);
	free(body);
	free(note);
	kt_note_signer_wipe(&signer);
	sodium_memzero(sk, sizeof(sk));
}

/* ---- main ------------------------------------------------------------ */

static int parse_sizes(struct options *o, const char *arg)
{
	char *copy = strdup(arg), *tok, *save = NULL;

	if (copy == NULL)
		return -1;
	o->n_map_sizes = 0;
	for (tok = strtok_r(copy, ",", &save); tok != NULL && o->n_map_sizes < MAX_MAP_SIZES;
	     tok = strtok_r(NULL, ",", &save))
		o->map_sizes[o->n_map_sizes++] = strtoull(tok, NULL, 10);
	free(copy);
	return o->n_map_sizes > 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
	struct options o = {1000000, {1000000, 10000000}, 2, 0};
	struct limits lim;
	int i;

	if (sodium_init() < 0)
		return 1;
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--quick") == 0) {
			o.quick = 1;
			o.log_size = 4096;
			o.map_sizes[0] = 4096;
			o.n_map_sizes = 1;
		} else if (strcmp(argv[i], "--log") == 0 && i + 1 < argc) {
			o.log_size = strtoull(argv[++i], NULL, 10);
		} else if (strcmp(argv[i], "--map") == 0 && i + 1 < argc) {
			if (parse_sizes(&o, argv[++i]) != 0)
				return 2;
		} else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
			rng_state = strtoull(argv[++i], NULL, 10);
		} else {
			fprintf(stderr, "usage: kt-bench [--quick] [--log N] [--map N[,N...]] [--seed S]\n");
			return 2;
		}
	}
	if (o.log_size < 2) {
		fprintf(stderr, "kt-bench: --log needs at least 2 leaves\n");
		return 2;
	}
	bench_limits(&lim, o.quick);
	bench_log(o.log_size, &lim, o.quick);
	for (size_t k = 0; k < o.n_map_sizes; k++)
		if (o.map_sizes[k] >= 2)
			bench_map(o.map_sizes[k], o.quick);
	bench_vrf_and_notes(&lim, o.quick);
	return 0;
}
