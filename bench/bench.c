// SPDX-License-Identifier: MIT
/*
 * Copyright (c) 2026 The libgpuvm authors
 *
 * gpuvm-bench: what a VM request costs at 10^3..10^6 live mappings, next to
 * what the same keys cost in well-known ordered maps (JudyL, GLib's GTree)
 * and in the library's own tree used bare, in the same run. It prints a
 * table, memory per mapping, and the stated targets with the measured value
 * and PASS or MISS; --json adds a machine-readable document.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "common.h"

#ifndef GPUVM_BENCH_BUILDTYPE
#define GPUVM_BENCH_BUILDTYPE "unknown"
#endif
#ifndef GPUVM_BENCH_VERSION
#define GPUVM_BENCH_VERSION "unknown"
#endif

uint64_t bench_clock_overhead;
volatile uint64_t bench_sink;

#define MAX_SIZES 16

/* The targets are stated for these sizes. */
#define TARGET_BIG    1000000
#define TARGET_SMALL  1000
#define TARGET_RATIO  1.5
#define TARGET_GROWTH 4.0
#define TARGET_BYTES  96.0

static const char *const impl_names[NR_IMPLS] = {
	[IMPL_GPUVM] = "gpuvm",
	[IMPL_VATREE] = "va_tree",
	[IMPL_JUDY] = "judyl",
	[IMPL_GTREE] = "gtree",
};

static const char *const pattern_names[NR_PATTERNS] = {
	[PAT_RANDOM] = "random",
	[PAT_SEQ] = "sequential",
};

static const char *const op_names[NR_OPS] = {
	[OP_MAP0] = "map_over0", [OP_MAP1] = "map_over1",
	[OP_MAP2] = "map_over2", [OP_SPLIT2] = "map_split2",
	[OP_UNMAP] = "unmap",	 [OP_FIND] = "find_first",
	[OP_LOOKUP] = "lookup",	 [OP_INSERT] = "insert",
	[OP_REMOVE] = "remove",
};

static const char *const op_help[NR_OPS] = {
	[OP_MAP0] = "sm_map into a hole: MAP",
	[OP_MAP1] = "sm_map exactly over one mapping: UNMAP + MAP",
	[OP_MAP2] = "sm_map exactly over two neighbours (and any hole "
		    "between): UNMAP x2 + MAP",
	[OP_SPLIT2] = "sm_map from the middle of one mapping to the middle "
		      "of the next: REMAP x2 + MAP",
	[OP_UNMAP] = "sm_unmap exactly one mapping: UNMAP",
	[OP_FIND] = "gpuva_find_first of one page, half hits",
	[OP_LOOKUP] = "gpuva_find of an existing mapping (range compared)",
	[OP_INSERT] = "gpuva_insert",
	[OP_REMOVE] = "gpuva_remove",
};

static const enum bench_loop op_loop[NR_OPS] = {
	[OP_MAP0] = LOOP_UNMAP_MAP0,
	[OP_MAP1] = LOOP_MAP1,
	[OP_MAP2] = LOOP_MAP2,
	[OP_SPLIT2] = LOOP_SPLIT2,
	[OP_UNMAP] = LOOP_UNMAP_MAP0,
	[OP_FIND] = LOOP_FIND,
	[OP_LOOKUP] = LOOP_LOOKUP,
	[OP_INSERT] = LOOP_REMOVE_INSERT,
	[OP_REMOVE] = LOOP_REMOVE_INSERT,
};

struct options {
	size_t sizes[MAX_SIZES];
	size_t nr_sizes;
	unsigned int reps;
	size_t nops;
	uint64_t seed;
	bool quick;
	bool check;
	bool only[NR_LOOPS];
	bool filtered;
	bool json;
	const char *json_path;
};

/*
 * med: median over timed batches; mean: all timed ns over all requests;
 * min, max: of the per-repetition means.
 */
struct op_stat {
	bool valid;
	double med[NR_IMPLS];
	double mean[NR_IMPLS];
	double min[NR_IMPLS];
	double max[NR_IMPLS];
	size_t nr_samples;
	double gpuvm_allocs_per_kop;
};

struct run {
	size_t n;
	enum bench_pattern pat;
	size_t batch;
	size_t lag;
	double seconds;
	double find_hit_rate;
	double build_ns[NR_IMPLS];
	struct bench_mem mem_build;
	struct bench_mem mem_after;
	struct op_stat op[NR_OPS];
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: gpuvm-bench [options]\n"
		"  --sizes N[,N...]  live mappings per run (default "
		"1e3,1e4,1e5,1e6)\n"
		"  --quick           short run: sizes 1e3,1e4, 3 reps, fewer "
		"requests\n"
		"  --reps N          repetitions per figure; the median is "
		"reported (default 5)\n"
		"  --ops N           requests per repetition (default 50000)\n"
		"  --seed N          random seed (default 1, or $GPUVM_SEED)\n"
		"  --json [FILE]     write JSON to FILE, or after the table to "
		"standard output\n"
		"  --only OP[,OP...] run only the experiments measuring these "
		"ops\n"
		"  --check           verify every invariant after each "
		"experiment (slow)\n"
		"  --help            this text\n"
		"Unless G_SLICE is set, the program restarts itself once with "
		"G_SLICE=always-malloc\nso that GTree nodes come from malloc "
		"and their memory can be measured.\n");
}

static bool parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end)
		return false;
	*out = v;
	return true;
}

/* Accepts 1000 as well as 1e3. */
static bool parse_size(const char *s, size_t len, size_t *out)
{
	char buf[64], *end;
	double v;

	if (!len || len >= sizeof(buf))
		return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	errno = 0;
	v = strtod(buf, &end);
	if (errno || end == buf || *end || v < 16 || v > 1e8 || v != floor(v))
		return false;
	*out = (size_t)v;
	return true;
}

static void parse_sizes(struct options *o, const char *arg)
{
	const char *p = arg;

	o->nr_sizes = 0;
	while (*p) {
		size_t len = strcspn(p, ",");

		if (o->nr_sizes == MAX_SIZES ||
		    !parse_size(p, len, &o->sizes[o->nr_sizes]))
			bench_die("bad --sizes '%s' (16..1e8, at most %d)", arg,
				  MAX_SIZES);
		o->nr_sizes++;
		p += len;
		if (*p == ',')
			p++;
	}
	if (!o->nr_sizes)
		bench_die("empty --sizes");
}

static void parse_only(struct options *o, const char *arg)
{
	const char *p = arg;
	unsigned int op;

	o->filtered = true;
	while (*p) {
		size_t len = strcspn(p, ",");

		for (op = 0; op < NR_OPS; op++) {
			if (strlen(op_names[op]) == len &&
			    !strncmp(op_names[op], p, len))
				break;
		}
		if (op == NR_OPS)
			bench_die("unknown op in --only '%s'", arg);
		o->only[op_loop[op]] = true;
		p += len;
		if (*p == ',')
			p++;
	}
}

static void parse_options(struct options *o, int argc, char **argv)
{
	static const size_t full[] = { 1000, 10000, 100000, 1000000 };
	const char *sizes = NULL, *env = getenv("GPUVM_SEED");
	uint64_t v;
	int reps = -1;
	long long nops = -1;
	int i;

	memset(o, 0, sizeof(*o));
	o->seed = 1;
	if (env && !parse_u64(env, &o->seed))
		bench_die("bad GPUVM_SEED '%s'", env);
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *next = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			exit(0);
		} else if (!strcmp(a, "--quick")) {
			o->quick = true;
		} else if (!strcmp(a, "--only") && next) {
			parse_only(o, next);
			i++;
		} else if (!strcmp(a, "--check")) {
			o->check = true;
		} else if (!strcmp(a, "--sizes") && next) {
			sizes = next;
			i++;
		} else if (!strncmp(a, "--sizes=", 8)) {
			sizes = a + 8;
		} else if (!strcmp(a, "--seed") && next) {
			if (!parse_u64(next, &o->seed))
				bench_die("bad --seed '%s'", next);
			i++;
		} else if (!strcmp(a, "--reps") && next) {
			if (!parse_u64(next, &v) || v < 1 || v > 1000)
				bench_die("bad --reps '%s' (1..1000)", next);
			reps = (int)v;
			i++;
		} else if (!strcmp(a, "--ops") && next) {
			if (!parse_u64(next, &v) || v < 1 || v > 100000000)
				bench_die("bad --ops '%s'", next);
			nops = (long long)v;
			i++;
		} else if (!strcmp(a, "--json")) {
			o->json = true;
			if (next && next[0] != '-') {
				o->json_path = next;
				i++;
			}
		} else if (!strncmp(a, "--json=", 7)) {
			o->json = true;
			o->json_path = a + 7;
		} else {
			usage(stderr);
			bench_die("unknown or incomplete option '%s'", a);
		}
	}
	if (o->json_path && !strcmp(o->json_path, "-"))
		o->json_path = NULL;

	if (sizes) {
		parse_sizes(o, sizes);
	} else if (o->quick) {
		o->sizes[0] = 1000;
		o->sizes[1] = 10000;
		o->nr_sizes = 2;
	} else {
		memcpy(o->sizes, full, sizeof(full));
		o->nr_sizes = sizeof(full) / sizeof(full[0]);
	}
	o->reps = reps > 0 ? (unsigned int)reps : (o->quick ? 3 : 5);
	o->nops = nops > 0 ? (size_t)nops : (o->quick ? 10000 : 50000);
}

/* The median cost of one clock read, subtracted from every interval. */
static void calibrate_clock(void)
{
	enum { N = 1001 };
	double d[N];
	unsigned int i;

	for (i = 0; i < N; i++) {
		uint64_t t0 = bench_now(), t1 = bench_now();

		d[i] = (double)(t1 - t0);
	}
	bench_clock_overhead = (uint64_t)bench_median(d, N);
}

static uint64_t lib_total_allocs(void)
{
	struct gpuvm_alloc_stats s;

	gpuvm_alloc_get_stats(&s);
	return s.total_allocs;
}

/*
 * Runs one experiment rep times on every implementation, on the same targets
 * in the same order. Each repetition is cut into TURNS turns, and the four
 * take turns in an order that rotates: a change in the machine's load then
 * hits all four alike, while a turn is long enough for an implementation to
 * have the caches to itself for most of it.
 *
 * Every timed batch is one sample. The figure reported is the median over
 * the batches of all repetitions: on a shared machine a batch that was
 * preempted is an outlier the median ignores, where a mean over the whole
 * repetition would absorb it. The means are kept in the JSON too.
 */
#define TURNS 5

static void run_loop(struct bench_state *st, struct run *run,
		     const struct options *o, enum bench_loop loop,
		     size_t *cursor)
{
	const size_t rounds = (o->nops + st->batch - 1) / st->batch;
	const size_t turn = rounds / TURNS ? rounds / TURNS : 1;
	const size_t cap = rounds * o->reps;
	double *samples =
		bench_calloc((size_t)NR_OPS * NR_IMPLS * cap, sizeof(double));
	double *rep_mean = bench_calloc((size_t)NR_OPS * NR_IMPLS * o->reps,
					sizeof(double));
	struct bench_timing t[NR_IMPLS];
	size_t nr[NR_OPS][NR_IMPLS];
	uint64_t tot_ns[NR_OPS][NR_IMPLS], tot_ops[NR_OPS][NR_IMPLS];
	uint64_t allocs = 0, gpuvm_ops = 0, hits = 0, queries = 0, a0;
	unsigned int rep, k, op, impl;
	size_t r, r0;

#define SAMPLES(op, impl) (&samples[((size_t)(op)*NR_IMPLS + (impl)) * cap])
#define REP_MEAN(op, impl, rep)                                                \
	rep_mean[((size_t)(op)*NR_IMPLS + (impl)) * o->reps + (rep)]

	memset(nr, 0, sizeof(nr));
	memset(tot_ns, 0, sizeof(tot_ns));
	memset(tot_ops, 0, sizeof(tot_ops));
	for (rep = 0; rep < o->reps; rep++) {
		if (loop == LOOP_FIND)
			bench_make_queries(
				st, bench_mix(o->seed ^ run->n,
					      rep * 64 + run->pat * 8 + loop));
		memset(t, 0, sizeof(t));
		for (impl = 0; impl < NR_IMPLS; impl++) {
			t[impl].batch_cap = rounds;
			for (op = 0; op < NR_OPS; op++)
				t[impl].batch_ns[op] =
					SAMPLES(op, impl) + nr[op][impl];
			a0 = lib_total_allocs();
			bench_loop_begin(st, loop, impl, *cursor);
			if (impl == IMPL_GPUVM)
				allocs += lib_total_allocs() - a0;
		}
		for (r0 = 0; r0 < rounds; r0 += turn) {
			size_t r1 = r0 + turn < rounds ? r0 + turn : rounds;

			for (k = 0; k < NR_IMPLS; k++) {
				impl = (unsigned int)((r0 / turn + rep + k) %
						      NR_IMPLS);
				a0 = lib_total_allocs();
				for (r = r0; r < r1; r++)
					bench_loop_round(st, loop, impl,
							 *cursor, r, &t[impl]);
				if (impl == IMPL_GPUVM)
					allocs += lib_total_allocs() - a0;
			}
		}
		for (impl = 0; impl < NR_IMPLS; impl++) {
			a0 = lib_total_allocs();
			bench_loop_end(st, loop, impl, *cursor, rounds);
			if (impl == IMPL_GPUVM)
				allocs += lib_total_allocs() - a0;
			for (op = 0; op < NR_OPS; op++) {
				if (!t[impl].ops[op])
					continue;
				nr[op][impl] += t[impl].nr_batches[op];
				tot_ns[op][impl] += t[impl].ns[op];
				tot_ops[op][impl] += t[impl].ops[op];
				REP_MEAN(op, impl, rep) =
					(double)t[impl].ns[op] /
					(double)t[impl].ops[op];
				if (impl == IMPL_GPUVM)
					gpuvm_ops += t[impl].ops[op];
			}
		}
		bench_state_check(st, o->check, "after an experiment");
		for (impl = 1; impl < NR_IMPLS; impl++) {
			if (t[impl].hits != t[IMPL_GPUVM].hits)
				bench_die(
					"%s: %s found %llu, gpuvm %llu",
					loop == LOOP_FIND ? "find_first"
							  : "lookup",
					impl_names[impl],
					(unsigned long long)t[impl].hits,
					(unsigned long long)t[IMPL_GPUVM].hits);
		}
		hits += t[IMPL_GPUVM].hits;
		if (loop == LOOP_FIND)
			queries += t[IMPL_GPUVM].ops[OP_FIND];
		*cursor += bench_loop_advance(st, loop, rounds);
	}

	for (op = 0; op < NR_OPS; op++) {
		struct op_stat *s = &run->op[op];

		if (op_loop[op] != loop)
			continue;
		s->valid = true;
		for (impl = 0; impl < NR_IMPLS; impl++) {
			double *v = &REP_MEAN(op, impl, 0);

			if (!nr[op][impl] || !tot_ops[op][impl])
				bench_die("%s: no samples", op_names[op]);
			s->med[impl] =
				bench_median(SAMPLES(op, impl), nr[op][impl]);
			s->mean[impl] = (double)tot_ns[op][impl] /
					(double)tot_ops[op][impl];
			bench_sort_doubles(v, o->reps);
			s->min[impl] = v[0];
			s->max[impl] = v[o->reps - 1];
			s->nr_samples = nr[op][impl];
		}
		s->gpuvm_allocs_per_kop =
			gpuvm_ops ? 1000.0 * (double)allocs / (double)gpuvm_ops
				  : 0.0;
	}
	if (loop == LOOP_FIND && queries)
		run->find_hit_rate = (double)hits / (double)queries;
#undef SAMPLES
#undef REP_MEAN
	free(rep_mean);
	free(samples);
}

static void run_one(struct run *run, const struct options *o, size_t n,
		    enum bench_pattern pat)
{
	/* The headline experiment first, on the freshly built state. */
	static const enum bench_loop loops[] = {
		LOOP_MAP1, LOOP_UNMAP_MAP0, LOOP_MAP2,		LOOP_SPLIT2,
		LOOP_FIND, LOOP_LOOKUP,	    LOOP_REMOVE_INSERT,
	};
	struct bench_state *st = bench_calloc(1, sizeof(*st));
	size_t cursor[NR_LOOPS] = { 0 };
	uint64_t t0 = bench_now();
	size_t batch = n / 20, i;

	if (batch < 1)
		batch = 1;
	if (batch > 4096)
		batch = 4096;
	memset(run, 0, sizeof(*run));
	run->n = n;
	run->pat = pat;
	run->batch = batch;
	run->lag = n / 20;

	bench_state_init(st, n, pat, bench_mix(o->seed, n * 4 + pat), batch,
			 run->lag, (o->nops + batch - 1) / batch * batch);
	run->mem_build = st->mem_build;
	memcpy(run->build_ns, st->build_ns, sizeof(run->build_ns));

	for (i = 0; i < sizeof(loops) / sizeof(loops[0]); i++) {
		if (o->filtered && !o->only[loops[i]])
			continue;
		fprintf(stderr, ".");
		run_loop(st, run, o, loops[i], &cursor[loops[i]]);
	}
	bench_state_check(st, o->check, "end of run");
	bench_state_mem(st, &run->mem_after);
	bench_state_fini(st);
	free(st);
	run->seconds = (double)(bench_now() - t0) / 1e9;
}

static const struct run *find_run(const struct run *runs, size_t nr, size_t n,
				  enum bench_pattern pat)
{
	size_t i;

	for (i = 0; i < nr; i++) {
		if (runs[i].n == n && runs[i].pat == pat)
			return &runs[i];
	}
	return NULL;
}

static void print_ratio(double a, double b)
{
	if (b > 0.0)
		printf(" %8.2f", a / b);
	else
		printf(" %8s", "-");
}

static void print_table(const struct run *runs, size_t nr)
{
	size_t i;
	unsigned int op, impl;

	printf("\nns per request (median over batches; ratios are gpuvm "
	       "divided by the peer)\n");
	printf("%8s %-10s %-10s %8s %8s %8s %8s %8s %8s %8s\n", "size",
	       "pattern", "op", "gpuvm", "va_tree", "judyl", "gtree",
	       "/va_tree", "/judyl", "/gtree");
	for (i = 0; i < nr; i++) {
		const struct run *r = &runs[i];

		for (op = 0; op < NR_OPS; op++) {
			const struct op_stat *s = &r->op[op];

			if (!s->valid)
				continue;
			printf("%8zu %-10s %-10s", r->n, pattern_names[r->pat],
			       op_names[op]);
			for (impl = 0; impl < NR_IMPLS; impl++)
				printf(" %8.1f", s->med[impl]);
			for (impl = 1; impl < NR_IMPLS; impl++)
				print_ratio(s->med[IMPL_GPUVM], s->med[impl]);
			printf("\n");
		}
	}

	printf("\nbytes per live mapping (struct gpuva is %zu bytes; "
	       "peers: bytes per key, container only)\n",
	       sizeof(struct gpuva));
	printf("%8s %-10s %-6s %10s %10s %6s %8s %6s %8s %8s %8s\n", "size",
	       "pattern", "phase", "gpuva+tree", "lib-alloc", "height", "nodes",
	       "spare", "va_tree", "judyl", "gtree");
	for (i = 0; i < nr; i++) {
		const struct run *r = &runs[i];
		const struct bench_mem *m[2] = { &r->mem_build, &r->mem_after };
		static const char *const phase[2] = { "built", "churn" };
		unsigned int k;

		for (k = 0; k < 2; k++) {
			printf("%8zu %-10s %-6s %10.1f %10.1f %6u %8zu %6zu "
			       "%8.1f %8.1f",
			       r->n, pattern_names[r->pat], phase[k],
			       m[k]->per_mapping, m[k]->alloc_per_mapping,
			       m[k]->tree_height, m[k]->tree_nodes,
			       m[k]->tree_spare, m[k]->vatree_per_key,
			       m[k]->judy_per_key);
			if (m[k]->gtree_per_key >= 0.0)
				printf(" %8.1f\n", m[k]->gtree_per_key);
			else
				printf(" %8s\n", "-");
		}
	}

	printf("\nns per insertion while building (one pass, 0 to N)\n");
	printf("%8s %-10s %8s %8s %8s %8s %8s %10s\n", "size", "pattern",
	       "gpuvm", "va_tree", "judyl", "gtree", "find-hit", "seconds");
	for (i = 0; i < nr; i++) {
		const struct run *r = &runs[i];

		printf("%8zu %-10s", r->n, pattern_names[r->pat]);
		for (impl = 0; impl < NR_IMPLS; impl++)
			printf(" %8.1f", r->build_ns[impl]);
		printf(" %7.1f%% %10.1f\n", 100.0 * r->find_hit_rate,
		       r->seconds);
	}
}

struct target {
	const char *name;
	bool measured;
	double value;
	double limit;
	bool pass;
	const char *unit;
};

enum { NR_TARGETS = 4 };

static void eval_targets(const struct run *runs, size_t nr, struct target *t)
{
	const struct run *big = find_run(runs, nr, TARGET_BIG, PAT_RANDOM);
	const struct run *small = find_run(runs, nr, TARGET_SMALL, PAT_RANDOM);
	unsigned int k;
	size_t i;

	memset(t, 0, sizeof(*t) * NR_TARGETS);
	t[0].name = "map_over1 random @1e6 / JudyL get+remove+insert";
	t[1].name = "map_over1 random @1e6 / GTree lookup+remove+insert";
	t[2].name = "map_over1 random growth, 1e6 / 1e3";
	t[3].name = "bytes per mapping @1e6 (gpuva + tree, worst case)";
	t[0].limit = t[1].limit = TARGET_RATIO;
	t[2].limit = TARGET_GROWTH;
	t[3].limit = TARGET_BYTES;
	t[0].unit = t[1].unit = t[2].unit = "x";
	t[3].unit = " B";

	if (big && !big->op[OP_MAP1].valid)
		big = NULL;
	if (small && !small->op[OP_MAP1].valid)
		small = NULL;
	if (big) {
		const struct op_stat *s = &big->op[OP_MAP1];

		t[0].measured = t[1].measured = true;
		t[0].value = s->med[IMPL_GPUVM] / s->med[IMPL_JUDY];
		t[1].value = s->med[IMPL_GPUVM] / s->med[IMPL_GTREE];
		t[0].pass = t[0].value <= t[0].limit;
		t[1].pass = t[1].value <= t[1].limit;
	}
	if (big && small) {
		t[2].measured = true;
		t[2].value = big->op[OP_MAP1].med[IMPL_GPUVM] /
			     small->op[OP_MAP1].med[IMPL_GPUVM];
		t[2].pass = t[2].value < t[2].limit;
	}
	for (i = 0; i < nr; i++) {
		const struct bench_mem *m[2] = { &runs[i].mem_build,
						 &runs[i].mem_after };

		if (runs[i].n != TARGET_BIG)
			continue;
		for (k = 0; k < 2; k++) {
			if (!t[3].measured || m[k]->per_mapping > t[3].value)
				t[3].value = m[k]->per_mapping;
			t[3].measured = true;
		}
	}
	t[3].pass = t[3].measured && t[3].value <= t[3].limit;
}

static void print_targets(const struct run *runs, size_t nr,
			  const struct target *t)
{
	unsigned int k;
	enum bench_pattern pat;

	printf("\ngrowth of gpuvm map_over1 cost from 1e3 to 1e6:");
	for (pat = 0; pat < NR_PATTERNS; pat++) {
		const struct run *b = find_run(runs, nr, TARGET_BIG, pat);
		const struct run *s = find_run(runs, nr, TARGET_SMALL, pat);

		if (b && s && b->op[OP_MAP1].valid && s->op[OP_MAP1].valid)
			printf(" %s %.2fx", pattern_names[pat],
			       b->op[OP_MAP1].med[IMPL_GPUVM] /
				       s->op[OP_MAP1].med[IMPL_GPUVM]);
		else
			printf(" %s n/a", pattern_names[pat]);
	}
	printf("\n\ntargets\n");
	for (k = 0; k < NR_TARGETS; k++) {
		if (!t[k].measured) {
			printf("  %-52s n/a (size not measured)\n", t[k].name);
			continue;
		}
		printf("  %-52s %7.2f%s (limit %s %.2f%s) %s\n", t[k].name,
		       t[k].value, t[k].unit, k == 2 ? "<" : "<=", t[k].limit,
		       t[k].unit, t[k].pass ? "PASS" : "MISS");
	}
}

static void json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void json_number(FILE *f, double v)
{
	if (isfinite(v))
		fprintf(f, "%.3f", v);
	else
		fputs("null", f);
}

static void json_impls(FILE *f, const double *v)
{
	unsigned int impl;

	fputc('{', f);
	for (impl = 0; impl < NR_IMPLS; impl++) {
		fprintf(f, "%s\"%s\": ", impl ? ", " : "", impl_names[impl]);
		json_number(f, v[impl]);
	}
	fputc('}', f);
}

static void json_mem(FILE *f, const struct bench_mem *m)
{
	fprintf(f,
		"{\"nr_va\": %zu, \"tree_nodes\": %zu, \"tree_spare\": %zu, "
		"\"tree_height\": %u, \"tree_bytes\": %zu, "
		"\"bytes_per_mapping\": ",
		m->nr_va, m->tree_nodes, m->tree_spare, m->tree_height,
		m->tree_bytes);
	json_number(f, m->per_mapping);
	fputs(", \"lib_alloc_bytes_per_mapping\": ", f);
	json_number(f, m->alloc_per_mapping);
	fputs(", \"peer_bytes_per_key\": {\"va_tree\": ", f);
	json_number(f, m->vatree_per_key);
	fputs(", \"judyl\": ", f);
	json_number(f, m->judy_per_key);
	fputs(", \"gtree\": ", f);
	if (m->gtree_per_key >= 0.0)
		json_number(f, m->gtree_per_key);
	else
		fputs("null", f);
	fputs("}}", f);
}

static void write_json(FILE *f, const struct options *o,
		       const struct bench_machine *m, const struct run *runs,
		       size_t nr, const struct target *t)
{
	size_t i;
	unsigned int op, k;

	fputs("{\n  \"program\": \"gpuvm-bench\",\n  \"version\": ", f);
	json_string(f, GPUVM_BENCH_VERSION);
	fputs(",\n  \"date\": ", f);
	json_string(f, m->date);
	fputs(",\n  \"machine\": {\"cpu\": ", f);
	json_string(f, m->cpu);
	fprintf(f, ", \"nproc\": %ld, \"kernel\": ", m->nproc);
	json_string(f, m->kernel);
	fputs(", \"compiler\": ", f);
	json_string(f, bench_compiler_name());
	fputs(", \"compiler_version\": ", f);
	json_string(f, __VERSION__);
	fputs(", \"build_type\": ", f);
	json_string(f, GPUVM_BENCH_BUILDTYPE);
#if defined(__OPTIMIZE__)
	fputs(", \"optimized\": true", f);
#else
	fputs(", \"optimized\": false", f);
#endif
#if defined(NDEBUG)
	fputs(", \"ndebug\": true", f);
#else
	fputs(", \"ndebug\": false", f);
#endif
	fprintf(f, ", \"glib\": \"%u.%u.%u\"}", glib_major_version,
		glib_minor_version, glib_micro_version);

	fprintf(f,
		",\n  \"config\": {\"seed\": %llu, \"reps\": %u, "
		"\"requests_per_rep\": %zu, \"quick\": %s, "
		"\"clock_overhead_ns\": %llu, \"va_bits\": %d, "
		"\"page_bytes\": %llu, \"mapping_pages\": [%d, %d], "
		"\"gem_objects\": %d, \"sizeof_gpuva\": %zu, "
		"\"sizeof_user_mapping\": %zu, \"va_tree_node_bytes\": %zu, "
		"\"mapping_allocation\": \"preallocated freelist\"}",
		(unsigned long long)o->seed, o->reps, o->nops,
		o->quick ? "true" : "false",
		(unsigned long long)bench_clock_overhead, BENCH_VA_BITS,
		(unsigned long long)BENCH_PAGE, BENCH_MIN_PAGES,
		BENCH_MAX_PAGES, BENCH_NR_OBJS, sizeof(struct gpuva),
		sizeof(struct bench_va), gpuvm_va_tree_node_size());

	fputs(",\n  \"ops\": {", f);
	for (op = 0; op < NR_OPS; op++) {
		fprintf(f, "%s\n    \"%s\": ", op ? "," : "", op_names[op]);
		json_string(f, op_help[op]);
	}
	fputs("\n  },\n  \"runs\": [", f);
	for (i = 0; i < nr; i++) {
		const struct run *r = &runs[i];

		fprintf(f,
			"%s\n    {\"size\": %zu, \"pattern\": \"%s\", "
			"\"batch\": %zu, \"lag\": %zu, \"seconds\": ",
			i ? "," : "", r->n, pattern_names[r->pat], r->batch,
			r->lag);
		json_number(f, r->seconds);
		fputs(", \"find_first_hit_rate\": ", f);
		json_number(f, r->find_hit_rate);
		fputs(",\n     \"build_ns_per_insert\": ", f);
		json_impls(f, r->build_ns);
		fputs(",\n     \"memory_built\": ", f);
		json_mem(f, &r->mem_build);
		fputs(",\n     \"memory_after_churn\": ", f);
		json_mem(f, &r->mem_after);
		fputs(",\n     \"ops\": {", f);
		for (op = 0, k = 0; op < NR_OPS; op++) {
			const struct op_stat *s = &r->op[op];
			double ratio[NR_IMPLS];
			unsigned int impl;

			if (!s->valid)
				continue;
			for (impl = 0; impl < NR_IMPLS; impl++)
				ratio[impl] = s->med[IMPL_GPUVM] / s->med[impl];
			fprintf(f,
				"%s\n      \"%s\": {\"ns\": ", k++ ? "," : "",
				op_names[op]);
			json_impls(f, s->med);
			fputs(", \"mean_ns\": ", f);
			json_impls(f, s->mean);
			fputs(", \"rep_mean_min_ns\": ", f);
			json_impls(f, s->min);
			fputs(", \"rep_mean_max_ns\": ", f);
			json_impls(f, s->max);
			fputs(", \"gpuvm_over\": ", f);
			json_impls(f, ratio);
			fprintf(f, ", \"batches\": %zu", s->nr_samples);
			fputs(", \"gpuvm_lib_allocs_per_1k\": ", f);
			json_number(f, s->gpuvm_allocs_per_kop);
			fputc('}', f);
		}
		fputs("}}", f);
	}
	fputs("\n  ],\n  \"growth_map_over1_1e6_over_1e3\": {", f);
	for (k = 0; k < NR_PATTERNS; k++) {
		const struct run *b = find_run(runs, nr, TARGET_BIG, k);
		const struct run *s = find_run(runs, nr, TARGET_SMALL, k);

		fprintf(f, "%s\"%s\": ", k ? ", " : "", pattern_names[k]);
		if (b && s && b->op[OP_MAP1].valid && s->op[OP_MAP1].valid)
			json_number(f, b->op[OP_MAP1].med[IMPL_GPUVM] /
					       s->op[OP_MAP1].med[IMPL_GPUVM]);
		else
			fputs("null", f);
	}
	fputs("},\n  \"targets\": [", f);
	for (k = 0; k < NR_TARGETS; k++) {
		fprintf(f, "%s\n    {\"name\": ", k ? "," : "");
		json_string(f, t[k].name);
		fputs(", \"value\": ", f);
		if (t[k].measured)
			json_number(f, t[k].value);
		else
			fputs("null", f);
		fputs(", \"limit\": ", f);
		json_number(f, t[k].limit);
		fprintf(f, ", \"result\": \"%s\"}",
			!t[k].measured ? "n/a"
			: t[k].pass    ? "PASS"
				       : "MISS");
	}
	fputs("\n  ]\n}\n", f);
}

static void print_header(const struct options *o, const struct bench_machine *m)
{
	unsigned int op;

	printf("gpuvm-bench %s: %s build, %s %s, %s, %ld CPUs\n",
	       GPUVM_BENCH_VERSION, GPUVM_BENCH_BUILDTYPE,
	       bench_compiler_name(), __VERSION__, m->cpu, m->nproc);
	printf("seed %llu, %u repetitions of %zu requests per figure, clock "
	       "overhead %llu ns (subtracted)\n",
	       (unsigned long long)o->seed, o->reps, o->nops,
	       (unsigned long long)bench_clock_overhead);
	printf("VA space 2^%d, page-aligned mappings of %d..%d pages backed "
	       "by %d objects;\nmapping structs come from a preallocated "
	       "freelist, so no malloc runs in the timed\nloops except the "
	       "library's own (counted in the JSON).\n",
	       BENCH_VA_BITS, BENCH_MIN_PAGES, BENCH_MAX_PAGES, BENCH_NR_OBJS);
	printf("GTree nodes come from %s (G_SLICE=%s).\n",
	       getenv("G_SLICE") && strstr(getenv("G_SLICE"), "always-malloc")
		       ? "malloc"
		       : "GLib's slab allocator",
	       getenv("G_SLICE") ? getenv("G_SLICE") : "");
	printf("Each figure is the median over timed batches of requests "
	       "from all repetitions\n(batch = N/20, at most 4096); "
	       "the JSON also has plain means.\n");
	printf("random: one mapping at a random page of each of N equal "
	       "slots, visited in random\norder; sequential: back to back, "
	       "visited in ascending order.\n");
	printf("Ops (the VM request each one times):\n");
	for (op = 0; op < NR_OPS; op++)
		printf("  %-10s %s\n", op_names[op], op_help[op]);
	printf("  (peers: over0 le+insert, over1 get+remove+insert, over2 "
	       "le+next+remove x2+insert,\n   split2 le+next+remove x2+insert "
	       "x3, unmap le+remove, find_first le[+next]/ge,\n   lookup "
	       "get+range compare, remove with the key read from the "
	       "record;\n   le = last key <= k. Peer values point at "
	       "%zu-byte records laid out in insertion\n   order, like the "
	       "VM's mapping structs; le, find_first and lookup read the\n"
	       "   range from them.)\n",
	       sizeof(struct bench_rec));
	fflush(stdout);
}

int main(int argc, char **argv)
{
	struct options o;
	struct bench_machine m;
	struct run *runs;
	struct target targets[NR_TARGETS];
	size_t nr = 0, i;
	enum bench_pattern pat;
	uint64_t warn0;

	/*
	 * GLib before 2.76 keeps GTree nodes in its own slab allocator,
	 * which hides them from the heap statistics that measure the GTree's
	 * memory and recycles them between runs. GLib reads G_SLICE before
	 * main(), so the program starts itself again with it set; newer GLib
	 * always behaves this way.
	 */
	if (!getenv("G_SLICE") && !setenv("G_SLICE", "always-malloc", 1))
		execv("/proc/self/exe", argv);
	parse_options(&o, argc, argv);
	bench_read_machine(&m);
	calibrate_clock();
	warn0 = gpuvm_warn_count();
	print_header(&o, &m);

	runs = bench_calloc(o.nr_sizes * NR_PATTERNS, sizeof(*runs));
	for (i = 0; i < o.nr_sizes; i++) {
		for (pat = 0; pat < NR_PATTERNS; pat++) {
			fprintf(stderr, "gpuvm-bench: %zu %s ", o.sizes[i],
				pattern_names[pat]);
			run_one(&runs[nr], &o, o.sizes[i], pat);
			fprintf(stderr, " %.1f s\n", runs[nr].seconds);
			nr++;
		}
	}
	if (gpuvm_warn_count() != warn0)
		fprintf(stderr,
			"gpuvm-bench: the library issued %llu "
			"warnings\n",
			(unsigned long long)(gpuvm_warn_count() - warn0));

	print_table(runs, nr);
	eval_targets(runs, nr, targets);
	print_targets(runs, nr, targets);

	if (o.json) {
		if (o.json_path) {
			FILE *f = fopen(o.json_path, "w");

			if (!f)
				bench_die("cannot write %s: %s", o.json_path,
					  strerror(errno));
			write_json(f, &o, &m, runs, nr, targets);
			if (fclose(f))
				bench_die("cannot write %s: %s", o.json_path,
					  strerror(errno));
			printf("\nJSON written to %s\n", o.json_path);
		} else {
			printf("\n");
			write_json(stdout, &o, &m, runs, nr, targets);
		}
	}
	free(runs);
	return 0;
}
