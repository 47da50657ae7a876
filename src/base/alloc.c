// SPDX-License-Identifier: MIT
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc_internal.h"
#include "base/context_internal.h"

/*
 * Counters are relaxed atomics: they are statistics, read as a snapshot, and
 * order nothing. The failure countdown is a CAS so that exactly one
 * allocation observes the transition to "fire".
 */
static atomic_uint_fast64_t live_allocs;
static atomic_uint_fast64_t live_bytes;
static atomic_uint_fast64_t total_allocs;
static atomic_uint_fast64_t failed_allocs;
static atomic_uint_fast64_t fail_countdown; /* 0: disarmed */
static atomic_bool fail_sticky;
static atomic_bool fail_firing;

static bool should_fail(void)
{
	uint_fast64_t n =
		atomic_load_explicit(&fail_countdown, memory_order_relaxed);

	if (atomic_load_explicit(&fail_firing, memory_order_relaxed))
		return true;
	while (n) {
		if (atomic_compare_exchange_weak_explicit(
			    &fail_countdown, &n, n - 1, memory_order_relaxed,
			    memory_order_relaxed)) {
			if (n != 1)
				return false;
			if (atomic_load_explicit(&fail_sticky,
						 memory_order_relaxed))
				atomic_store_explicit(&fail_firing, true,
						      memory_order_relaxed);
			return true;
		}
	}
	return false;
}

void *gpuvm_alloc(size_t size)
{
	void *p;

	gpuvm_context_check(GPUVM_RULE_ALLOC, "gpuvm_alloc()");
	if (should_fail()) {
		atomic_fetch_add_explicit(&failed_allocs, 1,
					  memory_order_relaxed);
		return NULL;
	}
	p = malloc(size ? size : 1);
	if (!p) {
		atomic_fetch_add_explicit(&failed_allocs, 1,
					  memory_order_relaxed);
		return NULL;
	}
	atomic_fetch_add_explicit(&live_allocs, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&live_bytes, size, memory_order_relaxed);
	atomic_fetch_add_explicit(&total_allocs, 1, memory_order_relaxed);
	return p;
}

void *gpuvm_zalloc(size_t size)
{
	void *p = gpuvm_alloc(size);

	if (p)
		memset(p, 0, size);
	return p;
}

void gpuvm_free(void *ptr, size_t size)
{
	if (!ptr)
		return;
	atomic_fetch_sub_explicit(&live_allocs, 1, memory_order_relaxed);
	atomic_fetch_sub_explicit(&live_bytes, size, memory_order_relaxed);
	free(ptr);
}

void gpuvm_alloc_get_stats(struct gpuvm_alloc_stats *stats)
{
	stats->live_allocs =
		atomic_load_explicit(&live_allocs, memory_order_relaxed);
	stats->live_bytes =
		atomic_load_explicit(&live_bytes, memory_order_relaxed);
	stats->total_allocs =
		atomic_load_explicit(&total_allocs, memory_order_relaxed);
	stats->failed_allocs =
		atomic_load_explicit(&failed_allocs, memory_order_relaxed);
}

void gpuvm_alloc_fail_nth(uint64_t nth, bool sticky)
{
	atomic_store_explicit(&fail_firing, false, memory_order_relaxed);
	atomic_store_explicit(&fail_sticky, sticky, memory_order_relaxed);
	atomic_store_explicit(&fail_countdown, nth, memory_order_relaxed);
}

bool gpuvm_alloc_fail_pending(void)
{
	return atomic_load_explicit(&fail_countdown, memory_order_relaxed) != 0;
}

/* Warnings. The handler is set before threads start (documented). */
static gpuvm_warn_fn warn_fn;
static void *warn_data;
static atomic_uint_fast64_t warn_count;

void gpuvm_set_warn_handler(gpuvm_warn_fn fn, void *data)
{
	warn_fn = fn;
	warn_data = data;
}

uint64_t gpuvm_warn_count(void)
{
	return atomic_load_explicit(&warn_count, memory_order_relaxed);
}

void gpuvm_warn(const char *fmt, ...)
{
	char buf[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	atomic_fetch_add_explicit(&warn_count, 1, memory_order_relaxed);
	if (warn_fn)
		warn_fn(buf, warn_data);
	else
		fprintf(stderr, "gpuvm: WARNING: %s\n", buf);
}
