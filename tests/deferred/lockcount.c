// SPDX-License-Identifier: MIT
/*
 * Copyright (c) 2026 The libgpuvm authors
 *
 * The acquisition counters of lockcount.h: wrappers the linker substitutes
 * for the library's acquiring entries (see the header).
 */
#include "lockcount.h"

struct lc_state *lc_state(void)
{
	static struct lc_state st;

	return &st;
}

void lc_watch(struct gpuvm_ww_mutex *lock)
{
	struct lc_state *st = lc_state();

	atomic_store(&st->entered, 0);
	atomic_store(&st->acquired, 0);
	atomic_store(&st->watched, lock);
}

unsigned int lc_entered(void)
{
	return atomic_load(&lc_state()->entered);
}

unsigned int lc_acquired(void)
{
	return atomic_load(&lc_state()->acquired);
}

void lc_watch_mutex(struct gpuvm_mutex *mutex)
{
	struct lc_state *st = lc_state();

	atomic_store(&st->mutex_entered, 0);
	atomic_store(&st->watched_mutex, mutex);
}

void lc_set_unlock_hook(void (*fn)(void *arg), void *arg)
{
	lc_state()->unlock_hook = fn;
	lc_state()->unlock_arg = arg;
}

unsigned int lc_mutex_entered(void)
{
	return atomic_load(&lc_state()->mutex_entered);
}

#ifdef GPUVM_LOCKCOUNT

bool lc_available(void)
{
	return true;
}

static bool lc_match(struct gpuvm_ww_mutex *lock)
{
	return lock && atomic_load(&lc_state()->watched) == lock;
}

static void lc_enter(struct gpuvm_ww_mutex *lock)
{
	if (lc_match(lock))
		atomic_fetch_add(&lc_state()->entered, 1);
}

static void lc_took(struct gpuvm_ww_mutex *lock, bool took)
{
	if (took && lc_match(lock))
		atomic_fetch_add(&lc_state()->acquired, 1);
}

/* The linker's names: __real_x is the library's x, __wrap_x replaces it. */
int __real_gpuvm_resv_lock(struct gpuvm_resv *resv,
			   struct gpuvm_ww_acquire_ctx *ctx);
int __wrap_gpuvm_resv_lock(struct gpuvm_resv *resv,
			   struct gpuvm_ww_acquire_ctx *ctx);
void __real_gpuvm_resv_lock_slow(struct gpuvm_resv *resv,
				 struct gpuvm_ww_acquire_ctx *ctx);
void __wrap_gpuvm_resv_lock_slow(struct gpuvm_resv *resv,
				 struct gpuvm_ww_acquire_ctx *ctx);
bool __real_gpuvm_resv_trylock(struct gpuvm_resv *resv);
bool __wrap_gpuvm_resv_trylock(struct gpuvm_resv *resv);
int __real_gpuvm_ww_mutex_lock(struct gpuvm_ww_mutex *lock,
			       struct gpuvm_ww_acquire_ctx *ctx);
int __wrap_gpuvm_ww_mutex_lock(struct gpuvm_ww_mutex *lock,
			       struct gpuvm_ww_acquire_ctx *ctx);
void __real_gpuvm_ww_mutex_lock_slow(struct gpuvm_ww_mutex *lock,
				     struct gpuvm_ww_acquire_ctx *ctx);
void __wrap_gpuvm_ww_mutex_lock_slow(struct gpuvm_ww_mutex *lock,
				     struct gpuvm_ww_acquire_ctx *ctx);
bool __real_gpuvm_ww_mutex_trylock(struct gpuvm_ww_mutex *lock,
				   struct gpuvm_ww_acquire_ctx *ctx);
bool __wrap_gpuvm_ww_mutex_trylock(struct gpuvm_ww_mutex *lock,
				   struct gpuvm_ww_acquire_ctx *ctx);

void __real_gpuvm_mutex_lock(struct gpuvm_mutex *mutex);
void __wrap_gpuvm_mutex_lock(struct gpuvm_mutex *mutex);
void __real_gpuvm_mutex_unlock(struct gpuvm_mutex *mutex);
void __wrap_gpuvm_mutex_unlock(struct gpuvm_mutex *mutex);

void __wrap_gpuvm_mutex_unlock(struct gpuvm_mutex *mutex)
{
	struct lc_state *st = lc_state();

	if (mutex && st->unlock_hook &&
	    atomic_load(&st->watched_mutex) == mutex)
		st->unlock_hook(st->unlock_arg);
	__real_gpuvm_mutex_unlock(mutex);
}

void __wrap_gpuvm_mutex_lock(struct gpuvm_mutex *mutex)
{
	if (mutex && atomic_load(&lc_state()->watched_mutex) == mutex)
		atomic_fetch_add(&lc_state()->mutex_entered, 1);
	__real_gpuvm_mutex_lock(mutex);
}

int __wrap_gpuvm_resv_lock(struct gpuvm_resv *resv,
			   struct gpuvm_ww_acquire_ctx *ctx)
{
	int ret;

	lc_enter(&resv->lock);
	ret = __real_gpuvm_resv_lock(resv, ctx);
	lc_took(&resv->lock, ret == 0);
	return ret;
}

void __wrap_gpuvm_resv_lock_slow(struct gpuvm_resv *resv,
				 struct gpuvm_ww_acquire_ctx *ctx)
{
	lc_enter(&resv->lock);
	__real_gpuvm_resv_lock_slow(resv, ctx);
	lc_took(&resv->lock, true);
}

bool __wrap_gpuvm_resv_trylock(struct gpuvm_resv *resv)
{
	bool took;

	lc_enter(&resv->lock);
	took = __real_gpuvm_resv_trylock(resv);
	lc_took(&resv->lock, took);
	return took;
}

int __wrap_gpuvm_ww_mutex_lock(struct gpuvm_ww_mutex *lock,
			       struct gpuvm_ww_acquire_ctx *ctx)
{
	int ret;

	lc_enter(lock);
	ret = __real_gpuvm_ww_mutex_lock(lock, ctx);
	lc_took(lock, ret == 0);
	return ret;
}

void __wrap_gpuvm_ww_mutex_lock_slow(struct gpuvm_ww_mutex *lock,
				     struct gpuvm_ww_acquire_ctx *ctx)
{
	lc_enter(lock);
	__real_gpuvm_ww_mutex_lock_slow(lock, ctx);
	lc_took(lock, true);
}

bool __wrap_gpuvm_ww_mutex_trylock(struct gpuvm_ww_mutex *lock,
				   struct gpuvm_ww_acquire_ctx *ctx)
{
	bool took;

	lc_enter(lock);
	took = __real_gpuvm_ww_mutex_trylock(lock, ctx);
	lc_took(lock, took);
	return took;
}

#else

bool lc_available(void)
{
	return false;
}

#endif
