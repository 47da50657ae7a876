// SPDX-License-Identifier: MIT
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
/*
 * Reservations the way a driver uses them. Submitter threads lock 1..4 of
 * NRESV reservations in one acquire context (with the back-off loop),
 * snapshot the fences they depend on into an array fence, reserve a slot
 * on each, add their job's fence with a random usage, queue the job while
 * still holding the locks, and unlock. A "GPU" thread completes jobs in
 * queue order inside a fence-signalling section (so the checker watches
 * the signalling path) and checks that each job's dependencies signalled
 * before it. Waiter threads wait on, test and snapshot the reservations
 * without locking them, racing with the adds.
 */
#include <pthread.h>
#include <sched.h>

#include "testutil.h"

#include <gpuvm/fence.h>
#include <gpuvm/mutex.h>
#include <gpuvm/resv.h>

#define NSUBMIT 3
#define NWAIT	2
#define NRESV	12
#define MAX_SET 4

struct resv_obj {
	struct gpuvm_resv resv;
	atomic_uint owner;
};

struct job {
	struct gpuvm_fence done;
	struct gpuvm_fence *deps; /* array fence, or NULL */
	struct job *next;
};

static struct resv_obj objs[NRESV];
static atomic_uint failures;
static atomic_uint jobs_released;
static atomic_uint submitters_left;
static pthread_barrier_t start;

/*
 * The GPU's queue: a FIFO under a plain mutex (a condition variable needs
 * one). The GPU counts completions under a checked mutex, inside the
 * signalling section, where plain mutexes are allowed.
 */
static pthread_mutex_t queue_lock = PTHREAD_MUTEX_INITIALIZER;
static struct gpuvm_mutex stats_lock;
static unsigned long completed;
static pthread_cond_t queue_cond = PTHREAD_COND_INITIALIZER;
static struct job *queue_head, **queue_tail = &queue_head;

static void job_release(struct gpuvm_fence *f)
{
	struct job *j = gpuvm_container_of(f, struct job, done);

	atomic_fetch_add(&jobs_released, 1);
	free(j);
}

static const struct gpuvm_fence_ops job_ops = {
	.release = job_release,
};

static void fail_if(bool cond)
{
	if (cond)
		atomic_fetch_add(&failures, 1);
}

/* Called with the job's reservations locked: the queue order follows. */
static void queue_job(struct job *j)
{
	pthread_mutex_lock(&queue_lock);
	j->next = NULL;
	*queue_tail = j;
	queue_tail = &j->next;
	pthread_cond_signal(&queue_cond);
	pthread_mutex_unlock(&queue_lock);
}

static void *gpu_main(void *arg)
{
	unsigned long done = 0;

	(void)arg;
	pthread_barrier_wait(&start);
	for (;;) {
		struct job *j;

		pthread_mutex_lock(&queue_lock);
		while (!queue_head && atomic_load(&submitters_left))
			pthread_cond_wait(&queue_cond, &queue_lock);
		j = queue_head;
		if (j) {
			queue_head = j->next;
			if (!queue_head)
				queue_tail = &queue_head;
		}
		pthread_mutex_unlock(&queue_lock);
		if (!j)
			break;
		/* Lag behind the submitters so that waiters find work. */
		sched_yield();

		/* The run path: no allocation, no reservation, no wait. */
		gpuvm_fence_begin_signalling();
		fail_if(j->deps && !gpuvm_fence_is_signaled(j->deps));
		gpuvm_fence_signal(&j->done);
		gpuvm_fence_put(j->deps);
		gpuvm_fence_put(&j->done);
		gpuvm_mutex_lock(&stats_lock);
		completed++;
		gpuvm_mutex_unlock(&stats_lock);
		gpuvm_fence_end_signalling();
		done++;
	}
	return (void *)done;
}

struct submitter {
	unsigned int id;
	struct tu_rng rng;
	uint64_t jobs;
	uint64_t backoffs;
	uint64_t deps;
};

static void pick(struct tu_rng *rng, unsigned int *set, unsigned int n)
{
	unsigned int perm[NRESV], i;

	for (i = 0; i < NRESV; i++)
		perm[i] = i;
	for (i = 0; i < n; i++) {
		unsigned int k = i + (unsigned int)tu_rng_below(rng, NRESV - i);
		unsigned int t = perm[i];

		perm[i] = perm[k];
		perm[k] = t;
		set[i] = perm[i];
	}
}

static void lock_set(struct gpuvm_ww_acquire_ctx *ctx, const unsigned int *set,
		     unsigned int n)
{
	unsigned int held[MAX_SET], nheld = 0, i, k;
	int ret;

retry:
	for (i = 0; i < n; i++) {
		ret = gpuvm_resv_lock(&objs[set[i]].resv, ctx);
		if (ret == -EALREADY)
			continue;
		if (ret == -EDEADLK) {
			for (k = 0; k < nheld; k++)
				gpuvm_resv_unlock(&objs[held[k]].resv);
			gpuvm_resv_lock_slow(&objs[set[i]].resv, ctx);
			held[0] = set[i];
			nheld = 1;
			goto retry;
		}
		fail_if(ret != 0);
		held[nheld++] = set[i];
	}
}

static void submit_one(struct submitter *s, uint64_t seqno, uint64_t context)
{
	struct gpuvm_ww_acquire_ctx ctx;
	struct gpuvm_fence *deps[64], **snap;
	unsigned int set[MAX_SET], n, i, k, ndeps = 0, nsnap;
	enum gpuvm_resv_usage usage[MAX_SET];
	struct job *j = calloc(1, sizeof(*j));

	fail_if(!j);
	gpuvm_fence_init(&j->done, &job_ops, context, seqno);
	n = 1 + (unsigned int)tu_rng_below(&s->rng, MAX_SET);
	pick(&s->rng, set, n);
	for (i = 0; i < n; i++)
		usage[i] = tu_rng_chance(&s->rng, 30) ? GPUVM_RESV_USAGE_WRITE
						      : GPUVM_RESV_USAGE_READ;

	gpuvm_ww_acquire_init(&ctx, gpuvm_reservation_ww_class());
	lock_set(&ctx, set, n);
	gpuvm_ww_acquire_done(&ctx);
	/* Hold the set a while now and then, so that transactions collide. */
	if (tu_rng_chance(&s->rng, 15))
		sched_yield();
	for (i = 0; i < n; i++) {
		unsigned int prev =
			atomic_exchange(&objs[set[i]].owner, s->id + 1);

		fail_if(prev != 0);
	}

	/* Dependencies: a writer waits for readers too. */
	for (i = 0; i < n; i++) {
		enum gpuvm_resv_usage want =
			gpuvm_resv_usage_rw(usage[i] == GPUVM_RESV_USAGE_WRITE);

		fail_if(gpuvm_resv_get_fences(&objs[set[i]].resv, want, &nsnap,
					      &snap) != 0);
		for (k = 0; k < nsnap && ndeps < 64; k++)
			deps[ndeps++] = gpuvm_fence_get(snap[k]);
		gpuvm_resv_fences_free(snap, nsnap);
		fail_if(gpuvm_resv_reserve_fences(&objs[set[i]].resv, 1) != 0);
	}
	if (ndeps) {
		fail_if(gpuvm_fence_array_create(deps, ndeps,
						 gpuvm_fence_context_alloc(1),
						 1, false, &j->deps) != 0);
		for (k = 0; k < ndeps; k++)
			gpuvm_fence_put(deps[k]);
		s->deps += ndeps;
	}
	for (i = 0; i < n; i++)
		gpuvm_resv_add_fence(&objs[set[i]].resv, &j->done, usage[i]);

	/* The queue's reference; ours is the one we created with. */
	gpuvm_fence_get(&j->done);
	queue_job(j);

	for (i = 0; i < n; i++) {
		unsigned int prev = atomic_exchange(&objs[set[i]].owner, 0);

		fail_if(prev != s->id + 1);
	}
	for (i = 0; i < n; i++)
		gpuvm_resv_unlock(&objs[set[i]].resv);
	s->backoffs += ctx.backoffs;
	gpuvm_ww_acquire_fini(&ctx);
	gpuvm_fence_put(&j->done);
	s->jobs++;
}

static void *submitter_main(void *arg)
{
	struct submitter *s = arg;
	uint64_t context = gpuvm_fence_context_alloc(1);
	uint64_t r, rounds = tu_state()->iterations;

	pthread_barrier_wait(&start);
	for (r = 0; r < rounds; r++) {
		submit_one(s, r + 1, context);
		if (tu_rng_chance(&s->rng, 20))
			sched_yield();
	}
	atomic_fetch_sub(&submitters_left, 1);
	pthread_mutex_lock(&queue_lock);
	pthread_cond_broadcast(&queue_cond);
	pthread_mutex_unlock(&queue_lock);
	return NULL;
}

struct waiter {
	struct tu_rng rng;
	uint64_t waits, timeouts, snapshots;
};

static void *waiter_main(void *arg)
{
	struct waiter *w = arg;

	pthread_barrier_wait(&start);
	while (atomic_load(&submitters_left)) {
		struct gpuvm_resv *resv =
			&objs[tu_rng_below(&w->rng, NRESV)].resv;
		enum gpuvm_resv_usage usage =
			(enum gpuvm_resv_usage)tu_rng_below(&w->rng, 4);
		struct gpuvm_fence **snap;
		unsigned int n, i;
		int ret;

		switch (tu_rng_below(&w->rng, 3)) {
		case 0:
			ret = gpuvm_resv_wait_timeout(
				resv, usage,
				(int64_t)tu_rng_below(&w->rng, 200000));
			fail_if(ret != 0 && ret != -ETIME);
			w->waits++;
			w->timeouts += ret == -ETIME;
			break;
		case 1:
			if (gpuvm_resv_test_signaled(resv, usage))
				w->waits++;
			break;
		default:
			fail_if(gpuvm_resv_get_fences(resv, usage, &n, &snap));
			/*
			 * The snapshot's own reference. The reservation's may
			 * be gone already: a later job of the same timeline
			 * can replace the entry, and the job complete, between
			 * the snapshot and this check.
			 */
			for (i = 0; i < n; i++)
				fail_if(gpuvm_kref_read(&snap[i]->refcount) <
					1);
			gpuvm_resv_fences_free(snap, n);
			w->snapshots++;
			break;
		}
		sched_yield();
	}
	return NULL;
}

static void test_resv_stress(void **state)
{
	struct submitter s[NSUBMIT];
	struct waiter w[NWAIT];
	pthread_t ts[NSUBMIT], tw[NWAIT], tg;
	void *gpu_done;
	uint64_t jobs = 0;
	unsigned int i;

	(void)state;
	gpuvm_mutex_init(&stats_lock);
	completed = 0;
	atomic_store(&failures, 0);
	atomic_store(&jobs_released, 0);
	atomic_store(&submitters_left, NSUBMIT);
	pthread_barrier_init(&start, NULL, NSUBMIT + NWAIT + 1);
	for (i = 0; i < NRESV; i++) {
		gpuvm_resv_init(&objs[i].resv);
		atomic_init(&objs[i].owner, 0);
	}
	assert_int_equal(pthread_create(&tg, NULL, gpu_main, NULL), 0);
	for (i = 0; i < NWAIT; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		tu_rng_seed(&w[i].rng, tu_rng_next(tu_rng()));
		assert_int_equal(
			pthread_create(&tw[i], NULL, waiter_main, &w[i]), 0);
	}
	for (i = 0; i < NSUBMIT; i++) {
		memset(&s[i], 0, sizeof(s[i]));
		s[i].id = i;
		tu_rng_seed(&s[i].rng, tu_rng_next(tu_rng()));
		assert_int_equal(
			pthread_create(&ts[i], NULL, submitter_main, &s[i]), 0);
	}
	for (i = 0; i < NSUBMIT; i++)
		pthread_join(ts[i], NULL);
	for (i = 0; i < NWAIT; i++)
		pthread_join(tw[i], NULL);
	pthread_join(tg, &gpu_done);

	for (i = 0; i < NSUBMIT; i++) {
		printf("submitter %u: %" PRIu64 " jobs, %" PRIu64
		       " back-offs, %" PRIu64 " dependencies\n",
		       i, s[i].jobs, s[i].backoffs, s[i].deps);
		jobs += s[i].jobs;
	}
	for (i = 0; i < NWAIT; i++)
		printf("waiter %u: %" PRIu64 " waits (%" PRIu64
		       " timed out), %" PRIu64 " snapshots\n",
		       i, w[i].waits, w[i].timeouts, w[i].snapshots);
	assert_int_equal((uintptr_t)gpu_done, jobs);

	/* Every job signalled; the reservations hold the last references. */
	for (i = 0; i < NRESV; i++) {
		assert_true(gpuvm_resv_test_signaled(
			&objs[i].resv, GPUVM_RESV_USAGE_BOOKKEEP));
		assert_int_equal(
			gpuvm_resv_wait_timeout(&objs[i].resv,
						GPUVM_RESV_USAGE_BOOKKEEP, 0),
			0);
		gpuvm_resv_fini(&objs[i].resv);
	}
	assert_int_equal(atomic_load(&jobs_released), jobs);
	assert_int_equal(atomic_load(&failures), 0);
	assert_int_equal(completed, jobs);
	gpuvm_mutex_fini(&stats_lock);
	pthread_barrier_destroy(&start);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		TU_TEST(test_resv_stress),
	};

	tu_init(argc, argv, 0xfe7ce, 1500);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
