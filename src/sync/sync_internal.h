/* SPDX-License-Identifier: MIT */
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
#ifndef GPUVM_SYNC_INTERNAL_H
#define GPUVM_SYNC_INTERNAL_H

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
 * The ww-mutex acquisitions with the name of the public entry that the
 * checker and the usage checks report (gpuvm_resv_lock() reports itself,
 * not the ww-mutex underneath).
 */
int gpuvm_ww_lock_named(struct gpuvm_ww_mutex *lock,
			struct gpuvm_ww_acquire_ctx *ctx, bool slow,
			const char *what);
bool gpuvm_ww_trylock_named(struct gpuvm_ww_mutex *lock,
			    struct gpuvm_ww_acquire_ctx *ctx, const char *what);

#endif /* GPUVM_SYNC_INTERNAL_H */
