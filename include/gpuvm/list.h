/* SPDX-License-Identifier: MIT */
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
#ifndef GPUVM_LIST_H
#define GPUVM_LIST_H

#include <stdbool.h>
#include <stddef.h>

#include <gpuvm/compiler.h>

/*
 * DOC: Intrusive doubly-linked list
 *
 * A circular list with a sentinel head, embedded in the objects it links, in
 * the shape kernel developers know. None of these operations allocate or
 * synchronise: the caller owns the list or holds the lock that protects it.
 * Iteration macros name the entry type explicitly because C11 has no typeof.
 */

/**
 * struct gpuvm_list_head - a list head or a link embedded in an entry
 * @next: the next link, or the head itself at the end
 * @prev: the previous link, or the head itself at the start
 */
struct gpuvm_list_head {
	struct gpuvm_list_head *next;
	struct gpuvm_list_head *prev;
};

/**
 * gpuvm_list_init() - make @head an empty list (or an unlinked entry)
 * @head: the head or link to initialise
 */
static inline void gpuvm_list_init(struct gpuvm_list_head *head)
{
	head->next = head;
	head->prev = head;
}

static inline void gpuvm_list_insert_between(struct gpuvm_list_head *entry,
					     struct gpuvm_list_head *prev,
					     struct gpuvm_list_head *next)
{
	next->prev = entry;
	entry->next = next;
	entry->prev = prev;
	prev->next = entry;
}

/**
 * gpuvm_list_add() - insert @entry right after @head (stack order)
 * @entry: the link to insert; it must not be on a list
 * @head: the list head or an entry to insert after
 */
static inline void gpuvm_list_add(struct gpuvm_list_head *entry,
				  struct gpuvm_list_head *head)
{
	gpuvm_list_insert_between(entry, head, head->next);
}

/**
 * gpuvm_list_add_tail() - insert @entry right before @head (queue order)
 * @entry: the link to insert; it must not be on a list
 * @head: the list head or an entry to insert before
 */
static inline void gpuvm_list_add_tail(struct gpuvm_list_head *entry,
				       struct gpuvm_list_head *head)
{
	gpuvm_list_insert_between(entry, head->prev, head);
}

/**
 * gpuvm_list_del() - unlink @entry from its list
 * @entry: the link to remove
 *
 * The link's pointers are left dangling on purpose: use gpuvm_list_del_init()
 * when the entry is tested with gpuvm_list_empty() afterwards.
 */
static inline void gpuvm_list_del(struct gpuvm_list_head *entry)
{
	entry->next->prev = entry->prev;
	entry->prev->next = entry->next;
	entry->next = NULL;
	entry->prev = NULL;
}

/**
 * gpuvm_list_del_init() - unlink @entry and make it an empty list
 * @entry: the link to remove; removing an unlinked (initialised) entry is a
 *         no-op
 */
static inline void gpuvm_list_del_init(struct gpuvm_list_head *entry)
{
	entry->next->prev = entry->prev;
	entry->prev->next = entry->next;
	gpuvm_list_init(entry);
}

/**
 * gpuvm_list_empty() - test whether a list has no entries
 * @head: the list head (or an initialised link: "not on a list")
 *
 * Return: true if @head links only to itself.
 */
static inline bool gpuvm_list_empty(const struct gpuvm_list_head *head)
{
	return head->next == head;
}

/**
 * gpuvm_list_is_singular() - test whether a list has exactly one entry
 * @head: the list head
 *
 * Return: true if the list holds one entry.
 */
static inline bool gpuvm_list_is_singular(const struct gpuvm_list_head *head)
{
	return !gpuvm_list_empty(head) && head->next == head->prev;
}

/**
 * gpuvm_list_splice_tail_init() - move all entries of @from to the end of @to
 * @from: the list to empty
 * @to: the list to append to
 */
static inline void gpuvm_list_splice_tail_init(struct gpuvm_list_head *from,
					       struct gpuvm_list_head *to)
{
	if (gpuvm_list_empty(from))
		return;
	from->next->prev = to->prev;
	to->prev->next = from->next;
	from->prev->next = to;
	to->prev = from->prev;
	gpuvm_list_init(from);
}

/**
 * gpuvm_list_splice_init() - move all entries of @from to the front of @to
 * @from: the list to empty
 * @to: the list to prepend to; @from's order is kept
 */
static inline void gpuvm_list_splice_init(struct gpuvm_list_head *from,
					  struct gpuvm_list_head *to)
{
	struct gpuvm_list_head *first = from->next, *last = from->prev;

	if (gpuvm_list_empty(from))
		return;
	first->prev = to;
	last->next = to->next;
	to->next->prev = last;
	to->next = first;
	gpuvm_list_init(from);
}

/** gpuvm_list_entry() - the entry of type @type that embeds link @ptr */
#define gpuvm_list_entry(ptr, type, member)                                    \
	gpuvm_container_of(ptr, type, member)

/** gpuvm_list_first_entry() - the first entry of a non-empty list */
#define gpuvm_list_first_entry(head, type, member)                             \
	gpuvm_list_entry((head)->next, type, member)

/** gpuvm_list_last_entry() - the last entry of a non-empty list */
#define gpuvm_list_last_entry(head, type, member)                              \
	gpuvm_list_entry((head)->prev, type, member)

/** gpuvm_list_for_each() - walk the links of a list */
#define gpuvm_list_for_each(pos, head)                                         \
	for ((pos) = (head)->next; (pos) != (head); (pos) = (pos)->next)

/** gpuvm_list_for_each_safe() - walk links; @pos may be removed */
#define gpuvm_list_for_each_safe(pos, n, head)                                 \
	for ((pos) = (head)->next, (n) = (pos)->next; (pos) != (head);         \
	     (pos) = (n), (n) = (pos)->next)

/**
 * gpuvm_list_for_each_entry() - walk the entries of a list
 * @pos: a @type pointer used as the cursor
 * @head: the list head
 * @type: the entry type
 * @member: the name of the struct gpuvm_list_head within @type
 */
#define gpuvm_list_for_each_entry(pos, head, type, member)                     \
	for ((pos) = gpuvm_list_entry((head)->next, type, member);             \
	     &(pos)->member != (head);                                         \
	     (pos) = gpuvm_list_entry((pos)->member.next, type, member))

/**
 * gpuvm_list_for_each_entry_safe() - walk entries; @pos may be removed
 * @pos: a @type pointer used as the cursor
 * @n: a @type pointer holding the next entry
 * @head: the list head
 * @type: the entry type
 * @member: the name of the struct gpuvm_list_head within @type
 */
#define gpuvm_list_for_each_entry_safe(pos, n, head, type, member)             \
	for ((pos) = gpuvm_list_entry((head)->next, type, member),             \
	    (n) = gpuvm_list_entry((pos)->member.next, type, member);          \
	     &(pos)->member != (head); (pos) = (n),                            \
	    (n) = gpuvm_list_entry((n)->member.next, type, member))

/**
 * gpuvm_list_for_each_entry_reverse() - walk the entries backwards
 * @pos: a @type pointer used as the cursor
 * @head: the list head
 * @type: the entry type
 * @member: the name of the struct gpuvm_list_head within @type
 */
#define gpuvm_list_for_each_entry_reverse(pos, head, type, member)             \
	for ((pos) = gpuvm_list_entry((head)->prev, type, member);             \
	     &(pos)->member != (head);                                         \
	     (pos) = gpuvm_list_entry((pos)->member.prev, type, member))

#endif /* GPUVM_LIST_H */
