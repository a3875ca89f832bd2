/*
 * kt_commit.h — commitments, the map leaf digest, the per-account history
 * chain, and the check of a log entry against a map leaf.
 *
 * Byte layouts: docs/PROTOCOL.md §1.
 *
 * THREAD SAFETY: every function is pure and thread safe.
 */
#ifndef KT_COMMIT_H
#define KT_COMMIT_H

#include <stddef.h>
#include <stdint.h>

#include "kt_err.h"
#include "kt_hash.h"
#include "kt_types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The HMAC-SHA256 key of every commitment: these 26 ASCII bytes (no length
 * prefix, no NUL).  A fixed, public constant: hiding comes from the random
 * opening, binding from HMAC-SHA256 as a hash. */
#define KT_COMMITMENT_KEY "keytrail/v1/commitment-key"

/* Domain strings, written as vec8 at the start of the hashed bytes. */
#define KT_DOMAIN_MAP_LEAF "keytrail/v1/map-leaf"
#define KT_DOMAIN_HISTORY "keytrail/v1/history"

/* out = HMAC-SHA256(KT_COMMITMENT_KEY, opening[16] || vec8 account ||
 * u64 version || vec32 value || vec32 provenance), where value and provenance
 * are the encoded bytes (kt_account_value_encode, kt_provenance_encode),
 * hashed as given.  Returns KT_OK, or (out zeroed) an account error of
 * kt_account_check, KT_ERR_TOO_LARGE if value_len > KT_VALUE_MAX_BYTES or
 * prov_len > KT_PROVENANCE_MAX_BYTES.  The opening is secret until published:
 * intermediate state is wiped. */
KT_MUST_CHECK int kt_commitment_compute(uint8_t out[KT_COMMITMENT_BYTES],
					const uint8_t opening[KT_OPENING_BYTES],
					const uint8_t *account, size_t account_len,
					uint64_t version,
					const uint8_t *value, size_t value_len,
					const uint8_t *prov, size_t prov_len);

/* Recomputes the commitment and compares it with `commitment` in constant
 * time.  Returns KT_OK, KT_ERR_COMMITMENT_MISMATCH, or an input error of
 * kt_commitment_compute.  A caller must still decode value and provenance
 * strictly before using them. */
KT_MUST_CHECK int kt_commitment_verify(const uint8_t commitment[KT_COMMITMENT_BYTES],
				       const uint8_t opening[KT_OPENING_BYTES],
				       const uint8_t *account, size_t account_len,
				       uint64_t version,
				       const uint8_t *value, size_t value_len,
				       const uint8_t *prov, size_t prov_len);

/* out = SHA-256(vec8 KT_DOMAIN_MAP_LEAF || map leaf (80 bytes)).  The map
 * hashes its leaf node as SHA-256(0x02 || index || leaf_digest). */
void kt_map_leaf_digest(uint8_t out[KT_HASH_BYTES], const kt_map_leaf *leaf);

/* One step of an account's history chain:
 * out = SHA-256(vec8 KT_DOMAIN_HISTORY || prev[32] || u64 version ||
 *               u64 log_index || commitment[32]).
 * history_0 is 32 zero bytes and the first version is 1.  out may alias
 * prev. */
void kt_history_step(uint8_t out[KT_HASH_BYTES], const uint8_t prev[KT_HASH_BYTES],
		     uint64_t version, uint64_t log_index,
		     const uint8_t commitment[KT_COMMITMENT_BYTES]);

/* Verifies a run of consecutive versions of one account.  Starting from
 * (start_history, start_version) — (32 zero bytes, 0) for the whole history,
 * or the last version a monitor checked — leaves[i] must have version
 * start_version + 1 + i (else KT_ERR_VERSION_GAP) and history equal to
 * kt_history_step of the previous history and its own version, log_index and
 * commitment (else KT_ERR_HISTORY_MISMATCH); the last history (start_history
 * when n == 0) must equal head (else KT_ERR_HISTORY_MISMATCH).
 * On failure *bad_at (if not NULL) is the index of the failing leaf, or n
 * when only the head differs; on KT_OK it is n.  Public values only. */
KT_MUST_CHECK int kt_history_verify(const uint8_t start_history[KT_HASH_BYTES],
				    uint64_t start_version,
				    const kt_map_leaf *leaves, size_t n,
				    const uint8_t head[KT_HASH_BYTES],
				    size_t *bad_at);

/* Checks that an update entry carries exactly this index and leaf.
 * KT_ERR_BAD_TYPE if e is not an update entry, KT_ERR_LEAF_MISMATCH if the
 * index or any leaf field differs. */
KT_MUST_CHECK int kt_log_entry_check_leaf(const kt_log_entry *e,
					  const uint8_t index[KT_INDEX_BYTES],
					  const kt_map_leaf *leaf);

#ifdef __cplusplus
}
#endif
#endif /* KT_COMMIT_H */
