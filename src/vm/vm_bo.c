// SPDX-License-Identifier: MIT
/*
 * Copyright (c) 2026 The libgpuvm authors
 *
 * vm_bo: the association of a VM and a GEM object; the VM's extobj and
 * evict lists; the exec helpers that lock a VM's objects; validation.
 */
#include <errno.h>
#include <string.h>

#include "base/context_internal.h"
#include "vm/vm_internal.h"

/* The root object: a GEM object of size 0 that frees itself. */
static void resv_object_free(struct gpuvm_gem *obj)
{
	gpuvm_free(obj, sizeof(*obj));
}

static const struct gpuvm_gem_funcs resv_object_funcs = {
	.free = resv_object_free,
};

struct gpuvm_gem *gpuvm_resv_object_alloc(void)
{
	struct gpuvm_gem *obj = gpuvm_zalloc(sizeof(*obj));

	if (obj)
		gpuvm_gem_init(obj, &resv_object_funcs, 0);
	return obj;
}

void gpuvm_vm_resv_assert_held(const struct gpuvm *vm)
{
	if (vm->r_obj)
		gpuvm_resv_assert_held(vm->r_obj->resv);
}

void gpuvm_gem_gpuva_assert_lock_held(const struct gpuvm *vm,
				      struct gpuvm_gem *obj)
{
	if (gpuvm_immediate_mode(vm))
		gpuvm_mutex_assert_held(&obj->gpuva.lock);
	else
		gpuvm_resv_assert_held(obj->resv);
}

/*
 * List surgery on the VM's extobj/evict lists: under the list's internal
 * mutex when the VM is not resv-protected, under the VM's reservation
 * (held by the caller) otherwise.
 */
static void vm_list_lock(struct gpuvm_mutex *lock, const struct gpuvm *vm)
{
	if (!gpuvm_resv_protected(vm))
		gpuvm_mutex_lock(lock);
}

static void vm_list_unlock(struct gpuvm_mutex *lock, const struct gpuvm *vm)
{
	if (!gpuvm_resv_protected(vm))
		gpuvm_mutex_unlock(lock);
}

static void vm_list_add(struct gpuvm *vm, struct gpuvm_mutex *lock,
			struct gpuvm_list_head *entry,
			struct gpuvm_list_head *list)
{
	vm_list_lock(lock, vm);
	if (gpuvm_list_empty(entry))
		gpuvm_list_add_tail(entry, list);
	vm_list_unlock(lock, vm);
}

static void vm_list_del_init(struct gpuvm *vm, struct gpuvm_mutex *lock,
			     struct gpuvm_list_head *entry)
{
	vm_list_lock(lock, vm);
	if (!gpuvm_list_empty(entry))
		gpuvm_list_del_init(entry);
	vm_list_unlock(lock, vm);
}

struct gpuvm_bo *gpuvm_bo_create(struct gpuvm *vm, struct gpuvm_gem *obj)
{
	const struct gpuvm_ops *ops = vm->ops;
	struct gpuvm_bo *vm_bo;

	if (ops->vm_bo_alloc) {
		vm_bo = ops->vm_bo_alloc();
		if (vm_bo)
			memset(vm_bo, 0, sizeof(*vm_bo));
	} else {
		vm_bo = gpuvm_zalloc(sizeof(*vm_bo));
	}
	if (!vm_bo)
		return NULL;
	vm_bo->vm = gpuvm_get(vm);
	vm_bo->obj = gpuvm_gem_get(obj);
	gpuvm_kref_init(&vm_bo->kref);
	gpuvm_list_init(&vm_bo->list.gpuva);
	gpuvm_list_init(&vm_bo->list.entry.gem);
	gpuvm_list_init(&vm_bo->list.entry.extobj);
	gpuvm_list_init(&vm_bo->list.entry.evict);
	gpuvm_init_llist_node(&vm_bo->list.entry.bo_defer);
	return vm_bo;
}

/*
 * The end of every vm_bo: free it, then drop its VM and object references.
 * The object goes last: its free may release memory the VM still points
 * into (a root object shared as reservation).
 */
static void vm_bo_destroy_not_in_lists(struct gpuvm_bo *vm_bo)
{
	struct gpuvm *vm = vm_bo->vm;
	struct gpuvm_gem *obj = vm_bo->obj;

	if (vm->ops->vm_bo_free)
		vm->ops->vm_bo_free(vm_bo);
	else
		gpuvm_free(vm_bo, sizeof(*vm_bo));
	gpuvm_put(vm);
	gpuvm_gem_put(obj);
}

static void vm_bo_destroy(struct gpuvm_kref *kref)
{
	struct gpuvm_bo *vm_bo =
		gpuvm_container_of(kref, struct gpuvm_bo, kref);
	struct gpuvm *vm = vm_bo->vm;

	if (gpuvm_resv_protected(vm))
		gpuvm_vm_resv_assert_held(vm);
	vm_list_del_init(vm, &vm->extobj.lock, &vm_bo->list.entry.extobj);
	vm_list_del_init(vm, &vm->evict.lock, &vm_bo->list.entry.evict);
	gpuvm_gem_gpuva_assert_lock_held(vm, vm_bo->obj);
	gpuvm_list_del(&vm_bo->list.entry.gem);
	vm_bo_destroy_not_in_lists(vm_bo);
}

struct gpuvm_bo *gpuvm_bo_get(struct gpuvm_bo *vm_bo)
{
	if (vm_bo)
		gpuvm_kref_get(&vm_bo->kref);
	return vm_bo;
}

bool gpuvm_bo_put(struct gpuvm_bo *vm_bo)
{
	if (!vm_bo)
		return false;
	return gpuvm_kref_put(&vm_bo->kref, vm_bo_destroy);
}

static struct gpuvm_bo *find_locked(struct gpuvm *vm, struct gpuvm_gem *obj)
{
	struct gpuvm_bo *vm_bo;

	gpuvm_gem_gpuva_assert_lock_held(vm, obj);
	gpuvm_gem_for_each_vm_bo(vm_bo, obj) {
		if (vm_bo->vm == vm)
			return vm_bo;
	}
	return NULL;
}

struct gpuvm_bo *gpuvm_bo_find(struct gpuvm *vm, struct gpuvm_gem *obj)
{
	return gpuvm_bo_get(find_locked(vm, obj));
}

struct gpuvm_bo *gpuvm_bo_obtain_locked(struct gpuvm *vm, struct gpuvm_gem *obj,
					int *err)
{
	struct gpuvm_bo *vm_bo;
	int dummy;

	if (!err)
		err = &dummy;
	*err = 0;
	if (gpuvm_immediate_mode(vm)) {
		gpuvm_warn("VM '%s': gpuvm_bo_obtain_locked() allocates under "
			   "the GEM mutex; use gpuvm_bo_obtain_prealloc() in "
			   "immediate mode",
			   vm->name);
		*err = -EINVAL;
		return NULL;
	}
	vm_bo = gpuvm_bo_find(vm, obj);
	if (vm_bo)
		return vm_bo;
	vm_bo = gpuvm_bo_create(vm, obj);
	if (!vm_bo) {
		*err = -ENOMEM;
		return NULL;
	}
	gpuvm_list_add_tail(&vm_bo->list.entry.gem, &obj->gpuva.list);
	return vm_bo;
}

static void vm_bo_destroy_not_in_lists_kref(struct gpuvm_kref *kref)
{
	vm_bo_destroy_not_in_lists(
		gpuvm_container_of(kref, struct gpuvm_bo, kref));
}

struct gpuvm_bo *gpuvm_bo_obtain_prealloc(struct gpuvm_bo *prealloc)
{
	struct gpuvm *vm = prealloc->vm;
	struct gpuvm_gem *obj = prealloc->obj;
	struct gpuvm_bo *vm_bo;

	/* Upstream warns and goes on; with checks enabled this aborts. */
	if (!gpuvm_immediate_mode(vm)) {
#ifdef GPUVM_CHECKS
		gpuvm_bug("gpuvm_bo_obtain_prealloc() on VM '%s', which is not "
			  "in immediate mode",
			  vm->name);
#else
		gpuvm_warn("VM '%s': gpuvm_bo_obtain_prealloc() outside "
			   "immediate mode",
			   vm->name);
#endif
	}
	gpuvm_gem_gpuva_lock(obj);
	vm_bo = gpuvm_bo_find(vm, obj);
	if (!vm_bo)
		gpuvm_list_add_tail(&prealloc->list.entry.gem,
				    &obj->gpuva.list);
	gpuvm_gem_gpuva_unlock(obj);
	if (!vm_bo)
		return prealloc;
	/* The duplicate is on no list; destroy it outside the mutex. */
	gpuvm_kref_put(&prealloc->kref, vm_bo_destroy_not_in_lists_kref);
	return vm_bo;
}

void gpuva_link(struct gpuva *va, struct gpuvm_bo *vm_bo)
{
	struct gpuvm_gem *obj = va->gem.obj;

	if (!obj)
		return;
	if (gpuvm_unlikely(obj != vm_bo->obj))
		gpuvm_warn("linking a mapping at 0x%llx to the vm_bo of "
			   "another object",
			   (unsigned long long)va->va.addr);
	gpuvm_gem_gpuva_assert_lock_held(vm_bo->vm, obj);
	va->vm_bo = gpuvm_bo_get(vm_bo);
	gpuvm_list_add_tail(&va->gem.entry, &vm_bo->list.gpuva);
}

void gpuva_unlink(struct gpuva *va)
{
	struct gpuvm_gem *obj = va->gem.obj;
	struct gpuvm_bo *vm_bo = va->vm_bo;

	if (!obj)
		return;
	gpuvm_gem_gpuva_assert_lock_held(va->vm, obj);
	gpuvm_list_del_init(&va->gem.entry);
	va->vm_bo = NULL;
	gpuvm_bo_put(vm_bo);
}

void gpuvm_bo_extobj_add(struct gpuvm_bo *vm_bo)
{
	struct gpuvm *vm = vm_bo->vm;

	if (gpuvm_resv_protected(vm))
		gpuvm_vm_resv_assert_held(vm);
	if (gpuvm_is_extobj(vm, vm_bo->obj))
		vm_list_add(vm, &vm->extobj.lock, &vm_bo->list.entry.extobj,
			    &vm->extobj.list);
}

void gpuvm_bo_evict(struct gpuvm_bo *vm_bo, bool evict)
{
	struct gpuvm *vm = vm_bo->vm;
	struct gpuvm_gem *obj = vm_bo->obj;

	gpuvm_resv_assert_held(obj->resv);
	vm_bo->evicted = evict;
	/*
	 * A resv-protected VM guards its evict list with its own reservation,
	 * which an external object's holder does not have: only flag it;
	 * prepare_objects moves it under the VM's reservation.
	 */
	if (gpuvm_resv_protected(vm) && gpuvm_is_extobj(vm, obj))
		return;
	if (evict)
		vm_list_add(vm, &vm->evict.lock, &vm_bo->list.entry.evict,
			    &vm->evict.list);
	else
		vm_list_del_init(vm, &vm->evict.lock, &vm_bo->list.entry.evict);
}

void gpuvm_bo_gem_evict(struct gpuvm_gem *obj, bool evict)
{
	struct gpuvm_bo *vm_bo;

	gpuvm_gem_for_each_vm_bo(vm_bo, obj) {
		gpuvm_gem_gpuva_assert_lock_held(vm_bo->vm, obj);
		gpuvm_bo_evict(vm_bo, evict);
	}
}

/*
 * The lock-free walk of a non-resv-protected list (see the header's table):
 * take the next entry that can still be referenced, park it on the walk's
 * local list, and hand it out with a reference. The previous entry's
 * reference is dropped first, outside the list lock, because dropping it
 * may destroy the vm_bo, which takes the same lock.
 */
static struct gpuvm_bo *entry_to_vm_bo(struct gpuvm_list_head *e, bool extobj)
{
	return extobj ? gpuvm_container_of(e, struct gpuvm_bo,
					   list.entry.extobj)
		      : gpuvm_container_of(e, struct gpuvm_bo,
					   list.entry.evict);
}

static struct gpuvm_bo *walk_next(struct gpuvm *vm, struct gpuvm_bo_list *l,
				  struct gpuvm_list_head *local,
				  struct gpuvm_bo *prev)
{
	const bool extobj = l == &vm->extobj;
	struct gpuvm_bo *vm_bo = NULL;

	gpuvm_bo_put(prev);
	gpuvm_mutex_lock(&l->lock);
	if (!l->local_list)
		l->local_list = local;
	else if (gpuvm_unlikely(l->local_list != local))
		gpuvm_warn("VM '%s': two walks of the same %s list at once",
			   vm->name, extobj ? "extobj" : "evict");
	while (!gpuvm_list_empty(&l->list)) {
		struct gpuvm_list_head *e = l->list.next;

		vm_bo = entry_to_vm_bo(e, extobj);
		if (gpuvm_kref_get_unless_zero(&vm_bo->kref)) {
			gpuvm_list_del(e);
			gpuvm_list_add_tail(e, local);
			break;
		}
		/* Being destroyed: its destroyer will find it unlinked. */
		gpuvm_list_del_init(e);
		vm_bo = NULL;
	}
	gpuvm_mutex_unlock(&l->lock);
	return vm_bo;
}

/* Puts the walked entries back in front, in their order. */
static void walk_restore(struct gpuvm_bo_list *l)
{
	gpuvm_mutex_lock(&l->lock);
	if (l->local_list) {
		gpuvm_list_splice_init(l->local_list, &l->list);
		l->local_list = NULL;
	}
	gpuvm_mutex_unlock(&l->lock);
}

static int exec_prepare(struct gpuvm_exec *exec, struct gpuvm_gem *obj,
			unsigned int num_fences)
{
	return num_fences ? gpuvm_exec_prepare_obj(exec, obj, num_fences)
			  : gpuvm_exec_lock_obj(exec, obj);
}

int gpuvm_prepare_vm(struct gpuvm *vm, struct gpuvm_exec *exec,
		     unsigned int num_fences)
{
	if (!vm->r_obj)
		return 0;
	return exec_prepare(exec, vm->r_obj, num_fences);
}

int gpuvm_prepare_objects(struct gpuvm *vm, struct gpuvm_exec *exec,
			  unsigned int num_fences)
{
	struct gpuvm_list_head local;
	struct gpuvm_bo *vm_bo;
	int ret = 0;

	if (gpuvm_resv_protected(vm)) {
		gpuvm_vm_resv_assert_held(vm);
		gpuvm_list_for_each_entry(vm_bo, &vm->extobj.list,
					  struct gpuvm_bo, list.entry.extobj) {
			/* Its cleanup takes it off under this reservation. */
			if (gpuvm_bo_is_zombie(vm_bo))
				continue;
			ret = exec_prepare(exec, vm_bo->obj, num_fences);
			if (ret)
				break;
			/* Flagged by gpuvm_bo_evict(); the list is ours now. */
			if (vm_bo->evicted &&
			    gpuvm_list_empty(&vm_bo->list.entry.evict))
				gpuvm_list_add_tail(&vm_bo->list.entry.evict,
						    &vm->evict.list);
		}
		return ret;
	}

	gpuvm_list_init(&local);
	for (vm_bo = walk_next(vm, &vm->extobj, &local, NULL); vm_bo;
	     vm_bo = walk_next(vm, &vm->extobj, &local, vm_bo)) {
		ret = exec_prepare(exec, vm_bo->obj, num_fences);
		if (ret)
			break;
	}
	/* Drop the reference of the entry we broke out on. */
	gpuvm_bo_put(vm_bo);
	walk_restore(&vm->extobj);
	return ret;
}

int gpuvm_prepare_range(struct gpuvm *vm, struct gpuvm_exec *exec,
			uint64_t addr, uint64_t range, unsigned int num_fences)
{
	struct gpuvm_va_iter it;
	struct gpuva *va;
	int ret;

	if (!range || gpuvm_add_overflows(addr, range - 1))
		return -EINVAL;
	gpuvm_for_each_va_range(va, &it, vm, addr,
				addr + range ? addr + range : UINT64_MAX) {
		/* Sparse mappings and the reserved node have nothing to lock.
		 */
		if (!va->gem.obj)
			continue;
		ret = exec_prepare(exec, va->gem.obj, num_fences);
		if (ret)
			return ret;
	}
	return 0;
}

int gpuvm_vm_exec_lock(struct gpuvm_vm_exec *vm_exec)
{
	struct gpuvm *vm = vm_exec->vm;
	struct gpuvm_exec *exec = &vm_exec->exec;
	unsigned int num_fences = vm_exec->num_fences;
	int ret = 0;

	gpuvm_exec_init(exec, vm_exec->flags, 0);
	gpuvm_exec_until_all_locked(exec) {
		ret = gpuvm_prepare_vm(vm, exec, num_fences);
		gpuvm_exec_retry_on_contention(exec);
		if (ret)
			break;
		ret = gpuvm_prepare_objects(vm, exec, num_fences);
		gpuvm_exec_retry_on_contention(exec);
		if (ret)
			break;
		if (vm_exec->extra.fn) {
			ret = vm_exec->extra.fn(vm_exec);
			gpuvm_exec_retry_on_contention(exec);
			if (ret)
				break;
		}
	}
	if (ret)
		gpuvm_exec_fini(exec);
	return ret;
}

struct lock_array_args {
	struct gpuvm_gem *const *objs;
	unsigned int num_objs;
};

static int fn_lock_array(struct gpuvm_vm_exec *vm_exec)
{
	const struct lock_array_args *args = vm_exec->extra.priv;

	return gpuvm_exec_prepare_array(&vm_exec->exec, args->objs,
					args->num_objs, vm_exec->num_fences);
}

int gpuvm_vm_exec_lock_array(struct gpuvm_vm_exec *vm_exec,
			     struct gpuvm_gem *const *objs,
			     unsigned int num_objs)
{
	struct lock_array_args args = { objs, num_objs };
	int ret;

	vm_exec->extra.fn = fn_lock_array;
	vm_exec->extra.priv = &args;
	ret = gpuvm_vm_exec_lock(vm_exec);
	/* @args dies with this frame. */
	vm_exec->extra.fn = NULL;
	vm_exec->extra.priv = NULL;
	return ret;
}

int gpuvm_vm_exec_lock_range(struct gpuvm_vm_exec *vm_exec, uint64_t addr,
			     uint64_t range)
{
	struct gpuvm_exec *exec = &vm_exec->exec;
	int ret = 0;

	gpuvm_exec_init(exec, vm_exec->flags, 0);
	gpuvm_exec_until_all_locked(exec) {
		ret = gpuvm_prepare_range(vm_exec->vm, exec, addr, range,
					  vm_exec->num_fences);
		gpuvm_exec_retry_on_contention(exec);
		if (ret)
			break;
	}
	if (ret)
		gpuvm_exec_fini(exec);
	return ret;
}

void gpuvm_vm_exec_unlock(struct gpuvm_vm_exec *vm_exec)
{
	gpuvm_exec_fini(&vm_exec->exec);
}

int gpuvm_validate(struct gpuvm *vm, struct gpuvm_exec *exec)
{
	const struct gpuvm_ops *ops = vm->ops;
	struct gpuvm_list_head local;
	struct gpuvm_bo *vm_bo, *next;
	int ret = 0;

	if (!ops->vm_bo_validate)
		return -EOPNOTSUPP;

	if (gpuvm_resv_protected(vm)) {
		gpuvm_vm_resv_assert_held(vm);
		gpuvm_list_for_each_entry_safe(vm_bo, next, &vm->evict.list,
					       struct gpuvm_bo,
					       list.entry.evict) {
			if (gpuvm_bo_is_zombie(vm_bo))
				continue;
			ret = ops->vm_bo_validate(vm_bo, exec);
			if (ret)
				break;
			gpuvm_resv_assert_held(vm_bo->obj->resv);
			if (!vm_bo->evicted)
				gpuvm_list_del_init(&vm_bo->list.entry.evict);
		}
		return ret;
	}

	gpuvm_list_init(&local);
	for (vm_bo = walk_next(vm, &vm->evict, &local, NULL); vm_bo;
	     vm_bo = walk_next(vm, &vm->evict, &local, vm_bo)) {
		ret = ops->vm_bo_validate(vm_bo, exec);
		if (ret)
			break;
	}
	gpuvm_bo_put(vm_bo);
	walk_restore(&vm->evict);
	return ret;
}

void gpuvm_resv_add_fence_vm(struct gpuvm *vm, struct gpuvm_exec *exec,
			     struct gpuvm_fence *fence,
			     enum gpuvm_resv_usage private_usage,
			     enum gpuvm_resv_usage extobj_usage)
{
	struct gpuvm_gem *obj;
	unsigned int i;

	gpuvm_exec_for_each_locked_object(exec, i, obj) {
		gpuvm_resv_assert_held(obj->resv);
		gpuvm_resv_add_fence(obj->resv, fence,
				     gpuvm_is_extobj(vm, obj) ? extobj_usage
							      : private_usage);
	}
}

/* Deferred cleanup (see "DOC: Deferred vm_bo cleanup" in vm_bo.h). */

static bool require_immediate(const struct gpuvm *vm, const char *what)
{
	if (gpuvm_likely(gpuvm_immediate_mode(vm)))
		return true;
#ifdef GPUVM_CHECKS
	gpuvm_bug("%s on VM '%s', which is not in immediate mode", what,
		  vm->name);
#else
	gpuvm_warn("%s on VM '%s', which is not in immediate mode; ignored",
		   what, vm->name);
	return false;
#endif
}

/*
 * Step 2 of the protocol, with the object's gpuva mutex held and the count
 * just dropped to zero: off the object's list (no lookup can find it any
 * more) and, without resv protection, off extobj/evict.
 */
static void into_zombie(struct gpuvm_kref *kref)
{
	struct gpuvm_bo *vm_bo =
		gpuvm_container_of(kref, struct gpuvm_bo, kref);
	struct gpuvm *vm = vm_bo->vm;

	if (!gpuvm_resv_protected(vm)) {
		vm_list_del_init(vm, &vm->extobj.lock,
				 &vm_bo->list.entry.extobj);
		vm_list_del_init(vm, &vm->evict.lock, &vm_bo->list.entry.evict);
	}
	gpuvm_list_del_init(&vm_bo->list.entry.gem);
}

/*
 * A deferred put on a zombie is a double put by the caller. The count would
 * wrap around and the zombie would look alive to every walk that skips
 * zombies, so checks abort. Reading zero is conclusive: a caller that holds
 * a reference reads at least one.
 */
static void check_referenced(const struct gpuvm_bo *vm_bo, const char *what)
{
#ifdef GPUVM_CHECKS
	if (gpuvm_unlikely(gpuvm_bo_is_zombie(vm_bo)))
		gpuvm_bug("%s: vm_bo %p has no reference left (put twice?)",
			  what, (const void *)vm_bo);
#else
	(void)vm_bo;
	(void)what;
#endif
}

/* Step 3: queue, strictly after the mutex was released. */
static void defer_zombie(struct gpuvm *vm, struct gpuvm_bo *vm_bo)
{
	atomic_fetch_add_explicit(&vm->nr_zombies, 1, memory_order_relaxed);
	gpuvm_llist_add(&vm_bo->list.entry.bo_defer, &vm->bo_defer);
}

bool gpuvm_bo_put_deferred(struct gpuvm_bo *vm_bo)
{
	struct gpuvm *vm;
	struct gpuvm_gem *obj;
	bool zombie;

	if (!vm_bo)
		return false;
	vm = vm_bo->vm;
	obj = vm_bo->obj;
	if (!require_immediate(vm, "gpuvm_bo_put_deferred()"))
		return false;
	check_referenced(vm_bo, "gpuvm_bo_put_deferred()");
	/* Step 1: only the 1->0 transition needs the mutex. */
	if (gpuvm_kref_dec_not_one(&vm_bo->kref))
		return false;
	gpuvm_gem_gpuva_lock(obj);
	zombie = gpuvm_kref_put(&vm_bo->kref, into_zombie);
	gpuvm_gem_gpuva_unlock(obj);
	if (zombie)
		defer_zombie(vm, vm_bo);
	return zombie;
}

void gpuva_unlink_defer(struct gpuva *va)
{
	(void)gpuvm_va_unlink_defer_zombie(va);
}

bool gpuvm_va_unlink_defer_zombie(struct gpuva *va)
{
	struct gpuvm_gem *obj = va->gem.obj;
	struct gpuvm_bo *vm_bo = va->vm_bo;
	struct gpuvm *vm;
	bool zombie;

	if (!obj)
		return false;
#ifdef GPUVM_CHECKS
	if (gpuvm_unlikely(!vm_bo))
		gpuvm_bug("gpuva_unlink_defer(): the mapping at 0x%llx is not "
			  "linked",
			  (unsigned long long)va->va.addr);
#endif
	vm = vm_bo->vm;
	if (!require_immediate(vm, "gpuva_unlink_defer()"))
		return false;
	check_referenced(vm_bo, "gpuva_unlink_defer()");
	gpuvm_gem_gpuva_lock(obj);
	gpuvm_list_del_init(&va->gem.entry);
	zombie = gpuvm_kref_put(&vm_bo->kref, into_zombie);
	gpuvm_gem_gpuva_unlock(obj);
	va->vm_bo = NULL;
	/* Once queued, a cleanup elsewhere may free it: decide before. */
	if (zombie)
		defer_zombie(vm, vm_bo);
	return zombie;
}

void gpuvm_bo_deferred_cleanup(struct gpuvm *vm)
{
	struct gpuvm_llist_node *first, *node, *next;
	struct gpuvm_resv *resv = gpuvm_vm_resv(vm);

	gpuvm_context_check(GPUVM_RULE_GEM_PUT, "gpuvm_bo_deferred_cleanup()");
	first = gpuvm_llist_del_all(&vm->bo_defer);
	if (!first)
		return;

	/*
	 * Hold the VM across the drain. The count of queued zombies drops one
	 * by one below, so without this reference each zombie's VM put would
	 * look to gpuvm_put() like a VM kept alive only by zombies and warn;
	 * with it, the VM's final put (if this batch holds it) comes once, at
	 * the end.
	 */
	gpuvm_get(vm);
	if (gpuvm_resv_protected(vm)) {
		/* One lock for the whole batch, not one per zombie. */
		(void)gpuvm_resv_lock(resv, NULL);
		gpuvm_llist_for_each(node, first) {
			struct gpuvm_bo *vm_bo = gpuvm_llist_entry(
				node, struct gpuvm_bo, list.entry.bo_defer);

			if (!gpuvm_list_empty(&vm_bo->list.entry.extobj))
				gpuvm_list_del_init(&vm_bo->list.entry.extobj);
			if (!gpuvm_list_empty(&vm_bo->list.entry.evict))
				gpuvm_list_del_init(&vm_bo->list.entry.evict);
		}
		gpuvm_resv_unlock(resv);
	}

	gpuvm_llist_for_each_safe(node, next, first) {
		atomic_fetch_sub_explicit(&vm->nr_zombies, 1,
					  memory_order_relaxed);
		vm_bo_destroy_not_in_lists(gpuvm_llist_entry(
			node, struct gpuvm_bo, list.entry.bo_defer));
	}
	gpuvm_put(vm);
}
