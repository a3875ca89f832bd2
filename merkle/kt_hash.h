/*
 * kt_hash.h — SHA-256 as every keytrail structure uses it.
 *
 * THREAD SAFETY: all functions are pure and thread safe.
 */
#ifndef KT_HASH_H
#define KT_HASH_H

#include <stddef.h>
#include <stdint.h>

#include <sodium.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KT_HASH_BYTES 32

typedef crypto_hash_sha256_state kt_sha256_ctx;

/* out = SHA-256(in[0..len)). */
void kt_sha256(uint8_t out[KT_HASH_BYTES], const uint8_t *in, size_t len);

/* Incremental SHA-256; the context needs no cleanup. */
void kt_sha256_init(kt_sha256_ctx *c);
void kt_sha256_update(kt_sha256_ctx *c, const uint8_t *in, size_t len);
void kt_sha256_final(kt_sha256_ctx *c, uint8_t out[KT_HASH_BYTES]);

/* out = SHA-256(prefix || a || b): the shape of every tree-node hash
 * (RFC 9162 leaf/node, map leaf/parent).  a or b may be NULL when its
 * length is 0. */
void kt_sha256_prefixed(uint8_t out[KT_HASH_BYTES], uint8_t prefix,
			const uint8_t *a, size_t alen,
			const uint8_t *b, size_t blen);

#ifdef __cplusplus
}
#endif
#endif /* KT_HASH_H */
