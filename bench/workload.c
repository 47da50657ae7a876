// SPDX-License-Identifier: MIT
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
#include <errno.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"

uint64_t bench_rng_next(uint64_t *state)
{
	uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

uint64_t bench_mix(uint64_t a, uint64_t b)
{
	uint64_t s = a ^ (b * UINT64_C(0xd1b54a32d192ed03));

	return bench_rng_next(&s);
}

void bench_die(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("gpuvm-bench: fatal: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

void *bench_calloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);

	if (!p)
		bench_die("out of memory (%zu x %zu bytes)", n, size);
	return p;
}

static uint64_t rng_below(uint64_t *state, uint64_t n)
{
	return bench_rng_next(state) % n;
}

static void shuffle(uint32_t *v, size_t n, uint64_t *rng)
{
	size_t i;

	for (i = n; i > 1; i--) {
		size_t j = (size_t)rng_below(rng, i);
		uint32_t t = v[i - 1];

		v[i - 1] = v[j];
		v[j] = t;
	}
}

/*
 * The random layout cuts the VA space into n equal slots and puts one
 * mapping at a random page of each, so addresses are random yet never
 * overlap and every mapping has a hole of random size on each side. The
 * sequential layout packs the mappings back to back.
 */
static void make_layout(struct bench_state *st, uint64_t *rng)
{
	const uint64_t span = BENCH_MAX_PAGES - BENCH_MIN_PAGES + 1;
	uint64_t slot = (BENCH_VA_SIZE / st->n) & ~(BENCH_PAGE - 1);
	uint64_t addr = BENCH_SEQ_BASE;
	size_t i;

	for (i = 0; i < st->n; i++) {
		uint64_t pages = BENCH_MIN_PAGES + rng_below(rng, span);
		uint64_t range = pages * BENCH_PAGE;

		if (st->pat == PAT_RANDOM) {
			uint64_t room = (slot - range) / BENCH_PAGE + 1;

			addr = i * slot + rng_below(rng, room) * BENCH_PAGE;
		}
		st->lay[i].addr = addr;
		st->lay[i].range = (uint32_t)range;
		addr += range;
	}
}

static void pool_init(struct bench_pool *pool, size_t cap)
{
	size_t i;

	pool->items = bench_calloc(cap, sizeof(*pool->items));
	pool->cap = cap;
	pool->free = NULL;
	pool->nr_free = 0;
	/* Pushed backwards so that the first pops are in address order. */
	for (i = cap; i-- > 0;)
		bench_pool_put(pool, &pool->items[i]);
}

static int step_map(struct gpuva_op *op, void *priv)
{
	struct bench_state *st = priv;
	struct bench_va *m = bench_pool_get(&st->pool);
	int ret;

	if (!m)
		return -ENOMEM;
	ret = gpuva_map(&st->vm, &m->va, &op->map);
	if (ret)
		bench_pool_put(&st->pool, m);
	return ret;
}

static int step_remap(struct gpuva_op *op, void *priv)
{
	struct bench_state *st = priv;
	struct gpuva_op_remap *r = &op->remap;
	struct gpuva *old = r->unmap->va;
	struct bench_va *prev = NULL, *next = NULL;
	int ret;

	if (r->prev) {
		prev = bench_pool_get(&st->pool);
		if (!prev)
			return -ENOMEM;
	}
	if (r->next) {
		next = bench_pool_get(&st->pool);
		if (!next) {
			if (prev)
				bench_pool_put(&st->pool, prev);
			return -ENOMEM;
		}
	}
	ret = gpuva_remap(prev ? &prev->va : NULL, next ? &next->va : NULL, r);
	if (ret) {
		if (next)
			bench_pool_put(&st->pool, next);
		if (prev)
			bench_pool_put(&st->pool, prev);
		return ret;
	}
	bench_pool_put(&st->pool, bench_va_of(old));
	return 0;
}

static int step_unmap(struct gpuva_op *op, void *priv)
{
	struct bench_state *st = priv;
	struct gpuva *va = op->unmap.va;

	gpuva_unmap(&op->unmap);
	bench_pool_put(&st->pool, bench_va_of(va));
	return 0;
}

/* The VM is embedded in struct bench_state, which its owner frees. */
static void vm_free(struct gpuvm *vm)
{
	(void)vm;
}

static const struct gpuvm_ops bench_vm_ops = {
	.vm_free = vm_free,
	.sm_step_map = step_map,
	.sm_step_remap = step_remap,
	.sm_step_unmap = step_unmap,
};

static void gem_free(struct gpuvm_gem *obj)
{
	(void)obj;
}

static const struct gpuvm_gem_funcs bench_gem_funcs = {
	.free = gem_free,
};

static gint cmp_key(gconstpointer a, gconstpointer b)
{
	uintptr_t x = (uintptr_t)a, y = (uintptr_t)b;

	return (x > y) - (x < y);
}

static uint64_t alloc_live_bytes(void)
{
	struct gpuvm_alloc_stats s;

	gpuvm_alloc_get_stats(&s);
	return s.live_bytes;
}

static size_t vatree_bytes(const struct gpuvm_va_tree *vt)
{
	return (vt->nr_nodes + vt->nr_spare) * gpuvm_va_tree_node_size();
}

void bench_state_mem(struct bench_state *st, struct bench_mem *mem)
{
	struct gpuvm_stats s;
	uint64_t live;

	gpuvm_get_stats(&st->vm, &s);
	memset(mem, 0, sizeof(*mem));
	mem->valid = true;
	mem->nr_va = s.nr_va;
	mem->tree_nodes = s.tree_nodes;
	mem->tree_spare = s.tree_spare;
	mem->tree_height = s.tree_height;
	mem->tree_bytes = s.tree_bytes;
	mem->per_mapping = s.nr_va ? (double)(sizeof(struct gpuva) * s.nr_va +
					      s.tree_bytes) /
					     (double)s.nr_va
				   : 0.0;
	/*
	 * The bare tree is the only other user of the library allocator in
	 * this process, and its size is known exactly.
	 */
	live = alloc_live_bytes() - st->alloc_base - vatree_bytes(&st->vt);
	mem->alloc_per_mapping = s.nr_va ? (double)live / (double)s.nr_va : 0.0;
	mem->vatree_per_key = st->vt.count ? (double)vatree_bytes(&st->vt) /
						     (double)st->vt.count
					   : 0.0;
	mem->judy_per_key =
		st->n ? (double)JudyLMemUsed(st->judy) / (double)st->n : 0.0;
	mem->gtree_per_key = -1.0;
}

void bench_state_init(struct bench_state *st, size_t n, enum bench_pattern pat,
		      uint64_t seed, size_t batch, size_t lag,
		      size_t max_queries)
{
	uint64_t rng = seed;
	uint64_t t0;
	size_t i;
	int ret, k;

	memset(st, 0, sizeof(*st));
	st->n = n;
	st->pat = pat;
	st->batch = batch;
	st->lag = lag;
	st->nr_pairs = n / 2;
	st->lay = bench_calloc(n, sizeof(*st->lay));
	st->order = bench_calloc(n, sizeof(*st->order));
	st->pair_order = bench_calloc(st->nr_pairs, sizeof(*st->pair_order));
	st->ptrs = bench_calloc(n, sizeof(*st->ptrs));
	st->idx = bench_calloc(batch, sizeof(*st->idx));
	st->nr_queries = max_queries;
	st->queries = bench_calloc(max_queries, sizeof(*st->queries));

	make_layout(st, &rng);
	for (i = 0; i < n; i++)
		st->order[i] = (uint32_t)i;
	for (i = 0; i < st->nr_pairs; i++)
		st->pair_order[i] = (uint32_t)i;
	if (pat == PAT_RANDOM) {
		shuffle(st->order, n, &rng);
		shuffle(st->pair_order, st->nr_pairs, &rng);
	}
	for (i = 0; i < n; i++)
		st->lay[st->order[i]].rank = (uint32_t)i;
	for (k = IMPL_VATREE; k < NR_IMPLS; k++) {
		st->recs[k] = bench_calloc(n, sizeof(*st->recs[k]));
		for (i = 0; i < n; i++) {
			struct bench_rec *r = &st->recs[k][st->lay[i].rank];

			r->addr = st->lay[i].addr;
			r->range = st->lay[i].range;
		}
	}
	st->scratch.range = BENCH_PAGE;

	/*
	 * Live mappings never exceed n + batch (a split batch adds one per
	 * request); the rest is slack.
	 */
	pool_init(&st->pool, n + 2 * batch + 64);
	for (i = 0; i < BENCH_NR_OBJS; i++) {
		if (gpuvm_gem_init(&st->objs[i], &bench_gem_funcs,
				   BENCH_VA_SIZE))
			bench_die("gpuvm_gem_init failed");
	}

	st->alloc_base = alloc_live_bytes();
	ret = gpuvm_init(&st->vm, "bench", 0, NULL, 0, BENCH_VA_SIZE, 0, 0,
			 &bench_vm_ops);
	if (ret)
		bench_die("gpuvm_init failed: %d", ret);

	/* Building inserts in visiting order: random or ascending. */
	t0 = bench_now();
	for (i = 0; i < n; i++) {
		const struct bench_slot *s = &st->lay[st->order[i]];

		ret = bench_sm_map(st, s->addr, s->range, st->order[i]);
		if (ret)
			bench_die("building: sm_map failed: %d", ret);
	}
	st->build_ns[IMPL_GPUVM] = (double)(bench_now() - t0) / (double)n;
	bench_state_mem(st, &st->mem_build);

	gpuvm_va_tree_init(&st->vt);
	t0 = bench_now();
	for (i = 0; i < n; i++) {
		const struct bench_slot *s = &st->lay[st->order[i]];

		ret = gpuvm_va_tree_insert(&st->vt, s->addr,
					   &st->recs[IMPL_VATREE][s->rank]);
		if (ret)
			bench_die("building: va_tree insert failed: %d", ret);
	}
	st->build_ns[IMPL_VATREE] = (double)(bench_now() - t0) / (double)n;
	st->mem_build.vatree_per_key =
		(double)vatree_bytes(&st->vt) / (double)n;

	t0 = bench_now();
	for (i = 0; i < n; i++) {
		const struct bench_slot *s = &st->lay[st->order[i]];
		PWord_t pv;

		JLI(pv, st->judy, (Word_t)s->addr);
		*pv = (Word_t)(uintptr_t)&st->recs[IMPL_JUDY][s->rank];
	}
	st->build_ns[IMPL_JUDY] = (double)(bench_now() - t0) / (double)n;
	st->mem_build.judy_per_key = (double)JudyLMemUsed(st->judy) / (double)n;

	{
		struct mallinfo2 before = mallinfo2(), after;

		st->gt = g_tree_new(cmp_key);
		t0 = bench_now();
		for (i = 0; i < n; i++) {
			const struct bench_slot *s = &st->lay[st->order[i]];

			g_tree_insert(st->gt, (gpointer)(uintptr_t)s->addr,
				      &st->recs[IMPL_GTREE][s->rank]);
		}
		st->build_ns[IMPL_GTREE] =
			(double)(bench_now() - t0) / (double)n;
		/* Sanitizer allocators leave these counters at zero. */
		after = mallinfo2();
		st->mem_build.gtree_per_key =
			after.uordblks > before.uordblks
				? (double)(after.uordblks - before.uordblks) /
					  (double)n
				: -1.0;
	}
	bench_state_check(st, false, "build");
}

void bench_collect_ptrs(struct bench_state *st)
{
	struct gpuvm_va_iter it;
	struct gpuva *va;
	size_t k = 0;

	gpuvm_for_each_va(va, &it, &st->vm) {
		if (gpuvm_va_is_reserved(&st->vm, va))
			continue;
		if (k >= st->n || va->va.addr != st->lay[k].addr ||
		    va->va.range != st->lay[k].range)
			bench_die("VM content differs from the layout at %zu",
				  k);
		st->ptrs[k++] = bench_va_of(va);
	}
	if (k != st->n)
		bench_die("VM holds %zu mappings, expected %zu", k, st->n);
}

void bench_state_check(struct bench_state *st, bool deep, const char *what)
{
	struct gpuvm_stats s;
	char msg[256];
	Word_t count;

	gpuvm_get_stats(&st->vm, &s);
	if (s.nr_va != st->n)
		bench_die("%s: VM holds %zu mappings, expected %zu", what,
			  s.nr_va, st->n);
	if (st->vt.count != st->n)
		bench_die("%s: va_tree holds %zu keys, expected %zu", what,
			  st->vt.count, st->n);
	JLC(count, st->judy, 0, (Word_t)-1);
	if (count != st->n)
		bench_die("%s: JudyL holds %lu keys, expected %zu", what,
			  (unsigned long)count, st->n);
	if ((size_t)g_tree_nnodes(st->gt) != st->n)
		bench_die("%s: GTree holds %d keys, expected %zu", what,
			  g_tree_nnodes(st->gt), st->n);
	if (st->pool.nr_free + st->n != st->pool.cap)
		bench_die("%s: %zu mapping structs unaccounted for", what,
			  st->pool.cap - st->pool.nr_free - st->n);
	if (!deep)
		return;
	if (gpuvm_check_invariants(&st->vm, msg, sizeof(msg)))
		bench_die("%s: VM invariant broken: %s", what, msg);
	if (gpuvm_va_tree_check(&st->vt, msg, sizeof(msg)))
		bench_die("%s: va_tree invariant broken: %s", what, msg);
	bench_collect_ptrs(st);
}

void bench_state_fini(struct bench_state *st)
{
	struct gpuvm_va_iter it;
	struct gpuva *va;
	Word_t freed;
	size_t i;

	gpuvm_for_each_va_safe(va, &it, &st->vm) {
		if (gpuvm_va_is_reserved(&st->vm, va))
			continue;
		gpuva_remove(va);
		bench_pool_put(&st->pool, bench_va_of(va));
	}
	gpuvm_put(&st->vm);
	gpuvm_va_tree_fini(&st->vt);
	JLFA(freed, st->judy);
	(void)freed;
	g_tree_destroy(st->gt);
	for (i = 0; i < BENCH_NR_OBJS; i++)
		gpuvm_gem_put(&st->objs[i]);
	if (alloc_live_bytes() != st->alloc_base)
		fprintf(stderr,
			"gpuvm-bench: warning: %llu bytes of library memory "
			"still live after teardown\n",
			(unsigned long long)(alloc_live_bytes() -
					     st->alloc_base));
	free(st->pool.items);
	free(st->lay);
	free(st->order);
	free(st->pair_order);
	free(st->ptrs);
	free(st->idx);
	free(st->queries);
	for (i = 0; i < NR_IMPLS; i++)
		free(st->recs[i]);
}
