/* SPDX-License-Identifier: MIT */
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
#ifndef GPUVM_TOOLS_BIND_WORKLOAD_H
#define GPUVM_TOOLS_BIND_WORKLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <gpuvm/fence.h>
#include <gpuvm/gem.h>
#include <gpuvm/queue.h> /* struct gpuvm_bind_req, gpuvm_bind_vm_ops */

/*
 * DOC: Bind workloads
 *
 * The synthetic workloads of `gpuvm run` (kv-cache, sparse-texture, churn),
 * kept apart from any one way of submitting them so that the very same
 * request streams can be fed to the library's bind queue and to other
 * submission back ends and compared. Each of several threads generates
 * requests into its own part of the workload's span (see struct
 * bwl_layout), submits them in jobs through a caller-supplied function
 * (bwl_submit_fn) and keeps up to 16 jobs in flight before it waits for the
 * oldest. Apart from timing, everything follows from the seed: the
 * requests, the objects and their physical addresses, and, with one thread,
 * the order of the jobs.
 *
 * Usage: bwl_opts_defaults(), adjust, bwl_opts_check(); bwl_layout() to set
 * up the VM and its page table; bwl_run_create(), bwl_run_start(), poll
 * bwl_run_threads_done() (or bwl_run_stop()), bwl_run_join(); optionally
 * further phases with bwl_run_resume() and bwl_run_join() (a warm-up, then
 * a measured phase); drain the back end, bwl_run_destroy(), tear the back
 * end down; finally compare bwl_objects_allocated() with
 * bwl_objects_freed().
 *
 * The workload's own bookkeeping (request arrays, per-thread tables) comes
 * from the C library, not from the library under test, so that it does not
 * show in gpuvm_alloc_get_stats(). If that allocation fails, the process
 * prints "<name>: out of memory" and exits with status 1: a measurement has
 * nothing sensible left to do by then.
 */

/**
 * enum bwl_kind - the workloads
 * @BWL_KV: LLM serving paging a KV cache (Llama-3-8B: 32 layers, K and V
 *          tensors, 2 KiB per token each) with Poisson request arrivals
 * @BWL_SPARSE: a game streaming 64 KiB tiles of null-mapped sparse
 *              resources in a 2^40 space whose upper half is the kernel's
 * @BWL_CHURN: random map, unmap and hole punching around a target number of
 *             live mappings
 * @BWL_NR: the number of workloads
 */
enum bwl_kind { BWL_KV, BWL_SPARSE, BWL_CHURN, BWL_NR };

/* "kv-cache", "sparse-texture", "churn": the names `gpuvm run` takes. */
extern const char *const bwl_names[BWL_NR];

/**
 * struct bwl_opts - the workload's knobs
 * @wl: which workload
 * @seed: the random seed
 * @seconds: stop submitting after this long, if @have_seconds
 * @have_seconds: whether @seconds applies
 * @jobs: stop after this many jobs in all (shared out between the threads
 *        as evenly as possible); 0: no job limit. Without either limit the
 *        threads run until bwl_run_stop(). Limits are checked between a
 *        workload's steps (a kv-cache request's token, a frame, a churn
 *        batch), which may take several jobs: a thread can overshoot.
 * @threads: submitting threads, 1 to 64
 * @page_size: kv-cache page: 64 KiB, 128 KiB, 256 KiB or 2 MiB
 * @requests: kv-cache concurrent requests (slots), 1 to 1024
 * @max_context: kv-cache tokens per request, 64 to 131072
 * @tiles: sparse-texture tiles bound or unbound per frame, 1 to 65536
 * @resources: sparse-texture 256 MiB resources, 1 to 1024
 * @mappings: churn 64 KiB slots kept mapped, 1 to 1000000
 * @batch: requests per job for sparse-texture and churn, 1 to 4096
 * @name: prefix of the messages the threads print on standard error; NULL
 *        uses the workload's name
 *
 * The ranges are those `gpuvm run` accepts; they keep the span inside the
 * VM of bwl_layout() and the per-thread tables within 32-bit indices.
 */
struct bwl_opts {
	enum bwl_kind wl;
	uint64_t seed;
	double seconds;
	bool have_seconds;
	uint64_t jobs;
	unsigned int threads;
	uint64_t page_size;
	unsigned int requests, max_context, tiles, resources, mappings, batch;
	const char *name;
};

/**
 * bwl_opts_defaults() - the default knobs
 * @o: filled in
 *
 * Those of `gpuvm run`: kv-cache, seed 1, 2 threads, 64 KiB pages, 16
 * requests of at most 4096 tokens, 256 tiles per frame, 64 resources,
 * 100000 mappings, 64 requests per job, no time or job limit, no name.
 */
void bwl_opts_defaults(struct bwl_opts *o);

/**
 * bwl_opts_check() - check a combination of knobs
 * @o: the knobs
 *
 * Every thread needs at least one kv-cache request slot, sparse resource or
 * churn mapping of its own, and every knob must lie in the range documented
 * at struct bwl_opts.
 *
 * Return: NULL if @o is fine, else a static message saying what is wrong
 * (no trailing newline).
 */
const char *bwl_opts_check(const struct bwl_opts *o);

/**
 * struct bwl_layout - where the workload's VM lives
 * @va_bits: the VA bits for gpuvm_pt_sw_create()
 * @start: the VM's start, for gpuvm_init()
 * @range: the VM's range
 * @cut_start: the start of the VM's reserved cut-out (the kernel node)
 * @cut_range: its range
 * @span_start: the first address the workload maps
 * @span_end: the end of what the workload maps; nothing outside
 *            [@span_start, @span_end) is ever mapped
 */
struct bwl_layout {
	unsigned int va_bits;
	uint64_t start, range;
	uint64_t cut_start, cut_range;
	uint64_t span_start, span_end;
};

/**
 * bwl_layout() - the VM a workload needs
 * @o: the knobs (checked with bwl_opts_check())
 * @l: filled in
 *
 * sparse-texture gets a 2^40 space whose upper half is cut out for the
 * kernel; the others a 2^47 space less its first MiB, cut out.
 */
void bwl_layout(const struct bwl_opts *o, struct bwl_layout *l);

/**
 * typedef bwl_submit_fn - a submission back end
 * @queue: one of the queues given to bwl_run_create()
 * @reqs: the requests of one job, in order (only valid during the call;
 *        the back end takes the object references it needs)
 * @n: how many, at least one
 * @out: receives the job's output fence with a reference for the caller
 *
 * Submits @reqs as one job. The workload waits for @out with
 * gpuvm_bind_wait() (so the fence's error is the job's result) and drops
 * the reference with gpuvm_fence_put(). Called from the workload's threads,
 * concurrently for different queues and, with more threads than queues,
 * for the same queue.
 *
 * Return: 0, or a negative errno (nothing submitted); an error stops the
 * thread and is reported as its error.
 */
typedef int (*bwl_submit_fn)(void *queue, const struct gpuvm_bind_req *reqs,
			     unsigned int n, struct gpuvm_fence **out);

struct bwl_run;

/**
 * bwl_run_create() - prepare a run
 * @o: the knobs (checked with bwl_opts_check()); copied
 * @submit: the back end's submit function
 * @queues: the back end's queues; thread i submits to queues[i % @nr_queues]
 * @nr_queues: how many, at least one
 * @out: receives the run
 *
 * Allocates every thread's state, including the buffer objects it maps
 * from (plain gpuvm_gem objects, each with one contiguous physical range
 * that bwl_gem_pa() reports; their free callback counts them, see
 * bwl_objects_freed()). The kv-cache threads create an object per page as
 * they go; the jobs hold the only references to those.
 *
 * Context: any thread; no thread is started yet.
 *
 * Return: 0; -EINVAL for bad knobs, no queue or no submit function;
 * -ENOMEM if an object could not be created (nothing is left allocated).
 */
int bwl_run_create(const struct bwl_opts *o, bwl_submit_fn submit,
		   void *const *queues, unsigned int nr_queues,
		   struct bwl_run **out);

/**
 * bwl_run_start() - start the clock and the threads
 * @r: a run from bwl_run_create(), not started before
 *
 * On failure the threads that did start are told to stop and are joined,
 * and every thread then counts as done, so that bwl_run_join() still gives
 * what the started ones did before they stopped.
 *
 * Return: 0; -EINVAL if @r was started before; -EAGAIN if a thread could
 * not be created.
 */
int bwl_run_start(struct bwl_run *r);

/**
 * bwl_run_resume() - run another phase
 * @r: a run whose threads were joined with bwl_run_join()
 * @jobs: the phase's job limit, shared out between the threads as at the
 *        start; 0: none (the time limit of the options, counted from now,
 *        or bwl_run_stop())
 *
 * Restarts the clock and the threads, which carry on where they stopped:
 * the same request slots, tiles, live mappings, objects and random streams,
 * so that the phases of a run make one deterministic request stream.
 * Clears a stop request. The next bwl_run_join() and bwl_run_jobs() cover
 * this phase alone. Failure is as for bwl_run_start().
 *
 * Return: 0; -EINVAL if the threads are running, were never started, or
 * @jobs is above UINT64_MAX / 2; the first thread error of the last phase
 * (nothing restarted); -EAGAIN if a thread could not be created.
 */
int bwl_run_resume(struct bwl_run *r, uint64_t jobs);

/**
 * bwl_run_jobs() - jobs submitted in this phase so far, by all threads
 * @r: the run
 *
 * Context: any thread, at any time after bwl_run_create(); for progress
 * reports, so only eventually exact while the threads run.
 *
 * Return: the number of jobs.
 */
uint64_t bwl_run_jobs(const struct bwl_run *r);

/**
 * bwl_run_threads_done() - threads that have finished
 * @r: the run
 *
 * A thread is finished once it stopped submitting and waited for all its
 * jobs. Poll until this is the run's thread count, or call bwl_run_join()
 * directly.
 *
 * Context: any thread.
 *
 * Return: the number of finished threads.
 */
unsigned int bwl_run_threads_done(const struct bwl_run *r);

/**
 * bwl_run_elapsed() - seconds since bwl_run_start() or bwl_run_resume()
 * @r: the run, started
 *
 * Context: any thread.
 *
 * Return: the seconds on the monotonic clock.
 */
double bwl_run_elapsed(const struct bwl_run *r);

/**
 * bwl_run_stop() - ask the threads to stop
 * @r: the run
 *
 * Each thread stops at its next check (see @jobs of struct bwl_opts) and
 * then waits for its jobs in flight. Does not wait; see bwl_run_join().
 *
 * Context: any thread, also before bwl_run_start() (the threads then stop
 * after at most one job each).
 */
void bwl_run_stop(struct bwl_run *r);

/**
 * struct bwl_result - what the threads did in a phase
 * @secs: from bwl_run_start() (or bwl_run_resume()) to the end of the last
 *        thread (after it waited for its jobs); never 0, so that rates can
 *        be computed
 * @jobs: jobs submitted
 * @ops: requests submitted
 * @frames: sparse-texture frames (a frame's jobs are waited for before the
 *          next starts)
 * @frame_p50: median frame time, ns
 * @frame_p99: 99th percentile frame time, ns
 * @frames_over: frames over 16.6 ms (one at 60 Hz)
 * @requests_done: kv-cache requests that ran to their full length and
 *                 were unmapped
 * @err: the first error of a thread (in thread order), 0 if none; the
 *       thread printed what failed on standard error
 */
struct bwl_result {
	double secs;
	uint64_t jobs, ops;
	uint64_t frames, frame_p50, frame_p99, frames_over;
	uint64_t requests_done;
	int err;
};

/**
 * bwl_run_join() - wait for the threads and gather their figures
 * @r: the run
 * @res: filled in
 *
 * Every job of the run has completed when this returns: each thread waits
 * for all of its jobs before it exits. Without bwl_run_stop() it waits for
 * the time or job limit. Covers the phase begun by the last bwl_run_start()
 * or bwl_run_resume(); calling it again gives the same figures.
 *
 * Context: not from one of the run's threads nor from a back end's thread
 * the run's jobs depend on.
 */
void bwl_run_join(struct bwl_run *r, struct bwl_result *res);

/**
 * bwl_run_destroy() - put the threads' objects and free the run
 * @r: the run, or NULL
 *
 * Stops and joins the threads if bwl_run_join() was not called. Objects
 * the back end still references are freed whenever it drops them, which
 * is why the object counters do not live in the run: call this once the
 * back end no longer needs the run's queues (after they are drained), and
 * check bwl_objects_allocated() against bwl_objects_freed() once the back
 * end is torn down as well.
 */
void bwl_run_destroy(struct bwl_run *r);

/**
 * bwl_objects_allocated() - objects the workloads have created
 * @r: ignored, may be NULL (see below)
 *
 * The object counters are process-wide, shared by every run, so that they
 * stay valid after bwl_run_destroy() and count objects the back end frees
 * later. Runs after one another can take differences; after every run is
 * destroyed and every back end torn down, allocated == freed means nothing
 * leaked.
 *
 * Context: any thread.
 *
 * Return: the number of objects created so far.
 */
uint64_t bwl_objects_allocated(const struct bwl_run *r);

/**
 * bwl_objects_freed() - objects the workloads have seen freed
 * @r: ignored, may be NULL; see bwl_objects_allocated()
 *
 * Context: any thread.
 *
 * Return: the number of objects whose last reference was dropped so far.
 */
uint64_t bwl_objects_freed(const struct bwl_run *r);

/**
 * bwl_gem_pa() - the gem_pa callback of struct gpuvm_bind_vm_ops
 * @priv: unused
 * @obj: an object of a workload
 * @offset: the offset into it
 * @range: unused: the whole rest of the object is contiguous
 * @pa: receives the physical address at @offset
 * @len: receives the bytes from @offset to the object's end
 *
 * Context: may run inside a fence-signalling section; neither allocates
 * nor blocks.
 *
 * Return: 0.
 */
int bwl_gem_pa(void *priv, struct gpuvm_gem *obj, uint64_t offset,
	       uint64_t range, uint64_t *pa, uint64_t *len);

/**
 * bwl_sort_u64() - sort samples in ascending order
 * @v: the samples
 * @n: how many
 *
 * With bwl_quantile(), the percentiles of struct bwl_result, for other
 * samples (e.g. latencies) to be reported alike.
 */
void bwl_sort_u64(uint64_t *v, size_t n);

/**
 * bwl_quantile() - the nearest-rank quantile of sorted samples
 * @v: the samples, sorted ascending
 * @n: how many
 * @q: the quantile, 0 to 1
 *
 * Return: the sample at rank round((@n - 1) * @q), 0 without samples.
 */
uint64_t bwl_quantile(const uint64_t *v, size_t n, double q);

#endif /* GPUVM_TOOLS_BIND_WORKLOAD_H */
