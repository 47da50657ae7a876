// SPDX-License-Identifier: MIT
/*
 * Copyright (c) 2026 The libgpuvm authors
 *
 * The CAS loops of the lock-free list. The contract, and the reason for every
 * memory order used here, is in include/gpuvm/llist.h.
 */
#include <gpuvm/llist.h>

/*
 * The header promises lock-free, async-signal-safe pushes; an atomic pointer
 * emulated with a lock would break both.
 */
_Static_assert(ATOMIC_POINTER_LOCK_FREE == 2,
	       "gpuvm_llist needs lock-free atomic pointers");

bool gpuvm_llist_add_batch(struct gpuvm_llist_node *first,
			   struct gpuvm_llist_node *last,
			   struct gpuvm_llist_head *head)
{
	struct gpuvm_llist_node *old =
		atomic_load_explicit(&head->first, memory_order_relaxed);

	do {
		atomic_store_explicit(&last->next, old, memory_order_relaxed);
	} while (!atomic_compare_exchange_weak_explicit(
		&head->first, &old, first, memory_order_release,
		memory_order_relaxed));
	return old == NULL;
}

struct gpuvm_llist_node *gpuvm_llist_del_first(struct gpuvm_llist_head *head)
{
	struct gpuvm_llist_node *entry, *next;

	entry = atomic_load_explicit(&head->first, memory_order_acquire);
	do {
		if (!entry)
			return NULL;
		/*
		 * Safe only because the consumers' lock keeps @entry on the
		 * list until the CAS below: no one else can take it, free it
		 * or push it again in between.
		 */
		next = gpuvm_llist_next(entry);
	} while (!atomic_compare_exchange_weak_explicit(
		&head->first, &entry, next, memory_order_acquire,
		memory_order_acquire));
	return entry;
}

struct gpuvm_llist_node *
gpuvm_llist_reverse_order(struct gpuvm_llist_node *node)
{
	struct gpuvm_llist_node *rev = NULL;

	while (node) {
		struct gpuvm_llist_node *next = gpuvm_llist_next(node);

		atomic_store_explicit(&node->next, rev, memory_order_relaxed);
		rev = node;
		node = next;
	}
	return rev;
}
