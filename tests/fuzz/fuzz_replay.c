// SPDX-License-Identifier: MIT
/*
 * Copyright (c) 2026 The libgpuvm authors
 */

/*
 * libFuzzer target over the replay engine. Each input is replayed in both
 * engine modes with the invariant checks on; the target aborts when:
 *
 * - the two modes disagree in any byte of output, message or exit status
 *   (they drive the same split/merge walk two ways);
 * - a run ends with an internal error (no allocation fails here, so that
 *   means a broken invariant or a library call that misbehaved);
 * - an exit status is neither 0 nor 2, or the messages do not match it;
 * - a library allocation outlives the run.
 *
 * Built with GPUVM_FUZZ_STANDALONE, a main() runs the target over the files
 * named on the command line, so that every test run exercises it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gpuvm/alloc.h>

#include "replay.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct capture {
	char *out;
	size_t out_len;
	char *err;
	size_t err_len;
	int status;
};

static void die(const char *what, const struct capture *a,
		const struct capture *b)
{
	fprintf(stderr, "fuzz_replay: %s\n", what);
	fprintf(stderr, "--- callbacks: status %d\n%.*s%.*s", a->status,
		(int)a->out_len, a->out, (int)a->err_len, a->err);
	if (b)
		fprintf(stderr, "--- ops: status %d\n%.*s%.*s", b->status,
			(int)b->out_len, b->out, (int)b->err_len, b->err);
	abort();
}

static void run(const uint8_t *data, size_t size, enum replay_mode mode,
		struct capture *c)
{
	static const char empty[1];
	struct replay_options opt = { .mode = mode, .check = true };
	FILE *in, *out, *err;

	memset(c, 0, sizeof(*c));
	/* fmemopen() may refuse a zero size; an empty file is the same. */
	in = size ? fmemopen((void *)data, size, "r")
		  : fmemopen((void *)empty, 1, "r");
	out = open_memstream(&c->out, &c->out_len);
	err = open_memstream(&c->err, &c->err_len);
	if (!in || !out || !err) {
		perror("fuzz_replay");
		abort();
	}
	if (!size)
		fgetc(in);
	c->status = gpuvm_replay(in, "fuzz", out, err, &opt);
	fclose(in);
	fclose(out);
	fclose(err);
}

static void check_one(const struct capture *c)
{
	const char *nl;

	if (c->status == REPLAY_EXIT_OK) {
		if (c->err_len)
			die("messages after a complete run", c, NULL);
		return;
	}
	if (c->status != REPLAY_EXIT_FILE)
		die("unexpected exit status", c, NULL);
	/* A file error is one line naming the file and the line. */
	nl = memchr(c->err, '\n', c->err_len);
	if (strncmp(c->err, "fuzz:", 5) != 0 || !nl ||
	    (size_t)(nl - c->err) + 1 != c->err_len)
		die("malformed file error message", c, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gpuvm_alloc_stats before, after;
	struct capture a, b;

	gpuvm_alloc_get_stats(&before);
	run(data, size, REPLAY_MODE_CALLBACKS, &a);
	run(data, size, REPLAY_MODE_OPS, &b);
	gpuvm_alloc_get_stats(&after);

	if (after.live_allocs != before.live_allocs)
		die("library allocations leaked", &a, &b);
	if (a.status != b.status || a.out_len != b.out_len ||
	    a.err_len != b.err_len || memcmp(a.out, b.out, a.out_len) != 0 ||
	    memcmp(a.err, b.err, a.err_len) != 0)
		die("the two modes disagree", &a, &b);
	check_one(&a);

	free(a.out);
	free(a.err);
	free(b.out);
	free(b.err);
	return 0;
}

#ifdef GPUVM_FUZZ_STANDALONE
static int run_file(const char *path)
{
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0, n;
	FILE *f = fopen(path, "rb");

	if (!f) {
		perror(path);
		return -1;
	}
	for (;;) {
		if (len == cap) {
			uint8_t *nbuf;

			cap = cap ? cap * 2 : 4096;
			nbuf = realloc(buf, cap);
			if (!nbuf) {
				free(buf);
				fclose(f);
				return -1;
			}
			buf = nbuf;
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(f)) {
		perror(path);
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, len);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	int i, failed = 0;

	for (i = 1; i < argc; i++)
		if (run_file(argv[i]))
			failed = 1;
	printf("fuzz_replay: %d input%s\n", argc - 1, argc == 2 ? "" : "s");
	return failed;
}
#endif
