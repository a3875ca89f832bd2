/*
 * client_test_state.c — libkeytrail's verified reads and its trust state
 * file, against a fake server (client_fake.h) serving a real log and map
 * (tests/support/kt_fake_log.c) through the transport hook.
 *
 * Covered: a lookup persists the state (mode 0600, no temporary file
 * left, decodes and re-verifies); a failed verification (tampered
 * opening, value, checkpoint signature, garbage answer, server rolled
 * back) and a failing write (file size limit) leave the state file
 * byte-identical and no result; a state file
 * rolled back under a running client is refused (and a fresh client
 * accepts it); monitoring persists per-account progress and flags the
 * operator's change; failover over endpoints and the status mapping;
 * updates carry a signature bound to the verified version; checkpoint
 * refresh; the witness policy through GetCheckpoint.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <signal.h>
#include <sys/resource.h>

#include "client_fake.h"

typedef struct fixture {
	cf_server srv;
	char dir[64];
	char state[128];
	uint64_t t;
} fixture;

/* Log: 0 heartbeat, 1 alice enrols phone, 2 phone adds laptop,
 * 3 heartbeat. */
static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));

	if (f == NULL || kt_fake_log_new(&f->srv.fl, CF_T0) != KT_OK)
		return -1;
	f->t = CF_T0;
	f->srv.now_ms = CF_T0 + 500;
	if (kt_fake_log_heartbeat(f->srv.fl) != KT_OK)
		return -1;
	cf_tick(&f->srv, &f->t);
	if (kt_fake_log_enrol(f->srv.fl, CF_ALICE, CF_PHONE) != KT_OK)
		return -1;
	cf_tick(&f->srv, &f->t);
	if (kt_fake_log_add(f->srv.fl, CF_ALICE, CF_PHONE, CF_LAPTOP) != KT_OK)
		return -1;
	cf_tick(&f->srv, &f->t);
	if (kt_fake_log_heartbeat(f->srv.fl) != KT_OK)
		return -1;
	cf_tmpdir(f->dir, sizeof(f->dir));
	if (f->dir[0] == '\0')
		return -1;
	snprintf(f->state, sizeof(f->state), "%s/trust.state", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;

	cf_rmdir(f->dir);
	kt_fake_log_free(f->srv.fl);
	free(f);
	return 0;
}

static kt_client *open_client(fixture *f, const char *state_path,
			      size_t n_endpoints, unsigned k)
{
	kt_client_config *cfg = cf_config(&f->srv, state_path, n_endpoints, k);
	kt_client *c = NULL;
	char err[256];

	assert_non_null(cfg);
	assert_int_equal(kt_client_open(cfg, &c, err, sizeof(err)), KT_OK);
	kt_client_config_free(cfg);
	return c;
}

static int lookup(kt_client *c, const char *account, kt_lookup **l)
{
	return kt_client_lookup(c, (const uint8_t *)account, strlen(account), l);
}

/* Counts directory entries whose name starts with prefix. */
static int count_files(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
			n++;
	closedir(d);
	return n;
}

/* ---- persistence ---------------------------------------------------------- */

static void test_lookup_persists_state(void **state)
{
	fixture *f = *state;
	kt_client *c = open_client(f, f->state, 1, 0);
	kt_client_state st;
	kt_lookup *l = NULL;
	kt_device_info d;
	kt_provenance_info pv;
	struct stat sb;
	uint8_t *buf;
	size_t len;

	assert_int_equal(stat(f->state, &sb), -1); /* nothing before a read */
	assert_int_equal(lookup(c, CF_ALICE, &l), KT_OK);
	assert_true(kt_lookup_present(l));
	assert_int_equal(kt_lookup_version(l), 2);
	assert_int_equal(kt_lookup_tree_size(l), 4);
	assert_int_equal(kt_lookup_device_count(l), 2);
	assert_int_equal(kt_lookup_device(l, 0, &d), KT_OK);
	assert_int_equal(kt_lookup_device(l, 2, &d), KT_ERR_INVALID_ARG);
	assert_int_equal(kt_lookup_provenance(l, &pv), KT_OK);
	assert_int_equal(pv.type, KT_PROVENANCE_DEVICE);
	assert_int_equal(pv.operation, KT_OPERATION_ADD_DEVICE);
	assert_memory_equal(pv.device_id, "phone", 5);
	assert_memory_equal(pv.target_id, "laptop", 6);
	kt_lookup_free(l);

	/* The file: mode 0600, no temporary left, decodes against the keys. */
	assert_int_equal(stat(f->state, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(count_files(f->dir, "trust.state.tmp"), 0);
	buf = cf_read(f->state, &len);
	assert_non_null(buf);
	assert_int_equal(kt_client_state_decode(&st, &c->cfg.trust, buf, len), KT_OK);
	assert_int_equal(st.trust.verified.size, 4);
	kt_client_state_free(&st);
	/* Twin: one flipped byte and it no longer decodes. */
	buf[len / 2] ^= 0x01;
	assert_int_not_equal(kt_client_state_decode(&st, &c->cfg.trust, buf, len),
			     KT_OK);
	free(buf);
	assert_int_equal(kt_client_trusted_size(c), 4);

	/* An absent account is proven absent and still advances the state. */
	cf_tick(&f->srv, &f->t);
	assert_int_equal(kt_fake_log_heartbeat(f->srv.fl), KT_OK);
	assert_int_equal(lookup(c, CF_BOB, &l), KT_OK);
	assert_false(kt_lookup_present(l));
	assert_int_equal(kt_lookup_device_count(l), 0);
	assert_int_equal(kt_lookup_provenance(l, &pv), KT_ERR_NOT_FOUND);
	kt_lookup_free(l);
	assert_int_equal(f->srv.last_lvs, 4); /* asked for consistency from 4 */
	kt_client_close(c);

	/* A new client starts from the file. */
	c = open_client(f, f->state, 1, 0);
	assert_int_equal(kt_client_trusted_size(c), 5);
	kt_client_close(c);
}

/* Each tampering makes the lookup fail with its code; the state file is
 * byte-identical afterwards and nothing is returned. */
static void test_failed_verification_leaves_file(void **state)
{
	static const struct {
		unsigned tamper;
		int code;
	} cases[] = {
		{CF_TAMPER_OPENING, KT_ERR_CLIENT_OPENING},
		{CF_TAMPER_VALUE, KT_ERR_CLIENT_OPENING},
		{CF_TAMPER_NOTE, KT_ERR_CLIENT_CHECKPOINT_SIG},
		{CF_TAMPER_GARBAGE, KT_ERR_CLIENT_PROTOCOL},
	};
	fixture *f = *state;
	kt_client *c = open_client(f, f->state, 1, 0);
	kt_lookup *l = NULL;
	uint8_t *before, *after;
	size_t blen, alen, i;
	char *json = NULL;

	assert_int_equal(lookup(c, CF_ALICE, &l), KT_OK);
	kt_lookup_free(l);
	assert_int_equal(kt_client_evidence_json(c, &json), KT_ERR_NOT_FOUND);
	cf_tick(&f->srv, &f->t);
	assert_int_equal(kt_fake_log_heartbeat(f->srv.fl), KT_OK);
	before = cf_read(f->state, &blen);
	assert_non_null(before);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		f->srv.tamper = cases[i].tamper;
		l = (kt_lookup *)(uintptr_t)1;
		assert_int_equal(lookup(c, CF_ALICE, &l), cases[i].code);
		assert_null(l);
		after = cf_read(f->state, &alen);
		assert_non_null(after);
		assert_int_equal(alen, blen);
		assert_memory_equal(after, before, blen);
		free(after);
		assert_int_equal(kt_client_trusted_size(c), 4);
		if (cases[i].code != KT_ERR_CLIENT_PROTOCOL) {
			assert_int_equal(kt_client_evidence_json(c, &json), KT_OK);
			assert_non_null(strstr(json, kt_errname(cases[i].code)));
			free(json);
			json = NULL;
			assert_non_null(kt_client_last_evidence(c));
		}
	}
	/* Twin: untampered, the same lookup passes and the file moves on. */
	f->srv.tamper = 0;
	assert_int_equal(lookup(c, CF_ALICE, &l), KT_OK);
	kt_lookup_free(l);
	assert_int_equal(kt_client_trusted_size(c), 5);
	after = cf_read(f->state, &alen);
	assert_non_null(after);
	assert_true(alen != blen || memcmp(after, before, blen) != 0);
	free(after);
	free(before);
	assert_int_equal(kt_client_evidence_json(c, &json), KT_ERR_NOT_FOUND);
	kt_client_close(c);
}

/* A server that answers at a smaller tree than the trusted one. */
static void test_server_rollback_refused(void **state)
{
	fixture *f = *state;
	kt_client *c = open_client(f, f->state, 1, 0);
	kt_lookup *l = NULL;
	uint8_t *before, *after;
	size_t blen, alen;

	assert_int_equal(lookup(c, CF_ALICE, &l), KT_OK);
	kt_lookup_free(l);
	before = cf_read(f->state, &blen);
	f->srv.serve_size = 3;
	assert_int_equal(lookup(c, CF_ALICE, &l), KT_ERR_CLIENT_ROLLBACK);
	assert_null(l);
	after = cf_read(f->state, &alen);
	assert_int_equal(alen, blen);
	assert_memory_equal(after, before, blen);
	free(after);
	/* Twin: the same size as trusted is accepted. */
	f->srv.serve_size = 4;
	assert_int_equal(lookup(c, CF_ALICE, &l), KT_OK);
	kt_lookup_free(l);
	free(before);
	kt_client_close(c);
}

/* The state file is put back to an older copy under a running client. */
static void test_file_rollback_refused(void **state)
{
	fixture *f = *state;
	kt_client *c = open_client(f, f->state, 1, 0), *c2;
	kt_lookup *l = NULL;
	uint8_t *old, *now;
	size_t olen, nlen;
	FILE *fp;

	assert_int_equal(lookup(c, CF_ALICE, &l), KT_OK);
	kt_lookup_free(l);
	old = cf_read(f->state, &olen);
	assert_non_null(old);
	cf_tick(&f->srv, &f->t);
	assert_int_equal(kt_fake_log_heartbeat(f->srv.fl), KT_OK);
	assert_int_equal(lookup(c, CF_ALICE, &l), KT_OK);
	kt_lookup_free(l);
	assert_int_equal(kt_client_trusted_size(c), 5);
	now = cf_read(f->state, &nlen);

	fp = fopen(f->state, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(old, 1, olen, fp), olen);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(kt_client_reload_state(c), KT_ERR_CLIENT_ROLLBACK);
	assert_int_equal(lookup(c, CF_ALICE, &l), KT_ERR_CLIENT_ROLLBACK);
	assert_null(l);
	assert_int_equal(kt_client_trusted_size(c), 5);

	/* Twin: a client that never saw size 5 takes the file as it is. */
	c2 = open_client(f, f->state, 1, 0);
	assert_int_equal(kt_client_trusted_size(c2), 4);
	assert_int_equal(lookup(c2, CF_ALICE, &l), KT_OK);
	kt_lookup_free(l);
	assert_int_equal(kt_client_trusted_size(c2), 5);
	kt_client_close(c2);
	/* ... after which the first client accepts the file again. */
	assert_int_equal(kt_client_reload_state(c), KT_OK);
	free(old);
	free(now);
	kt_client_close(c);
}

/* A state file that does not open with the configured log key. */
static void test_foreign_state_refused(void **state)
{
	fixture *f = *state;
	kt_client_config *cfg = cf_config(&f->srv, f->state, 1, 0);
	kt_client *c = NULL;
	char err[256];
	FILE *fp = fopen(f->state, "wb");

	assert_non_null(fp);
	assert_int_equal(fwrite("not a state", 1, 11, fp), 11);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(kt_client_open(cfg, &c, err, sizeof(err)),
			 KT_ERR_CLIENT_STATE);
	assert_null(c);
	assert_non_null(strstr(err, "state file"));
	kt_client_config_free(cfg);
}

/* A state file in a directory that does not exist, then a write that
 * fails: the verified state is not adopted, the old file stays. */
static void test_unwritable_state(void **state)
{
	fixture *f = *state;
	char path[200];
	kt_client *c;
	kt_lookup *l = NULL;
	struct rlimit old, small;
	uint8_t *before, *after;
	size_t blen, alen;
	int r;

	snprintf(path, sizeof(path), "%s/missing/trust.state", f->dir);
	c = open_client(f, path, 1, 0);
	assert_int_equal(lookup(c, CF_ALICE, &l), KT_ERR_IO);
	assert_null(l);
	assert_int_equal(kt_client_trusted_size(c), 0);
	kt_client_close(c);
	/* The write itself fails (file size limit): the old file stays, byte
	 * for byte, no temporary is left and the new state is not adopted. */
	c = open_client(f, f->state, 1, 0);
	assert_int_equal(lookup(c, CF_ALICE, &l), KT_OK);
	kt_lookup_free(l);
	cf_tick(&f->srv, &f->t);
	assert_int_equal(kt_fake_log_heartbeat(f->srv.fl), KT_OK);
	before = cf_read(f->state, &blen);
	assert_non_null(before);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	small = old;
	small.rlim_cur = 64;
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
	r = lookup(c, CF_ALICE, &l);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_DFL);
	assert_int_equal(r, KT_ERR_IO);
	assert_null(l);
	assert_int_equal(kt_client_trusted_size(c), 4);
	after = cf_read(f->state, &alen);
	assert_int_equal(alen, blen);
	assert_memory_equal(after, before, blen);
	assert_int_equal(count_files(f->dir, "trust.state.tmp"), 0);
	free(after);
	free(before);
	assert_int_equal(lookup(c, CF_ALICE, &l), KT_OK);
	kt_lookup_free(l);
	assert_int_equal(kt_client_trusted_size(c), 5);
	kt_client_close(c);
	/* Twin: without a state file the state lives in memory. */
	c = open_client(f, NULL, 1, 0);
	assert_int_equal(lookup(c, CF_ALICE, &l), KT_OK);
	kt_lookup_free(l);
	assert_int_equal(kt_client_trusted_size(c), 5);
	kt_client_close(c);
}

/* ---- monitor ----------------------------------------------------------------- */

static void test_monitor(void **state)
{
	fixture *f = *state;
	kt_client *c = open_client(f, f->state, 1, 0);
	kt_device_keys *phone = cf_slot_keys(&f->srv, CF_PHONE);
	kt_monitor_report *rep = NULL;
	kt_monitor_item it;
	const kt_acct_state *a;
	uint8_t *before, *after;
	size_t blen, alen;

	assert_non_null(phone);
	assert_int_equal(kt_client_monitor(c, (const uint8_t *)CF_ALICE,
					   strlen(CF_ALICE), phone, NULL, 0, &rep),
			 KT_OK);
	assert_int_equal(kt_monitor_report_count(rep), 2);
	assert_int_equal(kt_monitor_report_flagged(rep), 0);
	assert_int_equal(kt_monitor_report_version(rep), 2);
	assert_int_equal(kt_monitor_report_item(rep, 0, &it), KT_OK);
	assert_int_equal(it.version, 1);
	assert_int_equal(it.provenance.type, KT_PROVENANCE_REGISTRAR);
	assert_int_equal(it.provenance.operation, KT_OPERATION_ENROL);
	assert_int_equal(kt_monitor_report_item(rep, 2, &it), KT_ERR_INVALID_ARG);
	kt_monitor_report_free(rep);
	a = kt_client_state_find(&c->st, (const uint8_t *)CF_ALICE, strlen(CF_ALICE));
	assert_non_null(a);
	assert_int_equal(a->version, 2);
	assert_true(a->value_known);

	/* Nothing new: an empty report. */
	assert_int_equal(kt_client_monitor(c, (const uint8_t *)CF_ALICE,
					   strlen(CF_ALICE), phone, NULL, 0, &rep),
			 KT_OK);
	assert_int_equal(kt_monitor_report_count(rep), 0);
	assert_int_equal(kt_monitor_report_version(rep), 2);
	kt_monitor_report_free(rep);

	/* The operator adds an escrow device: reported and flagged. */
	cf_tick(&f->srv, &f->t);
	assert_int_equal(kt_fake_log_operator_add(f->srv.fl, CF_ALICE, CF_ESCROW,
						  "court order 7"), KT_OK);
	kt_client_close(c);
	c = open_client(f, f->state, 1, 0); /* progress comes from the file */
	assert_int_equal(kt_client_monitor(c, (const uint8_t *)CF_ALICE,
					   strlen(CF_ALICE), phone, NULL, 0, &rep),
			 KT_OK);
	assert_int_equal(kt_monitor_report_count(rep), 1);
	assert_int_equal(kt_monitor_report_flagged(rep), 1);
	assert_int_equal(kt_monitor_report_item(rep, 0, &it), KT_OK);
	assert_int_equal(it.version, 3);
	assert_true(it.flags & KT_MONITOR_FLAG_OPERATOR);
	assert_false(it.flags & KT_MONITOR_FLAG_UNCHECKED);
	assert_int_equal(it.provenance.type, KT_PROVENANCE_OPERATOR);
	assert_memory_equal(it.provenance.reason, "court order 7", 13);
	assert_memory_equal(it.provenance.target_id, "escrow", 6);
	kt_monitor_report_free(rep);

	/* A hidden change (history chained from zeros) fails; file intact. */
	cf_tick(&f->srv, &f->t);
	kt_fake_log_tamper_next(f->srv.fl, KT_FAKE_TAMPER_HISTORY);
	assert_int_equal(kt_fake_log_add(f->srv.fl, CF_ALICE, CF_PHONE, CF_TABLET),
			 KT_OK);
	before = cf_read(f->state, &blen);
	rep = (kt_monitor_report *)(uintptr_t)1;
	assert_int_equal(kt_client_monitor(c, (const uint8_t *)CF_ALICE,
					   strlen(CF_ALICE), phone, NULL, 0, &rep),
			 KT_ERR_CLIENT_HISTORY);
	assert_null(rep);
	after = cf_read(f->state, &alen);
	assert_int_equal(alen, blen);
	assert_memory_equal(after, before, blen);
	free(before);
	free(after);
	/* Unknown account: the server's NOT_FOUND. */
	assert_int_equal(kt_client_monitor(c, (const uint8_t *)CF_BOB,
					   strlen(CF_BOB), phone, NULL, 0, &rep),
			 KT_ERR_CLIENT_NOT_FOUND);
	kt_device_keys_free(phone);
	kt_client_close(c);
}

/* A device the owner does not list is flagged; listed, it is not. */
static void test_monitor_owner_set(void **state)
{
	fixture *f = *state;
	kt_client *c = open_client(f, NULL, 1, 0);
	kt_device_keys *laptop = cf_slot_keys(&f->srv, CF_LAPTOP);
	kt_owner_device own = {(const uint8_t *)"phone", 5, NULL};
	kt_monitor_report *rep = NULL;
	kt_monitor_item it;

	/* Monitoring as the laptop, the phone's enrolment by the registrar
	 * and the phone's addition are not the laptop's doing. */
	assert_int_equal(kt_client_monitor(c, (const uint8_t *)CF_ALICE,
					   strlen(CF_ALICE), laptop, NULL, 0, &rep),
			 KT_OK);
	assert_int_equal(kt_monitor_report_count(rep), 2);
	assert_int_equal(kt_monitor_report_item(rep, 0, &it), KT_OK);
	assert_true(it.flags & KT_MONITOR_FLAG_REGISTRAR);
	assert_int_equal(kt_monitor_report_item(rep, 1, &it), KT_OK);
	assert_true(it.flags & KT_MONITOR_FLAG_UNKNOWN_DEVICE);
	kt_monitor_report_free(rep);
	kt_client_close(c);

	/* Twin: with the phone in the owner set, version 2 is the owner's. */
	c = open_client(f, NULL, 1, 0);
	assert_int_equal(kt_client_monitor(c, (const uint8_t *)CF_ALICE,
					   strlen(CF_ALICE), laptop, &own, 1, &rep),
			 KT_OK);
	assert_int_equal(kt_monitor_report_item(rep, 1, &it), KT_OK);
	assert_int_equal(it.flags, 0);
	kt_monitor_report_free(rep);
	kt_device_keys_free(laptop);
	kt_client_close(c);
}

/* ---- transport --------------------------------------------------------------- */

static void test_failover_and_status(void **state)
{
	fixture *f = *state;
	kt_client *c = open_client(f, NULL, 3, 0);
	kt_lookup *l = NULL;
	const char *details;
	int code;

	f->srv.unavailable_mask = 0x1;
	assert_int_equal(lookup(c, CF_ALICE, &l), KT_OK);
	kt_lookup_free(l);
	assert_int_equal(f->srv.endpoint_calls[0], 1);
	assert_int_equal(f->srv.endpoint_calls[1], 1);
	/* The endpoint that answered is tried first next time. */
	assert_int_equal(lookup(c, CF_ALICE, &l), KT_OK);
	kt_lookup_free(l);
	assert_int_equal(f->srv.endpoint_calls[0], 1);
	assert_int_equal(f->srv.endpoint_calls[1], 2);

	f->srv.unavailable_mask = 0x7;
	assert_int_equal(lookup(c, CF_ALICE, &l), KT_ERR_CLIENT_UNAVAILABLE);
	kt_client_last_status(c, &code, &details);
	assert_int_equal(code, 14);
	assert_string_equal(details, "connection refused");

	f->srv.unavailable_mask = 0;
	f->srv.force_status = 9; /* FAILED_PRECONDITION */
	f->srv.force_details = "expected_version: account is at version 3";
	assert_int_equal(lookup(c, CF_ALICE, &l), KT_ERR_CLIENT_PRECONDITION);
	kt_client_last_status(c, &code, &details);
	assert_int_equal(code, 9);
	assert_string_equal(details, "expected_version: account is at version 3");
	f->srv.force_status = 0;
	assert_int_equal(lookup(c, CF_ALICE, &l), KT_OK);
	kt_lookup_free(l);
	kt_client_last_status(c, &code, &details);
	assert_int_equal(code, 0);
	kt_client_close(c);

	assert_int_equal(kt_client_status_error(3), KT_ERR_CLIENT_INVALID_REQUEST);
	assert_int_equal(kt_client_status_error(7), KT_ERR_CLIENT_DENIED);
	assert_int_equal(kt_client_status_error(8), KT_ERR_CLIENT_LIMITED);
	assert_int_equal(kt_client_status_error(5), KT_ERR_CLIENT_NOT_FOUND);
	assert_int_equal(kt_client_status_error(4), KT_ERR_CLIENT_DEADLINE);
	assert_int_equal(kt_client_status_error(13), KT_ERR_CLIENT_SERVER);
}

/* ---- updates ------------------------------------------------------------------ */

static void test_update_signature(void **state)
{
	fixture *f = *state;
	kt_client *c = open_client(f, f->state, 1, 0);
	kt_device_keys *phone = cf_slot_keys(&f->srv, CF_PHONE), *nd = NULL;
	Keytrail__V1__UpdateRequest *q;
	kt_update_result res;
	kt_device_spec spec;
	kt_update_op op;
	kt_signature sig;
	kt_sign_key pk;

	assert_int_equal(kt_device_keys_generate((const uint8_t *)"tablet2", 7, &nd),
			 KT_OK);
	kt_device_keys_spec(nd, (const uint8_t *)"apns:xyz", 8,
			    KT_DEVICE_KIND_COMPANION, &spec);
	assert_int_equal(kt_client_add_device(c, (const uint8_t *)CF_ALICE,
					      strlen(CF_ALICE), phone, &spec, &res),
			 KT_OK);
	assert_int_equal(res.version, 42);
	assert_int_equal(res.log_index, 7);
	assert_string_equal(f->srv.last_method, "/keytrail.v1.Directory/Update");
	q = keytrail__v1__update_request__unpack(NULL, f->srv.last_update_len,
						 f->srv.last_update);
	assert_non_null(q);
	assert_int_equal(q->expected_version, 2); /* from the verified lookup */
	assert_memory_equal(q->device_id.data, "phone", 5);
	assert_null(q->token);
	assert_int_equal(kt_update_op_decode(&op, q->operation.data,
					     q->operation.len), KT_OK);
	assert_int_equal(op.op, KT_OP_ADD_DEVICE);
	assert_memory_equal(op.device.id, "tablet2", 7);
	assert_int_equal(kt_signature_decode(&sig, q->signature.data,
					     q->signature.len), KT_OK);
	pk.type = KT_SIGN_KEY_ED25519;
	kt_device_keys_sign_pk(phone, pk.pk);
	assert_int_equal(kt_update_verify(&pk, &sig, (const uint8_t *)CF_ALICE,
					  strlen(CF_ALICE), &op, 2), KT_OK);
	/* Twin: bound to the version: another expected_version fails. */
	assert_int_equal(kt_update_verify(&pk, &sig, (const uint8_t *)CF_ALICE,
					  strlen(CF_ALICE), &op, 3),
			 KT_ERR_BAD_SIGNATURE);
	keytrail__v1__update_request__free_unpacked(q, NULL);
	/* The lookup before the update advanced the trust state. */
	assert_int_equal(kt_client_trusted_size(c), 4);

	/* A failed verification stops the update before anything is sent. */
	f->srv.last_update_len = 0;
	f->srv.tamper = CF_TAMPER_OPENING;
	assert_int_equal(kt_client_remove_device(c, (const uint8_t *)CF_ALICE,
						 strlen(CF_ALICE), phone,
						 (const uint8_t *)"laptop", 6, &res),
			 KT_ERR_CLIENT_OPENING);
	assert_int_equal(f->srv.last_update_len, 0);
	assert_int_equal(res.version, 0);
	f->srv.tamper = 0;
	assert_int_equal(kt_client_set_push(c, (const uint8_t *)CF_ALICE,
					    strlen(CF_ALICE), phone,
					    (const uint8_t *)"laptop", 6,
					    (const uint8_t *)"fcm:1", 5, &res),
			 KT_OK);
	assert_true(f->srv.last_update_len > 0);
	kt_device_keys_free(nd);
	kt_device_keys_free(phone);
	kt_client_close(c);
}

static void test_enroll_token(void **state)
{
	fixture *f = *state;
	kt_client *c = open_client(f, NULL, 1, 0);
	kt_device_keys *nd = NULL;
	kt_note_signer reg;
	kt_registrar_token tok;
	Keytrail__V1__UpdateRequest *q;
	kt_device_spec spec;
	kt_update_result res;
	kt_update_op op;
	kt_signature sig;
	kt_sign_key rk;
	uint8_t seed[32];
	char *rs = NULL;
	size_t rs_len = 0;

	memset(seed, 0x77, sizeof(seed));
	assert_int_equal(kt_note_signer_from_seed(&reg, "registrar.example", 17,
						  KT_NOTE_KEY_ED25519, seed), KT_OK);
	assert_int_equal(kt_note_signer_format(&reg, &rs, &rs_len), KT_OK);
	assert_int_equal(kt_device_keys_generate(NULL, 0, &nd), KT_OK);
	kt_device_keys_spec(nd, NULL, 0, KT_DEVICE_KIND_PRIMARY, &spec);
	assert_int_equal(kt_registrar_token_make(rs, (const uint8_t *)CF_BOB,
						 strlen(CF_BOB), &spec,
						 CF_T0 + 60000, &tok), KT_OK);
	assert_int_equal(kt_client_enroll(c, (const uint8_t *)CF_BOB,
					  strlen(CF_BOB), &spec, &tok, &res), KT_OK);
	q = keytrail__v1__update_request__unpack(NULL, f->srv.last_update_len,
						 f->srv.last_update);
	assert_non_null(q);
	assert_non_null(q->token);
	assert_int_equal(q->expected_version, 0); /* bob is absent */
	assert_int_equal(q->device_id.len, 0);
	assert_int_equal(q->token->expiry_ms, CF_T0 + 60000);
	assert_int_equal(kt_update_op_decode(&op, q->operation.data,
					     q->operation.len), KT_OK);
	assert_int_equal(op.op, KT_OP_ENROL);
	assert_int_equal(kt_sign_key_decode(&rk, q->token->registrar_key.data,
					    q->token->registrar_key.len), KT_OK);
	assert_memory_equal(rk.pk, reg.pub.pk, 32);
	assert_int_equal(kt_signature_decode(&sig, q->token->signature.data,
					     q->token->signature.len), KT_OK);
	assert_int_equal(kt_registrar_token_verify(&rk, &sig, (const uint8_t *)CF_BOB,
						   strlen(CF_BOB), &op.device,
						   CF_T0 + 60000), KT_OK);
	/* Twin: the token is for this spec only. */
	op.device.kind = KT_DEVICE_ESCROW;
	assert_int_equal(kt_registrar_token_verify(&rk, &sig, (const uint8_t *)CF_BOB,
						   strlen(CF_BOB), &op.device,
						   CF_T0 + 60000),
			 KT_ERR_BAD_SIGNATURE);
	keytrail__v1__update_request__free_unpacked(q, NULL);
	sodium_memzero(rs, rs_len);
	free(rs);
	kt_note_signer_wipe(&reg);
	kt_device_keys_free(nd);
	kt_client_close(c);
}

/* ---- checkpoint, witnesses -------------------------------------------------- */

static void test_checkpoint(void **state)
{
	fixture *f = *state;
	kt_client *c = open_client(f, f->state, 1, 0);
	kt_checkpoint_info ci;
	uint8_t *note = NULL;
	size_t note_len = 0;
	uint64_t size = 0;
	unsigned calls;

	/* nothing verified yet */
	ci.tree_size = 9;
	assert_int_equal(kt_client_verified_checkpoint(c, &ci), KT_ERR_NOT_FOUND);
	assert_int_equal(ci.tree_size, 0);
	assert_int_equal(kt_client_checkpoint(c, &size), KT_OK);
	assert_int_equal(size, 4);
	assert_int_equal(kt_client_trusted_size(c), 4);
	/* one GetCheckpoint with a head, no probe Lookup */
	assert_int_equal(f->srv.calls, 1);
	assert_string_equal(f->srv.last_method, "/keytrail.v1.Directory/GetCheckpoint");
	assert_int_equal(kt_client_verified_checkpoint(c, &ci), KT_OK);
	assert_int_equal(ci.tree_size, 4);
	assert_int_equal(ci.cosigned, 1);             /* no witness policy */
	assert_int_equal(ci.cosigned_size, 4);
	assert_int_equal(ci.timestamp_ms, f->t);      /* the last heartbeat */
	assert_int_equal(kt_fake_log_checkpoint(f->srv.fl, 4, 0, 0, &note, &note_len),
			 KT_OK);
	assert_true(ci.note_len >= note_len);
	assert_memory_equal(ci.note, note, note_len); /* log signature first */
	assert_memory_equal(ci.note, KT_FAKE_ORIGIN "\n4\n",
			    strlen(KT_FAKE_ORIGIN) + 3);
	free(note);
	/* a server that ignores ReadAt: no head, nothing verified */
	f->srv.checkpoint_no_head = 1;
	calls = f->srv.calls;
	assert_int_equal(kt_client_checkpoint(c, &size), KT_ERR_CLIENT_PROTOCOL);
	assert_int_equal(f->srv.calls, calls + 1);
	f->srv.checkpoint_no_head = 0;
	/* a forged checkpoint signature: refused, evidence, trust unchanged */
	f->srv.tamper = CF_TAMPER_NOTE;
	assert_int_equal(kt_client_checkpoint(c, &size), KT_ERR_CLIENT_CHECKPOINT_SIG);
	assert_non_null(kt_client_last_evidence(c));
	f->srv.tamper = 0;
	assert_int_equal(kt_client_verified_checkpoint(c, &ci), KT_OK);
	assert_int_equal(ci.tree_size, 4);
	cf_tick(&f->srv, &f->t);
	assert_int_equal(kt_fake_log_heartbeat(f->srv.fl), KT_OK);
	assert_int_equal(kt_client_checkpoint(c, &size), KT_OK);
	assert_int_equal(size, 5);
	/* Twin: stale (the clock far past the last entry) fails. */
	f->srv.now_ms += 3600u * 1000u;
	assert_int_equal(kt_client_checkpoint(c, &size), KT_ERR_CLIENT_STALE);
	assert_int_equal(size, 0);
	assert_int_equal(kt_client_trusted_size(c), 5);
	kt_client_close(c);
}

/* Endpoints behind the asked tree size are skipped for reads (not for
 * updates). */
static void test_lagging_failover(void **state)
{
	fixture *f = *state;
	kt_client *c = open_client(f, NULL, 3, 0);
	kt_lookup *l = NULL;
	uint8_t *resp = NULL;
	size_t resp_len = 0;
	uint64_t size = 0;

	assert_int_equal(lookup(c, CF_ALICE, &l), KT_OK); /* trust size 4 */
	kt_lookup_free(l);
	assert_int_equal(f->srv.endpoint_calls[0], 1);
	/* endpoint 0 lags: OUT_OF_RANGE, the next one answers */
	f->srv.lag_mask = 0x1;
	assert_int_equal(lookup(c, CF_ALICE, &l), KT_OK);
	kt_lookup_free(l);
	assert_int_equal(f->srv.endpoint_calls[0], 2);
	assert_int_equal(f->srv.endpoint_calls[1], 1);
	/* ... and is tried first from then on */
	f->srv.lag_mask = 0x2;
	f->srv.lag_status = 5; /* NOT_FOUND: no checkpoint at that size yet */
	f->srv.lag_details = "KT_ERR_NO_CHECKPOINT: no checkpoint (at.tree_size)";
	assert_int_equal(kt_client_checkpoint(c, &size), KT_OK);
	assert_int_equal(f->srv.endpoint_calls[1], 2);
	assert_int_equal(f->srv.endpoint_calls[2], 1);
	/* Twin: NOT_FOUND for another reason is an answer, not lag */
	f->srv.lag_mask = 0x4;
	f->srv.lag_details = "KT_ERR_NO_ACCOUNT: no such account (account)";
	assert_int_equal(lookup(c, CF_ALICE, &l), KT_ERR_CLIENT_NOT_FOUND);
	assert_int_equal(f->srv.endpoint_calls[2], 2);
	assert_int_equal(f->srv.endpoint_calls[0], 2);
	/* every endpoint lags: the last one's answer */
	f->srv.lag_mask = 0x7;
	f->srv.lag_status = 0;
	f->srv.lag_details = NULL;
	assert_int_equal(lookup(c, CF_ALICE, &l), KT_ERR_CLIENT_INVALID_REQUEST);
	assert_null(l);
	assert_int_equal(f->srv.endpoint_calls[0] + f->srv.endpoint_calls[1] +
				 f->srv.endpoint_calls[2], 3 + 3 + 3);
	/* Twin: an update is not retried elsewhere on OUT_OF_RANGE */
	c->cur = 0;
	f->srv.lag_mask = 0x1;
	assert_int_equal(kt_client_call(c, "/keytrail.v1.Directory/Update",
					(const uint8_t *)"", 0, &resp, &resp_len),
			 KT_ERR_CLIENT_INVALID_REQUEST);
	assert_null(resp);
	assert_int_equal(f->srv.endpoint_calls[1], 3);
	f->srv.lag_mask = 0;
	assert_int_equal(lookup(c, CF_ALICE, &l), KT_OK);
	kt_lookup_free(l);
	kt_client_close(c);
}

/* The library's Admin client: the credential rides with the one call, the
 * request binds the verified version, the admin_endpoint is used. */
static void test_admin_update(void **state)
{
	static const char tok[] =
		"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
	fixture *f = *state;
	kt_client_config *cfg;
	kt_client *c;
	Keytrail__V1__OperatorUpdateRequest *q;
	kt_update_result res;
	kt_admin_op op;
	kt_update_op want;
	kt_wbuf w;
	char err[256];
	unsigned calls;

	c = open_client(f, NULL, 2, 0);
	memset(&op, 0, sizeof(op));
	op.operation = KT_OPERATION_REMOVE_DEVICE;
	op.id = (const uint8_t *)"laptop";
	op.id_len = 6;
	/* bad arguments: nothing is sent */
	res.version = 5;
	assert_int_equal(kt_client_admin_update(c, "00", (const uint8_t *)CF_ALICE,
						strlen(CF_ALICE), &op, "r", &res),
			 KT_ERR_INVALID_ARG);
	assert_int_equal(res.version, 0);
	assert_int_equal(kt_client_admin_update(c, tok, (const uint8_t *)CF_ALICE,
						strlen(CF_ALICE), &op, "", &res),
			 KT_ERR_INVALID_ARG);
	assert_int_equal(kt_client_admin_update(c, tok, (const uint8_t *)CF_ALICE,
						strlen(CF_ALICE), &op, "\xff", &res),
			 KT_ERR_INVALID_ARG);
	op.operation = KT_OPERATION_ENROL; /* the registrar's alone */
	assert_int_equal(kt_client_admin_update(c, tok, (const uint8_t *)CF_ALICE,
						strlen(CF_ALICE), &op, "r", &res),
			 KT_ERR_INVALID_ARG);
	op.operation = KT_OPERATION_REMOVE_DEVICE;
	assert_int_equal(f->srv.calls, 0);

	assert_int_equal(kt_client_admin_update(c, tok, (const uint8_t *)CF_ALICE,
						strlen(CF_ALICE), &op,
						"court order 7", &res), KT_OK);
	assert_int_equal(res.version, 43);
	assert_int_equal(res.log_index, 8);
	assert_string_equal(f->srv.last_method, "/keytrail.v1.Admin/OperatorUpdate");
	assert_string_equal(f->srv.last_admin_token, tok);
	assert_int_equal(f->srv.admin_slot_calls, 0);      /* no admin_endpoint */
	assert_true(sodium_is_zero((const uint8_t *)c->call_admin_token,
				   sizeof(c->call_admin_token)));
	q = keytrail__v1__operator_update_request__unpack(NULL, f->srv.last_admin_len,
							   f->srv.last_admin);
	assert_non_null(q);
	assert_int_equal(q->account.len, strlen(CF_ALICE));
	assert_memory_equal(q->account.data, CF_ALICE, strlen(CF_ALICE));
	assert_int_equal(q->expected_version, 2);           /* verified version */
	assert_string_equal(q->reason, "court order 7");
	memset(&want, 0, sizeof(want));
	want.op = KT_OP_REMOVE_DEVICE;
	memcpy(want.device_id, "laptop", 6);
	want.device_id_len = 6;
	kt_wbuf_init(&w, KT_UPDATE_OP_MAX_BYTES);
	assert_int_equal(kt_update_op_encode(&w, &want), KT_OK);
	assert_int_equal(q->operation.len, w.len);
	assert_memory_equal(q->operation.data, w.data, w.len);
	kt_wbuf_free(&w);
	keytrail__v1__operator_update_request__free_unpacked(q, NULL);
	/* a refusal maps like any other (a wrong credential) */
	f->srv.force_status = 7;
	assert_int_equal(kt_client_admin_update(c, tok, (const uint8_t *)CF_ALICE,
						strlen(CF_ALICE), &op, "r", &res),
			 KT_ERR_CLIENT_DENIED);
	f->srv.force_status = 0;
	/* the lookup before the change is verified: a forged head stops it */
	f->srv.tamper = CF_TAMPER_NOTE;
	calls = f->srv.calls;
	assert_int_equal(kt_client_admin_update(c, tok, (const uint8_t *)CF_ALICE,
						strlen(CF_ALICE), &op, "r", &res),
			 KT_ERR_CLIENT_CHECKPOINT_SIG);
	assert_int_equal(f->srv.calls, calls + 1);          /* no Admin call */
	f->srv.tamper = 0;
	kt_client_close(c);

	/* with admin_endpoint: the Admin call goes there, and only there */
	cfg = cf_config(&f->srv, NULL, 2, 0);
	assert_non_null(cfg);
	assert_int_equal(kt_client_config_set(cfg, "admin_endpoint", "admin:9",
					      err, sizeof(err)), KT_OK);
	assert_int_equal(kt_client_open(cfg, &c, err, sizeof(err)), KT_OK);
	kt_client_config_free(cfg);
	op.operation = KT_OPERATION_SET_PUSH;
	op.push = (const uint8_t *)"fcm:x";
	op.push_len = 5;
	assert_int_equal(kt_client_admin_update(c, tok, (const uint8_t *)CF_ALICE,
						strlen(CF_ALICE), &op, "r", &res),
			 KT_OK);
	assert_int_equal(f->srv.admin_slot_calls, 1);
	assert_string_equal(f->srv.last_target, "admin:9");
	f->srv.unavailable_mask = 1u << KT_CLIENT_ADMIN_SLOT;
	calls = f->srv.endpoint_calls[0] + f->srv.endpoint_calls[1];
	assert_int_equal(kt_client_admin_update(c, tok, (const uint8_t *)CF_ALICE,
						strlen(CF_ALICE), &op, "r", &res),
			 KT_ERR_CLIENT_UNAVAILABLE);
	/* one lookup on the endpoints, no Admin call there */
	assert_int_equal(f->srv.endpoint_calls[0] + f->srv.endpoint_calls[1],
			 calls + 1);
	assert_string_equal(f->srv.last_method, "/keytrail.v1.Admin/OperatorUpdate");
	f->srv.unavailable_mask = 0;
	kt_client_close(c);
}

/* Who added each device comes back with the lookup, and a directory that
 * relabels an operator-added device is caught by the owner's monitor. */
static void test_added_by(void **state)
{
	fixture *f = *state;
	kt_client *c = open_client(f, f->state, 1, 0);
	kt_device_keys *phone = cf_slot_keys(&f->srv, CF_PHONE);
	kt_monitor_report *rep = NULL;
	kt_device_info d;
	kt_lookup *l = NULL;
	size_t i;
	int seen = 0;

	assert_non_null(phone);
	assert_int_equal(kt_client_monitor(c, (const uint8_t *)CF_ALICE,
					   strlen(CF_ALICE), phone, NULL, 0, &rep),
			 KT_OK);
	kt_monitor_report_free(rep);
	cf_tick(&f->srv, &f->t);
	assert_int_equal(kt_fake_log_operator_add(f->srv.fl, CF_ALICE, CF_ESCROW,
						  "court order 7"), KT_OK);
	cf_tick(&f->srv, &f->t);
	assert_int_equal(kt_fake_log_set_push(f->srv.fl, CF_ALICE, CF_PHONE,
					      CF_PHONE, "apns:new"), KT_OK);
	assert_int_equal(lookup(c, CF_ALICE, &l), KT_OK);
	assert_int_equal(kt_lookup_version(l), 4);
	for (i = 0; i < kt_lookup_device_count(l); i++) {
		assert_int_equal(kt_lookup_device(l, i, &d), KT_OK);
		if (d.id_len == 6 && memcmp(d.id, "escrow", 6) == 0) {
			assert_int_equal(d.added_by_type, KT_PROVENANCE_OPERATOR);
			assert_null(d.added_by_id);
			seen |= 1;
		} else if (d.id_len == 6 && memcmp(d.id, "laptop", 6) == 0) {
			assert_int_equal(d.added_by_type, KT_PROVENANCE_DEVICE);
			assert_int_equal(d.added_by_id_len, 5);
			assert_memory_equal(d.added_by_id, "phone", 5);
			seen |= 2;
		} else {
			assert_int_equal(d.added_by_type, KT_PROVENANCE_REGISTRAR);
			assert_int_equal(d.added_by_id_len, 0);
			seen |= 4;
		}
	}
	assert_int_equal(seen, 7);
	kt_lookup_free(l);
	/* the monitor accepts the honest versions 3 and 4 */
	assert_int_equal(kt_client_monitor(c, (const uint8_t *)CF_ALICE,
					   strlen(CF_ALICE), phone, NULL, 0, &rep),
			 KT_OK);
	assert_int_equal(kt_monitor_report_count(rep), 2);
	assert_int_equal(kt_monitor_report_flagged(rep), 1);
	kt_monitor_report_free(rep);
	/* Twin: the next version relabels the escrow device as added by the
	 * phone: the transition does not match its provenance. */
	cf_tick(&f->srv, &f->t);
	kt_fake_log_tamper_next(f->srv.fl, KT_FAKE_TAMPER_ADDED_BY);
	assert_int_equal(kt_fake_log_set_push(f->srv.fl, CF_ALICE, CF_PHONE,
					      CF_PHONE, "apns:newer"), KT_OK);
	assert_int_equal(lookup(c, CF_ALICE, &l), KT_OK); /* a lookup alone */
	assert_int_equal(kt_lookup_device(l, 0, &d), KT_OK);
	assert_int_equal(d.added_by_type, KT_PROVENANCE_DEVICE); /* the lie */
	kt_lookup_free(l);
	rep = (kt_monitor_report *)(uintptr_t)1;
	assert_int_equal(kt_client_monitor(c, (const uint8_t *)CF_ALICE,
					   strlen(CF_ALICE), phone, NULL, 0, &rep),
			 KT_ERR_CLIENT_TRANSITION);
	assert_null(rep);
	kt_device_keys_free(phone);
	kt_client_close(c);
}

static void test_witness_policy(void **state)
{
	fixture *f = *state;
	kt_client *c = open_client(f, f->state, 1, 2);
	kt_lookup *l = NULL;

	f->srv.witness_mask = 0x3; /* 2 of 3 */
	assert_int_equal(lookup(c, CF_ALICE, &l), KT_OK);
	kt_lookup_free(l);
	assert_int_equal(kt_client_trusted_size(c), 4);
	/* Twin: one cosignature is not enough. */
	cf_tick(&f->srv, &f->t);
	assert_int_equal(kt_fake_log_heartbeat(f->srv.fl), KT_OK);
	f->srv.witness_mask = 0x4;
	assert_int_equal(lookup(c, CF_ALICE, &l), KT_ERR_CLIENT_WITNESS_POLICY);
	assert_null(l);
	assert_int_equal(kt_client_trusted_size(c), 4);
	kt_client_close(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_lookup_persists_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_verification_leaves_file, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_server_rollback_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_rollback_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_foreign_state_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unwritable_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_monitor, setup, teardown),
		cmocka_unit_test_setup_teardown(test_monitor_owner_set, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failover_and_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_update_signature, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enroll_token, setup, teardown),
		cmocka_unit_test_setup_teardown(test_checkpoint, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lagging_failover, setup, teardown),
		cmocka_unit_test_setup_teardown(test_admin_update, setup, teardown),
		cmocka_unit_test_setup_teardown(test_added_by, setup, teardown),
		cmocka_unit_test_setup_teardown(test_witness_policy, setup, teardown),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
