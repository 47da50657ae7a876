// SPDX-License-Identifier: MIT
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
/*
 * Allocation-failure injection: every allocating path is run with its 1st,
 * 2nd, ... allocation failing until it completes without reaching the armed
 * failure. Each failure must return -ENOMEM, leave the VM exactly as it was,
 * and leak nothing.
 */
#include "testutil.h"

typedef int (*fail_fn)(struct gpuvm *vm, void *ctx);

/*
 * Runs @fn under "fail the N-th allocation" for N = 1, 2, ... and returns the
 * number of failures it went through before succeeding. @vm may be NULL for
 * calls that make their own VM.
 */
static unsigned int fail_each(struct gpuvm *vm, fail_fn fn, void *ctx)
{
	uint64_t n;

	for (n = 1;; n++) {
		struct gpuvm_stats st0, st1;
		struct tu_snap snap = { 0 };
		uint64_t live;
		bool pending;
		int ret;

		if (vm) {
			tu_snap_take(vm, &snap);
			gpuvm_get_stats(vm, &st0);
		}
		live = tu_live_allocs();
		gpuvm_alloc_fail_nth(n, false);
		ret = fn(vm, ctx);
		pending = gpuvm_alloc_fail_pending();
		gpuvm_alloc_fail_nth(0, false);
		if (ret == 0) {
			tu_snap_free(&snap);
			if (!pending)
				fail_msg("allocation %" PRIu64 " failed but "
					 "the call succeeded",
					 n);
			if (vm)
				TU_CHECK_INV(vm);
			return (unsigned int)(n - 1);
		}
		if (ret != -ENOMEM)
			fail_msg("allocation %" PRIu64 " failed: got %d", n,
				 ret);
		if (pending)
			fail_msg("-ENOMEM without an injected failure "
				 "(n=%" PRIu64 ")",
				 n);
		assert_int_equal(tu_live_allocs(), live);
		if (vm) {
			TU_CHECK_INV(vm);
			tu_snap_check(vm, &snap);
			gpuvm_get_stats(vm, &st1);
			assert_int_equal(st1.nr_va, st0.nr_va);
			assert_int_equal(st1.tree_nodes, st0.tree_nodes);
			assert_int_equal(st1.tree_spare, st0.tree_spare);
			assert_int_equal(st1.tree_height, st0.tree_height);
			assert_int_equal(vm->tree.reserved, 0);
			assert_int_equal(gpuvm_kref_read(&vm->kref),
					 1 + st0.nr_va);
			tu_snap_free(&snap);
		}
	}
}

static struct tu_bo bo_a, bo_b;
static struct tu_names names;

static int af_setup(void **state)
{
	tu_bo_init(&bo_a, 1ull << 40);
	tu_bo_init(&bo_b, 1ull << 40);
	return tu_setup(state);
}

static int af_teardown(void **state)
{
	assert_int_equal(gpuvm_kref_read(&bo_a.gem.refcount), 1);
	assert_int_equal(gpuvm_kref_read(&bo_b.gem.refcount), 1);
	gpuvm_gem_put(&bo_a.gem);
	gpuvm_gem_put(&bo_b.gem);
	return tu_teardown(state);
}

#define AF_TEST(f) cmocka_unit_test_setup_teardown(f, af_setup, af_teardown)

/* A VM with @n mappings of 0x3000 every 0x4000, alternating objects. */
static struct gpuvm *busy_vm(unsigned int n)
{
	struct gpuvm *vm =
		tu_vm_create(0x10000, 0x100000000ull, 0x8000000, 0x10000);
	unsigned int i;

	for (i = 0; i < n; i++)
		tu_insert(vm, 0x100000 + (uint64_t)i * 0x4000, 0x3000,
			  i % 3 ? &bo_a.gem : (i % 2 ? &bo_b.gem : NULL),
			  (uint64_t)i * 0x1000);
	TU_CHECK_INV(vm);
	return vm;
}

/* ------------------------------------------------------------------ */
/* The *_ops_create() functions                                         */

enum ops_kind { OPS_MAP, OPS_UNMAP, OPS_PREFETCH };

struct ops_ctx {
	enum ops_kind kind;
	struct gpuvm_map_req req;
	struct tu_rec want;
};

static int make_ops(struct gpuvm *vm, struct ops_ctx *c, struct gpuva_ops **ops)
{
	switch (c->kind) {
	case OPS_MAP:
		return gpuvm_sm_map_ops_create(vm, &c->req, ops);
	case OPS_UNMAP:
		return gpuvm_sm_unmap_ops_create(vm, c->req.map.va.addr,
						 c->req.map.va.range, ops);
	default:
		return gpuvm_prefetch_ops_create(vm, c->req.map.va.addr,
						 c->req.map.va.range, ops);
	}
}

static int ops_fn(struct gpuvm *vm, void *ctx)
{
	struct ops_ctx *c = ctx;
	struct gpuva_ops *ops = NULL;
	struct tu_rec got;
	int ret;

	ret = make_ops(vm, c, &ops);
	if (ret)
		return ret;
	/* A list made on the way out of the loop is the full one. */
	tu_rec_init(&got, vm, false);
	tu_rec_from_ops(&got, ops);
	gpuva_ops_free(vm, ops);
	tu_rec_assert_equal(&got, &c->want);
	tu_rec_fini(&got);
	return 0;
}

static void run_ops_case(struct gpuvm *vm, enum ops_kind kind, uint64_t addr,
			 uint64_t range, size_t min_ops)
{
	struct ops_ctx c;
	struct gpuva_ops *ops;
	unsigned int fails;

	memset(&c, 0, sizeof(c));
	c.kind = kind;
	c.req.map.va.addr = addr;
	c.req.map.va.range = range;
	c.req.map.gem.obj = &bo_a.gem;
	c.req.map.gem.offset = 0x2000;
	tu_rec_init(&c.want, vm, false);
	assert_int_equal(make_ops(vm, &c, &ops), 0);
	tu_rec_from_ops(&c.want, ops);
	gpuva_ops_free(vm, ops);
	assert_true(c.want.n >= min_ops);

	fails = fail_each(vm, ops_fn, &c);
	/* At least one allocation per op. */
	assert_true(fails >= c.want.n);
	tu_rec_fini(&c.want);
}

static void test_fail_sm_map_ops_create(void **state)
{
	struct gpuvm *vm = busy_vm(300);

	(void)state;
	/* Remaps at both ends, unmaps in between. */
	run_ops_case(vm, OPS_MAP, 0x101000, 300 * 0x4000 - 0x2000, 300);
	/* One remap with both pieces. */
	run_ops_case(vm, OPS_MAP, 0x100800, 0x1000, 2);
	/* Nothing overlaps: just the map. */
	run_ops_case(vm, OPS_MAP, 0x103000, 0x1000, 1);
	tu_vm_destroy(vm);
}

static void test_fail_sm_unmap_ops_create(void **state)
{
	struct gpuvm *vm = busy_vm(300);

	(void)state;
	run_ops_case(vm, OPS_UNMAP, 0x101000, 300 * 0x4000 - 0x2000, 300);
	run_ops_case(vm, OPS_UNMAP, 0x100800, 0x1000, 1);
	tu_vm_destroy(vm);
}

static void test_fail_prefetch_ops_create(void **state)
{
	struct gpuvm *vm = busy_vm(300);

	(void)state;
	run_ops_case(vm, OPS_PREFETCH, 0x101000, 300 * 0x4000 - 0x2000, 300);
	/* The cut-out counts as a mapping here. */
	run_ops_case(vm, OPS_PREFETCH, 0x7000000, 0x2000000, 1);
	/* Even an empty list is allocated. */
	run_ops_case(vm, OPS_PREFETCH, 0x103000, 0x1000, 0);
	tu_vm_destroy(vm);
}

/* ------------------------------------------------------------------ */
/* Tree inserts                                                         */

struct insert_ctx {
	struct gpuva *va;
	struct gpuva_op_map op;
	bool use_map;
};

static int insert_fn(struct gpuvm *vm, void *ctx)
{
	struct insert_ctx *c = ctx;

	if (c->use_map)
		return gpuva_map(vm, c->va, &c->op);
	return gpuva_insert(vm, c->va);
}

static void fill_tree(bool use_map, bool descending)
{
	enum { N = 1500 };
	struct gpuvm *vm = tu_vm_create(0x10000, 0x100000000ull, 0, 0);
	struct gpuvm_stats st;
	unsigned int i, fails = 0, failing_calls = 0;

	for (i = 0; i < N; i++) {
		uint64_t k = descending ? N - 1 - i : i;
		/* Interleave so that inserts also land mid-leaf. */
		uint64_t addr = 0x100000 + (k % 2 ? k : N + k) * 0x2000;
		struct insert_ctx c = { 0 };
		unsigned int f;

		c.use_map = use_map;
		c.va = calloc(1, sizeof(*c.va));
		assert_non_null(c.va);
		c.op.va.addr = addr;
		c.op.va.range = 0x1000;
		c.op.gem.obj = &bo_b.gem;
		c.op.gem.offset = k;
		if (!use_map) {
			c.va->va.addr = addr;
			c.va->va.range = 0x1000;
		}
		f = fail_each(vm, insert_fn, &c);
		fails += f;
		failing_calls += f > 0;
		assert_ptr_equal(gpuva_find(vm, addr, 0x1000), c.va);
	}
	gpuvm_get_stats(vm, &st);
	assert_int_equal(st.nr_va, N);
	assert_true(st.tree_height >= 2);
	/* Leaves split along the way, and each split was made to fail. */
	assert_true(failing_calls >= 2);
	assert_true(fails >= failing_calls);
	tu_vm_destroy(vm);
}

static void test_fail_insert(void **state)
{
	(void)state;
	fill_tree(false, false);
	fill_tree(false, true);
}

static void test_fail_map(void **state)
{
	(void)state;
	fill_tree(true, false);
}

/* ------------------------------------------------------------------ */
/* gpuva_remap: all or nothing                                          */

struct remap_ctx {
	struct gpuva *old;
	uint64_t hole_off, hole_len;
	bool want_prev, want_next;
};

static int remap_fn(struct gpuvm *vm, void *ctx)
{
	struct remap_ctx *c = ctx;
	struct gpuva *old = c->old;
	struct gpuva_op_map p = {
		.va = { old->va.addr, c->hole_off },
		.gem = { old->gem.offset, old->gem.obj },
	};
	struct gpuva_op_map n = {
		.va = { old->va.addr + c->hole_off + c->hole_len,
			old->va.range - c->hole_off - c->hole_len },
		.gem = { old->gem.offset + c->hole_off + c->hole_len,
			 old->gem.obj },
	};
	struct gpuva_op_unmap u = { .va = old, .keep = false };
	struct gpuva_op_remap r = {
		.prev = c->want_prev ? &p : NULL,
		.next = c->want_next ? &n : NULL,
		.unmap = &u,
	};
	struct gpuva *pv = NULL, *nv = NULL;
	int ret;

	(void)vm;
	if (c->want_prev)
		pv = calloc(1, sizeof(*pv));
	if (c->want_next)
		nv = calloc(1, sizeof(*nv));
	ret = gpuva_remap(pv, nv, &r);
	if (ret) {
		/* The old mapping must still be in place. */
		assert_ptr_equal(gpuva_find(vm, old->va.addr, old->va.range),
				 old);
		free(pv);
		free(nv);
		return ret;
	}
	if (pv)
		assert_ptr_equal(gpuva_find(vm, p.va.addr, p.va.range), pv);
	if (nv)
		assert_ptr_equal(gpuva_find(vm, n.va.addr, n.va.range), nv);
	free(old);
	return 0;
}

static void test_fail_remap(void **state)
{
	enum { N = 1200 };
	struct gpuvm *vm = tu_vm_create(0x10000, 0x100000000ull, 0, 0);
	struct gpuva **vas = calloc(N, sizeof(*vas));
	unsigned int i, fails = 0, failing_calls = 0;

	(void)state;
	assert_non_null(vas);
	for (i = 0; i < N; i++)
		vas[i] = tu_insert(vm, 0x100000 + (uint64_t)i * 0x4000, 0x4000,
				   &bo_a.gem, (uint64_t)i << 14);
	/* Each remap with both pieces grows the tree by one entry. */
	for (i = 0; i < N; i++) {
		struct remap_ctx c = {
			.old = vas[i],
			.hole_off = 0x1000,
			.hole_len = 0x1000,
			.want_prev = i % 5 != 3,
			.want_next = i % 5 != 4,
		};
		unsigned int f = fail_each(vm, remap_fn, &c);

		fails += f;
		failing_calls += f > 0;
	}
	assert_true(failing_calls >= 2);
	assert_true(fails >= failing_calls);
	assert_int_equal(tu_count_va(vm), N + N * 3 / 5);
	free(vas);
	tu_vm_destroy(vm);
}

/*
 * The callback form does not allocate itself, but the tree updates made by
 * its callbacks do. A failing one stops the walk with -ENOMEM and leaves a
 * sound, partial tree; running the same request again finishes the job, so
 * the end state must match a run without failures.
 */
static char *punch_holes(struct gpuvm *vm, uint64_t fail_n, bool *fired)
{
	enum { M = 400 };
	char *buf = malloc(1 << 18);
	unsigned int i, failures = 0;

	assert_non_null(buf);
	gpuvm_alloc_fail_nth(fail_n, false);
	for (i = 0; i < M; i++) {
		struct gpuvm_map_req req;
		struct tu_rec r;
		int ret;

		memset(&req, 0, sizeof(req));
		req.map.va.addr = 0x100000 + (uint64_t)i * 0x4000 + 0x1000;
		req.map.va.range = 0x800;
		req.map.gem.obj = &bo_b.gem;
		req.map.gem.offset = i;
		tu_rec_init(&r, vm, true);
		ret = gpuvm_sm_map(vm, &r, &req);
		if (ret) {
			assert_int_equal(ret, -ENOMEM);
			assert_int_equal(r.apply_err, -ENOMEM);
			failures++;
			TU_CHECK_INV(vm);
			tu_rec_reset(&r);
			ret = gpuvm_sm_map(vm, &r, &req);
			assert_int_equal(ret, 0);
		}
		tu_rec_fini(&r);
	}
	*fired = !gpuvm_alloc_fail_pending();
	gpuvm_alloc_fail_nth(0, false);
	assert_int_equal(failures, fail_n && *fired ? 1 : 0);
	TU_CHECK_INV(vm);
	names.n = 2;
	names.obj[0] = &bo_a.gem;
	names.name[0] = "A";
	names.obj[1] = &bo_b.gem;
	names.name[1] = "B";
	tu_state_format(vm, &names, buf, 1 << 18);
	return buf;
}

static void test_fail_sm_map_callbacks(void **state)
{
	struct gpuvm *vm;
	char *want, *got;
	bool fired;
	uint64_t n;

	(void)state;
	vm = busy_vm(400);
	want = punch_holes(vm, 0, &fired);
	tu_vm_destroy(vm);
	for (n = 1;; n++) {
		vm = busy_vm(400);
		got = punch_holes(vm, n, &fired);
		assert_string_equal(got, want);
		free(got);
		tu_vm_destroy(vm);
		if (!fired)
			break;
	}
	/* Punching 400 holes needs new tree nodes more than once. */
	assert_true(n > 2);
	free(want);
}

/* ------------------------------------------------------------------ */
/* gpuvm_init and gpuvm_va_reserve                                      */

static int init_fn(struct gpuvm *unused, void *ctx)
{
	struct tu_vm *t = calloc(1, sizeof(*t));
	unsigned int frees = *tu_vm_free_counter();
	unsigned int ref = gpuvm_kref_read(&bo_a.gem.refcount);
	int ret;

	(void)unused;
	(void)ctx;
	assert_non_null(t);
	ret = gpuvm_init(&t->vm, "f", 0, &bo_a.gem, 0x10000, 0x1000000, 0x20000,
			 0x10000, &tu_vm_ops);
	if (ret) {
		/* No reference kept, vm_free not called. */
		assert_int_equal(gpuvm_kref_read(&bo_a.gem.refcount), ref);
		assert_int_equal(*tu_vm_free_counter(), frees);
		free(t);
		return ret;
	}
	assert_int_equal(gpuvm_kref_read(&bo_a.gem.refcount), ref + 1);
	TU_CHECK_INV(&t->vm);
	assert_ptr_equal(gpuva_find_first(&t->vm, 0x20000, 1),
			 &t->vm.kernel_alloc_node);
	tu_vm_destroy(&t->vm);
	return 0;
}

static void test_fail_init(void **state)
{
	(void)state;
	assert_true(fail_each(NULL, init_fn, NULL) >= 1);
}

struct reserve_ctx {
	unsigned int inserts;
};

static int reserve_fn(struct gpuvm *vm, void *ctx)
{
	struct reserve_ctx *c = ctx;
	struct gpuvm_stats st;
	size_t nodes = 0;
	int ret;

	ret = gpuvm_va_reserve(vm, c->inserts, &nodes);
	if (ret)
		return ret;
	gpuvm_get_stats(vm, &st);
	assert_true(st.tree_spare >= nodes);
	gpuvm_va_unreserve(vm, nodes);
	return 0;
}

static void test_fail_reserve(void **state)
{
	struct gpuvm *vm = busy_vm(500);
	struct reserve_ctx c = { .inserts = 1 };
	struct gpuvm_stats st;
	uint64_t live = tu_live_allocs();

	(void)state;
	assert_true(fail_each(vm, reserve_fn, &c) >= 1);
	c.inserts = 100;
	assert_true(fail_each(vm, reserve_fn, &c) >= 2);
	/* Unreserving gave back everything that was reserved. */
	assert_int_equal(tu_live_allocs(), live);
	gpuvm_get_stats(vm, &st);
	assert_int_equal(st.tree_spare, 0);
	tu_vm_destroy(vm);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		AF_TEST(test_fail_sm_map_ops_create),
		AF_TEST(test_fail_sm_unmap_ops_create),
		AF_TEST(test_fail_prefetch_ops_create),
		AF_TEST(test_fail_insert),
		AF_TEST(test_fail_map),
		AF_TEST(test_fail_remap),
		AF_TEST(test_fail_sm_map_callbacks),
		AF_TEST(test_fail_init),
		AF_TEST(test_fail_reserve),
	};

	tu_init(argc, argv, 1, 1);
	return cmocka_run_group_tests_name("alloc_fail", tests, NULL, NULL);
}
