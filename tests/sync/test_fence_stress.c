// SPDX-License-Identifier: MIT
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
/*
 * Races on fences: in every round, worker threads add and remove callbacks,
 * wait with and without timeouts and poll, while one of them signals at a
 * random moment. Checked: every callback runs exactly once unless removed
 * while pending; a remove that returns false finds its callback already
 * run; -ENOENT callbacks never run; a waiter or poller that sees the fence
 * signalled also sees what the signaller wrote before signalling. The
 * per-callback counters are plain ints on purpose: ThreadSanitizer then
 * checks the ordering the fence promises.
 *
 * A second test builds array fences while their components signal on other
 * threads.
 */
#include <pthread.h>
#include <sched.h>

#include "testutil.h"

#include <gpuvm/fence.h>

#define NTHREADS 4
#define MAX_CBS	 8

static atomic_uint failures;
static char first_failure[256];
static pthread_mutex_t failure_lock = PTHREAD_MUTEX_INITIALIZER;

/* cmocka cannot fail from other threads: count and report in main. */
#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond))                                                   \
			check_failed(#cond, __LINE__);                         \
	} while (0)

static void check_failed(const char *what, int line)
{
	pthread_mutex_lock(&failure_lock);
	if (!atomic_fetch_add(&failures, 1))
		snprintf(first_failure, sizeof(first_failure), "line %d: %s",
			 line, what);
	pthread_mutex_unlock(&failure_lock);
}

struct sfence {
	struct gpuvm_fence base;
	uint64_t payload; /* written before the signal, plain */
	int expect_status;
	atomic_uint released;
};

static void sf_release(struct gpuvm_fence *f)
{
	struct sfence *s = gpuvm_container_of(f, struct sfence, base);

	atomic_fetch_add(&s->released, 1);
}

static const struct gpuvm_fence_ops sf_ops = {
	.release = sf_release,
};

struct scb {
	struct gpuvm_fence_cb cb;
	unsigned int calls; /* plain: ordered by the fence */
	int status;
	uint64_t payload;
	int add_ret;
	bool removed;
};

static void scb_func(struct gpuvm_fence *f, struct gpuvm_fence_cb *cb)
{
	struct scb *s = gpuvm_container_of(cb, struct scb, cb);

	s->calls++;
	s->status = gpuvm_fence_get_status(f);
	s->payload = gpuvm_container_of(f, struct sfence, base)->payload;
}

/* For array fences, which carry no payload. */
static void acb_func(struct gpuvm_fence *f, struct gpuvm_fence_cb *cb)
{
	struct scb *s = gpuvm_container_of(cb, struct scb, cb);

	s->calls++;
	s->status = gpuvm_fence_get_status(f);
}

enum role { ROLE_ADDER, ROLE_WAITER, ROLE_TIMED_WAITER, ROLE_POLLER };

struct shared {
	pthread_barrier_t start, end;
	struct sfence *fence;
	unsigned int signaller;
	uint64_t round;
	uint64_t rounds;
	uint64_t seed;
	atomic_uint timeouts, removed_pending, enoent;
};

struct worker {
	struct shared *sh;
	unsigned int id;
	struct tu_rng rng;
	struct scb cbs[MAX_CBS];
	unsigned int ncbs;
};

static void spin_a_little(struct tu_rng *rng)
{
	unsigned int n = (unsigned int)tu_rng_below(rng, 4);

	while (n--)
		sched_yield();
}

static void do_signal(struct worker *w, struct sfence *f)
{
	spin_a_little(&w->rng);
	f->payload = w->sh->round + 1;
	if (f->expect_status < 0)
		CHECK(gpuvm_fence_signal_error(&f->base, f->expect_status) ==
		      0);
	else
		CHECK(gpuvm_fence_signal(&f->base) == 0);
	CHECK(gpuvm_fence_signal(&f->base) == -EINVAL);
}

/* @may_block: false for the signaller before it signals. */
static void do_role(struct worker *w, struct sfence *f, bool may_block)
{
	enum role role = (enum role)tu_rng_below(&w->rng, 4);
	struct gpuvm_fence *ref;
	unsigned int i;
	int ret;

	if (role == ROLE_WAITER && !may_block)
		role = ROLE_TIMED_WAITER;
	w->ncbs = 0;
	switch (role) {
	case ROLE_ADDER:
		w->ncbs = 1 + (unsigned int)tu_rng_below(&w->rng, MAX_CBS);
		for (i = 0; i < w->ncbs; i++) {
			struct scb *c = &w->cbs[i];

			memset(c, 0, sizeof(*c));
			c->add_ret = gpuvm_fence_add_callback(&f->base, &c->cb,
							      scb_func);
			CHECK(c->add_ret == 0 || c->add_ret == -ENOENT);
		}
		for (i = 0; i < w->ncbs; i++) {
			struct scb *c = &w->cbs[i];

			if (!tu_rng_chance(&w->rng, 40))
				continue;
			c->removed =
				gpuvm_fence_remove_callback(&f->base, &c->cb);
			/* Lost the race: the callback has completed. */
			if (c->add_ret == 0 && !c->removed)
				CHECK(c->calls == 1);
		}
		break;
	case ROLE_WAITER:
		ref = gpuvm_fence_get(&f->base);
		CHECK(gpuvm_fence_wait_timeout(ref, GPUVM_WAIT_FOREVER) == 0);
		CHECK(f->payload == w->sh->round + 1);
		CHECK(gpuvm_fence_get_status(ref) ==
		      (f->expect_status < 0 ? f->expect_status : 1));
		gpuvm_fence_put(ref);
		break;
	case ROLE_TIMED_WAITER:
		ret = gpuvm_fence_wait_timeout(
			&f->base, (int64_t)tu_rng_below(&w->rng, 20000));
		CHECK(ret == 0 || ret == -ETIME);
		if (ret == 0)
			CHECK(f->payload == w->sh->round + 1);
		else
			atomic_fetch_add(&w->sh->timeouts, 1);
		break;
	case ROLE_POLLER:
		for (i = 0; i < 50; i++) {
			if (gpuvm_fence_is_signaled(&f->base)) {
				CHECK(f->payload == w->sh->round + 1);
				break;
			}
			sched_yield();
		}
		break;
	}
}

static void check_callbacks(struct worker *w, struct sfence *f)
{
	unsigned int i;

	for (i = 0; i < w->ncbs; i++) {
		struct scb *c = &w->cbs[i];

		if (c->add_ret == -ENOENT) {
			CHECK(c->calls == 0);
			atomic_fetch_add(&w->sh->enoent, 1);
		} else if (c->removed) {
			CHECK(c->calls == 0);
			atomic_fetch_add(&w->sh->removed_pending, 1);
		} else {
			CHECK(c->calls == 1);
			CHECK(c->payload == w->sh->round + 1);
			CHECK(c->status ==
			      (f->expect_status < 0 ? f->expect_status : 1));
		}
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct shared *sh = w->sh;
	uint64_t r;

	for (r = 0; r < sh->rounds; r++) {
		struct sfence *f;

		pthread_barrier_wait(&sh->start);
		f = sh->fence;
		if (w->id == sh->signaller) {
			/* Sometimes signal first, sometimes after the role. */
			if (tu_rng_chance(&w->rng, 30)) {
				do_signal(w, f);
				do_role(w, f, true);
			} else {
				do_role(w, f, false);
				do_signal(w, f);
			}
		} else {
			do_role(w, f, true);
		}
		pthread_barrier_wait(&sh->end);
		check_callbacks(w, f);
		pthread_barrier_wait(&sh->end);
	}
	return NULL;
}

static void test_signal_races(void **state)
{
	struct shared sh;
	struct worker w[NTHREADS];
	pthread_t t[NTHREADS];
	struct tu_rng *rng = tu_rng();
	unsigned int i;
	uint64_t r;

	(void)state;
	memset(&sh, 0, sizeof(sh));
	sh.rounds = tu_state()->iterations;
	pthread_barrier_init(&sh.start, NULL, NTHREADS + 1);
	pthread_barrier_init(&sh.end, NULL, NTHREADS + 1);
	for (i = 0; i < NTHREADS; i++) {
		w[i].sh = &sh;
		w[i].id = i;
		tu_rng_seed(&w[i].rng, tu_rng_next(rng));
		assert_int_equal(
			pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
	}
	for (r = 0; r < sh.rounds; r++) {
		struct sfence *f = calloc(1, sizeof(*f));

		assert_non_null(f);
		gpuvm_fence_init(&f->base, &sf_ops, 1, r + 1);
		f->expect_status = tu_rng_chance(rng, 25) ? -EIO : 0;
		sh.fence = f;
		sh.round = r;
		sh.signaller = (unsigned int)tu_rng_below(rng, NTHREADS);
		pthread_barrier_wait(&sh.start);
		pthread_barrier_wait(&sh.end);
		pthread_barrier_wait(&sh.end);
		assert_true(gpuvm_fence_is_signaled(&f->base));
		assert_int_equal(gpuvm_kref_read(&f->base.refcount), 1);
		gpuvm_fence_put(&f->base);
		assert_int_equal(atomic_load(&f->released), 1);
		free(f);
	}
	for (i = 0; i < NTHREADS; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&sh.start);
	pthread_barrier_destroy(&sh.end);
	printf("signal races: %" PRIu64 " rounds, %u timed out waits, %u "
	       "removed pending, %u late adds\n",
	       sh.rounds, atomic_load(&sh.timeouts),
	       atomic_load(&sh.removed_pending), atomic_load(&sh.enoent));
	if (atomic_load(&failures))
		fail_msg("%u failures, first: %s", atomic_load(&failures),
			 first_failure);
}

/* ------------------------------------------------------------------ */
/* Array fences built while their components signal.                   */

#define ARRAY_N 6

struct array_shared {
	pthread_barrier_t start, end;
	struct sfence comp[ARRAY_N];
	uint64_t rounds;
};

struct array_worker {
	struct array_shared *sh;
	unsigned int id;
	struct tu_rng rng;
};

static void *array_signaller(void *arg)
{
	struct array_worker *w = arg;
	struct array_shared *sh = w->sh;
	uint64_t r;
	unsigned int i;

	for (r = 0; r < sh->rounds; r++) {
		pthread_barrier_wait(&sh->start);
		/* Each thread signals its share of the components. */
		for (i = w->id; i < ARRAY_N; i += 2) {
			spin_a_little(&w->rng);
			if (sh->comp[i].expect_status)
				gpuvm_fence_signal_error(
					&sh->comp[i].base,
					sh->comp[i].expect_status);
			else
				gpuvm_fence_signal(&sh->comp[i].base);
		}
		pthread_barrier_wait(&sh->end);
	}
	return NULL;
}

static void test_array_races(void **state)
{
	struct array_shared sh;
	struct array_worker w[2];
	pthread_t t[2];
	struct tu_rng *rng = tu_rng();
	uint64_t r, live0 = tu_live_allocs();
	unsigned int i, signalled_early = 0;

	(void)state;
	memset(&sh, 0, sizeof(sh));
	sh.rounds = tu_state()->iterations;
	pthread_barrier_init(&sh.start, NULL, 3);
	pthread_barrier_init(&sh.end, NULL, 3);
	for (i = 0; i < 2; i++) {
		w[i].sh = &sh;
		w[i].id = i;
		tu_rng_seed(&w[i].rng, tu_rng_next(rng));
		assert_int_equal(
			pthread_create(&t[i], NULL, array_signaller, &w[i]), 0);
	}
	for (r = 0; r < sh.rounds; r++) {
		struct gpuvm_fence *fs[ARRAY_N], *arr;
		bool any = tu_rng_chance(rng, 30);
		bool errors = false;
		struct scb cb;
		int st;

		for (i = 0; i < ARRAY_N; i++) {
			memset(&sh.comp[i], 0, sizeof(sh.comp[i]));
			gpuvm_fence_init(&sh.comp[i].base, &sf_ops, 50 + i, r);
			sh.comp[i].expect_status =
				tu_rng_chance(rng, 10) ? -(int)(100 + i) : 0;
			errors |= sh.comp[i].expect_status != 0;
			fs[i] = &sh.comp[i].base;
		}
		pthread_barrier_wait(&sh.start);
		assert_int_equal(
			gpuvm_fence_array_create(fs, ARRAY_N, 99, r, any, &arr),
			0);
		memset(&cb, 0, sizeof(cb));
		cb.add_ret = gpuvm_fence_add_callback(arr, &cb.cb, acb_func);
		if (cb.add_ret == -ENOENT)
			signalled_early++;
		pthread_barrier_wait(&sh.end);

		/* Every component has signalled: so has the array. */
		assert_true(gpuvm_fence_is_signaled(arr));
		assert_int_equal(cb.calls, cb.add_ret == 0 ? 1 : 0);
		st = gpuvm_fence_get_status(arr);
		if (!any && !errors)
			assert_int_equal(st, 1);
		if (!any && errors)
			assert_true(st < 0);
		if (st < 0) {
			bool found = false;

			for (i = 0; i < ARRAY_N; i++)
				found |= sh.comp[i].expect_status == st;
			assert_true(found);
		}
		gpuvm_fence_put(arr);
		for (i = 0; i < ARRAY_N; i++) {
			gpuvm_fence_put(&sh.comp[i].base);
			assert_int_equal(atomic_load(&sh.comp[i].released), 1);
		}
		assert_int_equal(tu_live_allocs(), live0);
	}
	for (i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&sh.start);
	pthread_barrier_destroy(&sh.end);
	printf("array races: %" PRIu64 " rounds, %u signalled before the "
	       "callback was added\n",
	       sh.rounds, signalled_early);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		TU_TEST(test_signal_races),
		TU_TEST(test_array_races),
	};

	tu_init(argc, argv, 0x5eed, 1500);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
