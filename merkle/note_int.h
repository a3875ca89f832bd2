/*
 * note_int.h — internals shared by kt_note.c, kt_checkpoint.c and the note
 * tests (not public API).
 *
 * THREAD SAFETY: pure functions, thread safe.
 */
#ifndef KT_NOTE_INT_H
#define KT_NOTE_INT_H

#include <stddef.h>
#include <stdint.h>

/*
 * Strict standard base64 (RFC 4648 §4) of s[0..n): padded, no white space,
 * zero pad bits, and only the 64 letters and '='.  Decodes into out[0..cap)
 * and sets *got.  Returns 0, or -1 if s is not such base64 or decodes to
 * more than cap bytes.  The time taken does not depend on which letters s
 * holds (signer keys pass through here).
 *
 * Use this, never sodium_base642bin directly: libsodium 1.0.18 accepts any
 * byte >= 0x80 as the letter '/' (found by tests/fuzz/fuzz_checkpoint.c).
 */
int kt_note_int_b64_decode(uint8_t *out, size_t cap, const uint8_t *s,
			   size_t n, size_t *got);

#endif /* KT_NOTE_INT_H */
