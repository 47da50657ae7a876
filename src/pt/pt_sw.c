// SPDX-License-Identifier: MIT
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <gpuvm/pt.h>

#include "base/alloc_internal.h"
#include "base/context_internal.h"

/*
 * The software page table.
 *
 * Levels are numbered from the leaves: a level-0 table holds 4 KiB entries
 * and spans 2 MiB, a level-1 table holds 2 MiB entries or pointers to
 * level-0 tables and spans 1 GiB, and so on up to the root. An entry of
 * level l covers 2^(12 + 9 l) bytes.
 *
 * Entry encoding, 64 bits:
 *
 * | bits   | leaf entry                  | directory entry               |
 * | ------ | --------------------------- | ----------------------------- |
 * | 0      | valid                       | valid                         |
 * | 1      | leaf (set)                  | leaf (clear)                  |
 * | 2      | contiguous: member of a     | -                             |
 * |        | 64 KiB entry (level 0 only) |                               |
 * | 3..6   | GPUVM_PT_* mapping flags    | -                             |
 * | 12..51 | physical address            | -                             |
 * | 2..63  |                             | the table's address (tables   |
 * |        |                             | come from the allocator, so   |
 * |        |                             | they are at least 4-aligned)  |
 *
 * A real GPU would store the table's physical address; storing the pointer
 * keeps the walk a plain load without a side map from addresses to tables.
 * Tables are exactly 4 KiB: nothing but the 512 entries. Whether a table is
 * empty is found by scanning it, which an unmap does only for the few
 * tables it touches in part.
 *
 * Spare tables are kept zeroed (but for the link in their first entry), so a
 * map or a split takes one without clearing it, and everything that removes
 * a table from the tree clears its entries first, through the same setters
 * that keep the live-entry counters exact.
 *
 * Every map and unmap first counts the tables it will take (a dry run over
 * the same decisions), checks that against its reservation, and only then
 * changes anything; the count and the real run are compared in checked
 * builds.
 */

#define ENT_VALID	(UINT64_C(1) << 0)
#define ENT_LEAF	(UINT64_C(1) << 1)
#define ENT_C64		(UINT64_C(1) << 2)
#define ENT_FLAGS_SHIFT 3
#define ENT_FLAGS_MASK	((uint64_t)GPUVM_PT_MAP_FLAGS << ENT_FLAGS_SHIFT)
#define ENT_PA_MASK	(((UINT64_C(1) << GPUVM_PT_PA_BITS) - 1) & ~UINT64_C(0xfff))
#define ENT_PTR_MASK	(~UINT64_C(3))

#define NR_ENTRIES    GPUVM_PT_TABLE_ENTRIES
#define PAGES_PER_64K 16
#define PAGES_PER_2M  512
#define SZ_4K	      GPUVM_PT_SIZE_4K
#define SZ_64K	      GPUVM_PT_SIZE_64K
#define SZ_2M	      GPUVM_PT_SIZE_2M

/* At most three split tables at once under the unmap-only rules. */
#define UNMAP_RESV_MAX 3

struct sw_table {
	uint64_t e[NR_ENTRIES];
};

_Static_assert(sizeof(struct sw_table) == GPUVM_PT_TABLE_SIZE,
	       "a table is one 4 KiB page");
_Static_assert(_Alignof(max_align_t) >= 4,
	       "directory entries use the low two bits of a table's address");

struct sw_pt {
	struct gpuvm_pt base;
	struct sw_table *root;
	unsigned int root_level;
	size_t max_tables;
	/* The pool: zeroed tables linked through their first entry. */
	struct sw_table *spare;
	size_t nr_spare;
	size_t nr_in_use;
	/* The floor: what outstanding reservations have not used. */
	size_t reserved;
	/* Reservations made on this page table and not released. */
	size_t nr_resv;
	/* Counters; live_64k is derived from c64_ptes. */
	struct gpuvm_pt_stats st;
	uint64_t c64_ptes;
};

static struct sw_pt *to_sw(struct gpuvm_pt *pt)
{
	return gpuvm_container_of(pt, struct sw_pt, base);
}

static const struct sw_pt *to_sw_const(const struct gpuvm_pt *pt)
{
	return gpuvm_container_of(pt, const struct sw_pt, base);
}

/* Geometry. */

static unsigned int level_shift(unsigned int level)
{
	return GPUVM_PT_PAGE_SHIFT + 9 * level;
}

static uint64_t level_size(unsigned int level)
{
	return UINT64_C(1) << level_shift(level);
}

static unsigned int level_index(uint64_t va, unsigned int level)
{
	return (unsigned int)(va >> level_shift(level)) & (NR_ENTRIES - 1);
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* Entries. */

static bool ent_is_table(uint64_t e)
{
	return (e & (ENT_VALID | ENT_LEAF)) == ENT_VALID;
}

static bool ent_is_leaf(uint64_t e)
{
	return (e & (ENT_VALID | ENT_LEAF)) == (ENT_VALID | ENT_LEAF);
}

static struct sw_table *ent_table(uint64_t e)
{
	return (struct sw_table *)(uintptr_t)(e & ENT_PTR_MASK);
}

static uint64_t table_ent(const struct sw_table *t)
{
	return (uint64_t)(uintptr_t)t | ENT_VALID;
}

static uint64_t ent_pa(uint64_t e)
{
	return e & ENT_PA_MASK;
}

static unsigned int ent_flags(uint64_t e)
{
	return (unsigned int)((e & ENT_FLAGS_MASK) >> ENT_FLAGS_SHIFT);
}

static uint64_t make_leaf(uint64_t pa, unsigned int flags)
{
	return (pa & ENT_PA_MASK) | ((uint64_t)flags << ENT_FLAGS_SHIFT) |
	       ENT_LEAF | ENT_VALID;
}

static bool table_empty(const struct sw_table *t)
{
	for (unsigned int i = 0; i < NR_ENTRIES; i++)
		if (t->e[i])
			return false;
	return true;
}

/* Setters that keep the counters exact. */

static void pte_account(struct sw_pt *p, uint64_t e, int64_t sign)
{
	if (!(e & ENT_VALID))
		return;
	if (e & ENT_C64)
		p->c64_ptes += (uint64_t)sign;
	else
		p->st.live_4k += (uint64_t)sign;
}

static void pte_set(struct sw_pt *p, uint64_t *slot, uint64_t v)
{
	uint64_t old = *slot;

	pte_account(p, old, -1);
	pte_account(p, v, 1);
	*slot = v;
	if (v)
		p->st.entries_written++;
	else if (old)
		p->st.entries_cleared++;
}

/* A level >= 1 entry: a pointer to a table, a 2 MiB leaf, or nothing. */
static void dir_set(struct sw_pt *p, uint64_t *slot, uint64_t v)
{
	uint64_t old = *slot;

	if (ent_is_leaf(old)) {
		p->st.live_2m--;
		if (!ent_is_leaf(v))
			p->st.entries_cleared++;
	}
	if (ent_is_table(old))
		p->st.dir_writes++;
	if (ent_is_leaf(v)) {
		p->st.live_2m++;
		p->st.entries_written++;
	}
	if (ent_is_table(v))
		p->st.dir_writes++;
	*slot = v;
}

/* The pool. */

static void spare_push(struct sw_pt *p, struct sw_table *t)
{
	t->e[0] = (uint64_t)(uintptr_t)p->spare;
	p->spare = t;
	p->nr_spare++;
}

static struct sw_table *spare_pop(struct sw_pt *p)
{
	struct sw_table *t = p->spare;

	p->spare = (struct sw_table *)(uintptr_t)t->e[0];
	t->e[0] = 0;
	p->nr_spare--;
	return t;
}

/* A zeroed table for the tree; the caller counted it in its need. */
static struct sw_table *table_take(struct sw_pt *p)
{
	p->nr_in_use++;
	return spare_pop(p);
}

/* A table leaving the tree, already cleared. */
static void table_put(struct sw_pt *p, struct sw_table *t)
{
	p->nr_in_use--;
	spare_push(p, t);
}

static void table_free(struct sw_pt *p, struct sw_table *t)
{
	gpuvm_free(t, sizeof(*t));
	p->st.tables_freed++;
}

/* Whether the budget allows the page table @extra more tables. */
static bool budget_allows(const struct sw_pt *p, size_t extra)
{
	size_t held = p->nr_in_use + p->nr_spare;

	return !p->max_tables ||
	       (held <= p->max_tables && extra <= p->max_tables - held);
}

/*
 * Grow the pool to @want tables, within the budget. On failure free exactly
 * the tables this call added (they are at the head of the list), so that
 * the pool and every counter are as they were.
 */
static int pool_fill(struct sw_pt *p, size_t want)
{
	size_t added = 0;

	if (want <= p->nr_spare)
		return 0;
	if (!budget_allows(p, want - p->nr_spare))
		return -ENOMEM;
	while (p->nr_spare < want) {
		struct sw_table *t = gpuvm_zalloc(sizeof(*t));

		if (gpuvm_unlikely(!t)) {
			while (added--)
				gpuvm_free(spare_pop(p), sizeof(*t));
			return -ENOMEM;
		}
		spare_push(p, t);
		added++;
	}
	/* Counted only now, so that a failure leaves the counters alone. */
	p->st.tables_allocated += added;
	return 0;
}

static void pool_shrink(struct sw_pt *p, size_t keep)
{
	while (p->nr_spare > keep)
		table_free(p, spare_pop(p));
}

/*
 * Stashes. A stash is a list of tables in the pool's format: zeroed but
 * for the link in their first entry, so that a table moves between a stash
 * and the pool by relinking alone. Nothing here touches the page table: a
 * stash is filled and freed without the caller's lock.
 */

static void stash_push(struct gpuvm_pt_stash *stash, struct sw_table *t)
{
	t->e[0] = (uint64_t)(uintptr_t)stash->head;
	stash->head = t;
	stash->count++;
}

static struct sw_table *stash_pop(struct gpuvm_pt_stash *stash)
{
	struct sw_table *t = stash->head;

	stash->head = (struct sw_table *)(uintptr_t)t->e[0];
	t->e[0] = 0;
	stash->count--;
	return t;
}

static int sw_stash_fill(const struct gpuvm_pt *pt,
			 struct gpuvm_pt_stash *stash, size_t tables)
{
	size_t count = stash->count;

	(void)pt;
	while (stash->count < tables) {
		struct sw_table *t = gpuvm_zalloc(sizeof(*t));

		if (gpuvm_unlikely(!t)) {
			/* The tables this call added are at the head. */
			while (stash->count > count)
				gpuvm_free(stash_pop(stash), sizeof(*t));
			return -ENOMEM;
		}
		stash_push(stash, t);
	}
	return 0;
}

static void sw_stash_free(const struct gpuvm_pt *pt,
			  struct gpuvm_pt_stash *stash)
{
	(void)pt;
	while (stash->count)
		gpuvm_free(stash_pop(stash), sizeof(struct sw_table));
	stash->head = NULL;
}

/* Reservation cost: a function of the range alone. */

static size_t spans(uint64_t addr, uint64_t range, unsigned int shift)
{
	return (size_t)(((addr + range - 1) >> shift) - (addr >> shift) + 1);
}

static size_t add_sat(size_t a, uint64_t b)
{
	return b > SIZE_MAX - a ? SIZE_MAX : a + (size_t)b;
}

/*
 * Kind 0 for several ranges: at each level, the tables on the ranges'
 * paths, merged over every run of ranges in ascending order so that a
 * table several ranges share counts once. A reservation never holds more
 * tables than there are positions on its ranges' paths (a table it
 * frees is given back before its position can need another), so this
 * covers any sequence of its maps and unmaps.
 */
static size_t sw_reserve_cost_ranges(const struct gpuvm_pt *pt,
				     const struct gpuvm_pt_range *r, size_t n)
{
	const struct sw_pt *p = to_sw_const(pt);
	size_t total = 0;

	/* A level-l table spans what one entry of level l + 1 maps. */
	for (unsigned int l = 0; l < p->root_level; l++) {
		unsigned int sh = level_shift(l + 1);
		uint64_t lo = 0, hi = 0;

		for (size_t i = 0; i < n; i++) {
			uint64_t a = r[i].addr >> sh;
			uint64_t b = (r[i].addr + r[i].range - 1) >> sh;

			if (i && a >= lo && a <= hi + 1) {
				hi = b > hi ? b : hi;
				continue;
			}
			if (i)
				total = add_sat(total, hi - lo + 1);
			lo = a;
			hi = b;
		}
		total = add_sat(total, hi - lo + 1);
	}
	return total;
}

static size_t sw_reserve_cost(const struct gpuvm_pt *pt, uint64_t addr,
			      uint64_t range, unsigned int kind)
{
	const struct gpuvm_pt_range one = { addr, range };

	if (kind & GPUVM_PT_RESV_UNMAP) {
		size_t n = spans(addr, range, level_shift(1));

		return n < UNMAP_RESV_MAX ? n : UNMAP_RESV_MAX;
	}
	return sw_reserve_cost_ranges(pt, &one, 1);
}

static bool resv_fits(const struct sw_pt *p, const struct gpuvm_pt_resv *resv,
		      size_t cost)
{
	return cost <= SIZE_MAX - p->reserved &&
	       cost <= SIZE_MAX - resv->tables;
}

/* Records a promise the pool already holds the tables for. */
static void resv_add(struct sw_pt *p, struct gpuvm_pt_resv *resv, size_t cost)
{
	if (!resv->pt) {
		resv->pt = &p->base;
		p->nr_resv++;
	}
	resv->tables += cost;
	p->reserved += cost;
}

static int sw_reserve(struct gpuvm_pt *pt, uint64_t addr, uint64_t range,
		      unsigned int kind, struct gpuvm_pt_resv *resv)
{
	struct sw_pt *p = to_sw(pt);
	size_t cost = sw_reserve_cost(pt, addr, range, kind);
	int ret;

	if (!resv_fits(p, resv, cost))
		return -ENOMEM;
	ret = pool_fill(p, p->reserved + cost);
	if (ret)
		return ret;
	resv_add(p, resv, cost);
	return 0;
}

/*
 * The pool holds at least the floor, so what it lacks is at most @cost:
 * a stash of reserve_cost() tables always suffices.
 */
static int reserve_tables_stash(struct sw_pt *p, size_t cost,
				struct gpuvm_pt_resv *resv,
				struct gpuvm_pt_stash *stash)
{
	size_t want, need;

	if (!resv_fits(p, resv, cost))
		return -ENOMEM;
	want = p->reserved + cost;
	need = want > p->nr_spare ? want - p->nr_spare : 0;
	if (!budget_allows(p, need))
		return -ENOMEM;
	if (need > stash->count)
		return -ENOSPC;
	for (size_t i = 0; i < need; i++)
		spare_push(p, stash_pop(stash));
	p->st.tables_allocated += need;
	p->st.tables_from_stash += need;
	resv_add(p, resv, cost);
	return 0;
}

static int sw_reserve_stash(struct gpuvm_pt *pt, uint64_t addr, uint64_t range,
			    unsigned int kind, struct gpuvm_pt_resv *resv,
			    struct gpuvm_pt_stash *stash)
{
	return reserve_tables_stash(
		to_sw(pt), sw_reserve_cost(pt, addr, range, kind), resv, stash);
}

static int sw_reserve_ranges_stash(struct gpuvm_pt *pt,
				   const struct gpuvm_pt_range *ranges,
				   size_t n, struct gpuvm_pt_resv *resv,
				   struct gpuvm_pt_stash *stash)
{
	return reserve_tables_stash(
		to_sw(pt), sw_reserve_cost_ranges(pt, ranges, n), resv, stash);
}

/* Lowers the floor by what @resv has left and forgets it. */
static void resv_drop(struct sw_pt *p, const struct gpuvm_pt_resv *resv)
{
	p->reserved -= resv->tables - resv->used;
	p->nr_resv--;
}

static void sw_release(struct gpuvm_pt *pt, struct gpuvm_pt_resv *resv)
{
	struct sw_pt *p = to_sw(pt);

	resv_drop(p, resv);
	pool_shrink(p, p->reserved);
}

static void sw_trim_stash(struct gpuvm_pt *pt, size_t keep,
			  struct gpuvm_pt_stash *stash)
{
	struct sw_pt *p = to_sw(pt);
	size_t floor = p->reserved + keep < p->reserved ? SIZE_MAX
							: p->reserved + keep;
	size_t moved = 0;

	while (p->nr_spare > floor) {
		stash_push(stash, spare_pop(p));
		moved++;
	}
	p->st.tables_freed += moved;
	p->st.tables_to_stash += moved;
}

static void sw_release_stash(struct gpuvm_pt *pt, struct gpuvm_pt_resv *resv,
			     struct gpuvm_pt_stash *stash)
{
	resv_drop(to_sw(pt), resv);
	if (stash)
		sw_trim_stash(pt, 0, stash);
}

static void sw_trim(struct gpuvm_pt *pt)
{
	struct sw_pt *p = to_sw(pt);

	pool_shrink(p, p->reserved);
}

/*
 * The state of one map or unmap. @delta turns a VA into its physical
 * address (pa = va + delta, modulo 2^64); a NULL mapping has pa 0
 * everywhere.
 */
struct sw_op {
	struct sw_pt *p;
	uint64_t delta;
	unsigned int flags;
	size_t taken;
	size_t freed;
};

static bool op_null(const struct sw_op *o)
{
	return o->flags & GPUVM_PT_NULL;
}

static uint64_t op_pa(const struct sw_op *o, uint64_t va)
{
	return op_null(o) ? 0 : va + o->delta;
}

/* Whether an entry of @size at @va (aligned to @size) may map the request. */
static bool op_aligned(const struct sw_op *o, uint64_t va, uint64_t size)
{
	return op_null(o) || !(op_pa(o, va) & (size - 1));
}

static uint64_t op_leaf(const struct sw_op *o, uint64_t va)
{
	return make_leaf(op_pa(o, va), o->flags);
}

/*
 * Reservations are charged with what an operation holds now: tables taken,
 * less tables given back, never below zero. The floor follows.
 */
static bool resv_covers(struct sw_pt *p, const struct gpuvm_pt_resv *resv,
			size_t need, const char *what)
{
	size_t left = resv->tables - resv->used;

	if (gpuvm_likely(need <= left && need <= p->nr_spare))
		return true;
	p->st.resv_refused++;
	gpuvm_warn("page table: %s needs %zu table(s), its reservation has "
		   "%zu left",
		   what, need, left);
	return false;
}

/*
 * Secures the tables an operation will take: from its reservation, or, for
 * the one-shot form (@resv NULL), from the allocator on top of the floor.
 */
static int op_begin(struct sw_pt *p, const struct gpuvm_pt_resv *resv,
		    size_t need, const char *what)
{
	if (!resv)
		return need > SIZE_MAX - p->reserved
			       ? -ENOMEM
			       : pool_fill(p, p->reserved + need);
	return resv_covers(p, resv, need, what) ? 0 : -ENOSPC;
}

static void resv_settle(struct sw_pt *p, struct gpuvm_pt_resv *resv,
			const struct sw_op *o)
{
	size_t used = resv->used + o->taken;

	used = o->freed >= used ? 0 : used - o->freed;
	p->reserved = p->reserved + resv->used - used;
	resv->used = used;
}

/* Clears every entry of a level-0 table (it is leaving the tree). */
static uint64_t l0_clear_all(struct sw_pt *p, struct sw_table *t)
{
	uint64_t pages = 0;

	for (unsigned int i = 0; i < NR_ENTRIES; i++) {
		if (t->e[i]) {
			pte_set(p, &t->e[i], 0);
			pages++;
		}
	}
	return pages;
}

/* Fills a fresh level-0 table with the memory of a 2 MiB leaf. */
static void split_2m(struct sw_pt *p, struct sw_table *t, uint64_t leaf)
{
	uint64_t pa = ent_pa(leaf);
	unsigned int flags = ent_flags(leaf);

	if (flags & GPUVM_PT_NULL)
		pa = 0;
	for (unsigned int i = 0; i < NR_ENTRIES; i++) {
		uint64_t off =
			(flags & GPUVM_PT_NULL) ? 0 : (uint64_t)i * SZ_4K;

		pte_set(p, &t->e[i], make_leaf(pa + off, flags) | ENT_C64);
	}
	p->st.splits_2m++;
}

/*
 * Turns the 64 KiB entry at group index @g into 4 KiB entries, except for
 * the pages [@lo, @hi) that the caller is about to rewrite itself.
 */
static void break_64k(struct sw_pt *p, struct sw_table *t, unsigned int g,
		      unsigned int lo, unsigned int hi)
{
	unsigned int first = g * PAGES_PER_64K;

	if (!(t->e[first] & ENT_C64))
		return;
	for (unsigned int i = first; i < first + PAGES_PER_64K; i++)
		if (i < lo || i >= hi)
			pte_set(p, &t->e[i], t->e[i] & ~ENT_C64);
	p->st.splits_64k++;
}

/* Map. */

static void l0_write(struct sw_op *o, uint64_t *slot, uint64_t v)
{
	if (*slot == v) {
		o->p->st.pages_unchanged++;
		return;
	}
	if (*slot)
		o->p->st.pages_overwritten++;
	pte_set(o->p, slot, v);
}

/* Whether pages [lo, hi) of @t already translate as the request says. */
static bool l0_same(const struct sw_op *o, const struct sw_table *t,
		    uint64_t base, unsigned int lo, unsigned int hi)
{
	for (unsigned int i = lo; i < hi; i++) {
		uint64_t va = base + (uint64_t)i * SZ_4K;

		if ((t->e[i] & ~ENT_C64) != op_leaf(o, va))
			return false;
	}
	return true;
}

/* Maps [va, end) inside the level-0 table @t, which spans from @base. */
static void map_l0(struct sw_op *o, struct sw_table *t, uint64_t base,
		   uint64_t va, uint64_t end)
{
	struct sw_pt *p = o->p;

	while (va < end) {
		uint64_t gva = va & ~(SZ_64K - 1);
		uint64_t gend = min_u64(end, gva + SZ_64K);
		unsigned int g = (unsigned int)((gva - base) / SZ_64K);
		unsigned int lo = (unsigned int)((va - base) / SZ_4K);
		unsigned int hi = (unsigned int)((gend - base) / SZ_4K);
		bool whole = va == gva && gend == gva + SZ_64K;

		if (whole && op_aligned(o, gva, SZ_64K)) {
			for (unsigned int i = lo; i < hi; i++)
				l0_write(
					o, &t->e[i],
					op_leaf(o, base + (uint64_t)i * SZ_4K) |
						ENT_C64);
		} else if ((t->e[lo] & ENT_C64) && !whole &&
			   l0_same(o, t, base, lo, hi)) {
			/*
			 * Part of a 64 KiB entry that already maps this
			 * memory: leave the entry whole.
			 */
			p->st.pages_unchanged += hi - lo;
		} else {
			if (!whole)
				break_64k(p, t, g, NR_ENTRIES, NR_ENTRIES);
			for (unsigned int i = lo; i < hi; i++)
				l0_write(
					o, &t->e[i],
					op_leaf(o, base + (uint64_t)i * SZ_4K));
		}
		va = gend;
	}
}

/*
 * Whether a map of [va, cend) in the level-1 slot holding @old, spanning
 * from @sbase, leaves the slot a 2 MiB leaf: the request covers the block
 * and is aligned, or the block already is a leaf that maps this memory.
 */
static bool map_2m_leaf(const struct sw_op *o, uint64_t old, uint64_t sbase,
			uint64_t va, uint64_t cend)
{
	if (va == sbase && cend == sbase + SZ_2M && op_aligned(o, sbase, SZ_2M))
		return true;
	return ent_is_leaf(old) && old == op_leaf(o, sbase);
}

static void map_level(struct sw_op *o, struct sw_table *t, unsigned int level,
		      uint64_t base, uint64_t va, uint64_t end)
{
	struct sw_pt *p = o->p;
	uint64_t es = level_size(level);

	if (level == 0) {
		map_l0(o, t, base, va, end);
		return;
	}
	while (va < end) {
		uint64_t sbase = va & ~(es - 1);
		uint64_t cend = min_u64(end, sbase + es);
		uint64_t *slot = &t->e[level_index(va, level)];
		uint64_t old = *slot;
		struct sw_table *c;

		if (level == 1 && map_2m_leaf(o, old, sbase, va, cend)) {
			uint64_t v = op_leaf(o, sbase);

			if (old == v) {
				p->st.pages_unchanged += (cend - va) / SZ_4K;
			} else if (ent_is_table(old)) {
				c = ent_table(old);
				p->st.pages_overwritten += l0_clear_all(p, c);
				dir_set(p, slot, v);
				table_put(p, c);
				o->freed++;
			} else {
				if (old)
					p->st.pages_overwritten += PAGES_PER_2M;
				dir_set(p, slot, v);
			}
		} else {
			if (ent_is_table(old)) {
				c = ent_table(old);
			} else {
				c = table_take(p);
				o->taken++;
				if (ent_is_leaf(old)) {
					if (va == sbase && cend == sbase + es)
						p->st.pages_overwritten +=
							PAGES_PER_2M;
					else
						split_2m(p, c, old);
				}
				dir_set(p, slot, table_ent(c));
			}
			map_level(o, c, level - 1, sbase, va, cend);
		}
		va = cend;
	}
}

/* The dry run of map_level(): tables it will take. @t may be NULL. */
static size_t map_need(const struct sw_op *o, const struct sw_table *t,
		       unsigned int level, uint64_t va, uint64_t end)
{
	uint64_t es = level_size(level);
	size_t need = 0;

	if (level == 0)
		return 0;
	while (va < end) {
		uint64_t sbase = va & ~(es - 1);
		uint64_t cend = min_u64(end, sbase + es);
		uint64_t old = t ? t->e[level_index(va, level)] : 0;

		if (level == 1 && map_2m_leaf(o, old, sbase, va, cend))
			;
		else if (ent_is_table(old))
			need += map_need(o, ent_table(old), level - 1, va,
					 cend);
		else
			need += 1 + map_need(o, NULL, level - 1, va, cend);
		va = cend;
	}
	return need;
}

static int sw_map(struct gpuvm_pt *pt, uint64_t addr, uint64_t range,
		  uint64_t pa, unsigned int flags, struct gpuvm_pt_resv *resv)
{
	struct sw_pt *p = to_sw(pt);
	struct sw_op o = {
		.p = p,
		.delta = pa - addr,
		.flags = flags,
	};
	size_t need = map_need(&o, p->root, p->root_level, addr, addr + range);
	int ret = op_begin(p, resv, need, "map");

	if (ret)
		return ret;
	map_level(&o, p->root, p->root_level, 0, addr, addr + range);
#ifdef GPUVM_CHECKS
	if (o.taken != need)
		gpuvm_bug("page table: map took %zu table(s), counted %zu",
			  o.taken, need);
#endif
	if (resv)
		resv_settle(p, resv, &o);
	return 0;
}

/* Unmap. */

static void unmap_l0(struct sw_op *o, struct sw_table *t, uint64_t base,
		     uint64_t va, uint64_t end)
{
	struct sw_pt *p = o->p;
	unsigned int lo = (unsigned int)((va - base) / SZ_4K);
	unsigned int hi = (unsigned int)((end - base) / SZ_4K);

	/* 64 KiB entries sticking out of the range keep their outside part. */
	if (lo % PAGES_PER_64K)
		break_64k(p, t, lo / PAGES_PER_64K, lo, hi);
	if (hi % PAGES_PER_64K &&
	    (lo / PAGES_PER_64K != hi / PAGES_PER_64K || !(lo % PAGES_PER_64K)))
		break_64k(p, t, hi / PAGES_PER_64K, lo, hi);
	for (unsigned int i = lo; i < hi; i++)
		if (t->e[i])
			pte_set(p, &t->e[i], 0);
}

static void unmap_level(struct sw_op *o, struct sw_table *t, unsigned int level,
			uint64_t base, uint64_t va, uint64_t end)
{
	struct sw_pt *p = o->p;
	uint64_t es = level_size(level);

	if (level == 0) {
		unmap_l0(o, t, base, va, end);
		return;
	}
	while (va < end) {
		uint64_t sbase = va & ~(es - 1);
		uint64_t cend = min_u64(end, sbase + es);
		uint64_t *slot = &t->e[level_index(va, level)];
		uint64_t old = *slot;
		bool whole = va == sbase && cend == sbase + es;
		struct sw_table *c;

		if (ent_is_leaf(old) && whole) {
			dir_set(p, slot, 0);
		} else if (ent_is_leaf(old)) {
			c = table_take(p);
			o->taken++;
			split_2m(p, c, old);
			dir_set(p, slot, table_ent(c));
			unmap_l0(o, c, sbase, va, cend);
		} else if (ent_is_table(old)) {
			c = ent_table(old);
			unmap_level(o, c, level - 1, sbase, va, cend);
			if (whole || table_empty(c)) {
				dir_set(p, slot, 0);
				table_put(p, c);
				o->freed++;
			}
		}
		va = cend;
	}
}

/* The level-1 entry mapping @va, or 0 if the path to it is absent. */
static uint64_t l1_entry(const struct sw_pt *p, uint64_t va)
{
	const struct sw_table *t = p->root;

	for (unsigned int l = p->root_level; l > 1; l--) {
		uint64_t e = t->e[level_index(va, l)];

		if (!ent_is_table(e))
			return 0;
		t = ent_table(e);
	}
	return t->e[level_index(va, 1)];
}

/* Splits happen only in the blocks holding the range's two ends. */
static size_t unmap_need(const struct sw_pt *p, uint64_t addr, uint64_t end)
{
	uint64_t first = addr & ~(SZ_2M - 1);
	uint64_t last = (end - 1) & ~(SZ_2M - 1);
	size_t need = 0;

	if ((addr != first || end < first + SZ_2M) &&
	    ent_is_leaf(l1_entry(p, addr)))
		need++;
	if (last != first && end != last + SZ_2M &&
	    ent_is_leaf(l1_entry(p, last)))
		need++;
	return need;
}

/* Walk, keep and translate. */

struct sw_walk {
	gpuvm_pt_walk_fn fn;
	void *data;
};

static int walk_level(const struct sw_walk *w, const struct sw_table *t,
		      unsigned int level, uint64_t va, uint64_t end)
{
	uint64_t es = level_size(level);
	int ret;

	while (va < end) {
		uint64_t sbase = va & ~(es - 1);
		uint64_t cend = min_u64(end, sbase + es);
		uint64_t e = t->e[level_index(va, level)];

		if (ent_is_table(e)) {
			ret = walk_level(w, ent_table(e), level - 1, va, cend);
		} else if (ent_is_leaf(e) && (e & ENT_C64)) {
			uint64_t start = va & ~(SZ_64K - 1);
			uint64_t pa = ent_pa(e);

			/* The group's first page; NULL entries have no pa. */
			if (!(ent_flags(e) & GPUVM_PT_NULL))
				pa -= sbase - start;
			ret = w->fn(start, SZ_64K, pa, ent_flags(e), w->data);
			cend = start + SZ_64K;
		} else if (ent_is_leaf(e)) {
			ret = w->fn(sbase, es, ent_pa(e), ent_flags(e),
				    w->data);
		} else {
			ret = 0;
		}
		if (ret)
			return ret;
		va = cend;
	}
	return 0;
}

static int sw_walk(const struct gpuvm_pt *pt, uint64_t addr, uint64_t range,
		   gpuvm_pt_walk_fn fn, void *data)
{
	const struct sw_pt *p = to_sw_const(pt);
	const struct sw_walk w = { .fn = fn, .data = data };

	return walk_level(&w, p->root, p->root_level, addr, addr + range);
}

struct sw_keep {
	struct sw_pt *p;
	uint64_t addr;
	uint64_t end;
};

static int keep_count(uint64_t va, uint64_t size, uint64_t pa,
		      unsigned int flags, void *data)
{
	struct sw_keep *k = data;
	uint64_t lo = va > k->addr ? va : k->addr;
	uint64_t hi = min_u64(va + size, k->end);

	(void)pa;
	(void)flags;
	k->p->st.kept_entries++;
	k->p->st.kept_pages += (hi - lo) / SZ_4K;
	return 0;
}

static int sw_unmap(struct gpuvm_pt *pt, uint64_t addr, uint64_t range,
		    unsigned int flags, struct gpuvm_pt_resv *resv)
{
	struct sw_pt *p = to_sw(pt);
	struct sw_op o = { .p = p };
	size_t need;
	int ret;

	if (flags & GPUVM_PT_KEEP) {
		struct sw_keep k = { p, addr, addr + range };

		return sw_walk(pt, addr, range, keep_count, &k);
	}
	need = unmap_need(p, addr, addr + range);
	ret = op_begin(p, resv, need, "unmap");
	if (ret)
		return ret;
	unmap_level(&o, p->root, p->root_level, 0, addr, addr + range);
#ifdef GPUVM_CHECKS
	if (o.taken != need)
		gpuvm_bug("page table: unmap took %zu table(s), counted %zu",
			  o.taken, need);
#endif
	if (resv)
		resv_settle(p, resv, &o);
	return 0;
}

static int sw_translate(const struct gpuvm_pt *pt, uint64_t va, uint64_t *pa,
			uint64_t *page_size, unsigned int *flags)
{
	const struct sw_pt *p = to_sw_const(pt);
	const struct sw_table *t = p->root;

	for (unsigned int level = p->root_level;; level--) {
		uint64_t e = t->e[level_index(va, level)];
		uint64_t size = level_size(level);

		if (ent_is_table(e) && level) {
			t = ent_table(e);
			continue;
		}
		if (!ent_is_leaf(e))
			return -EFAULT;
		*flags = ent_flags(e);
		*pa = ent_pa(e) + (va & (size - 1));
		if (*flags & GPUVM_PT_NULL)
			*pa = 0;
		*page_size = (e & ENT_C64) ? SZ_64K : size;
		return 0;
	}
}

/*
 * Level by level across the batch, as gpuvm_va_tree_prefetch() does: the
 * entry each address will read at every level, all misses in flight
 * together.
 */
static void sw_prefetch(const struct gpuvm_pt *pt, const uint64_t *addrs,
			size_t n)
{
	enum { BATCH = 32 };
	const struct sw_pt *p = to_sw_const(pt);

	for (size_t base = 0; base < n; base += BATCH) {
		const struct sw_table *t[BATCH];
		size_t m = n - base < BATCH ? n - base : BATCH;

		for (size_t i = 0; i < m; i++)
			t[i] = p->root;
		for (unsigned int level = p->root_level; level > 0; level--) {
			for (size_t i = 0; i < m; i++) {
				uint64_t e;

				if (!t[i])
					continue;
				e = t[i]->e[level_index(addrs[base + i],
							level)];
				t[i] = ent_is_table(e) ? ent_table(e) : NULL;
				if (t[i])
					gpuvm_prefetch(&t[i]->e[level_index(
						addrs[base + i], level - 1)]);
			}
		}
	}
}

/* Statistics and checks. */

static void sw_get_stats(const struct gpuvm_pt *pt,
			 struct gpuvm_pt_stats *stats)
{
	const struct sw_pt *p = to_sw_const(pt);

	*stats = p->st;
	stats->live_64k = p->c64_ptes / PAGES_PER_64K;
	stats->tables_in_use = p->nr_in_use;
	stats->tables_spare = p->nr_spare;
	stats->tables_reserved = p->reserved;
	stats->table_bytes =
		(uint64_t)(p->nr_in_use + p->nr_spare) * GPUVM_PT_TABLE_SIZE;
}

struct sw_check {
	const struct sw_pt *p;
	char *msg;
	size_t len;
	uint64_t tables;
	uint64_t live_4k;
	uint64_t c64;
	uint64_t live_2m;
};

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static int
check_fail(struct sw_check *c, const char *fmt, ...)
{
	va_list ap;

	if (c->msg && c->len) {
		va_start(ap, fmt);
		vsnprintf(c->msg, c->len, fmt, ap);
		va_end(ap);
	}
	return -EUCLEAN;
}

static int check_group(struct sw_check *c, const struct sw_table *t,
		       unsigned int first, uint64_t va)
{
	uint64_t head = t->e[first];
	bool null = ent_flags(head) & GPUVM_PT_NULL;

	if (!null && (ent_pa(head) & (SZ_64K - 1)))
		return check_fail(c,
				  "64K entry at 0x%" PRIx64 " maps "
				  "unaligned pa 0x%" PRIx64,
				  va, ent_pa(head));
	for (unsigned int j = 1; j < PAGES_PER_64K; j++) {
		uint64_t want = head + (null ? 0 : (uint64_t)j * SZ_4K);

		if (t->e[first + j] != want)
			return check_fail(c,
					  "64K entry at 0x%" PRIx64
					  " broken at page %u",
					  va, j);
	}
	return 0;
}

static int check_table(struct sw_check *c, const struct sw_table *t,
		       unsigned int level, uint64_t base)
{
	const uint64_t known =
		ENT_VALID | ENT_LEAF | ENT_C64 | ENT_FLAGS_MASK | ENT_PA_MASK;
	const struct sw_pt *p = c->p;
	bool root = level == p->root_level;
	unsigned int limit = NR_ENTRIES;
	uint64_t es = level_size(level);
	bool empty = true;
	int ret;

	if (root && p->base.va_bits - level_shift(level) < 9)
		limit = 1u << (p->base.va_bits - level_shift(level));
	for (unsigned int i = 0; i < NR_ENTRIES; i++) {
		uint64_t e = t->e[i];
		uint64_t va = base + (uint64_t)i * es;

		if (!e)
			continue;
		empty = false;
		if (i >= limit)
			return check_fail(
				c, "root entry %u beyond the VA space", i);
		if (!(e & ENT_VALID))
			return check_fail(c,
					  "invalid entry with bits set at "
					  "0x%" PRIx64 " level %u",
					  va, level);
		if (ent_is_table(e)) {
			if (!level)
				return check_fail(c,
						  "table pointer in a "
						  "level-0 table at 0x%" PRIx64,
						  va);
			c->tables++;
			ret = check_table(c, ent_table(e), level - 1, va);
			if (ret)
				return ret;
			continue;
		}
		if (e & ~known)
			return check_fail(c,
					  "unknown bits in entry at "
					  "0x%" PRIx64,
					  va);
		if (level > 1)
			return check_fail(c, "leaf at level %u (0x%" PRIx64 ")",
					  level, va);
		if ((ent_flags(e) & GPUVM_PT_NULL) && ent_pa(e))
			return check_fail(c,
					  "NULL entry with a pa at "
					  "0x%" PRIx64,
					  va);
		if (level == 1) {
			if ((e & ENT_C64) || (ent_pa(e) & (SZ_2M - 1)))
				return check_fail(c,
						  "bad 2M entry at "
						  "0x%" PRIx64,
						  va);
			c->live_2m++;
		} else if (e & ENT_C64) {
			unsigned int first = i & ~(PAGES_PER_64K - 1u);

			if (!(t->e[first] & ENT_C64))
				return check_fail(c,
						  "64K member without its "
						  "head at 0x%" PRIx64,
						  va);
			if (i == first) {
				ret = check_group(c, t, i, va);
				if (ret)
					return ret;
			}
			c->c64++;
		} else {
			c->live_4k++;
		}
	}
	if (empty && !root)
		return check_fail(c, "empty level-%u table at 0x%" PRIx64,
				  level, base);
	return 0;
}

static int sw_check(const struct gpuvm_pt *pt, char *msg, size_t len)
{
	const struct sw_pt *p = to_sw_const(pt);
	struct sw_check c = { .p = p, .msg = msg, .len = len, .tables = 1 };
	const struct sw_table *s;
	size_t spares = 0;
	int ret;

	ret = check_table(&c, p->root, p->root_level, 0);
	if (ret)
		return ret;
	if (c.tables != p->nr_in_use)
		return check_fail(&c,
				  "%" PRIu64 " tables reachable, %zu "
				  "counted",
				  c.tables, p->nr_in_use);
	if (c.live_4k != p->st.live_4k || c.c64 != p->c64_ptes ||
	    c.live_2m != p->st.live_2m)
		return check_fail(&c,
				  "live entries 4K/64K-pages/2M %" PRIu64
				  "/%" PRIu64 "/%" PRIu64 ", counted %" PRIu64
				  "/%" PRIu64 "/%" PRIu64,
				  c.live_4k, c.c64, c.live_2m, p->st.live_4k,
				  p->c64_ptes, p->st.live_2m);
	for (s = p->spare; s; s = (const struct sw_table *)(uintptr_t)s->e[0]) {
		if (++spares > p->nr_spare)
			break;
		for (unsigned int i = 1; i < NR_ENTRIES; i++)
			if (s->e[i])
				return check_fail(&c, "spare table not zeroed");
	}
	if (spares != p->nr_spare)
		return check_fail(&c, "pool holds %s%zu tables, counted %zu",
				  spares > p->nr_spare ? "more than " : "",
				  spares > p->nr_spare ? p->nr_spare : spares,
				  p->nr_spare);
	if (p->nr_spare < p->reserved)
		return check_fail(&c, "pool of %zu below the floor of %zu",
				  p->nr_spare, p->reserved);
	if (!p->nr_resv && p->reserved)
		return check_fail(&c, "floor of %zu without reservations",
				  p->reserved);
	if (p->st.tables_allocated - p->st.tables_freed !=
	    p->nr_in_use + p->nr_spare)
		return check_fail(&c,
				  "tables allocated - freed %" PRIu64
				  " != in use + spare %zu",
				  p->st.tables_allocated - p->st.tables_freed,
				  p->nr_in_use + p->nr_spare);
	return 0;
}

/* Creation and teardown. */

static void free_tree(struct sw_pt *p, struct sw_table *t, unsigned int level)
{
	if (level) {
		for (unsigned int i = 0; i < NR_ENTRIES; i++)
			if (ent_is_table(t->e[i]))
				free_tree(p, ent_table(t->e[i]), level - 1);
	}
	table_free(p, t);
}

static void sw_destroy(struct gpuvm_pt *pt)
{
	struct sw_pt *p = to_sw(pt);

	if (gpuvm_unlikely(p->nr_resv))
		gpuvm_warn("page table: destroyed with %zu reservation(s) "
			   "outstanding",
			   p->nr_resv);
	free_tree(p, p->root, p->root_level);
	pool_shrink(p, 0);
	gpuvm_free(p, sizeof(*p));
}

static const struct gpuvm_pt_ops sw_ops = {
	.reserve_cost = sw_reserve_cost,
	.reserve = sw_reserve,
	.map = sw_map,
	.unmap = sw_unmap,
	.release = sw_release,
	.trim = sw_trim,
	.translate = sw_translate,
	.walk = sw_walk,
	.get_stats = sw_get_stats,
	.check = sw_check,
	.destroy = sw_destroy,
	.stash_fill = sw_stash_fill,
	.stash_free = sw_stash_free,
	.reserve_stash = sw_reserve_stash,
	.release_stash = sw_release_stash,
	.trim_stash = sw_trim_stash,
	.prefetch = sw_prefetch,
	.reserve_cost_ranges = sw_reserve_cost_ranges,
	.reserve_ranges_stash = sw_reserve_ranges_stash,
};

int gpuvm_pt_sw_create(unsigned int va_bits, size_t max_tables,
		       struct gpuvm_pt **out)
{
	struct sw_pt *p;

	gpuvm_context_check(GPUVM_RULE_ALLOC, "gpuvm_pt_sw_create()");
	if (!out || va_bits < GPUVM_PT_VA_BITS_MIN ||
	    va_bits > GPUVM_PT_VA_BITS_MAX)
		return -EINVAL;
	p = gpuvm_zalloc(sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->root = gpuvm_zalloc(sizeof(*p->root));
	if (!p->root) {
		gpuvm_free(p, sizeof(*p));
		return -ENOMEM;
	}
	gpuvm_pt_init(&p->base, &sw_ops, va_bits);
	/* Levels needed to resolve va_bits - 12 bits, 9 at a time. */
	p->root_level = (va_bits - GPUVM_PT_PAGE_SHIFT + 8) / 9 - 1;
	p->max_tables = max_tables;
	p->nr_in_use = 1;
	p->st.tables_allocated = 1;
	*out = &p->base;
	return 0;
}
