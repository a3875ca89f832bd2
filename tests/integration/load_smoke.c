/*
 * load_smoke.c — keeps the load generator (tests/bench/kt-load.c) from
 * rotting: a few seconds of it against a real ktd, with every answer's
 * checkpoint signature verified and every Lookup answer verified
 * completely (--verify-proofs 1: the client library's kt_verify_head and
 * kt_verify_lookup).  No timing is asserted.
 *
 *   load_smoke KTD KT-LOAD good     ctest bench_load_smoke
 *   load_smoke KTD KT-LOAD badkey   ctest bench_load_smoke_badkey
 *
 * Both start `ktd --dev` on 127.0.0.1:0 through the integration harness
 * (itest.h: ktd is killed whatever way this program ends) and populate
 * 200 accounts with `kt-load populate --strict`.
 *
 * good:   `kt-load run --strict` twice (closed loop with a baseline, then
 *         open loop with presigned updates, each reading the --state the
 *         one before wrote): exit 0, OK lookups and updates, no failed call,
 *         no stale version, every OK answer's signature verified, every
 *         OK lookup and probe fully verified (most with a consistency
 *         proof from a checkpoint kt-load verified earlier), and the log
 *         grew by exactly the OK updates.
 * badkey: the twin that must fail: the same run with a client.conf whose
 *         log_key is another key of the same name.  kt-load must exit 3
 *         with failed checks only (no error status): the server applied
 *         the updates, only the client's signature check refused them,
 *         and the full verifier refused every lookup with
 *         KT_ERR_CLIENT_CHECKPOINT_SIG.  Then a lookup-only run with a
 *         client.conf whose vrf_public_key is another valid VRF key: only
 *         the full verifier (--verify-proofs) can tell; exit 3, every
 *         lookup refused with KT_ERR_CLIENT_VRF.
 *
 * Every kt-load is killed if it runs longer than LOAD_TIMEOUT_MS (and by
 * the kernel if this program dies: PR_SET_PDEATHSIG); its output is copied
 * to stdout.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>

#include "itest.h"

#define ACCOUNTS "200"
#define N_ACCOUNTS 200u
#define LOAD_TIMEOUT_MS 45000u
#define MAX_ARGS 48
#define OUT_MAX (256u * 1024u)

static const char *kt_load_path;
static volatile pid_t load_pid;          /* kt-load running, or 0 */
static itest_trust trust;

static void kill_load(void)
{
	if (load_pid > 0) {
		kill(load_pid, SIGKILL);
		waitpid(load_pid, NULL, 0);
		load_pid = 0;
	}
}

/* Waits for load_pid within the timeout; kills it and fails on timeout.
 * Returns its exit status (a signal fails the test). */
static int wait_load(void)
{
	uint64_t deadline = itest_mono_ms() + LOAD_TIMEOUT_MS;
	int status = 0;
	pid_t r;

	for (;;) {
		r = waitpid(load_pid, &status, WNOHANG);
		if (r == load_pid)
			break;
		if (r < 0 && errno != EINTR)
			itest_fail(__FILE__, __LINE__, "waitpid: %s", strerror(errno));
		if (itest_mono_ms() >= deadline) {
			kill_load();
			itest_fail(__FILE__, __LINE__, "kt-load ran longer than %u ms",
				   LOAD_TIMEOUT_MS);
		}
		usleep(20000);
	}
	load_pid = 0;
	if (!WIFEXITED(status))
		itest_fail(__FILE__, __LINE__, "kt-load died of signal %d",
			   WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	return WEXITSTATUS(status);
}

/* Reads a whole (small) file into a NUL-terminated heap buffer. */
static char *slurp(const char *path)
{
	char *buf = malloc(OUT_MAX + 1);
	FILE *f = fopen(path, "r");
	size_t n;

	CHECK(buf != NULL);
	if (f == NULL)
		itest_fail(__FILE__, __LINE__, "%s: %s", path, strerror(errno));
	n = fread(buf, 1, OUT_MAX, f);
	CHECK(!ferror(f));
	fclose(f);
	buf[n] = '\0';
	return buf;
}

/* Runs kt-load with args (NULL-terminated), its stdout and stderr into
 * out_path; copies that output to stdout and returns the exit status and
 * the output (heap, *out). */
static int run_load(const char *const *args, const char *out_path, char **out)
{
	const char *argv[MAX_ARGS];
	pid_t parent = getpid(), pid;
	size_t n = 0, i;
	int fd, rc;

	argv[n++] = kt_load_path;
	for (i = 0; args[i] != NULL; i++) {
		CHECK(n + 1 < MAX_ARGS);
		argv[n++] = args[i];
	}
	argv[n] = NULL;
	printf("itest: $");
	for (i = 0; i < n; i++)
		printf(" %s", argv[i]);
	printf("\n");
	fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	fflush(NULL);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		/* child: only async-signal-safe calls until exec */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		dup2(fd, 1);
		dup2(fd, 2);
		close(fd);
		execv(kt_load_path, (char *const *)(uintptr_t)argv);
		_exit(127);
	}
	load_pid = pid;
	close(fd);
	rc = wait_load();
	*out = slurp(out_path);
	printf("%s", *out);
	itest_note("kt-load exit status %d", rc);
	return rc;
}

/* The value of "name=" in kt-load's "kt-load result:" line (fails the test
 * if the line or the name is missing). */
static uint64_t result_get(const char *out, const char *name)
{
	const char *line = strstr(out, "kt-load result:"), *p, *eol;
	char key[64];
	size_t kl;

	if (line == NULL)
		itest_fail(__FILE__, __LINE__, "kt-load printed no result line");
	eol = strchr(line, '\n');
	kl = (size_t)snprintf(key, sizeof(key), " %s=", name);
	CHECK(kl < sizeof(key));
	p = strstr(line, key);
	if (p == NULL || (eol != NULL && p > eol))
		itest_fail(__FILE__, __LINE__, "no %s in the result line", name);
	return strtoull(p + kl, NULL, 10);
}

static uint64_t tree_size(itest_ktd *k)
{
	uint64_t size = 0;
	size_t len = 0;

	free(itest_get_checkpoint(k, &trust, &len, &size));
	return size;
}

/* Enrols the accounts; every enrolment must succeed and be verified. */
static void populate(itest_ktd *k, const char *conf, const char *state)
{
	const char *args[] = {"populate", "--conf", conf, "--accounts", ACCOUNTS,
			      "--state", state, "--channels", "2", "--inflight", "16",
			      "--verify-every", "1", "--strict", NULL};
	char path[400], *out = NULL;
	uint64_t s0 = tree_size(k);

	snprintf(path, sizeof(path), "%s/populate.out", k->base);
	CHECK(run_load(args, path, &out) == 0);
	CHECK(result_get(out, "enrol.ok") == N_ACCOUNTS);
	CHECK(result_get(out, "verified") == N_ACCOUNTS);
	CHECK(result_get(out, "exists") == 0);
	CHECK(result_get(out, "failed") == 0);
	CHECK(tree_size(k) == s0 + N_ACCOUNTS);
	free(out);
}

/* One `kt-load run --strict` that must pass; baseline: it has a
 * Health/Check phase. */
static void run_ok(itest_ktd *k, const char *const *args, const char *name,
		   int baseline)
{
	char path[400], *out = NULL;
	uint64_t s0 = tree_size(k), lookups, updates, probes, proofs;

	snprintf(path, sizeof(path), "%s/%s.out", k->base, name);
	CHECK(run_load(args, path, &out) == 0);
	lookups = result_get(out, "lookup.ok");
	updates = result_get(out, "update.ok");
	probes = result_get(out, "probe.ok");
	CHECK(lookups > 0 && updates > 0);
	CHECK((result_get(out, "health.ok") > 0) == (baseline != 0));
	CHECK(result_get(out, "failed") == 0);
	/* The --state the run read was right: no update was refused as stale. */
	CHECK(result_get(out, "stale") == 0);
	/* --verify-every 1: every OK answer's checkpoint signature. */
	CHECK(result_get(out, "verified") == lookups + updates + probes);
	/* --verify-proofs 1: every OK Lookup answer fully verified, and the
	 * consistency proofs checked against remembered roots (all but the
	 * first few answers of each thread, which have nothing to start from). */
	proofs = result_get(out, "proofs");
	CHECK(proofs == lookups + probes);
	CHECK(result_get(out, "consistency") > proofs / 2);
	CHECK(strstr(out, "failed verification") == NULL);
	/* Each OK update is one log entry, and nothing else was written. */
	CHECK(tree_size(k) == s0 + updates);
	free(out);
}

static void mode_good(itest_ktd *k, const char *conf, const char *state)
{
	char pid[32];
	const char *mix[] = {"run", "--conf", conf, "--accounts", ACCOUNTS, "--state", state,
			     "--channels", "2", "--inflight", "16", "--rate", "max",
			     "--updates", "30", "--duration", "2", "--warmup", "0",
			     "--baseline", "1", "--verify-every", "1", "--verify-proofs", "1",
			     "--ktd-pid", pid, "--strict", NULL};
	const char *open_loop[] = {"run", "--conf", conf, "--accounts", ACCOUNTS,
				   "--state", state, "--channels", "2", "--inflight", "16",
				   "--rate", "100", "--updates", "50", "--presign", "40",
				   "--duration", "1", "--warmup", "0.5", "--baseline", "0",
				   "--lvs-window", "50", "--verify-every", "1",
				   "--verify-proofs", "1", "--strict", NULL};

	snprintf(pid, sizeof(pid), "%ld", (long)k->pid);
	run_ok(k, mix, "run-mix", 1);
	run_ok(k, open_loop, "run-open-loop", 0);
}

/* Writes a copy of conf into out with the value of the line "name = ..."
 * replaced by value (which must differ from the old one). */
static void write_conf_with(const char *conf, const char *out, const char *name,
			    const char *value)
{
	char *text = slurp(conf), *line, *save = NULL;
	size_t nl = strlen(name);
	int replaced = 0;
	FILE *f;

	f = fopen(out, "w");
	CHECK(f != NULL);
	for (line = strtok_r(text, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, name, nl) == 0 && strncmp(line + nl, " = ", 3) == 0) {
			CHECK(strcmp(line + nl + 3, value) != 0);
			fprintf(f, "%s = %s\n", name, value);
			replaced = 1;
		} else {
			fprintf(f, "%s\n", line);
		}
	}
	CHECK(fclose(f) == 0);
	CHECK(replaced);
	free(text);
}

/* Writes a copy of conf with log_key replaced by a fresh key of the same
 * name (origin): well formed, so kt-load starts, but not the log's. */
static void write_bad_conf(itest_ktd *k, const char *conf, const char *bad)
{
	uint8_t seed[KT_NOTE_SEED_BYTES];
	kt_note_signer other;
	char *vk = NULL;
	size_t vk_len = 0;

	randombytes_buf(seed, sizeof(seed));
	CHECK_OK(kt_note_signer_from_seed(&other, k->origin, strlen(k->origin),
					  KT_NOTE_KEY_ED25519, seed));
	sodium_memzero(seed, sizeof(seed));
	CHECK_OK(kt_note_verifier_format(&other.pub, &vk, &vk_len));
	kt_note_signer_wipe(&other);
	CHECK(strcmp(vk, k->log_vk_str) != 0);
	write_conf_with(conf, bad, "log_key", vk);
	free(vk);
}

/* Writes a copy of conf with vrf_public_key replaced by a fresh valid VRF
 * key: every checkpoint verifies, only the VRF proofs do not. */
static void write_bad_vrf_conf(const char *conf, const char *bad)
{
	uint8_t seed[KT_VRF_SEED_BYTES], pk[KT_VRF_PUBLICKEY_BYTES];
	uint8_t sk[KT_VRF_SECRETKEY_BYTES];
	char hex[2 * KT_VRF_PUBLICKEY_BYTES + 1];

	randombytes_buf(seed, sizeof(seed));
	CHECK_OK(kt_vrf_keypair_from_seed(pk, sk, seed));
	sodium_memzero(seed, sizeof(seed));
	sodium_memzero(sk, sizeof(sk));
	sodium_bin2hex(hex, sizeof(hex), pk, sizeof(pk));
	write_conf_with(conf, bad, "vrf_public_key", hex);
}

/* The wrong VRF key: only --verify-proofs can tell (the lookups are
 * otherwise well formed and correctly signed), so kt-load must exit 3 with
 * every lookup refused as KT_ERR_CLIENT_VRF. */
static void badkey_vrf(itest_ktd *k, const char *conf, const char *state)
{
	char bad[400], path[400], *out = NULL;
	const char *args[] = {"run", "--conf", bad, "--accounts", ACCOUNTS, "--state", state,
			      "--channels", "2", "--inflight", "16", "--rate", "max",
			      "--updates", "0", "--duration", "1", "--warmup", "0",
			      "--baseline", "0", "--verify-every", "1", "--verify-proofs", "1",
			      "--strict", NULL};

	snprintf(bad, sizeof(bad), "%s/bad-vrf-client.conf", k->base);
	snprintf(path, sizeof(path), "%s/run-badvrf.out", k->base);
	write_bad_vrf_conf(conf, bad);
	CHECK(run_load(args, path, &out) == 3);
	CHECK(result_get(out, "lookup.ok") == 0);
	CHECK(result_get(out, "proofs") == 0);
	CHECK(result_get(out, "bad") > 0);
	CHECK(result_get(out, "status_errors") == 0);
	CHECK(result_get(out, "failed") == result_get(out, "bad"));
	CHECK(strstr(out, "failed verification: KT_ERR_CLIENT_VRF") != NULL);
	free(out);
}

static void mode_badkey(itest_ktd *k, const char *conf, const char *state)
{
	char bad[400], path[400], *out = NULL;
	const char *args[] = {"run", "--conf", bad, "--accounts", ACCOUNTS, "--state", state,
			      "--channels", "2", "--inflight", "16", "--rate", "max",
			      "--updates", "30", "--duration", "2", "--warmup", "0",
			      "--baseline", "0", "--verify-every", "1", "--verify-proofs", "1",
			      "--strict", NULL};
	uint64_t s0;

	snprintf(bad, sizeof(bad), "%s/bad-client.conf", k->base);
	snprintf(path, sizeof(path), "%s/run-badkey.out", k->base);
	write_bad_conf(k, conf, bad);
	s0 = tree_size(k);
	CHECK(run_load(args, path, &out) == 3);
	CHECK(result_get(out, "lookup.ok") == 0);
	CHECK(result_get(out, "update.ok") == 0);
	CHECK(result_get(out, "verified") == 0);
	CHECK(result_get(out, "bad") > 0);
	CHECK(result_get(out, "status_errors") == 0);
	CHECK(result_get(out, "local") == 0);
	CHECK(result_get(out, "failed") == result_get(out, "bad"));
	CHECK(strstr(out, "OK answers failed a check") != NULL);
	/* Lookups reached the full verifier (their signature is checked
	 * there), which named the failure. */
	CHECK(result_get(out, "proofs") == 0);
	CHECK(strstr(out, "failed verification: KT_ERR_CLIENT_CHECKPOINT_SIG") != NULL);
	/* The server did apply updates: only the client's check refused them. */
	CHECK(tree_size(k) > s0);
	free(out);
	badkey_vrf(k, conf, state);
}

int main(int argc, char **argv)
{
	static itest_ktd k;
	/* no heartbeats: every log entry must come from kt-load updates */
	static const char *const extra[] = {"lookup_rate_limit=0",
					    "heartbeat_interval=1h", NULL};
	char conf[400], state[400];
	const char *mode = argc >= 4 ? argv[3] : "";

	itest_init(argc, argv);
	if (argc != 4 || access(argv[2], X_OK) != 0 ||
	    (strcmp(mode, "good") != 0 && strcmp(mode, "badkey") != 0)) {
		fprintf(stderr, "usage: %s KTD KT-LOAD good|badkey\n", argv[0]);
		return 2;
	}
	kt_load_path = argv[2];
	atexit(kill_load); /* runs before the harness's handler kills ktd */

	itest_ktd_new(&k, extra);
	itest_ktd_start(&k);
	itest_trust_init(&trust, &k);
	snprintf(conf, sizeof(conf), "%s/client.conf", k.data_dir);
	snprintf(state, sizeof(state), "%s/state", k.base);
	populate(&k, conf, state);
	if (strcmp(mode, "good") == 0)
		mode_good(&k, conf, state);
	else
		mode_badkey(&k, conf, state);
	itest_ktd_stop(&k);
	itest_note("bench_load_smoke %s: OK", mode);
	return 0;
}
