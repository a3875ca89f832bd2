/*
 * server_test_apply.c — the deterministic apply path (server/apply.h) and
 * the batch encoding.
 *
 * Every test works on a fresh RocksDB in its own mkdtemp directory, removed
 * after.  Next to the database the test keeps an independent MODEL built
 * only from merkle/ functions (an in-memory RFC 9162 log, an in-memory
 * versioned map, the value editing helpers of kt_types.h rather than
 * kt_value_apply_op): every entry, leaf, commitment, history, map root,
 * log root and account record the apply path writes is compared with it
 * byte for byte, and every checkpoint is opened with the log's verifier key.
 *   (1) lifecycle: enrol -> add -> set push -> remove -> remove last (empty
 *       value, version 5); the map is proven at EVERY checkpoint size
 *       (inclusion with that size's digest, absence of another index) and
 *       the forgery twins (other digest, other key, flipped note) fail;
 *   (2) determinism: the same batches on two fresh databases give
 *       byte-identical entries and checkpoints;
 *   (3) refusals: stale version, duplicate device, unknown device, no-op,
 *       over the cap, device op on a missing account, a first op that may
 *       not create an account: each its code, nothing appended, root and
 *       size unchanged, no checkpoint;
 *   (4) a mixed batch (failures between successes, two changes of one
 *       account, two new accounts) and a heartbeat whose batch clock went
 *       back (timestamps never go back);
 *   (5) replays at an applied index <= the stored one are skipped;
 *   (6) an injected commit failure changes nothing, on disk or in memory,
 *       and the next batch succeeds;
 *   (7) reopening continues the log (same head, next index); another
 *       origin is refused; witness cosignatures and the cosigned size are
 *       stored between batches;
 *   (8) the batch encoding: known answer, round trip, and every malformed
 *       variant refused;
 *   (9) cost: apply time per change is measured and printed (no assertion).
 */
#define _GNU_SOURCE 1
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cmocka.h>
#include <sodium.h>

#include "apply.h"
#include "kt_checkpoint.h"
#include "kt_commit.h"
#include "kt_enc.h"
#include "kt_log.h"
#include "kt_map.h"
#include "kt_note.h"
#include "kt_types.h"
#include "kt_vrf.h"
#include "storage.h"
#include "kt_test_fs.h"

#define ORIGIN "test.example/log"
#define MAX_ACCTS 16
#define MAX_SNAPS 64
#define T0 UINT64_C(1767225600000) /* 2026-01-01T00:00:00Z */

/* ---- fixture and model ---------------------------------------------------- */

struct macct {
	char name[KT_ACCOUNT_MAX + 1];
	uint8_t index[KT_INDEX_BYTES];
	uint64_t version;
	uint8_t history[KT_HASH_BYTES];
	uint8_t digest[KT_HASH_BYTES];
	kt_account_value value;
};

struct snap {
	uint64_t size;
	uint8_t root[KT_HASH_BYTES];
	size_t n;
	uint8_t index[MAX_ACCTS][KT_INDEX_BYTES];
	uint8_t digest[MAX_ACCTS][KT_HASH_BYTES];
};

struct fx {
	char dir[64];
	kt_storage *st;
	kt_apply *a;
	kt_note_signer signer;
	uint8_t vrf_pk[KT_VRF_PUBLICKEY_BYTES], vrf_sk[KT_VRF_SECRETKEY_BYTES];
	size_t max_devices;
	uint64_t applied;          /* next applied index */
	/* the model */
	kt_log_memstore *lm;
	kt_log log;
	kt_map_mem *mm;
	uint8_t map_root[KT_HASH_BYTES];
	uint64_t last_ts;
	struct macct acct[MAX_ACCTS];
	size_t nacct;
	struct snap snaps[MAX_SNAPS];
	size_t nsnaps;
};

static void open_apply(struct fx *f)
{
	kt_apply_params p;

	memset(&p, 0, sizeof(p));
	p.storage = f->st;
	p.log_signer = &f->signer;
	p.origin = ORIGIN;
	p.origin_len = strlen(ORIGIN);
	p.max_devices = f->max_devices;
	assert_int_equal(kt_apply_open(&p, &f->a), KT_OK);
}

static struct fx *fx_new(size_t max_devices)
{
	struct fx *f = calloc(1, sizeof(*f));
	uint8_t seed[32];

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/kt-apply-test-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(kt_storage_open(f->dir, NULL, &f->st), KT_OK);
	memset(seed, 0x5a, sizeof(seed));
	assert_int_equal(kt_note_signer_from_seed(&f->signer, ORIGIN,
						  strlen(ORIGIN),
						  KT_NOTE_KEY_ED25519, seed),
			 KT_OK);
	memset(seed, 0x6b, sizeof(seed));
	assert_int_equal(kt_vrf_keypair_from_seed(f->vrf_pk, f->vrf_sk, seed),
			 KT_OK);
	f->max_devices = max_devices;
	f->applied = 1;
	open_apply(f);
	assert_int_equal(kt_log_memstore_new(&f->lm), KT_OK);
	kt_log_init(&f->log, kt_log_memstore_store(f->lm));
	assert_int_equal(kt_map_mem_new(KT_MAP_MEM_HISTORY, 0, &f->mm), KT_OK);
	return f;
}

static void fx_free(struct fx *f)
{
	size_t i;

	kt_apply_free(f->a);
	kt_storage_close(f->st);
	kt_test_rm_tree(f->dir);
	kt_log_memstore_free(f->lm);
	kt_map_mem_free(f->mm);
	for (i = 0; i < f->nacct; i++)
		kt_account_value_free(&f->acct[i].value);
	kt_note_signer_wipe(&f->signer);
	free(f);
}

/* ---- building changes ------------------------------------------------------- */

static void device_keys(uint8_t seed_byte, uint8_t pk[32], uint8_t sk[64],
			uint8_t enc[32])
{
	uint8_t seed[32], xs[32];

	memset(seed, seed_byte, sizeof(seed));
	assert_int_equal(crypto_sign_seed_keypair(pk, sk, seed), 0);
	memset(xs, (uint8_t)(seed_byte + 0x40), sizeof(xs));
	assert_int_equal(crypto_scalarmult_base(enc, xs), 0);
}

static void make_device(kt_device *d, const char *id, uint8_t seed_byte,
			const char *push)
{
	uint8_t sk[64];

	memset(d, 0, sizeof(*d));
	memcpy(d->id, id, strlen(id));
	d->id_len = strlen(id);
	d->sign_pk.type = KT_SIGN_KEY_ED25519;
	d->enc_pk.type = KT_ENC_KEY_X25519;
	device_keys(seed_byte, d->sign_pk.pk, sk, d->enc_pk.pk);
	memcpy(d->push, push, strlen(push));
	d->push_len = strlen(push);
	d->kind = KT_DEVICE_PRIMARY;
	sodium_memzero(sk, sizeof(sk));
}

static uint8_t *encode_prov(const kt_provenance *pv, size_t *len)
{
	kt_wbuf w;
	uint8_t *out = NULL;

	kt_wbuf_init(&w, KT_PROVENANCE_MAX_BYTES);
	assert_int_equal(kt_provenance_encode(&w, pv), KT_OK);
	assert_int_equal(kt_wbuf_take(&w, &out, len), KT_OK);
	return out;
}

/* The map index of an account: a real VRF proof (vrf = 1) or, for bulk
 * tests, SHA-256 of the name and a zero proof (the apply path trusts the
 * handler's index). */
static void account_index(struct fx *f, const char *name, int vrf,
			  uint8_t index[KT_INDEX_BYTES],
			  uint8_t proof[KT_VRF_PROOF_BYTES])
{
	uint8_t beta[KT_VRF_OUTPUT_BYTES];

	memset(proof, 0, KT_VRF_PROOF_BYTES);
	if (!vrf) {
		kt_sha256(index, (const uint8_t *)name, strlen(name));
		return;
	}
	assert_int_equal(kt_vrf_prove(proof, f->vrf_sk, (const uint8_t *)name,
				      strlen(name)), KT_OK);
	assert_int_equal(kt_vrf_verify(beta, f->vrf_pk, proof,
				       (const uint8_t *)name, strlen(name)), KT_OK);
	kt_vrf_index(index, beta);
}

static void fill_change(struct fx *f, kt_change *c, const char *account,
			uint64_t expected, const kt_provenance *pv,
			uint8_t opening_byte, int vrf)
{
	memset(c, 0, sizeof(*c));
	memcpy(c->account, account, strlen(account));
	c->account_len = strlen(account);
	c->expected_version = expected;
	c->provenance = encode_prov(pv, &c->provenance_len);
	memset(c->opening, opening_byte, sizeof(c->opening));
	c->opening[0] = (uint8_t)expected;
	c->has_vrf = 1;
	account_index(f, account, vrf, c->index, c->vrf_proof);
}

/* Registrar enrolment of device (id, seed) with a real token signature. */
static void ch_enrol(struct fx *f, kt_change *c, const char *account,
		     uint64_t expected, const char *id, uint8_t seed)
{
	kt_provenance pv;
	uint8_t rseed[32], rsk[64];
	kt_wbuf w;

	memset(&pv, 0, sizeof(pv));
	pv.type = KT_PROV_REGISTRAR;
	pv.op.op = KT_OP_ENROL;
	make_device(&pv.op.device, id, seed, "apns:enrolled");
	memset(rseed, 0x33, sizeof(rseed));
	pv.registrar_pk.type = KT_SIGN_KEY_ED25519;
	assert_int_equal(crypto_sign_seed_keypair(pv.registrar_pk.pk, rsk, rseed), 0);
	pv.expiry_ms = T0 + 86400000u;
	kt_wbuf_init(&w, KT_REGISTRAR_TOKEN_MESSAGE_MAX_BYTES);
	assert_int_equal(kt_registrar_token_message(&w, (const uint8_t *)account,
						    strlen(account),
						    &pv.op.device,
						    pv.expiry_ms), KT_OK);
	assert_int_equal(kt_sig_sign(&pv.sig, rsk, w.data, w.len), KT_OK);
	kt_wbuf_free(&w);
	fill_change(f, c, account, expected, &pv, 0xe0, 1);
}

/* A device-signed op by device (signer_id, signer_seed). */
static void ch_device(struct fx *f, kt_change *c, const char *account,
		      uint64_t expected, const kt_update_op *op,
		      const char *signer_id, uint8_t signer_seed)
{
	kt_provenance pv;
	uint8_t pk[32], sk[64], enc[32];
	kt_wbuf w;

	memset(&pv, 0, sizeof(pv));
	pv.type = KT_PROV_DEVICE;
	pv.op = *op;
	memcpy(pv.device_id, signer_id, strlen(signer_id));
	pv.device_id_len = strlen(signer_id);
	device_keys(signer_seed, pk, sk, enc);
	kt_wbuf_init(&w, KT_UPDATE_MESSAGE_MAX_BYTES);
	assert_int_equal(kt_update_message(&w, (const uint8_t *)account,
					   strlen(account), op, expected), KT_OK);
	assert_int_equal(kt_sig_sign(&pv.sig, sk, w.data, w.len), KT_OK);
	kt_wbuf_free(&w);
	sodium_memzero(sk, sizeof(sk));
	fill_change(f, c, account, expected, &pv, 0xd0, 1);
}

static void ch_operator(struct fx *f, kt_change *c, const char *account,
			uint64_t expected, const kt_update_op *op, int vrf)
{
	kt_provenance pv;

	memset(&pv, 0, sizeof(pv));
	pv.type = KT_PROV_OPERATOR;
	pv.op = *op;
	memcpy(pv.reason, "test", 4);
	pv.reason_len = 4;
	memcpy(pv.label, "ops", 3);
	pv.label_len = 3;
	fill_change(f, c, account, expected, &pv, 0xc0, vrf);
}

static void op_add(kt_update_op *op, const char *id, uint8_t seed)
{
	memset(op, 0, sizeof(*op));
	op->op = KT_OP_ADD_DEVICE;
	make_device(&op->device, id, seed, "fcm:added");
}

static void op_remove(kt_update_op *op, const char *id)
{
	memset(op, 0, sizeof(*op));
	op->op = KT_OP_REMOVE_DEVICE;
	memcpy(op->device_id, id, strlen(id));
	op->device_id_len = strlen(id);
}

static void op_push(kt_update_op *op, const char *id, const char *push)
{
	memset(op, 0, sizeof(*op));
	op->op = KT_OP_SET_PUSH;
	memcpy(op->device_id, id, strlen(id));
	op->device_id_len = strlen(id);
	memcpy(op->push, push, strlen(push));
	op->push_len = strlen(push);
}

static kt_batch *new_batch(size_t n, uint64_t ts)
{
	kt_batch *b = calloc(1, sizeof(*b));

	assert_non_null(b);
	b->timestamp_ms = ts;
	b->count = n;
	if (n > 0) {
		b->changes = calloc(n, sizeof(*b->changes));
		assert_non_null(b->changes);
	} else {
		b->heartbeat = 1;
	}
	return b;
}

static void free_batch(kt_batch *b)
{
	kt_batch_free(b);
	free(b);
}

/* ---- the model -------------------------------------------------------------- */

static struct macct *model_account(struct fx *f, const kt_change *c)
{
	size_t i;

	for (i = 0; i < f->nacct; i++)
		if (strlen(f->acct[i].name) == c->account_len &&
		    memcmp(f->acct[i].name, c->account, c->account_len) == 0)
			return &f->acct[i];
	assert_true(f->nacct < MAX_ACCTS);
	memcpy(f->acct[f->nacct].name, c->account, c->account_len);
	memcpy(f->acct[f->nacct].index, c->index, KT_INDEX_BYTES);
	kt_account_value_init(&f->acct[f->nacct].value);
	return &f->acct[f->nacct++];
}

static void model_edit(kt_account_value *v, const kt_provenance *pv, uint64_t ts)
{
	const kt_update_op *op = &pv->op;
	kt_device d;

	switch (op->op) {
	case KT_OP_ADD_DEVICE:
	case KT_OP_ENROL:
		d = op->device;
		d.added_at_ms = ts;
		/* who added it: the provenance's type, and the authorising
		 * device's id for a device */
		d.added_by_type = pv->type;
		d.added_by_id_len = pv->type == KT_PROV_DEVICE ? pv->device_id_len : 0;
		memcpy(d.added_by_id, pv->device_id, d.added_by_id_len);
		assert_int_equal(kt_account_value_add(v, &d, KT_MAX_DEVICES_ENCODING),
				 KT_OK);
		break;
	case KT_OP_REMOVE_DEVICE:
		assert_int_equal(kt_account_value_remove(v, op->device_id,
							 op->device_id_len), KT_OK);
		break;
	default:
		assert_int_equal(kt_account_value_set_push(v, op->device_id,
							   op->device_id_len,
							   op->push, op->push_len),
				 KT_OK);
		break;
	}
}

static void check_stored_entry(struct fx *f, uint64_t pos, const kt_log_entry *e)
{
	kt_wbuf w;
	uint8_t *got = NULL;
	size_t got_len = 0;

	kt_wbuf_init(&w, KT_LOG_ENTRY_MAX_BYTES);
	assert_int_equal(kt_log_entry_encode(&w, e), KT_OK);
	assert_int_equal(kt_storage_log_entry_get(f->st, NULL, pos, &got, &got_len),
			 KT_OK);
	assert_int_equal(got_len, w.len);
	assert_memory_equal(got, w.data, w.len);
	kt_storage_free(got);
	{
		uint8_t lh[KT_HASH_BYTES];

		kt_log_leaf_hash(lh, w.data, w.len);
		assert_int_equal(kt_log_append(&f->log, lh, NULL), KT_OK);
	}
	kt_wbuf_free(&w);
}

/* Recomputes one accepted change and compares entry and records. */
static void model_change(struct fx *f, const kt_change *c, uint64_t ts,
			 const kt_change_result *res)
{
	kt_provenance pv;
	struct macct *m = model_account(f, c);
	kt_map_store ms = kt_map_mem_store(f->mm);
	kt_storage_account_version rec;
	kt_storage_account_head head;
	kt_log_entry e;
	kt_wbuf vw;

	assert_int_equal(kt_provenance_decode(&pv, c->provenance,
					      c->provenance_len), KT_OK);
	model_edit(&m->value, &pv, ts);
	kt_wbuf_init(&vw, KT_VALUE_MAX_BYTES);
	assert_int_equal(kt_account_value_encode(&vw, &m->value), KT_OK);
	m->version++;
	memset(&e, 0, sizeof(e));
	e.type = KT_ENTRY_UPDATE;
	e.timestamp_ms = ts;
	memcpy(e.index, m->index, KT_INDEX_BYTES);
	e.leaf.version = m->version;
	e.leaf.log_index = f->log.size;
	assert_int_equal(kt_commitment_compute(e.leaf.commitment, c->opening,
					       c->account, c->account_len,
					       m->version, vw.data, vw.len,
					       c->provenance, c->provenance_len),
			 KT_OK);
	kt_history_step(m->history, m->history, m->version, e.leaf.log_index,
			e.leaf.commitment);
	memcpy(e.leaf.history, m->history, KT_HASH_BYTES);
	kt_map_leaf_digest(m->digest, &e.leaf);
	assert_int_equal(kt_map_update(&ms, e.leaf.log_index, m->index, m->digest,
				       f->map_root), KT_OK);
	memcpy(e.map_root, f->map_root, KT_HASH_BYTES);
	assert_int_equal(res->code, KT_OK);
	assert_int_equal(res->version, m->version);
	assert_int_equal(res->log_index, e.leaf.log_index);
	check_stored_entry(f, e.leaf.log_index, &e);

	/* the account records (the head may already be at a later change of
	 * this batch; check_head compares it at the end) */
	assert_int_equal(kt_storage_account_head_get(f->st, NULL, m->index, &head),
			 KT_OK);
	assert_true(head.version >= m->version);
	assert_int_equal(head.account_len, c->account_len);
	assert_memory_equal(head.account, c->account, c->account_len);
	assert_int_equal(kt_storage_account_version_get(f->st, NULL, m->index,
							m->version, &rec), KT_OK);
	assert_int_equal(rec.log_index, e.leaf.log_index);
	assert_int_equal(rec.timestamp_ms, ts);
	assert_memory_equal(rec.commitment, e.leaf.commitment, KT_COMMITMENT_BYTES);
	assert_memory_equal(rec.history, e.leaf.history, KT_HASH_BYTES);
	assert_memory_equal(rec.opening, c->opening, KT_OPENING_BYTES);
	assert_int_equal(rec.value_len, vw.len);
	assert_memory_equal(rec.value, vw.data, vw.len);
	assert_int_equal(rec.provenance_len, c->provenance_len);
	assert_memory_equal(rec.provenance, c->provenance, c->provenance_len);
	assert_int_equal(kt_commitment_verify(rec.commitment, rec.opening,
					      c->account, c->account_len,
					      m->version, rec.value, rec.value_len,
					      rec.provenance, rec.provenance_len),
			 KT_OK);
	/* forgery twin: another opening does not open it */
	rec.opening[0] ^= 1;
	assert_int_equal(kt_commitment_verify(rec.commitment, rec.opening,
					      c->account, c->account_len,
					      m->version, rec.value, rec.value_len,
					      rec.provenance, rec.provenance_len),
			 KT_ERR_COMMITMENT_MISMATCH);
	kt_storage_account_version_free(&rec);
	kt_wbuf_free(&vw);
}

static void model_heartbeat(struct fx *f, uint64_t ts)
{
	kt_log_entry e;

	memset(&e, 0, sizeof(e));
	e.type = KT_ENTRY_HEARTBEAT;
	e.timestamp_ms = ts;
	memcpy(e.map_root, f->map_root, KT_HASH_BYTES);
	check_stored_entry(f, f->log.size, &e);
}

/* Opens the stored checkpoint of `size` with the log's key; its root must
 * be root.  Forgery twins: a flipped byte, another key. */
static void check_checkpoint(struct fx *f, uint64_t size,
			     const uint8_t root[KT_HASH_BYTES])
{
	kt_note_sigstatus status[1];
	kt_note_verifier other;
	kt_checkpoint cp;
	uint8_t *note = NULL, seed[32];
	size_t len = 0;

	assert_int_equal(kt_storage_checkpoint_get(f->st, NULL, size, &note, &len),
			 KT_OK);
	assert_int_equal(kt_checkpoint_open(&cp, note, len, ORIGIN, strlen(ORIGIN),
					    &f->signer.pub, 1, status), KT_OK);
	assert_true(status[0].verified);
	assert_int_equal(cp.size, size);
	assert_memory_equal(cp.root, root, KT_HASH_BYTES);
	/* another key with the same name does not verify it */
	memset(seed, 0x77, sizeof(seed));
	{
		kt_note_signer s2;

		assert_int_equal(kt_note_signer_from_seed(&s2, ORIGIN, strlen(ORIGIN),
							  KT_NOTE_KEY_ED25519, seed),
				 KT_OK);
		other = s2.pub;
		kt_note_signer_wipe(&s2);
	}
	assert_int_not_equal(kt_checkpoint_open(&cp, note, len, ORIGIN,
						strlen(ORIGIN), &other, 1, status),
			     KT_OK);
	/* a flipped digit of the size line */
	note[strlen(ORIGIN) + 1] ^= 1;
	assert_int_not_equal(kt_checkpoint_open(&cp, note, len, ORIGIN,
						strlen(ORIGIN), &f->signer.pub, 1,
						status), KT_OK);
	kt_storage_free(note);
}

static void check_head(struct fx *f)
{
	kt_apply_head h;
	uint8_t root[KT_HASH_BYTES];
	size_t i;

	kt_apply_get_head(f->a, &h);
	assert_int_equal(h.tree_size, f->log.size);
	kt_log_root(&f->log, root);
	assert_memory_equal(h.log_root, root, KT_HASH_BYTES);
	assert_memory_equal(h.map_root, f->map_root, KT_HASH_BYTES);
	assert_int_equal(h.last_timestamp_ms, f->last_ts);
	assert_int_equal(h.accounts, f->nacct);
	for (i = 0; i < f->nacct; i++) {
		kt_storage_account_head ah;
		uint8_t idx[KT_INDEX_BYTES];

		assert_int_equal(kt_storage_account_head_get(f->st, NULL,
							     f->acct[i].index, &ah),
				 KT_OK);
		assert_int_equal(ah.version, f->acct[i].version);
		assert_int_equal(kt_storage_account_index_get(
					 f->st, NULL, (const uint8_t *)f->acct[i].name,
					 strlen(f->acct[i].name), idx), KT_OK);
		assert_memory_equal(idx, f->acct[i].index, KT_INDEX_BYTES);
	}
}

static void take_snapshot(struct fx *f)
{
	struct snap *s;
	size_t i;

	assert_true(f->nsnaps < MAX_SNAPS);
	s = &f->snaps[f->nsnaps++];
	s->size = f->log.size;
	memcpy(s->root, f->map_root, KT_HASH_BYTES);
	s->n = 0;
	for (i = 0; i < f->nacct; i++) {
		if (f->acct[i].version == 0)
			continue;
		memcpy(s->index[s->n], f->acct[i].index, KT_INDEX_BYTES);
		memcpy(s->digest[s->n], f->acct[i].digest, KT_HASH_BYTES);
		s->n++;
	}
}

/* Applies b at the next applied index; expect[i] is change i's code. */
static void run_batch(struct fx *f, const kt_batch *b, const int *expect)
{
	kt_change_result res[64];
	uint64_t ts, before = f->log.size;
	size_t i;

	assert_true(b->count <= 64);
	assert_int_equal(kt_apply_batch(f->a, b, f->applied++, res), KT_OK);
	ts = b->timestamp_ms > f->last_ts ? b->timestamp_ms : f->last_ts;
	if (b->heartbeat)
		model_heartbeat(f, ts);
	for (i = 0; i < b->count; i++) {
		if (expect[i] == KT_OK) {
			model_change(f, &b->changes[i], ts, &res[i]);
		} else {
			assert_int_equal(res[i].code, expect[i]);
			assert_int_equal(res[i].version, 0);
		}
	}
	if (f->log.size > before) {
		uint8_t root[KT_HASH_BYTES];

		f->last_ts = ts;
		kt_log_root(&f->log, root);
		check_checkpoint(f, f->log.size, root);
		take_snapshot(f);
	} else {
		uint8_t *note = NULL;
		size_t len = 0;

		assert_int_equal(kt_storage_checkpoint_get(f->st, NULL, before + 1,
							   &note, &len),
				 KT_ERR_NOT_FOUND);
	}
	check_head(f);
	{
		uint64_t stored = 0;

		assert_int_equal(kt_storage_applied_index(f->st, &stored), KT_OK);
		assert_int_equal(stored, f->applied - 1);
	}
}

/* Proves the map at every recorded checkpoint size through a read view. */
static void check_lookups(struct fx *f)
{
	static const uint8_t absent_index[KT_INDEX_BYTES] = {0x42, 0x42, 0x42};
	kt_storage_view *v = NULL;
	kt_map_store ms;
	size_t i, j;

	assert_int_equal(kt_storage_view_open(f->st, &v), KT_OK);
	ms = kt_storage_map_store_view(v);
	for (i = 0; i < f->nsnaps; i++) {
		const struct snap *s = &f->snaps[i];
		uint8_t root[KT_HASH_BYTES], wrong[KT_HASH_BYTES], *proof = NULL;
		size_t plen = 0;
		kt_bytes pb;

		/* a read at size N reads the map at N - 1 */
		assert_int_equal(kt_map_root(&ms, s->size - 1, root), KT_OK);
		assert_memory_equal(root, s->root, KT_HASH_BYTES);
		for (j = 0; j < s->n; j++) {
			assert_int_equal(kt_map_prove(&ms, s->size - 1, s->index[j],
						      &proof, &plen), KT_OK);
			pb.p = proof;
			pb.len = plen;
			assert_int_equal(kt_map_verify(s->root, s->index[j],
						       s->digest[j], pb), KT_OK);
			memcpy(wrong, s->digest[j], KT_HASH_BYTES);
			wrong[31] ^= 1;
			assert_int_not_equal(kt_map_verify(s->root, s->index[j],
							   wrong, pb), KT_OK);
			assert_int_not_equal(kt_map_verify(s->root, s->index[j],
							   NULL, pb), KT_OK);
			free(proof);
		}
		assert_int_equal(kt_map_prove(&ms, s->size - 1, absent_index,
					      &proof, &plen), KT_OK);
		pb.p = proof;
		pb.len = plen;
		assert_int_equal(kt_map_verify(s->root, absent_index, NULL, pb),
				 KT_OK);
		free(proof);
	}
	kt_storage_view_close(v);
}

/* ---- (1) lifecycle ------------------------------------------------------------------ */

static void lifecycle_batches(struct fx *f, uint64_t t)
{
	static const int ok[1] = {KT_OK};
	kt_update_op op;
	kt_batch *b;

	b = new_batch(1, t + 1000);
	ch_enrol(f, &b->changes[0], "tel:+15551234567", 0, "phone", 1);
	run_batch(f, b, ok);
	free_batch(b);

	b = new_batch(1, t + 2000);
	op_add(&op, "laptop", 2);
	ch_device(f, &b->changes[0], "tel:+15551234567", 1, &op, "phone", 1);
	run_batch(f, b, ok);
	free_batch(b);

	b = new_batch(1, t + 3000);
	op_push(&op, "laptop", "fcm:cXyZ-0123");
	ch_device(f, &b->changes[0], "tel:+15551234567", 2, &op, "laptop", 2);
	run_batch(f, b, ok);
	free_batch(b);

	b = new_batch(1, t + 4000);
	op_remove(&op, "phone");
	ch_device(f, &b->changes[0], "tel:+15551234567", 3, &op, "laptop", 2);
	run_batch(f, b, ok);
	free_batch(b);

	b = new_batch(1, t + 5000);
	op_remove(&op, "laptop");
	ch_operator(f, &b->changes[0], "tel:+15551234567", 4, &op, 1);
	run_batch(f, b, ok);
	free_batch(b);
}

static void test_lifecycle(void **state)
{
	struct fx *f = fx_new(KT_DEFAULT_MAX_DEVICES);
	kt_storage_account_version rec;

	(void)state;
	lifecycle_batches(f, T0);
	assert_int_equal(f->log.size, 5);
	assert_int_equal(f->acct[0].version, 5);
	assert_int_equal(f->acct[0].value.count, 0);
	/* version 5 is the empty value "0000" */
	assert_int_equal(kt_storage_account_version_get(f->st, NULL,
							f->acct[0].index, 5, &rec),
			 KT_OK);
	assert_int_equal(rec.value_len, 2);
	assert_int_equal(rec.value[0] | rec.value[1], 0);
	kt_storage_account_version_free(&rec);
	check_lookups(f);
	fx_free(f);
}

/* ---- (2) determinism -------------------------------------------------------------------- */

static void multi_batches(struct fx *f)
{
	static const int ok3[3] = {KT_OK, KT_OK, KT_OK};
	kt_update_op op;
	kt_batch *b;

	b = new_batch(3, T0 + 10);
	ch_enrol(f, &b->changes[0], "mailto:a@example.org", 0, "a1", 11);
	ch_enrol(f, &b->changes[1], "mailto:b@example.org", 0, "b1", 12);
	op_add(&op, "c1", 13);
	ch_operator(f, &b->changes[2], "mailto:c@example.org", 0, &op, 1);
	run_batch(f, b, ok3);
	free_batch(b);

	b = new_batch(3, T0 + 20);
	op_add(&op, "a2", 14);
	ch_device(f, &b->changes[0], "mailto:a@example.org", 1, &op, "a1", 11);
	op_push(&op, "b1", "apns:new");
	ch_device(f, &b->changes[1], "mailto:b@example.org", 1, &op, "b1", 12);
	op_remove(&op, "c1");
	ch_operator(f, &b->changes[2], "mailto:c@example.org", 1, &op, 1);
	run_batch(f, b, ok3);
	free_batch(b);

	b = new_batch(0, T0 + 30);
	run_batch(f, b, NULL);
	free_batch(b);
}

static void test_determinism(void **state)
{
	struct fx *f1 = fx_new(KT_DEFAULT_MAX_DEVICES);
	struct fx *f2 = fx_new(KT_DEFAULT_MAX_DEVICES);
	uint64_t pos;

	(void)state;
	multi_batches(f1);
	multi_batches(f2);
	assert_int_equal(f1->log.size, 7);
	check_lookups(f1);
	for (pos = 0; pos < f1->log.size; pos++) {
		uint8_t *e1 = NULL, *e2 = NULL;
		size_t l1 = 0, l2 = 0;

		assert_int_equal(kt_storage_log_entry_get(f1->st, NULL, pos, &e1, &l1),
				 KT_OK);
		assert_int_equal(kt_storage_log_entry_get(f2->st, NULL, pos, &e2, &l2),
				 KT_OK);
		assert_int_equal(l1, l2);
		assert_memory_equal(e1, e2, l1);
		kt_storage_free(e1);
		kt_storage_free(e2);
	}
	for (pos = 1; pos <= f1->log.size; pos++) {
		uint8_t *c1 = NULL, *c2 = NULL;
		size_t l1 = 0, l2 = 0;
		int r1 = kt_storage_checkpoint_get(f1->st, NULL, pos, &c1, &l1);
		int r2 = kt_storage_checkpoint_get(f2->st, NULL, pos, &c2, &l2);

		assert_int_equal(r1, r2);
		if (r1 == KT_OK) {
			assert_int_equal(l1, l2);
			assert_memory_equal(c1, c2, l1);
		}
		kt_storage_free(c1);
		kt_storage_free(c2);
	}
	/* batch boundaries only: 3, 6, 7 */
	{
		uint8_t *c = NULL;
		size_t l = 0;

		assert_int_equal(kt_storage_checkpoint_get(f1->st, NULL, 4, &c, &l),
				 KT_ERR_NOT_FOUND);
	}
	fx_free(f1);
	fx_free(f2);
}

/* ---- (3) refusals -------------------------------------------------------------------------- */

static void refuse_one(struct fx *f, kt_change *c, int code)
{
	kt_batch b;
	int expect[1];

	expect[0] = code;
	memset(&b, 0, sizeof(b));
	b.timestamp_ms = T0 + 9000;
	b.changes = c;
	b.count = 1;
	run_batch(f, &b, expect);
	kt_change_clear(c);
}

static void test_refusals(void **state)
{
	struct fx *f = fx_new(2);
	kt_update_op op;
	kt_batch *b;
	kt_change c;
	static const int ok2[2] = {KT_OK, KT_OK};
	uint64_t size;
	uint8_t root[KT_HASH_BYTES];

	(void)state;
	b = new_batch(2, T0);
	ch_enrol(f, &b->changes[0], "tel:+1", 0, "phone", 1);
	op_add(&op, "tab", 3);
	ch_device(f, &b->changes[1], "tel:+1", 1, &op, "phone", 1);
	run_batch(f, b, ok2);
	free_batch(b);
	size = f->log.size;
	memcpy(root, f->map_root, sizeof(root));

	op_add(&op, "laptop", 2);
	ch_device(f, &c, "tel:+1", 1, &op, "phone", 1);   /* stale */
	refuse_one(f, &c, KT_ERR_VERSION_MISMATCH);
	ch_device(f, &c, "tel:+1", 3, &op, "phone", 1);   /* future */
	refuse_one(f, &c, KT_ERR_VERSION_MISMATCH);
	op_add(&op, "phone", 4);
	ch_operator(f, &c, "tel:+1", 2, &op, 1);          /* duplicate id */
	refuse_one(f, &c, KT_ERR_DEVICE_EXISTS);
	ch_enrol(f, &c, "tel:+1", 2, "tab", 5);           /* enrol existing id */
	refuse_one(f, &c, KT_ERR_DEVICE_EXISTS);
	op_remove(&op, "watch");
	ch_device(f, &c, "tel:+1", 2, &op, "phone", 1);   /* unknown device */
	refuse_one(f, &c, KT_ERR_NOT_FOUND);
	op_push(&op, "phone", "apns:enrolled");
	ch_device(f, &c, "tel:+1", 2, &op, "phone", 1);   /* no-op */
	refuse_one(f, &c, KT_ERR_NOOP_CHANGE);
	op_push(&op, "watch", "apns:x");
	ch_device(f, &c, "tel:+1", 2, &op, "phone", 1);   /* push of unknown */
	refuse_one(f, &c, KT_ERR_NOT_FOUND);
	op_add(&op, "laptop", 2);
	ch_operator(f, &c, "tel:+1", 2, &op, 1);          /* over the cap of 2 */
	refuse_one(f, &c, KT_ERR_TOO_LARGE);
	op_remove(&op, "phone");
	ch_device(f, &c, "tel:+2", 0, &op, "phone", 1);   /* no account */
	refuse_one(f, &c, KT_ERR_NO_ACCOUNT);
	op_add(&op, "laptop", 2);
	ch_device(f, &c, "tel:+2", 0, &op, "phone", 1);   /* device can't create */
	refuse_one(f, &c, KT_ERR_NO_ACCOUNT);
	op_remove(&op, "phone");
	ch_operator(f, &c, "tel:+2", 0, &op, 1);          /* operator remove */
	refuse_one(f, &c, KT_ERR_NO_ACCOUNT);
	op_add(&op, "laptop", 2);
	ch_operator(f, &c, "tel:+2", 0, &op, 1);
	c.has_vrf = 0;                                    /* handler bug */
	refuse_one(f, &c, KT_ERR_INVALID_ARG);
	op_add(&op, "laptop", 2);
	ch_operator(f, &c, "tel:+2", 0, &op, 1);
	memcpy(c.index, f->acct[0].index, KT_INDEX_BYTES); /* index taken */
	refuse_one(f, &c, KT_ERR_INVALID_ARG);
	op_add(&op, "laptop", 2);
	ch_operator(f, &c, "tel:+2", 0, &op, 1);
	c.provenance[0] = 0x09;                           /* bad provenance */
	refuse_one(f, &c, KT_ERR_BAD_TYPE);

	assert_int_equal(f->log.size, size);
	assert_memory_equal(f->map_root, root, sizeof(root));
	assert_int_equal(f->nacct, 1);
	assert_int_equal(f->acct[0].version, 2);
	{
		kt_storage_account_head h;
		uint8_t idx[KT_INDEX_BYTES];

		assert_int_equal(kt_storage_account_head_get(f->st, NULL,
							     f->acct[0].index, &h),
				 KT_OK);
		assert_int_equal(h.version, 2);
		assert_int_equal(kt_storage_account_index_get(f->st, NULL,
							      (const uint8_t *)"tel:+2",
							      6, idx),
				 KT_ERR_NOT_FOUND);
	}
	check_lookups(f);
	fx_free(f);
}

/* ---- (4) mixed batch, heartbeat, timestamps ------------------------------------------- */

static void test_mixed_batch(void **state)
{
	struct fx *f = fx_new(KT_DEFAULT_MAX_DEVICES);
	kt_update_op op;
	kt_batch *b;
	static const int e1[6] = {KT_OK, KT_ERR_VERSION_MISMATCH, KT_OK,
				  KT_ERR_NO_ACCOUNT, KT_OK, KT_ERR_DEVICE_EXISTS};

	(void)state;
	b = new_batch(6, T0 + 100);
	ch_enrol(f, &b->changes[0], "x", 0, "p", 1);
	ch_enrol(f, &b->changes[1], "x", 0, "q", 2);       /* x is at 1 now */
	op_add(&op, "q", 2);
	ch_device(f, &b->changes[2], "x", 1, &op, "p", 1); /* sees change 0 */
	op_remove(&op, "p");
	ch_device(f, &b->changes[3], "y", 0, &op, "p", 1);
	ch_enrol(f, &b->changes[4], "y", 0, "p", 1);
	op_add(&op, "q", 3);
	ch_operator(f, &b->changes[5], "x", 2, &op, 1);
	run_batch(f, b, e1);
	free_batch(b);
	assert_int_equal(f->log.size, 3);

	/* a heartbeat whose clock went back: its entry keeps the last time */
	b = new_batch(0, T0 + 50);
	run_batch(f, b, NULL);
	free_batch(b);
	assert_int_equal(f->log.size, 4);
	assert_int_equal(f->last_ts, T0 + 100);

	/* an update batch whose clock went back: devices too */
	{
		static const int ok[1] = {KT_OK};

		b = new_batch(1, T0 + 10);
		op_add(&op, "r", 4);
		ch_device(f, &b->changes[0], "y", 1, &op, "p", 1);
		run_batch(f, b, ok);
		free_batch(b);
		assert_int_equal(f->acct[1].value.devices[1].added_at_ms, T0 + 100);
	}

	/* a batch in which every change fails appends nothing */
	{
		static const int bad[2] = {KT_ERR_VERSION_MISMATCH,
					   KT_ERR_VERSION_MISMATCH};
		uint64_t size = f->log.size;

		b = new_batch(2, T0 + 200);
		ch_enrol(f, &b->changes[0], "x", 0, "z", 9);
		ch_enrol(f, &b->changes[1], "y", 7, "z", 9);
		run_batch(f, b, bad);
		free_batch(b);
		assert_int_equal(f->log.size, size);
	}
	check_lookups(f);
	fx_free(f);
}

/* ---- (5) replays -------------------------------------------------------------------------- */

static void test_replay_skipped(void **state)
{
	struct fx *f = fx_new(KT_DEFAULT_MAX_DEVICES);
	kt_change_result res[1];
	kt_apply_head before, after;
	kt_batch *b;
	static const int ok[1] = {KT_OK};

	(void)state;
	f->applied = 5;
	b = new_batch(1, T0);
	ch_enrol(f, &b->changes[0], "r", 0, "p", 1);
	run_batch(f, b, ok);
	kt_apply_get_head(f->a, &before);
	assert_int_equal(kt_apply_applied_index(f->a), 5);
	/* the same batch again at 5, and at 3 */
	assert_int_equal(kt_apply_batch(f->a, b, 5, res), KT_OK);
	assert_int_equal(res[0].code, KT_ERR_ALREADY_APPLIED);
	assert_int_equal(kt_apply_batch(f->a, b, 3, res), KT_OK);
	assert_int_equal(res[0].code, KT_ERR_ALREADY_APPLIED);
	kt_apply_get_head(f->a, &after);
	assert_memory_equal(&before, &after, sizeof(before));
	/* at 6 it is a new batch: its registrar token was spent at 5 (and
	 * its version is stale; the token is checked first) */
	assert_int_equal(kt_apply_batch(f->a, b, 6, res), KT_OK);
	assert_int_equal(res[0].code, KT_ERR_TOKEN_USED);
	assert_int_equal(kt_apply_applied_index(f->a), 6);
	free_batch(b);
	fx_free(f);
}

/* ---- (6) crash safety ----------------------------------------------------------------- */

static void test_commit_failure(void **state)
{
	struct fx *f = fx_new(KT_DEFAULT_MAX_DEVICES);
	kt_change_result res[2];
	kt_apply_head before, after;
	kt_update_op op;
	kt_batch *b;
	uint64_t stored = 0, size = 0;
	uint8_t *e = NULL;
	size_t elen = 0;
	static const int ok2[2] = {KT_OK, KT_OK};

	(void)state;
	b = new_batch(1, T0);
	ch_enrol(f, &b->changes[0], "c", 0, "p", 1);
	run_batch(f, b, ok2);
	free_batch(b);
	kt_apply_get_head(f->a, &before);

	b = new_batch(2, T0 + 5);
	op_add(&op, "q", 2);
	ch_device(f, &b->changes[0], "c", 1, &op, "p", 1);
	ch_enrol(f, &b->changes[1], "d", 0, "p", 1);
	kt_storage_test_fail_writes(f->st, 1);
	assert_int_equal(kt_apply_batch(f->a, b, f->applied, res), KT_ERR_STORAGE);
	assert_int_equal(res[0].code, KT_ERR_STORAGE);
	assert_int_equal(res[1].code, KT_ERR_STORAGE);
	kt_apply_get_head(f->a, &after);
	assert_memory_equal(&before, &after, sizeof(before));
	assert_int_equal(kt_storage_applied_index(f->st, &stored), KT_OK);
	assert_int_equal(stored, f->applied - 1);
	assert_int_equal(kt_storage_meta_get_u64(f->st, NULL, KT_META_TREE_SIZE,
						 &size), KT_OK);
	assert_int_equal(size, 1);
	assert_int_equal(kt_storage_log_entry_get(f->st, NULL, 1, &e, &elen),
			 KT_ERR_NOT_FOUND);

	/* the same batch at the same index now succeeds, from the old state */
	run_batch(f, b, ok2);
	assert_int_equal(f->log.size, 3);
	free_batch(b);
	check_lookups(f);
	fx_free(f);
}

/* ---- (7) reopen ------------------------------------------------------------------------------ */

static void test_reopen(void **state)
{
	struct fx *f = fx_new(KT_DEFAULT_MAX_DEVICES);
	kt_apply_head before, after;
	kt_apply_params p;
	kt_apply *other = NULL;
	kt_update_op op;
	kt_batch *b;
	static const int ok[1] = {KT_OK};

	(void)state;
	lifecycle_batches(f, T0);
	kt_apply_get_head(f->a, &before);
	kt_apply_free(f->a);
	kt_storage_close(f->st);
	assert_int_equal(kt_storage_open(f->dir, NULL, &f->st), KT_OK);
	open_apply(f);
	kt_apply_get_head(f->a, &after);
	assert_memory_equal(&before, &after, sizeof(before));
	assert_int_equal(kt_apply_applied_index(f->a), f->applied - 1);

	/* another origin is refused on this database */
	memset(&p, 0, sizeof(p));
	{
		kt_note_signer s2;
		uint8_t seed[32];

		memset(seed, 1, sizeof(seed));
		assert_int_equal(kt_note_signer_from_seed(&s2, "other", 5,
							  KT_NOTE_KEY_ED25519, seed),
				 KT_OK);
		p.storage = f->st;
		p.log_signer = &s2;
		p.origin = "other";
		p.origin_len = 5;
		p.max_devices = 4;
		assert_int_equal(kt_apply_open(&p, &other), KT_ERR_CHECKPOINT_ORIGIN);
		assert_null(other);
		/* and a signer not named after the origin */
		p.origin = ORIGIN;
		p.origin_len = strlen(ORIGIN);
		assert_int_equal(kt_apply_open(&p, &other), KT_ERR_INVALID_ARG);
		kt_note_signer_wipe(&s2);
	}

	b = new_batch(1, T0 + 60000);
	op_add(&op, "again", 9);
	ch_operator(f, &b->changes[0], "tel:+15551234567", 5, &op, 1);
	run_batch(f, b, ok);
	free_batch(b);
	assert_int_equal(f->log.size, 6);
	check_lookups(f);
	fx_free(f);
}

/* ---- cosignatures ------------------------------------------------------------------------ */

struct cosig_seen {
	int n;
	uint8_t kh[4];
	size_t name_len, line_len;
};

static int cosig_cb(void *ctx, const uint8_t key_hash[4], const uint8_t *name,
		    size_t name_len, const uint8_t *line, size_t line_len)
{
	struct cosig_seen *c = ctx;

	(void)name;
	(void)line;
	c->n++;
	memcpy(c->kh, key_hash, 4);
	c->name_len = name_len;
	c->line_len = line_len;
	return KT_OK;
}

static void test_cosig(void **state)
{
	struct fx *f = fx_new(KT_DEFAULT_MAX_DEVICES);
	static const uint8_t kh[4] = {1, 2, 3, 4};
	static const uint8_t line[] = "\xe2\x80\x94 w1 AAAA\n";
	struct cosig_seen seen;
	uint64_t v = 0;

	(void)state;
	lifecycle_batches(f, T0);
	assert_int_equal(kt_apply_put_cosig(f->a, 3, kh, (const uint8_t *)"w1", 2,
					    line, sizeof(line) - 1), KT_OK);
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(kt_storage_cosigs_scan(f->st, NULL, 3, cosig_cb, &seen),
			 KT_OK);
	assert_int_equal(seen.n, 1);
	assert_memory_equal(seen.kh, kh, 4);
	assert_int_equal(seen.line_len, sizeof(line) - 1);
	/* no checkpoint of that size, no name */
	assert_int_equal(kt_apply_put_cosig(f->a, 6, kh, (const uint8_t *)"w1", 2,
					    line, sizeof(line) - 1),
			 KT_ERR_NO_CHECKPOINT);
	assert_int_equal(kt_apply_put_cosig(f->a, 3, kh, (const uint8_t *)"w1", 0,
					    line, sizeof(line) - 1),
			 KT_ERR_INVALID_ARG);
	/* the cosigned size only goes up */
	assert_int_equal(kt_apply_set_cosigned(f->a, 3), KT_OK);
	assert_int_equal(kt_apply_set_cosigned(f->a, 2), KT_OK);
	assert_int_equal(kt_storage_meta_get_u64(f->st, NULL,
						 KT_META_COSIGNED_CHECKPOINT, &v),
			 KT_OK);
	assert_int_equal(v, 3);
	assert_int_equal(kt_apply_set_cosigned(f->a, 9), KT_ERR_NO_CHECKPOINT);
	/* the log goes on after these writes */
	{
		static const int ok[1] = {KT_OK};
		kt_batch *b = new_batch(1, T0 + 9000);
		kt_update_op op;

		op_add(&op, "x", 5);
		ch_operator(f, &b->changes[0], "tel:+15551234567", 5, &op, 1);
		run_batch(f, b, ok);
		free_batch(b);
	}
	fx_free(f);
}

/* ---- (8) batch encoding ------------------------------------------------------------------------ */

static void test_batch_codec(void **state)
{
	struct fx *f = fx_new(KT_DEFAULT_MAX_DEVICES);
	kt_batch b, d;
	kt_change ch[2];
	kt_update_op op;
	uint8_t *enc = NULL, *enc2 = NULL, *bad = NULL;
	size_t len = 0, len2 = 0;
	static const uint8_t hb[] = {0x01, 0x02, 0, 0, 0x01, 0x9b, 0x76, 0xda,
				     0xa8, 0x00, 0, 0, 0, 0};

	(void)state;
	/* known answer: a heartbeat batch at T0 */
	memset(&b, 0, sizeof(b));
	b.heartbeat = 1;
	b.timestamp_ms = T0;
	assert_int_equal(kt_batch_encode(&b, &enc, &len), KT_OK);
	assert_int_equal(len, sizeof(hb));
	assert_memory_equal(enc, hb, sizeof(hb));
	assert_int_equal(kt_batch_decode(&d, enc, len), KT_OK);
	assert_true(d.heartbeat);
	assert_int_equal(d.count, 0);
	assert_int_equal(d.timestamp_ms, T0);
	kt_batch_free(&d);
	free(enc);

	/* a change batch round-trips byte for byte */
	ch_enrol(f, &ch[0], "tel:+15551234567", 0, "phone", 1);
	op_remove(&op, "phone");
	ch_device(f, &ch[1], "tel:+15551234567", 1, &op, "phone", 1);
	ch[1].has_vrf = 0;
	memset(&b, 0, sizeof(b));
	b.timestamp_ms = T0 + 1;
	b.changes = ch;
	b.count = 2;
	assert_int_equal(kt_batch_encode(&b, &enc, &len), KT_OK);
	assert_int_equal(len, 14 + (1 + 16 + 8 + 2 + ch[0].provenance_len + 16 +
				    1 + 32 + 80) +
				   (1 + 16 + 8 + 2 + ch[1].provenance_len + 16 + 1));
	assert_int_equal(kt_batch_decode(&d, enc, len), KT_OK);
	assert_int_equal(d.count, 2);
	assert_false(d.heartbeat);
	assert_int_equal(d.changes[0].provenance_len, ch[0].provenance_len);
	assert_memory_equal(d.changes[0].provenance, ch[0].provenance,
			    ch[0].provenance_len);
	assert_memory_equal(d.changes[0].vrf_proof, ch[0].vrf_proof,
			    KT_VRF_PROOF_BYTES);
	assert_memory_equal(d.changes[1].opening, ch[1].opening, KT_OPENING_BYTES);
	assert_false(d.changes[1].has_vrf);
	assert_int_equal(kt_batch_encode(&d, &enc2, &len2), KT_OK);
	assert_int_equal(len2, len);
	assert_memory_equal(enc2, enc, len);
	kt_batch_free(&d);
	free(enc2);

	/* every truncation and an extension fail */
	bad = malloc(len + 1);
	assert_non_null(bad);
	memcpy(bad, enc, len);
	for (len2 = 0; len2 < len; len2++)
		assert_int_not_equal(kt_batch_decode(&d, bad, len2), KT_OK);
	bad[len] = 0;
	assert_int_equal(kt_batch_decode(&d, bad, len + 1), KT_ERR_TRAILING);
	/* format, kind, count, has_vrf, provenance, account */
	bad[0] = 2;
	assert_int_equal(kt_batch_decode(&d, bad, len), KT_ERR_BAD_TYPE);
	bad[0] = 1;
	bad[1] = 3;
	assert_int_equal(kt_batch_decode(&d, bad, len), KT_ERR_BAD_TYPE);
	bad[1] = 2; /* heartbeat with changes */
	assert_int_equal(kt_batch_decode(&d, bad, len), KT_ERR_BAD_LENGTH);
	bad[1] = 1;
	bad[13] = 3; /* count 3, two present */
	assert_int_equal(kt_batch_decode(&d, bad, len), KT_ERR_TRUNCATED);
	bad[13] = 1; /* count 1, one left over */
	assert_int_equal(kt_batch_decode(&d, bad, len), KT_ERR_TRAILING);
	bad[13] = 2;
	bad[len - 1] = 2; /* has_vrf of the last change */
	assert_int_equal(kt_batch_decode(&d, bad, len), KT_ERR_BAD_TYPE);
	bad[len - 1] = 0;
	bad[14 + 1 + 16 + 8 + 2] = 0x09; /* provenance type */
	assert_int_equal(kt_batch_decode(&d, bad, len), KT_ERR_BAD_TYPE);
	bad[14 + 1 + 16 + 8 + 2] = KT_PROV_REGISTRAR;
	bad[15] = 0xff; /* invalid UTF-8 in the account */
	assert_int_equal(kt_batch_decode(&d, bad, len), KT_ERR_BAD_UTF8);
	bad[15] = 't';
	assert_int_equal(kt_batch_decode(&d, bad, len), KT_OK);
	kt_batch_free(&d);
	/* a count that the input cannot hold is refused before allocating */
	bad[10] = 0xff;
	assert_int_equal(kt_batch_decode(&d, bad, len), KT_ERR_TOO_LARGE);
	bad[10] = 0;
	bad[11] = 0x01; /* 65536 + 2: within no cap and far beyond the input */
	assert_int_equal(kt_batch_decode(&d, bad, len), KT_ERR_TOO_LARGE);
	bad[11] = 0;
	bad[12] = 0x01; /* 258 changes in ~600 bytes */
	assert_int_equal(kt_batch_decode(&d, bad, len), KT_ERR_TRUNCATED);
	free(bad);
	free(enc);

	/* the encoder refuses what the decoder would refuse */
	b.heartbeat = 1;
	assert_int_equal(kt_batch_encode(&b, &enc, &len), KT_ERR_INVALID_ARG);
	assert_null(enc);
	b.heartbeat = 0;
	b.count = 0;
	assert_int_equal(kt_batch_encode(&b, &enc, &len), KT_ERR_BAD_LENGTH);
	kt_change_clear(&ch[0]);
	kt_change_clear(&ch[1]);
	fx_free(f);
}

/* ---- (9) cost ------------------------------------------------------------------------------------ */

static double clock_s(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_cost(void **state)
{
	struct fx *f = fx_new(KT_DEFAULT_MAX_DEVICES);
	kt_change_result *res;
	kt_update_op op;
	const size_t per = 500, batches = 8;
	size_t i, j;
	double t = 0, t1, cpu = 0, c1;
	kt_apply_head h;

	(void)state;
	res = calloc(per, sizeof(*res));
	assert_non_null(res);
	for (j = 0; j < batches; j++) {
		kt_batch *b = new_batch(per, T0 + j);

		for (i = 0; i < per; i++) {
			char name[32];

			snprintf(name, sizeof(name), "acct-%zu", j * per + i);
			op_add(&op, "d", (uint8_t)(i | 1));
			ch_operator(f, &b->changes[i], name, 0, &op, 0);
		}
		t1 = clock_s(CLOCK_MONOTONIC);
		c1 = clock_s(CLOCK_THREAD_CPUTIME_ID);
		assert_int_equal(kt_apply_batch(f->a, b, f->applied++, res), KT_OK);
		t += clock_s(CLOCK_MONOTONIC) - t1;
		cpu += clock_s(CLOCK_THREAD_CPUTIME_ID) - c1;
		for (i = 0; i < per; i++)
			assert_int_equal(res[i].code, KT_OK);
		free_batch(b);
	}
	kt_apply_get_head(f->a, &h);
	assert_int_equal(h.tree_size, per * batches);
	assert_int_equal(h.accounts, per * batches);
	print_message("apply cost: %.1f us per change wall, %.1f us CPU (%zu "
		      "batches of %zu new accounts, one synced commit each)\n",
		      t * 1e6 / (double)(per * batches),
		      cpu * 1e6 / (double)(per * batches), batches, per);
	free(res);
	fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lifecycle),
		cmocka_unit_test(test_determinism),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_mixed_batch),
		cmocka_unit_test(test_replay_skipped),
		cmocka_unit_test(test_commit_failure),
		cmocka_unit_test(test_reopen),
		cmocka_unit_test(test_cosig),
		cmocka_unit_test(test_batch_codec),
		cmocka_unit_test(test_cost),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
