/*
 * kt_seal.c — sealing a message to every device of an account.
 *
 * The only source of keys here is a kt_lookup, and the only constructor of
 * a kt_lookup is kt_client_lookup, which returns one only after
 * kt_verify_head and kt_verify_lookup accepted the answer: no code path
 * encrypts to a key that was not verified.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "client_int.h"

typedef struct sealed_copy {
	uint8_t id[KT_DEVICE_ID_MAX];
	size_t id_len;
	uint8_t push[KT_PUSH_ADDRESS_MAX];
	size_t push_len;
	uint8_t *ct;                  /* heap */
	size_t ct_len;
} sealed_copy;

struct kt_sealed {
	sealed_copy *copies;          /* heap, n */
	size_t n;
	uint64_t version;
	uint64_t tree_size;
};

void kt_sealed_free(kt_sealed *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->n; i++)
		free(s->copies[i].ct);
	free(s->copies);
	free(s);
}

static int seal_one(sealed_copy *cp, const kt_device_info *d,
		    const uint8_t *msg, size_t msg_len)
{
	memcpy(cp->id, d->id, d->id_len);
	cp->id_len = d->id_len;
	if (d->push_len > 0)
		memcpy(cp->push, d->push, d->push_len);
	cp->push_len = d->push_len;
	cp->ct_len = msg_len + crypto_box_SEALBYTES;
	cp->ct = malloc(cp->ct_len);
	if (cp->ct == NULL)
		return KT_ERR_NOMEM;
	/* d->enc_pk was validated by kt_verify_lookup. */
	if (crypto_box_seal(cp->ct, msg, msg_len, d->enc_pk) != 0)
		return KT_ERR_INTERNAL;
	return KT_OK;
}

int kt_client_seal(kt_client *c, const uint8_t *account, size_t account_len,
		   const uint8_t *msg, size_t msg_len, kt_sealed **out)
{
	kt_lookup *l = NULL;
	kt_sealed *s = NULL;
	kt_device_info d;
	size_t i, n;
	int r;

	if (out == NULL)
		return KT_ERR_INVALID_ARG;
	*out = NULL;
	if (c == NULL || (msg == NULL && msg_len > 0))
		return KT_ERR_INVALID_ARG;
	if (msg_len > KT_SEAL_MAX_MESSAGE)
		return KT_ERR_TOO_LARGE;
	r = kt_client_lookup(c, account, account_len, &l);
	if (r != KT_OK)
		return r;
	n = kt_lookup_device_count(l);
	if (n == 0) {
		r = KT_ERR_CLIENT_NO_DEVICES;
		goto out;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL || (s->copies = calloc(n, sizeof(*s->copies))) == NULL) {
		r = KT_ERR_NOMEM;
		goto out;
	}
	s->version = kt_lookup_version(l);
	s->tree_size = kt_lookup_tree_size(l);
	for (i = 0; i < n; i++) {
		r = kt_lookup_device(l, i, &d);
		if (r == KT_OK) {
			s->n = i + 1;
			r = seal_one(&s->copies[i], &d, msg, msg_len);
		}
		if (r != KT_OK)
			goto out;
	}
	*out = s;
	s = NULL;
out:
	kt_sealed_free(s);
	kt_lookup_free(l);
	return r;
}

size_t kt_sealed_count(const kt_sealed *s)
{
	return s != NULL ? s->n : 0;
}

int kt_sealed_get(const kt_sealed *s, size_t i, kt_sealed_item *out)
{
	const sealed_copy *cp;

	if (out == NULL)
		return KT_ERR_INVALID_ARG;
	memset(out, 0, sizeof(*out));
	if (s == NULL || i >= s->n)
		return KT_ERR_INVALID_ARG;
	cp = &s->copies[i];
	out->device_id = cp->id;
	out->device_id_len = cp->id_len;
	out->push = cp->push_len > 0 ? cp->push : NULL;
	out->push_len = cp->push_len;
	out->ciphertext = cp->ct;
	out->ciphertext_len = cp->ct_len;
	return KT_OK;
}

uint64_t kt_sealed_version(const kt_sealed *s)
{
	return s != NULL ? s->version : 0;
}

uint64_t kt_sealed_tree_size(const kt_sealed *s)
{
	return s != NULL ? s->tree_size : 0;
}
