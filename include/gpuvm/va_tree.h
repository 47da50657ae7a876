/* SPDX-License-Identifier: MIT */
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
#ifndef GPUVM_VA_TREE_H
#define GPUVM_VA_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <gpuvm/compiler.h>

/*
 * DOC: The VA tree
 *
 * An ordered map from a 64-bit key (a mapping's start address) to a pointer,
 * built as a B+tree: 512-byte nodes, keys stored next to each other so that a
 * search touches few cache lines, leaves linked for in-order walks. At 10^6
 * entries it is five levels deep where a binary tree is twenty.
 *
 * The tree never overlaps ranges itself: the VM layer keeps mappings disjoint
 * and uses the tree for "last entry at or below an address" and "first entry
 * at or above an address".
 *
 * Allocation. Removal never allocates. Insertion needs a new node only when a
 * node on its path is full; it takes such nodes from the tree's pool of spare
 * nodes and asks the allocator only when the pool is empty. Removal puts
 * emptied nodes back in the pool. A path that must not allocate (immediate
 * mode's run path, a fence-signalling section) first reserves, from a context
 * that may allocate, gpuvm_va_tree_insert_cost() nodes per insert it will
 * make; reservations add up, so several queued jobs can each reserve their
 * worst case, and each releases what it reserved once it has run. While
 * reservations are outstanding, every insert must be covered by one.
 *
 * Cursors. A cursor names a position; it stays valid until the next insert or
 * removal (the tree's sequence number changes). Callers that modify the tree
 * while walking it re-seek by key, which is what the VM's removal-safe
 * iterators do.
 *
 * Locking. None inside: the caller serialises every call on a tree (the VM's
 * tree lock). Lookups and cursor moves do not write to the tree, so several
 * readers may run concurrently under a read lock.
 */

struct gpuvm_va_tree_node;

/**
 * struct gpuvm_va_tree - a B+tree keyed by 64-bit address
 * @root: the root node, NULL while empty
 * @spare: the pool of spare nodes (a singly-linked list)
 * @seq: changes on every insert and removal; cursors compare against it
 * @count: entries in the tree
 * @nr_nodes: nodes in the tree (spares excluded)
 * @nr_spare: nodes in the pool
 * @reserved: nodes promised to outstanding reservations
 * @height: levels (0 while empty, 1 when the root is a leaf)
 */
struct gpuvm_va_tree {
	struct gpuvm_va_tree_node *root;
	struct gpuvm_va_tree_node *spare;
	uint64_t seq;
	size_t count;
	size_t nr_nodes;
	size_t nr_spare;
	size_t reserved;
	unsigned int height;
};

/**
 * struct gpuvm_va_tree_cursor - a position in a tree
 * @leaf: the leaf holding the entry
 * @idx: the entry's index in @leaf
 * @seq: the tree's sequence number when the cursor was placed
 */
struct gpuvm_va_tree_cursor {
	struct gpuvm_va_tree_node *leaf;
	unsigned int idx;
	uint64_t seq;
};

/**
 * gpuvm_va_tree_init() - initialise an empty tree
 * @tree: the tree
 *
 * Does not allocate.
 */
GPUVM_EXPORT void gpuvm_va_tree_init(struct gpuvm_va_tree *tree);

/**
 * gpuvm_va_tree_fini() - free every node of a tree and its pool
 * @tree: the tree; the values it still holds belong to the caller
 *
 * Afterwards the tree is empty and may be initialised again.
 */
GPUVM_EXPORT void gpuvm_va_tree_fini(struct gpuvm_va_tree *tree);

/**
 * gpuvm_va_tree_insert() - add an entry
 * @tree: the tree
 * @key: the key; must not be present
 * @val: the value, not NULL
 *
 * Takes the nodes it needs from the pool, allocating only if the pool runs
 * short, and only before it changes anything.
 *
 * Return: 0, -EEXIST if @key is present, -EINVAL if @val is NULL, -ENOMEM if a
 * node could not be allocated (the tree is unchanged).
 */
GPUVM_EXPORT int gpuvm_va_tree_insert(struct gpuvm_va_tree *tree, uint64_t key,
				      void *val);

/**
 * typedef gpuvm_va_tree_last_fn - the last address covered by a value
 * @val: a value stored with gpuvm_va_tree_insert_range()
 *
 * Return: the inclusive end of the range @val stands for.
 */
typedef uint64_t (*gpuvm_va_tree_last_fn)(const void *val);

/**
 * gpuvm_va_tree_insert_range() - add an entry for a range, refusing overlaps
 * @tree: the tree, holding disjoint ranges keyed by their start
 * @key: the first address of the range
 * @last: the last address of the range (inclusive), not below @key
 * @val: the value, not NULL
 * @last_of: gives the last address of a value already in the tree
 *
 * The tree then works as a map of disjoint ranges. The overlap test looks at
 * the two neighbours of the insert position, which the insert's own descent
 * reaches, so it costs no second lookup.
 *
 * Return: 0, -EEXIST if [@key, @last] overlaps an entry's range, -EINVAL for
 * @last below @key or a NULL @val or @last_of, -ENOMEM (tree unchanged).
 */
GPUVM_EXPORT int gpuvm_va_tree_insert_range(struct gpuvm_va_tree *tree,
					    uint64_t key, uint64_t last,
					    void *val,
					    gpuvm_va_tree_last_fn last_of);

/**
 * gpuvm_va_tree_remove() - remove the entry with @key
 * @tree: the tree
 * @key: the key
 *
 * Never allocates; emptied nodes go back to the pool.
 *
 * Return: the removed value, or NULL if @key is absent.
 */
GPUVM_EXPORT void *gpuvm_va_tree_remove(struct gpuvm_va_tree *tree,
					uint64_t key);

/**
 * gpuvm_va_tree_prefetch() - warm the caches for a batch of lookups
 * @tree: the tree
 * @keys: the keys about to be looked up (or inserted, or removed)
 * @n: how many
 *
 * Descends for all keys level by level, prefetching each node and, at the
 * leaves, the values at and after each key, so that the cache misses of a
 * batch overlap instead of queueing one behind the other. Changes nothing
 * and has no effect on results; a tree too large for the caches is where
 * it pays.
 *
 * Context: as a lookup (the caller's serialisation of @tree); never
 * allocates.
 */
GPUVM_EXPORT void gpuvm_va_tree_prefetch(const struct gpuvm_va_tree *tree,
					 const uint64_t *keys, size_t n);

/**
 * gpuvm_va_tree_replace() - give an entry a new key and value in place
 * @tree: the tree
 * @key: the entry's key
 * @new_key: its new key, at least @key
 * @val: its new value
 *
 * One descent, no node changes: what a split mapping needs when the piece
 * that stays starts where the old mapping did, or starts later but before
 * anything else. The entry keeps its place in the order, so @new_key must
 * stay below the next entry, and below the separator that bounds the
 * entry's leaf, which only the descent knows: when it would not, the call
 * changes nothing and the caller removes and inserts instead.
 *
 * Context: the caller's serialisation of @tree; never allocates.
 *
 * Return: 0; -ENOENT if no entry has @key; -ERANGE (nothing changed) if
 * @new_key is below @key or would leave the entry's place.
 */
GPUVM_EXPORT int gpuvm_va_tree_replace(struct gpuvm_va_tree *tree, uint64_t key,
				       uint64_t new_key, void *val);

/**
 * gpuvm_va_tree_lookup() - find the entry with exactly @key
 * @tree: the tree
 * @key: the key
 *
 * Return: its value, or NULL.
 */
GPUVM_EXPORT void *gpuvm_va_tree_lookup(const struct gpuvm_va_tree *tree,
					uint64_t key);

/**
 * gpuvm_va_tree_seek_le() - place a cursor on the last entry with key <= @key
 * @tree: the tree
 * @key: the bound
 * @cur: the cursor to place
 *
 * Return: true if such an entry exists; otherwise @cur is unusable.
 */
GPUVM_EXPORT bool gpuvm_va_tree_seek_le(const struct gpuvm_va_tree *tree,
					uint64_t key,
					struct gpuvm_va_tree_cursor *cur);

/**
 * gpuvm_va_tree_seek_ge() - place a cursor on the first entry with key >= @key
 * @tree: the tree
 * @key: the bound
 * @cur: the cursor to place
 *
 * Return: true if such an entry exists; otherwise @cur is unusable.
 */
GPUVM_EXPORT bool gpuvm_va_tree_seek_ge(const struct gpuvm_va_tree *tree,
					uint64_t key,
					struct gpuvm_va_tree_cursor *cur);

/**
 * gpuvm_va_tree_first() - place a cursor on the lowest entry
 * @tree: the tree
 * @cur: the cursor to place
 *
 * Return: false if the tree is empty.
 */
GPUVM_EXPORT bool gpuvm_va_tree_first(const struct gpuvm_va_tree *tree,
				      struct gpuvm_va_tree_cursor *cur);

/**
 * gpuvm_va_tree_last() - place a cursor on the highest entry
 * @tree: the tree
 * @cur: the cursor to place
 *
 * Return: false if the tree is empty.
 */
GPUVM_EXPORT bool gpuvm_va_tree_last(const struct gpuvm_va_tree *tree,
				     struct gpuvm_va_tree_cursor *cur);

/**
 * gpuvm_va_tree_next() - move a valid cursor to the next entry
 * @cur: a cursor placed since the tree last changed
 *
 * Return: false (and @cur unusable) if it was on the highest entry.
 */
GPUVM_EXPORT bool gpuvm_va_tree_next(struct gpuvm_va_tree_cursor *cur);

/**
 * gpuvm_va_tree_prev() - move a valid cursor to the previous entry
 * @cur: a cursor placed since the tree last changed
 *
 * Return: false (and @cur unusable) if it was on the lowest entry.
 */
GPUVM_EXPORT bool gpuvm_va_tree_prev(struct gpuvm_va_tree_cursor *cur);

/**
 * gpuvm_va_tree_cursor_key() - the key under a valid cursor
 * @cur: the cursor
 *
 * Return: the key.
 */
GPUVM_EXPORT uint64_t
gpuvm_va_tree_cursor_key(const struct gpuvm_va_tree_cursor *cur);

/**
 * gpuvm_va_tree_cursor_val() - the value under a valid cursor
 * @cur: the cursor
 *
 * Return: the value.
 */
GPUVM_EXPORT void *
gpuvm_va_tree_cursor_val(const struct gpuvm_va_tree_cursor *cur);

/**
 * gpuvm_va_tree_cursor_valid() - whether the tree changed since @cur was placed
 * @tree: the tree
 * @cur: the cursor
 *
 * Return: true if @cur may still be used.
 */
static inline bool
gpuvm_va_tree_cursor_valid(const struct gpuvm_va_tree *tree,
			   const struct gpuvm_va_tree_cursor *cur)
{
	return cur->seq == tree->seq;
}

/**
 * gpuvm_va_tree_insert_cost() - worst-case nodes one insert may take
 * @tree: the tree
 *
 * Covers a split at every level, a new root, and one level of growth that
 * other reserved inserts may cause before this one runs.
 *
 * Return: the number of nodes to reserve per insert.
 */
GPUVM_EXPORT size_t gpuvm_va_tree_insert_cost(const struct gpuvm_va_tree *tree);

/**
 * gpuvm_va_tree_reserve() - guarantee nodes for inserts that must not allocate
 * @tree: the tree
 * @nodes: how many nodes to add to the reservation
 *
 * Context: may allocate; serialised with every other call on @tree.
 *
 * Return: 0, or -ENOMEM with the reservation and the pool unchanged.
 */
GPUVM_EXPORT int gpuvm_va_tree_reserve(struct gpuvm_va_tree *tree,
				       size_t nodes);

/**
 * gpuvm_va_tree_unreserve() - give back a reservation once its inserts ran
 * @tree: the tree
 * @nodes: the amount passed to gpuvm_va_tree_reserve()
 *
 * Frees spare nodes beyond what outstanding reservations need.
 *
 * Context: may free memory; serialised with every other call on @tree.
 */
GPUVM_EXPORT void gpuvm_va_tree_unreserve(struct gpuvm_va_tree *tree,
					  size_t nodes);

/**
 * gpuvm_va_tree_prealloc() - make sure the pool holds at least @nodes nodes
 * @tree: the tree
 * @nodes: the pool size wanted, whatever is reserved
 *
 * For an operation that must be all-or-nothing across several inserts
 * (a remap): it secures the worst case first. Allocates only the shortfall,
 * so a path whose inserts are covered by a reservation never allocates here.
 *
 * Return: 0, or -ENOMEM with the pool unchanged.
 */
GPUVM_EXPORT int gpuvm_va_tree_prealloc(struct gpuvm_va_tree *tree,
					size_t nodes);

/**
 * struct gpuvm_va_tree_stash - nodes allocated away from the tree
 * @head: the nodes, singly linked
 * @count: how many
 *
 * A tree shared by a path that must not allocate is protected by a lock
 * that path takes, and nothing may allocate while holding such a lock. So
 * a reservation comes in two phases: fill a stash without the lock, then
 * hand it to gpuvm_va_tree_reserve_stash() under the lock, which allocates
 * nothing. gpuvm_va_tree_unreserve_stash() works the other way round:
 * spare nodes leave the tree into a stash under the lock, and are freed
 * after it is dropped. Initialise with zeros.
 */
struct gpuvm_va_tree_stash {
	struct gpuvm_va_tree_node *head;
	size_t count;
};

/**
 * gpuvm_va_tree_stash_fill() - allocate nodes into a stash
 * @stash: the stash
 * @nodes: the number of nodes the stash should hold
 *
 * Context: may allocate; touches no tree, so needs no lock.
 *
 * Return: 0, or -ENOMEM with the stash unchanged.
 */
GPUVM_EXPORT int gpuvm_va_tree_stash_fill(struct gpuvm_va_tree_stash *stash,
					  size_t nodes);

/**
 * gpuvm_va_tree_stash_free() - free every node of a stash
 * @stash: the stash; empty afterwards
 */
GPUVM_EXPORT void gpuvm_va_tree_stash_free(struct gpuvm_va_tree_stash *stash);

/**
 * gpuvm_va_tree_reserve_stash() - gpuvm_va_tree_reserve() without allocating
 * @tree: the tree
 * @nodes: how many nodes to add to the reservation
 * @stash: holds at least @nodes nodes; what the pool needs is moved from it,
 *         the rest stays for the caller to free (or keep)
 *
 * Context: the tree's lock; never allocates.
 *
 * Return: 0, or -ENOSPC if the stash holds fewer than the pool still needs
 * (nothing changed).
 */
GPUVM_EXPORT int gpuvm_va_tree_reserve_stash(struct gpuvm_va_tree *tree,
					     size_t nodes,
					     struct gpuvm_va_tree_stash *stash);

/**
 * gpuvm_va_tree_unreserve_stash() - gpuvm_va_tree_unreserve() without freeing
 * @tree: the tree
 * @nodes: the amount given to gpuvm_va_tree_reserve_stash()
 * @stash: receives the spare nodes no reservation needs any more; free
 *         them with gpuvm_va_tree_stash_free() after dropping the lock.
 *         NULL keeps them in the pool, for later reservations to find
 *         without allocating: a path that reserves and releases in a steady
 *         stream then moves no node at all; a later call with a stash (and
 *         @nodes 0) hands the surplus back.
 *
 * Context: the tree's lock; never calls the allocator.
 */
GPUVM_EXPORT void
gpuvm_va_tree_unreserve_stash(struct gpuvm_va_tree *tree, size_t nodes,
			      struct gpuvm_va_tree_stash *stash);

/**
 * gpuvm_va_tree_trim_stash() - move surplus spare nodes into a stash
 * @tree: the tree
 * @keep: spare nodes to leave in the pool beyond what reservations need
 *        (0: only the reserved ones)
 * @stash: receives the rest; free them with gpuvm_va_tree_stash_free()
 *         after dropping the lock
 *
 * For a path that keeps spares between reservations
 * (gpuvm_va_tree_unreserve_stash() with a NULL stash) and wants to bound
 * them.
 *
 * Context: the tree's lock; never calls the allocator.
 */
GPUVM_EXPORT void gpuvm_va_tree_trim_stash(struct gpuvm_va_tree *tree,
					   size_t keep,
					   struct gpuvm_va_tree_stash *stash);

/**
 * gpuvm_va_tree_trim() - free the spare nodes no reservation needs
 * @tree: the tree
 */
GPUVM_EXPORT void gpuvm_va_tree_trim(struct gpuvm_va_tree *tree);

/**
 * gpuvm_va_tree_node_size() - the bytes of one node
 *
 * Return: sizeof the node, for memory accounting.
 */
GPUVM_EXPORT size_t gpuvm_va_tree_node_size(void);

/**
 * gpuvm_va_tree_check() - verify every invariant of a tree
 * @tree: the tree
 * @msg: receives a description of the first broken invariant (may be NULL)
 * @len: size of @msg
 *
 * Checks key order within and across nodes, separator keys, fill bounds,
 * uniform leaf depth, the leaf chain in both directions, and the counters.
 * O(n); for tests and debug builds.
 *
 * Return: 0 if the tree is sound, -EUCLEAN otherwise.
 */
GPUVM_EXPORT int gpuvm_va_tree_check(const struct gpuvm_va_tree *tree,
				     char *msg, size_t len);

#endif /* GPUVM_VA_TREE_H */
