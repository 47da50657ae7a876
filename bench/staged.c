// SPDX-License-Identifier: MIT
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gpuvm/exec.h>
#include <gpuvm/gpuvm.h>
#include <gpuvm/mutex.h>

#include "staged.h"

/* See "DOC: The staged bind queue" in staged.h. */

struct staged_vm {
	struct gpuvm vm;
	struct gpuvm_pt *pt;
	staged_gem_pa_fn gem_pa;
	pthread_mutex_t vm_lock;
	struct gpuvm_mutex pt_lock;
	pthread_mutex_t stats_lock;
	struct staged_stats stats;
};

/* A mapping, with the request flags its split pieces inherit. */
struct staged_va {
	struct gpuva va;
	uint32_t bflags;
};

/* One page-table write a job's run path replays. */
struct staged_pt_op {
	uint64_t addr;
	uint64_t range;
	struct gpuvm_gem *obj; /* MAP with memory: a reference the job holds */
	uint64_t offset;
	uint32_t flags; /* GPUVM_PT_* map flags, or GPUVM_PT_KEEP for unmap */
	bool map;
};

struct staged_job {
	struct staged_job *next;
	struct gpuvm_fence fence;
	unsigned int nr_reqs;
	unsigned int nr_pt, cap_pt;
	struct staged_pt_op *pt;
	struct gpuvm_pt_resv pt_resv;
	uint64_t submit_ns;
};

struct staged_queue {
	struct staged_vm *svm;
	uint64_t context;
	uint64_t seqno;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t work;
	struct staged_job *head, **tail;
	bool stop;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * UINT64_C(1000000000) +
	       (uint64_t)ts.tv_nsec;
}

static void vm_free(struct gpuvm *vm)
{
	free(gpuvm_container_of(vm, struct staged_vm, vm));
}

static const struct gpuvm_ops staged_vm_ops = {
	.vm_free = vm_free,
};

static const char *fence_name(struct gpuvm_fence *fence)
{
	(void)fence;
	return "staged-bind";
}

static void fence_release(struct gpuvm_fence *fence)
{
	free(gpuvm_container_of(fence, struct staged_job, fence));
}

static const struct gpuvm_fence_ops staged_fence_ops = {
	.get_name = fence_name,
	.release = fence_release,
};

static unsigned int pt_flags(uint32_t bflags)
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

/* ---- submit ---- */

static bool req_valid(struct staged_vm *svm, const struct gpuvm_bind_req *r)
{
	const uint64_t mask = GPUVM_PT_PAGE_SIZE - 1;

	if (!gpuvm_range_valid(&svm->vm, r->addr, r->range) ||
	    ((r->addr | r->range) & mask))
		return false;
	if (r->op == GPUVM_BIND_OP_UNMAP)
		return !r->flags && !r->obj && !r->offset;
	if (r->op != GPUVM_BIND_OP_MAP || (r->flags & ~GPUVM_BIND_FLAGS))
		return false;
	if (r->flags & GPUVM_BIND_SPARSE)
		return !r->obj && !r->offset;
	return r->obj && !(r->offset & mask) && r->offset <= r->obj->size &&
	       r->range <= r->obj->size - r->offset;
}

static struct staged_pt_op *pt_op_add(struct staged_job *job)
{
	if (job->nr_pt == job->cap_pt) {
		unsigned int cap = job->cap_pt ? 2 * job->cap_pt : 16;
		struct staged_pt_op *pt = realloc(job->pt, cap * sizeof(*pt));

		if (!pt)
			return NULL;
		job->pt = pt;
		job->cap_pt = cap;
	}
	return &job->pt[job->nr_pt++];
}

static int pt_unmap_add(struct staged_job *job, uint64_t addr, uint64_t range,
			bool keep)
{
	struct staged_pt_op *p = pt_op_add(job);

	if (!p)
		return -ENOMEM;
	*p = (struct staged_pt_op){
		.addr = addr,
		.range = range,
		.flags = keep ? GPUVM_PT_KEEP : 0,
	};
	return 0;
}

/* Under @vm_lock with the objects' reservations held: a MAP step. */
static int apply_map(struct staged_vm *svm, struct staged_job *job,
		     const struct gpuvm_bind_req *req,
		     const struct gpuva_op_map *m)
{
	struct staged_va *sva = calloc(1, sizeof(*sva));
	struct staged_pt_op *p = pt_op_add(job);
	struct gpuvm_bo *vm_bo = NULL;
	int err = 0;

	if (!sva || !p)
		goto nomem;
	if (m->gem.obj) {
		vm_bo = gpuvm_bo_obtain_locked(&svm->vm, m->gem.obj, &err);
		if (!vm_bo)
			goto nomem;
	}
	if (gpuva_map(&svm->vm, &sva->va, m)) {
		gpuvm_bo_put(vm_bo);
		goto nomem;
	}
	sva->bflags = req->flags;
	if (req->flags & GPUVM_BIND_SPARSE)
		sva->va.flags |= GPUVA_SPARSE;
	if (vm_bo) {
		gpuva_link(&sva->va, vm_bo);
		gpuvm_bo_put(vm_bo); /* the link holds its own reference */
	}
	*p = (struct staged_pt_op){
		.addr = m->va.addr,
		.range = m->va.range,
		.obj = m->gem.obj ? gpuvm_gem_get(m->gem.obj) : NULL,
		.offset = m->gem.offset,
		.flags = pt_flags(req->flags),
		.map = true,
	};
	return 0;

nomem:
	if (p)
		job->nr_pt--;
	free(sva);
	return -ENOMEM;
}

static int apply_remap(struct staged_job *job, struct gpuva_op_remap *r)
{
	struct staged_va *old =
		gpuvm_container_of(r->unmap->va, struct staged_va, va);
	struct staged_va *prev = NULL, *next = NULL;
	uint64_t hole, hole_range;

	if ((r->prev && !(prev = calloc(1, sizeof(*prev)))) ||
	    (r->next && !(next = calloc(1, sizeof(*next)))))
		goto nomem;
	gpuva_op_remap_to_unmap_range(r, &hole, &hole_range);
	if (pt_unmap_add(job, hole, hole_range, r->unmap->keep))
		goto nomem;
	if (gpuva_remap(prev ? &prev->va : NULL, next ? &next->va : NULL, r)) {
		job->nr_pt--;
		goto nomem;
	}
	if (prev) {
		prev->bflags = old->bflags;
		prev->va.flags = old->va.flags;
	}
	if (next) {
		next->bflags = old->bflags;
		next->va.flags = old->va.flags;
	}
	if (old->va.vm_bo) {
		if (prev)
			gpuva_link(&prev->va, old->va.vm_bo);
		if (next)
			gpuva_link(&next->va, old->va.vm_bo);
		gpuva_unlink(&old->va);
	}
	free(old);
	return 0;

nomem:
	free(prev);
	free(next);
	return -ENOMEM;
}

static int apply_unmap(struct staged_job *job, struct gpuva_op_unmap *u)
{
	struct staged_va *old = gpuvm_container_of(u->va, struct staged_va, va);

	if (pt_unmap_add(job, old->va.va.addr, old->va.va.range, u->keep))
		return -ENOMEM;
	if (old->va.vm_bo)
		gpuva_unlink(&old->va);
	gpuva_unmap(u);
	free(old);
	return 0;
}

/* Computes one request's steps against the current tree and applies them. */
static int apply_req(struct staged_vm *svm, struct staged_job *job,
		     const struct gpuvm_bind_req *req)
{
	struct gpuva_ops *ops;
	struct gpuva_op *op;
	int ret;

	if (req->op == GPUVM_BIND_OP_MAP) {
		struct gpuvm_map_req mr = {
			.map.va.addr = req->addr,
			.map.va.range = req->range,
			.map.gem.offset = req->offset,
			.map.gem.obj = req->obj,
		};

		ret = gpuvm_sm_map_ops_create(&svm->vm, &mr, &ops);
	} else {
		ret = gpuvm_sm_unmap_ops_create(&svm->vm, req->addr, req->range,
						&ops);
	}
	if (ret)
		return ret;
	gpuva_for_each_op(op, ops) {
		switch (op->op) {
		case GPUVA_OP_MAP:
			ret = apply_map(svm, job, req, &op->map);
			break;
		case GPUVA_OP_REMAP:
			ret = apply_remap(job, &op->remap);
			break;
		case GPUVA_OP_UNMAP:
			ret = apply_unmap(job, &op->unmap);
			break;
		default:
			ret = -EINVAL;
			break;
		}
		if (ret)
			break;
	}
	gpuva_ops_free(&svm->vm, ops);
	return ret;
}

/* Locks every object the requests map, and every object they unmap. */
static int lock_objects(struct staged_vm *svm, struct gpuvm_exec *exec,
			const struct gpuvm_bind_req *reqs, unsigned int n)
{
	int ret = 0;

	gpuvm_exec_until_all_locked(exec) {
		for (unsigned int i = 0; i < n; i++) {
			const struct gpuvm_bind_req *r = &reqs[i];

			if (r->op == GPUVM_BIND_OP_MAP) {
				struct gpuvm_map_req mr = {
					.map.va.addr = r->addr,
					.map.va.range = r->range,
					.map.gem.offset = r->offset,
					.map.gem.obj = r->obj,
				};

				ret = gpuvm_sm_map_exec_lock(&svm->vm, exec, 0,
							     &mr);
			} else {
				ret = gpuvm_sm_unmap_exec_lock(
					&svm->vm, exec, r->addr, r->range);
			}
			gpuvm_exec_retry_on_contention(exec);
			if (ret)
				break;
		}
		if (!ret)
			break;
	}
	return ret;
}

static unsigned int pt_kind(const struct gpuvm_bind_req *r)
{
	return r->op == GPUVM_BIND_OP_UNMAP ? GPUVM_PT_RESV_UNMAP : 0;
}

/*
 * The page-table reservation, made as the bind queue makes it: the pool
 * keeps what released jobs left (see the NULL stash in run_job()), so the
 * reservation is usually bookkeeping under the lock; what the pool lacks
 * is allocated into a stash without the lock.
 */
static int pt_reserve(struct staged_vm *svm, struct staged_job *job,
		      const struct gpuvm_bind_req *reqs, unsigned int n)
{
	struct gpuvm_pt_stash stash = GPUVM_PT_STASH_INIT;
	unsigned int done = 0;
	int ret = 0;

	gpuvm_mutex_lock(&svm->pt_lock);
	while (done < n) {
		size_t tables = 0;

		ret = gpuvm_pt_reserve_stash(
			svm->pt, reqs[done].addr, reqs[done].range,
			pt_kind(&reqs[done]), &job->pt_resv, &stash);
		if (!ret) {
			done++;
			continue;
		}
		if (ret != -ENOSPC)
			break;
		for (unsigned int i = done; i < n; i++)
			tables += gpuvm_pt_reserve_cost(svm->pt, reqs[i].addr,
							reqs[i].range,
							pt_kind(&reqs[i]));
		gpuvm_mutex_unlock(&svm->pt_lock);
		ret = gpuvm_pt_stash_fill(svm->pt, &stash, tables);
		gpuvm_mutex_lock(&svm->pt_lock);
		if (ret)
			break;
	}
	if (ret)
		(void)gpuvm_pt_release_stash(svm->pt, &job->pt_resv, NULL);
	gpuvm_mutex_unlock(&svm->pt_lock);
	gpuvm_pt_stash_free(svm->pt, &stash);
	return ret;
}

/* Drops the job's object references and its list of page-table writes. */
static void job_put_objects(struct staged_job *job)
{
	for (unsigned int i = 0; i < job->nr_pt; i++)
		gpuvm_gem_put(job->pt[i].obj);
	free(job->pt);
	job->pt = NULL;
	job->nr_pt = job->cap_pt = 0;
}

int staged_submit(void *queue, const struct gpuvm_bind_req *reqs,
		  unsigned int n, struct gpuvm_fence **out)
{
	struct staged_queue *q = queue;
	struct staged_vm *svm = q->svm;
	struct staged_job *job;
	struct gpuvm_exec exec;
	bool wake;
	int ret;

	for (unsigned int i = 0; i < n; i++)
		if (!req_valid(svm, &reqs[i]))
			return -EINVAL;
	job = calloc(1, sizeof(*job));
	if (!job)
		return -ENOMEM;
	job->nr_reqs = n;
	job->submit_ns = now_ns();
	ret = pt_reserve(svm, job, reqs, n);
	if (ret) {
		free(job);
		return ret;
	}

	pthread_mutex_lock(&svm->vm_lock);
	gpuvm_exec_init(&exec, GPUVM_EXEC_IGNORE_DUPLICATES, 0);
	ret = lock_objects(svm, &exec, reqs, n);
	for (unsigned int i = 0; i < n && !ret; i++)
		ret = apply_req(svm, job, &reqs[i]);
	gpuvm_exec_fini(&exec);
	pthread_mutex_unlock(&svm->vm_lock);
	if (ret) {
		/* What ran stays in the tree: see the DOC. */
		job_put_objects(job);
		gpuvm_mutex_lock(&svm->pt_lock);
		(void)gpuvm_pt_release_stash(svm->pt, &job->pt_resv, NULL);
		gpuvm_mutex_unlock(&svm->pt_lock);
		free(job);
		return ret;
	}

	gpuvm_fence_init(&job->fence, &staged_fence_ops, q->context, 0);
	if (out)
		*out = gpuvm_fence_get(&job->fence);
	pthread_mutex_lock(&q->lock);
	job->fence.seqno = ++q->seqno;
	wake = !q->head;
	*q->tail = job;
	q->tail = &job->next;
	if (wake)
		pthread_cond_signal(&q->work);
	pthread_mutex_unlock(&q->lock);
	return 0;
}

/* ---- run path and cleanup ---- */

/* Inside the section, under @pt_lock: replays the page-table writes. */
static int replay_pt(struct staged_vm *svm, struct staged_job *job)
{
	for (unsigned int i = 0; i < job->nr_pt; i++) {
		const struct staged_pt_op *p = &job->pt[i];
		uint64_t addr = p->addr, range = p->range, off = p->offset;
		int ret;

		if (!p->map) {
			ret = gpuvm_pt_unmap(svm->pt, addr, range, p->flags,
					     &job->pt_resv);
			if (ret)
				return ret;
			continue;
		}
		if (!p->obj) {
			ret = gpuvm_pt_map(svm->pt, addr, range, 0,
					   p->flags | GPUVM_PT_NULL,
					   &job->pt_resv);
			if (ret)
				return ret;
			continue;
		}
		while (range) {
			uint64_t pa, len;

			ret = svm->gem_pa(NULL, p->obj, off, range, &pa, &len);
			if (ret)
				return ret;
			len &= ~(GPUVM_PT_PAGE_SIZE - 1);
			if (!len)
				return -EINVAL;
			if (len > range)
				len = range;
			ret = gpuvm_pt_map(svm->pt, addr, len, pa, p->flags,
					   &job->pt_resv);
			if (ret)
				return ret;
			addr += len;
			off += len;
			range -= len;
		}
	}
	return 0;
}

static void run_job(struct staged_queue *q, struct staged_job *job)
{
	struct staged_vm *svm = q->svm;
	uint64_t t0, t1;
	int ret;

	gpuvm_fence_begin_signalling();
	gpuvm_mutex_lock(&svm->pt_lock);
	t0 = now_ns();
	ret = replay_pt(svm, job);
	t1 = now_ns();
	gpuvm_mutex_unlock(&svm->pt_lock);
	pthread_mutex_lock(&svm->stats_lock);
	svm->stats.jobs++;
	svm->stats.ops += job->nr_reqs;
	svm->stats.pt_ops += job->nr_pt;
	if (job->nr_reqs)
		gpuvm_bind_hist_add(&svm->stats.run_per_op,
				    (t1 - t0) / job->nr_reqs);
	gpuvm_bind_hist_add(&svm->stats.latency, now_ns() - job->submit_ns);
	pthread_mutex_unlock(&svm->stats_lock);
	if (ret)
		gpuvm_fence_signal_error(&job->fence, ret);
	else
		gpuvm_fence_signal(&job->fence);
	gpuvm_fence_end_signalling();

	/* Cleanup, outside the section; spare tables stay in the pool. */
	gpuvm_mutex_lock(&svm->pt_lock);
	(void)gpuvm_pt_release_stash(svm->pt, &job->pt_resv, NULL);
	gpuvm_mutex_unlock(&svm->pt_lock);
	job_put_objects(job);
	gpuvm_fence_put(&job->fence);
}

static void *worker(void *arg)
{
	struct staged_queue *q = arg;

	for (;;) {
		struct staged_job *job;

		pthread_mutex_lock(&q->lock);
		while (!q->head && !q->stop)
			pthread_cond_wait(&q->work, &q->lock);
		job = q->head;
		if (!job) {
			pthread_mutex_unlock(&q->lock);
			return NULL;
		}
		q->head = job->next;
		if (!q->head)
			q->tail = &q->head;
		pthread_mutex_unlock(&q->lock);
		run_job(q, job);
	}
}

/* ---- lifetime ---- */

int staged_vm_create(unsigned int va_bits, uint64_t start, uint64_t range,
		     uint64_t cut_start, uint64_t cut_range,
		     staged_gem_pa_fn gem_pa, struct staged_vm **out)
{
	struct staged_vm *svm = calloc(1, sizeof(*svm));
	int ret;

	if (!svm)
		return -ENOMEM;
	ret = gpuvm_pt_sw_create(va_bits, 0, &svm->pt);
	if (ret) {
		free(svm);
		return ret;
	}
	ret = gpuvm_init(&svm->vm, "staged", 0, NULL, start, range, cut_start,
			 cut_range, &staged_vm_ops);
	if (ret) {
		gpuvm_pt_destroy(svm->pt);
		free(svm);
		return ret;
	}
	svm->gem_pa = gem_pa;
	pthread_mutex_init(&svm->vm_lock, NULL);
	pthread_mutex_init(&svm->stats_lock, NULL);
	gpuvm_mutex_init(&svm->pt_lock);
	*out = svm;
	return 0;
}

void staged_vm_destroy(struct staged_vm *svm)
{
	struct gpuvm_va_iter it;
	struct gpuvm_pt *pt;
	struct gpuva *va;

	if (!svm)
		return;
	pthread_mutex_lock(&svm->vm_lock);
	gpuvm_for_each_va_safe(va, &it, &svm->vm) {
		struct gpuvm_gem *obj = va->gem.obj;

		if (va == &svm->vm.kernel_alloc_node)
			continue;
		/* The unlink may drop the object's last reference. */
		if (obj) {
			gpuvm_gem_get(obj);
			(void)gpuvm_resv_lock(obj->resv, NULL);
		}
		gpuva_remove(va);
		if (va->vm_bo)
			gpuva_unlink(va);
		if (obj) {
			gpuvm_resv_unlock(obj->resv);
			gpuvm_gem_put(obj);
		}
		free(gpuvm_container_of(va, struct staged_va, va));
	}
	pthread_mutex_unlock(&svm->vm_lock);
	pthread_mutex_destroy(&svm->vm_lock);
	pthread_mutex_destroy(&svm->stats_lock);
	gpuvm_mutex_fini(&svm->pt_lock);
	pt = svm->pt;
	gpuvm_put(&svm->vm); /* frees svm */
	gpuvm_pt_destroy(pt);
}

void staged_vm_get_stats(struct staged_vm *svm, struct staged_stats *stats)
{
	pthread_mutex_lock(&svm->stats_lock);
	*stats = svm->stats;
	pthread_mutex_unlock(&svm->stats_lock);
}

int staged_vm_for_each_va(struct staged_vm *svm, gpuvm_bind_va_fn fn,
			  void *data)
{
	struct gpuvm_va_iter it;
	struct gpuva *va;
	int ret = 0;

	pthread_mutex_lock(&svm->vm_lock);
	gpuvm_for_each_va(va, &it, &svm->vm) {
		const struct staged_va *sva =
			gpuvm_container_of(va, struct staged_va, va);
		struct gpuvm_bind_va_info info = {
			.addr = va->va.addr,
			.range = va->va.range,
			.obj = va->gem.obj,
			.offset = va->gem.offset,
			.flags = sva->bflags,
		};

		if (va == &svm->vm.kernel_alloc_node)
			continue;
		ret = fn(&info, data);
		if (ret)
			break;
	}
	pthread_mutex_unlock(&svm->vm_lock);
	return ret;
}

struct gpuvm *staged_vm_gpuvm(struct staged_vm *svm)
{
	return &svm->vm;
}

struct gpuvm_pt *staged_vm_pt(struct staged_vm *svm)
{
	return svm->pt;
}

int staged_queue_create(struct staged_vm *svm, struct staged_queue **out)
{
	struct staged_queue *q = calloc(1, sizeof(*q));

	if (!q)
		return -ENOMEM;
	q->svm = svm;
	q->context = gpuvm_fence_context_alloc(1);
	q->tail = &q->head;
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->work, NULL);
	if (pthread_create(&q->thread, NULL, worker, q)) {
		pthread_cond_destroy(&q->work);
		pthread_mutex_destroy(&q->lock);
		free(q);
		return -EAGAIN;
	}
	*out = q;
	return 0;
}

void staged_queue_destroy(struct staged_queue *q)
{
	if (!q)
		return;
	pthread_mutex_lock(&q->lock);
	q->stop = true;
	pthread_cond_signal(&q->work);
	pthread_mutex_unlock(&q->lock);
	pthread_join(q->thread, NULL);
	pthread_cond_destroy(&q->work);
	pthread_mutex_destroy(&q->lock);
	free(q);
}
