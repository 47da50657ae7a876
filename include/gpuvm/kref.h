/* SPDX-License-Identifier: MIT */
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
#ifndef GPUVM_KREF_H
#define GPUVM_KREF_H

#include <stdatomic.h>
#include <stdbool.h>

/*
 * DOC: Reference counts
 *
 * An atomic count whose last put calls a release function, as the kernel's
 * kref.
 *
 * Memory order. get is relaxed: a caller can only get a reference it can
 * already reach through another reference, so nothing needs publishing.
 * put is a release RMW, so that every access made through the reference
 * happens-before the drop; the thread that observes the 1->0 transition then
 * performs an acquire load, so that the release function sees all those
 * accesses before it frees the object. get_unless_zero is a relaxed CAS loop:
 * the caller's lookup lock (or the lock-free list's acquire) orders the
 * object's memory. No standalone fences are used: ThreadSanitizer does not
 * model them.
 *
 * | operation            | may race with         | order               |
 * | -------------------- | --------------------- | ------------------- |
 * | gpuvm_kref_get       | get, put, read        | relaxed RMW         |
 * | gpuvm_kref_put       | get, put, read        | release RMW; acquire|
 * |                      |                       | load on 1->0        |
 * | gpuvm_kref_get_unless_zero | get, put, read  | relaxed CAS         |
 * | gpuvm_kref_dec_not_one | get, put, read      | release CAS         |
 * | gpuvm_kref_read      | anything              | relaxed load        |
 */

/**
 * struct gpuvm_kref - a reference count
 * @refcount: the count; touch only through the functions below
 */
struct gpuvm_kref {
	atomic_uint refcount;
};

/**
 * gpuvm_kref_init() - set the count to one
 * @kref: the count
 *
 * Not atomic with respect to other operations: call it before publishing the
 * object.
 */
static inline void gpuvm_kref_init(struct gpuvm_kref *kref)
{
	atomic_init(&kref->refcount, 1);
}

/**
 * gpuvm_kref_read() - a snapshot of the count, for assertions and statistics
 * @kref: the count
 *
 * Return: the count at some recent moment.
 */
static inline unsigned int gpuvm_kref_read(const struct gpuvm_kref *kref)
{
	return atomic_load_explicit((atomic_uint *)(void *)&kref->refcount,
				    memory_order_relaxed);
}

/**
 * gpuvm_kref_get() - take one more reference
 * @kref: the count; the caller must already hold a reference
 */
static inline void gpuvm_kref_get(struct gpuvm_kref *kref)
{
	atomic_fetch_add_explicit(&kref->refcount, 1, memory_order_relaxed);
}

/**
 * gpuvm_kref_get_unless_zero() - take a reference unless the count is zero
 * @kref: the count
 *
 * For lookups that can meet an object whose last reference is being dropped.
 *
 * Return: true if a reference was taken.
 */
static inline bool gpuvm_kref_get_unless_zero(struct gpuvm_kref *kref)
{
	unsigned int old =
		atomic_load_explicit(&kref->refcount, memory_order_relaxed);

	do {
		if (old == 0)
			return false;
	} while (!atomic_compare_exchange_weak_explicit(
		&kref->refcount, &old, old + 1, memory_order_relaxed,
		memory_order_relaxed));
	return true;
}

/**
 * gpuvm_kref_dec_not_one() - drop a reference unless it is the last one
 * @kref: the count
 *
 * The fast path of a put whose last reference must be dropped under a lock
 * (the kernel's kref_put_mutex()): only the 1->0 transition needs the lock,
 * so that lookups under the same lock never see a count of zero. A release
 * CAS, like gpuvm_kref_put().
 *
 * Return: true if a reference was dropped (the count was above one); false
 * if the count is one, and the caller must take its lock and use
 * gpuvm_kref_put().
 */
static inline bool gpuvm_kref_dec_not_one(struct gpuvm_kref *kref)
{
	unsigned int old =
		atomic_load_explicit(&kref->refcount, memory_order_relaxed);

	do {
		if (old == 1)
			return false;
	} while (!atomic_compare_exchange_weak_explicit(
		&kref->refcount, &old, old - 1, memory_order_release,
		memory_order_relaxed));
	return true;
}

/**
 * gpuvm_kref_put() - drop a reference and release on the last one
 * @kref: the count
 * @release: called with @kref when the count drops to zero
 *
 * Return: true if this call dropped the last reference (and @release ran).
 */
static inline bool gpuvm_kref_put(struct gpuvm_kref *kref,
				  void (*release)(struct gpuvm_kref *kref))
{
	if (atomic_fetch_sub_explicit(&kref->refcount, 1,
				      memory_order_release) != 1)
		return false;
	/* Pair with every other putter's release before the object goes. */
	(void)atomic_load_explicit(&kref->refcount, memory_order_acquire);
	release(kref);
	return true;
}

#endif /* GPUVM_KREF_H */
