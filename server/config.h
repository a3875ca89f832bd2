/*
 * config.h — ktd configuration: one table of options, one struct.
 *
 * Every option of ktd is a row of the table in config.c: name, type, bounds,
 * default, help text and the offset of its field in struct kt_config.  The
 * struct is owned by main (server/ktd_main.c); everything else reads it.
 *
 * Sources, in the order main applies them:
 *   1. kt_config_init()            — the defaults of the table;
 *   2. kt_config_load_file()       — `ktd --config FILE`;
 *   3. kt_config_set()             — every `--set name=value` (and --dev,
 *                                    --data-dir, --listen, which main turns
 *                                    into "dev_mode=true", "data_dir=D", ...);
 *   4. kt_config_validate()        — cross-field constraints.
 * All sources go through the same value parser, so a value means the same
 * thing in a file and on the command line.
 *
 * File syntax: one `name = value` per line.  Blank lines and lines whose
 * first non-blank character is '#' are ignored; a '#' that follows a blank
 * starts a trailing comment.  Blanks around name and value are dropped.
 * List options are given once per value and append.  A scalar option given
 * twice in the files is an error; a command-line value replaces the file's
 * value (for a list: the first --set of a list replaces the file's entries,
 * further --set of it append).
 *
 * Value syntax by type:
 *   string         1..maxlen bytes, no blanks or control characters;
 *   path           the same, but blanks are allowed;
 *                  neither may start with '#' or hold a blank before '#';
 *   address        host:port, [v6addr]:port or unix:/path (port 0..65535);
 *   u64            decimal digits, within [min, max];
 *   size           decimal bytes with an optional KiB / MiB / GiB suffix;
 *   duration       decimal with a unit ms, s, m or h ("250ms", "10s", "5m",
 *                  "24h"); the field holds milliseconds;
 *   bool           true/false, yes/no, on/off;
 *   enum           one of the option's names; the field holds its position;
 *   list           strings as above, one per line, at most `max` of them,
 *                  no value twice.
 * Numbers print back in the same syntax (sizes and durations with the
 * largest unit that is exact), so printed values always parse to themselves.
 *
 * Errors: every function below returns KT_OK or a kt_err code and, when the
 * caller passes an error buffer, writes one line of detail into it
 * ("ktd.conf:12: unknown option 'witnes' (did you mean 'witness'?)").
 * Nothing here prints, exits or keeps global state.
 *
 * Thread safety: a kt_config is not locked.  Build it in main, then share it
 * read-only; concurrent readers are fine, a writer needs exclusive access.
 */
#ifndef KT_SERVER_CONFIG_H
#define KT_SERVER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "kt_err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Number of rows of the option table (a compile-time assert in config.c
 * keeps it equal to the table). */
#define KT_CONFIG_NOPTIONS 38

/* Caps on what a configuration file can make us read. */
#define KT_CONFIG_MAX_FILE_BYTES (1024u * 1024u) /* a config file */
#define KT_CONFIG_MAX_LINE 4096u                 /* one line, '\n' excluded */

/* Default listen address of the public Directory service. */
#define KT_CONFIG_DEFAULT_LISTEN "127.0.0.1:7600"

/* log_level values (the field holds one of these). */
enum kt_config_log_level {
	KT_CONFIG_LOG_DEBUG = 0,
	KT_CONFIG_LOG_INFO = 1,
	KT_CONFIG_LOG_WARN = 2,
	KT_CONFIG_LOG_ERROR = 3
};

/* Where an option's current value came from. */
enum kt_config_source {
	KT_CONFIG_SRC_DEFAULT = 0,
	KT_CONFIG_SRC_FILE = 1,
	KT_CONFIG_SRC_CMDLINE = 2
};

/* A list option: n owned, NUL-terminated strings, in the order given. */
typedef struct kt_config_list {
	char **items;
	size_t n;
} kt_config_list;

/*
 * The configuration.  Strings are owned (freed by kt_config_free); NULL means
 * "not set" for options without a default.  Durations are in milliseconds.
 * Help for every field is in the table in config.c (`ktd config-help`).
 */
typedef struct kt_config {
	/* network */
	char *listen;                 /* Directory service address */
	char *admin_listen;           /* Admin service address; NULL = on listen */
	char *metrics_listen;         /* Prometheus endpoint; NULL = off */
	char *tls_cert_file;          /* NULL = plaintext */
	char *tls_key_file;
	char *tls_client_ca_file;     /* mTLS for Admin; NULL = no client certs */
	uint64_t workers;
	uint64_t outstanding_per_method;
	uint64_t max_message_bytes;

	/* identity and keys */
	char *data_dir;
	char *origin;
	char *log_key_file;
	char *vrf_key_file;
	char *admin_token_file;       /* NULL = Admin refuses every call */
	kt_config_list registrar;     /* registrar verifier keys */
	kt_config_list witness;       /* witness verifier keys */
	uint64_t witness_threshold;

	/* limits and policy */
	uint64_t max_devices;
	uint64_t max_entries_page;
	uint64_t max_history_versions;
	uint64_t lookup_rate_limit;   /* lookups/s per peer; 0 = unlimited */
	bool history_public;
	uint64_t history_max_skew_ms;
	uint64_t registrar_token_max_ttl_ms;

	/* log, batching and storage */
	uint64_t heartbeat_interval_ms;
	uint64_t retention_ms;
	uint64_t batch_max;
	uint64_t batch_delay_ms;
	uint64_t map_cache_nodes;
	uint64_t log_cache_nodes;
	uint64_t name_cache_entries;
	uint64_t block_cache_mb;

	/* operation */
	unsigned log_level;           /* enum kt_config_log_level */
	bool dev_mode;

	/* reserved: used once replication lands */
	uint64_t raft_id;             /* 0 = no replication */
	char *raft_address;
	kt_config_list raft_peers;
	char *raft_dir;

	/* bookkeeping: source of each option's value, by table row */
	unsigned char src[KT_CONFIG_NOPTIONS];
} kt_config;

/* Types of options. */
typedef enum kt_config_type {
	KT_CONFIG_STRING,   /* char *       */
	KT_CONFIG_PATH,     /* char *       */
	KT_CONFIG_ADDRESS,  /* char *       */
	KT_CONFIG_U64,      /* uint64_t     */
	KT_CONFIG_SIZE,     /* uint64_t, bytes */
	KT_CONFIG_DURATION, /* uint64_t, ms */
	KT_CONFIG_BOOL,     /* bool         */
	KT_CONFIG_ENUM,     /* unsigned     */
	KT_CONFIG_LIST      /* kt_config_list */
} kt_config_type;

/* Option flags. */
#define KT_CONFIG_F_REQUIRED 0x1u /* must be set unless dev_mode */
#define KT_CONFIG_F_RESERVED 0x2u /* accepted and validated, not used yet */
#define KT_CONFIG_F_NOPLUS 0x4u   /* string may not hold '+' */

/* One row of the option table. */
typedef struct kt_config_option {
	const char *name;
	kt_config_type type;
	size_t offset;             /* offsetof(kt_config, field) */
	uint64_t min, max;         /* numbers: value bounds; list: max count */
	size_t maxlen;             /* strings and list items: max bytes */
	const char *const *names;  /* enum: value names, NULL-terminated */
	const char *def;           /* default in file syntax; NULL = unset */
	const char *example;       /* example value for ops/ktd.conf.example */
	unsigned flags;            /* KT_CONFIG_F_* */
	const char *help;          /* one paragraph, wrapped when printed */
} kt_config_option;

/* Returns the option table and stores its length (KT_CONFIG_NOPTIONS) in
 * *n.  Static storage; thread safe. */
const kt_config_option *kt_config_options(size_t *n);

/* Returns the table row of option name, or NULL if there is none.
 * Thread safe. */
const kt_config_option *kt_config_find(const char *name);

/*
 * Fills cfg with the defaults of the table (every source DEFAULT).
 * Returns KT_OK or KT_ERR_NOMEM (cfg is then empty and safe to free).
 * Always call kt_config_free(cfg) afterwards.
 */
int kt_config_init(kt_config *cfg) KT_MUST_CHECK;

/* Frees every string cfg owns and zeroes it.  cfg may be NULL. */
void kt_config_free(kt_config *cfg);

/*
 * Parses configuration text (file syntax above, len bytes, NUL bytes are an
 * error) into cfg; source names the text in errors (e.g. the file's path).
 * Returns KT_OK, or
 *   KT_ERR_CONFIG_SYNTAX     a line that is not `name = value`, too long,
 *                            or holding a NUL byte;
 *   KT_ERR_CONFIG_UNKNOWN    an option not in the table;
 *   KT_ERR_CONFIG_VALUE      a malformed value (number, duration, bool, ...);
 *   KT_ERR_CONFIG_RANGE      a value outside the option's bounds, or a list
 *                            with too many values;
 *   KT_ERR_CONFIG_DUPLICATE  a scalar given twice, or a list value repeated;
 *   KT_ERR_TOO_LARGE         text over KT_CONFIG_MAX_FILE_BYTES;
 *   KT_ERR_NOMEM.
 * err (may be NULL if errlen is 0) receives "<source>:<line>: <what>".
 * On failure cfg stays freeable but may hold values of the lines before the
 * failing one: the caller is expected to give up.
 */
int kt_config_parse(kt_config *cfg, const char *text, size_t len,
                    const char *source, char *err, size_t errlen) KT_MUST_CHECK;

/*
 * Reads the file at path (at most KT_CONFIG_MAX_FILE_BYTES) and parses it
 * as kt_config_parse() does, with the path as source.  Returns what
 * kt_config_parse returns, or KT_ERR_IO if the file cannot be read.
 */
int kt_config_load_file(kt_config *cfg, const char *path, char *err,
                        size_t errlen) KT_MUST_CHECK;

/*
 * Applies one command-line override "name=value" (blanks around name and
 * value allowed), the argument of `--set`.  The value replaces what defaults
 * and files gave; a scalar given twice on the command line is
 * KT_ERR_CONFIG_DUPLICATE.  Returns the codes of kt_config_parse; err
 * receives "--set <name>: <what>".
 */
int kt_config_set(kt_config *cfg, const char *arg, char *err,
                  size_t errlen) KT_MUST_CHECK;

/*
 * Checks the constraints between options (required options unless dev_mode,
 * witness_threshold <= number of witnesses, TLS key and certificate given
 * together, mTLS only with TLS and a separate admin_listen, listen
 * addresses distinct, raft_* only with raft_id, ...).  Returns KT_OK or
 * KT_ERR_CONFIG_INVALID with the reason in err ("config: ...").
 */
int kt_config_validate(const kt_config *cfg, char *err,
                       size_t errlen) KT_MUST_CHECK;

/*
 * Formats the current value of option name in file syntax into out
 * (lists: the values joined by ", "; unset: the empty string).  Returns
 * KT_OK, KT_ERR_NOT_FOUND for an unknown name, or KT_ERR_TOO_LARGE if out
 * is too small (out then holds a truncated, NUL-terminated string).
 */
int kt_config_format(const kt_config *cfg, const char *name, char *out,
                     size_t outlen) KT_MUST_CHECK;

/*
 * Writes the annotated example configuration — every option with its type,
 * bounds, default and help — to f.  This is `ktd config-help`, and
 * ops/ktd.conf.example is exactly its output (a unit test compares them).
 * Returns KT_OK or KT_ERR_IO.
 */
int kt_config_write_example(FILE *f) KT_MUST_CHECK;

/*
 * Writes the effective configuration cfg in file syntax to f, one line per
 * set value (unset options as comments), so that parsing the output gives
 * the same values.  Returns KT_OK or KT_ERR_IO.
 */
int kt_config_write(FILE *f, const kt_config *cfg) KT_MUST_CHECK;

#ifdef __cplusplus
}
#endif
#endif /* KT_SERVER_CONFIG_H */
