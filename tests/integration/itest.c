/*
 * itest.c — the integration-test harness: ktd processes, calls, requests
 * (see itest.h).
 */
#define _GNU_SOURCE
#include "itest.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "keytrail/v1/directory.pb-c.h"
#include "kt_test_fs.h"

#define MAX_PROCS 8
#define MAX_DIRS 8
#define START_TIMEOUT_MS 30000
#define STOP_TIMEOUT_MS 30000
#define CALL_TIMEOUT_MS 20000

static const char *ktd_path;
/* Every ktd started, by slot: plain copies (not pointers into the tests'
 * stack), so that the exit and signal handlers can always use them. */
static struct {
	volatile pid_t pid;             /* 0: not running */
	int used;
	char log_path[300];
} procs[MAX_PROCS];
static char dirs[MAX_DIRS][256];        /* base directories to remove */
static size_t n_dirs;
static volatile sig_atomic_t failing;

/* ---- process registry and cleanup ------------------------------------ */

static void kill_all(void)
{
	size_t i;

	for (i = 0; i < MAX_PROCS; i++) {
		if (procs[i].pid > 0) {
			kill(procs[i].pid, SIGKILL);
			waitpid(procs[i].pid, NULL, 0);
			procs[i].pid = 0;
		}
	}
}

static void print_log_tail(const char *path)
{
	char buf[8192];
	FILE *f = fopen(path, "r");
	long sz;
	size_t n;

	if (f == NULL)
		return;
	fseek(f, 0, SEEK_END);
	sz = ftell(f);
	fseek(f, sz > (long)sizeof(buf) - 1 ? sz - (long)sizeof(buf) + 1 : 0,
	      SEEK_SET);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	fprintf(stderr, "---- tail of %s ----\n%s\n---- end ----\n", path, buf);
}

static void at_exit(void)
{
	size_t i;
	int keep = getenv("KT_ITEST_KEEP") != NULL;

	kill_all();
	if (failing)
		for (i = 0; i < MAX_PROCS; i++)
			if (procs[i].used)
				print_log_tail(procs[i].log_path);
	for (i = 0; i < n_dirs; i++) {
		if (keep || failing)
			fprintf(stderr, "itest: %s %s\n",
				keep ? "kept" : "removing", dirs[i]);
		if (!keep)
			kt_test_rm_tree(dirs[i]);
	}
}

static void on_signal(int sig)
{
	size_t i;

	/* async-signal-safe: kill, waitpid, signal, raise */
	for (i = 0; i < MAX_PROCS; i++)
		if (procs[i].pid > 0) {
			kill(procs[i].pid, SIGKILL);
			waitpid(procs[i].pid, NULL, 0);
			procs[i].pid = 0;
		}
	signal(sig, SIG_DFL);
	raise(sig);
}

void itest_init(int argc, char **argv)
{
	static const int sigs[] = {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL,
				   SIGINT, SIGTERM, SIGHUP};
	size_t i;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 2)
		ktd_path = argv[1];
#ifdef KT_KTD_PATH
	if (ktd_path == NULL)
		ktd_path = KT_KTD_PATH;
#endif
	if (ktd_path == NULL || access(ktd_path, X_OK) != 0) {
		fprintf(stderr, "usage: %s PATH-TO-KTD\n", argv[0]);
		exit(2);
	}
	if (sodium_init() < 0) {
		fprintf(stderr, "sodium_init failed\n");
		exit(2);
	}
	atexit(at_exit);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		signal(sigs[i], on_signal);
	signal(SIGPIPE, SIG_IGN);
}

void itest_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	failing = 1;
	fprintf(stderr, "FAIL %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(1);
}

void itest_note(const char *fmt, ...)
{
	va_list ap;

	printf("itest: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

uint64_t itest_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t itest_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- starting and stopping ktd ------------------------------------------ */

void itest_ktd_new(itest_ktd *k, const char *const *extra)
{
	size_t i;

	memset(k, 0, sizeof(*k));
	snprintf(k->base, sizeof(k->base), "/tmp/kt-itest-XXXXXX");
	if (mkdtemp(k->base) == NULL)
		itest_fail(__FILE__, __LINE__, "mkdtemp: %s", strerror(errno));
	CHECK(n_dirs < MAX_DIRS);
	snprintf(dirs[n_dirs++], sizeof(dirs[0]), "%s", k->base);
	snprintf(k->data_dir, sizeof(k->data_dir), "%s/data", k->base);
	snprintf(k->log_path, sizeof(k->log_path), "%s/ktd.log", k->base);
	for (i = 0; extra != NULL && extra[i] != NULL; i++) {
		CHECK(i < sizeof(k->extra) / sizeof(k->extra[0]));
		snprintf(k->extra[i], sizeof(k->extra[i]), "%s", extra[i]);
		k->n_extra = i + 1;
	}
	for (i = 0; i < MAX_PROCS; i++)
		if (!procs[i].used) {
			procs[i].used = 1;
			snprintf(procs[i].log_path, sizeof(procs[i].log_path), "%s",
				 k->log_path);
			k->slot = (int)i;
			return;
		}
	itest_fail(__FILE__, __LINE__, "too many ktd processes");
}

/* Reads one line from fd within the deadline (monotonic ms). */
static int read_line(int fd, char *buf, size_t cap, uint64_t deadline)
{
	size_t n = 0;
	char c;

	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		uint64_t now = itest_mono_ms();
		ssize_t r;

		if (now >= deadline)
			return -1;
		if (poll(&p, 1, (int)(deadline - now)) <= 0)
			continue;
		r = read(fd, &c, 1);
		if (r <= 0)
			return -1;
		if (c == '\n')
			break;
		if (n + 1 < cap)
			buf[n++] = c;
	}
	buf[n] = '\0';
	return 0;
}

/* Copies a NUL-terminated string into a buffer it must fit. */
static void copy_str(char *dst, size_t cap, const char *src)
{
	size_t n = strlen(src);

	CHECK(n < cap);
	memcpy(dst, src, n + 1);
}

static const char *after(const char *line, const char *prefix)
{
	size_t n = strlen(prefix);

	return strncmp(line, prefix, n) == 0 ? line + n : NULL;
}

static void load_dev_files(itest_ktd *k, const char *registrar_path,
			   const char *admin_path)
{
	char buf[1024];
	FILE *f;
	size_t n;

	f = fopen(registrar_path, "r");
	CHECK(f != NULL);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	CHECK_OK(kt_note_signer_parse(&k->registrar, buf, n));
	sodium_memzero(buf, sizeof(buf));
	f = fopen(admin_path, "r");
	CHECK(f != NULL);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	CHECK(n >= 64);
	memcpy(k->admin_hex, buf, 64);
	k->admin_hex[64] = '\0';
}

void itest_ktd_start(itest_ktd *k)
{
	const char *argv[64];
	char sets[16][520];
	char line[2048], reg[1024] = "", adm[1024] = "";
	uint64_t deadline;
	size_t argc = 0, i, hexlen = 0;
	int pfd[2], logfd, got_listen = 0;
	pid_t parent = getpid(), pid;
	const char *v;

	CHECK(k->pid == 0);
	k->admin_addr[0] = '\0';
	k->metrics_addr[0] = '\0';
	argv[argc++] = ktd_path;
	argv[argc++] = "--dev";
	argv[argc++] = "--data-dir";
	argv[argc++] = k->data_dir;
	argv[argc++] = "--listen";
	argv[argc++] = "127.0.0.1:0";
	for (i = 0; i < k->n_extra; i++) {
		snprintf(sets[i], sizeof(sets[i]), "%s", k->extra[i]);
		argv[argc++] = "--set";
		argv[argc++] = sets[i];
	}
	argv[argc] = NULL;
	CHECK(pipe(pfd) == 0);
	logfd = open(k->log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
	CHECK(logfd >= 0);
	fflush(NULL);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		/* child: only async-signal-safe calls until exec */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		dup2(pfd[1], 1);
		dup2(logfd, 2);
		close(pfd[0]);
		close(pfd[1]);
		close(logfd);
		execv(ktd_path, (char *const *)(uintptr_t)argv);
		_exit(127);
	}
	k->pid = pid;
	procs[k->slot].pid = pid;
	close(pfd[1]);
	close(logfd);
	deadline = itest_mono_ms() + START_TIMEOUT_MS;
	/* The admin token file line is the last start line. */
	while (adm[0] == '\0') {
		if (read_line(pfd[0], line, sizeof(line), deadline) != 0) {
			close(pfd[0]);
			itest_fail(__FILE__, __LINE__, "ktd did not start (see %s)",
				   k->log_path);
		}
		if ((v = after(line, "ktd: listening on ")) != NULL) {
			copy_str(k->addr, sizeof(k->addr), v);
			got_listen = 1;
		} else if ((v = after(line, "ktd: admin listening on ")) != NULL) {
			copy_str(k->admin_addr, sizeof(k->admin_addr), v);
		} else if ((v = after(line, "ktd: metrics listening on ")) != NULL) {
			copy_str(k->metrics_addr, sizeof(k->metrics_addr), v);
		} else if ((v = after(line, "ktd: dev origin: ")) != NULL) {
			copy_str(k->origin, sizeof(k->origin), v);
		} else if ((v = after(line, "ktd: dev log verifier key: ")) != NULL) {
			copy_str(k->log_vk_str, sizeof(k->log_vk_str), v);
			CHECK_OK(kt_note_verifier_parse(&k->log_vk, v, strlen(v)));
		} else if ((v = after(line, "ktd: dev vrf public key: ")) != NULL) {
			CHECK(sodium_hex2bin(k->vrf_pk, sizeof(k->vrf_pk), v, strlen(v),
					     NULL, &hexlen, NULL) == 0 &&
			      hexlen == sizeof(k->vrf_pk));
		} else if ((v = after(line, "ktd: dev registrar key file: ")) != NULL) {
			copy_str(reg, sizeof(reg), v);
		} else if ((v = after(line, "ktd: dev admin token file: ")) != NULL) {
			copy_str(adm, sizeof(adm), v);
		}
	}
	/* Keep the pipe's read end open until exit would be nicer, but ktd
	 * writes nothing more to stdout; closing it is fine (SIGPIPE is
	 * ignored there and stdout is flushed only at start). */
	close(pfd[0]);
	CHECK(got_listen && k->origin[0] != '\0' && k->log_vk_str[0] != '\0');
	load_dev_files(k, reg, adm);
	if (k->gc != NULL)
		kt_gc_close(k->gc);
	k->gc = NULL;
	CHECK_OK(kt_gc_open(k->addr, NULL, &k->gc));
}

static int wait_exit(itest_ktd *k, uint64_t timeout_ms, int *status)
{
	uint64_t deadline = itest_mono_ms() + timeout_ms;
	pid_t r;

	for (;;) {
		r = waitpid(k->pid, status, WNOHANG);
		if (r == k->pid) {
			procs[k->slot].pid = 0;
			return 0;
		}
		if (r < 0 && errno != EINTR)
			return -1;
		if (itest_mono_ms() >= deadline)
			return -1;
		usleep(10000);
	}
}

void itest_ktd_stop(itest_ktd *k)
{
	int status = 0;

	CHECK(k->pid > 0);
	CHECK(kill(k->pid, SIGTERM) == 0);
	if (wait_exit(k, STOP_TIMEOUT_MS, &status) != 0)
		itest_fail(__FILE__, __LINE__, "ktd did not stop on SIGTERM");
	k->pid = 0;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		itest_fail(__FILE__, __LINE__, "ktd exit status %d (signal %d)",
			   WIFEXITED(status) ? WEXITSTATUS(status) : -1,
			   WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

void itest_ktd_kill9(itest_ktd *k)
{
	CHECK(k->pid > 0);
	kill(k->pid, SIGKILL);
	waitpid(k->pid, NULL, 0);
	procs[k->slot].pid = 0;
	k->pid = 0;
}

void itest_ktd_close_channel(itest_ktd *k)
{
	kt_gc_close(k->gc);
	k->gc = NULL;
}

/* ---- calls ---------------------------------------------------------------- */

void itest_call(itest_ktd *k, const char *method, const void *req, size_t len,
		const char *const *md, kt_gc_result *res)
{
	memset(res, 0, sizeof(*res));
	CHECK_OK(kt_gc_call(k->gc, method, req, len, md, CALL_TIMEOUT_MS, res));
}

void itest_call_pb(itest_ktd *k, const char *method,
		   const struct ProtobufCMessage *msg, const char *const *md,
		   kt_gc_result *res)
{
	size_t len = protobuf_c_message_get_packed_size(msg);
	uint8_t *buf = malloc(len != 0 ? len : 1);

	CHECK(buf != NULL);
	protobuf_c_message_pack(msg, buf);
	itest_call(k, method, buf, len, md, res);
	free(buf);
}

const char *const *itest_admin_md(itest_ktd *k)
{
	static const char *md[3];

	md[0] = "x-keytrail-admin";
	md[1] = k->admin_hex;
	md[2] = NULL;
	return md;
}

/* ---- devices and requests ------------------------------------------------ */

void itest_device_new(itest_device *dev, const char *id, uint8_t kind)
{
	uint8_t esk[crypto_box_SECRETKEYBYTES];

	memset(dev, 0, sizeof(*dev));
	dev->d.id_len = strlen(id);
	CHECK(dev->d.id_len >= 1 && dev->d.id_len <= KT_DEVICE_ID_MAX);
	memcpy(dev->d.id, id, dev->d.id_len);
	dev->d.sign_pk.type = KT_SIGN_KEY_ED25519;
	crypto_sign_keypair(dev->d.sign_pk.pk, dev->sk);
	dev->d.enc_pk.type = KT_ENC_KEY_X25519;
	crypto_box_keypair(dev->d.enc_pk.pk, esk);
	sodium_memzero(esk, sizeof(esk));
	dev->d.kind = kind;
}

size_t itest_op_encode(const kt_update_op *op, uint8_t *out, size_t cap)
{
	kt_wbuf w;
	uint8_t *p = NULL;
	size_t n = 0;

	kt_wbuf_init(&w, KT_UPDATE_OP_MAX_BYTES);
	CHECK_OK(kt_update_op_encode(&w, op));
	CHECK_OK(kt_wbuf_take(&w, &p, &n));
	CHECK(n <= cap);
	memcpy(out, p, n);
	free(p);
	return n;
}

void itest_op_add(kt_update_op *op, const itest_device *dev)
{
	memset(op, 0, sizeof(*op));
	op->op = KT_OP_ADD_DEVICE;
	op->device = dev->d;
}

void itest_op_remove(kt_update_op *op, const char *id)
{
	memset(op, 0, sizeof(*op));
	op->op = KT_OP_REMOVE_DEVICE;
	op->device_id_len = strlen(id);
	memcpy(op->device_id, id, op->device_id_len);
}

void itest_op_set_push(kt_update_op *op, const char *id, const char *push)
{
	memset(op, 0, sizeof(*op));
	op->op = KT_OP_SET_PUSH;
	op->device_id_len = strlen(id);
	memcpy(op->device_id, id, op->device_id_len);
	op->push_len = strlen(push);
	memcpy(op->push, push, op->push_len);
}

static uint8_t *pack_update(Keytrail__V1__UpdateRequest *req, size_t *len)
{
	uint8_t *buf;

	*len = keytrail__v1__update_request__get_packed_size(req);
	buf = malloc(*len != 0 ? *len : 1);
	CHECK(buf != NULL);
	keytrail__v1__update_request__pack(req, buf);
	return buf;
}

static size_t sig_encode(const kt_signature *sig, uint8_t out[KT_SIGNATURE_BYTES])
{
	out[0] = sig->type;
	memcpy(out + 1, sig->sig, KT_ED25519_SIG_BYTES);
	return KT_SIGNATURE_BYTES;
}

uint8_t *itest_req_enrol(itest_ktd *k, const char *account,
			 const itest_device *dev, uint64_t expiry_ms, size_t *len)
{
	Keytrail__V1__UpdateRequest req = KEYTRAIL__V1__UPDATE_REQUEST__INIT;
	Keytrail__V1__RegistrarToken tok = KEYTRAIL__V1__REGISTRAR_TOKEN__INIT;
	uint8_t opb[KT_UPDATE_OP_MAX_BYTES], rk[KT_SIGN_KEY_BYTES];
	uint8_t sigb[KT_SIGNATURE_BYTES];
	kt_update_op op;
	kt_signature sig;
	kt_wbuf w;
	uint8_t *msg = NULL;
	size_t mlen = 0;

	memset(&op, 0, sizeof(op));
	op.op = KT_OP_ENROL;
	op.device = dev->d;
	kt_wbuf_init(&w, KT_REGISTRAR_TOKEN_MESSAGE_MAX_BYTES);
	CHECK_OK(kt_registrar_token_message(&w, (const uint8_t *)account,
					    strlen(account), &dev->d, expiry_ms));
	CHECK_OK(kt_wbuf_take(&w, &msg, &mlen));
	CHECK_OK(kt_sig_sign(&sig, k->registrar.sk, msg, mlen));
	free(msg);
	rk[0] = KT_SIGN_KEY_ED25519;
	memcpy(rk + 1, k->registrar.pub.pk, 32);
	tok.registrar_key.data = rk;
	tok.registrar_key.len = sizeof(rk);
	tok.expiry_ms = expiry_ms;
	tok.signature.data = sigb;
	tok.signature.len = sig_encode(&sig, sigb);
	req.account.data = (uint8_t *)(uintptr_t)account;
	req.account.len = strlen(account);
	req.operation.data = opb;
	req.operation.len = itest_op_encode(&op, opb, sizeof(opb));
	req.expected_version = 0;
	req.token = &tok;
	return pack_update(&req, len);
}

uint8_t *itest_req_signed(const char *account, const kt_update_op *op,
			  uint64_t expected_version, const itest_device *signer,
			  size_t *len)
{
	Keytrail__V1__UpdateRequest req = KEYTRAIL__V1__UPDATE_REQUEST__INIT;
	uint8_t opb[KT_UPDATE_OP_MAX_BYTES], sigb[KT_SIGNATURE_BYTES];
	kt_signature sig;
	kt_wbuf w;
	uint8_t *msg = NULL;
	size_t mlen = 0;

	kt_wbuf_init(&w, KT_UPDATE_MESSAGE_MAX_BYTES);
	CHECK_OK(kt_update_message(&w, (const uint8_t *)account, strlen(account),
				   op, expected_version));
	CHECK_OK(kt_wbuf_take(&w, &msg, &mlen));
	CHECK_OK(kt_sig_sign(&sig, signer->sk, msg, mlen));
	free(msg);
	req.account.data = (uint8_t *)(uintptr_t)account;
	req.account.len = strlen(account);
	req.operation.data = opb;
	req.operation.len = itest_op_encode(op, opb, sizeof(opb));
	req.expected_version = expected_version;
	req.device_id.data = (uint8_t *)(uintptr_t)signer->d.id;
	req.device_id.len = signer->d.id_len;
	req.signature.data = sigb;
	req.signature.len = sig_encode(&sig, sigb);
	return pack_update(&req, len);
}

void itest_update_ok(itest_ktd *k, itest_trust *t, const uint8_t *req,
		     size_t len, uint64_t *version, uint64_t *log_index)
{
	Keytrail__V1__UpdateResponse *resp;
	kt_gc_result res;
	uint64_t size = 0;

	itest_call(k, M_UPDATE, req, len, NULL, &res);
	CHECK_STATUS(&res, 0);
	resp = keytrail__v1__update_response__unpack(NULL, res.body_len, res.body);
	CHECK(resp != NULL);
	CHECK_OK(itest_trust_checkpoint(t, resp->checkpoint.data,
					resp->checkpoint.len, &size, NULL));
	CHECK(resp->log_index < size);
	if (version != NULL)
		*version = resp->version;
	if (log_index != NULL)
		*log_index = resp->log_index;
	keytrail__v1__update_response__free_unpacked(resp, NULL);
	kt_gc_result_clear(&res);
}
