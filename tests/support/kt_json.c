/* kt_json.c — minimal recursive-descent JSON reader for test vectors. */
#include "kt_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

struct parser {
	const char *s;
	size_t len, off;
	int depth;
};

static void skip_ws(struct parser *p)
{
	while (p->off < p->len && strchr(" \t\r\n", p->s[p->off]) != NULL)
		p->off++;
}

static kt_json *node_new(kt_json_type t)
{
	kt_json *j = calloc(1, sizeof(*j));

	if (j == NULL)
		abort();
	j->type = t;
	return j;
}

static void put_utf8(char *out, size_t *o, unsigned cp)
{
	if (cp < 0x80) {
		out[(*o)++] = (char)cp;
	} else if (cp < 0x800) {
		out[(*o)++] = (char)(0xC0 | (cp >> 6));
		out[(*o)++] = (char)(0x80 | (cp & 0x3F));
	} else {
		out[(*o)++] = (char)(0xE0 | (cp >> 12));
		out[(*o)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
		out[(*o)++] = (char)(0x80 | (cp & 0x3F));
	}
}

static char *parse_string(struct parser *p, size_t *out_len)
{
	char *out;
	size_t o = 0;

	if (p->off >= p->len || p->s[p->off] != '"')
		return NULL;
	p->off++;
	out = malloc(p->len - p->off + 1);
	if (out == NULL)
		abort();
	while (p->off < p->len && p->s[p->off] != '"') {
		char c = p->s[p->off++];
		unsigned cp;

		if (c != '\\') {
			out[o++] = c;
			continue;
		}
		if (p->off >= p->len)
			goto bad;
		c = p->s[p->off++];
		switch (c) {
		case 'n': out[o++] = '\n'; break;
		case 't': out[o++] = '\t'; break;
		case 'r': out[o++] = '\r'; break;
		case 'b': out[o++] = '\b'; break;
		case 'f': out[o++] = '\f'; break;
		case '"': case '\\': case '/': out[o++] = c; break;
		case 'u':
			if (p->off + 4 > p->len || sscanf(p->s + p->off, "%4x", &cp) != 1)
				goto bad;
			p->off += 4;
			put_utf8(out, &o, cp);
			break;
		default:
			goto bad;
		}
	}
	if (p->off >= p->len)
		goto bad;
	p->off++;
	out[o] = '\0';
	*out_len = o;
	return out;
bad:
	free(out);
	return NULL;
}

static kt_json *parse_value(struct parser *p);

static kt_json *parse_container(struct parser *p, int is_object)
{
	kt_json *j = node_new(is_object ? KT_JSON_OBJECT : KT_JSON_ARRAY);
	kt_json **tail = &j->child;
	char close = is_object ? '}' : ']';

	p->off++;
	skip_ws(p);
	if (p->off < p->len && p->s[p->off] == close) {
		p->off++;
		return j;
	}
	for (;;) {
		char *key = NULL;
		size_t klen;
		kt_json *v;

		skip_ws(p);
		if (is_object) {
			key = parse_string(p, &klen);
			skip_ws(p);
			if (key == NULL || p->off >= p->len || p->s[p->off] != ':') {
				free(key);
				goto bad;
			}
			p->off++;
		}
		v = parse_value(p);
		if (v == NULL) {
			free(key);
			goto bad;
		}
		v->key = key;
		*tail = v;
		tail = &v->next;
		skip_ws(p);
		if (p->off < p->len && p->s[p->off] == ',') {
			p->off++;
			continue;
		}
		if (p->off < p->len && p->s[p->off] == close) {
			p->off++;
			return j;
		}
		goto bad;
	}
bad:
	kt_json_free(j);
	return NULL;
}

static kt_json *parse_value(struct parser *p)
{
	kt_json *j;
	size_t start;

	if (++p->depth > 64)
		return NULL;
	skip_ws(p);
	if (p->off >= p->len)
		return NULL;
	switch (p->s[p->off]) {
	case '{':
		j = parse_container(p, 1);
		break;
	case '[':
		j = parse_container(p, 0);
		break;
	case '"':
		j = node_new(KT_JSON_STRING);
		j->text = parse_string(p, &j->text_len);
		if (j->text == NULL) {
			kt_json_free(j);
			j = NULL;
		}
		break;
	default:
		if (p->len - p->off >= 4 && memcmp(p->s + p->off, "null", 4) == 0) {
			p->off += 4;
			j = node_new(KT_JSON_NULL);
		} else if (p->len - p->off >= 4 && memcmp(p->s + p->off, "true", 4) == 0) {
			p->off += 4;
			j = node_new(KT_JSON_BOOL);
			j->boolean = 1;
		} else if (p->len - p->off >= 5 && memcmp(p->s + p->off, "false", 5) == 0) {
			p->off += 5;
			j = node_new(KT_JSON_BOOL);
		} else {
			start = p->off;
			while (p->off < p->len && strchr("-+.eE0123456789", p->s[p->off]) != NULL)
				p->off++;
			if (p->off == start)
				return NULL;
			j = node_new(KT_JSON_NUMBER);
			j->text_len = p->off - start;
			j->text = malloc(j->text_len + 1);
			if (j->text == NULL)
				abort();
			memcpy(j->text, p->s + start, j->text_len);
			j->text[j->text_len] = '\0';
		}
	}
	p->depth--;
	return j;
}

kt_json *kt_json_parse(const char *text, size_t len)
{
	struct parser p = {text, len, 0, 0};
	kt_json *j = parse_value(&p);

	skip_ws(&p);
	if (j != NULL && p.off != p.len) {
		kt_json_free(j);
		return NULL;
	}
	return j;
}

char *kt_test_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
		goto out;
	buf = malloc((size_t)n + 1);
	if (buf == NULL)
		goto out;
	if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
		goto out;
	}
	buf[n] = '\0';
	if (len != NULL)
		*len = (size_t)n;
out:
	fclose(f);
	return buf;
}

kt_json *kt_json_load(const char *path)
{
	size_t len;
	char *text = kt_test_read_file(path, &len);
	kt_json *j;

	if (text == NULL)
		return NULL;
	j = kt_json_parse(text, len);
	free(text);
	return j;
}

void kt_json_free(kt_json *j)
{
	while (j != NULL) {
		kt_json *next = j->next;

		kt_json_free(j->child);
		free(j->key);
		free(j->text);
		free(j);
		j = next;
	}
}

const kt_json *kt_json_get(const kt_json *obj, const char *key)
{
	const kt_json *c;

	if (obj == NULL || obj->type != KT_JSON_OBJECT)
		return NULL;
	for (c = obj->child; c != NULL; c = c->next)
		if (strcmp(c->key, key) == 0)
			return c;
	return NULL;
}

size_t kt_json_len(const kt_json *arr)
{
	size_t n = 0;
	const kt_json *c;

	if (arr == NULL || arr->type != KT_JSON_ARRAY)
		return 0;
	for (c = arr->child; c != NULL; c = c->next)
		n++;
	return n;
}

const kt_json *kt_json_at(const kt_json *arr, size_t i)
{
	const kt_json *c;

	if (arr == NULL || arr->type != KT_JSON_ARRAY)
		return NULL;
	for (c = arr->child; c != NULL && i > 0; c = c->next)
		i--;
	return c;
}

uint64_t kt_json_u64(const kt_json *j)
{
	char *end;
	unsigned long long v;

	if (j == NULL || j->type != KT_JSON_NUMBER || j->text[0] == '-') {
		fprintf(stderr, "kt_json_u64: not an unsigned number\n");
		abort();
	}
	v = strtoull(j->text, &end, 10);
	if (*end != '\0')
		abort();
	return (uint64_t)v;
}

uint8_t *kt_json_hex(const kt_json *j, size_t *len)
{
	uint8_t *out;
	size_t n;

	if (j == NULL || j->type != KT_JSON_STRING)
		abort();
	out = malloc(j->text_len / 2 + 1);
	if (out == NULL)
		abort();
	if (sodium_hex2bin(out, j->text_len / 2 + 1, j->text, j->text_len,
			   NULL, &n, NULL) != 0 || n * 2 != j->text_len)
		abort();
	*len = n;
	return out;
}

uint8_t *kt_json_b64(const kt_json *j, size_t *len)
{
	uint8_t *out;
	size_t n;

	if (j == NULL || j->type != KT_JSON_STRING)
		abort();
	out = malloc(j->text_len + 1);
	if (out == NULL)
		abort();
	if (sodium_base642bin(out, j->text_len + 1, j->text, j->text_len, NULL,
			      &n, NULL, sodium_base64_VARIANT_ORIGINAL) != 0)
		abort();
	*len = n;
	return out;
}
