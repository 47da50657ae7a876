// SPDX-License-Identifier: MIT
/*
 * Copyright (c) 2026 The libgpuvm authors
 *
 * vm_bo in staged and immediate mode: creation and lookup, references and
 * destruction, mapping links, the extobj and evict lists in both list modes,
 * validation, fences, and the exec helpers that lock a VM's objects.
 */
#include "objtest.h"

/* VM flag sets of the staged-mode tests that run in both list modes. */
static const uint32_t staged_modes[] = { 0, GPUVM_RESV_PROTECTED };

/* ------------------------------------------------------------------ */
/* Creation, lookup, references.                                        */

static void test_create_put(void **state)
{
	const struct gpuvm_ops *ops[] = { &ot_ops, &ot_ops_alloc };

	(void)state;
	for (unsigned int k = 0; k < 2; k++) {
		struct gpuvm *vm = ot_vm_new(0, true, ops[k]);
		uint64_t live = tu_live_allocs();
		struct gpuvm_bo *vm_bo;
		struct ot_bo e;

		ot_bo_init(&e, 4096);
		vm_bo = gpuvm_bo_create(vm, &e.gem);
		assert_non_null(vm_bo);
		assert_int_equal(tu_live_allocs(), live + (k ? 0 : 1));
		assert_int_equal(ot_c()->vm_bo_allocs, k);
		assert_ptr_equal(vm_bo->vm, vm);
		assert_ptr_equal(vm_bo->obj, &e.gem);
		assert_false(vm_bo->evicted);
		assert_int_equal(gpuvm_kref_read(&vm_bo->kref), 1);
		assert_true(gpuvm_list_empty(&vm_bo->list.gpuva));
		assert_true(gpuvm_list_empty(&vm_bo->list.entry.gem));
		assert_true(gpuvm_list_empty(&vm_bo->list.entry.extobj));
		assert_true(gpuvm_list_empty(&vm_bo->list.entry.evict));
		assert_int_equal(gpuvm_kref_read(&vm->kref), 2);
		assert_int_equal(ot_refs(&e.gem), 2);
		/* Created on no list: the object's list is untouched. */
		assert_true(gpuvm_list_empty(&e.gem.gpuva.list));

		assert_null(gpuvm_bo_get(NULL));
		assert_false(gpuvm_bo_put(NULL));
		assert_ptr_equal(gpuvm_bo_get(vm_bo), vm_bo);
		assert_false(gpuvm_bo_put(vm_bo));
		assert_true(ot_bo_put(vm_bo));
		assert_int_equal(ot_c()->vm_bo_frees, k);
		assert_int_equal(tu_live_allocs(), live);
		assert_int_equal(gpuvm_kref_read(&vm->kref), 1);
		ot_bo_put_last(&e);
		ot_vm_put_last(vm);
	}
}

static void test_create_enomem(void **state)
{
	struct gpuvm *vm = ot_vm_new(0, true, &ot_ops);
	struct gpuvm *vm2 = ot_vm_new(0, true, &ot_ops_alloc);
	struct ot_bo e;

	(void)state;
	ot_bo_init(&e, 1);
	gpuvm_alloc_fail_nth(1, false);
	assert_null(gpuvm_bo_create(vm, &e.gem));
	assert_false(gpuvm_alloc_fail_pending());
	ot_c()->vm_bo_alloc_fail = true;
	assert_null(gpuvm_bo_create(vm2, &e.gem));
	assert_int_equal(ot_refs(&e.gem), 1);
	assert_int_equal(gpuvm_kref_read(&vm->kref), 1);
	assert_int_equal(gpuvm_kref_read(&vm2->kref), 1);
	ot_bo_put_last(&e);
	ot_vm_put_last(vm);
	ot_vm_put_last(vm2);
}

static void test_find_obtain(void **state)
{
	struct gpuvm *vm = ot_vm_new(0, true, &ot_ops_alloc);
	struct gpuvm *vm2 = ot_vm_new(0, true, &ot_ops_alloc);
	struct gpuvm_bo *a, *b, *c;
	struct ot_bo e;
	int err = 1;

	(void)state;
	ot_bo_init(&e, 1);
	ot_lock(&e.gem);
	assert_null(gpuvm_bo_find(vm, &e.gem));
	a = gpuvm_bo_obtain_locked(vm, &e.gem, &err);
	assert_non_null(a);
	assert_int_equal(err, 0);
	assert_int_equal(gpuvm_kref_read(&a->kref), 1);
	assert_int_equal(ot_gem_vm_bo_count(&e.gem), 1);
	assert_false(gpuvm_list_empty(&a->list.entry.gem));
	/* Obtaining never lists the vm_bo as an external object. */
	assert_int_equal(ot_extobj_count(vm, NULL), 0);

	/* One vm_bo per (VM, object). */
	assert_ptr_equal(gpuvm_bo_find(vm, &e.gem), a);
	assert_int_equal(gpuvm_kref_read(&a->kref), 2);
	err = 1;
	assert_ptr_equal(gpuvm_bo_obtain_locked(vm, &e.gem, &err), a);
	assert_int_equal(err, 0);
	assert_ptr_equal(gpuvm_bo_obtain_locked(vm, &e.gem, NULL), a);
	assert_int_equal(gpuvm_kref_read(&a->kref), 4);
	assert_int_equal(ot_gem_vm_bo_count(&e.gem), 1);
	assert_int_equal(ot_c()->vm_bo_allocs, 1);

	/* Another VM gets its own. */
	b = gpuvm_bo_obtain_locked(vm2, &e.gem, NULL);
	assert_non_null(b);
	assert_ptr_not_equal(a, b);
	assert_int_equal(ot_gem_vm_bo_count(&e.gem), 2);
	c = gpuvm_bo_find(vm2, &e.gem);
	assert_ptr_equal(c, b);
	/* References: the object is held once per vm_bo. */
	assert_int_equal(ot_refs(&e.gem), 3);
	assert_int_equal(gpuvm_kref_read(&vm->kref), 2);
	assert_int_equal(gpuvm_kref_read(&vm2->kref), 2);

	for (unsigned int i = 0; i < 3; i++)
		assert_false(gpuvm_bo_put(a));
	assert_true(gpuvm_bo_put(a));
	assert_null(gpuvm_bo_find(vm, &e.gem));
	assert_int_equal(ot_gem_vm_bo_count(&e.gem), 1);
	assert_false(gpuvm_bo_put(c));
	assert_true(gpuvm_bo_put(b));
	assert_true(gpuvm_list_empty(&e.gem.gpuva.list));
	ot_unlock(&e.gem);
	assert_int_equal(ot_c()->vm_bo_frees, 2);
	ot_bo_put_last(&e);
	ot_vm_put_last(vm);
	ot_vm_put_last(vm2);
}

/* Every allocation of obtain fails in turn: nothing is left behind. */
static void test_obtain_enomem(void **state)
{
	struct gpuvm *vm = ot_vm_new(0, true, &ot_ops);
	struct gpuvm *vm2 = ot_vm_new(0, true, &ot_ops_alloc);
	uint64_t live = tu_live_allocs();
	struct gpuvm_bo *vm_bo;
	struct ot_bo e;
	int err = 0;

	(void)state;
	ot_bo_init(&e, 1);
	ot_lock(&e.gem);
	gpuvm_alloc_fail_nth(1, false);
	vm_bo = gpuvm_bo_obtain_locked(vm, &e.gem, &err);
	assert_false(gpuvm_alloc_fail_pending());
	assert_null(vm_bo);
	assert_int_equal(err, -ENOMEM);
	/* Without an error pointer. */
	gpuvm_alloc_fail_nth(1, false);
	assert_null(gpuvm_bo_obtain_locked(vm, &e.gem, NULL));
	/* Through the user's allocator. */
	ot_c()->vm_bo_alloc_fail = true;
	err = 0;
	assert_null(gpuvm_bo_obtain_locked(vm2, &e.gem, &err));
	assert_int_equal(err, -ENOMEM);
	ot_c()->vm_bo_alloc_fail = false;

	assert_true(gpuvm_list_empty(&e.gem.gpuva.list));
	assert_int_equal(ot_refs(&e.gem), 1);
	assert_int_equal(gpuvm_kref_read(&vm->kref), 1);
	assert_int_equal(gpuvm_kref_read(&vm2->kref), 1);
	assert_int_equal(tu_live_allocs(), live);
	/* And it works afterwards. */
	vm_bo = gpuvm_bo_obtain_locked(vm, &e.gem, &err);
	assert_non_null(vm_bo);
	assert_true(gpuvm_bo_put(vm_bo));
	ot_unlock(&e.gem);
	ot_bo_put_last(&e);
	ot_vm_put_last(vm);
	ot_vm_put_last(vm2);
}

static void test_obtain_refused_in_immediate_mode(void **state)
{
	struct gpuvm *vm = ot_vm_new(GPUVM_IMMEDIATE_MODE, true, &ot_ops);
	struct ot_bo e;
	int err = 0;

	(void)state;
	ot_bo_init(&e, 1);
	tu_expect_warnings(1);
	gpuvm_gem_gpuva_lock(&e.gem);
	assert_null(gpuvm_bo_obtain_locked(vm, &e.gem, &err));
	gpuvm_gem_gpuva_unlock(&e.gem);
	assert_int_equal(err, -EINVAL);
	assert_true(gpuvm_list_empty(&e.gem.gpuva.list));
	assert_int_equal(ot_refs(&e.gem), 1);
	assert_int_equal(gpuvm_kref_read(&vm->kref), 1);
	ot_bo_put_last(&e);
	ot_vm_put_last(vm);
}

/* Destroying leaves every list and drops the VM and object references. */
static void test_destroy_leaves_lists(void **state)
{
	(void)state;
	for (unsigned int m = 0; m < 2; m++) {
		struct gpuvm *vm =
			ot_vm_new(staged_modes[m], true, &ot_ops_alloc);
		struct gpuvm_resv *vres = gpuvm_vm_resv(vm);
		struct gpuvm_bo *ext, *priv;
		struct ot_bo e, p;

		ot_bo_init(&e, 1);
		ot_bo_init_priv(&p, 1, vm->r_obj);
		ext = ot_obtain(vm, &e.gem);
		priv = ot_obtain(vm, &p.gem);

		assert_int_equal(gpuvm_resv_lock(vres, NULL), 0);
		gpuvm_bo_extobj_add(ext);
		gpuvm_bo_extobj_add(priv);
		gpuvm_bo_evict(priv, true);
		gpuvm_resv_unlock(vres);
		ot_lock(&e.gem);
		gpuvm_bo_evict(ext, true);
		ot_unlock(&e.gem);
		if (m) {
			/* Resv-protected: the external one is only flagged. */
			assert_int_equal(ot_evict_count(vm, ext), 0);
			assert_true(ext->evicted);
		} else {
			assert_int_equal(ot_evict_count(vm, ext), 1);
		}
		assert_int_equal(ot_extobj_count(vm, ext), 1);
		assert_int_equal(ot_evict_count(vm, priv), 1);
		assert_int_equal(gpuvm_kref_read(&vm->kref), 3);
		/* The private object holds the root object. */
		assert_int_equal(ot_refs(vm->r_obj), 2);

		assert_true(ot_bo_put(ext));
		assert_true(ot_bo_put(priv));
		assert_int_equal(ot_c()->vm_bo_frees, 2 * (m + 1));
		assert_int_equal(ot_extobj_count(vm, NULL), 0);
		assert_int_equal(ot_evict_count(vm, NULL), 0);
		assert_true(gpuvm_list_empty(&e.gem.gpuva.list));
		assert_true(gpuvm_list_empty(&p.gem.gpuva.list));
		assert_int_equal(gpuvm_kref_read(&vm->kref), 1);
		ot_bo_put_last(&e);
		ot_bo_put_last(&p);
		ot_vm_put_last(vm);
	}
}

/* The VM goes away last: its vm_bos keep it alive, and the root object. */
static void test_vm_bo_holds_vm(void **state)
{
	struct gpuvm *vm = ot_vm_new(0, true, &ot_ops);
	unsigned int frees = ot_c()->vm_frees;
	struct gpuvm_bo *vm_bo;
	struct ot_bo p;

	(void)state;
	ot_bo_init_priv(&p, 1, vm->r_obj);
	vm_bo = ot_obtain(vm, &p.gem);
	gpuvm_put(vm);
	assert_int_equal(ot_c()->vm_frees, frees);
	assert_int_equal(gpuvm_kref_read(&vm->kref), 1);
	/* The destroy drops the VM, whose root the object still holds. */
	assert_true(ot_bo_put(vm_bo));
	assert_int_equal(ot_c()->vm_frees, frees + 1);
	ot_bo_put_last(&p);
}

/* ------------------------------------------------------------------ */
/* Mapping links and the iterators.                                     */

static void test_link_unlink(void **state)
{
	struct gpuvm *vm = ot_vm_new(0, true, &ot_ops_alloc);
	struct gpuva *va1, *va2, *va0, *it;
	struct gpuvm_bo *vm_bo;
	struct ot_bo e;
	unsigned int n = 0, vm_refs;

	(void)state;
	ot_bo_init(&e, 0x10000);
	va1 = ot_map(vm, 0x200000, 0x1000, &e.gem);
	va2 = ot_map(vm, 0x300000, 0x2000, &e.gem);
	va0 = ot_map(vm, 0x400000, 0x1000, NULL);
	vm_refs = gpuvm_kref_read(&vm->kref);

	ot_lock(&e.gem);
	vm_bo = gpuvm_bo_obtain_locked(vm, &e.gem, NULL);
	gpuva_link(va1, vm_bo);
	assert_ptr_equal(va1->vm_bo, vm_bo);
	assert_int_equal(gpuvm_kref_read(&vm_bo->kref), 2);
	gpuva_link(va2, vm_bo);
	assert_int_equal(gpuvm_kref_read(&vm_bo->kref), 3);
	/* A mapping without an object is not linked. */
	gpuva_link(va0, vm_bo);
	assert_null(va0->vm_bo);
	assert_int_equal(gpuvm_kref_read(&vm_bo->kref), 3);

	gpuvm_bo_for_each_va(it, vm_bo) {
		assert_ptr_equal(it, n ? va2 : va1);
		n++;
	}
	assert_int_equal(n, 2);

	/* The links keep the vm_bo once its obtainer lets go. */
	assert_false(gpuvm_bo_put(vm_bo));
	gpuva_unlink(va1);
	assert_null(va1->vm_bo);
	assert_int_equal(gpuvm_kref_read(&vm_bo->kref), 1);
	gpuva_unlink(va0);
	assert_int_equal(ot_c()->vm_bo_frees, 0);
	/* The last link drops the last reference: destroyed. */
	gpuva_unlink(va2);
	assert_int_equal(ot_c()->vm_bo_frees, 1);
	assert_true(gpuvm_list_empty(&e.gem.gpuva.list));
	ot_unlock(&e.gem);
	/* The vm_bo's VM reference went with it; the mappings' stay. */
	assert_int_equal(gpuvm_kref_read(&vm->kref), vm_refs);
	assert_int_equal(ot_refs(&e.gem), 1);

	ot_unmap(va1);
	ot_unmap(va2);
	ot_unmap(va0);
	ot_bo_put_last(&e);
	ot_vm_put_last(vm);
}

static void test_for_each_va_safe(void **state)
{
	struct gpuvm *vm = ot_vm_new(0, true, &ot_ops);
	struct gpuva *va[4], *it, *next;
	struct gpuvm_bo *vm_bo;
	struct ot_bo p;
	unsigned int n = 0;

	(void)state;
	ot_bo_init_priv(&p, 0x10000, vm->r_obj);
	ot_lock(&p.gem);
	vm_bo = gpuvm_bo_obtain_locked(vm, &p.gem, NULL);
	for (unsigned int i = 0; i < 4; i++) {
		va[i] = ot_map(vm, 0x200000 + i * 0x10000, 0x1000, &p.gem);
		gpuva_link(va[i], vm_bo);
	}
	assert_int_equal(gpuvm_kref_read(&vm_bo->kref), 5);
	gpuvm_bo_for_each_va_safe(it, next, vm_bo) {
		assert_ptr_equal(it, va[n]);
		gpuva_unlink(it);
		n++;
	}
	assert_int_equal(n, 4);
	assert_true(gpuvm_list_empty(&vm_bo->list.gpuva));
	assert_true(gpuvm_bo_put(vm_bo));
	ot_unlock(&p.gem);
	for (unsigned int i = 0; i < 4; i++)
		ot_unmap(va[i]);
	ot_bo_put_last(&p);
	ot_vm_put_last(vm);
}

static void test_gem_for_each_vm_bo(void **state)
{
	struct gpuvm *vm[3];
	struct gpuvm_bo *vm_bo[3], *it, *next;
	struct ot_bo e;
	unsigned int n = 0;

	(void)state;
	ot_bo_init(&e, 1);
	ot_lock(&e.gem);
	for (unsigned int i = 0; i < 3; i++) {
		vm[i] = ot_vm_new(0, true, &ot_ops_alloc);
		vm_bo[i] = gpuvm_bo_obtain_locked(vm[i], &e.gem, NULL);
	}
	gpuvm_gem_for_each_vm_bo(it, &e.gem) {
		assert_ptr_equal(it, vm_bo[n]);
		assert_ptr_equal(it->vm, vm[n]);
		n++;
	}
	assert_int_equal(n, 3);
	n = 0;
	gpuvm_gem_for_each_vm_bo_safe(it, next, &e.gem) {
		assert_ptr_equal(it, vm_bo[n]);
		assert_true(gpuvm_bo_put(it));
		n++;
	}
	assert_int_equal(n, 3);
	assert_true(gpuvm_list_empty(&e.gem.gpuva.list));
	ot_unlock(&e.gem);
	assert_int_equal(ot_c()->vm_bo_frees, 3);
	for (unsigned int i = 0; i < 3; i++)
		ot_vm_put_last(vm[i]);
	ot_bo_put_last(&e);
}

/* ------------------------------------------------------------------ */
/* extobj and evict lists.                                              */

static void test_extobj_add(void **state)
{
	(void)state;
	for (unsigned int m = 0; m < 2; m++) {
		struct gpuvm *vm = ot_vm_new(staged_modes[m], true, &ot_ops);
		struct gpuvm_resv *vres = gpuvm_vm_resv(vm);
		struct gpuvm_bo *ext, *ext2, *priv;
		struct ot_bo e, e2, p;

		ot_bo_init(&e, 1);
		ot_bo_init(&e2, 1);
		ot_bo_init_priv(&p, 1, vm->r_obj);
		assert_true(gpuvm_is_extobj(vm, &e.gem));
		assert_false(gpuvm_is_extobj(vm, &p.gem));
		assert_false(gpuvm_is_extobj(vm, vm->r_obj));
		assert_false(gpuvm_is_extobj(vm, NULL));
		ext = ot_obtain(vm, &e.gem);
		ext2 = ot_obtain(vm, &e2.gem);
		priv = ot_obtain(vm, &p.gem);

		assert_int_equal(gpuvm_resv_lock(vres, NULL), 0);
		gpuvm_bo_extobj_add(ext);
		gpuvm_bo_extobj_add(priv);
		gpuvm_bo_extobj_add(ext);
		gpuvm_bo_extobj_add(ext2);
		gpuvm_bo_extobj_add(ext);
		gpuvm_resv_unlock(vres);
		assert_int_equal(ot_extobj_count(vm, ext), 1);
		assert_int_equal(ot_extobj_count(vm, ext2), 1);
		assert_int_equal(ot_extobj_count(vm, priv), 0);
		assert_int_equal(ot_extobj_count(vm, NULL), 2);
		/* In the order they were first added. */
		assert_ptr_equal(gpuvm_list_first_entry(&vm->extobj.list,
							struct gpuvm_bo,
							list.entry.extobj),
				 ext);
		/* No reference is held by the list. */
		assert_int_equal(gpuvm_kref_read(&ext->kref), 1);

		assert_true(ot_bo_put(ext));
		assert_true(ot_bo_put(ext2));
		assert_true(ot_bo_put(priv));
		ot_bo_put_last(&e);
		ot_bo_put_last(&e2);
		ot_bo_put_last(&p);
		ot_vm_put_last(vm);
	}
}

/* A VM without a root object: every object is external. */
static void test_extobj_without_root(void **state)
{
	struct gpuvm *vm = ot_vm_new(0, false, &ot_ops);
	struct gpuvm_bo *a, *b;
	struct ot_bo e, owner, p;

	(void)state;
	ot_bo_init(&e, 1);
	ot_bo_init(&owner, 1);
	ot_bo_init_priv(&p, 1, &owner.gem);
	assert_null(gpuvm_vm_resv(vm));
	assert_true(gpuvm_is_extobj(vm, &p.gem));
	a = ot_obtain(vm, &e.gem);
	b = ot_obtain(vm, &p.gem);
	gpuvm_bo_extobj_add(a);
	gpuvm_bo_extobj_add(b);
	assert_int_equal(ot_extobj_count(vm, NULL), 2);
	assert_true(ot_bo_put(a));
	assert_true(ot_bo_put(b));
	gpuvm_gem_put(&owner.gem);
	ot_bo_put_last(&p);
	assert_int_equal(owner.frees, 1);
	ot_bo_put_last(&e);
	ot_vm_put_last(vm);
}

static void test_evict_plain(void **state)
{
	struct gpuvm *vm = ot_vm_new(0, true, &ot_ops);
	struct gpuvm *vm2 = ot_vm_new(0, true, &ot_ops);
	struct gpuvm_bo *ext, *ext2, *priv;
	struct ot_bo e, p;

	(void)state;
	ot_bo_init(&e, 1);
	ot_bo_init_priv(&p, 1, vm->r_obj);
	ext = ot_obtain(vm, &e.gem);
	ext2 = ot_obtain(vm2, &e.gem);
	priv = ot_obtain(vm, &p.gem);

	ot_lock(&e.gem);
	gpuvm_bo_evict(ext, true);
	assert_true(ext->evicted);
	assert_int_equal(ot_evict_count(vm, ext), 1);
	gpuvm_bo_evict(ext, true);
	assert_int_equal(ot_evict_count(vm, ext), 1);
	/* Evicting is independent of the extobj list. */
	assert_int_equal(ot_extobj_count(vm, NULL), 0);
	gpuvm_bo_evict(ext, false);
	assert_false(ext->evicted);
	assert_int_equal(ot_evict_count(vm, NULL), 0);
	gpuvm_bo_evict(ext, false);
	assert_int_equal(ot_evict_count(vm, NULL), 0);

	/* Every VM that maps the object. */
	gpuvm_bo_gem_evict(&e.gem, true);
	assert_true(ext->evicted);
	assert_true(ext2->evicted);
	assert_int_equal(ot_evict_count(vm, ext), 1);
	assert_int_equal(ot_evict_count(vm2, ext2), 1);
	gpuvm_bo_gem_evict(&e.gem, false);
	assert_int_equal(ot_evict_count(vm, NULL), 0);
	assert_int_equal(ot_evict_count(vm2, NULL), 0);
	gpuvm_bo_gem_evict(&e.gem, true);
	ot_unlock(&e.gem);

	ot_lock(&p.gem);
	gpuvm_bo_gem_evict(&p.gem, true);
	assert_true(priv->evicted);
	assert_int_equal(ot_evict_count(vm, NULL), 2);
	ot_unlock(&p.gem);

	assert_true(ot_bo_put(ext));
	assert_true(ot_bo_put(ext2));
	assert_true(ot_bo_put(priv));
	ot_bo_put_last(&e);
	ot_bo_put_last(&p);
	ot_vm_put_last(vm);
	ot_vm_put_last(vm2);
}

/* Locks the VM's reservation and its external objects in @exec. */
static void lock_vm_objects(struct gpuvm *vm, struct gpuvm_exec *exec,
			    unsigned int num_fences)
{
	int ret;

	gpuvm_exec_init(exec, GPUVM_EXEC_IGNORE_DUPLICATES, 0);
	gpuvm_exec_until_all_locked(exec) {
		ret = gpuvm_prepare_vm(vm, exec, num_fences);
		gpuvm_exec_retry_on_contention(exec);
		assert_int_equal(ret, 0);
		ret = gpuvm_prepare_objects(vm, exec, num_fences);
		gpuvm_exec_retry_on_contention(exec);
		assert_int_equal(ret, 0);
	}
}

static void test_evict_resv_protected(void **state)
{
	struct gpuvm *vm = ot_vm_new(GPUVM_RESV_PROTECTED, true, &ot_ops);
	struct gpuvm_resv *vres = gpuvm_vm_resv(vm);
	struct gpuvm_bo *ext, *priv;
	struct gpuvm_exec exec;
	struct ot_bo e, p;

	(void)state;
	ot_bo_init(&e, 1);
	ot_bo_init_priv(&p, 1, vm->r_obj);
	ext = ot_obtain(vm, &e.gem);
	priv = ot_obtain(vm, &p.gem);
	assert_int_equal(gpuvm_resv_lock(vres, NULL), 0);
	gpuvm_bo_extobj_add(ext);
	/* Private: the VM's reservation is the object's; listed at once. */
	gpuvm_bo_evict(priv, true);
	assert_int_equal(ot_evict_count(vm, priv), 1);
	gpuvm_resv_unlock(vres);

	/* External: only flagged under its own reservation. */
	ot_lock(&e.gem);
	gpuvm_bo_gem_evict(&e.gem, true);
	ot_unlock(&e.gem);
	assert_true(ext->evicted);
	assert_int_equal(ot_evict_count(vm, ext), 0);

	/* Preparing the objects under the VM's reservation lists it. */
	lock_vm_objects(vm, &exec, 1);
	assert_int_equal(exec.num_objects, 2);
	assert_int_equal(ot_evict_count(vm, ext), 1);
	gpuvm_exec_fini(&exec);
	lock_vm_objects(vm, &exec, 0);
	assert_int_equal(ot_evict_count(vm, ext), 1);
	assert_int_equal(ot_evict_count(vm, NULL), 2);
	gpuvm_exec_fini(&exec);

	/* Un-evicting the external one only clears the flag, too. */
	ot_lock(&e.gem);
	gpuvm_bo_evict(ext, false);
	ot_unlock(&e.gem);
	assert_false(ext->evicted);
	assert_int_equal(ot_evict_count(vm, ext), 1);

	assert_true(ot_bo_put(ext));
	assert_true(ot_bo_put(priv));
	assert_int_equal(ot_evict_count(vm, NULL), 0);
	ot_bo_put_last(&e);
	ot_bo_put_last(&p);
	ot_vm_put_last(vm);
}

/* ------------------------------------------------------------------ */
/* Validation.                                                          */

struct val_fixture {
	struct gpuvm *vm;
	struct ot_bo e, p;
	struct gpuvm_bo *ext, *priv;
};

static void val_setup(struct val_fixture *f, uint32_t flags,
		      const struct gpuvm_ops *ops)
{
	struct gpuvm_resv *vres;

	f->vm = ot_vm_new(flags, true, ops);
	vres = gpuvm_vm_resv(f->vm);
	ot_bo_init(&f->e, 1);
	ot_bo_init_priv(&f->p, 1, f->vm->r_obj);
	f->ext = ot_obtain(f->vm, &f->e.gem);
	f->priv = ot_obtain(f->vm, &f->p.gem);
	assert_int_equal(gpuvm_resv_lock(vres, NULL), 0);
	gpuvm_bo_extobj_add(f->ext);
	gpuvm_bo_evict(f->priv, true);
	gpuvm_resv_unlock(vres);
	ot_lock(&f->e.gem);
	gpuvm_bo_evict(f->ext, true);
	ot_unlock(&f->e.gem);
}

static void val_teardown(struct val_fixture *f)
{
	assert_true(ot_bo_put(f->ext));
	assert_true(ot_bo_put(f->priv));
	ot_bo_put_last(&f->e);
	ot_bo_put_last(&f->p);
	ot_vm_put_last(f->vm);
}

static void test_validate(void **state)
{
	(void)state;
	for (unsigned int m = 0; m < 2; m++) {
		struct ot_counters *c = ot_c();
		struct val_fixture f;
		struct gpuvm_exec exec;

		val_setup(&f, staged_modes[m], &ot_ops);
		lock_vm_objects(f.vm, &exec, 1);
		assert_int_equal(ot_evict_count(f.vm, NULL), 2);

		/* The callback fails on the first entry: the walk stops. */
		c->validate_fail_at = 1;
		c->validate_err = -EIO;
		assert_int_equal(gpuvm_validate(f.vm, &exec), -EIO);
		assert_int_equal(c->validates, 1);
		assert_int_equal(ot_evict_count(f.vm, NULL), 2);

		/* The callback leaves them evicted: they stay listed. */
		c->validates = 0;
		c->validate_fail_at = 0;
		c->validate_clear = false;
		assert_int_equal(gpuvm_validate(f.vm, &exec), 0);
		assert_int_equal(c->validates, 2);
		assert_int_equal(ot_evict_count(f.vm, NULL), 2);

		/* In list order; each cleared leaves the list. */
		c->validates = 0;
		c->validate_clear = true;
		assert_int_equal(gpuvm_validate(f.vm, &exec), 0);
		assert_int_equal(c->validates, 2);
		assert_ptr_equal(c->validated[0], f.priv);
		assert_ptr_equal(c->validated[1], f.ext);
		assert_int_equal(ot_evict_count(f.vm, NULL), 0);
		assert_false(f.ext->evicted);
		assert_false(f.priv->evicted);

		/* Nothing left to do. */
		c->validates = 0;
		assert_int_equal(gpuvm_validate(f.vm, &exec), 0);
		assert_int_equal(c->validates, 0);
		gpuvm_exec_fini(&exec);
		val_teardown(&f);
	}
}

static void test_validate_unsupported(void **state)
{
	struct val_fixture f;
	struct gpuvm_exec exec;

	(void)state;
	val_setup(&f, 0, &ot_ops_novalidate);
	lock_vm_objects(f.vm, &exec, 0);
	assert_int_equal(gpuvm_validate(f.vm, &exec), -EOPNOTSUPP);
	assert_int_equal(ot_evict_count(f.vm, NULL), 2);
	gpuvm_exec_fini(&exec);
	val_teardown(&f);
}

/* ------------------------------------------------------------------ */
/* Fences.                                                              */

static unsigned int fence_usages(struct gpuvm_resv *resv,
				 struct gpuvm_fence *fence,
				 enum gpuvm_resv_usage *usage)
{
	struct gpuvm_resv_iter it;
	struct gpuvm_fence *f;
	unsigned int n = 0;

	gpuvm_resv_for_each_fence(&it, resv, GPUVM_RESV_USAGE_BOOKKEEP, f)
	{
		if (f == fence) {
			*usage = gpuvm_resv_iter_usage(&it);
			n++;
		}
	}
	return n;
}

static void test_resv_add_fence_vm(void **state)
{
	(void)state;
	for (unsigned int m = 0; m < 2; m++) {
		struct gpuvm *vm = ot_vm_new(staged_modes[m], true, &ot_ops);
		struct gpuvm_vm_exec vm_exec = { 0 };
		enum gpuvm_resv_usage usage;
		struct gpuvm_bo *vm_bo[3];
		struct gpuvm_fence fence;
		struct gpuvm_gem *obj;
		struct ot_bo e1, e2, p;
		unsigned int i;

		ot_bo_init(&e1, 1);
		ot_bo_init(&e2, 1);
		ot_bo_init_priv(&p, 1, vm->r_obj);
		vm_bo[0] = ot_obtain(vm, &e1.gem);
		vm_bo[1] = ot_obtain(vm, &e2.gem);
		vm_bo[2] = ot_obtain(vm, &p.gem);
		assert_int_equal(gpuvm_resv_lock(gpuvm_vm_resv(vm), NULL), 0);
		for (i = 0; i < 3; i++)
			gpuvm_bo_extobj_add(vm_bo[i]);
		gpuvm_resv_unlock(gpuvm_vm_resv(vm));

		gpuvm_fence_init(&fence, NULL, gpuvm_fence_context_alloc(1), 1);
		vm_exec.vm = vm;
		vm_exec.num_fences = 1;
		assert_int_equal(gpuvm_vm_exec_lock(&vm_exec), 0);
		/* Root, e1, e2: the private object is the root's lock. */
		assert_int_equal(vm_exec.exec.num_objects, 3);
		gpuvm_exec_for_each_locked_object(&vm_exec.exec, i, obj)
			assert_true(obj->resv->num_reserved >= 1);
		gpuvm_resv_add_fence_vm(vm, &vm_exec.exec, &fence,
					GPUVM_RESV_USAGE_BOOKKEEP,
					GPUVM_RESV_USAGE_READ);
		assert_int_equal(fence_usages(vm->r_obj->resv, &fence, &usage),
				 1);
		assert_int_equal(usage, GPUVM_RESV_USAGE_BOOKKEEP);
		assert_int_equal(fence_usages(p.gem.resv, &fence, &usage), 1);
		assert_int_equal(usage, GPUVM_RESV_USAGE_BOOKKEEP);
		assert_int_equal(fence_usages(e1.gem.resv, &fence, &usage), 1);
		assert_int_equal(usage, GPUVM_RESV_USAGE_READ);
		assert_int_equal(fence_usages(e2.gem.resv, &fence, &usage), 1);
		assert_int_equal(usage, GPUVM_RESV_USAGE_READ);
		/* One reference per reservation. */
		assert_int_equal(gpuvm_kref_read(&fence.refcount), 4);
		gpuvm_vm_exec_unlock(&vm_exec);
		for (i = 0; i < 3; i++)
			assert_true(ot_bo_put(vm_bo[i]));
		ot_bo_put_last(&e1);
		ot_bo_put_last(&e2);
		ot_bo_put_last(&p);
		ot_vm_put_last(vm);
		assert_int_equal(gpuvm_kref_read(&fence.refcount), 1);
		gpuvm_fence_signal(&fence);
		gpuvm_fence_put(&fence);
	}
}

/* ------------------------------------------------------------------ */
/* The exec helpers.                                                    */

static unsigned int locked_count(struct gpuvm_exec *exec, struct gpuvm_gem *obj)
{
	struct gpuvm_gem *it;
	unsigned int i, n = 0;

	gpuvm_exec_for_each_locked_object(exec, i, it) {
		if (it == obj)
			n++;
	}
	return n;
}

static void test_prepare_vm(void **state)
{
	struct gpuvm *bare = ot_vm_new(0, false, &ot_ops);
	struct gpuvm *vm = ot_vm_new(0, true, &ot_ops);
	struct gpuvm_exec exec;
	int ret;

	(void)state;
	gpuvm_exec_init(&exec, 0, 0);
	gpuvm_exec_until_all_locked(&exec) {
		ret = gpuvm_prepare_vm(bare, &exec, 3);
		gpuvm_exec_retry_on_contention(&exec);
		assert_int_equal(ret, 0);
		ret = gpuvm_prepare_objects(bare, &exec, 3);
		gpuvm_exec_retry_on_contention(&exec);
		assert_int_equal(ret, 0);
		assert_int_equal(exec.num_objects, 0);
		ret = gpuvm_prepare_vm(vm, &exec, 0);
		gpuvm_exec_retry_on_contention(&exec);
		assert_int_equal(ret, 0);
		assert_int_equal(vm->r_obj->resv->num_reserved, 0);
		/* Again, without duplicates allowed, with fences. */
		ret = gpuvm_prepare_vm(vm, &exec, 2);
		gpuvm_exec_retry_on_contention(&exec);
		assert_int_equal(ret, -EALREADY);
	}
	assert_int_equal(exec.num_objects, 1);
	assert_ptr_equal(exec.objects[0], vm->r_obj);
	gpuvm_exec_fini(&exec);

	gpuvm_exec_init(&exec, 0, 0);
	gpuvm_exec_until_all_locked(&exec) {
		ret = gpuvm_prepare_vm(vm, &exec, 2);
		gpuvm_exec_retry_on_contention(&exec);
		assert_int_equal(ret, 0);
	}
	assert_true(vm->r_obj->resv->num_reserved >= 2);
	gpuvm_exec_fini(&exec);
	assert_false(gpuvm_resv_is_locked(vm->r_obj->resv));
	ot_vm_put_last(bare);
	ot_vm_put_last(vm);
}

static void test_prepare_objects(void **state)
{
	(void)state;
	for (unsigned int m = 0; m < 2; m++) {
		struct gpuvm *vm = ot_vm_new(staged_modes[m], true, &ot_ops);
		struct gpuvm_bo *vm_bo[4];
		struct gpuvm_exec exec;
		struct ot_bo e[4];
		unsigned int i;

		for (i = 0; i < 4; i++) {
			ot_bo_init(&e[i], 1);
			vm_bo[i] = ot_obtain(vm, &e[i].gem);
		}
		/* Only e0..e2 are listed. */
		assert_int_equal(gpuvm_resv_lock(gpuvm_vm_resv(vm), NULL), 0);
		for (i = 0; i < 3; i++)
			gpuvm_bo_extobj_add(vm_bo[i]);
		gpuvm_resv_unlock(gpuvm_vm_resv(vm));

		lock_vm_objects(vm, &exec, 2);
		assert_int_equal(exec.num_objects, 4);
		assert_ptr_equal(exec.objects[0], vm->r_obj);
		for (i = 0; i < 3; i++) {
			/* In list order, each once. */
			assert_ptr_equal(exec.objects[i + 1], &e[i].gem);
			assert_true(e[i].gem.resv->num_reserved >= 2);
		}
		assert_int_equal(locked_count(&exec, &e[3].gem), 0);
		assert_false(gpuvm_resv_is_locked(e[3].gem.resv));
		/* The walk put the list back as it was. */
		assert_int_equal(ot_extobj_count(vm, NULL), 3);
		assert_ptr_equal(gpuvm_list_first_entry(&vm->extobj.list,
							struct gpuvm_bo,
							list.entry.extobj),
				 vm_bo[0]);
		assert_null(vm->extobj.local_list);
		/* And the walk's references are gone. */
		for (i = 0; i < 4; i++)
			assert_int_equal(gpuvm_kref_read(&vm_bo[i]->kref), 1);
		gpuvm_exec_fini(&exec);

		for (i = 0; i < 4; i++) {
			assert_true(ot_bo_put(vm_bo[i]));
			ot_bo_put_last(&e[i]);
		}
		ot_vm_put_last(vm);
	}
}

/* An allocation failure stops the walk cleanly and the list survives. */
static void test_prepare_objects_enomem(void **state)
{
	struct gpuvm *vm = ot_vm_new(0, true, &ot_ops);
	struct gpuvm_bo *vm_bo[3];
	struct gpuvm_exec exec;
	struct ot_bo e[3];
	unsigned int i;
	int ret = 0;

	(void)state;
	for (i = 0; i < 3; i++) {
		ot_bo_init(&e[i], 1);
		vm_bo[i] = ot_obtain(vm, &e[i].gem);
		gpuvm_bo_extobj_add(vm_bo[i]);
	}
	gpuvm_exec_init(&exec, 0, 8);
	gpuvm_exec_until_all_locked(&exec) {
		/* The slot reservation of the first object fails. */
		gpuvm_alloc_fail_nth(1, false);
		ret = gpuvm_prepare_objects(vm, &exec, 4);
		gpuvm_exec_retry_on_contention(&exec);
		if (ret)
			break;
	}
	assert_int_equal(ret, -ENOMEM);
	assert_int_equal(exec.num_objects, 0);
	gpuvm_exec_fini(&exec);
	assert_int_equal(ot_extobj_count(vm, NULL), 3);
	assert_null(vm->extobj.local_list);
	for (i = 0; i < 3; i++) {
		assert_int_equal(gpuvm_kref_read(&vm_bo[i]->kref), 1);
		assert_true(ot_bo_put(vm_bo[i]));
		ot_bo_put_last(&e[i]);
	}
	ot_vm_put_last(vm);
}

static void test_prepare_range(void **state)
{
	struct gpuvm *vm = ot_vm_new_ex(0, true, &ot_ops, 0x180000, 0x10000);
	struct gpuva *va[6];
	struct gpuvm_exec exec;
	struct ot_bo a, b, c, p;
	int ret;

	(void)state;
	ot_bo_init(&a, 0x10000);
	ot_bo_init(&b, 0x10000);
	ot_bo_init(&c, 0x10000);
	ot_bo_init_priv(&p, 0x10000, vm->r_obj);
	va[0] = ot_map(vm, 0x200000, 0x1000, &a.gem);
	va[1] = ot_map(vm, 0x201000, 0x1000, NULL);
	va[2] = ot_map(vm, 0x202000, 0x1000, &b.gem);
	va[3] = ot_map(vm, 0x203000, 0x1000, &a.gem);
	va[4] = ot_map(vm, 0x300000, 0x1000, &c.gem);
	va[5] = ot_map(vm, 0x400000, 0x1000, &p.gem);

	gpuvm_exec_init(&exec, GPUVM_EXEC_IGNORE_DUPLICATES, 0);
	gpuvm_exec_until_all_locked(&exec) {
		/* The reserved node and the sparse mapping are skipped. */
		ret = gpuvm_prepare_range(vm, &exec, 0x170000, 0x94000, 1);
		gpuvm_exec_retry_on_contention(&exec);
		assert_int_equal(ret, 0);
	}
	assert_int_equal(exec.num_objects, 2);
	assert_ptr_equal(exec.objects[0], &a.gem);
	assert_ptr_equal(exec.objects[1], &b.gem);
	assert_false(gpuvm_resv_is_locked(c.gem.resv));
	assert_false(gpuvm_resv_is_locked(vm->r_obj->resv));
	gpuvm_exec_fini(&exec);

	gpuvm_exec_init(&exec, 0, 0);
	gpuvm_exec_until_all_locked(&exec) {
		ret = gpuvm_prepare_range(vm, &exec, 0x2ff000, 0x102000, 0);
		gpuvm_exec_retry_on_contention(&exec);
		assert_int_equal(ret, 0);
		/* Only a sparse mapping: nothing to lock. */
		ret = gpuvm_prepare_range(vm, &exec, 0x201000, 0x1000, 0);
		gpuvm_exec_retry_on_contention(&exec);
		assert_int_equal(ret, 0);
		assert_int_equal(gpuvm_prepare_range(vm, &exec, 0x200000, 0, 0),
				 -EINVAL);
		/* The same object twice, duplicates not ignored. */
		ret = gpuvm_prepare_range(vm, &exec, 0x200000, 0x4000, 0);
		gpuvm_exec_retry_on_contention(&exec);
		assert_int_equal(ret, -EALREADY);
	}
	/*
	 * c and the private object (the root's reservation); then a and b
	 * from the call that stopped at a's second mapping.
	 */
	assert_int_equal(exec.num_objects, 4);
	assert_ptr_equal(exec.objects[0], &c.gem);
	assert_ptr_equal(exec.objects[1], &p.gem);
	assert_true(ot_held(vm->r_obj));
	assert_ptr_equal(exec.objects[2], &a.gem);
	assert_ptr_equal(exec.objects[3], &b.gem);
	gpuvm_exec_fini(&exec);

	for (unsigned int i = 0; i < 6; i++)
		ot_unmap(va[i]);
	ot_bo_put_last(&a);
	ot_bo_put_last(&b);
	ot_bo_put_last(&c);
	ot_bo_put_last(&p);
	ot_vm_put_last(vm);
}

struct extra_args {
	struct gpuvm_gem *obj;
	unsigned int calls;
	int fail;
	struct holder *holder;
};

static int extra_lock(struct gpuvm_vm_exec *vm_exec)
{
	struct extra_args *x = vm_exec->extra.priv;
	int ret;

	x->calls++;
	if (x->fail)
		return x->fail;
	ret = gpuvm_exec_prepare_obj(&vm_exec->exec, x->obj,
				     vm_exec->num_fences);
	/* Contended by the older helper: let it finish, then restart. */
	if (ret == -EDEADLK && x->holder)
		holder_set(x->holder, 2);
	return ret;
}

struct exec_fixture {
	struct gpuvm *vm;
	struct ot_bo e[2], x, y, p;
	struct gpuvm_bo *vm_bo[3];
	struct gpuva *va[2];
};

static void exec_setup(struct exec_fixture *f, uint32_t flags)
{
	struct gpuvm_resv *vres;

	f->vm = ot_vm_new(flags, true, &ot_ops);
	vres = gpuvm_vm_resv(f->vm);
	ot_bo_init(&f->e[0], 0x1000);
	ot_bo_init(&f->e[1], 0x1000);
	ot_bo_init(&f->x, 0x1000);
	ot_bo_init(&f->y, 0x1000);
	ot_bo_init_priv(&f->p, 0x1000, f->vm->r_obj);
	f->vm_bo[0] = ot_obtain(f->vm, &f->e[0].gem);
	f->vm_bo[1] = ot_obtain(f->vm, &f->e[1].gem);
	f->vm_bo[2] = ot_obtain(f->vm, &f->p.gem);
	assert_int_equal(gpuvm_resv_lock(vres, NULL), 0);
	for (unsigned int i = 0; i < 3; i++)
		gpuvm_bo_extobj_add(f->vm_bo[i]);
	gpuvm_resv_unlock(vres);
	f->va[0] = ot_map(f->vm, 0x200000, 0x1000, &f->x.gem);
	f->va[1] = ot_map(f->vm, 0x201000, 0x1000, &f->p.gem);
}

static void exec_teardown(struct exec_fixture *f)
{
	struct ot_bo *all[] = { &f->e[0], &f->e[1], &f->x, &f->y, &f->p };

	ot_unmap(f->va[0]);
	ot_unmap(f->va[1]);
	for (unsigned int i = 0; i < 3; i++)
		assert_true(ot_bo_put(f->vm_bo[i]));
	for (unsigned int i = 0; i < 5; i++) {
		assert_false(gpuvm_resv_is_locked(all[i]->gem.resv));
		ot_bo_put_last(all[i]);
	}
	ot_vm_put_last(f->vm);
}

static void test_vm_exec_lock(void **state)
{
	(void)state;
	for (unsigned int m = 0; m < 2; m++) {
		struct gpuvm_vm_exec vm_exec = { 0 };
		struct extra_args x = { 0 };
		struct gpuvm_gem *arr[2];
		struct exec_fixture f;

		exec_setup(&f, staged_modes[m]);
		vm_exec.vm = f.vm;
		vm_exec.num_fences = 1;
		vm_exec.flags = GPUVM_EXEC_IGNORE_DUPLICATES;
		assert_int_equal(gpuvm_vm_exec_lock(&vm_exec), 0);
		assert_int_equal(vm_exec.exec.num_objects, 3);
		assert_ptr_equal(vm_exec.exec.objects[0], f.vm->r_obj);
		assert_ptr_equal(vm_exec.exec.objects[1], &f.e[0].gem);
		assert_ptr_equal(vm_exec.exec.objects[2], &f.e[1].gem);
		assert_int_equal(ot_refs(&f.e[0].gem), 3);
		gpuvm_vm_exec_unlock(&vm_exec);
		assert_false(gpuvm_resv_is_locked(f.vm->r_obj->resv));
		assert_false(gpuvm_resv_is_locked(f.e[0].gem.resv));
		assert_int_equal(ot_refs(&f.e[0].gem), 2);

		/* extra.fn locks more, after the VM's objects. */
		x.obj = &f.x.gem;
		vm_exec.extra.fn = extra_lock;
		vm_exec.extra.priv = &x;
		assert_int_equal(gpuvm_vm_exec_lock(&vm_exec), 0);
		assert_int_equal(x.calls, 1);
		assert_int_equal(vm_exec.exec.num_objects, 4);
		assert_ptr_equal(vm_exec.exec.objects[3], &f.x.gem);
		gpuvm_vm_exec_unlock(&vm_exec);

		/* Its error unlocks everything. */
		x.fail = -EIO;
		assert_int_equal(gpuvm_vm_exec_lock(&vm_exec), -EIO);
		assert_false(gpuvm_resv_is_locked(f.vm->r_obj->resv));
		assert_false(gpuvm_resv_is_locked(f.e[1].gem.resv));
		assert_int_equal(ot_refs(&f.e[1].gem), 2);
		vm_exec.extra.fn = NULL;
		vm_exec.extra.priv = NULL;

		/* Extra objects as an array; a duplicate is absorbed. */
		arr[0] = &f.y.gem;
		arr[1] = &f.e[0].gem;
		assert_int_equal(gpuvm_vm_exec_lock_array(&vm_exec, arr, 2), 0);
		assert_int_equal(vm_exec.exec.num_objects, 4);
		assert_ptr_equal(vm_exec.exec.objects[3], &f.y.gem);
		assert_true(f.y.gem.resv->num_reserved >= 1);
		assert_null(vm_exec.extra.fn);
		gpuvm_vm_exec_unlock(&vm_exec);

		/* A range: its objects only, not the VM's reservation... */
		assert_int_equal(
			gpuvm_vm_exec_lock_range(&vm_exec, 0x200000, 0x1000),
			0);
		assert_int_equal(vm_exec.exec.num_objects, 1);
		assert_ptr_equal(vm_exec.exec.objects[0], &f.x.gem);
		assert_false(gpuvm_resv_is_locked(f.vm->r_obj->resv));
		gpuvm_vm_exec_unlock(&vm_exec);
		/* ... unless a private object is mapped there. */
		assert_int_equal(
			gpuvm_vm_exec_lock_range(&vm_exec, 0x200000, 0x2000),
			0);
		assert_int_equal(vm_exec.exec.num_objects, 2);
		assert_true(ot_held(f.vm->r_obj));
		gpuvm_vm_exec_unlock(&vm_exec);
		assert_int_equal(
			gpuvm_vm_exec_lock_range(&vm_exec, 0x200000, 0),
			-EINVAL);
		exec_teardown(&f);
	}
}

/* A contention inside extra.fn restarts the whole loop. */
static void test_vm_exec_lock_contended(void **state)
{
	struct gpuvm_vm_exec vm_exec = { 0 };
	struct extra_args x = { 0 };
	struct gpuvm_gem *held[1];
	struct exec_fixture f;
	struct holder h;

	(void)state;
	exec_setup(&f, 0);
	held[0] = &f.x.gem;
	holder_start(&h, held, 1);
	x.obj = &f.x.gem;
	x.holder = &h;
	vm_exec.vm = f.vm;
	vm_exec.extra.fn = extra_lock;
	vm_exec.extra.priv = &x;
	assert_int_equal(gpuvm_vm_exec_lock(&vm_exec), 0);
	assert_int_equal(x.calls, 2);
	/* The contended object first, then the rest, each once. */
	assert_int_equal(vm_exec.exec.num_objects, 4);
	assert_ptr_equal(vm_exec.exec.objects[0], &f.x.gem);
	assert_int_equal(locked_count(&vm_exec.exec, &f.x.gem), 1);
	assert_int_equal(locked_count(&vm_exec.exec, f.vm->r_obj), 1);
	assert_int_equal(locked_count(&vm_exec.exec, &f.e[0].gem), 1);
	assert_int_equal(locked_count(&vm_exec.exec, &f.e[1].gem), 1);
	holder_join(&h);
	assert_int_equal(ot_refs(&f.x.gem), 2);
	gpuvm_vm_exec_unlock(&vm_exec);
	exec_teardown(&f);
}

/* ------------------------------------------------------------------ */
/* sm_map/sm_unmap exec locking.                                        */

struct sm_fixture {
	struct gpuvm *vm;
	struct ot_bo o[6];
	struct gpuva *va[6];
};

/*
 * A [0x210000, +0x20000), B [0x230000, +0x20000), C [0x250000, +0x20000),
 * a sparse mapping [0x270000, +0x10000), D [0x290000, +0x10000), and a
 * private mapping P [0x2a0000, +0x10000). E maps nothing.
 */
enum { SA, SB, SC, SD, SE, SP };

static void sm_setup(struct sm_fixture *f)
{
	f->vm = ot_vm_new(0, true, &ot_ops);
	for (unsigned int i = 0; i < SP; i++)
		ot_bo_init(&f->o[i], 0x100000);
	ot_bo_init_priv(&f->o[SP], 0x100000, f->vm->r_obj);
	f->va[0] = ot_map(f->vm, 0x210000, 0x20000, &f->o[SA].gem);
	f->va[1] = ot_map(f->vm, 0x230000, 0x20000, &f->o[SB].gem);
	f->va[2] = ot_map(f->vm, 0x250000, 0x20000, &f->o[SC].gem);
	f->va[3] = ot_map(f->vm, 0x270000, 0x10000, NULL);
	f->va[4] = ot_map(f->vm, 0x290000, 0x10000, &f->o[SD].gem);
	f->va[5] = ot_map(f->vm, 0x2a0000, 0x10000, &f->o[SP].gem);
}

static void sm_teardown(struct sm_fixture *f)
{
	for (unsigned int i = 0; i < 6; i++)
		ot_unmap(f->va[i]);
	for (unsigned int i = 0; i < 6; i++) {
		assert_false(gpuvm_resv_is_locked(f->o[i].gem.resv));
		ot_bo_put_last(&f->o[i]);
	}
	ot_vm_put_last(f->vm);
}

/* Runs sm_map_exec_lock (obj given or not) or sm_unmap_exec_lock. */
static int sm_lock(struct sm_fixture *f, struct gpuvm_exec *exec, bool map,
		   struct gpuvm_gem *obj, uint64_t addr, uint64_t range,
		   unsigned int num_fences)
{
	struct gpuvm_map_req req = { 0 };
	int ret = 0;

	req.map.va.addr = addr;
	req.map.va.range = range;
	req.map.gem.obj = obj;
	gpuvm_exec_init(exec, GPUVM_EXEC_IGNORE_DUPLICATES, 0);
	gpuvm_exec_until_all_locked(exec) {
		if (map)
			ret = gpuvm_sm_map_exec_lock(f->vm, exec, num_fences,
						     &req);
		else
			ret = gpuvm_sm_unmap_exec_lock(f->vm, exec, addr,
						       range);
		gpuvm_exec_retry_on_contention(exec);
		if (ret)
			break;
	}
	return ret;
}

static void expect_locked(struct sm_fixture *f, struct gpuvm_exec *exec,
			  const int *order, unsigned int n)
{
	assert_int_equal(exec->num_objects, n);
	/* A private object is recorded as itself, not as the root. */
	for (unsigned int i = 0; i < n; i++)
		assert_ptr_equal(exec->objects[i], &f->o[order[i]].gem);
}

static void test_sm_exec_lock(void **state)
{
	static const int map_e[] = { SE, SA, SB, SC };
	static const int map_a[] = { SA, SB, SC };
	static const int unmap_all[] = { SA, SB, SC, SD, SP };
	static const int inner[] = { SB };
	struct sm_fixture f;
	struct gpuvm_exec exec;
	struct tu_snap snap;

	(void)state;
	sm_setup(&f);
	tu_snap_take(f.vm, &snap);

	/* Remap A, unmap B and C, remap the sparse one (nothing). */
	assert_int_equal(
		sm_lock(&f, &exec, true, &f.o[SE].gem, 0x220000, 0x58000, 2),
		0);
	expect_locked(&f, &exec, map_e, 4);
	assert_true(f.o[SE].gem.resv->num_reserved >= 2);
	assert_false(gpuvm_resv_is_locked(f.o[SD].gem.resv));
	gpuvm_exec_fini(&exec);
	tu_snap_check(f.vm, &snap);

	/* The request's object is one of the touched ones: locked once. */
	assert_int_equal(
		sm_lock(&f, &exec, true, &f.o[SA].gem, 0x220000, 0x58000, 0),
		0);
	expect_locked(&f, &exec, map_a, 3);
	gpuvm_exec_fini(&exec);
	/* A sparse request locks only what it touches. */
	assert_int_equal(sm_lock(&f, &exec, true, NULL, 0x220000, 0x58000, 1),
			 0);
	expect_locked(&f, &exec, map_a, 3);
	gpuvm_exec_fini(&exec);
	/* Strictly inside B: one remap. */
	assert_int_equal(sm_lock(&f, &exec, false, NULL, 0x238000, 0x1000, 0),
			 0);
	expect_locked(&f, &exec, inner, 1);
	gpuvm_exec_fini(&exec);
	/* Unmapping everything: every object, the private one as well. */
	assert_int_equal(sm_lock(&f, &exec, false, NULL, 0x200000, 0x100000, 0),
			 0);
	expect_locked(&f, &exec, unmap_all, 5);
	assert_true(ot_held(f.vm->r_obj));
	gpuvm_exec_fini(&exec);
	/* Only the sparse mapping: nothing to lock. */
	assert_int_equal(sm_lock(&f, &exec, false, NULL, 0x270000, 0x10000, 0),
			 0);
	assert_int_equal(exec.num_objects, 0);
	gpuvm_exec_fini(&exec);
	/* Over empty space: only the request's object. */
	assert_int_equal(
		sm_lock(&f, &exec, true, &f.o[SE].gem, 0x400000, 0x1000, 0), 0);
	assert_int_equal(exec.num_objects, 1);
	gpuvm_exec_fini(&exec);
	/* An invalid range. */
	assert_int_equal(sm_lock(&f, &exec, false, NULL, 0x200000, 0, 0),
			 -EINVAL);
	gpuvm_exec_fini(&exec);
	assert_int_equal(sm_lock(&f, &exec, true, NULL, 0, 0x1000, 0), -EINVAL);
	gpuvm_exec_fini(&exec);

	tu_snap_check(f.vm, &snap);
	tu_snap_free(&snap);
	sm_teardown(&f);
}

/* ------------------------------------------------------------------ */
/* bo_unmap_ops_create.                                                 */

static void test_bo_unmap_ops_create(void **state)
{
	struct gpuvm *vm = ot_vm_new(0, true, &ot_ops);
	struct gpuva_ops *ops = NULL;
	struct gpuvm_bo *vm_bo;
	struct gpuva *va[3];
	struct gpuva_op *op;
	struct ot_bo e;
	unsigned int n = 0;
	uint64_t live;

	(void)state;
	ot_bo_init(&e, 0x100000);
	for (unsigned int i = 0; i < 3; i++)
		va[i] = ot_map(vm, 0x300000 - i * 0x10000, 0x1000, &e.gem);
	ot_lock(&e.gem);
	vm_bo = gpuvm_bo_obtain_locked(vm, &e.gem, NULL);

	/* No mappings: an empty list. */
	assert_int_equal(gpuvm_bo_unmap_ops_create(vm_bo, &ops), 0);
	assert_non_null(ops);
	assert_true(gpuvm_list_empty(&ops->list));
	gpuva_ops_free(vm, ops);

	for (unsigned int i = 0; i < 3; i++)
		gpuva_link(va[i], vm_bo);
	assert_int_equal(gpuvm_bo_unmap_ops_create(vm_bo, &ops), 0);
	/* One UNMAP per mapping, in the vm_bo's order, never kept. */
	gpuva_for_each_op(op, ops) {
		assert_int_equal(op->op, GPUVA_OP_UNMAP);
		assert_ptr_equal(op->unmap.va, va[n]);
		assert_false(op->unmap.keep);
		n++;
	}
	assert_int_equal(n, 3);
	gpuva_ops_free(vm, ops);

	assert_int_equal(gpuvm_bo_unmap_ops_create(NULL, &ops), -EINVAL);
	assert_int_equal(gpuvm_bo_unmap_ops_create(vm_bo, NULL), -EINVAL);

	/* Every allocation fails in turn. */
	live = tu_live_allocs();
	for (uint64_t nth = 1;; nth++) {
		int ret;

		gpuvm_alloc_fail_nth(nth, false);
		ops = (void *)&n;
		ret = gpuvm_bo_unmap_ops_create(vm_bo, &ops);
		if (gpuvm_alloc_fail_pending()) {
			gpuvm_alloc_fail_nth(0, false);
			assert_int_equal(ret, 0);
			gpuva_ops_free(vm, ops);
			assert_true(nth > 3);
			break;
		}
		assert_int_equal(ret, -ENOMEM);
		assert_null(ops);
		assert_int_equal(tu_live_allocs(), live);
	}
	assert_int_equal(tu_live_allocs(), live);

	for (unsigned int i = 0; i < 3; i++)
		gpuva_unlink(va[i]);
	assert_true(gpuvm_bo_put(vm_bo));
	ot_unlock(&e.gem);
	for (unsigned int i = 0; i < 3; i++)
		ot_unmap(va[i]);
	ot_bo_put_last(&e);
	ot_vm_put_last(vm);
}

/* ------------------------------------------------------------------ */
/* Immediate mode.                                                      */

static const uint32_t immediate_modes[] = {
	GPUVM_IMMEDIATE_MODE,
	GPUVM_IMMEDIATE_MODE | GPUVM_RESV_PROTECTED,
};

static void test_immediate_prealloc(void **state)
{
	(void)state;
	for (unsigned int m = 0; m < 2; m++) {
		struct ot_counters *c = ot_c();
		struct gpuvm_bo *pre, *pre2, *vm_bo, *found;
		struct gpuvm *vm;
		struct gpuva *va;
		struct ot_bo e;

		ot_counters_reset();
		vm = ot_vm_new(immediate_modes[m], true, &ot_ops_alloc);
		ot_bo_init(&e, 0x1000);
		pre = gpuvm_bo_create(vm, &e.gem);
		assert_non_null(pre);
		vm_bo = gpuvm_bo_obtain_prealloc(pre);
		assert_ptr_equal(vm_bo, pre);
		assert_int_equal(gpuvm_kref_read(&vm_bo->kref), 1);
		assert_int_equal(ot_gem_vm_bo_count(&e.gem), 1);
		assert_false(gpuvm_mutex_is_held(&e.gem.gpuva.lock));

		/* A second preallocation loses to the installed one. */
		pre2 = gpuvm_bo_create(vm, &e.gem);
		assert_non_null(pre2);
		assert_int_equal(gpuvm_kref_read(&vm->kref), 3);
		assert_int_equal(ot_refs(&e.gem), 3);
		assert_ptr_equal(gpuvm_bo_obtain_prealloc(pre2), vm_bo);
		assert_int_equal(c->vm_bo_allocs, 2);
		assert_int_equal(c->vm_bo_frees, 1);
		assert_int_equal(gpuvm_kref_read(&vm_bo->kref), 2);
		assert_int_equal(gpuvm_kref_read(&vm->kref), 2);
		assert_int_equal(ot_refs(&e.gem), 2);
		assert_int_equal(ot_gem_vm_bo_count(&e.gem), 1);

		/* Lookups and links under the gpuva mutex. */
		gpuvm_gem_gpuva_lock(&e.gem);
		found = gpuvm_bo_find(vm, &e.gem);
		assert_ptr_equal(found, vm_bo);
		assert_false(gpuvm_bo_put(found));
		gpuvm_gem_gpuva_unlock(&e.gem);
		va = ot_map(vm, 0x200000, 0x1000, &e.gem);
		gpuvm_gem_gpuva_lock(&e.gem);
		gpuva_link(va, vm_bo);
		assert_int_equal(gpuvm_kref_read(&vm_bo->kref), 3);
		gpuvm_gem_gpuva_unlock(&e.gem);

		/* Eviction is still under the object's reservation. */
		ot_lock(&e.gem);
		gpuvm_bo_evict(vm_bo, true);
		gpuvm_bo_evict(vm_bo, false);
		ot_unlock(&e.gem);

		assert_false(ot_bo_put(vm_bo));
		assert_false(ot_bo_put(vm_bo));
		if (m)
			assert_int_equal(
				gpuvm_resv_lock(gpuvm_vm_resv(vm), NULL), 0);
		gpuvm_gem_gpuva_lock(&e.gem);
		gpuva_unlink(va);
		gpuvm_gem_gpuva_unlock(&e.gem);
		if (m)
			gpuvm_resv_unlock(gpuvm_vm_resv(vm));
		assert_int_equal(c->vm_bo_frees, 2);
		assert_true(gpuvm_list_empty(&e.gem.gpuva.list));
		ot_unmap(va);
		ot_bo_put_last(&e);
		ot_vm_put_last(vm);
	}
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		OT_TEST(test_create_put),
		OT_TEST(test_create_enomem),
		OT_TEST(test_find_obtain),
		OT_TEST(test_obtain_enomem),
		OT_TEST(test_obtain_refused_in_immediate_mode),
		OT_TEST(test_destroy_leaves_lists),
		OT_TEST(test_vm_bo_holds_vm),
		OT_TEST(test_link_unlink),
		OT_TEST(test_for_each_va_safe),
		OT_TEST(test_gem_for_each_vm_bo),
		OT_TEST(test_extobj_add),
		OT_TEST(test_extobj_without_root),
		OT_TEST(test_evict_plain),
		OT_TEST(test_evict_resv_protected),
		OT_TEST(test_validate),
		OT_TEST(test_validate_unsupported),
		OT_TEST(test_resv_add_fence_vm),
		OT_TEST(test_prepare_vm),
		OT_TEST(test_prepare_objects),
		OT_TEST(test_prepare_objects_enomem),
		OT_TEST(test_prepare_range),
		OT_TEST(test_vm_exec_lock),
		OT_TEST(test_vm_exec_lock_contended),
		OT_TEST(test_sm_exec_lock),
		OT_TEST(test_bo_unmap_ops_create),
		OT_TEST(test_immediate_prealloc),
	};

	tu_init(argc, argv, 1, 1);
	return cmocka_run_group_tests_name("objects-vm-bo", tests, NULL, NULL);
}
