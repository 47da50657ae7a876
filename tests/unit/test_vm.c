// SPDX-License-Identifier: MIT
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
/*
 * The VM layer: lifecycle and references, the reserved cut-out, insert and
 * remove, lookups with upstream's find_prev/find_next semantics, range
 * checks, iterators, statistics and node reservations.
 */
#include "testutil.h"

/* The standard layout: [0x10000, 0x100000) with [0x40000, 0x50000) reserved. */
#define S  0x10000ull
#define E  0x100000ull
#define RS 0x40000ull
#define RE 0x50000ull

static struct gpuvm *std_vm(void)
{
	return tu_vm_create(S, E - S, RS, RE - RS);
}

/* ------------------------------------------------------------------ */
/* Lifecycle                                                            */

static unsigned int plain_free_calls;

static void plain_free(struct gpuvm *vm)
{
	(void)vm;
	plain_free_calls++;
}

static const struct gpuvm_ops plain_ops = { .vm_free = plain_free };
static const struct gpuvm_ops no_free_ops = { .vm_free = NULL };

static struct gpuva_op *dummy_op_alloc(void)
{
	return NULL;
}

/* op_alloc without op_free. */
static const struct gpuvm_ops half_op_ops = {
	.vm_free = plain_free,
	.op_alloc = dummy_op_alloc,
};

static void init_must_fail(struct tu_bo *bo, uint64_t start, uint64_t range,
			   uint64_t roff, uint64_t rrange,
			   const struct gpuvm_ops *ops)
{
	struct gpuvm vm;
	unsigned int ref = gpuvm_kref_read(&bo->gem.refcount);
	uint64_t live = tu_live_allocs();

	memset(&vm, 0, sizeof(vm));
	assert_int_equal(gpuvm_init(&vm, "bad", 0, &bo->gem, start, range, roff,
				    rrange, ops),
			 -EINVAL);
	/* Nothing is kept on error: no reference, no memory. */
	assert_int_equal(gpuvm_kref_read(&bo->gem.refcount), ref);
	assert_int_equal(tu_live_allocs(), live);
	assert_int_equal(bo->frees, 0);
}

static void test_init_einval(void **state)
{
	struct tu_bo bo;

	(void)state;
	tu_bo_init(&bo, 0x1000);
	plain_free_calls = 0;

	init_must_fail(&bo, 0x1000, 0, 0, 0, &plain_ops);
	init_must_fail(&bo, UINT64_MAX, 2, 0, 0, &plain_ops);
	/* An end of exactly 2^64 does not fit in 64 bits. */
	init_must_fail(&bo, 0xffffffffffff0000ull, 0x10000, 0, 0, &plain_ops);
	init_must_fail(&bo, 1, UINT64_MAX, 0, 0, &plain_ops);
	/* Reserved cut-outs outside the space or overflowing. */
	init_must_fail(&bo, S, E - S, S - 0x1000, 0x1000, &plain_ops);
	init_must_fail(&bo, S, E - S, S - 0x1000, 0x2000, &plain_ops);
	init_must_fail(&bo, S, E - S, E - 0x1000, 0x2000, &plain_ops);
	init_must_fail(&bo, S, E - S, E, 0x1000, &plain_ops);
	init_must_fail(&bo, S, E - S, 0, E + 0x1000, &plain_ops);
	init_must_fail(&bo, S, E - S, UINT64_MAX - 1, 0x10, &plain_ops);
	init_must_fail(&bo, S, E - S, 0x20000, UINT64_MAX, &plain_ops);
	/* Missing callbacks. */
	init_must_fail(&bo, S, E - S, 0, 0, NULL);
	init_must_fail(&bo, S, E - S, 0, 0, &no_free_ops);
	init_must_fail(&bo, S, E - S, RS, RE - RS, &no_free_ops);
	init_must_fail(&bo, S, E - S, 0, 0, &half_op_ops);

	assert_int_equal(plain_free_calls, 0);
	gpuvm_gem_put(&bo.gem);
	assert_int_equal(bo.frees, 1);
}

static void test_init_fields(void **state)
{
	struct gpuvm_gem *root;
	struct gpuvm vm;
	static const char name[] = "my-vm";
	struct gpuvm_stats st;

	(void)state;
	plain_free_calls = 0;
	memset(&vm, 0, sizeof(vm));
	assert_int_equal(gpuvm_init(&vm, name,
				    GPUVM_IMMEDIATE_MODE | GPUVM_USERBITS, NULL,
				    S, E - S, 0, 0, &plain_ops),
			 0);
	assert_ptr_equal(vm.name, name);
	assert_int_equal(vm.flags, GPUVM_IMMEDIATE_MODE | GPUVM_USERBITS);
	assert_true(gpuvm_immediate_mode(&vm));
	assert_false(gpuvm_resv_protected(&vm));
	assert_int_equal(vm.mm_start, S);
	assert_int_equal(vm.mm_range, E - S);
	assert_ptr_equal(vm.ops, &plain_ops);
	assert_null(vm.r_obj);
	assert_int_equal(gpuvm_kref_read(&vm.kref), 1);
	assert_int_equal(vm.kernel_alloc_node.va.range, 0);
	gpuvm_get_stats(&vm, &st);
	assert_int_equal(st.nr_va, 0);
	assert_int_equal(st.tree_nodes, 0);
	assert_int_equal(st.tree_height, 0);
	TU_CHECK_INV(&vm);
	/* Nothing is found anywhere, not even where a cut-out could be. */
	assert_null(gpuva_find_first(&vm, 0, UINT64_MAX));
	assert_true(gpuvm_interval_empty(&vm, S, E - S));
	gpuvm_put(&vm);
	assert_int_equal(plain_free_calls, 1);

	/* Reservation protection needs a reservation to protect with. */
	memset(&vm, 0, sizeof(vm));
	assert_int_equal(gpuvm_init(&vm, NULL, GPUVM_RESV_PROTECTED, NULL, 0,
				    UINT64_MAX, 0, 0, &plain_ops),
			 -EINVAL);
	root = gpuvm_resv_object_alloc();
	assert_non_null(root);
	assert_int_equal(gpuvm_init(&vm, NULL, GPUVM_RESV_PROTECTED, root, 0,
				    UINT64_MAX, 0, 0, &plain_ops),
			 0);
	assert_int_equal(gpuvm_kref_read(&root->refcount), 2);
	gpuvm_gem_put(root);
	assert_non_null(vm.name);
	assert_string_equal(vm.name, "unknown");
	assert_true(gpuvm_resv_protected(&vm));
	assert_false(gpuvm_immediate_mode(&vm));
	/* The whole 64-bit space minus the last byte address. */
	assert_true(gpuvm_range_valid(&vm, 0, UINT64_MAX));
	assert_false(gpuvm_range_valid(&vm, 1, UINT64_MAX));
	TU_CHECK_INV(&vm);
	gpuvm_put(&vm);
	assert_int_equal(plain_free_calls, 2);

	/* Without a size, the cut-out's offset does not matter. */
	memset(&vm, 0, sizeof(vm));
	assert_int_equal(gpuvm_init(&vm, "x", 0, NULL, S, E - S, UINT64_MAX, 0,
				    &plain_ops),
			 0);
	assert_null(gpuva_find_first(&vm, 0, UINT64_MAX));
	TU_CHECK_INV(&vm);
	gpuvm_put(&vm);
	assert_int_equal(plain_free_calls, 3);
}

static void test_refcounts(void **state)
{
	struct gpuvm vm;
	struct tu_bo r;

	(void)state;
	tu_bo_init(&r, 0x1000);
	plain_free_calls = 0;
	memset(&vm, 0, sizeof(vm));
	assert_int_equal(gpuvm_init(&vm, "r", 0, &r.gem, S, E - S, RS, RE - RS,
				    &plain_ops),
			 0);
	assert_ptr_equal(vm.r_obj, &r.gem);
	assert_int_equal(gpuvm_kref_read(&r.gem.refcount), 2);

	assert_ptr_equal(gpuvm_get(&vm), &vm);
	assert_ptr_equal(gpuvm_get(&vm), &vm);
	assert_int_equal(gpuvm_kref_read(&vm.kref), 3);
	assert_null(gpuvm_get(NULL));
	gpuvm_put(NULL);
	gpuvm_put(&vm);
	gpuvm_put(&vm);
	assert_int_equal(plain_free_calls, 0);
	assert_int_equal(gpuvm_kref_read(&r.gem.refcount), 2);
	TU_CHECK_INV(&vm);

	/* The last put drops r_obj and calls vm_free exactly once. */
	gpuvm_put(&vm);
	assert_int_equal(plain_free_calls, 1);
	assert_int_equal(gpuvm_kref_read(&r.gem.refcount), 1);
	assert_int_equal(r.frees, 0);
	gpuvm_gem_put(&r.gem);
	assert_int_equal(r.frees, 1);
}

static void test_teardown_with_mappings(void **state)
{
	struct gpuvm *vm;
	struct gpuva *a, *b;
	unsigned int frees = *tu_vm_free_counter();
	uint64_t w0;

	(void)state;
	vm = std_vm();
	a = tu_insert(vm, 0x10000, 0x1000, NULL, 0);
	b = tu_insert(vm, 0x60000, 0x1000, NULL, 0);
	assert_int_equal(gpuvm_kref_read(&vm->kref), 3);

	/*
	 * Each mapping holds a VM reference, so tearing down with mappings
	 * present takes deliberate extra puts.
	 */
	w0 = gpuvm_warn_count();
	gpuvm_put(vm);
	gpuvm_put(vm);
	assert_int_equal(gpuvm_warn_count(), w0);
	assert_int_equal(*tu_vm_free_counter(), frees);
	gpuvm_put(vm);
	assert_int_equal(*tu_vm_free_counter(), frees + 1);
	assert_true(gpuvm_warn_count() > w0);
	tu_expect_warnings(gpuvm_warn_count() - w0);
	free(a);
	free(b);
}

static void test_last_ref_by_mapping(void **state)
{
	struct gpuvm *vm;
	struct gpuva *a;
	unsigned int frees = *tu_vm_free_counter();
	uint64_t w0 = gpuvm_warn_count();

	(void)state;
	vm = std_vm();
	a = tu_insert(vm, 0x20000, 0x1000, NULL, 0);
	gpuvm_put(vm);
	assert_int_equal(*tu_vm_free_counter(), frees);
	assert_int_equal(gpuvm_kref_read(&vm->kref), 1);
	TU_CHECK_INV(vm);
	/* The removal drops the last reference after leaving the tree. */
	gpuva_remove(a);
	assert_int_equal(*tu_vm_free_counter(), frees + 1);
	assert_int_equal(gpuvm_warn_count(), w0);
	free(a);
}

/* ------------------------------------------------------------------ */
/* The reserved node                                                    */

static void test_reserved_node(void **state)
{
	struct gpuvm *vm;
	struct gpuva *va, *rsv;
	struct gpuvm_va_iter it;
	struct gpuvm_stats st;
	int n = 0;

	(void)state;
	vm = std_vm();
	rsv = &vm->kernel_alloc_node;
	assert_int_equal(rsv->va.addr, RS);
	assert_int_equal(rsv->va.range, RE - RS);
	assert_true(gpuvm_va_is_reserved(vm, rsv));
	/* The cut-out holds no VM reference. */
	assert_int_equal(gpuvm_kref_read(&vm->kref), 1);

	assert_ptr_equal(gpuva_find_first(vm, S, E - S), rsv);
	assert_ptr_equal(gpuva_find_first(vm, RE - 1, 1), rsv);
	assert_ptr_equal(gpuva_find_first(vm, RS - 1, 2), rsv);
	assert_null(gpuva_find_first(vm, RS - 1, 1));
	assert_null(gpuva_find_first(vm, RE, 1));
	assert_ptr_equal(gpuva_find(vm, RS, RE - RS), rsv);
	assert_null(gpuva_find(vm, RS, 0x1000));
	assert_false(gpuvm_interval_empty(vm, RS, 1));
	assert_false(gpuvm_interval_empty(vm, 0x30000, 0x20000));
	assert_true(gpuvm_interval_empty(vm, S, RS - S));
	assert_true(gpuvm_interval_empty(vm, RE, E - RE));
	assert_false(gpuvm_range_valid(vm, RS, 1));
	assert_false(gpuvm_range_valid(vm, RS + 0x100, 0x100));

	gpuvm_for_each_va(va, &it, vm) {
		assert_ptr_equal(va, rsv);
		n++;
	}
	assert_int_equal(n, 1);
	gpuvm_get_stats(vm, &st);
	assert_int_equal(st.nr_va, 0);
	assert_int_equal(st.tree_height, 1);
	assert_int_equal(st.tree_nodes, 1);

	/* Removing it warns and changes nothing. */
	gpuva_remove(rsv);
	tu_expect_warnings(1);
	assert_int_equal(gpuvm_kref_read(&vm->kref), 1);
	assert_ptr_equal(gpuva_find_first(vm, RS, 1), rsv);
	TU_CHECK_INV(vm);
	tu_vm_destroy(vm);
}

static void test_reserved_whole_space(void **state)
{
	struct gpuvm *vm;
	struct gpuva *va;

	(void)state;
	vm = tu_vm_create(S, E - S, S, E - S);
	va = tu_va_new(S, 0x1000, NULL, 0);
	assert_int_equal(gpuva_insert(vm, va), -EINVAL);
	assert_null(gpuva_find_prev(vm, E));
	assert_null(gpuva_find_next(vm, S));
	free(va);
	tu_vm_destroy(vm);
}

/* ------------------------------------------------------------------ */
/* Insert and remove                                                    */

static void insert_must_fail(struct gpuvm *vm, uint64_t addr, uint64_t range,
			     int err)
{
	struct gpuva *va = tu_va_new(addr, range, NULL, 0);
	unsigned int ref = gpuvm_kref_read(&vm->kref);
	struct tu_snap s;

	tu_snap_take(vm, &s);
	assert_int_equal(gpuva_insert(vm, va), err);
	assert_int_equal(gpuvm_kref_read(&vm->kref), ref);
	tu_snap_check(vm, &s);
	TU_CHECK_INV(vm);
	tu_snap_free(&s);
	free(va);
}

static void test_insert_einval(void **state)
{
	struct gpuvm *vm;

	(void)state;
	vm = std_vm();
	insert_must_fail(vm, 0x20000, 0, -EINVAL);
	insert_must_fail(vm, UINT64_MAX, 1, -EINVAL);
	insert_must_fail(vm, 0x20000, UINT64_MAX, -EINVAL);
	insert_must_fail(vm, 0, 0x1000, -EINVAL);
	insert_must_fail(vm, S - 0x1000, 0x1000, -EINVAL);
	insert_must_fail(vm, S - 0x1000, 0x2000, -EINVAL);
	insert_must_fail(vm, E, 0x1000, -EINVAL);
	insert_must_fail(vm, E - 0x1000, 0x2000, -EINVAL);
	insert_must_fail(vm, 0, UINT64_MAX, -EINVAL);
	/* Touching the cut-out in any way. */
	insert_must_fail(vm, RS - 0x1000, 0x2000, -EINVAL);
	insert_must_fail(vm, RE - 0x1000, 0x2000, -EINVAL);
	insert_must_fail(vm, RS, RE - RS, -EINVAL);
	insert_must_fail(vm, RS + 0x1000, 0x1000, -EINVAL);
	insert_must_fail(vm, RS - 0x1000, RE - RS + 0x2000, -EINVAL);
	insert_must_fail(vm, RS - 1, 2, -EINVAL);
	insert_must_fail(vm, RE - 1, 1, -EINVAL);
	assert_int_equal(tu_count_va(vm), 0);

	/* Right next to the cut-out and the space's edges is fine. */
	tu_insert(vm, RS - 0x1000, 0x1000, NULL, 0);
	tu_insert(vm, RE, 0x1000, NULL, 0);
	tu_insert(vm, S, 0x1000, NULL, 0);
	tu_insert(vm, E - 1, 1, NULL, 0);
	TU_CHECK_INV(vm);
	assert_int_equal(tu_count_va(vm), 4);
	tu_vm_destroy(vm);
}

static void test_insert_eexist(void **state)
{
	struct gpuvm *vm;
	struct gpuva *a;

	(void)state;
	vm = std_vm();
	a = tu_insert(vm, 0x20000, 0x10000, NULL, 0);
	insert_must_fail(vm, 0x20000, 0x10000, -EEXIST);
	insert_must_fail(vm, 0x1f000, 0x2000, -EEXIST);
	insert_must_fail(vm, 0x2f000, 0x2000, -EEXIST);
	insert_must_fail(vm, 0x18000, 0x20000, -EEXIST);
	insert_must_fail(vm, 0x22000, 0x1000, -EEXIST);
	insert_must_fail(vm, 0x20000, 0x1000, -EEXIST);
	insert_must_fail(vm, 0x2f000, 0x1000, -EEXIST);
	insert_must_fail(vm, 0x2ffff, 1, -EEXIST);
	insert_must_fail(vm, 0x1ffff, 2, -EEXIST);
	insert_must_fail(vm, 0x20000, 0x20000, -EEXIST);
	insert_must_fail(vm, S, 0x30000, -EEXIST);
	/* The same struct a second time. */
	assert_int_equal(gpuva_insert(vm, a), -EEXIST);
	assert_int_equal(gpuvm_kref_read(&vm->kref), 2);

	/* Adjacent on both sides. */
	tu_insert(vm, 0x1f000, 0x1000, NULL, 0);
	tu_insert(vm, 0x30000, 0x1000, NULL, 0);
	assert_int_equal(gpuvm_kref_read(&vm->kref), 4);
	insert_must_fail(vm, 0x1f800, 0x1000, -EEXIST);
	TU_CHECK_INV(vm);
	tu_vm_destroy(vm);
}

static void test_insert_remove_refs(void **state)
{
	struct gpuvm *vm;
	struct gpuva *va[4];
	struct tu_bo bo;
	int i;

	(void)state;
	tu_bo_init(&bo, 0x100000);
	vm = std_vm();
	for (i = 0; i < 4; i++) {
		va[i] = tu_va_new(0x20000 + 0x2000 * (uint64_t)i, 0x1000,
				  i % 2 ? &bo.gem : NULL, 0x1000 * (uint64_t)i);
		assert_null(va[i]->vm);
		assert_int_equal(gpuva_insert(vm, va[i]), 0);
		assert_ptr_equal(va[i]->vm, vm);
		assert_int_equal(gpuvm_kref_read(&vm->kref), 2 + i);
		TU_CHECK_INV(vm);
	}
	/* Mappings hold no reference on their object. */
	assert_int_equal(gpuvm_kref_read(&bo.gem.refcount), 1);
	for (i = 0; i < 4; i++) {
		assert_ptr_equal(gpuva_find(vm, va[i]->va.addr, 0x1000), va[i]);
		assert_ptr_equal(va[i]->gem.obj, i % 2 ? &bo.gem : NULL);
	}
	gpuva_remove(va[1]);
	assert_int_equal(gpuvm_kref_read(&vm->kref), 4);
	assert_null(gpuva_find(vm, 0x22000, 0x1000));
	TU_CHECK_INV(vm);
	/* A removed mapping can be inserted again. */
	assert_int_equal(gpuva_insert(vm, va[1]), 0);
	assert_int_equal(gpuvm_kref_read(&vm->kref), 5);
	for (i = 3; i >= 0; i--) {
		gpuva_remove(va[i]);
		assert_int_equal(gpuvm_kref_read(&vm->kref), 1 + i);
		TU_CHECK_INV(vm);
		free(va[i]);
	}
	tu_vm_destroy(vm);
	gpuvm_gem_put(&bo.gem);
}

/* ------------------------------------------------------------------ */
/* Lookups                                                              */

static void test_find(void **state)
{
	struct gpuvm *vm;
	struct gpuva *a, *b, *c;

	(void)state;
	vm = std_vm();
	a = tu_insert(vm, 0x20000, 0x2000, NULL, 0);
	b = tu_insert(vm, 0x22000, 0x1000, NULL, 0);
	c = tu_insert(vm, 0x30000, 0x4000, NULL, 0);

	assert_ptr_equal(gpuva_find(vm, 0x20000, 0x2000), a);
	assert_ptr_equal(gpuva_find(vm, 0x22000, 0x1000), b);
	assert_ptr_equal(gpuva_find(vm, 0x30000, 0x4000), c);
	assert_null(gpuva_find(vm, 0x20000, 0x1000));
	assert_null(gpuva_find(vm, 0x20000, 0x3000));
	assert_null(gpuva_find(vm, 0x21000, 0x1000));
	assert_null(gpuva_find(vm, 0x30000, 0));
	assert_null(gpuva_find(vm, 0x24000, 0x1000));

	assert_ptr_equal(gpuva_find_first(vm, 0x20000, 1), a);
	assert_ptr_equal(gpuva_find_first(vm, 0x21fff, 1), a);
	assert_ptr_equal(gpuva_find_first(vm, 0x21fff, 0x10000), a);
	assert_ptr_equal(gpuva_find_first(vm, 0x22000, 0x10000), b);
	assert_ptr_equal(gpuva_find_first(vm, 0x1f000, 0x1001), a);
	assert_null(gpuva_find_first(vm, 0x1f000, 0x1000));
	assert_null(gpuva_find_first(vm, 0x23000, 0xd000));
	assert_ptr_equal(gpuva_find_first(vm, 0x23000, 0xd001), c);
	assert_ptr_equal(gpuva_find_first(vm, 0x33fff, 1), c);
	assert_null(gpuva_find_first(vm, 0x34000, 1));
	assert_ptr_equal(gpuva_find_first(vm, 0, UINT64_MAX), a);
	/* Outside the VA space finds nothing but causes no trouble. */
	assert_null(gpuva_find_first(vm, E, 0x1000));
	assert_null(gpuva_find_first(vm, 0, S));
	/* Zero and overflowing ranges find nothing. */
	assert_null(gpuva_find_first(vm, 0x20000, 0));
	assert_null(gpuva_find_first(vm, 0x21000, 0));
	assert_null(gpuva_find_first(vm, 0x21000, UINT64_MAX));
	assert_null(gpuva_find_first(vm, UINT64_MAX, 2));
	TU_CHECK_INV(vm);
	tu_vm_destroy(vm);
}

static void test_find_prev_next(void **state)
{
	struct gpuvm *vm;
	struct gpuva *a, *b, *c, *d, *e, *rsv;

	(void)state;
	vm = std_vm();
	rsv = &vm->kernel_alloc_node;
	a = tu_insert(vm, 0x10000, 0x1000, NULL, 0);
	b = tu_insert(vm, 0x12000, 0x1000, NULL, 0);
	c = tu_insert(vm, 0x13000, 0x1000, NULL, 0);
	d = tu_insert(vm, 0x50000, 0x1000, NULL, 0);
	e = tu_insert(vm, 0xff000, 0x1000, NULL, 0);

	/* [start - 1, start) outside the space. */
	assert_null(gpuva_find_prev(vm, S));
	assert_null(gpuva_find_prev(vm, 0));
	assert_null(gpuva_find_prev(vm, 1));
	assert_null(gpuva_find_prev(vm, E + 1));
	assert_null(gpuva_find_prev(vm, UINT64_MAX));
	assert_ptr_equal(gpuva_find_prev(vm, 0x11000), a);
	assert_ptr_equal(gpuva_find_prev(vm, 0x10800), a);
	/* Nothing at start - 1, so the mapping starting at start is found. */
	assert_ptr_equal(gpuva_find_prev(vm, 0x12000), b);
	/* Both overlap the probe: the lowest wins. */
	assert_ptr_equal(gpuva_find_prev(vm, 0x13000), b);
	assert_ptr_equal(gpuva_find_prev(vm, 0x14000), c);
	assert_null(gpuva_find_prev(vm, 0x15000));
	assert_null(gpuva_find_prev(vm, 0x11800));
	/* The probe's closed end touches the cut-out. */
	assert_ptr_equal(gpuva_find_prev(vm, RS), rsv);
	/* [start - 1, start) inside the cut-out. */
	assert_null(gpuva_find_prev(vm, RE));
	assert_null(gpuva_find_prev(vm, RS + 0x1000));
	assert_ptr_equal(gpuva_find_prev(vm, 0x51000), d);
	assert_ptr_equal(gpuva_find_prev(vm, E), e);

	assert_ptr_equal(gpuva_find_next(vm, S), a);
	assert_null(gpuva_find_next(vm, 0x11000));
	/* The probe's closed end reaches the mapping at end + 1. */
	assert_ptr_equal(gpuva_find_next(vm, 0x11fff), b);
	assert_null(gpuva_find_next(vm, 0x11ffe));
	assert_ptr_equal(gpuva_find_next(vm, 0x12000), b);
	assert_ptr_equal(gpuva_find_next(vm, 0x13000), c);
	assert_ptr_equal(gpuva_find_next(vm, 0x12fff), b);
	assert_null(gpuva_find_next(vm, 0x14000));
	assert_ptr_equal(gpuva_find_next(vm, RS - 1), rsv);
	assert_null(gpuva_find_next(vm, RS));
	assert_null(gpuva_find_next(vm, RE - 1));
	assert_ptr_equal(gpuva_find_next(vm, RE), d);
	assert_ptr_equal(gpuva_find_next(vm, E - 1), e);
	assert_null(gpuva_find_next(vm, E));
	assert_null(gpuva_find_next(vm, S - 1));
	assert_null(gpuva_find_next(vm, 0));
	assert_null(gpuva_find_next(vm, UINT64_MAX));
	TU_CHECK_INV(vm);
	tu_vm_destroy(vm);
}

static void test_top_of_space(void **state)
{
	const uint64_t start = 0xffffffffffff0000ull, range = 0xffff;
	struct gpuvm *vm;
	struct gpuva *f, *g;

	(void)state;
	vm = tu_vm_create(start, range, 0, 0);
	assert_int_equal(vm->mm_start + vm->mm_range, UINT64_MAX);
	assert_true(gpuvm_range_valid(vm, start, range));
	assert_false(gpuvm_range_valid(vm, start, range + 1));
	assert_false(gpuvm_range_valid(vm, UINT64_MAX, 1));
	assert_true(gpuvm_range_valid(vm, UINT64_MAX - 1, 1));
	insert_must_fail(vm, 0xfffffffffffff000ull, 0x1000, -EINVAL);

	f = tu_insert(vm, 0xfffffffffffff000ull, 0xfff, NULL, 0);
	g = tu_insert(vm, start, 0x1000, NULL, 0);
	TU_CHECK_INV(vm);
	assert_ptr_equal(gpuva_find(vm, 0xfffffffffffff000ull, 0xfff), f);
	assert_ptr_equal(gpuva_find_first(vm, UINT64_MAX - 1, 1), f);
	assert_null(gpuva_find_first(vm, UINT64_MAX, 1));
	assert_ptr_equal(gpuva_find_first(vm, 0, UINT64_MAX), g);
	assert_ptr_equal(gpuva_find_prev(vm, UINT64_MAX), f);
	assert_null(gpuva_find_next(vm, UINT64_MAX));
	assert_ptr_equal(gpuva_find_next(vm, UINT64_MAX - 1), f);
	assert_null(gpuva_find_prev(vm, start));
	assert_ptr_equal(gpuva_find_prev(vm, start + 0x1000), g);
	assert_ptr_equal(gpuva_find_next(vm, start), g);
	assert_false(gpuvm_interval_empty(vm, UINT64_MAX - 1, 1));
	assert_true(gpuvm_interval_empty(vm, start + 0x1000, 0x1000));
	tu_vm_destroy(vm);

	/* A cut-out at the very top. */
	vm = tu_vm_create(start, range, UINT64_MAX - 0x100, 0x100);
	TU_CHECK_INV(vm);
	assert_false(gpuvm_range_valid(vm, UINT64_MAX - 1, 1));
	assert_true(gpuvm_range_valid(vm, UINT64_MAX - 0x101, 1));
	assert_ptr_equal(gpuva_find_first(vm, UINT64_MAX - 1, 1),
			 &vm->kernel_alloc_node);
	assert_null(gpuva_find_prev(vm, UINT64_MAX));
	assert_ptr_equal(gpuva_find_next(vm, UINT64_MAX - 0x101),
			 &vm->kernel_alloc_node);
	tu_vm_destroy(vm);
}

static void test_range_valid(void **state)
{
	struct gpuvm *vm;

	(void)state;
	vm = std_vm();
	assert_true(gpuvm_range_valid(vm, S, RS - S));
	assert_true(gpuvm_range_valid(vm, RE, E - RE));
	assert_true(gpuvm_range_valid(vm, S, 1));
	assert_true(gpuvm_range_valid(vm, E - 1, 1));
	assert_true(gpuvm_range_valid(vm, RS - 1, 1));
	assert_true(gpuvm_range_valid(vm, RE, 1));
	assert_false(gpuvm_range_valid(vm, S, E - S));
	assert_false(gpuvm_range_valid(vm, S, RS - S + 1));
	assert_false(gpuvm_range_valid(vm, RS - 1, 2));
	assert_false(gpuvm_range_valid(vm, RE - 1, 1));
	assert_false(gpuvm_range_valid(vm, RS, RE - RS));
	assert_false(gpuvm_range_valid(vm, S, 0));
	assert_false(gpuvm_range_valid(vm, 0x20000, 0));
	assert_false(gpuvm_range_valid(vm, S - 1, 1));
	assert_false(gpuvm_range_valid(vm, S - 1, 2));
	assert_false(gpuvm_range_valid(vm, E, 1));
	assert_false(gpuvm_range_valid(vm, E - 1, 2));
	assert_false(gpuvm_range_valid(vm, 0, UINT64_MAX));
	assert_false(gpuvm_range_valid(vm, 0x20000, UINT64_MAX));
	assert_false(gpuvm_range_valid(vm, UINT64_MAX, 1));
	assert_false(gpuvm_range_valid(vm, UINT64_MAX, UINT64_MAX));
	/* Existing mappings do not matter. */
	tu_insert(vm, 0x20000, 0x1000, NULL, 0);
	assert_true(gpuvm_range_valid(vm, 0x20000, 0x1000));
	tu_vm_destroy(vm);
}

static void test_interval_empty(void **state)
{
	struct gpuvm *vm;

	(void)state;
	vm = std_vm();
	assert_true(gpuvm_interval_empty(vm, S, RS - S));
	tu_insert(vm, 0x20000, 0x1000, NULL, 0);
	tu_insert(vm, 0x22000, 0x1000, NULL, 0);
	assert_false(gpuvm_interval_empty(vm, 0x20000, 1));
	assert_false(gpuvm_interval_empty(vm, 0x20fff, 1));
	assert_true(gpuvm_interval_empty(vm, 0x21000, 0x1000));
	assert_false(gpuvm_interval_empty(vm, 0x21000, 0x1001));
	assert_false(gpuvm_interval_empty(vm, 0x20fff, 0x1001));
	assert_true(gpuvm_interval_empty(vm, S, 0x10000));
	assert_false(gpuvm_interval_empty(vm, S, 0x10001));
	assert_false(gpuvm_interval_empty(vm, S, E - S));
	assert_true(gpuvm_interval_empty(vm, 0x23000, RS - 0x23000));
	assert_false(gpuvm_interval_empty(vm, 0x23000, RS - 0x23000 + 1));
	assert_true(gpuvm_interval_empty(vm, RE, E - RE));
	tu_vm_destroy(vm);
}

static void test_null_object_mappings(void **state)
{
	struct gpuvm *vm;
	struct gpuva *a;
	struct gpuvm_va_iter it;
	struct gpuva *va;
	int n = 0;

	(void)state;
	vm = std_vm();
	a = tu_insert(vm, 0x20000, 0x3000, NULL, 0x1234);
	tu_insert(vm, 0x23000, 0x3000, NULL, 0);
	assert_ptr_equal(gpuva_find(vm, 0x20000, 0x3000), a);
	assert_null(a->gem.obj);
	assert_int_equal(a->gem.offset, 0x1234);
	gpuvm_for_each_va_range(va, &it, vm, 0x20000, 0x26000) {
		assert_null(va->gem.obj);
		n++;
	}
	assert_int_equal(n, 2);
	tu_vm_destroy(vm);
}

/* ------------------------------------------------------------------ */
/* Iterators                                                            */

#define MAXV 64

/* Walks [start, end) with the requested iterator and records start addrs. */
static size_t walk(struct gpuvm *vm, uint64_t start, uint64_t end, bool safe,
		   uint64_t *out)
{
	struct gpuvm_va_iter it;
	struct gpuva *va;
	size_t n = 0;

	if (safe) {
		gpuvm_for_each_va_range_safe(va, &it, vm, start, end) {
			assert_true(n < MAXV);
			out[n++] = va->va.addr;
		}
	} else {
		gpuvm_for_each_va_range(va, &it, vm, start, end) {
			assert_true(n < MAXV);
			out[n++] = va->va.addr;
		}
	}
	return n;
}

static void expect_walk(struct gpuvm *vm, uint64_t start, uint64_t end,
			const uint64_t *want, size_t nwant)
{
	uint64_t got[MAXV];
	size_t i, n;
	int safe;

	for (safe = 0; safe < 2; safe++) {
		n = walk(vm, start, end, safe, got);
		assert_int_equal(n, nwant);
		for (i = 0; i < n; i++)
			assert_int_equal(got[i], want[i]);
	}
}

static void test_iter_order_and_bounds(void **state)
{
	struct gpuvm *vm;
	struct gpuvm_va_iter it;
	struct gpuva *va;
	uint64_t prev = 0;
	size_t n = 0;

	(void)state;
	vm = std_vm();
	/* Insert out of order. */
	tu_insert(vm, 0x16000, 0x2000, NULL, 0);
	tu_insert(vm, 0x10000, 0x2000, NULL, 0);
	tu_insert(vm, 0x60000, 0x1000, NULL, 0);
	tu_insert(vm, 0x12000, 0x2000, NULL, 0);

	gpuvm_for_each_va(va, &it, vm) {
		if (n)
			assert_true(va->va.addr > prev);
		prev = va->va.addr;
		n++;
	}
	assert_int_equal(n, 5);
	n = 0;
	gpuvm_for_each_va_safe(va, &it, vm)
		n++;
	assert_int_equal(n, 5);

	expect_walk(vm, 0, UINT64_MAX,
		    (uint64_t[]){ 0x10000, 0x12000, 0x16000, RS, 0x60000 }, 5);
	/* Partial overlap at the start counts; starting at end does not. */
	expect_walk(vm, 0x11000, 0x16000, (uint64_t[]){ 0x10000, 0x12000 }, 2);
	expect_walk(vm, 0x11000, 0x16001,
		    (uint64_t[]){ 0x10000, 0x12000, 0x16000 }, 3);
	expect_walk(vm, 0x12000, 0x12001, (uint64_t[]){ 0x12000 }, 1);
	expect_walk(vm, 0x11fff, 0x12001, (uint64_t[]){ 0x10000, 0x12000 }, 2);
	expect_walk(vm, 0x14000, 0x16000, NULL, 0);
	expect_walk(vm, 0x13fff, 0x16000, (uint64_t[]){ 0x12000 }, 1);
	expect_walk(vm, 0x12000, 0x12000, NULL, 0);
	/* An empty range finds nothing, even inside a mapping. */
	expect_walk(vm, 0x13000, 0x13000, NULL, 0);
	expect_walk(vm, 0x13000, 0x12000, NULL, 0);
	expect_walk(vm, 0x17fff, 0x60000, (uint64_t[]){ 0x16000, RS }, 2);
	expect_walk(vm, 0x4ffff, UINT64_MAX, (uint64_t[]){ RS, 0x60000 }, 2);
	expect_walk(vm, 0x60fff, UINT64_MAX, (uint64_t[]){ 0x60000 }, 1);
	expect_walk(vm, 0x61000, UINT64_MAX, NULL, 0);
	expect_walk(vm, 0, S, NULL, 0);
	tu_vm_destroy(vm);

	/* An empty VM without a cut-out walks nothing. */
	vm = tu_vm_create(S, E - S, 0, 0);
	expect_walk(vm, 0, UINT64_MAX, NULL, 0);
	tu_vm_destroy(vm);
}

static void test_iter_safe_remove(void **state)
{
	struct gpuvm *vm;
	struct gpuvm_va_iter it;
	struct gpuva *va;
	uint64_t i;
	size_t n;

	(void)state;
	vm = std_vm();
	for (i = 0; i < 20; i++)
		tu_insert(vm, 0x60000 + i * 0x1000, 0x1000, NULL, 0);

	/* Every other one, freeing as we go. */
	n = 0;
	gpuvm_for_each_va_safe(va, &it, vm) {
		if (gpuvm_va_is_reserved(vm, va))
			continue;
		if (n++ % 2 == 0) {
			gpuva_remove(va);
			free(va);
		}
	}
	assert_int_equal(n, 20);
	TU_CHECK_INV(vm);
	expect_walk(vm, 0x60000, 0x66000,
		    (uint64_t[]){ 0x61000, 0x63000, 0x65000 }, 3);

	/* Every remaining one inside a range. */
	n = 0;
	gpuvm_for_each_va_range_safe(va, &it, vm, 0x62000, 0x6a000) {
		assert_int_equal(va->va.addr, 0x63000 + n * 0x2000);
		gpuva_remove(va);
		free(va);
		n++;
	}
	assert_int_equal(n, 4);
	TU_CHECK_INV(vm);
	expect_walk(vm, 0x60000, 0x70000,
		    (uint64_t[]){ 0x61000, 0x6b000, 0x6d000, 0x6f000, 0x71000,
				  0x73000 },
		    4);

	/* Everything. */
	n = 0;
	gpuvm_for_each_va_safe(va, &it, vm) {
		n++;
		if (gpuvm_va_is_reserved(vm, va))
			continue;
		gpuva_remove(va);
		free(va);
	}
	assert_int_equal(n, 7);
	assert_int_equal(tu_count_va(vm), 0);
	assert_int_equal(gpuvm_kref_read(&vm->kref), 1);
	tu_vm_destroy(vm);
}

static void test_iter_insert_during_walk(void **state)
{
	struct gpuvm *vm;
	struct gpuvm_va_iter it;
	struct gpuva *va, *removed[MAXV];
	uint64_t seen[MAXV];
	size_t i, n;

	(void)state;
	vm = std_vm();
	tu_insert(vm, 0x10000, 0x1000, NULL, 0);
	tu_insert(vm, 0x20000, 0x1000, NULL, 0);
	tu_insert(vm, 0x30000, 0x1000, NULL, 0);

	/* Safe: the next mapping was captured, the new one is not seen. */
	n = 0;
	gpuvm_for_each_va_safe(va, &it, vm) {
		seen[n++] = va->va.addr;
		if (va->va.addr == 0x10000)
			tu_insert(vm, 0x15000, 0x1000, NULL, 0);
	}
	assert_int_equal(n, 4);
	assert_int_equal(seen[0], 0x10000);
	assert_int_equal(seen[1], 0x20000);
	assert_int_equal(seen[2], 0x30000);
	assert_int_equal(seen[3], RS);
	TU_CHECK_INV(vm);

	/* Not safe: the walk resumes after the current start, so it is. */
	n = 0;
	gpuvm_for_each_va(va, &it, vm) {
		seen[n++] = va->va.addr;
		if (va->va.addr == 0x20000)
			tu_insert(vm, 0x25000, 0x1000, NULL, 0);
	}
	assert_int_equal(n, 6);
	assert_int_equal(seen[0], 0x10000);
	assert_int_equal(seen[1], 0x15000);
	assert_int_equal(seen[2], 0x20000);
	assert_int_equal(seen[3], 0x25000);
	assert_int_equal(seen[4], 0x30000);
	assert_int_equal(seen[5], RS);

	/*
	 * Not safe, removing the current one: the walk still goes on. The
	 * mappings are freed after the walk, which holds the current one.
	 */
	n = 0;
	gpuvm_for_each_va_range(va, &it, vm, 0, RS) {
		removed[n] = va;
		seen[n++] = va->va.addr;
		gpuva_remove(va);
		TU_CHECK_INV(vm);
	}
	assert_int_equal(n, 5);
	assert_int_equal(seen[0], 0x10000);
	assert_int_equal(seen[1], 0x15000);
	assert_int_equal(seen[2], 0x20000);
	assert_int_equal(seen[3], 0x25000);
	assert_int_equal(seen[4], 0x30000);
	for (i = 0; i < n; i++)
		free(removed[i]);
	assert_int_equal(tu_count_va(vm), 0);
	TU_CHECK_INV(vm);
	tu_vm_destroy(vm);
}

static void test_iter_nested(void **state)
{
	struct gpuvm *vm;
	struct gpuvm_va_iter it1, it2;
	struct gpuva *v1, *v2;
	uint64_t i;
	size_t outer = 0, inner = 0;

	(void)state;
	vm = tu_vm_create(S, E - S, 0, 0);
	for (i = 0; i < 16; i++)
		tu_insert(vm, 0x20000 + i * 0x1000, 0x1000, NULL, 0);
	gpuvm_for_each_va(v1, &it1, vm) {
		size_t k = 0;

		outer++;
		/* Each mapping and its right-hand neighbour. */
		gpuvm_for_each_va_range(v2, &it2, vm, v1->va.addr,
					v1->va.addr + 0x1001) {
			assert_int_equal(v2->va.addr, v1->va.addr + k * 0x1000);
			k++;
		}
		assert_int_equal(k, v1->va.addr == 0x2f000 ? 1 : 2);
		inner += k;
		/* A safe walk nested in a plain one. */
		k = 0;
		gpuvm_for_each_va_safe(v2, &it2, vm)
			k++;
		assert_int_equal(k, 16);
	}
	assert_int_equal(outer, 16);
	assert_int_equal(inner, 31);

	/* A plain walk nested in a safe one that removes the outer entry. */
	outer = 0;
	gpuvm_for_each_va_range_safe(v1, &it1, vm, 0, UINT64_MAX) {
		size_t k = 0;

		gpuvm_for_each_va(v2, &it2, vm)
			k++;
		assert_int_equal(k, 16 - outer);
		gpuva_remove(v1);
		free(v1);
		outer++;
	}
	assert_int_equal(outer, 16);
	tu_vm_destroy(vm);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void test_iter_large(void **state)
{
	enum { N = 5000 };
	struct gpuvm *vm;
	struct gpuvm_va_iter it;
	struct gpuva *va;
	struct gpuvm_stats st;
	uint64_t *addrs = malloc(N * sizeof(*addrs));
	uint64_t *sorted = malloc(N * sizeof(*sorted));
	size_t i, n;

	(void)state;
	assert_non_null(addrs);
	assert_non_null(sorted);
	vm = tu_vm_create(0x100000, 0x100000000ull, 0, 0);
	for (i = 0; i < N; i++)
		addrs[i] = 0x100000 + i * 0x3000;
	/* Insert in a seeded random order. */
	for (i = N - 1; i > 0; i--) {
		size_t j = tu_rng_below(tu_rng(), i + 1);
		uint64_t t = addrs[i];

		addrs[i] = addrs[j];
		addrs[j] = t;
	}
	for (i = 0; i < N; i++) {
		tu_insert(vm, addrs[i], 0x1000 + (addrs[i] & 0x1000), NULL,
			  addrs[i]);
		if (i % 997 == 0)
			TU_CHECK_INV(vm);
	}
	TU_CHECK_INV(vm);
	memcpy(sorted, addrs, N * sizeof(*sorted));
	qsort(sorted, N, sizeof(*sorted), cmp_u64);

	gpuvm_get_stats(vm, &st);
	assert_int_equal(st.nr_va, N);
	assert_true(st.tree_height >= 2);
	assert_true(st.tree_nodes > 8);

	n = 0;
	gpuvm_for_each_va(va, &it, vm) {
		assert_true(n < N);
		assert_int_equal(va->va.addr, sorted[n]);
		assert_int_equal(va->gem.offset, sorted[n]);
		n++;
	}
	assert_int_equal(n, N);

	/* A range in the middle: from inside entry 1000 to entry 3000. */
	n = 0;
	gpuvm_for_each_va_range(va, &it, vm, sorted[1000] + 0x800,
				sorted[3000]) {
		assert_int_equal(va->va.addr, sorted[1000 + n]);
		n++;
	}
	assert_int_equal(n, 2000);
	for (i = 0; i < N; i += 37)
		assert_ptr_equal(gpuva_find_first(vm, sorted[i], 1),
				 gpuva_find(vm, sorted[i],
					    0x1000 + (sorted[i] & 0x1000)));

	/* Remove every other one inside a range, then everything. */
	n = 0;
	gpuvm_for_each_va_range_safe(va, &it, vm, sorted[100], sorted[4100]) {
		if (n++ % 2 == 0) {
			gpuva_remove(va);
			free(va);
		}
	}
	assert_int_equal(n, 4000);
	TU_CHECK_INV(vm);
	gpuvm_get_stats(vm, &st);
	assert_int_equal(st.nr_va, N - 2000);
	n = 0;
	gpuvm_for_each_va_safe(va, &it, vm) {
		gpuva_remove(va);
		free(va);
		if (++n % 500 == 0)
			TU_CHECK_INV(vm);
	}
	assert_int_equal(n, N - 2000);
	TU_CHECK_INV(vm);
	tu_vm_destroy(vm);
	free(addrs);
	free(sorted);
}

/* Removal, lookups, walks and teardown never allocate. */
static void test_no_alloc_paths(void **state)
{
	struct gpuvm *vm;
	struct gpuvm_va_iter it;
	struct gpuva *va;
	struct gpuvm_alloc_stats a0, a1;
	unsigned int frees = *tu_vm_free_counter();
	uint64_t i;
	size_t n = 0;

	(void)state;
	vm = std_vm();
	for (i = 0; i < 2000; i++)
		tu_insert(vm, RE + i * 0x40, 0x20, NULL, 0);
	gpuvm_alloc_get_stats(&a0);
	gpuvm_alloc_fail_nth(1, true);
	for (i = 0; i < 2000; i += 7) {
		assert_non_null(gpuva_find(vm, RE + i * 0x40, 0x20));
		assert_non_null(gpuva_find_first(vm, RE + i * 0x40 + 0x10, 1));
		assert_non_null(gpuva_find_prev(vm, RE + i * 0x40 + 0x20));
		assert_non_null(gpuva_find_next(vm, RE + i * 0x40));
		assert_false(gpuvm_interval_empty(vm, RE + i * 0x40, 1));
	}
	gpuvm_for_each_va(va, &it, vm)
		n++;
	assert_int_equal(n, 2001);
	TU_CHECK_INV(vm);
	/* Every other one, then the rest, by removal and by unmap op. */
	n = 0;
	gpuvm_for_each_va_safe(va, &it, vm) {
		struct gpuva_op_unmap u = { .va = va, .keep = false };

		if (gpuvm_va_is_reserved(vm, va) || n++ % 2)
			continue;
		gpuva_unmap(&u);
		free(va);
	}
	TU_CHECK_INV(vm);
	gpuvm_for_each_va_safe(va, &it, vm) {
		if (gpuvm_va_is_reserved(vm, va))
			continue;
		gpuva_remove(va);
		free(va);
	}
	gpuvm_put(vm);
	assert_int_equal(*tu_vm_free_counter(), frees + 1);
	gpuvm_alloc_get_stats(&a1);
	gpuvm_alloc_fail_nth(0, false);
	assert_int_equal(a1.failed_allocs, a0.failed_allocs);
	assert_int_equal(a1.total_allocs, a0.total_allocs);
}

/* ------------------------------------------------------------------ */
/* Statistics and reservations                                          */

static void check_stats(struct gpuvm *vm, size_t nr_va)
{
	struct gpuvm_stats st;

	gpuvm_get_stats(vm, &st);
	assert_int_equal(st.nr_va, nr_va);
	assert_int_equal(st.tree_nodes, vm->tree.nr_nodes);
	assert_int_equal(st.tree_spare, vm->tree.nr_spare);
	assert_int_equal(st.tree_height, vm->tree.height);
	assert_int_equal(st.tree_bytes, (st.tree_nodes + st.tree_spare) *
						gpuvm_va_tree_node_size());
	if (nr_va || vm->kernel_alloc_node.va.range)
		assert_true(st.tree_nodes >= 1 && st.tree_height >= 1);
	else
		assert_int_equal(st.tree_height, 0);
}

static void test_stats(void **state)
{
	struct gpuvm *vm;
	struct gpuvm_va_iter it;
	struct gpuva *va;
	uint64_t i;
	size_t n;

	(void)state;
	vm = tu_vm_create(S, 0x10000000, 0, 0);
	check_stats(vm, 0);
	tu_insert(vm, 0x20000, 0x1000, NULL, 0);
	check_stats(vm, 1);
	for (i = 1; i < 1000; i++) {
		tu_insert(vm, 0x20000 + i * 0x1000, 0x1000, NULL, 0);
		if (i % 100 == 0)
			check_stats(vm, i + 1);
	}
	check_stats(vm, 1000);
	n = 1000;
	gpuvm_for_each_va_safe(va, &it, vm) {
		gpuva_remove(va);
		free(va);
		check_stats(vm, --n);
	}
	tu_vm_destroy(vm);

	vm = std_vm();
	check_stats(vm, 0);
	tu_insert(vm, 0x20000, 0x1000, NULL, 0);
	check_stats(vm, 1);
	tu_vm_destroy(vm);
}

/* Builds a REMAP op for @va that keeps both ends around a hole. */
static int remap_hole(struct gpuva *va, uint64_t hole_off, uint64_t hole_len)
{
	struct gpuva_op_map p = {
		.va = { va->va.addr, hole_off },
		.gem = { va->gem.offset, va->gem.obj },
	};
	struct gpuva_op_map nx = {
		.va = { va->va.addr + hole_off + hole_len,
			va->va.range - hole_off - hole_len },
		.gem = { va->gem.offset + hole_off + hole_len, va->gem.obj },
	};
	struct gpuva_op_unmap u = { .va = va, .keep = false };
	struct gpuva_op_remap r = { .prev = &p, .next = &nx, .unmap = &u };
	struct gpuva *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	int ret;

	assert_non_null(a);
	assert_non_null(b);
	ret = gpuva_remap(a, b, &r);
	if (ret) {
		free(a);
		free(b);
		return ret;
	}
	assert_ptr_equal(gpuva_find(va->vm, p.va.addr, p.va.range), a);
	assert_ptr_equal(gpuva_find(va->vm, nx.va.addr, nx.va.range), b);
	free(va);
	return 0;
}

static void test_reserve(void **state)
{
	enum { K_INSERT = 120, K_MAP = 60, K_REMAP = 40 };
	const unsigned int k = K_INSERT + K_MAP + 2 * K_REMAP;
	struct gpuvm *vm;
	struct gpuvm_stats st0, st1, st2;
	struct gpuva *big[K_REMAP];
	struct gpuvm_alloc_stats as0, as1;
	size_t nodes = 0;
	uint64_t i;

	(void)state;
	vm = tu_vm_create(S, 0x100000000ull, 0, 0);
	for (i = 0; i < K_REMAP; i++)
		big[i] = tu_insert(vm, 0x1000000 + i * 0x10000, 0x10000, NULL,
				   0);
	gpuvm_get_stats(vm, &st0);

	assert_int_equal(gpuvm_va_reserve(vm, k, &nodes), 0);
	assert_true(nodes >= 1);
	gpuvm_get_stats(vm, &st1);
	assert_true(st1.tree_spare >= nodes);
	assert_int_equal(st1.nr_va, st0.nr_va);
	TU_CHECK_INV(vm);

	/* From here on, every allocation fails; the reservation must do. */
	gpuvm_alloc_get_stats(&as0);
	gpuvm_alloc_fail_nth(1, true);
	for (i = 0; i < K_INSERT; i++) {
		struct gpuva *va =
			tu_va_new(0x20000 + i * 0x1000, 0x1000, NULL, 0);

		assert_int_equal(gpuva_insert(vm, va), 0);
	}
	for (i = 0; i < K_MAP; i++) {
		struct gpuva *va = calloc(1, sizeof(*va));
		struct gpuva_op_map m = {
			.va = { 0x200000 + i * 0x2000, 0x1000 },
			.gem = { 0, NULL },
		};

		assert_non_null(va);
		assert_int_equal(gpuva_map(vm, va, &m), 0);
	}
	for (i = 0; i < K_REMAP; i++)
		assert_int_equal(remap_hole(big[i], 0x4000, 0x1000), 0);
	gpuvm_alloc_fail_nth(0, false);
	TU_CHECK_INV(vm);
	gpuvm_get_stats(vm, &st2);
	assert_int_equal(st2.nr_va, K_INSERT + K_MAP + 2 * K_REMAP);
	/* With nodes reserved, no allocation was even attempted. */
	gpuvm_alloc_get_stats(&as1);
	assert_int_equal(as1.failed_allocs, as0.failed_allocs);

	gpuvm_va_unreserve(vm, nodes);
	TU_CHECK_INV(vm);
	gpuvm_get_stats(vm, &st2);
	assert_true(st2.tree_spare <= st1.tree_spare);
	tu_vm_destroy(vm);
}

static void test_reserve_adds_up(void **state)
{
	struct gpuvm *vm;
	struct gpuvm_stats st;
	size_t a = 0, b = 0, z = 12345;
	uint64_t i;

	(void)state;
	vm = std_vm();
	assert_int_equal(gpuvm_va_reserve(vm, 0, &z), 0);
	gpuvm_va_unreserve(vm, z);
	assert_int_equal(gpuvm_va_reserve(vm, 3, &a), 0);
	assert_int_equal(gpuvm_va_reserve(vm, 5, &b), 0);
	assert_true(b >= a);
	gpuvm_get_stats(vm, &st);
	assert_true(st.tree_spare >= a + b);

	gpuvm_alloc_fail_nth(1, true);
	for (i = 0; i < 8; i++)
		tu_insert(vm, 0x20000 + i * 0x1000, 0x1000, NULL, 0);
	gpuvm_alloc_fail_nth(0, false);
	TU_CHECK_INV(vm);

	/* Released in the other order. */
	gpuvm_va_unreserve(vm, a);
	gpuvm_va_unreserve(vm, b);
	TU_CHECK_INV(vm);
	tu_vm_destroy(vm);
}

/*
 * Lookups work on the inclusive last address, so a range ending at exactly
 * 2^64 is a valid query even though no mapping can end there.
 */
static void test_lookup_end_of_space(void **state)
{
	struct gpuvm *vm = tu_vm_create(0, UINT64_MAX, 0, 0);
	struct gpuva *va = tu_insert(vm, 0x1000, 0x1000, NULL, 0);
	struct gpuva *top = tu_insert(vm, UINT64_MAX - 0x1000, 0x1000, NULL, 0);

	(void)state;
	assert_ptr_equal(gpuva_find_first(vm, 0x1000, 0 - 0x1000ull), va);
	assert_ptr_equal(gpuva_find_first(vm, 0x2000, 0 - 0x2000ull), top);
	assert_false(gpuvm_interval_empty(vm, 0x1000, 0 - 0x1000ull));
	assert_true(
		gpuvm_interval_empty(vm, 0x2000, UINT64_MAX - 0x2000 - 0x1000));
	assert_ptr_equal(gpuva_find_first(vm, UINT64_MAX, 1), NULL);
	/* One more byte and the last address no longer fits. */
	assert_ptr_equal(gpuva_find_first(vm, 0x1000, 0 - 0xfffull), NULL);
	tu_vm_destroy(vm);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		TU_TEST(test_init_einval),
		TU_TEST(test_lookup_end_of_space),
		TU_TEST(test_init_fields),
		TU_TEST(test_refcounts),
		TU_TEST(test_teardown_with_mappings),
		TU_TEST(test_last_ref_by_mapping),
		TU_TEST(test_reserved_node),
		TU_TEST(test_reserved_whole_space),
		TU_TEST(test_insert_einval),
		TU_TEST(test_insert_eexist),
		TU_TEST(test_insert_remove_refs),
		TU_TEST(test_find),
		TU_TEST(test_find_prev_next),
		TU_TEST(test_top_of_space),
		TU_TEST(test_range_valid),
		TU_TEST(test_interval_empty),
		TU_TEST(test_null_object_mappings),
		TU_TEST(test_iter_order_and_bounds),
		TU_TEST(test_iter_safe_remove),
		TU_TEST(test_iter_insert_during_walk),
		TU_TEST(test_iter_nested),
		TU_TEST(test_iter_large),
		TU_TEST(test_no_alloc_paths),
		TU_TEST(test_stats),
		TU_TEST(test_reserve),
		TU_TEST(test_reserve_adds_up),
	};

	tu_init(argc, argv, 0x5eed, 1);
	return cmocka_run_group_tests_name("vm", tests, NULL, NULL);
}
