/*
 * kt_cosig.h — witness cosignatures, C2SP tlog-cosignature "cosignature/v1"
 * (Ed25519, key type 0x04; c2sp.org/tlog-cosignature).
 *
 * A cosignature is a note signature line by a witness key of type
 * KT_NOTE_KEY_COSIG_V1 on a checkpoint:
 *
 *     — <witness name> base64(key hash[4] || timestamp u64 || Ed25519 sig[64])
 *
 * and the Ed25519 signature covers kt_cosig_message(timestamp, body):
 *
 *     "cosignature/v1\n" "time " <timestamp, ASCII decimal> "\n" <body>
 *
 * where body is the whole checkpoint note text (with extension lines and its
 * final '\n').  timestamp is POSIX seconds and at most 2^63-1.  A witness
 * cosigns only after it has checked consistency with the last checkpoint it
 * cosigned for that origin (c2sp.org/tlog-witness); that check is not here.
 *
 * kt_note_open verifies cosignatures too (give it the witness keys); these
 * functions handle single lines, e.g. a tlog-witness add-checkpoint response.
 *
 * THREAD SAFETY: reentrant; no state.  libsodium must be initialised.
 */
#ifndef KT_COSIG_H
#define KT_COSIG_H

#include <stddef.h>
#include <stdint.h>

#include "kt_err.h"
#include "kt_note.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The domain-separation header line of cosignature/v1. */
#define KT_COSIG_V1_HEADER "cosignature/v1\n"

/* Largest timestamp a cosignature may carry (2^63-1). */
#define KT_COSIG_MAX_TIMESTAMP UINT64_C(0x7fffffffffffffff)

/* Decoded length of a cosignature/v1 line's base64: hash, time, signature. */
#define KT_COSIG_V1_RAW_BYTES (KT_NOTE_KEY_HASH_BYTES + 8 + KT_NOTE_SIG_BYTES)

/* Builds the message a cosignature/v1 signs.  body[0..body_len) must parse
 * as a checkpoint (kt_checkpoint_parse).  On KT_OK *out is heap (caller
 * free()s), *out_len bytes; else NULL.  Errors: KT_ERR_INVALID_ARG
 * (timestamp over KT_COSIG_MAX_TIMESTAMP), KT_ERR_CHECKPOINT_MALFORMED,
 * KT_ERR_TOO_LARGE, KT_ERR_NOMEM. */
KT_MUST_CHECK int kt_cosig_message(uint64_t timestamp, const uint8_t *body,
				   size_t body_len, uint8_t **out,
				   size_t *out_len);

/* Cosigns a checkpoint body as witness at time timestamp: returns one
 * signature line (with its '\n') in *line (heap, caller free()s; *line_len
 * bytes, not NUL-terminated).  Errors: KT_ERR_BAD_KEY_TYPE (witness is not a
 * KT_NOTE_KEY_COSIG_V1 key), KT_ERR_INVALID_ARG (timestamp),
 * KT_ERR_CHECKPOINT_MALFORMED, KT_ERR_TOO_LARGE, KT_ERR_NOMEM.
 * Deterministic. */
KT_MUST_CHECK int kt_cosig_sign(const kt_note_signer *witness,
				uint64_t timestamp, const uint8_t *body,
				size_t body_len, uint8_t **line,
				size_t *line_len);

/* Verifies one cosignature line line[0..line_len) (with its '\n') by witness
 * on body[0..body_len).  On KT_OK *timestamp is the signed time.  Errors
 * (*timestamp 0):
 *   KT_ERR_BAD_KEY_TYPE          witness is not a KT_NOTE_KEY_COSIG_V1 key
 *   KT_ERR_COSIG_MALFORMED       not a signature line, wrong decoded length,
 *                                timestamp above 2^63-1
 *   KT_ERR_NOTE_NO_VERIFIED_SIG  the line names another key (name or hash)
 *   KT_ERR_CHECKPOINT_MALFORMED  body is not a checkpoint
 *   KT_ERR_NOTE_BAD_SIG          the signature does not verify
 *   KT_ERR_NOMEM */
KT_MUST_CHECK int kt_cosig_verify(const uint8_t *line, size_t line_len,
				  const kt_note_verifier *witness,
				  const uint8_t *body, size_t body_len,
				  uint64_t *timestamp);

#ifdef __cplusplus
}
#endif
#endif /* KT_COSIG_H */
