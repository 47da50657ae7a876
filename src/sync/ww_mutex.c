// SPDX-License-Identifier: MIT
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
#include <errno.h>

#include <gpuvm/ww_mutex.h>

#include "base/context_internal.h"
#include "sync/sync_internal.h"

/*
 * A queued waiter, on its thread's stack. @stamp is a copy of its context's
 * stamp (0 without a context), so that other threads compare stamps without
 * touching the context. @granted is set by the unlocker that hands the lock
 * over; all fields are under the lock's @wait_lock.
 */
struct ww_waiter {
	struct gpuvm_list_head node;
	struct gpuvm_ww_acquire_ctx *ctx;
	uint64_t stamp;
	uintptr_t thread;
	bool granted;
};

void gpuvm_ww_class_init(struct gpuvm_ww_class *ww_class, const char *name)
{
	/* Stamps start at 1: a holder stamp of 0 means "no context". */
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
	pthread_mutex_init(&lock->wait_lock, NULL);
	pthread_cond_init(&lock->cond, NULL);
	lock->ww_class = ww_class;
	lock->ctx = NULL;
	lock->stamp = 0;
	atomic_init(&lock->owner, 0);
	lock->locked = false;
	gpuvm_list_init(&lock->waiters);
}

void gpuvm_ww_mutex_fini(struct gpuvm_ww_mutex *lock)
{
#ifdef GPUVM_CHECKS
	if (lock->locked || !gpuvm_list_empty(&lock->waiters))
		gpuvm_bug("gpuvm_ww_mutex_fini(): ww-mutex %p is still locked",
			  (void *)lock);
#endif
	pthread_cond_destroy(&lock->cond);
	pthread_mutex_destroy(&lock->wait_lock);
}

/* Under @wait_lock. */
static void take(struct gpuvm_ww_mutex *lock, struct gpuvm_ww_acquire_ctx *ctx,
		 uint64_t stamp, uintptr_t thread)
{
	lock->locked = true;
	lock->ctx = ctx;
	lock->stamp = stamp;
	atomic_store_explicit(&lock->owner, thread, memory_order_relaxed);
}

static bool older(uint64_t a, uint64_t b)
{
	return a < b;
}

/*
 * Wait-die, under @wait_lock, for a context that holds locks: it must not
 * wait for an older holder, nor queue behind an older waiter (it would be
 * waiting for that one next). @self is NULL before queueing (every waiter
 * counts) or the context's own record (only those ahead of it count).
 */
static bool must_die(struct gpuvm_ww_mutex *lock, uint64_t stamp,
		     struct ww_waiter *self)
{
	struct gpuvm_list_head *pos;

	if (lock->ctx && older(lock->stamp, stamp))
		return true;
	gpuvm_list_for_each(pos, &lock->waiters) {
		struct ww_waiter *w =
			gpuvm_list_entry(pos, struct ww_waiter, node);

		if (w == self)
			break;
		if (w->ctx && older(w->stamp, stamp))
			return true;
	}
	return false;
}

/*
 * Queues @w: context waiters by age, plain waiters at the tail, and a
 * context waiter jumps ahead of the plain waiters that arrived after the
 * last older context, as the kernel orders them. Younger context waiters now
 * behind @w may have to die; wake them to re-check.
 */
static void enqueue(struct gpuvm_ww_mutex *lock, struct ww_waiter *w)
{
	struct gpuvm_list_head *pos = &lock->waiters, *cur;
	bool wake = false;

	if (w->ctx) {
		for (cur = lock->waiters.prev; cur != &lock->waiters;
		     cur = cur->prev) {
			struct ww_waiter *o =
				gpuvm_list_entry(cur, struct ww_waiter, node);

			if (!o->ctx)
				continue;
			if (older(o->stamp, w->stamp))
				break;
			pos = cur;
			wake = true;
		}
	}
	gpuvm_list_add_tail(&w->node, pos);
	if (wake)
		pthread_cond_broadcast(&lock->cond);
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

int gpuvm_ww_lock_named(struct gpuvm_ww_mutex *lock,
			struct gpuvm_ww_acquire_ctx *ctx, bool slow,
			const char *what)
{
	uintptr_t self = gpuvm_thread_self();
	uint64_t stamp = ctx ? ctx->stamp : 0;
	struct ww_waiter w;
	int ret = 0;

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

	pthread_mutex_lock(&lock->wait_lock);
	if (ctx && lock->locked && lock->ctx == ctx) {
		ret = -EALREADY;
		goto out;
	}
	if (!lock->locked) {
		/* Free implies no waiters: unlock hands over to the first. */
		take(lock, ctx, stamp, self);
		goto out;
	}
	if (ctx && ctx->acquired && must_die(lock, stamp, NULL)) {
		ret = -EDEADLK;
		goto out;
	}
#ifdef GPUVM_CHECKS
	/* About to wait for itself: only possible outside the context. */
	if (atomic_load_explicit(&lock->owner, memory_order_relaxed) == self)
		gpuvm_bug("%s: ww-mutex %p is already held by this thread "
			  "outside this acquire context (deadlock)",
			  what, (void *)lock);
#endif

	w.ctx = ctx;
	w.stamp = stamp;
	w.thread = self;
	w.granted = false;
	enqueue(lock, &w);
	for (;;) {
		pthread_cond_wait(&lock->cond, &lock->wait_lock);
		if (w.granted)
			break;
		if (ctx && ctx->acquired && must_die(lock, stamp, &w)) {
			gpuvm_list_del(&w.node);
			ret = -EDEADLK;
			break;
		}
	}
out:
	pthread_mutex_unlock(&lock->wait_lock);
	if (ret == 0 && ctx) {
		ctx->acquired++;
	} else if (ret == -EDEADLK) {
		ctx->contended = lock;
		ctx->backoffs++;
	}
	return ret;
}

bool gpuvm_ww_trylock_named(struct gpuvm_ww_mutex *lock,
			    struct gpuvm_ww_acquire_ctx *ctx, const char *what)
{
	bool ok = false;

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
	pthread_mutex_lock(&lock->wait_lock);
	if (!lock->locked) {
		take(lock, ctx, ctx ? ctx->stamp : 0, gpuvm_thread_self());
		ok = true;
	}
	pthread_mutex_unlock(&lock->wait_lock);
	if (ok && ctx)
		ctx->acquired++;
	return ok;
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

void gpuvm_ww_mutex_unlock(struct gpuvm_ww_mutex *lock)
{
	struct ww_waiter *w;

	pthread_mutex_lock(&lock->wait_lock);
	if (!lock->locked ||
	    atomic_load_explicit(&lock->owner, memory_order_relaxed) !=
		    gpuvm_thread_self()) {
#ifdef GPUVM_CHECKS
		gpuvm_bug("gpuvm_ww_mutex_unlock(): ww-mutex %p is not held "
			  "by this thread",
			  (void *)lock);
#else
		pthread_mutex_unlock(&lock->wait_lock);
		return;
#endif
	}
	/* The holder's context is the calling thread's own. */
	if (lock->ctx)
		lock->ctx->acquired--;
	if (gpuvm_list_empty(&lock->waiters)) {
		lock->locked = false;
		lock->ctx = NULL;
		lock->stamp = 0;
		atomic_store_explicit(&lock->owner, 0, memory_order_relaxed);
	} else {
		/*
		 * Hand-off: the first waiter owns the lock from now on, so no
		 * newcomer overtakes it. Everyone wakes: the others re-check
		 * whether the new holder is older than them.
		 */
		w = gpuvm_list_first_entry(&lock->waiters, struct ww_waiter,
					   node);
		gpuvm_list_del(&w->node);
		w->granted = true;
		take(lock, w->ctx, w->stamp, w->thread);
		pthread_cond_broadcast(&lock->cond);
	}
	pthread_mutex_unlock(&lock->wait_lock);
}

bool gpuvm_ww_mutex_is_locked(struct gpuvm_ww_mutex *lock)
{
	return atomic_load_explicit(&lock->owner, memory_order_relaxed) != 0;
}

bool gpuvm_ww_mutex_is_held(struct gpuvm_ww_mutex *lock)
{
	return atomic_load_explicit(&lock->owner, memory_order_relaxed) ==
	       gpuvm_thread_self();
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
