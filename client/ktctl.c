/*
 * ktctl.c — the keytrail command line for users and operators: a thin main
 * over libkeytrail (client/keytrail.h).  Every answer it shows or acts on
 * was verified by the library first; a failed verification prints the
 * library's evidence and exits 3.
 *
 *   ktctl [global options] COMMAND [options]     (ktctl --help)
 *
 * `admin-update` goes through the library's Admin client
 * (kt_client_admin_update); ktctl/admin.c only reads the admin token file.
 *
 * Exit status: 0 ok, 1 error, 2 usage, 3 verification failure, 4 monitor
 * alert (docs/OPERATIONS.md "ktctl").
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "keytrail.h"
#include "kt_enc.h"
#include "kt_types.h"
#include "ktctl/ktctl_int.h"

/* ---- exit codes ----------------------------------------------------------- */

#define EXIT_OK_ 0
#define EXIT_ERROR 1
#define EXIT_USAGE 2
#define EXIT_VERIFY 3
#define EXIT_ALERT 4

#define MAX_LIST 32
#define ERRLEN 512
#define BUNDLE_MAX (64u * 1024u * 1024u)   /* a sealed bundle file */
/* A token or bundle file that is not in its format. */
#define BAD_FILE KT_ERR_CONFIG_VALUE
#define TOKEN_FILE_MAX 8192u
#define DEFAULT_ENROL_TTL_MS (10u * 60u * 1000u)
#define TOKEN_FORMAT "keytrail-registrar-token/v1"
#define SEALED_FORMAT "keytrail-sealed/v1"

/* ---- options ----------------------------------------------------------------- */

enum {
	O_CONFIG, O_STATE, O_SET, O_JSON, O_EVIDENCE, O_HELP,  /* global */
	O_TLS_CERT, O_TLS_KEY,                                 /* global */
	O_OUT, O_ID, O_ACCOUNT, O_KEYS, O_DEVICE, O_DEVICE_ID, O_PUSH, O_KIND,
	O_TOKEN, O_REGISTRAR_KEY, O_EXPIRY, O_MESSAGE, O_IN, O_OWN, O_OWN_ID,
	O_REASON, O_ADMIN_TOKEN, O_ADMIN_ENDPOINT, O_ADD_DEVICE,
	O_REMOVE_DEVICE, O_SET_PUSH, O_COUNT
};

#define BIT(o) (1ull << (o))
#define GLOBAL_OPTS                                                       \
	(BIT(O_CONFIG) | BIT(O_STATE) | BIT(O_SET) | BIT(O_JSON) |       \
	 BIT(O_EVIDENCE) | BIT(O_HELP) | BIT(O_TLS_CERT) | BIT(O_TLS_KEY))

static const struct optdef {
	const char *name;
	int arg;       /* takes a value */
	int list;      /* may be repeated */
} optdefs[O_COUNT] = {
	[O_CONFIG] = {"config", 1, 0},
	[O_STATE] = {"state", 1, 0},
	[O_SET] = {"set", 1, 1},
	[O_JSON] = {"json", 0, 0},
	[O_EVIDENCE] = {"evidence", 1, 0},
	[O_HELP] = {"help", 0, 0},
	[O_TLS_CERT] = {"tls-cert", 1, 0},
	[O_TLS_KEY] = {"tls-key", 1, 0},
	[O_OUT] = {"out", 1, 0},
	[O_ID] = {"id", 1, 0},
	[O_ACCOUNT] = {"account", 1, 0},
	[O_KEYS] = {"keys", 1, 0},
	[O_DEVICE] = {"device", 1, 0},
	[O_DEVICE_ID] = {"device-id", 1, 0},
	[O_PUSH] = {"push", 1, 0},
	[O_KIND] = {"kind", 1, 0},
	[O_TOKEN] = {"token", 1, 0},
	[O_REGISTRAR_KEY] = {"registrar-key", 1, 0},
	[O_EXPIRY] = {"expiry", 1, 0},
	[O_MESSAGE] = {"message", 1, 0},
	[O_IN] = {"in", 1, 0},
	[O_OWN] = {"own", 1, 1},
	[O_OWN_ID] = {"own-id", 1, 1},
	[O_REASON] = {"reason", 1, 0},
	[O_ADMIN_TOKEN] = {"admin-token", 1, 0},
	[O_ADMIN_ENDPOINT] = {"admin-endpoint", 1, 0},
	[O_ADD_DEVICE] = {"add-device", 1, 0},
	[O_REMOVE_DEVICE] = {"remove-device", 1, 0},
	[O_SET_PUSH] = {"set-push", 1, 0},
};

/* What the command line said, plus the run's state (owned by main). */
typedef struct ctl {
	const char *cmd;
	const char *v[O_COUNT];                  /* last value of each option */
	int seen[O_COUNT];
	const char *list[O_COUNT][MAX_LIST];     /* values of list options */
	size_t n_list[O_COUNT];
	int json;
	int json_done;                           /* a JSON answer was printed */
	kt_client_config *cfg;
	kt_client *c;
	const char *config_path;
} ctl;

typedef int (*cmd_fn)(ctl *x);

typedef struct command {
	const char *name;
	cmd_fn fn;
	uint64_t allowed;        /* BIT(O_...) of the command's own options */
	const char *synopsis;
	const char *help;
} command;

/* ---- messages ------------------------------------------------------------------ */

/* The last message, for the JSON answer of a failure that report() did not
 * describe.  The program's one global besides the command line: messages
 * come from helpers that have no ctl. */
static char last_msg[1024];

static void msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* One line on stderr, prefixed "ktctl: ". */
static void msg(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_msg, sizeof(last_msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "ktctl: %s\n", last_msg);
}

static const char *grpc_status_name(int s)
{
	static const char *const names[] = {
		"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT",
		"DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
		"PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
		"ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL",
		"UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"};

	return s >= 0 && s < (int)(sizeof(names) / sizeof(names[0])) ? names[s]
								     : "?";
}

/* A failed verification: a KT_ERR_CLIENT_* code of a check (not the
 * configuration -200, the state file -201, or the transport -236..). */
static int is_verify_error(int r)
{
	return r <= KT_ERR_CLIENT_CHECKPOINT_SIG && r > KT_ERR_CLIENT_UNAVAILABLE;
}

static int exit_for(int r)
{
	if (r == KT_OK)
		return EXIT_OK_;
	return is_verify_error(r) ? EXIT_VERIFY : EXIT_ERROR;
}

/* Writes the evidence of the last failed verification to --evidence FILE
 * or stderr.  Returns the file name used ("stderr") for messages. */
static const char *write_evidence(ctl *x)
{
	const char *path = x->v[O_EVIDENCE];
	char *json = NULL;
	FILE *f;

	if (x->c == NULL || kt_client_evidence_json(x->c, &json) != KT_OK)
		return NULL;
	if (path != NULL) {
		f = fopen(path, "w");
		if (f != NULL) {
			fprintf(f, "%s\n", json);
			if (fclose(f) == 0) {
				free(json);
				return path;
			}
		}
		msg("cannot write the evidence to %s: %s; writing it to stderr",
		    path, strerror(errno));
	}
	fprintf(stderr, "%s\n", json);
	free(json);
	return "stderr";
}

/* Reports a failed library call r of what ("lookup of tel:..."), with the
 * server's status when there was one and the evidence of a failed
 * verification.  Returns the exit code. */
static int report(ctl *x, int r, const char *what)
{
	int status = KT_GRPC_OK, code = exit_for(r);
	const char *details = "", *ev = NULL;
	ktctl_json j;

	if (x->c != NULL)
		kt_client_last_status(x->c, &status, &details);
	if (code == EXIT_VERIFY)
		ev = write_evidence(x);
	if (x->json) {
		x->json_done = 1;
		ktctl_json_init(&j, stdout);
		ktctl_json_obj(&j, NULL);
		ktctl_json_bool(&j, "ok", 0);
		ktctl_json_str(&j, "command", x->cmd);
		ktctl_json_str(&j, "error", kt_errname(r));
		ktctl_json_int(&j, "code", r);
		ktctl_json_str(&j, "message", kt_strerror(r));
		ktctl_json_int(&j, "exit", code);
		ktctl_json_bool(&j, "verification_failed", code == EXIT_VERIFY);
		if (status != KT_GRPC_OK) {
			ktctl_json_str(&j, "grpc_status", grpc_status_name(status));
			ktctl_json_str(&j, "grpc_details", details);
		}
		if (ev != NULL)
			ktctl_json_str(&j, "evidence", ev);
		ktctl_json_end_obj(&j);
		ktctl_json_done(&j);
	}
	if (code == EXIT_VERIFY)
		msg("%s: VERIFICATION FAILED: %s (%s); nothing was used or "
		    "encrypted, the trust state is unchanged%s%s",
		    what, kt_strerror(r), kt_errname(r),
		    ev != NULL ? "; evidence: " : "", ev != NULL ? ev : "");
	else if (status != KT_GRPC_OK)
		msg("%s: %s (%s); server: %s %s", what, kt_strerror(r),
		    kt_errname(r), grpc_status_name(status), details);
	else
		msg("%s: %s (%s)", what, kt_strerror(r), kt_errname(r));
	return code;
}

/* ---- help ------------------------------------------------------------------------ */

static const char global_help[] =
	"usage: ktctl [global options] COMMAND [options]\n"
	"\n"
	"The keytrail client: looks accounts up and seals messages only after\n"
	"verifying the directory's proofs, monitors an owner's account, changes\n"
	"its devices.\n"
	"\n"
	"Global options (before or after the command):\n"
	"  --config FILE     client configuration (default $KEYTRAIL_CONFIG, else\n"
	"                    ./client.conf; `ktd --dev` writes DATA_DIR/client.conf)\n"
	"  --state FILE      trust state file (overrides the configuration's\n"
	"                    state_file; without either, nothing is remembered\n"
	"                    between runs: trust on first use every time)\n"
	"  --set NAME=VALUE  set a client option (max_age, witness, witness_threshold,\n"
	"                    witness_mode, deadline, ...); it replaces the file's\n"
	"                    value (a list option's first --set replaces the list)\n"
	"  --tls-cert FILE   with --tls-key FILE: present this PEM client\n"
	"                    certificate chain and key (mutual TLS, e.g. an Admin\n"
	"                    listener with admin_tls_client_ca); overrides the\n"
	"                    configuration's tls_client_cert / tls_client_key;\n"
	"                    needs tls_roots; the key file must be mode 0600\n"
	"  --json            machine-readable output: one JSON object on stdout\n"
	"  --evidence FILE   where to write the evidence of a failed verification\n"
	"                    (default: stderr)\n"
	"  --help            help (also `ktctl COMMAND --help`)\n"
	"\n"
	"Commands:\n";

static const char exit_help[] =
	"\n"
	"Byte strings (device ids, push addresses) are taken as text; write\n"
	"hex:<digits> for arbitrary bytes.  Output shows them the same way.\n"
	"\n"
	"Exit status:\n"
	"  0  ok\n"
	"  1  error: transport, the server refused, files, configuration\n"
	"  2  usage error\n"
	"  3  verification failure: an answer of the directory failed a check;\n"
	"     nothing was used or encrypted, the trust state is unchanged, and\n"
	"     the evidence (JSON) is on stderr or in the --evidence FILE\n"
	"  4  monitor alert: a version of the account that none of the owner's\n"
	"     own devices authorised (operator, registrar, unknown device)\n";

static void print_global_help(FILE *f, const command *cmds, size_t n)
{
	size_t i;

	fputs(global_help, f);
	for (i = 0; i < n; i++)
		fprintf(f, "  %-14s %s\n", cmds[i].name, cmds[i].synopsis);
	fputs(exit_help, f);
}

static void print_cmd_help(FILE *f, const command *cmd)
{
	fprintf(f, "usage: ktctl [global options] %s [options]\n%s\n\n%s",
		cmd->name, cmd->synopsis, cmd->help);
	fputs(exit_help, f);
}

/* ---- the command line --------------------------------------------------------------- */

static int find_opt(const char *name, size_t len)
{
	int i;

	for (i = 0; i < O_COUNT; i++)
		if (strlen(optdefs[i].name) == len &&
		    memcmp(optdefs[i].name, name, len) == 0)
			return i;
	return -1;
}

/* Parses argv[*i] (an option) into x if it is in allowed.  Returns 0,
 * or EXIT_USAGE after a message. */
static int parse_opt(ctl *x, int argc, char **argv, int *i, uint64_t allowed)
{
	const char *a = argv[*i] + 2, *eq = strchr(a, '='), *val = NULL;
	size_t len = eq != NULL ? (size_t)(eq - a) : strlen(a);
	int o = find_opt(a, len);

	if (strcmp(argv[*i], "-h") == 0)
		o = O_HELP, eq = NULL;
	if (o < 0 || (allowed & BIT(o)) == 0) {
		msg("%s: unknown option %s%s", x->cmd != NULL ? x->cmd : "ktctl",
		    argv[*i], x->cmd == NULL ? " (before the command)" : "");
		return EXIT_USAGE;
	}
	if (optdefs[o].arg) {
		if (eq != NULL)
			val = eq + 1;
		else if (*i + 1 < argc)
			val = argv[++*i];
		else {
			msg("--%s needs a value", optdefs[o].name);
			return EXIT_USAGE;
		}
	} else if (eq != NULL) {
		msg("--%s takes no value", optdefs[o].name);
		return EXIT_USAGE;
	}
	if (optdefs[o].list) {
		if (x->n_list[o] >= MAX_LIST) {
			msg("--%s given more than %d times", optdefs[o].name,
			    MAX_LIST);
			return EXIT_USAGE;
		}
		x->list[o][x->n_list[o]++] = val;
	} else if (x->seen[o] && optdefs[o].arg) {
		msg("--%s given twice", optdefs[o].name);
		return EXIT_USAGE;
	}
	x->seen[o] = 1;
	x->v[o] = val;
	if (o == O_JSON)
		x->json = 1;
	return 0;
}

/* Requires the options in need; returns 0 or EXIT_USAGE. */
static int require(ctl *x, uint64_t need)
{
	int o;

	for (o = 0; o < O_COUNT; o++)
		if ((need & BIT(o)) != 0 && !x->seen[o]) {
			msg("%s: --%s is required (ktctl %s --help)", x->cmd,
			    optdefs[o].name, x->cmd);
			return EXIT_USAGE;
		}
	return 0;
}

/* ---- configuration and client ----------------------------------------------------------- */

/* --tls-cert / --tls-key: both or neither. */
static int apply_tls_cert(ctl *x)
{
	const char *cert = x->v[O_TLS_CERT], *key = x->v[O_TLS_KEY];

	if (cert == NULL && key == NULL)
		return 0;
	if (cert == NULL || key == NULL) {
		msg("--tls-cert and --tls-key go together");
		return EXIT_USAGE;
	}
	if (kt_client_config_set_tls_client_cert(x->cfg, cert, key) != KT_OK) {
		msg("--tls-cert %s --tls-key %s: invalid path", cert, key);
		return EXIT_USAGE;
	}
	return 0;
}

static int load_config(ctl *x)
{
	char err[ERRLEN] = "";
	const char *path = x->v[O_CONFIG];
	size_t i;
	int r;

	if (path == NULL)
		path = getenv("KEYTRAIL_CONFIG");
	if (path == NULL || path[0] == '\0')
		path = "client.conf";
	x->config_path = path;
	if (kt_client_config_new(&x->cfg) != KT_OK) {
		msg("out of memory");
		return EXIT_ERROR;
	}
	r = kt_client_config_load_file(x->cfg, path, err, sizeof(err));
	if (r != KT_OK) {
		if (r == KT_ERR_IO && access(path, F_OK) != 0)
			msg("no client configuration %s (give --config FILE or set "
			    "KEYTRAIL_CONFIG; `ktd --dev` writes DATA_DIR/client.conf)",
			    path);
		else
			msg("%s", err[0] != '\0' ? err : kt_strerror(r));
		return EXIT_ERROR;
	}
	for (i = 0; i < x->n_list[O_SET]; i++) {
		char name[128];
		const char *s = x->list[O_SET][i], *eq = strchr(s, '=');

		if (eq == NULL || eq == s || (size_t)(eq - s) >= sizeof(name)) {
			msg("--set %s: expected NAME=VALUE", s);
			return EXIT_USAGE;
		}
		memcpy(name, s, (size_t)(eq - s));
		name[eq - s] = '\0';
		err[0] = '\0';
		/* the command line beats the file, as with `ktd --set` */
		r = kt_client_config_override(x->cfg, name, eq + 1, err,
					      sizeof(err));
		if (r != KT_OK) {
			msg("--set %s: %s", s, err[0] != '\0' ? err : kt_strerror(r));
			return EXIT_USAGE;
		}
	}
	if (x->v[O_ADMIN_ENDPOINT] != NULL &&
	    kt_client_config_override(x->cfg, "admin_endpoint",
				      x->v[O_ADMIN_ENDPOINT], err,
				      sizeof(err)) != KT_OK) {
		msg("--admin-endpoint %s: %s", x->v[O_ADMIN_ENDPOINT], err);
		return EXIT_USAGE;
	}
	if (x->v[O_STATE] != NULL &&
	    kt_client_config_set_state_file(x->cfg, x->v[O_STATE]) != KT_OK) {
		msg("--state %s: invalid path", x->v[O_STATE]);
		return EXIT_USAGE;
	}
	return apply_tls_cert(x);
}

/* Loads the configuration and opens the client (after the command's own
 * arguments were checked, so that a usage error is reported as one). */
static int open_client(ctl *x)
{
	char err[ERRLEN] = "";
	int r;

	if ((r = load_config(x)) != 0)
		return r;
	r = kt_client_open(x->cfg, &x->c, err, sizeof(err));
	if (r != KT_OK) {
		msg("cannot open the client (%s): %s", x->config_path,
		    err[0] != '\0' ? err : kt_strerror(r));
		return EXIT_ERROR;
	}
	if (kt_client_config_get(x->cfg, "state_file") == NULL && !x->json)
		msg("note: no state file (--state FILE or state_file): this run "
		    "trusts the directory's checkpoint on first use");
	return 0;
}

/* ---- shared argument parsing ---------------------------------------------------------------- */

static int get_account(ctl *x, const uint8_t **acct, size_t *len)
{
	const char *a = x->v[O_ACCOUNT];

	*acct = (const uint8_t *)a;
	*len = strlen(a);
	if (*len < KT_ACCOUNT_MIN || *len > KT_ACCOUNT_MAX ||
	    kt_utf8_check(*acct, *len) != KT_OK) {
		msg("--account: 1..%d bytes of UTF-8 expected", KT_ACCOUNT_MAX);
		return EXIT_USAGE;
	}
	return 0;
}

static const char *const kind_names[] = {NULL, "primary", "companion",
					 "forwarding", "escrow", "other"};

static const char *kind_name(int k)
{
	return k >= KT_DEVICE_KIND_PRIMARY && k <= KT_DEVICE_KIND_OTHER
		       ? kind_names[k]
		       : "unknown";
}

static int parse_kind(const char *s, int dflt, int *kind)
{
	int k;

	*kind = dflt;
	if (s == NULL)
		return 0;
	for (k = KT_DEVICE_KIND_PRIMARY; k <= KT_DEVICE_KIND_OTHER; k++)
		if (strcmp(s, kind_names[k]) == 0) {
			*kind = k;
			return 0;
		}
	msg("--kind %s: one of primary, companion, forwarding, escrow, other", s);
	return EXIT_USAGE;
}

/* --push (text or hex:...) into buf; *have = 0 if not given. */
static int parse_push(const char *s, uint8_t buf[KT_PUSH_ADDRESS_MAX],
		      size_t *len)
{
	*len = 0;
	if (s == NULL)
		return 0;
	if (ktctl_parse_blob(s, buf, KT_PUSH_ADDRESS_MAX, len) != KT_OK) {
		msg("--push: at most %d bytes (hex:... for bytes)",
		    KT_PUSH_ADDRESS_MAX);
		return EXIT_USAGE;
	}
	return 0;
}

static int parse_id(const char *opt, const char *s, uint8_t buf[KT_DEVICE_ID_MAX],
		    size_t *len)
{
	if (ktctl_parse_blob(s, buf, KT_DEVICE_ID_MAX, len) != KT_OK ||
	    *len < KT_DEVICE_ID_MIN) {
		msg("--%s: 1..%d bytes expected (hex:... for bytes)", opt,
		    KT_DEVICE_ID_MAX);
		return EXIT_USAGE;
	}
	return 0;
}

static int load_keys(const char *opt, const char *path, kt_device_keys **k)
{
	int r = kt_device_keys_load(path, k);

	if (r != KT_OK) {
		msg("--%s %s: %s (%s)%s", opt, path, kt_strerror(r), kt_errname(r),
		    r == KT_ERR_CLIENT_KEY_FILE
			    ? "; key files must be mode 0600 (ktctl keygen)"
			    : "");
		return EXIT_ERROR;
	}
	return 0;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Reads a whole file ("-" = stdin) of at most max bytes.  *out heap. */
static int read_all(const char *path, size_t max, uint8_t **out, size_t *len)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	uint8_t *b = NULL;
	size_t n = 0, cap = 0, got;
	int r = KT_ERR_IO;

	*out = NULL;
	*len = 0;
	if (f == NULL)
		return KT_ERR_IO;
	for (;;) {
		if (n == cap) {
			size_t ncap = cap == 0 ? 4096 : cap * 2;
			uint8_t *nb;

			if (cap > max) {
				r = KT_ERR_TOO_LARGE;
				goto out;
			}
			nb = realloc(b, ncap + 1);
			if (nb == NULL) {
				r = KT_ERR_NOMEM;
				goto out;
			}
			b = nb;
			cap = ncap;
		}
		got = fread(b + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	if (ferror(f))
		goto out;
	if (n > max) {
		r = KT_ERR_TOO_LARGE;
		goto out;
	}
	b[n] = '\0';
	*out = b;
	*len = n;
	b = NULL;
	r = KT_OK;
out:
	if (f != stdin)
		fclose(f);
	free(b);
	return r;
}

/* Creates (or replaces) a file with the given mode and writes p[0..n). */
static int write_file(const char *path, const void *p, size_t n, mode_t mode,
		      int excl)
{
	int fd, flags = O_WRONLY | O_CREAT | O_CLOEXEC | (excl ? O_EXCL : O_TRUNC);
	const uint8_t *q = p;
	ssize_t w;

	fd = open(path, flags, mode);
	if (fd < 0)
		return KT_ERR_IO;
	while (n > 0) {
		w = write(fd, q, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			close(fd);
			return KT_ERR_IO;
		}
		q += w;
		n -= (size_t)w;
	}
	if (fsync(fd) != 0) {
		close(fd);
		return KT_ERR_IO;
	}
	return close(fd) == 0 ? KT_OK : KT_ERR_IO;
}

/* ---- printing verified results ------------------------------------------------------------------ */

static const char *prov_type_name(int t)
{
	switch (t) {
	case KT_PROVENANCE_DEVICE:
		return "device";
	case KT_PROVENANCE_REGISTRAR:
		return "registrar";
	case KT_PROVENANCE_OPERATOR:
		return "operator";
	default:
		return "unknown";
	}
}

static const char *op_name(int op)
{
	switch (op) {
	case KT_OPERATION_ADD_DEVICE:
		return "add_device";
	case KT_OPERATION_REMOVE_DEVICE:
		return "remove_device";
	case KT_OPERATION_SET_PUSH:
		return "set_push";
	case KT_OPERATION_ENROL:
		return "enrol";
	default:
		return "unknown";
	}
}

/* "OPERATOR (reason: "...") add_device escrow-1" and the like. */
static void prov_describe(const kt_provenance_info *p, char *out, size_t cap)
{
	char who[700], target[200], reg[2 * 4 + 1];

	ktctl_blob_text(p->target_id, p->target_id_len, target, sizeof(target));
	switch (p->type) {
	case KT_PROVENANCE_DEVICE: {
		char id[200];

		ktctl_blob_text(p->device_id, p->device_id_len, id, sizeof(id));
		snprintf(who, sizeof(who), "device %s", id);
		break;
	}
	case KT_PROVENANCE_REGISTRAR:
		if (p->registrar_pk != NULL)
			ktctl_hex(p->registrar_pk, 4, reg);
		else
			snprintf(reg, sizeof(reg), "?");
		snprintf(who, sizeof(who), "registrar %s...", reg);
		break;
	case KT_PROVENANCE_OPERATOR: {
		char reason[600];

		ktctl_blob_text(p->reason, p->reason_len, reason, sizeof(reason));
		snprintf(who, sizeof(who), "OPERATOR (reason: \"%s\")", reason);
		break;
	}
	default:
		snprintf(who, sizeof(who), "unknown authority");
	}
	snprintf(out, cap, "%s %s %s", who, op_name(p->operation), target);
}

static void json_provenance(ktctl_json *j, const char *key,
			    const kt_provenance_info *p)
{
	ktctl_json_obj(j, key);
	ktctl_json_str(j, "type", prov_type_name(p->type));
	ktctl_json_str(j, "operation", op_name(p->operation));
	ktctl_json_blob(j, "target_id", p->target_id, p->target_id_len);
	if (p->type == KT_PROVENANCE_DEVICE)
		ktctl_json_blob(j, "device_id", p->device_id, p->device_id_len);
	if (p->type == KT_PROVENANCE_OPERATOR)
		ktctl_json_blob(j, "reason", p->reason, p->reason_len);
	if (p->type == KT_PROVENANCE_REGISTRAR && p->registrar_pk != NULL)
		ktctl_json_hex(j, "registrar_key", p->registrar_pk,
			       KT_DEVICE_SIGN_PK_BYTES);
	ktctl_json_end_obj(j);
}

/* "operator", "registrar", "device <id>": who added a device. */
static void added_by_text(const kt_device_info *d, char *out, size_t cap)
{
	char id[200];

	if (d->added_by_type == KT_PROVENANCE_DEVICE) {
		ktctl_blob_text(d->added_by_id, d->added_by_id_len, id, sizeof(id));
		snprintf(out, cap, "device %s", id);
	} else {
		snprintf(out, cap, "%s", prov_type_name(d->added_by_type));
	}
}

static void json_added_by(ktctl_json *j, const kt_device_info *d)
{
	ktctl_json_obj(j, "added_by");
	ktctl_json_str(j, "type", prov_type_name(d->added_by_type));
	if (d->added_by_type == KT_PROVENANCE_DEVICE)
		ktctl_json_blob(j, "device_id", d->added_by_id, d->added_by_id_len);
	ktctl_json_end_obj(j);
}

static int suspicious_kind(int kind)
{
	return kind == KT_DEVICE_KIND_FORWARDING || kind == KT_DEVICE_KIND_ESCROW ||
	       kind == KT_DEVICE_KIND_OTHER;
}

/* The checks a verified lookup passed, for the human output and JSON. */
static const char *const verified_checks[] = {
	"checkpoint signature", "witness policy", "consistency",
	"last entry inclusion and age", "VRF", "map proof", "commitment"};

static void print_lookup_human(const uint8_t *acct, size_t acct_len,
			       const kt_lookup *l, uint64_t trusted_before)
{
	kt_provenance_info p;
	kt_device_info d;
	char t[64], id[200], push[200], sk[65], ek[65], desc[1200], by[220];
	size_t i, n = kt_lookup_device_count(l);

	printf("account:    %.*s\n", (int)acct_len, (const char *)acct);
	printf("tree size:  %" PRIu64 "\n", kt_lookup_tree_size(l));
	if (!kt_lookup_present(l)) {
		printf("present:    no (proven absent at this checkpoint)\n");
	} else {
		printf("version:    %" PRIu64 "\n", kt_lookup_version(l));
		printf("devices:    %zu\n", n);
	}
	for (i = 0; i < n; i++) {
		if (kt_lookup_device(l, i, &d) != KT_OK)
			continue;
		ktctl_blob_text(d.id, d.id_len, id, sizeof(id));
		ktctl_blob_text(d.push, d.push_len, push, sizeof(push));
		ktctl_time(d.added_at_ms, t, sizeof(t));
		ktctl_hex(d.sign_pk, sizeof(d.sign_pk), sk);
		ktctl_hex(d.enc_pk, sizeof(d.enc_pk), ek);
		printf("  - %-24s kind %-10s added %s%s\n", id, kind_name(d.kind), t,
		       suspicious_kind(d.kind) ? "   <-- not a user device kind"
					       : "");
		added_by_text(&d, by, sizeof(by));
		printf("      added by: %s%s\n", by,
		       d.added_by_type == KT_PROVENANCE_OPERATOR
			       ? "   <-- by the directory's operator, not the owner"
			       : "");
		printf("      sign_pk %s\n      enc_pk  %s\n", sk, ek);
		if (d.push_len > 0)
			printf("      push    %s\n", push);
	}
	if (kt_lookup_present(l) && kt_lookup_provenance(l, &p) == KT_OK) {
		prov_describe(&p, desc, sizeof(desc));
		printf("last change (version %" PRIu64 ", provenance %s): %s\n",
		       kt_lookup_version(l), prov_type_name(p.type), desc);
	}
	printf("verified: checkpoint signature, consistency, VRF, map proof, "
	       "commitment\n");
	if (trusted_before == 0)
		printf("          (consistency: first use, no earlier checkpoint "
		       "was trusted)\n");
	else
		printf("          (consistency: with the trusted tree size %" PRIu64
		       ")\n",
		       trusted_before);
}

static void json_lookup(ktctl_json *j, const uint8_t *acct, size_t acct_len,
			const kt_lookup *l, uint64_t trusted_before)
{
	kt_provenance_info p;
	kt_device_info d;
	size_t i, n = kt_lookup_device_count(l);

	ktctl_json_blob(j, "account", acct, acct_len);
	ktctl_json_bool(j, "present", kt_lookup_present(l));
	ktctl_json_u64(j, "version", kt_lookup_version(l));
	ktctl_json_u64(j, "tree_size", kt_lookup_tree_size(l));
	ktctl_json_u64(j, "consistency_from", trusted_before);
	ktctl_json_arr(j, "devices");
	for (i = 0; i < n; i++) {
		if (kt_lookup_device(l, i, &d) != KT_OK)
			continue;
		ktctl_json_obj(j, NULL);
		ktctl_json_blob(j, "id", d.id, d.id_len);
		ktctl_json_str(j, "kind", kind_name(d.kind));
		ktctl_json_hex(j, "sign_pk", d.sign_pk, sizeof(d.sign_pk));
		ktctl_json_hex(j, "enc_pk", d.enc_pk, sizeof(d.enc_pk));
		ktctl_json_blob(j, "push", d.push, d.push_len);
		ktctl_json_u64(j, "added_at_ms", d.added_at_ms);
		json_added_by(j, &d);
		ktctl_json_end_obj(j);
	}
	ktctl_json_end_arr(j);
	if (kt_lookup_present(l) && kt_lookup_provenance(l, &p) == KT_OK)
		json_provenance(j, "provenance", &p);
	else
		ktctl_json_null(j, "provenance");
	ktctl_json_arr(j, "verified");
	for (i = 0; i < sizeof(verified_checks) / sizeof(verified_checks[0]); i++)
		ktctl_json_str(j, NULL, verified_checks[i]);
	ktctl_json_end_arr(j);
}

static void json_begin_ok(ctl *x, ktctl_json *j)
{
	x->json_done = 1;
	ktctl_json_init(j, stdout);
	ktctl_json_obj(j, NULL);
	ktctl_json_bool(j, "ok", 1);
	ktctl_json_str(j, "command", x->cmd);
}

static void json_finish(ktctl_json *j)
{
	ktctl_json_end_obj(j);
	ktctl_json_done(j);
}

/* ---- keygen ------------------------------------------------------------------------------------ */

static int cmd_keygen(ctl *x)
{
	uint8_t id[KT_DEVICE_ID_MAX], sk[KT_DEVICE_SIGN_PK_BYTES],
		ek[KT_DEVICE_ENC_PK_BYTES];
	size_t id_len = 0, kid_len;
	const uint8_t *kid;
	kt_device_keys *k = NULL;
	char shex[65], ehex[65], idt[200];
	ktctl_json j;
	int r, e;

	if ((e = require(x, BIT(O_OUT))) != 0)
		return e;
	if (x->v[O_ID] != NULL && (e = parse_id("id", x->v[O_ID], id, &id_len)) != 0)
		return e;
	r = kt_device_keys_generate(x->v[O_ID] != NULL ? id : NULL, id_len, &k);
	if (r == KT_OK)
		r = kt_device_keys_save(k, x->v[O_OUT]);
	if (r != KT_OK) {
		kt_device_keys_free(k);
		if (r == KT_ERR_IO && access(x->v[O_OUT], F_OK) == 0) {
			msg("keygen: %s exists; refusing to overwrite a key file",
			    x->v[O_OUT]);
			return EXIT_ERROR;
		}
		return report(x, r, "keygen");
	}
	kid = kt_device_keys_id(k, &kid_len);
	kt_device_keys_sign_pk(k, sk);
	kt_device_keys_enc_pk(k, ek);
	ktctl_hex(sk, sizeof(sk), shex);
	ktctl_hex(ek, sizeof(ek), ehex);
	if (x->json) {
		json_begin_ok(x, &j);
		ktctl_json_str(&j, "file", x->v[O_OUT]);
		ktctl_json_blob(&j, "device_id", kid, kid_len);
		ktctl_json_str(&j, "sign_pk", shex);
		ktctl_json_str(&j, "enc_pk", ehex);
		json_finish(&j);
	} else {
		ktctl_blob_text(kid, kid_len, idt, sizeof(idt));
		printf("device keys written to %s (mode 0600)\n", x->v[O_OUT]);
		printf("device id: %s\nsign_pk:   %s\nenc_pk:    %s\n", idt, shex,
		       ehex);
	}
	kt_device_keys_free(k);
	return EXIT_OK_;
}

/* ---- registrar tokens ------------------------------------------------------------------------------ */

/* What a token file holds (format: docs/OPERATIONS.md "ktctl"). */
typedef struct token_file {
	uint8_t account[KT_ACCOUNT_MAX];
	size_t account_len;
	uint8_t device_id[KT_DEVICE_ID_MAX];
	size_t device_id_len;
	uint8_t sign_pk[KT_DEVICE_SIGN_PK_BYTES];
	uint8_t enc_pk[KT_DEVICE_ENC_PK_BYTES];
	uint8_t push[KT_PUSH_ADDRESS_MAX];
	size_t push_len;
	int kind;
	kt_registrar_token tok;
} token_file;

static int token_write(const char *path, const token_file *t)
{
	/* hex of the largest field (push) plus the lines around it */
	char buf[TOKEN_FILE_MAX], h[2 * KT_PUSH_ADDRESS_MAX + 1];
	size_t n = 0;
	int w;

#define APPEND(...)                                                         \
	do {                                                                \
		w = snprintf(buf + n, sizeof(buf) - n, __VA_ARGS__);        \
		if (w < 0 || (size_t)w >= sizeof(buf) - n)                  \
			return KT_ERR_TOO_LARGE;                            \
		n += (size_t)w;                                             \
	} while (0)
	APPEND("# keytrail registrar token (ktctl make-token): enrols exactly this\n"
	       "# device of this account until expiry_ms.  Not secret.\n");
	APPEND("format = %s\n", TOKEN_FORMAT);
	ktctl_hex(t->account, t->account_len, h);
	APPEND("account = %s\n", h);
	ktctl_hex(t->device_id, t->device_id_len, h);
	APPEND("device_id = %s\n", h);
	ktctl_hex(t->sign_pk, sizeof(t->sign_pk), h);
	APPEND("sign_pk = %s\n", h);
	ktctl_hex(t->enc_pk, sizeof(t->enc_pk), h);
	APPEND("enc_pk = %s\n", h);
	ktctl_hex(t->push, t->push_len, h);
	APPEND("push = %s\n", h);
	APPEND("kind = %d\n", t->kind);
	ktctl_hex(t->tok.registrar_pk, sizeof(t->tok.registrar_pk), h);
	APPEND("registrar_key = %s\n", h);
	APPEND("expiry_ms = %" PRIu64 "\n", t->tok.expiry_ms);
	ktctl_hex(t->tok.signature, sizeof(t->tok.signature), h);
	APPEND("signature = %s\n", h);
#undef APPEND
	return write_file(path, buf, n, 0644, 1);
}

/* Parses a hex field of 0..cap bytes. */
static int hex_field(const char *v, uint8_t *out, size_t cap, size_t *len)
{
	char tmp[2 * KT_PUSH_ADDRESS_MAX + 8];

	if (strlen(v) + 5 > sizeof(tmp))
		return KT_ERR_TOO_LARGE;
	snprintf(tmp, sizeof(tmp), "hex:%s", v);
	return ktctl_parse_blob(tmp, out, cap, len);
}

static int token_line(token_file *t, char *name, char *v, unsigned *seen)
{
	size_t n;
	uint64_t u;

	if (strcmp(name, "format") == 0) {
		*seen |= 1u;
		return strcmp(v, TOKEN_FORMAT) == 0 ? KT_OK : BAD_FILE;
	}
	if (strcmp(name, "account") == 0) {
		*seen |= 2u;
		return hex_field(v, t->account, sizeof(t->account), &t->account_len);
	}
	if (strcmp(name, "device_id") == 0) {
		*seen |= 4u;
		return hex_field(v, t->device_id, sizeof(t->device_id),
				 &t->device_id_len);
	}
	if (strcmp(name, "sign_pk") == 0) {
		*seen |= 8u;
		return ktctl_unhex(v, t->sign_pk, sizeof(t->sign_pk));
	}
	if (strcmp(name, "enc_pk") == 0) {
		*seen |= 16u;
		return ktctl_unhex(v, t->enc_pk, sizeof(t->enc_pk));
	}
	if (strcmp(name, "push") == 0) {
		*seen |= 32u;
		return hex_field(v, t->push, sizeof(t->push), &t->push_len);
	}
	if (strcmp(name, "kind") == 0) {
		*seen |= 64u;
		if (ktctl_parse_u64(v, &u) != KT_OK || u < 1 || u > 5)
			return KT_ERR_INVALID_ARG;
		t->kind = (int)u;
		return KT_OK;
	}
	if (strcmp(name, "registrar_key") == 0) {
		*seen |= 128u;
		return ktctl_unhex(v, t->tok.registrar_pk, sizeof(t->tok.registrar_pk));
	}
	if (strcmp(name, "expiry_ms") == 0) {
		*seen |= 256u;
		return ktctl_parse_u64(v, &t->tok.expiry_ms);
	}
	if (strcmp(name, "signature") == 0) {
		*seen |= 512u;
		n = sizeof(t->tok.signature);
		return ktctl_unhex(v, t->tok.signature, n);
	}
	return KT_ERR_CONFIG_UNKNOWN;
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

static int token_read(const char *path, token_file *t)
{
	uint8_t *buf = NULL;
	size_t len;
	unsigned seen = 0;
	char *line, *save = NULL, *eq;
	int r;

	memset(t, 0, sizeof(*t));
	r = read_all(path, TOKEN_FILE_MAX, &buf, &len);
	if (r != KT_OK) {
		msg("--token %s: %s", path, r == KT_ERR_IO ? strerror(errno)
							   : kt_strerror(r));
		return EXIT_ERROR;
	}
	for (line = strtok_r((char *)buf, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		line = trim(line);
		if (line[0] == '\0' || line[0] == '#')
			continue;
		eq = strchr(line, '=');
		if (eq == NULL) {
			r = KT_ERR_CONFIG_SYNTAX;
			break;
		}
		*eq = '\0';
		r = token_line(t, trim(line), trim(eq + 1), &seen);
		if (r != KT_OK)
			break;
	}
	free(buf);
	if (r == KT_OK && seen != 1023u)
		r = BAD_FILE;
	if (r != KT_OK) {
		msg("--token %s: not a registrar token file (%s)", path,
		    kt_errname(r));
		return EXIT_ERROR;
	}
	return 0;
}

/* Makes a token for keys (spec with push/kind) from a registrar key file. */
static int token_mint(ctl *x, const char *key_path, const uint8_t *acct,
		      size_t acct_len, const kt_device_spec *spec,
		      token_file *t)
{
	uint64_t ttl = DEFAULT_ENROL_TTL_MS;
	int r;

	memset(t, 0, sizeof(*t));
	if (x->v[O_EXPIRY] != NULL &&
	    (ktctl_parse_duration(x->v[O_EXPIRY], &ttl) != KT_OK || ttl == 0)) {
		msg("--expiry %s: a duration (30s, 10m, 1h)", x->v[O_EXPIRY]);
		return EXIT_USAGE;
	}
	r = kt_registrar_token_make_file(key_path, acct, acct_len, spec,
					 now_ms() + ttl, &t->tok);
	if (r != KT_OK) {
		msg("registrar key %s: %s (%s)", key_path, kt_strerror(r),
		    kt_errname(r));
		return EXIT_ERROR;
	}
	memcpy(t->account, acct, acct_len);
	t->account_len = acct_len;
	memcpy(t->device_id, spec->id, spec->id_len);
	t->device_id_len = spec->id_len;
	memcpy(t->sign_pk, spec->sign_pk, sizeof(t->sign_pk));
	memcpy(t->enc_pk, spec->enc_pk, sizeof(t->enc_pk));
	memcpy(t->push, spec->push, spec->push_len);
	t->push_len = spec->push_len;
	t->kind = spec->kind;
	return 0;
}

/* The registrar key file: --registrar-key, else the configuration's
 * registrar_key_file (`ktd --dev` names its dev registrar there). */
static const char *registrar_path(ctl *x)
{
	if (x->v[O_REGISTRAR_KEY] != NULL)
		return x->v[O_REGISTRAR_KEY];
	return x->cfg != NULL ? kt_client_config_get(x->cfg, "registrar_key_file")
			      : NULL;
}

static int cmd_make_token(ctl *x)
{
	uint8_t push[KT_PUSH_ADDRESS_MAX];
	const uint8_t *acct;
	size_t acct_len, push_len;
	kt_device_keys *k = NULL;
	kt_device_spec spec;
	token_file t;
	const char *reg;
	char when[64];
	ktctl_json j;
	int kind, e, r;

	if ((e = require(x, BIT(O_ACCOUNT) | BIT(O_KEYS) | BIT(O_OUT))) != 0 ||
	    (e = get_account(x, &acct, &acct_len)) != 0 ||
	    (e = parse_kind(x->v[O_KIND], KT_DEVICE_KIND_PRIMARY, &kind)) != 0 ||
	    (e = parse_push(x->v[O_PUSH], push, &push_len)) != 0)
		return e;
	if (x->v[O_REGISTRAR_KEY] == NULL && (e = load_config(x)) != 0)
		return e;
	reg = registrar_path(x);
	if (reg == NULL) {
		msg("make-token: --registrar-key FILE is required (or "
		    "registrar_key_file in the configuration)");
		return EXIT_USAGE;
	}
	if ((e = load_keys("keys", x->v[O_KEYS], &k)) != 0)
		return e;
	kt_device_keys_spec(k, push, push_len, kind, &spec);
	e = token_mint(x, reg, acct, acct_len, &spec, &t);
	kt_device_keys_free(k);
	if (e != 0)
		return e;
	r = token_write(x->v[O_OUT], &t);
	if (r != KT_OK) {
		msg("make-token: cannot create %s: %s", x->v[O_OUT],
		    r == KT_ERR_IO ? strerror(errno) : kt_strerror(r));
		return EXIT_ERROR;
	}
	ktctl_time(t.tok.expiry_ms, when, sizeof(when));
	if (x->json) {
		json_begin_ok(x, &j);
		ktctl_json_str(&j, "file", x->v[O_OUT]);
		ktctl_json_u64(&j, "expiry_ms", t.tok.expiry_ms);
		json_finish(&j);
	} else {
		printf("registrar token written to %s (valid until %s)\n",
		       x->v[O_OUT], when);
	}
	return EXIT_OK_;
}

/* ---- enrol and the device-signed updates ------------------------------------------------------------ */

static void print_update(ctl *x, const char *what, const kt_update_result *res)
{
	ktctl_json j;

	if (x->json) {
		json_begin_ok(x, &j);
		ktctl_json_blob(&j, "account", (const uint8_t *)x->v[O_ACCOUNT],
				strlen(x->v[O_ACCOUNT]));
		ktctl_json_u64(&j, "version", res->version);
		ktctl_json_u64(&j, "log_index", res->log_index);
		json_finish(&j);
		return;
	}
	printf("%s: accepted as version %" PRIu64 " of %s (log index %" PRIu64
	       ")\n",
	       what, res->version, x->v[O_ACCOUNT], res->log_index);
	printf("(the directory's answer to an update is not a proof: "
	       "`ktctl monitor` verifies it in the log)\n");
}

static int cmd_enroll(ctl *x)
{
	uint8_t push[KT_PUSH_ADDRESS_MAX];
	const uint8_t *acct, *kid;
	size_t acct_len, push_len, kid_len;
	uint8_t sk[KT_DEVICE_SIGN_PK_BYTES], ek[KT_DEVICE_ENC_PK_BYTES];
	kt_device_keys *k = NULL;
	kt_device_spec spec;
	kt_update_result res;
	token_file t;
	int kind, e, r;

	if ((e = require(x, BIT(O_ACCOUNT) | BIT(O_KEYS))) != 0 ||
	    (e = get_account(x, &acct, &acct_len)) != 0 ||
	    (e = parse_kind(x->v[O_KIND], KT_DEVICE_KIND_PRIMARY, &kind)) != 0 ||
	    (e = parse_push(x->v[O_PUSH], push, &push_len)) != 0)
		return e;
	if ((x->v[O_TOKEN] != NULL) == (x->v[O_REGISTRAR_KEY] != NULL)) {
		msg("enroll: give exactly one of --token FILE and --registrar-key "
		    "FILE");
		return EXIT_USAGE;
	}
	if ((e = load_keys("keys", x->v[O_KEYS], &k)) != 0)
		return e;
	if (x->v[O_TOKEN] != NULL) {
		if ((e = token_read(x->v[O_TOKEN], &t)) != 0)
			goto out;
		kid = kt_device_keys_id(k, &kid_len);
		kt_device_keys_sign_pk(k, sk);
		kt_device_keys_enc_pk(k, ek);
		/* public values: memcmp */
		if (t.account_len != acct_len || memcmp(t.account, acct, acct_len) != 0 ||
		    t.device_id_len != kid_len || memcmp(t.device_id, kid, kid_len) != 0 ||
		    memcmp(t.sign_pk, sk, sizeof(sk)) != 0 ||
		    memcmp(t.enc_pk, ek, sizeof(ek)) != 0) {
			msg("enroll: the token is for another account or device");
			e = EXIT_USAGE;
			goto out;
		}
		if ((x->v[O_KIND] != NULL && kind != t.kind) ||
		    (x->v[O_PUSH] != NULL &&
		     (push_len != t.push_len || memcmp(push, t.push, push_len) != 0))) {
			msg("enroll: --kind / --push differ from the token's (the "
			    "token signs the whole device spec)");
			e = EXIT_USAGE;
			goto out;
		}
		kt_device_keys_spec(k, t.push, t.push_len, t.kind, &spec);
	} else {
		kt_device_keys_spec(k, push, push_len, kind, &spec);
		if ((e = token_mint(x, x->v[O_REGISTRAR_KEY], acct, acct_len, &spec,
				    &t)) != 0)
			goto out;
		kt_device_keys_spec(k, t.push, t.push_len, t.kind, &spec);
	}
	if ((e = open_client(x)) != 0)
		goto out;
	r = kt_client_enroll(x->c, acct, acct_len, &spec, &t.tok, &res);
	if (r != KT_OK) {
		e = report(x, r, "enroll");
		goto out;
	}
	print_update(x, "enroll", &res);
	e = EXIT_OK_;
out:
	kt_device_keys_free(k);
	return e;
}

static int cmd_add_device(ctl *x)
{
	uint8_t push[KT_PUSH_ADDRESS_MAX];
	const uint8_t *acct;
	size_t acct_len, push_len;
	kt_device_keys *signer = NULL, *dev = NULL;
	kt_device_spec spec;
	kt_update_result res;
	int kind, e, r;

	if ((e = require(x, BIT(O_ACCOUNT) | BIT(O_KEYS) | BIT(O_DEVICE))) != 0 ||
	    (e = get_account(x, &acct, &acct_len)) != 0 ||
	    (e = parse_kind(x->v[O_KIND], KT_DEVICE_KIND_COMPANION, &kind)) != 0 ||
	    (e = parse_push(x->v[O_PUSH], push, &push_len)) != 0)
		return e;
	if ((e = load_keys("keys", x->v[O_KEYS], &signer)) != 0 ||
	    (e = load_keys("device", x->v[O_DEVICE], &dev)) != 0)
		goto out;
	kt_device_keys_spec(dev, push, push_len, kind, &spec);
	if ((e = open_client(x)) != 0)
		goto out;
	r = kt_client_add_device(x->c, acct, acct_len, signer, &spec, &res);
	if (r != KT_OK) {
		e = report(x, r, "add-device");
		goto out;
	}
	print_update(x, "add-device", &res);
	e = EXIT_OK_;
out:
	kt_device_keys_free(signer);
	kt_device_keys_free(dev);
	return e;
}

static int cmd_remove_device(ctl *x)
{
	uint8_t id[KT_DEVICE_ID_MAX];
	const uint8_t *acct;
	size_t acct_len, id_len;
	kt_device_keys *signer = NULL;
	kt_update_result res;
	int e, r;

	if ((e = require(x, BIT(O_ACCOUNT) | BIT(O_KEYS) | BIT(O_DEVICE_ID))) != 0 ||
	    (e = get_account(x, &acct, &acct_len)) != 0 ||
	    (e = parse_id("device-id", x->v[O_DEVICE_ID], id, &id_len)) != 0)
		return e;
	if ((e = load_keys("keys", x->v[O_KEYS], &signer)) != 0)
		return e;
	if ((e = open_client(x)) != 0)
		goto out;
	r = kt_client_remove_device(x->c, acct, acct_len, signer, id, id_len, &res);
	if (r != KT_OK) {
		e = report(x, r, "remove-device");
		goto out;
	}
	print_update(x, "remove-device", &res);
	e = EXIT_OK_;
out:
	kt_device_keys_free(signer);
	return e;
}

static int cmd_set_push(ctl *x)
{
	uint8_t id[KT_DEVICE_ID_MAX], push[KT_PUSH_ADDRESS_MAX];
	const uint8_t *acct, *sid;
	size_t acct_len, id_len = 0, push_len, sid_len;
	kt_device_keys *signer = NULL;
	kt_update_result res;
	int e, r;

	if ((e = require(x, BIT(O_ACCOUNT) | BIT(O_KEYS) | BIT(O_PUSH))) != 0 ||
	    (e = get_account(x, &acct, &acct_len)) != 0 ||
	    (e = parse_push(x->v[O_PUSH], push, &push_len)) != 0)
		return e;
	if (x->v[O_DEVICE_ID] != NULL &&
	    (e = parse_id("device-id", x->v[O_DEVICE_ID], id, &id_len)) != 0)
		return e;
	if ((e = load_keys("keys", x->v[O_KEYS], &signer)) != 0)
		return e;
	if (x->v[O_DEVICE_ID] == NULL) { /* the signer's own push address */
		sid = kt_device_keys_id(signer, &sid_len);
		memcpy(id, sid, sid_len);
		id_len = sid_len;
	}
	if ((e = open_client(x)) != 0)
		goto out;
	r = kt_client_set_push(x->c, acct, acct_len, signer, id, id_len, push,
			       push_len, &res);
	if (r != KT_OK) {
		e = report(x, r, "set-push");
		goto out;
	}
	print_update(x, "set-push", &res);
	e = EXIT_OK_;
out:
	kt_device_keys_free(signer);
	return e;
}

/* ---- lookup and checkpoint ----------------------------------------------------------------------------- */

static int cmd_lookup(ctl *x)
{
	const uint8_t *acct;
	size_t acct_len;
	kt_lookup *l = NULL;
	uint64_t before;
	ktctl_json j;
	int e, r;

	if ((e = require(x, BIT(O_ACCOUNT))) != 0 ||
	    (e = get_account(x, &acct, &acct_len)) != 0 || (e = open_client(x)) != 0)
		return e;
	before = kt_client_trusted_size(x->c);
	r = kt_client_lookup(x->c, acct, acct_len, &l);
	if (r != KT_OK)
		return report(x, r, "lookup");
	if (x->json) {
		json_begin_ok(x, &j);
		json_lookup(&j, acct, acct_len, l, before);
		json_finish(&j);
	} else {
		print_lookup_human(acct, acct_len, l, before);
	}
	kt_lookup_free(l);
	return EXIT_OK_;
}

static int cmd_checkpoint(ctl *x)
{
	uint64_t before, size = 0;
	kt_checkpoint_info ci;
	char t[64], root[65];
	ktctl_json j;
	int e, r;

	if ((e = open_client(x)) != 0)
		return e;
	before = kt_client_trusted_size(x->c);
	r = kt_client_checkpoint(x->c, &size);
	if (r == KT_OK)
		r = kt_client_verified_checkpoint(x->c, &ci);
	if (r != KT_OK)
		return report(x, r, "checkpoint");
	ktctl_hex(ci.root, sizeof(ci.root), root);
	ktctl_time(ci.timestamp_ms, t, sizeof(t));
	if (x->json) {
		char *note = malloc(ci.note_len + 1);

		json_begin_ok(x, &j);
		ktctl_json_u64(&j, "tree_size", ci.tree_size);
		ktctl_json_u64(&j, "consistency_from", before);
		ktctl_json_str(&j, "root", root);
		ktctl_json_u64(&j, "timestamp_ms", ci.timestamp_ms);
		ktctl_json_bool(&j, "cosigned", ci.cosigned);
		ktctl_json_u64(&j, "cosigned_size", ci.cosigned_size);
		if (note != NULL) {
			memcpy(note, ci.note, ci.note_len);
			note[ci.note_len] = '\0';
		}
		ktctl_json_str(&j, "note", note);
		free(note);
		json_finish(&j);
		return EXIT_OK_;
	}
	if (before == 0)
		printf("checkpoint verified: tree size %" PRIu64
		       " (first use: no earlier checkpoint trusted)\n",
		       size);
	else
		printf("checkpoint verified: tree size %" PRIu64
		       ", consistent with the trusted tree size %" PRIu64 "\n",
		       size, before);
	printf("root:       %s\n", root);
	printf("last entry: %s\n", t);
	if (ci.cosigned)
		printf("witnesses:  policy met (cosigned)\n");
	else
		printf("witnesses:  policy NOT met by this checkpoint (bounded lag: "
		       "consistent with the cosigned tree size %" PRIu64 ")\n",
		       ci.cosigned_size);
	printf("signed note:\n%.*s", (int)ci.note_len, ci.note);
	if (ci.note_len > 0 && ci.note[ci.note_len - 1] != '\n')
		printf("\n");
	return EXIT_OK_;
}

/* ---- seal and open ---------------------------------------------------------------------------------------- */

/* Writes the sealed bundle (SEALED_FORMAT lines) to f. */
static void bundle_write(FILE *f, const uint8_t *acct, size_t acct_len,
			 const kt_sealed *s)
{
	kt_sealed_item it;
	size_t i, k;

	fprintf(f, "%s\naccount ", SEALED_FORMAT);
	for (k = 0; k < acct_len; k++)
		fprintf(f, "%02x", acct[k]);
	fprintf(f, "\nversion %" PRIu64 "\ntree_size %" PRIu64 "\n",
		kt_sealed_version(s), kt_sealed_tree_size(s));
	for (i = 0; i < kt_sealed_count(s); i++) {
		if (kt_sealed_get(s, i, &it) != KT_OK)
			continue;
		fputs("item ", f);
		for (k = 0; k < it.device_id_len; k++)
			fprintf(f, "%02x", it.device_id[k]);
		fputc(' ', f);
		if (it.push_len == 0)
			fputc('-', f);
		for (k = 0; k < it.push_len; k++)
			fprintf(f, "%02x", it.push[k]);
		fputc(' ', f);
		for (k = 0; k < it.ciphertext_len; k++)
			fprintf(f, "%02x", it.ciphertext[k]);
		fputc('\n', f);
	}
}

static int seal_input(ctl *x, uint8_t **m, size_t *mlen)
{
	int r;

	*m = NULL;
	*mlen = 0;
	if ((x->v[O_MESSAGE] != NULL) == (x->v[O_IN] != NULL)) {
		msg("seal: give exactly one of --message TEXT and --in FILE");
		return EXIT_USAGE;
	}
	if (x->v[O_MESSAGE] != NULL) {
		*mlen = strlen(x->v[O_MESSAGE]);
		*m = malloc(*mlen + 1);
		if (*m == NULL)
			return EXIT_ERROR;
		memcpy(*m, x->v[O_MESSAGE], *mlen + 1);
		return 0;
	}
	r = read_all(x->v[O_IN], KT_SEAL_MAX_MESSAGE, m, mlen);
	if (r != KT_OK) {
		msg("seal: --in %s: %s", x->v[O_IN],
		    r == KT_ERR_IO ? strerror(errno) : kt_strerror(r));
		return r == KT_ERR_TOO_LARGE ? EXIT_USAGE : EXIT_ERROR;
	}
	return 0;
}

static void json_sealed(ktctl_json *j, const kt_sealed *s)
{
	kt_sealed_item it;
	size_t i;

	ktctl_json_u64(j, "version", kt_sealed_version(s));
	ktctl_json_u64(j, "tree_size", kt_sealed_tree_size(s));
	ktctl_json_arr(j, "items");
	for (i = 0; i < kt_sealed_count(s); i++) {
		if (kt_sealed_get(s, i, &it) != KT_OK)
			continue;
		ktctl_json_obj(j, NULL);
		ktctl_json_blob(j, "device_id", it.device_id, it.device_id_len);
		ktctl_json_blob(j, "push", it.push, it.push_len);
		ktctl_json_hex(j, "ciphertext", it.ciphertext, it.ciphertext_len);
		ktctl_json_end_obj(j);
	}
	ktctl_json_end_arr(j);
}

static int cmd_seal(ctl *x)
{
	const uint8_t *acct;
	size_t acct_len, mlen = 0, i;
	uint8_t *m = NULL;
	kt_sealed *s = NULL;
	kt_sealed_item it;
	char id[200];
	FILE *f;
	ktctl_json j;
	int e, r;

	if ((e = require(x, BIT(O_ACCOUNT))) != 0 ||
	    (e = get_account(x, &acct, &acct_len)) != 0 ||
	    (e = seal_input(x, &m, &mlen)) != 0)
		return e;
	if ((e = open_client(x)) != 0)
		goto out;
	r = kt_client_seal(x->c, acct, acct_len, m, mlen, &s);
	if (r != KT_OK) {
		e = report(x, r, "seal");
		goto out;
	}
	e = EXIT_OK_;
	if (x->v[O_OUT] != NULL) {
		f = fopen(x->v[O_OUT], "w");
		if (f != NULL) {
			bundle_write(f, acct, acct_len, s);
			if (fclose(f) != 0)
				f = NULL;
		}
		if (f == NULL) {
			msg("seal: cannot write %s: %s", x->v[O_OUT], strerror(errno));
			e = EXIT_ERROR;
			goto out;
		}
	}
	if (x->json) {
		json_begin_ok(x, &j);
		ktctl_json_blob(&j, "account", acct, acct_len);
		json_sealed(&j, s);
		json_finish(&j);
	} else if (x->v[O_OUT] == NULL) {
		bundle_write(stdout, acct, acct_len, s);
	} else {
		printf("sealed %zu bytes to %zu verified device(s) of %s (version "
		       "%" PRIu64 ", tree size %" PRIu64 ") into %s:\n",
		       mlen, kt_sealed_count(s), x->v[O_ACCOUNT],
		       kt_sealed_version(s), kt_sealed_tree_size(s), x->v[O_OUT]);
		for (i = 0; i < kt_sealed_count(s); i++)
			if (kt_sealed_get(s, i, &it) == KT_OK) {
				ktctl_blob_text(it.device_id, it.device_id_len, id,
						sizeof(id));
				printf("  - %s\n", id);
			}
	}
out:
	if (m != NULL)
		sodium_memzero(m, mlen);
	free(m);
	kt_sealed_free(s);
	return e;
}

/* Finds the bundle item for device id; *ct heap on success. */
static int bundle_find(char *text, const uint8_t *id, size_t id_len,
		       uint8_t **ct, size_t *ct_len)
{
	char *line, *save = NULL, *f1, *f2, *f3, *sp;
	uint8_t did[KT_DEVICE_ID_MAX];
	size_t dlen, n;
	int first = 1, r;

	*ct = NULL;
	*ct_len = 0;
	for (line = strtok_r(text, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		if (first) {
			if (strcmp(line, SEALED_FORMAT) != 0)
				return BAD_FILE;
			first = 0;
			continue;
		}
		if (strncmp(line, "item ", 5) != 0)
			continue;
		f1 = line + 5;
		if ((sp = strchr(f1, ' ')) == NULL)
			return BAD_FILE;
		*sp = '\0';
		f2 = sp + 1;
		if ((sp = strchr(f2, ' ')) == NULL)
			return BAD_FILE;
		*sp = '\0';
		f3 = sp + 1;
		r = hex_field(f1, did, sizeof(did), &dlen);
		if (r != KT_OK)
			return BAD_FILE;
		/* public values: memcmp */
		if (dlen != id_len || memcmp(did, id, id_len) != 0)
			continue;
		n = strlen(f3);
		if (n % 2 != 0 || n / 2 > KT_SEAL_MAX_MESSAGE + KT_SEAL_OVERHEAD)
			return BAD_FILE;
		*ct = malloc(n / 2 + 1);
		if (*ct == NULL)
			return KT_ERR_NOMEM;
		if (ktctl_unhex(f3, *ct, n / 2) != KT_OK) {
			free(*ct);
			*ct = NULL;
			return BAD_FILE;
		}
		*ct_len = n / 2;
		return KT_OK;
	}
	return first ? BAD_FILE : KT_ERR_NOT_FOUND;
}

static int cmd_open(ctl *x)
{
	kt_device_keys *k = NULL;
	uint8_t *text = NULL, *ct = NULL, *m = NULL;
	const uint8_t *id;
	size_t len, ct_len = 0, mlen = 0, id_len;
	char idt[200];
	ktctl_json j;
	int e, r;

	if ((e = require(x, BIT(O_KEYS) | BIT(O_IN))) != 0)
		return e;
	if ((e = load_keys("keys", x->v[O_KEYS], &k)) != 0)
		return e;
	id = kt_device_keys_id(k, &id_len);
	ktctl_blob_text(id, id_len, idt, sizeof(idt));
	r = read_all(x->v[O_IN], BUNDLE_MAX, &text, &len);
	if (r != KT_OK) {
		msg("open: --in %s: %s", x->v[O_IN],
		    r == KT_ERR_IO ? strerror(errno) : kt_strerror(r));
		e = EXIT_ERROR;
		goto out;
	}
	r = bundle_find((char *)text, id, id_len, &ct, &ct_len);
	if (r == KT_ERR_NOT_FOUND) {
		msg("open: %s holds nothing sealed to device %s", x->v[O_IN], idt);
		e = EXIT_ERROR;
		goto out;
	}
	if (r == KT_OK)
		r = kt_device_keys_open(k, ct, ct_len, &m, &mlen);
	if (r != KT_OK) {
		msg("open: %s: %s (%s)", x->v[O_IN], kt_strerror(r), kt_errname(r));
		e = EXIT_ERROR;
		goto out;
	}
	e = EXIT_OK_;
	if (x->v[O_OUT] != NULL &&
	    write_file(x->v[O_OUT], m, mlen, 0600, 0) != KT_OK) {
		msg("open: cannot write %s: %s", x->v[O_OUT], strerror(errno));
		e = EXIT_ERROR;
		goto out;
	}
	if (x->json) {
		json_begin_ok(x, &j);
		ktctl_json_blob(&j, "device_id", id, id_len);
		ktctl_json_u64(&j, "length", mlen);
		if (x->v[O_OUT] == NULL)
			ktctl_json_blob(&j, "message", m, mlen);
		json_finish(&j);
	} else if (x->v[O_OUT] == NULL) {
		fwrite(m, 1, mlen, stdout);
		fflush(stdout);
	} else {
		printf("opened %zu bytes sealed to %s into %s\n", mlen, idt,
		       x->v[O_OUT]);
	}
out:
	if (m != NULL)
		sodium_memzero(m, mlen);
	free(m);
	free(ct);
	free(text);
	kt_device_keys_free(k);
	return e;
}

/* ---- monitor ----------------------------------------------------------------------------------------------- */

static void flags_text(unsigned fl, char *out, size_t cap)
{
	snprintf(out, cap, "%s%s%s%s", (fl & KT_MONITOR_FLAG_OPERATOR) ? " operator" : "",
		 (fl & KT_MONITOR_FLAG_REGISTRAR) ? " registrar" : "",
		 (fl & KT_MONITOR_FLAG_UNKNOWN_DEVICE) ? " unknown-device" : "",
		 (fl & KT_MONITOR_FLAG_UNCHECKED) ? " unchecked" : "");
}

static void json_flags(ktctl_json *j, unsigned fl)
{
	ktctl_json_arr(j, "flags");
	if (fl & KT_MONITOR_FLAG_OPERATOR)
		ktctl_json_str(j, NULL, "operator");
	if (fl & KT_MONITOR_FLAG_REGISTRAR)
		ktctl_json_str(j, NULL, "registrar");
	if (fl & KT_MONITOR_FLAG_UNKNOWN_DEVICE)
		ktctl_json_str(j, NULL, "unknown_device");
	if (fl & KT_MONITOR_FLAG_UNCHECKED)
		ktctl_json_str(j, NULL, "unchecked");
	ktctl_json_end_arr(j);
}

static void print_monitor(ctl *x, const kt_monitor_report *rep)
{
	kt_monitor_item it;
	char t[64], desc[1200], fl[80];
	size_t i, n = kt_monitor_report_count(rep);
	size_t flagged = kt_monitor_report_flagged(rep);
	ktctl_json j;

	if (x->json) {
		json_begin_ok(x, &j);
		ktctl_json_blob(&j, "account", (const uint8_t *)x->v[O_ACCOUNT],
				strlen(x->v[O_ACCOUNT]));
		ktctl_json_u64(&j, "version", kt_monitor_report_version(rep));
		ktctl_json_u64(&j, "new_versions", n);
		ktctl_json_u64(&j, "alerts", flagged);
		ktctl_json_arr(&j, "versions");
		for (i = 0; i < n; i++) {
			if (kt_monitor_report_item(rep, i, &it) != KT_OK)
				continue;
			ktctl_json_obj(&j, NULL);
			ktctl_json_u64(&j, "version", it.version);
			ktctl_json_u64(&j, "log_index", it.log_index);
			ktctl_json_u64(&j, "timestamp_ms", it.timestamp_ms);
			ktctl_json_bool(&j, "alert", it.flags != 0);
			json_flags(&j, it.flags);
			json_provenance(&j, "provenance", &it.provenance);
			ktctl_json_end_obj(&j);
		}
		ktctl_json_end_arr(&j);
		json_finish(&j);
		return;
	}
	printf("account %s: verified up to version %" PRIu64 ", %zu new "
	       "version(s) since the last check, %zu alert(s)\n",
	       x->v[O_ACCOUNT], kt_monitor_report_version(rep), n, flagged);
	for (i = 0; i < n; i++) {
		if (kt_monitor_report_item(rep, i, &it) != KT_OK)
			continue;
		ktctl_time(it.timestamp_ms, t, sizeof(t));
		prov_describe(&it.provenance, desc, sizeof(desc));
		flags_text(it.flags, fl, sizeof(fl));
		printf("  v%-4" PRIu64 " %s  %s%s%s\n", it.version, t, desc,
		       it.flags != 0 ? "   ALERT:" : "", fl);
	}
	for (i = 0; i < n; i++) {
		if (kt_monitor_report_item(rep, i, &it) != KT_OK || it.flags == 0)
			continue;
		prov_describe(&it.provenance, desc, sizeof(desc));
		printf("ALERT: version %" PRIu64 " was not authorised by your own "
		       "devices: %s (provenance %s)\n",
		       it.version, desc, prov_type_name(it.provenance.type));
	}
}

static int cmd_monitor(ctl *x)
{
	kt_owner_device own[2 * MAX_LIST];
	kt_device_keys *owner = NULL, *ok[MAX_LIST];
	uint8_t ids[MAX_LIST][KT_DEVICE_ID_MAX];
	uint8_t pks[MAX_LIST][KT_DEVICE_SIGN_PK_BYTES];
	const uint8_t *acct;
	size_t acct_len, n_own = 0, n_keys = 0, i, len;
	kt_monitor_report *rep = NULL;
	int e, r;

	if ((e = require(x, BIT(O_ACCOUNT) | BIT(O_KEYS))) != 0 ||
	    (e = get_account(x, &acct, &acct_len)) != 0)
		return e;
	memset(ok, 0, sizeof(ok));
	for (i = 0; i < x->n_list[O_OWN_ID]; i++) {
		if ((e = parse_id("own-id", x->list[O_OWN_ID][i], ids[i], &len)) != 0)
			return e;
		own[n_own].id = ids[i];
		own[n_own].id_len = len;
		own[n_own++].sign_pk = NULL;
	}
	if ((e = load_keys("keys", x->v[O_KEYS], &owner)) != 0)
		goto out;
	for (i = 0; i < x->n_list[O_OWN]; i++) {
		if ((e = load_keys("own", x->list[O_OWN][i], &ok[i])) != 0)
			goto out;
		n_keys++;
		own[n_own].id = kt_device_keys_id(ok[i], &own[n_own].id_len);
		kt_device_keys_sign_pk(ok[i], pks[i]);
		own[n_own++].sign_pk = pks[i];
	}
	if ((e = open_client(x)) != 0)
		goto out;
	r = kt_client_monitor(x->c, acct, acct_len, owner, own, n_own, &rep);
	if (r != KT_OK) {
		e = report(x, r, "monitor");
		goto out;
	}
	print_monitor(x, rep);
	e = kt_monitor_report_flagged(rep) > 0 ? EXIT_ALERT : EXIT_OK_;
out:
	kt_monitor_report_free(rep);
	kt_device_keys_free(owner);
	for (i = 0; i < n_keys; i++)
		kt_device_keys_free(ok[i]);
	return e;
}

/* ---- admin-update ------------------------------------------------------------------------------------------- */

/* What admin-update asks for: the operation (its pointers borrow from
 * here) and the device keys of an add. */
typedef struct admin_req {
	kt_admin_op op;
	kt_device_keys *keys;
	uint8_t id[KT_DEVICE_ID_MAX];
	uint8_t push[KT_PUSH_ADDRESS_MAX];
} admin_req;

/* The operation of admin-update from its options into *a (free a->keys). */
static int admin_op(ctl *x, admin_req *a)
{
	kt_admin_op *op = &a->op;
	int n = (x->v[O_ADD_DEVICE] != NULL) + (x->v[O_REMOVE_DEVICE] != NULL) +
		(x->v[O_SET_PUSH] != NULL);
	size_t push_len;
	int kind, e;

	memset(a, 0, sizeof(*a));
	if (n != 1) {
		msg("admin-update: give exactly one of --add-device KEYFILE, "
		    "--remove-device ID, --set-push ID");
		return EXIT_USAGE;
	}
	if (x->v[O_REMOVE_DEVICE] != NULL) {
		op->operation = KT_OPERATION_REMOVE_DEVICE;
		op->id = a->id;
		return parse_id("remove-device", x->v[O_REMOVE_DEVICE], a->id,
				&op->id_len);
	}
	if (x->v[O_SET_PUSH] != NULL) {
		op->operation = KT_OPERATION_SET_PUSH;
		op->id = a->id;
		op->push = a->push;
		if ((e = require(x, BIT(O_PUSH))) != 0)
			return e;
		if ((e = parse_id("set-push", x->v[O_SET_PUSH], a->id,
				  &op->id_len)) != 0)
			return e;
		return parse_push(x->v[O_PUSH], a->push, &op->push_len);
	}
	op->operation = KT_OPERATION_ADD_DEVICE;
	if ((e = parse_kind(x->v[O_KIND], KT_DEVICE_KIND_OTHER, &kind)) != 0 ||
	    (e = parse_push(x->v[O_PUSH], a->push, &push_len)) != 0 ||
	    (e = load_keys("add-device", x->v[O_ADD_DEVICE], &a->keys)) != 0)
		return e;
	kt_device_keys_spec(a->keys, a->push, push_len, kind, &op->device);
	return 0;
}

/* Sends the OperatorUpdate through the library (kt_client_admin_update:
 * a verified lookup for the version, then the Admin call). */
static int admin_send(ctl *x, const uint8_t *acct, size_t acct_len,
		      const kt_admin_op *op, kt_update_result *res)
{
	const char *tok_path = x->v[O_ADMIN_TOKEN];
	char tok[65];
	int r;

	if (tok_path == NULL)
		tok_path = kt_client_config_get(x->cfg, "admin_token_file");
	if (tok_path == NULL) {
		msg("admin-update: needs --admin-token FILE (or admin_token_file)");
		return EXIT_USAGE;
	}
	r = ktctl_admin_token_read(tok_path, tok);
	if (r != KT_OK) {
		msg("admin-update: admin token %s: %s (%s)", tok_path, kt_strerror(r),
		    kt_errname(r));
		return EXIT_ERROR;
	}
	r = kt_client_admin_update(x->c, tok, acct, acct_len, op, x->v[O_REASON],
				   res);
	sodium_memzero(tok, sizeof(tok));
	return r == KT_OK ? 0 : report(x, r, "admin-update");
}

static void print_admin(ctl *x, const kt_lookup *l, uint64_t before,
			uint64_t version, uint64_t log_index)
{
	ktctl_json j;
	char desc[1200];
	kt_provenance_info p;

	if (x->json) {
		json_begin_ok(x, &j);
		ktctl_json_u64(&j, "version", version);
		ktctl_json_u64(&j, "log_index", log_index);
		ktctl_json_obj(&j, "lookup");
		json_lookup(&j, (const uint8_t *)x->v[O_ACCOUNT],
			    strlen(x->v[O_ACCOUNT]), l, before);
		ktctl_json_end_obj(&j);
		json_finish(&j);
		return;
	}
	printf("operator update accepted: version %" PRIu64 " of %s (log index "
	       "%" PRIu64 ")\n",
	       version, x->v[O_ACCOUNT], log_index);
	if (kt_lookup_provenance(l, &p) == KT_OK) {
		prov_describe(&p, desc, sizeof(desc));
		printf("verified in the log at tree size %" PRIu64
		       ": version %" PRIu64 ", %s\n",
		       kt_lookup_tree_size(l), kt_lookup_version(l), desc);
	}
	printf("every sender sees provenance \"operator\" with this reason; the "
	       "owner's monitor reports it\n");
}

static int cmd_admin_update(ctl *x)
{
	const uint8_t *acct;
	size_t acct_len, rlen;
	kt_lookup *l = NULL;
	admin_req a;
	kt_update_result res;
	uint64_t before;
	int e, r;

	memset(&a, 0, sizeof(a));
	if ((e = require(x, BIT(O_ACCOUNT) | BIT(O_REASON))) != 0 ||
	    (e = get_account(x, &acct, &acct_len)) != 0 || (e = admin_op(x, &a)) != 0)
		goto out;
	rlen = strlen(x->v[O_REASON]);
	if (rlen < KT_REASON_MIN || rlen > KT_REASON_MAX ||
	    kt_utf8_check((const uint8_t *)x->v[O_REASON], rlen) != KT_OK) {
		msg("--reason: 1..%d bytes of UTF-8", KT_REASON_MAX);
		e = EXIT_USAGE;
		goto out;
	}
	if ((e = open_client(x)) != 0)
		goto out;
	if ((e = admin_send(x, acct, acct_len, &a.op, &res)) != 0)
		goto out;
	/* Show the change as every sender will see it: verified. */
	before = kt_client_trusted_size(x->c);
	r = kt_client_lookup(x->c, acct, acct_len, &l);
	if (r != KT_OK) {
		e = report(x, r, "admin-update (lookup after the update)");
		goto out;
	}
	print_admin(x, l, before, res.version, res.log_index);
	e = EXIT_OK_;
out:
	kt_lookup_free(l);
	kt_device_keys_free(a.keys);
	return e;
}

static const command commands[] = {
	{"keygen", cmd_keygen, BIT(O_OUT) | BIT(O_ID),
	 "create a device's keys in a new file (mode 0600)",
	 "  --out FILE       the key file to create (never overwritten)\n"
	 "  --id ID          the device id (default: 32 random hex characters)\n"},
	{"make-token", cmd_make_token,
	 BIT(O_ACCOUNT) | BIT(O_KEYS) | BIT(O_OUT) | BIT(O_REGISTRAR_KEY) |
		 BIT(O_PUSH) | BIT(O_KIND) | BIT(O_EXPIRY),
	 "registrar: sign an enrolment token for one device (development)",
	 "  --account ACCOUNT     the account to enrol\n"
	 "  --keys FILE           the device's key file (its public keys are used)\n"
	 "  --out FILE            the token file to create\n"
	 "  --registrar-key FILE  the registrar's signer key (default: the\n"
	 "                        configuration's registrar_key_file)\n"
	 "  --push P  --kind K    the device's push address and kind (the token\n"
	 "                        signs the whole device; kind default primary)\n"
	 "  --expiry DURATION     validity (default 10m; the node caps it)\n"},
	{"enroll", cmd_enroll,
	 BIT(O_ACCOUNT) | BIT(O_KEYS) | BIT(O_TOKEN) | BIT(O_REGISTRAR_KEY) |
		 BIT(O_PUSH) | BIT(O_KIND) | BIT(O_EXPIRY),
	 "enrol a first device (or recover) with a registrar token",
	 "  --account ACCOUNT     e.g. tel:+15551234567 or mailto:alice@example.org\n"
	 "  --keys FILE           the device's key file\n"
	 "  --token FILE          a token from the registrar (ktctl make-token), or\n"
	 "  --registrar-key FILE  mint one now with this signer key (development;\n"
	 "                        `ktd --dev` writes DATA_DIR/registrar.key)\n"
	 "  --push P  --kind K    push address, kind (default primary)\n"
	 "  --expiry DURATION     of a minted token (default 10m)\n"},
	{"add-device", cmd_add_device,
	 BIT(O_ACCOUNT) | BIT(O_KEYS) | BIT(O_DEVICE) | BIT(O_PUSH) | BIT(O_KIND),
	 "add a device, signed by one of the account's devices",
	 "  --account ACCOUNT\n"
	 "  --keys FILE       key file of a current device (signs the change)\n"
	 "  --device FILE     key file of the new device (its public keys are sent)\n"
	 "  --push P          its push address\n"
	 "  --kind K          primary, companion (default), forwarding, escrow, other\n"},
	{"remove-device", cmd_remove_device,
	 BIT(O_ACCOUNT) | BIT(O_KEYS) | BIT(O_DEVICE_ID),
	 "remove a device, signed by one of the account's devices",
	 "  --account ACCOUNT\n"
	 "  --keys FILE       key file of a current device (signs the change)\n"
	 "  --device-id ID    the device to remove\n"},
	{"set-push", cmd_set_push,
	 BIT(O_ACCOUNT) | BIT(O_KEYS) | BIT(O_DEVICE_ID) | BIT(O_PUSH),
	 "set a device's push address, signed by one of the account's devices",
	 "  --account ACCOUNT\n"
	 "  --keys FILE       key file of a current device (signs the change)\n"
	 "  --device-id ID    the device (default: the signing device)\n"
	 "  --push P          the new push address (\"\" for none)\n"},
	{"lookup", cmd_lookup, BIT(O_ACCOUNT),
	 "an account's devices, verified (checkpoint, consistency, VRF, map, opening)",
	 "  --account ACCOUNT\n"
	 "Prints the devices, the provenance of the current version (device,\n"
	 "registrar, or operator with its reason) and the verified tree size.\n"},
	{"seal", cmd_seal,
	 BIT(O_ACCOUNT) | BIT(O_MESSAGE) | BIT(O_IN) | BIT(O_OUT),
	 "encrypt a message to every verified device of an account",
	 "  --account ACCOUNT\n"
	 "  --message TEXT | --in FILE   the message (\"-\": stdin; at most 1 MiB)\n"
	 "  --out FILE       write the sealed bundle there (default: stdout)\n"
	 "Runs a verified lookup first; nothing is encrypted if it fails.\n"},
	{"open", cmd_open, BIT(O_KEYS) | BIT(O_IN) | BIT(O_OUT),
	 "decrypt this device's copy of a sealed bundle",
	 "  --keys FILE      this device's key file\n"
	 "  --in FILE        the sealed bundle (ktctl seal; \"-\": stdin)\n"
	 "  --out FILE       write the message there (default: stdout)\n"},
	{"monitor", cmd_monitor,
	 BIT(O_ACCOUNT) | BIT(O_KEYS) | BIT(O_OWN) | BIT(O_OWN_ID),
	 "owner: verify every new version of an account and flag foreign changes",
	 "  --account ACCOUNT\n"
	 "  --keys FILE      key file of one of the account's devices (signs the\n"
	 "                   History request; its changes count as the owner's)\n"
	 "  --own FILE       another device of the owner (key file; repeatable)\n"
	 "  --own-id ID      another device of the owner, by id (repeatable)\n"
	 "Checks every version since the last check (kept in the state file),\n"
	 "and exits 4 if one was authorised by the operator, a registrar (for a\n"
	 "key not the owner's) or a device not listed as the owner's.\n"},
	{"checkpoint", cmd_checkpoint, 0,
	 "fetch and verify the directory's newest checkpoint",
	 "Verifies the checkpoint signature, the witness policy, consistency with\n"
	 "the trusted checkpoint and the age of its last entry; advances the\n"
	 "trust state.\n"},
	{"admin-update", cmd_admin_update,
	 BIT(O_ACCOUNT) | BIT(O_REASON) | BIT(O_ADMIN_TOKEN) | BIT(O_ADMIN_ENDPOINT) |
		 BIT(O_ADD_DEVICE) | BIT(O_REMOVE_DEVICE) | BIT(O_SET_PUSH) |
		 BIT(O_PUSH) | BIT(O_KIND),
	 "operator: change an account through the Admin service, with a reason",
	 "  --account ACCOUNT\n"
	 "  --reason TEXT          required; recorded in the log for the owner and\n"
	 "                         every sender to see\n"
	 "  --add-device FILE      add the device of this key file (--kind, default\n"
	 "                         other; --push), or\n"
	 "  --remove-device ID     remove a device, or\n"
	 "  --set-push ID --push P set a device's push address\n"
	 "  --admin-token FILE     the admin credential (default: the\n"
	 "                         configuration's admin_token_file)\n"
	 "  --admin-endpoint ADDR  the Admin listener (default: the endpoint)\n"
	 "Binds the change to the account's current version (verified lookup),\n"
	 "then shows the result as a verified lookup.\n"},
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static const command *find_command(const char *name)
{
	size_t i;

	for (i = 0; i < N_COMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static int run(ctl *x, int argc, char **argv)
{
	const command *cmd = NULL;
	int i, e;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--version") == 0 && cmd == NULL) {
			printf("ktctl (libkeytrail %s)\n", kt_client_version());
			return EXIT_OK_;
		}
		if (a[0] == '-' && a[1] != '\0') {
			if (strncmp(a, "--", 2) != 0 && strcmp(a, "-h") != 0) {
				msg("unknown option %s", a);
				return EXIT_USAGE;
			}
			e = parse_opt(x, argc, argv, &i,
				      GLOBAL_OPTS | (cmd != NULL ? cmd->allowed : 0));
			if (e != 0)
				return e;
			continue;
		}
		if (cmd != NULL) {
			msg("%s: unexpected argument '%s'", cmd->name, a);
			return EXIT_USAGE;
		}
		if (strcmp(a, "help") == 0 && i + 1 < argc &&
		    (cmd = find_command(argv[i + 1])) != NULL) {
			print_cmd_help(stdout, cmd);
			return EXIT_OK_;
		}
		cmd = find_command(a);
		if (cmd == NULL) {
			if (strcmp(a, "help") == 0) {
				print_global_help(stdout, commands, N_COMMANDS);
				return EXIT_OK_;
			}
			msg("unknown command '%s' (ktctl --help)", a);
			return EXIT_USAGE;
		}
		x->cmd = cmd->name;
	}
	if (cmd == NULL) {
		if (x->seen[O_HELP]) {
			print_global_help(stdout, commands, N_COMMANDS);
			return EXIT_OK_;
		}
		print_global_help(stderr, commands, N_COMMANDS);
		return EXIT_USAGE;
	}
	if (x->seen[O_HELP]) {
		print_cmd_help(stdout, cmd);
		return EXIT_OK_;
	}
	if (sodium_init() < 0) {
		msg("libsodium failed to initialise");
		return EXIT_ERROR;
	}
	return cmd->fn(x);
}

int main(int argc, char **argv)
{
	ctl x;
	int e;

	memset(&x, 0, sizeof(x));
	e = run(&x, argc, argv);
	if (x.json && !x.json_done && e != EXIT_OK_) {
		/* A failure before or beside the library (usage, files, the
		 * Admin call): still one JSON object on stdout. */
		ktctl_json j;

		ktctl_json_init(&j, stdout);
		ktctl_json_obj(&j, NULL);
		ktctl_json_bool(&j, "ok", 0);
		ktctl_json_str(&j, "command", x.cmd);
		ktctl_json_int(&j, "exit", e);
		ktctl_json_str(&j, "message", last_msg);
		ktctl_json_end_obj(&j);
		ktctl_json_done(&j);
	}
	kt_client_close(x.c);
	kt_client_config_free(x.cfg);
	fflush(stdout);
	return e;
}
