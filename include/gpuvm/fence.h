/* SPDX-License-Identifier: MIT */
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
#ifndef GPUVM_FENCE_H
#define GPUVM_FENCE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <gpuvm/compiler.h>
#include <gpuvm/kref.h>
#include <gpuvm/list.h>

/*
 * DOC: Fence-signalling sections
 *
 * A fence is a promise that some work will finish. Code that must run for a
 * fence to signal (a job's run path, the callbacks it triggers) is a
 * *fence-signalling section*: if it waited for anything that may itself wait
 * on a fence, the promise could deadlock. The kernel teaches lockdep about
 * these sections with dma_fence_begin_signalling(); this library checks them
 * directly, per thread.
 *
 * Mark a section with gpuvm_fence_begin_signalling() and
 * gpuvm_fence_end_signalling(). Sections nest (a thread-local depth); the
 * call site of the outermost begin is remembered and named in every report.
 * An end without a begin is itself a violation. Unlike the kernel's
 * annotation there is no cookie: the depth is per thread.
 *
 * While the calling thread is inside a section, with checks enabled (see
 * "DOC: Run-time checks" in mutex.h), these abort:
 *
 * - the library's allocator entry: anything that allocates;
 * - acquiring a ww-mutex or a reservation lock in any way: lock, lock_slow
 *   and trylock alike. The kernel's lockdep only sees the blocking forms;
 *   this library is stricter because a section that holds a reservation
 *   makes everything done under it (validation, eviction, allocation) part
 *   of the signalling path, and a failed trylock invites a blocking
 *   fallback. The rule is checked at the call, contended or not;
 * - waiting on a fence (gpuvm_fence_wait_timeout(), gpuvm_resv_wait_timeout()),
 *   even with a zero timeout or on a signalled fence: a wait is checked as a
 *   wait, whatever its timing. Poll with gpuvm_fence_is_signaled();
 * - dropping the last reference of a GEM object or of a VM (their release
 *   may take reservation locks and free memory).
 *
 * Taking a plain gpuvm_mutex, signalling fences, adding callbacks and
 * dropping fence references are allowed.
 *
 * The report reads, for example:
 *
 *   gpuvm: fence-signalling rule broken: gpuvm_alloc() allocates inside a
 *   fence-signalling section entered at run.c:42 (run_job)
 *
 * Users mark their own code with gpuvm_might_alloc() and gpuvm_might_wait(),
 * which check the same rules at their call site. A test can install a
 * handler with gpuvm_set_violation_handler() that counts violations instead
 * of aborting. In release builds the rule checks compile to nothing; the
 * section depth is still tracked, so gpuvm_in_signalling_section() answers
 * in every build.
 *
 * | operation              | may race with   | synchronisation             |
 * | ---------------------- | --------------- | --------------------------- |
 * | begin, end,            | anything        | none needed: the depth and  |
 * | in_signalling_section, |                 | entry call site are         |
 * | might_alloc/wait, the  |                 | thread-local, read only by  |
 * | library's own checks   |                 | their thread                |
 * | set_violation_handler  | nothing         | plain stores; set it before |
 * |                        |                 | other threads start         |
 */

/**
 * enum gpuvm_violation - the rule a violation broke
 * @GPUVM_VIOLATION_ALLOC: allocated inside a section
 * @GPUVM_VIOLATION_WW_LOCK: acquired a ww-mutex (reservation) inside a section
 * @GPUVM_VIOLATION_FENCE_WAIT: waited on a fence inside a section
 * @GPUVM_VIOLATION_GEM_PUT: dropped the last reference of a GEM object inside
 *                           a section
 * @GPUVM_VIOLATION_VM_PUT: dropped the last reference of a VM inside a section
 * @GPUVM_VIOLATION_UNBALANCED: ended a section the thread was not in
 */
enum gpuvm_violation {
	GPUVM_VIOLATION_ALLOC = 1,
	GPUVM_VIOLATION_WW_LOCK,
	GPUVM_VIOLATION_FENCE_WAIT,
	GPUVM_VIOLATION_GEM_PUT,
	GPUVM_VIOLATION_VM_PUT,
	GPUVM_VIOLATION_UNBALANCED,
};

/**
 * typedef gpuvm_violation_fn - receives fence-signalling rule violations
 * @rule: the rule that was broken
 * @msg: the report, one line without the "gpuvm: " prefix and the newline
 * @data: the pointer given to gpuvm_set_violation_handler()
 *
 * Runs on the violating thread, inside the section. It must not allocate
 * through the library. If it returns, the operation goes ahead as if the
 * rule had held (the allocation is made, the lock is taken, ...).
 */
typedef void (*gpuvm_violation_fn)(enum gpuvm_violation rule, const char *msg,
				   void *data);

/**
 * gpuvm_set_violation_handler() - route fence-signalling rule violations
 * @fn: the handler, or NULL to restore the default (print, then abort())
 * @data: passed to @fn
 *
 * A testing aid: stress tests count violations instead of dying.
 *
 * Context: process-wide; set it while no other thread uses the library.
 */
GPUVM_EXPORT void gpuvm_set_violation_handler(gpuvm_violation_fn fn,
					      void *data);

/**
 * gpuvm_fence_begin_signalling() - enter a fence-signalling section
 *
 * Records the caller's file, line and function for reports. Pair every call
 * with gpuvm_fence_end_signalling() on the same thread.
 */
#define gpuvm_fence_begin_signalling()                                         \
	gpuvm_fence_begin_signalling_at(__FILE__, __LINE__, __func__)

/**
 * gpuvm_fence_end_signalling() - leave the innermost fence-signalling section
 *
 * Ending a section the calling thread is not in is reported as a
 * violation (GPUVM_VIOLATION_UNBALANCED) with checks enabled.
 */
#define gpuvm_fence_end_signalling()                                           \
	gpuvm_fence_end_signalling_at(__FILE__, __LINE__, __func__)

/**
 * gpuvm_fence_begin_signalling_at() - the function behind the macro
 * @file: the caller's source file
 * @line: the caller's line
 * @func: the caller's function
 *
 * Only the outermost section's call site is kept. The strings must outlive
 * the section (string literals, as the macro passes).
 *
 * Context: any thread; never allocates or blocks.
 */
GPUVM_EXPORT void gpuvm_fence_begin_signalling_at(const char *file, int line,
						  const char *func);

/**
 * gpuvm_fence_end_signalling_at() - the function behind the macro
 * @file: the caller's source file
 * @line: the caller's line
 * @func: the caller's function
 *
 * Context: the thread that began the section; never allocates or blocks.
 */
GPUVM_EXPORT void gpuvm_fence_end_signalling_at(const char *file, int line,
						const char *func);

/**
 * gpuvm_in_signalling_section() - whether the calling thread is in a section
 *
 * Context: any thread; answers for the calling thread, in every build.
 *
 * Return: true between gpuvm_fence_begin_signalling() and the matching end.
 */
GPUVM_EXPORT bool gpuvm_in_signalling_section(void);

/**
 * gpuvm_might_alloc() - declare that the calling code may allocate
 *
 * Reports GPUVM_VIOLATION_ALLOC, naming this call site, if the calling
 * thread is inside a fence-signalling section; does nothing otherwise, or in
 * release builds. Put it at the top of user functions that allocate on some
 * paths only, so that the rule is checked on every path.
 */
#define gpuvm_might_alloc() gpuvm_might_alloc_at(__FILE__, __LINE__, __func__)

/**
 * gpuvm_might_wait() - declare that the calling code may wait on a fence
 *
 * As gpuvm_might_alloc(), for GPUVM_VIOLATION_FENCE_WAIT.
 */
#define gpuvm_might_wait() gpuvm_might_wait_at(__FILE__, __LINE__, __func__)

/**
 * gpuvm_might_alloc_at() - the function behind gpuvm_might_alloc()
 * @file: the caller's source file
 * @line: the caller's line
 * @func: the caller's function
 *
 * Context: any thread; never allocates.
 */
GPUVM_EXPORT void gpuvm_might_alloc_at(const char *file, int line,
				       const char *func);

/**
 * gpuvm_might_wait_at() - the function behind gpuvm_might_wait()
 * @file: the caller's source file
 * @line: the caller's line
 * @func: the caller's function
 *
 * Context: any thread; never allocates.
 */
GPUVM_EXPORT void gpuvm_might_wait_at(const char *file, int line,
				      const char *func);

/*
 * DOC: Fences
 *
 * struct gpuvm_fence is the userspace dma_fence: embedded in the user's own
 * struct, refcounted, identified by a (context, seqno) pair where a context
 * is a timeline whose fences signal in seqno order. It starts unsignalled
 * and signals exactly once, optionally with an error.
 *
 * Memory. The library never allocates or frees a fence it did not create:
 * the last gpuvm_fence_put() calls @ops->release, which frees the
 * embedding struct (no release: the user owns the memory, and must not free
 * it while references remain). Array fences are the exception: the library
 * allocates them and frees them on their last put.
 *
 * Callbacks. gpuvm_fence_add_callback() registers a struct gpuvm_fence_cb,
 * usually embedded in the waiter's own struct. Each registered callback runs
 * exactly once, on the thread that signals, after the fence has become
 * signalled and *outside* the fence's internal lock, in the order the
 * callbacks were added. The kernel runs them under the fence's spinlock;
 * running them unlocked (the list is detached under the lock first) means a
 * callback may freely signal other fences, add callbacks, drop references,
 * or take locks that are also held around gpuvm_fence_add_callback(), with
 * no lock-order constraint against the fence's lock. A callback runs in the
 * signaller's context, normally a fence-signalling section, so it must obey
 * the section's rules. It may free its own struct gpuvm_fence_cb, but not
 * another callback's that is registered on the same fence.
 *
 * Because callbacks run unlocked, gpuvm_fence_remove_callback() that loses
 * the race with the signal waits until the signaller has finished running
 * the fence's callbacks: when it returns false the callback has completed
 * (or the cb was never registered), so its memory may be reused, as with
 * the kernel's remove under the spinlock. (Called from inside one of the
 * same fence's callbacks it does not wait, to avoid waiting for itself.)
 *
 * Waiting. gpuvm_fence_wait_timeout() sleeps on the fence's condition
 * variable; it never spins. It returns 0 once the fence is signalled
 * (whether with an error or not: read it with gpuvm_fence_get_status()),
 * -ETIME when the timeout passes first, and a negative timeout
 * (GPUVM_WAIT_FOREVER) means no timeout.
 *
 * | operation            | may race with        | synchronisation            |
 * | -------------------- | -------------------- | -------------------------- |
 * | get, put             | everything but init  | gpuvm_kref (see kref.h)    |
 * | signal,              | everything but init  | @lock; @flags SIGNALED set |
 * | signal_error         |                      | by a release RMW after     |
 * |                      |                      | @error is written; the     |
 * |                      |                      | callbacks run unlocked     |
 * |                      |                      | afterwards                 |
 * | is_signaled,         | everything but init  | acquire load of @flags;    |
 * | get_status           |                      | @error read after it       |
 * | add_callback,        | everything but init  | @lock                      |
 * | remove_callback      |                      | (+ @cond while callbacks   |
 * |                      |                      | run)                       |
 * | wait_timeout         | everything but init  | @lock + @cond              |
 * | context_alloc        | itself               | relaxed RMW on a counter   |
 * | init                 | nothing              | plain                      |
 *
 * The signaller must hold a reference for the duration of the signal, and
 * so must every waiter and every caller of add/remove_callback.
 */

/** GPUVM_WAIT_FOREVER - a timeout that never expires */
#define GPUVM_WAIT_FOREVER INT64_C(-1)

struct gpuvm_fence;
struct gpuvm_fence_cb;

/**
 * struct gpuvm_fence_ops - the user's callbacks of a fence
 * @get_name: optional; the name of the fence's timeline, for messages
 * @release: optional; frees the struct embedding the fence on its last put.
 *           Runs after the fence's internal resources are destroyed; the
 *           fence must not be touched through the library afterwards.
 */
struct gpuvm_fence_ops {
	const char *(*get_name)(struct gpuvm_fence *fence);
	void (*release)(struct gpuvm_fence *fence);
};

/**
 * typedef gpuvm_fence_func_t - a fence callback
 * @fence: the fence that signalled
 * @cb: the registered callback, already off the fence's list
 */
typedef void (*gpuvm_fence_func_t)(struct gpuvm_fence *fence,
				   struct gpuvm_fence_cb *cb);

/**
 * struct gpuvm_fence_cb - a callback registration, embedded by the waiter
 * @node: link in the fence's callback list; private
 * @func: the function to call
 */
struct gpuvm_fence_cb {
	struct gpuvm_list_head node;
	gpuvm_fence_func_t func;
};

/**
 * enum gpuvm_fence_flag_bits - bits of struct gpuvm_fence.flags
 * @GPUVM_FENCE_FLAG_SIGNALED: the fence has signalled
 */
enum gpuvm_fence_flag_bits {
	GPUVM_FENCE_FLAG_SIGNALED = 1u << 0,
};

/**
 * struct gpuvm_fence - a fence, embedded in the user's struct
 * @refcount: the reference count
 * @flags: enum gpuvm_fence_flag_bits; use gpuvm_fence_is_signaled()
 * @error: 0, or the error it signalled with; use gpuvm_fence_get_status()
 * @ops: the user's callbacks, or NULL
 * @context: the timeline (see gpuvm_fence_context_alloc())
 * @seqno: the position on the timeline
 * @lock: protects @cb_list and the fields below; private
 * @cond: wakes waiters and callback removers; private
 * @cb_list: the pending callbacks; private
 * @waiters: threads sleeping on @cond; private
 * @cb_running: the signaller is running the detached callbacks; private
 * @cb_runner: identity of that signaller's thread; private
 */
struct gpuvm_fence {
	struct gpuvm_kref refcount;
	atomic_uint flags;
	int error;
	const struct gpuvm_fence_ops *ops;
	uint64_t context;
	uint64_t seqno;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct gpuvm_list_head cb_list;
	unsigned int waiters;
	bool cb_running;
	uintptr_t cb_runner;
};

/**
 * gpuvm_fence_context_alloc() - allocate fence contexts (timelines)
 * @num: how many consecutive contexts to allocate
 *
 * Context: any thread; lock-free. Does not allocate memory.
 *
 * Return: the first of @num new contexts; contexts start at 1, so 0 is
 * never returned for @num >= 1. @num == 0 returns 0 and allocates nothing.
 */
GPUVM_EXPORT uint64_t gpuvm_fence_context_alloc(unsigned int num);

/**
 * gpuvm_fence_init() - initialise an embedded fence with one reference
 * @fence: the fence
 * @ops: its callbacks, or NULL (no name, nothing released)
 * @context: its timeline
 * @seqno: its position on the timeline
 *
 * Context: before the fence is shared. Does not allocate through the
 * library.
 */
GPUVM_EXPORT void gpuvm_fence_init(struct gpuvm_fence *fence,
				   const struct gpuvm_fence_ops *ops,
				   uint64_t context, uint64_t seqno);

/**
 * gpuvm_fence_get() - take a reference
 * @fence: the fence, or NULL (no-op)
 *
 * Context: any thread holding a reference.
 *
 * Return: @fence.
 */
GPUVM_EXPORT struct gpuvm_fence *gpuvm_fence_get(struct gpuvm_fence *fence);

/**
 * gpuvm_fence_put() - drop a reference; the last one releases the fence
 * @fence: the fence, or NULL (no-op)
 *
 * A fence released unsignalled with callbacks still registered is a bug
 * that the library survives: it warns, then signals the fence with -EDEADLK
 * so that every callback still runs once.
 *
 * Context: any thread, including inside a fence-signalling section and
 * from a callback.
 */
GPUVM_EXPORT void gpuvm_fence_put(struct gpuvm_fence *fence);

/**
 * gpuvm_fence_signal() - signal a fence and run its callbacks
 * @fence: the fence; the caller holds a reference
 *
 * Wakes the waiters, then runs the callbacks on the calling thread before
 * returning (see "DOC: Fences").
 *
 * Context: any thread; meant for fence-signalling sections. Never allocates.
 *
 * Return: 0, or -EINVAL if the fence had already signalled (nothing
 * happens then).
 */
GPUVM_EXPORT int gpuvm_fence_signal(struct gpuvm_fence *fence);

/**
 * gpuvm_fence_signal_error() - signal a fence with an error
 * @fence: the fence; the caller holds a reference
 * @error: a negative errno value, kept as the fence's status
 *
 * As gpuvm_fence_signal(), after recording @error.
 *
 * Return: 0; -EINVAL if the fence had already signalled or @error is not
 * negative (nothing happens then).
 */
GPUVM_EXPORT int gpuvm_fence_signal_error(struct gpuvm_fence *fence, int error);

/**
 * gpuvm_fence_is_signaled() - whether the fence has signalled
 * @fence: the fence
 *
 * An acquire read: once it returns true, everything the signaller did
 * before signalling is visible to the caller.
 *
 * Context: any thread; never blocks.
 *
 * Return: true if signalled.
 */
GPUVM_EXPORT bool gpuvm_fence_is_signaled(struct gpuvm_fence *fence);

/**
 * gpuvm_fence_get_status() - the fence's state and error
 * @fence: the fence
 *
 * Context: any thread; never blocks.
 *
 * Return: 0 while pending, 1 if signalled without error, or the negative
 * error it signalled with.
 */
GPUVM_EXPORT int gpuvm_fence_get_status(struct gpuvm_fence *fence);

/**
 * gpuvm_fence_add_callback() - run a function when the fence signals
 * @fence: the fence
 * @cb: the registration, owned by the caller until the callback ran or was
 *      removed
 * @func: the function
 *
 * Context: any thread, including callbacks and fence-signalling sections.
 *
 * Return: 0 if @func will run exactly once; -ENOENT if the fence had
 * already signalled, in which case @func is not called (the caller handles
 * the signalled case itself) and @cb is left unregistered, so
 * gpuvm_fence_remove_callback() on it returns false; -EINVAL if @func is
 * NULL.
 */
GPUVM_EXPORT int gpuvm_fence_add_callback(struct gpuvm_fence *fence,
					  struct gpuvm_fence_cb *cb,
					  gpuvm_fence_func_t func);

/**
 * gpuvm_fence_remove_callback() - unregister a callback that may be pending
 * @fence: the fence it was added to
 * @cb: a registration that went through gpuvm_fence_add_callback() on
 *      @fence (whatever that returned)
 *
 * If the fence is signalling concurrently, waits for its callbacks to have
 * run (see "DOC: Fences"), so @cb may be reused once this returns.
 *
 * Context: any thread; may block briefly on the signaller (not a fence
 * wait: the signaller is already running).
 *
 * Return: true if the callback was still pending and will now never run;
 * false if it has run (or was never registered).
 */
GPUVM_EXPORT bool gpuvm_fence_remove_callback(struct gpuvm_fence *fence,
					      struct gpuvm_fence_cb *cb);

/**
 * gpuvm_fence_wait_timeout() - sleep until the fence signals or time runs out
 * @fence: the fence; the caller holds a reference
 * @timeout_ns: the longest wait in nanoseconds (monotonic clock); 0 only
 *              tests; negative (GPUVM_WAIT_FOREVER) waits without limit
 *
 * Context: never inside a fence-signalling section (checked, whatever the
 * timeout and the fence's state). Blocks without spinning.
 *
 * Return: 0 if the fence signalled (with or without an error), -ETIME if
 * the timeout expired first.
 */
GPUVM_EXPORT int gpuvm_fence_wait_timeout(struct gpuvm_fence *fence,
					  int64_t timeout_ns);

/**
 * gpuvm_fence_is_later() - ordering on one timeline
 * @a: a fence
 * @b: a fence of the same context
 *
 * Seqnos are 64-bit and are compared without wrap-around.
 *
 * Return: true if @a comes after @b on their common timeline; false if
 * it does not, or if the contexts differ.
 */
GPUVM_EXPORT bool gpuvm_fence_is_later(const struct gpuvm_fence *a,
				       const struct gpuvm_fence *b);

/**
 * gpuvm_fence_is_later_or_same() - gpuvm_fence_is_later(), or the same fence
 * @a: a fence
 * @b: a fence of the same context
 *
 * Return: true if @a == @b or gpuvm_fence_is_later(@a, @b).
 */
GPUVM_EXPORT bool gpuvm_fence_is_later_or_same(const struct gpuvm_fence *a,
					       const struct gpuvm_fence *b);

/**
 * gpuvm_fence_get_name() - the timeline name, for messages
 * @fence: the fence
 *
 * Return: @ops->get_name()'s answer, or "unnamed".
 */
GPUVM_EXPORT const char *gpuvm_fence_get_name(struct gpuvm_fence *fence);

/*
 * DOC: Array fences
 *
 * An array fence stands for a set of fences, typically a job's
 * dependencies: it signals when all of them have signalled, or, with
 * signal_on_any, when the first one has. Its status is the first error
 * reported by a component (in the order the components signalled), or
 * success. It holds a reference to each component and is allocated by the
 * library in one allocation, freed on its last put.
 */

/**
 * gpuvm_fence_array_create() - make a fence that waits for a set of fences
 * @fences: the component fences; the array takes its own references, the
 *          caller keeps its own (and the pointer array)
 * @num_fences: how many, at least 1 and at most INT_MAX
 * @context: the array fence's context
 * @seqno: the array fence's seqno
 * @signal_on_any: signal on the first component instead of the last
 * @out: receives the array fence, holding one reference for the caller
 *
 * Components that signalled already count at once, so the result may be
 * signalled on return.
 *
 * Context: allocates (so never inside a fence-signalling section).
 *
 * Return: 0; -EINVAL if an argument is NULL or @num_fences is out of
 * range; -ENOMEM if the allocation failed. On error nothing is changed or
 * leaked.
 */
GPUVM_EXPORT int gpuvm_fence_array_create(struct gpuvm_fence *const *fences,
					  unsigned int num_fences,
					  uint64_t context, uint64_t seqno,
					  bool signal_on_any,
					  struct gpuvm_fence **out);

/**
 * gpuvm_fence_is_array() - whether a fence was made by
 * gpuvm_fence_array_create()
 * @fence: the fence
 *
 * Return: true for an array fence.
 */
GPUVM_EXPORT bool gpuvm_fence_is_array(const struct gpuvm_fence *fence);

#endif /* GPUVM_FENCE_H */
