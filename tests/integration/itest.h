/*
 * itest.h — harness of the integration tests: runs the real ktd binary on
 * loopback and talks to it over gRPC.
 *
 * Process safety: every ktd a test starts is registered; it is killed
 * (SIGKILL) and reaped
 *   - when the test calls itest_ktd_stop / itest_ktd_kill9,
 *   - at exit (atexit), whatever the exit path (a failed CHECK exits 1),
 *   - from a handler of SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGINT,
 *     SIGTERM, SIGHUP (then the signal is re-raised),
 *   - by the kernel if the test process dies any other way (SIGKILL
 *     included): the child sets PR_SET_PDEATHSIG = SIGKILL before exec.
 * So tests can run side by side and never leave a ktd behind.  Each ktd
 * runs on 127.0.0.1:0 in its own mkdtemp directory, which is removed at the
 * end (set KT_ITEST_KEEP=1 to keep it; its path and the tail of ktd's log
 * are printed on failure).
 *
 * Requests are built with merkle/ (kt_types.h) and protobuf-c (ktproto);
 * responses are verified with merkle/ in itest_verify.c (the client
 * library's verifier did not exist when these tests were written).
 *
 * Not thread safe: one thread per test program.
 */
#ifndef KT_ITEST_H
#define KT_ITEST_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "kt_err.h"
#include "kt_grpc_client.h"
#include "kt_note.h"
#include "kt_types.h"
#include "kt_vrf.h"

/* ---- failing -------------------------------------------------------- */

void itest_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4), noreturn));

#define CHECK(c)                                                              \
	do {                                                                  \
		if (!(c))                                                     \
			itest_fail(__FILE__, __LINE__, "CHECK(%s)", #c);      \
	} while (0)

#define CHECK_OK(e)                                                           \
	do {                                                                  \
		int r_ = (e);                                                 \
		if (r_ != KT_OK)                                              \
			itest_fail(__FILE__, __LINE__, "%s = %s", #e,         \
				   kt_errname(r_));                           \
	} while (0)

/* The gRPC status of res must be st. */
#define CHECK_STATUS(res, st)                                                 \
	do {                                                                  \
		if ((res)->status != (st))                                    \
			itest_fail(__FILE__, __LINE__,                        \
				   "status %d (%s), want %d (%s)",            \
				   (res)->status, (res)->details, (int)(st),  \
				   #st);                                      \
	} while (0)

/* Prints "itest: <text>" to stdout (progress). */
void itest_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Monotonic ms / wall clock ms. */
uint64_t itest_mono_ms(void);
uint64_t itest_now_ms(void);

/* ---- the ktd process ------------------------------------------------- */

typedef struct itest_ktd {
	pid_t pid;                       /* 0 when not running */
	int slot;                        /* in the harness's process registry */
	char base[256];                  /* mkdtemp directory */
	char data_dir[300];
	char log_path[300];              /* ktd's stderr */
	char addr[64];                   /* "127.0.0.1:PORT" */
	char admin_addr[64];             /* admin_listen's "127.0.0.1:PORT", or ""
	                                    when Admin is served on addr */
	char metrics_addr[64];           /* metrics_listen's bound address, or
	                                    "" when there is no metrics endpoint */
	char extra[16][512];             /* --set values */
	size_t n_extra;
	/* what the dev node printed */
	char origin[KT_NOTE_MAX_NAME + 1];
	char log_vk_str[600];
	kt_note_verifier log_vk;
	uint8_t vrf_pk[KT_VRF_PUBLICKEY_BYTES];
	kt_note_signer registrar;        /* the dev registrar's signer key */
	char admin_hex[65];              /* the dev admin token */
	kt_gc *gc;                       /* channel to addr */
} itest_ktd;

/* Sets the ktd binary (argv[1] of the test, or KT_KTD_PATH) and installs
 * the exit and signal handlers.  Call first. */
void itest_init(int argc, char **argv);

/* Creates a fresh base directory for k (zeroed first) and registers it for
 * removal.  extra: NULL-terminated "name=value" options for --set. */
void itest_ktd_new(itest_ktd *k, const char *const *extra);

/* Starts ktd --dev on 127.0.0.1:0 in k->data_dir, waits for its start
 * lines (fails the test after 30 s), parses the dev keys and opens the
 * gRPC channel.  May be called again after a stop / kill9 (same data
 * directory, a new port). */
void itest_ktd_start(itest_ktd *k);

/* SIGTERM, waits for exit (fails after 30 s or on a non-zero exit status:
 * a clean shutdown is part of what is tested). */
void itest_ktd_stop(itest_ktd *k);

/* SIGKILL and reap. */
void itest_ktd_kill9(itest_ktd *k);

/* Closes the channel (the process must already be stopped). */
void itest_ktd_close_channel(itest_ktd *k);

/* ---- calls ------------------------------------------------------------ */

#define M_UPDATE "/keytrail.v1.Directory/Update"
#define M_LOOKUP "/keytrail.v1.Directory/Lookup"
#define M_HISTORY "/keytrail.v1.Directory/History"
#define M_GET_CHECKPOINT "/keytrail.v1.Directory/GetCheckpoint"
#define M_GET_CONSISTENCY "/keytrail.v1.Directory/GetConsistencyProof"
#define M_GET_ENTRIES "/keytrail.v1.Directory/GetEntries"
#define M_ADD_COSIG "/keytrail.v1.Directory/AddCosignature"
#define M_OPERATOR_UPDATE "/keytrail.v1.Admin/OperatorUpdate"
#define M_STATUS "/keytrail.v1.Admin/Status"

/* One blocking call with a 20 s deadline; local failures fail the test.
 * admin: 0 = no credential, 1 = k's admin token, or pass md. */
void itest_call(itest_ktd *k, const char *method, const void *req, size_t len,
		const char *const *md, kt_gc_result *res);

/* Packs a protobuf-c message and calls (as itest_call). */
struct ProtobufCMessage;
void itest_call_pb(itest_ktd *k, const char *method,
		   const struct ProtobufCMessage *msg, const char *const *md,
		   kt_gc_result *res);

/* Metadata list carrying k's admin credential. */
const char *const *itest_admin_md(itest_ktd *k);

/* ---- devices and requests --------------------------------------------- */

typedef struct itest_device {
	kt_device d;                              /* id, keys, push, kind */
	uint8_t sk[KT_ED25519_SK_BYTES];          /* Ed25519 secret (seed||pk) */
} itest_device;

/* A fresh device with random keys. */
void itest_device_new(itest_device *dev, const char *id, uint8_t kind);

/* Encodes op (fails the test if the encoder refuses it). */
size_t itest_op_encode(const kt_update_op *op, uint8_t *out, size_t cap);

/* An UpdateRequest, packed into a heap buffer (*len): */
/* enrol dev into account with a token signed by k's dev registrar. */
uint8_t *itest_req_enrol(itest_ktd *k, const char *account,
			 const itest_device *dev, uint64_t expiry_ms,
			 size_t *len);
/* a device-signed op: signer signs (account, op, expected_version). */
uint8_t *itest_req_signed(const char *account, const kt_update_op *op,
			  uint64_t expected_version, const itest_device *signer,
			  size_t *len);

/* Ops. */
void itest_op_add(kt_update_op *op, const itest_device *dev);
void itest_op_remove(kt_update_op *op, const char *id);
void itest_op_set_push(kt_update_op *op, const char *id, const char *push);

/* Sends an UpdateRequest (packed) and requires OK; returns the new version
 * and log index and records the returned checkpoint in trust. */
struct itest_trust;
void itest_update_ok(itest_ktd *k, struct itest_trust *t, const uint8_t *req,
		     size_t len, uint64_t *version, uint64_t *log_index);

/* ---- trust state and verification (itest_verify.c) -------------------- */

#define ITEST_MAX_CPS 4096

/* What a verifying client remembers: every checkpoint it has verified
 * (size -> root), checked for forks. */
typedef struct itest_trust {
	const itest_ktd *k;
	uint64_t size[ITEST_MAX_CPS];
	uint8_t root[ITEST_MAX_CPS][32];
	size_t n;
	uint64_t newest;
} itest_trust;

void itest_trust_init(itest_trust *t, const itest_ktd *k);

/* Opens a checkpoint note with k's log key and origin, records it (a
 * different root for a known size fails the test: a fork) and returns its
 * size and root (either may be NULL).  Returns KT_OK or the verifier's
 * error (nothing recorded). */
int itest_trust_checkpoint(itest_trust *t, const uint8_t *note, size_t len,
			   uint64_t *size, uint8_t root[32]);

/* The recorded root of size, or NULL. */
const uint8_t *itest_trust_root(const itest_trust *t, uint64_t size);

/* The decoded, verified head of a read response. */
typedef struct itest_head {
	uint64_t size;
	uint8_t root[32];
	kt_log_entry last;               /* the entry at size - 1 */
} itest_head;

struct Keytrail__V1__ReadHead;
struct Keytrail__V1__LookupResponse;
struct Keytrail__V1__HistoryResponse;

/* Verifies a ReadHead: checkpoint signature and origin, size, the
 * consistency proof from last_verified (0 = none; its root must be known
 * to t), the last entry's inclusion.  Returns KT_OK or the first error. */
int itest_verify_head(itest_trust *t, const struct Keytrail__V1__ReadHead *h,
		      uint64_t last_verified, itest_head *out);

/* What a verified lookup says. */
typedef struct itest_lookup {
	itest_head head;
	uint8_t index[KT_INDEX_BYTES];
	int exists;
	kt_map_leaf leaf;
	kt_account_value value;          /* owned: kt_account_value_free */
	kt_provenance prov;
} itest_lookup;

/* Verifies a LookupResponse for account as a sender's client does: head,
 * VRF proof, map proof against the last entry's map root (inclusion or
 * absence), the commitment opening, strict decoding and key validation of
 * the value.  Returns KT_OK or the first error; out->value is freed by the
 * caller either way. */
int itest_verify_lookup(itest_trust *t, const struct Keytrail__V1__LookupResponse *r,
			const char *account, uint64_t last_verified,
			itest_lookup *out);

/* Verifies a HistoryResponse as an owner's monitor does, from version 1:
 * head, VRF and map proof of the leaf, every version's entry (inclusion at
 * the head, index and leaf fields), commitment, the history chain
 * (kt_history_verify) and every transition (kt_provenance_check_transition
 * plus the device / registrar signature of each version).  *n_out: number
 * of versions.  Returns KT_OK or the first error. */
int itest_verify_history(itest_trust *t, const struct Keytrail__V1__HistoryResponse *r,
			 const char *account, size_t *n_out);

/* Looks account up at tree_size (0 = newest) with last_verified and
 * verifies the answer (fails the test if the call or a check fails). */
void itest_lookup_verified(itest_ktd *k, itest_trust *t, const char *account,
			   uint64_t tree_size, uint64_t last_verified,
			   itest_lookup *out);

/* GetCheckpoint; returns the newest checkpoint note (heap) and records it. */
uint8_t *itest_get_checkpoint(itest_ktd *k, itest_trust *t, size_t *len,
			      uint64_t *size);

/* Checks the consistency proof between two recorded sizes (GetConsistency
 * Proof), with a forgery twin (a flipped root bit must fail). */
void itest_check_consistency(itest_ktd *k, itest_trust *t, uint64_t from,
			     uint64_t to);

/* Checks consistency between every pair of recorded checkpoints (i < j)
 * with GetConsistencyProof, up to max_pairs pairs (evenly spread). */
void itest_check_all_consistency(itest_ktd *k, itest_trust *t, size_t max_pairs);

/* GetEntries of the whole tree (pages of page entries): the leaf hashes
 * must give the root of every recorded checkpoint. */
void itest_check_entries(itest_ktd *k, itest_trust *t, uint32_t page);

#endif /* KT_ITEST_H */
