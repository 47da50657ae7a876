// SPDX-License-Identifier: MIT
/*
 * Copyright (c) 2026 The libgpuvm authors
 */

/*
 * Allocation failures during a replay. For every input given on the command
 * line and in both engine modes, the library's 1st, 2nd, ... allocation is
 * made to fail (then all of them at once). Each run must either stop with
 * "out of memory" and exit status 1 after printing a prefix of the normal
 * output, or, where the library absorbs the failure, print exactly the
 * normal output; and no library allocation may outlive the run.
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <gpuvm/alloc.h>

#include "replay.h"

/* Far more allocations than any golden input makes. */
#define MAX_FAILURE_POINTS 100000

struct capture {
	char *out;
	size_t out_len;
	char *err;
	size_t err_len;
	int status;
};

static uint64_t live_allocs(void)
{
	struct gpuvm_alloc_stats stats;

	gpuvm_alloc_get_stats(&stats);
	return stats.live_allocs;
}

static void run(const char *path, enum replay_mode mode, struct capture *c)
{
	struct replay_options opt = { .mode = mode, .check = true };
	FILE *in, *out, *err;

	memset(c, 0, sizeof(*c));
	in = fopen(path, "r");
	assert_non_null(in);
	out = open_memstream(&c->out, &c->out_len);
	assert_non_null(out);
	err = open_memstream(&c->err, &c->err_len);
	assert_non_null(err);
	c->status = gpuvm_replay(in, "input", out, err, &opt);
	fclose(in);
	fclose(out);
	fclose(err);
}

static void capture_free(struct capture *c)
{
	free(c->out);
	free(c->err);
}

static void check_failed_run(const struct capture *base,
			     const struct capture *c, uint64_t n)
{
	if (c->status == REPLAY_EXIT_INTERNAL) {
		if (c->out_len > base->out_len ||
		    memcmp(c->out, base->out, c->out_len) != 0)
			fail_msg("failure %" PRIu64 ": the output is not a "
				 "prefix of the normal output",
				 n);
		if (!strstr(c->err, "out of memory"))
			fail_msg("failure %" PRIu64 ": unexpected message: %s",
				 n, c->err);
		return;
	}
	assert_int_equal(c->status, base->status);
	assert_int_equal(c->out_len, base->out_len);
	assert_memory_equal(c->out, base->out, c->out_len);
	assert_string_equal(c->err, base->err);
}

static void check_mode(const char *path, enum replay_mode mode)
{
	uint64_t live = live_allocs();
	struct capture base, c;
	uint64_t n;
	bool fired;

	run(path, mode, &base);
	assert_int_equal(live_allocs(), live);
	if (base.status != REPLAY_EXIT_OK && base.status != REPLAY_EXIT_FILE)
		fail_msg("%s: exit status %d without failures: %s", path,
			 base.status, base.err);

	for (n = 1; n < MAX_FAILURE_POINTS; n++) {
		gpuvm_alloc_fail_nth(n, false);
		run(path, mode, &c);
		fired = !gpuvm_alloc_fail_pending();
		gpuvm_alloc_fail_nth(0, false);
		assert_int_equal(live_allocs(), live);
		if (!fired) {
			/* The run made fewer than n allocations. */
			assert_int_equal(c.status, base.status);
			assert_int_equal(c.out_len, base.out_len);
			assert_memory_equal(c.out, base.out, c.out_len);
		} else {
			check_failed_run(&base, &c, n);
		}
		capture_free(&c);
		if (!fired)
			break;
	}
	assert_true(n < MAX_FAILURE_POINTS);
	print_message("%s, %s mode: %" PRIu64 " allocation%s failed in turn\n",
		      path, mode == REPLAY_MODE_OPS ? "ops" : "callbacks",
		      n - 1, n == 2 ? "" : "s");

	gpuvm_alloc_fail_nth(1, true);
	run(path, mode, &c);
	gpuvm_alloc_fail_nth(0, false);
	assert_int_equal(live_allocs(), live);
	check_failed_run(&base, &c, 0);
	capture_free(&c);
	capture_free(&base);
}

static void test_input(void **state)
{
	const char *path = *state;

	check_mode(path, REPLAY_MODE_CALLBACKS);
	check_mode(path, REPLAY_MODE_OPS);
}

int main(int argc, char **argv)
{
	struct CMUnitTest *tests;
	int i, ret;

	if (argc < 2) {
		fprintf(stderr, "usage: %s INPUT...\n", argv[0]);
		return 2;
	}
	tests = calloc((size_t)argc - 1, sizeof(*tests));
	if (!tests)
		return 1;
	for (i = 1; i < argc; i++) {
		const char *base = strrchr(argv[i], '/');

		tests[i - 1].name = base ? base + 1 : argv[i];
		tests[i - 1].test_func = test_input;
		tests[i - 1].initial_state = argv[i];
	}
	ret = _cmocka_run_group_tests("replay_oom", tests, (size_t)argc - 1,
				      NULL, NULL);
	free(tests);
	return ret;
}
