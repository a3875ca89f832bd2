/*
 * fuzz_verify.c — libFuzzer target for the client's verification core
 * (client/kt_verify.h): arbitrary bytes split into the fields of a Lookup
 * response (framing: tests/support/kt_verify_input.h) and fed to kt_verify_head and
 * kt_verify_lookup against a fixed configuration, plus
 * kt_trust_state_decode over the raw input.
 *
 * Properties checked for every input (a violation aborts):
 *   - no crash, no leak, no sanitizer report;
 *   - never accepts anything false: an accepted head is one of the log's
 *     real tree heads (size <= 5, its real root, its real last entry); an
 *     accepted lookup gives exactly the account's real value and
 *     provenance bytes (or a real absence), and every device key is valid;
 *   - a failure always names a check and its evidence serialises to JSON;
 *     a failure leaves no new trust state and no head.
 * Seeds (tests/fuzz/corpus/verify/) are real responses written by
 * tests/tools/kt-gen-verify-corpus.c.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "kt_checkpoint.h"
#include "kt_fake_log.h"
#include "kt_verify.h"
#include "kt_verify_input.h"

#define MAX_LIST 80

/* Test-only state, built once per process. */
static kt_fake_log *world;
static kt_trust_config strict_cfg, lag_cfg;
static kt_trust_state empty_state, state2;
static kt_verified_head head5;
static uint8_t roots[6][KT_HASH_BYTES];
static kt_fake_head real_heads[6];

static void must(int ok)
{
	if (!ok)
		abort();
}

static void make_config(kt_trust_config *cfg, int mode)
{
	unsigned i;

	kt_trust_config_init(cfg);
	must(kt_trust_config_set_origin(cfg, KT_FAKE_ORIGIN,
					strlen(KT_FAKE_ORIGIN)) == KT_OK);
	cfg->log_key = kt_fake_log_signer(world)->pub;
	memcpy(cfg->vrf_pk, kt_fake_log_vrf_pk(world), KT_VRF_PUBLICKEY_BYTES);
	for (i = 0; i < KT_FAKE_WITNESSES; i++)
		cfg->witnesses[i] = kt_fake_log_witness(world, i)->pub;
	cfg->n_witnesses = KT_FAKE_WITNESSES;
	cfg->witness_threshold = 2;
	cfg->mode = mode;
	must(kt_trust_config_check(cfg) == KT_OK);
}

/* A verified head of the world at size (first use), and its state. */
static void real_head(uint64_t size, kt_verified_head *h, kt_trust_state *st)
{
	kt_bytes inc[KT_LOG_MAX_PROOF_HASHES];
	kt_fake_head *fh = &real_heads[size];
	kt_read_head rh;

	kt_log_hashes_as_bytes(inc, (const uint8_t (*)[KT_HASH_BYTES])fh->inclusion,
			       fh->n_inclusion);
	memset(&rh, 0, sizeof(rh));
	rh.checkpoint.p = fh->checkpoint;
	rh.checkpoint.len = fh->checkpoint_len;
	rh.tree_size = size;
	rh.last_entry.p = fh->last_entry;
	rh.last_entry.len = fh->last_entry_len;
	rh.last_entry_inclusion = inc;
	rh.n_last_entry_inclusion = fh->n_inclusion;
	must(kt_verify_head(&strict_cfg, &empty_state, KT_VI_NOW, &rh, h, st,
			    NULL) == KT_OK);
}

static void setup(void)
{
	kt_verified_head h2;
	kt_trust_state st5;
	kt_checkpoint cp;
	kt_bytes text;
	kt_note_sigstatus ss;
	uint64_t s;

	must(sodium_init() >= 0);
	must(kt_vi_world(&world) == KT_OK);
	make_config(&strict_cfg, KT_TRUST_STRICT);
	make_config(&lag_cfg, KT_TRUST_BOUNDED_LAG);
	kt_trust_state_init(&empty_state);
	for (s = 1; s <= 5; s++) {
		must(kt_fake_log_head(world, s, 0, 3, &real_heads[s]) == KT_OK);
		must(kt_note_open(real_heads[s].checkpoint,
				  real_heads[s].checkpoint_len,
				  &strict_cfg.log_key, 1, &text, &ss) == KT_OK);
		must(kt_checkpoint_parse(&cp, text.p, text.len) == KT_OK);
		memcpy(roots[s], cp.root, KT_HASH_BYTES);
	}
	real_head(2, &h2, &state2);
	kt_verified_head_free(&h2);
	real_head(5, &head5, &st5);
	kt_trust_state_free(&st5);
}

/* Splits bytes into 32-byte elements. */
static size_t split_list(const uint8_t *p, size_t len, kt_bytes *out)
{
	size_t n = 0;

	while (len > 0 && n < MAX_LIST) {
		out[n].p = p;
		out[n].len = len < KT_HASH_BYTES ? len : KT_HASH_BYTES;
		p += out[n].len;
		len -= out[n].len;
		n++;
	}
	return n;
}

static uint64_t load_u64(const uint8_t *p, size_t len)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < len && i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

static void check_evidence(const kt_evidence *ev, int r)
{
	char *js;

	must(ev->code == r && ev->check != NULL);
	must(kt_evidence_write_json(ev, &js) == KT_OK);
	free(js);
}

static void fuzz_head(const uint8_t *const p[KT_VI_FIELDS],
		      const size_t len[KT_VI_FIELDS])
{
	kt_bytes cons[MAX_LIST], inc[MAX_LIST];
	const kt_trust_config *cfg;
	const kt_trust_state *st;
	kt_verified_head h;
	kt_trust_state ns;
	kt_read_head rh;
	kt_evidence ev;
	uint64_t now;
	uint8_t flags = len[KT_VI_FLAGS] > 0 ? p[KT_VI_FLAGS][0] : 0;
	int r;

	cfg = (flags & 2) ? &lag_cfg : &strict_cfg;
	st = (flags & 1) ? &state2 : &empty_state;
	now = load_u64(p[KT_VI_NOW_MS], len[KT_VI_NOW_MS]);
	if (now == 0)
		now = KT_VI_NOW;
	memset(&rh, 0, sizeof(rh));
	rh.checkpoint.p = p[KT_VI_CHECKPOINT];
	rh.checkpoint.len = len[KT_VI_CHECKPOINT];
	rh.tree_size = load_u64(p[KT_VI_TREE_SIZE], len[KT_VI_TREE_SIZE]);
	rh.n_consistency = split_list(p[KT_VI_CONSISTENCY],
				      len[KT_VI_CONSISTENCY], cons);
	rh.consistency = cons;
	rh.last_entry.p = p[KT_VI_LAST_ENTRY];
	rh.last_entry.len = len[KT_VI_LAST_ENTRY];
	rh.n_last_entry_inclusion = split_list(p[KT_VI_INCLUSION],
					       len[KT_VI_INCLUSION], inc);
	rh.last_entry_inclusion = inc;
	kt_evidence_init(&ev);
	r = kt_verify_head(cfg, st, now, &rh, &h, &ns, &ev);
	if (r == KT_OK) {
		/* Only a real tree head of the world is ever accepted. */
		must(h.size >= 1 && h.size <= 5);
		must(memcmp(h.root, roots[h.size], KT_HASH_BYTES) == 0);
		must(rh.last_entry.len == real_heads[h.size].last_entry_len &&
		     memcmp(rh.last_entry.p, real_heads[h.size].last_entry,
			    rh.last_entry.len) == 0);
		must(ns.verified.size == h.size && h.size >= st->verified.size);
		must(ev.code == KT_OK);
		kt_verified_head_free(&h);
		kt_trust_state_free(&ns);
	} else {
		must(h.size == 0 && h.note == NULL && ns.verified.size == 0 &&
		     ns.verified.note == NULL && ns.cosigned.note == NULL);
		check_evidence(&ev, r);
	}
	kt_evidence_free(&ev);
}

/* An accepted lookup must be the world's real answer for the account. */
static void check_real(const uint8_t *account, size_t account_len,
		       const kt_lookup_response *resp,
		       const kt_lookup_result *res)
{
	char name[KT_ACCOUNT_MAX + 1];
	kt_fake_lookup real;

	must(account_len <= KT_ACCOUNT_MAX);
	memcpy(name, account, account_len);
	name[account_len] = '\0';
	must(strlen(name) == account_len);
	must(kt_fake_log_lookup(world, 5, name, &real) == KT_OK);
	must(real.present == res->leaf.present);
	if (real.present) {
		must(resp->value.len == real.value_len &&
		     memcmp(resp->value.p, real.value, real.value_len) == 0);
		must(resp->provenance.len == real.provenance_len &&
		     memcmp(resp->provenance.p, real.provenance,
			    real.provenance_len) == 0);
		must(kt_account_value_validate(&res->value) == KT_OK);
	}
	kt_fake_lookup_free(&real);
}

static void fuzz_lookup(const uint8_t *const p[KT_VI_FIELDS],
			const size_t len[KT_VI_FIELDS])
{
	kt_lookup_response resp;
	kt_lookup_result res;
	kt_evidence ev;
	static const uint8_t empty[1];
	const uint8_t *account = p[KT_VI_ACCOUNT] != NULL ? p[KT_VI_ACCOUNT] :
							  empty;
	int r;

	memset(&resp, 0, sizeof(resp));
	resp.vrf_proof.p = p[KT_VI_VRF_PROOF];
	resp.vrf_proof.len = len[KT_VI_VRF_PROOF];
	resp.map_proof.p = p[KT_VI_MAP_PROOF];
	resp.map_proof.len = len[KT_VI_MAP_PROOF];
	resp.leaf.p = p[KT_VI_LEAF];
	resp.leaf.len = len[KT_VI_LEAF];
	resp.value.p = p[KT_VI_VALUE];
	resp.value.len = len[KT_VI_VALUE];
	resp.provenance.p = p[KT_VI_PROVENANCE];
	resp.provenance.len = len[KT_VI_PROVENANCE];
	resp.opening.p = p[KT_VI_OPENING];
	resp.opening.len = len[KT_VI_OPENING];
	kt_evidence_init(&ev);
	r = kt_verify_lookup(&strict_cfg, &head5, account, len[KT_VI_ACCOUNT],
			     &resp, &res, &ev);
	if (r == KT_OK) {
		check_real(account, len[KT_VI_ACCOUNT], &resp, &res);
		kt_lookup_result_free(&res);
	} else {
		must(res.value.devices == NULL && res.leaf.present == 0);
		check_evidence(&ev, r);
	}
	kt_evidence_free(&ev);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p[KT_VI_FIELDS];
	size_t len[KT_VI_FIELDS];
	kt_trust_state st;

	if (world == NULL)
		setup();
	kt_vi_split(data, size, p, len);
	fuzz_head(p, len);
	fuzz_lookup(p, len);
	/* The raw input as a trust state file. */
	if (kt_trust_state_decode(&st, &lag_cfg, data, size) == KT_OK)
		kt_trust_state_free(&st);
	return 0;
}
