/* SPDX-License-Identifier: MIT */
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
#ifndef GPUVM_TOOLS_SHOW_H
#define GPUVM_TOOLS_SHOW_H

/*
 * DOC: gpuvm show
 *
 * Replays a file with the replay engine (its output discarded) and draws the
 * VA space the file leaves behind as an SVG picture: an address axis, one
 * rectangle per mapping coloured by its buffer object, the reserved cut-out,
 * a legend and a summary. When there are more mappings than the picture has
 * room for, each pixel column becomes a bin that shows the object covering
 * most of it, with a height proportional to how much of it is mapped, and a
 * detail strip shows the densest region (or the --range region) mapping by
 * mapping. The same input always gives the same bytes.
 */

/**
 * gpuvm_cmd_show() - the `gpuvm show` subcommand
 * @argc: argument count; @argv[0] is the command's display name
 * @argv: arguments
 *
 * Return: the process exit status: 0, 1 for an internal error (out of
 * memory, a write error), 2 for an error in the file or on the command line.
 */
int gpuvm_cmd_show(int argc, char **argv);

#endif /* GPUVM_TOOLS_SHOW_H */
