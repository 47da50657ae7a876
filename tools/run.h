/* SPDX-License-Identifier: MIT */
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
#ifndef GPUVM_TOOLS_RUN_H
#define GPUVM_TOOLS_RUN_H

/*
 * DOC: gpuvm run
 *
 * Drives one immediate-mode VM with a software page table through the bind
 * queue with a synthetic workload (kv-cache, sparse-texture or churn) from
 * several submitting threads and queues, then prints throughput, latency,
 * memory and page-table figures and checks, page by page, that the page
 * table mirrors the VA tree. Everything but timing follows from --seed.
 */

/**
 * gpuvm_cmd_run() - the `gpuvm run` subcommand
 * @argc: argument count; @argv[0] is the command's display name
 * @argv: arguments
 *
 * Return: the process exit status: 0, 1 for a failed verification, a
 * library error or a fence-signalling violation, 2 for a bad command line.
 */
int gpuvm_cmd_run(int argc, char **argv);

#endif /* GPUVM_TOOLS_RUN_H */
