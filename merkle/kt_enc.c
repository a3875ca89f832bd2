/* kt_enc.c — big-endian reader and writer with caps and sticky errors. */
#include "kt_enc.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

/* ---- writer ---------------------------------------------------------- */

void kt_wbuf_init(kt_wbuf *w, size_t max)
{
	w->data = NULL;
	w->len = 0;
	w->cap = 0;
	w->max = max;
	w->err = KT_OK;
}

void kt_wbuf_free(kt_wbuf *w)
{
	if (w == NULL)
		return;
	if (w->data != NULL) {
		sodium_memzero(w->data, w->cap);
		free(w->data);
	}
	kt_wbuf_init(w, w->max);
}

int kt_wbuf_error(const kt_wbuf *w)
{
	return w->err;
}

int kt_wbuf_take(kt_wbuf *w, uint8_t **out, size_t *out_len)
{
	int r = w->err;

	*out = NULL;
	*out_len = 0;
	if (r != KT_OK) {
		kt_wbuf_free(w);
		return r;
	}
	if (w->data == NULL) {
		/* An empty encoding still hands out a valid heap pointer. */
		w->data = malloc(1);
		if (w->data == NULL)
			return KT_ERR_NOMEM;
	}
	*out = w->data;
	*out_len = w->len;
	w->data = NULL;
	kt_wbuf_init(w, w->max);
	return KT_OK;
}

static void wbuf_fail(kt_wbuf *w, int code)
{
	if (w->err == KT_OK)
		w->err = code;
}

/* Makes room for n more bytes; returns a pointer to them or NULL (error set). */
static uint8_t *wbuf_reserve(kt_wbuf *w, size_t n)
{
	size_t need, newcap;
	uint8_t *p;

	if (w->err != KT_OK)
		return NULL;
	if (n > w->max || w->len > w->max - n) {
		wbuf_fail(w, KT_ERR_TOO_LARGE);
		return NULL;
	}
	need = w->len + n;
	if (need > w->cap) {
		newcap = w->cap != 0 ? w->cap : 64;
		while (newcap < need)
			newcap = newcap > SIZE_MAX / 2 ? need : newcap * 2;
		if (newcap > w->max)
			newcap = w->max;
		p = malloc(newcap);
		if (p == NULL) {
			wbuf_fail(w, KT_ERR_NOMEM);
			return NULL;
		}
		if (w->data != NULL) {
			memcpy(p, w->data, w->len);
			sodium_memzero(w->data, w->cap);
			free(w->data);
		}
		w->data = p;
		w->cap = newcap;
	}
	p = w->data + w->len;
	w->len += n;
	return p;
}

void kt_put_u8(kt_wbuf *w, uint8_t v)
{
	uint8_t *p = wbuf_reserve(w, 1);

	if (p != NULL)
		p[0] = v;
}

void kt_put_u16(kt_wbuf *w, uint16_t v)
{
	uint8_t *p = wbuf_reserve(w, 2);

	if (p != NULL) {
		p[0] = (uint8_t)(v >> 8);
		p[1] = (uint8_t)v;
	}
}

void kt_put_u32(kt_wbuf *w, uint32_t v)
{
	uint8_t *p = wbuf_reserve(w, 4);

	if (p != NULL)
		kt_store_u32be(p, v);
}

void kt_put_u64(kt_wbuf *w, uint64_t v)
{
	uint8_t *p = wbuf_reserve(w, 8);

	if (p != NULL)
		kt_store_u64be(p, v);
}

void kt_put_fixed(kt_wbuf *w, const uint8_t *src, size_t n)
{
	uint8_t *p;

	if (n == 0)
		return;
	p = wbuf_reserve(w, n);
	if (p != NULL)
		memcpy(p, src, n);
}

void kt_put_vec8(kt_wbuf *w, const uint8_t *p, size_t n)
{
	if (n > UINT8_MAX) {
		wbuf_fail(w, KT_ERR_TOO_LARGE);
		return;
	}
	kt_put_u8(w, (uint8_t)n);
	kt_put_fixed(w, p, n);
}

void kt_put_vec16(kt_wbuf *w, const uint8_t *p, size_t n)
{
	if (n > UINT16_MAX) {
		wbuf_fail(w, KT_ERR_TOO_LARGE);
		return;
	}
	kt_put_u16(w, (uint16_t)n);
	kt_put_fixed(w, p, n);
}

void kt_put_vec32(kt_wbuf *w, const uint8_t *p, size_t n)
{
	if (n > UINT32_MAX) {
		wbuf_fail(w, KT_ERR_TOO_LARGE);
		return;
	}
	kt_put_u32(w, (uint32_t)n);
	kt_put_fixed(w, p, n);
}

/* ---- reader ---------------------------------------------------------- */

void kt_rbuf_init(kt_rbuf *r, const uint8_t *p, size_t len)
{
	r->p = p;
	r->len = len;
	r->off = 0;
	r->err = KT_OK;
}

int kt_rbuf_finish(const kt_rbuf *r)
{
	if (r->err != KT_OK)
		return r->err;
	return r->off == r->len ? KT_OK : KT_ERR_TRAILING;
}

void kt_rbuf_fail(kt_rbuf *r, int code)
{
	if (r->err == KT_OK)
		r->err = code;
}

size_t kt_rbuf_remaining(const kt_rbuf *r)
{
	return r->err == KT_OK ? r->len - r->off : 0;
}

const uint8_t *kt_get_raw(kt_rbuf *r, size_t n)
{
	const uint8_t *p;

	if (r->err != KT_OK)
		return NULL;
	if (n > r->len - r->off) {
		kt_rbuf_fail(r, KT_ERR_TRUNCATED);
		return NULL;
	}
	p = r->p + r->off;
	r->off += n;
	return p;
}

uint8_t kt_get_u8(kt_rbuf *r)
{
	const uint8_t *p = kt_get_raw(r, 1);

	return p != NULL ? p[0] : 0;
}

uint16_t kt_get_u16(kt_rbuf *r)
{
	const uint8_t *p = kt_get_raw(r, 2);
	uint16_t v = 0;

	if (p != NULL)
		v = (uint16_t)(((unsigned)p[0] << 8) | p[1]);
	return v;
}

uint32_t kt_get_u32(kt_rbuf *r)
{
	const uint8_t *p = kt_get_raw(r, 4);

	return p != NULL ? kt_load_u32be(p) : 0;
}

uint64_t kt_get_u64(kt_rbuf *r)
{
	const uint8_t *p = kt_get_raw(r, 8);

	return p != NULL ? kt_load_u64be(p) : 0;
}

void kt_get_fixed(kt_rbuf *r, uint8_t *out, size_t n)
{
	const uint8_t *p = kt_get_raw(r, n);

	if (p != NULL)
		memcpy(out, p, n);
	else if (n != 0)
		memset(out, 0, n);
}

/* Shared tail of the vecN getters once the length prefix is read. */
static const uint8_t *get_vec_body(kt_rbuf *r, size_t len, size_t min,
				   size_t max, size_t *n)
{
	const uint8_t *p;

	*n = 0;
	if (r->err != KT_OK)
		return NULL;
	if (len > max) {
		kt_rbuf_fail(r, KT_ERR_TOO_LARGE);
		return NULL;
	}
	if (len < min) {
		kt_rbuf_fail(r, KT_ERR_BAD_LENGTH);
		return NULL;
	}
	p = kt_get_raw(r, len);
	if (p == NULL || len == 0)
		return NULL;
	*n = len;
	return p;
}

const uint8_t *kt_get_vec8(kt_rbuf *r, size_t min, size_t max, size_t *n)
{
	size_t len = kt_get_u8(r);

	return get_vec_body(r, len, min, max, n);
}

const uint8_t *kt_get_vec16(kt_rbuf *r, size_t min, size_t max, size_t *n)
{
	size_t len = kt_get_u16(r);

	return get_vec_body(r, len, min, max, n);
}

const uint8_t *kt_get_vec32(kt_rbuf *r, size_t min, size_t max, size_t *n)
{
	size_t len = kt_get_u32(r);

	return get_vec_body(r, len, min, max, n);
}
