// SPDX-License-Identifier: MIT
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <gpuvm/alloc.h>
#include <gpuvm/fence.h>
#include <gpuvm/gem.h>
#include <gpuvm/gpuvm.h>
#include <gpuvm/pt.h>
#include <gpuvm/mutex.h>
#include <gpuvm/queue.h>

#include "bind_workload.h"
#include "run.h"

#define EXIT_USAGE 2

#define KIB UINT64_C(1024)
#define MIB (KIB * 1024)

/* The workload's knobs, and how it is submitted and reported. */
struct opts {
	struct bwl_opts w;
	unsigned int queues;
	bool json;
};

struct run {
	struct opts o;
	struct bwl_layout l;
	struct gpuvm *vm;
	struct gpuvm_pt *pt;
	struct gpuvm_bind_vm *bvm;
	struct gpuvm_bind_queue **queues;
	struct bwl_run *wl;
};

static atomic_uint signalling_violations;

static void violation_handler(enum gpuvm_violation rule, const char *msg,
			      void *data)
{
	(void)rule;
	(void)msg;
	(void)data;
	/* Counted only: the handler may not allocate through the library. */
	atomic_fetch_add(&signalling_violations, 1);
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);

	if (!p) {
		fprintf(stderr, "gpuvm run: out of memory\n");
		exit(1);
	}
	return p;
}

static const struct gpuvm_bind_vm_ops bind_ops = {
	.gem_pa = bwl_gem_pa,
};

static void vm_free(struct gpuvm *vm)
{
	free(vm);
}

static const struct gpuvm_ops vm_ops = {
	.vm_free = vm_free,
	GPUVM_BIND_SM_STEPS,
};

/* The workload's back end: the library's bind queue, no input fences. */
static int queue_submit(void *queue, const struct gpuvm_bind_req *reqs,
			unsigned int n, struct gpuvm_fence **out)
{
	return gpuvm_bind_submit(queue, reqs, n, NULL, 0, out);
}

/* ---- figures ---- */

struct walk_ctx {
	uint64_t start, end;
	uint64_t bad_va;
	bool bad;
};

static int walk_cb(uint64_t va, uint64_t size, uint64_t pa, unsigned int flags,
		   void *data)
{
	struct walk_ctx *c = data;

	(void)pa;
	(void)flags;
	if (va < c->start || va + size > c->end) {
		c->bad = true;
		c->bad_va = va;
		return 1;
	}
	return 0;
}

struct result {
	double secs;
	uint64_t jobs, ops;
	struct gpuvm_bind_stats bs;
	struct gpuvm_pt_stats ps;
	struct gpuvm_stats vs;
	struct gpuvm_alloc_stats as;
	uint64_t pool_bytes; /* spare preallocations trimmed at the end */
	uint64_t lat_p50, lat_p99;
	size_t lat_n;
	uint64_t frames, frame_p50, frame_p99, frames_over;
	uint64_t requests_done;
	uint64_t pages_checked;
	bool verify_ok;
	char verify_msg[256];
	unsigned int sig_allocs;
};

static void collect(struct run *r, const struct bwl_result *wr,
		    struct result *res)
{
	const struct opts *o = &r->o;
	uint64_t *lat = xcalloc((size_t)o->queues * GPUVM_BIND_LATENCY_SAMPLES,
				sizeof(uint64_t));
	size_t n = 0;

	for (unsigned int i = 0; i < o->queues; i++) {
		gpuvm_bind_queue_flush(r->queues[i]);
		n += gpuvm_bind_queue_latency_samples(
			r->queues[i], lat + n, GPUVM_BIND_LATENCY_SAMPLES);
	}
	bwl_sort_u64(lat, n);
	res->lat_n = n;
	res->lat_p50 = bwl_quantile(lat, n, 0.5);
	res->lat_p99 = bwl_quantile(lat, n, 0.99);
	free(lat);

	res->secs = wr->secs;
	res->jobs = wr->jobs;
	res->ops = wr->ops;
	res->frames = wr->frames;
	res->frame_p50 = wr->frame_p50;
	res->frame_p99 = wr->frame_p99;
	res->frames_over = wr->frames_over;
	res->requests_done = wr->requests_done;

	gpuvm_bind_vm_get_stats(r->bvm, &res->bs);
	/*
	 * The pools keep the last busy period's worst-case reservations;
	 * what the mappings themselves cost is measured without them.
	 */
	gpuvm_alloc_get_stats(&res->as);
	res->pool_bytes = res->as.live_bytes;
	gpuvm_bind_vm_trim(r->bvm);
	gpuvm_alloc_get_stats(&res->as);
	res->pool_bytes -= res->as.live_bytes;
	gpuvm_bind_vm_lock(r->bvm);
	gpuvm_get_stats(r->vm, &res->vs);
	gpuvm_pt_get_stats(r->pt, &res->ps);
	gpuvm_bind_vm_unlock(r->bvm);
}

/*
 * The library's check covers the span the workload maps, page by page: every
 * mapped page translates as the tree says, every other page faults. A walk
 * of the page table's leaf entries covers the rest of the VA space: none may
 * lie outside the span.
 */
static void verify(struct run *r, struct result *res)
{
	const struct bwl_layout *l = &r->l;
	struct walk_ctx wc = { l->span_start, l->span_end, 0, false };
	int ret;

	res->verify_ok = false;
	gpuvm_bind_vm_lock(r->bvm);
	ret = gpuvm_pt_walk(r->pt, 0, UINT64_C(1) << l->va_bits, walk_cb, &wc);
	gpuvm_bind_vm_unlock(r->bvm);
	if (ret < 0 || wc.bad) {
		snprintf(res->verify_msg, sizeof(res->verify_msg),
			 ret < 0 ? "page-table walk failed"
				 : "page 0x%" PRIx64
				   " is mapped outside the workload's span",
			 wc.bad_va);
		return;
	}
	ret = gpuvm_pt_check(r->pt, res->verify_msg, sizeof(res->verify_msg));
	if (ret)
		return;
	ret = gpuvm_bind_vm_verify(r->bvm, l->span_start,
				   l->span_end - l->span_start, res->verify_msg,
				   sizeof(res->verify_msg));
	if (ret)
		return;
	res->pages_checked = (l->span_end - l->span_start) / GPUVM_PT_PAGE_SIZE;
	res->verify_ok = true;
}

static double per(uint64_t a, uint64_t b)
{
	return b ? (double)a / (double)b : 0.0;
}

static void print_text(const struct run *r, const struct result *res)
{
	const struct opts *o = &r->o;
	const struct bwl_opts *w = &o->w;
	uint64_t live = res->vs.nr_va;

	printf("gpuvm run %s: seed %" PRIu64 ", %u thread(s), %u queue(s), "
	       "%.2f s\n",
	       bwl_names[w->wl], w->seed, w->threads, o->queues, res->secs);
	printf("jobs: %" PRIu64 " (%.0f/s), ops: %" PRIu64 " (%.0f/s)\n",
	       res->jobs, res->jobs / res->secs, res->ops,
	       res->ops / res->secs);
	if (w->wl == BWL_KV)
		printf("requests: %" PRIu64 " finished, page size %" PRIu64
		       " KiB\n",
		       res->requests_done, w->page_size / KIB);
	if (w->wl == BWL_SPARSE)
		printf("frames: %" PRIu64 ", frame time p50 %.3f ms, p99 %.3f "
		       "ms, %" PRIu64 " over 16.6 ms\n",
		       res->frames, res->frame_p50 / 1e6, res->frame_p99 / 1e6,
		       res->frames_over);
	printf("submit-to-signal latency: p50 %.1f us, p99 %.1f us (last %zu "
	       "jobs)\n",
	       res->lat_p50 / 1e3, res->lat_p99 / 1e3, res->lat_n);
	printf("run-path time per op: p50 <= %.2f us, p99 <= %.2f us "
	       "(upper bounds, within 1/16)\n",
	       gpuvm_bind_hist_quantile(&res->bs.run_per_op, 0.5) / 1e3,
	       gpuvm_bind_hist_quantile(&res->bs.run_per_op, 0.99) / 1e3);
	printf("live mappings: %" PRIu64 "\n", live);
	printf("library memory: %" PRIu64 " bytes in %" PRIu64
	       " allocations, %.1f B/mapping (of which tree %.1f B, page "
	       "tables %.1f B)\n",
	       res->as.live_bytes, res->as.live_allocs,
	       per(res->as.live_bytes, live), per(res->vs.tree_bytes, live),
	       per(res->ps.table_bytes, live));
	printf("  counted: every live library allocation (VM, mappings, "
	       "vm_bos, tree nodes, page tables, queues), not the objects,\n"
	       "  after gpuvm_bind_vm_trim() freed %" PRIu64
	       " bytes of spare preallocations\n",
	       res->pool_bytes);
	printf("page-table entries: %" PRIu64 " written, %" PRIu64
	       " cleared, %" PRIu64 " kept (%" PRIu64 " pages saved by keep)\n",
	       res->bs.pt_entries_written, res->bs.pt_entries_cleared,
	       res->bs.pt_entries_kept, res->bs.pt_pages_kept);
	printf("zombies: %" PRIu64 " created, %" PRIu64 " cleaned\n",
	       res->bs.zombies_created, res->bs.zombies_cleaned);
	printf("failed jobs: %" PRIu64 ", run errors: %" PRIu64
	       ", queue violations: %" PRIu64 "\n",
	       res->bs.jobs_failed, res->bs.run_errors, res->bs.violations);
	if (gpuvm_checks_enabled())
		printf("allocations inside signalling sections: %u\n",
		       res->sig_allocs);
	else
		printf("allocations inside signalling sections: not checked "
		       "(library built without checks)\n");
	if (res->verify_ok)
		printf("verify: %" PRIu64 " mappings, %" PRIu64
		       " pages checked, OK\n",
		       live, res->pages_checked);
	else
		printf("verify: FAILED: %s\n", res->verify_msg);
}

static void print_json(const struct run *r, const struct result *res)
{
	const struct opts *o = &r->o;
	const struct bwl_opts *w = &o->w;
	uint64_t live = res->vs.nr_va;

	printf("{\n");
	printf("  \"workload\": \"%s\",\n", bwl_names[w->wl]);
	printf("  \"seed\": %" PRIu64 ",\n", w->seed);
	printf("  \"threads\": %u,\n", w->threads);
	printf("  \"queues\": %u,\n", o->queues);
	printf("  \"seconds\": %.6f,\n", res->secs);
	printf("  \"jobs\": %" PRIu64 ",\n", res->jobs);
	printf("  \"ops\": %" PRIu64 ",\n", res->ops);
	printf("  \"jobs_per_second\": %.3f,\n", res->jobs / res->secs);
	printf("  \"ops_per_second\": %.3f,\n", res->ops / res->secs);
	if (w->wl == BWL_KV) {
		printf("  \"requests_finished\": %" PRIu64 ",\n",
		       res->requests_done);
		printf("  \"page_size\": %" PRIu64 ",\n", w->page_size);
	}
	if (w->wl == BWL_SPARSE) {
		printf("  \"frames\": %" PRIu64 ",\n", res->frames);
		printf("  \"frame_ns_p50\": %" PRIu64 ",\n", res->frame_p50);
		printf("  \"frame_ns_p99\": %" PRIu64 ",\n", res->frame_p99);
		printf("  \"frames_over_16_6ms\": %" PRIu64 ",\n",
		       res->frames_over);
	}
	printf("  \"latency_ns_p50\": %" PRIu64 ",\n", res->lat_p50);
	printf("  \"latency_ns_p99\": %" PRIu64 ",\n", res->lat_p99);
	printf("  \"latency_samples\": %zu,\n", res->lat_n);
	printf("  \"run_per_op_ns_p50\": %" PRIu64 ",\n",
	       gpuvm_bind_hist_quantile(&res->bs.run_per_op, 0.5));
	printf("  \"run_per_op_ns_p99\": %" PRIu64 ",\n",
	       gpuvm_bind_hist_quantile(&res->bs.run_per_op, 0.99));
	printf("  \"live_mappings\": %" PRIu64 ",\n", live);
	printf("  \"library_live_bytes\": %" PRIu64 ",\n", res->as.live_bytes);
	printf("  \"library_live_allocs\": %" PRIu64 ",\n",
	       res->as.live_allocs);
	printf("  \"pool_bytes_trimmed\": %" PRIu64 ",\n", res->pool_bytes);
	printf("  \"tree_bytes\": %zu,\n", res->vs.tree_bytes);
	printf("  \"pt_table_bytes\": %" PRIu64 ",\n", res->ps.table_bytes);
	printf("  \"bytes_per_mapping\": %.3f,\n",
	       per(res->as.live_bytes, live));
	printf("  \"tree_bytes_per_mapping\": %.3f,\n",
	       per(res->vs.tree_bytes, live));
	printf("  \"pt_bytes_per_mapping\": %.3f,\n",
	       per(res->ps.table_bytes, live));
	printf("  \"pt_entries_written\": %" PRIu64 ",\n",
	       res->bs.pt_entries_written);
	printf("  \"pt_entries_cleared\": %" PRIu64 ",\n",
	       res->bs.pt_entries_cleared);
	printf("  \"pt_entries_kept\": %" PRIu64 ",\n",
	       res->bs.pt_entries_kept);
	printf("  \"pt_pages_kept\": %" PRIu64 ",\n", res->bs.pt_pages_kept);
	printf("  \"zombies_created\": %" PRIu64 ",\n",
	       res->bs.zombies_created);
	printf("  \"zombies_cleaned\": %" PRIu64 ",\n",
	       res->bs.zombies_cleaned);
	printf("  \"jobs_failed\": %" PRIu64 ",\n", res->bs.jobs_failed);
	printf("  \"run_errors\": %" PRIu64 ",\n", res->bs.run_errors);
	printf("  \"queue_violations\": %" PRIu64 ",\n", res->bs.violations);
	printf("  \"signalling_checked\": %s,\n",
	       gpuvm_checks_enabled() ? "true" : "false");
	printf("  \"signalling_allocations\": %u,\n", res->sig_allocs);
	printf("  \"verify_mappings\": %" PRIu64 ",\n", live);
	printf("  \"verify_pages\": %" PRIu64 ",\n", res->pages_checked);
	printf("  \"verify_ok\": %s\n", res->verify_ok ? "true" : "false");
	printf("}\n");
}

/* ---- setup and teardown ---- */

static int setup(struct run *r)
{
	const struct opts *o = &r->o;
	const struct bwl_layout *l = &r->l;
	struct gpuvm *vm = xcalloc(1, sizeof(*vm));
	int ret;

	bwl_layout(&o->w, &r->l);
	ret = gpuvm_init(vm, "run", GPUVM_IMMEDIATE_MODE, NULL, l->start,
			 l->range, l->cut_start, l->cut_range, &vm_ops);
	if (ret) {
		free(vm);
		return ret;
	}
	r->vm = vm;
	ret = gpuvm_pt_sw_create(l->va_bits, 0, &r->pt);
	if (ret)
		return ret;
	ret = gpuvm_bind_vm_create(vm, r->pt, &bind_ops, r, &r->bvm);
	if (ret)
		return ret;
	r->queues = xcalloc(o->queues, sizeof(*r->queues));
	for (unsigned int i = 0; i < o->queues; i++) {
		char name[32];

		snprintf(name, sizeof(name), "run%u", i);
		ret = gpuvm_bind_queue_create(r->bvm, name, &r->queues[i]);
		if (ret)
			return ret;
	}
	return bwl_run_create(&o->w, queue_submit, (void *const *)r->queues,
			      o->queues, &r->wl);
}

/*
 * The queues go first: once they are drained nothing but the VM's mappings
 * references the workload's objects, and those go with the VM.
 */
static void teardown(struct run *r)
{
	if (r->queues)
		for (unsigned int i = 0; i < r->o.queues; i++)
			gpuvm_bind_queue_destroy(r->queues[i],
						 GPUVM_BIND_QUEUE_DRAIN);
	free(r->queues);
	bwl_run_destroy(r->wl);
	if (r->bvm)
		gpuvm_bind_vm_destroy(r->bvm);
	gpuvm_pt_destroy(r->pt);
	if (r->vm)
		gpuvm_put(r->vm);
}

/* ---- progress ---- */

static void progress(struct run *r, bool tty)
{
	const struct bwl_opts *o = &r->o.w;
	const struct timespec tick = { 0, 100 * 1000 * 1000 };
	bool shown = false;

	while (bwl_run_threads_done(r->wl) < o->threads) {
		nanosleep(&tick, NULL);
		if (!tty)
			continue;
		double f = 0.0;
		uint64_t jobs = bwl_run_jobs(r->wl);
		char bar[41];

		if (o->jobs)
			f = (double)jobs / (double)o->jobs;
		if (o->have_seconds) {
			double g = bwl_run_elapsed(r->wl) / o->seconds;

			f = f > g ? f : g;
		}
		if (f > 1.0)
			f = 1.0;
		for (int i = 0; i < 40; i++)
			bar[i] = i < (int)(f * 40) ? '#' : '.';
		bar[40] = '\0';
		fprintf(stderr, "\r[%s] %3d%% %" PRIu64 " jobs", bar,
			(int)(f * 100), jobs);
		shown = true;
	}
	if (shown)
		fprintf(stderr, "\r%60s\r", "");
}

/* ---- the subcommand ---- */

static void usage(FILE *f, const char *prog)
{
	fprintf(f,
		"Usage: %s [OPTION]... [WORKLOAD]\n"
		"Drive one immediate-mode VM with a software page table "
		"through the bind\n"
		"queue, print what it cost, and check the page table against "
		"the VA tree.\n"
		"\n"
		"Workloads:\n"
		"  kv-cache        LLM serving paging a KV cache (Llama-3-8B: "
		"32 layers,\n"
		"                  K and V, 2 KiB/token each), Poisson "
		"arrivals (default)\n"
		"  sparse-texture  a game streaming 64 KiB tiles of "
		"null-mapped sparse\n"
		"                  resources in a 2^40 space with a kernel "
		"half\n"
		"  churn           random map/unmap/split holding a live "
		"mapping target\n"
		"\n"
		"Options:\n"
		"  -s, --seed=N          random seed (default 1)\n"
		"  -t, --seconds=S       stop submitting after S seconds "
		"(default 10; none\n"
		"                        with --jobs unless given)\n"
		"  -j, --jobs=N          stop after N jobs in all\n"
		"  -T, --threads=N       submitting threads (default 2)\n"
		"  -q, --queues=N        bind queues (default 2)\n"
		"      --json            print the summary as JSON\n"
		"      --page-size=SIZE  kv-cache page: 64k, 128k, 256k or 2m "
		"(default 64k)\n"
		"      --requests=N      kv-cache concurrent requests "
		"(default 16)\n"
		"      --max-context=N   kv-cache tokens per request "
		"(default 4096)\n"
		"      --tiles=N         sparse-texture tiles bound or "
		"unbound per frame\n"
		"                        (default 256)\n"
		"      --resources=N     sparse-texture 256 MiB resources "
		"(default 64)\n"
		"      --mappings=N      churn: 64 KiB slots kept mapped "
		"(default 100000, at\n"
		"                        most 1000000); holes punched in "
		"them add mappings\n"
		"      --batch=N         requests per job for sparse-texture "
		"and churn\n"
		"                        (default 64)\n"
		"  -h, --help            print this help and exit\n"
		"\n"
		"Exit status: 0 on success, 1 if the verification fails, the "
		"library reports\n"
		"an error or something allocated inside a signalling section, "
		"2 for a bad\n"
		"command line.\n",
		prog);
}

static int bad_usage(const char *prog)
{
	usage(stderr, prog);
	return EXIT_USAGE;
}

static bool parse_num(const char *s, uint64_t min, uint64_t max, uint64_t *out)
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

enum {
	OPT_JSON = 256,
	OPT_PAGE_SIZE,
	OPT_REQUESTS,
	OPT_MAX_CONTEXT,
	OPT_TILES,
	OPT_RESOURCES,
	OPT_MAPPINGS,
	OPT_BATCH,
};

static int parse(int argc, char **argv, struct opts *o)
{
	static const struct option long_opts[] = {
		{ "seed", required_argument, NULL, 's' },
		{ "seconds", required_argument, NULL, 't' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "threads", required_argument, NULL, 'T' },
		{ "queues", required_argument, NULL, 'q' },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "page-size", required_argument, NULL, OPT_PAGE_SIZE },
		{ "requests", required_argument, NULL, OPT_REQUESTS },
		{ "max-context", required_argument, NULL, OPT_MAX_CONTEXT },
		{ "tiles", required_argument, NULL, OPT_TILES },
		{ "resources", required_argument, NULL, OPT_RESOURCES },
		{ "mappings", required_argument, NULL, OPT_MAPPINGS },
		{ "batch", required_argument, NULL, OPT_BATCH },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *prog = argv[0];
	const char *msg;
	uint64_t v = 0;
	char *end;
	int c;

	while ((c = getopt_long(argc, argv, "s:t:j:T:q:h", long_opts, NULL)) !=
	       -1) {
		bool ok = true;

		switch (c) {
		case 's':
			ok = parse_num(optarg, 0, UINT64_MAX, &o->w.seed);
			break;
		case 't':
			errno = 0;
			o->w.seconds = strtod(optarg, &end);
			ok = !errno && *optarg && !*end && o->w.seconds > 0 &&
			     o->w.seconds <= 86400;
			o->w.have_seconds = true;
			break;
		case 'j':
			ok = parse_num(optarg, 1, UINT64_MAX / 2, &o->w.jobs);
			break;
		case 'T':
			ok = parse_num(optarg, 1, 64, &v);
			o->w.threads = (unsigned int)v;
			break;
		case 'q':
			ok = parse_num(optarg, 1, 64, &v);
			o->queues = (unsigned int)v;
			break;
		case OPT_JSON:
			o->json = true;
			break;
		case OPT_PAGE_SIZE:
			if (!strcmp(optarg, "64k"))
				o->w.page_size = 64 * KIB;
			else if (!strcmp(optarg, "128k"))
				o->w.page_size = 128 * KIB;
			else if (!strcmp(optarg, "256k"))
				o->w.page_size = 256 * KIB;
			else if (!strcmp(optarg, "2m"))
				o->w.page_size = 2 * MIB;
			else
				ok = false;
			break;
		case OPT_REQUESTS:
			ok = parse_num(optarg, 1, 1024, &v);
			o->w.requests = (unsigned int)v;
			break;
		case OPT_MAX_CONTEXT:
			ok = parse_num(optarg, 64, 131072, &v);
			o->w.max_context = (unsigned int)v;
			break;
		case OPT_TILES:
			ok = parse_num(optarg, 1, 65536, &v);
			o->w.tiles = (unsigned int)v;
			break;
		case OPT_RESOURCES:
			ok = parse_num(optarg, 1, 1024, &v);
			o->w.resources = (unsigned int)v;
			break;
		case OPT_MAPPINGS:
			ok = parse_num(optarg, 1, 1000000, &v);
			o->w.mappings = (unsigned int)v;
			break;
		case OPT_BATCH:
			ok = parse_num(optarg, 1, 4096, &v);
			o->w.batch = (unsigned int)v;
			break;
		case 'h':
			usage(stdout, prog);
			return -1;
		default:
			return bad_usage(prog);
		}
		if (!ok) {
			fprintf(stderr, "%s: invalid value '%s'\n", prog,
				optarg);
			return bad_usage(prog);
		}
	}
	if (optind < argc) {
		unsigned int i;

		for (i = 0; i < BWL_NR; i++)
			if (!strcmp(argv[optind], bwl_names[i]))
				break;
		if (i == BWL_NR) {
			fprintf(stderr, "%s: unknown workload '%s'\n", prog,
				argv[optind]);
			return bad_usage(prog);
		}
		o->w.wl = (enum bwl_kind)i;
		optind++;
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", prog,
			argv[optind]);
		return bad_usage(prog);
	}
	msg = bwl_opts_check(&o->w);
	if (msg) {
		fprintf(stderr, "%s: %s\n", prog, msg);
		return bad_usage(prog);
	}
	if (!o->w.have_seconds && !o->w.jobs) {
		o->w.have_seconds = true;
		o->w.seconds = 10;
	}
	return 0;
}

int gpuvm_cmd_run(int argc, char **argv)
{
	struct run *r = xcalloc(1, sizeof(*r));
	struct bwl_result wres;
	struct result res;
	bool tty = isatty(STDERR_FILENO);
	int status = 0, ret;
	uint64_t alloc, freed;

	bwl_opts_defaults(&r->o.w);
	r->o.w.name = "gpuvm run";
	r->o.queues = 2;
	ret = parse(argc, argv, &r->o);
	if (ret) {
		free(r);
		return ret < 0 ? (fflush(stdout) ? 1 : 0) : ret;
	}

	memset(&res, 0, sizeof(res));
	atomic_store(&signalling_violations, 0);
	gpuvm_set_violation_handler(violation_handler, NULL);
	ret = setup(r);
	if (ret) {
		fprintf(stderr, "%s: setup failed: %s\n", argv[0],
			strerror(-ret));
		teardown(r);
		free(r);
		return 1;
	}

	if (bwl_run_start(r->wl)) {
		fprintf(stderr, "%s: cannot start threads\n", argv[0]);
		status = 1;
	}
	progress(r, tty);
	bwl_run_join(r->wl, &wres);
	if (wres.err)
		status = 1;

	collect(r, &wres, &res);
	verify(r, &res);
	res.sig_allocs = atomic_load(&signalling_violations);
	if (r->o.json)
		print_json(r, &res);
	else
		print_text(r, &res);
	if (!res.verify_ok || res.sig_allocs || res.bs.violations ||
	    res.bs.run_errors || res.bs.jobs_failed)
		status = 1;

	teardown(r);
	gpuvm_set_violation_handler(NULL, NULL);
	/* Only now: the VM's mappings held objects until it went. */
	alloc = bwl_objects_allocated(NULL);
	freed = bwl_objects_freed(NULL);
	if (alloc != freed) {
		fprintf(stderr,
			"%s: %" PRIu64 " of %" PRIu64 " objects not freed\n",
			argv[0], alloc - freed, alloc);
		status = 1;
	}
	free(r);
	if (fflush(stdout))
		status = 1;
	return status;
}
