/* kt_checkpoint.c — C2SP tlog-checkpoint bodies: strict parse and format. */
#include "kt_checkpoint.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "note_int.h"

/* Padded base64 of a 32-byte hash. */
#define ROOT_B64_LEN 44

/* Longest decimal uint64 ("18446744073709551615"). */
#define U64_DIGITS 20

/* The next line of body[*off..len) without its '\n' (NULL if no '\n' is
 * left); advances *off past the '\n'. */
static const uint8_t *take_line(const uint8_t *body, size_t len, size_t *off,
				size_t *line_len)
{
	const uint8_t *start = body + *off;
	const uint8_t *nl;

	if (*off >= len)
		return NULL;
	nl = memchr(start, '\n', len - *off);
	if (nl == NULL)
		return NULL;
	*line_len = (size_t)(nl - start);
	*off += *line_len + 1;
	return start;
}

/* ASCII decimal, no sign, no leading zero (unless exactly "0"), fits uint64. */
static int parse_size(const uint8_t *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (n == 0 || n > U64_DIGITS || (n > 1 && s[0] == '0'))
		return -1;
	for (i = 0; i < n; i++) {
		uint64_t d;

		if (s[i] < '0' || s[i] > '9')
			return -1;
		d = (uint64_t)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

static int parse_root(const uint8_t *s, size_t n, uint8_t root[KT_HASH_BYTES])
{
	size_t got;

	if (n != ROOT_B64_LEN ||
	    kt_note_int_b64_decode(root, KT_HASH_BYTES, s, n, &got) != 0 ||
	    got != KT_HASH_BYTES)
		return -1;
	return 0;
}

/* Extension block: empty, or non-empty lines that each end in '\n'. */
static int extensions_ok(const uint8_t *p, size_t n)
{
	size_t i;

	if (n == 0)
		return 1;
	if (p == NULL || p[0] == '\n' || p[n - 1] != '\n')
		return 0;
	for (i = 1; i < n; i++)
		if (p[i - 1] == '\n' && p[i] == '\n')
			return 0;
	return kt_note_text_check(p, n) == KT_OK;
}

/* Origin: 1..KT_CHECKPOINT_MAX_ORIGIN bytes of text without '\n'. */
static int origin_check(const uint8_t *p, size_t n)
{
	if (n > KT_CHECKPOINT_MAX_ORIGIN)
		return KT_ERR_TOO_LARGE;
	if (p == NULL || n == 0 || memchr(p, '\n', n) != NULL ||
	    kt_note_text_check(p, n) != KT_OK)
		return KT_ERR_CHECKPOINT_MALFORMED;
	return KT_OK;
}

int kt_checkpoint_parse(kt_checkpoint *out, const uint8_t *body, size_t len)
{
	const uint8_t *origin, *size, *root;
	size_t off = 0, origin_len = 0, size_len = 0, root_len = 0;
	int r;

	memset(out, 0, sizeof(*out));
	if (len > KT_CHECKPOINT_MAX_BYTES)
		return KT_ERR_TOO_LARGE;
	if (body == NULL || kt_note_text_check(body, len) != KT_OK)
		return KT_ERR_CHECKPOINT_MALFORMED;
	origin = take_line(body, len, &off, &origin_len);
	size = take_line(body, len, &off, &size_len);
	root = take_line(body, len, &off, &root_len);
	if (origin == NULL || size == NULL || root == NULL)
		return KT_ERR_CHECKPOINT_MALFORMED;
	r = origin_check(origin, origin_len);
	if (r != KT_OK)
		goto out;
	r = KT_ERR_CHECKPOINT_MALFORMED;
	if (parse_size(size, size_len, &out->size) != 0 ||
	    parse_root(root, root_len, out->root) != 0 ||
	    !extensions_ok(body + off, len - off))
		goto out;
	out->origin.p = origin;
	out->origin.len = origin_len;
	out->extensions.p = len > off ? body + off : NULL;
	out->extensions.len = len - off;
	r = KT_OK;
out:
	if (r != KT_OK)
		memset(out, 0, sizeof(*out));
	return r;
}

int kt_checkpoint_format(const kt_checkpoint *cp, uint8_t **out,
			 size_t *out_len)
{
	char num[U64_DIGITS + 1];
	char b64[ROOT_B64_LEN + 1];
	kt_wbuf w;
	int r;

	*out = NULL;
	*out_len = 0;
	if (cp == NULL)
		return KT_ERR_INVALID_ARG;
	r = origin_check(cp->origin.p, cp->origin.len);
	if (r != KT_OK)
		return r;
	if (!extensions_ok(cp->extensions.p, cp->extensions.len))
		return KT_ERR_CHECKPOINT_MALFORMED;
	snprintf(num, sizeof(num), "%" PRIu64, cp->size);
	sodium_bin2base64(b64, sizeof(b64), cp->root, KT_HASH_BYTES,
			  sodium_base64_VARIANT_ORIGINAL);
	kt_wbuf_init(&w, KT_CHECKPOINT_MAX_BYTES);
	kt_put_fixed(&w, cp->origin.p, cp->origin.len);
	kt_put_u8(&w, '\n');
	kt_put_fixed(&w, (const uint8_t *)num, strlen(num));
	kt_put_u8(&w, '\n');
	kt_put_fixed(&w, (const uint8_t *)b64, ROOT_B64_LEN);
	kt_put_u8(&w, '\n');
	kt_put_fixed(&w, cp->extensions.p, cp->extensions.len);
	return kt_wbuf_take(&w, out, out_len);
}

int kt_checkpoint_check_origin(const kt_checkpoint *cp, const char *origin,
			       size_t origin_len)
{
	/* Public values: plain memcmp. */
	if (cp == NULL || origin == NULL || cp->origin.len != origin_len ||
	    memcmp(cp->origin.p, origin, origin_len) != 0)
		return KT_ERR_CHECKPOINT_ORIGIN;
	return KT_OK;
}

int kt_checkpoint_open(kt_checkpoint *cp, const uint8_t *note, size_t note_len,
		       const char *origin, size_t origin_len,
		       const kt_note_verifier *keys, size_t nkeys,
		       kt_note_sigstatus *status)
{
	kt_bytes text;
	int r;

	memset(cp, 0, sizeof(*cp));
	r = kt_note_open(note, note_len, keys, nkeys, &text, status);
	if (r != KT_OK)
		return r;
	r = kt_checkpoint_parse(cp, text.p, text.len);
	if (r == KT_OK)
		r = kt_checkpoint_check_origin(cp, origin, origin_len);
	if (r != KT_OK) {
		memset(cp, 0, sizeof(*cp));
		memset(status, 0, nkeys * sizeof(*status));
	}
	return r;
}
