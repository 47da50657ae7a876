/* SPDX-License-Identifier: MIT */
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
#ifndef GPUVM_QUEUE_INTERNAL_H
#define GPUVM_QUEUE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include <gpuvm/queue.h>

#include "base/alloc_internal.h"

/*
 * A mapping made by a bind queue. It outlives the job that made it; the
 * run path that removes it puts it back into the context's pool of spare
 * mappings, linked through @next.
 */
struct bind_va {
	struct gpuva va;
	uint32_t bflags;
	struct bind_va *next;
};

static inline struct bind_va *to_bind_va(struct gpuva *va)
{
	return gpuvm_container_of(va, struct bind_va, va);
}

struct gpuvm_bind_vm {
	struct gpuvm *vm;
	struct gpuvm_pt *pt;
	struct gpuvm_bind_vm_ops ops;
	void *priv;
	/*
	 * The tree lock: serialises the run paths of every queue, and every
	 * access to the tree and the page table. Signalling-safe.
	 */
	struct gpuvm_mutex tree_lock;
	atomic_uint nr_queues;
	/*
	 * Preallocated mappings, under the tree lock: a pool with a floor,
	 * as the tree's nodes and the page table's tables have. Each job
	 * reserves its worst case at submit (@va_floor grows; the pool is
	 * topped up to floor + reservation from memory allocated without the
	 * lock), its run path takes from the pool and puts the mappings it
	 * removes back, and its cleanup gives back what it did not take.
	 * Nothing returns to the allocator while the context is busy
	 * (@busy_jobs: jobs submitted and not cleaned up). When it goes
	 * idle, each pool keeps what the busy period just ended needed at
	 * its peak (@peak_*: the largest floor a successful reservation
	 * made), so that a client submitting in bursts does not take its
	 * memory through the allocator every burst, and frees the rest;
	 * gpuvm_bind_vm_trim() frees all of it.
	 */
	struct bind_va *va_spare;
	size_t nr_va_spare;
	size_t va_floor;
	size_t peak_va, peak_nodes, peak_tables;
	atomic_uint busy_jobs;
	pthread_mutex_t stats_lock;
	struct gpuvm_bind_stats stats;
};

/* One input fence of a job, and the callback that counts it down. */
struct bind_dep {
	struct gpuvm_fence_cb cb;
	struct bind_job *job;
	struct gpuvm_fence *fence;
};

/*
 * A job, in one allocation with its arrays. @deps_pending counts the input
 * fences not signalled yet plus one held by submit until the job is
 * queued; whoever takes it to zero marks the job ready under the queue
 * lock. @vm_bo_src says where request i's vm_bo comes from: BIND_VM_BO_NEW
 * (preallocated, to be obtained), BIND_VM_BO_FOUND (an existing one,
 * referenced at submit), or j + 1 (the same object as request j, whose
 * vm_bo it shares).
 */
#define BIND_VM_BO_NEW	 0u
#define BIND_VM_BO_FOUND UINT32_MAX

struct bind_job {
	struct gpuvm_list_head entry;
	struct gpuvm_bind_queue *q;
	struct gpuvm_fence *fence;
	unsigned int nr_reqs;
	unsigned int nr_in;
	struct gpuvm_bind_req *reqs;
	struct gpuvm_pt_range *pt_ranges; /* the requests' ranges, sorted */
	struct gpuvm_bo **vm_bos;
	uint32_t *vm_bo_src;
	struct bind_dep *deps;
	atomic_uint deps_pending;
	bool ready;
	int status;
	size_t va_reserved;
	size_t va_taken;
	size_t tree_nodes;
	struct gpuvm_pt_resv pt_resv;
	uint64_t submit_ns;
};

struct gpuvm_bind_queue {
	struct gpuvm_bind_vm *bvm;
	char name[32];
	uint64_t context;
	pthread_t thread;

	/* Protects everything down to @cleaned. */
	pthread_mutex_t lock;
	pthread_cond_t work;
	pthread_cond_t idle;
	struct gpuvm_list_head jobs;
	struct gpuvm_list_head done; /* run, waiting for their cleanup */
	atomic_uint nr_done;	     /* a hint for submit, see clean_done() */
	uint64_t next_seqno;
	uint64_t cleaned;
	bool stop;
	bool cancel;

	pthread_mutex_t stats_lock;
	struct gpuvm_bind_stats stats;
	uint64_t lat_ring[GPUVM_BIND_LATENCY_SAMPLES];
	uint64_t lat_count;
};

/* What one run path did; merged into the statistics once it is over. */
struct bind_counters {
	uint64_t ops;
	uint64_t steps_map;
	uint64_t steps_remap;
	uint64_t steps_unmap;
	uint64_t pt_entries_written;
	uint64_t pt_entries_cleared;
	uint64_t pt_entries_kept;
	uint64_t pt_pages_kept;
	uint64_t zombies_created;
	uint64_t violations;
	uint64_t run_errors;
	uint64_t run_ns;
};

#define BIND_RUN_MAGIC 0x62696e64u

/* The @priv of the step callbacks. */
struct bind_run {
	uint32_t magic;
	struct gpuvm_bind_vm *bvm;
	struct bind_job *job;
	const struct gpuvm_bind_req *req;
	struct gpuvm_bo **vm_bo;
	struct bind_counters *cnt;
};

uint64_t gpuvm_q_now_ns(void);
unsigned int gpuvm_q_pt_flags(uint32_t bflags);
int gpuvm_q_gem_pa(struct gpuvm_bind_vm *bvm, struct gpuvm_gem *obj,
		   uint64_t offset, uint64_t range, uint64_t *pa,
		   uint64_t *len);

/*
 * Frees the pools' surplus: with @idle, only if no job is in flight and
 * beyond the last busy period's peak; otherwise everything beyond the
 * floors.
 */
void gpuvm_q_pools_trim(struct gpuvm_bind_vm *bvm, bool idle);

/* The run path: applies a job's requests under the tree lock. */
int gpuvm_q_apply_job(struct bind_job *job, struct bind_counters *cnt);

void gpuvm_q_stats_add(struct gpuvm_bind_stats *dst,
		       const struct gpuvm_bind_stats *src);

#endif /* GPUVM_QUEUE_INTERNAL_H */
