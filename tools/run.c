// SPDX-License-Identifier: MIT
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <gpuvm/alloc.h>
#include <gpuvm/fence.h>
#include <gpuvm/gem.h>
#include <gpuvm/gpuvm.h>
#include <gpuvm/pt.h>
#include <gpuvm/mutex.h>
#include <gpuvm/queue.h>

#include "run.h"

#define EXIT_USAGE 2

#define KIB  UINT64_C(1024)
#define MIB  (KIB * 1024)
#define GIB  (MIB * 1024)
#define TILE (64 * KIB)

/* Jobs a thread keeps in flight before it waits for the oldest. */
#define WINDOW 16

enum workload { WL_KV, WL_SPARSE, WL_CHURN };

static const char *const wl_names[] = { "kv-cache", "sparse-texture", "churn" };

struct opts {
	enum workload wl;
	uint64_t seed;
	double seconds;
	bool have_seconds;
	uint64_t jobs;
	unsigned int threads;
	unsigned int queues;
	bool json;
	uint64_t page_size;
	unsigned int requests;
	unsigned int max_context;
	unsigned int tiles;
	unsigned int resources;
	unsigned int mappings;
	unsigned int batch;
};

struct run;

/* A buffer object with one contiguous physical range. */
struct bo {
	struct gpuvm_gem gem;
	uint64_t pa;
	struct run *run;
};

/* The per-workload state of one submitting thread. */
struct kv_req {
	bool active;
	uint64_t tokens, target;
	uint64_t pages; /* mapped per tensor */
};

struct worker {
	struct run *run;
	unsigned int id;
	struct gpuvm_bind_queue *q;
	uint64_t rng;
	uint64_t jobs_limit;
	uint64_t jobs, ops;
	int err;
	struct gpuvm_fence *ring[WINDOW];
	unsigned int ring_head, ring_len;
	uint64_t pa_next, pa_base;
	struct gpuvm_bind_req *reqs;
	unsigned int nr_reqs, cap_reqs;

	/* kv-cache */
	struct kv_req *kv;
	unsigned int nr_kv;
	uint64_t kv_first_slot;
	uint64_t step;
	double next_arrival;
	unsigned int pending;
	uint64_t requests_done;

	/* sparse-texture */
	int32_t *tile_page;	     /* pool page of each tile, -1: null */
	uint32_t *bound, *bound_pos; /* bound tiles, and where in bound[] */
	uint32_t nr_bound;
	uint32_t *free_pages;
	uint32_t nr_free;
	struct bo **pool;
	unsigned int nr_pool;
	uint64_t nr_tiles, res_first;
	uint64_t *frame_ns;
	uint64_t frames, cap_frames;

	/* churn */
	uint32_t *perm, *pos; /* the first `live` slots of perm are mapped */
	uint32_t nr_slots, live;
	uint64_t slot_first;
	struct bo **cbo;
	unsigned int nr_cbo;
};

struct run {
	struct opts o;
	struct gpuvm *vm;
	struct gpuvm_pt *pt;
	struct gpuvm_bind_vm *bvm;
	struct gpuvm_bind_queue **queues;
	struct worker *w;
	unsigned int va_bits;
	uint64_t span_start, span_end; /* where the workload maps */
	struct timespec t0;
	atomic_uint_fast64_t jobs_total;
	atomic_uint workers_done;
	atomic_bool stop;
	atomic_uint_fast64_t bos_alloc, bos_freed;
	uint64_t kv_tensor, kv_region;
};

static atomic_uint signalling_violations;

static void violation_handler(enum gpuvm_violation rule, const char *msg,
			      void *data)
{
	(void)rule;
	(void)msg;
	(void)data;
	/* Counted only: the handler may not allocate through the library. */
	atomic_fetch_add(&signalling_violations, 1);
}

/* ---- helpers ---- */

static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* Uniform in [0, n); n > 0. */
static uint64_t rng_below(uint64_t *s, uint64_t n)
{
	return rng_next(s) % n;
}

static double rng_unit(uint64_t *s)
{
	return (double)(rng_next(s) >> 11) / (double)(UINT64_C(1) << 53);
}

static double elapsed_s(const struct run *r)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - r->t0.tv_sec) +
	       (double)(t.tv_nsec - r->t0.tv_nsec) / 1e9;
}

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);

	if (!p) {
		fprintf(stderr, "gpuvm run: out of memory\n");
		exit(1);
	}
	return p;
}

static void bo_free_cb(struct gpuvm_gem *obj)
{
	struct bo *bo = gpuvm_container_of(obj, struct bo, gem);

	atomic_fetch_add(&bo->run->bos_freed, 1);
	free(bo);
}

static const struct gpuvm_gem_funcs bo_funcs = {
	.free = bo_free_cb,
};

/*
 * Each thread hands out physical memory from its own slice of the physical
 * space, wrapping around, so that addresses follow from the seed alone.
 * Aliasing after a wrap is harmless: nothing reads the memory.
 */
static struct bo *bo_new(struct worker *w, uint64_t size)
{
	uint64_t slice = UINT64_C(1) << (GPUVM_PT_PA_BITS - 6);
	uint64_t align = size >= 2 * MIB ? 2 * MIB : TILE;
	struct bo *bo = xcalloc(1, sizeof(*bo));

	if (gpuvm_gem_init(&bo->gem, &bo_funcs, size)) {
		free(bo);
		return NULL;
	}
	w->pa_next = (w->pa_next + align - 1) & ~(align - 1);
	if (w->pa_next + size > slice)
		w->pa_next = 0;
	bo->pa = w->pa_base + w->pa_next;
	w->pa_next += size;
	bo->run = w->run;
	atomic_fetch_add(&w->run->bos_alloc, 1);
	return bo;
}

static int gem_pa(void *priv, struct gpuvm_gem *obj, uint64_t offset,
		  uint64_t range, uint64_t *pa, uint64_t *len)
{
	struct bo *bo = gpuvm_container_of(obj, struct bo, gem);

	(void)priv;
	(void)range;
	*pa = bo->pa + offset;
	*len = obj->size - offset;
	return 0;
}

static const struct gpuvm_bind_vm_ops bind_ops = {
	.gem_pa = gem_pa,
};

static void vm_free(struct gpuvm *vm)
{
	free(vm);
}

static const struct gpuvm_ops vm_ops = {
	.vm_free = vm_free,
	GPUVM_BIND_SM_STEPS,
};

/* ---- submission ---- */

static bool should_stop(struct worker *w)
{
	struct run *r = w->run;

	if (w->err || atomic_load(&r->stop))
		return true;
	if (w->jobs >= w->jobs_limit)
		return true;
	return r->o.have_seconds && elapsed_s(r) >= r->o.seconds;
}

static void fail(struct worker *w, int err, const char *what)
{
	if (!w->err) {
		fprintf(stderr, "gpuvm run: thread %u: %s: %s\n", w->id, what,
			strerror(-err));
		w->err = err;
	}
	atomic_store(&w->run->stop, true);
}

static void wait_oldest(struct worker *w)
{
	struct gpuvm_fence *f = w->ring[w->ring_head];
	int ret = gpuvm_bind_wait(f, GPUVM_WAIT_FOREVER);

	if (ret)
		fail(w, ret, "bind job failed");
	gpuvm_fence_put(f);
	w->ring_head = (w->ring_head + 1) % WINDOW;
	w->ring_len--;
}

static void drain(struct worker *w)
{
	while (w->ring_len)
		wait_oldest(w);
}

static void add_req(struct worker *w, const struct gpuvm_bind_req *req)
{
	if (w->nr_reqs == w->cap_reqs) {
		w->cap_reqs = w->cap_reqs ? 2 * w->cap_reqs : 256;
		w->reqs = realloc(w->reqs, w->cap_reqs * sizeof(*w->reqs));
		if (!w->reqs) {
			fprintf(stderr, "gpuvm run: out of memory\n");
			exit(1);
		}
	}
	w->reqs[w->nr_reqs++] = *req;
}

static void add_map(struct worker *w, uint64_t addr, uint64_t range,
		    struct bo *bo, uint64_t offset)
{
	struct gpuvm_bind_req req = {
		.op = GPUVM_BIND_OP_MAP,
		.flags = bo ? 0 : GPUVM_BIND_SPARSE,
		.addr = addr,
		.range = range,
		.obj = bo ? &bo->gem : NULL,
		.offset = offset,
	};

	add_req(w, &req);
}

static void add_unmap(struct worker *w, uint64_t addr, uint64_t range)
{
	struct gpuvm_bind_req req = {
		.op = GPUVM_BIND_OP_UNMAP,
		.addr = addr,
		.range = range,
	};

	add_req(w, &req);
}

/*
 * Submits the collected requests as one job. Objects created for this job
 * alone are put by the caller afterwards: the job holds its own references.
 */
static int flush_reqs(struct worker *w, struct gpuvm_fence **keep)
{
	struct gpuvm_fence *f;
	int ret;

	if (w->err)
		w->nr_reqs = 0;
	if (!w->nr_reqs)
		return w->err;
	if (w->ring_len == WINDOW)
		wait_oldest(w);
	ret = gpuvm_bind_submit(w->q, w->reqs, w->nr_reqs, NULL, 0, &f);
	if (ret) {
		fail(w, ret, "submit");
		w->nr_reqs = 0;
		return ret;
	}
	w->jobs++;
	w->ops += w->nr_reqs;
	w->nr_reqs = 0;
	atomic_fetch_add(&w->run->jobs_total, 1);
	if (keep)
		*keep = gpuvm_fence_get(f);
	w->ring[(w->ring_head + w->ring_len) % WINDOW] = f;
	w->ring_len++;
	return 0;
}

/* ---- kv-cache ---- */

/*
 * Llama-3-8B: 32 layers, a K and a V tensor each, 2 KiB per token per
 * tensor. Request slot s owns [base + s * region, +region), one
 * tensor-sized window per tensor.
 */
#define KV_TENSORS   64
#define KV_TOKEN     (2 * KIB)
#define KV_BASE	     (UINT64_C(1) << 32)
#define KV_CHUNK_OPS 1024

static uint64_t kv_addr(struct worker *w, unsigned int slot, unsigned int t)
{
	struct run *r = w->run;

	return KV_BASE + (w->kv_first_slot + slot) * r->kv_region +
	       t * r->kv_tensor;
}

static double kv_mean_steps(const struct opts *o)
{
	/* Mean output length; see kv_admit(). */
	return (double)o->max_context * 5 / 32;
}

static double kv_exp(struct worker *w, double rate)
{
	return -log(1.0 - rng_unit(&w->rng)) / rate;
}

/* Maps pages [from, to) of every tensor of @slot, in bounded jobs. */
static void kv_map_pages(struct worker *w, unsigned int slot, uint64_t from,
			 uint64_t to)
{
	uint64_t ps = w->run->o.page_size;

	for (uint64_t p = from; p < to && !w->err; p++) {
		for (unsigned int t = 0; t < KV_TENSORS; t++) {
			struct bo *bo = bo_new(w, ps);

			if (!bo) {
				fail(w, -ENOMEM, "object");
				return;
			}
			add_map(w, kv_addr(w, slot, t) + p * ps, ps, bo, 0);
			/* The request pins the object until it is submitted. */
		}
		if (w->nr_reqs >= KV_CHUNK_OPS || p + 1 == to) {
			struct gpuvm_bind_req *reqs = w->reqs;
			unsigned int n = w->nr_reqs;
			struct gpuvm_gem *objs[KV_CHUNK_OPS + KV_TENSORS];

			for (unsigned int i = 0; i < n; i++)
				objs[i] = reqs[i].obj;
			flush_reqs(w, NULL);
			for (unsigned int i = 0; i < n; i++)
				gpuvm_gem_put(objs[i]);
		}
	}
	w->kv[slot].pages = to > w->kv[slot].pages ? to : w->kv[slot].pages;
}

static uint64_t kv_pages_for(const struct worker *w, uint64_t tokens)
{
	uint64_t ps = w->run->o.page_size;

	return (tokens * KV_TOKEN + ps - 1) / ps;
}

static void kv_admit(struct worker *w, unsigned int slot)
{
	const struct opts *o = &w->run->o;
	struct kv_req *k = &w->kv[slot];
	uint64_t prompt = o->max_context / 8 +
			  rng_below(&w->rng, o->max_context / 8 * 3 + 1);
	uint64_t out = o->max_context / 16 +
		       rng_below(&w->rng, o->max_context / 16 * 3 + 1);

	k->active = true;
	k->tokens = prompt;
	k->target = prompt + out;
	if (k->target > o->max_context)
		k->target = o->max_context;
	k->pages = 0;
	kv_map_pages(w, slot, 0, kv_pages_for(w, prompt));
}

static void kv_finish(struct worker *w, unsigned int slot)
{
	struct kv_req *k = &w->kv[slot];

	for (unsigned int t = 0; t < KV_TENSORS; t++)
		add_unmap(w, kv_addr(w, slot, t),
			  k->pages * w->run->o.page_size);
	flush_reqs(w, NULL);
	k->active = false;
	w->requests_done++;
}

static void kv_loop(struct worker *w)
{
	const struct opts *o = &w->run->o;
	double rate = 1.5 * w->nr_kv / kv_mean_steps(o);

	w->next_arrival = kv_exp(w, rate);
	while (!should_stop(w)) {
		unsigned int active = 0;

		w->step++;
		while (w->next_arrival <= (double)w->step) {
			w->pending++;
			w->next_arrival += kv_exp(w, rate);
		}
		for (unsigned int s = 0; s < w->nr_kv && !should_stop(w); s++) {
			struct kv_req *k = &w->kv[s];

			if (!k->active) {
				if (w->pending) {
					w->pending--;
					kv_admit(w, s);
				}
				continue;
			}
			active++;
			k->tokens++;
			if (k->tokens >= k->target)
				kv_finish(w, s);
			else if (kv_pages_for(w, k->tokens) > k->pages)
				kv_map_pages(w, s, k->pages,
					     kv_pages_for(w, k->tokens));
		}
		/* Idle: jump to the next arrival. */
		if (!active && !w->pending && w->next_arrival > w->step + 1)
			w->step = (uint64_t)w->next_arrival - 1;
	}
}

/* ---- sparse-texture ---- */

#define SP_BASE	     (UINT64_C(1) << 32)
#define SP_RES_SIZE  (256 * MIB)
#define SP_RES_TILES (SP_RES_SIZE / TILE)
#define SP_POOL_BO   (64 * MIB)

static uint64_t sp_tile_addr(const struct worker *w, uint64_t tile)
{
	return SP_BASE + w->res_first * SP_RES_SIZE + tile * TILE;
}

static void sp_bound_add(struct worker *w, uint32_t tile)
{
	w->bound_pos[tile] = w->nr_bound;
	w->bound[w->nr_bound++] = tile;
}

static void sp_bound_del(struct worker *w, uint32_t tile)
{
	uint32_t i = w->bound_pos[tile], last = w->bound[--w->nr_bound];

	w->bound[i] = last;
	w->bound_pos[last] = i;
}

static void sp_bind(struct worker *w, uint32_t tile)
{
	uint32_t page = w->free_pages[--w->nr_free];
	uint64_t per_bo = SP_POOL_BO / TILE;

	w->tile_page[tile] = (int32_t)page;
	sp_bound_add(w, tile);
	add_map(w, sp_tile_addr(w, tile), TILE, w->pool[page / per_bo],
		(page % per_bo) * TILE);
}

static void sp_unbind(struct worker *w, uint32_t tile)
{
	w->free_pages[w->nr_free++] = (uint32_t)w->tile_page[tile];
	w->tile_page[tile] = -1;
	sp_bound_del(w, tile);
	/* Unbinding a tile of a sparse resource makes it null again. */
	add_map(w, sp_tile_addr(w, tile), TILE, NULL, 0);
}

/* Binds an unbound tile, or unbinds a bound one. */
static void sp_toggle(struct worker *w, uint32_t tile)
{
	if (w->tile_page[tile] >= 0)
		sp_unbind(w, tile);
	else if (w->nr_free)
		sp_bind(w, tile);
}

static void sp_frame(struct worker *w, unsigned int n)
{
	struct gpuvm_fence *last = NULL;
	uint64_t t0 = now_ns();
	unsigned int done = 0;

	while (done < n) {
		bool unbind = w->nr_bound &&
			      (!w->nr_free || rng_below(&w->rng, 2) == 0);
		uint32_t tile =
			unbind ? w->bound[rng_below(&w->rng, w->nr_bound)]
			       : (uint32_t)rng_below(&w->rng, w->nr_tiles);
		unsigned int len = 1;

		/*
		 * Runs of 2 to 8 adjacent tiles (5 on average) started by
		 * 7.9% of the picks carry 30% of the operations.
		 */
		if (rng_below(&w->rng, 1000) < 79)
			len = 2 + (unsigned int)rng_below(&w->rng, 7);
		for (unsigned int i = 0; i < len && done < n; i++, done++) {
			if (tile + i >= w->nr_tiles)
				break;
			sp_toggle(w, tile + i);
			if (w->nr_reqs >= w->run->o.batch)
				flush_reqs(w, NULL);
		}
	}
	if (w->nr_reqs) {
		flush_reqs(w, &last);
	} else if (w->ring_len) {
		last = gpuvm_fence_get(
			w->ring[(w->ring_head + w->ring_len - 1) % WINDOW]);
	}
	/* Frames run back to back: the next starts once this one is bound. */
	if (last) {
		int ret = gpuvm_bind_wait(last, GPUVM_WAIT_FOREVER);

		if (ret)
			fail(w, ret, "bind job failed");
		gpuvm_fence_put(last);
	}
	if (w->frames == w->cap_frames) {
		w->cap_frames = w->cap_frames ? 2 * w->cap_frames : 1024;
		w->frame_ns = realloc(w->frame_ns,
				      w->cap_frames * sizeof(*w->frame_ns));
		if (!w->frame_ns) {
			fprintf(stderr, "gpuvm run: out of memory\n");
			exit(1);
		}
	}
	w->frame_ns[w->frames++] = now_ns() - t0;
}

static void sp_loop(struct worker *w)
{
	const struct opts *o = &w->run->o;
	unsigned int n = o->tiles / o->threads;
	uint64_t res = w->nr_tiles / SP_RES_TILES;

	/* Every resource starts null-mapped: one sparse map each. */
	for (uint64_t i = 0; i < res; i++)
		add_map(w, sp_tile_addr(w, i * SP_RES_TILES), SP_RES_SIZE, NULL,
			0);
	flush_reqs(w, NULL);
	if (n < 1)
		n = 1;
	while (!should_stop(w))
		sp_frame(w, n);
}

/* ---- churn ---- */

#define CH_BASE	 (UINT64_C(1) << 40)
#define CH_SLOT	 (64 * KIB)
#define CH_BO	 (2 * MIB)
#define CH_NR_BO 16

static void ch_swap(struct worker *w, uint32_t i, uint32_t j)
{
	uint32_t a = w->perm[i], b = w->perm[j];

	w->perm[i] = b;
	w->perm[j] = a;
	w->pos[a] = j;
	w->pos[b] = i;
}

static uint64_t ch_addr(const struct worker *w, uint32_t slot)
{
	return CH_BASE + (w->slot_first + slot) * CH_SLOT;
}

static void ch_map(struct worker *w, uint32_t slot)
{
	uint64_t pages = 1 + rng_below(&w->rng, CH_SLOT / GPUVM_PT_PAGE_SIZE);
	uint64_t size = pages * GPUVM_PT_PAGE_SIZE;
	struct bo *bo = w->cbo[rng_below(&w->rng, w->nr_cbo)];
	uint64_t off =
		rng_below(&w->rng, (CH_BO - size) / GPUVM_PT_PAGE_SIZE + 1) *
		GPUVM_PT_PAGE_SIZE;

	add_map(w, ch_addr(w, slot), size, bo, off);
}

static void ch_op(struct worker *w)
{
	uint32_t target = w->nr_slots / 2, i, slot;
	uint64_t dice = rng_below(&w->rng, 100);

	if (w->live < target && (w->live == 0 || dice < 70)) {
		/* Fill: map an empty slot. */
		i = w->live +
		    (uint32_t)rng_below(&w->rng, w->nr_slots - w->live);
		slot = w->perm[i];
		ch_swap(w, i, w->live++);
		ch_map(w, slot);
		return;
	}
	slot = w->perm[rng_below(&w->rng, w->live)];
	if (dice < 45) {
		add_unmap(w, ch_addr(w, slot), CH_SLOT);
		ch_swap(w, w->pos[slot], --w->live);
	} else if (dice < 90) {
		ch_map(w, slot);
	} else {
		/* Punch a hole: splits whatever the slot holds. */
		uint64_t first = rng_below(&w->rng, 15);
		uint64_t len = 1 + rng_below(&w->rng, 16 - first);

		add_unmap(w, ch_addr(w, slot) + first * GPUVM_PT_PAGE_SIZE,
			  len * GPUVM_PT_PAGE_SIZE);
	}
}

static void ch_loop(struct worker *w)
{
	while (!should_stop(w)) {
		for (unsigned int i = 0; i < w->run->o.batch; i++)
			ch_op(w);
		flush_reqs(w, NULL);
	}
}

/* ---- threads ---- */

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	switch (w->run->o.wl) {
	case WL_KV:
		kv_loop(w);
		break;
	case WL_SPARSE:
		sp_loop(w);
		break;
	case WL_CHURN:
		ch_loop(w);
		break;
	}
	drain(w);
	atomic_fetch_add(&w->run->workers_done, 1);
	return NULL;
}

/* Splits @total as evenly as possible; worker @i gets its share. */
static uint64_t share(uint64_t total, unsigned int n, unsigned int i,
		      uint64_t *first)
{
	uint64_t base = total / n, extra = total % n;

	*first = i * base + (i < extra ? i : extra);
	return base + (i < extra ? 1 : 0);
}

static int worker_init(struct run *r, struct worker *w, unsigned int i)
{
	const struct opts *o = &r->o;
	uint64_t first;

	w->run = r;
	w->id = i;
	w->q = r->queues[i % o->queues];
	w->rng = o->seed ^ (UINT64_C(0x9e3779b97f4a7c15) * (i + 1));
	w->pa_base = (uint64_t)(i % 64) << (GPUVM_PT_PA_BITS - 6);
	w->jobs_limit =
		o->jobs ? share(o->jobs, o->threads, i, &first) : UINT64_MAX;

	switch (o->wl) {
	case WL_KV:
		w->nr_kv = (unsigned int)share(o->requests, o->threads, i,
					       &w->kv_first_slot);
		w->kv = xcalloc(w->nr_kv, sizeof(*w->kv));
		break;
	case WL_SPARSE: {
		uint64_t res = share(o->resources, o->threads, i, &first);
		uint64_t per_bo = SP_POOL_BO / TILE, pages;

		w->res_first = first;
		w->nr_tiles = res * SP_RES_TILES;
		pages = 4 * (uint64_t)o->tiles;
		if (pages < 4096)
			pages = 4096;
		w->nr_pool = (unsigned int)((pages + per_bo - 1) / per_bo);
		pages = w->nr_pool * per_bo;
		w->pool = xcalloc(w->nr_pool, sizeof(*w->pool));
		for (unsigned int b = 0; b < w->nr_pool; b++) {
			w->pool[b] = bo_new(w, SP_POOL_BO);
			if (!w->pool[b])
				return -ENOMEM;
		}
		w->free_pages = xcalloc(pages, sizeof(uint32_t));
		for (uint64_t p = 0; p < pages; p++)
			w->free_pages[p] = (uint32_t)(pages - 1 - p);
		w->nr_free = (uint32_t)pages;
		w->tile_page = xcalloc(w->nr_tiles, sizeof(int32_t));
		memset(w->tile_page, 0xff, w->nr_tiles * sizeof(int32_t));
		w->bound = xcalloc(w->nr_tiles, sizeof(uint32_t));
		w->bound_pos = xcalloc(w->nr_tiles, sizeof(uint32_t));
		break;
	}
	case WL_CHURN:
		w->nr_slots = (uint32_t)share(2 * (uint64_t)o->mappings,
					      o->threads, i, &w->slot_first);
		w->perm = xcalloc(w->nr_slots, sizeof(uint32_t));
		w->pos = xcalloc(w->nr_slots, sizeof(uint32_t));
		for (uint32_t s = 0; s < w->nr_slots; s++)
			w->perm[s] = w->pos[s] = s;
		w->nr_cbo = CH_NR_BO;
		w->cbo = xcalloc(w->nr_cbo, sizeof(*w->cbo));
		for (unsigned int b = 0; b < w->nr_cbo; b++) {
			w->cbo[b] = bo_new(w, CH_BO);
			if (!w->cbo[b])
				return -ENOMEM;
		}
		break;
	}
	return 0;
}

static void worker_fini(struct worker *w)
{
	for (unsigned int b = 0; b < w->nr_pool; b++)
		if (w->pool[b])
			gpuvm_gem_put(&w->pool[b]->gem);
	for (unsigned int b = 0; b < w->nr_cbo; b++)
		if (w->cbo[b])
			gpuvm_gem_put(&w->cbo[b]->gem);
	free(w->pool);
	free(w->cbo);
	free(w->reqs);
	free(w->kv);
	free(w->tile_page);
	free(w->bound);
	free(w->bound_pos);
	free(w->free_pages);
	free(w->frame_ns);
	free(w->perm);
	free(w->pos);
}

/* ---- figures ---- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static uint64_t pct_sorted(const uint64_t *v, size_t n, double q)
{
	return n ? v[(size_t)((double)(n - 1) * q + 0.5)] : 0;
}

/* The upper bound of the log2 bucket holding the @q quantile. */
static uint64_t pct_hist(const struct gpuvm_bind_hist *h, double q)
{
	uint64_t want, seen = 0;

	if (!h->count)
		return 0;
	want = (uint64_t)ceil((double)h->count * q);
	if (!want)
		want = 1;
	for (unsigned int i = 0; i < GPUVM_BIND_HIST_BUCKETS; i++) {
		seen += h->bucket[i];
		if (seen >= want) {
			uint64_t up = UINT64_C(1) << (i + 1);

			return up < h->max_ns ? up : h->max_ns;
		}
	}
	return h->max_ns;
}

struct walk_ctx {
	uint64_t start, end;
	uint64_t bad_va;
	bool bad;
};

static int walk_cb(uint64_t va, uint64_t size, uint64_t pa, unsigned int flags,
		   void *data)
{
	struct walk_ctx *c = data;

	(void)pa;
	(void)flags;
	if (va < c->start || va + size > c->end) {
		c->bad = true;
		c->bad_va = va;
		return 1;
	}
	return 0;
}

struct result {
	double secs;
	uint64_t jobs, ops;
	struct gpuvm_bind_stats bs;
	struct gpuvm_pt_stats ps;
	struct gpuvm_stats vs;
	struct gpuvm_alloc_stats as;
	uint64_t lat_p50, lat_p99;
	size_t lat_n;
	uint64_t frames, frame_p50, frame_p99, frames_over;
	uint64_t requests_done;
	uint64_t pages_checked;
	bool verify_ok;
	char verify_msg[256];
	unsigned int sig_allocs;
};

static void collect(struct run *r, struct result *res)
{
	const struct opts *o = &r->o;
	uint64_t *lat = xcalloc((size_t)o->queues * GPUVM_BIND_LATENCY_SAMPLES,
				sizeof(uint64_t));
	uint64_t *fr;
	size_t n = 0, nf = 0;

	for (unsigned int i = 0; i < o->queues; i++) {
		gpuvm_bind_queue_flush(r->queues[i]);
		n += gpuvm_bind_queue_latency_samples(
			r->queues[i], lat + n, GPUVM_BIND_LATENCY_SAMPLES);
	}
	qsort(lat, n, sizeof(*lat), cmp_u64);
	res->lat_n = n;
	res->lat_p50 = pct_sorted(lat, n, 0.5);
	res->lat_p99 = pct_sorted(lat, n, 0.99);
	free(lat);

	for (unsigned int i = 0; i < o->threads; i++) {
		res->jobs += r->w[i].jobs;
		res->ops += r->w[i].ops;
		res->frames += r->w[i].frames;
		res->requests_done += r->w[i].requests_done;
	}
	fr = xcalloc(res->frames, sizeof(*fr));
	for (unsigned int i = 0; i < o->threads; i++)
		for (uint64_t f = 0; f < r->w[i].frames; f++) {
			fr[nf] = r->w[i].frame_ns[f];
			res->frames_over += fr[nf] > 16666667;
			nf++;
		}
	qsort(fr, nf, sizeof(*fr), cmp_u64);
	res->frame_p50 = pct_sorted(fr, nf, 0.5);
	res->frame_p99 = pct_sorted(fr, nf, 0.99);
	free(fr);

	gpuvm_bind_vm_get_stats(r->bvm, &res->bs);
	gpuvm_alloc_get_stats(&res->as);
	gpuvm_bind_vm_lock(r->bvm);
	gpuvm_get_stats(r->vm, &res->vs);
	gpuvm_pt_get_stats(r->pt, &res->ps);
	gpuvm_bind_vm_unlock(r->bvm);
}

/*
 * The library's check covers the span the workload maps, page by page: every
 * mapped page translates as the tree says, every other page faults. A walk
 * of the page table's leaf entries covers the rest of the VA space: none may
 * lie outside the span.
 */
static void verify(struct run *r, struct result *res)
{
	struct walk_ctx wc = { r->span_start, r->span_end, 0, false };
	int ret;

	res->verify_ok = false;
	gpuvm_bind_vm_lock(r->bvm);
	ret = gpuvm_pt_walk(r->pt, 0, UINT64_C(1) << r->va_bits, walk_cb, &wc);
	gpuvm_bind_vm_unlock(r->bvm);
	if (ret < 0 || wc.bad) {
		snprintf(res->verify_msg, sizeof(res->verify_msg),
			 ret < 0 ? "page-table walk failed"
				 : "page 0x%" PRIx64
				   " is mapped outside the workload's span",
			 wc.bad_va);
		return;
	}
	ret = gpuvm_pt_check(r->pt, res->verify_msg, sizeof(res->verify_msg));
	if (ret)
		return;
	ret = gpuvm_bind_vm_verify(r->bvm, r->span_start,
				   r->span_end - r->span_start, res->verify_msg,
				   sizeof(res->verify_msg));
	if (ret)
		return;
	res->pages_checked = (r->span_end - r->span_start) / GPUVM_PT_PAGE_SIZE;
	res->verify_ok = true;
}

static double per(uint64_t a, uint64_t b)
{
	return b ? (double)a / (double)b : 0.0;
}

static void print_text(const struct run *r, const struct result *res)
{
	const struct opts *o = &r->o;
	uint64_t live = res->vs.nr_va;

	printf("gpuvm run %s: seed %" PRIu64 ", %u thread(s), %u queue(s), "
	       "%.2f s\n",
	       wl_names[o->wl], o->seed, o->threads, o->queues, res->secs);
	printf("jobs: %" PRIu64 " (%.0f/s), ops: %" PRIu64 " (%.0f/s)\n",
	       res->jobs, res->jobs / res->secs, res->ops,
	       res->ops / res->secs);
	if (o->wl == WL_KV)
		printf("requests: %" PRIu64 " finished, page size %" PRIu64
		       " KiB\n",
		       res->requests_done, o->page_size / KIB);
	if (o->wl == WL_SPARSE)
		printf("frames: %" PRIu64 ", frame time p50 %.3f ms, p99 %.3f "
		       "ms, %" PRIu64 " over 16.6 ms\n",
		       res->frames, res->frame_p50 / 1e6, res->frame_p99 / 1e6,
		       res->frames_over);
	printf("submit-to-signal latency: p50 %.1f us, p99 %.1f us (last %zu "
	       "jobs)\n",
	       res->lat_p50 / 1e3, res->lat_p99 / 1e3, res->lat_n);
	printf("run-path time per op: p50 <= %.2f us, p99 <= %.2f us (log2 "
	       "histogram)\n",
	       pct_hist(&res->bs.run_per_op, 0.5) / 1e3,
	       pct_hist(&res->bs.run_per_op, 0.99) / 1e3);
	printf("live mappings: %" PRIu64 "\n", live);
	printf("library memory: %" PRIu64 " bytes in %" PRIu64
	       " allocations, %.1f B/mapping (of which tree %.1f B, page "
	       "tables %.1f B)\n",
	       res->as.live_bytes, res->as.live_allocs,
	       per(res->as.live_bytes, live), per(res->vs.tree_bytes, live),
	       per(res->ps.table_bytes, live));
	printf("  counted: every live library allocation (VM, mappings, "
	       "vm_bos, tree nodes, page tables, queues), not the objects\n");
	printf("page-table entries: %" PRIu64 " written, %" PRIu64
	       " cleared, %" PRIu64 " kept (%" PRIu64 " pages saved by keep)\n",
	       res->bs.pt_entries_written, res->bs.pt_entries_cleared,
	       res->bs.pt_entries_kept, res->bs.pt_pages_kept);
	printf("zombies: %" PRIu64 " created, %" PRIu64 " cleaned\n",
	       res->bs.zombies_created, res->bs.zombies_cleaned);
	printf("failed jobs: %" PRIu64 ", run errors: %" PRIu64
	       ", queue violations: %" PRIu64 "\n",
	       res->bs.jobs_failed, res->bs.run_errors, res->bs.violations);
	if (gpuvm_checks_enabled())
		printf("allocations inside signalling sections: %u\n",
		       res->sig_allocs);
	else
		printf("allocations inside signalling sections: not checked "
		       "(library built without checks)\n");
	if (res->verify_ok)
		printf("verify: %" PRIu64 " mappings, %" PRIu64
		       " pages checked, OK\n",
		       live, res->pages_checked);
	else
		printf("verify: FAILED: %s\n", res->verify_msg);
}

static void print_json(const struct run *r, const struct result *res)
{
	const struct opts *o = &r->o;
	uint64_t live = res->vs.nr_va;

	printf("{\n");
	printf("  \"workload\": \"%s\",\n", wl_names[o->wl]);
	printf("  \"seed\": %" PRIu64 ",\n", o->seed);
	printf("  \"threads\": %u,\n", o->threads);
	printf("  \"queues\": %u,\n", o->queues);
	printf("  \"seconds\": %.6f,\n", res->secs);
	printf("  \"jobs\": %" PRIu64 ",\n", res->jobs);
	printf("  \"ops\": %" PRIu64 ",\n", res->ops);
	printf("  \"jobs_per_second\": %.3f,\n", res->jobs / res->secs);
	printf("  \"ops_per_second\": %.3f,\n", res->ops / res->secs);
	if (o->wl == WL_KV) {
		printf("  \"requests_finished\": %" PRIu64 ",\n",
		       res->requests_done);
		printf("  \"page_size\": %" PRIu64 ",\n", o->page_size);
	}
	if (o->wl == WL_SPARSE) {
		printf("  \"frames\": %" PRIu64 ",\n", res->frames);
		printf("  \"frame_ns_p50\": %" PRIu64 ",\n", res->frame_p50);
		printf("  \"frame_ns_p99\": %" PRIu64 ",\n", res->frame_p99);
		printf("  \"frames_over_16_6ms\": %" PRIu64 ",\n",
		       res->frames_over);
	}
	printf("  \"latency_ns_p50\": %" PRIu64 ",\n", res->lat_p50);
	printf("  \"latency_ns_p99\": %" PRIu64 ",\n", res->lat_p99);
	printf("  \"latency_samples\": %zu,\n", res->lat_n);
	printf("  \"run_per_op_ns_p50\": %" PRIu64 ",\n",
	       pct_hist(&res->bs.run_per_op, 0.5));
	printf("  \"run_per_op_ns_p99\": %" PRIu64 ",\n",
	       pct_hist(&res->bs.run_per_op, 0.99));
	printf("  \"live_mappings\": %" PRIu64 ",\n", live);
	printf("  \"library_live_bytes\": %" PRIu64 ",\n", res->as.live_bytes);
	printf("  \"library_live_allocs\": %" PRIu64 ",\n",
	       res->as.live_allocs);
	printf("  \"tree_bytes\": %zu,\n", res->vs.tree_bytes);
	printf("  \"pt_table_bytes\": %" PRIu64 ",\n", res->ps.table_bytes);
	printf("  \"bytes_per_mapping\": %.3f,\n",
	       per(res->as.live_bytes, live));
	printf("  \"tree_bytes_per_mapping\": %.3f,\n",
	       per(res->vs.tree_bytes, live));
	printf("  \"pt_bytes_per_mapping\": %.3f,\n",
	       per(res->ps.table_bytes, live));
	printf("  \"pt_entries_written\": %" PRIu64 ",\n",
	       res->bs.pt_entries_written);
	printf("  \"pt_entries_cleared\": %" PRIu64 ",\n",
	       res->bs.pt_entries_cleared);
	printf("  \"pt_entries_kept\": %" PRIu64 ",\n",
	       res->bs.pt_entries_kept);
	printf("  \"pt_pages_kept\": %" PRIu64 ",\n", res->bs.pt_pages_kept);
	printf("  \"zombies_created\": %" PRIu64 ",\n",
	       res->bs.zombies_created);
	printf("  \"zombies_cleaned\": %" PRIu64 ",\n",
	       res->bs.zombies_cleaned);
	printf("  \"jobs_failed\": %" PRIu64 ",\n", res->bs.jobs_failed);
	printf("  \"run_errors\": %" PRIu64 ",\n", res->bs.run_errors);
	printf("  \"queue_violations\": %" PRIu64 ",\n", res->bs.violations);
	printf("  \"signalling_checked\": %s,\n",
	       gpuvm_checks_enabled() ? "true" : "false");
	printf("  \"signalling_allocations\": %u,\n", res->sig_allocs);
	printf("  \"verify_mappings\": %" PRIu64 ",\n", live);
	printf("  \"verify_pages\": %" PRIu64 ",\n", res->pages_checked);
	printf("  \"verify_ok\": %s\n", res->verify_ok ? "true" : "false");
	printf("}\n");
}

/* ---- setup and teardown ---- */

static int setup(struct run *r)
{
	const struct opts *o = &r->o;
	struct gpuvm *vm = xcalloc(1, sizeof(*vm));
	uint64_t start, range, rs, rr;
	int ret;

	switch (o->wl) {
	case WL_SPARSE:
		/* A 2^40 space whose upper half belongs to the kernel. */
		r->va_bits = 40;
		start = 0;
		range = UINT64_C(1) << 40;
		rs = UINT64_C(1) << 39;
		rr = UINT64_C(1) << 39;
		r->span_start = SP_BASE;
		r->span_end = SP_BASE + o->resources * SP_RES_SIZE;
		break;
	case WL_KV:
		r->va_bits = 48;
		start = MIB;
		range = (UINT64_C(1) << 47) - MIB;
		rs = MIB;
		rr = MIB;
		r->kv_tensor = ((uint64_t)o->max_context * KV_TOKEN +
				o->page_size - 1) /
			       o->page_size * o->page_size;
		r->kv_region = KV_TENSORS * r->kv_tensor;
		r->span_start = KV_BASE;
		r->span_end = KV_BASE + o->requests * r->kv_region;
		break;
	default:
		r->va_bits = 48;
		start = MIB;
		range = (UINT64_C(1) << 47) - MIB;
		rs = MIB;
		rr = MIB;
		r->span_start = CH_BASE;
		r->span_end = CH_BASE + 2 * (uint64_t)o->mappings * CH_SLOT;
		break;
	}
	ret = gpuvm_init(vm, "run", GPUVM_IMMEDIATE_MODE, NULL, start, range,
			 rs, rr, &vm_ops);
	if (ret) {
		free(vm);
		return ret;
	}
	r->vm = vm;
	ret = gpuvm_pt_sw_create(r->va_bits, 0, &r->pt);
	if (ret)
		return ret;
	ret = gpuvm_bind_vm_create(vm, r->pt, &bind_ops, r, &r->bvm);
	if (ret)
		return ret;
	r->queues = xcalloc(o->queues, sizeof(*r->queues));
	for (unsigned int i = 0; i < o->queues; i++) {
		char name[32];

		snprintf(name, sizeof(name), "run%u", i);
		ret = gpuvm_bind_queue_create(r->bvm, name, &r->queues[i]);
		if (ret)
			return ret;
	}
	r->w = xcalloc(o->threads, sizeof(*r->w));
	for (unsigned int i = 0; i < o->threads; i++) {
		ret = worker_init(r, &r->w[i], i);
		if (ret)
			return ret;
	}
	return 0;
}

static void teardown(struct run *r)
{
	if (r->w)
		for (unsigned int i = 0; i < r->o.threads; i++)
			worker_fini(&r->w[i]);
	free(r->w);
	if (r->queues)
		for (unsigned int i = 0; i < r->o.queues; i++)
			gpuvm_bind_queue_destroy(r->queues[i],
						 GPUVM_BIND_QUEUE_DRAIN);
	free(r->queues);
	if (r->bvm)
		gpuvm_bind_vm_destroy(r->bvm);
	gpuvm_pt_destroy(r->pt);
	if (r->vm)
		gpuvm_put(r->vm);
}

/* ---- progress ---- */

static void progress(struct run *r, bool tty)
{
	const struct timespec tick = { 0, 100 * 1000 * 1000 };
	bool shown = false;

	while (atomic_load(&r->workers_done) < r->o.threads) {
		nanosleep(&tick, NULL);
		if (!tty)
			continue;
		double f = 0.0;
		uint64_t jobs = atomic_load(&r->jobs_total);
		char bar[41];

		if (r->o.jobs)
			f = (double)jobs / (double)r->o.jobs;
		if (r->o.have_seconds) {
			double g = elapsed_s(r) / r->o.seconds;

			f = f > g ? f : g;
		}
		if (f > 1.0)
			f = 1.0;
		for (int i = 0; i < 40; i++)
			bar[i] = i < (int)(f * 40) ? '#' : '.';
		bar[40] = '\0';
		fprintf(stderr, "\r[%s] %3d%% %" PRIu64 " jobs", bar,
			(int)(f * 100), jobs);
		shown = true;
	}
	if (shown)
		fprintf(stderr, "\r%60s\r", "");
}

/* ---- the subcommand ---- */

static void usage(FILE *f, const char *prog)
{
	fprintf(f,
		"Usage: %s [OPTION]... [WORKLOAD]\n"
		"Drive one immediate-mode VM with a software page table "
		"through the bind\n"
		"queue, print what it cost, and check the page table against "
		"the VA tree.\n"
		"\n"
		"Workloads:\n"
		"  kv-cache        LLM serving paging a KV cache (Llama-3-8B: "
		"32 layers,\n"
		"                  K and V, 2 KiB/token each), Poisson "
		"arrivals (default)\n"
		"  sparse-texture  a game streaming 64 KiB tiles of "
		"null-mapped sparse\n"
		"                  resources in a 2^40 space with a kernel "
		"half\n"
		"  churn           random map/unmap/split holding a live "
		"mapping target\n"
		"\n"
		"Options:\n"
		"  -s, --seed=N          random seed (default 1)\n"
		"  -t, --seconds=S       stop submitting after S seconds "
		"(default 10; none\n"
		"                        with --jobs unless given)\n"
		"  -j, --jobs=N          stop after N jobs in all\n"
		"  -T, --threads=N       submitting threads (default 2)\n"
		"  -q, --queues=N        bind queues (default 2)\n"
		"      --json            print the summary as JSON\n"
		"      --page-size=SIZE  kv-cache page: 64k, 128k, 256k or 2m "
		"(default 64k)\n"
		"      --requests=N      kv-cache concurrent requests "
		"(default 16)\n"
		"      --max-context=N   kv-cache tokens per request "
		"(default 4096)\n"
		"      --tiles=N         sparse-texture tiles bound or "
		"unbound per frame\n"
		"                        (default 256)\n"
		"      --resources=N     sparse-texture 256 MiB resources "
		"(default 64)\n"
		"      --mappings=N      churn: 64 KiB slots kept mapped "
		"(default 100000, at\n"
		"                        most 1000000); holes punched in "
		"them add mappings\n"
		"      --batch=N         requests per job for sparse-texture "
		"and churn\n"
		"                        (default 64)\n"
		"  -h, --help            print this help and exit\n"
		"\n"
		"Exit status: 0 on success, 1 if the verification fails, the "
		"library reports\n"
		"an error or something allocated inside a signalling section, "
		"2 for a bad\n"
		"command line.\n",
		prog);
}

static int bad_usage(const char *prog)
{
	usage(stderr, prog);
	return EXIT_USAGE;
}

static bool parse_num(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!*s || *s == '-')
		return false;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end || v < min || v > max)
		return false;
	*out = v;
	return true;
}

enum {
	OPT_JSON = 256,
	OPT_PAGE_SIZE,
	OPT_REQUESTS,
	OPT_MAX_CONTEXT,
	OPT_TILES,
	OPT_RESOURCES,
	OPT_MAPPINGS,
	OPT_BATCH,
};

static int parse(int argc, char **argv, struct opts *o)
{
	static const struct option long_opts[] = {
		{ "seed", required_argument, NULL, 's' },
		{ "seconds", required_argument, NULL, 't' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "threads", required_argument, NULL, 'T' },
		{ "queues", required_argument, NULL, 'q' },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "page-size", required_argument, NULL, OPT_PAGE_SIZE },
		{ "requests", required_argument, NULL, OPT_REQUESTS },
		{ "max-context", required_argument, NULL, OPT_MAX_CONTEXT },
		{ "tiles", required_argument, NULL, OPT_TILES },
		{ "resources", required_argument, NULL, OPT_RESOURCES },
		{ "mappings", required_argument, NULL, OPT_MAPPINGS },
		{ "batch", required_argument, NULL, OPT_BATCH },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *prog = argv[0];
	uint64_t v = 0;
	char *end;
	int c;

	while ((c = getopt_long(argc, argv, "s:t:j:T:q:h", long_opts, NULL)) !=
	       -1) {
		bool ok = true;

		switch (c) {
		case 's':
			ok = parse_num(optarg, 0, UINT64_MAX, &o->seed);
			break;
		case 't':
			errno = 0;
			o->seconds = strtod(optarg, &end);
			ok = !errno && *optarg && !*end && o->seconds > 0 &&
			     o->seconds <= 86400;
			o->have_seconds = true;
			break;
		case 'j':
			ok = parse_num(optarg, 1, UINT64_MAX / 2, &o->jobs);
			break;
		case 'T':
			ok = parse_num(optarg, 1, 64, &v);
			o->threads = (unsigned int)v;
			break;
		case 'q':
			ok = parse_num(optarg, 1, 64, &v);
			o->queues = (unsigned int)v;
			break;
		case OPT_JSON:
			o->json = true;
			break;
		case OPT_PAGE_SIZE:
			if (!strcmp(optarg, "64k"))
				o->page_size = 64 * KIB;
			else if (!strcmp(optarg, "128k"))
				o->page_size = 128 * KIB;
			else if (!strcmp(optarg, "256k"))
				o->page_size = 256 * KIB;
			else if (!strcmp(optarg, "2m"))
				o->page_size = 2 * MIB;
			else
				ok = false;
			break;
		case OPT_REQUESTS:
			ok = parse_num(optarg, 1, 1024, &v);
			o->requests = (unsigned int)v;
			break;
		case OPT_MAX_CONTEXT:
			ok = parse_num(optarg, 64, 131072, &v);
			o->max_context = (unsigned int)v;
			break;
		case OPT_TILES:
			ok = parse_num(optarg, 1, 65536, &v);
			o->tiles = (unsigned int)v;
			break;
		case OPT_RESOURCES:
			ok = parse_num(optarg, 1, 1024, &v);
			o->resources = (unsigned int)v;
			break;
		case OPT_MAPPINGS:
			ok = parse_num(optarg, 1, 1000000, &v);
			o->mappings = (unsigned int)v;
			break;
		case OPT_BATCH:
			ok = parse_num(optarg, 1, 4096, &v);
			o->batch = (unsigned int)v;
			break;
		case 'h':
			usage(stdout, prog);
			return -1;
		default:
			return bad_usage(prog);
		}
		if (!ok) {
			fprintf(stderr, "%s: invalid value '%s'\n", prog,
				optarg);
			return bad_usage(prog);
		}
	}
	if (optind < argc) {
		unsigned int i;

		for (i = 0; i < 3; i++)
			if (!strcmp(argv[optind], wl_names[i]))
				break;
		if (i == 3) {
			fprintf(stderr, "%s: unknown workload '%s'\n", prog,
				argv[optind]);
			return bad_usage(prog);
		}
		o->wl = (enum workload)i;
		optind++;
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", prog,
			argv[optind]);
		return bad_usage(prog);
	}
	if ((o->wl == WL_KV && o->requests < o->threads) ||
	    (o->wl == WL_SPARSE && o->resources < o->threads) ||
	    (o->wl == WL_CHURN && o->mappings < o->threads)) {
		fprintf(stderr,
			"%s: fewer requests, resources or mappings than "
			"threads\n",
			prog);
		return bad_usage(prog);
	}
	if (!o->have_seconds && !o->jobs) {
		o->have_seconds = true;
		o->seconds = 10;
	}
	return 0;
}

int gpuvm_cmd_run(int argc, char **argv)
{
	struct run *r = xcalloc(1, sizeof(*r));
	struct result res;
	bool tty = isatty(STDERR_FILENO);
	int status = 0, ret;

	r->o = (struct opts){
		.wl = WL_KV,
		.seed = 1,
		.threads = 2,
		.queues = 2,
		.page_size = 64 * KIB,
		.requests = 16,
		.max_context = 4096,
		.tiles = 256,
		.resources = 64,
		.mappings = 100000,
		.batch = 64,
	};
	ret = parse(argc, argv, &r->o);
	if (ret) {
		free(r);
		return ret < 0 ? (fflush(stdout) ? 1 : 0) : ret;
	}

	memset(&res, 0, sizeof(res));
	atomic_store(&signalling_violations, 0);
	gpuvm_set_violation_handler(violation_handler, NULL);
	ret = setup(r);
	if (ret) {
		fprintf(stderr, "%s: setup failed: %s\n", argv[0],
			strerror(-ret));
		teardown(r);
		free(r);
		return 1;
	}

	pthread_t *tids = xcalloc(r->o.threads, sizeof(*tids));
	unsigned int started = 0;

	clock_gettime(CLOCK_MONOTONIC, &r->t0);
	for (; started < r->o.threads; started++)
		if (pthread_create(&tids[started], NULL, worker_main,
				   &r->w[started]))
			break;
	if (started < r->o.threads) {
		fprintf(stderr, "%s: cannot start threads\n", argv[0]);
		atomic_store(&r->stop, true);
		atomic_fetch_add(&r->workers_done, r->o.threads - started);
		status = 1;
	}
	progress(r, tty);
	for (unsigned int i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	free(tids);
	res.secs = elapsed_s(r);
	if (res.secs <= 0)
		res.secs = 1e-9;
	for (unsigned int i = 0; i < r->o.threads; i++)
		if (r->w[i].err)
			status = 1;

	collect(r, &res);
	verify(r, &res);
	res.sig_allocs = atomic_load(&signalling_violations);
	if (r->o.json)
		print_json(r, &res);
	else
		print_text(r, &res);
	if (!res.verify_ok || res.sig_allocs || res.bs.violations ||
	    res.bs.run_errors || res.bs.jobs_failed)
		status = 1;

	teardown(r);
	gpuvm_set_violation_handler(NULL, NULL);
	if (atomic_load(&r->bos_alloc) != atomic_load(&r->bos_freed)) {
		fprintf(stderr,
			"%s: %" PRIuFAST64 " of %" PRIuFAST64
			" objects not freed\n",
			argv[0],
			atomic_load(&r->bos_alloc) - atomic_load(&r->bos_freed),
			atomic_load(&r->bos_alloc));
		status = 1;
	}
	free(r);
	if (fflush(stdout))
		status = 1;
	return status;
}
