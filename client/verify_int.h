/*
 * verify_int.h — shared inside the verification core (kt_verify.c,
 * kt_evidence.c): recording evidence.
 *
 * Every recorder accepts ev == NULL (the caller did not ask for evidence)
 * and never fails: when memory runs out it sets ev->incomplete and goes on,
 * so that recording can never change the verifier's answer.
 */
#ifndef KT_CLIENT_VERIFY_INT_H
#define KT_CLIENT_VERIFY_INT_H

#include "kt_verify.h"

/* Which checkpoint slot of the evidence. */
#define KT_EV_TRUSTED 0
#define KT_EV_COSIGNED 1
#define KT_EV_CHECKPOINT 2

/* Sets code, cause and check; returns code (so a verifier can
 * `return kt_ev_fail(...)`). */
int kt_ev_fail(kt_evidence *ev, int code, int cause, const char *check);

/* Records a checkpoint slot: the note bytes (copied) and, if parsed, size
 * and root; has_ts / ts for its last entry's time. */
void kt_ev_checkpoint(kt_evidence *ev, int slot, const uint8_t *note,
		      size_t note_len, int parsed, uint64_t size,
		      const uint8_t root[KT_HASH_BYTES], int has_ts,
		      uint64_t ts);

/* Records a trusted checkpoint from a trust state (nothing if size 0). */
void kt_ev_trusted(kt_evidence *ev, int slot, const kt_trusted_checkpoint *t);

/* Records a named number / byte string / list of byte strings.  name must
 * be a static string.  p may be NULL when len is 0. */
void kt_ev_u64(kt_evidence *ev, const char *name, uint64_t v);
void kt_ev_bytes(kt_evidence *ev, const char *name, const uint8_t *p,
		 size_t len);
void kt_ev_list(kt_evidence *ev, const char *name, const kt_bytes *list,
		size_t n);

#endif /* KT_CLIENT_VERIFY_INT_H */
