/*
 * server_test_keys.c — the node's key files (server/keys.c) and the node
 * itself (server/node.c), in mkdtemp directories removed after.
 *   (1) `ktd keygen` of every kind: files of mode 0600 in the documented
 *       formats, public halves that parse as the right key type; an
 *       existing file is never overwritten; bad kinds and names refused
 *       (and no file left behind);
 *   (2) loading configured keys, and the forgery twins: a file others can
 *       read, a log key named other than the origin, a registrar line that
 *       is a witness key and back, a non-canonical VRF seed, a short admin
 *       token, two lines, a missing file;
 *   (3) dev mode generates every file once (0600) and reuses it, and
 *       accepts its own registrar;
 *   (4) a dev node opens, appends its first heartbeat, applies a change
 *       submitted through it, closes, and reopens at the same head.
 */
#define _GNU_SOURCE 1
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "config.h"
#include "kt_enc.h"
#include "kt_note.h"
#include "log.h"
#include "node.h"
#include "kt_test_fs.h"
#include "server_test_util.h"

#define ORIGIN "keys.example/log"

struct fx {
	char dir[64];
	char path[8][256];
	char pub[8][512];
	kt_config cfg;
	char err[512];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/kt-keys-test-XXXXXX");
	if (mkdtemp(f->dir) == NULL || kt_config_init(&f->cfg) != KT_OK) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	kt_config_free(&f->cfg);
	kt_test_rm_tree(f->dir);
	free(f);
	return 0;
}

static void set(struct fx *f, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void set(struct fx *f, const char *fmt, ...)
{
	char arg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(arg, sizeof(arg), fmt, ap);
	va_end(ap);
	assert_int_equal(kt_config_set(&f->cfg, arg, f->err, sizeof(f->err)), KT_OK);
}

/* Replaces a string option after it was set (kt_config_set refuses a
 * second value of a scalar). */
static void reset_str(char **field, const char *v)
{
	free(*field);
	*field = strdup(v);
	assert_non_null(*field);
}

/* Replaces the only value of a list option. */
static void reset_list1(kt_config_list *l, const char *v)
{
	assert_int_equal(l->n, 1);
	reset_str(&l->items[0], v);
}

/* keygen kind into dir/file; the public line (newline dropped) into pub. */
static int keygen(struct fx *f, const char *kind, const char *name,
		  const char *file, char *path, char *pub)
{
	FILE *mf;
	char *buf = NULL;
	size_t len = 0;
	int r;

	snprintf(path, 256, "%s/%s", f->dir, file);
	mf = open_memstream(&buf, &len);
	assert_non_null(mf);
	r = kt_keygen(kind, name, path, mf, f->err, sizeof(f->err));
	fclose(mf);
	if (pub != NULL) {
		snprintf(pub, 512, "%s", buf != NULL ? buf : "");
		if (pub[0] != '\0' && pub[strlen(pub) - 1] == '\n')
			pub[strlen(pub) - 1] = '\0';
	}
	free(buf);
	return r;
}

static size_t read_file(const char *path, char *buf, size_t cap)
{
	FILE *fp = fopen(path, "r");
	size_t n;

	assert_non_null(fp);
	n = fread(buf, 1, cap - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	return n;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *fp;

	unlink(path);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
	assert_int_equal(chmod(path, mode), 0);
}

static mode_t mode_of(const char *path)
{
	struct stat sb;

	assert_int_equal(stat(path, &sb), 0);
	return sb.st_mode & 07777;
}

/* ---- (1) keygen ------------------------------------------------------------- */

static void test_keygen(void **state)
{
	struct fx *f = *state;
	kt_note_verifier v;
	kt_note_signer s;
	char buf[4096], before[4096];
	size_t n;

	assert_int_equal(keygen(f, "log", ORIGIN, "log.key", f->path[0], f->pub[0]),
			 KT_OK);
	assert_int_equal(mode_of(f->path[0]), 0600);
	n = read_file(f->path[0], buf, sizeof(buf));
	assert_true(n > 12 && buf[n - 1] == '\n');
	assert_memory_equal(buf, "PRIVATE+KEY+" ORIGIN "+", 13 + strlen(ORIGIN));
	assert_int_equal(kt_note_signer_parse(&s, buf, n - 1), KT_OK);
	assert_int_equal(kt_note_verifier_parse(&v, f->pub[0], strlen(f->pub[0])),
			 KT_OK);
	assert_int_equal(v.type, KT_NOTE_KEY_ED25519);
	assert_string_equal(v.name, ORIGIN);
	assert_memory_equal(v.pk, s.pub.pk, 32);
	kt_note_signer_wipe(&s);

	assert_int_equal(keygen(f, "witness", "w.example/1", "w.key", f->path[1],
				f->pub[1]), KT_OK);
	assert_int_equal(kt_note_verifier_parse(&v, f->pub[1], strlen(f->pub[1])),
			 KT_OK);
	assert_int_equal(v.type, KT_NOTE_KEY_COSIG_V1);
	assert_int_equal(keygen(f, "registrar", "reg.example", "r.key", f->path[2],
				f->pub[2]), KT_OK);
	assert_int_equal(kt_note_verifier_parse(&v, f->pub[2], strlen(f->pub[2])),
			 KT_OK);
	assert_int_equal(v.type, KT_NOTE_KEY_ED25519);

	assert_int_equal(keygen(f, "vrf", NULL, "vrf.key", f->path[3], f->pub[3]),
			 KT_OK);
	assert_int_equal(mode_of(f->path[3]), 0600);
	n = read_file(f->path[3], buf, sizeof(buf));
	assert_int_equal(n, 12 + 44 + 1);
	assert_memory_equal(buf, "KT-VRF-SEED+", 12);
	assert_int_equal(strlen(f->pub[3]), 64);

	assert_int_equal(keygen(f, "admin", NULL, "admin.token", f->path[4],
				f->pub[4]), KT_OK);
	n = read_file(f->path[4], buf, sizeof(buf));
	assert_int_equal(n, 65);
	assert_string_equal(f->pub[4], "");

	/* never overwritten */
	n = read_file(f->path[0], before, sizeof(before));
	assert_int_equal(keygen(f, "log", ORIGIN, "log.key", f->path[5], NULL),
			 KT_ERR_KEYS);
	assert_non_null(strstr(f->err, "refusing to overwrite"));
	assert_int_equal(read_file(f->path[0], buf, sizeof(buf)), n);
	assert_memory_equal(buf, before, n);
	/* bad kind, missing name, bad name: nothing left behind */
	assert_int_equal(keygen(f, "ssh", "x", "x.key", f->path[5], NULL),
			 KT_ERR_INVALID_ARG);
	assert_int_equal(keygen(f, "log", NULL, "x.key", f->path[5], NULL),
			 KT_ERR_INVALID_ARG);
	assert_int_equal(keygen(f, "registrar", "a+b", "x.key", f->path[5], NULL),
			 KT_ERR_KEYS);
	assert_int_not_equal(access(f->path[5], F_OK), 0);
}

/* ---- (2) loading and its forgery twins ------------------------------------------ */

static void configure(struct fx *f)
{
	assert_int_equal(keygen(f, "log", ORIGIN, "log.key", f->path[0], f->pub[0]),
			 KT_OK);
	assert_int_equal(keygen(f, "vrf", NULL, "vrf.key", f->path[1], f->pub[1]),
			 KT_OK);
	assert_int_equal(keygen(f, "admin", NULL, "admin.token", f->path[2], NULL),
			 KT_OK);
	assert_int_equal(keygen(f, "registrar", "reg.example", "r.key", f->path[3],
				f->pub[3]), KT_OK);
	assert_int_equal(keygen(f, "witness", "w.example", "w.key", f->path[4],
				f->pub[4]), KT_OK);
	set(f, "data_dir=%s/data", f->dir);
	set(f, "origin=%s", ORIGIN);
	set(f, "log_key_file=%s", f->path[0]);
	set(f, "vrf_key_file=%s", f->path[1]);
	set(f, "admin_token_file=%s", f->path[2]);
	set(f, "registrar=%s", f->pub[3]);
	set(f, "witness=%s", f->pub[4]);
}

static int load(struct fx *f, kt_node_keys *k)
{
	f->err[0] = '\0';
	return kt_node_keys_load(&f->cfg, k, f->err, sizeof(f->err));
}

static void test_load(void **state)
{
	struct fx *f = *state;
	kt_node_keys *k = calloc(1, sizeof(*k));
	kt_note_verifier v;
	char hex[65], buf[256];
	uint8_t tok[32];
	size_t n;

	assert_non_null(k);
	configure(f);
	assert_int_equal(load(f, k), KT_OK);
	assert_string_equal(k->log_signer.pub.name, ORIGIN);
	sodium_bin2hex(hex, sizeof(hex), k->vrf_pk, 32);
	assert_string_equal(hex, f->pub[1]);
	assert_true(k->has_admin_token);
	n = read_file(f->path[2], buf, sizeof(buf));
	assert_int_equal(n, 65);
	assert_int_equal(sodium_hex2bin(tok, 32, buf, 64, NULL, NULL, NULL), 0);
	assert_memory_equal(tok, k->admin_token, 32);
	assert_int_equal(k->n_registrars, 1);
	assert_int_equal(kt_note_verifier_parse(&v, f->pub[3], strlen(f->pub[3])),
			 KT_OK);
	assert_memory_equal(k->registrars[0].pk, v.pk, 32);
	assert_int_equal(k->n_witnesses, 1);
	assert_string_equal(k->witnesses[0].name, "w.example");
	kt_node_keys_wipe(k);

	/* a key file others can read */
	assert_int_equal(chmod(f->path[0], 0644), 0);
	assert_int_equal(load(f, k), KT_ERR_KEYS);
	assert_non_null(strstr(f->err, "chmod 600"));
	assert_int_equal(chmod(f->path[0], 0600), 0);
	assert_int_equal(chmod(f->path[1], 0640), 0);
	assert_int_equal(load(f, k), KT_ERR_KEYS);
	assert_int_equal(chmod(f->path[1], 0400), 0); /* owner-only read is fine */
	assert_int_equal(load(f, k), KT_OK);
	kt_node_keys_wipe(k);

	/* the log key must be named after the origin */
	reset_str(&f->cfg.origin, "other.example/log");
	assert_int_equal(load(f, k), KT_ERR_KEYS);
	assert_non_null(strstr(f->err, "origin"));
	reset_str(&f->cfg.origin, ORIGIN);

	/* a witness key is no registrar, and a registrar key no witness */
	reset_list1(&f->cfg.registrar, f->pub[4]);
	assert_int_equal(load(f, k), KT_ERR_KEYS);
	reset_list1(&f->cfg.registrar, f->pub[3]);
	reset_list1(&f->cfg.witness, f->pub[3]);
	assert_int_equal(load(f, k), KT_ERR_KEYS);
	reset_list1(&f->cfg.witness, f->pub[4]);
	assert_int_equal(load(f, k), KT_OK);
	kt_node_keys_wipe(k);

	/* VRF seed: a non-canonical last character, a wrong prefix */
	n = read_file(f->path[1], buf, sizeof(buf));
	assert_true(buf[n - 3] != '=' && buf[n - 2] == '=');
	{
		/* flip the lowest of the two unused bits of the last sextet */
		static const char b64[] =
			"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
		const char *at = strchr(b64, buf[n - 3]);

		assert_non_null(at);
		buf[n - 3] = b64[(at - b64) ^ 1];
	}
	{
		char good[256];

		read_file(f->path[1], good, sizeof(good));
		write_file(f->path[1], buf, 0600);
		assert_int_equal(load(f, k), KT_ERR_KEYS);
		good[0] = 'X';
		write_file(f->path[1], good, 0600);
		assert_int_equal(load(f, k), KT_ERR_KEYS);
		good[0] = 'K';
		write_file(f->path[1], good, 0600);
		assert_int_equal(load(f, k), KT_OK);
		kt_node_keys_wipe(k);
	}

	/* admin token: 63 digits, a second line */
	n = read_file(f->path[2], buf, sizeof(buf));
	buf[63] = '\n';
	buf[64] = '\0';
	write_file(f->path[2], buf, 0600);
	assert_int_equal(load(f, k), KT_ERR_KEYS);
	read_file(f->path[0], buf, sizeof(buf));
	strcat(buf, "more\n");
	write_file(f->path[0], buf, 0600);
	assert_int_equal(load(f, k), KT_ERR_KEYS);
	/* a missing file */
	snprintf(buf, sizeof(buf), "%s/nope", f->dir);
	reset_str(&f->cfg.log_key_file, buf);
	assert_int_equal(load(f, k), KT_ERR_KEYS);
	assert_non_null(strstr(f->err, "nope"));
	free(k);
}

/* ---- (3) dev mode ----------------------------------------------------------------- */

static void test_dev_mode(void **state)
{
	struct fx *f = *state;
	kt_node_keys *k1 = calloc(1, sizeof(*k1)), *k2 = calloc(1, sizeof(*k2));
	char path[512];
	static const char *const files[] = {
		KT_NODE_DEV_LOG_FILE, KT_NODE_DEV_VRF_FILE, KT_NODE_DEV_ADMIN_FILE,
		KT_NODE_DEV_REGISTRAR_FILE,
	};
	size_t i;

	assert_true(k1 != NULL && k2 != NULL);
	set(f, "dev_mode=true");
	set(f, "data_dir=%s/dev", f->dir);
	assert_int_equal(load(f, k1), KT_OK);
	for (i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s/dev/%s", f->dir, files[i]);
		assert_int_equal(mode_of(path), 0600);
	}
	assert_string_equal(k1->log_signer.pub.name, KT_NODE_DEV_ORIGIN);
	assert_true(k1->has_admin_token);
	assert_int_equal(k1->n_registrars, 1);
	/* the generated files are reused */
	assert_int_equal(load(f, k2), KT_OK);
	assert_memory_equal(k1->log_signer.sk, k2->log_signer.sk, 64);
	assert_memory_equal(k1->vrf_sk, k2->vrf_sk, 64);
	assert_memory_equal(k1->admin_token, k2->admin_token, 32);
	assert_memory_equal(k1->registrars[0].pk, k2->registrars[0].pk, 32);
	kt_node_keys_wipe(k1);
	/* a configured file is never generated, also in dev mode */
	set(f, "vrf_key_file=%s/dev/missing.key", f->dir);
	assert_int_equal(load(f, k1), KT_ERR_KEYS);
	snprintf(path, sizeof(path), "%s/dev/missing.key", f->dir);
	assert_int_not_equal(access(path, F_OK), 0);
	kt_node_keys_wipe(k2);
	free(k1);
	free(k2);
}

/* ---- (4) the node ----------------------------------------------------------------- */

static void wait_head(kt_node *n, uint64_t size)
{
	kt_apply_head h;
	int i;

	for (i = 0; i < 1000; i++) {
		kt_node_head(n, &h);
		if (h.tree_size >= size)
			return;
		usleep(10000);
	}
	fail_msg("tree size %llu not reached", (unsigned long long)size);
}

static void test_node(void **state)
{
	struct fx *f = *state;
	kt_change_result res;
	kt_node *n = NULL;
	kt_apply_head h1, h2;

	kt_slog_set_level(KT_SLOG_ERROR);
	set(f, "dev_mode=true");
	set(f, "data_dir=%s/node", f->dir);
	assert_int_equal(kt_node_open(&f->cfg, &n, f->err, sizeof(f->err)), KT_OK);
	assert_ptr_equal(kt_node_config(n), &f->cfg);
	assert_non_null(kt_node_storage(n));
	wait_head(n, 1); /* the empty log's first heartbeat */

	res = kt_test_node_operator_change(n, "node-test");
	assert_int_equal(res.code, KT_OK);
	assert_int_equal(res.version, 1);
	wait_head(n, res.log_index + 1);
	kt_node_head(n, &h1);
	assert_int_equal(h1.accounts, 1);
	assert_true(kt_node_now_ms(n) >= h1.last_timestamp_ms);
	kt_node_close(n);

	n = NULL;
	assert_int_equal(kt_node_open(&f->cfg, &n, f->err, sizeof(f->err)), KT_OK);
	kt_node_head(n, &h2);
	assert_int_equal(h2.tree_size, h1.tree_size);
	assert_memory_equal(h2.log_root, h1.log_root, 32);
	assert_memory_equal(h2.map_root, h1.map_root, 32);
	kt_node_close(n);
	kt_node_close(NULL);

	/* another origin on the same data directory is refused */
	reset_str(&f->cfg.origin, "other.example/log");
	assert_int_not_equal(kt_node_open(&f->cfg, &n, f->err, sizeof(f->err)),
			     KT_OK);
	assert_null(n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_keygen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dev_mode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_node, setup, teardown),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
