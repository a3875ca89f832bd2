/*
 * keytrail.h — libkeytrail, the keytrail client library: the one public
 * header.
 *
 * A sender looks an account up and seals a message to its devices; an
 * owner monitors the history of its account and changes its device list;
 * every answer of the directory is verified before anything is returned
 * (docs/SECURITY.md §4, docs/PROTOCOL.md §6).  The library talks gRPC
 * to one or more ktd nodes and keeps its trust state (the last checkpoint it
 * verified, per monitored account the last version it checked) in one
 * file, written atomically and never rolled back.
 *
 * Typical use (see client/examples/lookup.c):
 *
 *     kt_client_config *cfg; kt_client *c; kt_lookup *l;
 *     kt_client_config_new(&cfg);
 *     kt_client_config_load_file(cfg, "client.conf", err, sizeof err);
 *     kt_client_open(cfg, &c);            // cfg may be freed after this
 *     kt_client_lookup(c, acct, strlen(acct), &l);
 *     ... kt_lookup_device(l, i, &dev) ...
 *     kt_lookup_free(l); kt_client_close(c); kt_client_config_free(cfg);
 *
 * Conventions:
 *   - Every fallible function returns KT_OK (0) or a negative kt_err code
 *     (kt_err.h, installed next to this header; kt_strerror / kt_errname
 *     describe it).  Results cannot be ignored (KT_MUST_CHECK).  Codes of
 *     this library: KT_ERR_CLIENT_* (-200..-249): -200..-235 are failed
 *     verifications (each check its own code), -236..-249 the transport,
 *     the server's refusals, key files and sealing.
 *   - Out-parameters are reset on failure (*out = NULL, structs zeroed).
 *   - Objects returned through `**out` are owned by the caller and freed
 *     with their *_free function; every *_free accepts NULL.  Pointers
 *     inside info structs (kt_device_info, ...) borrow from the object they
 *     came from and stay valid until that object is freed.
 *   - Byte strings are (pointer, length); account identifiers are 1..255
 *     bytes of UTF-8, device ids 1..64 opaque bytes, push addresses 0..512
 *     opaque bytes.  Strings documented as "NUL-terminated" are C strings.
 *   - After a failed call on a kt_client, kt_client_last_status() tells what
 *     the server answered and kt_client_evidence_json() hands out the
 *     evidence of a failed verification.
 *   - libkeytrail.so (SONAME libkeytrail.so.0) exports exactly the
 *     functions declared here and in kt_err.h, versioned KEYTRAIL_0; every
 *     other symbol is local (test client_exports).
 *
 * THREAD SAFETY: objects are not locked.  A kt_client (and a
 * kt_client_config) must be used by one thread at a time; separate clients
 * may be used from separate threads at once.  kt_lookup, kt_sealed,
 * kt_monitor_report and kt_device_keys are immutable after creation and may
 * be read from several threads.  Several processes may share one trust
 * state file: every read-modify-write of it holds an exclusive lock
 * (flock on "<state_file>.lock").  The library calls sodium_init() and
 * grpc_init() itself (kt_client_open / kt_device_keys_*).
 */
#ifndef KEYTRAIL_H
#define KEYTRAIL_H

#include <stddef.h>
#include <stdint.h>

#include "kt_err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Library version (also the shared library's VERSION; SOVERSION = major). */
#define KEYTRAIL_VERSION_MAJOR 0
#define KEYTRAIL_VERSION_MINOR 1
#define KEYTRAIL_VERSION_PATCH 0

/* Returns the library's version string ("0.1.0"); static storage. */
const char *kt_client_version(void);

/* ---- limits ---------------------------------------------------------- */

#define KT_CLIENT_MAX_ENDPOINTS 16       /* kt_client_config_add_endpoint */
#define KT_CLIENT_MAX_WITNESSES 32       /* = KT_VERIFY_MAX_WITNESSES */
#define KT_CLIENT_MAX_ACCOUNTS 4096      /* monitored accounts in a state file */
#define KT_CLIENT_MAX_STATE_BYTES (64u * 1024u * 1024u) /* state file size */
#define KT_CLIENT_MAX_RESPONSE_BYTES (64u * 1024u * 1024u) /* one gRPC reply */
#define KT_SEAL_MAX_MESSAGE (1024u * 1024u)     /* kt_client_seal message */
#define KT_SEAL_OVERHEAD 48              /* crypto_box_SEALBYTES */
#define KT_DEVICE_SIGN_PK_BYTES 32       /* Ed25519 public key */
#define KT_DEVICE_ENC_PK_BYTES 32        /* X25519 public key */
#define KT_REGISTRAR_SIG_BYTES 64        /* Ed25519 signature */
#define KT_CLIENT_DEFAULT_DEADLINE_MS 10000u

/* Device kinds (informative only; the same numbers as the wire). */
#define KT_DEVICE_KIND_PRIMARY 1
#define KT_DEVICE_KIND_COMPANION 2
#define KT_DEVICE_KIND_FORWARDING 3
#define KT_DEVICE_KIND_ESCROW 4
#define KT_DEVICE_KIND_OTHER 5

/* Who authorised a version (provenance type; the same numbers as the wire). */
#define KT_PROVENANCE_DEVICE 1       /* one of the account's devices */
#define KT_PROVENANCE_REGISTRAR 2    /* an enrolment token of a registrar */
#define KT_PROVENANCE_OPERATOR 3     /* the directory's operator, with a reason */

/* The operation a version applied (the same numbers as the wire). */
#define KT_OPERATION_ADD_DEVICE 1
#define KT_OPERATION_REMOVE_DEVICE 2
#define KT_OPERATION_SET_PUSH 3
#define KT_OPERATION_ENROL 4

/* Witness policy (DESIGN §5). */
#define KT_WITNESS_MODE_STRICT 1       /* only checkpoints cosigned by k of n */
#define KT_WITNESS_MODE_BOUNDED_LAG 2  /* or consistent with a k-of-n cosigned
                                          one at most max_lag older */

/* gRPC status codes as kt_client_last_status reports them (grpc/status.h). */
#define KT_GRPC_OK 0
#define KT_GRPC_DEADLINE_EXCEEDED 4
#define KT_GRPC_UNAVAILABLE 14

/* ---- opaque handles ---------------------------------------------------- */

typedef struct kt_client_config kt_client_config;
typedef struct kt_client kt_client;
typedef struct kt_device_keys kt_device_keys;
typedef struct kt_lookup kt_lookup;
typedef struct kt_sealed kt_sealed;
typedef struct kt_monitor_report kt_monitor_report;
/* Defined in kt_verify.h (in-tree users); opaque here. */
struct kt_evidence;

/* ======================================================================
 * Configuration
 * ====================================================================== */

/* Creates an empty configuration: no endpoint, no keys, witness mode
 * strict with threshold 0 (no witness policy unless witnesses are added),
 * max age 10 min, max lag 1 h, deadline KT_CLIENT_DEFAULT_DEADLINE_MS,
 * plaintext transport, no state file (the trust state then lives in memory
 * only: trust on first use at every open).  Returns KT_OK or KT_ERR_NOMEM;
 * *out is NULL on failure.  Free with kt_client_config_free. */
KT_MUST_CHECK int kt_client_config_new(kt_client_config **out);

/* Frees cfg (NULL is a no-op). */
void kt_client_config_free(kt_client_config *cfg);

/* Appends an endpoint, NUL-terminated "host:port" (also "[v6]:port",
 * "unix:/path", or any gRPC target).  Calls go to the endpoints in the
 * order added, starting with the last one that answered; on UNAVAILABLE
 * or a deadline the next one is tried, and for reads also when a node
 * lags behind the tree size asked for (OUT_OF_RANGE, or NOT_FOUND for a
 * checkpoint it does not hold yet).
 * KT_ERR_INVALID_ARG (empty, blanks or control characters, over 255 bytes),
 * KT_ERR_TOO_LARGE (more than KT_CLIENT_MAX_ENDPOINTS), KT_ERR_CONFIG_DUPLICATE
 * (added twice), KT_ERR_NOMEM. */
KT_MUST_CHECK int kt_client_config_add_endpoint(kt_client_config *cfg,
						const char *endpoint);

/* Sets the log's verifier key, a C2SP verifier string
 * "name+hexhash+base64(0x01||pk)" (NUL-terminated).  Its name is the
 * log's origin.  Errors of kt_note_verifier_parse (KT_ERR_BAD_VERIFIER_KEY,
 * KT_ERR_KEY_HASH_MISMATCH, KT_ERR_BAD_KEY, KT_ERR_BAD_KEY_TYPE — a witness
 * key type 0x04 is refused here); KT_ERR_CONFIG_DUPLICATE if already set. */
KT_MUST_CHECK int kt_client_config_set_log_key(kt_client_config *cfg,
					       const char *verifier);

/* Sets the directory's ECVRF public key: 64 hex digits (NUL-terminated).
 * KT_ERR_CONFIG_VALUE (not 64 hex digits), KT_ERR_BAD_KEY (not a valid
 * key), KT_ERR_CONFIG_DUPLICATE. */
KT_MUST_CHECK int kt_client_config_set_vrf_key(kt_client_config *cfg,
					       const char *hex);

/* Adds a witness, a C2SP cosignature/v1 verifier string (key type 0x04).
 * Errors as kt_client_config_set_log_key (a type 0x01 key is
 * KT_ERR_BAD_KEY_TYPE), KT_ERR_TOO_LARGE (over KT_CLIENT_MAX_WITNESSES),
 * KT_ERR_CONFIG_DUPLICATE (same name and key hash twice). */
KT_MUST_CHECK int kt_client_config_add_witness(kt_client_config *cfg,
					       const char *verifier);

/* Sets k of the k-of-n witness policy.  Checked against the number of
 * witnesses at kt_client_open (1 <= k <= n, or k = n = 0 for no witness
 * policy — development only).  KT_ERR_CONFIG_RANGE if k >
 * KT_CLIENT_MAX_WITNESSES. */
KT_MUST_CHECK int kt_client_config_set_witness_threshold(kt_client_config *cfg,
							 unsigned k);

/* Sets the witness mode (KT_WITNESS_MODE_*) and, for bounded lag, the
 * largest lag in ms (> 0; ignored for strict: pass 0).  KT_ERR_CONFIG_VALUE
 * for an unknown mode, KT_ERR_CONFIG_RANGE for a bounded-lag max_lag of 0. */
KT_MUST_CHECK int kt_client_config_set_witness_mode(kt_client_config *cfg,
						    int mode, uint64_t max_lag_ms);

/* Sets the largest accepted checkpoint age (now - the last entry's
 * timestamp) in ms, > 0.  KT_ERR_CONFIG_RANGE for 0. */
KT_MUST_CHECK int kt_client_config_set_max_age(kt_client_config *cfg,
					       uint64_t max_age_ms);

/* Uses TLS with the CA certificates of this PEM file (NUL-terminated path;
 * read at kt_client_open).  Without it the transport is plaintext.
 * KT_ERR_INVALID_ARG for an empty path, KT_ERR_NOMEM. */
KT_MUST_CHECK int kt_client_config_set_tls_roots(kt_client_config *cfg,
						 const char *pem_path);

/* Presents a TLS client certificate (mutual TLS, e.g. for an Admin
 * listener with admin_tls_client_ca): cert_path a PEM file with the
 * certificate chain (leaf first), key_path a PEM file with its unencrypted
 * private key (NUL-terminated paths; both replace earlier ones; on failure
 * cfg is unchanged).  Needs tls_roots.  The files are read at
 * kt_client_open, which fails with KT_ERR_IO (cannot read),
 * KT_ERR_CLIENT_KEY_FILE (the key file is readable or writable by group or
 * others, a symlink, or not a regular file: it is refused, not just
 * warned about), KT_ERR_CLIENT_TLS_CERT (not PEM, an encrypted key, or the
 * key is not the certificate's), KT_ERR_CLIENT_CONFIG (set without
 * tls_roots).  The key bytes are wiped once gRPC holds the credentials;
 * the certificate is sent on every channel, the Admin one included.
 * KT_ERR_INVALID_ARG (NULL or empty path), KT_ERR_NOMEM. */
KT_MUST_CHECK int kt_client_config_set_tls_client_cert(kt_client_config *cfg,
						       const char *cert_path,
						       const char *key_path);

/* Where the trust state lives (NUL-terminated path).  Created (mode 0600)
 * at the first verified answer; "<path>.lock" is the lock file next to it.
 * KT_ERR_INVALID_ARG, KT_ERR_NOMEM. */
KT_MUST_CHECK int kt_client_config_set_state_file(kt_client_config *cfg,
						  const char *path);

/* Deadline of each gRPC call, in ms (1 .. 3600000).  KT_ERR_CONFIG_RANGE. */
KT_MUST_CHECK int kt_client_config_set_deadline(kt_client_config *cfg,
						uint64_t deadline_ms);

/*
 * Sets one option by name, with the value syntax of a configuration file
 * (NUL-terminated strings).  Options (same names in the file):
 *   endpoint            host:port; list (once per endpoint)   [alias: server]
 *   log_key             log verifier key
 *   origin              the log's origin; must equal log_key's name
 *   vrf_key             64 hex digits                 [alias: vrf_public_key]
 *   witness             witness verifier key; list
 *   witness_threshold   k (0..32)
 *   witness_mode        strict | bounded-lag
 *   max_lag             duration (250ms, 10s, 5m, 24h): bounded-lag limit
 *   max_age             duration: largest checkpoint age
 *   tls_roots           path of a PEM file
 *   tls_client_cert, tls_client_key
 *                       paths of the PEM client certificate chain and its
 *                       key (set both; see kt_client_config_set_tls_client_cert)
 *   state_file          path of the trust state file
 *   deadline            duration: per-call deadline
 *   admin_endpoint      host:port of the Admin listener (ktd's
 *                       admin_listen) for kt_client_admin_update; unset:
 *                       Admin calls go to the endpoints
 *   registrar_key_file, admin_token_file
 *                       paths, kept for tools (kt_client_config_get); the
 *                       library itself never reads them
 * Errors: KT_ERR_CONFIG_UNKNOWN, KT_ERR_CONFIG_VALUE, KT_ERR_CONFIG_RANGE,
 * KT_ERR_CONFIG_DUPLICATE (a scalar set twice), the errors of the setters
 * above.  If err is not NULL, one line of detail is written to
 * err[0..errlen) (NUL-terminated). */
KT_MUST_CHECK int kt_client_config_set(kt_client_config *cfg, const char *name,
				       const char *value, char *err,
				       size_t errlen);

/*
 * Loads a configuration file (the format of ktd's: one `name = value` per
 * line; blank lines and lines starting with '#' are ignored, ' #' starts a
 * trailing comment; blanks around name and value are dropped) through
 * kt_client_config_set.  `ktd --dev` writes one to <data_dir>/client.conf.
 * Relative paths in the file (tls_roots, tls_client_*, state_file,
 * *_file) are taken
 * relative to the file's directory.  The file is capped at 1 MiB, a line
 * at 4096 bytes.  Returns KT_OK, KT_ERR_IO (cannot read), KT_ERR_TOO_LARGE,
 * KT_ERR_CONFIG_SYNTAX (a line without '='), or the first error of
 * kt_client_config_set; err gets "path:line: detail".  On failure cfg may
 * hold the options of the lines before the failing one: free it. */
KT_MUST_CHECK int kt_client_config_load_file(kt_client_config *cfg,
					     const char *path, char *err,
					     size_t errlen);

/*
 * Sets one option as kt_client_config_set does, but replacing what was set
 * before (typically by kt_client_config_load_file): the command line
 * beats the file, as with `ktd --set`.  The first override of an option
 * drops its earlier value (a list option starts again with this value;
 * later overrides of the same list append); a scalar overridden twice is
 * KT_ERR_CONFIG_DUPLICATE.  Call it after loading the file.  Errors as
 * kt_client_config_set.
 */
KT_MUST_CHECK int kt_client_config_override(kt_client_config *cfg,
					    const char *name, const char *value,
					    char *err, size_t errlen);

/* The value of an option as set (NUL-terminated, borrowed from cfg until
 * it changes or is freed), or NULL if unset.  For a list option, the first
 * value.  Paths are returned resolved as kt_client_config_load_file
 * resolved them. */
const char *kt_client_config_get(const kt_client_config *cfg,
				 const char *name);

/* ======================================================================
 * Client
 * ====================================================================== */

/* Opens a client with a copy of cfg (cfg may be freed afterwards): checks
 * the trust configuration (at least one endpoint, log key, VRF key,
 * witness threshold — KT_ERR_CLIENT_CONFIG with detail in err), reads the
 * TLS roots (KT_ERR_IO), loads the state file if it exists (KT_ERR_IO,
 * KT_ERR_CLIENT_STATE for a file that does not decode or is not signed by
 * the configured log — it is never silently replaced), and creates the
 * gRPC channels lazily (no network I/O here).  err may be NULL.  *out is
 * NULL on failure.  Close with kt_client_close. */
KT_MUST_CHECK int kt_client_open(const kt_client_config *cfg, kt_client **out,
				 char *err, size_t errlen);

/* Closes the channels and frees c (NULL is a no-op).  Nothing is written. */
void kt_client_close(kt_client *c);

/* After the last failed call on c: the gRPC status of the last call that
 * reached a server (KT_GRPC_OK if none failed) and its details (NUL-
 * terminated, borrowed from c until the next call; "" if none).  code or
 * details may be NULL. */
void kt_client_last_status(const kt_client *c, int *code,
			   const char **details);

/* The evidence of the last failed verification on c as one JSON object
 * (docs/PROTOCOL.md §6.6).  On KT_OK *json is a heap NUL-terminated
 * string the caller free()s; KT_ERR_NOT_FOUND if the last call did not
 * fail a verification; KT_ERR_NOMEM. */
KT_MUST_CHECK int kt_client_evidence_json(const kt_client *c, char **json);

/* The same evidence as a struct (for in-tree tools that include
 * kt_verify.h), borrowed from c until its next call, or NULL. */
const struct kt_evidence *kt_client_last_evidence(const kt_client *c);

/* The size of the last checkpoint c verified (0 if none yet). */
uint64_t kt_client_trusted_size(const kt_client *c);

/* Re-reads the state file (e.g. after another process advanced it).
 * Refuses a file whose verified checkpoint is smaller than the one in
 * memory (KT_ERR_CLIENT_ROLLBACK) or of the same size with another root
 * (KT_ERR_CLIENT_FORK); the state in memory is then kept.  KT_OK if the
 * file does not exist.  Also KT_ERR_IO, KT_ERR_CLIENT_STATE.  (Every call
 * below does this itself under the state lock.) */
KT_MUST_CHECK int kt_client_reload_state(kt_client *c);

/*
 * Fetches the directory's newest checkpoint (in strict mode the newest
 * cosigned one) with a verifiable head (GetCheckpoint with ReadAt: the
 * consistency proof from the trusted size, the last entry and its
 * inclusion), and verifies it against the trust state: its signature,
 * witness policy, consistency from the last trusted checkpoint, its last
 * entry's inclusion and age (kt_verify_head).  On KT_OK the new trust
 * state has been persisted; *size (may be NULL) is its tree size
 * (kt_client_verified_checkpoint gives the rest).  Verification failures:
 * the KT_ERR_CLIENT_* code of the failing check, evidence in
 * kt_client_evidence_json, the state file untouched.  A server that does
 * not return the head: KT_ERR_CLIENT_PROTOCOL.  Transport: see "Transport
 * errors" below.
 */
KT_MUST_CHECK int kt_client_checkpoint(kt_client *c, uint64_t *size);

/* The checkpoint c verified last (its trust state). */
typedef struct kt_checkpoint_info {
	uint64_t tree_size;
	uint8_t root[32];            /* RFC 9162 log root */
	uint64_t timestamp_ms;       /* of its last log entry */
	int cosigned;                /* 1: it met the witness policy (k of n
	                                cosigned it; always 1 without a policy) */
	uint64_t cosigned_size;      /* the last checkpoint that met it */
	const char *note;            /* the signed note as received: checkpoint
	                                text, signature and cosignature lines
	                                (NOT NUL-terminated; borrowed from c
	                                until its next call) */
	size_t note_len;
} kt_checkpoint_info;

/* Fills *out with the checkpoint c verified last (after any verified call:
 * checkpoint, lookup, seal, monitor, updates; or loaded from the state
 * file).  KT_ERR_NOT_FOUND if none yet (*out zeroed), KT_ERR_INVALID_ARG.
 * Reads only. */
KT_MUST_CHECK int kt_client_verified_checkpoint(const kt_client *c,
						kt_checkpoint_info *out);

/*
 * Transport errors of every call that talks to a server:
 *   KT_ERR_CLIENT_UNAVAILABLE  no endpoint could be reached (UNAVAILABLE on
 *                              every endpoint)
 *   KT_ERR_CLIENT_DEADLINE     the deadline passed on every endpoint
 *   KT_ERR_CLIENT_INVALID_REQUEST  the server refused: INVALID_ARGUMENT,
 *                              OUT_OF_RANGE
 *   KT_ERR_CLIENT_DENIED       PERMISSION_DENIED, UNAUTHENTICATED
 *   KT_ERR_CLIENT_PRECONDITION FAILED_PRECONDITION, ABORTED (e.g. the
 *                              account changed since the lookup: retry)
 *   KT_ERR_CLIENT_LIMITED      RESOURCE_EXHAUSTED (rate limit, caps)
 *   KT_ERR_CLIENT_NOT_FOUND    NOT_FOUND
 *   KT_ERR_CLIENT_SERVER       any other non-OK status
 *   KT_ERR_CLIENT_PROTOCOL     an OK answer that does not decode
 * kt_client_last_status gives the server's status code and details.
 */

/* ======================================================================
 * Device keys
 * ====================================================================== */

/* Generates a device's keys: an Ed25519 signing key pair, an X25519
 * encryption key pair, and its id: id[0..id_len) (1..64 bytes), or, if id
 * is NULL, 32 random lowercase hex characters.  KT_ERR_INVALID_ARG (id
 * length), KT_ERR_NOMEM.  Free (wiped) with kt_device_keys_free. */
KT_MUST_CHECK int kt_device_keys_generate(const uint8_t *id, size_t id_len,
					  kt_device_keys **out);

/* Wipes the secret keys and frees k (NULL is a no-op). */
void kt_device_keys_free(kt_device_keys *k);

/* Writes k to a NEW file at path (NUL-terminated), created with O_EXCL and
 * mode 0600, fsync'd (docs/PROTOCOL.md §7 "device key file").
 * KT_ERR_IO (exists, cannot write; a partial file is removed). */
KT_MUST_CHECK int kt_device_keys_save(const kt_device_keys *k, const char *path);

/* Reads a device key file.  Refuses a file that is not a regular file or
 * that its group or others may read or write (KT_ERR_CLIENT_KEY_FILE, also
 * for a file that does not decode or whose keys do not match), KT_ERR_IO. */
KT_MUST_CHECK int kt_device_keys_load(const char *path, kt_device_keys **out);

/* The device id, borrowed from k; *id_len set. */
const uint8_t *kt_device_keys_id(const kt_device_keys *k, size_t *id_len);

/* Copies the public keys out. */
void kt_device_keys_sign_pk(const kt_device_keys *k,
			    uint8_t out[KT_DEVICE_SIGN_PK_BYTES]);
void kt_device_keys_enc_pk(const kt_device_keys *k,
			   uint8_t out[KT_DEVICE_ENC_PK_BYTES]);

/* Opens a sealed box (crypto_box_seal) sent to k's encryption key.  On
 * KT_OK *msg is heap (caller frees; it may hold secrets: wipe as needed)
 * with *msg_len = ct_len - KT_SEAL_OVERHEAD bytes.  KT_ERR_CLIENT_DECRYPT
 * (not for this key, or tampered), KT_ERR_TOO_LARGE (over
 * KT_SEAL_MAX_MESSAGE + overhead), KT_ERR_NOMEM. */
KT_MUST_CHECK int kt_device_keys_open(const kt_device_keys *k,
				      const uint8_t *ct, size_t ct_len,
				      uint8_t **msg, size_t *msg_len);

/* ======================================================================
 * Lookups (sender)
 * ====================================================================== */

/* One device of a verified lookup.  Pointers borrow from the kt_lookup. */
typedef struct kt_device_info {
	const uint8_t *id;
	size_t id_len;
	uint8_t sign_pk[KT_DEVICE_SIGN_PK_BYTES];
	uint8_t enc_pk[KT_DEVICE_ENC_PK_BYTES];
	const uint8_t *push;
	size_t push_len;
	int kind;                    /* KT_DEVICE_KIND_* */
	uint64_t added_at_ms;
	/* Who added the device (committed with it, kept through every later
	 * change of the account): KT_PROVENANCE_DEVICE (added_by_id is the
	 * authorising device), KT_PROVENANCE_REGISTRAR (an enrolment) or
	 * KT_PROVENANCE_OPERATOR (the directory's operator: alert-worthy for
	 * a sender too).  added_by_id is NULL with length 0 unless DEVICE. */
	int added_by_type;
	const uint8_t *added_by_id;
	size_t added_by_id_len;
} kt_device_info;

/* Who authorised a version and what it did.  Pointers borrow from the
 * object it came from; absent parts are {NULL, 0}. */
typedef struct kt_provenance_info {
	int type;                    /* KT_PROVENANCE_* */
	int operation;               /* KT_OPERATION_* */
	const uint8_t *device_id;    /* DEVICE: the authorising device */
	size_t device_id_len;
	const uint8_t *reason;       /* OPERATOR: the reason (UTF-8) */
	size_t reason_len;
	const uint8_t *registrar_pk; /* REGISTRAR: its Ed25519 key (32 bytes) */
	const uint8_t *target_id;    /* the device added, enrolled, removed or
	                                whose push address was set */
	size_t target_id_len;
} kt_provenance_info;

/*
 * Looks an account up (account[0..account_len), 1..255 bytes of UTF-8) and
 * verifies the answer completely: the read head against the trust state
 * (kt_verify_head: signature, witnesses, consistency, age, last entry),
 * then the VRF proof, the map proof, the commitment opening, every device
 * key (kt_verify_lookup).  Only then is the new trust state persisted
 * (atomically) and *out set.  A failed verification returns its
 * KT_ERR_CLIENT_* code, leaves the state file byte-identical and records
 * the evidence (kt_client_evidence_json).  Also the transport errors,
 * KT_ERR_INVALID_ARG (account), KT_ERR_IO (state file), KT_ERR_NOMEM.
 * An absent account is KT_OK with kt_lookup_present() == 0 (proven absent).
 * Free *out with kt_lookup_free.
 */
KT_MUST_CHECK int kt_client_lookup(kt_client *c, const uint8_t *account,
				   size_t account_len, kt_lookup **out);

void kt_lookup_free(kt_lookup *l);

/* 1 if the account exists at the verified checkpoint, else 0. */
int kt_lookup_present(const kt_lookup *l);

/* The account's current version (0 when absent). */
uint64_t kt_lookup_version(const kt_lookup *l);

/* The tree size of the checkpoint the lookup was verified at. */
uint64_t kt_lookup_tree_size(const kt_lookup *l);

/* Number of devices (0 when absent or empty). */
size_t kt_lookup_device_count(const kt_lookup *l);

/* Fills *out with device i (0 <= i < count).  KT_ERR_INVALID_ARG for i out
 * of range (*out zeroed). */
KT_MUST_CHECK int kt_lookup_device(const kt_lookup *l, size_t i,
				   kt_device_info *out);

/* Fills *out with the provenance of the current version.
 * KT_ERR_NOT_FOUND when the account is absent (*out zeroed). */
KT_MUST_CHECK int kt_lookup_provenance(const kt_lookup *l,
				       kt_provenance_info *out);

/* ======================================================================
 * Sealing (sender) — only to verified devices
 * ====================================================================== */

/* One sealed copy of the message.  Pointers borrow from the kt_sealed. */
typedef struct kt_sealed_item {
	const uint8_t *device_id;
	size_t device_id_len;
	const uint8_t *push;           /* where to deliver it */
	size_t push_len;
	const uint8_t *ciphertext;     /* crypto_box_seal to the device's enc key */
	size_t ciphertext_len;         /* message length + KT_SEAL_OVERHEAD */
} kt_sealed_item;

/*
 * Seals msg[0..msg_len) (<= KT_SEAL_MAX_MESSAGE) to every device of the
 * account: runs kt_client_lookup (all of its verification; the keys used
 * are read from its verified result only) and then crypto_box_seal to each
 * device's encryption key.  Errors: those of kt_client_lookup (nothing is
 * encrypted), KT_ERR_CLIENT_NO_DEVICES (absent account or no device),
 * KT_ERR_TOO_LARGE, KT_ERR_NOMEM.  Free *out with kt_sealed_free.
 */
KT_MUST_CHECK int kt_client_seal(kt_client *c, const uint8_t *account,
				 size_t account_len, const uint8_t *msg,
				 size_t msg_len, kt_sealed **out);

void kt_sealed_free(kt_sealed *s);

/* Number of sealed copies (one per device, >= 1). */
size_t kt_sealed_count(const kt_sealed *s);

/* Fills *out with copy i.  KT_ERR_INVALID_ARG for i out of range. */
KT_MUST_CHECK int kt_sealed_get(const kt_sealed *s, size_t i,
				kt_sealed_item *out);

/* The version and checkpoint size of the verified lookup it sealed to. */
uint64_t kt_sealed_version(const kt_sealed *s);
uint64_t kt_sealed_tree_size(const kt_sealed *s);

/* ======================================================================
 * Monitoring (owner)
 * ====================================================================== */

/* One of the owner's own devices: its id, and optionally its Ed25519 key
 * (NULL if unknown).  A version is the owner's own if a device in this
 * list (or the monitoring device itself) authorised it. */
typedef struct kt_owner_device {
	const uint8_t *id;
	size_t id_len;
	const uint8_t *sign_pk;          /* KT_DEVICE_SIGN_PK_BYTES or NULL */
} kt_owner_device;

/* Flags of a reported version: any bit set = NOT authorised by the owner's
 * own devices as far as the monitor can tell; alert the owner. */
#define KT_MONITOR_FLAG_OPERATOR 0x01u       /* the operator changed it */
#define KT_MONITOR_FLAG_REGISTRAR 0x02u      /* a registrar enrolled a key
                                                that is not the owner's */
#define KT_MONITOR_FLAG_UNKNOWN_DEVICE 0x04u /* a device not in the owner set */
#define KT_MONITOR_FLAG_UNCHECKED 0x08u      /* the previous value was not
                                                known: transition unchecked */

/* One version of the account.  Pointers borrow from the report. */
typedef struct kt_monitor_item {
	uint64_t version;
	uint64_t log_index;
	uint64_t timestamp_ms;           /* of its log entry */
	unsigned flags;                  /* KT_MONITOR_FLAG_* */
	kt_provenance_info provenance;   /* who, what, the device it targeted */
} kt_monitor_item;

/*
 * Monitors an account owned by `owner` (one of its devices, current or
 * former): signs a History request with owner's key (timestamp now, from
 * the version after the last one checked), verifies the read head like a
 * lookup, the account's current leaf, and every version since the last
 * one checked (kt_verify_history: entries, inclusion, no gap, the history
 * chain up to the current leaf, openings, provenance signatures,
 * transitions), following pages until the current version.  Every
 * version is reported; a version not authorised by owner or a device in
 * own[0..n_own) is flagged.  Only after verification is the new per-
 * account state (last version, history head, value) persisted with the
 * new trust state; a failure leaves the state file untouched.
 * An account never monitored starts at version 1.  Errors: the
 * verification codes, the transport errors (KT_ERR_CLIENT_DENIED when the
 * server does not take owner as the account's device),
 * KT_ERR_CLIENT_NOT_FOUND (no such account), KT_ERR_TOO_LARGE (more than
 * KT_CLIENT_MAX_ACCOUNTS monitored), KT_ERR_INVALID_ARG, KT_ERR_IO,
 * KT_ERR_NOMEM.  Free *out with kt_monitor_report_free.
 */
KT_MUST_CHECK int kt_client_monitor(kt_client *c, const uint8_t *account,
				    size_t account_len,
				    const kt_device_keys *owner,
				    const kt_owner_device *own, size_t n_own,
				    kt_monitor_report **out);

void kt_monitor_report_free(kt_monitor_report *r);

/* Number of versions reported (0: nothing new since the last check). */
size_t kt_monitor_report_count(const kt_monitor_report *r);

/* Number of reported versions with flags != 0. */
size_t kt_monitor_report_flagged(const kt_monitor_report *r);

/* The account's version now checked (the current one). */
uint64_t kt_monitor_report_version(const kt_monitor_report *r);

/* Fills *out with version i of the report (in version order).
 * KT_ERR_INVALID_ARG for i out of range. */
KT_MUST_CHECK int kt_monitor_report_item(const kt_monitor_report *r, size_t i,
					 kt_monitor_item *out);

/* ======================================================================
 * Device-side updates (owner)
 * ====================================================================== */

/* A device as it is asked to be added (added_at is set by the directory).
 * Pointers are the caller's. */
typedef struct kt_device_spec {
	const uint8_t *id;
	size_t id_len;                        /* 1..64 */
	uint8_t sign_pk[KT_DEVICE_SIGN_PK_BYTES];
	uint8_t enc_pk[KT_DEVICE_ENC_PK_BYTES];
	const uint8_t *push;
	size_t push_len;                      /* 0..512 */
	int kind;                             /* KT_DEVICE_KIND_* */
} kt_device_spec;

/* Fills *out with k's id and public keys, push and kind (pointers borrow
 * from k and push). */
void kt_device_keys_spec(const kt_device_keys *k, const uint8_t *push,
			 size_t push_len, int kind, kt_device_spec *out);

/* A registrar's enrolment token for one device spec of one account. */
typedef struct kt_registrar_token {
	uint8_t registrar_pk[KT_DEVICE_SIGN_PK_BYTES];   /* Ed25519 */
	uint64_t expiry_ms;                              /* ms since the epoch */
	uint8_t signature[KT_REGISTRAR_SIG_BYTES];       /* over the token message */
} kt_registrar_token;

/*
 * Makes a registrar token (for development and the quickstart; production
 * registrars sign after proofing the user's identity): registrar_key is
 * the registrar's signer key in the C2SP "PRIVATE+KEY+name+hash+base64"
 * form (NUL-terminated; `ktd --dev` writes it to data_dir/registrar.key),
 * and the signature covers the account, the whole device spec (id, keys,
 * push address, kind) and expiry_ms (kt_registrar_token_message).
 * KT_ERR_NOTE_BAD_SIGNER_KEY / KT_ERR_KEY_HASH_MISMATCH /
 * KT_ERR_BAD_KEY_TYPE (key), KT_ERR_INVALID_ARG (account, spec), *out
 * zeroed on failure.  The caller wipes its copy of the key string.
 */
KT_MUST_CHECK int kt_registrar_token_make(const char *registrar_key,
					  const uint8_t *account,
					  size_t account_len,
					  const kt_device_spec *spec,
					  uint64_t expiry_ms,
					  kt_registrar_token *out);

/* As kt_registrar_token_make, the key read from a file (first line; the
 * file must not be readable by group or others: KT_ERR_CLIENT_KEY_FILE;
 * KT_ERR_IO). */
KT_MUST_CHECK int kt_registrar_token_make_file(const char *key_path,
					       const uint8_t *account,
					       size_t account_len,
					       const kt_device_spec *spec,
					       uint64_t expiry_ms,
					       kt_registrar_token *out);

/* What the directory answered to an accepted update. */
typedef struct kt_update_result {
	uint64_t version;          /* the account's new version */
	uint64_t log_index;        /* position of its update entry */
} kt_update_result;

/*
 * The four updates.  Each first does a verified kt_client_lookup of the
 * account (persisting the trust state like a lookup) to learn its current
 * version, then sends the update bound to that version (expected_version);
 * device-signed updates carry signer's signature over kt_update_message.
 * The result is NOT verified here: run kt_client_monitor (or a lookup) to
 * see the change in the log.  Errors: those of kt_client_lookup, the
 * transport errors (KT_ERR_CLIENT_PRECONDITION: the account changed in
 * between — retry; KT_ERR_CLIENT_DENIED: signer is not a device of the
 * account, bad token), KT_ERR_INVALID_ARG (account, spec, push, id),
 * KT_ERR_NOMEM.  *res (may be NULL) is zeroed on failure.
 */

/* First enrolment (absent or empty account) or recovery, with a registrar
 * token for exactly this device spec. */
KT_MUST_CHECK int kt_client_enroll(kt_client *c, const uint8_t *account,
				   size_t account_len, const kt_device_spec *device,
				   const kt_registrar_token *token,
				   kt_update_result *res);

/* Adds a device, signed by signer (a current device of the account). */
KT_MUST_CHECK int kt_client_add_device(kt_client *c, const uint8_t *account,
				       size_t account_len,
				       const kt_device_keys *signer,
				       const kt_device_spec *device,
				       kt_update_result *res);

/* Removes device id[0..id_len), signed by signer. */
KT_MUST_CHECK int kt_client_remove_device(kt_client *c, const uint8_t *account,
					  size_t account_len,
					  const kt_device_keys *signer,
					  const uint8_t *id, size_t id_len,
					  kt_update_result *res);

/* Sets the push address of device id[0..id_len), signed by signer. */
KT_MUST_CHECK int kt_client_set_push(kt_client *c, const uint8_t *account,
				     size_t account_len,
				     const kt_device_keys *signer,
				     const uint8_t *id, size_t id_len,
				     const uint8_t *push, size_t push_len,
				     kt_update_result *res);

/* ======================================================================
 * Operator changes (keytrail.v1.Admin)
 * ====================================================================== */

/* An operation the operator applies.  Pointers are the caller's. */
typedef struct kt_admin_op {
	int operation;               /* KT_OPERATION_ADD_DEVICE, _REMOVE_DEVICE
	                                or _SET_PUSH (enrolment is the
	                                registrar's alone) */
	kt_device_spec device;       /* ADD_DEVICE */
	const uint8_t *id;           /* REMOVE_DEVICE, SET_PUSH: the device */
	size_t id_len;
	const uint8_t *push;         /* SET_PUSH: the new address (0..512) */
	size_t push_len;
} kt_admin_op;

/*
 * The operator changes an account through keytrail.v1.Admin/
 * OperatorUpdate: admin_token is the admin credential (NUL-terminated, 64
 * hex digits, what `ktd keygen admin` writes; sent as the
 * x-keytrail-admin metadata of this one call, never kept), reason the
 * reason every owner and sender will see (1..1024 bytes of UTF-8).  Like
 * the device updates it first does a verified lookup (persisting the trust
 * state) and binds the change to the current version.  The call goes to
 * the configured admin_endpoint, else to the endpoints (with their
 * failover; expected_version makes a repeated change fail, not apply
 * twice).  TLS as configured (tls_roots); an Admin listener that requires
 * mutual TLS needs kt_client_config_set_tls_client_cert.  The
 * result is not verified here: look the account up to see it in the log.
 * Errors: those of the updates above (KT_ERR_CLIENT_DENIED for a wrong
 * credential), KT_ERR_INVALID_ARG (token, reason, account, op).  *res (may
 * be NULL) is zeroed on failure.
 */
KT_MUST_CHECK int kt_client_admin_update(kt_client *c, const char *admin_token,
					 const uint8_t *account,
					 size_t account_len,
					 const kt_admin_op *op,
					 const char *reason,
					 kt_update_result *res);

#ifdef __cplusplus
}
#endif
#endif /* KEYTRAIL_H */
