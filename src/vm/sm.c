// SPDX-License-Identifier: MIT
/*
 * Copyright (c) 2026 The libgpuvm authors
 *
 * The split/merge engine: one walk per request kind, each emitting steps
 * through a sink. The callback forms hand each step to the user's
 * sm_step_* callback with the op on the stack; the *_ops_create() forms copy
 * each step into a list. Sharing the walk is what makes the two forms agree
 * step for step.
 */
#include <errno.h>
#include <string.h>

#include "vm/vm_internal.h"

struct sm_sink {
	/* Receives one step; a non-zero return stops the walk. */
	int (*step)(struct sm_sink *sink, struct gpuva_op *op);
};

struct sm_user_sink {
	struct sm_sink base;
	const struct gpuvm_ops *ops;
	void *priv;
};

struct sm_list_sink {
	struct sm_sink base;
	struct gpuvm *vm;
	struct gpuva_ops *ops;
};

static int emit_map(struct sm_sink *sink, const struct gpuva_op_map *map)
{
	struct gpuva_op op;

	memset(&op, 0, sizeof(op));
	op.op = GPUVA_OP_MAP;
	op.map = *map;
	return sink->step(sink, &op);
}

static int emit_unmap(struct sm_sink *sink, struct gpuva *va, bool keep)
{
	struct gpuva_op op;

	memset(&op, 0, sizeof(op));
	op.op = GPUVA_OP_UNMAP;
	op.unmap.va = va;
	op.unmap.keep = keep;
	return sink->step(sink, &op);
}

static int emit_remap(struct sm_sink *sink, struct gpuva_op_map *prev,
		      struct gpuva_op_map *next, struct gpuva *va, bool keep)
{
	struct gpuva_op_unmap unmap = { .va = va, .keep = keep };
	struct gpuva_op op;

	memset(&op, 0, sizeof(op));
	op.op = GPUVA_OP_REMAP;
	op.remap.prev = prev;
	op.remap.next = next;
	op.remap.unmap = &unmap;
	return sink->step(sink, &op);
}

static void piece(struct gpuva_op_map *p, uint64_t addr, uint64_t range,
		  struct gpuvm_gem *obj, uint64_t offset)
{
	p->va.addr = addr;
	p->va.range = range;
	p->gem.obj = obj;
	p->gem.offset = offset;
}

/*
 * The MAP step ends in an insert that checks the new range against the
 * mapping before it, which at 10^6 mappings is a cache miss of its own.
 * The walk's first position already names that mapping (or the one the
 * head piece of a REMAP will replace): start loading it now, so the miss
 * overlaps the steps before the MAP.
 */
static inline void prefetch_prev(const struct gpuvm_va_iter *it)
{
#if defined(__GNUC__)
	struct gpuvm_va_tree_cursor c = it->cur;

	if (it->va && gpuvm_va_tree_prev(&c))
		__builtin_prefetch(gpuvm_va_tree_cursor_val(&c));
#else
	(void)it;
#endif
}

/*
 * The map walk. Each overlapping mapping is classified by where it starts
 * relative to the request (same start, before, after) and where it ends
 * (same end, before, after). Everything the step needs is read into locals
 * before the step runs, because the step may remove and free the mapping;
 * the safe iterator captured the next mapping before that.
 */
static int sm_map_walk(struct gpuvm *vm, struct sm_sink *sink,
		       const struct gpuvm_map_req *req)
{
	const uint64_t addr = req->map.va.addr;
	const uint64_t range = req->map.va.range;
	const uint64_t end = addr + range;
	struct gpuvm_gem *const obj = req->map.gem.obj;
	const uint64_t offset = req->map.gem.offset;
	struct gpuvm_va_iter it;
	struct gpuva *va;
	int ret;

	if (!gpuvm_range_valid(vm, addr, range))
		return -EINVAL;

	va = gpuvm_va_iter_first(&it, vm, addr, end, true);
	prefetch_prev(&it);
	for (; va; va = gpuvm_va_iter_next(&it)) {
		const uint64_t va_addr = va->va.addr;
		const uint64_t va_range = va->va.range;
		const uint64_t va_end = va_addr + va_range;
		struct gpuvm_gem *const va_obj = va->gem.obj;
		const uint64_t va_off = va->gem.offset;
		struct gpuva_op_map p, n;
		bool keep = va_obj != NULL && va_obj == obj;

		if (va_addr == addr) {
			keep = keep && va_off == offset;
			if (va_end <= end) {
				ret = emit_unmap(sink, va, keep);
			} else {
				piece(&n, end, va_range - range, va_obj,
				      va_off + range);
				ret = emit_remap(sink, NULL, &n, va, keep);
			}
		} else if (va_addr < addr) {
			const uint64_t ls = addr - va_addr;

			keep = keep && va_off + ls == offset;
			piece(&p, va_addr, ls, va_obj, va_off);
			if (va_end <= end) {
				ret = emit_remap(sink, &p, NULL, va, keep);
			} else {
				piece(&n, end, va_end - end, va_obj,
				      va_off + ls + range);
				ret = emit_remap(sink, &p, &n, va, keep);
			}
		} else {
			keep = keep && va_off == offset + (va_addr - addr);
			if (va_end <= end) {
				ret = emit_unmap(sink, va, keep);
			} else {
				piece(&n, end, va_end - end, va_obj,
				      va_off + (end - va_addr));
				ret = emit_remap(sink, NULL, &n, va, keep);
			}
		}
		if (ret)
			return ret;
		/* Nothing after a mapping reaching the end can overlap. */
		if (va_end >= end)
			break;
	}
	return emit_map(sink, &req->map);
}

/* The unmap walk: no keep, pieces on whichever sides stick out. */
static int sm_unmap_walk(struct gpuvm *vm, struct sm_sink *sink, uint64_t addr,
			 uint64_t range)
{
	const uint64_t end = addr + range;
	struct gpuvm_va_iter it;
	struct gpuva *va;
	int ret;

	if (!gpuvm_range_valid(vm, addr, range))
		return -EINVAL;

	gpuvm_for_each_va_range_safe(va, &it, vm, addr, end) {
		const uint64_t va_addr = va->va.addr;
		const uint64_t va_end = va_addr + va->va.range;
		struct gpuvm_gem *const va_obj = va->gem.obj;
		const uint64_t va_off = va->gem.offset;
		struct gpuva_op_map p, n;
		const bool has_prev = va_addr < addr;
		const bool has_next = va_end > end;

		if (has_prev)
			piece(&p, va_addr, addr - va_addr, va_obj, va_off);
		if (has_next)
			piece(&n, end, va_end - end, va_obj,
			      va_off + (end - va_addr));
		if (has_prev || has_next)
			ret = emit_remap(sink, has_prev ? &p : NULL,
					 has_next ? &n : NULL, va, false);
		else
			ret = emit_unmap(sink, va, false);
		if (ret)
			return ret;
		if (has_next)
			break;
	}
	return 0;
}

/* Callback forms. */

static int user_step(struct sm_sink *sink, struct gpuva_op *op)
{
	struct sm_user_sink *s = (struct sm_user_sink *)sink;

	switch (op->op) {
	case GPUVA_OP_MAP:
		return s->ops->sm_step_map(op, s->priv);
	case GPUVA_OP_REMAP:
		return s->ops->sm_step_remap(op, s->priv);
	case GPUVA_OP_UNMAP:
		return s->ops->sm_step_unmap(op, s->priv);
	default:
		return -EINVAL;
	}
}

int gpuvm_sm_map(struct gpuvm *vm, void *priv, const struct gpuvm_map_req *req)
{
	const struct gpuvm_ops *ops = vm->ops;
	struct sm_user_sink sink = { { user_step }, ops, priv };

	if (!ops || !ops->sm_step_map || !ops->sm_step_remap ||
	    !ops->sm_step_unmap || !req)
		return -EINVAL;
	return sm_map_walk(vm, &sink.base, req);
}

int gpuvm_sm_unmap(struct gpuvm *vm, void *priv, uint64_t addr, uint64_t range)
{
	const struct gpuvm_ops *ops = vm->ops;
	struct sm_user_sink sink = { { user_step }, ops, priv };

	if (!ops || !ops->sm_step_remap || !ops->sm_step_unmap)
		return -EINVAL;
	return sm_unmap_walk(vm, &sink.base, addr, range);
}

/* List forms. */

static struct gpuva_op *op_alloc(struct gpuvm *vm)
{
	struct gpuva_op *op;

	if (vm->ops->op_alloc) {
		op = vm->ops->op_alloc();
		if (op)
			memset(op, 0, sizeof(*op));
		return op;
	}
	return gpuvm_zalloc(sizeof(*op));
}

static void op_free(struct gpuvm *vm, struct gpuva_op *op)
{
	if (vm->ops->op_free)
		vm->ops->op_free(op);
	else
		gpuvm_free(op, sizeof(*op));
}

static void *dup_or_null(const void *src, size_t size, bool *failed)
{
	void *p;

	if (!src)
		return NULL;
	p = gpuvm_alloc(size);
	if (!p) {
		*failed = true;
		return NULL;
	}
	memcpy(p, src, size);
	return p;
}

static void remap_free(struct gpuva_op_remap *r)
{
	gpuvm_free(r->prev, sizeof(*r->prev));
	gpuvm_free(r->next, sizeof(*r->next));
	gpuvm_free(r->unmap, sizeof(*r->unmap));
}

static int list_step(struct sm_sink *sink, struct gpuva_op *src)
{
	struct sm_list_sink *s = (struct sm_list_sink *)sink;
	struct gpuva_op *op = op_alloc(s->vm);
	bool failed = false;

	if (!op)
		return -ENOMEM;
	op->op = src->op;
	switch (src->op) {
	case GPUVA_OP_REMAP:
		/* The walk's pieces live on its stack: copy them. */
		op->remap.prev = dup_or_null(src->remap.prev,
					     sizeof(*src->remap.prev), &failed);
		op->remap.next = dup_or_null(src->remap.next,
					     sizeof(*src->remap.next), &failed);
		op->remap.unmap = dup_or_null(
			src->remap.unmap, sizeof(*src->remap.unmap), &failed);
		if (failed) {
			remap_free(&op->remap);
			op_free(s->vm, op);
			return -ENOMEM;
		}
		break;
	case GPUVA_OP_MAP:
		op->map = src->map;
		break;
	case GPUVA_OP_UNMAP:
		op->unmap = src->unmap;
		break;
	case GPUVA_OP_PREFETCH:
		op->prefetch = src->prefetch;
		break;
	default:
		op_free(s->vm, op);
		return -EINVAL;
	}
	gpuvm_list_add_tail(&op->entry, &s->ops->list);
	return 0;
}

void gpuva_ops_free(struct gpuvm *vm, struct gpuva_ops *ops)
{
	struct gpuva_op *op, *next;

	if (!ops)
		return;
	gpuva_for_each_op_safe(op, next, ops) {
		gpuvm_list_del(&op->entry);
		if (op->op == GPUVA_OP_REMAP)
			remap_free(&op->remap);
		op_free(vm, op);
	}
	gpuvm_free(ops, sizeof(*ops));
}

/*
 * Runs @walk into a fresh list. On any failure the partial list is freed,
 * so the caller either gets the whole list or nothing.
 */
static int ops_create(struct gpuvm *vm, struct gpuva_ops **out,
		      int (*walk)(struct sm_list_sink *sink, const void *arg),
		      const void *arg)
{
	struct sm_list_sink sink = { { list_step }, vm, NULL };
	int ret;

	*out = NULL;
	sink.ops = gpuvm_alloc(sizeof(*sink.ops));
	if (!sink.ops)
		return -ENOMEM;
	gpuvm_list_init(&sink.ops->list);
	ret = walk(&sink, arg);
	if (ret) {
		gpuva_ops_free(vm, sink.ops);
		return ret;
	}
	*out = sink.ops;
	return 0;
}

static int walk_map(struct sm_list_sink *sink, const void *arg)
{
	return sm_map_walk(sink->vm, &sink->base, arg);
}

struct unmap_args {
	uint64_t addr, range;
};

static int walk_unmap(struct sm_list_sink *sink, const void *arg)
{
	const struct unmap_args *a = arg;

	return sm_unmap_walk(sink->vm, &sink->base, a->addr, a->range);
}

static int walk_prefetch(struct sm_list_sink *sink, const void *arg)
{
	const struct unmap_args *a = arg;
	struct gpuvm_va_iter it;
	struct gpuva *va;
	struct gpuva_op op;
	uint64_t end;
	int ret;

	/* No mapping starts at 2^64 - 1, so that bound stands for 2^64. */
	end = a->addr + a->range ? a->addr + a->range : UINT64_MAX;
	gpuvm_for_each_va_range(va, &it, sink->vm, a->addr, end) {
		memset(&op, 0, sizeof(op));
		op.op = GPUVA_OP_PREFETCH;
		op.prefetch.va = va;
		ret = list_step(&sink->base, &op);
		if (ret)
			return ret;
	}
	return 0;
}

int gpuvm_sm_map_ops_create(struct gpuvm *vm, const struct gpuvm_map_req *req,
			    struct gpuva_ops **ops)
{
	if (!req || !ops)
		return -EINVAL;
	/* Reject before allocating the list head. */
	if (!gpuvm_range_valid(vm, req->map.va.addr, req->map.va.range)) {
		*ops = NULL;
		return -EINVAL;
	}
	return ops_create(vm, ops, walk_map, req);
}

int gpuvm_sm_unmap_ops_create(struct gpuvm *vm, uint64_t addr, uint64_t range,
			      struct gpuva_ops **ops)
{
	struct unmap_args a = { addr, range };

	if (!ops)
		return -EINVAL;
	if (!gpuvm_range_valid(vm, addr, range)) {
		*ops = NULL;
		return -EINVAL;
	}
	return ops_create(vm, ops, walk_unmap, &a);
}

int gpuvm_prefetch_ops_create(struct gpuvm *vm, uint64_t addr, uint64_t range,
			      struct gpuva_ops **ops)
{
	struct unmap_args a = { addr, range };

	if (!ops)
		return -EINVAL;
	if (!range || gpuvm_add_overflows(addr, range - 1)) {
		*ops = NULL;
		return -EINVAL;
	}
	return ops_create(vm, ops, walk_prefetch, &a);
}

/*
 * Exec locking: the same walks, with a sink that locks the object of every
 * mapping a step would unmap or remap and changes nothing.
 */
struct sm_lock_sink {
	struct sm_sink base;
	struct gpuvm_exec *exec;
};

static int lock_step(struct sm_sink *sink, struct gpuva_op *op)
{
	struct sm_lock_sink *s = (struct sm_lock_sink *)sink;
	struct gpuva *va = NULL;

	if (op->op == GPUVA_OP_REMAP)
		va = op->remap.unmap->va;
	else if (op->op == GPUVA_OP_UNMAP)
		va = op->unmap.va;
	if (!va || !va->gem.obj)
		return 0;
	return gpuvm_exec_lock_obj(s->exec, va->gem.obj);
}

int gpuvm_sm_map_exec_lock(struct gpuvm *vm, struct gpuvm_exec *exec,
			   unsigned int num_fences,
			   const struct gpuvm_map_req *req)
{
	struct sm_lock_sink sink = { { lock_step }, exec };
	struct gpuvm_gem *obj = req->map.gem.obj;

	if (obj) {
		int ret = num_fences ? gpuvm_exec_prepare_obj(exec, obj,
							      num_fences)
				     : gpuvm_exec_lock_obj(exec, obj);

		if (ret)
			return ret;
	}
	return sm_map_walk(vm, &sink.base, req);
}

int gpuvm_sm_unmap_exec_lock(struct gpuvm *vm, struct gpuvm_exec *exec,
			     uint64_t addr, uint64_t range)
{
	struct sm_lock_sink sink = { { lock_step }, exec };

	return sm_unmap_walk(vm, &sink.base, addr, range);
}

struct bo_unmap_args {
	struct gpuvm_bo *vm_bo;
};

static int walk_bo_unmap(struct sm_list_sink *sink, const void *arg)
{
	const struct bo_unmap_args *a = arg;
	struct gpuva_op op;
	struct gpuva *va;
	int ret;

	gpuvm_bo_for_each_va(va, a->vm_bo) {
		memset(&op, 0, sizeof(op));
		op.op = GPUVA_OP_UNMAP;
		op.unmap.va = va;
		ret = list_step(&sink->base, &op);
		if (ret)
			return ret;
	}
	return 0;
}

int gpuvm_bo_unmap_ops_create(struct gpuvm_bo *vm_bo, struct gpuva_ops **ops)
{
	struct bo_unmap_args a = { vm_bo };

	if (!vm_bo || !ops)
		return -EINVAL;
	gpuvm_gem_gpuva_assert_lock_held(vm_bo->vm, vm_bo->obj);
	return ops_create(vm_bo->vm, ops, walk_bo_unmap, &a);
}
