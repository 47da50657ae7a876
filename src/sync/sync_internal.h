/* SPDX-License-Identifier: MIT */
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
#ifndef GPUVM_SYNC_INTERNAL_H
#define GPUVM_SYNC_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <gpuvm/fence.h>
#include <gpuvm/ww_mutex.h>

/*
 * Whether @hdr + @n * @elem bytes can be asked for. Always true for the
 * library's unsigned-int counts on LP64; it matters on 32-bit targets.
 */
static inline bool gpuvm_size_fits(size_t hdr, size_t n, size_t elem)
{
	return n <= (SIZE_MAX - hdr) / elem;
}

/*
 * Turns a relative timeout into an absolute CLOCK_MONOTONIC deadline.
 * Returns false for "no deadline" (a negative timeout, or one so long that
 * the deadline would not fit a timespec).
 */
bool gpuvm_deadline_from_ns(int64_t timeout_ns, struct timespec *deadline);

/*
 * Sleeps until @fence signals or @deadline (NULL: none) passes, without the
 * checker: the public entries check, naming themselves, before calling it.
 * Returns 0 or -ETIME.
 */
int gpuvm_fence_wait_deadline(struct gpuvm_fence *fence,
			      const struct timespec *deadline);

/*
 * gpuvm_fence_is_signaled() and gpuvm_fence_is_later_or_same(), inline for
 * the library's own hot loops (the reservation's add compares every entry
 * with the new fence). The exported functions are these.
 */
static inline bool gpuvm_fence_signaled_inline(struct gpuvm_fence *fence)
{
	/* Pairs with the release RMW that sets the bit when signalling. */
	return atomic_load_explicit(&fence->flags, memory_order_acquire) &
	       GPUVM_FENCE_FLAG_SIGNALED;
}

static inline bool gpuvm_fence_later_or_same_inline(const struct gpuvm_fence *a,
						    const struct gpuvm_fence *b)
{
	return a == b || (a->context == b->context && a->seqno > b->seqno);
}

/*
 * The ww-mutex acquisitions with the name of the public entry that the
 * checker and the usage checks report (gpuvm_resv_lock() reports itself,
 * not the ww-mutex underneath).
 */
int gpuvm_ww_lock_named(struct gpuvm_ww_mutex *lock,
			struct gpuvm_ww_acquire_ctx *ctx, bool slow,
			const char *what);
bool gpuvm_ww_trylock_named(struct gpuvm_ww_mutex *lock,
			    struct gpuvm_ww_acquire_ctx *ctx, const char *what);

/*
 * Whether the thread of identity @self (gpuvm_thread_self()) holds @lock:
 * exact when @self is the caller, since @owner only ever holds the caller's
 * identity when the caller wrote it.
 */
static inline bool gpuvm_ww_held_by(struct gpuvm_ww_mutex *lock, uintptr_t self)
{
	return atomic_load_explicit(&lock->owner, memory_order_relaxed) == self;
}

/*
 * gpuvm_ww_mutex_unlock() for a caller that already knows its identity
 * @self, so that the reservation's unlock looks it up once.
 */
void gpuvm_ww_unlock_as(struct gpuvm_ww_mutex *lock, uintptr_t self);

/*
 * The flags in the low bits of struct gpuvm_ww_mutex.state (its high bits
 * hold the holder's tag, 0 when free). GPUVM_WW_WAITERS: the wait queue is
 * not empty; while it is set, the word only changes under @wait_lock.
 * GPUVM_WW_HANDOFF: the first waiter has been starving; the next unlock
 * hands the lock to the first waiter instead of freeing it, and nobody else
 * may take it meanwhile. Only ever set while the lock is held with waiters.
 */
#define GPUVM_WW_WAITERS ((uintptr_t)1)
#define GPUVM_WW_HANDOFF ((uintptr_t)2)

#endif /* GPUVM_SYNC_INTERNAL_H */
