/* SPDX-License-Identifier: MIT */
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
#ifndef GPUVM_RESV_H
#define GPUVM_RESV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <gpuvm/compiler.h>
#include <gpuvm/fence.h>
#include <gpuvm/ww_mutex.h>

/*
 * DOC: Reservation objects
 *
 * A reservation (the kernel's dma_resv) guards a buffer: a ww-mutex of the
 * library-wide class gpuvm_reservation_ww_class(), and a container of the
 * fences of the work that uses the buffer, each tagged with a usage. Users
 * of the buffer lock it (alone, or with others in one acquire context),
 * reserve fence slots, submit work, add the work's fence, and unlock.
 *
 * Usages are ordered KERNEL < WRITE < READ < BOOKKEEP. Queries take a usage
 * and see every fence whose usage is less than or equal to it: asking for
 * WRITE returns the kernel and write fences (what a reader must wait for),
 * asking for READ returns those and the readers (what a writer must wait
 * for), BOOKKEEP returns everything.
 *
 * Adding follows the kernel's rule: a fence replaces an entry of the same
 * context whose usage is greater or equal and which it is later than or
 * equal to (a newer fence of a timeline implies the older one), or else any
 * entry that has signalled; only otherwise does it take a new slot.
 *
 * Reserved slots. Adding never allocates: slots are reserved first, with
 * gpuvm_resv_reserve_fences(), from a context that may allocate. The
 * reservation is a promise for the current lock hold only: every unlock
 * resets it to zero, in every build, while the allocated capacity stays
 * (so re-reserving after a relock usually allocates nothing). The kernel
 * resets the count on unlock only under CONFIG_DEBUG_MUTEXES; doing it
 * always keeps release and check builds identical. An add that takes a new
 * slot or replaces a signalled entry consumes one reserved slot, whichever
 * of the two happens, so whether a reservation was needed never depends on
 * timing; an add that replaces an entry of its own timeline (deterministic)
 * needs none. With checks enabled, an add that needs a slot when none is
 * reserved aborts; in every build, an add that finds no room at all aborts
 * (the kernel's BUG_ON) rather than corrupt memory.
 *
 * Locking. Changes (reserve, add) and gpuvm_resv_for_each_fence() need the
 * reservation lock. The fence queries that drivers call without it
 * (gpuvm_resv_test_signaled(), gpuvm_resv_wait_timeout(),
 * gpuvm_resv_get_fences()) take a small internal mutex instead, which
 * changes also take; that is this library's stand-in for the kernel's RCU
 * readers. Fence references are dropped outside the internal mutex.
 *
 * | operation            | needs                  | may race with          |
 * | -------------------- | ---------------------- | ---------------------- |
 * | lock, lock_slow,     | -                      | everything but         |
 * | trylock, unlock      |                        | init/fini (ww-mutex)   |
 * | reserve_fences,      | the reservation lock   | the unlocked queries   |
 * | add_fence            |                        | (@fence_lock)          |
 * | for_each_fence       | the reservation lock   | the unlocked queries   |
 * | test_signaled,       | nothing (@fence_lock   | everything but         |
 * | wait_timeout,        | inside)                | init/fini              |
 * | get_fences           |                        |                        |
 * | init, fini           | nothing may race       | nothing                |
 */

/**
 * enum gpuvm_resv_usage - how the work behind a fence uses the buffer
 * @GPUVM_RESV_USAGE_KERNEL: memory management work (moves, clears); every
 *                           user must wait for it
 * @GPUVM_RESV_USAGE_WRITE: work that writes the buffer
 * @GPUVM_RESV_USAGE_READ: work that reads the buffer
 * @GPUVM_RESV_USAGE_BOOKKEEP: work that implicit synchronisation ignores;
 *                             only memory management waits for it
 */
enum gpuvm_resv_usage {
	GPUVM_RESV_USAGE_KERNEL,
	GPUVM_RESV_USAGE_WRITE,
	GPUVM_RESV_USAGE_READ,
	GPUVM_RESV_USAGE_BOOKKEEP,
};

/**
 * gpuvm_resv_usage_rw() - the usage to wait for before reading or writing
 * @write: true for a writer (wait for readers too), false for a reader
 *
 * Return: GPUVM_RESV_USAGE_READ for a writer, GPUVM_RESV_USAGE_WRITE for a
 * reader.
 */
static inline enum gpuvm_resv_usage gpuvm_resv_usage_rw(bool write)
{
	return write ? GPUVM_RESV_USAGE_READ : GPUVM_RESV_USAGE_WRITE;
}

/**
 * struct gpuvm_resv_entry - one fence in a reservation
 * @fence: the fence (the reservation holds a reference)
 * @usage: its usage
 */
struct gpuvm_resv_entry {
	struct gpuvm_fence *fence;
	enum gpuvm_resv_usage usage;
};

/**
 * struct gpuvm_resv - a reservation object
 * @lock: the reservation lock
 * @fence_lock: orders changes against the unlocked queries; private
 * @fences: the entries, allocated by the library; private
 * @num_fences: entries in use
 * @max_fences: entries allocated
 * @num_reserved: slots promised to adds during this lock hold
 */
struct gpuvm_resv {
	struct gpuvm_ww_mutex lock;
	pthread_mutex_t fence_lock;
	struct gpuvm_resv_entry *fences;
	unsigned int num_fences;
	unsigned int max_fences;
	unsigned int num_reserved;
};

/**
 * struct gpuvm_resv_iter - cursor of gpuvm_resv_for_each_fence()
 * @resv: the reservation
 * @usage: the usage asked for
 * @index: the next entry to look at
 * @fence_usage: the usage of the fence returned last
 */
struct gpuvm_resv_iter {
	struct gpuvm_resv *resv;
	enum gpuvm_resv_usage usage;
	unsigned int index;
	enum gpuvm_resv_usage fence_usage;
};

/**
 * gpuvm_reservation_ww_class() - the ww class of every reservation lock
 *
 * Initialise acquire contexts for reservations with it.
 *
 * Return: the library-wide class (a function rather than exported data so
 * that the ABI holds functions only).
 */
GPUVM_EXPORT struct gpuvm_ww_class *gpuvm_reservation_ww_class(void);

/**
 * gpuvm_resv_init() - initialise an empty, unlocked reservation
 * @resv: the reservation
 *
 * Context: before the reservation is shared. Does not allocate.
 */
GPUVM_EXPORT void gpuvm_resv_init(struct gpuvm_resv *resv);

/**
 * gpuvm_resv_fini() - drop every fence and free the storage
 * @resv: the reservation; must be unlocked (checked)
 *
 * Context: when no other thread can reach @resv.
 */
GPUVM_EXPORT void gpuvm_resv_fini(struct gpuvm_resv *resv);

/**
 * gpuvm_resv_lock() - take the reservation lock
 * @resv: the reservation
 * @ctx: the acquire context (of gpuvm_reservation_ww_class()), or NULL
 *
 * See gpuvm_ww_mutex_lock().
 *
 * Context: never inside a fence-signalling section (checked).
 *
 * Return: 0, -EALREADY if @ctx holds it already, -EDEADLK if @ctx must back
 * off.
 */
GPUVM_EXPORT int gpuvm_resv_lock(struct gpuvm_resv *resv,
				 struct gpuvm_ww_acquire_ctx *ctx);

/**
 * gpuvm_resv_lock_slow() - take the contended reservation after a back-off
 * @resv: the reservation whose lock returned -EDEADLK
 * @ctx: the acquire context; must hold no locks (checked)
 *
 * Context: never inside a fence-signalling section (checked).
 */
GPUVM_EXPORT void gpuvm_resv_lock_slow(struct gpuvm_resv *resv,
				       struct gpuvm_ww_acquire_ctx *ctx);

/**
 * gpuvm_resv_trylock() - take the reservation lock if it is free
 * @resv: the reservation
 *
 * Without an acquire context, like the kernel's dma_resv_trylock().
 *
 * Context: never inside a fence-signalling section (checked).
 *
 * Return: true if locked.
 */
GPUVM_EXPORT bool gpuvm_resv_trylock(struct gpuvm_resv *resv);

/**
 * gpuvm_resv_unlock() - release the reservation lock
 * @resv: the reservation, held by the calling thread (checked)
 *
 * Forgets the reserved slots (see "DOC: Reservation objects").
 */
GPUVM_EXPORT void gpuvm_resv_unlock(struct gpuvm_resv *resv);

/**
 * gpuvm_resv_is_locked() - whether anyone holds the reservation lock
 * @resv: the reservation
 *
 * Return: a snapshot, for assertions.
 */
GPUVM_EXPORT bool gpuvm_resv_is_locked(struct gpuvm_resv *resv);

/**
 * gpuvm_resv_is_held() - whether the calling thread holds the lock
 * @resv: the reservation
 *
 * Return: true if the calling thread holds it; exact.
 */
GPUVM_EXPORT bool gpuvm_resv_is_held(struct gpuvm_resv *resv);

/**
 * gpuvm_resv_assert_held() - abort unless the calling thread holds the lock
 * @resv: the reservation
 *
 * Empty in release builds.
 */
GPUVM_EXPORT void gpuvm_resv_assert_held(struct gpuvm_resv *resv);

/**
 * gpuvm_resv_reserve_fences() - make room for fences to be added
 * @resv: the reservation, locked by the caller (checked)
 * @num_fences: how many adds must succeed without allocating
 *
 * Afterwards at least @num_fences adds are promised until the unlock.
 * Reservations do not add up: reserving 2 then 3 promises 3, as in the
 * kernel. When the storage grows, signalled fences are left behind.
 *
 * Context: may allocate (so never inside a fence-signalling section).
 *
 * Return: 0, or -ENOMEM with the reservation unchanged.
 */
GPUVM_EXPORT int gpuvm_resv_reserve_fences(struct gpuvm_resv *resv,
					   unsigned int num_fences);

/**
 * gpuvm_resv_add_fence() - add a fence to the reservation
 * @resv: the reservation, locked by the caller (checked)
 * @fence: the fence; the reservation takes its own reference
 * @usage: how the fence's work uses the buffer
 *
 * Replaces an entry as described in "DOC: Reservation objects", otherwise
 * uses a reserved slot. Never allocates.
 *
 * Context: any thread holding the lock, including inside a
 * fence-signalling section (the lock must have been taken before).
 */
GPUVM_EXPORT void gpuvm_resv_add_fence(struct gpuvm_resv *resv,
				       struct gpuvm_fence *fence,
				       enum gpuvm_resv_usage usage);

/**
 * gpuvm_resv_iter_first() - start walking the fences of a usage
 * @iter: the cursor
 * @resv: the reservation, locked by the caller (checked)
 * @usage: return the fences whose usage is <= this one
 *
 * Signalled fences are returned too. The fences are borrowed: take a
 * reference to keep one past the unlock.
 *
 * Return: the first fence, or NULL.
 */
GPUVM_EXPORT struct gpuvm_fence *
gpuvm_resv_iter_first(struct gpuvm_resv_iter *iter, struct gpuvm_resv *resv,
		      enum gpuvm_resv_usage usage);

/**
 * gpuvm_resv_iter_next() - the next fence of the walk
 * @iter: the cursor
 *
 * Return: the next fence, or NULL at the end.
 */
GPUVM_EXPORT struct gpuvm_fence *
gpuvm_resv_iter_next(struct gpuvm_resv_iter *iter);

/**
 * gpuvm_resv_iter_usage() - the usage of the fence returned last
 * @iter: the cursor
 *
 * Return: its usage.
 */
static inline enum gpuvm_resv_usage
gpuvm_resv_iter_usage(const struct gpuvm_resv_iter *iter)
{
	return iter->fence_usage;
}

/**
 * gpuvm_resv_for_each_fence() - walk the fences with usage <= @usage
 * @iter: a struct gpuvm_resv_iter pointer used as the cursor
 * @resv: the reservation, locked by the caller
 * @usage: the usage asked for
 * @fence: a struct gpuvm_fence pointer receiving each fence
 *
 * The reservation must not change during the walk.
 */
#define gpuvm_resv_for_each_fence(iter, resv, usage, fence)                    \
	for ((fence) = gpuvm_resv_iter_first((iter), (resv), (usage));         \
	     (fence); (fence) = gpuvm_resv_iter_next(iter))

/**
 * gpuvm_resv_test_signaled() - whether every fence of a usage has signalled
 * @resv: the reservation, locked or not
 * @usage: test the fences whose usage is <= this one
 *
 * Context: any thread, including inside a fence-signalling section; never
 * blocks on a fence.
 *
 * Return: true if all of them have signalled (or there are none).
 */
GPUVM_EXPORT bool gpuvm_resv_test_signaled(struct gpuvm_resv *resv,
					   enum gpuvm_resv_usage usage);

/**
 * gpuvm_resv_wait_timeout() - wait for every fence of a usage
 * @resv: the reservation, locked by the caller or not
 * @usage: wait for the fences whose usage is <= this one
 * @timeout_ns: the longest total wait; negative (GPUVM_WAIT_FOREVER) waits
 *              without limit
 *
 * Takes a reference to an unsignalled fence under the internal mutex, waits
 * for it outside, and repeats until none is left, so fences added during the
 * wait are waited for too.
 *
 * Context: never inside a fence-signalling section (checked). Holding the
 * reservation lock while waiting is allowed but delays everyone else.
 *
 * Return: 0 once every such fence has signalled (errors included), -ETIME
 * if the timeout expired first.
 */
GPUVM_EXPORT int gpuvm_resv_wait_timeout(struct gpuvm_resv *resv,
					 enum gpuvm_resv_usage usage,
					 int64_t timeout_ns);

/**
 * gpuvm_resv_get_fences() - a snapshot of the unsignalled fences of a usage
 * @resv: the reservation, locked or not
 * @usage: take the fences whose usage is <= this one
 * @num_fences: receives how many
 * @fences: receives an array of referenced fences (NULL if none); release it
 *          with gpuvm_resv_fences_free()
 *
 * For building a job's dependencies (see gpuvm_fence_array_create()).
 *
 * Context: allocates (so never inside a fence-signalling section).
 *
 * Return: 0, or -ENOMEM with nothing returned.
 */
GPUVM_EXPORT int gpuvm_resv_get_fences(struct gpuvm_resv *resv,
				       enum gpuvm_resv_usage usage,
				       unsigned int *num_fences,
				       struct gpuvm_fence ***fences);

/**
 * gpuvm_resv_fences_free() - release what gpuvm_resv_get_fences() returned
 * @fences: the array (NULL is fine)
 * @num_fences: its length, as returned
 *
 * Drops each reference and frees the array.
 */
GPUVM_EXPORT void gpuvm_resv_fences_free(struct gpuvm_fence **fences,
					 unsigned int num_fences);

#endif /* GPUVM_RESV_H */
