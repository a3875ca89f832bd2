/*
 * server_test_seq.c — the local sequencer (server/sequencer.h,
 * server/seq_local.c) over a real apply path and RocksDB in a mkdtemp
 * directory (removed after).
 *   (1) many threads submit at once: every done is called exactly once,
 *       every change succeeds, the log indices are distinct and
 *       consecutive, the applied callback sees the tree grow;
 *   (2) throughput with ~5 ms batches is measured and printed (no timing
 *       assertion);
 *   (3) heartbeats with an injected clock: the first one at once on an
 *       empty log, none before the interval has passed since the last
 *       entry, one as soon as it has, carrying that clock's time;
 *   (4) stop drains the queue without waiting for the batch delay; a full
 *       queue gives KT_ERR_BUSY and a stopped one KT_ERR_UNAVAILABLE
 *       (done is not called for those);
 *   (5) a failed commit completes its changes with the error and the next
 *       batch succeeds.
 */
#define _GNU_SOURCE 1
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "apply.h"
#include "kt_enc.h"
#include "kt_note.h"
#include "kt_types.h"
#include "sequencer.h"
#include "storage.h"
#include "kt_test_fs.h"
#include "server_test_util.h"

#define ORIGIN "seq.example/log"
#define HOUR_MS UINT64_C(3600000)

/* ---- fixture ------------------------------------------------------------- */

struct fx {
	char dir[64];
	kt_storage *st;
	kt_apply *a;
	kt_note_signer signer;
	uint8_t *prov;          /* operator add_device "d" */
	size_t prov_len;
	kt_sequencer *seq;

	pthread_mutex_t mu;
	pthread_cond_t cv;
	size_t n;               /* slots */
	int *calls;             /* per slot */
	int *codes;
	uint64_t *index;
	uint64_t *version;
	size_t done;
	uint64_t applied_calls, last_size;
	int size_went_back;

	_Atomic uint64_t clock_ms;
};

static void make_prov(struct fx *f)
{
	kt_test_operator_prov(7, KT_DEVICE_PRIMARY, "load", &f->prov,
			      &f->prov_len);
}

static struct fx *fx_new(size_t slots)
{
	struct fx *f = calloc(1, sizeof(*f));
	kt_apply_params p;
	uint8_t seed[32];

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/kt-seq-test-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(kt_storage_open(f->dir, NULL, &f->st), KT_OK);
	memset(seed, 0x5a, sizeof(seed));
	assert_int_equal(kt_note_signer_from_seed(&f->signer, ORIGIN,
						  strlen(ORIGIN),
						  KT_NOTE_KEY_ED25519, seed), KT_OK);
	memset(&p, 0, sizeof(p));
	p.storage = f->st;
	p.log_signer = &f->signer;
	p.origin = ORIGIN;
	p.origin_len = strlen(ORIGIN);
	p.max_devices = KT_DEFAULT_MAX_DEVICES;
	assert_int_equal(kt_apply_open(&p, &f->a), KT_OK);
	make_prov(f);
	pthread_mutex_init(&f->mu, NULL);
	pthread_cond_init(&f->cv, NULL);
	f->n = slots;
	f->calls = calloc(slots + 1, sizeof(int));
	f->codes = calloc(slots + 1, sizeof(int));
	f->index = calloc(slots + 1, sizeof(uint64_t));
	f->version = calloc(slots + 1, sizeof(uint64_t));
	assert_true(f->calls && f->codes && f->index && f->version);
	atomic_store(&f->clock_ms, UINT64_C(1767225600000));
	return f;
}

static void fx_free(struct fx *f)
{
	if (f->seq != NULL) {
		f->seq->ops->stop(f->seq);
		f->seq->ops->destroy(f->seq);
	}
	kt_apply_free(f->a);
	kt_storage_close(f->st);
	kt_test_rm_tree(f->dir);
	kt_note_signer_wipe(&f->signer);
	free(f->prov);
	free(f->calls);
	free(f->codes);
	free(f->index);
	free(f->version);
	pthread_cond_destroy(&f->cv);
	pthread_mutex_destroy(&f->mu);
	free(f);
}

/* done: arg is the slot number (1-based, 0 unused). */
struct slot_arg {
	struct fx *f;
	size_t slot;
};

static void on_done(void *arg, const kt_change_result *r,
		    const kt_apply_head *head)
{
	struct slot_arg *sa = arg;
	struct fx *f = sa->f;

	pthread_mutex_lock(&f->mu);
	f->calls[sa->slot]++;
	f->codes[sa->slot] = r->code;
	f->index[sa->slot] = r->log_index;
	f->version[sa->slot] = r->version;
	if (r->code == KT_OK && r->log_index >= head->tree_size)
		f->size_went_back = 1; /* the head must include the change */
	f->done++;
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
	free(sa);
}

static void on_applied(void *arg, const kt_apply_head *head)
{
	struct fx *f = arg;

	pthread_mutex_lock(&f->mu);
	if (head->tree_size < f->last_size)
		f->size_went_back = 1;
	f->last_size = head->tree_size;
	f->applied_calls++;
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
}

static uint64_t test_clock(void *ctx)
{
	struct fx *f = ctx;

	return atomic_load(&f->clock_ms);
}

static void start(struct fx *f, size_t batch_max, uint64_t delay_ms,
		  size_t queue_max, uint64_t hb_ms, int injected_clock)
{
	kt_seq_local_params p;

	memset(&p, 0, sizeof(p));
	p.apply = f->a;
	p.batch_max = batch_max;
	p.batch_delay_ms = delay_ms;
	p.queue_max = queue_max;
	p.heartbeat_interval_ms = hb_ms;
	p.applied = on_applied;
	p.applied_arg = f;
	if (injected_clock) {
		p.now_ms = test_clock;
		p.now_ctx = f;
	}
	assert_int_equal(kt_seq_local_start(&p, &f->seq), KT_OK);
}

/* Builds the change for account "acct-<slot>" (a new account). */
static void make_change(struct fx *f, kt_change *c, size_t slot)
{
	char name[32];

	memset(c, 0, sizeof(*c));
	snprintf(name, sizeof(name), "acct-%zu", slot);
	memcpy(c->account, name, strlen(name));
	c->account_len = strlen(name);
	c->provenance = malloc(f->prov_len);
	assert_non_null(c->provenance);
	memcpy(c->provenance, f->prov, f->prov_len);
	c->provenance_len = f->prov_len;
	c->has_vrf = 1;
	kt_sha256(c->index, (const uint8_t *)name, strlen(name));
}

/* Submits slot's change, retrying while the queue is full. */
static int submit_slot(struct fx *f, size_t slot, int retry)
{
	for (;;) {
		kt_change c;
		struct slot_arg *sa = malloc(sizeof(*sa));
		int r;

		assert_non_null(sa);
		sa->f = f;
		sa->slot = slot;
		make_change(f, &c, slot);
		r = f->seq->ops->submit(f->seq, &c, on_done, sa);
		assert_null(c.provenance); /* taken whatever the result */
		if (r == KT_OK)
			return r;
		free(sa);
		if (r != KT_ERR_BUSY || !retry)
			return r;
		usleep(200);
	}
}

static void wait_done(struct fx *f, size_t n)
{
	pthread_mutex_lock(&f->mu);
	while (f->done < n)
		pthread_cond_wait(&f->cv, &f->mu);
	pthread_mutex_unlock(&f->mu);
}

/* Waits (up to 10 s) until the applied tree size reaches size. */
static void wait_size(struct fx *f, uint64_t size)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 10;
	pthread_mutex_lock(&f->mu);
	while (f->last_size < size)
		if (pthread_cond_timedwait(&f->cv, &f->mu, &ts) != 0)
			break;
	pthread_mutex_unlock(&f->mu);
	assert_true(f->last_size >= size);
}

static uint64_t applied_size(struct fx *f)
{
	uint64_t s;

	pthread_mutex_lock(&f->mu);
	s = f->last_size;
	pthread_mutex_unlock(&f->mu);
	return s;
}

struct submitter {
	struct fx *f;
	size_t first, count;
	double cpu;             /* this thread's CPU seconds */
};

static double cpu_s(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *submit_thread(void *arg)
{
	struct submitter *s = arg;
	size_t i;

	for (i = 0; i < s->count; i++)
		if (submit_slot(s->f, s->first + i, 1) != KT_OK)
			abort();
	s->cpu = cpu_s(CLOCK_THREAD_CPUTIME_ID);
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Runs nthreads submitters over slots 1..total and checks the outcome.
 * Returns the wall time; *cpu (may be NULL) gets the process CPU time
 * spent meanwhile outside the submitting threads (the sequencer, apply and
 * RocksDB's own threads). */
static double run_load(struct fx *f, size_t nthreads, size_t total, double *cpu)
{
	pthread_t th[16];
	struct submitter sub[16];
	struct timespec t0, t1;
	uint64_t *sorted;
	size_t i, per = total / nthreads;
	double p0 = cpu_s(CLOCK_PROCESS_CPUTIME_ID), subs = 0;

	assert_true(nthreads <= 16 && per * nthreads == total);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < nthreads; i++) {
		sub[i].f = f;
		sub[i].first = 1 + i * per;
		sub[i].count = per;
		assert_int_equal(pthread_create(&th[i], NULL, submit_thread, &sub[i]), 0);
	}
	for (i = 0; i < nthreads; i++) {
		pthread_join(th[i], NULL);
		subs += sub[i].cpu;
	}
	wait_done(f, total);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (cpu != NULL)
		*cpu = cpu_s(CLOCK_PROCESS_CPUTIME_ID) - p0 - subs;

	sorted = malloc(total * sizeof(*sorted));
	assert_non_null(sorted);
	for (i = 1; i <= total; i++) {
		assert_int_equal(f->calls[i], 1);
		assert_int_equal(f->codes[i], KT_OK);
		assert_int_equal(f->version[i], 1);
		sorted[i - 1] = f->index[i];
	}
	qsort(sorted, total, sizeof(*sorted), cmp_u64);
	for (i = 1; i < total; i++)
		assert_int_equal(sorted[i], sorted[i - 1] + 1);
	free(sorted);
	assert_false(f->size_went_back);
	return (double)(t1.tv_sec - t0.tv_sec) +
	       (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
}

/* ---- (1) many threads --------------------------------------------------------- */

static void test_many_threads(void **state)
{
	const size_t total = 4000;
	struct fx *f = fx_new(total);
	kt_apply_head h;

	(void)state;
	start(f, 256, 2, 1024, HOUR_MS, 0);
	(void)run_load(f, 8, total, NULL);
	f->seq->ops->stop(f->seq);
	f->seq->ops->stop(f->seq); /* idempotent */
	kt_apply_get_head(f->a, &h);
	/* every change, plus at most the first heartbeat of the empty log */
	assert_true(h.tree_size == total || h.tree_size == total + 1);
	assert_int_equal(h.accounts, total);
	assert_int_equal(applied_size(f), h.tree_size);
	assert_true(f->applied_calls >= total / 256);
	fx_free(f);
}

/* ---- (2) throughput ------------------------------------------------------------- */

/* Sanitizer builds measure nothing useful: keep them short. */
#if defined(__SANITIZE_ADDRESS__)
#define THROUGHPUT_CHANGES 8000u
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define THROUGHPUT_CHANGES 8000u
#endif
#endif
#ifndef THROUGHPUT_CHANGES
#define THROUGHPUT_CHANGES 30000u
#endif

static void test_throughput(void **state)
{
	const size_t total = THROUGHPUT_CHANGES;
	struct fx *f = fx_new(total);
	double secs, cpu = 0;
	uint64_t batches;

	(void)state;
	start(f, 4096, 5, 65536, HOUR_MS, 0);
	secs = run_load(f, 4, total, &cpu);
	batches = f->applied_calls;
	f->seq->ops->stop(f->seq);
	print_message("sequencer throughput: %.0f changes/s (%zu new accounts "
		      "from 4 threads in %.2f s, %llu batches, batch_delay 5 ms); "
		      "%.1f us CPU per change besides the submitters (%.0f "
		      "changes/s per core)\n",
		      (double)total / secs, total, secs,
		      (unsigned long long)batches, cpu * 1e6 / (double)total,
		      (double)total / cpu);
	fx_free(f);
}

/* ---- (3) heartbeats ------------------------------------------------------------------ */

static void check_heartbeat_entry(struct fx *f, uint64_t pos, uint64_t ts)
{
	kt_log_entry e;
	uint8_t *v = NULL;
	size_t len = 0;

	assert_int_equal(kt_storage_log_entry_get(f->st, NULL, pos, &v, &len), KT_OK);
	assert_int_equal(kt_log_entry_decode(&e, v, len), KT_OK);
	assert_int_equal(e.type, KT_ENTRY_HEARTBEAT);
	assert_int_equal(e.timestamp_ms, ts);
	kt_storage_free(v);
}

static void test_heartbeat(void **state)
{
	const uint64_t hb = 10000;
	struct fx *f = fx_new(4);
	uint64_t t0 = atomic_load(&f->clock_ms);

	(void)state;
	start(f, 16, 0, 16, hb, 1);
	/* an empty log gets its first heartbeat (and checkpoint) at once */
	wait_size(f, 1);
	check_heartbeat_entry(f, 0, t0);
	/* nothing while the clock stands, nor just before the interval */
	usleep(100000);
	assert_int_equal(applied_size(f), 1);
	atomic_store(&f->clock_ms, t0 + hb - 1);
	usleep(100000);
	assert_int_equal(applied_size(f), 1);
	/* the interval has passed */
	atomic_store(&f->clock_ms, t0 + hb);
	wait_size(f, 2);
	check_heartbeat_entry(f, 1, t0 + hb);
	usleep(50000);
	assert_int_equal(applied_size(f), 2);

	/* an update restarts the interval */
	atomic_store(&f->clock_ms, t0 + hb + 5000);
	assert_int_equal(submit_slot(f, 1, 0), KT_OK);
	wait_done(f, 1);
	assert_int_equal(f->codes[1], KT_OK);
	assert_int_equal(f->index[1], 2);
	atomic_store(&f->clock_ms, t0 + 2 * hb + 4999);
	usleep(100000);
	assert_int_equal(applied_size(f), 3);
	atomic_store(&f->clock_ms, t0 + 2 * hb + 5000);
	wait_size(f, 4);
	check_heartbeat_entry(f, 3, t0 + 2 * hb + 5000);
	fx_free(f);
}

/* ---- (4) stop drains; busy; unavailable ------------------------------------------------- */

static void test_stop_drains(void **state)
{
	struct fx *f = fx_new(64);
	struct timespec t0, t1;
	size_t i;
	double secs;

	(void)state;
	/* a 10 s batch delay: nothing is applied before stop */
	start(f, 1000, 10000, 50, HOUR_MS, 0);
	wait_size(f, 1); /* the empty log's first heartbeat */
	for (i = 1; i <= 50; i++)
		assert_int_equal(submit_slot(f, i, 0), KT_OK);
	assert_int_equal(submit_slot(f, 51, 0), KT_ERR_BUSY);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	f->seq->ops->stop(f->seq);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	assert_true(secs < 5.0);
	assert_int_equal(f->done, 50);
	for (i = 1; i <= 50; i++) {
		assert_int_equal(f->calls[i], 1);
		assert_int_equal(f->codes[i], KT_OK);
	}
	assert_int_equal(f->calls[51], 0);
	assert_int_equal(submit_slot(f, 52, 0), KT_ERR_UNAVAILABLE);
	assert_int_equal(f->calls[52], 0);
	fx_free(f);
}

/* ---- (5) storage failure ------------------------------------------------------------------ */

static void test_storage_failure(void **state)
{
	struct fx *f = fx_new(4);
	kt_apply_head h;

	(void)state;
	start(f, 16, 0, 16, HOUR_MS, 0);
	wait_size(f, 1);
	kt_storage_test_fail_writes(f->st, 1);
	assert_int_equal(submit_slot(f, 1, 0), KT_OK);
	wait_done(f, 1);
	assert_int_equal(f->codes[1], KT_ERR_STORAGE);
	kt_apply_get_head(f->a, &h);
	assert_int_equal(h.tree_size, 1);
	/* the same account again: applied now, at the next position */
	assert_int_equal(submit_slot(f, 1, 0), KT_OK);
	wait_done(f, 2);
	assert_int_equal(f->calls[1], 2);
	assert_int_equal(f->codes[1], KT_OK);
	assert_int_equal(f->index[1], 1);
	assert_int_equal(f->version[1], 1);
	fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_many_threads),
		cmocka_unit_test(test_throughput),
		cmocka_unit_test(test_heartbeat),
		cmocka_unit_test(test_stop_drains),
		cmocka_unit_test(test_storage_failure),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
