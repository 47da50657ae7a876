// SPDX-License-Identifier: MIT
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "replay.h"
#include "run.h"
#include "show.h"

#ifndef GPUVM_VERSION
#define GPUVM_VERSION "unknown"
#endif

/* Exit status for a bad command line, as for a bad input file. */
#define EXIT_USAGE 2

/**
 * struct gpuvm_command - one subcommand
 * @name: what the user types
 * @run: the entry point; argv[0] is "gpuvm NAME", options follow
 * @summary: one line for `gpuvm --help`
 */
struct gpuvm_command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

static const struct gpuvm_command commands[] = {
	{ "replay", gpuvm_cmd_replay,
	  "replay a request file and print the split/merge operations" },
	{ "run", gpuvm_cmd_run,
	  "drive a VM through the bind queue with a workload and verify it" },
	{ "show", gpuvm_cmd_show,
	  "replay a request file and draw the final VA space as SVG" },
};

#define NR_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "Usage: gpuvm [--help] [--version] COMMAND [ARG]...\n"
		   "\n"
		   "Commands:\n");
	for (i = 0; i < NR_COMMANDS; i++)
		fprintf(f, "  %-10s %s\n", commands[i].name,
			commands[i].summary);
	fprintf(f, "\n"
		   "Run 'gpuvm COMMAND --help' for a command's options.\n");
}

static int print_and_exit(int status)
{
	return fflush(stdout) ? 1 : status;
}

/*
 * Each subcommand runs getopt_long() on its own argument vector, so the
 * parser's state must start afresh. glibc re-reads its settings (argument
 * permutation included) only when optind is 0; BSD libcs use optreset.
 */
static void getopt_restart(void)
{
#if defined(__GLIBC__)
	optind = 0;
#else
	optind = 1;
#if defined(__APPLE__) || defined(__FreeBSD__) || defined(__NetBSD__) ||       \
	defined(__OpenBSD__) || defined(__DragonFly__)
	optreset = 1;
#endif
#endif
}

int main(int argc, char **argv)
{
	static const struct option long_opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	static char prog[64];
	const struct gpuvm_command *cmd = NULL;
	size_t i;
	int c;

	/* Messages name the program the same way whatever the path. */
	argv[0] = "gpuvm";

	/* "+": stop at the command name, its options are its own. */
	while ((c = getopt_long(argc, argv, "+hV", long_opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage(stdout);
			return print_and_exit(0);
		case 'V':
			printf("gpuvm (libgpuvm) %s\n", GPUVM_VERSION);
			return print_and_exit(0);
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "gpuvm: missing command\n");
		usage(stderr);
		return EXIT_USAGE;
	}
	for (i = 0; i < NR_COMMANDS; i++)
		if (strcmp(argv[optind], commands[i].name) == 0)
			cmd = &commands[i];
	if (!cmd) {
		fprintf(stderr, "gpuvm: unknown command '%s'\n", argv[optind]);
		usage(stderr);
		return EXIT_USAGE;
	}

	snprintf(prog, sizeof(prog), "gpuvm %s", cmd->name);
	argc -= optind;
	argv += optind;
	argv[0] = prog;
	getopt_restart();
	return cmd->run(argc, argv);
}
