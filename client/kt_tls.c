/*
 * kt_tls.c — the TLS client identity of libkeytrail: reads a PEM
 * certificate chain and its private key and checks, with OpenSSL's
 * libcrypto (the library gRPC's TLS uses here), that they are a pair, so
 * that a wrong file fails at kt_client_open with a clear error instead of
 * every TLS handshake failing later.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <sodium.h>

#include "client_int.h"

#define TLS_CERT_MAX (1024u * 1024u)
#define TLS_KEY_MAX (64u * 1024u)

/* Never prompts for a passphrase: an encrypted key is refused. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

/* Copies p[0..len) into a heap NUL-terminated string; wipes p. */
static int to_string(uint8_t *p, size_t len, char **out)
{
	char *s = malloc(len + 1);

	if (s != NULL) {
		memcpy(s, p, len);
		s[len] = '\0';
	}
	sodium_memzero(p, len);
	free(p);
	*out = s;
	return s != NULL ? KT_OK : KT_ERR_NOMEM;
}

/* KT_OK if the first certificate of cert_pem parses and key_pem holds its
 * private key. */
static int check_pair(const char *cert_pem, const char *key_pem, char *err,
		      size_t errlen)
{
	BIO *cb = NULL, *kb = NULL;
	X509 *x = NULL;
	EVP_PKEY *k = NULL;
	int r = KT_ERR_CLIENT_TLS_CERT;

	cb = BIO_new_mem_buf(cert_pem, -1);
	kb = BIO_new_mem_buf(key_pem, -1);
	if (cb == NULL || kb == NULL) {
		r = KT_ERR_NOMEM;
		goto out;
	}
	x = PEM_read_bio_X509(cb, NULL, no_passphrase, NULL);
	if (x == NULL) {
		kt_err_format(err, errlen, "tls_client_cert: no PEM certificate");
		goto out;
	}
	k = PEM_read_bio_PrivateKey(kb, NULL, no_passphrase, NULL);
	if (k == NULL) {
		kt_err_format(err, errlen,
			      "tls_client_key: no unencrypted PEM private key");
		goto out;
	}
	if (X509_check_private_key(x, k) != 1) {
		kt_err_format(err, errlen, "tls_client_key is not the key of "
					   "tls_client_cert");
		goto out;
	}
	r = KT_OK;
out:
	EVP_PKEY_free(k);
	X509_free(x);
	BIO_free(kb);
	BIO_free(cb);
	ERR_clear_error(); /* leave no stale errors to gRPC's TLS */
	return r;
}

int kt_tls_identity_read(const char *cert_path, const char *key_path,
			 char **cert_pem, char **key_pem, char *err,
			 size_t errlen)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	char *cert = NULL, *key = NULL;
	int r;

	*cert_pem = NULL;
	*key_pem = NULL;
	r = kt_read_file(cert_path, TLS_CERT_MAX, &buf, &len);
	if (r != KT_OK) {
		kt_err_format(err, errlen, "cannot read tls_client_cert %s: %s",
			      cert_path, kt_strerror(r));
		r = r == KT_ERR_NOMEM || r == KT_ERR_TOO_LARGE ? r : KT_ERR_IO;
		goto out;
	}
	r = to_string(buf, len, &cert);
	if (r != KT_OK)
		goto out;
	r = kt_read_secret_file(key_path, TLS_KEY_MAX, &buf, &len);
	if (r != KT_OK) {
		kt_err_format(err, errlen, "cannot read tls_client_key %s: %s%s",
			      key_path, kt_strerror(r),
			      r == KT_ERR_CLIENT_KEY_FILE
				      ? " (chmod 600; no symlink)" : "");
		if (r != KT_ERR_CLIENT_KEY_FILE && r != KT_ERR_NOMEM &&
		    r != KT_ERR_TOO_LARGE)
			r = KT_ERR_IO;
		goto out;
	}
	r = to_string(buf, len, &key);
	if (r != KT_OK)
		goto out;
	r = check_pair(cert, key, err, errlen);
	if (r != KT_OK)
		goto out;
	*cert_pem = cert;
	*key_pem = key;
	cert = key = NULL;
out:
	free(cert);
	if (key != NULL) {
		sodium_memzero(key, strlen(key));
		free(key);
	}
	return r;
}
