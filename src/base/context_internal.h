/* SPDX-License-Identifier: MIT */
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
#ifndef GPUVM_BASE_CONTEXT_INTERNAL_H
#define GPUVM_BASE_CONTEXT_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

/*
 * The context checker: per-thread state saying whether the thread is inside
 * a fence-signalling section, and the rules checked there. It lives in the
 * base layer because the allocator entry (base) consults it and a lower layer
 * never includes a higher one; the sync layer exposes it as the public
 * gpuvm_fence_begin_signalling() family.
 *
 * GPUVM_CHECKS is the one switch for every run-time check of the library:
 * set when assertions are (!NDEBUG), unset in release builds, where the rule
 * checks below compile to nothing. The section depth itself is tracked in
 * every build: it is two thread-local stores per section and lets users ask
 * gpuvm_in_signalling_section() in any build.
 */
#if !defined(NDEBUG)
#define GPUVM_CHECKS 1
#endif

/* The rules of the fence-signalling path, as the checker names them. */
enum gpuvm_rule {
	GPUVM_RULE_ALLOC = 1,
	GPUVM_RULE_WW_LOCK,
	GPUVM_RULE_FENCE_WAIT,
	GPUVM_RULE_GEM_PUT,
	GPUVM_RULE_VM_PUT,
	GPUVM_RULE_UNBALANCED,
};

/*
 * Receives a violation: the rule and the full message (without newline). The
 * default handler prints the message to standard error and aborts.
 */
typedef void (*gpuvm_context_handler_fn)(enum gpuvm_rule rule, const char *msg,
					 void *data);

/* This thread's section nesting depth; 0 outside any section. */
extern _Thread_local unsigned int gpuvm_context_depth;

void gpuvm_context_enter(const char *file, int line, const char *func);
void gpuvm_context_leave(const char *file, int line, const char *func);

/* Reports that @what broke @rule inside the current section. */
void gpuvm_context_violation(enum gpuvm_rule rule, const char *what);

/* Installs @fn (NULL: the default handler). Set before threads start. */
void gpuvm_context_set_handler(gpuvm_context_handler_fn fn, void *data);

static inline bool gpuvm_context_in_section(void)
{
	return gpuvm_context_depth != 0;
}

/*
 * gpuvm_context_check() - the hook placed on every forbidden operation
 * @rule: the rule the operation would break inside a section
 * @what: the operation, e.g. "gpuvm_alloc()"
 *
 * Free outside sections (one thread-local load) and absent from release
 * builds. Callers pass a constant string; formatting happens only on a
 * violation.
 */
static inline void gpuvm_context_check(enum gpuvm_rule rule, const char *what)
{
#ifdef GPUVM_CHECKS
	if (gpuvm_context_depth)
		gpuvm_context_violation(rule, what);
#else
	(void)rule;
	(void)what;
#endif
}

/*
 * A per-thread identity for owner tracking: the address of a thread-local
 * object, so never 0, distinct for every live thread, and cheap to read. An
 * exited thread's identity may be reused by a new thread, which only matters
 * to a thread that exits holding a lock (a bug in itself).
 */
uintptr_t gpuvm_thread_self(void);

/* Prints "gpuvm: BUG: <msg>" to standard error and aborts. */
#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
_Noreturn void
gpuvm_bug(const char *fmt, ...);

#endif /* GPUVM_BASE_CONTEXT_INTERNAL_H */
