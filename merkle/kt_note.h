/*
 * kt_note.h — C2SP signed notes (c2sp.org/signed-note) with Ed25519 keys:
 * verifier and signer keys, signing, and strict opening of a note against a
 * set of known keys.
 *
 * A signed note is UTF-8 text (no control characters but newline) that ends
 * in a newline, then one blank line, then one or more signature lines
 *
 *     U+2014 EM DASH, ' ', key name, ' ', base64(key hash[4] || signature), '\n'
 *
 * Two key types are supported (the type byte is part of the key hash and of
 * the verifier key string):
 *   KT_NOTE_KEY_ED25519   0x01  plain Ed25519 over the note text (log keys)
 *   KT_NOTE_KEY_COSIG_V1  0x04  c2sp.org/tlog-cosignature "cosignature/v1":
 *                               Ed25519 over a timestamped message built from
 *                               a checkpoint (witness keys; see kt_cosig.h)
 *
 * key hash = first 4 bytes (big-endian u32) of
 *            SHA-256(name || 0x0A || type || 32-byte Ed25519 public key)
 * verifier key string = name "+" 8 lowercase hex digits of the key hash "+"
 *                       base64(type || public key)
 * signer key string   = "PRIVATE+KEY+" name "+" hex key hash "+"
 *                       base64(type || 32-byte Ed25519 seed)
 *
 * Byte-level format and every rejection rule: docs/PROTOCOL.md §5.
 *
 * Randomness is the caller's: keys are made from a 32-byte seed that the
 * caller draws (e.g. libsodium's randombytes_buf) outside merkle/.
 *
 * THREAD SAFETY: every function is reentrant and touches only its arguments;
 * the key structs are plain values that may be shared read-only between
 * threads.  libsodium must have been initialised (sodium_init()) by the
 * program before any call.
 */
#ifndef KT_NOTE_H
#define KT_NOTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kt_enc.h"
#include "kt_err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Key / signature type bytes (c2sp.org/signed-note "Signature types"). */
#define KT_NOTE_KEY_ED25519 0x01
#define KT_NOTE_KEY_COSIG_V1 0x04

#define KT_NOTE_PK_BYTES 32     /* Ed25519 public key */
#define KT_NOTE_SEED_BYTES 32   /* Ed25519 seed (the secret of a signer key) */
#define KT_NOTE_SIG_BYTES 64    /* Ed25519 signature */
#define KT_NOTE_KEY_HASH_BYTES 4

/* Longest key name of a key we hold (verifier or signer), in bytes.  Longer
 * names in signature lines are well-formed but can never match a known key. */
#define KT_NOTE_MAX_NAME 255

/* Largest signed note accepted or produced, in bytes (whole note). */
#define KT_NOTE_MAX_BYTES (1024 * 1024)

/* Most signature lines in one note (C2SP: verifiers must accept >= 16). */
#define KT_NOTE_MAX_SIGS 100

/* Most verifier keys passed to one kt_note_open call. */
#define KT_NOTE_MAX_VERIFIERS 256

/* The UTF-8 encoding of U+2014 EM DASH followed by a space: the start of
 * every signature line. */
#define KT_NOTE_SIG_PREFIX "\xe2\x80\x94 "
#define KT_NOTE_SIG_PREFIX_LEN 4

/* A public key that signatures are checked against. */
typedef struct kt_note_verifier {
	char name[KT_NOTE_MAX_NAME + 1]; /* NUL-terminated */
	size_t name_len;                 /* 1..KT_NOTE_MAX_NAME */
	uint8_t type;                    /* KT_NOTE_KEY_ED25519 or _COSIG_V1 */
	uint32_t key_hash;
	uint8_t pk[KT_NOTE_PK_BYTES];    /* valid Ed25519 point, prime order */
} kt_note_verifier;

/* A private key.  pub is its public half; sk is SECRET (libsodium's
 * seed || public key form).  Wipe with kt_note_signer_wipe when done. */
typedef struct kt_note_signer {
	kt_note_verifier pub;
	uint8_t sk[64];
} kt_note_signer;

/* What kt_note_open found for one known key. */
typedef struct kt_note_sigstatus {
	bool verified;      /* the note carries a valid signature by this key */
	uint64_t timestamp; /* KT_NOTE_KEY_COSIG_V1 keys: the cosignature's time
	                       (POSIX seconds); 0 for other keys or if !verified */
} kt_note_sigstatus;

/* One parsed signature line (all pointers borrow from the parsed line). */
typedef struct kt_note_sig {
	kt_bytes name;     /* key name, valid per kt_note_name_check */
	uint32_t key_hash; /* first 4 bytes of the decoded base64, big-endian */
	kt_bytes b64;      /* the whole base64 field (key hash || signature) */
	size_t raw_len;    /* decoded length of b64: 4 + signature, >= 5 */
} kt_note_sig;

/* ---- names, text, key hashes ------------------------------------------ */

/* Returns KT_OK if name[0..len) is a valid key name: non-empty, valid UTF-8,
 * no control character, no Unicode white space, no '+'.  Otherwise
 * KT_ERR_NOTE_MALFORMED.  (No length cap here; keys cap at KT_NOTE_MAX_NAME.) */
KT_MUST_CHECK int kt_note_name_check(const uint8_t *name, size_t len);

/* Returns KT_OK if p[0..len) is valid UTF-8 (shortest form, no surrogates,
 * <= U+10FFFF) and contains no ASCII control character (< 0x20) except
 * '\n'; otherwise KT_ERR_NOTE_MALFORMED.  len 0 is valid. */
KT_MUST_CHECK int kt_note_text_check(const uint8_t *p, size_t len);

/* The key hash of (name, type, pk): big-endian u32 of the first 4 bytes of
 * SHA-256(name || 0x0A || type || pk[32]).  No validation. */
uint32_t kt_note_key_hash(const char *name, size_t name_len, uint8_t type,
			  const uint8_t pk[KT_NOTE_PK_BYTES]);

/* ---- verifier keys ----------------------------------------------------- */

/* Builds a verifier from its parts.  Returns KT_OK, KT_ERR_INVALID_ARG (bad
 * or too long name), KT_ERR_BAD_KEY_TYPE (type not 0x01 / 0x04) or
 * KT_ERR_BAD_KEY (pk not a canonical prime-order Ed25519 point, or small
 * order).  *out is zeroed on failure. */
KT_MUST_CHECK int kt_note_verifier_new(kt_note_verifier *out, const char *name,
				       size_t name_len, uint8_t type,
				       const uint8_t pk[KT_NOTE_PK_BYTES]);

/* Parses a verifier key string "name+hash+base64(type||pk)" of len bytes
 * (no NUL needed, none allowed inside).  Strict: exactly 8 lowercase hex
 * digits, canonical padded base64 of exactly 33 bytes, nothing else.
 * Returns KT_OK; KT_ERR_BAD_VERIFIER_KEY (malformed, name invalid or longer
 * than KT_NOTE_MAX_NAME); KT_ERR_BAD_KEY_TYPE (type byte not 0x01/0x04);
 * KT_ERR_KEY_HASH_MISMATCH (hash is not the key hash of name, type, pk);
 * KT_ERR_BAD_KEY (invalid Ed25519 point).  *out is zeroed on failure. */
KT_MUST_CHECK int kt_note_verifier_parse(kt_note_verifier *out, const char *s,
					 size_t len);

/* Formats v as a verifier key string.  On KT_OK *out is a heap,
 * NUL-terminated string of *out_len bytes (not counting the NUL) that the
 * caller frees with free().  KT_ERR_INVALID_ARG if v is not a valid
 * verifier (bad name, type, or key hash); KT_ERR_NOMEM.  *out NULL on
 * failure.  kt_note_verifier_parse of the result gives v back. */
KT_MUST_CHECK int kt_note_verifier_format(const kt_note_verifier *v, char **out,
					  size_t *out_len);

/* ---- signer keys ------------------------------------------------------- */

/* Makes a signer (and its public half) from a name, a type (0x01 or 0x04)
 * and a 32-byte secret seed, deterministically.  Returns KT_OK,
 * KT_ERR_INVALID_ARG (bad name) or KT_ERR_BAD_KEY_TYPE.  *out is wiped on
 * failure.  The caller keeps and wipes its seed. */
KT_MUST_CHECK int kt_note_signer_from_seed(kt_note_signer *out, const char *name,
					   size_t name_len, uint8_t type,
					   const uint8_t seed[KT_NOTE_SEED_BYTES]);

/* Parses "PRIVATE+KEY+name+hash+base64(type||seed)" (len bytes, the secret
 * part decoded in constant time).  Returns KT_OK; KT_ERR_NOTE_BAD_SIGNER_KEY
 * (malformed); KT_ERR_BAD_KEY_TYPE; KT_ERR_KEY_HASH_MISMATCH (hash is not
 * the key hash of the derived public key).  *out is wiped on failure.  The
 * caller wipes its copy of s. */
KT_MUST_CHECK int kt_note_signer_parse(kt_note_signer *out, const char *s,
				       size_t len);

/* Formats s as a signer key string.  On KT_OK *out is a heap NUL-terminated
 * SECRET string of *out_len bytes: the caller must sodium_memzero(*out,
 * *out_len) before free().  KT_ERR_INVALID_ARG, KT_ERR_NOMEM; *out NULL on
 * failure. */
KT_MUST_CHECK int kt_note_signer_format(const kt_note_signer *s, char **out,
					size_t *out_len);

/* Wipes a signer (secret and public parts); s may be NULL. */
void kt_note_signer_wipe(kt_note_signer *s);

/* ---- signing ----------------------------------------------------------- */

/* Formats one signature line by signer over text[0..text_len):
 * "— name base64(key hash || sig)\n".  For a KT_NOTE_KEY_ED25519 signer
 * sig = Ed25519(text) and timestamp must be 0; for a KT_NOTE_KEY_COSIG_V1
 * signer sig = timestamp (u64) || Ed25519(kt_cosig_message(timestamp,
 * text)), text must be a checkpoint and timestamp <= 2^63-1.  text must be
 * a valid note text (kt_note_text_check, ends in '\n').
 * On KT_OK *out (heap, caller free()s) holds *out_len bytes, not
 * NUL-terminated.  Errors: KT_ERR_NOTE_MALFORMED (text), KT_ERR_TOO_LARGE
 * (text + line over KT_NOTE_MAX_BYTES), KT_ERR_INVALID_ARG (timestamp),
 * KT_ERR_BAD_KEY_TYPE, KT_ERR_CHECKPOINT_MALFORMED, KT_ERR_NOMEM. */
KT_MUST_CHECK int kt_note_sig_line(const kt_note_signer *signer,
				   uint64_t timestamp, const uint8_t *text,
				   size_t text_len, uint8_t **out,
				   size_t *out_len);

/* Signs text into a new note: text || "\n" || kt_note_sig_line(...).  Same
 * arguments, ownership and errors as kt_note_sig_line.  Deterministic. */
KT_MUST_CHECK int kt_note_sign(const kt_note_signer *signer, uint64_t timestamp,
			       const uint8_t *text, size_t text_len,
			       uint8_t **out, size_t *out_len);

/* Adds one more signature (e.g. a witness cosignature) to a well-formed note
 * note[0..note_len): the result is the note with signer's line appended.
 * The existing signatures are not verified (use kt_note_open for that), but
 * the note must be well-formed as kt_note_open defines it.  Errors:
 * KT_ERR_NOTE_MALFORMED, KT_ERR_TOO_LARGE (bytes or signature count),
 * KT_ERR_NOTE_DUPLICATE_SIG (a line with signer's name and key hash is
 * already there), and those of kt_note_sig_line.  On KT_OK *out is heap
 * (caller free()s), else NULL. */
KT_MUST_CHECK int kt_note_add_sig(const kt_note_signer *signer,
				  uint64_t timestamp, const uint8_t *note,
				  size_t note_len, uint8_t **out,
				  size_t *out_len);

/* ---- opening ----------------------------------------------------------- */

/* Parses one signature line line[0..len), which must include its final
 * '\n': em dash, one space, a valid name (kt_note_name_check), one space,
 * non-empty canonical padded base64 of at least 5 bytes, '\n'.  Returns
 * KT_OK or KT_ERR_NOTE_MALFORMED; *out borrows from line (zeroed on
 * failure). */
KT_MUST_CHECK int kt_note_sig_parse(kt_note_sig *out, const uint8_t *line,
				    size_t len);

/* Checks a parsed signature line against one key and a note text.
 * Returns KT_OK (and for a cosignature key the signed time in *timestamp,
 * else 0), or:
 *   KT_ERR_NOTE_NO_VERIFIED_SIG  the line is not by v (name or key hash differ)
 *   KT_ERR_NOTE_BAD_SIG          it is by v but does not verify (or an
 *                                Ed25519 line has the wrong length)
 *   KT_ERR_COSIG_MALFORMED       a cosignature line of the wrong length, or
 *                                with a timestamp above 2^63-1
 *   KT_ERR_CHECKPOINT_MALFORMED  cosignature key, but text is no checkpoint
 *   KT_ERR_BAD_KEY_TYPE, KT_ERR_NOMEM.
 * *timestamp is 0 on failure; timestamp may be NULL. */
KT_MUST_CHECK int kt_note_sig_verify(const kt_note_sig *sig,
				     const kt_note_verifier *v,
				     const uint8_t *text, size_t text_len,
				     uint64_t *timestamp);

/*
 * Opens the signed note msg[0..len) strictly against the known keys
 * keys[0..nkeys) (nkeys 1..KT_NOTE_MAX_VERIFIERS, no two with the same name
 * and key hash).  First the whole note is parsed, then every signature line
 * whose name AND key hash match a known key is verified; lines by unknown
 * keys must be well-formed but are otherwise ignored.
 *
 * On KT_OK: *text borrows the note text from msg (everything before the
 * blank line, including its final '\n'), and status[i] (an array of nkeys
 * that the caller provides) tells whether keys[i] signed and, for a
 * cosignature key, when.  At least one key verified.  Whether enough keys
 * signed (k of n witnesses) is the caller's policy.
 *
 * Errors (*text is {NULL, 0}; every status is cleared unless the error is
 * KT_ERR_INVALID_ARG, when status may be unusable):
 *   KT_ERR_TOO_LARGE             len > KT_NOTE_MAX_BYTES, or more than
 *                                KT_NOTE_MAX_SIGS signature lines
 *   KT_ERR_NOTE_MALFORMED        not UTF-8, a control character, no blank
 *                                line before the signatures, no signature
 *                                line, a malformed signature line
 *   KT_ERR_NOTE_DUPLICATE_SIG    a known key has two lines
 *   KT_ERR_NOTE_BAD_SIG, KT_ERR_COSIG_MALFORMED, KT_ERR_CHECKPOINT_MALFORMED
 *                                a line by a known key fails (see
 *                                kt_note_sig_verify)
 *   KT_ERR_NOTE_NO_VERIFIED_SIG  no line is by a known key
 *   KT_ERR_INVALID_ARG           nkeys 0 or too many, duplicate keys
 *   KT_ERR_NOMEM
 */
KT_MUST_CHECK int kt_note_open(const uint8_t *msg, size_t len,
			       const kt_note_verifier *keys, size_t nkeys,
			       kt_bytes *text, kt_note_sigstatus *status);

#ifdef __cplusplus
}
#endif
#endif /* KT_NOTE_H */
