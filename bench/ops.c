// SPDX-License-Identifier: MIT
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
#include <stdio.h>

#include "bench.h"

/*
 * Each timed batch is written once, as an always-inline function of the
 * implementation, and instantiated per implementation by IMPL_SWITCH: every
 * instance is a straight loop with no dispatch inside.
 *
 * What the peers do for each VM request is the least ordered-map work the
 * request implies, on the same keys (the mappings' start addresses):
 *
 *   map_over0   le(end - 1) (is the range free?), insert
 *   map_over1   get, remove, insert                      (the headline)
 *   map_over2   le(start), next, remove x2, insert
 *   map_split2  le(start), next, remove x2, insert x3
 *   unmap       le(end - 1), remove
 *   find_first  le(addr), and next if that does not overlap
 *   lookup      get, compare the range (the VM: gpuva_find())
 *   insert      insert                 (the VM: gpuva_insert())
 *   remove      remove, the key read from the record (gpuva_remove())
 *
 * le(k) is the last key <= k, next the key after a found one.
 */

struct ppos {
	uint64_t key;
	const struct bench_rec *val;
	struct gpuvm_va_tree_cursor cur;
	GTreeNode *node;
};

static inline gpointer gkey(uint64_t k)
{
	return (gpointer)(uintptr_t)k;
}

static void check_bad(uint64_t bad, const char *what)
{
	if (bad)
		bench_die("%s: an operation failed or found the wrong entry",
			  what);
}

BENCH_INLINE const struct bench_rec *p_get(struct bench_state *st, uint64_t k,
					   const enum bench_impl impl)
{
	PWord_t pv;

	switch (impl) {
	case IMPL_VATREE:
		return gpuvm_va_tree_lookup(&st->vt, k);
	case IMPL_JUDY:
		JLG(pv, st->judy, (Word_t)k);
		return pv ? (const struct bench_rec *)(uintptr_t)*pv : NULL;
	case IMPL_GTREE:
		return g_tree_lookup(st->gt, gkey(k));
	default:
		return NULL;
	}
}

BENCH_INLINE bool p_insert(struct bench_state *st, uint64_t k,
			   const struct bench_rec *v,
			   const enum bench_impl impl)
{
	PWord_t pv;

	switch (impl) {
	case IMPL_VATREE:
		return !gpuvm_va_tree_insert(&st->vt, k, (void *)(uintptr_t)v);
	case IMPL_JUDY:
		JLI(pv, st->judy, (Word_t)k);
		*pv = (Word_t)(uintptr_t)v;
		return true;
	case IMPL_GTREE:
		g_tree_insert(st->gt, gkey(k), (gpointer)(uintptr_t)v);
		return true;
	default:
		return false;
	}
}

BENCH_INLINE bool p_remove(struct bench_state *st, uint64_t k,
			   const enum bench_impl impl)
{
	int rc;

	switch (impl) {
	case IMPL_VATREE:
		return gpuvm_va_tree_remove(&st->vt, k) != NULL;
	case IMPL_JUDY:
		JLD(rc, st->judy, (Word_t)k);
		return rc == 1;
	case IMPL_GTREE:
		return g_tree_remove(st->gt, gkey(k));
	default:
		return false;
	}
}

BENCH_INLINE bool p_gtree_node(struct ppos *p, GTreeNode *n)
{
	if (!n)
		return false;
	p->node = n;
	p->key = (uint64_t)(uintptr_t)g_tree_node_key(n);
	p->val = g_tree_node_value(n);
	return true;
}

BENCH_INLINE bool p_vatree_cur(struct ppos *p, bool ok)
{
	if (!ok)
		return false;
	p->key = gpuvm_va_tree_cursor_key(&p->cur);
	p->val = gpuvm_va_tree_cursor_val(&p->cur);
	return true;
}

BENCH_INLINE bool p_le(struct bench_state *st, uint64_t k, struct ppos *p,
		       const enum bench_impl impl)
{
	PWord_t pv;
	Word_t i = (Word_t)k;
	GTreeNode *u;

	switch (impl) {
	case IMPL_VATREE:
		return p_vatree_cur(p,
				    gpuvm_va_tree_seek_le(&st->vt, k, &p->cur));
	case IMPL_JUDY:
		JLL(pv, st->judy, i);
		if (!pv)
			return false;
		p->key = i;
		p->val = (const struct bench_rec *)(uintptr_t)*pv;
		return true;
	case IMPL_GTREE:
		u = g_tree_upper_bound(st->gt, gkey(k));
		return p_gtree_node(p, u ? g_tree_node_previous(u)
					 : g_tree_node_last(st->gt));
	default:
		return false;
	}
}

BENCH_INLINE bool p_ge(struct bench_state *st, uint64_t k, struct ppos *p,
		       const enum bench_impl impl)
{
	PWord_t pv;
	Word_t i = (Word_t)k;

	switch (impl) {
	case IMPL_VATREE:
		return p_vatree_cur(p,
				    gpuvm_va_tree_seek_ge(&st->vt, k, &p->cur));
	case IMPL_JUDY:
		JLF(pv, st->judy, i);
		if (!pv)
			return false;
		p->key = i;
		p->val = (const struct bench_rec *)(uintptr_t)*pv;
		return true;
	case IMPL_GTREE:
		return p_gtree_node(p, g_tree_lower_bound(st->gt, gkey(k)));
	default:
		return false;
	}
}

BENCH_INLINE bool p_next(struct bench_state *st, struct ppos *p,
			 const enum bench_impl impl)
{
	PWord_t pv;
	Word_t i = (Word_t)p->key;

	switch (impl) {
	case IMPL_VATREE:
		return p_vatree_cur(p, gpuvm_va_tree_next(&p->cur));
	case IMPL_JUDY:
		JLN(pv, st->judy, i);
		if (!pv)
			return false;
		p->key = i;
		p->val = (const struct bench_rec *)(uintptr_t)*pv;
		return true;
	case IMPL_GTREE:
		return p_gtree_node(p, g_tree_node_next(p->node));
	default:
		return false;
	}
}

static inline bool p_overlaps(const struct ppos *p, uint64_t addr, uint64_t end)
{
	return p->key < end && p->key + p->val->range > addr;
}

#define IMPL_SWITCH(impl, fn, ...)                                             \
	do {                                                                   \
		switch (impl) {                                                \
		case IMPL_GPUVM:                                               \
			return fn(__VA_ARGS__, IMPL_GPUVM);                    \
		case IMPL_VATREE:                                              \
			return fn(__VA_ARGS__, IMPL_VATREE);                   \
		case IMPL_JUDY:                                                \
			return fn(__VA_ARGS__, IMPL_JUDY);                     \
		default:                                                       \
			return fn(__VA_ARGS__, IMPL_GTREE);                    \
		}                                                              \
	} while (0)

/* Requests exactly over one mapping: UNMAP + MAP. */
BENCH_INLINE uint64_t do_map1(struct bench_state *st, size_t b,
			      const enum bench_impl impl)
{
	const unsigned int gen = ++st->gen;
	uint64_t acc = 0, bad = 0, t0, t1;
	size_t j;

	t0 = bench_now();
	for (j = 0; j < b; j++) {
		const struct bench_slot *s = &st->lay[st->idx[j]];

		if (impl == IMPL_GPUVM) {
			bad |= (uint64_t)bench_sm_map(st, s->addr, s->range,
						      st->idx[j] + gen);
		} else {
			const struct bench_rec *v = p_get(st, s->addr, impl);

			bad += !v;
			bad += !p_remove(st, s->addr, impl);
			bad += !p_insert(st, s->addr, v, impl);
			acc += (uintptr_t)v;
		}
	}
	t1 = bench_now();
	check_bad(bad, "map_over1");
	bench_sink += acc;
	return bench_elapsed(t0, t1);
}

/* Requests into a hole: MAP only. */
BENCH_INLINE uint64_t do_map0(struct bench_state *st, size_t b,
			      const enum bench_impl impl)
{
	uint64_t acc = 0, bad = 0, t0, t1;
	size_t j;

	t0 = bench_now();
	for (j = 0; j < b; j++) {
		const struct bench_slot *s = &st->lay[st->idx[j]];

		if (impl == IMPL_GPUVM) {
			bad |= (uint64_t)bench_sm_map(st, s->addr, s->range,
						      st->idx[j]);
		} else {
			uint64_t end = s->addr + s->range;
			struct ppos p;

			p.key = 0;
			if (p_le(st, end - 1, &p, impl))
				bad += p_overlaps(&p, s->addr, end);
			bad += !p_insert(st, s->addr, bench_rec_of(st, impl, s),
					 impl);
			acc += p.key;
		}
	}
	t1 = bench_now();
	check_bad(bad, "map_over0");
	bench_sink += acc;
	return bench_elapsed(t0, t1);
}

/* Requests exactly over one mapping with sm_unmap: UNMAP. */
BENCH_INLINE uint64_t do_unmap(struct bench_state *st, size_t b,
			       const enum bench_impl impl)
{
	uint64_t acc = 0, bad = 0, t0, t1;
	size_t j;

	t0 = bench_now();
	for (j = 0; j < b; j++) {
		const struct bench_slot *s = &st->lay[st->idx[j]];

		if (impl == IMPL_GPUVM) {
			bad |= (uint64_t)bench_sm_unmap(st, s->addr, s->range);
		} else {
			uint64_t end = s->addr + s->range;
			struct ppos p;

			p.key = 0;
			if (!p_le(st, end - 1, &p, impl) || p.key != s->addr ||
			    !p_overlaps(&p, s->addr, end))
				bad++;
			bad += !p_remove(st, s->addr, impl);
			acc += p.key;
		}
	}
	t1 = bench_now();
	check_bad(bad, "unmap");
	bench_sink += acc;
	return bench_elapsed(t0, t1);
}

/* Requests exactly over two neighbours: UNMAP, UNMAP, MAP. */
BENCH_INLINE uint64_t do_map2(struct bench_state *st, size_t b,
			      const enum bench_impl impl)
{
	const unsigned int gen = ++st->gen;
	uint64_t acc = 0, bad = 0, t0, t1;
	size_t j;

	t0 = bench_now();
	for (j = 0; j < b; j++) {
		const struct bench_slot *a = &st->lay[2 * st->idx[j]];
		const struct bench_slot *c = a + 1;
		uint64_t end = c->addr + c->range;

		if (impl == IMPL_GPUVM) {
			bad |= (uint64_t)bench_sm_map(st, a->addr,
						      end - a->addr, gen);
		} else {
			struct ppos p;

			p.key = 0;
			if (!p_le(st, a->addr, &p, impl) ||
			    !p_overlaps(&p, a->addr, end) ||
			    !p_next(st, &p, impl) ||
			    !p_overlaps(&p, a->addr, end))
				bad++;
			bad += !p_remove(st, a->addr, impl);
			bad += !p_remove(st, c->addr, impl);
			bad += !p_insert(st, a->addr, &st->scratch, impl);
			acc += p.key;
		}
	}
	t1 = bench_now();
	check_bad(bad, "map_over2");
	bench_sink += acc;
	return bench_elapsed(t0, t1);
}

BENCH_INLINE uint64_t undo_map2(struct bench_state *st, size_t b,
				const enum bench_impl impl)
{
	uint64_t bad = 0;
	size_t j;

	for (j = 0; j < b; j++) {
		const struct bench_slot *a = &st->lay[2 * st->idx[j]];
		const struct bench_slot *c = a + 1;

		if (impl == IMPL_GPUVM) {
			bad |= (uint64_t)bench_sm_unmap(
				st, a->addr, c->addr + c->range - a->addr);
			bad |= (uint64_t)bench_sm_map(st, a->addr, a->range,
						      2 * st->idx[j]);
			bad |= (uint64_t)bench_sm_map(st, c->addr, c->range,
						      2 * st->idx[j] + 1);
		} else {
			bad += !p_remove(st, a->addr, impl);
			bad += !p_insert(st, a->addr, bench_rec_of(st, impl, a),
					 impl);
			bad += !p_insert(st, c->addr, bench_rec_of(st, impl, c),
					 impl);
		}
	}
	check_bad(bad, "map_over2 (undo)");
	return 0;
}

static inline uint64_t half_way(const struct bench_slot *s)
{
	return s->addr + (s->range / BENCH_PAGE / 2) * BENCH_PAGE;
}

/*
 * Requests from the middle of one mapping to the middle of its right-hand
 * neighbour: REMAP (keeps a head), REMAP (keeps a tail), MAP.
 */
BENCH_INLINE uint64_t do_split2(struct bench_state *st, size_t b,
				const enum bench_impl impl)
{
	const unsigned int gen = ++st->gen;
	uint64_t acc = 0, bad = 0, t0, t1;
	size_t j;

	t0 = bench_now();
	for (j = 0; j < b; j++) {
		const struct bench_slot *a = &st->lay[2 * st->idx[j]];
		const struct bench_slot *c = a + 1;
		uint64_t start = half_way(a), end = half_way(c);

		if (impl == IMPL_GPUVM) {
			bad |= (uint64_t)bench_sm_map(st, start, end - start,
						      gen);
		} else {
			struct ppos p;

			p.key = 0;
			if (!p_le(st, start, &p, impl) ||
			    !p_overlaps(&p, start, end) ||
			    !p_next(st, &p, impl) ||
			    !p_overlaps(&p, start, end))
				bad++;
			bad += !p_remove(st, a->addr, impl);
			bad += !p_remove(st, c->addr, impl);
			bad += !p_insert(st, a->addr, &st->scratch, impl);
			bad += !p_insert(st, start, &st->scratch, impl);
			bad += !p_insert(st, end, &st->scratch, impl);
			acc += p.key;
		}
	}
	t1 = bench_now();
	check_bad(bad, "map_split2");
	bench_sink += acc;
	return bench_elapsed(t0, t1);
}

BENCH_INLINE uint64_t undo_split2(struct bench_state *st, size_t b,
				  const enum bench_impl impl)
{
	uint64_t bad = 0;
	size_t j;

	for (j = 0; j < b; j++) {
		const struct bench_slot *a = &st->lay[2 * st->idx[j]];
		const struct bench_slot *c = a + 1;

		if (impl == IMPL_GPUVM) {
			bad |= (uint64_t)bench_sm_unmap(
				st, a->addr, c->addr + c->range - a->addr);
			bad |= (uint64_t)bench_sm_map(st, a->addr, a->range,
						      2 * st->idx[j]);
			bad |= (uint64_t)bench_sm_map(st, c->addr, c->range,
						      2 * st->idx[j] + 1);
		} else {
			bad += !p_remove(st, a->addr, impl);
			bad += !p_remove(st, half_way(a), impl);
			bad += !p_remove(st, half_way(c), impl);
			bad += !p_insert(st, a->addr, bench_rec_of(st, impl, a),
					 impl);
			bad += !p_insert(st, c->addr, bench_rec_of(st, impl, c),
					 impl);
		}
	}
	check_bad(bad, "map_split2 (undo)");
	return 0;
}

/* Page-sized find_first at precomputed addresses. */
BENCH_INLINE uint64_t do_find(struct bench_state *st, size_t first, size_t nq,
			      uint64_t *hits, const enum bench_impl impl)
{
	uint64_t acc = 0, found = 0, t0, t1;
	size_t j;

	t0 = bench_now();
	for (j = 0; j < nq; j++) {
		const uint64_t q = st->queries[first + j];
		const uint64_t end = q + BENCH_PAGE;

		if (impl == IMPL_GPUVM) {
			const struct gpuva *va =
				gpuva_find_first(&st->vm, q, BENCH_PAGE);

			if (va) {
				found++;
				acc += va->va.addr;
			}
		} else {
			struct ppos p;
			bool hit;

			if (p_le(st, q, &p, impl))
				hit = p_overlaps(&p, q, end) ||
				      (p_next(st, &p, impl) &&
				       p_overlaps(&p, q, end));
			else
				hit = p_ge(st, q, &p, impl) &&
				      p_overlaps(&p, q, end);
			if (hit) {
				found++;
				acc += p.key;
			}
		}
	}
	t1 = bench_now();
	*hits += found;
	bench_sink += acc;
	return bench_elapsed(t0, t1);
}

/* Exact lookups of existing mappings, range included. */
BENCH_INLINE uint64_t do_lookup(struct bench_state *st, size_t b,
				uint64_t *hits, const enum bench_impl impl)
{
	uint64_t acc = 0, found = 0, t0, t1;
	size_t j;

	t0 = bench_now();
	for (j = 0; j < b; j++) {
		const struct bench_slot *s = &st->lay[st->idx[j]];

		if (impl == IMPL_GPUVM) {
			const struct gpuva *va =
				gpuva_find(&st->vm, s->addr, s->range);

			found += va != NULL;
			acc += (uintptr_t)va;
		} else {
			const struct bench_rec *v = p_get(st, s->addr, impl);

			/* gpuva_find() matches the range too. */
			if (v && v->range == s->range) {
				found++;
				acc += (uintptr_t)v;
			}
		}
	}
	t1 = bench_now();
	*hits += found;
	bench_sink += acc;
	return bench_elapsed(t0, t1);
}

/* Bare removals; the VM is handed the mapping, as gpuva_remove() wants. */
BENCH_INLINE uint64_t do_remove(struct bench_state *st, size_t b,
				const enum bench_impl impl)
{
	uint64_t bad = 0, t0, t1;
	size_t j;

	t0 = bench_now();
	for (j = 0; j < b; j++) {
		const uint32_t i = st->idx[j];

		if (impl == IMPL_GPUVM) {
			struct bench_va *m = st->ptrs[i];

			gpuva_remove(&m->va);
			bench_pool_put(&st->pool, m);
		} else {
			/* As the VM does, read the key from the record. */
			const struct bench_rec *rec =
				bench_rec_of(st, impl, &st->lay[i]);

			bad += !p_remove(st, rec->addr, impl);
		}
	}
	t1 = bench_now();
	check_bad(bad, "remove");
	return bench_elapsed(t0, t1);
}

BENCH_INLINE uint64_t do_insert(struct bench_state *st, size_t b,
				const enum bench_impl impl)
{
	uint64_t bad = 0, t0, t1;
	size_t j;

	t0 = bench_now();
	for (j = 0; j < b; j++) {
		const uint32_t i = st->idx[j];
		const struct bench_slot *s = &st->lay[i];

		if (impl == IMPL_GPUVM) {
			struct bench_va *m = bench_pool_get(&st->pool);

			if (!m) {
				bad++;
				break;
			}
			m->va.va.addr = s->addr;
			m->va.va.range = s->range;
			m->va.gem.obj = &st->objs[i % BENCH_NR_OBJS];
			if (gpuva_insert(&st->vm, &m->va)) {
				bench_pool_put(&st->pool, m);
				bad++;
				break;
			}
			st->ptrs[i] = m;
		} else {
			bad += !p_insert(st, s->addr, bench_rec_of(st, impl, s),
					 impl);
		}
	}
	t1 = bench_now();
	check_bad(bad, "insert");
	return bench_elapsed(t0, t1);
}

typedef uint64_t (*batch_fn)(struct bench_state *st, enum bench_impl impl,
			     size_t b);

static uint64_t map0_batch(struct bench_state *st, enum bench_impl impl,
			   size_t b)
{
	IMPL_SWITCH(impl, do_map0, st, b);
}

static uint64_t map1_batch(struct bench_state *st, enum bench_impl impl,
			   size_t b)
{
	IMPL_SWITCH(impl, do_map1, st, b);
}

static uint64_t unmap_batch(struct bench_state *st, enum bench_impl impl,
			    size_t b)
{
	IMPL_SWITCH(impl, do_unmap, st, b);
}

static uint64_t map2_batch(struct bench_state *st, enum bench_impl impl,
			   size_t b)
{
	IMPL_SWITCH(impl, do_map2, st, b);
}

static uint64_t map2_undo(struct bench_state *st, enum bench_impl impl,
			  size_t b)
{
	IMPL_SWITCH(impl, undo_map2, st, b);
}

static uint64_t split2_batch(struct bench_state *st, enum bench_impl impl,
			     size_t b)
{
	IMPL_SWITCH(impl, do_split2, st, b);
}

static uint64_t split2_undo(struct bench_state *st, enum bench_impl impl,
			    size_t b)
{
	IMPL_SWITCH(impl, undo_split2, st, b);
}

static uint64_t remove_batch(struct bench_state *st, enum bench_impl impl,
			     size_t b)
{
	IMPL_SWITCH(impl, do_remove, st, b);
}

static uint64_t insert_batch(struct bench_state *st, enum bench_impl impl,
			     size_t b)
{
	IMPL_SWITCH(impl, do_insert, st, b);
}

static uint64_t find_all(struct bench_state *st, enum bench_impl impl,
			 size_t first, size_t nq, uint64_t *hits)
{
	IMPL_SWITCH(impl, do_find, st, first, nq, hits);
}

static uint64_t lookup_batch(struct bench_state *st, enum bench_impl impl,
			     size_t b, uint64_t *hits)
{
	IMPL_SWITCH(impl, do_lookup, st, b, hits);
}

static void record(struct bench_timing *t, enum bench_op op, uint64_t ns,
		   size_t ops)
{
	t->ns[op] += ns;
	t->ops[op] += ops;
	if (t->batch_ns[op] && t->nr_batches[op] < t->batch_cap && ops)
		t->batch_ns[op][t->nr_batches[op]++] = (double)ns / (double)ops;
}

static void fill_idx(struct bench_state *st, const uint32_t *order, size_t len,
		     size_t cursor, size_t b)
{
	size_t j;

	for (j = 0; j < b; j++)
		st->idx[j] = order[(cursor + j) % len];
}

/*
 * The paired experiments remove targets at a leading cursor and re-add them
 * at a trailing one, st->lag targets behind: begin opens the lag, each round
 * removes one batch and re-adds an older one, end closes the lag again.
 */
static batch_fn pair_out(enum bench_loop loop)
{
	return loop == LOOP_UNMAP_MAP0 ? unmap_batch : remove_batch;
}

static batch_fn pair_in(enum bench_loop loop)
{
	return loop == LOOP_UNMAP_MAP0 ? map0_batch : insert_batch;
}

void bench_loop_begin(struct bench_state *st, enum bench_loop loop,
		      enum bench_impl impl, size_t cursor)
{
	const size_t b = st->batch;
	size_t done = 0, k;

	if (loop != LOOP_UNMAP_MAP0 && loop != LOOP_REMOVE_INSERT)
		return;
	if (loop == LOOP_REMOVE_INSERT && impl == IMPL_GPUVM)
		bench_collect_ptrs(st);
	while (done < st->lag) {
		k = st->lag - done < b ? st->lag - done : b;
		fill_idx(st, st->order, st->n, cursor + done, k);
		pair_out(loop)(st, impl, k);
		done += k;
	}
}

void bench_loop_round(struct bench_state *st, enum bench_loop loop,
		      enum bench_impl impl, size_t cursor, size_t r,
		      struct bench_timing *t)
{
	const size_t b = st->batch;
	const size_t at = cursor + r * b;

	switch (loop) {
	case LOOP_UNMAP_MAP0:
	case LOOP_REMOVE_INSERT:
		fill_idx(st, st->order, st->n, at + st->lag, b);
		record(t, loop == LOOP_UNMAP_MAP0 ? OP_UNMAP : OP_REMOVE,
		       pair_out(loop)(st, impl, b), b);
		fill_idx(st, st->order, st->n, at, b);
		record(t, loop == LOOP_UNMAP_MAP0 ? OP_MAP0 : OP_INSERT,
		       pair_in(loop)(st, impl, b), b);
		break;
	case LOOP_MAP1:
		fill_idx(st, st->order, st->n, at, b);
		record(t, OP_MAP1, map1_batch(st, impl, b), b);
		break;
	case LOOP_MAP2:
		fill_idx(st, st->pair_order, st->nr_pairs, at, b);
		record(t, OP_MAP2, map2_batch(st, impl, b), b);
		map2_undo(st, impl, b);
		break;
	case LOOP_SPLIT2:
		fill_idx(st, st->pair_order, st->nr_pairs, at, b);
		record(t, OP_SPLIT2, split2_batch(st, impl, b), b);
		split2_undo(st, impl, b);
		break;
	case LOOP_FIND:
		record(t, OP_FIND, find_all(st, impl, r * b, b, &t->hits), b);
		break;
	case LOOP_LOOKUP:
		fill_idx(st, st->order, st->n, at, b);
		record(t, OP_LOOKUP, lookup_batch(st, impl, b, &t->hits), b);
		break;
	default:
		break;
	}
}

void bench_loop_end(struct bench_state *st, enum bench_loop loop,
		    enum bench_impl impl, size_t cursor, size_t rounds)
{
	const size_t b = st->batch;
	size_t at = cursor + rounds * b, left = st->lag, k;

	if (loop != LOOP_UNMAP_MAP0 && loop != LOOP_REMOVE_INSERT)
		return;
	while (left) {
		k = left < b ? left : b;
		fill_idx(st, st->order, st->n, at, k);
		pair_in(loop)(st, impl, k);
		at += k;
		left -= k;
	}
}

size_t bench_loop_advance(const struct bench_state *st, enum bench_loop loop,
			  size_t rounds)
{
	switch (loop) {
	case LOOP_FIND:
		return 0;
	case LOOP_UNMAP_MAP0:
	case LOOP_REMOVE_INSERT:
		return st->lag + rounds * st->batch;
	default:
		return rounds * st->batch;
	}
}

/*
 * Half the queries hit: a random page of a random mapping. The other half
 * are random pages of the whole VA space, nearly all misses.
 */
void bench_make_queries(struct bench_state *st, uint64_t seed)
{
	uint64_t rng = seed;
	size_t j;

	for (j = 0; j < st->nr_queries; j++) {
		uint64_t r = bench_rng_next(&rng);

		if (r & 1) {
			const struct bench_slot *s =
				&st->lay[bench_rng_next(&rng) % st->n];

			st->queries[j] = s->addr + (bench_rng_next(&rng) %
						    (s->range / BENCH_PAGE)) *
							   BENCH_PAGE;
		} else {
			st->queries[j] = (bench_rng_next(&rng) %
					  (BENCH_VA_SIZE / BENCH_PAGE)) *
					 BENCH_PAGE;
		}
	}
}
