/* SPDX-License-Identifier: MIT */
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
#ifndef GPUVM_TESTS_DEFERRED_LOCKCOUNT_H
#define GPUVM_TESTS_DEFERRED_LOCKCOUNT_H

/*
 * Counting the acquisitions of one ww-mutex (a VM's reservation) without a
 * hook in the library: the test programs link the static library with the
 * linker's --wrap option for every public entry that acquires a ww-mutex or
 * a reservation, so that calls from the library's own objects (vm_bo.c
 * calling gpuvm_resv_lock(), exec.c calling gpuvm_ww_mutex_lock(), ...) go
 * through the counters in lockcount.c first. Calls inside one object file
 * are not redirected, which is why the entries, not the internal helper
 * beneath them, are wrapped: each acquisition passes exactly one of them.
 *
 * When the linker lacks --wrap, meson leaves GPUVM_LOCKCOUNT undefined and
 * lc_available() says so; the tests that need the count skip that part.
 */

#include <stdatomic.h>
#include <stdbool.h>

#include <gpuvm/mutex.h>
#include <gpuvm/resv.h>
#include <gpuvm/ww_mutex.h>

/*
 * @watched: the lock being counted (NULL: none);
 * @entered: calls that reached an acquiring entry for it (before blocking);
 * @acquired: of those, the ones that took it.
 */
struct lc_state {
	_Atomic(struct gpuvm_ww_mutex *) watched;
	atomic_uint entered;
	atomic_uint acquired;
	_Atomic(struct gpuvm_mutex *) watched_mutex;
	atomic_uint mutex_entered;
	void (*unlock_hook)(void *arg);
	void *unlock_arg;
};

struct lc_state *lc_state(void);

/* Starts counting acquisitions of @lock from zero (NULL stops counting). */
void lc_watch(struct gpuvm_ww_mutex *lock);

/* The counters of the watched lock. */
unsigned int lc_entered(void);
unsigned int lc_acquired(void);

/*
 * Starts counting the calls that reach gpuvm_mutex_lock() on @mutex from
 * other objects of the library (a GEM's gpuva mutex taken by vm_bo.c or
 * gem.c), before they block. NULL stops counting.
 */
void lc_watch_mutex(struct gpuvm_mutex *mutex);
unsigned int lc_mutex_entered(void);

/*
 * Has @fn(@arg) run on the unlocking thread right before the library
 * releases the watched mutex (set it before watching, from one thread).
 */
void lc_set_unlock_hook(void (*fn)(void *arg), void *arg);

/* Whether the counters work in this build. */
bool lc_available(void);

#endif /* GPUVM_TESTS_DEFERRED_LOCKCOUNT_H */
