/*
 * kt_grpc_client.h — a small gRPC C core client for tests and the load
 * generator: unary calls with raw request bytes and metadata, answered with
 * the status code, the details and the raw response bytes.
 *
 * Two ways to call:
 *   - kt_gc_call(): one blocking call;
 *   - kt_gc_async_*: many calls in flight on one completion queue, each
 *     named by a caller tag; poll completions with kt_gc_async_next().
 *
 * Every function returns KT_OK or a negative kt_err code for a LOCAL
 * failure (bad argument, out of memory, gRPC refused to start the call).
 * A call that reached any end — including a refused connection
 * (UNAVAILABLE) or a deadline — is KT_OK, with the gRPC status in the
 * result.  Not for production use: no retries, no channel tuning.
 */
#ifndef KT_GRPC_CLIENT_H
#define KT_GRPC_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "kt_err.h"

typedef struct kt_gc kt_gc;
typedef struct kt_gc_async kt_gc_async;

/* TLS for kt_gc_open(); all PEM strings are copied by gRPC. */
typedef struct kt_gc_tls {
	const char *root_pem;    /* CA that signed the server certificate */
	const char *cert_pem;    /* client certificate (mTLS) or NULL */
	const char *key_pem;     /* its private key, with cert_pem */
	const char *server_name; /* name checked in the server certificate
	                            instead of the target host; NULL = host */
} kt_gc_tls;

/* The end of one call.  Owns details and body: release with
 * kt_gc_result_clear(). */
typedef struct kt_gc_result {
	int status;          /* gRPC status code (0 = OK) */
	char *details;       /* NUL-terminated status details ("" if none) */
	uint8_t *body;       /* response message or NULL */
	size_t body_len;
	int has_body;        /* 1 if the server sent a message (even empty) */
} kt_gc_result;

/* Opens a channel to target ("127.0.0.1:PORT"), plaintext if tls is NULL,
 * with its own TCP connection (so a load generator can spread calls over
 * several connections by opening several channels).
 * Calls grpc_init() (balanced by kt_gc_close).  Returns KT_OK with *out
 * set, KT_ERR_INVALID_ARG, KT_ERR_NOMEM or KT_ERR_INTERNAL; *out is NULL on
 * failure.  Connecting is lazy: a closed port shows up as UNAVAILABLE in the
 * first call's result. */
KT_MUST_CHECK int kt_gc_open(const char *target, const kt_gc_tls *tls, kt_gc **out);

/* Closes the channel.  Every async context on it must be freed first.
 * NULL is a no-op. */
void kt_gc_close(kt_gc *c);

/* Frees what r owns and zeroes it (status 0).  NULL is a no-op. */
void kt_gc_result_clear(kt_gc_result *r);

/* One blocking unary call of method ("/pkg.Svc/Method") with len request
 * bytes (req may be NULL if len is 0) and metadata md: a NULL-terminated
 * list of key, value, key, value... (lowercase keys), or NULL.
 * timeout_ms <= 0 means no deadline.  Fills *res (cleared first).
 * Safe from up to 4 threads at once on one kt_gc. */
KT_MUST_CHECK int kt_gc_call(kt_gc *c, const char *method, const void *req, size_t len,
                             const char *const *md, int timeout_ms, kt_gc_result *res);

/* Creates a context for calls in flight on channel c.  One thread at a
 * time per context. */
KT_MUST_CHECK int kt_gc_async_new(kt_gc *c, kt_gc_async **out);

/* Starts one call (arguments as kt_gc_call); its completion is reported by
 * kt_gc_async_next() with tag.  The request bytes are copied. */
KT_MUST_CHECK int kt_gc_async_start(kt_gc_async *a, const char *method, const void *req,
                                    size_t len, const char *const *md, int timeout_ms,
                                    void *tag);

/* Waits up to timeout_ms (< 0: forever) for one started call to end.
 * Returns 1 with *tag and *res (cleared first) filled, 0 if none ended in
 * time (or none is pending), or a negative kt_err code. */
KT_MUST_CHECK int kt_gc_async_next(kt_gc_async *a, int timeout_ms, void **tag,
                                   kt_gc_result *res);

/* Number of started calls not yet returned by kt_gc_async_next(). */
size_t kt_gc_async_pending(const kt_gc_async *a);

/* Cancels the pending calls, waits for them and frees a.  NULL is a no-op. */
void kt_gc_async_free(kt_gc_async *a);

#endif /* KT_GRPC_CLIENT_H */
