/*
 * fuzz_logproof.c — the RFC 9162 proof verifiers on arbitrary input.
 *
 * Input layout (big-endian, read with kt_rbuf; trailing bytes ignored):
 *   u64   a        leaf index        / size1
 *   u64   b        tree size         / size2
 *   vec8  h1       leaf hash         / root1
 *   vec8  h2       root              / root2
 *   u8    count    proof elements (at most KT_LOG_MAX_PROOF_HASHES + 8, so
 *                  the count cap is reached; more: input ignored)
 *   count × vec8   proof elements (any length, including 0 and 255)
 * Both kt_log_verify_inclusion(h1, a, b, proof, h2) and
 * kt_log_verify_consistency(a, b, h1, h2, proof) run on every input.
 *
 * Never crashes; aborts when a verifier returns an unexpected code, or
 * accepts with sizes or lengths that cannot be valid, or still accepts after
 * a bit of the root was flipped.  Seeds (tests/fuzz/corpus/logproof/) are the
 * happy-path vectors of tests/vectors/tlog in this layout.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kt_enc.h"
#include "kt_log.h"

#define MAX_ELEMS (KT_LOG_MAX_PROOF_HASHES + 8)

typedef struct fuzz_input {
	uint64_t a, b;
	kt_bytes h1, h2;
	kt_bytes proof[MAX_ELEMS];
	size_t n;
} fuzz_input;

static kt_bytes get_vec(kt_rbuf *r)
{
	kt_bytes v;

	v.p = kt_get_vec8(r, 0, 255, &v.len);
	return v;
}

static int parse(const uint8_t *data, size_t size, fuzz_input *in)
{
	kt_rbuf r;
	size_t i;

	kt_rbuf_init(&r, data, size);
	in->a = kt_get_u64(&r);
	in->b = kt_get_u64(&r);
	in->h1 = get_vec(&r);
	in->h2 = get_vec(&r);
	in->n = kt_get_u8(&r);
	if (in->n > MAX_ELEMS)
		return -1;
	for (i = 0; i < in->n; i++)
		in->proof[i] = get_vec(&r);
	return r.err;
}

static void expect_known(int r)
{
	if (r != KT_OK && r != KT_ERR_LOG_BAD_SIZE && r != KT_ERR_LOG_PROOF_LENGTH &&
	    r != KT_ERR_LOG_ROOT_MISMATCH && r != KT_ERR_LOG_BAD_HASH)
		abort();
}

static int all_hashes(const fuzz_input *in)
{
	size_t i;

	for (i = 0; i < in->n; i++)
		if (in->proof[i].len != KT_HASH_BYTES)
			return 0;
	return 1;
}

/* Returns a copy of v (<= 255 bytes) with its last bit flipped. */
static kt_bytes flipped(kt_bytes v, uint8_t buf[255])
{
	kt_bytes f = {buf, v.len};

	if (v.len > 0) {
		memcpy(buf, v.p, v.len);
		buf[v.len - 1] ^= 1;
	}
	return f;
}

static void check_inclusion(const fuzz_input *in)
{
	uint8_t root[KT_HASH_BYTES], buf[255];
	int r = kt_log_verify_inclusion(in->h1, in->a, in->b, in->proof, in->n,
					in->h2);

	expect_known(r);
	if (r != KT_OK)
		return;
	if (in->b == 0 || in->b > KT_LOG_MAX_SIZE || in->a >= in->b ||
	    in->n > KT_LOG_MAX_PROOF_HASHES || in->h1.len != KT_HASH_BYTES ||
	    in->h2.len != KT_HASH_BYTES || !all_hashes(in))
		abort();
	if (kt_log_root_from_inclusion(in->h1, in->a, in->b, in->proof, in->n,
				       root) != KT_OK ||
	    memcmp(root, in->h2.p, KT_HASH_BYTES) != 0)
		abort();
	if (kt_log_verify_inclusion(in->h1, in->a, in->b, in->proof, in->n,
				    flipped(in->h2, buf)) != KT_ERR_LOG_ROOT_MISMATCH)
		abort();
	if (in->n > 0 && kt_log_verify_inclusion(in->h1, in->a, in->b, in->proof,
						 in->n - 1, in->h2) == KT_OK)
		abort();
}

static void check_consistency(const fuzz_input *in)
{
	uint8_t buf[255];
	int r = kt_log_verify_consistency(in->a, in->b, in->h1, in->h2,
					  in->proof, in->n);

	expect_known(r);
	if (r != KT_OK)
		return;
	/* Accepted: the sizes must be a real (old, new) pair. */
	if (in->a == 0 || in->a > in->b || in->b > KT_LOG_MAX_SIZE)
		abort();
	if (in->a == in->b) {
		if (in->n != 0 || in->h1.len != in->h2.len)
			abort();
		return;
	}
	if (in->n == 0 || in->n > KT_LOG_MAX_PROOF_HASHES ||
	    in->h1.len != KT_HASH_BYTES || in->h2.len != KT_HASH_BYTES ||
	    !all_hashes(in))
		abort();
	if (kt_log_verify_consistency(in->a, in->b, in->h1, flipped(in->h2, buf),
				      in->proof, in->n) != KT_ERR_LOG_ROOT_MISMATCH)
		abort();
	if (kt_log_verify_consistency(in->a, in->b, in->h1, in->h2, in->proof,
				      in->n - 1) == KT_OK)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_input in;

	memset(&in, 0, sizeof(in));
	if (parse(data, size, &in) != KT_OK)
		return 0;
	check_inclusion(&in);
	check_consistency(&in);
	return 0;
}
