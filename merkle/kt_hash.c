/* kt_hash.c — SHA-256 wrappers over libsodium. */
#include "kt_hash.h"

void kt_sha256(uint8_t out[KT_HASH_BYTES], const uint8_t *in, size_t len)
{
	crypto_hash_sha256(out, in, len);
}

void kt_sha256_init(kt_sha256_ctx *c)
{
	crypto_hash_sha256_init(c);
}

void kt_sha256_update(kt_sha256_ctx *c, const uint8_t *in, size_t len)
{
	if (len != 0)
		crypto_hash_sha256_update(c, in, len);
}

void kt_sha256_final(kt_sha256_ctx *c, uint8_t out[KT_HASH_BYTES])
{
	crypto_hash_sha256_final(c, out);
}

void kt_sha256_prefixed(uint8_t out[KT_HASH_BYTES], uint8_t prefix,
			const uint8_t *a, size_t alen,
			const uint8_t *b, size_t blen)
{
	kt_sha256_ctx c;

	kt_sha256_init(&c);
	kt_sha256_update(&c, &prefix, 1);
	kt_sha256_update(&c, a, alen);
	kt_sha256_update(&c, b, blen);
	kt_sha256_final(&c, out);
}
