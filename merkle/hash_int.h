/*
 * hash_int.h — SHA-256 internals shared by kt_hash.c, kt_sha256_ni.c and the
 * tests.  Not part of the public API.
 *
 * A "block function" runs the SHA-256 compression function (FIPS 180-4,
 * section 6.2.2) over nblocks consecutive 64-byte blocks, updating state[8]
 * (H0..H7, as plain uint32_t in the standard order) in place.  Every block
 * function uses the same state layout, so a context may switch between them
 * between two calls and still produce the same digest.
 */
#ifndef KT_HASH_INT_H
#define KT_HASH_INT_H

#include <stddef.h>
#include <stdint.h>

#include "kt_err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* SHA-NI is only compiled for x86 with a GNU-compatible compiler (the
 * per-function target attribute keeps the rest of the build at default
 * flags).  Build with -DKT_NO_SHA_NI to leave it out altogether. */
#if (defined(__x86_64__) || defined(__i386__)) && \
	(defined(__GNUC__) || defined(__clang__)) && !defined(KT_NO_SHA_NI)
#define KT_HAVE_SHA_NI 1
#endif

#define KT_SHA256_BLOCK_BYTES 64

/* FIPS 180-4 4.2.2 round constants K_0..K_63 (read-only; kt_hash.c). */
extern const uint32_t kt_sha256_k[64];

typedef void kt_sha256_blocks_fn(uint32_t state[8], const uint8_t *in,
				 size_t nblocks);

/* Portable C compression, written from FIPS 180-4.  Always available. */
void kt_sha256_blocks_portable(uint32_t state[8], const uint8_t *in,
			       size_t nblocks);

#ifdef KT_HAVE_SHA_NI
/* Compression with the x86 SHA extensions (kt_sha256_ni.c).  Only call it
 * when kt_sha256_ni_supported() returned 1: on a CPU without them it
 * faults (SIGILL). */
void kt_sha256_blocks_ni(uint32_t state[8], const uint8_t *in, size_t nblocks);

/* 1 if this CPU has SHA-NI and SSSE3 (CPUID leaf 7 EBX bit 29, leaf 1 ECX
 * bit 9), else 0.  Pure (reads CPUID only); thread safe. */
int kt_sha256_ni_supported(void);
#endif

typedef enum kt_sha256_impl {
	KT_SHA256_IMPL_AUTO = 0,     /* SHA-NI if the CPU has it, else portable */
	KT_SHA256_IMPL_PORTABLE = 1, /* portable C */
	KT_SHA256_IMPL_SHA_NI = 2    /* x86 SHA extensions */
} kt_sha256_impl;

/*
 * FOR TESTS (and benchmarks) ONLY: choose the compression used by every
 * kt_sha256* function from now on, in every thread.  Returns KT_OK, or
 * KT_ERR_UNSUPPORTED (and changes nothing) if SHA-NI is asked for but not
 * compiled in or not supported by this CPU, or KT_ERR_INVALID_ARG for an
 * unknown value.  Thread safe (one atomic store); all implementations give
 * the same digests, so switching while other threads hash is harmless.
 */
KT_MUST_CHECK int kt_sha256_set_impl(kt_sha256_impl impl);

#ifdef __cplusplus
}
#endif
#endif /* KT_HASH_INT_H */
