/*
 * kt_hash.c — SHA-256 (FIPS 180-4): padding, incremental interface, the
 * portable compression function, and the CPU-feature dispatch between it and
 * the SHA-NI compression of kt_sha256_ni.c.
 *
 * Both compressions share the context, the padding and the state layout, so
 * the choice only decides how 64-byte blocks are compressed.
 */
#include "kt_hash.h"

#include <stdatomic.h>
#include <string.h>

#include <sodium.h>

#include "hash_int.h"

/* FIPS 180-4 4.2.2: first 32 bits of the fractional parts of the cube roots
 * of the first 64 primes.  Shared (read-only) with kt_sha256_ni.c. */
const uint32_t kt_sha256_k[64] = {
	0x428a2f98U, 0x71374491U, 0xb5c0fbcfU, 0xe9b5dba5U,
	0x3956c25bU, 0x59f111f1U, 0x923f82a4U, 0xab1c5ed5U,
	0xd807aa98U, 0x12835b01U, 0x243185beU, 0x550c7dc3U,
	0x72be5d74U, 0x80deb1feU, 0x9bdc06a7U, 0xc19bf174U,
	0xe49b69c1U, 0xefbe4786U, 0x0fc19dc6U, 0x240ca1ccU,
	0x2de92c6fU, 0x4a7484aaU, 0x5cb0a9dcU, 0x76f988daU,
	0x983e5152U, 0xa831c66dU, 0xb00327c8U, 0xbf597fc7U,
	0xc6e00bf3U, 0xd5a79147U, 0x06ca6351U, 0x14292967U,
	0x27b70a85U, 0x2e1b2138U, 0x4d2c6dfcU, 0x53380d13U,
	0x650a7354U, 0x766a0abbU, 0x81c2c92eU, 0x92722c85U,
	0xa2bfe8a1U, 0xa81a664bU, 0xc24b8b70U, 0xc76c51a3U,
	0xd192e819U, 0xd6990624U, 0xf40e3585U, 0x106aa070U,
	0x19a4c116U, 0x1e376c08U, 0x2748774cU, 0x34b0bcb5U,
	0x391c0cb3U, 0x4ed8aa4aU, 0x5b9cca4fU, 0x682e6ff3U,
	0x748f82eeU, 0x78a5636fU, 0x84c87814U, 0x8cc70208U,
	0x90befffaU, 0xa4506cebU, 0xbef9a3f7U, 0xc67178f2U,
};

/* FIPS 180-4 5.3.3: first 32 bits of the fractional parts of the square
 * roots of the first 8 primes. */
static const uint32_t sha256_iv[8] = {
	0x6a09e667U, 0xbb67ae85U, 0x3c6ef372U, 0xa54ff53aU,
	0x510e527fU, 0x9b05688cU, 0x1f83d9abU, 0x5be0cd19U,
};

/* ---- portable compression (FIPS 180-4 4.1.2, 6.2.2) ----------------- */

static inline uint32_t rotr32(uint32_t x, unsigned n)
{
	return (x >> n) | (x << (32 - n)); /* n is 2..25 here */
}

static inline uint32_t load_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static inline void store_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline uint32_t ch(uint32_t x, uint32_t y, uint32_t z)
{
	return (x & y) ^ (~x & z);
}

static inline uint32_t maj(uint32_t x, uint32_t y, uint32_t z)
{
	return (x & y) ^ (x & z) ^ (y & z);
}

static inline uint32_t bsig0(uint32_t x)
{
	return rotr32(x, 2) ^ rotr32(x, 13) ^ rotr32(x, 22);
}

static inline uint32_t bsig1(uint32_t x)
{
	return rotr32(x, 6) ^ rotr32(x, 11) ^ rotr32(x, 25);
}

static inline uint32_t ssig0(uint32_t x)
{
	return rotr32(x, 7) ^ rotr32(x, 18) ^ (x >> 3);
}

static inline uint32_t ssig1(uint32_t x)
{
	return rotr32(x, 17) ^ rotr32(x, 19) ^ (x >> 10);
}

/* One round (FIPS 180-4 6.2.2 step 3) on the working variables named by
 * position: callers rotate the names instead of moving the values, so the
 * new "a" lands in *h and the new "e" in *d.  kw = K_t + W_t. */
static inline void sha256_round(uint32_t a, uint32_t b, uint32_t c,
				uint32_t *d, uint32_t e, uint32_t f,
				uint32_t g, uint32_t *h, uint32_t kw)
{
	uint32_t t1 = *h + bsig1(e) + ch(e, f, g) + kw;

	*d += t1;
	*h = t1 + bsig0(a) + maj(a, b, c);
}

/* w[0..16) held W_{t-16..t-1}; make it W_t..W_{t+15} (FIPS 180-4 6.2.2
 * step 1).  In place: at index i, w[(i-2)&15], w[(i-7)&15] and w[(i+1)&15]
 * are already new words when i >= 2, i >= 7, i == 15 respectively, exactly
 * when the recurrence needs the new ones. */
static inline void expand16(uint32_t w[16])
{
	unsigned i;

	for (i = 0; i < 16; i++)
		w[i] += ssig1(w[(i + 14) & 15]) + w[(i + 9) & 15] +
			ssig0(w[(i + 1) & 15]);
}

static void compress_portable(uint32_t s[8], const uint8_t *p)
{
	const uint32_t *k = kt_sha256_k;
	uint32_t w[16];
	uint32_t a = s[0], b = s[1], c = s[2], d = s[3];
	uint32_t e = s[4], f = s[5], g = s[6], h = s[7];
	unsigned i;

	for (i = 0; i < 16; i++)
		w[i] = load_be32(p + 4 * i);
	for (i = 0; i < 64; i += 16, k += 16) {
		if (i != 0)
			expand16(w);
		sha256_round(a, b, c, &d, e, f, g, &h, k[0] + w[0]);
		sha256_round(h, a, b, &c, d, e, f, &g, k[1] + w[1]);
		sha256_round(g, h, a, &b, c, d, e, &f, k[2] + w[2]);
		sha256_round(f, g, h, &a, b, c, d, &e, k[3] + w[3]);
		sha256_round(e, f, g, &h, a, b, c, &d, k[4] + w[4]);
		sha256_round(d, e, f, &g, h, a, b, &c, k[5] + w[5]);
		sha256_round(c, d, e, &f, g, h, a, &b, k[6] + w[6]);
		sha256_round(b, c, d, &e, f, g, h, &a, k[7] + w[7]);
		sha256_round(a, b, c, &d, e, f, g, &h, k[8] + w[8]);
		sha256_round(h, a, b, &c, d, e, f, &g, k[9] + w[9]);
		sha256_round(g, h, a, &b, c, d, e, &f, k[10] + w[10]);
		sha256_round(f, g, h, &a, b, c, d, &e, k[11] + w[11]);
		sha256_round(e, f, g, &h, a, b, c, &d, k[12] + w[12]);
		sha256_round(d, e, f, &g, h, a, b, &c, k[13] + w[13]);
		sha256_round(c, d, e, &f, g, h, a, &b, k[14] + w[14]);
		sha256_round(b, c, d, &e, f, g, h, &a, k[15] + w[15]);
	}
	s[0] += a;
	s[1] += b;
	s[2] += c;
	s[3] += d;
	s[4] += e;
	s[5] += f;
	s[6] += g;
	s[7] += h;
}

void kt_sha256_blocks_portable(uint32_t state[8], const uint8_t *in,
			       size_t nblocks)
{
	while (nblocks-- > 0) {
		compress_portable(state, in);
		in += KT_SHA256_BLOCK_BYTES;
	}
}

/* ---- dispatch -------------------------------------------------------- */

/*
 * The one piece of mutable state in merkle/: the compression chosen for this
 * CPU.  NULL until first use, then set once by compare-and-swap to the value
 * every thread would compute (so resolution is idempotent and race free);
 * kt_sha256_set_impl (tests) overwrites it.  Relaxed ordering suffices: it
 * points at code, it publishes no data.
 */
static _Atomic(kt_sha256_blocks_fn *) kt_sha256_dispatch;

static kt_sha256_blocks_fn *detect_blocks(void)
{
#ifdef KT_HAVE_SHA_NI
	if (kt_sha256_ni_supported())
		return kt_sha256_blocks_ni;
#endif
	return kt_sha256_blocks_portable;
}

static kt_sha256_blocks_fn *blocks_fn(void)
{
	kt_sha256_blocks_fn *f, *expected = NULL;

	f = atomic_load_explicit(&kt_sha256_dispatch, memory_order_relaxed);
	if (f != NULL)
		return f;
	f = detect_blocks();
	if (!atomic_compare_exchange_strong_explicit(&kt_sha256_dispatch,
						     &expected, f,
						     memory_order_relaxed,
						     memory_order_relaxed))
		f = expected; /* someone else resolved (or forced) it first */
	return f;
}

int kt_sha256_set_impl(kt_sha256_impl impl)
{
	kt_sha256_blocks_fn *f;

	switch (impl) {
	case KT_SHA256_IMPL_AUTO:
		f = detect_blocks();
		break;
	case KT_SHA256_IMPL_PORTABLE:
		f = kt_sha256_blocks_portable;
		break;
	case KT_SHA256_IMPL_SHA_NI:
#ifdef KT_HAVE_SHA_NI
		if (kt_sha256_ni_supported()) {
			f = kt_sha256_blocks_ni;
			break;
		}
#endif
		return KT_ERR_UNSUPPORTED;
	default:
		return KT_ERR_INVALID_ARG;
	}
	atomic_store_explicit(&kt_sha256_dispatch, f, memory_order_relaxed);
	return KT_OK;
}

const char *kt_sha256_impl_name(void)
{
#ifdef KT_HAVE_SHA_NI
	if (blocks_fn() == kt_sha256_blocks_ni)
		return "sha-ni";
#endif
	return "portable";
}

/* ---- padding and the public interface (FIPS 180-4 5.1.1) -------------- */

/* The longest message tail pad_and_finish takes: the tail, 0x80 and the
 * 8-byte length must fit in two blocks. */
#define KT_SHA256_TAIL_MAX (2 * KT_SHA256_BLOCK_BYTES - 9)

/*
 * blk[0..tlen) holds the last tlen <= KT_SHA256_TAIL_MAX bytes of a message
 * of `total` bytes, whose earlier whole blocks are already in s.  Appends
 * 0x80, zeros and the 64-bit big-endian length in bits (mod 2^64) so as to
 * fill one or two blocks, compresses them and writes the digest.
 */
static void pad_and_finish(uint32_t s[8],
			   uint8_t blk[2 * KT_SHA256_BLOCK_BYTES], size_t tlen,
			   uint64_t total, uint8_t out[KT_HASH_BYTES])
{
	size_t nb = tlen + 9 <= KT_SHA256_BLOCK_BYTES ? 1 : 2;
	size_t end = nb * KT_SHA256_BLOCK_BYTES;
	uint64_t bits = total << 3;
	kt_sha256_blocks_fn *f = blocks_fn();
	unsigned i;

	blk[tlen] = 0x80;
	memset(blk + tlen + 1, 0, end - 8 - (tlen + 1));
	store_be32(blk + end - 8, (uint32_t)(bits >> 32));
	store_be32(blk + end - 4, (uint32_t)bits);
	f(s, blk, nb);
	for (i = 0; i < 8; i++)
		store_be32(out + 4 * i, s[i]);
}

void kt_sha256_init(kt_sha256_ctx *c)
{
	memcpy(c->state, sha256_iv, sizeof(c->state));
	c->count = 0;
	memset(c->buffer, 0, sizeof(c->buffer));
}

void kt_sha256_update(kt_sha256_ctx *c, const uint8_t *in, size_t len)
{
	kt_sha256_blocks_fn *f;
	size_t have, take, n;

	if (len == 0)
		return;
	have = (size_t)(c->count & 63);
	c->count += (uint64_t)len;
	if (have != 0) {
		take = KT_SHA256_BLOCK_BYTES - have;
		if (len < take) {
			memcpy(c->buffer + have, in, len);
			return;
		}
		memcpy(c->buffer + have, in, take);
		in += take;
		len -= take;
		f = blocks_fn();
		f(c->state, c->buffer, 1);
	}
	n = len / KT_SHA256_BLOCK_BYTES;
	if (n != 0) {
		f = blocks_fn();
		f(c->state, in, n);
		in += n * KT_SHA256_BLOCK_BYTES;
		len -= n * KT_SHA256_BLOCK_BYTES;
	}
	if (len != 0)
		memcpy(c->buffer, in, len);
}

void kt_sha256_final(kt_sha256_ctx *c, uint8_t out[KT_HASH_BYTES])
{
	uint8_t blk[2 * KT_SHA256_BLOCK_BYTES];
	size_t have = (size_t)(c->count & 63);

	memcpy(blk, c->buffer, have);
	pad_and_finish(c->state, blk, have, c->count, out);
	sodium_memzero(c, sizeof(*c));
}

/* One-shot: whole blocks straight from the input, no context. */
void kt_sha256(uint8_t out[KT_HASH_BYTES], const uint8_t *in, size_t len)
{
	uint32_t s[8];
	uint8_t blk[2 * KT_SHA256_BLOCK_BYTES];
	size_t n = len / KT_SHA256_BLOCK_BYTES;
	size_t tail = len % KT_SHA256_BLOCK_BYTES;
	kt_sha256_blocks_fn *f;

	memcpy(s, sha256_iv, sizeof(s));
	if (n != 0) {
		f = blocks_fn();
		f(s, in, n);
	}
	if (tail != 0)
		memcpy(blk, in + n * KT_SHA256_BLOCK_BYTES, tail);
	pad_and_finish(s, blk, tail, (uint64_t)len, out);
}

/* Messages that fit two blocks (every tree node: 65 bytes) are assembled
 * and compressed in one call; longer ones go through a context. */
void kt_sha256_prefixed(uint8_t out[KT_HASH_BYTES], uint8_t prefix,
			const uint8_t *a, size_t alen,
			const uint8_t *b, size_t blen)
{
	uint32_t s[8];
	uint8_t blk[2 * KT_SHA256_BLOCK_BYTES];
	kt_sha256_ctx c;

	if (alen < KT_SHA256_TAIL_MAX && blen < KT_SHA256_TAIL_MAX - alen) {
		blk[0] = prefix;
		if (alen != 0)
			memcpy(blk + 1, a, alen);
		if (blen != 0)
			memcpy(blk + 1 + alen, b, blen);
		memcpy(s, sha256_iv, sizeof(s));
		pad_and_finish(s, blk, 1 + alen + blen, 1 + (uint64_t)alen + blen,
			       out);
		return;
	}
	kt_sha256_init(&c);
	kt_sha256_update(&c, &prefix, 1);
	kt_sha256_update(&c, a, alen);
	kt_sha256_update(&c, b, blen);
	kt_sha256_final(&c, out);
}
