/*
 * kt_types.h — the fixed binary encodings of keytrail's structures.
 *
 * Keys, devices, account values, provenance, update operations and the
 * messages that devices and registrars sign, map leaves and log entries.
 * Every byte is written down in docs/PROTOCOL.md §1; the vectors in
 * tests/vectors/keytrail/encodings.json pin the encodings.
 *
 * Conventions of this header:
 *   - Encoders append to a kt_wbuf and return KT_OK or an error.  They first
 *     check the struct (lengths, type bytes, canonical order) and never write a
 *     non-canonical encoding: on a bad struct they write nothing, set the
 *     writer's sticky error and return the code.  Initialise the writer with a
 *     cap at least the matching KT_*_MAX_BYTES.
 *   - Decoders take (p, len), accept exactly one encoding of one structure and
 *     reject anything else (KT_ERR_TRUNCATED, KT_ERR_TRAILING, KT_ERR_TOO_LARGE,
 *     KT_ERR_BAD_LENGTH, KT_ERR_BAD_TYPE, KT_ERR_BAD_KEY_TYPE, KT_ERR_BAD_UTF8,
 *     KT_ERR_NONCANONICAL).  Decoding checks STRUCTURE only: key bytes are not
 *     checked to be valid curve points (see kt_device_validate), so that a
 *     monitor or auditor can still decode, and report, a bad key the directory
 *     committed to.  On failure the out-struct is zeroed.
 *   - Decode then encode reproduces the input exactly (canonical encodings).
 *
 * Who calls what:
 *   - the server, before sequencing: kt_account_check, kt_update_op_decode or
 *     the struct it builds, kt_device_validate on every device spec it is asked
 *     to add or enrol, kt_update_verify / kt_registrar_token_verify (over
 *     the whole device spec it enrols), kt_history_request_verify (the
 *     *_committed variants of both for a device key read from its own
 *     committed state, validated when it was added),
 *     kt_provenance_encode (which carries the op);
 *   - the apply path: kt_value_apply_op (with the decoded provenance, so
 *     that an added device records who added it), the encoders, and
 *     kt_commit.h;
 *   - an owner's monitor and the auditor-side tools, per version v:
 *     kt_provenance_decode, kt_provenance_verify_signature(value_{v-1}, pv,
 *     account, expected_version v-1) (plus their own trust decision on a
 *     registrar key), and kt_provenance_check_transition(value_{v-1},
 *     value_v, pv, timestamp of v's log entry);
 *   - the client, before it seals to a device: kt_account_value_decode then
 *     kt_account_value_validate_recipients (every encryption key; signing
 *     keys by type), after kt_commit.h has opened the commitment over the
 *     received bytes.
 *
 * THREAD SAFETY: every function is pure; distinct objects may be used from
 * different threads at once.  No function keeps state between calls.
 */
#ifndef KT_TYPES_H
#define KT_TYPES_H

#include <stddef.h>
#include <stdint.h>

#include "kt_enc.h"
#include "kt_err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- domain-separation strings (written as vec8 at the start) -------- */

#define KT_DOMAIN_UPDATE "keytrail/v1/update"
#define KT_DOMAIN_REGISTRAR_TOKEN "keytrail/v1/registrar-token"
#define KT_DOMAIN_HISTORY_REQUEST "keytrail/v1/history-request"

/* ---- caps ------------------------------------------------------------ */

#define KT_ACCOUNT_MIN 1                /* account: UTF-8, bytes */
#define KT_ACCOUNT_MAX 255
#define KT_DEVICE_ID_MIN 1              /* device_id: opaque bytes */
#define KT_DEVICE_ID_MAX 64
#define KT_PUSH_ADDRESS_MAX 512         /* push_address: opaque, may be empty */
#define KT_MAX_DEVICES_ENCODING 256     /* hard cap of the encoding */
#define KT_DEFAULT_MAX_DEVICES 32       /* the server's configurable cap */
#define KT_REASON_MIN 1                 /* operator reason: UTF-8 */
#define KT_REASON_MAX 1024
#define KT_OPERATOR_LABEL_MAX 255       /* operator label: UTF-8, may be empty */
#define KT_OPENING_BYTES 16
#define KT_COMMITMENT_BYTES 32
#define KT_INDEX_BYTES 32               /* map index = VRF output[0:32] */
#define KT_ROOT_BYTES 32                /* map root */

/* ---- key and signature types ---------------------------------------- */

#define KT_SIGN_KEY_ED25519 0x01        /* sign key type byte */
#define KT_ENC_KEY_X25519 0x01          /* enc key type byte */
#define KT_SIG_ED25519 0x01             /* signature type byte */
#define KT_ED25519_PK_BYTES 32
#define KT_ED25519_SK_BYTES 64          /* libsodium form: seed || pk */
#define KT_ED25519_SIG_BYTES 64
#define KT_X25519_PK_BYTES 32

/* Encoded sizes: type byte + key / signature. */
#define KT_SIGN_KEY_BYTES (1 + KT_ED25519_PK_BYTES)      /* 33 */
#define KT_ENC_KEY_BYTES (1 + KT_X25519_PK_BYTES)        /* 33 */
#define KT_SIGNATURE_BYTES (1 + KT_ED25519_SIG_BYTES)    /* 65 */

/* ---- type bytes of the structures ----------------------------------- */

#define KT_DEVICE_PRIMARY 1
#define KT_DEVICE_COMPANION 2
#define KT_DEVICE_FORWARDING 3
#define KT_DEVICE_ESCROW 4
#define KT_DEVICE_OTHER 5

#define KT_PROV_DEVICE 0x01
#define KT_PROV_REGISTRAR 0x02
#define KT_PROV_OPERATOR 0x03

#define KT_OP_ADD_DEVICE 0x01
#define KT_OP_REMOVE_DEVICE 0x02
#define KT_OP_SET_PUSH 0x03
#define KT_OP_ENROL 0x04

#define KT_ENTRY_UPDATE 0x01
#define KT_ENTRY_HEARTBEAT 0x02

/* ---- encoded sizes (use as kt_wbuf caps) ----------------------------- */

#define KT_DEVICE_SPEC_MAX_BYTES \
	(1 + KT_DEVICE_ID_MAX + KT_SIGN_KEY_BYTES + KT_ENC_KEY_BYTES + \
	 2 + KT_PUSH_ADDRESS_MAX + 1)                                   /* 646 */
/* A device: the spec || u64 added_at_ms || u8 added_by_type || vec8
 * added_by_id (0..64 bytes). */
#define KT_DEVICE_MAX_BYTES \
	(KT_DEVICE_SPEC_MAX_BYTES + 8 + 1 + 1 + KT_DEVICE_ID_MAX)   /* 720 */
#define KT_DEVICE_MIN_BYTES \
	(1 + KT_DEVICE_ID_MIN + KT_SIGN_KEY_BYTES + KT_ENC_KEY_BYTES + 2 + 1 + 8 + \
	 1 + 1)                                                      /* 81 */
#define KT_VALUE_MAX_BYTES \
	(2 + KT_MAX_DEVICES_ENCODING * KT_DEVICE_MAX_BYTES)         /* 184322 */
#define KT_UPDATE_OP_MAX_BYTES (1 + KT_DEVICE_SPEC_MAX_BYTES)       /* 647 */
/* type || op || the largest body (operator: vec16 reason, vec8 label). */
#define KT_PROVENANCE_MAX_BYTES \
	(1 + KT_UPDATE_OP_MAX_BYTES + 2 + KT_REASON_MAX + 1 + \
	 KT_OPERATOR_LABEL_MAX)                                      /* 1930 */
#define KT_UPDATE_MESSAGE_MAX_BYTES \
	(1 + 18 + 1 + KT_ACCOUNT_MAX + KT_UPDATE_OP_MAX_BYTES + 8)  /* 930 */
#define KT_REGISTRAR_TOKEN_MESSAGE_MAX_BYTES \
	(1 + 27 + 1 + KT_ACCOUNT_MAX + KT_DEVICE_SPEC_MAX_BYTES + 8) /* 938 */
#define KT_HISTORY_REQUEST_MESSAGE_MAX_BYTES \
	(1 + 27 + 1 + KT_ACCOUNT_MAX + 8 + 8 + 1 + KT_DEVICE_ID_MAX) /* 365 */
#define KT_MAP_LEAF_BYTES (8 + 8 + KT_COMMITMENT_BYTES + 32)        /* 80 */
#define KT_LOG_ENTRY_UPDATE_BYTES \
	(1 + 8 + KT_INDEX_BYTES + KT_MAP_LEAF_BYTES + KT_ROOT_BYTES) /* 153 */
#define KT_LOG_ENTRY_HEARTBEAT_BYTES (1 + 8 + KT_ROOT_BYTES)        /* 41 */
#define KT_LOG_ENTRY_MAX_BYTES KT_LOG_ENTRY_UPDATE_BYTES

/* ---- structs --------------------------------------------------------- */

/* Encoded as u8 type || fixed[32]. */
typedef struct kt_sign_key {
	uint8_t type;                        /* KT_SIGN_KEY_ED25519 */
	uint8_t pk[KT_ED25519_PK_BYTES];
} kt_sign_key;

/* Encoded as u8 type || fixed[32]. */
typedef struct kt_enc_key {
	uint8_t type;                        /* KT_ENC_KEY_X25519 */
	uint8_t pk[KT_X25519_PK_BYTES];
} kt_enc_key;

/* Encoded as u8 type || fixed[64]. */
typedef struct kt_signature {
	uint8_t type;                        /* KT_SIG_ED25519 */
	uint8_t sig[KT_ED25519_SIG_BYTES];
} kt_signature;

/* A device.  As a "device spec" (what a client asks to add) added_at_ms and
 * the added_by fields are not encoded: the apply path sets added_at_ms from
 * the batch timestamp and added_by from the provenance of the change that
 * adds the device (kt_value_apply_op).  The added_by fields stay with the
 * device for as long as it is in the value, so that every later lookup
 * still shows who added it. */
typedef struct kt_device {
	uint8_t id[KT_DEVICE_ID_MAX];
	size_t id_len;                       /* 1..64 */
	kt_sign_key sign_pk;
	kt_enc_key enc_pk;
	uint8_t push[KT_PUSH_ADDRESS_MAX];
	size_t push_len;                     /* 0..512 */
	uint8_t kind;                        /* KT_DEVICE_PRIMARY..KT_DEVICE_OTHER */
	uint64_t added_at_ms;
	/* Device encoding only: the provenance type of the change that added
	 * the device (KT_PROV_DEVICE / _REGISTRAR / _OPERATOR) and, for
	 * KT_PROV_DEVICE, the id of the authorising device (1..64 bytes);
	 * empty (len 0) for the other types. */
	uint8_t added_by_type;
	uint8_t added_by_id[KT_DEVICE_ID_MAX];
	size_t added_by_id_len;
} kt_device;

/* An account's value: its devices in strictly ascending device_id order
 * (kt_device_id_cmp).  devices is heap (NULL when count is 0), owned by the
 * value; free with kt_account_value_free. */
typedef struct kt_account_value {
	kt_device *devices;
	size_t count;                        /* 0..KT_MAX_DEVICES_ENCODING */
} kt_account_value;

/* An update operation (op byte + payload).  Only the fields of `op` are
 * encoded. */
typedef struct kt_update_op {
	uint8_t op;                          /* KT_OP_* */
	/* KT_OP_ADD_DEVICE, KT_OP_ENROL: the device spec (added_at_ms is not
	 * encoded and is 0 after decoding). */
	kt_device device;
	/* KT_OP_REMOVE_DEVICE, KT_OP_SET_PUSH */
	uint8_t device_id[KT_DEVICE_ID_MAX];
	size_t device_id_len;                /* 1..64 */
	/* KT_OP_SET_PUSH */
	uint8_t push[KT_PUSH_ADDRESS_MAX];
	size_t push_len;                     /* 0..512 */
} kt_update_op;

/* Who authorised a change, and the change itself.  Encoded as u8 type ||
 * update op || the fields of `type` (only those are encoded).  Which ops a
 * type may carry: device and operator: add_device, remove_device, set_push;
 * registrar: enrol only. */
typedef struct kt_provenance {
	uint8_t type;                        /* KT_PROV_* */
	/* The operation that was authorised (for KT_PROV_DEVICE exactly the op
	 * the device signed; for KT_PROV_REGISTRAR the enrolment, whose whole
	 * device spec -- id, both keys, push address, kind -- the token
	 * signs). */
	kt_update_op op;
	/* KT_PROV_DEVICE: the authorising device and its signature over the
	 * update message (kt_update_message). */
	uint8_t device_id[KT_DEVICE_ID_MAX];
	size_t device_id_len;                /* 1..64 */
	/* KT_PROV_DEVICE: device signature; KT_PROV_REGISTRAR: the registrar's
	 * signature over the token message (kt_registrar_token_message). */
	kt_signature sig;
	/* KT_PROV_REGISTRAR */
	kt_sign_key registrar_pk;
	uint64_t expiry_ms;
	/* KT_PROV_OPERATOR */
	uint8_t reason[KT_REASON_MAX];
	size_t reason_len;                   /* 1..1024, UTF-8 */
	uint8_t label[KT_OPERATOR_LABEL_MAX];
	size_t label_len;                    /* 0..255, UTF-8 */
} kt_provenance;

/* What the map commits to per account: 80 bytes, fixed. */
typedef struct kt_map_leaf {
	uint64_t version;
	uint64_t log_index;
	uint8_t commitment[KT_COMMITMENT_BYTES];
	uint8_t history[32];
} kt_map_leaf;

/* An entry of the RFC 9162 log. */
typedef struct kt_log_entry {
	uint8_t type;                        /* KT_ENTRY_UPDATE / KT_ENTRY_HEARTBEAT */
	uint64_t timestamp_ms;
	uint8_t index[KT_INDEX_BYTES];       /* update only */
	kt_map_leaf leaf;                    /* update only */
	uint8_t map_root[KT_ROOT_BYTES];     /* map root after this entry */
} kt_log_entry;

/* ---- text ------------------------------------------------------------ */

/* Returns KT_OK if p[0..len) is strict UTF-8 (RFC 3629: shortest form, no
 * surrogates, nothing above U+10FFFF) and contains no U+0000, else
 * KT_ERR_BAD_UTF8.  len 0 is valid. */
KT_MUST_CHECK int kt_utf8_check(const uint8_t *p, size_t len);

/* Returns KT_OK for a valid account identifier: 1..255 bytes
 * (KT_ERR_BAD_LENGTH / KT_ERR_TOO_LARGE) of kt_utf8_check text
 * (KT_ERR_BAD_UTF8). */
KT_MUST_CHECK int kt_account_check(const uint8_t *account, size_t len);

/* ---- keys and signatures --------------------------------------------- */

KT_MUST_CHECK int kt_sign_key_encode(kt_wbuf *w, const kt_sign_key *k);
KT_MUST_CHECK int kt_sign_key_decode(kt_sign_key *k, const uint8_t *p, size_t len);
KT_MUST_CHECK int kt_enc_key_encode(kt_wbuf *w, const kt_enc_key *k);
KT_MUST_CHECK int kt_enc_key_decode(kt_enc_key *k, const uint8_t *p, size_t len);
KT_MUST_CHECK int kt_signature_encode(kt_wbuf *w, const kt_signature *s);
KT_MUST_CHECK int kt_signature_decode(kt_signature *s, const uint8_t *p, size_t len);

/* Checks a signing key: KT_ERR_BAD_KEY_TYPE for an unknown type; for Ed25519
 * KT_ERR_BAD_KEY unless the 32 bytes are a canonical encoding (y < p) of a
 * point on the curve, in the prime-order subgroup and not of small order. */
KT_MUST_CHECK int kt_sign_key_validate(const kt_sign_key *k);

/* Checks an encryption key: KT_ERR_BAD_KEY_TYPE for an unknown type; for
 * X25519 KT_ERR_BAD_KEY if the u-coordinate is all zero, not canonical (top
 * bit set, or u >= 2^255-19), or of low order: one of the four other
 * u-coordinates of a point of order dividing 8 on the curve or its twist
 * (1, p - 1 and the two of order 8; listed and derived in kt_types.c) —
 * exactly the keys for which X25519 gives an all-zero shared secret.  No
 * curve arithmetic: a few comparisons. */
KT_MUST_CHECK int kt_enc_key_validate(const kt_enc_key *k);

/* Signs msg with an Ed25519 secret key (libsodium's 64-byte form: seed ||
 * public key) into *sig (type KT_SIG_ED25519).  Deterministic (RFC 8032).
 * Returns KT_OK, or KT_ERR_INTERNAL (sig zeroed) if libsodium fails.  The
 * secret key is only read; wiping it is the caller's. */
KT_MUST_CHECK int kt_sig_sign(kt_signature *sig,
			      const uint8_t sk[KT_ED25519_SK_BYTES],
			      const uint8_t *msg, size_t len);

/* Verifies a detached signature over msg.  Returns KT_OK, KT_ERR_BAD_KEY_TYPE
 * (unknown key or signature type, or a signature type that does not go with
 * the key type), KT_ERR_BAD_KEY (kt_sign_key_validate fails) or
 * KT_ERR_BAD_SIGNATURE. */
KT_MUST_CHECK int kt_sig_verify(const kt_sign_key *pk, const kt_signature *sig,
				const uint8_t *msg, size_t len);

/* ---- devices ---------------------------------------------------------- */

/* Canonical device order: byte-wise memcmp over the common prefix, then the
 * shorter id first.  Returns <0, 0 or >0. */
int kt_device_id_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen);

/* Device: vec8 id || sign key || enc key || vec16 push || u8 kind || u64
 * added_at_ms || u8 added_by_type || vec8 added_by_id.  Encoder errors:
 * KT_ERR_BAD_LENGTH / KT_ERR_TOO_LARGE (id or push length), KT_ERR_BAD_TYPE
 * (kind, or an added_by_type that is not KT_PROV_*), KT_ERR_BAD_KEY_TYPE;
 * for added_by_id: KT_ERR_BAD_LENGTH (empty for KT_PROV_DEVICE),
 * KT_ERR_TOO_LARGE (over 64 bytes for KT_PROV_DEVICE, or not empty for
 * the other types).  The decoder rejects the same, in field order (an
 * unknown added_by_type stops it at that byte). */
KT_MUST_CHECK int kt_device_encode(kt_wbuf *w, const kt_device *d);
KT_MUST_CHECK int kt_device_decode(kt_device *d, const uint8_t *p, size_t len);

/* Device spec: the device encoding without added_at_ms and the added_by
 * fields.  The decoder sets those to 0 / empty; the encoder ignores them. */
KT_MUST_CHECK int kt_device_spec_encode(kt_wbuf *w, const kt_device *d);
KT_MUST_CHECK int kt_device_spec_decode(kt_device *d, const uint8_t *p, size_t len);

/* Checks the structure of *d as a device SPEC (as kt_device_spec_encode
 * does: the added_by fields are not looked at) and both of its keys
 * (kt_sign_key_validate, kt_enc_key_validate).  Returns KT_OK or the first
 * failure.  Called by the server on every device spec before sequencing and
 * by the client on every device before it encrypts to it (through
 * kt_account_value_validate, which checks the whole device encoding
 * first). */
KT_MUST_CHECK int kt_device_validate(const kt_device *d);

/* What a SENDER needs before it encrypts to d: the structure of *d (as
 * kt_device_validate: lengths, kind, both key types) and its encryption key
 * (kt_enc_key_validate).  The signing key is checked for its type only: a
 * sender never uses it, and every party that verifies a signature with it
 * runs kt_sign_key_validate (through kt_sig_verify), as the server does on
 * every device spec before sequencing.  Returns KT_OK or the first
 * failure.  No curve arithmetic. */
KT_MUST_CHECK int kt_device_validate_recipient(const kt_device *d);

/* ---- account values --------------------------------------------------- */

/* Sets *v to the empty value (no allocation). */
void kt_account_value_init(kt_account_value *v);

/* Frees v->devices and resets *v to empty; v may be NULL. */
void kt_account_value_free(kt_account_value *v);

/* Deep copy: *dst (overwritten, not freed first) gets its own array.
 * KT_ERR_NOMEM or KT_ERR_TOO_LARGE (count over the encoding cap) leave *dst
 * empty. */
KT_MUST_CHECK int kt_account_value_copy(kt_account_value *dst,
					const kt_account_value *src);

/* Value: u16 count || count devices, strictly ascending by id.  The encoder
 * rejects count > KT_MAX_DEVICES_ENCODING (KT_ERR_TOO_LARGE), unsorted or
 * duplicate ids (KT_ERR_NONCANONICAL) and any bad device. */
KT_MUST_CHECK int kt_account_value_encode(kt_wbuf *w, const kt_account_value *v);

/* Decodes into *v, which is overwritten (free any previous content first).
 * On KT_OK the caller owns v->devices (kt_account_value_free); on failure *v
 * is empty.  Allocates at most KT_MAX_DEVICES_ENCODING devices and never more
 * than the input could hold. */
KT_MUST_CHECK int kt_account_value_decode(kt_account_value *v,
					  const uint8_t *p, size_t len);

/* kt_device_validate on every device (and the order); returns the first
 * failure. */
KT_MUST_CHECK int kt_account_value_validate(const kt_account_value *v);

/* kt_device_validate_recipient on every device (and the order, as
 * kt_account_value_validate); returns the first failure.  What the
 * client's lookup checks (kt_verify_lookup). */
KT_MUST_CHECK int kt_account_value_validate_recipients(const kt_account_value *v);

/* Returns the device with this id (borrowed from v), or NULL. */
const kt_device *kt_account_value_find(const kt_account_value *v,
				       const uint8_t *id, size_t id_len);

/* Inserts a copy of *d at its place in the order.  Fails with
 * KT_ERR_DEVICE_EXISTS (id present), KT_ERR_TOO_LARGE (v already holds
 * min(max_devices, KT_MAX_DEVICES_ENCODING) devices), a structural error of
 * *d as kt_device_encode checks it (added_by fields included), or
 * KT_ERR_NOMEM; on failure *v is unchanged.  Keys are not validated here
 * (kt_device_validate is the caller's, before sequencing). */
KT_MUST_CHECK int kt_account_value_add(kt_account_value *v, const kt_device *d,
				       size_t max_devices);

/* Removes the device with this id; KT_ERR_NOT_FOUND if absent (v unchanged).
 * Removing the last device leaves the empty value. */
KT_MUST_CHECK int kt_account_value_remove(kt_account_value *v,
					  const uint8_t *id, size_t id_len);

/* Replaces the push address of the device with this id.  KT_ERR_NOT_FOUND,
 * KT_ERR_TOO_LARGE (push_len > 512); v unchanged on failure. */
KT_MUST_CHECK int kt_account_value_set_push(kt_account_value *v,
					    const uint8_t *id, size_t id_len,
					    const uint8_t *push, size_t push_len);

/* ---- provenance ------------------------------------------------------- */

/* u8 type || update op (as kt_update_op_encode: u8 op || payload)
 *          || device: vec8 device_id || signature
 *           | registrar: sign key || u64 expiry_ms || signature
 *           | operator: vec16 reason (1..1024, UTF-8) || vec8 label (UTF-8).
 * Besides the usual errors, an op the type may not carry (registrar: anything
 * but KT_OP_ENROL; device, operator: KT_OP_ENROL) gives KT_ERR_PROVENANCE_OP,
 * from the encoder and from the decoder (detected at the op byte, before its
 * payload; an unknown op byte is KT_ERR_BAD_TYPE). */
KT_MUST_CHECK int kt_provenance_encode(kt_wbuf *w, const kt_provenance *pv);
KT_MUST_CHECK int kt_provenance_decode(kt_provenance *pv, const uint8_t *p, size_t len);

/* ---- transitions: the apply path, monitors, auditors -------------------- */

/* Computes *out = *prev with the change pv->op applied, as the apply path
 * does:
 *   add_device, enrol: insert pv->op.device with added_at_ms set to
 *     added_at_ms, added_by_type to pv->type and added_by_id to
 *     pv->device_id for KT_PROV_DEVICE (empty for the other types); the
 *     spec's own added_at_ms / added_by fields are ignored —
 *     KT_ERR_DEVICE_EXISTS if the id is present, KT_ERR_TOO_LARGE if prev
 *     already holds min(max_devices, KT_MAX_DEVICES_ENCODING) devices;
 *   remove_device: KT_ERR_NOT_FOUND if absent (the last one leaves the empty
 *     value);
 *   set_push: KT_ERR_NOT_FOUND if absent, KT_ERR_NOOP_CHANGE if the device
 *     already has exactly this push address.  The device keeps its
 *     added_at_ms and added_by fields.
 * The apply path passes added_at_ms = the timestamp_ms of the log entry that
 * records the change (the batch timestamp), so that a monitor can recompute
 * it from the entry.  Of *pv only type, op and (for KT_PROV_DEVICE)
 * device_id are read and checked: KT_ERR_BAD_TYPE (unknown type or op),
 * KT_ERR_PROVENANCE_OP (an op the type may not carry), the structural
 * errors of the op (as kt_update_op_encode) and of the device id
 * (KT_ERR_BAD_LENGTH / KT_ERR_TOO_LARGE); signature, registrar key and
 * reason are not looked at.  Also the structural errors of *prev (as
 * kt_account_value_encode), KT_ERR_INVALID_ARG if out == prev, KT_ERR_NOMEM.
 * Keys are not validated (kt_device_validate is the server's, before
 * sequencing).  *out is overwritten, not freed first; on KT_OK the caller
 * owns it (kt_account_value_free), on failure it is empty.  *prev and *pv
 * are only read. */
KT_MUST_CHECK int kt_value_apply_op(kt_account_value *out,
				    const kt_account_value *prev,
				    const kt_provenance *pv, uint64_t added_at_ms,
				    size_t max_devices);

/* Checks that version v of an account is exactly version v-1 with the
 * provenance's operation applied: KT_OK iff the encoding of *next equals the
 * encoding of kt_value_apply_op(prev, pv, added_at_ms,
 * KT_MAX_DEVICES_ENCODING) (the server's configured cap is not known to a
 * monitor).  added_at_ms is the timestamp_ms of version v's log entry.
 * Returns KT_ERR_VALUE_MISMATCH if the values differ (an extra or missing
 * device, another key, push address, added_at or added_by -- so a device
 * the operator added cannot be committed as added by one of the owner's
 * devices, nor keep another device's added_by after a later change); the
 * error of kt_value_apply_op if the op does not apply to prev
 * (KT_ERR_NOT_FOUND, KT_ERR_DEVICE_EXISTS, KT_ERR_NOOP_CHANGE,
 * KT_ERR_TOO_LARGE); the structural errors of *pv (as kt_provenance_encode,
 * KT_ERR_PROVENANCE_OP included) or of *next; KT_ERR_TOKEN_EXPIRED for a
 * registrar change whose entry time (added_at_ms) is after the token's
 * expiry_ms (checked last: the apply path never commits one); KT_ERR_NOMEM.
 * Every code but
 * KT_OK and KT_ERR_NOMEM means the committed transition is not the
 * authorised one.  Signatures are NOT checked here: call
 * kt_provenance_verify_signature as well. */
KT_MUST_CHECK int kt_provenance_check_transition(const kt_account_value *prev,
						 const kt_account_value *next,
						 const kt_provenance *pv,
						 uint64_t added_at_ms);

/* Checks the signature a provenance carries, as a monitor or auditor does
 * for version v of an account (prev_value = value_{v-1}, the empty value for
 * v = 1; expected_version = v-1):
 *   KT_PROV_DEVICE: the device pv->device_id must be in *prev_value
 *     (KT_ERR_UNAUTHORISED if not), and pv->sig must verify with its sign
 *     key over kt_update_message(account, &pv->op, expected_version);
 *   KT_PROV_REGISTRAR: pv->sig must verify with pv->registrar_pk over
 *     kt_registrar_token_message(account, &pv->op.device, pv->expiry_ms)
 *     (prev_value and expected_version are not used).  Whether
 *     pv->registrar_pk is a registrar the caller trusts, and whether the
 *     token had expired, are NOT checked here: they are the caller's;
 *   KT_PROV_OPERATOR: carries no signature; returns KT_OK (the caller must
 *     report it: KT_OK here never means "authorised by the owner").
 * Returns KT_OK; KT_ERR_BAD_SIGNATURE if the signature does not verify;
 * KT_ERR_UNAUTHORISED (device not in prev_value); the structural errors of
 * *pv (as kt_provenance_encode, KT_ERR_PROVENANCE_OP included) and of the
 * account (as kt_account_check); KT_ERR_BAD_KEY / KT_ERR_BAD_KEY_TYPE (as
 * kt_sig_verify, e.g. an invalid key committed for the signing device);
 * KT_ERR_INVALID_ARG if prev_value is NULL for a device provenance
 * (prev_value may be NULL for the other types); KT_ERR_NOMEM.  Only reads
 * its arguments. */
KT_MUST_CHECK int kt_provenance_verify_signature(const kt_account_value *prev_value,
						 const kt_provenance *pv,
						 const uint8_t *account,
						 size_t account_len,
						 uint64_t expected_version);

/* ---- update operations and signed messages ---------------------------- */

/* u8 op || add/enrol: device spec | remove: vec8 device_id
 *        | set_push: vec8 device_id || vec16 push. */
KT_MUST_CHECK int kt_update_op_encode(kt_wbuf *w, const kt_update_op *op);
KT_MUST_CHECK int kt_update_op_decode(kt_update_op *op, const uint8_t *p, size_t len);

/* The message a device signs: vec8 KT_DOMAIN_UPDATE || vec8 account ||
 * update op || u64 expected_version.  Checks the account (kt_account_check)
 * and the op as its encoder does. */
KT_MUST_CHECK int kt_update_message(kt_wbuf *w, const uint8_t *account,
				    size_t account_len, const kt_update_op *op,
				    uint64_t expected_version);

/* Builds the update message and kt_sig_verify's sig over it with the
 * device's key pk.  KT_ERR_NOMEM possible (the message is built on the
 * heap). */
KT_MUST_CHECK int kt_update_verify(const kt_sign_key *pk, const kt_signature *sig,
				   const uint8_t *account, size_t account_len,
				   const kt_update_op *op, uint64_t expected_version);

/* As kt_update_verify, for a key pk read from the directory's own
 * committed state, which was validated (kt_device_validate, so
 * kt_sign_key_validate) before it was stored — the server's check of a
 * device-signed update against the signing device's stored key.  It skips
 * kt_sign_key_validate's prime-order subgroup check, which costs about as
 * much as the signature check itself (44 against 52 µs here,
 * docs/BENCHMARKS.md); crypto_sign_verify_detached still refuses a
 * non-canonical or small-order key (KT_ERR_BAD_SIGNATURE then).  Never use
 * it for a key that arrives with the request or from another party (a
 * monitor's or auditor's view of the log): those need kt_update_verify. */
KT_MUST_CHECK int kt_update_verify_committed(const kt_sign_key *pk,
					     const kt_signature *sig,
					     const uint8_t *account,
					     size_t account_len,
					     const kt_update_op *op,
					     uint64_t expected_version);

/* The message a registrar signs to let one device enrol: vec8
 * KT_DOMAIN_REGISTRAR_TOKEN || vec8 account || device spec of the device
 * being enrolled (as kt_device_spec_encode: id, sign key, enc key, push
 * address, kind; device_spec->added_at_ms is not part of it) || u64
 * expiry_ms.  The token thus binds every field the directory will commit for
 * the device except added_at_ms.  Checks the account (kt_account_check) and
 * the spec's structure (as kt_device_spec_encode; keys are not validated
 * here).  (Expiry is the server's check, not this one's.) */
KT_MUST_CHECK int kt_registrar_token_message(kt_wbuf *w, const uint8_t *account,
					     size_t account_len,
					     const kt_device *device_spec,
					     uint64_t expiry_ms);

/* Verifies the registrar's signature over the token message for exactly
 * this device spec (as kt_update_verify does: KT_OK, KT_ERR_BAD_SIGNATURE,
 * the errors of kt_registrar_token_message and kt_sig_verify,
 * KT_ERR_NOMEM).  The server passes the enrol op's device spec; a monitor
 * passes pv->op.device (or calls kt_provenance_verify_signature). */
KT_MUST_CHECK int kt_registrar_token_verify(const kt_sign_key *registrar_pk,
					    const kt_signature *sig,
					    const uint8_t *account, size_t account_len,
					    const kt_device *device_spec,
					    uint64_t expiry_ms);

/* The message an owner's device signs to read its History: vec8
 * KT_DOMAIN_HISTORY_REQUEST || vec8 account || u64 from_version || u64
 * timestamp_ms || vec8 device_id of the signer.  (Freshness of timestamp_ms
 * is the server's check.) */
KT_MUST_CHECK int kt_history_request_message(kt_wbuf *w, const uint8_t *account,
					     size_t account_len, uint64_t from_version,
					     uint64_t timestamp_ms,
					     const uint8_t *device_id,
					     size_t device_id_len);

/* Verifies a device's signature over the history request message. */
KT_MUST_CHECK int kt_history_request_verify(const kt_sign_key *pk,
					    const kt_signature *sig,
					    const uint8_t *account, size_t account_len,
					    uint64_t from_version, uint64_t timestamp_ms,
					    const uint8_t *device_id,
					    size_t device_id_len);

/* As kt_history_request_verify, for a key read from the directory's own
 * committed state (a current or former device's): the subgroup check is
 * skipped as in kt_update_verify_committed, under the same rule. */
KT_MUST_CHECK int kt_history_request_verify_committed(const kt_sign_key *pk,
						      const kt_signature *sig,
						      const uint8_t *account,
						      size_t account_len,
						      uint64_t from_version,
						      uint64_t timestamp_ms,
						      const uint8_t *device_id,
						      size_t device_id_len);

/* ---- map leaf and log entries ---------------------------------------- */

/* Map leaf: u64 version || u64 log_index || commitment[32] || history[32]. */
void kt_map_leaf_bytes(uint8_t out[KT_MAP_LEAF_BYTES], const kt_map_leaf *leaf);
KT_MUST_CHECK int kt_map_leaf_encode(kt_wbuf *w, const kt_map_leaf *leaf);
KT_MUST_CHECK int kt_map_leaf_decode(kt_map_leaf *leaf, const uint8_t *p, size_t len);

/* Log entry: u8 type || update: u64 timestamp_ms || index[32] || map leaf ||
 * map_root[32] | heartbeat: u64 timestamp_ms || map_root[32].  Unknown type:
 * KT_ERR_BAD_TYPE.  Unused fields of a heartbeat are zero after decoding. */
KT_MUST_CHECK int kt_log_entry_encode(kt_wbuf *w, const kt_log_entry *e);
KT_MUST_CHECK int kt_log_entry_decode(kt_log_entry *e, const uint8_t *p, size_t len);

#ifdef __cplusplus
}
#endif
#endif /* KT_TYPES_H */
