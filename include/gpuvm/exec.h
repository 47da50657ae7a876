/* SPDX-License-Identifier: MIT */
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
#ifndef GPUVM_EXEC_H
#define GPUVM_EXEC_H

#include <stdbool.h>
#include <stdint.h>

#include <gpuvm/compiler.h>
#include <gpuvm/gem.h>
#include <gpuvm/ww_mutex.h>

/*
 * DOC: Locking transactions (exec)
 *
 * An exec locks the reservations of a set of GEM objects that is only known
 * while locking (the objects a job maps, the VM's external objects, ...),
 * without deadlock, in the shape of the kernel's drm_exec:
 *
 *	struct gpuvm_exec exec;
 *	int ret;
 *
 *	gpuvm_exec_init(&exec, GPUVM_EXEC_IGNORE_DUPLICATES, 0);
 *	gpuvm_exec_until_all_locked(&exec) {
 *		ret = gpuvm_exec_prepare_obj(&exec, a, 1);
 *		gpuvm_exec_retry_on_contention(&exec);
 *		if (ret)
 *			goto out;
 *		ret = gpuvm_exec_prepare_obj(&exec, b, 1);
 *		gpuvm_exec_retry_on_contention(&exec);
 *		if (ret)
 *			goto out;
 *	}
 *	... submit, add fences ...
 *	out:
 *	gpuvm_exec_fini(&exec);
 *
 * When a lock would deadlock (the ww-mutex answers -EDEADLK: another,
 * older transaction holds it), the exec remembers the contended object;
 * gpuvm_exec_retry_on_contention() restarts the loop, which drops every
 * lock, then takes the contended one first (with the slow path, which
 * cannot fail) and runs the body again. The acquire context keeps its age
 * across restarts, so every transaction eventually becomes the oldest and
 * gets through (see the ww-mutex's progress argument).
 *
 * gpuvm_exec_retry_on_contention() is a `continue` of the loop: call it
 * directly in the loop body, not inside an inner loop (where it would
 * continue the inner loop); put inner loops in a function that returns the
 * error, as the kernel's drm_exec_prepare_array() does.
 *
 * When the loop ends, every object the body locked stays locked until
 * gpuvm_exec_fini() (or gpuvm_exec_unlock_obj()); the transaction is then
 * closed: locking another object aborts (checks enabled), as the kernel's
 * ww_acquire_done() rule says.
 *
 * The exec holds a reference on every object it locked, and on the
 * contended one, until it unlocks them.
 *
 * Context: allocates (the object array) and waits for locks, so never
 * inside a fence-signalling section (checked by the ww-mutex).
 */

/**
 * enum gpuvm_exec_flags - options of an exec
 * @GPUVM_EXEC_INTERRUPTIBLE_WAIT: accepted for compatibility; waits in this
 *                                 library are not interruptible
 * @GPUVM_EXEC_IGNORE_DUPLICATES: locking an object this exec already holds
 *                                succeeds instead of returning -EALREADY
 */
enum gpuvm_exec_flags {
	GPUVM_EXEC_INTERRUPTIBLE_WAIT = 1u << 0,
	GPUVM_EXEC_IGNORE_DUPLICATES = 1u << 1,
};

/**
 * struct gpuvm_exec - a locking transaction
 * @flags: enum gpuvm_exec_flags
 * @ticket: the ww acquire context
 * @num_objects: objects locked
 * @max_objects: room in @objects
 * @objects: the locked objects, in locking order
 * @contended: the object that answered -EDEADLK, to lock first on restart
 * @prelocked: the contended object after it was locked on restart, until the
 *             body locks it again
 * @started: the loop ran at least once (the ticket is initialised)
 */
struct gpuvm_exec {
	uint32_t flags;
	struct gpuvm_ww_acquire_ctx ticket;
	unsigned int num_objects;
	unsigned int max_objects;
	struct gpuvm_gem **objects;
	struct gpuvm_gem *contended;
	struct gpuvm_gem *prelocked;
	bool started;
};

/**
 * gpuvm_exec_init() - initialise a transaction
 * @exec: the transaction
 * @flags: enum gpuvm_exec_flags
 * @nr: how many objects to make room for up front (0: grow on demand)
 *
 * Never fails: if the initial array cannot be allocated, it is allocated on
 * demand (and a later lock returns -ENOMEM if that fails too).
 *
 * Context: may allocate.
 */
GPUVM_EXPORT void gpuvm_exec_init(struct gpuvm_exec *exec, uint32_t flags,
				  unsigned int nr);

/**
 * gpuvm_exec_fini() - unlock everything and release the transaction
 * @exec: the transaction
 */
GPUVM_EXPORT void gpuvm_exec_fini(struct gpuvm_exec *exec);

/**
 * gpuvm_exec_cleanup() - the loop condition of gpuvm_exec_until_all_locked()
 * @exec: the transaction
 *
 * First call: starts the acquire context. Later calls: if the body hit
 * contention, drop every lock and reference and run it again; otherwise
 * keep everything locked, mark the acquire context done (no further lock
 * may be taken in this transaction) and end the loop.
 *
 * Return: true to run the loop body (again).
 */
GPUVM_EXPORT bool gpuvm_exec_cleanup(struct gpuvm_exec *exec);

/**
 * gpuvm_exec_until_all_locked() - loop until the body locked everything
 * @exec: the transaction
 */
#define gpuvm_exec_until_all_locked(exec) while (gpuvm_exec_cleanup(exec))

/**
 * gpuvm_exec_is_contended() - whether the last lock attempt hit contention
 * @exec: the transaction
 *
 * Return: true if the loop must restart.
 */
static inline bool gpuvm_exec_is_contended(const struct gpuvm_exec *exec)
{
	return exec->contended != NULL;
}

/**
 * gpuvm_exec_retry_on_contention() - restart the loop after a contention
 * @exec: the transaction
 *
 * Written as an if/else so that an else following the macro cannot attach
 * to it.
 */
#define gpuvm_exec_retry_on_contention(exec)                                   \
	if (!gpuvm_exec_is_contended(exec)) {                                  \
	} else                                                                 \
		continue

/**
 * gpuvm_exec_lock_obj() - lock an object's reservation in the transaction
 * @exec: the transaction
 * @obj: the object
 *
 * Return: 0; -EDEADLK on contention (call gpuvm_exec_retry_on_contention());
 * -EALREADY if already locked by this exec and duplicates are not ignored;
 * -ENOMEM if the object array could not grow (the object is not locked).
 */
GPUVM_EXPORT int gpuvm_exec_lock_obj(struct gpuvm_exec *exec,
				     struct gpuvm_gem *obj);

/**
 * gpuvm_exec_unlock_obj() - unlock one object early
 * @exec: the transaction
 * @obj: an object this exec locked
 */
GPUVM_EXPORT void gpuvm_exec_unlock_obj(struct gpuvm_exec *exec,
					struct gpuvm_gem *obj);

/**
 * gpuvm_exec_prepare_obj() - lock an object and reserve fence slots
 * @exec: the transaction
 * @obj: the object
 * @num_fences: fence slots to reserve in its reservation
 *
 * Return: as gpuvm_exec_lock_obj(), or -ENOMEM from the slot reservation
 * (then the object is unlocked again).
 */
GPUVM_EXPORT int gpuvm_exec_prepare_obj(struct gpuvm_exec *exec,
					struct gpuvm_gem *obj,
					unsigned int num_fences);

/**
 * gpuvm_exec_prepare_array() - gpuvm_exec_prepare_obj() on each of @objs
 * @exec: the transaction
 * @objs: the objects
 * @num_objs: how many
 * @num_fences: fence slots to reserve in each
 *
 * Return: 0 or the first error (on -EDEADLK, retry on contention).
 */
GPUVM_EXPORT int gpuvm_exec_prepare_array(struct gpuvm_exec *exec,
					  struct gpuvm_gem *const *objs,
					  unsigned int num_objs,
					  unsigned int num_fences);

/**
 * gpuvm_exec_for_each_locked_object() - walk the locked objects
 * @exec: the transaction
 * @index: an unsigned int cursor
 * @obj: a struct gpuvm_gem pointer
 */
#define gpuvm_exec_for_each_locked_object(exec, index, obj)                    \
	for ((index) = 0; (index) < (exec)->num_objects &&                     \
			  ((obj) = (exec)->objects[(index)], 1);               \
	     ++(index))

#endif /* GPUVM_EXEC_H */
