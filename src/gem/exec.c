// SPDX-License-Identifier: MIT
/*
 * Copyright (c) 2026 The libgpuvm authors
 *
 * Locking transactions over GEM reservations, with the back-off and retry
 * loop of the kernel's drm_exec. The ww-mutex decides who backs off; this
 * file only remembers what is locked and what to lock first next time.
 */
#include <errno.h>
#include <string.h>

#include <gpuvm/exec.h>

#include "base/alloc_internal.h"

void gpuvm_exec_init(struct gpuvm_exec *exec, uint32_t flags, unsigned int nr)
{
	memset(exec, 0, sizeof(*exec));
	exec->flags = flags;
	if (nr) {
		exec->objects = gpuvm_alloc(nr * sizeof(*exec->objects));
		exec->max_objects = exec->objects ? nr : 0;
	}
}

static void unlock_all(struct gpuvm_exec *exec)
{
	while (exec->num_objects) {
		struct gpuvm_gem *obj = exec->objects[--exec->num_objects];

		gpuvm_resv_unlock(obj->resv);
		gpuvm_gem_put(obj);
	}
	gpuvm_gem_put(exec->prelocked);
	exec->prelocked = NULL;
}

void gpuvm_exec_fini(struct gpuvm_exec *exec)
{
	unlock_all(exec);
	gpuvm_free(exec->objects, exec->max_objects * sizeof(*exec->objects));
	exec->objects = NULL;
	exec->max_objects = 0;
	if (exec->started) {
		gpuvm_gem_put(exec->contended);
		exec->contended = NULL;
		gpuvm_ww_acquire_fini(&exec->ticket);
		exec->started = false;
	}
}

bool gpuvm_exec_cleanup(struct gpuvm_exec *exec)
{
	if (!exec->started) {
		gpuvm_ww_acquire_init(&exec->ticket,
				      gpuvm_reservation_ww_class());
		exec->started = true;
		return true;
	}
	if (!exec->contended) {
		/* The body locked everything: leave the loop holding it all. */
		gpuvm_ww_acquire_done(&exec->ticket);
		return false;
	}
	unlock_all(exec);
	return true;
}

/* Records a locked object, taking a reference for the exec. */
static int obj_locked(struct gpuvm_exec *exec, struct gpuvm_gem *obj)
{
	if (exec->num_objects == exec->max_objects) {
		unsigned int n = exec->max_objects ? 2 * exec->max_objects : 16;
		struct gpuvm_gem **objs = gpuvm_alloc(n * sizeof(*objs));

		if (!objs)
			return -ENOMEM;
		if (exec->num_objects)
			memcpy(objs, exec->objects,
			       exec->num_objects * sizeof(*objs));
		gpuvm_free(exec->objects,
			   exec->max_objects * sizeof(*exec->objects));
		exec->objects = objs;
		exec->max_objects = n;
	}
	exec->objects[exec->num_objects++] = gpuvm_gem_get(obj);
	return 0;
}

/*
 * After a restart, lock the object that made us back off before anything
 * else: we hold nothing, so the slow path waits without deadlock risk.
 */
static int lock_contended(struct gpuvm_exec *exec)
{
	struct gpuvm_gem *obj = exec->contended;
	int ret;

	if (!obj)
		return 0;
	exec->contended = NULL;
	gpuvm_resv_lock_slow(obj->resv, &exec->ticket);
	ret = obj_locked(exec, obj);
	if (ret) {
		gpuvm_resv_unlock(obj->resv);
		gpuvm_gem_put(obj);
		return ret;
	}
	/* The contended reference becomes the prelocked one. */
	exec->prelocked = obj;
	return 0;
}

int gpuvm_exec_lock_obj(struct gpuvm_exec *exec, struct gpuvm_gem *obj)
{
	int ret;

	ret = lock_contended(exec);
	if (ret)
		return ret;
	if (exec->prelocked == obj) {
		gpuvm_gem_put(exec->prelocked);
		exec->prelocked = NULL;
		return 0;
	}
	ret = gpuvm_resv_lock(obj->resv, &exec->ticket);
	if (ret == -EDEADLK) {
		exec->contended = gpuvm_gem_get(obj);
		return -EDEADLK;
	}
	if (ret == -EALREADY && (exec->flags & GPUVM_EXEC_IGNORE_DUPLICATES))
		return 0;
	if (ret)
		return ret;
	ret = obj_locked(exec, obj);
	if (ret)
		gpuvm_resv_unlock(obj->resv);
	return ret;
}

void gpuvm_exec_unlock_obj(struct gpuvm_exec *exec, struct gpuvm_gem *obj)
{
	for (unsigned int i = exec->num_objects; i--;) {
		if (exec->objects[i] != obj)
			continue;
		gpuvm_resv_unlock(obj->resv);
		memmove(exec->objects + i, exec->objects + i + 1,
			(exec->num_objects - i - 1) * sizeof(*exec->objects));
		exec->num_objects--;
		gpuvm_gem_put(obj);
		return;
	}
}

int gpuvm_exec_prepare_obj(struct gpuvm_exec *exec, struct gpuvm_gem *obj,
			   unsigned int num_fences)
{
	int ret = gpuvm_exec_lock_obj(exec, obj);

	if (ret)
		return ret;
	ret = gpuvm_resv_reserve_fences(obj->resv, num_fences);
	if (ret)
		gpuvm_exec_unlock_obj(exec, obj);
	return ret;
}

int gpuvm_exec_prepare_array(struct gpuvm_exec *exec,
			     struct gpuvm_gem *const *objs,
			     unsigned int num_objs, unsigned int num_fences)
{
	for (unsigned int i = 0; i < num_objs; i++) {
		int ret = gpuvm_exec_prepare_obj(exec, objs[i], num_fences);

		if (ret)
			return ret;
	}
	return 0;
}
