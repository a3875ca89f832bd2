/*
 * log.h — structured one-line logs of ktd.
 *
 * Every line has the form
 *
 *   ts=2026-11-22T10:00:00.123Z level=info event=net_start port=7443 workers=4
 *
 * (UTC, millisecond precision), followed by the key=value pairs the caller
 * formats.  A line is written with one fwrite() and is capped at
 * KT_SLOG_LINE_MAX bytes (longer lines end in "..." before the newline), so
 * lines from concurrent threads never interleave.
 *
 * Values that may contain spaces, quotes, '=' or control characters must be
 * passed through kt_slog_quote().  Event names are short snake_case constants.
 *
 * Names are kt_slog_* ("structured log"), not kt_log_*: merkle/kt_log.h
 * owns that prefix (the RFC 9162 log tree, type kt_log).
 *
 * The logger is process-wide (the one piece of global state in server/):
 * the destination and the minimum level are set once at start-up by main and
 * may be changed at any time from any thread.
 */
#ifndef KT_SERVER_LOG_H
#define KT_SERVER_LOG_H

#include <stddef.h>
#include <stdio.h>

#include "kt_err.h"

typedef enum kt_slog_level {
	KT_SLOG_DEBUG = 0,
	KT_SLOG_INFO = 1,
	KT_SLOG_WARN = 2,
	KT_SLOG_ERROR = 3
} kt_slog_level;

/* Longest line written, newline included. */
#define KT_SLOG_LINE_MAX 4096
/* A convenient size for kt_slog_quote() buffers. */
#define KT_SLOG_QUOTE_MAX 256

/* Sets the minimum level written (default KT_SLOG_INFO); lower levels are
 * dropped.  Out-of-range values are clamped.  Thread safe. */
void kt_slog_set_level(kt_slog_level min);

/* Returns the current minimum level.  Thread safe. */
kt_slog_level kt_slog_get_level(void);

/* Returns nonzero if a line at level would be written: lets callers skip
 * expensive formatting of debug values.  Thread safe. */
int kt_slog_enabled(kt_slog_level level);

/* Sets where lines go; NULL = stderr (the default).  The caller keeps
 * ownership of f and must keep it open until it sets another destination
 * and no kt_slog() call may still be using it.  Thread safe. */
void kt_slog_set_file(FILE *f);

/* Parses "debug", "info", "warn" or "error" into *out.
 * Returns KT_OK, or KT_ERR_INVALID_ARG (and leaves *out unchanged) for any
 * other string or NULL. */
KT_MUST_CHECK int kt_slog_level_parse(const char *s, kt_slog_level *out);

/* Returns the static name of a level ("info"); "unknown" if out of range. */
const char *kt_slog_level_name(kt_slog_level level);

/* Writes one line at level: the timestamp, level and event, then a space and
 * the printf-formatted key=value pairs (nothing after the event if fmt is
 * NULL or formats to ""). Never fails visibly: a write error is ignored.
 * Thread safe. */
void kt_slog(kt_slog_level level, const char *event, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Renders s as a log value into buf (capacity cap, at least 8 bytes) and
 * returns buf.  s is copied as is if it is non-empty and has only printable
 * ASCII other than space, '"', '\\' and '='; otherwise it is wrapped in
 * double quotes with '"' and '\\' backslash-escaped, \n \r \t written as
 * such and every other byte below 0x20 or above 0x7e as \xNN.  A value that
 * does not fit is cut and ends in "..." (inside the quotes).  NULL s gives
 * "(null)".  Thread safe (no shared state). */
const char *kt_slog_quote(char *buf, size_t cap, const char *s);

#endif /* KT_SERVER_LOG_H */
