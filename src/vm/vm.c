// SPDX-License-Identifier: MIT
/*
 * Copyright (c) 2026 The libgpuvm authors
 *
 * The VA space: lifecycle, the tree of mappings and its lookups, iterators
 * and the invariant checker. The split/merge engine is in sm.c.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "base/context_internal.h"
#include "vm/vm_internal.h"

/* The mapping at a cursor. The tree stores struct gpuva pointers only. */
static inline struct gpuva *cursor_va(const struct gpuvm_va_tree_cursor *cur)
{
	return gpuvm_va_tree_cursor_val(cur);
}

/*
 * Every range test below works on the inclusive last address, so that a
 * lookup may reach 2^64 - 1 without the exclusive end wrapping to 0.
 */
static inline uint64_t va_last(const struct gpuva *va)
{
	return va->va.addr + va->va.range - 1;
}

static bool in_mm_range(const struct gpuvm *vm, uint64_t addr, uint64_t range)
{
	return addr >= vm->mm_start &&
	       addr + range <= vm->mm_start + vm->mm_range;
}

static bool in_kernel_node(const struct gpuvm *vm, uint64_t addr,
			   uint64_t range)
{
	uint64_t kstart = vm->kernel_alloc_node.va.addr;
	uint64_t krange = vm->kernel_alloc_node.va.range;

	return krange && addr < kstart + krange && kstart < addr + range;
}

bool gpuvm_range_valid(const struct gpuvm *vm, uint64_t addr, uint64_t range)
{
	return range && !gpuvm_add_overflows(addr, range) &&
	       in_mm_range(vm, addr, range) && !in_kernel_node(vm, addr, range);
}

int gpuvm_init(struct gpuvm *vm, const char *name, uint32_t flags,
	       struct gpuvm_gem *r_obj, uint64_t start, uint64_t range,
	       uint64_t reserve_offset, uint64_t reserve_range,
	       const struct gpuvm_ops *ops)
{
	int ret;

	if (!vm || !ops || !ops->vm_free || (ops->op_alloc && !ops->op_free) ||
	    (ops->vm_bo_alloc && !ops->vm_bo_free))
		return -EINVAL;
	/* Without a common reservation there is nothing to protect with. */
	if ((flags & GPUVM_RESV_PROTECTED) && !r_obj)
		return -EINVAL;
	if (!range || gpuvm_add_overflows(start, range))
		return -EINVAL;
	if (reserve_range &&
	    (gpuvm_add_overflows(reserve_offset, reserve_range) ||
	     reserve_offset < start ||
	     reserve_offset + reserve_range > start + range))
		return -EINVAL;

	memset(vm, 0, sizeof(*vm));
	vm->name = name ? name : "unknown";
	vm->flags = flags;
	vm->mm_start = start;
	vm->mm_range = range;
	vm->ops = ops;
	gpuvm_va_tree_init(&vm->tree);
	gpuvm_kref_init(&vm->kref);
	gpuvm_list_init(&vm->extobj.list);
	gpuvm_mutex_init(&vm->extobj.lock);
	gpuvm_list_init(&vm->evict.list);
	gpuvm_mutex_init(&vm->evict.lock);
	gpuvm_llist_init_head(&vm->bo_defer);
	atomic_init(&vm->nr_zombies, 0);

	if (reserve_range) {
		struct gpuva *k = &vm->kernel_alloc_node;

		k->va.addr = reserve_offset;
		k->va.range = reserve_range;
		k->vm = vm;
		gpuvm_list_init(&k->gem.entry);
		/* The reserved node holds no VM reference, as upstream. */
		ret = gpuvm_va_tree_insert(&vm->tree, reserve_offset, k);
		if (ret) {
			gpuvm_va_tree_fini(&vm->tree);
			gpuvm_mutex_fini(&vm->extobj.lock);
			gpuvm_mutex_fini(&vm->evict.lock);
			memset(vm, 0, sizeof(*vm));
			return ret;
		}
	}
	vm->r_obj = gpuvm_gem_get(r_obj);
	GPUVM_PARANOID_CHECK(vm);
	return 0;
}

struct gpuvm *gpuvm_get(struct gpuvm *vm)
{
	if (vm)
		gpuvm_kref_get(&vm->kref);
	return vm;
}

static void vm_release(struct gpuvm_kref *kref)
{
	struct gpuvm *vm = gpuvm_container_of(kref, struct gpuvm, kref);
	struct gpuvm_gem *r_obj = vm->r_obj;

	gpuvm_context_check(GPUVM_RULE_VM_PUT, "gpuvm_put()");
	if (vm->kernel_alloc_node.va.range)
		gpuvm_va_tree_remove(&vm->tree, vm->kernel_alloc_node.va.addr);
	if (vm->tree.count)
		gpuvm_warn(
			"VM '%s' destroyed with %zu mapping(s) still present",
			vm->name, vm->tree.count);
	if (vm->tree.reserved)
		gpuvm_warn("VM '%s' destroyed with %zu tree node(s) still "
			   "reserved",
			   vm->name, vm->tree.reserved);
	if (atomic_load_explicit(&vm->nr_zombies, memory_order_relaxed) ||
	    !gpuvm_llist_empty(&vm->bo_defer))
		gpuvm_warn("VM '%s' destroyed with zombie vm_bos queued: call "
			   "gpuvm_bo_deferred_cleanup() first",
			   vm->name);
	if (!gpuvm_list_empty(&vm->extobj.list))
		gpuvm_warn("VM '%s' destroyed with external objects listed",
			   vm->name);
	if (!gpuvm_list_empty(&vm->evict.list))
		gpuvm_warn("VM '%s' destroyed with evicted objects listed",
			   vm->name);
	gpuvm_va_tree_fini(&vm->tree);
	gpuvm_mutex_fini(&vm->extobj.lock);
	gpuvm_mutex_fini(&vm->evict.lock);
	vm->r_obj = NULL;
	vm->name = NULL;
	gpuvm_gem_put(r_obj);
	vm->ops->vm_free(vm);
}

void gpuvm_put(struct gpuvm *vm)
{
	unsigned int zombies;

	if (!vm)
		return;
	/*
	 * Every zombie holds a VM reference, so a VM whose other references
	 * are gone stays alive until its zombies are cleaned up. Say so
	 * while the VM can still be read: before our own reference goes. A
	 * diagnostic: the two counts are read one after the other, so a put
	 * racing cleanups on other threads may see them out of step; zombies
	 * already taken by a cleanup (the queue is empty) are not reported.
	 */
	zombies = atomic_load_explicit(&vm->nr_zombies, memory_order_relaxed);
	if (zombies && gpuvm_kref_read(&vm->kref) == zombies + 1 &&
	    !gpuvm_llist_empty(&vm->bo_defer))
		gpuvm_warn("VM '%s' is kept alive only by %u zombie vm_bo(s): "
			   "call gpuvm_bo_deferred_cleanup()",
			   vm->name, zombies);
	gpuvm_kref_put(&vm->kref, vm_release);
}

/*
 * The lowest mapping overlapping [addr, last]. Mappings are disjoint, so it
 * is either the last one starting at or below addr (if it reaches addr) or
 * the one after it.
 */
static struct gpuva *find_first_incl(const struct gpuvm *vm, uint64_t addr,
				     uint64_t last,
				     struct gpuvm_va_tree_cursor *cur)
{
	struct gpuva *va;

	if (gpuvm_va_tree_seek_le(&vm->tree, addr, cur)) {
		va = cursor_va(cur);
		if (va_last(va) >= addr)
			return va;
		if (!gpuvm_va_tree_next(cur))
			return NULL;
	} else if (!gpuvm_va_tree_seek_ge(&vm->tree, addr, cur)) {
		return NULL;
	}
	va = cursor_va(cur);
	return va->va.addr <= last ? va : NULL;
}

struct gpuva *gpuva_find_first(const struct gpuvm *vm, uint64_t addr,
			       uint64_t range)
{
	struct gpuvm_va_tree_cursor cur;

	/* An end of exactly 2^64 is fine here: the last address fits. */
	if (!range || gpuvm_add_overflows(addr, range - 1))
		return NULL;
	return find_first_incl(vm, addr, addr + range - 1, &cur);
}

bool gpuvm_interval_empty(const struct gpuvm *vm, uint64_t addr, uint64_t range)
{
	return !gpuva_find_first(vm, addr, range);
}

struct gpuva *gpuva_find(const struct gpuvm *vm, uint64_t addr, uint64_t range)
{
	struct gpuva *va;

	/*
	 * A mapping starting at addr is the lowest one overlapping the range,
	 * so an exact-key lookup answers what upstream's find_first-then-
	 * compare does, in one descent.
	 */
	if (!range)
		return NULL;
	va = gpuvm_va_tree_lookup(&vm->tree, addr);
	return va && va->va.range == range ? va : NULL;
}

struct gpuva *gpuva_find_prev(const struct gpuvm *vm, uint64_t start)
{
	struct gpuvm_va_tree_cursor cur;

	if (!gpuvm_range_valid(vm, start - 1, 1))
		return NULL;
	return find_first_incl(vm, start - 1, start, &cur);
}

struct gpuva *gpuva_find_next(const struct gpuvm *vm, uint64_t end)
{
	struct gpuvm_va_tree_cursor cur;

	if (!gpuvm_range_valid(vm, end, 1))
		return NULL;
	return find_first_incl(vm, end, end + 1, &cur);
}

static uint64_t va_last_of(const void *val)
{
	return va_last(val);
}

int gpuva_insert(struct gpuvm *vm, struct gpuva *va)
{
	uint64_t addr = va->va.addr;
	uint64_t range = va->va.range;
	int ret;

	if (!gpuvm_range_valid(vm, addr, range))
		return -EINVAL;
	ret = gpuvm_va_tree_insert_range(&vm->tree, addr, addr + range - 1, va,
					 va_last_of);
	if (ret)
		return ret;
	va->vm = vm;
	gpuvm_get(vm);
	GPUVM_PARANOID_CHECK(vm);
	return 0;
}

void gpuva_remove(struct gpuva *va)
{
	struct gpuvm *vm = va->vm;

	if (!vm) {
		gpuvm_warn("removing a mapping that was never inserted");
		return;
	}
	if (gpuvm_unlikely(va == &vm->kernel_alloc_node)) {
		gpuvm_warn("VM '%s': the reserved node cannot be removed",
			   vm->name);
		return;
	}
#ifndef NDEBUG
	/* Removing by key would take out whichever mapping holds the key. */
	if (gpuvm_va_tree_lookup(&vm->tree, va->va.addr) != va) {
		gpuvm_warn("VM '%s': removing a mapping at 0x%llx that is not "
			   "in the tree",
			   vm->name, (unsigned long long)va->va.addr);
		return;
	}
#endif
	gpuvm_va_tree_remove(&vm->tree, va->va.addr);
	GPUVM_PARANOID_CHECK(vm);
	/* Last: the mapping's reference may be the VM's last one. */
	gpuvm_put(vm);
}

int gpuva_map(struct gpuvm *vm, struct gpuva *va, const struct gpuva_op_map *op)
{
	gpuva_init_from_op(va, op);
	return gpuva_insert(vm, va);
}

/* Whether @m lies inside @va. */
static bool piece_inside(const struct gpuva *va, const struct gpuva_op_map *m)
{
	uint64_t end = va->va.addr + va->va.range;

	return m->va.range && m->va.addr >= va->va.addr && m->va.addr < end &&
	       m->va.range <= end - m->va.addr;
}

/*
 * gpuva_remap() without the removal: the first piece replaces the old
 * mapping's tree entry, the second (if any) is inserted. Returns false,
 * with nothing changed, when that does not apply.
 */
static bool remap_in_place(struct gpuvm *vm, struct gpuva *va,
			   const struct gpuva_op_remap *op, struct gpuva *prev,
			   struct gpuva *next, int *ret)
{
	struct gpuva *first = op->prev ? prev : next;
	const struct gpuva_op_map *m = op->prev ? op->prev : op->next;

	if (!piece_inside(va, m) ||
	    (op->prev && op->next &&
	     (!piece_inside(va, op->next) ||
	      op->next->va.addr < m->va.addr + m->va.range)))
		return false;
	if (gpuvm_va_tree_replace(&vm->tree, va->va.addr, m->va.addr, first))
		return false;
	gpuva_init_from_op(first, m);
	first->vm = vm;
	/* The entry and its VM reference pass from the old mapping. */
	*ret = 0;
	if (op->prev && op->next) {
		gpuva_init_from_op(next, op->next);
		*ret = gpuva_insert(vm, next);
	}
	GPUVM_PARANOID_CHECK(vm);
	return true;
}

int gpuva_remap(struct gpuva *prev, struct gpuva *next,
		const struct gpuva_op_remap *op)
{
	struct gpuva *va = op->unmap->va;
	struct gpuvm *vm = va->vm;
	size_t pieces = (op->prev ? 1 : 0) + (op->next ? 1 : 0);
	int ret;

	/*
	 * All or nothing: secure the nodes both pieces may need before the old
	 * mapping leaves the tree. A covered run path has them in the pool
	 * already, so this allocates nothing there.
	 */
	ret = gpuvm_va_tree_prealloc(
		&vm->tree, pieces * gpuvm_va_tree_insert_cost(&vm->tree));
	if (ret)
		return ret;

	/*
	 * The piece that starts first takes the old mapping's entry in
	 * place, one descent instead of a removal and an insert, when it lies
	 * inside the old mapping (always so for ops the walk made).
	 */
	if (pieces && remap_in_place(vm, va, op, prev, next, &ret))
		return ret;

	/* The old mapping's reference may be the last one; hold the VM. */
	gpuvm_get(vm);
	gpuva_remove(va);
	if (op->prev) {
		gpuva_init_from_op(prev, op->prev);
		ret = gpuva_insert(vm, prev);
	}
	if (!ret && op->next) {
		gpuva_init_from_op(next, op->next);
		ret = gpuva_insert(vm, next);
	}
	gpuvm_put(vm);
	/* Only a malformed op (pieces overlapping something) can fail here. */
	return ret;
}

void gpuva_unmap(const struct gpuva_op_unmap *op)
{
	gpuva_remove(op->va);
}

void gpuva_op_remap_to_unmap_range(const struct gpuva_op_remap *op,
				   uint64_t *start_addr, uint64_t *range)
{
	const struct gpuva *va = op->unmap->va;
	uint64_t start =
		op->prev ? op->prev->va.addr + op->prev->va.range : va->va.addr;
	uint64_t end =
		op->next ? op->next->va.addr : va->va.addr + va->va.range;

	*start_addr = start;
	*range = end - start;
}

int gpuvm_va_reserve(struct gpuvm *vm, unsigned int inserts, size_t *nodes)
{
	size_t n = (size_t)inserts * gpuvm_va_tree_insert_cost(&vm->tree);
	int ret = gpuvm_va_tree_reserve(&vm->tree, n);

	*nodes = ret ? 0 : n;
	return ret;
}

void gpuvm_va_unreserve(struct gpuvm *vm, size_t nodes)
{
	gpuvm_va_tree_unreserve(&vm->tree, nodes);
}

void gpuvm_get_stats(const struct gpuvm *vm, struct gpuvm_stats *stats)
{
	stats->nr_va =
		vm->tree.count - (vm->kernel_alloc_node.va.range ? 1 : 0);
	stats->tree_nodes = vm->tree.nr_nodes;
	stats->tree_spare = vm->tree.nr_spare;
	stats->tree_height = vm->tree.height;
	stats->tree_bytes = (vm->tree.nr_nodes + vm->tree.nr_spare) *
			    gpuvm_va_tree_node_size();
}

/* Iterators. */

/*
 * Bounds are tested on the tree's keys, not on the mappings: at 10^6
 * mappings each mapping read is a cache miss, and the safe iterator would
 * otherwise touch the next mapping on every step just to learn its start.
 */
static struct gpuva *iter_land(struct gpuvm_va_iter *it)
{
	uint64_t key = gpuvm_va_tree_cursor_key(&it->cur);
	struct gpuvm_va_tree_cursor c;

	if (key >= it->end) {
		it->va = NULL;
		return NULL;
	}
	it->va = cursor_va(&it->cur);
	it->key = key;
	it->next = NULL;
	if (it->safe) {
		c = it->cur;
		if (gpuvm_va_tree_next(&c) &&
		    gpuvm_va_tree_cursor_key(&c) < it->end) {
			it->next = cursor_va(&c);
			it->next_key = gpuvm_va_tree_cursor_key(&c);
		}
	}
	return it->va;
}

struct gpuva *gpuvm_va_iter_first(struct gpuvm_va_iter *it, struct gpuvm *vm,
				  uint64_t start, uint64_t end, bool safe)
{
	it->vm = vm;
	it->end = end;
	it->safe = safe;
	it->va = NULL;
	it->next = NULL;
	if (end <= start || !find_first_incl(vm, start, end - 1, &it->cur))
		return NULL;
	return iter_land(it);
}

struct gpuva *gpuvm_va_iter_next(struct gpuvm_va_iter *it)
{
	const struct gpuvm_va_tree *tree = &it->vm->tree;
	bool valid = gpuvm_va_tree_cursor_valid(tree, &it->cur);
	bool found;

	if (!it->va)
		return NULL;
	if (it->safe) {
		if (!it->next)
			found = false;
		else if (valid)
			found = gpuvm_va_tree_next(&it->cur);
		else
			found = gpuvm_va_tree_seek_ge(tree, it->next_key,
						      &it->cur);
	} else {
		/* Mappings start at most at 2^64 - 2, so key + 1 is safe. */
		if (valid)
			found = gpuvm_va_tree_next(&it->cur);
		else
			found = gpuvm_va_tree_seek_ge(tree, it->key + 1,
						      &it->cur);
	}
	if (!found) {
		it->va = NULL;
		return NULL;
	}
	return iter_land(it);
}

/* The invariant checker. */

#define CHECK(cond, ...)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			if (msg && len)                                        \
				snprintf(msg, len, __VA_ARGS__);               \
			return -EUCLEAN;                                       \
		}                                                              \
	} while (0)

int gpuvm_check_invariants(const struct gpuvm *vm, char *msg, size_t len)
{
	const struct gpuva *knode = &vm->kernel_alloc_node;
	struct gpuvm_va_tree_cursor cur;
	bool have_prev = false, saw_knode = false;
	uint64_t prev_last = 0;
	size_t n = 0;
	int ret;

	ret = gpuvm_va_tree_check(&vm->tree, msg, len);
	if (ret)
		return ret;
	CHECK(vm->mm_range && !gpuvm_add_overflows(vm->mm_start, vm->mm_range),
	      "VA space [0x%llx, +0x%llx) is empty or overflows",
	      (unsigned long long)vm->mm_start,
	      (unsigned long long)vm->mm_range);

	for (bool ok = gpuvm_va_tree_first(&vm->tree, &cur); ok;
	     ok = gpuvm_va_tree_next(&cur)) {
		const struct gpuva *va = cursor_va(&cur);
		uint64_t addr = va->va.addr;

		n++;
		CHECK(gpuvm_va_tree_cursor_key(&cur) == addr,
		      "mapping at 0x%llx filed under key 0x%llx",
		      (unsigned long long)addr,
		      (unsigned long long)gpuvm_va_tree_cursor_key(&cur));
		CHECK(va->vm == vm, "mapping at 0x%llx points at another VM",
		      (unsigned long long)addr);
		CHECK(va->va.range && !gpuvm_add_overflows(addr, va->va.range),
		      "mapping at 0x%llx has an empty or overflowing range",
		      (unsigned long long)addr);
		CHECK(in_mm_range(vm, addr, va->va.range),
		      "mapping [0x%llx, +0x%llx) lies outside the VA space",
		      (unsigned long long)addr,
		      (unsigned long long)va->va.range);
		CHECK(!have_prev || addr > prev_last,
		      "mapping at 0x%llx overlaps or precedes the one before "
		      "(ending at 0x%llx)",
		      (unsigned long long)addr, (unsigned long long)prev_last);
		if (va == knode)
			saw_knode = true;
		else
			CHECK(!in_kernel_node(vm, addr, va->va.range),
			      "mapping at 0x%llx intersects the reserved node",
			      (unsigned long long)addr);
		have_prev = true;
		prev_last = va_last(va);
	}
	CHECK(n == vm->tree.count, "walked %zu mappings, tree counts %zu", n,
	      vm->tree.count);
	CHECK(saw_knode == (knode->va.range != 0),
	      "reserved node %s the tree but is %sconfigured",
	      saw_knode ? "is in" : "is missing from",
	      knode->va.range ? "" : "not ");
	CHECK(gpuvm_kref_read(&vm->kref) >= 1, "VM has no reference");
	return 0;
}

#ifdef GPUVM_PARANOID
void gpuvm_paranoid_check(const struct gpuvm *vm, const char *where)
{
	char msg[256];

	if (gpuvm_check_invariants(vm, msg, sizeof(msg))) {
		fprintf(stderr, "gpuvm: invariant broken after %s: %s\n", where,
			msg);
		abort();
	}
}
#endif
