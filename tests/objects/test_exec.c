// SPDX-License-Identifier: MIT
/*
 * Copyright (c) 2026 The libgpuvm authors
 *
 * Locking transactions: lock/prepare/unlock, duplicates, the references an
 * exec holds, the back-off and restart after a contention (forced with a
 * helper thread whose transaction is older), and allocation failures while
 * the object array grows.
 */
#include "objtest.h"

#define NOBJ 40

static struct ot_bo objs[NOBJ];

static void objs_init(unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		ot_bo_init(&objs[i], 4096);
}

static void objs_fini(unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		assert_false(gpuvm_resv_is_locked(objs[i].gem.resv));
		ot_bo_put_last(&objs[i]);
	}
}

static struct gpuvm_gem *O(unsigned int i)
{
	return &objs[i].gem;
}

/* How often @obj appears among the exec's locked objects. */
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

static void test_lock_basic(void **state)
{
	struct gpuvm_exec exec;
	struct gpuvm_gem *obj;
	unsigned int i, passes = 0;
	int ret;

	(void)state;
	objs_init(3);
	gpuvm_exec_init(&exec, 0, 0);
	assert_false(exec.started);
	gpuvm_exec_until_all_locked(&exec) {
		passes++;
		for (i = 0; i < 3; i++) {
			ret = gpuvm_exec_lock_obj(&exec, O(i));
			assert_int_equal(ret, 0);
		}
		/* Without IGNORE_DUPLICATES a second lock is reported. */
		ret = gpuvm_exec_lock_obj(&exec, O(1));
		gpuvm_exec_retry_on_contention(&exec);
		assert_int_equal(ret, -EALREADY);
		assert_int_equal(exec.num_objects, 3);
		assert_int_equal(ot_refs(O(1)), 2);
	}
	assert_int_equal(passes, 1);
	assert_int_equal(exec.num_objects, 3);
	gpuvm_exec_for_each_locked_object(&exec, i, obj) {
		assert_ptr_equal(obj, O(i));
		assert_true(ot_held(obj));
		/* The exec's own reference. */
		assert_int_equal(ot_refs(obj), 2);
	}
	assert_int_equal(i, 3);
	/* Leaving the loop ends the acquire phase, keeping the locks. */
	assert_true(exec.ticket.done);

	gpuvm_exec_fini(&exec);
	for (i = 0; i < 3; i++) {
		assert_false(gpuvm_resv_is_locked(O(i)->resv));
		assert_int_equal(ot_refs(O(i)), 1);
	}
	objs_fini(3);
}

static void test_ignore_duplicates(void **state)
{
	struct gpuvm_exec exec;
	int ret;

	(void)state;
	objs_init(2);
	gpuvm_exec_init(&exec, GPUVM_EXEC_IGNORE_DUPLICATES, 2);
	gpuvm_exec_until_all_locked(&exec) {
		ret = gpuvm_exec_lock_obj(&exec, O(0));
		gpuvm_exec_retry_on_contention(&exec);
		assert_int_equal(ret, 0);
		ret = gpuvm_exec_lock_obj(&exec, O(1));
		gpuvm_exec_retry_on_contention(&exec);
		assert_int_equal(ret, 0);
		ret = gpuvm_exec_lock_obj(&exec, O(0));
		gpuvm_exec_retry_on_contention(&exec);
		assert_int_equal(ret, 0);
		ret = gpuvm_exec_prepare_obj(&exec, O(1), 2);
		gpuvm_exec_retry_on_contention(&exec);
		assert_int_equal(ret, 0);
	}
	assert_int_equal(exec.num_objects, 2);
	assert_int_equal(locked_count(&exec, O(0)), 1);
	assert_int_equal(locked_count(&exec, O(1)), 1);
	assert_int_equal(ot_refs(O(0)), 2);
	assert_int_equal(ot_refs(O(1)), 2);
	/* The duplicate prepare still reserved its slots. */
	assert_true(O(1)->resv->num_reserved >= 2);
	gpuvm_exec_fini(&exec);
	objs_fini(2);
}

/* Two objects on one reservation: the second is a duplicate lock. */
static void test_shared_resv_duplicate(void **state)
{
	struct ot_bo owner, a, b;
	struct gpuvm_exec exec;
	int ret;

	(void)state;
	ot_bo_init(&owner, 0);
	ot_bo_init_priv(&a, 1, &owner.gem);
	ot_bo_init_priv(&b, 1, &owner.gem);

	gpuvm_exec_init(&exec, 0, 0);
	gpuvm_exec_until_all_locked(&exec) {
		ret = gpuvm_exec_lock_obj(&exec, &a.gem);
		gpuvm_exec_retry_on_contention(&exec);
		assert_int_equal(ret, 0);
		ret = gpuvm_exec_lock_obj(&exec, &b.gem);
		gpuvm_exec_retry_on_contention(&exec);
		assert_int_equal(ret, -EALREADY);
	}
	assert_int_equal(exec.num_objects, 1);
	assert_true(ot_held(&b.gem));
	assert_int_equal(ot_refs(&b.gem), 1);
	gpuvm_exec_fini(&exec);

	gpuvm_exec_init(&exec, GPUVM_EXEC_IGNORE_DUPLICATES, 0);
	gpuvm_exec_until_all_locked(&exec) {
		ret = gpuvm_exec_lock_obj(&exec, &a.gem);
		gpuvm_exec_retry_on_contention(&exec);
		assert_int_equal(ret, 0);
		ret = gpuvm_exec_prepare_obj(&exec, &b.gem, 1);
		gpuvm_exec_retry_on_contention(&exec);
		assert_int_equal(ret, 0);
		ret = gpuvm_exec_lock_obj(&exec, &owner.gem);
		gpuvm_exec_retry_on_contention(&exec);
		assert_int_equal(ret, 0);
	}
	assert_int_equal(exec.num_objects, 1);
	assert_int_equal(locked_count(&exec, &a.gem), 1);
	assert_int_equal(ot_refs(&b.gem), 1);
	gpuvm_exec_fini(&exec);
	assert_false(gpuvm_resv_is_locked(owner.gem.resv));

	gpuvm_gem_put(&owner.gem);
	ot_bo_put_last(&a);
	ot_bo_put_last(&b);
	assert_int_equal(owner.frees, 1);
}

static void test_unlock_obj(void **state)
{
	struct gpuvm_exec exec;
	int ret;

	(void)state;
	objs_init(4);
	gpuvm_exec_init(&exec, 0, 0);
	gpuvm_exec_until_all_locked(&exec) {
		for (unsigned int i = 0; i < 3; i++) {
			ret = gpuvm_exec_lock_obj(&exec, O(i));
			assert_int_equal(ret, 0);
		}
		/* An early unlock can be followed by a relock. */
		gpuvm_exec_unlock_obj(&exec, O(0));
		assert_false(gpuvm_resv_is_locked(O(0)->resv));
		assert_int_equal(ot_refs(O(0)), 1);
		ret = gpuvm_exec_lock_obj(&exec, O(0));
		gpuvm_exec_retry_on_contention(&exec);
		assert_int_equal(ret, 0);
		assert_ptr_equal(exec.objects[2], O(0));
	}
	gpuvm_exec_unlock_obj(&exec, O(1));
	assert_false(gpuvm_resv_is_locked(O(1)->resv));
	assert_int_equal(ot_refs(O(1)), 1);
	assert_int_equal(exec.num_objects, 2);
	assert_ptr_equal(exec.objects[0], O(2));
	assert_ptr_equal(exec.objects[1], O(0));
	/* Not locked by this exec: nothing happens. */
	gpuvm_exec_unlock_obj(&exec, O(3));
	gpuvm_exec_unlock_obj(&exec, O(1));
	assert_int_equal(exec.num_objects, 2);
	assert_int_equal(ot_refs(O(0)), 2);
	gpuvm_exec_fini(&exec);
	objs_fini(4);
}

static void test_prepare(void **state)
{
	struct gpuvm_gem *arr[3];
	struct gpuvm_fence f[3];
	struct gpuvm_exec exec;
	uint64_t ctx = gpuvm_fence_context_alloc(3);
	int ret;

	(void)state;
	objs_init(4);
	for (unsigned int i = 0; i < 3; i++) {
		arr[i] = O(i + 1);
		gpuvm_fence_init(&f[i], NULL, ctx + i, 1);
	}
	gpuvm_exec_init(&exec, 0, 0);
	gpuvm_exec_until_all_locked(&exec) {
		ret = gpuvm_exec_prepare_obj(&exec, O(0), 3);
		gpuvm_exec_retry_on_contention(&exec);
		assert_int_equal(ret, 0);
		ret = gpuvm_exec_prepare_array(&exec, arr, 3, 1);
		gpuvm_exec_retry_on_contention(&exec);
		assert_int_equal(ret, 0);
		/* An array that meets a duplicate reports it. */
		ret = gpuvm_exec_prepare_array(&exec, arr, 3, 1);
		gpuvm_exec_retry_on_contention(&exec);
		assert_int_equal(ret, -EALREADY);
	}
	assert_int_equal(exec.num_objects, 4);
	assert_true(O(0)->resv->num_reserved >= 3);
	/* Three distinct timelines need three slots; all were reserved. */
	for (unsigned int i = 0; i < 3; i++)
		gpuvm_resv_add_fence(O(0)->resv, &f[i], GPUVM_RESV_USAGE_READ);
	for (unsigned int i = 1; i < 4; i++) {
		assert_true(O(i)->resv->num_reserved >= 1);
		gpuvm_resv_add_fence(O(i)->resv, &f[0], GPUVM_RESV_USAGE_WRITE);
	}
	gpuvm_exec_fini(&exec);
	objs_fini(4);
	for (unsigned int i = 0; i < 3; i++) {
		assert_int_equal(gpuvm_kref_read(&f[i].refcount), 1);
		gpuvm_fence_signal(&f[i]);
		gpuvm_fence_put(&f[i]);
	}
}

/* The slot reservation fails: the object is unlocked again. */
static void test_prepare_enomem(void **state)
{
	struct gpuvm_exec exec;
	int ret;

	(void)state;
	objs_init(2);
	gpuvm_exec_init(&exec, 0, 4);
	gpuvm_exec_until_all_locked(&exec) {
		ret = gpuvm_exec_lock_obj(&exec, O(0));
		gpuvm_exec_retry_on_contention(&exec);
		assert_int_equal(ret, 0);
		gpuvm_alloc_fail_nth(1, false);
		ret = gpuvm_exec_prepare_obj(&exec, O(1), 8);
		gpuvm_exec_retry_on_contention(&exec);
		assert_int_equal(ret, -ENOMEM);
	}
	assert_false(gpuvm_alloc_fail_pending());
	assert_int_equal(exec.num_objects, 1);
	assert_false(gpuvm_resv_is_locked(O(1)->resv));
	assert_int_equal(ot_refs(O(1)), 1);
	assert_int_equal(locked_count(&exec, O(1)), 0);
	gpuvm_exec_fini(&exec);
	objs_fini(2);
}

static void test_fini_unstarted(void **state)
{
	struct gpuvm_exec exec;

	(void)state;
	gpuvm_exec_init(&exec, 0, 0);
	gpuvm_exec_fini(&exec);
	gpuvm_exec_init(&exec, GPUVM_EXEC_INTERRUPTIBLE_WAIT, 8);
	assert_int_equal(exec.max_objects, 8);
	gpuvm_exec_fini(&exec);
	/* An empty loop body: one pass, nothing locked. */
	gpuvm_exec_init(&exec, 0, 0);
	gpuvm_exec_until_all_locked(&exec) {
	}
	assert_int_equal(exec.num_objects, 0);
	gpuvm_exec_fini(&exec);
}

/* Locks @n objects in one loop; returns the first error and its index. */
static int lock_n(struct gpuvm_exec *exec, unsigned int n, unsigned int *at)
{
	int ret = 0;

	gpuvm_exec_until_all_locked(exec) {
		for (*at = 0; *at < n; (*at)++) {
			ret = gpuvm_exec_lock_obj(exec, O(*at));
			if (ret)
				break;
		}
		assert_false(gpuvm_exec_is_contended(exec));
		if (ret)
			break;
	}
	return ret;
}

static void test_growth(void **state)
{
	struct gpuvm_exec exec;
	unsigned int at;

	(void)state;
	objs_init(NOBJ);
	gpuvm_exec_init(&exec, 0, 0);
	assert_int_equal(lock_n(&exec, NOBJ, &at), 0);
	assert_int_equal(exec.num_objects, NOBJ);
	assert_true(exec.max_objects >= NOBJ);
	for (unsigned int i = 0; i < NOBJ; i++) {
		assert_ptr_equal(exec.objects[i], O(i));
		assert_int_equal(ot_refs(O(i)), 2);
	}
	gpuvm_exec_fini(&exec);
	objs_fini(NOBJ);
}

/* The initial array cannot be allocated: it is allocated on demand. */
static void test_init_alloc_fails(void **state)
{
	struct gpuvm_exec exec;
	unsigned int at;

	(void)state;
	objs_init(NOBJ);
	gpuvm_alloc_fail_nth(1, false);
	gpuvm_exec_init(&exec, 0, 4);
	assert_false(gpuvm_alloc_fail_pending());
	assert_null(exec.objects);
	assert_int_equal(exec.max_objects, 0);
	assert_int_equal(lock_n(&exec, 20, &at), 0);
	assert_int_equal(exec.num_objects, 20);
	gpuvm_exec_fini(&exec);

	/* Both the initial array and the later growth fail. */
	gpuvm_alloc_fail_nth(1, true);
	gpuvm_exec_init(&exec, 0, 4);
	assert_int_equal(lock_n(&exec, 3, &at), -ENOMEM);
	assert_int_equal(at, 0);
	assert_false(gpuvm_resv_is_locked(O(0)->resv));
	assert_int_equal(exec.num_objects, 0);
	gpuvm_alloc_fail_nth(0, false);
	gpuvm_exec_fini(&exec);
	objs_fini(NOBJ);
}

/* Every allocation of a growing exec fails in turn, cleanly. */
static void test_growth_enomem(void **state)
{
	unsigned int init_nr[] = { 0, 4, 16 };

	(void)state;
	objs_init(NOBJ);
	for (unsigned int k = 0; k < 3; k++) {
		for (uint64_t nth = 1;; nth++) {
			uint64_t live = tu_live_allocs();
			struct gpuvm_exec exec;
			unsigned int at = 0;
			int ret;

			gpuvm_alloc_fail_nth(nth, false);
			gpuvm_exec_init(&exec, 0, init_nr[k]);
			ret = lock_n(&exec, NOBJ, &at);
			if (!gpuvm_alloc_fail_pending() && ret == 0) {
				/* The failure hit exec_init, or nothing. */
				assert_int_equal(exec.num_objects, NOBJ);
			} else if (ret) {
				assert_int_equal(ret, -ENOMEM);
				assert_false(gpuvm_alloc_fail_pending());
				/* The failing object is not locked... */
				assert_false(gpuvm_resv_is_locked(O(at)->resv));
				assert_int_equal(ot_refs(O(at)), 1);
				/* ... and the ones before it still are. */
				assert_int_equal(exec.num_objects, at);
				for (unsigned int i = 0; i < at; i++)
					assert_true(ot_held(O(i)));
			}
			gpuvm_exec_fini(&exec);
			for (unsigned int i = 0; i < NOBJ; i++) {
				assert_false(gpuvm_resv_is_locked(O(i)->resv));
				assert_int_equal(ot_refs(O(i)), 1);
			}
			assert_int_equal(tu_live_allocs(), live);
			if (gpuvm_alloc_fail_pending()) {
				gpuvm_alloc_fail_nth(0, false);
				break;
			}
		}
	}
	objs_fini(NOBJ);
}

/* Contention: a helper thread runs an older transaction (objtest.h). */

static void test_contention(void **state)
{
	struct gpuvm_gem *held[1];
	struct gpuvm_exec exec;
	struct holder h;
	unsigned int passes = 0, restarts = 0;
	int ret;

	(void)state;
	objs_init(3);
	held[0] = O(1);
	holder_start(&h, held, 1);
	assert_int_equal(ot_refs(O(1)), 2);

	gpuvm_exec_init(&exec, 0, 0);
	gpuvm_exec_until_all_locked(&exec) {
		passes++;
		ret = gpuvm_exec_lock_obj(&exec, O(0));
		gpuvm_exec_retry_on_contention(&exec);
		assert_int_equal(ret, 0);
		if (passes == 2) {
			/* The contended object was locked first. */
			assert_int_equal(exec.num_objects, 2);
			assert_ptr_equal(exec.objects[0], O(1));
			assert_ptr_equal(exec.prelocked, O(1));
		}
		ret = gpuvm_exec_lock_obj(&exec, O(1));
		if (ret == -EDEADLK) {
			restarts++;
			assert_true(gpuvm_exec_is_contended(&exec));
			assert_ptr_equal(exec.contended, O(1));
			/* Base, the helper's exec, the contended reference. */
			assert_int_equal(ot_refs(O(1)), 3);
			assert_true(ot_held(O(0)));
			/* Let the older transaction finish. */
			holder_set(&h, 2);
		}
		gpuvm_exec_retry_on_contention(&exec);
		assert_int_equal(ret, 0);
		assert_null(exec.prelocked);
		ret = gpuvm_exec_lock_obj(&exec, O(2));
		gpuvm_exec_retry_on_contention(&exec);
		assert_int_equal(ret, 0);
	}
	assert_int_equal(passes, 2);
	assert_int_equal(restarts, 1);
	assert_int_equal(exec.num_objects, 3);
	for (unsigned int i = 0; i < 3; i++) {
		assert_int_equal(locked_count(&exec, O(i)), 1);
		assert_true(ot_held(O(i)));
	}
	holder_join(&h);
	for (unsigned int i = 0; i < 3; i++)
		assert_int_equal(ot_refs(O(i)), 2);
	gpuvm_exec_fini(&exec);
	objs_fini(3);
}

/* After the restart the body no longer locks the contended object. */
static void test_contention_prelocked_unused(void **state)
{
	struct gpuvm_gem *held[1];
	struct gpuvm_exec exec;
	struct holder h;
	unsigned int passes = 0;
	int ret;

	(void)state;
	objs_init(2);
	held[0] = O(1);
	holder_start(&h, held, 1);
	gpuvm_exec_init(&exec, 0, 0);
	gpuvm_exec_until_all_locked(&exec) {
		passes++;
		ret = gpuvm_exec_lock_obj(&exec, O(0));
		gpuvm_exec_retry_on_contention(&exec);
		assert_int_equal(ret, 0);
		if (passes == 1) {
			ret = gpuvm_exec_lock_obj(&exec, O(1));
			assert_int_equal(ret, -EDEADLK);
			holder_set(&h, 2);
			gpuvm_exec_retry_on_contention(&exec);
		}
	}
	assert_int_equal(passes, 2);
	/* Still locked (first), with the exec's reference and the prelock's. */
	assert_int_equal(exec.num_objects, 2);
	assert_ptr_equal(exec.objects[0], O(1));
	holder_join(&h);
	assert_int_equal(ot_refs(O(1)), 3);
	gpuvm_exec_fini(&exec);
	assert_int_equal(ot_refs(O(1)), 1);
	objs_fini(2);
}

/* The caller gives up after -EDEADLK: fini drops the contended reference. */
static void test_contention_give_up(void **state)
{
	struct gpuvm_gem *held[1];
	struct gpuvm_exec exec;
	struct holder h;
	int ret = 0;

	(void)state;
	objs_init(2);
	held[0] = O(1);
	holder_start(&h, held, 1);
	gpuvm_exec_init(&exec, 0, 0);
	gpuvm_exec_until_all_locked(&exec) {
		ret = gpuvm_exec_lock_obj(&exec, O(0));
		if (ret)
			break;
		ret = gpuvm_exec_lock_obj(&exec, O(1));
		if (ret)
			break;
	}
	assert_int_equal(ret, -EDEADLK);
	assert_int_equal(ot_refs(O(1)), 3);
	gpuvm_exec_fini(&exec);
	assert_int_equal(ot_refs(O(1)), 2);
	assert_false(gpuvm_resv_is_locked(O(0)->resv));
	holder_join(&h);
	objs_fini(2);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		OT_TEST(test_lock_basic),
		OT_TEST(test_ignore_duplicates),
		OT_TEST(test_shared_resv_duplicate),
		OT_TEST(test_unlock_obj),
		OT_TEST(test_prepare),
		OT_TEST(test_prepare_enomem),
		OT_TEST(test_fini_unstarted),
		OT_TEST(test_growth),
		OT_TEST(test_init_alloc_fails),
		OT_TEST(test_growth_enomem),
		OT_TEST(test_contention),
		OT_TEST(test_contention_prelocked_unused),
		OT_TEST(test_contention_give_up),
	};

	tu_init(argc, argv, 1, 1);
	return cmocka_run_group_tests_name("objects-exec", tests, NULL, NULL);
}
