/*
 * itest_crash.c — kill -9 during a burst of concurrent updates.
 *
 * Phase 1 enrols a set of accounts.  Phase 2 keeps a few hundred updates in
 * flight at once (new enrolments and device-signed additions to the phase-1
 * accounts) and kills ktd with SIGKILL once enough of them have been
 * acknowledged.  After a restart on the same data directory:
 *   - every acknowledged update is present and provable: a verified Lookup
 *     shows the account at (at least) the acknowledged version, and the
 *     entry at the acknowledged log position carries exactly that account's
 *     index and version;
 *   - the new checkpoint is consistent with every checkpoint handed out
 *     before the kill (no fork, no rollback).
 */
#include "itest.h"
#include "itest_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keytrail/v1/directory.pb-c.h"

#define N_BASE 32            /* phase-1 accounts */
#define N_NEW 320            /* phase-2 enrolments */
#define N_CALLS (N_BASE + N_NEW)
#define KILL_AFTER 120       /* phase-2 acknowledgements before the kill */

typedef struct op_rec {
	char account[32];
	int acked;
	uint64_t version;
	uint64_t log_index;
} op_rec;

static op_rec recs[N_BASE + N_CALLS];
static itest_device base_dev[N_BASE];

/* Records a completion; returns 1 if acknowledged. */
static int complete(itest_trust *t, op_rec *r, kt_gc_result *res)
{
	Keytrail__V1__UpdateResponse *resp;

	if (res->status != 0)
		return 0;
	resp = keytrail__v1__update_response__unpack(NULL, res->body_len, res->body);
	CHECK(resp != NULL);
	CHECK_OK(itest_trust_checkpoint(t, resp->checkpoint.data,
					resp->checkpoint.len, NULL, NULL));
	r->acked = 1;
	r->version = resp->version;
	r->log_index = resp->log_index;
	keytrail__v1__update_response__free_unpacked(resp, NULL);
	return 1;
}

static void phase1(itest_ktd *k, itest_trust *t)
{
	kt_gc_async *as = NULL;
	kt_gc_result res = {0};
	uint8_t *req;
	size_t i, len;
	void *tag;

	CHECK_OK(kt_gc_async_new(k->gc, &as));
	for (i = 0; i < N_BASE; i++) {
		snprintf(recs[i].account, sizeof(recs[i].account), "tel:+1555%06zu", i);
		itest_device_new(&base_dev[i], "phone", KT_DEVICE_PRIMARY);
		req = itest_req_enrol(k, recs[i].account, &base_dev[i],
				      itest_now_ms() + 600000, &len);
		CHECK_OK(kt_gc_async_start(as, M_UPDATE, req, len, NULL, 30000,
					   &recs[i]));
		free(req);
	}
	for (i = 0; i < N_BASE; i++) {
		CHECK(kt_gc_async_next(as, 30000, &tag, &res) == 1);
		CHECK_STATUS(&res, 0);
		CHECK(complete(t, tag, &res) && ((op_rec *)tag)->version == 1);
		kt_gc_result_clear(&res);
	}
	kt_gc_async_free(as);
}

/* Returns the number of acknowledged phase-2 updates. */
static size_t phase2(itest_ktd *k, itest_trust *t)
{
	kt_gc_async *as = NULL;
	kt_gc_result res = {0};
	itest_device extra, dev;
	kt_update_op op;
	uint8_t *req;
	size_t i, len, acked = 0, done = 0;
	void *tag;
	int killed = 0;

	CHECK_OK(kt_gc_async_new(k->gc, &as));
	for (i = 0; i < N_CALLS; i++) {
		op_rec *r = &recs[N_BASE + i];

		if (i < N_BASE) {
			/* a device-signed addition to a phase-1 account */
			memcpy(r->account, recs[i].account, sizeof(r->account));
			itest_device_new(&extra, "tablet", KT_DEVICE_COMPANION);
			itest_op_add(&op, &extra);
			req = itest_req_signed(r->account, &op, 1, &base_dev[i], &len);
		} else {
			snprintf(r->account, sizeof(r->account), "tel:+1666%06zu", i);
			itest_device_new(&dev, "phone", KT_DEVICE_PRIMARY);
			req = itest_req_enrol(k, r->account, &dev,
					      itest_now_ms() + 600000, &len);
		}
		CHECK_OK(kt_gc_async_start(as, M_UPDATE, req, len, NULL, 30000, r));
		free(req);
	}
	while (done < N_CALLS) {
		int got = kt_gc_async_next(as, 30000, &tag, &res);

		CHECK(got == 1);
		done++;
		if (complete(t, tag, &res))
			acked++;
		else if (!killed)
			itest_fail(__FILE__, __LINE__, "update failed before the "
				   "kill: %d %s", res.status, res.details);
		kt_gc_result_clear(&res);
		if (!killed && acked == KILL_AFTER) {
			itest_ktd_kill9(k);
			killed = 1;
			itest_note("killed -9 with %zu of %d updates acknowledged "
				   "(%zu pending)", acked, N_CALLS,
				   kt_gc_async_pending(as));
		}
	}
	kt_gc_async_free(as);
	CHECK(killed);
	return acked;
}

/* The acknowledged update is in the restarted log, provably. */
static void check_acked(itest_ktd *k, itest_trust *t, const op_rec *r,
			uint64_t newest)
{
	Keytrail__V1__GetEntriesRequest er = KEYTRAIL__V1__GET_ENTRIES_REQUEST__INIT;
	Keytrail__V1__GetEntriesResponse *eresp;
	kt_gc_result res;
	kt_log_entry e;
	itest_lookup l;

	itest_lookup_verified(k, t, r->account, newest, 0, &l);
	CHECK(l.exists && l.leaf.version >= r->version);
	kt_account_value_free(&l.value);
	er.start = r->log_index;
	er.count = 1;
	itest_call_pb(k, M_GET_ENTRIES, &er.base, NULL, &res);
	CHECK_STATUS(&res, 0);
	eresp = keytrail__v1__get_entries_response__unpack(NULL, res.body_len,
							   res.body);
	CHECK(eresp != NULL && eresp->n_entries == 1);
	CHECK_OK(kt_log_entry_decode(&e, eresp->entries[0].data,
				     eresp->entries[0].len));
	CHECK(e.type == KT_ENTRY_UPDATE && e.leaf.version == r->version &&
	      e.leaf.log_index == r->log_index);
	CHECK(memcmp(e.index, l.index, KT_INDEX_BYTES) == 0);
	keytrail__v1__get_entries_response__free_unpacked(eresp, NULL);
	kt_gc_result_clear(&res);
}

int main(int argc, char **argv)
{
	const char *extra[] = {"heartbeat_interval=1h", NULL};
	uint64_t sizes[ITEST_MAX_CPS], newest = 0, before, t0;
	itest_ktd k;
	itest_trust t;
	uint8_t *cp;
	size_t i, n, len, acked, checked = 0;

#ifdef KT_ITEST_CLIENT_VERIFY
	itest_client client;
	kt_lookup_result res;
#endif

	itest_init(argc, argv);
	t0 = itest_mono_ms();
	itest_ktd_new(&k, extra);
	itest_ktd_start(&k);
	itest_trust_init(&t, &k);
	phase1(&k, &t);
#ifdef KT_ITEST_CLIENT_VERIFY
	/* a sender's client trusts the checkpoint after phase 1 */
	itest_client_init(&client, &k);
	itest_client_lookup(&client, &k, recs[0].account, &res);
	CHECK(res.leaf.present);
	kt_lookup_result_free(&res);
#endif
	acked = phase2(&k, &t);
	before = t.newest;
	n = t.n;
	memcpy(sizes, t.size, n * sizeof(sizes[0]));
	itest_note("%zu acknowledged, %zu checkpoints handed out, newest %llu",
		   acked, n, (unsigned long long)before);

	itest_ktd_close_channel(&k);
	itest_ktd_start(&k);
	cp = itest_get_checkpoint(&k, &t, &len, &newest);
	free(cp);
	CHECK(newest >= before);
	itest_note("restarted at tree size %llu", (unsigned long long)newest);
	for (i = 0; i < sizeof(recs) / sizeof(recs[0]); i++)
		if (recs[i].acked) {
			check_acked(&k, &t, &recs[i], newest);
			checked++;
		}
	CHECK(checked == N_BASE + acked);
	for (i = 0; i < n; i++) {
		itest_lookup l;
		size_t j;

		itest_check_consistency(&k, &t, sizes[i], newest);
		/* the versioned map answers at every checkpoint handed out,
		 * batch boundaries of many-change batches included */
		for (j = 0; j < 3; j++) {
			const op_rec *r = &recs[(i * 7 + j * 53) % (N_BASE + N_CALLS)];

			itest_lookup_verified(&k, &t, r->account, sizes[i], newest, &l);
			if (r->acked && r->log_index < sizes[i])
				CHECK(l.exists && l.leaf.version >= r->version);
			kt_account_value_free(&l.value);
		}
	}
#ifdef KT_ITEST_CLIENT_VERIFY
	/* the same client after the crash: consistency from what it trusted
	 * before, no rollback, and every acknowledged account verifies */
	for (i = 0; i < sizeof(recs) / sizeof(recs[0]); i++)
		if (recs[i].acked && i % 4 == 0) {
			itest_client_lookup(&client, &k, recs[i].account, &res);
			CHECK(res.leaf.present && res.leaf.leaf.version >= recs[i].version);
			kt_lookup_result_free(&res);
		}
	CHECK(client.st.verified.size == newest);
	itest_client_free(&client);
#endif
	itest_ktd_stop(&k);
	itest_ktd_close_channel(&k);
	itest_note("ok: %zu acknowledged updates provable, %zu checkpoints "
		   "consistent (%llu ms)", checked, n,
		   (unsigned long long)(itest_mono_ms() - t0));
	return 0;
}
