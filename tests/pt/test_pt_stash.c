// SPDX-License-Identifier: MIT
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
/*
 * Two-phase reservations of the page-table layer:
 *
 * - stashes are filled and freed without touching the page table, and
 *   their tables count in no page table;
 * - reserve_stash takes exactly what the pool lacks, at most the cost,
 *   refuses a short stash with -ENOSPC and a budget overrun with -ENOMEM,
 *   changing nothing; release_stash moves exactly the spares above the new
 *   floor into a stash; tables survive the round trip and are reused;
 * - a batch of jobs submitted, run and released through stashes attempts
 *   no allocation at all between filling and freeing, and leaves the page
 *   table exactly as the one-phase functions do;
 * - reserve_stash and release_stash are not reported inside a
 *   fence-signalling section, stash_fill and stash_free are;
 * - stash_fill fails cleanly for every N of "fail the Nth allocation";
 * - ownership and argument checks, and backends without stashes;
 * - threads that fill and free their stashes without the lock while
 *   others reserve, map and release under it (a race detector run of this
 *   test checks that filling touches nothing the lock protects).
 */
#include "pttest.h"

#include <pthread.h>

#include <gpuvm/fence.h>
#include <gpuvm/mutex.h>

#define SZ_512G (UINT64_C(1) << 39)

static const struct gpuvm_pt_stash stash_init = GPUVM_PT_STASH_INIT;

static void expect_stash(const struct gpuvm_pt_stash *s,
			 const struct gpuvm_pt *pt, size_t count)
{
	assert_int_equal(s->count, count);
	if (count) {
		assert_ptr_equal(s->pt, pt);
		assert_non_null(s->head);
	} else {
		assert_null(s->pt);
		assert_null(s->head);
	}
}

/* Everything the page table reports, and the translation of some pages. */
struct snap {
	struct gpuvm_pt_stats st;
	uint64_t sum;
};

static void snap_take(const struct gpuvm_pt *pt, struct snap *s)
{
	static const uint64_t bases[] = { 0, SZ_1G - 4 * SZ_2M, 5 * SZ_512G };

	memset(s, 0, sizeof(*s));
	s->st = pt_stats(pt);
	for (unsigned int b = 0; b < 3; b++) {
		for (uint64_t va = bases[b]; va < bases[b] + 8 * SZ_2M;
		     va += SZ_4K) {
			uint64_t pa, size;
			unsigned int flags;
			int ret =
				gpuvm_pt_translate(pt, va, &pa, &size, &flags);

			s->sum = s->sum * 31 + (uint64_t)ret;
			s->sum = s->sum * 31 + pa;
			s->sum = s->sum * 31 + size;
			s->sum = s->sum * 31 + flags;
		}
	}
}

static void expect_snap(const struct gpuvm_pt *pt, const struct snap *s0)
{
	struct snap s;

	snap_take(pt, &s);
	assert_memory_equal(&s.st, &s0->st, sizeof(s.st));
	assert_int_equal(s.sum, s0->sum);
	PT_CHECK(pt);
}

/* Stats of two page tables that differ only in where tables came from. */
static void expect_same_but_stash(const struct gpuvm_pt *a,
				  const struct gpuvm_pt *b)
{
	struct snap sa, sb;

	snap_take(a, &sa);
	snap_take(b, &sb);
	sa.st.tables_from_stash = sb.st.tables_from_stash = 0;
	sa.st.tables_to_stash = sb.st.tables_to_stash = 0;
	assert_memory_equal(&sa.st, &sb.st, sizeof(sa.st));
	assert_int_equal(sa.sum, sb.sum);
}

static void expect_no_alloc(const struct gpuvm_alloc_stats *a0)
{
	struct gpuvm_alloc_stats a1;

	gpuvm_alloc_get_stats(&a1);
	assert_int_equal(a1.total_allocs, a0->total_allocs);
	assert_int_equal(a1.failed_allocs, a0->failed_allocs);
	assert_int_equal(a1.live_allocs, a0->live_allocs);
}

/* A page table with large and small entries in [0, 8M) and around 1G. */
static struct gpuvm_pt *pt_populated(void)
{
	struct gpuvm_pt *pt = pt_new(48, 0);

	assert_int_equal(gpuvm_pt_map(pt, 0, 3 * SZ_2M, 0x600000, 0, NULL), 0);
	assert_int_equal(gpuvm_pt_map(pt, 3 * SZ_2M + SZ_64K, SZ_2M - SZ_64K,
				      0x2010000, GPUVM_PT_NO_EXEC, NULL),
			 0);
	assert_int_equal(gpuvm_pt_map(pt, SZ_1G - 2 * SZ_2M, 4 * SZ_2M, 0,
				      GPUVM_PT_NULL, NULL),
			 0);
	PT_CHECK(pt);
	return pt;
}

static void pt_empty_and_free(struct gpuvm_pt *pt)
{
	assert_int_equal(gpuvm_pt_unmap(pt, 0, UINT64_C(1) << 48, 0, NULL), 0);
	pt_expect_live(pt, 0, 0, 0);
	gpuvm_pt_trim(pt);
	pt_free(pt);
}

/* Filling and freeing. */

static void test_fill_free(void **state)
{
	struct gpuvm_pt *pt = pt_new(48, 0);
	struct gpuvm_pt_stash s = GPUVM_PT_STASH_INIT;
	struct gpuvm_pt_stats st0 = pt_stats(pt), st;
	uint64_t live0 = tu_live_allocs();

	(void)state;
	assert_memory_equal(&s, &stash_init, sizeof(s));
	assert_int_equal(gpuvm_pt_stash_fill(pt, &s, 0), 0);
	expect_stash(&s, pt, 0);
	assert_int_equal(gpuvm_pt_stash_fill(pt, &s, 5), 0);
	expect_stash(&s, pt, 5);
	assert_int_equal(tu_live_allocs(), live0 + 5);
	/* A fill never shrinks a stash. */
	assert_int_equal(gpuvm_pt_stash_fill(pt, &s, 3), 0);
	expect_stash(&s, pt, 5);
	assert_int_equal(gpuvm_pt_stash_fill(pt, &s, 8), 0);
	expect_stash(&s, pt, 8);
	assert_int_equal(tu_live_allocs(), live0 + 8);
	/* Stashed tables belong to no page table. */
	st = pt_stats(pt);
	assert_memory_equal(&st, &st0, sizeof(st));
	PT_CHECK(pt);
	gpuvm_pt_stash_free(pt, &s);
	assert_memory_equal(&s, &stash_init, sizeof(s));
	assert_int_equal(tu_live_allocs(), live0);
	gpuvm_pt_stash_free(pt, &s);
	gpuvm_pt_stash_free(pt, NULL);
	pt_free(pt);
}

/* Exact accounting of a reservation through stashes, and reuse. */
static void test_reserve_release(void **state)
{
	struct gpuvm_pt *pt = pt_new(48, 0);
	struct gpuvm_pt_stash s = GPUVM_PT_STASH_INIT;
	struct gpuvm_pt_stash back = GPUVM_PT_STASH_INIT;
	struct gpuvm_pt_resv r = GPUVM_PT_RESV_INIT;
	struct gpuvm_alloc_stats a0;
	struct gpuvm_pt_stats st;
	size_t cost = gpuvm_pt_reserve_cost(pt, SZ_1G, SZ_4K, 0);

	(void)state;
	assert_int_equal(cost, 3);
	assert_int_equal(gpuvm_pt_stash_fill(pt, &s, cost), 0);
	gpuvm_alloc_get_stats(&a0);
	gpuvm_alloc_fail_nth(1, true);
	assert_int_equal(gpuvm_pt_reserve_stash(pt, SZ_1G, SZ_4K, 0, &r, &s),
			 0);
	assert_ptr_equal(r.pt, pt);
	assert_int_equal(r.tables, 3);
	assert_int_equal(r.used, 0);
	expect_stash(&s, pt, 0);
	st = pt_stats(pt);
	assert_int_equal(st.tables_reserved, 3);
	assert_int_equal(st.tables_spare, 3);
	assert_int_equal(st.tables_allocated, 1 + 3);
	assert_int_equal(st.tables_from_stash, 3);
	assert_int_equal(st.table_bytes, 4 * GPUVM_PT_TABLE_SIZE);
	PT_CHECK(pt);

	assert_int_equal(gpuvm_pt_map(pt, SZ_1G, SZ_4K, 0x5000, 0, &r), 0);
	assert_int_equal(r.used, 3);
	pt_expect(pt, SZ_1G, 0x5000, SZ_4K, 0);
	assert_int_equal(gpuvm_pt_unmap(pt, SZ_1G, SZ_4K, 0, &r), 0);
	assert_int_equal(r.used, 0);
	assert_int_equal(pt_stats(pt).tables_spare, 3);
	/* Its tables were returned by the unmap: all three go. */
	assert_int_equal(gpuvm_pt_release_stash(pt, &r, &back), 0);
	assert_null(r.pt);
	assert_int_equal(r.tables, 0);
	assert_int_equal(r.used, 0);
	expect_stash(&back, pt, 3);
	st = pt_stats(pt);
	assert_int_equal(st.tables_reserved, 0);
	assert_int_equal(st.tables_spare, 0);
	assert_int_equal(st.tables_in_use, 1);
	assert_int_equal(st.tables_freed, 3);
	assert_int_equal(st.tables_to_stash, 3);
	PT_CHECK(pt);
	/* Releasing an empty reservation is a no-op. */
	assert_int_equal(gpuvm_pt_release_stash(pt, &r, &back), 0);
	assert_int_equal(gpuvm_pt_release_stash(pt, NULL, &back), 0);
	expect_stash(&back, pt, 3);
	expect_no_alloc(&a0);

	/* The same tables serve again; three are not enough for five. */
	cost = gpuvm_pt_reserve_cost(pt, 0, 3 * SZ_2M, 0);
	assert_int_equal(cost, 5);
	assert_int_equal(gpuvm_pt_reserve_stash(pt, 0, 3 * SZ_2M, 0, &r, &back),
			 -ENOSPC);
	assert_null(r.pt);
	expect_stash(&back, pt, 3);
	gpuvm_alloc_fail_nth(0, false);
	assert_int_equal(gpuvm_pt_stash_fill(pt, &back, cost), 0);
	gpuvm_alloc_get_stats(&a0);
	gpuvm_alloc_fail_nth(1, true);
	assert_int_equal(gpuvm_pt_reserve_stash(pt, 0, 3 * SZ_2M, 0, &r, &back),
			 0);
	expect_stash(&back, pt, 0);
	assert_int_equal(gpuvm_pt_map(pt, 0, 3 * SZ_2M, 0x1000, 0, &r), 0);
	assert_int_equal(r.used, 5);
	pt_expect(pt, 2 * SZ_2M + SZ_4K, 0x1000 + 2 * SZ_2M + SZ_4K, SZ_4K, 0);
	PT_CHECK(pt);
	/* All used: nothing spare to give back. */
	assert_int_equal(gpuvm_pt_release_stash(pt, &r, &back), 0);
	expect_stash(&back, pt, 0);
	expect_no_alloc(&a0);
	gpuvm_alloc_fail_nth(0, false);
	st = pt_stats(pt);
	assert_int_equal(st.tables_in_use, 6);
	assert_int_equal(st.tables_from_stash, 8);
	assert_int_equal(st.tables_to_stash, 3);
	gpuvm_pt_stash_free(pt, &back);
	gpuvm_pt_stash_free(pt, &s);
	pt_empty_and_free(pt);
}

/*
 * A release without a stash keeps the spare tables in the pool, where the
 * next reservation finds them without a stash and without moving a table;
 * gpuvm_pt_trim_stash() hands the surplus back.
 */
static void test_release_keep(void **state)
{
	struct gpuvm_pt *pt = pt_new(48, 0);
	struct gpuvm_pt_stash s = GPUVM_PT_STASH_INIT, empty = s, back = s;
	struct gpuvm_pt_resv r = GPUVM_PT_RESV_INIT;
	struct gpuvm_alloc_stats a0;
	size_t cost = gpuvm_pt_reserve_cost(pt, 0, SZ_4K, 0);
	struct gpuvm_pt_stats st;

	(void)state;
	assert_int_equal(gpuvm_pt_stash_fill(pt, &s, cost), 0);
	assert_int_equal(gpuvm_pt_reserve_stash(pt, 0, SZ_4K, 0, &r, &s), 0);
	assert_int_equal(gpuvm_pt_release_stash(pt, &r, NULL), 0);
	assert_null(r.pt);
	st = pt_stats(pt);
	assert_int_equal(st.tables_reserved, 0);
	assert_int_equal(st.tables_spare, cost);
	PT_CHECK(pt);

	/* The kept tables cover the same reservation: nothing moves. */
	gpuvm_alloc_get_stats(&a0);
	gpuvm_alloc_fail_nth(1, true);
	assert_int_equal(gpuvm_pt_reserve_stash(pt, 0, SZ_4K, 0, &r, &empty),
			 0);
	assert_int_equal(pt_stats(pt).tables_reserved, cost);
	assert_int_equal(gpuvm_pt_map(pt, 0, SZ_4K, 0x1000, 0, &r), 0);
	assert_int_equal(gpuvm_pt_unmap(pt, 0, SZ_4K, 0, &r), 0);
	assert_int_equal(gpuvm_pt_release_stash(pt, &r, NULL), 0);
	/* Trimming keeps what it is told to, moves the rest. */
	assert_int_equal(gpuvm_pt_trim_stash(pt, 1, &back), 0);
	expect_stash(&back, pt, cost - 1);
	assert_int_equal(pt_stats(pt).tables_spare, 1);
	assert_int_equal(gpuvm_pt_trim_stash(pt, 0, &back), 0);
	expect_no_alloc(&a0);
	gpuvm_alloc_fail_nth(0, false);
	expect_stash(&back, pt, cost);
	st = pt_stats(pt);
	assert_int_equal(st.tables_spare, 0);
	assert_int_equal(st.tables_reserved, 0);
	PT_CHECK(pt);
	/* Nothing left to trim. */
	assert_int_equal(gpuvm_pt_trim_stash(pt, 0, &back), 0);
	expect_stash(&back, pt, cost);
	gpuvm_pt_stash_free(pt, &back);
	gpuvm_pt_stash_free(pt, &s);
	pt_empty_and_free(pt);
}

/*
 * One reservation for many ranges counts each table on their paths once,
 * and still covers any sequence of maps and unmaps inside the ranges: a
 * random one runs under it without ever being refused.
 */
static void test_reserve_ranges(void **state)
{
	enum { N = 48 };
	struct gpuvm_pt *pt = pt_new(48, 0);
	struct gpuvm_pt_stash s = GPUVM_PT_STASH_INIT, back = s;
	struct gpuvm_pt_resv r = GPUVM_PT_RESV_INIT;
	struct gpuvm_pt_range rg[N], rev[N];
	size_t one = gpuvm_pt_reserve_cost(pt, SZ_1G, 16 * SZ_4K, 0);
	size_t sum = 0, cost;

	(void)state;
	/* One range: the single-range cost of kind 0. */
	rg[0] = (struct gpuvm_pt_range){ SZ_1G, 16 * SZ_4K };
	assert_int_equal(gpuvm_pt_reserve_cost_ranges(pt, rg, 1), one);
	/* Sixteen neighbours cost what one range over all of them costs. */
	for (unsigned int i = 0; i < 16; i++)
		rg[i] = (struct gpuvm_pt_range){ SZ_1G + i * SZ_4K, SZ_4K };
	assert_int_equal(gpuvm_pt_reserve_cost_ranges(pt, rg, 16), one);
	/* Ranges spread over 2 MiB regions of three 1 GiB regions. */
	for (unsigned int i = 0; i < N; i++) {
		rg[i] = (struct gpuvm_pt_range){
			(i % 3) * SZ_1G + (i / 3) * SZ_2M + 16 * SZ_4K,
			(1 + i % 5) * SZ_4K
		};
		sum += gpuvm_pt_reserve_cost(pt, rg[i].addr, rg[i].range, 0);
	}
	cost = gpuvm_pt_reserve_cost_ranges(pt, rg, N);
	/* Unsorted: never less than needed, never more than the sum. */
	for (unsigned int i = 0; i < N; i++)
		rev[i] = rg[N - 1 - i];
	assert_true(gpuvm_pt_reserve_cost_ranges(pt, rev, N) >= cost);
	assert_true(gpuvm_pt_reserve_cost_ranges(pt, rev, N) <= sum);
	/* Sorted by address: L0 table per 2 MiB, L1 per 1 GiB, one L2. */
	for (unsigned int i = 0; i < N; i++)
		rev[i] = (struct gpuvm_pt_range){
			(i / 16) * SZ_1G + (i % 16) * SZ_2M + 16 * SZ_4K,
			(1 + i % 5) * SZ_4K
		};
	assert_int_equal(gpuvm_pt_reserve_cost_ranges(pt, rev, N), N + 3 + 1);
	assert_true(gpuvm_pt_reserve_cost_ranges(pt, rev, N) < sum);

	/* Bad arguments change nothing. */
	assert_int_equal(gpuvm_pt_reserve_cost_ranges(pt, rev, 0), 0);
	assert_int_equal(gpuvm_pt_reserve_ranges_stash(pt, rev, 0, &r, &s),
			 -EINVAL);
	rg[0].range = 0;
	assert_int_equal(gpuvm_pt_reserve_ranges_stash(pt, rg, N, &r, &s),
			 -EINVAL);
	assert_null(r.pt);

	/* A stash of the cost always suffices; then random work under it. */
	cost = gpuvm_pt_reserve_cost_ranges(pt, rev, N);
	assert_int_equal(gpuvm_pt_reserve_ranges_stash(pt, rev, N, &r, &s),
			 -ENOSPC);
	assert_int_equal(gpuvm_pt_stash_fill(pt, &s, cost), 0);
	assert_int_equal(gpuvm_pt_reserve_ranges_stash(pt, rev, N, &r, &s), 0);
	assert_int_equal(r.tables, cost);
	for (unsigned int step = 0; step < 2000; step++) {
		const struct gpuvm_pt_range *x =
			&rev[tu_rng_below(tu_rng(), N)];
		uint64_t pages = x->range / SZ_4K;
		uint64_t first = tu_rng_below(tu_rng(), pages);
		uint64_t len = 1 + tu_rng_below(tu_rng(), pages - first);
		uint64_t a = x->addr + first * SZ_4K;

		if (tu_rng_below(tu_rng(), 2))
			assert_int_equal(gpuvm_pt_map(pt, a, len * SZ_4K,
						      0x100000 + a % SZ_1G, 0,
						      &r),
					 0);
		else
			assert_int_equal(
				gpuvm_pt_unmap(pt, a, len * SZ_4K, 0, &r), 0);
		assert_true(r.used <= r.tables);
	}
	PT_CHECK(pt);
	for (unsigned int i = 0; i < N; i++)
		assert_int_equal(
			gpuvm_pt_unmap(pt, rev[i].addr, rev[i].range, 0, &r),
			0);
	assert_int_equal(gpuvm_pt_release_stash(pt, &r, &back), 0);
	assert_int_equal(pt_stats(pt).tables_reserved, 0);
	PT_CHECK(pt);
	gpuvm_pt_stash_free(pt, &back);
	gpuvm_pt_stash_free(pt, &s);
	pt_empty_and_free(pt);
}

/*
 * reserve_stash takes what the pool lacks, which is less than the cost
 * when the pool holds spares beyond the floor, and refuses a short stash
 * without changing anything.
 */
static void test_short_stash(void **state)
{
	struct gpuvm_pt *pt = pt_new(48, 0);
	struct gpuvm_pt_resv hold = GPUVM_PT_RESV_INIT;
	struct gpuvm_pt_resv r = GPUVM_PT_RESV_INIT, r0;
	struct gpuvm_pt_stash s = GPUVM_PT_STASH_INIT, s0;
	struct gpuvm_pt_stats st;
	struct snap sn;

	(void)state;
	/* Five level-0 tables (the pa allows only 4K entries). */
	assert_int_equal(
		gpuvm_pt_map(pt, 0, 4 * SZ_2M + SZ_4K, 0x1000, 0, NULL), 0);
	assert_int_equal(pt_stats(pt).tables_in_use, 1 + 2 + 5);
	/* A floor of three, then two emptied tables as slack above it. */
	assert_int_equal(gpuvm_pt_reserve(pt, SZ_1G, SZ_4K, 0, &hold), 0);
	assert_int_equal(gpuvm_pt_unmap(pt, 0, 2 * SZ_2M, 0, NULL), 0);
	st = pt_stats(pt);
	assert_int_equal(st.tables_reserved, 3);
	assert_int_equal(st.tables_spare, 5);

	/* Covered by the slack: an empty stash does. */
	assert_int_equal(gpuvm_pt_reserve_stash(pt, 0, SZ_4K,
						GPUVM_PT_RESV_UNMAP, &r, &s),
			 0);
	assert_int_equal(r.tables, 1);
	st = pt_stats(pt);
	assert_int_equal(st.tables_reserved, 4);
	assert_int_equal(st.tables_spare, 5);
	assert_int_equal(st.tables_from_stash, 0);

	/* Cost three, slack one: two are missing. */
	assert_int_equal(gpuvm_pt_reserve_cost(pt, 9 * SZ_2M, SZ_4K, 0), 3);
	for (size_t have = 0; have < 2; have++) {
		assert_int_equal(gpuvm_pt_stash_fill(pt, &s, have), 0);
		snap_take(pt, &sn);
		r0 = r;
		s0 = s;
		assert_int_equal(
			gpuvm_pt_reserve_stash(pt, 9 * SZ_2M, SZ_4K, 0, &r, &s),
			-ENOSPC);
		assert_memory_equal(&r, &r0, sizeof(r));
		assert_memory_equal(&s, &s0, sizeof(s));
		expect_snap(pt, &sn);
	}
	/* A stash of the cost is always enough; what is not needed stays. */
	assert_int_equal(gpuvm_pt_stash_fill(pt, &s, 3), 0);
	assert_int_equal(
		gpuvm_pt_reserve_stash(pt, 9 * SZ_2M, SZ_4K, 0, &r, &s), 0);
	expect_stash(&s, pt, 1);
	assert_int_equal(r.tables, 4);
	st = pt_stats(pt);
	assert_int_equal(st.tables_reserved, 7);
	assert_int_equal(st.tables_spare, 7);
	assert_int_equal(st.tables_from_stash, 2);
	PT_CHECK(pt);

	/* The floor drops by r's share; the spares above it go to the stash. */
	assert_int_equal(gpuvm_pt_release_stash(pt, &r, &s), 0);
	expect_stash(&s, pt, 5);
	st = pt_stats(pt);
	assert_int_equal(st.tables_reserved, 3);
	assert_int_equal(st.tables_spare, 3);
	assert_int_equal(st.tables_to_stash, 4);
	PT_CHECK(pt);
	gpuvm_pt_release(pt, &hold);
	gpuvm_pt_stash_free(pt, &s);
	pt_empty_and_free(pt);
}

/* The budget counts tables once they enter the page table. */
static void test_budget(void **state)
{
	struct gpuvm_pt *pt = pt_new(48, 4);
	struct gpuvm_pt_resv r = GPUVM_PT_RESV_INIT, r0;
	struct gpuvm_pt_stash s = GPUVM_PT_STASH_INIT;
	struct snap sn;

	(void)state;
	/* A stash is not limited by the budget. */
	assert_int_equal(gpuvm_pt_stash_fill(pt, &s, 7), 0);
	assert_int_equal(gpuvm_pt_reserve_stash(pt, 0, SZ_4K, 0, &r, &s), 0);
	expect_stash(&s, pt, 4);
	snap_take(pt, &sn);
	r0 = r;
	/* Three more would make seven tables: refused, stash untouched. */
	assert_int_equal(gpuvm_pt_reserve_stash(pt, 0, SZ_4K, 0, &r, &s),
			 -ENOMEM);
	expect_stash(&s, pt, 4);
	assert_memory_equal(&r, &r0, sizeof(r));
	expect_snap(pt, &sn);
	/* Over budget with a short stash too: the budget is reported. */
	assert_int_equal(gpuvm_pt_reserve_stash(pt, 0, 3 * SZ_2M, 0, &r, &s),
			 -ENOMEM);
	assert_int_equal(gpuvm_pt_map(pt, 0, SZ_4K, 0x1000, 0, &r), 0);
	assert_int_equal(gpuvm_pt_release_stash(pt, &r, &s), 0);
	expect_stash(&s, pt, 4);
	gpuvm_pt_stash_free(pt, &s);
	pt_empty_and_free(pt);
}

/* Ownership and arguments. */
static void test_args(void **state)
{
	struct gpuvm_pt *pt = pt_new(48, 0), *other = pt_new(48, 0);
	struct gpuvm_pt_resv r = GPUVM_PT_RESV_INIT, ro = GPUVM_PT_RESV_INIT;
	struct gpuvm_pt_resv r0;
	struct gpuvm_pt_stash s = GPUVM_PT_STASH_INIT, s0;
	struct gpuvm_pt_stash so = GPUVM_PT_STASH_INIT;

	(void)state;
	assert_int_equal(gpuvm_pt_stash_fill(pt, NULL, 1), -EINVAL);
	assert_int_equal(gpuvm_pt_stash_fill(pt, &s, 4), 0);
	s0 = s;
	assert_int_equal(gpuvm_pt_reserve_stash(pt, 0, SZ_4K, 0, NULL, &s),
			 -EINVAL);
	assert_int_equal(gpuvm_pt_reserve_stash(pt, 0, SZ_4K, 0, &r, NULL),
			 -EINVAL);
	assert_int_equal(gpuvm_pt_reserve_stash(pt, 0, 0, 0, &r, &s), -EINVAL);
	assert_int_equal(gpuvm_pt_reserve_stash(pt, 1, SZ_4K, 0, &r, &s),
			 -EINVAL);
	assert_int_equal(
		gpuvm_pt_reserve_stash(pt, UINT64_C(1) << 48, SZ_4K, 0, &r, &s),
		-EINVAL);
	assert_int_equal(gpuvm_pt_reserve_stash(pt, 0, SZ_4K, 2, &r, &s),
			 -EINVAL);
	assert_memory_equal(&s, &s0, sizeof(s));
	assert_null(r.pt);

	/* A stash holding tables is tied to its page table. */
	assert_int_equal(gpuvm_pt_stash_fill(other, &s, 8), -EINVAL);
	assert_int_equal(gpuvm_pt_reserve_stash(other, 0, SZ_4K, 0, &ro, &s),
			 -EINVAL);
	assert_null(ro.pt);
	assert_int_equal(gpuvm_pt_reserve(other, 0, SZ_4K, 0, &ro), 0);
	r0 = ro;
	assert_int_equal(gpuvm_pt_release_stash(other, &ro, &s), -EINVAL);
	assert_memory_equal(&ro, &r0, sizeof(ro));
	assert_int_equal(pt_stats(other).tables_reserved, 3);
	tu_expect_warnings(1);
	gpuvm_pt_stash_free(other, &s);
	assert_memory_equal(&s, &s0, sizeof(s));
	/* A reservation is tied to its page table as well. */
	assert_int_equal(gpuvm_pt_reserve_stash(pt, 0, SZ_4K, 0, &ro, &s),
			 -EINVAL);
	assert_int_equal(gpuvm_pt_release_stash(pt, &ro, &s), -EINVAL);
	assert_memory_equal(&ro, &r0, sizeof(ro));
	assert_int_equal(gpuvm_pt_trim_stash(other, 0, &s), -EINVAL);
	assert_int_equal(gpuvm_pt_trim_stash(other, 0, NULL), -EINVAL);
	/* An empty stash goes with any page table. */
	assert_int_equal(gpuvm_pt_release_stash(other, &ro, &so), 0);
	expect_stash(&so, other, 3);
	assert_int_equal(gpuvm_pt_reserve_stash(pt, 0, SZ_4K, 0, &r, &s), 0);
	assert_int_equal(gpuvm_pt_reserve_stash(pt, SZ_1G, SZ_4K, 0, &r, &s),
			 -ENOSPC);
	assert_int_equal(gpuvm_pt_stash_fill(pt, &s, 2), 0);
	assert_int_equal(gpuvm_pt_reserve_stash(pt, SZ_1G, SZ_4K, 0, &r, &s),
			 -ENOSPC);
	assert_int_equal(gpuvm_pt_stash_fill(pt, &s, 3), 0);
	assert_int_equal(gpuvm_pt_reserve_stash(pt, SZ_1G, SZ_4K, 0, &r, &s),
			 0);
	expect_stash(&s, pt, 0);
	assert_int_equal(gpuvm_pt_stash_fill(other, &s, 1), 0);
	expect_stash(&s, other, 1);
	gpuvm_pt_stash_free(other, &s);
	gpuvm_pt_stash_free(other, &so);
	assert_int_equal(gpuvm_pt_release_stash(pt, &r, &s), 0);
	expect_stash(&s, pt, 6);
	gpuvm_pt_stash_free(pt, &s);
	pt_free(pt);
	pt_free(other);
}

/* A backend without stashes, and a backend with only some of the ops. */

static size_t one_cost(const struct gpuvm_pt *pt, uint64_t a, uint64_t r,
		       unsigned int k)
{
	(void)pt;
	(void)a;
	(void)r;
	(void)k;
	return 1;
}

static int one_reserve(struct gpuvm_pt *pt, uint64_t a, uint64_t r,
		       unsigned int k, struct gpuvm_pt_resv *resv)
{
	resv->pt = pt;
	resv->tables += one_cost(pt, a, r, k);
	return 0;
}

static int one_map(struct gpuvm_pt *pt, uint64_t a, uint64_t r, uint64_t pa,
		   unsigned int f, struct gpuvm_pt_resv *resv)
{
	(void)pt;
	(void)a;
	(void)r;
	(void)pa;
	(void)f;
	(void)resv;
	return 0;
}

static int one_unmap(struct gpuvm_pt *pt, uint64_t a, uint64_t r,
		     unsigned int f, struct gpuvm_pt_resv *resv)
{
	(void)pt;
	(void)a;
	(void)r;
	(void)f;
	(void)resv;
	return 0;
}

static void one_release(struct gpuvm_pt *pt, struct gpuvm_pt_resv *resv)
{
	(void)pt;
	(void)resv;
}

static void one_trim(struct gpuvm_pt *pt)
{
	(void)pt;
}

static int one_translate(const struct gpuvm_pt *pt, uint64_t va, uint64_t *pa,
			 uint64_t *s, unsigned int *f)
{
	(void)pt;
	(void)va;
	(void)pa;
	(void)s;
	(void)f;
	return -EFAULT;
}

static void one_stats(const struct gpuvm_pt *pt, struct gpuvm_pt_stats *st)
{
	(void)pt;
	(void)st;
}

static void one_destroy(struct gpuvm_pt *pt)
{
	(void)pt;
}

static int one_stash_fill(const struct gpuvm_pt *pt,
			  struct gpuvm_pt_stash *stash, size_t tables)
{
	(void)pt;
	(void)stash;
	(void)tables;
	return -ENOMEM;
}

static void test_unsupported(void **state)
{
	struct gpuvm_pt_ops ops = {
		.reserve_cost = one_cost,
		.reserve = one_reserve,
		.map = one_map,
		.unmap = one_unmap,
		.release = one_release,
		.trim = one_trim,
		.translate = one_translate,
		.get_stats = one_stats,
		.destroy = one_destroy,
	};
	struct gpuvm_pt pt;
	struct gpuvm_pt_resv r = GPUVM_PT_RESV_INIT, r0;
	struct gpuvm_pt_stash s = GPUVM_PT_STASH_INIT;

	(void)state;
	assert_int_equal(gpuvm_pt_init(&pt, &ops, 48), 0);
	assert_int_equal(gpuvm_pt_stash_fill(&pt, &s, 1), -EOPNOTSUPP);
	assert_int_equal(gpuvm_pt_reserve_stash(&pt, 0, SZ_4K, 0, &r, &s),
			 -EOPNOTSUPP);
	assert_null(r.pt);
	/* The one-phase functions still work; release_stash does not. */
	assert_int_equal(gpuvm_pt_reserve(&pt, 0, SZ_4K, 0, &r), 0);
	r0 = r;
	assert_int_equal(gpuvm_pt_release_stash(&pt, &r, &s), -EOPNOTSUPP);
	assert_int_equal(gpuvm_pt_trim_stash(&pt, 0, &s), -EOPNOTSUPP);
	{
		/* Without multi-range support: the sum, and no reservation. */
		const struct gpuvm_pt_range two[2] = { { 0, SZ_4K },
						       { SZ_4K, SZ_4K } };

		assert_int_equal(
			gpuvm_pt_reserve_cost_ranges(&pt, two, 2),
			gpuvm_pt_reserve_cost(&pt, 0, SZ_4K, 0) +
				gpuvm_pt_reserve_cost(&pt, SZ_4K, SZ_4K, 0));
		assert_int_equal(
			gpuvm_pt_reserve_ranges_stash(&pt, two, 2, &r, &s),
			-EOPNOTSUPP);
	}
	/* A backend without prefetching: the hint is a no-op. */
	gpuvm_pt_prefetch(&pt, (const uint64_t[]){ 0, SZ_4K }, 2);
	assert_memory_equal(&r, &r0, sizeof(r));
	gpuvm_pt_release(&pt, &r);
	assert_null(r.pt);
	gpuvm_pt_stash_free(&pt, &s);
	expect_stash(&s, &pt, 0);
	/* The stash ops come all four or none. */
	ops.stash_fill = one_stash_fill;
	assert_int_equal(gpuvm_pt_init(&pt, &ops, 48), -EINVAL);
}

/* The whole two-phase path allocates nothing between fill and free. */

enum call_type { CALL_MAP, CALL_UNMAP, CALL_KEEP };

struct call {
	enum call_type type;
	uint64_t addr, range, pa;
	unsigned int flags;
};

struct batch_job {
	uint64_t addr, range;
	unsigned int kind;
	struct call calls[4];
	unsigned int ncalls;
};

static const struct batch_job batch[] = {
	/* Split a 2M entry, then re-map it whole. */
	{ SZ_2M,
	  SZ_2M,
	  0,
	  { { CALL_UNMAP, SZ_2M + SZ_64K, SZ_4K, 0, 0 },
	    { CALL_MAP, SZ_2M + 5 * SZ_4K, SZ_4K, 0x77000, 0 },
	    { CALL_MAP, SZ_2M, SZ_2M, 0x4000000, GPUVM_PT_READ_ONLY } },
	  3 },
	/* Unmap pieces that split 2M entries at both ends. */
	{ SZ_4K * 3,
	  3 * SZ_2M,
	  GPUVM_PT_RESV_UNMAP,
	  { { CALL_UNMAP, SZ_4K * 3, SZ_2M, 0, 0 },
	    { CALL_UNMAP, SZ_2M + SZ_4K * 3, SZ_2M, 0, 0 },
	    { CALL_UNMAP, 2 * SZ_2M + SZ_4K * 3, SZ_2M, 0, 0 } },
	  3 },
	/* New tables at every level. */
	{ 5 * SZ_512G + SZ_2M - SZ_64K,
	  2 * SZ_64K,
	  0,
	  { { CALL_MAP, 5 * SZ_512G + SZ_2M - SZ_64K, 2 * SZ_64K, 0x30000, 0 },
	    { CALL_KEEP, 5 * SZ_512G + SZ_2M - SZ_4K, 2 * SZ_4K, 0, 0 },
	    { CALL_UNMAP, 5 * SZ_512G + SZ_2M, SZ_4K, 0, 0 } },
	  3 },
	/* Overwrite NULL 2M entries across the 1G boundary in part. */
	{ SZ_1G - SZ_2M - SZ_4K,
	  2 * SZ_2M + 2 * SZ_4K,
	  0,
	  { { CALL_MAP, SZ_1G - SZ_2M - SZ_4K, 2 * SZ_2M + 2 * SZ_4K,
	      0x9000000 - SZ_4K, GPUVM_PT_UNCACHED } },
	  1 },
	/* And unmap all of it. */
	{ 0,
	  2 * SZ_1G,
	  GPUVM_PT_RESV_UNMAP,
	  { { CALL_UNMAP, 0, 2 * SZ_1G, 0, 0 } },
	  1 },
};

#define NR_BATCH (sizeof(batch) / sizeof(batch[0]))

static size_t batch_cost(const struct gpuvm_pt *pt)
{
	size_t n = 0;

	for (unsigned int i = 0; i < NR_BATCH; i++)
		n += gpuvm_pt_reserve_cost(pt, batch[i].addr, batch[i].range,
					   batch[i].kind);
	return n;
}

static void batch_run_job(struct gpuvm_pt *pt, unsigned int i,
			  struct gpuvm_pt_resv *resv)
{
	const struct batch_job *j = &batch[i];

	for (unsigned int k = 0; k < j->ncalls; k++) {
		const struct call *c = &j->calls[k];

		if (c->type == CALL_MAP)
			assert_int_equal(gpuvm_pt_map(pt, c->addr, c->range,
						      c->pa, c->flags, resv),
					 0);
		else
			assert_int_equal(gpuvm_pt_unmap(pt, c->addr, c->range,
							c->type == CALL_KEEP
								? GPUVM_PT_KEEP
								: 0,
							resv),
					 0);
	}
}

/*
 * Runs the batch on @pt through stashes and on a twin through the
 * one-phase functions, comparing the two after every phase. Between the
 * fill and the final free every allocation would fail.
 */
static void run_batch_twins(bool in_section)
{
	struct gpuvm_pt *pt = pt_populated(), *twin = pt_populated();
	struct gpuvm_pt_resv resv[NR_BATCH], tresv[NR_BATCH];
	struct gpuvm_pt_stash s = GPUVM_PT_STASH_INIT;
	struct gpuvm_pt_stash back = GPUVM_PT_STASH_INIT;
	struct gpuvm_alloc_stats a0;
	size_t need = batch_cost(pt);
	struct gpuvm_pt_stats st;

	memset(resv, 0, sizeof(resv));
	memset(tresv, 0, sizeof(tresv));
	assert_int_equal(gpuvm_pt_stash_fill(pt, &s, need), 0);
	expect_stash(&s, pt, need);
	gpuvm_alloc_get_stats(&a0);
	gpuvm_alloc_fail_nth(1, true);
	if (in_section) {
		/* The default handler: any violation aborts. */
		gpuvm_set_violation_handler(NULL, NULL);
		gpuvm_fence_begin_signalling();
	}
	for (unsigned int i = 0; i < NR_BATCH; i++)
		assert_int_equal(gpuvm_pt_reserve_stash(
					 pt, batch[i].addr, batch[i].range,
					 batch[i].kind, &resv[i], &s),
				 0);
	if (in_section)
		gpuvm_fence_end_signalling();
	expect_no_alloc(&a0);
	/* The twin allocates; the run of both must not. */
	gpuvm_alloc_fail_nth(0, false);
	for (unsigned int i = 0; i < NR_BATCH; i++) {
		assert_int_equal(gpuvm_pt_reserve(twin, batch[i].addr,
						  batch[i].range, batch[i].kind,
						  &tresv[i]),
				 0);
		assert_int_equal(resv[i].tables, tresv[i].tables);
	}
	expect_same_but_stash(pt, twin);
	st = pt_stats(pt);
	/* Freshly populated, the pool held nothing beyond the floor. */
	assert_int_equal(st.tables_from_stash, need);
	expect_stash(&s, pt, 0);
	PT_CHECK(pt);

	gpuvm_alloc_get_stats(&a0);
	gpuvm_alloc_fail_nth(1, true);
	if (in_section)
		gpuvm_fence_begin_signalling();
	for (unsigned int i = 0; i < NR_BATCH; i++) {
		batch_run_job(pt, i, &resv[i]);
		batch_run_job(twin, i, &tresv[i]);
		assert_int_equal(resv[i].used, tresv[i].used);
	}
	PT_CHECK(pt);
	expect_same_but_stash(pt, twin);
	/* Out of order on purpose. */
	for (unsigned int i = NR_BATCH; i-- > 0;) {
		assert_int_equal(gpuvm_pt_release_stash(pt, &resv[i], &back),
				 0);
		assert_null(resv[i].pt);
	}
	if (in_section)
		gpuvm_fence_end_signalling();
	expect_no_alloc(&a0);
	gpuvm_alloc_fail_nth(0, false);
	for (unsigned int i = NR_BATCH; i-- > 0;)
		gpuvm_pt_release(twin, &tresv[i]);
	expect_same_but_stash(pt, twin);
	st = pt_stats(pt);
	assert_int_equal(st.tables_reserved, 0);
	assert_int_equal(st.tables_spare, 0);
	assert_int_equal(st.tables_to_stash, back.count);
	assert_true(back.count > 0);
	/* Only what the third job left far away is still mapped. */
	pt_expect_fault(pt, 0);
	pt_expect(pt, 5 * SZ_512G + SZ_2M - SZ_64K, 0x30000, SZ_64K, 0);
	assert_int_equal(st.tables_in_use, 1 + 1 + 1 + 2);
	gpuvm_pt_stash_free(pt, &back);
	gpuvm_pt_stash_free(pt, &s);
	pt_empty_and_free(pt);
	pt_empty_and_free(twin);
}

static void test_batch_without_allocator(void **state)
{
	(void)state;
	run_batch_twins(false);
}

static void test_batch_in_signalling_section(void **state)
{
	(void)state;
	run_batch_twins(true);
}

/* Filling and freeing a stash is reported in a section, always. */

static unsigned int violations;

static void count_violation(enum gpuvm_violation rule, const char *msg,
			    void *data)
{
	(void)msg;
	(void)data;
	assert_int_equal(rule, GPUVM_VIOLATION_ALLOC);
	violations++;
}

static void test_fill_free_reported(void **state)
{
	struct gpuvm_pt *pt;
	struct gpuvm_pt_stash s = GPUVM_PT_STASH_INIT;

	(void)state;
	if (!gpuvm_checks_enabled())
		skip();
	pt = pt_new(48, 0);
	assert_int_equal(gpuvm_pt_stash_fill(pt, &s, 2), 0);
	gpuvm_set_violation_handler(count_violation, NULL);
	violations = 0;
	gpuvm_fence_begin_signalling();
	/* Reported although it has nothing to allocate. */
	assert_int_equal(gpuvm_pt_stash_fill(pt, &s, 1), 0);
	assert_int_equal(violations, 1);
	gpuvm_pt_stash_free(pt, &s);
	assert_int_equal(violations, 2);
	gpuvm_fence_end_signalling();
	gpuvm_set_violation_handler(NULL, NULL);
	pt_free(pt);
}

/* Fault injection. */

static void test_fill_fail_nth(void **state)
{
	(void)state;
	for (int sticky = 0; sticky < 2; sticky++) {
		for (size_t held = 0; held < 3; held += 2) {
			struct gpuvm_pt *pt = pt_populated();
			struct gpuvm_pt_stash s = GPUVM_PT_STASH_INIT, s0;
			struct gpuvm_pt_resv r = GPUVM_PT_RESV_INIT;
			const uint64_t addr = SZ_512G - 8 * SZ_2M;
			const uint64_t range = 16 * SZ_2M;
			size_t cost = gpuvm_pt_reserve_cost(pt, addr, range, 0);
			uint64_t n;

			/* 16 level-0 tables, 2 level-1, 2 level-2. */
			assert_int_equal(cost, 20);
			assert_int_equal(gpuvm_pt_stash_fill(pt, &s, held), 0);
			for (n = 1;; n++) {
				struct snap sn;
				uint64_t live0 = tu_live_allocs();
				bool pending;
				int ret;

				snap_take(pt, &sn);
				s0 = s;
				gpuvm_alloc_fail_nth(n, sticky);
				ret = gpuvm_pt_stash_fill(pt, &s, held + cost);
				pending = gpuvm_alloc_fail_pending();
				gpuvm_alloc_fail_nth(0, false);
				if (!ret) {
					assert_true(pending);
					break;
				}
				assert_int_equal(ret, -ENOMEM);
				/* The tables held before are the same. */
				assert_memory_equal(&s, &s0, sizeof(s));
				assert_int_equal(tu_live_allocs(), live0);
				expect_snap(pt, &sn);
			}
			/* One failure per table the call had to add. */
			assert_int_equal(n - 1, cost);
			expect_stash(&s, pt, held + cost);
			/* The second phase cannot fail for lack of memory. */
			gpuvm_alloc_fail_nth(1, true);
			assert_int_equal(gpuvm_pt_reserve_stash(pt, addr, range,
								0, &r, &s),
					 0);
			expect_stash(&s, pt, held);
			assert_int_equal(gpuvm_pt_map(pt, addr, range,
						      0x40000000 + SZ_4K, 0,
						      &r),
					 0);
			/* The level-2 table below 512G was there already. */
			assert_int_equal(r.used, cost - 1);
			assert_int_equal(gpuvm_pt_release_stash(pt, &r, &s), 0);
			expect_stash(&s, pt, held + 1);
			gpuvm_alloc_fail_nth(0, false);
			pt_expect(pt, SZ_512G, 0x40000000 + SZ_4K + 8 * SZ_2M,
				  SZ_4K, 0);
			PT_CHECK(pt);
			gpuvm_pt_stash_free(pt, &s);
			pt_empty_and_free(pt);
		}
	}
}

/* The bind queue's pattern, from several threads on one page table. */

#define NR_THREADS 2
#define ROUNDS	   150

struct worker {
	struct gpuvm_pt *pt;
	struct gpuvm_mutex *lock;
	uint64_t base;
	int failures;
};

static void *worker_fn(void *arg)
{
	struct worker *w = arg;
	struct gpuvm_pt_stash s = GPUVM_PT_STASH_INIT;

	for (unsigned int i = 0; i < ROUNDS; i++) {
		uint64_t addr = w->base + (i % 7) * SZ_2M + (i % 3) * SZ_64K;
		uint64_t range = SZ_2M + (i % 5) * SZ_4K;
		struct gpuvm_pt_resv r = GPUVM_PT_RESV_INIT;
		/* Submit: sized and filled without the lock. */
		size_t cost = gpuvm_pt_reserve_cost(w->pt, addr, range, 0);

		if (gpuvm_pt_stash_fill(w->pt, &s, cost))
			w->failures++;
		gpuvm_mutex_lock(w->lock);
		if (gpuvm_pt_reserve_stash(w->pt, addr, range, 0, &r, &s))
			w->failures++;
		gpuvm_mutex_unlock(w->lock);
		/* Run, in a section, under the lock. */
		gpuvm_fence_begin_signalling();
		gpuvm_mutex_lock(w->lock);
		if (gpuvm_pt_map(w->pt, addr, range, addr, 0, &r))
			w->failures++;
		if (gpuvm_pt_unmap(w->pt, addr + SZ_64K, SZ_4K, 0, &r))
			w->failures++;
		if (gpuvm_pt_unmap(w->pt, addr, range, 0, &r))
			w->failures++;
		gpuvm_mutex_unlock(w->lock);
		gpuvm_fence_end_signalling();
		/* Cleanup: released under the lock, freed without it. */
		gpuvm_mutex_lock(w->lock);
		if (gpuvm_pt_release_stash(w->pt, &r, &s))
			w->failures++;
		gpuvm_mutex_unlock(w->lock);
		if (i % 4 == 3)
			gpuvm_pt_stash_free(w->pt, &s);
	}
	gpuvm_pt_stash_free(w->pt, &s);
	return NULL;
}

static void test_threads(void **state)
{
	struct gpuvm_pt *pt = pt_new(48, 0);
	struct gpuvm_mutex lock;
	struct worker w[NR_THREADS];
	pthread_t th[NR_THREADS];

	(void)state;
	gpuvm_mutex_init(&lock);
	/* Any allocation under the lock in a section aborts. */
	gpuvm_set_violation_handler(NULL, NULL);
	for (unsigned int i = 0; i < NR_THREADS; i++) {
		w[i] = (struct worker){ pt, &lock, (i + 1) * SZ_1G, 0 };
		assert_int_equal(pthread_create(&th[i], NULL, worker_fn, &w[i]),
				 0);
	}
	for (unsigned int i = 0; i < NR_THREADS; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(w[i].failures, 0);
	}
	gpuvm_mutex_fini(&lock);
	assert_true(pt_stats(pt).tables_from_stash > 0);
	pt_expect_live(pt, 0, 0, 0);
	gpuvm_pt_trim(pt);
	pt_free(pt);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		TU_TEST(test_fill_free),
		TU_TEST(test_reserve_release),
		TU_TEST(test_release_keep),
		TU_TEST(test_reserve_ranges),
		TU_TEST(test_short_stash),
		TU_TEST(test_budget),
		TU_TEST(test_args),
		TU_TEST(test_unsupported),
		TU_TEST(test_batch_without_allocator),
		TU_TEST(test_batch_in_signalling_section),
		TU_TEST(test_fill_free_reported),
		TU_TEST(test_fill_fail_nth),
		TU_TEST(test_threads),
	};

	tu_init(argc, argv, 1, 1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
