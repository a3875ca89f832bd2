/*
 * itest_verify.c — what a verifying client checks, done with merkle/
 * directly (see itest.h).
 */
#include "itest.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "keytrail/v1/directory.pb-c.h"
#include "kt_checkpoint.h"
#include "kt_commit.h"
#include "kt_log.h"
#include "kt_map.h"

/* ---- trust state ---------------------------------------------------------- */

void itest_trust_init(itest_trust *t, const itest_ktd *k)
{
	memset(t, 0, sizeof(*t));
	t->k = k;
}

const uint8_t *itest_trust_root(const itest_trust *t, uint64_t size)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		if (t->size[i] == size)
			return t->root[i];
	return NULL;
}

int itest_trust_checkpoint(itest_trust *t, const uint8_t *note, size_t len,
			   uint64_t *size, uint8_t root[32])
{
	kt_checkpoint cp;
	kt_note_sigstatus st;
	const uint8_t *known;
	size_t i;
	int r;

	r = kt_checkpoint_open(&cp, note, len, t->k->origin, strlen(t->k->origin),
			       &t->k->log_vk, 1, &st);
	if (r != KT_OK)
		return r;
	if (!st.verified)
		return KT_ERR_NOTE_NO_VERIFIED_SIG;
	known = itest_trust_root(t, cp.size);
	if (known != NULL) {
		/* public values: memcmp is fine */
		if (memcmp(known, cp.root, 32) != 0)
			itest_fail(__FILE__, __LINE__, "FORK: two roots for size %llu",
				   (unsigned long long)cp.size);
	} else {
		CHECK(t->n < ITEST_MAX_CPS);
		/* keep sizes sorted */
		for (i = t->n; i > 0 && t->size[i - 1] > cp.size; i--) {
			t->size[i] = t->size[i - 1];
			memcpy(t->root[i], t->root[i - 1], 32);
		}
		t->size[i] = cp.size;
		memcpy(t->root[i], cp.root, 32);
		t->n++;
	}
	if (cp.size > t->newest)
		t->newest = cp.size;
	if (size != NULL)
		*size = cp.size;
	if (root != NULL)
		memcpy(root, cp.root, 32);
	return KT_OK;
}

/* ---- heads ------------------------------------------------------------- */

static void pb_hashes(kt_bytes *out, const ProtobufCBinaryData *in, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		out[i].p = in[i].data;
		out[i].len = in[i].len;
	}
}

int itest_verify_head(itest_trust *t, const Keytrail__V1__ReadHead *h,
		      uint64_t last_verified, itest_head *out)
{
	kt_bytes proof[KT_LOG_MAX_PROOF_HASHES];
	uint8_t lh[32];
	const uint8_t *old;
	kt_bytes r1, r2;
	int r;

	memset(out, 0, sizeof(*out));
	if (h == NULL)
		return KT_ERR_INVALID_ARG;
	r = itest_trust_checkpoint(t, h->checkpoint.data, h->checkpoint.len,
				   &out->size, out->root);
	if (r != KT_OK)
		return r;
	if (out->size != h->tree_size || out->size == 0)
		return KT_ERR_LOG_BAD_SIZE;
	if (h->n_consistency > KT_LOG_MAX_PROOF_HASHES ||
	    h->n_last_entry_inclusion > KT_LOG_MAX_PROOF_HASHES)
		return KT_ERR_LOG_PROOF_LENGTH;
	if (last_verified != 0 && last_verified != out->size) {
		old = itest_trust_root(t, last_verified);
		if (old == NULL)
			return KT_ERR_INVALID_ARG;
		pb_hashes(proof, h->consistency, h->n_consistency);
		r1.p = old;
		r1.len = 32;
		r2.p = out->root;
		r2.len = 32;
		if (last_verified < out->size)
			r = kt_log_verify_consistency(last_verified, out->size, r1, r2,
						      proof, h->n_consistency);
		else
			r = kt_log_verify_consistency(out->size, last_verified, r2, r1,
						      proof, h->n_consistency);
		if (r != KT_OK)
			return r;
	} else if (h->n_consistency != 0) {
		return KT_ERR_LOG_PROOF_LENGTH;
	}
	kt_log_leaf_hash(lh, h->last_entry.data, h->last_entry.len);
	pb_hashes(proof, h->last_entry_inclusion, h->n_last_entry_inclusion);
	r1.p = lh;
	r1.len = 32;
	r2.p = out->root;
	r2.len = 32;
	r = kt_log_verify_inclusion(r1, out->size - 1, out->size, proof,
				    h->n_last_entry_inclusion, r2);
	if (r != KT_OK)
		return r;
	return kt_log_entry_decode(&out->last, h->last_entry.data, h->last_entry.len);
}

/* ---- lookups ------------------------------------------------------------ */

static int vrf_index(const itest_trust *t, const ProtobufCBinaryData *proof,
		     const char *account, uint8_t index[KT_INDEX_BYTES])
{
	uint8_t beta[KT_VRF_OUTPUT_BYTES];
	int r;

	if (proof->len != KT_VRF_PROOF_BYTES)
		return KT_ERR_VRF_BAD_PROOF;
	r = kt_vrf_verify(beta, t->k->vrf_pk, proof->data,
			  (const uint8_t *)account, strlen(account));
	if (r == KT_OK)
		kt_vrf_index(index, beta);
	return r;
}

/* The leaf, commitment and value of an existing account. */
static int open_value(const char *account, const ProtobufCBinaryData *leafb,
		      const ProtobufCBinaryData *value,
		      const ProtobufCBinaryData *prov,
		      const ProtobufCBinaryData *opening, kt_map_leaf *leaf,
		      kt_account_value *v, kt_provenance *pv)
{
	int r;

	r = kt_map_leaf_decode(leaf, leafb->data, leafb->len);
	if (r != KT_OK)
		return r;
	if (opening->len != KT_OPENING_BYTES)
		return KT_ERR_COMMITMENT_MISMATCH;
	r = kt_commitment_verify(leaf->commitment, opening->data,
				 (const uint8_t *)account, strlen(account),
				 leaf->version, value->data, value->len,
				 prov->data, prov->len);
	if (r != KT_OK)
		return r;
	r = kt_account_value_decode(v, value->data, value->len);
	if (r != KT_OK)
		return r;
	r = kt_account_value_validate(v);
	if (r != KT_OK)
		return r;
	return kt_provenance_decode(pv, prov->data, prov->len);
}

int itest_verify_lookup(itest_trust *t, const Keytrail__V1__LookupResponse *resp,
			const char *account, uint64_t last_verified,
			itest_lookup *out)
{
	uint8_t digest[32];
	kt_bytes mp;
	int r;

	memset(out, 0, sizeof(*out));
	kt_account_value_init(&out->value);
	r = itest_verify_head(t, resp->head, last_verified, &out->head);
	if (r != KT_OK)
		return r;
	r = vrf_index(t, &resp->vrf_proof, account, out->index);
	if (r != KT_OK)
		return r;
	mp.p = resp->map_proof.data;
	mp.len = resp->map_proof.len;
	out->exists = resp->leaf.len != 0;
	if (!out->exists) {
		if (resp->value.len != 0 || resp->provenance.len != 0 ||
		    resp->opening.len != 0)
			return KT_ERR_INVALID_ARG;
		return kt_map_verify(out->head.last.map_root, out->index, NULL, mp);
	}
	r = open_value(account, &resp->leaf, &resp->value, &resp->provenance,
		       &resp->opening, &out->leaf, &out->value, &out->prov);
	if (r != KT_OK)
		return r;
	kt_map_leaf_digest(digest, &out->leaf);
	r = kt_map_verify(out->head.last.map_root, out->index, digest, mp);
	if (r != KT_OK)
		return r;
	/* the version's entry lies inside the tree */
	return out->leaf.log_index < out->head.size ? KT_OK : KT_ERR_LEAF_MISMATCH;
}

/* ---- history ------------------------------------------------------------ */

/* Checks the signature that authorised version v (prev = value v-1) and
 * that a registrar is the one the node was configured with. */
static int check_authority(const itest_trust *t, const char *account,
			   const kt_account_value *prev, const kt_provenance *pv,
			   uint64_t version)
{
	kt_sign_key rk;

	if (pv->type == KT_PROV_REGISTRAR) {
		rk.type = KT_SIGN_KEY_ED25519;
		memcpy(rk.pk, t->k->registrar.pub.pk, 32);
		/* the dev registrar is the only one these tests configure;
		 * public keys: memcmp is fine */
		if (memcmp(&rk, &pv->registrar_pk, sizeof(rk)) != 0)
			return KT_ERR_UNKNOWN_REGISTRAR;
	}
	if (pv->type == KT_PROV_OPERATOR && pv->reason_len == 0)
		return KT_ERR_BAD_LENGTH;
	return kt_provenance_verify_signature(prev, pv, (const uint8_t *)account,
					      strlen(account), version - 1);
}

int itest_verify_history(itest_trust *t, const Keytrail__V1__HistoryResponse *resp,
			 const char *account, size_t *n_out)
{
	itest_head head;
	uint8_t index[KT_INDEX_BYTES], digest[32], lh[32], zero[32];
	kt_bytes proof[KT_LOG_MAX_PROOF_HASHES], r1, r2, mp;
	kt_map_leaf head_leaf, *leaves = NULL;
	kt_account_value prev, cur;
	kt_provenance pv;
	kt_log_entry e;
	size_t i;
	int r;

	*n_out = 0;
	kt_account_value_init(&prev);
	kt_account_value_init(&cur);
	r = itest_verify_head(t, resp->head, 0, &head);
	if (r == KT_OK)
		r = vrf_index(t, &resp->vrf_proof, account, index);
	if (r == KT_OK)
		r = kt_map_leaf_decode(&head_leaf, resp->leaf.data, resp->leaf.len);
	if (r != KT_OK)
		return r;
	kt_map_leaf_digest(digest, &head_leaf);
	mp.p = resp->map_proof.data;
	mp.len = resp->map_proof.len;
	r = kt_map_verify(head.last.map_root, index, digest, mp);
	if (r != KT_OK)
		return r;
	leaves = calloc(resp->n_versions != 0 ? resp->n_versions : 1, sizeof(*leaves));
	CHECK(leaves != NULL);
	for (i = 0; i < resp->n_versions; i++) {
		const Keytrail__V1__HistoryVersion *v = resp->versions[i];

		/* the entry and its inclusion at the head */
		if (v->n_inclusion > KT_LOG_MAX_PROOF_HASHES) {
			r = KT_ERR_LOG_PROOF_LENGTH;
			goto out;
		}
		kt_log_leaf_hash(lh, v->entry.data, v->entry.len);
		pb_hashes(proof, v->inclusion, v->n_inclusion);
		r1.p = lh;
		r1.len = 32;
		r2.p = head.root;
		r2.len = 32;
		r = kt_log_verify_inclusion(r1, v->log_index, head.size, proof,
					    v->n_inclusion, r2);
		if (r == KT_OK)
			r = kt_log_entry_decode(&e, v->entry.data, v->entry.len);
		if (r == KT_OK && e.leaf.log_index != v->log_index)
			r = KT_ERR_LEAF_MISMATCH;
		if (r == KT_OK)
			r = kt_log_entry_check_leaf(&e, index, &e.leaf);
		if (r != KT_OK)
			goto out;
		leaves[i] = e.leaf;
		/* the commitment opens to the value and provenance */
		kt_account_value_free(&cur);
		r = kt_commitment_verify(e.leaf.commitment, v->opening.data,
					 (const uint8_t *)account, strlen(account),
					 e.leaf.version, v->value.data, v->value.len,
					 v->provenance.data, v->provenance.len);
		if (r == KT_OK && v->opening.len != KT_OPENING_BYTES)
			r = KT_ERR_COMMITMENT_MISMATCH;
		if (r == KT_OK)
			r = kt_account_value_decode(&cur, v->value.data, v->value.len);
		if (r == KT_OK)
			r = kt_provenance_decode(&pv, v->provenance.data,
						 v->provenance.len);
		/* the change is exactly the authorised one */
		if (r == KT_OK)
			r = check_authority(t, account, &prev, &pv, e.leaf.version);
		if (r == KT_OK)
			r = kt_provenance_check_transition(&prev, &cur, &pv,
							   e.timestamp_ms);
		if (r != KT_OK)
			goto out;
		kt_account_value_free(&prev);
		prev = cur;
		kt_account_value_init(&cur);
	}
	memset(zero, 0, sizeof(zero));
	r = kt_history_verify(zero, 0, leaves, resp->n_versions,
			      resp->more ? leaves[resp->n_versions - 1].history
					 : head_leaf.history,
			      NULL);
	if (r == KT_OK)
		*n_out = resp->n_versions;
out:
	free(leaves);
	kt_account_value_free(&prev);
	kt_account_value_free(&cur);
	return r;
}

/* ---- calls with verification -------------------------------------------- */

void itest_lookup_verified(itest_ktd *k, itest_trust *t, const char *account,
			   uint64_t tree_size, uint64_t last_verified,
			   itest_lookup *out)
{
	Keytrail__V1__LookupRequest req = KEYTRAIL__V1__LOOKUP_REQUEST__INIT;
	Keytrail__V1__ReadAt at = KEYTRAIL__V1__READ_AT__INIT;
	Keytrail__V1__LookupResponse *resp;
	kt_gc_result res;
	int r;

	at.tree_size = tree_size;
	at.last_verified_size = last_verified;
	req.at = &at;
	req.account.data = (uint8_t *)(uintptr_t)account;
	req.account.len = strlen(account);
	itest_call_pb(k, M_LOOKUP, &req.base, NULL, &res);
	CHECK_STATUS(&res, 0);
	resp = keytrail__v1__lookup_response__unpack(NULL, res.body_len, res.body);
	CHECK(resp != NULL);
	r = itest_verify_lookup(t, resp, account, last_verified, out);
	if (r != KT_OK)
		itest_fail(__FILE__, __LINE__, "lookup %s at %llu (lvs %llu): %s",
			   account, (unsigned long long)tree_size,
			   (unsigned long long)last_verified, kt_errname(r));
	if (tree_size != 0)
		CHECK(out->head.size == tree_size);
	keytrail__v1__lookup_response__free_unpacked(resp, NULL);
	kt_gc_result_clear(&res);
}

uint8_t *itest_get_checkpoint(itest_ktd *k, itest_trust *t, size_t *len,
			      uint64_t *size)
{
	Keytrail__V1__GetCheckpointRequest req = KEYTRAIL__V1__GET_CHECKPOINT_REQUEST__INIT;
	Keytrail__V1__GetCheckpointResponse *resp;
	kt_gc_result res;
	uint8_t *note;

	itest_call_pb(k, M_GET_CHECKPOINT, &req.base, NULL, &res);
	CHECK_STATUS(&res, 0);
	resp = keytrail__v1__get_checkpoint_response__unpack(NULL, res.body_len,
							     res.body);
	CHECK(resp != NULL);
	CHECK_OK(itest_trust_checkpoint(t, resp->checkpoint.data,
					resp->checkpoint.len, size, NULL));
	note = malloc(resp->checkpoint.len);
	CHECK(note != NULL);
	memcpy(note, resp->checkpoint.data, resp->checkpoint.len);
	*len = resp->checkpoint.len;
	keytrail__v1__get_checkpoint_response__free_unpacked(resp, NULL);
	kt_gc_result_clear(&res);
	return note;
}

static void check_pair(itest_ktd *k, itest_trust *t, size_t i, size_t j)
{
	Keytrail__V1__GetConsistencyProofRequest req =
		KEYTRAIL__V1__GET_CONSISTENCY_PROOF_REQUEST__INIT;
	Keytrail__V1__GetConsistencyProofResponse *resp;
	kt_bytes proof[KT_LOG_MAX_PROOF_HASHES], r1, r2;
	kt_gc_result res;
	int r;

	req.from_size = t->size[i];
	req.to_size = t->size[j];
	itest_call_pb(k, M_GET_CONSISTENCY, &req.base, NULL, &res);
	CHECK_STATUS(&res, 0);
	resp = keytrail__v1__get_consistency_proof_response__unpack(NULL, res.body_len,
								    res.body);
	CHECK(resp != NULL);
	CHECK(resp->n_proof <= KT_LOG_MAX_PROOF_HASHES);
	pb_hashes(proof, resp->proof, resp->n_proof);
	r1.p = t->root[i];
	r1.len = 32;
	r2.p = t->root[j];
	r2.len = 32;
	r = kt_log_verify_consistency(t->size[i], t->size[j], r1, r2, proof,
				      resp->n_proof);
	if (r != KT_OK)
		itest_fail(__FILE__, __LINE__, "consistency %llu -> %llu: %s",
			   (unsigned long long)t->size[i],
			   (unsigned long long)t->size[j], kt_errname(r));
	/* forgery twin: a flipped bit in the older root must fail */
	if (t->size[i] != t->size[j]) {
		uint8_t bad[32];

		memcpy(bad, t->root[i], 32);
		bad[0] ^= 1;
		r1.p = bad;
		CHECK(kt_log_verify_consistency(t->size[i], t->size[j], r1, r2,
						proof, resp->n_proof) != KT_OK);
	}
	keytrail__v1__get_consistency_proof_response__free_unpacked(resp, NULL);
	kt_gc_result_clear(&res);
}

void itest_check_consistency(itest_ktd *k, itest_trust *t, uint64_t from,
			     uint64_t to)
{
	size_t i, fi = SIZE_MAX, ti = SIZE_MAX;

	for (i = 0; i < t->n; i++) {
		if (t->size[i] == from)
			fi = i;
		if (t->size[i] == to)
			ti = i;
	}
	CHECK(fi != SIZE_MAX && ti != SIZE_MAX);
	check_pair(k, t, fi, ti);
}

void itest_check_all_consistency(itest_ktd *k, itest_trust *t, size_t max_pairs)
{
	size_t i, j, pairs = t->n * (t->n - 1) / 2, step, c = 0;

	if (t->n < 2)
		return;
	step = pairs > max_pairs ? pairs / max_pairs + 1 : 1;
	for (i = 0; i < t->n; i++)
		for (j = i + 1; j < t->n; j++, c++)
			if (c % step == 0)
				check_pair(k, t, i, j);
}

void itest_check_entries(itest_ktd *k, itest_trust *t, uint32_t page)
{
	Keytrail__V1__GetEntriesRequest req = KEYTRAIL__V1__GET_ENTRIES_REQUEST__INIT;
	Keytrail__V1__GetEntriesResponse *resp;
	kt_log_memstore *ms = NULL;
	kt_log log;
	kt_gc_result res;
	uint8_t lh[32], root[32];
	uint64_t pos = 0;
	size_t i, next_cp = 0;

	CHECK_OK(kt_log_memstore_new(&ms));
	kt_log_init(&log, kt_log_memstore_store(ms));
	while (pos < t->newest) {
		req.start = pos;
		req.count = page;
		itest_call_pb(k, M_GET_ENTRIES, &req.base, NULL, &res);
		CHECK_STATUS(&res, 0);
		resp = keytrail__v1__get_entries_response__unpack(NULL, res.body_len,
								  res.body);
		CHECK(resp != NULL);
		CHECK(resp->n_entries >= 1 && resp->n_entries <= page);
		for (i = 0; i < resp->n_entries; i++) {
			kt_log_entry e;

			CHECK_OK(kt_log_entry_decode(&e, resp->entries[i].data,
						     resp->entries[i].len));
			if (e.type == KT_ENTRY_UPDATE)
				CHECK(e.leaf.log_index == pos);
			kt_log_leaf_hash(lh, resp->entries[i].data,
					 resp->entries[i].len);
			CHECK_OK(kt_log_append(&log, lh, NULL));
			pos++;
			while (next_cp < t->n && t->size[next_cp] < pos)
				next_cp++;
			if (next_cp < t->n && t->size[next_cp] == pos) {
				kt_log_root(&log, root);
				if (memcmp(root, t->root[next_cp], 32) != 0)
					itest_fail(__FILE__, __LINE__,
						   "entries do not give the root at %llu",
						   (unsigned long long)pos);
			}
		}
		keytrail__v1__get_entries_response__free_unpacked(resp, NULL);
		kt_gc_result_clear(&res);
	}
	kt_log_memstore_free(ms);
}
