/*
 * kt_hash.h — SHA-256 (FIPS 180-4) as every keytrail structure uses it.
 *
 * keytrail's own implementation: the x86 SHA extensions (SHA-NI) when the
 * CPU has them, else portable C; the choice is made once, on first use, from
 * CPUID, and every implementation gives the same digests.
 *
 * THREAD SAFETY: all functions are thread safe; a kt_sha256_ctx must not be
 * used by two threads at once.  merkle/ keeps no mutable state except the
 * CPU-feature dispatch, resolved idempotently (an atomic function pointer).
 *
 * SECRETS: meant for public data (tree nodes, leaves, public keys).
 * kt_sha256_final wipes the context, but the compression's stack temporaries
 * are not wiped.  SHA-256 itself has no data-dependent branches or lookups.
 */
#ifndef KT_HASH_H
#define KT_HASH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KT_HASH_BYTES 32

/* Incremental SHA-256 state.  Plain data owned by the caller (stack is
 * fine); fields are private to kt_hash.c. */
typedef struct kt_sha256_ctx {
	uint32_t state[8];  /* H0..H7 */
	uint64_t count;     /* bytes absorbed so far (messages < 2^61 bytes) */
	uint8_t buffer[64]; /* the partial block: count % 64 bytes */
} kt_sha256_ctx;

/* out = SHA-256(in[0..len)).  in may be NULL when len is 0. */
void kt_sha256(uint8_t out[KT_HASH_BYTES], const uint8_t *in, size_t len);

/* Incremental SHA-256: init, any number of updates (in may be NULL when len
 * is 0), one final.  The context needs no cleanup; final wipes it, and it
 * must be initialised again before reuse. */
void kt_sha256_init(kt_sha256_ctx *c);
void kt_sha256_update(kt_sha256_ctx *c, const uint8_t *in, size_t len);
void kt_sha256_final(kt_sha256_ctx *c, uint8_t out[KT_HASH_BYTES]);

/* out = SHA-256(prefix || a || b): the shape of every tree-node hash
 * (RFC 9162 leaf/node, map leaf/parent).  a or b may be NULL when its
 * length is 0. */
void kt_sha256_prefixed(uint8_t out[KT_HASH_BYTES], uint8_t prefix,
			const uint8_t *a, size_t alen,
			const uint8_t *b, size_t blen);

/* The compression in use: "sha-ni" or "portable" (a static string, never
 * NULL).  Resolves the dispatch if nothing has hashed yet. */
const char *kt_sha256_impl_name(void);

#ifdef __cplusplus
}
#endif
#endif /* KT_HASH_H */
