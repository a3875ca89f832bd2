/*
 * apply.h — the deterministic apply path of ktd.
 *
 * The apply path is a pure function of (stored state, batch): given the same
 * database and the same batch bytes, every replica computes byte-identical
 * log entries, map nodes, account records and signed checkpoint (Ed25519
 * signing is deterministic).  All randomness (commitment openings) and the
 * clock (the batch timestamp) are chosen by the sequencer BEFORE the batch is
 * replicated, and travel inside it.
 *
 * A batch is what the sequencer orders: the local sequencer hands it to
 * kt_apply_batch directly; the Raft sequencer (later) replicates its
 * encoding (kt_batch_encode) as one Raft log entry and every replica applies
 * it.  Its encoding is documented in docs/PROTOCOL.md §9 ("batch").
 *
 * Validation that needs no state (sizes, encodings, key validity, device
 * signature against the device key read at expected_version, registrar token)
 * happens in the handlers BEFORE a change is submitted.  The apply path makes
 * only the stateful checks: expected_version equals the account's current
 * version (a device signature verified at version v is thereby still
 * authorised, since the device set cannot have changed), the operation
 * applies to the current value (device exists / does not exist, the cap),
 * and the change is not a no-op.  A change that fails these gets its error in
 * its result and produces no entry; the others in the batch go on.
 *
 * Registrar tokens are single-use, decided here, deterministically: a
 * registrar-authorised change is refused if the token's expiry is before
 * the batch time (KT_ERR_TOKEN_EXPIRED: the re-check of the handler's
 * wall-clock check) or if the token already authorised an accepted change
 * (KT_ERR_TOKEN_USED), also earlier in the same batch.  An accepted one
 * records its token as used; records of tokens that expired more than
 * KT_APPLY_TOKEN_GRACE_MS before the batch time are deleted, at most
 * KT_APPLY_TOKEN_SWEEP_MAX per batch, oldest use first (docs/PROTOCOL.md
 * §9, "Used registrar tokens").
 *
 * Map versions: every map node a batch writes is recorded at version
 * first_index (the log position of the batch's first entry).  Reads are
 * answered only at checkpoint sizes, i.e. batch boundaries: a read at tree
 * size N reads the map "at" N - 1 and so sees exactly the batches that end at
 * or before N.  (The intermediate roots inside a batch are still computed
 * and committed in each update entry, so an auditor can check every one.)
 *
 * THREAD SAFETY: one apply thread owns a kt_apply (kt_apply_batch,
 * kt_apply_get_head); kt_apply_put_cosig / kt_apply_set_cosigned may be
 * called from any thread (an internal mutex serialises every storage
 * batch); readers use the storage and the published kt_apply_head (copied
 * under the caller's lock).
 */
#ifndef KT_SERVER_APPLY_H
#define KT_SERVER_APPLY_H

#include <stddef.h>
#include <stdint.h>

#include "kt_err.h"
#include "kt_hash.h"
#include "kt_log.h"
#include "kt_note.h"
#include "kt_types.h"
#include "kt_vrf.h"
#include "storage.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KT_BATCH_MAX_CHANGES 65536u        /* hard cap of one batch */
#define KT_BATCH_MAX_BYTES (64u << 20)     /* hard cap of an encoded batch */

/* Used registrar tokens: a record is kept at least this long after the
 * token's expiry (1 h), and at most this many records are deleted per
 * batch. */
#define KT_APPLY_TOKEN_GRACE_MS UINT64_C(3600000)
#define KT_APPLY_TOKEN_SWEEP_MAX 64u

/* One change to be sequenced.  provenance is the kt_provenance encoding,
 * which carries the operation (op byte + payload).  For an account that has
 * no map index yet (first enrolment), the handler computes the VRF proof off
 * the apply thread and sets has_vrf; the apply path uses the stored index
 * when there is one and ignores these fields then. */
typedef struct kt_change {
	uint8_t account[KT_ACCOUNT_MAX];
	size_t account_len;
	uint64_t expected_version;
	uint8_t *provenance;                 /* heap, owned by the change */
	size_t provenance_len;
	uint8_t opening[KT_OPENING_BYTES];   /* chosen by the sequencer */
	int has_vrf;
	uint8_t index[KT_INDEX_BYTES];
	uint8_t vrf_proof[KT_VRF_PROOF_BYTES];
} kt_change;

/* Wipes and frees c->provenance (NULL afterwards) and wipes the opening;
 * c may be NULL. */
void kt_change_clear(kt_change *c);

/* A batch: the leader's timestamp and the changes, in order.  heartbeat is
 * set for a batch that only appends a heartbeat entry (no changes). */
typedef struct kt_batch {
	uint64_t timestamp_ms;
	int heartbeat;
	kt_change *changes;                  /* heap array, owned */
	size_t count;
} kt_batch;

/* Clears every change, frees the array and zeroes *b; b may be NULL (the
 * struct itself is the caller's). */
void kt_batch_free(kt_batch *b);

/* Encodes / strictly decodes a batch (docs/PROTOCOL.md §9, "Batch
 * encoding").  Encode: on KT_OK *out (heap, caller free()s; it holds the
 * openings: wipe it when it is no longer needed) of *out_len bytes; a
 * heartbeat with changes, count over KT_BATCH_MAX_CHANGES, an empty change
 * batch, a bad account or provenance length, or an encoding over
 * KT_BATCH_MAX_BYTES are refused (*out NULL).  Decode: fills *b, which then
 * owns its changes (kt_batch_free); on failure *b is empty.  Errors:
 * KT_ERR_TOO_LARGE, KT_ERR_TRUNCATED, KT_ERR_TRAILING, KT_ERR_BAD_TYPE,
 * KT_ERR_BAD_LENGTH, KT_ERR_BAD_UTF8, a provenance decoding error,
 * KT_ERR_NOMEM.  Allocates at most what the input can hold.  Thread safe
 * on distinct batches. */
KT_MUST_CHECK int kt_batch_encode(const kt_batch *b, uint8_t **out,
				  size_t *out_len);
KT_MUST_CHECK int kt_batch_decode(kt_batch *b, const uint8_t *p, size_t len);

/* The outcome of one change. */
typedef struct kt_change_result {
	int code;              /* KT_OK or why the change was refused */
	uint64_t version;      /* the account's new version (KT_OK) */
	uint64_t log_index;    /* position of its update entry (KT_OK) */
} kt_change_result;

/* What readers need after a batch: published by the node under its lock. */
typedef struct kt_apply_head {
	uint64_t tree_size;
	uint8_t log_root[KT_HASH_BYTES];
	uint8_t map_root[KT_HASH_BYTES];
	uint64_t last_timestamp_ms;
	uint64_t accounts;
} kt_apply_head;

/* Node-wide parameters of the apply path (all borrowed, must outlive it). */
typedef struct kt_apply_params {
	kt_storage *storage;
	const kt_note_signer *log_signer;    /* signs every checkpoint */
	const char *origin;                  /* checkpoint origin line */
	size_t origin_len;
	size_t max_devices;                  /* configured cap (<= encoding cap) */
} kt_apply_params;

typedef struct kt_apply kt_apply;

/* Loads the apply state from storage (tree size, log frontier, map root and
 * last timestamp from the last entry, account count).  An empty database
 * gives tree size 0.  A database storage opened at
 * KT_STORAGE_FORMAT_MIGRATABLE is first migrated to
 * KT_STORAGE_FORMAT_VERSION: the used-token record of every registrar
 * token an update entry spent (unless it expired before the last entry's
 * time, or is recorded already), written with the new format in ONE synced
 * storage write; logged as event=storage_migrated (docs/PROTOCOL.md §9,
 * "Migration from format 2").  It reads stored state only, never the
 * clock.  *out is owned by the caller (kt_apply_free).
 * Returns KT_OK; KT_ERR_INVALID_ARG (missing parameter, max_devices not in
 * 1..KT_MAX_DEVICES_ENCODING, a signer not named after the origin);
 * KT_ERR_BAD_KEY_TYPE (a signer that is not Ed25519, type 0x01);
 * KT_ERR_CHECKPOINT_ORIGIN (the database holds a log of another origin);
 * KT_ERR_STORAGE (also: an inconsistent log found by the migration, which
 * then wrote nothing) and other storage errors.  *out NULL on failure. */
KT_MUST_CHECK int kt_apply_open(const kt_apply_params *params, kt_apply **out);

/* Frees a (after every thread that uses it stopped); a may be NULL. */
void kt_apply_free(kt_apply *a);

/* Applies one batch as ONE synced storage write that also records
 * applied_index (the sequencer's / Raft's index; must be greater than the
 * stored one — a batch at or below it was applied already and is skipped
 * with KT_OK and every result code KT_ERR_ALREADY_APPLIED).  results has
 * b->count slots.  Appends one update entry per accepted change (or one
 * heartbeat entry), signs and stores the checkpoint of the new size.  A
 * refused change gets its code in its result (KT_ERR_VERSION_MISMATCH,
 * KT_ERR_TOKEN_EXPIRED, KT_ERR_TOKEN_USED,
 * KT_ERR_NO_ACCOUNT, KT_ERR_DEVICE_EXISTS, KT_ERR_NOT_FOUND,
 * KT_ERR_NOOP_CHANGE, KT_ERR_TOO_LARGE, KT_ERR_INVALID_ARG, a provenance
 * decoding error: docs/PROTOCOL.md §9 "Applying a batch") and the
 * call still returns KT_OK.  On a storage error (or KT_ERR_NOMEM,
 * KT_ERR_INTERNAL) nothing is written, the in-memory state is unchanged
 * and the error is returned (every result then carries it too).
 * KT_ERR_INVALID_ARG for a malformed batch (heartbeat with changes, count
 * over the cap, NULL results) or applied_index == KT_STORAGE_NO_INDEX. */
KT_MUST_CHECK int kt_apply_batch(kt_apply *a, const kt_batch *b,
				 uint64_t applied_index,
				 kt_change_result *results);

/* Stores one (already verified) witness cosignature line for the stored
 * checkpoint of tree size `size`, as its own synced storage write without
 * an applied index.  Storage has one batch at a time: this call is
 * serialised with kt_apply_batch (it waits for a running batch) and may be
 * called from any thread.  Returns KT_OK, KT_ERR_NO_CHECKPOINT (no
 * checkpoint of that size), KT_ERR_INVALID_ARG (name 1..255 bytes) or a
 * storage error.  Cosignatures are node-local (not part of any batch that
 * replicas apply). */
KT_MUST_CHECK int kt_apply_put_cosig(kt_apply *a, uint64_t size,
				     const uint8_t key_hash[4],
				     const uint8_t *name, size_t name_len,
				     const uint8_t *line, size_t line_len);

/* Raises meta COSIGNED_CHECKPOINT to `size` (a no-op returning KT_OK when it
 * is already >= size), serialised as kt_apply_put_cosig.  KT_ERR_NO_CHECKPOINT
 * if no checkpoint of that size is stored. */
KT_MUST_CHECK int kt_apply_set_cosigned(kt_apply *a, uint64_t size);

/* The state after the last applied batch.  Apply thread (or after it
 * stopped). */
void kt_apply_get_head(const kt_apply *a, kt_apply_head *out);

/* The applied index recorded by the last committed batch (0 if none yet):
 * the sequencer numbers its batches from here. */
uint64_t kt_apply_applied_index(const kt_apply *a);

/* Whether the registrar token that *pv carries (pv->type must be
 * KT_PROV_REGISTRAR with an enrol op) for `account` has already authorised
 * an accepted change, in the latest committed state: KT_OK (not used),
 * KT_ERR_TOKEN_USED, KT_ERR_INVALID_ARG (not a registrar provenance, or an
 * account / device spec the token message refuses), KT_ERR_NOMEM or a
 * storage error.  A token is identified by SHA-256 of its signed message
 * (kt_registrar_token_message), so the same (account, device spec, expiry)
 * is one token whoever signed it.  For the handlers' early refusal; the
 * apply path decides.  Thread safe (reads storage with a NULL view). */
KT_MUST_CHECK int kt_apply_token_used(kt_storage *st, const uint8_t *account,
				      size_t account_len,
				      const kt_provenance *pv);

#ifdef __cplusplus
}
#endif
#endif /* KT_SERVER_APPLY_H */
