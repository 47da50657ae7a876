// SPDX-License-Identifier: MIT
/*
 * Copyright (c) 2026 The libgpuvm authors
 *
 * gpuvm-sync-bench: what the synchronisation layer costs, in one run.
 *
 *   exec   lock and unlock of 1, 16 and 256 GEM objects (each with its own
 *          reservation) through the whole gpuvm_exec loop, on one thread and
 *          with two threads locking overlapping sets of the same objects in
 *          random order; next to the floor a user would otherwise build:
 *          one pthread mutex per object, the set sorted by address, locked
 *          in that order and unlocked.
 *   resv   adding a fence to a reservation that holds 1, 8 or 64 fences,
 *          with a new context each time or replacing the fence of the same
 *          context: per add, and per lock + reserve + add + unlock cycle.
 *   fence  signalling with 0, 1 and 8 callbacks, registering a callback,
 *          init + signal + put, and waiting on a signalled fence.
 *
 * It prints a table, the stated target with the measured value and PASS or
 * MISS, and with --json a machine-readable document. Every figure is a
 * median over many short timed batches, so that batches hit by another
 * process on a shared machine are outliers rather than part of the figure;
 * the 10th and 90th percentile batches and the range of the per-repetition
 * medians show the spread. The two threads of a contended run are pinned to
 * one CPU each, and their figures come only from batches during which both
 * really ran at once: on a busy machine they otherwise take turns on one CPU
 * and never contend.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <gpuvm/alloc.h>
#include <gpuvm/exec.h>
#include <gpuvm/fence.h>
#include <gpuvm/gem.h>
#include <gpuvm/mutex.h>
#include <gpuvm/resv.h>

#include "common.h"

#ifndef SYNC_BENCH_BUILDTYPE
#define SYNC_BENCH_BUILDTYPE "unknown"
#endif
#ifndef SYNC_BENCH_VERSION
#define SYNC_BENCH_VERSION "unknown"
#endif

/* The target: uncontended exec of TARGET_OBJS objects / the pthread floor. */
#define TARGET_OBJS  16
#define TARGET_RATIO 2.0

#define NR_SIZES 3
static const unsigned int exec_sizes[NR_SIZES] = { 1, 16, 256 };
#define MAX_OBJS 256

/*
 * Object locks per timed exec batch (1024 transactions of 1 object, 4 of
 * 256): long enough to dwarf the clock, short enough that few batches are
 * preempted.
 */
#define EXEC_BATCH_LOCKS 1024
/* Fewer parallel 2-thread samples than this make no figure. */
#define MIN_PARALLEL 10
/* Random sets kept per ring: enough that consecutive sets look unrelated. */
#define RING_ENTRIES 65536

#define NR_RESV_SIZES 3
static const unsigned int resv_sizes[NR_RESV_SIZES] = { 1, 8, 64 };
#define RESV_BATCH 256

#define FENCE_BATCH	 512
#define FENCE_WAIT_BATCH 4096
#define MAX_CBS		 8

struct options {
	uint64_t seed;
	bool quick;
	unsigned int reps;
	unsigned int exec_batches;
	unsigned int contended_ms;
	unsigned int resv_batches;
	unsigned int fence_batches;
	bool json;
	const char *json_path;
};

static uint64_t clock_overhead;
static volatile uint64_t sink;

static _Noreturn void die(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("gpuvm-sync-bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (!p)
		die("out of memory");
	return p;
}

/* Clock overhead is taken off every timed interval once. */
static inline double elapsed(uint64_t t0, uint64_t t1)
{
	uint64_t d = t1 - t0;

	return d > clock_overhead ? (double)(d - clock_overhead) : 0.0;
}

/* splitmix64: small, fast, and good enough to shuffle. */
static uint64_t rng_next(uint64_t *state)
{
	uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static uint64_t lib_total_allocs(void)
{
	struct gpuvm_alloc_stats s;

	gpuvm_alloc_get_stats(&s);
	return s.total_allocs;
}

/* Statistics ------------------------------------------------------------ */

/*
 * One figure: a sample per timed batch (ns per operation), and the median
 * of each repetition's samples, which shows whether the load on the machine
 * changed between repetitions.
 */
struct series {
	double *v;
	size_t n;
	size_t cap;
	double *rep_med;
	unsigned int nr_reps;
	size_t rep_start;
};

struct summary {
	bool valid;
	size_t n;
	double med;
	double p10;
	double p90;
	double mean;
	double rep_min;
	double rep_max;
};

static void series_init(struct series *s, unsigned int reps)
{
	memset(s, 0, sizeof(*s));
	s->rep_med = xcalloc(reps, sizeof(double));
}

static void series_fini(struct series *s)
{
	free(s->v);
	free(s->rep_med);
	memset(s, 0, sizeof(*s));
}

static void series_add(struct series *s, double x)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 256;
		double *v = realloc(s->v, cap * sizeof(*v));

		if (!v)
			die("out of memory");
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = x;
}

static void series_begin_rep(struct series *s)
{
	s->rep_start = s->n;
}

static void series_end_rep(struct series *s)
{
	size_t k = s->n - s->rep_start;
	double *tmp;

	if (!k)
		return;
	tmp = xcalloc(k, sizeof(*tmp));
	memcpy(tmp, s->v + s->rep_start, k * sizeof(*tmp));
	bench_sort_doubles(tmp, k);
	s->rep_med[s->nr_reps++] = bench_quantile(tmp, k, 0.5);
	free(tmp);
}

static void series_summary(const struct series *s, struct summary *out)
{
	double *tmp, sum = 0.0;
	size_t i;
	unsigned int r;

	memset(out, 0, sizeof(*out));
	if (!s->n)
		return;
	tmp = xcalloc(s->n, sizeof(*tmp));
	memcpy(tmp, s->v, s->n * sizeof(*tmp));
	/* Sorts tmp, which the sum and the percentiles below read. */
	out->med = bench_median(tmp, s->n);
	for (i = 0; i < s->n; i++)
		sum += tmp[i];
	out->valid = true;
	out->n = s->n;
	out->p10 = bench_quantile(tmp, s->n, 0.10);
	out->p90 = bench_quantile(tmp, s->n, 0.90);
	out->mean = sum / (double)s->n;
	out->rep_min = out->rep_max = s->nr_reps ? s->rep_med[0] : out->med;
	for (r = 1; r < s->nr_reps; r++) {
		if (s->rep_med[r] < out->rep_min)
			out->rep_min = s->rep_med[r];
		if (s->rep_med[r] > out->rep_max)
			out->rep_max = s->rep_med[r];
	}
	free(tmp);
}

/* Objects and the sets locked -------------------------------------------- */

/*
 * A buffer as a driver would have it: the GEM object, and the plain mutex
 * the floor locks instead, in the same struct so that both pay the same
 * cache footprint per object.
 */
struct sb_obj {
	struct gpuvm_gem gem;
	pthread_mutex_t plain;
};

static void sb_obj_free(struct gpuvm_gem *obj)
{
	/* The pool owns the memory. */
	(void)obj;
}

static const struct gpuvm_gem_funcs sb_gem_funcs = {
	.free = sb_obj_free,
};

static inline struct sb_obj *sb_obj_of(struct gpuvm_gem *gem)
{
	return gpuvm_container_of(gem, struct sb_obj, gem);
}

struct sb_pool {
	struct sb_obj *objs;
	unsigned int n;
};

static void pool_init(struct sb_pool *p, unsigned int n)
{
	unsigned int i;

	p->n = n;
	p->objs = xcalloc(n, sizeof(*p->objs));
	for (i = 0; i < n; i++) {
		if (gpuvm_gem_init(&p->objs[i].gem, &sb_gem_funcs, 4096))
			die("gpuvm_gem_init failed");
		pthread_mutex_init(&p->objs[i].plain, NULL);
	}
}

static void pool_fini(struct sb_pool *p)
{
	unsigned int i;

	for (i = 0; i < p->n; i++) {
		gpuvm_gem_put(&p->objs[i].gem);
		pthread_mutex_destroy(&p->objs[i].plain);
	}
	free(p->objs);
	memset(p, 0, sizeof(*p));
}

/*
 * Pointers are compared as integers: relational operators on pointers to
 * unrelated objects are undefined.
 */
static inline uintptr_t addr_of(const struct gpuvm_gem *g)
{
	return (uintptr_t)(const void *)g;
}

/*
 * The floor's sort: quicksort on the pointer values (median of three, the
 * middle element as Hoare pivot) down to insertion sort, all inline, so
 * that the floor is not slowed by qsort()'s indirect comparisons.
 */
static void sort_ptrs(struct gpuvm_gem **v, size_t n)
{
	struct gpuvm_gem *t;
	size_t i, j;

	while (n > 16) {
		size_t mid = (n - 1) / 2;
		ptrdiff_t lo = -1, hi = (ptrdiff_t)n;
		uintptr_t p;

		if (addr_of(v[mid]) < addr_of(v[0])) {
			t = v[mid], v[mid] = v[0], v[0] = t;
		}
		if (addr_of(v[n - 1]) < addr_of(v[mid])) {
			t = v[mid], v[mid] = v[n - 1], v[n - 1] = t;
			if (addr_of(v[mid]) < addr_of(v[0])) {
				t = v[mid], v[mid] = v[0], v[0] = t;
			}
		}
		p = addr_of(v[mid]);
		for (;;) {
			do
				lo++;
			while (addr_of(v[lo]) < p);
			do
				hi--;
			while (addr_of(v[hi]) > p);
			if (lo >= hi)
				break;
			t = v[lo], v[lo] = v[hi], v[hi] = t;
		}
		/* [0, hi] <= p <= [hi + 1, n); recurse into the smaller. */
		i = (size_t)hi + 1;
		if (i < n - i) {
			sort_ptrs(v, i);
			v += i;
			n -= i;
		} else {
			sort_ptrs(v + i, n - i);
			n = i;
		}
	}
	for (i = 1; i < n; i++) {
		t = v[i];
		for (j = i; j && addr_of(v[j - 1]) > addr_of(t); j--)
			v[j] = v[j - 1];
		v[j] = t;
	}
}

/*
 * Pre-drawn sets, so that no random number is drawn inside a timed batch:
 * each set is @n distinct objects of the pool in random order.
 */
struct sb_ring {
	struct gpuvm_gem **sets;
	unsigned int n;
	size_t nr_sets;
	size_t next;
};

static void ring_init(struct sb_ring *r, struct sb_pool *pool, unsigned int n,
		      bool sorted, uint64_t seed)
{
	unsigned int *perm = xcalloc(pool->n, sizeof(*perm));
	uint64_t rng = seed;
	size_t s;
	unsigned int i;

	r->n = n;
	r->nr_sets = RING_ENTRIES / n;
	r->next = 0;
	r->sets = xcalloc(r->nr_sets * n, sizeof(*r->sets));
	for (i = 0; i < pool->n; i++)
		perm[i] = i;
	for (s = 0; s < r->nr_sets; s++) {
		struct gpuvm_gem **set = &r->sets[s * n];

		/* A partial Fisher-Yates shuffle: the first n are the set. */
		for (i = 0; i < n; i++) {
			unsigned int j = i + (unsigned int)(rng_next(&rng) %
							    (pool->n - i));
			unsigned int t = perm[i];

			perm[i] = perm[j];
			perm[j] = t;
			set[i] = &pool->objs[perm[i]].gem;
		}
		if (sorted)
			sort_ptrs(set, n);
	}
	free(perm);
}

static void ring_fini(struct sb_ring *r)
{
	free(r->sets);
	memset(r, 0, sizeof(*r));
}

static inline struct gpuvm_gem **ring_next(struct sb_ring *r)
{
	struct gpuvm_gem **set = &r->sets[r->next * r->n];

	if (++r->next == r->nr_sets)
		r->next = 0;
	return set;
}

/* Transactions ------------------------------------------------------------ */

enum sb_impl {
	IMPL_EXEC,
	IMPL_EXEC_PREPARE,
	IMPL_EXEC_HINT,
	IMPL_WW_BARE,
	IMPL_PTHREAD,
	IMPL_PTHREAD_PRESORTED,
	NR_IMPLS,
};

static const char *const impl_names[NR_IMPLS] = {
	[IMPL_EXEC] = "exec_lock",
	[IMPL_EXEC_PREPARE] = "exec_prepare1",
	[IMPL_EXEC_HINT] = "exec_lock_nr",
	[IMPL_WW_BARE] = "ww_bare",
	[IMPL_PTHREAD] = "pthread_sorted",
	[IMPL_PTHREAD_PRESORTED] = "pthread_presorted",
};

static const char *const impl_help[NR_IMPLS] = {
	[IMPL_EXEC] = "gpuvm_exec_init(nr = 0), gpuvm_exec_lock_obj() on each "
		      "object in the loop, gpuvm_exec_fini()",
	[IMPL_EXEC_PREPARE] = "the same with gpuvm_exec_prepare_obj(obj, 1): "
			      "lock and reserve one fence slot",
	[IMPL_EXEC_HINT] = "exec_lock with gpuvm_exec_init(nr = number of "
			   "objects): the object array is sized up front",
	[IMPL_WW_BARE] = "gpuvm_ww_acquire_init, gpuvm_resv_lock(ctx) on "
			 "each, unlock each, acquire_fini: the ww-mutexes "
			 "without the exec (1 thread only: it has no back-off "
			 "path)",
	[IMPL_PTHREAD] = "the floor: copy the set, sort the pointers, "
			 "pthread_mutex_lock in address order, unlock",
	[IMPL_PTHREAD_PRESORTED] = "pthread_sorted without the copy and sort "
				   "(the set arrives sorted)",
};

/*
 * Locks the whole set or returns the first error, as
 * gpuvm_exec_prepare_array() does: gpuvm_exec_retry_on_contention() is a
 * continue, so it must not sit in an inner loop.
 */
static int exec_lock_set(struct gpuvm_exec *exec, struct gpuvm_gem *const *set,
			 unsigned int n, bool prepare)
{
	unsigned int i;
	int ret;

	for (i = 0; i < n; i++) {
		ret = prepare ? gpuvm_exec_prepare_obj(exec, set[i], 1)
			      : gpuvm_exec_lock_obj(exec, set[i]);
		if (ret)
			return ret;
	}
	return 0;
}

static unsigned int txn_exec(struct gpuvm_gem *const *set, unsigned int n,
			     unsigned int nr, bool prepare)
{
	struct gpuvm_exec exec;
	unsigned int backoffs;
	int ret = 0;

	gpuvm_exec_init(&exec, GPUVM_EXEC_IGNORE_DUPLICATES, nr);
	gpuvm_exec_until_all_locked(&exec) {
		ret = exec_lock_set(&exec, set, n, prepare);
		gpuvm_exec_retry_on_contention(&exec);
		if (ret)
			break;
	}
	if (ret)
		die("exec of %u objects failed: %d", n, ret);
	backoffs = exec.ticket.backoffs;
	gpuvm_exec_fini(&exec);
	return backoffs;
}

static void txn_pthread(struct gpuvm_gem *const *set, unsigned int n,
			struct gpuvm_gem **scratch, bool presorted)
{
	struct gpuvm_gem *const *v = set;
	unsigned int i;

	if (!presorted) {
		memcpy(scratch, set, n * sizeof(*scratch));
		sort_ptrs(scratch, n);
		v = scratch;
	}
	for (i = 0; i < n; i++)
		pthread_mutex_lock(&sb_obj_of(v[i])->plain);
	for (i = n; i--;)
		pthread_mutex_unlock(&sb_obj_of(v[i])->plain);
}

/* Only uncontended: a transaction that cannot die needs no back-off path. */
static void txn_ww(struct gpuvm_gem *const *set, unsigned int n)
{
	struct gpuvm_ww_acquire_ctx ctx;
	unsigned int i;

	gpuvm_ww_acquire_init(&ctx, gpuvm_reservation_ww_class());
	for (i = 0; i < n; i++)
		if (gpuvm_resv_lock(set[i]->resv, &ctx))
			die("gpuvm_resv_lock failed without contention");
	gpuvm_ww_acquire_done(&ctx);
	for (i = n; i--;)
		gpuvm_resv_unlock(set[i]->resv);
	gpuvm_ww_acquire_fini(&ctx);
}

/*
 * One timed batch of @txns transactions; returns the back-offs. After each
 * transaction the thread's @progress counter is bumped (a relaxed store to
 * a line only this thread writes), so that the other thread of a contended
 * run can tell whether they really ran at the same time.
 */
static uint64_t run_batch(enum sb_impl impl, struct sb_ring *ring,
			  unsigned int txns, struct gpuvm_gem **scratch,
			  atomic_uint_fast64_t *progress)
{
	const unsigned int n = ring->n;
	uint_fast64_t done =
		atomic_load_explicit(progress, memory_order_relaxed);
	uint64_t backoffs = 0;
	unsigned int t;

#define BUMP() atomic_store_explicit(progress, ++done, memory_order_relaxed)
	switch (impl) {
	case IMPL_EXEC:
		for (t = 0; t < txns; t++) {
			backoffs += txn_exec(ring_next(ring), n, 0, false);
			BUMP();
		}
		break;
	case IMPL_EXEC_PREPARE:
		for (t = 0; t < txns; t++) {
			backoffs += txn_exec(ring_next(ring), n, 0, true);
			BUMP();
		}
		break;
	case IMPL_EXEC_HINT:
		for (t = 0; t < txns; t++) {
			backoffs += txn_exec(ring_next(ring), n, n, false);
			BUMP();
		}
		break;
	case IMPL_WW_BARE:
		for (t = 0; t < txns; t++) {
			txn_ww(ring_next(ring), n);
			BUMP();
		}
		break;
	case IMPL_PTHREAD:
		for (t = 0; t < txns; t++) {
			txn_pthread(ring_next(ring), n, scratch, false);
			BUMP();
		}
		break;
	case IMPL_PTHREAD_PRESORTED:
		for (t = 0; t < txns; t++) {
			txn_pthread(ring_next(ring), n, scratch, true);
			BUMP();
		}
		break;
	default:
		die("bad implementation %d", (int)impl);
	}
#undef BUMP
	return backoffs;
}

/* One row of the exec table. */
struct exec_row {
	bool valid;
	unsigned int n;
	unsigned int threads;
	enum sb_impl impl;
	unsigned int batch;
	struct series lat;
	struct series ovl;
	struct series agg;
	uint64_t txns;
	uint64_t backoffs;
	uint64_t allocs;
	uint64_t alloc_txns;
	uint64_t batches;
	uint64_t overlapped;
	uint64_t ovl_txns;
	uint64_t ovl_backoffs;
	struct summary lat_s;
	struct summary ovl_s;
	struct summary agg_s;
};

#define UNCONTENDED_IMPLS 6
#define CONTENDED_IMPLS	  3
#define ROWS_PER_SIZE	  (UNCONTENDED_IMPLS + CONTENDED_IMPLS)
#define NR_EXEC_ROWS	  (NR_SIZES * ROWS_PER_SIZE)

static const enum sb_impl uncontended_impls[UNCONTENDED_IMPLS] = {
	IMPL_EXEC,    IMPL_EXEC_PREPARE, IMPL_EXEC_HINT,
	IMPL_WW_BARE, IMPL_PTHREAD,	 IMPL_PTHREAD_PRESORTED,
};
static const enum sb_impl contended_impls[CONTENDED_IMPLS] = {
	IMPL_EXEC,
	IMPL_EXEC_PREPARE,
	IMPL_PTHREAD,
};

static unsigned int exec_batch_txns(unsigned int n)
{
	return n >= EXEC_BATCH_LOCKS ? 1 : EXEC_BATCH_LOCKS / n;
}

/*
 * One thread: every implementation runs the same number of batches per
 * repetition, in an order that rotates with the repetition, so a change in
 * the machine's load hits them alike.
 */
static void exec_uncontended(struct exec_row *rows, unsigned int n,
			     const struct options *o)
{
	struct sb_pool pool;
	struct sb_ring ring, sorted;
	struct gpuvm_gem **scratch = xcalloc(n, sizeof(*scratch));
	const unsigned int txns = exec_batch_txns(n);
	atomic_uint_fast64_t progress;
	unsigned int rep, k, b;

	atomic_init(&progress, 0);
	pool_init(&pool, n);
	ring_init(&ring, &pool, n, false, o->seed ^ (n * UINT64_C(977)));
	ring_init(&sorted, &pool, n, true, o->seed ^ (n * UINT64_C(977)));

	for (k = 0; k < UNCONTENDED_IMPLS; k++) {
		struct exec_row *r = &rows[k];
		enum sb_impl impl = uncontended_impls[k];

		r->valid = true;
		r->n = n;
		r->threads = 1;
		r->impl = impl;
		r->batch = txns;
		series_init(&r->lat, o->reps);
		series_init(&r->ovl, o->reps);
		series_init(&r->agg, o->reps);
		/* Warm-up: caches, and the slot arrays prepare allocates. */
		run_batch(impl,
			  impl == IMPL_PTHREAD_PRESORTED ? &sorted : &ring,
			  txns, scratch, &progress);
	}
	/*
	 * The implementations take turns batch by batch, in an order that
	 * rotates, so that each sees the same machine: on a shared machine
	 * the speed changes within a repetition.
	 */
	for (rep = 0; rep < o->reps; rep++) {
		for (k = 0; k < UNCONTENDED_IMPLS; k++)
			series_begin_rep(&rows[k].lat);
		for (b = 0; b < o->exec_batches; b++) {
			for (k = 0; k < UNCONTENDED_IMPLS; k++) {
				struct exec_row *r = &rows[(rep + b + k) %
							   UNCONTENDED_IMPLS];
				struct sb_ring *rg =
					r->impl == IMPL_PTHREAD_PRESORTED
						? &sorted
						: &ring;
				uint64_t a0 = lib_total_allocs(), t0, t1, bo;

				t0 = bench_now_ns();
				bo = run_batch(r->impl, rg, txns, scratch,
					       &progress);
				t1 = bench_now_ns();
				r->allocs += lib_total_allocs() - a0;
				r->alloc_txns += txns;
				series_add(&r->lat, elapsed(t0, t1) / txns);
				r->backoffs += bo;
				r->txns += txns;
				r->batches++;
			}
		}
		for (k = 0; k < UNCONTENDED_IMPLS; k++)
			series_end_rep(&rows[k].lat);
	}
	ring_fini(&sorted);
	ring_fini(&ring);
	pool_fini(&pool);
	free(scratch);
}

struct contended_run;

struct dvec {
	double *v;
	size_t n;
	size_t cap;
};

/*
 * @progress is first and the struct is cache-line aligned, so that the
 * counter the other thread polls shares its line with nothing the other
 * thread writes.
 */
struct worker {
	_Alignas(64) atomic_uint_fast64_t progress;
	pthread_t thread;
	struct contended_run *run;
	unsigned int id;
	struct sb_ring *ring;
	struct dvec lat;
	struct dvec ovl;
	uint64_t txns;
	uint64_t win_txns;
	uint64_t win_backoffs;
	uint64_t ovl_txns;
	uint64_t ovl_backoffs;
	uint64_t batches;
	uint64_t overlapped;
	uint64_t t_first;
	uint64_t t_last;
	struct gpuvm_gem *scratch[MAX_OBJS];
};

struct contended_run {
	bool pin;
	int cpu[2];
	enum sb_impl impl;
	unsigned int txns;
	uint64_t duration_ns;
	pthread_barrier_t start;
	atomic_uint_fast64_t deadline;
	atomic_uint running;
	struct worker w[2];
};

static void dvec_push(struct dvec *d, double v)
{
	if (d->n == d->cap) {
		size_t cap = d->cap ? 2 * d->cap : 1024;
		double *v2 = realloc(d->v, cap * sizeof(*v2));

		if (!v2)
			die("out of memory");
		d->v = v2;
		d->cap = cap;
	}
	d->v[d->n++] = v;
}

/* Involuntary context switches of the calling thread so far. */
static long preemptions(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_THREAD, &ru))
		die("getrusage failed");
	return ru.ru_nivcsw;
}

/*
 * Runs batches until a deadline common to both threads. A batch is a
 * 2-thread sample if both threads were inside their loops when it began
 * and when it ended. It is a parallel sample if, besides, the other thread
 * finished a transaction meanwhile and this thread was not preempted: the
 * two really ran at the same time, on two CPUs. On a machine shared with
 * other work the rest ran time-sliced with the other thread (a preempted
 * lock holder included), so only parallel samples measure contention.
 * Sleeping on a lock is a voluntary switch and does not disqualify one.
 */
static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct contended_run *run = w->run;
	struct worker *other = &run->w[!w->id];
	uint_fast64_t zero = 0, deadline;

	if (run->pin) {
		cpu_set_t set;

		/*
		 * One CPU each: left alone, the scheduler tends to wake a
		 * lock waiter on its waker's CPU, and the two then share one.
		 */
		CPU_ZERO(&set);
		CPU_SET(run->cpu[w->id], &set);
		pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	}
	pthread_barrier_wait(&run->start);
	w->t_first = bench_now_ns();
	atomic_compare_exchange_strong(&run->deadline, &zero,
				       w->t_first + run->duration_ns);
	deadline = atomic_load(&run->deadline);
	atomic_fetch_add(&run->running, 1);
	for (;;) {
		uint_fast64_t o0, o1;
		unsigned int both0, both1;
		uint64_t t0, t1, bo;
		long p0, p1;

		p0 = preemptions();
		both0 = atomic_load(&run->running);
		o0 = atomic_load_explicit(&other->progress,
					  memory_order_relaxed);
		t0 = bench_now_ns();
		bo = run_batch(run->impl, w->ring, run->txns, w->scratch,
			       &w->progress);
		t1 = bench_now_ns();
		o1 = atomic_load_explicit(&other->progress,
					  memory_order_relaxed);
		both1 = atomic_load(&run->running);
		p1 = preemptions();
		w->txns += run->txns;
		if (both0 == 2 && both1 == 2) {
			double v = elapsed(t0, t1) / run->txns;

			dvec_push(&w->lat, v);
			w->batches++;
			w->win_txns += run->txns;
			w->win_backoffs += bo;
			if (o1 != o0 && p1 == p0) {
				dvec_push(&w->ovl, v);
				w->overlapped++;
				w->ovl_txns += run->txns;
				w->ovl_backoffs += bo;
			}
		}
		if (t1 >= deadline) {
			w->t_last = t1;
			break;
		}
	}
	atomic_fetch_sub(&run->running, 1);
	return NULL;
}

/* The first two CPUs this process may run on, if there are two. */
static bool pick_cpus(int cpu[2])
{
	cpu_set_t set;
	int c, k = 0;

	if (sched_getaffinity(0, sizeof(set), &set))
		return false;
	for (c = 0; c < CPU_SETSIZE && k < 2; c++)
		if (CPU_ISSET(c, &set))
			cpu[k++] = c;
	return k == 2;
}

/*
 * Two threads, each locking n objects drawn at random from a shared pool
 * of 2n, in random order: two concurrent sets share n/2 objects on average
 * (for n = 1, half the transactions want the same object).
 */
static void exec_contended(struct exec_row *rows, unsigned int n,
			   const struct options *o)
{
	struct sb_pool pool;
	struct sb_ring rings[2];
	const unsigned int txns = exec_batch_txns(n);
	unsigned int rep, k, i;
	int cpu[2];
	bool pin;

	pin = pick_cpus(cpu);
	pool_init(&pool, 2 * n);
	for (i = 0; i < 2; i++)
		ring_init(&rings[i], &pool, n, false,
			  o->seed ^ (n * UINT64_C(977) + 1 + i));

	for (k = 0; k < CONTENDED_IMPLS; k++) {
		struct exec_row *r = &rows[k];

		r->valid = true;
		r->n = n;
		r->threads = 2;
		r->impl = contended_impls[k];
		r->batch = txns;
		series_init(&r->lat, o->reps);
		series_init(&r->ovl, o->reps);
		series_init(&r->agg, o->reps);
	}
	/* Repetition 0 warms up and is not recorded. */
	for (rep = 0; rep <= o->reps; rep++) {
		for (k = 0; k < CONTENDED_IMPLS; k++) {
			struct exec_row *r = &rows[(rep + k) % CONTENDED_IMPLS];
			struct contended_run *run =
				aligned_alloc(64, sizeof(*run));
			uint64_t a0, all = 0, tf = UINT64_MAX, tl = 0;

			if (!run)
				die("out of memory");
			memset(run, 0, sizeof(*run));
			run->pin = pin;
			run->cpu[0] = cpu[0];
			run->cpu[1] = cpu[1];
			run->impl = r->impl;
			run->txns = txns;
			run->duration_ns =
				rep ? o->contended_ms * UINT64_C(1000000)
				    : UINT64_C(5000000);
			atomic_init(&run->deadline, 0);
			atomic_init(&run->running, 0);
			if (pthread_barrier_init(&run->start, NULL, 2))
				die("pthread_barrier_init failed");
			a0 = lib_total_allocs();
			for (i = 0; i < 2; i++) {
				struct worker *w = &run->w[i];

				atomic_init(&w->progress, 0);
				w->run = run;
				w->id = i;
				w->ring = &rings[i];
				if (pthread_create(&w->thread, NULL,
						   worker_main, w))
					die("pthread_create failed");
			}
			for (i = 0; i < 2; i++)
				pthread_join(run->w[i].thread, NULL);
			pthread_barrier_destroy(&run->start);
			if (!rep) {
				for (i = 0; i < 2; i++) {
					free(run->w[i].lat.v);
					free(run->w[i].ovl.v);
				}
				free(run);
				continue;
			}
			r->allocs += lib_total_allocs() - a0;

			series_begin_rep(&r->lat);
			series_begin_rep(&r->ovl);
			for (i = 0; i < 2; i++) {
				struct worker *w = &run->w[i];
				size_t j;

				for (j = 0; j < w->lat.n; j++)
					series_add(&r->lat, w->lat.v[j]);
				for (j = 0; j < w->ovl.n; j++)
					series_add(&r->ovl, w->ovl.v[j]);
				r->txns += w->win_txns;
				r->backoffs += w->win_backoffs;
				r->ovl_txns += w->ovl_txns;
				r->ovl_backoffs += w->ovl_backoffs;
				r->batches += w->batches;
				r->overlapped += w->overlapped;
				r->alloc_txns += w->txns;
				all += w->txns;
				if (w->t_first < tf)
					tf = w->t_first;
				if (w->t_last > tl)
					tl = w->t_last;
				free(w->lat.v);
				free(w->ovl.v);
			}
			series_end_rep(&r->lat);
			series_end_rep(&r->ovl);
			/* Throughput of the pair: wall time per transaction. */
			if (all && tl > tf)
				series_add(&r->agg,
					   (double)(tl - tf) / (double)all);
			free(run);
		}
	}
	for (i = 0; i < 2; i++)
		ring_fini(&rings[i]);
	pool_fini(&pool);
}

/* Reservations ------------------------------------------------------------ */

struct resv_row {
	unsigned int nfences;
	bool same_ctx;
	struct series add;
	struct series cycle;
	struct summary add_s;
	struct summary cycle_s;
};

/*
 * The fences one batch adds. Two pools take turns: when a pool is refilled,
 * the reservation holds the last fence of the other pool, so no fence of
 * this one is still referenced but by the pool.
 */
struct fence_pool {
	struct gpuvm_fence *f;
	bool live;
};

static void fence_pool_fill(struct fence_pool *p, bool same_ctx, uint64_t ctx,
			    uint64_t *seqno)
{
	unsigned int i;

	for (i = 0; i < RESV_BATCH; i++) {
		struct gpuvm_fence *f = &p->f[i];

		if (p->live)
			gpuvm_fence_put(f);
		if (same_ctx) {
			gpuvm_fence_init(f, NULL, ctx, ++*seqno);
		} else {
			/*
			 * The previous job on the buffer has finished: its
			 * signalled entry is the one a new context replaces.
			 */
			gpuvm_fence_init(f, NULL, gpuvm_fence_context_alloc(1),
					 1);
			gpuvm_fence_signal(f);
		}
	}
	p->live = true;
}

static void fence_pool_fini(struct fence_pool *p)
{
	unsigned int i;

	if (p->live)
		for (i = 0; i < RESV_BATCH; i++)
			gpuvm_fence_put(&p->f[i]);
	free(p->f);
}

static void resv_check(struct gpuvm_resv *resv, unsigned int nfences)
{
	if (resv->num_fences != nfences)
		die("reservation holds %u fences instead of %u",
		    resv->num_fences, nfences);
}

/*
 * The reservation holds nfences - 1 unsignalled read fences of other
 * contexts (other queues still reading the buffer) and, last, the entry
 * the timed adds replace, so every add scans the whole array as a
 * steady-state add does.
 */
struct resv_state {
	struct resv_row *row;
	struct gpuvm_resv resv;
	struct gpuvm_fence *others;
	struct gpuvm_fence slot0;
	struct fence_pool pools[2];
	uint64_t ctx;
	uint64_t seqno;
	unsigned int turn;
};

static void resv_setup(struct resv_state *st, struct resv_row *row,
		       const struct options *o)
{
	const unsigned int nf = row->nfences;
	const bool same = row->same_ctx;
	unsigned int i;

	memset(st, 0, sizeof(*st));
	st->row = row;
	st->others = xcalloc(nf, sizeof(*st->others));
	st->ctx = gpuvm_fence_context_alloc(1);
	series_init(&row->add, o->reps);
	series_init(&row->cycle, o->reps);
	for (i = 0; i < 2; i++)
		st->pools[i].f = xcalloc(RESV_BATCH, sizeof(*st->pools[i].f));
	gpuvm_resv_init(&st->resv);
	gpuvm_resv_lock(&st->resv, NULL);
	if (gpuvm_resv_reserve_fences(&st->resv, nf))
		die("gpuvm_resv_reserve_fences failed");
	for (i = 0; i + 1 < nf; i++) {
		gpuvm_fence_init(&st->others[i], NULL,
				 gpuvm_fence_context_alloc(1), 1);
		gpuvm_resv_add_fence(&st->resv, &st->others[i],
				     GPUVM_RESV_USAGE_READ);
	}
	gpuvm_fence_init(&st->slot0, NULL,
			 same ? st->ctx : gpuvm_fence_context_alloc(1),
			 same ? ++st->seqno : 1);
	if (!same)
		gpuvm_fence_signal(&st->slot0);
	gpuvm_resv_add_fence(&st->resv, &st->slot0, GPUVM_RESV_USAGE_WRITE);
	gpuvm_resv_unlock(&st->resv);
	resv_check(&st->resv, nf);
}

/*
 * Phase 0: RESV_BATCH adds timed inside one lock hold (a new context
 * consumes a reserved slot per add, so as many are reserved first); phase
 * 1: RESV_BATCH cycles of lock, reserve 1, add, unlock. Returns ns per add
 * or per cycle.
 */
static double resv_batch(struct resv_state *st, unsigned int phase)
{
	const bool same = st->row->same_ctx;
	struct fence_pool *fp = &st->pools[st->turn++ % 2];
	struct gpuvm_resv *resv = &st->resv;
	uint64_t t0, t1;
	unsigned int i;

	fence_pool_fill(fp, same, st->ctx, &st->seqno);
	if (!phase) {
		gpuvm_resv_lock(resv, NULL);
		if (gpuvm_resv_reserve_fences(resv, same ? 1 : RESV_BATCH))
			die("reserve failed");
		t0 = bench_now_ns();
		for (i = 0; i < RESV_BATCH; i++)
			gpuvm_resv_add_fence(resv, &fp->f[i],
					     GPUVM_RESV_USAGE_WRITE);
		t1 = bench_now_ns();
		gpuvm_resv_unlock(resv);
	} else {
		t0 = bench_now_ns();
		for (i = 0; i < RESV_BATCH; i++) {
			gpuvm_resv_lock(resv, NULL);
			if (gpuvm_resv_reserve_fences(resv, 1))
				die("reserve failed");
			gpuvm_resv_add_fence(resv, &fp->f[i],
					     GPUVM_RESV_USAGE_WRITE);
			gpuvm_resv_unlock(resv);
		}
		t1 = bench_now_ns();
	}
	resv_check(resv, st->row->nfences);
	return elapsed(t0, t1) / RESV_BATCH;
}

static void resv_teardown(struct resv_state *st)
{
	unsigned int i;

	gpuvm_resv_fini(&st->resv);
	for (i = 0; i < 2; i++)
		fence_pool_fini(&st->pools[i]);
	gpuvm_fence_put(&st->slot0);
	for (i = 0; i + 1 < st->row->nfences; i++)
		gpuvm_fence_put(&st->others[i]);
	free(st->others);
}

/*
 * Every reservation and phase takes turns batch by batch, in a rotating
 * order. Repetition 0 (two batches each) grows the arrays once and is not
 * recorded.
 */
static void resv_run(struct resv_row *rows, unsigned int nr,
		     const struct options *o)
{
	struct resv_state *st = xcalloc(nr, sizeof(*st));
	const unsigned int turns = 2 * nr;
	unsigned int i, rep, b, k;

	for (i = 0; i < nr; i++)
		resv_setup(&st[i], &rows[i], o);
	for (rep = 0; rep <= o->reps; rep++) {
		unsigned int nb = rep ? o->resv_batches : 2;

		for (i = 0; rep && i < nr; i++) {
			series_begin_rep(&rows[i].add);
			series_begin_rep(&rows[i].cycle);
		}
		for (b = 0; b < nb; b++) {
			for (k = 0; k < turns; k++) {
				unsigned int t = (k + b + rep) % turns;
				struct resv_row *r = &rows[t / 2];
				double v = resv_batch(&st[t / 2], t % 2);

				if (rep)
					series_add(t % 2 ? &r->cycle : &r->add,
						   v);
			}
		}
		for (i = 0; rep && i < nr; i++) {
			series_end_rep(&rows[i].add);
			series_end_rep(&rows[i].cycle);
		}
	}
	for (i = 0; i < nr; i++)
		resv_teardown(&st[i]);
	free(st);
}

/* Fences ------------------------------------------------------------------ */

enum fence_fig {
	F_SIGNAL0,
	F_SIGNAL1,
	F_SIGNAL8,
	F_ADD_CB,
	F_INIT_SIGNAL_PUT,
	F_WAIT_SIGNALED,
	NR_FENCE_FIGS,
};

static const char *const fence_names[NR_FENCE_FIGS] = {
	[F_SIGNAL0] = "signal_0cb",
	[F_SIGNAL1] = "signal_1cb",
	[F_SIGNAL8] = "signal_8cb",
	[F_ADD_CB] = "add_callback",
	[F_INIT_SIGNAL_PUT] = "init_signal_put",
	[F_WAIT_SIGNALED] = "wait_signaled",
};

static const char *const fence_help[NR_FENCE_FIGS] = {
	[F_SIGNAL0] = "gpuvm_fence_signal(), no callback registered",
	[F_SIGNAL1] = "gpuvm_fence_signal() running 1 trivial callback",
	[F_SIGNAL8] = "gpuvm_fence_signal() running 8 trivial callbacks",
	[F_ADD_CB] = "gpuvm_fence_add_callback() on an unsignalled fence, "
		     "per callback",
	[F_INIT_SIGNAL_PUT] = "gpuvm_fence_init() + gpuvm_fence_signal() + "
			      "last gpuvm_fence_put() of an embedded fence",
	[F_WAIT_SIGNALED] = "gpuvm_fence_wait_timeout(forever) on a signalled "
			    "fence",
};

/* Written only by the signalling thread (this one). */
static uint64_t cb_calls;

static void count_cb(struct gpuvm_fence *fence, struct gpuvm_fence_cb *cb)
{
	(void)fence;
	(void)cb;
	cb_calls++;
}

static void fence_signal_batch(struct series *sig, struct series *add,
			       struct gpuvm_fence *f,
			       struct gpuvm_fence_cb *cbs, unsigned int ncb)
{
	uint64_t ctx = gpuvm_fence_context_alloc(1), t0, t1, calls0;
	unsigned int i, c;

	for (i = 0; i < FENCE_BATCH; i++)
		gpuvm_fence_init(&f[i], NULL, ctx, i + 1);
	t0 = bench_now_ns();
	for (i = 0; i < FENCE_BATCH; i++)
		for (c = 0; c < ncb; c++)
			if (gpuvm_fence_add_callback(
				    &f[i], &cbs[i * MAX_CBS + c], count_cb))
				die("gpuvm_fence_add_callback failed");
	t1 = bench_now_ns();
	if (add && ncb)
		series_add(add, elapsed(t0, t1) / (FENCE_BATCH * ncb));
	calls0 = cb_calls;
	t0 = bench_now_ns();
	for (i = 0; i < FENCE_BATCH; i++)
		gpuvm_fence_signal(&f[i]);
	t1 = bench_now_ns();
	if (cb_calls - calls0 != (uint64_t)FENCE_BATCH * ncb)
		die("%llu callbacks ran instead of %u",
		    (unsigned long long)(cb_calls - calls0), FENCE_BATCH * ncb);
	series_add(sig, elapsed(t0, t1) / FENCE_BATCH);
	for (i = 0; i < FENCE_BATCH; i++)
		gpuvm_fence_put(&f[i]);
}

static void fence_run(struct series *figs, const struct options *o)
{
	struct gpuvm_fence *f = xcalloc(FENCE_BATCH, sizeof(*f));
	struct gpuvm_fence_cb *cbs =
		xcalloc((size_t)FENCE_BATCH * MAX_CBS, sizeof(*cbs));
	struct gpuvm_fence done;
	struct series junk;
	uint64_t ctx = gpuvm_fence_context_alloc(1);
	/* The figures that have a loop of their own; F_ADD_CB rides on 8. */
	static const enum fence_fig loops[] = {
		F_SIGNAL0,	   F_SIGNAL1,	    F_SIGNAL8,
		F_INIT_SIGNAL_PUT, F_WAIT_SIGNALED,
	};
	const unsigned int nl = sizeof(loops) / sizeof(loops[0]);
	unsigned int rep, k, b, i;
	int ret = 0;

	for (k = 0; k < NR_FENCE_FIGS; k++)
		series_init(&figs[k], o->reps);
	/* Where the warm-up's samples go. */
	series_init(&junk, 1);
	gpuvm_fence_init(&done, NULL, ctx, 1);
	gpuvm_fence_signal(&done);

	for (rep = 0; rep <= o->reps; rep++) {
		/* Repetition 0 warms up and is not recorded. */
		unsigned int nb = rep ? o->fence_batches : 1;

		for (k = 0; rep && k < NR_FENCE_FIGS; k++)
			series_begin_rep(&figs[k]);
		for (b = 0; b < nb; b++) {
			for (k = 0; k < nl; k++) {
				enum fence_fig fig = loops[(rep + b + k) % nl];
				struct series *dst = rep ? &figs[fig] : &junk;
				uint64_t t0, t1;

				switch (fig) {
				case F_SIGNAL0:
				case F_SIGNAL1:
				case F_SIGNAL8:
					fence_signal_batch(
						dst,
						rep ? &figs[F_ADD_CB] : &junk,
						f, cbs,
						fig == F_SIGNAL0   ? 0
						: fig == F_SIGNAL1 ? 1
								   : 8);
					break;
				case F_INIT_SIGNAL_PUT:
					t0 = bench_now_ns();
					for (i = 0; i < FENCE_BATCH; i++) {
						gpuvm_fence_init(&f[i], NULL,
								 ctx, i + 2);
						gpuvm_fence_signal(&f[i]);
						gpuvm_fence_put(&f[i]);
					}
					t1 = bench_now_ns();
					series_add(dst, elapsed(t0, t1) /
								FENCE_BATCH);
					break;
				case F_WAIT_SIGNALED:
					t0 = bench_now_ns();
					for (i = 0; i < FENCE_WAIT_BATCH; i++)
						ret |= gpuvm_fence_wait_timeout(
							&done,
							GPUVM_WAIT_FOREVER);
					t1 = bench_now_ns();
					series_add(dst,
						   elapsed(t0, t1) /
							   FENCE_WAIT_BATCH);
					break;
				default:
					break;
				}
			}
		}
		for (k = 0; rep && k < NR_FENCE_FIGS; k++)
			series_end_rep(&figs[k]);
	}
	if (ret)
		die("waiting on a signalled fence returned %d", ret);
	sink += (uint64_t)ret;
	series_fini(&junk);
	gpuvm_fence_put(&done);
	free(cbs);
	free(f);
}

/* Output ------------------------------------------------------------------ */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: gpuvm-sync-bench [options]\n"
		"  --quick          short run (3 repetitions, fewer batches)\n"
		"  --reps N         repetitions; figures are medians over the "
		"batches of all\n"
		"                   of them (default 11, quick 3)\n"
		"  --seed N         random seed of the locked sets (default 1, "
		"or $GPUVM_SEED)\n"
		"  --json [FILE]    write JSON to FILE, or after the table to "
		"standard output\n"
		"  --help           this text\n");
}

static bool parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end)
		return false;
	*out = v;
	return true;
}

static void parse_options(struct options *o, int argc, char **argv)
{
	const char *env = getenv("GPUVM_SEED");
	uint64_t v;
	int reps = -1, i;

	memset(o, 0, sizeof(*o));
	o->seed = 1;
	if (env && !parse_u64(env, &o->seed))
		die("bad GPUVM_SEED '%s'", env);
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *next = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			exit(0);
		} else if (!strcmp(a, "--quick")) {
			o->quick = true;
		} else if (!strcmp(a, "--seed") && next) {
			if (!parse_u64(next, &o->seed))
				die("bad --seed '%s'", next);
			i++;
		} else if (!strcmp(a, "--reps") && next) {
			if (!parse_u64(next, &v) || v < 1 || v > 1000)
				die("bad --reps '%s' (1..1000)", next);
			reps = (int)v;
			i++;
		} else if (!strcmp(a, "--json")) {
			o->json = true;
			if (next && next[0] != '-') {
				o->json_path = next;
				i++;
			}
		} else if (!strncmp(a, "--json=", 7)) {
			o->json = true;
			o->json_path = a + 7;
		} else {
			usage(stderr);
			die("unknown or incomplete option '%s'", a);
		}
	}
	if (o->json_path && !strcmp(o->json_path, "-"))
		o->json_path = NULL;
	o->reps = reps > 0 ? (unsigned int)reps : (o->quick ? 3 : 11);
	o->exec_batches = o->quick ? 40 : 200;
	o->contended_ms = o->quick ? 60 : 250;
	o->resv_batches = o->quick ? 30 : 100;
	o->fence_batches = o->quick ? 30 : 100;
}

/* The median cost of one clock read. */
static void calibrate_clock(void)
{
	enum { N = 1001 };
	static double d[N];
	unsigned int i;

	for (i = 0; i < N; i++) {
		uint64_t t0 = bench_now_ns(), t1 = bench_now_ns();

		d[i] = (double)(t1 - t0);
	}
	clock_overhead = (uint64_t)bench_median(d, N);
}

static void print_header(const struct options *o, const struct bench_machine *m)
{
	unsigned int k;

	printf("gpuvm-sync-bench %s: %s build, %s %s, library checks %s\n",
	       SYNC_BENCH_VERSION, SYNC_BENCH_BUILDTYPE, bench_compiler_name(),
	       __VERSION__,
	       gpuvm_checks_enabled() ? "ON (not a release "
					"library: figures are "
					"not representative)"
				      : "off");
	printf("%s, %ld CPUs, %s, load average at start %s\n", m->cpu, m->nproc,
	       m->kernel, m->load_start);
	printf("seed %llu, %u repetitions, clock overhead %llu ns "
	       "(subtracted from every timed batch)\n",
	       (unsigned long long)o->seed, o->reps,
	       (unsigned long long)clock_overhead);
	printf("Figures are medians over short timed batches from all "
	       "repetitions; p10/p90 are\nthe 10th and 90th percentile "
	       "batch, rep-lo/rep-hi the lowest and highest\nper-repetition "
	       "median. What is compared takes turns batch by batch in a\n"
	       "rotating order (2-thread runs: run by run), so that each "
	       "sees the same machine.\n");
	printf("exec: ns per transaction (init, lock every object, unlock, "
	       "fini); batches of\n%d object locks. 1 thread: the same n "
	       "objects every time, in random order.\n2 threads (pinned to "
	       "one CPU each), %u ms per implementation and repetition:\n"
	       "each transaction takes n random objects of a shared pool of "
	       "2n, in random\norder (two concurrent sets share n/2 objects "
	       "on average); latency as seen by\neach thread.\n",
	       EXEC_BATCH_LOCKS, o->contended_ms);
	for (k = 0; k < NR_IMPLS; k++)
		printf("  %-17s %s\n", impl_names[k], impl_help[k]);
	printf("resv: a WRITE fence added to a reservation holding N fences "
	       "(N-1 unsignalled\nREAD fences of other contexts, then the "
	       "entry replaced). new_ctx: a fence of a\nnew context each "
	       "time, replacing the previous one, which has signalled;\n"
	       "same_ctx: the next fence of one timeline, replacing its "
	       "predecessor. add:\n%d adds timed inside one lock hold; cycle: "
	       "lock, reserve_fences(1), add,\nunlock.\n",
	       RESV_BATCH);
	printf("fence: ns per operation, batches of %d (wait: %d); callbacks "
	       "count calls.\n",
	       FENCE_BATCH, FENCE_WAIT_BATCH);
	fflush(stdout);
}

static const struct exec_row *find_exec_row(const struct exec_row *rows,
					    unsigned int n,
					    unsigned int threads,
					    enum sb_impl impl)
{
	unsigned int i;

	for (i = 0; i < NR_EXEC_ROWS; i++)
		if (rows[i].valid && rows[i].n == n &&
		    rows[i].threads == threads && rows[i].impl == impl)
			return &rows[i];
	return NULL;
}

/*
 * The figure of a row: every batch on one thread; on two, only the
 * batches that ran in parallel with the other thread.
 */
static const struct summary *exec_main(const struct exec_row *r)
{
	return r->threads > 1 ? &r->ovl_s : &r->lat_s;
}

static double per_txn(uint64_t count, uint64_t txns)
{
	return txns ? (double)count / (double)txns : 0.0;
}

static void print_tables(const struct exec_row *rows,
			 const struct resv_row *resv, unsigned int nr_resv,
			 const struct summary *fence)
{
	unsigned int i;

	printf("\nexec lock + unlock (ns per transaction; 2-thread rows: "
	       "parallel samples only)\n");
	printf("%4s %3s %-17s %9s %9s %9s %9s %9s %7s %7s %6s %6s\n", "objs",
	       "thr", "impl", "median", "p10", "p90", "rep-lo", "rep-hi",
	       "ns/obj", "backoff", "allocs", "/floor");
	for (i = 0; i < NR_EXEC_ROWS; i++) {
		const struct exec_row *r = &rows[i];
		const struct exec_row *fl =
			find_exec_row(rows, r->n, r->threads, IMPL_PTHREAD);
		const struct summary *s = exec_main(r);
		const struct summary *fs = fl ? exec_main(fl) : NULL;

		if (!r->valid)
			continue;
		printf("%4u %3u %-17s", r->n, r->threads, impl_names[r->impl]);
		if (!s->valid || s->n < MIN_PARALLEL) {
			printf(" %9s (%zu parallel samples: too few, the "
			       "threads rarely ran at once)\n",
			       "-", s->n);
			continue;
		}
		printf(" %9.1f %9.1f %9.1f %9.1f %9.1f %7.1f %7.3f %6.2f",
		       s->med, s->p10, s->p90, s->rep_min, s->rep_max,
		       s->med / r->n,
		       r->threads > 1 ? per_txn(r->ovl_backoffs, r->ovl_txns)
				      : per_txn(r->backoffs, r->txns),
		       per_txn(r->allocs, r->alloc_txns));
		if (fs && fs->n >= MIN_PARALLEL && fs->med > 0.0)
			printf(" %6.2f\n", s->med / fs->med);
		else
			printf(" %6s\n", "-");
	}
	printf("backoff: -EDEADLK back-offs per transaction; allocs: library "
	       "allocations per\ntransaction; /floor: median over "
	       "pthread_sorted's, same objects and threads.\n");

	printf("\n2 threads in detail. samples: batches run while both "
	       "threads were in their\nloops; parallel: those during which "
	       "the other thread completed a transaction\nand this one was "
	       "not preempted (the rest ran time-sliced on a busy machine);\n"
	       "all-median, all-backoff: over every sample; pair: wall ns "
	       "per transaction of\neither thread (median over "
	       "repetitions)\n");
	printf("%4s %-17s %8s %9s %11s %12s %10s\n", "objs", "impl", "samples",
	       "parallel", "all-median", "all-backoff", "pair");
	for (i = 0; i < NR_EXEC_ROWS; i++) {
		const struct exec_row *r = &rows[i];

		if (!r->valid || r->threads < 2)
			continue;
		printf("%4u %-17s %8llu %8.1f%%", r->n, impl_names[r->impl],
		       (unsigned long long)r->batches,
		       100.0 * per_txn(r->overlapped, r->batches));
		if (r->lat_s.valid)
			printf(" %11.1f", r->lat_s.med);
		else
			printf(" %11s", "-");
		printf(" %12.3f", per_txn(r->backoffs, r->txns));
		if (r->agg_s.valid)
			printf(" %10.1f\n", r->agg_s.med);
		else
			printf(" %10s\n", "-");
	}

	printf("\nresv add-fence (ns)\n");
	printf("%6s %-9s %9s %9s %9s %9s %9s %9s %9s %9s\n", "fences",
	       "variant", "add", "p10", "p90", "rep-hi", "cycle", "p10", "p90",
	       "rep-hi");
	for (i = 0; i < nr_resv; i++) {
		const struct resv_row *r = &resv[i];

		printf("%6u %-9s %9.1f %9.1f %9.1f %9.1f %9.1f %9.1f %9.1f "
		       "%9.1f\n",
		       r->nfences, r->same_ctx ? "same_ctx" : "new_ctx",
		       r->add_s.med, r->add_s.p10, r->add_s.p90,
		       r->add_s.rep_max, r->cycle_s.med, r->cycle_s.p10,
		       r->cycle_s.p90, r->cycle_s.rep_max);
	}

	printf("\nfence (ns per operation)\n");
	printf("%-16s %9s %9s %9s %9s %9s  %s\n", "op", "median", "p10", "p90",
	       "rep-lo", "rep-hi", "what");
	for (i = 0; i < NR_FENCE_FIGS; i++) {
		const struct summary *s = &fence[i];

		printf("%-16s %9.1f %9.1f %9.1f %9.1f %9.1f  %s\n",
		       fence_names[i], s->med, s->p10, s->p90, s->rep_min,
		       s->rep_max, fence_help[i]);
	}
}

struct target {
	const char *name;
	bool measured;
	double value;
	double limit;
	bool pass;
	double rep_lo;
	double rep_hi;
};

/*
 * The ratio of the two medians; beside it, the range of the ratio of the
 * per-repetition medians, which ran next to each other in time.
 */
static void eval_target(const struct exec_row *rows, struct target *t)
{
	const struct exec_row *e =
		find_exec_row(rows, TARGET_OBJS, 1, IMPL_EXEC);
	const struct exec_row *f =
		find_exec_row(rows, TARGET_OBJS, 1, IMPL_PTHREAD);
	unsigned int r;

	memset(t, 0, sizeof(*t));
	t->name = "uncontended exec of 16 objects / ordered-pthread floor";
	t->limit = TARGET_RATIO;
	if (!e || !f || !e->lat_s.valid || !f->lat_s.valid ||
	    f->lat_s.med <= 0.0)
		return;
	t->measured = true;
	t->value = e->lat_s.med / f->lat_s.med;
	t->pass = t->value <= t->limit;
	t->rep_lo = t->rep_hi = t->value;
	for (r = 0; r < e->lat.nr_reps && r < f->lat.nr_reps; r++) {
		double q = e->lat.rep_med[r] / f->lat.rep_med[r];

		if (!r || q < t->rep_lo)
			t->rep_lo = q;
		if (!r || q > t->rep_hi)
			t->rep_hi = q;
	}
}

static void print_target(const struct target *t)
{
	printf("\ntargets\n");
	if (!t->measured) {
		printf("  %-56s n/a\n", t->name);
		return;
	}
	printf("  %-56s %5.2fx (limit <= %.2fx) %s\n", t->name, t->value,
	       t->limit, t->pass ? "PASS" : "MISS");
	printf("  %-56s %5.2fx .. %.2fx\n", "  (per-repetition ratio range)",
	       t->rep_lo, t->rep_hi);
}

static void json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void json_number(FILE *f, double v)
{
	if (isfinite(v))
		fprintf(f, "%.3f", v);
	else
		fputs("null", f);
}

static void json_summary(FILE *f, const struct summary *s)
{
	if (!s->valid) {
		fputs("null", f);
		return;
	}
	fputs("{\"median\": ", f);
	json_number(f, s->med);
	fputs(", \"p10\": ", f);
	json_number(f, s->p10);
	fputs(", \"p90\": ", f);
	json_number(f, s->p90);
	fputs(", \"mean\": ", f);
	json_number(f, s->mean);
	fputs(", \"rep_median_min\": ", f);
	json_number(f, s->rep_min);
	fputs(", \"rep_median_max\": ", f);
	json_number(f, s->rep_max);
	fprintf(f, ", \"batches\": %zu}", s->n);
}

static void write_json(FILE *f, const struct options *o,
		       const struct bench_machine *m, const char *load_end,
		       const struct exec_row *rows, const struct resv_row *resv,
		       unsigned int nr_resv, const struct summary *fence,
		       const struct target *t)
{
	unsigned int i, k;

	fputs("{\n  \"program\": \"gpuvm-sync-bench\",\n  \"version\": ", f);
	json_string(f, SYNC_BENCH_VERSION);
	fputs(",\n  \"date\": ", f);
	json_string(f, m->date);
	fputs(",\n  \"machine\": {\"cpu\": ", f);
	json_string(f, m->cpu);
	fprintf(f, ", \"nproc\": %ld, \"kernel\": ", m->nproc);
	json_string(f, m->kernel);
	fputs(", \"loadavg_start\": ", f);
	json_string(f, m->load_start);
	fputs(", \"loadavg_end\": ", f);
	json_string(f, load_end);
	fputs(", \"compiler\": ", f);
	json_string(f, bench_compiler_name());
	fputs(", \"compiler_version\": ", f);
	json_string(f, __VERSION__);
	fputs(", \"build_type\": ", f);
	json_string(f, SYNC_BENCH_BUILDTYPE);
	fprintf(f, ", \"library_checks\": %s}",
		gpuvm_checks_enabled() ? "true" : "false");
	fprintf(f,
		",\n  \"config\": {\"seed\": %llu, \"reps\": %u, "
		"\"quick\": %s, \"clock_overhead_ns\": %llu, "
		"\"exec_batch_object_locks\": %d, "
		"\"exec_batches_per_rep\": %u, "
		"\"contended_ms_per_rep\": %u, "
		"\"contended_pool\": \"2n objects, sets of n\", "
		"\"resv_batch\": %d, \"resv_batches_per_rep\": %u, "
		"\"fence_batch\": %d, \"fence_wait_batch\": %d, "
		"\"fence_batches_per_rep\": %u, \"sizeof_gem\": %zu, "
		"\"sizeof_fence\": %zu}",
		(unsigned long long)o->seed, o->reps,
		o->quick ? "true" : "false", (unsigned long long)clock_overhead,
		EXEC_BATCH_LOCKS, o->exec_batches, o->contended_ms, RESV_BATCH,
		o->resv_batches, FENCE_BATCH, FENCE_WAIT_BATCH,
		o->fence_batches, sizeof(struct gpuvm_gem),
		sizeof(struct gpuvm_fence));
	fputs(",\n  \"impls\": {", f);
	for (i = 0; i < NR_IMPLS; i++) {
		fprintf(f, "%s\n    \"%s\": ", i ? "," : "", impl_names[i]);
		json_string(f, impl_help[i]);
	}
	fputs("\n  },\n  \"exec\": [", f);
	for (i = 0, k = 0; i < NR_EXEC_ROWS; i++) {
		const struct exec_row *r = &rows[i];
		const struct exec_row *fl =
			find_exec_row(rows, r->n, r->threads, IMPL_PTHREAD);

		if (!r->valid)
			continue;
		fprintf(f,
			"%s\n    {\"objects\": %u, \"threads\": %u, "
			"\"impl\": \"%s\", \"txns_per_batch\": %u, "
			"\"ns_per_txn\": ",
			k++ ? "," : "", r->n, r->threads, impl_names[r->impl],
			r->batch);
		json_summary(f, &r->lat_s);
		fputs(", \"parallel_ns_per_txn\": ", f);
		json_summary(f, &r->ovl_s);
		fputs(", \"parallel_backoffs_per_txn\": ", f);
		if (r->threads > 1)
			json_number(f, per_txn(r->ovl_backoffs, r->ovl_txns));
		else
			fputs("null", f);
		fputs(", \"pair_wall_ns_per_txn\": ", f);
		json_summary(f, &r->agg_s);
		fputs(", \"over_floor\": ", f);
		if (fl && exec_main(fl)->n >= MIN_PARALLEL &&
		    exec_main(r)->n >= MIN_PARALLEL)
			json_number(f, exec_main(r)->med / exec_main(fl)->med);
		else
			fputs("null", f);
		fputs(", \"backoffs_per_txn\": ", f);
		json_number(f, per_txn(r->backoffs, r->txns));
		fputs(", \"lib_allocs_per_txn\": ", f);
		json_number(f, per_txn(r->allocs, r->alloc_txns));
		fputs(", \"parallel_share\": ", f);
		if (r->threads > 1)
			json_number(f, per_txn(r->overlapped, r->batches));
		else
			fputs("null", f);
		fprintf(f, ", \"txns\": %llu}", (unsigned long long)r->txns);
	}
	fputs("\n  ],\n  \"resv\": [", f);
	for (i = 0; i < nr_resv; i++) {
		fprintf(f,
			"%s\n    {\"fences\": %u, \"variant\": \"%s\", "
			"\"add_ns\": ",
			i ? "," : "", resv[i].nfences,
			resv[i].same_ctx ? "same_ctx" : "new_ctx");
		json_summary(f, &resv[i].add_s);
		fputs(", \"cycle_ns\": ", f);
		json_summary(f, &resv[i].cycle_s);
		fputc('}', f);
	}
	fputs("\n  ],\n  \"fence\": {", f);
	for (i = 0; i < NR_FENCE_FIGS; i++) {
		fprintf(f, "%s\n    \"%s\": {\"what\": ", i ? "," : "",
			fence_names[i]);
		json_string(f, fence_help[i]);
		fputs(", \"ns\": ", f);
		json_summary(f, &fence[i]);
		fputc('}', f);
	}
	fputs("\n  },\n  \"targets\": [\n    {\"name\": ", f);
	json_string(f, t->name);
	fputs(", \"value\": ", f);
	if (t->measured)
		json_number(f, t->value);
	else
		fputs("null", f);
	fputs(", \"limit\": ", f);
	json_number(f, t->limit);
	fputs(", \"rep_ratio_min\": ", f);
	json_number(f, t->measured ? t->rep_lo : NAN);
	fputs(", \"rep_ratio_max\": ", f);
	json_number(f, t->measured ? t->rep_hi : NAN);
	fprintf(f, ", \"result\": \"%s\"}\n  ]\n}\n",
		!t->measured ? "n/a"
		: t->pass    ? "PASS"
			     : "MISS");
}

int main(int argc, char **argv)
{
	struct options o;
	struct bench_machine m;
	char load_end[64];
	struct exec_row *rows = xcalloc(NR_EXEC_ROWS, sizeof(*rows));
	struct resv_row resv[2 * NR_RESV_SIZES];
	struct series fseries[NR_FENCE_FIGS];
	struct summary fsum[NR_FENCE_FIGS];
	struct target target;
	unsigned int i, k;
	uint64_t t0, warn0;

	parse_options(&o, argc, argv);
	bench_read_machine(&m);
	calibrate_clock();
	warn0 = gpuvm_warn_count();
	print_header(&o, &m);

	for (i = 0; i < NR_SIZES; i++) {
		struct exec_row *r = &rows[i * ROWS_PER_SIZE];

		t0 = bench_now_ns();
		fprintf(stderr, "gpuvm-sync-bench: exec %u objects ",
			exec_sizes[i]);
		exec_uncontended(r, exec_sizes[i], &o);
		exec_contended(r + UNCONTENDED_IMPLS, exec_sizes[i], &o);
		fprintf(stderr, "%.1f s\n",
			(double)(bench_now_ns() - t0) / 1e9);
	}
	t0 = bench_now_ns();
	fprintf(stderr, "gpuvm-sync-bench: resv ");
	memset(resv, 0, sizeof(resv));
	for (i = 0; i < NR_RESV_SIZES; i++) {
		for (k = 0; k < 2; k++) {
			resv[i * 2 + k].nfences = resv_sizes[i];
			resv[i * 2 + k].same_ctx = k;
		}
	}
	resv_run(resv, 2 * NR_RESV_SIZES, &o);
	fprintf(stderr, "%.1f s\ngpuvm-sync-bench: fence ",
		(double)(bench_now_ns() - t0) / 1e9);
	t0 = bench_now_ns();
	fence_run(fseries, &o);
	fprintf(stderr, "%.1f s\n", (double)(bench_now_ns() - t0) / 1e9);
	bench_read_loadavg(load_end, sizeof(load_end));
	if (gpuvm_warn_count() != warn0)
		fprintf(stderr,
			"gpuvm-sync-bench: the library issued %llu "
			"warnings\n",
			(unsigned long long)(gpuvm_warn_count() - warn0));

	for (i = 0; i < NR_EXEC_ROWS; i++) {
		series_summary(&rows[i].lat, &rows[i].lat_s);
		series_summary(&rows[i].ovl, &rows[i].ovl_s);
		series_summary(&rows[i].agg, &rows[i].agg_s);
	}
	for (i = 0; i < 2 * NR_RESV_SIZES; i++) {
		series_summary(&resv[i].add, &resv[i].add_s);
		series_summary(&resv[i].cycle, &resv[i].cycle_s);
	}
	for (i = 0; i < NR_FENCE_FIGS; i++)
		series_summary(&fseries[i], &fsum[i]);

	printf("\nload average at end %s\n", load_end);
	print_tables(rows, resv, 2 * NR_RESV_SIZES, fsum);
	eval_target(rows, &target);
	print_target(&target);

	if (o.json) {
		if (o.json_path) {
			FILE *f = fopen(o.json_path, "w");

			if (!f)
				die("cannot write %s: %s", o.json_path,
				    strerror(errno));
			write_json(f, &o, &m, load_end, rows, resv,
				   2 * NR_RESV_SIZES, fsum, &target);
			if (fclose(f))
				die("cannot write %s: %s", o.json_path,
				    strerror(errno));
			printf("\nJSON written to %s\n", o.json_path);
		} else {
			printf("\n");
			write_json(stdout, &o, &m, load_end, rows, resv,
				   2 * NR_RESV_SIZES, fsum, &target);
		}
	}

	for (i = 0; i < NR_EXEC_ROWS; i++) {
		series_fini(&rows[i].lat);
		series_fini(&rows[i].ovl);
		series_fini(&rows[i].agg);
	}
	for (i = 0; i < 2 * NR_RESV_SIZES; i++) {
		series_fini(&resv[i].add);
		series_fini(&resv[i].cycle);
	}
	for (i = 0; i < NR_FENCE_FIGS; i++)
		series_fini(&fseries[i]);
	free(rows);
	return 0;
}
