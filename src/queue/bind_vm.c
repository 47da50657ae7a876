// SPDX-License-Identifier: MIT
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "queue/queue_internal.h"

/*
 * The bind context: the VM, its page table and its tree lock, plus the
 * read-side helpers that look at both under that lock, and the pieces the
 * queues share (statistics, physical addresses).
 */

uint64_t gpuvm_q_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * UINT64_C(1000000000) +
	       (uint64_t)ts.tv_nsec;
}

unsigned int gpuvm_q_pt_flags(uint32_t bflags)
{
	unsigned int f = 0;

	if (bflags & GPUVM_BIND_SPARSE)
		f |= GPUVM_PT_NULL;
	if (bflags & GPUVM_BIND_READ_ONLY)
		f |= GPUVM_PT_READ_ONLY;
	if (bflags & GPUVM_BIND_NO_EXEC)
		f |= GPUVM_PT_NO_EXEC;
	if (bflags & GPUVM_BIND_UNCACHED)
		f |= GPUVM_PT_UNCACHED;
	return f;
}

/* The user's gem_pa, with its answer checked and clipped to @range. */
int gpuvm_q_gem_pa(struct gpuvm_bind_vm *bvm, struct gpuvm_gem *obj,
		   uint64_t offset, uint64_t range, uint64_t *pa, uint64_t *len)
{
	uint64_t p = 0, l = 0;
	int ret = bvm->ops.gem_pa(bvm->priv, obj, offset, range, &p, &l);

	if (ret)
		return ret < 0 ? ret : -EINVAL;
	l &= ~(GPUVM_PT_PAGE_SIZE - 1);
	if (!l || (p & (GPUVM_PT_PAGE_SIZE - 1)))
		return -EINVAL;
	*pa = p;
	*len = l < range ? l : range;
	return 0;
}

/* The bucket of @ns: see GPUVM_BIND_HIST_SUB_BITS. */
static unsigned int hist_bucket(uint64_t ns)
{
	unsigned int e = 0;

	if (ns < GPUVM_BIND_HIST_SUB)
		return (unsigned int)ns;
	/* floor(log2(ns)), portably: at most 63 shifts. */
	for (uint64_t v = ns >> 1; v; v >>= 1)
		e++;
	if (e >= GPUVM_BIND_HIST_OCTAVES)
		return GPUVM_BIND_HIST_BUCKETS - 1;
	/* The top SUB_BITS + 1 bits of @ns: the octave's leading 1, the sub. */
	return GPUVM_BIND_HIST_SUB +
	       (e - GPUVM_BIND_HIST_SUB_BITS) * GPUVM_BIND_HIST_SUB +
	       (unsigned int)((ns >> (e - GPUVM_BIND_HIST_SUB_BITS)) &
			      (GPUVM_BIND_HIST_SUB - 1));
}

/* The largest value bucket @b holds (the last one is open-ended). */
static uint64_t hist_bucket_max(unsigned int b)
{
	unsigned int e, sub;

	if (b < GPUVM_BIND_HIST_SUB)
		return b;
	if (b >= GPUVM_BIND_HIST_BUCKETS - 1)
		return UINT64_MAX;
	e = (b - GPUVM_BIND_HIST_SUB) / GPUVM_BIND_HIST_SUB +
	    GPUVM_BIND_HIST_SUB_BITS;
	sub = (b - GPUVM_BIND_HIST_SUB) % GPUVM_BIND_HIST_SUB;
	return ((uint64_t)(GPUVM_BIND_HIST_SUB + sub + 1)
		<< (e - GPUVM_BIND_HIST_SUB_BITS)) -
	       1;
}

void gpuvm_bind_hist_add(struct gpuvm_bind_hist *h, uint64_t ns)
{
	h->bucket[hist_bucket(ns)]++;
	if (!h->count || ns < h->min_ns)
		h->min_ns = ns;
	if (ns > h->max_ns)
		h->max_ns = ns;
	h->count++;
	h->sum_ns += ns;
}

uint64_t gpuvm_bind_hist_quantile(const struct gpuvm_bind_hist *h, double q)
{
	uint64_t want, seen = 0;

	if (!h || !h->count)
		return 0;
	if (!(q > 0.0))
		return h->min_ns;
	if (q >= 1.0)
		return h->max_ns;
	/* ceil(count * q) without libm; at least the first sample. */
	want = (uint64_t)((double)h->count * q);
	if ((double)want < (double)h->count * q || !want)
		want++;
	for (unsigned int b = 0; b < GPUVM_BIND_HIST_BUCKETS; b++) {
		seen += h->bucket[b];
		if (seen >= want) {
			uint64_t up = hist_bucket_max(b);

			if (up > h->max_ns)
				up = h->max_ns;
			return up < h->min_ns ? h->min_ns : up;
		}
	}
	return h->max_ns;
}

static void hist_merge(struct gpuvm_bind_hist *dst,
		       const struct gpuvm_bind_hist *src)
{
	if (!src->count)
		return;
	if (!dst->count || src->min_ns < dst->min_ns)
		dst->min_ns = src->min_ns;
	if (src->max_ns > dst->max_ns)
		dst->max_ns = src->max_ns;
	dst->count += src->count;
	dst->sum_ns += src->sum_ns;
	for (unsigned int i = 0; i < GPUVM_BIND_HIST_BUCKETS; i++)
		dst->bucket[i] += src->bucket[i];
}

void gpuvm_q_stats_add(struct gpuvm_bind_stats *dst,
		       const struct gpuvm_bind_stats *src)
{
	dst->jobs_submitted += src->jobs_submitted;
	dst->jobs_done += src->jobs_done;
	dst->jobs_failed += src->jobs_failed;
	dst->jobs_cancelled += src->jobs_cancelled;
	dst->jobs_cleaned += src->jobs_cleaned;
	dst->ops += src->ops;
	dst->steps_map += src->steps_map;
	dst->steps_remap += src->steps_remap;
	dst->steps_unmap += src->steps_unmap;
	dst->pt_entries_written += src->pt_entries_written;
	dst->pt_entries_cleared += src->pt_entries_cleared;
	dst->pt_entries_kept += src->pt_entries_kept;
	dst->pt_pages_kept += src->pt_pages_kept;
	dst->zombies_created += src->zombies_created;
	dst->zombies_cleaned += src->zombies_cleaned;
	dst->violations += src->violations;
	dst->run_errors += src->run_errors;
	hist_merge(&dst->latency, &src->latency);
	hist_merge(&dst->run_per_op, &src->run_per_op);
}

int gpuvm_bind_vm_create(struct gpuvm *vm, struct gpuvm_pt *pt,
			 const struct gpuvm_bind_vm_ops *ops, void *priv,
			 struct gpuvm_bind_vm **out)
{
	struct gpuvm_bind_vm *bvm;

	if (!vm || !out)
		return -EINVAL;
	if (!gpuvm_immediate_mode(vm) || !vm->ops || !vm->ops->sm_step_map ||
	    !vm->ops->sm_step_remap || !vm->ops->sm_step_unmap)
		return -EINVAL;
	/* Every mapping must be the queues' own (struct bind_va). */
	if (vm->tree.count != (vm->kernel_alloc_node.va.range ? 1u : 0u))
		return -EINVAL;
	if (pt) {
		struct gpuvm_pt_stash probe = GPUVM_PT_STASH_INIT;
		uint64_t end = vm->mm_start + vm->mm_range;

		if (!ops || !ops->gem_pa)
			return -EINVAL;
		if (pt->va_bits < 64 && end > (UINT64_C(1) << pt->va_bits))
			return -EINVAL;
		/*
		 * Two-phase reservations keep the allocator away from the tree
		 * lock; a backend without them cannot serve a bind queue. An
		 * empty fill allocates nothing and answers that.
		 */
		if (gpuvm_pt_stash_fill(pt, &probe, 0) == -EOPNOTSUPP)
			return -EOPNOTSUPP;
	}
	bvm = gpuvm_zalloc(sizeof(*bvm));
	if (!bvm)
		return -ENOMEM;
	bvm->vm = gpuvm_get(vm);
	bvm->pt = pt;
	if (ops)
		bvm->ops = *ops;
	bvm->priv = priv;
	gpuvm_mutex_init(&bvm->tree_lock);
	atomic_init(&bvm->nr_queues, 0);
	atomic_init(&bvm->busy_jobs, 0);
	pthread_mutex_init(&bvm->stats_lock, NULL);
	*out = bvm;
	return 0;
}

int gpuvm_bind_vm_destroy(struct gpuvm_bind_vm *bvm)
{
	struct gpuvm *vm;
	struct gpuvm_va_iter it;
	struct gpuva *va;

	if (!bvm)
		return 0;
	if (atomic_load(&bvm->nr_queues))
		return -EBUSY;
	vm = bvm->vm;
	/*
	 * No queue is left, so nothing else touches the tree: what the
	 * queues mapped is taken apart outside the lock, where unlinking may
	 * take the object's mutex and the cleanup may free.
	 */
	gpuvm_for_each_va_safe(va, &it, vm) {
		if (gpuvm_va_is_reserved(vm, va))
			continue;
		gpuva_unlink_defer(va);
		gpuva_remove(va);
		gpuvm_free(to_bind_va(va), sizeof(struct bind_va));
	}
	gpuvm_bo_deferred_cleanup(vm);
	gpuvm_q_pools_trim(bvm, false);
	gpuvm_va_tree_trim(&vm->tree);
	gpuvm_mutex_fini(&bvm->tree_lock);
	pthread_mutex_destroy(&bvm->stats_lock);
	gpuvm_free(bvm, sizeof(*bvm));
	gpuvm_put(vm);
	return 0;
}

void gpuvm_bind_vm_trim(struct gpuvm_bind_vm *bvm)
{
	gpuvm_might_alloc();
	gpuvm_q_pools_trim(bvm, false);
}

struct gpuvm *gpuvm_bind_vm_gpuvm(struct gpuvm_bind_vm *bvm)
{
	return bvm->vm;
}

struct gpuvm_pt *gpuvm_bind_vm_pt(struct gpuvm_bind_vm *bvm)
{
	return bvm->pt;
}

void gpuvm_bind_vm_lock(struct gpuvm_bind_vm *bvm)
{
	gpuvm_mutex_lock(&bvm->tree_lock);
}

void gpuvm_bind_vm_unlock(struct gpuvm_bind_vm *bvm)
{
	gpuvm_mutex_unlock(&bvm->tree_lock);
}

static uint64_t range_end(uint64_t addr, uint64_t range)
{
	if (!range || addr + range < addr)
		return UINT64_MAX;
	return addr + range;
}

static void va_info(struct gpuvm_bind_va_info *info, struct gpuva *va)
{
	info->addr = va->va.addr;
	info->range = va->va.range;
	info->obj = va->gem.obj;
	info->offset = va->gem.offset;
	info->flags = to_bind_va(va)->bflags;
}

/* Caller holds the tree lock. */
static int walk_locked(struct gpuvm_bind_vm *bvm, uint64_t addr, uint64_t end,
		       gpuvm_bind_va_fn fn, void *data)
{
	struct gpuvm *vm = bvm->vm;
	struct gpuvm_va_iter it;
	struct gpuva *va;

	gpuvm_for_each_va_range(va, &it, vm, addr, end) {
		struct gpuvm_bind_va_info info;
		int ret;

		if (gpuvm_va_is_reserved(vm, va))
			continue;
		va_info(&info, va);
		ret = fn(&info, data);
		if (ret)
			return ret;
	}
	return 0;
}

int gpuvm_bind_vm_for_each_va(struct gpuvm_bind_vm *bvm, uint64_t addr,
			      uint64_t range, gpuvm_bind_va_fn fn, void *data)
{
	int ret;

	gpuvm_mutex_lock(&bvm->tree_lock);
	ret = walk_locked(bvm, addr, range_end(addr, range), fn, data);
	gpuvm_mutex_unlock(&bvm->tree_lock);
	return ret;
}

struct snap_fill {
	struct gpuvm_bind_va_info *infos;
	size_t cap;
	size_t n;
};

static int snap_one(const struct gpuvm_bind_va_info *info, void *data)
{
	struct snap_fill *s = data;

	/* Counting only, once the array is full. */
	if (s->n < s->cap)
		s->infos[s->n] = *info;
	s->n++;
	return 0;
}

/*
 * A snapshot array carries its capacity in a header in front of it, so that
 * it can be freed with the exact size it was allocated with.
 */
struct snap_hdr {
	size_t cap;
	size_t pad;
};

static size_t snap_bytes(size_t cap)
{
	return sizeof(struct snap_hdr) +
	       cap * sizeof(struct gpuvm_bind_va_info);
}

static struct gpuvm_bind_va_info *snap_alloc(size_t cap)
{
	struct snap_hdr *h = gpuvm_alloc(snap_bytes(cap));

	if (!h)
		return NULL;
	h->cap = cap;
	return (struct gpuvm_bind_va_info *)(h + 1);
}

void gpuvm_bind_snapshot_free(struct gpuvm_bind_va_info *infos)
{
	struct snap_hdr *h;

	if (!infos)
		return;
	h = (struct snap_hdr *)infos - 1;
	gpuvm_free(h, snap_bytes(h->cap));
}

int gpuvm_bind_vm_snapshot(struct gpuvm_bind_vm *bvm, uint64_t addr,
			   uint64_t range, struct gpuvm_bind_va_info **out,
			   size_t *count)
{
	uint64_t end = range_end(addr, range);
	struct snap_fill s = { NULL, 0, 0 };

	for (;;) {
		gpuvm_mutex_lock(&bvm->tree_lock);
		s.n = 0;
		walk_locked(bvm, addr, end, snap_one, &s);
		gpuvm_mutex_unlock(&bvm->tree_lock);
		if (s.n <= s.cap)
			break;
		/* The tree grew past the array: allocate, unlocked, and redo.
		 */
		gpuvm_bind_snapshot_free(s.infos);
		s.cap = s.n + s.n / 8 + 4;
		s.infos = snap_alloc(s.cap);
		if (!s.infos)
			return -ENOMEM;
	}
	if (!s.n) {
		gpuvm_bind_snapshot_free(s.infos);
		s.infos = NULL;
	}
	*out = s.infos;
	*count = s.n;
	return 0;
}

int gpuvm_bind_vm_translate(struct gpuvm_bind_vm *bvm, uint64_t va,
			    uint64_t *pa, uint64_t *page_size,
			    unsigned int *flags)
{
	int ret;

	if (!bvm->pt)
		return -ENODEV;
	gpuvm_mutex_lock(&bvm->tree_lock);
	ret = gpuvm_pt_translate(bvm->pt, va, pa, page_size, flags);
	gpuvm_mutex_unlock(&bvm->tree_lock);
	return ret;
}

#define VERIFY(cond, ...)                                                      \
	do {                                                                   \
		if (!(cond)) {                                                 \
			if (msg && len)                                        \
				snprintf(msg, len, __VA_ARGS__);               \
			return -EUCLEAN;                                       \
		}                                                              \
	} while (0)

/* Every page of [addr, end) faults. */
static int verify_hole(struct gpuvm_bind_vm *bvm, uint64_t addr, uint64_t end,
		       char *msg, size_t len)
{
	for (uint64_t p = addr; p < end; p += GPUVM_PT_PAGE_SIZE) {
		uint64_t pa;
		int ret = gpuvm_pt_translate(bvm->pt, p, &pa, NULL, NULL);

		VERIFY(ret == -EFAULT,
		       "page 0x%" PRIx64 " is mapped (to 0x%" PRIx64
		       ") but no mapping covers it",
		       p, pa);
	}
	return 0;
}

/* Every page of @va's part of [addr, end) translates as @va says. */
static int verify_va(struct gpuvm_bind_vm *bvm, struct gpuva *va, uint64_t addr,
		     uint64_t end, char *msg, size_t len)
{
	unsigned int want_flags = gpuvm_q_pt_flags(to_bind_va(va)->bflags);
	uint64_t run_pa = 0, run_left = 0;

	for (uint64_t p = addr; p < end; p += GPUVM_PT_PAGE_SIZE) {
		uint64_t off = va->gem.offset + (p - va->va.addr);
		uint64_t pa, want = 0;
		unsigned int flags;
		int ret;

		if (va->gem.obj) {
			if (!run_left) {
				ret = gpuvm_q_gem_pa(bvm, va->gem.obj, off,
						     va->va.addr +
							     va->va.range - p,
						     &run_pa, &run_left);
				VERIFY(!ret,
				       "gem_pa failed (%d) for the mapping at "
				       "0x%" PRIx64,
				       ret, va->va.addr);
			}
			want = run_pa;
			run_pa += GPUVM_PT_PAGE_SIZE;
			run_left -= GPUVM_PT_PAGE_SIZE;
		}
		ret = gpuvm_pt_translate(bvm->pt, p, &pa, NULL, &flags);
		VERIFY(!ret,
		       "page 0x%" PRIx64 " of the mapping at 0x%" PRIx64
		       " faults",
		       p, va->va.addr);
		VERIFY(pa == want && flags == want_flags,
		       "page 0x%" PRIx64 " translates to 0x%" PRIx64
		       " flags 0x%x, the tree says 0x%" PRIx64 " flags 0x%x",
		       p, pa, flags, want, want_flags);
	}
	return 0;
}

int gpuvm_bind_vm_verify(struct gpuvm_bind_vm *bvm, uint64_t addr,
			 uint64_t range, char *msg, size_t len)
{
	struct gpuvm *vm = bvm->vm;
	struct gpuvm_va_iter it;
	struct gpuva *va;
	uint64_t end = addr + range, cur = addr;
	int ret;

	if (msg && len)
		msg[0] = '\0';
	if (!range || end < addr || ((addr | range) & (GPUVM_PT_PAGE_SIZE - 1)))
		return -EINVAL;
	gpuvm_mutex_lock(&bvm->tree_lock);
	ret = gpuvm_check_invariants(vm, msg, len);
	if (ret || !bvm->pt)
		goto out;
	gpuvm_for_each_va_range(va, &it, vm, addr, end) {
		uint64_t s = va->va.addr > addr ? va->va.addr : addr;
		uint64_t e = va->va.addr + va->va.range;

		if (e > end)
			e = end;
		if (gpuvm_va_is_reserved(vm, va))
			continue;
		ret = verify_hole(bvm, cur, s, msg, len);
		if (ret)
			goto out;
		ret = verify_va(bvm, va, s, e, msg, len);
		if (ret)
			goto out;
		cur = e;
	}
	ret = verify_hole(bvm, cur, end, msg, len);
out:
	gpuvm_mutex_unlock(&bvm->tree_lock);
	return ret;
}

void gpuvm_bind_vm_get_stats(struct gpuvm_bind_vm *bvm,
			     struct gpuvm_bind_stats *stats)
{
	unsigned int pending;

	pthread_mutex_lock(&bvm->stats_lock);
	*stats = bvm->stats;
	pthread_mutex_unlock(&bvm->stats_lock);
	pending = atomic_load_explicit(&bvm->vm->nr_zombies,
				       memory_order_relaxed);
	stats->zombies_cleaned = stats->zombies_created > pending
					 ? stats->zombies_created - pending
					 : 0;
}
