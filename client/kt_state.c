/*
 * kt_state.c — the client state file: the trust state (kt_verify.h) plus,
 * per monitored account, the last version checked.  Encoding in
 * docs/PROTOCOL.md §7.1.
 */
#include <stdlib.h>
#include <string.h>

#include "client_int.h"
#include "file_int.h"

#define STATE_DOMAIN "keytrail/v1/client-state"
/* The encoded trust state: two notes and their fixed fields. */
#define STATE_TRUST_MAX (2u * (KT_VERIFY_MAX_NOTE_BYTES + 128u) + 64u)

void kt_client_state_init(kt_client_state *s)
{
	kt_trust_state_init(&s->trust);
	s->accts = NULL;
	s->n = 0;
}

void kt_client_state_free(kt_client_state *s)
{
	size_t i;

	if (s == NULL)
		return;
	kt_trust_state_free(&s->trust);
	for (i = 0; i < s->n; i++)
		kt_account_value_free(&s->accts[i].value);
	free(s->accts);
	s->accts = NULL;
	s->n = 0;
}

static int acct_copy(kt_acct_state *dst, const kt_acct_state *src)
{
	*dst = *src;
	kt_account_value_init(&dst->value);
	return kt_account_value_copy(&dst->value, &src->value);
}

int kt_client_state_copy(kt_client_state *dst, const kt_client_state *src)
{
	size_t i;
	int r;

	kt_client_state_init(dst);
	r = kt_trust_state_copy(&dst->trust, &src->trust);
	if (r != KT_OK)
		return r;
	if (src->n == 0)
		return KT_OK;
	dst->accts = calloc(src->n, sizeof(*dst->accts));
	if (dst->accts == NULL) {
		kt_client_state_free(dst);
		return KT_ERR_NOMEM;
	}
	for (i = 0; i < src->n; i++) {
		r = acct_copy(&dst->accts[i], &src->accts[i]);
		dst->n = i + 1;
		if (r != KT_OK) {
			kt_client_state_free(dst);
			return r;
		}
	}
	return KT_OK;
}

/* Position of account in s->accts, or where it would go (*found 0). */
static size_t acct_pos(const kt_client_state *s, const uint8_t *account,
		       size_t len, int *found)
{
	size_t lo = 0, hi = s->n;

	*found = 0;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = kt_device_id_cmp(s->accts[mid].account,
					 s->accts[mid].account_len, account, len);

		if (c == 0) {
			*found = 1;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

const kt_acct_state *kt_client_state_find(const kt_client_state *s,
					  const uint8_t *account, size_t len)
{
	int found;
	size_t i;

	if (s == NULL || account == NULL)
		return NULL;
	i = acct_pos(s, account, len, &found);
	return found ? &s->accts[i] : NULL;
}

int kt_client_state_put(kt_client_state *s, const uint8_t *account, size_t len,
			uint64_t version, const uint8_t history[KT_HASH_BYTES],
			int value_known, const kt_account_value *value)
{
	kt_acct_state a, *grown;
	int found, r;
	size_t i;

	if (len < KT_ACCOUNT_MIN || len > KT_ACCOUNT_MAX || version == 0 ||
	    (value_known && value == NULL))
		return KT_ERR_INVALID_ARG;
	memset(&a, 0, sizeof(a));
	memcpy(a.account, account, len);
	a.account_len = len;
	a.version = version;
	memcpy(a.history, history, KT_HASH_BYTES);
	a.value_known = value_known != 0;
	kt_account_value_init(&a.value);
	if (value_known) {
		r = kt_account_value_copy(&a.value, value);
		if (r != KT_OK)
			return r;
	}
	i = acct_pos(s, account, len, &found);
	if (found) {
		kt_account_value_free(&s->accts[i].value);
		s->accts[i] = a;
		return KT_OK;
	}
	if (s->n >= KT_CLIENT_MAX_ACCOUNTS) {
		kt_account_value_free(&a.value);
		return KT_ERR_TOO_LARGE;
	}
	grown = realloc(s->accts, (s->n + 1) * sizeof(*grown));
	if (grown == NULL) {
		kt_account_value_free(&a.value);
		return KT_ERR_NOMEM;
	}
	s->accts = grown;
	memmove(&s->accts[i + 1], &s->accts[i], (s->n - i) * sizeof(*grown));
	s->accts[i] = a;
	s->n++;
	return KT_OK;
}

/* ---- encoding ------------------------------------------------------------- */

static void put_acct(kt_wbuf *w, const kt_acct_state *a)
{
	kt_wbuf v;
	uint8_t *vb = NULL;
	size_t vlen = 0;

	kt_put_vec8(w, a->account, a->account_len);
	kt_put_u64(w, a->version);
	kt_put_fixed(w, a->history, KT_HASH_BYTES);
	kt_put_u8(w, a->value_known ? 1 : 0);
	if (!a->value_known) {
		kt_put_vec32(w, NULL, 0);
		return;
	}
	kt_wbuf_init(&v, KT_VALUE_MAX_BYTES);
	if (kt_account_value_encode(&v, &a->value) != KT_OK ||
	    kt_wbuf_take(&v, &vb, &vlen) != KT_OK) {
		kt_wbuf_free(&v);
		kt_put_vec32(w, NULL, 0);
		w->err = w->err != KT_OK ? w->err : KT_ERR_INVALID_ARG;
		return;
	}
	kt_put_vec32(w, vb, vlen);
	free(vb);
}

int kt_client_state_encode(const kt_client_state *s, uint8_t **out,
			   size_t *out_len)
{
	uint8_t *tb = NULL;
	size_t tlen = 0, i;
	kt_wbuf w;
	int r;

	if (out == NULL || out_len == NULL)
		return KT_ERR_INVALID_ARG;
	*out = NULL;
	*out_len = 0;
	if (s == NULL || s->n > KT_CLIENT_MAX_ACCOUNTS)
		return KT_ERR_INVALID_ARG;
	r = kt_trust_state_encode(&s->trust, &tb, &tlen);
	if (r != KT_OK)
		return r;
	kt_wbuf_init(&w, KT_CLIENT_MAX_STATE_BYTES);
	kt_put_vec8(&w, (const uint8_t *)STATE_DOMAIN, strlen(STATE_DOMAIN));
	kt_put_vec32(&w, tb, tlen);
	kt_put_u32(&w, (uint32_t)s->n);
	for (i = 0; i < s->n; i++) {
		if (i > 0 && kt_device_id_cmp(s->accts[i - 1].account,
					      s->accts[i - 1].account_len,
					      s->accts[i].account,
					      s->accts[i].account_len) >= 0)
			w.err = w.err != KT_OK ? w.err : KT_ERR_NONCANONICAL;
		put_acct(&w, &s->accts[i]);
	}
	free(tb);
	return kt_wbuf_take(&w, out, out_len);
}

static int get_acct(kt_rbuf *rd, kt_acct_state *a)
{
	const uint8_t *p;
	size_t n;
	uint8_t known;

	memset(a, 0, sizeof(*a));
	kt_account_value_init(&a->value);
	p = kt_get_vec8(rd, KT_ACCOUNT_MIN, KT_ACCOUNT_MAX, &n);
	if (p == NULL)
		return KT_ERR_CLIENT_STATE;
	if (kt_account_check(p, n) != KT_OK)
		return KT_ERR_CLIENT_STATE;
	memcpy(a->account, p, n);
	a->account_len = n;
	a->version = kt_get_u64(rd);
	kt_get_fixed(rd, a->history, KT_HASH_BYTES);
	known = kt_get_u8(rd);
	p = kt_get_vec32(rd, 0, KT_VALUE_MAX_BYTES, &n);
	if (rd->err != KT_OK || a->version == 0 || known > 1 ||
	    (known == 0 && n != 0))
		return KT_ERR_CLIENT_STATE;
	a->value_known = known;
	if (known && kt_account_value_decode(&a->value, p, n) != KT_OK)
		return KT_ERR_CLIENT_STATE;
	return KT_OK;
}

int kt_client_state_decode(kt_client_state *s, const kt_trust_config *cfg,
			   const uint8_t *p, size_t len)
{
	static const char dom[] = STATE_DOMAIN;
	const uint8_t *d, *tb;
	size_t dlen, tlen, i;
	uint32_t n;
	kt_rbuf rd;
	int r;

	if (s == NULL)
		return KT_ERR_INVALID_ARG;
	kt_client_state_init(s);
	if (cfg == NULL || (p == NULL && len > 0))
		return KT_ERR_INVALID_ARG;
	kt_rbuf_init(&rd, p, len);
	d = kt_get_vec8(&rd, 1, 255, &dlen);
	tb = kt_get_vec32(&rd, 0, STATE_TRUST_MAX, &tlen);
	n = kt_get_u32(&rd);
	if (rd.err != KT_OK || dlen != sizeof(dom) - 1 ||
	    memcmp(d, dom, dlen) != 0 || n > KT_CLIENT_MAX_ACCOUNTS)
		return KT_ERR_CLIENT_STATE;
	r = kt_trust_state_decode(&s->trust, cfg, tb, tlen);
	if (r != KT_OK)
		return r;
	/* Each account takes at least 1+1+8+32+1+4 bytes: no more slots than
	 * the input could hold. */
	if (n > 0 && kt_rbuf_remaining(&rd) / 47u < n) {
		r = KT_ERR_CLIENT_STATE;
		goto fail;
	}
	if (n > 0) {
		s->accts = calloc(n, sizeof(*s->accts));
		if (s->accts == NULL) {
			r = KT_ERR_NOMEM;
			goto fail;
		}
	}
	for (i = 0; i < n; i++) {
		r = get_acct(&rd, &s->accts[i]);
		s->n = i + 1;
		if (r == KT_OK && i > 0 &&
		    kt_device_id_cmp(s->accts[i - 1].account,
				     s->accts[i - 1].account_len,
				     s->accts[i].account,
				     s->accts[i].account_len) >= 0)
			r = KT_ERR_CLIENT_STATE;
		if (r != KT_OK)
			goto fail;
	}
	if (kt_rbuf_finish(&rd) != KT_OK) {
		r = KT_ERR_CLIENT_STATE;
		goto fail;
	}
	return KT_OK;
fail:
	kt_client_state_free(s);
	return r;
}

int kt_client_state_load(kt_client_state *s, const kt_trust_config *cfg,
			 const char *path)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int r;

	kt_client_state_init(s);
	r = kt_read_file(path, KT_CLIENT_MAX_STATE_BYTES, &buf, &len);
	if (r != KT_OK)
		return r;
	r = kt_client_state_decode(s, cfg, buf, len);
	free(buf);
	return r;
}

int kt_client_state_save(const kt_client_state *s, const char *path)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int r;

	r = kt_client_state_encode(s, &buf, &len);
	if (r != KT_OK)
		return r;
	r = kt_write_file_atomic(path, buf, len);
	free(buf);
	return r;
}
