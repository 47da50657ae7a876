/* SPDX-License-Identifier: MIT */
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
#ifndef GPUVM_LLIST_H
#define GPUVM_LLIST_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include <gpuvm/compiler.h>

/*
 * DOC: Lock-free list
 *
 * A singly-linked list of nodes embedded in the objects it links, with the
 * semantics of the kernel's llist: any number of threads may push nodes at
 * any time, without a lock and without waiting for each other, while a
 * consumer takes the whole list in one atomic exchange. Nothing here
 * allocates, sleeps or takes a lock, so a push is fit for a fence-signalling
 * critical path: the deferred vm_bo cleanup pushes a dying vm_bo there and a
 * cleanup thread drains the list later, outside of it.
 *
 * The list is a stack: gpuvm_llist_del_all() returns the chain newest first.
 * Walk it as it is when order does not matter (it usually does not: the
 * reversal costs a second pass over cold nodes), or pass it through
 * gpuvm_llist_reverse_order() to get the push order back.
 *
 * Which calls may run at the same time on one head. "-": no lock is needed
 * between the two; "L": the caller must serialise them (one lock taken by
 * both, or ownership of the list). The *_unsync twins need exclusive access
 * against everything, themselves included.
 *
 * |            | add | add_batch | del_first | del_all | *_unsync |
 * | ---------- | --- | --------- | --------- | ------- | -------- |
 * | add        |  -  |     -     |     -     |    -    |    L     |
 * | add_batch  |  -  |     -     |     -     |    -    |    L     |
 * | del_first  |  -  |     -     |     L     |    L    |    L     |
 * | del_all    |  -  |     -     |     L     |    -    |    L     |
 * | *_unsync   |  L  |     L     |     L     |    L    |    L     |
 *
 * gpuvm_llist_empty() and gpuvm_llist_on_list() may run against anything:
 * they return a snapshot that can be stale by the time the caller looks at it.
 *
 * Why del_first needs a lock against the other consumers. It reads the first
 * node, then that node's successor, then swings the head from the first node
 * to the successor if the head still points at the first node. Between the
 * read and the swing another consumer may take the first node and its
 * successor, free the successor and push the first node back: the head holds
 * the same pointer again (the ABA problem), the swing succeeds and installs a
 * freed node as the head. A del_all in that window is as bad, and the read of
 * the successor may itself touch a node another consumer has freed.
 * Producers cannot cause this: they never take a node off the list.
 *
 * Memory order of every atomic, and why. There are no standalone fences
 * (ThreadSanitizer does not model them); every ordering comes from an
 * acquire or release on the head.
 *
 * | operation              | atomic                    | order             |
 * | ---------------------- | ------------------------- | ----------------- |
 * | add, add_batch         | head load (first try)     | relaxed           |
 * |                        | last->next store          | relaxed           |
 * |                        | head CAS, success         | release           |
 * |                        | head CAS, failure         | relaxed           |
 * | del_all                | head exchange with NULL   | acquire           |
 * | del_first              | head load                 | acquire           |
 * |                        | first->next load          | relaxed           |
 * |                        | head CAS, success/failure | acquire / acquire |
 * | empty                  | head load                 | relaxed           |
 * | on_list, next, walking | node->next load           | relaxed           |
 * | init_llist_node        | node->next store (self)   | relaxed           |
 * | init_head              | head store (NULL)         | relaxed           |
 * | reverse_order          | node->next load, store    | relaxed           |
 * | *_unsync               | head and ->next accesses  | relaxed           |
 *
 * - The push CAS is a release so that everything the producer wrote to its
 *   nodes, the links between them and @last->next included, is visible to
 *   whoever acquires the head afterwards. The store to @last->next and the
 *   first head load can be relaxed: the CAS publishes the former and checks
 *   the latter. A failed CAS only copies the new head into @last->next for
 *   the next try; the producer never dereferences another node, so it needs
 *   no acquire.
 * - Every concurrent write to the head is a read-modify-write, so every
 *   push heads a release sequence that runs through all later pushes and
 *   removals: one acquire exchange in del_all synchronises with the push of
 *   every node on the chain it takes, not only the last one. (The *_unsync
 *   twins store plainly, which would cut such sequences short; the lock or
 *   hand-over that gives them exclusive access supplies the ordering.)
 *   del_all needs no release: consumers publish nothing to producers through
 *   the head.
 * - del_first reads the first node's link before its CAS, so the load that
 *   found the node must be an acquire: without it the link could be read
 *   before the pusher's store to it is visible. A failed CAS reloads the
 *   head for another try and is an acquire for the same reason. C11 forbids
 *   a failure order stronger than the success order, hence acquire on
 *   success too (free on x86-64 and on arm64's LDAXR/CASA).
 * - empty and on_list are hints: they order nothing and publish nothing. A
 *   caller that acts on "not empty" must still take the nodes with del_all or
 *   del_first, whose acquire orders what follows; a node's on_list answer is
 *   only stable while its owner keeps it where it is.
 * - Walking a taken chain, reversing it and re-initialising its nodes are
 *   relaxed because the chain belongs to the thread that took it; the
 *   acquire that took it already ordered the producers' writes before them.
 * - Node links are atomic objects (accessed with relaxed loads and stores,
 *   which compile to plain moves) so that gpuvm_llist_on_list() may race with
 *   a push or a re-initialisation of the same node without a data race.
 *
 * The *_unsync twins (the kernel's __llist_* and liburcu's __cds_* variants)
 * do the same work with relaxed loads and stores in place of the CAS and the
 * exchange. They are for a list the caller owns outright, typically a private
 * head used to build a chain for gpuvm_llist_add_batch(), or for a list every
 * user of which takes the same lock. The suffix names that calling context:
 * the caller, not the list, synchronises.
 *
 * Pushes are lock-free and async-signal-safe (pointer atomics are lock-free
 * on every supported target; the library checks this at build time): a
 * signal handler may push. A del_first interrupted by a handler that takes
 * the consumer lock deadlocks, as with any lock.
 *
 * C11 has no typeof, so the entry iterators take the entry type explicitly.
 */

/**
 * struct gpuvm_llist_node - a link embedded in an entry
 * @next: the next node towards the oldest; NULL at the end of a chain, the
 *        node itself when it is marked off-list. Read it with
 *        gpuvm_llist_next().
 */
struct gpuvm_llist_node {
	_Atomic(struct gpuvm_llist_node *) next;
};

/**
 * struct gpuvm_llist_head - a lock-free list
 * @first: the newest node, or NULL when the list is empty
 */
struct gpuvm_llist_head {
	_Atomic(struct gpuvm_llist_node *) first;
};

/** GPUVM_LLIST_HEAD_INIT - static initialiser of an empty list */
#define GPUVM_LLIST_HEAD_INIT                                                  \
	{                                                                      \
		NULL                                                           \
	}

/**
 * gpuvm_llist_init_head() - make @head an empty list
 * @head: the list head
 *
 * Not atomic with respect to the other operations: call it before the head
 * is shared.
 */
static inline void gpuvm_llist_init_head(struct gpuvm_llist_head *head)
{
	atomic_store_explicit(&head->first, NULL, memory_order_relaxed);
}

/**
 * gpuvm_init_llist_node() - mark @node as not on any list
 * @node: the node
 *
 * Points the node at itself, a value no listed node can hold, so that
 * gpuvm_llist_on_list() can tell. Optional: pushing a node overwrites its link
 * whatever it held. Taking nodes off a list does not mark them; a consumer
 * that relies on the marker calls this on each node it takes.
 */
static inline void gpuvm_init_llist_node(struct gpuvm_llist_node *node)
{
	atomic_store_explicit(&node->next, node, memory_order_relaxed);
}

/**
 * gpuvm_llist_on_list() - test whether @node is marked off-list
 * @node: a node that was initialised with gpuvm_init_llist_node() at least once
 *
 * Context: any; the answer is a snapshot.
 * Return: false if the node carries the off-list marker, true otherwise (it
 * was pushed and has not been marked again since).
 */
static inline bool gpuvm_llist_on_list(const struct gpuvm_llist_node *node)
{
	struct gpuvm_llist_node *n = (struct gpuvm_llist_node *)(void *)node;

	return atomic_load_explicit(&n->next, memory_order_relaxed) != n;
}

/**
 * gpuvm_llist_empty() - test whether a list has no nodes
 * @head: the list head
 *
 * Context: any; the answer is a snapshot that concurrent pushes and removals
 * may already have changed.
 * Return: true if the list was empty when looked at.
 */
static inline bool gpuvm_llist_empty(const struct gpuvm_llist_head *head)
{
	struct gpuvm_llist_head *h = (struct gpuvm_llist_head *)(void *)head;

	return atomic_load_explicit(&h->first, memory_order_relaxed) == NULL;
}

/**
 * gpuvm_llist_next() - the node after @node on a chain
 * @node: a node of a chain the caller took or owns
 *
 * Return: the next (older) node, or NULL at the end of the chain.
 */
static inline struct gpuvm_llist_node *
gpuvm_llist_next(const struct gpuvm_llist_node *node)
{
	struct gpuvm_llist_node *n = (struct gpuvm_llist_node *)(void *)node;

	return atomic_load_explicit(&n->next, memory_order_relaxed);
}

/**
 * gpuvm_llist_add_batch() - push a chain of nodes in one atomic step
 * @first: the newest node of the chain
 * @last: the oldest node of the chain; its link is overwritten
 * @head: the list
 *
 * The chain from @first to @last must be linked and owned by the caller; the
 * easy way to build one is with gpuvm_llist_add_unsync() on a private head,
 * after which @first is that head's first node and @last the node pushed
 * first. Consumers see the whole chain or none of it.
 *
 * Context: any, lock-free; see the table above.
 * Return: true if the list was empty before the push, i.e. the caller is the
 * one that has to tell the consumer there is work.
 */
GPUVM_EXPORT bool gpuvm_llist_add_batch(struct gpuvm_llist_node *first,
					struct gpuvm_llist_node *last,
					struct gpuvm_llist_head *head);

/**
 * gpuvm_llist_add() - push one node
 * @node: the node; it must not be on a list
 * @head: the list
 *
 * Context: any, lock-free; see the table above.
 * Return: true if the list was empty before the push.
 */
static inline bool gpuvm_llist_add(struct gpuvm_llist_node *node,
				   struct gpuvm_llist_head *head)
{
	return gpuvm_llist_add_batch(node, node, head);
}

/**
 * gpuvm_llist_del_all() - take every node off the list
 * @head: the list
 *
 * One atomic exchange. The nodes are not marked off-list.
 *
 * Context: any; concurrent with pushes and other del_all calls, not with
 * gpuvm_llist_del_first() (see the table above).
 * Return: the chain, newest first and NULL-terminated, now owned by the
 * caller; NULL if the list was empty.
 */
static inline struct gpuvm_llist_node *
gpuvm_llist_del_all(struct gpuvm_llist_head *head)
{
	return atomic_exchange_explicit(&head->first, NULL,
					memory_order_acquire);
}

/**
 * gpuvm_llist_del_first() - take the newest node off the list
 * @head: the list
 *
 * Subject to the ABA problem described above: every caller of
 * gpuvm_llist_del_first() and gpuvm_llist_del_all() on @head must hold one
 * common lock (pushes need not). The node is not marked off-list and its link
 * still points into the list; do not follow it.
 *
 * Context: under the consumers' lock.
 * Return: the node, now owned by the caller, or NULL if the list was empty.
 */
GPUVM_EXPORT struct gpuvm_llist_node *
gpuvm_llist_del_first(struct gpuvm_llist_head *head);

/**
 * gpuvm_llist_reverse_order() - reverse a chain
 * @node: the first node of a chain the caller owns, or NULL
 *
 * Return: the new first node (the old last one). Applied to what
 * gpuvm_llist_del_all() returned, it gives the nodes in push order.
 */
GPUVM_EXPORT struct gpuvm_llist_node *
gpuvm_llist_reverse_order(struct gpuvm_llist_node *node);

/**
 * gpuvm_llist_add_batch_unsync() - gpuvm_llist_add_batch() for an owned list
 * @first: the newest node of the chain
 * @last: the oldest node of the chain; its link is overwritten
 * @head: the list
 *
 * Context: the caller has exclusive access to @head (see the table above).
 * Return: true if the list was empty before the push.
 */
static inline bool gpuvm_llist_add_batch_unsync(struct gpuvm_llist_node *first,
						struct gpuvm_llist_node *last,
						struct gpuvm_llist_head *head)
{
	struct gpuvm_llist_node *old =
		atomic_load_explicit(&head->first, memory_order_relaxed);

	atomic_store_explicit(&last->next, old, memory_order_relaxed);
	atomic_store_explicit(&head->first, first, memory_order_relaxed);
	return old == NULL;
}

/**
 * gpuvm_llist_add_unsync() - gpuvm_llist_add() for an owned list
 * @node: the node; it must not be on a list
 * @head: the list
 *
 * Context: the caller has exclusive access to @head (see the table above).
 * Return: true if the list was empty before the push.
 */
static inline bool gpuvm_llist_add_unsync(struct gpuvm_llist_node *node,
					  struct gpuvm_llist_head *head)
{
	return gpuvm_llist_add_batch_unsync(node, node, head);
}

/**
 * gpuvm_llist_del_all_unsync() - gpuvm_llist_del_all() for an owned list
 * @head: the list
 *
 * Context: the caller has exclusive access to @head (see the table above).
 * Return: the chain, newest first, or NULL if the list was empty.
 */
static inline struct gpuvm_llist_node *
gpuvm_llist_del_all_unsync(struct gpuvm_llist_head *head)
{
	struct gpuvm_llist_node *first =
		atomic_load_explicit(&head->first, memory_order_relaxed);

	atomic_store_explicit(&head->first, NULL, memory_order_relaxed);
	return first;
}

/** gpuvm_llist_entry() - the entry of type @type that embeds node @ptr */
#define gpuvm_llist_entry(ptr, type, member)                                   \
	gpuvm_container_of(ptr, type, member)

/*
 * The entry iterators stop on a NULL node rather than on an entry computed
 * from it: subtracting a member offset from a null pointer is undefined.
 */
static inline void *gpuvm_llist_entry_or_null_(struct gpuvm_llist_node *node,
					       size_t offset)
{
	return node ? (void *)((char *)node - offset) : NULL;
}

/**
 * gpuvm_llist_for_each() - walk the nodes of a chain
 * @pos: a struct gpuvm_llist_node pointer used as the cursor
 * @node: the first node of the chain (e.g. what gpuvm_llist_del_all()
 *        returned)
 *
 * Walk only chains the caller took or owns: the nodes of a live list may be
 * taken and freed by a consumer under the walker's feet.
 */
#define gpuvm_llist_for_each(pos, node)                                        \
	for ((pos) = (node); (pos); (pos) = gpuvm_llist_next(pos))

/**
 * gpuvm_llist_for_each_safe() - walk nodes; @pos may be freed or pushed again
 * @pos: a struct gpuvm_llist_node pointer used as the cursor
 * @n: a struct gpuvm_llist_node pointer holding the next node
 * @node: the first node of the chain
 */
#define gpuvm_llist_for_each_safe(pos, n, node)                                \
	for ((pos) = (node); (pos) && ((n) = gpuvm_llist_next(pos), 1);        \
	     (pos) = (n))

/**
 * gpuvm_llist_for_each_entry() - walk the entries of a chain
 * @pos: a @type pointer used as the cursor
 * @node: the first node of the chain
 * @type: the entry type
 * @member: the name of the struct gpuvm_llist_node within @type
 */
#define gpuvm_llist_for_each_entry(pos, node, type, member)                    \
	for ((pos) = (type *)gpuvm_llist_entry_or_null_(                       \
		     (node), offsetof(type, member));                          \
	     (pos); (pos) = (type *)gpuvm_llist_entry_or_null_(                \
			    gpuvm_llist_next(&(pos)->member),                  \
			    offsetof(type, member)))

/**
 * gpuvm_llist_for_each_entry_safe() - walk entries; @pos may be freed or
 * pushed again
 * @pos: a @type pointer used as the cursor
 * @n: a @type pointer holding the next entry
 * @node: the first node of the chain
 * @type: the entry type
 * @member: the name of the struct gpuvm_llist_node within @type
 */
#define gpuvm_llist_for_each_entry_safe(pos, n, node, type, member)            \
	for ((pos) = (type *)gpuvm_llist_entry_or_null_(                       \
		     (node), offsetof(type, member));                          \
	     (pos) && ((n) = (type *)gpuvm_llist_entry_or_null_(               \
			       gpuvm_llist_next(&(pos)->member),               \
			       offsetof(type, member)),                        \
		      1);                                                      \
	     (pos) = (n))

#endif /* GPUVM_LLIST_H */
