/*
 * net.h — the gRPC (C core) server layer of ktd.
 *
 * The application hands kt_net_start() a table of unary methods.  For every
 * (method, listener) pair the layer keeps `outstanding` requests posted with
 * gRPC at all times; one completion queue is drained by `workers` threads,
 * each arriving call is dispatched to the method's handler on a worker
 * thread, and the reply goes back as one batch (initial metadata, message,
 * status, close).  The layer knows nothing about the application's methods
 * or message types; it adds only:
 *
 *   - grpc.health.v1.Health/Check on every listener (Watch is not offered,
 *     so a Watch call gets UNIMPLEMENTED);
 *   - UNIMPLEMENTED for every other method name (gRPC core itself would let
 *     such a call hang until its deadline);
 *   - RESOURCE_EXHAUSTED (from gRPC) for a message over max_message.
 *
 * LISTENERS AND mTLS.  Each listener is one address with its own
 * credentials (plaintext, TLS, or TLS that requires and verifies a client
 * certificate against a CA) and is served by its own grpc_server; all of
 * them share the completion queue and the workers.  A method is registered
 * only on the listeners named by its `listeners` bit mask, so a method
 * limited to an mTLS listener does not exist (UNIMPLEMENTED) on the others:
 * this is how the Admin service is put behind client certificates while
 * Directory stays public.
 *
 * HANDLER CONTRACT.
 *
 *   int handler(void *app, const kt_net_call *call, kt_net_reply *reply);
 *
 *   - Runs on a worker thread; several handlers run at once (thread safety
 *     is the application's business).  It may block, but every blocked
 *     handler pins a worker: long waits (an update waiting for its batch to
 *     commit) should use deferred completion instead.
 *   - `call` and everything it points to (body, metadata, peer) are valid
 *     until the handler returns, and no longer.
 *   - Return KT_OK: the reply is sent as set with kt_net_reply_status() /
 *     kt_net_reply_take_body() / kt_net_reply_copy_body(); by default status
 *     OK with an empty message.  With a non-OK status no message is sent.
 *   - Return KT_NET_DEFERRED: the reply will be given later by exactly one
 *     kt_net_complete(call->handle, ...) from any thread; that call may even
 *     happen before the handler returns.  Anything set on `reply` is ignored.
 *   - Return a negative kt_err code: the client gets INTERNAL "internal
 *     error" and the code is logged (event=net_handler_error).
 *
 * SHUTDOWN.  kt_net_stop() stops accepting calls, cancels the calls in
 * progress, answers every still-deferred call with UNAVAILABLE "server
 * shutting down", waits for the running handlers to return, and joins the
 * workers.  A kt_net_complete() on a handle after that (or a second one on
 * the same handle) returns KT_ERR_NET_STALE and touches nothing; it remains
 * safe until kt_net_free() — the application must stop completing before it
 * frees the net (e.g. stop the sequencer between kt_net_stop and
 * kt_net_free).
 */
#ifndef KT_SERVER_NET_H
#define KT_SERVER_NET_H

#include <stddef.h>
#include <stdint.h>

#include "kt_err.h"

/* Handler return value: the reply will come from kt_net_complete(). */
#define KT_NET_DEFERRED 1

#define KT_NET_MAX_LISTENERS 8
#define KT_NET_MAX_METHODS 64
#define KT_NET_MAX_WORKERS 256
#define KT_NET_MAX_OUTSTANDING 4096     /* per (method, listener) */
#define KT_NET_MAX_HEALTH_SERVICES 16
#define KT_NET_DEFAULT_WORKERS 4
#define KT_NET_DEFAULT_OUTSTANDING 16
#define KT_NET_DEFAULT_MAX_MESSAGE (4u * 1024u * 1024u)
#define KT_NET_MAX_MAX_MESSAGE (64u * 1024u * 1024u)
#define KT_NET_DEFAULT_MAX_INFLIGHT 20000u
#define KT_NET_MAX_MAX_INFLIGHT 1000000u
#define KT_NET_MAX_DETAILS 1024         /* status details are cut to this */

/* gRPC status codes used by handlers (same values as grpc_status_code, so
 * handlers need not include grpc headers). */
enum {
	KT_GRPC_OK = 0,
	KT_GRPC_CANCELLED = 1,
	KT_GRPC_UNKNOWN = 2,
	KT_GRPC_INVALID_ARGUMENT = 3,
	KT_GRPC_DEADLINE_EXCEEDED = 4,
	KT_GRPC_NOT_FOUND = 5,
	KT_GRPC_ALREADY_EXISTS = 6,
	KT_GRPC_PERMISSION_DENIED = 7,
	KT_GRPC_RESOURCE_EXHAUSTED = 8,
	KT_GRPC_FAILED_PRECONDITION = 9,
	KT_GRPC_ABORTED = 10,
	KT_GRPC_OUT_OF_RANGE = 11,
	KT_GRPC_UNIMPLEMENTED = 12,
	KT_GRPC_INTERNAL = 13,
	KT_GRPC_UNAVAILABLE = 14,
	KT_GRPC_DATA_LOSS = 15,
	KT_GRPC_UNAUTHENTICATED = 16
};

typedef struct kt_net kt_net;
typedef struct kt_net_reply kt_net_reply;
struct kt_net_slot;

/* Names one call for deferred completion.  Copy it freely (by value); it
 * stays safe to use (though perhaps stale) until kt_net_free(). */
typedef struct kt_net_handle {
	kt_net *net;
	struct kt_net_slot *slot;
	uint64_t gen;
} kt_net_handle;

/* One arriving call, as a handler sees it.  Read-only; valid until the
 * handler returns (see the contract above). */
typedef struct kt_net_call {
	const uint8_t *body;     /* request message bytes; NULL iff body_len 0 */
	size_t body_len;         /* at most max_message */
	const char *method;      /* full name from the table, "/pkg.Svc/Method" */
	void *method_arg;        /* kt_net_method.arg of this method */
	const char *peer;        /* "ipv4:127.0.0.1:40312" or "" if unknown */
	unsigned listener;       /* index of the listener the call came in on */
	kt_net_handle handle;    /* for KT_NET_DEFERRED + kt_net_complete() */
	const void *md;          /* private: request metadata (grpc_metadata_array) */
} kt_net_call;

typedef int (*kt_net_handler)(void *app, const kt_net_call *call, kt_net_reply *reply);

/* One unary method.  Strings are copied by kt_net_start(). */
typedef struct kt_net_method {
	const char *name;        /* "/keytrail.v1.Directory/Lookup" */
	kt_net_handler handler;
	void *arg;               /* handed to the handler as call->method_arg */
	unsigned outstanding;    /* requests kept posted per listener; 0 = default */
	unsigned listeners;      /* bit i = served on listener i; 0 = on all */
} kt_net_method;

/* One listening address.  The PEM strings are read by kt_net_start() only. */
typedef struct kt_net_listener {
	const char *addr;        /* "127.0.0.1:0" (0 = any free port), "[::]:7443" */
	const char *tls_cert_pem;      /* NULL = plaintext (h2c) */
	const char *tls_key_pem;       /* required with tls_cert_pem */
	const char *tls_client_ca_pem; /* non-NULL = mTLS: a client certificate
	                                  signed by this CA is required */
} kt_net_listener;

typedef struct kt_net_config {
	const kt_net_listener *listeners; /* 1..KT_NET_MAX_LISTENERS */
	size_t n_listeners;
	const kt_net_method *methods;     /* 0..KT_NET_MAX_METHODS, unique names */
	size_t n_methods;
	void *app;               /* first argument of every handler */
	unsigned workers;        /* completion-queue threads; 0 = default 4 */
	uint32_t max_message;    /* max request and response size in bytes;
	                            0 = default 4 MiB */
	unsigned max_inflight;   /* calls accepted and not yet answered
	                            (deferred ones included): once this many
	                            are in progress, requests consumed are not
	                            replaced, so further calls wait inside gRPC
	                            until calls finish.  A soft bound: requests
	                            already posted (outstanding per method and
	                            listener) may still be matched.
	                            0 = default 20000 */
	/* Health service names (besides "", always known) answered by
	 * Health/Check, e.g. "keytrail.v1.Directory"; NULL-terminated list or
	 * NULL.  Unknown names get NOT_FOUND, as the health protocol says. */
	const char *const *health_services;
} kt_net_config;

/* Validates cfg, creates the servers, binds every listener, starts the
 * workers and returns the running layer in *out (NULL on failure).
 * Health starts NOT_SERVING: call kt_net_set_serving() once ready.
 * Calls grpc_init() (balanced in kt_net_stop) and routes gRPC's own log
 * lines to kt_slog (event=grpc).
 * Returns KT_OK; KT_ERR_INVALID_ARG for a bad config (counts over caps,
 * duplicate or malformed method names, a TLS key without certificate, ...);
 * KT_ERR_NET_LISTEN if an address cannot be bound (in use, unresolvable, or
 * unusable TLS credentials; details are logged); KT_ERR_NOMEM;
 * KT_ERR_INTERNAL if gRPC refuses a registration or a thread cannot start.
 * Not thread safe with itself (call once from main). */
KT_MUST_CHECK int kt_net_start(const kt_net_config *cfg, kt_net **out);

/* Returns the port bound by listener i (the real port when its address
 * asked for :0), or 0 if i is out of range.  Thread safe. */
int kt_net_port(const kt_net *net, size_t i);

/* Returns the effective max message size in bytes (the configured one or
 * the default), 0 if net is NULL.  Thread safe. */
uint32_t kt_net_max_message(const kt_net *net);

/* Sets what Health/Check answers for "" and every configured service name:
 * SERVING if serving is nonzero, else NOT_SERVING.  Thread safe. */
void kt_net_set_serving(kt_net *net, int serving);

/* Returns the value for request metadata key (lowercase, e.g.
 * "x-keytrail-admin") and its length in *len, or NULL (and *len = 0) if the
 * call has no such key.  With several values, the first one.  The value is
 * borrowed from the call: valid until the handler returns; not
 * NUL-terminated.  Binary ("-bin") values are already base64-decoded. */
const uint8_t *kt_net_call_metadata(const kt_net_call *call, const char *key, size_t *len);

/* Sets the status of a synchronous reply (KT_GRPC_*) and optional details
 * (copied, cut to KT_NET_MAX_DETAILS bytes; NULL = none).  Calling it again
 * replaces both. */
void kt_net_reply_status(kt_net_reply *reply, int status, const char *details);

/* Gives the reply message: takes ownership of body (from malloc; freed with
 * free() by the layer once sent, or at once on failure).  Replaces an
 * earlier body.  Returns KT_OK, or KT_ERR_INVALID_ARG (body NULL with
 * len > 0; body is then not freed). */
KT_MUST_CHECK int kt_net_reply_take_body(kt_net_reply *reply, void *body, size_t len);

/* Same, but copies len bytes from body (NULL allowed with len 0). */
KT_MUST_CHECK int kt_net_reply_copy_body(kt_net_reply *reply, const void *body, size_t len);

/* Completes a deferred call from any thread: sends status (KT_GRPC_*),
 * details (copied; NULL = none) and, if status is OK, a message of len
 * bytes copied from body (NULL allowed with len 0).  Must be called once per
 * deferred call.  Returns KT_OK; KT_ERR_NET_STALE if the handle no longer
 * names a pending call (already completed, its handler did not return
 * KT_NET_DEFERRED, or the call was answered by kt_net_stop()) — nothing is
 * sent then; KT_ERR_INVALID_ARG (body NULL with len > 0); KT_ERR_NOMEM.
 * Thread safe; must not be called after kt_net_free(). */
KT_MUST_CHECK int kt_net_complete(kt_net_handle handle, int status, const char *details,
                                  const void *body, size_t len);

/* Stops the layer as described above; blocks until every call is answered
 * and the workers have exited, then calls grpc_shutdown_blocking().
 * Idempotent.  Must not be called from a handler.  Not thread safe with
 * kt_net_free(). */
void kt_net_stop(kt_net *net);

/* Stops the layer if running and frees it.  NULL is a no-op.  No thread may
 * use net (or a handle into it) afterwards. */
void kt_net_free(kt_net *net);

#endif /* KT_SERVER_NET_H */
