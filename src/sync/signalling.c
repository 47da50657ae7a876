// SPDX-License-Identifier: MIT
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
#include <stdio.h>

#include <gpuvm/fence.h>

#include "base/context_internal.h"

/*
 * The public face of the base layer's context checker. The public rule enum
 * mirrors the internal one value for value, so the handler trampoline below
 * is a cast.
 */
_Static_assert((int)GPUVM_VIOLATION_ALLOC == (int)GPUVM_RULE_ALLOC,
	       "rule enums out of step");
_Static_assert((int)GPUVM_VIOLATION_WW_LOCK == (int)GPUVM_RULE_WW_LOCK,
	       "rule enums out of step");
_Static_assert((int)GPUVM_VIOLATION_FENCE_WAIT == (int)GPUVM_RULE_FENCE_WAIT,
	       "rule enums out of step");
_Static_assert((int)GPUVM_VIOLATION_GEM_PUT == (int)GPUVM_RULE_GEM_PUT,
	       "rule enums out of step");
_Static_assert((int)GPUVM_VIOLATION_VM_PUT == (int)GPUVM_RULE_VM_PUT,
	       "rule enums out of step");
_Static_assert((int)GPUVM_VIOLATION_UNBALANCED == (int)GPUVM_RULE_UNBALANCED,
	       "rule enums out of step");

/* Set before threads start, like the base layer's pair (documented). */
static gpuvm_violation_fn user_fn;

static void trampoline(enum gpuvm_rule rule, const char *msg, void *data)
{
	user_fn((enum gpuvm_violation)rule, msg, data);
}

void gpuvm_set_violation_handler(gpuvm_violation_fn fn, void *data)
{
	user_fn = fn;
	gpuvm_context_set_handler(fn ? trampoline : NULL, fn ? data : NULL);
}

void gpuvm_fence_begin_signalling_at(const char *file, int line,
				     const char *func)
{
	gpuvm_context_enter(file, line, func);
}

void gpuvm_fence_end_signalling_at(const char *file, int line, const char *func)
{
	gpuvm_context_leave(file, line, func);
}

bool gpuvm_in_signalling_section(void)
{
	return gpuvm_context_in_section();
}

#ifdef GPUVM_CHECKS
static void might(enum gpuvm_rule rule, const char *name, const char *file,
		  int line, const char *func)
{
	char what[256];

	if (!gpuvm_context_in_section())
		return;
	snprintf(what, sizeof(what), "%s() at %s:%d (%s)", name,
		 file ? file : "?", line, func ? func : "?");
	gpuvm_context_violation(rule, what);
}
#endif

void gpuvm_might_alloc_at(const char *file, int line, const char *func)
{
#ifdef GPUVM_CHECKS
	might(GPUVM_RULE_ALLOC, "gpuvm_might_alloc", file, line, func);
#else
	(void)file;
	(void)line;
	(void)func;
#endif
}

void gpuvm_might_wait_at(const char *file, int line, const char *func)
{
#ifdef GPUVM_CHECKS
	might(GPUVM_RULE_FENCE_WAIT, "gpuvm_might_wait", file, line, func);
#else
	(void)file;
	(void)line;
	(void)func;
#endif
}
