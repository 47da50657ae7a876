// SPDX-License-Identifier: MIT
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
/*
 * Split/merge: sm_map/sm_unmap with callbacks that apply their steps, the
 * *_ops_create() forms and their lists, prefetch lists, applying ops by hand,
 * and the small op helpers.
 */
#include "testutil.h"

static struct tu_bo bos[3];
static struct tu_names names;

/* Index into bos[], or NONE for a mapping without an object. */
#define NONE (-1)
#define A    0
#define B    1
#define C    2

static void bos_init(void)
{
	static const char *const n[] = { "A", "B", "C" };
	int i;

	names.n = 3;
	for (i = 0; i < 3; i++) {
		tu_bo_init(&bos[i], 1ull << 40);
		names.obj[i] = &bos[i].gem;
		names.name[i] = n[i];
	}
}

static void bos_fini(void)
{
	int i;

	for (i = 0; i < 3; i++) {
		/* Nothing in the VM layer may take BO references. */
		assert_int_equal(gpuvm_kref_read(&bos[i].gem.refcount), 1);
		gpuvm_gem_put(&bos[i].gem);
		assert_int_equal(bos[i].frees, 1);
	}
}

static struct gpuvm_gem *bo(int i)
{
	return i == NONE ? NULL : &bos[i].gem;
}

static int sm_setup(void **state)
{
	bos_init();
	return tu_setup(state);
}

static int sm_teardown(void **state)
{
	bos_fini();
	return tu_teardown(state);
}

#define SM_TEST(f) cmocka_unit_test_setup_teardown(f, sm_setup, sm_teardown)

struct init_map {
	uint64_t addr, range;
	int bo;
	uint64_t off;
};

#define VM_START 0x0ull
#define VM_RANGE 0x1000000ull

static struct gpuvm *vm_with(const struct init_map *init)
{
	struct gpuvm *vm = tu_vm_create(VM_START, VM_RANGE, 0, 0);

	for (; init && init->range; init++)
		tu_insert(vm, init->addr, init->range, bo(init->bo), init->off);
	TU_CHECK_INV(vm);
	return vm;
}

static struct gpuvm_map_req req_of(uint64_t addr, uint64_t range, int b,
				   uint64_t off)
{
	struct gpuvm_map_req r;

	memset(&r, 0, sizeof(r));
	r.map.va.addr = addr;
	r.map.va.range = range;
	r.map.gem.obj = bo(b);
	r.map.gem.offset = off;
	return r;
}

static void assert_ops_str(const struct tu_rec *r, const char *want)
{
	char buf[4096];

	tu_rec_format(r, &names, buf, sizeof(buf));
	if (strcmp(buf, want))
		fail_msg("ops differ\n--- got:\n%s\n--- want:\n%s", buf, want);
}

static void assert_state_str(struct gpuvm *vm, const char *want)
{
	char buf[4096];

	tu_state_format(vm, &names, buf, sizeof(buf));
	if (strcmp(buf, want))
		fail_msg("state differs\n--- got:\n%s\n--- want:\n%s", buf,
			 want);
}

/*
 * Runs one request three ways and checks each against the expectation:
 * ops_create on the initial tree (which must not change), the callback
 * form on the same tree (same steps on the same mappings), and
 * ops_create + apply on a fresh copy.
 */
static void run_case(const struct init_map *init, bool unmap, uint64_t addr,
		     uint64_t range, int b, uint64_t off, const char *want_ops,
		     const char *want_state)
{
	struct gpuvm_map_req req = req_of(addr, range, b, off);
	struct gpuva_ops *ops = NULL;
	struct tu_rec staged, live;
	struct tu_snap snap;
	struct gpuvm *vm;
	int ret;

	vm = vm_with(init);
	tu_snap_take(vm, &snap);
	if (unmap)
		ret = gpuvm_sm_unmap_ops_create(vm, addr, range, &ops);
	else
		ret = gpuvm_sm_map_ops_create(vm, &req, &ops);
	assert_int_equal(ret, 0);
	assert_non_null(ops);
	tu_snap_check(vm, &snap);
	tu_snap_free(&snap);
	tu_rec_init(&staged, vm, false);
	tu_rec_from_ops(&staged, ops);
	gpuva_ops_free(vm, ops);
	assert_ops_str(&staged, want_ops);
	TU_CHECK_INV(vm);

	tu_rec_init(&live, vm, true);
	if (unmap)
		ret = gpuvm_sm_unmap(vm, &live, addr, range);
	else
		ret = gpuvm_sm_map(vm, &live, &req);
	assert_int_equal(ret, 0);
	assert_int_equal(live.apply_err, 0);
	assert_ops_str(&live, want_ops);
	tu_rec_assert_equal(&staged, &live);
	TU_CHECK_INV(vm);
	assert_state_str(vm, want_state);
	tu_rec_fini(&staged);
	tu_rec_fini(&live);
	tu_vm_destroy(vm);

	vm = vm_with(init);
	if (unmap)
		ret = gpuvm_sm_unmap_ops_create(vm, addr, range, &ops);
	else
		ret = gpuvm_sm_map_ops_create(vm, &req, &ops);
	assert_int_equal(ret, 0);
	assert_int_equal(tu_apply_ops(vm, ops), 0);
	gpuva_ops_free(vm, ops);
	TU_CHECK_INV(vm);
	assert_state_str(vm, want_state);
	tu_vm_destroy(vm);
}

#define MAP_CASE(init, addr, range, b, off, o, s)                              \
	run_case(init, false, addr, range, b, off, o, s)
#define UNMAP_CASE(init, addr, range, o, s)                                    \
	run_case(init, true, addr, range, NONE, 0, o, s)

/* One mapping X = [0x10000, 0x20000) of A at offset 0. */
static const struct init_map x_a0[] = { { 0x10000, 0x10000, A, 0 }, { 0 } };
/* The same at offset 0x8000. */
static const struct init_map x_a8[] = { { 0x10000, 0x10000, A, 0x8000 },
					{ 0 } };
static const struct init_map x_none[] = { { 0x10000, 0x10000, NONE, 0 },
					  { 0 } };
/* Three neighbours. */
static const struct init_map three[] = {
	{ 0x10000, 0x10000, A, 0 },
	{ 0x20000, 0x10000, B, 0 },
	{ 0x30000, 0x10000, A, 0x20000 },
	{ 0 },
};

static void test_sm_map_empty(void **state)
{
	(void)state;
	MAP_CASE(NULL, 0x10000, 0x1000, A, 0x5000,
		 "map 0x10000 0x1000 A 0x5000", "va 0x10000 0x1000 A 0x5000");
	MAP_CASE(NULL, 0x0, VM_RANGE, NONE, 0, "map 0x0 0x1000000 - 0x0",
		 "va 0x0 0x1000000 - 0x0");
	/* Mappings next to the request are left alone. */
	MAP_CASE(three, 0x40000, 0x1000, C, 0, "map 0x40000 0x1000 C 0x0",
		 "va 0x10000 0x10000 A 0x0\n"
		 "va 0x20000 0x10000 B 0x0\n"
		 "va 0x30000 0x10000 A 0x20000\n"
		 "va 0x40000 0x1000 C 0x0");
	MAP_CASE(x_a0, 0x8000, 0x8000, A, 0, "map 0x8000 0x8000 A 0x0",
		 "va 0x8000 0x8000 A 0x0\nva 0x10000 0x10000 A 0x0");
}

/* Case A: the old mapping starts where the request starts. */
static void test_sm_map_case_a(void **state)
{
	(void)state;
	/* End equal. */
	MAP_CASE(x_a0, 0x10000, 0x10000, A, 0,
		 "unmap 0x10000 0x10000 A 0x0 keep=1\n"
		 "map 0x10000 0x10000 A 0x0",
		 "va 0x10000 0x10000 A 0x0");
	MAP_CASE(x_a0, 0x10000, 0x10000, A, 0x1000,
		 "unmap 0x10000 0x10000 A 0x0 keep=0\n"
		 "map 0x10000 0x10000 A 0x1000",
		 "va 0x10000 0x10000 A 0x1000");
	MAP_CASE(x_a0, 0x10000, 0x10000, B, 0,
		 "unmap 0x10000 0x10000 A 0x0 keep=0\n"
		 "map 0x10000 0x10000 B 0x0",
		 "va 0x10000 0x10000 B 0x0");
	/* End less: the request goes on past the old mapping. */
	MAP_CASE(x_a0, 0x10000, 0x20000, A, 0,
		 "unmap 0x10000 0x10000 A 0x0 keep=1\n"
		 "map 0x10000 0x20000 A 0x0",
		 "va 0x10000 0x20000 A 0x0");
	MAP_CASE(x_a0, 0x10000, 0x20000, C, 0,
		 "unmap 0x10000 0x10000 A 0x0 keep=0\n"
		 "map 0x10000 0x20000 C 0x0",
		 "va 0x10000 0x20000 C 0x0");
	/* End greater: the tail survives. */
	MAP_CASE(x_a0, 0x10000, 0x8000, A, 0,
		 "remap 0x10000 0x10000 A 0x0 keep=1 prev=- "
		 "next=0x18000:0x8000:0x8000\n"
		 "map 0x10000 0x8000 A 0x0",
		 "va 0x10000 0x8000 A 0x0\nva 0x18000 0x8000 A 0x8000");
	MAP_CASE(x_a8, 0x10000, 0x8000, B, 0x8000,
		 "remap 0x10000 0x10000 A 0x8000 keep=0 prev=- "
		 "next=0x18000:0x8000:0x10000\n"
		 "map 0x10000 0x8000 B 0x8000",
		 "va 0x10000 0x8000 B 0x8000\nva 0x18000 0x8000 A 0x10000");
}

/* Case B: the old mapping starts before the request. */
static void test_sm_map_case_b(void **state)
{
	(void)state;
	/* End equal. */
	MAP_CASE(x_a0, 0x18000, 0x8000, A, 0x8000,
		 "remap 0x10000 0x10000 A 0x0 keep=1 "
		 "prev=0x10000:0x8000:0x0 next=-\n"
		 "map 0x18000 0x8000 A 0x8000",
		 "va 0x10000 0x8000 A 0x0\nva 0x18000 0x8000 A 0x8000");
	MAP_CASE(x_a0, 0x18000, 0x8000, A, 0,
		 "remap 0x10000 0x10000 A 0x0 keep=0 "
		 "prev=0x10000:0x8000:0x0 next=-\n"
		 "map 0x18000 0x8000 A 0x0",
		 "va 0x10000 0x8000 A 0x0\nva 0x18000 0x8000 A 0x0");
	/* End less. */
	MAP_CASE(x_a8, 0x18000, 0x10000, A, 0x10000,
		 "remap 0x10000 0x10000 A 0x8000 keep=1 "
		 "prev=0x10000:0x8000:0x8000 next=-\n"
		 "map 0x18000 0x10000 A 0x10000",
		 "va 0x10000 0x8000 A 0x8000\nva 0x18000 0x10000 A 0x10000");
	MAP_CASE(x_a0, 0x18000, 0x10000, B, 0x8000,
		 "remap 0x10000 0x10000 A 0x0 keep=0 "
		 "prev=0x10000:0x8000:0x0 next=-\n"
		 "map 0x18000 0x10000 B 0x8000",
		 "va 0x10000 0x8000 A 0x0\nva 0x18000 0x10000 B 0x8000");
	/* End greater: a hole in the middle. */
	MAP_CASE(x_a0, 0x14000, 0x4000, A, 0x4000,
		 "remap 0x10000 0x10000 A 0x0 keep=1 "
		 "prev=0x10000:0x4000:0x0 next=0x18000:0x8000:0x8000\n"
		 "map 0x14000 0x4000 A 0x4000",
		 "va 0x10000 0x4000 A 0x0\n"
		 "va 0x14000 0x4000 A 0x4000\n"
		 "va 0x18000 0x8000 A 0x8000");
	MAP_CASE(x_a8, 0x14000, 0x4000, A, 0x4000,
		 "remap 0x10000 0x10000 A 0x8000 keep=0 "
		 "prev=0x10000:0x4000:0x8000 next=0x18000:0x8000:0x10000\n"
		 "map 0x14000 0x4000 A 0x4000",
		 "va 0x10000 0x4000 A 0x8000\n"
		 "va 0x14000 0x4000 A 0x4000\n"
		 "va 0x18000 0x8000 A 0x10000");
	MAP_CASE(x_a0, 0x10001, 1, A, 1,
		 "remap 0x10000 0x10000 A 0x0 keep=1 "
		 "prev=0x10000:0x1:0x0 next=0x10002:0xfffe:0x2\n"
		 "map 0x10001 0x1 A 0x1",
		 "va 0x10000 0x1 A 0x0\n"
		 "va 0x10001 0x1 A 0x1\n"
		 "va 0x10002 0xfffe A 0x2");
}

/* Case C: the old mapping starts after the request. */
static void test_sm_map_case_c(void **state)
{
	(void)state;
	/* End equal. */
	MAP_CASE(x_a8, 0x8000, 0x18000, A, 0,
		 "unmap 0x10000 0x10000 A 0x8000 keep=1\n"
		 "map 0x8000 0x18000 A 0x0",
		 "va 0x8000 0x18000 A 0x0");
	MAP_CASE(x_a0, 0x8000, 0x18000, A, 0,
		 "unmap 0x10000 0x10000 A 0x0 keep=0\n"
		 "map 0x8000 0x18000 A 0x0",
		 "va 0x8000 0x18000 A 0x0");
	/* End less. */
	MAP_CASE(x_a8, 0x8000, 0x20000, A, 0,
		 "unmap 0x10000 0x10000 A 0x8000 keep=1\n"
		 "map 0x8000 0x20000 A 0x0",
		 "va 0x8000 0x20000 A 0x0");
	MAP_CASE(x_a8, 0x8000, 0x20000, B, 0,
		 "unmap 0x10000 0x10000 A 0x8000 keep=0\n"
		 "map 0x8000 0x20000 B 0x0",
		 "va 0x8000 0x20000 B 0x0");
	/* End greater: the tail survives. */
	MAP_CASE(x_a8, 0x8000, 0x10000, A, 0,
		 "remap 0x10000 0x10000 A 0x8000 keep=1 prev=- "
		 "next=0x18000:0x8000:0x10000\n"
		 "map 0x8000 0x10000 A 0x0",
		 "va 0x8000 0x10000 A 0x0\nva 0x18000 0x8000 A 0x10000");
	MAP_CASE(x_a8, 0x8000, 0x10000, A, 0x8000,
		 "remap 0x10000 0x10000 A 0x8000 keep=0 prev=- "
		 "next=0x18000:0x8000:0x10000\n"
		 "map 0x8000 0x10000 A 0x8000",
		 "va 0x8000 0x10000 A 0x8000\nva 0x18000 0x8000 A 0x10000");
}

static void test_sm_map_many(void **state)
{
	(void)state;
	/* A remap at each end, an unmap in between, the map last. */
	MAP_CASE(three, 0x18000, 0x20000, A, 0x8000,
		 "remap 0x10000 0x10000 A 0x0 keep=1 "
		 "prev=0x10000:0x8000:0x0 next=-\n"
		 "unmap 0x20000 0x10000 B 0x0 keep=0\n"
		 "remap 0x30000 0x10000 A 0x20000 keep=1 prev=- "
		 "next=0x38000:0x8000:0x28000\n"
		 "map 0x18000 0x20000 A 0x8000",
		 "va 0x10000 0x8000 A 0x0\n"
		 "va 0x18000 0x20000 A 0x8000\n"
		 "va 0x38000 0x8000 A 0x28000");
	/* Covering all three exactly. */
	MAP_CASE(three, 0x10000, 0x30000, A, 0,
		 "unmap 0x10000 0x10000 A 0x0 keep=1\n"
		 "unmap 0x20000 0x10000 B 0x0 keep=0\n"
		 "unmap 0x30000 0x10000 A 0x20000 keep=1\n"
		 "map 0x10000 0x30000 A 0x0",
		 "va 0x10000 0x30000 A 0x0");
	/* Covering more than all three. */
	MAP_CASE(three, 0x0, 0x100000, B, 0x10000,
		 "unmap 0x10000 0x10000 A 0x0 keep=0\n"
		 "unmap 0x20000 0x10000 B 0x0 keep=0\n"
		 "unmap 0x30000 0x10000 A 0x20000 keep=0\n"
		 "map 0x0 0x100000 B 0x10000",
		 "va 0x0 0x100000 B 0x10000");
	/* From inside the first to the end of the second. */
	MAP_CASE(three, 0x1c000, 0x14000, C, 0,
		 "remap 0x10000 0x10000 A 0x0 keep=0 "
		 "prev=0x10000:0xc000:0x0 next=-\n"
		 "unmap 0x20000 0x10000 B 0x0 keep=0\n"
		 "map 0x1c000 0x14000 C 0x0",
		 "va 0x10000 0xc000 A 0x0\n"
		 "va 0x1c000 0x14000 C 0x0\n"
		 "va 0x30000 0x10000 A 0x20000");
}

static void test_sm_map_null_object(void **state)
{
	(void)state;
	/* A mapping without an object never keeps. */
	MAP_CASE(x_none, 0x10000, 0x10000, NONE, 0,
		 "unmap 0x10000 0x10000 - 0x0 keep=0\n"
		 "map 0x10000 0x10000 - 0x0",
		 "va 0x10000 0x10000 - 0x0");
	MAP_CASE(x_none, 0x14000, 0x4000, NONE, 0x4000,
		 "remap 0x10000 0x10000 - 0x0 keep=0 "
		 "prev=0x10000:0x4000:0x0 next=0x18000:0x8000:0x8000\n"
		 "map 0x14000 0x4000 - 0x4000",
		 "va 0x10000 0x4000 - 0x0\n"
		 "va 0x14000 0x4000 - 0x4000\n"
		 "va 0x18000 0x8000 - 0x8000");
	MAP_CASE(x_none, 0x10000, 0x10000, A, 0,
		 "unmap 0x10000 0x10000 - 0x0 keep=0\n"
		 "map 0x10000 0x10000 A 0x0",
		 "va 0x10000 0x10000 A 0x0");
	MAP_CASE(x_a0, 0x10000, 0x10000, NONE, 0,
		 "unmap 0x10000 0x10000 A 0x0 keep=0\n"
		 "map 0x10000 0x10000 - 0x0",
		 "va 0x10000 0x10000 - 0x0");
}

static void test_sm_unmap(void **state)
{
	(void)state;
	UNMAP_CASE(x_a0, 0x10000, 0x10000, "unmap 0x10000 0x10000 A 0x0 keep=0",
		   "");
	UNMAP_CASE(x_a0, 0x0, 0x100000, "unmap 0x10000 0x10000 A 0x0 keep=0",
		   "");
	UNMAP_CASE(x_a8, 0x14000, 0x4000,
		   "remap 0x10000 0x10000 A 0x8000 keep=0 "
		   "prev=0x10000:0x4000:0x8000 next=0x18000:0x8000:0x10000",
		   "va 0x10000 0x4000 A 0x8000\nva 0x18000 0x8000 A 0x10000");
	UNMAP_CASE(x_a0, 0x8000, 0x10000,
		   "remap 0x10000 0x10000 A 0x0 keep=0 prev=- "
		   "next=0x18000:0x8000:0x8000",
		   "va 0x18000 0x8000 A 0x8000");
	UNMAP_CASE(x_a0, 0x10000, 0x8000,
		   "remap 0x10000 0x10000 A 0x0 keep=0 prev=- "
		   "next=0x18000:0x8000:0x8000",
		   "va 0x18000 0x8000 A 0x8000");
	UNMAP_CASE(x_a0, 0x18000, 0x10000,
		   "remap 0x10000 0x10000 A 0x0 keep=0 "
		   "prev=0x10000:0x8000:0x0 next=-",
		   "va 0x10000 0x8000 A 0x0");
	UNMAP_CASE(x_none, 0x18000, 0x8000,
		   "remap 0x10000 0x10000 - 0x0 keep=0 "
		   "prev=0x10000:0x8000:0x0 next=-",
		   "va 0x10000 0x8000 - 0x0");
	UNMAP_CASE(three, 0x18000, 0x20000,
		   "remap 0x10000 0x10000 A 0x0 keep=0 "
		   "prev=0x10000:0x8000:0x0 next=-\n"
		   "unmap 0x20000 0x10000 B 0x0 keep=0\n"
		   "remap 0x30000 0x10000 A 0x20000 keep=0 prev=- "
		   "next=0x38000:0x8000:0x28000",
		   "va 0x10000 0x8000 A 0x0\nva 0x38000 0x8000 A 0x28000");
	/* Nothing there: no steps at all. */
	UNMAP_CASE(three, 0x40000, 0x10000, "",
		   "va 0x10000 0x10000 A 0x0\n"
		   "va 0x20000 0x10000 B 0x0\n"
		   "va 0x30000 0x10000 A 0x20000");
	UNMAP_CASE(NULL, 0x0, VM_RANGE, "", "");
}

/* The example of "DOC: Split and merge" and the replay format, in a row. */
static void test_sm_sequence(void **state)
{
	struct gpuvm *vm = vm_with(NULL);
	struct gpuvm_map_req req;
	struct tu_rec r;

	(void)state;
	tu_rec_init(&r, vm, true);
	req = req_of(0x1000, 0x4000, A, 0);
	assert_int_equal(gpuvm_sm_map(vm, &r, &req), 0);
	assert_ops_str(&r, "map 0x1000 0x4000 A 0x0");
	tu_rec_reset(&r);
	req = req_of(0x2000, 0x1000, B, 0);
	assert_int_equal(gpuvm_sm_map(vm, &r, &req), 0);
	assert_ops_str(&r, "remap 0x1000 0x4000 A 0x0 keep=0 "
			   "prev=0x1000:0x1000:0x0 next=0x3000:0x2000:0x2000\n"
			   "map 0x2000 0x1000 B 0x0");
	tu_rec_reset(&r);
	req = req_of(0x1000, 0x4000, A, 0);
	assert_int_equal(gpuvm_sm_map(vm, &r, &req), 0);
	assert_ops_str(&r, "unmap 0x1000 0x1000 A 0x0 keep=1\n"
			   "unmap 0x2000 0x1000 B 0x0 keep=0\n"
			   "unmap 0x3000 0x2000 A 0x2000 keep=1\n"
			   "map 0x1000 0x4000 A 0x0");
	tu_rec_reset(&r);
	assert_int_equal(gpuvm_sm_unmap(vm, &r, 0x0, 0x2000), 0);
	assert_ops_str(&r, "remap 0x1000 0x4000 A 0x0 keep=0 prev=- "
			   "next=0x2000:0x3000:0x1000");
	assert_state_str(vm, "va 0x2000 0x3000 A 0x1000");
	TU_CHECK_INV(vm);
	tu_rec_fini(&r);
	tu_vm_destroy(vm);
}

/* Requests near the cut-out and at the top of the 64-bit space. */
static void test_sm_edges(void **state)
{
	const uint64_t top = 0xffffffffffff0000ull;
	struct gpuvm *vm;
	struct gpuvm_map_req req;
	struct tu_rec r;

	(void)state;
	vm = tu_vm_create(top, 0xffff, top + 0x4000, 0x1000);
	tu_rec_init(&r, vm, true);
	req = req_of(top, 0x4000, A, 0);
	assert_int_equal(gpuvm_sm_map(vm, &r, &req), 0);
	req = req_of(top + 0x5000, 0xaffe, B, 0);
	assert_int_equal(gpuvm_sm_map(vm, &r, &req), 0);
	tu_rec_reset(&r);
	req = req_of(top + 0xf000, 0xfff, C, 7);
	assert_int_equal(gpuvm_sm_map(vm, &r, &req), 0);
	assert_ops_str(&r, "remap 0xffffffffffff5000 0xaffe B 0x0 keep=0 "
			   "prev=0xffffffffffff5000:0xa000:0x0 next=-\n"
			   "map 0xfffffffffffff000 0xfff C 0x7");
	tu_rec_reset(&r);
	assert_int_equal(gpuvm_sm_unmap(vm, &r, top + 0x3000, 0x1000), 0);
	assert_ops_str(&r, "remap 0xffffffffffff0000 0x4000 A 0x0 keep=0 "
			   "prev=0xffffffffffff0000:0x3000:0x0 next=-");
	tu_rec_reset(&r);
	assert_int_equal(gpuvm_sm_unmap(vm, &r, top + 0x5000, 0xaffe), 0);
	assert_ops_str(&r, "unmap 0xffffffffffff5000 0xa000 B 0x0 keep=0\n"
			   "remap 0xfffffffffffff000 0xfff C 0x7 keep=0 "
			   "prev=- next=0xfffffffffffffffe:0x1:0x1005");
	assert_state_str(vm, "va 0xffffffffffff0000 0x3000 A 0x0\n"
			     "va 0xfffffffffffffffe 0x1 C 0x1005");
	/* Up to the last address, keeping what is already there. */
	tu_rec_reset(&r);
	req = req_of(0xfffffffffffffffdull, 2, C, 0x1004);
	assert_int_equal(gpuvm_sm_map(vm, &r, &req), 0);
	assert_ops_str(&r, "unmap 0xfffffffffffffffe 0x1 C 0x1005 keep=1\n"
			   "map 0xfffffffffffffffd 0x2 C 0x1004");
	/* Touching the cut-out or wrapping around is refused. */
	tu_rec_reset(&r);
	req = req_of(top + 0x3000, 0x1001, A, 0);
	assert_int_equal(gpuvm_sm_map(vm, &r, &req), -EINVAL);
	req = req_of(UINT64_MAX - 1, 2, A, 0);
	assert_int_equal(gpuvm_sm_map(vm, &r, &req), -EINVAL);
	assert_int_equal(gpuvm_sm_unmap(vm, &r, top + 0x4fff, 2), -EINVAL);
	assert_int_equal(r.calls, 0);
	/* Right up to the cut-out on both sides. */
	req = req_of(top + 0x3000, 0x1000, B, 0);
	assert_int_equal(gpuvm_sm_map(vm, &r, &req), 0);
	req = req_of(top + 0x5000, 0x1000, B, 0);
	assert_int_equal(gpuvm_sm_map(vm, &r, &req), 0);
	assert_state_str(vm, "va 0xffffffffffff0000 0x3000 A 0x0\n"
			     "va 0xffffffffffff3000 0x1000 B 0x0\n"
			     "va 0xffffffffffff5000 0x1000 B 0x0\n"
			     "va 0xfffffffffffffffd 0x2 C 0x1004");
	TU_CHECK_INV(vm);
	tu_rec_fini(&r);
	tu_vm_destroy(vm);
}

static void test_sm_einval(void **state)
{
	struct gpuvm *vm;
	struct gpuvm_map_req req;
	struct gpuva_ops *ops;
	struct tu_rec r;
	struct tu_snap snap;
	static const uint64_t bad[][2] = {
		{ 0x20000, 0 },		 { UINT64_MAX, 1 },
		{ 0x20000, UINT64_MAX }, { 0x0, 0x20000 },
		{ 0xff000, 0x2000 },	 { 0x100000, 0x1000 },
		{ 0x3f000, 0x2000 },	 { 0x4f000, 0x2000 },
		{ 0x40000, 0x10000 },	 { 0x48000, 0x1000 },
		{ 0x30000, 0x30000 },
	};
	size_t i;

	(void)state;
	vm = tu_vm_create(0x10000, 0xf0000, 0x40000, 0x10000);
	tu_insert(vm, 0x20000, 0x10000, bo(A), 0);
	tu_insert(vm, 0x50000, 0x10000, bo(B), 0);
	tu_insert(vm, 0xf0000, 0x10000, bo(B), 0);
	tu_snap_take(vm, &snap);
	tu_rec_init(&r, vm, true);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		req = req_of(bad[i][0], bad[i][1], A, 0);
		assert_int_equal(gpuvm_sm_map(vm, &r, &req), -EINVAL);
		assert_int_equal(gpuvm_sm_unmap(vm, &r, bad[i][0], bad[i][1]),
				 -EINVAL);
		assert_int_equal(r.calls, 0);
		ops = NULL;
		assert_int_equal(gpuvm_sm_map_ops_create(vm, &req, &ops),
				 -EINVAL);
		assert_int_equal(gpuvm_sm_unmap_ops_create(vm, bad[i][0],
							   bad[i][1], &ops),
				 -EINVAL);
		tu_snap_check(vm, &snap);
	}
	TU_CHECK_INV(vm);
	tu_snap_free(&snap);
	tu_rec_fini(&r);
	tu_vm_destroy(vm);
}

static const struct gpuvm_ops ops_no_map = {
	.vm_free = tu_vm_free,
	.sm_step_remap = tu_step_remap,
	.sm_step_unmap = tu_step_unmap,
};
static const struct gpuvm_ops ops_no_remap = {
	.vm_free = tu_vm_free,
	.sm_step_map = tu_step_map,
	.sm_step_unmap = tu_step_unmap,
};
static const struct gpuvm_ops ops_no_unmap = {
	.vm_free = tu_vm_free,
	.sm_step_map = tu_step_map,
	.sm_step_remap = tu_step_remap,
};
static const struct gpuvm_ops ops_none = {
	.vm_free = tu_vm_free,
};

static void test_sm_missing_callbacks(void **state)
{
	const struct gpuvm_ops *const variants[] = { &ops_no_map, &ops_no_remap,
						     &ops_no_unmap, &ops_none };
	struct gpuvm_map_req req = req_of(0x18000, 0x20000, C, 0);
	size_t i;

	(void)state;
	for (i = 0; i < 4; i++) {
		struct gpuvm *vm =
			tu_vm_create_ops(0, VM_RANGE, 0, 0, variants[i]);
		struct gpuva_ops *ops = NULL;
		struct tu_snap snap;
		struct tu_rec r;
		int ret;

		tu_insert(vm, 0x10000, 0x10000, bo(A), 0);
		tu_insert(vm, 0x20000, 0x10000, bo(B), 0);
		tu_insert(vm, 0x30000, 0x10000, bo(A), 0);
		tu_snap_take(vm, &snap);
		tu_rec_init(&r, vm, true);

		/* sm_map needs all three. */
		assert_int_equal(gpuvm_sm_map(vm, &r, &req), -EINVAL);
		assert_int_equal(r.calls, 0);
		tu_snap_check(vm, &snap);

		/* sm_unmap needs remap and unmap only. */
		ret = gpuvm_sm_unmap(vm, &r, 0x18000, 0x10000);
		if (variants[i] == &ops_no_map) {
			assert_int_equal(ret, 0);
			assert_ops_str(&r, "remap 0x10000 0x10000 A 0x0 "
					   "keep=0 prev=0x10000:0x8000:0x0 "
					   "next=-\n"
					   "remap 0x20000 0x10000 B 0x0 keep=0 "
					   "prev=- next=0x28000:0x8000:0x8000");
		} else {
			assert_int_equal(ret, -EINVAL);
			assert_int_equal(r.calls, 0);
			tu_snap_check(vm, &snap);
		}
		tu_snap_free(&snap);

		/* The list forms need no callbacks. */
		assert_int_equal(gpuvm_sm_map_ops_create(vm, &req, &ops), 0);
		assert_non_null(ops);
		gpuva_ops_free(vm, ops);
		ops = NULL;
		assert_int_equal(
			gpuvm_sm_unmap_ops_create(vm, 0x0, 0x100000, &ops), 0);
		assert_non_null(ops);
		gpuva_ops_free(vm, ops);
		TU_CHECK_INV(vm);
		tu_rec_fini(&r);
		tu_vm_destroy(vm);
	}
}

/*
 * A callback error stops the walk at once and is returned; the steps made
 * before it stand. The expectation for "the first k - 1 steps" comes from
 * applying the first k - 1 ops of the staged list by hand.
 */
static void test_sm_callback_error(void **state)
{
	struct gpuvm_map_req req = req_of(0x18000, 0x20000, C, 0);
	size_t k, total = 4;
	int unmap;

	(void)state;
	for (unmap = 0; unmap < 2; unmap++) {
		if (unmap)
			total = 3;
		for (k = 1; k <= total; k++) {
			char want[4096], got[4096];
			struct gpuva_ops *ops;
			struct gpuva_op *op;
			struct gpuvm *vm;
			struct tu_rec r;
			size_t i = 0;
			int ret;

			vm = vm_with(three);
			if (unmap)
				ret = gpuvm_sm_unmap_ops_create(vm, 0x18000,
								0x20000, &ops);
			else
				ret = gpuvm_sm_map_ops_create(vm, &req, &ops);
			assert_int_equal(ret, 0);
			gpuva_for_each_op(op, ops) {
				if (++i >= k)
					break;
				assert_int_equal(tu_apply_op(vm, op), 0);
			}
			gpuva_ops_free(vm, ops);
			tu_state_format(vm, &names, want, sizeof(want));
			tu_vm_destroy(vm);

			vm = vm_with(three);
			tu_rec_init(&r, vm, true);
			r.fail_at = k;
			r.fail_err = k == 2 ? 77 : -EBUSY;
			if (unmap)
				ret = gpuvm_sm_unmap(vm, &r, 0x18000, 0x20000);
			else
				ret = gpuvm_sm_map(vm, &r, &req);
			assert_int_equal(ret, r.fail_err);
			assert_int_equal(r.calls, k);
			assert_int_equal(r.n, k - 1);
			TU_CHECK_INV(vm);
			tu_state_format(vm, &names, got, sizeof(got));
			assert_string_equal(got, want);
			tu_rec_fini(&r);
			tu_vm_destroy(vm);
		}
	}
}

/* ------------------------------------------------------------------ */
/* Op lists                                                             */

static void test_op_iterators(void **state)
{
	struct gpuvm_map_req req = req_of(0x18000, 0x20000, C, 0);
	struct gpuvm *vm = vm_with(three);
	struct gpuva_ops *ops;
	struct gpuva_op *op, *nx, *first, *last;
	struct gpuvm_list_head tmp;
	static const enum gpuva_op_type want[] = {
		GPUVA_OP_REMAP, GPUVA_OP_UNMAP, GPUVA_OP_REMAP, GPUVA_OP_MAP
	};
	struct gpuva_op *seen[4];
	int i;

	(void)state;
	assert_int_equal(gpuvm_sm_map_ops_create(vm, &req, &ops), 0);
	first = gpuva_first_op(ops);
	last = gpuva_last_op(ops);
	assert_int_equal(first->op, GPUVA_OP_REMAP);
	assert_int_equal(last->op, GPUVA_OP_MAP);
	assert_int_equal(gpuva_next_op(first)->op, GPUVA_OP_UNMAP);
	assert_ptr_equal(gpuva_prev_op(gpuva_next_op(first)), first);
	assert_int_equal(gpuva_prev_op(last)->op, GPUVA_OP_REMAP);
	assert_int_equal(gpuva_prev_op(last)->remap.unmap->va->va.addr,
			 0x30000);
	assert_int_equal(last->map.va.addr, 0x18000);

	i = 0;
	gpuva_for_each_op(op, ops) {
		assert_true(i < 4);
		assert_int_equal(op->op, want[i]);
		seen[i++] = op;
	}
	assert_int_equal(i, 4);
	gpuva_for_each_op_reverse(op, ops)
		assert_ptr_equal(op, seen[--i]);
	assert_int_equal(i, 0);

	/* From the third op back to the first. */
	op = seen[2];
	i = 2;
	gpuva_for_each_op_from_reverse(op, ops)
		assert_ptr_equal(op, seen[i--]);
	assert_int_equal(i, -1);

	/* The safe walk may unlink the current op. */
	gpuvm_list_init(&tmp);
	i = 0;
	gpuva_for_each_op_safe(op, nx, ops) {
		assert_ptr_equal(op, seen[i++]);
		gpuvm_list_del(&op->entry);
		gpuvm_list_add(&op->entry, &tmp);
	}
	assert_int_equal(i, 4);
	assert_true(gpuvm_list_empty(&ops->list));
	/* tmp holds them reversed; put them back in order. */
	while (!gpuvm_list_empty(&tmp)) {
		op = gpuvm_list_first_entry(&tmp, struct gpuva_op, entry);
		gpuvm_list_del(&op->entry);
		gpuvm_list_add(&op->entry, &ops->list);
	}
	i = 0;
	gpuva_for_each_op(op, ops)
		assert_ptr_equal(op, seen[i++]);
	gpuva_ops_free(vm, ops);
	gpuva_ops_free(vm, NULL);
	tu_vm_destroy(vm);
}

struct my_op {
	uint32_t magic;
	struct gpuva_op op;
};

#define MY_MAGIC 0x6f70u

static unsigned int my_allocs, my_frees, my_fail_at;

static struct gpuva_op *my_op_alloc(void)
{
	struct my_op *m;

	if (my_fail_at && my_allocs + 1 == my_fail_at)
		return NULL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->magic = MY_MAGIC;
	my_allocs++;
	return &m->op;
}

static void my_op_free(struct gpuva_op *op)
{
	struct my_op *m = gpuvm_container_of(op, struct my_op, op);

	assert_int_equal(m->magic, MY_MAGIC);
	m->magic = 0;
	my_frees++;
	free(m);
}

static const struct gpuvm_ops my_ops = {
	.vm_free = tu_vm_free,
	.op_alloc = my_op_alloc,
	.op_free = my_op_free,
	.sm_step_map = tu_step_map,
	.sm_step_remap = tu_step_remap,
	.sm_step_unmap = tu_step_unmap,
};

static struct gpuvm *my_vm(void)
{
	struct gpuvm *vm =
		tu_vm_create_ops(0, VM_RANGE, 0x100000, 0x1000, &my_ops);
	uint64_t i;

	for (i = 0; i < 8; i++)
		tu_insert(vm, 0x10000 + i * 0x10000, 0x8000, bo(A), i);
	return vm;
}

static unsigned int count_ops(const struct gpuva_ops *ops)
{
	struct gpuva_op *op;
	unsigned int n = 0;

	gpuva_for_each_op(op, ops) {
		struct my_op *m = gpuvm_container_of(op, struct my_op, op);

		assert_int_equal(m->magic, MY_MAGIC);
		n++;
	}
	return n;
}

static void test_user_op_alloc(void **state)
{
	struct gpuvm *vm;
	struct gpuva_ops *ops;
	struct gpuvm_map_req req = req_of(0x14000, 0x68000, B, 0);

	/*
	 * Mappings [0x10000 + i * 0x10000, +0x8000) for i < 8: the request
	 * remaps the first, unmaps six and maps.
	 */
	unsigned int n;

	(void)state;
	my_allocs = my_frees = my_fail_at = 0;
	vm = my_vm();

	assert_int_equal(gpuvm_sm_map_ops_create(vm, &req, &ops), 0);
	n = count_ops(ops);
	assert_int_equal(n, 8);
	assert_int_equal(my_allocs, n);
	gpuva_ops_free(vm, ops);
	assert_int_equal(my_frees, n);

	assert_int_equal(gpuvm_sm_unmap_ops_create(vm, 0x0, 0x100000, &ops), 0);
	n = count_ops(ops);
	assert_int_equal(n, 8);
	assert_int_equal(my_allocs, 16);
	gpuva_ops_free(vm, ops);
	assert_int_equal(my_frees, 16);

	assert_int_equal(gpuvm_prefetch_ops_create(vm, 0x0, 0x200000, &ops), 0);
	/* Eight mappings and the cut-out. */
	n = count_ops(ops);
	assert_int_equal(n, 9);
	gpuva_ops_free(vm, ops);
	assert_int_equal(my_frees, my_allocs);

	/* A failing op_alloc gives -ENOMEM and frees what it had. */
	my_allocs = my_frees = 0;
	for (my_fail_at = 1; my_fail_at <= 8; my_fail_at++) {
		unsigned int a0 = my_allocs;

		ops = NULL;
		assert_int_equal(gpuvm_sm_map_ops_create(vm, &req, &ops),
				 -ENOMEM);
		assert_int_equal(my_allocs - a0, my_fail_at - 1);
		assert_int_equal(my_frees, my_allocs);
		my_allocs = my_frees = 0;
	}
	my_fail_at = 0;
	TU_CHECK_INV(vm);
	tu_vm_destroy(vm);
}

static void test_prefetch(void **state)
{
	struct gpuvm *vm;
	struct gpuva_ops *ops;
	struct gpuva_op *op;
	struct tu_rec r;
	struct tu_snap snap;

	(void)state;
	vm = tu_vm_create(0x10000, 0xf0000, 0x40000, 0x10000);
	tu_insert(vm, 0x20000, 0x10000, bo(A), 0);
	tu_insert(vm, 0x30000, 0x8000, NULL, 0);
	tu_insert(vm, 0x50000, 0x10000, bo(B), 0x1000);
	tu_insert(vm, 0x70000, 0x10000, bo(C), 0);
	tu_snap_take(vm, &snap);
	tu_rec_init(&r, vm, false);

	/* No splitting: partial overlaps at both ends are whole ops. */
	assert_int_equal(gpuvm_prefetch_ops_create(vm, 0x28000, 0x30000, &ops),
			 0);
	tu_rec_from_ops(&r, ops);
	assert_ops_str(&r, "prefetch 0x20000 0x10000\n"
			   "prefetch 0x30000 0x8000\n"
			   "prefetch 0x40000 0x10000\n"
			   "prefetch 0x50000 0x10000");
	op = gpuva_first_op(ops);
	assert_ptr_equal(op->prefetch.va, gpuva_find(vm, 0x20000, 0x10000));
	op = gpuva_next_op(gpuva_next_op(op));
	assert_ptr_equal(op->prefetch.va, &vm->kernel_alloc_node);
	gpuva_ops_free(vm, ops);

	tu_rec_reset(&r);
	assert_int_equal(gpuvm_prefetch_ops_create(vm, 0x0, UINT64_MAX, &ops),
			 0);
	tu_rec_from_ops(&r, ops);
	assert_int_equal(r.n, 5);
	gpuva_ops_free(vm, ops);

	/* Nothing overlaps: an empty list, not an error. */
	ops = NULL;
	assert_int_equal(gpuvm_prefetch_ops_create(vm, 0x38000, 0x8000, &ops),
			 0);
	assert_non_null(ops);
	assert_true(gpuvm_list_empty(&ops->list));
	gpuva_ops_free(vm, ops);

	assert_int_equal(gpuvm_prefetch_ops_create(vm, 0x20000, 0, &ops),
			 -EINVAL);
	assert_int_equal(
		gpuvm_prefetch_ops_create(vm, 0x20000, UINT64_MAX, &ops),
		-EINVAL);
	/* An end of exactly 2^64 is a lookup range like any other. */
	ops = NULL;
	assert_int_equal(gpuvm_prefetch_ops_create(vm, UINT64_MAX, 1, &ops), 0);
	assert_non_null(ops);
	assert_true(gpuvm_list_empty(&ops->list));
	gpuva_ops_free(vm, ops);
	ops = NULL;
	assert_int_equal(
		gpuvm_prefetch_ops_create(vm, 0x20000, 0 - 0x20000ull, &ops),
		0);
	tu_rec_from_ops(&r, ops);
	assert_true(r.n > 0);
	gpuva_ops_free(vm, ops);
	tu_snap_check(vm, &snap);
	tu_snap_free(&snap);
	tu_rec_fini(&r);
	tu_vm_destroy(vm);
}

/* ------------------------------------------------------------------ */
/* Applying ops by hand and the op helpers                             */

static void test_map_unmap_direct(void **state)
{
	struct gpuvm *vm;
	struct gpuva *va = calloc(1, sizeof(*va)), *vb = calloc(1, sizeof(*vb));
	struct gpuva_op_map m = { .va = { 0x20000, 0x3000 },
				  .gem = { 0x7000, bo(B) } };
	struct gpuva_op_unmap u;

	(void)state;
	assert_non_null(va);
	assert_non_null(vb);
	vm = tu_vm_create(0x10000, 0xf0000, 0x40000, 0x10000);
	va->flags = GPUVA_SPARSE | GPUVA_USERBITS;
	assert_int_equal(gpuva_map(vm, va, &m), 0);
	assert_ptr_equal(va->vm, vm);
	assert_int_equal(va->va.addr, 0x20000);
	assert_int_equal(va->va.range, 0x3000);
	assert_ptr_equal(va->gem.obj, bo(B));
	assert_int_equal(va->gem.offset, 0x7000);
	/* Flags are the caller's. */
	assert_int_equal(va->flags, GPUVA_SPARSE | GPUVA_USERBITS);
	assert_int_equal(gpuvm_kref_read(&vm->kref), 2);
	assert_ptr_equal(gpuva_find(vm, 0x20000, 0x3000), va);

	/* Failing maps change nothing. */
	m.va.addr = 0x22000;
	assert_int_equal(gpuva_map(vm, vb, &m), -EEXIST);
	m.va.addr = 0x3f000;
	assert_int_equal(gpuva_map(vm, vb, &m), -EINVAL);
	m.va.range = 0;
	assert_int_equal(gpuva_map(vm, vb, &m), -EINVAL);
	assert_int_equal(gpuvm_kref_read(&vm->kref), 2);
	assert_int_equal(tu_count_va(vm), 1);
	TU_CHECK_INV(vm);

	u.va = va;
	u.keep = true;
	gpuva_unmap(&u);
	assert_int_equal(gpuvm_kref_read(&vm->kref), 1);
	assert_null(gpuva_find_first(vm, 0x20000, 0x3000));
	TU_CHECK_INV(vm);
	free(va);
	free(vb);
	tu_vm_destroy(vm);
}

static void test_remap_direct(void **state)
{
	struct gpuvm *vm;
	struct gpuva *old, *p, *n;
	struct gpuva_op_map pm = { .va = { 0x20000, 0x1000 },
				   .gem = { 0x100, NULL } };
	struct gpuva_op_map nm = { .va = { 0x23000, 0x1000 },
				   .gem = { 0x3100, NULL } };
	struct gpuva_op_unmap u;
	struct gpuva_op_remap r;

	(void)state;
	vm = tu_vm_create(0x10000, 0xf0000, 0, 0);

	/* Prev only: the reference count stays, the tail goes. */
	old = tu_insert(vm, 0x20000, 0x4000, bo(A), 0x100);
	gpuva_invalidate(old, true);
	pm.gem.obj = bo(A);
	u.va = old;
	u.keep = false;
	r.prev = &pm;
	r.next = NULL;
	r.unmap = &u;
	p = calloc(1, sizeof(*p));
	assert_non_null(p);
	assert_int_equal(gpuva_remap(p, NULL, &r), 0);
	assert_int_equal(gpuvm_kref_read(&vm->kref), 2);
	assert_ptr_equal(gpuva_find(vm, 0x20000, 0x1000), p);
	assert_ptr_equal(p->vm, vm);
	assert_ptr_equal(p->gem.obj, bo(A));
	assert_int_equal(p->gem.offset, 0x100);
	/* The pieces inherit nothing the op does not say. */
	assert_false(gpuva_invalidated(p));
	assert_null(gpuva_find_first(vm, 0x21000, 0x3000));
	TU_CHECK_INV(vm);
	free(old);

	/* Next only. */
	old = p;
	nm.va.addr = 0x20800;
	nm.va.range = 0x800;
	nm.gem.obj = bo(A);
	nm.gem.offset = 0x900;
	u.va = old;
	r.prev = NULL;
	r.next = &nm;
	n = calloc(1, sizeof(*n));
	assert_non_null(n);
	n->flags = GPUVA_USERBITS;
	assert_int_equal(gpuva_remap(NULL, n, &r), 0);
	assert_int_equal(gpuvm_kref_read(&vm->kref), 2);
	assert_ptr_equal(gpuva_find(vm, 0x20800, 0x800), n);
	assert_int_equal(n->flags, GPUVA_USERBITS);
	assert_int_equal(tu_count_va(vm), 1);
	TU_CHECK_INV(vm);
	free(old);

	/* Both: one more mapping, one more reference. */
	old = n;
	pm.va.addr = 0x20800;
	pm.va.range = 0x100;
	pm.gem.offset = 0x900;
	nm.va.addr = 0x20f00;
	nm.va.range = 0x100;
	nm.gem.offset = 0x1000;
	u.va = old;
	r.prev = &pm;
	r.next = &nm;
	p = calloc(1, sizeof(*p));
	n = calloc(1, sizeof(*n));
	assert_non_null(p);
	assert_non_null(n);
	assert_int_equal(gpuva_remap(p, n, &r), 0);
	assert_int_equal(gpuvm_kref_read(&vm->kref), 3);
	assert_int_equal(tu_count_va(vm), 2);
	assert_ptr_equal(gpuva_find(vm, 0x20800, 0x100), p);
	assert_ptr_equal(gpuva_find(vm, 0x20f00, 0x100), n);
	TU_CHECK_INV(vm);
	free(old);
	tu_vm_destroy(vm);
}

static void test_remap_to_unmap_range(void **state)
{
	struct gpuva old = { .va = { 0x10000, 0x10000 } };
	struct gpuva_op_map p = { .va = { 0x10000, 0x4000 } };
	struct gpuva_op_map n = { .va = { 0x18000, 0x8000 } };
	struct gpuva_op_unmap u = { .va = &old };
	struct gpuva_op_remap r = { .unmap = &u };
	struct gpuvm_map_req req;
	struct gpuva_ops *ops;
	struct gpuvm *vm;
	uint64_t start = 0, range = 0;

	(void)state;
	r.prev = &p;
	r.next = NULL;
	gpuva_op_remap_to_unmap_range(&r, &start, &range);
	assert_int_equal(start, 0x14000);
	assert_int_equal(range, 0xc000);

	r.prev = NULL;
	r.next = &n;
	gpuva_op_remap_to_unmap_range(&r, &start, &range);
	assert_int_equal(start, 0x10000);
	assert_int_equal(range, 0x8000);

	r.prev = &p;
	r.next = &n;
	gpuva_op_remap_to_unmap_range(&r, &start, &range);
	assert_int_equal(start, 0x14000);
	assert_int_equal(range, 0x4000);

	/* On a real op: the hole is the overlap with the request. */
	vm = vm_with(x_a0);
	req = req_of(0x13000, 0x2000, B, 0);
	assert_int_equal(gpuvm_sm_map_ops_create(vm, &req, &ops), 0);
	assert_int_equal(gpuva_first_op(ops)->op, GPUVA_OP_REMAP);
	gpuva_op_remap_to_unmap_range(&gpuva_first_op(ops)->remap, &start,
				      &range);
	assert_int_equal(start, 0x13000);
	assert_int_equal(range, 0x2000);
	gpuva_ops_free(vm, ops);
	tu_vm_destroy(vm);
}

static void test_op_helpers(void **state)
{
	struct gpuva va;
	struct gpuva_op_map m = { .va = { 0x1234000, 0x5000 },
				  .gem = { 0xabc000, bo(C) } };

	(void)state;
	memset(&va, 0, sizeof(va));
	va.flags = GPUVA_SPARSE;
	va.vm = (struct gpuvm *)&va;
	gpuva_init_from_op(&va, &m);
	assert_int_equal(va.va.addr, 0x1234000);
	assert_int_equal(va.va.range, 0x5000);
	assert_ptr_equal(va.gem.obj, bo(C));
	assert_int_equal(va.gem.offset, 0xabc000);
	/* Only the range and backing are set. */
	assert_int_equal(va.flags, GPUVA_SPARSE);
	assert_ptr_equal(va.vm, (struct gpuvm *)&va);

	assert_false(gpuva_invalidated(&va));
	gpuva_invalidate(&va, true);
	assert_true(gpuva_invalidated(&va));
	assert_int_equal(va.flags, GPUVA_SPARSE | GPUVA_INVALIDATED);
	gpuva_invalidate(&va, true);
	assert_true(gpuva_invalidated(&va));
	gpuva_invalidate(&va, false);
	assert_false(gpuva_invalidated(&va));
	assert_int_equal(va.flags, GPUVA_SPARSE);
	va.flags = 0xffffffffu;
	gpuva_invalidate(&va, false);
	assert_int_equal(va.flags, 0xfffffffeu);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		SM_TEST(test_sm_map_empty),
		SM_TEST(test_sm_map_case_a),
		SM_TEST(test_sm_map_case_b),
		SM_TEST(test_sm_map_case_c),
		SM_TEST(test_sm_map_many),
		SM_TEST(test_sm_map_null_object),
		SM_TEST(test_sm_unmap),
		SM_TEST(test_sm_sequence),
		SM_TEST(test_sm_edges),
		SM_TEST(test_sm_einval),
		SM_TEST(test_sm_missing_callbacks),
		SM_TEST(test_sm_callback_error),
		SM_TEST(test_op_iterators),
		SM_TEST(test_user_op_alloc),
		SM_TEST(test_prefetch),
		SM_TEST(test_map_unmap_direct),
		SM_TEST(test_remap_direct),
		SM_TEST(test_remap_to_unmap_range),
		SM_TEST(test_op_helpers),
	};

	tu_init(argc, argv, 1, 1);
	return cmocka_run_group_tests_name("sm", tests, NULL, NULL);
}
