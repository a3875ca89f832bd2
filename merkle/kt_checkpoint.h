/*
 * kt_checkpoint.h — C2SP tlog-checkpoint bodies (c2sp.org/tlog-checkpoint):
 * the note text that a log signs for one tree head.
 *
 *     <origin>\n
 *     <tree size, ASCII decimal, no leading zero unless it is "0">\n
 *     <base64 of the 32-byte RFC 6962 root hash>\n
 *     [<extension line>\n]...        (each non-empty; opaque)
 *
 * Parsing is strict (docs/PROTOCOL.md §5): exactly these lines, each
 * ending in '\n'; a canonical size and canonical padded base64; UTF-8 and
 * no control characters.  The body is then signed as a note (kt_note.h)
 * and cosigned by witnesses (kt_cosig.h).
 *
 * THREAD SAFETY: reentrant; no state.  libsodium must be initialised.
 */
#ifndef KT_CHECKPOINT_H
#define KT_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "kt_enc.h"
#include "kt_err.h"
#include "kt_hash.h"
#include "kt_note.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Longest origin line (without its '\n'), in bytes: the same cap as a key
 * name, so the log's key name can equal its origin. */
#define KT_CHECKPOINT_MAX_ORIGIN KT_NOTE_MAX_NAME

/* Largest checkpoint body (origin + size + root + extensions), in bytes. */
#define KT_CHECKPOINT_MAX_BYTES (64 * 1024)

/* A checkpoint.  From kt_checkpoint_parse, origin and extensions borrow from
 * the parsed body; for kt_checkpoint_format the caller points them at its
 * own bytes. */
typedef struct kt_checkpoint {
	kt_bytes origin;         /* without the '\n'; 1..KT_CHECKPOINT_MAX_ORIGIN */
	uint64_t size;           /* number of leaves */
	uint8_t root[KT_HASH_BYTES];
	kt_bytes extensions;     /* all extension lines, each with its '\n';
	                            {NULL or any, 0} when there are none */
} kt_checkpoint;

/* Parses body[0..len) strictly.  Returns KT_OK, KT_ERR_TOO_LARGE (len over
 * KT_CHECKPOINT_MAX_BYTES or origin over KT_CHECKPOINT_MAX_ORIGIN) or
 * KT_ERR_CHECKPOINT_MALFORMED.  *out borrows from body; zeroed on failure. */
KT_MUST_CHECK int kt_checkpoint_parse(kt_checkpoint *out, const uint8_t *body,
				      size_t len);

/* Formats cp as a body.  The same rules as kt_checkpoint_parse apply to
 * cp's origin and extensions (KT_ERR_CHECKPOINT_MALFORMED,
 * KT_ERR_TOO_LARGE), so the result always parses back to cp.  On KT_OK *out
 * is heap (caller free()s), *out_len bytes, not NUL-terminated; else NULL. */
KT_MUST_CHECK int kt_checkpoint_format(const kt_checkpoint *cp, uint8_t **out,
				       size_t *out_len);

/* Returns KT_OK if cp's origin is exactly origin[0..origin_len), else
 * KT_ERR_CHECKPOINT_ORIGIN. */
KT_MUST_CHECK int kt_checkpoint_check_origin(const kt_checkpoint *cp,
					     const char *origin,
					     size_t origin_len);

/* The verifier's one call: kt_note_open(note, keys, status), then
 * kt_checkpoint_parse of the note text, then kt_checkpoint_check_origin.
 * On KT_OK *cp borrows from note and status[] is as kt_note_open leaves it.
 * Returns the first error of those three steps; on failure *cp and status[]
 * are cleared. */
KT_MUST_CHECK int kt_checkpoint_open(kt_checkpoint *cp, const uint8_t *note,
				     size_t note_len, const char *origin,
				     size_t origin_len,
				     const kt_note_verifier *keys, size_t nkeys,
				     kt_note_sigstatus *status);

#ifdef __cplusplus
}
#endif
#endif /* KT_CHECKPOINT_H */
