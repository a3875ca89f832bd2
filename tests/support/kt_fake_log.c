/*
 * kt_fake_log.c — a scripted in-memory keytrail log for tests
 * (kt_fake_log.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "kt_checkpoint.h"
#include "kt_commit.h"
#include "kt_cosig.h"
#include "kt_fake_log.h"
#include "kt_map.h"

typedef struct fake_version {
	uint64_t log_index;
	uint8_t *value;
	size_t value_len;
	uint8_t *prov;
	size_t prov_len;
	uint8_t opening[KT_OPENING_BYTES];
	kt_map_leaf leaf;
} fake_version;

typedef struct fake_account {
	char name[KT_ACCOUNT_MAX + 1];
	size_t len;
	uint8_t index[KT_INDEX_BYTES];
	kt_account_value value;
	uint64_t version;
	uint8_t history[KT_HASH_BYTES];
	fake_version versions[KT_FAKE_MAX_VERSIONS];
	size_t n_versions;
} fake_account;

struct kt_fake_log {
	uint64_t now_ms;
	unsigned tamper;
	uint64_t openings;
	kt_log_memstore *ls;
	kt_log log;
	kt_map_mem *mm;
	uint8_t map_root[KT_HASH_BYTES];
	kt_note_signer log_signer;
	kt_note_signer witnesses[KT_FAKE_WITNESSES];
	uint8_t vrf_pk[KT_VRF_PUBLICKEY_BYTES];
	uint8_t vrf_sk[KT_VRF_SECRETKEY_BYTES];
	uint8_t reg_sk[KT_ED25519_SK_BYTES];
	kt_sign_key reg_pk;
	uint8_t dev_sk[KT_FAKE_DEVICES][KT_ED25519_SK_BYTES];
	kt_device devs[KT_FAKE_DEVICES];
	uint8_t (*entries)[KT_LOG_ENTRY_MAX_BYTES];
	size_t *entry_len;
	fake_account *accounts;              /* heap, grows */
	size_t n_accounts;
	size_t cap_accounts;
};

static const char *const dev_names[KT_FAKE_DEVICES] = {
	"phone", "laptop", "tablet", "watch", "desktop", "escrow", "forward",
	"extra"};

/* ---- keys ------------------------------------------------------------- */

static int make_device(kt_fake_log *fl, unsigned s)
{
	uint8_t seed[32], pk[32], xsk[32];
	kt_device *d = &fl->devs[s];
	char push[32];
	size_t n;

	memset(seed, 0x40 + (int)s, sizeof(seed));
	if (crypto_sign_seed_keypair(pk, fl->dev_sk[s], seed) != 0)
		return KT_ERR_INTERNAL;
	memset(xsk, 0x60 + (int)s, sizeof(xsk));
	memset(d, 0, sizeof(*d));
	d->id_len = strlen(dev_names[s]);
	memcpy(d->id, dev_names[s], d->id_len);
	d->sign_pk.type = KT_SIGN_KEY_ED25519;
	memcpy(d->sign_pk.pk, pk, 32);
	d->enc_pk.type = KT_ENC_KEY_X25519;
	if (crypto_scalarmult_base(d->enc_pk.pk, xsk) != 0)
		return KT_ERR_INTERNAL;
	n = (size_t)snprintf(push, sizeof(push), "push:%s", dev_names[s]);
	memcpy(d->push, push, n);
	d->push_len = n;
	d->kind = s == 0 ? KT_DEVICE_PRIMARY :
		  s == 5 ? KT_DEVICE_ESCROW :
		  s == 6 ? KT_DEVICE_FORWARDING : KT_DEVICE_COMPANION;
	return KT_OK;
}

static int make_keys(kt_fake_log *fl)
{
	uint8_t seed[32], pk[32];
	char name[32];
	unsigned i;
	int r;

	memset(seed, 0xA0, sizeof(seed));
	r = kt_note_signer_from_seed(&fl->log_signer, KT_FAKE_ORIGIN,
				     strlen(KT_FAKE_ORIGIN),
				     KT_NOTE_KEY_ED25519, seed);
	for (i = 0; r == KT_OK && i < KT_FAKE_WITNESSES; i++) {
		memset(seed, 0xB0 + (int)i, sizeof(seed));
		snprintf(name, sizeof(name), "witness-%u.example", i);
		r = kt_note_signer_from_seed(&fl->witnesses[i], name,
					     strlen(name),
					     KT_NOTE_KEY_COSIG_V1, seed);
	}
	memset(seed, 0xC0, sizeof(seed));
	if (r == KT_OK)
		r = kt_vrf_keypair_from_seed(fl->vrf_pk, fl->vrf_sk, seed);
	memset(seed, 0xD0, sizeof(seed));
	if (r == KT_OK && crypto_sign_seed_keypair(pk, fl->reg_sk, seed) != 0)
		r = KT_ERR_INTERNAL;
	fl->reg_pk.type = KT_SIGN_KEY_ED25519;
	memcpy(fl->reg_pk.pk, pk, 32);
	for (i = 0; r == KT_OK && i < KT_FAKE_DEVICES; i++)
		r = make_device(fl, i);
	return r;
}

int kt_fake_log_new(kt_fake_log **out, uint64_t now_ms)
{
	kt_fake_log *fl;
	int r;

	*out = NULL;
	if (sodium_init() < 0)
		return KT_ERR_INTERNAL;
	fl = calloc(1, sizeof(*fl));
	if (fl == NULL)
		return KT_ERR_NOMEM;
	fl->now_ms = now_ms;
	fl->entries = calloc(KT_FAKE_MAX_ENTRIES, sizeof(*fl->entries));
	fl->entry_len = calloc(KT_FAKE_MAX_ENTRIES, sizeof(*fl->entry_len));
	r = fl->entries != NULL && fl->entry_len != NULL ? KT_OK : KT_ERR_NOMEM;
	if (r == KT_OK)
		r = kt_log_memstore_new(&fl->ls);
	if (r == KT_OK) {
		kt_log_init(&fl->log, kt_log_memstore_store(fl->ls));
		r = kt_map_mem_new(KT_MAP_MEM_HISTORY, 0, &fl->mm);
	}
	if (r == KT_OK)
		r = make_keys(fl);
	if (r != KT_OK) {
		kt_fake_log_free(fl);
		return r;
	}
	*out = fl;
	return KT_OK;
}

void kt_fake_log_free(kt_fake_log *fl)
{
	size_t i, j;

	if (fl == NULL)
		return;
	for (i = 0; i < fl->n_accounts; i++) {
		kt_account_value_free(&fl->accounts[i].value);
		for (j = 0; j < fl->accounts[i].n_versions; j++) {
			free(fl->accounts[i].versions[j].value);
			free(fl->accounts[i].versions[j].prov);
		}
	}
	kt_log_memstore_free(fl->ls);
	kt_map_mem_free(fl->mm);
	free(fl->accounts);
	free(fl->entries);
	free(fl->entry_len);
	kt_note_signer_wipe(&fl->log_signer);
	for (i = 0; i < KT_FAKE_WITNESSES; i++)
		kt_note_signer_wipe(&fl->witnesses[i]);
	sodium_memzero(fl->vrf_sk, sizeof(fl->vrf_sk));
	sodium_memzero(fl->reg_sk, sizeof(fl->reg_sk));
	sodium_memzero(fl->dev_sk, sizeof(fl->dev_sk));
	free(fl);
}

void kt_fake_log_set_time(kt_fake_log *fl, uint64_t now_ms)
{
	fl->now_ms = now_ms;
}

uint64_t kt_fake_log_size(const kt_fake_log *fl)
{
	return fl->log.size;
}

void kt_fake_log_tamper_next(kt_fake_log *fl, unsigned tamper)
{
	fl->tamper = tamper;
}

const kt_note_signer *kt_fake_log_signer(const kt_fake_log *fl)
{
	return &fl->log_signer;
}

const kt_note_signer *kt_fake_log_witness(const kt_fake_log *fl, unsigned i)
{
	return i < KT_FAKE_WITNESSES ? &fl->witnesses[i] : NULL;
}

const uint8_t *kt_fake_log_vrf_pk(const kt_fake_log *fl)
{
	return fl->vrf_pk;
}

const kt_device *kt_fake_log_device(const kt_fake_log *fl, unsigned s)
{
	return s < KT_FAKE_DEVICES ? &fl->devs[s] : NULL;
}

/* ---- appending -------------------------------------------------------- */

static int append_entry(kt_fake_log *fl, const kt_log_entry *e)
{
	uint8_t lh[KT_HASH_BYTES];
	uint64_t i = fl->log.size;
	kt_wbuf w;
	int r;

	if (i >= KT_FAKE_MAX_ENTRIES)
		return KT_ERR_TOO_LARGE;
	kt_wbuf_init(&w, KT_LOG_ENTRY_MAX_BYTES);
	r = kt_log_entry_encode(&w, e);
	if (r == KT_OK) {
		memcpy(fl->entries[i], w.data, w.len);
		fl->entry_len[i] = w.len;
		kt_log_leaf_hash(lh, w.data, w.len);
		r = kt_log_append(&fl->log, lh, NULL);
	}
	kt_wbuf_free(&w);
	return r;
}

int kt_fake_log_heartbeat(kt_fake_log *fl)
{
	kt_log_entry e;

	memset(&e, 0, sizeof(e));
	e.type = KT_ENTRY_HEARTBEAT;
	e.timestamp_ms = fl->now_ms;
	memcpy(e.map_root, fl->map_root, KT_HASH_BYTES);
	return append_entry(fl, &e);
}

static fake_account *find_account(const kt_fake_log *fl, const char *account)
{
	size_t i, len = strlen(account);

	for (i = 0; i < fl->n_accounts; i++)
		if (fl->accounts[i].len == len &&
		    memcmp(fl->accounts[i].name, account, len) == 0)
			return (fake_account *)&fl->accounts[i];
	return NULL;
}

static int account_index(const kt_fake_log *fl, const char *account,
			 uint8_t index[KT_INDEX_BYTES],
			 uint8_t proof[KT_VRF_PROOF_BYTES])
{
	uint8_t beta[KT_VRF_OUTPUT_BYTES];
	int r;

	r = kt_vrf_prove(proof, fl->vrf_sk, (const uint8_t *)account,
			 strlen(account));
	if (r == KT_OK)
		r = kt_vrf_proof_to_hash(beta, proof);
	if (r == KT_OK)
		kt_vrf_index(index, beta);
	return r;
}

static fake_account *get_account(kt_fake_log *fl, const char *account)
{
	uint8_t proof[KT_VRF_PROOF_BYTES];
	fake_account *a = find_account(fl, account);

	if (a != NULL || fl->n_accounts >= KT_FAKE_MAX_ACCOUNTS ||
	    strlen(account) > KT_ACCOUNT_MAX)
		return a;
	if (fl->n_accounts == fl->cap_accounts) {
		size_t cap = fl->cap_accounts > 0 ? 2 * fl->cap_accounts : 8;
		fake_account *n = realloc(fl->accounts, cap * sizeof(*n));

		if (n == NULL)
			return NULL;
		fl->accounts = n;
		fl->cap_accounts = cap;
	}
	a = &fl->accounts[fl->n_accounts];
	memset(a, 0, sizeof(*a));
	a->len = strlen(account);
	memcpy(a->name, account, a->len);
	kt_account_value_init(&a->value);
	if (account_index(fl, account, a->index, proof) != KT_OK)
		return NULL;
	fl->n_accounts++;
	return a;
}

static int encode_value(const kt_account_value *v, uint8_t **out, size_t *len)
{
	kt_wbuf w;

	kt_wbuf_init(&w, KT_VALUE_MAX_BYTES);
	if (kt_account_value_encode(&w, v) != KT_OK) {
		kt_wbuf_free(&w);
		return KT_ERR_INTERNAL;
	}
	return kt_wbuf_take(&w, out, len);
}

static int encode_prov(const kt_provenance *pv, uint8_t **out, size_t *len)
{
	kt_wbuf w;

	kt_wbuf_init(&w, KT_PROVENANCE_MAX_BYTES);
	if (kt_provenance_encode(&w, pv) != KT_OK) {
		kt_wbuf_free(&w);
		return KT_ERR_INTERNAL;
	}
	return kt_wbuf_take(&w, out, len);
}

/* The new value: prev with the op applied (and the tampering). */
static int next_value(kt_fake_log *fl, const fake_account *a,
		      const kt_provenance *pv, kt_account_value *out)
{
	kt_device extra, *d;
	size_t i;
	int r;

	r = kt_value_apply_op(out, &a->value, pv, fl->now_ms,
			      KT_DEFAULT_MAX_DEVICES);
	if (r == KT_OK && (fl->tamper & KT_FAKE_TAMPER_EXTRA_DEVICE)) {
		extra = fl->devs[7];
		extra.added_at_ms = fl->now_ms;
		extra.added_by_type = KT_PROV_OPERATOR;
		r = kt_account_value_add(out, &extra, KT_MAX_DEVICES_ENCODING);
	}
	for (i = 0; r == KT_OK && (fl->tamper & KT_FAKE_TAMPER_ADDED_BY) &&
		    i < out->count; i++) {
		d = &out->devices[i];
		if (d->added_by_type != KT_PROV_OPERATOR)
			continue;
		d->added_by_type = KT_PROV_DEVICE;
		memcpy(d->added_by_id, fl->devs[0].id, fl->devs[0].id_len);
		d->added_by_id_len = fl->devs[0].id_len;
	}
	return r;
}

/* Records the committed version and appends its entry. */
static int commit_version(kt_fake_log *fl, fake_account *a, uint8_t *value,
			  size_t value_len, uint8_t *prov, size_t prov_len)
{
	fake_version *fv = &a->versions[a->n_versions];
	uint8_t digest[KT_HASH_BYTES], start[KT_HASH_BYTES];
	kt_map_store ms = kt_map_mem_store(fl->mm);
	kt_log_entry e;
	uint64_t li = fl->log.size, ctr = fl->openings++;
	int r;

	memset(fv, 0, sizeof(*fv));
	crypto_generichash(fv->opening, sizeof(fv->opening),
			   (const uint8_t *)&ctr, sizeof(ctr), NULL, 0);
	fv->leaf.version = a->version +
			   ((fl->tamper & KT_FAKE_TAMPER_SKIP_VERSION) ? 2 : 1);
	fv->leaf.log_index = li;
	r = kt_commitment_compute(fv->leaf.commitment, fv->opening,
				  (const uint8_t *)a->name, a->len,
				  fv->leaf.version, value, value_len, prov,
				  prov_len);
	if (r != KT_OK)
		return r;
	memcpy(start, a->history, sizeof(start));
	if (fl->tamper & KT_FAKE_TAMPER_HISTORY)
		memset(start, 0, sizeof(start));
	kt_history_step(fv->leaf.history, start, fv->leaf.version, li,
			fv->leaf.commitment);
	kt_map_leaf_digest(digest, &fv->leaf);
	r = kt_map_update(&ms, li, a->index, digest, fl->map_root);
	if (r != KT_OK)
		return r;
	memset(&e, 0, sizeof(e));
	e.type = KT_ENTRY_UPDATE;
	e.timestamp_ms = fl->now_ms;
	memcpy(e.index, a->index, KT_INDEX_BYTES);
	e.leaf = fv->leaf;
	memcpy(e.map_root, fl->map_root, KT_HASH_BYTES);
	r = append_entry(fl, &e);
	if (r != KT_OK)
		return r;
	fv->log_index = li;
	fv->value = value;
	fv->value_len = value_len;
	fv->prov = prov;
	fv->prov_len = prov_len;
	a->n_versions++;
	a->version = fv->leaf.version;
	memcpy(a->history, fv->leaf.history, KT_HASH_BYTES);
	return KT_OK;
}

/* Appends one zero byte to the heap buffer *p. */
static int add_trailing(uint8_t **p, size_t *len)
{
	uint8_t *n = realloc(*p, *len + 1);

	if (n == NULL)
		return KT_ERR_NOMEM;
	n[*len] = 0;
	*p = n;
	(*len)++;
	return KT_OK;
}

/* One update of account with provenance pv (whose signature is set). */
static int apply(kt_fake_log *fl, fake_account *a, const kt_provenance *pv_in)
{
	kt_provenance pv = *pv_in;
	kt_account_value nv;
	uint8_t *value = NULL, *prov = NULL;
	size_t value_len = 0, prov_len = 0;
	int r;

	if (a->n_versions >= KT_FAKE_MAX_VERSIONS)
		return KT_ERR_TOO_LARGE;
	kt_account_value_init(&nv);
	if (fl->tamper & KT_FAKE_TAMPER_BAD_SIG)
		pv.sig.sig[7] ^= 0x01;
	r = next_value(fl, a, &pv, &nv);
	if (r == KT_OK)
		r = encode_value(&nv, &value, &value_len);
	if (r == KT_OK)
		r = encode_prov(&pv, &prov, &prov_len);
	if (r == KT_OK && (fl->tamper & KT_FAKE_TAMPER_VALUE_BYTES))
		r = add_trailing(&value, &value_len);
	if (r == KT_OK && (fl->tamper & KT_FAKE_TAMPER_PROV_BYTES))
		r = add_trailing(&prov, &prov_len);
	if (r == KT_OK)
		r = commit_version(fl, a, value, value_len, prov, prov_len);
	fl->tamper = 0;
	if (r != KT_OK) {
		free(value);
		free(prov);
		kt_account_value_free(&nv);
		return r;
	}
	kt_account_value_free(&a->value);
	a->value = nv;
	return KT_OK;
}

static kt_device spec_of(const kt_fake_log *fl, unsigned s)
{
	kt_device d = fl->devs[s];

	if (fl->tamper & KT_FAKE_TAMPER_BAD_KEY)
		memset(d.enc_pk.pk, 0, sizeof(d.enc_pk.pk));
	return d;
}

int kt_fake_log_enrol(kt_fake_log *fl, const char *account, unsigned s)
{
	fake_account *a = get_account(fl, account);
	kt_provenance pv;
	kt_wbuf w;
	int r;

	if (a == NULL || s >= KT_FAKE_DEVICES)
		return KT_ERR_INVALID_ARG;
	memset(&pv, 0, sizeof(pv));
	pv.type = KT_PROV_REGISTRAR;
	pv.op.op = KT_OP_ENROL;
	pv.op.device = spec_of(fl, s);
	pv.registrar_pk = fl->reg_pk;
	pv.expiry_ms = fl->now_ms + 3600000;
	kt_wbuf_init(&w, KT_REGISTRAR_TOKEN_MESSAGE_MAX_BYTES);
	r = kt_registrar_token_message(&w, (const uint8_t *)account,
				       strlen(account), &pv.op.device,
				       pv.expiry_ms);
	if (r == KT_OK)
		r = kt_sig_sign(&pv.sig, fl->reg_sk, w.data, w.len);
	kt_wbuf_free(&w);
	return r == KT_OK ? apply(fl, a, &pv) : r;
}

/* A device-signed change by slot `by`. */
static int device_change(kt_fake_log *fl, const char *account, unsigned by,
			 const kt_update_op *op)
{
	fake_account *a = find_account(fl, account);
	kt_provenance pv;
	kt_wbuf w;
	int r;

	if (a == NULL || by >= KT_FAKE_DEVICES)
		return KT_ERR_INVALID_ARG;
	memset(&pv, 0, sizeof(pv));
	pv.type = KT_PROV_DEVICE;
	pv.op = *op;
	memcpy(pv.device_id, fl->devs[by].id, fl->devs[by].id_len);
	pv.device_id_len = fl->devs[by].id_len;
	kt_wbuf_init(&w, KT_UPDATE_MESSAGE_MAX_BYTES);
	r = kt_update_message(&w, (const uint8_t *)account, strlen(account), op,
			      a->version);
	if (r == KT_OK)
		r = kt_sig_sign(&pv.sig, fl->dev_sk[by], w.data, w.len);
	kt_wbuf_free(&w);
	return r == KT_OK ? apply(fl, a, &pv) : r;
}

static void op_target(const kt_fake_log *fl, kt_update_op *op, unsigned s)
{
	memcpy(op->device_id, fl->devs[s].id, fl->devs[s].id_len);
	op->device_id_len = fl->devs[s].id_len;
}

int kt_fake_log_add(kt_fake_log *fl, const char *account, unsigned by,
		    unsigned s)
{
	kt_update_op op;

	if (s >= KT_FAKE_DEVICES)
		return KT_ERR_INVALID_ARG;
	memset(&op, 0, sizeof(op));
	op.op = KT_OP_ADD_DEVICE;
	op.device = spec_of(fl, s);
	return device_change(fl, account, by, &op);
}

int kt_fake_log_remove(kt_fake_log *fl, const char *account, unsigned by,
		       unsigned s)
{
	kt_update_op op;

	if (s >= KT_FAKE_DEVICES)
		return KT_ERR_INVALID_ARG;
	memset(&op, 0, sizeof(op));
	op.op = KT_OP_REMOVE_DEVICE;
	op_target(fl, &op, s);
	return device_change(fl, account, by, &op);
}

int kt_fake_log_set_push(kt_fake_log *fl, const char *account, unsigned by,
			 unsigned s, const char *push)
{
	kt_update_op op;

	if (s >= KT_FAKE_DEVICES || strlen(push) > KT_PUSH_ADDRESS_MAX)
		return KT_ERR_INVALID_ARG;
	memset(&op, 0, sizeof(op));
	op.op = KT_OP_SET_PUSH;
	op_target(fl, &op, s);
	op.push_len = strlen(push);
	memcpy(op.push, push, op.push_len);
	return device_change(fl, account, by, &op);
}

static int operator_change(kt_fake_log *fl, const char *account,
			   const kt_update_op *op, const char *reason)
{
	fake_account *a = find_account(fl, account);
	kt_provenance pv;

	if (a == NULL || strlen(reason) < 1 || strlen(reason) > KT_REASON_MAX)
		return KT_ERR_INVALID_ARG;
	memset(&pv, 0, sizeof(pv));
	pv.type = KT_PROV_OPERATOR;
	pv.op = *op;
	pv.reason_len = strlen(reason);
	memcpy(pv.reason, reason, pv.reason_len);
	pv.label_len = 3;
	memcpy(pv.label, "ops", 3);
	return apply(fl, a, &pv);
}

int kt_fake_log_operator_add(kt_fake_log *fl, const char *account, unsigned s,
			     const char *reason)
{
	kt_update_op op;

	if (s >= KT_FAKE_DEVICES)
		return KT_ERR_INVALID_ARG;
	memset(&op, 0, sizeof(op));
	op.op = KT_OP_ADD_DEVICE;
	op.device = spec_of(fl, s);
	return operator_change(fl, account, &op, reason);
}

int kt_fake_log_operator_remove(kt_fake_log *fl, const char *account,
				unsigned s, const char *reason)
{
	kt_update_op op;

	if (s >= KT_FAKE_DEVICES)
		return KT_ERR_INVALID_ARG;
	memset(&op, 0, sizeof(op));
	op.op = KT_OP_REMOVE_DEVICE;
	op_target(fl, &op, s);
	return operator_change(fl, account, &op, reason);
}

uint64_t kt_fake_log_version(const kt_fake_log *fl, const char *account)
{
	const fake_account *a = find_account(fl, account);

	return a != NULL ? a->version : 0;
}

/* ---- answers ---------------------------------------------------------- */

int kt_fake_log_checkpoint(const kt_fake_log *fl, uint64_t size,
			   unsigned witness_mask, uint64_t cosig_time,
			   uint8_t **note, size_t *note_len)
{
	kt_log_store st = kt_log_memstore_store(fl->ls);
	uint8_t *body = NULL, *n = NULL, *n2;
	size_t body_len, n_len, n2_len;
	kt_checkpoint cp;
	unsigned i;
	int r;

	*note = NULL;
	*note_len = 0;
	if (size > fl->log.size)
		return KT_ERR_INVALID_ARG;
	memset(&cp, 0, sizeof(cp));
	cp.origin.p = (const uint8_t *)KT_FAKE_ORIGIN;
	cp.origin.len = strlen(KT_FAKE_ORIGIN);
	cp.size = size;
	r = kt_log_root_at(&st, size, cp.root);
	if (r == KT_OK)
		r = kt_checkpoint_format(&cp, &body, &body_len);
	if (r == KT_OK)
		r = kt_note_sign(&fl->log_signer, 0, body, body_len, &n, &n_len);
	for (i = 0; r == KT_OK && i < KT_FAKE_WITNESSES; i++) {
		if (!(witness_mask & (1u << i)))
			continue;
		r = kt_note_add_sig(&fl->witnesses[i], cosig_time, n, n_len, &n2,
				    &n2_len);
		if (r == KT_OK) {
			free(n);
			n = n2;
			n_len = n2_len;
		}
	}
	free(body);
	if (r != KT_OK) {
		free(n);
		return r;
	}
	*note = n;
	*note_len = n_len;
	return KT_OK;
}

int kt_fake_log_head(const kt_fake_log *fl, uint64_t size, uint64_t from_size,
		     unsigned witness_mask, kt_fake_head *out)
{
	kt_log_store st = kt_log_memstore_store(fl->ls);
	int r;

	memset(out, 0, sizeof(*out));
	if (size == 0 || size > fl->log.size || from_size > size)
		return KT_ERR_INVALID_ARG;
	r = kt_fake_log_checkpoint(fl, size, witness_mask, fl->now_ms / 1000,
				   &out->checkpoint, &out->checkpoint_len);
	if (r == KT_OK && from_size > 0 && from_size < size)
		r = kt_log_prove_consistency(&st, from_size, size,
					     out->consistency,
					     &out->n_consistency);
	if (r == KT_OK)
		r = kt_log_prove_inclusion(&st, size - 1, size, out->inclusion,
					   &out->n_inclusion);
	if (r != KT_OK) {
		kt_fake_head_free(out);
		return r;
	}
	out->tree_size = size;
	memcpy(out->last_entry, fl->entries[size - 1], fl->entry_len[size - 1]);
	out->last_entry_len = fl->entry_len[size - 1];
	return KT_OK;
}

void kt_fake_head_free(kt_fake_head *h)
{
	if (h == NULL)
		return;
	free(h->checkpoint);
	memset(h, 0, sizeof(*h));
}

/* The newest version of a written before tree size `size`, or NULL. */
static const fake_version *version_at(const fake_account *a, uint64_t size)
{
	const fake_version *best = NULL;
	size_t i;

	for (i = 0; a != NULL && i < a->n_versions; i++)
		if (a->versions[i].log_index < size)
			best = &a->versions[i];
	return best;
}

static int dup_bytes(uint8_t **out, size_t *out_len, const uint8_t *p, size_t len)
{
	*out = malloc(len > 0 ? len : 1);
	if (*out == NULL)
		return KT_ERR_NOMEM;
	memcpy(*out, p, len);
	*out_len = len;
	return KT_OK;
}

int kt_fake_log_lookup(const kt_fake_log *fl, uint64_t size,
		       const char *account, kt_fake_lookup *out)
{
	kt_map_store ms = kt_map_mem_store(fl->mm);
	const fake_version *fv = version_at(find_account(fl, account), size);
	uint8_t index[KT_INDEX_BYTES];
	int r;

	memset(out, 0, sizeof(*out));
	if (size == 0 || size > fl->log.size)
		return KT_ERR_INVALID_ARG;
	r = account_index(fl, account, index, out->vrf_proof);
	if (r == KT_OK)
		r = kt_map_prove(&ms, size - 1, index, &out->map_proof,
				 &out->map_proof_len);
	if (r == KT_OK && fv != NULL) {
		out->present = 1;
		kt_map_leaf_bytes(out->leaf, &fv->leaf);
		memcpy(out->opening, fv->opening, KT_OPENING_BYTES);
		r = dup_bytes(&out->value, &out->value_len, fv->value, fv->value_len);
		if (r == KT_OK)
			r = dup_bytes(&out->provenance, &out->provenance_len, fv->prov,
				fv->prov_len);
	}
	if (r != KT_OK)
		kt_fake_lookup_free(out);
	return r;
}

void kt_fake_lookup_free(kt_fake_lookup *l)
{
	if (l == NULL)
		return;
	free(l->map_proof);
	free(l->value);
	free(l->provenance);
	memset(l, 0, sizeof(*l));
}

static int fill_version(const kt_fake_log *fl, const fake_version *fv,
			uint64_t size, kt_fake_version *out)
{
	kt_log_store st = kt_log_memstore_store(fl->ls);
	int r;

	out->log_index = fv->log_index;
	memcpy(out->entry, fl->entries[fv->log_index],
	       fl->entry_len[fv->log_index]);
	out->entry_len = fl->entry_len[fv->log_index];
	memcpy(out->opening, fv->opening, KT_OPENING_BYTES);
	r = kt_log_prove_inclusion(&st, fv->log_index, size, out->inclusion,
				   &out->n_inclusion);
	if (r == KT_OK)
		r = dup_bytes(&out->value, &out->value_len, fv->value, fv->value_len);
	if (r == KT_OK)
		r = dup_bytes(&out->provenance, &out->provenance_len, fv->prov,
			fv->prov_len);
	return r;
}

int kt_fake_log_history(const kt_fake_log *fl, uint64_t size,
			const char *account, uint64_t from_version,
			kt_fake_version **out, size_t *n)
{
	const fake_account *a = find_account(fl, account);
	kt_fake_version *v;
	size_t i, k = 0;
	int r = KT_OK;

	*out = NULL;
	*n = 0;
	if (a == NULL || size == 0 || size > fl->log.size)
		return KT_ERR_INVALID_ARG;
	v = calloc(a->n_versions + 1, sizeof(*v));
	if (v == NULL)
		return KT_ERR_NOMEM;
	for (i = 0; r == KT_OK && i < a->n_versions; i++) {
		const fake_version *fv = &a->versions[i];

		if (fv->leaf.version < from_version || fv->log_index >= size)
			continue;
		r = fill_version(fl, fv, size, &v[k]);
		k++;
	}
	if (r != KT_OK) {
		kt_fake_versions_free(v, k);
		return r;
	}
	*out = v;
	*n = k;
	return KT_OK;
}

void kt_fake_versions_free(kt_fake_version *v, size_t n)
{
	size_t i;

	for (i = 0; v != NULL && i < n; i++) {
		free(v[i].value);
		free(v[i].provenance);
	}
	free(v);
}
