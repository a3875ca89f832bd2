/*
 * kt_map_mem.c — the in-memory versioned node store for the map.
 *
 * Layout, chosen so that one position's newest record is one 96-byte slot
 * (two cache lines, found without reading anything else first):
 *
 *   dense   the slots of the top levels (depth < dense_depth, fixed when the
 *           store is made, from its expected size), not hashed: position
 *           (d, p) is slot 2^d + p (heap order).  A random tree's top levels
 *           are full, so nothing is wasted.
 *   slots   the slots of the deeper positions: an open-addressing table
 *           (linear probing, power-of-two size, grown at 70 % load).  A
 *           position's home slot keeps a walk's deep levels together: its
 *           window (an aligned run of 2^WINDOW_BITS slots) is chosen by its
 *           ancestor at the anchor depth, its slot in the window by the
 *           position itself.  So the few table positions on one path share
 *           one window (one page, one TLB entry) instead of each costing its
 *           own random page; measured in docs/BENCHMARKS.md.  Positions
 *           WINDOW_LEVELS or more below the anchor, and positions above it,
 *           are placed by their own hash alone, which bounds what one
 *           anchor puts into a window (a crafted subtree cannot fill it).
 *   A slot holds the position's key, depth, table hash, the newest record's
 *   version, kind and node (left || right, or index || digest), and the id
 *   of its previous version (history).  Kind 0 marks an empty slot.
 *   nodes   a pool of 64-byte, line-aligned nodes in chunks that never move:
 *           the nodes of older versions, and the "ext" nodes of deep
 *           positions (below).
 *   history a pool of older versions: (version, kind, node id, previous),
 *           newest first from the slot.  Empty with KT_MAP_MEM_LATEST_ONLY.
 *
 * A walk down a path thus fetches, in one batch, each dense level's slot
 * (its address is known from the index) and each deeper level's home slot
 * (known from the position's hash); only a position that probing placed
 * further on costs a second access.  Before the dense levels and the inline
 * nodes, every level cost a slot and then a node anywhere in the store: two
 * dependent batches, the second as large as the first (measured in
 * docs/BENCHMARKS.md).
 *
 * A position's key is exact for depth <= 56: the prefix bits with the depth
 * in the low byte (those prefix bits are zero).  A deeper position's key is
 * prefix word 0; its prefix words 1..3 sit in a pool node (its "ext" node),
 * compared on lookups.  Random trees of up to 2^50 keys never get that deep;
 * crafted keys can, and are merely slower.  Dense positions are never that
 * deep.
 *
 * Besides the kt_map_store interface (mem_get, mem_put) the store offers the
 * path interface of map_int.h, which kt_map.c uses for the positions on one
 * index's path: same semantics, but each position is hashed once and the
 * path's slots are prefetched together, so a walk down a large tree does not
 * wait for each level's misses in turn.
 */
#include "kt_map.h"
#include "map_int.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#ifdef __linux__
#include <sys/mman.h> /* madvise: a hint, see alloc_chunk */
#endif

#define NODE_SHIFT 17u /* 2^17 nodes of 64 bytes: 8 MiB chunks */
#define NODE_CHUNK ((size_t)1 << NODE_SHIFT)
#define HIST_SHIFT 14u
#define HIST_CHUNK ((size_t)1 << HIST_SHIFT)
#define MAX_IDS ((size_t)UINT32_MAX - 1)
#define MIN_SLOTS ((size_t)1 << 10)
/* Dense levels: 2^dense_depth <= expected positions / DENSE_SHARE, so the
 * deepest dense level is full in a random tree of that many positions (each
 * of its positions has about 4 keys below it); at most MAX_DENSE_DEPTH
 * (2^24 slots: 1.5 GiB). */
#define DENSE_SHARE 8u
#define MAX_DENSE_DEPTH 24u
#define LINE 64u
#define HUGE_BYTES ((size_t)2 << 20)

/* Deepest position whose key alone identifies it. */
#define KEY_DEPTH 56u

/* Table windows (see the top of the file): 2^10 slots (96 KiB); positions
 * less than WINDOW_LEVELS below the anchor depth share their anchor's
 * window, at most 2^WINDOW_LEVELS - 1 = 127 of them per anchor.  The anchor
 * depth leaves about 2^ANCHOR_SPREAD anchors per window of the table's
 * first size, so windows fill evenly. */
#define WINDOW_BITS 10u
#define WINDOW_MASK ((1u << WINDOW_BITS) - 1u)
#define WINDOW_LEVELS 7u
#define ANCHOR_SPREAD 6u

/* Levels a path read prefetches beyond log2(positions), and how many more
 * it hashes and prefetches when a walk goes deeper than that.  A random
 * tree's leaves sit at about log2(positions) - 0.5; each level prefetched
 * past a path's leaf costs two lines of memory traffic that the walk's
 * other fetches queue behind (docs/BENCHMARKS.md, session 5: with 3 extra
 * levels, those lines cost about 0.04 x of an update at 10M keys), while a
 * path deeper than the prefetch pays one dependent fetch per level. */
#define PATH_EXTRA 1u
#define PATH_STEP 4u

/* Prefetch hint: into L1 (a walk reads every line it prefetches). */
#if defined(__GNUC__) || defined(__clang__)
#define PREFETCH(p) __builtin_prefetch((p), 0, 3)
#else
#define PREFETCH(p) ((void)(p))
#endif

struct mem_node {
	uint8_t a[KT_HASH_BYTES]; /* inner: left; leaf: index.  ext: words 1..3 */
	uint8_t b[KT_HASH_BYTES]; /* inner: right; leaf: digest */
};

struct mem_slot {
	uint64_t key;     /* see the top of the file */
	uint64_t version; /* of the newest record */
	uint32_t ext;     /* node id of a deep position's prefix words 1..3 */
	uint32_t prev;    /* history id of the previous version; 0 = none */
	uint32_t hash;    /* table_hash: the table grows without reading keys */
	uint16_t depth;
	uint8_t kind;     /* of the newest record; 0 = empty slot */
	uint8_t pad;
	struct mem_node node; /* of the newest record */
};

struct mem_hist {
	uint64_t version;
	uint32_t node;
	uint32_t prev;
	uint8_t kind;
};

/* A pool of fixed-size entries in chunks that never move; ids from 1. */
struct pool {
	void **chunks;
	size_t nchunks, cap, used; /* ids 1..used are taken */
};

struct kt_map_mem {
	unsigned flags;
	struct mem_slot *slots; /* LINE-aligned inside slots_raw */
	void *slots_raw;
	size_t nslots;          /* power of two */
	size_t nhashed;         /* occupied slots: positions in the table */
	struct mem_slot *dense; /* 2^dense_depth entries, [0] unused */
	void *dense_raw;
	unsigned dense_depth;   /* depths below it are dense */
	unsigned anchor_depth;  /* of the table's windows; fixed at creation */
	size_t npos;            /* positions, dense or hashed */
	unsigned npos_bits;     /* bit length of npos: about the tree's depth */
	size_t nrecs;           /* records of all versions */
	struct pool nodes, hist;
};

_Static_assert(sizeof(struct mem_slot) == 96, "a slot spans two cache lines");
_Static_assert(sizeof(struct mem_node) == LINE, "one node per cache line");
_Static_assert(offsetof(struct mem_node, b) == KT_HASH_BYTES,
	       "a node is its two halves, adjacent (kt_map_mem_rec)");

/* ---- positions --------------------------------------------------------- */

static void load_words(uint64_t w[4], const uint8_t s[KT_HASH_BYTES])
{
	unsigned j;

	for (j = 0; j < 4; j++)
		w[j] = kt_load_u64be(s + 8 * j);
}

/* out = the words of the first depth bits of w, later bits zero. */
static inline void mask_words(uint64_t out[4], const uint64_t w[4],
			      unsigned depth)
{
	unsigned full = depth >> 6, rem = depth & 63u, j;

	if (depth < 64) { /* the common case: trees are far shallower */
		out[0] = w[0] & ~(UINT64_MAX >> depth);
		out[1] = out[2] = out[3] = 0;
		return;
	}
	for (j = 0; j < 4; j++)
		out[j] = j < full ? w[j] : 0;
	if (full < 4 && rem != 0)
		out[full] = w[full] & ~(UINT64_MAX >> rem);
}

/* 32-bit hash of a position: the depth and all prefix words, mixed
 * (words 1..3 only when one is non-zero: they are zero above depth 64). */
static inline uint32_t pos_hash(unsigned depth, const uint64_t pw[4])
{
	uint64_t h = pw[0] ^ (0x9e3779b97f4a7c15ULL * ((uint64_t)depth + 1));
	unsigned j;

	if ((pw[1] | pw[2] | pw[3]) != 0) {
		for (j = 1; j < 4; j++) {
			h *= 0xff51afd7ed558ccdULL;
			h ^= h >> 33;
			h ^= pw[j];
		}
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return (uint32_t)(h >> 32);
}

/* 32-bit hash of the first a (1..64) bits of w0, the ancestor at depth a. */
static inline uint32_t anchor_hash(unsigned a, uint64_t w0)
{
	uint64_t h = (w0 >> (64 - a)) ^ (0xd6e8feb86659fd93ULL * (a + 1));

	h ^= h >> 32;
	h *= 0xd6e8feb86659fd93ULL;
	h ^= h >> 32;
	h *= 0xd6e8feb86659fd93ULL;
	h ^= h >> 32;
	return (uint32_t)h;
}

/* The table hash of the hashed position (depth, prefix words pw), given
 * its pos_hash ph: the home slot is its low bits.  Within WINDOW_LEVELS
 * below the anchor depth, the bits above the window come from the anchor
 * (any word of the index or of the prefix serves as w0: only its first
 * anchor_depth <= depth bits are read). */
static inline uint32_t table_hash(unsigned anchor_depth, unsigned depth,
				  uint64_t w0, uint32_t ph)
{
	if (depth < anchor_depth || depth >= anchor_depth + WINDOW_LEVELS)
		return ph;
	return (anchor_hash(anchor_depth, w0) & ~WINDOW_MASK) |
	       (ph & WINDOW_MASK);
}

static inline uint64_t pos_key(unsigned depth, const uint64_t pw[4])
{
	return depth <= KEY_DEPTH ? pw[0] | depth : pw[0];
}

/* The dense entry (and node id) of the position at depth < dense_depth on
 * the path of w (or of its prefix words: the bits below depth are ignored). */
static inline size_t dense_index(unsigned depth, const uint64_t w[4])
{
	return depth == 0 ? 1u
			  : ((size_t)1 << depth) | (size_t)(w[0] >> (64 - depth));
}

static inline int is_dense(const kt_map_mem *m, unsigned depth)
{
	return depth < m->dense_depth;
}

/* Starts fetching both cache lines of slot s. */
static inline void prefetch_slot(const struct mem_slot *s)
{
	PREFETCH(s);
	PREFETCH((const char *)s + sizeof(*s) - 1);
}

/* ---- pools --------------------------------------------------------------- */

static inline struct mem_node *node_at(const kt_map_mem *m, uint32_t id)
{
	size_t i = (size_t)id - 1;

	return &((struct mem_node *)m->nodes.chunks[i >> NODE_SHIFT])
		[i & (NODE_CHUNK - 1)];
}

static inline struct mem_hist *hist_at(const kt_map_mem *m, uint32_t id)
{
	size_t i = (size_t)id - 1;

	return &((struct mem_hist *)m->hist.chunks[i >> HIST_SHIFT])
		[i & (HIST_CHUNK - 1)];
}

/* Line-aligned, unzeroed memory for a chunk.  With huge set, 2 MiB aligned
 * and marked for transparent huge pages: a walk down a multi-GiB store
 * touches a new page per level, and with 4 KiB pages each such access also
 * misses the TLB (a page walk, costly under virtualisation; measured on a
 * 10M-key store: cold walks 30 % faster).  madvise is only a hint: nothing
 * depends on it being honoured. */
static void *alloc_chunk(size_t bytes, int huge)
{
	void *p;

	if (!huge || bytes % HUGE_BYTES != 0)
		return aligned_alloc(LINE, bytes);
	p = aligned_alloc(HUGE_BYTES, bytes);
#ifdef MADV_HUGEPAGE
	if (p != NULL)
		(void)madvise(p, bytes, MADV_HUGEPAGE);
#endif
	return p;
}

/* Takes count consecutive ids; *id is the first.  huge: see
 * alloc_chunk. */
static int pool_take(struct pool *pl, size_t chunk, size_t elem, int huge,
		     unsigned count, uint32_t *id)
{
	void **chunks;
	size_t cap;

	if (pl->used + count > MAX_IDS)
		return KT_ERR_NOMEM;
	while (pl->used + count > pl->nchunks * chunk) {
		if (pl->nchunks == pl->cap) {
			cap = pl->cap != 0 ? pl->cap * 2 : 16;
			chunks = realloc(pl->chunks, cap * sizeof(*chunks));
			if (chunks == NULL)
				return KT_ERR_NOMEM;
			pl->chunks = chunks;
			pl->cap = cap;
		}
		pl->chunks[pl->nchunks] = alloc_chunk(chunk * elem, huge);
		if (pl->chunks[pl->nchunks] == NULL)
			return KT_ERR_NOMEM;
		pl->nchunks++;
	}
	*id = (uint32_t)(pl->used + 1);
	pl->used += count;
	return KT_OK;
}

static void pool_free(struct pool *pl)
{
	size_t i;

	for (i = 0; i < pl->nchunks; i++)
		free(pl->chunks[i]);
	free(pl->chunks);
}

/* Takes a node id.  Huge pages only for stores that are big (a presized
 * table, or a second chunk): zeroing a huge page on first touch costs more
 * than a small store gains from it. */
static int take_node(kt_map_mem *m, uint32_t *id)
{
	int huge = m->nodes.nchunks > 0 ||
		   m->nslots * sizeof(struct mem_slot) >= 2 * HUGE_BYTES;

	return pool_take(&m->nodes, NODE_CHUNK, sizeof(struct mem_node), huge,
			 1u, id);
}

/* ---- the table ----------------------------------------------------------- */

/* A zeroed, line-aligned table of n slots.  calloc keeps big tables lazily
 * zeroed; its 2 MiB-aligned interior is marked for huge pages (alloc_chunk
 * says why). */
static int alloc_slots(size_t n, struct mem_slot **slots, void **raw)
{
	size_t bytes = n * sizeof(struct mem_slot);
	uintptr_t p;
#ifdef MADV_HUGEPAGE
	uintptr_t lo, hi;
#endif

	*raw = calloc(1, bytes + LINE);
	if (*raw == NULL)
		return KT_ERR_NOMEM;
	p = ((uintptr_t)*raw + LINE - 1) & ~(uintptr_t)(LINE - 1);
	*slots = (struct mem_slot *)p;
#ifdef MADV_HUGEPAGE
	lo = (p + HUGE_BYTES - 1) & ~(uintptr_t)(HUGE_BYTES - 1);
	hi = (p + bytes) & ~(uintptr_t)(HUGE_BYTES - 1);
	if (hi > lo)
		(void)madvise((void *)lo, hi - lo, MADV_HUGEPAGE);
#endif
	return KT_OK;
}


/* Dense levels for a store of about `expected` positions (see DENSE_SHARE):
 * at least 1 (the root). */
static unsigned dense_depth_for(size_t expected)
{
	unsigned d = 1;

	while (d < MAX_DENSE_DEPTH &&
	       ((size_t)1 << (d + 1)) <= expected / DENSE_SHARE)
		d++;
	return d;
}

/* Table size for `expected` hashed positions: the smallest power of two
 * they fill to at most 70 % (at least MIN_SLOTS). */
static size_t slots_for(size_t expected)
{
	size_t n = MIN_SLOTS;

	if (expected > MAX_IDS)
		expected = MAX_IDS;
	while (n * 7 < expected * 10 && n <= MAX_IDS)
		n *= 2;
	return n;
}

/* The anchor depth of a table of nslots (a power of two) slots below
 * dense_depth dense levels: the dense depth, or deeper if the table has more
 * windows than 2^-ANCHOR_SPREAD of the anchors there (at most KEY_DEPTH). */
static unsigned anchor_depth_for(unsigned dense_depth, size_t nslots)
{
	unsigned bits = 0, a;

	while (((size_t)1 << (bits + 1)) <= nslots)
		bits++;
	a = bits > WINDOW_BITS ? bits - WINDOW_BITS + ANCHOR_SPREAD
			       : ANCHOR_SPREAD;
	if (a < dense_depth)
		a = dense_depth;
	return a < KEY_DEPTH ? a : KEY_DEPTH;
}

int kt_map_mem_new(unsigned flags, size_t expected_positions, kt_map_mem **out)
{
	kt_map_mem *m = NULL;
	size_t dense;
	int r;

	*out = NULL;
	if (flags != KT_MAP_MEM_HISTORY && flags != KT_MAP_MEM_LATEST_ONLY)
		return KT_ERR_INVALID_ARG;
	m = calloc(1, sizeof(*m));
	if (m == NULL)
		return KT_ERR_NOMEM;
	m->flags = flags;
	m->dense_depth = dense_depth_for(expected_positions);
	dense = (size_t)1 << m->dense_depth;
	m->nslots = slots_for(expected_positions > dense
				      ? expected_positions - dense : 0);
	m->anchor_depth = anchor_depth_for(m->dense_depth, m->nslots);
	r = alloc_slots(dense, &m->dense, &m->dense_raw);
	if (r == KT_OK)
		r = alloc_slots(m->nslots, &m->slots, &m->slots_raw);
	if (r != KT_OK)
		goto out;
	*out = m;
	m = NULL;
out:
	kt_map_mem_free(m);
	return r;
}

void kt_map_mem_free(kt_map_mem *m)
{
	if (m == NULL)
		return;
	pool_free(&m->nodes);
	pool_free(&m->hist);
	free(m->slots_raw);
	free(m->dense_raw);
	free(m);
}

size_t kt_map_mem_records(const kt_map_mem *m)
{
	return m->nrecs;
}

size_t kt_map_mem_bytes(const kt_map_mem *m)
{
	return sizeof(*m) + m->nslots * sizeof(struct mem_slot) + LINE +
	       ((size_t)1 << m->dense_depth) * sizeof(struct mem_slot) + LINE +
	       (m->nodes.cap + m->hist.cap) * sizeof(void *) +
	       m->nodes.nchunks * NODE_CHUNK * sizeof(struct mem_node) +
	       m->hist.nchunks * HIST_CHUNK * sizeof(struct mem_hist);
}

/* Whether slot s (occupied, with s->hash == h) holds the position. */
static inline int slot_is(const kt_map_mem *m, const struct mem_slot *s,
			  unsigned depth, const uint64_t pw[4])
{
	uint64_t ext[3];

	if (s->depth != depth || s->key != pos_key(depth, pw))
		return 0;
	if (depth <= KEY_DEPTH)
		return 1;
	memcpy(ext, node_at(m, s->ext)->a, sizeof(ext));
	return ext[0] == pw[1] && ext[1] == pw[2] && ext[2] == pw[3];
}

/* The slot of the position, or the empty slot where it would go, probing
 * from slot i (its home slot, or a later slot of its probe sequence with no
 * match and no empty slot before it). */
static size_t probe(const kt_map_mem *m, size_t i, uint32_t h, unsigned depth,
		    const uint64_t pw[4])
{
	size_t mask = m->nslots - 1;
	const struct mem_slot *s;

	for (;; i = (i + 1) & mask) {
		s = &m->slots[i];
		if (s->kind == 0 || (s->hash == h && slot_is(m, s, depth, pw)))
			return i;
	}
}

/* Doubles the table; slots carry their hash, so no ext node is read. */
static int grow_slots(kt_map_mem *m)
{
	struct mem_slot *old = m->slots, *slots;
	void *raw;
	size_t oldn = m->nslots, n = oldn * 2, i, j;
	int r;

	if (n > (size_t)UINT32_MAX + 1)
		return KT_ERR_NOMEM;
	r = alloc_slots(n, &slots, &raw);
	if (r != KT_OK)
		return r;
	for (i = 0; i < oldn; i++) {
		if (old[i].kind == 0)
			continue;
		for (j = old[i].hash & (n - 1); slots[j].kind != 0;
		     j = (j + 1) & (n - 1))
			;
		slots[j] = old[i];
	}
	free(m->slots_raw);
	m->slots_raw = raw;
	m->slots = slots;
	m->nslots = n;
	return KT_OK;
}

static void node_set(struct mem_node *n, const kt_map_node *node)
{
	/* Both union members are two fixed[32] fields in the same places. */
	memcpy(n->a, node->inner.left, KT_HASH_BYTES);
	memcpy(n->b, node->inner.right, KT_HASH_BYTES);
}

static void node_out(kt_map_node *out, uint8_t kind, const struct mem_node *n)
{
	out->kind = kind;
	memcpy(out->inner.left, n->a, KT_HASH_BYTES);
	memcpy(out->inner.right, n->b, KT_HASH_BYTES);
}

/* get, given the position's slot: a dense one, or the table's (from probe). */
static int get_at(const kt_map_mem *m, const struct mem_slot *s, uint64_t at,
		  kt_map_node *out)
{
	const struct mem_hist *h;
	uint32_t id;

	if (s->kind == 0)
		return KT_ERR_NOT_FOUND;
	if (s->version <= at) {
		node_out(out, s->kind, &s->node);
		return KT_OK;
	}
	for (id = s->prev; id != 0; id = h->prev) {
		h = hist_at(m, id);
		if (h->version <= at) {
			node_out(out, h->kind, node_at(m, h->node));
			return KT_OK;
		}
	}
	/* Newer records only: without history the older state is gone. */
	return m->flags == KT_MAP_MEM_LATEST_ONLY ? KT_ERR_UNSUPPORTED
						  : KT_ERR_NOT_FOUND;
}

/* A new record at an occupied slot: the current one moves to history (its
 * node copied out to the pool). */
static int put_version(kt_map_mem *m, struct mem_slot *s, uint64_t version,
		       const kt_map_node *node)
{
	uint32_t nid, hid;
	struct mem_hist *h;
	int r;

	r = take_node(m, &nid);
	if (r == KT_OK)
		r = pool_take(&m->hist, HIST_CHUNK, sizeof(struct mem_hist), 0,
			      1, &hid);
	if (r != KT_OK)
		return r;
	*node_at(m, nid) = s->node;
	h = hist_at(m, hid);
	h->version = s->version;
	h->node = nid;
	h->prev = s->prev;
	h->kind = s->kind;
	node_set(&s->node, node);
	s->prev = hid;
	s->version = version;
	s->kind = node->kind;
	m->nrecs++;
	return KT_OK;
}

/* Makes room for a new hashed position whose slot *s is empty: doubles the
 * table if it is full (then *s is the position's new empty slot), and for a
 * position deeper than KEY_DEPTH stores its prefix words 1..3 in a new ext
 * node (*ext; else 0). */
static int room_for_hashed(kt_map_mem *m, struct mem_slot **s, uint32_t h,
			   unsigned depth, const uint64_t pw[4], uint32_t *ext)
{
	size_t i;
	int r;

	*ext = 0;
	if ((m->nhashed + 1) * 10 > m->nslots * 7) {
		r = grow_slots(m);
		if (r != KT_OK)
			return r;
		i = probe(m, h & (m->nslots - 1), h, depth, pw);
		*s = &m->slots[i];
	}
	if (depth > KEY_DEPTH) {
		r = take_node(m, ext);
		if (r != KT_OK)
			return r;
		memcpy(node_at(m, *ext)->a, pw + 1, 3 * sizeof(uint64_t));
	}
	m->nhashed++;
	return KT_OK;
}

/* The first record of a position, at its empty slot s (a dense slot, or the
 * table's slot from probe; h is the position's hash, 0 for a dense one). */
static int put_new(kt_map_mem *m, struct mem_slot *s, uint32_t h,
		   unsigned depth, const uint64_t pw[4], uint64_t version,
		   const kt_map_node *node)
{
	uint32_t ext = 0;
	int r;

	if (!is_dense(m, depth)) {
		r = room_for_hashed(m, &s, h, depth, pw, &ext);
		if (r != KT_OK)
			return r;
	}
	node_set(&s->node, node);
	s->key = pos_key(depth, pw);
	s->version = version;
	s->ext = ext;
	s->prev = 0;
	s->hash = h;
	s->depth = (uint16_t)depth;
	s->kind = node->kind;
	m->nrecs++;
	if ((++m->npos >> m->npos_bits) != 0)
		m->npos_bits++;
	return KT_OK;
}

/* put, given the position's slot s (dense, or the table's from probe) and
 * hash h; pw (the position's prefix words) is read only when the slot is
 * empty.  May double the table (slots found before are then stale: see
 * path_find). */
static int put_at(kt_map_mem *m, struct mem_slot *s, uint32_t h,
		  unsigned depth, const uint64_t *pw, uint64_t version,
		  const kt_map_node *node)
{
	if (depth > KT_MAP_MAX_DEPTH ||
	    (node->kind != KT_MAP_NODE_INNER && node->kind != KT_MAP_NODE_LEAF))
		return KT_ERR_INVALID_ARG;
	if (s->kind == 0)
		return put_new(m, s, h, depth, pw, version, node);
	if (version < s->version)
		return KT_ERR_INVALID_ARG;
	if (version == s->version || m->flags == KT_MAP_MEM_LATEST_ONLY) {
		node_set(&s->node, node);
		s->version = version;
		s->kind = node->kind;
		return KT_OK;
	}
	return put_version(m, s, version, node);
}

/* The position's slot, or the empty slot where it would go, and its hash
 * (0 for a dense position). */
static struct mem_slot *find_slot(const kt_map_mem *m, unsigned depth,
				  const uint64_t pw[4], uint32_t *h)
{
	if (is_dense(m, depth)) {
		*h = 0;
		return &m->dense[dense_index(depth, pw)];
	}
	*h = table_hash(m->anchor_depth, depth, pw[0], pos_hash(depth, pw));
	return &m->slots[probe(m, *h & (m->nslots - 1), *h, depth, pw)];
}

static int mem_get(void *ctx, uint16_t depth,
		   const uint8_t prefix[KT_HASH_BYTES], uint64_t at,
		   kt_map_node *out)
{
	const kt_map_mem *m = ctx;
	uint64_t pw[4];
	uint32_t h;

	load_words(pw, prefix);
	return get_at(m, find_slot(m, depth, pw, &h), at, out);
}

static int mem_put(void *ctx, uint16_t depth,
		   const uint8_t prefix[KT_HASH_BYTES], uint64_t version,
		   const kt_map_node *node)
{
	kt_map_mem *m = ctx;
	struct mem_slot *s;
	uint64_t pw[4];
	uint32_t h;

	load_words(pw, prefix);
	s = find_slot(m, depth, pw, &h);
	return put_at(m, s, h, depth, pw, version, node);
}

uint32_t kt_map_mem_table_hash(const kt_map_mem *m, unsigned depth,
			       const uint8_t prefix[KT_HASH_BYTES])
{
	uint64_t pw[4];

	load_words(pw, prefix);
	return table_hash(m->anchor_depth, depth, pw[0], pos_hash(depth, pw));
}

kt_map_store kt_map_mem_store(kt_map_mem *m)
{
	kt_map_store s;

	s.ctx = m;
	s.get = mem_get;
	s.put = mem_put;
	return s;
}

/* ---- the path interface (map_int.h) ----------------------------------- */

/* Sets up the path's positions at depths n..upto (capped at 256) and starts
 * fetching their slots: a dense position's own, a hashed position's home
 * slot. */
static void path_extend(struct kt_map_mem_path *p, unsigned upto)
{
	const kt_map_mem *m = p->m;
	size_t mask = m->nslots - 1, i;
	uint64_t pw[4];
	uint32_t h;
	unsigned d = p->n;

	if (upto > KT_MAP_MAX_DEPTH)
		upto = KT_MAP_MAX_DEPTH;
	for (; d <= upto && is_dense(m, d); d++) {
		i = dense_index(d, p->w);
		p->hash[d] = 0;
		p->slot[d] = i;
		p->hit[d] = 0;
		prefetch_slot(&m->dense[i]);
	}
	for (; d <= upto; d++) {
		mask_words(pw, p->w, d);
		h = table_hash(m->anchor_depth, d, p->w[0], pos_hash(d, pw));
		p->hash[d] = h;
		p->slot[d] = KT_MAP_MEM_NO_SLOT;
		p->hit[d] = 0;
		prefetch_slot(&m->slots[h & mask]);
	}
	if (d > p->n)
		p->n = d;
}

int kt_map_mem_path_start(struct kt_map_mem_path *p, const kt_map_store *store,
			  const uint8_t index[KT_HASH_BYTES])
{
	if (store->get != mem_get)
		return 0;
	p->m = store->ctx;
	load_words(p->w, index);
	p->nslots = p->m->nslots;
	p->n = 0;
	p->leaf = -1;
	/* A tree of random indices has about log2(positions) levels. */
	path_extend(p, p->m->npos_bits + PATH_EXTRA);
	return 1;
}

void kt_map_mem_path_prefetch(struct kt_map_mem_path *p)
{
	const kt_map_mem *m = p->m;
	const struct mem_slot *s;
	size_t mask = m->nslots - 1, home, i;
	unsigned d;

	if (p->nslots != m->nslots)
		return;
	/* Dense slots are on their way already; so are hashed positions'
	 * home slots, and most positions are at home. */
	for (d = m->dense_depth; d <= KT_MAP_MAX_DEPTH; d++) {
		/* A path deeper than the first batch: the next levels now (a
		 * walk down would wait for them as well), so that the leaf is
		 * found wherever it is. */
		if (d >= p->n)
			path_extend(p, d + PATH_STEP - 1);
		home = p->hash[d] & mask;
		for (i = home;; i = (i + 1) & mask) {
			s = &m->slots[i];
			if (s->kind == 0) {
				/* No position here, so none deeper either. */
				p->slot[d] = i;
				return;
			}
			if (s->hash == p->hash[d] && s->depth == d) {
				/* Probably the position (path_slot checks). */
				if (i != home)
					prefetch_slot(s);
				p->slot[d] = i;
				/* A leaf has no positions below it on any path:
				 * looking deeper would only wait for lines. */
				if (s->kind == KT_MAP_NODE_LEAF) {
					p->leaf = (int)d;
					return;
				}
				break;
			}
		}
	}
}

/* The slot of the path's position at depth, or the empty slot where it
 * would go: for a hashed position not found before, the probe. */
static struct mem_slot *path_find(struct kt_map_mem_path *p, unsigned depth)
{
	const kt_map_mem *m = p->m;
	uint64_t pw[4];
	size_t i;
	unsigned d;

	if (p->nslots != m->nslots) {
		for (d = 0; d < p->n; d++) {
			p->slot[d] = KT_MAP_MEM_NO_SLOT;
			p->hit[d] = 0;
		}
		p->nslots = m->nslots;
	}
	if (depth >= p->n)
		path_extend(p, depth + PATH_STEP);
	if (is_dense(m, depth)) {
		i = dense_index(depth, p->w);
		p->slot[depth] = i;
		p->hit[depth] = m->dense[i].kind != 0;
		return &m->dense[i];
	}
	if (p->hit[depth])
		return &m->slots[p->slot[depth]];
	mask_words(pw, p->w, depth);
	i = p->slot[depth];
	if (i == KT_MAP_MEM_NO_SLOT)
		i = p->hash[depth] & (m->nslots - 1);
	i = probe(m, i, p->hash[depth], depth, pw);
	p->slot[depth] = i;
	p->hit[depth] = m->slots[i].kind != 0;
	return &m->slots[i];
}

/* The slot of the path's position at depth if it holds the position (a
 * dense slot that is occupied; a table slot found before, or the candidate
 * kt_map_mem_path_prefetch noted, while the table has not grown since);
 * else NULL (then path_find looks).  The fast path of every read and
 * write. */
static inline struct mem_slot *path_slot(struct kt_map_mem_path *p,
					 unsigned depth)
{
	const kt_map_mem *m = p->m;
	struct mem_slot *s;
	uint64_t pw[4];

	if (depth >= p->n || p->nslots != m->nslots ||
	    p->slot[depth] == KT_MAP_MEM_NO_SLOT)
		return NULL;
	if (is_dense(m, depth)) {
		s = &m->dense[p->slot[depth]];
		return s->kind != 0 ? s : NULL;
	}
	s = &m->slots[p->slot[depth]];
	if (p->hit[depth])
		return s;
	mask_words(pw, p->w, depth);
	if (s->kind == 0 || s->hash != p->hash[depth] ||
	    !slot_is(m, s, depth, pw))
		return NULL;
	p->hit[depth] = 1;
	return s;
}

int kt_map_mem_path_get(struct kt_map_mem_path *p, unsigned depth,
			uint64_t at, kt_map_node *out)
{
	const struct mem_slot *s;

	if (depth > KT_MAP_MAX_DEPTH)
		return KT_ERR_NOT_FOUND;
	s = path_slot(p, depth);
	if (s == NULL || s->version > at)
		return get_at(p->m, path_find(p, depth), at, out);
	node_out(out, s->kind, &s->node);
	return KT_OK;
}

/* Whether a put at version replaces slot s's newest record where it is,
 * rather than adding a record: same version, or no history kept. */
static inline int rewrites(const kt_map_mem *m, const struct mem_slot *s,
			   uint64_t version)
{
	return version == s->version ||
	       (version > s->version && m->flags == KT_MAP_MEM_LATEST_ONLY);
}

int kt_map_mem_path_put(struct kt_map_mem_path *p, unsigned depth,
			uint64_t version, const kt_map_node *node)
{
	struct mem_slot *s;
	uint64_t pw[4];
	int r;

	if (depth > KT_MAP_MAX_DEPTH)
		return KT_ERR_INVALID_ARG;
	s = path_slot(p, depth);
	/* The common case: rewriting a position read before, in place. */
	if (s != NULL &&
	    (node->kind == KT_MAP_NODE_INNER || node->kind == KT_MAP_NODE_LEAF) &&
	    rewrites(p->m, s, version)) {
		node_set(&s->node, node);
		s->version = version;
		s->kind = node->kind;
		return KT_OK;
	}
	s = path_find(p, depth);
	if (p->hit[depth])
		return put_at(p->m, s, p->hash[depth], depth, NULL, version,
			      node);
	mask_words(pw, p->w, depth);
	r = put_at(p->m, s, p->hash[depth], depth, pw, version, node);
	/* The position now sits in slot s, unless the table grew (then
	 * path_find starts afresh). */
	p->hit[depth] = r == KT_OK;
	return r;
}

int kt_map_mem_path_leaf(const struct kt_map_mem_path *p)
{
	return p->leaf;
}

int kt_map_mem_path_rec(struct kt_map_mem_path *p, unsigned depth,
			uint64_t version, struct kt_map_mem_rec *out)
{
	struct mem_slot *s;

	if (depth > KT_MAP_MAX_DEPTH)
		return 0;
	s = path_slot(p, depth);
	if (s == NULL || !rewrites(p->m, s, version))
		return 0;
	out->kind = s->kind;
	out->version = &s->version;
	out->node = (uint8_t *)&s->node;
	return 1;
}
