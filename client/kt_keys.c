/*
 * kt_keys.c — device keys (generation, key files, sealed boxes) and
 * registrar tokens.  Key file encoding: docs/PROTOCOL.md §7.2.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "client_int.h"
#include "file_int.h"

#define KEYS_DOMAIN "keytrail/v1/device-keys"
#define KEYS_MAX_BYTES (1 + (sizeof(KEYS_DOMAIN) - 1) + 1 + KT_DEVICE_ID_MAX + 64) /* 153 */
#define REGISTRAR_FILE_MAX 4096u

_Static_assert(KT_DEVICE_KIND_PRIMARY == KT_DEVICE_PRIMARY &&
		       KT_DEVICE_KIND_OTHER == KT_DEVICE_OTHER,
	       "device kinds");
_Static_assert(KT_SEAL_OVERHEAD == crypto_box_SEALBYTES, "seal overhead");
_Static_assert(KT_DEVICE_SIGN_PK_BYTES == KT_ED25519_PK_BYTES &&
		       KT_DEVICE_ENC_PK_BYTES == KT_X25519_PK_BYTES &&
		       KT_REGISTRAR_SIG_BYTES == KT_ED25519_SIG_BYTES,
	       "key sizes");

static kt_device_keys *keys_alloc(void)
{
	kt_device_keys *k = calloc(1, sizeof(*k));

	return k;
}

void kt_device_keys_free(kt_device_keys *k)
{
	if (k == NULL)
		return;
	sodium_memzero(k, sizeof(*k));
	free(k);
}

/* Derives both public keys from the secrets (sign_sk's seed, enc_sk). */
static int keys_derive(kt_device_keys *k)
{
	uint8_t seed[32];
	int r = KT_OK;

	memcpy(seed, k->sign_sk, sizeof(seed));
	if (crypto_sign_seed_keypair(k->sign_pk, k->sign_sk, seed) != 0 ||
	    crypto_scalarmult_base(k->enc_pk, k->enc_sk) != 0)
		r = KT_ERR_INTERNAL;
	sodium_memzero(seed, sizeof(seed));
	return r;
}

int kt_device_keys_generate(const uint8_t *id, size_t id_len,
			    kt_device_keys **out)
{
	kt_device_keys *k;
	uint8_t rnd[16];
	char hex[2 * sizeof(rnd) + 1];

	if (out == NULL)
		return KT_ERR_INVALID_ARG;
	*out = NULL;
	if (id != NULL && (id_len < KT_DEVICE_ID_MIN || id_len > KT_DEVICE_ID_MAX))
		return KT_ERR_INVALID_ARG;
	if (sodium_init() < 0)
		return KT_ERR_INTERNAL;
	k = keys_alloc();
	if (k == NULL)
		return KT_ERR_NOMEM;
	if (id != NULL) {
		memcpy(k->id, id, id_len);
		k->id_len = id_len;
	} else {
		randombytes_buf(rnd, sizeof(rnd));
		sodium_bin2hex(hex, sizeof(hex), rnd, sizeof(rnd));
		memcpy(k->id, hex, 2 * sizeof(rnd));
		k->id_len = 2 * sizeof(rnd);
	}
	randombytes_buf(k->sign_sk, 32);      /* the seed */
	randombytes_buf(k->enc_sk, sizeof(k->enc_sk));
	if (keys_derive(k) != KT_OK) {
		kt_device_keys_free(k);
		return KT_ERR_INTERNAL;
	}
	*out = k;
	return KT_OK;
}

const uint8_t *kt_device_keys_id(const kt_device_keys *k, size_t *id_len)
{
	if (k == NULL) {
		if (id_len != NULL)
			*id_len = 0;
		return NULL;
	}
	if (id_len != NULL)
		*id_len = k->id_len;
	return k->id;
}

void kt_device_keys_sign_pk(const kt_device_keys *k,
			    uint8_t out[KT_DEVICE_SIGN_PK_BYTES])
{
	if (k != NULL && out != NULL)
		memcpy(out, k->sign_pk, KT_DEVICE_SIGN_PK_BYTES);
}

void kt_device_keys_enc_pk(const kt_device_keys *k,
			   uint8_t out[KT_DEVICE_ENC_PK_BYTES])
{
	if (k != NULL && out != NULL)
		memcpy(out, k->enc_pk, KT_DEVICE_ENC_PK_BYTES);
}

/* ---- key files ------------------------------------------------------------ */

int kt_device_keys_encode(const kt_device_keys *k, uint8_t **out,
			  size_t *out_len)
{
	kt_wbuf w;

	*out = NULL;
	*out_len = 0;
	if (k->id_len < KT_DEVICE_ID_MIN || k->id_len > KT_DEVICE_ID_MAX)
		return KT_ERR_INVALID_ARG;
	kt_wbuf_init(&w, KEYS_MAX_BYTES);
	kt_put_vec8(&w, (const uint8_t *)KEYS_DOMAIN, strlen(KEYS_DOMAIN));
	kt_put_vec8(&w, k->id, k->id_len);
	kt_put_fixed(&w, k->sign_sk, 32);
	kt_put_fixed(&w, k->enc_sk, sizeof(k->enc_sk));
	return kt_wbuf_take(&w, out, out_len); /* kt_wbuf_free wipes on error */
}

int kt_device_keys_decode(kt_device_keys *k, const uint8_t *p, size_t len)
{
	const uint8_t *d, *id;
	size_t dlen, idlen;
	kt_rbuf rd;

	memset(k, 0, sizeof(*k));
	kt_rbuf_init(&rd, p, len);
	d = kt_get_vec8(&rd, 1, 255, &dlen);
	id = kt_get_vec8(&rd, KT_DEVICE_ID_MIN, KT_DEVICE_ID_MAX, &idlen);
	kt_get_fixed(&rd, k->sign_sk, 32);
	kt_get_fixed(&rd, k->enc_sk, sizeof(k->enc_sk));
	if (kt_rbuf_finish(&rd) != KT_OK || dlen != strlen(KEYS_DOMAIN) ||
	    memcmp(d, KEYS_DOMAIN, dlen) != 0) {
		sodium_memzero(k, sizeof(*k));
		return KT_ERR_CLIENT_KEY_FILE;
	}
	memcpy(k->id, id, idlen);
	k->id_len = idlen;
	if (keys_derive(k) != KT_OK) {
		sodium_memzero(k, sizeof(*k));
		return KT_ERR_CLIENT_KEY_FILE;
	}
	return KT_OK;
}

int kt_device_keys_save(const kt_device_keys *k, const char *path)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int r;

	if (k == NULL || path == NULL)
		return KT_ERR_INVALID_ARG;
	r = kt_device_keys_encode(k, &buf, &len);
	if (r != KT_OK)
		return r;
	r = kt_write_file_excl(path, buf, len);
	sodium_memzero(buf, len);
	free(buf);
	return r;
}

int kt_device_keys_load(const char *path, kt_device_keys **out)
{
	kt_device_keys *k = NULL;
	uint8_t *buf = NULL;
	size_t len = 0;
	int r;

	if (out == NULL)
		return KT_ERR_INVALID_ARG;
	*out = NULL;
	if (path == NULL)
		return KT_ERR_INVALID_ARG;
	if (sodium_init() < 0)
		return KT_ERR_INTERNAL;
	r = kt_read_secret_file(path, KEYS_MAX_BYTES, &buf, &len);
	if (r == KT_ERR_TOO_LARGE)
		r = KT_ERR_CLIENT_KEY_FILE;
	if (r != KT_OK)
		goto out;
	k = keys_alloc();
	if (k == NULL) {
		r = KT_ERR_NOMEM;
		goto out;
	}
	r = kt_device_keys_decode(k, buf, len);
	if (r != KT_OK)
		goto out;
	*out = k;
	k = NULL;
out:
	if (buf != NULL)
		sodium_memzero(buf, len);
	free(buf);
	kt_device_keys_free(k);
	return r;
}

/* ---- sealed boxes ---------------------------------------------------------- */

int kt_device_keys_open(const kt_device_keys *k, const uint8_t *ct,
			size_t ct_len, uint8_t **msg, size_t *msg_len)
{
	uint8_t *m;
	size_t n;

	if (msg == NULL || msg_len == NULL)
		return KT_ERR_INVALID_ARG;
	*msg = NULL;
	*msg_len = 0;
	if (k == NULL || (ct == NULL && ct_len > 0))
		return KT_ERR_INVALID_ARG;
	if (ct_len > (size_t)KT_SEAL_MAX_MESSAGE + crypto_box_SEALBYTES)
		return KT_ERR_TOO_LARGE;
	if (ct_len < crypto_box_SEALBYTES)
		return KT_ERR_CLIENT_DECRYPT;
	if (sodium_init() < 0)
		return KT_ERR_INTERNAL;
	n = ct_len - crypto_box_SEALBYTES;
	m = malloc(n > 0 ? n : 1);
	if (m == NULL)
		return KT_ERR_NOMEM;
	if (crypto_box_seal_open(m, ct, ct_len, k->enc_pk, k->enc_sk) != 0) {
		sodium_memzero(m, n > 0 ? n : 1);
		free(m);
		return KT_ERR_CLIENT_DECRYPT;
	}
	*msg = m;
	*msg_len = n;
	return KT_OK;
}

/* ---- device specs -------------------------------------------------------- */

void kt_device_keys_spec(const kt_device_keys *k, const uint8_t *push,
			 size_t push_len, int kind, kt_device_spec *out)
{
	if (out == NULL)
		return;
	memset(out, 0, sizeof(*out));
	if (k == NULL)
		return;
	out->id = k->id;
	out->id_len = k->id_len;
	memcpy(out->sign_pk, k->sign_pk, sizeof(out->sign_pk));
	memcpy(out->enc_pk, k->enc_pk, sizeof(out->enc_pk));
	out->push = push;
	out->push_len = push_len;
	out->kind = kind;
}

int kt_client_spec_to_device(const kt_device_spec *spec, kt_device *out)
{
	memset(out, 0, sizeof(*out));
	if (spec == NULL || spec->id == NULL || spec->id_len < KT_DEVICE_ID_MIN ||
	    spec->id_len > KT_DEVICE_ID_MAX || spec->push_len > KT_PUSH_ADDRESS_MAX ||
	    (spec->push == NULL && spec->push_len > 0) ||
	    spec->kind < KT_DEVICE_KIND_PRIMARY || spec->kind > KT_DEVICE_KIND_OTHER)
		return KT_ERR_INVALID_ARG;
	memcpy(out->id, spec->id, spec->id_len);
	out->id_len = spec->id_len;
	out->sign_pk.type = KT_SIGN_KEY_ED25519;
	memcpy(out->sign_pk.pk, spec->sign_pk, KT_ED25519_PK_BYTES);
	out->enc_pk.type = KT_ENC_KEY_X25519;
	memcpy(out->enc_pk.pk, spec->enc_pk, KT_X25519_PK_BYTES);
	if (spec->push_len > 0)
		memcpy(out->push, spec->push, spec->push_len);
	out->push_len = spec->push_len;
	out->kind = (uint8_t)spec->kind;
	return KT_OK;
}

/* ---- registrar tokens ------------------------------------------------------ */

int kt_registrar_token_make(const char *registrar_key, const uint8_t *account,
			    size_t account_len, const kt_device_spec *spec,
			    uint64_t expiry_ms, kt_registrar_token *out)
{
	kt_note_signer signer;
	kt_device dev;
	kt_signature sig;
	kt_wbuf w;
	int r;

	if (out == NULL)
		return KT_ERR_INVALID_ARG;
	memset(out, 0, sizeof(*out));
	if (registrar_key == NULL || account == NULL)
		return KT_ERR_INVALID_ARG;
	if (sodium_init() < 0)
		return KT_ERR_INTERNAL;
	r = kt_client_spec_to_device(spec, &dev);
	if (r != KT_OK)
		return r;
	r = kt_note_signer_parse(&signer, registrar_key, strlen(registrar_key));
	if (r != KT_OK)
		return r;
	if (signer.pub.type != KT_NOTE_KEY_ED25519) {
		r = KT_ERR_BAD_KEY_TYPE;
		goto out;
	}
	kt_wbuf_init(&w, KT_REGISTRAR_TOKEN_MESSAGE_MAX_BYTES);
	r = kt_registrar_token_message(&w, account, account_len, &dev, expiry_ms);
	if (r == KT_OK)
		r = kt_wbuf_error(&w);
	if (r == KT_OK)
		r = kt_sig_sign(&sig, signer.sk, w.data, w.len);
	kt_wbuf_free(&w);
	if (r != KT_OK) {
		if (r != KT_ERR_NOMEM && r != KT_ERR_INTERNAL)
			r = KT_ERR_INVALID_ARG;
		goto out;
	}
	memcpy(out->registrar_pk, signer.pub.pk, KT_ED25519_PK_BYTES);
	out->expiry_ms = expiry_ms;
	memcpy(out->signature, sig.sig, KT_ED25519_SIG_BYTES);
out:
	kt_note_signer_wipe(&signer);
	return r;
}

int kt_registrar_token_make_file(const char *key_path, const uint8_t *account,
				 size_t account_len, const kt_device_spec *spec,
				 uint64_t expiry_ms, kt_registrar_token *out)
{
	uint8_t *buf = NULL;
	size_t len = 0, n = 0;
	char *key;
	int r;

	if (out == NULL)
		return KT_ERR_INVALID_ARG;
	memset(out, 0, sizeof(*out));
	r = kt_read_secret_file(key_path, REGISTRAR_FILE_MAX, &buf, &len);
	if (r == KT_ERR_TOO_LARGE)
		r = KT_ERR_CLIENT_KEY_FILE;
	if (r != KT_OK)
		return r;
	/* The first line, without its end. */
	while (n < len && buf[n] != '\n' && buf[n] != '\r' && buf[n] != '\0')
		n++;
	key = malloc(n + 1);
	if (key == NULL) {
		r = KT_ERR_NOMEM;
		goto out;
	}
	memcpy(key, buf, n);
	key[n] = '\0';
	r = kt_registrar_token_make(key, account, account_len, spec, expiry_ms,
				    out);
	sodium_memzero(key, n + 1);
	free(key);
out:
	sodium_memzero(buf, len);
	free(buf);
	return r;
}
