/*
 * test_verify.c — the client's verification core (client/kt_verify.h)
 * against a real log + map built by tests/support/kt_fake_log.c.
 *
 * Happy paths for heads (first use, advance, same checkpoint, bounded lag),
 * lookups (present, absent, at an older head), histories (whole, from a
 * checked version, partial page, unknown previous value, flags), the trust
 * state encoding; then the tampering matrix: every proof element with a
 * flipped bit, wrong VRF proof, wrong opening, changed value / provenance,
 * forged signature, other origin, rollback, fork, inconsistency, missing
 * cosignatures, stale / future / backwards time, version gaps, an altered
 * history chain, an unauthorised transition, a bad provenance signature.
 * Each failure must give its distinct code, evidence whose JSON parses and
 * names the check, and no new trust state.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "kt_checkpoint.h"
#include "kt_commit.h"
#include "kt_fake_log.h"
#include "kt_json.h"
#include "kt_verify.h"

#define T0 UINT64_C(1767225600000) /* 2026-01-01T00:00:00Z */
#define ALICE "tel:+15551234567"
#define BOB "mailto:bob@example.com"
#define CAROL "mailto:carol@example.com"
#define ALL_WITNESSES 7u

enum { PHONE = 0, LAPTOP = 1, TABLET = 2, ESCROW = 5 };

/* ---- building the logs ------------------------------------------------ */

static void tick(kt_fake_log *fl, uint64_t *t)
{
	*t += 1000;
	kt_fake_log_set_time(fl, *t);
}

/* Log A, 8 entries (entry i at T0 + 1000 i):
 *   0 heartbeat, 1 alice enrols phone (registrar), 2 phone adds laptop,
 *   3 heartbeat, 4 operator adds escrow, 5 bob enrols phone (or, for log B,
 *   carol enrols tablet), 6 phone removes laptop, 7 heartbeat. */
static kt_fake_log *build_log(int variant_b)
{
	kt_fake_log *fl;
	uint64_t t = T0;

	assert_int_equal(kt_fake_log_new(&fl, t), KT_OK);
	assert_int_equal(kt_fake_log_heartbeat(fl), KT_OK);
	tick(fl, &t);
	assert_int_equal(kt_fake_log_enrol(fl, ALICE, PHONE), KT_OK);
	tick(fl, &t);
	assert_int_equal(kt_fake_log_add(fl, ALICE, PHONE, LAPTOP), KT_OK);
	tick(fl, &t);
	assert_int_equal(kt_fake_log_heartbeat(fl), KT_OK);
	tick(fl, &t);
	assert_int_equal(kt_fake_log_operator_add(fl, ALICE, ESCROW,
						  "lawful intercept order 17"),
			 KT_OK);
	tick(fl, &t);
	if (variant_b)
		assert_int_equal(kt_fake_log_enrol(fl, CAROL, TABLET), KT_OK);
	else
		assert_int_equal(kt_fake_log_enrol(fl, BOB, PHONE), KT_OK);
	tick(fl, &t);
	assert_int_equal(kt_fake_log_remove(fl, ALICE, PHONE, LAPTOP), KT_OK);
	tick(fl, &t);
	assert_int_equal(kt_fake_log_heartbeat(fl), KT_OK);
	assert_int_equal(kt_fake_log_size(fl), 8);
	return fl;
}

/* Now: one second after entry 7. */
#define NOW8 (T0 + 8000)

static void make_config(const kt_fake_log *fl, kt_trust_config *cfg, int mode,
			size_t k)
{
	unsigned i;

	kt_trust_config_init(cfg);
	assert_int_equal(kt_trust_config_set_origin(cfg, KT_FAKE_ORIGIN,
						    strlen(KT_FAKE_ORIGIN)),
			 KT_OK);
	cfg->log_key = kt_fake_log_signer(fl)->pub;
	assert_int_equal(kt_trust_config_set_vrf_key(cfg, kt_fake_log_vrf_pk(fl)),
			 KT_OK);
	for (i = 0; i < KT_FAKE_WITNESSES; i++)
		cfg->witnesses[i] = kt_fake_log_witness(fl, i)->pub;
	cfg->n_witnesses = KT_FAKE_WITNESSES;
	cfg->witness_threshold = k;
	cfg->mode = mode;
	assert_int_equal(kt_trust_config_check(cfg), KT_OK);
}

/* A ReadHead as kt_bytes views (points into itself: never copy). */
typedef struct rhv {
	kt_fake_head fh;
	kt_bytes cons[KT_LOG_MAX_PROOF_HASHES + 1];
	kt_bytes inc[KT_LOG_MAX_PROOF_HASHES + 1];
	kt_read_head rh;
} rhv;

static void rhv_views(rhv *v)
{
	kt_log_hashes_as_bytes(v->cons, (const uint8_t (*)[KT_HASH_BYTES])v->fh.consistency,
			       v->fh.n_consistency);
	kt_log_hashes_as_bytes(v->inc, (const uint8_t (*)[KT_HASH_BYTES])v->fh.inclusion,
			       v->fh.n_inclusion);
	memset(&v->rh, 0, sizeof(v->rh));
	v->rh.checkpoint.p = v->fh.checkpoint;
	v->rh.checkpoint.len = v->fh.checkpoint_len;
	v->rh.tree_size = v->fh.tree_size;
	v->rh.consistency = v->cons;
	v->rh.n_consistency = v->fh.n_consistency;
	v->rh.last_entry.p = v->fh.last_entry;
	v->rh.last_entry.len = v->fh.last_entry_len;
	v->rh.last_entry_inclusion = v->inc;
	v->rh.n_last_entry_inclusion = v->fh.n_inclusion;
}

static void rhv_build(rhv *v, const kt_fake_log *fl, uint64_t size,
		      uint64_t from, unsigned mask)
{
	assert_int_equal(kt_fake_log_head(fl, size, from, mask, &v->fh), KT_OK);
	rhv_views(v);
}

static void rhv_free(rhv *v)
{
	kt_fake_head_free(&v->fh);
}

/* Replaces the checkpoint note of v (takes ownership of note). */
static void rhv_set_note(rhv *v, uint8_t *note, size_t len)
{
	free(v->fh.checkpoint);
	v->fh.checkpoint = note;
	v->fh.checkpoint_len = len;
	rhv_views(v);
}

/* ---- evidence checks -------------------------------------------------- */

static const char *json_text(const kt_json *j, const char *key)
{
	const kt_json *m = kt_json_get(j, key);

	assert_non_null(m);
	assert_int_equal(m->type, KT_JSON_STRING);
	return m->text;
}

/* The evidence says code and check, and its JSON parses back to it. */
static kt_json *check_evidence(const kt_evidence *ev, int code,
			       const char *check)
{
	kt_json *j;
	char *js;

	assert_int_equal(ev->code, code);
	if (check != NULL)
		assert_string_equal(ev->check, check);
	assert_int_equal(kt_evidence_write_json(ev, &js), KT_OK);
	j = kt_json_parse(js, strlen(js));
	assert_non_null(j);
	assert_string_equal(json_text(j, "format"), "keytrail-evidence/v1");
	assert_string_equal(json_text(j, "error"), kt_errname(code));
	assert_string_equal(json_text(j, "check"), ev->check);
	assert_string_equal(json_text(j, "cause"), kt_errname(ev->cause));
	assert_non_null(kt_json_get(j, "code"));
	free(js);
	return j;
}

static void state_bytes(const kt_trust_state *st, uint8_t **out, size_t *len)
{
	assert_int_equal(kt_trust_state_encode(st, out, len), KT_OK);
}

/* kt_verify_head must fail with code (one of codes[] when code is 0),
 * leave no head and no new state, not touch *st, and give evidence. */
static int head_fails(const kt_trust_config *cfg, const kt_trust_state *st,
		      uint64_t now, const rhv *v, int code, const char *check)
{
	kt_verified_head h;
	kt_trust_state ns;
	kt_evidence ev;
	uint8_t *b1, *b2;
	size_t l1, l2;
	kt_json *j;
	int r;

	kt_evidence_init(&ev);
	state_bytes(st, &b1, &l1);
	r = kt_verify_head(cfg, st, now, &v->rh, &h, &ns, &ev);
	assert_int_not_equal(r, KT_OK);
	if (code != 0)
		assert_int_equal(r, code);
	assert_int_equal(h.size, 0);
	assert_null(h.note);
	assert_int_equal(ns.verified.size, 0);
	assert_null(ns.verified.note);
	assert_int_equal(ns.cosigned.size, 0);
	assert_null(ns.cosigned.note);
	state_bytes(st, &b2, &l2);
	assert_int_equal(l1, l2);
	assert_memory_equal(b1, b2, l1);
	free(b1);
	free(b2);
	j = check_evidence(&ev, r, check);
	/* The new checkpoint is always part of a head's evidence. */
	assert_non_null(kt_json_get(j, "checkpoint"));
	assert_non_null(kt_json_get(j, "tree_size"));
	kt_json_free(j);
	kt_evidence_free(&ev);
	return r;
}

static void head_ok(const kt_trust_config *cfg, const kt_trust_state *st,
		    uint64_t now, const rhv *v, kt_verified_head *h,
		    kt_trust_state *ns)
{
	kt_evidence ev;

	kt_evidence_init(&ev);
	assert_int_equal(kt_verify_head(cfg, st, now, &v->rh, h, ns, &ev), KT_OK);
	assert_int_equal(ev.code, KT_OK);
	assert_int_equal(ev.n_fields, 0);
	kt_evidence_free(&ev);
}

/* A verified head of log fl at size (first use, all witnesses). */
static void verified_head(const kt_fake_log *fl, const kt_trust_config *cfg,
			  uint64_t size, uint64_t now, kt_verified_head *h,
			  kt_trust_state *st)
{
	kt_trust_state empty;
	rhv v;

	kt_trust_state_init(&empty);
	rhv_build(&v, fl, size, 0, ALL_WITNESSES);
	head_ok(cfg, &empty, now, &v, h, st);
	rhv_free(&v);
}

/* ---- heads: happy paths ------------------------------------------------ */

static void test_head_first_use_and_advance(void **state)
{
	kt_fake_log *fl = build_log(0);
	kt_trust_config cfg;
	kt_trust_state st0, st1, st2, st3;
	kt_verified_head h;
	kt_log_entry e;
	rhv v;

	(void)state;
	make_config(fl, &cfg, KT_TRUST_STRICT, 2);
	kt_trust_state_init(&st0);

	/* First use at size 4 with 2 of 3 cosignatures. */
	rhv_build(&v, fl, 4, 0, 3);
	head_ok(&cfg, &st0, T0 + 4000, &v, &h, &st1);
	assert_int_equal(h.size, 4);
	assert_true(h.cosigned);
	assert_int_equal(h.timestamp_ms, T0 + 3000);
	assert_int_equal(kt_log_entry_decode(&e, v.fh.last_entry,
					     v.fh.last_entry_len), KT_OK);
	assert_memory_equal(h.map_root, e.map_root, KT_ROOT_BYTES);
	assert_int_equal(h.note_len, v.fh.checkpoint_len);
	assert_memory_equal(h.note, v.fh.checkpoint, h.note_len);
	assert_int_equal(st1.verified.size, 4);
	assert_int_equal(st1.cosigned.size, 4);
	assert_int_equal(st1.verified.timestamp_ms, T0 + 3000);
	kt_verified_head_free(&h);
	rhv_free(&v);

	/* Advance to 8 with the consistency proof from 4. */
	rhv_build(&v, fl, 8, 4, 6);
	assert_true(v.fh.n_consistency > 0);
	head_ok(&cfg, &st1, NOW8, &v, &h, &st2);
	assert_int_equal(h.size, 8);
	assert_int_equal(st2.verified.size, 8);
	assert_int_equal(st2.cosigned.size, 8);
	kt_verified_head_free(&h);

	/* The same checkpoint again (byte-identical: fast path); no proof
	 * between equal sizes. */
	v.rh.n_consistency = 0;
	head_ok(&cfg, &st2, NOW8 + 10, &v, &h, &st3);
	assert_int_equal(h.size, 8);
	assert_int_equal(st3.verified.size, 8);
	assert_memory_equal(st3.verified.root, st2.verified.root, 32);
	kt_verified_head_free(&h);
	kt_trust_state_free(&st3);
	rhv_free(&v);

	/* Same size, more cosignatures (not byte-identical): accepted. */
	rhv_build(&v, fl, 8, 8, ALL_WITNESSES);
	assert_int_equal(v.fh.n_consistency, 0);
	head_ok(&cfg, &st2, NOW8, &v, &h, &st3);
	assert_int_equal(st3.verified.note_len, v.fh.checkpoint_len);
	kt_verified_head_free(&h);
	kt_trust_state_free(&st3);
	rhv_free(&v);

	kt_trust_state_free(&st1);
	kt_trust_state_free(&st2);
	kt_fake_log_free(fl);
}

static void test_head_no_witness_policy(void **state)
{
	kt_fake_log *fl = build_log(0);
	kt_trust_config cfg;
	kt_trust_state st0, st1;
	kt_verified_head h;
	rhv v;

	(void)state;
	make_config(fl, &cfg, KT_TRUST_STRICT, 2);
	cfg.n_witnesses = 0;
	cfg.witness_threshold = 0;
	assert_int_equal(kt_trust_config_check(&cfg), KT_OK);
	kt_trust_state_init(&st0);
	rhv_build(&v, fl, 8, 0, 0);
	head_ok(&cfg, &st0, NOW8, &v, &h, &st1);
	assert_true(h.cosigned);
	kt_verified_head_free(&h);
	kt_trust_state_free(&st1);
	rhv_free(&v);
	kt_fake_log_free(fl);
}

static void test_head_bounded_lag(void **state)
{
	kt_fake_log *fl = build_log(0);
	kt_trust_config cfg;
	kt_trust_state st0, st1, st2, st3;
	kt_verified_head h;
	rhv v;

	(void)state;
	make_config(fl, &cfg, KT_TRUST_BOUNDED_LAG, 2);
	cfg.max_lag_ms = 60000;
	kt_trust_state_init(&st0);

	/* First use needs a cosigned checkpoint even in bounded lag. */
	rhv_build(&v, fl, 4, 0, 1);
	head_fails(&cfg, &st0, T0 + 4000, &v, KT_ERR_CLIENT_WITNESS_POLICY,
		   "witness_policy");
	rhv_free(&v);
	rhv_build(&v, fl, 4, 0, 3);
	head_ok(&cfg, &st0, T0 + 4000, &v, &h, &st1);
	kt_verified_head_free(&h);
	rhv_free(&v);

	/* An uncosigned newer checkpoint within the lag: accepted, the
	 * cosigned anchor stays at 4. */
	rhv_build(&v, fl, 8, 4, 0);
	head_ok(&cfg, &st1, NOW8, &v, &h, &st2);
	assert_false(h.cosigned);
	assert_int_equal(st2.verified.size, 8);
	assert_int_equal(st2.cosigned.size, 4);
	assert_memory_equal(st2.cosigned.root, st1.verified.root, 32);
	kt_verified_head_free(&h);

	/* The anchor (last entry at T0+3000) older than the lag: refused. */
	head_fails(&cfg, &st1, T0 + 3000 + 60001, &v, KT_ERR_CLIENT_LAG,
		   "bounded_lag");
	/* ... also from the state that already holds 8 (fast path). */
	head_fails(&cfg, &st2, T0 + 3000 + 60001, &v, KT_ERR_CLIENT_LAG,
		   "bounded_lag");
	rhv_free(&v);

	/* Once cosigned, the anchor moves. */
	rhv_build(&v, fl, 8, 8, 5);
	head_ok(&cfg, &st2, T0 + 3000 + 60001, &v, &h, &st3);
	assert_true(h.cosigned);
	assert_int_equal(st3.cosigned.size, 8);
	kt_verified_head_free(&h);
	rhv_free(&v);

	kt_trust_state_free(&st1);
	kt_trust_state_free(&st2);
	kt_trust_state_free(&st3);
	kt_fake_log_free(fl);
}

static void test_trust_state_encoding(void **state)
{
	kt_fake_log *fl = build_log(0);
	kt_trust_config cfg, lag;
	kt_trust_state st, back, st2;
	kt_verified_head h;
	uint8_t *b, *b2;
	size_t len, len2, i;
	rhv v;

	(void)state;
	make_config(fl, &cfg, KT_TRUST_STRICT, 2);
	verified_head(fl, &cfg, 8, NOW8, &h, &st);
	kt_verified_head_free(&h);
	state_bytes(&st, &b, &len);
	assert_int_equal(kt_trust_state_decode(&back, &cfg, b, len), KT_OK);
	state_bytes(&back, &b2, &len2);
	assert_int_equal(len, len2);
	assert_memory_equal(b, b2, len);
	free(b2);
	kt_trust_state_free(&back);
	/* The empty state round-trips too. */
	kt_trust_state_init(&back);
	state_bytes(&back, &b2, &len2);
	assert_int_equal(kt_trust_state_decode(&back, &cfg, b2, len2), KT_OK);
	assert_int_equal(back.verified.size, 0);
	free(b2);

	/* A flipped bit in the domain, size, root or signed note text,
	 * truncation and extension are refused.  (The timestamps and
	 * signature lines of a local state file are not authenticated.) */
	for (i = 0; i < len; i++) {
		size_t note_at = 1 + 23 + 8 + 32 + 8 + 4;

		if (i >= 64 && (i < note_at || i >= note_at + 60))
			continue;
		b[i] ^= 0x01;
		assert_int_not_equal(kt_trust_state_decode(&back, &cfg, b, len),
				     KT_OK);
		assert_int_equal(back.verified.size, 0);
		assert_null(back.verified.note);
		b[i] ^= 0x01;
	}
	assert_int_equal(kt_trust_state_decode(&back, &cfg, b, len - 1),
			 KT_ERR_CLIENT_STATE);
	b2 = malloc(len + 1);
	assert_non_null(b2);
	memcpy(b2, b, len);
	b2[len] = 0;
	assert_int_equal(kt_trust_state_decode(&back, &cfg, b2, len + 1),
			 KT_ERR_CLIENT_STATE);
	free(b2);
	free(b);

	/* A bounded-lag state (verified 8, cosigned 4) is not a strict one. */
	make_config(fl, &lag, KT_TRUST_BOUNDED_LAG, 2);
	kt_trust_state_free(&st);
	verified_head(fl, &lag, 4, T0 + 4000, &h, &st);
	kt_verified_head_free(&h);
	rhv_build(&v, fl, 8, 4, 0);
	head_ok(&lag, &st, NOW8, &v, &h, &st2);
	kt_verified_head_free(&h);
	rhv_free(&v);
	state_bytes(&st2, &b, &len);
	assert_int_equal(kt_trust_state_decode(&back, &lag, b, len), KT_OK);
	kt_trust_state_free(&back);
	assert_int_equal(kt_trust_state_decode(&back, &cfg, b, len),
			 KT_ERR_CLIENT_STATE);
	free(b);
	/* Copies are deep and equal. */
	assert_int_equal(kt_trust_state_copy(&back, &st2), KT_OK);
	assert_ptr_not_equal(back.verified.note, st2.verified.note);
	state_bytes(&back, &b2, &len2);
	state_bytes(&st2, &b, &len);
	assert_int_equal(len, len2);
	assert_memory_equal(b, b2, len);
	free(b);
	free(b2);
	/* A state that breaks its invariants is refused by the verifier. */
	back.cosigned.size = 9;
	rhv_build(&v, fl, 8, 8, ALL_WITNESSES);
	{
		kt_trust_state ns;
		kt_evidence ev;

		kt_evidence_init(&ev);
		assert_int_equal(kt_verify_head(&lag, &back, NOW8, &v.rh, &h,
						&ns, &ev),
				 KT_ERR_CLIENT_STATE);
		kt_json_free(check_evidence(&ev, KT_ERR_CLIENT_STATE,
					    "trust_state"));
		assert_int_equal(ns.verified.size, 0);
		kt_evidence_free(&ev);
	}
	back.cosigned.size = 4;
	assert_int_equal(kt_trust_state_encode(&back, &b, &len), KT_OK);
	free(b);
	back.cosigned.size = 9;
	assert_int_equal(kt_trust_state_encode(&back, &b, &len),
			 KT_ERR_INVALID_ARG);
	assert_null(b);
	back.cosigned.size = 4;
	rhv_free(&v);
	kt_trust_state_free(&back);
	kt_trust_state_free(&st);
	kt_trust_state_free(&st2);
	kt_fake_log_free(fl);
}

static void test_config_check(void **state)
{
	kt_fake_log *fl = build_log(0);
	kt_trust_config cfg, bad;
	kt_trust_state st;
	kt_verified_head h;
	kt_trust_state ns;
	kt_evidence ev;
	rhv v;

	(void)state;
	make_config(fl, &cfg, KT_TRUST_STRICT, 2);
	bad = cfg;
	bad.witness_threshold = 4;
	assert_int_equal(kt_trust_config_check(&bad), KT_ERR_CLIENT_CONFIG);
	bad = cfg;
	bad.witness_threshold = 0;
	assert_int_equal(kt_trust_config_check(&bad), KT_ERR_CLIENT_CONFIG);
	bad = cfg;
	bad.witnesses[1] = bad.witnesses[0];
	assert_int_equal(kt_trust_config_check(&bad), KT_ERR_CLIENT_CONFIG);
	bad = cfg;
	bad.witnesses[2] = cfg.log_key; /* a 0x01 key as a witness */
	assert_int_equal(kt_trust_config_check(&bad), KT_ERR_CLIENT_CONFIG);
	bad = cfg;
	bad.log_key.key_hash ^= 1;
	assert_int_equal(kt_trust_config_check(&bad), KT_ERR_CLIENT_CONFIG);
	bad = cfg;
	memset(bad.vrf_pk, 0, sizeof(bad.vrf_pk));
	assert_int_equal(kt_trust_config_check(&bad), KT_ERR_CLIENT_CONFIG);
	bad = cfg;
	bad.mode = 3;
	assert_int_equal(kt_trust_config_check(&bad), KT_ERR_CLIENT_CONFIG);
	bad = cfg;
	bad.max_age_ms = 0;
	assert_int_equal(kt_trust_config_check(&bad), KT_ERR_CLIENT_CONFIG);
	assert_int_equal(kt_trust_config_set_origin(&bad, "a\nb", 3),
			 KT_ERR_CLIENT_CONFIG);
	assert_int_equal(kt_trust_config_set_origin(&bad, "", 0),
			 KT_ERR_CLIENT_CONFIG);

	/* Every verifier refuses a config that fails the cheap checks. */
	bad = cfg;
	bad.witness_threshold = 4;
	kt_trust_state_init(&st);
	kt_evidence_init(&ev);
	rhv_build(&v, fl, 8, 0, ALL_WITNESSES);
	assert_int_equal(kt_verify_head(&bad, &st, NOW8, &v.rh, &h, &ns, &ev),
			 KT_ERR_CLIENT_CONFIG);
	assert_string_equal(ev.check, "config");
	/* new_state must not alias state. */
	assert_int_equal(kt_verify_head(&cfg, &st, NOW8, &v.rh, &h, &st, &ev),
			 KT_ERR_INVALID_ARG);
	kt_evidence_free(&ev);
	rhv_free(&v);
	kt_fake_log_free(fl);
}

/* ---- heads: tampering --------------------------------------------------- */

static int in_set(int r, const int *set, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (set[i] == r)
			return 1;
	return 0;
}

static void test_head_tamper_bits(void **state)
{
	static const int note_codes[] = {KT_ERR_CLIENT_CHECKPOINT_SIG,
					 KT_ERR_CLIENT_WITNESS_POLICY};
	static const int entry_codes[] = {KT_ERR_CLIENT_ENTRY_MALFORMED,
					  KT_ERR_CLIENT_ENTRY_INCLUSION};
	kt_fake_log *fl = build_log(0);
	kt_trust_config cfg;
	kt_trust_state st;
	kt_verified_head h;
	size_t i;
	int r;
	rhv v;

	(void)state;
	make_config(fl, &cfg, KT_TRUST_STRICT, 2);
	verified_head(fl, &cfg, 4, T0 + 4000, &h, &st);
	kt_verified_head_free(&h);
	/* Exactly two cosignatures: any damaged one breaks the policy. */
	rhv_build(&v, fl, 8, 4, 3);

	for (i = 0; i < v.fh.checkpoint_len; i++) {
		v.fh.checkpoint[i] ^= 0x01;
		r = head_fails(&cfg, &st, NOW8, &v, 0, NULL);
		assert_true(in_set(r, note_codes, 2));
		v.fh.checkpoint[i] ^= 0x01;
	}
	for (i = 0; i < v.fh.n_consistency; i++) {
		v.fh.consistency[i][(i * 7) % 32] ^= 0x80;
		head_fails(&cfg, &st, NOW8, &v, KT_ERR_CLIENT_INCONSISTENT,
			   "consistency");
		v.fh.consistency[i][(i * 7) % 32] ^= 0x80;
	}
	for (i = 0; i < v.fh.n_inclusion; i++) {
		v.fh.inclusion[i][(i * 5) % 32] ^= 0x04;
		head_fails(&cfg, &st, NOW8, &v, KT_ERR_CLIENT_ENTRY_INCLUSION,
			   "last_entry_inclusion");
		v.fh.inclusion[i][(i * 5) % 32] ^= 0x04;
	}
	for (i = 0; i < v.fh.last_entry_len; i++) {
		v.fh.last_entry[i] ^= 0x10;
		r = head_fails(&cfg, &st, NOW8, &v, 0, NULL);
		assert_true(in_set(r, entry_codes, 2));
		v.fh.last_entry[i] ^= 0x10;
	}

	/* The same, against a state that holds exactly this note: the fast
	 * path must compare every byte. */
	{
		kt_trust_state st8;

		head_ok(&cfg, &st, NOW8, &v, &h, &st8);
		kt_verified_head_free(&h);
		v.rh.n_consistency = 0; /* 8 to 8 */
		for (i = 0; i < v.fh.checkpoint_len; i++) {
			v.fh.checkpoint[i] ^= 0x01;
			r = head_fails(&cfg, &st8, NOW8, &v, 0, NULL);
			assert_true(in_set(r, note_codes, 2));
			v.fh.checkpoint[i] ^= 0x01;
		}
		kt_trust_state_free(&st8);
		rhv_views(&v);
	}

	/* Truncated and extended proofs. */
	v.rh.n_consistency--;
	head_fails(&cfg, &st, NOW8, &v, KT_ERR_CLIENT_INCONSISTENT,
		   "consistency");
	v.rh.n_consistency += 2; /* one zero hash after the real ones */
	head_fails(&cfg, &st, NOW8, &v, KT_ERR_CLIENT_INCONSISTENT,
		   "consistency");
	v.rh.n_consistency--;
	v.rh.n_last_entry_inclusion--;
	head_fails(&cfg, &st, NOW8, &v, KT_ERR_CLIENT_ENTRY_INCLUSION,
		   "last_entry_inclusion");
	v.rh.n_last_entry_inclusion++;
	v.rh.last_entry.len--;
	head_fails(&cfg, &st, NOW8, &v, KT_ERR_CLIENT_ENTRY_MALFORMED,
		   "last_entry");
	v.rh.last_entry.len++;
	/* Another entry as the last one: the update at 6 (its leaf names
	 * position 6), the heartbeat at 3 (not at position 7). */
	{
		rhv o;
		uint8_t keep[KT_LOG_ENTRY_MAX_BYTES];
		size_t keep_len = v.fh.last_entry_len;

		memcpy(keep, v.fh.last_entry, keep_len);
		rhv_build(&o, fl, 7, 0, 0);
		memcpy(v.fh.last_entry, o.fh.last_entry, o.fh.last_entry_len);
		v.rh.last_entry.len = o.fh.last_entry_len;
		head_fails(&cfg, &st, NOW8, &v, KT_ERR_CLIENT_ENTRY_MALFORMED,
			   "last_entry");
		rhv_free(&o);
		rhv_build(&o, fl, 4, 0, 0);
		memcpy(v.fh.last_entry, o.fh.last_entry, o.fh.last_entry_len);
		v.rh.last_entry.len = o.fh.last_entry_len;
		head_fails(&cfg, &st, NOW8, &v, KT_ERR_CLIENT_ENTRY_INCLUSION,
			   "last_entry_inclusion");
		rhv_free(&o);
		memcpy(v.fh.last_entry, keep, keep_len);
		v.rh.last_entry.len = keep_len;
	}
	v.rh.tree_size = 9;
	head_fails(&cfg, &st, NOW8, &v, KT_ERR_CLIENT_SIZE_MISMATCH,
		   "checkpoint_size");
	v.rh.tree_size = 8;
	/* A proof given on first use. */
	kt_trust_state_free(&st);
	head_fails(&cfg, &st, NOW8, &v, KT_ERR_CLIENT_INCONSISTENT,
		   "consistency");
	rhv_free(&v);
	kt_fake_log_free(fl);
}

static void test_head_forged_and_origin(void **state)
{
	kt_fake_log *fl = build_log(0);
	kt_trust_config cfg;
	kt_trust_state st;
	kt_note_signer other;
	kt_checkpoint cp;
	uint8_t seed[32], *body, *note;
	size_t body_len, note_len;
	kt_bytes text;
	kt_note_sigstatus ss;
	rhv v;

	(void)state;
	make_config(fl, &cfg, KT_TRUST_STRICT, 2);
	kt_trust_state_init(&st);
	rhv_build(&v, fl, 8, 0, ALL_WITNESSES);

	/* The same body signed by another key with the log's name. */
	assert_int_equal(kt_note_open(v.fh.checkpoint, v.fh.checkpoint_len,
				      &cfg.log_key, 1, &text, &ss), KT_OK);
	memset(seed, 0x99, sizeof(seed));
	assert_int_equal(kt_note_signer_from_seed(&other, KT_FAKE_ORIGIN,
						  strlen(KT_FAKE_ORIGIN),
						  KT_NOTE_KEY_ED25519, seed),
			 KT_OK);
	assert_int_equal(kt_note_sign(&other, 0, text.p, text.len, &note,
				      &note_len), KT_OK);
	kt_note_signer_wipe(&other);
	rhv_set_note(&v, note, note_len);
	head_fails(&cfg, &st, NOW8, &v, KT_ERR_CLIENT_CHECKPOINT_SIG,
		   "checkpoint_signature");

	/* A checkpoint of another origin, signed by the log key. */
	assert_int_equal(kt_fake_log_checkpoint(fl, 8, 0, 0, &note, &note_len),
			 KT_OK);
	assert_int_equal(kt_note_open(note, note_len, &cfg.log_key, 1, &text,
				      &ss), KT_OK);
	assert_int_equal(kt_checkpoint_parse(&cp, text.p, text.len), KT_OK);
	cp.origin.p = (const uint8_t *)"other.example/log";
	cp.origin.len = strlen("other.example/log");
	assert_int_equal(kt_checkpoint_format(&cp, &body, &body_len), KT_OK);
	free(note);
	assert_int_equal(kt_note_sign(kt_fake_log_signer(fl), 0, body, body_len,
				      &note, &note_len), KT_OK);
	free(body);
	rhv_set_note(&v, note, note_len);
	head_fails(&cfg, &st, NOW8, &v, KT_ERR_CLIENT_CHECKPOINT_ORIGIN,
		   "checkpoint_origin");

	/* Over the client's note cap: a long unknown signature line. */
	assert_int_equal(kt_fake_log_checkpoint(fl, 8, ALL_WITNESSES, 0, &note,
						&note_len), KT_OK);
	{
		size_t extra = KT_VERIFY_MAX_NOTE_BYTES;
		uint8_t *big = realloc(note, note_len + extra + 16);

		assert_non_null(big);
		memcpy(big + note_len, "\xe2\x80\x94 x ", 6);
		memset(big + note_len + 6, 'A', extra);
		memcpy(big + note_len + 6 + extra, "AA==\n", 5);
		rhv_set_note(&v, big, note_len + extra + 11);
		head_fails(&cfg, &st, NOW8, &v, KT_ERR_CLIENT_CHECKPOINT_SIG,
			   "checkpoint_signature");
	}

	/* Not a note at all; empty. */
	note = malloc(8);
	assert_non_null(note);
	memcpy(note, "garbage\n", 8);
	rhv_set_note(&v, note, 8);
	head_fails(&cfg, &st, NOW8, &v, KT_ERR_CLIENT_CHECKPOINT_SIG,
		   "checkpoint_signature");
	v.rh.checkpoint.p = NULL;
	v.rh.checkpoint.len = 0;
	head_fails(&cfg, &st, NOW8, &v, KT_ERR_CLIENT_CHECKPOINT_SIG,
		   "checkpoint_signature");

	/* An empty log: size 0 is never usable. */
	assert_int_equal(kt_fake_log_checkpoint(fl, 0, ALL_WITNESSES,
						NOW8 / 1000, &note, &note_len),
			 KT_OK);
	rhv_set_note(&v, note, note_len);
	v.rh.tree_size = 0;
	head_fails(&cfg, &st, NOW8, &v, KT_ERR_CLIENT_EMPTY_LOG, "empty_log");
	rhv_free(&v);
	kt_fake_log_free(fl);
}

static void test_head_rollback_fork_inconsistent(void **state)
{
	kt_fake_log *a = build_log(0), *b = build_log(1);
	kt_trust_config cfg;
	kt_trust_state st8, st6;
	kt_verified_head h;
	kt_evidence ev;
	kt_trust_state ns;
	kt_json *j;
	const kt_json *tn, *cn;
	rhv v;

	(void)state;
	make_config(a, &cfg, KT_TRUST_STRICT, 2);
	verified_head(a, &cfg, 8, NOW8, &h, &st8);
	kt_verified_head_free(&h);
	verified_head(a, &cfg, 6, T0 + 6000, &h, &st6);
	kt_verified_head_free(&h);

	/* Rollback: a cosigned checkpoint older than the trusted one. */
	rhv_build(&v, a, 4, 0, ALL_WITNESSES);
	head_fails(&cfg, &st8, NOW8, &v, KT_ERR_CLIENT_ROLLBACK, "rollback");
	rhv_free(&v);

	/* Fork: log B (same keys, other entries from index 5) at size 8. */
	rhv_build(&v, b, 8, 8, ALL_WITNESSES);
	head_fails(&cfg, &st8, NOW8, &v, KT_ERR_CLIENT_FORK, "fork");
	kt_evidence_init(&ev);
	assert_int_equal(kt_verify_head(&cfg, &st8, NOW8, &v.rh, &h, &ns, &ev),
			 KT_ERR_CLIENT_FORK);
	j = check_evidence(&ev, KT_ERR_CLIENT_FORK, "fork");
	/* Both signed notes, byte for byte, as strings. */
	tn = kt_json_get(kt_json_get(j, "trusted_checkpoint"), "note");
	cn = kt_json_get(kt_json_get(j, "checkpoint"), "note");
	assert_non_null(tn);
	assert_non_null(cn);
	assert_int_equal(tn->text_len, st8.verified.note_len);
	assert_memory_equal(tn->text, st8.verified.note, tn->text_len);
	assert_int_equal(cn->text_len, v.fh.checkpoint_len);
	assert_memory_equal(cn->text, v.fh.checkpoint, cn->text_len);
	assert_int_equal(kt_json_u64(kt_json_get(kt_json_get(j, "checkpoint"),
						 "size")), 8);
	kt_json_free(j);
	kt_evidence_free(&ev);
	rhv_free(&v);

	/* Inconsistent: trusted A at 6, B's proof from 6 to 8. */
	rhv_build(&v, b, 8, 6, ALL_WITNESSES);
	head_fails(&cfg, &st6, NOW8, &v, KT_ERR_CLIENT_INCONSISTENT,
		   "consistency");
	kt_evidence_init(&ev);
	assert_int_equal(kt_verify_head(&cfg, &st6, NOW8, &v.rh, &h, &ns, &ev),
			 KT_ERR_CLIENT_INCONSISTENT);
	assert_int_equal(ev.cause, KT_ERR_LOG_ROOT_MISMATCH);
	assert_true(ev.trusted.present && ev.checkpoint.present);
	assert_int_equal(ev.trusted.size, 6);
	assert_int_equal(kt_evidence_get(&ev, "consistency")->n,
			 v.fh.n_consistency);
	assert_int_equal(kt_evidence_get(&ev, "consistency_from")->u64, 6);
	kt_evidence_free(&ev);
	rhv_free(&v);

	kt_trust_state_free(&st8);
	kt_trust_state_free(&st6);
	kt_fake_log_free(a);
	kt_fake_log_free(b);
}

static void test_head_witness_and_time(void **state)
{
	kt_fake_log *fl = build_log(0);
	kt_trust_config cfg;
	kt_trust_state st, st9;
	kt_verified_head h;
	kt_evidence ev;
	kt_trust_state ns;
	uint64_t t = NOW8;
	rhv v;

	(void)state;
	make_config(fl, &cfg, KT_TRUST_STRICT, 2);
	kt_trust_state_init(&st);

	/* STRICT k = 2: 1 of 3 cosignatures, or none, is refused. */
	rhv_build(&v, fl, 8, 0, 2);
	head_fails(&cfg, &st, NOW8, &v, KT_ERR_CLIENT_WITNESS_POLICY,
		   "witness_policy");
	kt_evidence_init(&ev);
	assert_int_equal(kt_verify_head(&cfg, &st, NOW8, &v.rh, &h, &ns, &ev),
			 KT_ERR_CLIENT_WITNESS_POLICY);
	assert_int_equal(kt_evidence_get(&ev, "cosignatures")->u64, 1);
	assert_int_equal(kt_evidence_get(&ev, "witness_threshold")->u64, 2);
	kt_evidence_free(&ev);
	rhv_free(&v);
	rhv_build(&v, fl, 8, 0, 0);
	head_fails(&cfg, &st, NOW8, &v, KT_ERR_CLIENT_WITNESS_POLICY,
		   "witness_policy");
	rhv_free(&v);

	/* Stale and future. */
	rhv_build(&v, fl, 8, 0, ALL_WITNESSES);
	head_fails(&cfg, &st, T0 + 7000 + cfg.max_age_ms + 1, &v,
		   KT_ERR_CLIENT_STALE, "max_age");
	head_fails(&cfg, &st, T0 + 7000 - cfg.max_skew_ms - 1, &v,
		   KT_ERR_CLIENT_FUTURE, "future");
	/* The edges are accepted. */
	head_ok(&cfg, &st, T0 + 7000 + cfg.max_age_ms, &v, &h, &ns);
	kt_verified_head_free(&h);
	kt_trust_state_free(&ns);
	head_ok(&cfg, &st, T0 + 7000 - cfg.max_skew_ms, &v, &h, &st9);
	kt_verified_head_free(&h);
	kt_trust_state_free(&st9);
	head_ok(&cfg, &st, NOW8, &v, &h, &st9);
	kt_verified_head_free(&h);
	kt_trust_state_free(&st);
	st = st9;
	rhv_free(&v);

	/* Time going backwards: entry 8 older than entry 7. */
	kt_fake_log_set_time(fl, t - 5000);
	assert_int_equal(kt_fake_log_heartbeat(fl), KT_OK);
	rhv_build(&v, fl, 9, 8, ALL_WITNESSES);
	head_fails(&cfg, &st, NOW8, &v, KT_ERR_CLIENT_TIME_ORDER, "time_order");
	rhv_free(&v);
	kt_trust_state_free(&st);
	kt_fake_log_free(fl);
}

/* ---- lookups ------------------------------------------------------------ */

static void lk_view(kt_fake_lookup *l, kt_lookup_response *r)
{
	memset(r, 0, sizeof(*r));
	r->vrf_proof.p = l->vrf_proof;
	r->vrf_proof.len = sizeof(l->vrf_proof);
	r->map_proof.p = l->map_proof;
	r->map_proof.len = l->map_proof_len;
	if (!l->present)
		return;
	r->leaf.p = l->leaf;
	r->leaf.len = sizeof(l->leaf);
	r->value.p = l->value;
	r->value.len = l->value_len;
	r->provenance.p = l->provenance;
	r->provenance.len = l->provenance_len;
	r->opening.p = l->opening;
	r->opening.len = sizeof(l->opening);
}

static int lookup(const kt_trust_config *cfg, const kt_verified_head *h,
		  const char *account, const kt_lookup_response *resp,
		  kt_lookup_result *res, kt_evidence *ev)
{
	return kt_verify_lookup(cfg, h, (const uint8_t *)account,
				strlen(account), resp, res, ev);
}

/* The lookup must fail (with code unless 0), leave an empty result and
 * give evidence; returns the code. */
static int lookup_fails(const kt_trust_config *cfg, const kt_verified_head *h,
			const char *account, const kt_lookup_response *resp,
			int code, const char *check)
{
	kt_lookup_result res;
	kt_evidence ev;
	kt_json *j;
	int r;

	kt_evidence_init(&ev);
	r = lookup(cfg, h, account, resp, &res, &ev);
	assert_int_not_equal(r, KT_OK);
	if (code != 0)
		assert_int_equal(r, code);
	assert_int_equal(res.value.count, 0);
	assert_null(res.value.devices);
	assert_int_equal(res.leaf.present, 0);
	j = check_evidence(&ev, r, check);
	assert_non_null(kt_json_get(j, "vrf_proof"));
	assert_non_null(kt_json_get(j, "account"));
	kt_json_free(j);
	kt_evidence_free(&ev);
	return r;
}

static int has_device(const kt_account_value *v, const char *id)
{
	return kt_account_value_find(v, (const uint8_t *)id, strlen(id)) != NULL;
}

static void test_lookup_present_absent(void **state)
{
	kt_fake_log *fl = build_log(0);
	kt_trust_config cfg;
	kt_trust_state st;
	kt_verified_head h8, h4;
	kt_fake_lookup l;
	kt_lookup_response resp;
	kt_lookup_result res;
	kt_evidence ev;

	(void)state;
	make_config(fl, &cfg, KT_TRUST_STRICT, 2);
	verified_head(fl, &cfg, 8, NOW8, &h8, &st);
	kt_trust_state_free(&st);
	kt_evidence_init(&ev);

	assert_int_equal(kt_fake_log_lookup(fl, 8, ALICE, &l), KT_OK);
	lk_view(&l, &resp);
	assert_int_equal(lookup(&cfg, &h8, ALICE, &resp, &res, &ev), KT_OK);
	assert_int_equal(ev.code, KT_OK);
	assert_true(res.leaf.present);
	assert_int_equal(res.leaf.leaf.version, 4);
	assert_int_equal(res.leaf.leaf.log_index, 6);
	assert_int_equal(res.leaf.head_size, 8);
	assert_int_equal(res.value.count, 2);
	assert_true(has_device(&res.value, "escrow"));
	assert_true(has_device(&res.value, "phone"));
	assert_false(has_device(&res.value, "laptop"));
	assert_int_equal(res.provenance.type, KT_PROV_DEVICE);
	assert_int_equal(res.provenance.op.op, KT_OP_REMOVE_DEVICE);
	kt_lookup_result_free(&res);
	kt_fake_lookup_free(&l);

	/* The map is versioned: at size 4 alice has phone and laptop. */
	verified_head(fl, &cfg, 4, T0 + 4000, &h4, &st);
	kt_trust_state_free(&st);
	assert_int_equal(kt_fake_log_lookup(fl, 4, ALICE, &l), KT_OK);
	lk_view(&l, &resp);
	assert_int_equal(lookup(&cfg, &h4, ALICE, &resp, &res, &ev), KT_OK);
	assert_int_equal(res.leaf.leaf.version, 2);
	assert_true(has_device(&res.value, "laptop"));
	kt_lookup_result_free(&res);
	/* ... and that answer does not verify against the head at 8. */
	lookup_fails(&cfg, &h8, ALICE, &resp, KT_ERR_CLIENT_MAP_PROOF,
		     "map_proof");
	kt_fake_lookup_free(&l);

	/* Absent accounts: carol never enrolled; bob not yet at size 4. */
	assert_int_equal(kt_fake_log_lookup(fl, 8, CAROL, &l), KT_OK);
	assert_false(l.present);
	lk_view(&l, &resp);
	assert_int_equal(lookup(&cfg, &h8, CAROL, &resp, &res, &ev), KT_OK);
	assert_false(res.leaf.present);
	assert_int_equal(res.value.count, 0);
	kt_lookup_result_free(&res);
	/* An absent answer with a value attached is malformed. */
	resp.value.p = l.vrf_proof;
	resp.value.len = 2;
	lookup_fails(&cfg, &h8, CAROL, &resp, KT_ERR_CLIENT_LEAF_MALFORMED,
		     "leaf");
	kt_fake_lookup_free(&l);
	assert_int_equal(kt_fake_log_lookup(fl, 4, BOB, &l), KT_OK);
	lk_view(&l, &resp);
	assert_int_equal(lookup(&cfg, &h4, BOB, &resp, &res, &ev), KT_OK);
	assert_false(res.leaf.present);
	/* Hiding bob at 8 with the absence proof from 4 fails. */
	lookup_fails(&cfg, &h8, BOB, &resp, KT_ERR_CLIENT_MAP_PROOF,
		     "map_proof");
	kt_fake_lookup_free(&l);

	/* An invalid account identifier is the caller's mistake. */
	assert_int_equal(kt_fake_log_lookup(fl, 8, ALICE, &l), KT_OK);
	lk_view(&l, &resp);
	assert_int_equal(kt_verify_lookup(&cfg, &h8, (const uint8_t *)"", 0,
					  &resp, &res, &ev),
			 KT_ERR_INVALID_ARG);
	kt_fake_lookup_free(&l);

	kt_evidence_free(&ev);
	kt_verified_head_free(&h8);
	kt_verified_head_free(&h4);
	kt_fake_log_free(fl);
}

static void test_lookup_tamper(void **state)
{
	static const int leaf_codes[] = {KT_ERR_CLIENT_LEAF_MALFORMED,
					 KT_ERR_CLIENT_MAP_PROOF};
	kt_fake_log *fl = build_log(0);
	kt_trust_config cfg;
	kt_trust_state st;
	kt_verified_head h8;
	kt_fake_lookup l, lb;
	kt_lookup_response resp;
	size_t i;
	int r;

	(void)state;
	make_config(fl, &cfg, KT_TRUST_STRICT, 2);
	verified_head(fl, &cfg, 8, NOW8, &h8, &st);
	kt_trust_state_free(&st);
	assert_int_equal(kt_fake_log_lookup(fl, 8, ALICE, &l), KT_OK);
	lk_view(&l, &resp);

	for (i = 0; i < sizeof(l.vrf_proof); i++) {
		l.vrf_proof[i] ^= 0x02;
		lookup_fails(&cfg, &h8, ALICE, &resp, KT_ERR_CLIENT_VRF, "vrf");
		l.vrf_proof[i] ^= 0x02;
	}
	for (i = 0; i < l.map_proof_len; i++) {
		l.map_proof[i] ^= 0x01;
		lookup_fails(&cfg, &h8, ALICE, &resp, KT_ERR_CLIENT_MAP_PROOF,
			     "map_proof");
		l.map_proof[i] ^= 0x01;
	}
	for (i = 0; i < sizeof(l.leaf); i++) {
		l.leaf[i] ^= 0x08;
		r = lookup_fails(&cfg, &h8, ALICE, &resp, 0, NULL);
		assert_true(in_set(r, leaf_codes, 2));
		l.leaf[i] ^= 0x08;
	}
	for (i = 0; i < sizeof(l.opening); i++) {
		l.opening[i] ^= 0x20;
		lookup_fails(&cfg, &h8, ALICE, &resp, KT_ERR_CLIENT_OPENING,
			     "opening");
		l.opening[i] ^= 0x20;
	}
	/* A device key changed in the value; the provenance changed. */
	for (i = 0; i < l.value_len; i += 3) {
		l.value[i] ^= 0x01;
		lookup_fails(&cfg, &h8, ALICE, &resp, KT_ERR_CLIENT_OPENING,
			     "opening");
		l.value[i] ^= 0x01;
	}
	for (i = 0; i < l.provenance_len; i++) {
		l.provenance[i] ^= 0x40;
		lookup_fails(&cfg, &h8, ALICE, &resp, KT_ERR_CLIENT_OPENING,
			     "opening");
		l.provenance[i] ^= 0x40;
	}
	/* Wrong lengths. */
	resp.opening.len = 15;
	lookup_fails(&cfg, &h8, ALICE, &resp, KT_ERR_CLIENT_OPENING, "opening");
	resp.opening.len = 16;
	resp.vrf_proof.len = 79;
	lookup_fails(&cfg, &h8, ALICE, &resp, KT_ERR_CLIENT_VRF, "vrf");
	resp.vrf_proof.len = 80;
	resp.leaf.len = 0; /* claim absence with an inclusion proof */
	lookup_fails(&cfg, &h8, ALICE, &resp, KT_ERR_CLIENT_MAP_PROOF,
		     "map_proof");
	lk_view(&l, &resp);

	/* Bob's VRF proof for alice; bob's whole answer for alice. */
	assert_int_equal(kt_fake_log_lookup(fl, 8, BOB, &lb), KT_OK);
	memcpy(l.vrf_proof, lb.vrf_proof, sizeof(l.vrf_proof));
	lookup_fails(&cfg, &h8, ALICE, &resp, KT_ERR_CLIENT_VRF, "vrf");
	lk_view(&lb, &resp);
	lookup_fails(&cfg, &h8, ALICE, &resp, KT_ERR_CLIENT_VRF, "vrf");
	/* Alice's answer for bob (with bob's VRF proof): map proof fails. */
	kt_fake_lookup_free(&l);
	assert_int_equal(kt_fake_log_lookup(fl, 8, ALICE, &l), KT_OK);
	memcpy(l.vrf_proof, lb.vrf_proof, sizeof(l.vrf_proof));
	lk_view(&l, &resp);
	lookup_fails(&cfg, &h8, BOB, &resp, KT_ERR_CLIENT_MAP_PROOF,
		     "map_proof");
	kt_fake_lookup_free(&lb);
	kt_fake_lookup_free(&l);
	kt_verified_head_free(&h8);
	kt_fake_log_free(fl);
}

/*
 * The VRF key prepared once (kt_trust_config_set_vrf_key) and the key
 * copied in unprepared give the same answers; a prepared key that is not
 * vrf_pk's is a configuration error.
 */
static void test_lookup_vrf_key_prepared(void **state)
{
	static const char *const accounts[] = {ALICE, BOB, CAROL};
	kt_fake_log *fl = build_log(0);
	kt_trust_config cfg, raw, bad;
	kt_trust_state st;
	kt_verified_head h8;
	kt_fake_lookup l;
	kt_lookup_response resp;
	kt_lookup_result r1, r2;
	kt_evidence e1, e2;
	uint8_t other_pk[32], other_sk[64], seed[32];
	size_t i, bit;

	(void)state;
	make_config(fl, &cfg, KT_TRUST_STRICT, 2);
	assert_int_equal(cfg.vrf_key.ready, KT_VRF_KEY_READY);
	raw = cfg;
	memset(&raw.vrf_key, 0, sizeof(raw.vrf_key)); /* vrf_pk copied in only */
	assert_int_equal(kt_trust_config_check(&raw), KT_OK);
	verified_head(fl, &cfg, 8, NOW8, &h8, &st);
	kt_trust_state_free(&st);
	kt_evidence_init(&e1);
	kt_evidence_init(&e2);
	for (i = 0; i < 3; i++) {
		assert_int_equal(kt_fake_log_lookup(fl, 8, accounts[i], &l), KT_OK);
		lk_view(&l, &resp);
		assert_int_equal(lookup(&cfg, &h8, accounts[i], &resp, &r1, &e1), KT_OK);
		assert_int_equal(lookup(&raw, &h8, accounts[i], &resp, &r2, &e2), KT_OK);
		assert_int_equal(r1.leaf.present, r2.leaf.present);
		assert_memory_equal(r1.leaf.index, r2.leaf.index, KT_INDEX_BYTES);
		assert_int_equal(r1.value.count, r2.value.count);
		kt_lookup_result_free(&r1);
		kt_lookup_result_free(&r2);
		/* twins: a flipped proof bit fails both ways, with one cause */
		for (bit = 0; bit < 640; bit += 37) {
			l.vrf_proof[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			assert_int_equal(lookup(&cfg, &h8, accounts[i], &resp, &r1, &e1),
					 KT_ERR_CLIENT_VRF);
			assert_int_equal(lookup(&raw, &h8, accounts[i], &resp, &r2, &e2),
					 KT_ERR_CLIENT_VRF);
			assert_int_equal(e1.cause, e2.cause);
			l.vrf_proof[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		}
		kt_fake_lookup_free(&l);
	}
	kt_evidence_free(&e1);
	kt_evidence_free(&e2);

	/* Another valid key in vrf_pk with cfg's prepared key: refused by
	 * the check and by every verifier (cheap check: CONFIG). */
	memset(seed, 0x5c, sizeof(seed));
	assert_int_equal(kt_vrf_keypair_from_seed(other_pk, other_sk, seed), KT_OK);
	bad = cfg;
	memcpy(bad.vrf_pk, other_pk, 32);
	assert_int_equal(kt_trust_config_check(&bad), KT_ERR_CLIENT_CONFIG);
	assert_int_equal(kt_fake_log_lookup(fl, 8, ALICE, &l), KT_OK);
	lk_view(&l, &resp);
	kt_evidence_init(&e1);
	assert_int_equal(lookup(&bad, &h8, ALICE, &resp, &r1, &e1),
			 KT_ERR_CLIENT_CONFIG);
	assert_string_equal(e1.check, "config");
	assert_int_equal(r1.value.count, 0);
	kt_evidence_free(&e1);
	/* twin: preparing it makes the config consistent again (and the
	 * lookup then fails at the VRF: it is not the log's key) */
	assert_int_equal(kt_trust_config_set_vrf_key(&bad, bad.vrf_pk), KT_OK);
	assert_int_equal(kt_trust_config_check(&bad), KT_OK);
	lookup_fails(&bad, &h8, ALICE, &resp, KT_ERR_CLIENT_VRF, "vrf");
	kt_fake_lookup_free(&l);

	/* An invalid key is refused and leaves no key behind. */
	bad = cfg;
	memset(other_pk, 0, sizeof(other_pk));
	other_pk[0] = 1; /* the identity: small order */
	assert_int_equal(kt_trust_config_set_vrf_key(&bad, other_pk),
			 KT_ERR_CLIENT_CONFIG);
	assert_int_equal(bad.vrf_key.ready, 0);
	assert_true(sodium_is_zero(bad.vrf_pk, sizeof(bad.vrf_pk)));
	assert_int_equal(kt_trust_config_check(&bad), KT_ERR_CLIENT_CONFIG);
	assert_int_equal(kt_trust_config_set_vrf_key(NULL, other_pk),
			 KT_ERR_INVALID_ARG);
	assert_int_equal(kt_trust_config_set_vrf_key(&bad, NULL),
			 KT_ERR_INVALID_ARG);
	kt_verified_head_free(&h8);
	kt_fake_log_free(fl);
}

static void test_lookup_invalid_key(void **state)
{
	kt_fake_log *fl;
	kt_trust_config cfg;
	kt_trust_state st;
	kt_verified_head h;
	kt_fake_lookup l;
	kt_lookup_response resp;
	kt_lookup_result res;
	kt_evidence ev;
	const kt_evidence_field *f;
	uint64_t t = T0;

	(void)state;
	assert_int_equal(kt_fake_log_new(&fl, t), KT_OK);
	assert_int_equal(kt_fake_log_enrol(fl, ALICE, PHONE), KT_OK);
	tick(fl, &t);
	/* The operator commits a device whose X25519 key is all zero. */
	kt_fake_log_tamper_next(fl, KT_FAKE_TAMPER_BAD_KEY);
	assert_int_equal(kt_fake_log_operator_add(fl, ALICE, ESCROW, "escrow"),
			 KT_OK);
	make_config(fl, &cfg, KT_TRUST_STRICT, 2);
	verified_head(fl, &cfg, 2, t + 1, &h, &st);
	kt_trust_state_free(&st);
	assert_int_equal(kt_fake_log_lookup(fl, 2, ALICE, &l), KT_OK);
	lk_view(&l, &resp);
	lookup_fails(&cfg, &h, ALICE, &resp, KT_ERR_CLIENT_VALUE_INVALID,
		     "value_keys");
	kt_evidence_init(&ev);
	assert_int_equal(lookup(&cfg, &h, ALICE, &resp, &res, &ev),
			 KT_ERR_CLIENT_VALUE_INVALID);
	assert_int_equal(ev.cause, KT_ERR_BAD_KEY);
	f = kt_evidence_get(&ev, "device_id");
	assert_non_null(f);
	assert_int_equal(f->len, 6);
	assert_memory_equal(f->bytes, "escrow", 6);
	kt_evidence_free(&ev);
	kt_fake_lookup_free(&l);
	kt_verified_head_free(&h);
	kt_fake_log_free(fl);
}

/* The directory commits bytes that do not decode: the commitment opens,
 * the decoder refuses. */
static void test_lookup_malformed_committed(void **state)
{
	static const struct {
		unsigned tamper;
		int code;
		const char *check;
	} cases[] = {
		{KT_FAKE_TAMPER_VALUE_BYTES, KT_ERR_CLIENT_VALUE_MALFORMED, "value"},
		{KT_FAKE_TAMPER_PROV_BYTES, KT_ERR_CLIENT_PROVENANCE_MALFORMED,
		 "provenance"},
	};
	kt_fake_log *fl;
	kt_trust_config cfg;
	kt_trust_state st;
	kt_verified_head h;
	kt_fake_lookup l;
	kt_lookup_response resp;
	size_t i;

	(void)state;
	for (i = 0; i < 2; i++) {
		assert_int_equal(kt_fake_log_new(&fl, T0), KT_OK);
		kt_fake_log_tamper_next(fl, cases[i].tamper);
		assert_int_equal(kt_fake_log_enrol(fl, ALICE, PHONE), KT_OK);
		make_config(fl, &cfg, KT_TRUST_STRICT, 2);
		verified_head(fl, &cfg, 1, T0, &h, &st);
		kt_trust_state_free(&st);
		assert_int_equal(kt_fake_log_lookup(fl, 1, ALICE, &l), KT_OK);
		lk_view(&l, &resp);
		lookup_fails(&cfg, &h, ALICE, &resp, cases[i].code,
			     cases[i].check);
		kt_fake_lookup_free(&l);
		kt_verified_head_free(&h);
		kt_fake_log_free(fl);
	}
}

/* ---- history ------------------------------------------------------------ */

typedef struct hview {
	kt_fake_version *fv;
	size_t n;
	kt_history_version hv[KT_FAKE_MAX_VERSIONS];
	kt_bytes inc[KT_FAKE_MAX_VERSIONS][KT_LOG_MAX_PROOF_HASHES];
} hview;

static void hview_views(hview *h)
{
	size_t i;

	for (i = 0; i < h->n; i++) {
		kt_fake_version *f = &h->fv[i];
		kt_history_version *v = &h->hv[i];

		kt_log_hashes_as_bytes(h->inc[i],
				       (const uint8_t (*)[KT_HASH_BYTES])f->inclusion,
				       f->n_inclusion);
		memset(v, 0, sizeof(*v));
		v->log_index = f->log_index;
		v->entry.p = f->entry;
		v->entry.len = f->entry_len;
		v->inclusion = h->inc[i];
		v->n_inclusion = f->n_inclusion;
		v->value.p = f->value;
		v->value.len = f->value_len;
		v->provenance.p = f->provenance;
		v->provenance.len = f->provenance_len;
		v->opening.p = f->opening;
		v->opening.len = sizeof(f->opening);
	}
}

static void hview_build(hview *h, const kt_fake_log *fl, uint64_t size,
			const char *account, uint64_t from)
{
	assert_int_equal(kt_fake_log_history(fl, size, account, from, &h->fv,
					     &h->n), KT_OK);
	hview_views(h);
}

static void hview_free(hview *h)
{
	kt_fake_versions_free(h->fv, h->n);
}

/* A verified head and the account's verified leaf at size. */
static void current_leaf(const kt_fake_log *fl, const kt_trust_config *cfg,
			 uint64_t size, uint64_t now, const char *account,
			 kt_verified_head *h, kt_verified_leaf *cur)
{
	kt_trust_state st;
	kt_fake_lookup l;
	kt_bytes vrf, map, leaf;

	verified_head(fl, cfg, size, now, h, &st);
	kt_trust_state_free(&st);
	assert_int_equal(kt_fake_log_lookup(fl, size, account, &l), KT_OK);
	vrf.p = l.vrf_proof;
	vrf.len = sizeof(l.vrf_proof);
	map.p = l.map_proof;
	map.len = l.map_proof_len;
	leaf.p = l.leaf;
	leaf.len = l.present ? sizeof(l.leaf) : 0;
	assert_int_equal(kt_verify_leaf(cfg, h, (const uint8_t *)account,
					strlen(account), vrf, map, leaf, cur,
					NULL), KT_OK);
	kt_fake_lookup_free(&l);
}

static int history(const kt_trust_config *cfg, const kt_verified_head *h,
		   const char *account, const kt_verified_leaf *cur,
		   const hview *hv, size_t n, const kt_history_checked *c,
		   const kt_owner_set *own, kt_history_report *rep,
		   kt_evidence *ev)
{
	return kt_verify_history(cfg, h, (const uint8_t *)account,
				 strlen(account), cur, hv->hv, n, c, own, rep,
				 ev);
}

static int history_fails(const kt_trust_config *cfg, const kt_verified_head *h,
			 const char *account, const kt_verified_leaf *cur,
			 const hview *hv, size_t n, const kt_history_checked *c,
			 int code, const char *check)
{
	kt_history_report rep;
	kt_evidence ev;
	kt_json *j;
	int r;

	kt_evidence_init(&ev);
	r = history(cfg, h, account, cur, hv, n, c, NULL, &rep, &ev);
	assert_int_not_equal(r, KT_OK);
	if (code != 0)
		assert_int_equal(r, code);
	assert_null(rep.items);
	assert_int_equal(rep.n, 0);
	assert_int_equal(rep.value.count, 0);
	j = check_evidence(&ev, r, check);
	assert_non_null(kt_json_get(j, "checked_version"));
	kt_json_free(j);
	kt_evidence_free(&ev);
	return r;
}

static const kt_history_checked nothing_checked; /* version 0 */

static void owner_keys(const kt_fake_log *fl, kt_sign_key keys[2],
		       kt_owner_set *own)
{
	keys[0] = kt_fake_log_device(fl, PHONE)->sign_pk;
	keys[1] = kt_fake_log_device(fl, LAPTOP)->sign_pk;
	memset(own, 0, sizeof(*own));
	own->sign_keys = keys;
	own->n_sign_keys = 2;
}

static void test_history_ok(void **state)
{
	kt_fake_log *fl = build_log(0);
	kt_trust_config cfg;
	kt_verified_head h;
	kt_verified_leaf cur;
	kt_history_report rep, rep2;
	kt_history_checked c;
	kt_sign_key keys[2];
	kt_owner_set own;
	kt_bytes ids[1];
	kt_evidence ev;
	hview hv;

	(void)state;
	make_config(fl, &cfg, KT_TRUST_STRICT, 2);
	current_leaf(fl, &cfg, 8, NOW8, ALICE, &h, &cur);
	assert_int_equal(cur.leaf.version, 4);
	hview_build(&hv, fl, 8, ALICE, 1);
	assert_int_equal(hv.n, 4);
	owner_keys(fl, keys, &own);
	kt_evidence_init(&ev);

	/* Everything from version 1, owner = phone + laptop keys. */
	assert_int_equal(history(&cfg, &h, ALICE, &cur, &hv, hv.n,
				 &nothing_checked, &own, &rep, &ev), KT_OK);
	assert_int_equal(ev.code, KT_OK);
	assert_int_equal(rep.n, 4);
	assert_true(rep.complete);
	assert_int_equal(rep.checked_version, 4);
	assert_memory_equal(rep.checked_history, cur.leaf.history, 32);
	assert_true(rep.value_known);
	assert_int_equal(rep.value.count, 2);
	assert_int_equal(rep.flagged, 1);
	assert_int_equal(rep.items[0].flags, 0);  /* registrar: own key */
	assert_int_equal(rep.items[0].provenance.type, KT_PROV_REGISTRAR);
	assert_int_equal(rep.items[1].flags, 0);  /* phone adds laptop */
	assert_int_equal(rep.items[2].flags, KT_HISTORY_FLAG_OPERATOR);
	assert_int_equal(rep.items[2].provenance.type, KT_PROV_OPERATOR);
	assert_int_equal(rep.items[2].log_index, 4);
	assert_int_equal(rep.items[2].timestamp_ms, T0 + 4000);
	assert_int_equal(rep.items[3].flags, 0);
	assert_int_equal(rep.items[3].version, 4);

	/* Continue from the checked version 2 with its value. */
	memset(&c, 0, sizeof(c));
	c.version = 2;
	memcpy(c.history, hv.fv[1].entry + 1 + 8 + 32 + 8 + 8 + 32, 32);
	{
		kt_history_report part;

		assert_int_equal(history(&cfg, &h, ALICE, &cur, &hv, 2,
					 &nothing_checked, &own, &part, &ev),
				 KT_OK);
		assert_false(part.complete); /* a page that stops at 2 */
		assert_int_equal(part.checked_version, 2);
		assert_memory_equal(part.checked_history, c.history, 32);
		c.value = &part.value;
		assert_int_equal(kt_verify_history(&cfg, &h,
						   (const uint8_t *)ALICE,
						   strlen(ALICE), &cur,
						   &hv.hv[2], 2, &c, &own,
						   &rep2, &ev), KT_OK);
		assert_int_equal(rep2.n, 2);
		assert_true(rep2.complete);
		assert_int_equal(rep2.items[0].version, 3);
		assert_int_equal(rep2.flagged, 1);
		kt_history_report_free(&rep2);
		/* Without the value: the first one is unchecked. */
		c.value = NULL;
		assert_int_equal(kt_verify_history(&cfg, &h,
						   (const uint8_t *)ALICE,
						   strlen(ALICE), &cur,
						   &hv.hv[2], 2, &c, &own,
						   &rep2, &ev), KT_OK);
		assert_int_equal(rep2.items[0].flags,
				 KT_HISTORY_FLAG_OPERATOR |
					 KT_HISTORY_FLAG_UNCHECKED);
		assert_int_equal(rep2.items[1].flags, 0);
		kt_history_report_free(&rep2);
		kt_history_report_free(&part);
	}
	/* Nothing new since version 4. */
	c.version = 4;
	memcpy(c.history, cur.leaf.history, 32);
	assert_int_equal(kt_verify_history(&cfg, &h, (const uint8_t *)ALICE,
					   strlen(ALICE), &cur, NULL, 0, &c,
					   &own, &rep2, &ev), KT_OK);
	assert_true(rep2.complete);
	assert_int_equal(rep2.n, 0);
	kt_history_report_free(&rep2);

	/* Owner known only by the laptop's id: the registrar enrolment and
	 * the phone's changes are flagged too. */
	ids[0].p = (const uint8_t *)"laptop";
	ids[0].len = 6;
	memset(&own, 0, sizeof(own));
	own.device_ids = ids;
	own.n_device_ids = 1;
	assert_int_equal(history(&cfg, &h, ALICE, &cur, &hv, hv.n,
				 &nothing_checked, &own, &rep2, &ev), KT_OK);
	assert_int_equal(rep2.items[0].flags, KT_HISTORY_FLAG_REGISTRAR);
	assert_int_equal(rep2.items[1].flags, KT_HISTORY_FLAG_UNKNOWN_DEVICE);
	assert_int_equal(rep2.flagged, 4);
	kt_history_report_free(&rep2);
	/* ... and by the phone's id: only the registrar and the operator. */
	ids[0].p = (const uint8_t *)"phone";
	ids[0].len = 5;
	assert_int_equal(history(&cfg, &h, ALICE, &cur, &hv, hv.n,
				 &nothing_checked, &own, &rep2, &ev), KT_OK);
	assert_int_equal(rep2.items[1].flags, 0);
	assert_int_equal(rep2.items[3].flags, 0);
	assert_int_equal(rep2.flagged, 2);
	kt_history_report_free(&rep2);

	kt_history_report_free(&rep);
	kt_evidence_free(&ev);
	hview_free(&hv);
	kt_verified_head_free(&h);
	kt_fake_log_free(fl);
}

static void test_history_tamper(void **state)
{
	static const int entry_codes[] = {KT_ERR_CLIENT_ENTRY_MALFORMED,
					  KT_ERR_CLIENT_ENTRY_MISMATCH,
					  KT_ERR_CLIENT_VERSION_GAP,
					  KT_ERR_CLIENT_ENTRY_INCLUSION};
	kt_fake_log *fl = build_log(0);
	kt_trust_config cfg;
	kt_verified_head h;
	kt_verified_leaf cur;
	kt_history_checked c;
	kt_history_version saved;
	hview hv;
	size_t i, k;
	int r;

	(void)state;
	make_config(fl, &cfg, KT_TRUST_STRICT, 2);
	current_leaf(fl, &cfg, 8, NOW8, ALICE, &h, &cur);
	hview_build(&hv, fl, 8, ALICE, 1);

	/* A hidden version: version 3 (the operator's) left out. */
	saved = hv.hv[2];
	hv.hv[2] = hv.hv[3];
	history_fails(&cfg, &h, ALICE, &cur, &hv, 3, &nothing_checked,
		      KT_ERR_CLIENT_VERSION_GAP, "version_sequence");
	hv.hv[2] = saved;
	/* More versions than the leaf has: v4 given twice after v3. */
	{
		kt_history_version twice[2];
		kt_history_report rep;

		memset(&c, 0, sizeof(c));
		c.version = 3;
		memcpy(c.history, hv.fv[2].entry + 89, 32); /* history of v3 */
		twice[0] = hv.hv[3];
		twice[1] = hv.hv[3];
		assert_int_equal(kt_verify_history(&cfg, &h,
						   (const uint8_t *)ALICE,
						   strlen(ALICE), &cur, twice, 2,
						   &c, NULL, &rep, NULL),
				 KT_ERR_CLIENT_VERSION_GAP);
		assert_int_equal(kt_verify_history(&cfg, &h,
						   (const uint8_t *)ALICE,
						   strlen(ALICE), &cur, twice, 1,
						   &c, NULL, &rep, NULL),
				 KT_OK);
		assert_true(rep.complete);
		kt_history_report_free(&rep);
	}
	/* A checked version newer than the current leaf (account rolled
	 * back). */
	c.version = 5;
	history_fails(&cfg, &h, ALICE, &cur, &hv, 0, &c, KT_ERR_CLIENT_HISTORY,
		      "history_chain");
	/* Nothing new, but the stored head differs from the leaf's. */
	c.version = 4;
	memset(c.history, 0x55, 32);
	history_fails(&cfg, &h, ALICE, &cur, &hv, 0, &c, KT_ERR_CLIENT_HISTORY,
		      "history_chain");
	/* A heartbeat entry given as a version. */
	{
		rhv o;
		kt_history_version hb = hv.hv[0];
		kt_history_report rep;

		rhv_build(&o, fl, 8, 0, 0);
		hb.entry.p = o.fh.last_entry;
		hb.entry.len = o.fh.last_entry_len;
		assert_int_equal(kt_verify_history(&cfg, &h,
						   (const uint8_t *)ALICE,
						   strlen(ALICE), &cur, &hb, 1,
						   &nothing_checked, NULL, &rep,
						   NULL),
				 KT_ERR_CLIENT_ENTRY_MALFORMED);
		rhv_free(&o);
	}
	/* A wrong stored history head. */
	c.version = 2;
	memset(c.history, 0x55, 32);
	{
		kt_history_report rep;

		assert_int_equal(kt_verify_history(&cfg, &h,
						   (const uint8_t *)ALICE,
						   strlen(ALICE), &cur,
						   &hv.hv[2], 2, &c, NULL, &rep,
						   NULL),
				 KT_ERR_CLIENT_HISTORY);
	}

	/* Bit flips in every part of every version. */
	for (k = 0; k < hv.n; k++) {
		kt_fake_version *f = &hv.fv[k];

		for (i = 0; i < f->entry_len; i++) {
			f->entry[i] ^= 0x01;
			r = history_fails(&cfg, &h, ALICE, &cur, &hv, hv.n,
					  &nothing_checked, 0, NULL);
			assert_true(in_set(r, entry_codes, 4));
			f->entry[i] ^= 0x01;
		}
		for (i = 0; i < f->n_inclusion; i++) {
			f->inclusion[i][3] ^= 0x01;
			history_fails(&cfg, &h, ALICE, &cur, &hv, hv.n,
				      &nothing_checked,
				      KT_ERR_CLIENT_ENTRY_INCLUSION,
				      "entry_inclusion");
			f->inclusion[i][3] ^= 0x01;
		}
		f->opening[k] ^= 0x01;
		history_fails(&cfg, &h, ALICE, &cur, &hv, hv.n, &nothing_checked,
			      KT_ERR_CLIENT_OPENING, "opening");
		f->opening[k] ^= 0x01;
		f->value[f->value_len - 1] ^= 0x01;
		history_fails(&cfg, &h, ALICE, &cur, &hv, hv.n, &nothing_checked,
			      KT_ERR_CLIENT_OPENING, "opening");
		f->value[f->value_len - 1] ^= 0x01;
		f->provenance[1] ^= 0x01;
		history_fails(&cfg, &h, ALICE, &cur, &hv, hv.n, &nothing_checked,
			      KT_ERR_CLIENT_OPENING, "opening");
		f->provenance[1] ^= 0x01;
		hv.hv[k].log_index++;
		history_fails(&cfg, &h, ALICE, &cur, &hv, hv.n, &nothing_checked,
			      KT_ERR_CLIENT_ENTRY_MISMATCH, "entry_match");
		hv.hv[k].log_index--;
	}
	/* Another account's versions against alice's leaf. */
	{
		hview hb;

		hview_build(&hb, fl, 8, BOB, 1);
		history_fails(&cfg, &h, ALICE, &cur, &hb, hb.n,
			      &nothing_checked, KT_ERR_CLIENT_ENTRY_MISMATCH,
			      "entry_match");
		hview_free(&hb);
	}
	hview_free(&hv);
	kt_verified_head_free(&h);
	kt_fake_log_free(fl);
}

/* A 3-entry log: alice enrols phone, then an update of phone adding the
 * laptop with the given misbehaviour, then a heartbeat. */
static void misbehaving_log(unsigned tamper, int operator_change,
			    kt_fake_log **out)
{
	kt_fake_log *fl;
	uint64_t t = T0;

	assert_int_equal(kt_fake_log_new(&fl, t), KT_OK);
	assert_int_equal(kt_fake_log_enrol(fl, ALICE, PHONE), KT_OK);
	tick(fl, &t);
	kt_fake_log_tamper_next(fl, tamper);
	if (operator_change)
		assert_int_equal(kt_fake_log_operator_add(fl, ALICE, LAPTOP,
							  "support ticket"),
				 KT_OK);
	else
		assert_int_equal(kt_fake_log_add(fl, ALICE, PHONE, LAPTOP),
				 KT_OK);
	tick(fl, &t);
	assert_int_equal(kt_fake_log_heartbeat(fl), KT_OK);
	*out = fl;
}

static void test_history_misbehaviour(void **state)
{
	static const struct {
		unsigned tamper;
		int op;
		int code;
		int cause;
		const char *check;
	} cases[] = {
		{KT_FAKE_TAMPER_HISTORY, 0, KT_ERR_CLIENT_HISTORY,
		 KT_ERR_HISTORY_MISMATCH, "history_chain"},
		{KT_FAKE_TAMPER_SKIP_VERSION, 0, KT_ERR_CLIENT_VERSION_GAP,
		 KT_ERR_VERSION_GAP, "version_sequence"},
		{KT_FAKE_TAMPER_EXTRA_DEVICE, 0, KT_ERR_CLIENT_TRANSITION,
		 KT_ERR_VALUE_MISMATCH, "transition"},
		{KT_FAKE_TAMPER_EXTRA_DEVICE, 1, KT_ERR_CLIENT_TRANSITION,
		 KT_ERR_VALUE_MISMATCH, "transition"},
		{KT_FAKE_TAMPER_BAD_SIG, 0, KT_ERR_CLIENT_PROVENANCE_SIG,
		 KT_ERR_BAD_SIGNATURE, "provenance_signature"},
	};
	kt_trust_config cfg;
	kt_verified_head h;
	kt_verified_leaf cur;
	kt_history_report rep;
	kt_evidence ev;
	kt_fake_log *fl;
	kt_sign_key keys[2];
	kt_owner_set own;
	kt_json *j;
	hview hv;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		misbehaving_log(cases[i].tamper, cases[i].op, &fl);
		make_config(fl, &cfg, KT_TRUST_STRICT, 2);
		current_leaf(fl, &cfg, 3, T0 + 3000, ALICE, &h, &cur);
		hview_build(&hv, fl, 3, ALICE, 1);
		kt_evidence_init(&ev);
		assert_int_equal(history(&cfg, &h, ALICE, &cur, &hv, hv.n,
					 &nothing_checked, NULL, &rep, &ev),
				 cases[i].code);
		assert_int_equal(ev.cause, cases[i].cause);
		j = check_evidence(&ev, cases[i].code, cases[i].check);
		assert_non_null(kt_json_get(j, "entry"));
		assert_non_null(kt_json_get(j, "provenance"));
		kt_json_free(j);
		kt_evidence_free(&ev);
		/* The first version alone is fine (a page ending before). */
		assert_int_equal(history(&cfg, &h, ALICE, &cur, &hv, 1,
					 &nothing_checked, NULL, &rep, NULL),
				 KT_OK);
		assert_false(rep.complete);
		kt_history_report_free(&rep);
		hview_free(&hv);
		kt_verified_head_free(&h);
		kt_fake_log_free(fl);
	}

	/* An honest operator insertion is flagged, not an error. */
	misbehaving_log(0, 1, &fl);
	make_config(fl, &cfg, KT_TRUST_STRICT, 2);
	current_leaf(fl, &cfg, 3, T0 + 3000, ALICE, &h, &cur);
	hview_build(&hv, fl, 3, ALICE, 1);
	owner_keys(fl, keys, &own);
	assert_int_equal(history(&cfg, &h, ALICE, &cur, &hv, hv.n,
				 &nothing_checked, &own, &rep, NULL), KT_OK);
	assert_true(rep.complete);
	assert_int_equal(rep.flagged, 1);
	assert_int_equal(rep.items[1].flags, KT_HISTORY_FLAG_OPERATOR);
	assert_int_equal(rep.items[1].provenance.reason_len,
			 strlen("support ticket"));
	kt_history_report_free(&rep);
	hview_free(&hv);
	kt_verified_head_free(&h);
	kt_fake_log_free(fl);
}

/* ---- evidence JSON ---------------------------------------------------- */

static void test_evidence_json(void **state)
{
	kt_evidence ev;
	kt_bytes l[2];
	uint8_t note[] = "o\n1\n\"q\\\x01\x7f\n";
	uint8_t bad[] = {0xff, 0x00, 0x41};
	char *js;
	kt_json *j;
	const kt_json *cp, *arr;
	size_t len;
	uint8_t *hex;

	(void)state;
	kt_evidence_init(&ev);
	assert_int_equal(kt_evidence_write_json(&ev, &js), KT_OK);
	j = kt_json_parse(js, strlen(js));
	assert_non_null(j);
	assert_string_equal(json_text(j, "error"), "KT_OK");
	kt_json_free(j);
	free(js);

	ev.code = KT_ERR_CLIENT_FORK;
	ev.cause = KT_ERR_LOG_ROOT_MISMATCH;
	ev.check = "fork";
	ev.trusted.present = 1;
	ev.trusted.note = malloc(sizeof(note) - 1);
	assert_non_null(ev.trusted.note);
	memcpy(ev.trusted.note, note, sizeof(note) - 1);
	ev.trusted.note_len = sizeof(note) - 1;
	ev.checkpoint.present = 1;
	ev.checkpoint.note = malloc(sizeof(bad));
	assert_non_null(ev.checkpoint.note);
	memcpy(ev.checkpoint.note, bad, sizeof(bad));
	ev.checkpoint.note_len = sizeof(bad);
	ev.checkpoint.parsed = 1;
	ev.checkpoint.size = UINT64_MAX;
	l[0].p = bad;
	l[0].len = 3;
	l[1].p = NULL;
	l[1].len = 0;
	ev.n_fields = 2;
	ev.fields[0].name = "x";
	ev.fields[0].kind = KT_EVIDENCE_U64;
	ev.fields[0].u64 = 18446744073709551615u;
	ev.fields[1].name = "proof";
	ev.fields[1].kind = KT_EVIDENCE_LIST;
	ev.fields[1].list = calloc(2, sizeof(kt_bytes));
	assert_non_null(ev.fields[1].list);
	ev.fields[1].list[0].p = malloc(3);
	assert_non_null(ev.fields[1].list[0].p);
	memcpy((uint8_t *)ev.fields[1].list[0].p, bad, 3);
	ev.fields[1].list[0].len = 3;
	ev.fields[1].list[1] = l[1];
	ev.fields[1].n = 2;
	assert_int_equal(kt_evidence_write_json(&ev, &js), KT_OK);
	j = kt_json_parse(js, strlen(js));
	assert_non_null(j);
	assert_string_equal(json_text(j, "error"), "KT_ERR_CLIENT_FORK");
	assert_string_equal(kt_json_get(j, "code")->text, "-208");
	assert_string_equal(json_text(j, "cause"), "KT_ERR_LOG_ROOT_MISMATCH");
	cp = kt_json_get(j, "trusted_checkpoint");
	assert_int_equal(kt_json_get(cp, "note")->text_len, sizeof(note) - 1);
	assert_memory_equal(kt_json_get(cp, "note")->text, note,
			    sizeof(note) - 1);
	cp = kt_json_get(j, "checkpoint");
	assert_null(kt_json_get(cp, "note"));
	hex = kt_json_hex(kt_json_get(cp, "note_hex"), &len);
	assert_int_equal(len, 3);
	assert_memory_equal(hex, bad, 3);
	free(hex);
	assert_int_equal(kt_json_u64(kt_json_get(cp, "size")), UINT64_MAX);
	assert_int_equal(kt_json_u64(kt_json_get(j, "x")), UINT64_MAX);
	arr = kt_json_get(j, "proof");
	assert_int_equal(kt_json_len(arr), 2);
	assert_int_equal(kt_json_at(arr, 1)->text_len, 0);
	kt_json_free(j);
	free(js);
	kt_evidence_free(&ev);
	assert_int_equal(ev.code, KT_OK);
	kt_evidence_free(NULL);
	assert_int_equal(kt_evidence_write_json(NULL, &js), KT_ERR_INVALID_ARG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_head_first_use_and_advance),
		cmocka_unit_test(test_head_no_witness_policy),
		cmocka_unit_test(test_head_bounded_lag),
		cmocka_unit_test(test_trust_state_encoding),
		cmocka_unit_test(test_config_check),
		cmocka_unit_test(test_head_tamper_bits),
		cmocka_unit_test(test_head_forged_and_origin),
		cmocka_unit_test(test_head_rollback_fork_inconsistent),
		cmocka_unit_test(test_head_witness_and_time),
		cmocka_unit_test(test_lookup_present_absent),
		cmocka_unit_test(test_lookup_tamper),
		cmocka_unit_test(test_lookup_vrf_key_prepared),
		cmocka_unit_test(test_lookup_invalid_key),
		cmocka_unit_test(test_lookup_malformed_committed),
		cmocka_unit_test(test_history_ok),
		cmocka_unit_test(test_history_tamper),
		cmocka_unit_test(test_history_misbehaviour),
		cmocka_unit_test(test_evidence_json),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
