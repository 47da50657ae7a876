// SPDX-License-Identifier: MIT
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
/*
 * gpuvm-queue-bench: the workloads of `gpuvm run` (kv-cache, sparse-texture,
 * churn) through one and two bind queues, in immediate mode (the library's
 * bind queue: split/merge in the run path) and in staged mode (the peer in
 * staged.c: split/merge at submit, the run path only writes page tables,
 * as xe and msm do). Both get the very same request streams: each
 * submitting thread's stream follows from the seed alone, and threads map
 * disjoint ranges, so both modes must end in the same state, which is
 * checked (page-table entries and mappings hashed).
 *
 * Each configuration runs a warm-up (churn: until it holds its live-mapping
 * target), then a measured phase of a fixed number of jobs. Throughput is
 * measured ops over the phase's wall time (the submitting threads wait for
 * all their jobs before the clock stops); the run-path, submit and latency
 * figures are log-linear histograms (gpuvm_bind_hist) of the measured
 * phase. Immediate and staged take turns, repetition by repetition in
 * alternating order, so that both see the same machine.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gpuvm/alloc.h>
#include <gpuvm/gpuvm.h>
#include <gpuvm/queue.h>

#include "bind_workload.h"
#include "common.h"
#include "staged.h"

#ifndef GPUVM_BENCH_BUILDTYPE
#define GPUVM_BENCH_BUILDTYPE "unknown"
#endif

#define MAX_Q 2

enum mode { M_IMM, M_STAGED, NR_MODES };

static const char *const mode_names[NR_MODES] = { "immediate", "staged" };

/* Targets of the bind-queue benchmark. */
#define TARGET_RATIO	1.3
#define TARGET_RUN_P99	2000 /* ns per op */
#define TARGET_LIVE_MIN 100000

struct options {
	uint64_t seed;
	unsigned int reps;
	bool quick;
	bool json;
	bool wl[BWL_NR];
	unsigned int mappings;
	double scale;
};

/* A queue as the workload sees it: the back end's submit, timed. */
struct timed_q {
	void *q;
	bwl_submit_fn fn;
	struct gpuvm_bind_hist submit_per_op;
};

static int timed_submit(void *queue, const struct gpuvm_bind_req *reqs,
			unsigned int n, struct gpuvm_fence **out)
{
	struct timed_q *tq = queue;
	uint64_t t0 = bench_now_ns();
	int ret = tq->fn(tq->q, reqs, n, out);

	if (!ret && n)
		gpuvm_bind_hist_add(&tq->submit_per_op,
				    (bench_now_ns() - t0) / n);
	return ret;
}

static int imm_submit(void *q, const struct gpuvm_bind_req *reqs,
		      unsigned int n, struct gpuvm_fence **out)
{
	return gpuvm_bind_submit(q, reqs, n, NULL, 0, out);
}

struct backend {
	enum mode mode;
	unsigned int nq;
	struct bwl_layout layout;
	struct gpuvm *vm;
	struct gpuvm_pt *pt;
	struct gpuvm_bind_vm *bvm;
	struct gpuvm_bind_queue *q[MAX_Q];
	struct staged_vm *svm;
	struct staged_queue *sq[MAX_Q];
	struct timed_q tq[MAX_Q];
};

static void imm_vm_free(struct gpuvm *vm)
{
	free(vm);
}

static const struct gpuvm_ops imm_vm_ops = {
	.vm_free = imm_vm_free,
	GPUVM_BIND_SM_STEPS,
};

static const struct gpuvm_bind_vm_ops imm_bind_ops = {
	.gem_pa = bwl_gem_pa,
};

static int backend_init(struct backend *b, enum mode mode, unsigned int nq,
			const struct bwl_layout *l)
{
	const struct bwl_layout *L = l;
	int ret;

	memset(b, 0, sizeof(*b));
	b->mode = mode;
	b->nq = nq;
	b->layout = *l;
	if (mode == M_STAGED) {
		ret = staged_vm_create(L->va_bits, L->start, L->range,
				       L->cut_start, L->cut_range, bwl_gem_pa,
				       &b->svm);
		if (ret)
			return ret;
		for (unsigned int i = 0; i < nq; i++) {
			ret = staged_queue_create(b->svm, &b->sq[i]);
			if (ret)
				return ret;
			b->tq[i] = (struct timed_q){ b->sq[i], staged_submit };
		}
		return 0;
	}
	b->vm = calloc(1, sizeof(*b->vm));
	if (!b->vm)
		return -ENOMEM;
	ret = gpuvm_init(b->vm, "bench", GPUVM_IMMEDIATE_MODE, NULL, L->start,
			 L->range, L->cut_start, L->cut_range, &imm_vm_ops);
	if (ret) {
		free(b->vm);
		b->vm = NULL;
		return ret;
	}
	ret = gpuvm_pt_sw_create(L->va_bits, 0, &b->pt);
	if (ret)
		return ret;
	ret = gpuvm_bind_vm_create(b->vm, b->pt, &imm_bind_ops, NULL, &b->bvm);
	if (ret)
		return ret;
	for (unsigned int i = 0; i < nq; i++) {
		ret = gpuvm_bind_queue_create(b->bvm, "bench", &b->q[i]);
		if (ret)
			return ret;
		b->tq[i] = (struct timed_q){ b->q[i], imm_submit };
	}
	return 0;
}

static void backend_stop_queues(struct backend *b)
{
	for (unsigned int i = 0; i < MAX_Q; i++) {
		if (b->q[i])
			gpuvm_bind_queue_destroy(b->q[i],
						 GPUVM_BIND_QUEUE_DRAIN);
		staged_queue_destroy(b->sq[i]);
		b->q[i] = NULL;
		b->sq[i] = NULL;
	}
}

static void backend_fini(struct backend *b)
{
	backend_stop_queues(b);
	if (b->bvm)
		gpuvm_bind_vm_destroy(b->bvm);
	gpuvm_pt_destroy(b->pt);
	if (b->vm)
		gpuvm_put(b->vm);
	staged_vm_destroy(b->svm);
	memset(b, 0, sizeof(*b));
}

/* ---- figures ---- */

struct figures {
	uint64_t jobs, ops;
	struct gpuvm_bind_hist run, latency, submit;
};

static void hist_merge(struct gpuvm_bind_hist *d,
		       const struct gpuvm_bind_hist *s)
{
	if (!s->count)
		return;
	if (!d->count || s->min_ns < d->min_ns)
		d->min_ns = s->min_ns;
	if (s->max_ns > d->max_ns)
		d->max_ns = s->max_ns;
	d->count += s->count;
	d->sum_ns += s->sum_ns;
	for (unsigned int i = 0; i < GPUVM_BIND_HIST_BUCKETS; i++)
		d->bucket[i] += s->bucket[i];
}

/*
 * @after less @before. The minimum of the difference is unknown: 0 keeps
 * quantiles at their bucket's upper edge, the conservative side.
 */
static void hist_sub(struct gpuvm_bind_hist *d,
		     const struct gpuvm_bind_hist *after,
		     const struct gpuvm_bind_hist *before)
{
	d->count = after->count - before->count;
	d->sum_ns = after->sum_ns - before->sum_ns;
	d->min_ns = 0;
	d->max_ns = after->max_ns;
	for (unsigned int i = 0; i < GPUVM_BIND_HIST_BUCKETS; i++)
		d->bucket[i] = after->bucket[i] - before->bucket[i];
}

static void snapshot(struct backend *b, struct figures *f)
{
	memset(f, 0, sizeof(*f));
	if (b->mode == M_IMM) {
		struct gpuvm_bind_stats *s = calloc(1, sizeof(*s));

		if (!s)
			abort();
		gpuvm_bind_vm_get_stats(b->bvm, s);
		f->jobs = s->jobs_done;
		f->ops = s->ops;
		f->run = s->run_per_op;
		f->latency = s->latency;
		free(s);
	} else {
		struct staged_stats *s = calloc(1, sizeof(*s));

		if (!s)
			abort();
		staged_vm_get_stats(b->svm, s);
		f->jobs = s->jobs;
		f->ops = s->ops;
		f->run = s->run_per_op;
		f->latency = s->latency;
		free(s);
	}
	for (unsigned int i = 0; i < b->nq; i++)
		hist_merge(&f->submit, &b->tq[i].submit_per_op);
}

static void figures_sub(struct figures *d, const struct figures *after,
			const struct figures *before)
{
	d->jobs = after->jobs - before->jobs;
	d->ops = after->ops - before->ops;
	hist_sub(&d->run, &after->run, &before->run);
	hist_sub(&d->latency, &after->latency, &before->latency);
	hist_sub(&d->submit, &after->submit, &before->submit);
}

/* ---- the final state, hashed ---- */

static uint64_t mix(uint64_t h, uint64_t x)
{
	h ^= x + UINT64_C(0x9e3779b97f4a7c15) + (h << 6) + (h >> 2);
	h *= UINT64_C(0xbf58476d1ce4e5b9);
	return h ^ (h >> 31);
}

struct state {
	uint64_t pt_hash, va_hash;
	uint64_t pt_entries, mappings;
};

static int pt_cb(uint64_t va, uint64_t size, uint64_t pa, unsigned int flags,
		 void *data)
{
	struct state *s = data;

	s->pt_hash = mix(mix(mix(mix(s->pt_hash, va), size), pa), flags);
	s->pt_entries++;
	return 0;
}

static int va_cb(const struct gpuvm_bind_va_info *info, void *data)
{
	struct state *s = data;
	uint64_t pa = 0, len;

	if (info->obj)
		(void)bwl_gem_pa(NULL, info->obj, info->offset, info->range,
				 &pa, &len);
	s->va_hash = mix(mix(mix(mix(s->va_hash, info->addr), info->range), pa),
			 info->flags);
	s->mappings++;
	return 0;
}

/* With every queue idle. */
static void read_state(struct backend *b, struct state *s)
{
	uint64_t end = UINT64_C(1) << b->layout.va_bits;

	memset(s, 0, sizeof(*s));
	if (b->mode == M_IMM) {
		gpuvm_bind_vm_lock(b->bvm);
		(void)gpuvm_pt_walk(b->pt, 0, end, pt_cb, s);
		gpuvm_bind_vm_unlock(b->bvm);
		(void)gpuvm_bind_vm_for_each_va(b->bvm, 0, 0, va_cb, s);
	} else {
		(void)gpuvm_pt_walk(staged_vm_pt(b->svm), 0, end, pt_cb, s);
		staged_vm_for_each_va(b->svm, va_cb, s);
	}
}

/* ---- one run ---- */

struct run_result {
	double secs;
	uint64_t ops, jobs;
	struct figures f;
	struct state st;
	bool ok;
};

struct config {
	enum bwl_kind wl;
	unsigned int nq;
	uint64_t warm_jobs, jobs;
};

static void wl_opts(const struct options *o, const struct config *c,
		    struct bwl_opts *w)
{
	bwl_opts_defaults(w);
	w->wl = c->wl;
	w->seed = o->seed;
	w->threads = c->nq;
	w->have_seconds = false;
	w->jobs = c->warm_jobs;
	w->mappings = o->mappings;
}

static bool run_once(const struct options *o, const struct config *c,
		     enum mode mode, struct run_result *res)
{
	struct bwl_opts w;
	struct bwl_layout l;
	struct backend b;
	struct bwl_run *r = NULL;
	struct bwl_result wr;
	struct figures before, after;
	void *queues[MAX_Q];
	int ret;

	memset(res, 0, sizeof(*res));
	wl_opts(o, c, &w);
	bwl_layout(&w, &l);
	ret = backend_init(&b, mode, c->nq, &l);
	if (ret) {
		fprintf(stderr, "gpuvm-queue-bench: %s set-up failed: %s\n",
			mode_names[mode], strerror(-ret));
		backend_fini(&b);
		return false;
	}
	for (unsigned int i = 0; i < c->nq; i++)
		queues[i] = &b.tq[i];
	ret = bwl_run_create(&w, timed_submit, queues, c->nq, &r);
	if (!ret)
		ret = bwl_run_start(r);
	if (!ret) {
		bwl_run_join(r, &wr);
		ret = wr.err;
	}
	if (!ret) {
		snapshot(&b, &before);
		ret = bwl_run_resume(r, c->jobs);
	}
	if (!ret) {
		bwl_run_join(r, &wr);
		ret = wr.err;
		snapshot(&b, &after);
		figures_sub(&res->f, &after, &before);
		res->secs = wr.secs;
		res->ops = res->f.ops;
		res->jobs = res->f.jobs;
		read_state(&b, &res->st);
	}
	backend_stop_queues(&b);
	bwl_run_destroy(r);
	backend_fini(&b);
	if (!ret && bwl_objects_allocated(NULL) != bwl_objects_freed(NULL)) {
		fprintf(stderr,
			"gpuvm-queue-bench: %s %s: %" PRIu64
			" object(s) not freed\n",
			bwl_names[c->wl], mode_names[mode],
			bwl_objects_allocated(NULL) - bwl_objects_freed(NULL));
		return false;
	}
	if (ret) {
		fprintf(stderr, "gpuvm-queue-bench: %s %s: %s\n",
			bwl_names[c->wl], mode_names[mode], strerror(-ret));
		return false;
	}
	res->ok = true;
	return true;
}

/* ---- the table ---- */

struct row {
	struct config c;
	double ops_s[NR_MODES];
	struct figures f[NR_MODES];
	struct state st[NR_MODES];
	bool same_state;
};

static double q_us(const struct gpuvm_bind_hist *h, double q)
{
	return (double)gpuvm_bind_hist_quantile(h, q) / 1e3;
}

static bool run_row(const struct options *o, struct row *row)
{
	double *ops_s[NR_MODES];
	bool ok = true;

	for (int m = 0; m < NR_MODES; m++) {
		ops_s[m] = calloc(o->reps, sizeof(double));
		if (!ops_s[m])
			abort();
	}
	row->same_state = true;
	for (unsigned int rep = 0; rep < o->reps && ok; rep++) {
		for (int k = 0; k < NR_MODES && ok; k++) {
			/* Alternate which mode goes first. */
			enum mode m = (enum mode)((k + rep) % NR_MODES);
			struct run_result res;

			if (!run_once(o, &row->c, m, &res)) {
				ok = false;
				break;
			}
			ops_s[m][rep] = (double)res.ops / res.secs;
			row->f[m].jobs += res.f.jobs;
			row->f[m].ops += res.f.ops;
			hist_merge(&row->f[m].run, &res.f.run);
			hist_merge(&row->f[m].latency, &res.f.latency);
			hist_merge(&row->f[m].submit, &res.f.submit);
			if (rep == 0)
				row->st[m] = res.st;
			else if (memcmp(&row->st[m], &res.st, sizeof(res.st)))
				row->same_state = false;
		}
	}
	if (ok) {
		for (int m = 0; m < NR_MODES; m++)
			row->ops_s[m] = bench_median(ops_s[m], o->reps);
		if (memcmp(&row->st[M_IMM], &row->st[M_STAGED],
			   sizeof(row->st[0])))
			row->same_state = false;
	}
	for (int m = 0; m < NR_MODES; m++)
		free(ops_s[m]);
	return ok;
}

static void print_header(const struct options *o, const struct bench_machine *m)
{
	printf("gpuvm-queue-bench: %s build, %s, library checks %s\n",
	       GPUVM_BENCH_BUILDTYPE, bench_compiler(),
	       gpuvm_checks_enabled() ? "ON (figures not representative)"
				      : "off");
	printf("%s, %ld CPUs, %s, %s, load average at start %s\n", m->cpu,
	       m->nproc, m->kernel, m->date, m->load_start);
	printf("seed %" PRIu64 ", %u repetition(s); churn holds %u live "
	       "64 KiB slots\n",
	       o->seed, o->reps, o->mappings);
	printf("ops/s: median over repetitions of requests per second of "
	       "wall time through\nsubmit, run and signal. submit/op: "
	       "submit call time per request; run/op:\nrun-path time (tree "
	       "or page-table lock held) per request; latency: submit to\n"
	       "signal per job. Percentiles from log-linear histograms "
	       "(upper bucket edges,\nat most 1/16 above) over every "
	       "measured job of every repetition.\n\n");
}

static void print_row(const struct row *r)
{
	for (int m = 0; m < NR_MODES; m++) {
		const struct figures *f = &r->f[m];

		printf("%-15s %2u %-9s %10.0f %7.2f %7.2f %7.2f %7.2f "
		       "%8.1f %8.1f %8" PRIu64 "\n",
		       m == 0 ? bwl_names[r->c.wl] : "", r->c.nq, mode_names[m],
		       r->ops_s[m], q_us(&f->submit, 0.5),
		       q_us(&f->submit, 0.99), q_us(&f->run, 0.5),
		       q_us(&f->run, 0.99), q_us(&f->latency, 0.5),
		       q_us(&f->latency, 0.99), r->st[m].mappings);
	}
	printf("%-15s    staged/immediate throughput %.2fx (target <= "
	       "%.1fx: %s); final states %s\n",
	       "", r->ops_s[M_STAGED] / r->ops_s[M_IMM], TARGET_RATIO,
	       r->ops_s[M_STAGED] / r->ops_s[M_IMM] <= TARGET_RATIO ? "met"
								    : "MISSED",
	       r->same_state ? "identical" : "DIFFER");
}

static void print_hist_json(const char *name, const struct gpuvm_bind_hist *h,
			    bool last)
{
	printf("        \"%s\": { \"count\": %" PRIu64 ", \"mean_ns\": %.1f, "
	       "\"p50_ns\": %" PRIu64 ", \"p90_ns\": %" PRIu64
	       ", \"p99_ns\": %" PRIu64 ", \"p999_ns\": %" PRIu64
	       ", \"max_ns\": %" PRIu64 " }%s\n",
	       name, h->count,
	       h->count ? (double)h->sum_ns / (double)h->count : 0.0,
	       gpuvm_bind_hist_quantile(h, 0.5),
	       gpuvm_bind_hist_quantile(h, 0.9),
	       gpuvm_bind_hist_quantile(h, 0.99),
	       gpuvm_bind_hist_quantile(h, 0.999), h->max_ns, last ? "" : ",");
}

static void print_json(const struct options *o, const struct bench_machine *m,
		       const struct row *rows, unsigned int n)
{
	printf("{\n  \"benchmark\": \"gpuvm-queue-bench\",\n");
	printf("  \"buildtype\": \"%s\",\n  \"compiler\": \"%s\",\n",
	       GPUVM_BENCH_BUILDTYPE, bench_compiler());
	printf("  \"library_checks\": %s,\n",
	       gpuvm_checks_enabled() ? "true" : "false");
	printf("  \"cpu\": \"%s\",\n  \"cpus\": %ld,\n  \"kernel\": \"%s\",\n",
	       m->cpu, m->nproc, m->kernel);
	printf("  \"date\": \"%s\",\n  \"load_start\": \"%s\",\n", m->date,
	       m->load_start);
	printf("  \"seed\": %" PRIu64 ",\n  \"repetitions\": %u,\n", o->seed,
	       o->reps);
	printf("  \"targets\": { \"staged_over_immediate_max\": %.2f, "
	       "\"run_p99_ns_max\": %d, \"at_live_mappings\": %d },\n",
	       TARGET_RATIO, TARGET_RUN_P99, TARGET_LIVE_MIN);
	printf("  \"rows\": [\n");
	for (unsigned int i = 0; i < n; i++) {
		const struct row *r = &rows[i];

		printf("    { \"workload\": \"%s\", \"queues\": %u, "
		       "\"warm_jobs\": %" PRIu64 ", \"jobs\": %" PRIu64 ",\n",
		       bwl_names[r->c.wl], r->c.nq, r->c.warm_jobs, r->c.jobs);
		printf("      \"staged_over_immediate\": %.4f, "
		       "\"same_final_state\": %s,\n",
		       r->ops_s[M_STAGED] / r->ops_s[M_IMM],
		       r->same_state ? "true" : "false");
		for (int k = 0; k < NR_MODES; k++) {
			const struct figures *f = &r->f[k];

			printf("      \"%s\": {\n", mode_names[k]);
			printf("        \"ops_per_second\": %.1f, "
			       "\"ops\": %" PRIu64 ", \"jobs\": %" PRIu64
			       ", \"live_mappings\": %" PRIu64
			       ", \"pt_entries\": %" PRIu64 ",\n",
			       r->ops_s[k], f->ops, f->jobs, r->st[k].mappings,
			       r->st[k].pt_entries);
			print_hist_json("submit_per_op", &f->submit, false);
			print_hist_json("run_per_op", &f->run, false);
			print_hist_json("latency", &f->latency, true);
			printf("      }%s\n", k + 1 < NR_MODES ? "," : "");
		}
		printf("    }%s\n", i + 1 < n ? "," : "");
	}
	printf("  ]\n}\n");
}

/* ---- command line ---- */

static void usage(FILE *f)
{
	fprintf(f, "Usage: gpuvm-queue-bench [OPTION]...\n"
		   "The workloads of `gpuvm run` through one and two bind "
		   "queues, in immediate\nmode and in staged mode (the peer), "
		   "with the same request streams.\n\n"
		   "  --workload=NAME  kv-cache, sparse-texture or churn "
		   "(repeatable; default all)\n"
		   "  --reps=N         repetitions (default 3)\n"
		   "  --mappings=N     churn's live 64 KiB slots (default "
		   "100000)\n"
		   "  --scale=X        multiply the measured jobs by X "
		   "(default 1)\n"
		   "  --seed=N         workload seed (default 1)\n"
		   "  --quick          a short run (1 repetition, small "
		   "phases)\n"
		   "  --json           print JSON after the table\n"
		   "  -h, --help       this help\n");
}

static bool parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!*s || *s == '-')
		return false;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end || v < min || v > max)
		return false;
	*out = v;
	return true;
}

static int parse(int argc, char **argv, struct options *o)
{
	static const struct option lo[] = {
		{ "workload", required_argument, NULL, 'w' },
		{ "reps", required_argument, NULL, 'r' },
		{ "mappings", required_argument, NULL, 'm' },
		{ "scale", required_argument, NULL, 'x' },
		{ "seed", required_argument, NULL, 's' },
		{ "quick", no_argument, NULL, 'q' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool any = false;
	uint64_t v;
	char *end;
	int c;

	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		bool ok = true;

		switch (c) {
		case 'w':
			ok = false;
			for (int i = 0; i < BWL_NR; i++)
				if (!strcmp(optarg, bwl_names[i])) {
					o->wl[i] = true;
					ok = any = true;
				}
			break;
		case 'r':
			ok = parse_u64(optarg, 1, 100, &v);
			o->reps = (unsigned int)v;
			break;
		case 'm':
			ok = parse_u64(optarg, 1000, 1000000, &v);
			o->mappings = (unsigned int)v;
			break;
		case 'x':
			errno = 0;
			o->scale = strtod(optarg, &end);
			ok = !errno && *optarg && !*end && o->scale > 0 &&
			     o->scale <= 1000;
			break;
		case 's':
			ok = parse_u64(optarg, 0, UINT64_MAX, &o->seed);
			break;
		case 'q':
			o->quick = true;
			break;
		case 'j':
			o->json = true;
			break;
		case 'h':
			usage(stdout);
			return 1;
		default:
			usage(stderr);
			return 2;
		}
		if (!ok) {
			fprintf(stderr, "gpuvm-queue-bench: bad value '%s'\n",
				optarg);
			return 2;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return 2;
	}
	if (!any)
		for (int i = 0; i < BWL_NR; i++)
			o->wl[i] = true;
	return 0;
}

/*
 * The phases. Warm-up: kv-cache until requests are in flight, sparse
 * until its resources are null-mapped and tiles bound, churn until it
 * holds its target of live slots (at most 70% of its ops fill, 64 per
 * job). Measured: about as long as each other on this machine class.
 */
static void make_config(const struct options *o, enum bwl_kind wl,
			unsigned int nq, struct config *c)
{
	double s = o->quick ? 0.05 * o->scale : o->scale;

	c->wl = wl;
	c->nq = nq;
	switch (wl) {
	case BWL_KV:
		c->warm_jobs = 200;
		c->jobs = (uint64_t)(2000 * s);
		break;
	case BWL_SPARSE:
		c->warm_jobs = 500;
		c->jobs = (uint64_t)(20000 * s);
		break;
	default:
		c->warm_jobs = (uint64_t)o->mappings * 10 / 7 / 64 + 64;
		c->jobs = (uint64_t)(20000 * s);
		break;
	}
	if (c->jobs < 2 * nq)
		c->jobs = 2 * nq;
}

int main(int argc, char **argv)
{
	struct options o = {
		.seed = 1,
		.reps = 3,
		.mappings = 100000,
		.scale = 1.0,
	};
	struct bench_machine m;
	struct row rows[BWL_NR * MAX_Q];
	unsigned int n = 0;
	bool ok = true, all_same = true;
	int ret = parse(argc, argv, &o);

	if (ret)
		return ret == 1 ? 0 : ret;
	if (o.quick) {
		o.reps = 1;
		if (o.mappings > 10000)
			o.mappings = 10000;
	}
	bench_read_machine(&m);
	print_header(&o, &m);
	printf("%-15s %2s %-9s %10s %15s %15s %17s %8s\n", "workload", "q",
	       "mode", "ops/s", "submit/op us", "run/op us", "latency us",
	       "live");
	printf("%-15s %2s %-9s %10s %7s %7s %7s %7s %8s %8s %8s\n", "", "", "",
	       "", "p50", "p99", "p50", "p99", "p50", "p99", "mappings");
	fflush(stdout);
	for (int wl = 0; wl < BWL_NR && ok; wl++) {
		if (!o.wl[wl])
			continue;
		for (unsigned int nq = 1; nq <= MAX_Q && ok; nq++) {
			struct row *r = &rows[n];

			memset(r, 0, sizeof(*r));
			make_config(&o, (enum bwl_kind)wl, nq, &r->c);
			ok = run_row(&o, r);
			if (!ok)
				break;
			print_row(r);
			fflush(stdout);
			all_same &= r->same_state;
			n++;
		}
	}
	if (!ok)
		return 1;
	for (unsigned int i = 0; i < n; i++) {
		const struct row *r = &rows[i];

		if (r->c.wl != BWL_CHURN)
			continue;
		printf("\nrun path at %" PRIu64 " live mappings (churn, %u "
		       "queue(s)): immediate p99 %.2f us per op (target < "
		       "%.1f us: %s), staged p99 %.2f us\n",
		       r->st[M_IMM].mappings, r->c.nq,
		       q_us(&r->f[M_IMM].run, 0.99), TARGET_RUN_P99 / 1e3,
		       gpuvm_bind_hist_quantile(&r->f[M_IMM].run, 0.99) <
				       TARGET_RUN_P99
			       ? "met"
			       : "MISSED",
		       q_us(&r->f[M_STAGED].run, 0.99));
	}
	if (o.json)
		print_json(&o, &m, rows, n);
	if (!all_same) {
		fprintf(stderr, "gpuvm-queue-bench: immediate and staged "
				"mode ended in different states\n");
		return 1;
	}
	return 0;
}
