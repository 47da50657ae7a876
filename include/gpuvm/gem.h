/* SPDX-License-Identifier: MIT */
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
#ifndef GPUVM_GEM_H
#define GPUVM_GEM_H

#include <stdint.h>

#include <gpuvm/compiler.h>
#include <gpuvm/kref.h>

/*
 * DOC: Buffer objects
 *
 * A GEM object is the memory a mapping points at. It is embedded in the
 * user's own buffer struct and refcounted; the last put calls the user's
 * free callback. Mappings (struct gpuva) point at it without holding a
 * reference: the vm_bo that links them does.
 */

struct gpuvm_gem;

/**
 * struct gpuvm_gem_funcs - callbacks of a GEM object
 * @free: called on the last gpuvm_gem_put(); frees the embedding struct
 */
struct gpuvm_gem_funcs {
	void (*free)(struct gpuvm_gem *obj);
};

/**
 * struct gpuvm_gem - a buffer object
 * @refcount: the reference count
 * @size: the size in bytes (or in the user's units)
 * @funcs: the callbacks
 */
struct gpuvm_gem {
	struct gpuvm_kref refcount;
	uint64_t size;
	const struct gpuvm_gem_funcs *funcs;
};

/**
 * gpuvm_gem_init() - initialise an embedded GEM object with one reference
 * @obj: the object
 * @funcs: its callbacks; @funcs->free must be set
 * @size: its size
 *
 * Return: 0, or -EINVAL if @funcs or its free callback is missing.
 */
GPUVM_EXPORT int gpuvm_gem_init(struct gpuvm_gem *obj,
				const struct gpuvm_gem_funcs *funcs,
				uint64_t size);

/**
 * gpuvm_gem_get() - take a reference
 * @obj: the object, or NULL (no-op)
 *
 * Return: @obj.
 */
GPUVM_EXPORT struct gpuvm_gem *gpuvm_gem_get(struct gpuvm_gem *obj);

/**
 * gpuvm_gem_put() - drop a reference; the last one frees the object
 * @obj: the object, or NULL (no-op)
 */
GPUVM_EXPORT void gpuvm_gem_put(struct gpuvm_gem *obj);

#endif /* GPUVM_GEM_H */
