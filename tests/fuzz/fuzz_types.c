/*
 * fuzz_types.c — every decoder of merkle/kt_types.h on arbitrary bytes.
 *
 * The first input byte selects the decoder (selector % SEL_COUNT, in step with
 * tests/tools/kt-gen-vectors.c, which writes the seeds of corpus/types/);
 * the rest is the input.  Whenever a decoder accepts, encoding the result must
 * give back exactly the input (every accepted encoding is canonical), and the
 * validators / value-editing helpers must not crash on what was decoded.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kt_commit.h"
#include "kt_types.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum {
	SEL_DEVICE, SEL_SPEC, SEL_VALUE, SEL_PROV, SEL_OP, SEL_LEAF, SEL_ENTRY,
	SEL_SIGN_KEY, SEL_ENC_KEY, SEL_SIG, SEL_TEXT, SEL_COUNT
};

/* Aborts unless the writer holds exactly p[0..n). */
static void same(kt_wbuf *w, int r, const uint8_t *p, size_t n)
{
	if (r != KT_OK || w->len != n || (n != 0 && memcmp(w->data, p, n) != 0))
		abort();
	kt_wbuf_free(w);
}

/* Decoded value: re-encode; then remove and re-add the first device, which
 * must give the same encoding again. */
static void fuzz_value(const uint8_t *p, size_t n)
{
	kt_account_value v, c;
	kt_device d;
	kt_wbuf w;
	int r;

	if (kt_account_value_decode(&v, p, n) != KT_OK)
		return;
	kt_wbuf_init(&w, KT_VALUE_MAX_BYTES);
	same(&w, kt_account_value_encode(&w, &v), p, n);
	r = kt_account_value_validate(&v);
	(void)r;
	if (v.count > 0) {
		if (kt_account_value_copy(&c, &v) != KT_OK)
			abort();
		d = c.devices[0];
		if (kt_account_value_remove(&c, d.id, d.id_len) != KT_OK ||
		    kt_account_value_find(&c, d.id, d.id_len) != NULL ||
		    kt_account_value_add(&c, &d, KT_MAX_DEVICES_ENCODING) != KT_OK ||
		    kt_account_value_add(&c, &d, KT_MAX_DEVICES_ENCODING) !=
			    KT_ERR_DEVICE_EXISTS)
			abort();
		kt_wbuf_init(&w, KT_VALUE_MAX_BYTES);
		same(&w, kt_account_value_encode(&w, &c), p, n);
		kt_account_value_free(&c);
	}
	kt_account_value_free(&v);
}

static void fuzz_device(const uint8_t *p, size_t n, int spec)
{
	kt_device d;
	kt_wbuf w;
	int r;

	r = spec ? kt_device_spec_decode(&d, p, n) : kt_device_decode(&d, p, n);
	if (r != KT_OK)
		return;
	kt_wbuf_init(&w, KT_DEVICE_MAX_BYTES);
	same(&w, spec ? kt_device_spec_encode(&w, &d) : kt_device_encode(&w, &d), p, n);
	r = kt_device_validate(&d);
	(void)r;
}

static void fuzz_small(int sel, const uint8_t *p, size_t n)
{
	kt_provenance pv;
	kt_update_op op;
	kt_map_leaf leaf;
	kt_log_entry e;
	kt_sign_key sk;
	kt_enc_key ek;
	kt_signature sig;
	kt_wbuf w;
	int r;

	kt_wbuf_init(&w, KT_PROVENANCE_MAX_BYTES);
	switch (sel) {
	case SEL_PROV:
		if (kt_provenance_decode(&pv, p, n) == KT_OK)
			same(&w, kt_provenance_encode(&w, &pv), p, n);
		break;
	case SEL_OP:
		if (kt_update_op_decode(&op, p, n) == KT_OK)
			same(&w, kt_update_op_encode(&w, &op), p, n);
		break;
	case SEL_LEAF:
		if (kt_map_leaf_decode(&leaf, p, n) == KT_OK)
			same(&w, kt_map_leaf_encode(&w, &leaf), p, n);
		break;
	case SEL_ENTRY:
		if (kt_log_entry_decode(&e, p, n) == KT_OK) {
			same(&w, kt_log_entry_encode(&w, &e), p, n);
			r = kt_log_entry_check_leaf(&e, e.index, &e.leaf);
			if (r != (e.type == KT_ENTRY_UPDATE ? KT_OK : KT_ERR_BAD_TYPE))
				abort();
		}
		break;
	case SEL_SIGN_KEY:
		if (kt_sign_key_decode(&sk, p, n) == KT_OK) {
			same(&w, kt_sign_key_encode(&w, &sk), p, n);
			r = kt_sign_key_validate(&sk);
			(void)r;
		}
		break;
	case SEL_ENC_KEY:
		if (kt_enc_key_decode(&ek, p, n) == KT_OK) {
			same(&w, kt_enc_key_encode(&w, &ek), p, n);
			r = kt_enc_key_validate(&ek);
			(void)r;
		}
		break;
	case SEL_SIG:
		if (kt_signature_decode(&sig, p, n) == KT_OK)
			same(&w, kt_signature_encode(&w, &sig), p, n);
		break;
	default: /* SEL_TEXT */
		r = kt_utf8_check(p, n);
		if (kt_account_check(p, n) == KT_OK && r != KT_OK)
			abort();
		break;
	}
	kt_wbuf_free(&w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int sel;

	if (size == 0)
		return 0;
	sel = data[0] % SEL_COUNT;
	data++;
	size--;
	if (sel == SEL_DEVICE || sel == SEL_SPEC)
		fuzz_device(data, size, sel == SEL_SPEC);
	else if (sel == SEL_VALUE)
		fuzz_value(data, size);
	else
		fuzz_small(sel, data, size);
	return 0;
}
