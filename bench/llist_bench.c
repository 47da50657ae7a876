// SPDX-License-Identifier: MIT
/*
 * Copyright (c) 2026 The libgpuvm authors
 *
 * gpuvm-llist-bench: the deferred-cleanup pattern (producers push objects
 * from a path that must not block, one cleanup thread takes them all and
 * walks them) on three list designs, in the same run:
 *
 *   gpuvm_llist      the library's lock-free list (push: one CAS loop;
 *                    drain: one exchange);
 *   mutex+list       a pthread mutex around an intrusive doubly-linked
 *                    list (gpuvm/list.h): push = lock, list_add, unlock;
 *                    drain = lock, splice the whole list out, unlock;
 *   liburcu_lfstack  liburcu's lock-free stack: cds_lfs_push and
 *                    __cds_lfs_pop_all, called through the shared library
 *                    as the gpuvm push is. (Its push opens with a CAS that
 *                    guesses an empty stack, so on a non-empty one it
 *                    costs two locked RMWs where gpuvm_llist's costs a
 *                    load and one.)
 *
 * Measured: push throughput and per-push latency with 1 and 2 producer
 * threads while a drainer thread runs, and the cost per node of taking and
 * walking batches of 64, 1024 and 65536 nodes of 128 bytes. It prints a
 * table, the stated targets with PASS or MISS, and JSON with --json.
 * Nothing is hard-coded: every figure comes from this run.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <x86intrin.h>
#endif

#include <urcu/lfstack.h>

#include <gpuvm/list.h>
#include <gpuvm/llist.h>

#include "common.h"

#ifndef LLIST_BENCH_VERSION
#define LLIST_BENCH_VERSION "unknown"
#endif
#ifndef LLIST_BENCH_BUILDTYPE
#define LLIST_BENCH_BUILDTYPE "unknown"
#endif
#ifndef LLIST_BENCH_URCU_VERSION
#define LLIST_BENCH_URCU_VERSION "unknown"
#endif

#define NODE_BYTES     128
#define POOL_NODES     32768 /* per producer and phase: 4 MiB */
#define MAX_PRODUCERS  2
#define SAMPLE_CAP     (4u << 20) /* latency samples per producer */
#define HIST_NS	       65536	  /* 1-ns latency buckets, then overflow */
#define NR_BATCHES     3
#define DRAIN_BUDGET   (2u << 20) /* nodes drained per drain figure */
#define DRAIN_MIN_REPS 7
#define DRAIN_MAX_REPS 2001

/* The targets. */
#define TARGET_VS_MUTEX 2.0  /* gpuvm_llist / mutex+list, 2 producers, >= */
#define TARGET_VS_URCU	1.2  /* liburcu / gpuvm_llist, 2 producers, <= */
#define TARGET_P999_NS	1000 /* gpuvm_llist push p99.9, < */

static const size_t batch_sizes[NR_BATCHES] = { 64, 1024, 65536 };

enum design {
	D_LLIST,
	D_MUTEX,
	D_URCU,
	NR_DESIGNS,
	D_LLIST_REV = NR_DESIGNS, /* drain figures only: del_all + reverse */
	NR_DRAIN_DESIGNS,
};

static const char *const design_names[NR_DRAIN_DESIGNS] = {
	[D_LLIST] = "gpuvm_llist",
	[D_MUTEX] = "mutex+list",
	[D_URCU] = "liburcu_lfstack",
	[D_LLIST_REV] = "gpuvm_llist+reverse",
};

/*
 * One object of the 128-byte size class, as a zombie vm_bo would be. Every
 * design links it through the same first bytes; the drain reads @key and
 * writes @state, in the link's cache line, as a teardown would.
 */
struct bnode {
	union {
		struct gpuvm_llist_node ll;
		struct gpuvm_list_head l;
		struct cds_lfs_node lfs;
	} link;
	uint64_t key;
	uint64_t state;
	unsigned char pad[NODE_BYTES - 32];
};
_Static_assert(sizeof(struct bnode) == NODE_BYTES, "node size");

/* Each list head in its own cache line, as it would be in a VM. */
struct shared {
	_Alignas(64) struct gpuvm_llist_head ll;
	_Alignas(64) struct __cds_lfs_stack lfs;
	_Alignas(64) pthread_mutex_t lock;
	struct gpuvm_list_head list;
};

static volatile uint64_t sink;

/* ------------------------------------------------------------------ */
/* Clocks.                                                              */

enum clock_kind { CLK_TSC, CLK_MONO };

static enum clock_kind clk = CLK_MONO;
static double ns_per_tick = 1.0;
static uint64_t clk_overhead; /* ticks, median of an empty interval */
static double clk_step_ns;    /* smallest non-zero step between reads */

/*
 * An interval is ticks_end() - ticks_begin(). With the TSC, the fences keep
 * the work between the two reads from leaking out of the interval: lfence
 * before and after the first read, rdtscp (which waits for earlier
 * instructions) and lfence for the second.
 */
static inline uint64_t ticks_begin(void)
{
#if defined(__x86_64__)
	if (clk == CLK_TSC) {
		uint64_t t;

		_mm_lfence();
		t = __rdtsc();
		_mm_lfence();
		return t;
	}
#endif
	return bench_now_ns();
}

static inline uint64_t ticks_end(void)
{
#if defined(__x86_64__)
	if (clk == CLK_TSC) {
		unsigned int aux;
		uint64_t t = __rdtscp(&aux);

		_mm_lfence();
		return t;
	}
#endif
	return bench_now_ns();
}

static bool file_has_word(const char *path, const char *prefix,
			  const char *word)
{
	char line[8192];
	bool found = false;
	FILE *f = fopen(path, "r");

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		char *tok, *save;

		if (strncmp(line, prefix, strlen(prefix)))
			continue;
		for (tok = strtok_r(line, " \t\n", &save); tok;
		     tok = strtok_r(NULL, " \t\n", &save))
			if (!strcmp(tok, word))
				found = true;
		break;
	}
	fclose(f);
	return found;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/*
 * The TSC is used when the CPU says it ticks at a constant rate through
 * sleep states; its rate is measured against CLOCK_MONOTONIC over a busy
 * 50 ms. Otherwise, or with --clock monotonic, clock_gettime is used.
 */
static void clock_setup(bool force_mono)
{
	enum { N = 1001 };
	uint64_t d[N];
	unsigned int i;

	clk = CLK_MONO;
	ns_per_tick = 1.0;
#if defined(__x86_64__)
	if (!force_mono &&
	    file_has_word("/proc/cpuinfo", "flags", "constant_tsc") &&
	    file_has_word("/proc/cpuinfo", "flags", "nonstop_tsc") &&
	    file_has_word("/proc/cpuinfo", "flags", "rdtscp")) {
		uint64_t m0, m1, t0, t1;

		m0 = bench_now_ns();
		t0 = __rdtsc();
		do
			m1 = bench_now_ns();
		while (m1 - m0 < 50000000u);
		t1 = __rdtsc();
		if (t1 > t0) {
			clk = CLK_TSC;
			ns_per_tick = (double)(m1 - m0) / (double)(t1 - t0);
		}
	}
#else
	(void)force_mono;
#endif
	for (i = 0; i < N; i++) {
		uint64_t t0 = ticks_begin(), t1 = ticks_end();

		d[i] = t1 - t0;
	}
	qsort(d, N, sizeof(d[0]), cmp_u64);
	clk_overhead = d[N / 2];

	/* Some TSCs (and so clock_gettime) advance in steps of many ticks. */
	clk_step_ns = 0.0;
	for (i = 0; i < N; i++) {
		uint64_t t0 = ticks_begin(), t1;

		do
			t1 = ticks_begin();
		while (t1 == t0);
		if (clk_step_ns == 0.0 ||
		    (double)(t1 - t0) * ns_per_tick < clk_step_ns)
			clk_step_ns = (double)(t1 - t0) * ns_per_tick;
	}
}

/* ------------------------------------------------------------------ */
/* The three designs.                                                   */

static void shared_init(struct shared *sh)
{
	memset(sh, 0, sizeof(*sh));
	gpuvm_llist_init_head(&sh->ll);
	__cds_lfs_init(&sh->lfs);
	pthread_mutex_init(&sh->lock, NULL);
	gpuvm_list_init(&sh->list);
}

static void shared_fini(struct shared *sh)
{
	pthread_mutex_destroy(&sh->lock);
}

static inline __attribute__((always_inline)) void
push(enum design d, struct shared *sh, struct bnode *n)
{
	switch (d) {
	case D_LLIST:
	case D_LLIST_REV:
		gpuvm_llist_add(&n->link.ll, &sh->ll);
		break;
	case D_MUTEX:
		pthread_mutex_lock(&sh->lock);
		gpuvm_list_add(&n->link.l, &sh->list);
		pthread_mutex_unlock(&sh->lock);
		break;
	case D_URCU:
		cds_lfs_push(&sh->lfs, &n->link.lfs);
		break;
	default:
		abort();
	}
}

/* What the cleanup does with each node it takes. */
static inline void visit(struct bnode *b, uint64_t *sum)
{
	*sum += b->key;
	b->state = 1;
}

/*
 * Takes everything and walks it; returns the number of nodes. The
 * lock-free designs look before they take, so that an idle drainer does not
 * write the head's cache line under the producers' feet.
 */
static inline __attribute__((always_inline)) size_t
drain(enum design d, struct shared *sh, uint64_t *sum)
{
	size_t n = 0;

	switch (d) {
	case D_LLIST:
	case D_LLIST_REV: {
		struct gpuvm_llist_node *chain;
		struct bnode *b, *nx;

		if (gpuvm_llist_empty(&sh->ll))
			return 0;
		chain = gpuvm_llist_del_all(&sh->ll);
		if (d == D_LLIST_REV)
			chain = gpuvm_llist_reverse_order(chain);
		gpuvm_llist_for_each_entry_safe(b, nx, chain, struct bnode,
						link.ll) {
			visit(b, sum);
			n++;
		}
		break;
	}
	case D_MUTEX: {
		struct gpuvm_list_head local;
		struct bnode *b, *nx;

		gpuvm_list_init(&local);
		pthread_mutex_lock(&sh->lock);
		gpuvm_list_splice_tail_init(&sh->list, &local);
		pthread_mutex_unlock(&sh->lock);
		gpuvm_list_for_each_entry_safe(b, nx, &local, struct bnode,
					       link.l) {
			visit(b, sum);
			n++;
		}
		break;
	}
	case D_URCU: {
		struct cds_lfs_head *h;
		struct cds_lfs_node *pos, *nx;

		if (cds_lfs_empty(&sh->lfs))
			return 0;
		h = __cds_lfs_pop_all(&sh->lfs);
		if (!h)
			return 0;
		cds_lfs_for_each_safe(h, pos, nx)
		{
			visit(gpuvm_container_of(pos, struct bnode, link.lfs),
			      sum);
			n++;
		}
		break;
	}
	default:
		abort();
	}
	return n;
}

/* ------------------------------------------------------------------ */
/* Push throughput and latency.                                         */

struct runner;

struct producer {
	struct runner *r;
	unsigned int id;
	pthread_t thread;
	struct bnode *pool;
	uint32_t *samples;
	size_t nr_samples;
	uint64_t t0, t1;
};

struct runner {
	enum design d;
	unsigned int nr_producers;
	bool timed;
	struct shared sh;
	pthread_barrier_t start, done;
	atomic_bool stop;
	atomic_bool drainer_stop;
	atomic_ulong drained;
	unsigned long batches;
	struct producer prod[MAX_PRODUCERS];
};

static inline __attribute__((always_inline)) void
push_pool(enum design d, struct shared *sh, struct bnode *pool, uint64_t tag)
{
	size_t i;

	for (i = 0; i < POOL_NODES; i++) {
		pool[i].key = tag + i;
		push(d, sh, &pool[i]);
	}
}

static inline __attribute__((always_inline)) void
push_pool_timed(enum design d, struct shared *sh, struct producer *p,
		uint64_t tag)
{
	size_t i;

	for (i = 0; i < POOL_NODES; i++) {
		uint64_t t0, t1;

		p->pool[i].key = tag + i;
		t0 = ticks_begin();
		push(d, sh, &p->pool[i]);
		t1 = ticks_end();
		if (p->nr_samples < SAMPLE_CAP)
			p->samples[p->nr_samples++] =
				t1 - t0 > UINT32_MAX ? UINT32_MAX
						     : (uint32_t)(t1 - t0);
	}
}

/* The switch is outside the loops, so that each loop is specialised. */
static void producer_phase(struct producer *p, uint64_t tag)
{
	struct runner *r = p->r;

	switch (r->d) {
	case D_LLIST:
		if (r->timed)
			push_pool_timed(D_LLIST, &r->sh, p, tag);
		else
			push_pool(D_LLIST, &r->sh, p->pool, tag);
		break;
	case D_MUTEX:
		if (r->timed)
			push_pool_timed(D_MUTEX, &r->sh, p, tag);
		else
			push_pool(D_MUTEX, &r->sh, p->pool, tag);
		break;
	case D_URCU:
		if (r->timed)
			push_pool_timed(D_URCU, &r->sh, p, tag);
		else
			push_pool(D_URCU, &r->sh, p->pool, tag);
		break;
	default:
		abort();
	}
}

static void *producer_main(void *arg)
{
	struct producer *p = arg;
	struct runner *r = p->r;
	uint64_t tag = (uint64_t)p->id << 48;

	for (;;) {
		pthread_barrier_wait(&r->start);
		if (atomic_load(&r->stop))
			break;
		p->t0 = bench_now_ns();
		producer_phase(p, tag);
		p->t1 = bench_now_ns();
		tag += POOL_NODES;
		pthread_barrier_wait(&r->done);
	}
	return NULL;
}

static size_t drain_any(enum design d, struct shared *sh, uint64_t *sum)
{
	switch (d) {
	case D_LLIST:
		return drain(D_LLIST, sh, sum);
	case D_MUTEX:
		return drain(D_MUTEX, sh, sum);
	case D_URCU:
		return drain(D_URCU, sh, sum);
	default:
		abort();
	}
}

/*
 * The cleanup thread: wakes about every drain_period_us, takes everything,
 * walks it and sleeps again. A real one sleeps until the producer that
 * found the list empty kicks it; a timer keeps wake-up syscalls out of the
 * producers' path, which is what is measured, while still having the
 * drainer take the head and walk fresh nodes during every phase. Spinning
 * instead would, with two producers on two CPUs, leave the drainer's share
 * of the CPUs to the scheduler's whim.
 */
static unsigned int drain_period_us = 20;

static void *drainer_main(void *arg)
{
	struct runner *r = arg;
	struct timespec period = { .tv_nsec = (long)drain_period_us * 1000 };
	uint64_t sum = 0;

	while (!atomic_load_explicit(&r->drainer_stop, memory_order_relaxed)) {
		size_t n = drain_any(r->d, &r->sh, &sum);

		if (n) {
			r->batches++;
			atomic_fetch_add_explicit(&r->drained, n,
						  memory_order_release);
		}
		nanosleep(&period, NULL);
	}
	sink += sum;
	return NULL;
}

static void *xaligned_alloc(size_t align, size_t size)
{
	void *p = aligned_alloc(align, (size + align - 1) / align * align);

	if (!p) {
		fprintf(stderr, "gpuvm-llist-bench: out of memory\n");
		exit(1);
	}
	return p;
}

static void xpthread(int err, const char *what)
{
	if (err) {
		fprintf(stderr, "gpuvm-llist-bench: %s: %s\n", what,
			strerror(err));
		exit(1);
	}
}

struct push_figure {
	double mops;	    /* all producers together */
	double ns_per_push; /* per producer, phase time / pushes */
	double avg_batch;   /* nodes per non-empty drain */
	unsigned long phases;
	/* Latency (timed runs), after subtracting the clock overhead. */
	uint64_t samples;
	double p50, p99, p999, max;
};

static void latency_percentiles(struct runner *r, struct push_figure *f)
{
	uint64_t *hist = calloc(HIST_NS + 1, sizeof(*hist));
	uint64_t total = 0, acc = 0, maxns = 0;
	double q[3] = { 0.50, 0.99, 0.999 },
	       *out[3] = { &f->p50, &f->p99, &f->p999 };
	unsigned int p, k = 0;
	size_t i;

	if (!hist) {
		fprintf(stderr, "gpuvm-llist-bench: out of memory\n");
		exit(1);
	}
	for (p = 0; p < r->nr_producers; p++) {
		for (i = 0; i < r->prod[p].nr_samples; i++) {
			uint64_t t = r->prod[p].samples[i];
			uint64_t ns;

			t = t > clk_overhead ? t - clk_overhead : 0;
			ns = (uint64_t)llround((double)t * ns_per_tick);
			if (ns > maxns)
				maxns = ns;
			hist[ns < HIST_NS ? ns : HIST_NS]++;
			total++;
		}
	}
	f->samples = total;
	f->max = (double)maxns;
	for (i = 0; i <= HIST_NS && k < 3; i++) {
		acc += hist[i];
		while (k < 3 && (double)acc >= q[k] * (double)total) {
			*out[k] = i < HIST_NS ? (double)i : (double)maxns;
			k++;
		}
	}
	free(hist);
}

static void run_push(enum design d, unsigned int nr_producers, bool timed,
		     double seconds, struct push_figure *f)
{
	struct runner *r = calloc(1, sizeof(*r));
	pthread_t drainer;
	uint64_t busy_ns = 0, expect = 0;
	unsigned int p;

	if (!r) {
		fprintf(stderr, "gpuvm-llist-bench: out of memory\n");
		exit(1);
	}
	r->d = d;
	r->nr_producers = nr_producers;
	r->timed = timed;
	shared_init(&r->sh);
	xpthread(pthread_barrier_init(&r->start, NULL, nr_producers + 1),
		 "barrier");
	xpthread(pthread_barrier_init(&r->done, NULL, nr_producers + 1),
		 "barrier");
	for (p = 0; p < nr_producers; p++) {
		struct producer *pr = &r->prod[p];

		pr->r = r;
		pr->id = p;
		pr->pool =
			xaligned_alloc(64, POOL_NODES * sizeof(struct bnode));
		memset(pr->pool, 0, POOL_NODES * sizeof(struct bnode));
		if (timed)
			pr->samples = xaligned_alloc(
				64, SAMPLE_CAP * sizeof(*pr->samples));
		xpthread(pthread_create(&pr->thread, NULL, producer_main, pr),
			 "pthread_create");
	}
	xpthread(pthread_create(&drainer, NULL, drainer_main, r),
		 "pthread_create");

	memset(f, 0, sizeof(*f));
	for (;;) {
		uint64_t t0 = UINT64_MAX, t1 = 0;
		bool full = false;

		pthread_barrier_wait(&r->start);
		pthread_barrier_wait(&r->done);
		for (p = 0; p < nr_producers; p++) {
			struct producer *pr = &r->prod[p];

			t0 = pr->t0 < t0 ? pr->t0 : t0;
			t1 = pr->t1 > t1 ? pr->t1 : t1;
			full |= timed && pr->nr_samples >= SAMPLE_CAP;
		}
		busy_ns += t1 - t0;
		f->phases++;
		/* Pools are reused: wait until the drainer is done with them.
		 */
		expect += (uint64_t)POOL_NODES * nr_producers;
		while (atomic_load_explicit(&r->drained, memory_order_acquire) <
		       expect)
			sched_yield();
		if ((double)busy_ns >= seconds * 1e9 || full)
			break;
	}
	atomic_store(&r->stop, true);
	pthread_barrier_wait(&r->start);
	for (p = 0; p < nr_producers; p++)
		pthread_join(r->prod[p].thread, NULL);
	atomic_store(&r->drainer_stop, true);
	pthread_join(drainer, NULL);

	f->mops = (double)expect / ((double)busy_ns / 1e9) / 1e6;
	f->ns_per_push = (double)busy_ns / (double)(f->phases * POOL_NODES);
	f->avg_batch = r->batches ? (double)expect / (double)r->batches : 0.0;
	if (timed)
		latency_percentiles(r, f);

	for (p = 0; p < nr_producers; p++) {
		free(r->prod[p].pool);
		free(r->prod[p].samples);
	}
	pthread_barrier_destroy(&r->start);
	pthread_barrier_destroy(&r->done);
	shared_fini(&r->sh);
	free(r);
}

/* ------------------------------------------------------------------ */
/* Drain cost per node.                                                 */

/*
 * The two threads of a drain run are pinned to different CPUs and meet at a
 * spinning barrier: a thread that slept in a futex would start the timed
 * drain on a CPU just woken from idle, which on a virtual machine costs more
 * than a 64-node drain.
 */
struct spin_barrier {
	atomic_uint arrived;
	atomic_uint generation;
};

static void spin_barrier_wait(struct spin_barrier *b, bool spin)
{
	unsigned int gen = atomic_load(&b->generation);

	if (atomic_fetch_add(&b->arrived, 1) == 1) {
		atomic_store(&b->arrived, 0);
		atomic_store(&b->generation, gen + 1);
		return;
	}
	while (atomic_load(&b->generation) == gen) {
		if (!spin)
			sched_yield();
#if defined(__x86_64__)
		else
			_mm_pause();
#endif
	}
}

struct drain_run {
	enum design d;
	size_t n, reps;
	struct bnode *nodes;
	size_t *order;
	struct shared sh;
	struct spin_barrier b;
	double *ns_per_node;
	bool pin;
};

static void pin_to(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	/* Best effort: without it the figures are only noisier. */
	(void)pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static void drain_push_all(struct drain_run *dr)
{
	size_t i;

	for (i = 0; i < dr->n; i++) {
		struct bnode *b = &dr->nodes[dr->order[i]];

		b->key = i;
		switch (dr->d) {
		case D_LLIST:
		case D_LLIST_REV:
			push(D_LLIST, &dr->sh, b);
			break;
		case D_MUTEX:
			push(D_MUTEX, &dr->sh, b);
			break;
		case D_URCU:
			push(D_URCU, &dr->sh, b);
			break;
		default:
			abort();
		}
	}
}

static void *drain_producer_main(void *arg)
{
	struct drain_run *dr = arg;
	size_t rep;

	if (dr->pin)
		pin_to(0);
	for (rep = 0; rep < dr->reps; rep++) {
		drain_push_all(dr);
		spin_barrier_wait(&dr->b, dr->pin); /* pushed */
		spin_barrier_wait(&dr->b, dr->pin); /* drained */
	}
	return NULL;
}

static size_t drain_timed(struct drain_run *dr, uint64_t *sum)
{
	switch (dr->d) {
	case D_LLIST:
		return drain(D_LLIST, &dr->sh, sum);
	case D_LLIST_REV:
		return drain(D_LLIST_REV, &dr->sh, sum);
	case D_MUTEX:
		return drain(D_MUTEX, &dr->sh, sum);
	case D_URCU:
		return drain(D_URCU, &dr->sh, sum);
	default:
		abort();
	}
}

static void *drain_consumer_main(void *arg)
{
	struct drain_run *dr = arg;
	uint64_t sum = 0;
	size_t rep;

	if (dr->pin)
		pin_to(1);
	for (rep = 0; rep < dr->reps; rep++) {
		uint64_t t0, t1, t;
		size_t got;

		spin_barrier_wait(&dr->b, dr->pin);
		t0 = ticks_begin();
		got = drain_timed(dr, &sum);
		t1 = ticks_end();
		if (got != dr->n) {
			fprintf(stderr,
				"gpuvm-llist-bench: %s drained %zu of %zu\n",
				design_names[dr->d], got, dr->n);
			exit(1);
		}
		t = t1 - t0 > clk_overhead ? t1 - t0 - clk_overhead : 0;
		dr->ns_per_node[rep] = (double)t * ns_per_tick / (double)dr->n;
		spin_barrier_wait(&dr->b, dr->pin);
	}
	sink += sum;
	return NULL;
}

struct drain_figure {
	double median, min;
	size_t reps;
};

/* splitmix64: expands the seed into the push order of the drain runs. */
static uint64_t mix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void run_drain(enum design d, size_t n, uint64_t seed, bool quick,
		      struct drain_figure *f)
{
	struct drain_run dr;
	pthread_t prod, cons;
	uint64_t x = seed ^ n;
	size_t i, budget = quick ? DRAIN_BUDGET / 8 : DRAIN_BUDGET;

	memset(&dr, 0, sizeof(dr));
	dr.d = d;
	dr.n = n;
	dr.reps = budget / n;
	if (dr.reps < DRAIN_MIN_REPS)
		dr.reps = DRAIN_MIN_REPS;
	if (dr.reps > DRAIN_MAX_REPS)
		dr.reps = DRAIN_MAX_REPS;
	dr.pin = sysconf(_SC_NPROCESSORS_ONLN) >= 2;
	dr.nodes = xaligned_alloc(64, n * sizeof(struct bnode));
	memset(dr.nodes, 0, n * sizeof(struct bnode));
	dr.order = xaligned_alloc(64, n * sizeof(size_t));
	dr.ns_per_node = xaligned_alloc(64, dr.reps * sizeof(double));
	/*
	 * Objects come from a heap, not in address order: push them in a
	 * random permutation so that the walk cannot ride the prefetcher.
	 */
	for (i = 0; i < n; i++)
		dr.order[i] = i;
	for (i = n - 1; i > 0; i--) {
		size_t j = (size_t)(mix64(&x) % (i + 1)), t = dr.order[i];

		dr.order[i] = dr.order[j];
		dr.order[j] = t;
	}
	shared_init(&dr.sh);
	xpthread(pthread_create(&prod, NULL, drain_producer_main, &dr),
		 "pthread_create");
	xpthread(pthread_create(&cons, NULL, drain_consumer_main, &dr),
		 "pthread_create");
	pthread_join(prod, NULL);
	pthread_join(cons, NULL);

	bench_sort_doubles(dr.ns_per_node, dr.reps);
	f->median = bench_quantile(dr.ns_per_node, dr.reps, 0.5);
	f->min = dr.ns_per_node[0];
	f->reps = dr.reps;

	shared_fini(&dr.sh);
	free(dr.nodes);
	free(dr.order);
	free(dr.ns_per_node);
}

/* ------------------------------------------------------------------ */
/* Options, machine, output.                                            */

struct options {
	double seconds;
	unsigned int reps;
	uint64_t seed;
	bool quick;
	bool force_mono;
	bool json;
	const char *json_path;
};

struct machine {
	struct bench_machine base;
	char clocksource[64];
	/*
	 * The share of all CPUs' time that other processes used, just before
	 * the run and during it: on a shared machine it says how far to trust
	 * the figures.
	 */
	double others_before, others_during;
};

struct cpu_sample {
	uint64_t busy, total; /* clock ticks of all CPUs, from /proc/stat */
	double self_s;	      /* this process's CPU time */
};

static void cpu_sample(struct cpu_sample *c)
{
	unsigned long long v[8] = { 0 };
	struct timespec ts;
	FILE *f = fopen("/proc/stat", "r");
	unsigned int i;

	c->busy = c->total = 0;
	if (f) {
		if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu",
			   &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6],
			   &v[7]) == 8) {
			for (i = 0; i < 8; i++)
				c->total += v[i];
			/* idle and iowait are the only idle states */
			c->busy = c->total - v[3] - v[4];
		}
		fclose(f);
	}
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	c->self_s = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Fraction of all CPU time between @a and @b used by other processes. */
static double cpu_others(const struct cpu_sample *a, const struct cpu_sample *b)
{
	double hz = (double)sysconf(_SC_CLK_TCK);
	double total = (double)(b->total - a->total) / hz;
	double busy = (double)(b->busy - a->busy) / hz;
	double others = busy - (b->self_s - a->self_s);

	if (!(total > 0.0))
		return -1.0;
	return others < 0.0 ? 0.0 : others / total;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: gpuvm-llist-bench [options]\n"
		   "  --seconds S       push time per throughput and latency "
		   "figure (default 1)\n"
		   "  --reps N          throughput rounds, median reported "
		   "(default 5)\n"
		   "  --quick           --seconds 0.2 --reps 1, smaller drain "
		   "budget\n"
		   "  --seed N          seed of the drain runs' push order\n"
		   "  --drain-period-us N  the drainer's sleep between drains "
		   "(default 20)\n"
		   "  --clock monotonic time with clock_gettime instead of the "
		   "TSC\n"
		   "  --json [FILE]     write JSON to FILE, or after the table "
		   "to stdout\n"
		   "  --help\n");
}

static void die_usage(const char *what, const char *arg)
{
	usage(stderr);
	fprintf(stderr, "gpuvm-llist-bench: %s '%s'\n", what, arg);
	exit(2);
}

static void parse_options(struct options *o, int argc, char **argv)
{
	double seconds = -1.0;
	long reps = -1, reps_or_period;
	int i;

	memset(o, 0, sizeof(*o));
	o->seed = 20260101;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *next = i + 1 < argc ? argv[i + 1] : NULL;
		char *end;

		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			exit(0);
		} else if (!strcmp(a, "--quick")) {
			o->quick = true;
		} else if (!strcmp(a, "--seconds") && next) {
			errno = 0;
			seconds = strtod(next, &end);
			if (errno || *end || !(seconds > 0.0) ||
			    seconds > 3600.0)
				die_usage("bad --seconds", next);
			i++;
		} else if (!strcmp(a, "--reps") && next) {
			errno = 0;
			reps = strtol(next, &end, 10);
			if (errno || *end || reps < 1 || reps > 100)
				die_usage("bad --reps (1..100)", next);
			i++;
		} else if (!strcmp(a, "--seed") && next) {
			errno = 0;
			o->seed = strtoull(next, &end, 0);
			if (errno || *end || !*next)
				die_usage("bad --seed", next);
			i++;
		} else if (!strcmp(a, "--drain-period-us") && next) {
			errno = 0;
			reps_or_period = strtol(next, &end, 10);
			if (errno || *end || reps_or_period < 1 ||
			    reps_or_period > 1000000)
				die_usage("bad --drain-period-us", next);
			drain_period_us = (unsigned int)reps_or_period;
			i++;
		} else if (!strcmp(a, "--clock") && next) {
			if (!strcmp(next, "monotonic"))
				o->force_mono = true;
			else if (strcmp(next, "tsc"))
				die_usage("bad --clock (tsc, monotonic)", next);
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
			die_usage("unknown or incomplete option", a);
		}
	}
	if (o->json_path && !strcmp(o->json_path, "-"))
		o->json_path = NULL;
	o->seconds = seconds > 0.0 ? seconds : (o->quick ? 0.2 : 1.0);
	o->reps = reps > 0 ? (unsigned int)reps : (o->quick ? 1 : 5);
}

static void read_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");

	snprintf(buf, len, "unknown");
	if (!f)
		return;
	if (fgets(buf, (int)len, f))
		buf[strcspn(buf, "\n")] = '\0';
	fclose(f);
}

static void read_machine(struct machine *m)
{
	bench_read_machine(&m->base);
	read_line("/sys/devices/system/clocksource/clocksource0/"
		  "current_clocksource",
		  m->clocksource, sizeof(m->clocksource));
}

struct target {
	const char *name;
	const char *unit;
	const char *cmp; /* ">=", "<=" or "<" */
	double value, limit;
	bool pass;
};

enum {
	T_VS_MUTEX,
	T_VS_URCU,
	T_P999_1,
	T_P999_2,
	NR_TARGETS,
};

struct results {
	struct push_figure push[NR_DESIGNS][MAX_PRODUCERS];
	struct push_figure lat[NR_DESIGNS][MAX_PRODUCERS];
	struct drain_figure drain[NR_DRAIN_DESIGNS][NR_BATCHES];
	struct target t[NR_TARGETS];
};

static void eval_targets(struct results *res)
{
	struct target *t = res->t;
	double ll = res->push[D_LLIST][1].mops;

	t[T_VS_MUTEX] = (struct target){
		.name = "push throughput, 2 producers: gpuvm_llist / "
			"mutex+list",
		.unit = "x",
		.cmp = ">=",
		.value = ll / res->push[D_MUTEX][1].mops,
		.limit = TARGET_VS_MUTEX,
	};
	t[T_VS_MUTEX].pass = t[T_VS_MUTEX].value >= t[T_VS_MUTEX].limit;
	t[T_VS_URCU] = (struct target){
		.name = "push throughput, 2 producers: liburcu_lfstack / "
			"gpuvm_llist",
		.unit = "x",
		.cmp = "<=",
		.value = res->push[D_URCU][1].mops / ll,
		.limit = TARGET_VS_URCU,
	};
	t[T_VS_URCU].pass = t[T_VS_URCU].value <= t[T_VS_URCU].limit;
	t[T_P999_1] = (struct target){
		.name = "gpuvm_llist push latency p99.9, 1 producer",
		.unit = " ns",
		.cmp = "<",
		.value = res->lat[D_LLIST][0].p999,
		.limit = TARGET_P999_NS,
	};
	t[T_P999_1].pass = t[T_P999_1].value < t[T_P999_1].limit;
	t[T_P999_2] = t[T_P999_1];
	t[T_P999_2].name = "gpuvm_llist push latency p99.9, 2 producers";
	t[T_P999_2].value = res->lat[D_LLIST][1].p999;
	t[T_P999_2].pass = t[T_P999_2].value < t[T_P999_2].limit;
}

static void print_header(const struct options *o, const struct machine *m)
{
	printf("gpuvm-llist-bench %s: %s build, %s %s, liburcu %s\n",
	       LLIST_BENCH_VERSION, LLIST_BENCH_BUILDTYPE,
	       bench_compiler_name(), __VERSION__, LLIST_BENCH_URCU_VERSION);
	printf("%s, %ld CPUs, %s, clocksource %s\n", m->base.cpu, m->base.nproc,
	       m->base.kernel, m->clocksource);
	printf("other processes used %.0f%% of the CPUs' time in the second "
	       "before the run%s\n",
	       100.0 * m->others_before,
	       m->others_before > 0.05 ? ": expect noisy figures" : "");
	if (clk == CLK_TSC)
		printf("latency clock: TSC at %.4f GHz (measured against "
		       "CLOCK_MONOTONIC), lfence/rdtscp-fenced;\n",
		       1.0 / ns_per_tick);
	else
		printf("latency clock: clock_gettime(CLOCK_MONOTONIC);\n");
	printf("an empty interval costs %.1f ns (median), subtracted from "
	       "every latency sample\n",
	       (double)clk_overhead * ns_per_tick);
	printf("seed %" PRIu64 ", %.2f s of pushing per figure, throughput "
	       "the median of %u rounds\n",
	       o->seed, o->seconds, o->reps);
	printf("Producers push pools of %d x %d-byte nodes each, in phases; "
	       "one drainer thread\nwakes every %u us (nominal), takes "
	       "everything and walks it (reads a field,\nwrites one). "
	       "Throughput: all pushes / wall time from the first producer's "
	       "start\nto the last one's end in each phase. Latency: every "
	       "push of a separate run,\ntimed alone; the clock ticks in "
	       "steps of %.1f ns.\n",
	       POOL_NODES, NODE_BYTES, drain_period_us, clk_step_ns);
	fflush(stdout);
}

static void print_results(const struct results *res)
{
	unsigned int d, p, b;

	printf("\nPush, one drainer running concurrently\n");
	printf("%-17s %4s %9s %9s %8s %8s %9s %9s %9s\n", "design", "prod",
	       "Mops/s", "ns/push", "p50 ns", "p99 ns", "p99.9 ns", "max ns",
	       "batch");
	for (p = 0; p < MAX_PRODUCERS; p++) {
		for (d = 0; d < NR_DESIGNS; d++) {
			const struct push_figure *f = &res->push[d][p];
			const struct push_figure *l = &res->lat[d][p];

			printf("%-17s %4u %9.2f %9.2f %8.0f %8.0f %9.0f "
			       "%9.0f %9.0f\n",
			       design_names[d], p + 1, f->mops, f->ns_per_push,
			       l->p50, l->p99, l->p999, l->max, f->avg_batch);
		}
	}
	printf("(ns/push: per producer; batch: nodes per non-empty drain in "
	       "the throughput run)\n");

	printf("\nDrain: take everything + walk, ns per node, median (min); "
	       "nodes pushed in random\norder by a thread on another CPU\n");
	printf("%-20s", "design");
	for (b = 0; b < NR_BATCHES; b++)
		printf(" %18zu", batch_sizes[b]);
	printf("\n");
	for (d = 0; d < NR_DRAIN_DESIGNS; d++) {
		printf("%-20s", design_names[d]);
		for (b = 0; b < NR_BATCHES; b++) {
			char cell[64];

			snprintf(cell, sizeof(cell), "%.2f (%.2f)",
				 res->drain[d][b].median, res->drain[d][b].min);
			printf(" %18s", cell);
		}
		printf("\n");
	}

	printf("\nRatios (throughput): gpuvm_llist / mutex+list %.2fx (1 "
	       "producer) %.2fx (2);\n  gpuvm_llist / liburcu_lfstack %.2fx "
	       "(1) %.2fx (2)\n",
	       res->push[D_LLIST][0].mops / res->push[D_MUTEX][0].mops,
	       res->push[D_LLIST][1].mops / res->push[D_MUTEX][1].mops,
	       res->push[D_LLIST][0].mops / res->push[D_URCU][0].mops,
	       res->push[D_LLIST][1].mops / res->push[D_URCU][1].mops);

	printf("\nTargets\n");
	for (d = 0; d < NR_TARGETS; d++) {
		const struct target *t = &res->t[d];

		printf("  %-62s %8.2f%s (%s %.2f%s) %s\n", t->name, t->value,
		       t->unit, t->cmp, t->limit, t->unit,
		       t->pass ? "PASS" : "MISS");
	}
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

static void write_json(FILE *f, const struct options *o,
		       const struct machine *m, const struct results *res)
{
	unsigned int d, p, b, k = 0;

	fputs("{\n  \"program\": \"gpuvm-llist-bench\",\n  \"version\": ", f);
	json_string(f, LLIST_BENCH_VERSION);
	fputs(",\n  \"date\": ", f);
	json_string(f, m->base.date);
	fputs(",\n  \"machine\": {\"cpu\": ", f);
	json_string(f, m->base.cpu);
	fprintf(f, ", \"nproc\": %ld, \"kernel\": ", m->base.nproc);
	json_string(f, m->base.kernel);
	fputs(", \"clocksource\": ", f);
	json_string(f, m->clocksource);
	fputs(", \"compiler\": ", f);
	json_string(f, bench_compiler_name());
	fputs(", \"compiler_version\": ", f);
	json_string(f, __VERSION__);
	fputs(", \"build_type\": ", f);
	json_string(f, LLIST_BENCH_BUILDTYPE);
	fputs(", \"liburcu\": ", f);
	json_string(f, LLIST_BENCH_URCU_VERSION);
	fputs(", \"cpu_share_others_before\": ", f);
	json_number(f, m->others_before);
	fputs(", \"cpu_share_others_during\": ", f);
	json_number(f, m->others_during);
	fputs("},\n  \"config\": {", f);
	fprintf(f,
		"\"seed\": %" PRIu64 ", \"seconds\": %.3f, \"reps\": %u, "
		"\"quick\": %s, \"node_bytes\": %d, \"pool_nodes\": %d, "
		"\"drain_period_us\": %u, \"clock\": \"%s\", "
		"\"ns_per_tick\": ",
		o->seed, o->seconds, o->reps, o->quick ? "true" : "false",
		NODE_BYTES, POOL_NODES, drain_period_us,
		clk == CLK_TSC ? "tsc" : "monotonic");
	json_number(f, ns_per_tick);
	fputs(", \"clock_overhead_ns\": ", f);
	json_number(f, (double)clk_overhead * ns_per_tick);
	fputs(", \"clock_step_ns\": ", f);
	json_number(f, clk_step_ns);
	fputs("},\n  \"push\": [", f);
	for (p = 0; p < MAX_PRODUCERS; p++) {
		for (d = 0; d < NR_DESIGNS; d++) {
			const struct push_figure *t = &res->push[d][p];
			const struct push_figure *l = &res->lat[d][p];

			fprintf(f,
				"%s\n    {\"design\": \"%s\", "
				"\"producers\": %u, \"mops\": ",
				k++ ? "," : "", design_names[d], p + 1);
			json_number(f, t->mops);
			fputs(", \"ns_per_push\": ", f);
			json_number(f, t->ns_per_push);
			fputs(", \"avg_drain_batch\": ", f);
			json_number(f, t->avg_batch);
			fprintf(f,
				", \"phases\": %lu, \"latency_ns\": "
				"{\"samples\": %" PRIu64 ", \"p50\": ",
				t->phases, l->samples);
			json_number(f, l->p50);
			fputs(", \"p99\": ", f);
			json_number(f, l->p99);
			fputs(", \"p99.9\": ", f);
			json_number(f, l->p999);
			fputs(", \"max\": ", f);
			json_number(f, l->max);
			fputs("}}", f);
		}
	}
	fputs("\n  ],\n  \"drain_ns_per_node\": [", f);
	k = 0;
	for (d = 0; d < NR_DRAIN_DESIGNS; d++) {
		for (b = 0; b < NR_BATCHES; b++) {
			const struct drain_figure *x = &res->drain[d][b];

			fprintf(f,
				"%s\n    {\"design\": \"%s\", \"batch\": %zu, "
				"\"median\": ",
				k++ ? "," : "", design_names[d],
				batch_sizes[b]);
			json_number(f, x->median);
			fputs(", \"min\": ", f);
			json_number(f, x->min);
			fprintf(f, ", \"reps\": %zu}", x->reps);
		}
	}
	fputs("\n  ],\n  \"targets\": [", f);
	for (d = 0; d < NR_TARGETS; d++) {
		const struct target *t = &res->t[d];

		fprintf(f, "%s\n    {\"name\": ", d ? "," : "");
		json_string(f, t->name);
		fputs(", \"value\": ", f);
		json_number(f, t->value);
		fprintf(f, ", \"cmp\": \"%s\", \"limit\": ", t->cmp);
		json_number(f, t->limit);
		fprintf(f, ", \"result\": \"%s\"}", t->pass ? "PASS" : "MISS");
	}
	fputs("\n  ]\n}\n", f);
}

int main(int argc, char **argv)
{
	static struct results res;
	struct options o;
	struct machine m;
	struct cpu_sample c0, c1;
	unsigned int d, p, b, rep;

	parse_options(&o, argc, argv);
	read_machine(&m);
	cpu_sample(&c0);
	sleep(1);
	cpu_sample(&c1);
	m.others_before = cpu_others(&c0, &c1);
	clock_setup(o.force_mono);
	print_header(&o, &m);
	cpu_sample(&c0);

	/*
	 * Throughput: the designs take turns within each round, so that a
	 * change in the machine's load hits all of them; the median round is
	 * reported.
	 */
	for (p = 0; p < MAX_PRODUCERS; p++) {
		double mops[NR_DESIGNS][100];
		struct push_figure f[NR_DESIGNS][100];

		for (rep = 0; rep < o.reps; rep++) {
			for (d = 0; d < NR_DESIGNS; d++) {
				unsigned int dd = (d + rep) % NR_DESIGNS;

				fprintf(stderr, "push %s x%u round %u\n",
					design_names[dd], p + 1, rep + 1);
				run_push(dd, p + 1, false, o.seconds / o.reps,
					 &f[dd][rep]);
				mops[dd][rep] = f[dd][rep].mops;
			}
		}
		for (d = 0; d < NR_DESIGNS; d++) {
			double sorted[100];

			memcpy(sorted, mops[d], o.reps * sizeof(double));
			bench_sort_doubles(sorted, o.reps);
			for (rep = 0; rep < o.reps; rep++)
				if (mops[d][rep] == sorted[o.reps / 2])
					break;
			res.push[d][p] = f[d][rep];
		}
		for (d = 0; d < NR_DESIGNS; d++) {
			fprintf(stderr, "latency %s x%u\n", design_names[d],
				p + 1);
			run_push(d, p + 1, true, o.seconds, &res.lat[d][p]);
		}
	}
	for (b = 0; b < NR_BATCHES; b++) {
		for (d = 0; d < NR_DRAIN_DESIGNS; d++) {
			fprintf(stderr, "drain %s %zu\n", design_names[d],
				batch_sizes[b]);
			run_drain(d, batch_sizes[b], o.seed, o.quick,
				  &res.drain[d][b]);
		}
	}
	cpu_sample(&c1);
	m.others_during = cpu_others(&c0, &c1);
	eval_targets(&res);
	print_results(&res);
	printf("\nother processes used %.0f%% of the CPUs' time during the "
	       "run%s\n",
	       100.0 * m.others_during,
	       m.others_during > 0.05 ? ": the figures are disturbed" : "");

	if (o.json) {
		if (o.json_path) {
			FILE *f = fopen(o.json_path, "w");

			if (!f || (write_json(f, &o, &m, &res), fclose(f))) {
				fprintf(stderr,
					"gpuvm-llist-bench: cannot write %s: "
					"%s\n",
					o.json_path, strerror(errno));
				return 1;
			}
			printf("\nJSON written to %s\n", o.json_path);
		} else {
			printf("\n");
			write_json(stdout, &o, &m, &res);
		}
	}
	return 0;
}
