/*
 * apply.c — the deterministic apply path of ktd (see apply.h) and the
 * encoding of a batch (docs/PROTOCOL.md §9, "Batch").
 *
 * One batch, in order:
 *   1. skip it if its applied index is not above the stored one;
 *   2. open ONE storage batch; remember the in-memory state (log frontier,
 *      map root, last timestamp, account count) to restore on failure;
 *   3. delete a bounded number of expired used-token records (token_sweep);
 *      per change: the stateful checks (check_change, registrar token
 *      expiry and single use included: nothing is written for a refused
 *      change), then the writes (write_change): commitment, history, leaf,
 *      map update, log entry, account records, the used token;
 *      or, for a heartbeat batch, one heartbeat entry;
 *   4. if anything was appended: the signed checkpoint of the new size and
 *      the tree-size metadata;
 *   5. one synced commit that also records the applied index.
 *
 * Map versions: every map node of a batch is recorded at the batch's first
 * log index (struct batch_map below), so that readers, which only read at
 * checkpoint sizes, see whole batches.  Each change still reads the map as
 * it stands after the previous change of the batch (through the storage
 * batch's read-your-writes), so every update entry carries the exact root
 * after it.
 *
 * Errors: a change's own failure (version mismatch, device exists, ...) is
 * its result and the batch goes on; any other failure (storage, memory,
 * an inconsistent database) fails the whole batch, which then changes
 * nothing, on disk or in memory (is_fatal).
 */
#include "apply.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "kt_checkpoint.h"
#include "kt_commit.h"
#include "kt_enc.h"
#include "kt_map.h"
#include "log.h"

/* The apply path's own metadata key in the meta column family: the
 * number of accounts (u64), kept with every batch that creates one.
 * Documented in docs/PROTOCOL.md §9 ("Apply path records"). */
#define META_ACCOUNTS_KEY "accounts"

/* Batch encoding (docs/PROTOCOL.md §9). */
#define BATCH_FORMAT 0x01
#define BATCH_KIND_CHANGES 0x01
#define BATCH_KIND_HEARTBEAT 0x02
/* Smallest encoded change: vec8 account(1) + u64 + vec16 prov(1) +
 * opening + has_vrf. */
#define CHANGE_MIN_BYTES (1 + 1 + 8 + 2 + 1 + KT_OPENING_BYTES + 1) /* 30 */

_Static_assert(KT_PROVENANCE_MAX_BYTES <= UINT16_MAX, "provenance fits vec16");
_Static_assert(KT_INDEX_BYTES == KT_VRF_INDEX_BYTES, "index is the VRF index");
_Static_assert(KT_ROOT_BYTES == KT_HASH_BYTES, "map root is a hash");

struct kt_apply {
	kt_apply_params p;              /* borrowed pointers */
	pthread_mutex_t mu;             /* one storage batch at a time */
	kt_log log;                     /* frontier over the apply log store */
	uint8_t map_root[KT_HASH_BYTES];
	uint64_t last_ts;               /* timestamp of the last entry */
	uint64_t accounts;
	int origin_stored;              /* meta ORIGIN is on disk */
	kt_apply_head head;             /* after the last applied batch */
};

/* The in-memory state a failed batch must restore. */
struct saved {
	kt_log log;
	uint8_t map_root[KT_HASH_BYTES];
	uint64_t last_ts;
	uint64_t accounts;
};

/* ---- changes and batches ---------------------------------------------- */

void kt_change_clear(kt_change *c)
{
	if (c == NULL)
		return;
	if (c->provenance != NULL) {
		sodium_memzero(c->provenance, c->provenance_len);
		free(c->provenance);
	}
	c->provenance = NULL;
	c->provenance_len = 0;
	sodium_memzero(c->opening, sizeof(c->opening));
}

void kt_batch_free(kt_batch *b)
{
	size_t i;

	if (b == NULL)
		return;
	for (i = 0; i < b->count && b->changes != NULL; i++)
		kt_change_clear(&b->changes[i]);
	free(b->changes);
	memset(b, 0, sizeof(*b));
}

/* Structural check of a batch (both for encoding and applying). */
static int batch_check(const kt_batch *b)
{
	if (b == NULL)
		return KT_ERR_INVALID_ARG;
	if (b->heartbeat)
		return b->count == 0 ? KT_OK : KT_ERR_INVALID_ARG;
	if (b->count > KT_BATCH_MAX_CHANGES)
		return KT_ERR_TOO_LARGE;
	if (b->count > 0 && b->changes == NULL)
		return KT_ERR_INVALID_ARG;
	return KT_OK;
}

static int change_encode(kt_wbuf *w, const kt_change *c)
{
	int r = kt_account_check(c->account, c->account_len);

	if (r != KT_OK)
		return r;
	if (c->provenance == NULL || c->provenance_len == 0)
		return KT_ERR_BAD_LENGTH;
	if (c->provenance_len > KT_PROVENANCE_MAX_BYTES)
		return KT_ERR_TOO_LARGE;
	kt_put_vec8(w, c->account, c->account_len);
	kt_put_u64(w, c->expected_version);
	kt_put_vec16(w, c->provenance, c->provenance_len);
	kt_put_fixed(w, c->opening, KT_OPENING_BYTES);
	kt_put_u8(w, c->has_vrf ? 1 : 0);
	if (c->has_vrf) {
		kt_put_fixed(w, c->index, KT_INDEX_BYTES);
		kt_put_fixed(w, c->vrf_proof, KT_VRF_PROOF_BYTES);
	}
	return kt_wbuf_error(w);
}

int kt_batch_encode(const kt_batch *b, uint8_t **out, size_t *out_len)
{
	kt_wbuf w;
	size_t i;
	int r;

	*out = NULL;
	*out_len = 0;
	r = batch_check(b);
	if (r == KT_OK && !b->heartbeat && b->count == 0)
		r = KT_ERR_BAD_LENGTH;
	if (r != KT_OK)
		return r;
	kt_wbuf_init(&w, KT_BATCH_MAX_BYTES);
	kt_put_u8(&w, BATCH_FORMAT);
	kt_put_u8(&w, b->heartbeat ? BATCH_KIND_HEARTBEAT : BATCH_KIND_CHANGES);
	kt_put_u64(&w, b->timestamp_ms);
	kt_put_u32(&w, (uint32_t)b->count);
	for (i = 0; i < b->count && r == KT_OK; i++)
		r = change_encode(&w, &b->changes[i]);
	if (r != KT_OK) {
		kt_wbuf_free(&w);
		return r;
	}
	return kt_wbuf_take(&w, out, out_len);
}

/* Reads one change; the provenance is checked with the strict decoder. */
static void change_decode(kt_rbuf *rb, kt_change *c, kt_provenance *pv)
{
	const uint8_t *p;
	size_t n;
	uint8_t has_vrf;

	p = kt_get_vec8(rb, KT_ACCOUNT_MIN, KT_ACCOUNT_MAX, &n);
	if (p != NULL) {
		memcpy(c->account, p, n);
		c->account_len = n;
		if (kt_account_check(p, n) != KT_OK)
			kt_rbuf_fail(rb, KT_ERR_BAD_UTF8);
	}
	c->expected_version = kt_get_u64(rb);
	p = kt_get_vec16(rb, 1, KT_PROVENANCE_MAX_BYTES, &n);
	if (p != NULL) {
		int r = kt_provenance_decode(pv, p, n);

		if (r != KT_OK)
			kt_rbuf_fail(rb, r);
		c->provenance = malloc(n);
		if (c->provenance == NULL) {
			kt_rbuf_fail(rb, KT_ERR_NOMEM);
		} else {
			memcpy(c->provenance, p, n);
			c->provenance_len = n;
		}
	}
	kt_get_fixed(rb, c->opening, KT_OPENING_BYTES);
	has_vrf = kt_get_u8(rb);
	if (has_vrf > 1)
		kt_rbuf_fail(rb, KT_ERR_BAD_TYPE);
	c->has_vrf = has_vrf == 1;
	if (c->has_vrf) {
		kt_get_fixed(rb, c->index, KT_INDEX_BYTES);
		kt_get_fixed(rb, c->vrf_proof, KT_VRF_PROOF_BYTES);
	}
}

int kt_batch_decode(kt_batch *b, const uint8_t *p, size_t len)
{
	kt_provenance *pv = NULL;
	kt_rbuf rb;
	uint8_t format, kind;
	uint32_t count;
	size_t i;
	int r;

	memset(b, 0, sizeof(*b));
	if (p == NULL && len > 0)
		return KT_ERR_INVALID_ARG;
	if (len > KT_BATCH_MAX_BYTES)
		return KT_ERR_TOO_LARGE;
	kt_rbuf_init(&rb, p, len);
	format = kt_get_u8(&rb);
	kind = kt_get_u8(&rb);
	b->timestamp_ms = kt_get_u64(&rb);
	count = kt_get_u32(&rb);
	r = kt_rbuf_finish(&rb);
	if (r == KT_ERR_TRAILING)
		r = KT_OK;
	if (r != KT_OK)
		goto out;
	if (format != BATCH_FORMAT ||
	    (kind != BATCH_KIND_CHANGES && kind != BATCH_KIND_HEARTBEAT)) {
		r = KT_ERR_BAD_TYPE;
		goto out;
	}
	b->heartbeat = kind == BATCH_KIND_HEARTBEAT;
	if (b->heartbeat ? count != 0 : count == 0) {
		r = KT_ERR_BAD_LENGTH;
		goto out;
	}
	if (count > KT_BATCH_MAX_CHANGES) {
		r = KT_ERR_TOO_LARGE;
		goto out;
	}
	/* Never allocate more changes than the input can hold. */
	if ((size_t)count > kt_rbuf_remaining(&rb) / CHANGE_MIN_BYTES) {
		r = KT_ERR_TRUNCATED;
		goto out;
	}
	if (count > 0) {
		b->changes = calloc(count, sizeof(*b->changes));
		pv = malloc(sizeof(*pv));
		if (b->changes == NULL || pv == NULL) {
			r = KT_ERR_NOMEM;
			goto out;
		}
	}
	for (i = 0; i < count && kt_rbuf_remaining(&rb) > 0; i++) {
		change_decode(&rb, &b->changes[i], pv);
		b->count = i + 1;
	}
	if (b->count < count)
		kt_rbuf_fail(&rb, KT_ERR_TRUNCATED);
	r = kt_rbuf_finish(&rb);
out:
	if (pv != NULL) {
		sodium_memzero(pv, sizeof(*pv));
		free(pv);
	}
	if (r != KT_OK)
		kt_batch_free(b);
	return r;
}

/* ---- the map store of one batch --------------------------------------- */

/* Wraps the storage's apply map store: every put is recorded at the batch's
 * first log index, every get reads the newest state through the batch. */
struct batch_map {
	kt_map_store inner;
	uint64_t version;
};

static int bm_get(void *ctx, uint16_t depth, const uint8_t prefix[KT_HASH_BYTES],
		  uint64_t at, kt_map_node *out)
{
	struct batch_map *m = ctx;

	(void)at; /* the batch's records are at m->version; nothing is newer */
	return m->inner.get(m->inner.ctx, depth, prefix, m->version, out);
}

static int bm_put(void *ctx, uint16_t depth, const uint8_t prefix[KT_HASH_BYTES],
		  uint64_t version, const kt_map_node *node)
{
	struct batch_map *m = ctx;

	(void)version;
	return m->inner.put(m->inner.ctx, depth, prefix, m->version, node);
}

/* ---- open / free -------------------------------------------------------- */

static int migrate_tokens(kt_apply *a);

static int meta_u64_or_zero(kt_storage *st, kt_storage_meta m, uint64_t *out)
{
	int r = kt_storage_meta_get_u64(st, NULL, m, out);

	if (r == KT_ERR_NOT_FOUND) {
		*out = 0;
		r = KT_OK;
	}
	return r;
}

static int load_accounts(kt_storage *st, uint64_t *out)
{
	uint8_t *v = NULL;
	size_t n = 0;
	int r;

	*out = 0;
	r = kt_storage_get(st, NULL, KT_CF_META, (const uint8_t *)META_ACCOUNTS_KEY,
			   strlen(META_ACCOUNTS_KEY), &v, &n);
	if (r == KT_ERR_NOT_FOUND)
		return KT_OK;
	if (r == KT_OK && n != 8)
		r = KT_ERR_STORAGE;
	if (r == KT_OK)
		*out = kt_load_u64be(v);
	kt_storage_free(v);
	return r;
}

/* Compares the stored origin (if any) with the configured one. */
static int check_origin(kt_apply *a)
{
	uint8_t *v = NULL;
	size_t n = 0;
	int r;

	r = kt_storage_meta_get(a->p.storage, NULL, KT_META_ORIGIN, &v, &n);
	if (r == KT_ERR_NOT_FOUND)
		return KT_OK;
	if (r != KT_OK)
		return r;
	a->origin_stored = 1;
	/* public values: memcmp is fine */
	if (n != a->p.origin_len || memcmp(v, a->p.origin, n) != 0)
		r = KT_ERR_CHECKPOINT_ORIGIN;
	kt_storage_free(v);
	return r;
}

/* Map root and timestamp from the last stored entry. */
static int load_last_entry(kt_apply *a)
{
	kt_log_entry e;
	uint8_t *v = NULL;
	size_t n = 0;
	int r;

	memset(a->map_root, 0, sizeof(a->map_root));
	a->last_ts = 0;
	if (a->log.size == 0)
		return KT_OK;
	r = kt_storage_log_entry_get(a->p.storage, NULL, a->log.size - 1, &v, &n);
	if (r == KT_ERR_NOT_FOUND)
		r = KT_ERR_STORAGE; /* the tree size names an entry that is absent */
	if (r == KT_OK && kt_log_entry_decode(&e, v, n) != KT_OK)
		r = KT_ERR_STORAGE;
	kt_storage_free(v);
	if (r != KT_OK)
		return r;
	memcpy(a->map_root, e.map_root, sizeof(a->map_root));
	a->last_ts = e.timestamp_ms;
	return KT_OK;
}

static void fill_head(kt_apply *a)
{
	a->head.tree_size = a->log.size;
	kt_log_root(&a->log, a->head.log_root);
	memcpy(a->head.map_root, a->map_root, KT_HASH_BYTES);
	a->head.last_timestamp_ms = a->last_ts;
	a->head.accounts = a->accounts;
}

static int params_check(const kt_apply_params *p)
{
	if (p == NULL || p->storage == NULL || p->log_signer == NULL ||
	    p->origin == NULL || p->origin_len == 0 ||
	    p->origin_len > KT_CHECKPOINT_MAX_ORIGIN)
		return KT_ERR_INVALID_ARG;
	if (p->max_devices == 0 || p->max_devices > KT_MAX_DEVICES_ENCODING)
		return KT_ERR_INVALID_ARG;
	if (p->log_signer->pub.type != KT_NOTE_KEY_ED25519)
		return KT_ERR_BAD_KEY_TYPE;
	/* The checkpoint's signer is named after the origin (public). */
	if (p->log_signer->pub.name_len != p->origin_len ||
	    memcmp(p->log_signer->pub.name, p->origin, p->origin_len) != 0)
		return KT_ERR_INVALID_ARG;
	return KT_OK;
}

int kt_apply_open(const kt_apply_params *params, kt_apply **out)
{
	kt_apply *a = NULL;
	uint64_t size = 0;
	int r;

	*out = NULL;
	r = params_check(params);
	if (r != KT_OK)
		return r;
	a = calloc(1, sizeof(*a));
	if (a == NULL)
		return KT_ERR_NOMEM;
	if (pthread_mutex_init(&a->mu, NULL) != 0) {
		free(a);
		return KT_ERR_INTERNAL;
	}
	a->p = *params;
	r = meta_u64_or_zero(a->p.storage, KT_META_TREE_SIZE, &size);
	if (r == KT_OK)
		r = kt_log_load(&a->log, kt_storage_log_store_apply(a->p.storage),
				size);
	if (r == KT_OK)
		r = load_last_entry(a);
	if (r == KT_OK)
		r = load_accounts(a->p.storage, &a->accounts);
	if (r == KT_OK)
		r = check_origin(a);
	if (r == KT_OK &&
	    kt_storage_format(a->p.storage) == KT_STORAGE_FORMAT_MIGRATABLE)
		r = migrate_tokens(a);
	if (r != KT_OK) {
		kt_apply_free(a);
		return r;
	}
	fill_head(a);
	*out = a;
	return KT_OK;
}

void kt_apply_free(kt_apply *a)
{
	if (a == NULL)
		return;
	pthread_mutex_destroy(&a->mu);
	sodium_memzero(a, sizeof(*a));
	free(a);
}

void kt_apply_get_head(const kt_apply *a, kt_apply_head *out)
{
	*out = a->head;
}

uint64_t kt_apply_applied_index(const kt_apply *a)
{
	uint64_t v = 0;

	if (kt_storage_applied_index(a->p.storage, &v) != KT_OK)
		return 0;
	return v;
}

/* ---- one change ----------------------------------------------------------- */

/* Codes that fail the whole batch rather than one change: the state or the
 * machine, not the change, is at fault (and another replica could differ). */
static int is_fatal(int code)
{
	return code == KT_ERR_NOMEM || code == KT_ERR_STORAGE ||
	       code == KT_ERR_INTERNAL || code == KT_ERR_STORAGE_FORMAT ||
	       code == KT_ERR_STORAGE_PRUNED || code == KT_ERR_IO;
}

/* ---- used registrar tokens ------------------------------------------------ */
/*
 * A registrar token authorises one accepted change.  Records in the meta
 * column family (ASCII keys; docs/PROTOCOL.md §9, "Used registrar tokens"):
 *   "token_used/" || hex(id)     -> u64 expiry_ms || u64 log_index
 *   "token_queue/" || hex(u64 n) -> fixed[32] id || u64 expiry_ms
 *   "token_queue"                -> u64 head || u64 tail
 * where id = SHA-256(token message).  The queue lists the used records in
 * the order they were written; entries head..tail-1 exist.  Each batch
 * deletes from the head the records whose token expired more than
 * KT_APPLY_TOKEN_GRACE_MS before the batch time (at most
 * KT_APPLY_TOKEN_SWEEP_MAX), and stops at the first that did not: a
 * record may thus outlive its expiry by as long as the longest-lived token
 * used before it.  Everything is a function of stored state and batch.
 */
#define TOKEN_USED_PREFIX "token_used/"
#define TOKEN_QUEUE_PREFIX "token_queue/"
#define TOKEN_QUEUE_KEY "token_queue"
#define TOKEN_USED_PREFIX_LEN (sizeof(TOKEN_USED_PREFIX) - 1)
#define TOKEN_QUEUE_PREFIX_LEN (sizeof(TOKEN_QUEUE_PREFIX) - 1)
#define TOKEN_USED_KEY_LEN (TOKEN_USED_PREFIX_LEN + 2 * KT_HASH_BYTES)
#define TOKEN_QUEUE_KEY_LEN (TOKEN_QUEUE_PREFIX_LEN + 16)
#define TOKEN_QUEUE_ENTRY_LEN (KT_HASH_BYTES + 8)

/* The token's id: SHA-256 of the message the registrar signed. */
static int token_id(uint8_t id[KT_HASH_BYTES], const uint8_t *account,
		    size_t account_len, const kt_provenance *pv)
{
	kt_wbuf w;
	int r;

	if (pv->type != KT_PROV_REGISTRAR || pv->op.op != KT_OP_ENROL)
		return KT_ERR_INVALID_ARG;
	kt_wbuf_init(&w, KT_REGISTRAR_TOKEN_MESSAGE_MAX_BYTES);
	r = kt_registrar_token_message(&w, account, account_len, &pv->op.device,
				       pv->expiry_ms);
	if (r == KT_OK)
		kt_sha256(id, w.data, w.len);
	kt_wbuf_free(&w);
	if (r != KT_OK && r != KT_ERR_NOMEM)
		r = KT_ERR_INVALID_ARG;
	return r;
}

/* Key of the used record (TOKEN_USED_KEY_LEN bytes, plus a NUL). */
static void token_used_key(uint8_t key[TOKEN_USED_KEY_LEN + 1],
			   const uint8_t id[KT_HASH_BYTES])
{
	memcpy(key, TOKEN_USED_PREFIX, TOKEN_USED_PREFIX_LEN);
	sodium_bin2hex((char *)key + TOKEN_USED_PREFIX_LEN,
		       2 * KT_HASH_BYTES + 1, id, KT_HASH_BYTES);
}

/* Key of queue entry n (TOKEN_QUEUE_KEY_LEN bytes, plus a NUL). */
static void token_queue_key(uint8_t key[TOKEN_QUEUE_KEY_LEN + 1], uint64_t n)
{
	uint8_t be[8];

	kt_store_u64be(be, n);
	memcpy(key, TOKEN_QUEUE_PREFIX, TOKEN_QUEUE_PREFIX_LEN);
	sodium_bin2hex((char *)key + TOKEN_QUEUE_PREFIX_LEN, 17, be, sizeof(be));
}

/* Storage errors of the token records: an unexpected one is the state's
 * fault (fatal). */
static int token_storage_err(int r)
{
	return is_fatal(r) ? r : KT_ERR_STORAGE;
}

/* KT_OK if id has no used record (seen through the batch),
 * KT_ERR_TOKEN_USED if it has; else a fatal error. */
static int token_check_unused(kt_storage_batch *sb,
			      const uint8_t id[KT_HASH_BYTES])
{
	uint8_t key[TOKEN_USED_KEY_LEN + 1], *v = NULL;
	size_t n = 0;
	int r;

	token_used_key(key, id);
	r = kt_storage_batch_get(sb, KT_CF_META, key, TOKEN_USED_KEY_LEN, &v, &n);
	kt_storage_free(v);
	if (r == KT_OK)
		return KT_ERR_TOKEN_USED;
	return r == KT_ERR_NOT_FOUND ? KT_OK : token_storage_err(r);
}

/* The queue bounds (0, 0 when there is no queue yet). */
static int token_queue_get(kt_storage_batch *sb, uint64_t *head,
			   uint64_t *tail)
{
	uint8_t *v = NULL;
	size_t n = 0;
	int r;

	*head = 0;
	*tail = 0;
	r = kt_storage_batch_get(sb, KT_CF_META, (const uint8_t *)TOKEN_QUEUE_KEY,
				 strlen(TOKEN_QUEUE_KEY), &v, &n);
	if (r == KT_ERR_NOT_FOUND)
		return KT_OK;
	if (r == KT_OK && n != 16)
		r = KT_ERR_STORAGE;
	if (r == KT_OK) {
		*head = kt_load_u64be(v);
		*tail = kt_load_u64be(v + 8);
		if (*head > *tail)
			r = KT_ERR_STORAGE;
	}
	kt_storage_free(v);
	if (r != KT_OK) {
		*head = 0;
		*tail = 0;
		r = token_storage_err(r);
	}
	return r;
}

static void token_queue_put(kt_storage_batch *sb, uint64_t head, uint64_t tail)
{
	uint8_t v[16];

	kt_store_u64be(v, head);
	kt_store_u64be(v + 8, tail);
	kt_storage_batch_put(sb, KT_CF_META, (const uint8_t *)TOKEN_QUEUE_KEY,
			     strlen(TOKEN_QUEUE_KEY), v, sizeof(v));
}

/* Records token id (expiry, spent by the entry at log_index) as used and
 * appends it to the queue.  Every error is fatal. */
static int token_record(kt_storage_batch *sb, const uint8_t id[KT_HASH_BYTES],
			uint64_t expiry_ms, uint64_t log_index)
{
	uint8_t key[TOKEN_USED_KEY_LEN + 1], qkey[TOKEN_QUEUE_KEY_LEN + 1];
	uint8_t v[16], q[TOKEN_QUEUE_ENTRY_LEN];
	uint64_t head, tail;
	int r;

	r = token_queue_get(sb, &head, &tail);
	if (r == KT_OK && tail == UINT64_MAX)
		r = KT_ERR_STORAGE;
	if (r != KT_OK)
		return r;
	token_used_key(key, id);
	kt_store_u64be(v, expiry_ms);
	kt_store_u64be(v + 8, log_index);
	kt_storage_batch_put(sb, KT_CF_META, key, TOKEN_USED_KEY_LEN, v, sizeof(v));
	token_queue_key(qkey, tail);
	memcpy(q, id, KT_HASH_BYTES);
	kt_store_u64be(q + KT_HASH_BYTES, expiry_ms);
	kt_storage_batch_put(sb, KT_CF_META, qkey, TOKEN_QUEUE_KEY_LEN, q, sizeof(q));
	token_queue_put(sb, head, tail + 1);
	return kt_storage_batch_error(sb);
}

/* Queue entry n: the token id and its expiry. */
static int token_queue_entry(kt_storage_batch *sb, uint64_t n,
			     uint8_t id[KT_HASH_BYTES], uint64_t *expiry_ms)
{
	uint8_t qkey[TOKEN_QUEUE_KEY_LEN + 1], *v = NULL;
	size_t len = 0;
	int r;

	token_queue_key(qkey, n);
	r = kt_storage_batch_get(sb, KT_CF_META, qkey, TOKEN_QUEUE_KEY_LEN, &v,
				 &len);
	if (r == KT_OK && len != TOKEN_QUEUE_ENTRY_LEN)
		r = KT_ERR_STORAGE;
	if (r == KT_OK) {
		memcpy(id, v, KT_HASH_BYTES);
		*expiry_ms = kt_load_u64be(v + KT_HASH_BYTES);
	}
	kt_storage_free(v);
	return r == KT_OK ? r : token_storage_err(r); /* missing: inconsistent */
}

/* Deletes, from the queue's head, up to KT_APPLY_TOKEN_SWEEP_MAX records
 * whose token expired before ts - KT_APPLY_TOKEN_GRACE_MS.  Every error
 * is fatal. */
static int token_sweep(kt_storage_batch *sb, uint64_t ts)
{
	uint8_t id[KT_HASH_BYTES], key[TOKEN_USED_KEY_LEN + 1];
	uint8_t qkey[TOKEN_QUEUE_KEY_LEN + 1];
	uint64_t head, tail, start, expiry = 0;
	unsigned n;
	int r;

	r = token_queue_get(sb, &head, &tail);
	if (r != KT_OK || head == tail || ts <= KT_APPLY_TOKEN_GRACE_MS)
		return r;
	start = head;
	for (n = 0; n < KT_APPLY_TOKEN_SWEEP_MAX && head < tail; n++) {
		r = token_queue_entry(sb, head, id, &expiry);
		if (r != KT_OK || expiry >= ts - KT_APPLY_TOKEN_GRACE_MS)
			break;
		token_used_key(key, id);
		kt_storage_batch_delete(sb, KT_CF_META, key, TOKEN_USED_KEY_LEN);
		token_queue_key(qkey, head);
		kt_storage_batch_delete(sb, KT_CF_META, qkey, TOKEN_QUEUE_KEY_LEN);
		head++;
	}
	if (r == KT_OK && head != start)
		token_queue_put(sb, head, tail);
	return r == KT_OK ? kt_storage_batch_error(sb) : r;
}

/* The registrar token checks of a change, against the batch time ts: its
 * expiry (the handler checked it against its own clock before sequencing;
 * this is the deterministic re-check) and single use.  On KT_OK id is the
 * token's id, for token_record. */
static int token_check(kt_storage_batch *sb, const kt_change *c,
		       const kt_provenance *pv, uint64_t ts,
		       uint8_t id[KT_HASH_BYTES])
{
	int r;

	if (pv->expiry_ms < ts)
		return KT_ERR_TOKEN_EXPIRED;
	r = token_id(id, c->account, c->account_len, pv);
	if (r == KT_OK)
		r = token_check_unused(sb, id);
	return r;
}

int kt_apply_token_used(kt_storage *st, const uint8_t *account,
			size_t account_len, const kt_provenance *pv)
{
	uint8_t id[KT_HASH_BYTES], key[TOKEN_USED_KEY_LEN + 1], *v = NULL;
	size_t n = 0;
	int r;

	if (st == NULL || account == NULL || pv == NULL)
		return KT_ERR_INVALID_ARG;
	r = token_id(id, account, account_len, pv);
	if (r != KT_OK)
		return r;
	token_used_key(key, id);
	r = kt_storage_get(st, NULL, KT_CF_META, key, TOKEN_USED_KEY_LEN, &v, &n);
	kt_storage_free(v);
	if (r == KT_OK)
		return KT_ERR_TOKEN_USED;
	return r == KT_ERR_NOT_FOUND ? KT_OK : r;
}

/* ---- migration from storage format 2 ------------------------------------------- */
/*
 * Builds of format 2 did not (all) record used registrar tokens, so a token
 * spent by an enrolment of such a build could be replayed.  The migration
 * replays the token records of the whole log, in log order: for every
 * update entry whose stored provenance is a registrar enrolment, the
 * token's used record and queue entry, exactly as the batch that accepted
 * it writes them (token_record), unless the token already has a record (a
 * format 2 build that wrote them, or a token spent twice before single
 * use).  A token that expired before the log's last entry is skipped:
 * every later batch time is at least that entry's (apply_body), so it is
 * refused as expired whatever is recorded.  Everything read is stored
 * state (no clock), so replicas that migrate the same state write the
 * same records.  The records and the new format go in ONE synced write: a
 * crash before it leaves the format 2 database as it was, migrated again
 * at the next start.
 */
struct migration {
	kt_storage_batch *sb;
	uint64_t floor_ms;      /* the last entry's timestamp */
	uint64_t entries;       /* entries read */
	uint64_t tokens;        /* records written */
	uint64_t expired;       /* skipped: expired before floor_ms */
	uint64_t recorded;      /* skipped: a record was there already */
};

/* The token of the update entry e at position pos, if its provenance is a
 * registrar's.  An entry without its account records is an inconsistent
 * database (KT_ERR_STORAGE). */
static int migrate_update(struct migration *m, uint64_t pos,
			  const kt_log_entry *e)
{
	kt_storage_account_version rec;
	kt_storage_account_head head;
	kt_provenance pv;
	uint8_t id[KT_HASH_BYTES];
	int r;

	r = kt_storage_batch_account_version_get(m->sb, e->index, e->leaf.version,
						 &rec);
	if (r != KT_OK)
		return token_storage_err(r);
	r = rec.log_index == pos ? KT_OK : KT_ERR_STORAGE;
	if (r == KT_OK && kt_provenance_decode(&pv, rec.provenance,
					       rec.provenance_len) != KT_OK)
		r = KT_ERR_STORAGE;
	kt_storage_account_version_free(&rec);
	if (r != KT_OK || pv.type != KT_PROV_REGISTRAR)
		return r;
	if (pv.expiry_ms < m->floor_ms) {
		m->expired++;
		return KT_OK;
	}
	r = kt_storage_batch_account_head_get(m->sb, e->index, &head);
	if (r != KT_OK)
		return token_storage_err(r);
	r = token_id(id, head.account, head.account_len, &pv);
	if (r == KT_ERR_INVALID_ARG)
		r = KT_ERR_STORAGE; /* an accepted token always has an id */
	if (r == KT_OK)
		r = token_check_unused(m->sb, id);
	if (r == KT_ERR_TOKEN_USED) {
		m->recorded++;
		return KT_OK;
	}
	if (r == KT_OK)
		r = token_record(m->sb, id, pv.expiry_ms, pos);
	m->tokens += r == KT_OK;
	return r;
}

/* kt_storage_entry_fn: one stored entry. */
static int migrate_entry(void *ctx, uint64_t pos, const uint8_t *p,
			 size_t len)
{
	struct migration *m = ctx;
	kt_log_entry e;

	if (kt_log_entry_decode(&e, p, len) != KT_OK)
		return KT_ERR_STORAGE;
	m->entries++;
	if (e.type != KT_ENTRY_UPDATE)
		return KT_OK;
	if (e.leaf.log_index != pos)
		return KT_ERR_STORAGE;
	return migrate_update(m, pos, &e);
}

static uint64_t monotonic_ms(void)
{
	struct timespec t;

	if (clock_gettime(CLOCK_MONOTONIC, &t) != 0)
		return 0;
	return (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u;
}

/* Migrates a format KT_STORAGE_FORMAT_MIGRATABLE database (the log state
 * is loaded) to KT_STORAGE_FORMAT_VERSION.  Every entry must be stored and
 * decode (else KT_ERR_STORAGE); storage errors are returned and nothing is
 * written then.  The clock only times the log line. */
static int migrate_tokens(kt_apply *a)
{
	struct migration m;
	uint64_t t0 = monotonic_ms(), scanned;
	int r;

	memset(&m, 0, sizeof(m));
	m.floor_ms = a->last_ts;
	r = kt_storage_batch_begin(a->p.storage, &m.sb);
	if (r == KT_OK)
		r = kt_storage_log_entries_scan(a->p.storage, NULL, 0, a->log.size,
						migrate_entry, &m);
	scanned = m.entries;
	if (r == KT_OK && scanned != a->log.size)
		r = KT_ERR_STORAGE; /* an entry below the tree size is missing */
	if (r == KT_OK)
		r = kt_storage_batch_format_put(m.sb);
	if (r == KT_OK) {
		r = kt_storage_batch_commit(m.sb, KT_STORAGE_NO_INDEX);
		m.sb = NULL; /* freed by commit, whatever it returned */
	}
	kt_storage_batch_abort(m.sb);
	if (r != KT_OK) {
		kt_slog(KT_SLOG_ERROR, "storage_migrate_failed",
			"from=%u to=%u code=%s entries=%llu",
			KT_STORAGE_FORMAT_MIGRATABLE, KT_STORAGE_FORMAT_VERSION,
			kt_errname(r), (unsigned long long)scanned);
		return r;
	}
	kt_slog(KT_SLOG_INFO, "storage_migrated",
		"from=%u to=%u tokens=%llu expired=%llu recorded=%llu "
		"entries=%llu ms=%llu",
		KT_STORAGE_FORMAT_MIGRATABLE, KT_STORAGE_FORMAT_VERSION,
		(unsigned long long)m.tokens, (unsigned long long)m.expired,
		(unsigned long long)m.recorded, (unsigned long long)scanned,
		(unsigned long long)(monotonic_ms() - t0));
	return KT_OK;
}

/* What check_change found, for write_change. */
struct step {
	kt_provenance pv;
	uint8_t index[KT_INDEX_BYTES];
	kt_storage_account_head head;   /* the account's new head */
	int is_new;
	uint8_t prev_history[KT_HASH_BYTES];
	uint8_t *value;                 /* encoded next value (heap) */
	size_t value_len;
	int has_token;                  /* a registrar token to record */
	uint8_t token[KT_HASH_BYTES];   /* its id */
};

static void step_clear(struct step *s)
{
	free(s->value);
	sodium_memzero(s, sizeof(*s));
}

/* Finds the account: its stored index and head, or a new account. */
static int find_account(kt_storage_batch *sb, const kt_change *c,
			struct step *s)
{
	uint8_t *v = NULL;
	size_t n = 0;
	int r;

	r = kt_storage_batch_get(sb, KT_CF_ACCOUNT_NAMES, c->account,
				 c->account_len, &v, &n);
	if (r == KT_ERR_NOT_FOUND) {
		s->is_new = 1;
		return KT_OK;
	}
	if (r == KT_OK && n != KT_INDEX_BYTES)
		r = KT_ERR_STORAGE;
	if (r == KT_OK)
		memcpy(s->index, v, KT_INDEX_BYTES);
	kt_storage_free(v);
	if (r != KT_OK)
		return r;
	r = kt_storage_batch_account_head_get(sb, s->index, &s->head);
	if (r == KT_ERR_NOT_FOUND)
		return KT_ERR_STORAGE; /* a name without a head */
	if (r != KT_OK)
		return is_fatal(r) ? r : KT_ERR_STORAGE;
	/* public values: memcmp is fine */
	if (s->head.account_len != c->account_len ||
	    memcmp(s->head.account, c->account, c->account_len) != 0)
		return KT_ERR_STORAGE;
	return KT_OK;
}

/* The first change of an account may only be a registrar's enrolment or
 * an operator's add_device, and needs the handler's VRF index, which no
 * other account may hold (a wrong index must not overwrite another
 * account's head). */
static int new_account_check(kt_storage_batch *sb, const kt_change *c,
			     const struct step *s)
{
	kt_storage_account_head other;
	int r;

	if (!(s->pv.type == KT_PROV_REGISTRAR && s->pv.op.op == KT_OP_ENROL) &&
	    !(s->pv.type == KT_PROV_OPERATOR && s->pv.op.op == KT_OP_ADD_DEVICE))
		return KT_ERR_NO_ACCOUNT;
	if (!c->has_vrf)
		return KT_ERR_INVALID_ARG;
	r = kt_storage_batch_account_head_get(sb, c->index, &other);
	if (r == KT_OK)
		return KT_ERR_INVALID_ARG;
	if (r == KT_ERR_NOT_FOUND)
		return KT_OK;
	return is_fatal(r) ? r : KT_ERR_STORAGE;
}

/* The previous value and history (version > 0). */
static int load_prev(kt_storage_batch *sb, struct step *s,
		     kt_account_value *prev)
{
	kt_storage_account_version rec;
	int r;

	r = kt_storage_batch_account_version_get(sb, s->index, s->head.version,
						 &rec);
	if (r != KT_OK)
		return is_fatal(r) ? r : KT_ERR_STORAGE;
	r = kt_account_value_decode(prev, rec.value, rec.value_len);
	if (r != KT_OK)
		r = r == KT_ERR_NOMEM ? r : KT_ERR_STORAGE;
	if (r == KT_OK)
		memcpy(s->prev_history, rec.history, KT_HASH_BYTES);
	kt_storage_account_version_free(&rec);
	return r;
}

static int encode_value(const kt_account_value *v, struct step *s)
{
	kt_wbuf w;
	int r;

	kt_wbuf_init(&w, KT_VALUE_MAX_BYTES);
	r = kt_account_value_encode(&w, v);
	if (r == KT_OK)
		return kt_wbuf_take(&w, &s->value, &s->value_len);
	kt_wbuf_free(&w);
	return r;
}

/* The stateful checks of one change.  Reads only (through the batch).  On
 * KT_OK *s holds what write_change needs. */
static int check_change(kt_apply *a, kt_storage_batch *sb, const kt_change *c,
			uint64_t ts, struct step *s)
{
	kt_account_value prev, next;
	uint64_t version;
	int r;

	kt_account_value_init(&prev);
	kt_account_value_init(&next);
	r = kt_account_check(c->account, c->account_len);
	if (r == KT_OK && (c->provenance == NULL ||
			   c->provenance_len > KT_PROVENANCE_MAX_BYTES))
		r = KT_ERR_INVALID_ARG;
	if (r == KT_OK)
		r = kt_provenance_decode(&s->pv, c->provenance, c->provenance_len);
	if (r == KT_OK)
		r = find_account(sb, c, s);
	if (r == KT_OK && s->is_new)
		r = new_account_check(sb, c, s);
	/* authorisation before state: a spent token is refused as such */
	if (r == KT_OK && s->pv.type == KT_PROV_REGISTRAR) {
		r = token_check(sb, c, &s->pv, ts, s->token);
		s->has_token = r == KT_OK;
	}
	version = s->is_new ? 0 : s->head.version;
	if (r == KT_OK && c->expected_version != version)
		r = KT_ERR_VERSION_MISMATCH;
	if (r == KT_OK && version == UINT64_MAX)
		r = KT_ERR_TOO_LARGE;
	if (r == KT_OK && !s->is_new)
		r = load_prev(sb, s, &prev);
	if (r == KT_OK)
		/* with the whole provenance: an added device records who
		 * authorised it (added_by), committed with the value */
		r = kt_value_apply_op(&next, &prev, &s->pv, ts,
				      a->p.max_devices);
	if (r == KT_OK)
		r = encode_value(&next, s);
	if (r == KT_OK && s->is_new) {
		memcpy(s->index, c->index, KT_INDEX_BYTES);
		memcpy(s->head.vrf_proof, c->vrf_proof, KT_VRF_PROOF_BYTES);
		memcpy(s->head.account, c->account, c->account_len);
		s->head.account_len = c->account_len;
	}
	s->head.version = version + 1;
	kt_account_value_free(&prev);
	kt_account_value_free(&next);
	return r;
}

/* Encodes e, appends its leaf hash to the log and stores it at its
 * position; the last entry's time becomes e's.  Every error is fatal. */
static int append_entry(kt_apply *a, kt_storage_batch *sb,
			const kt_log_entry *e)
{
	uint8_t lh[KT_HASH_BYTES];
	uint64_t pos = a->log.size;
	kt_wbuf w;
	int r;

	kt_wbuf_init(&w, KT_LOG_ENTRY_MAX_BYTES);
	r = kt_log_entry_encode(&w, e);
	if (r == KT_OK) {
		kt_log_leaf_hash(lh, w.data, w.len);
		r = kt_log_append(&a->log, lh, NULL);
	}
	if (r == KT_OK) {
		a->last_ts = e->timestamp_ms;
		r = kt_storage_batch_log_entry_put(sb, pos, w.data, w.len);
	}
	kt_wbuf_free(&w);
	return r;
}

/* The update entry of an accepted change: commitment, history, leaf, and
 * the map root after its map update (written through bm). */
static int make_update(const kt_apply *a, const struct batch_map *bm,
		       const kt_change *c, uint64_t ts, const struct step *s,
		       kt_log_entry *e)
{
	kt_map_store ms = {(void *)bm, bm_get, bm_put};
	uint8_t digest[KT_HASH_BYTES];
	int r;

	memset(e, 0, sizeof(*e));
	e->type = KT_ENTRY_UPDATE;
	e->timestamp_ms = ts;
	memcpy(e->index, s->index, KT_INDEX_BYTES);
	e->leaf.version = s->head.version;
	e->leaf.log_index = a->log.size;
	r = kt_commitment_compute(e->leaf.commitment, c->opening, c->account,
				  c->account_len, e->leaf.version, s->value,
				  s->value_len, c->provenance, c->provenance_len);
	if (r != KT_OK)
		return r;
	kt_history_step(e->leaf.history, s->prev_history, e->leaf.version,
			e->leaf.log_index, e->leaf.commitment);
	kt_map_leaf_digest(digest, &e->leaf);
	return kt_map_update(&ms, e->leaf.log_index, s->index, digest,
			     e->map_root);
}

/* The account records of an accepted change (buffered in the batch). */
static void put_account(kt_storage_batch *sb, const kt_change *c,
			const struct step *s, const kt_log_entry *e)
{
	kt_storage_account_version rec;

	kt_storage_batch_account_head_put(sb, s->index, &s->head);
	memset(&rec, 0, sizeof(rec));
	rec.log_index = e->leaf.log_index;
	rec.timestamp_ms = e->timestamp_ms;
	memcpy(rec.commitment, e->leaf.commitment, KT_COMMITMENT_BYTES);
	memcpy(rec.history, e->leaf.history, KT_HASH_BYTES);
	memcpy(rec.opening, c->opening, KT_OPENING_BYTES);
	rec.value = s->value;
	rec.value_len = s->value_len;
	rec.provenance = c->provenance;
	rec.provenance_len = c->provenance_len;
	kt_storage_batch_account_version_put(sb, s->index, e->leaf.version, &rec);
	sodium_memzero(rec.opening, sizeof(rec.opening));
}

/* The writes of one accepted change: every error is fatal. */
static int write_change(kt_apply *a, kt_storage_batch *sb,
			const struct batch_map *bm, const kt_change *c,
			uint64_t ts, const struct step *s, kt_change_result *res)
{
	kt_log_entry e;
	int r;

	r = make_update(a, bm, c, ts, s, &e);
	if (r == KT_OK)
		r = append_entry(a, sb, &e);
	if (r != KT_OK)
		return r;
	memcpy(a->map_root, e.map_root, KT_HASH_BYTES);
	if (s->is_new)
		a->accounts++;
	put_account(sb, c, s, &e);
	r = s->has_token ? token_record(sb, s->token, s->pv.expiry_ms,
					e.leaf.log_index) : KT_OK;
	if (r == KT_OK)
		r = kt_storage_batch_error(sb);
	if (r == KT_OK) {
		res->code = KT_OK;
		res->version = e.leaf.version;
		res->log_index = e.leaf.log_index;
	}
	return r;
}

/* Applies one change: its own error goes to res (KT_OK returned), a fatal
 * one is returned. */
static int apply_change(kt_apply *a, kt_storage_batch *sb,
			const struct batch_map *bm, const kt_change *c,
			uint64_t ts, kt_change_result *res)
{
	struct step s;
	int r;

	memset(&s, 0, sizeof(s));
	memset(res, 0, sizeof(*res));
	r = check_change(a, sb, c, ts, &s);
	if (r != KT_OK && !is_fatal(r)) {
		res->code = r;
		r = KT_OK;
	} else if (r == KT_OK) {
		r = write_change(a, sb, bm, c, ts, &s, res);
	}
	step_clear(&s);
	return r;
}

/* ---- the batch ------------------------------------------------------------- */

static int append_heartbeat(kt_apply *a, kt_storage_batch *sb, uint64_t ts)
{
	kt_log_entry e;

	memset(&e, 0, sizeof(e));
	e.type = KT_ENTRY_HEARTBEAT;
	e.timestamp_ms = ts;
	memcpy(e.map_root, a->map_root, KT_HASH_BYTES);
	return append_entry(a, sb, &e);
}

/* Signs and stores the checkpoint of the current size, with the meta. */
static int put_checkpoint(kt_apply *a, kt_storage_batch *sb)
{
	kt_checkpoint cp;
	uint8_t *body = NULL, *note = NULL;
	size_t body_len = 0, note_len = 0;
	int r;

	memset(&cp, 0, sizeof(cp));
	cp.origin.p = (const uint8_t *)a->p.origin;
	cp.origin.len = a->p.origin_len;
	cp.size = a->log.size;
	kt_log_root(&a->log, cp.root);
	r = kt_checkpoint_format(&cp, &body, &body_len);
	if (r == KT_OK)
		r = kt_note_sign(a->p.log_signer, 0, body, body_len, &note,
				 &note_len);
	if (r == KT_OK) {
		kt_storage_batch_checkpoint_put(sb, cp.size, note, note_len);
		kt_storage_batch_meta_put_u64(sb, KT_META_TREE_SIZE, cp.size);
		kt_storage_batch_meta_put_u64(sb, KT_META_LAST_CHECKPOINT, cp.size);
		if (!a->origin_stored)
			kt_storage_batch_meta_put(sb, KT_META_ORIGIN,
						  (const uint8_t *)a->p.origin,
						  a->p.origin_len);
		r = kt_storage_batch_error(sb);
	}
	free(body);
	free(note);
	return r;
}

static void put_accounts(kt_apply *a, kt_storage_batch *sb)
{
	uint8_t v[8];

	kt_store_u64be(v, a->accounts);
	kt_storage_batch_put(sb, KT_CF_META, (const uint8_t *)META_ACCOUNTS_KEY,
			     strlen(META_ACCOUNTS_KEY), v, sizeof(v));
}

static void save_state(const kt_apply *a, struct saved *sv)
{
	sv->log = a->log;
	memcpy(sv->map_root, a->map_root, KT_HASH_BYTES);
	sv->last_ts = a->last_ts;
	sv->accounts = a->accounts;
}

static void restore_state(kt_apply *a, const struct saved *sv)
{
	a->log = sv->log;
	memcpy(a->map_root, sv->map_root, KT_HASH_BYTES);
	a->last_ts = sv->last_ts;
	a->accounts = sv->accounts;
}

static void results_fill(kt_change_result *results, size_t n, int code)
{
	size_t i;

	for (i = 0; i < n; i++) {
		results[i].code = code;
		results[i].version = 0;
		results[i].log_index = 0;
	}
}

/* Steps 3-4 of the file comment, inside the open storage batch. */
static int apply_body(kt_apply *a, kt_storage_batch *sb, const kt_batch *b,
		      kt_change_result *results)
{
	struct batch_map bm;
	uint64_t ts, first = a->log.size, accounts = a->accounts;
	size_t i;
	int r = KT_OK;

	/* Timestamps never go back (both inputs are in state or batch). */
	ts = b->timestamp_ms > a->last_ts ? b->timestamp_ms : a->last_ts;
	bm.inner = kt_storage_map_store_apply(a->p.storage);
	bm.version = first;
	r = token_sweep(sb, ts);
	if (r == KT_OK && b->heartbeat)
		r = append_heartbeat(a, sb, ts);
	for (i = 0; i < b->count && r == KT_OK; i++)
		r = apply_change(a, sb, &bm, &b->changes[i], ts, &results[i]);
	if (r == KT_OK && a->log.size > first)
		r = put_checkpoint(a, sb);
	if (r == KT_OK && a->accounts != accounts)
		put_accounts(a, sb);
	if (r == KT_OK)
		r = kt_storage_batch_error(sb);
	return r;
}

int kt_apply_batch(kt_apply *a, const kt_batch *b, uint64_t applied_index,
		   kt_change_result *results)
{
	kt_storage_batch *sb = NULL;
	struct saved sv;
	uint64_t stored = 0;
	int r;

	r = batch_check(b);
	if (r == KT_OK && (a == NULL || (b->count > 0 && results == NULL) ||
			   applied_index == KT_STORAGE_NO_INDEX))
		r = KT_ERR_INVALID_ARG;
	if (r != KT_OK) {
		if (b != NULL && results != NULL &&
		    b->count <= KT_BATCH_MAX_CHANGES)
			results_fill(results, b->count, r);
		return r;
	}
	if (kt_storage_applied_index(a->p.storage, &stored) == KT_OK &&
	    applied_index <= stored) {
		results_fill(results, b->count, KT_ERR_ALREADY_APPLIED);
		return KT_OK;
	}
	results_fill(results, b->count, KT_ERR_INTERNAL);
	pthread_mutex_lock(&a->mu);
	save_state(a, &sv);
	r = kt_storage_batch_begin(a->p.storage, &sb);
	if (r == KT_OK)
		r = apply_body(a, sb, b, results);
	if (r == KT_OK) {
		r = kt_storage_batch_commit(sb, applied_index);
		sb = NULL; /* freed by commit, whatever it returned */
	}
	if (r != KT_OK) {
		kt_storage_batch_abort(sb);
		restore_state(a, &sv);
		results_fill(results, b->count, r);
	} else {
		fill_head(a);
	}
	pthread_mutex_unlock(&a->mu);
	sodium_memzero(&sv, sizeof(sv));
	return r;
}

/* ---- cosignatures (any thread) ----------------------------------------------- */

/* KT_OK if a checkpoint of `size` is stored. */
static int have_checkpoint(kt_apply *a, uint64_t size)
{
	uint8_t *note = NULL;
	size_t len = 0;
	int r;

	r = kt_storage_checkpoint_get(a->p.storage, NULL, size, &note, &len);
	kt_storage_free(note);
	return r == KT_ERR_NOT_FOUND ? KT_ERR_NO_CHECKPOINT : r;
}

int kt_apply_put_cosig(kt_apply *a, uint64_t size, const uint8_t key_hash[4],
		       const uint8_t *name, size_t name_len, const uint8_t *line,
		       size_t line_len)
{
	kt_storage_batch *sb = NULL;
	int r;

	if (a == NULL || key_hash == NULL || name == NULL || name_len == 0 ||
	    name_len > KT_STORAGE_MAX_NAME || line == NULL || line_len == 0)
		return KT_ERR_INVALID_ARG;
	pthread_mutex_lock(&a->mu);
	r = have_checkpoint(a, size);
	if (r == KT_OK)
		r = kt_storage_batch_begin(a->p.storage, &sb);
	if (r == KT_OK) {
		kt_storage_batch_cosig_put(sb, size, key_hash, name, name_len, line,
					   line_len);
		r = kt_storage_batch_commit(sb, KT_STORAGE_NO_INDEX);
	}
	pthread_mutex_unlock(&a->mu);
	return r;
}

int kt_apply_set_cosigned(kt_apply *a, uint64_t size)
{
	kt_storage_batch *sb = NULL;
	uint64_t cur = 0;
	int r;

	if (a == NULL)
		return KT_ERR_INVALID_ARG;
	pthread_mutex_lock(&a->mu);
	r = have_checkpoint(a, size);
	if (r == KT_OK) {
		r = kt_storage_meta_get_u64(a->p.storage, NULL,
					    KT_META_COSIGNED_CHECKPOINT, &cur);
		if (r == KT_ERR_NOT_FOUND) {
			cur = 0;
			r = KT_OK;
		}
	}
	if (r == KT_OK && size > cur) {
		r = kt_storage_batch_begin(a->p.storage, &sb);
		if (r == KT_OK) {
			kt_storage_batch_meta_put_u64(sb, KT_META_COSIGNED_CHECKPOINT,
						      size);
			r = kt_storage_batch_commit(sb, KT_STORAGE_NO_INDEX);
		}
	}
	pthread_mutex_unlock(&a->mu);
	return r;
}
