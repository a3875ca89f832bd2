/*
 * seq_local.c — the local (single-node) sequencer: one thread that batches
 * submitted changes and applies them (see sequencer.h).
 *
 * Submitters append to a bounded ring of pending items under a mutex and
 * signal a condition variable.  The sequencer thread takes up to batch_max
 * items once either batch_max are pending or batch_delay_ms has passed
 * since the first of them arrived (measured on the monotonic clock: it is a
 * latency knob, not part of the state), draws a fresh opening per change,
 * stamps the batch with the (injectable) wall clock, applies it with the
 * next applied index, and calls the applied callback (publishing the new
 * head) and then every done callback — all without holding the mutex, so submitters never wait for an
 * apply.  When nothing was appended for heartbeat_interval_ms (by the
 * injectable clock, compared with the last entry's timestamp) it applies a
 * heartbeat batch.
 */
#include "sequencer.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "metrics.h"

/* With an injected clock the thread cannot sleep until a deadline of that
 * clock: it re-reads it at least this often while idle. */
#define INJECTED_CLOCK_POLL_MS 10u

struct item {
	kt_change change;
	kt_seq_done_fn done;
	void *arg;
	uint64_t arrival_ns;            /* monotonic */
};

typedef struct seq_local {
	kt_sequencer base;              /* first: the public handle */
	kt_seq_local_params p;

	pthread_mutex_t mu;
	pthread_cond_t cv;              /* work arrived / stop */
	struct item **ring;             /* queue_max slots */
	size_t head, count;
	int stopping;
	int thread_started;
	int joined;
	pthread_t thread;

	/* sequencer thread only */
	kt_change *changes;             /* batch_max */
	struct item **taken;            /* batch_max */
	kt_change_result *results;      /* batch_max */
	uint64_t next_index;            /* applied index of the next batch */
	uint64_t last_append_ms;        /* clock when the tree last grew */
} seq_local;

static uint64_t real_now_ms(void *ctx)
{
	struct timespec ts;

	(void)ctx;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t now_ms(const seq_local *s)
{
	return s->p.now_ms(s->p.now_ctx);
}

/* Waits on the condition variable for at most ms milliseconds (the cv uses
 * CLOCK_MONOTONIC). */
static void wait_ms(seq_local *s, uint64_t ms)
{
	struct timespec ts;
	uint64_t t = mono_ns() + ms * 1000000u;

	ts.tv_sec = (time_t)(t / 1000000000u);
	ts.tv_nsec = (long)(t % 1000000000u);
	(void)pthread_cond_timedwait(&s->cv, &s->mu, &ts);
}

/* ---- submit --------------------------------------------------------------- */

static int local_submit(kt_sequencer *base, kt_change *change,
			kt_seq_done_fn done, void *arg)
{
	seq_local *s = (seq_local *)base;
	struct item *it;
	int r = KT_OK;

	if (change == NULL || done == NULL) {
		kt_change_clear(change);
		return KT_ERR_INVALID_ARG;
	}
	it = malloc(sizeof(*it));
	if (it == NULL) {
		kt_change_clear(change);
		return KT_ERR_NOMEM;
	}
	it->change = *change;
	it->done = done;
	it->arg = arg;
	/* the item owns the provenance now */
	change->provenance = NULL;
	change->provenance_len = 0;
	pthread_mutex_lock(&s->mu);
	if (s->stopping)
		r = KT_ERR_UNAVAILABLE;
	else if (s->count == s->p.queue_max)
		r = KT_ERR_BUSY;
	if (r == KT_OK) {
		it->arrival_ns = mono_ns();
		s->ring[(s->head + s->count) % s->p.queue_max] = it;
		s->count++;
		/* wake the thread for the first item and for a full batch */
		if (s->count == 1 || s->count == s->p.batch_max)
			pthread_cond_signal(&s->cv);
	}
	pthread_mutex_unlock(&s->mu);
	if (r != KT_OK) {
		kt_change_clear(&it->change);
		free(it);
	}
	return r;
}

/* ---- the thread ------------------------------------------------------------- */

/* Under the mutex: waits until there is a batch to take, a heartbeat is
 * due, or the queue is drained after stop.  Returns the number of items
 * taken into s->taken (0: heartbeat or, with *quit, stop). */
static size_t wait_for_work(seq_local *s, int *quit, int *heartbeat)
{
	size_t n, i;

	*quit = 0;
	*heartbeat = 0;
	for (;;) {
		uint64_t now, due;

		if (s->count >= s->p.batch_max || (s->count > 0 && s->stopping))
			break;
		if (s->count > 0) {
			uint64_t waited =
				(mono_ns() - s->ring[s->head]->arrival_ns) / 1000000u;

			if (waited >= s->p.batch_delay_ms)
				break;
			wait_ms(s, s->p.batch_delay_ms - waited);
			continue;
		}
		if (s->stopping) {
			*quit = 1;
			return 0;
		}
		now = now_ms(s);
		due = s->last_append_ms + s->p.heartbeat_interval_ms;
		if (now >= due) {
			*heartbeat = 1;
			return 0;
		}
		if (s->p.now_ms != real_now_ms && due - now > INJECTED_CLOCK_POLL_MS)
			wait_ms(s, INJECTED_CLOCK_POLL_MS);
		else
			wait_ms(s, due - now);
	}
	n = s->count < s->p.batch_max ? s->count : s->p.batch_max;
	for (i = 0; i < n; i++) {
		s->taken[i] = s->ring[s->head];
		s->ring[s->head] = NULL;
		s->head = (s->head + 1) % s->p.queue_max;
	}
	s->count -= n;
	return n;
}

/* Metrics of an applied batch of n changes (0: heartbeat) that took ns. */
static void count_batch(const seq_local *s, size_t n, uint64_t ns)
{
	uint64_t ok = 0;
	size_t i;

	(void)kt_metrics_observe(KT_METRIC_APPLY_DURATION, ns);
	if (n == 0)
		return;
	for (i = 0; i < n; i++)
		ok += s->results[i].code == KT_OK;
	(void)kt_metrics_observe(KT_METRIC_BATCH_SIZE, n);
	(void)kt_metrics_add(KT_METRIC_UPDATES_APPLIED, ok);
}

/* Applies the n taken items (or a heartbeat when n is 0) and completes
 * them.  Outside the mutex. */
static void run_batch(seq_local *s, size_t n)
{
	kt_batch b;
	kt_apply_head head;
	uint64_t before, t0;
	size_t i;
	int r;

	memset(&b, 0, sizeof(b));
	for (i = 0; i < n; i++) {
		s->changes[i] = s->taken[i]->change;
		randombytes_buf(s->changes[i].opening, KT_OPENING_BYTES);
	}
	b.timestamp_ms = now_ms(s);
	b.heartbeat = n == 0;
	b.changes = n > 0 ? s->changes : NULL;
	b.count = n;
	kt_apply_get_head(s->p.apply, &head);
	before = head.tree_size;
	t0 = mono_ns();
	r = kt_apply_batch(s->p.apply, &b, s->next_index, s->results);
	if (r == KT_OK) {
		s->next_index++;
		count_batch(s, n, mono_ns() - t0);
	}
	kt_apply_get_head(s->p.apply, &head);
	if (head.tree_size > before)
		s->last_append_ms = b.timestamp_ms;
	else if (n == 0)
		/* a failed heartbeat: try again after another interval, not at
		 * once in a loop */
		s->last_append_ms = b.timestamp_ms;
	/* Publish the new head to readers BEFORE acknowledging: a client that
	 * got its acknowledgement must be able to read the size it names. */
	if (r == KT_OK && s->p.applied != NULL)
		s->p.applied(s->p.applied_arg, &head);
	for (i = 0; i < n; i++) {
		s->taken[i]->done(s->taken[i]->arg, &s->results[i], &head);
		kt_change_clear(&s->changes[i]);
		free(s->taken[i]);
		s->taken[i] = NULL;
	}
}

static void *seq_thread(void *arg)
{
	seq_local *s = arg;
	int quit, heartbeat;
	size_t n;

	pthread_mutex_lock(&s->mu);
	for (;;) {
		n = wait_for_work(s, &quit, &heartbeat);
		if (quit)
			break;
		pthread_mutex_unlock(&s->mu);
		run_batch(s, n);
		pthread_mutex_lock(&s->mu);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* ---- stop / destroy / start ------------------------------------------------ */

static void local_stop(kt_sequencer *base)
{
	seq_local *s = (seq_local *)base;
	int join;

	pthread_mutex_lock(&s->mu);
	s->stopping = 1;
	join = s->thread_started && !s->joined;
	s->joined = 1;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	if (join)
		pthread_join(s->thread, NULL);
}

static void local_destroy(kt_sequencer *base)
{
	seq_local *s = (seq_local *)base;
	size_t i;

	if (s == NULL)
		return;
	local_stop(base);
	/* After a drained stop the ring is empty; free defensively. */
	for (i = 0; s->ring != NULL && i < s->count; i++) {
		struct item *it = s->ring[(s->head + i) % s->p.queue_max];

		kt_change_clear(&it->change);
		free(it);
	}
	free(s->ring);
	free(s->changes);
	free(s->taken);
	free(s->results);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

static const kt_sequencer_ops local_ops = {
	local_submit,
	local_stop,
	local_destroy,
};

static int init_sync(seq_local *s)
{
	pthread_condattr_t ca;
	int ok;

	if (pthread_mutex_init(&s->mu, NULL) != 0)
		return KT_ERR_INTERNAL;
	if (pthread_condattr_init(&ca) != 0) {
		pthread_mutex_destroy(&s->mu);
		return KT_ERR_INTERNAL;
	}
	ok = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
	     pthread_cond_init(&s->cv, &ca) == 0;
	pthread_condattr_destroy(&ca);
	if (!ok) {
		pthread_mutex_destroy(&s->mu);
		return KT_ERR_INTERNAL;
	}
	return KT_OK;
}

int kt_seq_local_start(const kt_seq_local_params *p, kt_sequencer **out)
{
	seq_local *s;
	kt_apply_head head;
	int r;

	*out = NULL;
	if (p == NULL || p->apply == NULL || p->batch_max == 0 ||
	    p->batch_max > KT_BATCH_MAX_CHANGES || p->queue_max == 0 ||
	    p->heartbeat_interval_ms == 0)
		return KT_ERR_INVALID_ARG;
	if (sodium_init() < 0)
		return KT_ERR_INTERNAL;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return KT_ERR_NOMEM;
	s->base.ops = &local_ops;
	s->p = *p;
	if (s->p.now_ms == NULL) {
		s->p.now_ms = real_now_ms;
		s->p.now_ctx = NULL;
	}
	s->ring = calloc(s->p.queue_max, sizeof(*s->ring));
	s->changes = calloc(s->p.batch_max, sizeof(*s->changes));
	s->taken = calloc(s->p.batch_max, sizeof(*s->taken));
	s->results = calloc(s->p.batch_max, sizeof(*s->results));
	if (s->ring == NULL || s->changes == NULL || s->taken == NULL ||
	    s->results == NULL) {
		free(s->ring);
		free(s->changes);
		free(s->taken);
		free(s->results);
		free(s);
		return KT_ERR_NOMEM;
	}
	r = init_sync(s);
	if (r != KT_OK) {
		free(s->ring);
		free(s->changes);
		free(s->taken);
		free(s->results);
		free(s);
		return r;
	}
	s->next_index = kt_apply_applied_index(p->apply) + 1;
	kt_apply_get_head(p->apply, &head);
	/* An empty log gets its first heartbeat (and checkpoint) at once. */
	s->last_append_ms = head.tree_size > 0 ? head.last_timestamp_ms : 0;
	if (pthread_create(&s->thread, NULL, seq_thread, s) != 0) {
		local_destroy(&s->base);
		return KT_ERR_INTERNAL;
	}
	s->thread_started = 1;
	*out = &s->base;
	return KT_OK;
}
