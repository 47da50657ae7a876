/* SPDX-License-Identifier: MIT */
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
#ifndef GPUVM_TESTS_SYNC_DEATH_H
#define GPUVM_TESTS_SYNC_DEATH_H

/*
 * Death tests: run a function in a forked child and assert that it died of
 * SIGABRT after printing a message that contains a given text. The child's
 * standard error goes through a pipe so the parent can check the message;
 * its core dump is disabled to keep the test fast.
 *
 * Fork only copies the calling thread, so the function must not depend on
 * other threads running (it may rely on state they left, such as a lock
 * they hold), and it must not use cmocka's assertions.
 */

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <gpuvm/mutex.h>

static inline void td_expect_death_at(void (*fn)(void *), void *arg,
				      const char *expect, const char *file,
				      int line)
{
	char out[8192];
	size_t len = 0;
	int fds[2], status;
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	if (pipe(fds))
		fail_msg("%s:%d: pipe() failed", file, line);
	pid = fork();
	if (pid < 0)
		fail_msg("%s:%d: fork() failed", file, line);
	if (pid == 0) {
		struct rlimit rl = { 0, 0 };

		setrlimit(RLIMIT_CORE, &rl);
		signal(SIGABRT, SIG_DFL);
		close(fds[0]);
		dup2(fds[1], STDERR_FILENO);
		close(fds[1]);
		fn(arg);
		fprintf(stderr, "(returned normally)\n");
		_exit(0);
	}
	close(fds[1]);
	for (;;) {
		char tmp[512];
		ssize_t n = read(fds[0], tmp, sizeof(tmp));

		if (n < 0)
			continue;
		if (n == 0)
			break;
		if (len + (size_t)n < sizeof(out)) {
			memcpy(out + len, tmp, (size_t)n);
			len += (size_t)n;
		}
	}
	out[len] = '\0';
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0)
		;
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT)
		fail_msg("%s:%d: expected an abort, child %s %d; stderr:\n%s",
			 file, line,
			 WIFSIGNALED(status) ? "died of signal" : "exited with",
			 WIFSIGNALED(status) ? WTERMSIG(status)
					     : WEXITSTATUS(status),
			 out);
	if (!strstr(out, expect))
		fail_msg("%s:%d: the abort message lacks \"%s\"; stderr:\n%s",
			 file, line, expect, out);
}

/* Asserts that fn(arg) aborts with a message containing @expect. */
#define TD_EXPECT_DEATH(fn, arg, expect)                                       \
	td_expect_death_at((fn), (arg), (expect), __FILE__, __LINE__)

/* Death tests need the checks; release builds skip them. */
#define TD_NEED_CHECKS()                                                       \
	do {                                                                   \
		if (!gpuvm_checks_enabled())                                   \
			skip();                                                \
	} while (0)

#endif /* GPUVM_TESTS_SYNC_DEATH_H */
