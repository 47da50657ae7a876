// SPDX-License-Identifier: MIT
/*
 * Copyright (c) 2026 The libgpuvm authors
 *
 * Exec stress: threads lock random overlapping sets of objects with the
 * exec loop, in random order, and prove mutual exclusion with an owner
 * field per object. Wait-die must get every transaction through: the test
 * has a bounded number of rounds and no time limit, so a deadlock or a
 * livelock shows as a hang. Prints the seed and the number of restarts.
 *
 * Arguments: --seed N (or GPUVM_SEED), --iterations N (rounds per thread).
 */
#include <pthread.h>
#include <sched.h>

#include "objtest.h"

#define NTHREADS 4
#define NOBJS	 64
#define MAX_SET	 16

static struct ot_bo objs[NOBJS];
static atomic_uint owner[NOBJS];
static atomic_uint failures;
static atomic_ulong restarts_total;
static atomic_ulong backoffs_total;

struct worker {
	pthread_t thread;
	unsigned int id;
	uint64_t rounds;
	struct tu_rng rng;
	uint64_t fence_ctx;
	uint64_t seqno;
	unsigned long restarts;
};

#define FAIL(...)                                                              \
	do {                                                                   \
		fprintf(stderr, __VA_ARGS__);                                  \
		fputc('\n', stderr);                                           \
		atomic_fetch_add(&failures, 1);                                \
	} while (0)

static void heap_fence_release(struct gpuvm_fence *f)
{
	free(f);
}

static const struct gpuvm_fence_ops heap_fence_ops = {
	.release = heap_fence_release,
};

/* Prepares every picked object; returns the first error, as upstream's
 * drm_exec_prepare_array() would, so that the caller can retry. */
static int lock_set(struct gpuvm_exec *exec, unsigned int *pick, unsigned int n,
		    unsigned int fences)
{
	for (unsigned int i = 0; i < n; i++) {
		int ret = gpuvm_exec_prepare_obj(exec, &objs[pick[i]].gem,
						 fences);

		if (ret)
			return ret;
	}
	return 0;
}

static void one_round(struct worker *w)
{
	unsigned int pick[MAX_SET + 4], n, distinct = 0, passes = 0;
	bool want[NOBJS] = { false };
	unsigned int fences = (unsigned int)tu_rng_below(&w->rng, 3);
	struct gpuvm_fence *fence = NULL;
	struct gpuvm_exec exec;
	struct gpuvm_gem *obj;
	unsigned int i;
	int ret = 0;

	/* 2..16 objects, plus a few repeats that the exec must absorb. */
	n = (unsigned int)tu_rng_range(&w->rng, 2, MAX_SET);
	for (i = 0; i < n; i++) {
		unsigned int o;

		do {
			o = (unsigned int)tu_rng_below(&w->rng, NOBJS);
		} while (want[o]);
		want[o] = true;
		pick[i] = o;
	}
	distinct = n;
	if (tu_rng_chance(&w->rng, 30)) {
		pick[n] = pick[tu_rng_below(&w->rng, n)];
		n++;
	}

	gpuvm_exec_init(&exec, GPUVM_EXEC_IGNORE_DUPLICATES,
			(unsigned int)tu_rng_below(&w->rng, 20));
	gpuvm_exec_until_all_locked(&exec) {
		passes++;
		ret = lock_set(&exec, pick, n, fences);
		gpuvm_exec_retry_on_contention(&exec);
		if (ret)
			break;
	}
	if (ret) {
		FAIL("thread %u: exec failed with %d", w->id, ret);
		gpuvm_exec_fini(&exec);
		return;
	}
	w->restarts += passes - 1;
	atomic_fetch_add(&backoffs_total, exec.ticket.backoffs);

	if (exec.num_objects != distinct)
		FAIL("thread %u: %u objects locked, expected %u", w->id,
		     exec.num_objects, distinct);
	gpuvm_exec_for_each_locked_object(&exec, i, obj) {
		struct ot_bo *bo = gpuvm_container_of(obj, struct ot_bo, gem);
		unsigned int idx = (unsigned int)(bo - objs);
		unsigned int expect = 0;

		if (!want[idx])
			FAIL("thread %u: object %u locked but not asked for",
			     w->id, idx);
		want[idx] = false;
		if (!gpuvm_resv_is_held(obj->resv))
			FAIL("thread %u: object %u not held", w->id, idx);
		if (!atomic_compare_exchange_strong(&owner[idx], &expect,
						    w->id))
			FAIL("thread %u: object %u already owned by %u", w->id,
			     idx, expect);
	}
	for (i = 0; i < NOBJS; i++)
		if (want[i])
			FAIL("thread %u: object %u asked for, not locked",
			     w->id, i);

	if (fences) {
		fence = malloc(sizeof(*fence));
		if (!fence)
			abort();
		gpuvm_fence_init(fence, &heap_fence_ops, w->fence_ctx,
				 ++w->seqno);
		gpuvm_exec_for_each_locked_object(&exec, i, obj)
			gpuvm_resv_add_fence(obj->resv, fence,
					     GPUVM_RESV_USAGE_WRITE);
	}
	if (tu_rng_chance(&w->rng, 10))
		sched_yield();

	gpuvm_exec_for_each_locked_object(&exec, i, obj) {
		struct ot_bo *bo = gpuvm_container_of(obj, struct ot_bo, gem);
		unsigned int idx = (unsigned int)(bo - objs);
		unsigned int expect = w->id;

		if (!atomic_compare_exchange_strong(&owner[idx], &expect, 0))
			FAIL("thread %u: object %u stolen by %u", w->id, idx,
			     expect);
	}
	gpuvm_exec_fini(&exec);
	if (fence) {
		gpuvm_fence_signal(fence);
		gpuvm_fence_put(fence);
	}
}

static void *worker_fn(void *arg)
{
	struct worker *w = arg;

	for (uint64_t r = 0; r < w->rounds; r++)
		one_round(w);
	atomic_fetch_add(&restarts_total, w->restarts);
	return NULL;
}

static void test_exec_stress(void **state)
{
	struct worker w[NTHREADS];
	struct tu_state *st = tu_state();
	uint64_t x = st->seed;
	unsigned int i;

	(void)state;
	for (i = 0; i < NOBJS; i++) {
		ot_bo_init(&objs[i], 4096);
		atomic_init(&owner[i], 0);
	}
	for (i = 0; i < NTHREADS; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].id = i + 1;
		w[i].rounds = st->iterations;
		tu_rng_seed(&w[i].rng, tu_splitmix64(&x));
		w[i].fence_ctx = gpuvm_fence_context_alloc(1);
	}
	for (i = 0; i < NTHREADS; i++)
		assert_int_equal(
			pthread_create(&w[i].thread, NULL, worker_fn, &w[i]),
			0);
	for (i = 0; i < NTHREADS; i++)
		pthread_join(w[i].thread, NULL);

	printf("exec stress: %u threads x %" PRIu64
	       " rounds, %lu restarts, %lu back-offs\n",
	       NTHREADS, st->iterations, atomic_load(&restarts_total),
	       atomic_load(&backoffs_total));
	assert_int_equal(atomic_load(&failures), 0);
	for (i = 0; i < NOBJS; i++) {
		assert_int_equal(atomic_load(&owner[i]), 0);
		assert_false(gpuvm_resv_is_locked(objs[i].gem.resv));
		/* The last put drops the fences left in the reservation. */
		ot_bo_put_last(&objs[i]);
	}
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		OT_TEST(test_exec_stress),
	};

	tu_init(argc, argv, 0x5eed0b1ec7ull, 1500);
	return cmocka_run_group_tests_name("objects-exec-stress", tests, NULL,
					   NULL);
}
