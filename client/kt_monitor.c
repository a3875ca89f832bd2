/*
 * kt_monitor.c — the owner's monitor: every version of an account since
 * the last one checked, verified with kt_verify_history against a
 * verified head and leaf, page by page at one pinned tree size; the
 * per-account progress is persisted only after each page verified.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "proto_int.h"

struct kt_monitor_report {
	kt_history_item *items;   /* heap, n, version order */
	size_t n;
	size_t flagged;
	uint64_t version;         /* the version now checked */
};

/* Where the walk stands (owned copies, independent of c->st). */
typedef struct mon_pos {
	uint64_t version;
	uint8_t history[KT_HASH_BYTES];
	int value_known;
	kt_account_value value;
} mon_pos;

/* The owner set: the monitoring device plus the caller's list. */
typedef struct mon_owner {
	kt_owner_set set;
	kt_bytes *ids;
	kt_sign_key *keys;
} mon_owner;

void kt_monitor_report_free(kt_monitor_report *r)
{
	if (r == NULL)
		return;
	free(r->items);
	free(r);
}

size_t kt_monitor_report_count(const kt_monitor_report *r)
{
	return r != NULL ? r->n : 0;
}

size_t kt_monitor_report_flagged(const kt_monitor_report *r)
{
	return r != NULL ? r->flagged : 0;
}

uint64_t kt_monitor_report_version(const kt_monitor_report *r)
{
	return r != NULL ? r->version : 0;
}

int kt_monitor_report_item(const kt_monitor_report *r, size_t i,
			   kt_monitor_item *out)
{
	const kt_history_item *it;

	if (out == NULL)
		return KT_ERR_INVALID_ARG;
	memset(out, 0, sizeof(*out));
	if (r == NULL || i >= r->n)
		return KT_ERR_INVALID_ARG;
	it = &r->items[i];
	out->version = it->version;
	out->log_index = it->log_index;
	out->timestamp_ms = it->timestamp_ms;
	out->flags = it->flags;
	kt_client_provenance_info(&it->provenance, &out->provenance);
	return KT_OK;
}

static void owner_free(mon_owner *o)
{
	free(o->ids);
	free(o->keys);
	memset(o, 0, sizeof(*o));
}

static int owner_make(mon_owner *o, const kt_device_keys *owner,
		      const kt_owner_device *own, size_t n_own)
{
	size_t i;

	memset(o, 0, sizeof(*o));
	if (n_own > KT_MAX_DEVICES_ENCODING || (own == NULL && n_own > 0))
		return KT_ERR_INVALID_ARG;
	o->ids = calloc(n_own + 1, sizeof(*o->ids));
	o->keys = calloc(n_own + 1, sizeof(*o->keys));
	if (o->ids == NULL || o->keys == NULL) {
		owner_free(o);
		return KT_ERR_NOMEM;
	}
	o->ids[0].p = owner->id;
	o->ids[0].len = owner->id_len;
	o->keys[0].type = KT_SIGN_KEY_ED25519;
	memcpy(o->keys[0].pk, owner->sign_pk, KT_ED25519_PK_BYTES);
	o->set.n_device_ids = 1;
	o->set.n_sign_keys = 1;
	for (i = 0; i < n_own; i++) {
		if (own[i].id == NULL || own[i].id_len < KT_DEVICE_ID_MIN ||
		    own[i].id_len > KT_DEVICE_ID_MAX) {
			owner_free(o);
			return KT_ERR_INVALID_ARG;
		}
		o->ids[o->set.n_device_ids].p = own[i].id;
		o->ids[o->set.n_device_ids++].len = own[i].id_len;
		if (own[i].sign_pk != NULL) {
			o->keys[o->set.n_sign_keys].type = KT_SIGN_KEY_ED25519;
			memcpy(o->keys[o->set.n_sign_keys++].pk, own[i].sign_pk,
			       KT_ED25519_PK_BYTES);
		}
	}
	o->set.device_ids = o->ids;
	o->set.sign_keys = o->keys;
	return KT_OK;
}

/* The owner device's typed signature over the history request message. */
static int sign_request(const kt_device_keys *owner, const uint8_t *account,
			size_t account_len, uint64_t from, uint64_t ts,
			uint8_t out[KT_SIGNATURE_BYTES])
{
	kt_signature sig;
	kt_wbuf w;
	int r;

	kt_wbuf_init(&w, KT_HISTORY_REQUEST_MESSAGE_MAX_BYTES);
	r = kt_history_request_message(&w, account, account_len, from, ts,
				       owner->id, owner->id_len);
	if (r == KT_OK)
		r = kt_wbuf_error(&w);
	if (r == KT_OK)
		r = kt_sig_sign(&sig, owner->sign_sk, w.data, w.len);
	kt_wbuf_free(&w);
	if (r != KT_OK)
		return r;
	kt_wbuf_init(&w, KT_SIGNATURE_BYTES);
	r = kt_signature_encode(&w, &sig);
	if (r == KT_OK && w.len == KT_SIGNATURE_BYTES)
		memcpy(out, w.data, KT_SIGNATURE_BYTES);
	else if (r == KT_OK)
		r = KT_ERR_INTERNAL;
	kt_wbuf_free(&w);
	return r;
}

/* One History request at size (0: per witness policy). */
static int fetch_page(kt_client *c, const uint8_t *account, size_t account_len,
		      const kt_device_keys *owner, uint64_t from, uint64_t size,
		      Keytrail__V1__HistoryResponse **out)
{
	Keytrail__V1__HistoryRequest req = KEYTRAIL__V1__HISTORY_REQUEST__INIT;
	Keytrail__V1__ReadAt at = KEYTRAIL__V1__READ_AT__INIT;
	uint8_t sig[KT_SIGNATURE_BYTES];
	uint8_t *body = NULL;
	size_t len = 0;
	int r;

	*out = NULL;
	if (size == 0) {
		r = kt_client_pick_size(c, &size);
		if (r != KT_OK)
			return r;
	}
	req.timestamp_ms = kt_client_now_ms(c);
	r = sign_request(owner, account, account_len, from, req.timestamp_ms, sig);
	if (r != KT_OK)
		return r;
	at.tree_size = size;
	at.last_verified_size = c->st.trust.verified.size;
	req.at = &at;
	req.account.data = (uint8_t *)(uintptr_t)account;
	req.account.len = account_len;
	req.from_version = from;
	req.device_id.data = (uint8_t *)(uintptr_t)owner->id;
	req.device_id.len = owner->id_len;
	req.signature.data = sig;
	req.signature.len = sizeof(sig);
	r = kt_proto_call(c, "/keytrail.v1.Directory/History", &req.base, &body,
			  &len);
	if (r != KT_OK)
		return r;
	*out = keytrail__v1__history_response__unpack(NULL, len, body);
	free(body);
	return *out != NULL && (*out)->head != NULL ? KT_OK : KT_ERR_CLIENT_PROTOCOL;
}

static int map_versions(const Keytrail__V1__HistoryResponse *resp,
			kt_history_version **out, kt_bytes ***incl)
{
	kt_history_version *v;
	kt_bytes **lists;
	size_t i;

	*out = NULL;
	*incl = NULL;
	if (resp->n_versions == 0)
		return KT_OK;
	if (resp->n_versions > KT_VERIFY_MAX_HISTORY)
		return KT_ERR_CLIENT_PROTOCOL;
	v = calloc(resp->n_versions, sizeof(*v));
	lists = calloc(resp->n_versions, sizeof(*lists));
	if (v == NULL || lists == NULL) {
		free(v);
		free(lists);
		return KT_ERR_NOMEM;
	}
	*out = v;
	*incl = lists;
	for (i = 0; i < resp->n_versions; i++) {
		const Keytrail__V1__HistoryVersion *hv = resp->versions[i];

		if (kt_proto_list(hv->inclusion, hv->n_inclusion, &lists[i]) != KT_OK)
			return KT_ERR_NOMEM;
		v[i].log_index = hv->log_index;
		v[i].entry = kt_proto_bytes(&hv->entry);
		v[i].inclusion = lists[i];
		v[i].n_inclusion = hv->n_inclusion;
		v[i].value = kt_proto_bytes(&hv->value);
		v[i].provenance = kt_proto_bytes(&hv->provenance);
		v[i].opening = kt_proto_bytes(&hv->opening);
	}
	return KT_OK;
}

static void versions_free(kt_history_version *v, kt_bytes **lists, size_t n)
{
	size_t i;

	if (lists != NULL)
		for (i = 0; i < n; i++)
			free(lists[i]);
	free(lists);
	free(v);
}

/* Appends a page's items to the report. */
static int report_add(kt_monitor_report *rep, const kt_history_report *page)
{
	kt_history_item *grown;

	if (page->n == 0)
		return KT_OK;
	grown = realloc(rep->items, (rep->n + page->n) * sizeof(*grown));
	if (grown == NULL)
		return KT_ERR_NOMEM;
	rep->items = grown;
	memcpy(&rep->items[rep->n], page->items, page->n * sizeof(*grown));
	rep->n += page->n;
	rep->flagged += page->flagged;
	return KT_OK;
}

/* Persists the trust state and the account's new position, then adopts
 * both; *pos follows. */
static int page_commit(kt_client *c, const uint8_t *account, size_t account_len,
		       kt_trust_state *nt, const kt_history_report *page,
		       mon_pos *pos)
{
	kt_client_state ns;
	int r;

	r = kt_client_state_copy(&ns, &c->st);
	if (r != KT_OK)
		return r;
	kt_trust_state_free(&ns.trust);
	ns.trust = *nt;
	kt_trust_state_init(nt);
	if (page->checked_version > 0)
		r = kt_client_state_put(&ns, account, account_len,
					page->checked_version,
					page->checked_history, page->value_known,
					&page->value);
	if (r == KT_OK)
		r = kt_client_commit(c, &ns);
	kt_client_state_free(&ns);
	if (r != KT_OK)
		return r;
	kt_account_value_free(&pos->value);
	pos->version = page->checked_version;
	memcpy(pos->history, page->checked_history, KT_HASH_BYTES);
	pos->value_known = page->value_known;
	return page->value_known ? kt_account_value_copy(&pos->value, &page->value)
				 : KT_OK;
}

/* Verifies one History response from *pos on; on KT_OK *page and *nt are
 * the caller's. */
static int page_verify(kt_client *c, const uint8_t *account, size_t account_len,
		       const Keytrail__V1__HistoryResponse *resp,
		       const mon_owner *own, const mon_pos *pos,
		       kt_verified_head *head, kt_trust_state *nt,
		       kt_history_report *page)
{
	kt_history_version *vs = NULL;
	kt_bytes **lists = NULL;
	kt_proto_head ph;
	kt_verified_leaf cur;
	kt_history_checked chk;
	kt_evidence ev;
	int r;

	kt_evidence_init(&ev);
	memset(&ph, 0, sizeof(ph));
	r = kt_proto_head_map(resp->head, &ph);
	if (r == KT_OK)
		r = kt_verify_head(&c->cfg.trust, &c->st.trust, kt_client_now_ms(c),
				   &ph.rh, head, nt, &ev);
	if (r == KT_OK)
		r = kt_verify_leaf(&c->cfg.trust, head, account, account_len,
				   kt_proto_bytes(&resp->vrf_proof),
				   kt_proto_bytes(&resp->map_proof),
				   kt_proto_bytes(&resp->leaf), &cur, &ev);
	if (r == KT_OK && !cur.present)
		r = pos->version > 0 ? KT_ERR_CLIENT_HISTORY : KT_ERR_CLIENT_NOT_FOUND;
	if (r == KT_OK)
		r = map_versions(resp, &vs, &lists);
	if (r == KT_OK) {
		chk.version = pos->version;
		memcpy(chk.history, pos->history, KT_HASH_BYTES);
		chk.value = pos->value_known ? &pos->value : NULL;
		r = kt_verify_history(&c->cfg.trust, head, account, account_len,
				      &cur, vs, resp->n_versions, &chk, &own->set,
				      page, &ev);
	}
	if (r != KT_OK && ev.code != KT_OK)
		kt_client_keep_evidence(c, &ev);
	kt_evidence_free(&ev);
	versions_free(vs, lists, resp->n_versions);
	kt_proto_head_free(&ph);
	return r;
}

static int pos_start(const kt_client *c, const uint8_t *account,
		     size_t account_len, mon_pos *pos)
{
	const kt_acct_state *a =
		kt_client_state_find(&c->st, account, account_len);

	memset(pos, 0, sizeof(*pos));
	kt_account_value_init(&pos->value);
	if (a == NULL) {
		pos->value_known = 1; /* version 0: the empty value */
		return KT_OK;
	}
	pos->version = a->version;
	memcpy(pos->history, a->history, KT_HASH_BYTES);
	pos->value_known = a->value_known;
	return a->value_known ? kt_account_value_copy(&pos->value, &a->value) : KT_OK;
}

/* Pages until the current version; everything between begin and end. */
static int monitor_run(kt_client *c, const uint8_t *account, size_t account_len,
		       const kt_device_keys *owner, const mon_owner *own,
		       kt_monitor_report *rep)
{
	Keytrail__V1__HistoryResponse *resp = NULL;
	kt_verified_head head;
	kt_trust_state nt;
	kt_history_report page;
	uint64_t pinned = 0;
	mon_pos pos;
	int r, done = 0;

	r = pos_start(c, account, account_len, &pos);
	while (r == KT_OK && !done) {
		memset(&head, 0, sizeof(head));
		kt_trust_state_init(&nt);
		kt_history_report_init(&page);
		r = fetch_page(c, account, account_len, owner, pos.version + 1,
			       pinned, &resp);
		if (r == KT_OK)
			r = page_verify(c, account, account_len, resp, own, &pos,
					&head, &nt, &page);
		/* A page that ends early must make progress. */
		if (r == KT_OK && !page.complete && page.n == 0)
			r = KT_ERR_CLIENT_VERSION_GAP;
		if (r == KT_OK)
			r = report_add(rep, &page);
		if (r == KT_OK)
			r = page_commit(c, account, account_len, &nt, &page, &pos);
		done = page.complete;
		pinned = head.size;
		kt_history_report_free(&page);
		kt_trust_state_free(&nt);
		kt_verified_head_free(&head);
		if (resp != NULL)
			keytrail__v1__history_response__free_unpacked(resp, NULL);
		resp = NULL;
	}
	rep->version = pos.version;
	kt_account_value_free(&pos.value);
	return r;
}

int kt_client_monitor(kt_client *c, const uint8_t *account, size_t account_len,
		      const kt_device_keys *owner, const kt_owner_device *own,
		      size_t n_own, kt_monitor_report **out)
{
	kt_monitor_report *rep;
	mon_owner o;
	int r;

	if (out == NULL)
		return KT_ERR_INVALID_ARG;
	*out = NULL;
	if (c == NULL || owner == NULL ||
	    kt_account_check(account, account_len) != KT_OK)
		return KT_ERR_INVALID_ARG;
	r = owner_make(&o, owner, own, n_own);
	if (r != KT_OK)
		return r;
	rep = calloc(1, sizeof(*rep));
	if (rep == NULL) {
		owner_free(&o);
		return KT_ERR_NOMEM;
	}
	r = kt_client_begin(c);
	if (r == KT_OK) {
		r = monitor_run(c, account, account_len, owner, &o, rep);
		kt_client_end(c);
	}
	owner_free(&o);
	if (r != KT_OK) {
		kt_monitor_report_free(rep);
		return r;
	}
	*out = rep;
	return KT_OK;
}
