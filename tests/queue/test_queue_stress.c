// SPDX-License-Identifier: MIT
/*
 * Copyright (c) 2026 The libgpuvm authors
 *
 * Concurrency stress of the bind queue: NTHREADS threads submit random jobs
 * to NQUEUES queues of one VM, in rounds.
 *
 * The model has to know the order in which jobs touching the same addresses
 * ran, and only the fences say it. So each round gives every thread a slot
 * of the window of its own (slots rotate between rounds, so that threads
 * remap and unmap what others mapped), and a thread's jobs form a chain:
 * each job waits for the thread's previous one, whatever queues the two are
 * on. Within a slot the jobs therefore run in the thread's submission order,
 * which is the order the model applies them in. On top of the chain, jobs
 * wait for random fences of other threads' jobs (cross-queue dependencies
 * that do not change a slot's order) and for user fences that the thread
 * signals once it has submitted its chain, some with an error: such a job
 * is not applied and its error runs down the rest of the chain, which the
 * model follows from the fences' statuses.
 *
 * Three kinds of rounds:
 * - sync: each thread waits for each job and checks its slot, page by
 *   page, against the model and the tree right after the fence signalled;
 * - async: no waiting while submitting, dependencies across threads and
 *   queues, user fences; checked at the end of the round;
 * - span: one thread, jobs over the whole window on random queues.
 * After every round (a quiescent point: every fence of the round has
 * signalled) one thread checks the whole window, and sometimes destroys a
 * queue with pending jobs (cancel or drain) and creates it again.
 *
 * Every run path is watched by the fence-signalling checker (a counting
 * handler: zero at the end); the library must hold no allocation after
 * teardown. Options: --seed N (or GPUVM_SEED), --iterations N (rounds).
 */
#include <sched.h>

#include "qtest.h"

#define NTHREADS 4
#define NQUEUES	 3
#define NBOS	 6
#define MAXREQ	 4
#define MAXIN	 4
#define MAXJOBS	 16
#define POOL	 (NTHREADS * MAXJOBS)

#define MiB  (UINT64_C(1) << 20)
#define SLOT (4 * MiB)
#define WIN  (NTHREADS * SLOT)

enum round_kind { ROUND_SYNC, ROUND_ASYNC, ROUND_SPAN };

struct sjob {
	struct gpuvm_bind_req reqs[MAXREQ];
	unsigned int nr;
	struct gpuvm_fence *in[MAXIN];
	unsigned int nr_in;
	struct gpuvm_fence *fence;
};

struct stress {
	struct qt_ctx c;
	bool resv;
	struct gpuvm_bind_queue *q[NQUEUES];
	struct qt_bo bos[NBOS];
	uint64_t seed;
	uint64_t rounds;

	pthread_barrier_t barrier;
	pthread_mutex_t model_lock;
	struct qt_model model;

	/* Fences of this round that other threads may wait for. */
	pthread_mutex_t pool_lock;
	struct gpuvm_fence *pool[POOL];
	unsigned int pool_n;

	atomic_ulong jobs;
	atomic_ulong jobs_failed;
	atomic_ulong cross_deps;
	atomic_ulong user_fences;
	atomic_ulong cancelled;
	atomic_ulong checks;
};

struct thr {
	struct stress *s;
	unsigned int id;
	struct tu_rng rng;
	struct sjob jobs[MAXJOBS];
	struct gpuvm_fence *user[MAXJOBS];
	int user_err[MAXJOBS];
	unsigned int nr_user;
};

static uint64_t g_seed;

static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "queue stress failed (seed %" PRIu64 "): ", g_seed);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

/* ------------------------------------------------------------------ */
/* Warnings: gpuvm_put() reads the VM's zombie count and its reference  */
/* count one after the other, so a run path's put racing with another  */
/* queue's cleanup can claim that only zombies keep the VM alive while  */
/* the bind context still holds it. Those are counted, not failed on;  */
/* any other warning fails the run.                                     */

static atomic_ulong zombie_false_positives;

static void stress_warn(const char *msg, void *data)
{
	(void)data;
	if (strstr(msg, "kept alive only by")) {
		atomic_fetch_add(&zombie_false_positives, 1);
		return;
	}
	die("unexpected warning: %s", msg);
}

/* ------------------------------------------------------------------ */
/* Random jobs.                                                         */

static enum round_kind round_kind(const struct stress *s, uint64_t round)
{
	uint64_t x = s->seed ^ (round * 0x9e3779b97f4a7c15ull);

	if (round % 5 == 4)
		return ROUND_SPAN;
	return tu_splitmix64(&x) % 3 == 0 ? ROUND_SYNC : ROUND_ASYNC;
}

static uint64_t rnd(struct thr *t, uint64_t n)
{
	return tu_rng_below(&t->rng, n);
}

static bool chance(struct thr *t, unsigned int pct)
{
	return tu_rng_chance(&t->rng, pct);
}

/* A random request inside [lo, hi); @canon is the slot's own object. */
static void random_req(struct thr *t, struct gpuvm_bind_req *r, uint64_t lo,
		       uint64_t hi, struct qt_bo *canon)
{
	struct stress *s = t->s;
	uint64_t pages = (hi - lo) / QT_PAGE, size, addr;
	unsigned int kind = (unsigned int)rnd(t, 100);
	struct qt_bo *bo;

	memset(r, 0, sizeof(*r));
	if (chance(t, 10)) {
		/* Whole 2 MiB blocks: large page-table entries. */
		uint64_t blocks = (hi - lo) / (2 * MiB);
		uint64_t nb = 1 + rnd(t, blocks > 1 ? 2 : 1);

		if (nb > blocks)
			nb = blocks;
		size = nb * 2 * MiB;
		addr = lo + rnd(t, blocks - nb + 1) * 2 * MiB;
	} else {
		uint64_t maxp = chance(t, 50) ? 16 : chance(t, 60) ? 256 : 512;

		if (maxp > pages)
			maxp = pages;
		size = (1 + rnd(t, maxp)) * QT_PAGE;
		addr = lo + rnd(t, pages - size / QT_PAGE + 1) * QT_PAGE;
	}
	r->addr = addr;
	r->range = size;
	if (kind < 25) {
		r->op = GPUVM_BIND_OP_UNMAP;
		return;
	}
	r->op = GPUVM_BIND_OP_MAP;
	if (kind < 40) {
		r->flags = GPUVM_BIND_SPARSE;
	} else if (kind < 65 && canon) {
		/* The slot's object at the slot's offsets: keep happens. */
		r->obj = &canon->gem;
		r->offset = addr - lo;
	} else {
		bo = &s->bos[rnd(t, NBOS)];
		r->obj = &bo->gem;
		r->offset =
			rnd(t, (bo->gem.size - size) / QT_PAGE + 1) * QT_PAGE;
		if (size % (2 * MiB) == 0)
			r->offset &= ~(2 * MiB - 1);
	}
	if (chance(t, 20))
		r->flags |= (uint32_t)rnd(t, 8) << 1;
}

static void pool_add(struct stress *s, struct gpuvm_fence *f)
{
	pthread_mutex_lock(&s->pool_lock);
	if (s->pool_n < POOL)
		s->pool[s->pool_n++] = gpuvm_fence_get(f);
	pthread_mutex_unlock(&s->pool_lock);
}

static struct gpuvm_fence *pool_pick(struct thr *t)
{
	struct stress *s = t->s;
	struct gpuvm_fence *f = NULL;

	pthread_mutex_lock(&s->pool_lock);
	if (s->pool_n)
		f = gpuvm_fence_get(s->pool[rnd(t, s->pool_n)]);
	pthread_mutex_unlock(&s->pool_lock);
	return f;
}

static void pool_clear(struct stress *s)
{
	for (unsigned int i = 0; i < s->pool_n; i++)
		gpuvm_fence_put(s->pool[i]);
	s->pool_n = 0;
}

/* ------------------------------------------------------------------ */
/* Checking.                                                            */

/* The status a job must have: its first failed input's, in order. */
static int expected_status(const struct sjob *j)
{
	for (unsigned int i = 0; i < j->nr_in; i++) {
		int st = gpuvm_fence_get_status(j->in[i]);

		if (st <= 0)
			return st ? st : -EBUSY;
	}
	return 1;
}

static void settle_job(struct thr *t, struct sjob *j)
{
	struct stress *s = t->s;
	int want = expected_status(j);
	int got = gpuvm_fence_get_status(j->fence);

	if (want == -EBUSY)
		die("job signalled before its input fences");
	if (got != want)
		die("job status %d, its inputs say %d", got, want);
	if (got == 1) {
		pthread_mutex_lock(&s->model_lock);
		qt_model_apply_all(&s->model, j->reqs, j->nr);
		pthread_mutex_unlock(&s->model_lock);
	} else {
		atomic_fetch_add(&s->jobs_failed, 1);
	}
	for (unsigned int i = 0; i < j->nr_in; i++)
		gpuvm_fence_put(j->in[i]);
	j->nr_in = 0;
}

static void check_range(struct stress *s, uint64_t lo, uint64_t hi)
{
	char msg[256] = "";
	int ret;

	pthread_mutex_lock(&s->model_lock);
	ret = qt_compare_range(&s->c, &s->model, lo, hi, msg, sizeof(msg));
	pthread_mutex_unlock(&s->model_lock);
	if (ret)
		die("[0x%" PRIx64 ", 0x%" PRIx64 "): %s", lo, hi, msg);
	atomic_fetch_add(&s->checks, 1);
}

/* ------------------------------------------------------------------ */
/* A thread's round.                                                    */

static void do_round(struct thr *t, uint64_t round, enum round_kind kind)
{
	struct stress *s = t->s;
	unsigned int slot = (t->id + (unsigned int)round) % NTHREADS;
	uint64_t lo = QT_BASE, hi = QT_BASE + WIN;
	unsigned int njobs = kind == ROUND_SPAN ? MAXJOBS : 6 + rnd(t, 5);
	struct qt_bo *canon = &s->bos[0];

	if (kind != ROUND_SPAN) {
		lo = QT_BASE + slot * SLOT;
		hi = lo + SLOT;
		canon = &s->bos[slot % NBOS];
	}
	t->nr_user = 0;
	for (unsigned int k = 0; k < njobs; k++) {
		struct sjob *j = &t->jobs[k];
		struct gpuvm_bind_queue *q = s->q[rnd(t, NQUEUES)];

		j->nr = 1 + (unsigned int)rnd(t, MAXREQ);
		for (unsigned int i = 0; i < j->nr; i++)
			random_req(t, &j->reqs[i], lo, hi,
				   kind == ROUND_SPAN ? NULL : canon);
		j->nr_in = 0;
		if (k)
			j->in[j->nr_in++] =
				gpuvm_fence_get(t->jobs[k - 1].fence);
		if (kind == ROUND_ASYNC && chance(t, 35)) {
			struct gpuvm_fence *f = pool_pick(t);

			if (f) {
				j->in[j->nr_in++] = f;
				atomic_fetch_add(&s->cross_deps, 1);
			}
		}
		if (kind == ROUND_ASYNC && chance(t, 12)) {
			struct gpuvm_fence *u = qt_fence_new();

			t->user[t->nr_user] = u;
			/* Errors late in the chain, so that most jobs run. */
			t->user_err[t->nr_user] =
				k + 3 >= njobs && chance(t, 40) ? -EIO : 0;
			t->nr_user++;
			j->in[j->nr_in++] = gpuvm_fence_get(u);
			atomic_fetch_add(&s->user_fences, 1);
		}
		if (gpuvm_bind_submit(q, j->reqs, j->nr, j->in, j->nr_in,
				      &j->fence))
			die("submit failed");
		atomic_fetch_add(&s->jobs, 1);
		if (kind == ROUND_ASYNC)
			pool_add(s, j->fence);
		if (kind == ROUND_SYNC) {
			/* Checked as soon as its fence signalled. */
			if (gpuvm_fence_wait_timeout(j->fence,
						     GPUVM_WAIT_FOREVER))
				die("wait failed");
			settle_job(t, j);
			check_range(s, lo, hi);
		}
	}
	for (unsigned int i = 0; i < t->nr_user; i++) {
		if (t->user_err[i])
			gpuvm_fence_signal_error(t->user[i], t->user_err[i]);
		else
			gpuvm_fence_signal(t->user[i]);
		gpuvm_fence_put(t->user[i]);
	}
	for (unsigned int k = 0; k < njobs; k++) {
		struct sjob *j = &t->jobs[k];

		if (gpuvm_fence_wait_timeout(j->fence, GPUVM_WAIT_FOREVER))
			die("wait failed");
		if (kind != ROUND_SYNC)
			settle_job(t, j);
	}
	if (kind == ROUND_SPAN || kind == ROUND_ASYNC)
		check_range(s, lo, hi);
	for (unsigned int k = 0; k < njobs; k++)
		gpuvm_fence_put(t->jobs[k].fence);
}

/* ------------------------------------------------------------------ */
/* Destroying a queue with work pending, at a quiescent point.         */

static void recycle_queue(struct stress *s, struct thr *t)
{
	unsigned int k = (unsigned int)rnd(t, NQUEUES);
	bool cancel = chance(t, 50);
	struct gpuvm_fence *u = qt_fence_new(), *f[3];
	struct sjob j;

	for (int i = 0; i < 3; i++) {
		j.nr = 1 + (unsigned int)rnd(t, MAXREQ);
		for (unsigned int r = 0; r < j.nr; r++)
			random_req(t, &j.reqs[r], QT_BASE, QT_BASE + WIN, NULL);
		if (gpuvm_bind_submit(s->q[k], j.reqs, j.nr, i ? NULL : &u,
				      i ? 0 : 1, &f[i]))
			die("submit failed");
		if (!cancel)
			qt_model_apply_all(&s->model, j.reqs, j.nr);
	}
	if (!cancel)
		gpuvm_fence_signal(u);
	gpuvm_bind_queue_destroy(s->q[k], cancel ? GPUVM_BIND_QUEUE_CANCEL
						 : GPUVM_BIND_QUEUE_DRAIN);
	for (int i = 0; i < 3; i++) {
		int st = gpuvm_fence_get_status(f[i]);

		if (st != (cancel ? -ECANCELED : 1))
			die("destroyed queue's job has status %d", st);
		gpuvm_fence_put(f[i]);
	}
	if (cancel) {
		atomic_fetch_add(&s->cancelled, 3);
		gpuvm_fence_signal(u);
	}
	gpuvm_fence_put(u);
	if (gpuvm_bind_queue_create(s->c.bvm, "recycled", &s->q[k]))
		die("queue create failed");
}

static void *thread_fn(void *arg)
{
	struct thr *t = arg;
	struct stress *s = t->s;

	for (uint64_t round = 0; round < s->rounds; round++) {
		enum round_kind kind = round_kind(s, round);

		pthread_barrier_wait(&s->barrier);
		if (kind != ROUND_SPAN || t->id == 0)
			do_round(t, round, kind);
		pthread_barrier_wait(&s->barrier);
		if (t->id == 0) {
			/* Quiescent: every fence of the round signalled. */
			pool_clear(s);
			check_range(s, QT_BASE, QT_BASE + WIN);
			if (round % 4 == 3) {
				recycle_queue(s, t);
				check_range(s, QT_BASE, QT_BASE + WIN);
			}
		}
	}
	return NULL;
}

/* ------------------------------------------------------------------ */

static void stress_run(bool resv)
{
	struct stress *s = calloc(1, sizeof(*s));
	struct thr *t = calloc(NTHREADS, sizeof(*t));
	pthread_t th[NTHREADS];
	struct gpuvm_bind_stats vst;
	struct tu_state *st = tu_state();
	uint64_t x;

	assert_non_null(s);
	assert_non_null(t);
	s->seed = st->seed ^ (resv ? 0x5eedull : 0);
	g_seed = st->seed;
	s->rounds = st->iterations;
	s->resv = resv;
	atomic_store(&qt_violations, 0);
	atomic_store(&zombie_false_positives, 0);
	gpuvm_set_warn_handler(stress_warn, NULL);
	qt_ctx_init(&s->c, resv);
	for (int i = 0; i < NBOS; i++) {
		uint64_t size = i == 0 ? 2 * WIN : 8 * MiB;
		uint64_t pa = UINT64_C(0x100000000) * (uint64_t)(i + 1);

		if (resv && i >= NBOS / 2)
			qt_bo_init_shared(&s->bos[i], size, pa, s->c.r_obj);
		else
			qt_bo_init(&s->bos[i], size, pa,
				   i % 3 == 2 ? 0x10000 : 0);
	}
	for (int i = 0; i < NQUEUES; i++)
		assert_int_equal(
			gpuvm_bind_queue_create(s->c.bvm, "stress", &s->q[i]),
			0);
	pthread_barrier_init(&s->barrier, NULL, NTHREADS);
	pthread_mutex_init(&s->model_lock, NULL);
	pthread_mutex_init(&s->pool_lock, NULL);
	x = s->seed;
	for (unsigned int i = 0; i < NTHREADS; i++) {
		t[i].s = s;
		t[i].id = i;
		tu_rng_seed(&t[i].rng, tu_splitmix64(&x));
		assert_int_equal(pthread_create(&th[i], NULL, thread_fn, &t[i]),
				 0);
	}
	for (unsigned int i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);

	for (int i = 0; i < NQUEUES; i++)
		gpuvm_bind_queue_destroy(s->q[i],
					 i % 2 ? GPUVM_BIND_QUEUE_CANCEL
					       : GPUVM_BIND_QUEUE_DRAIN);
	gpuvm_bind_vm_get_stats(s->c.bvm, &vst);
	printf("%s: %lu jobs (%lu failed by input fences, %lu cancelled), "
	       "%lu cross-thread deps, %lu user fences, %lu checks; "
	       "%" PRIu64 " ops, %" PRIu64 " remaps, %" PRIu64
	       " pages kept, %" PRIu64 " zombies; %lu benign warnings\n",
	       resv ? "resv-protected" : "internal locks",
	       atomic_load(&s->jobs), atomic_load(&s->jobs_failed),
	       atomic_load(&s->cancelled), atomic_load(&s->cross_deps),
	       atomic_load(&s->user_fences), atomic_load(&s->checks), vst.ops,
	       vst.steps_remap, vst.pt_pages_kept, vst.zombies_created,
	       atomic_load(&zombie_false_positives));
	assert_int_equal(vst.violations, 0);
	assert_int_equal(vst.run_errors, 0);
	assert_int_equal(vst.jobs_cleaned, vst.jobs_submitted);
	assert_int_equal(vst.zombies_cleaned, vst.zombies_created);
	assert_int_equal(atomic_load(&qt_violations), 0);
	qt_assert_no_held_alloc();
	tu_expect_warnings(atomic_load(&zombie_false_positives));

	qt_model_fini(&s->model);
	qt_ctx_fini(&s->c);
	for (int i = 0; i < NBOS; i++) {
		assert_int_equal(gpuvm_kref_read(&s->bos[i].gem.refcount), 1);
		gpuvm_gem_put(&s->bos[i].gem);
		assert_int_equal(atomic_load(&s->bos[i].frees), 1);
	}
	pthread_barrier_destroy(&s->barrier);
	pthread_mutex_destroy(&s->model_lock);
	pthread_mutex_destroy(&s->pool_lock);
	gpuvm_set_warn_handler(tu_warn_handler, st);
	free(t);
	free(s);
}

static void test_stress_internal_locks(void **state)
{
	(void)state;
	stress_run(false);
}

static void test_stress_resv_protected(void **state)
{
	(void)state;
	stress_run(true);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		TU_TEST(test_stress_internal_locks),
		TU_TEST(test_stress_resv_protected),
	};

	tu_init(argc, argv, 1, 60);
	qt_install_handler();
	return cmocka_run_group_tests_name("queue-stress", tests, NULL, NULL);
}
