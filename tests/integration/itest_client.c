/*
 * itest_client.c — the same responses checked once more by the client
 * library's verifier (client/kt_verify.h), with a persistent trust state as
 * a real sender's client keeps it.  Built only when client/kt_verify.c is
 * in the tree (tests/integration/CMakeLists.txt defines
 * KT_ITEST_CLIENT_VERIFY); itest_verify.c is the independent check that is
 * always there.
 */
#include "itest_client.h"

#ifdef KT_ITEST_CLIENT_VERIFY

#include <stdlib.h>
#include <string.h>

#include "keytrail/v1/directory.pb-c.h"

void itest_client_init(itest_client *c, const itest_ktd *k)
{
	memset(c, 0, sizeof(*c));
	kt_trust_config_init(&c->cfg);
	CHECK_OK(kt_trust_config_set_origin(&c->cfg, k->origin, strlen(k->origin)));
	c->cfg.log_key = k->log_vk;
	memcpy(c->cfg.vrf_pk, k->vrf_pk, sizeof(c->cfg.vrf_pk));
	c->cfg.n_witnesses = 0;       /* dev node: no witness policy */
	c->cfg.witness_threshold = 0;
	CHECK_OK(kt_trust_config_check(&c->cfg));
	kt_trust_state_init(&c->st);
}

void itest_client_free(itest_client *c)
{
	kt_trust_state_free(&c->st);
	kt_verified_head_free(&c->head);
}

static kt_bytes *pb_list(const ProtobufCBinaryData *in, size_t n)
{
	kt_bytes *out = calloc(n != 0 ? n : 1, sizeof(*out));
	size_t i;

	CHECK(out != NULL);
	for (i = 0; i < n; i++) {
		out[i].p = in[i].data;
		out[i].len = in[i].len;
	}
	return out;
}

static kt_bytes pb1(const ProtobufCBinaryData *b)
{
	kt_bytes r = {b->data, b->len};

	return r;
}

/* Verifies h with the trust state and adopts the new state. */
static int adopt_head(itest_client *c, const Keytrail__V1__ReadHead *h,
		      kt_evidence *ev)
{
	kt_read_head rh;
	kt_trust_state ns;
	kt_bytes *cons, *incl;
	int r;

	CHECK(h != NULL);
	cons = pb_list(h->consistency, h->n_consistency);
	incl = pb_list(h->last_entry_inclusion, h->n_last_entry_inclusion);
	rh.checkpoint = pb1(&h->checkpoint);
	rh.tree_size = h->tree_size;
	rh.consistency = cons;
	rh.n_consistency = h->n_consistency;
	rh.last_entry = pb1(&h->last_entry);
	rh.last_entry_inclusion = incl;
	rh.n_last_entry_inclusion = h->n_last_entry_inclusion;
	kt_verified_head_free(&c->head);
	kt_trust_state_init(&ns);
	r = kt_verify_head(&c->cfg, &c->st, itest_now_ms(), &rh, &c->head, &ns, ev);
	if (r == KT_OK) {
		/* "persisted", then adopted */
		kt_trust_state_free(&c->st);
		c->st = ns;
	}
	free(cons);
	free(incl);
	return r;
}

void itest_client_lookup(itest_client *c, itest_ktd *k, const char *account,
			 kt_lookup_result *res)
{
	Keytrail__V1__LookupRequest req = KEYTRAIL__V1__LOOKUP_REQUEST__INIT;
	Keytrail__V1__ReadAt at = KEYTRAIL__V1__READ_AT__INIT;
	Keytrail__V1__LookupResponse *resp;
	kt_lookup_response lr;
	kt_lookup_result bad;
	kt_evidence ev;
	kt_gc_result g;
	int r;

	kt_evidence_init(&ev);
	kt_lookup_result_init(res);
	at.last_verified_size = c->st.verified.size;
	req.at = &at;
	req.account.data = (uint8_t *)(uintptr_t)account;
	req.account.len = strlen(account);
	itest_call_pb(k, M_LOOKUP, &req.base, NULL, &g);
	CHECK_STATUS(&g, 0);
	resp = keytrail__v1__lookup_response__unpack(NULL, g.body_len, g.body);
	CHECK(resp != NULL);
	r = adopt_head(c, resp->head, &ev);
	if (r != KT_OK)
		itest_fail(__FILE__, __LINE__, "kt_verify_head: %s (%s)",
			   kt_errname(r), ev.check != NULL ? ev.check : "-");
	lr.vrf_proof = pb1(&resp->vrf_proof);
	lr.map_proof = pb1(&resp->map_proof);
	lr.leaf = pb1(&resp->leaf);
	lr.value = pb1(&resp->value);
	lr.provenance = pb1(&resp->provenance);
	lr.opening = pb1(&resp->opening);
	r = kt_verify_lookup(&c->cfg, &c->head, (const uint8_t *)account,
			     strlen(account), &lr, res, &ev);
	if (r != KT_OK)
		itest_fail(__FILE__, __LINE__, "kt_verify_lookup %s: %s (%s)",
			   account, kt_errname(r), ev.check != NULL ? ev.check : "-");
	/* forgery twin: another opening must not verify */
	if (resp->opening.len == KT_OPENING_BYTES) {
		resp->opening.data[0] ^= 1;
		lr.opening = pb1(&resp->opening);
		kt_lookup_result_init(&bad);
		CHECK(kt_verify_lookup(&c->cfg, &c->head, (const uint8_t *)account,
				       strlen(account), &lr, &bad, &ev) != KT_OK);
		kt_lookup_result_free(&bad);
	}
	kt_evidence_free(&ev);
	keytrail__v1__lookup_response__free_unpacked(resp, NULL);
	kt_gc_result_clear(&g);
}

size_t itest_client_history(itest_client *c, itest_ktd *k, const char *account,
			    const itest_device *signer, const kt_owner_set *own,
			    kt_history_report *rep)
{
	Keytrail__V1__HistoryRequest req = KEYTRAIL__V1__HISTORY_REQUEST__INIT;
	Keytrail__V1__ReadAt at = KEYTRAIL__V1__READ_AT__INIT;
	Keytrail__V1__HistoryResponse *resp;
	kt_history_version *hv;
	kt_history_checked checked;
	kt_verified_leaf cur;
	kt_evidence ev;
	kt_gc_result g;
	kt_signature sig;
	kt_wbuf w;
	uint8_t sigb[KT_SIGNATURE_BYTES], *msg = NULL;
	size_t mlen = 0, i;
	int r;

	kt_evidence_init(&ev);
	kt_history_report_init(rep);
	at.last_verified_size = c->st.verified.size;
	req.at = &at;
	req.account.data = (uint8_t *)(uintptr_t)account;
	req.account.len = strlen(account);
	req.from_version = 1;
	req.timestamp_ms = itest_now_ms();
	req.device_id.data = (uint8_t *)(uintptr_t)signer->d.id;
	req.device_id.len = signer->d.id_len;
	kt_wbuf_init(&w, KT_HISTORY_REQUEST_MESSAGE_MAX_BYTES);
	CHECK_OK(kt_history_request_message(&w, req.account.data, req.account.len,
					    1, req.timestamp_ms, signer->d.id,
					    signer->d.id_len));
	CHECK_OK(kt_wbuf_take(&w, &msg, &mlen));
	CHECK_OK(kt_sig_sign(&sig, signer->sk, msg, mlen));
	free(msg);
	sigb[0] = sig.type;
	memcpy(sigb + 1, sig.sig, sizeof(sig.sig));
	req.signature.data = sigb;
	req.signature.len = sizeof(sigb);
	itest_call_pb(k, M_HISTORY, &req.base, NULL, &g);
	CHECK_STATUS(&g, 0);
	resp = keytrail__v1__history_response__unpack(NULL, g.body_len, g.body);
	CHECK(resp != NULL);
	r = adopt_head(c, resp->head, &ev);
	if (r == KT_OK)
		r = kt_verify_leaf(&c->cfg, &c->head, (const uint8_t *)account,
				   strlen(account), pb1(&resp->vrf_proof),
				   pb1(&resp->map_proof), pb1(&resp->leaf), &cur,
				   &ev);
	if (r != KT_OK)
		itest_fail(__FILE__, __LINE__, "history head/leaf: %s (%s)",
			   kt_errname(r), ev.check != NULL ? ev.check : "-");
	hv = calloc(resp->n_versions != 0 ? resp->n_versions : 1, sizeof(*hv));
	CHECK(hv != NULL);
	for (i = 0; i < resp->n_versions; i++) {
		const Keytrail__V1__HistoryVersion *v = resp->versions[i];

		hv[i].log_index = v->log_index;
		hv[i].entry = pb1(&v->entry);
		hv[i].inclusion = pb_list(v->inclusion, v->n_inclusion);
		hv[i].n_inclusion = v->n_inclusion;
		hv[i].value = pb1(&v->value);
		hv[i].provenance = pb1(&v->provenance);
		hv[i].opening = pb1(&v->opening);
	}
	memset(&checked, 0, sizeof(checked));
	r = kt_verify_history(&c->cfg, &c->head, (const uint8_t *)account,
			      strlen(account), &cur, hv, resp->n_versions,
			      &checked, own, rep, &ev);
	if (r != KT_OK)
		itest_fail(__FILE__, __LINE__, "kt_verify_history: %s (%s)",
			   kt_errname(r), ev.check != NULL ? ev.check : "-");
	CHECK(rep->complete);
	for (i = 0; i < resp->n_versions; i++)
		free((void *)(uintptr_t)hv[i].inclusion);
	free(hv);
	i = resp->n_versions;
	kt_evidence_free(&ev);
	keytrail__v1__history_response__free_unpacked(resp, NULL);
	kt_gc_result_clear(&g);
	return i;
}

#endif /* KT_ITEST_CLIENT_VERIFY */
