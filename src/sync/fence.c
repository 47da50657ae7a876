// SPDX-License-Identifier: MIT
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <time.h>

#include <gpuvm/fence.h>

#include "base/alloc_internal.h"
#include "base/context_internal.h"
#include "sync/sync_internal.h"

/* Contexts start at 1 so that 0 never names a real timeline. */
static atomic_uint_fast64_t context_counter = 1;

uint64_t gpuvm_fence_context_alloc(unsigned int num)
{
	if (!num)
		return 0;
	/* Only uniqueness matters: the counter publishes nothing. */
	return atomic_fetch_add_explicit(&context_counter, num,
					 memory_order_relaxed);
}

void gpuvm_fence_init(struct gpuvm_fence *fence,
		      const struct gpuvm_fence_ops *ops, uint64_t context,
		      uint64_t seqno)
{
	pthread_condattr_t attr;

	gpuvm_kref_init(&fence->refcount);
	atomic_init(&fence->flags, 0);
	fence->error = 0;
	fence->ops = ops;
	fence->context = context;
	fence->seqno = seqno;
	pthread_mutex_init(&fence->lock, NULL);
	/* Timeouts are relative: measure them on a clock that never jumps. */
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&fence->cond, &attr);
	pthread_condattr_destroy(&attr);
	gpuvm_list_init(&fence->cb_list);
	fence->waiters = 0;
	fence->cb_running = false;
	fence->cb_runner = 0;
}

struct gpuvm_fence *gpuvm_fence_get(struct gpuvm_fence *fence)
{
	if (fence)
		gpuvm_kref_get(&fence->refcount);
	return fence;
}

bool gpuvm_fence_is_signaled(struct gpuvm_fence *fence)
{
	/* Pairs with the release RMW in signal_locked(). */
	return gpuvm_fence_signaled_inline(fence);
}

int gpuvm_fence_get_status(struct gpuvm_fence *fence)
{
	if (!gpuvm_fence_is_signaled(fence))
		return 0;
	/* @error was written before the release that the acquire saw. */
	return fence->error ? fence->error : 1;
}

const char *gpuvm_fence_get_name(struct gpuvm_fence *fence)
{
	if (fence->ops && fence->ops->get_name)
		return fence->ops->get_name(fence);
	return "unnamed";
}

/*
 * Marks the fence signalled and detaches its callbacks onto @cbs, under
 * @fence->lock. Returns false if it had signalled already.
 */
static bool signal_locked(struct gpuvm_fence *fence, int error,
			  struct gpuvm_list_head *cbs)
{
	if (atomic_load_explicit(&fence->flags, memory_order_relaxed) &
	    GPUVM_FENCE_FLAG_SIGNALED)
		return false;
	fence->error = error;
	gpuvm_list_init(cbs);
	gpuvm_list_splice_tail_init(&fence->cb_list, cbs);
	if (!gpuvm_list_empty(cbs)) {
		fence->cb_running = true;
		fence->cb_runner = gpuvm_thread_self();
	}
	/*
	 * Release: whoever sees the bit with an acquire load also sees @error
	 * and everything the signaller did before signalling.
	 */
	atomic_fetch_or_explicit(&fence->flags, GPUVM_FENCE_FLAG_SIGNALED,
				 memory_order_release);
	if (fence->waiters)
		pthread_cond_broadcast(&fence->cond);
	return true;
}

/*
 * Runs the detached callbacks without the lock, then lets removers that lost
 * the race go. The caller's reference keeps @fence alive throughout.
 */
static void run_callbacks(struct gpuvm_fence *fence,
			  struct gpuvm_list_head *cbs)
{
	struct gpuvm_list_head *pos, *n;

	if (gpuvm_list_empty(cbs))
		return;
	/*
	 * The successor is read before a callback runs, since the callback
	 * may free its own registration.
	 */
	gpuvm_list_for_each_safe(pos, n, cbs) {
		struct gpuvm_fence_cb *cb =
			gpuvm_list_entry(pos, struct gpuvm_fence_cb, node);

		gpuvm_list_init(&cb->node);
		cb->func(fence, cb);
	}
	pthread_mutex_lock(&fence->lock);
	fence->cb_running = false;
	fence->cb_runner = 0;
	if (fence->waiters)
		pthread_cond_broadcast(&fence->cond);
	pthread_mutex_unlock(&fence->lock);
}

static int signal_common(struct gpuvm_fence *fence, int error)
{
	struct gpuvm_list_head cbs;
	bool ok;

	pthread_mutex_lock(&fence->lock);
	ok = signal_locked(fence, error, &cbs);
	pthread_mutex_unlock(&fence->lock);
	if (!ok)
		return -EINVAL;
	run_callbacks(fence, &cbs);
	return 0;
}

int gpuvm_fence_signal(struct gpuvm_fence *fence)
{
	return signal_common(fence, 0);
}

int gpuvm_fence_signal_error(struct gpuvm_fence *fence, int error)
{
	if (error >= 0)
		return -EINVAL;
	return signal_common(fence, error);
}

static void fence_release(struct gpuvm_kref *kref)
{
	struct gpuvm_fence *fence =
		gpuvm_container_of(kref, struct gpuvm_fence, refcount);

	/*
	 * Nobody holds a reference, so no lock is needed to look; but a
	 * registered callback's owner expects a call, and gets one.
	 */
	if (!gpuvm_fence_is_signaled(fence) &&
	    !gpuvm_list_empty(&fence->cb_list)) {
		gpuvm_warn("fence %s:%" PRIu64 ":%" PRIu64
			   " released unsignalled with callbacks pending",
			   gpuvm_fence_get_name(fence), fence->context,
			   fence->seqno);
		signal_common(fence, -EDEADLK);
	}
	pthread_cond_destroy(&fence->cond);
	pthread_mutex_destroy(&fence->lock);
	if (fence->ops && fence->ops->release)
		fence->ops->release(fence);
}

void gpuvm_fence_put(struct gpuvm_fence *fence)
{
	if (fence)
		gpuvm_kref_put(&fence->refcount, fence_release);
}

int gpuvm_fence_add_callback(struct gpuvm_fence *fence,
			     struct gpuvm_fence_cb *cb, gpuvm_fence_func_t func)
{
	if (!func)
		return -EINVAL;
	cb->func = func;
	gpuvm_list_init(&cb->node);
	if (gpuvm_fence_is_signaled(fence))
		return -ENOENT;
	pthread_mutex_lock(&fence->lock);
	if (atomic_load_explicit(&fence->flags, memory_order_relaxed) &
	    GPUVM_FENCE_FLAG_SIGNALED) {
		pthread_mutex_unlock(&fence->lock);
		return -ENOENT;
	}
	gpuvm_list_add_tail(&cb->node, &fence->cb_list);
	pthread_mutex_unlock(&fence->lock);
	return 0;
}

bool gpuvm_fence_remove_callback(struct gpuvm_fence *fence,
				 struct gpuvm_fence_cb *cb)
{
	bool pending;

	pthread_mutex_lock(&fence->lock);
	if (!(atomic_load_explicit(&fence->flags, memory_order_relaxed) &
	      GPUVM_FENCE_FLAG_SIGNALED)) {
		/* Unsignalled: @cb is on the list iff it is registered. */
		pending = !gpuvm_list_empty(&cb->node);
		gpuvm_list_del_init(&cb->node);
		pthread_mutex_unlock(&fence->lock);
		return pending;
	}
	/*
	 * Lost the race: the signaller owns the detached list. Wait until it
	 * has run every callback, unless this thread is that signaller.
	 */
	if (fence->cb_running && fence->cb_runner != gpuvm_thread_self()) {
		fence->waiters++;
		while (fence->cb_running)
			pthread_cond_wait(&fence->cond, &fence->lock);
		fence->waiters--;
	}
	pthread_mutex_unlock(&fence->lock);
	return false;
}

bool gpuvm_deadline_from_ns(int64_t timeout_ns, struct timespec *deadline)
{
	struct timespec now;
	int64_t sec, nsec;

	if (timeout_ns < 0)
		return false;
	clock_gettime(CLOCK_MONOTONIC, &now);
	sec = timeout_ns / 1000000000;
	nsec = timeout_ns % 1000000000 + now.tv_nsec;
	if (nsec >= 1000000000) {
		nsec -= 1000000000;
		sec++;
	}
	/* Centuries away: not worth a deadline that might overflow. */
	if (sec > INT32_MAX)
		return false;
	deadline->tv_sec = now.tv_sec + (time_t)sec;
	deadline->tv_nsec = (long)nsec;
	return true;
}

int gpuvm_fence_wait_deadline(struct gpuvm_fence *fence,
			      const struct timespec *deadline)
{
	int ret = 0;

	if (gpuvm_fence_is_signaled(fence))
		return 0;
	pthread_mutex_lock(&fence->lock);
	fence->waiters++;
	while (!(atomic_load_explicit(&fence->flags, memory_order_acquire) &
		 GPUVM_FENCE_FLAG_SIGNALED)) {
		if (!deadline) {
			pthread_cond_wait(&fence->cond, &fence->lock);
		} else if (pthread_cond_timedwait(&fence->cond, &fence->lock,
						  deadline) == ETIMEDOUT) {
			if (!(atomic_load_explicit(&fence->flags,
						   memory_order_acquire) &
			      GPUVM_FENCE_FLAG_SIGNALED))
				ret = -ETIME;
			break;
		}
	}
	fence->waiters--;
	pthread_mutex_unlock(&fence->lock);
	return ret;
}

int gpuvm_fence_wait_timeout(struct gpuvm_fence *fence, int64_t timeout_ns)
{
	struct timespec deadline;
	bool limited;

	gpuvm_context_check(GPUVM_RULE_FENCE_WAIT,
			    "gpuvm_fence_wait_timeout()");
	if (gpuvm_fence_is_signaled(fence))
		return 0;
	if (timeout_ns == 0)
		return -ETIME;
	limited = gpuvm_deadline_from_ns(timeout_ns, &deadline);
	return gpuvm_fence_wait_deadline(fence, limited ? &deadline : NULL);
}

bool gpuvm_fence_is_later(const struct gpuvm_fence *a,
			  const struct gpuvm_fence *b)
{
	return a->context == b->context && a->seqno > b->seqno;
}

bool gpuvm_fence_is_later_or_same(const struct gpuvm_fence *a,
				  const struct gpuvm_fence *b)
{
	return gpuvm_fence_later_or_same_inline(a, b);
}
