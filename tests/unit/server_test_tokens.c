/*
 * server_test_tokens.c — registrar tokens are single-use, decided by the
 * deterministic apply path (server/apply.h, docs/PROTOCOL.md §9 "Used
 * registrar tokens").
 *
 * Each test drives kt_apply_batch on a fresh RocksDB in its own mkdtemp
 * directory (removed after):
 *   (1) single use: the first enrolment with a token is accepted and
 *       recorded; the same token again (at the account's current version,
 *       and at the stale one) is refused with KT_ERR_TOKEN_USED and changes
 *       nothing (tree size, roots, account version, no checkpoint); a
 *       fresh token for another device is accepted (the twin);
 *   (2) recovery replay: after the enrolled device was removed, its old
 *       token does not add it back (KT_ERR_TOKEN_USED, nothing changed); a
 *       NEW token for the same device spec does (the twin), once;
 *   (3) inside one batch: enrol, remove, enrol again with the same token:
 *       the third is refused; a use that was refused for another reason
 *       (stale version) does not spend the token, so a later change of the
 *       same batch may use it;
 *   (4) expiry is re-checked against the batch time (never the wall
 *       clock): expiry < time refused (KT_ERR_TOKEN_EXPIRED), expiry ==
 *       time accepted; a batch whose clock went back uses the last entry's
 *       time;
 *   (5) sweeping: records whose token expired more than the grace period
 *       before the batch time are deleted, at most KT_APPLY_TOKEN_SWEEP_MAX
 *       per batch, oldest use first, also by heartbeat batches; a swept
 *       token stays refused (expired); a long-lived token at the queue's
 *       head holds back the records behind it until it expires;
 *   (6) the records survive a reopen; a failed commit records nothing and
 *       the same batch then succeeds; two databases fed the same batches
 *       hold byte-identical records.
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

#include <cmocka.h>
#include <sodium.h>

#include "apply.h"
#include "kt_enc.h"
#include "kt_hash.h"
#include "kt_note.h"
#include "kt_types.h"
#include "storage.h"
#include "kt_test_fs.h"
#include "server_test_util.h"

#define ORIGIN "test.example/tokens"
#define T0 UINT64_C(1767225600000) /* 2026-01-01T00:00:00Z */
#define DAY UINT64_C(86400000)

static struct kt_test_node *fx_new(void)
{
	return kt_test_node_new("tokens", ORIGIN, NULL);
}

static void fx_reopen(struct kt_test_node *f)
{
	kt_test_node_close(f);
	kt_test_node_open(f);
}

/* ---- building changes ------------------------------------------------------ */


/* ---- running batches --------------------------------------------------------- */

/* What must not change when a batch only refuses. */
struct state {
	kt_apply_head head;
	uint8_t queue[16];
	size_t queue_len;
};

static void get_queue(struct kt_test_node *f, uint8_t out[16], size_t *len)
{
	uint8_t *v = NULL;
	size_t n = 0;
	int r;

	r = kt_storage_get(f->st, NULL, KT_CF_META, (const uint8_t *)"token_queue",
			   11, &v, &n);
	*len = 0;
	if (r == KT_ERR_NOT_FOUND)
		return;
	assert_int_equal(r, KT_OK);
	assert_int_equal(n, 16);
	memcpy(out, v, 16);
	*len = 16;
	kt_storage_free(v);
}

static void take_state(struct kt_test_node *f, struct state *s)
{
	memset(s, 0, sizeof(*s));
	kt_apply_get_head(f->a, &s->head);
	get_queue(f, s->queue, &s->queue_len);
}

/* Queue head and tail (0, 0 when absent). */
static void queue_bounds(struct kt_test_node *f, uint64_t *head, uint64_t *tail)
{
	uint8_t q[16];
	size_t n = 0;

	get_queue(f, q, &n);
	*head = n == 16 ? kt_load_u64be(q) : 0;
	*tail = n == 16 ? kt_load_u64be(q + 8) : 0;
}

/* A refused batch changed nothing: log, map, queue, no new checkpoint. */
static void assert_unchanged(struct kt_test_node *f, const struct state *before)
{
	struct state now;
	uint8_t *note = NULL;
	size_t len = 0;

	take_state(f, &now);
	assert_int_equal(now.head.tree_size, before->head.tree_size);
	assert_memory_equal(now.head.log_root, before->head.log_root, KT_HASH_BYTES);
	assert_memory_equal(now.head.map_root, before->head.map_root, KT_HASH_BYTES);
	assert_int_equal(now.queue_len, before->queue_len);
	assert_memory_equal(now.queue, before->queue, before->queue_len);
	assert_int_equal(kt_storage_checkpoint_get(f->st, NULL,
						   before->head.tree_size + 1,
						   &note, &len),
			 KT_ERR_NOT_FOUND);
}

static uint64_t account_version(struct kt_test_node *f, const char *account)
{
	kt_storage_account_head h;
	uint8_t idx[KT_INDEX_BYTES];

	kt_sha256(idx, (const uint8_t *)account, strlen(account));
	assert_int_equal(kt_storage_account_head_get(f->st, NULL, idx, &h), KT_OK);
	return h.version;
}

static int token_used(struct kt_test_node *f, const struct kt_test_tok *t)
{
	return kt_apply_token_used(f->st, (const uint8_t *)t->account,
				   strlen(t->account), &t->pv);
}

/* ---- (1) single use ------------------------------------------------------------ */

static void test_single_use(void **state)
{
	struct kt_test_node *f = fx_new();
	struct kt_test_tok t, other;
	struct state before;
	kt_change c;

	(void)state;
	kt_test_make_token(&t, "tel:+1", "phone", 1, T0 + DAY);
	assert_int_equal(token_used(f, &t), KT_OK);
	kt_test_ch_enrol(&c, &t, 0);
	kt_test_node_run1(f, T0, &c, KT_OK);
	assert_int_equal(token_used(f, &t), KT_ERR_TOKEN_USED);
	assert_int_equal(account_version(f, "tel:+1"), 1);

	/* replayed at the current version (would be DEVICE_EXISTS) and at the
	 * stale one (would be VERSION_MISMATCH): the token is refused first */
	take_state(f, &before);
	kt_test_ch_enrol(&c, &t, 1);
	kt_test_node_run1(f, T0 + 10, &c, KT_ERR_TOKEN_USED);
	assert_unchanged(f, &before);
	kt_test_ch_enrol(&c, &t, 0);
	kt_test_node_run1(f, T0 + 20, &c, KT_ERR_TOKEN_USED);
	assert_unchanged(f, &before);
	assert_int_equal(account_version(f, "tel:+1"), 1);

	/* the twin: a fresh token (another device) is accepted */
	kt_test_make_token(&other, "tel:+1", "laptop", 2, T0 + DAY);
	assert_int_equal(token_used(f, &other), KT_OK);
	kt_test_ch_enrol(&c, &other, 1);
	kt_test_node_run1(f, T0 + 30, &c, KT_OK);
	assert_int_equal(account_version(f, "tel:+1"), 2);
	assert_int_equal(token_used(f, &other), KT_ERR_TOKEN_USED);

	/* a token differs by any signed byte: same device, other expiry */
	kt_test_make_token(&other, "tel:+1", "phone", 1, T0 + DAY + 1);
	assert_int_equal(token_used(f, &other), KT_OK);
	/* and kt_apply_token_used refuses what is not a registrar token */
	other.pv.type = KT_PROV_OPERATOR;
	assert_int_equal(token_used(f, &other), KT_ERR_INVALID_ARG);
	kt_test_node_free(f);
}

/* ---- (2) replay after the device was removed ------------------------------------- */

static void test_recovery_replay(void **state)
{
	struct kt_test_node *f = fx_new();
	struct kt_test_tok t, fresh;
	struct state before;
	kt_change c;

	(void)state;
	kt_test_make_token(&t, "tel:+2", "phone", 1, T0 + DAY);
	kt_test_ch_enrol(&c, &t, 0);
	kt_test_node_run1(f, T0, &c, KT_OK);
	kt_test_ch_remove(&c, "tel:+2", 1, "phone");
	kt_test_node_run1(f, T0 + 10, &c, KT_OK);
	assert_int_equal(account_version(f, "tel:+2"), 2);

	/* without single use this re-adds the removed device */
	take_state(f, &before);
	kt_test_ch_enrol(&c, &t, 2);
	kt_test_node_run1(f, T0 + 20, &c, KT_ERR_TOKEN_USED);
	assert_unchanged(f, &before);
	assert_int_equal(account_version(f, "tel:+2"), 2);

	/* the twin: a new token for the same device spec recovers it, once */
	kt_test_make_token(&fresh, "tel:+2", "phone", 1, T0 + DAY + 1);
	kt_test_ch_enrol(&c, &fresh, 2);
	kt_test_node_run1(f, T0 + 30, &c, KT_OK);
	assert_int_equal(account_version(f, "tel:+2"), 3);
	kt_test_ch_remove(&c, "tel:+2", 3, "phone");
	kt_test_node_run1(f, T0 + 40, &c, KT_OK);
	take_state(f, &before);
	kt_test_ch_enrol(&c, &fresh, 4);
	kt_test_node_run1(f, T0 + 50, &c, KT_ERR_TOKEN_USED);
	assert_unchanged(f, &before);
	kt_test_node_free(f);
}

/* ---- (3) inside one batch ------------------------------------------------------------ */

static void test_same_batch(void **state)
{
	struct kt_test_node *f = fx_new();
	struct kt_test_tok t, u;
	kt_change ch[3];
	static const int e1[3] = {KT_OK, KT_OK, KT_ERR_TOKEN_USED};
	static const int e2[3] = {KT_ERR_VERSION_MISMATCH, KT_OK,
				  KT_ERR_TOKEN_USED};

	(void)state;
	kt_test_make_token(&t, "tel:+3", "phone", 1, T0 + DAY);
	kt_test_ch_enrol(&ch[0], &t, 0);
	kt_test_ch_remove(&ch[1], "tel:+3", 1, "phone");
	kt_test_ch_enrol(&ch[2], &t, 2);        /* would re-add phone */
	kt_test_node_run(f, T0, ch, 3, e1);
	assert_int_equal(account_version(f, "tel:+3"), 2);

	/* a refused use does not spend the token */
	kt_test_make_token(&u, "tel:+4", "phone", 1, T0 + DAY);
	kt_test_ch_enrol(&ch[0], &u, 7);        /* stale: refused, not recorded */
	kt_test_ch_enrol(&ch[1], &u, 0);
	kt_test_ch_enrol(&ch[2], &u, 1);
	kt_test_node_run(f, T0 + 10, ch, 3, e2);
	assert_int_equal(account_version(f, "tel:+4"), 1);
	{
		kt_apply_head h;

		kt_apply_get_head(f->a, &h);
		assert_int_equal(h.tree_size, 3);
	}
	kt_test_node_free(f);
}

/* ---- (4) expiry against the batch time ------------------------------------------------ */

static void test_expiry_recheck(void **state)
{
	struct kt_test_node *f = fx_new();
	struct kt_test_tok t;
	struct state before;
	kt_change c;

	(void)state;
	/* expiry one ms before the batch time: refused, nothing written */
	kt_test_make_token(&t, "tel:+5", "phone", 1, T0 - 1);
	take_state(f, &before);
	kt_test_ch_enrol(&c, &t, 0);
	kt_test_node_run1(f, T0, &c, KT_ERR_TOKEN_EXPIRED);
	assert_unchanged(f, &before);
	assert_int_equal(token_used(f, &t), KT_OK);
	/* expiry equal to the batch time: accepted */
	kt_test_make_token(&t, "tel:+5", "phone", 1, T0);
	kt_test_ch_enrol(&c, &t, 0);
	kt_test_node_run1(f, T0, &c, KT_OK);

	/* the time of a batch whose clock went back is the last entry's
	 * (T0 + 100): a token valid at the batch's own clock is expired */
	kt_test_node_heartbeat(f, T0 + 100);
	kt_test_make_token(&t, "tel:+6", "phone", 1, T0 + 50);
	take_state(f, &before);
	kt_test_ch_enrol(&c, &t, 0);
	kt_test_node_run1(f, T0 + 10, &c, KT_ERR_TOKEN_EXPIRED);
	assert_unchanged(f, &before);
	/* the twin: expiry at the last entry's time is accepted */
	kt_test_make_token(&t, "tel:+6", "phone", 1, T0 + 100);
	kt_test_ch_enrol(&c, &t, 0);
	kt_test_node_run1(f, T0 + 10, &c, KT_OK);
	kt_test_node_free(f);
}

/* ---- (5) sweeping --------------------------------------------------------------------- */

static void test_sweep(void **state)
{
	struct kt_test_node *f = fx_new();
	static struct kt_test_tok t[70];
	kt_change ch[70];
	int ok[70];
	struct kt_test_tok longl, shortt;
	uint64_t head, tail, e = T0 + 1000;
	size_t i;
	kt_change c;

	(void)state;
	for (i = 0; i < 70; i++) {
		char acc[32];

		snprintf(acc, sizeof(acc), "tel:+70%02zu", i);
		kt_test_make_token(&t[i], acc, "phone", (uint8_t)(i + 1), e);
		kt_test_ch_enrol(&ch[i], &t[i], 0);
		ok[i] = KT_OK;
	}
	kt_test_node_run(f, T0, ch, 70, ok);
	queue_bounds(f, &head, &tail);
	assert_int_equal(head, 0);
	assert_int_equal(tail, 70);

	/* expired, but not more than the grace period ago: kept */
	kt_test_node_heartbeat(f, e + KT_APPLY_TOKEN_GRACE_MS);
	queue_bounds(f, &head, &tail);
	assert_int_equal(head, 0);
	assert_int_equal(token_used(f, &t[0]), KT_ERR_TOKEN_USED);

	/* one ms later: the oldest KT_APPLY_TOKEN_SWEEP_MAX go */
	kt_test_node_heartbeat(f, e + KT_APPLY_TOKEN_GRACE_MS + 1);
	queue_bounds(f, &head, &tail);
	assert_int_equal(head, KT_APPLY_TOKEN_SWEEP_MAX);
	assert_int_equal(tail, 70);
	for (i = 0; i < 70; i++)
		assert_int_equal(token_used(f, &t[i]),
				 i < KT_APPLY_TOKEN_SWEEP_MAX ? KT_OK
							      : KT_ERR_TOKEN_USED);
	/* the next batch (here: refused changes only) takes the rest */
	kt_test_ch_enrol(&c, &t[0], 0);
	kt_test_node_run1(f, e + KT_APPLY_TOKEN_GRACE_MS + 2, &c,
			  KT_ERR_TOKEN_EXPIRED);
	queue_bounds(f, &head, &tail);
	assert_int_equal(head, 70);
	assert_int_equal(tail, 70);
	for (i = 0; i < 70; i++)
		assert_int_equal(token_used(f, &t[i]), KT_OK);
	/* a swept token stays refused: it has expired (also at the version
	 * where it would otherwise apply) */
	kt_test_ch_enrol(&c, &t[1], 1);
	kt_test_node_run1(f, e + KT_APPLY_TOKEN_GRACE_MS + 3, &c,
			  KT_ERR_TOKEN_EXPIRED);
	{
		uint8_t qk[12 + 16 + 1];
		uint8_t *v = NULL;
		size_t n = 0;

		/* the queue entries are gone too */
		memcpy(qk, "token_queue/", 12);
		memcpy(qk + 12, "0000000000000000", 16);
		assert_int_equal(kt_storage_get(f->st, NULL, KT_CF_META, qk, 28,
						&v, &n), KT_ERR_NOT_FOUND);
		memcpy(qk + 12, "0000000000000045", 16); /* 69 */
		assert_int_equal(kt_storage_get(f->st, NULL, KT_CF_META, qk, 28,
						&v, &n), KT_ERR_NOT_FOUND);
	}

	/* FIFO: a long-lived token used first holds back a short one */
	e = T0 + 10 * DAY;
	kt_test_make_token(&longl, "tel:+8001", "phone", 1, e + DAY);
	kt_test_make_token(&shortt, "tel:+8002", "phone", 1, e + 1000);
	kt_test_ch_enrol(&ch[0], &longl, 0);
	kt_test_ch_enrol(&ch[1], &shortt, 0);
	kt_test_node_run(f, e, ch, 2, ok);
	kt_test_node_heartbeat(f, e + 1000 + KT_APPLY_TOKEN_GRACE_MS + 1);
	assert_int_equal(token_used(f, &shortt), KT_ERR_TOKEN_USED);
	queue_bounds(f, &head, &tail);
	assert_int_equal(head, 70);
	assert_int_equal(tail, 72);
	kt_test_node_heartbeat(f, e + DAY + KT_APPLY_TOKEN_GRACE_MS + 1);
	assert_int_equal(token_used(f, &longl), KT_OK);
	assert_int_equal(token_used(f, &shortt), KT_OK);
	queue_bounds(f, &head, &tail);
	assert_int_equal(head, 72);
	assert_int_equal(tail, 72);
	kt_test_node_free(f);
}

/* ---- (6) reopen, failed commit, determinism ----------------------------------------------- */

static void test_durable(void **state)
{
	struct kt_test_node *f = fx_new();
	struct kt_test_tok t, u;
	kt_change_result res[1];
	kt_change c;
	kt_batch b;

	(void)state;
	kt_test_make_token(&t, "tel:+9", "phone", 1, T0 + DAY);
	kt_test_ch_enrol(&c, &t, 0);
	kt_test_node_run1(f, T0, &c, KT_OK);
	fx_reopen(f);
	assert_int_equal(token_used(f, &t), KT_ERR_TOKEN_USED);
	kt_test_ch_enrol(&c, &t, 1);
	kt_test_node_run1(f, T0 + 10, &c, KT_ERR_TOKEN_USED);

	/* a failed commit records nothing; the same batch then succeeds */
	kt_test_make_token(&u, "tel:+10", "phone", 1, T0 + DAY);
	kt_test_ch_enrol(&c, &u, 0);
	memset(&b, 0, sizeof(b));
	b.timestamp_ms = T0 + 20;
	b.changes = &c;
	b.count = 1;
	kt_storage_test_fail_writes(f->st, 1);
	assert_int_equal(kt_apply_batch(f->a, &b, f->applied, res), KT_ERR_STORAGE);
	assert_int_equal(token_used(f, &u), KT_OK);
	assert_int_equal(kt_apply_batch(f->a, &b, f->applied++, res), KT_OK);
	assert_int_equal(res[0].code, KT_OK);
	assert_int_equal(token_used(f, &u), KT_ERR_TOKEN_USED);
	kt_change_clear(&c);
	kt_test_node_free(f);
}

/* The records of the same batches on two databases. */
static void feed(struct kt_test_node *f)
{
	struct kt_test_tok t[3];
	kt_change ch[3];
	static const int e[3] = {KT_OK, KT_OK, KT_ERR_TOKEN_USED};

	kt_test_make_token(&t[0], "tel:+11", "phone", 1, T0 + 1000);
	kt_test_make_token(&t[1], "tel:+12", "phone", 2, T0 + DAY);
	kt_test_ch_enrol(&ch[0], &t[0], 0);
	kt_test_ch_enrol(&ch[1], &t[1], 0);
	kt_test_ch_enrol(&ch[2], &t[0], 1);
	kt_test_node_run(f, T0, ch, 3, e);
	kt_test_node_heartbeat(f, T0 + 1000 + KT_APPLY_TOKEN_GRACE_MS + 1);
}

static void test_determinism(void **state)
{
	struct kt_test_node *f1 = fx_new(), *f2 = fx_new();
	uint8_t qk[12 + 16 + 1];
	uint64_t n;

	(void)state;
	feed(f1);
	feed(f2);
	memcpy(qk, "token_queue", 11);
	for (n = 0; n < 3; n++) {
		uint8_t *v1 = NULL, *v2 = NULL;
		size_t l1 = 0, l2 = 0, klen = 11;
		int r1, r2;

		if (n > 0) {
			/* queue entry n - 1 */
			qk[11] = '/';
			snprintf((char *)qk + 12, 17, "%016llx",
				 (unsigned long long)(n - 1));
			klen = 28;
		}
		r1 = kt_storage_get(f1->st, NULL, KT_CF_META, qk, klen, &v1, &l1);
		r2 = kt_storage_get(f2->st, NULL, KT_CF_META, qk, klen, &v2, &l2);
		assert_int_equal(r1, r2);
		assert_int_equal(l1, l2);
		if (r1 == KT_OK)
			assert_memory_equal(v1, v2, l1);
		kt_storage_free(v1);
		kt_storage_free(v2);
	}
	{
		uint64_t h1, t1, h2, t2;

		queue_bounds(f1, &h1, &t1);
		queue_bounds(f2, &h2, &t2);
		assert_int_equal(h1, 1);
		assert_int_equal(t1, 2);
		assert_int_equal(h2, h1);
		assert_int_equal(t2, t1);
	}
	kt_test_node_free(f1);
	kt_test_node_free(f2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_single_use),
		cmocka_unit_test(test_recovery_replay),
		cmocka_unit_test(test_same_batch),
		cmocka_unit_test(test_expiry_recheck),
		cmocka_unit_test(test_sweep),
		cmocka_unit_test(test_durable),
		cmocka_unit_test(test_determinism),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
