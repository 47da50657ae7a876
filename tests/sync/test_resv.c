// SPDX-License-Identifier: MIT
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
#include <pthread.h>

#include "testutil.h"
#include "death.h"

#include <gpuvm/resv.h>

static struct gpuvm_fence *new_fence(uint64_t ctx, uint64_t seqno)
{
	struct gpuvm_fence *f = malloc(sizeof(*f));

	assert_non_null(f);
	gpuvm_fence_init(f, NULL, ctx, seqno);
	return f;
}

/* The test holds one reference; it frees the memory once that is the last. */
static void drop(struct gpuvm_fence *f)
{
	assert_int_equal(gpuvm_kref_read(&f->refcount), 1);
	gpuvm_fence_put(f);
	free(f);
}

static uint64_t total_allocs(void)
{
	struct gpuvm_alloc_stats st;

	gpuvm_alloc_get_stats(&st);
	return st.total_allocs;
}

static unsigned int refs(struct gpuvm_fence *f)
{
	return gpuvm_kref_read(&f->refcount);
}

/* Collects a usage's fences into @out; returns how many. */
static unsigned int collect(struct gpuvm_resv *resv,
			    enum gpuvm_resv_usage usage,
			    struct gpuvm_fence **out,
			    enum gpuvm_resv_usage *usages)
{
	struct gpuvm_resv_iter it;
	struct gpuvm_fence *f;
	unsigned int n = 0;

	gpuvm_resv_for_each_fence(&it, resv, usage, f)
	{
		out[n] = f;
		if (usages)
			usages[n] = gpuvm_resv_iter_usage(&it);
		n++;
	}
	return n;
}

static void test_lock_basics(void **state)
{
	struct gpuvm_resv resv;
	struct gpuvm_ww_acquire_ctx ctx;

	(void)state;
	gpuvm_resv_init(&resv);
	assert_false(gpuvm_resv_is_locked(&resv));
	assert_int_equal(gpuvm_resv_lock(&resv, NULL), 0);
	assert_true(gpuvm_resv_is_locked(&resv));
	assert_true(gpuvm_resv_is_held(&resv));
	gpuvm_resv_assert_held(&resv);
	assert_false(gpuvm_resv_trylock(&resv));
	gpuvm_resv_unlock(&resv);
	assert_false(gpuvm_resv_is_held(&resv));
	assert_true(gpuvm_resv_trylock(&resv));
	gpuvm_resv_unlock(&resv);

	gpuvm_ww_acquire_init(&ctx, gpuvm_reservation_ww_class());
	assert_int_equal(gpuvm_resv_lock(&resv, &ctx), 0);
	assert_int_equal(gpuvm_resv_lock(&resv, &ctx), -EALREADY);
	gpuvm_ww_acquire_done(&ctx);
	gpuvm_resv_unlock(&resv);
	gpuvm_ww_acquire_fini(&ctx);
	gpuvm_resv_fini(&resv);
}

static void test_usage_rw(void **state)
{
	(void)state;
	assert_int_equal(gpuvm_resv_usage_rw(true), GPUVM_RESV_USAGE_READ);
	assert_int_equal(gpuvm_resv_usage_rw(false), GPUVM_RESV_USAGE_WRITE);
}

static void test_add_and_iterate(void **state)
{
	struct gpuvm_resv resv;
	struct gpuvm_fence *k = new_fence(1, 1), *w = new_fence(2, 1),
			   *r = new_fence(3, 1), *b = new_fence(4, 1);
	struct gpuvm_fence *got[8];
	enum gpuvm_resv_usage u[8];

	(void)state;
	gpuvm_resv_init(&resv);
	assert_int_equal(gpuvm_resv_lock(&resv, NULL), 0);
	assert_int_equal(collect(&resv, GPUVM_RESV_USAGE_BOOKKEEP, got, u), 0);
	assert_int_equal(gpuvm_resv_reserve_fences(&resv, 4), 0);
	gpuvm_resv_add_fence(&resv, b, GPUVM_RESV_USAGE_BOOKKEEP);
	gpuvm_resv_add_fence(&resv, r, GPUVM_RESV_USAGE_READ);
	gpuvm_resv_add_fence(&resv, w, GPUVM_RESV_USAGE_WRITE);
	gpuvm_resv_add_fence(&resv, k, GPUVM_RESV_USAGE_KERNEL);
	assert_int_equal(resv.num_fences, 4);
	assert_int_equal(resv.num_reserved, 0);
	assert_int_equal(refs(k), 2);

	/* Each usage sees the fences with a smaller or equal usage. */
	assert_int_equal(collect(&resv, GPUVM_RESV_USAGE_KERNEL, got, u), 1);
	assert_ptr_equal(got[0], k);
	assert_int_equal(u[0], GPUVM_RESV_USAGE_KERNEL);
	assert_int_equal(collect(&resv, GPUVM_RESV_USAGE_WRITE, got, u), 2);
	assert_ptr_equal(got[0], w);
	assert_ptr_equal(got[1], k);
	assert_int_equal(collect(&resv, GPUVM_RESV_USAGE_READ, got, u), 3);
	assert_ptr_equal(got[0], r);
	assert_int_equal(u[0], GPUVM_RESV_USAGE_READ);
	assert_int_equal(collect(&resv, GPUVM_RESV_USAGE_BOOKKEEP, got, u), 4);
	assert_ptr_equal(got[0], b);
	assert_int_equal(u[0], GPUVM_RESV_USAGE_BOOKKEEP);

	/* Signalled fences are still listed by the locked iterator. */
	gpuvm_fence_signal(w);
	assert_int_equal(collect(&resv, GPUVM_RESV_USAGE_WRITE, got, u), 2);
	gpuvm_resv_unlock(&resv);
	gpuvm_resv_fini(&resv);
	drop(k);
	drop(w);
	drop(r);
	drop(b);
}

/* The kernel's rule: same timeline, usage >= the new one, later or same. */
static void test_replace_same_context(void **state)
{
	struct gpuvm_resv resv;
	struct gpuvm_fence *a1 = new_fence(7, 1), *a2 = new_fence(7, 2),
			   *a3 = new_fence(7, 3), *a0 = new_fence(7, 0);
	struct gpuvm_fence *got[8];
	enum gpuvm_resv_usage u[8];

	(void)state;
	gpuvm_resv_init(&resv);
	assert_int_equal(gpuvm_resv_lock(&resv, NULL), 0);
	assert_int_equal(gpuvm_resv_reserve_fences(&resv, 1), 0);
	gpuvm_resv_add_fence(&resv, a1, GPUVM_RESV_USAGE_READ);
	assert_int_equal(resv.num_reserved, 0);
	/* Later on the same timeline: replaces, needs no slot. */
	gpuvm_resv_add_fence(&resv, a2, GPUVM_RESV_USAGE_READ);
	assert_int_equal(resv.num_fences, 1);
	assert_int_equal(refs(a1), 1);
	/* The same fence again: replaces itself. */
	gpuvm_resv_add_fence(&resv, a2, GPUVM_RESV_USAGE_READ);
	assert_int_equal(refs(a2), 2);
	/* A stronger usage (WRITE < READ) replaces and takes the usage. */
	gpuvm_resv_add_fence(&resv, a3, GPUVM_RESV_USAGE_WRITE);
	assert_int_equal(resv.num_fences, 1);
	assert_int_equal(refs(a2), 1);
	assert_int_equal(collect(&resv, GPUVM_RESV_USAGE_WRITE, got, u), 1);
	assert_ptr_equal(got[0], a3);

	/* A weaker usage does not replace: it needs its own slot. */
	assert_int_equal(gpuvm_resv_reserve_fences(&resv, 2), 0);
	gpuvm_resv_add_fence(&resv, a3, GPUVM_RESV_USAGE_BOOKKEEP);
	assert_int_equal(resv.num_fences, 2);
	assert_int_equal(resv.num_reserved, 1);
	/* An earlier fence of the timeline does not replace either. */
	gpuvm_resv_add_fence(&resv, a0, GPUVM_RESV_USAGE_KERNEL);
	assert_int_equal(resv.num_fences, 3);
	assert_int_equal(collect(&resv, GPUVM_RESV_USAGE_KERNEL, got, u), 1);
	assert_ptr_equal(got[0], a0);
	gpuvm_resv_unlock(&resv);
	gpuvm_resv_fini(&resv);
	drop(a0);
	drop(a1);
	drop(a2);
	drop(a3);
}

static void test_replace_signalled(void **state)
{
	struct gpuvm_resv resv;
	struct gpuvm_fence *f1 = new_fence(1, 1), *f2 = new_fence(2, 1),
			   *f3 = new_fence(3, 1);
	struct gpuvm_fence *got[8];

	(void)state;
	gpuvm_resv_init(&resv);
	assert_int_equal(gpuvm_resv_lock(&resv, NULL), 0);
	assert_int_equal(gpuvm_resv_reserve_fences(&resv, 2), 0);
	gpuvm_resv_add_fence(&resv, f1, GPUVM_RESV_USAGE_WRITE);
	gpuvm_resv_add_fence(&resv, f2, GPUVM_RESV_USAGE_READ);
	gpuvm_resv_unlock(&resv);

	gpuvm_fence_signal(f1);
	assert_int_equal(gpuvm_resv_lock(&resv, NULL), 0);
	assert_int_equal(gpuvm_resv_reserve_fences(&resv, 1), 0);
	/* Takes the signalled entry's place; still consumes the slot. */
	gpuvm_resv_add_fence(&resv, f3, GPUVM_RESV_USAGE_BOOKKEEP);
	assert_int_equal(resv.num_fences, 2);
	assert_int_equal(resv.num_reserved, 0);
	assert_int_equal(refs(f1), 1);
	assert_int_equal(collect(&resv, GPUVM_RESV_USAGE_BOOKKEEP, got, NULL),
			 2);
	gpuvm_resv_unlock(&resv);
	gpuvm_resv_fini(&resv);
	drop(f1);
	drop(f2);
	drop(f3);
}

/*
 * The add walks the entries once: an entry of the same timeline wins over
 * a signalled entry met earlier (and needs no slot), and otherwise the
 * first signalled entry is the one replaced.
 */
static void test_replace_priority(void **state)
{
	struct gpuvm_resv resv;
	struct gpuvm_fence *s1 = new_fence(1, 1), *u2 = new_fence(2, 1),
			   *s3 = new_fence(3, 1), *t1 = new_fence(4, 1),
			   *t2 = new_fence(4, 2), *n5 = new_fence(5, 1);
	struct gpuvm_fence *got[8];

	(void)state;
	gpuvm_resv_init(&resv);
	assert_int_equal(gpuvm_resv_lock(&resv, NULL), 0);
	/* Room to spare: no growth (which would compact) below. */
	assert_int_equal(gpuvm_resv_reserve_fences(&resv, 8), 0);
	gpuvm_resv_add_fence(&resv, s1, GPUVM_RESV_USAGE_READ);
	gpuvm_resv_add_fence(&resv, u2, GPUVM_RESV_USAGE_READ);
	gpuvm_resv_add_fence(&resv, s3, GPUVM_RESV_USAGE_READ);
	gpuvm_resv_add_fence(&resv, t1, GPUVM_RESV_USAGE_READ);
	assert_int_equal(resv.num_fences, 4);
	assert_int_equal(resv.num_reserved, 4);
	gpuvm_fence_signal(s1);
	gpuvm_fence_signal(s3);

	/* The timeline's entry is last, behind two signalled ones. */
	gpuvm_resv_add_fence(&resv, t2, GPUVM_RESV_USAGE_READ);
	assert_int_equal(resv.num_fences, 4);
	assert_int_equal(resv.num_reserved, 4);
	assert_int_equal(refs(t1), 1);
	assert_int_equal(refs(s1), 2);
	assert_int_equal(refs(s3), 2);
	assert_int_equal(collect(&resv, GPUVM_RESV_USAGE_BOOKKEEP, got, NULL),
			 4);
	assert_ptr_equal(got[3], t2);

	/* A new timeline takes the first signalled entry and a slot. */
	gpuvm_resv_add_fence(&resv, n5, GPUVM_RESV_USAGE_WRITE);
	assert_int_equal(resv.num_fences, 4);
	assert_int_equal(resv.num_reserved, 3);
	assert_int_equal(refs(s1), 1);
	assert_int_equal(refs(s3), 2);
	assert_int_equal(collect(&resv, GPUVM_RESV_USAGE_BOOKKEEP, got, NULL),
			 4);
	assert_ptr_equal(got[0], n5);
	assert_ptr_equal(got[2], s3);
	gpuvm_resv_unlock(&resv);
	gpuvm_resv_fini(&resv);
	drop(s1);
	drop(u2);
	drop(s3);
	drop(t1);
	drop(t2);
	drop(n5);
}

static void test_reserve_policy(void **state)
{
	struct gpuvm_resv resv;
	uint64_t total;
	unsigned int max;

	(void)state;
	gpuvm_resv_init(&resv);
	assert_int_equal(gpuvm_resv_lock(&resv, NULL), 0);
	assert_int_equal(gpuvm_resv_reserve_fences(&resv, 0), 0);
	assert_int_equal(gpuvm_resv_reserve_fences(&resv, 2), 0);
	assert_int_equal(gpuvm_resv_reserve_fences(&resv, 1), 0);
	/* Reservations do not add up. */
	assert_int_equal(resv.num_reserved, 2);
	assert_true(resv.max_fences >= 2);
	max = resv.max_fences;
	gpuvm_resv_unlock(&resv);
	/* Unlock forgets the promise, keeps the storage. */
	assert_int_equal(resv.num_reserved, 0);
	assert_int_equal(resv.max_fences, max);

	total = total_allocs();
	assert_int_equal(gpuvm_resv_lock(&resv, NULL), 0);
	assert_int_equal(gpuvm_resv_reserve_fences(&resv, max), 0);
	assert_int_equal(total_allocs(), total);
	assert_int_equal(gpuvm_resv_reserve_fences(&resv, max + 1), 0);
	assert_int_equal(total_allocs(), total + 1);
	assert_true(resv.max_fences >= max + 1);
	gpuvm_resv_unlock(&resv);
	gpuvm_resv_fini(&resv);
}

/* Growing leaves the signalled fences behind. */
static void test_grow_compacts(void **state)
{
	struct gpuvm_resv resv;
	struct gpuvm_fence *f[4];
	unsigned int i, max;

	(void)state;
	gpuvm_resv_init(&resv);
	assert_int_equal(gpuvm_resv_lock(&resv, NULL), 0);
	assert_int_equal(gpuvm_resv_reserve_fences(&resv, 4), 0);
	max = resv.max_fences;
	for (i = 0; i < 4; i++) {
		f[i] = new_fence(10 + i, 1);
		gpuvm_resv_add_fence(&resv, f[i], GPUVM_RESV_USAGE_READ);
	}
	gpuvm_fence_signal(f[0]);
	gpuvm_fence_signal(f[2]);
	assert_int_equal(gpuvm_resv_reserve_fences(&resv, max), 0);
	assert_int_equal(resv.num_fences, 2);
	assert_int_equal(refs(f[0]), 1);
	assert_int_equal(refs(f[2]), 1);
	assert_int_equal(refs(f[1]), 2);
	assert_ptr_equal(resv.fences[0].fence, f[1]);
	assert_ptr_equal(resv.fences[1].fence, f[3]);
	gpuvm_resv_unlock(&resv);
	gpuvm_resv_fini(&resv);
	for (i = 0; i < 4; i++)
		drop(f[i]);
}

static void test_test_signaled(void **state)
{
	struct gpuvm_resv resv;
	struct gpuvm_fence *w = new_fence(1, 1), *r = new_fence(2, 1);

	(void)state;
	gpuvm_resv_init(&resv);
	assert_true(gpuvm_resv_test_signaled(&resv, GPUVM_RESV_USAGE_BOOKKEEP));
	assert_int_equal(gpuvm_resv_lock(&resv, NULL), 0);
	assert_int_equal(gpuvm_resv_reserve_fences(&resv, 2), 0);
	gpuvm_resv_add_fence(&resv, w, GPUVM_RESV_USAGE_WRITE);
	gpuvm_resv_add_fence(&resv, r, GPUVM_RESV_USAGE_READ);
	gpuvm_resv_unlock(&resv);

	assert_true(gpuvm_resv_test_signaled(&resv, GPUVM_RESV_USAGE_KERNEL));
	assert_false(gpuvm_resv_test_signaled(&resv, GPUVM_RESV_USAGE_WRITE));
	gpuvm_fence_signal(w);
	assert_true(gpuvm_resv_test_signaled(&resv, GPUVM_RESV_USAGE_WRITE));
	assert_false(gpuvm_resv_test_signaled(&resv, GPUVM_RESV_USAGE_READ));
	gpuvm_fence_signal_error(r, -EIO);
	assert_true(gpuvm_resv_test_signaled(&resv, GPUVM_RESV_USAGE_BOOKKEEP));
	gpuvm_resv_fini(&resv);
	drop(w);
	drop(r);
}

struct sig_arg {
	struct gpuvm_fence *f[2];
	pthread_barrier_t ready;
};

static void *signal_thread(void *arg)
{
	struct sig_arg *s = arg;

	pthread_barrier_wait(&s->ready);
	gpuvm_fence_signal(s->f[0]);
	gpuvm_fence_signal(s->f[1]);
	return NULL;
}

static void test_wait(void **state)
{
	struct gpuvm_resv resv;
	struct sig_arg s;
	pthread_t t;

	(void)state;
	gpuvm_resv_init(&resv);
	s.f[0] = new_fence(1, 1);
	s.f[1] = new_fence(2, 1);
	assert_int_equal(
		gpuvm_resv_wait_timeout(&resv, GPUVM_RESV_USAGE_BOOKKEEP, 0),
		0);
	assert_int_equal(gpuvm_resv_lock(&resv, NULL), 0);
	assert_int_equal(gpuvm_resv_reserve_fences(&resv, 2), 0);
	gpuvm_resv_add_fence(&resv, s.f[0], GPUVM_RESV_USAGE_WRITE);
	gpuvm_resv_add_fence(&resv, s.f[1], GPUVM_RESV_USAGE_READ);
	/* Waiting with the lock held works (it only delays others). */
	assert_int_equal(
		gpuvm_resv_wait_timeout(&resv, GPUVM_RESV_USAGE_WRITE, 0),
		-ETIME);
	assert_int_equal(
		gpuvm_resv_wait_timeout(&resv, GPUVM_RESV_USAGE_WRITE, 1000000),
		-ETIME);
	assert_int_equal(gpuvm_resv_wait_timeout(&resv, GPUVM_RESV_USAGE_KERNEL,
						 GPUVM_WAIT_FOREVER),
			 0);
	gpuvm_resv_unlock(&resv);

	pthread_barrier_init(&s.ready, NULL, 2);
	assert_int_equal(pthread_create(&t, NULL, signal_thread, &s), 0);
	pthread_barrier_wait(&s.ready);
	assert_int_equal(gpuvm_resv_wait_timeout(&resv,
						 GPUVM_RESV_USAGE_BOOKKEEP,
						 GPUVM_WAIT_FOREVER),
			 0);
	assert_true(gpuvm_fence_is_signaled(s.f[0]));
	assert_true(gpuvm_fence_is_signaled(s.f[1]));
	pthread_join(t, NULL);
	pthread_barrier_destroy(&s.ready);
	gpuvm_resv_fini(&resv);
	drop(s.f[0]);
	drop(s.f[1]);
}

static void test_get_fences(void **state)
{
	struct gpuvm_resv resv;
	struct gpuvm_fence *w = new_fence(1, 1), *r = new_fence(2, 1),
			   *k = new_fence(3, 1), **fs;
	unsigned int n;
	uint64_t live = tu_live_allocs();

	(void)state;
	gpuvm_resv_init(&resv);
	assert_int_equal(gpuvm_resv_get_fences(&resv, GPUVM_RESV_USAGE_BOOKKEEP,
					       &n, &fs),
			 0);
	assert_int_equal(n, 0);
	assert_null(fs);
	gpuvm_resv_fences_free(fs, n);

	assert_int_equal(gpuvm_resv_lock(&resv, NULL), 0);
	assert_int_equal(gpuvm_resv_reserve_fences(&resv, 3), 0);
	gpuvm_resv_add_fence(&resv, w, GPUVM_RESV_USAGE_WRITE);
	gpuvm_resv_add_fence(&resv, r, GPUVM_RESV_USAGE_READ);
	gpuvm_resv_add_fence(&resv, k, GPUVM_RESV_USAGE_KERNEL);
	gpuvm_resv_unlock(&resv);
	gpuvm_fence_signal(k);

	/* Unlocked; signalled fences are left out. */
	assert_int_equal(
		gpuvm_resv_get_fences(&resv, GPUVM_RESV_USAGE_WRITE, &n, &fs),
		0);
	assert_int_equal(n, 1);
	assert_ptr_equal(fs[0], w);
	assert_int_equal(refs(w), 3);
	gpuvm_resv_fences_free(fs, n);
	assert_int_equal(refs(w), 2);

	assert_int_equal(
		gpuvm_resv_get_fences(&resv, GPUVM_RESV_USAGE_READ, &n, &fs),
		0);
	assert_int_equal(n, 2);
	gpuvm_resv_fences_free(fs, n);

	/* Allocation failure: -ENOMEM, nothing returned or leaked. */
	gpuvm_alloc_fail_nth(1, false);
	assert_int_equal(
		gpuvm_resv_get_fences(&resv, GPUVM_RESV_USAGE_READ, &n, &fs),
		-ENOMEM);
	gpuvm_alloc_fail_nth(0, false);
	assert_int_equal(n, 0);
	assert_null(fs);
	assert_int_equal(refs(w), 2);

	gpuvm_resv_fini(&resv);
	assert_int_equal(tu_live_allocs(), live);
	drop(w);
	drop(r);
	drop(k);
}

/* Fail the Nth allocation of reserve_fences for every N. */
static void test_reserve_alloc_fail(void **state)
{
	struct gpuvm_resv resv;
	struct gpuvm_fence *f[3];
	struct gpuvm_resv_entry *fences;
	unsigned int i, num, max, failures = 0;
	uint64_t n, live;
	int ret;

	(void)state;
	gpuvm_resv_init(&resv);
	assert_int_equal(gpuvm_resv_lock(&resv, NULL), 0);
	assert_int_equal(gpuvm_resv_reserve_fences(&resv, 3), 0);
	for (i = 0; i < 3; i++) {
		f[i] = new_fence(20 + i, 1);
		gpuvm_resv_add_fence(&resv, f[i], GPUVM_RESV_USAGE_READ);
	}
	gpuvm_fence_signal(f[1]);
	assert_int_equal(gpuvm_resv_reserve_fences(&resv, 1), 0);
	fences = resv.fences;
	num = resv.num_fences;
	max = resv.max_fences;
	live = tu_live_allocs();

	for (n = 1;; n++) {
		bool pending;

		gpuvm_alloc_fail_nth(n, false);
		ret = gpuvm_resv_reserve_fences(&resv, max + 8);
		pending = gpuvm_alloc_fail_pending();
		gpuvm_alloc_fail_nth(0, false);
		if (ret == 0) {
			assert_true(pending);
			break;
		}
		assert_int_equal(ret, -ENOMEM);
		/* Unchanged: same storage, entries, promise, references. */
		assert_ptr_equal(resv.fences, fences);
		assert_int_equal(resv.num_fences, num);
		assert_int_equal(resv.max_fences, max);
		assert_int_equal(resv.num_reserved, 1);
		for (i = 0; i < 3; i++) {
			assert_ptr_equal(resv.fences[i].fence, f[i]);
			assert_int_equal(refs(f[i]), 2);
		}
		assert_int_equal(tu_live_allocs(), live);
		failures++;
	}
	assert_true(failures >= 1);
	assert_int_equal(resv.num_reserved, max + 8);
	assert_int_equal(resv.num_fences, 2); /* f[1] left behind */
	assert_int_equal(refs(f[1]), 1);
	gpuvm_resv_unlock(&resv);
	gpuvm_resv_fini(&resv);
	for (i = 0; i < 3; i++)
		drop(f[i]);
}

/* A multi-reservation transaction with the back-off loop, on one thread. */
static void test_two_contexts_backoff(void **state)
{
	struct gpuvm_resv a, b;
	struct gpuvm_ww_acquire_ctx old, young;

	(void)state;
	gpuvm_resv_init(&a);
	gpuvm_resv_init(&b);
	gpuvm_ww_acquire_init(&old, gpuvm_reservation_ww_class());
	gpuvm_ww_acquire_init(&young, gpuvm_reservation_ww_class());
	assert_int_equal(gpuvm_resv_lock(&a, &old), 0);
	assert_int_equal(gpuvm_resv_lock(&b, &young), 0);
	assert_int_equal(gpuvm_resv_lock(&a, &young), -EDEADLK);
	gpuvm_resv_unlock(&b);
	gpuvm_resv_unlock(&a);
	gpuvm_resv_lock_slow(&a, &young);
	assert_int_equal(gpuvm_resv_lock(&b, &young), 0);
	gpuvm_ww_acquire_done(&young);
	gpuvm_resv_unlock(&a);
	gpuvm_resv_unlock(&b);
	gpuvm_ww_acquire_fini(&young);
	gpuvm_ww_acquire_fini(&old);
	gpuvm_resv_fini(&a);
	gpuvm_resv_fini(&b);
}

/* ------------------------------------------------------------------ */
/* Death tests.                                                          */

static void die_add_unreserved(void *arg)
{
	struct gpuvm_resv resv;

	gpuvm_resv_init(&resv);
	(void)gpuvm_resv_lock(&resv, NULL);
	gpuvm_resv_add_fence(&resv, arg, GPUVM_RESV_USAGE_WRITE);
}

static void die_add_after_relock(void *arg)
{
	struct gpuvm_resv resv;

	gpuvm_resv_init(&resv);
	(void)gpuvm_resv_lock(&resv, NULL);
	(void)gpuvm_resv_reserve_fences(&resv, 4);
	gpuvm_resv_unlock(&resv);
	(void)gpuvm_resv_lock(&resv, NULL);
	/* Room exists, but the promise ended with the unlock. */
	gpuvm_resv_add_fence(&resv, arg, GPUVM_RESV_USAGE_WRITE);
}

static void die_add_beyond_reserved(void *arg)
{
	struct gpuvm_resv resv;
	struct gpuvm_fence other;

	gpuvm_fence_init(&other, NULL, 999, 1);
	gpuvm_resv_init(&resv);
	(void)gpuvm_resv_lock(&resv, NULL);
	(void)gpuvm_resv_reserve_fences(&resv, 1);
	gpuvm_resv_add_fence(&resv, &other, GPUVM_RESV_USAGE_WRITE);
	gpuvm_resv_add_fence(&resv, arg, GPUVM_RESV_USAGE_WRITE);
}

static void die_add_unlocked(void *arg)
{
	struct gpuvm_resv resv;

	gpuvm_resv_init(&resv);
	gpuvm_resv_add_fence(&resv, arg, GPUVM_RESV_USAGE_WRITE);
}

static void die_reserve_unlocked(void *arg)
{
	struct gpuvm_resv resv;

	(void)arg;
	gpuvm_resv_init(&resv);
	(void)gpuvm_resv_reserve_fences(&resv, 1);
}

static void die_iter_unlocked(void *arg)
{
	struct gpuvm_resv resv;
	struct gpuvm_resv_iter it;

	(void)arg;
	gpuvm_resv_init(&resv);
	(void)gpuvm_resv_iter_first(&it, &resv, GPUVM_RESV_USAGE_READ);
}

static void die_fini_locked(void *arg)
{
	struct gpuvm_resv resv;

	(void)arg;
	gpuvm_resv_init(&resv);
	(void)gpuvm_resv_lock(&resv, NULL);
	gpuvm_resv_fini(&resv);
}

static void die_assert_held(void *arg)
{
	struct gpuvm_resv resv;

	(void)arg;
	gpuvm_resv_init(&resv);
	gpuvm_resv_assert_held(&resv);
}

static void die_wrong_class(void *arg)
{
	struct gpuvm_resv resv;
	struct gpuvm_ww_class cls;
	struct gpuvm_ww_acquire_ctx ctx;

	(void)arg;
	gpuvm_ww_class_init(&cls, "not-reservation");
	gpuvm_resv_init(&resv);
	gpuvm_ww_acquire_init(&ctx, &cls);
	(void)gpuvm_resv_lock(&resv, &ctx);
}

static void test_death(void **state)
{
	struct gpuvm_fence *f = new_fence(1, 1);

	(void)state;
	if (!gpuvm_checks_enabled()) {
		drop(f);
		skip();
	}
	TD_EXPECT_DEATH(die_add_unreserved, f,
			"gpuvm_resv_add_fence(): no fence slot reserved");
	TD_EXPECT_DEATH(die_add_after_relock, f, "no fence slot reserved");
	TD_EXPECT_DEATH(die_add_beyond_reserved, f, "no fence slot reserved");
	TD_EXPECT_DEATH(die_add_unlocked, f,
			"gpuvm_resv_add_fence(): reservation");
	TD_EXPECT_DEATH(die_add_unlocked, f, "is not locked by this thread");
	TD_EXPECT_DEATH(die_reserve_unlocked, NULL,
			"gpuvm_resv_reserve_fences(): reservation");
	TD_EXPECT_DEATH(die_iter_unlocked, NULL, "gpuvm_resv_iter_first()");
	TD_EXPECT_DEATH(die_fini_locked, NULL, "gpuvm_resv_fini(): ");
	TD_EXPECT_DEATH(die_assert_held, NULL, "gpuvm_resv_assert_held()");
	TD_EXPECT_DEATH(die_wrong_class, NULL, "gpuvm_resv_lock(): ww-mutex");
	TD_EXPECT_DEATH(die_wrong_class, NULL,
			"class reservation_ww_class locked with a context of "
			"class not-reservation");
	drop(f);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		TU_TEST(test_lock_basics),
		TU_TEST(test_usage_rw),
		TU_TEST(test_add_and_iterate),
		TU_TEST(test_replace_same_context),
		TU_TEST(test_replace_signalled),
		TU_TEST(test_replace_priority),
		TU_TEST(test_reserve_policy),
		TU_TEST(test_grow_compacts),
		TU_TEST(test_test_signaled),
		TU_TEST(test_wait),
		TU_TEST(test_get_fences),
		TU_TEST(test_reserve_alloc_fail),
		TU_TEST(test_two_contexts_backoff),
		TU_TEST(test_death),
	};

	tu_init(argc, argv, 1, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
