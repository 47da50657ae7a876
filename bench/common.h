/* SPDX-License-Identifier: MIT */
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
#ifndef GPUVM_BENCH_COMMON_H
#define GPUVM_BENCH_COMMON_H

#include <stddef.h>
#include <stdint.h>

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

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t bench_now_ns(void);

/* The median of @n doubles (sorts @v). */
double bench_median(double *v, size_t n);

#endif /* GPUVM_BENCH_COMMON_H */
