/* SPDX-License-Identifier: MIT */
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
#ifndef GPUVM_WW_MUTEX_H
#define GPUVM_WW_MUTEX_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <gpuvm/compiler.h>
#include <gpuvm/list.h>

/*
 * DOC: Wound/wait mutexes
 *
 * A ww-mutex lets a thread lock an arbitrary set of objects (the
 * reservations of every buffer a job touches) in any order without
 * deadlocking against other threads doing the same, as the kernel's
 * ww_mutex does. Each transaction runs under an *acquire context* that
 * carries a ticket (stamp) drawn from its class's counter when the
 * transaction starts: a smaller stamp is an *older* context.
 *
 * This implementation uses the **wait-die** algorithm: when context C
 * wants a lock held by context H,
 *
 * - if C is older than H, C waits;
 * - if C is younger and holds at least one lock, C *dies*:
 *   gpuvm_ww_mutex_lock() returns -EDEADLK, and C must back off by
 *   unlocking everything it holds, then gpuvm_ww_mutex_lock_slow() the
 *   contended lock (which sleeps and cannot fail, since C then holds
 *   nothing anyone could wait for), then lock the rest again;
 * - a context that holds nothing never dies: it cannot be part of a cycle.
 *
 * A context that waits re-checks whenever the lock changes hands and when an
 * older context queues ahead of it: once it would wait for an older context
 * it dies as well. Waiters are queued oldest context first, with plain
 * (context-less) waiters in arrival order among them.
 *
 * Release and hand-off. An unlock frees the lock and wakes the first waiter;
 * it does not give the lock to it. A thread that arrives meanwhile may take
 * the free lock first (barging), as with the kernel's mutexes: the lock
 * then changes hands at the speed of the holders rather than at the speed
 * of a wake-up, and a transaction that needs the lock again at once does
 * not wait for a sleeping thread to be scheduled. Barging never violates
 * wait-die: taking a free lock waits for nobody, and when a context takes a
 * lock with waiters queued, the waiters it condemns (younger contexts that
 * hold locks) are woken to die. The price is fairness, which the hand-off
 * restores: a woken first waiter that finds the lock taken again four
 * times sets a flag on the lock, after which no newcomer may take it and
 * the next unlock hands it directly to the first waiter. Before queueing,
 * a thread spins briefly (a few hundred nanoseconds) on a lock held with
 * nobody queued, unless it holds locks and the holder has a context: only
 * the sleeping path may read the holder's stamp, so only it can decide
 * whether to die.
 *
 * Why not wound-wait (the other kernel flavour, where an older context
 * "wounds" a younger holder)? In wait-die every wait goes from an older
 * context to a younger one, so the waits-for graph cannot have a cycle, and
 * the only actor that ever has to give up is the thread asking for a lock,
 * which learns it from the return value of its own call. Wound-wait has to
 * interrupt a *different* thread, possibly asleep on yet another lock, and
 * make it notice the wound at its next lock call; that needs cross-thread
 * state and wake-ups, which is harder to prove and to test. The price of
 * wait-die is more back-offs under contention: a young context dies even
 * when the older holder is about to release, and it may die repeatedly
 * before it wins.
 *
 * Progress. Among contexts there is no deadlock: a context waits (sleeping
 * or spinning) only for a younger context or a plain holder, or while it
 * holds nothing, and spinning is bounded (plain locking, without a context,
 * is outside this argument, as for any mutex). There is no livelock: a
 * context keeps its stamp across back-offs (only gpuvm_ww_acquire_init()
 * draws one), so every retry makes it relatively older, and the oldest
 * context in the system never dies and only waits for younger holders, each
 * of which completes or dies. There is no starvation: the first waiter in
 * the queue loses at most four races to newcomers before the lock is handed
 * to it (no newcomer can take it once the hand-off is asked for), and only
 * finitely many waiters can queue ahead of a waiter: a context queues
 * behind every older context and a plain waiter behind everyone, except
 * for contexts older than one already ahead of it, and stamps only grow.
 *
 * Usage rules, checked in check builds (a violation aborts):
 *
 * - a context belongs to the thread that initialised it;
 * - no lock after gpuvm_ww_acquire_done();
 * - gpuvm_ww_acquire_fini() only with every lock released;
 * - after -EDEADLK, the context releases every lock, and its next
 *   acquisition is the lock that returned -EDEADLK (with
 *   gpuvm_ww_mutex_lock_slow(), or gpuvm_ww_mutex_lock()), as the kernel's
 *   DEBUG_MUTEXES demands; gpuvm_ww_mutex_lock_slow() only with no lock
 *   held;
 * - only the holding thread unlocks; a thread never locks what it holds
 *   outside the context in use (that would deadlock);
 * - a lock and a context must be of the same class;
 * - no acquisition at all inside a fence-signalling section (fence.h).
 *
 * Implementation. The lock word @state is 0 when the lock is free with
 * nobody queued; otherwise it holds the holder's tag (the address of its
 * acquire context, or a fixed tag for a holder without one) and two flags
 * in the low bits: WAITERS (the queue is not empty) and HANDOFF (the next
 * unlock hands over). Lock and unlock without contention are one
 * compare-and-swap each (0 to tag, tag to 0); anything else (a held lock,
 * a flag) goes to the slow path, which works under the internal pthread
 * mutex @wait_lock. While WAITERS is set the word only changes under
 * @wait_lock, so the holder cannot release the lock behind the back of a
 * thread holding @wait_lock: that is what lets such a thread read the
 * holder's stamp through the tag (a context outlives every lock it holds).
 * A sleeping waiter has a condition variable of its own, so an unlock wakes
 * exactly the first waiter.
 *
 * | operation         | atomic and memory order     | why                   |
 * | ----------------- | --------------------------- | --------------------- |
 * | lock, trylock,    | @state CAS 0 -> tag,        | acquire: enters the   |
 * | spin (fast path)  | acq_rel; relaxed on failure | critical section;     |
 * |                   |                             | release: publishes    |
 * |                   |                             | the context's stamp   |
 * |                   |                             | to whoever reads the  |
 * |                   |                             | tag from the word     |
 * | unlock (fast      | @state CAS tag -> 0,        | release: publishes    |
 * | path)             | acq_rel; relaxed on failure | the critical section; |
 * |                   | (flags set: slow path)      | acquire: a contender  |
 * |                   |                             | that read our stamp   |
 * |                   |                             | and cleared the flags |
 * |                   |                             | (release) is done     |
 * |                   |                             | with the context      |
 * |                   |                             | before we reuse it    |
 * | unlock: own tag   | @state load, relaxed        | the caller's write    |
 * | -EALREADY         | the value of the failed     | only the context      |
 * |                   | fast-path CAS, relaxed      | itself writes its tag |
 * | spin              | @state load, relaxed        | a hint; the CAS that  |
 * |                   |                             | takes the lock        |
 * |                   |                             | acquires              |
 * | slow paths, under | @state load, acquire;       | pair with the fast    |
 * | @wait_lock: set   | CAS, exchange, fetch_or,    | paths; every change   |
 * | WAITERS, barge,   | fetch_and: acq_rel          | is an RMW, so the     |
 * | take as first     |                             | release sequence of   |
 * | waiter, hand off, |                             | the CAS that put a    |
 * | free, set         |                             | tag there reaches     |
 * | HANDOFF, clear    |                             | every later reader    |
 * | the flags         |                             |                       |
 * | is_held,          | @owner load, relaxed        | @owner is written by  |
 * | assert_held,      |                             | the holding thread    |
 * | unlock's check    |                             | after it takes the    |
 * |                   |                             | lock and cleared      |
 * |                   |                             | before it frees it:   |
 * |                   |                             | exact for the caller, |
 * |                   |                             | as for struct         |
 * |                   |                             | gpuvm_mutex           |
 * | is_locked         | @state load, relaxed        | a snapshot            |
 * | acquire_init      | class stamp fetch_add,      | uniqueness only       |
 * |                   | relaxed                     |                       |
 * | acquire_done,     | plain                       | the context is the    |
 * | acquire_fini      |                             | thread's own          |
 *
 * The queue and the waiter records are read and written only under
 * @wait_lock. A waiter's stamp, and whether it holds locks, are copied into
 * its record, so no thread reads another's context but a pinned holder's
 * stamp, which is written once, before the context takes any lock. No
 * standalone fence is used.
 */

/**
 * struct gpuvm_ww_class - a class of ww-mutexes sharing one stamp counter
 * @stamp: the next ticket; private
 * @name: a name for messages
 *
 * Locks of one class may be taken together under one acquire context.
 */
struct gpuvm_ww_class {
	atomic_uint_fast64_t stamp;
	const char *name;
};

/**
 * GPUVM_WW_CLASS_INITIALIZER() - static initialiser of a class
 * @n: the class's name, a string literal
 */
#define GPUVM_WW_CLASS_INITIALIZER(n)                                          \
	{                                                                      \
		1, (n)                                                         \
	}

/**
 * struct gpuvm_ww_acquire_ctx - one multi-lock transaction
 * @ww_class: the class of the locks it takes
 * @stamp: its ticket; smaller is older
 * @acquired: how many locks it holds now
 * @backoffs: how many times it got -EDEADLK (a statistic)
 * @done: gpuvm_ww_acquire_done() was called
 * @thread: identity of the owning thread; private
 * @contended: the lock that returned -EDEADLK, until the next acquisition;
 *             private
 */
struct gpuvm_ww_acquire_ctx {
	struct gpuvm_ww_class *ww_class;
	uint64_t stamp;
	unsigned int acquired;
	unsigned int backoffs;
	bool done;
	uintptr_t thread;
	struct gpuvm_ww_mutex *contended;
};

/**
 * struct gpuvm_ww_mutex - a wound/wait mutex
 * @state: the lock word: holder tag and flags (see "DOC: Wound/wait
 *         mutexes"); private
 * @owner: identity of the holding thread, 0 when free; private
 * @ww_class: its class
 * @wait_lock: protects @waiters and serialises the slow paths; private
 * @waiters: queued waiters, oldest context first; private
 */
struct gpuvm_ww_mutex {
	atomic_uintptr_t state;
	atomic_uintptr_t owner;
	struct gpuvm_ww_class *ww_class;
	pthread_mutex_t wait_lock;
	struct gpuvm_list_head waiters;
};

/**
 * gpuvm_ww_class_init() - initialise a class at run time
 * @ww_class: the class
 * @name: its name; must outlive the class
 *
 * Context: before any lock of the class is initialised.
 */
GPUVM_EXPORT void gpuvm_ww_class_init(struct gpuvm_ww_class *ww_class,
				      const char *name);

/**
 * gpuvm_ww_acquire_init() - start a transaction
 * @ctx: the context, usually on the caller's stack
 * @ww_class: the class of the locks to take
 *
 * Draws the context's stamp; it keeps it across back-offs.
 *
 * Context: the thread that will use @ctx. Never blocks or allocates.
 */
GPUVM_EXPORT void gpuvm_ww_acquire_init(struct gpuvm_ww_acquire_ctx *ctx,
					struct gpuvm_ww_class *ww_class);

/**
 * gpuvm_ww_acquire_done() - declare that no more locks will be taken
 * @ctx: the context
 *
 * Optional; afterwards a lock call with @ctx aborts in check builds. The
 * locks held may still be unlocked.
 *
 * Context: the thread owning @ctx.
 */
GPUVM_EXPORT void gpuvm_ww_acquire_done(struct gpuvm_ww_acquire_ctx *ctx);

/**
 * gpuvm_ww_acquire_fini() - end a transaction
 * @ctx: the context; must hold no locks (checked)
 *
 * Context: the thread owning @ctx.
 */
GPUVM_EXPORT void gpuvm_ww_acquire_fini(struct gpuvm_ww_acquire_ctx *ctx);

/**
 * gpuvm_ww_mutex_init() - initialise an unlocked ww-mutex
 * @lock: the lock
 * @ww_class: its class
 *
 * Context: before the lock is shared. Does not allocate.
 */
GPUVM_EXPORT void gpuvm_ww_mutex_init(struct gpuvm_ww_mutex *lock,
				      struct gpuvm_ww_class *ww_class);

/**
 * gpuvm_ww_mutex_fini() - destroy an unlocked ww-mutex
 * @lock: the lock; must be free, with no waiters (checked)
 *
 * Context: when no other thread can reach the lock.
 */
GPUVM_EXPORT void gpuvm_ww_mutex_fini(struct gpuvm_ww_mutex *lock);

/**
 * gpuvm_ww_mutex_lock() - take a ww-mutex within a transaction
 * @lock: the lock
 * @ctx: the transaction, or NULL to lock it as a plain mutex (which never
 *       dies, and can deadlock like one)
 *
 * Sleeps while an older context, or a younger one while @ctx holds nothing,
 * holds the lock.
 *
 * Context: never inside a fence-signalling section (checked). Does not
 * allocate.
 *
 * Return: 0 when locked; -EALREADY if @ctx already holds @lock (nothing
 * changes; a transaction may meet the same object twice); -EDEADLK if @ctx
 * must back off: release every lock it holds, then
 * gpuvm_ww_mutex_lock_slow() this one. A NULL @ctx always gets 0.
 */
GPUVM_EXPORT int gpuvm_ww_mutex_lock(struct gpuvm_ww_mutex *lock,
				     struct gpuvm_ww_acquire_ctx *ctx);

/**
 * gpuvm_ww_mutex_lock_slow() - take the contended lock after a back-off
 * @lock: the lock that returned -EDEADLK
 * @ctx: the transaction; must hold no locks (checked)
 *
 * Sleeps until the lock is free; cannot fail, because a context that holds
 * nothing never dies.
 *
 * Context: never inside a fence-signalling section (checked).
 */
GPUVM_EXPORT void gpuvm_ww_mutex_lock_slow(struct gpuvm_ww_mutex *lock,
					   struct gpuvm_ww_acquire_ctx *ctx);

/**
 * gpuvm_ww_mutex_trylock() - take a ww-mutex if it is free
 * @lock: the lock
 * @ctx: the transaction to count it in, or NULL
 *
 * Never sleeps and never dies. With @ctx, a success counts as one of the
 * context's locks, to be released before gpuvm_ww_acquire_fini().
 *
 * Context: never inside a fence-signalling section (checked, like every
 * acquisition).
 *
 * Return: true if locked; false if held by anyone, the caller included.
 */
GPUVM_EXPORT bool gpuvm_ww_mutex_trylock(struct gpuvm_ww_mutex *lock,
					 struct gpuvm_ww_acquire_ctx *ctx);

/**
 * gpuvm_ww_mutex_unlock() - release a ww-mutex
 * @lock: the lock; the calling thread must hold it (checked)
 *
 * Frees the lock and wakes the first waiter, if any; hands the lock to
 * that waiter instead if it has been starving.
 *
 * Context: the holding thread; allowed inside a fence-signalling section.
 */
GPUVM_EXPORT void gpuvm_ww_mutex_unlock(struct gpuvm_ww_mutex *lock);

/**
 * gpuvm_ww_mutex_is_locked() - whether anyone holds the lock
 * @lock: the lock
 *
 * Return: a snapshot that may be stale by the time it is used: for
 * assertions and statistics.
 */
GPUVM_EXPORT bool gpuvm_ww_mutex_is_locked(struct gpuvm_ww_mutex *lock);

/**
 * gpuvm_ww_mutex_is_held() - whether the calling thread holds the lock
 * @lock: the lock
 *
 * Return: true if the calling thread holds @lock; exact.
 */
GPUVM_EXPORT bool gpuvm_ww_mutex_is_held(struct gpuvm_ww_mutex *lock);

/**
 * gpuvm_ww_mutex_assert_held() - abort unless the calling thread holds it
 * @lock: the lock
 *
 * Empty in release builds.
 */
GPUVM_EXPORT void gpuvm_ww_mutex_assert_held(struct gpuvm_ww_mutex *lock);

#endif /* GPUVM_WW_MUTEX_H */
