/*
 * kt_evidence.c — evidence records of failed verifications, and their JSON
 * form (docs/PROTOCOL.md §6.6).
 */
#include <stdlib.h>
#include <string.h>

#include "kt_verify.h"
#include "verify_int.h"

/* Caps on what one record copies, so that evidence of a hostile response
 * stays bounded: list elements and the bytes of one list element. */
#define EV_MAX_LIST 256
#define EV_MAX_ELEM 4096
/* Cap on one byte string / note (the largest account value fits). */
#define EV_MAX_BYTES (KT_VALUE_MAX_BYTES + 1024)

void kt_evidence_init(kt_evidence *ev)
{
	memset(ev, 0, sizeof(*ev));
	ev->code = KT_OK;
	ev->cause = KT_OK;
}

static void field_free(kt_evidence_field *f)
{
	size_t i;

	free(f->bytes);
	for (i = 0; i < f->n; i++)
		free((void *)f->list[i].p);
	free(f->list);
}

void kt_evidence_free(kt_evidence *ev)
{
	size_t i;

	if (ev == NULL)
		return;
	free(ev->trusted.note);
	free(ev->cosigned.note);
	free(ev->checkpoint.note);
	for (i = 0; i < ev->n_fields && i < KT_EVIDENCE_MAX_FIELDS; i++)
		field_free(&ev->fields[i]);
	kt_evidence_init(ev);
}

const kt_evidence_field *kt_evidence_get(const kt_evidence *ev,
					 const char *name)
{
	size_t i;

	if (ev == NULL || name == NULL)
		return NULL;
	for (i = 0; i < ev->n_fields && i < KT_EVIDENCE_MAX_FIELDS; i++)
		if (strcmp(ev->fields[i].name, name) == 0)
			return &ev->fields[i];
	return NULL;
}

/* ---- recorders (verify_int.h) ---------------------------------------- */

int kt_ev_fail(kt_evidence *ev, int code, int cause, const char *check)
{
	if (ev != NULL) {
		ev->code = code;
		ev->cause = cause;
		ev->check = check;
	}
	return code;
}

/* A heap copy of p[0..len) (1 byte when len is 0, so NULL means failure);
 * sets ev->incomplete on failure or when len is over cap (then truncated). */
static uint8_t *dup_capped(kt_evidence *ev, const uint8_t *p, size_t len,
			   size_t cap, size_t *out_len)
{
	uint8_t *c;

	*out_len = 0;
	if (len > cap) {
		ev->incomplete = 1;
		len = cap;
	}
	c = malloc(len > 0 ? len : 1);
	if (c == NULL) {
		ev->incomplete = 1;
		return NULL;
	}
	if (len > 0)
		memcpy(c, p, len);
	*out_len = len;
	return c;
}

void kt_ev_checkpoint(kt_evidence *ev, int slot, const uint8_t *note,
		      size_t note_len, int parsed, uint64_t size,
		      const uint8_t root[KT_HASH_BYTES], int has_ts, uint64_t ts)
{
	kt_evidence_checkpoint *c;

	if (ev == NULL)
		return;
	c = slot == KT_EV_TRUSTED ? &ev->trusted :
	    slot == KT_EV_COSIGNED ? &ev->cosigned : &ev->checkpoint;
	free(c->note);
	memset(c, 0, sizeof(*c));
	c->present = 1;
	if (note != NULL)
		c->note = dup_capped(ev, note, note_len, EV_MAX_BYTES,
				     &c->note_len);
	if (parsed) {
		c->parsed = 1;
		c->size = size;
		memcpy(c->root, root, KT_HASH_BYTES);
	}
	c->has_timestamp = has_ts;
	c->timestamp_ms = has_ts ? ts : 0;
}

void kt_ev_trusted(kt_evidence *ev, int slot, const kt_trusted_checkpoint *t)
{
	if (t == NULL || t->size == 0)
		return;
	kt_ev_checkpoint(ev, slot, t->note, t->note_len, 1, t->size, t->root,
			 1, t->timestamp_ms);
}

/* The next free field slot named name (an existing one of that name is
 * replaced), or NULL when the record is full. */
static kt_evidence_field *ev_slot(kt_evidence *ev, const char *name)
{
	kt_evidence_field *f = (kt_evidence_field *)kt_evidence_get(ev, name);

	if (f != NULL) {
		field_free(f);
	} else {
		if (ev->n_fields >= KT_EVIDENCE_MAX_FIELDS) {
			ev->incomplete = 1;
			return NULL;
		}
		f = &ev->fields[ev->n_fields++];
	}
	memset(f, 0, sizeof(*f));
	f->name = name;
	return f;
}

void kt_ev_u64(kt_evidence *ev, const char *name, uint64_t v)
{
	kt_evidence_field *f;

	if (ev == NULL || (f = ev_slot(ev, name)) == NULL)
		return;
	f->kind = KT_EVIDENCE_U64;
	f->u64 = v;
}

void kt_ev_bytes(kt_evidence *ev, const char *name, const uint8_t *p,
		 size_t len)
{
	kt_evidence_field *f;

	if (ev == NULL || (f = ev_slot(ev, name)) == NULL)
		return;
	f->kind = KT_EVIDENCE_BYTES;
	f->bytes = dup_capped(ev, p, len, EV_MAX_BYTES, &f->len);
}

void kt_ev_list(kt_evidence *ev, const char *name, const kt_bytes *list,
		size_t n)
{
	kt_evidence_field *f;
	size_t i, len;

	if (ev == NULL || (f = ev_slot(ev, name)) == NULL)
		return;
	f->kind = KT_EVIDENCE_LIST;
	if (n > EV_MAX_LIST) {
		ev->incomplete = 1;
		n = EV_MAX_LIST;
	}
	if (n == 0)
		return;
	f->list = calloc(n, sizeof(*f->list));
	if (f->list == NULL) {
		ev->incomplete = 1;
		return;
	}
	for (i = 0; i < n; i++) {
		uint8_t *c = dup_capped(ev, list[i].p, list[i].len, EV_MAX_ELEM,
					&len);

		if (c == NULL)
			break;
		f->list[i].p = c;
		f->list[i].len = len;
		f->n = i + 1;
	}
}

/* ---- JSON ------------------------------------------------------------- */

/* A growing NUL-terminated string with a sticky error. */
typedef struct sbuf {
	char *p;
	size_t len;
	size_t cap;
	int err;
} sbuf;

static void sb_putn(sbuf *s, const char *p, size_t n)
{
	char *np;
	size_t ncap;

	if (s->err != KT_OK)
		return;
	if (n > SIZE_MAX / 2 - s->len - 1) {
		s->err = KT_ERR_NOMEM;
		return;
	}
	if (s->len + n + 1 > s->cap) {
		ncap = s->cap > 0 ? s->cap : 256;
		while (ncap < s->len + n + 1)
			ncap *= 2;
		np = realloc(s->p, ncap);
		if (np == NULL) {
			s->err = KT_ERR_NOMEM;
			return;
		}
		s->p = np;
		s->cap = ncap;
	}
	memcpy(s->p + s->len, p, n);
	s->len += n;
	s->p[s->len] = '\0';
}

static void sb_puts(sbuf *s, const char *p)
{
	sb_putn(s, p, strlen(p));
}

static void sb_u64(sbuf *s, uint64_t v)
{
	char buf[24];
	size_t i = sizeof(buf);

	do {
		buf[--i] = (char)('0' + (v % 10));
		v /= 10;
	} while (v != 0);
	sb_putn(s, buf + i, sizeof(buf) - i);
}

static void sb_int(sbuf *s, int v)
{
	if (v < 0) {
		sb_putn(s, "-", 1);
		sb_u64(s, (uint64_t)(-(int64_t)v));
	} else {
		sb_u64(s, (uint64_t)v);
	}
}

static void sb_hex(sbuf *s, const uint8_t *p, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	char buf[128];
	size_t i, k = 0;

	sb_putn(s, "\"", 1);
	for (i = 0; i < n; i++) {
		buf[k++] = hex[p[i] >> 4];
		buf[k++] = hex[p[i] & 15];
		if (k == sizeof(buf)) {
			sb_putn(s, buf, k);
			k = 0;
		}
	}
	sb_putn(s, buf, k);
	sb_putn(s, "\"", 1);
}

/* A JSON string of UTF-8 text (checked by the caller): escapes '"', '\\'
 * and every byte below 0x20. */
static void sb_text(sbuf *s, const uint8_t *p, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, run = 0;
	char esc[7];

	sb_putn(s, "\"", 1);
	for (i = 0; i < n; i++) {
		if (p[i] >= 0x20 && p[i] != '"' && p[i] != '\\')
			continue;
		sb_putn(s, (const char *)p + run, i - run);
		run = i + 1;
		if (p[i] == '\n') {
			sb_putn(s, "\\n", 2);
		} else if (p[i] == '"' || p[i] == '\\') {
			esc[0] = '\\';
			esc[1] = (char)p[i];
			sb_putn(s, esc, 2);
		} else {
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[p[i] >> 4];
			esc[5] = hex[p[i] & 15];
			sb_putn(s, esc, 6);
		}
	}
	sb_putn(s, (const char *)p + run, n - run);
	sb_putn(s, "\"", 1);
}

static void sb_key(sbuf *s, const char *name)
{
	sb_putn(s, ",\"", 2);
	sb_puts(s, name);
	sb_putn(s, "\":", 2);
}

static void json_checkpoint(sbuf *s, const char *name,
			    const kt_evidence_checkpoint *c)
{
	if (!c->present)
		return;
	sb_key(s, name);
	sb_puts(s, "{\"parsed\":");
	sb_puts(s, c->parsed ? "true" : "false");
	if (c->parsed) {
		sb_puts(s, ",\"size\":");
		sb_u64(s, c->size);
		sb_puts(s, ",\"root\":");
		sb_hex(s, c->root, KT_HASH_BYTES);
	}
	if (c->has_timestamp) {
		sb_puts(s, ",\"timestamp_ms\":");
		sb_u64(s, c->timestamp_ms);
	}
	if (c->note != NULL) {
		/* A note is UTF-8 text unless the server sent garbage. */
		if (kt_utf8_check(c->note, c->note_len) == KT_OK) {
			sb_puts(s, ",\"note\":");
			sb_text(s, c->note, c->note_len);
		} else {
			sb_puts(s, ",\"note_hex\":");
			sb_hex(s, c->note, c->note_len);
		}
	}
	sb_putn(s, "}", 1);
}

static void json_field(sbuf *s, const kt_evidence_field *f)
{
	size_t i;

	sb_key(s, f->name);
	switch (f->kind) {
	case KT_EVIDENCE_U64:
		sb_u64(s, f->u64);
		break;
	case KT_EVIDENCE_BYTES:
		sb_hex(s, f->bytes, f->bytes != NULL ? f->len : 0);
		break;
	default:
		sb_putn(s, "[", 1);
		for (i = 0; i < f->n; i++) {
			if (i > 0)
				sb_putn(s, ",", 1);
			sb_hex(s, f->list[i].p, f->list[i].len);
		}
		sb_putn(s, "]", 1);
		break;
	}
}

int kt_evidence_write_json(const kt_evidence *ev, char **out)
{
	sbuf s = {NULL, 0, 0, KT_OK};
	size_t i;

	if (out == NULL)
		return KT_ERR_INVALID_ARG;
	*out = NULL;
	if (ev == NULL)
		return KT_ERR_INVALID_ARG;
	sb_puts(&s, "{\"format\":\"keytrail-evidence/v1\"");
	sb_key(&s, "error");
	sb_text(&s, (const uint8_t *)kt_errname(ev->code),
		strlen(kt_errname(ev->code)));
	sb_key(&s, "code");
	sb_int(&s, ev->code);
	sb_key(&s, "description");
	sb_text(&s, (const uint8_t *)kt_strerror(ev->code),
		strlen(kt_strerror(ev->code)));
	sb_key(&s, "cause");
	sb_text(&s, (const uint8_t *)kt_errname(ev->cause),
		strlen(kt_errname(ev->cause)));
	sb_key(&s, "cause_code");
	sb_int(&s, ev->cause);
	sb_key(&s, "check");
	if (ev->check != NULL)
		sb_text(&s, (const uint8_t *)ev->check, strlen(ev->check));
	else
		sb_puts(&s, "null");
	sb_key(&s, "incomplete");
	sb_puts(&s, ev->incomplete ? "true" : "false");
	json_checkpoint(&s, "trusted_checkpoint", &ev->trusted);
	json_checkpoint(&s, "cosigned_checkpoint", &ev->cosigned);
	json_checkpoint(&s, "checkpoint", &ev->checkpoint);
	for (i = 0; i < ev->n_fields && i < KT_EVIDENCE_MAX_FIELDS; i++)
		json_field(&s, &ev->fields[i]);
	sb_putn(&s, "}", 1);
	if (s.err != KT_OK) {
		free(s.p);
		return s.err;
	}
	*out = s.p;
	return KT_OK;
}
