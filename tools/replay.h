/* SPDX-License-Identifier: MIT */
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
#ifndef GPUVM_TOOLS_REPLAY_H
#define GPUVM_TOOLS_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct gpuvm;
struct gpuvm_gem;

/*
 * DOC: The replay engine
 *
 * Reads a file in the replay format (version 1), drives a fresh VM through
 * the library's public split/merge API and prints what happened.
 * It is a plain function so that the command line, the fuzzer and the tests
 * all run the very same code. Everything it allocates is freed before it
 * returns, whatever the outcome.
 */

/* Exit statuses of gpuvm_replay() and of `gpuvm replay`. */
#define REPLAY_EXIT_OK	     0
#define REPLAY_EXIT_INTERNAL 1
#define REPLAY_EXIT_FILE     2

/* Names longer than this are rejected with a file error. */
#define REPLAY_NAME_MAX 4096

/**
 * enum replay_mode - how requests are handed to the library
 * @REPLAY_MODE_CALLBACKS: gpuvm_sm_map()/gpuvm_sm_unmap() with step
 *                         callbacks that print and apply each op
 * @REPLAY_MODE_OPS: gpuvm_sm_*_ops_create(), print the list, then apply it
 *
 * Both modes must print the same bytes for the same input.
 */
enum replay_mode {
	REPLAY_MODE_CALLBACKS,
	REPLAY_MODE_OPS,
};

/**
 * struct replay_options - knobs of a replay run
 * @mode: see enum replay_mode
 * @check: run gpuvm_check_invariants() after every request; a broken
 *         invariant is an internal error
 * @final: if set, called once after a complete run, before the final state
 *         is printed and the VM torn down, so that a caller can look at the
 *         VM the file built; it returns 0 or a REPLAY_EXIT_* status that
 *         becomes the run's (it reports its own error then)
 * @priv: passed to @final
 */
struct replay_options {
	enum replay_mode mode;
	bool check;
	int (*final)(struct gpuvm *vm, void *priv);
	void *priv;
};

/**
 * replay_mode_parse() - parse a mode name
 * @s: "callbacks" or "ops"
 * @mode: receives the mode
 *
 * Return: true if @s names a mode.
 */
bool replay_mode_parse(const char *s, enum replay_mode *mode);

/**
 * replay_bo_name() - what a replay's buffer object was declared as
 * @obj: the object of a mapping of the VM handed to replay_options.final,
 *       or NULL for a mapping without one
 * @index: if not NULL, receives the object's rank in declaration order
 *         (0 for the first 'bo' of the file, and for NULL)
 *
 * Only valid during the final callback: the objects go with the run.
 *
 * Return: the declared name, or "-" for NULL.
 */
const char *replay_bo_name(const struct gpuvm_gem *obj, size_t *index);

/**
 * gpuvm_replay() - run a replay file
 * @in: the input, read to its end (or to the first file error)
 * @name: the file name used in error messages
 * @out: receives the output of the format
 * @err: receives error messages (one line each)
 * @opt: options; NULL for the defaults (callbacks, no checks)
 *
 * @out is flushed before anything is written to @err, so that the two
 * streams interleave sensibly on a terminal.
 *
 * Return: REPLAY_EXIT_OK after a complete run, REPLAY_EXIT_FILE for an error
 * in the file (or a read error), REPLAY_EXIT_INTERNAL when the run could not
 * complete for another reason (out of memory, a write error on @out, a
 * library failure).
 */
int gpuvm_replay(FILE *in, const char *name, FILE *out, FILE *err,
		 const struct replay_options *opt);

/**
 * gpuvm_cmd_replay() - the `gpuvm replay` subcommand
 * @argc: argument count; @argv[0] is the command's display name
 * @argv: arguments
 *
 * Return: the process exit status.
 */
int gpuvm_cmd_replay(int argc, char **argv);

#endif /* GPUVM_TOOLS_REPLAY_H */
