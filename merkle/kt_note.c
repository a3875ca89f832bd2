/* kt_note.c — C2SP signed notes: keys, signing, strict opening. */
#include "kt_note.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "kt_cosig.h"
#include "kt_hash.h"
#include "note_int.h"

#define B64_VARIANT sodium_base64_VARIANT_ORIGINAL

/* Longest decoded signature we ever produce or check: cosignature/v1. */
#define MAX_RAW_SIG KT_COSIG_V1_RAW_BYTES

/* Decoded length of base64(type || 32-byte key) in key strings, and its
 * padded base64 length. */
#define KEY_BLOB_BYTES (1 + KT_NOTE_PK_BYTES)
#define KEY_BLOB_B64 44

#define SIGNER_KEY_PREFIX "PRIVATE+KEY+"
#define SIGNER_KEY_PREFIX_LEN 12

/* ---- UTF-8 and names ---------------------------------------------------- */

/* Decodes one shortest-form UTF-8 scalar value (no surrogates, <= U+10FFFF)
 * at p[0..n); returns its length (1..4) and stores it in *cp, or returns 0
 * if the bytes are not valid UTF-8. */
static size_t utf8_next(const uint8_t *p, size_t n, uint32_t *cp)
{
	uint32_t c;
	size_t len, i;

	if (n == 0)
		return 0;
	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	}
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		len = 2;
		c = p[0] & 0x1fu;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3;
		c = p[0] & 0x0fu;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4;
		c = p[0] & 0x07u;
	} else {
		return 0; /* continuation byte, 0xc0/0xc1 overlong lead, > 0xf4 */
	}
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (p[i] & 0x3fu);
	}
	if ((len == 3 && c < 0x800) || (len == 4 && c < 0x10000) ||
	    c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

/* Unicode White_Space (what Go's unicode.IsSpace reports): the set that
 * c2sp.org/signed-note forbids in key names. */
static int is_unicode_space(uint32_t c)
{
	return (c >= 0x09 && c <= 0x0d) || c == 0x20 || c == 0x85 ||
	       c == 0xa0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200a) ||
	       c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f ||
	       c == 0x3000;
}

int kt_note_text_check(const uint8_t *p, size_t len)
{
	size_t off = 0, n;
	uint32_t c;

	while (off < len) {
		if (p[off] < 0x80) {
			/* ASCII fast path. */
			if (p[off] < 0x20 && p[off] != '\n')
				return KT_ERR_NOTE_MALFORMED;
			off++;
			continue;
		}
		n = utf8_next(p + off, len - off, &c);
		if (n == 0)
			return KT_ERR_NOTE_MALFORMED;
		off += n;
	}
	return KT_OK;
}

int kt_note_name_check(const uint8_t *name, size_t len)
{
	size_t off = 0, n;
	uint32_t c;

	if (name == NULL || len == 0)
		return KT_ERR_NOTE_MALFORMED;
	while (off < len) {
		n = utf8_next(name + off, len - off, &c);
		if (n == 0 || c < 0x20 || c == '+' || is_unicode_space(c))
			return KT_ERR_NOTE_MALFORMED;
		off += n;
	}
	return KT_OK;
}

/* A key name we can hold: valid and at most KT_NOTE_MAX_NAME bytes. */
static int key_name_ok(const char *name, size_t len)
{
	return name != NULL && len <= KT_NOTE_MAX_NAME &&
	       kt_note_name_check((const uint8_t *)name, len) == KT_OK;
}

/* ---- base64 and hex ------------------------------------------------------ */

/* 1 if c is not one of the 64 base64 letters or '=', without branches. */
static unsigned b64_char_bad(uint8_t c)
{
	unsigned x = c, ok;

	ok = (unsigned)(x - 'A' < 26u) | (unsigned)(x - 'a' < 26u) |
	     (unsigned)(x - '0' < 10u) | (unsigned)(x == '+') |
	     (unsigned)(x == '/') | (unsigned)(x == '=');
	return ok ^ 1u;
}

int kt_note_int_b64_decode(uint8_t *out, size_t cap, const uint8_t *s,
			   size_t n, size_t *got)
{
	unsigned bad = 0;
	size_t i;

	*got = 0;
	for (i = 0; i < n; i++)
		bad |= b64_char_bad(s[i]);
	if (bad != 0 || n % 4 != 0)
		return -1;
	if (sodium_base642bin(out, cap, (const char *)s, n, NULL, got, NULL,
			      B64_VARIANT) != 0) {
		*got = 0;
		return -1;
	}
	return 0;
}

/*
 * Strict standard base64 (kt_note_int_b64_decode) of public data s[0..n),
 * n > 0.  Decodes in 256-character chunks so
 * that any length is checked without allocating; '=' is only allowed in the
 * last chunk.  Copies the first min(total, cap) decoded bytes to out and sets
 * *total.  Returns 0, or -1 if s is not canonical base64.
 */
static int b64_decode_prefix(const uint8_t *s, size_t n, uint8_t *out,
			     size_t cap, size_t *total)
{
	uint8_t chunk[192];
	size_t off = 0, got, tot = 0, take;

	*total = 0;
	if (n == 0 || n % 4 != 0)
		return -1;
	while (off < n) {
		take = n - off > 256 ? 256 : n - off;
		if (off + take < n && memchr(s + off, '=', take) != NULL)
			return -1;
		if (kt_note_int_b64_decode(chunk, sizeof(chunk), s + off, take,
					   &got) != 0)
			return -1;
		if (tot < cap)
			memcpy(out + tot, chunk, got < cap - tot ? got : cap - tot);
		tot += got;
		off += take;
	}
	*total = tot;
	return 0;
}

/* Parses exactly 8 lowercase hex digits (public data). */
static int hex8_parse(const char *s, size_t n, uint32_t *out)
{
	uint32_t v = 0;
	size_t i;

	if (n != 8)
		return -1;
	for (i = 0; i < 8; i++) {
		char c = s[i];

		if (c >= '0' && c <= '9')
			v = (v << 4) | (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = (v << 4) | (uint32_t)(c - 'a' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

static void hex8_format(char out[8], uint32_t v)
{
	static const char digits[] = "0123456789abcdef";
	int i;

	for (i = 7; i >= 0; i--) {
		out[i] = digits[v & 0xf];
		v >>= 4;
	}
}

/* Index of the first c in s[from..n), or n. */
static size_t find_char(const char *s, size_t n, size_t from, char c)
{
	const char *p = from < n ? memchr(s + from, c, n - from) : NULL;

	return p != NULL ? (size_t)(p - s) : n;
}

/* ---- key hashes and verifier keys -------------------------------------- */

uint32_t kt_note_key_hash(const char *name, size_t name_len, uint8_t type,
			  const uint8_t pk[KT_NOTE_PK_BYTES])
{
	kt_sha256_ctx c;
	uint8_t h[KT_HASH_BYTES];
	const uint8_t nl = 0x0a;

	kt_sha256_init(&c);
	kt_sha256_update(&c, (const uint8_t *)name, name_len);
	kt_sha256_update(&c, &nl, 1);
	kt_sha256_update(&c, &type, 1);
	kt_sha256_update(&c, pk, KT_NOTE_PK_BYTES);
	kt_sha256_final(&c, h);
	return kt_load_u32be(h);
}

static int type_known(uint8_t type)
{
	return type == KT_NOTE_KEY_ED25519 || type == KT_NOTE_KEY_COSIG_V1;
}

int kt_note_verifier_new(kt_note_verifier *out, const char *name,
			 size_t name_len, uint8_t type,
			 const uint8_t pk[KT_NOTE_PK_BYTES])
{
	memset(out, 0, sizeof(*out));
	if (!key_name_ok(name, name_len) || pk == NULL)
		return KT_ERR_INVALID_ARG;
	if (!type_known(type))
		return KT_ERR_BAD_KEY_TYPE;
	/* Canonical encoding, on the curve, prime-order subgroup, not small
	 * order: every honestly generated Ed25519 key passes. */
	if (crypto_core_ed25519_is_valid_point(pk) != 1)
		return KT_ERR_BAD_KEY;
	memcpy(out->name, name, name_len);
	out->name[name_len] = '\0';
	out->name_len = name_len;
	out->type = type;
	memcpy(out->pk, pk, KT_NOTE_PK_BYTES);
	out->key_hash = kt_note_key_hash(name, name_len, type, pk);
	return KT_OK;
}

int kt_note_verifier_parse(kt_note_verifier *out, const char *s, size_t len)
{
	uint8_t blob[KEY_BLOB_BYTES];
	size_t p1, p2, total;
	uint32_t hash;
	int r;

	memset(out, 0, sizeof(*out));
	if (s == NULL)
		return KT_ERR_BAD_VERIFIER_KEY;
	p1 = find_char(s, len, 0, '+');
	p2 = find_char(s, len, p1 + 1, '+');
	if (p2 >= len || !key_name_ok(s, p1) ||
	    hex8_parse(s + p1 + 1, p2 - p1 - 1, &hash) != 0 ||
	    b64_decode_prefix((const uint8_t *)s + p2 + 1, len - p2 - 1, blob,
			      sizeof(blob), &total) != 0 || total == 0)
		return KT_ERR_BAD_VERIFIER_KEY;
	if (!type_known(blob[0]))
		return KT_ERR_BAD_KEY_TYPE;
	if (total != KEY_BLOB_BYTES)
		return KT_ERR_BAD_VERIFIER_KEY;
	if (kt_note_key_hash(s, p1, blob[0], blob + 1) != hash)
		return KT_ERR_KEY_HASH_MISMATCH;
	r = kt_note_verifier_new(out, s, p1, blob[0], blob + 1);
	if (r == KT_ERR_INVALID_ARG)
		r = KT_ERR_BAD_VERIFIER_KEY;
	return r;
}

/* Checks that v is what kt_note_verifier_new would have built. */
static int verifier_ok(const kt_note_verifier *v)
{
	return v->name_len <= KT_NOTE_MAX_NAME &&
	       key_name_ok(v->name, v->name_len) && type_known(v->type) &&
	       v->key_hash == kt_note_key_hash(v->name, v->name_len, v->type,
					       v->pk);
}

/* Writes prefix || name "+" hex(hash) "+" base64(type || key) and a NUL to a
 * new heap string.  key is secret for signer keys: encoded in constant time
 * and wiped from the scratch buffers. */
static int key_string(const char *prefix, size_t prefix_len,
		      const kt_note_verifier *v, const uint8_t key[32],
		      char **out, size_t *out_len)
{
	uint8_t blob[KEY_BLOB_BYTES];
	char b64[KEY_BLOB_B64 + 1];
	size_t n, off = 0;
	char *s;

	*out = NULL;
	*out_len = 0;
	n = prefix_len + v->name_len + 1 + 8 + 1 + KEY_BLOB_B64;
	s = malloc(n + 1);
	if (s == NULL)
		return KT_ERR_NOMEM;
	blob[0] = v->type;
	memcpy(blob + 1, key, 32);
	sodium_bin2base64(b64, sizeof(b64), blob, sizeof(blob), B64_VARIANT);
	memcpy(s + off, prefix, prefix_len);
	off += prefix_len;
	memcpy(s + off, v->name, v->name_len);
	off += v->name_len;
	s[off++] = '+';
	hex8_format(s + off, v->key_hash);
	off += 8;
	s[off++] = '+';
	memcpy(s + off, b64, KEY_BLOB_B64);
	off += KEY_BLOB_B64;
	s[off] = '\0';
	sodium_memzero(blob, sizeof(blob));
	sodium_memzero(b64, sizeof(b64));
	*out = s;
	*out_len = off;
	return KT_OK;
}

int kt_note_verifier_format(const kt_note_verifier *v, char **out,
			    size_t *out_len)
{
	*out = NULL;
	*out_len = 0;
	if (v == NULL || !verifier_ok(v))
		return KT_ERR_INVALID_ARG;
	return key_string("", 0, v, v->pk, out, out_len);
}

/* ---- signer keys ---------------------------------------------------------- */

void kt_note_signer_wipe(kt_note_signer *s)
{
	if (s != NULL)
		sodium_memzero(s, sizeof(*s));
}

int kt_note_signer_from_seed(kt_note_signer *out, const char *name,
			     size_t name_len, uint8_t type,
			     const uint8_t seed[KT_NOTE_SEED_BYTES])
{
	uint8_t pk[KT_NOTE_PK_BYTES];
	int r;

	kt_note_signer_wipe(out);
	if (!key_name_ok(name, name_len) || seed == NULL)
		return KT_ERR_INVALID_ARG;
	if (!type_known(type))
		return KT_ERR_BAD_KEY_TYPE;
	if (crypto_sign_seed_keypair(pk, out->sk, seed) != 0) {
		r = KT_ERR_INTERNAL;
		goto out;
	}
	r = kt_note_verifier_new(&out->pub, name, name_len, type, pk);
out:
	if (r != KT_OK)
		kt_note_signer_wipe(out);
	return r;
}

int kt_note_signer_parse(kt_note_signer *out, const char *s, size_t len)
{
	uint8_t blob[KEY_BLOB_BYTES];
	size_t p1, p2, got;
	uint32_t hash;
	int r;

	kt_note_signer_wipe(out);
	if (s == NULL || len < SIGNER_KEY_PREFIX_LEN ||
	    memcmp(s, SIGNER_KEY_PREFIX, SIGNER_KEY_PREFIX_LEN) != 0)
		return KT_ERR_NOTE_BAD_SIGNER_KEY;
	p1 = find_char(s, len, SIGNER_KEY_PREFIX_LEN, '+');
	p2 = find_char(s, len, p1 + 1, '+');
	if (p2 >= len || len - p2 - 1 != KEY_BLOB_B64 ||
	    !key_name_ok(s + SIGNER_KEY_PREFIX_LEN, p1 - SIGNER_KEY_PREFIX_LEN) ||
	    hex8_parse(s + p1 + 1, p2 - p1 - 1, &hash) != 0)
		return KT_ERR_NOTE_BAD_SIGNER_KEY;
	/* The seed is secret: the decoder runs in constant time. */
	if (kt_note_int_b64_decode(blob, sizeof(blob),
				   (const uint8_t *)s + p2 + 1, KEY_BLOB_B64,
				   &got) != 0 || got != sizeof(blob)) {
		r = KT_ERR_NOTE_BAD_SIGNER_KEY;
		goto out;
	}
	r = kt_note_signer_from_seed(out, s + SIGNER_KEY_PREFIX_LEN,
				     p1 - SIGNER_KEY_PREFIX_LEN, blob[0],
				     blob + 1);
	if (r == KT_ERR_INVALID_ARG)
		r = KT_ERR_NOTE_BAD_SIGNER_KEY;
	if (r == KT_OK && out->pub.key_hash != hash)
		r = KT_ERR_KEY_HASH_MISMATCH;
out:
	sodium_memzero(blob, sizeof(blob));
	if (r != KT_OK)
		kt_note_signer_wipe(out);
	return r;
}

int kt_note_signer_format(const kt_note_signer *s, char **out, size_t *out_len)
{
	*out = NULL;
	*out_len = 0;
	if (s == NULL || !verifier_ok(&s->pub))
		return KT_ERR_INVALID_ARG;
	/* libsodium's secret key is seed || public key. */
	return key_string(SIGNER_KEY_PREFIX, SIGNER_KEY_PREFIX_LEN, &s->pub,
			  s->sk, out, out_len);
}

/* ---- signature lines ------------------------------------------------------ */

int kt_note_sig_parse(kt_note_sig *out, const uint8_t *line, size_t len)
{
	uint8_t hash[KT_NOTE_KEY_HASH_BYTES];
	const uint8_t *body, *sp;
	size_t body_len, name_len, total;

	memset(out, 0, sizeof(*out));
	if (line == NULL || len < KT_NOTE_SIG_PREFIX_LEN + 1 ||
	    memcmp(line, KT_NOTE_SIG_PREFIX, KT_NOTE_SIG_PREFIX_LEN) != 0 ||
	    line[len - 1] != '\n')
		return KT_ERR_NOTE_MALFORMED;
	body = line + KT_NOTE_SIG_PREFIX_LEN;
	body_len = len - KT_NOTE_SIG_PREFIX_LEN - 1;
	sp = memchr(body, ' ', body_len);
	if (sp == NULL)
		return KT_ERR_NOTE_MALFORMED;
	name_len = (size_t)(sp - body);
	if (kt_note_name_check(body, name_len) != KT_OK ||
	    b64_decode_prefix(sp + 1, body_len - name_len - 1, hash,
			      sizeof(hash), &total) != 0 ||
	    total < KT_NOTE_KEY_HASH_BYTES + 1)
		return KT_ERR_NOTE_MALFORMED;
	out->name.p = body;
	out->name.len = name_len;
	out->key_hash = kt_load_u32be(hash);
	out->b64.p = sp + 1;
	out->b64.len = body_len - name_len - 1;
	out->raw_len = total;
	return KT_OK;
}

/* Whether sig names v (name and key hash; public values). */
static int sig_is_by(const kt_note_sig *sig, const kt_note_verifier *v)
{
	return sig->key_hash == v->key_hash && sig->name.len == v->name_len &&
	       v->name_len <= KT_NOTE_MAX_NAME &&
	       memcmp(sig->name.p, v->name, v->name_len) == 0;
}

static int verify_cosig(const uint8_t raw[MAX_RAW_SIG],
			const kt_note_verifier *v, const uint8_t *text,
			size_t text_len, uint64_t *timestamp)
{
	uint64_t t = kt_load_u64be(raw + KT_NOTE_KEY_HASH_BYTES);
	uint8_t *msg = NULL;
	size_t msg_len;
	int r;

	if (t > KT_COSIG_MAX_TIMESTAMP)
		return KT_ERR_COSIG_MALFORMED;
	r = kt_cosig_message(t, text, text_len, &msg, &msg_len);
	if (r != KT_OK)
		return r;
	if (crypto_sign_verify_detached(raw + KT_NOTE_KEY_HASH_BYTES + 8, msg,
					msg_len, v->pk) != 0)
		r = KT_ERR_NOTE_BAD_SIG;
	else
		*timestamp = t;
	free(msg);
	return r;
}

int kt_note_sig_verify(const kt_note_sig *sig, const kt_note_verifier *v,
		       const uint8_t *text, size_t text_len,
		       uint64_t *timestamp)
{
	uint8_t raw[MAX_RAW_SIG];
	uint64_t t = 0;
	size_t total;
	int r;

	if (timestamp != NULL)
		*timestamp = 0;
	if (!sig_is_by(sig, v))
		return KT_ERR_NOTE_NO_VERIFIED_SIG;
	if (v->type == KT_NOTE_KEY_ED25519) {
		if (sig->raw_len != KT_NOTE_KEY_HASH_BYTES + KT_NOTE_SIG_BYTES)
			return KT_ERR_NOTE_BAD_SIG;
	} else if (v->type == KT_NOTE_KEY_COSIG_V1) {
		if (sig->raw_len != KT_COSIG_V1_RAW_BYTES)
			return KT_ERR_COSIG_MALFORMED;
	} else {
		return KT_ERR_BAD_KEY_TYPE;
	}
	if (b64_decode_prefix(sig->b64.p, sig->b64.len, raw, sizeof(raw),
			      &total) != 0 || total != sig->raw_len)
		return KT_ERR_NOTE_MALFORMED; /* sig was not from kt_note_sig_parse */
	if (v->type == KT_NOTE_KEY_ED25519) {
		r = crypto_sign_verify_detached(raw + KT_NOTE_KEY_HASH_BYTES,
						text, text_len, v->pk) == 0 ?
			    KT_OK : KT_ERR_NOTE_BAD_SIG;
	} else {
		r = verify_cosig(raw, v, text, text_len, &t);
	}
	if (r == KT_OK && timestamp != NULL)
		*timestamp = t;
	return r;
}

/* A text that can be signed: valid, ends in '\n', within the note cap. */
static int text_ok(const uint8_t *text, size_t text_len)
{
	if (text == NULL || text_len == 0 || text[text_len - 1] != '\n')
		return KT_ERR_NOTE_MALFORMED;
	if (text_len >= KT_NOTE_MAX_BYTES)
		return KT_ERR_TOO_LARGE;
	return kt_note_text_check(text, text_len);
}

/* raw = key hash || [timestamp] || signature; returns its length or 0 with
 * *err set. */
static size_t sign_raw(const kt_note_signer *s, uint64_t timestamp,
		       const uint8_t *text, size_t text_len,
		       uint8_t raw[MAX_RAW_SIG], int *err)
{
	uint8_t *msg = NULL;
	size_t msg_len;

	kt_store_u32be(raw, s->pub.key_hash);
	if (s->pub.type == KT_NOTE_KEY_ED25519) {
		if (timestamp != 0) {
			*err = KT_ERR_INVALID_ARG;
			return 0;
		}
		crypto_sign_detached(raw + KT_NOTE_KEY_HASH_BYTES, NULL, text,
				     text_len, s->sk);
		return KT_NOTE_KEY_HASH_BYTES + KT_NOTE_SIG_BYTES;
	}
	if (s->pub.type != KT_NOTE_KEY_COSIG_V1) {
		*err = KT_ERR_BAD_KEY_TYPE;
		return 0;
	}
	*err = kt_cosig_message(timestamp, text, text_len, &msg, &msg_len);
	if (*err != KT_OK)
		return 0;
	kt_store_u64be(raw + KT_NOTE_KEY_HASH_BYTES, timestamp);
	crypto_sign_detached(raw + KT_NOTE_KEY_HASH_BYTES + 8, NULL, msg,
			     msg_len, s->sk);
	free(msg);
	return KT_COSIG_V1_RAW_BYTES;
}

int kt_note_sig_line(const kt_note_signer *signer, uint64_t timestamp,
		     const uint8_t *text, size_t text_len, uint8_t **out,
		     size_t *out_len)
{
	uint8_t raw[MAX_RAW_SIG];
	char b64[sodium_base64_ENCODED_LEN(MAX_RAW_SIG, B64_VARIANT)];
	size_t raw_len;
	kt_wbuf w;
	int r;

	*out = NULL;
	*out_len = 0;
	if (signer == NULL || !verifier_ok(&signer->pub))
		return KT_ERR_INVALID_ARG;
	r = text_ok(text, text_len);
	if (r != KT_OK)
		return r;
	raw_len = sign_raw(signer, timestamp, text, text_len, raw, &r);
	if (raw_len == 0)
		return r;
	sodium_bin2base64(b64, sizeof(b64), raw, raw_len, B64_VARIANT);
	/* The line must fit in a note together with text and the blank line. */
	kt_wbuf_init(&w, KT_NOTE_MAX_BYTES - text_len - 1);
	kt_put_fixed(&w, (const uint8_t *)KT_NOTE_SIG_PREFIX,
		     KT_NOTE_SIG_PREFIX_LEN);
	kt_put_fixed(&w, (const uint8_t *)signer->pub.name,
		     signer->pub.name_len);
	kt_put_u8(&w, ' ');
	kt_put_fixed(&w, (const uint8_t *)b64, strlen(b64));
	kt_put_u8(&w, '\n');
	return kt_wbuf_take(&w, out, out_len);
}

/* Concatenates a[0..alen) || [sep] || b[0..blen) into a new heap buffer. */
static int concat(const uint8_t *a, size_t alen, int sep, const uint8_t *b,
		  size_t blen, uint8_t **out, size_t *out_len)
{
	kt_wbuf w;

	kt_wbuf_init(&w, KT_NOTE_MAX_BYTES);
	kt_put_fixed(&w, a, alen);
	if (sep >= 0)
		kt_put_u8(&w, (uint8_t)sep);
	kt_put_fixed(&w, b, blen);
	return kt_wbuf_take(&w, out, out_len);
}

int kt_note_sign(const kt_note_signer *signer, uint64_t timestamp,
		 const uint8_t *text, size_t text_len, uint8_t **out,
		 size_t *out_len)
{
	uint8_t *line = NULL;
	size_t line_len;
	int r;

	*out = NULL;
	*out_len = 0;
	r = kt_note_sig_line(signer, timestamp, text, text_len, &line,
			     &line_len);
	if (r != KT_OK)
		goto out;
	r = concat(text, text_len, '\n', line, line_len, out, out_len);
out:
	free(line);
	return r;
}

/* ---- parsing a whole note ------------------------------------------------ */

/* Checks the size and the characters of msg and splits it at its last blank
 * line: the text is msg[0..*text_len), the signature block starts at
 * *text_len + 1, is non-empty and ends in '\n'. */
static int note_split(const uint8_t *msg, size_t len, size_t *text_len)
{
	size_t i;
	int r;

	*text_len = 0;
	if (len > KT_NOTE_MAX_BYTES)
		return KT_ERR_TOO_LARGE;
	if (msg == NULL || len < 2 || msg[len - 1] != '\n')
		return KT_ERR_NOTE_MALFORMED;
	r = kt_note_text_check(msg, len);
	if (r != KT_OK)
		return r;
	/* Find the last "\n\n": msg[i-1] ends the text, msg[i] is the blank
	 * line.  If it is at the very end the signature block is empty. */
	for (i = len - 1; i > 0; i--) {
		if (msg[i - 1] == '\n' && msg[i] == '\n')
			break;
	}
	if (i == 0 || i + 1 >= len)
		return KT_ERR_NOTE_MALFORMED;
	*text_len = i; /* text = msg[0..i), ends with msg[i-1] == '\n' */
	return KT_OK;
}

/* Next signature line of the block at msg[*off..len): its start and length
 * (with '\n'); advances *off.  The block ends in '\n', so a line is found. */
static const uint8_t *next_line(const uint8_t *msg, size_t len, size_t *off,
				size_t *line_len)
{
	const uint8_t *start = msg + *off;
	const uint8_t *nl = memchr(start, '\n', len - *off);

	*line_len = (size_t)(nl - start) + 1;
	*off += *line_len;
	return start;
}

/* Parses every signature line of the note: checks that they are well-formed
 * and at most KT_NOTE_MAX_SIGS; if by is not NULL, fails with
 * KT_ERR_NOTE_DUPLICATE_SIG when a line by that key is present. */
static int note_parse(const uint8_t *msg, size_t len, size_t *text_len,
		      size_t *count, const kt_note_verifier *by)
{
	size_t off, line_len, n = 0;
	const uint8_t *line;
	kt_note_sig sig;
	int r;

	*count = 0;
	r = note_split(msg, len, text_len);
	if (r != KT_OK)
		return r;
	off = *text_len + 1;
	while (off < len) {
		if (++n > KT_NOTE_MAX_SIGS)
			return KT_ERR_TOO_LARGE;
		line = next_line(msg, len, &off, &line_len);
		r = kt_note_sig_parse(&sig, line, line_len);
		if (r != KT_OK)
			return r;
		if (by != NULL && sig_is_by(&sig, by))
			return KT_ERR_NOTE_DUPLICATE_SIG;
	}
	*count = n;
	return KT_OK;
}

int kt_note_add_sig(const kt_note_signer *signer, uint64_t timestamp,
		    const uint8_t *note, size_t note_len, uint8_t **out,
		    size_t *out_len)
{
	uint8_t *line = NULL;
	size_t text_len, count, line_len;
	int r;

	*out = NULL;
	*out_len = 0;
	if (signer == NULL)
		return KT_ERR_INVALID_ARG;
	r = note_parse(note, note_len, &text_len, &count, &signer->pub);
	if (r != KT_OK)
		goto out;
	if (count >= KT_NOTE_MAX_SIGS) {
		r = KT_ERR_TOO_LARGE;
		goto out;
	}
	r = kt_note_sig_line(signer, timestamp, note, text_len, &line,
			     &line_len);
	if (r != KT_OK)
		goto out;
	r = concat(note, note_len, -1, line, line_len, out, out_len);
out:
	free(line);
	return r;
}

/* The index of the known key that sig names, or nkeys. */
static size_t key_index(const kt_note_sig *sig, const kt_note_verifier *keys,
			size_t nkeys)
{
	size_t i;

	for (i = 0; i < nkeys; i++)
		if (sig_is_by(sig, &keys[i]))
			break;
	return i;
}

/* Rejects a key list that kt_note_open cannot use unambiguously. */
static int keys_ok(const kt_note_verifier *keys, size_t nkeys)
{
	size_t i, j;

	if (keys == NULL || nkeys == 0 || nkeys > KT_NOTE_MAX_VERIFIERS)
		return 0;
	for (i = 0; i < nkeys; i++) {
		if (keys[i].name_len == 0 || keys[i].name_len > KT_NOTE_MAX_NAME)
			return 0;
		for (j = i + 1; j < nkeys; j++)
			if (keys[i].key_hash == keys[j].key_hash &&
			    keys[i].name_len == keys[j].name_len &&
			    memcmp(keys[i].name, keys[j].name,
				   keys[i].name_len) == 0)
				return 0;
	}
	return 1;
}

/* Second pass of kt_note_open: verifies every line by a known key. */
static int note_verify(const uint8_t *msg, size_t len, size_t text_len,
		       const kt_note_verifier *keys, size_t nkeys,
		       kt_note_sigstatus *status)
{
	size_t off = text_len + 1, line_len, k, verified = 0;
	const uint8_t *line;
	kt_note_sig sig;
	uint64_t t;
	int r;

	while (off < len) {
		line = next_line(msg, len, &off, &line_len);
		r = kt_note_sig_parse(&sig, line, line_len);
		if (r != KT_OK)
			return r;
		k = key_index(&sig, keys, nkeys);
		if (k == nkeys)
			continue; /* unknown key: ignored */
		if (status[k].verified)
			return KT_ERR_NOTE_DUPLICATE_SIG;
		r = kt_note_sig_verify(&sig, &keys[k], msg, text_len, &t);
		if (r != KT_OK)
			return r;
		status[k].verified = true;
		status[k].timestamp = t;
		verified++;
	}
	return verified > 0 ? KT_OK : KT_ERR_NOTE_NO_VERIFIED_SIG;
}

int kt_note_open(const uint8_t *msg, size_t len, const kt_note_verifier *keys,
		 size_t nkeys, kt_bytes *text, kt_note_sigstatus *status)
{
	size_t text_len = 0, count;
	int r;

	if (text == NULL)
		return KT_ERR_INVALID_ARG;
	text->p = NULL;
	text->len = 0;
	if (status == NULL || !keys_ok(keys, nkeys))
		return KT_ERR_INVALID_ARG;
	memset(status, 0, nkeys * sizeof(*status));
	r = note_parse(msg, len, &text_len, &count, NULL);
	if (r != KT_OK)
		goto out;
	r = note_verify(msg, len, text_len, keys, nkeys, status);
	if (r != KT_OK)
		goto out;
	text->p = msg;
	text->len = text_len;
out:
	if (r != KT_OK)
		memset(status, 0, nkeys * sizeof(*status));
	return r;
}
