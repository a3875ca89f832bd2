/*
 * kt_err.h — the one error enum of keytrail.
 *
 * Every function in merkle/, server/ and client/ that can fail returns an int
 * that is KT_OK (0) or one of the negative codes below.  The numbers are
 * stable: a code is never renumbered or reused.  A retired code stays in the
 * list as KT_ERR_OBSOLETE_nn.  New codes are appended at the end of their
 * block.
 */
#ifndef KT_ERR_H
#define KT_ERR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Put on every verifier and every function whose failure must be handled. */
#if defined(__GNUC__) || defined(__clang__)
#define KT_MUST_CHECK __attribute__((warn_unused_result))
#else
#define KT_MUST_CHECK
#endif

typedef enum kt_err {
	KT_OK = 0,

	/* -1 .. -19: generic */
	KT_ERR_NOMEM = -1,              /* allocation failed */
	KT_ERR_INVALID_ARG = -2,        /* a caller passed an impossible argument */
	KT_ERR_INTERNAL = -3,           /* an invariant broke: a bug */
	KT_ERR_STORAGE = -4,            /* a node store / database read or write failed */
	KT_ERR_NOT_FOUND = -5,          /* a looked-up item does not exist */
	KT_ERR_IO = -6,                 /* file or socket I/O failed */
	KT_ERR_UNSUPPORTED = -7,        /* a valid but unsupported feature */

	/* -20 .. -39: decoding of the fixed binary encodings */
	KT_ERR_TRUNCATED = -20,         /* input ended before the structure did */
	KT_ERR_TRAILING = -21,          /* bytes left over after the structure */
	KT_ERR_TOO_LARGE = -22,         /* a length or count is over its cap */
	KT_ERR_BAD_TYPE = -23,          /* an unknown type / kind / operation byte */
	KT_ERR_NONCANONICAL = -24,      /* valid bytes, but not the one canonical form
	                                   (unsorted devices, duplicate ids, ...) */
	KT_ERR_BAD_LENGTH = -25,        /* a length below its minimum (e.g. empty id) */
	KT_ERR_BAD_UTF8 = -26,          /* text that must be UTF-8 is not */
	KT_ERR_BAD_BASE64 = -27,        /* malformed base64 */

	/* -40 .. -59: keys and signatures */
	KT_ERR_BAD_KEY = -40,           /* not a valid public key (off curve, small order) */
	KT_ERR_BAD_SIGNATURE = -41,     /* a signature does not verify */
	KT_ERR_BAD_KEY_TYPE = -42,      /* unknown key or signature type byte */
	KT_ERR_BAD_VERIFIER_KEY = -43,  /* a malformed name+hash+key verifier string */
	KT_ERR_KEY_HASH_MISMATCH = -44, /* key hash in a verifier key does not match the key */

	/* -60 .. -79: log tree (RFC 9162) */
	KT_ERR_LOG_BAD_SIZE = -60,      /* index/size outside the tree, size1 > size2, size 0 */
	KT_ERR_LOG_PROOF_LENGTH = -61,  /* proof has the wrong number of hashes */
	KT_ERR_LOG_ROOT_MISMATCH = -62, /* the proof computes another root */
	KT_ERR_LOG_BAD_HASH = -63,      /* a hash that is not 32 bytes */

	/* -80 .. -99: prefix tree (map) */
	KT_ERR_MAP_ROOT_MISMATCH = -80, /* the map proof computes another root */
	KT_ERR_MAP_BAD_PROOF = -81,     /* structurally invalid map proof */
	KT_ERR_MAP_WRONG_KIND = -82,    /* inclusion given where absence expected, or back */
	KT_ERR_MAP_DEPTH = -83,         /* two indices share all 256 bits / depth > 256 */

	/* -100 .. -119: ECVRF */
	KT_ERR_VRF_BAD_PROOF = -100,    /* proof does not verify */
	KT_ERR_VRF_BAD_POINT = -101,    /* non-canonical or small-order point */
	KT_ERR_VRF_BAD_SCALAR = -102,   /* non-canonical scalar s */
	KT_ERR_VRF_HASH_TO_CURVE = -103,/* try-and-increment found no point */

	/* -120 .. -139: signed notes, checkpoints, cosignatures */
	KT_ERR_NOTE_MALFORMED = -120,   /* not a well-formed signed note */
	KT_ERR_NOTE_NO_VERIFIED_SIG = -121, /* no signature by any known key verifies */
	KT_ERR_NOTE_DUPLICATE_SIG = -122,   /* a known key signed twice */
	KT_ERR_NOTE_BAD_SIG = -123,     /* a signature by a known key (name+hash) fails */
	KT_ERR_CHECKPOINT_MALFORMED = -124, /* body is not a tlog-checkpoint */
	KT_ERR_CHECKPOINT_ORIGIN = -125,/* checkpoint of another origin */
	KT_ERR_COSIG_MALFORMED = -126,  /* malformed cosignature line */
	KT_ERR_NOTE_BAD_SIGNER_KEY = -127, /* a malformed PRIVATE+KEY+... signer key string */

	/* -140 .. -159: commitments, history, entries */
	KT_ERR_COMMITMENT_MISMATCH = -140, /* opening does not open the commitment */
	KT_ERR_HISTORY_MISMATCH = -141,    /* history chain does not reach the expected head */
	KT_ERR_VERSION_GAP = -142,         /* versions are not consecutive */
	KT_ERR_LEAF_MISMATCH = -143,       /* entry/leaf fields disagree */
	KT_ERR_DEVICE_EXISTS = -144,       /* the account already has a device with this id */
	KT_ERR_PROVENANCE_OP = -145,       /* provenance carries an operation its type may not authorise */
	KT_ERR_NOOP_CHANGE = -146,         /* the operation would leave the value unchanged */
	KT_ERR_VALUE_MISMATCH = -147,      /* committed value is not the previous value with the operation applied */

	/* -160 .. -199: server (ktd) */
	KT_ERR_STORAGE_FORMAT = -160,      /* database has another on-disk format version */
	KT_ERR_STORAGE_PRUNED = -161,      /* a read at a version older than the prune boundary */
	KT_ERR_CONFIG_SYNTAX = -162,       /* a config line that is not `name = value` */
	KT_ERR_CONFIG_UNKNOWN = -163,      /* an unknown config option */
	KT_ERR_CONFIG_VALUE = -164,        /* a malformed config value (number, duration, ...) */
	KT_ERR_CONFIG_RANGE = -165,        /* a config value outside the option's bounds */
	KT_ERR_CONFIG_DUPLICATE = -166,    /* a scalar option set twice, a list value repeated */
	KT_ERR_CONFIG_INVALID = -167,      /* options that contradict each other / required unset */
	KT_ERR_NET_LISTEN = -168,          /* cannot listen on an address (in use, bad address, bad TLS credentials) */
	KT_ERR_NET_STALE = -169,           /* a deferred-call handle that no longer names a pending call */
	KT_ERR_VERSION_MISMATCH = -170,     /* expected_version is not the account's current version */
	KT_ERR_ALREADY_APPLIED = -171,      /* a batch at or below the applied index (replayed) */
	KT_ERR_BUSY = -172,                 /* the sequencer queue is full; retry later */
	KT_ERR_UNAVAILABLE = -173,          /* the node is stopping or cannot serve */
	KT_ERR_NOT_LEADER = -174,           /* this node is not the leader (writes go to the leader) */
	KT_ERR_NO_ACCOUNT = -175,           /* the account does not exist */
	KT_ERR_UNAUTHORISED = -176,         /* the signer is not a device of the account / bad credential */
	KT_ERR_TOKEN_EXPIRED = -177,        /* a registrar token past its expiry (or too far in the future) */
	KT_ERR_UNKNOWN_REGISTRAR = -178,    /* a registrar key that is not configured */
	KT_ERR_ADMIN_DENIED = -179,         /* missing or wrong admin credential */
	KT_ERR_RATE_LIMITED = -180,         /* a per-peer rate limit was hit */
	KT_ERR_NO_CHECKPOINT = -181,        /* no signed checkpoint at the requested tree size */
	KT_ERR_STALE_REQUEST = -182,        /* a signed request whose timestamp is outside the allowed skew */
	KT_ERR_KEYS = -183,                 /* a key file is missing, unreadable or malformed */
	KT_ERR_ACCOUNT_EXISTS = -184,       /* enrolment of an account that already has devices (use recovery) */
	KT_ERR_UNKNOWN_WITNESS = -185,      /* a cosignature by a key that is not a configured witness */
	KT_ERR_TOKEN_USED = -186,           /* a registrar token that already authorised a change (single-use) */
	/* -200 .. -249: client (libkeytrail) */
	KT_ERR_CLIENT_CONFIG = -200,        /* invalid trust configuration (keys, threshold, mode, limits) */
	KT_ERR_CLIENT_STATE = -201,         /* trust state malformed or not signed by the configured log */
	KT_ERR_CLIENT_CHECKPOINT_SIG = -202, /* checkpoint note not validly signed by the log key */
	KT_ERR_CLIENT_CHECKPOINT_ORIGIN = -203, /* checkpoint signed by the log key for another origin */
	KT_ERR_CLIENT_SIZE_MISMATCH = -204, /* checkpoint size differs from the response's tree size */
	KT_ERR_CLIENT_WITNESS_POLICY = -205, /* fewer than k of the n configured witnesses cosigned */
	KT_ERR_CLIENT_LAG = -206,           /* bounded lag: uncosigned and the last cosigned checkpoint is too old */
	KT_ERR_CLIENT_ROLLBACK = -207,      /* checkpoint smaller than the trusted one */
	KT_ERR_CLIENT_FORK = -208,          /* same tree size as the trusted checkpoint, another root */
	KT_ERR_CLIENT_INCONSISTENT = -209,  /* consistency proof from the trusted checkpoint fails */
	KT_ERR_CLIENT_EMPTY_LOG = -210,     /* checkpoint of an empty tree (no last entry) */
	KT_ERR_CLIENT_ENTRY_MALFORMED = -211, /* a log entry does not decode or has the wrong type */
	KT_ERR_CLIENT_ENTRY_INCLUSION = -212, /* a log entry's inclusion proof fails */
	KT_ERR_CLIENT_STALE = -213,         /* last entry older than the maximum checkpoint age */
	KT_ERR_CLIENT_FUTURE = -214,        /* last entry timestamp too far in the future */
	KT_ERR_CLIENT_TIME_ORDER = -215,    /* last entry older than the trusted checkpoint's last entry */
	KT_ERR_CLIENT_VRF = -216,           /* the account's VRF proof fails */
	KT_ERR_CLIENT_LEAF_MALFORMED = -217, /* map leaf malformed, version 0, or log_index outside the tree */
	KT_ERR_CLIENT_MAP_PROOF = -218,     /* map inclusion / absence proof fails against the map root */
	KT_ERR_CLIENT_OPENING = -219,       /* commitment does not open to the value and provenance */
	KT_ERR_CLIENT_VALUE_MALFORMED = -220, /* account value does not decode */
	KT_ERR_CLIENT_VALUE_INVALID = -221, /* a device key in the value is invalid */
	KT_ERR_CLIENT_PROVENANCE_MALFORMED = -222, /* provenance does not decode */
	KT_ERR_CLIENT_ENTRY_MISMATCH = -223, /* history entry for another index, log_index or leaf */
	KT_ERR_CLIENT_VERSION_GAP = -224,   /* history versions not consecutive from the last checked one */
	KT_ERR_CLIENT_HISTORY = -225,       /* history chain does not link the checked version to the current leaf */
	KT_ERR_CLIENT_TRANSITION = -226,    /* a version is not the previous value with its operation applied */
	KT_ERR_CLIENT_PROVENANCE_SIG = -227, /* a device or registrar signature in a provenance fails */
	/* -236 .. -249: libkeytrail transport, server refusals, key files, sealing */
	KT_ERR_CLIENT_UNAVAILABLE = -236,   /* no endpoint could be reached (gRPC UNAVAILABLE on every endpoint) */
	KT_ERR_CLIENT_DEADLINE = -237,      /* the call deadline passed on every endpoint */
	KT_ERR_CLIENT_INVALID_REQUEST = -238, /* server refused the request: INVALID_ARGUMENT / OUT_OF_RANGE */
	KT_ERR_CLIENT_DENIED = -239,        /* server refused: PERMISSION_DENIED / UNAUTHENTICATED */
	KT_ERR_CLIENT_PRECONDITION = -240,  /* server refused: FAILED_PRECONDITION / ABORTED (e.g. version changed) */
	KT_ERR_CLIENT_LIMITED = -241,       /* server refused: RESOURCE_EXHAUSTED (rate limit, caps) */
	KT_ERR_CLIENT_NOT_FOUND = -242,     /* server answered NOT_FOUND */
	KT_ERR_CLIENT_SERVER = -243,        /* server failed with another gRPC status (INTERNAL, UNIMPLEMENTED, ...) */
	KT_ERR_CLIENT_PROTOCOL = -244,      /* an OK response that does not decode or lacks a required field */
	KT_ERR_CLIENT_KEY_FILE = -245,      /* a key file readable by group/others, not a regular file, or malformed */
	KT_ERR_CLIENT_NO_DEVICES = -246,    /* sealing to an account that is absent or has no device */
	KT_ERR_CLIENT_DECRYPT = -247,       /* a sealed box does not open with this device's key */
	KT_ERR_CLIENT_TLS_CERT = -248,      /* TLS client certificate or key malformed, or the key does not match the certificate */
} kt_err;

/* Returns a static, human-readable description of code; never NULL.
 * Unknown codes give "unknown error".  Thread safe. */
const char *kt_strerror(int code);

/* Returns the symbolic name of code ("KT_ERR_TRUNCATED"), or "KT_ERR_UNKNOWN".
 * Static storage; thread safe.  Used in machine-readable evidence. */
const char *kt_errname(int code);

/* Writes a printf-style one-line reason into the caller's buffer err of
 * errlen bytes (always NUL-terminated, cut if too long).  err may be NULL
 * or errlen 0: then nothing is written.  Thread safe.  The one helper behind
 * every "err, errlen" out-parameter of server/ and client/. */
void kt_err_format(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#ifdef __cplusplus
}
#endif
#endif /* KT_ERR_H */
