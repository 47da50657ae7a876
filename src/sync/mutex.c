// SPDX-License-Identifier: MIT
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
#include <gpuvm/mutex.h>

#include "base/context_internal.h"

bool gpuvm_checks_enabled(void)
{
#ifdef GPUVM_CHECKS
	return true;
#else
	return false;
#endif
}

void gpuvm_mutex_init(struct gpuvm_mutex *mutex)
{
	pthread_mutex_init(&mutex->lock, NULL);
	atomic_init(&mutex->owner, 0);
}

void gpuvm_mutex_fini(struct gpuvm_mutex *mutex)
{
#ifdef GPUVM_CHECKS
	if (atomic_load_explicit(&mutex->owner, memory_order_relaxed))
		gpuvm_bug("gpuvm_mutex_fini(): mutex %p is still locked",
			  (void *)mutex);
#endif
	pthread_mutex_destroy(&mutex->lock);
}

void gpuvm_mutex_lock(struct gpuvm_mutex *mutex)
{
	uintptr_t self = gpuvm_thread_self();

#ifdef GPUVM_CHECKS
	if (atomic_load_explicit(&mutex->owner, memory_order_relaxed) == self)
		gpuvm_bug("gpuvm_mutex_lock(): mutex %p is already held by "
			  "this thread (recursive lock would deadlock)",
			  (void *)mutex);
#endif
	pthread_mutex_lock(&mutex->lock);
	atomic_store_explicit(&mutex->owner, self, memory_order_relaxed);
}

bool gpuvm_mutex_trylock(struct gpuvm_mutex *mutex)
{
	if (pthread_mutex_trylock(&mutex->lock))
		return false;
	atomic_store_explicit(&mutex->owner, gpuvm_thread_self(),
			      memory_order_relaxed);
	return true;
}

void gpuvm_mutex_unlock(struct gpuvm_mutex *mutex)
{
#ifdef GPUVM_CHECKS
	if (!gpuvm_mutex_is_held(mutex))
		gpuvm_bug("gpuvm_mutex_unlock(): mutex %p is not held by this "
			  "thread",
			  (void *)mutex);
#endif
	atomic_store_explicit(&mutex->owner, 0, memory_order_relaxed);
	pthread_mutex_unlock(&mutex->lock);
}

bool gpuvm_mutex_is_held(struct gpuvm_mutex *mutex)
{
	return atomic_load_explicit(&mutex->owner, memory_order_relaxed) ==
	       gpuvm_thread_self();
}

void gpuvm_mutex_assert_held(struct gpuvm_mutex *mutex)
{
#ifdef GPUVM_CHECKS
	if (!gpuvm_mutex_is_held(mutex))
		gpuvm_bug("gpuvm_mutex_assert_held(): mutex %p is not held by "
			  "this thread",
			  (void *)mutex);
#else
	(void)mutex;
#endif
}

void gpuvm_mutex_assert_not_held(struct gpuvm_mutex *mutex)
{
#ifdef GPUVM_CHECKS
	if (gpuvm_mutex_is_held(mutex))
		gpuvm_bug("gpuvm_mutex_assert_not_held(): mutex %p is held by "
			  "this thread",
			  (void *)mutex);
#else
	(void)mutex;
#endif
}
