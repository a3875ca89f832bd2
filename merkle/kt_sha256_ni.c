/*
 * kt_sha256_ni.c — the SHA-256 compression function (FIPS 180-4 6.2.2) with
 * the x86 SHA extensions, and the CPUID check that allows using it.
 *
 * Only the functions below are compiled for SHA+SSSE3 (target attribute), so
 * the rest of the build keeps default flags; kt_hash.c calls them only after
 * kt_sha256_ni_supported() said yes.  On other architectures (or with
 * -DKT_NO_SHA_NI) this file compiles to nothing.
 *
 * How the instructions are used (Intel SDM, SHA256RNDS2/MSG1/MSG2):
 *  - SHA256RNDS2 runs two rounds.  It keeps the eight working variables in
 *    two registers, "ABEF" (A in the top 32-bit lane, then B, E, F in lane 0)
 *    and "CDGH", takes W_t+K_t and W_{t+1}+K_{t+1} from the low two lanes of
 *    a third, and returns the new ABEF.  After two rounds the old ABEF is
 *    exactly the new CDGH, so four rounds are two calls with the two state
 *    registers swapping roles.
 *  - The schedule W_16..W_63 is made four words at a time:
 *    MSG1 adds sigma0(W_{t-15}) to W_{t-16}; we add W_{t-7} (an ALIGNR of
 *    the two previous quadruples); MSG2 adds sigma1(W_{t-2}), computing the
 *    last two lanes from the first two it has just produced.
 *  - Message words are big-endian: PSHUFB swaps the bytes of each lane.
 */
#include "hash_int.h"

#ifdef KT_HAVE_SHA_NI

#include <cpuid.h>
#include <immintrin.h>

#define KT_SHA_NI_TARGET __attribute__((target("sha,ssse3")))

#define CPUID1_ECX_SSSE3 (1U << 9)
#define CPUID7_EBX_SHA (1U << 29)

int kt_sha256_ni_supported(void)
{
	unsigned int a, b, c, d;

	if (!__get_cpuid(1, &a, &b, &c, &d) || (c & CPUID1_ECX_SSSE3) == 0)
		return 0;
	/* __get_cpuid_count returns 0 if leaf 7 is beyond the maximum leaf */
	if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
		return 0;
	return (b & CPUID7_EBX_SHA) != 0;
}

static inline KT_SHA_NI_TARGET __m128i load128(const void *p)
{
	return _mm_loadu_si128((const __m128i *)p);
}

/* Four rounds 4q..4q+3 with the schedule words w = W_4q..W_4q+3. */
static inline KT_SHA_NI_TARGET void rounds4(__m128i *abef, __m128i *cdgh,
					    __m128i w, unsigned q)
{
	__m128i wk = _mm_add_epi32(w, load128(kt_sha256_k + 4 * q));

	*cdgh = _mm_sha256rnds2_epu32(*cdgh, *abef, wk); /* now holds ABEF */
	wk = _mm_shuffle_epi32(wk, 0x0E);                /* lanes 2,3 -> 0,1 */
	*abef = _mm_sha256rnds2_epu32(*abef, *cdgh, wk);
}

/* W_t..W_t+3 from w16 = W_{t-16..t-13}, w12 = W_{t-12..t-9},
 * w8 = W_{t-8..t-5}, w4 = W_{t-4..t-1}. */
static inline KT_SHA_NI_TARGET __m128i schedule4(__m128i w16, __m128i w12,
						 __m128i w8, __m128i w4)
{
	__m128i x = _mm_sha256msg1_epu32(w16, w12);

	x = _mm_add_epi32(x, _mm_alignr_epi8(w4, w8, 4)); /* + W_{t-7..t-4} */
	return _mm_sha256msg2_epu32(x, w4);
}

KT_SHA_NI_TARGET
void kt_sha256_blocks_ni(uint32_t state[8], const uint8_t *in, size_t nblocks)
{
	/* per 32-bit lane, bytes 3,2,1,0: big-endian words to native */
	const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL,
					     0x0405060700010203LL);
	__m128i abcd, efgh, abef, cdgh, abef0, cdgh0, m0, m1, m2, m3;
	unsigned q;

	/* state[] lanes (low to high) a,b,c,d / e,f,g,h -> f,e,b,a / h,g,d,c */
	abcd = _mm_shuffle_epi32(load128(state), 0x1B);     /* d,c,b,a */
	efgh = _mm_shuffle_epi32(load128(state + 4), 0x1B); /* h,g,f,e */
	abef = _mm_unpackhi_epi64(efgh, abcd);
	cdgh = _mm_unpacklo_epi64(efgh, abcd);

	for (; nblocks > 0; nblocks--, in += KT_SHA256_BLOCK_BYTES) {
		abef0 = abef;
		cdgh0 = cdgh;
		m0 = _mm_shuffle_epi8(load128(in), bswap);
		m1 = _mm_shuffle_epi8(load128(in + 16), bswap);
		m2 = _mm_shuffle_epi8(load128(in + 32), bswap);
		m3 = _mm_shuffle_epi8(load128(in + 48), bswap);
		rounds4(&abef, &cdgh, m0, 0);
		rounds4(&abef, &cdgh, m1, 1);
		rounds4(&abef, &cdgh, m2, 2);
		rounds4(&abef, &cdgh, m3, 3);
		for (q = 4; q < 16; q += 4) {
			m0 = schedule4(m0, m1, m2, m3);
			rounds4(&abef, &cdgh, m0, q);
			m1 = schedule4(m1, m2, m3, m0);
			rounds4(&abef, &cdgh, m1, q + 1);
			m2 = schedule4(m2, m3, m0, m1);
			rounds4(&abef, &cdgh, m2, q + 2);
			m3 = schedule4(m3, m0, m1, m2);
			rounds4(&abef, &cdgh, m3, q + 3);
		}
		abef = _mm_add_epi32(abef, abef0);
		cdgh = _mm_add_epi32(cdgh, cdgh0);
	}

	/* back: f,e,b,a / h,g,d,c -> a,b,c,d / e,f,g,h */
	abcd = _mm_shuffle_epi32(_mm_unpackhi_epi64(cdgh, abef), 0x1B);
	efgh = _mm_shuffle_epi32(_mm_unpacklo_epi64(cdgh, abef), 0x1B);
	_mm_storeu_si128((__m128i *)(void *)state, abcd);
	_mm_storeu_si128((__m128i *)(void *)(state + 4), efgh);
}

#else /* !KT_HAVE_SHA_NI */

/* ISO C wants at least one declaration per translation unit. */
typedef int kt_sha256_ni_unused;

#endif
