/*
 * kt-load.c — load generator for a ktd node (issue 3): populates accounts,
 * then measures device-signed updates (durable ack), lookups with full
 * proofs and a bare-RPC baseline (grpc.health.v1.Health/Check) against the
 * same server and gRPC build.  Not a test: it asserts no timing.
 * docs/BENCHMARKS.md ("ktd: load") records its figures and commands.
 *
 *   kt-load populate --conf DATA/client.conf --accounts K [options]
 *   kt-load run      --conf DATA/client.conf --accounts K [options]
 *
 * The server address, origin, log key and registrar key file come from the
 * client.conf that `ktd --dev` writes into its data directory.
 *
 * ACCOUNTS.  Account n (0 <= n < K) is "user<n>@kt-load" with one device
 * "phone" whose Ed25519 and X25519 keys are derived from --seed and n
 * (BLAKE2b keyed by BLAKE2b(seed), message "sign"/"enc" || u64 n), so a
 * later run can sign updates without any stored key.  populate enrols
 * [--first, --first + K) with registrar tokens signed by the dev
 * registrar key; an account that already exists is counted, not retried,
 * so an interrupted populate can be resumed.
 *
 * RUN.  Phases, each with its own figures: --baseline S seconds of
 * Health/Check at max throughput (closed loop, same channels and calls in
 * flight), --warmup S seconds of the mix (not reported), then --duration S
 * seconds of the mix: --updates PCT percent device-signed set_push updates
 * (a fresh push address each time), the rest Lookups at the newest tree
 * size with ReadAt.last_verified_size set to a random earlier size (below
 * the newest the generator has seen, at most --lvs-window below it), so
 * every answer carries a consistency proof as well as the VRF, map and
 * inclusion proofs.  --rate R is open loop: call i of
 * a channel is due at t0 + i * channels / R and its latency is counted
 * from that due time, not from when it was actually sent, so a saturated
 * client or server shows up as latency (no coordinated omission); --rate
 * max is closed loop with --inflight calls in flight.
 *
 * UPDATES.  The generator keeps each account's version in memory (loaded
 * from / saved to --state FILE if given; else every account is taken to be
 * at version 1, as populate leaves it) and never has two updates of one
 * account in flight.  An update refused with FAILED_PRECONDITION
 * (KT_ERR_VERSION_MISMATCH) is counted as "stale", the account's version is
 * read with a Lookup ("probe", reported apart) and the update is signed
 * again and resent.  UpdateResponse carries a signed checkpoint that
 * includes the update; the generator checks that its size is above the
 * returned log_index, so the ack latency is the time from sending to a
 * durable update in a signed checkpoint.  --presign N signs N updates (one
 * per account, at its current version) before the clock starts, so that
 * the generator's own signing does not take cpu from the server.
 *
 * FIGURES.  Per call type: OK count and rate, latency percentiles (open
 * loop: from the due time, and also from the actual send), errors by gRPC
 * status; cpu used by kt-load, by ktd (--ktd-pid) and by every other
 * process, and ktd's busiest thread (on a cpu / waiting for one).  At
 * the end one "kt-load result:" line of name=value counts over every
 * phase, for scripts; with --strict the exit status is 3 if any call
 * failed (see failed_calls), so that a smoke test can rely on it.
 *
 * THREADS.  One thread per channel (one TCP connection each); thread t
 * owns the accounts n with n % channels == t, so per-account state needs
 * no lock.  Every --verify-every'th answer also has its checkpoint
 * signature verified with the log key (0: never).
 *
 * PROOFS.  --verify-proofs N verifies every Nth Lookup answer (lookups and
 * probes) completely with the client library's verifier (kt_verify.h),
 * with the trust configuration of client.conf (log key, VRF key,
 * witnesses; max_age 30 days unless client.conf sets it): kt_verify_head
 * (log signature and origin, size, witness policy, no rollback or fork,
 * the consistency proof from last_verified_size, the last entry and its
 * inclusion, its time) then kt_verify_lookup (VRF proof, map proof of the
 * leaf or of its absence, commitment opening, value and provenance).  The
 * consistency proof needs the root at last_verified_size: each thread
 * remembers the trust states of the answers it verified (at most
 * PROOF_MEM_CAP, thinned evenly when full), and a lookup to be fully
 * verified names as last_verified_size the remembered size nearest below
 * the random one lookup_lvs chose (nearest above if none is below; 0 with
 * nothing remembered yet: the answer is then verified on its own, trust
 * on first use, with no consistency proof).  Not checked: that the value
 * is the one kt-load last wrote (updates may be in flight), update acks
 * beyond their checkpoint signature.  A failure counts as `bad` and each
 * distinct (kt_err, check) is printed once, with a count at the end.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "grpc/health/v1/health.pb-c.h"
#include "keytrail/v1/directory.pb-c.h"
#include "client_int.h"
#include "kt_checkpoint.h"
#include "kt_grpc_client.h"
#include "kt_note.h"
#include "kt_types.h"
#include "kt_verify.h"
#include "kt_vrf.h"
#include "proto_int.h"

#define M_UPDATE "/keytrail.v1.Directory/Update"
#define M_LOOKUP "/keytrail.v1.Directory/Lookup"
#define M_HEALTH "/grpc.health.v1.Health/Check"

#define MAX_CHANNELS 64
#define MAX_INFLIGHT 200000u
#define CALL_TIMEOUT_MS 30000
#define DRAIN_TIMEOUT_NS (40ull * 1000000000ull)
#define DEVICE_ID "phone"
#define TOKEN_TTL_MS (60ull * 60ull * 1000ull)
#define CONF_LINE_MAX 2048
#define PROGRESS_NS (5ull * 1000000000ull)
#define STATE_MAGIC "kt-load-state-v1"
#define PROOF_MEM_CAP 1024u          /* remembered trust states per thread */
#define PROOF_MAX_AGE_MS (30ull * 24ull * 3600ull * 1000ull)
#define MAX_FAIL_KINDS 32

/* ---- small helpers ------------------------------------------------------- */

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "kt-load: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(1);
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000ull + (uint64_t)ts.tv_nsec / 1000000ull;
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000ull),
			      .tv_nsec = (long)(ns % 1000000000ull)};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* SplitMix64: load-shaping randomness only (which account, which size),
 * never keys. */
static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t rng_below(uint64_t *s, uint64_t n)
{
	return n == 0 ? 0 : rng_next(s) % n;
}

/* ---- latency histogram (log-linear, < 1% error) -------------------------- */

/* Values in microseconds: exact below 256, then 128 sub-buckets per power
 * of two up to 2^40 us. */
#define H_LINEAR 256u
#define H_SUB_BITS 7u
#define H_SUB (1u << H_SUB_BITS)
#define H_MAX_EXP 40u
#define H_BUCKETS (H_LINEAR + (H_MAX_EXP - 8u + 1u) * H_SUB)

typedef struct hist {
	uint64_t b[H_BUCKETS];
	uint64_t n;
	uint64_t max_us;
	double sum_us;
} hist;

static unsigned ilog2_u64(uint64_t v)
{
	return 63u - (unsigned)__builtin_clzll(v);
}

static size_t h_index(uint64_t us)
{
	unsigned e;

	if (us < H_LINEAR)
		return (size_t)us;
	e = ilog2_u64(us);
	if (e > H_MAX_EXP)
		return H_BUCKETS - 1;
	return H_LINEAR + (size_t)(e - 8u) * H_SUB +
	       (size_t)((us >> (e - H_SUB_BITS)) & (H_SUB - 1u));
}

/* Middle of bucket i, in microseconds. */
static double h_value(size_t i)
{
	size_t e, m;
	double lo, w;

	if (i < H_LINEAR)
		return (double)i;
	e = (i - H_LINEAR) / H_SUB + 8u;
	m = (i - H_LINEAR) % H_SUB;
	w = (double)(1ull << (e - H_SUB_BITS));
	lo = (double)(1ull << e) + (double)m * w;
	return lo + w / 2.0;
}

static void h_add(hist *h, uint64_t us)
{
	h->b[h_index(us)]++;
	h->n++;
	h->sum_us += (double)us;
	if (us > h->max_us)
		h->max_us = us;
}

static void h_merge(hist *to, const hist *from)
{
	size_t i;

	for (i = 0; i < H_BUCKETS; i++)
		to->b[i] += from->b[i];
	to->n += from->n;
	to->sum_us += from->sum_us;
	if (from->max_us > to->max_us)
		to->max_us = from->max_us;
}

/* The q-quantile (0 < q <= 1) in milliseconds; the max is exact. */
static double h_quantile_ms(const hist *h, double q)
{
	uint64_t want, seen = 0;
	size_t i;

	if (h->n == 0)
		return 0.0;
	want = (uint64_t)((double)h->n * q + 0.999999);
	if (want == 0)
		want = 1;
	for (i = 0; i < H_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= want) {
			double v = h_value(i);

			return (v > (double)h->max_us ? (double)h->max_us : v) / 1000.0;
		}
	}
	return (double)h->max_us / 1000.0;
}

/* ---- call types and statistics ------------------------------------------ */

enum ctype { C_HEALTH, C_LOOKUP, C_UPDATE, C_ENROL, C_PROBE, C_NTYPES };

static const char *const ctype_name[C_NTYPES] = {"health", "lookup", "update",
						 "enrol", "probe"};

#define N_STATUS 17

static const char *const status_name[N_STATUS] = {
	"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
	"NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
	"FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED",
	"INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"};

typedef struct stats {
	hist lat;                    /* every call that ended, any status */
	hist lat_ok;                 /* OK calls only */
	hist lat_sent;               /* every call, from when it was sent */
	uint64_t status[N_STATUS + 1]; /* [N_STATUS]: unknown code */
	uint64_t local_err;          /* the client could not start / finish */
	uint64_t ok_in_window;       /* OK and ended before the phase end */
	uint64_t bad;                /* OK but the answer failed a check */
	uint64_t stale;              /* update: expected_version was stale */
	uint64_t exists;             /* enrol: account already there */
	uint64_t verified;           /* checkpoint signatures verified */
	uint64_t proofs;             /* lookup answers fully verified */
	uint64_t consistency;        /* ... with a consistency proof checked */
} stats;

static void stats_merge(stats *to, const stats *from)
{
	size_t i;

	h_merge(&to->lat, &from->lat);
	h_merge(&to->lat_ok, &from->lat_ok);
	h_merge(&to->lat_sent, &from->lat_sent);
	for (i = 0; i <= N_STATUS; i++)
		to->status[i] += from->status[i];
	to->local_err += from->local_err;
	to->ok_in_window += from->ok_in_window;
	to->bad += from->bad;
	to->stale += from->stale;
	to->exists += from->exists;
	to->verified += from->verified;
	to->proofs += from->proofs;
	to->consistency += from->consistency;
}

/* ---- options and shared state -------------------------------------------- */

enum pkind { P_STOP, P_HEALTH, P_MIX, P_ENROL, P_PRESIGN };

typedef struct phase {
	enum pkind kind;
	const char *name;
	double rate;                 /* calls/s over all channels; 0 = closed loop */
	uint64_t duration_ns;        /* P_ENROL: 0 (until done) */
	uint64_t t0;                 /* monotonic start, same for all threads */
} phase;

typedef struct options {
	const char *mode;            /* "populate" or "run" */
	const char *conf;
	const char *state_file;
	const char *seed;
	uint64_t accounts;
	uint64_t first;
	unsigned channels;
	unsigned inflight;           /* total, split over channels */
	double rate;                 /* 0 = max */
	double baseline_s, warmup_s, duration_s;
	unsigned updates_pct;
	unsigned verify_every;
	unsigned verify_proofs;      /* fully verify every Nth lookup; 0: never */
	uint64_t lvs_window;         /* 0: last_verified_size anywhere */
	uint64_t presign;            /* updates signed before the clock starts */
	long ktd_pid;
	int strict;                  /* exit 3 if any call failed */
} options;

/* What client.conf says. */
typedef struct client_conf {
	char server[256];
	char origin[KT_NOTE_MAX_NAME + 1];
	char log_key[1024];
	char registrar_key_file[1024];
} client_conf;

typedef struct account_state {
	uint64_t version;
	uint8_t busy;                /* an update (or its probe) is in flight */
	uint8_t has_sk;
	uint8_t sk[KT_ED25519_SK_BYTES];
} account_state;

struct worker;

/* One kind of full-verification failure (--verify-proofs). */
typedef struct fail_kind {
	int code;
	const char *check;           /* static, from kt_evidence; or NULL */
	uint64_t n;
} fail_kind;

typedef struct load {
	options o;
	client_conf cc;
	kt_note_verifier log_vk;
	kt_client_config *ccfg;      /* --verify-proofs: client.conf, parsed */
	const kt_trust_config *trust; /* &ccfg->trust, read only by threads */
	pthread_mutex_t fail_mu;
	fail_kind fails[MAX_FAIL_KINDS];
	size_t n_fails;
	uint64_t fails_other;        /* beyond MAX_FAIL_KINDS kinds */
	kt_note_signer registrar;    /* populate only */
	uint8_t seedkey[32];         /* BLAKE2b(seed) */
	account_state *acct;         /* o.accounts entries, index n - o.first */
	phase ph;
	stats total[C_NTYPES];       /* every phase so far (the result line) */
	pthread_barrier_t start, done;
	unsigned finished;           /* threads done with the phase (atomic) */
	struct worker *w;
} load;

/* One call in flight: the tag given to kt_gc_async_start. */
typedef struct call {
	struct call *next_free;
	enum ctype type;
	uint64_t acct;               /* account number */
	uint64_t due_ns;             /* latency is counted from here */
	uint64_t sent_ns;            /* when it was actually sent */
	uint64_t lvs;                /* lookup: last_verified_size sent */
	int retry;                   /* update: resent after a stale version */
	const uint8_t *pre;          /* update: presigned request, or NULL */
	size_t pre_len;
	int full;                    /* lookup / probe: fully verify the answer */
	kt_trust_state st;           /* full: the trust state at lvs (owned) */
} call;

typedef struct worker {
	load *L;
	unsigned id;
	pthread_t th;
	kt_gc *gc;
	kt_gc_async *as;
	call *calls;
	call *free_list;
	unsigned cap;                /* calls this thread may have in flight */
	uint64_t rng;
	uint64_t newest_size;        /* largest tree size seen in an answer */
	uint64_t n_answers;          /* for --verify-every */
	uint64_t n_full;             /* for --verify-proofs */
	kt_trust_state *mem;         /* verified trust states by size, ascending */
	size_t n_mem;
	uint64_t next_enrol;         /* populate: next account of this thread */
	uint64_t progress;           /* populate: accounts done (atomic) */
	uint64_t end_ns;
	uint64_t late;               /* open loop: sent > 1 ms after due */
	uint64_t unsent;             /* open loop: due but never sent */
	uint8_t *pre_arena;          /* presigned requests, PRE_SLOT bytes each */
	uint64_t *pre_acct, *pre_version;
	uint16_t *pre_len;
	size_t n_pre, next_pre;
	stats st[C_NTYPES];
} worker;

/* ---- client.conf, keys and state --------------------------------------- */

static void trim(char *s)
{
	size_t n = strlen(s);

	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' ||
			 s[n - 1] == '\t'))
		s[--n] = '\0';
}

static void conf_read(const char *path, client_conf *cc)
{
	char line[CONF_LINE_MAX];
	FILE *f = fopen(path, "r");

	if (f == NULL)
		die("%s: %s", path, strerror(errno));
	memset(cc, 0, sizeof(*cc));
	while (fgets(line, sizeof(line), f) != NULL) {
		char *eq = strchr(line, '='), *k = line, *v;

		if (line[0] == '#' || eq == NULL)
			continue;
		*eq = '\0';
		v = eq + 1;
		trim(k);
		trim(v);
		while (*v == ' ')
			v++;
		if (strcmp(k, "server") == 0)
			snprintf(cc->server, sizeof(cc->server), "%s", v);
		else if (strcmp(k, "origin") == 0)
			snprintf(cc->origin, sizeof(cc->origin), "%s", v);
		else if (strcmp(k, "log_key") == 0)
			snprintf(cc->log_key, sizeof(cc->log_key), "%s", v);
		else if (strcmp(k, "registrar_key_file") == 0)
			snprintf(cc->registrar_key_file, sizeof(cc->registrar_key_file),
				 "%s", v);
	}
	fclose(f);
	if (cc->server[0] == '\0' || cc->origin[0] == '\0' || cc->log_key[0] == '\0')
		die("%s: server, origin and log_key are required", path);
}

static void registrar_load(load *L)
{
	char buf[1024];
	FILE *f;
	size_t n;
	int r;

	if (L->cc.registrar_key_file[0] == '\0')
		die("client.conf names no registrar_key_file");
	f = fopen(L->cc.registrar_key_file, "r");
	if (f == NULL)
		die("%s: %s", L->cc.registrar_key_file, strerror(errno));
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	r = kt_note_signer_parse(&L->registrar, buf, n);
	sodium_memzero(buf, sizeof(buf));
	if (r != KT_OK)
		die("%s: %s", L->cc.registrar_key_file, kt_strerror(r));
}

static void account_name(uint64_t n, char *out, size_t cap)
{
	snprintf(out, cap, "user%" PRIu64 "@kt-load", n);
}

/* out = BLAKE2b-256 keyed by seedkey over label || u64 n (big-endian). */
static void derive(const load *L, const char *label, uint64_t n, uint8_t out[32])
{
	uint8_t msg[16];
	size_t ll = strlen(label), i;

	memcpy(msg, label, ll);
	for (i = 0; i < 8; i++)
		msg[ll + i] = (uint8_t)(n >> (56 - 8 * i));
	crypto_generichash(out, 32, msg, ll + 8, L->seedkey, sizeof(L->seedkey));
}

/* Account n's device signing key pair.  sk is secret: the caller wipes
 * it. */
static void sign_key_of(const load *L, uint64_t n, uint8_t pk[KT_ED25519_PK_BYTES],
			uint8_t sk[KT_ED25519_SK_BYTES])
{
	uint8_t s[32];

	derive(L, "sign", n, s);
	crypto_sign_seed_keypair(pk, sk, s);
	sodium_memzero(s, sizeof(s));
}

/* The device spec of account n (push address "push:<n>/0") and its
 * Ed25519 secret key.  sk is secret: the caller wipes it. */
static void device_of(const load *L, uint64_t n, kt_device *d,
		      uint8_t sk[KT_ED25519_SK_BYTES])
{
	uint8_t s[32], esk[crypto_box_SECRETKEYBYTES];

	memset(d, 0, sizeof(*d));
	d->id_len = strlen(DEVICE_ID);
	memcpy(d->id, DEVICE_ID, d->id_len);
	d->sign_pk.type = KT_SIGN_KEY_ED25519;
	sign_key_of(L, n, d->sign_pk.pk, sk);
	derive(L, "enc", n, s);
	d->enc_pk.type = KT_ENC_KEY_X25519;
	crypto_box_seed_keypair(d->enc_pk.pk, esk, s);
	d->push_len = (size_t)snprintf((char *)d->push, sizeof(d->push),
				       "push:%" PRIu64 "/0", n);
	d->kind = KT_DEVICE_PRIMARY;
	sodium_memzero(s, sizeof(s));
	sodium_memzero(esk, sizeof(esk));
}

static account_state *acct_of(load *L, uint64_t n)
{
	return &L->acct[n - L->o.first];
}

static const uint8_t *acct_sk(load *L, uint64_t n)
{
	account_state *a = acct_of(L, n);
	uint8_t pk[KT_ED25519_PK_BYTES];

	if (!a->has_sk) {
		sign_key_of(L, n, pk, a->sk);
		a->has_sk = 1;
	}
	return a->sk;
}

/* State file: magic line, first, count, then count big-endian u64
 * versions. */
static void state_load(load *L)
{
	char magic[32] = "";
	uint64_t first = 0, count = 0, i;
	uint8_t b[8];
	FILE *f;

	for (i = 0; i < L->o.accounts; i++)
		L->acct[i].version = 1;
	if (L->o.state_file == NULL)
		return;
	f = fopen(L->o.state_file, "rb");
	if (f == NULL) {
		fprintf(stderr, "kt-load: %s: %s (versions start at 1)\n",
			L->o.state_file, strerror(errno));
		return;
	}
	if (fscanf(f, "%31s %" SCNu64 " %" SCNu64 "%*c", magic, &first, &count) != 3 ||
	    strcmp(magic, STATE_MAGIC) != 0)
		die("%s: not a kt-load state file", L->o.state_file);
	for (i = 0; i < count; i++) {
		uint64_t n = first + i, v = 0;
		size_t k;

		if (fread(b, 1, 8, f) != 8)
			die("%s: truncated", L->o.state_file);
		for (k = 0; k < 8; k++)
			v = v << 8 | b[k];
		if (n >= L->o.first && n - L->o.first < L->o.accounts)
			acct_of(L, n)->version = v;
	}
	fclose(f);
}

static void state_save(load *L)
{
	char tmp[1100];
	uint64_t i;
	uint8_t b[8];
	FILE *f;
	size_t k;

	if (L->o.state_file == NULL)
		return;
	snprintf(tmp, sizeof(tmp), "%s.tmp", L->o.state_file);
	f = fopen(tmp, "wb");
	if (f == NULL)
		die("%s: %s", tmp, strerror(errno));
	fprintf(f, "%s %" PRIu64 " %" PRIu64 "\n", STATE_MAGIC, L->o.first,
		L->o.accounts);
	for (i = 0; i < L->o.accounts; i++) {
		for (k = 0; k < 8; k++)
			b[k] = (uint8_t)(L->acct[i].version >> (56 - 8 * k));
		if (fwrite(b, 1, 8, f) != 8)
			die("%s: write failed", tmp);
	}
	if (fclose(f) != 0 || rename(tmp, L->o.state_file) != 0)
		die("%s: %s", L->o.state_file, strerror(errno));
}

/* ---- requests ------------------------------------------------------------ */

/* What an encoder wrote into w (r: its result), copied to out; returns
 * the length, or 0 on failure.  Frees w. */
static size_t wbuf_out(kt_wbuf *w, int r, uint8_t *out)
{
	uint8_t *p = NULL;
	size_t n = 0;

	if (r != KT_OK || kt_wbuf_take(w, &p, &n) != KT_OK)
		n = 0;
	else
		memcpy(out, p, n);
	kt_wbuf_free(w);
	free(p);
	return n;
}

/* A typed key, a signature, an update op through the fixed encoders, into
 * out (cap bytes); each returns the length or 0 on failure. */
static size_t enc_sign_key(const kt_sign_key *k, uint8_t *out, size_t cap)
{
	kt_wbuf w;

	kt_wbuf_init(&w, cap);
	return wbuf_out(&w, kt_sign_key_encode(&w, k), out);
}

static size_t enc_signature(const kt_signature *s, uint8_t *out, size_t cap)
{
	kt_wbuf w;

	kt_wbuf_init(&w, cap);
	return wbuf_out(&w, kt_signature_encode(&w, s), out);
}

static size_t enc_op(const kt_update_op *op, uint8_t *out, size_t cap)
{
	kt_wbuf w;

	kt_wbuf_init(&w, cap);
	return wbuf_out(&w, kt_update_op_encode(&w, op), out);
}

/* Signs the message that w's builder wrote, with sk. */
static int sign_wbuf(kt_wbuf *w, const uint8_t *sk, kt_signature *sig)
{
	uint8_t *msg = NULL;
	size_t len = 0;
	int r;

	r = kt_wbuf_take(w, &msg, &len);
	if (r == KT_OK)
		r = kt_sig_sign(sig, sk, msg, len);
	free(msg);
	return r;
}

/* Packs req into out (cap bytes); returns the length or 0. */
static size_t pack_update(const Keytrail__V1__UpdateRequest *req, uint8_t *out,
			  size_t cap)
{
	size_t n = keytrail__v1__update_request__get_packed_size(req);

	if (n > cap)
		return 0;
	return keytrail__v1__update_request__pack(req, out);
}

#define REQ_MAX 4096

/* Enrolment of account n's device with a token of the dev registrar. */
static size_t req_enrol(load *L, uint64_t n, uint8_t *out)
{
	Keytrail__V1__UpdateRequest req = KEYTRAIL__V1__UPDATE_REQUEST__INIT;
	Keytrail__V1__RegistrarToken tok = KEYTRAIL__V1__REGISTRAR_TOKEN__INIT;
	uint8_t opb[KT_UPDATE_OP_MAX_BYTES], rkb[KT_SIGN_KEY_BYTES];
	uint8_t sigb[KT_SIGNATURE_BYTES], sk[KT_ED25519_SK_BYTES];
	char name[64];
	kt_update_op op;
	kt_sign_key rk;
	kt_signature sig;
	kt_wbuf w;
	uint64_t expiry = wall_ms() + TOKEN_TTL_MS;
	size_t len = 0;

	account_name(n, name, sizeof(name));
	memset(&op, 0, sizeof(op));
	op.op = KT_OP_ENROL;
	device_of(L, n, &op.device, sk);
	sodium_memzero(sk, sizeof(sk));
	kt_wbuf_init(&w, KT_REGISTRAR_TOKEN_MESSAGE_MAX_BYTES);
	if (kt_registrar_token_message(&w, (const uint8_t *)name, strlen(name),
				       &op.device, expiry) != KT_OK ||
	    sign_wbuf(&w, L->registrar.sk, &sig) != KT_OK)
		goto out;
	rk.type = KT_SIGN_KEY_ED25519;
	memcpy(rk.pk, L->registrar.pub.pk, KT_ED25519_PK_BYTES);
	tok.registrar_key.data = rkb;
	tok.registrar_key.len = enc_sign_key(&rk, rkb, sizeof(rkb));
	tok.expiry_ms = expiry;
	tok.signature.data = sigb;
	tok.signature.len = enc_signature(&sig, sigb, sizeof(sigb));
	req.account.data = (uint8_t *)name;
	req.account.len = strlen(name);
	req.operation.data = opb;
	req.operation.len = enc_op(&op, opb, sizeof(opb));
	req.token = &tok;
	if (tok.registrar_key.len != 0 && tok.signature.len != 0 && req.operation.len != 0)
		len = pack_update(&req, out, REQ_MAX);
out:
	kt_wbuf_free(&w);
	return len;
}

/* A set_push by account n's device, signed over its current version. */
static size_t req_set_push(load *L, uint64_t n, uint64_t *rng, uint8_t *out)
{
	Keytrail__V1__UpdateRequest req = KEYTRAIL__V1__UPDATE_REQUEST__INIT;
	uint8_t opb[KT_UPDATE_OP_MAX_BYTES], sigb[KT_SIGNATURE_BYTES];
	uint64_t version = acct_of(L, n)->version;
	char name[64];
	kt_update_op op;
	kt_signature sig;
	kt_wbuf w;
	size_t len = 0;

	account_name(n, name, sizeof(name));
	memset(&op, 0, sizeof(op));
	op.op = KT_OP_SET_PUSH;
	op.device_id_len = strlen(DEVICE_ID);
	memcpy(op.device_id, DEVICE_ID, op.device_id_len);
	/* A fresh address every time: setting the same one is a no-op the
	 * server refuses. */
	op.push_len = (size_t)snprintf((char *)op.push, sizeof(op.push),
				       "push:%" PRIu64 "/%016" PRIx64, n, rng_next(rng));
	kt_wbuf_init(&w, KT_UPDATE_MESSAGE_MAX_BYTES);
	if (kt_update_message(&w, (const uint8_t *)name, strlen(name), &op,
			      version) != KT_OK ||
	    sign_wbuf(&w, acct_sk(L, n), &sig) != KT_OK)
		goto out;
	req.account.data = (uint8_t *)name;
	req.account.len = strlen(name);
	req.operation.data = opb;
	req.operation.len = enc_op(&op, opb, sizeof(opb));
	req.expected_version = version;
	req.device_id.data = (uint8_t *)DEVICE_ID;
	req.device_id.len = strlen(DEVICE_ID);
	req.signature.data = sigb;
	req.signature.len = enc_signature(&sig, sigb, sizeof(sigb));
	if (req.operation.len != 0 && req.signature.len != 0)
		len = pack_update(&req, out, REQ_MAX);
out:
	kt_wbuf_free(&w);
	return len;
}

static size_t req_lookup(uint64_t n, uint64_t lvs, uint8_t *out)
{
	Keytrail__V1__LookupRequest req = KEYTRAIL__V1__LOOKUP_REQUEST__INIT;
	Keytrail__V1__ReadAt at = KEYTRAIL__V1__READ_AT__INIT;
	char name[64];

	account_name(n, name, sizeof(name));
	at.tree_size = 0;
	at.last_verified_size = lvs;
	req.at = &at;
	req.account.data = (uint8_t *)name;
	req.account.len = strlen(name);
	if (keytrail__v1__lookup_request__get_packed_size(&req) > REQ_MAX)
		return 0;
	return keytrail__v1__lookup_request__pack(&req, out);
}

/* ---- answers --------------------------------------------------------------- */

/* Parses the body of a checkpoint note (up to its blank line); with
 * verify, checks the log's signature too.  Returns KT_OK with *size. */
static int checkpoint_size(const load *L, const uint8_t *note, size_t len,
			   int verify, uint64_t *size)
{
	kt_checkpoint cp;
	kt_note_sigstatus stv;
	size_t i;
	int r;

	*size = 0;
	if (verify) {
		r = kt_checkpoint_open(&cp, note, len, L->cc.origin,
				       strlen(L->cc.origin), &L->log_vk, 1, &stv);
		if (r == KT_OK && !stv.verified)
			r = KT_ERR_NOTE_NO_VERIFIED_SIG;
	} else {
		r = KT_ERR_CHECKPOINT_MALFORMED;
		for (i = 0; i + 1 < len; i++)
			if (note[i] == '\n' && note[i + 1] == '\n') {
				r = kt_checkpoint_parse(&cp, note, i + 1);
				break;
			}
	}
	if (r == KT_OK)
		*size = cp.size;
	return r;
}

static int want_verify(worker *w)
{
	unsigned every = w->L->o.verify_every;

	return every != 0 && (w->n_answers++ % every) == 0;
}

/* --verify-proofs: is the next lookup one to verify fully? */
static int want_full(worker *w)
{
	unsigned every = w->L->o.verify_proofs;

	return every != 0 && (w->n_full++ % every) == 0;
}

/* Index of the first remembered state whose size is >= size (n_mem if
 * none). */
static size_t mem_lower(const worker *w, uint64_t size)
{
	size_t lo = 0, hi = w->n_mem;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (w->mem[mid].verified.size < size)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The remembered state nearest below target (or at it), else the nearest
 * above; NULL when nothing is remembered. */
static const kt_trust_state *mem_pick(const worker *w, uint64_t target)
{
	size_t i = mem_lower(w, target);

	if (w->n_mem == 0)
		return NULL;
	if (i < w->n_mem && w->mem[i].verified.size == target)
		return &w->mem[i];
	return i > 0 ? &w->mem[i - 1] : &w->mem[0];
}

/* Keeps every other remembered state (and always the newest). */
static void mem_thin(worker *w)
{
	size_t i, k = 0;

	for (i = 0; i < w->n_mem; i++) {
		if (i % 2 == 1 || i + 1 == w->n_mem)
			w->mem[k++] = w->mem[i];
		else
			kt_trust_state_free(&w->mem[i]);
	}
	w->n_mem = k;
}

/* Remembers *st (a state kt_verify_head made), taking what it owns; *st is
 * empty afterwards.  A size already remembered is not added again. */
static void mem_add(worker *w, kt_trust_state *st)
{
	size_t i;

	if (w->mem == NULL) {
		w->mem = calloc(PROOF_MEM_CAP, sizeof(*w->mem));
		if (w->mem == NULL)
			die("out of memory");
	}
	i = mem_lower(w, st->verified.size);
	if (i < w->n_mem && w->mem[i].verified.size == st->verified.size) {
		kt_trust_state_free(st);
		return;
	}
	if (w->n_mem == PROOF_MEM_CAP) {
		mem_thin(w);
		i = mem_lower(w, st->verified.size);
	}
	memmove(&w->mem[i + 1], &w->mem[i], (w->n_mem - i) * sizeof(*w->mem));
	w->mem[i] = *st;
	w->n_mem++;
	kt_trust_state_init(st);
}

static void mem_free(worker *w)
{
	size_t i;

	for (i = 0; i < w->n_mem; i++)
		kt_trust_state_free(&w->mem[i]);
	free(w->mem);
	w->mem = NULL;
	w->n_mem = 0;
}

/* Counts a full-verification failure; prints the first of each kind
 * (code, check) to stderr. */
static void fail_note(load *L, const call *c, uint64_t size, int code,
		      const kt_evidence *ev)
{
	const char *check = ev->code != KT_OK ? ev->check : NULL;
	char name[64];
	size_t i;

	pthread_mutex_lock(&L->fail_mu);
	for (i = 0; i < L->n_fails; i++)
		if (L->fails[i].code == code &&
		    (L->fails[i].check == check ||
		     (check != NULL && L->fails[i].check != NULL &&
		      strcmp(L->fails[i].check, check) == 0)))
			break;
	if (i < L->n_fails) {
		L->fails[i].n++;
	} else if (L->n_fails == MAX_FAIL_KINDS) {
		L->fails_other++;
	} else {
		L->fails[L->n_fails].code = code;
		L->fails[L->n_fails].check = check;
		L->fails[L->n_fails].n = 1;
		L->n_fails++;
		account_name(c->acct, name, sizeof(name));
		fprintf(stderr,
			"kt-load: %s of %s: answer at size %" PRIu64
			" (last_verified_size %" PRIu64 ") failed verification: %s"
			" (check %s): %s\n",
			ctype_name[c->type], name, size, c->lvs, kt_errname(code),
			check != NULL ? check : "-", kt_strerror(code));
	}
	pthread_mutex_unlock(&L->fail_mu);
}

/* Prints the count of each kind of full-verification failure. */
static void fail_report(load *L)
{
	size_t i;

	for (i = 0; i < L->n_fails; i++)
		printf("proof verification failed: %s (check %s) x %" PRIu64 "\n",
		       kt_errname(L->fails[i].code),
		       L->fails[i].check != NULL ? L->fails[i].check : "-", L->fails[i].n);
	if (L->fails_other != 0)
		printf("proof verification failed: %" PRIu64 " more of other kinds\n",
		       L->fails_other);
}

/* Verifies a Lookup answer completely (kt_verify_head from c->st, then
 * kt_verify_lookup for c's account); on KT_OK remembers the new trust
 * state and sets *consistency when a consistency proof from a non-empty
 * state was checked.  Returns KT_OK or the verifier's code (*ev: what
 * failed). */
static int full_verify(worker *w, const call *c, const Keytrail__V1__LookupResponse *resp,
		       int *consistency, kt_evidence *ev)
{
	const kt_trust_config *trust = w->L->trust;
	kt_proto_head ph;
	kt_verified_head head;
	kt_trust_state ns;
	kt_lookup_response lr;
	kt_lookup_result res;
	char name[64];
	int r;

	*consistency = 0;
	memset(&ph, 0, sizeof(ph));
	memset(&head, 0, sizeof(head));
	kt_trust_state_init(&ns);
	kt_lookup_result_init(&res);
	account_name(c->acct, name, sizeof(name));
	r = kt_proto_head_map(resp->head, &ph);
	if (r != KT_OK)
		goto out;
	r = kt_verify_head(trust, &c->st, wall_ms(), &ph.rh, &head, &ns, ev);
	if (r != KT_OK)
		goto out;
	lr.vrf_proof = kt_proto_bytes(&resp->vrf_proof);
	lr.map_proof = kt_proto_bytes(&resp->map_proof);
	lr.leaf = kt_proto_bytes(&resp->leaf);
	lr.value = kt_proto_bytes(&resp->value);
	lr.provenance = kt_proto_bytes(&resp->provenance);
	lr.opening = kt_proto_bytes(&resp->opening);
	r = kt_verify_lookup(trust, &head, (const uint8_t *)name, strlen(name), &lr, &res,
			     ev);
	if (r != KT_OK)
		goto out;
	*consistency = c->st.verified.size != 0;
	mem_add(w, &ns);
out:
	kt_lookup_result_free(&res);
	kt_verified_head_free(&head);
	kt_trust_state_free(&ns);
	kt_proto_head_free(&ph);
	return r;
}

/* Checks a Lookup answer; returns 0 if good, with the leaf's version (0 if
 * the account does not exist).  A fully verified answer (c->full) has its
 * signature checked by full_verify, not here. */
static int check_lookup(worker *w, call *c, const kt_gc_result *res, uint64_t *version)
{
	Keytrail__V1__LookupResponse *r;
	kt_map_leaf leaf;
	kt_evidence ev;
	uint64_t size = 0;
	int sig = want_verify(w), verify = sig && !c->full, bad = 0, cons = 0, e;

	*version = 0;
	r = keytrail__v1__lookup_response__unpack(NULL, res->body_len, res->body);
	if (r == NULL || r->head == NULL)
		bad = 1;
	else if (checkpoint_size(w->L, r->head->checkpoint.data, r->head->checkpoint.len,
				 verify, &size) != KT_OK || size != r->head->tree_size)
		bad = 1;
	else if (r->vrf_proof.len != KT_VRF_PROOF_BYTES || r->map_proof.len == 0 ||
		 r->head->last_entry.len == 0)
		bad = 1;
	else if (c->lvs != 0 && c->lvs < size && r->head->n_consistency == 0)
		bad = 1;
	else if (r->leaf.len != 0 &&
		 kt_map_leaf_decode(&leaf, r->leaf.data, r->leaf.len) != KT_OK)
		bad = 1;
	if (!bad && c->full) {
		kt_evidence_init(&ev);
		e = full_verify(w, c, r, &cons, &ev);
		if (e != KT_OK) {
			fail_note(w->L, c, size, e, &ev);
			bad = 1;
		} else {
			w->st[c->type].proofs++;
			w->st[c->type].consistency += (uint64_t)cons;
		}
		kt_evidence_free(&ev);
	}
	if (!bad) {
		if (sig || c->full)
			w->st[c->type].verified++;
		if (size > w->newest_size)
			w->newest_size = size;
		if (r->leaf.len != 0)
			*version = leaf.version;
	}
	if (r != NULL)
		keytrail__v1__lookup_response__free_unpacked(r, NULL);
	return bad;
}

/* Checks an Update answer (enrol or set_push): a checkpoint that includes
 * the update.  Returns 0 if good, with the new version. */
static int check_update(worker *w, call *c, const kt_gc_result *res, uint64_t *version)
{
	Keytrail__V1__UpdateResponse *r;
	uint64_t size = 0;
	int verify = want_verify(w), bad = 0;

	*version = 0;
	r = keytrail__v1__update_response__unpack(NULL, res->body_len, res->body);
	if (r == NULL)
		bad = 1;
	else if (checkpoint_size(w->L, r->checkpoint.data, r->checkpoint.len, verify,
				 &size) != KT_OK || size <= r->log_index || r->version == 0)
		bad = 1;
	if (!bad) {
		if (verify)
			w->st[c->type].verified++;
		if (size > w->newest_size)
			w->newest_size = size;
		*version = r->version;
	}
	if (r != NULL)
		keytrail__v1__update_response__free_unpacked(r, NULL);
	return bad;
}

/* ---- sending ----------------------------------------------------------------- */

static call *call_get(worker *w)
{
	call *c = w->free_list;

	if (c != NULL)
		w->free_list = c->next_free;
	return c;
}

static void call_put(worker *w, call *c)
{
	kt_trust_state_free(&c->st);
	c->full = 0;
	c->next_free = w->free_list;
	w->free_list = c;
}

/* last_verified_size of a lookup: a random size below the newest one
 * seen, at most --lvs-window below it (0 when none was seen yet). */
static uint64_t lookup_lvs(worker *w)
{
	uint64_t newest = w->newest_size, lo = 1;

	if (newest < 2)
		return 0;
	if (w->L->o.lvs_window != 0 && newest - 1 > w->L->o.lvs_window)
		lo = newest - w->L->o.lvs_window;
	return lo + rng_below(&w->rng, newest - lo);
}

/* Starts c (its type, acct, due_ns set); on a local failure counts it and
 * frees c.  Returns 0 if started. */
static int call_start(worker *w, call *c)
{
	uint8_t req[REQ_MAX];
	const char *method;
	const kt_trust_state *st;
	size_t len = 0;
	int r;

	kt_trust_state_free(&c->st);
	c->full = 0;
	switch (c->type) {
	case C_HEALTH:
		method = M_HEALTH;
		break;
	case C_LOOKUP:
		method = M_LOOKUP;
		c->lvs = lookup_lvs(w);
		c->full = want_full(w);
		if (c->full) {
			/* The consistency proof needs the root at lvs. */
			st = mem_pick(w, c->lvs);
			c->lvs = st != NULL ? st->verified.size : 0;
			if (st != NULL && kt_trust_state_copy(&c->st, st) != KT_OK)
				die("out of memory");
		}
		len = req_lookup(c->acct, c->lvs, req);
		break;
	case C_PROBE:
		method = M_LOOKUP;
		c->lvs = 0;
		c->full = want_full(w);
		len = req_lookup(c->acct, 0, req);
		break;
	case C_UPDATE:
		method = M_UPDATE;
		if (c->pre != NULL) {
			memcpy(req, c->pre, c->pre_len);
			len = c->pre_len;
			c->pre = NULL;       /* a retry is signed afresh */
		} else {
			len = req_set_push(w->L, c->acct, &w->rng, req);
		}
		break;
	case C_ENROL:
	default:
		method = M_UPDATE;
		len = req_enrol(w->L, c->acct, req);
		break;
	}
	c->sent_ns = mono_ns();
	if (c->type != C_HEALTH && len == 0) {
		r = KT_ERR_INTERNAL;
	} else {
		r = kt_gc_async_start(w->as, method, req, len, NULL, CALL_TIMEOUT_MS, c);
	}
	if (r != KT_OK) {
		w->st[c->type].local_err++;
		if (c->type == C_UPDATE || c->type == C_PROBE)
			acct_of(w->L, c->acct)->busy = 0;
		if (c->type == C_ENROL)
			__atomic_add_fetch(&w->progress, 1, __ATOMIC_RELAXED);
		call_put(w, c);
		return -1;
	}
	return 0;
}

/* A random account of this thread; for updates one with none in flight.
 * Returns 0 and *n, or -1 if none was found in a few tries. */
static int pick_account(worker *w, int for_update, uint64_t *n)
{
	const options *o = &w->L->o;
	uint64_t per = (o->accounts + o->channels - 1 - w->id) / o->channels;
	int tries;

	if (per == 0)
		return -1;
	for (tries = 0; tries < 16; tries++) {
		uint64_t k = o->first + w->id + o->channels * rng_below(&w->rng, per);

		if (!for_update || !acct_of(w->L, k)->busy) {
			*n = k;
			return 0;
		}
	}
	return -1;
}

/* ---- presigned updates ------------------------------------------------------ */

#define PRE_SLOT 512u

/* Signs w's share of --presign set_push updates, each for a different
 * account of this thread at its current version, chosen at random. */
static void presign(worker *w)
{
	load *L = w->L;
	const options *o = &L->o;
	uint64_t per = (o->accounts + o->channels - 1 - w->id) / o->channels;
	uint64_t want = o->presign / o->channels + (w->id < o->presign % o->channels ? 1 : 0);
	uint64_t *idx, i;
	uint8_t req[REQ_MAX];

	if (want > per)
		want = per;
	w->n_pre = w->next_pre = 0;
	if (want == 0)
		return;
	idx = malloc(per * sizeof(*idx));
	w->pre_arena = malloc(want * PRE_SLOT);
	w->pre_acct = malloc(want * sizeof(*w->pre_acct));
	w->pre_version = malloc(want * sizeof(*w->pre_version));
	w->pre_len = malloc(want * sizeof(*w->pre_len));
	if (idx == NULL || w->pre_arena == NULL || w->pre_acct == NULL ||
	    w->pre_version == NULL || w->pre_len == NULL)
		die("out of memory presigning %" PRIu64 " updates", want);
	for (i = 0; i < per; i++)
		idx[i] = i;
	for (i = 0; i < want; i++) {
		/* partial Fisher-Yates: a random account not taken yet */
		uint64_t j = i + rng_below(&w->rng, per - i), t = idx[i], n;
		size_t len;

		idx[i] = idx[j];
		idx[j] = t;
		n = o->first + w->id + o->channels * idx[i];
		len = req_set_push(L, n, &w->rng, req);
		if (len == 0 || len > PRE_SLOT)
			die("presign: cannot build an update for account %" PRIu64, n);
		memcpy(w->pre_arena + w->n_pre * PRE_SLOT, req, len);
		w->pre_acct[w->n_pre] = n;
		w->pre_version[w->n_pre] = acct_of(L, n)->version;
		w->pre_len[w->n_pre] = (uint16_t)len;
		w->n_pre++;
	}
	free(idx);
}

static void presign_free(worker *w)
{
	free(w->pre_arena);
	free(w->pre_acct);
	free(w->pre_version);
	free(w->pre_len);
	w->pre_arena = NULL;
	w->pre_acct = w->pre_version = NULL;
	w->pre_len = NULL;
	w->n_pre = w->next_pre = 0;
}

/* Gives c the next presigned update whose account is free and still at
 * the version it was signed for.  Returns 0, or -1 if there is none. */
static int take_presigned(worker *w, call *c)
{
	while (w->next_pre < w->n_pre) {
		size_t i = w->next_pre++;
		account_state *a = acct_of(w->L, w->pre_acct[i]);

		if (a->busy || a->version != w->pre_version[i])
			continue;
		c->acct = w->pre_acct[i];
		c->pre = w->pre_arena + i * PRE_SLOT;
		c->pre_len = w->pre_len[i];
		a->busy = 1;
		return 0;
	}
	return -1;
}

/* Starts the next call of the phase, due at due_ns.  Returns 0 if started,
 * 1 if there is nothing more to send (populate done), -1 on a local
 * failure or when no account was free. */
static int start_next(worker *w, uint64_t due_ns)
{
	load *L = w->L;
	call *c = call_get(w);
	uint64_t n = 0;

	if (c == NULL)
		return -1;
	memset(c, 0, sizeof(*c));
	c->due_ns = due_ns;
	switch (L->ph.kind) {
	case P_HEALTH:
		c->type = C_HEALTH;
		break;
	case P_ENROL:
		if (w->next_enrol >= L->o.first + L->o.accounts) {
			call_put(w, c);
			return 1;
		}
		c->type = C_ENROL;
		c->acct = w->next_enrol;
		w->next_enrol += L->o.channels;
		break;
	case P_MIX:
	default:
		c->type = rng_below(&w->rng, 100) < L->o.updates_pct ? C_UPDATE : C_LOOKUP;
		if (c->type == C_UPDATE && take_presigned(w, c) == 0)
			break;
		if (pick_account(w, c->type == C_UPDATE, &n) != 0) {
			w->st[c->type].local_err++;
			call_put(w, c);
			return -1;
		}
		c->acct = n;
		if (c->type == C_UPDATE)
			acct_of(L, n)->busy = 1;
		break;
	}
	return call_start(w, c);
}

/* ---- completions -------------------------------------------------------------- */

static int is_version_mismatch(const kt_gc_result *res)
{
	return res->status == 9 /* FAILED_PRECONDITION */ && res->details != NULL &&
	       strstr(res->details, "VERSION_MISMATCH") != NULL;
}

static int is_account_exists(const kt_gc_result *res)
{
	return res->status == 9 && res->details != NULL &&
	       strstr(res->details, "ACCOUNT_EXISTS") != NULL;
}

static void record(worker *w, call *c, const kt_gc_result *res, uint64_t now, int ok)
{
	stats *s = &w->st[c->type];
	uint64_t us = now > c->due_ns ? (now - c->due_ns) / 1000u : 0;
	int st = res->status;

	h_add(&s->lat, us);
	h_add(&s->lat_sent, now > c->sent_ns ? (now - c->sent_ns) / 1000u : 0);
	if (ok)
		h_add(&s->lat_ok, us);
	s->status[st >= 0 && st < N_STATUS ? st : N_STATUS]++;
	if (ok && now <= w->end_ns)
		s->ok_in_window++;
}

static void on_complete(worker *w, call *c, const kt_gc_result *res)
{
	load *L = w->L;
	uint64_t now = mono_ns(), version = 0;
	account_state *a = (c->type == C_UPDATE || c->type == C_PROBE || c->type == C_ENROL)
				   ? acct_of(L, c->acct)
				   : NULL;
	int bad = 0;

	if (res->status == 0) {
		if (c->type == C_LOOKUP || c->type == C_PROBE)
			bad = check_lookup(w, c, res, &version);
		else if (c->type == C_UPDATE || c->type == C_ENROL)
			bad = check_update(w, c, res, &version);
		if (bad)
			w->st[c->type].bad++;
	}
	record(w, c, res, now, res->status == 0 && !bad);
	switch (c->type) {
	case C_UPDATE:
		if (res->status == 0 && !bad) {
			a->version = version;
		} else if (is_version_mismatch(res)) {
			/* Read the current version, then sign again. */
			w->st[C_UPDATE].stale++;
			c->type = C_PROBE;
			c->due_ns = now;
			(void)call_start(w, c); /* on failure it freed c, cleared busy */
			return;
		}
		a->busy = 0;
		break;
	case C_PROBE:
		if (res->status == 0 && !bad && version != 0) {
			a->version = version;
			c->type = C_UPDATE;
			c->retry = 1;
			c->due_ns = now;
			(void)call_start(w, c);
			return;
		}
		a->busy = 0;
		break;
	case C_ENROL:
		if (res->status == 0 && !bad)
			a->version = version;
		else if (is_account_exists(res))
			w->st[C_ENROL].exists++;
		__atomic_add_fetch(&w->progress, 1, __ATOMIC_RELAXED);
		break;
	default:
		break;
	}
	call_put(w, c);
}

/* Waits up to timeout_ms for one completion and handles it, then handles
 * whatever else is ready.  Returns the number handled. */
static unsigned poll_completions(worker *w, int timeout_ms)
{
	kt_gc_result res;
	unsigned handled = 0;
	void *tag = NULL;
	int r;

	memset(&res, 0, sizeof(res));
	for (;;) {
		r = kt_gc_async_next(w->as, handled == 0 ? timeout_ms : 0, &tag, &res);
		if (r < 0)
			die("completion queue: %s", kt_strerror(r));
		if (r == 0)
			break;
		on_complete(w, (call *)tag, &res);
		handled++;
		if (handled >= 256)
			break;
	}
	kt_gc_result_clear(&res);
	return handled;
}

/* ---- one phase on one thread ------------------------------------------------ */

static int ms_until(uint64_t now, uint64_t t)
{
	uint64_t d = t > now ? t - now : 0;
	uint64_t ms = (d + 999999u) / 1000000u;

	return ms > 100 ? 100 : (int)(ms == 0 ? 1 : ms);
}

static void run_phase(worker *w)
{
	load *L = w->L;
	const phase *ph = &L->ph;
	uint64_t now, next, interval = 0, drain_end;
	int done = 0;

	memset(w->st, 0, sizeof(w->st));
	w->late = w->unsent = 0;
	w->end_ns = ph->duration_ns != 0 ? ph->t0 + ph->duration_ns : UINT64_MAX;
	if (ph->rate > 0)
		interval = (uint64_t)(1e9 * (double)L->o.channels / ph->rate);
	next = ph->t0;
	now = mono_ns();
	if (now < ph->t0)
		sleep_ns(ph->t0 - now);
	for (;;) {
		now = mono_ns();
		if (now >= w->end_ns || (done && kt_gc_async_pending(w->as) == 0))
			break;
		if (interval != 0) {
			/* Open loop: every call due by now is sent; a call
			 * that cannot be sent keeps its due time. */
			while (!done && next <= now && next < w->end_ns && w->free_list != NULL) {
				if (now - next > 1000000u)
					w->late++;
				if (start_next(w, next) == 1)
					done = 1;
				next += interval;
			}
		} else {
			while (!done && w->free_list != NULL) {
				int r = start_next(w, now);

				if (r == 1)
					done = 1;
				else if (r < 0)
					break;
			}
		}
		if (kt_gc_async_pending(w->as) == 0) {
			if (interval != 0 && next > now)
				sleep_ns(next - now < 100000000u ? next - now : 100000000u);
			else if (interval == 0 && !done)
				sleep_ns(1000000u);
			continue;
		}
		(void)poll_completions(w, interval != 0 && w->free_list != NULL
						   ? ms_until(now, next)
						   : ms_until(now, w->end_ns));
	}
	/* Due calls never sent (client saturated or out of call slots). */
	if (interval != 0 && next < w->end_ns) {
		w->unsent += (w->end_ns - next + interval - 1) / interval;
	}
	/* Drain: calls sent in the window still count (latency). */
	drain_end = mono_ns() + DRAIN_TIMEOUT_NS;
	while (kt_gc_async_pending(w->as) > 0 && mono_ns() < drain_end)
		(void)poll_completions(w, 100);
	if (kt_gc_async_pending(w->as) > 0)
		die("thread %u: %zu calls did not end", w->id, kt_gc_async_pending(w->as));
}

static void *worker_main(void *arg)
{
	worker *w = arg;

	for (;;) {
		pthread_barrier_wait(&w->L->start);
		if (w->L->ph.kind == P_STOP)
			break;
		if (w->L->ph.kind == P_PRESIGN)
			presign(w);
		else
			run_phase(w);
		__atomic_add_fetch(&w->L->finished, 1, __ATOMIC_RELEASE);
		pthread_barrier_wait(&w->L->done);
	}
	return NULL;
}

/* ---- reporting ------------------------------------------------------------------ */

static double cpu_self_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* CPU seconds (user + system) of process pid, or -1. */
static double cpu_pid_s(long pid)
{
	char path[64], buf[2048], *p;
	unsigned long ut = 0, stt = 0;
	FILE *f;
	size_t n;

	if (pid <= 0)
		return -1.0;
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	f = fopen(path, "r");
	if (f == NULL)
		return -1.0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
				&ut, &stt) != 2)
		return -1.0;
	return (double)(ut + stt) / (double)sysconf(_SC_CLK_TCK);
}

/* CPU seconds all processors spent busy (not idle or iowait), from
 * /proc/stat, or -1. */
static double cpu_busy_all_s(void)
{
	unsigned long long v[8] = {0};
	FILE *f = fopen("/proc/stat", "r");
	int n;

	if (f == NULL)
		return -1.0;
	n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
		   &v[3], &v[4], &v[5], &v[6], &v[7]);
	fclose(f);
	if (n != 8)
		return -1.0;
	/* user nice system [idle] [iowait] irq softirq steal */
	return (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) /
	       (double)sysconf(_SC_CLK_TCK);
}

/* Per-thread scheduler figures of a process (/proc/PID/task/T/schedstat:
 * ns on a cpu, ns runnable but waiting for one). */
#define MAX_TASKS 512

typedef struct task_snap {
	size_t n;
	long tid[MAX_TASKS];
	uint64_t run_ns[MAX_TASKS], wait_ns[MAX_TASKS];
} task_snap;

static void tasks_read(long pid, task_snap *ts)
{
	char path[96];
	struct dirent *de;
	DIR *d;

	ts->n = 0;
	if (pid <= 0)
		return;
	snprintf(path, sizeof(path), "/proc/%ld/task", pid);
	d = opendir(path);
	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL && ts->n < MAX_TASKS) {
		unsigned long long run = 0, wait = 0;
		long tid = strtol(de->d_name, NULL, 10);
		FILE *f;

		if (tid <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%ld/task/%ld/schedstat", pid, tid);
		f = fopen(path, "r");
		if (f == NULL)
			continue;
		if (fscanf(f, "%llu %llu", &run, &wait) == 2) {
			ts->tid[ts->n] = tid;
			ts->run_ns[ts->n] = run;
			ts->wait_ns[ts->n] = wait;
			ts->n++;
		}
		fclose(f);
	}
	closedir(d);
}

/* Prints the thread of pid that ran most between a and b: how much of the
 * interval it was on a cpu and how much it waited for one. */
static void tasks_report(long pid, const task_snap *a, const task_snap *b, double wall_s)
{
	char path[96], comm[64] = "?";
	uint64_t best_run = 0, best_wait = 0;
	long best = -1;
	size_t i, j;
	FILE *f;

	for (i = 0; i < b->n; i++)
		for (j = 0; j < a->n; j++)
			if (a->tid[j] == b->tid[i] && b->run_ns[i] - a->run_ns[j] > best_run) {
				best_run = b->run_ns[i] - a->run_ns[j];
				best_wait = b->wait_ns[i] - a->wait_ns[j];
				best = b->tid[i];
			}
	if (best < 0 || wall_s <= 0)
		return;
	snprintf(path, sizeof(path), "/proc/%ld/task/%ld/comm", pid, best);
	f = fopen(path, "r");
	if (f != NULL) {
		if (fgets(comm, sizeof(comm), f) == NULL)
			snprintf(comm, sizeof(comm), "?");
		fclose(f);
		trim(comm);
	}
	printf("  busiest ktd thread: tid %ld (%s) on a cpu %.0f%% of the time, "
	       "runnable but waiting for a cpu %.0f%%\n",
	       best, comm, (double)best_run / 1e7 / wall_s, (double)best_wait / 1e7 / wall_s);
}

static void print_status_counts(const char *type, const stats *s)
{
	size_t i;
	int any = 0;

	for (i = 1; i <= N_STATUS; i++) {
		if (s->status[i] == 0)
			continue;
		if (!any)
			printf("    %s errors:", type);
		printf(" %s=%" PRIu64, i < N_STATUS ? status_name[i] : "other", s->status[i]);
		any = 1;
	}
	if (s->local_err != 0) {
		printf("%s local=%" PRIu64, any ? "" : "    errors:", s->local_err);
		any = 1;
	}
	if (any)
		printf("\n");
}

static void report(load *L, const phase *ph, double wall_s, double cpu_self,
		   double cpu_ktd, double cpu_all, const task_snap *t0,
		   const task_snap *t1)
{
	stats tot[C_NTYPES];
	uint64_t late = 0, unsent = 0, ok_all = 0;
	unsigned t, i;

	memset(tot, 0, sizeof(tot));
	for (t = 0; t < L->o.channels; t++) {
		for (i = 0; i < C_NTYPES; i++)
			stats_merge(&tot[i], &L->w[t].st[i]);
		late += L->w[t].late;
		unsent += L->w[t].unsent;
	}
	printf("\n== %s: %s, %u channels, %.1f s", ph->name,
	       ph->rate > 0 ? "open loop" : "closed loop", L->o.channels, wall_s);
	if (ph->rate > 0)
		printf(", target %.0f calls/s", ph->rate);
	else
		printf(", %u calls in flight", L->o.inflight);
	printf("\n");
	printf("  %-7s %10s %10s %8s %8s %8s %8s %8s %8s %7s\n", "call", "ok", "ok/s",
	       "p50 ms", "p90 ms", "p99 ms", "p99.9", "max ms", "mean ms", "errors");
	for (i = 0; i < C_NTYPES; i++) {
		const stats *s = &tot[i];
		uint64_t errs = s->lat.n - s->lat_ok.n + s->local_err;
		double secs = ph->duration_ns != 0 ? (double)ph->duration_ns / 1e9 : wall_s;

		if (s->lat.n == 0 && s->local_err == 0)
			continue;
		printf("  %-7s %10" PRIu64 " %10.0f %8.2f %8.2f %8.2f %8.2f %8.2f %8.2f %7" PRIu64
		       "\n",
		       ctype_name[i], s->lat_ok.n,
		       (double)(ph->duration_ns != 0 ? s->ok_in_window : s->lat_ok.n) / secs,
		       h_quantile_ms(&s->lat, 0.50), h_quantile_ms(&s->lat, 0.90),
		       h_quantile_ms(&s->lat, 0.99), h_quantile_ms(&s->lat, 0.999),
		       (double)s->lat.max_us / 1000.0,
		       s->lat.n != 0 ? s->lat.sum_us / (double)s->lat.n / 1000.0 : 0.0, errs);
	}
	for (i = 0; i < C_NTYPES; i++) {
		const stats *s = &tot[i];

		ok_all += s->lat_ok.n;
		if (ph->rate > 0 && s->lat_sent.n != 0)
			printf("    %s from the actual send (without the generator's lateness): p50 %.2f  "
			       "p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f ms\n",
			       ctype_name[i], h_quantile_ms(&s->lat_sent, 0.50),
			       h_quantile_ms(&s->lat_sent, 0.90),
			       h_quantile_ms(&s->lat_sent, 0.99),
			       h_quantile_ms(&s->lat_sent, 0.999),
			       (double)s->lat_sent.max_us / 1000.0);
		print_status_counts(ctype_name[i], s);
		if (s->bad != 0)
			printf("    %s: %" PRIu64 " OK answers failed a check\n", ctype_name[i],
			       s->bad);
		if (s->stale != 0)
			printf("    %s: %" PRIu64 " stale expected_version (re-read and resent)\n",
			       ctype_name[i], s->stale);
		if (s->exists != 0)
			printf("    %s: %" PRIu64 " accounts already existed\n", ctype_name[i],
			       s->exists);
		if (s->verified != 0)
			printf("    %s: %" PRIu64 " checkpoint signatures verified\n",
			       ctype_name[i], s->verified);
		if (s->proofs != 0)
			printf("    %s: %" PRIu64 " answers fully verified (%" PRIu64
			       " with a consistency proof from a remembered checkpoint)\n",
			       ctype_name[i], s->proofs, s->consistency);
	}
	if (ph->rate > 0)
		printf("  open loop: %" PRIu64 " calls sent > 1 ms after due, %" PRIu64
		       " due calls not sent by the end of the phase\n",
		       late, unsent);
	printf("  cpu: kt-load %.2f cores", cpu_self / wall_s);
	if (cpu_ktd >= 0)
		printf(", ktd %.2f cores", cpu_ktd / wall_s);
	if (cpu_all >= 0)
		printf(", other processes %.2f cores",
		       (cpu_all - cpu_self - (cpu_ktd >= 0 ? cpu_ktd : 0)) / wall_s);
	printf(" (of %ld)\n", sysconf(_SC_NPROCESSORS_ONLN));
	if (ok_all != 0) {
		printf("  cpu per OK call: kt-load %.1f us", cpu_self * 1e6 / (double)ok_all);
		if (cpu_ktd >= 0)
			printf(", ktd %.1f us", cpu_ktd * 1e6 / (double)ok_all);
		printf("\n");
	}
	tasks_report(L->o.ktd_pid, t0, t1, wall_s);
	fflush(stdout);
}

/* Runs one phase on every thread and reports it (if name != NULL). */
static void phase_run(load *L, enum pkind kind, const char *name, double rate,
		      double seconds)
{
	uint64_t t_start, t_end;
	double c0, k0, a0, c1, k1, a1;
	static task_snap ts0, ts1;
	unsigned t, i;

	L->ph.kind = kind;
	L->ph.name = name != NULL ? name : "warmup";
	L->ph.rate = rate;
	L->ph.duration_ns = (uint64_t)(seconds * 1e9);
	L->ph.t0 = mono_ns() + 20000000u;
	__atomic_store_n(&L->finished, 0, __ATOMIC_RELAXED);
	c0 = cpu_self_s();
	k0 = cpu_pid_s(L->o.ktd_pid);
	a0 = cpu_busy_all_s();
	tasks_read(L->o.ktd_pid, &ts0);
	t_start = L->ph.t0;
	pthread_barrier_wait(&L->start);
	if (kind == P_ENROL) {
		/* Progress every few seconds while the threads enrol. */
		uint64_t last = 0, last_t = t_start;

		for (;;) {
			uint64_t done = 0, now;

			for (t = 0; t < 50 && __atomic_load_n(&L->finished, __ATOMIC_ACQUIRE) <
						      L->o.channels; t++)
				sleep_ns(PROGRESS_NS / 50);
			for (t = 0; t < L->o.channels; t++)
				done += __atomic_load_n(&L->w[t].progress, __ATOMIC_RELAXED);
			now = mono_ns();
			printf("populate: %" PRIu64 "/%" PRIu64 " accounts, %.0f/s now, %.0f/s "
			       "overall, %.0f s\n",
			       done, L->o.accounts,
			       (double)(done - last) * 1e9 / (double)(now - last_t),
			       (double)done * 1e9 / (double)(now - t_start),
			       (double)(now - t_start) / 1e9);
			fflush(stdout);
			last = done;
			last_t = now;
			if (__atomic_load_n(&L->finished, __ATOMIC_ACQUIRE) == L->o.channels)
				break;
		}
	}
	pthread_barrier_wait(&L->done);
	t_end = mono_ns();
	if (kind != P_PRESIGN) /* presign keeps the last phase's stats */
		for (t = 0; t < L->o.channels; t++)
			for (i = 0; i < C_NTYPES; i++)
				stats_merge(&L->total[i], &L->w[t].st[i]);
	c1 = cpu_self_s();
	k1 = cpu_pid_s(L->o.ktd_pid);
	a1 = cpu_busy_all_s();
	tasks_read(L->o.ktd_pid, &ts1);
	if (name != NULL)
		report(L, &L->ph, (double)(t_end - t_start) / 1e9, c1 - c0,
		       k0 >= 0 && k1 >= 0 ? k1 - k0 : -1.0,
		       a0 >= 0 && a1 >= 0 ? a1 - a0 : -1.0, &ts0, &ts1);
}

/* ---- the result line ------------------------------------------------------------ */

/* Calls in t that failed: ended with a non-OK status, answered OK but
 * failed a check, or could not be sent.  A stale expected_version (the
 * version is re-read and the update resent) and an enrolment of an account
 * that already exists (a resumed populate) are not failures. */
static uint64_t failed_calls(const stats *t, uint64_t *status_errors, uint64_t *bad,
			     uint64_t *local)
{
	size_t i;

	*status_errors = *bad = *local = 0;
	for (i = 0; i < C_NTYPES; i++) {
		uint64_t not_ok = t[i].lat.n - t[i].lat_ok.n; /* incl. bad */
		uint64_t excused = t[i].bad + t[i].stale + t[i].exists;

		*status_errors += not_ok > excused ? not_ok - excused : 0;
		*bad += t[i].bad;
		*local += t[i].local_err;
	}
	return *status_errors + *bad + *local;
}

/* Prints "kt-load result: name=value ..." over every phase run; returns
 * the number of failed calls. */
static uint64_t print_result(const load *L)
{
	const stats *t = L->total;
	uint64_t st_err, bad, local, failed, verified = 0, stale = 0, exists = 0;
	uint64_t proofs = 0, consistency = 0;
	size_t i;

	failed = failed_calls(t, &st_err, &bad, &local);
	printf("kt-load result:");
	for (i = 0; i < C_NTYPES; i++) {
		printf(" %s.ok=%" PRIu64, ctype_name[i], t[i].lat_ok.n);
		verified += t[i].verified;
		stale += t[i].stale;
		exists += t[i].exists;
		proofs += t[i].proofs;
		consistency += t[i].consistency;
	}
	printf(" verified=%" PRIu64 " proofs=%" PRIu64 " consistency=%" PRIu64
	       " stale=%" PRIu64 " exists=%" PRIu64
	       " status_errors=%" PRIu64 " bad=%" PRIu64 " local=%" PRIu64
	       " failed=%" PRIu64 "\n",
	       verified, proofs, consistency, stale, exists, st_err, bad, local, failed);
	fflush(stdout);
	return failed;
}

/* ---- main ------------------------------------------------------------------------ */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: kt-load populate --conf FILE --accounts K [--first N] [options]\n"
		"       kt-load run      --conf FILE --accounts K [options]\n"
		"\n"
		"  --conf FILE        client.conf written by `ktd --dev` (server, keys)\n"
		"  --accounts K       number of accounts (populate: to enrol; run: to use)\n"
		"  --first N          first account number (default 0)\n"
		"  --seed S           key derivation seed (default \"kt-load\")\n"
		"  --state FILE       account versions: read at start, written at the end\n"
		"  --channels C       gRPC channels = TCP connections = threads (default 4)\n"
		"  --inflight N       calls in flight at most, over all channels\n"
		"                     (default 2000)\n"
		"run only:\n"
		"  --rate R|max       open loop at R calls/s, or closed loop (default max)\n"
		"  --updates PCT      percent of the mix that are updates (default 0)\n"
		"  --duration S       measured seconds (default 30)\n"
		"  --warmup S         unmeasured seconds of the mix first (default 3)\n"
		"  --baseline S       seconds of bare Health/Check at max first (default 10;\n"
		"                     0: none)\n"
		"  --lvs-window W     lookups name a last_verified_size at most W below\n"
		"                     the newest size seen (default 0: anywhere in\n"
		"                     [1, newest - 1], the coldest consistency proofs)\n"
		"  --presign N        sign N updates (one per account) before the clock\n"
		"                     starts, so that the generator's own signing\n"
		"                     does not compete with the server for the cpus\n"
		"                     (default 0; when they run out, updates are\n"
		"                     signed as they are sent)\n"
		"  --verify-every N   verify the checkpoint signature of every Nth answer\n"
		"                     (default 100; 0: never)\n"
		"  --verify-proofs N  fully verify every Nth Lookup answer with the\n"
		"                     client library's verifier: checkpoint, consistency\n"
		"                     from a remembered checkpoint, last entry, VRF, map\n"
		"                     proof, opening (default 0: never; see PROOFS)\n"
		"  --ktd-pid PID      also report the server's CPU use\n"
		"both:\n"
		"  --strict           exit 3 if any call failed: a non-OK status (not\n"
		"                     counting a stale expected_version, re-read and\n"
		"                     resent, or an account that already existed), an\n"
		"                     OK answer that failed a check, or a call that\n"
		"                     could not be sent (see the \"kt-load result:\" line)\n");
}

static double num_arg(const char *opt, const char *v, double min, double max)
{
	char *end = NULL;
	double d;

	errno = 0;
	d = strtod(v, &end);
	if (errno != 0 || end == v || *end != '\0' || d < min || d > max)
		die("%s: bad value '%s' (%g..%g)", opt, v, min, max);
	return d;
}

static void parse_options(int argc, char **argv, options *o)
{
	int i;

	memset(o, 0, sizeof(*o));
	o->seed = "kt-load";
	o->channels = 4;
	o->inflight = 2000;
	o->duration_s = 30;
	o->warmup_s = 3;
	o->baseline_s = 10;
	o->verify_every = 100;
	if (argc < 2 || (strcmp(argv[1], "populate") != 0 && strcmp(argv[1], "run") != 0)) {
		usage(argc >= 2 && strcmp(argv[1], "--help") == 0 ? stdout : stderr);
		exit(argc >= 2 && strcmp(argv[1], "--help") == 0 ? 0 : 2);
	}
	o->mode = argv[1];
	for (i = 2; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--help") == 0) {
			usage(stdout);
			exit(0);
		}
		if (strcmp(a, "--strict") == 0) {
			o->strict = 1;
			continue;
		}
		if (v == NULL)
			die("%s needs a value", a);
		i++;
		if (strcmp(a, "--conf") == 0)
			o->conf = v;
		else if (strcmp(a, "--state") == 0)
			o->state_file = v;
		else if (strcmp(a, "--seed") == 0)
			o->seed = v;
		else if (strcmp(a, "--accounts") == 0)
			o->accounts = (uint64_t)num_arg(a, v, 1, 1e9);
		else if (strcmp(a, "--first") == 0)
			o->first = (uint64_t)num_arg(a, v, 0, 1e12);
		else if (strcmp(a, "--channels") == 0)
			o->channels = (unsigned)num_arg(a, v, 1, MAX_CHANNELS);
		else if (strcmp(a, "--inflight") == 0)
			o->inflight = (unsigned)num_arg(a, v, 1, MAX_INFLIGHT);
		else if (strcmp(a, "--rate") == 0)
			o->rate = strcmp(v, "max") == 0 ? 0 : num_arg(a, v, 1, 1e8);
		else if (strcmp(a, "--updates") == 0)
			o->updates_pct = (unsigned)num_arg(a, v, 0, 100);
		else if (strcmp(a, "--duration") == 0)
			o->duration_s = num_arg(a, v, 0.1, 86400);
		else if (strcmp(a, "--warmup") == 0)
			o->warmup_s = num_arg(a, v, 0, 3600);
		else if (strcmp(a, "--baseline") == 0)
			o->baseline_s = num_arg(a, v, 0, 3600);
		else if (strcmp(a, "--verify-every") == 0)
			o->verify_every = (unsigned)num_arg(a, v, 0, 1e9);
		else if (strcmp(a, "--verify-proofs") == 0)
			o->verify_proofs = (unsigned)num_arg(a, v, 0, 1e9);
		else if (strcmp(a, "--lvs-window") == 0)
			o->lvs_window = (uint64_t)num_arg(a, v, 0, 1e15);
		else if (strcmp(a, "--presign") == 0)
			o->presign = (uint64_t)num_arg(a, v, 0, 1e9);
		else if (strcmp(a, "--ktd-pid") == 0)
			o->ktd_pid = (long)num_arg(a, v, 1, 4194304);
		else
			die("unknown option %s (see --help)", a);
	}
	if (o->conf == NULL || o->accounts == 0)
		die("--conf and --accounts are required (see --help)");
	if (o->inflight < o->channels)
		o->inflight = o->channels;
}

static void workers_start(load *L)
{
	unsigned t, i, per;

	L->w = calloc(L->o.channels, sizeof(*L->w));
	if (L->w == NULL)
		die("out of memory");
	if (pthread_barrier_init(&L->start, NULL, L->o.channels + 1) != 0 ||
	    pthread_barrier_init(&L->done, NULL, L->o.channels + 1) != 0)
		die("pthread_barrier_init failed");
	per = L->o.inflight / L->o.channels;
	for (t = 0; t < L->o.channels; t++) {
		worker *w = &L->w[t];

		w->L = L;
		w->id = t;
		w->rng = 0x6b746c6f6164ull ^ ((uint64_t)t << 32) ^ (uint64_t)mono_ns();
		w->cap = per + (t < L->o.inflight % L->o.channels ? 1u : 0u);
		w->next_enrol = L->o.first + t;
		w->calls = calloc(w->cap, sizeof(call));
		if (w->calls == NULL)
			die("out of memory");
		for (i = 0; i < w->cap; i++)
			call_put(w, &w->calls[i]);
		if (kt_gc_open(L->cc.server, NULL, &w->gc) != KT_OK ||
		    kt_gc_async_new(w->gc, &w->as) != KT_OK)
			die("cannot open a channel to %s", L->cc.server);
		if (pthread_create(&w->th, NULL, worker_main, w) != 0)
			die("pthread_create failed");
	}
}

static void workers_stop(load *L)
{
	unsigned t, i;

	L->ph.kind = P_STOP;
	pthread_barrier_wait(&L->start);
	for (t = 0; t < L->o.channels; t++) {
		worker *w = &L->w[t];

		pthread_join(w->th, NULL);
		kt_gc_async_free(w->as);
		kt_gc_close(w->gc);
		for (i = 0; i < w->cap; i++)
			kt_trust_state_free(&w->calls[i].st);
		free(w->calls);
		presign_free(w);
		mem_free(w);
	}
	pthread_barrier_destroy(&L->start);
	pthread_barrier_destroy(&L->done);
	free(L->w);
}

/* --verify-proofs: the trust configuration from client.conf, through the
 * client library's own parser (log key, VRF key, witness policy).  The
 * answers' freshness is not what a load run checks: max_age is 30 days
 * unless client.conf sets it. */
static void trust_load(load *L)
{
	char err[512] = "";
	int r;

	r = kt_client_config_new(&L->ccfg);
	if (r == KT_OK)
		r = kt_client_config_load_file(L->ccfg, L->o.conf, err, sizeof(err));
	if (r == KT_OK)
		r = kt_client_config_finish(L->ccfg, err, sizeof(err));
	if (r == KT_OK && !L->ccfg->set_max_age)
		L->ccfg->trust.max_age_ms = PROOF_MAX_AGE_MS;
	if (r == KT_OK)
		r = kt_trust_config_check(&L->ccfg->trust);
	if (r != KT_OK)
		die("--verify-proofs: %s: %s (%s)", L->o.conf, err[0] != '\0' ? err : kt_strerror(r),
		    kt_errname(r));
	L->trust = &L->ccfg->trust;
}

int main(int argc, char **argv)
{
	load *L = calloc(1, sizeof(*L));
	uint64_t i, failed;
	int r, strict;

	if (L == NULL)
		die("out of memory");
	setvbuf(stdout, NULL, _IOLBF, 0);
	parse_options(argc, argv, &L->o);
	if (sodium_init() < 0)
		die("sodium_init failed");
	conf_read(L->o.conf, &L->cc);
	r = kt_note_verifier_parse(&L->log_vk, L->cc.log_key, strlen(L->cc.log_key));
	if (r != KT_OK)
		die("log_key: %s", kt_strerror(r));
	if (pthread_mutex_init(&L->fail_mu, NULL) != 0)
		die("pthread_mutex_init failed");
	if (L->o.verify_proofs != 0)
		trust_load(L);
	crypto_generichash(L->seedkey, sizeof(L->seedkey), (const uint8_t *)L->o.seed,
			   strlen(L->o.seed), NULL, 0);
	L->acct = calloc(L->o.accounts, sizeof(*L->acct));
	if (L->acct == NULL)
		die("out of memory for %" PRIu64 " accounts", L->o.accounts);
	printf("kt-load %s: server %s, accounts %" PRIu64 "..%" PRIu64 ", %u channels, "
	       "%u calls in flight at most\n",
	       L->o.mode, L->cc.server, L->o.first, L->o.first + L->o.accounts - 1,
	       L->o.channels, L->o.inflight);
	if (strcmp(L->o.mode, "populate") == 0) {
		registrar_load(L);
		for (i = 0; i < L->o.accounts; i++)
			L->acct[i].version = 0;
		workers_start(L);
		phase_run(L, P_ENROL, "populate (enrol)", 0, 0);
		kt_note_signer_wipe(&L->registrar);
	} else {
		state_load(L);
		workers_start(L);
		if (L->o.baseline_s > 0)
			phase_run(L, P_HEALTH, "bare RPC baseline: grpc.health.v1.Health/Check",
				  0, L->o.baseline_s);
		if (L->o.presign > 0) {
			uint64_t t0 = mono_ns();

			phase_run(L, P_PRESIGN, NULL, 0, 0);
			printf("presigned %" PRIu64 " updates in %.1f s (not measured)\n",
			       L->o.presign, (double)(mono_ns() - t0) / 1e9);
		}
		if (L->o.warmup_s > 0)
			phase_run(L, P_MIX, NULL, L->o.rate, L->o.warmup_s);
		phase_run(L, P_MIX, L->o.updates_pct == 100 ? "updates (set_push, device-signed)"
				    : L->o.updates_pct == 0 ? "lookups (full proofs)"
							    : "mix",
			  L->o.rate, L->o.duration_s);
	}
	workers_stop(L);
	state_save(L);
	fail_report(L);
	failed = print_result(L);
	strict = L->o.strict;
	for (i = 0; i < L->o.accounts; i++)
		sodium_memzero(L->acct[i].sk, sizeof(L->acct[i].sk));
	free(L->acct);
	kt_client_config_free(L->ccfg);
	pthread_mutex_destroy(&L->fail_mu);
	free(L);
	if (strict && failed != 0) {
		fprintf(stderr, "kt-load: %" PRIu64 " calls failed (--strict)\n", failed);
		return 3;
	}
	return 0;
}
