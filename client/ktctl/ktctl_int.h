/*
 * ktctl_int.h — names shared by the files of the ktctl program
 * (client/ktctl.c and the files of client/ktctl/); not part of libkeytrail and not
 * installed.
 *
 *   ktctl/out.c    output helpers: a streaming JSON writer, hex, text that
 *                  may be bytes ("hex:..." form), times
 *   ktctl/admin.c  the admin token file reader (the Admin call itself is
 *                  libkeytrail's kt_client_admin_update)
 *
 * THREAD SAFETY: none needed (one thread); nothing here keeps globals.
 */
#ifndef KTCTL_INT_H
#define KTCTL_INT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "kt_err.h"

/* ---- JSON writer ------------------------------------------------------- */

#define KTCTL_JSON_MAX_DEPTH 16

/* Streams one JSON document to a FILE.  Keys are C strings (written
 * escaped); every value function takes the member key, or NULL inside an
 * array / for the top level.  Nesting deeper than KTCTL_JSON_MAX_DEPTH is
 * a programming error (the writer then stops writing). */
typedef struct ktctl_json {
	FILE *f;
	int depth;
	int broken;                           /* nesting overflow: stop */
	unsigned char first[KTCTL_JSON_MAX_DEPTH];
} ktctl_json;

void ktctl_json_init(ktctl_json *j, FILE *f);
void ktctl_json_obj(ktctl_json *j, const char *key);
void ktctl_json_end_obj(ktctl_json *j);
void ktctl_json_arr(ktctl_json *j, const char *key);
void ktctl_json_end_arr(ktctl_json *j);
/* A NUL-terminated UTF-8 string (NULL writes null). */
void ktctl_json_str(ktctl_json *j, const char *key, const char *s);
/* Bytes shown as text when they are UTF-8 without control characters and
 * do not start with "hex:", else "hex:" followed by lowercase hex — the
 * same form ktctl accepts for ids on its command line. */
void ktctl_json_blob(ktctl_json *j, const char *key, const uint8_t *p,
		     size_t n);
/* Bytes as lowercase hex. */
void ktctl_json_hex(ktctl_json *j, const char *key, const uint8_t *p,
		    size_t n);
void ktctl_json_u64(ktctl_json *j, const char *key, uint64_t v);
void ktctl_json_int(ktctl_json *j, const char *key, long long v);
void ktctl_json_bool(ktctl_json *j, const char *key, int v);
void ktctl_json_null(ktctl_json *j, const char *key);
/* A value that is already JSON text (e.g. libkeytrail's evidence). */
void ktctl_json_raw(ktctl_json *j, const char *key, const char *json);
/* Ends the document with a newline and flushes. */
void ktctl_json_done(ktctl_json *j);

/* ---- text ---------------------------------------------------------------- */

/* 1 if p[0..n) is shown as text by ktctl_json_blob / ktctl_blob_text. */
int ktctl_is_text(const uint8_t *p, size_t n);

/* Writes p[0..n) as ktctl_json_blob does (without quotes) into out[0..cap),
 * NUL-terminated, truncated with "..." if it does not fit (cap >= 4). */
void ktctl_blob_text(const uint8_t *p, size_t n, char *out, size_t cap);

/* Parses a command-line byte string: "hex:<hex digits>" is decoded, any
 * other text is taken as its bytes.  Returns KT_OK with out[0..*len),
 * KT_ERR_INVALID_ARG for bad hex, KT_ERR_TOO_LARGE over cap. */
KT_MUST_CHECK int ktctl_parse_blob(const char *s, uint8_t *out, size_t cap,
				   size_t *len);

/* Lowercase hex of p[0..n) into out (2n+1 bytes; NUL-terminated). */
void ktctl_hex(const uint8_t *p, size_t n, char *out);

/* Parses exactly n bytes of hex (2n digits) from s.  KT_OK or
 * KT_ERR_INVALID_ARG. */
KT_MUST_CHECK int ktctl_unhex(const char *s, uint8_t *out, size_t n);

/* "2026-11-22T11:53:01.123Z" (UTC) into out[0..cap); cap >= 32. */
void ktctl_time(uint64_t ms, char *out, size_t cap);

/* Parses a duration: a decimal number with ms, s, m, h or d (no unit:
 * seconds).  KT_OK, KT_ERR_INVALID_ARG, KT_ERR_CONFIG_RANGE (overflow). */
KT_MUST_CHECK int ktctl_parse_duration(const char *s, uint64_t *ms);

/* Parses a decimal uint64 (no sign, no blanks).  KT_OK or
 * KT_ERR_INVALID_ARG. */
KT_MUST_CHECK int ktctl_parse_u64(const char *s, uint64_t *v);

/* ---- admin token ------------------------------------------------------ */

/* Reads an admin token file: its first line must be exactly 64 hex digits
 * (what `ktd keygen admin` and `ktd --dev` write).  The file must be a
 * regular file that group and others cannot access (KT_ERR_CLIENT_KEY_FILE
 * otherwise, also for a malformed token), KT_ERR_IO.  out gets the 64
 * digits and a NUL; wipe it after use.  The Admin call is libkeytrail's
 * (kt_client_admin_update). */
KT_MUST_CHECK int ktctl_admin_token_read(const char *path, char out[65]);

#endif /* KTCTL_INT_H */
