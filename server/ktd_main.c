/*
 * ktd_main.c — the ktd program: command line, start-up, signals, shutdown.
 *
 *   ktd [--config FILE] [--dev] [--data-dir D] [--listen ADDR]
 *       [--set name=value]...
 *   ktd keygen KIND --name N --out FILE
 *   ktd config-help
 *
 * Start-up prints one line to stdout that scripts and tests parse:
 *
 *   ktd: listening on 127.0.0.1:7600
 *
 * (with `--listen 127.0.0.1:0` the port is the one the kernel picked;
 * likewise "ktd: admin listening on ..." with admin_listen and
 * "ktd: metrics listening on ..." with metrics_listen), then,
 * in dev mode, what a client needs to verify this node (log verifier key,
 * VRF public key, dev registrar and admin files), also written to
 * <data_dir>/client.conf.  Everything else goes to the structured log on
 * stderr (server/log.h).
 *
 * SIGTERM / SIGINT: stop accepting, drain the network layer, stop the
 * sequencer (every accepted change is applied), close storage, exit 0.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "config.h"
#include "kt_note.h"
#include "log.h"
#include "metrics.h"
#include "net.h"
#include "node.h"
#include "service.h"

#define ERRLEN 512
#define MAX_SETS 256
#define PEM_MAX (1024u * 1024u)

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ktd [--config FILE] [--dev] [--data-dir DIR] [--listen ADDR]\n"
		"           [--set name=value]...\n"
		"       ktd keygen KIND --name NAME --out FILE\n"
		"             KIND: log, vrf, registrar, witness, admin\n"
		"       ktd config-help\n"
		"\n"
		"  --config FILE      read options from FILE (`ktd config-help` lists them)\n"
		"  --dev              development mode: keys generated in the data directory,\n"
		"                     default data directory ./" KT_NODE_DEV_DATA_DIR "\n"
		"  --data-dir DIR     same as --set data_dir=DIR\n"
		"  --listen ADDR      same as --set listen=ADDR (port 0: any free port)\n"
		"  --set name=value   set one option (after the file)\n");
}

/* ---- keygen / config-help --------------------------------------------- */

static int cmd_keygen(int argc, char **argv)
{
	const char *kind, *name = NULL, *out = NULL;
	char err[ERRLEN] = "";
	int i, r;

	if (argc < 3) {
		usage(stderr);
		return 2;
	}
	kind = argv[2];
	for (i = 3; i < argc; i++) {
		if (strcmp(argv[i], "--name") == 0 && i + 1 < argc)
			name = argv[++i];
		else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
			out = argv[++i];
		else {
			fprintf(stderr, "ktd keygen: unexpected argument '%s'\n", argv[i]);
			usage(stderr);
			return 2;
		}
	}
	if (out == NULL) {
		fprintf(stderr, "ktd keygen: --out FILE is required\n");
		return 2;
	}
	if (sodium_init() < 0) {
		fprintf(stderr, "ktd keygen: libsodium failed to initialise\n");
		return 1;
	}
	r = kt_keygen(kind, name, out, stdout, err, sizeof(err));
	if (r != KT_OK) {
		fprintf(stderr, "ktd keygen: %s\n", err[0] != '\0' ? err : kt_strerror(r));
		return 1;
	}
	return fflush(stdout) == 0 ? 0 : 1;
}

static int cmd_config_help(void)
{
	if (kt_config_write_example(stdout) != KT_OK || fflush(stdout) != 0) {
		fprintf(stderr, "ktd config-help: write failed\n");
		return 1;
	}
	return 0;
}

/* ---- configuration ------------------------------------------------------ */

typedef struct args {
	const char *config_file;
	const char *sets[MAX_SETS];
	size_t n_sets;
	char *owned[MAX_SETS];      /* "name=value" strings built from flags */
	size_t n_owned;
} args;

static void args_free(args *a)
{
	size_t i;

	for (i = 0; i < a->n_owned; i++)
		free(a->owned[i]);
}

static int add_set(args *a, const char *name, const char *value)
{
	size_t len;
	char *s;

	if (a->n_sets == MAX_SETS)
		return -1;
	if (name == NULL) {
		a->sets[a->n_sets++] = value;
		return 0;
	}
	len = strlen(name) + 1 + strlen(value) + 1;
	s = malloc(len);
	if (s == NULL)
		return -1;
	snprintf(s, len, "%s=%s", name, value);
	a->owned[a->n_owned++] = s;
	a->sets[a->n_sets++] = s;
	return 0;
}

/* Returns 0, or 2 for a usage error (printed). */
static int parse_args(int argc, char **argv, args *a)
{
	int i;

	for (i = 1; i < argc; i++) {
		const char *o = argv[i];
		int need = strcmp(o, "--config") == 0 || strcmp(o, "--data-dir") == 0 ||
			   strcmp(o, "--listen") == 0 || strcmp(o, "--set") == 0;
		int r = 0;

		if (need && i + 1 >= argc) {
			fprintf(stderr, "ktd: %s needs a value\n", o);
			return 2;
		}
		if (strcmp(o, "--config") == 0)
			a->config_file = argv[++i];
		else if (strcmp(o, "--dev") == 0)
			r = add_set(a, "dev_mode", "true");
		else if (strcmp(o, "--data-dir") == 0)
			r = add_set(a, "data_dir", argv[++i]);
		else if (strcmp(o, "--listen") == 0)
			r = add_set(a, "listen", argv[++i]);
		else if (strcmp(o, "--set") == 0)
			r = add_set(a, NULL, argv[++i]);
		else if (strcmp(o, "-h") == 0 || strcmp(o, "--help") == 0) {
			usage(stdout);
			exit(0);
		} else {
			fprintf(stderr, "ktd: unknown argument '%s'\n", o);
			usage(stderr);
			return 2;
		}
		if (r != 0) {
			fprintf(stderr, "ktd: too many options\n");
			return 2;
		}
	}
	return 0;
}

static int load_config(const args *a, kt_config *cfg)
{
	char err[ERRLEN] = "";
	size_t i;
	int r;

	r = kt_config_init(cfg);
	if (r == KT_OK && a->config_file != NULL)
		r = kt_config_load_file(cfg, a->config_file, err, sizeof(err));
	for (i = 0; r == KT_OK && i < a->n_sets; i++)
		r = kt_config_set(cfg, a->sets[i], err, sizeof(err));
	if (r == KT_OK)
		r = kt_config_validate(cfg, err, sizeof(err));
	if (r != KT_OK)
		fprintf(stderr, "ktd: %s\n", err[0] != '\0' ? err : kt_strerror(r));
	return r;
}

/* ---- files -------------------------------------------------------------- */

/* Reads a whole (small) text file into a NUL-terminated heap string. */
static char *read_text(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n;

	if (f == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	buf = malloc(PEM_MAX + 1);
	if (buf == NULL) {
		fclose(f);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	n = fread(buf, 1, PEM_MAX + 1, f);
	if (ferror(f) || n > PEM_MAX) {
		snprintf(err, errlen, "%s: unreadable or over %u bytes", path, PEM_MAX);
		free(buf);
		buf = NULL;
	} else {
		buf[n] = '\0';
	}
	fclose(f);
	return buf;
}

/* "host:port" of addr with the port replaced by the bound one. */
static void bound_address(char *out, size_t cap, const char *addr, int port)
{
	const char *colon;

	if (strncmp(addr, "unix:", 5) == 0) {
		snprintf(out, cap, "%s", addr);
		return;
	}
	colon = strrchr(addr, ':');
	if (colon == NULL)
		snprintf(out, cap, "%s:%d", addr, port);
	else
		snprintf(out, cap, "%.*s:%d", (int)(colon - addr), addr, port);
}

static void abs_path(char *out, size_t cap, const char *dir, const char *file)
{
	char d[PATH_MAX];

	if (realpath(dir, d) == NULL)
		snprintf(d, sizeof(d), "%s", dir);
	snprintf(out, cap, "%s/%s", d, file);
}

/* Dev mode: prints and writes to <data_dir>/client.conf what a client
 * needs to verify this node.  Public values only. */
static int dev_client_info(const kt_config *cfg, kt_node *node,
			   const char *server)
{
	const kt_node_keys *keys = kt_node_keys_get(node);
	const char *dir = kt_node_data_dir(cfg);
	char vrf_hex[2 * KT_VRF_PUBLICKEY_BYTES + 1];
	char reg[PATH_MAX + 64], adm[PATH_MAX + 64], path[PATH_MAX + 64];
	char tmp[PATH_MAX + 128];
	char *vk = NULL;
	size_t vk_len = 0;
	FILE *f;
	int r;

	r = kt_note_verifier_format(&keys->log_signer.pub, &vk, &vk_len);
	if (r != KT_OK)
		return r;
	sodium_bin2hex(vrf_hex, sizeof(vrf_hex), keys->vrf_pk, KT_VRF_PUBLICKEY_BYTES);
	abs_path(reg, sizeof(reg), dir, KT_NODE_DEV_REGISTRAR_FILE);
	if (cfg->admin_token_file != NULL)
		snprintf(adm, sizeof(adm), "%s", cfg->admin_token_file);
	else
		abs_path(adm, sizeof(adm), dir, KT_NODE_DEV_ADMIN_FILE);
	printf("ktd: dev origin: %s\n", keys->log_signer.pub.name);
	printf("ktd: dev log verifier key: %s\n", vk);
	printf("ktd: dev vrf public key: %s\n", vrf_hex);
	printf("ktd: dev registrar key file: %s\n", reg);
	printf("ktd: dev admin token file: %s\n", adm);

	abs_path(path, sizeof(path), dir, "client.conf");
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (f == NULL) {
		r = KT_ERR_IO;
		goto out;
	}
	fprintf(f,
		"# Written by `ktd --dev` at every start: what a client needs to\n"
		"# talk to this development node and verify its answers.\n"
		"server = %s\n"
		"origin = %s\n"
		"log_key = %s\n"
		"vrf_public_key = %s\n"
		"registrar_key_file = %s\n"
		"admin_token_file = %s\n",
		server, keys->log_signer.pub.name, vk, vrf_hex, reg, adm);
	r = fclose(f) == 0 ? KT_OK : KT_ERR_IO;
	if (r == KT_OK && rename(tmp, path) != 0)
		r = KT_ERR_IO;
	if (r != KT_OK)
		unlink(tmp);
out:
	free(vk);
	if (r != KT_OK)
		kt_slog(KT_SLOG_WARN, "client_conf", "path=%s code=%s", path,
			kt_errname(r));
	return KT_OK;
}

/* ---- serve -------------------------------------------------------------- */

typedef struct tls_files {
	char *cert, *key, *ca;
} tls_files;

static void tls_free(tls_files *t)
{
	if (t->key != NULL)
		sodium_memzero(t->key, strlen(t->key));
	free(t->cert);
	free(t->key);
	free(t->ca);
}

static int tls_load(const kt_config *cfg, tls_files *t)
{
	char err[ERRLEN] = "";

	memset(t, 0, sizeof(*t));
	if (cfg->tls_cert_file == NULL)
		return 0;
	t->cert = read_text(cfg->tls_cert_file, err, sizeof(err));
	if (t->cert != NULL)
		t->key = read_text(cfg->tls_key_file, err, sizeof(err));
	if (t->key != NULL && cfg->tls_client_ca_file != NULL)
		t->ca = read_text(cfg->tls_client_ca_file, err, sizeof(err));
	if (t->cert == NULL || t->key == NULL ||
	    (cfg->tls_client_ca_file != NULL && t->ca == NULL)) {
		fprintf(stderr, "ktd: TLS: %s\n", err);
		tls_free(t);
		return -1;
	}
	return 0;
}

static int serve(const kt_config *cfg)
{
	static const char *const health[] = {"keytrail.v1.Directory",
					      "keytrail.v1.Admin", NULL};
	kt_net_method methods[KT_SERVICE_MAX_METHODS];
	kt_net_listener ls[2];
	kt_net_config nc;
	kt_node *node = NULL;
	kt_service *svc = NULL;
	kt_net *net = NULL;
	kt_metrics_http *mh = NULL;
	tls_files tls;
	sigset_t set;
	char err[ERRLEN] = "", addr[512], aaddr[512], maddr[512];
	size_t n_methods = 0, n_ls = 1;
	unsigned admin_mask = 1u;
	int sig = 0, r, rc = 1;

	/* Signals are taken by sigwait below: block them before any thread
	 * starts, so that every thread inherits the mask. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (tls_load(cfg, &tls) != 0)
		return 1;
	r = kt_node_open(cfg, &node, err, sizeof(err));
	if (r != KT_OK) {
		fprintf(stderr, "ktd: %s\n", err[0] != '\0' ? err : kt_strerror(r));
		goto out;
	}
	r = kt_service_new(node, &svc);
	memset(ls, 0, sizeof(ls));
	ls[0].addr = cfg->listen;
	ls[0].tls_cert_pem = tls.cert;
	ls[0].tls_key_pem = tls.key;
	if (cfg->admin_listen != NULL) {
		ls[1].addr = cfg->admin_listen;
		ls[1].tls_cert_pem = tls.cert;
		ls[1].tls_key_pem = tls.key;
		ls[1].tls_client_ca_pem = tls.ca;
		n_ls = 2;
		admin_mask = 2u;
	}
	if (r == KT_OK)
		r = kt_service_methods(svc, 1u, admin_mask,
				       (unsigned)cfg->outstanding_per_method,
				       methods, KT_SERVICE_MAX_METHODS, &n_methods);
	memset(&nc, 0, sizeof(nc));
	nc.listeners = ls;
	nc.n_listeners = n_ls;
	nc.methods = methods;
	nc.n_methods = n_methods;
	nc.app = svc;
	nc.workers = (unsigned)cfg->workers;
	nc.max_message = (uint32_t)cfg->max_message_bytes;
	nc.health_services = health;
	if (r == KT_OK)
		r = kt_net_start(&nc, &net);
	if (r != KT_OK) {
		fprintf(stderr, "ktd: cannot serve on %s: %s\n", cfg->listen,
			kt_strerror(r));
		goto out;
	}
	if (cfg->metrics_listen != NULL && cfg->metrics_listen[0] != '\0') {
		r = kt_metrics_http_start(cfg->metrics_listen, &mh, err, sizeof(err));
		if (r != KT_OK) {
			fprintf(stderr, "ktd: %s\n", err[0] != '\0' ? err : kt_strerror(r));
			kt_net_stop(net);
			goto out;
		}
		bound_address(maddr, sizeof(maddr), cfg->metrics_listen,
			      kt_metrics_http_port(mh));
		kt_slog(KT_SLOG_INFO, "metrics_listen", "addr=%s", maddr);
	}
	kt_net_set_serving(net, 1);
	bound_address(addr, sizeof(addr), cfg->listen, kt_net_port(net, 0));
	printf("ktd: listening on %s\n", addr);
	if (n_ls == 2) {
		bound_address(aaddr, sizeof(aaddr), cfg->admin_listen,
			      kt_net_port(net, 1));
		printf("ktd: admin listening on %s\n", aaddr);
	}
	if (mh != NULL)
		printf("ktd: metrics listening on %s\n", maddr);
	if (cfg->dev_mode && dev_client_info(cfg, node, addr) != KT_OK)
		kt_slog(KT_SLOG_WARN, "dev_info", "could not format the dev keys");
	fflush(stdout);
	kt_slog(KT_SLOG_INFO, "serving", "listen=%s admin=%s", addr,
		n_ls == 2 ? aaddr : addr);

	while (sigwait(&set, &sig) != 0)
		;
	kt_slog(KT_SLOG_INFO, "shutdown", "signal=%d", sig);
	kt_net_set_serving(net, 0);
	kt_net_stop(net);
	rc = 0;
out:
	kt_metrics_http_stop(mh);
	/* The sequencer's completions use svc and net: stop it (node close)
	 * before freeing either. */
	kt_node_close(node);
	kt_net_free(net);
	kt_service_free(svc);
	tls_free(&tls);
	if (rc == 0)
		kt_slog(KT_SLOG_INFO, "stopped", NULL);
	return rc;
}

int main(int argc, char **argv)
{
	kt_config cfg;
	args a;
	int rc;

	if (argc >= 2 && strcmp(argv[1], "keygen") == 0)
		return cmd_keygen(argc, argv);
	if (argc >= 2 && strcmp(argv[1], "config-help") == 0)
		return cmd_config_help();
	memset(&a, 0, sizeof(a));
	memset(&cfg, 0, sizeof(cfg));
	rc = parse_args(argc, argv, &a);
	if (rc == 0)
		rc = load_config(&a, &cfg) == KT_OK ? 0 : 1;
	args_free(&a);
	if (rc != 0) {
		kt_config_free(&cfg);
		return rc;
	}
	kt_slog_set_level((kt_slog_level)cfg.log_level);
	rc = serve(&cfg);
	kt_config_free(&cfg);
	return rc;
}
