// SPDX-License-Identifier: MIT
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>

#include <gpuvm/fence.h>

#include "base/alloc_internal.h"
#include "sync/sync_internal.h"

struct fence_array;

struct fence_array_cb {
	struct gpuvm_fence_cb cb;
	struct fence_array *array;
};

/*
 * One allocation: the header, then a callback per component, then the
 * component pointers.
 *
 * @pending counts the components still awaited (1 with signal_on_any); the
 * one that takes it to 0 signals. It is signed so that the late components
 * of a signal_on_any array go below zero harmlessly. @first_error is set
 * once, by the first component that reports an error.
 *
 * Lifetime: the caller's reference, plus one per registered callback, taken
 * before registering and dropped by the callback itself; so the array
 * outlives every callback that can still run, whoever drops the caller's
 * reference first.
 */
struct fence_array {
	struct gpuvm_fence base;
	unsigned int num_fences;
	atomic_int pending;
	atomic_int first_error;
	struct gpuvm_fence **fences;
	struct fence_array_cb cbs[];
};

static size_t array_size(unsigned int n)
{
	return sizeof(struct fence_array) +
	       (size_t)n * (sizeof(struct fence_array_cb) +
			    sizeof(struct gpuvm_fence *));
}

static const char *array_get_name(struct gpuvm_fence *fence)
{
	(void)fence;
	return "array";
}

static void array_release(struct gpuvm_fence *fence)
{
	struct fence_array *array =
		gpuvm_container_of(fence, struct fence_array, base);
	unsigned int i;

	for (i = 0; i < array->num_fences; i++)
		gpuvm_fence_put(array->fences[i]);
	gpuvm_free(array, array_size(array->num_fences));
}

static const struct gpuvm_fence_ops array_ops = {
	.get_name = array_get_name,
	.release = array_release,
};

static void component_done(struct fence_array *array,
			   struct gpuvm_fence *component)
{
	int status = gpuvm_fence_get_status(component);
	int expected = 0;

	if (status < 0)
		atomic_compare_exchange_strong_explicit(
			&array->first_error, &expected, status,
			memory_order_relaxed, memory_order_relaxed);
	/*
	 * acq_rel: every component's error store precedes its decrement
	 * (release), and the one that reaches zero reads them all after its
	 * acquire.
	 */
	if (atomic_fetch_sub_explicit(&array->pending, 1,
				      memory_order_acq_rel) != 1)
		return;
	status =
		atomic_load_explicit(&array->first_error, memory_order_relaxed);
	if (status)
		gpuvm_fence_signal_error(&array->base, status);
	else
		gpuvm_fence_signal(&array->base);
}

static void array_cb_func(struct gpuvm_fence *fence, struct gpuvm_fence_cb *cb)
{
	struct fence_array_cb *acb =
		gpuvm_container_of(cb, struct fence_array_cb, cb);
	struct fence_array *array = acb->array;

	component_done(array, fence);
	gpuvm_fence_put(&array->base);
}

int gpuvm_fence_array_create(struct gpuvm_fence *const *fences,
			     unsigned int num_fences, uint64_t context,
			     uint64_t seqno, bool signal_on_any,
			     struct gpuvm_fence **out)
{
	struct fence_array *array;
	unsigned int i;

	if (!fences || !num_fences || num_fences > INT_MAX || !out)
		return -EINVAL;
	for (i = 0; i < num_fences; i++)
		if (!fences[i])
			return -EINVAL;
	if (!gpuvm_size_fits(sizeof(*array), num_fences,
			     sizeof(struct fence_array_cb) +
				     sizeof(struct gpuvm_fence *)))
		return -ENOMEM;
	array = gpuvm_alloc(array_size(num_fences));
	if (!array)
		return -ENOMEM;

	gpuvm_fence_init(&array->base, &array_ops, context, seqno);
	array->num_fences = num_fences;
	atomic_init(&array->pending, signal_on_any ? 1 : (int)num_fences);
	atomic_init(&array->first_error, 0);
	array->fences = (struct gpuvm_fence **)(void *)&array->cbs[num_fences];
	for (i = 0; i < num_fences; i++)
		array->fences[i] = gpuvm_fence_get(fences[i]);

	/*
	 * Components may signal on other threads as soon as their callback is
	 * registered; those that signalled already are counted here.
	 */
	for (i = 0; i < num_fences; i++) {
		struct fence_array_cb *acb = &array->cbs[i];

		if (signal_on_any && gpuvm_fence_is_signaled(&array->base))
			break;
		acb->array = array;
		gpuvm_fence_get(&array->base);
		if (gpuvm_fence_add_callback(array->fences[i], &acb->cb,
					     array_cb_func)) {
			component_done(array, array->fences[i]);
			gpuvm_fence_put(&array->base);
		}
	}
	*out = &array->base;
	return 0;
}

bool gpuvm_fence_is_array(const struct gpuvm_fence *fence)
{
	return fence->ops == &array_ops;
}
