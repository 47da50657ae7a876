// SPDX-License-Identifier: MIT
/*
 * Copyright (c) 2026 The libgpuvm authors
 *
 * The locking rules of "DOC: vm_bo, external and evicted objects", asserted
 * with checks enabled: each broken rule must abort with a message naming
 * the lock. Every case runs in a forked child (see ../sync/death.h); the
 * parent builds the state before and tears it down after. Release builds
 * skip them.
 */
#include "objtest.h"

#include "../sync/death.h"

#define RESV_MSG  "is not locked by this thread"
#define MUTEX_MSG "is not held by this thread"

/*
 * A VM with one external object @e (with a vm_bo), one private object @p
 * (with a vm_bo), and a mapping of @e that is not linked.
 */
struct lk {
	struct gpuvm *vm;
	struct ot_bo e, p;
	struct gpuvm_bo *ext, *priv;
	struct gpuva *va;
};

static void lk_setup(struct lk *l, uint32_t flags)
{
	struct gpuvm_bo *pre;

	memset(l, 0, sizeof(*l));
	l->vm = ot_vm_new(flags, true, &ot_ops);
	ot_bo_init(&l->e, 0x10000);
	ot_bo_init_priv(&l->p, 0x10000, l->vm->r_obj);
	if (gpuvm_immediate_mode(l->vm)) {
		pre = gpuvm_bo_create(l->vm, &l->e.gem);
		l->ext = gpuvm_bo_obtain_prealloc(pre);
		pre = gpuvm_bo_create(l->vm, &l->p.gem);
		l->priv = gpuvm_bo_obtain_prealloc(pre);
	} else {
		l->ext = ot_obtain(l->vm, &l->e.gem);
		l->priv = ot_obtain(l->vm, &l->p.gem);
	}
	l->va = ot_map(l->vm, 0x200000, 0x1000, &l->e.gem);
}

static void lk_teardown(struct lk *l)
{
	ot_unmap(l->va);
	assert_true(ot_bo_put(l->ext));
	assert_true(ot_bo_put(l->priv));
	ot_bo_put_last(&l->e);
	ot_bo_put_last(&l->p);
	ot_vm_put_last(l->vm);
}

/* Runs @fn on a fresh fixture of @flags in a child; expects @msg. */
static void lk_death(uint32_t flags, void (*fn)(void *), const char *msg)
{
	struct lk l;

	lk_setup(&l, flags);
	TD_EXPECT_DEATH(fn, &l, msg);
	lk_teardown(&l);
}

/* ------------------------------------------------------------------ */
/* The children. They may leak: they die.                               */

static void do_find(void *arg)
{
	struct lk *l = arg;

	gpuvm_bo_find(l->vm, &l->e.gem);
}

static void do_find_with_mutex(void *arg)
{
	struct lk *l = arg;

	gpuvm_gem_gpuva_lock(&l->e.gem);
	gpuvm_bo_find(l->vm, &l->e.gem);
}

static void do_find_with_resv(void *arg)
{
	struct lk *l = arg;

	gpuvm_resv_lock(l->e.gem.resv, NULL);
	gpuvm_bo_find(l->vm, &l->e.gem);
}

static void do_obtain(void *arg)
{
	struct lk *l = arg;

	gpuvm_bo_obtain_locked(l->vm, &l->e.gem, NULL);
}

static void do_evict(void *arg)
{
	struct lk *l = arg;

	gpuvm_bo_evict(l->ext, true);
}

static void do_evict_with_vm_resv(void *arg)
{
	struct lk *l = arg;

	gpuvm_resv_lock(gpuvm_vm_resv(l->vm), NULL);
	gpuvm_bo_evict(l->ext, true);
}

static void do_gem_evict(void *arg)
{
	struct lk *l = arg;

	gpuvm_bo_gem_evict(&l->e.gem, true);
}

static void do_extobj_add_with_obj_resv(void *arg)
{
	struct lk *l = arg;

	gpuvm_resv_lock(l->e.gem.resv, NULL);
	gpuvm_bo_extobj_add(l->ext);
}

static void do_put(void *arg)
{
	struct lk *l = arg;

	gpuvm_bo_put(l->ext);
}

static void do_put_with_obj_resv(void *arg)
{
	struct lk *l = arg;

	gpuvm_resv_lock(l->e.gem.resv, NULL);
	gpuvm_bo_put(l->ext);
}

static void do_put_with_resv_immediate(void *arg)
{
	struct lk *l = arg;

	gpuvm_resv_lock(gpuvm_vm_resv(l->vm), NULL);
	gpuvm_bo_put(l->priv);
}

static void do_link(void *arg)
{
	struct lk *l = arg;

	gpuva_link(l->va, l->ext);
}

static void do_unlink(void *arg)
{
	struct lk *l = arg;

	gpuva_unlink(l->va);
}

static void do_prepare_objects(void *arg)
{
	struct lk *l = arg;
	struct gpuvm_exec exec;

	gpuvm_exec_init(&exec, 0, 0);
	gpuvm_exec_until_all_locked(&exec) {
		int ret = gpuvm_prepare_objects(l->vm, &exec, 0);

		gpuvm_exec_retry_on_contention(&exec);
		(void)ret;
	}
}

static void do_validate(void *arg)
{
	struct lk *l = arg;
	struct gpuvm_exec exec;

	gpuvm_exec_init(&exec, 0, 0);
	gpuvm_exec_until_all_locked(&exec) {
	}
	gpuvm_validate(l->vm, &exec);
}

static void do_unmap_ops_create(void *arg)
{
	struct lk *l = arg;
	struct gpuva_ops *ops;

	gpuvm_bo_unmap_ops_create(l->ext, &ops);
}

static void do_prealloc(void *arg)
{
	struct lk *l = arg;
	struct gpuvm_bo *pre = gpuvm_bo_create(l->vm, &l->e.gem);

	gpuvm_resv_lock(l->e.gem.resv, NULL);
	gpuvm_bo_obtain_prealloc(pre);
}

static void do_prealloc_holding_mutex(void *arg)
{
	struct lk *l = arg;
	struct gpuvm_bo *pre = gpuvm_bo_create(l->vm, &l->e.gem);

	gpuvm_gem_gpuva_lock(&l->e.gem);
	gpuvm_bo_obtain_prealloc(pre);
}

static void do_lock_after_loop(void *arg)
{
	struct lk *l = arg;
	struct gpuvm_exec exec;

	gpuvm_exec_init(&exec, 0, 0);
	gpuvm_exec_until_all_locked(&exec) {
		int ret = gpuvm_exec_lock_obj(&exec, &l->e.gem);

		gpuvm_exec_retry_on_contention(&exec);
		(void)ret;
	}
	gpuvm_exec_lock_obj(&exec, &l->p.gem);
}

static void do_gem_put_in_section(void *arg)
{
	struct lk *l = arg;
	struct ot_bo bo;

	(void)l;
	memset(&bo, 0, sizeof(bo));
	gpuvm_gem_init(&bo.gem, &ot_bo_funcs, 1);
	gpuvm_fence_begin_signalling();
	gpuvm_gem_put(&bo.gem);
}

static void do_gem_put_holding_mutex(void *arg)
{
	struct ot_bo bo;

	(void)arg;
	memset(&bo, 0, sizeof(bo));
	gpuvm_gem_init(&bo.gem, &ot_bo_funcs, 1);
	gpuvm_gem_gpuva_lock(&bo.gem);
	gpuvm_gem_put(&bo.gem);
}

static void do_gem_put_holding_resv(void *arg)
{
	struct ot_bo bo;

	(void)arg;
	memset(&bo, 0, sizeof(bo));
	gpuvm_gem_init(&bo.gem, &ot_bo_funcs, 1);
	gpuvm_resv_lock(bo.gem.resv, NULL);
	gpuvm_gem_put(&bo.gem);
}

/* ------------------------------------------------------------------ */
/* The tests.                                                           */

static void test_find(void **state)
{
	(void)state;
	TD_NEED_CHECKS();
	lk_death(0, do_find, RESV_MSG);
	/* Staged mode: the gpuva mutex is not the list lock. */
	lk_death(0, do_find_with_mutex, RESV_MSG);
	lk_death(GPUVM_RESV_PROTECTED, do_find, RESV_MSG);
	lk_death(GPUVM_IMMEDIATE_MODE, do_find, MUTEX_MSG);
	/* Immediate mode: the reservation is not the list lock. */
	lk_death(GPUVM_IMMEDIATE_MODE, do_find_with_resv, MUTEX_MSG);
	lk_death(0, do_obtain, RESV_MSG);
}

static void test_evict(void **state)
{
	(void)state;
	TD_NEED_CHECKS();
	lk_death(0, do_evict, RESV_MSG);
	lk_death(GPUVM_RESV_PROTECTED, do_evict, RESV_MSG);
	/* The VM's reservation is not the external object's. */
	lk_death(GPUVM_RESV_PROTECTED, do_evict_with_vm_resv, RESV_MSG);
	lk_death(0, do_gem_evict, RESV_MSG);
	lk_death(GPUVM_IMMEDIATE_MODE, do_gem_evict, MUTEX_MSG);
}

static void test_extobj_add(void **state)
{
	(void)state;
	TD_NEED_CHECKS();
	lk_death(GPUVM_RESV_PROTECTED, do_extobj_add_with_obj_resv, RESV_MSG);
}

static void test_put(void **state)
{
	(void)state;
	TD_NEED_CHECKS();
	lk_death(0, do_put, RESV_MSG);
	/* Resv-protected: the VM's reservation as well. */
	lk_death(GPUVM_RESV_PROTECTED, do_put_with_obj_resv, RESV_MSG);
	lk_death(GPUVM_IMMEDIATE_MODE, do_put, MUTEX_MSG);
	lk_death(GPUVM_IMMEDIATE_MODE, do_put_with_resv_immediate, MUTEX_MSG);
}

/* A put that cannot be the last needs no lock. */
static void test_put_not_last(void **state)
{
	struct lk l;

	(void)state;
	lk_setup(&l, GPUVM_RESV_PROTECTED);
	gpuvm_bo_get(l.ext);
	assert_false(gpuvm_bo_put(l.ext));
	lk_teardown(&l);
}

static void test_link(void **state)
{
	struct lk l;

	(void)state;
	TD_NEED_CHECKS();
	lk_death(0, do_link, RESV_MSG);
	lk_death(GPUVM_IMMEDIATE_MODE, do_link, MUTEX_MSG);

	lk_setup(&l, 0);
	ot_lock(&l.e.gem);
	gpuva_link(l.va, l.ext);
	ot_unlock(&l.e.gem);
	TD_EXPECT_DEATH(do_unlink, &l, RESV_MSG);
	ot_lock(&l.e.gem);
	gpuva_unlink(l.va);
	ot_unlock(&l.e.gem);
	lk_teardown(&l);
}

static void test_prepare_validate(void **state)
{
	(void)state;
	TD_NEED_CHECKS();
	lk_death(GPUVM_RESV_PROTECTED, do_prepare_objects, RESV_MSG);
	lk_death(GPUVM_RESV_PROTECTED, do_validate, RESV_MSG);
}

static void test_unmap_ops_create(void **state)
{
	(void)state;
	TD_NEED_CHECKS();
	lk_death(0, do_unmap_ops_create, RESV_MSG);
	lk_death(GPUVM_IMMEDIATE_MODE, do_unmap_ops_create, MUTEX_MSG);
}

static void test_mode_rules(void **state)
{
	(void)state;
	TD_NEED_CHECKS();
	lk_death(0, do_prealloc, "not in immediate mode");
	/* The prealloc path takes the mutex itself. */
	lk_death(GPUVM_IMMEDIATE_MODE, do_prealloc_holding_mutex,
		 "already held");
}

static void test_exec_rules(void **state)
{
	(void)state;
	TD_NEED_CHECKS();
	/* Leaving the loop ends the acquire phase. */
	lk_death(0, do_lock_after_loop, "gpuvm_ww_acquire_done()");
	lk_death(0, do_gem_put_in_section, "fence-signalling");
}

/* The last put must not run under the object's own locks. */
static void test_gem_put_rules(void **state)
{
	(void)state;
	TD_NEED_CHECKS();
	TD_EXPECT_DEATH(do_gem_put_holding_mutex, NULL, "still locked");
	TD_EXPECT_DEATH(do_gem_put_holding_resv, NULL, "still locked");
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		OT_TEST(test_find),
		OT_TEST(test_evict),
		OT_TEST(test_extobj_add),
		OT_TEST(test_put),
		OT_TEST(test_put_not_last),
		OT_TEST(test_link),
		OT_TEST(test_prepare_validate),
		OT_TEST(test_unmap_ops_create),
		OT_TEST(test_mode_rules),
		OT_TEST(test_exec_rules),
		OT_TEST(test_gem_put_rules),
	};

	tu_init(argc, argv, 1, 1);
	return cmocka_run_group_tests_name("objects-locking", tests, NULL,
					   NULL);
}
