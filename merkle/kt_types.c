/* kt_types.c — fixed encodings of keys, devices, values, provenance,
 * update operations, signed messages, map leaves and log entries.
 * Byte layouts: docs/PROTOCOL.md §1. */
#include "kt_types.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define DOMAIN_LEN(s) (sizeof(s) - 1)

_Static_assert(DOMAIN_LEN(KT_DOMAIN_UPDATE) == 18, "update domain length");
_Static_assert(DOMAIN_LEN(KT_DOMAIN_REGISTRAR_TOKEN) == 27, "token domain length");
_Static_assert(DOMAIN_LEN(KT_DOMAIN_HISTORY_REQUEST) == 27, "history domain length");
_Static_assert(KT_DEVICE_SPEC_MAX_BYTES == 646, "device spec size");
_Static_assert(KT_DEVICE_MAX_BYTES == 720, "device size");
_Static_assert(KT_DEVICE_MIN_BYTES == 81, "device min size");
_Static_assert(KT_VALUE_MAX_BYTES == 184322, "value size");
_Static_assert(KT_UPDATE_OP_MAX_BYTES == 647, "update op size");
_Static_assert(KT_PROVENANCE_MAX_BYTES == 1930, "provenance size");
_Static_assert(KT_PROVENANCE_MAX_BYTES <= UINT16_MAX, "provenance fits vec16 (storage)");
_Static_assert(KT_UPDATE_MESSAGE_MAX_BYTES == 930, "update message size");
_Static_assert(KT_REGISTRAR_TOKEN_MESSAGE_MAX_BYTES == 938, "token message size");
_Static_assert(KT_MAP_LEAF_BYTES == 80, "map leaf size");
_Static_assert(KT_LOG_ENTRY_UPDATE_BYTES == 153, "update entry size");
_Static_assert(KT_LOG_ENTRY_HEARTBEAT_BYTES == 41, "heartbeat size");
_Static_assert(KT_MAX_DEVICES_ENCODING <= UINT16_MAX, "count fits u16");
_Static_assert(KT_REASON_MAX <= UINT16_MAX, "reason fits vec16");
_Static_assert(KT_PUSH_ADDRESS_MAX <= UINT16_MAX, "push fits vec16");

/* Sets the writer's sticky error (first one wins) and returns code. */
static int wfail(kt_wbuf *w, int code)
{
	if (w->err == KT_OK)
		w->err = code;
	return code;
}

static void put_domain(kt_wbuf *w, const char *s, size_t n)
{
	kt_put_vec8(w, (const uint8_t *)s, n);
}

/* Checks a length against [min, max]: KT_ERR_BAD_LENGTH / KT_ERR_TOO_LARGE. */
static int check_len(size_t n, size_t min, size_t max)
{
	if (n > max)
		return KT_ERR_TOO_LARGE;
	if (n < min)
		return KT_ERR_BAD_LENGTH;
	return KT_OK;
}

/* Copies a vecN body into dst (capacity checked by the getter's max). */
static void copy_out(uint8_t *dst, size_t *dst_len, const uint8_t *p, size_t n)
{
	if (p != NULL && n != 0)
		memcpy(dst, p, n);
	*dst_len = p != NULL ? n : 0;
}

/* ---- text ------------------------------------------------------------ */

/* Length of the UTF-8 sequence starting at p[0..len), or 0 if invalid. */
static size_t utf8_seq(const uint8_t *p, size_t len)
{
	uint8_t c = p[0], lo = 0x80, hi = 0xbf;
	size_t n, i;

	if (c >= 0x01 && c <= 0x7f)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0; /* U+0000, continuation byte, C0/C1, F5..FF */
	if (c == 0xe0)
		lo = 0xa0; /* overlong 3-byte */
	else if (c == 0xed)
		hi = 0x9f; /* surrogates */
	else if (c == 0xf0)
		lo = 0x90; /* overlong 4-byte */
	else if (c == 0xf4)
		hi = 0x8f; /* above U+10FFFF */
	if (n > len)
		return 0;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return n;
}

int kt_utf8_check(const uint8_t *p, size_t len)
{
	size_t off = 0, n;

	while (off < len) {
		n = utf8_seq(p + off, len - off);
		if (n == 0)
			return KT_ERR_BAD_UTF8;
		off += n;
	}
	return KT_OK;
}

int kt_account_check(const uint8_t *account, size_t len)
{
	int r = check_len(len, KT_ACCOUNT_MIN, KT_ACCOUNT_MAX);

	if (r != KT_OK)
		return r;
	return kt_utf8_check(account, len);
}

/* ---- keys and signatures --------------------------------------------- */

static int sign_key_check(const kt_sign_key *k)
{
	return k->type == KT_SIGN_KEY_ED25519 ? KT_OK : KT_ERR_BAD_KEY_TYPE;
}

static int enc_key_check(const kt_enc_key *k)
{
	return k->type == KT_ENC_KEY_X25519 ? KT_OK : KT_ERR_BAD_KEY_TYPE;
}

static int signature_check(const kt_signature *s)
{
	return s->type == KT_SIG_ED25519 ? KT_OK : KT_ERR_BAD_KEY_TYPE;
}

static void put_sign_key(kt_wbuf *w, const kt_sign_key *k)
{
	kt_put_u8(w, k->type);
	kt_put_fixed(w, k->pk, sizeof(k->pk));
}

static void put_enc_key(kt_wbuf *w, const kt_enc_key *k)
{
	kt_put_u8(w, k->type);
	kt_put_fixed(w, k->pk, sizeof(k->pk));
}

static void put_signature(kt_wbuf *w, const kt_signature *s)
{
	kt_put_u8(w, s->type);
	kt_put_fixed(w, s->sig, sizeof(s->sig));
}

/* The type byte decides the length, so an unknown type stops decoding. */
static void get_sign_key(kt_rbuf *rb, kt_sign_key *k)
{
	k->type = kt_get_u8(rb);
	if (sign_key_check(k) != KT_OK)
		kt_rbuf_fail(rb, KT_ERR_BAD_KEY_TYPE);
	kt_get_fixed(rb, k->pk, sizeof(k->pk));
}

static void get_enc_key(kt_rbuf *rb, kt_enc_key *k)
{
	k->type = kt_get_u8(rb);
	if (enc_key_check(k) != KT_OK)
		kt_rbuf_fail(rb, KT_ERR_BAD_KEY_TYPE);
	kt_get_fixed(rb, k->pk, sizeof(k->pk));
}

static void get_signature(kt_rbuf *rb, kt_signature *s)
{
	s->type = kt_get_u8(rb);
	if (signature_check(s) != KT_OK)
		kt_rbuf_fail(rb, KT_ERR_BAD_KEY_TYPE);
	kt_get_fixed(rb, s->sig, sizeof(s->sig));
}

int kt_sign_key_encode(kt_wbuf *w, const kt_sign_key *k)
{
	int r = sign_key_check(k);

	if (r != KT_OK)
		return wfail(w, r);
	put_sign_key(w, k);
	return kt_wbuf_error(w);
}

int kt_enc_key_encode(kt_wbuf *w, const kt_enc_key *k)
{
	int r = enc_key_check(k);

	if (r != KT_OK)
		return wfail(w, r);
	put_enc_key(w, k);
	return kt_wbuf_error(w);
}

int kt_signature_encode(kt_wbuf *w, const kt_signature *s)
{
	int r = signature_check(s);

	if (r != KT_OK)
		return wfail(w, r);
	put_signature(w, s);
	return kt_wbuf_error(w);
}

int kt_sign_key_decode(kt_sign_key *k, const uint8_t *p, size_t len)
{
	kt_rbuf rb;
	int r;

	kt_rbuf_init(&rb, p, len);
	get_sign_key(&rb, k);
	r = kt_rbuf_finish(&rb);
	if (r != KT_OK)
		memset(k, 0, sizeof(*k));
	return r;
}

int kt_enc_key_decode(kt_enc_key *k, const uint8_t *p, size_t len)
{
	kt_rbuf rb;
	int r;

	kt_rbuf_init(&rb, p, len);
	get_enc_key(&rb, k);
	r = kt_rbuf_finish(&rb);
	if (r != KT_OK)
		memset(k, 0, sizeof(*k));
	return r;
}

int kt_signature_decode(kt_signature *s, const uint8_t *p, size_t len)
{
	kt_rbuf rb;
	int r;

	kt_rbuf_init(&rb, p, len);
	get_signature(&rb, s);
	r = kt_rbuf_finish(&rb);
	if (r != KT_OK)
		memset(s, 0, sizeof(*s));
	return r;
}

/* 1 if the little-endian 255-bit value in b (bit 255 masked off) is below
 * p = 2^255 - 19. */
static int below_p(const uint8_t b[32])
{
	size_t i;

	if ((b[31] & 0x7f) != 0x7f)
		return 1;
	for (i = 30; i >= 1; i--)
		if (b[i] != 0xff)
			return 1;
	return b[0] < 0xed;
}

int kt_sign_key_validate(const kt_sign_key *k)
{
	int r = sign_key_check(k);

	if (r != KT_OK)
		return r;
	/* y must be canonical; libsodium's check below covers on-curve, the
	 * prime-order subgroup and small order (which includes the identity and
	 * the x = 0 "negative zero" encodings). */
	if (!below_p(k->pk))
		return KT_ERR_BAD_KEY;
	if (crypto_core_ed25519_is_valid_point(k->pk) != 1)
		return KT_ERR_BAD_KEY;
	return KT_OK;
}

/*
 * The low-order X25519 public keys, as canonical u-coordinates
 * (little-endian).  Curve25519's group is Z/8 x Z/l and its quadratic
 * twist's is Z/4 x Z/l' (l, l' prime, about 2^252 and 2^253); X25519 reads
 * any u < p as a point of one of the two.  The points of order dividing 8
 * have exactly these u-coordinates:
 *   u = 0       order 2 on both (the only 2-torsion point: A^2 - 4 is not
 *               a square) — the all-zero key, refused separately;
 *   u = 1       order 4 on the curve (A + 2 is a square);
 *   u = p - 1   order 4 on the twist (A - 2 is not a square);
 *   u = 325606250916557431795983626356110631294008115727848805560023387167927233504
 *   u = 39382357235489614581723060781553021112529911719440698176882885853963445705823
 *               order 8 on the curve (the roots of x(2P) = 1; the twist
 *               has no point of order 8).
 * The point at infinity has no u.  Every other encoding of these values
 * has u >= p or the top bit set, refused as non-canonical.  A clamped
 * X25519 scalar is a multiple of 8 and below 8*l, so these are exactly the
 * keys whose shared secret is all zeros for every secret key.
 * tests/unit/test_types.c checks the list against that property.
 */
static const uint8_t x25519_low_order[4][KT_X25519_PK_BYTES] = {
	{0x01},
	{0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
	{0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae,
	 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4, 0x6a,
	 0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd,
	 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49, 0xb8, 0x00},
	{0x5f, 0x9c, 0x95, 0xbc, 0xa3, 0x50, 0x8c, 0x24,
	 0xb1, 0xd0, 0xb1, 0x55, 0x9c, 0x83, 0xef, 0x5b,
	 0x04, 0x44, 0x5c, 0xc4, 0x58, 0x1c, 0x8e, 0x86,
	 0xd8, 0x22, 0x4e, 0xdd, 0xd0, 0x9f, 0x11, 0x57},
};

int kt_enc_key_validate(const kt_enc_key *k)
{
	size_t i;
	int r = enc_key_check(k);

	if (r != KT_OK)
		return r;
	if (sodium_is_zero(k->pk, sizeof(k->pk)))
		return KT_ERR_BAD_KEY;
	/* Canonical u: the top bit clear and u < p. */
	if ((k->pk[31] & 0x80) != 0 || !below_p(k->pk))
		return KT_ERR_BAD_KEY;
	/* Low order (public key: memcmp). */
	for (i = 0; i < sizeof(x25519_low_order) / sizeof(x25519_low_order[0]); i++)
		if (memcmp(k->pk, x25519_low_order[i], KT_X25519_PK_BYTES) == 0)
			return KT_ERR_BAD_KEY;
	return KT_OK;
}

int kt_sig_sign(kt_signature *sig, const uint8_t sk[KT_ED25519_SK_BYTES],
		const uint8_t *msg, size_t len)
{
	static const uint8_t empty = 0;

	sig->type = KT_SIG_ED25519;
	if (crypto_sign_detached(sig->sig, NULL, msg != NULL ? msg : &empty, len,
				 sk) != 0) {
		memset(sig, 0, sizeof(*sig));
		return KT_ERR_INTERNAL;
	}
	return KT_OK;
}

/* kt_sig_verify; with committed_key the key's validation is left to
 * libsodium's verify (canonical, not of small order): see
 * kt_update_verify_committed. */
static int sig_verify(const kt_sign_key *pk, const kt_signature *sig,
		      const uint8_t *msg, size_t len, int committed_key)
{
	static const uint8_t empty = 0;
	int r;

	if (sign_key_check(pk) != KT_OK || signature_check(sig) != KT_OK)
		return KT_ERR_BAD_KEY_TYPE;
	if (!committed_key) {
		r = kt_sign_key_validate(pk);
		if (r != KT_OK)
			return r;
	}
	if (crypto_sign_verify_detached(sig->sig, msg != NULL ? msg : &empty,
					len, pk->pk) != 0)
		return KT_ERR_BAD_SIGNATURE;
	return KT_OK;
}

int kt_sig_verify(const kt_sign_key *pk, const kt_signature *sig,
		  const uint8_t *msg, size_t len)
{
	return sig_verify(pk, sig, msg, len, 0);
}

/* ---- devices ---------------------------------------------------------- */

int kt_device_id_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	size_t n = alen < blen ? alen : blen;
	int c = n != 0 ? memcmp(a, b, n) : 0; /* public ids: memcmp is fine */

	if (c != 0)
		return c < 0 ? -1 : 1;
	if (alen == blen)
		return 0;
	return alen < blen ? -1 : 1;
}

static int kind_ok(uint8_t kind)
{
	return kind >= KT_DEVICE_PRIMARY && kind <= KT_DEVICE_OTHER;
}

/* Everything the spec encoder needs to hold, keys' type bytes included
 * (not the added_by fields: see device_full_check). */
static int device_check(const kt_device *d)
{
	int r = check_len(d->id_len, KT_DEVICE_ID_MIN, KT_DEVICE_ID_MAX);

	if (r == KT_OK)
		r = check_len(d->push_len, 0, KT_PUSH_ADDRESS_MAX);
	if (r == KT_OK)
		r = sign_key_check(&d->sign_pk);
	if (r == KT_OK)
		r = enc_key_check(&d->enc_pk);
	if (r == KT_OK && !kind_ok(d->kind))
		r = KT_ERR_BAD_TYPE;
	return r;
}

static int prov_type_known(uint8_t type)
{
	return type >= KT_PROV_DEVICE && type <= KT_PROV_OPERATOR;
}

/* The added_by fields of a device: a known provenance type, and an id of
 * 1..64 bytes for KT_PROV_DEVICE, none for the others. */
static int added_by_check(uint8_t type, size_t id_len)
{
	if (!prov_type_known(type))
		return KT_ERR_BAD_TYPE;
	if (type == KT_PROV_DEVICE)
		return check_len(id_len, KT_DEVICE_ID_MIN, KT_DEVICE_ID_MAX);
	return check_len(id_len, 0, 0);
}

/* A device as it is encoded in a value: the spec and the added_by fields. */
static int device_full_check(const kt_device *d)
{
	int r = device_check(d);

	return r != KT_OK ? r : added_by_check(d->added_by_type, d->added_by_id_len);
}

/* with_time: the device encoding (added_at_ms and added_by) rather than
 * the spec. */
static void put_device(kt_wbuf *w, const kt_device *d, int with_time)
{
	kt_put_vec8(w, d->id, d->id_len);
	put_sign_key(w, &d->sign_pk);
	put_enc_key(w, &d->enc_pk);
	kt_put_vec16(w, d->push, d->push_len);
	kt_put_u8(w, d->kind);
	if (with_time) {
		kt_put_u64(w, d->added_at_ms);
		kt_put_u8(w, d->added_by_type);
		kt_put_vec8(w, d->added_by_id, d->added_by_id_len);
	}
}

/* added_by_type || vec8 added_by_id; an unknown type stops at its byte,
 * the id's caps depend on the type. */
static void get_added_by(kt_rbuf *rb, kt_device *d)
{
	const uint8_t *p;
	size_t n;

	d->added_by_type = kt_get_u8(rb);
	if (!prov_type_known(d->added_by_type)) {
		kt_rbuf_fail(rb, KT_ERR_BAD_TYPE); /* no-op if already truncated */
		return;
	}
	if (d->added_by_type == KT_PROV_DEVICE)
		p = kt_get_vec8(rb, KT_DEVICE_ID_MIN, KT_DEVICE_ID_MAX, &n);
	else
		p = kt_get_vec8(rb, 0, 0, &n);
	copy_out(d->added_by_id, &d->added_by_id_len, p, n);
}

static void get_device(kt_rbuf *rb, kt_device *d, int with_time)
{
	const uint8_t *p;
	size_t n;

	memset(d, 0, sizeof(*d));
	p = kt_get_vec8(rb, KT_DEVICE_ID_MIN, KT_DEVICE_ID_MAX, &n);
	copy_out(d->id, &d->id_len, p, n);
	get_sign_key(rb, &d->sign_pk);
	get_enc_key(rb, &d->enc_pk);
	p = kt_get_vec16(rb, 0, KT_PUSH_ADDRESS_MAX, &n);
	copy_out(d->push, &d->push_len, p, n);
	d->kind = kt_get_u8(rb);
	if (!kind_ok(d->kind))
		kt_rbuf_fail(rb, KT_ERR_BAD_TYPE);
	if (with_time) {
		d->added_at_ms = kt_get_u64(rb);
		get_added_by(rb, d);
	}
}

static int device_encode(kt_wbuf *w, const kt_device *d, int with_time)
{
	int r = with_time ? device_full_check(d) : device_check(d);

	if (r != KT_OK)
		return wfail(w, r);
	put_device(w, d, with_time);
	return kt_wbuf_error(w);
}

static int device_decode(kt_device *d, const uint8_t *p, size_t len, int with_time)
{
	kt_rbuf rb;
	int r;

	kt_rbuf_init(&rb, p, len);
	get_device(&rb, d, with_time);
	r = kt_rbuf_finish(&rb);
	if (r != KT_OK)
		memset(d, 0, sizeof(*d));
	return r;
}

int kt_device_encode(kt_wbuf *w, const kt_device *d)
{
	return device_encode(w, d, 1);
}

int kt_device_decode(kt_device *d, const uint8_t *p, size_t len)
{
	return device_decode(d, p, len, 1);
}

int kt_device_spec_encode(kt_wbuf *w, const kt_device *d)
{
	return device_encode(w, d, 0);
}

int kt_device_spec_decode(kt_device *d, const uint8_t *p, size_t len)
{
	return device_decode(d, p, len, 0);
}

int kt_device_validate(const kt_device *d)
{
	int r = device_check(d);

	if (r == KT_OK)
		r = kt_sign_key_validate(&d->sign_pk);
	if (r == KT_OK)
		r = kt_enc_key_validate(&d->enc_pk);
	return r;
}

int kt_device_validate_recipient(const kt_device *d)
{
	int r = device_check(d);

	if (r == KT_OK)
		r = kt_enc_key_validate(&d->enc_pk);
	return r;
}

/* ---- account values --------------------------------------------------- */

void kt_account_value_init(kt_account_value *v)
{
	v->devices = NULL;
	v->count = 0;
}

void kt_account_value_free(kt_account_value *v)
{
	if (v == NULL)
		return;
	free(v->devices);
	kt_account_value_init(v);
}

int kt_account_value_copy(kt_account_value *dst, const kt_account_value *src)
{
	kt_account_value_init(dst);
	if (src->count > KT_MAX_DEVICES_ENCODING)
		return KT_ERR_TOO_LARGE;
	if (src->count == 0)
		return KT_OK;
	dst->devices = malloc(src->count * sizeof(kt_device));
	if (dst->devices == NULL)
		return KT_ERR_NOMEM;
	memcpy(dst->devices, src->devices, src->count * sizeof(kt_device));
	dst->count = src->count;
	return KT_OK;
}

/* Count cap, each device's structure, strictly ascending ids. */
static int value_check(const kt_account_value *v)
{
	size_t i;
	int r;

	if (v->count > KT_MAX_DEVICES_ENCODING)
		return KT_ERR_TOO_LARGE;
	for (i = 0; i < v->count; i++) {
		r = device_full_check(&v->devices[i]);
		if (r != KT_OK)
			return r;
		if (i > 0 && kt_device_id_cmp(v->devices[i - 1].id,
					      v->devices[i - 1].id_len,
					      v->devices[i].id,
					      v->devices[i].id_len) >= 0)
			return KT_ERR_NONCANONICAL;
	}
	return KT_OK;
}

int kt_account_value_encode(kt_wbuf *w, const kt_account_value *v)
{
	size_t i;
	int r = value_check(v);

	if (r != KT_OK)
		return wfail(w, r);
	kt_put_u16(w, (uint16_t)v->count);
	for (i = 0; i < v->count; i++)
		put_device(w, &v->devices[i], 1);
	return kt_wbuf_error(w);
}

int kt_account_value_decode(kt_account_value *v, const uint8_t *p, size_t len)
{
	kt_rbuf rb;
	kt_device *devs = NULL;
	size_t count, i;
	int r;

	kt_account_value_init(v);
	kt_rbuf_init(&rb, p, len);
	count = kt_get_u16(&rb);
	if (count > KT_MAX_DEVICES_ENCODING)
		kt_rbuf_fail(&rb, KT_ERR_TOO_LARGE);
	/* Never allocate more devices than the remaining bytes could hold. */
	else if (count > kt_rbuf_remaining(&rb) / KT_DEVICE_MIN_BYTES)
		kt_rbuf_fail(&rb, KT_ERR_TRUNCATED);
	if (rb.err == KT_OK && count > 0) {
		devs = calloc(count, sizeof(kt_device));
		if (devs == NULL)
			kt_rbuf_fail(&rb, KT_ERR_NOMEM);
	}
	for (i = 0; i < count && rb.err == KT_OK; i++) {
		get_device(&rb, &devs[i], 1);
		if (rb.err == KT_OK && i > 0 &&
		    kt_device_id_cmp(devs[i - 1].id, devs[i - 1].id_len,
				     devs[i].id, devs[i].id_len) >= 0)
			kt_rbuf_fail(&rb, KT_ERR_NONCANONICAL);
	}
	r = kt_rbuf_finish(&rb);
	if (r != KT_OK)
		goto out;
	v->devices = devs;
	v->count = count;
	devs = NULL;
out:
	free(devs);
	return r;
}

int kt_account_value_validate(const kt_account_value *v)
{
	size_t i;
	int r = value_check(v);

	for (i = 0; r == KT_OK && i < v->count; i++)
		r = kt_device_validate(&v->devices[i]);
	return r;
}

int kt_account_value_validate_recipients(const kt_account_value *v)
{
	size_t i;
	int r = value_check(v);

	for (i = 0; r == KT_OK && i < v->count; i++)
		r = kt_device_validate_recipient(&v->devices[i]);
	return r;
}

/* Position of id in v, or the insertion point with *found = 0. */
static size_t value_search(const kt_account_value *v, const uint8_t *id,
			   size_t id_len, int *found)
{
	size_t i;
	int c;

	*found = 0;
	for (i = 0; i < v->count; i++) {
		c = kt_device_id_cmp(v->devices[i].id, v->devices[i].id_len, id, id_len);
		if (c == 0)
			*found = 1;
		if (c >= 0)
			break;
	}
	return i;
}

const kt_device *kt_account_value_find(const kt_account_value *v,
				       const uint8_t *id, size_t id_len)
{
	int found;
	size_t i = value_search(v, id, id_len, &found);

	return found ? &v->devices[i] : NULL;
}

int kt_account_value_add(kt_account_value *v, const kt_device *d, size_t max_devices)
{
	kt_device *devs;
	size_t i, cap = max_devices < KT_MAX_DEVICES_ENCODING ?
			max_devices : KT_MAX_DEVICES_ENCODING;
	int found, r = device_full_check(d);

	if (r != KT_OK)
		return r;
	i = value_search(v, d->id, d->id_len, &found);
	if (found)
		return KT_ERR_DEVICE_EXISTS;
	if (v->count >= cap)
		return KT_ERR_TOO_LARGE;
	devs = realloc(v->devices, (v->count + 1) * sizeof(kt_device));
	if (devs == NULL)
		return KT_ERR_NOMEM;
	memmove(&devs[i + 1], &devs[i], (v->count - i) * sizeof(kt_device));
	devs[i] = *d;
	v->devices = devs;
	v->count++;
	return KT_OK;
}

int kt_account_value_remove(kt_account_value *v, const uint8_t *id, size_t id_len)
{
	int found;
	size_t i = value_search(v, id, id_len, &found);

	if (!found)
		return KT_ERR_NOT_FOUND;
	memmove(&v->devices[i], &v->devices[i + 1],
		(v->count - i - 1) * sizeof(kt_device));
	v->count--;
	if (v->count == 0)
		kt_account_value_free(v);
	return KT_OK;
}

int kt_account_value_set_push(kt_account_value *v, const uint8_t *id,
			      size_t id_len, const uint8_t *push, size_t push_len)
{
	int found;
	size_t i;
	kt_device *d;

	if (push_len > KT_PUSH_ADDRESS_MAX)
		return KT_ERR_TOO_LARGE;
	i = value_search(v, id, id_len, &found);
	if (!found)
		return KT_ERR_NOT_FOUND;
	d = &v->devices[i];
	if (push_len != 0)
		memcpy(d->push, push, push_len);
	memset(d->push + push_len, 0, sizeof(d->push) - push_len);
	d->push_len = push_len;
	return KT_OK;
}

/* ---- update operations ------------------------------------------------ */

static int op_known(uint8_t op)
{
	return op >= KT_OP_ADD_DEVICE && op <= KT_OP_ENROL;
}

static int op_check(const kt_update_op *op)
{
	int r;

	switch (op->op) {
	case KT_OP_ADD_DEVICE:
	case KT_OP_ENROL:
		return device_check(&op->device);
	case KT_OP_REMOVE_DEVICE:
		return check_len(op->device_id_len, KT_DEVICE_ID_MIN, KT_DEVICE_ID_MAX);
	case KT_OP_SET_PUSH:
		r = check_len(op->device_id_len, KT_DEVICE_ID_MIN, KT_DEVICE_ID_MAX);
		return r != KT_OK ? r : check_len(op->push_len, 0, KT_PUSH_ADDRESS_MAX);
	default:
		return KT_ERR_BAD_TYPE;
	}
}

/* Writes a checked op. */
static void put_op(kt_wbuf *w, const kt_update_op *op)
{
	kt_put_u8(w, op->op);
	switch (op->op) {
	case KT_OP_ADD_DEVICE:
	case KT_OP_ENROL:
		put_device(w, &op->device, 0);
		break;
	case KT_OP_REMOVE_DEVICE:
		kt_put_vec8(w, op->device_id, op->device_id_len);
		break;
	default: /* KT_OP_SET_PUSH */
		kt_put_vec8(w, op->device_id, op->device_id_len);
		kt_put_vec16(w, op->push, op->push_len);
		break;
	}
}

/* Reads the payload of a known op whose byte is already in op->op. */
static void get_op_payload(kt_rbuf *rb, kt_update_op *op)
{
	const uint8_t *q;
	size_t n;

	switch (op->op) {
	case KT_OP_ADD_DEVICE:
	case KT_OP_ENROL:
		get_device(rb, &op->device, 0);
		break;
	default: /* KT_OP_REMOVE_DEVICE, KT_OP_SET_PUSH */
		q = kt_get_vec8(rb, KT_DEVICE_ID_MIN, KT_DEVICE_ID_MAX, &n);
		copy_out(op->device_id, &op->device_id_len, q, n);
		if (op->op == KT_OP_SET_PUSH) {
			q = kt_get_vec16(rb, 0, KT_PUSH_ADDRESS_MAX, &n);
			copy_out(op->push, &op->push_len, q, n);
		}
		break;
	}
}

int kt_update_op_encode(kt_wbuf *w, const kt_update_op *op)
{
	int r = op_check(op);

	if (r != KT_OK)
		return wfail(w, r);
	put_op(w, op);
	return kt_wbuf_error(w);
}

int kt_update_op_decode(kt_update_op *op, const uint8_t *p, size_t len)
{
	kt_rbuf rb;
	int r;

	memset(op, 0, sizeof(*op));
	kt_rbuf_init(&rb, p, len);
	op->op = kt_get_u8(&rb);
	if (op_known(op->op))
		get_op_payload(&rb, op);
	else
		kt_rbuf_fail(&rb, KT_ERR_BAD_TYPE); /* no-op if already truncated */
	r = kt_rbuf_finish(&rb);
	if (r != KT_OK)
		memset(op, 0, sizeof(*op));
	return r;
}

/* ---- provenance ------------------------------------------------------- */

/* Which (known) ops a (known) provenance type may carry: enrolment is the
 * registrar's alone, and the registrar authorises nothing else. */
static int prov_op_allowed(uint8_t type, uint8_t op)
{
	if (type == KT_PROV_REGISTRAR)
		return op == KT_OP_ENROL;
	return op != KT_OP_ENROL;
}

/* The fields after the op, of a known type. */
static int prov_body_check(const kt_provenance *pv)
{
	int r;

	switch (pv->type) {
	case KT_PROV_DEVICE:
		r = check_len(pv->device_id_len, KT_DEVICE_ID_MIN, KT_DEVICE_ID_MAX);
		return r != KT_OK ? r : signature_check(&pv->sig);
	case KT_PROV_REGISTRAR:
		r = sign_key_check(&pv->registrar_pk);
		return r != KT_OK ? r : signature_check(&pv->sig);
	default: /* KT_PROV_OPERATOR */
		r = check_len(pv->reason_len, KT_REASON_MIN, KT_REASON_MAX);
		if (r == KT_OK)
			r = check_len(pv->label_len, 0, KT_OPERATOR_LABEL_MAX);
		if (r == KT_OK)
			r = kt_utf8_check(pv->reason, pv->reason_len);
		if (r == KT_OK)
			r = kt_utf8_check(pv->label, pv->label_len);
		return r;
	}
}

/* In the decoder's order: type, op byte, op/type pairing, op payload, body. */
static int provenance_check(const kt_provenance *pv)
{
	int r;

	if (!prov_type_known(pv->type) || !op_known(pv->op.op))
		return KT_ERR_BAD_TYPE;
	if (!prov_op_allowed(pv->type, pv->op.op))
		return KT_ERR_PROVENANCE_OP;
	r = op_check(&pv->op);
	return r != KT_OK ? r : prov_body_check(pv);
}

int kt_provenance_encode(kt_wbuf *w, const kt_provenance *pv)
{
	int r = provenance_check(pv);

	if (r != KT_OK)
		return wfail(w, r);
	kt_put_u8(w, pv->type);
	put_op(w, &pv->op);
	switch (pv->type) {
	case KT_PROV_DEVICE:
		kt_put_vec8(w, pv->device_id, pv->device_id_len);
		put_signature(w, &pv->sig);
		break;
	case KT_PROV_REGISTRAR:
		put_sign_key(w, &pv->registrar_pk);
		kt_put_u64(w, pv->expiry_ms);
		put_signature(w, &pv->sig);
		break;
	default: /* KT_PROV_OPERATOR, checked above */
		kt_put_vec16(w, pv->reason, pv->reason_len);
		kt_put_vec8(w, pv->label, pv->label_len);
		break;
	}
	return kt_wbuf_error(w);
}

static void get_text16(kt_rbuf *rb, uint8_t *dst, size_t *dst_len,
		       size_t min, size_t max)
{
	size_t n;
	const uint8_t *p = kt_get_vec16(rb, min, max, &n);

	copy_out(dst, dst_len, p, n);
	if (kt_utf8_check(dst, *dst_len) != KT_OK)
		kt_rbuf_fail(rb, KT_ERR_BAD_UTF8);
}

static void get_text8(kt_rbuf *rb, uint8_t *dst, size_t *dst_len,
		      size_t min, size_t max)
{
	size_t n;
	const uint8_t *p = kt_get_vec8(rb, min, max, &n);

	copy_out(dst, dst_len, p, n);
	if (kt_utf8_check(dst, *dst_len) != KT_OK)
		kt_rbuf_fail(rb, KT_ERR_BAD_UTF8);
}

/* The op of a provenance of known type: a disallowed op is rejected at its
 * byte, before its payload is read. */
static void get_prov_op(kt_rbuf *rb, kt_provenance *pv)
{
	pv->op.op = kt_get_u8(rb);
	if (!op_known(pv->op.op))
		kt_rbuf_fail(rb, KT_ERR_BAD_TYPE);
	else if (!prov_op_allowed(pv->type, pv->op.op))
		kt_rbuf_fail(rb, KT_ERR_PROVENANCE_OP);
	else
		get_op_payload(rb, &pv->op);
}

/* The fields after the op, of a known type. */
static void get_prov_body(kt_rbuf *rb, kt_provenance *pv)
{
	const uint8_t *q;
	size_t n;

	switch (pv->type) {
	case KT_PROV_DEVICE:
		q = kt_get_vec8(rb, KT_DEVICE_ID_MIN, KT_DEVICE_ID_MAX, &n);
		copy_out(pv->device_id, &pv->device_id_len, q, n);
		get_signature(rb, &pv->sig);
		break;
	case KT_PROV_REGISTRAR:
		get_sign_key(rb, &pv->registrar_pk);
		pv->expiry_ms = kt_get_u64(rb);
		get_signature(rb, &pv->sig);
		break;
	default: /* KT_PROV_OPERATOR */
		get_text16(rb, pv->reason, &pv->reason_len, KT_REASON_MIN, KT_REASON_MAX);
		get_text8(rb, pv->label, &pv->label_len, 0, KT_OPERATOR_LABEL_MAX);
		break;
	}
}

int kt_provenance_decode(kt_provenance *pv, const uint8_t *p, size_t len)
{
	kt_rbuf rb;
	int r;

	memset(pv, 0, sizeof(*pv));
	kt_rbuf_init(&rb, p, len);
	pv->type = kt_get_u8(&rb);
	if (prov_type_known(pv->type)) {
		get_prov_op(&rb, pv);
		get_prov_body(&rb, pv);
	} else {
		kt_rbuf_fail(&rb, KT_ERR_BAD_TYPE); /* no-op if already truncated */
	}
	r = kt_rbuf_finish(&rb);
	if (r != KT_OK)
		memset(pv, 0, sizeof(*pv));
	return r;
}

/* ---- transitions ------------------------------------------------------ */

/* set_push on v: KT_ERR_NOT_FOUND, or KT_ERR_NOOP_CHANGE if the address is
 * already the device's. */
static int apply_set_push(kt_account_value *v, const kt_update_op *op)
{
	const kt_device *cur = kt_account_value_find(v, op->device_id,
						     op->device_id_len);

	if (cur == NULL)
		return KT_ERR_NOT_FOUND;
	/* Push addresses are public: memcmp is fine. */
	if (cur->push_len == op->push_len &&
	    (op->push_len == 0 || memcmp(cur->push, op->push, op->push_len) == 0))
		return KT_ERR_NOOP_CHANGE;
	return kt_account_value_set_push(v, op->device_id, op->device_id_len,
					 op->push, op->push_len);
}

/* What kt_value_apply_op reads of a provenance: type, op, the pairing, and
 * the authorising device's id (the body's signature and texts are not
 * needed to apply the change). */
static int prov_apply_check(const kt_provenance *pv)
{
	int r;

	if (!prov_type_known(pv->type) || !op_known(pv->op.op))
		return KT_ERR_BAD_TYPE;
	if (!prov_op_allowed(pv->type, pv->op.op))
		return KT_ERR_PROVENANCE_OP;
	r = op_check(&pv->op);
	if (r == KT_OK && pv->type == KT_PROV_DEVICE)
		r = check_len(pv->device_id_len, KT_DEVICE_ID_MIN, KT_DEVICE_ID_MAX);
	return r;
}

/* The device an add / enrol inserts: the op's spec, stamped with the time
 * and with who added it. */
static void added_device(kt_device *d, const kt_provenance *pv,
			 uint64_t added_at_ms)
{
	*d = pv->op.device;
	d->added_at_ms = added_at_ms;
	d->added_by_type = pv->type;
	memset(d->added_by_id, 0, sizeof(d->added_by_id));
	d->added_by_id_len = 0;
	if (pv->type == KT_PROV_DEVICE) {
		memcpy(d->added_by_id, pv->device_id, pv->device_id_len);
		d->added_by_id_len = pv->device_id_len;
	}
}

int kt_value_apply_op(kt_account_value *out, const kt_account_value *prev,
		      const kt_provenance *pv, uint64_t added_at_ms,
		      size_t max_devices)
{
	const kt_update_op *op;
	kt_account_value v;
	kt_device d;
	int r;

	if (out == prev)
		return KT_ERR_INVALID_ARG;
	kt_account_value_init(out);
	kt_account_value_init(&v);
	r = prov_apply_check(pv);
	if (r == KT_OK)
		r = value_check(prev);
	if (r == KT_OK)
		r = kt_account_value_copy(&v, prev);
	if (r != KT_OK)
		goto out;
	op = &pv->op;
	switch (op->op) {
	case KT_OP_ADD_DEVICE:
	case KT_OP_ENROL:
		added_device(&d, pv, added_at_ms);
		r = kt_account_value_add(&v, &d, max_devices);
		break;
	case KT_OP_REMOVE_DEVICE:
		r = kt_account_value_remove(&v, op->device_id, op->device_id_len);
		break;
	default: /* KT_OP_SET_PUSH, checked by op_check */
		r = apply_set_push(&v, op);
		break;
	}
	if (r != KT_OK)
		goto out;
	*out = v;
	kt_account_value_init(&v);
out:
	kt_account_value_free(&v);
	return r;
}

int kt_provenance_check_transition(const kt_account_value *prev,
				   const kt_account_value *next,
				   const kt_provenance *pv, uint64_t added_at_ms)
{
	kt_account_value want;
	kt_wbuf a, b;
	int r;

	kt_account_value_init(&want);
	kt_wbuf_init(&a, KT_VALUE_MAX_BYTES);
	kt_wbuf_init(&b, KT_VALUE_MAX_BYTES);
	r = provenance_check(pv);
	if (r == KT_OK)
		r = kt_value_apply_op(&want, prev, pv, added_at_ms,
				      KT_MAX_DEVICES_ENCODING);
	if (r == KT_OK)
		r = kt_account_value_encode(&a, &want);
	if (r == KT_OK)
		r = kt_account_value_encode(&b, next);
	if (r != KT_OK)
		goto out;
	/* Values are public: memcmp is fine.  Both are >= 2 bytes. */
	if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0)
		r = KT_ERR_VALUE_MISMATCH;
	/* The apply path refuses a token whose expiry is before the entry's
	 * time, so a committed registrar change after it is not authorised. */
	else if (pv->type == KT_PROV_REGISTRAR && added_at_ms > pv->expiry_ms)
		r = KT_ERR_TOKEN_EXPIRED;
out:
	kt_wbuf_free(&a);
	kt_wbuf_free(&b);
	kt_account_value_free(&want);
	return r;
}

/* ---- signed messages -------------------------------------------------- */

int kt_update_message(kt_wbuf *w, const uint8_t *account, size_t account_len,
		      const kt_update_op *op, uint64_t expected_version)
{
	int r = kt_account_check(account, account_len);

	if (r == KT_OK)
		r = op_check(op);
	if (r != KT_OK)
		return wfail(w, r);
	put_domain(w, KT_DOMAIN_UPDATE, DOMAIN_LEN(KT_DOMAIN_UPDATE));
	kt_put_vec8(w, account, account_len);
	put_op(w, op);
	kt_put_u64(w, expected_version);
	return kt_wbuf_error(w);
}

int kt_registrar_token_message(kt_wbuf *w, const uint8_t *account,
			       size_t account_len, const kt_device *device_spec,
			       uint64_t expiry_ms)
{
	int r = kt_account_check(account, account_len);

	if (r == KT_OK)
		r = device_check(device_spec);
	if (r != KT_OK)
		return wfail(w, r);
	put_domain(w, KT_DOMAIN_REGISTRAR_TOKEN, DOMAIN_LEN(KT_DOMAIN_REGISTRAR_TOKEN));
	kt_put_vec8(w, account, account_len);
	put_device(w, device_spec, 0); /* the whole spec, not only its sign key */
	kt_put_u64(w, expiry_ms);
	return kt_wbuf_error(w);
}

int kt_history_request_message(kt_wbuf *w, const uint8_t *account,
			       size_t account_len, uint64_t from_version,
			       uint64_t timestamp_ms, const uint8_t *device_id,
			       size_t device_id_len)
{
	int r = kt_account_check(account, account_len);

	if (r == KT_OK)
		r = check_len(device_id_len, KT_DEVICE_ID_MIN, KT_DEVICE_ID_MAX);
	if (r != KT_OK)
		return wfail(w, r);
	put_domain(w, KT_DOMAIN_HISTORY_REQUEST, DOMAIN_LEN(KT_DOMAIN_HISTORY_REQUEST));
	kt_put_vec8(w, account, account_len);
	kt_put_u64(w, from_version);
	kt_put_u64(w, timestamp_ms);
	kt_put_vec8(w, device_id, device_id_len);
	return kt_wbuf_error(w);
}

/* Verifies sig over the bytes written so far into w (or w's error); frees w. */
static int verify_built(kt_wbuf *w, int built, const kt_sign_key *pk,
			const kt_signature *sig, int committed_key)
{
	int r = built;

	if (r == KT_OK)
		r = sig_verify(pk, sig, w->data, w->len, committed_key);
	kt_wbuf_free(w);
	return r;
}

static int update_verify(const kt_sign_key *pk, const kt_signature *sig,
			 const uint8_t *account, size_t account_len,
			 const kt_update_op *op, uint64_t expected_version,
			 int committed_key)
{
	kt_wbuf w;

	kt_wbuf_init(&w, KT_UPDATE_MESSAGE_MAX_BYTES);
	return verify_built(&w, kt_update_message(&w, account, account_len, op,
						  expected_version), pk, sig,
			    committed_key);
}

int kt_update_verify(const kt_sign_key *pk, const kt_signature *sig,
		     const uint8_t *account, size_t account_len,
		     const kt_update_op *op, uint64_t expected_version)
{
	return update_verify(pk, sig, account, account_len, op,
			     expected_version, 0);
}

int kt_update_verify_committed(const kt_sign_key *pk, const kt_signature *sig,
			       const uint8_t *account, size_t account_len,
			       const kt_update_op *op, uint64_t expected_version)
{
	return update_verify(pk, sig, account, account_len, op,
			     expected_version, 1);
}

int kt_registrar_token_verify(const kt_sign_key *registrar_pk,
			      const kt_signature *sig, const uint8_t *account,
			      size_t account_len, const kt_device *device_spec,
			      uint64_t expiry_ms)
{
	kt_wbuf w;

	kt_wbuf_init(&w, KT_REGISTRAR_TOKEN_MESSAGE_MAX_BYTES);
	return verify_built(&w, kt_registrar_token_message(&w, account, account_len,
							   device_spec, expiry_ms),
			    registrar_pk, sig, 0);
}

int kt_provenance_verify_signature(const kt_account_value *prev_value,
				   const kt_provenance *pv,
				   const uint8_t *account, size_t account_len,
				   uint64_t expected_version)
{
	const kt_device *signer;
	int r = provenance_check(pv);

	if (r == KT_OK)
		r = kt_account_check(account, account_len);
	if (r != KT_OK)
		return r;
	switch (pv->type) {
	case KT_PROV_DEVICE:
		if (prev_value == NULL)
			return KT_ERR_INVALID_ARG;
		/* The signer's key as committed at the previous version. */
		signer = kt_account_value_find(prev_value, pv->device_id,
					       pv->device_id_len);
		if (signer == NULL)
			return KT_ERR_UNAUTHORISED;
		return kt_update_verify(&signer->sign_pk, &pv->sig, account,
					account_len, &pv->op, expected_version);
	case KT_PROV_REGISTRAR:
		return kt_registrar_token_verify(&pv->registrar_pk, &pv->sig,
						 account, account_len,
						 &pv->op.device, pv->expiry_ms);
	default: /* KT_PROV_OPERATOR: no signature; the caller reports it */
		return KT_OK;
	}
}

static int history_request_verify(const kt_sign_key *pk,
				  const kt_signature *sig,
				  const uint8_t *account, size_t account_len,
				  uint64_t from_version, uint64_t timestamp_ms,
				  const uint8_t *device_id, size_t device_id_len,
				  int committed_key)
{
	kt_wbuf w;

	kt_wbuf_init(&w, KT_HISTORY_REQUEST_MESSAGE_MAX_BYTES);
	return verify_built(&w, kt_history_request_message(&w, account, account_len,
							   from_version, timestamp_ms,
							   device_id, device_id_len),
			    pk, sig, committed_key);
}

int kt_history_request_verify(const kt_sign_key *pk, const kt_signature *sig,
			      const uint8_t *account, size_t account_len,
			      uint64_t from_version, uint64_t timestamp_ms,
			      const uint8_t *device_id, size_t device_id_len)
{
	return history_request_verify(pk, sig, account, account_len,
				      from_version, timestamp_ms, device_id,
				      device_id_len, 0);
}

int kt_history_request_verify_committed(const kt_sign_key *pk,
					const kt_signature *sig,
					const uint8_t *account,
					size_t account_len,
					uint64_t from_version,
					uint64_t timestamp_ms,
					const uint8_t *device_id,
					size_t device_id_len)
{
	return history_request_verify(pk, sig, account, account_len,
				      from_version, timestamp_ms, device_id,
				      device_id_len, 1);
}

/* ---- map leaf and log entries ---------------------------------------- */

void kt_map_leaf_bytes(uint8_t out[KT_MAP_LEAF_BYTES], const kt_map_leaf *leaf)
{
	kt_store_u64be(out, leaf->version);
	kt_store_u64be(out + 8, leaf->log_index);
	memcpy(out + 16, leaf->commitment, KT_COMMITMENT_BYTES);
	memcpy(out + 48, leaf->history, 32);
}

static void get_map_leaf(kt_rbuf *rb, kt_map_leaf *leaf)
{
	leaf->version = kt_get_u64(rb);
	leaf->log_index = kt_get_u64(rb);
	kt_get_fixed(rb, leaf->commitment, sizeof(leaf->commitment));
	kt_get_fixed(rb, leaf->history, sizeof(leaf->history));
}

int kt_map_leaf_encode(kt_wbuf *w, const kt_map_leaf *leaf)
{
	uint8_t b[KT_MAP_LEAF_BYTES];

	kt_map_leaf_bytes(b, leaf);
	kt_put_fixed(w, b, sizeof(b));
	return kt_wbuf_error(w);
}

int kt_map_leaf_decode(kt_map_leaf *leaf, const uint8_t *p, size_t len)
{
	kt_rbuf rb;
	int r;

	kt_rbuf_init(&rb, p, len);
	get_map_leaf(&rb, leaf);
	r = kt_rbuf_finish(&rb);
	if (r != KT_OK)
		memset(leaf, 0, sizeof(*leaf));
	return r;
}

int kt_log_entry_encode(kt_wbuf *w, const kt_log_entry *e)
{
	if (e->type != KT_ENTRY_UPDATE && e->type != KT_ENTRY_HEARTBEAT)
		return wfail(w, KT_ERR_BAD_TYPE);
	kt_put_u8(w, e->type);
	kt_put_u64(w, e->timestamp_ms);
	if (e->type == KT_ENTRY_UPDATE) {
		kt_put_fixed(w, e->index, sizeof(e->index));
		if (kt_map_leaf_encode(w, &e->leaf) != KT_OK)
			return kt_wbuf_error(w);
	}
	kt_put_fixed(w, e->map_root, sizeof(e->map_root));
	return kt_wbuf_error(w);
}

int kt_log_entry_decode(kt_log_entry *e, const uint8_t *p, size_t len)
{
	kt_rbuf rb;
	int r;

	memset(e, 0, sizeof(*e));
	kt_rbuf_init(&rb, p, len);
	e->type = kt_get_u8(&rb);
	if (e->type != KT_ENTRY_UPDATE && e->type != KT_ENTRY_HEARTBEAT)
		kt_rbuf_fail(&rb, KT_ERR_BAD_TYPE);
	e->timestamp_ms = kt_get_u64(&rb);
	if (e->type == KT_ENTRY_UPDATE) {
		kt_get_fixed(&rb, e->index, sizeof(e->index));
		get_map_leaf(&rb, &e->leaf);
	}
	kt_get_fixed(&rb, e->map_root, sizeof(e->map_root));
	r = kt_rbuf_finish(&rb);
	if (r != KT_OK)
		memset(e, 0, sizeof(*e));
	return r;
}
