/*
 * kt_enc.h — the one big-endian reader and writer for every fixed encoding.
 *
 * Every hashed or signed structure in keytrail is written and read through
 * these helpers, never by copying structs.  Both sides keep a sticky error:
 * after the first failure every further call is a no-op, and the caller checks
 * once at the end (kt_wbuf_error / kt_rbuf_finish).  Encodings are documented
 * byte by byte in docs/PROTOCOL.md.
 *
 * Notation used in PROTOCOL.md and in the names below:
 *   u8/u16/u32/u64   unsigned big-endian integers
 *   vec8/vec16/vec32 a length (u8/u16/u32) followed by that many bytes
 *   fixed[N]         exactly N bytes, no length
 *
 * THREAD SAFETY: a kt_wbuf / kt_rbuf belongs to one thread at a time.
 */
#ifndef KT_ENC_H
#define KT_ENC_H

#include <stddef.h>
#include <stdint.h>

#include "kt_err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A borrowed byte string: the form in which variable-length inputs that a
 * verifier must check (proof hashes from the wire, roots) are passed. */
typedef struct kt_bytes {
	const uint8_t *p;
	size_t len;
} kt_bytes;

/* ---- writer ---------------------------------------------------------- */

typedef struct kt_wbuf {
	uint8_t *data;  /* heap, owned; NULL until the first write */
	size_t len;     /* bytes written */
	size_t cap;     /* bytes allocated */
	size_t max;     /* hard cap on len: a write past it fails with KT_ERR_TOO_LARGE */
	int err;        /* first error, KT_OK while none */
} kt_wbuf;

/* Starts an empty writer that will refuse to grow past max bytes. */
void kt_wbuf_init(kt_wbuf *w, size_t max);

/* Wipes and frees the buffer; w may be NULL.  The writer is reset to empty. */
void kt_wbuf_free(kt_wbuf *w);

/* Returns the sticky error (KT_OK if every write so far succeeded). */
KT_MUST_CHECK int kt_wbuf_error(const kt_wbuf *w);

/* Hands the written bytes to the caller: on KT_OK *out (heap, caller frees
 * with free()) and *out_len are set and w is reset to empty.  If the writer
 * has an error it is returned, *out is NULL and w is freed. */
KT_MUST_CHECK int kt_wbuf_take(kt_wbuf *w, uint8_t **out, size_t *out_len);

void kt_put_u8(kt_wbuf *w, uint8_t v);
void kt_put_u16(kt_wbuf *w, uint16_t v);
void kt_put_u32(kt_wbuf *w, uint32_t v);
void kt_put_u64(kt_wbuf *w, uint64_t v);
/* fixed[n]: n raw bytes, no length prefix. */
void kt_put_fixed(kt_wbuf *w, const uint8_t *p, size_t n);
/* vec8/vec16/vec32: a length prefix then the bytes.  A length that does not
 * fit the prefix sets KT_ERR_TOO_LARGE. */
void kt_put_vec8(kt_wbuf *w, const uint8_t *p, size_t n);
void kt_put_vec16(kt_wbuf *w, const uint8_t *p, size_t n);
void kt_put_vec32(kt_wbuf *w, const uint8_t *p, size_t n);

/* ---- reader ---------------------------------------------------------- */

typedef struct kt_rbuf {
	const uint8_t *p; /* borrowed input */
	size_t len;
	size_t off;
	int err;
} kt_rbuf;

/* Starts reading len bytes at p; the bytes are borrowed, not copied. */
void kt_rbuf_init(kt_rbuf *r, const uint8_t *p, size_t len);

/* Returns the sticky error, or KT_ERR_TRAILING if bytes are left unread,
 * or KT_OK if the input was consumed exactly. */
KT_MUST_CHECK int kt_rbuf_finish(const kt_rbuf *r);

/* Sets the sticky error to code if none is set yet (for semantic checks made
 * by the caller while decoding). */
void kt_rbuf_fail(kt_rbuf *r, int code);

/* Bytes not read yet (0 once an error is set). */
size_t kt_rbuf_remaining(const kt_rbuf *r);

/* Each getter stores the value and returns it; on error it stores 0 and sets
 * the sticky error (KT_ERR_TRUNCATED). */
uint8_t kt_get_u8(kt_rbuf *r);
uint16_t kt_get_u16(kt_rbuf *r);
uint32_t kt_get_u32(kt_rbuf *r);
uint64_t kt_get_u64(kt_rbuf *r);

/* Copies exactly n bytes into out (zeroes out on error). */
void kt_get_fixed(kt_rbuf *r, uint8_t *out, size_t n);

/* Reads a vec8/vec16/vec32 whose length must be in [min, max]; returns a
 * pointer into the input (borrowed) and its length in *n.  A length above
 * max sets KT_ERR_TOO_LARGE, below min KT_ERR_BAD_LENGTH, past the end
 * KT_ERR_TRUNCATED.  Returns NULL (and *n = 0) on error or for length 0. */
const uint8_t *kt_get_vec8(kt_rbuf *r, size_t min, size_t max, size_t *n);
const uint8_t *kt_get_vec16(kt_rbuf *r, size_t min, size_t max, size_t *n);
const uint8_t *kt_get_vec32(kt_rbuf *r, size_t min, size_t max, size_t *n);

/* Borrows the next n raw bytes (NULL and KT_ERR_TRUNCATED if fewer remain). */
const uint8_t *kt_get_raw(kt_rbuf *r, size_t n);

/* ---- plain helpers for fixed-size fields outside a buffer ------------- */

static inline void kt_store_u32be(uint8_t out[4], uint32_t v)
{
	out[0] = (uint8_t)(v >> 24);
	out[1] = (uint8_t)(v >> 16);
	out[2] = (uint8_t)(v >> 8);
	out[3] = (uint8_t)v;
}

static inline void kt_store_u64be(uint8_t out[8], uint64_t v)
{
	kt_store_u32be(out, (uint32_t)(v >> 32));
	kt_store_u32be(out + 4, (uint32_t)v);
}

static inline uint32_t kt_load_u32be(const uint8_t in[4])
{
	return ((uint32_t)in[0] << 24) | ((uint32_t)in[1] << 16) |
	       ((uint32_t)in[2] << 8) | (uint32_t)in[3];
}

static inline uint64_t kt_load_u64be(const uint8_t in[8])
{
	return ((uint64_t)kt_load_u32be(in) << 32) | kt_load_u32be(in + 4);
}

#ifdef __cplusplus
}
#endif
#endif /* KT_ENC_H */
