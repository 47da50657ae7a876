/* SPDX-License-Identifier: MIT */
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
#ifndef GPUVM_TESTS_PTTEST_H
#define GPUVM_TESTS_PTTEST_H

/*
 * Helpers shared by the page-table tests: creation with checks, the
 * invariant check, stat snapshots, and translation assertions.
 */

#include "testutil.h"

#include <gpuvm/pt.h>

#define SZ_4K  GPUVM_PT_SIZE_4K
#define SZ_64K GPUVM_PT_SIZE_64K
#define SZ_2M  GPUVM_PT_SIZE_2M
#define SZ_1G  (UINT64_C(1) << 30)

static inline struct gpuvm_pt *pt_new(unsigned int va_bits, size_t max_tables)
{
	struct gpuvm_pt *pt = NULL;

	assert_int_equal(gpuvm_pt_sw_create(va_bits, max_tables, &pt), 0);
	assert_non_null(pt);
	return pt;
}

#define PT_CHECK(pt)                                                           \
	do {                                                                   \
		char pt_msg_[256] = "";                                        \
		struct gpuvm_pt_stats pt_st_;                                  \
		if (gpuvm_pt_check((pt), pt_msg_, sizeof(pt_msg_)))            \
			fail_msg("page table broken: %s", pt_msg_);            \
		gpuvm_pt_get_stats((pt), &pt_st_);                             \
		assert_int_equal(pt_st_.tables_in_use + pt_st_.tables_spare,   \
				 pt_st_.tables_allocated -                     \
					 pt_st_.tables_freed);                 \
		assert_int_equal(                                              \
			pt_st_.table_bytes,                                    \
			(pt_st_.tables_in_use + pt_st_.tables_spare) *         \
				GPUVM_PT_TABLE_SIZE);                          \
	} while (0)

static inline struct gpuvm_pt_stats pt_stats(const struct gpuvm_pt *pt)
{
	struct gpuvm_pt_stats st;

	gpuvm_pt_get_stats(pt, &st);
	return st;
}

/* Destroys @pt after checking it, with nothing reserved. */
static inline void pt_free(struct gpuvm_pt *pt)
{
	PT_CHECK(pt);
	assert_int_equal(pt_stats(pt).tables_reserved, 0);
	gpuvm_pt_destroy(pt);
}

static inline void pt_expect(const struct gpuvm_pt *pt, uint64_t va,
			     uint64_t pa, uint64_t size, unsigned int flags)
{
	uint64_t p, s;
	unsigned int f;
	int ret = gpuvm_pt_translate(pt, va, &p, &s, &f);

	if (ret)
		fail_msg("0x%" PRIx64 " faults (%d), expected pa 0x%" PRIx64,
			 va, ret, pa);
	if (p != pa || s != size || f != flags)
		fail_msg("0x%" PRIx64 " -> pa 0x%" PRIx64 " size 0x%" PRIx64
			 " flags %#x, expected pa 0x%" PRIx64 " size 0x%" PRIx64
			 " flags %#x",
			 va, p, s, f, pa, size, flags);
}

static inline void pt_expect_fault(const struct gpuvm_pt *pt, uint64_t va)
{
	uint64_t p = 1, s = 1;
	unsigned int f = 1;
	int ret = gpuvm_pt_translate(pt, va, &p, &s, &f);

	if (ret != -EFAULT)
		fail_msg("0x%" PRIx64 " translates to 0x%" PRIx64
			 " (size 0x%" PRIx64 "), expected a fault",
			 va, p, s);
	assert_int_equal(p, 0);
	assert_int_equal(s, 0);
	assert_int_equal(f, 0);
}

/*
 * The page size the software backend picks for @va when one map covers
 * [addr, addr + range) starting at @pa (aligned pa for NULL mappings).
 */
static inline uint64_t pt_rule_size(uint64_t addr, uint64_t range, uint64_t pa,
				    bool null, uint64_t va)
{
	static const uint64_t sizes[] = { SZ_2M, SZ_64K };

	for (unsigned int i = 0; i < 2; i++) {
		uint64_t s = sizes[i];
		uint64_t b = va & ~(s - 1);

		if (b >= addr && b + s <= addr + range &&
		    (null || !((pa + (b - addr)) & (s - 1))))
			return s;
	}
	return SZ_4K;
}

/*
 * Checks every page of [addr - 4K, addr + range + 4K) after a fresh map of
 * [addr, addr + range) on an empty page table: each page inside translates
 * with the rule's page size, the pages around fault.
 */
static inline void pt_expect_fresh_map(const struct gpuvm_pt *pt, uint64_t addr,
				       uint64_t range, uint64_t pa,
				       unsigned int flags)
{
	bool null = flags & GPUVM_PT_NULL;

	if (addr)
		pt_expect_fault(pt, addr - SZ_4K);
	for (uint64_t va = addr; va < addr + range; va += SZ_4K)
		pt_expect(pt, va, null ? 0 : pa + (va - addr),
			  pt_rule_size(addr, range, pa, null, va), flags);
	if (addr + range < (UINT64_C(1) << pt->va_bits))
		pt_expect_fault(pt, addr + range);
}

/* Live entries expected from the rule for a fresh map. */
static inline void pt_rule_counts(uint64_t addr, uint64_t range, uint64_t pa,
				  bool null, uint64_t *n4k, uint64_t *n64k,
				  uint64_t *n2m)
{
	*n4k = *n64k = *n2m = 0;
	for (uint64_t va = addr; va < addr + range;) {
		uint64_t s = pt_rule_size(addr, range, pa, null, va);

		if (s == SZ_2M)
			(*n2m)++;
		else if (s == SZ_64K)
			(*n64k)++;
		else
			(*n4k)++;
		va += s;
	}
}

static inline void pt_expect_live(const struct gpuvm_pt *pt, uint64_t n4k,
				  uint64_t n64k, uint64_t n2m)
{
	struct gpuvm_pt_stats st = pt_stats(pt);

	if (st.live_4k != n4k || st.live_64k != n64k || st.live_2m != n2m)
		fail_msg("live 4K/64K/2M %" PRIu64 "/%" PRIu64 "/%" PRIu64
			 ", expected %" PRIu64 "/%" PRIu64 "/%" PRIu64,
			 st.live_4k, st.live_64k, st.live_2m, n4k, n64k, n2m);
}

#endif /* GPUVM_TESTS_PTTEST_H */
