/*
 * kt_config.c — libkeytrail configuration: setters, one option table, and
 * the `name = value` file parser (the syntax of ktd's server/config.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "client_int.h"
#include "kt_vrf.h"

#define CFG_MAX_FILE_BYTES (1024u * 1024u)
#define CFG_MAX_LINE 4096u
#define CFG_MAX_DEADLINE_MS (3600u * 1000u)
#define CFG_MAX_DURATION_MS (UINT64_C(10) * 365 * 24 * 3600 * 1000)

_Static_assert(KT_CLIENT_MAX_WITNESSES == KT_VERIFY_MAX_WITNESSES,
	       "public witness cap");
_Static_assert(KT_WITNESS_MODE_STRICT == KT_TRUST_STRICT &&
		       KT_WITNESS_MODE_BOUNDED_LAG == KT_TRUST_BOUNDED_LAG,
	       "witness modes");

/* ---- lifecycle ----------------------------------------------------------- */

static void cfg_defaults(kt_client_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	kt_trust_config_init(&cfg->trust);
	cfg->deadline_ms = KT_CLIENT_DEFAULT_DEADLINE_MS;
}

int kt_client_config_new(kt_client_config **out)
{
	kt_client_config *cfg;

	if (out == NULL)
		return KT_ERR_INVALID_ARG;
	*out = NULL;
	cfg = malloc(sizeof(*cfg));
	if (cfg == NULL)
		return KT_ERR_NOMEM;
	cfg_defaults(cfg);
	*out = cfg;
	return KT_OK;
}

void kt_client_config_clear(kt_client_config *cfg)
{
	size_t i;

	if (cfg == NULL)
		return;
	for (i = 0; i < cfg->n_endpoints; i++)
		free(cfg->endpoints[i]);
	free(cfg->origin);
	free(cfg->tls_roots);
	free(cfg->tls_client_cert);
	free(cfg->tls_client_key);
	free(cfg->state_file);
	free(cfg->registrar_key_file);
	free(cfg->admin_token_file);
	free(cfg->admin_endpoint);
	free(cfg->vrf_hex);
	free(cfg->log_key_str);
	free(cfg->first_witness);
	free(cfg->mode_str);
	cfg_defaults(cfg);
}

void kt_client_config_free(kt_client_config *cfg)
{
	if (cfg == NULL)
		return;
	kt_client_config_clear(cfg);
	free(cfg);
}

static int dup_opt(char **dst, const char *src)
{
	*dst = NULL;
	if (src == NULL)
		return KT_OK;
	*dst = strdup(src);
	return *dst != NULL ? KT_OK : KT_ERR_NOMEM;
}

int kt_client_config_copy(kt_client_config *dst, const kt_client_config *src)
{
	size_t i;
	int r = KT_OK;

	*dst = *src;
	for (i = 0; i < src->n_endpoints; i++)
		dst->endpoints[i] = NULL;
	dst->n_endpoints = 0;
	dst->origin = dst->tls_roots = dst->state_file = NULL;
	dst->tls_client_cert = dst->tls_client_key = NULL;
	dst->registrar_key_file = dst->admin_token_file = NULL;
	dst->admin_endpoint = NULL;
	dst->vrf_hex = dst->log_key_str = dst->first_witness = dst->mode_str = NULL;
	for (i = 0; r == KT_OK && i < src->n_endpoints; i++) {
		r = dup_opt(&dst->endpoints[i], src->endpoints[i]);
		if (r == KT_OK)
			dst->n_endpoints++;
	}
	if (r == KT_OK)
		r = dup_opt(&dst->origin, src->origin);
	if (r == KT_OK)
		r = dup_opt(&dst->tls_roots, src->tls_roots);
	if (r == KT_OK)
		r = dup_opt(&dst->tls_client_cert, src->tls_client_cert);
	if (r == KT_OK)
		r = dup_opt(&dst->tls_client_key, src->tls_client_key);
	if (r == KT_OK)
		r = dup_opt(&dst->state_file, src->state_file);
	if (r == KT_OK)
		r = dup_opt(&dst->registrar_key_file, src->registrar_key_file);
	if (r == KT_OK)
		r = dup_opt(&dst->admin_token_file, src->admin_token_file);
	if (r == KT_OK)
		r = dup_opt(&dst->admin_endpoint, src->admin_endpoint);
	if (r == KT_OK)
		r = dup_opt(&dst->vrf_hex, src->vrf_hex);
	if (r == KT_OK)
		r = dup_opt(&dst->log_key_str, src->log_key_str);
	if (r == KT_OK)
		r = dup_opt(&dst->first_witness, src->first_witness);
	if (r == KT_OK)
		r = dup_opt(&dst->mode_str, src->mode_str);
	if (r != KT_OK)
		kt_client_config_clear(dst);
	return r;
}

/* ---- value checks --------------------------------------------------------- */

/* 1..max bytes, no control characters; blanks allowed only if blanks. */
static int text_ok(const char *s, size_t max, int blanks)
{
	size_t i, n;

	if (s == NULL)
		return 0;
	n = strlen(s);
	if (n == 0 || n > max)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch < 0x20 || ch == 0x7f || (!blanks && ch == ' '))
			return 0;
	}
	return 1;
}

static int set_string(char **dst, const char *v, int blanks)
{
	char *p;

	if (!text_ok(v, KT_CFG_MAX_STRING, blanks))
		return KT_ERR_INVALID_ARG;
	p = strdup(v);
	if (p == NULL)
		return KT_ERR_NOMEM;
	free(*dst);
	*dst = p;
	return KT_OK;
}

/* ---- setters ----------------------------------------------------------- */

int kt_client_config_add_endpoint(kt_client_config *cfg, const char *endpoint)
{
	size_t i;
	char *p;

	if (cfg == NULL || !text_ok(endpoint, 255, 0))
		return KT_ERR_INVALID_ARG;
	for (i = 0; i < cfg->n_endpoints; i++)
		if (strcmp(cfg->endpoints[i], endpoint) == 0)
			return KT_ERR_CONFIG_DUPLICATE;
	if (cfg->n_endpoints == KT_CLIENT_MAX_ENDPOINTS)
		return KT_ERR_TOO_LARGE;
	p = strdup(endpoint);
	if (p == NULL)
		return KT_ERR_NOMEM;
	cfg->endpoints[cfg->n_endpoints++] = p;
	return KT_OK;
}

static int parse_verifier(kt_note_verifier *v, const char *s, uint8_t type)
{
	int r;

	if (s == NULL)
		return KT_ERR_INVALID_ARG;
	r = kt_note_verifier_parse(v, s, strlen(s));
	if (r == KT_OK && v->type != type) {
		memset(v, 0, sizeof(*v));
		r = KT_ERR_BAD_KEY_TYPE;
	}
	return r;
}

int kt_client_config_set_log_key(kt_client_config *cfg, const char *verifier)
{
	kt_note_verifier v;
	int r;

	if (cfg == NULL)
		return KT_ERR_INVALID_ARG;
	if (cfg->have_log_key)
		return KT_ERR_CONFIG_DUPLICATE;
	r = parse_verifier(&v, verifier, KT_NOTE_KEY_ED25519);
	if (r != KT_OK)
		return r;
	r = set_string(&cfg->log_key_str, verifier, 0);
	if (r != KT_OK)
		return r;
	r = kt_trust_config_set_origin(&cfg->trust, v.name, v.name_len);
	if (r != KT_OK)
		return r;
	cfg->trust.log_key = v;
	cfg->have_log_key = 1;
	return KT_OK;
}

int kt_client_config_set_vrf_key(kt_client_config *cfg, const char *hex)
{
	uint8_t pk[KT_VRF_PUBLICKEY_BYTES];
	size_t n = 0;
	const char *end = NULL;
	int r;

	if (cfg == NULL || hex == NULL)
		return KT_ERR_INVALID_ARG;
	if (cfg->have_vrf_key)
		return KT_ERR_CONFIG_DUPLICATE;
	if (strlen(hex) != 2 * KT_VRF_PUBLICKEY_BYTES ||
	    sodium_hex2bin(pk, sizeof(pk), hex, strlen(hex), NULL, &n, &end) != 0 ||
	    n != sizeof(pk) || *end != '\0')
		return KT_ERR_CONFIG_VALUE;
	/* Validated, decoded and prepared once here, not at every lookup. */
	if (kt_trust_config_set_vrf_key(&cfg->trust, pk) != KT_OK)
		return KT_ERR_BAD_KEY;
	r = set_string(&cfg->vrf_hex, hex, 0);
	if (r != KT_OK) {
		memset(cfg->trust.vrf_pk, 0, sizeof(cfg->trust.vrf_pk));
		memset(&cfg->trust.vrf_key, 0, sizeof(cfg->trust.vrf_key));
		return r;
	}
	cfg->have_vrf_key = 1;
	return KT_OK;
}

int kt_client_config_add_witness(kt_client_config *cfg, const char *verifier)
{
	kt_note_verifier v;
	size_t i;
	int r;

	if (cfg == NULL)
		return KT_ERR_INVALID_ARG;
	r = parse_verifier(&v, verifier, KT_NOTE_KEY_COSIG_V1);
	if (r != KT_OK)
		return r;
	for (i = 0; i < cfg->trust.n_witnesses; i++) {
		const kt_note_verifier *w = &cfg->trust.witnesses[i];

		if (w->key_hash == v.key_hash && w->name_len == v.name_len &&
		    memcmp(w->name, v.name, v.name_len) == 0)
			return KT_ERR_CONFIG_DUPLICATE;
	}
	if (cfg->trust.n_witnesses == KT_VERIFY_MAX_WITNESSES)
		return KT_ERR_TOO_LARGE;
	if (cfg->first_witness == NULL) {
		r = set_string(&cfg->first_witness, verifier, 0);
		if (r != KT_OK)
			return r;
	}
	cfg->trust.witnesses[cfg->trust.n_witnesses++] = v;
	return KT_OK;
}

int kt_client_config_set_witness_threshold(kt_client_config *cfg, unsigned k)
{
	if (cfg == NULL)
		return KT_ERR_INVALID_ARG;
	if (k > KT_CLIENT_MAX_WITNESSES)
		return KT_ERR_CONFIG_RANGE;
	cfg->trust.witness_threshold = k;
	cfg->set_threshold = 1;
	snprintf(cfg->num_buf[0], sizeof(cfg->num_buf[0]), "%u", k);
	return KT_OK;
}

int kt_client_config_set_witness_mode(kt_client_config *cfg, int mode,
				      uint64_t max_lag_ms)
{
	if (cfg == NULL)
		return KT_ERR_INVALID_ARG;
	if (mode != KT_WITNESS_MODE_STRICT && mode != KT_WITNESS_MODE_BOUNDED_LAG)
		return KT_ERR_CONFIG_VALUE;
	if (mode == KT_WITNESS_MODE_BOUNDED_LAG) {
		if (max_lag_ms == 0 || max_lag_ms > CFG_MAX_DURATION_MS)
			return KT_ERR_CONFIG_RANGE;
		cfg->trust.max_lag_ms = max_lag_ms;
		snprintf(cfg->num_buf[1], sizeof(cfg->num_buf[1]), "%llums",
			 (unsigned long long)max_lag_ms);
	}
	cfg->trust.mode = mode;
	cfg->set_mode = 1;
	return KT_OK;
}

int kt_client_config_set_max_age(kt_client_config *cfg, uint64_t max_age_ms)
{
	if (cfg == NULL)
		return KT_ERR_INVALID_ARG;
	if (max_age_ms == 0 || max_age_ms > CFG_MAX_DURATION_MS)
		return KT_ERR_CONFIG_RANGE;
	cfg->trust.max_age_ms = max_age_ms;
	cfg->set_max_age = 1;
	snprintf(cfg->num_buf[2], sizeof(cfg->num_buf[2]), "%llums",
		 (unsigned long long)max_age_ms);
	return KT_OK;
}

int kt_client_config_set_tls_roots(kt_client_config *cfg, const char *pem_path)
{
	if (cfg == NULL)
		return KT_ERR_INVALID_ARG;
	return set_string(&cfg->tls_roots, pem_path, 1);
}

int kt_client_config_set_tls_client_cert(kt_client_config *cfg,
					 const char *cert_path,
					 const char *key_path)
{
	char *cert = NULL, *key = NULL;
	int r;

	if (cfg == NULL || cert_path == NULL || key_path == NULL)
		return KT_ERR_INVALID_ARG;
	/* Both or neither: on failure cfg keeps what it had. */
	r = set_string(&cert, cert_path, 1);
	if (r == KT_OK)
		r = set_string(&key, key_path, 1);
	if (r != KT_OK) {
		free(cert);
		return r;
	}
	free(cfg->tls_client_cert);
	free(cfg->tls_client_key);
	cfg->tls_client_cert = cert;
	cfg->tls_client_key = key;
	return KT_OK;
}

int kt_client_config_set_state_file(kt_client_config *cfg, const char *path)
{
	if (cfg == NULL)
		return KT_ERR_INVALID_ARG;
	return set_string(&cfg->state_file, path, 1);
}

int kt_client_config_set_deadline(kt_client_config *cfg, uint64_t deadline_ms)
{
	if (cfg == NULL)
		return KT_ERR_INVALID_ARG;
	if (deadline_ms == 0 || deadline_ms > CFG_MAX_DEADLINE_MS)
		return KT_ERR_CONFIG_RANGE;
	cfg->deadline_ms = deadline_ms;
	cfg->set_deadline = 1;
	snprintf(cfg->num_buf[3], sizeof(cfg->num_buf[3]), "%llums",
		 (unsigned long long)deadline_ms);
	return KT_OK;
}

void kt_client_config_set_transport(kt_client_config *cfg,
				    kt_client_transport_fn fn, void *arg)
{
	if (cfg == NULL)
		return;
	cfg->transport = fn;
	cfg->transport_arg = arg;
}

void kt_client_config_set_clock(kt_client_config *cfg, kt_client_clock_fn fn,
				void *arg)
{
	if (cfg == NULL)
		return;
	cfg->clock = fn;
	cfg->clock_arg = arg;
}

/* ---- values -------------------------------------------------------------- */

/* Decimal digits only, no overflow. */
static int parse_u64(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (n == 0 || n > 20)
		return KT_ERR_CONFIG_VALUE;
	for (i = 0; i < n; i++) {
		unsigned d;

		if (s[i] < '0' || s[i] > '9')
			return KT_ERR_CONFIG_VALUE;
		d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return KT_ERR_CONFIG_RANGE;
		v = v * 10 + d;
	}
	*out = v;
	return KT_OK;
}

/* "250ms", "10s", "5m", "24h" -> ms. */
static int parse_duration(const char *s, uint64_t *ms)
{
	static const struct {
		const char *unit;
		uint64_t mult;
	} units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}};
	size_t n = strlen(s), d = 0, i;
	uint64_t v;

	while (d < n && s[d] >= '0' && s[d] <= '9')
		d++;
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(s + d, units[i].unit) != 0)
			continue;
		if (parse_u64(s, d, &v) != KT_OK)
			return KT_ERR_CONFIG_VALUE;
		if (v > CFG_MAX_DURATION_MS / units[i].mult)
			return KT_ERR_CONFIG_RANGE;
		*ms = v * units[i].mult;
		return KT_OK;
	}
	return KT_ERR_CONFIG_VALUE;
}

/* ---- the option table ------------------------------------------------------ */

enum { T_LIST, T_SCALAR };

typedef struct opt_row {
	const char *name;
	const char *alias;
	int kind;                 /* T_LIST or T_SCALAR */
	int path;                 /* value is a path (relative to the file) */
	int (*set)(kt_client_config *cfg, const char *v, char *err, size_t errlen);
	const char *(*get)(const kt_client_config *cfg);
	/* Forgets the option's value (kt_client_config_override). */
	void (*reset)(kt_client_config *cfg);
} opt_row;

#define DUP_CHECK(cond)                                  \
	do {                                             \
		if (cond)                                \
			return KT_ERR_CONFIG_DUPLICATE;  \
	} while (0)

static int o_endpoint(kt_client_config *cfg, const char *v, char *e, size_t el)
{
	int r = kt_client_config_add_endpoint(cfg, v);

	if (r == KT_ERR_INVALID_ARG) {
		kt_err_format(e, el, "'%s' is not an endpoint (host:port)", v);
		r = KT_ERR_CONFIG_VALUE;
	}
	return r;
}

static int o_log_key(kt_client_config *cfg, const char *v, char *e, size_t el)
{
	int r = kt_client_config_set_log_key(cfg, v);

	if (r != KT_OK && r != KT_ERR_CONFIG_DUPLICATE && r != KT_ERR_NOMEM)
		kt_err_format(e, el, "bad log verifier key: %s", kt_strerror(r));
	return r;
}

static int o_origin(kt_client_config *cfg, const char *v, char *e, size_t el)
{
	int r;

	DUP_CHECK(cfg->origin != NULL);
	r = set_string(&cfg->origin, v, 0);
	if (r == KT_ERR_INVALID_ARG) {
		kt_err_format(e, el, "'%s' is not an origin", v);
		r = KT_ERR_CONFIG_VALUE;
	}
	return r;
}

static int o_vrf(kt_client_config *cfg, const char *v, char *e, size_t el)
{
	int r = kt_client_config_set_vrf_key(cfg, v);

	if (r == KT_ERR_CONFIG_VALUE)
		kt_err_format(e, el, "'%s' is not 64 hex digits", v);
	else if (r == KT_ERR_BAD_KEY)
		kt_err_format(e, el, "not a valid VRF public key");
	return r;
}

static int o_witness(kt_client_config *cfg, const char *v, char *e, size_t el)
{
	int r = kt_client_config_add_witness(cfg, v);

	if (r != KT_OK && r != KT_ERR_CONFIG_DUPLICATE && r != KT_ERR_NOMEM &&
	    r != KT_ERR_TOO_LARGE)
		kt_err_format(e, el, "bad witness verifier key: %s", kt_strerror(r));
	return r;
}

static int o_threshold(kt_client_config *cfg, const char *v, char *e, size_t el)
{
	uint64_t k;
	int r;

	DUP_CHECK(cfg->set_threshold);
	r = parse_u64(v, strlen(v), &k);
	if (r != KT_OK) {
		kt_err_format(e, el, "'%s' is not a number", v);
		return r;
	}
	if (k > KT_CLIENT_MAX_WITNESSES) {
		kt_err_format(e, el, "witness_threshold %s is over %d", v, KT_CLIENT_MAX_WITNESSES);
		return KT_ERR_CONFIG_RANGE;
	}
	return kt_client_config_set_witness_threshold(cfg, (unsigned)k);
}

static int o_mode(kt_client_config *cfg, const char *v, char *e, size_t el)
{
	uint64_t lag = cfg->trust.max_lag_ms;
	int mode, r;

	DUP_CHECK(cfg->mode_str != NULL);
	if (strcmp(v, "strict") == 0) {
		mode = KT_WITNESS_MODE_STRICT;
	} else if (strcmp(v, "bounded-lag") == 0) {
		mode = KT_WITNESS_MODE_BOUNDED_LAG;
	} else {
		kt_err_format(e, el, "'%s' is not a witness mode (strict, bounded-lag)", v);
		return KT_ERR_CONFIG_VALUE;
	}
	r = kt_client_config_set_witness_mode(cfg, mode, lag);
	if (r == KT_OK)
		r = set_string(&cfg->mode_str, v, 0);
	return r;
}

static int o_duration(const char *v, uint64_t *ms, char *e, size_t el)
{
	int r = parse_duration(v, ms);

	if (r == KT_ERR_CONFIG_VALUE)
		kt_err_format(e, el, "'%s' is not a duration (a number with ms, s, m or h: 250ms, 10s, 24h)", v);
	else if (r == KT_ERR_CONFIG_RANGE)
		kt_err_format(e, el, "duration '%s' is too large", v);
	return r;
}

static int o_max_lag(kt_client_config *cfg, const char *v, char *e, size_t el)
{
	uint64_t ms;
	int r;

	DUP_CHECK(cfg->set_max_lag);
	r = o_duration(v, &ms, e, el);
	if (r != KT_OK)
		return r;
	if (ms == 0) {
		kt_err_format(e, el, "max_lag must be > 0");
		return KT_ERR_CONFIG_RANGE;
	}
	cfg->trust.max_lag_ms = ms;
	cfg->set_max_lag = 1;
	snprintf(cfg->num_buf[1], sizeof(cfg->num_buf[1]), "%s", v);
	return KT_OK;
}

static int o_max_age(kt_client_config *cfg, const char *v, char *e, size_t el)
{
	uint64_t ms;
	int r;

	DUP_CHECK(cfg->set_max_age);
	r = o_duration(v, &ms, e, el);
	if (r != KT_OK)
		return r;
	r = kt_client_config_set_max_age(cfg, ms);
	if (r == KT_ERR_CONFIG_RANGE)
		kt_err_format(e, el, "max_age '%s' out of range (> 0)", v);
	if (r == KT_OK)
		snprintf(cfg->num_buf[2], sizeof(cfg->num_buf[2]), "%s", v);
	return r;
}

static int o_deadline(kt_client_config *cfg, const char *v, char *e, size_t el)
{
	uint64_t ms;
	int r;

	DUP_CHECK(cfg->set_deadline);
	r = o_duration(v, &ms, e, el);
	if (r != KT_OK)
		return r;
	r = kt_client_config_set_deadline(cfg, ms);
	if (r == KT_ERR_CONFIG_RANGE)
		kt_err_format(e, el, "deadline '%s' out of range (1ms..1h)", v);
	if (r == KT_OK)
		snprintf(cfg->num_buf[3], sizeof(cfg->num_buf[3]), "%s", v);
	return r;
}

static int path_opt(char **dst, const char *v, char *e, size_t el)
{
	int r;

	DUP_CHECK(*dst != NULL);
	r = set_string(dst, v, 1);
	if (r == KT_ERR_INVALID_ARG) {
		kt_err_format(e, el, "bad path");
		r = KT_ERR_CONFIG_VALUE;
	}
	return r;
}

static int o_tls(kt_client_config *cfg, const char *v, char *e, size_t el)
{
	return path_opt(&cfg->tls_roots, v, e, el);
}

static int o_tls_cert(kt_client_config *cfg, const char *v, char *e, size_t el)
{
	return path_opt(&cfg->tls_client_cert, v, e, el);
}

static int o_tls_key(kt_client_config *cfg, const char *v, char *e, size_t el)
{
	return path_opt(&cfg->tls_client_key, v, e, el);
}

static int o_state(kt_client_config *cfg, const char *v, char *e, size_t el)
{
	return path_opt(&cfg->state_file, v, e, el);
}

static int o_registrar(kt_client_config *cfg, const char *v, char *e, size_t el)
{
	return path_opt(&cfg->registrar_key_file, v, e, el);
}

static int o_admin(kt_client_config *cfg, const char *v, char *e, size_t el)
{
	return path_opt(&cfg->admin_token_file, v, e, el);
}

static int o_admin_endpoint(kt_client_config *cfg, const char *v, char *e,
			    size_t el)
{
	int r;

	DUP_CHECK(cfg->admin_endpoint != NULL);
	r = text_ok(v, 255, 0) ? set_string(&cfg->admin_endpoint, v, 0)
			       : KT_ERR_INVALID_ARG;
	if (r == KT_ERR_INVALID_ARG) {
		kt_err_format(e, el, "'%s' is not an endpoint (host:port)", v);
		r = KT_ERR_CONFIG_VALUE;
	}
	return r;
}

/* ---- resets (an override replaces what the file set) ------------------- */

static void free_str(char **p)
{
	free(*p);
	*p = NULL;
}

static void r_endpoint(kt_client_config *c)
{
	size_t i;

	for (i = 0; i < c->n_endpoints; i++)
		free_str(&c->endpoints[i]);
	c->n_endpoints = 0;
}

static void r_log_key(kt_client_config *c)
{
	free_str(&c->log_key_str);
	memset(&c->trust.log_key, 0, sizeof(c->trust.log_key));
	memset(c->trust.origin, 0, sizeof(c->trust.origin));
	c->trust.origin_len = 0;
	c->have_log_key = 0;
}

static void r_origin(kt_client_config *c) { free_str(&c->origin); }

static void r_vrf(kt_client_config *c)
{
	free_str(&c->vrf_hex);
	memset(c->trust.vrf_pk, 0, sizeof(c->trust.vrf_pk));
	memset(&c->trust.vrf_key, 0, sizeof(c->trust.vrf_key));
	c->have_vrf_key = 0;
}

static void r_witness(kt_client_config *c)
{
	free_str(&c->first_witness);
	memset(c->trust.witnesses, 0, sizeof(c->trust.witnesses));
	c->trust.n_witnesses = 0;
}

static void r_threshold(kt_client_config *c)
{
	c->trust.witness_threshold = 0;
	c->set_threshold = 0;
	c->num_buf[0][0] = '\0';
}

static void r_mode(kt_client_config *c)
{
	free_str(&c->mode_str);
	c->trust.mode = KT_TRUST_STRICT;
	c->set_mode = 0;
}

static void r_max_lag(kt_client_config *c)
{
	c->trust.max_lag_ms = KT_VERIFY_DEFAULT_MAX_LAG_MS;
	c->set_max_lag = 0;
	c->num_buf[1][0] = '\0';
}

static void r_max_age(kt_client_config *c)
{
	c->trust.max_age_ms = KT_VERIFY_DEFAULT_MAX_AGE_MS;
	c->set_max_age = 0;
	c->num_buf[2][0] = '\0';
}

static void r_deadline(kt_client_config *c)
{
	c->deadline_ms = KT_CLIENT_DEFAULT_DEADLINE_MS;
	c->set_deadline = 0;
	c->num_buf[3][0] = '\0';
}

static void r_tls(kt_client_config *c) { free_str(&c->tls_roots); }
static void r_tls_cert(kt_client_config *c) { free_str(&c->tls_client_cert); }
static void r_tls_key(kt_client_config *c) { free_str(&c->tls_client_key); }
static void r_state(kt_client_config *c) { free_str(&c->state_file); }
static void r_registrar(kt_client_config *c) { free_str(&c->registrar_key_file); }
static void r_admin(kt_client_config *c) { free_str(&c->admin_token_file); }
static void r_admin_endpoint(kt_client_config *c) { free_str(&c->admin_endpoint); }

static const char *g_endpoint(const kt_client_config *c)
{
	return c->n_endpoints > 0 ? c->endpoints[0] : NULL;
}
static const char *g_log_key(const kt_client_config *c) { return c->log_key_str; }
static const char *g_origin(const kt_client_config *c)
{
	return c->origin != NULL ? c->origin
				 : (c->have_log_key ? c->trust.origin : NULL);
}
static const char *g_vrf(const kt_client_config *c) { return c->vrf_hex; }
static const char *g_witness(const kt_client_config *c) { return c->first_witness; }
static const char *g_threshold(const kt_client_config *c)
{
	return c->set_threshold ? c->num_buf[0] : NULL;
}
static const char *g_mode(const kt_client_config *c) { return c->mode_str; }
static const char *g_max_lag(const kt_client_config *c)
{
	return c->num_buf[1][0] != '\0' ? c->num_buf[1] : NULL;
}
static const char *g_max_age(const kt_client_config *c)
{
	return c->set_max_age ? c->num_buf[2] : NULL;
}
static const char *g_deadline(const kt_client_config *c)
{
	return c->set_deadline ? c->num_buf[3] : NULL;
}
static const char *g_tls(const kt_client_config *c) { return c->tls_roots; }
static const char *g_tls_cert(const kt_client_config *c)
{
	return c->tls_client_cert;
}
static const char *g_tls_key(const kt_client_config *c)
{
	return c->tls_client_key;
}
static const char *g_state(const kt_client_config *c) { return c->state_file; }
static const char *g_registrar(const kt_client_config *c) { return c->registrar_key_file; }
static const char *g_admin(const kt_client_config *c) { return c->admin_token_file; }
static const char *g_admin_endpoint(const kt_client_config *c)
{
	return c->admin_endpoint;
}

static const opt_row opt_table[] = {
	{"endpoint", "server", T_LIST, 0, o_endpoint, g_endpoint, r_endpoint},
	{"log_key", NULL, T_SCALAR, 0, o_log_key, g_log_key, r_log_key},
	{"origin", NULL, T_SCALAR, 0, o_origin, g_origin, r_origin},
	{"vrf_key", "vrf_public_key", T_SCALAR, 0, o_vrf, g_vrf, r_vrf},
	{"witness", NULL, T_LIST, 0, o_witness, g_witness, r_witness},
	{"witness_threshold", NULL, T_SCALAR, 0, o_threshold, g_threshold,
	 r_threshold},
	{"witness_mode", NULL, T_SCALAR, 0, o_mode, g_mode, r_mode},
	{"max_lag", NULL, T_SCALAR, 0, o_max_lag, g_max_lag, r_max_lag},
	{"max_age", NULL, T_SCALAR, 0, o_max_age, g_max_age, r_max_age},
	{"tls_roots", NULL, T_SCALAR, 1, o_tls, g_tls, r_tls},
	{"tls_client_cert", NULL, T_SCALAR, 1, o_tls_cert, g_tls_cert,
	 r_tls_cert},
	{"tls_client_key", NULL, T_SCALAR, 1, o_tls_key, g_tls_key, r_tls_key},
	{"state_file", NULL, T_SCALAR, 1, o_state, g_state, r_state},
	{"deadline", NULL, T_SCALAR, 0, o_deadline, g_deadline, r_deadline},
	{"registrar_key_file", NULL, T_SCALAR, 1, o_registrar, g_registrar,
	 r_registrar},
	{"admin_token_file", NULL, T_SCALAR, 1, o_admin, g_admin, r_admin},
	{"admin_endpoint", NULL, T_SCALAR, 0, o_admin_endpoint, g_admin_endpoint,
	 r_admin_endpoint},
};

_Static_assert(sizeof(opt_table) / sizeof(opt_table[0]) <= 32,
	       "one bit of kt_client_config.overridden per option");

#define N_OPTS (sizeof(opt_table) / sizeof(opt_table[0]))

static const opt_row *opt_find(const char *name)
{
	size_t i;

	for (i = 0; i < N_OPTS; i++)
		if (strcmp(opt_table[i].name, name) == 0 ||
		    (opt_table[i].alias != NULL &&
		     strcmp(opt_table[i].alias, name) == 0))
			return &opt_table[i];
	return NULL;
}

static int set_row(kt_client_config *cfg, const opt_row *o, const char *value,
		   char *err, size_t errlen)
{
	int r;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	r = o->set(cfg, value, err, errlen);
	if (r != KT_OK && (err == NULL || errlen == 0 || err[0] == '\0')) {
		if (r == KT_ERR_CONFIG_DUPLICATE)
			kt_err_format(err, errlen, "option '%s' set twice%s", o->name,
			     o->kind == T_LIST ? " (same value)" : "");
		else
			kt_err_format(err, errlen, "option '%s': %s", o->name,
			     kt_strerror(r));
	}
	return r;
}

int kt_client_config_set(kt_client_config *cfg, const char *name,
			 const char *value, char *err, size_t errlen)
{
	const opt_row *o;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (cfg == NULL || name == NULL || value == NULL)
		return KT_ERR_INVALID_ARG;
	o = opt_find(name);
	if (o == NULL) {
		kt_err_format(err, errlen, "unknown option '%s'", name);
		return KT_ERR_CONFIG_UNKNOWN;
	}
	return set_row(cfg, o, value, err, errlen);
}

int kt_client_config_override(kt_client_config *cfg, const char *name,
			      const char *value, char *err, size_t errlen)
{
	const opt_row *o;
	uint32_t bit;
	int r;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (cfg == NULL || name == NULL || value == NULL)
		return KT_ERR_INVALID_ARG;
	o = opt_find(name);
	if (o == NULL) {
		kt_err_format(err, errlen, "unknown option '%s'", name);
		return KT_ERR_CONFIG_UNKNOWN;
	}
	bit = 1u << (unsigned)(o - opt_table);
	if ((cfg->overridden & bit) != 0 && o->kind == T_SCALAR) {
		kt_err_format(err, errlen, "option '%s' given twice on the command line",
		     o->name);
		return KT_ERR_CONFIG_DUPLICATE;
	}
	/* The first override drops what the file said (a list starts
	 * again); later ones of a list append. */
	if ((cfg->overridden & bit) == 0)
		o->reset(cfg);
	r = set_row(cfg, o, value, err, errlen);
	if (r == KT_OK)
		cfg->overridden |= bit;
	return r;
}

const char *kt_client_config_get(const kt_client_config *cfg, const char *name)
{
	const opt_row *o;

	if (cfg == NULL || name == NULL)
		return NULL;
	o = opt_find(name);
	return o != NULL ? o->get(cfg) : NULL;
}

/* ---- the file ------------------------------------------------------------- */

static int is_blank(char ch)
{
	return ch == ' ' || ch == '\t';
}

/* Resolves a relative path against dir (dir_len bytes, may be 0). */
static int resolve(const char *dir, size_t dir_len, const char *v, char **out)
{
	size_t n;

	*out = NULL;
	if (v[0] == '/' || dir_len == 0) {
		*out = strdup(v);
		return *out != NULL ? KT_OK : KT_ERR_NOMEM;
	}
	n = dir_len + 1 + strlen(v) + 1;
	*out = malloc(n);
	if (*out == NULL)
		return KT_ERR_NOMEM;
	snprintf(*out, n, "%.*s/%s", (int)dir_len, dir, v);
	return KT_OK;
}

/* Parses one line (NUL-terminated, without '\n'). */
static int parse_line(kt_client_config *cfg, char *line, const char *dir,
		      size_t dir_len, char *err, size_t errlen)
{
	char *name, *value, *eq, *end, *resolved = NULL;
	const opt_row *o;
	size_t i, n = strlen(line);
	int r;

	/* Drop a comment: '#' at the start or after a blank. */
	for (i = 0; i < n; i++)
		if (line[i] == '#' && (i == 0 || is_blank(line[i - 1]))) {
			line[i] = '\0';
			break;
		}
	name = line;
	while (is_blank(*name))
		name++;
	end = name + strlen(name);
	while (end > name && is_blank(end[-1]))
		*--end = '\0';
	if (*name == '\0')
		return KT_OK;
	eq = strchr(name, '=');
	if (eq == NULL) {
		kt_err_format(err, errlen, "expected 'name = value'");
		return KT_ERR_CONFIG_SYNTAX;
	}
	value = eq + 1;
	while (eq > name && is_blank(eq[-1]))
		eq--;
	*eq = '\0';
	while (is_blank(*value))
		value++;
	if (*name == '\0' || *value == '\0') {
		kt_err_format(err, errlen, "expected 'name = value'");
		return KT_ERR_CONFIG_SYNTAX;
	}
	o = opt_find(name);
	if (o == NULL) {
		kt_err_format(err, errlen, "unknown option '%s'", name);
		return KT_ERR_CONFIG_UNKNOWN;
	}
	if (o->path) {
		r = resolve(dir, dir_len, value, &resolved);
		if (r != KT_OK)
			return r;
		value = resolved;
	}
	r = set_row(cfg, o, value, err, errlen);
	free(resolved);
	return r;
}

int kt_client_config_load_file(kt_client_config *cfg, const char *path,
			       char *err, size_t errlen)
{
	uint8_t *buf = NULL;
	size_t len = 0, off = 0, lineno = 0, dir_len = 0;
	char line[CFG_MAX_LINE + 1], detail[512];
	const char *slash;
	int r;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (cfg == NULL || path == NULL)
		return KT_ERR_INVALID_ARG;
	r = kt_read_file(path, CFG_MAX_FILE_BYTES, &buf, &len);
	if (r != KT_OK) {
		kt_err_format(err, errlen, "%s: %s", path,
		     r == KT_ERR_TOO_LARGE ? "file over 1 MiB" : strerror(errno));
		return r == KT_ERR_NOT_FOUND ? KT_ERR_IO : r;
	}
	slash = strrchr(path, '/');
	if (slash != NULL)
		dir_len = slash == path ? 1 : (size_t)(slash - path);
	while (r == KT_OK && off < len) {
		const uint8_t *nl = memchr(buf + off, '\n', len - off);
		size_t n = nl != NULL ? (size_t)(nl - (buf + off)) : len - off;

		lineno++;
		if (n > CFG_MAX_LINE) {
			kt_err_format(err, errlen, "%s:%zu: line over %u bytes", path,
			     lineno, CFG_MAX_LINE);
			r = KT_ERR_TOO_LARGE;
			break;
		}
		if (memchr(buf + off, '\0', n) != NULL) {
			kt_err_format(err, errlen, "%s:%zu: NUL byte", path, lineno);
			r = KT_ERR_CONFIG_SYNTAX;
			break;
		}
		memcpy(line, buf + off, n);
		line[n] = '\0';
		if (n > 0 && line[n - 1] == '\r')
			line[n - 1] = '\0';
		detail[0] = '\0';
		r = parse_line(cfg, line, path, dir_len, detail, sizeof(detail));
		if (r != KT_OK)
			kt_err_format(err, errlen, "%s:%zu: %s", path, lineno, detail);
		off += n + (nl != NULL ? 1 : 0);
	}
	sodium_memzero(line, sizeof(line));
	free(buf);
	return r;
}

/* ---- final checks ------------------------------------------------------------ */

int kt_client_config_finish(const kt_client_config *cfg, char *err,
			    size_t errlen)
{
	int r;

	if (cfg->n_endpoints == 0 && cfg->transport == NULL) {
		kt_err_format(err, errlen, "no endpoint configured");
		return KT_ERR_CLIENT_CONFIG;
	}
	if (!cfg->have_log_key) {
		kt_err_format(err, errlen, "no log_key configured");
		return KT_ERR_CLIENT_CONFIG;
	}
	if (!cfg->have_vrf_key) {
		kt_err_format(err, errlen, "no vrf_key configured");
		return KT_ERR_CLIENT_CONFIG;
	}
	if (cfg->origin != NULL && strcmp(cfg->origin, cfg->trust.origin) != 0) {
		kt_err_format(err, errlen, "origin '%s' is not the log key's name '%s'",
		     cfg->origin, cfg->trust.origin);
		return KT_ERR_CLIENT_CONFIG;
	}
	if (cfg->trust.n_witnesses > 0 && !cfg->set_threshold) {
		kt_err_format(err, errlen, "witnesses configured but no witness_threshold");
		return KT_ERR_CLIENT_CONFIG;
	}
	if (cfg->trust.witness_threshold > cfg->trust.n_witnesses ||
	    (cfg->trust.n_witnesses > 0 && cfg->trust.witness_threshold == 0)) {
		kt_err_format(err, errlen, "witness_threshold %zu with %zu witnesses",
		     cfg->trust.witness_threshold, cfg->trust.n_witnesses);
		return KT_ERR_CLIENT_CONFIG;
	}
	if ((cfg->tls_client_cert == NULL) != (cfg->tls_client_key == NULL)) {
		kt_err_format(err, errlen,
			      "tls_client_cert and tls_client_key go together");
		return KT_ERR_CLIENT_CONFIG;
	}
	if (cfg->tls_client_cert != NULL && cfg->tls_roots == NULL) {
		kt_err_format(err, errlen,
			      "tls_client_cert needs tls_roots (TLS is off)");
		return KT_ERR_CLIENT_CONFIG;
	}
	r = kt_trust_config_check(&cfg->trust);
	if (r != KT_OK)
		kt_err_format(err, errlen, "trust configuration rejected: %s",
		     kt_strerror(r));
	return r;
}
