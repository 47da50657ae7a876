/* SPDX-License-Identifier: MIT */
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
#ifndef GPUVM_BENCH_COMMON_H
#define GPUVM_BENCH_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/*
 * What every benchmark program prints about the machine it ran on, and the
 * small helpers they share.
 */

/**
 * struct bench_machine - the machine a benchmark ran on
 * @cpu: the CPU model from /proc/cpuinfo
 * @nproc: online CPUs
 * @kernel: system, release and architecture
 * @date: UTC start time, ISO 8601
 * @load_start: the 1/5/15-minute load averages at start
 */
struct bench_machine {
	char cpu[128];
	long nproc;
	char kernel[200];
	char date[32];
	char load_start[64];
};

/* Fills @m; fields that cannot be read say "unknown". */
void bench_read_machine(struct bench_machine *m);

/* The load averages now, as "1.00 0.50 0.25". */
void bench_read_loadavg(char *buf, size_t len);

/* The compiler that built the benchmark: "gcc 12.2.0", "clang 14.0.6". */
const char *bench_compiler(void);

/*
 * The compiler's family alone: "gcc", "clang" or "cc", for output that
 * gives the version (__VERSION__) in a field of its own.
 */
const char *bench_compiler_name(void);

/*
 * CLOCK_MONOTONIC in nanoseconds. Inline because the benchmarks read it at
 * both ends of short timed intervals: a call into another file would add
 * its own cost to every interval.
 */
static inline uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * UINT64_C(1000000000) +
	       (uint64_t)ts.tv_nsec;
}

/* Sorts @n doubles into ascending order. */
void bench_sort_doubles(double *v, size_t n);

/*
 * The median of @n doubles (sorts @v); for an even @n the mean of the two
 * middle values, 0 for none.
 */
double bench_median(double *v, size_t n);

/*
 * The @q quantile (0..1) of @n doubles already sorted, by nearest rank: no
 * interpolation, so the result is one of the samples. @q = 0.5 gives
 * v[n / 2], the upper of the two middle values for an even @n. 0 for none.
 */
double bench_quantile(const double *v, size_t n, double q);

#endif /* GPUVM_BENCH_COMMON_H */
