/*
 * config.c — the ktd option table, its parser, its validator and printers.
 *
 * The table below is the single description of every option: the parser,
 * `ktd config-help`, ops/ktd.conf.example and the unit tests all read it.
 * To add an option: add a field to struct kt_config (config.h), a row here,
 * bump KT_CONFIG_NOPTIONS, and regenerate ops/ktd.conf.example with
 * `ktd config-help > ops/ktd.conf.example`.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define MS_PER_S UINT64_C(1000)
#define MS_PER_M (60 * MS_PER_S)
#define MS_PER_H (60 * MS_PER_M)
#define KIB UINT64_C(1024)
#define MIB (1024 * KIB)
#define GIB (1024 * MIB)

/* offsetof(kt_config, field), refused at compile time unless the field has
 * C type T: a row can never write a value of the wrong width. */
#define TYPED_OFF(field, T) \
	(offsetof(kt_config, field) + \
	 0 * sizeof(char[_Generic(((kt_config *)0)->field, T : 1, default : -1)]))

/* The type and field of a row. */
#define T_STRING(f) .type = KT_CONFIG_STRING, .offset = TYPED_OFF(f, char *)
#define T_PATH(f) .type = KT_CONFIG_PATH, .offset = TYPED_OFF(f, char *)
#define T_ADDRESS(f) .type = KT_CONFIG_ADDRESS, .offset = TYPED_OFF(f, char *)
#define T_U64(f) .type = KT_CONFIG_U64, .offset = TYPED_OFF(f, uint64_t)
#define T_SIZE(f) .type = KT_CONFIG_SIZE, .offset = TYPED_OFF(f, uint64_t)
#define T_DURATION(f) .type = KT_CONFIG_DURATION, .offset = TYPED_OFF(f, uint64_t)
#define T_BOOL(f) .type = KT_CONFIG_BOOL, .offset = TYPED_OFF(f, bool)
#define T_ENUM(f) .type = KT_CONFIG_ENUM, .offset = TYPED_OFF(f, unsigned)
#define T_LIST(f) .type = KT_CONFIG_LIST, .offset = TYPED_OFF(f, kt_config_list)

/* Byte caps of string values. */
#define ADDR_MAX 255
#define PATH_MAX_BYTES 4095
#define VKEY_MAX 512 /* a verifier key: name+hash+base64(type||key) */

/* Width of wrapped help text in the printed example. */
#define HELP_WIDTH 76

static const char *const log_level_names[] = {"debug", "info", "warn", "error", NULL};

/* Example verifier keys (seeds are public: never use them for real). */
#define EXAMPLE_REGISTRAR \
	"registrar.example+3290be2b+AUV+TbJxpovPtN2l5gvl7HY/gGq/e5WOKNQk5mdsW4JD"
#define EXAMPLE_WITNESS \
	"witness.example/w1+d705cff0+BDD8zhPL+dsb/635E1msLOz6Tr/vnf+1z0CZzcytKL81"

/* The option table; its order is the order of ops/ktd.conf.example. */
static const kt_config_option options[] = {
	/* identity and keys */
	{.name = "data_dir", T_PATH(data_dir),
	 .maxlen = PATH_MAX_BYTES, .example = "/var/lib/ktd", .flags = KT_CONFIG_F_REQUIRED,
	 .help = "Directory of the node's RocksDB database and state. Created if "
	         "missing; must not be shared between nodes."},
	{.name = "origin", T_STRING(origin), .maxlen = 255,
	 .example = "keytrail.example/log", .flags = KT_CONFIG_F_REQUIRED | KT_CONFIG_F_NOPLUS,
	 .help = "Origin line of the log's checkpoints (C2SP tlog-checkpoint): a "
	         "schema-less URL naming this log, without blanks or '+'. Clients "
	         "and witnesses pin it; never change it for an existing log."},
	{.name = "log_key_file", T_PATH(log_key_file),
	 .maxlen = PATH_MAX_BYTES, .example = "/etc/ktd/log.key", .flags = KT_CONFIG_F_REQUIRED,
	 .help = "File holding the log's signed-note signer key (Ed25519), which "
	         "signs every checkpoint. Secret: readable by ktd only."},
	{.name = "vrf_key_file", T_PATH(vrf_key_file),
	 .maxlen = PATH_MAX_BYTES, .example = "/etc/ktd/vrf.key", .flags = KT_CONFIG_F_REQUIRED,
	 .help = "File holding the ECVRF secret key that maps accounts to map "
	         "indices. Secret: whoever holds it can enumerate accounts."},

	/* network */
	{.name = "listen", T_ADDRESS(listen), .maxlen = ADDR_MAX,
	 .def = KT_CONFIG_DEFAULT_LISTEN,
	 .help = "Address of the public Directory service (gRPC): host:port, "
	         "[v6addr]:port or unix:/path. The Admin service is served here "
	         "too unless admin_listen is set."},
	{.name = "admin_listen", T_ADDRESS(admin_listen),
	 .maxlen = ADDR_MAX, .example = "127.0.0.1:7601",
	 .help = "Separate address for the Admin service, so that it can require "
	         "client certificates (tls_client_ca_file) and be firewalled apart. "
	         "Unset: Admin is served on listen."},
	{.name = "tls_cert_file", T_PATH(tls_cert_file),
	 .maxlen = PATH_MAX_BYTES, .example = "/etc/ktd/tls/server.crt",
	 .help = "PEM certificate chain of the node. Unset: plaintext gRPC (only "
	         "behind a TLS-terminating proxy or on loopback)."},
	{.name = "tls_key_file", T_PATH(tls_key_file),
	 .maxlen = PATH_MAX_BYTES, .example = "/etc/ktd/tls/server.key",
	 .help = "PEM private key of tls_cert_file; the two are set together."},
	{.name = "tls_client_ca_file", T_PATH(tls_client_ca_file),
	 .maxlen = PATH_MAX_BYTES, .example = "/etc/ktd/tls/admin-ca.crt",
	 .help = "PEM CA certificates for mutual TLS on admin_listen: Admin "
	         "clients must present a certificate issued by one of them, in "
	         "addition to the admin token. Needs TLS and admin_listen."},
	{.name = "metrics_listen", T_ADDRESS(metrics_listen),
	 .maxlen = ADDR_MAX, .example = "127.0.0.1:9600",
	 .help = "Address of the Prometheus metrics endpoint (plain HTTP). Unset: "
	         "no metrics endpoint."},
	{.name = "workers", T_U64(workers), .min = 1, .max = 256,
	 .def = "4", .help = "Number of gRPC worker threads that run request handlers."},
	{.name = "outstanding_per_method", T_U64(outstanding_per_method), .min = 1, .max = 4096,
	 .def = "64",
	 .help = "Calls of each gRPC method that can be in progress at once; "
	         "further calls wait in gRPC's queue."},
	{.name = "max_message_bytes", T_SIZE(max_message_bytes),
	 .min = 64 * KIB, .max = 64 * MIB, .def = "4MiB",
	 .help = "Largest gRPC message received or sent. Larger requests are "
	         "refused with RESOURCE_EXHAUSTED."},

	/* authorisation */
	{.name = "admin_token_file", T_PATH(admin_token_file),
	 .maxlen = PATH_MAX_BYTES, .example = "/etc/ktd/admin.token",
	 .help = "File holding the admin credential, compared in constant time "
	         "with the x-keytrail-admin metadata of every Admin call. Unset: "
	         "the Admin service refuses every call."},
	{.name = "registrar", T_LIST(registrar), .max = 16,
	 .maxlen = VKEY_MAX, .example = EXAMPLE_REGISTRAR,
	 .help = "Verifier key (name+keyhash+base64 key) of a registrar whose "
	         "tokens may enrol a first device or recover an account. Repeat "
	         "the line for each registrar. None: no enrolment."},
	{.name = "registrar_token_max_ttl", T_DURATION(registrar_token_max_ttl_ms),
	 .min = MS_PER_M, .max = 720 * MS_PER_H,
	 .def = "24h",
	 .help = "Registrar tokens whose expiry is further than this in the future "
	         "are refused, so that a leaked token is short-lived."},
	{.name = "witness", T_LIST(witness), .max = 64,
	 .maxlen = VKEY_MAX, .example = EXAMPLE_WITNESS,
	 .help = "Verifier key of a witness (C2SP tlog-cosignature, key type 4) "
	         "whose cosignatures AddCosignature accepts. Repeat the line for "
	         "each witness."},
	{.name = "witness_threshold", T_U64(witness_threshold),
	 .min = 0, .max = 64, .def = "0",
	 .help = "Number of cosignatures by distinct configured witnesses that "
	         "make a checkpoint the newest cosigned checkpoint the node serves. "
	         "At most the number of witness lines; 0 counts as 1."},
	{.name = "history_public", T_BOOL(history_public),
	 .def = "false",
	 .help = "Answer History requests without the owner's device signature. "
	         "Off: only a current or former device of the account may read "
	         "its history."},
	{.name = "history_max_skew", T_DURATION(history_max_skew_ms),
	 .min = MS_PER_S, .max = MS_PER_H, .def = "5m",
	 .help = "How far the timestamp of a signed History request may be from "
	         "the node's clock, either way."},

	/* limits */
	{.name = "max_devices", T_U64(max_devices), .min = 1,
	 .max = 256, .def = "32", .help = "Most devices one account may have."},
	{.name = "max_entries_page", T_U64(max_entries_page),
	 .min = 1, .max = 100000, .def = "1000",
	 .help = "Most log entries returned by one GetEntries call."},
	{.name = "max_history_versions", T_U64(max_history_versions),
	 .min = 1, .max = 100000, .def = "1000",
	 .help = "Most versions returned by one History call (the client pages "
	         "with from_version)."},
	{.name = "lookup_rate_limit", T_U64(lookup_rate_limit),
	 .min = 0, .max = 1000000, .def = "1000",
	 .help = "Lookups per second allowed to one peer address; more are refused "
	         "with RESOURCE_EXHAUSTED. 0: no limit."},

	/* log, batching, storage */
	{.name = "heartbeat_interval", T_DURATION(heartbeat_interval_ms),
	 .min = 100, .max = MS_PER_H, .def = "10s",
	 .help = "A heartbeat entry is appended when nothing else was appended for "
	         "this long, so that clients can tell a stale or frozen view by its "
	         "age."},
	{.name = "retention", T_DURATION(retention_ms),
	 .min = MS_PER_M, .max = 8760 * MS_PER_H, .def = "24h",
	 .help = "How long old versions of the map stay provable: reads may name "
	         "any checkpoint this recent. Older versions are pruned."},
	{.name = "batch_max", T_U64(batch_max), .min = 1,
	 .max = 65536, .def = "4096",
	 .help = "Most updates applied in one batch (one storage write, one "
	         "checkpoint)."},
	{.name = "batch_delay", T_DURATION(batch_delay_ms),
	 .min = 0, .max = MS_PER_S, .def = "2ms",
	 .help = "Longest time the sequencer waits for more updates to fill a "
	         "batch. 0: apply at once."},
	{.name = "map_cache_nodes", T_U64(map_cache_nodes),
	 .min = 0, .max = UINT64_C(1) << 26, .def = "4194304",
	 .help = "Map nodes kept in memory, newest versions only (120 bytes "
		 "each, touched as the cache fills; the upper 48 levels are "
		 "cached). Size it to 4 x the accounts for lookups from "
		 "memory. 0: no cache."},
	{.name = "block_cache_mb", T_U64(block_cache_mb),
	 .min = 8, .max = UINT64_C(1) << 20, .def = "256",
	 .help = "RocksDB block cache in MiB, shared by all column families: "
		 "account records, log entries and tree nodes the caches above "
		 "miss."},
	{.name = "log_cache_nodes", T_U64(log_cache_nodes),
	 .min = 0, .max = UINT64_C(1) << 26, .def = "4194304",
	 .help = "Log tree node hashes kept in memory (64 bytes each, touched "
		 "as the cache fills). Size it to 3 x the log entries for "
		 "proofs from memory. 0: no cache."},
	{.name = "name_cache_entries", T_U64(name_cache_entries),
	 .min = 0, .max = UINT64_C(1) << 26, .def = "2097152",
	 .help = "Account identifier -> map index records kept in memory "
		 "(80 bytes each, touched as the cache fills). Size it to "
		 "2 x the accounts. 0: no cache."},

	/* operation */
	{.name = "log_level", T_ENUM(log_level),
	 .names = log_level_names, .def = "info",
	 .help = "Least severe log lines written to stderr."},
	{.name = "dev_mode", T_BOOL(dev_mode), .def = "false",
	 .help = "Development mode, set by `ktd --dev`: the options marked "
	         "required may be left unset, for local testing. Never in "
	         "production."},

	/* reserved for replication */
	{.name = "raft_id", T_U64(raft_id), .min = 0,
	 .max = UINT64_MAX, .example = "1", .flags = KT_CONFIG_F_RESERVED,
	 .help = "Reserved: used once replication lands. This node's Raft id; "
	         "unset or 0: no replication."},
	{.name = "raft_address", T_ADDRESS(raft_address),
	 .maxlen = ADDR_MAX, .example = "10.0.0.1:7700", .flags = KT_CONFIG_F_RESERVED,
	 .help = "Reserved: used once replication lands. Address of this node's "
	         "Raft transport."},
	{.name = "raft_peers", T_LIST(raft_peers), .max = 64,
	 .maxlen = ADDR_MAX + 21, .example = "2@10.0.0.2:7700", .flags = KT_CONFIG_F_RESERVED,
	 .help = "Reserved: used once replication lands. Another member of the "
	         "cluster as id@address; repeat the line for each."},
	{.name = "raft_dir", T_PATH(raft_dir),
	 .maxlen = PATH_MAX_BYTES, .example = "/var/lib/ktd/raft", .flags = KT_CONFIG_F_RESERVED,
	 .help = "Reserved: used once replication lands. Directory of the Raft log "
	         "and snapshots."},
};

_Static_assert(sizeof(options) / sizeof(options[0]) == KT_CONFIG_NOPTIONS,
               "KT_CONFIG_NOPTIONS must equal the number of rows of the table");

/* ---- table access ------------------------------------------------------ */

const kt_config_option *kt_config_options(size_t *n)
{
	if (n != NULL)
		*n = KT_CONFIG_NOPTIONS;
	return options;
}

static int find_index(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < KT_CONFIG_NOPTIONS; i++)
		if (strlen(options[i].name) == len && memcmp(options[i].name, name, len) == 0)
			return (int)i;
	return -1;
}

const kt_config_option *kt_config_find(const char *name)
{
	int i;

	if (name == NULL)
		return NULL;
	i = find_index(name, strlen(name));
	return i < 0 ? NULL : &options[i];
}

/* The field of option o inside cfg (offsets come from offsetof). */
static void *field(kt_config *cfg, const kt_config_option *o)
{
	return (unsigned char *)cfg + o->offset;
}

static const void *cfield(const kt_config *cfg, const kt_config_option *o)
{
	return (const unsigned char *)cfg + o->offset;
}

static bool is_string_type(kt_config_type t)
{
	return t == KT_CONFIG_STRING || t == KT_CONFIG_PATH || t == KT_CONFIG_ADDRESS;
}

static bool is_number_type(kt_config_type t)
{
	return t == KT_CONFIG_U64 || t == KT_CONFIG_SIZE || t == KT_CONFIG_DURATION;
}

/* ---- error messages ---------------------------------------------------- */

static void vfmt(char *buf, size_t len, const char *f, va_list ap)
	__attribute__((format(printf, 3, 0)));
static void vfmt(char *buf, size_t len, const char *f, va_list ap)
{
	if (buf == NULL || len == 0)
		return;
	if (vsnprintf(buf, len, f, ap) < 0)
		buf[0] = '\0';
}

static void fmt(char *buf, size_t len, const char *f, ...) __attribute__((format(printf, 3, 4)));
static void fmt(char *buf, size_t len, const char *f, ...)
{
	va_list ap;

	va_start(ap, f);
	vfmt(buf, len, f, ap);
	va_end(ap);
}

/* Where a value comes from, for error messages. */
struct where {
	const char *source;  /* file name, or NULL for the command line */
	unsigned long line;  /* 1-based line in source */
	const char *name;    /* option name (command line) */
	size_t name_len;
	char *err;
	size_t errlen;
};

/* Writes "<source>:<line>: <message>" (or "--set <name>: <message>") into the
 * caller's buffer and returns code. */
static int fail(const struct where *w, int code, const char *f, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(const struct where *w, int code, const char *f, ...)
{
	char msg[512];
	va_list ap;
	int nl = w->name_len > 64 ? 64 : (int)w->name_len;

	va_start(ap, f);
	vfmt(msg, sizeof(msg), f, ap);
	va_end(ap);
	if (w->source != NULL)
		fmt(w->err, w->errlen, "%s:%lu: %s", w->source, w->line, msg);
	else
		fmt(w->err, w->errlen, "--set %.*s: %s", nl, w->name != NULL ? w->name : "", msg);
	return code;
}

/* Levenshtein distance of two short strings, capped at 99. */
static size_t edit_distance(const char *a, size_t alen, const char *b)
{
	size_t row[65], i, j, blen = strlen(b);

	if (alen > 64 || blen > 64)
		return 99;
	for (j = 0; j <= blen; j++)
		row[j] = j;
	for (i = 1; i <= alen; i++) {
		size_t diag = row[0];

		row[0] = i;
		for (j = 1; j <= blen; j++) {
			size_t up = row[j], best = diag + (a[i - 1] != b[j - 1]);

			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[blen];
}

/* The option whose name is closest to name (at most 2 edits), or NULL. */
static const char *suggest(const char *name, size_t len)
{
	const char *best = NULL;
	size_t i, best_d = 3;

	for (i = 0; i < KT_CONFIG_NOPTIONS; i++) {
		size_t d = edit_distance(name, len, options[i].name);

		if (d < best_d) {
			best_d = d;
			best = options[i].name;
		}
	}
	return best;
}

/* ---- value parsing ----------------------------------------------------- */

/* A parsed value, before it is stored. */
struct value {
	uint64_t u;     /* numbers, bool, enum */
	const char *s;  /* strings: points into the input, s_len bytes */
	size_t s_len;
};

/* Parses the decimal digits s[0..n).  Returns KT_OK, KT_ERR_CONFIG_VALUE (no
 * digits / not a digit) or KT_ERR_CONFIG_RANGE (overflow). */
static int parse_digits(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	*out = 0;
	if (n == 0)
		return KT_ERR_CONFIG_VALUE;
	for (i = 0; i < n; i++) {
		uint64_t d;

		if (s[i] < '0' || s[i] > '9')
			return KT_ERR_CONFIG_VALUE;
		d = (uint64_t)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return KT_ERR_CONFIG_RANGE;
		v = v * 10 + d;
	}
	*out = v;
	return KT_OK;
}

static size_t digit_prefix(const char *s, size_t n)
{
	size_t i = 0;

	while (i < n && s[i] >= '0' && s[i] <= '9')
		i++;
	return i;
}

struct unit {
	const char *suffix;
	uint64_t scale;
};

static const struct unit duration_units[] = {
	{"h", MS_PER_H}, {"m", MS_PER_M}, {"s", MS_PER_S}, {"ms", 1}, {NULL, 0}};
static const struct unit size_units[] = {
	{"GiB", GIB}, {"MiB", MIB}, {"KiB", KIB}, {"", 1}, {NULL, 0}};

/* Parses digits followed by one of units' suffixes (exact match). */
static int parse_scaled(const char *s, size_t n, const struct unit *units, uint64_t *out)
{
	size_t nd = digit_prefix(s, n), i;
	uint64_t v;
	int r;

	*out = 0;
	if (nd == 0)
		return KT_ERR_CONFIG_VALUE;
	for (i = 0; units[i].suffix != NULL; i++) {
		size_t sl = strlen(units[i].suffix);

		if (n - nd != sl || memcmp(s + nd, units[i].suffix, sl) != 0)
			continue;
		if ((r = parse_digits(s, nd, &v)) != KT_OK)
			return r;
		if (v > UINT64_MAX / units[i].scale)
			return KT_ERR_CONFIG_RANGE;
		*out = v * units[i].scale;
		return KT_OK;
	}
	return KT_ERR_CONFIG_VALUE;
}

/* Prints v with the largest unit that divides it exactly. */
static void format_scaled(char *out, size_t outlen, uint64_t v, const struct unit *units)
{
	size_t i;

	if (v == 0) {
		/* durations print "0s"; sizes "0" */
		fmt(out, outlen, "0%s", units == duration_units ? "s" : "");
		return;
	}
	for (i = 0; units[i].suffix != NULL; i++)
		if (v % units[i].scale == 0) {
			fmt(out, outlen, "%" PRIu64 "%s", v / units[i].scale, units[i].suffix);
			return;
		}
}

static void format_number(char *out, size_t outlen, kt_config_type t, uint64_t v)
{
	if (t == KT_CONFIG_DURATION)
		format_scaled(out, outlen, v, duration_units);
	else if (t == KT_CONFIG_SIZE)
		format_scaled(out, outlen, v, size_units);
	else
		fmt(out, outlen, "%" PRIu64, v);
}

static int parse_bool(const char *s, size_t n, uint64_t *out)
{
	static const char *const yes[] = {"true", "yes", "on"};
	static const char *const no[] = {"false", "no", "off"};
	size_t i;

	*out = 0;
	for (i = 0; i < 3; i++) {
		if (strlen(yes[i]) == n && memcmp(s, yes[i], n) == 0) {
			*out = 1;
			return KT_OK;
		}
		if (strlen(no[i]) == n && memcmp(s, no[i], n) == 0)
			return KT_OK;
	}
	return KT_ERR_CONFIG_VALUE;
}

static int parse_enum(const char *const *names, const char *s, size_t n, uint64_t *out)
{
	uint64_t i;

	*out = 0;
	for (i = 0; names[i] != NULL; i++)
		if (strlen(names[i]) == n && memcmp(s, names[i], n) == 0) {
			*out = i;
			return KT_OK;
		}
	return KT_ERR_CONFIG_VALUE;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Bytes a string value may hold: no control bytes, no '#' first or after a blank;
 * only paths may hold blanks. */
static bool string_bytes_ok(const char *s, size_t n, bool blanks_ok)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f)
			if (!(blanks_ok && c == '\t'))
				return false;
		if (c == ' ' && !blanks_ok)
			return false;
		/* "name = #x" and "a #b" would read back as comments: keep every
		 * printed value parseable */
		if (c == '#' && (i == 0 || is_blank(s[i - 1])))
			return false;
	}
	return true;
}

/* host:port, [v6]:port or unix:/path.  Writes the reason to why. */
static bool address_ok(const char *s, size_t n, char *why, size_t whylen)
{
	const char *colon;
	size_t host_len;
	uint64_t port;

	if (n > 5 && memcmp(s, "unix:", 5) == 0)
		return true;
	if (s[0] == '[') {
		const char *close = memchr(s, ']', n);

		if (close == NULL || close == s + 1 || (size_t)(close - s) + 1 >= n ||
		    close[1] != ':') {
			fmt(why, whylen, "expected [v6addr]:port");
			return false;
		}
		colon = close + 1;
		host_len = (size_t)(close - s) + 1;
	} else {
		colon = NULL;
		for (host_len = n; host_len > 0; host_len--)
			if (s[host_len - 1] == ':') {
				colon = s + host_len - 1;
				host_len--;
				break;
			}
		if (colon == NULL || host_len == 0) {
			fmt(why, whylen, "expected host:port, [v6addr]:port or unix:/path");
			return false;
		}
		if (memchr(s, ':', host_len) != NULL) {
			fmt(why, whylen, "an IPv6 address needs brackets: [v6addr]:port");
			return false;
		}
	}
	if (parse_digits(colon + 1, n - host_len - 1, &port) != KT_OK || port > 65535 ||
	    n - host_len - 1 > 5) {
		fmt(why, whylen, "the port must be a number from 0 to 65535");
		return false;
	}
	return true;
}

/* Parses the value s[0..n) of option o into v.  Returns a kt_err code with
 * the reason in why. */
static int parse_value(const kt_config_option *o, const char *s, size_t n, struct value *v,
                       char *why, size_t whylen)
{
	char lo[32], hi[32];
	int r;

	memset(v, 0, sizeof(*v));
	if (n == 0) {
		fmt(why, whylen, "empty value");
		return KT_ERR_CONFIG_VALUE;
	}
	switch (o->type) {
	case KT_CONFIG_STRING:
	case KT_CONFIG_PATH:
	case KT_CONFIG_ADDRESS:
	case KT_CONFIG_LIST:
		if (n > o->maxlen) {
			fmt(why, whylen, "value is %zu bytes, at most %zu allowed", n, o->maxlen);
			return KT_ERR_CONFIG_RANGE;
		}
		if (!string_bytes_ok(s, n, o->type == KT_CONFIG_PATH)) {
			fmt(why, whylen, "value holds a blank or a control character");
			return KT_ERR_CONFIG_VALUE;
		}
		if ((o->flags & KT_CONFIG_F_NOPLUS) && memchr(s, '+', n) != NULL) {
			fmt(why, whylen, "value may not hold '+'");
			return KT_ERR_CONFIG_VALUE;
		}
		if (o->type == KT_CONFIG_ADDRESS && !address_ok(s, n, why, whylen))
			return KT_ERR_CONFIG_VALUE;
		v->s = s;
		v->s_len = n;
		return KT_OK;
	case KT_CONFIG_U64:
		r = parse_digits(s, n, &v->u);
		if (r == KT_ERR_CONFIG_VALUE)
			fmt(why, whylen, "'%.*s' is not a decimal number", (int)(n > 64 ? 64 : n), s);
		break;
	case KT_CONFIG_SIZE:
		r = parse_scaled(s, n, size_units, &v->u);
		if (r == KT_ERR_CONFIG_VALUE)
			fmt(why, whylen, "'%.*s' is not a size (bytes, or a number with KiB, MiB or GiB)",
			    (int)(n > 64 ? 64 : n), s);
		break;
	case KT_CONFIG_DURATION:
		r = parse_scaled(s, n, duration_units, &v->u);
		if (r == KT_ERR_CONFIG_VALUE)
			fmt(why, whylen,
			    "'%.*s' is not a duration (a number with ms, s, m or h: 250ms, 10s, 24h)",
			    (int)(n > 64 ? 64 : n), s);
		break;
	case KT_CONFIG_BOOL:
		if ((r = parse_bool(s, n, &v->u)) != KT_OK)
			fmt(why, whylen, "expected true or false");
		return r;
	case KT_CONFIG_ENUM:
		if ((r = parse_enum(o->names, s, n, &v->u)) != KT_OK)
			fmt(why, whylen, "'%.*s' is not one of the allowed values",
			    (int)(n > 64 ? 64 : n), s);
		return r;
	default:
		fmt(why, whylen, "option has no type");
		return KT_ERR_INTERNAL;
	}
	if (r == KT_OK && (v->u < o->min || v->u > o->max))
		r = KT_ERR_CONFIG_RANGE;
	if (r == KT_ERR_CONFIG_RANGE) {
		format_number(lo, sizeof(lo), o->type, o->min);
		format_number(hi, sizeof(hi), o->type, o->max);
		fmt(why, whylen, "'%.*s' is out of range %s..%s", (int)(n > 64 ? 64 : n), s, lo, hi);
	}
	return r;
}

/* ---- storing values ---------------------------------------------------- */

static void list_clear(kt_config_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->items[i]);
	free(l->items);
	l->items = NULL;
	l->n = 0;
}

static bool list_has(const kt_config_list *l, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (strlen(l->items[i]) == n && memcmp(l->items[i], s, n) == 0)
			return true;
	return false;
}

static int list_append(kt_config_list *l, const char *s, size_t n)
{
	char **items, *copy;

	if ((copy = strndup(s, n)) == NULL)
		return KT_ERR_NOMEM;
	items = realloc(l->items, (l->n + 1) * sizeof(*items));
	if (items == NULL) {
		free(copy);
		return KT_ERR_NOMEM;
	}
	items[l->n++] = copy;
	l->items = items;
	return KT_OK;
}

/* Stores v into cfg's field of option o (scalars replace, lists append). */
static int store_value(kt_config *cfg, const kt_config_option *o, const struct value *v)
{
	char **sp, *copy;

	switch (o->type) {
	case KT_CONFIG_STRING:
	case KT_CONFIG_PATH:
	case KT_CONFIG_ADDRESS:
		if ((copy = strndup(v->s, v->s_len)) == NULL)
			return KT_ERR_NOMEM;
		sp = field(cfg, o);
		free(*sp);
		*sp = copy;
		return KT_OK;
	case KT_CONFIG_LIST:
		return list_append(field(cfg, o), v->s, v->s_len);
	case KT_CONFIG_U64:
	case KT_CONFIG_SIZE:
	case KT_CONFIG_DURATION:
		*(uint64_t *)field(cfg, o) = v->u;
		return KT_OK;
	case KT_CONFIG_BOOL:
		*(bool *)field(cfg, o) = v->u != 0;
		return KT_OK;
	case KT_CONFIG_ENUM:
		*(unsigned *)field(cfg, o) = (unsigned)v->u;
		return KT_OK;
	default:
		return KT_ERR_INTERNAL;
	}
}

/* Applies "name = value" from source src (FILE or CMDLINE) to cfg. */
static int apply(kt_config *cfg, const char *name, size_t name_len, const char *val,
                 size_t val_len, unsigned char src, const struct where *w)
{
	const kt_config_option *o;
	const char *hint;
	struct value v;
	char why[256];
	int idx, r;

	idx = find_index(name, name_len);
	if (idx < 0) {
		int nl = name_len > 64 ? 64 : (int)name_len;

		hint = suggest(name, name_len);
		if (hint != NULL)
			return fail(w, KT_ERR_CONFIG_UNKNOWN,
			            "unknown option '%.*s' (did you mean '%s'?)", nl, name, hint);
		return fail(w, KT_ERR_CONFIG_UNKNOWN, "unknown option '%.*s'", nl, name);
	}
	o = &options[idx];
	if ((r = parse_value(o, val, val_len, &v, why, sizeof(why))) != KT_OK)
		return fail(w, r, "%s: %s", o->name, why);
	/* A command-line value wins over every file, whatever the order. */
	if (src == KT_CONFIG_SRC_FILE && cfg->src[idx] == KT_CONFIG_SRC_CMDLINE)
		return KT_OK;
	if (o->type == KT_CONFIG_LIST) {
		kt_config_list *l = field(cfg, o);

		if (src == KT_CONFIG_SRC_CMDLINE && cfg->src[idx] != KT_CONFIG_SRC_CMDLINE)
			list_clear(l);
		if (list_has(l, val, val_len))
			return fail(w, KT_ERR_CONFIG_DUPLICATE, "%s: the same value is given twice",
			            o->name);
		if (l->n >= o->max)
			return fail(w, KT_ERR_CONFIG_RANGE, "%s: more than %" PRIu64 " values",
			            o->name, o->max);
	} else if (cfg->src[idx] == src) {
		return fail(w, KT_ERR_CONFIG_DUPLICATE, "%s is set twice (%s)", o->name,
		            src == KT_CONFIG_SRC_FILE ? "a later line would silently win"
		                                      : "given twice on the command line");
	}
	if ((r = store_value(cfg, o, &v)) != KT_OK)
		return fail(w, r, "%s: %s", o->name, kt_strerror(r));
	cfg->src[idx] = src;
	return KT_OK;
}

/* ---- init / free --------------------------------------------------------- */

int kt_config_init(kt_config *cfg)
{
	size_t i;
	int r = KT_OK;

	if (cfg == NULL)
		return KT_ERR_INVALID_ARG;
	memset(cfg, 0, sizeof(*cfg));
	for (i = 0; i < KT_CONFIG_NOPTIONS; i++) {
		const kt_config_option *o = &options[i];
		struct value v;
		char why[256];

		if (o->def == NULL)
			continue;
		/* Defaults are parsed like any value: a bad default is a bug that
		 * the unit tests catch. */
		r = parse_value(o, o->def, strlen(o->def), &v, why, sizeof(why));
		if (r == KT_OK)
			r = store_value(cfg, o, &v);
		if (r != KT_OK)
			goto out;
	}
out:
	if (r != KT_OK)
		kt_config_free(cfg);
	return r;
}

void kt_config_free(kt_config *cfg)
{
	size_t i;

	if (cfg == NULL)
		return;
	for (i = 0; i < KT_CONFIG_NOPTIONS; i++) {
		if (is_string_type(options[i].type))
			free(*(char **)field(cfg, &options[i]));
		else if (options[i].type == KT_CONFIG_LIST)
			list_clear(field(cfg, &options[i]));
	}
	memset(cfg, 0, sizeof(*cfg));
}

/* ---- parsing text ---------------------------------------------------------- */

static void trim(const char **s, size_t *n)
{
	while (*n > 0 && is_blank(**s)) {
		(*s)++;
		(*n)--;
	}
	while (*n > 0 && is_blank((*s)[*n - 1]))
		(*n)--;
}

/* Length of line[0..n) without its comment: a '#' at the start or after a
 * blank begins one. */
static size_t strip_comment(const char *line, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (line[i] == '#' && (i == 0 || is_blank(line[i - 1])))
			return i;
	return n;
}

/* Splits "name = value" and applies it. */
static int apply_assignment(kt_config *cfg, const char *s, size_t n, unsigned char src,
                            struct where *w)
{
	const char *eq = memchr(s, '=', n), *name = s, *val;
	size_t name_len, val_len;

	if (eq == NULL)
		return fail(w, KT_ERR_CONFIG_SYNTAX, "expected 'name = value'");
	name_len = (size_t)(eq - s);
	val = eq + 1;
	val_len = n - name_len - 1;
	trim(&name, &name_len);
	trim(&val, &val_len);
	w->name = name;
	w->name_len = name_len;
	if (name_len == 0)
		return fail(w, KT_ERR_CONFIG_SYNTAX, "missing option name before '='");
	return apply(cfg, name, name_len, val, val_len, src, w);
}

int kt_config_parse(kt_config *cfg, const char *text, size_t len, const char *source,
                    char *err, size_t errlen)
{
	struct where w = {source != NULL ? source : "config", 0, NULL, 0, err, errlen};
	size_t pos = 0;
	int r;

	fmt(err, errlen, "%s", "");
	if (cfg == NULL || (text == NULL && len > 0))
		return fail(&w, KT_ERR_INVALID_ARG, "invalid argument");
	if (len > KT_CONFIG_MAX_FILE_BYTES)
		return fail(&w, KT_ERR_TOO_LARGE, "file is over %u bytes", KT_CONFIG_MAX_FILE_BYTES);
	while (pos < len) {
		const char *line = text + pos, *nl = memchr(line, '\n', len - pos);
		size_t n = nl != NULL ? (size_t)(nl - line) : len - pos;

		pos += n + (nl != NULL);
		w.line++;
		if (n > KT_CONFIG_MAX_LINE)
			return fail(&w, KT_ERR_CONFIG_SYNTAX, "line is over %u bytes",
			            KT_CONFIG_MAX_LINE);
		if (memchr(line, '\0', n) != NULL)
			return fail(&w, KT_ERR_CONFIG_SYNTAX, "line holds a NUL byte");
		if (n > 0 && line[n - 1] == '\r')
			n--;
		n = strip_comment(line, n);
		trim(&line, &n);
		if (n == 0)
			continue;
		if ((r = apply_assignment(cfg, line, n, KT_CONFIG_SRC_FILE, &w)) != KT_OK)
			return r;
	}
	return KT_OK;
}

int kt_config_load_file(kt_config *cfg, const char *path, char *err, size_t errlen)
{
	struct where w = {path != NULL ? path : "config", 0, NULL, 0, err, errlen};
	char *buf = NULL;
	size_t n;
	FILE *f = NULL;
	int r;

	if (cfg == NULL || path == NULL) {
		r = fail(&w, KT_ERR_INVALID_ARG, "invalid argument");
		goto out;
	}
	if ((f = fopen(path, "rb")) == NULL) {
		r = fail(&w, KT_ERR_IO, "cannot open: %s", strerror(errno));
		goto out;
	}
	if ((buf = malloc(KT_CONFIG_MAX_FILE_BYTES + 1)) == NULL) {
		r = fail(&w, KT_ERR_NOMEM, "out of memory");
		goto out;
	}
	n = fread(buf, 1, KT_CONFIG_MAX_FILE_BYTES + 1, f);
	if (ferror(f)) {
		r = fail(&w, KT_ERR_IO, "cannot read: %s", strerror(errno));
		goto out;
	}
	if (n > KT_CONFIG_MAX_FILE_BYTES) {
		r = fail(&w, KT_ERR_TOO_LARGE, "file is over %u bytes", KT_CONFIG_MAX_FILE_BYTES);
		goto out;
	}
	r = kt_config_parse(cfg, buf, n, path, err, errlen);
out:
	if (f != NULL)
		fclose(f);
	free(buf);
	return r;
}

int kt_config_set(kt_config *cfg, const char *arg, char *err, size_t errlen)
{
	struct where w = {NULL, 0, NULL, 0, err, errlen};
	size_t n;

	fmt(err, errlen, "%s", "");
	if (cfg == NULL || arg == NULL)
		return fail(&w, KT_ERR_INVALID_ARG, "invalid argument");
	n = strlen(arg);
	w.name = arg;
	w.name_len = strcspn(arg, "=");
	if (n > KT_CONFIG_MAX_LINE)
		return fail(&w, KT_ERR_CONFIG_SYNTAX, "argument is over %u bytes",
		            KT_CONFIG_MAX_LINE);
	return apply_assignment(cfg, arg, n, KT_CONFIG_SRC_CMDLINE, &w);
}

/* ---- validation ------------------------------------------------------------ */

static bool str_set(const char *s)
{
	return s != NULL && s[0] != '\0';
}

/* Port 0 asks the kernel for a free port: two listeners on "host:0" each
 * get their own, so equal strings ending in ":0" are not the same
 * address (tests run listen and admin_listen both on 127.0.0.1:0). */
static bool same_address(const char *a, const char *b)
{
	const char *colon;

	if (!str_set(a) || !str_set(b) || strcmp(a, b) != 0)
		return false;
	colon = strrchr(a, ':');
	return strncmp(a, "unix:", 5) == 0 || colon == NULL || strcmp(colon, ":0") != 0;
}

int kt_config_validate(const kt_config *cfg, char *err, size_t errlen)
{
	size_t i;

	fmt(err, errlen, "%s", "");
	if (cfg == NULL)
		return KT_ERR_INVALID_ARG;
	if (!cfg->dev_mode)
		for (i = 0; i < KT_CONFIG_NOPTIONS; i++)
			if ((options[i].flags & KT_CONFIG_F_REQUIRED) &&
			    is_string_type(options[i].type) &&
			    !str_set(*(char *const *)cfield(cfg, &options[i]))) {
				fmt(err, errlen, "config: %s is required (or run ktd --dev)",
				    options[i].name);
				return KT_ERR_CONFIG_INVALID;
			}
	if (cfg->witness_threshold > cfg->witness.n) {
		fmt(err, errlen,
		    "config: witness_threshold is %" PRIu64 " but only %zu witness keys are configured",
		    cfg->witness_threshold, cfg->witness.n);
		return KT_ERR_CONFIG_INVALID;
	}
	if (str_set(cfg->tls_cert_file) != str_set(cfg->tls_key_file)) {
		fmt(err, errlen, "config: tls_cert_file and tls_key_file must be set together");
		return KT_ERR_CONFIG_INVALID;
	}
	if (str_set(cfg->tls_client_ca_file) &&
	    (!str_set(cfg->tls_cert_file) || !str_set(cfg->admin_listen))) {
		fmt(err, errlen, "config: tls_client_ca_file (mTLS for Admin) needs "
		                 "tls_cert_file, tls_key_file and a separate admin_listen");
		return KT_ERR_CONFIG_INVALID;
	}
	if (same_address(cfg->listen, cfg->admin_listen) ||
	    same_address(cfg->listen, cfg->metrics_listen) ||
	    same_address(cfg->admin_listen, cfg->metrics_listen) ||
	    same_address(cfg->listen, cfg->raft_address)) {
		fmt(err, errlen, "config: listen, admin_listen, metrics_listen and raft_address "
		                 "must be different addresses");
		return KT_ERR_CONFIG_INVALID;
	}
	if (cfg->retention_ms < cfg->heartbeat_interval_ms) {
		fmt(err, errlen, "config: retention must be at least heartbeat_interval");
		return KT_ERR_CONFIG_INVALID;
	}
	if (cfg->raft_id == 0 && (str_set(cfg->raft_address) || cfg->raft_peers.n > 0 ||
	                          str_set(cfg->raft_dir))) {
		fmt(err, errlen, "config: raft_address, raft_peers and raft_dir need raft_id");
		return KT_ERR_CONFIG_INVALID;
	}
	if (cfg->raft_id != 0 && !str_set(cfg->raft_address)) {
		fmt(err, errlen, "config: raft_id needs raft_address");
		return KT_ERR_CONFIG_INVALID;
	}
	return KT_OK;
}

/* ---- printing ---------------------------------------------------------------- */

/* Formats the value of scalar option o in cfg into out. */
static void format_scalar(const kt_config *cfg, const kt_config_option *o, char *out,
                          size_t outlen)
{
	const char *s = NULL;
	unsigned e, i;

	switch (o->type) {
	case KT_CONFIG_STRING:
	case KT_CONFIG_PATH:
	case KT_CONFIG_ADDRESS:
		s = *(char *const *)cfield(cfg, o);
		fmt(out, outlen, "%s", s != NULL ? s : "");
		break;
	case KT_CONFIG_U64:
	case KT_CONFIG_SIZE:
	case KT_CONFIG_DURATION:
		format_number(out, outlen, o->type, *(const uint64_t *)cfield(cfg, o));
		break;
	case KT_CONFIG_BOOL:
		fmt(out, outlen, "%s", *(const bool *)cfield(cfg, o) ? "true" : "false");
		break;
	case KT_CONFIG_ENUM:
		e = *(const unsigned *)cfield(cfg, o);
		for (i = 0; o->names[i] != NULL; i++)
			if (i == e)
				s = o->names[i];
		fmt(out, outlen, "%s", s != NULL ? s : "?");
		break;
	default:
		fmt(out, outlen, "%s", "");
		break;
	}
}

int kt_config_format(const kt_config *cfg, const char *name, char *out, size_t outlen)
{
	const kt_config_option *o = kt_config_find(name);
	size_t need = 1, i;
	const kt_config_list *l;

	if (out == NULL || outlen == 0 || cfg == NULL)
		return KT_ERR_INVALID_ARG;
	out[0] = '\0';
	if (o == NULL)
		return KT_ERR_NOT_FOUND;
	if (o->type != KT_CONFIG_LIST) {
		char tmp[PATH_MAX_BYTES + 2];

		format_scalar(cfg, o, tmp, sizeof(tmp));
		fmt(out, outlen, "%s", tmp);
		return strlen(tmp) < outlen ? KT_OK : KT_ERR_TOO_LARGE;
	}
	l = cfield(cfg, o);
	for (i = 0; i < l->n; i++) {
		size_t used = strlen(out);

		need += strlen(l->items[i]) + (i > 0 ? 2 : 0);
		fmt(out + used, outlen - used, "%s%s", i > 0 ? ", " : "", l->items[i]);
	}
	return need <= outlen ? KT_OK : KT_ERR_TOO_LARGE;
}

/* Writes text as comment lines "#   ..." wrapped at HELP_WIDTH. */
static void write_wrapped(FILE *f, const char *text)
{
	const char *p = text;

	while (*p != '\0') {
		size_t n = strlen(p), cut = n;

		if (n > HELP_WIDTH - 4) {
			cut = HELP_WIDTH - 4;
			while (cut > 0 && p[cut] != ' ')
				cut--;
			if (cut == 0)
				cut = strcspn(p, " ");
		}
		fprintf(f, "#   %.*s\n", (int)cut, p);
		p += cut;
		while (*p == ' ')
			p++;
	}
}

static const char *type_label(const kt_config_option *o)
{
	switch (o->type) {
	case KT_CONFIG_STRING: return "string";
	case KT_CONFIG_PATH: return "path";
	case KT_CONFIG_ADDRESS: return "address";
	case KT_CONFIG_U64: return "integer";
	case KT_CONFIG_SIZE: return "size";
	case KT_CONFIG_DURATION: return "duration";
	case KT_CONFIG_BOOL: return "bool";
	case KT_CONFIG_ENUM: return "one of";
	case KT_CONFIG_LIST: return "list";
	default: return "?";
	}
}

/* "# name (type, bounds, default X)" */
static void write_header(FILE *f, const kt_config_option *o)
{
	char lo[32], hi[32];
	size_t i;

	fprintf(f, "# %s (%s", o->name, type_label(o));
	if (o->type == KT_CONFIG_ENUM)
		for (i = 0; o->names[i] != NULL; i++)
			fprintf(f, "%s%s", i > 0 ? "|" : " ", o->names[i]);
	if (is_number_type(o->type) && !(o->min == 0 && o->max == UINT64_MAX)) {
		format_number(lo, sizeof(lo), o->type, o->min);
		format_number(hi, sizeof(hi), o->type, o->max);
		fprintf(f, ", %s..%s", lo, hi);
	}
	if (o->type == KT_CONFIG_LIST)
		fprintf(f, ", one value per line, at most %" PRIu64, o->max);
	if (o->flags & KT_CONFIG_F_REQUIRED)
		fprintf(f, ", required");
	else if (o->def != NULL)
		fprintf(f, ", default %s", o->def);
	else
		fprintf(f, ", unset by default");
	if (o->flags & KT_CONFIG_F_RESERVED)
		fprintf(f, ", reserved");
	fprintf(f, ")\n");
}

static const char example_preamble[] =
	"# ktd.conf.example -- every option of ktd, the keytrail directory node.\n"
	"#\n"
	"# Generated from the option table in server/config.c by `ktd config-help`;\n"
	"# regenerate with `ktd config-help > ops/ktd.conf.example` (a unit test\n"
	"# keeps the two equal).\n"
	"#\n"
	"# Syntax: one `name = value` per line.  Blank lines and lines starting\n"
	"# with '#' are ignored; ' #' after a value starts a comment.  List options\n"
	"# are repeated, one value per line.  A scalar option may appear once;\n"
	"# `ktd --set name=value` overrides it.  Sizes are bytes with an optional\n"
	"# KiB, MiB or GiB suffix; durations need a unit: ms, s, m or h (250ms,\n"
	"# 10s, 5m, 24h).  A line `# name = value` shows the default, or an\n"
	"# example for an option without one: remove the '# ' to use it.\n"
	"# Options marked required must be set unless ktd runs with --dev.\n";

int kt_config_write_example(FILE *f)
{
	size_t i;

	if (f == NULL)
		return KT_ERR_INVALID_ARG;
	fputs(example_preamble, f);
	for (i = 0; i < KT_CONFIG_NOPTIONS; i++) {
		const kt_config_option *o = &options[i];
		const char *shown = o->def != NULL ? o->def : o->example;

		fputc('\n', f);
		write_header(f, o);
		write_wrapped(f, o->help);
		if (shown != NULL)
			fprintf(f, "%s%s = %s\n", (o->flags & KT_CONFIG_F_REQUIRED) ? "" : "# ",
			        o->name, shown);
	}
	return ferror(f) ? KT_ERR_IO : KT_OK;
}

int kt_config_write(FILE *f, const kt_config *cfg)
{
	char buf[PATH_MAX_BYTES + 2];
	size_t i, j;

	if (f == NULL || cfg == NULL)
		return KT_ERR_INVALID_ARG;
	fputs("# ktd effective configuration\n", f);
	for (i = 0; i < KT_CONFIG_NOPTIONS; i++) {
		const kt_config_option *o = &options[i];

		if (o->type == KT_CONFIG_LIST) {
			const kt_config_list *l = cfield(cfg, o);

			if (l->n == 0)
				fprintf(f, "# %s =\n", o->name);
			for (j = 0; j < l->n; j++)
				fprintf(f, "%s = %s\n", o->name, l->items[j]);
			continue;
		}
		if (is_string_type(o->type) && *(char *const *)cfield(cfg, o) == NULL) {
			fprintf(f, "# %s =\n", o->name);
			continue;
		}
		format_scalar(cfg, o, buf, sizeof(buf));
		fprintf(f, "%s = %s\n", o->name, buf);
	}
	return ferror(f) ? KT_ERR_IO : KT_OK;
}
