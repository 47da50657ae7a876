// SPDX-License-Identifier: MIT
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
#include <pthread.h>

#include "testutil.h"

#include <gpuvm/fence.h>

/* ------------------------------------------------------------------ */
/* A test fence that counts its releases.                              */

struct tfence {
	struct gpuvm_fence base;
	unsigned int released;
};

static const char *tf_name(struct gpuvm_fence *f)
{
	(void)f;
	return "test-timeline";
}

static void tf_release(struct gpuvm_fence *f)
{
	gpuvm_container_of(f, struct tfence, base)->released++;
}

static const struct gpuvm_fence_ops tf_ops = {
	.get_name = tf_name,
	.release = tf_release,
};

static void tf_init(struct tfence *t, uint64_t ctx, uint64_t seqno)
{
	memset(t, 0, sizeof(*t));
	gpuvm_fence_init(&t->base, &tf_ops, ctx, seqno);
}

/* A callback that records how often and in which order it ran. */
struct tcb {
	struct gpuvm_fence_cb cb;
	unsigned int calls;
	int status;
	int *log;
	int *log_len;
	int id;
};

static void tcb_func(struct gpuvm_fence *f, struct gpuvm_fence_cb *cb)
{
	struct tcb *t = gpuvm_container_of(cb, struct tcb, cb);

	t->calls++;
	t->status = gpuvm_fence_get_status(f);
	if (t->log)
		t->log[(*t->log_len)++] = t->id;
}

/* ------------------------------------------------------------------ */

static void test_context_alloc(void **state)
{
	uint64_t a, b, c;

	(void)state;
	a = gpuvm_fence_context_alloc(1);
	b = gpuvm_fence_context_alloc(3);
	c = gpuvm_fence_context_alloc(1);
	assert_true(a >= 1);
	assert_int_equal(b, a + 1);
	assert_int_equal(c, b + 3);
	assert_int_equal(gpuvm_fence_context_alloc(0), 0);
}

static void test_signal_status(void **state)
{
	struct tfence t;
	struct gpuvm_fence *f = &t.base;

	(void)state;
	tf_init(&t, gpuvm_fence_context_alloc(1), 7);
	assert_string_equal(gpuvm_fence_get_name(f), "test-timeline");
	assert_false(gpuvm_fence_is_signaled(f));
	assert_int_equal(gpuvm_fence_get_status(f), 0);
	assert_int_equal(gpuvm_fence_signal(f), 0);
	assert_true(gpuvm_fence_is_signaled(f));
	assert_int_equal(gpuvm_fence_get_status(f), 1);
	/* Once only, as the kernel. */
	assert_int_equal(gpuvm_fence_signal(f), -EINVAL);
	assert_int_equal(gpuvm_fence_signal_error(f, -EIO), -EINVAL);
	assert_int_equal(gpuvm_fence_get_status(f), 1);
	gpuvm_fence_put(f);
	assert_int_equal(t.released, 1);
}

static void test_signal_error(void **state)
{
	struct tfence t;
	struct gpuvm_fence *f = &t.base;

	(void)state;
	tf_init(&t, 1, 1);
	assert_int_equal(gpuvm_fence_signal_error(f, 0), -EINVAL);
	assert_int_equal(gpuvm_fence_signal_error(f, 5), -EINVAL);
	assert_false(gpuvm_fence_is_signaled(f));
	assert_int_equal(gpuvm_fence_signal_error(f, -EIO), 0);
	assert_true(gpuvm_fence_is_signaled(f));
	assert_int_equal(gpuvm_fence_get_status(f), -EIO);
	assert_int_equal(gpuvm_fence_signal(f), -EINVAL);
	assert_int_equal(gpuvm_fence_get_status(f), -EIO);
	/* A wait reports signalled; the error is in the status. */
	assert_int_equal(gpuvm_fence_wait_timeout(f, GPUVM_WAIT_FOREVER), 0);
	gpuvm_fence_put(f);
}

static void test_refcount(void **state)
{
	struct tfence t;
	struct gpuvm_fence plain;

	(void)state;
	tf_init(&t, 1, 1);
	assert_ptr_equal(gpuvm_fence_get(&t.base), &t.base);
	gpuvm_fence_put(&t.base);
	assert_int_equal(t.released, 0);
	gpuvm_fence_put(&t.base);
	assert_int_equal(t.released, 1);

	/* No ops: the user owns the memory; nothing is called. */
	gpuvm_fence_init(&plain, NULL, 1, 1);
	assert_string_equal(gpuvm_fence_get_name(&plain), "unnamed");
	gpuvm_fence_put(&plain);

	assert_null(gpuvm_fence_get(NULL));
	gpuvm_fence_put(NULL);
}

static void test_callbacks(void **state)
{
	struct tfence t;
	struct tcb cb[4], late;
	int log[8], len = 0, i;

	(void)state;
	tf_init(&t, 1, 1);
	memset(cb, 0, sizeof(cb));
	for (i = 0; i < 4; i++) {
		cb[i].log = log;
		cb[i].log_len = &len;
		cb[i].id = i;
		assert_int_equal(
			gpuvm_fence_add_callback(&t.base, &cb[i].cb, tcb_func),
			0);
	}
	assert_int_equal(gpuvm_fence_add_callback(&t.base, &late.cb, NULL),
			 -EINVAL);
	/* Removed while pending: never runs. */
	assert_true(gpuvm_fence_remove_callback(&t.base, &cb[2].cb));
	assert_false(gpuvm_fence_remove_callback(&t.base, &cb[2].cb));
	for (i = 0; i < 4; i++)
		assert_int_equal(cb[i].calls, 0);

	assert_int_equal(gpuvm_fence_signal_error(&t.base, -EIO), 0);
	assert_int_equal(len, 3);
	assert_int_equal(log[0], 0);
	assert_int_equal(log[1], 1);
	assert_int_equal(log[2], 3);
	for (i = 0; i < 4; i++) {
		assert_int_equal(cb[i].calls, i == 2 ? 0 : 1);
		if (i != 2)
			assert_int_equal(cb[i].status, -EIO);
	}
	/* After the signal: removal reports "already ran". */
	assert_false(gpuvm_fence_remove_callback(&t.base, &cb[0].cb));

	/* Too late to add: -ENOENT, and the function is not called. */
	memset(&late, 0, sizeof(late));
	assert_int_equal(gpuvm_fence_add_callback(&t.base, &late.cb, tcb_func),
			 -ENOENT);
	assert_int_equal(late.calls, 0);
	assert_false(gpuvm_fence_remove_callback(&t.base, &late.cb));
	assert_int_equal(gpuvm_fence_signal(&t.base), -EINVAL);
	for (i = 0; i < 4; i++)
		assert_int_equal(cb[i].calls, i == 2 ? 0 : 1);
	gpuvm_fence_put(&t.base);
}

/* ------------------------------------------------------------------ */
/* What callbacks may do: they run outside the fence's lock.            */

struct chain {
	struct gpuvm_fence_cb cb;
	struct gpuvm_fence *next;
};

static void chain_func(struct gpuvm_fence *f, struct gpuvm_fence_cb *cb)
{
	struct chain *c = gpuvm_container_of(cb, struct chain, cb);
	int status = gpuvm_fence_get_status(f);

	if (status < 0)
		assert_int_equal(gpuvm_fence_signal_error(c->next, status), 0);
	else
		assert_int_equal(gpuvm_fence_signal(c->next), 0);
}

struct self_free {
	struct gpuvm_fence_cb cb;
	unsigned int *calls;
};

static void self_free_func(struct gpuvm_fence *f, struct gpuvm_fence_cb *cb)
{
	struct self_free *s = gpuvm_container_of(cb, struct self_free, cb);

	(void)f;
	(*s->calls)++;
	free(s);
}

struct remover {
	struct gpuvm_fence_cb cb;
	struct gpuvm_fence_cb *victim;
	bool removed;
	struct tcb *adder;
	struct gpuvm_fence *other;
	int add_ret;
};

static void remover_func(struct gpuvm_fence *f, struct gpuvm_fence_cb *cb)
{
	struct remover *r = gpuvm_container_of(cb, struct remover, cb);

	/* From inside the same fence's callbacks: must not wait for itself. */
	r->removed = gpuvm_fence_remove_callback(f, r->victim);
	r->add_ret =
		gpuvm_fence_add_callback(r->other, &r->adder->cb, tcb_func);
	/* Drops the last reference of another fence. */
	gpuvm_fence_put(r->other);
}

static void test_callback_reentrancy(void **state)
{
	struct tfence a, b, c, o;
	struct chain ab, bc;
	struct tcb end, victim, added;
	struct remover rem;
	struct self_free *sf = malloc(sizeof(*sf));
	unsigned int sf_calls = 0;

	(void)state;
	assert_non_null(sf);
	tf_init(&a, 1, 1);
	tf_init(&b, 2, 1);
	tf_init(&c, 3, 1);
	tf_init(&o, 4, 1);
	memset(&end, 0, sizeof(end));
	memset(&victim, 0, sizeof(victim));
	memset(&added, 0, sizeof(added));

	/* a -> b -> c: signalling a signals the others from callbacks. */
	ab.next = &b.base;
	bc.next = &c.base;
	assert_int_equal(gpuvm_fence_add_callback(&a.base, &ab.cb, chain_func),
			 0);
	assert_int_equal(gpuvm_fence_add_callback(&b.base, &bc.cb, chain_func),
			 0);
	assert_int_equal(gpuvm_fence_add_callback(&c.base, &end.cb, tcb_func),
			 0);
	sf->calls = &sf_calls;
	assert_int_equal(
		gpuvm_fence_add_callback(&a.base, &sf->cb, self_free_func), 0);

	rem.victim = &victim.cb;
	rem.adder = &added;
	rem.other = &o.base;
	assert_int_equal(
		gpuvm_fence_add_callback(&a.base, &rem.cb, remover_func), 0);
	assert_int_equal(
		gpuvm_fence_add_callback(&a.base, &victim.cb, tcb_func), 0);

	assert_int_equal(gpuvm_fence_signal_error(&a.base, -ECANCELED), 0);
	assert_true(gpuvm_fence_is_signaled(&b.base));
	assert_true(gpuvm_fence_is_signaled(&c.base));
	assert_int_equal(gpuvm_fence_get_status(&c.base), -ECANCELED);
	assert_int_equal(end.calls, 1);
	assert_int_equal(end.status, -ECANCELED);
	assert_int_equal(sf_calls, 1);
	/* The victim was already detached: it ran, after the remover. */
	assert_false(rem.removed);
	assert_int_equal(victim.calls, 1);
	assert_int_equal(rem.add_ret, 0);
	assert_int_equal(o.released, 1);
	assert_int_equal(added.calls, 1);
	assert_int_equal(added.status, -EDEADLK);

	gpuvm_fence_put(&a.base);
	gpuvm_fence_put(&b.base);
	gpuvm_fence_put(&c.base);
	assert_int_equal(a.released + b.released + c.released, 3);
	/* o was released with a callback pending: a warning, and a call. */
	tu_expect_warnings(1);
}

static void test_release_with_callbacks(void **state)
{
	struct tfence t;
	struct tcb cb;

	(void)state;
	tf_init(&t, 1, 1);
	memset(&cb, 0, sizeof(cb));
	assert_int_equal(gpuvm_fence_add_callback(&t.base, &cb.cb, tcb_func),
			 0);
	gpuvm_fence_put(&t.base);
	tu_expect_warnings(1);
	assert_int_equal(cb.calls, 1);
	assert_int_equal(cb.status, -EDEADLK);
	assert_int_equal(t.released, 1);
}

/* ------------------------------------------------------------------ */
/* Waiting.                                                              */

struct waiter_arg {
	struct gpuvm_fence *f;
	int64_t timeout;
	int ret;
	pthread_barrier_t *ready;
};

static void *waiter_thread(void *arg)
{
	struct waiter_arg *w = arg;

	if (w->ready)
		pthread_barrier_wait(w->ready);
	w->ret = gpuvm_fence_wait_timeout(w->f, w->timeout);
	return NULL;
}

static void *signaller_thread(void *arg)
{
	struct waiter_arg *w = arg;

	pthread_barrier_wait(w->ready);
	w->ret = gpuvm_fence_signal(w->f);
	return NULL;
}

static void test_wait(void **state)
{
	struct tfence t;
	struct waiter_arg w[3];
	pthread_barrier_t ready;
	pthread_t th[3];
	int i;

	(void)state;
	tf_init(&t, 1, 1);
	assert_int_equal(gpuvm_fence_wait_timeout(&t.base, 0), -ETIME);
	assert_int_equal(gpuvm_fence_wait_timeout(&t.base, 1000), -ETIME);
	assert_int_equal(gpuvm_fence_wait_timeout(&t.base, 2000000), -ETIME);

	/* Three waiters (forever, long, short) and the main thread signals. */
	pthread_barrier_init(&ready, NULL, 4);
	w[0] = (struct waiter_arg){ &t.base, GPUVM_WAIT_FOREVER, 1, &ready };
	w[1] = (struct waiter_arg){ &t.base, INT64_MAX, 1, &ready };
	w[2] = (struct waiter_arg){ &t.base, 1000, 1, &ready };
	for (i = 0; i < 3; i++)
		assert_int_equal(
			pthread_create(&th[i], NULL, waiter_thread, &w[i]), 0);
	pthread_barrier_wait(&ready);
	assert_int_equal(gpuvm_fence_signal(&t.base), 0);
	for (i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(w[0].ret, 0);
	assert_int_equal(w[1].ret, 0);
	/* The short one may have timed out first; either answer is valid. */
	assert_true(w[2].ret == 0 || w[2].ret == -ETIME);
	assert_int_equal(gpuvm_fence_wait_timeout(&t.base, 0), 0);
	pthread_barrier_destroy(&ready);
	gpuvm_fence_put(&t.base);

	/* The main thread waits forever; another thread signals. */
	tf_init(&t, 1, 2);
	pthread_barrier_init(&ready, NULL, 2);
	w[0] = (struct waiter_arg){ &t.base, 0, 1, &ready };
	assert_int_equal(pthread_create(&th[0], NULL, signaller_thread, &w[0]),
			 0);
	pthread_barrier_wait(&ready);
	assert_int_equal(gpuvm_fence_wait_timeout(&t.base, GPUVM_WAIT_FOREVER),
			 0);
	pthread_join(th[0], NULL);
	assert_int_equal(w[0].ret, 0);
	pthread_barrier_destroy(&ready);
	gpuvm_fence_put(&t.base);
}

static void test_is_later(void **state)
{
	struct gpuvm_fence a, b, c;

	(void)state;
	gpuvm_fence_init(&a, NULL, 5, 1);
	gpuvm_fence_init(&b, NULL, 5, 2);
	gpuvm_fence_init(&c, NULL, 6, 3);
	assert_true(gpuvm_fence_is_later(&b, &a));
	assert_false(gpuvm_fence_is_later(&a, &b));
	assert_false(gpuvm_fence_is_later(&a, &a));
	assert_true(gpuvm_fence_is_later_or_same(&a, &a));
	assert_true(gpuvm_fence_is_later_or_same(&b, &a));
	assert_false(gpuvm_fence_is_later_or_same(&a, &b));
	/* Different timelines are not ordered. */
	assert_false(gpuvm_fence_is_later(&c, &a));
	assert_false(gpuvm_fence_is_later_or_same(&c, &a));
	/* 64-bit seqnos, no wrap-around. */
	b.seqno = UINT64_MAX;
	assert_true(gpuvm_fence_is_later(&b, &a));
	assert_false(gpuvm_fence_is_later(&a, &b));
	gpuvm_fence_put(&a);
	gpuvm_fence_put(&b);
	gpuvm_fence_put(&c);
}

/* ------------------------------------------------------------------ */
/* Array fences.                                                         */

static struct gpuvm_fence *make_array(struct tfence *t, unsigned int n,
				      bool any)
{
	struct gpuvm_fence *fs[8], *out = NULL;
	unsigned int i;

	assert_true(n <= 8);
	for (i = 0; i < n; i++)
		fs[i] = &t[i].base;
	assert_int_equal(gpuvm_fence_array_create(fs, n, 99, 1, any, &out), 0);
	assert_non_null(out);
	assert_true(gpuvm_fence_is_array(out));
	assert_false(gpuvm_fence_is_array(fs[0]));
	return out;
}

static void init_n(struct tfence *t, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		tf_init(&t[i], 10 + i, 1);
}

static void put_n(struct tfence *t, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		gpuvm_fence_put(&t[i].base);
		assert_int_equal(t[i].released, 1);
	}
}

static void test_array_all(void **state)
{
	struct tfence t[3];
	struct gpuvm_fence *arr;
	struct tcb cb;

	(void)state;
	init_n(t, 3);
	arr = make_array(t, 3, false);
	assert_string_equal(gpuvm_fence_get_name(arr), "array");
	memset(&cb, 0, sizeof(cb));
	assert_int_equal(gpuvm_fence_add_callback(arr, &cb.cb, tcb_func), 0);
	assert_int_equal(gpuvm_fence_signal(&t[1].base), 0);
	assert_int_equal(gpuvm_fence_signal(&t[0].base), 0);
	assert_false(gpuvm_fence_is_signaled(arr));
	assert_int_equal(gpuvm_fence_wait_timeout(arr, 1000), -ETIME);
	assert_int_equal(gpuvm_fence_signal(&t[2].base), 0);
	assert_true(gpuvm_fence_is_signaled(arr));
	assert_int_equal(gpuvm_fence_get_status(arr), 1);
	assert_int_equal(cb.calls, 1);
	assert_int_equal(cb.status, 1);
	/* The array holds component references until it goes. */
	gpuvm_fence_put(&t[0].base);
	assert_int_equal(t[0].released, 0);
	gpuvm_fence_put(arr);
	assert_int_equal(t[0].released, 1);
	put_n(t + 1, 2);
}

static void test_array_any(void **state)
{
	struct tfence t[3];
	struct gpuvm_fence *arr;

	(void)state;
	init_n(t, 3);
	arr = make_array(t, 3, true);
	assert_false(gpuvm_fence_is_signaled(arr));
	assert_int_equal(gpuvm_fence_signal(&t[2].base), 0);
	assert_true(gpuvm_fence_is_signaled(arr));
	assert_int_equal(gpuvm_fence_get_status(arr), 1);
	/* Later components change nothing. */
	assert_int_equal(gpuvm_fence_signal_error(&t[0].base, -EIO), 0);
	assert_int_equal(gpuvm_fence_get_status(arr), 1);
	gpuvm_fence_put(arr);
	/* t[1] never signalled: its callback still holds the array. */
	assert_int_equal(gpuvm_fence_signal(&t[1].base), 0);
	put_n(t, 3);
}

static void test_array_errors(void **state)
{
	struct tfence t[3];
	struct gpuvm_fence *arr;

	(void)state;
	/* All: the first error reported wins, the array waits for all. */
	init_n(t, 3);
	arr = make_array(t, 3, false);
	assert_int_equal(gpuvm_fence_signal(&t[0].base), 0);
	assert_int_equal(gpuvm_fence_signal_error(&t[2].base, -EIO), 0);
	assert_false(gpuvm_fence_is_signaled(arr));
	assert_int_equal(gpuvm_fence_signal_error(&t[1].base, -ENOMEM), 0);
	assert_int_equal(gpuvm_fence_get_status(arr), -EIO);
	gpuvm_fence_put(arr);
	put_n(t, 3);

	/* Any: the first component's error is the array's. */
	init_n(t, 2);
	arr = make_array(t, 2, true);
	assert_int_equal(gpuvm_fence_signal_error(&t[1].base, -EPIPE), 0);
	assert_int_equal(gpuvm_fence_get_status(arr), -EPIPE);
	assert_int_equal(gpuvm_fence_signal(&t[0].base), 0);
	gpuvm_fence_put(arr);
	put_n(t, 2);
}

static void test_array_presignalled(void **state)
{
	struct tfence t[3];
	struct gpuvm_fence *arr;

	(void)state;
	init_n(t, 3);
	gpuvm_fence_signal(&t[0].base);
	gpuvm_fence_signal_error(&t[1].base, -EIO);
	gpuvm_fence_signal(&t[2].base);
	arr = make_array(t, 3, false);
	assert_true(gpuvm_fence_is_signaled(arr));
	assert_int_equal(gpuvm_fence_get_status(arr), -EIO);
	gpuvm_fence_put(arr);
	put_n(t, 3);

	init_n(t, 3);
	gpuvm_fence_signal(&t[1].base);
	arr = make_array(t, 3, true);
	assert_true(gpuvm_fence_is_signaled(arr));
	assert_int_equal(gpuvm_fence_get_status(arr), 1);
	gpuvm_fence_put(arr);
	/* t[0]'s callback, registered first, holds the array until it runs. */
	assert_int_equal(gpuvm_kref_read(&t[0].base.refcount), 2);
	assert_int_equal(gpuvm_kref_read(&t[2].base.refcount), 2);
	gpuvm_fence_signal(&t[0].base);
	assert_int_equal(gpuvm_kref_read(&t[2].base.refcount), 1);
	put_n(t, 3);

	init_n(t, 3);
	gpuvm_fence_signal(&t[1].base);
	arr = make_array(t, 3, false);
	assert_false(gpuvm_fence_is_signaled(arr));
	gpuvm_fence_signal(&t[0].base);
	gpuvm_fence_signal(&t[2].base);
	assert_true(gpuvm_fence_is_signaled(arr));
	gpuvm_fence_put(arr);
	put_n(t, 3);
}

static void test_array_invalid(void **state)
{
	struct tfence t[2];
	struct gpuvm_fence *fs[2], *out = NULL;

	(void)state;
	init_n(t, 2);
	fs[0] = &t[0].base;
	fs[1] = NULL;
	assert_int_equal(gpuvm_fence_array_create(NULL, 1, 1, 1, false, &out),
			 -EINVAL);
	assert_int_equal(gpuvm_fence_array_create(fs, 0, 1, 1, false, &out),
			 -EINVAL);
	assert_int_equal(gpuvm_fence_array_create(fs, 2, 1, 1, false, &out),
			 -EINVAL);
	assert_int_equal(gpuvm_fence_array_create(fs, 1, 1, 1, false, NULL),
			 -EINVAL);
	assert_null(out);
	assert_int_equal(gpuvm_kref_read(&t[0].base.refcount), 1);
	put_n(t, 2);
}

/* Fail the Nth allocation for every N: a clean -ENOMEM, nothing leaked. */
static void test_array_alloc_fail(void **state)
{
	struct tfence t[4];
	struct gpuvm_fence *fs[4], *out;
	uint64_t n, live0 = tu_live_allocs();
	unsigned int i, failures = 0;
	int ret;

	(void)state;
	init_n(t, 4);
	for (i = 0; i < 4; i++)
		fs[i] = &t[i].base;
	gpuvm_fence_signal(&t[1].base);
	for (n = 1;; n++) {
		bool pending;

		out = NULL;
		gpuvm_alloc_fail_nth(n, false);
		ret = gpuvm_fence_array_create(fs, 4, 1, 1, false, &out);
		pending = gpuvm_alloc_fail_pending();
		gpuvm_alloc_fail_nth(0, false);
		if (ret == 0) {
			/* Done without reaching the Nth allocation. */
			assert_true(pending);
			break;
		}
		assert_int_equal(ret, -ENOMEM);
		assert_null(out);
		assert_int_equal(tu_live_allocs(), live0);
		for (i = 0; i < 4; i++)
			assert_int_equal(gpuvm_kref_read(&t[i].base.refcount),
					 1);
		failures++;
	}
	gpuvm_alloc_fail_nth(0, false);
	assert_int_equal(ret, 0);
	assert_true(failures >= 1);
	assert_int_equal(tu_live_allocs(), live0 + 1);
	for (i = 0; i < 4; i++)
		if (i != 1)
			gpuvm_fence_signal(&t[i].base);
	assert_true(gpuvm_fence_is_signaled(out));
	gpuvm_fence_put(out);
	assert_int_equal(tu_live_allocs(), live0);
	put_n(t, 4);
}

static void test_array_nested_and_lifetime(void **state)
{
	struct tfence t[4];
	struct gpuvm_fence *inner[2], *outer = NULL;
	uint64_t live0 = tu_live_allocs();

	(void)state;
	init_n(t, 4);
	inner[0] = make_array(t, 2, false);
	inner[1] = make_array(t + 2, 2, true);
	assert_int_equal(
		gpuvm_fence_array_create(inner, 2, 100, 1, false, &outer), 0);
	/* Drop the caller's references early: callbacks keep them alive. */
	gpuvm_fence_put(inner[0]);
	gpuvm_fence_put(inner[1]);
	assert_int_equal(tu_live_allocs(), live0 + 3);
	gpuvm_fence_signal(&t[3].base);
	assert_false(gpuvm_fence_is_signaled(outer));
	gpuvm_fence_signal(&t[0].base);
	gpuvm_fence_signal_error(&t[1].base, -EIO);
	assert_true(gpuvm_fence_is_signaled(outer));
	assert_int_equal(gpuvm_fence_get_status(outer), -EIO);
	gpuvm_fence_put(outer);
	/* inner[1]'s callback on t[2] still holds it. */
	assert_int_equal(tu_live_allocs(), live0 + 1);
	gpuvm_fence_signal(&t[2].base);
	assert_int_equal(tu_live_allocs(), live0);
	put_n(t, 4);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		TU_TEST(test_context_alloc),
		TU_TEST(test_signal_status),
		TU_TEST(test_signal_error),
		TU_TEST(test_refcount),
		TU_TEST(test_callbacks),
		TU_TEST(test_callback_reentrancy),
		TU_TEST(test_release_with_callbacks),
		TU_TEST(test_wait),
		TU_TEST(test_is_later),
		TU_TEST(test_array_all),
		TU_TEST(test_array_any),
		TU_TEST(test_array_errors),
		TU_TEST(test_array_presignalled),
		TU_TEST(test_array_invalid),
		TU_TEST(test_array_alloc_fail),
		TU_TEST(test_array_nested_and_lifetime),
	};

	tu_init(argc, argv, 1, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
