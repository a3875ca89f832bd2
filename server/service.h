/*
 * service.h — the gRPC handlers of ktd: keytrail.v1.Directory (service.c)
 * and keytrail.v1.Admin (admin.c).
 *
 * Every handler follows the same steps: decode the protobuf-c request,
 * validate what needs no state (sizes, encodings, keys, signatures that do
 * not depend on the account), authorise, then either read (reader.h) or
 * submit one change to the node's sequencer and answer later (deferred
 * completion, net.h).  A rejected request changes nothing.  The gRPC status
 * of every rejection is chosen by kt_service_grpc_status(); the status
 * details are "<KT_ERR name>: <kt_strerror text> (<field>)".  The complete
 * table is in docs/OPERATIONS.md ("Running ktd" / "Request errors").
 *
 * THREAD SAFETY: kt_service_new/free from main only; the handlers run on any
 * number of gRPC worker threads at once.
 */
#ifndef KT_SERVER_SERVICE_H
#define KT_SERVER_SERVICE_H

#include <stddef.h>
#include <stdint.h>

#include "apply.h"
#include "kt_err.h"
#include "kt_types.h"
#include "net.h"
#include "node.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Metadata key of the admin credential: 64 hex characters (32 bytes). */
#define KT_ADMIN_METADATA "x-keytrail-admin"

/* Most Directory + Admin methods kt_service_methods writes. */
#define KT_SERVICE_MAX_METHODS 9

/* History's owner authentication looks for the signing device in at most
 * this many of the account's newest versions (a former device that left
 * longer ago is no longer recognised), so that a request naming an
 * unknown device costs a bounded number of reads. */
#define KT_SERVICE_HISTORY_AUTH_VERSIONS 4096u

/* Longest AddCosignature line accepted (bytes, with its '\n'). */
#define KT_SERVICE_MAX_COSIG_LINE 1024

typedef struct kt_service kt_service;

/* Creates the handlers' shared state over node n (borrowed: must outlive
 * the service, and the service must outlive the net layer that calls its
 * handlers).  Returns KT_OK, KT_ERR_NOMEM.  *out is NULL on failure. */
KT_MUST_CHECK int kt_service_new(kt_node *n, kt_service **out);

/* Frees s (NULL is fine).  No handler may run or be pending any more
 * (kt_net_stop first; the node's sequencer stopped, since its completion
 * callbacks use s). */
void kt_service_free(kt_service *s);

/* Writes the method table into out[0..*n): the seven Directory methods,
 * served on the listeners in dir_listeners (net.h bit mask; 0 = all), and
 * the two Admin methods on admin_listeners.  outstanding: requests kept
 * posted per method (0 = the net default).  cap must be at least
 * KT_SERVICE_MAX_METHODS (else KT_ERR_INVALID_ARG).  The names are static
 * strings; arg of every method is s. */
KT_MUST_CHECK int kt_service_methods(kt_service *s, unsigned dir_listeners,
				     unsigned admin_listeners,
				     unsigned outstanding, kt_net_method *out,
				     size_t cap, size_t *n);

/* The gRPC status (KT_GRPC_*) a request gets when it fails with code:
 *   INVALID_ARGUMENT     malformed protobuf, bad encodings, bad lengths,
 *                        bad UTF-8, bad keys (off curve, small order), bad
 *                        key or signature types, malformed cosignatures;
 *   PERMISSION_DENIED    bad signature, signer not a device of the account,
 *                        unknown registrar, expired token, stale history
 *                        request, unknown witness, wrong admin credential;
 *   UNAUTHENTICATED      (admin.c only) no admin credential at all;
 *   FAILED_PRECONDITION  expected_version is not the current version, an
 *                        operation that would change nothing;
 *   NOT_FOUND            account, device or checkpoint does not exist;
 *   ALREADY_EXISTS       a device id the account already has;
 *   RESOURCE_EXHAUSTED   rate limit, device cap, page too large, queue full;
 *   OUT_OF_RANGE         a tree size beyond the newest checkpoint or older
 *                        than the retention window;
 *   UNAVAILABLE          the node is stopping / not the leader;
 *   INTERNAL             anything else (storage failure, a bug).
 * Thread safe. */
int kt_service_grpc_status(int code);

/* ---- shared by service.c and admin.c (server-internal) --------------- */

/* Sets a rejection on reply: status kt_service_grpc_status(code) and the
 * details "<name>: <text> (<field>)" (field may be NULL).  Internal errors
 * are logged (event=request_error) with the method name. */
void kt_service_reject(const kt_net_call *call, kt_net_reply *reply, int code,
		       const char *field);

/* Same, for a status chosen by the caller. */
void kt_service_reject_status(kt_net_reply *reply, int status, int code,
			      const char *field);

kt_node *kt_service_node(kt_service *s);

/* The committed state of an account as a change is validated against. */
typedef struct kt_service_account {
	uint8_t index[KT_INDEX_BYTES];
	uint8_t vrf_proof[KT_VRF_PROOF_BYTES];
	int known;               /* the account was ever created */
	uint64_t version;        /* its current version (0 if !known) */
	kt_account_value value;  /* its current value (owned) */
} kt_service_account;

/* Loads the account's committed state (computing the VRF proof and index
 * when it was never created).  Caller clears *out. */
KT_MUST_CHECK int kt_service_account_load(kt_service *s, const uint8_t *account,
					  size_t account_len,
					  kt_service_account *out);

void kt_service_account_clear(kt_service_account *a);

/* The stateless checks of an update operation: decodes op (p, len), checks
 * that it is one of the allowed ops (bit (1 << op) in allowed_ops, else
 * KT_ERR_PROVENANCE_OP) and validates an added / enrolled device's keys
 * (kt_device_validate).  On failure *field names the culprit. */
KT_MUST_CHECK int kt_service_op_check(const uint8_t *p, size_t len,
				      unsigned allowed_ops, kt_update_op *op,
				      const char **field);

/* The stateful pre-check of a change against the committed state:
 * expected_version (KT_ERR_VERSION_MISMATCH), and that op applies to the
 * current value (device exists / absent / unchanged / the device cap).
 * The apply path repeats these checks at sequencing time; this only makes
 * a doomed request fail at once.  On failure *status and *field say how to
 * answer. */
KT_MUST_CHECK int kt_service_change_check(kt_service *s,
					  const kt_service_account *acct,
					  uint64_t expected_version,
					  const kt_update_op *op, int *status,
					  const char **field);

/* Encodes pv, builds the change for account (with the VRF fields when the
 * account is new) and submits it; the reply is deferred and completed from
 * the sequencer's callback with an UpdateResponse / OperatorUpdateResponse
 * (same fields: version, log_index, checkpoint).  Returns KT_NET_DEFERRED,
 * or KT_OK after setting a rejection on reply (encoding failure, queue
 * full, stopping). */
int kt_service_submit(kt_service *s, const kt_net_call *call,
		      kt_net_reply *reply, const uint8_t *account,
		      size_t account_len, const kt_service_account *acct,
		      uint64_t expected_version, const kt_provenance *pv,
		      int admin);

/* ---- Admin handlers (admin.c) ----------------------------------------- */

/* keytrail.v1.Admin/OperatorUpdate and /Status; app is the kt_service.
 * Credential: metadata KT_ADMIN_METADATA, 64 hex digits, compared in
 * constant time with the node's admin token.  No admin token configured:
 * PERMISSION_DENIED for every call; no credential in the call:
 * UNAUTHENTICATED; a wrong or malformed one: PERMISSION_DENIED. */
int kt_admin_operator_update(void *app, const kt_net_call *call,
			     kt_net_reply *reply);
int kt_admin_status(void *app, const kt_net_call *call, kt_net_reply *reply);

#ifdef __cplusplus
}
#endif
#endif /* KT_SERVER_SERVICE_H */
