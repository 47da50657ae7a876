// SPDX-License-Identifier: MIT
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
/*
 * Model-based random test of the split/merge engine.
 *
 * Random map and unmap requests go through the library (with applying
 * callbacks, or through the *_ops_create() lists applied by hand) and
 * through a naive model written from the rules of "DOC: Split and merge":
 * a sorted array of mappings from which the expected steps are derived
 * directly. Small dense spaces also keep a page-by-page picture of what is
 * mapped where, maintained from the requests alone, as a second, even
 * simpler opinion on the final state. After every request the steps, the
 * final state, the lookups and gpuvm_check_invariants() must all agree.
 *
 * Usage: test_random [--seed N|random] [--iterations N]  (or GPUVM_SEED)
 */
#include "testutil.h"

#define NBO   3
#define NO_BO (-1)

/* ------------------------------------------------------------------ */
/* The model                                                            */

struct mmap {
	uint64_t addr, range, off;
	int bo;
};

struct model {
	uint64_t start, end; /* end is exclusive and may be 2^64 - 1 */
	uint64_t rs, re;     /* the cut-out, rs == re if none */
	struct mmap *m;
	size_t n, cap;
	/* Dense spaces: one entry per page; bo == -2 means unmapped. */
	uint64_t page;
	size_t npages;
	struct mmap *pages;
};

#define UNMAPPED (-2)

static uint64_t mend(const struct mmap *m)
{
	return m->addr + m->range;
}

static bool model_valid(const struct model *md, uint64_t addr, uint64_t range)
{
	if (range == 0 || addr > UINT64_MAX - range)
		return false;
	if (addr < md->start || addr + range > md->end)
		return false;
	if (md->rs != md->re && addr < md->re && addr + range > md->rs)
		return false;
	return true;
}

struct mstep {
	enum gpuva_op_type type;
	struct mmap va;
	bool keep;
	bool has_prev, has_next;
	struct mmap prev, next;
};

struct msteps {
	struct mstep *s;
	size_t n, cap;
};

static void msteps_push(struct msteps *st, const struct mstep *x)
{
	if (st->n == st->cap) {
		st->cap = st->cap ? st->cap * 2 : 16;
		st->s = realloc(st->s, st->cap * sizeof(*st->s));
		assert_non_null(st->s);
	}
	st->s[st->n++] = *x;
}

/*
 * The steps a request must produce, straight from the rules: each
 * overlapping mapping in ascending order is unmapped if it lies inside the
 * request and remapped to its surviving head and tail otherwise; keep holds
 * when the object matches and the offsets line up at the start of the
 * overlap; the map comes last.
 */
static void model_steps(const struct model *md, bool is_map, uint64_t addr,
			uint64_t range, int bo, uint64_t off,
			struct msteps *out)
{
	uint64_t end = addr + range;
	size_t i;

	out->n = 0;
	for (i = 0; i < md->n; i++) {
		const struct mmap *m = &md->m[i];
		uint64_t ov = m->addr > addr ? m->addr : addr;
		struct mstep x;

		if (m->addr >= end || mend(m) <= addr)
			continue;
		memset(&x, 0, sizeof(x));
		x.va = *m;
		x.keep = is_map && m->bo != NO_BO && m->bo == bo &&
			 m->off + (ov - m->addr) == off + (ov - addr);
		if (m->addr < addr) {
			x.has_prev = true;
			x.prev.addr = m->addr;
			x.prev.range = addr - m->addr;
			x.prev.off = m->off;
			x.prev.bo = m->bo;
		}
		if (mend(m) > end) {
			x.has_next = true;
			x.next.addr = end;
			x.next.range = mend(m) - end;
			x.next.off = m->off + (end - m->addr);
			x.next.bo = m->bo;
		}
		x.type = x.has_prev || x.has_next ? GPUVA_OP_REMAP
						  : GPUVA_OP_UNMAP;
		msteps_push(out, &x);
	}
	if (is_map) {
		struct mstep x;

		memset(&x, 0, sizeof(x));
		x.type = GPUVA_OP_MAP;
		x.va.addr = addr;
		x.va.range = range;
		x.va.off = off;
		x.va.bo = bo;
		msteps_push(out, &x);
	}
}

static void model_add(struct model *md, const struct mmap *x)
{
	size_t i;

	if (md->n == md->cap) {
		md->cap = md->cap ? md->cap * 2 : 64;
		md->m = realloc(md->m, md->cap * sizeof(*md->m));
		assert_non_null(md->m);
	}
	for (i = md->n; i > 0 && md->m[i - 1].addr > x->addr; i--)
		md->m[i] = md->m[i - 1];
	md->m[i] = *x;
	md->n++;
}

/* The request's effect on the model, from the same rules. */
static void model_apply(struct model *md, bool is_map, uint64_t addr,
			uint64_t range, int bo, uint64_t off)
{
	uint64_t end = addr + range;
	struct mmap keep[2];
	size_t i, j, nk = 0;

	for (i = 0, j = 0; i < md->n; i++) {
		const struct mmap *m = &md->m[i];

		if (m->addr >= end || mend(m) <= addr) {
			md->m[j++] = *m;
			continue;
		}
		if (m->addr < addr) {
			keep[nk] = *m;
			keep[nk].range = addr - m->addr;
			nk++;
		}
		if (mend(m) > end) {
			keep[nk] = *m;
			keep[nk].addr = end;
			keep[nk].range = mend(m) - end;
			keep[nk].off = m->off + (end - m->addr);
			nk++;
		}
	}
	md->n = j;
	for (i = 0; i < nk; i++)
		model_add(md, &keep[i]);
	if (is_map) {
		struct mmap x = { addr, range, off, bo };

		model_add(md, &x);
	}

	/* The page picture only knows "this page now shows that". */
	if (md->pages) {
		uint64_t p;

		for (p = (addr - md->start) / md->page;
		     p < (end - md->start) / md->page; p++) {
			struct mmap *pg = &md->pages[p];

			if (is_map) {
				pg->bo = bo;
				pg->off =
					off + (md->start + p * md->page - addr);
			} else {
				pg->bo = UNMAPPED;
			}
		}
	}
}

/* ------------------------------------------------------------------ */
/* The library side                                                     */

static struct tu_bo bos[NBO];

static struct gpuvm_gem *obj_of(int bo)
{
	return bo == NO_BO ? NULL : &bos[bo].gem;
}

static int bo_of(const struct gpuvm_gem *obj)
{
	int i;

	if (!obj)
		return NO_BO;
	for (i = 0; i < NBO; i++)
		if (obj == &bos[i].gem)
			return i;
	fail_msg("unknown object %p", (const void *)obj);
	return NO_BO;
}

struct run {
	const char *scenario;
	uint64_t iter;
	struct gpuvm *vm;
	struct model md;
	struct tu_rng rng;
	struct msteps want;
	struct tu_rec rec;
	uint64_t keeps, remaps, unmaps, einval;
};

#define RUN_FAIL(r, ...)                                                       \
	do {                                                                   \
		print_error("scenario %s, request %" PRIu64 " (seed %" PRIu64  \
			    "):\n",                                            \
			    (r)->scenario, (r)->iter, tu_state()->seed);       \
		fail_msg(__VA_ARGS__);                                         \
	} while (0)

static bool piece_eq(const struct tu_piece *p, const struct mmap *m)
{
	return p->addr == m->addr && p->range == m->range && p->off == m->off &&
	       p->obj == obj_of(m->bo);
}

static void check_steps(struct run *r)
{
	size_t i;

	if (r->rec.n != r->want.n)
		RUN_FAIL(r, "%zu steps, expected %zu", r->rec.n, r->want.n);
	for (i = 0; i < r->want.n; i++) {
		const struct tu_rec_op *g = &r->rec.ops[i];
		const struct mstep *w = &r->want.s[i];

		if (g->type != w->type)
			RUN_FAIL(r, "step %zu: type %d, expected %d", i,
				 (int)g->type, (int)w->type);
		if (!piece_eq(&g->va, &w->va))
			RUN_FAIL(r,
				 "step %zu: mapping 0x%" PRIx64 "+0x%" PRIx64
				 " off 0x%" PRIx64 ", expected 0x%" PRIx64
				 "+0x%" PRIx64 " off 0x%" PRIx64,
				 i, g->va.addr, g->va.range, g->va.off,
				 w->va.addr, w->va.range, w->va.off);
		if (w->type == GPUVA_OP_MAP)
			continue;
		if (g->keep != w->keep)
			RUN_FAIL(r,
				 "step %zu (0x%" PRIx64 "): keep=%d, "
				 "expected %d",
				 i, w->va.addr, g->keep, w->keep);
		if (g->has_prev != w->has_prev || g->has_next != w->has_next)
			RUN_FAIL(r, "step %zu: prev/next presence differs", i);
		if (w->has_prev && !piece_eq(&g->prev, &w->prev))
			RUN_FAIL(r, "step %zu: prev piece differs", i);
		if (w->has_next && !piece_eq(&g->next, &w->next))
			RUN_FAIL(r, "step %zu: next piece differs", i);
		r->keeps += w->keep;
		r->remaps += w->type == GPUVA_OP_REMAP;
		r->unmaps += w->type == GPUVA_OP_UNMAP;
	}
}

static void check_state(struct run *r)
{
	struct gpuvm *vm = r->vm;
	struct gpuvm_va_iter it;
	struct gpuva *va;
	struct gpuvm_stats st;
	size_t i = 0;
	char msg[256] = "";

	if (gpuvm_check_invariants(vm, msg, sizeof(msg)))
		RUN_FAIL(r, "invariants: %s", msg);
	gpuvm_for_each_va(va, &it, vm) {
		const struct mmap *m;

		if (gpuvm_va_is_reserved(vm, va)) {
			if (va->va.addr != r->md.rs ||
			    va->va.addr + va->va.range != r->md.re)
				RUN_FAIL(r, "the cut-out moved");
			continue;
		}
		if (i >= r->md.n)
			RUN_FAIL(r, "more mappings than the model");
		m = &r->md.m[i++];
		if (va->va.addr != m->addr || va->va.range != m->range ||
		    va->gem.offset != m->off || bo_of(va->gem.obj) != m->bo)
			RUN_FAIL(r,
				 "mapping %zu is 0x%" PRIx64 "+0x%" PRIx64
				 " bo %d off 0x%" PRIx64 ", model 0x%" PRIx64
				 "+0x%" PRIx64 " bo %d off 0x%" PRIx64,
				 i - 1, va->va.addr, va->va.range,
				 bo_of(va->gem.obj), va->gem.offset, m->addr,
				 m->range, m->bo, m->off);
		if (va->vm != vm)
			RUN_FAIL(r, "mapping with a wrong vm pointer");
	}
	if (i != r->md.n)
		RUN_FAIL(r, "%zu mappings, model has %zu", i, r->md.n);
	gpuvm_get_stats(vm, &st);
	if (st.nr_va != r->md.n)
		RUN_FAIL(r, "stats say %zu mappings", st.nr_va);
	if (gpuvm_kref_read(&vm->kref) != 1 + r->md.n)
		RUN_FAIL(r, "VM holds %u references for %zu mappings",
			 gpuvm_kref_read(&vm->kref), r->md.n);

	/* Page by page, against the picture kept from the requests. */
	if (r->md.pages) {
		size_t p, k = 0;

		for (p = 0; p < r->md.npages; p++) {
			uint64_t a = r->md.start + p * r->md.page;
			const struct mmap *pg = &r->md.pages[p];
			const struct mmap *m;

			while (k < r->md.n && mend(&r->md.m[k]) <= a)
				k++;
			m = k < r->md.n && r->md.m[k].addr <= a ? &r->md.m[k]
								: NULL;
			if (!m && pg->bo != UNMAPPED)
				RUN_FAIL(r, "page %zu should be mapped", p);
			if (m && pg->bo == UNMAPPED)
				RUN_FAIL(r, "page %zu should be unmapped", p);
			if (m && (m->bo != pg->bo ||
				  m->off + (a - m->addr) != pg->off))
				RUN_FAIL(r, "page %zu maps the wrong memory",
					 p);
		}
	}
}

/* ------------------------------------------------------------------ */
/* Lookups against the model (the cut-out counts as a mapping there).  */

struct qent {
	uint64_t addr, end;
	bool rsv;
};

/* The lowest entry, cut-out included, overlapping the closed [lo, hi]. */
static bool model_lowest(const struct model *md, uint64_t lo, uint64_t hi,
			 struct qent *out)
{
	size_t i;
	bool have_rsv = md->rs != md->re && md->rs <= hi && md->re - 1 >= lo;

	if (lo > hi)
		return false;

	for (i = 0; i < md->n; i++) {
		const struct mmap *m = &md->m[i];

		if (m->addr > hi)
			break;
		if (mend(m) - 1 >= lo) {
			if (have_rsv && md->rs < m->addr)
				break;
			out->addr = m->addr;
			out->end = mend(m);
			out->rsv = false;
			return true;
		}
	}
	if (have_rsv) {
		out->addr = md->rs;
		out->end = md->re;
		out->rsv = true;
		return true;
	}
	return false;
}

static void check_found(struct run *r, const char *what, uint64_t arg,
			const struct gpuva *got, bool have,
			const struct qent *want)
{
	if (!have) {
		if (got)
			RUN_FAIL(r,
				 "%s(0x%" PRIx64 ") found 0x%" PRIx64
				 ", expected nothing",
				 what, arg, got->va.addr);
		return;
	}
	if (!got)
		RUN_FAIL(r,
			 "%s(0x%" PRIx64 ") found nothing, expected 0x%" PRIx64,
			 what, arg, want->addr);
	if (got->va.addr != want->addr ||
	    got->va.addr + got->va.range != want->end ||
	    gpuvm_va_is_reserved(r->vm, got) != want->rsv)
		RUN_FAIL(r,
			 "%s(0x%" PRIx64 ") found 0x%" PRIx64
			 ", expected 0x%" PRIx64,
			 what, arg, got->va.addr, want->addr);
}

static uint64_t pick_point(struct run *r)
{
	const struct model *md = &r->md;
	uint64_t base, d;

	switch (tu_rng_below(&r->rng, 6)) {
	case 0:
		base = md->start;
		break;
	case 1:
		base = md->end;
		break;
	case 2:
		if (md->rs == md->re)
			base = md->start;
		else
			base = tu_rng_chance(&r->rng, 50) ? md->rs : md->re;
		break;
	default:
		if (md->n) {
			const struct mmap *m =
				&md->m[tu_rng_below(&r->rng, md->n)];

			base = tu_rng_chance(&r->rng, 50) ? m->addr : mend(m);
		} else {
			base = md->start;
		}
		break;
	}
	d = tu_rng_below(&r->rng, 3);
	if (tu_rng_chance(&r->rng, 50))
		return base + d;
	return base - d;
}

static void check_lookups(struct run *r)
{
	const struct model *md = &r->md;
	struct gpuvm *vm = r->vm;
	struct qent q;
	bool have;
	int k;

	for (k = 0; k < 4; k++) {
		uint64_t a = pick_point(r), b = pick_point(r);
		uint64_t lo = a < b ? a : b, hi = a < b ? b : a;
		uint64_t range = hi - lo;

		/* find_first over [lo, hi); 0 and overflow find nothing. */
		have = range && model_lowest(md, lo, hi - 1, &q);
		check_found(r, "find_first", lo,
			    gpuva_find_first(vm, lo, range), have, &q);
		if (range && gpuvm_interval_empty(vm, lo, range) == have)
			RUN_FAIL(r,
				 "interval_empty(0x%" PRIx64 ", 0x%" PRIx64
				 ") disagrees",
				 lo, range);
		if (gpuvm_range_valid(vm, lo, range) !=
		    model_valid(md, lo, range))
			RUN_FAIL(r,
				 "range_valid(0x%" PRIx64 ", 0x%" PRIx64
				 ") disagrees",
				 lo, range);

		/* find_prev: the probe is [a - 1, a]. */
		have = a != 0 && model_valid(md, a - 1, 1) &&
		       model_lowest(md, a - 1, a, &q);
		check_found(r, "find_prev", a, gpuva_find_prev(vm, a), have,
			    &q);
		/* find_next: the probe is [b, b + 1]. */
		have = b != UINT64_MAX && model_valid(md, b, 1) &&
		       model_lowest(md, b, b + 1, &q);
		check_found(r, "find_next", b, gpuva_find_next(vm, b), have,
			    &q);
	}

	/* Exact lookups of a few mappings. */
	for (k = 0; k < 2 && md->n; k++) {
		const struct mmap *m = &md->m[tu_rng_below(&r->rng, md->n)];
		struct gpuva *va = gpuva_find(vm, m->addr, m->range);

		if (!va || va->va.addr != m->addr || va->va.range != m->range)
			RUN_FAIL(r, "find(0x%" PRIx64 ") failed", m->addr);
		if (m->range > 1 && gpuva_find(vm, m->addr, m->range - 1))
			RUN_FAIL(r, "find matched a shorter range");
	}
}

/* A range walk must see exactly the overlapping entries, in order. */
static void check_walk(struct run *r)
{
	const struct model *md = &r->md;
	uint64_t a = pick_point(r), b = pick_point(r);
	uint64_t lo = a < b ? a : b, hi = a < b ? b : a;
	struct gpuvm_va_iter it;
	struct gpuva *va;
	uint64_t cur = lo;
	bool safe = tu_rng_chance(&r->rng, 50);
	struct qent q;

	for (va = gpuvm_va_iter_first(&it, r->vm, lo, hi, safe); va;
	     va = gpuvm_va_iter_next(&it)) {
		/* The next overlapping entry after the previous one. */
		if (cur >= hi || !model_lowest(md, cur, hi - 1, &q) ||
		    q.addr != va->va.addr)
			RUN_FAIL(r,
				 "walk [0x%" PRIx64 ", 0x%" PRIx64
				 ") visited 0x%" PRIx64,
				 lo, hi, va->va.addr);
		cur = va->va.addr + va->va.range;
	}
	if (cur < hi && model_lowest(md, cur, hi - 1, &q))
		RUN_FAIL(r,
			 "walk [0x%" PRIx64 ", 0x%" PRIx64
			 ") missed 0x%" PRIx64,
			 lo, hi, q.addr);
}

/* ------------------------------------------------------------------ */
/* Requests                                                             */

struct scenario {
	const char *name;
	uint64_t start, range;
	uint64_t rs, rrange;
	uint64_t page; /* request granule */
	size_t npages; /* > 0: dense, with a page picture */
	unsigned int null_pct;
	unsigned int unmap_pct;
};

struct req {
	bool is_map;
	uint64_t addr, range, off;
	int bo;
};

static uint64_t rand_len(struct run *r, uint64_t max)
{
	/* Mostly short, sometimes anything up to @max. */
	if (max <= 1)
		return max;
	if (tu_rng_chance(&r->rng, 70))
		return 1 + tu_rng_below(&r->rng, max < 8 ? max : 8);
	return 1 + tu_rng_below(&r->rng, max);
}

static void gen_dense(struct run *r, const struct scenario *sc, struct req *q)
{
	uint64_t p = tu_rng_below(&r->rng, sc->npages);
	uint64_t len = rand_len(r, sc->npages - p);

	q->addr = sc->start + p * sc->page;
	q->range = len * sc->page;
	/* Same-object, same-offset requests make keep=1 common. */
	if (q->bo != NO_BO && tu_rng_chance(&r->rng, 60))
		q->off = (uint64_t)q->bo * 0x1000000 + p * sc->page;
	else
		q->off = tu_rng_below(&r->rng, 2 * sc->npages) * sc->page;
}

static void gen_sparse(struct run *r, const struct scenario *sc, struct req *q)
{
	const struct model *md = &r->md;
	uint64_t span = sc->range;

	if (md->n && tu_rng_chance(&r->rng, 60)) {
		/* Near an existing mapping, to get overlaps. */
		const struct mmap *m = &md->m[tu_rng_below(&r->rng, md->n)];
		uint64_t d = tu_rng_below(&r->rng, 64) * sc->page;

		q->addr = tu_rng_chance(&r->rng, 50) ? m->addr : mend(m);
		q->addr =
			tu_rng_chance(&r->rng, 50) ? q->addr - d : q->addr + d;
	} else {
		q->addr = sc->start +
			  tu_rng_below(&r->rng, span / sc->page) * sc->page;
	}
	if (tu_rng_chance(&r->rng, 80))
		q->range = (1 + tu_rng_below(&r->rng, 256)) * sc->page;
	else
		q->range = (1 + tu_rng_below(&r->rng, 1ull << 28)) * sc->page;
	if (q->bo != NO_BO && tu_rng_chance(&r->rng, 60))
		q->off = q->addr - sc->start;
	else
		q->off = tu_rng_below(&r->rng, 1ull << 40) * sc->page;
}

/* A request the model deems invalid, of one of several kinds. */
static void gen_invalid(struct run *r, const struct scenario *sc, struct req *q)
{
	uint64_t end = sc->start + sc->range;

	switch (tu_rng_below(&r->rng, 6)) {
	case 0:
		q->range = 0;
		break;
	case 1:
		q->addr = UINT64_MAX - tu_rng_below(&r->rng, 4);
		q->range = 2 + tu_rng_below(&r->rng, 1ull << 20);
		break;
	case 2:
		if (sc->start) {
			q->addr = sc->start - 1 - tu_rng_below(&r->rng, 8);
			q->range = 1 + tu_rng_below(&r->rng, sc->range);
		}
		break;
	case 3:
		if (end != UINT64_MAX) {
			q->addr = end - tu_rng_below(&r->rng, 8);
			q->range = 9 + tu_rng_below(&r->rng, 1ull << 20);
		}
		break;
	default:
		if (sc->rrange) {
			q->addr = sc->rs + tu_rng_below(&r->rng, sc->rrange);
			q->addr -= tu_rng_below(&r->rng, 2) * sc->page;
			q->range = 1 + tu_rng_below(&r->rng, 4 * sc->page);
		}
		break;
	}
}

static void gen_request(struct run *r, const struct scenario *sc, struct req *q)
{
	memset(q, 0, sizeof(*q));
	q->is_map = !tu_rng_chance(&r->rng, sc->unmap_pct);
	q->bo = tu_rng_chance(&r->rng, sc->null_pct)
			? NO_BO
			: (int)tu_rng_below(&r->rng, NBO);
	if (sc->npages)
		gen_dense(r, sc, q);
	else
		gen_sparse(r, sc, q);
	if (tu_rng_chance(&r->rng, 8))
		gen_invalid(r, sc, q);
	if (!q->is_map) {
		q->bo = NO_BO;
		q->off = 0;
	}
}

static void run_request(struct run *r, const struct req *q, bool staged)
{
	struct gpuvm *vm = r->vm;
	struct gpuvm_map_req mr;
	struct gpuva_ops *ops = NULL;
	bool valid = model_valid(&r->md, q->addr, q->range);
	int ret;

	memset(&mr, 0, sizeof(mr));
	mr.map.va.addr = q->addr;
	mr.map.va.range = q->range;
	mr.map.gem.obj = obj_of(q->bo);
	mr.map.gem.offset = q->off;
	tu_rec_reset(&r->rec);

	if (staged) {
		struct tu_snap snap;

		tu_snap_take(vm, &snap);
		if (q->is_map)
			ret = gpuvm_sm_map_ops_create(vm, &mr, &ops);
		else
			ret = gpuvm_sm_unmap_ops_create(vm, q->addr, q->range,
							&ops);
		tu_snap_check(vm, &snap);
		tu_snap_free(&snap);
		if (ret == 0) {
			r->rec.apply = false;
			tu_rec_from_ops(&r->rec, ops);
		}
	} else {
		r->rec.apply = true;
		if (q->is_map)
			ret = gpuvm_sm_map(vm, &r->rec, &mr);
		else
			ret = gpuvm_sm_unmap(vm, &r->rec, q->addr, q->range);
		if (r->rec.apply_err)
			RUN_FAIL(r, "applying a step failed: %d",
				 r->rec.apply_err);
	}

	if (!valid) {
		if (ret != -EINVAL)
			RUN_FAIL(r,
				 "invalid request 0x%" PRIx64 "+0x%" PRIx64
				 " returned %d",
				 q->addr, q->range, ret);
		if (r->rec.calls || r->rec.n)
			RUN_FAIL(r, "invalid request made steps");
		r->einval++;
		check_state(r);
		return;
	}
	if (ret)
		RUN_FAIL(r, "request 0x%" PRIx64 "+0x%" PRIx64 " returned %d",
			 q->addr, q->range, ret);

	model_steps(&r->md, q->is_map, q->addr, q->range, q->bo, q->off,
		    &r->want);
	check_steps(r);
	if (staged) {
		ret = tu_apply_ops(vm, ops);
		gpuva_ops_free(vm, ops);
		if (ret)
			RUN_FAIL(r, "applying the list failed: %d", ret);
	}
	model_apply(&r->md, q->is_map, q->addr, q->range, q->bo, q->off);
	check_state(r);
}

static uint64_t name_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 0x100000001b3ull;
	return h << 2;
}

/* mode: 0 callbacks, 1 lists, 2 a random mix. */
static void run_scenario(const struct scenario *sc, int mode)
{
	struct tu_state *st = tu_state();
	struct run *r = calloc(1, sizeof(*r));
	uint64_t i, n = st->iterations;
	size_t p;

	assert_non_null(r);
	r->scenario = sc->name;
	/* Each scenario and mode has its own stream, derived from the seed. */
	tu_rng_seed(&r->rng, st->seed ^ name_hash(sc->name) ^ (uint64_t)mode);
	r->vm = tu_vm_create(sc->start, sc->range, sc->rs, sc->rrange);
	tu_rec_init(&r->rec, r->vm, true);
	r->md.start = sc->start;
	r->md.end = sc->start + sc->range;
	r->md.rs = sc->rs;
	r->md.re = sc->rs + sc->rrange;
	r->md.page = sc->page;
	r->md.npages = sc->npages;
	if (sc->npages) {
		r->md.pages = calloc(sc->npages, sizeof(*r->md.pages));
		assert_non_null(r->md.pages);
		for (p = 0; p < sc->npages; p++)
			r->md.pages[p].bo = UNMAPPED;
	}
	check_state(r);

	for (i = 0; i < n; i++) {
		struct req q;
		bool staged = mode == 2 ? tu_rng_chance(&r->rng, 50) : mode;

		r->iter = i;
		gen_request(r, sc, &q);
		run_request(r, &q, staged);
		check_lookups(r);
		check_walk(r);
	}
	print_message("%s/%s: %" PRIu64 " requests, %" PRIu64
		      " remaps, %" PRIu64 " unmaps, %" PRIu64 " kept, %" PRIu64
		      " rejected, %zu "
		      "mappings left\n",
		      sc->name,
		      mode == 0	  ? "callbacks"
		      : mode == 1 ? "lists"
				  : "mixed",
		      n, r->remaps, r->unmaps, r->keeps, r->einval, r->md.n);
	/* Every scenario must have exercised the interesting paths. */
	if (n >= 1000) {
		assert_true(r->remaps > 0);
		assert_true(r->unmaps > 0);
		if (sc->null_pct < 100)
			assert_true(r->keeps > 0);
		else
			assert_int_equal(r->keeps, 0);
		assert_true(r->einval > 0);
	}

	tu_vm_destroy(r->vm);
	tu_rec_fini(&r->rec);
	free(r->want.s);
	free(r->md.m);
	free(r->md.pages);
	free(r);
}

static const struct scenario dense = {
	.name = "dense",
	.start = 0x100000,
	.range = 64 * 0x1000,
	.page = 0x1000,
	.npages = 64,
	.null_pct = 15,
	.unmap_pct = 25,
};

static const struct scenario dense_reserved = {
	.name = "dense-reserved",
	.start = 0,
	.range = 64 * 0x1000,
	.rs = 24 * 0x1000,
	.rrange = 4 * 0x1000,
	.page = 0x1000,
	.npages = 64,
	.null_pct = 15,
	.unmap_pct = 25,
};

static const struct scenario top = {
	.name = "top",
	.start = UINT64_MAX - 64,
	.range = 64,
	.page = 1,
	.npages = 64,
	.null_pct = 15,
	.unmap_pct = 25,
};

static const struct scenario top_reserved = {
	.name = "top-reserved",
	.start = UINT64_MAX - 48,
	.range = 48,
	.rs = UINT64_MAX - 4,
	.rrange = 2,
	.page = 1,
	.npages = 48,
	.null_pct = 15,
	.unmap_pct = 25,
};

static const struct scenario null_objects = {
	.name = "null",
	.start = 0x10000,
	.range = 32 * 0x1000,
	.page = 0x1000,
	.npages = 32,
	.null_pct = 100,
	.unmap_pct = 25,
};

static const struct scenario sparse = {
	.name = "sparse",
	.start = 0x1000,
	.range = (1ull << 48) - 0x1000,
	.rs = 1ull << 47,
	.rrange = 1ull << 32,
	.page = 0x1000,
	.null_pct = 10,
	.unmap_pct = 35,
};

static int rnd_setup(void **state)
{
	int i;

	for (i = 0; i < NBO; i++)
		tu_bo_init(&bos[i], UINT64_MAX);
	return tu_setup(state);
}

static int rnd_teardown(void **state)
{
	int i;

	for (i = 0; i < NBO; i++) {
		assert_int_equal(gpuvm_kref_read(&bos[i].gem.refcount), 1);
		gpuvm_gem_put(&bos[i].gem);
	}
	return tu_teardown(state);
}

#define SCEN_TESTS(sc)                                                         \
	static void test_##sc##_callbacks(void **state)                        \
	{                                                                      \
		(void)state;                                                   \
		run_scenario(&sc, 0);                                          \
	}                                                                      \
	static void test_##sc##_lists(void **state)                            \
	{                                                                      \
		(void)state;                                                   \
		run_scenario(&sc, 1);                                          \
	}                                                                      \
	static void test_##sc##_mixed(void **state)                            \
	{                                                                      \
		(void)state;                                                   \
		run_scenario(&sc, 2);                                          \
	}

SCEN_TESTS(dense)
SCEN_TESTS(dense_reserved)
SCEN_TESTS(top)
SCEN_TESTS(top_reserved)
SCEN_TESTS(null_objects)
SCEN_TESTS(sparse)

#define SCEN_ENTRIES(sc)                                                       \
	cmocka_unit_test_setup_teardown(test_##sc##_callbacks, rnd_setup,      \
					rnd_teardown),                         \
		cmocka_unit_test_setup_teardown(test_##sc##_lists, rnd_setup,  \
						rnd_teardown),                 \
		cmocka_unit_test_setup_teardown(test_##sc##_mixed, rnd_setup,  \
						rnd_teardown)

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		/* clang-format off */
		SCEN_ENTRIES(dense),
		SCEN_ENTRIES(dense_reserved),
		SCEN_ENTRIES(top),
		SCEN_ENTRIES(top_reserved),
		SCEN_ENTRIES(null_objects),
		SCEN_ENTRIES(sparse),
		/* clang-format on */
	};

	tu_init(argc, argv, 20260101, 3000);
	return cmocka_run_group_tests_name("random", tests, NULL, NULL);
}
