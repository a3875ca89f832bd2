/*
 * client_test_keys.c — libkeytrail device keys, key files, sealed boxes
 * and registrar tokens; sealing end to end through a verified lookup of
 * the fake server (client_fake.h).
 *
 * Covered: generate / save (O_EXCL, 0600) / load round trip; files that
 * group or others may read, symlinks, truncated or altered files are
 * refused; seal -> open round trip for each device, with twins (another
 * device's key, a flipped ciphertext bit, a short ciphertext); sealing to
 * an absent account, and no ciphertext at all when verification fails;
 * registrar tokens from a key string and from a key file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>

#include "client_fake.h"

typedef struct fixture {
	cf_server srv;
	char dir[64];
	uint64_t t;
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));

	if (f == NULL || kt_fake_log_new(&f->srv.fl, CF_T0) != KT_OK)
		return -1;
	f->t = CF_T0;
	f->srv.now_ms = CF_T0 + 500;
	if (kt_fake_log_enrol(f->srv.fl, CF_ALICE, CF_PHONE) != KT_OK)
		return -1;
	cf_tick(&f->srv, &f->t);
	if (kt_fake_log_add(f->srv.fl, CF_ALICE, CF_PHONE, CF_LAPTOP) != KT_OK)
		return -1;
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

static void path_in(const fixture *f, const char *name, char *out, size_t cap)
{
	snprintf(out, cap, "%s/%s", f->dir, name);
}

/* ---- key files --------------------------------------------------------------- */

static void test_keys_round_trip(void **state)
{
	fixture *f = *state;
	kt_device_keys *k = NULL, *k2 = NULL;
	uint8_t a[32], b[32];
	const uint8_t *id;
	size_t id_len, id2_len;
	struct stat sb;
	char path[128];

	path_in(f, "phone.key", path, sizeof(path));
	assert_int_equal(kt_device_keys_generate(NULL, 0, &k), KT_OK);
	id = kt_device_keys_id(k, &id_len);
	assert_int_equal(id_len, 32); /* random hex id */
	assert_int_equal(kt_device_keys_save(k, path), KT_OK);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	/* O_EXCL: never overwrites. */
	assert_int_equal(kt_device_keys_save(k, path), KT_ERR_IO);
	assert_int_equal(kt_device_keys_load(path, &k2), KT_OK);
	assert_memory_equal(kt_device_keys_id(k2, &id2_len), id, id_len);
	assert_int_equal(id2_len, id_len);
	kt_device_keys_sign_pk(k, a);
	kt_device_keys_sign_pk(k2, b);
	assert_memory_equal(a, b, 32);
	kt_device_keys_enc_pk(k, a);
	kt_device_keys_enc_pk(k2, b);
	assert_memory_equal(a, b, 32);
	kt_device_keys_free(k2);
	k2 = NULL;

	/* Group- or other-readable: refused (the twin of the 0600 load). */
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(kt_device_keys_load(path, &k2), KT_ERR_CLIENT_KEY_FILE);
	assert_null(k2);
	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(kt_device_keys_load(path, &k2), KT_ERR_CLIENT_KEY_FILE);
	assert_int_equal(chmod(path, 0602), 0);
	assert_int_equal(kt_device_keys_load(path, &k2), KT_ERR_CLIENT_KEY_FILE);
	assert_int_equal(chmod(path, 0400), 0);
	assert_int_equal(kt_device_keys_load(path, &k2), KT_OK);
	kt_device_keys_free(k2);
	k2 = NULL;

	/* Explicit ids: 1..64 bytes. */
	kt_device_keys_free(k);
	k = NULL;
	assert_int_equal(kt_device_keys_generate((const uint8_t *)"", 0, &k),
			 KT_ERR_INVALID_ARG);
	assert_int_equal(kt_device_keys_generate((const uint8_t *)"x", 65, &k),
			 KT_ERR_INVALID_ARG);
	assert_int_equal(kt_device_keys_generate((const uint8_t *)"watch", 5, &k),
			 KT_OK);
	assert_memory_equal(kt_device_keys_id(k, &id_len), "watch", 5);
	kt_device_keys_free(k);
	assert_int_equal(kt_device_keys_load("/nonexistent/k", &k2), KT_ERR_IO);
}

static void write_raw(const char *path, const uint8_t *p, size_t n, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	assert_true(fd >= 0);
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	assert_int_equal(close(fd), 0);
}

static void test_keys_bad_files(void **state)
{
	fixture *f = *state;
	kt_device_keys *k = NULL, *k2 = NULL;
	uint8_t *enc = NULL;
	size_t len = 0;
	char path[128], link[128];

	assert_int_equal(kt_device_keys_generate((const uint8_t *)"phone", 5, &k),
			 KT_OK);
	assert_int_equal(kt_device_keys_encode(k, &enc, &len), KT_OK);
	path_in(f, "k", path, sizeof(path));
	/* Good bytes load (the control). */
	write_raw(path, enc, len, 0600);
	assert_int_equal(kt_device_keys_load(path, &k2), KT_OK);
	kt_device_keys_free(k2);
	k2 = NULL;
	/* Truncated, extended, another domain: refused. */
	write_raw(path, enc, len - 1, 0600);
	assert_int_equal(kt_device_keys_load(path, &k2), KT_ERR_CLIENT_KEY_FILE);
	{
		uint8_t *ext = malloc(len + 1);

		assert_non_null(ext);
		memcpy(ext, enc, len);
		ext[len] = 0;
		write_raw(path, ext, len + 1, 0600);
		assert_int_equal(kt_device_keys_load(path, &k2), KT_ERR_CLIENT_KEY_FILE);
		free(ext);
	}
	enc[3] ^= 0x20; /* inside the domain string */
	write_raw(path, enc, len, 0600);
	assert_int_equal(kt_device_keys_load(path, &k2), KT_ERR_CLIENT_KEY_FILE);
	enc[3] ^= 0x20;
	/* A symlink to a good file is refused. */
	path_in(f, "good", path, sizeof(path));
	write_raw(path, enc, len, 0600);
	path_in(f, "link", link, sizeof(link));
	assert_int_equal(symlink(path, link), 0);
	assert_int_equal(kt_device_keys_load(link, &k2), KT_ERR_CLIENT_KEY_FILE);
	assert_int_equal(kt_device_keys_load(path, &k2), KT_OK);
	kt_device_keys_free(k2);
	/* A directory is no key file. */
	assert_int_not_equal(kt_device_keys_load(f->dir, &k2), KT_OK);
	sodium_memzero(enc, len);
	free(enc);
	kt_device_keys_free(k);
}

/* ---- sealed boxes ------------------------------------------------------------ */

static void test_open_twins(void **state)
{
	kt_device_keys *a = NULL, *b = NULL;
	uint8_t pk[32], ct[64 + KT_SEAL_OVERHEAD], *m = NULL;
	size_t n = 0;

	(void)state;
	assert_int_equal(kt_device_keys_generate(NULL, 0, &a), KT_OK);
	assert_int_equal(kt_device_keys_generate(NULL, 0, &b), KT_OK);
	kt_device_keys_enc_pk(a, pk);
	assert_int_equal(crypto_box_seal(ct, (const uint8_t *)"hello", 5, pk), 0);
	assert_int_equal(kt_device_keys_open(a, ct, 5 + KT_SEAL_OVERHEAD, &m, &n),
			 KT_OK);
	assert_int_equal(n, 5);
	assert_memory_equal(m, "hello", 5);
	free(m);
	assert_int_equal(kt_device_keys_open(b, ct, 5 + KT_SEAL_OVERHEAD, &m, &n),
			 KT_ERR_CLIENT_DECRYPT);
	assert_null(m);
	ct[KT_SEAL_OVERHEAD + 1] ^= 0x01;
	assert_int_equal(kt_device_keys_open(a, ct, 5 + KT_SEAL_OVERHEAD, &m, &n),
			 KT_ERR_CLIENT_DECRYPT);
	assert_int_equal(kt_device_keys_open(a, ct, KT_SEAL_OVERHEAD - 1, &m, &n),
			 KT_ERR_CLIENT_DECRYPT);
	kt_device_keys_free(a);
	kt_device_keys_free(b);
}

static void test_seal_round_trip(void **state)
{
	static const char msg[] = "meet at noon";
	fixture *f = *state;
	kt_client_config *cfg = cf_config(&f->srv, NULL, 1, 0);
	kt_device_keys *phone = cf_slot_keys(&f->srv, CF_PHONE);
	kt_device_keys *laptop = cf_slot_keys(&f->srv, CF_LAPTOP);
	kt_device_keys *other = NULL;
	kt_client *c = NULL;
	kt_sealed *s = NULL;
	kt_sealed_item it[2], none;
	uint8_t *m = NULL, *ct;
	size_t n = 0, i;

	assert_non_null(cfg);
	assert_int_equal(kt_client_open(cfg, &c, NULL, 0), KT_OK);
	assert_int_equal(kt_client_seal(c, (const uint8_t *)CF_ALICE,
					strlen(CF_ALICE), (const uint8_t *)msg,
					sizeof(msg), &s), KT_OK);
	assert_int_equal(kt_sealed_count(s), 2);
	assert_int_equal(kt_sealed_version(s), 2);
	assert_int_equal(kt_sealed_tree_size(s), 2);
	for (i = 0; i < 2; i++)
		assert_int_equal(kt_sealed_get(s, i, &it[i]), KT_OK);
	assert_int_equal(kt_sealed_get(s, 2, &none), KT_ERR_INVALID_ARG);
	assert_null(none.ciphertext);
	/* Devices in id order: laptop, phone. */
	assert_memory_equal(it[0].device_id, "laptop", 6);
	assert_memory_equal(it[1].device_id, "phone", 5);
	assert_int_equal(it[1].ciphertext_len, sizeof(msg) + KT_SEAL_OVERHEAD);
	assert_int_equal(kt_device_keys_open(laptop, it[0].ciphertext,
					     it[0].ciphertext_len, &m, &n), KT_OK);
	assert_memory_equal(m, msg, sizeof(msg));
	free(m);
	assert_int_equal(kt_device_keys_open(phone, it[1].ciphertext,
					     it[1].ciphertext_len, &m, &n), KT_OK);
	assert_int_equal(n, sizeof(msg));
	assert_memory_equal(m, msg, sizeof(msg));
	free(m);
	/* Twins: the other device's key; a device that is not listed; a
	 * tampered ciphertext. */
	assert_int_equal(kt_device_keys_open(phone, it[0].ciphertext,
					     it[0].ciphertext_len, &m, &n),
			 KT_ERR_CLIENT_DECRYPT);
	assert_int_equal(kt_device_keys_generate(NULL, 0, &other), KT_OK);
	assert_int_equal(kt_device_keys_open(other, it[1].ciphertext,
					     it[1].ciphertext_len, &m, &n),
			 KT_ERR_CLIENT_DECRYPT);
	ct = malloc(it[1].ciphertext_len);
	assert_non_null(ct);
	memcpy(ct, it[1].ciphertext, it[1].ciphertext_len);
	ct[it[1].ciphertext_len - 1] ^= 0x80;
	assert_int_equal(kt_device_keys_open(phone, ct, it[1].ciphertext_len, &m, &n),
			 KT_ERR_CLIENT_DECRYPT);
	free(ct);
	kt_sealed_free(s);
	s = NULL;

	/* Absent account: nothing to seal to. */
	assert_int_equal(kt_client_seal(c, (const uint8_t *)CF_BOB, strlen(CF_BOB),
					(const uint8_t *)msg, sizeof(msg), &s),
			 KT_ERR_CLIENT_NO_DEVICES);
	assert_null(s);
	/* A failed verification: no ciphertext at all. */
	f->srv.tamper = CF_TAMPER_OPENING;
	s = (kt_sealed *)(uintptr_t)1;
	assert_int_equal(kt_client_seal(c, (const uint8_t *)CF_ALICE,
					strlen(CF_ALICE), (const uint8_t *)msg,
					sizeof(msg), &s), KT_ERR_CLIENT_OPENING);
	assert_null(s);
	f->srv.tamper = 0;
	/* Over the cap: refused before any lookup. */
	f->srv.calls = 0;
	assert_int_equal(kt_client_seal(c, (const uint8_t *)CF_ALICE,
					strlen(CF_ALICE), (const uint8_t *)msg,
					KT_SEAL_MAX_MESSAGE + 1, &s),
			 KT_ERR_TOO_LARGE);
	assert_int_equal(f->srv.calls, 0);
	kt_device_keys_free(other);
	kt_device_keys_free(phone);
	kt_device_keys_free(laptop);
	kt_client_close(c);
	kt_client_config_free(cfg);
}

/* ---- registrar tokens --------------------------------------------------------- */

static void test_registrar_token_file(void **state)
{
	fixture *f = *state;
	kt_note_signer reg;
	kt_registrar_token tok;
	kt_device_keys *k = NULL;
	kt_device_spec spec;
	kt_device dev;
	kt_sign_key rk;
	kt_signature sig;
	uint8_t seed[32];
	char *rs = NULL, path[128];
	size_t rs_len = 0;

	memset(seed, 0x33, sizeof(seed));
	assert_int_equal(kt_note_signer_from_seed(&reg, "registrar", 9,
						  KT_NOTE_KEY_ED25519, seed), KT_OK);
	assert_int_equal(kt_note_signer_format(&reg, &rs, &rs_len), KT_OK);
	path_in(f, "registrar.key", path, sizeof(path));
	{
		char *line = malloc(rs_len + 2);

		assert_non_null(line);
		memcpy(line, rs, rs_len);
		line[rs_len] = '\n';
		write_raw(path, (const uint8_t *)line, rs_len + 1, 0600);
		free(line);
	}
	assert_int_equal(kt_device_keys_generate((const uint8_t *)"phone", 5, &k),
			 KT_OK);
	kt_device_keys_spec(k, (const uint8_t *)"apns:1", 6, KT_DEVICE_KIND_PRIMARY,
			    &spec);
	assert_int_equal(kt_registrar_token_make_file(path, (const uint8_t *)CF_ALICE,
						      strlen(CF_ALICE), &spec, 99,
						      &tok), KT_OK);
	assert_memory_equal(tok.registrar_pk, reg.pub.pk, 32);
	assert_int_equal(kt_client_spec_to_device(&spec, &dev), KT_OK);
	rk.type = KT_SIGN_KEY_ED25519;
	memcpy(rk.pk, tok.registrar_pk, 32);
	sig.type = KT_SIG_ED25519;
	memcpy(sig.sig, tok.signature, 64);
	assert_int_equal(kt_registrar_token_verify(&rk, &sig, (const uint8_t *)CF_ALICE,
						   strlen(CF_ALICE), &dev, 99), KT_OK);
	/* Twins: another push address, another expiry. */
	dev.push[0] ^= 0x01;
	assert_int_equal(kt_registrar_token_verify(&rk, &sig, (const uint8_t *)CF_ALICE,
						   strlen(CF_ALICE), &dev, 99),
			 KT_ERR_BAD_SIGNATURE);
	dev.push[0] ^= 0x01;
	assert_int_equal(kt_registrar_token_verify(&rk, &sig, (const uint8_t *)CF_ALICE,
						   strlen(CF_ALICE), &dev, 100),
			 KT_ERR_BAD_SIGNATURE);
	/* A readable registrar key file is refused; a witness key is no
	 * registrar key; garbage is no key. */
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(kt_registrar_token_make_file(path, (const uint8_t *)CF_ALICE,
						      strlen(CF_ALICE), &spec, 99,
						      &tok), KT_ERR_CLIENT_KEY_FILE);
	kt_note_signer_wipe(&reg);
	sodium_memzero(rs, rs_len);
	free(rs);
	assert_int_equal(kt_note_signer_from_seed(&reg, "witness", 7,
						  KT_NOTE_KEY_COSIG_V1, seed), KT_OK);
	assert_int_equal(kt_note_signer_format(&reg, &rs, &rs_len), KT_OK);
	assert_int_equal(kt_registrar_token_make(rs, (const uint8_t *)CF_ALICE,
						 strlen(CF_ALICE), &spec, 99, &tok),
			 KT_ERR_BAD_KEY_TYPE);
	assert_int_not_equal(kt_registrar_token_make("PRIVATE+KEY+x", (const uint8_t *)CF_ALICE,
						     strlen(CF_ALICE), &spec, 99, &tok),
			     KT_OK);
	spec.kind = 9;
	assert_int_equal(kt_registrar_token_make(rs, (const uint8_t *)CF_ALICE,
						 strlen(CF_ALICE), &spec, 99, &tok),
			 KT_ERR_INVALID_ARG);
	kt_note_signer_wipe(&reg);
	sodium_memzero(rs, rs_len);
	free(rs);
	kt_device_keys_free(k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_keys_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keys_bad_files, setup, teardown),
		cmocka_unit_test(test_open_twins),
		cmocka_unit_test_setup_teardown(test_seal_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_registrar_token_file, setup, teardown),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
