/* SPDX-License-Identifier: MIT */
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
#ifndef GPUVM_BASE_ALLOC_INTERNAL_H
#define GPUVM_BASE_ALLOC_INTERNAL_H

#include <stddef.h>

#include <gpuvm/alloc.h>

/*
 * The library's one allocator entry. Every allocation goes through
 * gpuvm_alloc() / gpuvm_zalloc(), every free through gpuvm_free() with the
 * size that was allocated, so that the live-byte count is exact without a
 * per-allocation header.
 */
void *gpuvm_alloc(size_t size);
void *gpuvm_zalloc(size_t size);
void gpuvm_free(void *ptr, size_t size);

/* The library's WARN: a message to the warn handler, counted. */
#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
void gpuvm_warn(const char *fmt, ...);

#if defined(__GNUC__)
#define gpuvm_likely(x)	  __builtin_expect(!!(x), 1)
#define gpuvm_unlikely(x) __builtin_expect(!!(x), 0)
/* Cache hints: start loading *(p) for reading, or for writing. */
#define gpuvm_prefetch(p)   __builtin_prefetch((p))
#define gpuvm_prefetch_w(p) __builtin_prefetch((p), 1)
#else
#define gpuvm_likely(x)	    (x)
#define gpuvm_unlikely(x)   (x)
#define gpuvm_prefetch(p)   ((void)(p))
#define gpuvm_prefetch_w(p) ((void)(p))
#endif

#endif /* GPUVM_BASE_ALLOC_INTERNAL_H */
