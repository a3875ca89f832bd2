/*
 * itest_ktctl.c — end-to-end tests of the ktctl program (issue 4) against
 * a real `ktd --dev` on 127.0.0.1:0 (tests/integration/itest.h harness):
 *
 *   1. happy paths of every command: keygen, make-token, enroll (token file
 *      and --registrar-key), add-device, set-push, lookup (human + JSON),
 *      seal, open by each device, monitor without alert, checkpoint,
 *      remove-device; --help of every command; usage errors exit 2;
 *   2. the escrow story: the operator adds an escrow device to Alice's
 *      account through Admin (`ktctl admin-update` with the admin token and
 *      a reason); Alice's `ktctl monitor` exits 4 naming the device, the
 *      provenance "operator" and the reason; Bob's `ktctl lookup` (his own
 *      state file) shows the device with provenance operator, and still
 *      names it "added by: operator" after Alice's next change of her own
 *      (a push address);
 *   3. verification failures at the command line, each exit 3 with its
 *      own error in the evidence, the state file byte-identical and no
 *      sealed output: a stale checkpoint (max_age), a witness policy no
 *      checkpoint meets, a checkpoint signed by another key (forged log
 *      key), a split view served by a second ktd started from an old copy
 *      of the same log (same keys, other entries); the same node while it
 *      lags (an honest refusal: exit 1, state unchanged).
 *
 * Usage: itest_ktctl PATH-TO-KTD PATH-TO-KTCTL   (ctest passes both)
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "itest.h"
#include "kt_json.h"

#define RUN_TIMEOUT_MS 60000
#define MAX_ARGS 48

#define ALICE "tel:+15551234567"
#define CAROL "mailto:carol@example.org"

static const char *ktctl_path;
static const char *ktd_bin;
static char wdir[300];          /* work directory for keys, states, outputs */

/* ---- running ktctl ---------------------------------------------------- */

typedef struct run {
	int code;                   /* exit status */
	char *out;                  /* stdout, NUL-terminated */
	char *err;                  /* stderr */
	kt_json *js;                /* stdout parsed as JSON, if it was */
} run;

static void run_free(run *r)
{
	free(r->out);
	free(r->err);
	kt_json_free(r->js);
	memset(r, 0, sizeof(*r));
}

static char *wpath(const char *name)
{
	static char bufs[16][400];
	static size_t next;
	char *b = bufs[next++ % 16];

	snprintf(b, sizeof(bufs[0]), "%s/%s", wdir, name);
	return b;
}

/* Runs prog with args (NULL-terminated), stdout and stderr captured;
 * fails the test if it does not end within RUN_TIMEOUT_MS. */
static void run_prog(run *r, const char *prog, const char *const *args)
{
	const char *argv[MAX_ARGS + 2];
	char outp[400], errp[400];
	uint64_t deadline;
	size_t n = 0, len;
	int status = 0, fo, fe;
	pid_t pid, parent = getpid(), w;

	memset(r, 0, sizeof(*r));
	argv[n++] = prog;
	for (; args[n - 1] != NULL; n++) {
		CHECK(n < MAX_ARGS);
		argv[n] = args[n - 1];
	}
	argv[n] = NULL;
	snprintf(outp, sizeof(outp), "%s/.stdout", wdir);
	snprintf(errp, sizeof(errp), "%s/.stderr", wdir);
	fo = open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	fe = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fo >= 0 && fe >= 0);
	fflush(NULL);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		dup2(fo, 1);
		dup2(fe, 2);
		close(fo);
		close(fe);
		execv(prog, (char *const *)(uintptr_t)argv);
		_exit(127);
	}
	close(fo);
	close(fe);
	deadline = itest_mono_ms() + RUN_TIMEOUT_MS;
	for (;;) {
		w = waitpid(pid, &status, WNOHANG);
		if (w == pid)
			break;
		if (itest_mono_ms() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			itest_fail(__FILE__, __LINE__, "%s %s did not end", prog,
				   args[0] != NULL ? args[0] : "");
		}
		usleep(2000);
	}
	r->out = kt_test_read_file(outp, &len);
	r->err = kt_test_read_file(errp, &len);
	CHECK(r->out != NULL && r->err != NULL);
	if (!WIFEXITED(status)) {
		fprintf(stderr, "---- stderr ----\n%s", r->err);
		itest_fail(__FILE__, __LINE__, "%s %s: killed by signal %d", prog,
			   args[0] != NULL ? args[0] : "", WTERMSIG(status));
	}
	r->code = WEXITSTATUS(status);
	if (r->out[0] == '{')
		r->js = kt_json_parse(r->out, strlen(r->out));
}

/* ktctl --config CONF args...; prints what it said when the exit code is
 * not `want` and fails. */
static void ktctl_at(run *r, int want, const char *conf, const char *const *args,
		     int line)
{
	const char *a[MAX_ARGS];
	size_t n = 0, i;

	if (conf != NULL) {
		a[n++] = "--config";
		a[n++] = conf;
	}
	for (i = 0; args[i] != NULL; i++) {
		CHECK(n + 1 < MAX_ARGS);
		a[n++] = args[i];
	}
	a[n] = NULL;
	run_prog(r, ktctl_path, a);
	if (r->code != want) {
		fprintf(stderr, "---- ktctl stdout ----\n%s---- ktctl stderr ----\n%s",
			r->out, r->err);
		itest_fail(__FILE__, line, "ktctl %s: exit %d, want %d",
			   args[0] != NULL ? args[0] : "", r->code, want);
	}
}

static char conf_main[400];

#define KTCTL(r, want, ...)                                                   \
	ktctl_at(r, want, conf_main, (const char *const[]){__VA_ARGS__, NULL},   \
		 __LINE__)
#define KTCTL_CONF(r, want, conf, ...)                                        \
	ktctl_at(r, want, conf, (const char *const[]){__VA_ARGS__, NULL}, __LINE__)

/* ---- JSON helpers ------------------------------------------------------- */

static const kt_json *jget(const kt_json *o, const char *key)
{
	const kt_json *v = o != NULL ? kt_json_get(o, key) : NULL;

	if (v == NULL)
		itest_fail(__FILE__, __LINE__, "JSON has no member '%s'", key);
	return v;
}

static const char *jstr(const kt_json *o, const char *key)
{
	const kt_json *v = jget(o, key);

	CHECK(v->type == KT_JSON_STRING);
	return v->text;
}

static uint64_t jnum(const kt_json *o, const char *key)
{
	return kt_json_u64(jget(o, key));
}

/* The device called id in a lookup's "devices", or NULL. */
static const kt_json *find_device(const kt_json *js, const char *id)
{
	const kt_json *devs = jget(js, "devices");
	size_t i;

	for (i = 0; i < kt_json_len(devs); i++)
		if (strcmp(jstr(kt_json_at(devs, i), "id"), id) == 0)
			return kt_json_at(devs, i);
	return NULL;
}

/* ---- files ----------------------------------------------------------------- */

static char *slurp(const char *path, size_t *len)
{
	char *b = kt_test_read_file(path, len);

	CHECK(b != NULL);
	return b;
}

static void check_same_file(const char *path, const char *before, size_t len)
{
	size_t n;
	char *now = slurp(path, &n);

	CHECK(n == len && memcmp(now, before, len) == 0);
	free(now);
}

static int exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

static void write_text(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	CHECK(fd >= 0);
	CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	CHECK(fchmod(fd, mode) == 0);
	close(fd);
}

/* Copies conf to dst, replacing the line starting with `name =` by
 * "name = value" (or appending it). */
static void conf_with(const char *src, const char *dst, const char *name,
		      const char *value)
{
	size_t len, nl = strlen(name);
	char *text = slurp(src, &len), *line, *save = NULL;
	FILE *f = fopen(dst, "w");
	int done = 0;

	CHECK(f != NULL);
	for (line = strtok_r(text, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, name, nl) == 0 && line[nl] == ' ') {
			fprintf(f, "%s = %s\n", name, value);
			done = 1;
		} else {
			fprintf(f, "%s\n", line);
		}
	}
	if (!done)
		fprintf(f, "%s = %s\n", name, value);
	CHECK(fclose(f) == 0);
	free(text);
}

/* ---- 1. help and usage ---------------------------------------------------- */

static void test_help_and_usage(void)
{
	static const char *const cmds[] = {
		"keygen", "make-token", "enroll", "add-device", "remove-device",
		"set-push", "lookup", "seal", "open", "monitor", "checkpoint",
		"admin-update"};
	run r;
	size_t i;

	KTCTL(&r, 0, "--help");
	CHECK(strstr(r.out, "Exit status:") != NULL);
	CHECK(strstr(r.out, "3  verification failure") != NULL);
	CHECK(strstr(r.out, "4  monitor alert") != NULL);
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		CHECK(strstr(r.out, cmds[i]) != NULL);
	}
	run_free(&r);
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		KTCTL(&r, 0, cmds[i], "--help");
		CHECK(strstr(r.out, cmds[i]) != NULL);
		CHECK(strstr(r.out, "Exit status:") != NULL);
		run_free(&r);
	}
	KTCTL(&r, 2, "no-such-command");
	run_free(&r);
	KTCTL(&r, 2, "lookup");                          /* --account missing */
	CHECK(strstr(r.err, "--account is required") != NULL);
	run_free(&r);
	KTCTL(&r, 2, "lookup", "--account");             /* no value */
	run_free(&r);
	KTCTL(&r, 2, "lookup", "--account", ALICE, "--bogus");
	run_free(&r);
	KTCTL(&r, 2, "lookup", "--account", ALICE, "extra");
	run_free(&r);
	KTCTL(&r, 2, "keygen", "--out", wpath("x.key"), "--keys", "y");
	run_free(&r);
	KTCTL(&r, 2, "add-device", "--account", ALICE, "--keys", "a", "--device",
	      "b", "--kind", "toaster");
	run_free(&r);
	KTCTL(&r, 2, "--set", "no_such_option=1", "lookup", "--account", ALICE);
	run_free(&r);
	/* No configuration at all: an error, not a usage error. */
	KTCTL_CONF(&r, 1, wpath("missing.conf"), "lookup", "--account", ALICE);
	CHECK(strstr(r.err, "no client configuration") != NULL);
	run_free(&r);
	itest_note("help and usage: ok");
}

/* ---- 2. the happy paths ------------------------------------------------------- */

static void keygen(const char *file, const char *id)
{
	struct stat st;
	run r;

	KTCTL(&r, 0, "--json", "keygen", "--out", wpath(file), "--id", id);
	CHECK(r.js != NULL);
	CHECK(strcmp(jstr(r.js, "device_id"), id) == 0);
	CHECK(strlen(jstr(r.js, "sign_pk")) == 64);
	CHECK(strlen(jstr(r.js, "enc_pk")) == 64);
	run_free(&r);
	CHECK(stat(wpath(file), &st) == 0);
	CHECK((st.st_mode & 0777) == 0600);
}

/* Bob's verified lookup of account as JSON (r->js set). */
static void bob_lookup(run *r, const char *account)
{
	KTCTL(r, 0, "--state", wpath("bob.state"), "--json", "lookup", "--account",
	      account);
	CHECK(r->js != NULL);
}

static void open_as(const char *keyfile, const char *bundle, const char *want)
{
	run r;

	KTCTL(&r, 0, "open", "--keys", wpath(keyfile), "--in", wpath(bundle));
	CHECK(strcmp(r.out, want) == 0);
	run_free(&r);
}

static void test_happy(itest_ktd *k)
{
	char reg[400], *before, *sealed_in;
	size_t blen;
	const kt_json *d, *p, *v;
	uint64_t size1;
	run r;

	snprintf(reg, sizeof(reg), "%s/registrar.key", k->data_dir);
	keygen("phone.key", "alice-phone");
	keygen("laptop.key", "alice-laptop");
	keygen("tablet.key", "alice-tablet");
	keygen("escrow.key", "escrow-1");
	keygen("carol.key", "carol-phone");
	keygen("stranger.key", "stranger");
	/* A key file is never overwritten. */
	before = slurp(wpath("phone.key"), &blen);
	KTCTL(&r, 1, "keygen", "--out", wpath("phone.key"));
	CHECK(strstr(r.err, "refusing to overwrite") != NULL);
	run_free(&r);
	check_same_file(wpath("phone.key"), before, blen);
	free(before);
	/* A key file others can read is refused. */
	CHECK(chmod(wpath("tablet.key"), 0644) == 0);
	KTCTL(&r, 1, "open", "--keys", wpath("tablet.key"), "--in", "/dev/null");
	CHECK(strstr(r.err, "KT_ERR_CLIENT_KEY_FILE") != NULL);
	run_free(&r);
	CHECK(chmod(wpath("tablet.key"), 0600) == 0);

	/* Enrol Alice with a token file from the registrar (the registrar key
	 * comes from the configuration's registrar_key_file). */
	KTCTL(&r, 0, "make-token", "--account", ALICE, "--keys", wpath("phone.key"),
	      "--push", "apns:alice-phone", "--out", wpath("alice.token"));
	run_free(&r);
	/* The token is for exactly that device and account. */
	KTCTL(&r, 2, "--state", wpath("alice.state"), "enroll", "--account", ALICE,
	      "--keys", wpath("laptop.key"), "--token", wpath("alice.token"));
	run_free(&r);
	KTCTL(&r, 2, "--state", wpath("alice.state"), "enroll", "--account", CAROL,
	      "--keys", wpath("phone.key"), "--token", wpath("alice.token"));
	run_free(&r);
	KTCTL(&r, 2, "--state", wpath("alice.state"), "enroll", "--account", ALICE,
	      "--keys", wpath("phone.key"), "--token", wpath("alice.token"),
	      "--push", "apns:other");
	run_free(&r);
	KTCTL(&r, 0, "--state", wpath("alice.state"), "--json", "enroll",
	      "--account", ALICE, "--keys", wpath("phone.key"), "--token",
	      wpath("alice.token"));
	CHECK(jnum(r.js, "version") == 1);
	run_free(&r);
	/* Carol with a token minted on the spot (--registrar-key). */
	KTCTL(&r, 0, "--state", wpath("carol.state"), "enroll", "--account", CAROL,
	      "--keys", wpath("carol.key"), "--registrar-key", reg);
	CHECK(strstr(r.out, "accepted as version 1") != NULL);
	run_free(&r);

	/* Alice's phone adds her laptop. */
	KTCTL(&r, 0, "--state", wpath("alice.state"), "--json", "add-device",
	      "--account", ALICE, "--keys", wpath("phone.key"), "--device",
	      wpath("laptop.key"), "--push", "fcm:alice-laptop");
	CHECK(jnum(r.js, "version") == 2);
	run_free(&r);
	/* A stranger's key is no device of Alice's: the server refuses (1). */
	KTCTL(&r, 1, "--state", wpath("alice.state"), "add-device", "--account",
	      ALICE, "--keys", wpath("stranger.key"), "--device",
	      wpath("tablet.key"));
	CHECK(strstr(r.err, "PERMISSION_DENIED") != NULL);
	run_free(&r);
	/* The laptop sets its own push address (default --device-id). */
	KTCTL(&r, 0, "--state", wpath("alice.state"), "--json", "set-push",
	      "--account", ALICE, "--keys", wpath("laptop.key"), "--push",
	      "fcm:alice-laptop-2");
	CHECK(jnum(r.js, "version") == 3);
	run_free(&r);

	/* Bob looks Alice up. */
	bob_lookup(&r, ALICE);
	CHECK(r.js->type == KT_JSON_OBJECT);
	CHECK(jget(r.js, "ok")->boolean == 1);
	CHECK(jget(r.js, "present")->boolean == 1);
	CHECK(jnum(r.js, "version") == 3);
	CHECK(kt_json_len(jget(r.js, "devices")) == 2);
	d = find_device(r.js, "alice-laptop");
	CHECK(d != NULL && strcmp(jstr(d, "push"), "fcm:alice-laptop-2") == 0);
	CHECK(strcmp(jstr(d, "kind"), "companion") == 0);
	/* who added each device, committed with it */
	CHECK(strcmp(jstr(jget(d, "added_by"), "type"), "device") == 0);
	CHECK(strcmp(jstr(jget(d, "added_by"), "device_id"), "alice-phone") == 0);
	d = find_device(r.js, "alice-phone");
	CHECK(d != NULL && strcmp(jstr(d, "kind"), "primary") == 0);
	CHECK(strcmp(jstr(d, "push"), "apns:alice-phone") == 0);
	CHECK(strcmp(jstr(jget(d, "added_by"), "type"), "registrar") == 0);
	CHECK(kt_json_get(jget(d, "added_by"), "device_id") == NULL);
	p = jget(r.js, "provenance");
	CHECK(strcmp(jstr(p, "type"), "device") == 0);
	CHECK(strcmp(jstr(p, "operation"), "set_push") == 0);
	CHECK(strcmp(jstr(p, "device_id"), "alice-laptop") == 0);
	size1 = jnum(r.js, "tree_size");
	CHECK(size1 >= 4);
	run_free(&r);
	KTCTL(&r, 0, "--state", wpath("bob.state"), "lookup", "--account", ALICE);
	CHECK(strstr(r.out, "verified: checkpoint signature, consistency, VRF, "
			    "map proof, commitment\n") != NULL);
	CHECK(strstr(r.out, "(consistency: with the trusted tree size") != NULL);
	CHECK(strstr(r.out, "alice-phone") != NULL);
	CHECK(strstr(r.out, "provenance device") != NULL);
	CHECK(strstr(r.out, "added by: registrar\n") != NULL);
	CHECK(strstr(r.out, "added by: device alice-phone\n") != NULL);
	run_free(&r);
	/* An account that does not exist is proven absent. */
	bob_lookup(&r, "tel:+10000000000");
	CHECK(jget(r.js, "present")->boolean == 0);
	CHECK(kt_json_len(jget(r.js, "devices")) == 0);
	run_free(&r);

	/* Alice's monitor: three versions, all hers. */
	KTCTL(&r, 0, "--state", wpath("alice.state"), "--json", "monitor",
	      "--account", ALICE, "--keys", wpath("phone.key"), "--own",
	      wpath("laptop.key"));
	CHECK(jnum(r.js, "version") == 3);
	CHECK(jnum(r.js, "new_versions") == 3);
	CHECK(jnum(r.js, "alerts") == 0);
	v = jget(r.js, "versions");
	CHECK(kt_json_len(v) == 3);
	CHECK(strcmp(jstr(jget(kt_json_at(v, 0), "provenance"), "type"),
		     "registrar") == 0);
	CHECK(strcmp(jstr(jget(kt_json_at(v, 1), "provenance"), "type"), "device") ==
	      0);
	CHECK(jget(kt_json_at(v, 2), "alert")->boolean == 0);
	run_free(&r);
	/* Nothing new since. */
	KTCTL(&r, 0, "--state", wpath("alice.state"), "monitor", "--account", ALICE,
	      "--keys", wpath("phone.key"), "--own-id", "alice-laptop");
	CHECK(strstr(r.out, "0 new version(s)") != NULL);
	run_free(&r);

	/* Bob seals to Alice's verified devices; each opens its copy. */
	KTCTL(&r, 0, "--state", wpath("bob.state"), "--json", "seal", "--account",
	      ALICE, "--message", "hello alice", "--out", wpath("m1.sealed"));
	CHECK(kt_json_len(jget(r.js, "items")) == 2);
	CHECK(jnum(r.js, "version") == 3);
	run_free(&r);
	open_as("phone.key", "m1.sealed", "hello alice");
	open_as("laptop.key", "m1.sealed", "hello alice");
	KTCTL(&r, 1, "open", "--keys", wpath("tablet.key"), "--in",
	      wpath("m1.sealed"));
	CHECK(strstr(r.err, "nothing sealed to device alice-tablet") != NULL);
	run_free(&r);
	/* Binary input from a file, to a file. */
	write_text(wpath("msg.bin"), "line one\nline two\001\002", 0600);
	KTCTL(&r, 0, "--state", wpath("bob.state"), "seal", "--account", ALICE,
	      "--in", wpath("msg.bin"), "--out", wpath("m2.sealed"));
	CHECK(strstr(r.out, "to 2 verified device(s)") != NULL);
	run_free(&r);
	KTCTL(&r, 0, "open", "--keys", wpath("laptop.key"), "--in",
	      wpath("m2.sealed"), "--out", wpath("msg.out"));
	run_free(&r);
	sealed_in = slurp(wpath("msg.bin"), &blen);
	check_same_file(wpath("msg.out"), sealed_in, blen);
	free(sealed_in);
	/* Nothing is sealed to an absent account. */
	KTCTL(&r, 1, "--state", wpath("bob.state"), "seal", "--account",
	      "tel:+10000000000", "--message", "x", "--out", wpath("m3.sealed"));
	CHECK(strstr(r.err, "KT_ERR_CLIENT_NO_DEVICES") != NULL);
	CHECK(!exists(wpath("m3.sealed")));
	run_free(&r);

	/* Checkpoint: consistent with what Bob trusted. */
	KTCTL(&r, 0, "--state", wpath("bob.state"), "--json", "checkpoint");
	CHECK(jnum(r.js, "tree_size") >= size1);
	CHECK(jnum(r.js, "consistency_from") >= size1);
	/* what was verified: root, time, witness policy, the signed note */
	CHECK(strlen(jstr(r.js, "root")) == 64);
	CHECK(jnum(r.js, "timestamp_ms") > 0);
	CHECK(jget(r.js, "cosigned")->boolean == 1);   /* no witness policy */
	CHECK(jnum(r.js, "cosigned_size") == jnum(r.js, "tree_size"));
	CHECK(strncmp(jstr(r.js, "note"), k->origin, strlen(k->origin)) == 0);
	CHECK(strstr(jstr(r.js, "note"), "\n\n\xe2\x80\x94 ") != NULL); /* "— " */
	run_free(&r);
	KTCTL(&r, 0, "--state", wpath("bob.state"), "checkpoint");
	CHECK(strstr(r.out, "checkpoint verified: tree size") != NULL);
	CHECK(strstr(r.out, "root:       ") != NULL);
	CHECK(strstr(r.out, "witnesses:  policy met") != NULL);
	CHECK(strstr(r.out, "signed note:\n") != NULL);
	run_free(&r);
	/* --set beats the file: a scalar the file sets (origin: replaced, it
	 * then disagrees with the log key's name) and a list (the file's
	 * server is replaced, not added to: nothing answers) */
	KTCTL(&r, 1, "--state", wpath("bob.state"), "--set",
	      "endpoint=127.0.0.1:1", "checkpoint");
	CHECK(strstr(r.err, "UNAVAILABLE") != NULL);
	run_free(&r);
	KTCTL(&r, 1, "--state", wpath("bob.state"), "--set",
	      "origin=other.example", "checkpoint");
	CHECK(strstr(r.err, "origin 'other.example' is not the log key's name") !=
	      NULL);
	run_free(&r);
	KTCTL(&r, 2, "--set", "max_age=1h", "--set", "max_age=2h", "checkpoint");
	CHECK(strstr(r.err, "twice on the command line") != NULL);
	run_free(&r);
	KTCTL(&r, 0, "--state", wpath("bob.state"), "--set", "max_age=1h",
	      "--set", "deadline=5s", "checkpoint");
	run_free(&r);
	itest_note("happy paths: ok");
}

/* ---- 3. the escrow story ------------------------------------------------------ */

static void test_escrow(void)
{
	const kt_json *p, *d, *it, *fl;
	run r;

	/* A wrong admin credential: refused, nothing changes. */
	write_text(wpath("wrong.token"),
		   "0000000000000000000000000000000000000000000000000000000000000000\n",
		   0600);
	KTCTL(&r, 1, "--state", wpath("op.state"), "admin-update", "--account",
	      ALICE, "--add-device", wpath("escrow.key"), "--kind", "escrow",
	      "--reason", "x", "--admin-token", wpath("wrong.token"));
	CHECK(strstr(r.err, "PERMISSION_DENIED") != NULL);
	run_free(&r);
	KTCTL(&r, 2, "--state", wpath("op.state"), "admin-update", "--account",
	      ALICE, "--add-device", wpath("escrow.key"));       /* no reason */
	run_free(&r);
	bob_lookup(&r, ALICE);
	CHECK(jnum(r.js, "version") == 3);
	run_free(&r);

	/* The operator adds an escrow device, with a reason. */
	KTCTL(&r, 0, "--state", wpath("op.state"), "--json", "admin-update",
	      "--account", ALICE, "--add-device", wpath("escrow.key"), "--kind",
	      "escrow", "--reason", "court order 7");
	CHECK(jnum(r.js, "version") == 4);
	p = jget(jget(r.js, "lookup"), "provenance");
	CHECK(strcmp(jstr(p, "type"), "operator") == 0);
	CHECK(strcmp(jstr(p, "reason"), "court order 7") == 0);
	run_free(&r);

	/* Alice's monitor flags it: exit 4, device, provenance, reason. */
	{
		size_t len;
		char *st = slurp(wpath("alice.state"), &len);
		int fd = open(wpath("alice2.state"), O_WRONLY | O_CREAT | O_EXCL,
			      0600);

		CHECK(fd >= 0 && write(fd, st, len) == (ssize_t)len);
		close(fd);
		free(st);
	}
	KTCTL(&r, 4, "--state", wpath("alice2.state"), "monitor", "--account",
	      ALICE, "--keys", wpath("phone.key"), "--own", wpath("laptop.key"));
	CHECK(strstr(r.out, "ALERT") != NULL);
	CHECK(strstr(r.out, "escrow-1") != NULL);
	CHECK(strstr(r.out, "provenance operator") != NULL);
	CHECK(strstr(r.out, "court order 7") != NULL);
	run_free(&r);
	KTCTL(&r, 4, "--state", wpath("alice.state"), "--json", "monitor",
	      "--account", ALICE, "--keys", wpath("phone.key"), "--own",
	      wpath("laptop.key"));
	CHECK(jnum(r.js, "alerts") == 1);
	CHECK(jnum(r.js, "new_versions") == 1);
	it = kt_json_at(jget(r.js, "versions"), 0);
	CHECK(it != NULL && jnum(it, "version") == 4);
	CHECK(jget(it, "alert")->boolean == 1);
	fl = jget(it, "flags");
	CHECK(kt_json_len(fl) >= 1);
	CHECK(strcmp(kt_json_at(fl, 0)->text, "operator") == 0);
	p = jget(it, "provenance");
	CHECK(strcmp(jstr(p, "type"), "operator") == 0);
	CHECK(strcmp(jstr(p, "operation"), "add_device") == 0);
	CHECK(strcmp(jstr(p, "target_id"), "escrow-1") == 0);
	CHECK(strcmp(jstr(p, "reason"), "court order 7") == 0);
	run_free(&r);
	/* Reported once: the state file remembers the checked version. */
	KTCTL(&r, 0, "--state", wpath("alice.state"), "--json", "monitor",
	      "--account", ALICE, "--keys", wpath("phone.key"), "--own",
	      wpath("laptop.key"));
	CHECK(jnum(r.js, "new_versions") == 0);
	run_free(&r);

	/* Bob (his own state file) sees the device with provenance operator. */
	bob_lookup(&r, ALICE);
	CHECK(jnum(r.js, "version") == 4);
	d = find_device(r.js, "escrow-1");
	CHECK(d != NULL && strcmp(jstr(d, "kind"), "escrow") == 0);
	p = jget(r.js, "provenance");
	CHECK(strcmp(jstr(p, "type"), "operator") == 0);
	CHECK(strcmp(jstr(p, "target_id"), "escrow-1") == 0);
	CHECK(strcmp(jstr(p, "reason"), "court order 7") == 0);
	run_free(&r);
	KTCTL(&r, 0, "--state", wpath("bob.state"), "lookup", "--account", ALICE);
	CHECK(strstr(r.out, "escrow-1") != NULL);
	CHECK(strstr(r.out, "provenance operator") != NULL);
	CHECK(strstr(r.out, "court order 7") != NULL);
	run_free(&r);
	/* A sender now seals to three devices, the escrow one included (the
	 * owner has been alerted; keytrail makes it visible, not impossible). */
	KTCTL(&r, 0, "--state", wpath("bob.state"), "--json", "seal", "--account",
	      ALICE, "--message", "to all three", "--out", wpath("m4.sealed"));
	CHECK(kt_json_len(jget(r.js, "items")) == 3);
	run_free(&r);
	open_as("escrow.key", "m4.sealed", "to all three");
	open_as("phone.key", "m4.sealed", "to all three");

	/* Alice makes a later change of her own (her phone's push address):
	 * the current version's provenance is now her device, but Bob's
	 * lookup still names the escrow device as added by the operator
	 * (committed with the device, verified like the rest of the value). */
	KTCTL(&r, 0, "--state", wpath("alice.state"), "--json", "set-push",
	      "--account", ALICE, "--keys", wpath("phone.key"), "--push",
	      "apns:alice-phone-2");
	CHECK(jnum(r.js, "version") == 5);
	run_free(&r);
	bob_lookup(&r, ALICE);
	CHECK(jnum(r.js, "version") == 5);
	p = jget(r.js, "provenance");
	CHECK(strcmp(jstr(p, "type"), "device") == 0);
	CHECK(strcmp(jstr(p, "device_id"), "alice-phone") == 0);
	CHECK(strcmp(jstr(p, "operation"), "set_push") == 0);
	d = find_device(r.js, "escrow-1");
	CHECK(d != NULL && strcmp(jstr(d, "kind"), "escrow") == 0);
	CHECK(strcmp(jstr(jget(d, "added_by"), "type"), "operator") == 0);
	d = find_device(r.js, "alice-laptop");
	CHECK(d != NULL);
	CHECK(strcmp(jstr(jget(d, "added_by"), "type"), "device") == 0);
	CHECK(strcmp(jstr(jget(d, "added_by"), "device_id"), "alice-phone") == 0);
	run_free(&r);
	KTCTL(&r, 0, "--state", wpath("bob.state"), "lookup", "--account", ALICE);
	CHECK(strstr(r.out, "provenance device") != NULL);
	CHECK(strstr(r.out, "escrow-1") != NULL);
	CHECK(strstr(r.out, "added by: operator") != NULL);
	run_free(&r);

	/* Alice removes it; her monitor sees her own changes. */
	KTCTL(&r, 0, "--state", wpath("alice.state"), "--json", "remove-device",
	      "--account", ALICE, "--keys", wpath("phone.key"), "--device-id",
	      "escrow-1");
	CHECK(jnum(r.js, "version") == 6);
	run_free(&r);
	KTCTL(&r, 0, "--state", wpath("alice.state"), "--json", "monitor",
	      "--account", ALICE, "--keys", wpath("phone.key"), "--own",
	      wpath("laptop.key"));
	CHECK(jnum(r.js, "new_versions") == 2 && jnum(r.js, "alerts") == 0);
	run_free(&r);
	bob_lookup(&r, ALICE);
	CHECK(jnum(r.js, "version") == 6 && find_device(r.js, "escrow-1") == NULL);
	run_free(&r);
	/* A monitor that does not list the laptop as the owner's flags the
	 * laptop's own push change as an unknown device (new state file). */
	KTCTL(&r, 4, "--state", wpath("alice3.state"), "--json", "monitor",
	      "--account", ALICE, "--keys", wpath("phone.key"));
	CHECK(jnum(r.js, "new_versions") == 6);
	CHECK(jnum(r.js, "alerts") == 2);              /* set_push, operator */
	run_free(&r);
	itest_note("escrow story: ok");
}

/* ---- 4. verification failures at the command line ------------------------------ */

/* The evidence JSON in text (stderr or a file) names error. */
static void check_evidence_text(const char *text, const char *error)
{
	const char *start = strstr(text, "{\"format\":\"keytrail-evidence/v1\"");
	const char *end;
	kt_json *js;

	CHECK(start != NULL);
	end = strchr(start, '\n');
	CHECK(end != NULL);
	js = kt_json_parse(start, (size_t)(end - start));
	CHECK(js != NULL);
	CHECK(strcmp(jstr(js, "error"), error) == 0);
	CHECK(kt_json_get(js, "checkpoint") != NULL ||
	      kt_json_get(js, "trusted_checkpoint") != NULL);
	kt_json_free(js);
}

/* `ktd keygen KIND --name NAME --out FILE`: returns the verifier key it
 * prints (static buffer). */
static const char *ktd_keygen(const char *kind, const char *name,
			      const char *file)
{
	static char vk[1024];
	run r;
	size_t n;

	run_prog(&r, ktd_bin,
		 (const char *const[]){"keygen", kind, "--name", name, "--out",
				       wpath(file), NULL});
	CHECK(r.code == 0);
	n = strcspn(r.out, "\n");
	CHECK(n > 0 && n < sizeof(vk));
	memcpy(vk, r.out, n);
	vk[n] = '\0';
	run_free(&r);
	return vk;
}

static void test_verify_failures(itest_ktd *k)
{
	char *before, conf[400], set_w[1100];
	size_t blen;
	const char *vk;
	run r;

	before = slurp(wpath("bob.state"), &blen);

	/* Stale: a checkpoint older than max_age. */
	KTCTL(&r, 3, "--state", wpath("bob.state"), "--set", "max_age=1ms",
	      "lookup", "--account", ALICE);
	CHECK(strstr(r.err, "VERIFICATION FAILED") != NULL);
	check_evidence_text(r.err, "KT_ERR_CLIENT_STALE");
	run_free(&r);
	check_same_file(wpath("bob.state"), before, blen);
	KTCTL(&r, 3, "--state", wpath("bob.state"), "--set", "max_age=1ms",
	      "--json", "--evidence", wpath("stale.json"), "lookup", "--account",
	      ALICE);
	CHECK(r.js != NULL && jget(r.js, "ok")->boolean == 0);
	CHECK(strcmp(jstr(r.js, "error"), "KT_ERR_CLIENT_STALE") == 0);
	CHECK(jnum(r.js, "exit") == 3);
	run_free(&r);
	{
		size_t len;
		char *ev = slurp(wpath("stale.json"), &len);

		check_evidence_text(ev, "KT_ERR_CLIENT_STALE");
		CHECK(strstr(ev, "\"check\":\"max_age\"") != NULL);
		free(ev);
	}
	KTCTL(&r, 3, "--state", wpath("bob.state"), "--set", "max_age=1ms", "seal",
	      "--account", ALICE, "--message", "x", "--out", wpath("stale.sealed"));
	check_evidence_text(r.err, "KT_ERR_CLIENT_STALE");
	run_free(&r);
	CHECK(!exists(wpath("stale.sealed")));
	check_same_file(wpath("bob.state"), before, blen);

	/* A witness policy that no checkpoint meets (a witness that never
	 * cosigned, threshold 1, strict). */
	vk = ktd_keygen("witness", "witness.example/w1", "w1.key");
	snprintf(set_w, sizeof(set_w), "witness=%s", vk);
	KTCTL(&r, 3, "--state", wpath("w.state"), "--set", set_w, "--set",
	      "witness_threshold=1", "--set", "witness_mode=strict", "lookup",
	      "--account", ALICE);
	check_evidence_text(r.err, "KT_ERR_CLIENT_WITNESS_POLICY");
	run_free(&r);
	CHECK(!exists(wpath("w.state")));
	KTCTL(&r, 3, "--state", wpath("w.state"), "--set", set_w, "--set",
	      "witness_threshold=1", "seal", "--account", ALICE, "--message", "x",
	      "--out", wpath("w.sealed"));
	run_free(&r);
	CHECK(!exists(wpath("w.state")) && !exists(wpath("w.sealed")));
	/* Bob's state was made without that witness: it is refused as it is,
	 * never replaced (an error, 1). */
	KTCTL(&r, 1, "--state", wpath("bob.state"), "--set", set_w, "--set",
	      "witness_threshold=1", "lookup", "--account", ALICE);
	run_free(&r);
	check_same_file(wpath("bob.state"), before, blen);

	/* A checkpoint signed by another key of the same name (a forged log
	 * key in the configuration = a forged checkpoint from the client's
	 * point of view). */
	vk = ktd_keygen("log", k->origin, "forged-log.key");
	snprintf(conf, sizeof(conf), "%s", wpath("forged.conf"));
	conf_with(conf_main, conf, "log_key", vk);
	KTCTL_CONF(&r, 3, conf, "--state", wpath("f.state"), "lookup", "--account",
		   ALICE);
	check_evidence_text(r.err, "KT_ERR_CLIENT_CHECKPOINT_SIG");
	run_free(&r);
	CHECK(!exists(wpath("f.state")));
	KTCTL_CONF(&r, 3, conf, "--state", wpath("f.state"), "checkpoint");
	run_free(&r);
	KTCTL_CONF(&r, 1, conf, "--state", wpath("bob.state"), "lookup",
		   "--account", ALICE);
	run_free(&r);
	check_same_file(wpath("bob.state"), before, blen);
	free(before);
	itest_note("stale, witness policy, forged key: ok");
}

/* A second ktd started from an old copy of the log (same keys): first it
 * lags behind what Bob trusts, then, after its own changes, it serves a
 * branch that is not an extension of what Bob trusts (split view). */
static void test_split_view(itest_ktd *k2)
{
	char conf2[400], reg2[400], *before;
	size_t blen;
	uint64_t trusted, size2 = 0;
	int i;
	run r;

	KTCTL(&r, 0, "--state", wpath("bob.state"), "--json", "checkpoint");
	trusted = jnum(r.js, "tree_size");
	run_free(&r);
	before = slurp(wpath("bob.state"), &blen);
	itest_ktd_start(k2);
	snprintf(conf2, sizeof(conf2), "%s/client.conf", k2->data_dir);
	snprintf(reg2, sizeof(reg2), "%s/registrar.key", k2->data_dir);

	/* An honest node that lags refuses a last_verified_size beyond its
	 * newest checkpoint (OUT_OF_RANGE): an error, 1.  A node that lies
	 * and serves its older checkpoint anyway is caught as a rollback
	 * (exit 3): itest_tamper does that through the transport hook. */
	KTCTL_CONF(&r, 1, conf2, "--state", wpath("bob.state"), "lookup",
		   "--account", ALICE);
	CHECK(strstr(r.err, "OUT_OF_RANGE") != NULL);
	run_free(&r);
	KTCTL_CONF(&r, 1, conf2, "--state", wpath("bob.state"), "seal", "--account",
		   ALICE, "--message", "x", "--out", wpath("r.sealed"));
	run_free(&r);
	CHECK(!exists(wpath("r.sealed")));
	check_same_file(wpath("bob.state"), before, blen);

	/* The old copy grows on its own: other entries, a larger tree. */
	for (i = 0; size2 <= trusted; i++) {
		char acct[64], key[64];

		CHECK(i < 64);
		snprintf(acct, sizeof(acct), "tel:+1999000%04d", i);
		snprintf(key, sizeof(key), "fork%d.key", i);
		keygen(key, "fork-device");
		KTCTL_CONF(&r, 0, conf2, "--state", wpath("k2.state"), "enroll",
			   "--account", acct, "--keys", wpath(key),
			   "--registrar-key", reg2);
		run_free(&r);
		KTCTL_CONF(&r, 0, conf2, "--state", wpath("k2.state"), "--json",
			   "checkpoint");
		size2 = jnum(r.js, "tree_size");
		run_free(&r);
	}
	KTCTL_CONF(&r, 3, conf2, "--state", wpath("bob.state"), "--evidence",
		   wpath("fork.json"), "lookup", "--account", ALICE);
	run_free(&r);
	{
		size_t len;
		char *ev = slurp(wpath("fork.json"), &len);

		check_evidence_text(ev, "KT_ERR_CLIENT_INCONSISTENT");
		/* Both signed checkpoints are in the evidence. */
		CHECK(strstr(ev, "\"trusted_checkpoint\"") != NULL);
		CHECK(strstr(ev, "\"checkpoint\"") != NULL);
		free(ev);
	}
	check_same_file(wpath("bob.state"), before, blen);
	itest_ktd_stop(k2);
	itest_ktd_close_channel(k2);
	/* A node that does not answer: an error (1), not a verification. */
	KTCTL_CONF(&r, 1, conf2, "--state", wpath("bob.state"), "lookup",
		   "--account", ALICE);
	CHECK(strstr(r.err, "UNAVAILABLE") != NULL);
	run_free(&r);
	check_same_file(wpath("bob.state"), before, blen);
	free(before);
	itest_note("rollback and split view: ok");
}

int main(int argc, char **argv)
{
	itest_ktd k, k2;
	char cmd[1024];

	itest_init(argc, argv);
	if (argc < 3 || access(argv[2], X_OK) != 0) {
		fprintf(stderr, "usage: %s PATH-TO-KTD PATH-TO-KTCTL\n", argv[0]);
		return 2;
	}
	ktd_bin = argv[1];
	ktctl_path = argv[2];
	itest_ktd_new(&k, NULL);
	snprintf(wdir, sizeof(wdir), "%s/w", k.base);
	CHECK(mkdir(wdir, 0700) == 0);
	itest_ktd_start(&k);
	snprintf(conf_main, sizeof(conf_main), "%s/client.conf", k.data_dir);
	test_help_and_usage();
	test_happy(&k);
	/* Keep a copy of the log as it is now, for test_split_view. */
	itest_ktd_stop(&k);
	itest_ktd_new(&k2, NULL);
	snprintf(cmd, sizeof(cmd), "cp -a '%s' '%s'", k.data_dir, k2.data_dir);
	CHECK(system(cmd) == 0);
	itest_ktd_start(&k);
	test_escrow();
	test_verify_failures(&k);
	test_split_view(&k2);
	itest_ktd_stop(&k);
	itest_ktd_close_channel(&k);
	itest_note("ktctl: all passed");
	return 0;
}
