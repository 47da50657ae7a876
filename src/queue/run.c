// SPDX-License-Identifier: MIT
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
#include <errno.h>
#include <string.h>

#include "queue/queue_internal.h"
#include "vm/vm_internal.h"

/*
 * The run path: everything here executes inside a fence-signalling section
 * with the tree lock held. It only consumes what submit preallocated; each
 * step checks that its preallocation really covers it before going on, and
 * counts a violation (and fails the step) instead of reaching for the
 * allocator.
 */

static struct bind_run *run_of(void *priv)
{
	struct bind_run *run = priv;

	if (gpuvm_unlikely(!run || run->magic != BIND_RUN_MAGIC)) {
		gpuvm_warn("bind queue step called outside a bind queue's run "
			   "path");
		return NULL;
	}
	return run;
}

/* Takes a preallocated mapping of the job's reservation from the pool. */
static struct bind_va *pool_pop(struct bind_run *run)
{
	struct bind_job *job = run->job;
	struct gpuvm_bind_vm *bvm = run->bvm;
	struct bind_va *bva = bvm->va_spare;

	if (gpuvm_unlikely(job->va_taken >= job->va_reserved || !bva)) {
		run->cnt->violations++;
		gpuvm_warn("bind queue '%s': a job ran out of preallocated "
			   "mappings",
			   job->q->name);
		return NULL;
	}
	bvm->va_spare = bva->next;
	bvm->nr_va_spare--;
	bvm->va_floor--;
	job->va_taken++;
	memset(bva, 0, sizeof(*bva));
	return bva;
}

/* Gives back a mapping pool_pop() handed out that a step did not use. */
static void pool_push(struct bind_run *run, struct bind_va *bva)
{
	struct gpuvm_bind_vm *bvm = run->bvm;

	if (!bva)
		return;
	bva->next = bvm->va_spare;
	bvm->va_spare = bva;
	bvm->nr_va_spare++;
	bvm->va_floor++;
	run->job->va_taken--;
}

/*
 * A mapping the tree no longer holds joins the spares. Nothing else
 * points at it: it was unlinked from its vm_bo, and readers of the tree
 * hold the tree lock.
 */
static void removed_push(struct bind_run *run, struct bind_va *bva)
{
	struct gpuvm_bind_vm *bvm = run->bvm;

	bva->next = bvm->va_spare;
	bvm->va_spare = bva;
	bvm->nr_va_spare++;
}

/*
 * Whether @inserts inserts can run without the allocator: gpuva_remap()
 * secures inserts * insert_cost nodes up front, a lone insert needs at
 * most one node per level plus a new root.
 */
static bool tree_covers(struct bind_run *run, unsigned int inserts)
{
	const struct gpuvm_va_tree *tree = &run->bvm->vm->tree;
	size_t need = inserts > 1 ? inserts * gpuvm_va_tree_insert_cost(tree)
				  : (size_t)tree->height + 1;

	if (gpuvm_likely(tree->nr_spare >= need))
		return true;
	run->cnt->violations++;
	gpuvm_warn("bind queue '%s': the tree reservation does not cover an "
		   "insert (%zu spare node(s), %zu needed)",
		   run->job->q->name, tree->nr_spare, need);
	return false;
}

static int pt_result(struct bind_run *run, int ret)
{
	if (ret == -ENOSPC)
		run->cnt->violations++;
	return ret;
}

/* Writes the entries of [addr, addr + range) for a MAP step. */
static int pt_map(struct bind_run *run, const struct gpuva_op_map *m)
{
	struct gpuvm_bind_vm *bvm = run->bvm;
	struct gpuvm_pt_resv *resv = &run->job->pt_resv;
	unsigned int flags = gpuvm_q_pt_flags(run->req->flags);
	uint64_t addr = m->va.addr, range = m->va.range;
	uint64_t offset = m->gem.offset;

	if (!bvm->pt)
		return 0;
	if (!m->gem.obj)
		return pt_result(run,
				 gpuvm_pt_map(bvm->pt, addr, range, 0,
					      flags | GPUVM_PT_NULL, resv));
	while (range) {
		uint64_t pa, len;
		int ret = gpuvm_q_gem_pa(bvm, m->gem.obj, offset, range, &pa,
					 &len);

		if (ret)
			return ret;
		ret = gpuvm_pt_map(bvm->pt, addr, len, pa, flags, resv);
		if (ret)
			return pt_result(run, ret);
		addr += len;
		offset += len;
		range -= len;
	}
	return 0;
}

static int pt_unmap(struct bind_run *run, uint64_t addr, uint64_t range,
		    bool keep)
{
	struct gpuvm_bind_vm *bvm = run->bvm;
	int ret;

	if (!bvm->pt)
		return 0;
	ret = gpuvm_pt_unmap(bvm->pt, addr, range, keep ? GPUVM_PT_KEEP : 0,
			     &run->job->pt_resv);
	if (!ret && keep)
		run->cnt->pt_pages_kept += range >> GPUVM_PT_PAGE_SHIFT;
	return pt_result(run, ret);
}

/*
 * The step will unlink @va from its vm_bo's list, which writes its two
 * neighbours there: mappings anywhere in memory. Start loading them now,
 * so that the page-table work before the unlink hides the misses.
 */
static inline void prefetch_unlink(const struct gpuva *va)
{
	if (va->vm_bo) {
		gpuvm_prefetch_w(va->gem.entry.next);
		gpuvm_prefetch_w(va->gem.entry.prev);
	}
}

/* Unlinks a mapping the tree no longer holds, deferring a last put. */
static void unlink_old(struct bind_run *run, struct gpuva *va)
{
	if (!va->gem.obj || !va->vm_bo)
		return;
	if (gpuvm_va_unlink_defer_zombie(va))
		run->cnt->zombies_created++;
}

int gpuvm_bind_step_map(struct gpuva_op *op, void *priv)
{
	struct bind_run *run = run_of(priv);
	struct gpuvm_gem *obj;
	struct bind_va *bva;
	int ret;

	if (!run)
		return -EINVAL;
	obj = op->map.gem.obj;
	bva = pool_pop(run);
	if (!bva)
		return -ENOSPC;
	ret = pt_map(run, &op->map);
	if (ret)
		goto fail;
	if (!tree_covers(run, 1)) {
		ret = -ENOSPC;
		goto fail;
	}
	ret = gpuva_map(run->bvm->vm, &bva->va, &op->map);
	if (ret)
		goto fail;
	bva->bflags = run->req->flags;
	if (run->req->flags & GPUVM_BIND_SPARSE)
		bva->va.flags |= GPUVA_SPARSE;
	if (obj) {
		/*
		 * The link takes its own reference; the job's, shared by
		 * every request of the job on this object, is dropped by
		 * the cleanup.
		 */
		gpuvm_gem_gpuva_lock(obj);
		gpuva_link(&bva->va, *run->vm_bo);
		gpuvm_gem_gpuva_unlock(obj);
	}
	run->cnt->steps_map++;
	return 0;

fail:
	pool_push(run, bva);
	return ret;
}

int gpuvm_bind_step_remap(struct gpuva_op *op, void *priv)
{
	struct bind_run *run = run_of(priv);
	struct bind_va *prev = NULL, *next = NULL, *old;
	struct gpuva_op_remap *r;
	uint64_t hole, hole_range;
	unsigned int pieces;
	int ret;

	if (!run)
		return -EINVAL;
	r = &op->remap;
	old = to_bind_va(r->unmap->va);
	pieces = (r->prev ? 1 : 0) + (r->next ? 1 : 0);
	if (r->prev && !(prev = pool_pop(run)))
		return -ENOSPC;
	if (r->next && !(next = pool_pop(run))) {
		ret = -ENOSPC;
		goto fail;
	}
	prefetch_unlink(r->unmap->va);
	gpuva_op_remap_to_unmap_range(r, &hole, &hole_range);
	ret = pt_unmap(run, hole, hole_range, r->unmap->keep);
	if (ret)
		goto fail;
	if (!tree_covers(run, pieces)) {
		ret = -ENOSPC;
		goto fail;
	}
	ret = gpuva_remap(prev ? &prev->va : NULL, next ? &next->va : NULL, r);
	if (ret)
		goto fail;
	/* The pieces are the old mapping's: same attributes, same vm_bo. */
	if (prev) {
		prev->bflags = old->bflags;
		prev->va.flags = old->va.flags;
	}
	if (next) {
		next->bflags = old->bflags;
		next->va.flags = old->va.flags;
	}
	if (old->va.gem.obj && old->va.vm_bo) {
		struct gpuvm_gem *obj = old->va.gem.obj;

		gpuvm_gem_gpuva_lock(obj);
		if (prev)
			gpuva_link(&prev->va, old->va.vm_bo);
		if (next)
			gpuva_link(&next->va, old->va.vm_bo);
		gpuvm_gem_gpuva_unlock(obj);
	}
	unlink_old(run, &old->va);
	removed_push(run, old);
	run->cnt->steps_remap++;
	return 0;

fail:
	pool_push(run, next);
	pool_push(run, prev);
	return ret;
}

int gpuvm_bind_step_unmap(struct gpuva_op *op, void *priv)
{
	struct bind_run *run = run_of(priv);
	struct gpuva *va;
	int ret;

	if (!run)
		return -EINVAL;
	va = op->unmap.va;
	prefetch_unlink(va);
	ret = pt_unmap(run, va->va.addr, va->va.range, op->unmap.keep);
	if (ret)
		return ret;
	unlink_old(run, va);
	gpuva_unmap(&op->unmap);
	removed_push(run, to_bind_va(va));
	run->cnt->steps_unmap++;
	return 0;
}

static void pt_delta(struct bind_counters *cnt,
		     const struct gpuvm_pt_stats *before,
		     const struct gpuvm_pt_stats *after)
{
	cnt->pt_entries_written +=
		after->entries_written - before->entries_written;
	cnt->pt_entries_cleared +=
		after->entries_cleared - before->entries_cleared;
	cnt->pt_entries_kept += after->kept_entries - before->kept_entries;
}

/*
 * A job's requests land all over a large tree: start the cache misses of
 * the next batch of lookups together, ahead of the requests that need
 * them.
 */
#define PREFETCH_BATCH 32

static void prefetch_reqs(struct gpuvm_bind_vm *bvm, const struct bind_job *job,
			  unsigned int from)
{
	uint64_t keys[PREFETCH_BATCH];
	unsigned int n = 0;

	for (unsigned int i = from; i < job->nr_reqs && n < PREFETCH_BATCH;
	     i++) {
		const struct gpuvm_gem *obj = job->reqs[i].obj;

		keys[n++] = job->reqs[i].addr;
		/* A map links to the object's list under its gpuva mutex. */
		if (obj) {
			gpuvm_prefetch_w(&obj->gpuva);
			gpuvm_prefetch_w(job->vm_bos[i]);
		}
	}
	gpuvm_va_tree_prefetch(&bvm->vm->tree, keys, n);
	if (bvm->pt)
		gpuvm_pt_prefetch(bvm->pt, keys, n);
}

int gpuvm_q_apply_job(struct bind_job *job, struct bind_counters *cnt)
{
	struct gpuvm_bind_vm *bvm = job->q->bvm;
	struct gpuvm_pt_stats before, after;
	struct bind_run run = {
		.magic = BIND_RUN_MAGIC,
		.bvm = bvm,
		.job = job,
		.cnt = cnt,
	};
	uint64_t t0;
	int ret = 0;

	gpuvm_mutex_lock(&bvm->tree_lock);
	if (bvm->pt)
		gpuvm_pt_get_stats(bvm->pt, &before);
	t0 = gpuvm_q_now_ns();
	for (unsigned int i = 0; i < job->nr_reqs; i++) {
		const struct gpuvm_bind_req *req = &job->reqs[i];

		if (i % PREFETCH_BATCH == 0)
			prefetch_reqs(bvm, job, i);
		run.req = req;
		run.vm_bo = &job->vm_bos[i];
		if (req->op == GPUVM_BIND_OP_MAP) {
			struct gpuvm_map_req mr = {
				.map.va.addr = req->addr,
				.map.va.range = req->range,
				.map.gem.offset = req->offset,
				.map.gem.obj = req->obj,
			};

			ret = gpuvm_sm_map(bvm->vm, &run, &mr);
		} else {
			ret = gpuvm_sm_unmap(bvm->vm, &run, req->addr,
					     req->range);
		}
		if (ret) {
			cnt->run_errors++;
			gpuvm_warn(
				"bind queue '%s': request %u of a job failed "
				"in the run path (%d); its earlier steps "
				"stand",
				job->q->name, i, ret);
			break;
		}
		cnt->ops++;
	}
	cnt->run_ns += gpuvm_q_now_ns() - t0;
	if (bvm->pt) {
		gpuvm_pt_get_stats(bvm->pt, &after);
		pt_delta(cnt, &before, &after);
	}
	gpuvm_mutex_unlock(&bvm->tree_lock);
	return ret;
}
