// SPDX-License-Identifier: MIT
/*
 * Copyright (c) 2026 The libgpuvm authors
 *
 * GEM objects: initialisation, references, the shared reservation and its
 * owner's lifetime, the gpuva mutex, the root object allocator, and the
 * fence-signalling rule on the final put.
 */
#include "objtest.h"

static void test_init(void **state)
{
	struct ot_bo bo;

	(void)state;
	ot_bo_init(&bo, 4096);
	assert_int_equal(ot_refs(&bo.gem), 1);
	assert_int_equal(bo.gem.size, 4096);
	assert_ptr_equal(bo.gem.funcs, &ot_bo_funcs);
	assert_ptr_equal(bo.gem.resv, &bo.gem._resv);
	assert_null(bo.gem.resv_owner);
	assert_false(gpuvm_gem_is_shared_resv(&bo.gem));
	assert_true(gpuvm_list_empty(&bo.gem.gpuva.list));
	assert_false(gpuvm_resv_is_locked(bo.gem.resv));
	ot_bo_put_last(&bo);
}

static void test_init_einval(void **state)
{
	static const struct gpuvm_gem_funcs no_free = { 0 };
	struct ot_bo bo, owner;

	(void)state;
	memset(&bo, 0, sizeof(bo));
	assert_int_equal(gpuvm_gem_init(NULL, &ot_bo_funcs, 1), -EINVAL);
	assert_int_equal(gpuvm_gem_init(&bo.gem, NULL, 1), -EINVAL);
	assert_int_equal(gpuvm_gem_init(&bo.gem, &no_free, 1), -EINVAL);

	ot_bo_init(&owner, 1);
	assert_int_equal(
		gpuvm_gem_init_shared_resv(&bo.gem, &ot_bo_funcs, 1, NULL),
		-EINVAL);
	assert_int_equal(
		gpuvm_gem_init_shared_resv(NULL, &ot_bo_funcs, 1, &owner.gem),
		-EINVAL);
	assert_int_equal(
		gpuvm_gem_init_shared_resv(&bo.gem, NULL, 1, &owner.gem),
		-EINVAL);
	assert_int_equal(
		gpuvm_gem_init_shared_resv(&bo.gem, &no_free, 1, &owner.gem),
		-EINVAL);
	/* A refused sharer takes no reference on the owner. */
	assert_int_equal(ot_refs(&owner.gem), 1);
	ot_bo_put_last(&owner);
}

static void test_get_put(void **state)
{
	struct ot_bo bo;

	(void)state;
	ot_bo_init(&bo, 1);
	assert_null(gpuvm_gem_get(NULL));
	gpuvm_gem_put(NULL);
	assert_ptr_equal(gpuvm_gem_get(&bo.gem), &bo.gem);
	assert_ptr_equal(gpuvm_gem_get(&bo.gem), &bo.gem);
	assert_int_equal(ot_refs(&bo.gem), 3);
	gpuvm_gem_put(&bo.gem);
	gpuvm_gem_put(&bo.gem);
	assert_int_equal(bo.frees, 0);
	ot_bo_put_last(&bo);
}

static void test_shared_resv(void **state)
{
	struct ot_bo owner, a, b;

	(void)state;
	ot_bo_init(&owner, 0);
	ot_bo_init_priv(&a, 10, &owner.gem);
	ot_bo_init_priv(&b, 20, &owner.gem);
	assert_int_equal(ot_refs(&owner.gem), 3);
	assert_ptr_equal(a.gem.resv, owner.gem.resv);
	assert_ptr_equal(b.gem.resv, owner.gem.resv);
	assert_ptr_equal(a.gem.resv_owner, &owner.gem);
	assert_true(gpuvm_gem_is_shared_resv(&a.gem));
	assert_false(gpuvm_gem_is_shared_resv(&owner.gem));

	/* Locking the owner locks every sharer. */
	ot_lock(&owner.gem);
	assert_true(ot_held(&a.gem));
	assert_true(ot_held(&b.gem));
	ot_unlock(&owner.gem);

	/* The creator's reference goes first; the sharers keep it alive. */
	gpuvm_gem_put(&owner.gem);
	assert_int_equal(owner.frees, 0);
	assert_int_equal(ot_refs(&owner.gem), 2);
	ot_bo_put_last(&a);
	assert_int_equal(owner.frees, 0);
	assert_int_equal(ot_refs(&owner.gem), 1);
	/* The last sharer frees itself, then the owner. */
	ot_bo_put_last(&b);
	assert_int_equal(owner.frees, 1);
	assert_true(owner.free_seq > b.free_seq);
}

/* The owner itself shares another's reservation: the chain holds. */
static void test_shared_resv_chain(void **state)
{
	struct ot_bo root, mid, leaf;

	(void)state;
	ot_bo_init(&root, 0);
	ot_bo_init_priv(&mid, 0, &root.gem);
	ot_bo_init_priv(&leaf, 0, &mid.gem);
	assert_ptr_equal(leaf.gem.resv, root.gem.resv);
	gpuvm_gem_put(&root.gem);
	gpuvm_gem_put(&mid.gem);
	assert_int_equal(root.frees + mid.frees, 0);
	ot_bo_put_last(&leaf);
	assert_int_equal(mid.frees, 1);
	assert_int_equal(root.frees, 1);
	assert_true(leaf.free_seq < mid.free_seq);
	assert_true(mid.free_seq < root.free_seq);
}

static void test_gpuva_lock(void **state)
{
	struct ot_bo bo;

	(void)state;
	ot_bo_init(&bo, 1);
	assert_false(gpuvm_mutex_is_held(&bo.gem.gpuva.lock));
	gpuvm_gem_gpuva_lock(&bo.gem);
	assert_true(gpuvm_mutex_is_held(&bo.gem.gpuva.lock));
	/* The gpuva mutex and the reservation are independent. */
	assert_false(gpuvm_resv_is_locked(bo.gem.resv));
	gpuvm_gem_gpuva_unlock(&bo.gem);
	assert_false(gpuvm_mutex_is_held(&bo.gem.gpuva.lock));
	/* Signalling-safe: taking it inside a section is allowed. */
	gpuvm_fence_begin_signalling();
	gpuvm_gem_gpuva_lock(&bo.gem);
	gpuvm_gem_gpuva_unlock(&bo.gem);
	gpuvm_fence_end_signalling();
	ot_bo_put_last(&bo);
}

static void test_resv_object_alloc(void **state)
{
	struct gpuvm_gem *r;
	uint64_t live = tu_live_allocs();

	(void)state;
	r = gpuvm_resv_object_alloc();
	assert_non_null(r);
	assert_int_equal(tu_live_allocs(), live + 1);
	assert_int_equal(r->size, 0);
	assert_int_equal(ot_refs(r), 1);
	assert_false(gpuvm_gem_is_shared_resv(r));
	assert_true(gpuvm_list_empty(&r->gpuva.list));
	gpuvm_gem_get(r);
	gpuvm_gem_put(r);
	assert_int_equal(tu_live_allocs(), live + 1);
	gpuvm_gem_put(r);
	assert_int_equal(tu_live_allocs(), live);

	gpuvm_alloc_fail_nth(1, false);
	assert_null(gpuvm_resv_object_alloc());
	assert_false(gpuvm_alloc_fail_pending());
	assert_int_equal(tu_live_allocs(), live);
}

/* The last put drops the fences left in the object's own reservation. */
static void test_put_drops_fences(void **state)
{
	struct gpuvm_fence f;
	struct ot_bo bo;

	(void)state;
	gpuvm_fence_init(&f, NULL, gpuvm_fence_context_alloc(1), 1);
	ot_bo_init(&bo, 1);
	ot_lock(&bo.gem);
	assert_int_equal(gpuvm_resv_reserve_fences(bo.gem.resv, 1), 0);
	gpuvm_resv_add_fence(bo.gem.resv, &f, GPUVM_RESV_USAGE_WRITE);
	ot_unlock(&bo.gem);
	assert_int_equal(gpuvm_kref_read(&f.refcount), 2);
	ot_bo_put_last(&bo);
	assert_int_equal(gpuvm_kref_read(&f.refcount), 1);
	gpuvm_fence_signal(&f);
	gpuvm_fence_put(&f);
}

struct violations {
	unsigned int n;
	enum gpuvm_violation rule[4];
};

static void count_violation(enum gpuvm_violation rule, const char *msg,
			    void *data)
{
	struct violations *v = data;

	(void)msg;
	if (v->n < 4)
		v->rule[v->n] = rule;
	v->n++;
}

static void test_final_put_in_section(void **state)
{
	struct violations v = { 0 };
	struct ot_bo owner, bo;

	(void)state;
	if (!gpuvm_checks_enabled())
		skip();
	ot_bo_init(&owner, 0);
	ot_bo_init_priv(&bo, 1, &owner.gem);
	gpuvm_set_violation_handler(count_violation, &v);

	gpuvm_gem_get(&bo.gem);
	gpuvm_fence_begin_signalling();
	/* Not the last: allowed. */
	gpuvm_gem_put(&bo.gem);
	assert_int_equal(v.n, 0);
	/* The last: a violation, reported once; the put still completes. */
	gpuvm_gem_put(&bo.gem);
	gpuvm_fence_end_signalling();
	gpuvm_set_violation_handler(NULL, NULL);

	assert_int_equal(v.n, 1);
	assert_int_equal(v.rule[0], GPUVM_VIOLATION_GEM_PUT);
	assert_int_equal(bo.frees, 1);
	/* The owner's reference went with it; outside a section now. */
	ot_bo_put_last(&owner);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		OT_TEST(test_init),
		OT_TEST(test_init_einval),
		OT_TEST(test_get_put),
		OT_TEST(test_shared_resv),
		OT_TEST(test_shared_resv_chain),
		OT_TEST(test_gpuva_lock),
		OT_TEST(test_resv_object_alloc),
		OT_TEST(test_put_drops_fences),
		OT_TEST(test_final_put_in_section),
	};

	tu_init(argc, argv, 1, 1);
	return cmocka_run_group_tests_name("objects-gem", tests, NULL, NULL);
}
