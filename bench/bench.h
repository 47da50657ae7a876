/* SPDX-License-Identifier: MIT */
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
#ifndef GPUVM_BENCH_H
#define GPUVM_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <Judy.h>
#include <glib.h>

#include <gpuvm/gpuvm.h>

/*
 * The benchmark compares one VM (struct gpuvm) against three ordered maps
 * holding the same keys: the library's own B+tree used bare (struct
 * gpuvm_va_tree), JudyL and GLib's GTree. Every experiment runs the same
 * targets in the same order on each of the four, so that the ratios compare
 * like with like.
 */

#define BENCH_PAGE_SHIFT 12
#define BENCH_PAGE	 (UINT64_C(1) << BENCH_PAGE_SHIFT)
#define BENCH_VA_BITS	 47
#define BENCH_VA_SIZE	 (UINT64_C(1) << BENCH_VA_BITS)
/* Where the sequential layout starts: well inside the VA space. */
#define BENCH_SEQ_BASE (UINT64_C(1) << 32)
/*
 * Mapping sizes are 2..16 pages: at least two so that a request can cut
 * every mapping strictly inside (the split case), at most 64 KiB, the tile
 * size of sparse Vulkan resources.
 */
#define BENCH_MIN_PAGES 2
#define BENCH_MAX_PAGES 16
#define BENCH_NR_OBJS	4

#if defined(__GNUC__)
#define BENCH_INLINE   static inline __attribute__((always_inline))
#define BENCH_NOINLINE __attribute__((noinline))
#else
#define BENCH_INLINE static inline
#define BENCH_NOINLINE
#endif

enum bench_impl {
	IMPL_GPUVM,
	IMPL_VATREE,
	IMPL_JUDY,
	IMPL_GTREE,
	NR_IMPLS,
};

enum bench_pattern {
	PAT_RANDOM,
	PAT_SEQ,
	NR_PATTERNS,
};

enum bench_op {
	OP_MAP0,
	OP_MAP1,
	OP_MAP2,
	OP_SPLIT2,
	OP_UNMAP,
	OP_FIND,
	OP_LOOKUP,
	OP_INSERT,
	OP_REMOVE,
	NR_OPS,
};

/*
 * An experiment times one or two ops; the paired ones undo each other so that
 * the tree keeps its size without untimed work in between.
 */
enum bench_loop {
	LOOP_UNMAP_MAP0,
	LOOP_MAP1,
	LOOP_MAP2,
	LOOP_SPLIT2,
	LOOP_FIND,
	LOOP_LOOKUP,
	LOOP_REMOVE_INSERT,
	NR_LOOPS,
};

/*
 * One mapping of the layout. rank is its position in the insertion order,
 * which is also where its mapping struct (and each peer's record) sits in
 * memory, as a driver's allocations would.
 */
struct bench_slot {
	uint64_t addr;
	uint32_t range;
	uint32_t rank;
};

/*
 * What a peer's value points at: the user's mapping record, the size of the
 * VM's mapping struct, so that peers reading a mapping's range pay the same
 * cache footprint as the VM does.
 */
struct bench_rec {
	uint64_t addr;
	uint64_t range;
	unsigned char pad[sizeof(struct gpuva) - 2 * sizeof(uint64_t)];
};

/* The user's mapping struct: what a driver would embed struct gpuva in. */
struct bench_va {
	struct gpuva va;
	struct bench_va *next_free;
};

/*
 * A preallocated freelist of mapping structs, so that the timed regions
 * measure the library and not malloc.
 */
struct bench_pool {
	struct bench_va *items;
	size_t cap;
	struct bench_va *free;
	size_t nr_free;
};

/**
 * struct bench_mem - memory figures of one state
 * @valid: filled in
 * @nr_va: mappings in the VM
 * @tree_nodes: VM tree nodes in use
 * @tree_spare: VM tree nodes in the spare pool
 * @tree_height: VM tree levels
 * @tree_bytes: bytes of all VM tree nodes, pool included
 * @per_mapping: (sizeof(struct gpuva) * nr_va + tree_bytes) / nr_va
 * @alloc_per_mapping: the library allocator's live bytes owned by the VM,
 *                     divided by nr_va
 * @vatree_per_key: bare B+tree bytes per key
 * @judy_per_key: JudyLMemUsed() per key
 * @gtree_per_key: heap growth while building the GTree, per key (negative
 *                 when not measured)
 */
struct bench_mem {
	bool valid;
	size_t nr_va;
	size_t tree_nodes;
	size_t tree_spare;
	unsigned int tree_height;
	size_t tree_bytes;
	double per_mapping;
	double alloc_per_mapping;
	double vatree_per_key;
	double judy_per_key;
	double gtree_per_key;
};

/**
 * struct bench_state - one VM and its three peers holding the same keys
 * @n: the number of mappings (keys)
 * @pat: the layout and visiting pattern
 * @lay: the mappings, sorted by address
 * @order: the order in which single targets are visited (and inserted)
 * @pair_order: the order in which pairs (lay[2p], lay[2p + 1]) are visited
 * @nr_pairs: n / 2
 * @batch: requests per timed batch
 * @lag: for paired experiments, how many targets are kept removed between
 *       a target's removal and its re-insertion, so that the re-insertion
 *       does not find its tree path still in cache
 * @gen: changes per batch; picks the object of replacing requests
 * @vm: the VM
 * @pool: the mapping structs
 * @objs: the GEM objects that back the mappings
 * @ptrs: per slot of @lay, its current mapping struct (remove/insert only)
 * @vt: the bare B+tree peer
 * @judy: the JudyL peer
 * @gt: the GTree peer
 * @recs: per peer, the records its values point at, in insertion order
 * @scratch: value of peer entries standing for transient pieces
 * @idx: a batch's target indices
 * @queries: find_first addresses
 * @nr_queries: capacity of @queries
 * @alloc_base: library live bytes before the VM was created
 * @build_ns: ns per insertion while building, per implementation
 * @mem_build: memory right after building
 */
struct bench_state {
	size_t n;
	enum bench_pattern pat;
	struct bench_slot *lay;
	uint32_t *order;
	uint32_t *pair_order;
	size_t nr_pairs;
	size_t batch;
	size_t lag;
	unsigned int gen;
	struct gpuvm vm;
	struct bench_pool pool;
	struct gpuvm_gem objs[BENCH_NR_OBJS];
	struct bench_va **ptrs;
	struct gpuvm_va_tree vt;
	Pvoid_t judy;
	GTree *gt;
	struct bench_rec *recs[NR_IMPLS];
	struct bench_rec scratch;
	uint32_t *idx;
	uint64_t *queries;
	size_t nr_queries;
	uint64_t alloc_base;
	double build_ns[NR_IMPLS];
	struct bench_mem mem_build;
};

/**
 * struct bench_timing - what one experiment on one implementation measured
 * @ns: timed nanoseconds per op (clock overhead removed)
 * @ops: requests timed per op
 * @hits: lookups that found something (cross-checked between
 *        implementations)
 * @batch_ns: per op, where to append each timed batch's ns per request
 *            (NULL: not recorded)
 * @nr_batches: per op, entries appended to @batch_ns
 * @batch_cap: capacity of each @batch_ns array
 */
struct bench_timing {
	uint64_t ns[NR_OPS];
	uint64_t ops[NR_OPS];
	uint64_t hits;
	double *batch_ns[NR_OPS];
	size_t nr_batches[NR_OPS];
	size_t batch_cap;
};

extern uint64_t bench_clock_overhead;
extern volatile uint64_t bench_sink;

static inline uint64_t bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * UINT64_C(1000000000) +
	       (uint64_t)ts.tv_nsec;
}

static inline uint64_t bench_elapsed(uint64_t t0, uint64_t t1)
{
	uint64_t d = t1 - t0;

	return d > bench_clock_overhead ? d - bench_clock_overhead : 0;
}

static inline const struct bench_rec *bench_rec_of(const struct bench_state *st,
						   enum bench_impl impl,
						   const struct bench_slot *s)
{
	return &st->recs[impl][s->rank];
}

static inline struct bench_va *bench_va_of(struct gpuva *va)
{
	return gpuvm_container_of(va, struct bench_va, va);
}

static inline struct bench_va *bench_pool_get(struct bench_pool *pool)
{
	struct bench_va *m = pool->free;

	if (!m)
		return NULL;
	pool->free = m->next_free;
	pool->nr_free--;
	/* What a driver's kzalloc() would hand out. */
	memset(&m->va, 0, sizeof(m->va));
	gpuvm_list_init(&m->va.gem.entry);
	return m;
}

static inline void bench_pool_put(struct bench_pool *pool, struct bench_va *m)
{
	m->next_free = pool->free;
	pool->free = m;
	pool->nr_free++;
}

static inline int bench_sm_map(struct bench_state *st, uint64_t addr,
			       uint64_t range, unsigned int obj)
{
	struct gpuvm_map_req req = {
	    .map =
		{
		    .va = {.addr = addr, .range = range},
		    .gem = {.offset = 0, .obj = &st->objs[obj % BENCH_NR_OBJS]},
		},
	};

	return gpuvm_sm_map(&st->vm, st, &req);
}

static inline int bench_sm_unmap(struct bench_state *st, uint64_t addr,
				 uint64_t range)
{
	return gpuvm_sm_unmap(&st->vm, st, addr, range);
}

/* workload.c */
uint64_t bench_rng_next(uint64_t *state);
uint64_t bench_mix(uint64_t a, uint64_t b);
void bench_die(const char *fmt, ...)
	__attribute__((noreturn, format(printf, 1, 2)));
void *bench_calloc(size_t n, size_t size);
void bench_state_init(struct bench_state *st, size_t n, enum bench_pattern pat,
		      uint64_t seed, size_t batch, size_t lag,
		      size_t max_queries);
void bench_state_fini(struct bench_state *st);
void bench_state_check(struct bench_state *st, bool deep, const char *what);
void bench_state_mem(struct bench_state *st, struct bench_mem *mem);
void bench_collect_ptrs(struct bench_state *st);

/*
 * ops.c: an experiment is begin, rounds 0..n-1 (one timed batch each, or a
 * pair of batches), end. Rounds of different implementations may be
 * interleaved: each implementation's state is its own.
 */
void bench_loop_begin(struct bench_state *st, enum bench_loop loop,
		      enum bench_impl impl, size_t cursor);
void bench_loop_round(struct bench_state *st, enum bench_loop loop,
		      enum bench_impl impl, size_t cursor, size_t r,
		      struct bench_timing *t);
void bench_loop_end(struct bench_state *st, enum bench_loop loop,
		    enum bench_impl impl, size_t cursor, size_t rounds);
size_t bench_loop_advance(const struct bench_state *st, enum bench_loop loop,
			  size_t rounds);
void bench_make_queries(struct bench_state *st, uint64_t seed);

#endif /* GPUVM_BENCH_H */
