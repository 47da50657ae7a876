// SPDX-License-Identifier: MIT
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
#include <pthread.h>
#include <time.h>

#include "testutil.h"
#include "death.h"

#include <gpuvm/ww_mutex.h>

/*
 * Sleeps until @lock has @n queued waiters. Reads the lock's private state
 * under its own wait lock; polling is fine in a test, and nothing here
 * depends on how long it takes.
 */
static void wait_for_waiters(struct gpuvm_ww_mutex *lock, unsigned int n)
{
	for (;;) {
		struct gpuvm_list_head *pos;
		unsigned int count = 0;
		struct timespec ts = { 0, 1000000 };

		pthread_mutex_lock(&lock->wait_lock);
		gpuvm_list_for_each(pos, &lock->waiters)
			count++;
		pthread_mutex_unlock(&lock->wait_lock);
		if (count >= n)
			return;
		nanosleep(&ts, NULL);
	}
}

static void test_plain(void **state)
{
	struct gpuvm_ww_class cls;
	struct gpuvm_ww_mutex l;

	(void)state;
	gpuvm_ww_class_init(&cls, "test");
	gpuvm_ww_mutex_init(&l, &cls);
	assert_false(gpuvm_ww_mutex_is_locked(&l));
	assert_int_equal(gpuvm_ww_mutex_lock(&l, NULL), 0);
	assert_true(gpuvm_ww_mutex_is_locked(&l));
	assert_true(gpuvm_ww_mutex_is_held(&l));
	gpuvm_ww_mutex_assert_held(&l);
	assert_false(gpuvm_ww_mutex_trylock(&l, NULL));
	gpuvm_ww_mutex_unlock(&l);
	assert_false(gpuvm_ww_mutex_is_locked(&l));
	assert_false(gpuvm_ww_mutex_is_held(&l));
	assert_true(gpuvm_ww_mutex_trylock(&l, NULL));
	assert_true(gpuvm_ww_mutex_is_held(&l));
	gpuvm_ww_mutex_unlock(&l);
	gpuvm_ww_mutex_fini(&l);
}

static void test_static_class(void **state)
{
	static struct gpuvm_ww_class cls = GPUVM_WW_CLASS_INITIALIZER("st");
	struct gpuvm_ww_acquire_ctx a, b;

	(void)state;
	gpuvm_ww_acquire_init(&a, &cls);
	gpuvm_ww_acquire_init(&b, &cls);
	assert_true(a.stamp >= 1);
	assert_true(b.stamp > a.stamp);
	gpuvm_ww_acquire_fini(&a);
	gpuvm_ww_acquire_fini(&b);
}

static void test_ealready(void **state)
{
	struct gpuvm_ww_class cls;
	struct gpuvm_ww_mutex l;
	struct gpuvm_ww_acquire_ctx ctx;

	(void)state;
	gpuvm_ww_class_init(&cls, "test");
	gpuvm_ww_mutex_init(&l, &cls);
	gpuvm_ww_acquire_init(&ctx, &cls);
	assert_int_equal(gpuvm_ww_mutex_lock(&l, &ctx), 0);
	assert_int_equal(ctx.acquired, 1);
	assert_int_equal(gpuvm_ww_mutex_lock(&l, &ctx), -EALREADY);
	assert_int_equal(ctx.acquired, 1);
	/* A trylock of a lock the context holds simply fails. */
	assert_false(gpuvm_ww_mutex_trylock(&l, &ctx));
	gpuvm_ww_acquire_done(&ctx);
	gpuvm_ww_mutex_unlock(&l);
	assert_int_equal(ctx.acquired, 0);
	gpuvm_ww_acquire_fini(&ctx);
	gpuvm_ww_mutex_fini(&l);
}

static void test_trylock_ctx(void **state)
{
	struct gpuvm_ww_class cls;
	struct gpuvm_ww_mutex l[2];
	struct gpuvm_ww_acquire_ctx ctx;

	(void)state;
	gpuvm_ww_class_init(&cls, "test");
	gpuvm_ww_mutex_init(&l[0], &cls);
	gpuvm_ww_mutex_init(&l[1], &cls);
	gpuvm_ww_acquire_init(&ctx, &cls);
	assert_true(gpuvm_ww_mutex_trylock(&l[0], &ctx));
	assert_int_equal(ctx.acquired, 1);
	assert_int_equal(gpuvm_ww_mutex_lock(&l[0], &ctx), -EALREADY);
	assert_int_equal(gpuvm_ww_mutex_lock(&l[1], &ctx), 0);
	assert_int_equal(ctx.acquired, 2);
	gpuvm_ww_mutex_unlock(&l[0]);
	gpuvm_ww_mutex_unlock(&l[1]);
	assert_int_equal(ctx.acquired, 0);
	gpuvm_ww_acquire_fini(&ctx);
	gpuvm_ww_mutex_fini(&l[0]);
	gpuvm_ww_mutex_fini(&l[1]);
}

/*
 * Two contexts on one thread make the die case deterministic: the younger
 * one, holding a lock, asks for a lock the older one holds.
 */
static void test_edeadlk_and_backoff(void **state)
{
	struct gpuvm_ww_class cls;
	struct gpuvm_ww_mutex l1, l2;
	struct gpuvm_ww_acquire_ctx old, young;

	(void)state;
	gpuvm_ww_class_init(&cls, "test");
	gpuvm_ww_mutex_init(&l1, &cls);
	gpuvm_ww_mutex_init(&l2, &cls);
	gpuvm_ww_acquire_init(&old, &cls);
	gpuvm_ww_acquire_init(&young, &cls);
	assert_true(old.stamp < young.stamp);

	assert_int_equal(gpuvm_ww_mutex_lock(&l1, &old), 0);
	assert_int_equal(gpuvm_ww_mutex_lock(&l2, &young), 0);
	assert_int_equal(gpuvm_ww_mutex_lock(&l1, &young), -EDEADLK);
	assert_int_equal(young.backoffs, 1);
	assert_int_equal(young.acquired, 1);

	/* Back off: drop everything, then slow-lock the contended one. */
	gpuvm_ww_mutex_unlock(&l2);
	gpuvm_ww_mutex_unlock(&l1); /* the old one finishes */
	gpuvm_ww_mutex_lock_slow(&l1, &young);
	assert_int_equal(gpuvm_ww_mutex_lock(&l2, &young), 0);
	assert_int_equal(young.acquired, 2);
	gpuvm_ww_mutex_unlock(&l1);
	gpuvm_ww_mutex_unlock(&l2);

	/* The old context never dies: the lock is free, it just takes it. */
	assert_int_equal(gpuvm_ww_mutex_lock(&l2, &old), 0);
	gpuvm_ww_mutex_unlock(&l2);

	/* A young context holding nothing does not die either (free lock). */
	assert_int_equal(gpuvm_ww_mutex_lock(&l1, &old), 0);
	assert_true(gpuvm_ww_mutex_trylock(&l2, &young));
	assert_int_equal(gpuvm_ww_mutex_lock(&l1, &young), -EDEADLK);
	gpuvm_ww_mutex_unlock(&l2);
	gpuvm_ww_mutex_unlock(&l1);
	gpuvm_ww_mutex_lock_slow(&l1, &young);
	gpuvm_ww_mutex_unlock(&l1);
	assert_int_equal(young.backoffs, 2);

	gpuvm_ww_acquire_fini(&old);
	gpuvm_ww_acquire_fini(&young);
	gpuvm_ww_mutex_fini(&l1);
	gpuvm_ww_mutex_fini(&l2);
}

/* ------------------------------------------------------------------ */
/* Threaded scenarios with a known outcome.                             */

struct scenario {
	struct gpuvm_ww_class cls;
	struct gpuvm_ww_mutex l, m, n;
	pthread_barrier_t b, b2;
	atomic_int ret_old, ret_young;
	int log[8];
	atomic_int log_len;
};

static void scenario_init(struct scenario *s, unsigned int parties)
{
	memset(s, 0, sizeof(*s));
	gpuvm_ww_class_init(&s->cls, "scenario");
	gpuvm_ww_mutex_init(&s->l, &s->cls);
	gpuvm_ww_mutex_init(&s->m, &s->cls);
	gpuvm_ww_mutex_init(&s->n, &s->cls);
	pthread_barrier_init(&s->b, NULL, parties);
	pthread_barrier_init(&s->b2, NULL, 2);
	atomic_init(&s->ret_old, 1);
	atomic_init(&s->ret_young, 1);
}

static void scenario_fini(struct scenario *s)
{
	pthread_barrier_destroy(&s->b);
	pthread_barrier_destroy(&s->b2);
	gpuvm_ww_mutex_fini(&s->l);
	gpuvm_ww_mutex_fini(&s->m);
	gpuvm_ww_mutex_fini(&s->n);
}

/* Older context: holds n, then waits for m (held by the younger main). */
static void *older_waits_thread(void *arg)
{
	struct scenario *s = arg;
	struct gpuvm_ww_acquire_ctx ctx;

	gpuvm_ww_acquire_init(&ctx, &s->cls);
	pthread_barrier_wait(&s->b); /* stamp drawn */
	pthread_barrier_wait(&s->b); /* main holds m */
	assert_int_equal(gpuvm_ww_mutex_lock(&s->n, &ctx), 0);
	atomic_store(&s->ret_old, gpuvm_ww_mutex_lock(&s->m, &ctx));
	gpuvm_ww_mutex_unlock(&s->m);
	gpuvm_ww_mutex_unlock(&s->n);
	gpuvm_ww_acquire_fini(&ctx);
	return NULL;
}

static void test_older_waits(void **state)
{
	struct scenario s;
	struct gpuvm_ww_acquire_ctx young;
	pthread_t t;

	(void)state;
	scenario_init(&s, 2);
	assert_int_equal(pthread_create(&t, NULL, older_waits_thread, &s), 0);
	pthread_barrier_wait(&s.b);
	gpuvm_ww_acquire_init(&young, &s.cls);
	assert_int_equal(gpuvm_ww_mutex_lock(&s.m, &young), 0);
	pthread_barrier_wait(&s.b);
	/* The older context queues behind the younger holder... */
	wait_for_waiters(&s.m, 1);
	assert_int_equal(atomic_load(&s.ret_old), 1);
	/* ...and gets the lock when it is released. */
	gpuvm_ww_mutex_unlock(&s.m);
	pthread_join(t, NULL);
	assert_int_equal(atomic_load(&s.ret_old), 0);
	gpuvm_ww_acquire_fini(&young);
	scenario_fini(&s);
}

/*
 * A younger context holding a lock waits on l (held plainly by main); when
 * an older context queues on l ahead of it, the younger one must die.
 */
static void *young_waiter_thread(void *arg)
{
	struct scenario *s = arg;
	struct gpuvm_ww_acquire_ctx ctx;
	int ret;

	pthread_barrier_wait(&s->b); /* the old context drew its stamp */
	gpuvm_ww_acquire_init(&ctx, &s->cls);
	assert_int_equal(gpuvm_ww_mutex_lock(&s->m, &ctx), 0);
	ret = gpuvm_ww_mutex_lock(&s->l, &ctx);
	atomic_store(&s->ret_young, ret);
	gpuvm_ww_mutex_unlock(&s->m);
	if (ret == 0)
		gpuvm_ww_mutex_unlock(&s->l);
	gpuvm_ww_acquire_fini(&ctx);
	return NULL;
}

static void *old_queuer_thread(void *arg)
{
	struct scenario *s = arg;
	struct gpuvm_ww_acquire_ctx ctx;

	gpuvm_ww_acquire_init(&ctx, &s->cls);
	pthread_barrier_wait(&s->b);
	pthread_barrier_wait(&s->b2); /* the young one is queued */
	atomic_store(&s->ret_old, gpuvm_ww_mutex_lock(&s->l, &ctx));
	gpuvm_ww_mutex_unlock(&s->l);
	gpuvm_ww_acquire_fini(&ctx);
	return NULL;
}

static void test_young_waiter_dies(void **state)
{
	struct scenario s;
	pthread_t ty, to;

	(void)state;
	scenario_init(&s, 3);
	assert_int_equal(gpuvm_ww_mutex_lock(&s.l, NULL), 0);
	assert_int_equal(pthread_create(&to, NULL, old_queuer_thread, &s), 0);
	assert_int_equal(pthread_create(&ty, NULL, young_waiter_thread, &s), 0);
	pthread_barrier_wait(&s.b);
	wait_for_waiters(&s.l, 1);
	pthread_barrier_wait(&s.b2);
	/* The young waiter dies while main still holds l. */
	pthread_join(ty, NULL);
	assert_int_equal(atomic_load(&s.ret_young), -EDEADLK);
	wait_for_waiters(&s.l, 1);
	assert_int_equal(atomic_load(&s.ret_old), 1);
	gpuvm_ww_mutex_unlock(&s.l);
	pthread_join(to, NULL);
	assert_int_equal(atomic_load(&s.ret_old), 0);
	scenario_fini(&s);
}

/*
 * Hand-off order: context waiters oldest first, whatever their arrival
 * order; none of them holds a lock, so none dies.
 */
struct queued {
	struct scenario *s;
	int id;
	struct gpuvm_ww_acquire_ctx ctx;
	pthread_barrier_t *go;
};

static void *queued_thread(void *arg)
{
	struct queued *q = arg;

	gpuvm_ww_acquire_init(&q->ctx, &q->s->cls);
	pthread_barrier_wait(q->go);
	pthread_barrier_wait(q->go);
	assert_int_equal(gpuvm_ww_mutex_lock(&q->s->l, &q->ctx), 0);
	q->s->log[atomic_fetch_add(&q->s->log_len, 1)] = q->id;
	gpuvm_ww_mutex_unlock(&q->s->l);
	gpuvm_ww_acquire_fini(&q->ctx);
	return NULL;
}

static void test_handoff_order(void **state)
{
	struct scenario s;
	struct queued q[3];
	pthread_barrier_t go[3];
	pthread_t t[3];
	int i;

	(void)state;
	scenario_init(&s, 1);
	assert_int_equal(gpuvm_ww_mutex_lock(&s.l, NULL), 0);
	/* Stamps in order 0, 1, 2; queue in order 2, 1, 0. */
	for (i = 0; i < 3; i++) {
		pthread_barrier_init(&go[i], NULL, 2);
		q[i] = (struct queued){ .s = &s, .id = i, .go = &go[i] };
		assert_int_equal(
			pthread_create(&t[i], NULL, queued_thread, &q[i]), 0);
		pthread_barrier_wait(&go[i]);
	}
	for (i = 2; i >= 0; i--) {
		pthread_barrier_wait(&go[i]);
		wait_for_waiters(&s.l, (unsigned int)(3 - i));
	}
	gpuvm_ww_mutex_unlock(&s.l);
	for (i = 0; i < 3; i++) {
		pthread_join(t[i], NULL);
		pthread_barrier_destroy(&go[i]);
	}
	assert_int_equal(atomic_load(&s.log_len), 3);
	assert_int_equal(s.log[0], 0);
	assert_int_equal(s.log[1], 1);
	assert_int_equal(s.log[2], 2);
	scenario_fini(&s);
}

/* ------------------------------------------------------------------ */
/* Death tests.                                                          */

static struct gpuvm_ww_class death_cls = GPUVM_WW_CLASS_INITIALIZER("death");

static void die_lock_after_done(void *arg)
{
	struct gpuvm_ww_mutex l;
	struct gpuvm_ww_acquire_ctx ctx;

	(void)arg;
	gpuvm_ww_mutex_init(&l, &death_cls);
	gpuvm_ww_acquire_init(&ctx, &death_cls);
	gpuvm_ww_acquire_done(&ctx);
	(void)gpuvm_ww_mutex_lock(&l, &ctx);
}

static void die_fini_with_locks(void *arg)
{
	struct gpuvm_ww_mutex l;
	struct gpuvm_ww_acquire_ctx ctx;

	(void)arg;
	gpuvm_ww_mutex_init(&l, &death_cls);
	gpuvm_ww_acquire_init(&ctx, &death_cls);
	(void)gpuvm_ww_mutex_lock(&l, &ctx);
	gpuvm_ww_acquire_fini(&ctx);
}

static void die_slow_with_locks(void *arg)
{
	struct gpuvm_ww_mutex l, m;
	struct gpuvm_ww_acquire_ctx ctx;

	(void)arg;
	gpuvm_ww_mutex_init(&l, &death_cls);
	gpuvm_ww_mutex_init(&m, &death_cls);
	gpuvm_ww_acquire_init(&ctx, &death_cls);
	(void)gpuvm_ww_mutex_lock(&l, &ctx);
	gpuvm_ww_mutex_lock_slow(&m, &ctx);
}

static void die_unlock_unlocked(void *arg)
{
	struct gpuvm_ww_mutex l;

	(void)arg;
	gpuvm_ww_mutex_init(&l, &death_cls);
	gpuvm_ww_mutex_unlock(&l);
}

static void die_unlock_other_owner(void *arg)
{
	gpuvm_ww_mutex_unlock(arg);
}

static void die_ctx_other_thread(void *arg)
{
	struct gpuvm_ww_mutex l;

	gpuvm_ww_mutex_init(&l, &death_cls);
	(void)gpuvm_ww_mutex_lock(&l, arg);
}

/* Old holds l1; young holds l2, dies on l1, then fails to back off. */
static void setup_deadlk(struct gpuvm_ww_mutex *l1, struct gpuvm_ww_mutex *l2,
			 struct gpuvm_ww_mutex *l3,
			 struct gpuvm_ww_acquire_ctx *old,
			 struct gpuvm_ww_acquire_ctx *young)
{
	gpuvm_ww_mutex_init(l1, &death_cls);
	gpuvm_ww_mutex_init(l2, &death_cls);
	gpuvm_ww_mutex_init(l3, &death_cls);
	gpuvm_ww_acquire_init(old, &death_cls);
	gpuvm_ww_acquire_init(young, &death_cls);
	(void)gpuvm_ww_mutex_lock(l1, old);
	(void)gpuvm_ww_mutex_lock(l2, young);
	if (gpuvm_ww_mutex_lock(l1, young) != -EDEADLK)
		_exit(3);
}

static void die_no_backoff(void *arg)
{
	struct gpuvm_ww_mutex l1, l2, l3;
	struct gpuvm_ww_acquire_ctx old, young;

	(void)arg;
	setup_deadlk(&l1, &l2, &l3, &old, &young);
	(void)gpuvm_ww_mutex_lock(&l3, &young);
}

static void die_slow_wrong_lock(void *arg)
{
	struct gpuvm_ww_mutex l1, l2, l3;
	struct gpuvm_ww_acquire_ctx old, young;

	(void)arg;
	setup_deadlk(&l1, &l2, &l3, &old, &young);
	gpuvm_ww_mutex_unlock(&l2);
	gpuvm_ww_mutex_lock_slow(&l3, &young);
}

static void die_other_lock_after_backoff(void *arg)
{
	struct gpuvm_ww_mutex l1, l2, l3;
	struct gpuvm_ww_acquire_ctx old, young;

	(void)arg;
	setup_deadlk(&l1, &l2, &l3, &old, &young);
	gpuvm_ww_mutex_unlock(&l2);
	(void)gpuvm_ww_mutex_lock(&l3, &young);
}

static void die_trylock_after_deadlk(void *arg)
{
	struct gpuvm_ww_mutex l1, l2, l3;
	struct gpuvm_ww_acquire_ctx old, young;

	(void)arg;
	setup_deadlk(&l1, &l2, &l3, &old, &young);
	gpuvm_ww_mutex_unlock(&l2);
	(void)gpuvm_ww_mutex_trylock(&l3, &young);
}

static void die_class_mismatch(void *arg)
{
	struct gpuvm_ww_class other;
	struct gpuvm_ww_mutex l;
	struct gpuvm_ww_acquire_ctx ctx;

	(void)arg;
	gpuvm_ww_class_init(&other, "other");
	gpuvm_ww_mutex_init(&l, &other);
	gpuvm_ww_acquire_init(&ctx, &death_cls);
	(void)gpuvm_ww_mutex_lock(&l, &ctx);
}

static void die_recursive_plain(void *arg)
{
	struct gpuvm_ww_mutex l;

	(void)arg;
	gpuvm_ww_mutex_init(&l, &death_cls);
	(void)gpuvm_ww_mutex_lock(&l, NULL);
	(void)gpuvm_ww_mutex_lock(&l, NULL);
}

static void die_assert_held(void *arg)
{
	struct gpuvm_ww_mutex l;

	(void)arg;
	gpuvm_ww_mutex_init(&l, &death_cls);
	gpuvm_ww_mutex_assert_held(&l);
}

static void die_fini_locked(void *arg)
{
	struct gpuvm_ww_mutex l;

	(void)arg;
	gpuvm_ww_mutex_init(&l, &death_cls);
	(void)gpuvm_ww_mutex_lock(&l, NULL);
	gpuvm_ww_mutex_fini(&l);
}

static void die_lock_after_fini(void *arg)
{
	struct gpuvm_ww_mutex l;
	struct gpuvm_ww_acquire_ctx ctx;

	(void)arg;
	gpuvm_ww_mutex_init(&l, &death_cls);
	gpuvm_ww_acquire_init(&ctx, &death_cls);
	gpuvm_ww_acquire_fini(&ctx);
	(void)gpuvm_ww_mutex_lock(&l, &ctx);
}

struct holder {
	struct gpuvm_ww_mutex *l;
	struct gpuvm_ww_acquire_ctx *ctx;
	pthread_barrier_t locked, release;
};

static void *ww_holder_thread(void *arg)
{
	struct holder *h = arg;

	assert_int_equal(gpuvm_ww_mutex_lock(h->l, NULL), 0);
	pthread_barrier_wait(&h->locked);
	pthread_barrier_wait(&h->release);
	gpuvm_ww_mutex_unlock(h->l);
	return NULL;
}

static void *ctx_init_thread(void *arg)
{
	struct holder *h = arg;

	gpuvm_ww_acquire_init(h->ctx, &death_cls);
	return NULL;
}

static void test_death(void **state)
{
	struct gpuvm_ww_mutex l;
	struct gpuvm_ww_acquire_ctx foreign;
	struct holder h = { .l = &l, .ctx = &foreign };
	pthread_t t;

	(void)state;
	TD_NEED_CHECKS();
	TD_EXPECT_DEATH(die_lock_after_done, NULL,
			"after gpuvm_ww_acquire_done()");
	TD_EXPECT_DEATH(die_fini_with_locks, NULL,
			"gpuvm_ww_acquire_fini(): acquire context");
	TD_EXPECT_DEATH(die_fini_with_locks, NULL, "still holds 1 lock(s)");
	TD_EXPECT_DEATH(die_slow_with_locks, NULL,
			"gpuvm_ww_mutex_lock_slow(): acquire context");
	TD_EXPECT_DEATH(die_slow_with_locks, NULL, "back off first");
	TD_EXPECT_DEATH(die_unlock_unlocked, NULL,
			"gpuvm_ww_mutex_unlock(): ww-mutex");
	TD_EXPECT_DEATH(die_no_backoff, NULL,
			"must release its locks before locking again");
	TD_EXPECT_DEATH(die_slow_wrong_lock, NULL,
			"is not the one that returned -EDEADLK");
	TD_EXPECT_DEATH(die_other_lock_after_backoff, NULL,
			"gpuvm_ww_mutex_lock(): ww-mutex");
	TD_EXPECT_DEATH(die_other_lock_after_backoff, NULL,
			"which must be locked first");
	TD_EXPECT_DEATH(die_trylock_after_deadlk, NULL,
			"must lock that ww-mutex");
	TD_EXPECT_DEATH(die_class_mismatch, NULL,
			"of class other locked with a context of class death");
	TD_EXPECT_DEATH(die_recursive_plain, NULL,
			"already held by this thread");
	TD_EXPECT_DEATH(die_assert_held, NULL, "gpuvm_ww_mutex_assert_held()");
	TD_EXPECT_DEATH(die_fini_locked, NULL,
			"gpuvm_ww_mutex_fini(): ww-mutex");
	TD_EXPECT_DEATH(die_lock_after_fini, NULL, "was finished");

	/* A context made by another thread. */
	assert_int_equal(pthread_create(&t, NULL, ctx_init_thread, &h), 0);
	pthread_join(t, NULL);
	TD_EXPECT_DEATH(die_ctx_other_thread, &foreign,
			"belongs to another thread");

	/* Unlock by a thread that is not the holder. */
	gpuvm_ww_mutex_init(&l, &death_cls);
	pthread_barrier_init(&h.locked, NULL, 2);
	pthread_barrier_init(&h.release, NULL, 2);
	assert_int_equal(pthread_create(&t, NULL, ww_holder_thread, &h), 0);
	pthread_barrier_wait(&h.locked);
	assert_true(gpuvm_ww_mutex_is_locked(&l));
	assert_false(gpuvm_ww_mutex_is_held(&l));
	TD_EXPECT_DEATH(die_unlock_other_owner, &l, "not held by this thread");
	pthread_barrier_wait(&h.release);
	pthread_join(t, NULL);
	pthread_barrier_destroy(&h.locked);
	pthread_barrier_destroy(&h.release);
	gpuvm_ww_mutex_fini(&l);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		TU_TEST(test_plain),
		TU_TEST(test_static_class),
		TU_TEST(test_ealready),
		TU_TEST(test_trylock_ctx),
		TU_TEST(test_edeadlk_and_backoff),
		TU_TEST(test_older_waits),
		TU_TEST(test_young_waiter_dies),
		TU_TEST(test_handoff_order),
		TU_TEST(test_death),
	};

	tu_init(argc, argv, 1, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
