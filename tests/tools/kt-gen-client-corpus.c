/*
 * kt-gen-client-corpus — writes the seed corpus of
 * tests/fuzz/fuzz_client_response.c: real LookupResponse messages
 * (protobuf) of the fixed world of tests/support/kt_verify_input.h, as a
 * server sends them, and a few near misses.
 *
 * Usage: kt-gen-client-corpus OUT_DIR   (tests/fuzz/corpus/client_response)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keytrail/v1/directory.pb-c.h"
#include "kt_fake_log.h"
#include "kt_verify_input.h"

static kt_fake_log *world;

static int write_file(const char *dir, const char *name, const uint8_t *p,
		      size_t len)
{
	char path[4096];
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (f == NULL)
		return 1;
	ok = fwrite(p, 1, len, f) == len;
	return fclose(f) != 0 || !ok;
}

/* The LookupResponse for account at size, for a client that verified
 * from_size before; cut > 0 keeps its first cut bytes. */
static int seed(const char *dir, const char *name, uint64_t size,
		uint64_t from, const char *account, size_t cut)
{
	Keytrail__V1__LookupResponse resp = KEYTRAIL__V1__LOOKUP_RESPONSE__INIT;
	Keytrail__V1__ReadHead rh = KEYTRAIL__V1__READ_HEAD__INIT;
	ProtobufCBinaryData cons[KT_LOG_MAX_PROOF_HASHES];
	ProtobufCBinaryData incl[KT_LOG_MAX_PROOF_HASHES];
	kt_fake_head h;
	kt_fake_lookup l;
	uint8_t *buf;
	size_t i, n;
	int r = 1;

	if (kt_fake_log_head(world, size, from, 0x7, &h) != KT_OK)
		return 1;
	if (kt_fake_log_lookup(world, size, account, &l) != KT_OK) {
		kt_fake_head_free(&h);
		return 1;
	}
	rh.checkpoint.data = h.checkpoint;
	rh.checkpoint.len = h.checkpoint_len;
	rh.tree_size = h.tree_size;
	for (i = 0; i < h.n_consistency; i++) {
		cons[i].data = h.consistency[i];
		cons[i].len = KT_HASH_BYTES;
	}
	rh.n_consistency = h.n_consistency;
	rh.consistency = cons;
	rh.last_entry.data = h.last_entry;
	rh.last_entry.len = h.last_entry_len;
	for (i = 0; i < h.n_inclusion; i++) {
		incl[i].data = h.inclusion[i];
		incl[i].len = KT_HASH_BYTES;
	}
	rh.n_last_entry_inclusion = h.n_inclusion;
	rh.last_entry_inclusion = incl;
	resp.head = &rh;
	resp.vrf_proof.data = l.vrf_proof;
	resp.vrf_proof.len = sizeof(l.vrf_proof);
	resp.map_proof.data = l.map_proof;
	resp.map_proof.len = l.map_proof_len;
	if (l.present) {
		resp.leaf.data = l.leaf;
		resp.leaf.len = sizeof(l.leaf);
		resp.value.data = l.value;
		resp.value.len = l.value_len;
		resp.provenance.data = l.provenance;
		resp.provenance.len = l.provenance_len;
		resp.opening.data = l.opening;
		resp.opening.len = sizeof(l.opening);
	}
	n = keytrail__v1__lookup_response__get_packed_size(&resp);
	buf = malloc(n);
	if (buf != NULL && keytrail__v1__lookup_response__pack(&resp, buf) == n)
		r = write_file(dir, name, buf, cut > 0 && cut < n ? cut : n);
	free(buf);
	kt_fake_lookup_free(&l);
	kt_fake_head_free(&h);
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
	if (kt_vi_world(&world) != KT_OK)
		return 1;
	/* accepted by client A (trust state at 2) */
	r |= seed(dir, "alice-5-from-2", 5, 2, KT_VI_ACCOUNT_ALICE, 0);
	r |= seed(dir, "alice-4-from-2", 4, 2, KT_VI_ACCOUNT_ALICE, 0);
	/* first use: accepted by neither (A holds size 2; B's GetCheckpoint
	 * cannot decode a LookupResponse), close to both */
	r |= seed(dir, "alice-5-first-use", 5, 0, KT_VI_ACCOUNT_ALICE, 0);
	r |= seed(dir, "alice-2-first-use", 2, 0, KT_VI_ACCOUNT_ALICE, 0);
	/* near misses: another account's answer, a truncated message */
	r |= seed(dir, "carol-5-from-2", 5, 2, "mailto:carol@example.com", 0);
	r |= seed(dir, "alice-5-from-2-cut", 5, 2, KT_VI_ACCOUNT_ALICE, 300);
	kt_fake_log_free(world);
	return r;
}
