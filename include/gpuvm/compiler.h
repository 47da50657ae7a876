/* SPDX-License-Identifier: MIT */
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
#ifndef GPUVM_COMPILER_H
#define GPUVM_COMPILER_H

#include <stddef.h>

/*
 * DOC: Symbol visibility
 *
 * The library is built with -fvisibility=hidden. Only declarations marked
 * GPUVM_EXPORT are part of the ABI; tests/symbols.txt lists them and a test
 * fails when the shared object exports anything else.
 */
#if defined(GPUVM_BUILDING_LIBRARY) && defined(__GNUC__)
#define GPUVM_EXPORT __attribute__((visibility("default")))
#else
#define GPUVM_EXPORT
#endif

/**
 * gpuvm_container_of() - recover the enclosing object of an embedded member
 * @ptr: pointer to the member
 * @type: type of the enclosing struct
 * @member: name of the member within @type
 *
 * Plain C11: the type is named explicitly instead of being inferred.
 */
#define gpuvm_container_of(ptr, type, member)                                  \
	((type *)(void *)((char *)(ptr)-offsetof(type, member)))

#endif /* GPUVM_COMPILER_H */
