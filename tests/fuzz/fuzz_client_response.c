/*
 * fuzz_client_response.c — libFuzzer target for libkeytrail's whole read
 * path: the input is the server's answer to every call kt_client_lookup
 * makes.  The library's transport hook (client/client_int.h) answers
 * each call (GetCheckpoint and Lookup alike) with status OK and the input
 * bytes as the response message, which the library decodes as protobuf
 * (kt_proto.c) and verifies (kt_verify_head, kt_verify_lookup).
 *
 * Two clients of the fixed world of tests/support/kt_verify_input.h look
 * up alice at the fixed "now", each reset to a fixed trust state first:
 *   A  no witness policy (k = n = 0: only Lookup is called), trust state
 *      verified at size 2 (so the answer needs a consistency proof);
 *   B  strict, 2 of the 3 witnesses (GetCheckpoint is called first and
 *      gets the same bytes), empty trust state (first use).
 *
 * Properties checked for every input (a violation aborts):
 *   - no crash, no leak, no sanitizer report;
 *   - never accepts anything false: an accepted lookup is the world's real
 *     answer at a real tree size (presence, version, every device's id and
 *     both keys), and the client's trust state then is that size;
 *   - a failed lookup leaves the client's trust state byte-identical and
 *     no result; its evidence, if recorded, serialises to JSON.
 * Seeds (tests/fuzz/corpus/client_response/): real LookupResponses of the
 * world written by tests/tools/kt-gen-client-corpus.c.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "client_int.h"
#include "kt_fake_log.h"
#include "kt_verify_input.h"

#define N_CLIENTS 2

/* Test-only state, built once per process. */
static kt_fake_log *world;
static kt_client *clients[N_CLIENTS];
static kt_trust_state fixed[N_CLIENTS];
static const uint8_t *answer;      /* the current input */
static size_t answer_len;

static void must(int ok)
{
	if (!ok)
		abort();
}

static int transport(void *arg, kt_client *c, size_t endpoint,
		     const char *target, const char *method, const uint8_t *req,
		     size_t req_len, kt_call_result *res)
{
	(void)arg;
	(void)c;
	(void)endpoint;
	(void)target;
	(void)method;
	(void)req;
	(void)req_len;
	res->status = 0;
	if (answer_len == 0)
		return KT_OK;
	res->body = malloc(answer_len);
	if (res->body == NULL)
		return KT_ERR_NOMEM;
	memcpy(res->body, answer, answer_len);
	res->body_len = answer_len;
	return KT_OK;
}

static uint64_t fixed_clock(void *arg)
{
	(void)arg;
	return KT_VI_NOW;
}

static kt_client *open_client(unsigned k)
{
	kt_client_config *cfg = NULL;
	kt_client *c = NULL;
	char *vk = NULL, hex[2 * KT_VRF_PUBLICKEY_BYTES + 1];
	size_t vk_len = 0;
	unsigned i;

	must(kt_client_config_new(&cfg) == KT_OK);
	must(kt_note_verifier_format(&kt_fake_log_signer(world)->pub, &vk,
				     &vk_len) == KT_OK);
	must(kt_client_config_set_log_key(cfg, vk) == KT_OK);
	free(vk);
	sodium_bin2hex(hex, sizeof(hex), kt_fake_log_vrf_pk(world),
		       KT_VRF_PUBLICKEY_BYTES);
	must(kt_client_config_set_vrf_key(cfg, hex) == KT_OK);
	must(kt_client_config_add_endpoint(cfg, "fuzz:1") == KT_OK);
	for (i = 0; k > 0 && i < KT_FAKE_WITNESSES; i++) {
		must(kt_note_verifier_format(&kt_fake_log_witness(world, i)->pub,
					     &vk, &vk_len) == KT_OK);
		must(kt_client_config_add_witness(cfg, vk) == KT_OK);
		free(vk);
	}
	if (k > 0)
		must(kt_client_config_set_witness_threshold(cfg, k) == KT_OK);
	kt_client_config_set_transport(cfg, transport, NULL);
	kt_client_config_set_clock(cfg, fixed_clock, NULL);
	must(kt_client_open(cfg, &c, NULL, 0) == KT_OK);
	kt_client_config_free(cfg);
	return c;
}

/* The trust state of a real first-use verification at size (from the
 * world), for client c's configuration. */
static void real_state(const kt_client *c, uint64_t size, kt_trust_state *out)
{
	kt_bytes inc[KT_LOG_MAX_PROOF_HASHES];
	kt_trust_state empty;
	kt_verified_head h;
	kt_fake_head fh;
	kt_read_head rh;

	must(kt_fake_log_head(world, size, 0, 0x7, &fh) == KT_OK);
	kt_log_hashes_as_bytes(inc, (const uint8_t (*)[KT_HASH_BYTES])fh.inclusion,
			       fh.n_inclusion);
	memset(&rh, 0, sizeof(rh));
	rh.checkpoint.p = fh.checkpoint;
	rh.checkpoint.len = fh.checkpoint_len;
	rh.tree_size = size;
	rh.last_entry.p = fh.last_entry;
	rh.last_entry.len = fh.last_entry_len;
	rh.last_entry_inclusion = inc;
	rh.n_last_entry_inclusion = fh.n_inclusion;
	kt_trust_state_init(&empty);
	must(kt_verify_head(&c->cfg.trust, &empty, KT_VI_NOW, &rh, &h, out,
			    NULL) == KT_OK);
	kt_verified_head_free(&h);
	kt_fake_head_free(&fh);
}

static void setup(void)
{
	if (world != NULL)
		return;
	must(sodium_init() >= 0);
	must(kt_vi_world(&world) == KT_OK);
	clients[0] = open_client(0);
	clients[1] = open_client(2);
	real_state(clients[0], 2, &fixed[0]);
	kt_trust_state_init(&fixed[1]);
}

/* An accepted lookup must be the world's real answer at its size. */
static void check_real(const kt_client *c, const kt_lookup *l)
{
	uint64_t size = kt_lookup_tree_size(l);
	kt_account_value v;
	kt_device_info d;
	kt_fake_lookup real;
	kt_map_leaf leaf;
	size_t i;

	must(size >= 1 && size <= kt_fake_log_size(world));
	must(c->st.trust.verified.size == size);
	must(kt_fake_log_lookup(world, size, KT_VI_ACCOUNT_ALICE, &real) == KT_OK);
	must(kt_lookup_present(l) == real.present);
	if (!real.present) {
		must(kt_lookup_version(l) == 0 && kt_lookup_device_count(l) == 0);
		kt_fake_lookup_free(&real);
		return;
	}
	must(kt_map_leaf_decode(&leaf, real.leaf, sizeof(real.leaf)) == KT_OK);
	must(kt_lookup_version(l) == leaf.version);
	must(kt_account_value_decode(&v, real.value, real.value_len) == KT_OK);
	must(kt_lookup_device_count(l) == v.count);
	for (i = 0; i < v.count; i++) {
		must(kt_lookup_device(l, i, &d) == KT_OK);
		must(d.id_len == v.devices[i].id_len &&
		     memcmp(d.id, v.devices[i].id, d.id_len) == 0);
		must(memcmp(d.sign_pk, v.devices[i].sign_pk.pk, 32) == 0);
		must(memcmp(d.enc_pk, v.devices[i].enc_pk.pk, 32) == 0);
	}
	kt_account_value_free(&v);
	kt_fake_lookup_free(&real);
}

static void run(size_t i)
{
	kt_client *c = clients[i];
	kt_lookup *l = NULL;
	uint8_t *before, *after;
	size_t before_len, after_len;
	char *json = NULL;
	int r;

	kt_trust_state_free(&c->st.trust);
	must(kt_trust_state_copy(&c->st.trust, &fixed[i]) == KT_OK);
	must(kt_trust_state_encode(&c->st.trust, &before, &before_len) == KT_OK);
	r = kt_client_lookup(c, (const uint8_t *)KT_VI_ACCOUNT_ALICE,
			     strlen(KT_VI_ACCOUNT_ALICE), &l);
	if (r == KT_OK) {
		must(l != NULL);
		check_real(c, l);
	} else {
		must(l == NULL);
		must(kt_trust_state_encode(&c->st.trust, &after, &after_len) ==
		     KT_OK);
		must(after_len == before_len &&
		     memcmp(after, before, before_len) == 0);
		free(after);
		r = kt_client_evidence_json(c, &json);
		must(r == KT_OK || r == KT_ERR_NOT_FOUND || r == KT_ERR_NOMEM);
		free(json);
	}
	kt_lookup_free(l);
	free(before);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t i;

	setup();
	answer = data;
	answer_len = size;
	for (i = 0; i < N_CLIENTS; i++)
		run(i);
	return 0;
}
