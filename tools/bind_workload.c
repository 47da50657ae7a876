// SPDX-License-Identifier: MIT
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gpuvm/compiler.h>
#include <gpuvm/fence.h>
#include <gpuvm/gem.h>
#include <gpuvm/pt.h>
#include <gpuvm/queue.h>

#include "bind_workload.h"

#define KIB  UINT64_C(1024)
#define MIB  (KIB * 1024)
#define TILE (64 * KIB)

/* Jobs a thread keeps in flight before it waits for the oldest. */
#define WINDOW 16

const char *const bwl_names[BWL_NR] = { "kv-cache", "sparse-texture", "churn" };

/*
 * Process-wide rather than per run: the back end may drop the last
 * reference to an object after the run that created it is gone.
 */
static atomic_uint_fast64_t objs_alloc, objs_freed;

/* A buffer object with one contiguous physical range. */
struct bo {
	struct gpuvm_gem gem;
	uint64_t pa;
};

/* The per-workload state of one submitting thread. */
struct kv_req {
	bool active;
	uint64_t tokens, target;
	uint64_t pages; /* mapped per tensor */
};

struct worker {
	struct bwl_run *run;
	unsigned int id;
	void *q;
	uint64_t rng;
	uint64_t jobs_limit;
	uint64_t jobs, ops;
	int err;
	bool begun; /* the workload's first steps are behind it */
	struct timespec end;
	/* The counters at the start of the current phase. */
	uint64_t base_jobs, base_ops, base_frames, base_requests;
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
	/* Where a stop left the current step, if in_step. */
	bool in_step;
	unsigned int step_slot, step_active;
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

/*
 * A run goes CREATED -> RUNNING -> JOINED, and back to RUNNING for every
 * bwl_run_resume(): a phase.
 */
enum run_state { RUN_CREATED, RUN_RUNNING, RUN_JOINED };

struct bwl_run {
	struct bwl_opts o;
	const char *name; /* of the messages on standard error */
	bwl_submit_fn submit;
	struct worker *w;
	pthread_t *tids;
	unsigned int started; /* threads of the current phase */
	enum run_state state;
	struct timespec t0;
	atomic_uint_fast64_t jobs_total;
	atomic_uint workers_done;
	atomic_bool stop;
	uint64_t kv_tensor, kv_region;
};

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

static double since(const struct timespec *t0, const struct timespec *t)
{
	return (double)(t->tv_sec - t0->tv_sec) +
	       (double)(t->tv_nsec - t0->tv_nsec) / 1e9;
}

static double elapsed_s(const struct bwl_run *r)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return since(&r->t0, &t);
}

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* See "DOC: Bind workloads" for why running out of memory ends it all. */
static void oom(const char *name)
{
	fprintf(stderr, "%s: out of memory\n", name);
	exit(1);
}

static void *xcalloc(const char *name, size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);

	if (!p)
		oom(name);
	return p;
}

static void *xrealloc(const char *name, void *p, size_t n, size_t size)
{
	p = realloc(p, n * size);
	if (!p)
		oom(name);
	return p;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

void bwl_sort_u64(uint64_t *v, size_t n)
{
	if (n)
		qsort(v, n, sizeof(*v), cmp_u64);
}

uint64_t bwl_quantile(const uint64_t *v, size_t n, double q)
{
	return n ? v[(size_t)((double)(n - 1) * q + 0.5)] : 0;
}

/* ---- objects ---- */

static void bo_free_cb(struct gpuvm_gem *obj)
{
	struct bo *bo = gpuvm_container_of(obj, struct bo, gem);

	atomic_fetch_add(&objs_freed, 1);
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
	struct bo *bo = xcalloc(w->run->name, 1, sizeof(*bo));

	if (gpuvm_gem_init(&bo->gem, &bo_funcs, size)) {
		free(bo);
		return NULL;
	}
	w->pa_next = (w->pa_next + align - 1) & ~(align - 1);
	if (w->pa_next + size > slice)
		w->pa_next = 0;
	bo->pa = w->pa_base + w->pa_next;
	w->pa_next += size;
	atomic_fetch_add(&objs_alloc, 1);
	return bo;
}

uint64_t bwl_objects_allocated(const struct bwl_run *r)
{
	(void)r;
	return atomic_load(&objs_alloc);
}

uint64_t bwl_objects_freed(const struct bwl_run *r)
{
	(void)r;
	return atomic_load(&objs_freed);
}

int bwl_gem_pa(void *priv, struct gpuvm_gem *obj, uint64_t offset,
	       uint64_t range, uint64_t *pa, uint64_t *len)
{
	struct bo *bo = gpuvm_container_of(obj, struct bo, gem);

	(void)priv;
	(void)range;
	*pa = bo->pa + offset;
	*len = obj->size - offset;
	return 0;
}

/* ---- submission ---- */

static bool should_stop(struct worker *w)
{
	struct bwl_run *r = w->run;

	if (w->err || atomic_load(&r->stop))
		return true;
	if (w->jobs >= w->jobs_limit)
		return true;
	return r->o.have_seconds && elapsed_s(r) >= r->o.seconds;
}

static void fail(struct worker *w, int err, const char *what)
{
	if (!w->err) {
		fprintf(stderr, "%s: thread %u: %s: %s\n", w->run->name, w->id,
			what, strerror(-err));
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
		w->reqs = xrealloc(w->run->name, w->reqs, w->cap_reqs,
				   sizeof(*w->reqs));
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
	ret = w->run->submit(w->q, w->reqs, w->nr_reqs, &f);
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
	struct bwl_run *r = w->run;

	return KV_BASE + (w->kv_first_slot + slot) * r->kv_region +
	       t * r->kv_tensor;
}

static double kv_mean_steps(const struct bwl_opts *o)
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
	const struct bwl_opts *o = &w->run->o;
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
	const struct bwl_opts *o = &w->run->o;
	double rate = 1.5 * w->nr_kv / kv_mean_steps(o);

	/* A resumed thread carries on with its arrivals and its step. */
	if (!w->begun)
		w->next_arrival = kv_exp(w, rate);
	w->begun = true;
	while (!should_stop(w)) {
		if (!w->in_step) {
			w->in_step = true;
			w->step_slot = 0;
			w->step_active = 0;
			w->step++;
			while (w->next_arrival <= (double)w->step) {
				w->pending++;
				w->next_arrival += kv_exp(w, rate);
			}
		}
		for (unsigned int s = w->step_slot; s < w->nr_kv; s++) {
			struct kv_req *k = &w->kv[s];

			if (should_stop(w)) {
				w->step_slot = s;
				return;
			}
			if (!k->active) {
				if (w->pending) {
					w->pending--;
					kv_admit(w, s);
				}
				continue;
			}
			w->step_active++;
			k->tokens++;
			if (k->tokens >= k->target)
				kv_finish(w, s);
			else if (kv_pages_for(w, k->tokens) > k->pages)
				kv_map_pages(w, s, k->pages,
					     kv_pages_for(w, k->tokens));
		}
		w->in_step = false;
		/* Idle: jump to the next arrival. */
		if (!w->step_active && !w->pending &&
		    w->next_arrival > w->step + 1)
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
		w->frame_ns = xrealloc(w->run->name, w->frame_ns, w->cap_frames,
				       sizeof(*w->frame_ns));
	}
	w->frame_ns[w->frames++] = now_ns() - t0;
}

static void sp_loop(struct worker *w)
{
	const struct bwl_opts *o = &w->run->o;
	unsigned int n = o->tiles / o->threads;
	uint64_t res = w->nr_tiles / SP_RES_TILES;

	/* Every resource starts null-mapped: one sparse map each. */
	if (!w->begun) {
		for (uint64_t i = 0; i < res; i++)
			add_map(w, sp_tile_addr(w, i * SP_RES_TILES),
				SP_RES_SIZE, NULL, 0);
		flush_reqs(w, NULL);
	}
	w->begun = true;
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

/* ---- options and layout ---- */

void bwl_opts_defaults(struct bwl_opts *o)
{
	*o = (struct bwl_opts){
		.wl = BWL_KV,
		.seed = 1,
		.threads = 2,
		.page_size = 64 * KIB,
		.requests = 16,
		.max_context = 4096,
		.tiles = 256,
		.resources = 64,
		.mappings = 100000,
		.batch = 64,
	};
}

const char *bwl_opts_check(const struct bwl_opts *o)
{
	uint64_t ps = o->page_size;

	if ((unsigned int)o->wl >= BWL_NR)
		return "unknown workload";
	if (o->have_seconds && !(o->seconds > 0))
		return "the time limit must be positive";
	/* Leaves room for the share of each thread to be counted up to. */
	if (o->jobs > UINT64_MAX / 2)
		return "too many jobs";
	if (o->threads < 1 || o->threads > 64)
		return "threads must be 1 to 64";
	if (ps != 64 * KIB && ps != 128 * KIB && ps != 256 * KIB &&
	    ps != 2 * MIB)
		return "the page size must be 64k, 128k, 256k or 2m";
	/* The bounds keep every span inside the VM of bwl_layout(). */
	if (o->requests < 1 || o->requests > 1024)
		return "requests must be 1 to 1024";
	if (o->max_context < 64 || o->max_context > 131072)
		return "max-context must be 64 to 131072";
	if (o->tiles < 1 || o->tiles > 65536)
		return "tiles must be 1 to 65536";
	if (o->resources < 1 || o->resources > 1024)
		return "resources must be 1 to 1024";
	if (o->mappings < 1 || o->mappings > 1000000)
		return "mappings must be 1 to 1000000";
	if (o->batch < 1 || o->batch > 4096)
		return "batch must be 1 to 4096";
	if ((o->wl == BWL_KV && o->requests < o->threads) ||
	    (o->wl == BWL_SPARSE && o->resources < o->threads) ||
	    (o->wl == BWL_CHURN && o->mappings < o->threads))
		return "fewer requests, resources or mappings than threads";
	return NULL;
}

static uint64_t kv_tensor_size(const struct bwl_opts *o)
{
	return ((uint64_t)o->max_context * KV_TOKEN + o->page_size - 1) /
	       o->page_size * o->page_size;
}

void bwl_layout(const struct bwl_opts *o, struct bwl_layout *l)
{
	switch (o->wl) {
	case BWL_SPARSE:
		/* A 2^40 space whose upper half belongs to the kernel. */
		l->va_bits = 40;
		l->start = 0;
		l->range = UINT64_C(1) << 40;
		l->cut_start = UINT64_C(1) << 39;
		l->cut_range = UINT64_C(1) << 39;
		l->span_start = SP_BASE;
		l->span_end = SP_BASE + o->resources * SP_RES_SIZE;
		return;
	case BWL_KV:
		l->span_start = KV_BASE;
		l->span_end = KV_BASE +
			      o->requests * (KV_TENSORS * kv_tensor_size(o));
		break;
	default:
		l->span_start = CH_BASE;
		l->span_end = CH_BASE + 2 * (uint64_t)o->mappings * CH_SLOT;
		break;
	}
	l->va_bits = 48;
	l->start = MIB;
	l->range = (UINT64_C(1) << 47) - MIB;
	l->cut_start = MIB;
	l->cut_range = MIB;
}

/* ---- threads ---- */

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	switch (w->run->o.wl) {
	case BWL_KV:
		kv_loop(w);
		break;
	case BWL_SPARSE:
		sp_loop(w);
		break;
	default:
		ch_loop(w);
		break;
	}
	drain(w);
	clock_gettime(CLOCK_MONOTONIC, &w->end);
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

static int worker_init(struct bwl_run *r, struct worker *w, unsigned int i,
		       void *const *queues, unsigned int nr_queues)
{
	const struct bwl_opts *o = &r->o;
	const char *name = r->name;
	uint64_t first;

	w->run = r;
	w->id = i;
	w->q = queues[i % nr_queues];
	w->rng = o->seed ^ (UINT64_C(0x9e3779b97f4a7c15) * (i + 1));
	w->pa_base = (uint64_t)(i % 64) << (GPUVM_PT_PA_BITS - 6);
	w->jobs_limit =
		o->jobs ? share(o->jobs, o->threads, i, &first) : UINT64_MAX;

	switch (o->wl) {
	case BWL_KV:
		w->nr_kv = (unsigned int)share(o->requests, o->threads, i,
					       &w->kv_first_slot);
		w->kv = xcalloc(name, w->nr_kv, sizeof(*w->kv));
		break;
	case BWL_SPARSE: {
		uint64_t res = share(o->resources, o->threads, i, &first);
		uint64_t per_bo = SP_POOL_BO / TILE, pages;

		w->res_first = first;
		w->nr_tiles = res * SP_RES_TILES;
		pages = 4 * (uint64_t)o->tiles;
		if (pages < 4096)
			pages = 4096;
		w->nr_pool = (unsigned int)((pages + per_bo - 1) / per_bo);
		pages = w->nr_pool * per_bo;
		w->pool = xcalloc(name, w->nr_pool, sizeof(*w->pool));
		for (unsigned int b = 0; b < w->nr_pool; b++) {
			w->pool[b] = bo_new(w, SP_POOL_BO);
			if (!w->pool[b])
				return -ENOMEM;
		}
		w->free_pages = xcalloc(name, pages, sizeof(uint32_t));
		for (uint64_t p = 0; p < pages; p++)
			w->free_pages[p] = (uint32_t)(pages - 1 - p);
		w->nr_free = (uint32_t)pages;
		w->tile_page = xcalloc(name, w->nr_tiles, sizeof(int32_t));
		memset(w->tile_page, 0xff, w->nr_tiles * sizeof(int32_t));
		w->bound = xcalloc(name, w->nr_tiles, sizeof(uint32_t));
		w->bound_pos = xcalloc(name, w->nr_tiles, sizeof(uint32_t));
		break;
	}
	default:
		w->nr_slots = (uint32_t)share(2 * (uint64_t)o->mappings,
					      o->threads, i, &w->slot_first);
		w->perm = xcalloc(name, w->nr_slots, sizeof(uint32_t));
		w->pos = xcalloc(name, w->nr_slots, sizeof(uint32_t));
		for (uint32_t s = 0; s < w->nr_slots; s++)
			w->perm[s] = w->pos[s] = s;
		w->nr_cbo = CH_NR_BO;
		w->cbo = xcalloc(name, w->nr_cbo, sizeof(*w->cbo));
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

/* ---- runs ---- */

int bwl_run_create(const struct bwl_opts *o, bwl_submit_fn submit,
		   void *const *queues, unsigned int nr_queues,
		   struct bwl_run **out)
{
	struct bwl_run *r;
	const char *name;
	int ret;

	if (!submit || !queues || !nr_queues || bwl_opts_check(o))
		return -EINVAL;
	name = o->name ? o->name : bwl_names[o->wl];
	r = xcalloc(name, 1, sizeof(*r));
	r->o = *o;
	r->name = name;
	r->submit = submit;
	r->kv_tensor = kv_tensor_size(o);
	r->kv_region = KV_TENSORS * r->kv_tensor;
	r->w = xcalloc(name, o->threads, sizeof(*r->w));
	r->tids = xcalloc(name, o->threads, sizeof(*r->tids));
	for (unsigned int i = 0; i < o->threads; i++) {
		ret = worker_init(r, &r->w[i], i, queues, nr_queues);
		if (ret) {
			bwl_run_destroy(r);
			return ret;
		}
	}
	*out = r;
	return 0;
}

/* Starts a phase: the clock and every thread. */
static int launch(struct bwl_run *r)
{
	unsigned int n = r->o.threads;

	atomic_store(&r->workers_done, 0);
	r->state = RUN_RUNNING;
	r->started = 0;
	clock_gettime(CLOCK_MONOTONIC, &r->t0);
	for (; r->started < n; r->started++)
		if (pthread_create(&r->tids[r->started], NULL, worker_main,
				   &r->w[r->started]))
			break;
	if (r->started == n)
		return 0;
	/* Those never started count as done, so that polling ends. */
	atomic_store(&r->stop, true);
	atomic_fetch_add(&r->workers_done, n - r->started);
	for (unsigned int i = 0; i < r->started; i++)
		pthread_join(r->tids[i], NULL);
	r->state = RUN_JOINED;
	return -EAGAIN;
}

int bwl_run_start(struct bwl_run *r)
{
	if (r->state != RUN_CREATED)
		return -EINVAL;
	return launch(r);
}

int bwl_run_resume(struct bwl_run *r, uint64_t jobs)
{
	uint64_t first;

	if (r->state != RUN_JOINED || jobs > UINT64_MAX / 2)
		return -EINVAL;
	for (unsigned int i = 0; i < r->o.threads; i++)
		if (r->w[i].err)
			return r->w[i].err;
	for (unsigned int i = 0; i < r->o.threads; i++) {
		struct worker *w = &r->w[i];

		w->base_jobs = w->jobs;
		w->base_ops = w->ops;
		w->base_frames = w->frames;
		w->base_requests = w->requests_done;
		w->jobs_limit =
			jobs ? w->jobs + share(jobs, r->o.threads, i, &first)
			     : UINT64_MAX;
	}
	atomic_store(&r->jobs_total, 0);
	atomic_store(&r->stop, false);
	return launch(r);
}

uint64_t bwl_run_jobs(const struct bwl_run *r)
{
	return atomic_load(&r->jobs_total);
}

unsigned int bwl_run_threads_done(const struct bwl_run *r)
{
	return atomic_load(&r->workers_done);
}

double bwl_run_elapsed(const struct bwl_run *r)
{
	return elapsed_s(r);
}

void bwl_run_stop(struct bwl_run *r)
{
	atomic_store(&r->stop, true);
}

static void join_threads(struct bwl_run *r)
{
	if (r->state != RUN_RUNNING)
		return;
	for (unsigned int i = 0; i < r->started; i++)
		pthread_join(r->tids[i], NULL);
	r->state = RUN_JOINED;
}

void bwl_run_join(struct bwl_run *r, struct bwl_result *res)
{
	uint64_t *fr;
	size_t nf = 0;

	join_threads(r);
	memset(res, 0, sizeof(*res));
	for (unsigned int i = 0; i < r->started; i++) {
		double end = since(&r->t0, &r->w[i].end);

		if (end > res->secs)
			res->secs = end;
	}
	/* Rates are divided by it. */
	if (res->secs <= 0)
		res->secs = 1e-9;
	for (unsigned int i = 0; i < r->o.threads; i++) {
		const struct worker *w = &r->w[i];

		res->jobs += w->jobs - w->base_jobs;
		res->ops += w->ops - w->base_ops;
		res->frames += w->frames - w->base_frames;
		res->requests_done += w->requests_done - w->base_requests;
		if (w->err && !res->err)
			res->err = w->err;
	}
	fr = xcalloc(r->name, res->frames, sizeof(*fr));
	for (unsigned int i = 0; i < r->o.threads; i++)
		for (uint64_t f = r->w[i].base_frames; f < r->w[i].frames;
		     f++) {
			fr[nf] = r->w[i].frame_ns[f];
			res->frames_over += fr[nf] > 16666667;
			nf++;
		}
	bwl_sort_u64(fr, nf);
	res->frame_p50 = bwl_quantile(fr, nf, 0.5);
	res->frame_p99 = bwl_quantile(fr, nf, 0.99);
	free(fr);
}

void bwl_run_destroy(struct bwl_run *r)
{
	if (!r)
		return;
	atomic_store(&r->stop, true);
	join_threads(r);
	for (unsigned int i = 0; i < r->o.threads; i++)
		worker_fini(&r->w[i]);
	free(r->w);
	free(r->tids);
	free(r);
}
