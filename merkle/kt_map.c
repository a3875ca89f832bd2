/* kt_map.c — versioned binary prefix tree: update, prove, verify, bulk load. */
#include "kt_map.h"
#include "map_int.h"

#include <stdlib.h>
#include <string.h>

static const uint8_t zero_hash[KT_HASH_BYTES];

/* ---- bits and positions ---------------------------------------------- */

/* Bit i of a 256-bit string, bit 0 = most significant bit of byte 0. */
static unsigned bit_at(const uint8_t s[KT_HASH_BYTES], unsigned i)
{
	return (unsigned)(s[i >> 3] >> (7u - (i & 7u))) & 1u;
}

/* out = the first depth bits of index, every later bit zero. */
static void prefix_of(uint8_t out[KT_HASH_BYTES],
		      const uint8_t index[KT_HASH_BYTES], unsigned depth)
{
	unsigned full = depth >> 3, rem = depth & 7u;

	memset(out, 0, KT_HASH_BYTES);
	memcpy(out, index, full);
	if (rem != 0)
		out[full] = (uint8_t)(index[full] & (0xffu << (8u - rem)));
}

/* Number of leading bits a and b share (256 if equal). */
static unsigned common_bits(const uint8_t a[KT_HASH_BYTES],
			    const uint8_t b[KT_HASH_BYTES])
{
	unsigned i, n = 0;
	uint8_t x;

	for (i = 0; i < KT_HASH_BYTES; i++) {
		x = (uint8_t)(a[i] ^ b[i]);
		if (x != 0) {
			while ((x & 0x80u) == 0) {
				x = (uint8_t)(x << 1);
				n++;
			}
			return n;
		}
		n += 8;
	}
	return n;
}

/* Public values: plain comparisons are fine throughout this file. */
static int is_zero_hash(const uint8_t h[KT_HASH_BYTES])
{
	uint64_t w[4];

	memcpy(w, h, sizeof(w));
	return (w[0] | w[1] | w[2] | w[3]) == 0;
}

static int hash_eq(const uint8_t a[KT_HASH_BYTES],
		   const uint8_t b[KT_HASH_BYTES])
{
	uint64_t x[4], y[4];

	memcpy(x, a, sizeof(x));
	memcpy(y, b, sizeof(y));
	return ((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2]) |
		(x[3] ^ y[3])) == 0;
}

static void leaf_hash(uint8_t out[KT_HASH_BYTES],
		      const uint8_t index[KT_HASH_BYTES],
		      const uint8_t digest[KT_HASH_BYTES])
{
	kt_sha256_prefixed(out, KT_MAP_LEAF_PREFIX, index, KT_HASH_BYTES,
			   digest, KT_HASH_BYTES);
}

static void parent_hash(uint8_t out[KT_HASH_BYTES],
			const uint8_t left[KT_HASH_BYTES],
			const uint8_t right[KT_HASH_BYTES])
{
	kt_sha256_prefixed(out, KT_MAP_NODE_PREFIX, left, KT_HASH_BYTES,
			   right, KT_HASH_BYTES);
}

/* out = parent of child (on side `bit`) and sibling (on the other side). */
static void join(uint8_t out[KT_HASH_BYTES], unsigned bit,
		 const uint8_t child[KT_HASH_BYTES],
		 const uint8_t sibling[KT_HASH_BYTES])
{
	if (bit == 0)
		parent_hash(out, child, sibling);
	else
		parent_hash(out, sibling, child);
}

/* ---- node helpers ------------------------------------------------------ */

int kt_map_node_hash(uint8_t out[KT_HASH_BYTES], const kt_map_node *node)
{
	if (node->kind == KT_MAP_NODE_INNER) {
		parent_hash(out, node->inner.left, node->inner.right);
		return KT_OK;
	}
	if (node->kind == KT_MAP_NODE_LEAF) {
		leaf_hash(out, node->leaf.index, node->leaf.digest);
		return KT_OK;
	}
	memset(out, 0, KT_HASH_BYTES);
	return KT_ERR_INVALID_ARG;
}

int kt_map_node_encode(uint8_t out[KT_MAP_NODE_BYTES], const kt_map_node *node)
{
	if (node->kind != KT_MAP_NODE_INNER && node->kind != KT_MAP_NODE_LEAF) {
		memset(out, 0, KT_MAP_NODE_BYTES);
		return KT_ERR_INVALID_ARG;
	}
	/* Both union members are two fixed[32] fields in the same places. */
	out[0] = node->kind;
	memcpy(out + 1, node->inner.left, KT_HASH_BYTES);
	memcpy(out + 1 + KT_HASH_BYTES, node->inner.right, KT_HASH_BYTES);
	return KT_OK;
}

int kt_map_node_decode(kt_map_node *out, const uint8_t *in, size_t len)
{
	kt_rbuf rb;
	int r;

	memset(out, 0, sizeof(*out));
	kt_rbuf_init(&rb, in, len);
	out->kind = kt_get_u8(&rb);
	if (rb.err == KT_OK && out->kind != KT_MAP_NODE_INNER &&
	    out->kind != KT_MAP_NODE_LEAF)
		kt_rbuf_fail(&rb, KT_ERR_BAD_TYPE);
	kt_get_fixed(&rb, out->inner.left, KT_HASH_BYTES);
	kt_get_fixed(&rb, out->inner.right, KT_HASH_BYTES);
	r = kt_rbuf_finish(&rb);
	if (r != KT_OK)
		memset(out, 0, sizeof(*out));
	return r;
}

int kt_map_store_key(uint8_t out[KT_MAP_STORE_KEY_BYTES], uint16_t depth,
		     const uint8_t prefix[KT_HASH_BYTES], uint64_t version)
{
	uint8_t want[KT_HASH_BYTES];

	memset(out, 0, KT_MAP_STORE_KEY_BYTES);
	if (depth > KT_MAP_MAX_DEPTH)
		return KT_ERR_INVALID_ARG;
	prefix_of(want, prefix, depth);
	if (memcmp(want, prefix, KT_HASH_BYTES) != 0)
		return KT_ERR_INVALID_ARG;
	out[0] = (uint8_t)(depth >> 8);
	out[1] = (uint8_t)depth;
	memcpy(out + 2, prefix, KT_HASH_BYTES);
	kt_store_u64be(out + 2 + KT_HASH_BYTES, UINT64_MAX - version);
	return KT_OK;
}

/* ---- reaching the store along one path -------------------------------- */

/* Every read of a walk and every write of an update but one (the leaf an
 * update pushes down) is a position on one index's path.  io_get / io_put
 * reach those positions through the store's get / put, or, for a kt_map_mem,
 * through its path interface (map_int.h): the same records, with the path
 * hashed once and prefetched. */
struct io {
	const kt_map_store *store;
	const uint8_t *index;
	struct kt_map_mem_path *path; /* NULL: the store's get / put */
};

/* Sets io up for index's path; path is scratch the fast path may use.
 * Starts the first prefetch batch: follow with other work, then io_ready. */
static void io_start(struct io *io, const kt_map_store *store,
		     const uint8_t index[KT_HASH_BYTES],
		     struct kt_map_mem_path *path)
{
	io->store = store;
	io->index = index;
	io->path = kt_map_mem_path_start(path, store, index) ? path : NULL;
}

static inline void io_ready(struct io *io)
{
	if (io->path != NULL)
		kt_map_mem_path_prefetch(io->path);
}

static inline int io_get(struct io *io, unsigned depth, uint64_t at,
			 kt_map_node *node)
{
	uint8_t prefix[KT_HASH_BYTES];

	if (io->path != NULL)
		return kt_map_mem_path_get(io->path, depth, at, node);
	prefix_of(prefix, io->index, depth);
	return io->store->get(io->store->ctx, (uint16_t)depth, prefix, at, node);
}

static inline int io_put(struct io *io, unsigned depth, uint64_t version,
			 const kt_map_node *node)
{
	uint8_t prefix[KT_HASH_BYTES];

	if (io->path != NULL)
		return kt_map_mem_path_put(io->path, depth, version, node);
	prefix_of(prefix, io->index, depth);
	return io->store->put(io->store->ctx, (uint16_t)depth, prefix, version,
			      node);
}

/* ---- walking a path ---------------------------------------------------- */

/* What update_in_place overwrote at one depth: a node half and a version. */
struct rewritten {
	uint8_t *half;
	uint64_t *version;
	uint64_t old_version;
	uint8_t old[KT_HASH_BYTES];
};

/* What a walk from the root towards index finds. */
enum walk_end {
	WALK_EMPTY = 1, /* an empty position at `depth` */
	WALK_SAME,      /* index's own leaf at `depth` */
	WALK_OTHER      /* another index's leaf at `depth` */
};

struct walk {
	enum walk_end end;
	unsigned depth;
	/* sib[d] = hash of the sibling of the path node at depth d (1..depth). */
	uint8_t sib[KT_MAP_MAX_DEPTH + 1][KT_HASH_BYTES];
	/* Hash of the terminal node as its parent recorded it (depth > 0). */
	uint8_t term_hash[KT_HASH_BYTES];
	kt_map_node leaf; /* the terminal leaf (WALK_SAME, WALK_OTHER) */
	struct kt_map_mem_path path; /* scratch for io */
	/* What update_in_place overwrote at each depth. */
	struct rewritten undo[KT_MAP_MAX_DEPTH + 1];
};

/* Reads one node on the path; NOT_FOUND where the parent recorded a child
 * means the store is inconsistent. */
static int walk_get(struct io *io, unsigned depth, uint64_t at,
		    kt_map_node *node)
{
	int r;

	r = io_get(io, depth, at, node);
	if (r == KT_ERR_NOT_FOUND && depth > 0)
		return KT_ERR_STORAGE;
	if (r == KT_OK && node->kind != KT_MAP_NODE_INNER &&
	    node->kind != KT_MAP_NODE_LEAF)
		return KT_ERR_STORAGE;
	return r;
}

/* Walks from the root to the node where io's index's path ends, as of `at`. */
static int walk_path(struct io *io, uint64_t at, struct walk *w)
{
	const uint8_t *index = io->index;
	kt_map_node node;
	unsigned d = 0, bit;
	const uint8_t *child, *sibling;
	int r;

	w->depth = 0;
	memset(w->term_hash, 0, KT_HASH_BYTES);
	r = walk_get(io, 0, at, &node);
	if (r == KT_ERR_NOT_FOUND) {
		w->end = WALK_EMPTY;
		return KT_OK;
	}
	while (r == KT_OK && node.kind == KT_MAP_NODE_INNER) {
		if (d >= KT_MAP_MAX_DEPTH)
			return KT_ERR_STORAGE;
		bit = bit_at(index, d);
		child = bit ? node.inner.right : node.inner.left;
		sibling = bit ? node.inner.left : node.inner.right;
		d++;
		memcpy(w->sib[d], sibling, KT_HASH_BYTES);
		memcpy(w->term_hash, child, KT_HASH_BYTES);
		w->depth = d;
		if (is_zero_hash(child)) {
			w->end = WALK_EMPTY;
			return KT_OK;
		}
		r = walk_get(io, d, at, &node);
	}
	if (r != KT_OK)
		return r;
	w->leaf = node;
	if (hash_eq(node.leaf.index, index)) {
		w->end = WALK_SAME;
		return KT_OK;
	}
	/* A leaf on index's path must share its first d bits. */
	if (common_bits(node.leaf.index, index) < d)
		return KT_ERR_STORAGE;
	w->end = WALK_OTHER;
	return KT_OK;
}

/* ---- update ------------------------------------------------------------ */

static int put_node(const kt_map_store *store, uint64_t version,
		    const uint8_t path[KT_HASH_BYTES], unsigned depth,
		    const kt_map_node *node)
{
	uint8_t prefix[KT_HASH_BYTES];

	prefix_of(prefix, path, depth);
	return store->put(store->ctx, (uint16_t)depth, prefix, version, node);
}

static void leaf_node(kt_map_node *n, const uint8_t index[KT_HASH_BYTES],
		      const uint8_t digest[KT_HASH_BYTES])
{
	n->kind = KT_MAP_NODE_LEAF;
	memcpy(n->leaf.index, index, KT_HASH_BYTES);
	memcpy(n->leaf.digest, digest, KT_HASH_BYTES);
}

/* Writes io's index's leaf with digest at depth. */
static int put_leaf(struct io *io, uint64_t version, unsigned depth,
		    const uint8_t digest[KT_HASH_BYTES])
{
	kt_map_node n;

	leaf_node(&n, io->index, digest);
	return io_put(io, depth, version, &n);
}

/* Writes the inner node at `depth` on io's index's path whose child on the
 * index's side is h and whose other child is sibling, and replaces h by its
 * hash. */
static int put_parent(struct io *io, uint64_t version, unsigned depth,
		      uint8_t h[KT_HASH_BYTES],
		      const uint8_t sibling[KT_HASH_BYTES])
{
	kt_map_node n;
	unsigned bit = bit_at(io->index, depth);

	n.kind = KT_MAP_NODE_INNER;
	memcpy(bit ? n.inner.right : n.inner.left, h, KT_HASH_BYTES);
	memcpy(bit ? n.inner.left : n.inner.right, sibling, KT_HASH_BYTES);
	join(h, bit, h, sibling);
	return io_put(io, depth, version, &n);
}

/* The walk ended at another leaf at depth d: push it down to where the two
 * indices diverge (bit b), joined by a chain of inner nodes from b up to d.
 * h holds the new leaf's hash; on return it is the hash of the new subtree
 * at depth d. */
static int split_leaf(struct io *io, uint64_t version, const struct walk *w,
		      const uint8_t digest[KT_HASH_BYTES],
		      uint8_t h[KT_HASH_BYTES])
{
	const kt_map_node *other = &w->leaf;
	uint8_t other_h[KT_HASH_BYTES];
	unsigned b = common_bits(io->index, other->leaf.index), k;
	int r;

	if (b >= KT_MAP_MAX_DEPTH)
		return KT_ERR_MAP_DEPTH;
	if (w->depth > 0)
		memcpy(other_h, w->term_hash, KT_HASH_BYTES);
	else
		leaf_hash(other_h, other->leaf.index, other->leaf.digest);
	/* The pushed-down leaf is the one position off the index's path. */
	r = put_node(io->store, version, other->leaf.index, b + 1, other);
	if (r != KT_OK)
		return r;
	r = put_leaf(io, version, b + 1, digest);
	if (r != KT_OK)
		return r;
	r = put_parent(io, version, b, h, other_h);
	for (k = b; r == KT_OK && k > w->depth; k--)
		r = put_parent(io, version, k - 1, h, zero_hash);
	return r;
}

/* Overwrites the record's node half (the 32 bytes at half) with value and
 * its version with version, noting the old ones in *u. */
static void rewrite(struct rewritten *u, const struct kt_map_mem_rec *rec,
		    uint8_t *half, const uint8_t value[KT_HASH_BYTES],
		    uint64_t version)
{
	u->half = half;
	u->version = rec->version;
	u->old_version = *rec->version;
	memcpy(u->old, half, KT_HASH_BYTES);
	memcpy(half, value, KT_HASH_BYTES);
	*rec->version = version;
}

/* The update of a present index in a kt_map_mem whose records on the path
 * are rewritten where they are (KT_MAP_MEM_LATEST_ONLY, or a path already
 * written at this version), from the leaf up: each level is checked,
 * rewritten and hashed as soon as the level below is done.  So the hashing
 * starts as soon as the leaf's line is in, while the upper levels' lines are
 * still arriving, and each level's reads run beside the hash before it,
 * where a walk down first would wait for every line and then hash.  Checks
 * what walk_path checks for WALK_SAME: the leaf where the path's prefetch
 * found it is index's own, and every node above it is inner with a
 * non-empty child on the path.  Where anything does not hold it restores
 * what it wrote and returns 0: the caller then takes the general route,
 * which reports it.  h: the new leaf's hash on entry; on return 1, the new
 * root (on return 0, unchanged). */
static int update_in_place(struct io *io, uint64_t version,
			   const uint8_t digest[KT_HASH_BYTES],
			   uint8_t h[KT_HASH_BYTES], struct walk *w)
{
	struct kt_map_mem_path *p = io->path;
	struct kt_map_mem_rec rec;
	int leaf = p != NULL ? kt_map_mem_path_leaf(p) : -1;
	unsigned d, k, bit;
	uint8_t *half, up[KT_HASH_BYTES];

	if (leaf < 0)
		return 0;
	d = (unsigned)leaf;
	if (!kt_map_mem_path_rec(p, d, version, &rec) ||
	    rec.kind != KT_MAP_NODE_LEAF || !hash_eq(rec.node, io->index))
		return 0;
	rewrite(&w->undo[d], &rec, rec.node + KT_HASH_BYTES, digest, version);
	memcpy(up, h, KT_HASH_BYTES);
	for (k = d; k > 0; k--) {
		if (!kt_map_mem_path_rec(p, k - 1, version, &rec) ||
		    rec.kind != KT_MAP_NODE_INNER)
			goto restore;
		bit = bit_at(io->index, k - 1);
		half = rec.node + (bit ? KT_HASH_BYTES : 0);
		if (is_zero_hash(half))
			goto restore;
		rewrite(&w->undo[k - 1], &rec, half, up, version);
		join(up, bit, up, rec.node + (bit ? 0 : KT_HASH_BYTES));
	}
	memcpy(h, up, KT_HASH_BYTES);
	return 1;
restore:
	for (; k <= d; k++) {
		memcpy(w->undo[k].half, w->undo[k].old, KT_HASH_BYTES);
		*w->undo[k].version = w->undo[k].old_version;
	}
	return 0;
}

/* Refuses (KT_ERR_INVALID_ARG, before anything is written) an update at
 * `version` when the tree already holds a newer version: every update
 * rewrites the root, so the root's newest record is its record as of
 * `version` unless a newer one exists. */
static int check_not_older(struct io *io, uint64_t version)
{
	kt_map_node newest, asof;
	int r;

	r = io_get(io, 0, UINT64_MAX, &newest);
	if (r == KT_ERR_NOT_FOUND)
		return KT_OK;
	if (r != KT_OK)
		return r;
	r = io_get(io, 0, version, &asof);
	if (r == KT_ERR_NOT_FOUND || r == KT_ERR_UNSUPPORTED)
		return KT_ERR_INVALID_ARG;
	if (r != KT_OK)
		return r;
	if (newest.kind != asof.kind ||
	    !hash_eq(newest.inner.left, asof.inner.left) ||
	    !hash_eq(newest.inner.right, asof.inner.right))
		return KT_ERR_INVALID_ARG;
	return KT_OK;
}

int kt_map_update(const kt_map_store *store, uint64_t version,
		  const uint8_t index[KT_HASH_BYTES],
		  const uint8_t leaf_digest[KT_HASH_BYTES],
		  uint8_t new_root_out[KT_HASH_BYTES])
{
	struct walk *w = NULL;
	struct io io;
	uint8_t h[KT_HASH_BYTES];
	unsigned k;
	int r;

	if (new_root_out != NULL)
		memset(new_root_out, 0, KT_HASH_BYTES);
	w = malloc(sizeof(*w));
	if (w == NULL)
		return KT_ERR_NOMEM;
	io_start(&io, store, index, &w->path);
	/* Needed in every case; hashing it while the path's first prefetch
	 * batch is in flight hides part of the memory latency. */
	leaf_hash(h, index, leaf_digest);
	io_ready(&io);
	r = check_not_older(&io, version);
	if (r == KT_OK && update_in_place(&io, version, leaf_digest, h, w))
		goto done;
	if (r == KT_OK)
		r = walk_path(&io, version, w);
	if (r != KT_OK)
		goto out;
	if (w->end == WALK_OTHER)
		r = split_leaf(&io, version, w, leaf_digest, h);
	else
		r = put_leaf(&io, version, w->depth, leaf_digest);
	for (k = w->depth; r == KT_OK && k > 0; k--)
		r = put_parent(&io, version, k - 1, h, w->sib[k]);
	if (r != KT_OK)
		goto out;
done:
	if (new_root_out != NULL)
		memcpy(new_root_out, h, KT_HASH_BYTES);
out:
	free(w);
	return r;
}

/* ---- reading ----------------------------------------------------------- */

int kt_map_root(const kt_map_store *store, uint64_t at,
		uint8_t root_out[KT_HASH_BYTES])
{
	kt_map_node node;
	static const uint8_t zero_prefix[KT_HASH_BYTES];
	int r;

	memset(root_out, 0, KT_HASH_BYTES);
	r = store->get(store->ctx, 0, zero_prefix, at, &node);
	if (r == KT_ERR_NOT_FOUND)
		return KT_OK;
	if (r != KT_OK)
		return r;
	r = kt_map_node_hash(root_out, &node);
	return r == KT_OK ? KT_OK : KT_ERR_STORAGE;
}

/* Allocates a walk and walks index's path as of at into it. */
static int read_path(const kt_map_store *store, uint64_t at,
		     const uint8_t index[KT_HASH_BYTES], struct walk **out)
{
	struct walk *w;
	struct io io;
	int r;

	*out = NULL;
	w = malloc(sizeof(*w));
	if (w == NULL)
		return KT_ERR_NOMEM;
	io_start(&io, store, index, &w->path);
	io_ready(&io);
	r = walk_path(&io, at, w);
	if (r != KT_OK) {
		free(w);
		return r;
	}
	*out = w;
	return KT_OK;
}

int kt_map_lookup(const kt_map_store *store, uint64_t at,
		  const uint8_t index[KT_HASH_BYTES],
		  uint8_t digest_out[KT_HASH_BYTES])
{
	struct walk *w = NULL;
	int r;

	if (digest_out != NULL)
		memset(digest_out, 0, KT_HASH_BYTES);
	r = read_path(store, at, index, &w);
	if (r == KT_OK && w->end != WALK_SAME)
		r = KT_ERR_NOT_FOUND;
	if (r == KT_OK && digest_out != NULL)
		memcpy(digest_out, w->leaf.leaf.digest, KT_HASH_BYTES);
	free(w);
	return r;
}

/* ---- proofs ------------------------------------------------------------ */

/* The encoding (docs/protocol/map.md):
 *   u8 kind, u16 depth, fixed[ceil(depth/8)] bitmap (bit i, MSB first, set
 *   when the sibling at depth i+1 is non-empty), fixed[32] per non-empty
 *   sibling in root-to-leaf order, and for KT_MAP_PROOF_ABSENT_LEAF
 *   fixed[32] other index || fixed[32] other digest. */
static void encode_proof(kt_wbuf *wb, const struct walk *w)
{
	uint8_t bitmap[KT_HASH_BYTES];
	unsigned d, nbytes = (w->depth + 7) / 8;
	uint8_t kind = KT_MAP_PROOF_ABSENT_EMPTY;

	if (w->end == WALK_SAME)
		kind = KT_MAP_PROOF_INCLUSION;
	else if (w->end == WALK_OTHER)
		kind = KT_MAP_PROOF_ABSENT_LEAF;
	memset(bitmap, 0, sizeof(bitmap));
	for (d = 1; d <= w->depth; d++)
		if (!is_zero_hash(w->sib[d]))
			bitmap[(d - 1) >> 3] |= (uint8_t)(0x80u >> ((d - 1) & 7u));
	kt_put_u8(wb, kind);
	kt_put_u16(wb, (uint16_t)w->depth);
	kt_put_fixed(wb, bitmap, nbytes);
	for (d = 1; d <= w->depth; d++)
		if (!is_zero_hash(w->sib[d]))
			kt_put_fixed(wb, w->sib[d], KT_HASH_BYTES);
	if (kind == KT_MAP_PROOF_ABSENT_LEAF) {
		kt_put_fixed(wb, w->leaf.leaf.index, KT_HASH_BYTES);
		kt_put_fixed(wb, w->leaf.leaf.digest, KT_HASH_BYTES);
	}
}

int kt_map_prove(const kt_map_store *store, uint64_t at,
		 const uint8_t index[KT_HASH_BYTES], uint8_t **proof_out,
		 size_t *proof_len_out)
{
	struct walk *w = NULL;
	kt_wbuf wb;
	int r;

	*proof_out = NULL;
	*proof_len_out = 0;
	kt_wbuf_init(&wb, KT_MAP_MAX_PROOF_BYTES);
	r = read_path(store, at, index, &w);
	if (r != KT_OK)
		goto out;
	encode_proof(&wb, w);
	r = kt_wbuf_take(&wb, proof_out, proof_len_out);
out:
	kt_wbuf_free(&wb);
	free(w);
	return r;
}

/* A decoded proof; sibling hashes are borrowed from the input. */
struct proof {
	uint8_t kind;
	unsigned depth;
	const uint8_t *bitmap;
	const uint8_t *sibs; /* the non-empty siblings, 32 bytes each */
	const uint8_t *other_index, *other_digest;
};

static unsigned bitmap_bit(const uint8_t *bitmap, unsigned i)
{
	return (unsigned)(bitmap[i >> 3] >> (7u - (i & 7u))) & 1u;
}

/* Reads kind, depth and bitmap; checks the kind and depth rules. */
static void decode_head(kt_rbuf *rb, struct proof *p, int want_inclusion,
			unsigned *present)
{
	unsigned i, nbytes;

	p->kind = kt_get_u8(rb);
	if (rb->err != KT_OK)
		return;
	if (p->kind != KT_MAP_PROOF_INCLUSION &&
	    p->kind != KT_MAP_PROOF_ABSENT_EMPTY &&
	    p->kind != KT_MAP_PROOF_ABSENT_LEAF) {
		kt_rbuf_fail(rb, KT_ERR_BAD_TYPE);
		return;
	}
	if ((p->kind == KT_MAP_PROOF_INCLUSION) != (want_inclusion != 0)) {
		kt_rbuf_fail(rb, KT_ERR_MAP_WRONG_KIND);
		return;
	}
	p->depth = kt_get_u16(rb);
	/* An absence path cannot reach depth 256: the position there would
	 * be a full index, and its sibling a lone leaf. */
	if (p->depth > KT_MAP_MAX_DEPTH ||
	    (p->kind != KT_MAP_PROOF_INCLUSION && p->depth == KT_MAP_MAX_DEPTH)) {
		kt_rbuf_fail(rb, KT_ERR_MAP_DEPTH);
		return;
	}
	nbytes = (p->depth + 7) / 8;
	p->bitmap = kt_get_raw(rb, nbytes);
	if (p->bitmap == NULL)
		return;
	if ((p->depth & 7u) != 0 &&
	    (p->bitmap[nbytes - 1] & (0xffu >> (p->depth & 7u))) != 0) {
		kt_rbuf_fail(rb, KT_ERR_NONCANONICAL);
		return;
	}
	*present = 0;
	for (i = 0; i < p->depth; i++)
		*present += bitmap_bit(p->bitmap, i);
}

/* Strictly decodes an encoded proof into *p (borrowing from in). */
static int decode_proof(kt_bytes in, int want_inclusion, struct proof *p)
{
	kt_rbuf rb;
	unsigned present = 0, i;

	memset(p, 0, sizeof(*p));
	if (in.len > KT_MAP_MAX_PROOF_BYTES)
		return KT_ERR_TOO_LARGE;
	kt_rbuf_init(&rb, in.p, in.len);
	decode_head(&rb, p, want_inclusion, &present);
	/* present <= 256, so present * 32 cannot overflow. */
	p->sibs = kt_get_raw(&rb, (size_t)present * KT_HASH_BYTES);
	for (i = 0; rb.err == KT_OK && i < present; i++)
		if (is_zero_hash(p->sibs + (size_t)i * KT_HASH_BYTES))
			kt_rbuf_fail(&rb, KT_ERR_NONCANONICAL);
	if (p->kind == KT_MAP_PROOF_ABSENT_LEAF) {
		p->other_index = kt_get_raw(&rb, KT_HASH_BYTES);
		p->other_digest = kt_get_raw(&rb, KT_HASH_BYTES);
	}
	return kt_rbuf_finish(&rb);
}

/* Shape rules a canonical tree always satisfies (map.md, "rejection"). */
static int check_shape(const struct proof *p, const uint8_t index[KT_HASH_BYTES])
{
	/* The terminal's sibling is empty: a leaf would have sat higher, and
	 * an empty child's parent would hold fewer than two leaves. */
	if (p->depth > 0 && bitmap_bit(p->bitmap, p->depth - 1) == 0)
		return KT_ERR_MAP_BAD_PROOF;
	if (p->kind == KT_MAP_PROOF_ABSENT_LEAF) {
		/* Public values: memcmp is fine. */
		if (memcmp(p->other_index, index, KT_HASH_BYTES) == 0)
			return KT_ERR_MAP_BAD_PROOF;
		if (common_bits(p->other_index, index) < p->depth)
			return KT_ERR_MAP_BAD_PROOF;
	}
	return KT_OK;
}

int kt_map_verify(const uint8_t root[KT_HASH_BYTES],
		  const uint8_t index[KT_HASH_BYTES],
		  const uint8_t *leaf_digest, kt_bytes proof)
{
	struct proof p;
	uint8_t h[KT_HASH_BYTES];
	const uint8_t *sib = NULL;
	unsigned d, next;
	int r;

	r = decode_proof(proof, leaf_digest != NULL, &p);
	if (r != KT_OK)
		return r;
	r = check_shape(&p, index);
	if (r != KT_OK)
		return r;
	if (p.kind == KT_MAP_PROOF_INCLUSION)
		leaf_hash(h, index, leaf_digest);
	else if (p.kind == KT_MAP_PROOF_ABSENT_LEAF)
		leaf_hash(h, p.other_index, p.other_digest);
	else
		memset(h, 0, KT_HASH_BYTES);
	/* Siblings are stored root first; fold from the terminal upwards. */
	next = 0;
	for (d = 0; d < p.depth; d++)
		next += bitmap_bit(p.bitmap, d);
	for (d = p.depth; d > 0; d--) {
		if (bitmap_bit(p.bitmap, d - 1)) {
			next--;
			sib = p.sibs + (size_t)next * KT_HASH_BYTES;
		} else {
			sib = zero_hash;
		}
		join(h, bit_at(index, d - 1), h, sib);
	}
	/* Public values: memcmp is fine. */
	return memcmp(h, root, KT_HASH_BYTES) == 0 ? KT_OK
						    : KT_ERR_MAP_ROOT_MISMATCH;
}

/* ---- bulk loading ------------------------------------------------------ */

static int entry_cmp(const void *a, const void *b)
{
	return memcmp(((const kt_map_entry *)a)->index,
		      ((const kt_map_entry *)b)->index, KT_HASH_BYTES);
}

void kt_map_entries_sort(kt_map_entry *entries, size_t n)
{
	if (n > 1)
		qsort(entries, n, sizeof(*entries), entry_cmp);
}

/* First i in [lo, hi) whose index has bit `depth` set (hi if none); the
 * range is sorted and shares its first `depth` bits. */
static size_t split_point(const kt_map_entry *e, size_t lo, size_t hi,
			  unsigned depth)
{
	size_t mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (bit_at(e[mid].index, depth))
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/* Builds the subtree at `depth` over e[lo, hi) (non-empty, sorted, sharing
 * their first depth bits) and stores its hash in h. */
static int build(const kt_map_store *store, uint64_t version,
		 const kt_map_entry *e, size_t lo, size_t hi, unsigned depth,
		 uint8_t h[KT_HASH_BYTES])
{
	kt_map_node n;
	size_t m;
	int r;

	if (hi - lo == 1) {
		leaf_hash(h, e[lo].index, e[lo].digest);
		leaf_node(&n, e[lo].index, e[lo].digest);
		return put_node(store, version, e[lo].index, depth, &n);
	}
	if (depth >= KT_MAP_MAX_DEPTH)
		return KT_ERR_INTERNAL; /* duplicates were rejected before */
	m = split_point(e, lo, hi, depth);
	memset(n.inner.left, 0, KT_HASH_BYTES);
	memset(n.inner.right, 0, KT_HASH_BYTES);
	r = KT_OK;
	if (m > lo)
		r = build(store, version, e, lo, m, depth + 1, n.inner.left);
	if (r == KT_OK && hi > m)
		r = build(store, version, e, m, hi, depth + 1, n.inner.right);
	if (r != KT_OK)
		return r;
	n.kind = KT_MAP_NODE_INNER;
	parent_hash(h, n.inner.left, n.inner.right);
	return put_node(store, version, e[lo].index, depth, &n);
}

int kt_map_bulk_load(const kt_map_store *store, uint64_t version,
		     const kt_map_entry *entries, size_t n,
		     uint8_t root_out[KT_HASH_BYTES])
{
	static const uint8_t zero_prefix[KT_HASH_BYTES];
	kt_map_node node;
	uint8_t h[KT_HASH_BYTES];
	size_t i;
	int r;

	if (root_out != NULL)
		memset(root_out, 0, KT_HASH_BYTES);
	for (i = 1; i < n; i++)
		if (memcmp(entries[i - 1].index, entries[i].index,
			   KT_HASH_BYTES) >= 0)
			return KT_ERR_INVALID_ARG;
	r = store->get(store->ctx, 0, zero_prefix, UINT64_MAX, &node);
	if (r == KT_OK)
		return KT_ERR_INVALID_ARG;
	if (r != KT_ERR_NOT_FOUND)
		return r;
	if (n == 0)
		return KT_OK;
	r = build(store, version, entries, 0, n, 0, h);
	if (r == KT_OK && root_out != NULL)
		memcpy(root_out, h, KT_HASH_BYTES);
	return r;
}
