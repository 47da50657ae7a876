/* SPDX-License-Identifier: MIT */
/* Copyright (c) 2026 The libgpuvm authors */

/*
 * Model of the deferred vm_bo cleanup protocol (gpuvm_bo_put_deferred,
 * gpuva_unlink_defer, gpuvm_bo_deferred_cleanup) in immediate mode.
 * README.md next to this file explains the processes, the properties and
 * the abstractions; run-spin.sh verifies it.
 *
 * Compile-time switches (spin -a -DNAME[=VALUE]):
 *   RESV_PROTECTED=1|0     extobj/evict protected by the VM resv (default 1)
 *                          or by a spinlock (0).
 *   QUEUE_BEFORE_UNLOCK    rejected ordering: push the zombie onto the
 *                          deferred list before releasing the GEM mutex.
 *   DEC_BEFORE_LOCK        rejected put: let the count reach zero before the
 *                          GEM mutex is taken (plain kref_put, then lock).
 *   SIGNALLING_PLAIN_PUT   rejected use: a signalling thread drops its
 *                          reference with the immediate (non-deferred) put.
 *   NCLEANERS=2|1          concurrent cleanup threads (default 2).
 *   WITNESS=1..4           assert that a situation never happens, so that
 *                          SPIN shows it does (see the witnesses below).
 */

#ifndef RESV_PROTECTED
#define RESV_PROTECTED 1
#endif

#ifndef NCLEANERS
#define NCLEANERS 2
#endif

/* Thread identities; 0 means "nobody" (an unlocked lock). */
mtype = { S1, S2, LOOKUP, OWNER, CLEANUP, CLEANUP2 };

#define SIGNALLING(t) ((t) == S1 || (t) == S2)

/* Threads that count themselves in `done`: all but the cleanup threads. */
#define NWORKERS 4

/*
 * vm_bo slots. Slot 0 is the vm_bo the signalling threads were given at
 * submit time; slot 1 is the one the lookup thread preallocates.
 */
#define NSLOT 2
#define NONE 255

#define VB_UNUSED 0 /* never allocated */
#define VB_LIVE 1 /* count > 0 */
#define VB_ZOMBIE 2 /* count reached 0, memory not yet freed */
#define VB_FREED 3

#define VB_ALLOCATED(s) (vb_state[s] == VB_LIVE || vb_state[s] == VB_ZOMBIE)
#define BIT(s) (1 << (s))

/*
 * Property names: bits that are always 1. Each assertion is written
 * `assert(NAME && condition)` so that a violation report names the property
 * it breaks. (`hidden` would keep them out of the state vector, but the
 * breadth-first search used for shortest counterexamples refuses hidden
 * variables; constant bits cost nothing in states.)
 */
bit P1_no_use_after_free_vm_bo = 1;
bit P1_no_use_after_free_gem = 1;
bit P1_no_use_after_free_gem_mutex = 1;
bit P1_no_use_after_free_vm = 1;
bit P1_lock_owner = 1;
bit P2_no_revive = 1;
bit P3_only_zombies_freed_once = 1;
bit P3_zombie_queued_once = 1;
bit P3_no_leak_at_end = 1;
bit P4_gem_freed_once_after_vm_bos = 1;
bit P5_signalling_no_free = 1;
bit P5_signalling_no_resv = 1;
bit P5_signalling_no_gem_put = 1;
bit P5_signalling_no_alloc = 1;
bit U_one_vm_bo_per_vm_gem = 1;
bit M_model_consistent = 1;

/* vm_bo slots */
byte vb_ref[NSLOT];
byte vb_state[NSLOT];
bit vb_on_gem[NSLOT]; /* on the GEM's list of vm_bos */
bit vb_on_vml[NSLOT]; /* on the VM's extobj/evict lists */
bit vb_on_defer[NSLOT]; /* on the VM's deferred list */

/* GEM object; its gpuva mutex lives in the same memory. */
byte gem_ref;
bit gem_alive;
byte gem_frees;
mtype gem_mutex; /* owner, 0 when unlocked */
mtype gem_freed_holder; /* ghost: who held the mutex when the GEM died */

/* VM: refcount, resv, extobj/evict spinlock, lock-free deferred list. */
byte vm_ref;
mtype vm_resv;
mtype vm_spin;
byte defer; /* set of slots on the deferred list (bit per slot) */

byte done;
byte cleaners_done;

/*
 * Witnesses (WITNESS=n): each turns "this situation is reachable" into an
 * assertion that must FAIL, showing that the search really covers it.
 */
#ifndef WITNESS
#define WITNESS 0
#endif
#if WITNESS
bit W1_cleanup_frees_gem_while_a_put_returns = 1;
bit W2_obtain_creates_while_vm_bo0_is_a_zombie = 1;
bit W3_both_cleaners_free_a_vm_bo = 1;
bit W4_walker_meets_zombie = 1;
byte sig_done; /* Signal threads that have returned */
byte cleaners_worked; /* cleaners that freed something (bit each) */
#define WITNESS_HIT(n, name, cond) assert(!(WITNESS == n && name && (cond)))
#else
#define WITNESS_HIT(n, name, cond) skip
#endif

/* ---- locks --------------------------------------------------------- */

/*
 * Blocking lock. The guard also opens when the GEM has died so that a
 * thread about to lock freed memory reports it instead of blocking.
 */
inline gem_lock(me)
{
	atomic {
		(gem_mutex == 0 || !gem_alive) ->
		printf("MSC: %e: locks the GEM mutex\n", me);
		assert(P1_no_use_after_free_gem_mutex && gem_alive);
		gem_mutex = me
	}
}

inline gem_unlock(me)
{
	atomic {
		printf("MSC: %e: unlocks the GEM mutex\n", me);
		assert(P1_no_use_after_free_gem_mutex && gem_alive);
		assert(P1_lock_owner && gem_mutex == me);
		gem_mutex = 0
	}
}

/* A signalling thread's attempt is reported even if it would block. */
inline resv_lock(me)
{
	atomic {
		(vm_resv == 0 || SIGNALLING(me)) ->
		assert(P5_signalling_no_resv && !SIGNALLING(me));
		vm_resv = me
	}
}

inline resv_unlock(me)
{
	atomic {
		assert(P1_lock_owner && vm_resv == me);
		vm_resv = 0
	}
}

inline spin_lock(me)
{
	atomic {
		vm_spin == 0 -> vm_spin = me
	}
}

inline spin_unlock(me)
{
	atomic {
		assert(P1_lock_owner && vm_spin == me);
		vm_spin = 0
	}
}

/* ---- object accesses (each checks the memory is still allocated) ---- */

#define VB_TOUCH(s) assert(P1_no_use_after_free_vm_bo && VB_ALLOCATED(s))
#define GEM_TOUCH() assert(P1_no_use_after_free_gem && gem_alive)
#define VM_TOUCH() assert(P1_no_use_after_free_vm && vm_ref > 0)

/*
 * A GEM reference count reaching zero frees the GEM and its mutex at that
 * very step: nothing may touch it afterwards, so treating the object as dead
 * from the decrement on only makes the use-after-free check stricter.
 */
inline gem_put(me)
{
	atomic {
		assert(P5_signalling_no_gem_put && !SIGNALLING(me));
		GEM_TOUCH();
		gem_ref--;
		if
		:: gem_ref == 0 ->
			assert(P4_gem_freed_once_after_vm_bos &&
			       !VB_ALLOCATED(0) && !VB_ALLOCATED(1));
			gem_frees++;
			assert(P4_gem_freed_once_after_vm_bos &&
			       gem_frees == 1);
			gem_freed_holder = gem_mutex;
			gem_alive = 0;
			WITNESS_HIT(1,
				    W1_cleanup_frees_gem_while_a_put_returns,
				    (me == CLEANUP || me == CLEANUP2) &&
				    sig_done < 2);
			printf("MSC: %e: last GEM ref: GEM+mutex freed\n", me)
		:: else ->
			printf("MSC: %e: drops a GEM ref (%d->%d)\n",
			       me, gem_ref + 1, gem_ref)
		fi
	}
}

/* The VM owner keeps its reference for the whole run (see README). */
inline vm_put(me)
{
	atomic {
		VM_TOUCH();
		assert(P1_no_use_after_free_vm && vm_ref > 1);
		vm_ref--
	}
}

/* Free a vm_bo's memory: only a zombie that is on no list, only once. */
inline vb_free(me, s)
{
	atomic {
		assert(P5_signalling_no_free && !SIGNALLING(me));
		assert(P3_only_zombies_freed_once && vb_state[s] == VB_ZOMBIE);
		assert(P3_only_zombies_freed_once && vb_ref[s] == 0 &&
		       !vb_on_gem[s] && !vb_on_vml[s] && !vb_on_defer[s]);
		vb_state[s] = VB_FREED;
#if WITNESS
		if
		:: me == CLEANUP -> cleaners_worked = cleaners_worked | 1
		:: me == CLEANUP2 -> cleaners_worked = cleaners_worked | 2
		:: else -> skip
		fi;
#endif
		WITNESS_HIT(3, W3_both_cleaners_free_a_vm_bo,
			    cleaners_worked == 3);
		printf("MSC: %e: frees vm_bo %d\n", me, s)
	}
}

/* free, VM put, GEM put: each its own step, as in the library. */
inline destroy_not_in_lists(me, s)
{
	vb_free(me, s);
	vm_put(me);
	gem_put(me)
}

/* Plain kref_get: the object must be alive and its count non-zero. */
inline vb_get(me, s)
{
	atomic {
		VB_TOUCH(s);
		assert(P2_no_revive && vb_ref[s] > 0);
		vb_ref[s]++;
		printf("MSC: %e: vm_bo %d count %d->%d (get)\n",
		       me, s, vb_ref[s] - 1, vb_ref[s])
	}
}

/* ---- lists --------------------------------------------------------- */

/*
 * llist_add: the cmpxchg that publishes the node is the one step that
 * matters; the store to node->next before it touches the vm_bo, which the
 * pusher still owns.
 */
inline defer_push(me, s)
{
	atomic {
		VB_TOUCH(s);
		VM_TOUCH();
		assert(P3_zombie_queued_once &&
		       vb_state[s] == VB_ZOMBIE && !vb_on_defer[s]);
		vb_on_defer[s] = 1;
		defer = defer | BIT(s);
		printf("MSC: %e: vm_bo %d pushed onto the deferred list\n",
		       me, s)
	}
}

/*
 * Called with the GEM mutex held once the count is zero: leave the GEM
 * list and, without resv protection, extobj/evict under their spinlock.
 */
inline into_zombie(me, s)
{
	atomic {
		assert(P1_lock_owner && gem_mutex == me);
		GEM_TOUCH();
		VB_TOUCH(s);
		vb_on_gem[s] = 0
	}
#if !RESV_PROTECTED
	spin_lock(me);
	atomic {
		VB_TOUCH(s);
		vb_on_vml[s] = 0
	}
	spin_unlock(me)
#endif
}

/*
 * Second half of both deferred puts. The push must come after the unlock:
 * once the zombie is on the list, cleanup may free it and drop the last
 * GEM reference, which frees the mutex.
 */
inline unlock_then_queue(me, s, zero)
{
#ifdef QUEUE_BEFORE_UNLOCK
	if
	:: zero -> defer_push(me, s)
	:: else -> skip
	fi;
	gem_unlock(me)
#else
	gem_unlock(me);
	if
	:: zero -> defer_push(me, s)
	:: else -> skip
	fi
#endif
}

/* ---- the operations under test ------------------------------------- */

/*
 * gpuvm_bo_put_deferred. kref_put_mutex: a decrement that would not reach
 * zero happens without the mutex (atomic_add_unless(-1, 1)); otherwise the
 * mutex is taken and the decrement repeated under it.
 */
inline put_deferred(me, s, slow, zero)
{
#ifdef DEC_BEFORE_LOCK
	atomic {
		VB_TOUCH(s);
		assert(P2_no_revive && vb_ref[s] > 0);
		vb_ref[s]--;
		zero = (vb_ref[s] == 0);
		printf("MSC: %e: vm_bo %d count %d->%d before the mutex\n",
		       me, s, vb_ref[s] + 1, vb_ref[s]);
		if
		:: zero -> vb_state[s] = VB_ZOMBIE
		:: else -> skip
		fi
	}
	if
	:: zero ->
		gem_lock(me);
		into_zombie(me, s);
		unlock_then_queue(me, s, zero)
	:: else -> skip
	fi;
#else
	atomic {
		VB_TOUCH(s);
		assert(P2_no_revive && vb_ref[s] > 0);
		if
		:: vb_ref[s] != 1 ->
			vb_ref[s]--;
			slow = 0;
			printf("MSC: %e: vm_bo %d count %d->%d, no mutex\n",
			       me, s, vb_ref[s] + 1, vb_ref[s])
		:: else -> slow = 1
		fi
	}
	if
	:: slow ->
		gem_lock(me);
		atomic {
			VB_TOUCH(s);
			assert(P2_no_revive && vb_ref[s] > 0);
			vb_ref[s]--;
			zero = (vb_ref[s] == 0);
			if
			:: zero ->
				vb_state[s] = VB_ZOMBIE;
				printf("MSC: %e: vm_bo %d 1->0, mutex held\n",
				       me, s)
			:: else -> skip
			fi
		}
		if
		:: zero -> into_zombie(me, s)
		:: else -> skip
		fi;
		unlock_then_queue(me, s, zero)
	:: else -> skip
	fi;
#endif
	slow = 0;
	zero = 0
}

/*
 * gpuva_unlink_defer: under the GEM mutex (taken here) unlink the mapping
 * from its vm_bo and drop the mapping's reference with a plain kref_put.
 */
inline unlink_defer(me, s, zero)
{
	gem_lock(me);
	atomic {
		/* list_del of the mapping touches the vm_bo and the GEM. */
		GEM_TOUCH();
		VB_TOUCH(s);
		assert(P2_no_revive && vb_ref[s] > 0);
		vb_ref[s]--;
		zero = (vb_ref[s] == 0);
		if
		:: zero ->
			vb_state[s] = VB_ZOMBIE;
			printf("MSC: %e: vm_bo %d count 1->0 (unlink)\n",
			       me, s)
		:: else -> skip
		fi
	}
	if
	:: zero -> into_zombie(me, s)
	:: else -> skip
	fi;
	unlock_then_queue(me, s, zero);
	zero = 0
}

/*
 * The immediate put (gpuvm_bo_put), used only by the SIGNALLING_PLAIN_PUT
 * variant: destroy at once, which needs the resv when resv-protected, frees
 * memory and drops the GEM reference.
 */
inline plain_put(me, s, zero)
{
	gem_lock(me);
	atomic {
		VB_TOUCH(s);
		assert(P2_no_revive && vb_ref[s] > 0);
		vb_ref[s]--;
		zero = (vb_ref[s] == 0);
		if
		:: zero -> vb_state[s] = VB_ZOMBIE
		:: else -> skip
		fi
	}
	if
	:: zero ->
#if RESV_PROTECTED
		resv_lock(me);
		atomic { vb_on_vml[s] = 0 };
		resv_unlock(me);
#endif
		into_zombie(me, s);
		vb_free(me, s);
		vm_put(me);
		gem_put(me)
	:: else -> skip
	fi;
	gem_unlock(me);
	zero = 0
}

/* ---- processes ----------------------------------------------------- */

/*
 * A job's run path (fence-signalling critical section) holding one
 * reference to vm_bo 0, taken at submit time. It drops it either directly
 * or by unlinking the mapping that owned it.
 */
proctype Signal(mtype me)
{
	bit slow, zero;

#ifdef SIGNALLING_PLAIN_PUT
	plain_put(me, 0, zero);
#else
	if
	:: put_deferred(me, 0, slow, zero)
	:: unlink_defer(me, 0, zero)
	fi;
#endif
	atomic {
		done++;
#if WITNESS
		sig_done++
#endif
	}
}

/*
 * An ioctl: holds a GEM reference from its handle lookup, obtains the vm_bo
 * for (VM, GEM) with a preallocated candidate, adds it to extobj, drops its
 * vm_bo reference (deferred) and finally its GEM reference.
 */
proctype Lookup(mtype me)
{
	byte found = NONE;
	bit slow, zero;

	/*
	 * gpuvm_bo_create: allocation, GEM get, VM get. The new vm_bo is
	 * private and this thread already holds a GEM reference, so the three
	 * form one step without hiding any interleaving that matters.
	 */
	atomic {
		assert(P5_signalling_no_alloc && !SIGNALLING(me));
		assert(M_model_consistent && vb_state[1] == VB_UNUSED);
		GEM_TOUCH();
		assert(P4_gem_freed_once_after_vm_bos && gem_ref > 0);
		VM_TOUCH();
		vb_state[1] = VB_LIVE;
		vb_ref[1] = 1;
		gem_ref++;
		vm_ref++;
		printf("MSC: %e: preallocates vm_bo 1 (GEM ref %d->%d)\n",
		       me, gem_ref - 1, gem_ref)
	}

	/* obtain_prealloc: find under the GEM mutex, or link the new one. */
	gem_lock(me);
	atomic {
		GEM_TOUCH();
		if
		:: vb_on_gem[0] -> found = 0
		:: !vb_on_gem[0] && vb_on_gem[1] -> found = 1
		:: else -> skip
		fi;
		if
		:: found == NONE ->
			printf("MSC: %e: find: no vm_bo on the GEM list\n", me)
		:: else ->
			printf("MSC: %e: find: vm_bo %d, count %d\n",
			       me, found, vb_ref[found])
		fi;
		/* what a vm_bo on the GEM list must be: never at count zero */
		assert(P2_no_revive && (found == NONE || vb_ref[found] > 0))
	}
	if
	:: found != NONE ->
		vb_get(me, found);
		gem_unlock(me);
		/* the unused candidate is dropped outside the mutex */
		atomic {
			assert(M_model_consistent &&
			       vb_ref[1] == 1 && !vb_on_gem[1]);
			vb_ref[1] = 0;
			vb_state[1] = VB_ZOMBIE
		}
		destroy_not_in_lists(me, 1)
	:: else ->
		atomic {
			assert(P1_lock_owner && gem_mutex == me);
			GEM_TOUCH();
			assert(U_one_vm_bo_per_vm_gem &&
			       !vb_on_gem[0] && !vb_on_gem[1]);
			vb_on_gem[1] = 1;
			printf("MSC: %e: links new vm_bo 1 to the GEM\n", me);
			WITNESS_HIT(2,
				    W2_obtain_creates_while_vm_bo0_is_a_zombie,
				    vb_state[0] == VB_ZOMBIE);
			found = 1
		}
		gem_unlock(me)
	fi;

	/* extobj_add: a no-op when already on the list */
#if RESV_PROTECTED
	resv_lock(me);
#else
	spin_lock(me);
#endif
	atomic {
		VB_TOUCH(found);
		vb_on_vml[found] = 1
	}
#if RESV_PROTECTED
	resv_unlock(me);
#else
	spin_unlock(me);
#endif

	/* the job no longer needs it */
	put_deferred(me, found, slow, zero);
	found = NONE;

	gem_put(me);
	atomic { done++ }
}

/*
 * Walk extobj/evict the way validate/prepare do. Resv-protected: under the
 * resv, skip zombies and use the rest without a reference (safe because
 * freeing a vm_bo needs the resv to take it off the list). Spinlock mode:
 * kref_get_unless_zero under the spinlock, dropping dead entries from the
 * list, use, then put (deferred).
 */
inline walk_vm_lists(me, i, use, slow, zero)
{
#if RESV_PROTECTED
	resv_lock(me);
	i = 0;
	do
	:: i < NSLOT ->
		atomic {
			use = 0;
			if
			:: vb_on_vml[i] ->
				VB_TOUCH(i);
				use = (vb_ref[i] > 0);
				WITNESS_HIT(4, W4_walker_meets_zombie,
					    !use)
			:: else -> skip
			fi
		}
		if
		:: use ->
			/* validate it: no reference held, the resv is */
			atomic { VB_TOUCH(i) }
		:: else -> skip
		fi;
		i++
	:: else -> break
	od;
	resv_unlock(me);
#else
	i = 0;
	do
	:: i < NSLOT ->
		spin_lock(me);
		atomic {
			use = 0;
			if
			:: vb_on_vml[i] ->
				VB_TOUCH(i);
				if
				:: vb_ref[i] > 0 -> vb_ref[i]++; use = 1
				:: else ->
					WITNESS_HIT(4,
						    W4_walker_meets_zombie,
						    1);
					vb_on_vml[i] = 0
				fi
			:: else -> skip
			fi
		}
		spin_unlock(me);
		if
		:: use ->
			atomic { VB_TOUCH(i) };
			put_deferred(me, i, slow, zero)
		:: else -> skip
		fi;
		i++
	:: else -> break
	od;
#endif
	i = 0;
	use = 0
}

/*
 * The user: walks the VM's lists (validate) and drops its own GEM
 * reference, in either order.
 */
proctype Owner(mtype me)
{
	byte i;
	bit use, slow, zero;

	if
	:: walk_vm_lists(me, i, use, slow, zero);
		gem_put(me)
	:: gem_put(me);
		walk_vm_lists(me, i, use, slow, zero)
	fi;
	atomic { done++ }
}

/*
 * gpuvm_bo_deferred_cleanup, called repeatedly (worker, job free) until
 * every other thread has finished and the list is empty. Each call takes
 * the whole list with one exchange; the detached zombies are then handled
 * in any order.
 */
proctype Cleanup(mtype me)
{
	byte mine, i;

	do
	:: atomic {
		defer != 0 ->
		VM_TOUCH();
		mine = defer;
		defer = 0;
		vb_on_defer[0] = 0;
		vb_on_defer[1] = 0;
		printf("MSC: %e: took the deferred list (set %d)\n", me, mine)
	}
#if RESV_PROTECTED
		resv_lock(me);
		atomic {
			i = 0;
			do
			:: i < NSLOT ->
				if
				:: mine & BIT(i) ->
					VB_TOUCH(i);
					assert(P3_only_zombies_freed_once &&
					       vb_state[i] == VB_ZOMBIE);
					vb_on_vml[i] = 0
				:: else -> skip
				fi;
				i++
			:: else -> break
			od;
			i = 0
		}
		resv_unlock(me);
#endif
		do
		:: mine == 0 -> break
		:: else ->
			if
			:: mine & BIT(0) -> i = 0
			:: mine & BIT(1) -> i = 1
			fi;
			mine = mine & ~BIT(i);
			destroy_not_in_lists(me, i);
			i = 0
		od
	:: atomic { defer == 0 && done == NWORKERS -> break }
	od;
	atomic { cleaners_done++ }
}

init
{
	atomic {
		/* vm_bo 0: live, referenced once by each signalling thread */
		vb_state[0] = VB_LIVE;
		vb_ref[0] = 2;
		vb_on_gem[0] = 1;
		vb_on_vml[0] = 1;
		/* GEM: the owner, the lookup thread's handle, vm_bo 0 */
		gem_alive = 1;
		gem_ref = 3;
		/* VM: its owner (kept throughout) and vm_bo 0 */
		vm_ref = 2;

		run Signal(S1);
		run Signal(S2);
		run Lookup(LOOKUP);
		run Owner(OWNER);
		run Cleanup(CLEANUP)
#if NCLEANERS > 1
		;
		run Cleanup(CLEANUP2)
#endif
	}

	/* end of the run: everything freed, nothing queued, nothing held */
	atomic {
		done == NWORKERS && cleaners_done == NCLEANERS ->
		assert(P3_no_leak_at_end && defer == 0);
		assert(P3_no_leak_at_end &&
		       !VB_ALLOCATED(0) && !VB_ALLOCATED(1));
		assert(P4_gem_freed_once_after_vm_bos &&
		       !gem_alive && gem_frees == 1);
		assert(P3_no_leak_at_end && vm_ref == 1);
		assert(P1_lock_owner &&
		       gem_mutex == 0 && vm_resv == 0 && vm_spin == 0)
	}
}
