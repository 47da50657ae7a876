// SPDX-License-Identifier: MIT
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>

#include <gpuvm/mutex.h>

#include "heldalloc.h"

static atomic_uint count;
static atomic_flag first_taken = ATOMIC_FLAG_INIT;
static char first[128];

bool ha_available(void)
{
#ifdef GPUVM_HELDALLOC
	return true;
#else
	return false;
#endif
}

unsigned int ha_count(void)
{
	return atomic_load(&count);
}

const char *ha_first(void)
{
	return atomic_load(&count) ? first : "";
}

#ifdef GPUVM_HELDALLOC

static _Thread_local unsigned int held;

static void note(const char *what, size_t size)
{
	if (!atomic_flag_test_and_set(&first_taken))
		snprintf(first, sizeof(first),
			 "%s(%zu) with %u gpuvm_mutex(es) held", what, size,
			 held);
	atomic_fetch_add(&count, 1);
}

/* The library's internal allocator entries (src/base/alloc_internal.h). */
void *__real_gpuvm_alloc(size_t size);
void *__real_gpuvm_zalloc(size_t size);
void *__wrap_gpuvm_alloc(size_t size);
void *__wrap_gpuvm_zalloc(size_t size);
void __real_gpuvm_mutex_lock(struct gpuvm_mutex *mutex);
bool __real_gpuvm_mutex_trylock(struct gpuvm_mutex *mutex);
void __real_gpuvm_mutex_unlock(struct gpuvm_mutex *mutex);
void __wrap_gpuvm_mutex_lock(struct gpuvm_mutex *mutex);
bool __wrap_gpuvm_mutex_trylock(struct gpuvm_mutex *mutex);
void __wrap_gpuvm_mutex_unlock(struct gpuvm_mutex *mutex);

void *__wrap_gpuvm_alloc(size_t size)
{
	if (held)
		note("gpuvm_alloc", size);
	return __real_gpuvm_alloc(size);
}

void *__wrap_gpuvm_zalloc(size_t size)
{
	if (held)
		note("gpuvm_zalloc", size);
	return __real_gpuvm_zalloc(size);
}

void __wrap_gpuvm_mutex_lock(struct gpuvm_mutex *mutex)
{
	__real_gpuvm_mutex_lock(mutex);
	held++;
}

bool __wrap_gpuvm_mutex_trylock(struct gpuvm_mutex *mutex)
{
	bool ret = __real_gpuvm_mutex_trylock(mutex);

	if (ret)
		held++;
	return ret;
}

void __wrap_gpuvm_mutex_unlock(struct gpuvm_mutex *mutex)
{
	held--;
	__real_gpuvm_mutex_unlock(mutex);
}

#endif
