/* SPDX-License-Identifier: MIT */
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
#ifndef GPUVM_QUEUE_H
#define GPUVM_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <gpuvm/compiler.h>
#include <gpuvm/fence.h>
#include <gpuvm/gem.h>
#include <gpuvm/gpuvm.h>
#include <gpuvm/pt.h>

/*
 * DOC: Bind queues
 *
 * An asynchronous VM_BIND queue in immediate mode. A *bind context*
 * (struct gpuvm_bind_vm) wraps one GPUVM_IMMEDIATE_MODE VM, the page table
 * that mirrors it, and the VM's *tree lock*. Any number of *queues* (struct
 * gpuvm_bind_queue) run jobs on one bind context; each queue has a worker
 * thread and runs its jobs strictly in submission order, after their input
 * fences. The run paths of all queues on a context serialise on the tree
 * lock, so the VA tree and the page tables always agree and always show the
 * jobs that have run, in the order they ran.
 *
 * The VM's struct gpuvm_ops must route the split/merge steps to the queue:
 * put GPUVM_BIND_SM_STEPS in its initialiser. The VM's other callbacks
 * (vm_free, vm_bo_alloc, ...) stay the user's.
 *
 * A job's lifecycle:
 *
 * 1. Submit (gpuvm_bind_submit(), the caller's thread; may allocate and
 *    block). Every request is validated; nothing is queued if one is bad.
 *    Then, before anything visible changes, everything the run path will
 *    need is reserved for the worst case: three mappings per map request
 *    (the new one and both pieces of a split) and two per unmap request,
 *    tree nodes for every insert, the page tables on the requests'
 *    paths (one reservation for the job, each table counted once:
 *    gpuvm_pt_reserve_ranges_stash(), or one per request with a backend
 *    without it), a vm_bo per mapped object (an existing one is referenced, a
 *    missing one preallocated with gpuvm_bo_create()) and the output
 *    fence. Mappings, nodes and tables come from the context's pools,
 *    under the tree lock and without allocating; what a pool lacks is
 *    allocated into a stash without the lock and committed under it. Only
 *    then are the vm_bos installed (gpuvm_bo_obtain_prealloc(),
 *    gpuvm_bo_extobj_add()), references taken on the objects and the
 *    input fences, and the job queued. Any allocation failure returns
 *    -ENOMEM with nothing changed.
 * 2. Wait (the worker, outside any section): until every input fence has
 *    signalled. Callbacks on the input fences wake the worker, so a queue
 *    being cancelled never waits for a fence that may never come.
 * 3. Run (the worker, inside gpuvm_fence_begin_signalling()): under the
 *    tree lock, each request goes through gpuvm_sm_map() or
 *    gpuvm_sm_unmap(); the steps write the page tables (honouring keep),
 *    update the tree with the preallocated mappings, link new mappings to
 *    their vm_bo under the object's gpuva mutex, unlink old ones with
 *    gpuva_unlink_defer() and drop the job's vm_bo references with
 *    gpuvm_bo_put_deferred(). The tree lock is dropped, the output fence
 *    signalled, the section left. Nothing allocates, takes a reservation,
 *    waits on a fence or drops a last object or VM reference there. If an
 *    input fence failed, the job is not applied and its output fence
 *    signals with that fence's error.
 * 4. Cleanup (the same worker, right after the run, outside the section):
 *    gpuvm_bo_deferred_cleanup(), the job's unused reservations given
 *    back to the pools (bookkeeping under the tree lock; the mappings the
 *    run removed joined the pool already), references on objects and
 *    fences dropped.
 *
 * The pools. A job's worst case is rarely used: a map request usually
 * needs one mapping, not three, and the tree and the page table seldom
 * split. What one job leaves, the next takes, so in a steady stream of
 * jobs the submit and the cleanup do not reach the allocator for these at
 * all (and one thread does not free what another allocated). While jobs
 * are in flight the pools hold at least their reservations; when the
 * context goes idle each pool keeps what the busy period needed at its
 * peak and frees the rest, and gpuvm_bind_vm_trim() frees everything
 * beyond what jobs in flight reserved.
 *
 * Who cleans up, and why: the worker is the first context after the run
 * that may free and take reservations, so an idle queue gives a job's
 * memory back at once; but a busy worker is the queue's bottleneck, and a
 * cleanup done by the submitting thread runs beside the next run path
 * instead of before it. Cleanups never wait for a submit that may not
 * come, since the worker takes them back whenever it would otherwise
 * wait. The price: a user's object free callback (run by the last object
 * reference, which a cleanup may drop) runs on the worker or in
 * gpuvm_bind_submit(); and in a GPUVM_RESV_PROTECTED VM a cleanup takes
 * the VM's reservation, so nobody may wait on a later job of the same
 * queue while holding it, and submit must not be called holding it.
 *
 * Cancelled jobs (gpuvm_bind_queue_destroy() with GPUVM_BIND_QUEUE_CANCEL)
 * skip step 3: their output fence signals with -ECANCELED, and step 4
 * gives everything back.
 *
 * What each path may do, and what may run concurrently:
 *
 * | call                     | concurrent with         | context           |
 * | ------------------------ | ----------------------- | ----------------- |
 * | gpuvm_bind_vm_create,    | nothing on that context | may allocate/free |
 * | gpuvm_bind_vm_destroy    |                         |                   |
 * | gpuvm_bind_queue_create  | everything              | allocates, starts |
 * |                          |                         | a thread          |
 * | gpuvm_bind_queue_destroy | everything but calls on | waits; not in a   |
 * |                          | the same queue          | section           |
 * | gpuvm_bind_submit        | everything, other       | may allocate,     |
 * |                          | submits to the same     | block, take the   |
 * |                          | queue included          | VM resv; not in a |
 * |                          |                         | section, not      |
 * |                          |                         | holding the tree  |
 * |                          |                         | lock              |
 * | run path (worker)        | submits, cleanups, the  | signalling        |
 * |                          | other queues' run paths | section: tree     |
 * |                          | (serialised by the tree | lock, gpuva       |
 * |                          | lock)                   | mutexes, no alloc |
 * | cleanup (worker or       | everything              | may free, takes   |
 * | submit)                  |                         | the VM resv if    |
 * |                          |                         | RESV_PROTECTED    |
 * | gpuvm_bind_wait,         | everything              | waits; not in a   |
 * | gpuvm_bind_queue_flush,  |                         | section           |
 * | gpuvm_bind_submit_wait   |                         |                   |
 * | *_get_stats,             | everything              | any; no alloc     |
 * | latency_samples          |                         |                   |
 * | gpuvm_bind_vm_lock,      | everything              | takes the tree    |
 * | for_each_va, translate,  |                         | lock: never       |
 * | verify                   |                         | allocate under it |
 * | gpuvm_bind_vm_snapshot   | everything              | allocates outside |
 * |                          |                         | the tree lock     |
 * | gpuvm_bind_vm_trim       | everything              | frees outside the |
 * |                          |                         | tree lock         |
 *
 * The tree lock is signalling-safe: nothing allocates while holding it.
 * Tree nodes and page tables are reserved in two phases: what the pools
 * lack is allocated into stashes without the lock
 * (gpuvm_va_tree_stash_fill(), gpuvm_pt_stash_fill()) and committed under
 * it without allocating (gpuvm_va_tree_reserve_stash(),
 * gpuvm_pt_reserve_stash()); the cleanup releases without moving anything
 * (gpuvm_va_tree_unreserve_stash() and gpuvm_pt_release_stash() with a
 * NULL stash), and trimming moves the surplus into stashes under the lock
 * (gpuvm_va_tree_trim_stash(), gpuvm_pt_trim_stash()) to be freed after
 * it. That is why the page table's backend must support stashes.
 *
 * Page tables. The page table is optional (NULL: the queue keeps only the
 * tree). With one, the VM must lie inside its VA space, every request is
 * page-aligned (GPUVM_PT_PAGE_SIZE), and only the context's queues may
 * write it. Physical addresses come from the context's gem_pa callback.
 */

struct gpuvm_bind_vm;
struct gpuvm_bind_queue;

/**
 * enum gpuvm_bind_op - what a request does
 * @GPUVM_BIND_OP_MAP: map [addr, addr + range) to obj at offset (or, with
 *                     GPUVM_BIND_SPARSE, to nothing), replacing whatever
 *                     was mapped there
 * @GPUVM_BIND_OP_UNMAP: unmap [addr, addr + range); mappings sticking out
 *                       keep their outside part
 */
enum gpuvm_bind_op {
	GPUVM_BIND_OP_MAP = 1,
	GPUVM_BIND_OP_UNMAP,
};

/*
 * Request flags, for GPUVM_BIND_OP_MAP only. GPUVM_BIND_SPARSE makes a null
 * mapping: no object (obj NULL, offset 0), reads return zero, nothing
 * faults. The others set the page-table entries' attributes. A mapping
 * split by a later request keeps its flags in both pieces.
 */
#define GPUVM_BIND_SPARSE    (1u << 0)
#define GPUVM_BIND_READ_ONLY (1u << 1)
#define GPUVM_BIND_NO_EXEC   (1u << 2)
#define GPUVM_BIND_UNCACHED  (1u << 3)
#define GPUVM_BIND_FLAGS                                                       \
	(GPUVM_BIND_SPARSE | GPUVM_BIND_READ_ONLY | GPUVM_BIND_NO_EXEC |       \
	 GPUVM_BIND_UNCACHED)

/**
 * struct gpuvm_bind_req - one map or unmap request of a job
 * @op: enum gpuvm_bind_op
 * @flags: GPUVM_BIND_* flags (map only; 0 for unmap)
 * @addr: the first address
 * @range: the size, not 0
 * @obj: the object to map (map without GPUVM_BIND_SPARSE); NULL otherwise
 * @offset: the offset into @obj; @offset + @range must not exceed its size;
 *          0 when @obj is NULL
 */
struct gpuvm_bind_req {
	uint32_t op;
	uint32_t flags;
	uint64_t addr;
	uint64_t range;
	struct gpuvm_gem *obj;
	uint64_t offset;
};

/**
 * struct gpuvm_bind_vm_ops - the user's callbacks of a bind context
 * @gem_pa: gives the physical address of @obj at @offset in *@pa (page
 *          aligned, below 2^GPUVM_PT_PA_BITS) and in *@len how many bytes
 *          from there are physically contiguous (at least one page; the
 *          caller clips it to what it needs, at most @range). Called by the
 *          run path, inside a fence-signalling section, under the tree
 *          lock: it must not allocate, block or take a reservation, and
 *          must give the same answer every time for the same object and
 *          offset. Returns 0 or a negative error, which fails the job.
 *          Required when the context has a page table.
 */
struct gpuvm_bind_vm_ops {
	int (*gem_pa)(void *priv, struct gpuvm_gem *obj, uint64_t offset,
		      uint64_t range, uint64_t *pa, uint64_t *len);
};

/*
 * The latency and run-time histograms are log-linear: every power of two is
 * cut into GPUVM_BIND_HIST_SUB equal buckets, so a bucket is never wider
 * than 1/GPUVM_BIND_HIST_SUB of the values it holds (6.25%): fine enough for
 * a p99 against a target, small enough (about 6 KiB) to keep per queue and
 * to update under a mutex inside a signalling section. Values below
 * GPUVM_BIND_HIST_SUB nanoseconds get a bucket each; the last bucket also
 * holds everything from 2^GPUVM_BIND_HIST_OCTAVES ns (about 78 hours) on.
 */
#define GPUVM_BIND_HIST_SUB_BITS 4
#define GPUVM_BIND_HIST_SUB	 (1u << GPUVM_BIND_HIST_SUB_BITS)
#define GPUVM_BIND_HIST_OCTAVES	 48
#define GPUVM_BIND_HIST_BUCKETS                                                \
	(GPUVM_BIND_HIST_SUB +                                                 \
	 (GPUVM_BIND_HIST_OCTAVES - GPUVM_BIND_HIST_SUB_BITS) *                \
		 GPUVM_BIND_HIST_SUB)

/**
 * struct gpuvm_bind_hist - a distribution of durations
 * @count: samples
 * @sum_ns: their sum
 * @min_ns: the smallest (0 without samples)
 * @max_ns: the largest
 * @bucket: the log-linear buckets; read them through
 *          gpuvm_bind_hist_quantile()
 */
struct gpuvm_bind_hist {
	uint64_t count;
	uint64_t sum_ns;
	uint64_t min_ns;
	uint64_t max_ns;
	uint64_t bucket[GPUVM_BIND_HIST_BUCKETS];
};

/**
 * gpuvm_bind_hist_add() - count one duration
 * @h: the histogram (zero-initialised before its first sample)
 * @ns: the duration in nanoseconds
 *
 * The queues fill their statistics with it; it is exported so that callers
 * who time something themselves (a peer implementation in a benchmark, a
 * driver's own stage) can keep figures of exactly the same form.
 *
 * Context: any; never allocates. Not atomic: serialise calls on one @h.
 */
GPUVM_EXPORT void gpuvm_bind_hist_add(struct gpuvm_bind_hist *h, uint64_t ns);

/**
 * gpuvm_bind_hist_quantile() - a quantile of a histogram
 * @h: the histogram
 * @q: the quantile, in [0, 1] (0.5 for the median, 0.99 for p99)
 *
 * Finds the bucket holding the ceil(@q * count)-th smallest sample and
 * returns its upper edge, clamped to the observed minimum and maximum: an
 * upper bound of the true quantile that exceeds it by at most 1/16.
 *
 * Context: any; never allocates.
 *
 * Return: the quantile in nanoseconds; 0 for an empty histogram.
 */
GPUVM_EXPORT uint64_t gpuvm_bind_hist_quantile(const struct gpuvm_bind_hist *h,
					       double q);

/**
 * struct gpuvm_bind_stats - what a queue (or all queues of a context) did
 * @jobs_submitted: jobs accepted by submit
 * @jobs_done: jobs run and signalled without error
 * @jobs_failed: jobs signalled with an error: a failed input fence or a
 *               run-path error
 * @jobs_cancelled: jobs signalled with -ECANCELED by a cancelling destroy
 * @jobs_cleaned: jobs whose cleanup finished (every job ends here)
 * @ops: requests applied by run paths
 * @steps_map: MAP steps run
 * @steps_remap: REMAP steps run
 * @steps_unmap: UNMAP steps run
 * @pt_entries_written: page-table leaf entries written by run paths (the
 *                      backend's entries_written)
 * @pt_entries_cleared: leaf entries cleared by run paths
 * @pt_entries_kept: leaf entries that keep left in place (the backend's
 *                   kept_entries)
 * @pt_pages_kept: 4 KiB pages whose unmap keep saved
 * @zombies_created: vm_bos whose last reference a run path dropped
 * @zombies_cleaned: zombies destroyed since the context was created
 *                   (context statistics only: created less those still
 *                   queued on the VM; 0 in a queue's statistics)
 * @violations: run-path rule breaches the queue detected itself: a step
 *              that its preallocation did not cover (a missing mapping, a
 *              tree insert that would allocate, a page-table reservation
 *              that refused). Must stay 0. The library's checker reports
 *              the other rules (see "DOC: Fence-signalling sections").
 * @run_errors: steps that failed in a run path (each also fails its job)
 * @latency: submit to output-fence signal, per job that ran
 * @run_per_op: run-path time (tree lock held) divided by the job's
 *              requests, per job with requests
 */
struct gpuvm_bind_stats {
	uint64_t jobs_submitted;
	uint64_t jobs_done;
	uint64_t jobs_failed;
	uint64_t jobs_cancelled;
	uint64_t jobs_cleaned;
	uint64_t ops;
	uint64_t steps_map;
	uint64_t steps_remap;
	uint64_t steps_unmap;
	uint64_t pt_entries_written;
	uint64_t pt_entries_cleared;
	uint64_t pt_entries_kept;
	uint64_t pt_pages_kept;
	uint64_t zombies_created;
	uint64_t zombies_cleaned;
	uint64_t violations;
	uint64_t run_errors;
	struct gpuvm_bind_hist latency;
	struct gpuvm_bind_hist run_per_op;
};

/* How many recent latency samples each queue keeps. */
#define GPUVM_BIND_LATENCY_SAMPLES 4096

/**
 * gpuvm_bind_step_map() - the MAP step of a bind queue's run path
 * @op: the step
 * @priv: the run path's state (set by the queue)
 *
 * Put it in the VM's struct gpuvm_ops (see GPUVM_BIND_SM_STEPS); never call
 * it directly. Only the context's queues may run gpuvm_sm_map() or
 * gpuvm_sm_unmap() on such a VM: with another @priv the step refuses with
 * -EINVAL and a warning.
 *
 * Return: 0 or a negative error that stops the walk.
 */
GPUVM_EXPORT int gpuvm_bind_step_map(struct gpuva_op *op, void *priv);

/**
 * gpuvm_bind_step_remap() - the REMAP step of a bind queue's run path
 * @op: the step
 * @priv: the run path's state
 *
 * See gpuvm_bind_step_map().
 *
 * Return: 0 or a negative error.
 */
GPUVM_EXPORT int gpuvm_bind_step_remap(struct gpuva_op *op, void *priv);

/**
 * gpuvm_bind_step_unmap() - the UNMAP step of a bind queue's run path
 * @op: the step
 * @priv: the run path's state
 *
 * See gpuvm_bind_step_map().
 *
 * Return: 0 or a negative error.
 */
GPUVM_EXPORT int gpuvm_bind_step_unmap(struct gpuva_op *op, void *priv);

/**
 * GPUVM_BIND_SM_STEPS - the step callbacks, for a struct gpuvm_ops
 * initialiser
 *
 * Example::
 *
 *   static const struct gpuvm_ops my_vm_ops = {
 *           .vm_free = my_vm_free,
 *           GPUVM_BIND_SM_STEPS,
 *   };
 */
#define GPUVM_BIND_SM_STEPS                                                    \
	.sm_step_map = gpuvm_bind_step_map,                                    \
	.sm_step_remap = gpuvm_bind_step_remap,                                \
	.sm_step_unmap = gpuvm_bind_step_unmap

/**
 * gpuvm_bind_vm_create() - create the bind context of a VM
 * @vm: the VM: GPUVM_IMMEDIATE_MODE, its ops carrying GPUVM_BIND_SM_STEPS,
 *      holding no mapping yet (the reserved cut-out aside); a reference is
 *      taken. From now on only the context's queues change its tree; the
 *      user reads it under the context's tree lock (gpuvm_bind_vm_lock()).
 * @pt: the page table mirroring @vm, or NULL for none; not owned (it must
 *      outlive the context); @vm must lie inside its VA space
 * @ops: the callbacks (gem_pa required with @pt); may be NULL without @pt
 * @priv: passed to the callbacks
 * @out: receives the context
 *
 * Context: allocates; not in a fence-signalling section.
 *
 * One bind context per VM.
 *
 * Return: 0; -EINVAL for a NULL argument, a VM that is not in immediate
 * mode, lacks step callbacks or already holds mappings, a VM outside the
 * page table's VA space, a missing gem_pa; -EOPNOTSUPP for a page-table
 * backend without two-phase reservations (stashes); -ENOMEM (nothing
 * kept).
 */
GPUVM_EXPORT int gpuvm_bind_vm_create(struct gpuvm *vm, struct gpuvm_pt *pt,
				      const struct gpuvm_bind_vm_ops *ops,
				      void *priv, struct gpuvm_bind_vm **out);

/**
 * gpuvm_bind_vm_destroy() - destroy a bind context
 * @bvm: the context, or NULL
 *
 * Every queue must have been destroyed. Mappings the queues left in the
 * tree are removed, unlinked and freed (the page table keeps its entries:
 * destroy it or unmap first), zombies are cleaned up, and the VM reference
 * is dropped, possibly the last.
 *
 * Context: no other call on @bvm may run; not in a fence-signalling
 * section.
 *
 * Return: 0, or -EBUSY (nothing done) while queues remain.
 */
GPUVM_EXPORT int gpuvm_bind_vm_destroy(struct gpuvm_bind_vm *bvm);

/**
 * gpuvm_bind_vm_trim() - free the spare preallocations of a context
 * @bvm: the context
 *
 * Submits reserve the worst case of their jobs (see "DOC: Bind queues");
 * what a job does not use stays in the context's pools for later submits,
 * and an idle context keeps what its last busy period needed at its peak.
 * This frees every spare mapping, tree node and page table beyond what
 * the jobs in flight have reserved.
 *
 * Context: takes the tree lock; frees; not in a fence-signalling section.
 */
GPUVM_EXPORT void gpuvm_bind_vm_trim(struct gpuvm_bind_vm *bvm);

/**
 * gpuvm_bind_vm_gpuvm() - the VM of a bind context
 * @bvm: the context
 *
 * Return: the VM (no new reference).
 */
GPUVM_EXPORT struct gpuvm *gpuvm_bind_vm_gpuvm(struct gpuvm_bind_vm *bvm);

/**
 * gpuvm_bind_vm_pt() - the page table of a bind context
 * @bvm: the context
 *
 * Return: the page table, or NULL.
 */
GPUVM_EXPORT struct gpuvm_pt *gpuvm_bind_vm_pt(struct gpuvm_bind_vm *bvm);

/**
 * gpuvm_bind_vm_lock() - take the context's tree lock
 * @bvm: the context
 *
 * While held, no run path changes the tree or the page table, so both may
 * be read directly (gpuvm_for_each_va(), gpuvm_pt_translate(), ...). The
 * lock is taken by run paths inside fence-signalling sections: never
 * allocate, wait on a fence or take a reservation while holding it.
 *
 * Context: not holding it already; may block.
 */
GPUVM_EXPORT void gpuvm_bind_vm_lock(struct gpuvm_bind_vm *bvm);

/**
 * gpuvm_bind_vm_unlock() - drop the context's tree lock
 * @bvm: the context
 */
GPUVM_EXPORT void gpuvm_bind_vm_unlock(struct gpuvm_bind_vm *bvm);

/**
 * struct gpuvm_bind_va_info - one mapping, as the queue made it
 * @addr: the first address
 * @range: the size
 * @obj: the object, or NULL for a sparse mapping (valid while the mapping
 *       exists; take a reference under the tree lock to keep it)
 * @offset: the offset into @obj
 * @flags: GPUVM_BIND_* flags
 */
struct gpuvm_bind_va_info {
	uint64_t addr;
	uint64_t range;
	struct gpuvm_gem *obj;
	uint64_t offset;
	uint32_t flags;
};

/**
 * typedef gpuvm_bind_va_fn - receives one mapping
 * @info: the mapping
 * @data: the pointer given to the walk
 *
 * Runs under the tree lock: must not allocate, wait on a fence, take a
 * reservation or call back into the bind context.
 *
 * Return: 0 to go on; anything else stops the walk and is returned.
 */
typedef int (*gpuvm_bind_va_fn)(const struct gpuvm_bind_va_info *info,
				void *data);

/**
 * gpuvm_bind_vm_for_each_va() - walk the mappings overlapping a range
 * @bvm: the context
 * @addr: the start
 * @range: the size; 0 (or any size reaching past 2^64) for "everything
 *         from @addr on"
 * @fn: called for each mapping in address order (the reserved cut-out is
 *      skipped)
 * @data: passed to @fn
 *
 * Context: takes the tree lock (may block); @fn runs under it.
 *
 * Return: 0, or the first non-zero value of @fn.
 */
GPUVM_EXPORT int gpuvm_bind_vm_for_each_va(struct gpuvm_bind_vm *bvm,
					   uint64_t addr, uint64_t range,
					   gpuvm_bind_va_fn fn, void *data);

/**
 * gpuvm_bind_vm_snapshot() - copy the mappings overlapping a range
 * @bvm: the context
 * @addr: the start
 * @range: the size, as for gpuvm_bind_vm_for_each_va()
 * @out: receives an array allocated by the library (NULL when empty);
 *       free it with gpuvm_bind_snapshot_free()
 * @count: receives the number of mappings
 *
 * One consistent picture: the copy is made in one tree-lock section, the
 * array allocated before it (retrying if the tree grew meanwhile).
 *
 * Context: allocates; not in a fence-signalling section.
 *
 * Return: 0 or -ENOMEM (nothing returned).
 */
GPUVM_EXPORT int gpuvm_bind_vm_snapshot(struct gpuvm_bind_vm *bvm,
					uint64_t addr, uint64_t range,
					struct gpuvm_bind_va_info **out,
					size_t *count);

/**
 * gpuvm_bind_snapshot_free() - free a snapshot
 * @infos: the array gpuvm_bind_vm_snapshot() returned, or NULL
 */
GPUVM_EXPORT void gpuvm_bind_snapshot_free(struct gpuvm_bind_va_info *infos);

/**
 * gpuvm_bind_vm_translate() - translate an address through the page table
 * @bvm: the context (with a page table)
 * @va: any byte address
 * @pa: receives the physical address (may be NULL)
 * @page_size: receives the entry's size (may be NULL)
 * @flags: receives the entry's GPUVM_PT_* flags (may be NULL)
 *
 * gpuvm_pt_translate() under the tree lock.
 *
 * Return: 0, -EFAULT if unmapped, -ENODEV without a page table.
 */
GPUVM_EXPORT int gpuvm_bind_vm_translate(struct gpuvm_bind_vm *bvm, uint64_t va,
					 uint64_t *pa, uint64_t *page_size,
					 unsigned int *flags);

/**
 * gpuvm_bind_vm_verify() - check that the page table mirrors the tree
 * @bvm: the context
 * @addr: the start of the range to check (page-aligned)
 * @range: its size (page-aligned, not 0)
 * @msg: receives a description of the first difference (may be NULL)
 * @len: size of @msg
 *
 * Under the tree lock: the VM's invariants, then every 4 KiB page of the
 * range translates as the tree says (the object's gem_pa plus the offset,
 * a null entry for a sparse mapping, the mapping's attributes) or faults
 * where nothing is mapped. O(pages); for tests and debugging.
 *
 * Return: 0 if they agree, -EUCLEAN otherwise, -EINVAL for a bad range.
 */
GPUVM_EXPORT int gpuvm_bind_vm_verify(struct gpuvm_bind_vm *bvm, uint64_t addr,
				      uint64_t range, char *msg, size_t len);

/**
 * gpuvm_bind_vm_get_stats() - the statistics of all queues of a context
 * @bvm: the context
 * @stats: filled in (queues destroyed meanwhile included)
 *
 * Context: any thread; never allocates.
 */
GPUVM_EXPORT void gpuvm_bind_vm_get_stats(struct gpuvm_bind_vm *bvm,
					  struct gpuvm_bind_stats *stats);

/**
 * gpuvm_bind_queue_create() - create a queue and start its worker
 * @bvm: the context
 * @name: a name for messages and the output fences' timeline (copied;
 *        NULL for "bind")
 * @out: receives the queue
 *
 * Each queue is one fence timeline: its output fences have consecutive
 * seqnos in submission order.
 *
 * Context: allocates and starts a thread; not in a fence-signalling
 * section.
 *
 * Return: 0, -EINVAL for a NULL argument, -ENOMEM, or -EAGAIN if the
 * thread could not be started (nothing kept).
 */
GPUVM_EXPORT int gpuvm_bind_queue_create(struct gpuvm_bind_vm *bvm,
					 const char *name,
					 struct gpuvm_bind_queue **out);

/**
 * enum gpuvm_bind_queue_destroy_mode - what destroy does with pending jobs
 * @GPUVM_BIND_QUEUE_DRAIN: run every queued job first (waits for their
 *                          input fences, however long)
 * @GPUVM_BIND_QUEUE_CANCEL: run none of the jobs still waiting: their
 *                           output fences signal with -ECANCELED, in
 *                           order; a job already running finishes
 */
enum gpuvm_bind_queue_destroy_mode {
	GPUVM_BIND_QUEUE_DRAIN = 1,
	GPUVM_BIND_QUEUE_CANCEL,
};

/**
 * gpuvm_bind_queue_destroy() - stop a queue and free it
 * @q: the queue, or NULL
 * @mode: enum gpuvm_bind_queue_destroy_mode
 *
 * Returns once every job is signalled and cleaned up and the worker has
 * exited. Output fences stay valid for whoever holds references.
 *
 * Context: no other call on @q may run or follow; not in a
 * fence-signalling section; not on the queue's own worker (e.g. from a
 * fence callback it runs).
 */
GPUVM_EXPORT void
gpuvm_bind_queue_destroy(struct gpuvm_bind_queue *q,
			 enum gpuvm_bind_queue_destroy_mode mode);

/**
 * gpuvm_bind_submit() - queue a job
 * @q: the queue
 * @reqs: the requests, applied in array order (copied)
 * @nr_reqs: how many; 0 makes a job that only orders fences
 * @in_fences: the fences the job waits for (references are taken)
 * @nr_in: how many
 * @out_fence: receives the job's output fence with a reference for the
 *             caller (drop it with gpuvm_fence_put()); may be NULL
 *
 * See "DOC: Bind queues" for what is preallocated. The output fence
 * signals once the job ran (status 1), with an input fence's error if one
 * failed (the job is then not applied), with -ECANCELED if the queue was
 * destroyed in cancel mode first, or with the error of a run-path step
 * that failed (counted in run_errors; the job's earlier steps stand).
 *
 * Submit first cleans up the queue's jobs that ran while the worker had
 * more to do (see "DOC: Bind queues"), so it may drop last object
 * references and run their free callbacks.
 *
 * Context: may allocate and block; not in a fence-signalling section, not
 * holding the tree lock, nor, if the VM is GPUVM_RESV_PROTECTED, the VM's
 * reservation. Not after gpuvm_bind_queue_destroy() started.
 *
 * Return: 0; -EINVAL for a bad argument or request (nothing queued):
 * unknown op or flags, empty or overflowing range, outside the VM,
 * touching its reserved cut-out, not page-aligned when there is a page
 * table, a map without object (unless sparse) or with one when sparse,
 * offset + range beyond the object, an unmap with an object, offset or
 * flags; a NULL input fence; -ENOMEM with nothing changed (no job queued,
 * no reference kept, no reservation left).
 */
GPUVM_EXPORT int
gpuvm_bind_submit(struct gpuvm_bind_queue *q, const struct gpuvm_bind_req *reqs,
		  unsigned int nr_reqs, struct gpuvm_fence *const *in_fences,
		  unsigned int nr_in, struct gpuvm_fence **out_fence);

/**
 * gpuvm_bind_wait() - wait for a job and return its result
 * @fence: a job's output fence
 * @timeout_ns: as gpuvm_fence_wait_timeout()
 *
 * Context: not in a fence-signalling section.
 *
 * Return: 0 if the job ran, its error (input-fence error, -ECANCELED, a
 * run-path error) otherwise, -ETIME on timeout.
 */
GPUVM_EXPORT int gpuvm_bind_wait(struct gpuvm_fence *fence, int64_t timeout_ns);

/**
 * gpuvm_bind_submit_wait() - submit a job and wait for it
 * @q: the queue
 * @reqs: the requests
 * @nr_reqs: how many
 * @in_fences: the input fences
 * @nr_in: how many
 *
 * gpuvm_bind_submit() then gpuvm_bind_wait() without timeout; the blocking
 * helper for synchronous callers.
 *
 * Context: as gpuvm_bind_submit(), and waits.
 *
 * Return: submit's error, or the job's result as gpuvm_bind_wait().
 */
GPUVM_EXPORT int gpuvm_bind_submit_wait(struct gpuvm_bind_queue *q,
					const struct gpuvm_bind_req *reqs,
					unsigned int nr_reqs,
					struct gpuvm_fence *const *in_fences,
					unsigned int nr_in);

/**
 * gpuvm_bind_queue_flush() - wait until the queue has nothing left to do
 * @q: the queue
 *
 * Returns once every job submitted before the call has signalled and been
 * cleaned up, so that its memory is freed and its statistics are final.
 *
 * Context: not in a fence-signalling section; not on the queue's worker.
 */
GPUVM_EXPORT void gpuvm_bind_queue_flush(struct gpuvm_bind_queue *q);

/**
 * gpuvm_bind_queue_get_stats() - a queue's statistics
 * @q: the queue
 * @stats: filled in
 *
 * Context: any thread; never allocates.
 */
GPUVM_EXPORT void gpuvm_bind_queue_get_stats(struct gpuvm_bind_queue *q,
					     struct gpuvm_bind_stats *stats);

/**
 * gpuvm_bind_queue_latency_samples() - the most recent latency samples
 * @q: the queue
 * @out: receives up to @max samples in nanoseconds, oldest first
 * @max: the room in @out
 *
 * The queue keeps the last GPUVM_BIND_LATENCY_SAMPLES submit-to-signal
 * latencies, for exact percentiles.
 *
 * Context: any thread; never allocates.
 *
 * Return: the number of samples written.
 */
GPUVM_EXPORT size_t gpuvm_bind_queue_latency_samples(struct gpuvm_bind_queue *q,
						     uint64_t *out, size_t max);

/**
 * gpuvm_bind_queue_vm() - the bind context of a queue
 * @q: the queue
 *
 * Return: the context.
 */
GPUVM_EXPORT struct gpuvm_bind_vm *
gpuvm_bind_queue_vm(struct gpuvm_bind_queue *q);

#endif /* GPUVM_QUEUE_H */
