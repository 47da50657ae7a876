// SPDX-License-Identifier: MIT
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <gpuvm/va_tree.h>

#include "base/alloc_internal.h"

/**
 * DOC: VA tree internals
 *
 * Why a B+tree. The VM looks mappings up by address far more often than it
 * changes them, and at 10^6 mappings a balanced binary tree costs about twenty
 * dependent cache misses per descent. A B+tree with 504-byte nodes is five
 * levels deep at that size, each level a search over one contiguous key
 * array, and its leaves are chained so that a walk in address order is a
 * pointer step per leaf instead of a climb through parents.
 *
 * Node layout. Every node starts with @nr. A leaf holds up to LEAF_CAP keys in
 * one array and their values in a second array (so a search reads keys only),
 * plus @next and @prev leaf links. An inner node holds @nr children and
 * @nr - 1 separator keys: every key under child[i] is below keys[i], and every
 * key under child[i + 1] is at or above it. Nodes carry no parent pointer:
 * the modifying paths record their descent in a small array, and the tree's
 * height says which depth holds leaves (a level number in what would be
 * padding after @nr serves only verification). LEAF_CAP 30 and 31 children
 * make both kinds 504 bytes or less.
 *
 * Separators are never tightened on removal: deleting the first key of a leaf
 * leaves its left separator below the new first key. The bounds stay true,
 * but a leaf reached by a descent may hold nothing at or below the sought key,
 * in which case the answer is the last entry of the previous leaf (and
 * symmetrically for the next leaf), which the links give directly.
 *
 * Fill policy. Memory per mapping matters as much as speed, so leaves are kept
 * fuller than the textbook half:
 *
 * - A full leaf first shares entries with an adjacent leaf under the same
 *   parent that has room; no node is created.
 * - If both neighbours are full, the leaf and one neighbour are spread over
 *   three leaves (two-to-three split, as in B*-trees), leaving each about two
 *   thirds full rather than half.
 * - Appending past the last entry of the last leaf (or before the first entry
 *   of the first leaf) splits unevenly: the old leaf stays full and the new
 *   one starts with the single new entry, so ascending or descending fills
 *   pack leaves completely. Inner nodes on such an edge path split 30/2.
 *   Leaves and inner nodes on the outer edges of their level are therefore
 *   exempt from the minimum fill; every other non-root node keeps at least
 *   half. Inner nodes always keep at least two children.
 * - Removal restores the minimum by merging with a neighbour when the two fit
 *   in one node, or by evening out the pair otherwise.
 *
 * Allocation discipline. Inserting computes, before changing anything,
 * exactly how many nodes it will create (none if the leaf has room or a
 * neighbour can take entries; otherwise one per full node from the leaf up,
 * plus a root if every node on the path is full), tops up the spare pool with
 * that many, and only then modifies the tree taking nodes from the pool. So an
 * allocation failure leaves the tree untouched, and a reservation made earlier
 * guarantees that no allocation happens at all. Removal never allocates or
 * frees: nodes it empties go to the pool. Reservations are a floor, not an
 * earmark: inserts draw on the pool without touching @reserved, and only
 * gpuvm_va_tree_unreserve() lowers it. The pool is trimmed back to that floor
 * by gpuvm_va_tree_trim() and gpuvm_va_tree_unreserve(), and, when nothing is
 * reserved, by an insert that finds the pool much larger than the tree can
 * use (after mass removals).
 */

#define LEAF_CAP  30
#define INNER_CAP 31 /* children; INNER_CAP - 1 separator keys */
#define LEAF_MIN  (LEAF_CAP / 2)
#define INNER_MIN (INNER_CAP / 2)
/* Children the new right node gets when an inner node splits on an edge. */
#define INNER_EDGE 2
/* Far above any height a 64-bit key space can reach with these fan-outs. */
#define MAX_HEIGHT 48

struct gpuvm_va_tree_node {
	/* Entries of a leaf, children of an inner node. */
	unsigned int nr;
	/*
	 * Height above the leaves (0 for a leaf). Lives in what would be
	 * padding; only gpuvm_va_tree_check() reads it.
	 */
	unsigned int level;
	union {
		struct {
			uint64_t keys[LEAF_CAP];
			void *vals[LEAF_CAP];
			struct gpuvm_va_tree_node *next;
			struct gpuvm_va_tree_node *prev;
		} l;
		struct {
			uint64_t keys[INNER_CAP - 1];
			struct gpuvm_va_tree_node *child[INNER_CAP];
		} i;
		struct gpuvm_va_tree_node *spare_next;
	};
};

_Static_assert(sizeof(struct gpuvm_va_tree_node) <= 512,
	       "VA tree nodes must fit 512 bytes");

/* A descent: the node at each depth and the child taken from it. */
struct path {
	struct gpuvm_va_tree_node *node[MAX_HEIGHT];
	unsigned int idx[MAX_HEIGHT];
};

/*
 * Number of keys[0..n) that are <= @key, i.e. the child to descend into.
 * Branch-free: the loop runs a fixed log2(n) steps whatever the keys, so
 * the only unpredictable cost is the loads.
 */
static inline unsigned int count_le(const uint64_t *keys, unsigned int n,
				    uint64_t key)
{
	const uint64_t *base = keys;

	if (!n)
		return 0;
	while (n > 1) {
		unsigned int half = n / 2;

		base = base[half] <= key ? base + half : base;
		n -= half;
	}
	return (unsigned int)(base - keys) + (*base <= key);
}

/* Number of keys[0..n) that are < @key: the insertion point in a leaf. */
static inline unsigned int count_lt(const uint64_t *keys, unsigned int n,
				    uint64_t key)
{
	const uint64_t *base = keys;

	if (!n)
		return 0;
	while (n > 1) {
		unsigned int half = n / 2;

		base = base[half] < key ? base + half : base;
		n -= half;
	}
	return (unsigned int)(base - keys) + (*base < key);
}

/*
 * At 10^6 entries the lower levels live in DRAM. A binary search over a cold
 * node would take one dependent miss per cache line it probes; asking for all
 * of the node's lines at once turns that into about one miss per level.
 */
static inline void prefetch_node(const struct gpuvm_va_tree_node *n)
{
	for (size_t off = 0; off < sizeof(*n); off += 64)
		gpuvm_prefetch((const char *)n + off);
}

static inline struct gpuvm_va_tree_node *
child_for(const struct gpuvm_va_tree_node *n, uint64_t key)
{
	return n->i.child[count_le(n->i.keys, n->nr - 1, key)];
}

static const struct gpuvm_va_tree_node *
find_leaf(const struct gpuvm_va_tree *tree, uint64_t key)
{
	const struct gpuvm_va_tree_node *n = tree->root;

	for (unsigned int d = 1; d < tree->height; d++) {
		n = child_for(n, key);
		prefetch_node(n);
	}
	return n;
}

static struct gpuvm_va_tree_node *find_leaf_path(struct gpuvm_va_tree *tree,
						 uint64_t key, struct path *p)
{
	struct gpuvm_va_tree_node *n = tree->root;
	unsigned int d;

	for (d = 0; d + 1 < tree->height; d++) {
		unsigned int i = count_le(n->i.keys, n->nr - 1, key);

		p->node[d] = n;
		p->idx[d] = i;
		n = n->i.child[i];
		prefetch_node(n);
	}
	p->node[d] = n;
	return n;
}

/* The pool. */

static void pool_put(struct gpuvm_va_tree *tree, struct gpuvm_va_tree_node *n)
{
	n->spare_next = tree->spare;
	tree->spare = n;
	tree->nr_spare++;
}

static struct gpuvm_va_tree_node *pool_take(struct gpuvm_va_tree *tree)
{
	struct gpuvm_va_tree_node *n = tree->spare;

	tree->spare = n->spare_next;
	tree->nr_spare--;
	return n;
}

/*
 * Grow the pool to @want nodes. On failure, free exactly the nodes this call
 * added (they are at the head of the list) so the caller sees no change.
 */
static int pool_fill(struct gpuvm_va_tree *tree, size_t want)
{
	size_t added = 0;

	while (tree->nr_spare < want) {
		struct gpuvm_va_tree_node *n = gpuvm_alloc(sizeof(*n));

		if (gpuvm_unlikely(!n)) {
			while (added--)
				gpuvm_free(pool_take(tree),
					   sizeof(struct gpuvm_va_tree_node));
			return -ENOMEM;
		}
		pool_put(tree, n);
		added++;
	}
	return 0;
}

static void pool_shrink(struct gpuvm_va_tree *tree, size_t keep)
{
	while (tree->nr_spare > keep)
		gpuvm_free(pool_take(tree), sizeof(struct gpuvm_va_tree_node));
}

/* Public: setup and teardown. */

void gpuvm_va_tree_init(struct gpuvm_va_tree *tree)
{
	memset(tree, 0, sizeof(*tree));
}

static void free_subtree(struct gpuvm_va_tree_node *n, unsigned int levels)
{
	if (levels > 1) {
		for (unsigned int i = 0; i < n->nr; i++)
			free_subtree(n->i.child[i], levels - 1);
	}
	gpuvm_free(n, sizeof(*n));
}

void gpuvm_va_tree_fini(struct gpuvm_va_tree *tree)
{
	if (tree->root)
		free_subtree(tree->root, tree->height);
	tree->root = NULL;
	pool_shrink(tree, 0);
	gpuvm_va_tree_init(tree);
}

size_t gpuvm_va_tree_node_size(void)
{
	return sizeof(struct gpuvm_va_tree_node);
}

size_t gpuvm_va_tree_insert_cost(const struct gpuvm_va_tree *tree)
{
	return (size_t)tree->height + 2;
}

int gpuvm_va_tree_reserve(struct gpuvm_va_tree *tree, size_t nodes)
{
	int ret = pool_fill(tree, tree->reserved + nodes);

	if (ret)
		return ret;
	tree->reserved += nodes;
	return 0;
}

void gpuvm_va_tree_unreserve(struct gpuvm_va_tree *tree, size_t nodes)
{
	if (gpuvm_unlikely(nodes > tree->reserved))
		gpuvm_warn("VA tree: releasing %zu reserved node(s), only %zu "
			   "reserved",
			   nodes, tree->reserved);
	tree->reserved = nodes > tree->reserved ? 0 : tree->reserved - nodes;
	pool_shrink(tree, tree->reserved);
}

void gpuvm_va_tree_trim(struct gpuvm_va_tree *tree)
{
	pool_shrink(tree, tree->reserved);
}

int gpuvm_va_tree_prealloc(struct gpuvm_va_tree *tree, size_t nodes)
{
	return pool_fill(tree, nodes);
}

int gpuvm_va_tree_stash_fill(struct gpuvm_va_tree_stash *stash, size_t nodes)
{
	struct gpuvm_va_tree_node *head = stash->head;
	size_t count = stash->count;

	while (count < nodes) {
		struct gpuvm_va_tree_node *n = gpuvm_alloc(sizeof(*n));

		if (gpuvm_unlikely(!n)) {
			/* Free only what this call added. */
			while (count > stash->count) {
				struct gpuvm_va_tree_node *f = head;

				head = f->spare_next;
				gpuvm_free(f, sizeof(*f));
				count--;
			}
			return -ENOMEM;
		}
		n->spare_next = head;
		head = n;
		count++;
	}
	stash->head = head;
	stash->count = count;
	return 0;
}

void gpuvm_va_tree_stash_free(struct gpuvm_va_tree_stash *stash)
{
	while (stash->head) {
		struct gpuvm_va_tree_node *n = stash->head;

		stash->head = n->spare_next;
		gpuvm_free(n, sizeof(*n));
	}
	stash->count = 0;
}

int gpuvm_va_tree_reserve_stash(struct gpuvm_va_tree *tree, size_t nodes,
				struct gpuvm_va_tree_stash *stash)
{
	size_t want = tree->reserved + nodes;
	size_t need = want > tree->nr_spare ? want - tree->nr_spare : 0;

	if (need > stash->count)
		return -ENOSPC;
	while (need--) {
		struct gpuvm_va_tree_node *n = stash->head;

		stash->head = n->spare_next;
		stash->count--;
		pool_put(tree, n);
	}
	tree->reserved = want;
	return 0;
}

void gpuvm_va_tree_unreserve_stash(struct gpuvm_va_tree *tree, size_t nodes,
				   struct gpuvm_va_tree_stash *stash)
{
	if (gpuvm_unlikely(nodes > tree->reserved))
		gpuvm_warn("VA tree: releasing %zu reserved node(s), only %zu "
			   "reserved",
			   nodes, tree->reserved);
	tree->reserved = nodes > tree->reserved ? 0 : tree->reserved - nodes;
	while (stash && tree->nr_spare > tree->reserved) {
		struct gpuvm_va_tree_node *n = pool_take(tree);

		n->spare_next = stash->head;
		stash->head = n;
		stash->count++;
	}
}

void gpuvm_va_tree_trim_stash(struct gpuvm_va_tree *tree, size_t keep,
			      struct gpuvm_va_tree_stash *stash)
{
	size_t floor = tree->reserved + keep < tree->reserved
			       ? SIZE_MAX
			       : tree->reserved + keep;

	while (tree->nr_spare > floor) {
		struct gpuvm_va_tree_node *n = pool_take(tree);

		n->spare_next = stash->head;
		stash->head = n;
		stash->count++;
	}
}

/* Leaf and inner node rearrangement, shared by insertion and removal. */

/* Largest group a rearrangement reads: two full leaves and a new entry. */
#define LEAF_TMP  (2 * LEAF_CAP + 1)
#define INNER_TMP (2 * INNER_CAP)

static unsigned int leaf_gather(struct gpuvm_va_tree_node *const *g,
				unsigned int m, uint64_t *tk, void **tv)
{
	unsigned int t = 0;

	for (unsigned int j = 0; j < m; j++) {
		memcpy(tk + t, g[j]->l.keys, g[j]->nr * sizeof(*tk));
		memcpy(tv + t, g[j]->l.vals, g[j]->nr * sizeof(*tv));
		t += g[j]->nr;
	}
	return t;
}

static void leaf_scatter(struct gpuvm_va_tree_node *const *out,
			 const unsigned int *sizes, unsigned int m,
			 const uint64_t *tk, void *const *tv)
{
	unsigned int t = 0;

	for (unsigned int j = 0; j < m; j++) {
		memcpy(out[j]->l.keys, tk + t, sizes[j] * sizeof(*tk));
		memcpy(out[j]->l.vals, tv + t, sizes[j] * sizeof(*tv));
		out[j]->nr = sizes[j];
		t += sizes[j];
	}
}

/*
 * Inner nodes are gathered with the parent's separators between them, so
 * that the flat arrays read like one oversized node: tk has one key fewer
 * than tc has children.
 */
static unsigned int inner_gather(struct gpuvm_va_tree_node *const *g,
				 unsigned int m, const uint64_t *seps,
				 uint64_t *tk, struct gpuvm_va_tree_node **tc)
{
	unsigned int t = 0;

	for (unsigned int j = 0; j < m; j++) {
		unsigned int n = g[j]->nr;

		if (j)
			tk[t - 1] = seps[j - 1];
		memcpy(tk + t, g[j]->i.keys, (n - 1) * sizeof(*tk));
		memcpy(tc + t, g[j]->i.child, n * sizeof(*tc));
		t += n;
	}
	return t;
}

/* The inverse; the keys between the outputs come back in @seps. */
static void inner_scatter(struct gpuvm_va_tree_node *const *out,
			  const unsigned int *sizes, unsigned int m,
			  const uint64_t *tk,
			  struct gpuvm_va_tree_node *const *tc, uint64_t *seps)
{
	unsigned int t = 0;

	for (unsigned int j = 0; j < m; j++) {
		unsigned int n = sizes[j];

		if (j)
			seps[j - 1] = tk[t - 1];
		memcpy(out[j]->i.keys, tk + t, (n - 1) * sizeof(*tk));
		memcpy(out[j]->i.child, tc + t, n * sizeof(*tc));
		out[j]->nr = n;
		t += n;
	}
}

static void leaf_link_after(struct gpuvm_va_tree_node *pos,
			    struct gpuvm_va_tree_node *n)
{
	n->l.prev = pos;
	n->l.next = pos->l.next;
	if (pos->l.next)
		pos->l.next->l.prev = n;
	pos->l.next = n;
}

/* Put child @c at index @ci of @n, with @sep as the key just before it. */
static void inner_insert_at(struct gpuvm_va_tree_node *n, unsigned int ci,
			    uint64_t sep, struct gpuvm_va_tree_node *c)
{
	unsigned int nr = n->nr;

	memmove(n->i.keys + ci, n->i.keys + ci - 1,
		(nr - ci) * sizeof(n->i.keys[0]));
	memmove(n->i.child + ci + 1, n->i.child + ci,
		(nr - ci) * sizeof(n->i.child[0]));
	n->i.keys[ci - 1] = sep;
	n->i.child[ci] = c;
	n->nr = nr + 1;
}

/* Drop child @ci (> 0) of @n together with the key just before it. */
static void inner_remove_at(struct gpuvm_va_tree_node *n, unsigned int ci)
{
	unsigned int nr = n->nr;

	memmove(n->i.keys + ci - 1, n->i.keys + ci,
		(nr - 1 - ci) * sizeof(n->i.keys[0]));
	memmove(n->i.child + ci, n->i.child + ci + 1,
		(nr - 1 - ci) * sizeof(n->i.child[0]));
	n->nr = nr - 1;
}

/* Insertion. */

enum edge { EDGE_NONE, EDGE_APPEND, EDGE_PREPEND };

/*
 * Nodes the insert of an absent key into @leaf (full) will create: none if a
 * neighbour under the same parent has room, else one per consecutive full node
 * from the leaf upward, plus a new root if the whole path is full.
 */
static size_t insert_need(const struct gpuvm_va_tree *tree,
			  const struct path *p)
{
	unsigned int h = tree->height;
	size_t need = 1;
	int d;

	if (h > 1) {
		const struct gpuvm_va_tree_node *parent = p->node[h - 2];
		unsigned int i = p->idx[h - 2];

		if (i > 0 && parent->i.child[i - 1]->nr < LEAF_CAP)
			return 0;
		if (i + 1 < parent->nr && parent->i.child[i + 1]->nr < LEAF_CAP)
			return 0;
	}
	for (d = (int)h - 2; d >= 0; d--) {
		if (p->node[d]->nr < INNER_CAP)
			return need;
		need++;
	}
	return need + 1;
}

/*
 * Add child @c (with separator @sep) after the child at depth @d + 1 that the
 * path went through, splitting full inner nodes upward and growing a new root
 * if needed. Nodes come from the pool, which insert_need() sized.
 */
static void insert_child(struct gpuvm_va_tree *tree, struct path *p, int d,
			 unsigned int ci, uint64_t sep,
			 struct gpuvm_va_tree_node *c, enum edge edge)
{
	uint64_t tk[INNER_TMP];
	struct gpuvm_va_tree_node *tc[INNER_TMP];

	for (; d >= 0; d--) {
		struct gpuvm_va_tree_node *n = p->node[d];
		struct gpuvm_va_tree_node *out[2];
		unsigned int sizes[2], t;

		if (n->nr < INNER_CAP) {
			inner_insert_at(n, ci, sep, c);
			return;
		}
		t = inner_gather(&n, 1, NULL, tk, tc);
		memmove(tk + ci, tk + ci - 1, (t - ci) * sizeof(*tk));
		memmove(tc + ci + 1, tc + ci, (t - ci) * sizeof(*tc));
		tk[ci - 1] = sep;
		tc[ci] = c;
		t++;
		if (edge == EDGE_APPEND)
			sizes[0] = t - INNER_EDGE;
		else if (edge == EDGE_PREPEND)
			sizes[0] = INNER_EDGE;
		else
			sizes[0] = t / 2;
		sizes[1] = t - sizes[0];
		out[0] = n;
		out[1] = pool_take(tree);
		out[1]->level = n->level;
		tree->nr_nodes++;
		inner_scatter(out, sizes, 2, tk, tc, &sep);
		c = out[1];
		if (d > 0)
			ci = p->idx[d - 1] + 1;
	}

	/* The root split: the tree grows one level. */
	struct gpuvm_va_tree_node *root = pool_take(tree);

	tree->nr_nodes++;
	root->nr = 2;
	root->level = tree->root->level + 1;
	root->i.keys[0] = sep;
	root->i.child[0] = tree->root;
	root->i.child[1] = c;
	tree->root = root;
	tree->height++;
}

/*
 * Insert into a full leaf at @pos. Tries, in order: sharing with a neighbour
 * that has room, an uneven split on the outer edge, a two-to-three split with
 * a full neighbour, a plain split (a root leaf has no neighbour).
 */
static void insert_full_leaf(struct gpuvm_va_tree *tree, struct path *p,
			     unsigned int pos, uint64_t key, void *val)
{
	unsigned int h = tree->height;
	struct gpuvm_va_tree_node *leaf = p->node[h - 1];
	struct gpuvm_va_tree_node *parent = h > 1 ? p->node[h - 2] : NULL;
	unsigned int pi = h > 1 ? p->idx[h - 2] : 0;
	struct gpuvm_va_tree_node *left = NULL, *right = NULL;
	struct gpuvm_va_tree_node *g[3], *nn = NULL;
	unsigned int sizes[3], m, mo, first, gpos, t;
	uint64_t tk[LEAF_TMP];
	void *tv[LEAF_TMP];
	enum edge edge = EDGE_NONE;

	if (!leaf->l.next && pos == leaf->nr)
		edge = EDGE_APPEND;
	else if (!leaf->l.prev && pos == 0)
		edge = EDGE_PREPEND;
	if (parent && pi > 0)
		left = parent->i.child[pi - 1];
	if (parent && pi + 1 < parent->nr)
		right = parent->i.child[pi + 1];

	if (left && left->nr < LEAF_CAP) {
		g[0] = left;
		g[1] = leaf;
		m = mo = 2;
		first = pi - 1;
		gpos = left->nr + pos;
	} else if (right && right->nr < LEAF_CAP) {
		g[0] = leaf;
		g[1] = right;
		m = mo = 2;
		first = pi;
		gpos = pos;
	} else if (edge == EDGE_NONE && (left || right)) {
		g[0] = left ? left : leaf;
		g[1] = left ? leaf : right;
		m = 2;
		mo = 3;
		first = left ? pi - 1 : pi;
		gpos = left ? left->nr + pos : pos;
	} else {
		g[0] = leaf;
		m = 1;
		mo = 2;
		first = pi;
		gpos = pos;
	}

	t = leaf_gather(g, m, tk, tv);
	memmove(tk + gpos + 1, tk + gpos, (t - gpos) * sizeof(*tk));
	memmove(tv + gpos + 1, tv + gpos, (t - gpos) * sizeof(*tv));
	tk[gpos] = key;
	tv[gpos] = val;
	t++;

	if (mo == 3) {
		sizes[0] = t / 3;
		sizes[1] = (t - sizes[0]) / 2;
		sizes[2] = t - sizes[0] - sizes[1];
	} else if (edge == EDGE_APPEND) {
		sizes[0] = LEAF_CAP;
		sizes[1] = t - LEAF_CAP;
	} else if (edge == EDGE_PREPEND) {
		sizes[1] = LEAF_CAP;
		sizes[0] = t - LEAF_CAP;
	} else {
		sizes[0] = t / 2;
		sizes[1] = t - sizes[0];
	}

	if (mo > m) {
		nn = pool_take(tree);
		nn->level = 0;
		tree->nr_nodes++;
		g[m] = nn;
		leaf_link_after(g[m - 1], nn);
	}
	leaf_scatter(g, sizes, mo, tk, tv);

	/* Separators inside the group; its outer bounds still hold. */
	for (unsigned int j = 1; j < m; j++)
		parent->i.keys[first + j - 1] = g[j]->l.keys[0];
	if (nn)
		insert_child(tree, p, (int)h - 2, first + m, nn->l.keys[0], nn,
			     edge);
}

/*
 * Whether [key, last] overlaps the entries around position @pos of @leaf:
 * the predecessor's range (through @last_of) or the successor's start. Both
 * neighbours are at most one leaf link away, so the check costs no descent.
 */
static bool overlaps_neighbours(const struct gpuvm_va_tree_node *leaf,
				unsigned int pos, uint64_t key, uint64_t last,
				gpuvm_va_tree_last_fn last_of)
{
	const struct gpuvm_va_tree_node *prev = leaf->l.prev;
	const struct gpuvm_va_tree_node *next = leaf->l.next;

	if (pos > 0) {
		if (last_of(leaf->l.vals[pos - 1]) >= key)
			return true;
	} else if (prev && last_of(prev->l.vals[prev->nr - 1]) >= key) {
		return true;
	}
	if (pos < leaf->nr)
		return leaf->l.keys[pos] <= last;
	return next && next->l.keys[0] <= last;
}

static int tree_insert(struct gpuvm_va_tree *tree, uint64_t key, void *val,
		       uint64_t last, gpuvm_va_tree_last_fn last_of)
{
	struct path p;
	struct gpuvm_va_tree_node *leaf;
	unsigned int pos;
	int ret;

	if (gpuvm_unlikely(!val))
		return -EINVAL;

	if (gpuvm_unlikely(!tree->root)) {
		ret = pool_fill(tree, 1);
		if (ret)
			return ret;
		leaf = pool_take(tree);
		leaf->nr = 1;
		leaf->level = 0;
		leaf->l.keys[0] = key;
		leaf->l.vals[0] = val;
		leaf->l.next = leaf->l.prev = NULL;
		tree->root = leaf;
		tree->height = 1;
		tree->nr_nodes = 1;
		goto done;
	}

	leaf = find_leaf_path(tree, key, &p);
	pos = count_lt(leaf->l.keys, leaf->nr, key);
	if (pos < leaf->nr && leaf->l.keys[pos] == key)
		return -EEXIST;
	if (last_of && overlaps_neighbours(leaf, pos, key, last, last_of))
		return -EEXIST;

	if (gpuvm_likely(leaf->nr < LEAF_CAP)) {
		unsigned int tail = leaf->nr - pos;

		memmove(leaf->l.keys + pos + 1, leaf->l.keys + pos,
			tail * sizeof(leaf->l.keys[0]));
		memmove(leaf->l.vals + pos + 1, leaf->l.vals + pos,
			tail * sizeof(leaf->l.vals[0]));
		leaf->l.keys[pos] = key;
		leaf->l.vals[pos] = val;
		leaf->nr++;
	} else {
		size_t need = insert_need(tree, &p);

		if (tree->nr_spare < need) {
			ret = pool_fill(tree, need);
			if (ret)
				return ret;
		}
		insert_full_leaf(tree, &p, pos, key, val);
	}

done:
	tree->count++;
	tree->seq++;
	/*
	 * Hand back what mass removals left in the pool, keeping a margin so
	 * that alternating removes and inserts do not churn the allocator.
	 * The margin always exceeds two inserts' worst case, so nodes that
	 * gpuvm_va_tree_prealloc() secured for a remap's two pieces survive
	 * the first piece's insert.
	 */
	if (!tree->reserved && gpuvm_unlikely(tree->nr_spare > 16)) {
		size_t slack =
			16 + 2 * (size_t)tree->height + tree->nr_nodes / 8;

		if (tree->nr_spare > slack)
			pool_shrink(tree, slack);
	}
	return 0;
}

int gpuvm_va_tree_insert(struct gpuvm_va_tree *tree, uint64_t key, void *val)
{
	return tree_insert(tree, key, val, key, NULL);
}

int gpuvm_va_tree_insert_range(struct gpuvm_va_tree *tree, uint64_t key,
			       uint64_t last, void *val,
			       gpuvm_va_tree_last_fn last_of)
{
	if (gpuvm_unlikely(last < key || !last_of))
		return -EINVAL;
	return tree_insert(tree, key, val, last, last_of);
}

/* Removal. */

/*
 * Restore the minimum fill of @n, child @i of @parent, by merging it with a
 * neighbour when both fit in one node, otherwise by evening out the pair.
 * Returns true if @parent lost a child (and may now be under-filled itself).
 */
static bool rebalance(struct gpuvm_va_tree *tree,
		      struct gpuvm_va_tree_node *parent, unsigned int i,
		      bool is_leaf)
{
	unsigned int cap = is_leaf ? LEAF_CAP : INNER_CAP;
	struct gpuvm_va_tree_node *n = parent->i.child[i];
	struct gpuvm_va_tree_node *left = i > 0 ? parent->i.child[i - 1] : NULL;
	struct gpuvm_va_tree_node *right =
		i + 1 < parent->nr ? parent->i.child[i + 1] : NULL;
	struct gpuvm_va_tree_node *g[2];
	unsigned int sizes[2], t, first;

	if (left && left->nr + n->nr <= cap) {
		g[0] = left;
		g[1] = n;
		first = i - 1;
	} else if (right && n->nr + right->nr <= cap) {
		g[0] = n;
		g[1] = right;
		first = i;
	} else {
		g[0] = left ? left : n;
		g[1] = left ? n : right;
		first = left ? i - 1 : i;
		if (is_leaf) {
			uint64_t tk[2 * LEAF_CAP];
			void *tv[2 * LEAF_CAP];

			t = leaf_gather(g, 2, tk, tv);
			sizes[0] = t / 2;
			sizes[1] = t - sizes[0];
			leaf_scatter(g, sizes, 2, tk, tv);
			parent->i.keys[first] = g[1]->l.keys[0];
		} else {
			uint64_t tk[INNER_TMP];
			struct gpuvm_va_tree_node *tc[INNER_TMP];

			t = inner_gather(g, 2, &parent->i.keys[first], tk, tc);
			sizes[0] = t / 2;
			sizes[1] = t - sizes[0];
			inner_scatter(g, sizes, 2, tk, tc,
				      &parent->i.keys[first]);
		}
		return false;
	}

	/* Merge g[1] into g[0]. */
	if (is_leaf) {
		struct gpuvm_va_tree_node *a = g[0], *b = g[1];

		memcpy(a->l.keys + a->nr, b->l.keys, b->nr * sizeof(uint64_t));
		memcpy(a->l.vals + a->nr, b->l.vals, b->nr * sizeof(void *));
		a->nr += b->nr;
		a->l.next = b->l.next;
		if (b->l.next)
			b->l.next->l.prev = a;
	} else {
		struct gpuvm_va_tree_node *a = g[0], *b = g[1];

		a->i.keys[a->nr - 1] = parent->i.keys[first];
		memcpy(a->i.keys + a->nr, b->i.keys,
		       (b->nr - 1) * sizeof(uint64_t));
		memcpy(a->i.child + a->nr, b->i.child,
		       b->nr * sizeof(struct gpuvm_va_tree_node *));
		a->nr += b->nr;
	}
	inner_remove_at(parent, first + 1);
	pool_put(tree, g[1]);
	tree->nr_nodes--;
	return true;
}

void *gpuvm_va_tree_remove(struct gpuvm_va_tree *tree, uint64_t key)
{
	struct path p;
	struct gpuvm_va_tree_node *leaf;
	unsigned int pos, h = tree->height;
	void *val;
	int d;

	if (!tree->root)
		return NULL;
	leaf = find_leaf_path(tree, key, &p);
	pos = count_lt(leaf->l.keys, leaf->nr, key);
	if (pos >= leaf->nr || leaf->l.keys[pos] != key)
		return NULL;

	val = leaf->l.vals[pos];
	memmove(leaf->l.keys + pos, leaf->l.keys + pos + 1,
		(leaf->nr - pos - 1) * sizeof(leaf->l.keys[0]));
	memmove(leaf->l.vals + pos, leaf->l.vals + pos + 1,
		(leaf->nr - pos - 1) * sizeof(leaf->l.vals[0]));
	leaf->nr--;
	tree->count--;
	tree->seq++;

	for (d = (int)h - 1; d > 0; d--) {
		bool is_leaf = d == (int)h - 1;

		if (p.node[d]->nr >= (is_leaf ? LEAF_MIN : INNER_MIN))
			break;
		if (!rebalance(tree, p.node[d - 1], p.idx[d - 1], is_leaf))
			break;
	}

	if (h > 1 && tree->root->nr == 1) {
		struct gpuvm_va_tree_node *old = tree->root;

		tree->root = old->i.child[0];
		tree->height--;
		pool_put(tree, old);
		tree->nr_nodes--;
	} else if (h == 1 && !tree->root->nr) {
		pool_put(tree, tree->root);
		tree->root = NULL;
		tree->height = 0;
		tree->nr_nodes = 0;
	}
	return val;
}

/* Lookup and cursors. */

void *gpuvm_va_tree_lookup(const struct gpuvm_va_tree *tree, uint64_t key)
{
	const struct gpuvm_va_tree_node *leaf;
	unsigned int pos;

	if (!tree->root)
		return NULL;
	leaf = find_leaf(tree, key);
	pos = count_lt(leaf->l.keys, leaf->nr, key);
	if (pos < leaf->nr && leaf->l.keys[pos] == key)
		return leaf->l.vals[pos];
	return NULL;
}

void gpuvm_va_tree_prefetch(const struct gpuvm_va_tree *tree,
			    const uint64_t *keys, size_t n)
{
	enum { BATCH = 16 };

	if (!tree->root || tree->height < 2)
		return;
	for (size_t base = 0; base < n; base += BATCH) {
		const struct gpuvm_va_tree_node *cur[BATCH];
		size_t m = n - base < BATCH ? n - base : BATCH;

		for (size_t i = 0; i < m; i++)
			cur[i] = tree->root;
		/*
		 * Level by level across the batch: the misses of one level
		 * are all in flight together instead of one after another.
		 */
		for (unsigned int d = 0; d + 1 < tree->height; d++) {
			for (size_t i = 0; i < m; i++) {
				const struct gpuvm_va_tree_node *c = cur[i];
				unsigned int j = count_le(c->i.keys, c->nr - 1,
							  keys[base + i]);

				cur[i] = c->i.child[j];
				prefetch_node(cur[i]);
			}
		}
		/* The values the lookups will read: the entry at or below. */
		for (size_t i = 0; i < m; i++) {
			unsigned int j = count_le(cur[i]->l.keys, cur[i]->nr,
						  keys[base + i]);

			if (j)
				gpuvm_prefetch(cur[i]->l.vals[j - 1]);
			if (j < cur[i]->nr)
				gpuvm_prefetch(cur[i]->l.vals[j]);
		}
	}
}

int gpuvm_va_tree_replace(struct gpuvm_va_tree *tree, uint64_t key,
			  uint64_t new_key, void *val)
{
	struct gpuvm_va_tree_node *n = tree->root;
	uint64_t bound = UINT64_MAX;
	bool bounded = false;
	unsigned int pos;

	if (!n)
		return -ENOENT;
	/* The descent also finds the separator right of the leaf. */
	for (unsigned int d = 0; d + 1 < tree->height; d++) {
		unsigned int i = count_le(n->i.keys, n->nr - 1, key);

		if (i + 1 < n->nr && (!bounded || n->i.keys[i] < bound)) {
			bound = n->i.keys[i];
			bounded = true;
		}
		n = n->i.child[i];
	}
	pos = count_lt(n->l.keys, n->nr, key);
	if (pos >= n->nr || n->l.keys[pos] != key)
		return -ENOENT;
	/*
	 * Raising the key keeps every separator left of the entry true; the
	 * entry must stay below its successor in the leaf, or below the
	 * separator that bounds the leaf on the right.
	 */
	if (new_key < key)
		return -ERANGE;
	if (pos + 1 < n->nr ? new_key >= n->l.keys[pos + 1]
			    : bounded && new_key >= bound)
		return -ERANGE;
	n->l.keys[pos] = new_key;
	n->l.vals[pos] = val;
	tree->seq++;
	return 0;
}

static void cursor_set(const struct gpuvm_va_tree *tree,
		       struct gpuvm_va_tree_cursor *cur,
		       const struct gpuvm_va_tree_node *leaf, unsigned int idx)
{
	/* Cursors read through the leaf only; they never write it. */
	cur->leaf = (struct gpuvm_va_tree_node *)leaf;
	cur->idx = idx;
	cur->seq = tree->seq;
}

bool gpuvm_va_tree_seek_le(const struct gpuvm_va_tree *tree, uint64_t key,
			   struct gpuvm_va_tree_cursor *cur)
{
	const struct gpuvm_va_tree_node *leaf;
	unsigned int n;

	if (!tree->root)
		return false;
	leaf = find_leaf(tree, key);
	n = count_le(leaf->l.keys, leaf->nr, key);
	if (!n) {
		/* A stale left separator: the answer ends the previous leaf. */
		leaf = leaf->l.prev;
		if (!leaf)
			return false;
		n = leaf->nr;
	}
	cursor_set(tree, cur, leaf, n - 1);
	return true;
}

bool gpuvm_va_tree_seek_ge(const struct gpuvm_va_tree *tree, uint64_t key,
			   struct gpuvm_va_tree_cursor *cur)
{
	const struct gpuvm_va_tree_node *leaf;
	unsigned int n;

	if (!tree->root)
		return false;
	leaf = find_leaf(tree, key);
	n = count_lt(leaf->l.keys, leaf->nr, key);
	if (n == leaf->nr) {
		leaf = leaf->l.next;
		if (!leaf)
			return false;
		n = 0;
	}
	cursor_set(tree, cur, leaf, n);
	return true;
}

bool gpuvm_va_tree_first(const struct gpuvm_va_tree *tree,
			 struct gpuvm_va_tree_cursor *cur)
{
	const struct gpuvm_va_tree_node *n = tree->root;

	if (!n)
		return false;
	for (unsigned int d = 1; d < tree->height; d++)
		n = n->i.child[0];
	cursor_set(tree, cur, n, 0);
	return true;
}

bool gpuvm_va_tree_last(const struct gpuvm_va_tree *tree,
			struct gpuvm_va_tree_cursor *cur)
{
	const struct gpuvm_va_tree_node *n = tree->root;

	if (!n)
		return false;
	for (unsigned int d = 1; d < tree->height; d++)
		n = n->i.child[n->nr - 1];
	cursor_set(tree, cur, n, n->nr - 1);
	return true;
}

bool gpuvm_va_tree_next(struct gpuvm_va_tree_cursor *cur)
{
	if (cur->idx + 1 < cur->leaf->nr) {
		cur->idx++;
		return true;
	}
	cur->leaf = cur->leaf->l.next;
	cur->idx = 0;
	if (!cur->leaf)
		return false;
	/*
	 * A walk that entered a leaf will likely enter the one after it;
	 * fetching it now overlaps its miss with this leaf's entries.
	 */
	if (cur->leaf->l.next)
		prefetch_node(cur->leaf->l.next);
	return true;
}

bool gpuvm_va_tree_prev(struct gpuvm_va_tree_cursor *cur)
{
	if (cur->idx > 0) {
		cur->idx--;
		return true;
	}
	cur->leaf = cur->leaf->l.prev;
	if (!cur->leaf)
		return false;
	if (cur->leaf->l.prev)
		prefetch_node(cur->leaf->l.prev);
	cur->idx = cur->leaf->nr - 1;
	return true;
}

uint64_t gpuvm_va_tree_cursor_key(const struct gpuvm_va_tree_cursor *cur)
{
	return cur->leaf->l.keys[cur->idx];
}

void *gpuvm_va_tree_cursor_val(const struct gpuvm_va_tree_cursor *cur)
{
	return cur->leaf->l.vals[cur->idx];
}

/* Verification. */

struct check_state {
	const struct gpuvm_va_tree *tree;
	char *msg;
	size_t len;
	/* The leaf visited before, i.e. the previous one in key order. */
	const struct gpuvm_va_tree_node *last_leaf;
	size_t entries;
	size_t nodes;
};

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static int
check_fail(struct check_state *s, const char *fmt, ...)
{
	va_list ap;

	if (s->msg && s->len) {
		va_start(ap, fmt);
		vsnprintf(s->msg, s->len, fmt, ap);
		va_end(ap);
	}
	return -EUCLEAN;
}

/*
 * Walk the subtree at @n (depth @d) whose keys must lie in [@lo, @hi); a
 * missing bound is flagged by @has_lo / @has_hi. @lmost / @rmost say whether
 * @n is the outermost node of its level, which exempts it from the minimum
 * fill (edge splits leave such nodes sparse on purpose).
 */
static int check_node(struct check_state *s, const struct gpuvm_va_tree_node *n,
		      unsigned int d, bool has_lo, uint64_t lo, bool has_hi,
		      uint64_t hi, bool lmost, bool rmost)
{
	const struct gpuvm_va_tree *tree = s->tree;
	bool is_leaf = d + 1 == tree->height;
	bool root = d == 0, edge = lmost || rmost;
	unsigned int nr = n->nr;
	int ret;

	s->nodes++;
	if (s->nodes > tree->nr_nodes)
		return check_fail(s, "more nodes reachable than nr_nodes %zu",
				  tree->nr_nodes);
	if (n->level != tree->height - 1 - d)
		return check_fail(s,
				  "node %p at depth %u has level %u, height %u",
				  (const void *)n, d, n->level, tree->height);

	if (is_leaf) {
		if (nr < 1 || nr > LEAF_CAP)
			return check_fail(s, "leaf %p at depth %u holds %u",
					  (const void *)n, d, nr);
		if (!root && !edge && nr < LEAF_MIN)
			return check_fail(s, "leaf %p under-filled: %u < %u",
					  (const void *)n, nr, LEAF_MIN);
		for (unsigned int i = 0; i < nr; i++) {
			uint64_t k = n->l.keys[i];

			if (i && n->l.keys[i - 1] >= k)
				return check_fail(s,
						  "leaf %p keys unsorted at %u",
						  (const void *)n, i);
			if ((has_lo && k < lo) || (has_hi && k >= hi))
				return check_fail(s,
						  "leaf %p key %#llx outside "
						  "its separators",
						  (const void *)n,
						  (unsigned long long)k);
			if (!n->l.vals[i])
				return check_fail(s, "NULL value at key %#llx",
						  (unsigned long long)k);
		}
		if (n->l.prev != s->last_leaf)
			return check_fail(s, "leaf %p prev link is %p, not %p",
					  (const void *)n,
					  (const void *)n->l.prev,
					  (const void *)s->last_leaf);
		if (s->last_leaf) {
			if (s->last_leaf->l.next != n)
				return check_fail(s,
						  "leaf %p next link skips %p",
						  (const void *)s->last_leaf,
						  (const void *)n);
			if (s->last_leaf->l.keys[s->last_leaf->nr - 1] >=
			    n->l.keys[0])
				return check_fail(
					s, "leaf chain out of order at %p",
					(const void *)n);
		}
		s->last_leaf = n;
		s->entries += nr;
		return 0;
	}

	if (nr < 2 || nr > INNER_CAP)
		return check_fail(s,
				  "inner node %p at depth %u has %u children",
				  (const void *)n, d, nr);
	if (!root && !edge && nr < INNER_MIN)
		return check_fail(s, "inner node %p under-filled: %u < %u",
				  (const void *)n, nr, INNER_MIN);
	for (unsigned int i = 0; i + 1 < nr; i++) {
		uint64_t k = n->i.keys[i];

		if (i && n->i.keys[i - 1] >= k)
			return check_fail(s,
					  "inner node %p keys unsorted at %u",
					  (const void *)n, i);
		if ((has_lo && k < lo) || (has_hi && k >= hi))
			return check_fail(
				s,
				"inner node %p separator %#llx out of bounds",
				(const void *)n, (unsigned long long)k);
	}
	for (unsigned int i = 0; i < nr; i++) {
		bool clo = i ? true : has_lo, chi = i + 1 < nr ? true : has_hi;
		uint64_t cl = i ? n->i.keys[i - 1] : lo;
		uint64_t ch = i + 1 < nr ? n->i.keys[i] : hi;

		if (!n->i.child[i])
			return check_fail(s, "inner node %p child %u is NULL",
					  (const void *)n, i);
		ret = check_node(s, n->i.child[i], d + 1, clo, cl, chi, ch,
				 lmost && i == 0, rmost && i + 1 == nr);
		if (ret)
			return ret;
	}
	return 0;
}

int gpuvm_va_tree_check(const struct gpuvm_va_tree *tree, char *msg, size_t len)
{
	struct check_state s = { .tree = tree, .msg = msg, .len = len };
	const struct gpuvm_va_tree_node *sp;
	size_t spares = 0;
	int ret;

	if (msg && len)
		msg[0] = '\0';
	if (!tree->root) {
		if (tree->height || tree->count || tree->nr_nodes)
			return check_fail(
				&s,
				"empty tree with height %u count %zu nodes %zu",
				tree->height, tree->count, tree->nr_nodes);
	} else {
		if (!tree->height || tree->height > MAX_HEIGHT)
			return check_fail(&s, "height %u out of range",
					  tree->height);
		ret = check_node(&s, tree->root, 0, false, 0, false, 0, true,
				 true);
		if (ret)
			return ret;
		if (s.last_leaf->l.next)
			return check_fail(&s, "last leaf %p has a next link",
					  (const void *)s.last_leaf);
		if (s.entries != tree->count)
			return check_fail(&s, "count %zu but %zu entries",
					  tree->count, s.entries);
		if (s.nodes != tree->nr_nodes)
			return check_fail(&s, "nr_nodes %zu but %zu reachable",
					  tree->nr_nodes, s.nodes);
	}
	for (sp = tree->spare; sp; sp = sp->spare_next) {
		if (++spares > tree->nr_spare)
			break;
	}
	if (spares != tree->nr_spare)
		return check_fail(&s, "nr_spare %zu but the pool holds %s%zu",
				  tree->nr_spare,
				  spares > tree->nr_spare ? "more than " : "",
				  spares > tree->nr_spare ? tree->nr_spare
							  : spares);
	return 0;
}
