// SPDX-License-Identifier: MIT
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
#include <errno.h>
#include <string.h>

#include <gpuvm/pt.h>

#include "base/alloc_internal.h"
#include "base/context_internal.h"

/*
 * The generic side of the page-table interface: argument checks shared by
 * every backend, the fence-signalling checks of the functions that may
 * allocate, and dispatch. Backends only ever see validated requests.
 */

static bool range_ok(const struct gpuvm_pt *pt, uint64_t addr, uint64_t range)
{
	const uint64_t mask = GPUVM_PT_PAGE_SIZE - 1;

	if (!range || (addr & mask) || (range & mask))
		return false;
	if (addr + range < addr)
		return false;
	if (pt->va_bits < 64 && addr + range > (UINT64_C(1) << pt->va_bits))
		return false;
	return true;
}

static bool resv_ok(const struct gpuvm_pt *pt, const struct gpuvm_pt_resv *resv)
{
	return !resv->pt || resv->pt == pt;
}

/* A stash's tables may be shaped for the page table they were made for. */
static bool stash_ok(const struct gpuvm_pt *pt,
		     const struct gpuvm_pt_stash *stash)
{
	return !stash->count || stash->pt == pt;
}

/* Backends maintain the list and the count; the owner follows the count. */
static void stash_set_owner(struct gpuvm_pt *pt, struct gpuvm_pt_stash *stash)
{
	stash->pt = stash->count ? pt : NULL;
}

int gpuvm_pt_init(struct gpuvm_pt *pt, const struct gpuvm_pt_ops *ops,
		  unsigned int va_bits)
{
	unsigned int stash_ops;

	if (!pt || !ops || !va_bits || va_bits > 64)
		return -EINVAL;
	if (!ops->reserve_cost || !ops->reserve || !ops->map || !ops->unmap ||
	    !ops->release || !ops->trim || !ops->translate || !ops->get_stats ||
	    !ops->destroy)
		return -EINVAL;
	/* A stash filled by one op must be consumable by the others. */
	stash_ops = !!ops->stash_fill + !!ops->stash_free +
		    !!ops->reserve_stash + !!ops->release_stash;
	if (stash_ops && stash_ops != 4)
		return -EINVAL;
	pt->ops = ops;
	pt->va_bits = va_bits;
	return 0;
}

void gpuvm_pt_destroy(struct gpuvm_pt *pt)
{
	gpuvm_context_check(GPUVM_RULE_ALLOC, "gpuvm_pt_destroy()");
	if (pt)
		pt->ops->destroy(pt);
}

size_t gpuvm_pt_reserve_cost(const struct gpuvm_pt *pt, uint64_t addr,
			     uint64_t range, unsigned int kind)
{
	if (!range_ok(pt, addr, range) || (kind & ~GPUVM_PT_RESV_UNMAP))
		return 0;
	return pt->ops->reserve_cost(pt, addr, range, kind);
}

int gpuvm_pt_reserve(struct gpuvm_pt *pt, uint64_t addr, uint64_t range,
		     unsigned int kind, struct gpuvm_pt_resv *resv)
{
	gpuvm_context_check(GPUVM_RULE_ALLOC, "gpuvm_pt_reserve()");
	if (!resv || !range_ok(pt, addr, range) ||
	    (kind & ~GPUVM_PT_RESV_UNMAP) || !resv_ok(pt, resv))
		return -EINVAL;
	return pt->ops->reserve(pt, addr, range, kind, resv);
}

static bool map_args_ok(const struct gpuvm_pt *pt, uint64_t addr,
			uint64_t range, uint64_t pa, unsigned int flags)
{
	const uint64_t pa_end = UINT64_C(1) << GPUVM_PT_PA_BITS;

	if (!range_ok(pt, addr, range) || (flags & ~GPUVM_PT_MAP_FLAGS))
		return false;
	if (flags & GPUVM_PT_NULL)
		return true;
	return !(pa & (GPUVM_PT_PAGE_SIZE - 1)) && pa < pa_end &&
	       range <= pa_end - pa;
}

int gpuvm_pt_map(struct gpuvm_pt *pt, uint64_t addr, uint64_t range,
		 uint64_t pa, unsigned int flags, struct gpuvm_pt_resv *resv)
{
	if (!map_args_ok(pt, addr, range, pa, flags))
		return -EINVAL;
	if (flags & GPUVM_PT_NULL)
		pa = 0;
	if (!resv)
		gpuvm_context_check(GPUVM_RULE_ALLOC,
				    "gpuvm_pt_map() without a reservation");
	else if (!resv_ok(pt, resv))
		return -EINVAL;
	return pt->ops->map(pt, addr, range, pa, flags, resv);
}

int gpuvm_pt_unmap(struct gpuvm_pt *pt, uint64_t addr, uint64_t range,
		   unsigned int flags, struct gpuvm_pt_resv *resv)
{
	if (!range_ok(pt, addr, range) || (flags & ~GPUVM_PT_KEEP))
		return -EINVAL;
	/* Leaving entries in place never takes a table. */
	if (!resv && !(flags & GPUVM_PT_KEEP))
		gpuvm_context_check(GPUVM_RULE_ALLOC,
				    "gpuvm_pt_unmap() without a reservation");
	else if (resv && !resv_ok(pt, resv))
		return -EINVAL;
	return pt->ops->unmap(pt, addr, range, flags, resv);
}

void gpuvm_pt_release(struct gpuvm_pt *pt, struct gpuvm_pt_resv *resv)
{
	gpuvm_context_check(GPUVM_RULE_ALLOC, "gpuvm_pt_release()");
	if (!resv || !resv->pt)
		return;
	if (gpuvm_unlikely(resv->pt != pt)) {
		gpuvm_warn("page table: releasing a reservation made on "
			   "another page table");
		return;
	}
	pt->ops->release(pt, resv);
	memset(resv, 0, sizeof(*resv));
}

void gpuvm_pt_trim(struct gpuvm_pt *pt)
{
	gpuvm_context_check(GPUVM_RULE_ALLOC, "gpuvm_pt_trim()");
	pt->ops->trim(pt);
}

int gpuvm_pt_stash_fill(struct gpuvm_pt *pt, struct gpuvm_pt_stash *stash,
			size_t tables)
{
	int ret;

	gpuvm_context_check(GPUVM_RULE_ALLOC, "gpuvm_pt_stash_fill()");
	if (!stash || !stash_ok(pt, stash))
		return -EINVAL;
	if (!pt->ops->stash_fill)
		return -EOPNOTSUPP;
	if (stash->count >= tables)
		return 0;
	ret = pt->ops->stash_fill(pt, stash, tables);
	stash_set_owner(pt, stash);
	return ret;
}

void gpuvm_pt_stash_free(struct gpuvm_pt *pt, struct gpuvm_pt_stash *stash)
{
	gpuvm_context_check(GPUVM_RULE_ALLOC, "gpuvm_pt_stash_free()");
	if (!stash)
		return;
	if (stash->count) {
		if (gpuvm_unlikely(stash->pt != pt)) {
			gpuvm_warn("page table: freeing a stash of tables made "
				   "for another page table");
			return;
		}
		pt->ops->stash_free(pt, stash);
	}
	memset(stash, 0, sizeof(*stash));
}

/*
 * The two functions below run under the caller's serialisation of @pt,
 * which may be a lock taken inside fence-signalling sections. They never
 * reach the allocator, so, unlike gpuvm_pt_reserve() and
 * gpuvm_pt_release(), they carry no context check: being called where
 * allocating would be wrong is exactly their purpose.
 */

int gpuvm_pt_reserve_stash(struct gpuvm_pt *pt, uint64_t addr, uint64_t range,
			   unsigned int kind, struct gpuvm_pt_resv *resv,
			   struct gpuvm_pt_stash *stash)
{
	int ret;

	if (!resv || !stash || !range_ok(pt, addr, range) ||
	    (kind & ~GPUVM_PT_RESV_UNMAP) || !resv_ok(pt, resv) ||
	    !stash_ok(pt, stash))
		return -EINVAL;
	if (!pt->ops->reserve_stash)
		return -EOPNOTSUPP;
	ret = pt->ops->reserve_stash(pt, addr, range, kind, resv, stash);
	stash_set_owner(pt, stash);
	return ret;
}

static bool ranges_ok(const struct gpuvm_pt *pt,
		      const struct gpuvm_pt_range *ranges, size_t n)
{
	if (!ranges || !n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!range_ok(pt, ranges[i].addr, ranges[i].range))
			return false;
	return true;
}

size_t gpuvm_pt_reserve_cost_ranges(const struct gpuvm_pt *pt,
				    const struct gpuvm_pt_range *ranges,
				    size_t n)
{
	size_t total = 0;

	if (!ranges_ok(pt, ranges, n))
		return 0;
	if (pt->ops->reserve_cost_ranges)
		return pt->ops->reserve_cost_ranges(pt, ranges, n);
	for (size_t i = 0; i < n; i++) {
		size_t c = pt->ops->reserve_cost(pt, ranges[i].addr,
						 ranges[i].range, 0);

		total = total + c < total ? SIZE_MAX : total + c;
	}
	return total;
}

int gpuvm_pt_reserve_ranges_stash(struct gpuvm_pt *pt,
				  const struct gpuvm_pt_range *ranges, size_t n,
				  struct gpuvm_pt_resv *resv,
				  struct gpuvm_pt_stash *stash)
{
	int ret;

	if (!resv || !stash || !ranges_ok(pt, ranges, n) ||
	    !resv_ok(pt, resv) || !stash_ok(pt, stash))
		return -EINVAL;
	if (!pt->ops->reserve_ranges_stash)
		return -EOPNOTSUPP;
	ret = pt->ops->reserve_ranges_stash(pt, ranges, n, resv, stash);
	stash_set_owner(pt, stash);
	return ret;
}

int gpuvm_pt_release_stash(struct gpuvm_pt *pt, struct gpuvm_pt_resv *resv,
			   struct gpuvm_pt_stash *stash)
{
	if (!pt->ops->release_stash)
		return -EOPNOTSUPP;
	if (stash && !stash_ok(pt, stash))
		return -EINVAL;
	if (!resv || !resv->pt)
		return 0;
	if (resv->pt != pt)
		return -EINVAL;
	pt->ops->release_stash(pt, resv, stash);
	memset(resv, 0, sizeof(*resv));
	if (stash)
		stash_set_owner(pt, stash);
	return 0;
}

int gpuvm_pt_trim_stash(struct gpuvm_pt *pt, size_t keep,
			struct gpuvm_pt_stash *stash)
{
	if (!pt->ops->trim_stash)
		return -EOPNOTSUPP;
	if (!stash || !stash_ok(pt, stash))
		return -EINVAL;
	pt->ops->trim_stash(pt, keep, stash);
	stash_set_owner(pt, stash);
	return 0;
}

void gpuvm_pt_prefetch(const struct gpuvm_pt *pt, const uint64_t *addrs,
		       size_t n)
{
	if (pt->ops->prefetch && n)
		pt->ops->prefetch(pt, addrs, n);
}

int gpuvm_pt_translate(const struct gpuvm_pt *pt, uint64_t va, uint64_t *pa,
		       uint64_t *page_size, unsigned int *flags)
{
	uint64_t p = 0, s = 0;
	unsigned int f = 0;
	int ret = -EFAULT;

	if (pt->va_bits >= 64 || va < (UINT64_C(1) << pt->va_bits))
		ret = pt->ops->translate(pt, va, &p, &s, &f);
	if (ret)
		p = s = f = 0;
	if (pa)
		*pa = p;
	if (page_size)
		*page_size = s;
	if (flags)
		*flags = f;
	return ret;
}

int gpuvm_pt_walk(const struct gpuvm_pt *pt, uint64_t addr, uint64_t range,
		  gpuvm_pt_walk_fn fn, void *data)
{
	if (!fn || !range_ok(pt, addr, range))
		return -EINVAL;
	if (!pt->ops->walk)
		return -EOPNOTSUPP;
	return pt->ops->walk(pt, addr, range, fn, data);
}

void gpuvm_pt_get_stats(const struct gpuvm_pt *pt, struct gpuvm_pt_stats *stats)
{
	memset(stats, 0, sizeof(*stats));
	pt->ops->get_stats(pt, stats);
}

int gpuvm_pt_check(const struct gpuvm_pt *pt, char *msg, size_t len)
{
	if (msg && len)
		msg[0] = '\0';
	if (!pt->ops->check)
		return 0;
	return pt->ops->check(pt, msg, len);
}
