/* SPDX-License-Identifier: MIT */
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
#ifndef GPUVM_TESTS_QUEUE_HELDALLOC_H
#define GPUVM_TESTS_QUEUE_HELDALLOC_H

/*
 * "Nothing allocates while holding a lock the run path takes." Every
 * gpuvm_mutex is such a lock (the bind context's tree lock, the objects'
 * gpuva mutexes, the VM's list locks), and the fence-signalling checker
 * only sees allocations inside a section. So the queue tests link the
 * static library with the linker's --wrap on the mutex entries and on the
 * allocator entries: each thread counts the gpuvm_mutexes it holds, and an
 * allocation made while the count is not zero is recorded here, wherever
 * it happens (submit, cleanup, a read-side helper).
 *
 * When the linker lacks --wrap, meson leaves GPUVM_HELDALLOC undefined and
 * ha_available() says so.
 */

#include <stdbool.h>

/* Whether the wrappers are linked in. */
bool ha_available(void);

/* Allocations made while holding a gpuvm_mutex, since the process began. */
unsigned int ha_count(void);

/* The first such allocation's description, or "". */
const char *ha_first(void);

#endif /* GPUVM_TESTS_QUEUE_HELDALLOC_H */
