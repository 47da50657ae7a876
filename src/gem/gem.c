// SPDX-License-Identifier: MIT
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
#include <errno.h>

#include <gpuvm/gem.h>

#include "base/context_internal.h"

static int gem_init(struct gpuvm_gem *obj, const struct gpuvm_gem_funcs *funcs,
		    uint64_t size, struct gpuvm_gem *resv_owner)
{
	if (!obj || !funcs || !funcs->free)
		return -EINVAL;
	gpuvm_kref_init(&obj->refcount);
	obj->size = size;
	obj->funcs = funcs;
	gpuvm_resv_init(&obj->_resv);
	obj->resv_owner = gpuvm_gem_get(resv_owner);
	obj->resv = resv_owner ? resv_owner->resv : &obj->_resv;
	gpuvm_list_init(&obj->gpuva.list);
	gpuvm_mutex_init(&obj->gpuva.lock);
	return 0;
}

int gpuvm_gem_init(struct gpuvm_gem *obj, const struct gpuvm_gem_funcs *funcs,
		   uint64_t size)
{
	return gem_init(obj, funcs, size, NULL);
}

int gpuvm_gem_init_shared_resv(struct gpuvm_gem *obj,
			       const struct gpuvm_gem_funcs *funcs,
			       uint64_t size, struct gpuvm_gem *resv_owner)
{
	if (!resv_owner)
		return -EINVAL;
	return gem_init(obj, funcs, size, resv_owner);
}

struct gpuvm_gem *gpuvm_gem_get(struct gpuvm_gem *obj)
{
	if (obj)
		gpuvm_kref_get(&obj->refcount);
	return obj;
}

static void gem_release(struct gpuvm_kref *kref)
{
	struct gpuvm_gem *obj =
		gpuvm_container_of(kref, struct gpuvm_gem, refcount);
	struct gpuvm_gem *owner = obj->resv_owner;

	gpuvm_context_check(GPUVM_RULE_GEM_PUT, "gpuvm_gem_put()");
	gpuvm_mutex_fini(&obj->gpuva.lock);
	gpuvm_resv_fini(&obj->_resv);
	obj->resv = NULL;
	obj->resv_owner = NULL;
	obj->funcs->free(obj);
	/* After the free: the owner's reservation was in use until then. */
	gpuvm_gem_put(owner);
}

void gpuvm_gem_put(struct gpuvm_gem *obj)
{
	if (obj)
		gpuvm_kref_put(&obj->refcount, gem_release);
}

void gpuvm_gem_gpuva_lock(struct gpuvm_gem *obj)
{
	gpuvm_mutex_lock(&obj->gpuva.lock);
}

void gpuvm_gem_gpuva_unlock(struct gpuvm_gem *obj)
{
	gpuvm_mutex_unlock(&obj->gpuva.lock);
}
