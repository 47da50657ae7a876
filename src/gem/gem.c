// SPDX-License-Identifier: MIT
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
#include <errno.h>

#include <gpuvm/gem.h>

int gpuvm_gem_init(struct gpuvm_gem *obj, const struct gpuvm_gem_funcs *funcs,
		   uint64_t size)
{
	if (!obj || !funcs || !funcs->free)
		return -EINVAL;
	gpuvm_kref_init(&obj->refcount);
	obj->size = size;
	obj->funcs = funcs;
	return 0;
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

	obj->funcs->free(obj);
}

void gpuvm_gem_put(struct gpuvm_gem *obj)
{
	if (obj)
		gpuvm_kref_put(&obj->refcount, gem_release);
}
