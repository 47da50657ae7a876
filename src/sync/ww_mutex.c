// SPDX-License-Identifier: MIT
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
#include <errno.h>

#include <gpuvm/ww_mutex.h>

#include "base/context_internal.h"
#include "sync/sync_internal.h"

/*
 * The lock word (@state, see "DOC: Wound/wait mutexes") holds the holder's
 * tag with the flags of sync_internal.h in its low bits; 0 is a free lock
 * with nobody queued, the only value the lock-free paths turn into "held"
 * and back. The tag of a holder with an acquire context is the context's
 * address, so a contender that has pinned the holder (WW_WAITERS set, under
 * @wait_lock) can read its stamp, and a context recognises a lock it holds
 * without looking at anything else; a holder without a context has the
 * address of plain_tag_object.
 */
#define WW_WAITERS GPUVM_WW_WAITERS
#define WW_HANDOFF GPUVM_WW_HANDOFF
#define WW_FLAGS   (WW_WAITERS | WW_HANDOFF)

_Static_assert(_Alignof(struct gpuvm_ww_acquire_ctx) > WW_FLAGS,
	       "the flags live in the low bits of a context's address");

static _Alignas(8) const char plain_tag_object;

#define WW_PLAIN ((uintptr_t)(const void *)&plain_tag_object)

/*
 * A woken first waiter that finds the lock taken again this many times asks
 * for the next unlock to hand the lock over. Barging keeps the lock busy
 * while a woken waiter is still on its way; this bounds what it costs the
 * waiter. The kernel hands over after one lost race; a few more keep
 * hand-offs, which leave the lock idle for a whole wake-up, rare under
 * sustained contention (measured with gpuvm-sync-bench on two cores).
 */
#define WW_STARVE_LIMIT 4

/*
 * How often a newcomer re-reads a lock word that is held, with nobody
 * queued, before it queues and sleeps: a few hundred nanoseconds, enough
 * for a holder that only takes and drops the lock, against tens of
 * microseconds for a sleep and a wake-up. Longer spins made transactions
 * of many locks, whose holders keep a lock for a whole transaction, run
 * side by side more and back off more often.
 */
#define WW_SPIN_LIMIT 8

/*
 * A queued waiter, on its thread's stack; every field but @cond is under
 * the lock's @wait_lock. @tag is what the lock word holds once the waiter
 * owns the lock, @stamp its context's stamp (0 without one) and @has_locks
 * whether that context held locks when it queued (it cannot change while
 * the thread sleeps): other threads judge wait-die from these copies
 * without touching the waiter's context. @woken is set by whoever signals
 * @cond and cleared by the waiter, so a wake-up is sent once; @granted
 * means the lock was handed over: the lock word already names the waiter.
 */
struct ww_waiter {
	struct gpuvm_list_head node;
	pthread_cond_t cond;
	uintptr_t tag;
	uint64_t stamp;
	unsigned int lost;
	bool has_locks;
	bool woken;
	bool granted;
};

static inline uintptr_t holder_of(uintptr_t state)
{
	return state & ~WW_FLAGS;
}

static inline uintptr_t tag_of(struct gpuvm_ww_acquire_ctx *ctx)
{
	return ctx ? (uintptr_t)(void *)ctx : WW_PLAIN;
}

/* The context of a holder tag; NULL for a plain holder (or none). */
static inline struct gpuvm_ww_acquire_ctx *ctx_of(uintptr_t tag)
{
	if (tag == WW_PLAIN)
		return NULL;
	return (struct gpuvm_ww_acquire_ctx *)(void *)tag;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#endif
}

void gpuvm_ww_class_init(struct gpuvm_ww_class *ww_class, const char *name)
{
	/* Stamps start at 1: the stamp of 0 a plain waiter records is no one's.
	 */
	atomic_init(&ww_class->stamp, 1);
	ww_class->name = name;
}

void gpuvm_ww_acquire_init(struct gpuvm_ww_acquire_ctx *ctx,
			   struct gpuvm_ww_class *ww_class)
{
	ctx->ww_class = ww_class;
	/*
	 * Relaxed: stamps need only be unique and ordered, which the single
	 * counter's modification order gives; they publish nothing.
	 */
	ctx->stamp = atomic_fetch_add_explicit(&ww_class->stamp, 1,
					       memory_order_relaxed);
	ctx->acquired = 0;
	ctx->backoffs = 0;
	ctx->done = false;
	ctx->thread = gpuvm_thread_self();
	ctx->contended = NULL;
}

void gpuvm_ww_acquire_done(struct gpuvm_ww_acquire_ctx *ctx)
{
#ifdef GPUVM_CHECKS
	if (ctx->thread != gpuvm_thread_self())
		gpuvm_bug("gpuvm_ww_acquire_done(): acquire context %p belongs "
			  "to another thread",
			  (void *)ctx);
#endif
	ctx->done = true;
}

void gpuvm_ww_acquire_fini(struct gpuvm_ww_acquire_ctx *ctx)
{
#ifdef GPUVM_CHECKS
	if (ctx->acquired)
		gpuvm_bug("gpuvm_ww_acquire_fini(): acquire context %p still "
			  "holds %u lock(s)",
			  (void *)ctx, ctx->acquired);
	/* A finished context is of no class: any further lock aborts. */
	ctx->ww_class = NULL;
#else
	(void)ctx;
#endif
}

void gpuvm_ww_mutex_init(struct gpuvm_ww_mutex *lock,
			 struct gpuvm_ww_class *ww_class)
{
	atomic_init(&lock->state, 0);
	atomic_init(&lock->owner, 0);
	lock->ww_class = ww_class;
	pthread_mutex_init(&lock->wait_lock, NULL);
	gpuvm_list_init(&lock->waiters);
}

void gpuvm_ww_mutex_fini(struct gpuvm_ww_mutex *lock)
{
#ifdef GPUVM_CHECKS
	if (atomic_load_explicit(&lock->state, memory_order_relaxed) ||
	    !gpuvm_list_empty(&lock->waiters))
		gpuvm_bug("gpuvm_ww_mutex_fini(): ww-mutex %p is still locked",
			  (void *)lock);
#endif
	pthread_mutex_destroy(&lock->wait_lock);
}

static bool older(uint64_t a, uint64_t b)
{
	return a < b;
}

/*
 * Under @wait_lock, with @holder pinned: WW_WAITERS set, or the caller is
 * the holder. Then the holder cannot release the lock, so its context (which
 * must outlive every lock it holds) is alive, and its stamp was published
 * by the release RMW that installed the tag.
 */
static bool holder_older(uintptr_t holder, uint64_t stamp)
{
	struct gpuvm_ww_acquire_ctx *hctx = ctx_of(holder);

	return hctx && older(hctx->stamp, stamp);
}

/*
 * Wait-die, under @wait_lock with @holder pinned, for a context that holds
 * locks: it must not wait for an older holder, nor queue behind an older
 * waiter (it would be waiting for that one next). @self is NULL before
 * queueing (every waiter counts) or the context's own record (only those
 * ahead of it count).
 */
static bool must_die(struct gpuvm_ww_mutex *lock, uintptr_t holder,
		     uint64_t stamp, struct ww_waiter *self)
{
	struct gpuvm_list_head *pos;

	if (holder_older(holder, stamp))
		return true;
	gpuvm_list_for_each(pos, &lock->waiters) {
		struct ww_waiter *w =
			gpuvm_list_entry(pos, struct ww_waiter, node);

		if (w == self)
			break;
		if (w->tag != WW_PLAIN && older(w->stamp, stamp))
			return true;
	}
	return false;
}

/* Under @wait_lock. */
static void wake(struct ww_waiter *w)
{
	if (!w->woken) {
		w->woken = true;
		pthread_cond_signal(&w->cond);
	}
}

static struct ww_waiter *first_waiter(struct gpuvm_ww_mutex *lock)
{
	if (gpuvm_list_empty(&lock->waiters))
		return NULL;
	return gpuvm_list_first_entry(&lock->waiters, struct ww_waiter, node);
}

/*
 * Under @wait_lock with @holder pinned, after the holder or the queue
 * changed: wakes every waiter that wait-die now condemns (a context holding
 * locks that waits for an older holder, or queues behind an older context),
 * so that it notices and backs off. Queues are short (one entry per
 * sleeping thread); the quadratic walk is not worth avoiding.
 */
static void wake_doomed(struct gpuvm_ww_mutex *lock, uintptr_t holder)
{
	struct gpuvm_list_head *pos;

	gpuvm_list_for_each(pos, &lock->waiters) {
		struct ww_waiter *w =
			gpuvm_list_entry(pos, struct ww_waiter, node);

		if (w->has_locks && must_die(lock, holder, w->stamp, w))
			wake(w);
	}
}

/*
 * Queues @w: context waiters by age, plain waiters at the tail, and a
 * context waiter jumps ahead of the plain waiters that arrived after the
 * last older context, as the kernel orders them.
 */
static void enqueue(struct gpuvm_ww_mutex *lock, struct ww_waiter *w)
{
	struct gpuvm_list_head *pos = &lock->waiters, *cur;

	if (w->tag != WW_PLAIN) {
		for (cur = lock->waiters.prev; cur != &lock->waiters;
		     cur = cur->prev) {
			struct ww_waiter *o =
				gpuvm_list_entry(cur, struct ww_waiter, node);

			if (o->tag == WW_PLAIN)
				continue;
			if (older(o->stamp, w->stamp))
				break;
			pos = cur;
		}
	}
	gpuvm_list_add_tail(&w->node, pos);
}

/*
 * Under @wait_lock: @w leaves the queue without the lock, condemned by
 * wait-die: either the holder is older (so the lock is held) or an older
 * context waits ahead of @w (so @w is not first). Either way @w owes the
 * next waiter no wake-up: whoever frees the lock wakes the first waiter.
 * The last waiter out clears the flags.
 */
static void leave(struct gpuvm_ww_mutex *lock, struct ww_waiter *w)
{
	gpuvm_list_del(&w->node);
	if (gpuvm_list_empty(&lock->waiters))
		atomic_fetch_and_explicit(&lock->state, ~WW_FLAGS,
					  memory_order_acq_rel);
}

static void check_ctx(struct gpuvm_ww_mutex *lock,
		      struct gpuvm_ww_acquire_ctx *ctx, const char *what)
{
#ifdef GPUVM_CHECKS
	if (ctx->thread != gpuvm_thread_self())
		gpuvm_bug("%s: acquire context %p belongs to another thread",
			  what, (void *)ctx);
	if (!ctx->ww_class)
		gpuvm_bug("%s: acquire context %p was finished", what,
			  (void *)ctx);
	if (ctx->done)
		gpuvm_bug("%s: lock with acquire context %p after "
			  "gpuvm_ww_acquire_done()",
			  what, (void *)ctx);
	if (ctx->ww_class != lock->ww_class)
		gpuvm_bug("%s: ww-mutex %p of class %s locked with a context "
			  "of class %s",
			  what, (void *)lock,
			  lock->ww_class ? lock->ww_class->name : "?",
			  ctx->ww_class->name);
#else
	(void)lock;
	(void)ctx;
	(void)what;
#endif
}

/*
 * Takes a free lock from under @wait_lock, keeping the flags: a newcomer
 * may overtake the queue (the woken first waiter then counts a lost race).
 * Returns false if the lock is held.
 */
static bool barge_locked(struct gpuvm_ww_mutex *lock, uintptr_t tag)
{
	uintptr_t s = atomic_load_explicit(&lock->state, memory_order_acquire);

	while (!holder_of(s)) {
		if (atomic_compare_exchange_weak_explicit(
			    &lock->state, &s, tag | (s & WW_FLAGS),
			    memory_order_acq_rel, memory_order_acquire)) {
			/* A context older than a waiter may condemn it. */
			if ((s & WW_WAITERS) && tag != WW_PLAIN)
				wake_doomed(lock, tag);
			return true;
		}
	}
	return false;
}

/*
 * Spins briefly on a held lock that nobody queues for. It stops as soon as
 * the lock has waiters (they go first, and wait-die needs the queue), and
 * whenever the caller could have to die: a context holding locks cannot
 * read a holder's stamp without @wait_lock, so it lets the slow path judge.
 */
static bool spin(struct gpuvm_ww_mutex *lock, struct gpuvm_ww_acquire_ctx *ctx,
		 uintptr_t tag)
{
	unsigned int i;

	for (i = 0; i < WW_SPIN_LIMIT; i++) {
		uintptr_t s = atomic_load_explicit(&lock->state,
						   memory_order_relaxed);

		if (s & WW_FLAGS)
			return false;
		if (!s) {
			if (atomic_compare_exchange_weak_explicit(
				    &lock->state, &s, tag, memory_order_acq_rel,
				    memory_order_relaxed))
				return true;
			continue;
		}
		if (ctx && ctx->acquired && s != WW_PLAIN)
			return false;
		cpu_relax();
	}
	return false;
}

/*
 * The sleeping path: under @wait_lock, takes the lock if it is free, dies
 * if wait-die says so, or queues and sleeps until the lock is free, handed
 * over, or wait-die condemns the context.
 */
static int lock_slowpath(struct gpuvm_ww_mutex *lock,
			 struct gpuvm_ww_acquire_ctx *ctx, uintptr_t tag,
			 const char *what)
{
	uint64_t stamp = ctx ? ctx->stamp : 0;
	struct ww_waiter w;
	uintptr_t s;
	int ret = 0;

	pthread_mutex_lock(&lock->wait_lock);
	/*
	 * Pin the holder before judging it: with WW_WAITERS set, it cannot
	 * release the lock without @wait_lock.
	 */
	for (;;) {
		if (barge_locked(lock, tag))
			goto out;
		s = atomic_load_explicit(&lock->state, memory_order_acquire);
		if (!holder_of(s))
			continue;
		if (s & WW_WAITERS)
			break;
		if (atomic_compare_exchange_strong_explicit(
			    &lock->state, &s, s | WW_WAITERS,
			    memory_order_acq_rel, memory_order_acquire)) {
			s |= WW_WAITERS;
			break;
		}
	}
	if (ctx && ctx->acquired && must_die(lock, holder_of(s), stamp, NULL)) {
		if (gpuvm_list_empty(&lock->waiters))
			atomic_fetch_and_explicit(&lock->state, ~WW_FLAGS,
						  memory_order_acq_rel);
		ret = -EDEADLK;
		goto out;
	}
#ifdef GPUVM_CHECKS
	/* About to wait for itself: only possible outside the context. */
	if (atomic_load_explicit(&lock->owner, memory_order_relaxed) ==
	    gpuvm_thread_self())
		gpuvm_bug("%s: ww-mutex %p is already held by this thread "
			  "outside this acquire context (deadlock)",
			  what, (void *)lock);
#else
	(void)what;
#endif

	pthread_cond_init(&w.cond, NULL);
	w.tag = tag;
	w.stamp = stamp;
	w.lost = 0;
	w.has_locks = ctx && ctx->acquired;
	w.woken = false;
	w.granted = false;
	enqueue(lock, &w);
	/* Younger waiters behind an older context must now die. */
	if (tag != WW_PLAIN)
		wake_doomed(lock, holder_of(s));
	for (;;) {
		while (!w.woken && !w.granted)
			pthread_cond_wait(&w.cond, &lock->wait_lock);
		w.woken = false;
		if (w.granted)
			break;
		/* WW_WAITERS is set (we are queued): the word is stable. */
		s = atomic_load_explicit(&lock->state, memory_order_acquire);
		if (w.has_locks && must_die(lock, holder_of(s), stamp, &w)) {
			leave(lock, &w);
			ret = -EDEADLK;
			break;
		}
		if (first_waiter(lock) != &w)
			continue;
		if (!holder_of(s)) {
			uintptr_t n;

			gpuvm_list_del(&w.node);
			n = tag;
			if (!gpuvm_list_empty(&lock->waiters))
				n |= WW_WAITERS;
			atomic_exchange_explicit(&lock->state, n,
						 memory_order_acq_rel);
			if ((n & WW_WAITERS) && tag != WW_PLAIN)
				wake_doomed(lock, tag);
			break;
		}
		/* Woken as first, and a newcomer got there before us. */
		if (++w.lost >= WW_STARVE_LIMIT && !(s & WW_HANDOFF))
			atomic_fetch_or_explicit(&lock->state, WW_HANDOFF,
						 memory_order_acq_rel);
	}
	pthread_mutex_unlock(&lock->wait_lock);
	pthread_cond_destroy(&w.cond);
	return ret;
out:
	pthread_mutex_unlock(&lock->wait_lock);
	return ret;
}

int gpuvm_ww_lock_named(struct gpuvm_ww_mutex *lock,
			struct gpuvm_ww_acquire_ctx *ctx, bool slow,
			const char *what)
{
	uintptr_t tag = tag_of(ctx), s = 0;
	int ret;

	gpuvm_context_check(GPUVM_RULE_WW_LOCK, what);
	if (ctx) {
		check_ctx(lock, ctx, what);
#ifdef GPUVM_CHECKS
		/* After -EDEADLK: release everything, then that lock first. */
		if (ctx->contended && ctx->acquired)
			gpuvm_bug("%s: acquire context %p got -EDEADLK and "
				  "must release its locks before locking again",
				  what, (void *)ctx);
		if (ctx->contended && ctx->contended != lock)
			gpuvm_bug("%s: ww-mutex %p is not the one that "
				  "returned -EDEADLK (%p), which must be "
				  "locked first",
				  what, (void *)lock, (void *)ctx->contended);
		if (slow && ctx->acquired)
			gpuvm_bug("%s: acquire context %p still holds %u "
				  "lock(s); back off first",
				  what, (void *)ctx, ctx->acquired);
#endif
		/* This acquisition is the back-off's retry. */
		ctx->contended = NULL;
	}
#ifndef GPUVM_CHECKS
	(void)slow;
#endif

	if (atomic_compare_exchange_strong_explicit(&lock->state, &s, tag,
						    memory_order_acq_rel,
						    memory_order_relaxed))
		goto locked;
	/* Only this context can have put its own tag there. */
	if (ctx && holder_of(s) == tag)
		return -EALREADY;
	if (spin(lock, ctx, tag))
		goto locked;
	ret = lock_slowpath(lock, ctx, tag, what);
	if (ret) {
		ctx->contended = lock;
		ctx->backoffs++;
		return ret;
	}
locked:
	/*
	 * A context belongs to the thread that made it (checked above in
	 * check builds): its identity is at hand without a thread-local
	 * lookup.
	 */
	atomic_store_explicit(&lock->owner,
			      ctx ? ctx->thread : gpuvm_thread_self(),
			      memory_order_relaxed);
	if (ctx)
		ctx->acquired++;
	return 0;
}

bool gpuvm_ww_trylock_named(struct gpuvm_ww_mutex *lock,
			    struct gpuvm_ww_acquire_ctx *ctx, const char *what)
{
	uintptr_t tag = tag_of(ctx), s = 0;
	bool ok;

	gpuvm_context_check(GPUVM_RULE_WW_LOCK, what);
	if (ctx) {
		check_ctx(lock, ctx, what);
#ifdef GPUVM_CHECKS
		if (ctx->contended)
			gpuvm_bug("%s: acquire context %p got -EDEADLK and "
				  "must lock that ww-mutex (%p) next",
				  what, (void *)ctx, (void *)ctx->contended);
#endif
	}
	ok = atomic_compare_exchange_strong_explicit(&lock->state, &s, tag,
						     memory_order_acq_rel,
						     memory_order_relaxed);
	if (!ok && !holder_of(s)) {
		/* Free, but with a queue: the queue lives under @wait_lock. */
		pthread_mutex_lock(&lock->wait_lock);
		ok = barge_locked(lock, tag);
		pthread_mutex_unlock(&lock->wait_lock);
	}
	if (!ok)
		return false;
	atomic_store_explicit(&lock->owner,
			      ctx ? ctx->thread : gpuvm_thread_self(),
			      memory_order_relaxed);
	if (ctx)
		ctx->acquired++;
	return true;
}

int gpuvm_ww_mutex_lock(struct gpuvm_ww_mutex *lock,
			struct gpuvm_ww_acquire_ctx *ctx)
{
	return gpuvm_ww_lock_named(lock, ctx, false, "gpuvm_ww_mutex_lock()");
}

void gpuvm_ww_mutex_lock_slow(struct gpuvm_ww_mutex *lock,
			      struct gpuvm_ww_acquire_ctx *ctx)
{
	int ret = gpuvm_ww_lock_named(lock, ctx, true,
				      "gpuvm_ww_mutex_lock_slow()");

	/* Holding nothing, the context never dies; -EALREADY is impossible. */
	if (ret)
		gpuvm_bug("gpuvm_ww_mutex_lock_slow(): unexpected %d", ret);
}

bool gpuvm_ww_mutex_trylock(struct gpuvm_ww_mutex *lock,
			    struct gpuvm_ww_acquire_ctx *ctx)
{
	return gpuvm_ww_trylock_named(lock, ctx, "gpuvm_ww_mutex_trylock()");
}

/*
 * Releases the lock with waiters queued: frees it and wakes the first
 * waiter, or hands it to the first waiter if that one is starving.
 */
static void unlock_slowpath(struct gpuvm_ww_mutex *lock)
{
	struct ww_waiter *w;
	uintptr_t s, n;

	pthread_mutex_lock(&lock->wait_lock);
	/* Held by us, the flags only change under @wait_lock: stable. */
	s = atomic_load_explicit(&lock->state, memory_order_acquire);
	w = first_waiter(lock);
	if (w && (s & WW_HANDOFF)) {
		gpuvm_list_del(&w->node);
		n = w->tag;
		if (!gpuvm_list_empty(&lock->waiters))
			n |= WW_WAITERS;
		atomic_exchange_explicit(&lock->state, n, memory_order_acq_rel);
		w->granted = true;
		wake(w);
		if ((n & WW_WAITERS) && w->tag != WW_PLAIN)
			wake_doomed(lock, w->tag);
	} else {
		atomic_exchange_explicit(&lock->state, w ? WW_WAITERS : 0,
					 memory_order_acq_rel);
		if (w)
			wake(w);
	}
	pthread_mutex_unlock(&lock->wait_lock);
}

void gpuvm_ww_unlock_as(struct gpuvm_ww_mutex *lock, uintptr_t self)
{
	struct gpuvm_ww_acquire_ctx *ctx;
	uintptr_t tag;

	if (!gpuvm_ww_held_by(lock, self)) {
#ifdef GPUVM_CHECKS
		gpuvm_bug("gpuvm_ww_mutex_unlock(): ww-mutex %p is not held "
			  "by this thread",
			  (void *)lock);
#else
		return;
#endif
	}
	/* Our own tag: only the flags can change under us. */
	tag = holder_of(
		atomic_load_explicit(&lock->state, memory_order_relaxed));
	ctx = ctx_of(tag);
	/* The holder's context is the calling thread's own. */
	if (ctx)
		ctx->acquired--;
	atomic_store_explicit(&lock->owner, 0, memory_order_relaxed);
	/*
	 * Release: publishes the critical section. Acquire: a contender that
	 * pinned us, read our stamp and went away clearing the flags did so
	 * with a release RMW; reading its value orders that read before
	 * whatever we do next with the context (a new stamp, say).
	 */
	if (atomic_compare_exchange_strong_explicit(&lock->state, &tag, 0,
						    memory_order_acq_rel,
						    memory_order_relaxed))
		return;
	unlock_slowpath(lock);
}

void gpuvm_ww_mutex_unlock(struct gpuvm_ww_mutex *lock)
{
	gpuvm_ww_unlock_as(lock, gpuvm_thread_self());
}

bool gpuvm_ww_mutex_is_locked(struct gpuvm_ww_mutex *lock)
{
	return holder_of(atomic_load_explicit(&lock->state,
					      memory_order_relaxed)) != 0;
}

bool gpuvm_ww_mutex_is_held(struct gpuvm_ww_mutex *lock)
{
	return gpuvm_ww_held_by(lock, gpuvm_thread_self());
}

void gpuvm_ww_mutex_assert_held(struct gpuvm_ww_mutex *lock)
{
#ifdef GPUVM_CHECKS
	if (!gpuvm_ww_mutex_is_held(lock))
		gpuvm_bug("gpuvm_ww_mutex_assert_held(): ww-mutex %p is not "
			  "held by this thread",
			  (void *)lock);
#else
	(void)lock;
#endif
}
