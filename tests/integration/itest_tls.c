/*
 * itest_tls.c — TLS and mutual TLS of a real ktd (tests/integration/itest.h
 * harness): the Directory listener serves TLS (tls_cert_file,
 * tls_key_file), the Admin listener (admin_listen, both on 127.0.0.1:0)
 * requires a client certificate from tls_client_ca_file on top of the
 * admin token.
 *
 * The certificates are made here, at run time, into the test's temporary
 * directory with OpenSSL's libcrypto (a dependency of libgrpc-dev): a test
 * CA, a server certificate (localhost, 127.0.0.1), an operator's client
 * certificate, the same from a second ("rogue") CA, and an expired client
 * certificate from the test CA.  EC P-256 keys and ECDSA-SHA256 signatures,
 * except the operator's key (Ed25519); valid for one hour.  No private key
 * is committed.
 *
 *   1. Positive: over TLS trusting the test CA, an enrolment and a lookup
 *      whose proofs verify (itest_verify.c, and libkeytrail with
 *      tls_roots); an Admin Status and OperatorUpdate with the admin token
 *      and the operator's client certificate.
 *   2. Negative twins, each refused with a clear error (the gRPC status,
 *      its details and, for a refused client certificate, ktd's log line
 *      of the failed handshake), each changing nothing (the checkpoint
 *      note stays byte-identical and the account keeps its version):
 *      a client trusting the rogue CA; a client expecting another server
 *      name; plaintext to the TLS port; libkeytrail with the rogue CA and
 *      without tls_roots (no state file written); Admin without a client
 *      certificate, with the rogue CA's, with an expired one; Admin with a
 *      valid certificate and no / a wrong admin token; plaintext to the
 *      Admin port; Admin methods on the Directory listener (UNIMPLEMENTED:
 *      mTLS cannot be bypassed).
 *   3. libkeytrail's Admin call over mTLS: with the operator's client
 *      certificate (tls_client_cert / tls_client_key) it succeeds and the
 *      OperatorUpdate shows in a verified lookup; twins: without a client
 *      certificate and with the rogue CA's it is UNAVAILABLE and changes
 *      nothing; a key that is not the certificate's, a group-readable
 *      key, a missing key file, a certificate without tls_roots are
 *      refused by kt_client_open with their own errors.  If ktctl's path
 *      is given, one `ktctl --tls-cert --tls-key admin-update` over mTLS
 *      and its twin without --tls-cert (exit 1).
 *
 * Usage: itest_tls PATH-TO-KTD [PATH-TO-KTCTL]   (ctest passes both)
 */
#define _GNU_SOURCE /* strcasestr */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <grpc/status.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sodium.h>

#include "itest.h"
#include "keytrail.h"
#include "keytrail/v1/admin.pb-c.h"
#include "keytrail/v1/directory.pb-c.h"
#include "kt_json.h"

#define ALICE "tel:+15551234567"
#define MALLORY "tel:+15550000666"
#define REASON "tls test: operator change"
#define CALL_MS 20000
#define LOG_WAIT_MS 5000
#define CERT_VALID_S 3600L

/* ---- certificates (OpenSSL libcrypto) --------------------------------- */

typedef struct tls_id {
	EVP_PKEY *key;
	X509 *cert;
	char cert_path[400];
	char key_path[400];
	char *cert_pem;                  /* heap, NUL-terminated */
	char *key_pem;
} tls_id;

typedef struct pki {
	char dir[320];
	tls_id ca, server, client;       /* the test CA and what it issued */
	tls_id rogue_ca, rogue_client;   /* another CA */
	tls_id expired;                  /* test CA, validity over an hour ago */
} pki;

static void ossl_check(int ok, const char *what)
{
	if (!ok)
		itest_fail(__FILE__, __LINE__, "OpenSSL: %s failed", what);
}

static char *bio_text(BIO *b)
{
	char *p = NULL, *s;
	long n = BIO_get_mem_data(b, &p);

	CHECK(n > 0 && p != NULL);
	s = malloc((size_t)n + 1);
	CHECK(s != NULL);
	memcpy(s, p, (size_t)n);
	s[n] = '\0';
	return s;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	size_t n = strlen(text);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	CHECK(fd >= 0);
	CHECK(write(fd, text, n) == (ssize_t)n);
	CHECK(close(fd) == 0);
}

static void add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;

	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	ext = X509V3_EXT_nconf_nid(NULL, &ctx, nid, value);
	ossl_check(ext != NULL, "X509V3_EXT_nconf_nid");
	ossl_check(X509_add_ext(cert, ext, -1), "X509_add_ext");
	X509_EXTENSION_free(ext);
}

enum cert_kind { K_CA, K_SERVER, K_CLIENT };

/* Makes id: a fresh key (EC P-256, or Ed25519 if ed25519) and a
 * certificate for cn, issued by issuer (NULL: self-signed), valid from
 * now + from_s to now + to_s; writes both as PEM files "<dir>/<name>.pem"
 * and "<dir>/<name>.key" (0600). */
static void make_id(const pki *p, tls_id *id, const char *name, const char *cn,
		    enum cert_kind kind, int ed25519, const tls_id *issuer,
		    long from_s, long to_s)
{
	X509_NAME *subj;
	ASN1_INTEGER *serial;
	uint64_t sn;
	BIO *b;
	X509 *icert;
	EVP_PKEY *ikey;

	if (ed25519)
		id->key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	else
		id->key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	ossl_check(id->key != NULL, "keygen");
	id->cert = X509_new();
	ossl_check(id->cert != NULL, "X509_new");
	icert = issuer != NULL ? issuer->cert : id->cert;
	ikey = issuer != NULL ? issuer->key : id->key;
	ossl_check(X509_set_version(id->cert, X509_VERSION_3), "X509_set_version");
	randombytes_buf(&sn, sizeof(sn));
	serial = ASN1_INTEGER_new();
	ossl_check(serial != NULL && ASN1_INTEGER_set_uint64(serial, sn >> 1),
		   "serial");
	ossl_check(X509_set_serialNumber(id->cert, serial), "serial");
	ASN1_INTEGER_free(serial);
	ossl_check(X509_gmtime_adj(X509_getm_notBefore(id->cert), from_s) != NULL &&
			   X509_gmtime_adj(X509_getm_notAfter(id->cert), to_s) != NULL,
		   "validity");
	ossl_check(X509_set_pubkey(id->cert, id->key), "X509_set_pubkey");
	subj = X509_get_subject_name(id->cert);
	ossl_check(X509_NAME_add_entry_by_txt(subj, "CN", MBSTRING_ASC,
					      (const unsigned char *)cn, -1, -1, 0),
		   "subject");
	ossl_check(X509_set_issuer_name(id->cert, X509_get_subject_name(icert)),
		   "issuer");
	add_ext(id->cert, icert, NID_subject_key_identifier, "hash");
	if (kind == K_CA) {
		add_ext(id->cert, icert, NID_basic_constraints, "critical,CA:TRUE");
		add_ext(id->cert, icert, NID_key_usage, "critical,keyCertSign,cRLSign");
	} else {
		add_ext(id->cert, icert, NID_basic_constraints, "critical,CA:FALSE");
		add_ext(id->cert, icert, NID_key_usage, "critical,digitalSignature");
		add_ext(id->cert, icert, NID_authority_key_identifier, "keyid:always");
		add_ext(id->cert, icert, NID_ext_key_usage,
			kind == K_SERVER ? "serverAuth" : "clientAuth");
		if (kind == K_SERVER)
			add_ext(id->cert, icert, NID_subject_alt_name,
				"DNS:localhost,IP:127.0.0.1");
	}
	/* Ed25519 signs the whole message: no separate digest. */
	ossl_check(X509_sign(id->cert, ikey,
			     EVP_PKEY_is_a(ikey, "ED25519") ? NULL : EVP_sha256()) > 0,
		   "X509_sign");

	b = BIO_new(BIO_s_mem());
	ossl_check(b != NULL && PEM_write_bio_X509(b, id->cert), "PEM cert");
	id->cert_pem = bio_text(b);
	BIO_free(b);
	b = BIO_new(BIO_s_mem());
	ossl_check(b != NULL && PEM_write_bio_PrivateKey(b, id->key, NULL, NULL, 0,
							 NULL, NULL),
		   "PEM key");
	id->key_pem = bio_text(b);
	BIO_free(b);
	snprintf(id->cert_path, sizeof(id->cert_path), "%s/%s.pem", p->dir, name);
	snprintf(id->key_path, sizeof(id->key_path), "%s/%s.key", p->dir, name);
	write_file(id->cert_path, id->cert_pem, 0644);
	write_file(id->key_path, id->key_pem, 0600);
}

static void tls_id_free(tls_id *id)
{
	if (id->key_pem != NULL)
		sodium_memzero(id->key_pem, strlen(id->key_pem));
	free(id->key_pem);
	free(id->cert_pem);
	X509_free(id->cert);
	EVP_PKEY_free(id->key);
	memset(id, 0, sizeof(*id));
}

static void pki_make(pki *p, const char *base)
{
	snprintf(p->dir, sizeof(p->dir), "%s/tls", base);
	CHECK(mkdir(p->dir, 0700) == 0);
	/* P-256 everywhere except the operator's own key, Ed25519, so that
	 * both key types are shown to work in a TLS handshake. */
	make_id(p, &p->ca, "ca", "keytrail itest CA", K_CA, 0, NULL, -60,
		CERT_VALID_S);
	make_id(p, &p->server, "server", "localhost", K_SERVER, 0, &p->ca, -60,
		CERT_VALID_S);
	make_id(p, &p->client, "client", "keytrail itest operator", K_CLIENT, 1,
		&p->ca, -60, CERT_VALID_S);
	make_id(p, &p->rogue_ca, "rogue-ca", "keytrail itest rogue CA", K_CA, 0,
		NULL, -60, CERT_VALID_S);
	make_id(p, &p->rogue_client, "rogue-client", "keytrail itest operator",
		K_CLIENT, 0, &p->rogue_ca, -60, CERT_VALID_S);
	make_id(p, &p->expired, "expired-client", "keytrail itest operator",
		K_CLIENT, 0, &p->ca, -2 * CERT_VALID_S, -CERT_VALID_S);
}

static void pki_free(pki *p)
{
	tls_id_free(&p->ca);
	tls_id_free(&p->server);
	tls_id_free(&p->client);
	tls_id_free(&p->rogue_ca);
	tls_id_free(&p->rogue_client);
	tls_id_free(&p->expired);
}

/* ---- calls on channels of our own ----------------------------------------- */

/* TLS trusting root, with the client identity cli (NULL: none). */
static kt_gc_tls tls_of(const tls_id *root, const tls_id *cli)
{
	kt_gc_tls t;

	memset(&t, 0, sizeof(t));
	t.root_pem = root->cert_pem;
	if (cli != NULL) {
		t.cert_pem = cli->cert_pem;
		t.key_pem = cli->key_pem;
	}
	return t;
}

/* One call of method with a packed msg on a fresh channel to target
 * (plaintext if tls is NULL); the channel is closed before returning. */
static void call_on(const char *target, const kt_gc_tls *tls, const char *method,
		    const struct ProtobufCMessage *msg, const char *const *md,
		    kt_gc_result *res)
{
	size_t len = protobuf_c_message_get_packed_size(msg);
	uint8_t *buf = malloc(len != 0 ? len : 1);
	kt_gc *gc = NULL;

	CHECK(buf != NULL);
	protobuf_c_message_pack(msg, buf);
	memset(res, 0, sizeof(*res));
	CHECK_OK(kt_gc_open(target, tls, &gc));
	CHECK_OK(kt_gc_call(gc, method, buf, len, md, CALL_MS, res));
	kt_gc_close(gc);
	free(buf);
}

/* The call must have failed with status st and details containing want
 * (case-insensitive; NULL: any). */
static void expect_status(const char *what, kt_gc_result *res, int st,
			  const char *want)
{
	if (res->status != st)
		itest_fail(__FILE__, __LINE__, "%s: status %d (%s), want %d", what,
			   res->status, res->details, st);
	if (want != NULL && strcasestr(res->details, want) == NULL)
		itest_fail(__FILE__, __LINE__, "%s: details \"%s\" lack \"%s\"", what,
			   res->details, want);
	CHECK(!res->has_body || res->body_len == 0);
	itest_note("  refused: %s -> %d %s", what, res->status, res->details);
	kt_gc_result_clear(res);
}

/* ---- ktd's log ------------------------------------------------------------- */

static long log_size(const itest_ktd *k)
{
	struct stat st;

	CHECK(stat(k->log_path, &st) == 0);
	return (long)st.st_size;
}

/* Waits until ktd's log, from byte offset from on, holds every needle
 * (NULL-terminated list); fails the test after LOG_WAIT_MS. */
static void expect_log(const itest_ktd *k, long from, const char *const *needles)
{
	uint64_t deadline = itest_mono_ms() + LOG_WAIT_MS;
	size_t i, len = 0;
	char *text;
	int all;

	for (;;) {
		text = kt_test_read_file(k->log_path, &len);
		CHECK(text != NULL);
		all = (long)len >= from;
		for (i = 0; all && needles[i] != NULL; i++)
			all = strstr(text + from, needles[i]) != NULL;
		free(text);
		if (all)
			return;
		if (itest_mono_ms() >= deadline)
			break;
		usleep(20000);
	}
	for (i = 0; needles[i] != NULL; i++)
		fprintf(stderr, "wanted in ktd's log: %s\n", needles[i]);
	itest_fail(__FILE__, __LINE__, "ktd's log lacks the lines above");
}

/* ---- what must not change -------------------------------------------------- */

typedef struct snap {
	uint8_t *note;
	size_t len;
	uint64_t size;
	uint64_t alice_version;
} snap;

/* The newest checkpoint note (over k->gc, the good TLS channel) and Alice's
 * verified version. */
static void snap_take(itest_ktd *k, itest_trust *t, snap *s)
{
	itest_lookup l;

	memset(s, 0, sizeof(*s));
	s->note = itest_get_checkpoint(k, t, &s->len, &s->size);
	itest_lookup_verified(k, t, ALICE, 0, s->size, &l);
	CHECK(l.exists && l.head.size == s->size);
	s->alice_version = l.leaf.version;
	kt_account_value_free(&l.value);
}

/* Nothing changed since s: the same checkpoint note byte for byte, Alice
 * at the same version, Mallory absent. */
static void snap_same(itest_ktd *k, itest_trust *t, const snap *s)
{
	snap now;
	itest_lookup l;

	snap_take(k, t, &now);
	CHECK(now.size == s->size && now.len == s->len &&
	      memcmp(now.note, s->note, s->len) == 0);
	CHECK(now.alice_version == s->alice_version);
	itest_lookup_verified(k, t, MALLORY, 0, now.size, &l);
	CHECK(!l.exists);
	kt_account_value_free(&l.value);
	free(now.note);
}

/* ---- requests ---------------------------------------------------------------- */

/* An OperatorUpdate adding dev to Alice at expected_version (packed into
 * the caller's buffers). */
static void op_update_req(Keytrail__V1__OperatorUpdateRequest *req,
			  const itest_device *dev, uint64_t expected_version,
			  uint8_t *opb, size_t cap)
{
	kt_update_op op;

	itest_op_add(&op, dev);
	keytrail__v1__operator_update_request__init(req);
	req->account.data = (uint8_t *)(uintptr_t)ALICE;
	req->account.len = strlen(ALICE);
	req->operation.data = opb;
	req->operation.len = itest_op_encode(&op, opb, cap);
	req->expected_version = expected_version;
	req->reason = (char *)(uintptr_t)REASON;
}

/* ---- 1. positive ---------------------------------------------------------- */

/* Enrols Alice over TLS and looks her up with verified proofs. */
static void directory_over_tls(itest_ktd *k, itest_trust *t, itest_device *phone)
{
	itest_lookup l;
	uint8_t *req;
	size_t len;
	uint64_t v = 0, li = 0;

	itest_device_new(phone, "phone", KT_DEVICE_PRIMARY);
	req = itest_req_enrol(k, ALICE, phone, itest_now_ms() + 3600000u, &len);
	itest_update_ok(k, t, req, len, &v, &li);
	free(req);
	CHECK(v == 1);
	itest_lookup_verified(k, t, ALICE, 0, 0, &l);
	CHECK(l.exists && l.leaf.version == 1 && l.value.count == 1 &&
	      l.prov.type == KT_PROV_REGISTRAR);
	kt_account_value_free(&l.value);
	itest_note("Directory over TLS: enrolment and verified lookup ok");
}

/* kt_client_open of a config from ktd's client.conf with tls_roots (NULL:
 * none) and the client identity cli (NULL: none); returns its result. */
static int lib_try_open(const itest_ktd *k, const char *tls_roots,
			const char *cert, const char *key, const char *state,
			kt_client **c, char *err, size_t errlen)
{
	kt_client_config *cfg = NULL;
	char path[400];
	int r;

	snprintf(path, sizeof(path), "%s/client.conf", k->data_dir);
	CHECK_OK(kt_client_config_new(&cfg));
	if (kt_client_config_load_file(cfg, path, err, errlen) != KT_OK)
		itest_fail(__FILE__, __LINE__, "client.conf: %s", err);
	if (tls_roots != NULL)
		CHECK_OK(kt_client_config_override(cfg, "tls_roots", tls_roots, err,
						   errlen));
	if (cert != NULL)
		CHECK_OK(kt_client_config_set_tls_client_cert(cfg, cert, key));
	CHECK_OK(kt_client_config_override(cfg, "admin_endpoint", k->admin_addr, err,
					   errlen));
	CHECK_OK(kt_client_config_set_state_file(cfg, state));
	r = kt_client_open(cfg, c, err, errlen);
	kt_client_config_free(cfg);
	return r;
}

/* A libkeytrail client from ktd's client.conf; tls_roots (NULL: none). */
static kt_client *lib_open(const itest_ktd *k, const char *tls_roots,
			   const char *state)
{
	kt_client_config *cfg = NULL;
	kt_client *c = NULL;
	char path[400], err[256] = "";

	snprintf(path, sizeof(path), "%s/client.conf", k->data_dir);
	CHECK_OK(kt_client_config_new(&cfg));
	if (kt_client_config_load_file(cfg, path, err, sizeof(err)) != KT_OK)
		itest_fail(__FILE__, __LINE__, "client.conf: %s", err);
	if (tls_roots != NULL)
		CHECK_OK(kt_client_config_override(cfg, "tls_roots", tls_roots, err,
						   sizeof(err)));
	CHECK_OK(kt_client_config_override(cfg, "admin_endpoint", k->admin_addr, err,
					   sizeof(err)));
	CHECK_OK(kt_client_config_set_state_file(cfg, state));
	if (kt_client_open(cfg, &c, err, sizeof(err)) != KT_OK)
		itest_fail(__FILE__, __LINE__, "kt_client_open: %s", err);
	kt_client_config_free(cfg);
	return c;
}

static void lib_lookup_ok(const itest_ktd *k, const pki *p, uint64_t want_version)
{
	char state[400];
	kt_client *c;
	kt_lookup *l = NULL;

	snprintf(state, sizeof(state), "%s/state-good", p->dir);
	c = lib_open(k, p->ca.cert_path, state);
	CHECK_OK(kt_client_lookup(c, (const uint8_t *)ALICE, strlen(ALICE), &l));
	CHECK(kt_lookup_present(l) && kt_lookup_version(l) == want_version);
	CHECK(kt_client_trusted_size(c) == kt_lookup_tree_size(l));
	CHECK(access(state, F_OK) == 0);
	kt_lookup_free(l);
	kt_client_close(c);
	itest_note("libkeytrail over TLS (tls_roots = test CA): verified lookup ok");
}

/* Admin Status with the token and the operator's client certificate;
 * returns the number of accounts. */
static uint64_t admin_status(itest_ktd *k, const pki *p)
{
	Keytrail__V1__StatusRequest sreq = KEYTRAIL__V1__STATUS_REQUEST__INIT;
	Keytrail__V1__StatusResponse *sresp;
	kt_gc_tls tls = tls_of(&p->ca, &p->client);
	kt_gc_result res;
	uint64_t n;

	call_on(k->admin_addr, &tls, M_STATUS, &sreq.base, itest_admin_md(k), &res);
	CHECK_STATUS(&res, 0);
	sresp = keytrail__v1__status_response__unpack(NULL, res.body_len, res.body);
	CHECK(sresp != NULL && strcmp(sresp->origin, k->origin) == 0);
	n = sresp->accounts;
	keytrail__v1__status_response__free_unpacked(sresp, NULL);
	kt_gc_result_clear(&res);
	return n;
}

/* Admin Status and an OperatorUpdate with the token and the operator's
 * client certificate; returns Alice's new version. */
static uint64_t admin_over_mtls(itest_ktd *k, itest_trust *t, const pki *p)
{
	Keytrail__V1__OperatorUpdateRequest req;
	Keytrail__V1__OperatorUpdateResponse *resp;
	kt_gc_tls tls = tls_of(&p->ca, &p->client);
	uint8_t opb[KT_UPDATE_OP_MAX_BYTES];
	itest_device escrow;
	kt_gc_result res;
	itest_lookup l;
	uint64_t size = 0, v;

	CHECK(admin_status(k, p) == 1);
	itest_device_new(&escrow, "escrow", KT_DEVICE_ESCROW);
	op_update_req(&req, &escrow, 1, opb, sizeof(opb));
	call_on(k->admin_addr, &tls, M_OPERATOR_UPDATE, &req.base, itest_admin_md(k),
		&res);
	CHECK_STATUS(&res, 0);
	resp = keytrail__v1__operator_update_response__unpack(NULL, res.body_len,
							      res.body);
	CHECK(resp != NULL && resp->version == 2);
	CHECK_OK(itest_trust_checkpoint(t, resp->checkpoint.data, resp->checkpoint.len,
					&size, NULL));
	v = resp->version;
	keytrail__v1__operator_update_response__free_unpacked(resp, NULL);
	kt_gc_result_clear(&res);
	itest_lookup_verified(k, t, ALICE, 0, 0, &l);
	CHECK(l.exists && l.leaf.version == v && l.value.count == 2 &&
	      l.prov.type == KT_PROV_OPERATOR && l.head.size == size);
	kt_account_value_free(&l.value);
	itest_note("Admin over mTLS (token + test CA client certificate): Status and "
		   "OperatorUpdate ok, version %llu", (unsigned long long)v);
	return v;
}

/* ---- 2. negative twins ----------------------------------------------------- */

/* Directory calls that must not get through: an enrolment of Mallory and a
 * lookup of Alice, over tls (NULL: plaintext) to k->addr, each UNAVAILABLE
 * with details containing want (NULL: any); log_needles (NULL: none) must
 * then be in ktd's log. */
static void directory_refused(itest_ktd *k, itest_trust *t, const snap *s,
			      const kt_gc_tls *tls, const char *what,
			      const char *want, const char *const *log_needles)
{
	long from = log_size(k);
	Keytrail__V1__LookupRequest lreq = KEYTRAIL__V1__LOOKUP_REQUEST__INIT;
	Keytrail__V1__UpdateRequest *ureq;
	itest_device dev;
	kt_gc_result res;
	uint8_t *req;
	size_t len;
	char label[160];

	itest_device_new(&dev, "mallory-phone", KT_DEVICE_PRIMARY);
	req = itest_req_enrol(k, MALLORY, &dev, itest_now_ms() + 3600000u, &len);
	ureq = keytrail__v1__update_request__unpack(NULL, len, req);
	CHECK(ureq != NULL);
	snprintf(label, sizeof(label), "%s: Update", what);
	call_on(k->addr, tls, M_UPDATE, &ureq->base, NULL, &res);
	expect_status(label, &res, GRPC_STATUS_UNAVAILABLE, want);
	keytrail__v1__update_request__free_unpacked(ureq, NULL);
	free(req);
	lreq.account.data = (uint8_t *)(uintptr_t)ALICE;
	lreq.account.len = strlen(ALICE);
	snprintf(label, sizeof(label), "%s: Lookup", what);
	call_on(k->addr, tls, M_LOOKUP, &lreq.base, NULL, &res);
	expect_status(label, &res, GRPC_STATUS_UNAVAILABLE, want);
	if (log_needles != NULL)
		expect_log(k, from, log_needles);
	snap_same(k, t, s);
}

/* libkeytrail with the wrong roots or none: UNAVAILABLE, no state file. */
static void lib_refused(const itest_ktd *k, const pki *p, const char *roots,
			const char *what)
{
	char state[400];
	const char *details = NULL;
	kt_client *c;
	kt_lookup *l = (kt_lookup *)(uintptr_t)1;
	int r, code = 0;

	snprintf(state, sizeof(state), "%s/state-%s", p->dir,
		 roots != NULL ? "rogue" : "plain");
	c = lib_open(k, roots, state);
	r = kt_client_lookup(c, (const uint8_t *)ALICE, strlen(ALICE), &l);
	kt_client_last_status(c, &code, &details);
	if (r != KT_ERR_CLIENT_UNAVAILABLE)
		itest_fail(__FILE__, __LINE__, "libkeytrail %s: %s, want %s", what,
			   kt_errname(r), kt_errname(KT_ERR_CLIENT_UNAVAILABLE));
	CHECK(l == NULL && kt_client_trusted_size(c) == 0);
	CHECK(access(state, F_OK) != 0 && errno == ENOENT);
	itest_note("  refused: libkeytrail %s -> %s (%d %s)", what, kt_errname(r), code,
		   details != NULL ? details : "");
	kt_client_close(c);
}

/* An OperatorUpdate (Alice at version v + the device) over tls (NULL:
 * plaintext) to target with metadata md: refused with st / want, and, if
 * log_needle, ktd's log names why. */
static void admin_refused(itest_ktd *k, itest_trust *t, const snap *s,
			  const char *target, const kt_gc_tls *tls,
			  const char *const *md, int st, const char *want,
			  const char *const *log_needles, const char *what)
{
	Keytrail__V1__OperatorUpdateRequest req;
	Keytrail__V1__StatusRequest sreq = KEYTRAIL__V1__STATUS_REQUEST__INIT;
	uint8_t opb[KT_UPDATE_OP_MAX_BYTES];
	itest_device dev;
	kt_gc_result res;
	char label[160];
	long from = log_size(k);

	itest_device_new(&dev, "forwarder", KT_DEVICE_FORWARDING);
	op_update_req(&req, &dev, s->alice_version, opb, sizeof(opb));
	snprintf(label, sizeof(label), "%s: OperatorUpdate", what);
	call_on(target, tls, M_OPERATOR_UPDATE, &req.base, md, &res);
	expect_status(label, &res, st, want);
	snprintf(label, sizeof(label), "%s: Status", what);
	call_on(target, tls, M_STATUS, &sreq.base, md, &res);
	expect_status(label, &res, st, want);
	if (log_needles != NULL)
		expect_log(k, from, log_needles);
	snap_same(k, t, s);
}

static void negatives(itest_ktd *k, itest_trust *t, const pki *p, const snap *s)
{
	static const char *const no_cert_log[] = {"Handshake failed",
						  "peer did not return a certificate",
						  NULL};
	static const char *const bad_cert_log[] = {"Handshake failed",
						   "certificate verify failed", NULL};
	static const char *const plain_log[] = {"Handshake failed",
						"wrong version number", NULL};
	static const char *const denied_log[] = {"event=admin_denied",
						 "reason=bad_credential", NULL};
	static const char *const missing_log[] = {"event=admin_denied",
						  "reason=no_credential", NULL};
	const char *no_token[] = {NULL};
	const char *wrong_token[3];
	char wrong_hex[65];
	kt_gc_tls rogue = tls_of(&p->rogue_ca, NULL);
	kt_gc_tls other_name = tls_of(&p->ca, NULL);
	kt_gc_tls no_cert = tls_of(&p->ca, NULL);
	kt_gc_tls rogue_cert = tls_of(&p->ca, &p->rogue_client);
	kt_gc_tls expired = tls_of(&p->ca, &p->expired);
	kt_gc_tls good = tls_of(&p->ca, &p->client);
	kt_gc_tls rogue_trust = tls_of(&p->rogue_ca, &p->client);

	/* The Directory listener. */
	directory_refused(k, t, s, &rogue, "client trusting another CA",
			  "certificate verify failed", NULL);
	other_name.server_name = "other.example";
	directory_refused(k, t, s, &other_name, "server name not in the certificate",
			  "not in peer certificate", NULL);
	directory_refused(k, t, s, NULL, "plaintext to the TLS port", NULL, plain_log);
	lib_refused(k, p, p->rogue_ca.cert_path, "trusting another CA");
	lib_refused(k, p, NULL, "without tls_roots (plaintext)");

	/* The Admin listener: the handshake needs a client certificate from
	 * the test CA, whatever the token. */
	admin_refused(k, t, s, k->admin_addr, &no_cert, itest_admin_md(k),
		      GRPC_STATUS_UNAVAILABLE, NULL, no_cert_log,
		      "Admin without a client certificate");
	admin_refused(k, t, s, k->admin_addr, &rogue_cert, itest_admin_md(k),
		      GRPC_STATUS_UNAVAILABLE, NULL, bad_cert_log,
		      "Admin with a client certificate from another CA");
	admin_refused(k, t, s, k->admin_addr, &expired, itest_admin_md(k),
		      GRPC_STATUS_UNAVAILABLE, NULL, bad_cert_log,
		      "Admin with an expired client certificate");
	admin_refused(k, t, s, k->admin_addr, &rogue_trust, itest_admin_md(k),
		      GRPC_STATUS_UNAVAILABLE, "certificate verify failed", NULL,
		      "Admin client trusting another CA");
	admin_refused(k, t, s, k->admin_addr, NULL, itest_admin_md(k),
		      GRPC_STATUS_UNAVAILABLE, NULL, plain_log, "Admin in plaintext");
	/* A valid client certificate is not enough: the token is checked. */
	admin_refused(k, t, s, k->admin_addr, &good, no_token, GRPC_STATUS_UNAUTHENTICATED,
		      "x-keytrail-admin missing", missing_log,
		      "Admin with a certificate, no admin token");
	memcpy(wrong_hex, k->admin_hex, sizeof(wrong_hex));
	wrong_hex[63] = wrong_hex[63] == '0' ? '1' : '0';
	wrong_token[0] = "x-keytrail-admin";
	wrong_token[1] = wrong_hex;
	wrong_token[2] = NULL;
	admin_refused(k, t, s, k->admin_addr, &good, wrong_token,
		      GRPC_STATUS_PERMISSION_DENIED, "KT_ERR_ADMIN_DENIED", denied_log,
		      "Admin with a certificate, wrong admin token");
	/* Admin is not served on the Directory listener at all. */
	admin_refused(k, t, s, k->addr, &no_cert, itest_admin_md(k),
		      GRPC_STATUS_UNIMPLEMENTED, NULL, NULL,
		      "Admin on the Directory (TLS, no client certificate) listener");
	itest_note("every refusal changed nothing: checkpoint byte-identical");
}

/* ---- 3. libkeytrail and ktctl with a client certificate ------------------ */

/* libkeytrail's Admin call (set Alice's phone's push address to push) with
 * the client identity cli (NULL: none); returns its result. */
static int lib_admin(itest_ktd *k, const pki *p, const tls_id *cli,
		     const char *push, kt_update_result *res)
{
	char state[400], err[256] = "";
	kt_client *c = NULL;
	kt_admin_op op;
	const char *details = NULL;
	int r, code = 0;

	snprintf(state, sizeof(state), "%s/state-admin", p->dir);
	r = lib_try_open(k, p->ca.cert_path, cli != NULL ? cli->cert_path : NULL,
			 cli != NULL ? cli->key_path : NULL, state, &c, err,
			 sizeof(err));
	if (r != KT_OK)
		itest_fail(__FILE__, __LINE__, "kt_client_open: %s", err);
	memset(&op, 0, sizeof(op));
	op.operation = KT_OPERATION_SET_PUSH;
	op.id = (const uint8_t *)"phone";
	op.id_len = 5;
	op.push = (const uint8_t *)push;
	op.push_len = strlen(push);
	r = kt_client_admin_update(c, k->admin_hex, (const uint8_t *)ALICE,
				   strlen(ALICE), &op, REASON, res);
	kt_client_last_status(c, &code, &details);
	itest_note("  libkeytrail Admin call (%s) -> %s (%d %s)",
		   cli == NULL ? "no client certificate" : cli->cert_path,
		   kt_errname(r), code, details != NULL ? details : "");
	kt_client_close(c);
	return r;
}

/* Without a client certificate, or with the rogue CA's: the handshake
 * fails (UNAVAILABLE) and nothing changes. */
static void lib_admin_refused(itest_ktd *k, itest_trust *t, const pki *p,
			      const snap *s)
{
	const tls_id *ids[2] = {NULL, &p->rogue_client};
	kt_update_result res;
	size_t i;
	int r;

	for (i = 0; i < 2; i++) {
		r = lib_admin(k, p, ids[i], "apns:refused", &res);
		if (r != KT_ERR_CLIENT_UNAVAILABLE)
			itest_fail(__FILE__, __LINE__, "kt_client_admin_update: %s, "
				   "want %s", kt_errname(r),
				   kt_errname(KT_ERR_CLIENT_UNAVAILABLE));
		CHECK(res.version == 0);
		snap_same(k, t, s);
	}
	itest_note("  refused: libkeytrail Admin without / with a rogue client "
		   "certificate, nothing changed");
}

/* Alice at version want, changed by the operator, phone's push == push. */
static void alice_is(itest_ktd *k, itest_trust *t, uint64_t want,
		     const char *push)
{
	itest_lookup l;
	size_t i, found = 0, n = strlen(push);

	itest_lookup_verified(k, t, ALICE, 0, 0, &l);
	CHECK(l.exists && l.leaf.version == want &&
	      l.prov.type == KT_PROV_OPERATOR);
	for (i = 0; i < l.value.count; i++)
		if (l.value.devices[i].push_len == n &&
		    memcmp(l.value.devices[i].push, push, n) == 0)
			found++;
	CHECK(found == 1);
	kt_account_value_free(&l.value);
}

/* With the operator's certificate and key: the OperatorUpdate is applied
 * and visible in a verified lookup.  Returns Alice's new version. */
static uint64_t lib_admin_ok(itest_ktd *k, itest_trust *t, const pki *p,
			     uint64_t v)
{
	kt_update_result res;

	CHECK_OK(lib_admin(k, p, &p->client, "apns:by-the-library", &res));
	CHECK(res.version == v + 1);
	alice_is(k, t, v + 1, "apns:by-the-library");
	itest_note("libkeytrail Admin over mTLS (tls_client_cert): OperatorUpdate "
		   "ok, version %llu", (unsigned long long)res.version);
	return res.version;
}

/* kt_client_open refuses a bad client identity with want, before any
 * network use. */
static void lib_open_refused(const itest_ktd *k, const pki *p,
			     const char *roots, const char *cert,
			     const char *key, int want, const char *what)
{
	char state[400], err[256] = "";
	kt_client *c = (kt_client *)(uintptr_t)1;
	int r;

	snprintf(state, sizeof(state), "%s/state-badcert", p->dir);
	r = lib_try_open(k, roots, cert, key, state, &c, err, sizeof(err));
	if (r != want)
		itest_fail(__FILE__, __LINE__, "kt_client_open (%s): %s, want %s",
			   what, kt_errname(r), kt_errname(want));
	CHECK(c == NULL && err[0] != '\0');
	CHECK(access(state, F_OK) != 0 && errno == ENOENT);
	itest_note("  refused at open: %s -> %s (%s)", what, kt_errname(r), err);
}

static void lib_bad_identities(const itest_ktd *k, const pki *p)
{
	char loose[400], missing[400], notkey[400];

	lib_open_refused(k, p, p->ca.cert_path, p->client.cert_path,
			 p->rogue_client.key_path, KT_ERR_CLIENT_TLS_CERT,
			 "key of another certificate");
	snprintf(notkey, sizeof(notkey), "%s/not-a-key.key", p->dir);
	write_file(notkey, p->client.cert_pem, 0600);
	lib_open_refused(k, p, p->ca.cert_path, p->client.cert_path, notkey,
			 KT_ERR_CLIENT_TLS_CERT, "a certificate as the key");
	snprintf(loose, sizeof(loose), "%s/loose.key", p->dir);
	write_file(loose, p->client.key_pem, 0640);
	CHECK(chmod(loose, 0640) == 0);
	lib_open_refused(k, p, p->ca.cert_path, p->client.cert_path, loose,
			 KT_ERR_CLIENT_KEY_FILE, "key file readable by group");
	snprintf(missing, sizeof(missing), "%s/missing.key", p->dir);
	lib_open_refused(k, p, p->ca.cert_path, p->client.cert_path, missing,
			 KT_ERR_IO, "missing key file");
	lib_open_refused(k, p, NULL, p->client.cert_path, p->client.key_path,
			 KT_ERR_CLIENT_CONFIG, "client certificate without tls_roots");
}

/* Runs ktctl with args (NULL-terminated), output to <dir>/ktctl.out|err;
 * returns its exit code; killed after 60 s. */
static int ktctl_run(const char *ktctl, const pki *p, const char *const *args)
{
	const char *argv[32];
	char outp[400], errp[400];
	uint64_t deadline;
	size_t n = 0;
	int status = 0, fo, fe;
	pid_t pid, w;

	argv[n++] = ktctl;
	for (; args[n - 1] != NULL; n++) {
		CHECK(n < 31);
		argv[n] = args[n - 1];
	}
	argv[n] = NULL;
	snprintf(outp, sizeof(outp), "%s/ktctl.out", p->dir);
	snprintf(errp, sizeof(errp), "%s/ktctl.err", p->dir);
	fo = open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	fe = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fo >= 0 && fe >= 0);
	fflush(NULL);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(fo, 1);
		dup2(fe, 2);
		execv(ktctl, (char *const *)(uintptr_t)argv);
		_exit(127);
	}
	close(fo);
	close(fe);
	deadline = itest_mono_ms() + 60000u;
	while ((w = waitpid(pid, &status, WNOHANG)) != pid) {
		if (w < 0 || itest_mono_ms() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			itest_fail(__FILE__, __LINE__, "ktctl did not end");
		}
		usleep(5000);
	}
	if (!WIFEXITED(status))
		itest_fail(__FILE__, __LINE__, "ktctl killed by signal %d",
			   WTERMSIG(status));
	return WEXITSTATUS(status);
}

/* `ktctl admin-update` over mTLS: without --tls-cert it fails (exit 1,
 * nothing changed), with --tls-cert / --tls-key it succeeds. */
static uint64_t ktctl_admin(itest_ktd *k, itest_trust *t, const pki *p,
			    const char *ktctl, uint64_t v)
{
	char conf[400], roots[440], state[400];
	const char *cert_args[] = {"--tls-cert", p->client.cert_path, "--tls-key",
				   p->client.key_path};
	const char *a[32];
	size_t n = 0, i, base;
	snap s;
	int code, with;

	snprintf(conf, sizeof(conf), "%s/client.conf", k->data_dir);
	snprintf(roots, sizeof(roots), "tls_roots=%s", p->ca.cert_path);
	snprintf(state, sizeof(state), "%s/state-ktctl", p->dir);
	a[n++] = "--config";
	a[n++] = conf;
	a[n++] = "--set";
	a[n++] = roots;
	a[n++] = "--state";
	a[n++] = state;
	base = n;
	for (with = 0; with <= 1; with++) {
		n = base;
		if (with)
			for (i = 0; i < 4; i++)
				a[n++] = cert_args[i];
		a[n++] = "admin-update";
		a[n++] = "--account";
		a[n++] = ALICE;
		a[n++] = "--admin-endpoint";
		a[n++] = k->admin_addr;
		a[n++] = "--set-push";
		a[n++] = "phone";
		a[n++] = "--push";
		a[n++] = "apns:by-ktctl";
		a[n++] = "--reason";
		a[n++] = REASON;
		a[n] = NULL;
		if (!with)
			snap_take(k, t, &s);
		code = ktctl_run(ktctl, p, a);
		if (code != (with ? 0 : 1))
			itest_fail(__FILE__, __LINE__, "ktctl admin-update %s "
				   "--tls-cert: exit %d (see %s/ktctl.err)",
				   with ? "with" : "without", code, p->dir);
		if (!with) {
			snap_same(k, t, &s);
			free(s.note);
		}
	}
	alice_is(k, t, v + 1, "apns:by-ktctl");
	itest_note("ktctl --tls-cert --tls-key admin-update over mTLS ok (and "
		   "exit 1 without them), version %llu", (unsigned long long)(v + 1));
	return v + 1;
}

int main(int argc, char **argv)
{
	itest_ktd k;
	itest_trust t;
	itest_device phone;
	pki p;
	snap s;
	uint64_t t0, v;
	kt_gc_tls dir_tls;

	if (argc >= 3 && access(argv[2], X_OK) != 0) {
		fprintf(stderr, "usage: %s PATH-TO-KTD [PATH-TO-KTCTL]\n", argv[0]);
		return 2;
	}

	itest_init(argc, argv);
	t0 = itest_mono_ms();
	memset(&p, 0, sizeof(p));
	itest_ktd_new(&k, NULL);
	pki_make(&p, k.base);
	snprintf(k.extra[0], sizeof(k.extra[0]), "heartbeat_interval=1h");
	snprintf(k.extra[1], sizeof(k.extra[1]), "admin_listen=127.0.0.1:0");
	snprintf(k.extra[2], sizeof(k.extra[2]), "tls_cert_file=%s", p.server.cert_path);
	snprintf(k.extra[3], sizeof(k.extra[3]), "tls_key_file=%s", p.server.key_path);
	snprintf(k.extra[4], sizeof(k.extra[4]), "tls_client_ca_file=%s",
		 p.ca.cert_path);
	k.n_extra = 5;
	itest_ktd_start(&k);
	CHECK(k.admin_addr[0] != '\0' && strcmp(k.admin_addr, k.addr) != 0);
	itest_note("ktd: Directory (TLS) on %s, Admin (mTLS) on %s, data in %s", k.addr,
		   k.admin_addr, k.data_dir);
	/* The harness opened a plaintext channel: talk TLS instead. */
	itest_ktd_close_channel(&k);
	dir_tls = tls_of(&p.ca, NULL);
	CHECK_OK(kt_gc_open(k.addr, &dir_tls, &k.gc));
	itest_trust_init(&t, &k);

	directory_over_tls(&k, &t, &phone);
	lib_lookup_ok(&k, &p, 1);
	v = admin_over_mtls(&k, &t, &p);
	lib_lookup_ok(&k, &p, v);

	snap_take(&k, &t, &s);
	CHECK(s.alice_version == v);
	negatives(&k, &t, &p, &s);
	lib_admin_refused(&k, &t, &p, &s);
	lib_bad_identities(&k, &p);
	v = lib_admin_ok(&k, &t, &p, v);
	if (argc >= 3)
		v = ktctl_admin(&k, &t, &p, argv[2], v);
	else
		itest_note("no PATH-TO-KTCTL: ktctl over mTLS not run");
	/* The node is unharmed: the operator still gets in. */
	CHECK(admin_status(&k, &p) == 1);
	itest_note("Admin over mTLS still ok after the refusals");

	free(s.note);
	pki_free(&p);
	itest_ktd_stop(&k);
	itest_ktd_close_channel(&k);
	itest_note("tls: all passed (%llu ms)",
		   (unsigned long long)(itest_mono_ms() - t0));
	return 0;
}
