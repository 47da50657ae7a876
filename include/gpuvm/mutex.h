/* SPDX-License-Identifier: MIT */
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
#ifndef GPUVM_MUTEX_H
#define GPUVM_MUTEX_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <gpuvm/compiler.h>

/*
 * DOC: Run-time checks
 *
 * The library checks its usage rules at run time the way the kernel's
 * lockdep and DEBUG_MUTEXES do: a mutex unlocked by a thread that does not
 * own it, a ww-mutex acquired after gpuvm_ww_acquire_done(), a reservation
 * fence added without a reserved slot, an allocation inside a
 * fence-signalling section. A broken rule aborts with a message that says
 * what was done, by which function, and where.
 *
 * The checks are on when the library is built without NDEBUG (debug and
 * debugoptimized builds, which is what the tests use) and compile to nothing
 * in release builds. The functions that only check (the *_assert_*
 * family, gpuvm_might_alloc(), ...) still exist in release builds so that
 * the ABI does not depend on the build type; their bodies are empty.
 * gpuvm_checks_enabled() tells which kind of library is loaded.
 */

/**
 * gpuvm_checks_enabled() - whether the library was built with its checks
 *
 * Tests use it to skip tests that expect a check to abort.
 *
 * Context: any thread.
 *
 * Return: true in check builds (!NDEBUG), false in release builds.
 */
GPUVM_EXPORT bool gpuvm_checks_enabled(void);

/*
 * DOC: Checked mutex
 *
 * A pthread mutex that knows which thread holds it, so that functions with a
 * locking rule can assert it (gpuvm_mutex_assert_held()), as the kernel's
 * lockdep_assert_held() does. It is a plain, non-recursive, sleeping lock;
 * taking it inside a fence-signalling section is allowed (the design lets
 * the run path take a GEM's gpuva mutex), so nothing that waits on a fence
 * may ever run under one.
 *
 * Owner tracking. @owner holds an identity of the holding thread, stored
 * right after the pthread lock is taken and cleared right before it is
 * released, with relaxed atomics. Relaxed is enough because the only
 * question ever asked is "do *I* hold it?": the only thread that ever
 * stores a thread's own identity is that thread, so by per-location
 * coherence it reads back either its own last store (its identity while it
 * holds the lock, zero after it released it) or a later store by another
 * thread (another identity, or zero), never a stale copy of its own
 * identity. No other memory is published through @owner: the pthread mutex
 * orders the data it protects. The atomic exists only so that a racing
 * read of the field is not a data race.
 *
 * | operation          | may race with        | synchronisation              |
 * | ------------------ | -------------------- | ---------------------------- |
 * | lock, trylock      | everything but init, | pthread mutex (acquire), then|
 * |                    | fini                 | relaxed store of @owner      |
 * | unlock             | everything but init, | relaxed store of @owner, then|
 * |                    | fini                 | pthread mutex (release)      |
 * | is_held,           | everything but init, | relaxed load of @owner; exact|
 * | assert_held,       | fini                 | for the calling thread       |
 * | assert_not_held    |                      |                              |
 * | init, fini         | nothing              | plain                        |
 */

/**
 * struct gpuvm_mutex - a mutex with owner tracking
 * @lock: the pthread mutex
 * @owner: identity of the holding thread, 0 when unlocked; private
 */
struct gpuvm_mutex {
	pthread_mutex_t lock;
	atomic_uintptr_t owner;
};

/**
 * GPUVM_MUTEX_INITIALIZER - static initialiser, instead of gpuvm_mutex_init()
 */
#define GPUVM_MUTEX_INITIALIZER                                                \
	{                                                                      \
		PTHREAD_MUTEX_INITIALIZER, 0                                   \
	}

/**
 * gpuvm_mutex_init() - initialise an unlocked mutex
 * @mutex: the mutex
 *
 * Context: before the mutex is shared. Does not allocate.
 */
GPUVM_EXPORT void gpuvm_mutex_init(struct gpuvm_mutex *mutex);

/**
 * gpuvm_mutex_fini() - destroy an unlocked mutex
 * @mutex: the mutex; must not be held by anyone (checked)
 *
 * Context: when no other thread can reach the mutex.
 */
GPUVM_EXPORT void gpuvm_mutex_fini(struct gpuvm_mutex *mutex);

/**
 * gpuvm_mutex_lock() - take the mutex, sleeping while another thread holds it
 * @mutex: the mutex; the calling thread must not hold it already (checked:
 *         a recursive lock would deadlock)
 *
 * Context: any thread, including inside a fence-signalling section.
 */
GPUVM_EXPORT void gpuvm_mutex_lock(struct gpuvm_mutex *mutex);

/**
 * gpuvm_mutex_trylock() - take the mutex if it is free
 * @mutex: the mutex
 *
 * Context: any thread.
 *
 * Return: true if the mutex was taken, false if any thread (the caller
 * included) holds it.
 */
GPUVM_EXPORT bool gpuvm_mutex_trylock(struct gpuvm_mutex *mutex);

/**
 * gpuvm_mutex_unlock() - release the mutex
 * @mutex: the mutex; the calling thread must hold it (checked)
 *
 * Context: the holding thread.
 */
GPUVM_EXPORT void gpuvm_mutex_unlock(struct gpuvm_mutex *mutex);

/**
 * gpuvm_mutex_is_held() - whether the calling thread holds the mutex
 * @mutex: the mutex
 *
 * Exact for the calling thread in every build (see "DOC: Checked mutex");
 * says nothing about other threads.
 *
 * Context: any thread.
 *
 * Return: true if the calling thread holds @mutex.
 */
GPUVM_EXPORT bool gpuvm_mutex_is_held(struct gpuvm_mutex *mutex);

/**
 * gpuvm_mutex_assert_held() - abort unless the calling thread holds the mutex
 * @mutex: the mutex
 *
 * The userspace lockdep_assert_held(). Empty in release builds.
 *
 * Context: any thread.
 */
GPUVM_EXPORT void gpuvm_mutex_assert_held(struct gpuvm_mutex *mutex);

/**
 * gpuvm_mutex_assert_not_held() - abort if the calling thread holds the mutex
 * @mutex: the mutex
 *
 * For functions that take the mutex themselves. Empty in release builds.
 *
 * Context: any thread.
 */
GPUVM_EXPORT void gpuvm_mutex_assert_not_held(struct gpuvm_mutex *mutex);

#endif /* GPUVM_MUTEX_H */
