// SPDX-License-Identifier: MIT
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
#include <pthread.h>
#include <time.h>

#include "testutil.h"
#include "death.h"

#include <gpuvm/ww_mutex.h>

#include "sync/sync_internal.h"

#define WW_FLAGS (GPUVM_WW_WAITERS | GPUVM_WW_HANDOFF)

static uintptr_t word(struct gpuvm_ww_mutex *lock)
{
	return atomic_load(&lock->state);
}

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

/*
 * Without contention the lock word goes from 0 to the holder's tag (the
 * context's address) and back, and the owner checks see the holder.
 */
static void test_fast_path(void **state)
{
	struct gpuvm_ww_class cls;
	struct gpuvm_ww_mutex l;
	struct gpuvm_ww_acquire_ctx ctx;
	uintptr_t plain;

	(void)state;
	gpuvm_ww_class_init(&cls, "test");
	gpuvm_ww_mutex_init(&l, &cls);
	gpuvm_ww_acquire_init(&ctx, &cls);
	assert_int_equal(word(&l), 0);

	assert_int_equal(gpuvm_ww_mutex_lock(&l, &ctx), 0);
	assert_int_equal(word(&l), (uintptr_t)&ctx);
	assert_true(gpuvm_ww_mutex_is_locked(&l));
	assert_true(gpuvm_ww_mutex_is_held(&l));
	gpuvm_ww_mutex_assert_held(&l);
	assert_int_equal(ctx.acquired, 1);
	/* -EALREADY and a failed trylock change nothing. */
	assert_int_equal(gpuvm_ww_mutex_lock(&l, &ctx), -EALREADY);
	assert_false(gpuvm_ww_mutex_trylock(&l, NULL));
	assert_false(gpuvm_ww_mutex_trylock(&l, &ctx));
	assert_int_equal(word(&l), (uintptr_t)&ctx);
	assert_int_equal(ctx.acquired, 1);
	gpuvm_ww_mutex_unlock(&l);
	assert_int_equal(word(&l), 0);
	assert_false(gpuvm_ww_mutex_is_locked(&l));
	assert_false(gpuvm_ww_mutex_is_held(&l));
	assert_int_equal(ctx.acquired, 0);

	/* A plain holder has a tag of its own, never a context's. */
	assert_int_equal(gpuvm_ww_mutex_lock(&l, NULL), 0);
	plain = word(&l);
	assert_int_not_equal(plain, 0);
	assert_int_equal(plain & WW_FLAGS, 0);
	assert_int_not_equal(plain, (uintptr_t)&ctx);
	assert_true(gpuvm_ww_mutex_is_held(&l));
	gpuvm_ww_mutex_assert_held(&l);
	assert_false(gpuvm_ww_mutex_trylock(&l, &ctx));
	assert_int_equal(ctx.acquired, 0);
	gpuvm_ww_mutex_unlock(&l);
	assert_int_equal(word(&l), 0);

	/* The trylock's fast path, with and without a context. */
	assert_true(gpuvm_ww_mutex_trylock(&l, &ctx));
	assert_int_equal(word(&l), (uintptr_t)&ctx);
	assert_int_equal(ctx.acquired, 1);
	assert_int_equal(gpuvm_ww_mutex_lock(&l, &ctx), -EALREADY);
	gpuvm_ww_mutex_unlock(&l);
	assert_true(gpuvm_ww_mutex_trylock(&l, NULL));
	assert_int_equal(word(&l), plain);
	gpuvm_ww_mutex_unlock(&l);
	assert_int_equal(word(&l), 0);
	assert_int_equal(ctx.acquired, 0);

	gpuvm_ww_acquire_fini(&ctx);
	gpuvm_ww_mutex_fini(&l);
}

/* A lock taken on the fast path by another thread: held, but not by us. */
struct fast_holder {
	struct gpuvm_ww_class *cls;
	struct gpuvm_ww_mutex *l;
	struct gpuvm_ww_acquire_ctx ctx;
	bool use_ctx;
	pthread_barrier_t locked, release;
};

static void *fast_holder_thread(void *arg)
{
	struct fast_holder *h = arg;

	gpuvm_ww_acquire_init(&h->ctx, h->cls);
	assert_int_equal(gpuvm_ww_mutex_lock(h->l, h->use_ctx ? &h->ctx : NULL),
			 0);
	gpuvm_ww_mutex_assert_held(h->l);
	pthread_barrier_wait(&h->locked);
	pthread_barrier_wait(&h->release);
	gpuvm_ww_mutex_unlock(h->l);
	gpuvm_ww_acquire_fini(&h->ctx);
	return NULL;
}

static void die_assert_held_foreign(void *arg)
{
	gpuvm_ww_mutex_assert_held(arg);
}

static void die_unlock_foreign(void *arg)
{
	gpuvm_ww_mutex_unlock(arg);
}

static void test_fast_path_other_thread(void **state)
{
	struct gpuvm_ww_class cls;
	struct gpuvm_ww_mutex l;
	struct gpuvm_ww_acquire_ctx ctx;
	struct fast_holder h;
	pthread_t t;
	int round;

	(void)state;
	gpuvm_ww_class_init(&cls, "test");
	gpuvm_ww_mutex_init(&l, &cls);
	for (round = 0; round < 2; round++) {
		memset(&h, 0, sizeof(h));
		h.cls = &cls;
		h.l = &l;
		h.use_ctx = round == 0;
		pthread_barrier_init(&h.locked, NULL, 2);
		pthread_barrier_init(&h.release, NULL, 2);
		assert_int_equal(
			pthread_create(&t, NULL, fast_holder_thread, &h), 0);
		pthread_barrier_wait(&h.locked);
		if (h.use_ctx)
			assert_int_equal(word(&l), (uintptr_t)&h.ctx);
		assert_true(gpuvm_ww_mutex_is_locked(&l));
		assert_false(gpuvm_ww_mutex_is_held(&l));
		assert_false(gpuvm_ww_mutex_trylock(&l, NULL));
		gpuvm_ww_acquire_init(&ctx, &cls);
		assert_false(gpuvm_ww_mutex_trylock(&l, &ctx));
		assert_int_equal(ctx.acquired, 0);
		gpuvm_ww_acquire_fini(&ctx);
		if (gpuvm_checks_enabled()) {
			TD_EXPECT_DEATH(die_assert_held_foreign, &l,
					"gpuvm_ww_mutex_assert_held(): "
					"ww-mutex");
			TD_EXPECT_DEATH(die_unlock_foreign, &l,
					"not held by this thread");
		}
		/* Nothing above queued or changed anything. */
		assert_int_equal(word(&l) & WW_FLAGS, 0);
		pthread_barrier_wait(&h.release);
		pthread_join(t, NULL);
		pthread_barrier_destroy(&h.locked);
		pthread_barrier_destroy(&h.release);
		assert_int_equal(word(&l), 0);
	}
	gpuvm_ww_mutex_fini(&l);
}

/*
 * A queued waiter sets the waiters flag, which sends the holder's unlock
 * down the slow path; the waiter gets the lock and the word ends free.
 */
struct one_waiter {
	struct gpuvm_ww_class *cls;
	struct gpuvm_ww_mutex *l;
	struct gpuvm_ww_acquire_ctx ctx;
	pthread_barrier_t ready, checked;
	atomic_uintptr_t seen;
};

static void *one_waiter_thread(void *arg)
{
	struct one_waiter *w = arg;

	gpuvm_ww_acquire_init(&w->ctx, w->cls);
	pthread_barrier_wait(&w->ready);
	assert_int_equal(gpuvm_ww_mutex_lock(w->l, &w->ctx), 0);
	assert_true(gpuvm_ww_mutex_is_held(w->l));
	gpuvm_ww_mutex_assert_held(w->l);
	assert_int_equal(w->ctx.acquired, 1);
	atomic_store(&w->seen, word(w->l));
	pthread_barrier_wait(&w->checked);
	gpuvm_ww_mutex_unlock(w->l);
	gpuvm_ww_acquire_fini(&w->ctx);
	return NULL;
}

static void one_waiter_start(struct one_waiter *w, struct gpuvm_ww_class *cls,
			     struct gpuvm_ww_mutex *l, pthread_t *t)
{
	memset(w, 0, sizeof(*w));
	w->cls = cls;
	w->l = l;
	pthread_barrier_init(&w->ready, NULL, 2);
	pthread_barrier_init(&w->checked, NULL, 2);
	assert_int_equal(pthread_create(t, NULL, one_waiter_thread, w), 0);
	pthread_barrier_wait(&w->ready);
}

static void one_waiter_finish(struct one_waiter *w, pthread_t t)
{
	pthread_barrier_wait(&w->checked);
	pthread_join(t, NULL);
	pthread_barrier_destroy(&w->ready);
	pthread_barrier_destroy(&w->checked);
	assert_int_equal(atomic_load(&w->seen) & ~WW_FLAGS, (uintptr_t)&w->ctx);
	assert_int_equal(word(w->l), 0);
}

static void test_waiter_flag(void **state)
{
	struct gpuvm_ww_class cls;
	struct gpuvm_ww_mutex l;
	struct gpuvm_ww_acquire_ctx ctx;
	struct one_waiter w;
	pthread_t t;

	(void)state;
	gpuvm_ww_class_init(&cls, "test");
	gpuvm_ww_mutex_init(&l, &cls);
	gpuvm_ww_acquire_init(&ctx, &cls);
	assert_int_equal(gpuvm_ww_mutex_lock(&l, &ctx), 0);
	one_waiter_start(&w, &cls, &l, &t);
	wait_for_waiters(&l, 1);
	assert_int_equal(word(&l), (uintptr_t)&ctx | GPUVM_WW_WAITERS);
	/* The holder still passes its checks. */
	assert_true(gpuvm_ww_mutex_is_held(&l));
	gpuvm_ww_mutex_assert_held(&l);
	assert_int_equal(gpuvm_ww_mutex_lock(&l, &ctx), -EALREADY);
	gpuvm_ww_mutex_unlock(&l);
	assert_int_equal(ctx.acquired, 0);
	assert_false(gpuvm_ww_mutex_is_held(&l));
	one_waiter_finish(&w, t);
	gpuvm_ww_acquire_fini(&ctx);
	gpuvm_ww_mutex_fini(&l);
}

/*
 * Hand-off: once the first waiter has been starving (the flag is set here
 * by hand, under the wait lock, as the waiter would), the unlock gives it
 * the lock: the word names the waiter before it even runs, and nobody can
 * take the lock meanwhile.
 */
static void test_handoff_grant(void **state)
{
	struct gpuvm_ww_class cls;
	struct gpuvm_ww_mutex l;
	struct one_waiter w;
	pthread_t t;

	(void)state;
	gpuvm_ww_class_init(&cls, "test");
	gpuvm_ww_mutex_init(&l, &cls);
	assert_int_equal(gpuvm_ww_mutex_lock(&l, NULL), 0);
	one_waiter_start(&w, &cls, &l, &t);
	wait_for_waiters(&l, 1);
	pthread_mutex_lock(&l.wait_lock);
	atomic_fetch_or(&l.state, GPUVM_WW_HANDOFF);
	pthread_mutex_unlock(&l.wait_lock);
	gpuvm_ww_mutex_unlock(&l);
	assert_int_equal(word(&l), (uintptr_t)&w.ctx);
	assert_true(gpuvm_ww_mutex_is_locked(&l));
	assert_false(gpuvm_ww_mutex_is_held(&l));
	assert_false(gpuvm_ww_mutex_trylock(&l, NULL));
	one_waiter_finish(&w, t);
	gpuvm_ww_mutex_fini(&l);
}

/*
 * Barging by an older context. A young context holding a lock waits for a
 * lock held without a context; the holder's release is forged so that the
 * lock is free with the waiter still asleep (as when the wake-up has not
 * reached it yet), and an older context takes the lock with a trylock. The
 * waiter now waits for an older holder: the trylock wakes it and it dies,
 * and as the last waiter it clears the flags.
 */
struct young_waiter {
	struct gpuvm_ww_class *cls;
	struct gpuvm_ww_mutex *l, m;
	pthread_barrier_t ready;
	atomic_int ret;
};

static void *young_waiter_main(void *arg)
{
	struct young_waiter *y = arg;
	struct gpuvm_ww_acquire_ctx ctx;
	int ret;

	pthread_barrier_wait(&y->ready); /* the older context exists */
	gpuvm_ww_acquire_init(&ctx, y->cls);
	assert_int_equal(gpuvm_ww_mutex_lock(&y->m, &ctx), 0);
	ret = gpuvm_ww_mutex_lock(y->l, &ctx);
	atomic_store(&y->ret, ret);
	if (ret == 0)
		gpuvm_ww_mutex_unlock(y->l);
	gpuvm_ww_mutex_unlock(&y->m);
	assert_int_equal(ctx.acquired, 0);
	gpuvm_ww_acquire_fini(&ctx);
	return NULL;
}

static void test_older_barger_kills(void **state)
{
	struct gpuvm_ww_class cls;
	struct gpuvm_ww_mutex l;
	struct gpuvm_ww_acquire_ctx old;
	struct young_waiter y;
	pthread_t t;

	(void)state;
	gpuvm_ww_class_init(&cls, "test");
	gpuvm_ww_mutex_init(&l, &cls);
	memset(&y, 0, sizeof(y));
	y.cls = &cls;
	y.l = &l;
	gpuvm_ww_mutex_init(&y.m, &cls);
	pthread_barrier_init(&y.ready, NULL, 2);
	atomic_init(&y.ret, 1);
	assert_int_equal(gpuvm_ww_mutex_lock(&l, NULL), 0);
	gpuvm_ww_acquire_init(&old, &cls);
	assert_int_equal(pthread_create(&t, NULL, young_waiter_main, &y), 0);
	pthread_barrier_wait(&y.ready);
	wait_for_waiters(&l, 1);
	assert_int_equal(word(&l) & WW_FLAGS, GPUVM_WW_WAITERS);

	/* The forged release: free, the waiter queued and not woken. */
	pthread_mutex_lock(&l.wait_lock);
	atomic_store(&l.owner, 0);
	atomic_store(&l.state, GPUVM_WW_WAITERS);
	pthread_mutex_unlock(&l.wait_lock);
	assert_false(gpuvm_ww_mutex_is_locked(&l));

	assert_true(gpuvm_ww_mutex_trylock(&l, &old));
	pthread_join(t, NULL);
	assert_int_equal(atomic_load(&y.ret), -EDEADLK);
	assert_int_equal(word(&l), (uintptr_t)&old);
	assert_true(gpuvm_ww_mutex_is_held(&l));
	gpuvm_ww_mutex_unlock(&l);
	assert_int_equal(word(&l), 0);
	assert_int_equal(old.acquired, 0);
	gpuvm_ww_acquire_fini(&old);
	pthread_barrier_destroy(&y.ready);
	gpuvm_ww_mutex_fini(&y.m);
	gpuvm_ww_mutex_fini(&l);
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
 * Wake-up order: an unlock wakes the first waiter only, so with nobody
 * barging the lock goes to the context waiters oldest first, whatever their
 * arrival order; none of them holds a lock, so none dies.
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
		TU_TEST(test_fast_path),
		TU_TEST(test_fast_path_other_thread),
		TU_TEST(test_older_waits),
		TU_TEST(test_young_waiter_dies),
		TU_TEST(test_handoff_order),
		TU_TEST(test_waiter_flag),
		TU_TEST(test_handoff_grant),
		TU_TEST(test_older_barger_kills),
		TU_TEST(test_death),
	};

	tu_init(argc, argv, 1, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
