// SPDX-License-Identifier: MIT
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>

#include <gpuvm/resv.h>

#include "base/alloc_internal.h"
#include "base/context_internal.h"
#include "sync/sync_internal.h"

static struct gpuvm_ww_class reservation_class =
	GPUVM_WW_CLASS_INITIALIZER("reservation_ww_class");

struct gpuvm_ww_class *gpuvm_reservation_ww_class(void)
{
	return &reservation_class;
}

void gpuvm_resv_init(struct gpuvm_resv *resv)
{
	gpuvm_ww_mutex_init(&resv->lock, &reservation_class);
	pthread_mutex_init(&resv->fence_lock, NULL);
	resv->fences = NULL;
	resv->num_fences = 0;
	resv->max_fences = 0;
	resv->num_reserved = 0;
}

void gpuvm_resv_fini(struct gpuvm_resv *resv)
{
	unsigned int i;

#ifdef GPUVM_CHECKS
	if (gpuvm_ww_mutex_is_locked(&resv->lock))
		gpuvm_bug("gpuvm_resv_fini(): reservation %p is still locked",
			  (void *)resv);
#endif
	for (i = 0; i < resv->num_fences; i++)
		gpuvm_fence_put(resv->fences[i].fence);
	gpuvm_free(resv->fences, resv->max_fences * sizeof(*resv->fences));
	resv->fences = NULL;
	resv->num_fences = 0;
	resv->max_fences = 0;
	resv->num_reserved = 0;
	pthread_mutex_destroy(&resv->fence_lock);
	gpuvm_ww_mutex_fini(&resv->lock);
}

int gpuvm_resv_lock(struct gpuvm_resv *resv, struct gpuvm_ww_acquire_ctx *ctx)
{
	return gpuvm_ww_lock_named(&resv->lock, ctx, false,
				   "gpuvm_resv_lock()");
}

void gpuvm_resv_lock_slow(struct gpuvm_resv *resv,
			  struct gpuvm_ww_acquire_ctx *ctx)
{
	int ret = gpuvm_ww_lock_named(&resv->lock, ctx, true,
				      "gpuvm_resv_lock_slow()");

	if (ret)
		gpuvm_bug("gpuvm_resv_lock_slow(): unexpected %d", ret);
}

bool gpuvm_resv_trylock(struct gpuvm_resv *resv)
{
	return gpuvm_ww_trylock_named(&resv->lock, NULL,
				      "gpuvm_resv_trylock()");
}

void gpuvm_resv_unlock(struct gpuvm_resv *resv)
{
	uintptr_t self = gpuvm_thread_self();

	/* Only the holder may touch the count; the unlock below checks it. */
	if (gpuvm_ww_held_by(&resv->lock, self))
		resv->num_reserved = 0;
	gpuvm_ww_unlock_as(&resv->lock, self);
}

bool gpuvm_resv_is_locked(struct gpuvm_resv *resv)
{
	return gpuvm_ww_mutex_is_locked(&resv->lock);
}

bool gpuvm_resv_is_held(struct gpuvm_resv *resv)
{
	return gpuvm_ww_mutex_is_held(&resv->lock);
}

static void assert_held(struct gpuvm_resv *resv, const char *what)
{
#ifdef GPUVM_CHECKS
	if (!gpuvm_ww_mutex_is_held(&resv->lock))
		gpuvm_bug("%s: reservation %p is not locked by this thread",
			  what, (void *)resv);
#else
	(void)resv;
	(void)what;
#endif
}

void gpuvm_resv_assert_held(struct gpuvm_resv *resv)
{
	assert_held(resv, "gpuvm_resv_assert_held()");
}

int gpuvm_resv_reserve_fences(struct gpuvm_resv *resv, unsigned int num_fences)
{
	struct gpuvm_resv_entry *old = resv->fences, *new;
	unsigned int old_num = resv->num_fences, old_max = resv->max_fences;
	unsigned int i, j, k, new_max;

	assert_held(resv, "gpuvm_resv_reserve_fences()");
	if (old_max - old_num >= num_fences)
		goto reserved;

	if (num_fences > UINT_MAX / 2 - old_num)
		return -ENOMEM;
	new_max = old_num + num_fences;
	/* Grow geometrically so that a run of small reserves stays cheap. */
	if (new_max < old_max * 2)
		new_max = old_max * 2;
	if (new_max < 4)
		new_max = 4;
	if (!gpuvm_size_fits(0, new_max, sizeof(*new)))
		return -ENOMEM;
	new = gpuvm_alloc((size_t)new_max * sizeof(*new));
	if (!new)
		return -ENOMEM;

	/*
	 * Keep the unsignalled fences at the front; park the signalled ones
	 * at the back of the new array, to be dropped once it is published.
	 * Nothing can be added meanwhile: adds need the lock we hold.
	 */
	j = 0;
	k = new_max;
	for (i = 0; i < old_num; i++) {
		if (gpuvm_fence_is_signaled(old[i].fence))
			new[--k] = old[i];
		else
			new[j++] = old[i];
	}
	pthread_mutex_lock(&resv->fence_lock);
	resv->fences = new;
	resv->num_fences = j;
	resv->max_fences = new_max;
	pthread_mutex_unlock(&resv->fence_lock);

	/* Outside the internal mutex: a release may run user code. */
	for (i = k; i < new_max; i++)
		gpuvm_fence_put(new[i].fence);
	gpuvm_free(old, old_max * sizeof(*old));
reserved:
	if (resv->num_reserved < num_fences)
		resv->num_reserved = num_fences;
	return 0;
}

static void set_entry(struct gpuvm_resv *resv, unsigned int i,
		      struct gpuvm_fence *fence, enum gpuvm_resv_usage usage)
{
	pthread_mutex_lock(&resv->fence_lock);
	resv->fences[i].fence = fence;
	resv->fences[i].usage = usage;
	if (i == resv->num_fences)
		resv->num_fences++;
	pthread_mutex_unlock(&resv->fence_lock);
}

void gpuvm_resv_add_fence(struct gpuvm_resv *resv, struct gpuvm_fence *fence,
			  enum gpuvm_resv_usage usage)
{
	const struct gpuvm_resv_entry *fences = resv->fences;
	const uint64_t context = fence->context;
	unsigned int i, n = resv->num_fences, signaled = n;
	struct gpuvm_fence *old;

	assert_held(resv, "gpuvm_resv_add_fence()");
	if ((unsigned int)usage > GPUVM_RESV_USAGE_BOOKKEEP)
		gpuvm_bug("gpuvm_resv_add_fence(): invalid usage %d",
			  (int)usage);
	gpuvm_fence_get(fence);

	/*
	 * One pass: a newer fence of a timeline stands for the older ones, so
	 * an entry of the same timeline wins wherever it is; meanwhile find
	 * the first signalled entry, the replacement of second choice. Once
	 * one is found, the rest of the walk only looks for the timeline.
	 * The array and the new fence's context are read once, before the
	 * loop: the compiler would reload them after every atomic load.
	 */
	for (i = 0; i < n; i++) {
		old = fences[i].fence;
		if (old->context == context && fences[i].usage >= usage &&
		    gpuvm_fence_later_or_same_inline(fence, old))
			goto replace;
		/*
		 * Relaxed: only the decision to drop the entry hangs on it;
		 * nothing the signaller wrote is read.
		 */
		if (atomic_load_explicit(&old->flags, memory_order_relaxed) &
		    GPUVM_FENCE_FLAG_SIGNALED) {
			signaled = i;
			break;
		}
	}
	for (i = signaled + 1; i < n; i++) {
		old = fences[i].fence;
		if (old->context == context && fences[i].usage >= usage &&
		    gpuvm_fence_later_or_same_inline(fence, old))
			goto replace;
	}

	/*
	 * Everything else consumes a reserved slot, whether it ends up
	 * replacing a signalled entry or appending, so that the check does
	 * not depend on which fences happen to have signalled.
	 */
	if (resv->num_reserved) {
		resv->num_reserved--;
	} else {
#ifdef GPUVM_CHECKS
		gpuvm_bug("gpuvm_resv_add_fence(): no fence slot reserved on "
			  "reservation %p; call gpuvm_resv_reserve_fences() "
			  "after locking it",
			  (void *)resv);
#endif
	}
	if (signaled < n) {
		old = fences[signaled].fence;
		set_entry(resv, signaled, fence, usage);
		gpuvm_fence_put(old);
		return;
	}
	if (n >= resv->max_fences)
		gpuvm_bug("gpuvm_resv_add_fence(): reservation %p is full "
			  "(%u fences); no slot was reserved",
			  (void *)resv, n);
	set_entry(resv, n, fence, usage);
	return;

replace:
	/* The same timeline: no slot needed, whatever has signalled. */
	set_entry(resv, i, fence, usage);
	gpuvm_fence_put(old);
}

static struct gpuvm_fence *iter_walk(struct gpuvm_resv_iter *iter)
{
	struct gpuvm_resv *resv = iter->resv;

	while (iter->index < resv->num_fences) {
		struct gpuvm_resv_entry *e = &resv->fences[iter->index++];

		if (e->usage <= iter->usage) {
			iter->fence_usage = e->usage;
			return e->fence;
		}
	}
	return NULL;
}

struct gpuvm_fence *gpuvm_resv_iter_first(struct gpuvm_resv_iter *iter,
					  struct gpuvm_resv *resv,
					  enum gpuvm_resv_usage usage)
{
	assert_held(resv, "gpuvm_resv_iter_first()");
	iter->resv = resv;
	iter->usage = usage;
	iter->index = 0;
	iter->fence_usage = GPUVM_RESV_USAGE_KERNEL;
	return iter_walk(iter);
}

struct gpuvm_fence *gpuvm_resv_iter_next(struct gpuvm_resv_iter *iter)
{
	return iter_walk(iter);
}

bool gpuvm_resv_test_signaled(struct gpuvm_resv *resv,
			      enum gpuvm_resv_usage usage)
{
	bool ret = true;
	unsigned int i;

	pthread_mutex_lock(&resv->fence_lock);
	for (i = 0; i < resv->num_fences; i++) {
		if (resv->fences[i].usage <= usage &&
		    !gpuvm_fence_is_signaled(resv->fences[i].fence)) {
			ret = false;
			break;
		}
	}
	pthread_mutex_unlock(&resv->fence_lock);
	return ret;
}

/* A referenced unsignalled fence of @usage, or NULL if there is none. */
static struct gpuvm_fence *first_unsignaled(struct gpuvm_resv *resv,
					    enum gpuvm_resv_usage usage)
{
	struct gpuvm_fence *fence = NULL;
	unsigned int i;

	pthread_mutex_lock(&resv->fence_lock);
	for (i = 0; i < resv->num_fences; i++) {
		if (resv->fences[i].usage <= usage &&
		    !gpuvm_fence_is_signaled(resv->fences[i].fence)) {
			fence = gpuvm_fence_get(resv->fences[i].fence);
			break;
		}
	}
	pthread_mutex_unlock(&resv->fence_lock);
	return fence;
}

int gpuvm_resv_wait_timeout(struct gpuvm_resv *resv,
			    enum gpuvm_resv_usage usage, int64_t timeout_ns)
{
	struct timespec deadline;
	struct gpuvm_fence *fence;
	bool limited;
	int ret;

	gpuvm_context_check(GPUVM_RULE_FENCE_WAIT, "gpuvm_resv_wait_timeout()");
	limited = gpuvm_deadline_from_ns(timeout_ns, &deadline);
	/* Each round either finishes or waits out one fence: it progresses. */
	while ((fence = first_unsignaled(resv, usage))) {
		if (timeout_ns == 0)
			ret = -ETIME;
		else
			ret = gpuvm_fence_wait_deadline(
				fence, limited ? &deadline : NULL);
		gpuvm_fence_put(fence);
		if (ret)
			return ret;
	}
	return 0;
}

/*
 * The snapshot array carries its capacity in front, so that it is freed with
 * the size it was allocated with even when fewer fences were taken than
 * counted.
 */
struct fence_snapshot {
	size_t cap;
	struct gpuvm_fence *fences[];
};

static size_t snapshot_size(size_t cap)
{
	return sizeof(struct fence_snapshot) +
	       cap * sizeof(struct gpuvm_fence *);
}

int gpuvm_resv_get_fences(struct gpuvm_resv *resv, enum gpuvm_resv_usage usage,
			  unsigned int *num_fences,
			  struct gpuvm_fence ***fences)
{
	struct fence_snapshot *snap;
	unsigned int i, n = 0;

	*num_fences = 0;
	*fences = NULL;
	/*
	 * Counting and copying under one hold of the internal mutex keeps the
	 * entries stable in between (the allocator takes no library lock).
	 * Only their signalled state can change, one way: the copy may take
	 * fewer fences than were counted, never more.
	 */
	pthread_mutex_lock(&resv->fence_lock);
	for (i = 0; i < resv->num_fences; i++)
		if (resv->fences[i].usage <= usage &&
		    !gpuvm_fence_is_signaled(resv->fences[i].fence))
			n++;
	if (!n) {
		pthread_mutex_unlock(&resv->fence_lock);
		return 0;
	}
	snap = NULL;
	if (gpuvm_size_fits(sizeof(*snap), n, sizeof(snap->fences[0])))
		snap = gpuvm_alloc(snapshot_size(n));
	if (!snap) {
		pthread_mutex_unlock(&resv->fence_lock);
		return -ENOMEM;
	}
	snap->cap = n;
	n = 0;
	for (i = 0; i < resv->num_fences && n < snap->cap; i++) {
		struct gpuvm_resv_entry *e = &resv->fences[i];

		if (e->usage <= usage && !gpuvm_fence_is_signaled(e->fence))
			snap->fences[n++] = gpuvm_fence_get(e->fence);
	}
	pthread_mutex_unlock(&resv->fence_lock);
	if (!n) {
		gpuvm_free(snap, snapshot_size(snap->cap));
		return 0;
	}
	*num_fences = n;
	*fences = snap->fences;
	return 0;
}

void gpuvm_resv_fences_free(struct gpuvm_fence **fences,
			    unsigned int num_fences)
{
	struct fence_snapshot *snap;
	unsigned int i;

	if (!fences)
		return;
	snap = gpuvm_container_of(fences, struct fence_snapshot, fences);
	for (i = 0; i < num_fences; i++)
		gpuvm_fence_put(fences[i]);
	gpuvm_free(snap, snapshot_size(snap->cap));
}
