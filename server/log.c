/*
 * log.c — structured one-line logs (see log.h).
 */
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

static _Atomic int log_min_level = KT_SLOG_INFO;
static _Atomic(FILE *) log_file = NULL;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void kt_slog_set_level(kt_slog_level min)
{
	int m = (int)min;

	if (m < KT_SLOG_DEBUG)
		m = KT_SLOG_DEBUG;
	if (m > KT_SLOG_ERROR)
		m = KT_SLOG_ERROR;
	atomic_store(&log_min_level, m);
}

kt_slog_level kt_slog_get_level(void)
{
	return (kt_slog_level)atomic_load(&log_min_level);
}

int kt_slog_enabled(kt_slog_level level)
{
	return (int)level >= atomic_load(&log_min_level);
}

void kt_slog_set_file(FILE *f)
{
	atomic_store(&log_file, f);
}

int kt_slog_level_parse(const char *s, kt_slog_level *out)
{
	size_t i;

	if (s == NULL || out == NULL)
		return KT_ERR_INVALID_ARG;
	for (i = 0; i < sizeof level_names / sizeof level_names[0]; i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (kt_slog_level)i;
			return KT_OK;
		}
	}
	return KT_ERR_INVALID_ARG;
}

const char *kt_slog_level_name(kt_slog_level level)
{
	if ((int)level < KT_SLOG_DEBUG || (int)level > KT_SLOG_ERROR)
		return "unknown";
	return level_names[level];
}

/* Writes "2026-11-22T10:00:00.123Z" (24 chars + NUL) into ts. */
static void format_time(char ts[32])
{
	struct timespec now;
	struct tm tm;
	size_t n;

	if (clock_gettime(CLOCK_REALTIME, &now) != 0 ||
	    gmtime_r(&now.tv_sec, &tm) == NULL) {
		memcpy(ts, "1970-01-01T00:00:00.000Z", 25);
		return;
	}
	n = strftime(ts, 32, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + n, 32 - n, ".%03ldZ", now.tv_nsec / 1000000L);
}

void kt_slog(kt_slog_level level, const char *event, const char *fmt, ...)
{
	char line[KT_SLOG_LINE_MAX];
	char ts[32];
	size_t len, room;
	int n;
	va_list ap;
	FILE *f;

	if (!kt_slog_enabled(level))
		return;
	format_time(ts);
	n = snprintf(line, sizeof line, "ts=%s level=%s event=%s", ts,
	             kt_slog_level_name(level), event != NULL ? event : "unknown");
	len = n < 0 ? 0 : (size_t)n;
	/* The room left keeps one byte for the newline. */
	if (len < sizeof line - 1 && fmt != NULL && fmt[0] != '\0') {
		line[len++] = ' ';
		room = sizeof line - 1 - len;
		va_start(ap, fmt);
		n = vsnprintf(line + len, room + 1, fmt, ap);
		va_end(ap);
		if (n < 0)
			n = 0;
		if ((size_t)n > room) {
			len = sizeof line - 1;
			memcpy(line + len - 3, "...", 3);
		} else {
			len += (size_t)n;
			if (n == 0)
				len--; /* drop the space before an empty tail */
		}
	}
	if (len > sizeof line - 1)
		len = sizeof line - 1;
	line[len++] = '\n';
	f = atomic_load(&log_file);
	if (f == NULL)
		f = stderr;
	/* One fwrite per line: stdio locks the stream for the whole call. */
	(void)fwrite(line, 1, len, f);
	(void)fflush(f);
}

static int needs_quotes(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	if (*p == '\0')
		return 1;
	for (; *p != '\0'; p++) {
		if (*p <= 0x20 || *p >= 0x7f || *p == '"' || *p == '\\' || *p == '=')
			return 1;
	}
	return 0;
}

/* Escaped form of byte c into out (at most 4 chars + NUL); returns length. */
static size_t escape_byte(unsigned char c, char out[5])
{
	static const char hex[] = "0123456789abcdef";

	if (c == '"' || c == '\\') {
		out[0] = '\\';
		out[1] = (char)c;
		return 2;
	}
	if (c == '\n' || c == '\r' || c == '\t') {
		out[0] = '\\';
		out[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
		return 2;
	}
	if (c < 0x20 || c >= 0x7f) {
		out[0] = '\\';
		out[1] = 'x';
		out[2] = hex[c >> 4];
		out[3] = hex[c & 0xf];
		return 4;
	}
	out[0] = (char)c;
	return 1;
}

const char *kt_slog_quote(char *buf, size_t cap, const char *s)
{
	const unsigned char *p;
	char esc[5];
	size_t len = 0, n, total = 2;
	int cut;

	if (buf == NULL || cap < 8)
		return "?";
	if (s == NULL)
		s = "(null)";
	if (!needs_quotes(s)) {
		n = strlen(s);
		if (n < cap) {
			memcpy(buf, s, n + 1);
			return buf;
		}
		memcpy(buf, s, cap - 4);
		memcpy(buf + cap - 4, "...", 4);
		return buf;
	}
	for (p = (const unsigned char *)s; *p != '\0'; p++)
		total += escape_byte(*p, esc);
	cut = total + 1 > cap;
	buf[len++] = '"';
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		n = escape_byte(*p, esc);
		/* When cut, keep room for "...", the closing quote and the NUL. */
		if (cut && len + n + 5 > cap)
			break;
		memcpy(buf + len, esc, n);
		len += n;
	}
	if (cut) {
		memcpy(buf + len, "...", 3);
		len += 3;
	}
	buf[len++] = '"';
	buf[len] = '\0';
	return buf;
}
