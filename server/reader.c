/*
 * reader.c — the read path of ktd (see reader.h).
 */
#include "reader.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "kt_commit.h"
#include "kt_note.h"

/* ---- the per-size head cache ------------------------------------------ */

#define HEAD_CACHE_SLOTS 8u

struct head_slot {
	int used;
	uint64_t size;
	uint64_t gen;
	kt_read_head h;   /* without a consistency proof */
};

struct kt_reader_cache {
	pthread_mutex_t mu;
	unsigned next;    /* slot the next new size replaces */
	struct head_slot s[HEAD_CACHE_SLOTS];
};

int kt_reader_cache_new(kt_reader_cache **out)
{
	kt_reader_cache *c = calloc(1, sizeof(*c));

	*out = NULL;
	if (c == NULL)
		return KT_ERR_NOMEM;
	if (pthread_mutex_init(&c->mu, NULL) != 0) {
		free(c);
		return KT_ERR_NOMEM;
	}
	*out = c;
	return KT_OK;
}

void kt_reader_cache_free(kt_reader_cache *c)
{
	unsigned i;

	if (c == NULL)
		return;
	for (i = 0; i < HEAD_CACHE_SLOTS; i++)
		kt_read_head_clear(&c->s[i].h);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

/* Copies src into *dst with its own checkpoint buffer. */
static int head_copy(kt_read_head *dst, const kt_read_head *src)
{
	*dst = *src;
	dst->checkpoint = malloc(src->checkpoint_len);
	if (dst->checkpoint == NULL) {
		memset(dst, 0, sizeof(*dst));
		return KT_ERR_NOMEM;
	}
	memcpy(dst->checkpoint, src->checkpoint, src->checkpoint_len);
	return KT_OK;
}

/* KT_OK and a copy of the cached head for (size, gen); KT_ERR_NOT_FOUND if
 * none is cached. */
static int head_cache_get(kt_reader_cache *c, uint64_t size, uint64_t gen,
			  kt_read_head *out)
{
	unsigned i;
	int rc = KT_ERR_NOT_FOUND;

	pthread_mutex_lock(&c->mu);
	for (i = 0; i < HEAD_CACHE_SLOTS; i++)
		if (c->s[i].used && c->s[i].size == size && c->s[i].gen == gen) {
			rc = head_copy(out, &c->s[i].h);
			break;
		}
	pthread_mutex_unlock(&c->mu);
	return rc;
}

/* 1 if a head at size is cached (any generation): its checkpoint exists. */
static int head_cache_has(kt_reader_cache *c, uint64_t size)
{
	unsigned i;
	int has = 0;

	pthread_mutex_lock(&c->mu);
	for (i = 0; i < HEAD_CACHE_SLOTS; i++)
		has |= c->s[i].used && c->s[i].size == size;
	pthread_mutex_unlock(&c->mu);
	return has;
}

/* Stores a copy of h for (size, gen), replacing an older generation of the
 * size or the oldest slot.  Best effort: out of memory stores nothing. */
static void head_cache_put(kt_reader_cache *c, uint64_t size, uint64_t gen,
			   const kt_read_head *h)
{
	kt_read_head copy;
	struct head_slot *slot = NULL;
	unsigned i;

	if (head_copy(&copy, h) != KT_OK)
		return;
	pthread_mutex_lock(&c->mu);
	for (i = 0; i < HEAD_CACHE_SLOTS && slot == NULL; i++)
		if (c->s[i].used && c->s[i].size == size)
			slot = &c->s[i];
	if (slot == NULL) {
		slot = &c->s[c->next];
		c->next = (c->next + 1) % HEAD_CACHE_SLOTS;
	}
	if (slot->used && slot->size == size && slot->gen > gen) {
		kt_read_head_clear(&copy); /* a newer one is cached already */
	} else {
		kt_read_head_clear(&slot->h);
		slot->h = copy;
		slot->used = 1;
		slot->size = size;
		slot->gen = gen;
	}
	pthread_mutex_unlock(&c->mu);
}

/* ---- open / close ------------------------------------------------------ */

/* Only what v holds: the node's published head can be newer than a view
 * opened just before a batch was committed and published, and a read at
 * that size through the view would find no checkpoint (NOT_FOUND) or old
 * records.  A batch is committed before it is published, so a view opened
 * after a client saw a checkpoint holds it. */
int kt_reader_newest(kt_node *n, kt_storage_view *v, uint64_t *size)
{
	uint64_t stored = 0;
	int rc;

	rc = kt_storage_meta_get_u64(kt_node_storage(n), v, KT_META_LAST_CHECKPOINT,
				     &stored);
	if (rc == KT_ERR_NOT_FOUND) {
		stored = 0;
		rc = KT_OK;
	}
	*size = rc != KT_OK ? 0 : stored;
	return rc;
}

int kt_reader_open(kt_reader *r, kt_node *n, uint64_t tree_size)
{
	uint8_t *note = NULL;
	size_t note_len = 0;
	uint64_t size, newest = 0;
	int rc;

	memset(r, 0, sizeof(*r));
	r->node = n;
	r->st = kt_node_storage(n);
	/* before the view: a head cached at this generation is never older
	 * than what the view sees */
	r->checkpoint_gen = kt_storage_checkpoint_generation(r->st);
	rc = kt_storage_view_open(r->st, &r->view);
	if (rc == KT_OK)
		rc = kt_reader_newest(n, r->view, &newest);
	if (rc == KT_OK && newest == 0)
		rc = KT_ERR_NO_CHECKPOINT;
	if (rc != KT_OK)
		goto out;
	size = tree_size != 0 ? tree_size : newest;
	if (size > newest) {
		rc = KT_ERR_LOG_BAD_SIZE;
		goto out;
	}
	if (!head_cache_has(kt_node_reader_cache(n), size))
		rc = kt_storage_checkpoint_get(r->st, r->view, size, &note,
					       &note_len);
	if (rc == KT_ERR_NOT_FOUND)
		rc = KT_ERR_NO_CHECKPOINT;
	if (rc != KT_OK)
		goto out;
	r->head_size = newest;
	r->size = size;
	r->log = kt_storage_log_store_view(r->view);
	r->map = kt_storage_map_store_view(r->view);
	rc = KT_OK;
out:
	kt_storage_free(note);
	if (rc != KT_OK)
		kt_reader_close(r);
	return rc;
}

void kt_reader_close(kt_reader *r)
{
	if (r == NULL)
		return;
	kt_storage_view_close(r->view);
	memset(r, 0, sizeof(*r));
}

/* ---- checkpoints ------------------------------------------------------- */

/* A growing byte buffer with a hard cap. */
typedef struct dbuf {
	uint8_t *p;
	size_t len, cap, max;
	int err;
} dbuf;

static void dbuf_put(dbuf *b, const uint8_t *p, size_t n)
{
	size_t ncap;
	uint8_t *np;

	if (b->err != KT_OK)
		return;
	if (n > b->max - b->len) {
		b->err = KT_ERR_TOO_LARGE;
		return;
	}
	if (b->len + n > b->cap) {
		ncap = b->cap != 0 ? b->cap : 1024;
		while (ncap < b->len + n)
			ncap *= 2;
		if (ncap > b->max)
			ncap = b->max;
		np = realloc(b->p, ncap);
		if (np == NULL) {
			b->err = KT_ERR_NOMEM;
			return;
		}
		b->p = np;
		b->cap = ncap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

static int cosig_append(void *ctx, const uint8_t key_hash[4],
			const uint8_t *name, size_t name_len,
			const uint8_t *line, size_t line_len)
{
	dbuf *b = ctx;

	(void)key_hash;
	(void)name;
	(void)name_len;
	/* Stored lines were verified when they were added; each is one
	 * complete signature line ending in '\n'. */
	if (line_len == 0 || line[line_len - 1] != '\n')
		return KT_ERR_STORAGE;
	dbuf_put(b, line, line_len);
	return b->err;
}

int kt_reader_checkpoint(kt_storage *st, kt_storage_view *v, uint64_t size,
			 int with_cosigs, uint8_t **note, size_t *note_len)
{
	dbuf b = {.max = KT_NOTE_MAX_BYTES, .err = KT_OK};
	uint8_t *stored = NULL;
	size_t stored_len = 0;
	int rc;

	*note = NULL;
	*note_len = 0;
	rc = kt_storage_checkpoint_get(st, v, size, &stored, &stored_len);
	if (rc == KT_ERR_NOT_FOUND)
		rc = KT_ERR_NO_CHECKPOINT;
	if (rc != KT_OK)
		goto out;
	dbuf_put(&b, stored, stored_len);
	if (with_cosigs && b.err == KT_OK) {
		rc = kt_storage_cosigs_scan(st, v, size, cosig_append, &b);
		if (rc != KT_OK)
			goto out;
	}
	rc = b.err;
	if (rc != KT_OK)
		goto out;
	*note = b.p;
	*note_len = b.len;
	b.p = NULL;
out:
	free(b.p);
	kt_storage_free(stored);
	return rc;
}

/* ---- the head of a response ------------------------------------------- */

void kt_read_head_clear(kt_read_head *h)
{
	if (h == NULL)
		return;
	free(h->checkpoint);
	memset(h, 0, sizeof(*h));
}

static int read_entry(kt_reader *r, uint64_t pos,
		      uint8_t out[KT_LOG_ENTRY_MAX_BYTES], size_t *len)
{
	uint8_t *e = NULL;
	size_t elen = 0;
	int rc;

	*len = 0;
	rc = kt_storage_log_entry_get(r->st, r->view, pos, &e, &elen);
	if (rc == KT_ERR_NOT_FOUND)
		rc = KT_ERR_STORAGE;    /* an entry below a checkpoint is missing */
	if (rc != KT_OK)
		goto out;
	if (elen == 0 || elen > KT_LOG_ENTRY_MAX_BYTES) {
		rc = KT_ERR_STORAGE;
		goto out;
	}
	memcpy(out, e, elen);
	*len = elen;
out:
	kt_storage_free(e);
	return rc;
}

/* The parts of the head at r->size that do not depend on the client: the
 * checkpoint with its cosignatures, the last entry and its inclusion. */
static int head_shared(kt_reader *r, kt_read_head *out)
{
	kt_reader_cache *c = kt_node_reader_cache(r->node);
	int rc;

	if (head_cache_get(c, r->size, r->checkpoint_gen, out) == KT_OK)
		return KT_OK;
	out->tree_size = r->size;
	rc = kt_reader_checkpoint(r->st, r->view, r->size, 1, &out->checkpoint,
				  &out->checkpoint_len);
	if (rc == KT_OK)
		rc = read_entry(r, r->size - 1, out->last_entry,
				&out->last_entry_len);
	if (rc == KT_OK)
		rc = kt_log_prove_inclusion(&r->log, r->size - 1, r->size,
					    out->last_inclusion.h,
					    &out->last_inclusion.n);
	if (rc == KT_OK)
		head_cache_put(c, r->size, r->checkpoint_gen, out);
	return rc;
}

int kt_reader_head(kt_reader *r, uint64_t last_verified_size, kt_read_head *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if (last_verified_size > r->head_size)
		return KT_ERR_LOG_BAD_SIZE;
	rc = head_shared(r, out);
	if (rc != KT_OK)
		goto out;
	if (last_verified_size != 0 && last_verified_size < r->size)
		rc = kt_log_prove_consistency(&r->log, last_verified_size, r->size,
					      out->consistency.h,
					      &out->consistency.n);
	else if (last_verified_size > r->size)
		rc = kt_log_prove_consistency(&r->log, r->size, last_verified_size,
					      out->consistency.h,
					      &out->consistency.n);
out:
	if (rc != KT_OK)
		kt_read_head_clear(out);
	return rc;
}

/* ---- accounts ---------------------------------------------------------- */

int kt_reader_account_index_head(kt_node *n, kt_storage_view *v,
				 const uint8_t *account, size_t account_len,
				 uint8_t index[KT_INDEX_BYTES],
				 uint8_t vrf_proof[KT_VRF_PROOF_BYTES],
				 kt_storage_account_head *head, int *known)
{
	kt_storage *st = kt_node_storage(n);
	uint8_t beta[KT_VRF_OUTPUT_BYTES];
	int rc;

	*known = 0;
	memset(head, 0, sizeof(*head));
	/* The name -> index mapping never changes once committed, so the
	 * cached one (perhaps committed after v's snapshot) is v's too if v
	 * holds the account's head at all. */
	rc = kt_storage_account_index_cached(st, account, account_len, index);
	if (rc == KT_OK) {
		rc = kt_storage_account_head_get(st, v, index, head);
		if (rc == KT_OK) {
			memcpy(vrf_proof, head->vrf_proof, KT_VRF_PROOF_BYTES);
			*known = 1;
			goto out;
		}
		if (rc != KT_ERR_NOT_FOUND)
			goto out;
		/* No head in v: created after v's snapshot (then, as v sees
		 * it, the account is new: the very same VRF proof is computed
		 * below), unless v holds the name (a corrupt database). */
		rc = kt_storage_account_index_get(st, v, account, account_len,
						  index);
		if (rc == KT_OK)
			rc = KT_ERR_STORAGE;
	}
	if (rc != KT_ERR_NOT_FOUND)
		goto out;
	/* Never created: prove the index with the node's VRF key, so that a
	 * sender can verify that the account does not exist. */
	rc = kt_vrf_prove(vrf_proof, kt_node_keys_get(n)->vrf_sk, account,
			  account_len);
	if (rc != KT_OK)
		goto out;
	rc = kt_vrf_proof_to_hash(beta, vrf_proof);
	if (rc != KT_OK)
		goto out;
	kt_vrf_index(index, beta);
out:
	if (rc != KT_OK) {
		memset(index, 0, KT_INDEX_BYTES);
		memset(vrf_proof, 0, KT_VRF_PROOF_BYTES);
		memset(head, 0, sizeof(*head));
		*known = 0;
	}
	return rc;
}

int kt_reader_account_index(kt_node *n, kt_storage_view *v,
			    const uint8_t *account, size_t account_len,
			    uint8_t index[KT_INDEX_BYTES],
			    uint8_t vrf_proof[KT_VRF_PROOF_BYTES], int *known)
{
	kt_storage_account_head head;

	return kt_reader_account_index_head(n, v, account, account_len, index,
					    vrf_proof, &head, known);
}

void kt_read_account_clear(kt_read_account *a)
{
	if (a == NULL)
		return;
	free(a->map_proof);
	kt_storage_account_version_free(&a->rec);
	memset(a, 0, sizeof(*a));
}

/* Reads version `version`'s record into *rec (owned by the caller). */
static int version_get(kt_reader *r, const uint8_t index[KT_INDEX_BYTES],
		       uint64_t version, kt_storage_account_version *rec)
{
	int rc = kt_storage_account_version_get(r->st, r->view, index, version, rec);

	if (rc == KT_ERR_NOT_FOUND)
		rc = KT_ERR_STORAGE;   /* versions 1..head must all exist */
	return rc;
}

/* The newest version of the account whose entry lies below r->size:
 * *version (0 if none) and its record in *rec.  Versions' log indices
 * grow with the version, so a binary search needs O(log v) reads; the
 * common case (reading at the newest size) takes one. */
static int version_at_size(kt_reader *r, const uint8_t index[KT_INDEX_BYTES],
			   uint64_t newest, uint64_t *version,
			   kt_storage_account_version *rec)
{
	uint64_t lo = 1, hi, mid, found = 0;
	int rc;

	*version = 0;
	rc = version_get(r, index, newest, rec);
	if (rc != KT_OK)
		return rc;
	if (rec->log_index < r->size) {
		*version = newest;
		return KT_OK;
	}
	kt_storage_account_version_free(rec);
	hi = newest - 1;
	while (lo <= hi && hi != 0) {
		mid = lo + (hi - lo) / 2;
		rc = version_get(r, index, mid, rec);
		if (rc != KT_OK)
			return rc;
		if (rec->log_index < r->size) {
			found = mid;
			lo = mid + 1;
		} else {
			hi = mid - 1;
		}
		kt_storage_account_version_free(rec);
	}
	if (found == 0)
		return KT_OK;
	rc = version_get(r, index, found, rec);
	if (rc == KT_OK)
		*version = found;
	return rc;
}

int kt_reader_account(kt_reader *r, const uint8_t *account, size_t account_len,
		      kt_read_account *out)
{
	kt_storage_account_head head;
	kt_map_leaf leaf;
	int known = 0, rc;

	memset(out, 0, sizeof(*out));
	rc = kt_reader_account_index_head(r->node, r->view, account,
					  account_len, out->index,
					  out->vrf_proof, &head, &known);
	if (rc != KT_OK)
		goto out;
	if (known) {
		rc = version_at_size(r, out->index, head.version, &out->version,
				     &out->rec);
		if (rc != KT_OK)
			goto out;
		out->exists = out->version != 0;
	}
	if (out->exists) {
		leaf.version = out->version;
		leaf.log_index = out->rec.log_index;
		memcpy(leaf.commitment, out->rec.commitment, KT_COMMITMENT_BYTES);
		memcpy(leaf.history, out->rec.history, KT_HASH_BYTES);
		kt_map_leaf_bytes(out->leaf, &leaf);
	}
	rc = kt_map_prove(&r->map, r->size - 1, out->index, &out->map_proof,
			  &out->map_proof_len);
	if (rc != KT_OK)
		goto out;
	/* The map and the account records are written in the same batch: an
	 * inclusion proof exactly when a version exists at this size. */
	if ((out->map_proof[0] == KT_MAP_PROOF_INCLUSION) != (out->exists != 0))
		rc = KT_ERR_INTERNAL;
out:
	if (rc != KT_OK)
		kt_read_account_clear(out);
	return rc;
}

/* ---- history ----------------------------------------------------------- */

void kt_read_history_clear(kt_read_history *h)
{
	size_t i;

	if (h == NULL)
		return;
	for (i = 0; i < h->n; i++) {
		kt_storage_account_version_free(&h->v[i].rec);
		free(h->v[i].inclusion);
	}
	free(h->v);
	memset(h, 0, sizeof(*h));
}

/* Response bytes one version adds (protobuf overhead included, roughly). */
static size_t version_bytes(const kt_read_version *v)
{
	return 64 + v->entry_len + v->n_inclusion * (KT_HASH_BYTES + 2) +
	       v->rec.value_len + v->rec.provenance_len + KT_OPENING_BYTES;
}

static int history_one(kt_reader *r, const uint8_t index[KT_INDEX_BYTES],
		       uint64_t version, kt_read_version *out)
{
	kt_read_proof p;
	int rc;

	memset(out, 0, sizeof(*out));
	out->version = version;
	rc = version_get(r, index, version, &out->rec);
	if (rc != KT_OK)
		return rc;
	if (out->rec.log_index >= r->size)
		return KT_ERR_INTERNAL;
	rc = read_entry(r, out->rec.log_index, out->entry, &out->entry_len);
	if (rc != KT_OK)
		return rc;
	rc = kt_log_prove_inclusion(&r->log, out->rec.log_index, r->size, p.h, &p.n);
	if (rc != KT_OK)
		return rc;
	if (p.n != 0) {
		out->inclusion = malloc(p.n * KT_HASH_BYTES);
		if (out->inclusion == NULL)
			return KT_ERR_NOMEM;
		memcpy(out->inclusion, p.h, p.n * KT_HASH_BYTES);
	}
	out->n_inclusion = p.n;
	return KT_OK;
}

int kt_reader_history(kt_reader *r, const kt_read_account *a,
		      uint64_t from_version, size_t max_versions,
		      size_t max_bytes, kt_read_history *out)
{
	kt_read_version *nv;
	size_t bytes = 0, cap = 0;
	uint64_t v;
	int rc = KT_OK;

	memset(out, 0, sizeof(*out));
	if (!a->exists)
		return KT_ERR_NO_ACCOUNT;
	if (from_version == 0)
		from_version = 1;
	if (max_versions == 0)
		max_versions = 1;
	for (v = from_version; v <= a->version; v++) {
		if (out->n == max_versions || (out->n > 0 && bytes >= max_bytes)) {
			out->more = 1;
			break;
		}
		if (out->n == cap) {
			cap = cap != 0 ? cap * 2 : 16;
			if (cap > max_versions)
				cap = max_versions;
			nv = realloc(out->v, cap * sizeof(*nv));
			if (nv == NULL) {
				rc = KT_ERR_NOMEM;
				goto out;
			}
			out->v = nv;
		}
		rc = history_one(r, a->index, v, &out->v[out->n]);
		out->n++;   /* counted even on failure, so that clear frees it */
		if (rc != KT_OK)
			goto out;
		bytes += version_bytes(&out->v[out->n - 1]);
		if (bytes > max_bytes && out->n > 1) {
			/* The last one does not fit: leave it for the next page. */
			out->n--;
			kt_storage_account_version_free(&out->v[out->n].rec);
			free(out->v[out->n].inclusion);
			out->more = 1;
			break;
		}
	}
out:
	if (rc != KT_OK)
		kt_read_history_clear(out);
	return rc;
}

int kt_reader_device_keys(kt_node *n, const uint8_t index[KT_INDEX_BYTES],
			  const uint8_t *device_id, size_t device_id_len,
			  size_t max_versions, kt_reader_key_fn fn, void *ctx)
{
	kt_storage *st = kt_node_storage(n);
	kt_storage_view *view = NULL;
	kt_storage_account_head head;
	kt_storage_account_version rec;
	kt_account_value value;
	kt_sign_key last;
	const kt_device *d;
	uint64_t v;
	size_t seen = 0;
	int have_last = 0, rc;

	memset(&rec, 0, sizeof(rec));
	memset(&last, 0, sizeof(last));
	kt_account_value_init(&value);
	rc = kt_storage_view_open(st, &view);
	if (rc != KT_OK)
		return rc;
	rc = kt_storage_account_head_get(st, view, index, &head);
	if (rc == KT_ERR_NOT_FOUND)
		rc = KT_ERR_UNAUTHORISED;
	if (rc != KT_OK)
		goto out;
	rc = KT_ERR_UNAUTHORISED;
	for (v = head.version; v >= 1 && seen < max_versions; v--, seen++) {
		int r2 = kt_storage_account_version_get(st, view, index, v, &rec);

		if (r2 == KT_OK)
			r2 = kt_account_value_decode(&value, rec.value, rec.value_len);
		if (r2 != KT_OK) {
			rc = r2 == KT_ERR_NOT_FOUND ? KT_ERR_STORAGE : r2;
			goto out;
		}
		d = kt_account_value_find(&value, device_id, device_id_len);
		/* Public keys: memcmp is fine. */
		if (d != NULL && (!have_last ||
				  memcmp(&last, &d->sign_pk, sizeof(last)) != 0)) {
			last = d->sign_pk;
			have_last = 1;
			if (fn(ctx, &last) == KT_OK) {
				rc = KT_OK;
				goto out;
			}
		}
		kt_account_value_free(&value);
		kt_storage_account_version_free(&rec);
	}
out:
	kt_account_value_free(&value);
	kt_storage_account_version_free(&rec);
	kt_storage_view_close(view);
	return rc;
}

/* ---- consistency and entries ------------------------------------------- */

int kt_reader_consistency(kt_node *n, uint64_t from_size, uint64_t to_size,
			  kt_read_proof *out)
{
	kt_storage_view *view = NULL;
	kt_log_store log;
	uint64_t newest = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if (from_size == 0 || from_size > to_size)
		return KT_ERR_LOG_BAD_SIZE;
	rc = kt_storage_view_open(kt_node_storage(n), &view);
	if (rc != KT_OK)
		return rc;
	rc = kt_reader_newest(n, view, &newest);
	if (rc == KT_OK && to_size > newest)
		rc = KT_ERR_LOG_BAD_SIZE;
	log = kt_storage_log_store_view(view);
	if (rc == KT_OK && from_size != to_size)
		rc = kt_log_prove_consistency(&log, from_size, to_size, out->h,
					      &out->n);
	kt_storage_view_close(view);
	if (rc != KT_OK)
		memset(out, 0, sizeof(*out));
	return rc;
}

void kt_read_entries_clear(kt_read_entries *e)
{
	if (e == NULL)
		return;
	free(e->e);
	free(e->len);
	memset(e, 0, sizeof(*e));
}

typedef struct entries_scan {
	kt_read_entries *out;
	uint64_t next;
	size_t want;
} entries_scan;

static int entries_fn(void *ctx, uint64_t pos, const uint8_t *entry, size_t len)
{
	entries_scan *s = ctx;

	if (pos != s->next || s->out->n >= s->want || len == 0 ||
	    len > KT_LOG_ENTRY_MAX_BYTES)
		return KT_ERR_STORAGE;
	memcpy(s->out->e[s->out->n], entry, len);
	s->out->len[s->out->n] = len;
	s->out->n++;
	s->next++;
	return KT_OK;
}

int kt_reader_entries(kt_node *n, uint64_t start, size_t count,
		      kt_read_entries *out)
{
	kt_storage_view *view = NULL;
	entries_scan s;
	uint64_t end, newest = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = kt_storage_view_open(kt_node_storage(n), &view);
	if (rc == KT_OK)
		rc = kt_reader_newest(n, view, &newest);
	if (rc == KT_OK && start >= newest)
		rc = KT_ERR_LOG_BAD_SIZE;
	if (rc != KT_OK || count == 0)
		goto out;
	end = newest - start < count ? newest : start + count;
	s.out = out;
	s.next = start;
	s.want = (size_t)(end - start);
	out->e = malloc(s.want * sizeof(*out->e));
	out->len = malloc(s.want * sizeof(*out->len));
	if (out->e == NULL || out->len == NULL) {
		rc = KT_ERR_NOMEM;
		goto out;
	}
	rc = kt_storage_log_entries_scan(kt_node_storage(n), view, start, end,
					 entries_fn, &s);
	if (rc == KT_OK && out->n != s.want)
		rc = KT_ERR_STORAGE;   /* an entry below the head is missing */
out:
	kt_storage_view_close(view);
	if (rc != KT_OK)
		kt_read_entries_clear(out);
	return rc;
}
