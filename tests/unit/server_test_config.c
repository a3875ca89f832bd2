/* server_test_config.c — the ktd option table, parser, validator, printers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "kt_err.h"
#include "kt_json.h"

#define EXAMPLE_PATH KT_TEST_VECTORS "/../../ops/ktd.conf.example"

/* A configuration that passes validation without dev_mode. */
static const char base_conf[] = "data_dir = /tmp/ktd\n"
                                "origin = test.example/log\n"
                                "log_key_file = /tmp/ktd/log.key\n"
                                "vrf_key_file = /tmp/ktd/vrf.key\n";

#define W1 "w1.example+01020304+BAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
#define W2 "w2.example+01020304+BAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB"

static void init(kt_config *cfg)
{
	assert_int_equal(kt_config_init(cfg), KT_OK);
}

/* Parses text as file "test.conf" into a fresh config; returns the code. */
static int parse_into(kt_config *cfg, const char *text, char *err, size_t errlen)
{
	init(cfg);
	return kt_config_parse(cfg, text, strlen(text), "test.conf", err, errlen);
}

static void test_table_is_sound(void **state)
{
	size_t n, i, j;
	const kt_config_option *t = kt_config_options(&n);

	(void)state;
	assert_int_equal(n, KT_CONFIG_NOPTIONS);
	for (i = 0; i < n; i++) {
		assert_non_null(t[i].name);
		assert_true(strlen(t[i].help) > 10);
		/* every option can be shown in the example file */
		assert_true(t[i].def != NULL || t[i].example != NULL);
		assert_true(t[i].offset < offsetof(kt_config, src));
		assert_ptr_equal(kt_config_find(t[i].name), &t[i]);
		for (j = i + 1; j < n; j++) {
			assert_string_not_equal(t[i].name, t[j].name);
			assert_int_not_equal(t[i].offset, t[j].offset);
		}
	}
	assert_null(kt_config_find("no_such_option"));
	assert_null(kt_config_find("listen "));
}

static void test_defaults(void **state)
{
	kt_config cfg;
	char err[256];

	(void)state;
	init(&cfg);
	assert_string_equal(cfg.listen, "127.0.0.1:7600");
	assert_null(cfg.admin_listen);
	assert_null(cfg.metrics_listen);
	assert_null(cfg.origin);
	assert_int_equal(cfg.max_devices, 32);
	assert_int_equal(cfg.max_message_bytes, 4 * 1024 * 1024);
	assert_int_equal(cfg.max_entries_page, 1000);
	assert_int_equal(cfg.max_history_versions, 1000);
	assert_int_equal(cfg.heartbeat_interval_ms, 10000);
	assert_int_equal(cfg.retention_ms, 24ull * 3600 * 1000);
	assert_int_equal(cfg.batch_max, 4096);
	assert_int_equal(cfg.batch_delay_ms, 2);
	assert_int_equal(cfg.workers, 4);
	assert_int_equal(cfg.outstanding_per_method, 64);
	assert_int_equal(cfg.lookup_rate_limit, 1000);
	assert_false(cfg.history_public);
	assert_int_equal(cfg.history_max_skew_ms, 5 * 60 * 1000);
	assert_int_equal(cfg.registrar_token_max_ttl_ms, 24ull * 3600 * 1000);
	assert_int_equal(cfg.log_level, KT_CONFIG_LOG_INFO);
	assert_int_equal(cfg.witness.n, 0);
	assert_int_equal(cfg.witness_threshold, 0);
	assert_int_equal(cfg.raft_id, 0);
	assert_false(cfg.dev_mode);
	/* required options are unset: only --dev makes the defaults valid */
	assert_int_equal(kt_config_validate(&cfg, err, sizeof(err)), KT_ERR_CONFIG_INVALID);
	assert_non_null(strstr(err, "data_dir is required"));
	assert_int_equal(kt_config_set(&cfg, "dev_mode=true", err, sizeof(err)), KT_OK);
	assert_int_equal(kt_config_validate(&cfg, err, sizeof(err)), KT_OK);
	assert_string_equal(err, "");
	kt_config_free(&cfg);
	kt_config_free(&cfg); /* idempotent */
	kt_config_free(NULL);
}

static void test_parse_ok(void **state)
{
	static const char text[] =
		"# a comment\n"
		"\n"
		"   # an indented comment\n"
		"data_dir = /srv/ktd data\n" /* paths may hold blanks */
		"origin=log.example/a\r\n"   /* no blanks, CRLF */
		"\tlog_key_file =\t/k/log.key   # trailing comment\n"
		"vrf_key_file = /k/vrf#1.key\n" /* '#' inside a value */
		"witness = " W1 "\n"
		"witness = " W2 "\n"
		"witness_threshold = 2\n"
		"heartbeat_interval = 250ms\n"
		"retention = 48h\n"
		"history_max_skew = 90s\n"
		"registrar_token_max_ttl = 30m\n"
		"batch_delay = 0ms\n"
		"max_message_bytes = 16MiB\n"
		"max_devices = 256\n"
		"history_public = yes\n"
		"log_level = debug\n"
		"admin_listen = [::1]:7601\n"
		"metrics_listen = unix:/run/ktd/metrics.sock\n"
		"lookup_rate_limit = 0\n"
		"raft_id = 18446744073709551615\n"
		"raft_address = 10.0.0.1:0\n"
		"map_cache_nodes = 0"; /* no final newline */
	kt_config cfg;
	char err[256];

	(void)state;
	assert_int_equal(parse_into(&cfg, text, err, sizeof(err)), KT_OK);
	assert_string_equal(err, "");
	assert_string_equal(cfg.data_dir, "/srv/ktd data");
	assert_string_equal(cfg.origin, "log.example/a");
	assert_string_equal(cfg.log_key_file, "/k/log.key");
	assert_string_equal(cfg.vrf_key_file, "/k/vrf#1.key");
	assert_int_equal(cfg.witness.n, 2);
	assert_string_equal(cfg.witness.items[0], W1);
	assert_string_equal(cfg.witness.items[1], W2);
	assert_int_equal(cfg.witness_threshold, 2);
	assert_int_equal(cfg.heartbeat_interval_ms, 250);
	assert_int_equal(cfg.retention_ms, 48ull * 3600 * 1000);
	assert_int_equal(cfg.history_max_skew_ms, 90000);
	assert_int_equal(cfg.registrar_token_max_ttl_ms, 30 * 60 * 1000);
	assert_int_equal(cfg.batch_delay_ms, 0);
	assert_int_equal(cfg.max_message_bytes, 16 * 1024 * 1024);
	assert_int_equal(cfg.max_devices, 256);
	assert_true(cfg.history_public);
	assert_int_equal(cfg.log_level, KT_CONFIG_LOG_DEBUG);
	assert_string_equal(cfg.admin_listen, "[::1]:7601");
	assert_string_equal(cfg.metrics_listen, "unix:/run/ktd/metrics.sock");
	assert_int_equal(cfg.lookup_rate_limit, 0);
	assert_true(cfg.raft_id == UINT64_MAX);
	assert_int_equal(cfg.map_cache_nodes, 0);
	assert_int_equal(cfg.src[kt_config_find("workers") - kt_config_options(NULL)],
	                 KT_CONFIG_SRC_DEFAULT);
	assert_int_equal(cfg.src[kt_config_find("origin") - kt_config_options(NULL)],
	                 KT_CONFIG_SRC_FILE);
	assert_int_equal(kt_config_validate(&cfg, err, sizeof(err)), KT_OK);
	kt_config_free(&cfg);

	/* twin: the same file with a witness line repeated is refused */
	{
		char *bad = malloc(sizeof(text) + 128);

		assert_non_null(bad);
		snprintf(bad, sizeof(text) + 128, "%s\nwitness = %s\n", text, W2);
		assert_int_equal(parse_into(&cfg, bad, err, sizeof(err)), KT_ERR_CONFIG_DUPLICATE);
		assert_non_null(strstr(err, "test.conf:26:"));
		kt_config_free(&cfg);
		free(bad);
	}
}

struct bad_case {
	const char *text;
	int code;
	const char *where; /* expected in the error buffer */
};

static void test_parse_errors(void **state)
{
	static const struct bad_case cases[] = {
		{"# c\n\nworkerz = 4\n", KT_ERR_CONFIG_UNKNOWN, "test.conf:3: unknown option 'workerz'"},
		{"witnes = x\n", KT_ERR_CONFIG_UNKNOWN, "did you mean 'witness'"},
		{"Workers = 4\n", KT_ERR_CONFIG_UNKNOWN, "test.conf:1:"},
		{"workers = 4x\n", KT_ERR_CONFIG_VALUE, "test.conf:1: workers:"},
		{"workers = -4\n", KT_ERR_CONFIG_VALUE, "test.conf:1:"},
		{"workers = 0x10\n", KT_ERR_CONFIG_VALUE, "test.conf:1:"},
		{"workers = 4 4\n", KT_ERR_CONFIG_VALUE, "test.conf:1:"},
		{"\nworkers = 0\n", KT_ERR_CONFIG_RANGE, "test.conf:2: workers: '0' is out of range 1..256"},
		{"workers = 257\n", KT_ERR_CONFIG_RANGE, "test.conf:1:"},
		{"max_devices = 257\n", KT_ERR_CONFIG_RANGE, "1..256"},
		{"workers = 99999999999999999999\n", KT_ERR_CONFIG_RANGE, "test.conf:1:"},
		{"max_message_bytes = 63KiB\n", KT_ERR_CONFIG_RANGE, "64KiB..64MiB"},
		{"max_message_bytes = 4MB\n", KT_ERR_CONFIG_VALUE, "test.conf:1:"},
		{"heartbeat_interval = 10\n", KT_ERR_CONFIG_VALUE, "not a duration"},
		{"heartbeat_interval = 10sec\n", KT_ERR_CONFIG_VALUE, "test.conf:1:"},
		{"heartbeat_interval = s\n", KT_ERR_CONFIG_VALUE, "test.conf:1:"},
		{"heartbeat_interval = 1.5s\n", KT_ERR_CONFIG_VALUE, "test.conf:1:"},
		{"heartbeat_interval = 99ms\n", KT_ERR_CONFIG_RANGE, "100ms..1h"},
		{"retention = 9999999999999999999h\n", KT_ERR_CONFIG_RANGE, "test.conf:1:"},
		{"history_public = maybe\n", KT_ERR_CONFIG_VALUE, "true or false"},
		{"log_level = verbose\n", KT_ERR_CONFIG_VALUE, "test.conf:1:"},
		{"listen = 7600\n", KT_ERR_CONFIG_VALUE, "host:port"},
		{"listen = ::1:7600\n", KT_ERR_CONFIG_VALUE, "brackets"},
		{"listen = localhost:65536\n", KT_ERR_CONFIG_VALUE, "port"},
		{"listen = localhost:\n", KT_ERR_CONFIG_VALUE, "port"},
		{"listen = [::1]7600\n", KT_ERR_CONFIG_VALUE, "test.conf:1:"},
		{"origin = a+b\n", KT_ERR_CONFIG_VALUE, "'+'"},
		{"origin = a b\n", KT_ERR_CONFIG_VALUE, "test.conf:1:"},
		{"data_dir = /a\x01\n", KT_ERR_CONFIG_VALUE, "control"},
		{"workers = 4\nworkers = 4\n", KT_ERR_CONFIG_DUPLICATE, "test.conf:2: workers is set twice"},
		{"witness = a\nwitness = a\n", KT_ERR_CONFIG_DUPLICATE, "test.conf:2:"},
		{"workers 4\n", KT_ERR_CONFIG_SYNTAX, "test.conf:1: expected 'name = value'"},
		{"\n\n\nworkers\n", KT_ERR_CONFIG_SYNTAX, "test.conf:4:"},
		{" = 4\n", KT_ERR_CONFIG_SYNTAX, "missing option name"},
		{"workers =\n", KT_ERR_CONFIG_VALUE, "empty value"},
		{"workers = # no value\n", KT_ERR_CONFIG_VALUE, "empty value"},
		{"witness =#x\n", KT_ERR_CONFIG_VALUE, "test.conf:1: witness:"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		kt_config cfg;
		char err[256];
		int r = parse_into(&cfg, cases[i].text, err, sizeof(err));

		if (r != cases[i].code || strstr(err, cases[i].where) == NULL)
			print_error("case %zu: got %s '%s'\n", i, kt_errname(r), err);
		assert_int_equal(r, cases[i].code);
		assert_non_null(strstr(err, cases[i].where));
		kt_config_free(&cfg);
	}
}

static void test_parse_limits(void **state)
{
	kt_config cfg;
	char err[256];
	char *big;
	size_t i;

	(void)state;
	/* a NUL byte inside the text */
	init(&cfg);
	assert_int_equal(kt_config_parse(&cfg, "workers = 4\nwor\0kers = 4\n", 24, "n.conf", err,
	                                 sizeof(err)),
	                 KT_ERR_CONFIG_SYNTAX);
	assert_non_null(strstr(err, "n.conf:2:"));
	kt_config_free(&cfg);

	/* a line of KT_CONFIG_MAX_LINE bytes is read, one more is refused */
	big = malloc(KT_CONFIG_MAX_FILE_BYTES + 2);
	assert_non_null(big);
	memset(big, ' ', KT_CONFIG_MAX_FILE_BYTES + 1);
	memcpy(big, "workers = 4", 11);
	big[KT_CONFIG_MAX_LINE] = '\n';
	init(&cfg);
	assert_int_equal(kt_config_parse(&cfg, big, KT_CONFIG_MAX_LINE + 1, "l", err, sizeof(err)),
	                 KT_OK);
	assert_int_equal(cfg.workers, 4);
	kt_config_free(&cfg);
	big[KT_CONFIG_MAX_LINE] = ' ';
	big[KT_CONFIG_MAX_LINE + 1] = '\n';
	init(&cfg);
	assert_int_equal(kt_config_parse(&cfg, big, KT_CONFIG_MAX_LINE + 2, "l", err, sizeof(err)),
	                 KT_ERR_CONFIG_SYNTAX);
	assert_non_null(strstr(err, "l:1: line is over"));
	kt_config_free(&cfg);

	/* whole text over the file cap */
	for (i = 0; i <= KT_CONFIG_MAX_FILE_BYTES; i++)
		big[i] = (i % 64 == 63) ? '\n' : ' ';
	init(&cfg);
	assert_int_equal(kt_config_parse(&cfg, big, KT_CONFIG_MAX_FILE_BYTES, "f", err, sizeof(err)),
	                 KT_OK);
	assert_int_equal(kt_config_parse(&cfg, big, KT_CONFIG_MAX_FILE_BYTES + 1, "f", err,
	                                 sizeof(err)),
	                 KT_ERR_TOO_LARGE);
	kt_config_free(&cfg);
	free(big);

	/* a list cannot hold more than its cap */
	init(&cfg);
	for (i = 0; i < 16; i++) {
		char line[64];

		snprintf(line, sizeof(line), "registrar = r%zu+00000000+AQ\n", i);
		assert_int_equal(kt_config_parse(&cfg, line, strlen(line), "r", err, sizeof(err)),
		                 KT_OK);
	}
	assert_int_equal(cfg.registrar.n, 16);
	assert_int_equal(kt_config_parse(&cfg, "registrar = one-more\n", 21, "r", err, sizeof(err)),
	                 KT_ERR_CONFIG_RANGE);
	assert_non_null(strstr(err, "more than 16"));
	kt_config_free(&cfg);

	/* no error buffer: codes still come back */
	init(&cfg);
	assert_int_equal(kt_config_parse(&cfg, "x = 1", 5, "x", NULL, 0), KT_ERR_CONFIG_UNKNOWN);
	assert_int_equal(kt_config_set(&cfg, "x", NULL, 0), KT_ERR_CONFIG_SYNTAX);
	assert_int_equal(kt_config_validate(&cfg, NULL, 0), KT_ERR_CONFIG_INVALID);
	/* a one-byte buffer holds just the terminator */
	err[0] = 'z';
	assert_int_equal(kt_config_parse(&cfg, "x = 1", 5, "x", err, 1), KT_ERR_CONFIG_UNKNOWN);
	assert_int_equal(err[0], '\0');
	kt_config_free(&cfg);
}

static void test_set_overrides(void **state)
{
	kt_config cfg;
	char err[256];

	(void)state;
	assert_int_equal(parse_into(&cfg, "workers = 8\nwitness = " W1 "\nlisten = 0.0.0.0:1\n",
	                            err, sizeof(err)),
	                 KT_OK);
	assert_int_equal(cfg.workers, 8);
	/* the command line replaces a file value */
	assert_int_equal(kt_config_set(&cfg, " workers = 16 ", err, sizeof(err)), KT_OK);
	assert_int_equal(cfg.workers, 16);
	/* ...but is itself given once */
	assert_int_equal(kt_config_set(&cfg, "workers=17", err, sizeof(err)),
	                 KT_ERR_CONFIG_DUPLICATE);
	assert_non_null(strstr(err, "--set workers:"));
	assert_int_equal(cfg.workers, 16);
	/* the first --set of a list replaces the file's values, later ones append */
	assert_int_equal(kt_config_set(&cfg, "witness=" W2, err, sizeof(err)), KT_OK);
	assert_int_equal(cfg.witness.n, 1);
	assert_string_equal(cfg.witness.items[0], W2);
	assert_int_equal(kt_config_set(&cfg, "witness=" W1, err, sizeof(err)), KT_OK);
	assert_int_equal(cfg.witness.n, 2);
	assert_int_equal(kt_config_set(&cfg, "witness=" W1, err, sizeof(err)),
	                 KT_ERR_CONFIG_DUPLICATE);
	/* a file read after the command line does not undo it (but is checked) */
	assert_int_equal(kt_config_parse(&cfg, "workers = 2\nwitness = zz\n", 25, "late.conf", err,
	                                 sizeof(err)),
	                 KT_OK);
	assert_int_equal(cfg.workers, 16);
	assert_int_equal(cfg.witness.n, 2);
	assert_int_equal(kt_config_parse(&cfg, "workers = 0\n", 12, "late.conf", err, sizeof(err)),
	                 KT_ERR_CONFIG_RANGE);
	/* same parser: same errors, named by the option */
	assert_int_equal(kt_config_set(&cfg, "listen", err, sizeof(err)), KT_ERR_CONFIG_SYNTAX);
	assert_non_null(strstr(err, "--set listen:"));
	assert_int_equal(kt_config_set(&cfg, "lisen=1.2.3.4:5", err, sizeof(err)),
	                 KT_ERR_CONFIG_UNKNOWN);
	assert_non_null(strstr(err, "did you mean 'listen'"));
	assert_int_equal(kt_config_set(&cfg, "retention=1d", err, sizeof(err)),
	                 KT_ERR_CONFIG_VALUE);
	assert_int_equal(kt_config_set(&cfg, "batch_max=0", err, sizeof(err)), KT_ERR_CONFIG_RANGE);
	assert_int_equal(kt_config_set(&cfg, "=3", err, sizeof(err)), KT_ERR_CONFIG_SYNTAX);
	assert_int_equal(kt_config_set(&cfg, "listen=[::]:7600", err, sizeof(err)), KT_OK);
	assert_string_equal(cfg.listen, "[::]:7600");
	/* values may hold '=' and '#' on the command line */
	assert_int_equal(kt_config_set(&cfg, "data_dir=/d/a=b#c", err, sizeof(err)), KT_OK);
	assert_string_equal(cfg.data_dir, "/d/a=b#c");
	/* but not ' #', which would not read back from a file */
	assert_int_equal(kt_config_set(&cfg, "log_key_file=/k #1", err, sizeof(err)),
	                 KT_ERR_CONFIG_VALUE);
	kt_config_free(&cfg);
}

static void test_validate(void **state)
{
	static const struct {
		const char *extra;
		const char *why; /* NULL: valid */
	} cases[] = {
		{"", NULL},
		{"witness_threshold = 1\n", "witness_threshold is 1 but only 0 witness"},
		{"witness = " W1 "\nwitness_threshold = 1\n", NULL},
		{"witness = " W1 "\nwitness_threshold = 2\n", "only 1 witness"},
		{"tls_key_file = /k\n", "tls_cert_file and tls_key_file"},
		{"tls_cert_file = /c\n", "tls_cert_file and tls_key_file"},
		{"tls_cert_file = /c\ntls_key_file = /k\n", NULL},
		{"tls_client_ca_file = /ca\nadmin_listen = 127.0.0.1:2\n", "tls_client_ca_file"},
		{"tls_client_ca_file = /ca\ntls_cert_file = /c\ntls_key_file = /k\n",
		 "tls_client_ca_file"},
		{"tls_client_ca_file = /ca\ntls_cert_file = /c\ntls_key_file = /k\n"
		 "admin_listen = 127.0.0.1:2\n",
		 NULL},
		{"admin_listen = 127.0.0.1:7600\n", "different addresses"},
		{"metrics_listen = 127.0.0.1:7600\n", "different addresses"},
		{"admin_listen = 127.0.0.1:2\nmetrics_listen = 127.0.0.1:2\n", "different addresses"},
		{"admin_listen = 127.0.0.1:2\nmetrics_listen = 127.0.0.1:3\n", NULL},
		/* port 0: each listener gets its own free port */
		{"listen = 127.0.0.1:0\nadmin_listen = 127.0.0.1:0\n", NULL},
		{"listen = unix:/tmp/k:0\nadmin_listen = unix:/tmp/k:0\n", "different addresses"},
		{"retention = 1m\nheartbeat_interval = 2m\n", "retention"},
		{"retention = 2m\nheartbeat_interval = 2m\n", NULL},
		{"raft_address = 10.0.0.1:7700\n", "need raft_id"},
		{"raft_peers = 2@x:1\n", "need raft_id"},
		{"raft_dir = /r\n", "need raft_id"},
		{"raft_id = 1\n", "raft_id needs raft_address"},
		{"raft_id = 1\nraft_address = 10.0.0.1:7700\n", NULL},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[1024], err[256];
		kt_config cfg;
		int r;

		snprintf(text, sizeof(text), "%s%s", base_conf, cases[i].extra);
		assert_int_equal(parse_into(&cfg, text, err, sizeof(err)), KT_OK);
		r = kt_config_validate(&cfg, err, sizeof(err));
		if (cases[i].why == NULL) {
			if (r != KT_OK)
				print_error("case %zu: %s\n", i, err);
			assert_int_equal(r, KT_OK);
		} else {
			assert_int_equal(r, KT_ERR_CONFIG_INVALID);
			if (strstr(err, cases[i].why) == NULL)
				print_error("case %zu: %s\n", i, err);
			assert_non_null(strstr(err, cases[i].why));
			assert_non_null(strstr(err, "config: "));
		}
		kt_config_free(&cfg);
	}
}

static void test_required_unless_dev(void **state)
{
	static const char *const required[] = {"data_dir", "origin", "log_key_file",
	                                       "vrf_key_file"};
	size_t i, j;

	(void)state;
	for (i = 0; i < 4; i++) {
		char text[512] = "", err[256];
		kt_config cfg;

		for (j = 0; j < 4; j++)
			if (j != i)
				snprintf(text + strlen(text), sizeof(text) - strlen(text), "%s = /x\n",
				         required[j]);
		assert_int_equal(parse_into(&cfg, text, err, sizeof(err)), KT_OK);
		assert_int_equal(kt_config_validate(&cfg, err, sizeof(err)), KT_ERR_CONFIG_INVALID);
		assert_non_null(strstr(err, required[i]));
		assert_int_equal(kt_config_set(&cfg, "dev_mode=on", err, sizeof(err)), KT_OK);
		assert_int_equal(kt_config_validate(&cfg, err, sizeof(err)), KT_OK);
		kt_config_free(&cfg);
	}
}

static void test_format_units(void **state)
{
	static const struct {
		const char *set, *name, *shown;
	} cases[] = {
		{"retention=1440m", "retention", "24h"},
		{"retention=90m", "retention", "90m"},
		{"retention=3600000ms", "retention", "1h"},
		{"history_max_skew=1500ms", "history_max_skew", "1500ms"},
		{"batch_delay=0ms", "batch_delay", "0s"},
		{"batch_delay=1000ms", "batch_delay", "1s"},
		{"max_message_bytes=1048576", "max_message_bytes", "1MiB"},
		{"max_message_bytes=65537", "max_message_bytes", "65537"},
		{"max_message_bytes=1024KiB", "max_message_bytes", "1MiB"},
		{"max_message_bytes=98304", "max_message_bytes", "96KiB"},
		{"history_public=on", "history_public", "true"},
		{"log_level=error", "log_level", "error"},
		{"raft_id=007", "raft_id", "7"},
	};
	char out[64], err[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		kt_config cfg, back;
		char line[128];

		init(&cfg);
		assert_int_equal(kt_config_set(&cfg, cases[i].set, err, sizeof(err)), KT_OK);
		assert_int_equal(kt_config_format(&cfg, cases[i].name, out, sizeof(out)), KT_OK);
		assert_string_equal(out, cases[i].shown);
		/* the printed form reads back to the same value */
		snprintf(line, sizeof(line), "%s=%s", cases[i].name, out);
		init(&back);
		assert_int_equal(kt_config_set(&back, line, err, sizeof(err)), KT_OK);
		assert_int_equal(kt_config_format(&back, cases[i].name, line, sizeof(line)), KT_OK);
		assert_string_equal(line, out);
		kt_config_free(&back);
		kt_config_free(&cfg);
	}
}

static void test_format_errors(void **state)
{
	kt_config cfg;
	char out[64], err[256];

	(void)state;
	init(&cfg);
	assert_int_equal(kt_config_format(&cfg, "nope", out, sizeof(out)), KT_ERR_NOT_FOUND);
	assert_int_equal(kt_config_format(&cfg, "listen", out, 5), KT_ERR_TOO_LARGE);
	assert_string_equal(out, "127.");
	assert_int_equal(kt_config_format(&cfg, "listen", out, 15), KT_OK);
	assert_int_equal(kt_config_format(&cfg, "witness", out, sizeof(out)), KT_OK);
	assert_string_equal(out, "");
	assert_int_equal(kt_config_set(&cfg, "raft_peers=2@a:1", err, sizeof(err)), KT_OK);
	assert_int_equal(kt_config_set(&cfg, "raft_peers=3@b:1", err, sizeof(err)), KT_OK);
	assert_int_equal(kt_config_format(&cfg, "raft_peers", out, sizeof(out)), KT_OK);
	assert_string_equal(out, "2@a:1, 3@b:1");
	assert_int_equal(kt_config_format(&cfg, "raft_peers", out, 12), KT_ERR_TOO_LARGE);
	assert_int_equal(kt_config_format(&cfg, "raft_peers", out, 13), KT_OK);
	assert_int_equal(kt_config_format(&cfg, "admin_listen", out, sizeof(out)), KT_OK);
	assert_string_equal(out, "");
	kt_config_free(&cfg);
}

/* Writes with a kt_config writer into a malloc'd string. */
static char *capture(int (*write_fn)(FILE *, const kt_config *), const kt_config *cfg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	assert_int_equal(write_fn(f, cfg), KT_OK);
	assert_int_equal(fclose(f), 0);
	return buf;
}

static int write_example(FILE *f, const kt_config *cfg)
{
	(void)cfg;
	return kt_config_write_example(f);
}

/* True if text has a line "name = " or "# name = ". */
static int has_value_line(const char *text, const char *name)
{
	const char *p = text;
	size_t n = strlen(name);

	while (p != NULL && *p != '\0') {
		const char *q = p;

		if (strncmp(q, "# ", 2) == 0)
			q += 2;
		if (strncmp(q, name, n) == 0 && strncmp(q + n, " = ", 3) == 0)
			return 1;
		p = strchr(p, '\n');
		if (p != NULL)
			p++;
	}
	return 0;
}

/* True if line starts with "<option name> = ". */
static int starts_with_assignment(const char *line)
{
	size_t n, k;
	const kt_config_option *t = kt_config_options(&n);

	for (k = 0; k < n; k++) {
		size_t nl = strlen(t[k].name);

		if (strncmp(line, t[k].name, nl) == 0 && strncmp(line + nl, " = ", 3) == 0)
			return 1;
	}
	return 0;
}

static void test_example_file(void **state)
{
	size_t len, n, i;
	char *file = kt_test_read_file(EXAMPLE_PATH, &len);
	char *gen, *uncommented, *src, *dst, err[256];
	const kt_config_option *t = kt_config_options(&n);
	kt_config cfg;

	(void)state;
	assert_non_null(file);
	/* the file parses and is valid as it stands */
	init(&cfg);
	assert_int_equal(kt_config_parse(&cfg, file, len, EXAMPLE_PATH, err, sizeof(err)), KT_OK);
	assert_int_equal(kt_config_validate(&cfg, err, sizeof(err)), KT_OK);
	kt_config_free(&cfg);
	/* every option is in it with its help text */
	for (i = 0; i < n; i++) {
		char head[96];

		snprintf(head, sizeof(head), "# %s (", t[i].name);
		if (!has_value_line(file, t[i].name) || strstr(file, head) == NULL)
			print_error("option %s is missing from ops/ktd.conf.example\n", t[i].name);
		assert_true(has_value_line(file, t[i].name));
		assert_non_null(strstr(file, head));
	}
	/* and it is exactly what `ktd config-help` prints */
	gen = capture(write_example, NULL);
	if (strcmp(gen, file) != 0)
		print_error("ops/ktd.conf.example differs from the option table: regenerate "
		            "it with `ktd config-help > ops/ktd.conf.example`\n");
	assert_string_equal(gen, file);
	/* twin: a file missing one option's line is caught by the check above */
	assert_false(has_value_line("# listen (x)\n#   help\n", "listen"));

	/* every default and example shown parses: uncomment all "# name = v" */
	uncommented = malloc(len + 1);
	assert_non_null(uncommented);
	for (src = file, dst = uncommented; *src != '\0';) {
		char *eol = strchr(src, '\n');
		size_t ll = eol != NULL ? (size_t)(eol - src) + 1 : strlen(src);

		if (strncmp(src, "# ", 2) == 0 && starts_with_assignment(src + 2)) {
			src += 2;
			ll -= 2;
		}
		memcpy(dst, src, ll);
		dst += ll;
		src += ll;
	}
	*dst = '\0';
	init(&cfg);
	assert_int_equal(kt_config_parse(&cfg, uncommented, strlen(uncommented), "uncommented",
	                                 err, sizeof(err)),
	                 KT_OK);
	assert_int_equal(cfg.witness.n, 1);
	assert_int_equal(cfg.registrar.n, 1);
	assert_string_equal(cfg.admin_listen, "127.0.0.1:7601");
	for (i = 0; i < n; i++)
		assert_int_equal(cfg.src[i], KT_CONFIG_SRC_FILE);
	assert_int_equal(kt_config_validate(&cfg, err, sizeof(err)), KT_OK);
	kt_config_free(&cfg);
	free(uncommented);
	free(gen);
	free(file);
}

static void test_write_roundtrip(void **state)
{
	static const char text[] = "data_dir = /srv/ktd data\n"
	                           "origin = o.example/log\n"
	                           "witness = " W1 "\n"
	                           "witness = " W2 "\n"
	                           "witness_threshold = 2\n"
	                           "retention = 36h\n"
	                           "batch_delay = 0s\n"
	                           "max_message_bytes = 100000\n"
	                           "log_level = warn\n"
	                           "history_public = true\n"
	                           "admin_listen = [::1]:9\n";
	kt_config a, b;
	char *out, *out2, err[256], va[4200], vb[4200];
	size_t n, i;
	const kt_config_option *t = kt_config_options(&n);

	(void)state;
	assert_int_equal(parse_into(&a, text, err, sizeof(err)), KT_OK);
	out = capture(kt_config_write, &a);
	assert_int_equal(parse_into(&b, out, err, sizeof(err)), KT_OK);
	for (i = 0; i < n; i++) {
		assert_int_equal(kt_config_format(&a, t[i].name, va, sizeof(va)), KT_OK);
		assert_int_equal(kt_config_format(&b, t[i].name, vb, sizeof(vb)), KT_OK);
		assert_string_equal(va, vb);
	}
	out2 = capture(kt_config_write, &b);
	assert_string_equal(out, out2);
	assert_non_null(strstr(out, "\nmax_message_bytes = 100000\n"));
	assert_non_null(strstr(out, "\n# metrics_listen =\n"));
	/* twin: a changed value shows in the output */
	assert_int_equal(kt_config_set(&b, "retention=37h", err, sizeof(err)), KT_OK);
	free(out2);
	out2 = capture(kt_config_write, &b);
	assert_string_not_equal(out, out2);
	free(out);
	free(out2);
	kt_config_free(&a);
	kt_config_free(&b);
}

static void test_load_file(void **state)
{
	char path[] = "/tmp/kt_config_test_XXXXXX", err[256];
	kt_config cfg;
	FILE *f;
	int fd;
	size_t i;

	(void)state;
	init(&cfg);
	assert_int_equal(kt_config_load_file(&cfg, "/nonexistent/ktd.conf", err, sizeof(err)),
	                 KT_ERR_IO);
	assert_non_null(strstr(err, "/nonexistent/ktd.conf"));

	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	fputs("# test\nworkers = 12\nbatch_max = x\n", f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(kt_config_load_file(&cfg, path, err, sizeof(err)), KT_ERR_CONFIG_VALUE);
	assert_non_null(strstr(err, ":3: batch_max:"));
	assert_non_null(strstr(err, path));
	kt_config_free(&cfg);

	f = fopen(path, "w");
	assert_non_null(f);
	fputs("# test\nworkers = 12\n", f);
	assert_int_equal(fclose(f), 0);
	init(&cfg);
	assert_int_equal(kt_config_load_file(&cfg, path, err, sizeof(err)), KT_OK);
	assert_int_equal(cfg.workers, 12);
	/* the same file twice: every scalar is a duplicate */
	assert_int_equal(kt_config_load_file(&cfg, path, err, sizeof(err)),
	                 KT_ERR_CONFIG_DUPLICATE);
	kt_config_free(&cfg);

	/* over the size cap */
	f = fopen(path, "w");
	assert_non_null(f);
	for (i = 0; i <= KT_CONFIG_MAX_FILE_BYTES / 64; i++)
		fputs("#..............................................................\n", f);
	assert_int_equal(fclose(f), 0);
	init(&cfg);
	assert_int_equal(kt_config_load_file(&cfg, path, err, sizeof(err)), KT_ERR_TOO_LARGE);
	kt_config_free(&cfg);
	assert_int_equal(unlink(path), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_is_sound),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_parse_ok),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_parse_limits),
		cmocka_unit_test(test_set_overrides),
		cmocka_unit_test(test_validate),
		cmocka_unit_test(test_required_unless_dev),
		cmocka_unit_test(test_format_units),
		cmocka_unit_test(test_format_errors),
		cmocka_unit_test(test_example_file),
		cmocka_unit_test(test_write_roundtrip),
		cmocka_unit_test(test_load_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
