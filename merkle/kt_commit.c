/* kt_commit.c — commitments, map leaf digest, history chain. */
#include "kt_commit.h"

#include <string.h>

#include <sodium.h>

#define DOMAIN_LEN(s) (sizeof(s) - 1)

_Static_assert(DOMAIN_LEN(KT_COMMITMENT_KEY) == 26, "commitment key length");
_Static_assert(KT_VALUE_MAX_BYTES <= UINT32_MAX, "value fits vec32");

int kt_commitment_compute(uint8_t out[KT_COMMITMENT_BYTES],
			  const uint8_t opening[KT_OPENING_BYTES],
			  const uint8_t *account, size_t account_len,
			  uint64_t version, const uint8_t *value, size_t value_len,
			  const uint8_t *prov, size_t prov_len)
{
	crypto_auth_hmacsha256_state st;
	uint8_t hdr[8];
	uint8_t alen;
	int r;

	memset(out, 0, KT_COMMITMENT_BYTES);
	r = kt_account_check(account, account_len);
	if (r != KT_OK)
		return r;
	if (value_len > KT_VALUE_MAX_BYTES || prov_len > KT_PROVENANCE_MAX_BYTES)
		return KT_ERR_TOO_LARGE;
	crypto_auth_hmacsha256_init(&st, (const uint8_t *)KT_COMMITMENT_KEY,
				    DOMAIN_LEN(KT_COMMITMENT_KEY));
	crypto_auth_hmacsha256_update(&st, opening, KT_OPENING_BYTES);
	alen = (uint8_t)account_len;
	crypto_auth_hmacsha256_update(&st, &alen, 1);
	crypto_auth_hmacsha256_update(&st, account, account_len);
	kt_store_u64be(hdr, version);
	crypto_auth_hmacsha256_update(&st, hdr, 8);
	kt_store_u32be(hdr, (uint32_t)value_len);
	crypto_auth_hmacsha256_update(&st, hdr, 4);
	if (value_len != 0)
		crypto_auth_hmacsha256_update(&st, value, value_len);
	kt_store_u32be(hdr, (uint32_t)prov_len);
	crypto_auth_hmacsha256_update(&st, hdr, 4);
	if (prov_len != 0)
		crypto_auth_hmacsha256_update(&st, prov, prov_len);
	crypto_auth_hmacsha256_final(&st, out);
	sodium_memzero(&st, sizeof(st));
	return KT_OK;
}

int kt_commitment_verify(const uint8_t commitment[KT_COMMITMENT_BYTES],
			 const uint8_t opening[KT_OPENING_BYTES],
			 const uint8_t *account, size_t account_len,
			 uint64_t version, const uint8_t *value, size_t value_len,
			 const uint8_t *prov, size_t prov_len)
{
	uint8_t c[KT_COMMITMENT_BYTES];
	int r;

	r = kt_commitment_compute(c, opening, account, account_len, version,
				  value, value_len, prov, prov_len);
	if (r == KT_OK && sodium_memcmp(c, commitment, sizeof(c)) != 0)
		r = KT_ERR_COMMITMENT_MISMATCH;
	sodium_memzero(c, sizeof(c));
	return r;
}

/* Starts a SHA-256 over vec8 domain. */
static void hash_domain(kt_sha256_ctx *c, const char *domain, size_t n)
{
	uint8_t len = (uint8_t)n;

	kt_sha256_init(c);
	kt_sha256_update(c, &len, 1);
	kt_sha256_update(c, (const uint8_t *)domain, n);
}

void kt_map_leaf_digest(uint8_t out[KT_HASH_BYTES], const kt_map_leaf *leaf)
{
	kt_sha256_ctx c;
	uint8_t b[KT_MAP_LEAF_BYTES];

	kt_map_leaf_bytes(b, leaf);
	hash_domain(&c, KT_DOMAIN_MAP_LEAF, DOMAIN_LEN(KT_DOMAIN_MAP_LEAF));
	kt_sha256_update(&c, b, sizeof(b));
	kt_sha256_final(&c, out);
}

void kt_history_step(uint8_t out[KT_HASH_BYTES], const uint8_t prev[KT_HASH_BYTES],
		     uint64_t version, uint64_t log_index,
		     const uint8_t commitment[KT_COMMITMENT_BYTES])
{
	kt_sha256_ctx c;
	uint8_t nums[16];

	kt_store_u64be(nums, version);
	kt_store_u64be(nums + 8, log_index);
	hash_domain(&c, KT_DOMAIN_HISTORY, DOMAIN_LEN(KT_DOMAIN_HISTORY));
	kt_sha256_update(&c, prev, KT_HASH_BYTES);
	kt_sha256_update(&c, nums, sizeof(nums));
	kt_sha256_update(&c, commitment, KT_COMMITMENT_BYTES);
	kt_sha256_final(&c, out);
}

int kt_history_verify(const uint8_t start_history[KT_HASH_BYTES],
		      uint64_t start_version, const kt_map_leaf *leaves, size_t n,
		      const uint8_t head[KT_HASH_BYTES], size_t *bad_at)
{
	uint8_t cur[KT_HASH_BYTES];
	uint64_t v = start_version;
	size_t i;
	int r = KT_OK;

	memcpy(cur, start_history, sizeof(cur));
	for (i = 0; i < n; i++) {
		if (v == UINT64_MAX || leaves[i].version != v + 1) {
			r = KT_ERR_VERSION_GAP;
			goto out;
		}
		v++;
		kt_history_step(cur, cur, v, leaves[i].log_index, leaves[i].commitment);
		/* Public hashes: memcmp is fine. */
		if (memcmp(cur, leaves[i].history, sizeof(cur)) != 0) {
			r = KT_ERR_HISTORY_MISMATCH;
			goto out;
		}
	}
	if (memcmp(cur, head, sizeof(cur)) != 0)
		r = KT_ERR_HISTORY_MISMATCH;
out:
	if (bad_at != NULL)
		*bad_at = i;
	return r;
}

int kt_log_entry_check_leaf(const kt_log_entry *e, const uint8_t index[KT_INDEX_BYTES],
			    const kt_map_leaf *leaf)
{
	if (e->type != KT_ENTRY_UPDATE)
		return KT_ERR_BAD_TYPE;
	/* Public values: memcmp is fine. */
	if (memcmp(e->index, index, KT_INDEX_BYTES) != 0 ||
	    e->leaf.version != leaf->version ||
	    e->leaf.log_index != leaf->log_index ||
	    memcmp(e->leaf.commitment, leaf->commitment, KT_COMMITMENT_BYTES) != 0 ||
	    memcmp(e->leaf.history, leaf->history, sizeof(leaf->history)) != 0)
		return KT_ERR_LEAF_MISMATCH;
	return KT_OK;
}
