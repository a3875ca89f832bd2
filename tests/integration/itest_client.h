/*
 * itest_client.h — integration checks through the client library's
 * verifier (client/kt_verify.h), when it is built (KT_ITEST_CLIENT_VERIFY).
 * A persistent trust state as a sender's client keeps it: every lookup
 * asks for the consistency proof from the last verified checkpoint,
 * verifies the head (rollback, fork, consistency, age) and adopts the new
 * state.  Failures fail the test.
 */
#ifndef KT_ITEST_CLIENT_H
#define KT_ITEST_CLIENT_H

#include "itest.h"

#ifdef KT_ITEST_CLIENT_VERIFY
#include "kt_verify.h"

typedef struct itest_client {
	kt_trust_config cfg;
	kt_trust_state st;
	kt_verified_head head;      /* the last verified head */
} itest_client;

/* Trusts k's dev keys (no witness policy: a dev node has no witnesses). */
void itest_client_init(itest_client *c, const itest_ktd *k);
void itest_client_free(itest_client *c);

/* Lookup at the newest checkpoint, verified with kt_verify_head +
 * kt_verify_lookup (and a forgery twin: a changed opening must fail).
 * *res is the caller's (kt_lookup_result_free). */
void itest_client_lookup(itest_client *c, itest_ktd *k, const char *account,
			 kt_lookup_result *res);

/* History signed by signer's device, verified with kt_verify_leaf +
 * kt_verify_history from version 1 with the owner set own.  Returns the
 * number of versions; *rep is the caller's (kt_history_report_free). */
size_t itest_client_history(itest_client *c, itest_ktd *k, const char *account,
			    const itest_device *signer, const kt_owner_set *own,
			    kt_history_report *rep);
#endif

#endif /* KT_ITEST_CLIENT_H */
