/* SPDX-License-Identifier: MIT */
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
#ifndef GPUVM_GEM_H
#define GPUVM_GEM_H

#include <stdint.h>

#include <gpuvm/compiler.h>
#include <gpuvm/kref.h>
#include <gpuvm/list.h>
#include <gpuvm/mutex.h>
#include <gpuvm/resv.h>

/*
 * DOC: Buffer objects
 *
 * A GEM object is the memory a mapping points at. It is embedded in the
 * user's own buffer struct and refcounted; the last put calls the user's
 * free callback. Mappings (struct gpuva) point at it without holding a
 * reference: the vm_bo that links them to it does.
 *
 * Reservation. Every object has a reservation (a ww-mutex plus fences).
 * Objects private to one VM share that VM's reservation, so that locking
 * the VM locks them all: gpuvm_gem_init_shared_resv() points the object at
 * another object's reservation (usually the VM's root object) and holds a
 * reference on that object for as long as it does. Objects shared between
 * VMs (external objects) have their own.
 *
 * The vm_bo list. @gpuva.list holds the vm_bos of this object, one per VM
 * that maps it. In a VM created with GPUVM_IMMEDIATE_MODE the list is
 * protected by @gpuva.lock, a mutex that is safe to take inside a
 * fence-signalling section: never allocate while holding it. In staged mode
 * the object's reservation protects it instead. gpuvm_gem_gpuva_lock() and
 * gpuvm_gem_gpuva_unlock() take and drop the mutex.
 *
 * Fence-signalling rule. Dropping the last reference frees memory, which is
 * not known to be signalling-safe: with checks enabled, the final put inside
 * a fence-signalling section is reported as a violation.
 */

struct gpuvm_gem;

/**
 * struct gpuvm_gem_funcs - callbacks of a GEM object
 * @free: called on the last gpuvm_gem_put(), after the library released
 *        what it set up; frees the embedding struct
 */
struct gpuvm_gem_funcs {
	void (*free)(struct gpuvm_gem *obj);
};

/**
 * struct gpuvm_gem - a buffer object
 * @refcount: the reference count
 * @size: the size in bytes (or in the user's units)
 * @funcs: the callbacks
 * @resv: the reservation in use: @_resv, or a shared one
 * @resv_owner: the object whose reservation is shared (a reference is held),
 *              or NULL
 * @_resv: the object's own reservation (initialised even when shared: it is
 *         small, and an object can be told apart as external by @resv alone)
 * @gpuva: @gpuva.list: the vm_bos of this object; @gpuva.lock: the list's
 *         mutex in immediate mode
 */
struct gpuvm_gem {
	struct gpuvm_kref refcount;
	uint64_t size;
	const struct gpuvm_gem_funcs *funcs;
	struct gpuvm_resv *resv;
	struct gpuvm_gem *resv_owner;
	struct gpuvm_resv _resv;
	struct {
		struct gpuvm_list_head list;
		struct gpuvm_mutex lock;
	} gpuva;
};

/**
 * gpuvm_gem_init() - initialise an embedded GEM object with one reference
 * @obj: the object
 * @funcs: its callbacks; @funcs->free must be set
 * @size: its size
 *
 * The object gets its own reservation. Does not allocate.
 *
 * Return: 0, or -EINVAL if @obj, @funcs or its free callback is missing.
 */
GPUVM_EXPORT int gpuvm_gem_init(struct gpuvm_gem *obj,
				const struct gpuvm_gem_funcs *funcs,
				uint64_t size);

/**
 * gpuvm_gem_init_shared_resv() - initialise an object sharing a reservation
 * @obj: the object
 * @funcs: its callbacks; @funcs->free must be set
 * @size: its size
 * @resv_owner: the object whose reservation @obj uses (typically a VM's root
 *              object, see gpuvm_resv_object_alloc()); a reference is taken
 *              and dropped when @obj is freed
 *
 * Return: 0, or -EINVAL for a missing argument.
 */
GPUVM_EXPORT int gpuvm_gem_init_shared_resv(struct gpuvm_gem *obj,
					    const struct gpuvm_gem_funcs *funcs,
					    uint64_t size,
					    struct gpuvm_gem *resv_owner);

/**
 * gpuvm_gem_get() - take a reference
 * @obj: the object, or NULL (no-op)
 *
 * Context: any; atomic.
 *
 * Return: @obj.
 */
GPUVM_EXPORT struct gpuvm_gem *gpuvm_gem_get(struct gpuvm_gem *obj);

/**
 * gpuvm_gem_put() - drop a reference; the last one frees the object
 * @obj: the object, or NULL (no-op)
 *
 * The last put finalises the reservation (dropping its fences) and the
 * vm_bo list's mutex, drops the reference on the reservation's owner, then
 * calls @obj->funcs->free. The object must have no vm_bo left (each holds a
 * reference, so it cannot).
 *
 * Context: not inside a fence-signalling section when it may be the last
 * reference (checked); must not hold @obj's gpuva lock or reservation when
 * it may be the last.
 */
GPUVM_EXPORT void gpuvm_gem_put(struct gpuvm_gem *obj);

/**
 * gpuvm_gem_gpuva_lock() - take the object's vm_bo list mutex
 * @obj: the object
 *
 * The immediate-mode lock of @obj->gpuva.list. Signalling-safe: nothing may
 * allocate while it is held.
 */
GPUVM_EXPORT void gpuvm_gem_gpuva_lock(struct gpuvm_gem *obj);

/**
 * gpuvm_gem_gpuva_unlock() - drop the object's vm_bo list mutex
 * @obj: the object
 */
GPUVM_EXPORT void gpuvm_gem_gpuva_unlock(struct gpuvm_gem *obj);

/**
 * gpuvm_gem_is_shared_resv() - whether @obj uses another object's reservation
 * @obj: the object
 *
 * Return: true if @obj->resv is not its own reservation.
 */
static inline bool gpuvm_gem_is_shared_resv(const struct gpuvm_gem *obj)
{
	return obj->resv != &obj->_resv;
}

#endif /* GPUVM_GEM_H */
