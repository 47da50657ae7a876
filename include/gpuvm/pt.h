/* SPDX-License-Identifier: MIT */
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
#ifndef GPUVM_PT_H
#define GPUVM_PT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <gpuvm/compiler.h>

/*
 * DOC: Page tables
 *
 * A page table turns GPU virtual addresses into physical ones. This layer
 * defines the interface between the code that decides what is mapped (the
 * VM layer and the bind queue) and the code that writes a GPU's page-table
 * entries (a *backend*), and it ships one backend, a software page table,
 * that the rest of the library uses as the oracle of its end-to-end tests.
 *
 * A backend embeds a &struct gpuvm_pt, points it at its &struct
 * gpuvm_pt_ops and recovers its own object with gpuvm_container_of(). Users
 * call the gpuvm_pt_*() functions below; they validate the arguments (so a
 * backend only sees page-aligned, non-empty ranges inside its VA space) and
 * dispatch.
 *
 * Addresses. The VA space is [0, 2^@va_bits). Every address and size given
 * to map, unmap and reserve is a multiple of %GPUVM_PT_PAGE_SIZE (4 KiB) and
 * a range is never empty. Physical addresses are below 2^%GPUVM_PT_PA_BITS.
 *
 * The three paths of a bind job. A bind queue splits the work on page
 * tables in three, and each function below belongs to one of them:
 *
 * | path    | context                       | functions                    |
 * | ------- | ----------------------------- | ---------------------------- |
 * | submit  | may allocate and wait         | gpuvm_pt_reserve(), or       |
 * |         |                               | gpuvm_pt_stash_fill() then   |
 * |         |                               | gpuvm_pt_reserve_stash()     |
 * | run     | fence-signalling section: no  | gpuvm_pt_map(),              |
 * |         | allocation, no free           | gpuvm_pt_unmap(),            |
 * |         |                               | gpuvm_pt_translate()         |
 * | cleanup | may free, not in a section    | gpuvm_pt_release(), or       |
 * |         |                               | gpuvm_pt_release_stash()     |
 * |         |                               | then gpuvm_pt_stash_free();  |
 * |         |                               | gpuvm_pt_trim()              |
 *
 * Map and unmap take every table they need from tables reserved earlier,
 * and put the tables they empty in a pool of spares instead of freeing
 * them, so they never call the allocator. reserve, release, trim, create,
 * destroy, stash_fill and stash_free are marked as allocating for the
 * fence-signalling checker: calling them inside a section is reported even
 * when they happen not to allocate. reserve_stash and release_stash never
 * call the allocator and are not marked (see DOC: Two-phase reservations).
 *
 * Locking. None inside: the caller serialises every call on one page table
 * (the VM's lock or the bind queue's run order). gpuvm_pt_translate(),
 * gpuvm_pt_walk(), gpuvm_pt_get_stats() and gpuvm_pt_check() only read, so
 * several of them may run at once while nothing writes.
 * gpuvm_pt_reserve_cost(), gpuvm_pt_stash_fill() and gpuvm_pt_stash_free()
 * touch nothing a write changes and need no serialisation at all.
 *
 * Errors are negative errno values: -EINVAL for bad arguments (nothing
 * changed), -ENOMEM from the allocating functions (nothing changed, nothing
 * leaked), -ENOSPC from map and unmap when their reservation does not cover
 * them (nothing changed), -EFAULT from translate for an unmapped address.
 */

/*
 * DOC: Reservations
 *
 * A reservation is a small object the caller owns, one per bind job. At
 * submit time gpuvm_pt_reserve() adds to it what one range can need in the
 * worst case, *whatever the state of the tables when the job runs*: other
 * jobs queued before it may map, unmap and split anything in between. The
 * job's map and unmap calls then pass the reservation, and once the job has
 * run (or has been cancelled) gpuvm_pt_release() gives back what it did not
 * use.
 *
 * Reservations add up: the page table keeps a pool of spare tables at least
 * as large as the sum of what every outstanding reservation has not used
 * yet (its *floor*), so each queued job can count on its own share whatever
 * the jobs before it consumed. This mirrors gpuvm_va_tree_reserve(), with
 * one refinement: map and unmap name their reservation, so the floor drops
 * as a job consumes its share and rises again when the job's unmaps put
 * tables back, instead of waiting for the release. The pool is trimmed back
 * to the floor by gpuvm_pt_release() and gpuvm_pt_trim(), never by map or
 * unmap.
 *
 * Each map or unmap counts, before it changes anything, the tables it is
 * about to take. If that exceeds what its reservation has left, it fails
 * with -ENOSPC and a warning, changing nothing: an operation its
 * reservation does not cover is a bug in the caller, and serving it from
 * the pool would rob the jobs queued after it.
 *
 * What a reservation covers depends on its kind:
 *
 * | kind                   | covers, inside [addr, addr + range)           |
 * | ---------------------- | --------------------------------------------- |
 * | 0 (map)                | any sequence of maps and unmaps, in any       |
 * |                        | order, with any physical addresses            |
 * | %GPUVM_PT_RESV_UNMAP   | unmaps only, in ascending address order, not  |
 * |                        | overlapping one another, where each page of   |
 * |                        | the range that no call covers was unmapped    |
 * |                        | when the first call ran; in particular one    |
 * |                        | unmap of the whole range, or the pieces       |
 * |                        | gpuvm_sm_unmap() produces for it when the     |
 * |                        | page table mirrors the VM                     |
 *
 * The guarantee is per job: it holds when the calls of one reservation are
 * not interleaved with calls made under other reservations, which is how a
 * bind queue runs its jobs, one after the other. (Interleaved calls never
 * allocate either, but one job's unmap can then empty a table that another
 * job's reservation already paid for, and the second job may see -ENOSPC.)
 * %GPUVM_PT_KEEP unmaps take nothing under any kind.
 *
 * The software backend's worst cases are computed from the range alone and
 * are in the DOC of gpuvm_pt_sw_create().
 */

/*
 * DOC: Two-phase reservations
 *
 * gpuvm_pt_reserve() must be serialised with the run path's maps and
 * unmaps, because they all change the pool and the floor. When that
 * serialisation is a lock the run path takes inside fence-signalling
 * sections (as a bind queue's is), nothing may allocate while holding it,
 * and gpuvm_pt_reserve() allocates. The two-phase form splits the
 * allocation from the bookkeeping, as gpuvm_va_tree_reserve_stash() does
 * for tree nodes:
 *
 * 1. Without the lock: gpuvm_pt_stash_fill() allocates tables into a
 *    &struct gpuvm_pt_stash the caller owns. It reads no state of the page
 *    table, so it needs no serialisation with anything.
 * 2. Under the lock: gpuvm_pt_reserve_stash() does what gpuvm_pt_reserve()
 *    does, but takes the tables the pool lacks from the stash; it fails
 *    with -ENOSPC, changing nothing, if the stash holds too few.
 * 3. The job's maps and unmaps run as usual.
 * 4. Under the lock: gpuvm_pt_release_stash() does what gpuvm_pt_release()
 *    does, but moves the spare tables no reservation needs any more into a
 *    stash instead of freeing them.
 * 5. Without the lock: gpuvm_pt_stash_free() frees what is left in the
 *    stashes, or the caller keeps them for its next job: a stash's tables
 *    are as good after a round trip through the page table as fresh ones.
 *
 * Neither function of steps 2 and 4 calls the allocator, whatever the
 * stash, the pool or the reservation hold, so neither is reported by the
 * fence-signalling checker: holding a lock that a section also takes is
 * not itself a violation, only allocating under it would be, and these
 * functions cannot. Steps 1 and 5 are reported inside a section, like
 * gpuvm_pt_reserve().
 *
 * How much to fill. gpuvm_pt_reserve_cost() depends on the range alone, so
 * it may be called before taking the lock, and a stash holding that many
 * tables is always enough for gpuvm_pt_reserve_stash(), whatever the state
 * of the pool when it runs: the pool always holds at least the floor, so
 * the tables it lacks are at most the cost. For several reservations made
 * in a row from one stash (a job of several ranges), the sum of their
 * costs is enough. When the pool already had spares beyond the floor, the
 * reservation takes fewer than the cost; what stays in the stash is for
 * the caller to free or to keep.
 *
 * Budget. Tables in a stash belong to no page table: they count in the
 * allocator entry's statistics, not in the page table's table_bytes or
 * its table budget. The budget is enforced when tables enter the pool:
 * gpuvm_pt_reserve_stash() fails with -ENOMEM, as gpuvm_pt_reserve()
 * does, when they would exceed it.
 *
 * Backends provide the two-phase form through four optional members of
 * &struct gpuvm_pt_ops; on a backend without them every stash function
 * returns -EOPNOTSUPP and the one-phase functions remain.
 */

/* The page sizes this layer knows. */
#define GPUVM_PT_PAGE_SHIFT 12
#define GPUVM_PT_PAGE_SIZE  (UINT64_C(1) << GPUVM_PT_PAGE_SHIFT)
#define GPUVM_PT_SIZE_4K    (UINT64_C(1) << 12)
#define GPUVM_PT_SIZE_64K   (UINT64_C(1) << 16)
#define GPUVM_PT_SIZE_2M    (UINT64_C(1) << 21)

/* Physical addresses are below 2^GPUVM_PT_PA_BITS. */
#define GPUVM_PT_PA_BITS 52

/* A table: 512 entries of 8 bytes, one 4 KiB page, as GPUs use. */
#define GPUVM_PT_TABLE_ENTRIES 512
#define GPUVM_PT_TABLE_SIZE    4096

/* The VA space sizes the software backend accepts, in bits. */
#define GPUVM_PT_VA_BITS_MIN 22
#define GPUVM_PT_VA_BITS_MAX 57

/*
 * Mapping flags, given to gpuvm_pt_map() and returned by
 * gpuvm_pt_translate(). GPUVM_PT_NULL maps without backing memory (a sparse
 * binding: reads return zero, writes are dropped, nothing faults); the
 * physical address is then ignored and reported as 0.
 */
#define GPUVM_PT_READ_ONLY (1u << 0)
#define GPUVM_PT_NO_EXEC   (1u << 1)
#define GPUVM_PT_UNCACHED  (1u << 2)
#define GPUVM_PT_NULL	   (1u << 3)
#define GPUVM_PT_MAP_FLAGS                                                     \
	(GPUVM_PT_READ_ONLY | GPUVM_PT_NO_EXEC | GPUVM_PT_UNCACHED |           \
	 GPUVM_PT_NULL)

/*
 * Unmap flags. GPUVM_PT_KEEP: the range will be mapped again to the same
 * memory (GPUVM's keep hint), so its entries stay in place; the call only
 * counts them (kept_entries, kept_pages) and never fails for lack of tables.
 */
#define GPUVM_PT_KEEP (1u << 0)

/* Reservation kinds, given to gpuvm_pt_reserve(); see DOC: Reservations. */
#define GPUVM_PT_RESV_UNMAP (1u << 0)

struct gpuvm_pt;

/**
 * struct gpuvm_pt_range - one range of a reservation covering several
 * @addr: the start
 * @range: the size
 */
struct gpuvm_pt_range {
	uint64_t addr;
	uint64_t range;
};

/**
 * struct gpuvm_pt_resv - the page-table resources promised to one bind job
 * @pt: the page table it was made on; NULL while empty
 * @tables: tables promised to this reservation by gpuvm_pt_reserve()
 * @used: tables its maps and unmaps hold now: what they took, less what
 *        they gave back (never below 0, never above @tables)
 *
 * Zero it (or use %GPUVM_PT_RESV_INIT) before the first gpuvm_pt_reserve().
 * Several reserve calls on one reservation add up. gpuvm_pt_release()
 * empties it again. The caller owns the memory; the page table keeps no
 * pointer to it.
 */
struct gpuvm_pt_resv {
	struct gpuvm_pt *pt;
	size_t tables;
	size_t used;
};

/* An empty reservation, for initialisers. */
#define GPUVM_PT_RESV_INIT                                                     \
	{                                                                      \
		NULL, 0, 0                                                     \
	}

/**
 * struct gpuvm_pt_stats - what a page table did and holds
 * @entries_written: leaf entries stored by map and by splits (a 64 KiB
 *                   entry is 16 stores, a 2 MiB entry one)
 * @entries_cleared: leaf entries removed, by unmap or because a map put a
 *                   2 MiB entry where a table of small entries was
 * @dir_writes: directory entries (pointers to tables) stored or cleared
 * @pages_overwritten: mapped 4 KiB pages that a map gave a different entry
 * @pages_unchanged: 4 KiB pages a map found already holding the entry it
 *                   would write, and left alone
 * @splits_2m: 2 MiB entries turned into a table because an operation
 *             covered only part of them
 * @splits_64k: 64 KiB entries turned into 4 KiB entries for the same reason
 * @kept_entries: live leaf entries (of any size) that an unmap with
 *                %GPUVM_PT_KEEP left in place
 * @kept_pages: mapped 4 KiB pages that an unmap with %GPUVM_PT_KEEP left in
 *              place
 * @live_4k: live 4 KiB entries
 * @live_64k: live 64 KiB entries
 * @live_2m: live 2 MiB entries
 * @tables_allocated: tables that came into the page table, ever: from the
 *                    allocator, or from a stash (@tables_from_stash)
 * @tables_freed: tables that left it, ever: given back to the allocator,
 *                or moved into a stash (@tables_to_stash)
 * @tables_in_use: tables linked into the page table, root included
 * @tables_spare: tables in the pool of spares
 * @tables_reserved: the floor: tables outstanding reservations have not
 *                   used yet
 * @table_bytes: memory held in tables, in use and spare
 * @resv_refused: maps and unmaps refused because their reservation did not
 *                cover them
 * @tables_from_stash: the part of @tables_allocated that
 *                     gpuvm_pt_reserve_stash() took from stashes
 * @tables_to_stash: the part of @tables_freed that
 *                   gpuvm_pt_release_stash() moved into stashes
 *
 * In a sound page table tables_in_use + tables_spare == tables_allocated -
 * tables_freed, and tables_spare >= tables_reserved. Tables in a stash are
 * counted by no page table.
 */
struct gpuvm_pt_stats {
	uint64_t entries_written;
	uint64_t entries_cleared;
	uint64_t dir_writes;
	uint64_t pages_overwritten;
	uint64_t pages_unchanged;
	uint64_t splits_2m;
	uint64_t splits_64k;
	uint64_t kept_entries;
	uint64_t kept_pages;
	uint64_t live_4k;
	uint64_t live_64k;
	uint64_t live_2m;
	uint64_t tables_allocated;
	uint64_t tables_freed;
	uint64_t tables_in_use;
	uint64_t tables_spare;
	uint64_t tables_reserved;
	uint64_t table_bytes;
	uint64_t resv_refused;
	uint64_t tables_from_stash;
	uint64_t tables_to_stash;
};

/**
 * struct gpuvm_pt_stash - page tables allocated away from a page table
 * @pt: the page table its tables are for; NULL while it holds none
 * @head: the tables, in a form only the backend reads
 * @count: how many tables it holds
 *
 * Zero it (or use %GPUVM_PT_STASH_INIT) before first use. The caller owns
 * it and serialises its use; the page table keeps no pointer to it. A stash
 * that holds tables is tied to the page table it got them for (@pt, set by
 * the functions that add tables, cleared when @count drops to 0), since a
 * backend's tables may differ from one page table to the next; an empty
 * stash may be used with any page table. Free it with
 * gpuvm_pt_stash_free() before destroying its page table. See DOC:
 * Two-phase reservations.
 */
struct gpuvm_pt_stash {
	struct gpuvm_pt *pt;
	void *head;
	size_t count;
};

/* An empty stash, for initialisers. */
#define GPUVM_PT_STASH_INIT                                                    \
	{                                                                      \
		NULL, NULL, 0                                                  \
	}

/**
 * typedef gpuvm_pt_walk_fn - receives one leaf entry from gpuvm_pt_walk()
 * @va: the first address the entry maps
 * @size: the entry's page size (%GPUVM_PT_SIZE_4K, _64K or _2M)
 * @pa: the physical address of @va (0 for a %GPUVM_PT_NULL entry)
 * @flags: the entry's mapping flags
 * @data: the pointer given to gpuvm_pt_walk()
 *
 * Return: 0 to go on; anything else stops the walk and is returned.
 */
typedef int (*gpuvm_pt_walk_fn)(uint64_t va, uint64_t size, uint64_t pa,
				unsigned int flags, void *data);

/**
 * struct gpuvm_pt_ops - what a backend implements
 * @reserve_cost: the tables one reservation of [addr, addr + range) of the
 *                given kind promises (without reserving them)
 * @reserve: add that cost to @resv, filling the pool; may allocate;
 *           all-or-nothing
 * @map: map [addr, addr + range) to @pa with @flags; with a @resv it must
 *       not allocate; with @resv NULL (the one-shot form) it may allocate
 *       what it needs, all-or-nothing, keeping the floor intact
 * @unmap: unmap [addr, addr + range); @resv as for @map; with
 *         %GPUVM_PT_KEEP it only counts
 * @release: give back what @resv has not used and empty it; may free
 * @trim: free spare tables beyond the floor
 * @translate: look up one address
 * @walk: visit the leaf entries intersecting a range in address order
 *        (optional: gpuvm_pt_walk() returns -EOPNOTSUPP without it)
 * @get_stats: fill a &struct gpuvm_pt_stats (fields a backend does not
 *             track stay 0)
 * @check: verify the backend's invariants (optional)
 * @destroy: free everything, the &struct gpuvm_pt included
 * @stash_fill: allocate tables into @stash until it holds @tables;
 *              all-or-nothing. Runs concurrently with anything else on
 *              @pt, so it may read only what never changes after creation
 *              (optional, as are the three below: all four or none)
 * @stash_free: free every table of @stash; the same concurrency rule
 * @reserve_stash: @reserve, but the tables the pool lacks are moved from
 *                 @stash, never allocated: at most the @reserve_cost of the
 *                 range, -ENOSPC with nothing changed if @stash holds
 *                 fewer than needed; all-or-nothing
 * @release_stash: @release, but the spare tables beyond the new floor are
 *                 moved into @stash, never freed; with @stash NULL they
 *                 stay in the pool
 * @trim_stash: move the spare tables beyond the floor plus @keep into
 *              @stash (optional; gpuvm_pt_trim_stash() needs it)
 * @prefetch: start loading what operations on @addrs will read (optional;
 *            a hint that changes nothing)
 * @reserve_cost_ranges: @reserve_cost of kind 0 for a set of ranges, each
 *                       table counted once however many ranges need it
 *                       (optional, with @reserve_ranges_stash)
 * @reserve_ranges_stash: @reserve_stash of kind 0 for a set of ranges, at
 *                        the cost @reserve_cost_ranges gives
 *
 * The gpuvm_pt_*() wrappers validate arguments before calling these: the
 * ranges are page-aligned, non-empty and inside the VA space, the flags are
 * known, @resv, if not NULL, belongs to this page table, and a non-empty
 * @stash was filled for it. The wrappers keep &gpuvm_pt_stash.pt; the
 * stash members only maintain @head and @count. @reserve_cost must depend
 * on the range alone, not on the state of the tables: it is what a
 * reservation promises whatever that state becomes, and callers use it
 * without serialisation to size their stashes.
 */
struct gpuvm_pt_ops {
	size_t (*reserve_cost)(const struct gpuvm_pt *pt, uint64_t addr,
			       uint64_t range, unsigned int kind);
	int (*reserve)(struct gpuvm_pt *pt, uint64_t addr, uint64_t range,
		       unsigned int kind, struct gpuvm_pt_resv *resv);
	int (*map)(struct gpuvm_pt *pt, uint64_t addr, uint64_t range,
		   uint64_t pa, unsigned int flags, struct gpuvm_pt_resv *resv);
	int (*unmap)(struct gpuvm_pt *pt, uint64_t addr, uint64_t range,
		     unsigned int flags, struct gpuvm_pt_resv *resv);
	void (*release)(struct gpuvm_pt *pt, struct gpuvm_pt_resv *resv);
	void (*trim)(struct gpuvm_pt *pt);
	int (*translate)(const struct gpuvm_pt *pt, uint64_t va, uint64_t *pa,
			 uint64_t *page_size, unsigned int *flags);
	int (*walk)(const struct gpuvm_pt *pt, uint64_t addr, uint64_t range,
		    gpuvm_pt_walk_fn fn, void *data);
	void (*get_stats)(const struct gpuvm_pt *pt,
			  struct gpuvm_pt_stats *stats);
	int (*check)(const struct gpuvm_pt *pt, char *msg, size_t len);
	void (*destroy)(struct gpuvm_pt *pt);
	int (*stash_fill)(const struct gpuvm_pt *pt,
			  struct gpuvm_pt_stash *stash, size_t tables);
	void (*stash_free)(const struct gpuvm_pt *pt,
			   struct gpuvm_pt_stash *stash);
	int (*reserve_stash)(struct gpuvm_pt *pt, uint64_t addr, uint64_t range,
			     unsigned int kind, struct gpuvm_pt_resv *resv,
			     struct gpuvm_pt_stash *stash);
	void (*release_stash)(struct gpuvm_pt *pt, struct gpuvm_pt_resv *resv,
			      struct gpuvm_pt_stash *stash);
	void (*trim_stash)(struct gpuvm_pt *pt, size_t keep,
			   struct gpuvm_pt_stash *stash);
	void (*prefetch)(const struct gpuvm_pt *pt, const uint64_t *addrs,
			 size_t n);
	size_t (*reserve_cost_ranges)(const struct gpuvm_pt *pt,
				      const struct gpuvm_pt_range *ranges,
				      size_t n);
	int (*reserve_ranges_stash)(struct gpuvm_pt *pt,
				    const struct gpuvm_pt_range *ranges,
				    size_t n, struct gpuvm_pt_resv *resv,
				    struct gpuvm_pt_stash *stash);
};

/**
 * struct gpuvm_pt - a page table, embedded in a backend's object
 * @ops: the backend
 * @va_bits: the VA space is [0, 2^@va_bits)
 */
struct gpuvm_pt {
	const struct gpuvm_pt_ops *ops;
	unsigned int va_bits;
};

/**
 * gpuvm_pt_init() - initialise the generic part of a backend's page table
 * @pt: the page table embedded in the backend's object
 * @ops: the backend; every member except @walk, @check and the four stash
 *       members is required, and the stash members come all four or none
 * @va_bits: the VA space size in bits, 1 to 64
 *
 * Context: any; does not allocate.
 *
 * Return: 0, or -EINVAL (a member missing, some but not all of the stash
 * members, @va_bits out of range).
 */
GPUVM_EXPORT int gpuvm_pt_init(struct gpuvm_pt *pt,
			       const struct gpuvm_pt_ops *ops,
			       unsigned int va_bits);

/**
 * gpuvm_pt_sw_create() - create a software page table
 * @va_bits: the VA space size in bits, %GPUVM_PT_VA_BITS_MIN to
 *           %GPUVM_PT_VA_BITS_MAX (48 and 57 are the usual ones)
 * @max_tables: the most tables (in use and spare) it may hold, a budget
 *              like a GPU's page-table memory; 0 for no limit
 * @out: receives the page table
 *
 * The software backend is a radix tree of 4 KiB tables of 512 8-byte
 * entries, each level resolving 9 bits above the 4 KiB page offset: four
 * levels for 48 bits, five for 57 (the root table of a size between uses
 * only its low entries). The root table always exists.
 *
 * Page sizes. A map uses, for each part of its range, the largest entry
 * whose VA range the request covers whole, whose VA is aligned to it, and
 * whose physical address is aligned to it (for %GPUVM_PT_NULL only the VA
 * counts):
 *
 * - 2 MiB: one leaf entry in a level-1 table, in place of a pointer to a
 *   level-0 table;
 * - 64 KiB: 16 consecutive 4 KiB entries of a level-0 table, each marked
 *   with a contiguous bit and mapping consecutive physical pages, the way
 *   MMUs with a contiguous hint describe them; 64 KiB and 4 KiB entries mix
 *   freely in one table;
 * - 4 KiB otherwise.
 *
 * A map or unmap that covers only part of a 2 MiB entry splits it: a
 * level-0 table takes its place, holding 64 KiB entries for the same
 * memory, and then the operation changes its part. A 64 KiB entry covered
 * in part becomes sixteen 4 KiB entries. Neighbouring entries are never
 * merged into larger ones afterwards; only a map writes large entries.
 *
 * A map over mapped pages overwrites them (counted in pages_overwritten);
 * pages that already map the same memory with the same flags, through an
 * entry at least as large as the one the map would write, are left alone
 * (pages_unchanged, no split), so re-mapping what GPUVM's keep hint left in
 * place costs no writes. Unmapping unmapped pages is not an error. A table
 * emptied by an unmap, or replaced by a 2 MiB entry, goes to the pool of
 * spares.
 *
 * Worst cases. A reservation of kind 0 for [a, a + r) promises, for each
 * level below the root, the number of tables of that level whose span
 * intersects the range: every level-0 table (2 MiB span), level-1 table
 * (1 GiB), and so on. That covers any state and any sequence of operations
 * inside the range: physical addresses are not known at submit time, every
 * 2 MiB block may end up needing its own level-0 table, and a table an
 * operation takes is counted against the reservation only until an unmap
 * gives one back. A reservation of kind %GPUVM_PT_RESV_UNMAP promises
 * min(3, number of 2 MiB blocks the range intersects): only a split takes a
 * table in an unmap, splits happen only at the ends of a call, and under
 * that kind's rules at most two split tables are held at once (the range's
 * first and last blocks, or the first block and the block where the
 * current call ends), plus one for the call that splits a block before it
 * empties the previous one.
 *
 * Two-phase reservations are supported: a stash holds zeroed 4 KiB tables
 * from the allocator entry, and tables move between a stash and the pool
 * without being cleared or copied.
 *
 * Context: may allocate; not in a fence-signalling section.
 *
 * Return: 0, -EINVAL for @va_bits out of range, -ENOMEM (nothing leaked).
 */
GPUVM_EXPORT int gpuvm_pt_sw_create(unsigned int va_bits, size_t max_tables,
				    struct gpuvm_pt **out);

/**
 * gpuvm_pt_destroy() - free a page table and all its tables
 * @pt: the page table, or NULL
 *
 * Reservations still outstanding are a caller bug that the library warns
 * about; they must not be used afterwards.
 *
 * Context: may free; not in a fence-signalling section.
 */
GPUVM_EXPORT void gpuvm_pt_destroy(struct gpuvm_pt *pt);

/**
 * gpuvm_pt_reserve_cost() - the tables one reservation would promise
 * @pt: the page table
 * @addr: the start of the range
 * @range: its size
 * @kind: 0 or %GPUVM_PT_RESV_UNMAP
 *
 * The count depends on the range alone. It is also a number of tables
 * that a stash given to gpuvm_pt_reserve_stash() for this range always
 * suffices with, whatever the state of the pool (see DOC: Two-phase
 * reservations).
 *
 * Context: any; does not allocate; needs no serialisation with the other
 * calls on @pt.
 *
 * Return: the count, or 0 if the arguments are invalid.
 */
GPUVM_EXPORT size_t gpuvm_pt_reserve_cost(const struct gpuvm_pt *pt,
					  uint64_t addr, uint64_t range,
					  unsigned int kind);

/**
 * gpuvm_pt_reserve() - promise the tables operations on a range may need
 * @pt: the page table
 * @addr: the start of the range
 * @range: its size
 * @kind: 0 for maps and unmaps, %GPUVM_PT_RESV_UNMAP for unmaps only (see
 *        DOC: Reservations)
 * @resv: the job's reservation, empty or already holding reservations on
 *        @pt
 *
 * Fills the pool of spares so that it holds the floor plus this promise,
 * and adds the promise to @resv.
 *
 * Context: the submit path: may allocate; not in a fence-signalling
 * section; serialised with every other call on @pt.
 *
 * Return: 0; -EINVAL for invalid arguments or a @resv made on another page
 * table; -ENOMEM if tables could not be allocated or the backend's table
 * budget is exhausted, with @pt and @resv unchanged.
 */
GPUVM_EXPORT int gpuvm_pt_reserve(struct gpuvm_pt *pt, uint64_t addr,
				  uint64_t range, unsigned int kind,
				  struct gpuvm_pt_resv *resv);

/**
 * gpuvm_pt_map() - map a range to physical memory
 * @pt: the page table
 * @addr: the first virtual address
 * @range: the size
 * @pa: the physical address of @addr; the range maps [@pa, @pa + @range)
 *      (ignored with %GPUVM_PT_NULL)
 * @flags: %GPUVM_PT_MAP_FLAGS
 * @resv: the reservation that covers this call, or NULL to allocate what
 *        the call needs (exactly that, all-or-nothing)
 *
 * What was mapped in the range before is overwritten.
 *
 * Context: with @resv, the run path: never allocates or frees, so it may
 * run in a fence-signalling section. Without @resv it may allocate and is
 * reported inside a section. Serialised with every other call on @pt.
 * Tables the call empties go to the pool of spares either way, until
 * gpuvm_pt_release() or gpuvm_pt_trim().
 *
 * Return: 0; -EINVAL (bad alignment, range, flags, or @pa beyond the
 * physical address space); -ENOSPC if @resv does not cover the call
 * (nothing changed, warned); without @resv, -ENOMEM (nothing changed).
 */
GPUVM_EXPORT int gpuvm_pt_map(struct gpuvm_pt *pt, uint64_t addr,
			      uint64_t range, uint64_t pa, unsigned int flags,
			      struct gpuvm_pt_resv *resv);

/**
 * gpuvm_pt_unmap() - unmap a range
 * @pt: the page table
 * @addr: the first virtual address
 * @range: the size
 * @flags: 0, or %GPUVM_PT_KEEP to leave the range's entries in place and
 *         only count them
 * @resv: the reservation that covers this call, or NULL to allocate what
 *        the call needs (which an unmap with %GPUVM_PT_KEEP never does)
 *
 * Pages of the range that are not mapped are skipped. Large entries that
 * stick out of the range are split and keep their outside part mapped.
 *
 * Context: as gpuvm_pt_map().
 *
 * Return: 0, -EINVAL, -ENOSPC or (without @resv) -ENOMEM, as for
 * gpuvm_pt_map().
 */
GPUVM_EXPORT int gpuvm_pt_unmap(struct gpuvm_pt *pt, uint64_t addr,
				uint64_t range, unsigned int flags,
				struct gpuvm_pt_resv *resv);

/**
 * gpuvm_pt_release() - give back what a reservation did not use
 * @pt: the page table
 * @resv: the reservation; empty afterwards (an empty one is a no-op)
 *
 * Lowers the floor by what @resv had left and frees the spare tables above
 * the new floor. Call it once the job has run, or when it is cancelled.
 *
 * Context: the cleanup path: may free; not in a fence-signalling section.
 */
GPUVM_EXPORT void gpuvm_pt_release(struct gpuvm_pt *pt,
				   struct gpuvm_pt_resv *resv);

/**
 * gpuvm_pt_trim() - free the spare tables no reservation needs
 * @pt: the page table
 *
 * Context: may free; not in a fence-signalling section.
 */
GPUVM_EXPORT void gpuvm_pt_trim(struct gpuvm_pt *pt);

/**
 * gpuvm_pt_stash_fill() - allocate tables into a stash
 * @pt: the page table the tables are for
 * @stash: the stash, empty or holding tables for @pt
 * @tables: how many tables the stash should hold; it is left alone if it
 *          holds that many already
 *
 * Reads nothing a call on @pt changes: it needs no serialisation with them
 * (only with other uses of @stash).
 *
 * Context: may allocate; not in a fence-signalling section; outside the
 * lock that serialises @pt, which is what it is for.
 *
 * Return: 0; -EINVAL for a NULL @stash or one holding tables for another
 * page table; -EOPNOTSUPP if the backend has no stashes; -ENOMEM with
 * @stash unchanged.
 */
GPUVM_EXPORT int gpuvm_pt_stash_fill(struct gpuvm_pt *pt,
				     struct gpuvm_pt_stash *stash,
				     size_t tables);

/**
 * gpuvm_pt_stash_free() - free every table of a stash
 * @pt: the page table the tables are for
 * @stash: the stash, or NULL; empty afterwards
 *
 * A stash holding tables for another page table is left alone, with a
 * warning.
 *
 * Context: may free; not in a fence-signalling section; needs no
 * serialisation with the calls on @pt.
 */
GPUVM_EXPORT void gpuvm_pt_stash_free(struct gpuvm_pt *pt,
				      struct gpuvm_pt_stash *stash);

/**
 * gpuvm_pt_reserve_stash() - gpuvm_pt_reserve() with tables from a stash
 * @pt: the page table
 * @addr: the start of the range
 * @range: its size
 * @kind: 0 or %GPUVM_PT_RESV_UNMAP, as for gpuvm_pt_reserve()
 * @resv: the job's reservation, as for gpuvm_pt_reserve()
 * @stash: the tables to fill the pool with; gpuvm_pt_reserve_cost() of the
 *         range is always enough. What the pool lacks is moved out of it,
 *         the rest stays.
 *
 * The same reservation as gpuvm_pt_reserve() makes, with the same effect on
 * @resv, the floor and the pool; only where the new tables come from
 * differs.
 *
 * Context: the submit path, serialised with every other call on @pt
 * (typically under the lock the run path takes). Never calls the
 * allocator, so it is not reported inside a fence-signalling section.
 *
 * Return: 0; -EINVAL for invalid arguments, a @resv made on another page
 * table, or a @stash holding tables for another one; -ENOSPC if @stash
 * holds fewer tables than the pool lacks; -ENOMEM if the tables would
 * exceed the backend's table budget; -EOPNOTSUPP if the backend has no
 * stashes. On error @pt, @resv and @stash are unchanged.
 */
GPUVM_EXPORT int gpuvm_pt_reserve_stash(struct gpuvm_pt *pt, uint64_t addr,
					uint64_t range, unsigned int kind,
					struct gpuvm_pt_resv *resv,
					struct gpuvm_pt_stash *stash);

/**
 * gpuvm_pt_reserve_cost_ranges() - the tables one reservation of several
 *                                  ranges would promise
 * @pt: the page table
 * @ranges: the ranges, best sorted by address
 * @n: how many
 *
 * A job whose requests touch neighbouring ranges needs each table on
 * their paths once, not once per request: this counts every table the
 * ranges may need once (per run of ranges in ascending address order;
 * an unsorted list costs more, never less than it needs). Without backend
 * support it is the sum of gpuvm_pt_reserve_cost() of kind 0.
 *
 * Context: any; does not allocate.
 *
 * Return: the count, or 0 for invalid arguments.
 */
GPUVM_EXPORT size_t
gpuvm_pt_reserve_cost_ranges(const struct gpuvm_pt *pt,
			     const struct gpuvm_pt_range *ranges, size_t n);

/**
 * gpuvm_pt_reserve_ranges_stash() - one reservation for several ranges
 * @pt: the page table
 * @ranges: the ranges, best sorted by address
 * @n: how many, at least one
 * @resv: the job's reservation, as for gpuvm_pt_reserve_stash()
 * @stash: the tables to fill the pool with; gpuvm_pt_reserve_cost_ranges()
 *         of the ranges is always enough
 *
 * gpuvm_pt_reserve_stash() of kind 0 for all the ranges at once, at the
 * cost gpuvm_pt_reserve_cost_ranges() gives: it covers any sequence of
 * maps and unmaps inside the ranges, run one after another under @resv
 * (see "DOC: Reservations"), because a reservation never holds more
 * tables than there are table positions on the ranges' paths.
 *
 * Context: as gpuvm_pt_reserve_stash(); never calls the allocator.
 *
 * Return: 0; -EINVAL for invalid arguments; -ENOSPC if @stash holds fewer
 * tables than the pool lacks; -ENOMEM if the budget would be exceeded;
 * -EOPNOTSUPP if the backend has no multi-range reservations. On error
 * nothing changed.
 */
GPUVM_EXPORT int gpuvm_pt_reserve_ranges_stash(
	struct gpuvm_pt *pt, const struct gpuvm_pt_range *ranges, size_t n,
	struct gpuvm_pt_resv *resv, struct gpuvm_pt_stash *stash);

/**
 * gpuvm_pt_release_stash() - gpuvm_pt_release() with tables into a stash
 * @pt: the page table
 * @resv: the reservation; empty afterwards (an empty one, or NULL, is a
 *        no-op)
 * @stash: receives the spare tables above the new floor; empty or holding
 *         tables for @pt. Free them with gpuvm_pt_stash_free() once the
 *         lock is dropped, or keep them for a later gpuvm_pt_reserve_stash()
 *         on @pt. NULL keeps them in the pool instead, above the floor, for
 *         later reservations to take without a stash: a submit path that
 *         reserves and releases in a steady stream then moves no table at
 *         all. gpuvm_pt_trim_stash() hands the surplus back.
 *
 * Context: the cleanup path, serialised with every other call on @pt
 * (typically under the lock the run path takes). Never calls the
 * allocator, so it is not reported inside a fence-signalling section.
 *
 * Return: 0; -EINVAL for a @resv made on another page table or a @stash
 * holding tables for another one; -EOPNOTSUPP if the backend has no
 * stashes (release with gpuvm_pt_release() then). On error @pt, @resv and
 * @stash are unchanged.
 */
GPUVM_EXPORT int gpuvm_pt_release_stash(struct gpuvm_pt *pt,
					struct gpuvm_pt_resv *resv,
					struct gpuvm_pt_stash *stash);

/**
 * gpuvm_pt_trim_stash() - gpuvm_pt_trim() with tables into a stash
 * @pt: the page table
 * @keep: spare tables to leave in the pool beyond the floor (0: none)
 * @stash: receives the other spare tables above the floor; empty or
 *         holding tables for @pt; free them with gpuvm_pt_stash_free()
 *         once the lock is dropped
 *
 * Context: serialised with every other call on @pt (typically under the
 * lock the run path takes). Never calls the allocator.
 *
 * Return: 0; -EINVAL for a NULL @stash or one holding tables for another
 * page table; -EOPNOTSUPP if the backend has no stashes.
 */
GPUVM_EXPORT int gpuvm_pt_trim_stash(struct gpuvm_pt *pt, size_t keep,
				     struct gpuvm_pt_stash *stash);

/**
 * gpuvm_pt_prefetch() - warm the caches for operations on a batch of
 *                       addresses
 * @pt: the page table
 * @addrs: the addresses about to be mapped, unmapped or translated
 * @n: how many
 *
 * A hint: the backend starts loading the table entries each address will
 * read, all at once, so that the misses of a batch overlap. Changes
 * nothing; a no-op for backends without it.
 *
 * Context: serialised with the calls that change @pt (it reads the
 * tables); never allocates.
 */
GPUVM_EXPORT void gpuvm_pt_prefetch(const struct gpuvm_pt *pt,
				    const uint64_t *addrs, size_t n);

/**
 * gpuvm_pt_translate() - translate one virtual address, as the GPU would
 * @pt: the page table
 * @va: the address (any byte address)
 * @pa: receives the physical address of @va (0 for a %GPUVM_PT_NULL
 *      mapping); may be NULL
 * @page_size: receives the size of the entry that maps @va; may be NULL
 * @flags: receives the entry's mapping flags; may be NULL
 *
 * Context: any; never allocates; reads only.
 *
 * Return: 0, or -EFAULT if @va is not mapped or lies outside the VA space
 * (the GPU would fault).
 */
GPUVM_EXPORT int gpuvm_pt_translate(const struct gpuvm_pt *pt, uint64_t va,
				    uint64_t *pa, uint64_t *page_size,
				    unsigned int *flags);

/**
 * gpuvm_pt_walk() - visit the leaf entries that intersect a range
 * @pt: the page table
 * @addr: the start of the range (page-aligned)
 * @range: its size (page-aligned, not 0)
 * @fn: called for each entry, in ascending address order; an entry that
 *      sticks out of the range is reported whole
 * @data: passed to @fn
 *
 * Context: any; never allocates; @fn must not change @pt.
 *
 * Return: 0, the first non-zero value @fn returned, -EINVAL, or
 * -EOPNOTSUPP if the backend cannot walk.
 */
GPUVM_EXPORT int gpuvm_pt_walk(const struct gpuvm_pt *pt, uint64_t addr,
			       uint64_t range, gpuvm_pt_walk_fn fn, void *data);

/**
 * gpuvm_pt_get_stats() - read a page table's counters
 * @pt: the page table
 * @stats: filled in
 *
 * Context: any; never allocates.
 */
GPUVM_EXPORT void gpuvm_pt_get_stats(const struct gpuvm_pt *pt,
				     struct gpuvm_pt_stats *stats);

/**
 * gpuvm_pt_check() - verify every invariant of a page table
 * @pt: the page table
 * @msg: receives a description of the first broken invariant (may be NULL)
 * @len: size of @msg
 *
 * For the software backend: entry encodings, 64 KiB groups whole and
 * contiguous, 2 MiB entries only at level 1, no empty table but the root,
 * the live-entry and table counters against a full walk, the pool against
 * its count and the floor. O(size of the tables); for tests and debug
 * builds.
 *
 * Return: 0 if sound (or if the backend has no check), -EUCLEAN otherwise.
 */
GPUVM_EXPORT int gpuvm_pt_check(const struct gpuvm_pt *pt, char *msg,
				size_t len);

#endif /* GPUVM_PT_H */
