// SPDX-License-Identifier: MIT
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
#include <pthread.h>

#include "testutil.h"
#include "death.h"

#include <gpuvm/fence.h>
#include <gpuvm/mutex.h>
#include <gpuvm/resv.h>
#include <gpuvm/ww_mutex.h>

#include "base/alloc_internal.h"
#include "base/context_internal.h"

/* ------------------------------------------------------------------ */
/* A counting violation handler.                                       */

struct counter {
	unsigned int n[GPUVM_VIOLATION_UNBALANCED + 1];
	unsigned int total;
	char last[512];
};

static void count_violation(enum gpuvm_violation rule, const char *msg,
			    void *data)
{
	struct counter *c = data;

	c->n[rule]++;
	c->total++;
	snprintf(c->last, sizeof(c->last), "%s", msg);
}

/* ------------------------------------------------------------------ */

static void test_nesting(void **state)
{
	(void)state;
	assert_false(gpuvm_in_signalling_section());
	gpuvm_fence_begin_signalling();
	assert_true(gpuvm_in_signalling_section());
	gpuvm_fence_begin_signalling();
	assert_true(gpuvm_in_signalling_section());
	gpuvm_fence_end_signalling();
	assert_true(gpuvm_in_signalling_section());
	gpuvm_fence_end_signalling();
	assert_false(gpuvm_in_signalling_section());
}

static void *in_section_thread(void *arg)
{
	bool *in = arg;
	void *p;

	*in = gpuvm_in_signalling_section();
	/* Another thread's section does not restrict this one. */
	p = gpuvm_alloc(16);
	gpuvm_free(p, 16);
	return NULL;
}

static void test_per_thread(void **state)
{
	pthread_t t;
	bool in = true;

	(void)state;
	gpuvm_fence_begin_signalling();
	assert_int_equal(pthread_create(&t, NULL, in_section_thread, &in), 0);
	pthread_join(t, NULL);
	gpuvm_fence_end_signalling();
	assert_false(in);
}

static void fence_cb_nop(struct gpuvm_fence *f, struct gpuvm_fence_cb *cb)
{
	(void)f;
	(void)cb;
}

/* Everything the section allows, done inside one. */
static void test_legal_code_passes(void **state)
{
	struct gpuvm_mutex m;
	struct gpuvm_fence f, g;
	struct gpuvm_fence_cb cb;
	struct gpuvm_resv resv;
	struct gpuvm_ww_class cls;
	struct gpuvm_ww_mutex ww;
	void *p;

	(void)state;
	gpuvm_mutex_init(&m);
	gpuvm_fence_init(&f, NULL, gpuvm_fence_context_alloc(1), 1);
	gpuvm_fence_init(&g, NULL, gpuvm_fence_context_alloc(1), 1);
	gpuvm_resv_init(&resv);
	gpuvm_ww_class_init(&cls, "test");
	gpuvm_ww_mutex_init(&ww, &cls);

	/* Allocations, waits and locks happen before the section. */
	p = gpuvm_alloc(32);
	assert_non_null(p);
	assert_int_equal(gpuvm_resv_lock(&resv, NULL), 0);
	assert_int_equal(gpuvm_resv_reserve_fences(&resv, 1), 0);
	assert_int_equal(gpuvm_ww_mutex_lock(&ww, NULL), 0);

	gpuvm_fence_begin_signalling();
	gpuvm_mutex_lock(&m);
	gpuvm_mutex_unlock(&m);
	assert_int_equal(gpuvm_fence_add_callback(&f, &cb, fence_cb_nop), 0);
	gpuvm_resv_add_fence(&resv, &f, GPUVM_RESV_USAGE_WRITE);
	assert_false(gpuvm_resv_test_signaled(&resv, GPUVM_RESV_USAGE_WRITE));
	assert_int_equal(gpuvm_fence_signal(&f), 0);
	assert_true(gpuvm_resv_test_signaled(&resv, GPUVM_RESV_USAGE_WRITE));
	assert_true(gpuvm_fence_is_signaled(&f));
	gpuvm_fence_get(&g);
	gpuvm_fence_put(&g);
	gpuvm_ww_mutex_unlock(&ww);
	gpuvm_resv_unlock(&resv);
	gpuvm_free(p, 32);
	gpuvm_fence_end_signalling();

	gpuvm_ww_mutex_fini(&ww);
	gpuvm_resv_fini(&resv);
	gpuvm_fence_put(&f);
	gpuvm_fence_put(&g);
	gpuvm_mutex_fini(&m);
}

/* ------------------------------------------------------------------ */
/* Death tests: one rule per child.                                     */

static void die_alloc(void *arg)
{
	(void)arg;
	gpuvm_fence_begin_signalling();
	(void)gpuvm_alloc(8);
}

static void die_zalloc(void *arg)
{
	(void)arg;
	gpuvm_fence_begin_signalling();
	(void)gpuvm_zalloc(8);
}

static void die_alloc_nested(void *arg)
{
	(void)arg;
	gpuvm_fence_begin_signalling();
	gpuvm_fence_begin_signalling();
	gpuvm_fence_end_signalling();
	(void)gpuvm_alloc(8);
}

static void die_array_create(void *arg)
{
	struct gpuvm_fence f, *arr[1] = { &f }, *out;

	(void)arg;
	gpuvm_fence_init(&f, NULL, 1, 1);
	gpuvm_fence_begin_signalling();
	(void)gpuvm_fence_array_create(arr, 1, 2, 1, false, &out);
}

static void die_ww_lock(void *arg)
{
	struct gpuvm_ww_class cls;
	struct gpuvm_ww_mutex ww;
	struct gpuvm_ww_acquire_ctx ctx;

	(void)arg;
	gpuvm_ww_class_init(&cls, "test");
	gpuvm_ww_mutex_init(&ww, &cls);
	gpuvm_ww_acquire_init(&ctx, &cls);
	gpuvm_fence_begin_signalling();
	(void)gpuvm_ww_mutex_lock(&ww, &ctx);
}

static void die_ww_lock_plain(void *arg)
{
	struct gpuvm_ww_class cls;
	struct gpuvm_ww_mutex ww;

	(void)arg;
	gpuvm_ww_class_init(&cls, "test");
	gpuvm_ww_mutex_init(&ww, &cls);
	gpuvm_fence_begin_signalling();
	(void)gpuvm_ww_mutex_lock(&ww, NULL);
}

static void die_ww_lock_slow(void *arg)
{
	struct gpuvm_ww_class cls;
	struct gpuvm_ww_mutex ww;
	struct gpuvm_ww_acquire_ctx ctx;

	(void)arg;
	gpuvm_ww_class_init(&cls, "test");
	gpuvm_ww_mutex_init(&ww, &cls);
	gpuvm_ww_acquire_init(&ctx, &cls);
	gpuvm_fence_begin_signalling();
	gpuvm_ww_mutex_lock_slow(&ww, &ctx);
}

static void die_ww_trylock(void *arg)
{
	struct gpuvm_ww_class cls;
	struct gpuvm_ww_mutex ww;

	(void)arg;
	gpuvm_ww_class_init(&cls, "test");
	gpuvm_ww_mutex_init(&ww, &cls);
	gpuvm_fence_begin_signalling();
	(void)gpuvm_ww_mutex_trylock(&ww, NULL);
}

static void die_resv_lock(void *arg)
{
	struct gpuvm_resv resv;

	(void)arg;
	gpuvm_resv_init(&resv);
	gpuvm_fence_begin_signalling();
	(void)gpuvm_resv_lock(&resv, NULL);
}

static void die_resv_trylock(void *arg)
{
	struct gpuvm_resv resv;

	(void)arg;
	gpuvm_resv_init(&resv);
	gpuvm_fence_begin_signalling();
	(void)gpuvm_resv_trylock(&resv);
}

static void die_fence_wait(void *arg)
{
	struct gpuvm_fence f;

	(void)arg;
	gpuvm_fence_init(&f, NULL, 1, 1);
	/* Signalled, zero timeout: still a wait as far as the rule goes. */
	gpuvm_fence_signal(&f);
	gpuvm_fence_begin_signalling();
	(void)gpuvm_fence_wait_timeout(&f, 0);
}

static void die_resv_wait(void *arg)
{
	struct gpuvm_resv resv;

	(void)arg;
	gpuvm_resv_init(&resv);
	gpuvm_fence_begin_signalling();
	(void)gpuvm_resv_wait_timeout(&resv, GPUVM_RESV_USAGE_BOOKKEEP, 0);
}

static void die_gem_put(void *arg)
{
	(void)arg;
	gpuvm_fence_begin_signalling();
	gpuvm_context_check(GPUVM_RULE_GEM_PUT, "gpuvm_gem_put()");
}

static void die_vm_put(void *arg)
{
	(void)arg;
	gpuvm_fence_begin_signalling();
	gpuvm_context_check(GPUVM_RULE_VM_PUT, "gpuvm_put()");
}

static void die_unbalanced(void *arg)
{
	(void)arg;
	gpuvm_fence_end_signalling();
}

static void die_unbalanced_after_pair(void *arg)
{
	(void)arg;
	gpuvm_fence_begin_signalling();
	gpuvm_fence_end_signalling();
	gpuvm_fence_end_signalling();
}

static void die_might_alloc(void *arg)
{
	(void)arg;
	gpuvm_fence_begin_signalling();
	gpuvm_might_alloc();
}

static void die_might_wait(void *arg)
{
	(void)arg;
	gpuvm_fence_begin_signalling();
	gpuvm_might_wait();
}

static void test_rules_fire(void **state)
{
	(void)state;
	TD_NEED_CHECKS();
	TD_EXPECT_DEATH(die_alloc, NULL,
			"gpuvm: fence-signalling rule broken: gpuvm_alloc() "
			"allocates inside a fence-signalling section entered "
			"at ");
	/* The report names the entry's file, line and function. */
	TD_EXPECT_DEATH(die_alloc, NULL, "test_checker.c:");
	TD_EXPECT_DEATH(die_alloc, NULL, "(die_alloc)");
	TD_EXPECT_DEATH(die_zalloc, NULL, "gpuvm_alloc() allocates");
	TD_EXPECT_DEATH(die_alloc_nested, NULL, "(die_alloc_nested)");
	TD_EXPECT_DEATH(die_array_create, NULL, "gpuvm_alloc() allocates");
	TD_EXPECT_DEATH(die_ww_lock, NULL,
			"gpuvm_ww_mutex_lock() takes a ww-mutex");
	TD_EXPECT_DEATH(die_ww_lock_plain, NULL,
			"gpuvm_ww_mutex_lock() takes a ww-mutex");
	TD_EXPECT_DEATH(die_ww_lock_slow, NULL,
			"gpuvm_ww_mutex_lock_slow() takes a ww-mutex");
	TD_EXPECT_DEATH(die_ww_trylock, NULL,
			"gpuvm_ww_mutex_trylock() takes a ww-mutex");
	TD_EXPECT_DEATH(die_resv_lock, NULL, "gpuvm_resv_lock() takes");
	TD_EXPECT_DEATH(die_resv_trylock, NULL, "gpuvm_resv_trylock() takes");
	TD_EXPECT_DEATH(die_fence_wait, NULL,
			"gpuvm_fence_wait_timeout() waits on a fence inside");
	TD_EXPECT_DEATH(die_resv_wait, NULL,
			"gpuvm_resv_wait_timeout() waits on a fence inside");
	TD_EXPECT_DEATH(die_gem_put, NULL,
			"gpuvm_gem_put() drops the last reference of a GEM "
			"object inside a fence-signalling section entered at");
	TD_EXPECT_DEATH(die_vm_put, NULL,
			"gpuvm_put() drops the last reference of a VM inside");
	TD_EXPECT_DEATH(die_unbalanced, NULL,
			"gpuvm_fence_end_signalling() at ");
	TD_EXPECT_DEATH(die_unbalanced, NULL, "(die_unbalanced)");
	TD_EXPECT_DEATH(die_unbalanced_after_pair, NULL,
			"ends a fence-signalling section that this thread is "
			"not in");
	TD_EXPECT_DEATH(die_might_alloc, NULL, "gpuvm_might_alloc() at ");
	TD_EXPECT_DEATH(die_might_alloc, NULL, "(die_might_alloc) allocates");
	TD_EXPECT_DEATH(die_might_wait, NULL,
			"(die_might_wait) waits on a fence inside");
}

/* Outside a section, the annotations and the hooks are silent. */
static void test_annotations_outside(void **state)
{
	struct gpuvm_fence f;

	(void)state;
	gpuvm_might_alloc();
	gpuvm_might_wait();
	gpuvm_context_check(GPUVM_RULE_GEM_PUT, "gpuvm_gem_put()");
	gpuvm_context_check(GPUVM_RULE_VM_PUT, "gpuvm_put()");
	gpuvm_fence_init(&f, NULL, 1, 1);
	gpuvm_fence_signal(&f);
	assert_int_equal(gpuvm_fence_wait_timeout(&f, 0), 0);
	gpuvm_fence_put(&f);
}

/* ------------------------------------------------------------------ */
/* The handler hook: count instead of dying.                            */

static void test_handler_counts(void **state)
{
	struct counter c;
	struct gpuvm_fence f;
	struct gpuvm_resv resv;
	void *p;
	int line;

	(void)state;
	if (!gpuvm_checks_enabled())
		skip();
	memset(&c, 0, sizeof(c));
	gpuvm_fence_init(&f, NULL, 1, 1);
	gpuvm_resv_init(&resv);
	gpuvm_set_violation_handler(count_violation, &c);

	line = __LINE__ + 1;
	gpuvm_fence_begin_signalling();
	p = gpuvm_alloc(8);
	/* The handler returned: the allocation went ahead. */
	assert_non_null(p);
	gpuvm_free(p, 8);
	assert_int_equal(c.n[GPUVM_VIOLATION_ALLOC], 1);
	{
		char want[128];

		snprintf(want, sizeof(want), "test_checker.c:%d", line);
		assert_non_null(strstr(c.last, want));
		assert_non_null(strstr(c.last, "(test_handler_counts)"));
		assert_true(
			!strncmp(c.last, "fence-signalling rule broken: ", 30));
	}
	gpuvm_might_alloc();
	assert_int_equal(c.n[GPUVM_VIOLATION_ALLOC], 2);
	assert_non_null(strstr(c.last, "gpuvm_might_alloc() at "));

	assert_int_equal(gpuvm_resv_lock(&resv, NULL), 0);
	assert_true(gpuvm_resv_is_held(&resv));
	gpuvm_resv_unlock(&resv);
	assert_true(gpuvm_resv_trylock(&resv));
	gpuvm_resv_unlock(&resv);
	assert_int_equal(c.n[GPUVM_VIOLATION_WW_LOCK], 2);

	assert_int_equal(gpuvm_fence_wait_timeout(&f, 0), -ETIME);
	gpuvm_might_wait();
	assert_int_equal(
		gpuvm_resv_wait_timeout(&resv, GPUVM_RESV_USAGE_READ, 0), 0);
	assert_int_equal(c.n[GPUVM_VIOLATION_FENCE_WAIT], 3);

	gpuvm_context_check(GPUVM_RULE_GEM_PUT, "gpuvm_gem_put()");
	gpuvm_context_check(GPUVM_RULE_VM_PUT, "gpuvm_put()");
	assert_int_equal(c.n[GPUVM_VIOLATION_GEM_PUT], 1);
	assert_int_equal(c.n[GPUVM_VIOLATION_VM_PUT], 1);
	gpuvm_fence_end_signalling();

	/* Outside: no more counts. */
	p = gpuvm_alloc(8);
	gpuvm_free(p, 8);
	gpuvm_fence_end_signalling();
	assert_int_equal(c.n[GPUVM_VIOLATION_UNBALANCED], 1);
	assert_false(gpuvm_in_signalling_section());
	assert_int_equal(c.total, 10);

	gpuvm_set_violation_handler(NULL, NULL);
	gpuvm_resv_fini(&resv);
	gpuvm_fence_signal(&f);
	gpuvm_fence_put(&f);
}

/* Violations from many threads at once reach the handler, each counted. */
static atomic_uint mt_count;

static void count_atomic(enum gpuvm_violation rule, const char *msg, void *data)
{
	(void)msg;
	(void)data;
	if (rule == GPUVM_VIOLATION_ALLOC)
		atomic_fetch_add_explicit(&mt_count, 1, memory_order_relaxed);
}

static void *violating_thread(void *arg)
{
	unsigned int i;

	(void)arg;
	for (i = 0; i < 100; i++) {
		void *p;

		gpuvm_fence_begin_signalling();
		p = gpuvm_alloc(8);
		gpuvm_fence_end_signalling();
		gpuvm_free(p, 8);
		p = gpuvm_alloc(8); /* outside: not counted */
		gpuvm_free(p, 8);
	}
	return NULL;
}

static void test_handler_threads(void **state)
{
	pthread_t t[4];
	unsigned int i;

	(void)state;
	if (!gpuvm_checks_enabled())
		skip();
	atomic_store(&mt_count, 0);
	gpuvm_set_violation_handler(count_atomic, NULL);
	for (i = 0; i < 4; i++)
		assert_int_equal(
			pthread_create(&t[i], NULL, violating_thread, NULL), 0);
	for (i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	gpuvm_set_violation_handler(NULL, NULL);
	assert_int_equal(atomic_load(&mt_count), 400);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		TU_TEST(test_nesting),
		TU_TEST(test_per_thread),
		TU_TEST(test_legal_code_passes),
		TU_TEST(test_rules_fire),
		TU_TEST(test_annotations_outside),
		TU_TEST(test_handler_counts),
		TU_TEST(test_handler_threads),
	};

	tu_init(argc, argv, 1, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
