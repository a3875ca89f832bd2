/*
 * client_int.h — names shared inside libkeytrail (the client sources) and with its
 * tests; not installed.
 *
 *   kt_config.c     the configuration (option table, file parser)
 *   kt_transport.c  gRPC channels, the unary call, failover, status mapping
 *   kt_state.c      the client state file: encoding, lock, atomic write
 *   kt_keys.c       device keys, key files, sealed boxes, registrar tokens
 *   kt_client.c     open/close, verified reads (lookup, checkpoint)
 *   kt_seal.c       sealing to the devices of a verified lookup
 *   kt_monitor.c    the owner's monitor
 *   kt_update.c     device-signed updates, enrolment, the Admin client
 *
 * Test hooks (tests and the tamper tests of ktctl): a transport hook that
 * replaces (or wraps) the gRPC call, and a clock.
 */
#ifndef KT_CLIENT_INT_H
#define KT_CLIENT_INT_H

#include <stddef.h>
#include <stdint.h>

#include "keytrail.h"
#include "kt_types.h"
#include "kt_verify.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- test hooks ------------------------------------------------------- */

/* The end of one unary call: gRPC status (0 = OK), details (heap,
 * NUL-terminated, may be NULL) and the response message (heap, may be
 * NULL when there is none).  Free with kt_call_result_clear. */
typedef struct kt_call_result {
	int status;
	char *details;
	uint8_t *body;
	size_t body_len;
} kt_call_result;

/* Frees what r holds and zeroes it; r may be NULL. */
void kt_call_result_clear(kt_call_result *r);

/* The endpoint index of the configured admin_endpoint (Admin calls when
 * it is set; otherwise they go to the endpoints like every call). */
#define KT_CLIENT_ADMIN_SLOT KT_CLIENT_MAX_ENDPOINTS

/*
 * A transport hook: receives the endpoint index (0..n_endpoints-1, or
 * KT_CLIENT_ADMIN_SLOT for the admin_endpoint) and its target string, the full method name ("/keytrail.v1.Directory/Lookup") and
 * the request bytes (protobuf), and fills *res (zeroed on entry; heap
 * members allocated with malloc).  Returns KT_OK when the call reached an
 * end (any gRPC status, including UNAVAILABLE = 14 to make the client fail
 * over), or a negative kt_err for a local failure.  It may forward to the
 * real network with kt_client_grpc_call(c, endpoint, ...) and alter the
 * answer.  Called on the thread that called the client.
 */
typedef int (*kt_client_transport_fn)(void *arg, kt_client *c, size_t endpoint,
				      const char *target, const char *method,
				      const uint8_t *req, size_t req_len,
				      kt_call_result *res);

/* Installs a transport hook (fn NULL: back to gRPC).  arg is the hook's. */
void kt_client_config_set_transport(kt_client_config *cfg,
				    kt_client_transport_fn fn, void *arg);

/* A clock: ms since the Unix epoch. */
typedef uint64_t (*kt_client_clock_fn)(void *arg);

/* Installs a clock (fn NULL: CLOCK_REALTIME). */
void kt_client_config_set_clock(kt_client_config *cfg, kt_client_clock_fn fn,
				void *arg);

/* The real gRPC unary call to endpoint i of c (for hooks that forward).
 * During an Admin call (kt_client_admin_update) it carries the admin
 * credential (c->call_admin_token) as x-keytrail-admin metadata.
 * Returns KT_OK with *res filled when the call reached an end, else
 * KT_ERR_INVALID_ARG / KT_ERR_NOMEM / KT_ERR_INTERNAL / KT_ERR_IO (TLS
 * roots). */
KT_MUST_CHECK int kt_client_grpc_call(kt_client *c, size_t endpoint,
				      const char *method, const uint8_t *req,
				      size_t req_len, kt_call_result *res);

/* ---- configuration ---------------------------------------------------- */

#define KT_CFG_MAX_STRING 4096   /* longest option value (paths, keys) */

struct kt_client_config {
	char *endpoints[KT_CLIENT_MAX_ENDPOINTS];
	size_t n_endpoints;
	kt_trust_config trust;       /* origin, keys, witnesses, policy */
	int have_log_key;
	int have_vrf_key;
	int set_threshold, set_mode, set_max_lag, set_max_age, set_deadline;
	char *origin;                /* "origin" option, checked at open */
	char *tls_roots;
	char *tls_client_cert;        /* PEM chain, with tls_client_key */
	char *tls_client_key;
	char *state_file;
	char *registrar_key_file;
	char *admin_token_file;
	char *admin_endpoint;        /* where Admin calls go (NULL: endpoints) */
	char *vrf_hex;               /* as given, for kt_client_config_get */
	char *log_key_str;
	char *first_witness;
	char *mode_str;
	char num_buf[6][32];         /* threshold, max_lag, max_age, deadline */
	uint32_t overridden;         /* bit per option: set by an override */
	uint64_t deadline_ms;
	kt_client_transport_fn transport;
	void *transport_arg;
	kt_client_clock_fn clock;
	void *clock_arg;
};

/* Deep copy of src into *dst (zeroed first).  KT_ERR_NOMEM. */
KT_MUST_CHECK int kt_client_config_copy(kt_client_config *dst,
					const kt_client_config *src);

/* Frees what cfg holds (not cfg itself). */
void kt_client_config_clear(kt_client_config *cfg);

/* Final checks at open; writes a line of detail into err. */
KT_MUST_CHECK int kt_client_config_finish(const kt_client_config *cfg,
					  char *err, size_t errlen);

/* ---- client state ------------------------------------------------------ */

/* What the monitor verified last for one account. */
typedef struct kt_acct_state {
	uint8_t account[KT_ACCOUNT_MAX];
	size_t account_len;
	uint64_t version;                 /* >= 1 (0 is not stored) */
	uint8_t history[KT_HASH_BYTES];
	int value_known;
	kt_account_value value;           /* owned */
} kt_acct_state;

/* The whole client state (the state file's content). */
typedef struct kt_client_state {
	kt_trust_state trust;
	kt_acct_state *accts;             /* heap, n, sorted by account bytes */
	size_t n;
} kt_client_state;

void kt_client_state_init(kt_client_state *s);
void kt_client_state_free(kt_client_state *s);

/* Deep copy (dst overwritten, not freed first); KT_ERR_NOMEM leaves it
 * empty. */
KT_MUST_CHECK int kt_client_state_copy(kt_client_state *dst,
				       const kt_client_state *src);

/* The account's entry or NULL (borrowed). */
const kt_acct_state *kt_client_state_find(const kt_client_state *s,
					  const uint8_t *account, size_t len);

/* Inserts or replaces the account's entry with (version, history, value
 * if value_known).  KT_ERR_TOO_LARGE (over KT_CLIENT_MAX_ACCOUNTS),
 * KT_ERR_NOMEM; s unchanged on failure. */
KT_MUST_CHECK int kt_client_state_put(kt_client_state *s, const uint8_t *account,
				      size_t len, uint64_t version,
				      const uint8_t history[KT_HASH_BYTES],
				      int value_known,
				      const kt_account_value *value);

/* The state file encoding (docs/PROTOCOL.md §7).  *out heap. */
KT_MUST_CHECK int kt_client_state_encode(const kt_client_state *s,
					 uint8_t **out, size_t *out_len);

/* Strict decode; the trust part is re-verified against cfg
 * (kt_trust_state_decode).  KT_ERR_CLIENT_STATE / KT_ERR_CLIENT_CONFIG /
 * KT_ERR_NOMEM; *s empty on failure. */
KT_MUST_CHECK int kt_client_state_decode(kt_client_state *s,
					 const kt_trust_config *cfg,
					 const uint8_t *p, size_t len);

/* Reads the file at path into *s.  KT_ERR_NOT_FOUND if it does not exist,
 * KT_ERR_IO, KT_ERR_TOO_LARGE, decode errors. */
KT_MUST_CHECK int kt_client_state_load(kt_client_state *s,
				       const kt_trust_config *cfg,
				       const char *path);

/* Writes *s to path atomically: a temporary file in the same directory
 * (mode 0600), fsync, rename over path, fsync of the directory.  KT_ERR_IO
 * leaves path as it was. */
KT_MUST_CHECK int kt_client_state_save(const kt_client_state *s,
				       const char *path);

/* Exclusive lock on "<path>.lock" (created 0600).  *fd >= 0 on KT_OK. */
KT_MUST_CHECK int kt_state_lock(const char *path, int *fd);
void kt_state_unlock(int fd);

/* ---- the client -------------------------------------------------------- */

struct grpc_channel;
struct grpc_completion_queue;
struct grpc_channel_credentials;

struct kt_client {
	kt_client_config cfg;             /* own copy */
	kt_client_state st;               /* the adopted state */
	char *tls_pem;                    /* TLS roots, read at open */
	/* TLS channel credentials (roots and, if configured, the client
	 * certificate and key), made at open; NULL: plaintext. */
	struct grpc_channel_credentials *creds;
	struct grpc_channel *ch[KT_CLIENT_MAX_ENDPOINTS + 1]; /* + admin slot */
	struct grpc_completion_queue *cq;
	int grpc_up;                      /* grpc_init called */
	size_t cur;                       /* endpoint to try first */
	int last_status;
	char *last_details;
	kt_evidence ev;
	int have_ev;
	int lock_fd;                      /* >= 0 while an operation holds it */
	/* SECRET: the admin credential (64 hex digits + NUL), set only for
	 * the duration of an Admin call, wiped after it. */
	char call_admin_token[65];
	int call_admin;                   /* an Admin call is in progress */
};

/* Current time per the configured clock. */
uint64_t kt_client_now_ms(const kt_client *c);

/* Resets the per-call outcome (status, details, evidence). */
void kt_client_reset_outcome(kt_client *c);

/* Records a failed verification's evidence (moved from *ev). */
void kt_client_keep_evidence(kt_client *c, kt_evidence *ev);

/* One unary call with failover over the endpoints: the next endpoint is
 * tried on UNAVAILABLE or DEADLINE_EXCEEDED, and, for the read methods of
 * keytrail.v1.Directory, on the answers of a node that lags behind the
 * tree size asked for (OUT_OF_RANGE; NOT_FOUND with KT_ERR_NO_CHECKPOINT).
 * On KT_OK *resp (heap) holds the OK response.  Non-OK statuses map to the
 * KT_ERR_CLIENT_* transport codes (the last endpoint's); c->last_status /
 * last_details keep what the server said. */
KT_MUST_CHECK int kt_client_call(kt_client *c, const char *method,
				 const uint8_t *req, size_t req_len,
				 uint8_t **resp, size_t *resp_len);

/* kt_client_call for keytrail.v1.Admin: with c->call_admin_token as
 * metadata, to the admin_endpoint if one is configured (no failover),
 * else over the endpoints as kt_client_call. */
KT_MUST_CHECK int kt_client_call_admin(kt_client *c, const char *method,
				       const uint8_t *req, size_t req_len,
				       uint8_t **resp, size_t *resp_len);

/* Maps a gRPC status code to a kt_err code (KT_OK for 0). */
int kt_client_status_error(int status);

/* Makes c->creds at open: nothing without tls_roots; else SSL credentials
 * with c->tls_pem and, if configured, the client certificate and key (read
 * through kt_tls_identity_read; the key copy is wiped once gRPC has it).
 * Errors of kt_tls_identity_read, KT_ERR_INTERNAL; detail in err. */
KT_MUST_CHECK int kt_client_transport_creds(kt_client *c, char *err,
					    size_t errlen);

/* Closes channels and queue; grpc_shutdown if it was initialised. */
void kt_client_transport_close(kt_client *c);

/* Locks the state file (if any) and re-reads it, refusing a rollback.
 * Pair with kt_client_end. */
KT_MUST_CHECK int kt_client_begin(kt_client *c);
void kt_client_end(kt_client *c);

/* Persists ns (if a state file is configured) and adopts it (moved into
 * c->st; ns is left empty).  KT_ERR_IO keeps the old state. */
KT_MUST_CHECK int kt_client_commit(kt_client *c, kt_client_state *ns);

/* A verified read of one account: picks the tree size per witness policy,
 * sends Lookup, verifies head and lookup.  On KT_OK *head, *res and
 * *new_trust (the state to persist) are the caller's.  Used by
 * kt_client_lookup, kt_client_checkpoint and the updates; must be called
 * between kt_client_begin and kt_client_end. */
KT_MUST_CHECK int kt_client_verified_lookup(kt_client *c,
					    const uint8_t *account,
					    size_t account_len,
					    kt_verified_head *head,
					    kt_lookup_result *res,
					    kt_trust_state *new_trust);

/* The ReadAt.tree_size to ask for (0 = newest), per witness policy. */
KT_MUST_CHECK int kt_client_pick_size(kt_client *c, uint64_t *size);

/* Persists a new trust state (accounts unchanged) and adopts it. */
KT_MUST_CHECK int kt_client_commit_trust(kt_client *c, kt_trust_state *nt);

/* Fills a public provenance view from pv (borrowing from pv). */
void kt_client_provenance_info(const kt_provenance *pv,
			       kt_provenance_info *out);

/* Device keys (kt_keys.c), exposed to the library. */
struct kt_device_keys {
	uint8_t id[KT_DEVICE_ID_MAX];
	size_t id_len;
	uint8_t sign_sk[KT_ED25519_SK_BYTES];   /* SECRET: seed || pk */
	uint8_t sign_pk[KT_ED25519_PK_BYTES];
	uint8_t enc_sk[32];                     /* SECRET: X25519 */
	uint8_t enc_pk[KT_X25519_PK_BYTES];
};

/* The device (spec) in kt_types form; KT_ERR_INVALID_ARG for a bad spec
 * (lengths, kind).  Keys are not validated here. */
KT_MUST_CHECK int kt_client_spec_to_device(const kt_device_spec *spec,
					   kt_device *out);

/* The device key file encoding (docs/PROTOCOL.md §7). */
KT_MUST_CHECK int kt_device_keys_encode(const kt_device_keys *k, uint8_t **out,
					size_t *out_len);
KT_MUST_CHECK int kt_device_keys_decode(kt_device_keys *k, const uint8_t *p,
					size_t len);

/* Reads a whole secret file (regular, not group/other accessible; at most
 * max bytes).  *out heap (wipe before free). */
KT_MUST_CHECK int kt_read_secret_file(const char *path, size_t max,
				      uint8_t **out, size_t *out_len);

/* Reads the TLS client identity: the PEM certificate chain at cert_path
 * and the PEM private key at key_path (a secret file: regular, not
 * group/other accessible), and checks with libcrypto that the first
 * certificate parses and the key is its key.  On KT_OK *cert_pem and
 * *key_pem are heap NUL-terminated strings (wipe *key_pem with
 * sodium_memzero before free).  KT_ERR_IO (cannot read), KT_ERR_TOO_LARGE,
 * KT_ERR_CLIENT_KEY_FILE (key readable by group/others, a symlink, not a
 * regular file), KT_ERR_CLIENT_TLS_CERT (malformed, encrypted key, or not
 * a pair), KT_ERR_NOMEM; a line of detail in err. */
KT_MUST_CHECK int kt_tls_identity_read(const char *cert_path,
				       const char *key_path, char **cert_pem,
				       char **key_pem, char *err, size_t errlen);

/* Reads a whole file of at most max bytes.  KT_ERR_NOT_FOUND, KT_ERR_IO,
 * KT_ERR_TOO_LARGE. */
KT_MUST_CHECK int kt_read_file(const char *path, size_t max, uint8_t **out,
			       size_t *out_len);

#ifdef __cplusplus
}
#endif
#endif /* KT_CLIENT_INT_H */
