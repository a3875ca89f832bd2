/*
 * out.c — ktctl's output helpers: a streaming JSON writer, hex, byte
 * strings shown as text or "hex:...", times and durations (ktctl_int.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kt_types.h"
#include "ktctl_int.h"

/* ---- JSON ---------------------------------------------------------------- */

void ktctl_json_init(ktctl_json *j, FILE *f)
{
	memset(j, 0, sizeof(*j));
	j->f = f;
	j->first[0] = 1;
}

static void put_escaped(FILE *f, const uint8_t *p, size_t n)
{
	size_t i;

	fputc('"', f);
	for (i = 0; i < n; i++) {
		uint8_t ch = p[i];

		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch == '\n')
			fputs("\\n", f);
		else if (ch == '\t')
			fputs("\\t", f);
		else if (ch < 0x20 || ch == 0x7f)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

/* Writes the separator and the key of the next member / element. */
static int member(ktctl_json *j, const char *key)
{
	if (j->broken)
		return -1;
	if (!j->first[j->depth])
		fputc(',', j->f);
	j->first[j->depth] = 0;
	if (key != NULL) {
		put_escaped(j->f, (const uint8_t *)key, strlen(key));
		fputc(':', j->f);
	}
	return 0;
}

static void open_nest(ktctl_json *j, const char *key, char ch)
{
	if (member(j, key) != 0)
		return;
	if (j->depth + 1 >= KTCTL_JSON_MAX_DEPTH) {
		j->broken = 1;
		return;
	}
	fputc(ch, j->f);
	j->depth++;
	j->first[j->depth] = 1;
}

static void close_nest(ktctl_json *j, char ch)
{
	if (j->broken || j->depth == 0)
		return;
	fputc(ch, j->f);
	j->depth--;
}

void ktctl_json_obj(ktctl_json *j, const char *key)
{
	open_nest(j, key, '{');
}

void ktctl_json_end_obj(ktctl_json *j)
{
	close_nest(j, '}');
}

void ktctl_json_arr(ktctl_json *j, const char *key)
{
	open_nest(j, key, '[');
}

void ktctl_json_end_arr(ktctl_json *j)
{
	close_nest(j, ']');
}

void ktctl_json_str(ktctl_json *j, const char *key, const char *s)
{
	if (member(j, key) != 0)
		return;
	if (s == NULL)
		fputs("null", j->f);
	else
		put_escaped(j->f, (const uint8_t *)s, strlen(s));
}

void ktctl_json_blob(ktctl_json *j, const char *key, const uint8_t *p, size_t n)
{
	size_t i;

	if (member(j, key) != 0)
		return;
	if (ktctl_is_text(p, n)) {
		put_escaped(j->f, p, n);
		return;
	}
	fputs("\"hex:", j->f);
	for (i = 0; i < n; i++)
		fprintf(j->f, "%02x", p[i]);
	fputc('"', j->f);
}

void ktctl_json_hex(ktctl_json *j, const char *key, const uint8_t *p, size_t n)
{
	size_t i;

	if (member(j, key) != 0)
		return;
	fputc('"', j->f);
	for (i = 0; i < n; i++)
		fprintf(j->f, "%02x", p[i]);
	fputc('"', j->f);
}

void ktctl_json_u64(ktctl_json *j, const char *key, uint64_t v)
{
	if (member(j, key) == 0)
		fprintf(j->f, "%" PRIu64, v);
}

void ktctl_json_int(ktctl_json *j, const char *key, long long v)
{
	if (member(j, key) == 0)
		fprintf(j->f, "%lld", v);
}

void ktctl_json_bool(ktctl_json *j, const char *key, int v)
{
	if (member(j, key) == 0)
		fputs(v ? "true" : "false", j->f);
}

void ktctl_json_null(ktctl_json *j, const char *key)
{
	if (member(j, key) == 0)
		fputs("null", j->f);
}

void ktctl_json_raw(ktctl_json *j, const char *key, const char *json)
{
	if (member(j, key) == 0)
		fputs(json != NULL ? json : "null", j->f);
}

void ktctl_json_done(ktctl_json *j)
{
	fputc('\n', j->f);
	fflush(j->f);
}

/* ---- text ---------------------------------------------------------------- */

int ktctl_is_text(const uint8_t *p, size_t n)
{
	size_t i;

	if (n >= 4 && memcmp(p, "hex:", 4) == 0) /* public bytes */
		return 0;
	for (i = 0; i < n; i++)
		if (p[i] < 0x20 || p[i] == 0x7f)
			return 0;
	return n == 0 || kt_utf8_check(p, n) == KT_OK;
}

void ktctl_hex(const uint8_t *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

void ktctl_blob_text(const uint8_t *p, size_t n, char *out, size_t cap)
{
	size_t need, i, o = 0;

	if (cap < 4) {
		if (cap > 0)
			out[0] = '\0';
		return;
	}
	if (ktctl_is_text(p, n)) {
		if (n < cap) {
			if (n > 0)
				memcpy(out, p, n);
			out[n] = '\0';
			return;
		}
		/* Cut on a character boundary. */
		need = cap - 4;
		while (need > 0 && (p[need] & 0xc0) == 0x80)
			need--;
		memcpy(out, p, need);
		memcpy(out + need, "...", 4);
		return;
	}
	memcpy(out, "hex:", 4);
	o = 4;
	for (i = 0; i < n; i++) {
		if (o + 2 + 4 > cap) {
			memcpy(out + o, "...", 4);
			return;
		}
		ktctl_hex(p + i, 1, out + o);
		o += 2;
	}
	out[o] = '\0';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes hex of any even length up to cap bytes. */
static int unhex_any(const char *s, uint8_t *out, size_t cap, size_t *len)
{
	size_t n = strlen(s), i;

	*len = 0;
	if (n % 2 != 0)
		return KT_ERR_INVALID_ARG;
	if (n / 2 > cap)
		return KT_ERR_TOO_LARGE;
	for (i = 0; i < n / 2; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return KT_ERR_INVALID_ARG;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	*len = n / 2;
	return KT_OK;
}

int ktctl_parse_blob(const char *s, uint8_t *out, size_t cap, size_t *len)
{
	size_t n;

	*len = 0;
	if (strncmp(s, "hex:", 4) == 0)
		return unhex_any(s + 4, out, cap, len);
	n = strlen(s);
	if (n > cap)
		return KT_ERR_TOO_LARGE;
	memcpy(out, s, n);
	*len = n;
	return KT_OK;
}

int ktctl_unhex(const char *s, uint8_t *out, size_t n)
{
	size_t got;
	int r;

	if (strlen(s) != 2 * n)
		return KT_ERR_INVALID_ARG;
	r = unhex_any(s, out, n, &got);
	return r == KT_OK && got == n ? KT_OK : KT_ERR_INVALID_ARG;
}

void ktctl_time(uint64_t ms, char *out, size_t cap)
{
	time_t t = (time_t)(ms / 1000u);
	struct tm tm;
	char b[32];

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(b, sizeof(b), "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
		snprintf(out, cap, "%" PRIu64 "ms", ms);
		return;
	}
	snprintf(out, cap, "%s.%03uZ", b, (unsigned)(ms % 1000u));
}

int ktctl_parse_u64(const char *s, uint64_t *v)
{
	uint64_t x = 0;
	size_t i;

	*v = 0;
	if (s == NULL || s[0] == '\0')
		return KT_ERR_INVALID_ARG;
	for (i = 0; s[i] != '\0'; i++) {
		unsigned d;

		if (s[i] < '0' || s[i] > '9')
			return KT_ERR_INVALID_ARG;
		d = (unsigned)(s[i] - '0');
		if (x > (UINT64_MAX - d) / 10u)
			return KT_ERR_INVALID_ARG;
		x = x * 10u + d;
	}
	*v = x;
	return KT_OK;
}

int ktctl_parse_duration(const char *s, uint64_t *ms)
{
	static const struct {
		const char *unit;
		uint64_t ms;
	} units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000},
		     {"d", 86400000}, {"", 1000}};
	char num[32];
	size_t n = 0, i;
	uint64_t v;

	*ms = 0;
	while (s[n] >= '0' && s[n] <= '9')
		n++;
	if (n == 0 || n >= sizeof(num))
		return KT_ERR_INVALID_ARG;
	memcpy(num, s, n);
	num[n] = '\0';
	if (ktctl_parse_u64(num, &v) != KT_OK)
		return KT_ERR_INVALID_ARG;
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(s + n, units[i].unit) != 0)
			continue;
		if (v > UINT64_MAX / units[i].ms)
			return KT_ERR_CONFIG_RANGE;
		*ms = v * units[i].ms;
		return KT_OK;
	}
	return KT_ERR_INVALID_ARG;
}
