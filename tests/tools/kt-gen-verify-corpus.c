/*
 * kt-gen-verify-corpus — writes the seed corpus of tests/fuzz/fuzz_verify.c:
 * real Lookup responses of the fixed world of tests/support/kt_verify_input.h,
 * framed as that header says, and a few near misses.
 *
 * Usage: kt-gen-verify-corpus OUT_DIR   (tests/fuzz/corpus/verify)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kt_enc.h"
#include "kt_fake_log.h"
#include "kt_verify_input.h"

static kt_fake_log *world;

static void put(kt_wbuf *w, const uint8_t *p, size_t n)
{
	kt_put_u16(w, (uint16_t)n);
	kt_put_fixed(w, p, n);
}

static void put_u64(kt_wbuf *w, uint64_t v)
{
	uint8_t b[8];

	kt_store_u64be(b, v);
	put(w, b, sizeof(b));
}

/* Writes one seed; cut > 0 keeps only its first cut bytes. */
static int seed(const char *dir, const char *name, uint64_t size,
		uint64_t from, unsigned mask, uint64_t now, const char *account,
		uint8_t flags, size_t cut)
{
	kt_fake_head h;
	kt_fake_lookup l;
	kt_wbuf w;
	char path[4096];
	FILE *f;
	int r;

	if (kt_fake_log_head(world, size, from, mask, &h) != KT_OK ||
	    kt_fake_log_lookup(world, 5, account, &l) != KT_OK)
		return 1;
	kt_wbuf_init(&w, 1 << 20);
	put(&w, h.checkpoint, h.checkpoint_len);
	put_u64(&w, h.tree_size);
	put(&w, h.consistency[0], h.n_consistency * KT_HASH_BYTES);
	put(&w, h.last_entry, h.last_entry_len);
	put(&w, h.inclusion[0], h.n_inclusion * KT_HASH_BYTES);
	put_u64(&w, now);
	put(&w, (const uint8_t *)account, strlen(account));
	put(&w, l.vrf_proof, sizeof(l.vrf_proof));
	put(&w, l.map_proof, l.map_proof_len);
	put(&w, l.leaf, l.present ? sizeof(l.leaf) : 0);
	put(&w, l.value, l.value_len);
	put(&w, l.provenance, l.provenance_len);
	put(&w, l.opening, l.present ? sizeof(l.opening) : 0);
	put(&w, &flags, 1);
	kt_fake_head_free(&h);
	kt_fake_lookup_free(&l);
	if (kt_wbuf_error(&w) != KT_OK) {
		kt_wbuf_free(&w);
		return 1;
	}
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	r = f == NULL ||
	    fwrite(w.data, 1, cut > 0 && cut < w.len ? cut : w.len, f) == 0;
	if (f != NULL && fclose(f) != 0)
		r = 1;
	kt_wbuf_free(&w);
	return r;
}

int main(int argc, char **argv)
{
	const char *dir;
	int r = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
		return 2;
	}
	dir = argv[1];
	if (kt_vi_world(&world) != KT_OK) {
		fprintf(stderr, "cannot build the world\n");
		return 1;
	}
	r |= seed(dir, "first-use-alice", 5, 0, 3, 0, KT_VI_ACCOUNT_ALICE, 0, 0);
	r |= seed(dir, "from-2-alice", 5, 2, 7, 0, KT_VI_ACCOUNT_ALICE, 1, 0);
	r |= seed(dir, "absent-bob", 5, 0, 6, 0, "mailto:bob@example.com", 0, 0);
	r |= seed(dir, "lag-uncosigned", 5, 2, 0, 0, KT_VI_ACCOUNT_ALICE, 3, 0);
	r |= seed(dir, "stale", 5, 0, 3, KT_VI_T0 + 864000000,
		  KT_VI_ACCOUNT_ALICE, 0, 0);
	r |= seed(dir, "rollback", 1, 0, 3, 0, KT_VI_ACCOUNT_ALICE, 1, 0);
	r |= seed(dir, "truncated", 5, 0, 3, 0, KT_VI_ACCOUNT_ALICE, 0, 400);
	kt_fake_log_free(world);
	if (r != 0)
		fprintf(stderr, "writing the corpus failed\n");
	return r != 0;
}
