/* SPDX-License-Identifier: MIT */
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
#ifndef GPUVM_ALLOC_H
#define GPUVM_ALLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <gpuvm/compiler.h>

/*
 * DOC: The allocator entry
 *
 * Every allocation the library makes goes through one internal entry. It
 * counts live allocations and bytes, and it can be told to fail, which is how
 * the tests prove that each allocating path fails cleanly (returns -ENOMEM,
 * changes nothing, leaks nothing) for every N of "fail the Nth allocation".
 * The counters are process-wide atomics; the failure countdown is
 * process-wide too, so a failure test should not run other library users in
 * parallel.
 *
 * Memory a user embeds (struct gpuvm, struct gpuva, ...) or allocates through
 * its own callbacks (op_alloc) is not counted.
 */

/**
 * struct gpuvm_alloc_stats - a snapshot of the allocator entry's counters
 * @live_allocs: allocations not yet freed
 * @live_bytes: bytes requested by the live allocations
 * @total_allocs: successful allocations since the process started
 * @failed_allocs: allocations that failed (injected or real)
 */
struct gpuvm_alloc_stats {
	uint64_t live_allocs;
	uint64_t live_bytes;
	uint64_t total_allocs;
	uint64_t failed_allocs;
};

/**
 * gpuvm_alloc_get_stats() - read the allocator entry's counters
 * @stats: filled with a snapshot
 *
 * Context: any thread; the fields are read one by one without a common lock.
 */
GPUVM_EXPORT void gpuvm_alloc_get_stats(struct gpuvm_alloc_stats *stats);

/**
 * gpuvm_alloc_fail_nth() - make a future allocation fail
 * @nth: 1 fails the next allocation, 2 the one after, ...; 0 disarms
 * @sticky: if true, every allocation from the @nth on fails until disarmed
 *
 * A testing aid for users and for the library's own tests: fault injection
 * in the style of SQLite's OOM tests.
 *
 * Context: any thread; process-wide.
 */
GPUVM_EXPORT void gpuvm_alloc_fail_nth(uint64_t nth, bool sticky);

/**
 * gpuvm_alloc_fail_pending() - whether an armed failure has not fired yet
 *
 * A failure loop (fail the 1st, 2nd, ... allocation) stops once an operation
 * completes without reaching the armed allocation.
 *
 * Return: true while an armed failure (sticky or not) has not fired yet.
 */
GPUVM_EXPORT bool gpuvm_alloc_fail_pending(void);

/**
 * typedef gpuvm_warn_fn - receives the library's warnings
 * @msg: one line of text without the trailing newline
 * @data: the pointer given to gpuvm_set_warn_handler()
 */
typedef void (*gpuvm_warn_fn)(const char *msg, void *data);

/**
 * gpuvm_set_warn_handler() - route the library's warnings
 * @fn: the handler, or NULL to restore the default (standard error)
 * @data: passed to @fn
 *
 * Warnings report misuse that the library survives, the way the kernel's
 * WARN does: a VM destroyed with mappings left, removing the reserved node.
 *
 * Context: set it before other threads use the library.
 */
GPUVM_EXPORT void gpuvm_set_warn_handler(gpuvm_warn_fn fn, void *data);

/**
 * gpuvm_warn_count() - how many warnings the library has issued
 *
 * Return: the number of warnings since the process started.
 */
GPUVM_EXPORT uint64_t gpuvm_warn_count(void);

#endif /* GPUVM_ALLOC_H */
