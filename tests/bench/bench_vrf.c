/*
 * bench_vrf.c — rough timing of ECVRF prove / verify (one core).
 *
 * usage: bench_vrf [iterations]   (default 2000)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "kt_vrf.h"

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

int main(int argc, char **argv)
{
	uint8_t seed[32], pk[32], sk[64], pi[80], beta[64], alpha[32];
	long i, n = argc > 1 ? atol(argv[1]) : 2000;
	double t0, t_prove, t_verify, t_p2h;

	if (sodium_init() < 0 || n <= 0)
		return 1;
	randombytes_buf(seed, sizeof(seed));
	if (kt_vrf_keypair_from_seed(pk, sk, seed) != KT_OK)
		return 1;
	memset(alpha, 'a', sizeof(alpha));

	t0 = now_us();
	for (i = 0; i < n; i++) {
		alpha[0] = (uint8_t)i;
		if (kt_vrf_prove(pi, sk, alpha, sizeof(alpha)) != KT_OK)
			return 1;
	}
	t_prove = (now_us() - t0) / (double)n;

	t0 = now_us();
	for (i = 0; i < n; i++) {
		if (kt_vrf_verify(beta, pk, pi, alpha, sizeof(alpha)) != KT_OK)
			return 1;
	}
	t_verify = (now_us() - t0) / (double)n;

	t0 = now_us();
	for (i = 0; i < n; i++) {
		if (kt_vrf_proof_to_hash(beta, pi) != KT_OK)
			return 1;
	}
	t_p2h = (now_us() - t0) / (double)n;

	printf("ecvrf-edwards25519-sha512-tai, %ld iterations, 32-byte alpha\n", n);
	printf("prove          %8.1f us\n", t_prove);
	printf("verify         %8.1f us\n", t_verify);
	printf("proof_to_hash  %8.1f us\n", t_p2h);
	return 0;
}
