// SPDX-License-Identifier: MIT
/*
 * Copyright (c) 2026 The libgpuvm authors
 *
 * gpuvm-deferred-bench: what a deferred vm_bo put and a drain of the zombie
 * queue cost, with the library's lock-free list next to two other queue
 * designs in the same run:
 *
 *   llist   the library itself: gpuvm_bo_put_deferred() and
 *           gpuvm_bo_deferred_cleanup();
 *   mutex   a pthread-mutex-protected intrusive list;
 *   urcu    liburcu's lock-free stack (cds_lfs push / __cds_lfs_pop_all).
 *
 * For mutex and urcu the benchmark carries its own copy of the put and of
 * the drain, step for step the library's (the refcount fast path, the GEM's
 * gpuva mutex around the 1->0 transition, the unlink from the GEM's list
 * and, without resv protection, the two extobj/evict list locks, the zombie
 * counter, the push after the unlock; the drain's one reservation lock per
 * batch, the per-node free and VM and GEM puts), so that only the queue
 * differs. The vm_bos are real library vm_bos, embedded in a bench struct
 * that carries the other designs' links, created by the library before
 * every timed region (their memory comes from a preallocated pool through
 * ops->vm_bo_alloc, and vm_bo_free returns nothing to malloc).
 *
 * Measured:
 * - put throughput with 1 and 2 producer threads, each dropping the last
 *   reference of its own vm_bos (so each call makes and queues a zombie),
 *   while one more thread drains the queue continuously;
 * - per-call latency of those puts (p50/p99/p99.9), timed call by call in
 *   separate rounds, with the cost of reading the clock subtracted;
 * - the drain's cost per node for batches of 64, 1024 and 65536 zombies,
 *   single-threaded, and how often it took the VM's reservation.
 * Both VM flavours are measured: GPUVM_RESV_PROTECTED (the zombie's list
 * removal waits for the drain) and internal list locks (it happens in the
 * put, under two VM-wide mutexes).
 *
 * The drainer drains, and sleeps 50 us whenever it found fewer than 64
 * zombies, as a cleanup worker would rather than spin.
 *
 * The designs run in interleaved rounds of 4096 puts per producer, and each
 * throughput figure is the median of a design's rounds, so that other load
 * on the machine weighs on all three alike. A reference table measures the
 * queues alone (push of a preallocated node against take-all and walk),
 * which is the only part in which the designs differ.
 *
 * The reservation locks are counted by linking the static library with the
 * linker's --wrap=gpuvm_resv_lock, so that the library's own call to it
 * passes through a counter here.
 */
#define _LGPL_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <urcu/lfstack.h>

#include <gpuvm/gpuvm.h>

#include "common.h"

#ifndef GPUVM_BENCH_BUILDTYPE
#define GPUVM_BENCH_BUILDTYPE "unknown"
#endif

#define MAX_PRODUCERS 2
#define ROUND_PUTS    4096 /* per producer and round */
#define MAX_BATCH     65536
#define MAX_SAMPLES   (1u << 21)

enum design { D_LLIST, D_MUTEX, D_URCU, NR_DESIGNS };

static const char *const design_name[NR_DESIGNS] = {
	[D_LLIST] = "llist",
	[D_MUTEX] = "mutex",
	[D_URCU] = "urcu",
};

static const char *const design_help[NR_DESIGNS] = {
	[D_LLIST] = "gpuvm lock-free list (the library's API)",
	[D_MUTEX] = "pthread mutex + intrusive list (bench-local put)",
	[D_URCU] = "liburcu cds_lfs stack (bench-local put)",
};

static const unsigned int batch_sizes[] = { 64, 1024, 65536 };
#define NR_BATCHES (sizeof(batch_sizes) / sizeof(batch_sizes[0]))

/* ------------------------------------------------------------------ */
/* Clock.                                                               */

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* The median cost of one clock read, measured as back-to-back pairs. */
static uint32_t clock_overhead(void)
{
	static uint32_t d[20001];
	unsigned int i;

	for (i = 0; i < 20001; i++) {
		uint64_t a = bench_now_ns(), b = bench_now_ns();

		d[i] = (uint32_t)(b - a);
	}
	qsort(d, 20001, sizeof(d[0]), cmp_u32);
	return d[10000];
}

/* splitmix64, for the order in which a producer puts its vm_bos. */
static uint64_t rng_next(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* ------------------------------------------------------------------ */
/* Reservation lock counting (see the top comment).                    */

static _Atomic(struct gpuvm_resv *) watched_resv;
static atomic_ulong resv_locks;

#ifdef GPUVM_BENCH_WRAP
int __real_gpuvm_resv_lock(struct gpuvm_resv *resv,
			   struct gpuvm_ww_acquire_ctx *ctx);
int __wrap_gpuvm_resv_lock(struct gpuvm_resv *resv,
			   struct gpuvm_ww_acquire_ctx *ctx);

int __wrap_gpuvm_resv_lock(struct gpuvm_resv *resv,
			   struct gpuvm_ww_acquire_ctx *ctx)
{
	int ret = __real_gpuvm_resv_lock(resv, ctx);

	if (!ret &&
	    resv == atomic_load_explicit(&watched_resv, memory_order_relaxed))
		atomic_fetch_add_explicit(&resv_locks, 1, memory_order_relaxed);
	return ret;
}
#define LOCKS_COUNTED true
#else
#define LOCKS_COUNTED false
#endif

/* ------------------------------------------------------------------ */
/* vm_bos, objects, the VM.                                             */

/* A library vm_bo with the links of the two other queue designs. */
struct bvb {
	struct gpuvm_bo base;
	struct gpuvm_list_head mnode;
	struct cds_lfs_node lnode;
};

static struct bvb *pool;
static size_t pool_cap;
static atomic_size_t pool_next;
static atomic_ulong pool_frees;

static struct gpuvm_bo *pool_alloc(void)
{
	size_t i =
		atomic_fetch_add_explicit(&pool_next, 1, memory_order_relaxed);

	return i < pool_cap ? &pool[i].base : NULL;
}

/* The memory stays in the pool; one relaxed add, as cheap as a free. */
static void pool_free(struct gpuvm_bo *vm_bo)
{
	(void)vm_bo;
	atomic_fetch_add_explicit(&pool_frees, 1, memory_order_relaxed);
}

static void vm_free_nop(struct gpuvm *vm)
{
	(void)vm;
}

static const struct gpuvm_ops bench_vm_ops = {
	.vm_free = vm_free_nop,
	.vm_bo_alloc = pool_alloc,
	.vm_bo_free = pool_free,
};

static void gem_free_nop(struct gpuvm_gem *obj)
{
	(void)obj;
}

static const struct gpuvm_gem_funcs bench_gem_funcs = {
	.free = gem_free_nop,
};

static struct gpuvm_gem *objs;
static size_t nr_objs;

/* The other designs' queues, each next to its zombie counter. */
struct mqueue {
	pthread_mutex_t lock;
	struct gpuvm_list_head head;
	atomic_uint nr;
} __attribute__((aligned(64)));

struct uqueue {
	struct __cds_lfs_stack s;
	atomic_uint nr;
} __attribute__((aligned(64)));

struct lqueue {
	struct gpuvm_llist_head head;
} __attribute__((aligned(64)));

/*
 * @queue_only: the put is only the design's push and the drain only its
 * take-all and walk (the vm_bos are put for real after the round).
 */
struct ctx {
	struct gpuvm vm;
	struct gpuvm_gem *root;
	bool resv;
	bool queue_only;
	enum design design;
	struct lqueue lq;
	struct mqueue mq;
	struct uqueue uq;
};

static void ctx_init(struct ctx *c, bool resv, enum design d)
{
	memset(c, 0, sizeof(*c));
	c->root = gpuvm_resv_object_alloc();
	if (!c->root ||
	    gpuvm_init(&c->vm, "bench",
		       GPUVM_IMMEDIATE_MODE | (resv ? GPUVM_RESV_PROTECTED : 0),
		       c->root, 0, 1ull << 40, 0, 0, &bench_vm_ops)) {
		fprintf(stderr, "cannot create the VM\n");
		exit(1);
	}
	gpuvm_gem_put(c->root);
	c->resv = resv;
	c->design = d;
	pthread_mutex_init(&c->mq.lock, NULL);
	gpuvm_list_init(&c->mq.head);
	atomic_init(&c->mq.nr, 0);
	__cds_lfs_init(&c->uq.s);
	atomic_init(&c->uq.nr, 0);
	gpuvm_llist_init_head(&c->lq.head);
}

static void ctx_fini(struct ctx *c)
{
	if (gpuvm_kref_read(&c->vm.kref) != 1) {
		fprintf(stderr, "VM still referenced (%u)\n",
			gpuvm_kref_read(&c->vm.kref));
		exit(1);
	}
	gpuvm_put(&c->vm);
	pthread_mutex_destroy(&c->mq.lock);
}

/* Untimed: @n fresh vm_bos, one reference each, on their objects' lists. */
static void make_vm_bos(struct ctx *c, struct gpuvm_bo **out, size_t first,
			size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		struct gpuvm_bo *pre =
			gpuvm_bo_create(&c->vm, &objs[first + i]);

		if (!pre) {
			fprintf(stderr, "vm_bo pool exhausted\n");
			exit(1);
		}
		out[i] = gpuvm_bo_obtain_prealloc(pre);
		if (out[i] != pre) {
			fprintf(stderr, "object already had a vm_bo\n");
			exit(1);
		}
	}
}

/* ------------------------------------------------------------------ */
/* The bench-local put and drain (designs mutex and urcu).              */

/* As the library's vm_list_del_init(): the list's lock is always taken. */
static void list_del_locked(struct gpuvm_mutex *lock,
			    struct gpuvm_list_head *entry)
{
	gpuvm_mutex_lock(lock);
	if (!gpuvm_list_empty(entry))
		gpuvm_list_del_init(entry);
	gpuvm_mutex_unlock(lock);
}

static void local_into_zombie(struct gpuvm_kref *kref)
{
	struct gpuvm_bo *vm_bo =
		gpuvm_container_of(kref, struct gpuvm_bo, kref);
	struct gpuvm *vm = vm_bo->vm;

	if (!gpuvm_resv_protected(vm)) {
		list_del_locked(&vm->extobj.lock, &vm_bo->list.entry.extobj);
		list_del_locked(&vm->evict.lock, &vm_bo->list.entry.evict);
	}
	gpuvm_list_del_init(&vm_bo->list.entry.gem);
}

static void local_queue(struct ctx *c, struct bvb *b)
{
	if (c->design == D_MUTEX) {
		atomic_fetch_add_explicit(&c->mq.nr, 1, memory_order_relaxed);
		pthread_mutex_lock(&c->mq.lock);
		gpuvm_list_add(&b->mnode, &c->mq.head);
		pthread_mutex_unlock(&c->mq.lock);
	} else {
		atomic_fetch_add_explicit(&c->uq.nr, 1, memory_order_relaxed);
		cds_lfs_push(&c->uq.s, &b->lnode);
	}
}

static bool local_put_deferred(struct ctx *c, struct gpuvm_bo *vm_bo)
{
	struct gpuvm_gem *obj = vm_bo->obj;
	bool zombie;

	if (!gpuvm_immediate_mode(vm_bo->vm))
		return false;
	if (gpuvm_kref_dec_not_one(&vm_bo->kref))
		return false;
	gpuvm_gem_gpuva_lock(obj);
	zombie = gpuvm_kref_put(&vm_bo->kref, local_into_zombie);
	gpuvm_gem_gpuva_unlock(obj);
	if (zombie)
		local_queue(c, gpuvm_container_of(vm_bo, struct bvb, base));
	return zombie;
}

/* Queue only: the push of each design, nothing else. */
static void queue_push(struct ctx *c, struct gpuvm_bo *vm_bo)
{
	struct bvb *b = gpuvm_container_of(vm_bo, struct bvb, base);

	switch (c->design) {
	case D_LLIST:
		gpuvm_llist_add(&vm_bo->list.entry.bo_defer, &c->lq.head);
		break;
	case D_MUTEX:
		pthread_mutex_lock(&c->mq.lock);
		gpuvm_list_add(&b->mnode, &c->mq.head);
		pthread_mutex_unlock(&c->mq.lock);
		break;
	default:
		cds_lfs_push(&c->uq.s, &b->lnode);
		break;
	}
}

/* Queue only: take everything and walk it. */
static size_t queue_take_walk(struct ctx *c)
{
	struct gpuvm_llist_node *ln;
	struct gpuvm_list_head local, *mp;
	struct cds_lfs_head *head;
	struct cds_lfs_node *up;
	size_t n = 0;

	switch (c->design) {
	case D_LLIST:
		gpuvm_llist_for_each(ln, gpuvm_llist_del_all(&c->lq.head))
			n++;
		break;
	case D_MUTEX:
		gpuvm_list_init(&local);
		pthread_mutex_lock(&c->mq.lock);
		gpuvm_list_splice_init(&c->mq.head, &local);
		pthread_mutex_unlock(&c->mq.lock);
		gpuvm_list_for_each(mp, &local)
			n++;
		break;
	default:
		head = __cds_lfs_pop_all(&c->uq.s);
		if (head)
			cds_lfs_for_each(head, up) n++;
		break;
	}
	return n;
}

static bool put_deferred(struct ctx *c, struct gpuvm_bo *vm_bo)
{
	if (c->queue_only) {
		queue_push(c, vm_bo);
		return true;
	}
	if (c->design == D_LLIST)
		return gpuvm_bo_put_deferred(vm_bo);
	return local_put_deferred(c, vm_bo);
}

/* The library's destroy of a zombie that is on no list any more. */
static void local_destroy(struct gpuvm_bo *vm_bo)
{
	struct gpuvm *vm = vm_bo->vm;
	struct gpuvm_gem *obj = vm_bo->obj;

	vm->ops->vm_bo_free(vm_bo);
	gpuvm_put(vm);
	gpuvm_gem_put(obj);
}

static void local_off_vm_lists(struct gpuvm_bo *vm_bo)
{
	if (!gpuvm_list_empty(&vm_bo->list.entry.extobj))
		gpuvm_list_del_init(&vm_bo->list.entry.extobj);
	if (!gpuvm_list_empty(&vm_bo->list.entry.evict))
		gpuvm_list_del_init(&vm_bo->list.entry.evict);
}

static size_t drain_mutex(struct ctx *c)
{
	struct gpuvm_list_head local, *p, *n;
	struct gpuvm *vm = &c->vm;
	size_t cnt = 0;

	gpuvm_list_init(&local);
	pthread_mutex_lock(&c->mq.lock);
	gpuvm_list_splice_init(&c->mq.head, &local);
	pthread_mutex_unlock(&c->mq.lock);
	if (gpuvm_list_empty(&local))
		return 0;
	gpuvm_get(vm);
	if (c->resv) {
		gpuvm_resv_lock(gpuvm_vm_resv(vm), NULL);
		gpuvm_list_for_each(p, &local)
			local_off_vm_lists(
				&gpuvm_container_of(p, struct bvb, mnode)
					 ->base);
		gpuvm_resv_unlock(gpuvm_vm_resv(vm));
	}
	gpuvm_list_for_each_safe(p, n, &local) {
		atomic_fetch_sub_explicit(&c->mq.nr, 1, memory_order_relaxed);
		local_destroy(&gpuvm_container_of(p, struct bvb, mnode)->base);
		cnt++;
	}
	gpuvm_put(vm);
	return cnt;
}

static size_t drain_urcu(struct ctx *c)
{
	struct cds_lfs_head *head = __cds_lfs_pop_all(&c->uq.s);
	struct cds_lfs_node *p, *n;
	struct gpuvm *vm = &c->vm;
	size_t cnt = 0;

	if (!head)
		return 0;
	gpuvm_get(vm);
	if (c->resv) {
		gpuvm_resv_lock(gpuvm_vm_resv(vm), NULL);
		cds_lfs_for_each(head, p) local_off_vm_lists(
			&gpuvm_container_of(p, struct bvb, lnode)->base);
		gpuvm_resv_unlock(gpuvm_vm_resv(vm));
	}
	cds_lfs_for_each_safe(head, p, n)
	{
		atomic_fetch_sub_explicit(&c->uq.nr, 1, memory_order_relaxed);
		local_destroy(&gpuvm_container_of(p, struct bvb, lnode)->base);
		cnt++;
	}
	gpuvm_put(vm);
	return cnt;
}

/* Drains the queue once; returns how many zombies went (llist: -1 = ?). */
static size_t drain(struct ctx *c)
{
	unsigned long before;

	if (c->queue_only)
		return queue_take_walk(c);
	switch (c->design) {
	case D_LLIST:
		before =
			atomic_load_explicit(&pool_frees, memory_order_relaxed);
		gpuvm_bo_deferred_cleanup(&c->vm);
		return atomic_load_explicit(&pool_frees, memory_order_relaxed) -
		       before;
	case D_MUTEX:
		return drain_mutex(c);
	default:
		return drain_urcu(c);
	}
}

/* ------------------------------------------------------------------ */
/* Put throughput and latency.                                          */

struct producer {
	struct ctx *c;
	pthread_barrier_t *start;
	struct gpuvm_bo **vb;
	size_t n;
	bool timed_calls;
	uint32_t *samples;
	uint32_t overhead;
	uint64_t t0, t1;
	unsigned int not_zombie;
};

static void *producer_fn(void *arg)
{
	struct producer *p = arg;
	struct ctx *c = p->c;
	size_t i;

	pthread_barrier_wait(p->start);
	p->t0 = bench_now_ns();
	if (!p->timed_calls) {
		for (i = 0; i < p->n; i++)
			if (!put_deferred(c, p->vb[i]))
				p->not_zombie++;
	} else {
		for (i = 0; i < p->n; i++) {
			uint64_t a = bench_now_ns(), d;
			bool z = put_deferred(c, p->vb[i]);

			d = bench_now_ns() - a;
			p->samples[i] = d > p->overhead
						? (uint32_t)(d - p->overhead)
						: 0;
			if (!z)
				p->not_zombie++;
		}
	}
	p->t1 = bench_now_ns();
	return NULL;
}

struct drainer {
	struct ctx *c;
	atomic_bool stop;
	size_t drained;
};

static void *drainer_fn(void *arg)
{
	struct drainer *d = arg;

	for (;;) {
		bool stop = atomic_load(&d->stop);
		size_t n = drain(d->c);

		d->drained += n;
		if (!n && stop)
			break;
		/*
		 * A worker that wakes up now and then, not a spinner: with
		 * two producers on a two-core machine a spinning drainer
		 * would take a third of their time.
		 */
		if (n < 64)
			nanosleep(&(struct timespec){ .tv_nsec = 50000 }, NULL);
	}
	return NULL;
}

struct put_result {
	bool resv;
	enum design design;
	unsigned int producers;
	double mput_s;
	double p50, p99, p999;
	size_t samples;
};

static void shuffle(struct gpuvm_bo **v, size_t n, uint64_t *rng)
{
	size_t i;

	for (i = n; i > 1; i--) {
		size_t j = (size_t)(rng_next(rng) % i);
		struct gpuvm_bo *t = v[i - 1];

		v[i - 1] = v[j];
		v[j] = t;
	}
}

/*
 * One round: each producer gets ROUND_PUTS fresh vm_bos of its own objects
 * (untimed), then all put them at once while the drainer runs. Returns the
 * round's wall time from the first start to the last end.
 */
static uint64_t put_round(struct ctx *c, unsigned int np, bool timed_calls,
			  uint32_t *samples, uint32_t overhead, uint64_t *rng)
{
	static struct gpuvm_bo *vb[MAX_PRODUCERS][ROUND_PUTS];
	struct producer prod[MAX_PRODUCERS];
	pthread_t th[MAX_PRODUCERS], dt;
	pthread_barrier_t start;
	struct drainer d = { .c = c };
	uint64_t t0 = UINT64_MAX, t1 = 0;
	unsigned int i;

	atomic_store(&pool_next, 0);
	atomic_store(&pool_frees, 0);
	for (i = 0; i < np; i++) {
		make_vm_bos(c, vb[i], (size_t)i * ROUND_PUTS, ROUND_PUTS);
		shuffle(vb[i], ROUND_PUTS, rng);
	}
	pthread_barrier_init(&start, NULL, np + 1);
	atomic_init(&d.stop, false);
	pthread_create(&dt, NULL, drainer_fn, &d);
	for (i = 0; i < np; i++) {
		prod[i] = (struct producer){
			.c = c,
			.start = &start,
			.vb = vb[i],
			.n = ROUND_PUTS,
			.timed_calls = timed_calls,
			.samples = samples ? samples + (size_t)i * ROUND_PUTS
					   : NULL,
			.overhead = overhead,
		};
		pthread_create(&th[i], NULL, producer_fn, &prod[i]);
	}
	pthread_barrier_wait(&start);
	for (i = 0; i < np; i++) {
		pthread_join(th[i], NULL);
		if (prod[i].not_zombie) {
			fprintf(stderr, "a last put did not make a zombie\n");
			exit(1);
		}
		t0 = prod[i].t0 < t0 ? prod[i].t0 : t0;
		t1 = prod[i].t1 > t1 ? prod[i].t1 : t1;
	}
	atomic_store(&d.stop, true);
	pthread_join(dt, NULL);
	pthread_barrier_destroy(&start);
	if (c->queue_only) {
		/* Untimed: the vm_bos were only pushed; put them for real. */
		for (i = 0; i < np; i++) {
			size_t k;

			for (k = 0; k < ROUND_PUTS; k++)
				gpuvm_bo_put_deferred(vb[i][k]);
		}
		gpuvm_bo_deferred_cleanup(&c->vm);
	}
	if (d.drained != (size_t)np * ROUND_PUTS ||
	    atomic_load(&pool_frees) != (unsigned long)np * ROUND_PUTS) {
		fprintf(stderr, "drained %zu of %u zombies\n", d.drained,
			np * ROUND_PUTS);
		exit(1);
	}
	return t1 - t0;
}

#define MAX_ROUNDS 4096

/*
 * The three designs in interleaved rounds (a, b, c, b, c, a, ...), so that
 * whatever else the machine does falls on all three alike; each design's
 * figure is the median of its rounds. Latency rounds time every call and
 * are separate from the throughput rounds.
 */
static void put_compare(struct put_result *r, bool resv, unsigned int np,
			double seconds, uint32_t overhead, uint64_t seed,
			bool queue_only)
{
	static uint32_t samples[NR_DESIGNS][MAX_SAMPLES];
	static double tput[NR_DESIGNS][MAX_ROUNDS];
	const size_t per_round = (size_t)np * ROUND_PUTS;
	struct ctx *c[NR_DESIGNS];
	size_t ns[NR_DESIGNS] = { 0 };
	unsigned int rounds = 0, k, j;
	uint64_t rng = seed, t_end;
	int d;

	for (d = 0; d < NR_DESIGNS; d++) {
		c[d] = malloc(sizeof(*c[d]));
		if (!c[d])
			exit(1);
		ctx_init(c[d], resv, (enum design)d);
		c[d]->queue_only = queue_only;
		memset(&r[d], 0, sizeof(r[d]));
		r[d].resv = resv;
		r[d].design = (enum design)d;
		r[d].producers = np;
	}

	t_end = bench_now_ns() + (uint64_t)(seconds * NR_DESIGNS * 1e9);
	do {
		for (j = 0; j < NR_DESIGNS; j++) {
			k = (rounds + j) % NR_DESIGNS;
			tput[k][rounds] = (double)per_round /
					  (double)put_round(c[k], np, false,
							    NULL, 0, &rng) *
					  1e3;
		}
		rounds++;
	} while ((bench_now_ns() < t_end || rounds < 5) && rounds < MAX_ROUNDS);
	for (d = 0; d < NR_DESIGNS; d++) {
		bench_sort_doubles(tput[d], rounds);
		r[d].mput_s = bench_quantile(tput[d], rounds, 0.5);
	}

	rounds = 0;
	t_end = bench_now_ns() + (uint64_t)(seconds * NR_DESIGNS * 1e9);
	do {
		for (j = 0; j < NR_DESIGNS; j++) {
			k = (rounds + j) % NR_DESIGNS;
			put_round(c[k], np, true, samples[k] + ns[k], overhead,
				  &rng);
			ns[k] += per_round;
		}
		rounds++;
	} while ((bench_now_ns() < t_end || rounds < 3) &&
		 ns[0] + per_round <= MAX_SAMPLES);
	for (d = 0; d < NR_DESIGNS; d++) {
		uint32_t *v = samples[d];
		size_t n = ns[d];

		qsort(v, n, sizeof(v[0]), cmp_u32);
		r[d].samples = n;
		r[d].p50 = v[n / 2];
		r[d].p99 = v[(size_t)((double)n * 0.99)];
		r[d].p999 = v[(size_t)((double)n * 0.999)];
		ctx_fini(c[d]);
		free(c[d]);
	}
}

/* ------------------------------------------------------------------ */
/* Drain cost.                                                          */

struct drain_result {
	bool resv;
	enum design design;
	unsigned int batch;
	double ns_per_node;
	double locks_per_batch;
	unsigned int reps;
};

/* One batch of @n zombies queued (untimed), then drained (timed). */
static double drain_once(struct ctx *c, unsigned int n, uint64_t *rng,
			 uint64_t *locks)
{
	static struct gpuvm_bo *vb[MAX_BATCH];
	uint64_t t0, t1;
	unsigned int i;
	size_t got;

	atomic_store(&pool_next, 0);
	atomic_store(&pool_frees, 0);
	make_vm_bos(c, vb, 0, n);
	shuffle(vb, n, rng);
	for (i = 0; i < n; i++)
		if (!put_deferred(c, vb[i])) {
			fprintf(stderr, "not a zombie\n");
			exit(1);
		}
	atomic_store(&resv_locks, 0);
	atomic_store(&watched_resv, gpuvm_vm_resv(&c->vm));
	t0 = bench_now_ns();
	got = drain(c);
	t1 = bench_now_ns();
	atomic_store(&watched_resv, NULL);
	if (got != n) {
		fprintf(stderr, "drained %zu of %u\n", got, n);
		exit(1);
	}
	*locks += atomic_load(&resv_locks);
	return (double)(t1 - t0) / n;
}

/* The three designs, interleaved batch by batch; medians per design. */
static void drain_compare(struct drain_result *r, bool resv, unsigned int n,
			  double seconds, uint64_t seed)
{
	static double per_node[NR_DESIGNS][MAX_ROUNDS];
	uint64_t locks[NR_DESIGNS] = { 0 };
	struct ctx *c[NR_DESIGNS];
	unsigned int reps = 0, j, k;
	uint64_t rng = seed, t_end;
	int d;

	for (d = 0; d < NR_DESIGNS; d++) {
		c[d] = malloc(sizeof(*c[d]));
		if (!c[d])
			exit(1);
		ctx_init(c[d], resv, (enum design)d);
	}
	t_end = bench_now_ns() + (uint64_t)(seconds * NR_DESIGNS * 1e9);
	do {
		for (j = 0; j < NR_DESIGNS; j++) {
			k = (reps + j) % NR_DESIGNS;
			per_node[k][reps] =
				drain_once(c[k], n, &rng, &locks[k]);
		}
		reps++;
	} while ((bench_now_ns() < t_end || reps < 5) && reps < MAX_ROUNDS);
	for (d = 0; d < NR_DESIGNS; d++) {
		memset(&r[d], 0, sizeof(r[d]));
		r[d].resv = resv;
		r[d].design = (enum design)d;
		r[d].batch = n;
		bench_sort_doubles(per_node[d], reps);
		r[d].ns_per_node = bench_quantile(per_node[d], reps, 0.5);
		r[d].locks_per_batch = (double)locks[d] / reps;
		r[d].reps = reps;
		ctx_fini(c[d]);
		free(c[d]);
	}
}

/* ------------------------------------------------------------------ */
/* Options, output.                                                     */

struct opts {
	double seconds;
	uint64_t seed;
	bool json;
	const char *json_path;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: gpuvm-deferred-bench [options]\n"
		"  --seconds S       time budget per measurement (default "
		"0.25)\n"
		"  --seed N          seed of the put order (default 1)\n"
		"  --json [FILE]     write JSON to FILE, or after the table to "
		"standard output\n"
		"  --help            this text\n");
}

static void parse(int argc, char **argv, struct opts *o)
{
	int i;

	memset(o, 0, sizeof(*o));
	o->seconds = 0.25;
	o->seed = 1;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *next = i + 1 < argc ? argv[i + 1] : NULL;
		char *end;

		if (!strcmp(a, "--seconds") && next) {
			o->seconds = strtod(next, &end);
			if (*end || o->seconds <= 0) {
				fprintf(stderr, "bad --seconds %s\n", next);
				exit(2);
			}
			i++;
		} else if (!strcmp(a, "--seed") && next) {
			errno = 0;
			o->seed = strtoull(next, &end, 0);
			if (errno || *end) {
				fprintf(stderr, "bad --seed %s\n", next);
				exit(2);
			}
			i++;
		} else if (!strcmp(a, "--json")) {
			o->json = true;
			if (next && strncmp(next, "--", 2)) {
				o->json_path = next;
				i++;
			}
		} else if (!strcmp(a, "--help")) {
			usage(stdout);
			exit(0);
		} else {
			usage(stderr);
			exit(2);
		}
	}
}

static const char *mode_name(bool resv)
{
	return resv ? "resv-protected" : "internal-locks";
}

static const struct put_result *find_put(const struct put_result *pr, size_t n,
					 bool resv, enum design d,
					 unsigned int np)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (pr[i].resv == resv && pr[i].design == d &&
		    pr[i].producers == np)
			return &pr[i];
	return NULL;
}

struct target {
	const char *name;
	const char *mode;
	double value;
	const char *cmp;
	double limit;
	bool met;
};

int main(int argc, char **argv)
{
	struct put_result pr[2 * NR_DESIGNS * MAX_PRODUCERS];
	struct put_result qr[NR_DESIGNS * MAX_PRODUCERS];
	struct drain_result dr[2 * NR_DESIGNS * NR_BATCHES];
	struct target tg[16];
	size_t npr = 0, nqr = 0, ndr = 0, ntg = 0, i;
	uint32_t overhead;
	struct opts o;
	unsigned int m, np, b;
	int d;
	FILE *jf;

	parse(argc, argv, &o);
	nr_objs = MAX_BATCH;
	objs = calloc(nr_objs, sizeof(*objs));
	pool_cap = MAX_BATCH;
	pool = calloc(pool_cap, sizeof(*pool));
	if (!objs || !pool)
		return 1;
	for (i = 0; i < nr_objs; i++)
		gpuvm_gem_init(&objs[i], &bench_gem_funcs, 4096);
	overhead = clock_overhead();

	printf("gpuvm-deferred-bench: build %s, checks %s, seed %" PRIu64
	       ", %.2f s per measurement, clock read %u ns (subtracted)\n",
	       GPUVM_BENCH_BUILDTYPE, gpuvm_checks_enabled() ? "on" : "off",
	       o.seed, o.seconds, overhead);
	for (d = 0; d < NR_DESIGNS; d++)
		printf("  %-6s %s\n", design_name[d], design_help[d]);
	printf("\n");

	for (m = 0; m < 2; m++) {
		bool resv = m == 1;

		printf("put_deferred of a last reference (%s VM), one drainer "
		       "thread running\n",
		       mode_name(resv));
		printf("  %-6s %4s %10s %8s %8s %8s\n", "design", "prod",
		       "Mput/s", "p50 ns", "p99 ns", "p99.9 ns");
		for (np = 1; np <= MAX_PRODUCERS; np++) {
			put_compare(&pr[npr], resv, np, o.seconds, overhead,
				    o.seed, false);
			for (d = 0; d < NR_DESIGNS; d++) {
				const struct put_result *r = &pr[npr++];

				printf("  %-6s %4u %10.2f %8.0f %8.0f %8.0f\n",
				       design_name[d], np, r->mput_s, r->p50,
				       r->p99, r->p999);
			}
			fflush(stdout);
		}
		printf("\n");
	}

	printf("for reference: the queue alone (push of a preallocated node; "
	       "the drainer takes all and walks)\n");
	printf("  %-6s %4s %10s %8s %8s %8s\n", "design", "prod", "Mpush/s",
	       "p50 ns", "p99 ns", "p99.9 ns");
	for (np = 1; np <= MAX_PRODUCERS; np++) {
		put_compare(&qr[nqr], false, np, o.seconds, overhead, o.seed,
			    true);
		for (d = 0; d < NR_DESIGNS; d++) {
			const struct put_result *r = &qr[nqr++];

			printf("  %-6s %4u %10.2f %8.0f %8.0f %8.0f\n",
			       design_name[d], np, r->mput_s, r->p50, r->p99,
			       r->p999);
		}
		fflush(stdout);
	}
	printf("\n");

	for (m = 0; m < 2; m++) {
		bool resv = m == 1;

		printf("drain (gpuvm_bo_deferred_cleanup or its copy) of a "
		       "batch (%s VM), ns per zombie\n",
		       mode_name(resv));
		printf("  %-6s", "design");
		for (b = 0; b < NR_BATCHES; b++)
			printf(" %9u", batch_sizes[b]);
		printf("  %s\n", "resv locks/batch");
		for (b = 0; b < NR_BATCHES; b++)
			drain_compare(&dr[ndr + b * NR_DESIGNS], resv,
				      batch_sizes[b], o.seconds, o.seed);
		for (d = 0; d < NR_DESIGNS; d++) {
			printf("  %-6s", design_name[d]);
			for (b = 0; b < NR_BATCHES; b++)
				printf(" %9.1f", dr[ndr + b * NR_DESIGNS + d]
							 .ns_per_node);
			if (LOCKS_COUNTED)
				printf("  %.2f\n", dr[ndr + d].locks_per_batch);
			else
				printf("  n/a\n");
		}
		ndr += NR_BATCHES * NR_DESIGNS;
		printf("\n");
	}

	/* Targets. */
	for (m = 0; m < 2; m++) {
		bool resv = m == 1;
		const struct put_result *l =
			find_put(pr, npr, resv, D_LLIST, 2);
		const struct put_result *x =
			find_put(pr, npr, resv, D_MUTEX, 2);
		const struct put_result *u = find_put(pr, npr, resv, D_URCU, 2);
		double worst = 0;

		tg[ntg++] =
			(struct target){ "2-producer throughput, llist / mutex",
					 mode_name(resv),
					 l->mput_s / x->mput_s,
					 ">=",
					 2.0,
					 l->mput_s / x->mput_s >= 2.0 };
		tg[ntg++] =
			(struct target){ "2-producer throughput, urcu / llist",
					 mode_name(resv),
					 u->mput_s / l->mput_s,
					 "<=",
					 1.2,
					 u->mput_s / l->mput_s <= 1.2 };
		for (np = 1; np <= MAX_PRODUCERS; np++) {
			const struct put_result *p =
				find_put(pr, npr, resv, D_LLIST, np);

			if (p->p999 > worst)
				worst = p->p999;
		}
		tg[ntg++] = (struct target){ "p99.9 of a queueing put (ns)",
					     mode_name(resv),
					     worst,
					     "<",
					     1000.0,
					     worst < 1000.0 };
	}
	for (i = 0; i < ndr; i++) {
		static char names[NR_BATCHES][48];

		if (!dr[i].resv || dr[i].design != D_LLIST)
			continue;
		for (b = 0; b < NR_BATCHES; b++)
			if (batch_sizes[b] == dr[i].batch)
				break;
		snprintf(names[b], sizeof(names[b]),
			 "resv locks per drained batch of %u", dr[i].batch);
		tg[ntg++] = (struct target){
			names[b],
			"resv-protected",
			LOCKS_COUNTED ? dr[i].locks_per_batch : -1,
			"==",
			1.0,
			LOCKS_COUNTED && dr[i].locks_per_batch == 1.0
		};
	}
	printf("targets\n");
	for (i = 0; i < ntg; i++)
		printf("  %-40s %-15s %9.2f %2s %7.2f  %s\n", tg[i].name,
		       tg[i].mode, tg[i].value, tg[i].cmp, tg[i].limit,
		       tg[i].met ? "MET" : "MISSED");

	if (o.json) {
		jf = o.json_path ? fopen(o.json_path, "w") : stdout;
		if (!jf) {
			perror(o.json_path);
			return 1;
		}
		fprintf(jf,
			"{\n  \"bench\": \"gpuvm-deferred-bench\",\n"
			"  \"buildtype\": \"%s\",\n  \"checks\": %s,\n"
			"  \"seed\": %" PRIu64 ",\n  \"seconds\": %g,\n"
			"  \"clock_overhead_ns\": %u,\n  \"put\": [\n",
			GPUVM_BENCH_BUILDTYPE,
			gpuvm_checks_enabled() ? "true" : "false", o.seed,
			o.seconds, overhead);
		for (i = 0; i < npr; i++)
			fprintf(jf,
				"    {\"mode\": \"%s\", \"design\": \"%s\", "
				"\"producers\": %u, \"mput_per_s\": %.3f, "
				"\"p50_ns\": %.0f, \"p99_ns\": %.0f, "
				"\"p999_ns\": %.0f, \"samples\": %zu}%s\n",
				mode_name(pr[i].resv),
				design_name[pr[i].design], pr[i].producers,
				pr[i].mput_s, pr[i].p50, pr[i].p99, pr[i].p999,
				pr[i].samples, i + 1 < npr ? "," : "");
		fprintf(jf, "  ],\n  \"queue_only\": [\n");
		for (i = 0; i < nqr; i++)
			fprintf(jf,
				"    {\"design\": \"%s\", \"producers\": %u, "
				"\"mpush_per_s\": %.3f, \"p50_ns\": %.0f, "
				"\"p99_ns\": %.0f, \"p999_ns\": %.0f}%s\n",
				design_name[qr[i].design], qr[i].producers,
				qr[i].mput_s, qr[i].p50, qr[i].p99, qr[i].p999,
				i + 1 < nqr ? "," : "");
		fprintf(jf, "  ],\n  \"drain\": [\n");
		for (i = 0; i < ndr; i++) {
			fprintf(jf,
				"    {\"mode\": \"%s\", \"design\": \"%s\", "
				"\"batch\": %u, \"ns_per_node\": %.2f, "
				"\"reps\": %u, \"resv_locks_per_batch\": ",
				mode_name(dr[i].resv),
				design_name[dr[i].design], dr[i].batch,
				dr[i].ns_per_node, dr[i].reps);
			if (LOCKS_COUNTED)
				fprintf(jf, "%.3f}", dr[i].locks_per_batch);
			else
				fprintf(jf, "null}");
			fprintf(jf, "%s\n", i + 1 < ndr ? "," : "");
		}
		fprintf(jf, "  ],\n  \"targets\": [\n");
		for (i = 0; i < ntg; i++)
			fprintf(jf,
				"    {\"name\": \"%s\", \"mode\": \"%s\", "
				"\"value\": %.3f, \"cmp\": \"%s\", "
				"\"limit\": %.3f, \"met\": %s}%s\n",
				tg[i].name, tg[i].mode, tg[i].value, tg[i].cmp,
				tg[i].limit, tg[i].met ? "true" : "false",
				i + 1 < ntg ? "," : "");
		fprintf(jf, "  ]\n}\n");
		if (jf != stdout)
			fclose(jf);
	}

	for (i = 0; i < nr_objs; i++)
		gpuvm_gem_put(&objs[i]);
	free(objs);
	free(pool);
	return 0;
}
