// SPDX-License-Identifier: MIT
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
/*
 * Allocation discipline of the page-table layer:
 *
 * - after reserving for a batch of jobs, their maps and unmaps succeed with
 *   every allocation made to fail, and attempt none;
 * - they also run inside a fence-signalling section with the default
 *   violation handler, which aborts the process on any allocation;
 * - the functions that may allocate are reported inside a section even
 *   when they happen not to allocate;
 * - reserve, create and the one-shot map and unmap fail with -ENOMEM for
 *   every N of "fail the Nth allocation", leaving the page table and every
 *   counter as they were and leaking nothing.
 */
#include "pttest.h"

#include <gpuvm/fence.h>
#include <gpuvm/mutex.h>

/* A page table with a bit of everything in [0, 8M) and around 1G. */
static struct gpuvm_pt *pt_populated(void)
{
	struct gpuvm_pt *pt = pt_new(48, 0);

	assert_int_equal(gpuvm_pt_map(pt, 0, 2 * SZ_2M, 0x400000, 0, NULL), 0);
	assert_int_equal(gpuvm_pt_map(pt, 2 * SZ_2M + SZ_64K, SZ_2M, 0x810000,
				      GPUVM_PT_READ_ONLY, NULL),
			 0);
	assert_int_equal(gpuvm_pt_map(pt, 3 * SZ_2M + 5 * SZ_4K, 7 * SZ_4K,
				      0x3000, 0, NULL),
			 0);
	assert_int_equal(gpuvm_pt_map(pt, SZ_1G - SZ_2M, 2 * SZ_2M, 0,
				      GPUVM_PT_NULL, NULL),
			 0);
	PT_CHECK(pt);
	return pt;
}

static void pt_empty_and_free(struct gpuvm_pt *pt)
{
	assert_int_equal(gpuvm_pt_unmap(pt, 0, UINT64_C(1) << 48, 0, NULL), 0);
	pt_expect_live(pt, 0, 0, 0);
	pt_free(pt);
}

/* A batch of jobs, each a reservation and the calls it covers. */

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
	struct gpuvm_pt_resv resv;
};

static struct batch_job batch[] = {
	/* Re-map the first 2M entry elsewhere at 4K granularity. */
	{ 0,
	  SZ_2M,
	  0,
	  { { CALL_UNMAP, 0, SZ_2M, 0, 0 },
	    { CALL_MAP, 0, SZ_2M, 0x1001000, 0 } },
	  2,
	  GPUVM_PT_RESV_INIT },
	/* Punch holes that split 2M and 64K entries. */
	{ SZ_2M + 3 * SZ_4K,
	  3 * SZ_2M,
	  GPUVM_PT_RESV_UNMAP,
	  { { CALL_UNMAP, SZ_2M + 3 * SZ_4K, SZ_2M, 0, 0 },
	    { CALL_UNMAP, 2 * SZ_2M + 3 * SZ_4K, SZ_2M, 0, 0 },
	    { CALL_UNMAP, 3 * SZ_2M + 3 * SZ_4K, SZ_2M, 0, 0 } },
	  3,
	  GPUVM_PT_RESV_INIT },
	/* New tables at every level, far away. */
	{ UINT64_C(5) << 39,
	  SZ_2M + SZ_64K,
	  0,
	  { { CALL_MAP, UINT64_C(5) << 39, SZ_2M + SZ_64K, 0x200000, 0 },
	    { CALL_UNMAP, (UINT64_C(5) << 39) + SZ_4K, SZ_4K, 0, 0 },
	    { CALL_KEEP, UINT64_C(5) << 39, SZ_2M, 0, 0 },
	    { CALL_MAP, (UINT64_C(5) << 39) + SZ_4K, SZ_4K, 0x201000, 0 } },
	  4,
	  GPUVM_PT_RESV_INIT },
	/* Across the 1G boundary: split NULL 2M entries and overwrite. */
	{ SZ_1G - SZ_64K,
	  2 * SZ_64K,
	  0,
	  { { CALL_MAP, SZ_1G - SZ_64K, 2 * SZ_64K, 0x7770000, 0 },
	    { CALL_KEEP, SZ_1G - SZ_4K, 2 * SZ_4K, 0, 0 } },
	  2,
	  GPUVM_PT_RESV_INIT },
	/* Unmap everything the jobs before may have left. */
	{ 0,
	  2 * SZ_1G,
	  GPUVM_PT_RESV_UNMAP,
	  { { CALL_UNMAP, 0, 2 * SZ_1G, 0, 0 } },
	  1,
	  GPUVM_PT_RESV_INIT },
	{ UINT64_C(5) << 39,
	  2 * SZ_2M,
	  GPUVM_PT_RESV_UNMAP,
	  { { CALL_UNMAP, UINT64_C(5) << 39, SZ_2M - SZ_4K, 0, 0 },
	    { CALL_UNMAP, (UINT64_C(5) << 39) + SZ_2M - SZ_4K, SZ_2M + SZ_4K, 0,
	      0 } },
	  2,
	  GPUVM_PT_RESV_INIT },
};

#define NR_BATCH (sizeof(batch) / sizeof(batch[0]))

static void batch_reserve(struct gpuvm_pt *pt)
{
	for (unsigned int i = 0; i < NR_BATCH; i++) {
		memset(&batch[i].resv, 0, sizeof(batch[i].resv));
		assert_int_equal(gpuvm_pt_reserve(pt, batch[i].addr,
						  batch[i].range, batch[i].kind,
						  &batch[i].resv),
				 0);
	}
}

/* The run path: must not allocate. Returns the first error. */
static int batch_run(struct gpuvm_pt *pt)
{
	for (unsigned int i = 0; i < NR_BATCH; i++) {
		struct batch_job *j = &batch[i];

		for (unsigned int k = 0; k < j->ncalls; k++) {
			const struct call *c = &j->calls[k];
			int ret;

			if (c->type == CALL_MAP)
				ret = gpuvm_pt_map(pt, c->addr, c->range, c->pa,
						   c->flags, &j->resv);
			else
				ret = gpuvm_pt_unmap(pt, c->addr, c->range,
						     c->type == CALL_KEEP
							     ? GPUVM_PT_KEEP
							     : 0,
						     &j->resv);
			if (ret)
				return ret;
		}
	}
	return 0;
}

static void batch_release(struct gpuvm_pt *pt)
{
	/* Out of order on purpose. */
	for (unsigned int i = NR_BATCH; i-- > 0;)
		gpuvm_pt_release(pt, &batch[i].resv);
	assert_int_equal(pt_stats(pt).tables_reserved, 0);
}

static void test_run_without_allocator(void **state)
{
	struct gpuvm_pt *pt = pt_populated();
	struct gpuvm_alloc_stats a0, a1;
	struct gpuvm_pt_stats st;

	(void)state;
	batch_reserve(pt);
	PT_CHECK(pt);
	gpuvm_alloc_get_stats(&a0);
	gpuvm_alloc_fail_nth(1, true);
	assert_int_equal(batch_run(pt), 0);
	gpuvm_alloc_fail_nth(0, false);
	gpuvm_alloc_get_stats(&a1);
	/* Not one allocation was even attempted, nor a free made. */
	assert_int_equal(a1.total_allocs, a0.total_allocs);
	assert_int_equal(a1.failed_allocs, a0.failed_allocs);
	assert_int_equal(a1.live_allocs, a0.live_allocs);
	PT_CHECK(pt);
	st = pt_stats(pt);
	assert_true(st.splits_2m >= 3);
	assert_true(st.splits_64k >= 1);
	assert_int_equal(st.tables_in_use, 1);
	pt_expect_fault(pt, 0);
	batch_release(pt);
	assert_int_equal(pt_stats(pt).tables_spare, 0);
	pt_empty_and_free(pt);
}

static void test_run_in_signalling_section(void **state)
{
	struct gpuvm_pt *pt = pt_populated();

	(void)state;
	batch_reserve(pt);
	/* The default handler: any allocation aborts the process. */
	gpuvm_set_violation_handler(NULL, NULL);
	gpuvm_fence_begin_signalling();
	assert_true(gpuvm_in_signalling_section());
	assert_int_equal(batch_run(pt), 0);
	/* Reading is fine in a section too. */
	assert_int_equal(gpuvm_pt_translate(pt, 0, NULL, NULL, NULL), -EFAULT);
	PT_CHECK(pt);
	gpuvm_fence_end_signalling();
	batch_release(pt);
	pt_empty_and_free(pt);
}

/* Functions that may allocate are reported in a section, always. */

static unsigned int violations;
static enum gpuvm_violation last_rule;

static void count_violation(enum gpuvm_violation rule, const char *msg,
			    void *data)
{
	(void)msg;
	(void)data;
	violations++;
	last_rule = rule;
}

static void test_might_alloc_reported(void **state)
{
	struct gpuvm_pt *pt;
	struct gpuvm_pt_resv r = GPUVM_PT_RESV_INIT;
	unsigned int v0;

	(void)state;
	/* Release builds check nothing. */
	if (!gpuvm_checks_enabled())
		skip();
	pt = pt_populated();
	/*
	 * Reserve the tables first, and put two more in the pool, so that
	 * none of the calls below needs to allocate.
	 */
	assert_int_equal(gpuvm_pt_reserve(pt, SZ_1G, SZ_2M, 0, &r), 0);
	assert_int_equal(gpuvm_pt_unmap(pt, 2 * SZ_2M, 2 * SZ_2M, 0, NULL), 0);
	assert_int_equal(pt_stats(pt).tables_spare, 3 + 2);
	gpuvm_set_violation_handler(count_violation, NULL);
	violations = 0;
	gpuvm_fence_begin_signalling();
	v0 = violations;
	/* Fine: the run path with a reservation, keep without one. */
	assert_int_equal(gpuvm_pt_map(pt, SZ_1G, SZ_4K, 0, 0, &r), 0);
	assert_int_equal(gpuvm_pt_unmap(pt, SZ_1G, SZ_4K, GPUVM_PT_KEEP, NULL),
			 0);
	assert_int_equal(violations, v0);
	/* Reported, although the pool already holds what they need. */
	assert_int_equal(
		gpuvm_pt_reserve(pt, SZ_1G, SZ_4K, GPUVM_PT_RESV_UNMAP, &r), 0);
	assert_int_equal(violations, v0 + 1);
	assert_int_equal(last_rule, GPUVM_VIOLATION_ALLOC);
	assert_int_equal(gpuvm_pt_map(pt, SZ_1G, SZ_4K, 0, 0, NULL), 0);
	assert_int_equal(violations, v0 + 2);
	assert_int_equal(gpuvm_pt_unmap(pt, SZ_1G, SZ_4K, 0, NULL), 0);
	assert_int_equal(violations, v0 + 3);
	gpuvm_pt_trim(pt);
	assert_int_equal(violations, v0 + 4);
	gpuvm_pt_release(pt, &r);
	assert_int_equal(violations, v0 + 5);
	gpuvm_fence_end_signalling();
	gpuvm_set_violation_handler(NULL, NULL);
	pt_empty_and_free(pt);
}

/* Fault injection. */

static void snapshot_pt(const struct gpuvm_pt *pt, struct gpuvm_pt_stats *st,
			uint64_t *sum)
{
	uint64_t s = 0;

	*st = pt_stats(pt);
	/* A digest of the translation of every page that may change. */
	for (uint64_t va = 0; va < 5 * SZ_2M; va += SZ_4K) {
		uint64_t pa, size;
		unsigned int flags;
		int ret = gpuvm_pt_translate(pt, va, &pa, &size, &flags);

		s = s * 31 + (uint64_t)ret;
		s = s * 31 + pa;
		s = s * 31 + size;
		s = s * 31 + flags;
	}
	*sum = s;
}

static void expect_unchanged(const struct gpuvm_pt *pt,
			     const struct gpuvm_pt_stats *st0, uint64_t sum0)
{
	struct gpuvm_pt_stats st;
	uint64_t sum;

	snapshot_pt(pt, &st, &sum);
	assert_memory_equal(&st, st0, sizeof(st));
	assert_int_equal(sum, sum0);
	PT_CHECK(pt);
}

static void test_reserve_fail_nth(void **state)
{
	static const struct {
		uint64_t addr, range;
		unsigned int kind;
	} cases[] = {
		{ 0, SZ_4K, 0 },
		{ SZ_1G - 3 * SZ_2M, 6 * SZ_2M + SZ_4K, 0 },
		{ UINT64_C(7) << 39, 40 * SZ_2M, 0 },
		{ SZ_4K, 5 * SZ_2M, GPUVM_PT_RESV_UNMAP },
	};

	(void)state;
	for (unsigned int i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (int sticky = 0; sticky < 2; sticky++) {
			struct gpuvm_pt *pt = pt_populated();
			struct gpuvm_pt_resv held = GPUVM_PT_RESV_INIT;
			uint64_t n;

			/* Another job's reservation is outstanding. */
			assert_int_equal(
				gpuvm_pt_reserve(pt, SZ_2M, SZ_4K, 0, &held),
				0);
			for (n = 1;; n++) {
				struct gpuvm_pt_resv r = held, r0;
				struct gpuvm_pt_stats st0;
				uint64_t sum0, live0 = tu_live_allocs();
				bool pending;
				int ret;

				r0 = r;
				snapshot_pt(pt, &st0, &sum0);
				gpuvm_alloc_fail_nth(n, sticky);
				ret = gpuvm_pt_reserve(pt, cases[i].addr,
						       cases[i].range,
						       cases[i].kind, &r);
				pending = gpuvm_alloc_fail_pending();
				gpuvm_alloc_fail_nth(0, false);
				if (!ret) {
					assert_true(pending);
					held = r;
					break;
				}
				assert_int_equal(ret, -ENOMEM);
				assert_memory_equal(&r, &r0, sizeof(r));
				assert_int_equal(tu_live_allocs(), live0);
				expect_unchanged(pt, &st0, sum0);
			}
			/* One failure per table the reservation needed. */
			assert_int_equal(
				n - 1, gpuvm_pt_reserve_cost(pt, cases[i].addr,
							     cases[i].range,
							     cases[i].kind));
			assert_int_equal(pt_stats(pt).tables_spare,
					 held.tables);
			gpuvm_pt_release(pt, &held);
			pt_empty_and_free(pt);
		}
	}
}

static void test_create_fail_nth(void **state)
{
	uint64_t n;

	(void)state;
	for (n = 1;; n++) {
		struct gpuvm_pt *pt = NULL;
		uint64_t live0 = tu_live_allocs();
		bool pending;
		int ret;

		gpuvm_alloc_fail_nth(n, false);
		ret = gpuvm_pt_sw_create(57, 0, &pt);
		pending = gpuvm_alloc_fail_pending();
		gpuvm_alloc_fail_nth(0, false);
		if (!ret) {
			assert_true(pending);
			pt_free(pt);
			break;
		}
		assert_int_equal(ret, -ENOMEM);
		assert_null(pt);
		assert_int_equal(tu_live_allocs(), live0);
	}
	assert_int_equal(n, 3);
}

/* The one-shot forms allocate exactly what they need, all-or-nothing. */
static void test_oneshot_fail_nth(void **state)
{
	static const struct {
		bool map;
		uint64_t addr, range, pa;
		unsigned int flags;
		uint64_t need;
	} cases[] = {
		/* Splits the first 2M entry: one table. */
		{ false, SZ_4K, SZ_4K, 0, 0, 1 },
		/* Splits both 2M entries at their edges. */
		{ false, SZ_2M - SZ_4K, 2 * SZ_4K, 0, 0, 2 },
		/* Into an existing level-0 table: nothing. */
		{ true, 3 * SZ_2M, SZ_4K, 0x5000, 0, 0 },
		/*
		 * A split (block 0), a table in place of a 2M entry (block 1),
		 * two existing tables (blocks 2, 3), two new ones (4, 5).
		 */
		{ true, SZ_2M - SZ_4K, 5 * SZ_2M, 0x9000, GPUVM_PT_UNCACHED,
		  4 },
		/* A new level-2, level-1 and level-0 table. */
		{ true, UINT64_C(3) << 39, SZ_4K, 0, GPUVM_PT_NULL, 3 },
	};

	(void)state;
	for (unsigned int i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct gpuvm_pt *pt = pt_populated();
		uint64_t n, a0;

		gpuvm_pt_trim(pt);
		a0 = pt_stats(pt).tables_allocated;
		for (n = 1;; n++) {
			struct gpuvm_pt_stats st0;
			uint64_t sum0, live0 = tu_live_allocs();
			bool pending;
			int ret;

			snapshot_pt(pt, &st0, &sum0);
			gpuvm_alloc_fail_nth(n, false);
			if (cases[i].map)
				ret = gpuvm_pt_map(pt, cases[i].addr,
						   cases[i].range, cases[i].pa,
						   cases[i].flags, NULL);
			else
				ret = gpuvm_pt_unmap(pt, cases[i].addr,
						     cases[i].range, 0, NULL);
			pending = gpuvm_alloc_fail_pending();
			gpuvm_alloc_fail_nth(0, false);
			if (!ret) {
				assert_true(pending);
				break;
			}
			assert_int_equal(ret, -ENOMEM);
			assert_int_equal(tu_live_allocs(), live0);
			expect_unchanged(pt, &st0, sum0);
		}
		assert_int_equal(n - 1, cases[i].need);
		assert_int_equal(pt_stats(pt).tables_allocated - a0,
				 cases[i].need);
		PT_CHECK(pt);
		pt_empty_and_free(pt);
	}
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		TU_TEST(test_run_without_allocator),
		TU_TEST(test_run_in_signalling_section),
		TU_TEST(test_might_alloc_reported),
		TU_TEST(test_reserve_fail_nth),
		TU_TEST(test_create_fail_nth),
		TU_TEST(test_oneshot_fail_nth),
	};

	tu_init(argc, argv, 1, 1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
