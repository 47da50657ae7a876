/* SPDX-License-Identifier: MIT */
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
#ifndef GPUVM_VM_INTERNAL_H
#define GPUVM_VM_INTERNAL_H

#include <stdlib.h>

#include <gpuvm/gpuvm.h>

#include "base/alloc_internal.h"

/* True if a + b does not fit in 64 bits. */
static inline bool gpuvm_add_overflows(uint64_t a, uint64_t b)
{
	return a + b < a;
}

/*
 * With -Dparanoid=true every mutating call re-checks the whole VM, the way
 * Mesa's util_vma_heap validates itself in debug builds. O(n) per call.
 */
#ifdef GPUVM_PARANOID
void gpuvm_paranoid_check(const struct gpuvm *vm, const char *where);

#define GPUVM_PARANOID_CHECK(vm) gpuvm_paranoid_check((vm), __func__)
#else
#define GPUVM_PARANOID_CHECK(vm) ((void)(vm))
#endif

/*
 * gpuva_unlink_defer() that says whether it dropped the vm_bo's last
 * reference (the vm_bo is a zombie, queued, and must not be touched), for
 * callers that count zombies without an extra reference round trip.
 */
bool gpuvm_va_unlink_defer_zombie(struct gpuva *va);

#endif /* GPUVM_VM_INTERNAL_H */
