/*
 * kt-gen-map-corpus — writes the seeds of tests/fuzz/corpus/mapproof/.
 *
 * usage: kt-gen-map-corpus CORPUS_DIR
 *
 * For every query of tests/fuzz/mapproof_tree.h it writes the honest proof
 * behind the selector byte of tests/fuzz/fuzz_mapproof.c under each claim
 * (right digest, wrong digest, absence, fuzzer-supplied digest), plus a few
 * malformed proofs (truncated, trailing byte, unknown kind, depth 257), so the
 * fuzzer starts from every proof kind and depth the tree has.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../fuzz/mapproof_tree.h"
#include "kt_map.h"

static int write_seed(const char *dir, const char *name, uint8_t selector,
		      const uint8_t *extra, size_t extra_len,
		      const uint8_t *proof, size_t len)
{
	char path[4096];
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (f == NULL) {
		perror(path);
		return -1;
	}
	ok = fwrite(&selector, 1, 1, f) == 1 &&
	     (extra_len == 0 || fwrite(extra, 1, extra_len, f) == extra_len) &&
	     (len == 0 || fwrite(proof, 1, len, f) == len);
	if (fclose(f) != 0 || !ok) {
		fprintf(stderr, "%s: write failed\n", path);
		return -1;
	}
	return 0;
}

/* The honest seeds of query q and a few malformed twins of its proof. */
static int seeds_for(const char *dir, const kt_map_store *s, unsigned q)
{
	uint8_t idx[KT_HASH_BYTES], dig[KT_HASH_BYTES], *p = NULL, *bad = NULL;
	char name[64];
	size_t n;
	unsigned claim;
	int r = -1;

	mpt_index(idx, q);
	mpt_digest(dig, q);
	if (kt_map_prove(s, UINT64_MAX, idx, &p, &n) != KT_OK)
		return -1;
	for (claim = 0; claim < 4; claim++) {
		snprintf(name, sizeof(name), "q%02u-claim%u", q, claim);
		if (write_seed(dir, name, (uint8_t)(q | claim << 4), dig,
			       claim == 3 ? KT_HASH_BYTES : 0, p, n) != 0)
			goto out;
	}
	bad = malloc(n + 8);
	if (bad == NULL)
		goto out;
	memcpy(bad, p, n);
	bad[n] = 0;
	snprintf(name, sizeof(name), "q%02u-trailing", q);
	if (write_seed(dir, name, (uint8_t)(q | 2u << 4), NULL, 0, bad, n + 1))
		goto out;
	snprintf(name, sizeof(name), "q%02u-truncated", q);
	if (write_seed(dir, name, (uint8_t)(q | 0x40), NULL, 0, bad, n - 1))
		goto out;
	bad[0] = 0x04;
	snprintf(name, sizeof(name), "q%02u-badkind", q);
	if (write_seed(dir, name, (uint8_t)q, NULL, 0, bad, n))
		goto out;
	bad[0] = p[0];
	bad[1] = 0x01;
	bad[2] = 0x01;
	snprintf(name, sizeof(name), "q%02u-depth257", q);
	if (write_seed(dir, name, (uint8_t)q, NULL, 0, bad, n))
		goto out;
	r = 0;
out:
	free(bad);
	free(p);
	return r;
}

int main(int argc, char **argv)
{
	uint8_t root[KT_HASH_BYTES];
	kt_map_mem *m;
	kt_map_store s;
	unsigned q;
	int rc = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
		return 2;
	}
	m = mpt_build(root);
	if (m == NULL) {
		fprintf(stderr, "cannot build the tree\n");
		return 1;
	}
	s = kt_map_mem_store(m);
	for (q = 0; q < MPT_NQUERIES && rc == 0; q++)
		if (seeds_for(argv[1], &s, q) != 0)
			rc = 1;
	kt_map_mem_free(m);
	return rc;
}
