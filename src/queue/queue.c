// SPDX-License-Identifier: MIT
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue/queue_internal.h"

/*
 * Bind queues: submit (validation and preallocation), the worker that waits
 * for a job's input fences and runs it, and the cleanup after the run. The
 * run path itself is in run.c.
 *
 * Locks, outermost first: the queue's @lock is a leaf (held only for list
 * and flag updates, never across a fence operation, so that fence
 * callbacks, which run in whatever thread signals, may take it); the tree
 * lock is taken by submit and by run paths, never with the queue lock.
 */

/* Output fences. */

static const char *bind_fence_name(struct gpuvm_fence *fence)
{
	(void)fence;
	return "gpuvm-bind";
}

static void bind_fence_release(struct gpuvm_fence *fence)
{
	gpuvm_free(fence, sizeof(*fence));
}

static const struct gpuvm_fence_ops bind_fence_ops = {
	.get_name = bind_fence_name,
	.release = bind_fence_release,
};

/* Validation. */

static bool req_valid(const struct gpuvm_bind_vm *bvm,
		      const struct gpuvm_bind_req *r)
{
	const uint64_t mask = GPUVM_PT_PAGE_SIZE - 1;

	if (!gpuvm_range_valid(bvm->vm, r->addr, r->range))
		return false;
	if (bvm->pt && ((r->addr | r->range) & mask))
		return false;
	switch (r->op) {
	case GPUVM_BIND_OP_MAP:
		if (r->flags & ~GPUVM_BIND_FLAGS)
			return false;
		if (r->flags & GPUVM_BIND_SPARSE)
			return !r->obj && !r->offset;
		if (!r->obj || (bvm->pt && (r->offset & mask)))
			return false;
		return r->offset <= r->obj->size &&
		       r->range <= r->obj->size - r->offset;
	case GPUVM_BIND_OP_UNMAP:
		return !r->flags && !r->obj && !r->offset;
	default:
		return false;
	}
}

/* Submit. */

static void free_va_list(struct bind_va *bva)
{
	while (bva) {
		struct bind_va *next = bva->next;

		gpuvm_free(bva, sizeof(*bva));
		bva = next;
	}
}

/*
 * The surplus of the three pools (mappings, tree nodes, page tables) moves
 * out under the tree lock and is freed after it. See struct gpuvm_bind_vm.
 */
void gpuvm_q_pools_trim(struct gpuvm_bind_vm *bvm, bool idle)
{
	struct gpuvm_va_tree_stash nodes = { NULL, 0 };
	struct gpuvm_pt_stash tables = GPUVM_PT_STASH_INIT;
	size_t keep_va = 0, keep_nodes = 0, keep_tables = 0;
	struct bind_va *vas = NULL;

	gpuvm_mutex_lock(&bvm->tree_lock);
	if (idle) {
		/* A submit started meanwhile: keep the pools for it. */
		if (atomic_load(&bvm->busy_jobs)) {
			gpuvm_mutex_unlock(&bvm->tree_lock);
			return;
		}
		keep_va = bvm->peak_va;
		keep_nodes = bvm->peak_nodes;
		keep_tables = bvm->peak_tables;
		bvm->peak_va = bvm->peak_nodes = bvm->peak_tables = 0;
	}
	while (bvm->nr_va_spare > bvm->va_floor + keep_va) {
		struct bind_va *bva = bvm->va_spare;

		bvm->va_spare = bva->next;
		bvm->nr_va_spare--;
		bva->next = vas;
		vas = bva;
	}
	gpuvm_va_tree_trim_stash(&bvm->vm->tree, keep_nodes, &nodes);
	if (bvm->pt)
		(void)gpuvm_pt_trim_stash(bvm->pt, keep_tables, &tables);
	gpuvm_mutex_unlock(&bvm->tree_lock);
	gpuvm_va_tree_stash_free(&nodes);
	if (bvm->pt)
		gpuvm_pt_stash_free(bvm->pt, &tables);
	free_va_list(vas);
}

/* A job is over (cleaned up, or its submit failed). */
static void job_idle(struct gpuvm_bind_vm *bvm)
{
	if (atomic_fetch_sub_explicit(&bvm->busy_jobs, 1,
				      memory_order_acq_rel) == 1)
		gpuvm_q_pools_trim(bvm, true);
}

static size_t job_bytes(unsigned int nr_reqs, unsigned int nr_in)
{
	return sizeof(struct bind_job) +
	       nr_reqs * (sizeof(struct gpuvm_bind_req) +
			  sizeof(struct gpuvm_pt_range) +
			  sizeof(struct gpuvm_bo *) + sizeof(uint32_t)) +
	       nr_in * sizeof(struct bind_dep);
}

static struct bind_job *job_alloc(unsigned int nr_reqs, unsigned int nr_in)
{
	struct bind_job *job = gpuvm_zalloc(job_bytes(nr_reqs, nr_in));
	char *p;

	if (!job)
		return NULL;
	/* Largest alignment first: deps hold pointers and 64-bit fields. */
	p = (char *)(job + 1);
	job->deps = (struct bind_dep *)p;
	p += nr_in * sizeof(struct bind_dep);
	job->reqs = (struct gpuvm_bind_req *)p;
	p += nr_reqs * sizeof(struct gpuvm_bind_req);
	job->pt_ranges = (struct gpuvm_pt_range *)p;
	p += nr_reqs * sizeof(struct gpuvm_pt_range);
	job->vm_bos = (struct gpuvm_bo **)p;
	p += nr_reqs * sizeof(struct gpuvm_bo *);
	job->vm_bo_src = (uint32_t *)p;
	job->nr_reqs = nr_reqs;
	job->nr_in = nr_in;
	return job;
}

static void job_free(struct bind_job *job)
{
	gpuvm_free(job, job_bytes(job->nr_reqs, job->nr_in));
}

/* Whether request @i holds the job's references on its object and vm_bo. */
static bool job_owns_ref(const struct bind_job *job, unsigned int i)
{
	return job->vm_bo_src[i] == BIND_VM_BO_NEW ||
	       job->vm_bo_src[i] == BIND_VM_BO_FOUND;
}

/*
 * Drops vm_bo references that no mapping took over, and destroys whatever
 * became a zombie. Outside any section.
 */
static uint64_t put_vm_bos(struct gpuvm_bind_vm *bvm, struct bind_job *job)
{
	uint64_t zombies = 0;
	bool any = false;

	for (unsigned int i = 0; i < job->nr_reqs; i++) {
		/* A request sharing an earlier one's vm_bo holds no reference.
		 */
		if (!job->vm_bos[i] || !job_owns_ref(job, i))
			continue;
		any = true;
		if (gpuvm_bo_put_deferred(job->vm_bos[i]))
			zombies++;
		job->vm_bos[i] = NULL;
	}
	if (any)
		gpuvm_bo_deferred_cleanup(bvm->vm);
	return zombies;
}

static unsigned int pt_kind(const struct gpuvm_bind_req *r)
{
	return r->op == GPUVM_BIND_OP_UNMAP ? GPUVM_PT_RESV_UNMAP : 0;
}

/* The tables requests [@from, nr_reqs) may need, for a stash. */
static size_t pt_cost(struct gpuvm_bind_vm *bvm, const struct bind_job *job,
		      unsigned int from)
{
	size_t tables = 0;

	for (unsigned int i = from; i < job->nr_reqs; i++) {
		const struct gpuvm_bind_req *r = &job->reqs[i];
		size_t c = gpuvm_pt_reserve_cost(bvm->pt, r->addr, r->range,
						 pt_kind(r));

		tables = tables + c < tables ? SIZE_MAX : tables + c;
	}
	return tables;
}

/*
 * Under the tree lock: gives back what the job reserved and did not use.
 * The spares stay in the pools for the next jobs (see struct
 * gpuvm_bind_vm); nothing is freed here.
 */
static void unreserve_locked(struct gpuvm_bind_vm *bvm, struct bind_job *job)
{
	bvm->va_floor -= job->va_reserved - job->va_taken;
	job->va_reserved = job->va_taken = 0;
	gpuvm_va_tree_unreserve_stash(&bvm->vm->tree, job->tree_nodes, NULL);
	job->tree_nodes = 0;
	if (bvm->pt)
		(void)gpuvm_pt_release_stash(bvm->pt, &job->pt_resv, NULL);
}

/* Under the tree lock, after a reservation: the busy period's peaks. */
static void note_peaks(struct gpuvm_bind_vm *bvm)
{
	size_t nodes = bvm->vm->tree.reserved;

	if (bvm->va_floor > bvm->peak_va)
		bvm->peak_va = bvm->va_floor;
	if (nodes > bvm->peak_nodes)
		bvm->peak_nodes = nodes;
	if (bvm->pt) {
		struct gpuvm_pt_stats st;

		gpuvm_pt_get_stats(bvm->pt, &st);
		if (st.tables_reserved > bvm->peak_tables)
			bvm->peak_tables = (size_t)st.tables_reserved;
	}
}

/* Under the tree lock: moves @n mappings of @list into the pool. */
static void va_pool_add(struct gpuvm_bind_vm *bvm, struct bind_va **list,
			size_t n)
{
	while (n--) {
		struct bind_va *bva = *list;

		*list = bva->next;
		bva->next = bvm->va_spare;
		bvm->va_spare = bva;
		bvm->nr_va_spare++;
	}
}

static int va_list_fill(struct bind_va **list, size_t *count, size_t want)
{
	while (*count < want) {
		struct bind_va *bva = gpuvm_alloc(sizeof(*bva));

		if (!bva)
			return -ENOMEM;
		bva->next = *list;
		*list = bva;
		(*count)++;
	}
	return 0;
}

static int range_cmp(const void *a, const void *b)
{
	const struct gpuvm_pt_range *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/*
 * Reserves, for the job, @inserts mappings, tree nodes for @inserts
 * inserts and the page tables on its requests' paths. Each pool
 * usually holds enough spares already (see struct gpuvm_bind_vm), and a
 * reservation is then bookkeeping under the tree lock. What a pool lacks
 * is allocated without the lock into local stashes, and the reservation
 * resumes where it stopped: nothing ever allocates under the tree lock.
 * The tree's insert cost depends on its height, known only under the lock,
 * which is why the node count is computed there.
 */
static int reserve(struct gpuvm_bind_vm *bvm, struct bind_job *job,
		   size_t inserts)
{
	struct gpuvm_va_tree *tree = &bvm->vm->tree;
	struct gpuvm_va_tree_stash stash = { NULL, 0 };
	struct gpuvm_pt_stash pt_stash = GPUVM_PT_STASH_INIT;
	struct bind_va *vas = NULL;
	size_t nr_vas = 0;
	unsigned int done = 0; /* requests holding a page-table reservation */
	struct gpuvm_pt_range *ranges = NULL;
	int ret = 0;

	/*
	 * One page-table reservation for all the requests, their ranges in
	 * address order, counts each table their paths share once instead
	 * of once per request (see gpuvm_pt_reserve_cost_ranges()).
	 */
	if (bvm->pt && job->nr_reqs > 1 && bvm->pt->ops->reserve_ranges_stash) {
		ranges = job->pt_ranges;
		for (unsigned int i = 0; i < job->nr_reqs; i++)
			ranges[i] =
				(struct gpuvm_pt_range){ job->reqs[i].addr,
							 job->reqs[i].range };
		qsort(ranges, job->nr_reqs, sizeof(*ranges), range_cmp);
	}

	gpuvm_mutex_lock(&bvm->tree_lock);
	for (;;) {
		size_t want_va = 0, want = 0, tables = 0;

		if (!job->va_reserved) {
			size_t need = bvm->va_floor + inserts;

			need = need > bvm->nr_va_spare ? need - bvm->nr_va_spare
						       : 0;
			if (need <= nr_vas) {
				va_pool_add(bvm, &vas, need);
				nr_vas -= need;
				bvm->va_floor += inserts;
				job->va_reserved = inserts;
			} else {
				want_va = need;
			}
		}
		if (job->va_reserved && !job->tree_nodes) {
			/*
			 * One insert more than the worst case: gpuva_remap()
			 * secures both pieces' cost at the height of the
			 * moment, which may be a level above the height now.
			 */
			size_t n =
				(inserts + 1) * gpuvm_va_tree_insert_cost(tree);

			if (!gpuvm_va_tree_reserve_stash(tree, n, &stash))
				job->tree_nodes = n;
			else
				want = tree->reserved + n - tree->nr_spare;
		}
		if (ranges && job->tree_nodes && !done) {
			ret = gpuvm_pt_reserve_ranges_stash(
				bvm->pt, ranges, job->nr_reqs, &job->pt_resv,
				&pt_stash);
			if (!ret) {
				done = job->nr_reqs;
			} else if (ret == -ENOSPC) {
				tables = gpuvm_pt_reserve_cost_ranges(
					bvm->pt, ranges, job->nr_reqs);
				ret = 0;
			} else {
				goto undo;
			}
		}
		for (; !ranges && bvm->pt && job->tree_nodes &&
		       done < job->nr_reqs;
		     done++) {
			const struct gpuvm_bind_req *r = &job->reqs[done];

			ret = gpuvm_pt_reserve_stash(bvm->pt, r->addr, r->range,
						     pt_kind(r), &job->pt_resv,
						     &pt_stash);
			if (ret == -ENOSPC) {
				tables = pt_cost(bvm, job, done);
				ret = 0;
				break;
			}
			if (ret)
				goto undo;
		}
		if (!want_va && !want && !tables) {
			note_peaks(bvm);
			break;
		}
		gpuvm_mutex_unlock(&bvm->tree_lock);
		ret = va_list_fill(&vas, &nr_vas, want_va);
		if (!ret)
			ret = gpuvm_va_tree_stash_fill(&stash, want);
		if (!ret && tables)
			ret = gpuvm_pt_stash_fill(bvm->pt, &pt_stash, tables);
		gpuvm_mutex_lock(&bvm->tree_lock);
		if (ret)
			goto undo;
	}
	gpuvm_mutex_unlock(&bvm->tree_lock);
	goto out;

undo:
	unreserve_locked(bvm, job);
	gpuvm_mutex_unlock(&bvm->tree_lock);
out:
	free_va_list(vas);
	gpuvm_va_tree_stash_free(&stash);
	if (bvm->pt)
		gpuvm_pt_stash_free(bvm->pt, &pt_stash);
	return ret;
}

/*
 * Finds or preallocates the vm_bo of every mapped object. Requests mapping
 * an object an earlier request of the job maps share its vm_bo (a small
 * direct-mapped table catches repeats); an object already mapped in the VM
 * has its vm_bo referenced now (gpuvm_bo_find() under the object's gpuva
 * mutex, never a zombie); only the rest are preallocated.
 */
static int get_vm_bos(struct gpuvm *vm, struct bind_job *job, bool *lock_resv)
{
	enum { SEEN = 64 };
	uint32_t seen[SEEN] = { 0 };

	for (unsigned int i = 0; i < job->nr_reqs; i++) {
		struct gpuvm_gem *obj = job->reqs[i].obj;
		unsigned int h;
		struct gpuvm_bo *vm_bo;

		job->vm_bo_src[i] = BIND_VM_BO_NEW;
		if (!obj)
			continue;
		h = (unsigned int)(((uintptr_t)obj >> 6) * 0x9e3779b9u >> 26) %
		    SEEN;
		if (seen[h] && job->reqs[seen[h] - 1].obj == obj) {
			job->vm_bo_src[i] = seen[h];
			continue;
		}
		seen[h] = i + 1;
		if (gpuvm_resv_protected(vm) && gpuvm_is_extobj(vm, obj))
			*lock_resv = true;
		gpuvm_gem_gpuva_lock(obj);
		vm_bo = gpuvm_bo_find(vm, obj);
		gpuvm_gem_gpuva_unlock(obj);
		if (vm_bo) {
			job->vm_bos[i] = vm_bo;
			job->vm_bo_src[i] = BIND_VM_BO_FOUND;
			continue;
		}
		job->vm_bos[i] = gpuvm_bo_create(vm, obj);
		if (!job->vm_bos[i])
			return -ENOMEM;
	}
	return 0;
}

/* Installs the vm_bos get_vm_bos() prepared; nothing fails here. */
static void install_vm_bos(struct gpuvm *vm, struct bind_job *job)
{
	for (unsigned int i = 0; i < job->nr_reqs; i++) {
		uint32_t src = job->vm_bo_src[i];
		struct gpuvm_gem *obj = job->reqs[i].obj;

		if (!obj)
			continue;
		/*
		 * One reference on the object and one on its vm_bo per job,
		 * not per request: fewer atomics on lines the run path uses.
		 */
		if (!job_owns_ref(job, i)) {
			job->vm_bos[i] = job->vm_bos[src - 1];
			continue;
		}
		gpuvm_gem_get(obj);
		if (src == BIND_VM_BO_NEW)
			job->vm_bos[i] =
				gpuvm_bo_obtain_prealloc(job->vm_bos[i]);
		if (gpuvm_is_extobj(vm, obj))
			gpuvm_bo_extobj_add(job->vm_bos[i]);
	}
}

static void dep_signalled(struct gpuvm_fence *fence, struct gpuvm_fence_cb *cb);
static void clean_done(struct gpuvm_bind_queue *q);

static void job_ready_locked(struct gpuvm_bind_queue *q, struct bind_job *job)
{
	job->ready = true;
	if (gpuvm_list_first_entry(&q->jobs, struct bind_job, entry) == job)
		pthread_cond_signal(&q->work);
}

/*
 * Counts one input fence (or submit's own hold) down. Runs in the thread
 * that signalled the fence, possibly inside its fence-signalling section:
 * only an atomic and the queue's leaf lock.
 */
static void dep_done(struct bind_job *job)
{
	struct gpuvm_bind_queue *q = job->q;

	if (atomic_fetch_sub_explicit(&job->deps_pending, 1,
				      memory_order_acq_rel) != 1)
		return;
	pthread_mutex_lock(&q->lock);
	job_ready_locked(q, job);
	pthread_mutex_unlock(&q->lock);
}

static void dep_signalled(struct gpuvm_fence *fence, struct gpuvm_fence_cb *cb)
{
	struct bind_dep *dep = gpuvm_container_of(cb, struct bind_dep, cb);

	(void)fence;
	dep_done(dep->job);
}

static void stats_submitted(struct gpuvm_bind_queue *q)
{
	pthread_mutex_lock(&q->stats_lock);
	q->stats.jobs_submitted++;
	pthread_mutex_unlock(&q->stats_lock);
	pthread_mutex_lock(&q->bvm->stats_lock);
	q->bvm->stats.jobs_submitted++;
	pthread_mutex_unlock(&q->bvm->stats_lock);
}

int gpuvm_bind_submit(struct gpuvm_bind_queue *q,
		      const struct gpuvm_bind_req *reqs, unsigned int nr_reqs,
		      struct gpuvm_fence *const *in_fences, unsigned int nr_in,
		      struct gpuvm_fence **out_fence)
{
	struct gpuvm_bind_vm *bvm;
	struct gpuvm *vm;
	struct gpuvm_fence *fence = NULL;
	struct bind_job *job;
	size_t inserts = 0;
	bool lock_resv = false;
	int ret = -ENOMEM;

	gpuvm_might_alloc();
	if (!q || (nr_reqs && !reqs) || (nr_in && !in_fences))
		return -EINVAL;
	bvm = q->bvm;
	vm = bvm->vm;
	for (unsigned int i = 0; i < nr_reqs; i++) {
		if (!req_valid(bvm, &reqs[i]))
			return -EINVAL;
		inserts += reqs[i].op == GPUVM_BIND_OP_MAP ? 3 : 2;
	}
	for (unsigned int i = 0; i < nr_in; i++)
		if (!in_fences[i])
			return -EINVAL;
	/*
	 * Jobs the worker ran while more were ready wait for their cleanup:
	 * do it here, beside the worker's next run path, and before this
	 * submit reserves, so that what they give back serves it. A stale
	 * count only delays a cleanup to the worker's next idle moment.
	 */
	if (atomic_load_explicit(&q->nr_done, memory_order_relaxed))
		clean_done(q);

	/* Everything that can fail, before anything visible changes. */
	job = job_alloc(nr_reqs, nr_in);
	if (!job)
		return -ENOMEM;
	job->q = q;
	atomic_fetch_add_explicit(&bvm->busy_jobs, 1, memory_order_relaxed);
	if (nr_reqs)
		memcpy(job->reqs, reqs, nr_reqs * sizeof(*reqs));
	fence = gpuvm_zalloc(sizeof(*fence));
	if (!fence)
		goto fail;
	ret = get_vm_bos(vm, job, &lock_resv);
	if (ret)
		goto fail;
	/* A job without requests only orders fences: nothing to reserve. */
	ret = nr_reqs ? reserve(bvm, job, inserts) : 0;
	if (ret)
		goto fail;

	/* From here on nothing fails. */
	if (lock_resv)
		(void)gpuvm_resv_lock(gpuvm_vm_resv(vm), NULL);
	install_vm_bos(vm, job);
	if (lock_resv)
		gpuvm_resv_unlock(gpuvm_vm_resv(vm));

	gpuvm_fence_init(fence, &bind_fence_ops, q->context, 0);
	job->fence = fence;
	atomic_init(&job->deps_pending, nr_in + 1);
	for (unsigned int i = 0; i < nr_in; i++) {
		struct bind_dep *dep = &job->deps[i];

		dep->job = job;
		dep->fence = gpuvm_fence_get(in_fences[i]);
		if (gpuvm_fence_add_callback(dep->fence, &dep->cb,
					     dep_signalled))
			atomic_fetch_sub_explicit(&job->deps_pending, 1,
						  memory_order_relaxed);
	}
	if (out_fence)
		*out_fence = gpuvm_fence_get(fence);
	stats_submitted(q);

	pthread_mutex_lock(&q->lock);
	/* The seqno is taken here so that the timeline follows queue order. */
	fence->seqno = q->next_seqno++;
	job->submit_ns = gpuvm_q_now_ns();
	gpuvm_list_add_tail(&job->entry, &q->jobs);
	if (atomic_fetch_sub_explicit(&job->deps_pending, 1,
				      memory_order_acq_rel) == 1)
		job_ready_locked(q, job);
	pthread_mutex_unlock(&q->lock);
	return 0;

fail:
	put_vm_bos(bvm, job);
	if (fence)
		gpuvm_free(fence, sizeof(*fence));
	job_free(job);
	job_idle(bvm);
	return ret;
}

/* Cleanup, outside any section: see "DOC: Bind queues". */

static void cleanup_job(struct bind_job *job, struct bind_counters *cnt)
{
	struct gpuvm_bind_queue *q = job->q;
	struct gpuvm_bind_vm *bvm = q->bvm;

	cnt->zombies_created += put_vm_bos(bvm, job);
	gpuvm_bo_deferred_cleanup(bvm->vm);

	gpuvm_mutex_lock(&bvm->tree_lock);
	unreserve_locked(bvm, job);
	gpuvm_mutex_unlock(&bvm->tree_lock);

	for (unsigned int i = 0; i < job->nr_in; i++)
		gpuvm_fence_put(job->deps[i].fence);
	for (unsigned int i = 0; i < job->nr_reqs; i++)
		if (job_owns_ref(job, i))
			gpuvm_gem_put(job->reqs[i].obj);
	gpuvm_fence_put(job->fence);
	job_free(job);
	job_idle(bvm);
}

static void stats_merge(struct gpuvm_bind_stats *s,
			const struct bind_counters *cnt)
{
	s->ops += cnt->ops;
	s->steps_map += cnt->steps_map;
	s->steps_remap += cnt->steps_remap;
	s->steps_unmap += cnt->steps_unmap;
	s->pt_entries_written += cnt->pt_entries_written;
	s->pt_entries_cleared += cnt->pt_entries_cleared;
	s->pt_entries_kept += cnt->pt_entries_kept;
	s->pt_pages_kept += cnt->pt_pages_kept;
	s->zombies_created += cnt->zombies_created;
	s->violations += cnt->violations;
	s->run_errors += cnt->run_errors;
}

/* What a job's end adds to a set of statistics. */
struct job_end {
	int status;
	bool cancelled;
	bool ran;
	uint64_t latency_ns;
	unsigned int nr_reqs;
};

static void stats_job(struct gpuvm_bind_stats *s, const struct job_end *e,
		      const struct bind_counters *cnt)
{
	stats_merge(s, cnt);
	if (e->cancelled)
		s->jobs_cancelled++;
	else if (e->status)
		s->jobs_failed++;
	else
		s->jobs_done++;
	if (e->ran) {
		gpuvm_bind_hist_add(&s->latency, e->latency_ns);
		if (e->nr_reqs)
			gpuvm_bind_hist_add(&s->run_per_op,
					    cnt->run_ns / e->nr_reqs);
	}
}

/*
 * Records a job's end. Called inside the section, before the output fence
 * signals, so that a waiter sees the statistics of the jobs it waited for:
 * plain mutexes only.
 */
static void stats_end(struct gpuvm_bind_queue *q, const struct job_end *e,
		      const struct bind_counters *cnt)
{
	struct gpuvm_bind_vm *bvm = q->bvm;

	pthread_mutex_lock(&q->stats_lock);
	stats_job(&q->stats, e, cnt);
	if (e->ran)
		q->lat_ring[q->lat_count++ % GPUVM_BIND_LATENCY_SAMPLES] =
			e->latency_ns;
	pthread_mutex_unlock(&q->stats_lock);
	pthread_mutex_lock(&bvm->stats_lock);
	stats_job(&bvm->stats, e, cnt);
	pthread_mutex_unlock(&bvm->stats_lock);
}

/* After the cleanup: the zombies it made and the job's final count. */
static void stats_cleaned(struct gpuvm_bind_queue *q, uint64_t zombies)
{
	struct gpuvm_bind_vm *bvm = q->bvm;

	pthread_mutex_lock(&q->stats_lock);
	q->stats.zombies_created += zombies;
	q->stats.jobs_cleaned++;
	pthread_mutex_unlock(&q->stats_lock);
	pthread_mutex_lock(&bvm->stats_lock);
	bvm->stats.zombies_created += zombies;
	bvm->stats.jobs_cleaned++;
	pthread_mutex_unlock(&bvm->stats_lock);
}

static void finish_job(struct gpuvm_bind_queue *q, struct bind_job *job)
{
	struct bind_counters cnt;

	memset(&cnt, 0, sizeof(cnt));
	cleanup_job(job, &cnt);
	stats_cleaned(q, cnt.zombies_created);
	pthread_mutex_lock(&q->lock);
	q->cleaned++;
	pthread_cond_broadcast(&q->idle);
	pthread_mutex_unlock(&q->lock);
}

/* The worker. */

static void run_job(struct gpuvm_bind_queue *q, struct bind_job *job)
{
	struct bind_counters cnt;
	struct job_end e = { .ran = true, .nr_reqs = job->nr_reqs };
	int err = 0;

	memset(&cnt, 0, sizeof(cnt));
	/* Input fences are signalled: their status is a plain read. */
	for (unsigned int i = 0; i < job->nr_in && !err; i++) {
		int st = gpuvm_fence_get_status(job->deps[i].fence);

		if (st < 0)
			err = st;
	}

	gpuvm_fence_begin_signalling();
	if (!err)
		err = gpuvm_q_apply_job(job, &cnt);
	else
		e.nr_reqs = 0;
	job->status = err;
	e.status = err;
	e.latency_ns = gpuvm_q_now_ns() - job->submit_ns;
	stats_end(q, &e, &cnt);
	if (err)
		gpuvm_fence_signal_error(job->fence, err);
	else
		gpuvm_fence_signal(job->fence);
	gpuvm_fence_end_signalling();
}

static void cancel_job(struct gpuvm_bind_queue *q, struct bind_job *job)
{
	struct bind_counters cnt;
	struct job_end e = { .status = -ECANCELED, .cancelled = true };

	/*
	 * After this no input-fence callback can touch the job: a callback
	 * that lost the race has completed when remove returns.
	 */
	for (unsigned int i = 0; i < job->nr_in; i++)
		gpuvm_fence_remove_callback(job->deps[i].fence,
					    &job->deps[i].cb);
	memset(&cnt, 0, sizeof(cnt));
	job->status = -ECANCELED;
	gpuvm_fence_begin_signalling();
	stats_end(q, &e, &cnt);
	gpuvm_fence_signal_error(job->fence, -ECANCELED);
	gpuvm_fence_end_signalling();
	finish_job(q, job);
}

/*
 * Cleans up the jobs that have run and wait on @q->done. Called without
 * the queue lock, by the worker when it runs out of ready jobs and by
 * submit; each caller takes the whole list, so every job is cleaned once.
 */
static void clean_done(struct gpuvm_bind_queue *q)
{
	struct gpuvm_list_head list;

	gpuvm_list_init(&list);
	pthread_mutex_lock(&q->lock);
	gpuvm_list_splice_init(&q->done, &list);
	atomic_store_explicit(&q->nr_done, 0, memory_order_relaxed);
	pthread_mutex_unlock(&q->lock);
	while (!gpuvm_list_empty(&list)) {
		struct bind_job *job =
			gpuvm_list_first_entry(&list, struct bind_job, entry);

		gpuvm_list_del(&job->entry);
		finish_job(q, job);
	}
}

/* Under the queue lock: whether the worker has a job to run right now. */
static bool next_ready(struct gpuvm_bind_queue *q)
{
	return !q->cancel && !gpuvm_list_empty(&q->jobs) &&
	       gpuvm_list_first_entry(&q->jobs, struct bind_job, entry)->ready;
}

static void *worker(void *arg)
{
	struct gpuvm_bind_queue *q = arg;

	pthread_mutex_lock(&q->lock);
	for (;;) {
		struct bind_job *job;

		if (q->cancel && !gpuvm_list_empty(&q->jobs)) {
			struct gpuvm_list_head list;

			gpuvm_list_init(&list);
			gpuvm_list_splice_init(&q->jobs, &list);
			pthread_mutex_unlock(&q->lock);
			while (!gpuvm_list_empty(&list)) {
				job = gpuvm_list_first_entry(
					&list, struct bind_job, entry);
				gpuvm_list_del(&job->entry);
				cancel_job(q, job);
			}
			pthread_mutex_lock(&q->lock);
			continue;
		}
		if (!gpuvm_list_empty(&q->jobs)) {
			job = gpuvm_list_first_entry(&q->jobs, struct bind_job,
						     entry);
			if (job->ready) {
				gpuvm_list_del(&job->entry);
				pthread_mutex_unlock(&q->lock);
				run_job(q, job);
				pthread_mutex_lock(&q->lock);
				/*
				 * More work ready: leave the cleanup to the
				 * next submit (or to this thread once it runs
				 * out of work), so that it runs next to the
				 * next run path rather than before it.
				 */
				if (next_ready(q)) {
					gpuvm_list_add_tail(&job->entry,
							    &q->done);
					atomic_fetch_add_explicit(
						&q->nr_done, 1,
						memory_order_relaxed);
					continue;
				}
				pthread_mutex_unlock(&q->lock);
				finish_job(q, job);
				pthread_mutex_lock(&q->lock);
				continue;
			}
		}
		/* Never sleep, nor exit, with jobs left to clean up. */
		if (!gpuvm_list_empty(&q->done)) {
			pthread_mutex_unlock(&q->lock);
			clean_done(q);
			pthread_mutex_lock(&q->lock);
			continue;
		}
		if (gpuvm_list_empty(&q->jobs) && q->stop)
			break;
		pthread_cond_wait(&q->work, &q->lock);
	}
	pthread_mutex_unlock(&q->lock);
	return NULL;
}

/* Queue lifetime. */

int gpuvm_bind_queue_create(struct gpuvm_bind_vm *bvm, const char *name,
			    struct gpuvm_bind_queue **out)
{
	struct gpuvm_bind_queue *q;
	pthread_condattr_t attr;

	if (!bvm || !out)
		return -EINVAL;
	q = gpuvm_zalloc(sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->bvm = bvm;
	snprintf(q->name, sizeof(q->name), "%s", name ? name : "bind");
	q->context = gpuvm_fence_context_alloc(1);
	q->next_seqno = 1;
	atomic_init(&q->nr_done, 0);
	pthread_mutex_init(&q->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&q->work, &attr);
	pthread_cond_init(&q->idle, &attr);
	pthread_condattr_destroy(&attr);
	pthread_mutex_init(&q->stats_lock, NULL);
	gpuvm_list_init(&q->jobs);
	gpuvm_list_init(&q->done);
	atomic_fetch_add(&bvm->nr_queues, 1);
	if (pthread_create(&q->thread, NULL, worker, q)) {
		atomic_fetch_sub(&bvm->nr_queues, 1);
		pthread_cond_destroy(&q->work);
		pthread_cond_destroy(&q->idle);
		pthread_mutex_destroy(&q->lock);
		pthread_mutex_destroy(&q->stats_lock);
		gpuvm_free(q, sizeof(*q));
		return -EAGAIN;
	}
#ifdef __GLIBC__
	{
		/* For debuggers and profilers: "bind:" and the queue's name. */
		char tname[16];

		snprintf(tname, sizeof(tname), "bind:%.10s", q->name);
		(void)pthread_setname_np(q->thread, tname);
	}
#endif
	*out = q;
	return 0;
}

void gpuvm_bind_queue_destroy(struct gpuvm_bind_queue *q,
			      enum gpuvm_bind_queue_destroy_mode mode)
{
	if (!q)
		return;
	gpuvm_might_wait();
	pthread_mutex_lock(&q->lock);
	q->stop = true;
	if (mode == GPUVM_BIND_QUEUE_CANCEL)
		q->cancel = true;
	pthread_cond_signal(&q->work);
	pthread_mutex_unlock(&q->lock);
	pthread_join(q->thread, NULL);

	atomic_fetch_sub(&q->bvm->nr_queues, 1);
	pthread_cond_destroy(&q->work);
	pthread_cond_destroy(&q->idle);
	pthread_mutex_destroy(&q->lock);
	pthread_mutex_destroy(&q->stats_lock);
	gpuvm_free(q, sizeof(*q));
}

void gpuvm_bind_queue_flush(struct gpuvm_bind_queue *q)
{
	uint64_t target;

	gpuvm_might_wait();
	pthread_mutex_lock(&q->lock);
	target = q->next_seqno - 1;
	while (q->cleaned < target)
		pthread_cond_wait(&q->idle, &q->lock);
	pthread_mutex_unlock(&q->lock);
}

int gpuvm_bind_wait(struct gpuvm_fence *fence, int64_t timeout_ns)
{
	int st;

	if (!fence)
		return -EINVAL;
	if (gpuvm_fence_wait_timeout(fence, timeout_ns))
		return -ETIME;
	st = gpuvm_fence_get_status(fence);
	return st < 0 ? st : 0;
}

int gpuvm_bind_submit_wait(struct gpuvm_bind_queue *q,
			   const struct gpuvm_bind_req *reqs,
			   unsigned int nr_reqs,
			   struct gpuvm_fence *const *in_fences,
			   unsigned int nr_in)
{
	struct gpuvm_fence *fence;
	int ret = gpuvm_bind_submit(q, reqs, nr_reqs, in_fences, nr_in, &fence);

	if (ret)
		return ret;
	ret = gpuvm_bind_wait(fence, GPUVM_WAIT_FOREVER);
	gpuvm_fence_put(fence);
	return ret;
}

void gpuvm_bind_queue_get_stats(struct gpuvm_bind_queue *q,
				struct gpuvm_bind_stats *stats)
{
	pthread_mutex_lock(&q->stats_lock);
	*stats = q->stats;
	pthread_mutex_unlock(&q->stats_lock);
}

size_t gpuvm_bind_queue_latency_samples(struct gpuvm_bind_queue *q,
					uint64_t *out, size_t max)
{
	size_t n, first;

	pthread_mutex_lock(&q->stats_lock);
	n = q->lat_count < GPUVM_BIND_LATENCY_SAMPLES
		    ? (size_t)q->lat_count
		    : GPUVM_BIND_LATENCY_SAMPLES;
	if (n > max)
		n = max;
	/* The oldest of the @n most recent. */
	first = (size_t)((q->lat_count - n) % GPUVM_BIND_LATENCY_SAMPLES);
	for (size_t i = 0; i < n; i++)
		out[i] = q->lat_ring[(first + i) % GPUVM_BIND_LATENCY_SAMPLES];
	pthread_mutex_unlock(&q->stats_lock);
	return n;
}

struct gpuvm_bind_vm *gpuvm_bind_queue_vm(struct gpuvm_bind_queue *q)
{
	return q->bvm;
}
