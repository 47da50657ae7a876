// SPDX-License-Identifier: MIT
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/context_internal.h"

/*
 * Per-thread section state. Only the owning thread reads or writes it, so it
 * needs no atomics. The entry call site is that of the outermost section:
 * nested sections are part of it, and a violation is reported against the
 * place where the thread first promised to signal.
 */
_Thread_local unsigned int gpuvm_context_depth;
static _Thread_local const char *entry_file;
static _Thread_local int entry_line;
static _Thread_local const char *entry_func;

/* Its address is the thread's identity (see gpuvm_thread_self()). */
static _Thread_local char thread_tag;

/*
 * The handler is a plain pair of variables, set before other threads use the
 * library (documented with the public setter): a handler swap racing with a
 * violation would otherwise need the pair to be read atomically.
 */
static gpuvm_context_handler_fn handler;
static void *handler_data;

uintptr_t gpuvm_thread_self(void)
{
	return (uintptr_t)(void *)&thread_tag;
}

void gpuvm_bug(const char *fmt, ...)
{
	va_list ap;

	fputs("gpuvm: BUG: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
	abort();
}

void gpuvm_context_set_handler(gpuvm_context_handler_fn fn, void *data)
{
	handler = fn;
	handler_data = data;
}

static const char *rule_phrase(enum gpuvm_rule rule)
{
	switch (rule) {
	case GPUVM_RULE_ALLOC:
		return "allocates";
	case GPUVM_RULE_WW_LOCK:
		return "takes a ww-mutex (reservation lock)";
	case GPUVM_RULE_FENCE_WAIT:
		return "waits on a fence";
	case GPUVM_RULE_GEM_PUT:
		return "drops the last reference of a GEM object";
	case GPUVM_RULE_VM_PUT:
		return "drops the last reference of a VM";
	case GPUVM_RULE_UNBALANCED:
		return "ends a fence-signalling section";
	}
	return "breaks an unknown rule";
}

/*
 * Formats on the stack: the path that reports an allocation inside a section
 * must not allocate itself.
 */
static void report(enum gpuvm_rule rule, const char *what)
{
	char msg[512];

	if (rule == GPUVM_RULE_UNBALANCED)
		snprintf(msg, sizeof(msg),
			 "fence-signalling rule broken: %s %s that this thread "
			 "is not in",
			 what, rule_phrase(rule));
	else
		snprintf(msg, sizeof(msg),
			 "fence-signalling rule broken: %s %s inside a "
			 "fence-signalling section entered at %s:%d (%s)",
			 what, rule_phrase(rule), entry_file ? entry_file : "?",
			 entry_line, entry_func ? entry_func : "?");
	if (handler) {
		handler(rule, msg, handler_data);
		return;
	}
	fprintf(stderr, "gpuvm: %s\n", msg);
	fflush(stderr);
	abort();
}

void gpuvm_context_violation(enum gpuvm_rule rule, const char *what)
{
	report(rule, what);
}

void gpuvm_context_enter(const char *file, int line, const char *func)
{
	if (gpuvm_context_depth++ == 0) {
		entry_file = file;
		entry_line = line;
		entry_func = func;
	}
}

void gpuvm_context_leave(const char *file, int line, const char *func)
{
	if (gpuvm_context_depth == 0) {
#ifdef GPUVM_CHECKS
		char what[256];

		snprintf(what, sizeof(what),
			 "gpuvm_fence_end_signalling() at %s:%d (%s)",
			 file ? file : "?", line, func ? func : "?");
		report(GPUVM_RULE_UNBALANCED, what);
#else
		(void)file;
		(void)line;
		(void)func;
#endif
		return;
	}
	gpuvm_context_depth--;
}
