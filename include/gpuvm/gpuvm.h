/* SPDX-License-Identifier: MIT */
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
#ifndef GPUVM_GPUVM_H
#define GPUVM_GPUVM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <gpuvm/alloc.h>
#include <gpuvm/compiler.h>
#include <gpuvm/exec.h>
#include <gpuvm/gem.h>
#include <gpuvm/kref.h>
#include <gpuvm/list.h>
#include <gpuvm/llist.h>
#include <gpuvm/mutex.h>
#include <gpuvm/va_tree.h>

/*
 * DOC: Overview
 *
 * A struct gpuvm is one GPU virtual address space: the range [mm_start,
 * mm_start + mm_range), an optional reserved cut-out that no request may
 * touch (the "kernel node"), and a tree of mappings (struct gpuva) that never
 * overlap. Both structs are embedded in the user's own structs and recovered
 * with gpuvm_container_of(); the library never allocates a mapping.
 *
 * Address arithmetic never wraps: a range [addr, addr + range) is valid only
 * if addr + range fits in 64 bits, so the highest usable end is 2^64 - 1.
 * Unlike the kernel, a zero range is never valid.
 *
 * The reserved cut-out is a struct gpuva (gpuvm.kernel_alloc_node) inserted in
 * the tree, as upstream: lookups and iterators can return it, and
 * gpuvm_va_is_reserved() tells it apart. It holds no VM reference.
 */

/*
 * DOC: Split and merge
 *
 * gpuvm_sm_map() turns a request "map [addr, addr + range) to obj at offset"
 * into the steps that make the tree (and the page tables the user keeps in
 * step) look that way, calling the user's callbacks in ascending address
 * order. Every existing mapping that overlaps the request is visited once:
 *
 * - wholly inside the request: an UNMAP step;
 * - sticking out on one or both sides: a REMAP step, which removes the old
 *   mapping and re-creates its surviving head (prev) and/or tail (next), with
 *   the backing offsets moved by the distance from the old start;
 * - the new mapping comes last, as a MAP step.
 *
 * So a request yields at most one REMAP at each end, any number of UNMAPs in
 * between, then the MAP. Mappings are never merged with their neighbours.
 *
 * keep: an UNMAP or the unmap part of a REMAP carries keep = true when the
 * old mapping has an object, it is the request's object, and the old
 * mapping's offset at the start of the overlap equals the request's offset at
 * that address: the overlapping part already maps the same memory, so a
 * driver may leave its page-table entries in place. A mapping without an
 * object never keeps. gpuvm_sm_unmap() never keeps.
 *
 * Example: A maps [0x1000, 0x5000) at offset 0. Mapping B over [0x2000,
 * 0x3000) gives REMAP(unmap A, prev [0x1000, 0x2000) off 0, next [0x3000,
 * 0x5000) off 0x2000) then MAP B. Mapping A at offset 0 over [0x1000, 0x5000)
 * again then gives three UNMAPs with keep 1, 0, 1 and a MAP.
 *
 * Errors: the first callback that returns non-zero stops the walk and its
 * value is returned. Nothing is rolled back: the steps already made stand,
 * and the caller owns that partial state (upstream behaves the same).
 *
 * The callbacks must apply their step to the tree (gpuva_map(),
 * gpuva_remap(), gpuva_unmap()) before returning, because the walk continues
 * from the tree. The op passed to a callback, and a REMAP's prev, next and
 * unmap, live on the stack and are valid only during the call.
 *
 * The *_ops_create() forms record the same steps as a list without touching
 * the tree (staged mode: compute now, apply later with gpuva_map() and
 * friends). They allocate; the callback forms do not.
 */

/*
 * DOC: Locking
 *
 * The library never locks the tree. The user serialises every call that reads
 * or changes a VM's tree (insert, remove, find, iterate, sm_map/sm_unmap, the
 * ops_create functions, map/remap/unmap) with a lock of its own, as drivers do
 * with their VM mutex. Read-only calls (find*, range_valid, interval_empty,
 * iterators, ops_create) write nothing shared and may run concurrently with
 * each other. gpuvm_get() and gpuvm_put() are atomic and need no lock.
 */

/**
 * enum gpuvm_flags - VM flags
 * @GPUVM_RESV_PROTECTED: the VM's extobj/evict lists are protected by the
 *                        VM's reservation rather than by internal locks
 * @GPUVM_IMMEDIATE_MODE: the tree is updated in the job's run path, so it
 *                        always mirrors the page tables
 * @GPUVM_USERBITS: the first flag bit free for the user
 */
enum gpuvm_flags {
	GPUVM_RESV_PROTECTED = 1u << 0,
	GPUVM_IMMEDIATE_MODE = 1u << 1,
	GPUVM_USERBITS = 1u << 2,
};

/**
 * enum gpuva_flags - mapping flags
 * @GPUVA_INVALIDATED: the mapping's backing was invalidated (evicted)
 * @GPUVA_SPARSE: the mapping is a sparse (null) mapping
 * @GPUVA_USERBITS: the first flag bit free for the user
 */
enum gpuva_flags {
	GPUVA_INVALIDATED = 1u << 0,
	GPUVA_SPARSE = 1u << 1,
	GPUVA_USERBITS = 1u << 2,
};

struct gpuvm;
struct gpuvm_bo;
struct gpuva_op;

/**
 * struct gpuva - one mapping of a GPU VA space
 * @vm: the VM it is inserted in (set by gpuva_insert())
 * @vm_bo: the vm_bo that links it to its object, if linked
 * @flags: enum gpuva_flags bits and user bits
 * @va: @va.addr and @va.range: the mapped range
 * @gem: @gem.offset: offset into the object; @gem.obj: the object or NULL
 *       for a mapping without backing; @gem.entry: link in the vm_bo's list
 *       of mappings
 *
 * Embed it in the driver's mapping struct. 72 bytes on LP64.
 */
struct gpuva {
	struct gpuvm *vm;
	struct gpuvm_bo *vm_bo;
	uint32_t flags;
	struct {
		uint64_t addr;
		uint64_t range;
	} va;
	struct {
		uint64_t offset;
		struct gpuvm_gem *obj;
		struct gpuvm_list_head entry;
	} gem;
};

/**
 * enum gpuva_op_type - kinds of split/merge steps
 * @GPUVA_OP_MAP: create a mapping
 * @GPUVA_OP_REMAP: replace a mapping by its surviving pieces
 * @GPUVA_OP_UNMAP: remove a mapping
 * @GPUVA_OP_PREFETCH: prefetch a mapping
 * @GPUVA_OP_DRIVER: a user-defined op (never generated by the library)
 */
enum gpuva_op_type {
	GPUVA_OP_MAP,
	GPUVA_OP_REMAP,
	GPUVA_OP_UNMAP,
	GPUVA_OP_PREFETCH,
	GPUVA_OP_DRIVER,
};

/**
 * struct gpuva_op_map - a mapping to create
 * @va: @va.addr and @va.range: the range
 * @gem: @gem.offset and @gem.obj: the backing (obj NULL for none)
 */
struct gpuva_op_map {
	struct {
		uint64_t addr;
		uint64_t range;
	} va;
	struct {
		uint64_t offset;
		struct gpuvm_gem *obj;
	} gem;
};

/**
 * struct gpuva_op_unmap - a mapping to remove
 * @va: the mapping
 * @keep: the overlapping part maps the same memory as the request would; see
 *        "DOC: Split and merge"
 */
struct gpuva_op_unmap {
	struct gpuva *va;
	bool keep;
};

/**
 * struct gpuva_op_remap - a mapping replaced by its surviving pieces
 * @prev: the head piece, or NULL
 * @next: the tail piece, or NULL
 * @unmap: the mapping to remove
 */
struct gpuva_op_remap {
	struct gpuva_op_map *prev;
	struct gpuva_op_map *next;
	struct gpuva_op_unmap *unmap;
};

/**
 * struct gpuva_op_prefetch - a mapping to prefetch
 * @va: the mapping
 */
struct gpuva_op_prefetch {
	struct gpuva *va;
};

/**
 * struct gpuva_op - one step of a split/merge walk
 * @entry: link in struct gpuva_ops
 * @op: the kind
 * @map: for GPUVA_OP_MAP
 * @remap: for GPUVA_OP_REMAP
 * @unmap: for GPUVA_OP_UNMAP
 * @prefetch: for GPUVA_OP_PREFETCH
 */
struct gpuva_op {
	struct gpuvm_list_head entry;
	enum gpuva_op_type op;
	union {
		struct gpuva_op_map map;
		struct gpuva_op_remap remap;
		struct gpuva_op_unmap unmap;
		struct gpuva_op_prefetch prefetch;
	};
};

/**
 * struct gpuva_ops - a list of ops made by an *_ops_create() function
 * @list: the ops, in the order of the walk
 */
struct gpuva_ops {
	struct gpuvm_list_head list;
};

/**
 * struct gpuvm_map_req - a split/merge map request
 * @map: the range to map and its backing
 */
struct gpuvm_map_req {
	struct gpuva_op_map map;
};

/**
 * struct gpuvm_ops - the user's callbacks
 * @vm_free: mandatory; frees the struct embedding the VM on the last put
 * @op_alloc: optional; allocates a struct gpuva_op (zeroed) for the
 *            *_ops_create() functions, so that it can be embedded in a
 *            driver struct; the library allocator is used when unset
 * @op_free: frees what @op_alloc allocated; required with @op_alloc
 * @vm_bo_alloc: optional; allocates a zeroed struct gpuvm_bo, so that it can
 *               be embedded in a driver struct; the library allocator is
 *               used when unset
 * @vm_bo_free: frees what @vm_bo_alloc allocated; required with it
 * @vm_bo_validate: called by gpuvm_validate() for each evicted vm_bo, with
 *                  the exec that holds the locks; makes the object resident
 *                  again (and calls gpuvm_bo_evict(vm_bo, false))
 * @sm_step_map: gpuvm_sm_map()'s MAP step
 * @sm_step_remap: REMAP step of gpuvm_sm_map() and gpuvm_sm_unmap()
 * @sm_step_unmap: UNMAP step of gpuvm_sm_map() and gpuvm_sm_unmap()
 *
 * The step callbacks receive the op and the @priv given to the walk and
 * return 0 or a negative error that stops the walk.
 */
struct gpuvm_ops {
	void (*vm_free)(struct gpuvm *vm);
	struct gpuva_op *(*op_alloc)(void);
	void (*op_free)(struct gpuva_op *op);
	struct gpuvm_bo *(*vm_bo_alloc)(void);
	void (*vm_bo_free)(struct gpuvm_bo *vm_bo);
	int (*vm_bo_validate)(struct gpuvm_bo *vm_bo, struct gpuvm_exec *exec);
	int (*sm_step_map)(struct gpuva_op *op, void *priv);
	int (*sm_step_remap)(struct gpuva_op *op, void *priv);
	int (*sm_step_unmap)(struct gpuva_op *op, void *priv);
};

/**
 * struct gpuvm_bo_list - one of a VM's lists of vm_bos (extobj, evict)
 * @list: the vm_bos
 * @local_list: the list of a walk in progress (internal)
 * @lock: protects both unless the VM is GPUVM_RESV_PROTECTED
 */
struct gpuvm_bo_list {
	struct gpuvm_list_head list;
	struct gpuvm_list_head *local_list;
	struct gpuvm_mutex lock;
};

/**
 * struct gpuvm - a GPU VA space
 * @name: a name for messages
 * @flags: enum gpuvm_flags
 * @mm_start: the start of the VA space
 * @mm_range: the size of the VA space
 * @tree: the mappings, keyed by start address
 * @kref: the reference count
 * @kernel_alloc_node: the reserved cut-out (range 0 if none)
 * @ops: the user's callbacks
 * @r_obj: the object that carries the VM's common reservation, or NULL
 * @extobj: the vm_bos of external objects
 * @evict: the vm_bos whose object was evicted
 * @bo_defer: zombie vm_bos waiting for gpuvm_bo_deferred_cleanup()
 * @nr_zombies: how many are queued there (diagnostics)
 */
struct gpuvm {
	const char *name;
	uint32_t flags;
	uint64_t mm_start;
	uint64_t mm_range;
	struct gpuvm_va_tree tree;
	struct gpuvm_kref kref;
	struct gpuva kernel_alloc_node;
	const struct gpuvm_ops *ops;
	struct gpuvm_gem *r_obj;
	struct gpuvm_bo_list extobj;
	struct gpuvm_bo_list evict;
	struct gpuvm_llist_head bo_defer;
	atomic_uint nr_zombies;
};

/**
 * gpuvm_init() - initialise an embedded VM
 * @vm: the VM
 * @name: a name kept by pointer (the caller keeps it alive); NULL: "unknown"
 * @flags: enum gpuvm_flags
 * @r_obj: the object carrying the VM's common reservation (see
 *         gpuvm_resv_object_alloc()), or NULL for a VM without one (then
 *         every object counts as external); a reference is taken. Required
 *         with GPUVM_RESV_PROTECTED.
 * @start: the start of the VA space
 * @range: its size, not 0; @start + @range must not overflow
 * @reserve_offset: start of the reserved cut-out
 * @reserve_range: its size, 0 for none; it must lie inside the VA space
 * @ops: the callbacks; @ops->vm_free is mandatory
 *
 * The VM starts with one reference. Inserting the reserved node may allocate
 * a tree node.
 *
 * Return: 0, -EINVAL for a bad range, cut-out or missing callback, -ENOMEM.
 * On error nothing is kept (no reference on @r_obj).
 */
GPUVM_EXPORT int gpuvm_init(struct gpuvm *vm, const char *name, uint32_t flags,
			    struct gpuvm_gem *r_obj, uint64_t start,
			    uint64_t range, uint64_t reserve_offset,
			    uint64_t reserve_range,
			    const struct gpuvm_ops *ops);

/**
 * gpuvm_get() - take a reference on a VM
 * @vm: the VM, or NULL
 *
 * Context: any; atomic.
 *
 * Return: @vm.
 */
GPUVM_EXPORT struct gpuvm *gpuvm_get(struct gpuvm *vm);

/**
 * gpuvm_put() - drop a reference on a VM
 * @vm: the VM, or NULL
 *
 * On the last reference the VM is torn down: the reserved node leaves the
 * tree, a warning reports any mapping still present, the tree's nodes are
 * freed, the reference on r_obj is dropped, and ops->vm_free is called.
 *
 * Context: any; atomic unless it drops the last reference.
 */
GPUVM_EXPORT void gpuvm_put(struct gpuvm *vm);

/**
 * gpuvm_range_valid() - whether a range may hold a mapping
 * @vm: the VM
 * @addr: the start
 * @range: the size
 *
 * Valid means: not empty, no 64-bit overflow, inside the VA space, and not
 * intersecting the reserved cut-out.
 *
 * Context: pure; no tree access.
 *
 * Return: true if valid.
 */
GPUVM_EXPORT bool gpuvm_range_valid(const struct gpuvm *vm, uint64_t addr,
				    uint64_t range);

/**
 * gpuvm_interval_empty() - whether no mapping overlaps a range
 * @vm: the VM
 * @addr: the start
 * @range: the size
 *
 * The reserved node counts as a mapping here, as upstream. The range rules
 * are gpuva_find_first()'s.
 *
 * Context: the user's tree lock (read).
 *
 * Return: true if nothing overlaps [@addr, @addr + @range).
 */
GPUVM_EXPORT bool gpuvm_interval_empty(const struct gpuvm *vm, uint64_t addr,
				       uint64_t range);

/**
 * gpuvm_immediate_mode() - whether the VM was created in immediate mode
 * @vm: the VM
 *
 * Return: true if GPUVM_IMMEDIATE_MODE is set.
 */
static inline bool gpuvm_immediate_mode(const struct gpuvm *vm)
{
	return vm->flags & GPUVM_IMMEDIATE_MODE;
}

/**
 * gpuvm_resv_protected() - whether the VM's lists are protected by its resv
 * @vm: the VM
 *
 * Return: true if GPUVM_RESV_PROTECTED is set.
 */
static inline bool gpuvm_resv_protected(const struct gpuvm *vm)
{
	return vm->flags & GPUVM_RESV_PROTECTED;
}

/**
 * gpuvm_va_is_reserved() - whether @va is the VM's reserved node
 * @vm: the VM
 * @va: a mapping returned by a lookup or an iterator
 *
 * Return: true for the reserved cut-out.
 */
static inline bool gpuvm_va_is_reserved(const struct gpuvm *vm,
					const struct gpuva *va)
{
	return va == &vm->kernel_alloc_node;
}

/**
 * gpuva_insert() - insert a mapping
 * @vm: the VM
 * @va: the mapping; va.addr and va.range set, not inserted anywhere
 *
 * Sets @va->vm and takes a VM reference for the mapping. May allocate a tree
 * node unless the VM's reservation covers it (gpuvm_va_reserve()).
 *
 * Context: the user's tree lock.
 *
 * Return: 0, -EINVAL for an invalid range (see gpuvm_range_valid()), -EEXIST
 * if it overlaps a mapping, -ENOMEM; on error nothing changed.
 */
GPUVM_EXPORT int gpuva_insert(struct gpuvm *vm, struct gpuva *va);

/**
 * gpuva_remove() - remove a mapping
 * @va: an inserted mapping; not the reserved node (that warns and does
 *      nothing)
 *
 * Drops the mapping's VM reference (after the removal, so it may be the last).
 * Never allocates.
 *
 * Context: the user's tree lock.
 */
GPUVM_EXPORT void gpuva_remove(struct gpuva *va);

/**
 * gpuva_find() - the mapping of exactly [@addr, @addr + @range)
 * @vm: the VM
 * @addr: the start
 * @range: the size
 *
 * Context: the user's tree lock (read).
 *
 * Return: the mapping, or NULL.
 */
GPUVM_EXPORT struct gpuva *gpuva_find(const struct gpuvm *vm, uint64_t addr,
				      uint64_t range);

/**
 * gpuva_find_first() - the lowest mapping overlapping [@addr, @addr + @range)
 * @vm: the VM
 * @addr: the start
 * @range: the size; 0 finds nothing, and so does a range whose last address
 *         (@addr + @range - 1) does not fit in 64 bits. An end of exactly
 *         2^64 is accepted: lookups work on the inclusive last address, as
 *         the kernel's do.
 *
 * Context: the user's tree lock (read).
 *
 * Return: the mapping, or NULL.
 */
GPUVM_EXPORT struct gpuva *gpuva_find_first(const struct gpuvm *vm,
					    uint64_t addr, uint64_t range);

/**
 * gpuva_find_prev() - the mapping right before @start
 * @vm: the VM
 * @start: an address
 *
 * As upstream: the lowest mapping overlapping the closed interval
 * [@start - 1, @start], provided [@start - 1, @start) is a valid range (inside
 * the VA space, outside the cut-out); otherwise NULL.
 *
 * Context: the user's tree lock (read).
 *
 * Return: the mapping, or NULL.
 */
GPUVM_EXPORT struct gpuva *gpuva_find_prev(const struct gpuvm *vm,
					   uint64_t start);

/**
 * gpuva_find_next() - the mapping right after @end
 * @vm: the VM
 * @end: an address
 *
 * As upstream: the lowest mapping overlapping the closed interval [@end,
 * @end + 1], provided [@end, @end + 1) is a valid range; otherwise NULL.
 *
 * Context: the user's tree lock (read).
 *
 * Return: the mapping, or NULL.
 */
GPUVM_EXPORT struct gpuva *gpuva_find_next(const struct gpuvm *vm,
					   uint64_t end);

/**
 * gpuva_init_from_op() - set a mapping's range and backing from a map op
 * @va: the mapping
 * @op: the op
 */
static inline void gpuva_init_from_op(struct gpuva *va,
				      const struct gpuva_op_map *op)
{
	va->va.addr = op->va.addr;
	va->va.range = op->va.range;
	va->gem.obj = op->gem.obj;
	va->gem.offset = op->gem.offset;
}

/**
 * gpuva_invalidate() - set or clear a mapping's invalidated flag
 * @va: the mapping
 * @invalidate: the new state
 */
static inline void gpuva_invalidate(struct gpuva *va, bool invalidate)
{
	if (invalidate)
		va->flags |= GPUVA_INVALIDATED;
	else
		va->flags &= ~(uint32_t)GPUVA_INVALIDATED;
}

/**
 * gpuva_invalidated() - whether a mapping is invalidated
 * @va: the mapping
 *
 * Return: true if GPUVA_INVALIDATED is set.
 */
static inline bool gpuva_invalidated(const struct gpuva *va)
{
	return va->flags & GPUVA_INVALIDATED;
}

/**
 * struct gpuvm_va_iter - state of a mapping iterator
 * @vm: the VM
 * @cur: the tree position of @va
 * @end: iteration stops at mappings starting at or after this address
 * @key: start address of @va
 * @va: the current mapping
 * @next: for the safe iterators, the mapping to visit after @va
 * @next_key: start address of @next, kept so that @next is never read
 *            after the loop body ran
 * @safe: whether @next was captured before the loop body ran
 *
 * Declare one per loop and pass its address to the iterator macros.
 */
struct gpuvm_va_iter {
	struct gpuvm *vm;
	struct gpuvm_va_tree_cursor cur;
	uint64_t end;
	uint64_t key;
	struct gpuva *va;
	struct gpuva *next;
	uint64_t next_key;
	bool safe;
};

/**
 * gpuvm_va_iter_first() - start a walk over the mappings overlapping a range
 * @it: the iterator
 * @vm: the VM
 * @start: the range start
 * @end: the range end (exclusive); UINT64_MAX for "to the end"
 * @safe: capture the next mapping before the loop body runs, so the body may
 *        remove the current mapping and add mappings before the next one
 *
 * Without @safe the body may still change the tree: the walk then resumes at
 * the first mapping starting after the current one's start.
 *
 * Context: the user's tree lock.
 *
 * Return: the first mapping, or NULL.
 */
GPUVM_EXPORT struct gpuva *gpuvm_va_iter_first(struct gpuvm_va_iter *it,
					       struct gpuvm *vm, uint64_t start,
					       uint64_t end, bool safe);

/**
 * gpuvm_va_iter_next() - the next mapping of a walk
 * @it: the iterator
 *
 * Return: the next mapping, or NULL at the end.
 */
GPUVM_EXPORT struct gpuva *gpuvm_va_iter_next(struct gpuvm_va_iter *it);

/**
 * gpuvm_for_each_va() - walk all mappings in address order
 * @va: a struct gpuva pointer
 * @it: a struct gpuvm_va_iter pointer
 * @vm: the VM
 *
 * Includes the reserved node, as upstream.
 */
#define gpuvm_for_each_va(va, it, vm)                                          \
	for ((va) = gpuvm_va_iter_first((it), (vm), 0, UINT64_MAX, false);     \
	     (va); (va) = gpuvm_va_iter_next(it))

/**
 * gpuvm_for_each_va_safe() - walk all mappings; the body may remove @va
 * @va: a struct gpuva pointer
 * @it: a struct gpuvm_va_iter pointer
 * @vm: the VM
 */
#define gpuvm_for_each_va_safe(va, it, vm)                                     \
	for ((va) = gpuvm_va_iter_first((it), (vm), 0, UINT64_MAX, true);      \
	     (va); (va) = gpuvm_va_iter_next(it))

/**
 * gpuvm_for_each_va_range() - walk the mappings overlapping [@start, @end)
 * @va: a struct gpuva pointer
 * @it: a struct gpuvm_va_iter pointer
 * @vm: the VM
 * @start: the range start
 * @end: the range end (exclusive)
 */
#define gpuvm_for_each_va_range(va, it, vm, start, end)                        \
	for ((va) = gpuvm_va_iter_first((it), (vm), (start), (end), false);    \
	     (va); (va) = gpuvm_va_iter_next(it))

/**
 * gpuvm_for_each_va_range_safe() - as gpuvm_for_each_va_range(); the body may
 * remove @va
 * @va: a struct gpuva pointer
 * @it: a struct gpuvm_va_iter pointer
 * @vm: the VM
 * @start: the range start
 * @end: the range end (exclusive)
 */
#define gpuvm_for_each_va_range_safe(va, it, vm, start, end)                   \
	for ((va) = gpuvm_va_iter_first((it), (vm), (start), (end), true);     \
	     (va); (va) = gpuvm_va_iter_next(it))

/**
 * gpuvm_sm_map() - split/merge walk of a map request, with callbacks
 * @vm: the VM; its ops must provide all three sm_step callbacks
 * @priv: passed to every callback
 * @req: the request
 *
 * See "DOC: Split and merge". Allocates nothing itself; tree updates made by
 * the callbacks take reserved nodes if the VM has a reservation.
 *
 * Context: the user's tree lock (write).
 *
 * Return: 0, -EINVAL for an invalid range or missing callbacks (nothing
 * called), or the first callback error (steps made so far stand).
 */
GPUVM_EXPORT int gpuvm_sm_map(struct gpuvm *vm, void *priv,
			      const struct gpuvm_map_req *req);

/**
 * gpuvm_sm_unmap() - split/merge walk of an unmap request, with callbacks
 * @vm: the VM; its ops must provide sm_step_remap and sm_step_unmap
 * @priv: passed to every callback
 * @addr: the start of the range to unmap
 * @range: its size
 *
 * Mappings inside the range are unmapped; mappings sticking out are remapped
 * to their surviving pieces. keep is always false.
 *
 * Context: the user's tree lock (write).
 *
 * Return: 0, -EINVAL, or the first callback error (no rollback).
 */
GPUVM_EXPORT int gpuvm_sm_unmap(struct gpuvm *vm, void *priv, uint64_t addr,
				uint64_t range);

/**
 * gpuvm_sm_map_ops_create() - record the steps of a map request as a list
 * @vm: the VM
 * @req: the request
 * @ops: receives the list; free it with gpuva_ops_free()
 *
 * Does not change the tree. The list's unmap/remap ops point at the current
 * mappings: apply it before the tree changes otherwise.
 *
 * Context: the user's tree lock (read); allocates.
 *
 * Return: 0, -EINVAL for an invalid range, -ENOMEM (nothing allocated is
 * kept).
 */
GPUVM_EXPORT int gpuvm_sm_map_ops_create(struct gpuvm *vm,
					 const struct gpuvm_map_req *req,
					 struct gpuva_ops **ops);

/**
 * gpuvm_sm_unmap_ops_create() - record the steps of an unmap request
 * @vm: the VM
 * @addr: the start
 * @range: the size
 * @ops: receives the list; free it with gpuva_ops_free()
 *
 * Context: the user's tree lock (read); allocates.
 *
 * Return: 0, -EINVAL, -ENOMEM.
 */
GPUVM_EXPORT int gpuvm_sm_unmap_ops_create(struct gpuvm *vm, uint64_t addr,
					   uint64_t range,
					   struct gpuva_ops **ops);

/**
 * gpuvm_prefetch_ops_create() - one PREFETCH op per mapping in a range
 * @vm: the VM
 * @addr: the start
 * @range: the size
 * @ops: receives the list (possibly empty); free it with gpuva_ops_free()
 *
 * No splitting: every mapping overlapping the range gets one op, in address
 * order (the reserved node included, as upstream).
 *
 * Context: the user's tree lock (read); allocates.
 *
 * Return: 0, -EINVAL for an empty range or one whose last address does not
 * fit in 64 bits (an end of exactly 2^64 is accepted, as in
 * gpuva_find_first()), -ENOMEM.
 */
GPUVM_EXPORT int gpuvm_prefetch_ops_create(struct gpuvm *vm, uint64_t addr,
					   uint64_t range,
					   struct gpuva_ops **ops);

/**
 * gpuva_ops_free() - free a list made by an *_ops_create() function
 * @vm: the VM it was made for (its op_free callback is used)
 * @ops: the list, or NULL
 */
GPUVM_EXPORT void gpuva_ops_free(struct gpuvm *vm, struct gpuva_ops *ops);

/**
 * gpuva_map() - apply a MAP op: initialise @va from @op and insert it
 * @vm: the VM
 * @va: the mapping to insert
 * @op: the op
 *
 * Context: the user's tree lock (write). Allocates a tree node only if no
 * reserved or spare node is available.
 *
 * Return: 0, or the error of gpuva_insert() (nothing changed).
 */
GPUVM_EXPORT int gpuva_map(struct gpuvm *vm, struct gpuva *va,
			   const struct gpuva_op_map *op);

/**
 * gpuva_remap() - apply a REMAP op: remove the old mapping, insert the pieces
 * @prev: the mapping for op->prev (unused if op->prev is NULL)
 * @next: the mapping for op->next (unused if op->next is NULL)
 * @op: the op
 *
 * The pieces inherit nothing but what the op says; flags are the caller's.
 * Either the whole op applies or, on -ENOMEM, nothing does: the nodes the
 * pieces need are secured before the old mapping is removed.
 *
 * Context: the user's tree lock (write).
 *
 * Return: 0 or -ENOMEM.
 */
GPUVM_EXPORT int gpuva_remap(struct gpuva *prev, struct gpuva *next,
			     const struct gpuva_op_remap *op);

/**
 * gpuva_unmap() - apply an UNMAP op: remove the mapping
 * @op: the op
 *
 * Context: the user's tree lock (write). Never allocates.
 */
GPUVM_EXPORT void gpuva_unmap(const struct gpuva_op_unmap *op);

/**
 * gpuva_op_remap_to_unmap_range() - the hole a REMAP leaves
 * @op: the op
 * @start_addr: receives the first address no longer mapped
 * @range: receives the size of that hole
 */
GPUVM_EXPORT void gpuva_op_remap_to_unmap_range(const struct gpuva_op_remap *op,
						uint64_t *start_addr,
						uint64_t *range);

/**
 * gpuvm_va_reserve() - reserve tree nodes for inserts that must not allocate
 * @vm: the VM
 * @inserts: how many mappings will be inserted (three per map request
 *           covers the new mapping and both remap pieces)
 * @nodes: receives the amount reserved, to pass to gpuvm_va_unreserve()
 *
 * Reservations add up, so every queued job may hold its own.
 *
 * Context: the user's tree lock; may allocate.
 *
 * Return: 0 or -ENOMEM (nothing reserved).
 */
GPUVM_EXPORT int gpuvm_va_reserve(struct gpuvm *vm, unsigned int inserts,
				  size_t *nodes);

/**
 * gpuvm_va_unreserve() - release a reservation after its inserts ran
 * @vm: the VM
 * @nodes: the amount gpuvm_va_reserve() returned
 *
 * Context: the user's tree lock; may free memory.
 */
GPUVM_EXPORT void gpuvm_va_unreserve(struct gpuvm *vm, size_t nodes);

/**
 * struct gpuvm_stats - size figures of a VM
 * @nr_va: mappings in the tree (the reserved node excluded)
 * @tree_nodes: tree nodes in use
 * @tree_spare: spare tree nodes in the pool
 * @tree_height: levels of the tree
 * @tree_bytes: bytes of all tree nodes, pool included
 */
struct gpuvm_stats {
	size_t nr_va;
	size_t tree_nodes;
	size_t tree_spare;
	unsigned int tree_height;
	size_t tree_bytes;
};

/**
 * gpuvm_get_stats() - read a VM's size figures
 * @vm: the VM
 * @stats: filled in
 *
 * Context: the user's tree lock (read).
 */
GPUVM_EXPORT void gpuvm_get_stats(const struct gpuvm *vm,
				  struct gpuvm_stats *stats);

/**
 * gpuvm_check_invariants() - verify every invariant of a VM
 * @vm: the VM
 * @msg: receives a description of the first broken invariant (may be NULL)
 * @len: size of @msg
 *
 * Mappings in strictly ascending, non-overlapping order; each inside the VA
 * space, pointing back at @vm, and keyed by its start; the reserved node
 * present exactly when configured and intersecting no mapping; the tree's
 * own invariants (gpuvm_va_tree_check()). O(n); tests call it after every
 * operation.
 *
 * Context: the user's tree lock (read).
 *
 * Return: 0 if sound, -EUCLEAN otherwise.
 */
GPUVM_EXPORT int gpuvm_check_invariants(const struct gpuvm *vm, char *msg,
					size_t len);

/** gpuva_first_op() - the first op of a list */
#define gpuva_first_op(ops)                                                    \
	gpuvm_list_first_entry(&(ops)->list, struct gpuva_op, entry)

/** gpuva_last_op() - the last op of a list */
#define gpuva_last_op(ops)                                                     \
	gpuvm_list_last_entry(&(ops)->list, struct gpuva_op, entry)

/** gpuva_prev_op() - the op before @op */
#define gpuva_prev_op(op)                                                      \
	gpuvm_list_entry((op)->entry.prev, struct gpuva_op, entry)

/** gpuva_next_op() - the op after @op */
#define gpuva_next_op(op)                                                      \
	gpuvm_list_entry((op)->entry.next, struct gpuva_op, entry)

/** gpuva_for_each_op() - walk a list of ops */
#define gpuva_for_each_op(op, ops)                                             \
	gpuvm_list_for_each_entry(op, &(ops)->list, struct gpuva_op, entry)

/** gpuva_for_each_op_safe() - walk a list of ops; @op may be removed */
#define gpuva_for_each_op_safe(op, next, ops)                                  \
	gpuvm_list_for_each_entry_safe(op, next, &(ops)->list,                 \
				       struct gpuva_op, entry)

/** gpuva_for_each_op_reverse() - walk a list of ops backwards */
#define gpuva_for_each_op_reverse(op, ops)                                     \
	gpuvm_list_for_each_entry_reverse(op, &(ops)->list, struct gpuva_op,   \
					  entry)

/**
 * gpuva_for_each_op_from_reverse() - walk backwards from @op (included) to
 * the first op, e.g. to unwind the ops applied before one that failed
 */
#define gpuva_for_each_op_from_reverse(op, ops)                                \
	for (; &(op)->entry != &(ops)->list; (op) = gpuva_prev_op(op))

/* The vm_bo, extobj/evict and locking helpers build on the above. */
#include <gpuvm/vm_bo.h>

#endif /* GPUVM_GPUVM_H */
