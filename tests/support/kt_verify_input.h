/*
 * kt_verify_input.h — the framing of fuzz_verify inputs, shared by the fuzz
 * target and the corpus generator (tests/tools/kt-gen-verify-corpus.c).
 *
 * An input is a sequence of fields, each u16 (big-endian) length || bytes;
 * fields missing at the end are empty, a length past the end takes what is
 * left.  Field order (KT_VI_*): the ReadHead (checkpoint, tree_size as u64,
 * consistency hashes concatenated, last entry, its inclusion hashes
 * concatenated), now_ms as u64 (0: the fixed "now"), the lookup (account,
 * VRF proof, map proof, leaf, value, provenance, opening), and a flags byte
 * (bit 0: verify against the trust state at size 2, else the empty state;
 * bit 1: bounded-lag configuration).  Concatenated hashes are split into
 * 32-byte elements (a shorter last element is kept as is).
 *
 * The fixed world both sides build (kt_fake_log, fixed seeds): entries
 * 0 heartbeat, 1 alice enrols phone, 2 phone adds laptop, 3 operator adds
 * escrow, 4 heartbeat; entry i at KT_VI_T0 + 1000 i; "now" is
 * KT_VI_T0 + 5000; witnesses 3, threshold 2.
 */
#ifndef KT_TEST_VERIFY_INPUT_H
#define KT_TEST_VERIFY_INPUT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kt_fake_log.h"

enum {
	KT_VI_CHECKPOINT,
	KT_VI_TREE_SIZE,
	KT_VI_CONSISTENCY,
	KT_VI_LAST_ENTRY,
	KT_VI_INCLUSION,
	KT_VI_NOW_MS,
	KT_VI_ACCOUNT,
	KT_VI_VRF_PROOF,
	KT_VI_MAP_PROOF,
	KT_VI_LEAF,
	KT_VI_VALUE,
	KT_VI_PROVENANCE,
	KT_VI_OPENING,
	KT_VI_FLAGS,
	KT_VI_FIELDS
};

#define KT_VI_T0 UINT64_C(1767225600000)
#define KT_VI_NOW (KT_VI_T0 + 5000)
#define KT_VI_ACCOUNT_ALICE "tel:+15551234567"

/* Builds the fixed world; returns KT_OK or an error. */
static inline int kt_vi_world(kt_fake_log **out)
{
	kt_fake_log *fl;
	int r;

	r = kt_fake_log_new(&fl, KT_VI_T0);
	if (r != KT_OK)
		return r;
	r = kt_fake_log_heartbeat(fl);
	kt_fake_log_set_time(fl, KT_VI_T0 + 1000);
	if (r == KT_OK)
		r = kt_fake_log_enrol(fl, KT_VI_ACCOUNT_ALICE, 0);
	kt_fake_log_set_time(fl, KT_VI_T0 + 2000);
	if (r == KT_OK)
		r = kt_fake_log_add(fl, KT_VI_ACCOUNT_ALICE, 0, 1);
	kt_fake_log_set_time(fl, KT_VI_T0 + 3000);
	if (r == KT_OK)
		r = kt_fake_log_operator_add(fl, KT_VI_ACCOUNT_ALICE, 5, "escrow");
	kt_fake_log_set_time(fl, KT_VI_T0 + 4000);
	if (r == KT_OK)
		r = kt_fake_log_heartbeat(fl);
	kt_fake_log_set_time(fl, KT_VI_NOW);
	if (r != KT_OK) {
		kt_fake_log_free(fl);
		return r;
	}
	*out = fl;
	return KT_OK;
}

/* Splits data into the fields (views into data). */
static inline void kt_vi_split(const uint8_t *data, size_t size,
			       const uint8_t *p[KT_VI_FIELDS],
			       size_t len[KT_VI_FIELDS])
{
	size_t i, off = 0, n;

	for (i = 0; i < KT_VI_FIELDS; i++) {
		p[i] = NULL;
		len[i] = 0;
		if (size - off < 2)
			continue;
		n = ((size_t)data[off] << 8) | data[off + 1];
		off += 2;
		if (n > size - off)
			n = size - off;
		p[i] = data + off;
		len[i] = n;
		off += n;
	}
}

#endif /* KT_TEST_VERIFY_INPUT_H */
