/* SPDX-License-Identifier: MIT */
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
#ifndef GPUVM_VM_BO_H
#define GPUVM_VM_BO_H

#include <stdbool.h>
#include <stdint.h>

#include <gpuvm/compiler.h>
#include <gpuvm/exec.h>
#include <gpuvm/gem.h>
#include <gpuvm/gpuvm.h>
#include <gpuvm/kref.h>
#include <gpuvm/list.h>
#include <gpuvm/llist.h>
#include <gpuvm/resv.h>

/*
 * DOC: vm_bo, external and evicted objects
 *
 * A struct gpuvm_bo ties one VM to one GEM object the VM maps: it sits on the
 * object's vm_bo list (obj->gpuva.list), holds the list of the VM's mappings
 * of that object, holds a reference on the VM and one on the object, and is
 * itself refcounted: every linked mapping holds a reference, and so does
 * whoever obtained it. There is at most one vm_bo per (VM, object) pair on
 * the object's list: gpuvm_bo_obtain_locked() and gpuvm_bo_obtain_prealloc()
 * find the existing one before adding a new one.
 *
 * External objects are those that do not share the VM's common reservation
 * (gpuvm_is_extobj()). A job has to lock them one by one, so the VM keeps
 * their vm_bos on its extobj list; objects that were evicted (moved out of
 * GPU-accessible memory) are kept on the evict list until gpuvm_validate()
 * has the driver bring them back.
 *
 * Locking, in one table. "GEM list lock" is the object's gpuva mutex in a
 * GPUVM_IMMEDIATE_MODE VM and the object's reservation otherwise; "VM resv"
 * is the reservation of the VM's root object.
 *
 * | operation                    | caller must hold                        |
 * | ---------------------------- | --------------------------------------- |
 * | gpuvm_bo_create              | nothing (allocates)                     |
 * | gpuvm_bo_find                | GEM list lock                           |
 * | gpuvm_bo_obtain_locked       | GEM list lock (staged mode; allocates)  |
 * | gpuvm_bo_obtain_prealloc     | nothing: takes the GEM mutex itself     |
 * | gpuvm_bo_get                 | a reference                             |
 * | gpuvm_bo_put (may destroy)   | GEM list lock; VM resv if RESV_PROTECTED |
 * | gpuva_link / gpuva_unlink    | GEM list lock (unlink: as gpuvm_bo_put) |
 * | gpuvm_bo_extobj_add          | VM resv if RESV_PROTECTED               |
 * | gpuvm_bo_evict               | the object's resv                       |
 * | gpuvm_bo_gem_evict           | the object's resv and GEM list lock     |
 * | gpuvm_prepare_objects,       | VM resv if RESV_PROTECTED, else an      |
 * | gpuvm_validate               | outer lock against concurrent calls of  |
 * |                              | the same function                       |
 * | gpuvm_resv_add_fence_vm      | the exec's locks                        |
 *
 * The extobj and evict lists, two modes. With GPUVM_RESV_PROTECTED the VM's
 * reservation protects both lists: every add, removal and walk runs with it
 * held, and an evicted external object is only flagged (its reservation is
 * not the VM's, so the list cannot be touched under it) and moved onto the
 * evict list by gpuvm_prepare_objects(). Without it, each list has an
 * internal mutex (@extobj.lock, @evict.lock) that is held only for list
 * surgery, never across a callback, and a walk proceeds without holding it:
 *
 * | walker step (internal lock held briefly)     | concurrent add/remove    |
 * | -------------------------------------------- | ------------------------ |
 * | take the first entry whose count can be      | safe: adds go to the     |
 * | raised from non-zero; move it to the walk's  | main list's tail;        |
 * | local list; drop entries whose count is zero | removals unlink from     |
 * | (being destroyed)                            | whichever list holds it  |
 * | at the end, splice the local list back in    |                          |
 * | front, preserving the order                  |                          |
 *
 * so adds and removals may race with a walk, but two walks of the same list
 * may not run at once (the second would see an empty list): callers
 * serialise walks with an outer lock, or by locking the VM's reservation
 * first (gpuvm_prepare_vm()), as upstream documents. One more rule comes
 * with the scheme, as upstream: the walk holds a reference on its current
 * entry, and if every other reference went meanwhile, the walk's own put
 * destroys the vm_bo, which needs the object's GEM list lock; so a vm_bo
 * must not lose its last other reference while a walk may be on it unless
 * the walk holds that lock (in staged mode, the exec has locked the
 * object). With checks enabled a violation aborts.
 *
 * Locking helpers. gpuvm_prepare_vm(), gpuvm_prepare_objects() and
 * gpuvm_prepare_range() lock (and reserve fence slots in) the VM's
 * reservation, every external object's, and every object mapped in a range;
 * struct gpuvm_vm_exec wraps a whole exec loop around them. Where dropping
 * the kernel's prefix would clash with the reservation API (the kernel's
 * drm_gpuvm_resv_add_fence() against dma_resv_add_fence()), the VM-level
 * function carries a _vm suffix or a vm_ infix: gpuvm_resv_add_fence_vm(),
 * struct gpuvm_vm_exec.
 */

/**
 * struct gpuvm_bo - the association of one VM and one GEM object
 * @vm: the VM (a reference is held)
 * @obj: the object (a reference is held)
 * @evicted: the object is evicted for this VM; protected by the object's
 *           reservation
 * @kref: the reference count
 * @list: @list.gpuva: the VM's mappings of the object (struct gpuva
 *        gem.entry); @list.entry.gem: link in obj->gpuva.list;
 *        @list.entry.extobj, @list.entry.evict: links in the VM's lists;
 *        @list.entry.bo_defer: link in the VM's lock-free list of zombies
 */
struct gpuvm_bo {
	struct gpuvm *vm;
	struct gpuvm_gem *obj;
	bool evicted;
	struct gpuvm_kref kref;
	struct {
		struct gpuvm_list_head gpuva;
		struct {
			struct gpuvm_list_head gem;
			struct gpuvm_list_head extobj;
			struct gpuvm_list_head evict;
			struct gpuvm_llist_node bo_defer;
		} entry;
	} list;
};

/**
 * gpuvm_resv_object_alloc() - allocate a root object to carry a VM's
 *                             common reservation
 *
 * The object has size 0, its own reservation, and frees itself on its last
 * put. Pass it to gpuvm_init() as r_obj, and to gpuvm_gem_init_shared_resv()
 * for every object private to the VM; then drop the creation reference.
 *
 * Context: allocates.
 *
 * Return: the object, or NULL on allocation failure.
 */
GPUVM_EXPORT struct gpuvm_gem *gpuvm_resv_object_alloc(void);

/**
 * gpuvm_vm_resv() - the VM's common reservation
 * @vm: the VM
 *
 * Return: the root object's reservation, or NULL for a VM without one.
 */
static inline struct gpuvm_resv *gpuvm_vm_resv(const struct gpuvm *vm)
{
	return vm->r_obj ? vm->r_obj->resv : NULL;
}

/**
 * gpuvm_is_extobj() - whether an object is external to a VM
 * @vm: the VM
 * @obj: the object, or NULL
 *
 * Return: true if @obj does not use the VM's common reservation.
 */
static inline bool gpuvm_is_extobj(const struct gpuvm *vm,
				   const struct gpuvm_gem *obj)
{
	return obj && obj->resv != gpuvm_vm_resv(vm);
}

/**
 * gpuvm_vm_resv_assert_held() - assert that the VM's reservation is held
 * @vm: the VM
 *
 * Aborts (checks enabled) if the calling context does not hold it.
 */
GPUVM_EXPORT void gpuvm_vm_resv_assert_held(const struct gpuvm *vm);

/**
 * gpuvm_gem_gpuva_assert_lock_held() - assert the object's vm_bo list lock
 * @vm: a VM the object is mapped in (its mode picks the lock)
 * @obj: the object
 *
 * The gpuva mutex in immediate mode, the object's reservation otherwise.
 */
GPUVM_EXPORT void gpuvm_gem_gpuva_assert_lock_held(const struct gpuvm *vm,
						   struct gpuvm_gem *obj);

/**
 * gpuvm_bo_create() - allocate a vm_bo that is on no list
 * @vm: the VM
 * @obj: the object
 *
 * Takes a reference on @vm and on @obj; the vm_bo starts with one reference.
 * Uses ops->vm_bo_alloc when set. In immediate mode this is how a vm_bo is
 * preallocated before gpuvm_bo_obtain_prealloc().
 *
 * Context: allocates; no lock needed.
 *
 * Return: the vm_bo, or NULL on allocation failure.
 */
GPUVM_EXPORT struct gpuvm_bo *gpuvm_bo_create(struct gpuvm *vm,
					      struct gpuvm_gem *obj);

/**
 * gpuvm_bo_find() - the vm_bo of (@vm, @obj), with a new reference
 * @vm: the VM
 * @obj: the object
 *
 * Context: the GEM list lock of @obj.
 *
 * Return: the vm_bo, or NULL if @obj has none for @vm.
 */
GPUVM_EXPORT struct gpuvm_bo *gpuvm_bo_find(struct gpuvm *vm,
					    struct gpuvm_gem *obj);

/**
 * gpuvm_bo_obtain_locked() - find the vm_bo of (@vm, @obj), or create it
 * @vm: the VM (staged mode)
 * @obj: the object
 * @err: receives 0 or -ENOMEM (may be NULL)
 *
 * A created vm_bo is added to @obj's vm_bo list. Not for immediate mode,
 * where allocating under the GEM mutex is forbidden: use
 * gpuvm_bo_create() + gpuvm_bo_obtain_prealloc() there.
 *
 * Context: the GEM list lock of @obj (its reservation); allocates.
 *
 * Return: the vm_bo with a new reference, or NULL with *@err = -ENOMEM (or
 * -EINVAL in immediate mode).
 */
GPUVM_EXPORT struct gpuvm_bo *
gpuvm_bo_obtain_locked(struct gpuvm *vm, struct gpuvm_gem *obj, int *err);

/**
 * gpuvm_bo_obtain_prealloc() - install a preallocated vm_bo, or use the
 *                              existing one
 * @vm_bo: from gpuvm_bo_create(), on no list
 *
 * Takes the object's gpuva mutex itself. If (vm, obj) already has a vm_bo,
 * that one is returned with a new reference and @vm_bo is destroyed, after
 * the mutex is released (destroying drops references, which must not happen
 * under it). Otherwise @vm_bo is added to the object's list and returned.
 *
 * Context: immediate mode (with checks enabled, other VMs abort); must not
 * hold the object's gpuva mutex; may free.
 *
 * Return: the vm_bo to use (the caller owns one reference).
 */
GPUVM_EXPORT struct gpuvm_bo *gpuvm_bo_obtain_prealloc(struct gpuvm_bo *vm_bo);

/**
 * gpuvm_bo_get() - take a reference on a vm_bo
 * @vm_bo: the vm_bo, or NULL
 *
 * Context: the caller already holds a reference (or the GEM list lock under
 * which it found @vm_bo).
 *
 * Return: @vm_bo.
 */
GPUVM_EXPORT struct gpuvm_bo *gpuvm_bo_get(struct gpuvm_bo *vm_bo);

/**
 * gpuvm_bo_put() - drop a reference; the last one destroys the vm_bo
 * @vm_bo: the vm_bo, or NULL
 *
 * Destroying takes the vm_bo off the extobj and evict lists, off the
 * object's list, frees it (ops->vm_bo_free when set), and drops its VM and
 * object references — possibly the last ones.
 *
 * Context: when it may be the last reference: the GEM list lock of the
 * object, and the VM's reservation if the VM is GPUVM_RESV_PROTECTED (both
 * checked); not inside a fence-signalling section.
 *
 * Return: true if this call destroyed the vm_bo.
 */
GPUVM_EXPORT bool gpuvm_bo_put(struct gpuvm_bo *vm_bo);

/**
 * gpuva_link() - link a mapping to its vm_bo
 * @va: an inserted mapping with va->gem.obj == @vm_bo->obj; no-op if the
 *      mapping has no object
 * @vm_bo: the vm_bo; the link takes a reference
 *
 * Context: the GEM list lock of the object.
 */
GPUVM_EXPORT void gpuva_link(struct gpuva *va, struct gpuvm_bo *vm_bo);

/**
 * gpuva_unlink() - unlink a mapping from its vm_bo
 * @va: the mapping; no-op if it has no object
 *
 * Drops the link's vm_bo reference, which may destroy the vm_bo (see
 * gpuvm_bo_put() for what that needs).
 *
 * Context: the GEM list lock of the object.
 */
GPUVM_EXPORT void gpuva_unlink(struct gpuva *va);

/**
 * gpuvm_bo_for_each_va() - walk the mappings linked to a vm_bo
 * @va: a struct gpuva pointer
 * @vm_bo: the vm_bo
 *
 * Context: the GEM list lock of the object.
 */
#define gpuvm_bo_for_each_va(va, vm_bo)                                        \
	gpuvm_list_for_each_entry(va, &(vm_bo)->list.gpuva, struct gpuva,      \
				  gem.entry)

/**
 * gpuvm_bo_for_each_va_safe() - as gpuvm_bo_for_each_va(); @va may be
 * unlinked
 * @va: a struct gpuva pointer
 * @next: a struct gpuva pointer
 * @vm_bo: the vm_bo
 */
#define gpuvm_bo_for_each_va_safe(va, next, vm_bo)                             \
	gpuvm_list_for_each_entry_safe(va, next, &(vm_bo)->list.gpuva,         \
				       struct gpuva, gem.entry)

/**
 * gpuvm_gem_for_each_vm_bo() - walk the vm_bos of an object
 * @vm_bo: a struct gpuvm_bo pointer
 * @obj: the object
 *
 * Context: the object's GEM list lock.
 */
#define gpuvm_gem_for_each_vm_bo(vm_bo, obj)                                   \
	gpuvm_list_for_each_entry(vm_bo, &(obj)->gpuva.list, struct gpuvm_bo,  \
				  list.entry.gem)

/**
 * gpuvm_gem_for_each_vm_bo_safe() - as gpuvm_gem_for_each_vm_bo(); @vm_bo
 * may leave the list
 * @vm_bo: a struct gpuvm_bo pointer
 * @next: a struct gpuvm_bo pointer
 * @obj: the object
 */
#define gpuvm_gem_for_each_vm_bo_safe(vm_bo, next, obj)                        \
	gpuvm_list_for_each_entry_safe(vm_bo, next, &(obj)->gpuva.list,        \
				       struct gpuvm_bo, list.entry.gem)

/**
 * gpuvm_bo_extobj_add() - put a vm_bo on the VM's extobj list if its object
 *                         is external
 * @vm_bo: the vm_bo
 *
 * Idempotent. Does not allocate.
 *
 * Context: the VM's reservation if GPUVM_RESV_PROTECTED (checked).
 */
GPUVM_EXPORT void gpuvm_bo_extobj_add(struct gpuvm_bo *vm_bo);

/**
 * gpuvm_bo_evict() - mark a vm_bo evicted or not
 * @vm_bo: the vm_bo
 * @evict: the new state
 *
 * Sets vm_bo->evicted and adds the vm_bo to (or removes it from) the VM's
 * evict list. In a GPUVM_RESV_PROTECTED VM an external object's vm_bo is
 * only flagged: its list moves happen under the VM's reservation, in
 * gpuvm_prepare_objects() and gpuvm_validate().
 *
 * Context: the object's reservation (checked).
 */
GPUVM_EXPORT void gpuvm_bo_evict(struct gpuvm_bo *vm_bo, bool evict);

/**
 * gpuvm_bo_gem_evict() - gpuvm_bo_evict() on every vm_bo of an object
 * @obj: the object
 * @evict: the new state
 *
 * Context: the object's reservation and its GEM list lock.
 */
GPUVM_EXPORT void gpuvm_bo_gem_evict(struct gpuvm_gem *obj, bool evict);

/**
 * gpuvm_prepare_vm() - lock the VM's common reservation in an exec
 * @vm: the VM
 * @exec: the exec, inside its locking loop
 * @num_fences: fence slots to reserve; 0 locks only
 *
 * Return: 0 (also for a VM without a root object), or the exec's error
 * (-EDEADLK: retry on contention).
 */
GPUVM_EXPORT int gpuvm_prepare_vm(struct gpuvm *vm, struct gpuvm_exec *exec,
				  unsigned int num_fences);

/**
 * gpuvm_prepare_objects() - lock every external object of the VM
 * @vm: the VM
 * @exec: the exec, inside its locking loop
 * @num_fences: fence slots to reserve in each; 0 locks only
 *
 * In a GPUVM_RESV_PROTECTED VM (whose reservation the exec must already
 * hold: call gpuvm_prepare_vm() first) it also moves the vm_bos flagged as
 * evicted onto the evict list. Otherwise the extobj list is walked with
 * the lock-free-walk scheme of "DOC: vm_bo, external and evicted objects".
 *
 * Return: 0 or the first error.
 */
GPUVM_EXPORT int gpuvm_prepare_objects(struct gpuvm *vm,
				       struct gpuvm_exec *exec,
				       unsigned int num_fences);

/**
 * gpuvm_prepare_range() - lock every object mapped in a range
 * @vm: the VM
 * @exec: the exec, inside its locking loop
 * @addr: the start
 * @range: the size
 * @num_fences: fence slots to reserve in each; 0 locks only
 *
 * Mappings without an object are skipped.
 *
 * Context: the user's tree lock (read).
 *
 * Return: 0 or the first error.
 */
GPUVM_EXPORT int gpuvm_prepare_range(struct gpuvm *vm, struct gpuvm_exec *exec,
				     uint64_t addr, uint64_t range,
				     unsigned int num_fences);

struct gpuvm_vm_exec;

/**
 * struct gpuvm_vm_exec - an exec loop over a VM's objects
 * @exec: the exec
 * @flags: enum gpuvm_exec_flags for @exec
 * @vm: the VM
 * @num_fences: fence slots to reserve in each locked object
 * @extra: @extra.fn, if set, runs inside the loop after the VM's objects are
 *         locked, to lock more (return its errors; -EDEADLK restarts the
 *         loop); @extra.priv is for it
 */
struct gpuvm_vm_exec {
	struct gpuvm_exec exec;
	uint32_t flags;
	struct gpuvm *vm;
	unsigned int num_fences;
	struct {
		int (*fn)(struct gpuvm_vm_exec *vm_exec);
		void *priv;
	} extra;
};

/**
 * gpuvm_vm_exec_lock() - lock the VM's reservation and all external objects
 * @vm_exec: the wrapper, with @vm, @flags, @num_fences and @extra set
 *
 * Runs the whole exec loop (gpuvm_prepare_vm(), gpuvm_prepare_objects(),
 * @extra.fn). On error everything is unlocked again.
 *
 * Context: may allocate and wait for locks.
 *
 * Return: 0 with everything locked, or an error.
 */
GPUVM_EXPORT int gpuvm_vm_exec_lock(struct gpuvm_vm_exec *vm_exec);

/**
 * gpuvm_vm_exec_lock_array() - gpuvm_vm_exec_lock() plus more objects
 * @vm_exec: the wrapper
 * @objs: additional objects to lock (and reserve fences in)
 * @num_objs: how many
 *
 * Return: as gpuvm_vm_exec_lock().
 */
GPUVM_EXPORT int gpuvm_vm_exec_lock_array(struct gpuvm_vm_exec *vm_exec,
					  struct gpuvm_gem *const *objs,
					  unsigned int num_objs);

/**
 * gpuvm_vm_exec_lock_range() - lock the objects mapped in a range
 * @vm_exec: the wrapper
 * @addr: the start
 * @range: the size
 *
 * Locks only the range's objects, not the VM's reservation (as upstream).
 *
 * Return: as gpuvm_vm_exec_lock().
 */
GPUVM_EXPORT int gpuvm_vm_exec_lock_range(struct gpuvm_vm_exec *vm_exec,
					  uint64_t addr, uint64_t range);

/**
 * gpuvm_vm_exec_unlock() - unlock everything a gpuvm_vm_exec_lock*() locked
 * @vm_exec: the wrapper
 */
GPUVM_EXPORT void gpuvm_vm_exec_unlock(struct gpuvm_vm_exec *vm_exec);

/**
 * gpuvm_validate() - have the driver validate every evicted object
 * @vm: the VM
 * @exec: the exec holding the VM's and the objects' locks
 *
 * Calls ops->vm_bo_validate for each vm_bo on the evict list; in a
 * GPUVM_RESV_PROTECTED VM, vm_bos whose evicted flag the callback cleared
 * leave the list.
 *
 * Return: 0, -EOPNOTSUPP without the callback, or the callback's first error.
 */
GPUVM_EXPORT int gpuvm_validate(struct gpuvm *vm, struct gpuvm_exec *exec);

/**
 * gpuvm_resv_add_fence_vm() - add a fence to every object an exec locked
 * @vm: the VM
 * @exec: the exec; fence slots must have been reserved
 * @fence: the fence
 * @private_usage: the usage for objects sharing the VM's reservation
 * @extobj_usage: the usage for external objects
 *
 * The kernel's drm_gpuvm_resv_add_fence(). Never allocates.
 */
GPUVM_EXPORT void gpuvm_resv_add_fence_vm(struct gpuvm *vm,
					  struct gpuvm_exec *exec,
					  struct gpuvm_fence *fence,
					  enum gpuvm_resv_usage private_usage,
					  enum gpuvm_resv_usage extobj_usage);

/**
 * gpuvm_sm_map_exec_lock() - lock what a map request will touch
 * @vm: the VM
 * @exec: the exec, inside its locking loop; GPUVM_EXEC_IGNORE_DUPLICATES
 *        expected
 * @num_fences: fence slots to reserve in the request's object
 * @req: the request
 *
 * Prepares the request's object, then walks the request without changing
 * anything and locks the object of every mapping it would unmap or remap.
 *
 * Return: 0 or the first error.
 */
GPUVM_EXPORT int gpuvm_sm_map_exec_lock(struct gpuvm *vm,
					struct gpuvm_exec *exec,
					unsigned int num_fences,
					const struct gpuvm_map_req *req);

/**
 * gpuvm_sm_unmap_exec_lock() - lock what an unmap request will touch
 * @vm: the VM
 * @exec: the exec, inside its locking loop
 * @addr: the start
 * @range: the size
 *
 * Return: 0 or the first error.
 */
GPUVM_EXPORT int gpuvm_sm_unmap_exec_lock(struct gpuvm *vm,
					  struct gpuvm_exec *exec,
					  uint64_t addr, uint64_t range);

/**
 * gpuvm_bo_unmap_ops_create() - one UNMAP op (keep false) per mapping of a
 *                               vm_bo
 * @vm_bo: the vm_bo
 * @ops: receives the list; free it with gpuva_ops_free()
 *
 * Context: the object's GEM list lock; allocates.
 *
 * Return: 0 or -ENOMEM (nothing allocated is kept).
 */
GPUVM_EXPORT int gpuvm_bo_unmap_ops_create(struct gpuvm_bo *vm_bo,
					   struct gpuva_ops **ops);

/*
 * DOC: Deferred vm_bo cleanup
 *
 * In immediate mode the tree is updated in the job's run path, a
 * fence-signalling section, and unlinking a mapping there can drop the last
 * reference of its vm_bo. Destroying the vm_bo there is not allowed: it may
 * need the VM's reservation (to leave the extobj/evict lists of a
 * resv-protected VM) and it drops object references, possibly the last. So
 * the run path uses gpuva_unlink_defer() and gpuvm_bo_put_deferred(): the
 * last reference turns the vm_bo into a zombie, which a later
 * gpuvm_bo_deferred_cleanup(), outside the section, destroys.
 *
 * The protocol, and why each step is where it is:
 *
 * 1. The 1->0 transition happens with the object's gpuva mutex held. Lookups
 *    (gpuvm_bo_find(), gpuvm_bo_obtain_prealloc()) run under that mutex and
 *    take plain references, so they must never see a listed vm_bo whose
 *    count is zero: the zombie leaves the object's list in the same
 *    critical section as its count reaches zero, and a lookup after that
 *    creates a fresh vm_bo instead of reviving the dying one.
 * 2. Still under the mutex, a VM that is not resv-protected also takes the
 *    zombie off its extobj/evict lists (under their internal locks). A
 *    resv-protected VM cannot: that needs the VM's reservation. The zombie
 *    stays listed there, and every walk of those lists skips zombies.
 * 3. The mutex is released, and only then is the zombie pushed onto the
 *    VM's lock-free list. Pushing first would let a concurrent cleanup
 *    destroy the zombie and drop the object's last reference, freeing the
 *    object, and the mutex with it, while this thread still holds it.
 * 4. gpuvm_bo_deferred_cleanup() takes the whole list in one atomic exchange;
 *    in a resv-protected VM it locks the VM's reservation once for the whole
 *    batch and takes the zombies off extobj/evict; then it frees each zombie
 *    and drops its VM and object references.
 *
 * tests/model/ checks this protocol with SPIN, including that the ordering
 * of step 3 reversed fails. A zombie still holds a VM reference: a VM is not
 * freed until its zombies are cleaned up, and gpuvm_put() warns when only
 * zombies keep a VM alive.
 *
 * | operation                  | context                                  |
 * | -------------------------- | ---------------------------------------- |
 * | gpuvm_bo_put_deferred      | any, incl. signalling sections; must not |
 * |                            | hold the object's gpuva mutex            |
 * | gpuva_unlink_defer         | same                                     |
 * | gpuvm_bo_deferred_cleanup  | not in a signalling section; not holding |
 * |                            | the VM's reservation; concurrent calls   |
 * |                            | and concurrent puts are fine             |
 * | gpuvm_bo_is_zombie         | the object's gpuva mutex, or the VM resv |
 * |                            | (resv-protected walks)                   |
 *
 * All of these are for GPUVM_IMMEDIATE_MODE VMs only; with checks enabled a
 * call on another VM aborts.
 */

/**
 * gpuvm_bo_is_zombie() - whether a vm_bo's count reached zero
 * @vm_bo: the vm_bo
 *
 * A zombie awaits gpuvm_bo_deferred_cleanup(); it must not be used.
 *
 * Return: true if no reference is left.
 */
static inline bool gpuvm_bo_is_zombie(const struct gpuvm_bo *vm_bo)
{
	return gpuvm_kref_read(&vm_bo->kref) == 0;
}

/**
 * gpuvm_bo_put_deferred() - drop a reference; the last one makes a zombie
 * @vm_bo: the vm_bo, or NULL
 *
 * Never allocates, never takes a reservation, never drops an object or VM
 * reference: safe in a fence-signalling section. See "DOC: Deferred vm_bo
 * cleanup".
 *
 * Context: immediate mode; must not hold the object's gpuva mutex.
 *
 * Return: true if this call turned @vm_bo into a zombie (its memory and its
 * references stay until the cleanup).
 */
GPUVM_EXPORT bool gpuvm_bo_put_deferred(struct gpuvm_bo *vm_bo);

/**
 * gpuva_unlink_defer() - unlink a mapping; drop its vm_bo reference deferred
 * @va: the mapping; no-op if it has no object
 *
 * Takes the object's gpuva mutex itself, because it has work to do after
 * releasing it (queueing a zombie).
 *
 * Context: immediate mode; must not hold the object's gpuva mutex; safe in a
 * fence-signalling section.
 */
GPUVM_EXPORT void gpuva_unlink_defer(struct gpuva *va);

/**
 * gpuvm_bo_deferred_cleanup() - destroy every queued zombie of a VM
 * @vm: the VM
 *
 * Takes the queue in one atomic exchange; locks the VM's reservation once
 * for the batch if the VM is resv-protected; frees each zombie and drops its
 * VM and object references (maybe the last: the VM itself may be freed by
 * this call if only zombies kept it alive). Idempotent: an empty queue
 * costs one exchange.
 *
 * Context: not in a fence-signalling section (checked); must not hold the
 * VM's reservation; may run concurrently with itself and with puts.
 */
GPUVM_EXPORT void gpuvm_bo_deferred_cleanup(struct gpuvm *vm);

#endif /* GPUVM_VM_BO_H */
