/*
 * kt_verify.c — trust configuration and state, and the verifiers of heads,
 * lookups and histories (kt_verify.h; docs/PROTOCOL.md §6).
 */
#include <stdlib.h>
#include <string.h>

#include "kt_checkpoint.h"
#include "kt_commit.h"
#include "kt_cosig.h"
#include "kt_log.h"
#include "kt_map.h"
#include "kt_verify.h"
#include "verify_int.h"

/* Domain string at the start of an encoded trust state. */
#define STATE_DOMAIN "keytrail/v1/trust-state"
#define STATE_DOMAIN_LEN (sizeof(STATE_DOMAIN) - 1)
#define STATE_MAX_BYTES \
	(1 + STATE_DOMAIN_LEN + 2 * (8 + KT_HASH_BYTES + 8 + 4 + KT_VERIFY_MAX_NOTE_BYTES))

/* Stable check names (docs/PROTOCOL.md §6.6). */
#define CHK_ARGS "arguments"
#define CHK_CONFIG "config"
#define CHK_STATE "trust_state"

static const uint8_t zero32[KT_HASH_BYTES];

/* A wire byte string that can be read: p may be NULL only when len is 0. */
static int bytes_ok(kt_bytes b)
{
	return b.p != NULL || b.len == 0;
}

static int list_ok(const kt_bytes *l, size_t n)
{
	size_t i;

	if (n == 0)
		return 1;
	if (l == NULL)
		return 0;
	for (i = 0; i < n; i++)
		if (!bytes_ok(l[i]))
			return 0;
	return 1;
}

/* *out = heap copy of p[0..len) (NULL for len 0).  KT_ERR_NOMEM. */
static int dup_bytes(uint8_t **out, size_t *out_len, const uint8_t *p,
		     size_t len)
{
	*out = NULL;
	*out_len = 0;
	if (len == 0)
		return KT_OK;
	*out = malloc(len);
	if (*out == NULL)
		return KT_ERR_NOMEM;
	memcpy(*out, p, len);
	*out_len = len;
	return KT_OK;
}

/* ---- configuration ---------------------------------------------------- */

void kt_trust_config_init(kt_trust_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->mode = KT_TRUST_STRICT;
	cfg->max_age_ms = KT_VERIFY_DEFAULT_MAX_AGE_MS;
	cfg->max_skew_ms = KT_VERIFY_DEFAULT_MAX_SKEW_MS;
	cfg->max_lag_ms = KT_VERIFY_DEFAULT_MAX_LAG_MS;
}

/* An origin line: 1..255 bytes of note text without a newline. */
static int origin_ok(const char *origin, size_t len)
{
	if (origin == NULL || len == 0 || len > KT_CHECKPOINT_MAX_ORIGIN)
		return 0;
	if (memchr(origin, '\n', len) != NULL)
		return 0;
	return kt_note_text_check((const uint8_t *)origin, len) == KT_OK;
}

int kt_trust_config_set_origin(kt_trust_config *cfg, const char *origin,
			       size_t len)
{
	if (cfg == NULL)
		return KT_ERR_INVALID_ARG;
	memset(cfg->origin, 0, sizeof(cfg->origin));
	cfg->origin_len = 0;
	if (!origin_ok(origin, len))
		return KT_ERR_CLIENT_CONFIG;
	memcpy(cfg->origin, origin, len);
	cfg->origin_len = len;
	return KT_OK;
}

static int key_sane(const kt_note_verifier *v, uint8_t type)
{
	return v->type == type && v->name_len >= 1 &&
	       v->name_len <= KT_NOTE_MAX_NAME &&
	       v->name[v->name_len] == '\0' &&
	       strlen(v->name) == v->name_len;
}

/* The cheap checks every verifier repeats. */
static int config_sane(const kt_trust_config *c)
{
	size_t i;

	if (c->origin_len == 0 || c->origin_len > KT_CHECKPOINT_MAX_ORIGIN ||
	    c->origin[c->origin_len] != '\0')
		return 0;
	if (!key_sane(&c->log_key, KT_NOTE_KEY_ED25519))
		return 0;
	if (c->n_witnesses > KT_VERIFY_MAX_WITNESSES ||
	    c->witness_threshold > c->n_witnesses ||
	    (c->n_witnesses > 0 && c->witness_threshold == 0))
		return 0;
	for (i = 0; i < c->n_witnesses; i++)
		if (!key_sane(&c->witnesses[i], KT_NOTE_KEY_COSIG_V1))
			return 0;
	if (c->mode != KT_TRUST_STRICT && c->mode != KT_TRUST_BOUNDED_LAG)
		return 0;
	if (c->max_age_ms == 0)
		return 0;
	if (c->mode == KT_TRUST_BOUNDED_LAG && c->max_lag_ms == 0)
		return 0;
	/* A prepared VRF key must be vrf_pk's (public keys: memcmp). */
	if (c->vrf_key.ready == KT_VRF_KEY_READY &&
	    memcmp(c->vrf_key.pk, c->vrf_pk, KT_VRF_PUBLICKEY_BYTES) != 0)
		return 0;
	return 1;
}

/* The key is a valid point and its key hash is right. */
static int key_valid(const kt_note_verifier *v)
{
	kt_note_verifier tmp;

	if (kt_note_verifier_new(&tmp, v->name, v->name_len, v->type, v->pk) !=
	    KT_OK)
		return 0;
	return tmp.key_hash == v->key_hash;
}

int kt_trust_config_set_vrf_key(kt_trust_config *cfg,
				const uint8_t pk[KT_VRF_PUBLICKEY_BYTES])
{
	if (cfg == NULL || pk == NULL)
		return KT_ERR_INVALID_ARG;
	if (kt_vrf_public_key_prepare(&cfg->vrf_key, pk) != KT_OK) {
		memset(cfg->vrf_pk, 0, sizeof(cfg->vrf_pk));
		return KT_ERR_CLIENT_CONFIG;
	}
	memmove(cfg->vrf_pk, pk, KT_VRF_PUBLICKEY_BYTES); /* pk may be vrf_pk */
	return KT_OK;
}

int kt_trust_config_check(const kt_trust_config *cfg)
{
	size_t i, j;

	if (cfg == NULL)
		return KT_ERR_INVALID_ARG;
	if (!config_sane(cfg) || !origin_ok(cfg->origin, cfg->origin_len) ||
	    !key_valid(&cfg->log_key))
		return KT_ERR_CLIENT_CONFIG;
	for (i = 0; i < cfg->n_witnesses; i++) {
		const kt_note_verifier *a = &cfg->witnesses[i];

		if (!key_valid(a))
			return KT_ERR_CLIENT_CONFIG;
		for (j = 0; j < i; j++)
			if (cfg->witnesses[j].key_hash == a->key_hash &&
			    strcmp(cfg->witnesses[j].name, a->name) == 0)
				return KT_ERR_CLIENT_CONFIG;
	}
	if (kt_vrf_validate_public_key(cfg->vrf_pk) != KT_OK)
		return KT_ERR_CLIENT_CONFIG;
	return KT_OK;
}

/* ---- checkpoints: opening and witness counting ----------------------- */

typedef struct opened {
	int parsed;              /* cp is set (borrowing from the note) */
	kt_checkpoint cp;
	kt_bytes text;
	int cosigned;            /* k of n witnesses */
	size_t cosigs;           /* verified, counting stops at k */
	int witness_cause;       /* last failing configured-witness line */
} opened;

/* Opens note with the log key (KT_ERR_CLIENT_CHECKPOINT_SIG) and checks
 * the body (same code) and the origin (KT_ERR_CLIENT_CHECKPOINT_ORIGIN).
 * *cause is the underlying code. */
static int open_checkpoint(const kt_trust_config *cfg, kt_bytes note,
			   opened *o, int *cause)
{
	kt_note_sigstatus st;
	int r;

	memset(o, 0, sizeof(*o));
	if (note.len > KT_VERIFY_MAX_NOTE_BYTES) {
		*cause = KT_ERR_TOO_LARGE;
		return KT_ERR_CLIENT_CHECKPOINT_SIG;
	}
	r = kt_note_open(note.p, note.len, &cfg->log_key, 1, &o->text, &st);
	if (r == KT_OK)
		r = kt_checkpoint_parse(&o->cp, o->text.p, o->text.len);
	*cause = r;
	if (r != KT_OK)
		return KT_ERR_CLIENT_CHECKPOINT_SIG;
	o->parsed = 1;
	r = kt_checkpoint_check_origin(&o->cp, cfg->origin, cfg->origin_len);
	*cause = r;
	return r == KT_OK ? KT_OK : KT_ERR_CLIENT_CHECKPOINT_ORIGIN;
}

/* Matches one signature line against the witnesses not counted yet. */
static void count_line(const kt_trust_config *cfg, const kt_note_sig *sig,
		       kt_bytes text, uint8_t *counted, opened *o)
{
	size_t j;
	int r;

	for (j = 0; j < cfg->n_witnesses; j++) {
		if (counted[j])
			continue;
		r = kt_note_sig_verify(sig, &cfg->witnesses[j], text.p, text.len,
				       NULL);
		if (r == KT_OK) {
			counted[j] = 1;
			o->cosigs++;
			return;
		}
		if (r != KT_ERR_NOTE_NO_VERIFIED_SIG) {
			o->witness_cause = r; /* by this witness, but bad */
			return;
		}
	}
}

/* Counts distinct configured witnesses with a valid cosignature on an
 * opened note, stopping at the threshold.  A bad line by a configured
 * witness does not count (and is remembered as witness_cause). */
static void count_cosigs(const kt_trust_config *cfg, kt_bytes note, opened *o)
{
	uint8_t counted[KT_VERIFY_MAX_WITNESSES];
	size_t pos, line_len;
	const uint8_t *nl;
	kt_note_sig sig;

	memset(counted, 0, sizeof(counted));
	o->cosigs = 0;
	o->witness_cause = KT_OK;
	if (cfg->witness_threshold == 0) {
		o->cosigned = 1;
		return;
	}
	/* kt_note_open: text is a prefix of the note, then one blank line. */
	pos = o->text.len + 1;
	while (pos < note.len && o->cosigs < cfg->witness_threshold) {
		nl = memchr(note.p + pos, '\n', note.len - pos);
		if (nl == NULL)
			break;
		line_len = (size_t)(nl - (note.p + pos)) + 1;
		if (kt_note_sig_parse(&sig, note.p + pos, line_len) == KT_OK)
			count_line(cfg, &sig, o->text, counted, o);
		pos += line_len;
	}
	o->cosigned = o->cosigs >= cfg->witness_threshold;
}

/* ---- trust state ------------------------------------------------------ */

void kt_trust_state_init(kt_trust_state *s)
{
	memset(s, 0, sizeof(*s));
}

static void trusted_free(kt_trusted_checkpoint *t)
{
	free(t->note);
	memset(t, 0, sizeof(*t));
}

void kt_trust_state_free(kt_trust_state *s)
{
	if (s == NULL)
		return;
	trusted_free(&s->verified);
	trusted_free(&s->cosigned);
}

static int trusted_copy(kt_trusted_checkpoint *dst,
			const kt_trusted_checkpoint *src)
{
	*dst = *src;
	return dup_bytes(&dst->note, &dst->note_len, src->note, src->note_len);
}

int kt_trust_state_copy(kt_trust_state *dst, const kt_trust_state *src)
{
	int r;

	if (dst == NULL || src == NULL)
		return KT_ERR_INVALID_ARG;
	kt_trust_state_init(dst);
	r = trusted_copy(&dst->verified, &src->verified);
	if (r == KT_OK)
		r = trusted_copy(&dst->cosigned, &src->cosigned);
	if (r != KT_OK)
		kt_trust_state_free(dst);
	return r;
}

static int trusted_sane(const kt_trusted_checkpoint *t)
{
	if (t->size == 0)
		return t->note_len == 0;
	return t->note != NULL && t->note_len > 0 &&
	       t->note_len <= KT_VERIFY_MAX_NOTE_BYTES;
}

/* The invariants kt_verify_head keeps. */
static int state_sane(const kt_trust_state *s)
{
	if (!trusted_sane(&s->verified) || !trusted_sane(&s->cosigned))
		return 0;
	if (s->cosigned.size > s->verified.size)
		return 0;
	/* Roots are public: memcmp is fine. */
	if (s->cosigned.size == s->verified.size && s->verified.size > 0 &&
	    memcmp(s->cosigned.root, s->verified.root, KT_HASH_BYTES) != 0)
		return 0;
	return 1;
}

static void put_trusted(kt_wbuf *w, const kt_trusted_checkpoint *t)
{
	kt_put_u64(w, t->size);
	kt_put_fixed(w, t->size > 0 ? t->root : zero32, KT_HASH_BYTES);
	kt_put_u64(w, t->size > 0 ? t->timestamp_ms : 0);
	kt_put_vec32(w, t->note, t->note_len);
}

int kt_trust_state_encode(const kt_trust_state *s, uint8_t **out,
			  size_t *out_len)
{
	kt_wbuf w;

	if (out == NULL || out_len == NULL)
		return KT_ERR_INVALID_ARG;
	*out = NULL;
	*out_len = 0;
	if (s == NULL || !state_sane(s))
		return KT_ERR_INVALID_ARG;
	kt_wbuf_init(&w, STATE_MAX_BYTES);
	kt_put_vec8(&w, (const uint8_t *)STATE_DOMAIN, STATE_DOMAIN_LEN);
	put_trusted(&w, &s->verified);
	put_trusted(&w, &s->cosigned);
	return kt_wbuf_take(&w, out, out_len);
}

static void get_trusted(kt_rbuf *rb, kt_trusted_checkpoint *t, kt_bytes *note)
{
	t->size = kt_get_u64(rb);
	kt_get_fixed(rb, t->root, KT_HASH_BYTES);
	t->timestamp_ms = kt_get_u64(rb);
	note->p = kt_get_vec32(rb, 0, KT_VERIFY_MAX_NOTE_BYTES, &note->len);
}

/* A decoded trusted checkpoint re-verified against cfg. */
static int trusted_recheck(const kt_trust_config *cfg,
			   const kt_trusted_checkpoint *t, kt_bytes note,
			   int need_cosigned)
{
	opened o;
	int cause;

	if (t->size == 0)
		return note.len == 0 && t->timestamp_ms == 0 &&
		       memcmp(t->root, zero32, KT_HASH_BYTES) == 0;
	if (open_checkpoint(cfg, note, &o, &cause) != KT_OK)
		return 0;
	if (o.cp.size != t->size ||
	    memcmp(o.cp.root, t->root, KT_HASH_BYTES) != 0)
		return 0;
	if (need_cosigned) {
		count_cosigs(cfg, note, &o);
		if (!o.cosigned)
			return 0;
	}
	return 1;
}

int kt_trust_state_decode(kt_trust_state *s, const kt_trust_config *cfg,
			  const uint8_t *p, size_t len)
{
	kt_trust_state st;
	kt_bytes dom, nv, nc;
	kt_rbuf rb;
	int r;

	if (s == NULL)
		return KT_ERR_INVALID_ARG;
	kt_trust_state_init(s);
	if (cfg == NULL || (p == NULL && len > 0))
		return KT_ERR_INVALID_ARG;
	if (!config_sane(cfg))
		return KT_ERR_CLIENT_CONFIG;
	kt_trust_state_init(&st);
	kt_rbuf_init(&rb, p, len);
	dom.p = kt_get_vec8(&rb, 1, 255, &dom.len);
	get_trusted(&rb, &st.verified, &nv);
	get_trusted(&rb, &st.cosigned, &nc);
	r = kt_rbuf_finish(&rb);
	if (r != KT_OK || dom.len != STATE_DOMAIN_LEN ||
	    memcmp(dom.p, STATE_DOMAIN, STATE_DOMAIN_LEN) != 0)
		return KT_ERR_CLIENT_STATE;
	if (!trusted_recheck(cfg, &st.verified, nv, 0) ||
	    !trusted_recheck(cfg, &st.cosigned, nc, 1))
		return KT_ERR_CLIENT_STATE;
	/* Every verified state was reached from a cosigned checkpoint. */
	if (st.verified.size > 0 && st.cosigned.size == 0)
		return KT_ERR_CLIENT_STATE;
	if (cfg->mode == KT_TRUST_STRICT &&
	    st.cosigned.size != st.verified.size)
		return KT_ERR_CLIENT_STATE;
	r = dup_bytes(&st.verified.note, &st.verified.note_len, nv.p, nv.len);
	if (r == KT_OK)
		r = dup_bytes(&st.cosigned.note, &st.cosigned.note_len, nc.p,
			      nc.len);
	if (r == KT_OK && !state_sane(&st))
		r = KT_ERR_CLIENT_STATE;
	if (r != KT_OK) {
		kt_trust_state_free(&st);
		return r;
	}
	*s = st;
	return KT_OK;
}

/* ---- heads -------------------------------------------------------------- */

void kt_verified_head_free(kt_verified_head *h)
{
	if (h == NULL)
		return;
	free(h->note);
	memset(h, 0, sizeof(*h));
}

/* What kt_verify_head has learnt so far (for the evidence). */
typedef struct head_work {
	const kt_trust_config *cfg;
	const kt_trust_state *state;
	const kt_read_head *rh;
	uint64_t now_ms;
	kt_evidence *ev;
	opened o;
	int fast;                  /* note identical to state->verified's */
	int have_entry;
	kt_log_entry entry;
} head_work;

/* Records the failure of a head check with everything the response and
 * the state hold; returns code. */
static int head_fail(head_work *w, int code, int cause, const char *check)
{
	kt_evidence *ev = w->ev;
	const kt_read_head *rh = w->rh;

	if (ev == NULL)
		return code;
	kt_ev_fail(ev, code, cause, check);
	kt_ev_trusted(ev, KT_EV_TRUSTED, &w->state->verified);
	kt_ev_trusted(ev, KT_EV_COSIGNED, &w->state->cosigned);
	kt_ev_checkpoint(ev, KT_EV_CHECKPOINT, rh->checkpoint.p,
			 rh->checkpoint.len, w->o.parsed, w->o.cp.size,
			 w->o.cp.root, w->have_entry, w->entry.timestamp_ms);
	kt_ev_u64(ev, "now_ms", w->now_ms);
	kt_ev_u64(ev, "tree_size", rh->tree_size);
	kt_ev_u64(ev, "consistency_from", w->state->verified.size);
	kt_ev_list(ev, "consistency", rh->consistency, rh->n_consistency);
	kt_ev_bytes(ev, "last_entry", rh->last_entry.p, rh->last_entry.len);
	kt_ev_list(ev, "last_entry_inclusion", rh->last_entry_inclusion,
		   rh->n_last_entry_inclusion);
	return code;
}

/* Steps 1-3: signature, origin, size, witness policy. */
static int head_policy(head_work *w)
{
	const kt_trust_config *cfg = w->cfg;
	const kt_trusted_checkpoint *vs = &w->state->verified;
	const kt_trusted_checkpoint *cs = &w->state->cosigned;
	kt_bytes note = w->rh->checkpoint;
	int r, cause = KT_OK;
	uint64_t age;

	if (vs->size > 0 && note.len == vs->note_len &&
	    memcmp(note.p, vs->note, note.len) == 0) {
		/* Verified (signature, witnesses) when the state was made. */
		w->fast = 1;
		w->o.parsed = 1;
		w->o.cp.size = vs->size;
		memcpy(w->o.cp.root, vs->root, KT_HASH_BYTES);
		w->o.cosigned = cs->size == vs->size;
	} else {
		r = open_checkpoint(cfg, note, &w->o, &cause);
		if (r != KT_OK)
			return head_fail(w, r, cause,
					 r == KT_ERR_CLIENT_CHECKPOINT_ORIGIN ?
						 "checkpoint_origin" :
						 "checkpoint_signature");
	}
	if (w->o.cp.size != w->rh->tree_size)
		return head_fail(w, KT_ERR_CLIENT_SIZE_MISMATCH,
				 KT_ERR_CLIENT_SIZE_MISMATCH, "checkpoint_size");
	if (w->o.cp.size == 0)
		return head_fail(w, KT_ERR_CLIENT_EMPTY_LOG, KT_ERR_LOG_BAD_SIZE,
				 "empty_log");
	if (!w->fast)
		count_cosigs(cfg, note, &w->o);
	if (w->o.cosigned)
		return KT_OK;
	if (cfg->mode == KT_TRUST_STRICT || cs->size == 0) {
		r = head_fail(w, KT_ERR_CLIENT_WITNESS_POLICY,
			      w->o.witness_cause != KT_OK ? w->o.witness_cause :
			      KT_ERR_CLIENT_WITNESS_POLICY, "witness_policy");
		kt_ev_u64(w->ev, "cosignatures", w->o.cosigs);
		kt_ev_u64(w->ev, "witness_threshold", cfg->witness_threshold);
		kt_ev_u64(w->ev, "witnesses", cfg->n_witnesses);
		return r;
	}
	age = w->now_ms > cs->timestamp_ms ? w->now_ms - cs->timestamp_ms : 0;
	if (age > cfg->max_lag_ms) {
		r = head_fail(w, KT_ERR_CLIENT_LAG, KT_ERR_CLIENT_LAG,
			      "bounded_lag");
		kt_ev_u64(w->ev, "cosigned_age_ms", age);
		kt_ev_u64(w->ev, "max_lag_ms", cfg->max_lag_ms);
		return r;
	}
	return KT_OK;
}

/* Steps 4-5: no rollback, no fork, consistency. */
static int head_consistency(head_work *w)
{
	const kt_trusted_checkpoint *vs = &w->state->verified;
	const kt_read_head *rh = w->rh;
	kt_bytes r1, r2;
	int r;

	if (vs->size == 0) {
		/* First use: nothing to be consistent with. */
		if (rh->n_consistency != 0)
			return head_fail(w, KT_ERR_CLIENT_INCONSISTENT,
					 KT_ERR_LOG_PROOF_LENGTH, "consistency");
		return KT_OK;
	}
	if (w->o.cp.size < vs->size)
		return head_fail(w, KT_ERR_CLIENT_ROLLBACK, KT_ERR_LOG_BAD_SIZE,
				 "rollback");
	/* Roots are public: memcmp is fine. */
	if (w->o.cp.size == vs->size &&
	    memcmp(w->o.cp.root, vs->root, KT_HASH_BYTES) != 0)
		return head_fail(w, KT_ERR_CLIENT_FORK, KT_ERR_LOG_ROOT_MISMATCH,
				 "fork");
	r1.p = vs->root;
	r1.len = KT_HASH_BYTES;
	r2.p = w->o.cp.root;
	r2.len = KT_HASH_BYTES;
	r = kt_log_verify_consistency(vs->size, w->o.cp.size, r1, r2,
				      rh->consistency, rh->n_consistency);
	if (r != KT_OK)
		return head_fail(w, KT_ERR_CLIENT_INCONSISTENT, r, "consistency");
	return KT_OK;
}

/* Steps 6-7: the last entry and its inclusion. */
static int head_last_entry(head_work *w)
{
	const kt_read_head *rh = w->rh;
	uint8_t lh[KT_HASH_BYTES];
	kt_bytes lhb, root;
	int r;

	r = kt_log_entry_decode(&w->entry, rh->last_entry.p, rh->last_entry.len);
	if (r != KT_OK)
		return head_fail(w, KT_ERR_CLIENT_ENTRY_MALFORMED, r,
				 "last_entry");
	w->have_entry = 1;
	if (w->entry.type == KT_ENTRY_UPDATE &&
	    w->entry.leaf.log_index != w->o.cp.size - 1)
		return head_fail(w, KT_ERR_CLIENT_ENTRY_MALFORMED,
				 KT_ERR_LEAF_MISMATCH, "last_entry");
	kt_log_leaf_hash(lh, rh->last_entry.p, rh->last_entry.len);
	lhb.p = lh;
	lhb.len = sizeof(lh);
	root.p = w->o.cp.root;
	root.len = KT_HASH_BYTES;
	r = kt_log_verify_inclusion(lhb, w->o.cp.size - 1, w->o.cp.size,
				    rh->last_entry_inclusion,
				    rh->n_last_entry_inclusion, root);
	if (r != KT_OK)
		return head_fail(w, KT_ERR_CLIENT_ENTRY_INCLUSION, r,
				 "last_entry_inclusion");
	return KT_OK;
}

/* Step 8: the checkpoint's time. */
static int head_time(head_work *w)
{
	const kt_trust_config *cfg = w->cfg;
	uint64_t ts = w->entry.timestamp_ms, now = w->now_ms;
	int r;

	if (ts > now && ts - now > cfg->max_skew_ms) {
		r = head_fail(w, KT_ERR_CLIENT_FUTURE, KT_ERR_CLIENT_FUTURE,
			      "future");
		kt_ev_u64(w->ev, "max_skew_ms", cfg->max_skew_ms);
		return r;
	}
	if (now > ts && now - ts > cfg->max_age_ms) {
		r = head_fail(w, KT_ERR_CLIENT_STALE, KT_ERR_CLIENT_STALE,
			      "max_age");
		kt_ev_u64(w->ev, "max_age_ms", cfg->max_age_ms);
		return r;
	}
	if (w->state->verified.size > 0 && ts < w->state->verified.timestamp_ms)
		return head_fail(w, KT_ERR_CLIENT_TIME_ORDER,
				 KT_ERR_CLIENT_TIME_ORDER, "time_order");
	return KT_OK;
}

/* The verified head and the state to persist. */
static int head_results(head_work *w, kt_verified_head *head,
			kt_trust_state *ns)
{
	kt_trusted_checkpoint *v = &ns->verified;
	int r;

	head->size = w->o.cp.size;
	memcpy(head->root, w->o.cp.root, KT_HASH_BYTES);
	memcpy(head->map_root, w->entry.map_root, KT_ROOT_BYTES);
	head->timestamp_ms = w->entry.timestamp_ms;
	head->cosigned = w->o.cosigned;
	r = dup_bytes(&head->note, &head->note_len, w->rh->checkpoint.p,
		      w->rh->checkpoint.len);
	if (r != KT_OK)
		return r;
	v->size = head->size;
	memcpy(v->root, head->root, KT_HASH_BYTES);
	v->timestamp_ms = head->timestamp_ms;
	r = dup_bytes(&v->note, &v->note_len, head->note, head->note_len);
	if (r != KT_OK)
		return r;
	if (w->o.cosigned)
		return trusted_copy(&ns->cosigned, v);
	return trusted_copy(&ns->cosigned, &w->state->cosigned);
}

static int head_args_ok(const kt_read_head *rh)
{
	return bytes_ok(rh->checkpoint) && bytes_ok(rh->last_entry) &&
	       list_ok(rh->consistency, rh->n_consistency) &&
	       list_ok(rh->last_entry_inclusion, rh->n_last_entry_inclusion);
}

int kt_verify_head(const kt_trust_config *cfg, const kt_trust_state *state,
		   uint64_t now_ms, const kt_read_head *rh,
		   kt_verified_head *head, kt_trust_state *new_state,
		   kt_evidence *ev)
{
	kt_verified_head h;
	kt_trust_state ns;
	head_work w;
	int r;

	kt_evidence_free(ev);
	memset(&h, 0, sizeof(h));
	kt_trust_state_init(&ns);
	if (head != NULL)
		memset(head, 0, sizeof(*head));
	if (new_state != NULL && new_state != state)
		kt_trust_state_init(new_state);
	if (cfg == NULL || state == NULL || rh == NULL || head == NULL ||
	    new_state == NULL || new_state == state || !head_args_ok(rh))
		return kt_ev_fail(ev, KT_ERR_INVALID_ARG, KT_ERR_INVALID_ARG,
				  CHK_ARGS);
	if (!config_sane(cfg))
		return kt_ev_fail(ev, KT_ERR_CLIENT_CONFIG, KT_ERR_CLIENT_CONFIG,
				  CHK_CONFIG);
	memset(&w, 0, sizeof(w));
	w.cfg = cfg;
	w.state = state;
	w.rh = rh;
	w.now_ms = now_ms;
	w.ev = ev;
	if (!state_sane(state))
		return head_fail(&w, KT_ERR_CLIENT_STATE, KT_ERR_CLIENT_STATE,
				 CHK_STATE);
	r = head_policy(&w);
	if (r == KT_OK)
		r = head_consistency(&w);
	if (r == KT_OK)
		r = head_last_entry(&w);
	if (r == KT_OK)
		r = head_time(&w);
	if (r != KT_OK)
		return r;
	r = head_results(&w, &h, &ns);
	if (r != KT_OK) {
		kt_verified_head_free(&h);
		kt_trust_state_free(&ns);
		return kt_ev_fail(ev, r, r, "memory");
	}
	*head = h;
	*new_state = ns;
	return KT_OK;
}

/* ---- lookups ---------------------------------------------------------- */

void kt_lookup_result_init(kt_lookup_result *res)
{
	memset(res, 0, sizeof(*res));
	kt_account_value_init(&res->value);
}

void kt_lookup_result_free(kt_lookup_result *res)
{
	if (res == NULL)
		return;
	kt_account_value_free(&res->value);
	kt_lookup_result_init(res);
}

/* What a lookup failure records. */
typedef struct lookup_work {
	const kt_verified_head *head;
	const uint8_t *account;
	size_t account_len;
	const kt_lookup_response *resp;
	kt_evidence *ev;
	int have_index;
	uint8_t index[KT_INDEX_BYTES];
} lookup_work;

static int lookup_fail(lookup_work *w, int code, int cause, const char *check)
{
	kt_evidence *ev = w->ev;
	const kt_lookup_response *p = w->resp;
	const kt_verified_head *h = w->head;

	if (ev == NULL)
		return code;
	kt_ev_fail(ev, code, cause, check);
	kt_ev_checkpoint(ev, KT_EV_CHECKPOINT, h->note, h->note_len, 1, h->size,
			 h->root, 1, h->timestamp_ms);
	kt_ev_bytes(ev, "map_root", h->map_root, KT_ROOT_BYTES);
	kt_ev_bytes(ev, "account", w->account, w->account_len);
	if (w->have_index)
		kt_ev_bytes(ev, "index", w->index, KT_INDEX_BYTES);
	kt_ev_bytes(ev, "vrf_proof", p->vrf_proof.p, p->vrf_proof.len);
	kt_ev_bytes(ev, "map_proof", p->map_proof.p, p->map_proof.len);
	kt_ev_bytes(ev, "leaf", p->leaf.p, p->leaf.len);
	kt_ev_bytes(ev, "value", p->value.p, p->value.len);
	kt_ev_bytes(ev, "provenance", p->provenance.p, p->provenance.len);
	kt_ev_bytes(ev, "opening", p->opening.p, p->opening.len);
	return code;
}

static int lookup_args_ok(const kt_lookup_response *p)
{
	return bytes_ok(p->vrf_proof) && bytes_ok(p->map_proof) &&
	       bytes_ok(p->leaf) && bytes_ok(p->value) &&
	       bytes_ok(p->provenance) && bytes_ok(p->opening);
}

/* Common argument checks of leaf and lookup. */
static int lookup_args(const kt_trust_config *cfg, const kt_verified_head *head,
		       const uint8_t *account, size_t account_len,
		       kt_evidence *ev)
{
	if (cfg == NULL || head == NULL || account == NULL || head->size == 0 ||
	    kt_account_check(account, account_len) != KT_OK)
		return kt_ev_fail(ev, KT_ERR_INVALID_ARG, KT_ERR_INVALID_ARG,
				  CHK_ARGS);
	if (!config_sane(cfg))
		return kt_ev_fail(ev, KT_ERR_CLIENT_CONFIG, KT_ERR_CLIENT_CONFIG,
				  CHK_CONFIG);
	return KT_OK;
}

/* VRF and map proof; fills *out.  Arguments already checked. */
static int leaf_verify(const kt_trust_config *cfg, lookup_work *w,
		       kt_verified_leaf *out)
{
	const kt_lookup_response *p = w->resp;
	uint8_t beta[KT_VRF_OUTPUT_BYTES], digest[KT_HASH_BYTES];
	kt_map_leaf leaf;
	int r;

	if (p->vrf_proof.len != KT_VRF_PROOF_BYTES)
		return lookup_fail(w, KT_ERR_CLIENT_VRF, KT_ERR_BAD_LENGTH, "vrf");
	/* config_sane: a ready vrf_key is vrf_pk's. */
	if (cfg->vrf_key.ready == KT_VRF_KEY_READY)
		r = kt_vrf_verify_prepared(beta, &cfg->vrf_key, p->vrf_proof.p,
					   w->account, w->account_len);
	else
		r = kt_vrf_verify(beta, cfg->vrf_pk, p->vrf_proof.p, w->account,
				  w->account_len);
	if (r != KT_OK)
		return lookup_fail(w, KT_ERR_CLIENT_VRF, r, "vrf");
	kt_vrf_index(w->index, beta);
	w->have_index = 1;
	if (p->leaf.len == 0) {
		r = kt_map_verify(w->head->map_root, w->index, NULL, p->map_proof);
		if (r != KT_OK)
			return lookup_fail(w, KT_ERR_CLIENT_MAP_PROOF, r,
					   "map_proof");
		memset(&leaf, 0, sizeof(leaf));
	} else {
		r = kt_map_leaf_decode(&leaf, p->leaf.p, p->leaf.len);
		if (r == KT_OK && leaf.version == 0)
			r = KT_ERR_VERSION_GAP;
		if (r == KT_OK && leaf.log_index >= w->head->size)
			r = KT_ERR_LOG_BAD_SIZE;
		if (r != KT_OK)
			return lookup_fail(w, KT_ERR_CLIENT_LEAF_MALFORMED, r,
					   "leaf");
		kt_map_leaf_digest(digest, &leaf);
		r = kt_map_verify(w->head->map_root, w->index, digest,
				  p->map_proof);
		if (r != KT_OK)
			return lookup_fail(w, KT_ERR_CLIENT_MAP_PROOF, r,
					   "map_proof");
	}
	out->present = p->leaf.len != 0;
	memcpy(out->index, w->index, KT_INDEX_BYTES);
	out->leaf = leaf;
	out->head_size = w->head->size;
	memcpy(out->map_root, w->head->map_root, KT_ROOT_BYTES);
	return KT_OK;
}

int kt_verify_leaf(const kt_trust_config *cfg, const kt_verified_head *head,
		   const uint8_t *account, size_t account_len,
		   kt_bytes vrf_proof, kt_bytes map_proof, kt_bytes leaf,
		   kt_verified_leaf *out, kt_evidence *ev)
{
	kt_lookup_response resp;
	lookup_work w;
	int r;

	kt_evidence_free(ev);
	if (out != NULL)
		memset(out, 0, sizeof(*out));
	memset(&resp, 0, sizeof(resp));
	resp.vrf_proof = vrf_proof;
	resp.map_proof = map_proof;
	resp.leaf = leaf;
	if (out == NULL || !lookup_args_ok(&resp))
		return kt_ev_fail(ev, KT_ERR_INVALID_ARG, KT_ERR_INVALID_ARG,
				  CHK_ARGS);
	r = lookup_args(cfg, head, account, account_len, ev);
	if (r != KT_OK)
		return r;
	memset(&w, 0, sizeof(w));
	w.head = head;
	w.account = account;
	w.account_len = account_len;
	w.resp = &resp;
	w.ev = ev;
	r = leaf_verify(cfg, &w, out);
	if (r != KT_OK)
		memset(out, 0, sizeof(*out));
	return r;
}

/* The index of the first device that fails the recipient checks. */
static size_t first_bad_device(const kt_account_value *v)
{
	size_t i;

	for (i = 0; i < v->count; i++)
		if (kt_device_validate_recipient(&v->devices[i]) != KT_OK)
			break;
	return i;
}

/* Opening, value, provenance of a present account. */
static int lookup_open(lookup_work *w, const kt_verified_leaf *vl,
		       kt_lookup_result *res)
{
	const kt_lookup_response *p = w->resp;
	size_t bad;
	int r;

	if (p->opening.len != KT_OPENING_BYTES)
		return lookup_fail(w, KT_ERR_CLIENT_OPENING, KT_ERR_BAD_LENGTH,
				   "opening");
	r = kt_commitment_verify(vl->leaf.commitment, p->opening.p, w->account,
				 w->account_len, vl->leaf.version, p->value.p,
				 p->value.len, p->provenance.p,
				 p->provenance.len);
	if (r != KT_OK)
		return lookup_fail(w, KT_ERR_CLIENT_OPENING, r, "opening");
	r = kt_account_value_decode(&res->value, p->value.p, p->value.len);
	if (r != KT_OK)
		return lookup_fail(w, KT_ERR_CLIENT_VALUE_MALFORMED, r, "value");
	/* Every encryption key; sign keys by type (kt_types.h: a sender
	 * never uses them, kt_sig_verify checks them where they are used). */
	r = kt_account_value_validate_recipients(&res->value);
	if (r != KT_OK) {
		bad = first_bad_device(&res->value);
		lookup_fail(w, KT_ERR_CLIENT_VALUE_INVALID, r, "value_keys");
		kt_ev_u64(w->ev, "device", bad);
		if (bad < res->value.count)
			kt_ev_bytes(w->ev, "device_id", res->value.devices[bad].id,
				    res->value.devices[bad].id_len);
		return KT_ERR_CLIENT_VALUE_INVALID;
	}
	r = kt_provenance_decode(&res->provenance, p->provenance.p,
				 p->provenance.len);
	if (r != KT_OK)
		return lookup_fail(w, KT_ERR_CLIENT_PROVENANCE_MALFORMED, r,
				   "provenance");
	return KT_OK;
}

int kt_verify_lookup(const kt_trust_config *cfg, const kt_verified_head *head,
		     const uint8_t *account, size_t account_len,
		     const kt_lookup_response *resp, kt_lookup_result *res,
		     kt_evidence *ev)
{
	lookup_work w;
	int r;

	kt_evidence_free(ev);
	if (res != NULL)
		kt_lookup_result_init(res);
	if (res == NULL || resp == NULL || !lookup_args_ok(resp))
		return kt_ev_fail(ev, KT_ERR_INVALID_ARG, KT_ERR_INVALID_ARG,
				  CHK_ARGS);
	r = lookup_args(cfg, head, account, account_len, ev);
	if (r != KT_OK)
		return r;
	memset(&w, 0, sizeof(w));
	w.head = head;
	w.account = account;
	w.account_len = account_len;
	w.resp = resp;
	w.ev = ev;
	r = leaf_verify(cfg, &w, &res->leaf);
	if (r == KT_OK && !res->leaf.present &&
	    (resp->value.len != 0 || resp->provenance.len != 0 ||
	     resp->opening.len != 0))
		r = lookup_fail(&w, KT_ERR_CLIENT_LEAF_MALFORMED,
				KT_ERR_INVALID_ARG, "leaf");
	if (r == KT_OK && res->leaf.present)
		r = lookup_open(&w, &res->leaf, res);
	if (r != KT_OK)
		kt_lookup_result_free(res);
	return r;
}

/* ---- history ------------------------------------------------------------ */

void kt_history_report_init(kt_history_report *rep)
{
	memset(rep, 0, sizeof(*rep));
	kt_account_value_init(&rep->value);
}

void kt_history_report_free(kt_history_report *rep)
{
	if (rep == NULL)
		return;
	free(rep->items);
	kt_account_value_free(&rep->value);
	kt_history_report_init(rep);
}

/* The walk along the versions. */
typedef struct hist_work {
	const kt_trust_config *cfg;
	const kt_verified_head *head;
	const uint8_t *account;
	size_t account_len;
	const kt_verified_leaf *cur;
	const kt_history_checked *checked;
	const kt_owner_set *own;
	kt_evidence *ev;
	uint64_t v;                        /* last version verified */
	uint8_t h[KT_HASH_BYTES];          /* its history */
	int prev_known;
	kt_account_value prev;             /* value at v (if known) */
	int have_last;
	uint64_t last_log_index;
	kt_log_entry last;                 /* entry of version v (if any) */
	const kt_history_version *hv;      /* the version being checked */
} hist_work;

static int hist_fail(hist_work *w, int code, int cause, const char *check)
{
	kt_evidence *ev = w->ev;
	const kt_verified_head *h = w->head;
	const kt_history_version *hv = w->hv;
	uint8_t leaf[KT_MAP_LEAF_BYTES];
	kt_wbuf wb;

	if (ev == NULL)
		return code;
	kt_ev_fail(ev, code, cause, check);
	kt_ev_checkpoint(ev, KT_EV_CHECKPOINT, h->note, h->note_len, 1, h->size,
			 h->root, 1, h->timestamp_ms);
	kt_ev_bytes(ev, "account", w->account, w->account_len);
	kt_ev_bytes(ev, "index", w->cur->index, KT_INDEX_BYTES);
	kt_map_leaf_bytes(leaf, &w->cur->leaf);
	kt_ev_bytes(ev, "leaf", leaf, sizeof(leaf));
	kt_ev_u64(ev, "checked_version", w->checked->version);
	kt_ev_u64(ev, "version", w->v + (hv != NULL ? 1 : 0));
	kt_ev_bytes(ev, "history", w->h, KT_HASH_BYTES);
	if (w->prev_known) {
		kt_wbuf_init(&wb, KT_VALUE_MAX_BYTES);
		if (kt_account_value_encode(&wb, &w->prev) == KT_OK)
			kt_ev_bytes(ev, "previous_value", wb.data, wb.len);
		kt_wbuf_free(&wb);
	}
	if (hv == NULL)
		return code;
	kt_ev_u64(ev, "log_index", hv->log_index);
	kt_ev_bytes(ev, "entry", hv->entry.p, hv->entry.len);
	kt_ev_list(ev, "inclusion", hv->inclusion, hv->n_inclusion);
	kt_ev_bytes(ev, "value", hv->value.p, hv->value.len);
	kt_ev_bytes(ev, "provenance", hv->provenance.p, hv->provenance.len);
	kt_ev_bytes(ev, "opening", hv->opening.p, hv->opening.len);
	return code;
}

/* The entry of the next version: decode, index, log_index, version,
 * inclusion, history step (into hx). */
static int hist_entry(hist_work *w, kt_log_entry *e, uint8_t hx[KT_HASH_BYTES])
{
	const kt_history_version *hv = w->hv;
	uint64_t want = w->v + 1;
	uint8_t lh[KT_HASH_BYTES];
	kt_bytes lhb, root;
	int r;

	r = kt_log_entry_decode(e, hv->entry.p, hv->entry.len);
	if (r == KT_OK && e->type != KT_ENTRY_UPDATE)
		r = KT_ERR_BAD_TYPE;
	if (r != KT_OK)
		return hist_fail(w, KT_ERR_CLIENT_ENTRY_MALFORMED, r, "entry");
	/* Indices and log positions are public: memcmp is fine. */
	if (memcmp(e->index, w->cur->index, KT_INDEX_BYTES) != 0 ||
	    e->leaf.log_index != hv->log_index)
		return hist_fail(w, KT_ERR_CLIENT_ENTRY_MISMATCH,
				 KT_ERR_LEAF_MISMATCH, "entry_match");
	if (hv->log_index >= w->head->size ||
	    (w->have_last && hv->log_index <= w->last_log_index))
		return hist_fail(w, KT_ERR_CLIENT_ENTRY_MISMATCH,
				 KT_ERR_LOG_BAD_SIZE, "entry_match");
	if (e->leaf.version != want)
		return hist_fail(w, KT_ERR_CLIENT_VERSION_GAP, KT_ERR_VERSION_GAP,
				 "version_sequence");
	kt_log_leaf_hash(lh, hv->entry.p, hv->entry.len);
	lhb.p = lh;
	lhb.len = sizeof(lh);
	root.p = w->head->root;
	root.len = KT_HASH_BYTES;
	r = kt_log_verify_inclusion(lhb, hv->log_index, w->head->size,
				    hv->inclusion, hv->n_inclusion, root);
	if (r != KT_OK)
		return hist_fail(w, KT_ERR_CLIENT_ENTRY_INCLUSION, r,
				 "entry_inclusion");
	kt_history_step(hx, w->h, want, hv->log_index, e->leaf.commitment);
	if (memcmp(hx, e->leaf.history, KT_HASH_BYTES) != 0) {
		r = hist_fail(w, KT_ERR_CLIENT_HISTORY, KT_ERR_HISTORY_MISMATCH,
			      "history_chain");
		kt_ev_bytes(w->ev, "expected_history", hx, KT_HASH_BYTES);
		return r;
	}
	return KT_OK;
}

/* Opening, value and provenance of the next version. */
static int hist_open(hist_work *w, const kt_log_entry *e, kt_account_value *val,
		     kt_provenance *pv)
{
	const kt_history_version *hv = w->hv;
	int r;

	if (hv->opening.len != KT_OPENING_BYTES)
		return hist_fail(w, KT_ERR_CLIENT_OPENING, KT_ERR_BAD_LENGTH,
				 "opening");
	r = kt_commitment_verify(e->leaf.commitment, hv->opening.p, w->account,
				 w->account_len, w->v + 1, hv->value.p,
				 hv->value.len, hv->provenance.p,
				 hv->provenance.len);
	if (r != KT_OK)
		return hist_fail(w, KT_ERR_CLIENT_OPENING, r, "opening");
	r = kt_account_value_decode(val, hv->value.p, hv->value.len);
	if (r != KT_OK)
		return hist_fail(w, KT_ERR_CLIENT_VALUE_MALFORMED, r, "value");
	r = kt_provenance_decode(pv, hv->provenance.p, hv->provenance.len);
	if (r != KT_OK)
		return hist_fail(w, KT_ERR_CLIENT_PROVENANCE_MALFORMED, r,
				 "provenance");
	return KT_OK;
}

/* The provenance's signature and the transition from the previous value;
 * *signer is the authorising device at v-1 (device provenance, if known). */
static int hist_authorised(hist_work *w, const kt_log_entry *e,
			   const kt_account_value *val, const kt_provenance *pv,
			   const kt_device **signer)
{
	int r = KT_OK;

	*signer = NULL;
	if (pv->type == KT_PROV_DEVICE && w->prev_known)
		*signer = kt_account_value_find(&w->prev, pv->device_id,
						pv->device_id_len);
	/* A device signature needs the value at v-1 (the signer's key). */
	if (pv->type != KT_PROV_DEVICE || w->prev_known)
		r = kt_provenance_verify_signature(w->prev_known ? &w->prev : NULL,
						   pv, w->account, w->account_len,
						   w->v);
	if (r == KT_ERR_NOMEM)
		return hist_fail(w, r, r, "memory");
	if (r != KT_OK)
		return hist_fail(w, KT_ERR_CLIENT_PROVENANCE_SIG, r,
				 "provenance_signature");
	if (!w->prev_known)
		return KT_OK;
	r = kt_provenance_check_transition(&w->prev, val, pv, e->timestamp_ms);
	if (r == KT_ERR_NOMEM)
		return hist_fail(w, r, r, "memory");
	if (r != KT_OK)
		return hist_fail(w, KT_ERR_CLIENT_TRANSITION, r, "transition");
	return KT_OK;
}

static int own_id(const kt_owner_set *own, const uint8_t *id, size_t len)
{
	size_t i;

	if (own == NULL)
		return 0;
	/* Device ids are public: memcmp is fine. */
	for (i = 0; i < own->n_device_ids; i++)
		if (own->device_ids[i].len == len &&
		    memcmp(own->device_ids[i].p, id, len) == 0)
			return 1;
	return 0;
}

static int own_key(const kt_owner_set *own, const kt_sign_key *k)
{
	size_t i;

	if (own == NULL)
		return 0;
	/* Public keys: memcmp is fine. */
	for (i = 0; i < own->n_sign_keys; i++)
		if (own->sign_keys[i].type == k->type &&
		    memcmp(own->sign_keys[i].pk, k->pk, sizeof(k->pk)) == 0)
			return 1;
	return 0;
}

static unsigned hist_flags(const hist_work *w, const kt_provenance *pv,
			   const kt_device *signer)
{
	unsigned flags = 0;

	if (pv->type == KT_PROV_OPERATOR)
		flags |= KT_HISTORY_FLAG_OPERATOR;
	else if (pv->type == KT_PROV_REGISTRAR &&
		 !own_key(w->own, &pv->op.device.sign_pk))
		flags |= KT_HISTORY_FLAG_REGISTRAR;
	else if (pv->type == KT_PROV_DEVICE &&
		 !own_id(w->own, pv->device_id, pv->device_id_len) &&
		 (signer == NULL || !own_key(w->own, &signer->sign_pk)))
		flags |= KT_HISTORY_FLAG_UNKNOWN_DEVICE;
	if (!w->prev_known)
		flags |= KT_HISTORY_FLAG_UNCHECKED;
	return flags;
}

/* Verifies versions[i] = version w->v + 1 and advances the walk. */
static int hist_one(hist_work *w, kt_history_item *item)
{
	const kt_device *signer;
	kt_account_value val;
	kt_provenance *pv = &item->provenance;
	kt_log_entry e;
	uint8_t hx[KT_HASH_BYTES];
	int r;

	kt_account_value_init(&val);
	if (w->v >= w->cur->leaf.version)
		return hist_fail(w, KT_ERR_CLIENT_VERSION_GAP, KT_ERR_VERSION_GAP,
				 "version_sequence");
	r = hist_entry(w, &e, hx);
	if (r == KT_OK)
		r = hist_open(w, &e, &val, pv);
	if (r == KT_OK)
		r = hist_authorised(w, &e, &val, pv, &signer);
	if (r != KT_OK) {
		kt_account_value_free(&val);
		return r;
	}
	item->version = w->v + 1;
	item->log_index = w->hv->log_index;
	item->timestamp_ms = e.timestamp_ms;
	item->flags = hist_flags(w, pv, signer);
	kt_account_value_free(&w->prev);
	w->prev = val;
	w->prev_known = 1;
	w->v++;
	memcpy(w->h, hx, KT_HASH_BYTES);
	w->have_last = 1;
	w->last_log_index = w->hv->log_index;
	w->last = e;
	return KT_OK;
}

/* After the walk: reaching the current version, the chain must end at the
 * current leaf. */
static int hist_end(hist_work *w, kt_history_report *rep)
{
	const kt_map_leaf *cl = &w->cur->leaf;
	int r;

	w->hv = NULL;
	rep->complete = w->v == cl->version;
	if (!rep->complete)
		return KT_OK;
	if (memcmp(w->h, cl->history, KT_HASH_BYTES) != 0) {
		r = hist_fail(w, KT_ERR_CLIENT_HISTORY, KT_ERR_HISTORY_MISMATCH,
			      "history_chain");
		kt_ev_bytes(w->ev, "expected_history", cl->history,
			    KT_HASH_BYTES);
		return r;
	}
	if (w->have_last &&
	    (r = kt_log_entry_check_leaf(&w->last, w->cur->index, cl)) != KT_OK)
		return hist_fail(w, KT_ERR_CLIENT_ENTRY_MISMATCH, r,
				 "entry_match");
	return KT_OK;
}

static int hist_args_ok(const kt_history_version *versions, size_t n)
{
	size_t i;

	if (n > 0 && versions == NULL)
		return 0;
	for (i = 0; i < n; i++) {
		const kt_history_version *v = &versions[i];

		if (!bytes_ok(v->entry) || !bytes_ok(v->value) ||
		    !bytes_ok(v->provenance) || !bytes_ok(v->opening) ||
		    !list_ok(v->inclusion, v->n_inclusion))
			return 0;
	}
	return 1;
}

static int owner_ok(const kt_owner_set *own)
{
	return own == NULL ||
	       ((own->n_device_ids == 0 || own->device_ids != NULL) &&
		(own->n_sign_keys == 0 || own->sign_keys != NULL) &&
		list_ok(own->device_ids, own->n_device_ids));
}

/* Arguments, the checked state and the starting point of the walk. */
static int hist_start(hist_work *w)
{
	const kt_history_checked *c = w->checked;
	const kt_verified_leaf *cur = w->cur;

	if (!cur->present || cur->head_size != w->head->size ||
	    memcmp(cur->map_root, w->head->map_root, KT_ROOT_BYTES) != 0 ||
	    (c->version == 0 &&
	     (memcmp(c->history, zero32, KT_HASH_BYTES) != 0 ||
	      (c->value != NULL && c->value->count != 0))))
		return kt_ev_fail(w->ev, KT_ERR_INVALID_ARG, KT_ERR_INVALID_ARG,
				  CHK_ARGS);
	w->v = c->version;
	memcpy(w->h, c->history, KT_HASH_BYTES);
	if (c->version > cur->leaf.version)
		return hist_fail(w, KT_ERR_CLIENT_HISTORY, KT_ERR_VERSION_GAP,
				 "history_chain");
	if (c->version == 0) {
		w->prev_known = 1; /* version 0 is the empty value */
	} else if (c->value != NULL) {
		if (kt_account_value_copy(&w->prev, c->value) != KT_OK)
			return kt_ev_fail(w->ev, KT_ERR_NOMEM, KT_ERR_NOMEM,
					  "memory");
		w->prev_known = 1;
	}
	return KT_OK;
}

int kt_verify_history(const kt_trust_config *cfg, const kt_verified_head *head,
		      const uint8_t *account, size_t account_len,
		      const kt_verified_leaf *current,
		      const kt_history_version *versions, size_t n,
		      const kt_history_checked *checked, const kt_owner_set *own,
		      kt_history_report *report, kt_evidence *ev)
{
	kt_history_report rep;
	hist_work w;
	size_t i;
	int r;

	kt_evidence_free(ev);
	if (report != NULL)
		kt_history_report_init(report);
	if (report == NULL || current == NULL || checked == NULL ||
	    n > KT_VERIFY_MAX_HISTORY || !hist_args_ok(versions, n) ||
	    !owner_ok(own))
		return kt_ev_fail(ev, KT_ERR_INVALID_ARG, KT_ERR_INVALID_ARG,
				  CHK_ARGS);
	r = lookup_args(cfg, head, account, account_len, ev);
	if (r != KT_OK)
		return r;
	kt_history_report_init(&rep);
	memset(&w, 0, sizeof(w));
	kt_account_value_init(&w.prev);
	w.cfg = cfg;
	w.head = head;
	w.account = account;
	w.account_len = account_len;
	w.cur = current;
	w.checked = checked;
	w.own = own;
	w.ev = ev;
	r = hist_start(&w);
	if (r == KT_OK && n > 0) {
		rep.items = calloc(n, sizeof(*rep.items));
		if (rep.items == NULL)
			r = kt_ev_fail(ev, KT_ERR_NOMEM, KT_ERR_NOMEM, "memory");
	}
	for (i = 0; r == KT_OK && i < n; i++) {
		w.hv = &versions[i];
		r = hist_one(&w, &rep.items[i]);
		if (r == KT_OK) {
			rep.n = i + 1;
			rep.flagged += rep.items[i].flags != 0;
		}
	}
	if (r == KT_OK)
		r = hist_end(&w, &rep);
	if (r != KT_OK) {
		kt_account_value_free(&w.prev);
		kt_history_report_free(&rep);
		return r;
	}
	rep.checked_version = w.v;
	memcpy(rep.checked_history, w.h, KT_HASH_BYTES);
	rep.value_known = w.prev_known;
	rep.value = w.prev; /* ownership moves to the report */
	*report = rep;
	return KT_OK;
}
