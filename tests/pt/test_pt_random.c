// SPDX-License-Identifier: MIT
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
/*
 * Model-based random test of the software page table.
 *
 * A flat model holds, for every 4 KiB page of a window, whether it is
 * mapped and to which physical address with which flags. Random bind jobs
 * are submitted (each reserves for its range), then run in order the way a
 * bind queue runs them, with every allocation made to fail, then released
 * in random order; one-shot maps and unmaps, keep-unmaps and trims come in
 * between. A fraction of the jobs reserve and release in two phases,
 * through a stash kept from one job to the next, with every allocation
 * made to fail: a stash of the reservation's cost always suffices, is
 * charged exactly what the pool lacked, is refused when short of that,
 * and receives exactly the spares above the floor.
 *
 * After every call every page of the range it touched translates as the
 * model says, and after every step every page of the window (and one page
 * on each side) does; the backend's own invariant check, the live-entry
 * counts against the model, the table balance and the floor against the
 * outstanding reservations are verified throughout.
 *
 * Windows straddle table boundaries at every level and the top of the VA
 * space, at 48 and 57 bits.
 *
 * Usage: test_pt_random [--seed N|random] [--iterations N]  (or GPUVM_SEED)
 */
#include "pttest.h"

#define WIN_SIZE  (8 * SZ_2M)
#define WIN_PAGES (WIN_SIZE / SZ_4K)
#define MAX_JOBS  3
#define MAX_CALLS 6

struct model {
	uint64_t base;
	bool mapped[WIN_PAGES];
	uint64_t pa[WIN_PAGES];
	unsigned int flags[WIN_PAGES];
};

struct job {
	uint64_t addr, range;
	unsigned int kind;
	bool two_phase;
	struct gpuvm_pt_resv resv;
};

struct ctx {
	struct gpuvm_pt *pt;
	struct model m;
	struct tu_rng *rng;
	struct job jobs[MAX_JOBS];
	unsigned int njobs;
	/* Tables between two-phase jobs, as a bind queue may keep them. */
	struct gpuvm_pt_stash stash;
	uint64_t calls, maps, unmaps, keeps, jobs_run, oneshots;
	uint64_t two_phase, short_refused, from_stash, to_stash;
	/*
	 * Unmap jobs by the most tables they needed at once: held before a
	 * call plus what the call took.
	 */
	uint64_t peak_hist[8];
	size_t peak;
};

static size_t page_of(const struct ctx *c, uint64_t va)
{
	return (size_t)((va - c->m.base) / SZ_4K);
}

static uint64_t model_mapped_pages(const struct ctx *c, uint64_t addr,
				   uint64_t range)
{
	uint64_t n = 0;

	for (uint64_t va = addr; va < addr + range; va += SZ_4K)
		n += c->m.mapped[page_of(c, va)];
	return n;
}

static void model_map(struct ctx *c, uint64_t addr, uint64_t range, uint64_t pa,
		      unsigned int flags)
{
	for (uint64_t va = addr; va < addr + range; va += SZ_4K) {
		size_t i = page_of(c, va);

		c->m.mapped[i] = true;
		c->m.pa[i] = (flags & GPUVM_PT_NULL) ? 0 : pa + (va - addr);
		c->m.flags[i] = flags;
	}
}

static void model_unmap(struct ctx *c, uint64_t addr, uint64_t range)
{
	for (uint64_t va = addr; va < addr + range; va += SZ_4K)
		c->m.mapped[page_of(c, va)] = false;
}

/* One page against the model, with its entry's shape. */
static void check_page(const struct ctx *c, uint64_t va)
{
	uint64_t pa, size, bpa, bsize;
	unsigned int flags, bflags;
	uint64_t top = UINT64_C(1) << c->pt->va_bits;
	int ret = gpuvm_pt_translate(c->pt, va, &pa, &size, &flags);
	size_t i;

	if (va < c->m.base || va >= c->m.base + WIN_SIZE) {
		if (va < top && ret != -EFAULT)
			fail_msg("0x%" PRIx64 " outside the window is mapped",
				 va);
		return;
	}
	i = page_of(c, va);
	if (!c->m.mapped[i]) {
		if (ret != -EFAULT)
			fail_msg("0x%" PRIx64 " maps 0x%" PRIx64
				 ", the model says unmapped",
				 va, pa);
		return;
	}
	if (ret)
		fail_msg("0x%" PRIx64 " faults, the model says 0x%" PRIx64, va,
			 c->m.pa[i]);
	if (pa != c->m.pa[i] || flags != c->m.flags[i])
		fail_msg("0x%" PRIx64 " -> 0x%" PRIx64 " flags %#x, the model "
			 "says 0x%" PRIx64 " flags %#x",
			 va, pa, flags, c->m.pa[i], c->m.flags[i]);
	if (size == SZ_4K)
		return;
	assert_true(size == SZ_64K || size == SZ_2M);
	/* One entry: its base translates with the same shape, aligned. */
	assert_int_equal(gpuvm_pt_translate(c->pt, va & ~(size - 1), &bpa,
					    &bsize, &bflags),
			 0);
	assert_int_equal(bsize, size);
	assert_int_equal(bflags, flags);
	if (!(flags & GPUVM_PT_NULL)) {
		assert_int_equal(bpa & (size - 1), 0);
		assert_int_equal(bpa + (va & (size - 1)), pa);
	}
}

static void check_range(const struct ctx *c, uint64_t addr, uint64_t range)
{
	if (addr)
		check_page(c, addr - SZ_4K);
	for (uint64_t va = addr; va < addr + range; va += SZ_4K)
		check_page(c, va);
	check_page(c, addr + range);
}

static void check_all(const struct ctx *c)
{
	struct gpuvm_pt_stats st = pt_stats(c->pt);
	uint64_t remaining = 0;

	check_range(c, c->m.base, WIN_SIZE);
	PT_CHECK(c->pt);
	assert_int_equal(st.live_4k + 16 * st.live_64k + 512 * st.live_2m,
			 model_mapped_pages(c, c->m.base, WIN_SIZE));
	for (unsigned int j = 0; j < c->njobs; j++) {
		const struct gpuvm_pt_resv *r = &c->jobs[j].resv;

		assert_true(r->used <= r->tables);
		remaining += r->tables - r->used;
	}
	assert_int_equal(st.tables_reserved, remaining);
	assert_true(st.tables_spare >= st.tables_reserved);
}

/* Random ranges and physical addresses, biased towards large entries. */

static void rand_range(struct ctx *c, uint64_t lo, uint64_t hi, uint64_t *addr,
		       uint64_t *range)
{
	static const uint64_t grains[] = { SZ_4K, SZ_64K, SZ_2M };
	uint64_t g = grains[tu_rng_below(c->rng, 3)];
	uint64_t pages = (hi - lo) / SZ_4K;
	uint64_t a, e;

	if (g > hi - lo)
		g = SZ_4K;
	a = lo + tu_rng_below(c->rng, (hi - lo) / g) * g;
	e = a + (tu_rng_below(c->rng, 3) + 1) * g;
	/* Sometimes nudge the ends off the grain. */
	if (tu_rng_chance(c->rng, 30) && a > lo)
		a -= SZ_4K * tu_rng_range(c->rng, 1, 3);
	if (tu_rng_chance(c->rng, 30))
		e += SZ_4K * tu_rng_range(c->rng, 1, 3);
	if (tu_rng_chance(c->rng, 10)) {
		a = lo + tu_rng_below(c->rng, pages) * SZ_4K;
		e = a + tu_rng_range(c->rng, 1, 8) * SZ_4K;
	}
	if (a < lo)
		a = lo;
	if (e > hi)
		e = hi;
	if (e <= a)
		e = a + SZ_4K;
	if (e > hi) {
		a = hi - SZ_4K;
		e = hi;
	}
	*addr = a;
	*range = e - a;
}

static uint64_t rand_pa(struct ctx *c, uint64_t va)
{
	uint64_t r = tu_rng_below(c->rng, 100);
	uint64_t base = tu_rng_below(c->rng, 1u << 16) * SZ_2M;

	if (r < 50) /* congruent mod 2M: 2M entries possible */
		return base + (va & (SZ_2M - 1));
	if (r < 80) /* congruent mod 64K only */
		return base + SZ_64K * tu_rng_range(c->rng, 1, 31) +
		       (va & (SZ_64K - 1));
	return base + tu_rng_below(c->rng, 512) * SZ_4K;
}

static unsigned int rand_flags(struct ctx *c)
{
	unsigned int f = 0;

	if (tu_rng_chance(c->rng, 10))
		f |= GPUVM_PT_NULL;
	if (tu_rng_chance(c->rng, 20))
		f |= GPUVM_PT_READ_ONLY;
	if (tu_rng_chance(c->rng, 10))
		f |= GPUVM_PT_NO_EXEC | GPUVM_PT_UNCACHED;
	return f;
}

/* Calls. */

static void do_map(struct ctx *c, uint64_t addr, uint64_t range,
		   struct gpuvm_pt_resv *resv)
{
	uint64_t pa = rand_pa(c, addr);
	unsigned int flags = rand_flags(c);
	bool null = flags & GPUVM_PT_NULL;
	int ret = gpuvm_pt_map(c->pt, addr, range, pa, flags, resv);

	if (ret)
		fail_msg("map 0x%" PRIx64 "+0x%" PRIx64 " pa 0x%" PRIx64
			 " flags %#x: %d",
			 addr, range, pa, flags, ret);
	model_map(c, addr, range, pa, flags);
	if (resv && resv->used > c->peak)
		c->peak = resv->used;
	check_range(c, addr, range);
	/* A map uses at least the page sizes the rule allows. */
	for (uint64_t va = addr; va < addr + range; va += SZ_4K) {
		uint64_t size;

		gpuvm_pt_translate(c->pt, va, NULL, &size, NULL);
		if (size < pt_rule_size(addr, range, pa, null, va))
			fail_msg("0x%" PRIx64 " mapped with 0x%" PRIx64
				 " pages, the rule allows 0x%" PRIx64,
				 va, size,
				 pt_rule_size(addr, range, pa, null, va));
	}
	c->maps++;
	c->calls++;
}

static void do_unmap(struct ctx *c, uint64_t addr, uint64_t range,
		     struct gpuvm_pt_resv *resv)
{
	uint64_t splits = pt_stats(c->pt).splits_2m;
	size_t before = resv ? resv->used : 0;
	int ret = gpuvm_pt_unmap(c->pt, addr, range, 0, resv);
	/* In an unmap only splits take tables. */
	size_t held = before + (size_t)(pt_stats(c->pt).splits_2m - splits);

	if (held > c->peak)
		c->peak = held;

	if (ret)
		fail_msg("unmap 0x%" PRIx64 "+0x%" PRIx64 ": %d", addr, range,
			 ret);
	model_unmap(c, addr, range);
	check_range(c, addr, range);
	c->unmaps++;
	c->calls++;
}

static void do_keep(struct ctx *c, uint64_t addr, uint64_t range,
		    struct gpuvm_pt_resv *resv)
{
	struct gpuvm_pt_stats a = pt_stats(c->pt), b;

	assert_int_equal(
		gpuvm_pt_unmap(c->pt, addr, range, GPUVM_PT_KEEP, resv), 0);
	b = pt_stats(c->pt);
	assert_int_equal(b.kept_pages - a.kept_pages,
			 model_mapped_pages(c, addr, range));
	assert_true(b.kept_entries - a.kept_entries <=
		    b.kept_pages - a.kept_pages);
	assert_int_equal(b.entries_written, a.entries_written);
	assert_int_equal(b.entries_cleared, a.entries_cleared);
	assert_int_equal(b.tables_in_use, a.tables_in_use);
	check_range(c, addr, range);
	c->keeps++;
	c->calls++;
}

/* Jobs. */

static void expect_no_alloc(const struct gpuvm_alloc_stats *a0)
{
	struct gpuvm_alloc_stats a1;

	gpuvm_alloc_get_stats(&a1);
	assert_int_equal(a1.total_allocs, a0->total_allocs);
	assert_int_equal(a1.failed_allocs, a0->failed_allocs);
	assert_int_equal(a1.live_allocs, a0->live_allocs);
}

/* What the pool lacks for a reservation of @cost: the stash's charge. */
static size_t pool_lack(const struct gpuvm_pt_stats *st, size_t cost)
{
	uint64_t want = st->tables_reserved + cost;

	return want > st->tables_spare ? (size_t)(want - st->tables_spare) : 0;
}

static void reserve_two_phase(struct ctx *c, struct job *j)
{
	size_t cost = gpuvm_pt_reserve_cost(c->pt, j->addr, j->range, j->kind);
	struct gpuvm_pt_stats st = pt_stats(c->pt), st1;
	size_t lack = pool_lack(&st, cost), held;
	struct gpuvm_alloc_stats a0;

	/* Whatever the pool holds, a stash of the cost is enough. */
	assert_true(lack <= cost);
	if (lack && tu_rng_chance(c->rng, 20)) {
		struct gpuvm_pt_stash short_stash = GPUVM_PT_STASH_INIT;
		struct gpuvm_pt_resv r0 = j->resv;

		assert_int_equal(
			gpuvm_pt_stash_fill(c->pt, &short_stash,
					    tu_rng_below(c->rng, lack)),
			0);
		held = short_stash.count;
		gpuvm_alloc_fail_nth(1, true);
		assert_int_equal(gpuvm_pt_reserve_stash(c->pt, j->addr,
							j->range, j->kind,
							&j->resv, &short_stash),
				 -ENOSPC);
		gpuvm_alloc_fail_nth(0, false);
		assert_int_equal(short_stash.count, held);
		assert_memory_equal(&j->resv, &r0, sizeof(r0));
		st1 = pt_stats(c->pt);
		assert_memory_equal(&st1, &st, sizeof(st));
		gpuvm_pt_stash_free(c->pt, &short_stash);
		c->short_refused++;
	}
	/* Tables kept from earlier releases count towards the fill. */
	assert_int_equal(gpuvm_pt_stash_fill(c->pt, &c->stash, cost), 0);
	held = c->stash.count;
	gpuvm_alloc_get_stats(&a0);
	gpuvm_alloc_fail_nth(1, true);
	assert_int_equal(gpuvm_pt_reserve_stash(c->pt, j->addr, j->range,
						j->kind, &j->resv, &c->stash),
			 0);
	gpuvm_alloc_fail_nth(0, false);
	expect_no_alloc(&a0);
	st1 = pt_stats(c->pt);
	assert_int_equal(held - c->stash.count, lack);
	assert_int_equal(st1.tables_from_stash - st.tables_from_stash, lack);
	assert_int_equal(st1.tables_reserved, st.tables_reserved + cost);
	assert_int_equal(st1.tables_spare, st.tables_spare + lack);
	c->from_stash += lack;
	c->two_phase++;
}

static void submit(struct ctx *c)
{
	struct job *j = &c->jobs[c->njobs];
	uint64_t lo = c->m.base, hi = c->m.base + WIN_SIZE;

	memset(j, 0, sizeof(*j));
	rand_range(c, lo, hi, &j->addr, &j->range);
	/* Jobs of a few 2M blocks are common too. */
	if (tu_rng_chance(c->rng, 25)) {
		j->addr &= ~(SZ_2M - 1);
		j->range = tu_rng_range(c->rng, 1, 4) * SZ_2M;
		if (j->addr + j->range > hi)
			j->range = hi - j->addr;
	}
	j->kind = tu_rng_chance(c->rng, 35) ? GPUVM_PT_RESV_UNMAP : 0;
	/* Unmap jobs from inside one block across a few: the worst case. */
	if (j->kind && tu_rng_chance(c->rng, 50)) {
		j->addr = lo + tu_rng_below(c->rng, WIN_PAGES) * SZ_4K;
		j->range = tu_rng_range(c->rng, 1, 4) * SZ_2M;
		if (j->addr + j->range > hi)
			j->range = hi - j->addr;
	}
	j->two_phase = tu_rng_chance(c->rng, 40);
	if (j->two_phase)
		reserve_two_phase(c, j);
	else
		assert_int_equal(gpuvm_pt_reserve(c->pt, j->addr, j->range,
						  j->kind, &j->resv),
				 0);
	assert_int_equal(
		j->resv.tables,
		gpuvm_pt_reserve_cost(c->pt, j->addr, j->range, j->kind));
	c->njobs++;
}

/* A map job: any calls inside its range, in any order. */
static void run_map_job(struct ctx *c, struct job *j)
{
	unsigned int n = (unsigned int)tu_rng_range(c->rng, 1, MAX_CALLS);
	uint64_t end = j->addr + j->range;

	for (unsigned int k = 0; k < n; k++) {
		uint64_t a, r;
		uint64_t p = tu_rng_below(c->rng, 100);

		if (tu_rng_chance(c->rng, 40)) {
			a = j->addr;
			r = j->range;
		} else {
			rand_range(c, j->addr, end, &a, &r);
		}
		if (p < 60)
			do_map(c, a, r, &j->resv);
		else if (p < 92)
			do_unmap(c, a, r, &j->resv);
		else
			do_keep(c, a, r, &j->resv);
	}
}

/*
 * An unmap job: ascending pieces that cover the range, where a piece may
 * be skipped only if it is wholly unmapped when the job starts.
 */
static void run_unmap_job(struct ctx *c, struct job *j)
{
	uint64_t cuts[MAX_CALLS + 1];
	unsigned int n = 0;
	uint64_t pages = j->range / SZ_4K;
	uint64_t prev = j->addr;
	bool skip[MAX_CALLS + 1];

	if (j->range > SZ_2M && tu_rng_chance(c->rng, 50)) {
		/* One cut inside each block, where splits cost the most. */
		uint64_t b = (j->addr & ~(SZ_2M - 1)) + SZ_2M;

		for (; b < j->addr + j->range && n < MAX_CALLS - 1;
		     b += SZ_2M) {
			uint64_t at = b + tu_rng_range(c->rng, 1, 511) * SZ_4K;

			if (at < j->addr + j->range)
				cuts[n++] = at;
		}
	} else if (pages > 1 && tu_rng_chance(c->rng, 70)) {
		unsigned int want = (unsigned int)tu_rng_range(c->rng, 1, 4);

		for (unsigned int k = 0; k < want; k++) {
			uint64_t at =
				j->addr +
				tu_rng_range(c->rng, 1, pages - 1) * SZ_4K;

			/* Keep the cuts ascending and distinct. */
			if (at > prev) {
				cuts[n++] = at;
				prev = at;
			}
		}
	}
	cuts[n++] = j->addr + j->range;
	prev = j->addr;
	for (unsigned int k = 0; k < n; k++) {
		skip[k] = !model_mapped_pages(c, prev, cuts[k] - prev) &&
			  tu_rng_chance(c->rng, 50);
		prev = cuts[k];
	}
	prev = j->addr;
	for (unsigned int k = 0; k < n; k++) {
		if (!skip[k])
			do_unmap(c, prev, cuts[k] - prev, &j->resv);
		prev = cuts[k];
	}
}

static void release_two_phase(struct ctx *c, struct job *j)
{
	struct gpuvm_pt_stats st = pt_stats(c->pt), st1;
	size_t held = c->stash.count;
	struct gpuvm_alloc_stats a0;

	gpuvm_alloc_get_stats(&a0);
	gpuvm_alloc_fail_nth(1, true);
	assert_int_equal(gpuvm_pt_release_stash(c->pt, &j->resv, &c->stash), 0);
	gpuvm_alloc_fail_nth(0, false);
	expect_no_alloc(&a0);
	st1 = pt_stats(c->pt);
	/* Every spare above the new floor moved, and nothing else. */
	assert_int_equal(st1.tables_spare, st1.tables_reserved);
	assert_int_equal(c->stash.count - held,
			 st.tables_spare - st1.tables_spare);
	assert_int_equal(st1.tables_to_stash - st.tables_to_stash,
			 c->stash.count - held);
	c->to_stash += c->stash.count - held;
	/* Sometimes drop the kept tables, as under memory pressure. */
	if (c->stash.count > 64 || tu_rng_chance(c->rng, 20))
		gpuvm_pt_stash_free(c->pt, &c->stash);
}

/* Releases job @idx, keeping the others in submission order. */
static void release_job(struct ctx *c, unsigned int idx)
{
	if (c->jobs[idx].two_phase)
		release_two_phase(c, &c->jobs[idx]);
	else
		gpuvm_pt_release(c->pt, &c->jobs[idx].resv);
	assert_null(c->jobs[idx].resv.pt);
	memmove(&c->jobs[idx], &c->jobs[idx + 1],
		(c->njobs - idx - 1) * sizeof(c->jobs[0]));
	c->njobs--;
}

/* Submits up to MAX_JOBS jobs, runs them in order, releases them. */
static void step_jobs(struct ctx *c)
{
	unsigned int n = (unsigned int)tu_rng_range(c->rng, 1, MAX_JOBS);
	struct gpuvm_alloc_stats a0, a1;

	for (unsigned int k = 0; k < n; k++)
		submit(c);
	check_all(c);
	/* Jobs run in submission order; some are released right after. */
	for (unsigned int k = 0; k < c->njobs; k++) {
		struct job *j = &c->jobs[k];

		/* The run path: every allocation would fail. */
		gpuvm_alloc_get_stats(&a0);
		gpuvm_alloc_fail_nth(1, true);
		c->peak = 0;
		if (j->kind & GPUVM_PT_RESV_UNMAP) {
			run_unmap_job(c, j);
			c->peak_hist[c->peak]++;
		} else {
			run_map_job(c, j);
		}
		gpuvm_alloc_fail_nth(0, false);
		gpuvm_alloc_get_stats(&a1);
		assert_int_equal(a1.total_allocs, a0.total_allocs);
		assert_int_equal(a1.failed_allocs, a0.failed_allocs);
		c->jobs_run++;
		check_all(c);
		/* Cleanup may run before the next job does. */
		if (tu_rng_chance(c->rng, 30)) {
			release_job(c, k--);
			check_all(c);
		}
	}
	while (c->njobs)
		release_job(c, (unsigned int)tu_rng_below(c->rng, c->njobs));
	check_all(c);
}

static void step(struct ctx *c)
{
	uint64_t p = tu_rng_below(c->rng, 100);
	uint64_t a, r, pa;

	rand_range(c, c->m.base, c->m.base + WIN_SIZE, &a, &r);
	if (p < 50) {
		step_jobs(c);
	} else if (p < 62) {
		/* Whole 2M entries, which later calls split. */
		a = c->m.base + tu_rng_below(c->rng, WIN_SIZE / SZ_2M) * SZ_2M;
		r = tu_rng_range(c->rng, 1, 4) * SZ_2M;
		if (a + r > c->m.base + WIN_SIZE)
			r = c->m.base + WIN_SIZE - a;
		pa = tu_rng_below(c->rng, 1024) * SZ_2M;
		assert_int_equal(gpuvm_pt_map(c->pt, a, r, pa, 0, NULL), 0);
		model_map(c, a, r, pa, 0);
		check_range(c, a, r);
	} else if (p < 75) {
		do_map(c, a, r, NULL);
		c->oneshots++;
	} else if (p < 88) {
		do_unmap(c, a, r, NULL);
		c->oneshots++;
	} else if (p < 95) {
		do_keep(c, a, r, NULL);
	} else {
		gpuvm_pt_trim(c->pt);
		assert_int_equal(pt_stats(c->pt).tables_spare, 0);
	}
	check_all(c);
}

static void run_window(unsigned int va_bits, uint64_t base, uint64_t iterations)
{
	struct ctx *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	c->pt = pt_new(va_bits, 0);
	c->m.base = base;
	c->rng = tu_rng();
	for (uint64_t i = 0; i < iterations; i++)
		step(c);
	/* Empty it again: every table but the root goes. */
	do_unmap(c, base, WIN_SIZE, NULL);
	check_all(c);
	gpuvm_pt_trim(c->pt);
	assert_int_equal(pt_stats(c->pt).tables_in_use, 1);
	assert_int_equal(pt_stats(c->pt).tables_spare, 0);
	assert_int_equal(pt_stats(c->pt).tables_from_stash, c->from_stash);
	assert_int_equal(pt_stats(c->pt).tables_to_stash, c->to_stash);
	gpuvm_pt_stash_free(c->pt, &c->stash);
	printf("  %u-bit window 0x%" PRIx64 ": %" PRIu64 " calls (%" PRIu64
	       " maps, %" PRIu64 " unmaps, %" PRIu64 " keeps), %" PRIu64
	       " jobs, %" PRIu64 " one-shot; unmap jobs needing 0/1/2/3 "
	       "tables at their peak: %" PRIu64 "/%" PRIu64 "/%" PRIu64
	       "/%" PRIu64 "\n",
	       va_bits, base, c->calls, c->maps, c->unmaps, c->keeps,
	       c->jobs_run, c->oneshots, c->peak_hist[0], c->peak_hist[1],
	       c->peak_hist[2], c->peak_hist[3]);
	printf("    two-phase: %" PRIu64 " jobs, %" PRIu64
	       " short stashes refused, %" PRIu64
	       " tables from stashes, %" PRIu64 " into them\n",
	       c->two_phase, c->short_refused, c->from_stash, c->to_stash);
	pt_free(c->pt);
	free(c);
}

static const struct {
	unsigned int va_bits;
	uint64_t base;
} windows[] = {
	/* Around a level-1 table boundary (1 GiB). */
	{ 48, SZ_1G - WIN_SIZE / 2 },
	/* Around a level-2 table boundary (512 GiB). */
	{ 48, (UINT64_C(1) << 39) - WIN_SIZE / 2 },
	/* The top of a 48-bit space. */
	{ 48, (UINT64_C(1) << 48) - WIN_SIZE },
	/* Around a root entry boundary of a 57-bit space (256 TiB). */
	{ 57, (UINT64_C(1) << 48) - WIN_SIZE / 2 },
	/* The top of a 57-bit space. */
	{ 57, (UINT64_C(1) << 57) - WIN_SIZE },
	/* A small space whose root holds 2 MiB entries. */
	{ 30, SZ_1G - WIN_SIZE },
};

#define NR_WINDOWS (sizeof(windows) / sizeof(windows[0]))

static void test_random(void **state)
{
	uint64_t per = tu_state()->iterations / NR_WINDOWS + 1;

	(void)state;
	for (unsigned int w = 0; w < NR_WINDOWS; w++)
		run_window(windows[w].va_bits, windows[w].base, per);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		TU_TEST(test_random),
	};

	tu_init(argc, argv, 1, 1200);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
