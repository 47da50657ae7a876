/* SPDX-License-Identifier: MIT */
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
#ifndef GPUVM_BENCH_STAGED_H
#define GPUVM_BENCH_STAGED_H

#include <stdbool.h>
#include <stdint.h>

#include <gpuvm/fence.h>
#include <gpuvm/pt.h>
#include <gpuvm/queue.h>

/*
 * DOC: The staged bind queue (the benchmark's peer)
 *
 * The other way drivers build VM_BIND on GPUVM, as xe and msm do: the VM is
 * in staged mode, and *submit* computes the split/merge steps
 * (gpuvm_sm_map_ops_create()), applies them to the VA tree, links and
 * unlinks mappings under the objects' reservations, and reserves the
 * page-table memory; the job then carries a list of page-table writes, and
 * its run path only replays that list under the page-table lock, inside a
 * fence-signalling section. The tree runs ahead of the page table: a later
 * submit sees the mappings of jobs that have not run yet, which is what
 * staged mode means.
 *
 * It uses the library's public API only, with the same page-table backend,
 * fences and worker structure as the immediate-mode bind queue, so that
 * the two differ only in where the work is done. It serves the benchmark;
 * it is not a library feature: an allocation failure in the middle of a
 * submit is reported (-ENOMEM) after the requests before it were applied
 * (xe unwinds; the benchmark stops instead), and it takes no input fences.
 *
 * Locks: @vm_lock (a pthread mutex, xe's vm->lock) serialises submits and
 * guards the tree; submits allocate under it. The objects' reservations,
 * taken by a gpuvm_exec over every object a request maps or unmaps, guard
 * the vm_bo lists. @pt_lock (signalling-safe) guards the page table: run
 * paths take it inside their section, submit only to commit page-table
 * reservations made from a stash filled beforehand.
 */

struct staged_vm;
struct staged_queue;

/* The physical address callback, as struct gpuvm_bind_vm_ops's gem_pa. */
typedef int (*staged_gem_pa_fn)(void *priv, struct gpuvm_gem *obj,
				uint64_t offset, uint64_t range, uint64_t *pa,
				uint64_t *len);

/**
 * struct staged_stats - what the queues of a staged VM did
 * @jobs: jobs run
 * @ops: requests run
 * @pt_ops: page-table writes the run paths replayed
 * @run_per_op: run-path time (page-table lock held) per request, per job
 * @latency: submit to output-fence signal, per job
 */
struct staged_stats {
	uint64_t jobs;
	uint64_t ops;
	uint64_t pt_ops;
	struct gpuvm_bind_hist run_per_op;
	struct gpuvm_bind_hist latency;
};

/**
 * staged_vm_create() - a staged-mode VM with its page table
 * @va_bits: the page table's VA bits
 * @start: the VM's start
 * @range: its size
 * @cut_start: the reserved cut-out's start
 * @cut_range: its size (0 for none)
 * @gem_pa: physical addresses of the objects
 * @out: receives the VM
 *
 * Return: 0 or a negative errno.
 */
int staged_vm_create(unsigned int va_bits, uint64_t start, uint64_t range,
		     uint64_t cut_start, uint64_t cut_range,
		     staged_gem_pa_fn gem_pa, struct staged_vm **out);

/**
 * staged_vm_destroy() - unmap everything and free the VM
 * @svm: the VM, or NULL; its queues must be destroyed
 */
void staged_vm_destroy(struct staged_vm *svm);

/**
 * staged_vm_get_stats() - the statistics of every queue of @svm
 * @svm: the VM
 * @stats: filled in
 */
void staged_vm_get_stats(struct staged_vm *svm, struct staged_stats *stats);

/**
 * staged_vm_gpuvm() - the VM (read it under staged_vm_lock())
 * @svm: the VM
 */
struct gpuvm *staged_vm_gpuvm(struct staged_vm *svm);

/**
 * staged_vm_pt() - the page table (read it with every queue idle)
 * @svm: the VM
 */
struct gpuvm_pt *staged_vm_pt(struct staged_vm *svm);

/**
 * staged_vm_for_each_va() - every mapping, in address order
 * @svm: the VM, with every queue idle
 * @fn: called for each mapping (the reserved cut-out skipped)
 * @data: passed to @fn
 *
 * Return: 0, or the first non-zero value of @fn.
 */
int staged_vm_for_each_va(struct staged_vm *svm, gpuvm_bind_va_fn fn,
			  void *data);

/**
 * staged_queue_create() - a queue with its worker thread
 * @svm: the VM
 * @out: receives the queue
 *
 * Return: 0 or a negative errno.
 */
int staged_queue_create(struct staged_vm *svm, struct staged_queue **out);

/**
 * staged_queue_destroy() - run every pending job, stop the worker, free
 * @q: the queue, or NULL
 */
void staged_queue_destroy(struct staged_queue *q);

/**
 * staged_submit() - submit a job (the signature of a workload back end)
 * @queue: the struct staged_queue
 * @reqs: the requests, applied in order
 * @n: how many
 * @out: receives the output fence (a reference for the caller), or NULL
 *
 * Return: 0, -EINVAL for an invalid request (nothing done), -ENOMEM (see
 * the DOC about what stays applied).
 */
int staged_submit(void *queue, const struct gpuvm_bind_req *reqs,
		  unsigned int n, struct gpuvm_fence **out);

#endif /* GPUVM_BENCH_STAGED_H */
