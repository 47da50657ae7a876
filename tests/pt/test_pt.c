// SPDX-License-Identifier: MIT
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
/*
 * Unit tests of the page-table layer and its software backend: page-size
 * choice at every alignment, splits, NULL mappings, the top of the VA space,
 * overwrites, keep, walks, reservations and their accounting, and argument
 * checks. Every test checks the backend's invariants and leaks nothing.
 */
#include "pttest.h"

/* Creation and empty tables. */

static void test_create(void **state)
{
	static const unsigned int bits[] = { 22, 30, 39, 47, 48, 49, 57 };
	struct gpuvm_pt *pt = NULL;

	(void)state;
	for (unsigned int i = 0; i < sizeof(bits) / sizeof(bits[0]); i++) {
		uint64_t top = UINT64_C(1) << bits[i];
		struct gpuvm_pt_stats st;

		pt = pt_new(bits[i], 0);
		assert_int_equal(pt->va_bits, bits[i]);
		st = pt_stats(pt);
		assert_int_equal(st.tables_in_use, 1);
		assert_int_equal(st.tables_allocated, 1);
		assert_int_equal(st.table_bytes, GPUVM_PT_TABLE_SIZE);
		pt_expect_fault(pt, 0);
		pt_expect_fault(pt, top - 1);
		pt_expect_fault(pt, top);
		pt_expect_fault(pt, UINT64_MAX);
		pt_free(pt);
	}
	assert_int_equal(gpuvm_pt_sw_create(21, 0, &pt), -EINVAL);
	assert_int_equal(gpuvm_pt_sw_create(58, 0, &pt), -EINVAL);
	assert_int_equal(gpuvm_pt_sw_create(48, 0, NULL), -EINVAL);
	gpuvm_pt_destroy(NULL);
}

/* Levels below the root: the tables a first 4K map creates. */
static void test_levels(void **state)
{
	static const struct {
		unsigned int bits, tables;
	} cases[] = { { 22, 2 }, { 30, 2 }, { 31, 3 },
		      { 39, 3 }, { 48, 4 }, { 57, 5 } };

	(void)state;
	for (unsigned int i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct gpuvm_pt *pt = pt_new(cases[i].bits, 0);
		uint64_t top = UINT64_C(1) << cases[i].bits;

		assert_int_equal(
			gpuvm_pt_map(pt, top - SZ_4K, SZ_4K, 0x5000, 0, NULL),
			0);
		assert_int_equal(pt_stats(pt).tables_in_use, cases[i].tables);
		assert_int_equal(gpuvm_pt_reserve_cost(pt, 0, SZ_4K, 0),
				 cases[i].tables - 1);
		pt_expect(pt, top - SZ_4K, 0x5000, SZ_4K, 0);
		pt_expect(pt, top - 1, 0x5fff, SZ_4K, 0);
		pt_expect_fault(pt, top - 2 * SZ_4K);
		PT_CHECK(pt);
		assert_int_equal(
			gpuvm_pt_unmap(pt, top - SZ_4K, SZ_4K, 0, NULL), 0);
		assert_int_equal(pt_stats(pt).tables_in_use, 1);
		pt_free(pt);
	}
}

/* Page sizes. */

struct fresh_case {
	uint64_t addr, range, pa;
	unsigned int flags;
	uint64_t n4k, n64k, n2m;
};

static void check_fresh(const struct fresh_case *c)
{
	struct gpuvm_pt *pt = pt_new(48, 0);
	bool null = c->flags & GPUVM_PT_NULL;
	uint64_t n4k, n64k, n2m;
	struct gpuvm_pt_stats st;

	pt_rule_counts(c->addr, c->range, c->pa, null, &n4k, &n64k, &n2m);
	assert_int_equal(n4k, c->n4k);
	assert_int_equal(n64k, c->n64k);
	assert_int_equal(n2m, c->n2m);
	assert_int_equal(
		gpuvm_pt_map(pt, c->addr, c->range, c->pa, c->flags, NULL), 0);
	PT_CHECK(pt);
	pt_expect_live(pt, c->n4k, c->n64k, c->n2m);
	st = pt_stats(pt);
	assert_int_equal(st.entries_written, c->n4k + 16 * c->n64k + c->n2m);
	assert_int_equal(st.pages_overwritten, 0);
	assert_int_equal(st.splits_2m + st.splits_64k, 0);
	pt_expect_fresh_map(pt, c->addr, c->range, c->pa, c->flags);
	assert_int_equal(gpuvm_pt_unmap(pt, c->addr, c->range, 0, NULL), 0);
	pt_expect_live(pt, 0, 0, 0);
	st = pt_stats(pt);
	assert_int_equal(st.entries_cleared, st.entries_written);
	assert_int_equal(st.tables_in_use, 1);
	pt_expect_fault(pt, c->addr);
	pt_free(pt);
}

static void test_page_sizes(void **state)
{
	const uint64_t b = 3 * SZ_1G; /* in the middle of a level-2 entry */
	const struct fresh_case cases[] = {
		/* One 4K page, aligned anything. */
		{ b, SZ_4K, 0x200000, 0, 1, 0, 0 },
		/* 64K: aligned, pa aligned; pa misaligned. */
		{ b + SZ_64K, SZ_64K, 0x30000, 0, 0, 1, 0 },
		{ b + SZ_64K, SZ_64K, 0x31000, 0, 16, 0, 0 },
		/* 64K range at a misaligned VA. */
		{ b + SZ_4K, SZ_64K, 0x1000, 0, 16, 0, 0 },
		/* 2M: aligned; pa 64K-aligned; pa 4K-aligned. */
		{ b, SZ_2M, 0x40000000, 0, 0, 0, 1 },
		{ b, SZ_2M, 0x40010000, 0, 0, 32, 0 },
		{ b, SZ_2M, 0x40001000, 0, 512, 0, 0 },
		/* 2M at a VA only 64K-aligned. */
		{ b + SZ_64K, SZ_2M, 0x10000, 0, 0, 32, 0 },
		/* Straddling 2M boundaries at 64K alignment. */
		{ b + SZ_2M - 2 * SZ_64K, SZ_2M + 5 * SZ_64K, 0x7e0000, 0, 0, 5,
		  1 },
		/* Straddling 64K boundaries at 4K alignment. */
		{ b + SZ_2M - SZ_64K - 3 * SZ_4K, SZ_2M + SZ_64K + 8 * SZ_4K,
		  0x1000000 - SZ_64K - 3 * SZ_4K, 0, 3 + 5, 1, 1 },
		/* Several 2M entries, then a tail. */
		{ b, 4 * SZ_2M + 3 * SZ_4K, 0x80000000, GPUVM_PT_READ_ONLY, 3,
		  0, 4 },
		/* pa congruent mod 64K but not mod 2M. */
		{ b, 2 * SZ_2M, 0x90000, GPUVM_PT_NO_EXEC, 0, 64, 0 },
		/* Flags travel. */
		{ b + SZ_4K, SZ_4K, 0x9000,
		  GPUVM_PT_READ_ONLY | GPUVM_PT_NO_EXEC | GPUVM_PT_UNCACHED, 1,
		  0, 0 },
		/* NULL mappings: only the VA counts. */
		{ b, 2 * SZ_2M, 0, GPUVM_PT_NULL, 0, 0, 2 },
		{ b + SZ_64K, SZ_2M, 0, GPUVM_PT_NULL, 0, 32, 0 },
		{ b + SZ_4K, SZ_2M, 0, GPUVM_PT_NULL | GPUVM_PT_READ_ONLY, 16,
		  31, 0 },
		/* Crossing a level-1 table (1G) boundary. */
		{ b - SZ_2M - SZ_4K, 2 * SZ_2M + 2 * SZ_4K,
		  0x40000000 - SZ_2M - SZ_4K, 0, 2, 0, 2 },
		/* The same at a pa aligned to 64K only. */
		{ b - SZ_2M - SZ_4K, 2 * SZ_2M + 2 * SZ_4K, 0x10000 - SZ_4K, 0,
		  2, 64, 0 },
		/* Crossing a level-2 table (512G) boundary. */
		{ (UINT64_C(1) << 39) - SZ_2M, 2 * SZ_2M, 0x200000, 0, 0, 0,
		  2 },
	};

	(void)state;
	for (unsigned int i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_fresh(&cases[i]);
}

/* A NULL mapping ignores its pa, even one that would be invalid. */
static void test_null(void **state)
{
	struct gpuvm_pt *pt = pt_new(48, 0);
	unsigned int f = GPUVM_PT_NULL;

	(void)state;
	assert_int_equal(gpuvm_pt_map(pt, SZ_2M, SZ_2M, 0x123, f, NULL), 0);
	pt_expect(pt, SZ_2M, 0, SZ_2M, f);
	pt_expect(pt, 2 * SZ_2M - 1, 0, SZ_2M, f);
	/* A split keeps the NULL nature of every piece. */
	assert_int_equal(gpuvm_pt_unmap(pt, SZ_2M + SZ_4K, SZ_4K, 0, NULL), 0);
	pt_expect(pt, SZ_2M, 0, SZ_4K, f);
	pt_expect_fault(pt, SZ_2M + SZ_4K);
	pt_expect(pt, SZ_2M + 2 * SZ_4K, 0, SZ_4K, f);
	pt_expect(pt, SZ_2M + SZ_64K, 0, SZ_64K, f);
	pt_expect_live(pt, 15, 31, 0);
	/* Replacing NULL with memory and back. */
	assert_int_equal(gpuvm_pt_map(pt, SZ_2M, SZ_2M, 0x400000, 0, NULL), 0);
	pt_expect(pt, SZ_2M + 5 * SZ_4K, 0x405000, SZ_2M, 0);
	assert_int_equal(gpuvm_pt_map(pt, SZ_2M, SZ_64K, 0, f, NULL), 0);
	pt_expect(pt, SZ_2M, 0, SZ_64K, f);
	pt_expect(pt, SZ_2M + SZ_64K, 0x410000, SZ_64K, 0);
	pt_free(pt);
}

/* Splits. */

static void test_split_2m(void **state)
{
	struct gpuvm_pt *pt = pt_new(48, 0);
	const uint64_t va = 5 * SZ_2M, pa = 0x40000000;
	struct gpuvm_pt_stats st;

	(void)state;
	assert_int_equal(gpuvm_pt_map(pt, va, SZ_2M, pa, 0, NULL), 0);
	assert_int_equal(pt_stats(pt).tables_in_use, 3);
	/* One 4K page out of the middle of a 64K part. */
	assert_int_equal(gpuvm_pt_unmap(pt, va + 0x23000, SZ_4K, 0, NULL), 0);
	PT_CHECK(pt);
	st = pt_stats(pt);
	assert_int_equal(st.splits_2m, 1);
	assert_int_equal(st.splits_64k, 1);
	assert_int_equal(st.tables_in_use, 4);
	pt_expect_live(pt, 15, 31, 0);
	for (uint64_t off = 0; off < SZ_2M; off += SZ_4K) {
		uint64_t g = off & ~(SZ_64K - 1);

		if (off == 0x23000)
			pt_expect_fault(pt, va + off);
		else
			pt_expect(pt, va + off, pa + off,
				  g == 0x20000 ? SZ_4K : SZ_64K, 0);
	}
	/* Cutting a whole 64K piece costs no further split. */
	assert_int_equal(gpuvm_pt_unmap(pt, va, SZ_64K, 0, NULL), 0);
	st = pt_stats(pt);
	assert_int_equal(st.splits_64k, 1);
	pt_expect_live(pt, 15, 30, 0);
	/* The rest goes, and the level-0 table with it. */
	assert_int_equal(gpuvm_pt_unmap(pt, va, SZ_2M, 0, NULL), 0);
	st = pt_stats(pt);
	pt_expect_live(pt, 0, 0, 0);
	assert_int_equal(st.tables_in_use, 1);
	pt_free(pt);
}

static void test_split_edges(void **state)
{
	struct gpuvm_pt *pt = pt_new(48, 0);
	const uint64_t va = SZ_1G, pa = 0x80000000;
	struct gpuvm_pt_stats st;

	(void)state;
	/* Three 2M entries; unmap a range that cuts the first and last. */
	assert_int_equal(gpuvm_pt_map(pt, va, 3 * SZ_2M, pa, 0, NULL), 0);
	pt_expect_live(pt, 0, 0, 3);
	assert_int_equal(gpuvm_pt_unmap(pt, va + SZ_2M - SZ_64K - SZ_4K,
					SZ_2M + 2 * SZ_64K + 2 * SZ_4K, 0,
					NULL),
			 0);
	PT_CHECK(pt);
	st = pt_stats(pt);
	assert_int_equal(st.splits_2m, 2);
	assert_int_equal(st.splits_64k, 2);
	pt_expect_live(pt, 15 + 15, 30 + 30, 0);
	pt_expect(pt, va, pa, SZ_64K, 0);
	pt_expect(pt, va + SZ_2M - SZ_64K - 2 * SZ_4K,
		  pa + SZ_2M - SZ_64K - 2 * SZ_4K, SZ_4K, 0);
	pt_expect_fault(pt, va + SZ_2M - SZ_64K - SZ_4K);
	pt_expect_fault(pt, va + 2 * SZ_2M + SZ_64K);
	pt_expect(pt, va + 2 * SZ_2M + SZ_64K + SZ_4K,
		  pa + 2 * SZ_2M + SZ_64K + SZ_4K, SZ_4K, 0);
	pt_expect(pt, va + 2 * SZ_2M + 2 * SZ_64K, pa + 2 * SZ_2M + 2 * SZ_64K,
		  SZ_64K, 0);
	/* The middle 2M entry's table slot is gone: 2 level-0 tables left. */
	assert_int_equal(st.tables_in_use, 3 + 2);
	assert_int_equal(gpuvm_pt_unmap(pt, va, 3 * SZ_2M, 0, NULL), 0);
	pt_free(pt);
}

static void test_split_64k(void **state)
{
	struct gpuvm_pt *pt = pt_new(48, 0);
	const uint64_t va = SZ_2M + 4 * SZ_64K, pa = 0x50000;

	(void)state;
	assert_int_equal(gpuvm_pt_map(pt, va, 2 * SZ_64K, pa, 0, NULL), 0);
	pt_expect_live(pt, 0, 2, 0);
	/* Unmap straddling the two 64K entries. */
	assert_int_equal(
		gpuvm_pt_unmap(pt, va + SZ_64K - SZ_4K, 2 * SZ_4K, 0, NULL), 0);
	PT_CHECK(pt);
	pt_expect_live(pt, 30, 0, 0);
	assert_int_equal(pt_stats(pt).splits_64k, 2);
	for (uint64_t off = 0; off < 2 * SZ_64K; off += SZ_4K) {
		if (off == SZ_64K - SZ_4K || off == SZ_64K)
			pt_expect_fault(pt, va + off);
		else
			pt_expect(pt, va + off, pa + off, SZ_4K, 0);
	}
	/* A partial unmap inside one 64K entry, both sides kept. */
	assert_int_equal(gpuvm_pt_map(pt, va, SZ_64K, pa, 0, NULL), 0);
	pt_expect_live(pt, 15, 1, 0);
	assert_int_equal(gpuvm_pt_unmap(pt, va + 2 * SZ_4K, 3 * SZ_4K, 0, NULL),
			 0);
	pt_expect_live(pt, 15 + 13, 0, 0);
	pt_expect(pt, va + SZ_4K, pa + SZ_4K, SZ_4K, 0);
	pt_expect_fault(pt, va + 4 * SZ_4K);
	pt_expect(pt, va + 5 * SZ_4K, pa + 5 * SZ_4K, SZ_4K, 0);
	pt_free(pt);
}

/* The top of the VA space, at 48 and 57 bits. */
static void test_top(void **state)
{
	static const unsigned int bits[] = { 48, 57 };

	(void)state;
	for (unsigned int i = 0; i < 2; i++) {
		struct gpuvm_pt *pt = pt_new(bits[i], 0);
		uint64_t top = UINT64_C(1) << bits[i];
		uint64_t pa = (UINT64_C(1) << GPUVM_PT_PA_BITS) - 2 * SZ_2M;

		assert_int_equal(gpuvm_pt_map(pt, top - 2 * SZ_2M, 2 * SZ_2M,
					      pa, 0, NULL),
				 0);
		pt_expect_fresh_map(pt, top - 2 * SZ_2M, 2 * SZ_2M, pa, 0);
		pt_expect_live(pt, 0, 0, 2);
		assert_int_equal(
			gpuvm_pt_unmap(pt, top - SZ_4K, SZ_4K, 0, NULL), 0);
		pt_expect_fault(pt, top - SZ_4K);
		pt_expect(pt, top - 2 * SZ_4K, pa + 2 * SZ_2M - 2 * SZ_4K,
			  SZ_4K, 0);
		PT_CHECK(pt);
		/* Beyond the end: rejected, not wrapped. */
		assert_int_equal(
			gpuvm_pt_map(pt, top - SZ_4K, 2 * SZ_4K, 0, 0, NULL),
			-EINVAL);
		assert_int_equal(gpuvm_pt_map(pt, top, SZ_4K, 0, 0, NULL),
				 -EINVAL);
		assert_int_equal(gpuvm_pt_unmap(pt, top, SZ_4K, 0, NULL),
				 -EINVAL);
		/* The whole space in one unmap. */
		assert_int_equal(gpuvm_pt_unmap(pt, 0, top, 0, NULL), 0);
		pt_expect_live(pt, 0, 0, 0);
		assert_int_equal(pt_stats(pt).tables_in_use, 1);
		pt_free(pt);
	}
}

/* Overwrites. */

static void test_overwrite(void **state)
{
	struct gpuvm_pt *pt = pt_new(48, 0);
	const uint64_t va = 8 * SZ_2M;
	struct gpuvm_pt_stats st, st2;

	(void)state;
	/* 4K entries over part of a 2M entry: split, then overwrite. */
	assert_int_equal(gpuvm_pt_map(pt, va, SZ_2M, 0x400000, 0, NULL), 0);
	assert_int_equal(gpuvm_pt_map(pt, va + SZ_4K, 2 * SZ_4K, 0x9000,
				      GPUVM_PT_READ_ONLY, NULL),
			 0);
	PT_CHECK(pt);
	st = pt_stats(pt);
	assert_int_equal(st.pages_overwritten, 2);
	assert_int_equal(st.splits_2m, 1);
	assert_int_equal(st.splits_64k, 1);
	pt_expect(pt, va, 0x400000, SZ_4K, 0);
	pt_expect(pt, va + SZ_4K, 0x9000, SZ_4K, GPUVM_PT_READ_ONLY);
	pt_expect(pt, va + 2 * SZ_4K, 0xa000, SZ_4K, GPUVM_PT_READ_ONLY);
	pt_expect(pt, va + 3 * SZ_4K, 0x403000, SZ_4K, 0);
	pt_expect(pt, va + SZ_64K, 0x410000, SZ_64K, 0);
	pt_expect_live(pt, 16, 31, 0);

	/* A 2M entry over that table: the table goes to the pool. */
	assert_int_equal(gpuvm_pt_map(pt, va, SZ_2M, 0x600000, 0, NULL), 0);
	PT_CHECK(pt);
	st2 = pt_stats(pt);
	assert_int_equal(st2.pages_overwritten - st.pages_overwritten, 512);
	assert_int_equal(st2.tables_in_use, 3);
	pt_expect_live(pt, 0, 0, 1);
	pt_expect(pt, va + 0x12345, 0x612345, SZ_2M, 0);

	/* Mapping the same thing again writes nothing. */
	st = pt_stats(pt);
	assert_int_equal(gpuvm_pt_map(pt, va, SZ_2M, 0x600000, 0, NULL), 0);
	st2 = pt_stats(pt);
	assert_int_equal(st2.entries_written, st.entries_written);
	assert_int_equal(st2.pages_unchanged - st.pages_unchanged, 512);
	/* Nor does part of it, even at a smaller page size. */
	assert_int_equal(
		gpuvm_pt_map(pt, va + SZ_4K, SZ_64K, 0x601000, 0, NULL), 0);
	st = pt_stats(pt);
	assert_int_equal(st.entries_written, st2.entries_written);
	assert_int_equal(st.splits_2m, st2.splits_2m);
	assert_int_equal(st.pages_unchanged - st2.pages_unchanged, 16);
	pt_expect_live(pt, 0, 0, 1);

	/* A whole-block map at a misaligned pa replaces the 2M entry. */
	assert_int_equal(gpuvm_pt_map(pt, va, SZ_2M, 0x601000, 0, NULL), 0);
	PT_CHECK(pt);
	st2 = pt_stats(pt);
	assert_int_equal(st2.splits_2m, st.splits_2m);
	assert_int_equal(st2.pages_overwritten - st.pages_overwritten, 512);
	pt_expect_live(pt, 512, 0, 0);
	pt_expect(pt, va + SZ_2M - 1, 0x601000 + SZ_2M - 1, SZ_4K, 0);

	/* 64K entries over 4K ones, and 4K ones into a 64K entry. */
	assert_int_equal(gpuvm_pt_map(pt, va, SZ_64K, 0x800000, 0, NULL), 0);
	pt_expect_live(pt, 496, 1, 0);
	assert_int_equal(gpuvm_pt_map(pt, va + SZ_4K, SZ_4K, 0x700000, 0, NULL),
			 0);
	pt_expect_live(pt, 512, 0, 0);
	pt_expect(pt, va, 0x800000, SZ_4K, 0);
	pt_expect(pt, va + SZ_4K, 0x700000, SZ_4K, 0);
	pt_expect(pt, va + 2 * SZ_4K, 0x802000, SZ_4K, 0);
	/* Identical pages inside a 64K entry leave it whole. */
	assert_int_equal(
		gpuvm_pt_map(pt, va + SZ_64K, SZ_64K, 0x900000, 0, NULL), 0);
	st = pt_stats(pt);
	assert_int_equal(
		gpuvm_pt_map(pt, va + SZ_64K + SZ_4K, SZ_4K, 0x901000, 0, NULL),
		0);
	st2 = pt_stats(pt);
	assert_int_equal(st2.splits_64k, st.splits_64k);
	assert_int_equal(st2.entries_written, st.entries_written);
	pt_expect(pt, va + SZ_64K + SZ_4K, 0x901000, SZ_64K, 0);
	/* But a flag change is not identical. */
	assert_int_equal(gpuvm_pt_map(pt, va + SZ_64K + SZ_4K, SZ_4K, 0x901000,
				      GPUVM_PT_READ_ONLY, NULL),
			 0);
	pt_expect(pt, va + SZ_64K + SZ_4K, 0x901000, SZ_4K, GPUVM_PT_READ_ONLY);
	pt_expect(pt, va + SZ_64K, 0x900000, SZ_4K, 0);
	assert_int_equal(pt_stats(pt).splits_64k, st.splits_64k + 1);
	PT_CHECK(pt);
	assert_int_equal(gpuvm_pt_unmap(pt, 0, SZ_1G, 0, NULL), 0);
	pt_free(pt);
}

/* keep: unmap that leaves entries in place, and counts them. */
static void test_keep(void **state)
{
	struct gpuvm_pt *pt = pt_new(48, 0);
	const uint64_t va = 4 * SZ_2M;
	struct gpuvm_pt_stats st, st2;
	struct gpuvm_pt_resv empty = GPUVM_PT_RESV_INIT;

	(void)state;
	/* One 2M entry, then a 64K entry and three 4K entries. */
	assert_int_equal(gpuvm_pt_map(pt, va, SZ_2M, 0x200000, 0, NULL), 0);
	assert_int_equal(gpuvm_pt_map(pt, va + SZ_2M, SZ_64K + 3 * SZ_4K,
				      0x410000, 0, NULL),
			 0);
	st = pt_stats(pt);
	/* Ends inside the 2M entry and inside the 4K run; a gap after. */
	assert_int_equal(gpuvm_pt_unmap(pt, va + SZ_2M - SZ_64K,
					2 * SZ_64K + 4 * SZ_4K, GPUVM_PT_KEEP,
					&empty),
			 0);
	st2 = pt_stats(pt);
	assert_int_equal(st2.kept_entries - st.kept_entries, 1 + 1 + 3);
	assert_int_equal(st2.kept_pages - st.kept_pages, 16 + 16 + 3);
	/* Nothing changed. */
	assert_int_equal(st2.entries_written, st.entries_written);
	assert_int_equal(st2.entries_cleared, st.entries_cleared);
	assert_int_equal(st2.splits_2m, st.splits_2m);
	assert_int_equal(st2.tables_in_use, st.tables_in_use);
	assert_null(empty.pt);
	pt_expect(pt, va + SZ_2M - SZ_4K, 0x200000 + SZ_2M - SZ_4K, SZ_2M, 0);
	pt_expect(pt, va + SZ_2M + SZ_64K, 0x420000, SZ_4K, 0);
	/* Keep over nothing counts nothing; without a reservation works. */
	assert_int_equal(gpuvm_pt_unmap(pt, SZ_1G, SZ_2M, GPUVM_PT_KEEP, NULL),
			 0);
	assert_int_equal(pt_stats(pt).kept_entries, st2.kept_entries);
	assert_int_equal(gpuvm_pt_unmap(pt, va, 2 * SZ_2M, 0, NULL), 0);
	pt_free(pt);
}

/* Walks report whole entries in order. */

struct walk_rec {
	uint64_t va[16], size[16], pa[16];
	unsigned int flags[16];
	unsigned int n, stop_at;
};

static int walk_fn(uint64_t va, uint64_t size, uint64_t pa, unsigned int flags,
		   void *data)
{
	struct walk_rec *w = data;

	assert_true(w->n < 16);
	w->va[w->n] = va;
	w->size[w->n] = size;
	w->pa[w->n] = pa;
	w->flags[w->n] = flags;
	w->n++;
	return w->n == w->stop_at ? 42 : 0;
}

static void test_walk(void **state)
{
	struct gpuvm_pt *pt = pt_new(48, 0);
	struct walk_rec w = { 0 };

	(void)state;
	assert_int_equal(gpuvm_pt_map(pt, SZ_2M - SZ_64K - SZ_4K,
				      SZ_2M + SZ_64K + 2 * SZ_4K,
				      0x400000 - SZ_64K - SZ_4K, 0, NULL),
			 0);
	assert_int_equal(gpuvm_pt_map(pt, SZ_1G, SZ_4K, 0, GPUVM_PT_NULL, NULL),
			 0);
	/* Starting in the middle of the 64K entry reports it whole. */
	assert_int_equal(
		gpuvm_pt_walk(pt, SZ_2M - SZ_64K + SZ_4K, SZ_1G, walk_fn, &w),
		0);
	assert_int_equal(w.n, 4);
	assert_int_equal(w.va[0], SZ_2M - SZ_64K);
	assert_int_equal(w.size[0], SZ_64K);
	assert_int_equal(w.pa[0], 0x400000 - SZ_64K);
	assert_int_equal(w.va[1], SZ_2M);
	assert_int_equal(w.size[1], SZ_2M);
	assert_int_equal(w.pa[1], 0x400000);
	assert_int_equal(w.va[2], 2 * SZ_2M);
	assert_int_equal(w.size[2], SZ_4K);
	assert_int_equal(w.pa[2], 0x600000);
	assert_int_equal(w.va[3], SZ_1G);
	assert_int_equal(w.flags[3], GPUVM_PT_NULL);
	assert_int_equal(w.pa[3], 0);
	/* A non-zero return stops the walk. */
	memset(&w, 0, sizeof(w));
	w.stop_at = 2;
	assert_int_equal(gpuvm_pt_walk(pt, 0, SZ_1G + SZ_4K, walk_fn, &w), 42);
	assert_int_equal(w.n, 2);
	/* A NULL 64K entry entered in its middle reports pa 0. */
	assert_int_equal(gpuvm_pt_map(pt, SZ_1G + SZ_64K, SZ_64K, 0,
				      GPUVM_PT_NULL, NULL),
			 0);
	memset(&w, 0, sizeof(w));
	assert_int_equal(gpuvm_pt_walk(pt, SZ_1G + SZ_64K + 5 * SZ_4K, SZ_4K,
				       walk_fn, &w),
			 0);
	assert_int_equal(w.n, 1);
	assert_int_equal(w.va[0], SZ_1G + SZ_64K);
	assert_int_equal(w.size[0], SZ_64K);
	assert_int_equal(w.pa[0], 0);
	assert_int_equal(w.flags[0], GPUVM_PT_NULL);
	assert_int_equal(gpuvm_pt_walk(pt, 1, SZ_4K, walk_fn, &w), -EINVAL);
	assert_int_equal(gpuvm_pt_walk(pt, 0, SZ_4K, NULL, &w), -EINVAL);
	assert_int_equal(gpuvm_pt_unmap(pt, 0, 2 * SZ_1G, 0, NULL), 0);
	pt_free(pt);
}

/* Reservations. */

static void test_reserve_cost(void **state)
{
	struct gpuvm_pt *pt48 = pt_new(48, 0), *pt57 = pt_new(57, 0);
	const unsigned int U = GPUVM_PT_RESV_UNMAP;

	(void)state;
	/* One level-0, level-1 and level-2 table. */
	assert_int_equal(gpuvm_pt_reserve_cost(pt48, SZ_1G, SZ_4K, 0), 3);
	assert_int_equal(gpuvm_pt_reserve_cost(pt57, SZ_1G, SZ_4K, 0), 4);
	/* Two level-0 tables. */
	assert_int_equal(
		gpuvm_pt_reserve_cost(pt48, SZ_2M - SZ_4K, 2 * SZ_4K, 0), 4);
	/* Two level-0 and two level-1 tables across a 1G boundary. */
	assert_int_equal(
		gpuvm_pt_reserve_cost(pt48, SZ_1G - SZ_4K, 2 * SZ_4K, 0), 5);
	/* 1G aligned: 512 level-0 tables, one level-1, one level-2. */
	assert_int_equal(gpuvm_pt_reserve_cost(pt48, SZ_1G, SZ_1G, 0), 514);
	/* Unmap-only: one per 2M block, at most three. */
	assert_int_equal(gpuvm_pt_reserve_cost(pt48, SZ_4K, SZ_4K, U), 1);
	assert_int_equal(gpuvm_pt_reserve_cost(pt48, 0, SZ_2M, U), 1);
	assert_int_equal(gpuvm_pt_reserve_cost(pt48, SZ_4K, SZ_2M, U), 2);
	assert_int_equal(gpuvm_pt_reserve_cost(pt48, 0, 3 * SZ_2M, U), 3);
	assert_int_equal(gpuvm_pt_reserve_cost(pt48, 0, UINT64_C(1) << 48, U),
			 3);
	/* The whole 48-bit space: every table below the root. */
	assert_int_equal(gpuvm_pt_reserve_cost(pt48, 0, UINT64_C(1) << 48, 0),
			 (UINT64_C(1) << 27) + (UINT64_C(1) << 18) + 512);
	/* Invalid arguments cost nothing. */
	assert_int_equal(gpuvm_pt_reserve_cost(pt48, 1, SZ_4K, 0), 0);
	assert_int_equal(gpuvm_pt_reserve_cost(pt48, 0, 0, 0), 0);
	assert_int_equal(gpuvm_pt_reserve_cost(pt48, 0, SZ_4K, 4), 0);
	pt_free(pt48);
	pt_free(pt57);
}

static void test_reserve_release(void **state)
{
	struct gpuvm_pt *pt = pt_new(48, 0);
	struct gpuvm_pt_resv a = GPUVM_PT_RESV_INIT, b = GPUVM_PT_RESV_INIT;
	struct gpuvm_pt_stats st;

	(void)state;
	assert_int_equal(gpuvm_pt_reserve(pt, SZ_1G, SZ_4K, 0, &a), 0);
	assert_ptr_equal(a.pt, pt);
	assert_int_equal(a.tables, 3);
	assert_int_equal(gpuvm_pt_reserve(pt, SZ_1G + SZ_2M, SZ_4K, 0, &a), 0);
	assert_int_equal(a.tables, 6);
	assert_int_equal(
		gpuvm_pt_reserve(pt, 0, SZ_2M, GPUVM_PT_RESV_UNMAP, &b), 0);
	assert_int_equal(b.tables, 1);
	st = pt_stats(pt);
	assert_int_equal(st.tables_reserved, 7);
	assert_int_equal(st.tables_spare, 7);
	PT_CHECK(pt);

	/* a's first map takes three tables; its second only one. */
	assert_int_equal(gpuvm_pt_map(pt, SZ_1G, SZ_4K, 0, 0, &a), 0);
	assert_int_equal(a.used, 3);
	assert_int_equal(gpuvm_pt_map(pt, SZ_1G + SZ_2M, SZ_4K, 0, 0, &a), 0);
	assert_int_equal(a.used, 4);
	st = pt_stats(pt);
	assert_int_equal(st.tables_reserved, 2 + 1);
	assert_int_equal(st.tables_spare, 3);
	PT_CHECK(pt);
	/* An unmap that empties tables gives them back to a. */
	assert_int_equal(gpuvm_pt_unmap(pt, SZ_1G + SZ_2M, SZ_4K, 0, &a), 0);
	assert_int_equal(a.used, 3);
	assert_int_equal(pt_stats(pt).tables_reserved, 3 + 1);
	gpuvm_pt_release(pt, &a);
	assert_null(a.pt);
	assert_int_equal(a.tables, 0);
	st = pt_stats(pt);
	assert_int_equal(st.tables_reserved, 1);
	assert_int_equal(st.tables_spare, 1);
	assert_int_equal(st.tables_in_use, 4);
	PT_CHECK(pt);
	/* Releasing an empty reservation is a no-op. */
	gpuvm_pt_release(pt, &a);
	gpuvm_pt_release(pt, NULL);

	/* Tables emptied without a reservation to credit stay spare. */
	assert_int_equal(gpuvm_pt_unmap(pt, SZ_1G, SZ_4K, 0, &a), 0);
	st = pt_stats(pt);
	assert_int_equal(st.tables_in_use, 1);
	assert_int_equal(st.tables_spare, 4);
	gpuvm_pt_trim(pt);
	st = pt_stats(pt);
	assert_int_equal(st.tables_spare, 1);
	gpuvm_pt_release(pt, &b);
	assert_int_equal(pt_stats(pt).tables_spare, 0);
	assert_int_equal(pt_stats(pt).tables_reserved, 0);
	pt_free(pt);
}

/*
 * The unmap-only worst case: ascending pieces that each end inside a 2M
 * entry. The first piece splits the first and second blocks; the second
 * piece needs a third table for its own end before it empties the second
 * block.
 */
static void test_reserve_unmap_worst(void **state)
{
	struct gpuvm_pt *pt = pt_new(48, 0);
	struct gpuvm_pt_resv r = GPUVM_PT_RESV_INIT;
	const uint64_t half = SZ_2M / 2;
	struct gpuvm_pt_stats st;

	(void)state;
	assert_int_equal(gpuvm_pt_map(pt, 0, 4 * SZ_2M, 0, 0, NULL), 0);
	assert_int_equal(
		gpuvm_pt_reserve(pt, half, 3 * SZ_2M, GPUVM_PT_RESV_UNMAP, &r),
		0);
	assert_int_equal(r.tables, 3);
	assert_int_equal(gpuvm_pt_unmap(pt, half, SZ_2M, 0, &r), 0);
	assert_int_equal(r.used, 2);
	/* Takes a third table, then frees the second block's. */
	assert_int_equal(gpuvm_pt_unmap(pt, half + SZ_2M, SZ_2M, 0, &r), 0);
	assert_int_equal(r.used, 2);
	assert_int_equal(gpuvm_pt_unmap(pt, half + 2 * SZ_2M, SZ_2M, 0, &r), 0);
	assert_int_equal(r.used, 2);
	st = pt_stats(pt);
	assert_int_equal(st.splits_2m, 4);
	pt_expect_live(pt, 0, 32, 0);
	/* What is left: the first half of block 0, the second of block 3. */
	pt_expect(pt, half - SZ_4K, half - SZ_4K, SZ_64K, 0);
	pt_expect_fault(pt, half);
	pt_expect_fault(pt, 3 * SZ_2M + half - SZ_4K);
	pt_expect(pt, 3 * SZ_2M + half, 3 * SZ_2M + half, SZ_64K, 0);
	PT_CHECK(pt);
	gpuvm_pt_release(pt, &r);
	assert_int_equal(gpuvm_pt_unmap(pt, 0, SZ_1G, 0, NULL), 0);
	pt_free(pt);
}

/* A call its reservation does not cover is refused and changes nothing. */
static void test_reserve_refused(void **state)
{
	struct gpuvm_pt *pt = pt_new(48, 0);
	struct gpuvm_pt_resv r = GPUVM_PT_RESV_INIT;
	struct gpuvm_pt_stats st;

	(void)state;
	tu_expect_warnings(3);
	assert_int_equal(gpuvm_pt_map(pt, 0, SZ_4K, 0, 0, &r), -ENOSPC);
	assert_int_equal(pt_stats(pt).resv_refused, 1);
	pt_expect_fault(pt, 0);
	/* An unmap-only reservation does not cover a map. */
	assert_int_equal(
		gpuvm_pt_reserve(pt, 0, SZ_4K, GPUVM_PT_RESV_UNMAP, &r), 0);
	assert_int_equal(gpuvm_pt_map(pt, 0, SZ_4K, 0, 0, &r), -ENOSPC);
	st = pt_stats(pt);
	assert_int_equal(st.tables_in_use, 1);
	assert_int_equal(st.entries_written, 0);
	assert_int_equal(r.used, 0);
	gpuvm_pt_release(pt, &r);
	/* An unmap-only reservation covers a split, not a new table. */
	assert_int_equal(gpuvm_pt_map(pt, 0, SZ_2M, 0, 0, NULL), 0);
	assert_int_equal(
		gpuvm_pt_reserve(pt, SZ_1G, SZ_4K, GPUVM_PT_RESV_UNMAP, &r), 0);
	assert_int_equal(r.tables, 1);
	assert_int_equal(gpuvm_pt_unmap(pt, 0, SZ_4K, 0, &r), 0);
	assert_int_equal(r.used, 1);
	assert_int_equal(gpuvm_pt_unmap(pt, SZ_64K, SZ_4K, 0, &r), 0);
	assert_int_equal(r.used, 1);
	st = pt_stats(pt);
	assert_int_equal(gpuvm_pt_map(pt, 3 * SZ_2M, SZ_4K, 0, 0, &r), -ENOSPC);
	assert_int_equal(pt_stats(pt).entries_written, st.entries_written);
	assert_int_equal(pt_stats(pt).tables_in_use, st.tables_in_use);
	pt_expect_fault(pt, 3 * SZ_2M);
	assert_int_equal(pt_stats(pt).resv_refused, 3);
	PT_CHECK(pt);
	gpuvm_pt_release(pt, &r);
	assert_int_equal(gpuvm_pt_unmap(pt, 0, SZ_1G, 0, NULL), 0);
	pt_free(pt);
}

/* The table budget. */
static void test_budget(void **state)
{
	struct gpuvm_pt *pt = pt_new(48, 4);
	struct gpuvm_pt_resv r = GPUVM_PT_RESV_INIT;
	struct gpuvm_pt_stats st;

	(void)state;
	assert_int_equal(gpuvm_pt_reserve(pt, 0, SZ_4K, 0, &r), 0);
	st = pt_stats(pt);
	assert_int_equal(gpuvm_pt_reserve(pt, 0, SZ_4K, 0, &r), -ENOMEM);
	assert_int_equal(r.tables, 3);
	assert_int_equal(pt_stats(pt).tables_allocated, st.tables_allocated);
	assert_int_equal(gpuvm_pt_map(pt, 0, SZ_4K, 0x1000, 0, &r), 0);
	gpuvm_pt_release(pt, &r);
	/* Full: a map elsewhere cannot get its tables. */
	assert_int_equal(gpuvm_pt_map(pt, SZ_1G, SZ_4K, 0, 0, NULL), -ENOMEM);
	pt_expect_fault(pt, SZ_1G);
	/* But the same level-0 table still takes more pages. */
	assert_int_equal(gpuvm_pt_map(pt, SZ_4K, SZ_4K, 0x2000, 0, NULL), 0);
	pt_expect(pt, SZ_4K, 0x2000, SZ_4K, 0);
	assert_int_equal(gpuvm_pt_unmap(pt, 0, SZ_2M, 0, NULL), 0);
	pt_free(pt);

	/* A budget of one table: the root alone. */
	pt = pt_new(48, 1);
	assert_int_equal(gpuvm_pt_map(pt, 0, SZ_4K, 0, 0, NULL), -ENOMEM);
	pt_free(pt);
}

/* Arguments. */
static void test_args(void **state)
{
	struct gpuvm_pt *pt = pt_new(48, 0), *other = pt_new(48, 0);
	struct gpuvm_pt_resv r = GPUVM_PT_RESV_INIT;
	const uint64_t pa_end = UINT64_C(1) << GPUVM_PT_PA_BITS;

	(void)state;
	assert_int_equal(gpuvm_pt_map(pt, 1, SZ_4K, 0, 0, NULL), -EINVAL);
	assert_int_equal(gpuvm_pt_map(pt, 0, SZ_4K + 1, 0, 0, NULL), -EINVAL);
	assert_int_equal(gpuvm_pt_map(pt, 0, 0, 0, 0, NULL), -EINVAL);
	assert_int_equal(gpuvm_pt_map(pt, 0, SZ_4K, 0x800, 0, NULL), -EINVAL);
	assert_int_equal(gpuvm_pt_map(pt, 0, SZ_4K, 0, 1u << 4, NULL), -EINVAL);
	assert_int_equal(gpuvm_pt_map(pt, 0, SZ_4K, pa_end, 0, NULL), -EINVAL);
	assert_int_equal(
		gpuvm_pt_map(pt, 0, 2 * SZ_4K, pa_end - SZ_4K, 0, NULL),
		-EINVAL);
	assert_int_equal(gpuvm_pt_map(pt, 0, SZ_4K, pa_end - SZ_4K, 0, NULL),
			 0);
	pt_expect(pt, 0, pa_end - SZ_4K, SZ_4K, 0);
	assert_int_equal(
		gpuvm_pt_map(pt, UINT64_MAX - SZ_4K + 1, SZ_4K, 0, 0, NULL),
		-EINVAL);
	assert_int_equal(
		gpuvm_pt_map(pt, SZ_4K, UINT64_MAX - SZ_4K + 1, 0, 0, NULL),
		-EINVAL);
	assert_int_equal(gpuvm_pt_unmap(pt, 0, SZ_4K, 2, NULL), -EINVAL);
	assert_int_equal(gpuvm_pt_unmap(pt, 0, 0, 0, NULL), -EINVAL);
	assert_int_equal(gpuvm_pt_reserve(pt, 0, SZ_4K, 0, NULL), -EINVAL);
	assert_int_equal(gpuvm_pt_reserve(pt, 0, SZ_4K, 2, &r), -EINVAL);
	assert_int_equal(gpuvm_pt_reserve(pt, 0, 0, 0, &r), -EINVAL);
	assert_null(r.pt);
	/* A reservation belongs to one page table. */
	assert_int_equal(gpuvm_pt_reserve(other, 0, SZ_4K, 0, &r), 0);
	assert_int_equal(gpuvm_pt_reserve(pt, 0, SZ_4K, 0, &r), -EINVAL);
	assert_int_equal(gpuvm_pt_map(pt, 0, SZ_4K, 0, 0, &r), -EINVAL);
	assert_int_equal(gpuvm_pt_unmap(pt, 0, SZ_4K, 0, &r), -EINVAL);
	tu_expect_warnings(1);
	gpuvm_pt_release(pt, &r);
	assert_ptr_equal(r.pt, other);
	gpuvm_pt_release(other, &r);
	/* Destroying with a reservation outstanding warns and frees. */
	assert_int_equal(gpuvm_pt_reserve(other, 0, SZ_4K, 0, &r), 0);
	tu_expect_warnings(1);
	gpuvm_pt_destroy(other);
	assert_int_equal(gpuvm_pt_unmap(pt, 0, SZ_4K, 0, NULL), 0);
	pt_free(pt);
}

/* A user backend plugs in through gpuvm_pt_init(). */

static size_t null_cost(const struct gpuvm_pt *pt, uint64_t a, uint64_t r,
			unsigned int k)
{
	(void)pt;
	(void)a;
	(void)k;
	return (size_t)(r / SZ_4K);
}

static int null_reserve(struct gpuvm_pt *pt, uint64_t a, uint64_t r,
			unsigned int k, struct gpuvm_pt_resv *resv)
{
	resv->pt = pt;
	resv->tables += null_cost(pt, a, r, k);
	return 0;
}

static int null_map(struct gpuvm_pt *pt, uint64_t a, uint64_t r, uint64_t pa,
		    unsigned int f, struct gpuvm_pt_resv *resv)
{
	(void)pt;
	(void)a;
	(void)r;
	(void)pa;
	(void)f;
	return !resv || resv->tables ? 0 : -ENOSPC;
}

static int null_unmap(struct gpuvm_pt *pt, uint64_t a, uint64_t r,
		      unsigned int f, struct gpuvm_pt_resv *resv)
{
	(void)pt;
	(void)a;
	(void)r;
	(void)f;
	(void)resv;
	return 0;
}

static void null_release(struct gpuvm_pt *pt, struct gpuvm_pt_resv *resv)
{
	(void)pt;
	(void)resv;
}

static void null_trim(struct gpuvm_pt *pt)
{
	(void)pt;
}

static int null_translate(const struct gpuvm_pt *pt, uint64_t va, uint64_t *pa,
			  uint64_t *s, unsigned int *f)
{
	(void)pt;
	*pa = va;
	*s = SZ_4K;
	*f = 0;
	return 0;
}

static void null_stats(const struct gpuvm_pt *pt, struct gpuvm_pt_stats *st)
{
	(void)pt;
	st->live_4k = 7;
}

static void null_destroy(struct gpuvm_pt *pt)
{
	(void)pt;
}

static void test_custom_backend(void **state)
{
	struct gpuvm_pt_ops ops = {
		.reserve_cost = null_cost,
		.reserve = null_reserve,
		.map = null_map,
		.unmap = null_unmap,
		.release = null_release,
		.trim = null_trim,
		.translate = null_translate,
		.get_stats = null_stats,
		.destroy = null_destroy,
	};
	struct gpuvm_pt pt;
	uint64_t pa;

	(void)state;
	assert_int_equal(gpuvm_pt_init(&pt, &ops, 0), -EINVAL);
	assert_int_equal(gpuvm_pt_init(&pt, &ops, 65), -EINVAL);
	assert_int_equal(gpuvm_pt_init(&pt, &ops, 64), 0);
	/* As in GPUVM, a range's end must be representable. */
	assert_int_equal(
		gpuvm_pt_map(&pt, UINT64_MAX - SZ_4K + 1, SZ_4K, 0, 0, NULL),
		-EINVAL);
	assert_int_equal(gpuvm_pt_map(&pt, UINT64_MAX - 2 * SZ_4K + 1, SZ_4K, 0,
				      0, NULL),
			 0);
	assert_int_equal(gpuvm_pt_translate(&pt, UINT64_MAX, &pa, NULL, NULL),
			 0);
	assert_int_equal(pa, UINT64_MAX);
	assert_int_equal(pt_stats(&pt).live_4k, 7);
	assert_int_equal(gpuvm_pt_walk(&pt, 0, SZ_4K, walk_fn, NULL),
			 -EOPNOTSUPP);
	assert_int_equal(gpuvm_pt_check(&pt, NULL, 0), 0);
	ops.trim = NULL;
	assert_int_equal(gpuvm_pt_init(&pt, &ops, 48), -EINVAL);
	assert_int_equal(gpuvm_pt_init(&pt, NULL, 48), -EINVAL);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		TU_TEST(test_create),
		TU_TEST(test_levels),
		TU_TEST(test_page_sizes),
		TU_TEST(test_null),
		TU_TEST(test_split_2m),
		TU_TEST(test_split_edges),
		TU_TEST(test_split_64k),
		TU_TEST(test_top),
		TU_TEST(test_overwrite),
		TU_TEST(test_keep),
		TU_TEST(test_walk),
		TU_TEST(test_reserve_cost),
		TU_TEST(test_reserve_release),
		TU_TEST(test_reserve_unmap_worst),
		TU_TEST(test_reserve_refused),
		TU_TEST(test_budget),
		TU_TEST(test_args),
		TU_TEST(test_custom_backend),
	};

	tu_init(argc, argv, 1, 1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
