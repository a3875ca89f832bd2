/*
 * client_test_config.c — libkeytrail's configuration: the `name = value`
 * file (the syntax of ktd's), every option, and each kind of mistake with
 * its code and a "file:line: detail" message; the checks at open.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "client_fake.h"

typedef struct fixture {
	cf_server srv;
	char dir[64];
	char log_key[512];
	char witness[3][512];
	char vrf[2 * KT_VRF_PUBLICKEY_BYTES + 1];
} fixture;

static void copy_verifier(const kt_note_verifier *v, char *out, size_t cap)
{
	char *s = NULL;
	size_t n = 0;

	assert_int_equal(kt_note_verifier_format(v, &s, &n), KT_OK);
	assert_true(n < cap);
	memcpy(out, s, n + 1);
	free(s);
}

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	unsigned i;

	if (f == NULL || kt_fake_log_new(&f->srv.fl, CF_T0) != KT_OK)
		return -1;
	copy_verifier(&kt_fake_log_signer(f->srv.fl)->pub, f->log_key,
		      sizeof(f->log_key));
	for (i = 0; i < 3; i++)
		copy_verifier(&kt_fake_log_witness(f->srv.fl, i)->pub, f->witness[i],
			      sizeof(f->witness[i]));
	sodium_bin2hex(f->vrf, sizeof(f->vrf), kt_fake_log_vrf_pk(f->srv.fl),
		       KT_VRF_PUBLICKEY_BYTES);
	cf_tmpdir(f->dir, sizeof(f->dir));
	if (f->dir[0] == '\0')
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;

	cf_rmdir(f->dir);
	kt_fake_log_free(f->srv.fl);
	free(f);
	return 0;
}

static void write_conf(const fixture *f, const char *name, const char *text,
		       char *path, size_t cap)
{
	FILE *fp;

	snprintf(path, cap, "%s/%s", f->dir, name);
	fp = fopen(path, "w");
	assert_non_null(fp);
	assert_int_equal(fputs(text, fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
}

/* Loads text as a file; returns the code, detail in err. */
static int load_text(const fixture *f, const char *text, kt_client_config **cfg,
		     char *err, size_t errlen)
{
	char path[128];

	write_conf(f, "c.conf", text, path, sizeof(path));
	assert_int_equal(kt_client_config_new(cfg), KT_OK);
	return kt_client_config_load_file(*cfg, path, err, errlen);
}

static void test_full_file(void **state)
{
	fixture *f = *state;
	kt_client_config *cfg = NULL;
	kt_client *c = NULL;
	char text[4096], err[256], want[256];

	snprintf(text, sizeof(text),
		 "# a client configuration\n"
		 "\n"
		 "endpoint = 127.0.0.1:7600\n"
		 "  endpoint=[::1]:7601   # a second node\n"
		 "log_key = %s\n"
		 "origin = " KT_FAKE_ORIGIN "\n"
		 "vrf_key = %s\n"
		 "witness = %s\n"
		 "witness = %s\n"
		 "witness = %s\n"
		 "witness_threshold = 2\n"
		 "witness_mode = bounded-lag\n"
		 "max_lag = 30m\n"
		 "max_age = 90s\n"
		 "deadline = 2500ms\n"
		 "state_file = state dir/trust.state\n"
		 "tls_roots = /etc/ssl/ca.pem\n"
		 "registrar_key_file = registrar.key\r\n",
		 f->log_key, f->vrf, f->witness[0], f->witness[1], f->witness[2]);
	assert_int_equal(load_text(f, text, &cfg, err, sizeof(err)), KT_OK);
	assert_string_equal(kt_client_config_get(cfg, "endpoint"), "127.0.0.1:7600");
	assert_int_equal(cfg->n_endpoints, 2);
	assert_string_equal(cfg->endpoints[1], "[::1]:7601");
	assert_string_equal(kt_client_config_get(cfg, "origin"), KT_FAKE_ORIGIN);
	assert_string_equal(kt_client_config_get(cfg, "log_key"), f->log_key);
	assert_string_equal(kt_client_config_get(cfg, "vrf_key"), f->vrf);
	assert_string_equal(kt_client_config_get(cfg, "vrf_public_key"), f->vrf);
	assert_string_equal(kt_client_config_get(cfg, "witness"), f->witness[0]);
	assert_string_equal(kt_client_config_get(cfg, "witness_threshold"), "2");
	assert_string_equal(kt_client_config_get(cfg, "witness_mode"), "bounded-lag");
	assert_string_equal(kt_client_config_get(cfg, "max_lag"), "30m");
	assert_string_equal(kt_client_config_get(cfg, "max_age"), "90s");
	assert_string_equal(kt_client_config_get(cfg, "deadline"), "2500ms");
	assert_null(kt_client_config_get(cfg, "admin_token_file"));
	assert_null(kt_client_config_get(cfg, "nonsense"));
	/* Relative paths are taken from the file's directory. */
	snprintf(want, sizeof(want), "%s/state dir/trust.state", f->dir);
	assert_string_equal(kt_client_config_get(cfg, "state_file"), want);
	snprintf(want, sizeof(want), "%s/registrar.key", f->dir);
	assert_string_equal(kt_client_config_get(cfg, "registrar_key_file"), want);
	assert_string_equal(kt_client_config_get(cfg, "tls_roots"), "/etc/ssl/ca.pem");
	assert_int_equal(cfg->trust.n_witnesses, 3);
	assert_int_equal(cfg->trust.witness_threshold, 2);
	assert_int_equal(cfg->trust.mode, KT_TRUST_BOUNDED_LAG);
	assert_int_equal(cfg->trust.max_lag_ms, 30u * 60u * 1000u);
	assert_int_equal(cfg->trust.max_age_ms, 90000);
	assert_int_equal(cfg->deadline_ms, 2500);
	/* Open reads the TLS roots: missing here, so KT_ERR_IO. */
	assert_int_equal(kt_client_open(cfg, &c, err, sizeof(err)), KT_ERR_IO);
	assert_non_null(strstr(err, "tls_roots"));
	kt_client_config_free(cfg);
}

/* kt_client_config_override: the command line beats the file. */
static void test_override(void **state)
{
	fixture *f = *state;
	kt_client_config *cfg = NULL;
	kt_client *c = NULL;
	char text[4096], err[256];

	snprintf(text, sizeof(text),
		 "endpoint = 127.0.0.1:7600\n"
		 "endpoint = 127.0.0.1:7601\n"
		 "log_key = %s\n"
		 "vrf_key = %s\n"
		 "witness = %s\n"
		 "witness_threshold = 1\n"
		 "max_age = 90s\n"
		 "admin_endpoint = 127.0.0.1:7700\n",
		 f->log_key, f->vrf, f->witness[0]);
	assert_int_equal(load_text(f, text, &cfg, err, sizeof(err)), KT_OK);
	assert_string_equal(kt_client_config_get(cfg, "admin_endpoint"),
			    "127.0.0.1:7700");
	/* Twin: a plain set of a scalar the file set is refused ... */
	assert_int_equal(kt_client_config_set(cfg, "max_age", "5s", err, sizeof(err)),
			 KT_ERR_CONFIG_DUPLICATE);
	/* ... an override replaces it, once */
	assert_int_equal(kt_client_config_override(cfg, "max_age", "5s", err,
						   sizeof(err)), KT_OK);
	assert_string_equal(kt_client_config_get(cfg, "max_age"), "5s");
	assert_int_equal(cfg->trust.max_age_ms, 5000);
	assert_int_equal(kt_client_config_override(cfg, "max_age", "6s", err,
						   sizeof(err)), KT_ERR_CONFIG_DUPLICATE);
	assert_non_null(strstr(err, "twice on the command line"));
	assert_int_equal(cfg->trust.max_age_ms, 5000);
	/* a list: the first override replaces the file's list, later append */
	assert_int_equal(kt_client_config_override(cfg, "endpoint", "10.0.0.1:1",
						   err, sizeof(err)), KT_OK);
	assert_int_equal(cfg->n_endpoints, 1);
	assert_string_equal(kt_client_config_get(cfg, "endpoint"), "10.0.0.1:1");
	assert_int_equal(kt_client_config_override(cfg, "server", "10.0.0.2:1",
						   err, sizeof(err)), KT_OK);
	assert_int_equal(cfg->n_endpoints, 2);
	assert_int_equal(kt_client_config_override(cfg, "endpoint", "10.0.0.2:1",
						   err, sizeof(err)),
			 KT_ERR_CONFIG_DUPLICATE);
	/* keys and the witness policy can be replaced whole */
	assert_int_equal(kt_client_config_override(cfg, "witness", f->witness[1],
						   err, sizeof(err)), KT_OK);
	assert_int_equal(cfg->trust.n_witnesses, 1);
	assert_string_equal(kt_client_config_get(cfg, "witness"), f->witness[1]);
	assert_int_equal(kt_client_config_override(cfg, "log_key", f->log_key,
						   err, sizeof(err)), KT_OK);
	assert_int_equal(kt_client_config_override(cfg, "witness_threshold", "0",
						   err, sizeof(err)), KT_OK);
	assert_int_equal(kt_client_config_override(cfg, "admin_endpoint",
						   "127.0.0.1:7701", err,
						   sizeof(err)), KT_OK);
	assert_string_equal(kt_client_config_get(cfg, "admin_endpoint"),
			    "127.0.0.1:7701");
	/* bad values and names are refused as by kt_client_config_set */
	assert_int_equal(kt_client_config_override(cfg, "deadline", "soon", err,
						   sizeof(err)), KT_ERR_CONFIG_VALUE);
	assert_int_equal(kt_client_config_override(cfg, "nonsense", "1", err,
						   sizeof(err)), KT_ERR_CONFIG_UNKNOWN);
	assert_int_equal(kt_client_config_override(cfg, "admin_endpoint", "a b", err,
						   sizeof(err)), KT_ERR_CONFIG_DUPLICATE);
	/* threshold 0 with one witness is refused at open */
	assert_int_equal(kt_client_open(cfg, &c, err, sizeof(err)),
			 KT_ERR_CLIENT_CONFIG);
	kt_client_config_free(cfg);
	assert_int_equal(kt_client_config_new(&cfg), KT_OK);
	assert_int_equal(kt_client_config_override(cfg, "admin_endpoint", "a b", err,
						   sizeof(err)), KT_ERR_CONFIG_VALUE);
	assert_null(kt_client_config_get(cfg, "admin_endpoint"));
	kt_client_config_free(cfg);
}

/* What `ktd --dev` writes (server/ktd_main.c dev_client_info). */
static void test_ktd_dev_file(void **state)
{
	fixture *f = *state;
	kt_client_config *cfg = NULL;
	kt_client *c = NULL;
	char text[4096], err[256];

	snprintf(text, sizeof(text),
		 "# Written by `ktd --dev` at every start: what a client needs to\n"
		 "# talk to this development node and verify its answers.\n"
		 "server = 127.0.0.1:7600\n"
		 "origin = " KT_FAKE_ORIGIN "\n"
		 "log_key = %s\n"
		 "vrf_public_key = %s\n"
		 "registrar_key_file = /var/lib/ktd/registrar.key\n"
		 "admin_token_file = /var/lib/ktd/admin.token\n",
		 f->log_key, f->vrf);
	assert_int_equal(load_text(f, text, &cfg, err, sizeof(err)), KT_OK);
	assert_string_equal(kt_client_config_get(cfg, "server"), "127.0.0.1:7600");
	assert_string_equal(kt_client_config_get(cfg, "admin_token_file"),
			    "/var/lib/ktd/admin.token");
	assert_int_equal(kt_client_open(cfg, &c, err, sizeof(err)), KT_OK);
	kt_client_close(c);
	kt_client_config_free(cfg);
}

/* Each broken line: its code, and the line number in the message. */
static void test_file_errors(void **state)
{
	fixture *f = *state;
	kt_client_config *cfg;
	char text[4096], err[256], long_line[5000];
	struct {
		const char *line;
		int code;
		const char *in_err;
	} cases[] = {
		{"witnes = x\n", KT_ERR_CONFIG_UNKNOWN, "unknown option 'witnes'"},
		{"endpoint\n", KT_ERR_CONFIG_SYNTAX, "name = value"},
		{"endpoint =\n", KT_ERR_CONFIG_SYNTAX, "name = value"},
		{"max_age = 10\n", KT_ERR_CONFIG_VALUE, "duration"},
		{"max_age = 10y\n", KT_ERR_CONFIG_VALUE, "duration"},
		{"max_age = 0s\n", KT_ERR_CONFIG_RANGE, "max_age"},
		{"max_age = 99999999999999h\n", KT_ERR_CONFIG_RANGE, "too large"},
		{"deadline = 2h\n", KT_ERR_CONFIG_RANGE, "deadline"},
		{"vrf_key = 12ab\n", KT_ERR_CONFIG_VALUE, "64 hex"},
		{"vrf_key = 0000000000000000000000000000000000000000000000000000000000000000\n",
		 KT_ERR_BAD_KEY, "VRF"},
		{"witness_threshold = -1\n", KT_ERR_CONFIG_VALUE, "number"},
		{"witness_threshold = 33\n", KT_ERR_CONFIG_RANGE, "over"},
		{"witness_mode = lenient\n", KT_ERR_CONFIG_VALUE, "strict, bounded-lag"},
		{"log_key = nonsense\n", KT_ERR_BAD_VERIFIER_KEY, "log verifier key"},
		{"endpoint = a b\n", KT_ERR_CONFIG_VALUE, "endpoint"},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text), "# comment\nendpoint = h:1\n%s",
			 cases[i].line);
		assert_int_equal(load_text(f, text, &cfg, err, sizeof(err)),
				 cases[i].code);
		assert_non_null(strstr(err, ":3: "));
		if (strstr(err, cases[i].in_err) == NULL)
			fail_msg("case %zu: '%s' not in '%s'", i, cases[i].in_err, err);
		kt_client_config_free(cfg);
	}
	/* A witness key where the log key goes, and back. */
	snprintf(text, sizeof(text), "log_key = %s\n", f->witness[0]);
	assert_int_equal(load_text(f, text, &cfg, err, sizeof(err)),
			 KT_ERR_BAD_KEY_TYPE);
	kt_client_config_free(cfg);
	snprintf(text, sizeof(text), "witness = %s\n", f->log_key);
	assert_int_equal(load_text(f, text, &cfg, err, sizeof(err)),
			 KT_ERR_BAD_KEY_TYPE);
	kt_client_config_free(cfg);
	/* Scalars twice; a list value twice. */
	snprintf(text, sizeof(text), "log_key = %s\nlog_key = %s\n", f->log_key,
		 f->log_key);
	assert_int_equal(load_text(f, text, &cfg, err, sizeof(err)),
			 KT_ERR_CONFIG_DUPLICATE);
	assert_non_null(strstr(err, ":2: "));
	kt_client_config_free(cfg);
	assert_int_equal(load_text(f, "max_age = 1s\nmax_age = 2s\n", &cfg, err,
				   sizeof(err)), KT_ERR_CONFIG_DUPLICATE);
	kt_client_config_free(cfg);
	assert_int_equal(load_text(f, "endpoint = a:1\nserver = a:1\n", &cfg, err,
				   sizeof(err)), KT_ERR_CONFIG_DUPLICATE);
	kt_client_config_free(cfg);
	/* A line over 4096 bytes. */
	memset(long_line, 'a', sizeof(long_line) - 1);
	long_line[sizeof(long_line) - 1] = '\0';
	memcpy(long_line, "endpoint = ", 11);
	assert_int_equal(load_text(f, long_line, &cfg, err, sizeof(err)),
			 KT_ERR_TOO_LARGE);
	kt_client_config_free(cfg);
	/* No such file. */
	assert_int_equal(kt_client_config_new(&cfg), KT_OK);
	assert_int_equal(kt_client_config_load_file(cfg, "/nonexistent/c.conf", err,
						    sizeof(err)), KT_ERR_IO);
	assert_non_null(strstr(err, "/nonexistent/c.conf"));
	/* The same parser by name. */
	assert_int_equal(kt_client_config_set(cfg, "max_age", "5m", err, sizeof(err)),
			 KT_OK);
	assert_int_equal(cfg->trust.max_age_ms, 300000);
	assert_int_equal(kt_client_config_set(cfg, "maxage", "5m", err, sizeof(err)),
			 KT_ERR_CONFIG_UNKNOWN);
	kt_client_config_free(cfg);
}

/* Options that are fine alone but not together, caught at open. */
static void test_open_checks(void **state)
{
	fixture *f = *state;
	kt_client_config *cfg;
	kt_client *c = NULL;
	char text[4096], err[256];
	struct {
		const char *extra;
		const char *in_err;
	} cases[] = {
		{"witness_threshold = 1\n", "witness_threshold 1 with 0"},
		{"origin = other.example/log\n", "origin"},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text),
			 "endpoint = h:1\nlog_key = %s\nvrf_key = %s\n%s", f->log_key,
			 f->vrf, cases[i].extra);
		assert_int_equal(load_text(f, text, &cfg, err, sizeof(err)), KT_OK);
		assert_int_equal(kt_client_open(cfg, &c, err, sizeof(err)),
				 KT_ERR_CLIENT_CONFIG);
		assert_null(c);
		if (strstr(err, cases[i].in_err) == NULL)
			fail_msg("case %zu: '%s' not in '%s'", i, cases[i].in_err, err);
		kt_client_config_free(cfg);
	}
	/* Missing pieces. */
	assert_int_equal(load_text(f, "endpoint = h:1\n", &cfg, err, sizeof(err)), KT_OK);
	assert_int_equal(kt_client_open(cfg, &c, err, sizeof(err)), KT_ERR_CLIENT_CONFIG);
	assert_non_null(strstr(err, "log_key"));
	kt_client_config_free(cfg);
	snprintf(text, sizeof(text), "log_key = %s\nvrf_key = %s\n", f->log_key, f->vrf);
	assert_int_equal(load_text(f, text, &cfg, err, sizeof(err)), KT_OK);
	assert_int_equal(kt_client_open(cfg, &c, err, sizeof(err)), KT_ERR_CLIENT_CONFIG);
	assert_non_null(strstr(err, "endpoint"));
	kt_client_config_free(cfg);
	/* Witnesses without a threshold. */
	snprintf(text, sizeof(text),
		 "endpoint = h:1\nlog_key = %s\nvrf_key = %s\nwitness = %s\n",
		 f->log_key, f->vrf, f->witness[0]);
	assert_int_equal(load_text(f, text, &cfg, err, sizeof(err)), KT_OK);
	assert_int_equal(kt_client_open(cfg, &c, err, sizeof(err)), KT_ERR_CLIENT_CONFIG);
	assert_non_null(strstr(err, "witness_threshold"));
	/* Twin: with one, it opens. */
	assert_int_equal(kt_client_config_set(cfg, "witness_threshold", "1", err,
					      sizeof(err)), KT_OK);
	assert_int_equal(kt_client_open(cfg, &c, err, sizeof(err)), KT_OK);
	kt_client_close(c);
	kt_client_config_free(cfg);
	/* Setters' own range checks. */
	assert_int_equal(kt_client_config_new(&cfg), KT_OK);
	assert_int_equal(kt_client_config_set_witness_mode(cfg, 3, 0),
			 KT_ERR_CONFIG_VALUE);
	assert_int_equal(kt_client_config_set_witness_mode(cfg,
							   KT_WITNESS_MODE_BOUNDED_LAG, 0),
			 KT_ERR_CONFIG_RANGE);
	assert_int_equal(kt_client_config_set_deadline(cfg, 0), KT_ERR_CONFIG_RANGE);
	assert_int_equal(kt_client_config_add_endpoint(cfg, ""), KT_ERR_INVALID_ARG);
	assert_int_equal(kt_client_config_add_endpoint(cfg, "a:1"), KT_OK);
	assert_int_equal(kt_client_config_add_endpoint(cfg, "a:1"),
			 KT_ERR_CONFIG_DUPLICATE);
	kt_client_config_free(cfg);
	kt_client_config_free(NULL);
}

/* tls_client_cert / tls_client_key: file keys (relative paths), the
 * setter (both or neither), and the checks at open. */
static void test_tls_client_cert(void **state)
{
	fixture *f = *state;
	kt_client_config *cfg;
	kt_client *c = NULL;
	char text[4096], err[256], want[300];

	snprintf(text, sizeof(text),
		 "endpoint = h:1\nlog_key = %s\nvrf_key = %s\n"
		 "tls_roots = /nonexistent/ca.pem\n"
		 "tls_client_cert = op.crt\ntls_client_key = keys/op.key\n",
		 f->log_key, f->vrf);
	assert_int_equal(load_text(f, text, &cfg, err, sizeof(err)), KT_OK);
	snprintf(want, sizeof(want), "%s/op.crt", f->dir);
	assert_string_equal(kt_client_config_get(cfg, "tls_client_cert"), want);
	snprintf(want, sizeof(want), "%s/keys/op.key", f->dir);
	assert_string_equal(kt_client_config_get(cfg, "tls_client_key"), want);
	/* A scalar twice is a duplicate; an override replaces it. */
	assert_int_equal(kt_client_config_set(cfg, "tls_client_key", "x", err,
					      sizeof(err)),
			 KT_ERR_CONFIG_DUPLICATE);
	assert_int_equal(kt_client_config_override(cfg, "tls_client_key", "/k",
						   err, sizeof(err)),
			 KT_OK);
	assert_string_equal(kt_client_config_get(cfg, "tls_client_key"), "/k");
	/* The setter: both paths or nothing changes. */
	assert_int_equal(kt_client_config_set_tls_client_cert(cfg, "/c2", ""),
			 KT_ERR_INVALID_ARG);
	assert_int_equal(kt_client_config_set_tls_client_cert(cfg, NULL, "/k2"),
			 KT_ERR_INVALID_ARG);
	assert_string_equal(kt_client_config_get(cfg, "tls_client_key"), "/k");
	assert_int_equal(kt_client_config_set_tls_client_cert(cfg, "/c2", "/k2"),
			 KT_OK);
	assert_string_equal(kt_client_config_get(cfg, "tls_client_cert"), "/c2");
	assert_string_equal(kt_client_config_get(cfg, "tls_client_key"), "/k2");
	/* Open reads tls_roots first: missing here. */
	assert_int_equal(kt_client_open(cfg, &c, err, sizeof(err)), KT_ERR_IO);
	assert_null(c);
	kt_client_config_free(cfg);
	/* A certificate without a key, or without tls_roots: refused. */
	snprintf(text, sizeof(text),
		 "endpoint = h:1\nlog_key = %s\nvrf_key = %s\n"
		 "tls_roots = ca.pem\ntls_client_cert = op.crt\n",
		 f->log_key, f->vrf);
	assert_int_equal(load_text(f, text, &cfg, err, sizeof(err)), KT_OK);
	assert_int_equal(kt_client_open(cfg, &c, err, sizeof(err)),
			 KT_ERR_CLIENT_CONFIG);
	assert_non_null(strstr(err, "tls_client_key"));
	kt_client_config_free(cfg);
	snprintf(text, sizeof(text),
		 "endpoint = h:1\nlog_key = %s\nvrf_key = %s\n"
		 "tls_client_cert = op.crt\ntls_client_key = op.key\n",
		 f->log_key, f->vrf);
	assert_int_equal(load_text(f, text, &cfg, err, sizeof(err)), KT_OK);
	assert_int_equal(kt_client_open(cfg, &c, err, sizeof(err)),
			 KT_ERR_CLIENT_CONFIG);
	assert_non_null(strstr(err, "tls_roots"));
	assert_null(c);
	kt_client_config_free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_full_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ktd_dev_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_override, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_checks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tls_client_cert, setup, teardown),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
