/* SPDX-License-Identifier: MIT */
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
#ifndef GPUVM_TESTS_TESTUTIL_H
#define GPUVM_TESTS_TESTUTIL_H

/*
 * Shared test scaffolding: a seeded PRNG, argument parsing, a leak and
 * warning check around every cmocka test, a heap-allocated test VM, test
 * buffer objects, tree snapshots, and step callbacks that record what the
 * split/merge engine asked for while applying it to the tree.
 *
 * Everything is static inline so that each test program compiles only what
 * it uses without unused-function warnings.
 */

#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <gpuvm/gpuvm.h>

/* ------------------------------------------------------------------ */
/* PRNG: splitmix64 to expand the seed, xoshiro256** to draw.          */

struct tu_rng {
	uint64_t s[4];
};

static inline uint64_t tu_splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static inline void tu_rng_seed(struct tu_rng *r, uint64_t seed)
{
	uint64_t x = seed;
	int i;

	for (i = 0; i < 4; i++)
		r->s[i] = tu_splitmix64(&x);
}

static inline uint64_t tu_rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static inline uint64_t tu_rng_next(struct tu_rng *r)
{
	uint64_t *s = r->s;
	uint64_t res = tu_rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = tu_rotl(s[3], 45);
	return res;
}

/* Uniform in [0, n); n == 0 means the full 64-bit range. */
static inline uint64_t tu_rng_below(struct tu_rng *r, uint64_t n)
{
	uint64_t x, lim;

	if (n == 0)
		return tu_rng_next(r);
	lim = UINT64_MAX - UINT64_MAX % n;
	do {
		x = tu_rng_next(r);
	} while (x >= lim);
	return x % n;
}

/* Uniform in [lo, hi]. */
static inline uint64_t tu_rng_range(struct tu_rng *r, uint64_t lo, uint64_t hi)
{
	return lo + tu_rng_below(r, hi - lo + 1);
}

static inline bool tu_rng_chance(struct tu_rng *r, unsigned int percent)
{
	return tu_rng_below(r, 100) < percent;
}

/* ------------------------------------------------------------------ */
/* Per-process state and argument parsing.                             */

struct tu_state {
	uint64_t seed;
	uint64_t iterations;
	uint64_t live0;
	uint64_t warn0;
	uint64_t warn_expected;
	uint64_t warns_seen;
	char last_warn[256];
	struct tu_rng rng;
};

static inline struct tu_state *tu_state(void)
{
	static struct tu_state st;

	return &st;
}

static inline bool tu_parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || !*s)
		return false;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end)
		return false;
	*out = v;
	return true;
}

static inline uint64_t tu_time_seed(void)
{
	uint64_t x = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);

	return tu_splitmix64(&x);
}

static inline void tu_warn_handler(const char *msg, void *data)
{
	struct tu_state *st = data;

	st->warns_seen++;
	snprintf(st->last_warn, sizeof(st->last_warn), "%s", msg);
}

/*
 * Reads "--seed N" (or "random"), "--iterations N", and GPUVM_SEED; prints the
 * seed so that any failure can be replayed. The command line wins over the
 * environment.
 */
static inline void tu_init(int argc, char **argv, uint64_t def_seed,
			   uint64_t def_iterations)
{
	struct tu_state *st = tu_state();
	const char *env = getenv("GPUVM_SEED");
	const char *seed_arg = NULL;
	int i;

	st->seed = def_seed;
	st->iterations = def_iterations;
	if (env && *env)
		seed_arg = env;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = NULL;
		bool is_seed = false;

		if (!strcmp(a, "--seed") || !strcmp(a, "--iterations")) {
			is_seed = !strcmp(a, "--seed");
			if (i + 1 >= argc) {
				fprintf(stderr, "%s needs a value\n", a);
				exit(2);
			}
			v = argv[++i];
		} else if (!strncmp(a, "--seed=", 7)) {
			is_seed = true;
			v = a + 7;
		} else if (!strncmp(a, "--iterations=", 13)) {
			v = a + 13;
		} else {
			fprintf(stderr, "unknown argument %s\n", a);
			exit(2);
		}
		if (is_seed) {
			seed_arg = v;
		} else if (!tu_parse_u64(v, &st->iterations)) {
			fprintf(stderr, "bad iteration count %s\n", v);
			exit(2);
		}
	}
	if (seed_arg) {
		if (!strcmp(seed_arg, "random")) {
			st->seed = tu_time_seed();
		} else if (!tu_parse_u64(seed_arg, &st->seed)) {
			fprintf(stderr, "bad seed %s\n", seed_arg);
			exit(2);
		}
	}
	printf("seed: %" PRIu64 "\n", st->seed);
	fflush(stdout);
	tu_rng_seed(&st->rng, st->seed);
	gpuvm_set_warn_handler(tu_warn_handler, st);
}

static inline struct tu_rng *tu_rng(void)
{
	return &tu_state()->rng;
}

static inline uint64_t tu_live_allocs(void)
{
	struct gpuvm_alloc_stats s;

	gpuvm_alloc_get_stats(&s);
	return s.live_allocs;
}

/* ------------------------------------------------------------------ */
/* Fixture: every test must free what it allocated and warn only when  */
/* it says so.                                                          */

static inline int tu_setup(void **state)
{
	struct tu_state *st = tu_state();

	(void)state;
	gpuvm_alloc_fail_nth(0, false);
	st->live0 = tu_live_allocs();
	st->warn0 = gpuvm_warn_count();
	st->warn_expected = 0;
	return 0;
}

static inline int tu_teardown(void **state)
{
	struct tu_state *st = tu_state();

	(void)state;
	gpuvm_alloc_fail_nth(0, false);
	assert_int_equal(tu_live_allocs(), st->live0);
	assert_int_equal(gpuvm_warn_count() - st->warn0, st->warn_expected);
	return 0;
}

/* Declares that the running test triggers @n library warnings. */
static inline void tu_expect_warnings(uint64_t n)
{
	tu_state()->warn_expected += n;
}

#define TU_TEST(f) cmocka_unit_test_setup_teardown(f, tu_setup, tu_teardown)

#define TU_CHECK_INV(vm)                                                       \
	do {                                                                   \
		char tu_msg_[256] = "";                                        \
		int tu_r_ = gpuvm_check_invariants((vm), tu_msg_,              \
						   sizeof(tu_msg_));           \
		if (tu_r_)                                                     \
			fail_msg("invariants broken (%d): %s", tu_r_,          \
				 tu_msg_);                                     \
	} while (0)

/* ------------------------------------------------------------------ */
/* Buffer objects.                                                      */

struct tu_bo {
	struct gpuvm_gem gem;
	unsigned int frees;
};

static inline void tu_bo_free(struct gpuvm_gem *obj)
{
	struct tu_bo *bo = gpuvm_container_of(obj, struct tu_bo, gem);

	bo->frees++;
}

static const struct gpuvm_gem_funcs tu_bo_funcs = {
	.free = tu_bo_free,
};

static inline void tu_bo_init(struct tu_bo *bo, uint64_t size)
{
	memset(bo, 0, sizeof(*bo));
	assert_int_equal(gpuvm_gem_init(&bo->gem, &tu_bo_funcs, size), 0);
}

/* ------------------------------------------------------------------ */
/* The test VM.                                                         */

struct tu_vm {
	struct gpuvm vm;
	unsigned int *free_calls;
};

static inline unsigned int *tu_vm_free_counter(void)
{
	static unsigned int calls;

	return &calls;
}

static inline void tu_vm_free(struct gpuvm *vm)
{
	struct tu_vm *t = gpuvm_container_of(vm, struct tu_vm, vm);

	(*tu_vm_free_counter())++;
	free(t);
}

static inline int tu_step_map(struct gpuva_op *op, void *priv);
static inline int tu_step_remap(struct gpuva_op *op, void *priv);
static inline int tu_step_unmap(struct gpuva_op *op, void *priv);

static const struct gpuvm_ops tu_vm_ops = {
	.vm_free = tu_vm_free,
	.sm_step_map = tu_step_map,
	.sm_step_remap = tu_step_remap,
	.sm_step_unmap = tu_step_unmap,
};

static inline struct gpuvm *tu_vm_create_ops(uint64_t start, uint64_t range,
					     uint64_t res_off,
					     uint64_t res_range,
					     const struct gpuvm_ops *ops)
{
	struct tu_vm *t = calloc(1, sizeof(*t));
	int ret;

	assert_non_null(t);
	ret = gpuvm_init(&t->vm, "test", 0, NULL, start, range, res_off,
			 res_range, ops);
	assert_int_equal(ret, 0);
	TU_CHECK_INV(&t->vm);
	return &t->vm;
}

static inline struct gpuvm *tu_vm_create(uint64_t start, uint64_t range,
					 uint64_t res_off, uint64_t res_range)
{
	return tu_vm_create_ops(start, range, res_off, res_range, &tu_vm_ops);
}

static inline struct gpuva *tu_va_new(uint64_t addr, uint64_t range,
				      struct gpuvm_gem *obj, uint64_t off)
{
	struct gpuva *va = calloc(1, sizeof(*va));

	assert_non_null(va);
	va->va.addr = addr;
	va->va.range = range;
	va->gem.obj = obj;
	va->gem.offset = off;
	return va;
}

/* Inserts a heap mapping and asserts success. */
static inline struct gpuva *tu_insert(struct gpuvm *vm, uint64_t addr,
				      uint64_t range, struct gpuvm_gem *obj,
				      uint64_t off)
{
	struct gpuva *va = tu_va_new(addr, range, obj, off);

	assert_int_equal(gpuva_insert(vm, va), 0);
	assert_ptr_equal(va->vm, vm);
	TU_CHECK_INV(vm);
	return va;
}

/* Removes and frees every mapping, then drops the last reference. */
static inline void tu_vm_destroy(struct gpuvm *vm)
{
	struct gpuvm_va_iter it;
	struct gpuva *va;
	unsigned int before = *tu_vm_free_counter();

	TU_CHECK_INV(vm);
	gpuvm_for_each_va_safe(va, &it, vm) {
		if (gpuvm_va_is_reserved(vm, va))
			continue;
		gpuva_remove(va);
		free(va);
	}
	assert_int_equal(gpuvm_kref_read(&vm->kref), 1);
	gpuvm_put(vm);
	assert_int_equal(*tu_vm_free_counter(), before + 1);
}

/* ------------------------------------------------------------------ */
/* Snapshots of a tree, reserved node included.                        */

struct tu_snap_ent {
	const struct gpuva *ptr;
	uint64_t addr, range, off;
	struct gpuvm_gem *obj;
	uint32_t flags;
};

struct tu_snap {
	size_t n;
	struct tu_snap_ent *e;
};

static inline void tu_snap_take(struct gpuvm *vm, struct tu_snap *s)
{
	struct gpuvm_va_iter it;
	struct gpuva *va;
	size_t cap = 16;

	s->n = 0;
	s->e = malloc(cap * sizeof(*s->e));
	assert_non_null(s->e);
	gpuvm_for_each_va(va, &it, vm) {
		if (s->n == cap) {
			cap *= 2;
			s->e = realloc(s->e, cap * sizeof(*s->e));
			assert_non_null(s->e);
		}
		s->e[s->n].ptr = va;
		s->e[s->n].addr = va->va.addr;
		s->e[s->n].range = va->va.range;
		s->e[s->n].off = va->gem.offset;
		s->e[s->n].obj = va->gem.obj;
		s->e[s->n].flags = va->flags;
		s->n++;
	}
}

static inline void tu_snap_free(struct tu_snap *s)
{
	free(s->e);
	s->e = NULL;
	s->n = 0;
}

/* Asserts that @vm still holds exactly what @s recorded. */
static inline void tu_snap_check(struct gpuvm *vm, const struct tu_snap *s)
{
	struct tu_snap now;
	size_t i;

	tu_snap_take(vm, &now);
	if (now.n != s->n) {
		size_t a = now.n, b = s->n;

		tu_snap_free(&now);
		fail_msg("tree changed: %zu mappings, expected %zu", a, b);
	}
	for (i = 0; i < s->n; i++) {
		const struct tu_snap_ent *x = &now.e[i], *y = &s->e[i];

		if (x->ptr != y->ptr || x->addr != y->addr ||
		    x->range != y->range || x->off != y->off ||
		    x->obj != y->obj || x->flags != y->flags) {
			uint64_t addr = x->addr;

			tu_snap_free(&now);
			fail_msg("tree changed at entry %zu (0x%" PRIx64 ")", i,
				 addr);
		}
	}
	tu_snap_free(&now);
}

static inline size_t tu_count_va(struct gpuvm *vm)
{
	struct gpuvm_va_iter it;
	struct gpuva *va;
	size_t n = 0;

	gpuvm_for_each_va(va, &it, vm) {
		if (!gpuvm_va_is_reserved(vm, va))
			n++;
	}
	return n;
}

/* ------------------------------------------------------------------ */
/* Recording step callbacks.                                            */

struct tu_piece {
	uint64_t addr, range, off;
	struct gpuvm_gem *obj;
};

/*
 * One recorded step. For MAP @va is the new mapping; for UNMAP, REMAP and
 * PREFETCH it is the old mapping as it was when the step was made.
 */
struct tu_rec_op {
	enum gpuva_op_type type;
	struct tu_piece va;
	const struct gpuva *old;
	bool keep;
	bool has_prev, has_next;
	struct tu_piece prev, next;
};

/*
 * @apply: apply each step to the tree as the engine requires;
 * @fail_at: the 1-based callback call that returns @fail_err (0: none);
 * @apply_err: the first error gpuva_map()/gpuva_remap() returned.
 */
struct tu_rec {
	struct gpuvm *vm;
	struct tu_rec_op *ops;
	size_t n, cap;
	bool apply;
	size_t calls;
	size_t fail_at;
	int fail_err;
	int apply_err;
};

static inline void tu_rec_init(struct tu_rec *r, struct gpuvm *vm, bool apply)
{
	memset(r, 0, sizeof(*r));
	r->vm = vm;
	r->apply = apply;
}

static inline void tu_rec_reset(struct tu_rec *r)
{
	r->n = 0;
	r->calls = 0;
	r->fail_at = 0;
	r->fail_err = 0;
	r->apply_err = 0;
}

static inline void tu_rec_fini(struct tu_rec *r)
{
	free(r->ops);
	r->ops = NULL;
	r->n = r->cap = 0;
}

static inline void tu_piece_from_map(struct tu_piece *p,
				     const struct gpuva_op_map *m)
{
	p->addr = m->va.addr;
	p->range = m->va.range;
	p->off = m->gem.offset;
	p->obj = m->gem.obj;
}

static inline void tu_piece_from_va(struct tu_piece *p, const struct gpuva *va)
{
	p->addr = va->va.addr;
	p->range = va->va.range;
	p->off = va->gem.offset;
	p->obj = va->gem.obj;
}

static inline void tu_rec_push(struct tu_rec *r, const struct gpuva_op *op)
{
	struct tu_rec_op *o;

	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 16;
		r->ops = realloc(r->ops, r->cap * sizeof(*r->ops));
		assert_non_null(r->ops);
	}
	o = &r->ops[r->n++];
	memset(o, 0, sizeof(*o));
	o->type = op->op;
	switch (op->op) {
	case GPUVA_OP_MAP:
		tu_piece_from_map(&o->va, &op->map);
		break;
	case GPUVA_OP_UNMAP:
		o->old = op->unmap.va;
		tu_piece_from_va(&o->va, op->unmap.va);
		o->keep = op->unmap.keep;
		break;
	case GPUVA_OP_REMAP:
		assert_non_null(op->remap.unmap);
		o->old = op->remap.unmap->va;
		tu_piece_from_va(&o->va, op->remap.unmap->va);
		o->keep = op->remap.unmap->keep;
		if (op->remap.prev) {
			o->has_prev = true;
			tu_piece_from_map(&o->prev, op->remap.prev);
		}
		if (op->remap.next) {
			o->has_next = true;
			tu_piece_from_map(&o->next, op->remap.next);
		}
		break;
	case GPUVA_OP_PREFETCH:
		o->old = op->prefetch.va;
		tu_piece_from_va(&o->va, op->prefetch.va);
		break;
	default:
		fail_msg("unexpected op type %d", (int)op->op);
	}
}

/*
 * Applies one op to the tree with heap mappings the way a driver would, and
 * frees the mappings it removes. Returns the library's error, with nothing
 * leaked on the test side.
 */
static inline int tu_apply_op(struct gpuvm *vm, const struct gpuva_op *op)
{
	struct gpuva *va, *prev = NULL, *next = NULL, *old;
	int ret;

	switch (op->op) {
	case GPUVA_OP_MAP:
		va = calloc(1, sizeof(*va));
		assert_non_null(va);
		ret = gpuva_map(vm, va, &op->map);
		if (ret) {
			free(va);
			return ret;
		}
		assert_ptr_equal(va->vm, vm);
		return 0;
	case GPUVA_OP_REMAP:
		old = op->remap.unmap->va;
		if (op->remap.prev) {
			prev = calloc(1, sizeof(*prev));
			assert_non_null(prev);
		}
		if (op->remap.next) {
			next = calloc(1, sizeof(*next));
			assert_non_null(next);
		}
		ret = gpuva_remap(prev, next, &op->remap);
		if (ret) {
			free(prev);
			free(next);
			return ret;
		}
		free(old);
		return 0;
	case GPUVA_OP_UNMAP:
		old = op->unmap.va;
		gpuva_unmap(&op->unmap);
		free(old);
		return 0;
	default:
		fail_msg("cannot apply op type %d", (int)op->op);
	}
	return -EINVAL;
}

static inline int tu_rec_step(struct gpuva_op *op, void *priv)
{
	struct tu_rec *r = priv;
	int ret;

	r->calls++;
	if (r->fail_at && r->calls == r->fail_at)
		return r->fail_err;
	tu_rec_push(r, op);
	if (!r->apply)
		return 0;
	ret = tu_apply_op(r->vm, op);
	if (ret && !r->apply_err)
		r->apply_err = ret;
	/* The walk continues from the tree: it must be sound between steps. */
	TU_CHECK_INV(r->vm);
	return ret;
}

static inline int tu_step_map(struct gpuva_op *op, void *priv)
{
	assert_int_equal(op->op, GPUVA_OP_MAP);
	return tu_rec_step(op, priv);
}

static inline int tu_step_remap(struct gpuva_op *op, void *priv)
{
	assert_int_equal(op->op, GPUVA_OP_REMAP);
	return tu_rec_step(op, priv);
}

static inline int tu_step_unmap(struct gpuva_op *op, void *priv)
{
	assert_int_equal(op->op, GPUVA_OP_UNMAP);
	return tu_rec_step(op, priv);
}

static inline void tu_rec_from_ops(struct tu_rec *r,
				   const struct gpuva_ops *ops)
{
	struct gpuva_op *op;

	gpuva_for_each_op(op, ops)
		tu_rec_push(r, op);
}

/* Applies a whole list in order; stops at the first error. */
static inline int tu_apply_ops(struct gpuvm *vm, const struct gpuva_ops *ops)
{
	struct gpuva_op *op;
	int ret;

	gpuva_for_each_op(op, ops) {
		ret = tu_apply_op(vm, op);
		if (ret)
			return ret;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Formatting steps in the replay format's style, for readable checks. */

struct tu_names {
	struct gpuvm_gem *obj[8];
	const char *name[8];
	unsigned int n;
};

static inline const char *tu_obj_name(const struct tu_names *nm,
				      const struct gpuvm_gem *obj)
{
	unsigned int i;

	if (!obj)
		return "-";
	for (i = 0; nm && i < nm->n; i++)
		if (nm->obj[i] == obj)
			return nm->name[i];
	return "?";
}

static inline void tu_fmt_piece(char *buf, size_t len, const struct tu_piece *p,
				bool present)
{
	if (!present)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "0x%" PRIx64 ":0x%" PRIx64 ":0x%" PRIx64,
			 p->addr, p->range, p->off);
}

/* One op per line, without indentation, joined by '\n'. */
static inline void tu_rec_format(const struct tu_rec *r,
				 const struct tu_names *nm, char *buf,
				 size_t len)
{
	size_t i, used = 0;

	buf[0] = '\0';
	for (i = 0; i < r->n && used < len; i++) {
		const struct tu_rec_op *o = &r->ops[i];
		const struct tu_piece *v = &o->va;
		char p[64], n[64];
		int w = 0;

		switch (o->type) {
		case GPUVA_OP_MAP:
			w = snprintf(buf + used, len - used,
				     "%smap 0x%" PRIx64 " 0x%" PRIx64
				     " %s 0x%" PRIx64,
				     i ? "\n" : "", v->addr, v->range,
				     tu_obj_name(nm, v->obj), v->off);
			break;
		case GPUVA_OP_UNMAP:
			w = snprintf(buf + used, len - used,
				     "%sunmap 0x%" PRIx64 " 0x%" PRIx64
				     " %s 0x%" PRIx64 " keep=%d",
				     i ? "\n" : "", v->addr, v->range,
				     tu_obj_name(nm, v->obj), v->off, o->keep);
			break;
		case GPUVA_OP_REMAP:
			tu_fmt_piece(p, sizeof(p), &o->prev, o->has_prev);
			tu_fmt_piece(n, sizeof(n), &o->next, o->has_next);
			w = snprintf(
				buf + used, len - used,
				"%sremap 0x%" PRIx64 " 0x%" PRIx64
				" %s 0x%" PRIx64 " keep=%d prev=%s next=%s",
				i ? "\n" : "", v->addr, v->range,
				tu_obj_name(nm, v->obj), v->off, o->keep, p, n);
			break;
		case GPUVA_OP_PREFETCH:
			w = snprintf(buf + used, len - used,
				     "%sprefetch 0x%" PRIx64 " 0x%" PRIx64,
				     i ? "\n" : "", v->addr, v->range);
			break;
		default:
			w = snprintf(buf + used, len - used, "%s?",
				     i ? "\n" : "");
			break;
		}
		if (w < 0)
			break;
		used += (size_t)w;
	}
}

/* The mappings of a VM (reserved node excluded), one "va ..." per line. */
static inline void tu_state_format(struct gpuvm *vm, const struct tu_names *nm,
				   char *buf, size_t len)
{
	struct gpuvm_va_iter it;
	struct gpuva *va;
	size_t used = 0;
	bool first = true;

	buf[0] = '\0';
	gpuvm_for_each_va(va, &it, vm) {
		int w;

		if (gpuvm_va_is_reserved(vm, va))
			continue;
		if (used >= len)
			break;
		w = snprintf(buf + used, len - used,
			     "%sva 0x%" PRIx64 " 0x%" PRIx64 " %s 0x%" PRIx64,
			     first ? "" : "\n", va->va.addr, va->va.range,
			     tu_obj_name(nm, va->gem.obj), va->gem.offset);
		if (w < 0)
			break;
		used += (size_t)w;
		first = false;
	}
}

/* Two recordings describe the same steps on the same mappings. */
static inline void tu_rec_assert_equal(const struct tu_rec *a,
				       const struct tu_rec *b)
{
	size_t i;

	assert_int_equal(a->n, b->n);
	for (i = 0; i < a->n; i++) {
		const struct tu_rec_op *x = &a->ops[i], *y = &b->ops[i];

		assert_int_equal(x->type, y->type);
		assert_ptr_equal(x->old, y->old);
		assert_int_equal(x->va.addr, y->va.addr);
		assert_int_equal(x->va.range, y->va.range);
		assert_int_equal(x->va.off, y->va.off);
		assert_ptr_equal(x->va.obj, y->va.obj);
		assert_int_equal(x->keep, y->keep);
		assert_int_equal(x->has_prev, y->has_prev);
		assert_int_equal(x->has_next, y->has_next);
		if (x->has_prev) {
			assert_int_equal(x->prev.addr, y->prev.addr);
			assert_int_equal(x->prev.range, y->prev.range);
			assert_int_equal(x->prev.off, y->prev.off);
			assert_ptr_equal(x->prev.obj, y->prev.obj);
		}
		if (x->has_next) {
			assert_int_equal(x->next.addr, y->next.addr);
			assert_int_equal(x->next.range, y->next.range);
			assert_int_equal(x->next.off, y->next.off);
			assert_ptr_equal(x->next.obj, y->next.obj);
		}
	}
}

#endif /* GPUVM_TESTS_TESTUTIL_H */
