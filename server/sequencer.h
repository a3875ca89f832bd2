/*
 * sequencer.h — the seam between the handlers and the apply path.
 *
 * Handlers validate a change (everything that needs no sequencing) and
 * submit it; the sequencer orders changes into batches, stamps each batch
 * with the leader's clock and each change with a fresh commitment opening,
 * has every replica apply it (kt_apply_batch), and then calls each change's
 * completion callback with its result.  "Acknowledged" means the batch is
 * applied and synced (locally, or committed on a Raft majority and applied).
 *
 * Implementations: seq_local.c (one node: a batching thread, one synced
 * write per batch) now; Raft (libraft) later, behind the same interface.
 *
 * THREAD SAFETY: submit may be called from any thread; callbacks run on the
 * sequencer's thread and must not block (they typically hand the result to
 * a deferred gRPC reply); they may submit, but must not call stop or
 * destroy.
 */
#ifndef KT_SERVER_SEQUENCER_H
#define KT_SERVER_SEQUENCER_H

#include <stddef.h>
#include <stdint.h>

#include "apply.h"
#include "kt_err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Called once per submitted change, after its batch was applied (or with
 * an error if it never will be: shutdown, storage failure, queue full).
 * head is the state right after the batch (for the checkpoint to return). */
typedef void (*kt_seq_done_fn)(void *arg, const kt_change_result *result,
			       const kt_apply_head *head);

/* Called on the sequencer thread after every applied batch (the node
 * publishes the new head to readers there). */
typedef void (*kt_seq_applied_fn)(void *arg, const kt_apply_head *head);

typedef struct kt_sequencer kt_sequencer;

typedef struct kt_sequencer_ops {
	/* Takes ownership of *change (its provenance buffer) whatever it
	 * returns: on return change->provenance is NULL (moved into the queue,
	 * or freed).  The sequencer fills the opening (randombytes_buf) when
	 * it cuts the batch.  KT_OK: done will be called exactly once.  An error (queue full: KT_ERR_BUSY, stopping:
	 * KT_ERR_UNAVAILABLE, not leader: KT_ERR_NOT_LEADER): done is NOT
	 * called. */
	int (*submit)(kt_sequencer *s, kt_change *change, kt_seq_done_fn done,
		      void *arg);
	/* Stops accepting, applies what was accepted, calls every pending
	 * done, joins threads.  Idempotent. */
	void (*stop)(kt_sequencer *s);
	/* Frees the sequencer (after stop). */
	void (*destroy)(kt_sequencer *s);
} kt_sequencer_ops;

struct kt_sequencer {
	const kt_sequencer_ops *ops;
};

/* The local sequencer cuts a batch when batch_max changes are pending or
 * the oldest pending change has waited batch_delay_ms (measured on the
 * monotonic clock: a latency knob, not state), stamps it with now_ms, and
 * numbers batches with consecutive applied indices from
 * kt_apply_applied_index + 1 (a batch whose commit failed does not use up
 * its index).  A heartbeat batch is applied when no entry was appended for
 * heartbeat_interval_ms by now_ms, counted from the last entry's timestamp;
 * an empty log therefore gets its first heartbeat (and checkpoint) at
 * once. */
typedef struct kt_seq_local_params {
	kt_apply *apply;                 /* borrowed; used only by the seq thread */
	size_t batch_max;                /* changes per batch, 1..65536 */
	uint64_t batch_delay_ms;         /* how long to wait to fill a batch */
	size_t queue_max;                /* pending changes before KT_ERR_BUSY */
	uint64_t heartbeat_interval_ms;  /* append a heartbeat when idle this long */
	kt_seq_applied_fn applied;       /* may be NULL */
	void *applied_arg;
	/* Clock in ms since the epoch; NULL = the real clock (tests inject). */
	uint64_t (*now_ms)(void *ctx);
	void *now_ctx;
} kt_seq_local_params;

/* Starts the local sequencer thread.  *out is owned by the caller (stop,
 * then destroy through its ops; destroy also stops).  Returns KT_OK,
 * KT_ERR_INVALID_ARG (no apply, batch_max 0 or > KT_BATCH_MAX_CHANGES,
 * queue_max 0, heartbeat_interval_ms 0), KT_ERR_NOMEM, KT_ERR_INTERNAL.
 * An injected clock is polled every 10 ms while idle. */
KT_MUST_CHECK int kt_seq_local_start(const kt_seq_local_params *p,
				     kt_sequencer **out);

#ifdef __cplusplus
}
#endif
#endif /* KT_SERVER_SEQUENCER_H */
