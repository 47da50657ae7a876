// SPDX-License-Identifier: MIT
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
/*
 * Wait-die under contention: NTHREADS threads (more than the machine's two
 * cores) repeatedly lock a random set of 2..16 of 64 objects, in random
 * order, under an acquire context, with the standard back-off loop:
 * on -EDEADLK release everything, lock_slow the contended object, retry the
 * rest. While holding its set a thread stamps each object's owner field with
 * an atomic exchange; finding another owner there means two threads held
 * the same object. Some rounds lock a single object without a context or
 * try-lock a set instead, so plain waiters share the queues.
 *
 * The test must finish: a livelock or deadlock hangs it (meson's timeout
 * catches that); nothing here measures time.
 */
#include <pthread.h>
#include <sched.h>

#include "testutil.h"

#include <gpuvm/ww_mutex.h>

#define NTHREADS 4
#define NOBJ	 64
#define MAX_SET	 16

struct obj {
	struct gpuvm_ww_mutex lock;
	atomic_uint owner;   /* 0, or the holding thread's id + 1 */
	unsigned long holds; /* plain: protected by @lock */
};

static struct gpuvm_ww_class stress_class;
static struct obj objs[NOBJ];
static atomic_uint violations;

struct worker {
	unsigned int id;
	struct tu_rng rng;
	uint64_t rounds;
	uint64_t backoffs;
	uint64_t ealready;
	uint64_t plain_rounds;
	uint64_t try_rounds, try_failed;
	uint64_t locks;
};

static void claim(struct worker *w, unsigned int i)
{
	unsigned int prev = atomic_exchange_explicit(&objs[i].owner, w->id + 1,
						     memory_order_relaxed);

	if (prev != 0)
		atomic_fetch_add(&violations, 1);
	objs[i].holds++;
}

static void unclaim(struct worker *w, unsigned int i)
{
	unsigned int prev = atomic_exchange_explicit(&objs[i].owner, 0,
						     memory_order_relaxed);

	if (prev != w->id + 1)
		atomic_fetch_add(&violations, 1);
}

/* Draws @n distinct object indices in random order. */
static void pick(struct tu_rng *rng, unsigned int *set, unsigned int n)
{
	unsigned int perm[NOBJ], i;

	for (i = 0; i < NOBJ; i++)
		perm[i] = i;
	for (i = 0; i < n; i++) {
		unsigned int j = i + (unsigned int)tu_rng_below(rng, NOBJ - i);
		unsigned int t = perm[i];

		perm[i] = perm[j];
		perm[j] = t;
		set[i] = perm[i];
	}
}

static void hold_briefly(struct worker *w)
{
	if (tu_rng_chance(&w->rng, 30))
		sched_yield();
}

static void ctx_round(struct worker *w)
{
	struct gpuvm_ww_acquire_ctx ctx;
	unsigned int set[MAX_SET], held[MAX_SET], nheld = 0;
	unsigned int n = 2 + (unsigned int)tu_rng_below(&w->rng, MAX_SET - 1);
	unsigned int i, j;
	int ret;

	pick(&w->rng, set, n);
	gpuvm_ww_acquire_init(&ctx, &stress_class);
retry:
	for (i = 0; i < n; i++) {
		ret = gpuvm_ww_mutex_lock(&objs[set[i]].lock, &ctx);
		if (ret == -EALREADY) {
			/* The one taken with lock_slow. */
			w->ealready++;
			continue;
		}
		if (ret == -EDEADLK) {
			for (j = 0; j < nheld; j++)
				gpuvm_ww_mutex_unlock(&objs[held[j]].lock);
			gpuvm_ww_mutex_lock_slow(&objs[set[i]].lock, &ctx);
			held[0] = set[i];
			nheld = 1;
			goto retry;
		}
		if (ret != 0)
			atomic_fetch_add(&violations, 1);
		held[nheld++] = set[i];
	}
	gpuvm_ww_acquire_done(&ctx);
	if (nheld != n || ctx.acquired != n)
		atomic_fetch_add(&violations, 1);
	for (i = 0; i < n; i++)
		claim(w, set[i]);
	hold_briefly(w);
	for (i = 0; i < n; i++)
		unclaim(w, set[i]);
	for (i = 0; i < n; i++)
		gpuvm_ww_mutex_unlock(&objs[held[i]].lock);
	w->backoffs += ctx.backoffs;
	w->locks += n;
	gpuvm_ww_acquire_fini(&ctx);
}

static void plain_round(struct worker *w)
{
	unsigned int i = (unsigned int)tu_rng_below(&w->rng, NOBJ);

	if (gpuvm_ww_mutex_lock(&objs[i].lock, NULL) != 0)
		atomic_fetch_add(&violations, 1);
	claim(w, i);
	hold_briefly(w);
	unclaim(w, i);
	gpuvm_ww_mutex_unlock(&objs[i].lock);
	w->plain_rounds++;
	w->locks++;
}

/* All or nothing with trylocks: never waits, never dies. */
static void try_round(struct worker *w)
{
	struct gpuvm_ww_acquire_ctx ctx;
	unsigned int set[MAX_SET],
		n = 2 + (unsigned int)tu_rng_below(&w->rng, 3);
	unsigned int i, got = 0;

	pick(&w->rng, set, n);
	gpuvm_ww_acquire_init(&ctx, &stress_class);
	for (i = 0; i < n; i++) {
		if (!gpuvm_ww_mutex_trylock(&objs[set[i]].lock, &ctx))
			break;
		got++;
	}
	if (got == n) {
		for (i = 0; i < n; i++)
			claim(w, set[i]);
		for (i = 0; i < n; i++)
			unclaim(w, set[i]);
		w->locks += n;
	} else {
		w->try_failed++;
	}
	for (i = 0; i < got; i++)
		gpuvm_ww_mutex_unlock(&objs[set[i]].lock);
	if (ctx.acquired)
		atomic_fetch_add(&violations, 1);
	gpuvm_ww_acquire_fini(&ctx);
	w->try_rounds++;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	uint64_t r;

	for (r = 0; r < w->rounds; r++) {
		unsigned int dice = (unsigned int)tu_rng_below(&w->rng, 100);

		if (dice < 8)
			plain_round(w);
		else if (dice < 16)
			try_round(w);
		else
			ctx_round(w);
	}
	return NULL;
}

static void test_wait_die_stress(void **state)
{
	struct worker w[NTHREADS];
	pthread_t t[NTHREADS];
	unsigned long holds = 0;
	uint64_t backoffs = 0, locks = 0;
	unsigned int i;

	(void)state;
	gpuvm_ww_class_init(&stress_class, "stress");
	for (i = 0; i < NOBJ; i++) {
		gpuvm_ww_mutex_init(&objs[i].lock, &stress_class);
		atomic_init(&objs[i].owner, 0);
		objs[i].holds = 0;
	}
	atomic_store(&violations, 0);
	for (i = 0; i < NTHREADS; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].id = i;
		w[i].rounds = tu_state()->iterations;
		tu_rng_seed(&w[i].rng, tu_rng_next(tu_rng()));
		assert_int_equal(
			pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
	}
	for (i = 0; i < NTHREADS; i++)
		pthread_join(t[i], NULL);
	for (i = 0; i < NTHREADS; i++) {
		printf("thread %u: %" PRIu64 " rounds, %" PRIu64
		       " locks, %" PRIu64 " back-offs, %" PRIu64
		       " -EALREADY after lock_slow, %" PRIu64
		       " plain rounds, %" PRIu64 "/%" PRIu64
		       " trylock rounds failed\n",
		       i, w[i].rounds, w[i].locks, w[i].backoffs, w[i].ealready,
		       w[i].plain_rounds, w[i].try_failed, w[i].try_rounds);
		backoffs += w[i].backoffs;
		locks += w[i].locks;
	}
	for (i = 0; i < NOBJ; i++) {
		assert_false(gpuvm_ww_mutex_is_locked(&objs[i].lock));
		assert_int_equal(atomic_load(&objs[i].owner), 0);
		holds += objs[i].holds;
		gpuvm_ww_mutex_fini(&objs[i].lock);
	}
	printf("total: %" PRIu64 " locks held, %" PRIu64 " back-offs\n", locks,
	       backoffs);
	assert_int_equal(holds, locks);
	assert_int_equal(atomic_load(&violations), 0);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		TU_TEST(test_wait_die_stress),
	};

	tu_init(argc, argv, 0xd1e, 2000);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
