/*
 * kt_verify.h — the verification core of libkeytrail.
 *
 * Pure functions over the bytes a keytrail server sends (the `bytes` and
 * `repeated bytes` fields of proto/keytrail/v1, taken as they arrived): no
 * transport, no protobuf, no files, no clock (the caller passes now_ms), no
 * globals, no printing.  The library's lookup / seal / monitor, the
 * integration tests, the auditor and the fuzz target all use these, so
 * there is exactly one verifier.
 *
 * What is checked, in which order, and the evidence JSON format are written
 * down in docs/PROTOCOL.md §6.  In short:
 *
 *   kt_verify_head     a ReadHead: log signature and origin, size, witness
 *                      policy (strict k-of-n or bounded lag), no rollback or
 *                      fork, consistency from the trusted checkpoint, the last
 *                      entry and its inclusion, its age.  Gives a verified
 *                      head (the map root to prove against) and the new trust
 *                      state to persist.
 *   kt_verify_leaf     the VRF proof (account -> index) and the map proof of
 *                      the account's leaf (or of its absence) at a head.
 *   kt_verify_lookup   kt_verify_leaf + the commitment opening, the value
 *                      (every encryption key valid) and the provenance.  Only
 *                      its result may be used to encrypt.
 *   kt_verify_history  an owner's monitor: every version since the last one
 *                      checked, chained to the current leaf; flags every
 *                      version not authorised by one of the owner's devices.
 *
 * Conventions:
 *   - Every verifier returns KT_OK or one KT_ERR_CLIENT_* code (kt_err.h),
 *     distinct per failing check; KT_ERR_INVALID_ARG / KT_ERR_NOMEM for
 *     caller mistakes / memory.  Results cannot be ignored (KT_MUST_CHECK).
 *   - On failure every out-parameter is reset (empty, nothing to free
 *     beyond the usual *_free which is always safe), and, if `ev` is not
 *     NULL, *ev holds the evidence: copies of what failed (kt_evidence_*).
 *     On success *ev is reset to empty.
 *   - Wire inputs are kt_bytes views (borrowed for the call only); nothing
 *     is retained.  An absent protobuf bytes field is {NULL, 0}.
 *   - The trust state is never modified in place: kt_verify_head reads the
 *     current state and writes a NEW state that the caller persists
 *     atomically and only then adopts.  A failed verification leaves the
 *     caller's state as it was.
 *
 * THREAD SAFETY: every function is reentrant and touches only its
 * arguments; configs, states and verified heads may be shared read-only
 * between threads.  libsodium must have been initialised (sodium_init()).
 */
#ifndef KT_VERIFY_H
#define KT_VERIFY_H

#include <stddef.h>
#include <stdint.h>

#include "kt_checkpoint.h"
#include "kt_enc.h"
#include "kt_err.h"
#include "kt_hash.h"
#include "kt_note.h"
#include "kt_types.h"
#include "kt_vrf.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- limits and defaults ---------------------------------------------- */

/* Most witness keys in one configuration. */
#define KT_VERIFY_MAX_WITNESSES 32

/* Largest checkpoint note (text + log signature + cosignatures) the client
 * accepts or keeps in its trust state.  Larger notes fail the signature
 * check with cause KT_ERR_TOO_LARGE. */
#define KT_VERIFY_MAX_NOTE_BYTES (64 * 1024)

/* Most versions one kt_verify_history call takes (a History page). */
#define KT_VERIFY_MAX_HISTORY 1024

/* Defaults set by kt_trust_config_init. */
#define KT_VERIFY_DEFAULT_MAX_AGE_MS (10u * 60u * 1000u)   /* 10 min */
#define KT_VERIFY_DEFAULT_MAX_SKEW_MS (60u * 1000u)        /* 1 min */
#define KT_VERIFY_DEFAULT_MAX_LAG_MS (60u * 60u * 1000u)   /* 1 h */

/* Witness policy modes. */
#define KT_TRUST_STRICT 1        /* only checkpoints cosigned by k of n */
#define KT_TRUST_BOUNDED_LAG 2   /* or consistent with a k-of-n cosigned one
                                    at most max_lag_ms old */

/* ---- trust configuration ------------------------------------------------ */

/* What a client trusts.  A plain value (no pointers); fill it with
 * kt_trust_config_init, the parsers of kt_note.h (kt_note_verifier_parse of
 * the configured verifier key strings) and kt_trust_config_set_vrf_key,
 * then check it once with kt_trust_config_check.  Each verifier re-checks
 * the cheap parts and fails with KT_ERR_CLIENT_CONFIG if they are wrong. */
typedef struct kt_trust_config {
	char origin[KT_CHECKPOINT_MAX_ORIGIN + 1];   /* NUL-terminated */
	size_t origin_len;                           /* 1..255 */
	kt_note_verifier log_key;                    /* type KT_NOTE_KEY_ED25519 */
	uint8_t vrf_pk[KT_VRF_PUBLICKEY_BYTES];
	/* vrf_pk decoded and validated once, with its precomputed tables
	 * (kt_trust_config_set_vrf_key).  Not ready (zero): every lookup
	 * prepares vrf_pk again (correct, about 0.7 M instructions slower).
	 * Ready for another key than vrf_pk: KT_ERR_CLIENT_CONFIG. */
	kt_vrf_public_key vrf_key;
	kt_note_verifier witnesses[KT_VERIFY_MAX_WITNESSES]; /* type 0x04 */
	size_t n_witnesses;                          /* 0..KT_VERIFY_MAX_WITNESSES */
	/* k: 1..n_witnesses.  0 is allowed only with n_witnesses == 0 and
	 * means "no witness policy": every log-signed checkpoint counts as
	 * cosigned (development setups without witnesses; never in
	 * production — docs/PROTOCOL.md §6). */
	size_t witness_threshold;
	int mode;                                    /* KT_TRUST_STRICT / _BOUNDED_LAG */
	uint64_t max_lag_ms;   /* BOUNDED_LAG: now - (last cosigned checkpoint's
	                          last-entry time) must be <= this; > 0 */
	uint64_t max_age_ms;   /* now - (last entry time) must be <= this; > 0 */
	uint64_t max_skew_ms;  /* last entry time - now must be <= this */
} kt_trust_config;

/* Zeroes *cfg and sets mode STRICT and the default limits above.  The
 * caller then sets origin, keys and the threshold. */
void kt_trust_config_init(kt_trust_config *cfg);

/* Sets cfg->origin from origin[0..len).  KT_ERR_CLIENT_CONFIG if len is 0,
 * over KT_CHECKPOINT_MAX_ORIGIN or the text is not a valid origin line
 * (cfg->origin is then empty). */
KT_MUST_CHECK int kt_trust_config_set_origin(kt_trust_config *cfg,
					     const char *origin, size_t len);

/* Sets cfg->vrf_pk to pk and prepares it into cfg->vrf_key
 * (kt_vrf_public_key_prepare: decoded, validated, tables built), once, so
 * that every lookup's VRF verification starts from the decoded key.
 * Returns KT_OK; KT_ERR_CLIENT_CONFIG if pk is not a valid VRF key (then
 * vrf_pk and vrf_key are zeroed); KT_ERR_INVALID_ARG for NULL.  Not
 * thread safe on cfg (call it before sharing cfg). */
KT_MUST_CHECK int kt_trust_config_set_vrf_key(kt_trust_config *cfg,
					      const uint8_t pk[KT_VRF_PUBLICKEY_BYTES]);

/* Full check, once after filling: the cheap checks (origin, key types,
 * 1 <= k <= n or k = n = 0, mode, limits, vrf_key if ready prepared from
 * vrf_pk) plus every key: each verifier's key hash recomputed, its Ed25519
 * key a valid prime-order point, no two witnesses with the same name and
 * key hash, the VRF key valid (kt_vrf_validate_public_key).  Returns KT_OK
 * or KT_ERR_CLIENT_CONFIG. */
KT_MUST_CHECK int kt_trust_config_check(const kt_trust_config *cfg);

/* ---- trust state --------------------------------------------------------- */

/* A checkpoint the client has verified.  size 0 = none (then root,
 * timestamp and note are empty). */
typedef struct kt_trusted_checkpoint {
	uint64_t size;
	uint8_t root[KT_HASH_BYTES];
	uint64_t timestamp_ms;      /* its last entry's timestamp */
	uint8_t *note;              /* the signed note as received (heap, owned) */
	size_t note_len;            /* <= KT_VERIFY_MAX_NOTE_BYTES */
} kt_trusted_checkpoint;

/* What the client persists between runs (atomically, never rolled back).
 * Invariants kept by kt_verify_head: cosigned.size <= verified.size and
 * cosigned is a prefix of verified (consistency was verified on the way);
 * in STRICT mode cosigned == verified. */
typedef struct kt_trust_state {
	kt_trusted_checkpoint verified;   /* the last verified checkpoint */
	kt_trusted_checkpoint cosigned;   /* the last one cosigned by k of n */
} kt_trust_state;

/* Sets *s to the empty state (first use); no allocation. */
void kt_trust_state_init(kt_trust_state *s);

/* Frees both notes and resets *s to empty; s may be NULL. */
void kt_trust_state_free(kt_trust_state *s);

/* Deep copy into *dst (overwritten, not freed first).  KT_ERR_NOMEM leaves
 * *dst empty. */
KT_MUST_CHECK int kt_trust_state_copy(kt_trust_state *dst,
				      const kt_trust_state *src);

/* Fixed encoding for the caller's state file (docs/PROTOCOL.md §6):
 * vec8 "keytrail/v1/trust-state" || verified || cosigned, each
 * u64 size || root[32] || u64 timestamp_ms || vec32 note.  On KT_OK *out is
 * heap (caller free()s).  KT_ERR_INVALID_ARG for a state that breaks its
 * invariants, KT_ERR_NOMEM. */
KT_MUST_CHECK int kt_trust_state_encode(const kt_trust_state *s, uint8_t **out,
					size_t *out_len);

/* Decodes a state file strictly and re-verifies it against cfg: each
 * present checkpoint's note must open with the log key for cfg's origin and
 * carry exactly the recorded size and root; the cosigned one must satisfy
 * the witness threshold; cosigned.size <= verified.size (equal sizes with
 * equal roots); in STRICT mode cosigned == verified.  Returns KT_OK (the
 * caller owns *s: kt_trust_state_free), KT_ERR_CLIENT_CONFIG, or
 * KT_ERR_CLIENT_STATE (*s empty) — a state that fails must not be used;
 * starting again from the empty state means trusting on first use again. */
KT_MUST_CHECK int kt_trust_state_decode(kt_trust_state *s,
					const kt_trust_config *cfg,
					const uint8_t *p, size_t len);

/* ---- evidence ------------------------------------------------------------ */

#define KT_EVIDENCE_MAX_FIELDS 24

/* A checkpoint as recorded in evidence (owned copies). */
typedef struct kt_evidence_checkpoint {
	int present;                 /* this checkpoint is part of the record */
	int parsed;                  /* size and root are known */
	uint64_t size;
	uint8_t root[KT_HASH_BYTES];
	int has_timestamp;
	uint64_t timestamp_ms;
	uint8_t *note;               /* heap, owned; the note bytes as received */
	size_t note_len;
} kt_evidence_checkpoint;

/* One named item: a number, a byte string, or a list of byte strings (a
 * proof).  name is a static string from docs/PROTOCOL.md §6. */
#define KT_EVIDENCE_U64 1
#define KT_EVIDENCE_BYTES 2
#define KT_EVIDENCE_LIST 3
typedef struct kt_evidence_field {
	const char *name;
	int kind;                    /* KT_EVIDENCE_* */
	uint64_t u64;                /* KT_EVIDENCE_U64 */
	uint8_t *bytes;              /* KT_EVIDENCE_BYTES: heap, owned */
	size_t len;
	kt_bytes *list;              /* KT_EVIDENCE_LIST: heap array of heap copies */
	size_t n;
} kt_evidence_field;

/* What a failed verification hands back: enough to show the failure to a
 * third party (both signed checkpoints, the proof, the entry, ...).
 * Initialise with kt_evidence_init (or zero it); free with
 * kt_evidence_free.  The verifiers reset it on entry. */
typedef struct kt_evidence {
	int code;                    /* KT_ERR_CLIENT_* (KT_OK: nothing failed) */
	int cause;                   /* the underlying code (merkle/), or = code */
	const char *check;           /* static, stable name of the failed check */
	int incomplete;              /* memory ran out while recording */
	kt_evidence_checkpoint trusted;    /* the trust state's verified checkpoint */
	kt_evidence_checkpoint cosigned;   /* the trust state's last cosigned one */
	kt_evidence_checkpoint checkpoint; /* the checkpoint being verified / used */
	kt_evidence_field fields[KT_EVIDENCE_MAX_FIELDS];
	size_t n_fields;
} kt_evidence;

/* Sets *ev to empty (code KT_OK); no allocation.  Every verifier frees
 * what *ev held on entry, so *ev must be initialised (or zeroed) before it
 * is first passed; one kt_evidence may be reused across calls. */
void kt_evidence_init(kt_evidence *ev);

/* Frees everything ev holds and resets it to empty; ev may be NULL. */
void kt_evidence_free(kt_evidence *ev);

/* The field called name, or NULL (borrowed from ev). */
const kt_evidence_field *kt_evidence_get(const kt_evidence *ev,
					 const char *name);

/* Writes ev as one JSON object (docs/PROTOCOL.md §6: stable field
 * names, bytes as lowercase hex, notes as JSON strings).  On KT_OK *out is a
 * heap NUL-terminated string the caller free()s; KT_ERR_NOMEM or
 * KT_ERR_INVALID_ARG (*out NULL). */
KT_MUST_CHECK int kt_evidence_write_json(const kt_evidence *ev, char **out);

/* ---- heads ---------------------------------------------------------------- */

/* The verifiable head of a read response (proto ReadHead), as received. */
typedef struct kt_read_head {
	kt_bytes checkpoint;                  /* signed note with cosignatures */
	uint64_t tree_size;
	const kt_bytes *consistency;          /* from the state's verified size */
	size_t n_consistency;
	kt_bytes last_entry;                  /* the entry at tree_size - 1 */
	const kt_bytes *last_entry_inclusion; /* its inclusion proof at tree_size */
	size_t n_last_entry_inclusion;
} kt_read_head;

/* A checkpoint that passed kt_verify_head: what lookups prove against. */
typedef struct kt_verified_head {
	uint64_t size;                        /* > 0 */
	uint8_t root[KT_HASH_BYTES];          /* log root */
	uint8_t map_root[KT_ROOT_BYTES];      /* the last entry's map root */
	uint64_t timestamp_ms;                /* the last entry's timestamp */
	int cosigned;                         /* k of n witnesses cosigned it */
	uint8_t *note;                        /* heap, owned */
	size_t note_len;
} kt_verified_head;

/* Frees h->note and zeroes *h; h may be NULL. */
void kt_verified_head_free(kt_verified_head *h);

/*
 * Verifies a read head against the trust configuration and the caller's
 * trust state at time now_ms (ms since the Unix epoch).  Checks, in order
 * (first failure wins; docs/PROTOCOL.md §6.2):
 *   1 the note opens with the log key, its body is a checkpoint, of cfg's
 *     origin                       CHECKPOINT_SIG, CHECKPOINT_ORIGIN
 *   2 its size equals rh->tree_size; size > 0   SIZE_MISMATCH, EMPTY_LOG
 *   3 witness policy: k of n configured witnesses cosigned THIS checkpoint;
 *     if not: STRICT fails; BOUNDED_LAG needs a cosigned checkpoint in the
 *     state (else WITNESS_POLICY) no older than max_lag_ms at now_ms (its
 *     last entry's time; else LAG)      WITNESS_POLICY, LAG
 *   4 size >= state.verified.size (ROLLBACK); equal size needs an equal
 *     root (FORK)
 *   5 the consistency proof from state.verified to this checkpoint
 *     (state empty: trust on first use of a checkpoint that passed 3, the
 *     proof must then be empty)   INCONSISTENT
 *   6 the last entry decodes; an update entry's leaf.log_index is size-1
 *                                  ENTRY_MALFORMED
 *   7 its inclusion at size - 1 against the root   ENTRY_INCLUSION
 *   8 its time: <= now + max_skew (FUTURE), now - time <= max_age (STALE),
 *     >= the state's verified time (TIME_ORDER)
 * A note byte-identical to state.verified's skips 1 and the signature part
 * of 3 (it was verified when the state was made).
 * On KT_OK: *head (free with kt_verified_head_free) and *new_state (the
 * state to persist: verified = this checkpoint; cosigned = this one if it
 * met the threshold, else the previous cosigned one; never older than
 * *state) are set; the caller owns both.  new_state must not alias state.
 * On failure *head and *new_state are empty and *ev holds the evidence.
 * Other errors: KT_ERR_CLIENT_CONFIG, KT_ERR_CLIENT_STATE (a state that
 * breaks its invariants), KT_ERR_INVALID_ARG, KT_ERR_NOMEM.
 */
KT_MUST_CHECK int kt_verify_head(const kt_trust_config *cfg,
				 const kt_trust_state *state, uint64_t now_ms,
				 const kt_read_head *rh, kt_verified_head *head,
				 kt_trust_state *new_state, kt_evidence *ev);

/* ---- lookups -------------------------------------------------------------- */

/* The account part of a LookupResponse, as received.  The account exists
 * iff leaf is non-empty; then value, provenance and opening must be given,
 * else they must be empty. */
typedef struct kt_lookup_response {
	kt_bytes vrf_proof;     /* 80 bytes */
	kt_bytes map_proof;
	kt_bytes leaf;          /* 80 bytes, or empty (absent) */
	kt_bytes value;
	kt_bytes provenance;
	kt_bytes opening;       /* 16 bytes */
} kt_lookup_response;

/* An account's map position at one verified head. */
typedef struct kt_verified_leaf {
	int present;                           /* 0: proven absent */
	uint8_t index[KT_INDEX_BYTES];         /* VRF(account)[0:32] */
	kt_map_leaf leaf;                      /* zero when absent */
	uint64_t head_size;                    /* the head it was proven at */
	uint8_t map_root[KT_ROOT_BYTES];
} kt_verified_leaf;

/* Verifies the account's VRF proof (with cfg's VRF key; the account bytes
 * are alpha; index = beta[0:32]) and its map proof against head->map_root:
 * a proof of absence when leaf is empty, else the leaf decodes, has version
 * >= 1 and log_index < head->size, and the proof shows (index,
 * leaf_digest).  Errors: VRF, LEAF_MALFORMED, MAP_PROOF; KT_ERR_INVALID_ARG
 * (account not 1..255 bytes of UTF-8, NULL); KT_ERR_CLIENT_CONFIG.
 * *out is zeroed on failure.  Used on its own for History responses (whose
 * leaf comes without an opening). */
KT_MUST_CHECK int kt_verify_leaf(const kt_trust_config *cfg,
				 const kt_verified_head *head,
				 const uint8_t *account, size_t account_len,
				 kt_bytes vrf_proof, kt_bytes map_proof,
				 kt_bytes leaf, kt_verified_leaf *out,
				 kt_evidence *ev);

/* A verified lookup: the only thing a sender may encrypt to. */
typedef struct kt_lookup_result {
	kt_verified_leaf leaf;
	kt_account_value value;      /* owned; empty when absent; every
	                                enc_pk valid, sign_pk of a known type
	                                (kt_account_value_validate_recipients) */
	kt_provenance provenance;    /* of the current version; zero when absent */
} kt_lookup_result;

/* Sets *res empty; no allocation. */
void kt_lookup_result_init(kt_lookup_result *res);

/* Frees res->value and resets *res; res may be NULL. */
void kt_lookup_result_free(kt_lookup_result *res);

/* kt_verify_leaf, then for a present account: opening is 16 bytes and
 * opens leaf.commitment over (account, version, value bytes, provenance
 * bytes) (OPENING); the value decodes (VALUE_MALFORMED) and every device in
 * it is a valid recipient (kt_account_value_validate_recipients: structure
 * and enc_pk; sign_pk by type only — VALUE_INVALID); the provenance
 * decodes (PROVENANCE_MALFORMED).  An absent account with a value,
 * provenance or opening is LEAF_MALFORMED.  On KT_OK *res is owned by the
 * caller (kt_lookup_result_free); on failure it is empty.  *res is
 * overwritten, not freed first. */
KT_MUST_CHECK int kt_verify_lookup(const kt_trust_config *cfg,
				   const kt_verified_head *head,
				   const uint8_t *account, size_t account_len,
				   const kt_lookup_response *resp,
				   kt_lookup_result *res, kt_evidence *ev);

/* ---- history (owner's monitor) ------------------------------------------ */

/* One HistoryVersion as received. */
typedef struct kt_history_version {
	uint64_t log_index;
	kt_bytes entry;                 /* the update entry at log_index */
	const kt_bytes *inclusion;      /* its inclusion proof at head->size */
	size_t n_inclusion;
	kt_bytes value;
	kt_bytes provenance;
	kt_bytes opening;
} kt_history_version;

/* What the monitor verified last time (persisted by the caller). */
typedef struct kt_history_checked {
	uint64_t version;                    /* 0: nothing yet */
	uint8_t history[KT_HASH_BYTES];      /* history_version (zeros for 0) */
	/* The value at `version` if the caller kept it (needed to check the
	 * next version's transition and device signature), else NULL.  For
	 * version 0 NULL means the empty value (and is known). */
	const kt_account_value *value;
} kt_history_checked;

/* The owner's own devices, for flagging.  A version is the owner's own
 * when its provenance is a device whose id is in device_ids, or whose sign
 * key at the previous version is in sign_keys; or a registrar enrolment of
 * a device whose sign key is in sign_keys.  Both lists may be empty. */
typedef struct kt_owner_set {
	const kt_bytes *device_ids;
	size_t n_device_ids;
	const kt_sign_key *sign_keys;
	size_t n_sign_keys;
} kt_owner_set;

/* Flags of a reported version (any set bit = not authorised by the owner
 * as far as the monitor can tell; alert the owner). */
#define KT_HISTORY_FLAG_OPERATOR 0x01u       /* provenance operator */
#define KT_HISTORY_FLAG_REGISTRAR 0x02u      /* a registrar enrolment of a key
                                               not in owner.sign_keys */
#define KT_HISTORY_FLAG_UNKNOWN_DEVICE 0x04u /* a device not in the owner set */
#define KT_HISTORY_FLAG_UNCHECKED 0x08u      /* previous value unknown: the
                                               transition and the device
                                               signature were not checked */

typedef struct kt_history_item {
	uint64_t version;
	uint64_t log_index;
	uint64_t timestamp_ms;          /* of its log entry */
	unsigned flags;                 /* KT_HISTORY_FLAG_* */
	kt_provenance provenance;       /* who authorised it, and the operation */
} kt_history_item;

typedef struct kt_history_report {
	kt_history_item *items;         /* heap, n entries, in version order */
	size_t n;
	size_t flagged;                 /* items with flags != 0 */
	/* 1 if the versions reached the current leaf (its version and history
	 * head); 0 if the page ended earlier: continue from checked_*. */
	int complete;
	uint64_t checked_version;       /* the last version now verified */
	uint8_t checked_history[KT_HASH_BYTES];
	int value_known;                /* value is the value at checked_version */
	kt_account_value value;         /* owned */
} kt_history_report;

/* Sets *rep empty (no items, empty value); no allocation. */
void kt_history_report_init(kt_history_report *rep);

/* Frees the items and the value; rep may be NULL. */
void kt_history_report_free(kt_history_report *rep);

/*
 * Verifies versions[0..n) of an account (n <= KT_VERIFY_MAX_HISTORY) as
 * versions checked->version + 1, + 2, ... against a verified head and the
 * account's leaf proven at that head (current, from kt_verify_leaf or
 * kt_verify_lookup, present, at the same head).  For each version v
 * (docs/PROTOCOL.md §6.4): the entry decodes as an update entry
 * (ENTRY_MALFORMED) for current's index with leaf.log_index == log_index,
 * log indices increasing and < head->size (ENTRY_MISMATCH), leaf.version ==
 * v (VERSION_GAP), its inclusion at log_index (ENTRY_INCLUSION), history_v
 * = step(history_{v-1}) (HISTORY), the opening (OPENING), value and
 * provenance decode (VALUE_MALFORMED, PROVENANCE_MALFORMED), the registrar
 * signature / the device signature by that device's key at v-1
 * (PROVENANCE_SIG), value_v == value_{v-1} with the provenance's operation
 * applied at the entry's timestamp (TRANSITION).  The last version must
 * not pass current's version (VERSION_GAP); reaching it, its history must
 * be current's (HISTORY).  current older than checked is HISTORY.
 * On KT_OK *report is owned by the caller (kt_history_report_free); on
 * failure it is empty.  Flags never make the call fail: they are the
 * report.  own may be NULL (nothing is the owner's).
 */
KT_MUST_CHECK int kt_verify_history(const kt_trust_config *cfg,
				    const kt_verified_head *head,
				    const uint8_t *account, size_t account_len,
				    const kt_verified_leaf *current,
				    const kt_history_version *versions, size_t n,
				    const kt_history_checked *checked,
				    const kt_owner_set *own,
				    kt_history_report *report, kt_evidence *ev);

#ifdef __cplusplus
}
#endif
#endif /* KT_VERIFY_H */
