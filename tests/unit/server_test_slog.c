/* server_test_slog.c — structured one-line logs (server/log.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>

#include "kt_err.h"
#include "log.h"

/* Logs to a fresh temporary file; returns it. */
static FILE *capture(void)
{
	FILE *f = tmpfile();

	assert_non_null(f);
	kt_slog_set_file(f);
	return f;
}

/* Stops capturing and returns everything written (malloc'd, NUL-ended). */
static char *captured(FILE *f)
{
	long n;
	char *s;

	kt_slog_set_file(NULL);
	fflush(f);
	n = ftell(f);
	assert_true(n >= 0);
	s = calloc(1, (size_t)n + 1);
	assert_non_null(s);
	rewind(f);
	assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	return s;
}

/* Checks "ts=YYYY-MM-DDTHH:MM:SS.mmmZ " at p; returns p past it or NULL. */
static const char *skip_ts(const char *p)
{
	static const char pat[] = "ts=dddd-dd-ddTdd:dd:dd.dddZ ";
	size_t i;

	for (i = 0; pat[i] != '\0'; i++) {
		if (pat[i] == 'd' ? !isdigit((unsigned char)p[i]) : p[i] != pat[i])
			return NULL;
	}
	return p + i;
}

/* Checks one line (timestamp, then want) at p; returns the next line. */
static const char *expect_line(const char *p, const char *want)
{
	p = skip_ts(p);
	assert_non_null(p);
	assert_true(strncmp(p, want, strlen(want)) == 0);
	return p + strlen(want);
}

static void test_line_format(void **state)
{
	FILE *f;
	char *out;
	const char *p;

	(void)state;
	kt_slog_set_level(KT_SLOG_INFO);
	f = capture();
	kt_slog(KT_SLOG_INFO, "net_start", "port=%d workers=%u", 7443, 4u);
	kt_slog(KT_SLOG_WARN, "bare", NULL);
	kt_slog(KT_SLOG_ERROR, "empty", "%s", "");
	out = captured(f);
	p = expect_line(out, "level=info event=net_start port=7443 workers=4\n");
	p = expect_line(p, "level=warn event=bare\n");
	p = expect_line(p, "level=error event=empty\n");
	assert_string_equal(p, "");
	/* The twin: a corrupted timestamp is not accepted by the checker. */
	assert_null(skip_ts("ts=2026-11-22T10:00:00,123Z "));
	assert_null(skip_ts("ts=2026-11-22T10:00:00.123 "));
	free(out);
}

static void test_levels(void **state)
{
	FILE *f;
	char *out;
	kt_slog_level lv = KT_SLOG_WARN;

	(void)state;
	kt_slog_set_level(KT_SLOG_WARN);
	assert_int_equal(kt_slog_get_level(), KT_SLOG_WARN);
	assert_false(kt_slog_enabled(KT_SLOG_INFO));
	assert_true(kt_slog_enabled(KT_SLOG_ERROR));
	f = capture();
	kt_slog(KT_SLOG_DEBUG, "d", "x=1");
	kt_slog(KT_SLOG_INFO, "i", "x=2");
	kt_slog(KT_SLOG_WARN, "w", "x=3");
	kt_slog(KT_SLOG_ERROR, "e", "x=4");
	out = captured(f);
	assert_null(strstr(out, "event=d "));
	assert_null(strstr(out, "event=i "));
	assert_non_null(strstr(out, "level=warn event=w x=3\n"));
	assert_non_null(strstr(out, "level=error event=e x=4\n"));
	free(out);

	kt_slog_set_level(KT_SLOG_DEBUG);
	f = capture();
	kt_slog(KT_SLOG_DEBUG, "d", "x=1");
	out = captured(f);
	assert_non_null(strstr(out, "level=debug event=d x=1\n"));
	free(out);

	/* Out-of-range levels are clamped. */
	kt_slog_set_level((kt_slog_level)99);
	assert_int_equal(kt_slog_get_level(), KT_SLOG_ERROR);
	kt_slog_set_level((kt_slog_level)-5);
	assert_int_equal(kt_slog_get_level(), KT_SLOG_DEBUG);
	kt_slog_set_level(KT_SLOG_INFO);

	assert_int_equal(kt_slog_level_parse("debug", &lv), KT_OK);
	assert_int_equal(lv, KT_SLOG_DEBUG);
	assert_int_equal(kt_slog_level_parse("error", &lv), KT_OK);
	assert_int_equal(lv, KT_SLOG_ERROR);
	assert_int_equal(kt_slog_level_parse("INFO", &lv), KT_ERR_INVALID_ARG);
	assert_int_equal(kt_slog_level_parse("warning", &lv), KT_ERR_INVALID_ARG);
	assert_int_equal(kt_slog_level_parse("", &lv), KT_ERR_INVALID_ARG);
	assert_int_equal(kt_slog_level_parse(NULL, &lv), KT_ERR_INVALID_ARG);
	assert_int_equal(lv, KT_SLOG_ERROR); /* unchanged on failure */
	assert_string_equal(kt_slog_level_name(KT_SLOG_WARN), "warn");
	assert_string_equal(kt_slog_level_name((kt_slog_level)7), "unknown");
}

static void test_quote(void **state)
{
	char b[KT_SLOG_QUOTE_MAX];
	char small[12];
	char long_plain[400];

	(void)state;
	assert_string_equal(kt_slog_quote(b, sizeof b, "127.0.0.1:7443"), "127.0.0.1:7443");
	assert_string_equal(kt_slog_quote(b, sizeof b, "two words"), "\"two words\"");
	assert_string_equal(kt_slog_quote(b, sizeof b, "a=b"), "\"a=b\"");
	assert_string_equal(kt_slog_quote(b, sizeof b, "say \"hi\" \\o/"),
	                    "\"say \\\"hi\\\" \\\\o/\"");
	assert_string_equal(kt_slog_quote(b, sizeof b, "l1\nl2\t\r\x01\xff"),
	                    "\"l1\\nl2\\t\\r\\x01\\xff\"");
	assert_string_equal(kt_slog_quote(b, sizeof b, ""), "\"\"");
	assert_string_equal(kt_slog_quote(b, sizeof b, NULL), "(null)");
	assert_string_equal(kt_slog_quote(b, 7, "x"), "?");

	/* Exactly fitting values are not cut; one byte more is. */
	assert_string_equal(kt_slog_quote(small, sizeof small, "abcdefghijk"), "abcdefghijk");
	assert_string_equal(kt_slog_quote(small, sizeof small, "abcdefghijkl"), "abcdefgh...");
	assert_string_equal(kt_slog_quote(small, sizeof small, "a c d e f"), "\"a c d e f\"");
	assert_string_equal(kt_slog_quote(small, sizeof small, "a c d e f g"), "\"a c d ...\"");
	assert_string_equal(kt_slog_quote(small, sizeof small, "\n\n\n\n\n\n"), "\"\\n\\n\\n...\"");
	memset(long_plain, 'z', sizeof long_plain - 1);
	long_plain[sizeof long_plain - 1] = '\0';
	kt_slog_quote(b, sizeof b, long_plain);
	assert_int_equal(strlen(b), sizeof b - 1);
	assert_string_equal(b + sizeof b - 4, "...");
}

static void test_long_line_is_cut(void **state)
{
	FILE *f;
	char *out, *v;
	size_t n;

	(void)state;
	v = malloc(6000);
	assert_non_null(v);
	memset(v, 'v', 5999);
	v[5999] = '\0';
	f = capture();
	kt_slog(KT_SLOG_ERROR, "big", "value=%s", v);
	kt_slog(KT_SLOG_ERROR, "after", "ok=1");
	out = captured(f);
	n = strcspn(out, "\n");
	assert_int_equal(n + 1, KT_SLOG_LINE_MAX);
	assert_true(memcmp(out + n - 3, "...", 3) == 0);
	assert_non_null(strstr(out + n + 1, "event=after ok=1\n"));
	free(out);
	free(v);
}

enum { THREADS = 4, LINES = 500 };

static void *writer_main(void *arg)
{
	int t = (int)(intptr_t)arg, i;

	for (i = 0; i < LINES; i++)
		kt_slog(KT_SLOG_INFO, "spam", "thread=%d i=%d pad=%s", t, i,
		        "0123456789012345678901234567890123456789012345678901234567890123456789");
	return NULL;
}

/* Lines from concurrent threads never interleave. */
static void test_threads(void **state)
{
	pthread_t th[THREADS];
	FILE *f;
	char *out, *line, *save = NULL;
	int i, count = 0;

	(void)state;
	f = capture();
	for (i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, writer_main, (void *)(intptr_t)i), 0);
	for (i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	out = captured(f);
	for (line = strtok_r(out, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		const char *p = skip_ts(line);

		assert_non_null(p);
		assert_true(strncmp(p, "level=info event=spam thread=", 29) == 0);
		assert_null(strstr(p, "ts="));
		assert_non_null(strstr(p, "89012345678901234567890123456789"));
		count++;
	}
	assert_int_equal(count, THREADS * LINES);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_line_format),
		cmocka_unit_test(test_levels),
		cmocka_unit_test(test_quote),
		cmocka_unit_test(test_long_line_is_cut),
		cmocka_unit_test(test_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
