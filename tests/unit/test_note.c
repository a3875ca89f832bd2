/*
 * test_note.c — C2SP signed notes, checkpoints and cosignature/v1.
 *
 * Vectors: note/sumdb-note-example.json (Go sumdb/note example: reproduced
 * byte for byte) and note/c2sp-interop.json (real checkpoints signed by a
 * public log and cosigned by public witnesses).  Every positive case has a
 * forgery twin that must fail with a specific error.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "kt_checkpoint.h"
#include "kt_cosig.h"
#include "kt_err.h"
#include "kt_json.h"
#include "kt_note.h"

#define EM "\xe2\x80\x94"

/* ---- helpers -------------------------------------------------------------- */

static kt_json *load_vector(const char *name)
{
	char path[512];
	kt_json *j;

	snprintf(path, sizeof(path), "%s/note/%s", KT_TEST_VECTORS, name);
	j = kt_json_load(path);
	assert_non_null(j);
	return j;
}

static const char *jstr(const kt_json *obj, const char *key)
{
	const kt_json *v = kt_json_get(obj, key);

	assert_non_null(v);
	assert_int_equal(v->type, KT_JSON_STRING);
	return v->text;
}

/* A growable byte string for building test notes. */
typedef struct sb {
	uint8_t *p;
	size_t len;
} sb;

static void sb_add(sb *s, const void *p, size_t n)
{
	uint8_t *q = realloc(s->p, s->len + n + 1);

	assert_non_null(q);
	memcpy(q + s->len, p, n);
	s->p = q;
	s->len += n;
	s->p[s->len] = 0;
}

static void sb_str(sb *s, const char *str)
{
	sb_add(s, str, strlen(str));
}

static void sb_free(sb *s)
{
	free(s->p);
	s->p = NULL;
	s->len = 0;
}

/* "— name base64(raw)\n" built by hand (for lines the library would never
 * produce). */
static void sb_line(sb *s, const char *name, const uint8_t *raw, size_t n)
{
	char b64[8192];

	sodium_bin2base64(b64, sizeof(b64), raw, n,
			  sodium_base64_VARIANT_ORIGINAL);
	sb_str(s, EM " ");
	sb_str(s, name);
	sb_str(s, " ");
	sb_str(s, b64);
	sb_str(s, "\n");
}

static const uint8_t *u8(const char *s)
{
	return (const uint8_t *)s;
}

/* out = tmpl with its first "%s" (if any) replaced by arg; returns strlen. */
static size_t subst(char *out, size_t cap, const char *tmpl, const char *arg)
{
	const char *at = strstr(tmpl, "%s");
	size_t pre = at != NULL ? (size_t)(at - tmpl) : strlen(tmpl);
	size_t alen = at != NULL ? strlen(arg) : 0;
	size_t post = at != NULL ? strlen(at + 2) : 0;

	assert_true(pre + alen + post < cap);
	memcpy(out, tmpl, pre);
	memcpy(out + pre, arg, alen);
	memcpy(out + pre + alen, at != NULL ? at + 2 : "", post);
	out[pre + alen + post] = 0;
	return pre + alen + post;
}

/* Opens note with one key; returns the error code. */
static int open1(const uint8_t *note, size_t len, const kt_note_verifier *v)
{
	kt_note_sigstatus st;
	kt_bytes text;

	return kt_note_open(note, len, v, 1, &text, &st);
}

static int open1s(const sb *s, const kt_note_verifier *v)
{
	return open1(s->p, s->len, v);
}

static int vparse(kt_note_verifier *v, const char *str)
{
	return kt_note_verifier_parse(v, str, strlen(str));
}

static int sparse(kt_note_signer *s, const char *str)
{
	return kt_note_signer_parse(s, str, strlen(str));
}

static void verifier_from(kt_note_verifier *v, const char *str)
{
	assert_int_equal(kt_note_verifier_parse(v, str, strlen(str)), KT_OK);
}

static void signer_from(kt_note_signer *s, const char *name, uint8_t type,
			uint8_t seed_byte)
{
	uint8_t seed[KT_NOTE_SEED_BYTES];

	memset(seed, seed_byte, sizeof(seed));
	assert_int_equal(kt_note_signer_from_seed(s, name, strlen(name), type,
						  seed), KT_OK);
}

/* A verifier key string with a chosen hash, type and key bytes. */
static char *vkey_string(const char *name, uint32_t hash, const uint8_t *blob,
			 size_t blob_len)
{
	char b64[256];
	char *s = malloc(1024);

	assert_non_null(s);
	sodium_bin2base64(b64, sizeof(b64), blob, blob_len,
			  sodium_base64_VARIANT_ORIGINAL);
	snprintf(s, 1024, "%s+%08x+%s", name, hash, b64);
	return s;
}

static const char cp_body[] =
	"example.com/keytrail\n"
	"12345\n"
	"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n";

/* ---- the Go sumdb/note example, byte for byte ----------------------------- */

static void test_sumdb_vector(void **state)
{
	kt_json *j = load_vector("sumdb-note-example.json");
	const char *skey = jstr(j, "signer_key"), *vkey = jstr(j, "verifier_key");
	const char *text = jstr(j, "text"), *want = jstr(j, "signed_note");
	kt_note_signer s;
	kt_note_verifier v;
	kt_note_sigstatus st;
	kt_bytes got_text;
	uint8_t *note;
	size_t len;
	char *str;

	(void)state;
	assert_int_equal(kt_note_signer_parse(&s, skey, strlen(skey)), KT_OK);
	assert_int_equal(s.pub.type, KT_NOTE_KEY_ED25519);
	assert_int_equal(s.pub.key_hash, 0xc74f20a3);
	assert_int_equal(kt_note_signer_format(&s, &str, &len), KT_OK);
	assert_string_equal(str, skey);
	sodium_memzero(str, len);
	free(str);

	/* Sign: byte for byte. */
	assert_int_equal(kt_note_sign(&s, 0, u8(text), strlen(text), &note, &len),
			 KT_OK);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(note, want, len);
	free(note);

	/* The verifier key is the signer's public half. */
	verifier_from(&v, vkey);
	assert_memory_equal(&v, &s.pub, sizeof(v));
	assert_int_equal(kt_note_verifier_format(&v, &str, &len), KT_OK);
	assert_string_equal(str, vkey);
	free(str);

	/* Open. */
	assert_int_equal(kt_note_open(u8(want), strlen(want), &v, 1, &got_text,
				      &st), KT_OK);
	assert_int_equal(got_text.len, strlen(text));
	assert_memory_equal(got_text.p, text, got_text.len);
	assert_true(st.verified);
	assert_int_equal(st.timestamp, 0);

	/* Twin: a timestamp with an Ed25519 key is a caller error. */
	assert_int_equal(kt_note_sign(&s, 1, u8(text), strlen(text), &note, &len),
			 KT_ERR_INVALID_ARG);
	assert_null(note);

	kt_note_signer_wipe(&s);
	kt_json_free(j);
}

/* Forgeries of the sumdb example note. */
static void test_sumdb_forgeries(void **state)
{
	kt_json *j = load_vector("sumdb-note-example.json");
	const char *vkey = jstr(j, "verifier_key");
	const char *text = jstr(j, "text"), *want = jstr(j, "signed_note");
	const char *line = want + strlen(text) + 1; /* "— PeterNeumann ...\n" */
	const char *b64 = line + 4 + strlen("PeterNeumann") + 1;
	size_t b64_len = strlen(b64) - 1;
	kt_note_verifier v, other;
	kt_note_sigstatus st;
	kt_bytes got;
	uint8_t raw[68];
	size_t raw_len, i;
	char *m;
	sb s = {0};

	(void)state;
	verifier_from(&v, vkey);
	assert_int_equal(sodium_base642bin(raw, sizeof(raw), b64, b64_len, NULL,
					   &raw_len, NULL,
					   sodium_base64_VARIANT_ORIGINAL), 0);
	assert_int_equal(raw_len, 68);

	/* The unmodified note opens (so each twin below fails for its own
	 * reason). */
	assert_int_equal(open1(u8(want), strlen(want), &v), KT_OK);

	/* Text altered by one byte, in several places. */
	for (i = 0; i < strlen(text) - 1; i += 7) {
		if (text[i] == '\n')
			continue; /* that twin is a control character */
		m = strdup(want);
		m[i] = m[i] == 'x' ? 'y' : 'x';
		assert_int_equal(open1(u8(m), strlen(m), &v), KT_ERR_NOTE_BAD_SIG);
		free(m);
	}
	/* A signature bit flipped. */
	raw[40] ^= 0x80;
	sb_str(&s, text);
	sb_str(&s, "\n");
	sb_line(&s, "PeterNeumann", raw, 68);
	assert_int_equal(open1s(&s, &v), KT_ERR_NOTE_BAD_SIG);
	sb_free(&s);
	raw[40] ^= 0x80;

	/* Wrong key hash in the line: an unknown key, so nothing verifies. */
	raw[3] ^= 0x01;
	sb_str(&s, text);
	sb_str(&s, "\n");
	sb_line(&s, "PeterNeumann", raw, 68);
	assert_int_equal(open1s(&s, &v), KT_ERR_NOTE_NO_VERIFIED_SIG);
	sb_free(&s);
	raw[3] ^= 0x01;

	/* The same public key under another name: another key hash and name,
	 * so the line is not by it. */
	assert_int_equal(kt_note_verifier_new(&other, "PeterNeumann2", 13,
					      KT_NOTE_KEY_ED25519, v.pk), KT_OK);
	assert_int_equal(open1(u8(want), strlen(want), &other),
			 KT_ERR_NOTE_NO_VERIFIED_SIG);
	/* Another name with the SAME key hash (a forged list entry): name
	 * differs, so still unknown. */
	other = v;
	memcpy(other.name, "PeterNeumannX", 14);
	other.name_len = 13;
	assert_int_equal(open1(u8(want), strlen(want), &other),
			 KT_ERR_NOTE_NO_VERIFIED_SIG);
	/* The same name and hash but another public key (a key-hash
	 * collision): the signature must fail, not be ignored. */
	other = v;
	other.pk[0] ^= 0x01;
	assert_int_equal(open1(u8(want), strlen(want), &other),
			 KT_ERR_NOTE_BAD_SIG);

	/* Truncated signature: valid base64 of 4 + 61 bytes. */
	sb_str(&s, text);
	sb_str(&s, "\n");
	sb_line(&s, "PeterNeumann", raw, 65);
	assert_int_equal(open1s(&s, &v), KT_ERR_NOTE_BAD_SIG);
	sb_free(&s);
	/* Truncated line: base64 cut mid-group. */
	m = strdup(want);
	memmove(m + strlen(m) - 3, "\n", 2);
	assert_int_equal(open1(u8(m), strlen(m), &v), KT_ERR_NOTE_MALFORMED);
	free(m);

	/* Duplicate line by a known key. */
	sb_str(&s, want);
	sb_str(&s, line);
	assert_int_equal(open1s(&s, &v), KT_ERR_NOTE_DUPLICATE_SIG);
	sb_free(&s);

	/* Status and text are cleared on failure. */
	st.verified = true;
	st.timestamp = 7;
	got.p = u8("x");
	got.len = 1;
	m = strdup(want);
	m[0] ^= 1;
	assert_int_equal(kt_note_open(u8(m), strlen(m), &v, 1, &got, &st),
			 KT_ERR_NOTE_BAD_SIG);
	assert_false(st.verified);
	assert_int_equal(st.timestamp, 0);
	assert_null(got.p);
	assert_int_equal(got.len, 0);
	free(m);
	kt_json_free(j);
}

/* Malformed notes and signature lines, each against the sumdb example. */
static void test_malformed_notes(void **state)
{
	kt_json *j = load_vector("sumdb-note-example.json");
	const char *vkey = jstr(j, "verifier_key");
	const char *text = jstr(j, "text"), *want = jstr(j, "signed_note");
	const char *sig = want + strlen(text) + 1 + 4 + strlen("PeterNeumann") + 1;
	kt_note_verifier v;
	size_t i;
	char buf[1024];
	static const char *const bad_lines[] = {
		"- PeterNeumann %s",            /* ASCII hyphen, not em dash */
		"\xe2\x80\x93 PeterNeumann %s", /* en dash */
		EM "PeterNeumann %s",           /* no space after the dash */
		EM "  PeterNeumann %s",         /* two spaces: empty name */
		EM " PeterNeumann  %s",         /* two spaces before base64 */
		EM " PeterNeumann\t%s",         /* tab */
		EM " PeterNeumann",             /* no signature */
		EM " PeterNeumann ",            /* empty signature */
		EM " Peter+Neumann %s",         /* '+' in the name */
		EM " Peter\xc2\xa0Neumann %s",  /* U+00A0 in the name */
		EM " Peter\xe3\x80\x80Neumann %s", /* U+3000 in the name */
		EM " PeterNeumann !%s",         /* not base64 */
		EM " PeterNeumann AAAA",        /* base64 of 3 bytes: < 5 */
		EM " PeterNeumann AAAAAA==",    /* 4 bytes: hash only */
		EM " PeterNeumann AAAAAB==",    /* non-zero pad bits */
		EM " PeterNeumann AAAAAA",      /* missing padding */
		EM " PeterNeumann AAAAAA=A",    /* padding inside */
		EM " PeterNeumann AAAAAAA-",    /* URL-safe alphabet */
	};

	(void)state;
	verifier_from(&v, vkey);
	for (i = 0; i < sizeof(bad_lines) / sizeof(bad_lines[0]); i++) {
		int n = snprintf(buf, sizeof(buf), "%s\n", text);

		n += (int)subst(buf + n, sizeof(buf) - (size_t)n, bad_lines[i],
				sig);
		/* sig already ends in '\n'; add one where it was not used. */
		if (buf[n - 1] != '\n')
			buf[n++] = '\n';
		buf[n] = 0;
		assert_int_equal(open1(u8(buf), (size_t)n, &v),
				 KT_ERR_NOTE_MALFORMED);
	}

	/* Non-ASCII letters inside base64 (libsodium 1.0.18 alone would read
	 * each byte >= 0x80 as '/'). */
	{
		int n = snprintf(buf, sizeof(buf), "%s", want);

		memcpy(buf + n - 20, "\xc3\x87", 2);
		assert_int_equal(open1(u8(buf), (size_t)n, &v),
				 KT_ERR_NOTE_MALFORMED);
	}

	/* Padding in the middle of a long base64 field (at the 256-character
	 * boundary where the decoder works in chunks), in an unknown key's
	 * line next to the valid one. */
	{
		int n = snprintf(buf, sizeof(buf), "%s" EM " other ", want);

		memset(buf + n, 'A', 256);
		memcpy(buf + n + 252, "AA==AAAA\n", 10);
		assert_int_equal(open1(u8(buf), strlen(buf), &v),
				 KT_ERR_NOTE_MALFORMED);
		memcpy(buf + n + 252, "AAAAAAAA\n", 10); /* twin: no padding */
		assert_int_equal(open1(u8(buf), strlen(buf), &v), KT_OK);
	}

	/* Structure: no blank line, no signatures, trailing garbage. */
	snprintf(buf, sizeof(buf), "%s%s", text, want + strlen(text) + 1);
	assert_int_equal(open1(u8(buf), strlen(buf), &v), KT_ERR_NOTE_MALFORMED);
	snprintf(buf, sizeof(buf), "%s\n", text);
	assert_int_equal(open1(u8(buf), strlen(buf), &v), KT_ERR_NOTE_MALFORMED);
	snprintf(buf, sizeof(buf), "%s\n\n", want);
	assert_int_equal(open1(u8(buf), strlen(buf), &v), KT_ERR_NOTE_MALFORMED);
	snprintf(buf, sizeof(buf), "%s", want);
	buf[strlen(buf) - 1] = 0; /* no final newline */
	assert_int_equal(open1(u8(buf), strlen(buf), &v), KT_ERR_NOTE_MALFORMED);
	assert_int_equal(open1(u8(""), 0, &v), KT_ERR_NOTE_MALFORMED);
	assert_int_equal(open1(u8("\n"), 1, &v), KT_ERR_NOTE_MALFORMED);

	/* Control characters and invalid UTF-8 anywhere. */
	{
		static const char *const bad[] = {"\t", "\r", "\x01", "\x1f",
						  "\xff", "\xc0\xaf",
						  "\xed\xa0\x80", "\xf4\x90\x80\x80",
						  "\xe2\x80", "\x80"};

		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			snprintf(buf, sizeof(buf), "If%s%s", bad[i], want + 2);
			assert_int_equal(open1(u8(buf), strlen(buf), &v),
					 KT_ERR_NOTE_MALFORMED);
		}
		/* A NUL byte (not reachable with strlen). */
		memcpy(buf, want, strlen(want));
		buf[5] = 0;
		assert_int_equal(open1(u8(buf), strlen(want), &v),
				 KT_ERR_NOTE_MALFORMED);
	}
	kt_json_free(j);
}

static void test_text_and_names(void **state)
{
	(void)state;
	assert_int_equal(kt_note_text_check(u8(""), 0), KT_OK);
	assert_int_equal(kt_note_text_check(u8("caf\xc3\xa9 \xe2\x80\x94 \xf0\x9f\x94\x91\n"), 15), KT_OK);
	assert_int_equal(kt_note_text_check(u8("\xef\xbf\xbd"), 3), KT_OK); /* U+FFFD itself */
	assert_int_equal(kt_note_text_check(u8("\x7f"), 1), KT_OK);      /* DEL is allowed */
	assert_int_equal(kt_note_text_check(u8("\xe0\x80\x80"), 3), KT_ERR_NOTE_MALFORMED);
	assert_int_equal(kt_note_text_check(u8("\xf0\x80\x80\x80"), 4), KT_ERR_NOTE_MALFORMED);
	assert_int_equal(kt_note_text_check(u8("\xf5\x80\x80\x80"), 4), KT_ERR_NOTE_MALFORMED);
	assert_int_equal(kt_note_text_check(u8("a\rb"), 3), KT_ERR_NOTE_MALFORMED);

	assert_int_equal(kt_note_name_check(u8("example.com/log42"), 17), KT_OK);
	assert_int_equal(kt_note_name_check(u8("caf\xc3\xa9"), 5), KT_OK);
	assert_int_equal(kt_note_name_check(u8(""), 0), KT_ERR_NOTE_MALFORMED);
	assert_int_equal(kt_note_name_check(u8("a b"), 3), KT_ERR_NOTE_MALFORMED);
	assert_int_equal(kt_note_name_check(u8("a+b"), 3), KT_ERR_NOTE_MALFORMED);
	assert_int_equal(kt_note_name_check(u8("a\nb"), 3), KT_ERR_NOTE_MALFORMED);
	assert_int_equal(kt_note_name_check(u8("a\xe2\x80\x83z"), 5), KT_ERR_NOTE_MALFORMED); /* U+2003 */
	assert_int_equal(kt_note_name_check(u8("a\xe2\x80\xa8z"), 5), KT_ERR_NOTE_MALFORMED); /* U+2028 */
	assert_int_equal(kt_note_name_check(u8("a\xc2\x85z"), 4), KT_ERR_NOTE_MALFORMED);     /* U+0085 */
	assert_int_equal(kt_note_name_check(u8("a\xe2\x80\x8bz"), 5), KT_OK); /* U+200B is not a space */
}

/* ---- limits ----------------------------------------------------------------- */

static void test_limits(void **state)
{
	kt_note_signer s, s2;
	kt_note_verifier keys[2];
	kt_note_sigstatus st[2];
	kt_bytes text;
	uint8_t *note, *big;
	size_t len, i;
	uint8_t raw[8] = {0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4};
	sb n = {0};
	char name[32];

	(void)state;
	signer_from(&s, "limits.example/log", KT_NOTE_KEY_ED25519, 7);

	/* Oversize: a text of KT_NOTE_MAX_BYTES cannot be signed, and a note
	 * over the cap is refused before it is parsed. */
	big = malloc(KT_NOTE_MAX_BYTES + 2);
	assert_non_null(big);
	memset(big, 'a', KT_NOTE_MAX_BYTES + 1);
	big[KT_NOTE_MAX_BYTES - 1] = '\n';
	assert_int_equal(kt_note_sign(&s, 0, big, KT_NOTE_MAX_BYTES, &note, &len),
			 KT_ERR_TOO_LARGE);
	/* Twin: a text just under the cap with room for the line signs. */
	big[KT_NOTE_MAX_BYTES - 201] = '\n';
	assert_int_equal(kt_note_sign(&s, 0, big, KT_NOTE_MAX_BYTES - 200, &note,
				      &len), KT_OK);
	assert_true(len <= KT_NOTE_MAX_BYTES);
	assert_int_equal(open1(note, len, &s.pub), KT_OK);
	free(note);
	/* ... but not with too little room. */
	big[KT_NOTE_MAX_BYTES - 11] = '\n';
	assert_int_equal(kt_note_sign(&s, 0, big, KT_NOTE_MAX_BYTES - 10, &note,
				      &len), KT_ERR_TOO_LARGE);
	assert_int_equal(open1(big, KT_NOTE_MAX_BYTES + 1, &s.pub),
			 KT_ERR_TOO_LARGE);
	free(big);

	/* Too many signatures: KT_NOTE_MAX_SIGS lines open, one more does not. */
	assert_int_equal(kt_note_sign(&s, 0, u8(cp_body), strlen(cp_body), &note,
				      &len), KT_OK);
	sb_add(&n, note, len);
	free(note);
	for (i = 1; i < KT_NOTE_MAX_SIGS; i++) {
		snprintf(name, sizeof(name), "other%zu", i);
		sb_line(&n, name, raw, sizeof(raw));
	}
	assert_int_equal(open1s(&n, &s.pub), KT_OK);
	/* add_sig refuses to go over the cap (and, for s, to sign twice). */
	assert_int_equal(kt_note_add_sig(&s, 0, n.p, n.len, &note, &len),
			 KT_ERR_NOTE_DUPLICATE_SIG);
	signer_from(&s2, "limits.example/other", KT_NOTE_KEY_ED25519, 8);
	assert_int_equal(kt_note_add_sig(&s2, 0, n.p, n.len, &note, &len),
			 KT_ERR_TOO_LARGE);
	kt_note_signer_wipe(&s2);
	sb_line(&n, "one-too-many", raw, sizeof(raw));
	assert_int_equal(open1s(&n, &s.pub), KT_ERR_TOO_LARGE);
	sb_free(&n);

	/* Key list: empty, over the cap, or with a (name, hash) twice. */
	keys[0] = s.pub;
	keys[1] = s.pub;
	assert_int_equal(kt_note_open(u8("x"), 1, keys, 0, &text, st),
			 KT_ERR_INVALID_ARG);
	assert_int_equal(kt_note_open(u8("x"), 1, keys,
				      KT_NOTE_MAX_VERIFIERS + 1, &text, st),
			 KT_ERR_INVALID_ARG);
	assert_int_equal(kt_note_open(u8("x"), 1, keys, 2, &text, st),
			 KT_ERR_INVALID_ARG);
	kt_note_signer_wipe(&s);
}

/* ---- keys ----------------------------------------------------------------- */

static void test_verifier_keys(void **state)
{
	kt_json *j = load_vector("c2sp-interop.json");
	const kt_json *arche = kt_json_get(j, "arche");
	const kt_json *wk = kt_json_get(arche, "witness_keys");
	kt_note_verifier v;
	uint8_t blob[34], pk[32], sk[64];
	uint32_t h;
	char *str, *bad;
	size_t len, i;
	const char *plus = jstr(j, "plus_key");

	(void)state;
	/* Published keys parse and format back to the same string. */
	{
		const char *ok[] = {plus, jstr(j, "foo_key"),
				    jstr(arche, "log_key"),
				    kt_json_at(wk, 0)->text, kt_json_at(wk, 1)->text,
				    kt_json_at(wk, 2)->text, kt_json_at(wk, 3)->text};

		for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
			verifier_from(&v, ok[i]);
			assert_int_equal(v.type, i < 3 ? KT_NOTE_KEY_ED25519
						       : KT_NOTE_KEY_COSIG_V1);
			assert_int_equal(kt_note_verifier_format(&v, &str, &len),
					 KT_OK);
			assert_string_equal(str, ok[i]);
			assert_int_equal(len, strlen(ok[i]));
			free(str);
		}
	}
	verifier_from(&v, plus);
	assert_string_equal(v.name, "TEST");
	assert_int_equal(v.key_hash, 0x7997405c);

	/* Twins of plus_key. */
	assert_int_equal(vparse(&v, "TEST+7997405d+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6"),
			 KT_ERR_KEY_HASH_MISMATCH);
	assert_int_equal(v.key_hash, 0); /* zeroed on failure */
	assert_int_equal(vparse(&v, "TEST+7997405C+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6"),
			 KT_ERR_BAD_VERIFIER_KEY); /* uppercase hex */
	assert_int_equal(vparse(&v, "TEST+797405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6"),
			 KT_ERR_BAD_VERIFIER_KEY); /* 7 hex digits */
	assert_int_equal(vparse(&v, "TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr"),
			 KT_ERR_BAD_VERIFIER_KEY); /* base64 cut */
	assert_int_equal(vparse(&v, "TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6="),
			 KT_ERR_BAD_VERIFIER_KEY); /* extra padding */
	assert_int_equal(vparse(&v, "TEST+7997405c"),
			 KT_ERR_BAD_VERIFIER_KEY);
	assert_int_equal(vparse(&v, "+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6"),
			 KT_ERR_BAD_VERIFIER_KEY); /* empty name */
	assert_int_equal(vparse(&v, "TE T+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6"),
			 KT_ERR_BAD_VERIFIER_KEY); /* space in name */
	assert_int_equal(vparse(&v, ""), KT_ERR_BAD_VERIFIER_KEY);
	assert_int_equal(vparse(&v, "TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RI\xc3\x87"),
			 KT_ERR_BAD_VERIFIER_KEY); /* non-ASCII in base64 */

	/* Crafted keys with correct hashes: wrong type, length, point. */
	crypto_sign_seed_keypair(pk, sk, (const uint8_t *)"0123456789abcdef0123456789abcdef");
	blob[0] = 0x02;
	memcpy(blob + 1, pk, 32);
	h = kt_note_key_hash("k", 1, 0x02, pk);
	bad = vkey_string("k", h, blob, 33);
	assert_int_equal(kt_note_verifier_parse(&v, bad, strlen(bad)),
			 KT_ERR_BAD_KEY_TYPE);
	free(bad);
	blob[0] = KT_NOTE_KEY_ED25519;
	bad = vkey_string("k", kt_note_key_hash("k", 1, 1, pk), blob, 33);
	assert_int_equal(kt_note_verifier_parse(&v, bad, strlen(bad)), KT_OK);
	free(bad);
	bad = vkey_string("k", kt_note_key_hash("k", 1, 1, pk), blob, 32);
	assert_int_equal(kt_note_verifier_parse(&v, bad, strlen(bad)),
			 KT_ERR_BAD_VERIFIER_KEY); /* 31-byte key */
	free(bad);
	blob[33] = 0;
	bad = vkey_string("k", kt_note_key_hash("k", 1, 1, pk), blob, 34);
	assert_int_equal(kt_note_verifier_parse(&v, bad, strlen(bad)),
			 KT_ERR_BAD_VERIFIER_KEY); /* 33-byte key */
	free(bad);
	{
		/* Small order (the identity) and non-canonical (y >= p). */
		uint8_t pts[2][32];

		memset(pts[0], 0, 32);
		pts[0][0] = 1;
		memset(pts[1], 0xff, 32);
		pts[1][31] = 0x7f;
		for (i = 0; i < 2; i++) {
			memcpy(blob + 1, pts[i], 32);
			bad = vkey_string("k", kt_note_key_hash("k", 1, 1, pts[i]),
					  blob, 33);
			assert_int_equal(kt_note_verifier_parse(&v, bad, strlen(bad)),
					 KT_ERR_BAD_KEY);
			free(bad);
			assert_int_equal(kt_note_verifier_new(&v, "k", 1, 1, pts[i]),
					 KT_ERR_BAD_KEY);
		}
	}
	/* Names: too long, invalid; types. */
	{
		char longname[KT_NOTE_MAX_NAME + 2];

		memset(longname, 'n', sizeof(longname));
		assert_int_equal(kt_note_verifier_new(&v, longname, KT_NOTE_MAX_NAME,
						      1, pk), KT_OK);
		assert_int_equal(kt_note_verifier_new(&v, longname,
						      KT_NOTE_MAX_NAME + 1, 1, pk),
				 KT_ERR_INVALID_ARG);
	}
	assert_int_equal(kt_note_verifier_new(&v, "a+b", 3, 1, pk), KT_ERR_INVALID_ARG);
	assert_int_equal(kt_note_verifier_new(&v, "ab", 2, 0x06, pk), KT_ERR_BAD_KEY_TYPE);
	/* Formatting refuses an inconsistent struct. */
	assert_int_equal(kt_note_verifier_new(&v, "ab", 2, 1, pk), KT_OK);
	v.key_hash ^= 1;
	assert_int_equal(kt_note_verifier_format(&v, &str, &len), KT_ERR_INVALID_ARG);
	assert_null(str);
	kt_json_free(j);
}

static void test_signer_keys(void **state)
{
	kt_note_signer s, t;
	kt_note_verifier v;
	char *str, *vstr;
	size_t len, vlen, i;
	uint8_t zero[sizeof(s)];

	(void)state;
	for (i = 0; i < 2; i++) {
		uint8_t type = i == 0 ? KT_NOTE_KEY_ED25519 : KT_NOTE_KEY_COSIG_V1;

		signer_from(&s, "witness.example/w1", type, 0x42);
		assert_int_equal(kt_note_signer_format(&s, &str, &len), KT_OK);
		assert_int_equal(strncmp(str, "PRIVATE+KEY+witness.example/w1+", 31), 0);
		assert_int_equal(kt_note_signer_parse(&t, str, len), KT_OK);
		assert_memory_equal(&s, &t, sizeof(s));
		/* The verifier string of the public half parses to it. */
		assert_int_equal(kt_note_verifier_format(&s.pub, &vstr, &vlen), KT_OK);
		verifier_from(&v, vstr);
		assert_memory_equal(&v, &s.pub, sizeof(v));
		free(vstr);

		/* Twins: wrong hash, wrong prefix, cut key. */
		str[31] = str[31] == '0' ? '1' : '0';
		assert_int_equal(kt_note_signer_parse(&t, str, len),
				 KT_ERR_KEY_HASH_MISMATCH);
		memset(zero, 0, sizeof(zero));
		assert_memory_equal(&t, zero, sizeof(t)); /* wiped */
		assert_int_equal(kt_note_signer_parse(&t, str + 1, len - 1),
				 KT_ERR_NOTE_BAD_SIGNER_KEY);
		assert_int_equal(kt_note_signer_parse(&t, str, len - 1),
				 KT_ERR_NOTE_BAD_SIGNER_KEY);
		sodium_memzero(str, len);
		free(str);
	}
	/* Type byte 0x02 in a well-formed string. */
	assert_int_equal(sparse(&t, "PRIVATE+KEY+k+00000000+AgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
			 KT_ERR_BAD_KEY_TYPE);
	assert_int_equal(sparse(&t, "PRIVATE+KEY+k+00000000+A!AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
			 KT_ERR_NOTE_BAD_SIGNER_KEY);
	assert_int_equal(sparse(&t, "PRIVATE+KEY+k+00000000+A\x80" "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
			 KT_ERR_NOTE_BAD_SIGNER_KEY); /* non-ASCII in base64 */
	assert_int_equal(kt_note_signer_from_seed(&t, "", 0, 1, zero), KT_ERR_INVALID_ARG);
	assert_int_equal(kt_note_signer_from_seed(&t, "k", 1, 5, zero), KT_ERR_BAD_KEY_TYPE);
	kt_note_signer_wipe(&s);
	memset(zero, 0, sizeof(zero));
	assert_memory_equal(&s, zero, sizeof(s));
	kt_note_signer_wipe(NULL);
}

/* ---- checkpoints ------------------------------------------------------------ */

static void test_checkpoint_roundtrip(void **state)
{
	kt_checkpoint cp, back;
	uint8_t *body;
	size_t len, i;
	static const char ext[] = "ext one\n\xf0\x9f\x8c\xb3 two\n";

	(void)state;
	assert_int_equal(kt_checkpoint_parse(&cp, u8(cp_body), strlen(cp_body)), KT_OK);
	assert_int_equal(cp.origin.len, strlen("example.com/keytrail"));
	assert_memory_equal(cp.origin.p, "example.com/keytrail", cp.origin.len);
	assert_int_equal(cp.size, 12345);
	for (i = 0; i < 32; i++)
		assert_int_equal(cp.root[i], i);
	assert_int_equal(cp.extensions.len, 0);
	assert_int_equal(kt_checkpoint_format(&cp, &body, &len), KT_OK);
	assert_int_equal(len, strlen(cp_body));
	assert_memory_equal(body, cp_body, len);
	free(body);

	/* Extensions, size 0 and the largest size. */
	cp.extensions.p = u8(ext);
	cp.extensions.len = strlen(ext);
	for (i = 0; i < 2; i++) {
		cp.size = i == 0 ? 0 : UINT64_MAX;
		assert_int_equal(kt_checkpoint_format(&cp, &body, &len), KT_OK);
		assert_int_equal(kt_checkpoint_parse(&back, body, len), KT_OK);
		assert_true(back.size == cp.size);
		assert_memory_equal(back.root, cp.root, 32);
		assert_int_equal(back.extensions.len, strlen(ext));
		assert_memory_equal(back.extensions.p, ext, strlen(ext));
		assert_int_equal(kt_checkpoint_check_origin(&back, "example.com/keytrail", 20), KT_OK);
		/* Twins: another origin, a prefix of it, a longer one. */
		assert_int_equal(kt_checkpoint_check_origin(&back, "example.com/keytrai1", 20),
				 KT_ERR_CHECKPOINT_ORIGIN);
		assert_int_equal(kt_checkpoint_check_origin(&back, "example.com/keytrail", 19),
				 KT_ERR_CHECKPOINT_ORIGIN);
		assert_int_equal(kt_checkpoint_check_origin(&back, "example.com/keytrail2", 21),
				 KT_ERR_CHECKPOINT_ORIGIN);
		free(body);
	}
	/* Format refuses what parse would refuse. */
	cp.extensions.p = u8("a\n\nb\n");
	cp.extensions.len = 5;
	assert_int_equal(kt_checkpoint_format(&cp, &body, &len), KT_ERR_CHECKPOINT_MALFORMED);
	cp.extensions.p = u8("no newline");
	cp.extensions.len = 10;
	assert_int_equal(kt_checkpoint_format(&cp, &body, &len), KT_ERR_CHECKPOINT_MALFORMED);
	cp.extensions.len = 0;
	cp.origin.p = u8("two\nlines");
	cp.origin.len = 9;
	assert_int_equal(kt_checkpoint_format(&cp, &body, &len), KT_ERR_CHECKPOINT_MALFORMED);
	cp.origin.len = 0;
	assert_int_equal(kt_checkpoint_format(&cp, &body, &len), KT_ERR_CHECKPOINT_MALFORMED);
	assert_null(body);
}

static void test_checkpoint_malformed(void **state)
{
	kt_checkpoint cp;
	char buf[1024];
	size_t i;
	static const char root[] = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
	static const char *const sizes[] = {
		"012", "00", "-1", "+1", " 1", "1 ", "1.0", "12a", "0x10", "",
		"18446744073709551616", "99999999999999999999",
		"184467440737095516150", "\xef\xbc\x91", /* fullwidth 1 */
	};
	static const char *const roots[] = {
		"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==",   /* 31 bytes */
		"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g",   /* 33 bytes */
		"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",    /* no padding */
		"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9=",   /* pad bits */
		"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\r", /* CR */
		"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh-_",   /* URL-safe */
		("AAECAwQFBgcICQoLDA0O\xc3\x87" "AREUhMFRYXGBkaGxwdHh8="), /* non-ASCII
		   letter: found by fuzz_checkpoint */
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
		"",
	};

	(void)state;
	/* The well-formed twin first. */
	snprintf(buf, sizeof(buf), "o\n18446744073709551615\n%s\n", root);
	assert_int_equal(kt_checkpoint_parse(&cp, u8(buf), strlen(buf)), KT_OK);
	assert_true(cp.size == UINT64_MAX);
	snprintf(buf, sizeof(buf), "o\n0\n%s\n", root);
	assert_int_equal(kt_checkpoint_parse(&cp, u8(buf), strlen(buf)), KT_OK);

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		snprintf(buf, sizeof(buf), "o\n%s\n%s\n", sizes[i], root);
		assert_int_equal(kt_checkpoint_parse(&cp, u8(buf), strlen(buf)),
				 KT_ERR_CHECKPOINT_MALFORMED);
		assert_int_equal(cp.size, 0);
	}
	for (i = 0; i < sizeof(roots) / sizeof(roots[0]); i++) {
		snprintf(buf, sizeof(buf), "o\n1\n%s\n", roots[i]);
		assert_int_equal(kt_checkpoint_parse(&cp, u8(buf), strlen(buf)),
				 KT_ERR_CHECKPOINT_MALFORMED);
	}
	{
		static const char *const bodies[] = {
			"o\n1\n",                     /* no root line */
			"\n1\n%s\n",                  /* empty origin */
			"o\n1\n%s",                   /* no final newline */
			"o\n1\n%s\n\n",               /* empty extension line */
			"o\n1\n%s\next",              /* extension without newline */
			"o\n1\n%s\nx\n\ny\n",         /* empty line among extensions */
			"o\r\n1\n%s\n",               /* CRLF */
			"o\t\n1\n%s\n",               /* control character */
			"\xff\n1\n%s\n",              /* not UTF-8 */
			"",
		};

		for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
			subst(buf, sizeof(buf), bodies[i], root);
			assert_int_equal(kt_checkpoint_parse(&cp, u8(buf), strlen(buf)),
					 KT_ERR_CHECKPOINT_MALFORMED);
		}
	}
	/* Origin length cap and body cap. */
	memset(buf, 'o', KT_CHECKPOINT_MAX_ORIGIN + 1);
	snprintf(buf + KT_CHECKPOINT_MAX_ORIGIN + 1, 100, "\n1\n%s\n", root);
	assert_int_equal(kt_checkpoint_parse(&cp, u8(buf), strlen(buf)), KT_ERR_TOO_LARGE);
	snprintf(buf + KT_CHECKPOINT_MAX_ORIGIN, 100, "\n1\n%s\n", root);
	assert_int_equal(kt_checkpoint_parse(&cp, u8(buf), strlen(buf)), KT_OK);
	{
		uint8_t *big = malloc(KT_CHECKPOINT_MAX_BYTES + 1);

		assert_non_null(big);
		memset(big, 'e', KT_CHECKPOINT_MAX_BYTES + 1);
		memcpy(big, "o\n1\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n", 49);
		big[KT_CHECKPOINT_MAX_BYTES - 1] = '\n';
		assert_int_equal(kt_checkpoint_parse(&cp, big, KT_CHECKPOINT_MAX_BYTES), KT_OK);
		big[KT_CHECKPOINT_MAX_BYTES] = '\n';
		assert_int_equal(kt_checkpoint_parse(&cp, big, KT_CHECKPOINT_MAX_BYTES + 1),
				 KT_ERR_TOO_LARGE);
		free(big);
	}
}

/* ---- cosignatures ----------------------------------------------------------- */

#define TS UINT64_C(1700000000)

static void test_cosig_roundtrip(void **state)
{
	kt_note_signer w, log;
	kt_note_verifier as_ed;
	uint8_t *line, *msg, raw[KT_COSIG_V1_RAW_BYTES];
	size_t line_len, msg_len, raw_len;
	uint64_t t;
	char want_msg[512];
	sb s = {0};

	(void)state;
	signer_from(&w, "witness.example/w1", KT_NOTE_KEY_COSIG_V1, 0x11);

	/* The signed message, byte for byte. */
	assert_int_equal(kt_cosig_message(TS, u8(cp_body), strlen(cp_body), &msg,
					  &msg_len), KT_OK);
	snprintf(want_msg, sizeof(want_msg), "cosignature/v1\ntime 1700000000\n%s", cp_body);
	assert_int_equal(msg_len, strlen(want_msg));
	assert_memory_equal(msg, want_msg, msg_len);

	assert_int_equal(kt_cosig_sign(&w, TS, u8(cp_body), strlen(cp_body), &line,
				       &line_len), KT_OK);
	assert_int_equal(memcmp(line, EM " witness.example/w1 ", 23), 0);
	assert_int_equal(line[line_len - 1], '\n');
	assert_int_equal(kt_cosig_verify(line, line_len, &w.pub, u8(cp_body),
					 strlen(cp_body), &t), KT_OK);
	assert_true(t == TS);
	/* The signature is Ed25519 over exactly want_msg. */
	assert_int_equal(sodium_base642bin(raw, sizeof(raw), (const char *)line + 23,
					   line_len - 24, NULL, &raw_len, NULL,
					   sodium_base64_VARIANT_ORIGINAL), 0);
	assert_int_equal(raw_len, KT_COSIG_V1_RAW_BYTES);
	assert_int_equal(kt_load_u32be(raw), w.pub.key_hash);
	assert_true(kt_load_u64be(raw + 4) == TS);
	assert_int_equal(crypto_sign_verify_detached(raw + 12, msg, msg_len, w.pub.pk), 0);
	free(msg);

	/* Tampered timestamp (signature kept). */
	kt_store_u64be(raw + 4, TS + 1);
	sb_line(&s, "witness.example/w1", raw, sizeof(raw));
	assert_int_equal(kt_cosig_verify(s.p, s.len, &w.pub, u8(cp_body),
					 strlen(cp_body), &t), KT_ERR_NOTE_BAD_SIG);
	assert_true(t == 0);
	sb_free(&s);
	/* A timestamp over 2^63-1. */
	kt_store_u64be(raw + 4, KT_COSIG_MAX_TIMESTAMP + 1);
	sb_line(&s, "witness.example/w1", raw, sizeof(raw));
	assert_int_equal(kt_cosig_verify(s.p, s.len, &w.pub, u8(cp_body),
					 strlen(cp_body), &t), KT_ERR_COSIG_MALFORMED);
	sb_free(&s);
	kt_store_u64be(raw + 4, TS);
	/* Truncated (75 bytes) and extended (77 bytes) signatures. */
	sb_line(&s, "witness.example/w1", raw, sizeof(raw) - 1);
	assert_int_equal(kt_cosig_verify(s.p, s.len, &w.pub, u8(cp_body),
					 strlen(cp_body), &t), KT_ERR_COSIG_MALFORMED);
	sb_free(&s);
	/* Wrong key hash in the line. */
	raw[0] ^= 0x20;
	sb_line(&s, "witness.example/w1", raw, sizeof(raw));
	assert_int_equal(kt_cosig_verify(s.p, s.len, &w.pub, u8(cp_body),
					 strlen(cp_body), &t), KT_ERR_NOTE_NO_VERIFIED_SIG);
	sb_free(&s);
	raw[0] ^= 0x20;
	/* Another name. */
	sb_line(&s, "witness.example/w2", raw, sizeof(raw));
	assert_int_equal(kt_cosig_verify(s.p, s.len, &w.pub, u8(cp_body),
					 strlen(cp_body), &t), KT_ERR_NOTE_NO_VERIFIED_SIG);
	sb_free(&s);

	/* Tampered body: one byte of the root, the size, an added extension. */
	{
		char body[256];

		strcpy(body, cp_body);
		body[30] ^= 0x01;
		assert_int_equal(kt_cosig_verify(line, line_len, &w.pub, u8(body),
						 strlen(body), &t), KT_ERR_NOTE_BAD_SIG);
		strcpy(body, cp_body);
		body[21] = '2';
		assert_int_equal(kt_cosig_verify(line, line_len, &w.pub, u8(body),
						 strlen(body), &t), KT_ERR_NOTE_BAD_SIG);
		snprintf(body, sizeof(body), "%sext\n", cp_body);
		assert_int_equal(kt_cosig_verify(line, line_len, &w.pub, u8(body),
						 strlen(body), &t), KT_ERR_NOTE_BAD_SIG);
		assert_int_equal(kt_cosig_verify(line, line_len, &w.pub, u8("not\na checkpoint\n"),
						 17, &t), KT_ERR_CHECKPOINT_MALFORMED);
	}

	/* Wrong key type: the same key as a 0x01 verifier cannot verify a
	 * cosignature, and a 0x01 signer cannot cosign. */
	assert_int_equal(kt_note_verifier_new(&as_ed, w.pub.name, w.pub.name_len,
					      KT_NOTE_KEY_ED25519, w.pub.pk), KT_OK);
	assert_int_equal(kt_cosig_verify(line, line_len, &as_ed, u8(cp_body),
					 strlen(cp_body), &t), KT_ERR_BAD_KEY_TYPE);
	signer_from(&log, "witness.example/w1", KT_NOTE_KEY_ED25519, 0x11);
	assert_int_equal(kt_cosig_sign(&log, TS, u8(cp_body), strlen(cp_body), &msg,
				       &msg_len), KT_ERR_BAD_KEY_TYPE);
	assert_null(msg);
	/* ... and in a note, the 0x01 twin of the key ignores the line (its
	 * key hash differs), so nothing verifies. */
	sb_str(&s, cp_body);
	sb_str(&s, "\n");
	sb_add(&s, line, line_len);
	assert_int_equal(open1s(&s, &w.pub), KT_OK);
	assert_int_equal(open1s(&s, &as_ed), KT_ERR_NOTE_NO_VERIFIED_SIG);
	sb_free(&s);

	/* Malformed lines. */
	assert_int_equal(kt_cosig_verify(line, line_len - 1, &w.pub, u8(cp_body),
					 strlen(cp_body), &t), KT_ERR_COSIG_MALFORMED);
	assert_int_equal(kt_cosig_verify(line + 1, line_len - 1, &w.pub, u8(cp_body),
					 strlen(cp_body), &t), KT_ERR_COSIG_MALFORMED);

	/* Signing limits: timestamp over 2^63-1, a body that is no checkpoint. */
	assert_int_equal(kt_cosig_sign(&w, KT_COSIG_MAX_TIMESTAMP + 1, u8(cp_body),
				       strlen(cp_body), &msg, &msg_len), KT_ERR_INVALID_ARG);
	assert_int_equal(kt_cosig_sign(&w, KT_COSIG_MAX_TIMESTAMP, u8(cp_body),
				       strlen(cp_body), &msg, &msg_len), KT_OK);
	free(msg);
	assert_int_equal(kt_cosig_sign(&w, TS, u8("hello\n"), 6, &msg, &msg_len),
			 KT_ERR_CHECKPOINT_MALFORMED);
	assert_int_equal(kt_note_sign(&w, TS, u8("hello\n"), 6, &msg, &msg_len),
			 KT_ERR_CHECKPOINT_MALFORMED);
	free(line);
	kt_note_signer_wipe(&w);
	kt_note_signer_wipe(&log);
}

/* A checkpoint signed by the log and cosigned by two witnesses opens with
 * each verifier set. */
static void test_log_and_witnesses(void **state)
{
	kt_note_signer log, w1, w2, stranger;
	kt_note_verifier all[3], set[2];
	kt_note_sigstatus st[3];
	kt_checkpoint cp;
	kt_bytes text;
	uint8_t *n1, *n2, *n3, *dup;
	size_t l1, l2, l3, dl;
	uint64_t t;
	size_t i;

	(void)state;
	signer_from(&log, "example.com/keytrail", KT_NOTE_KEY_ED25519, 1);
	signer_from(&w1, "witness.example/w1", KT_NOTE_KEY_COSIG_V1, 2);
	signer_from(&w2, "witness.example/w2", KT_NOTE_KEY_COSIG_V1, 3);
	signer_from(&stranger, "witness.example/w3", KT_NOTE_KEY_COSIG_V1, 4);
	all[0] = log.pub;
	all[1] = w1.pub;
	all[2] = w2.pub;

	assert_int_equal(kt_note_sign(&log, 0, u8(cp_body), strlen(cp_body), &n1, &l1), KT_OK);
	assert_int_equal(kt_note_add_sig(&w1, TS, n1, l1, &n2, &l2), KT_OK);
	assert_int_equal(kt_note_add_sig(&w2, TS + 5, n2, l2, &n3, &l3), KT_OK);
	assert_int_equal(l3, l1 + (l2 - l1) * 2);

	/* Every single key, and all three. */
	for (i = 0; i < 3; i++) {
		assert_int_equal(kt_note_open(n3, l3, &all[i], 1, &text, st), KT_OK);
		assert_true(st[0].verified);
		assert_true(st[0].timestamp == (i == 0 ? 0 : i == 1 ? TS : TS + 5));
		assert_int_equal(text.len, strlen(cp_body));
		assert_memory_equal(text.p, cp_body, text.len);
	}
	assert_int_equal(kt_note_open(n3, l3, all, 3, &text, st), KT_OK);
	assert_true(st[0].verified && st[1].verified && st[2].verified);
	assert_true(st[1].timestamp == TS && st[2].timestamp == TS + 5);
	/* A key set that includes a witness who did not sign. */
	set[0] = stranger.pub;
	set[1] = w2.pub;
	assert_int_equal(kt_note_open(n3, l3, set, 2, &text, st), KT_OK);
	assert_false(st[0].verified);
	assert_true(st[1].verified);
	/* Twin: only the stranger. */
	assert_int_equal(kt_note_open(n3, l3, set, 1, &text, st),
			 KT_ERR_NOTE_NO_VERIFIED_SIG);
	/* The checkpoint view, with origin check and its twin. */
	assert_int_equal(kt_checkpoint_open(&cp, n3, l3, "example.com/keytrail", 20,
					    all, 3, st), KT_OK);
	assert_int_equal(cp.size, 12345);
	assert_int_equal(kt_checkpoint_open(&cp, n3, l3, "example.com/other", 17,
					    all, 3, st), KT_ERR_CHECKPOINT_ORIGIN);
	assert_false(st[0].verified);
	assert_int_equal(cp.size, 0);

	/* The witness lines of the note verify one by one. */
	assert_int_equal(kt_cosig_verify(n2 + l1, l2 - l1, &w1.pub, u8(cp_body),
					 strlen(cp_body), &t), KT_OK);
	assert_true(t == TS);
	assert_int_equal(kt_cosig_verify(n3 + l2, l3 - l2, &w2.pub, u8(cp_body),
					 strlen(cp_body), &t), KT_OK);
	assert_true(t == TS + 5);

	/* A corrupted w2 line: ignored when w2 is not trusted, fatal when it is. */
	n3[l3 - 10] = n3[l3 - 10] == 'A' ? 'B' : 'A';
	assert_int_equal(kt_note_open(n3, l3, all, 2, &text, st), KT_OK);
	assert_int_equal(kt_note_open(n3, l3, all, 3, &text, st), KT_ERR_NOTE_BAD_SIG);
	assert_int_equal(kt_note_open(n3, l3, &all[2], 1, &text, st), KT_ERR_NOTE_BAD_SIG);

	/* A witness cannot cosign twice. */
	assert_int_equal(kt_note_add_sig(&w1, TS + 9, n2, l2, &dup, &dl),
			 KT_ERR_NOTE_DUPLICATE_SIG);
	assert_null(dup);
	assert_int_equal(kt_note_add_sig(&w1, TS, u8("junk"), 4, &dup, &dl),
			 KT_ERR_NOTE_MALFORMED);

	free(n1);
	free(n2);
	free(n3);
	kt_note_signer_wipe(&log);
	kt_note_signer_wipe(&w1);
	kt_note_signer_wipe(&w2);
	kt_note_signer_wipe(&stranger);
}

/* ---- interoperability: real, publicly cosigned checkpoints --------------- */

static void test_interop(void **state)
{
	kt_json *j = load_vector("c2sp-interop.json");
	const kt_json *arche = kt_json_get(j, "arche");
	const kt_json *coach = kt_json_get(j, "coach");
	const kt_json *ex = kt_json_get(j, "c2sp_example");
	const kt_json *wk = kt_json_get(arche, "witness_keys");
	const kt_json *wl = kt_json_get(arche, "witness_lines");
	const char *note = jstr(arche, "note");
	uint64_t wts = kt_json_u64(kt_json_get(arche, "witness_timestamp"));
	kt_note_verifier keys[5];
	kt_note_sigstatus st[5];
	kt_checkpoint cp;
	kt_bytes text;
	uint64_t t;
	size_t i, root_len;
	uint8_t *root;
	char line[512], *m;

	(void)state;
	verifier_from(&keys[0], jstr(arche, "log_key"));
	for (i = 0; i < 4; i++)
		verifier_from(&keys[i + 1], kt_json_at(wk, i)->text);

	assert_int_equal(kt_checkpoint_open(&cp, u8(note), strlen(note),
					    jstr(arche, "origin"),
					    strlen(jstr(arche, "origin")),
					    keys, 5, st), KT_OK);
	for (i = 0; i < 5; i++) {
		assert_true(st[i].verified);
		assert_true(st[i].timestamp == (i == 0 ? 0 : wts));
	}
	assert_true(cp.size == kt_json_u64(kt_json_get(arche, "size")));
	root = kt_json_b64(kt_json_get(arche, "root_b64"), &root_len);
	assert_int_equal(root_len, 32);
	assert_memory_equal(cp.root, root, 32);
	free(root);

	/* Each published cosignature line on its own. */
	text.p = u8(note);
	text.len = (size_t)(strstr(note, "\n\n") - note) + 1;
	for (i = 0; i < 4; i++) {
		snprintf(line, sizeof(line), "%s\n", kt_json_at(wl, i)->text);
		assert_int_equal(kt_cosig_verify(u8(line), strlen(line), &keys[i + 1],
						 text.p, text.len, &t), KT_OK);
		assert_true(t == wts);
		/* Twin: the line against another witness's key. */
		assert_int_equal(kt_cosig_verify(u8(line), strlen(line),
						 &keys[(i + 1) % 4 + 1], text.p,
						 text.len, &t),
				 KT_ERR_NOTE_NO_VERIFIED_SIG);
	}
	/* The unknown RFC 6962 line is well-formed but not ours. */
	snprintf(line, sizeof(line), "%s\n", jstr(arche, "unknown_line"));
	{
		kt_note_sig sig;

		assert_int_equal(kt_note_sig_parse(&sig, u8(line), strlen(line)), KT_OK);
		assert_int_equal(kt_note_sig_verify(&sig, &keys[0], text.p, text.len, &t),
				 KT_ERR_NOTE_NO_VERIFIED_SIG);
	}

	/* Forgery twin: the same note with tree size + 1. */
	m = strdup(note);
	m[strlen("arche2025h1.staging.ct.transparency.dev\n") + 9] ^= 0x01;
	for (i = 0; i < 5; i++)
		assert_int_equal(kt_note_open(u8(m), strlen(m), &keys[i], 1, &text, st),
				 KT_ERR_NOTE_BAD_SIG);
	free(m);

	/* The ML-DSA-44 line of the same witness name is skipped. */
	verifier_from(&keys[0], jstr(coach, "witness_key"));
	note = jstr(coach, "note");
	assert_int_equal(kt_note_open(u8(note), strlen(note), keys, 1, &text, st), KT_OK);
	assert_true(st[0].timestamp == kt_json_u64(kt_json_get(coach, "witness_timestamp")));

	/* The c2sp.org/signed-note Ed25519 example. */
	verifier_from(&keys[0], jstr(ex, "verifier_key"));
	snprintf(line, sizeof(line), "%s\n%s", jstr(ex, "text"), jstr(ex, "line"));
	assert_int_equal(kt_note_open(u8(line), strlen(line), keys, 1, &text, st), KT_OK);
	line[0] ^= 0x20;
	assert_int_equal(kt_note_open(u8(line), strlen(line), keys, 1, &text, st),
			 KT_ERR_NOTE_BAD_SIG);
	kt_json_free(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sumdb_vector),
		cmocka_unit_test(test_sumdb_forgeries),
		cmocka_unit_test(test_malformed_notes),
		cmocka_unit_test(test_text_and_names),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_verifier_keys),
		cmocka_unit_test(test_signer_keys),
		cmocka_unit_test(test_checkpoint_roundtrip),
		cmocka_unit_test(test_checkpoint_malformed),
		cmocka_unit_test(test_cosig_roundtrip),
		cmocka_unit_test(test_log_and_witnesses),
		cmocka_unit_test(test_interop),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
