// SPDX-License-Identifier: MIT
/*
 * Copyright (c) 2026 The libgpuvm authors
 *
 * Deterministic tests of the bind queue: single jobs through submit, run
 * and cleanup (map, unmap, remap across mappings, keep, sparse mappings,
 * attributes, scattered objects), validation, input-fence dependencies,
 * ordering, both destroy modes, allocation failure at every allocation of
 * submit, resv-protected VMs, and the read-side helpers. Every run path
 * is checked by the library's fence-signalling checker (a counting
 * handler, asserted zero after each test), and every state is compared
 * page by page with an independent model.
 */
#include <sched.h>

#include "qtest.h"

#define B   QT_BASE
#define MiB (UINT64_C(1) << 20)

static int qt_setup(void **state)
{
	atomic_store(&qt_violations, 0);
	return tu_setup(state);
}

static int qt_teardown(void **state)
{
	assert_int_equal(atomic_load(&qt_violations), 0);
	qt_assert_no_held_alloc();
	return tu_teardown(state);
}

#define QT_TEST(f) cmocka_unit_test_setup_teardown(f, qt_setup, qt_teardown)

static struct gpuvm_bind_queue *queue_new(struct qt_ctx *c, const char *name)
{
	struct gpuvm_bind_queue *q;

	assert_int_equal(gpuvm_bind_queue_create(c->bvm, name, &q), 0);
	return q;
}

static struct gpuvm_fence *submit(struct gpuvm_bind_queue *q,
				  const struct gpuvm_bind_req *r,
				  unsigned int n, struct gpuvm_fence **in,
				  unsigned int nr_in)
{
	struct gpuvm_fence *f = NULL;

	assert_int_equal(gpuvm_bind_submit(q, r, n, in, nr_in, &f), 0);
	assert_non_null(f);
	return f;
}

/* Submits, waits, checks success, applies to the model. */
static void run_ok(struct gpuvm_bind_queue *q, struct qt_model *m,
		   const struct gpuvm_bind_req *r, unsigned int n)
{
	assert_int_equal(gpuvm_bind_submit_wait(q, r, n, NULL, 0), 0);
	qt_model_apply_all(m, r, n);
}

static bool obj_has_vm_bo(struct gpuvm_gem *obj)
{
	bool ret;

	gpuvm_gem_gpuva_lock(obj);
	ret = !gpuvm_list_empty(&obj->gpuva.list);
	gpuvm_gem_gpuva_unlock(obj);
	return ret;
}

static void put_bo(struct qt_bo *bo)
{
	unsigned int frees = atomic_load(&bo->frees);

	gpuvm_gem_put(&bo->gem);
	assert_int_equal(atomic_load(&bo->frees), frees + 1);
}

/* ------------------------------------------------------------------ */
/* Single jobs.                                                         */

static void test_map_single(void **state)
{
	struct gpuvm_bind_stats st, vst;
	struct qt_model m = { 0 };
	struct gpuvm_fence *f;
	struct gpuvm_bind_queue *q;
	struct gpuvm_bind_req r;
	struct qt_ctx c;
	struct qt_bo bo;

	(void)state;
	qt_ctx_init(&c, false);
	q = queue_new(&c, "map");
	qt_bo_init(&bo, 4 * MiB, UINT64_C(0x80000000), 0);
	r = qt_map(B, 2 * MiB, &bo, MiB);
	f = submit(q, &r, 1, NULL, 0);
	assert_int_equal(f->seqno, 1);
	assert_int_equal(gpuvm_bind_wait(f, GPUVM_WAIT_FOREVER), 0);
	assert_int_equal(gpuvm_fence_get_status(f), 1);
	gpuvm_fence_put(f);
	qt_model_apply(&m, &r);
	qt_check_range(&c, &m, B - MiB, B + 4 * MiB);
	assert_true(obj_has_vm_bo(&bo.gem));

	gpuvm_bind_queue_flush(q);
	gpuvm_bind_queue_get_stats(q, &st);
	assert_int_equal(st.jobs_submitted, 1);
	assert_int_equal(st.jobs_done, 1);
	assert_int_equal(st.jobs_cleaned, 1);
	assert_int_equal(st.ops, 1);
	assert_int_equal(st.steps_map, 1);
	assert_int_equal(st.steps_remap + st.steps_unmap, 0);
	assert_true(st.pt_entries_written > 0);
	assert_int_equal(st.violations, 0);
	assert_int_equal(st.run_errors, 0);
	assert_int_equal(st.latency.count, 1);
	assert_int_equal(st.run_per_op.count, 1);
	gpuvm_bind_vm_get_stats(c.bvm, &vst);
	assert_int_equal(vst.jobs_done, 1);

	gpuvm_bind_queue_destroy(q, GPUVM_BIND_QUEUE_DRAIN);
	qt_ctx_fini(&c);
	assert_false(obj_has_vm_bo(&bo.gem));
	put_bo(&bo);
	qt_model_fini(&m);
}

static void test_unmap_zombie(void **state)
{
	struct gpuvm_bind_stats st, vst;
	struct qt_model m = { 0 };
	struct gpuvm_bind_queue *q;
	struct gpuvm_bind_req r;
	struct qt_ctx c;
	struct qt_bo bo;

	(void)state;
	qt_ctx_init(&c, false);
	q = queue_new(&c, "unmap");
	qt_bo_init(&bo, 4 * MiB, UINT64_C(0x80000000), 0);
	r = qt_map(B, 64 * QT_PAGE, &bo, 0);
	run_ok(q, &m, &r, 1);
	/* The job's own reference goes in its cleanup. */
	gpuvm_bind_queue_flush(q);
	assert_int_equal(gpuvm_kref_read(&bo.gem.refcount), 2);
	r = qt_unmap(B, 64 * QT_PAGE);
	run_ok(q, &m, &r, 1);
	gpuvm_bind_queue_flush(q);
	qt_check_range(&c, &m, B, B + 128 * QT_PAGE);
	/* The vm_bo turned zombie in the run path and is gone now. */
	assert_false(obj_has_vm_bo(&bo.gem));
	assert_int_equal(gpuvm_kref_read(&bo.gem.refcount), 1);
	assert_int_equal(atomic_load(&c.vm->nr_zombies), 0);
	gpuvm_bind_queue_get_stats(q, &st);
	assert_int_equal(st.zombies_created, 1);
	assert_int_equal(st.steps_unmap, 1);
	gpuvm_bind_vm_get_stats(c.bvm, &vst);
	assert_int_equal(vst.zombies_created, 1);
	assert_int_equal(vst.zombies_cleaned, 1);
	gpuvm_bind_queue_destroy(q, GPUVM_BIND_QUEUE_DRAIN);
	qt_ctx_fini(&c);
	put_bo(&bo);
	qt_model_fini(&m);
}

static void test_remap_across(void **state)
{
	struct qt_model m = { 0 };
	struct gpuvm_bind_queue *q;
	struct gpuvm_bind_stats st;
	struct gpuvm_bind_req r[3];
	struct qt_bo b1, b2, b3;
	struct qt_ctx c;

	(void)state;
	qt_ctx_init(&c, false);
	q = queue_new(&c, "remap");
	qt_bo_init(&b1, 4 * MiB, UINT64_C(0x100000000), 0);
	qt_bo_init(&b2, 4 * MiB, UINT64_C(0x200000000), 0);
	qt_bo_init(&b3, 4 * MiB, UINT64_C(0x300000000), 0);
	r[0] = qt_map(B, 16 * QT_PAGE, &b1, 0);
	r[1] = qt_map(B + 16 * QT_PAGE, 16 * QT_PAGE, &b2, 0x10000);
	run_ok(q, &m, r, 2);
	qt_check_range(&c, &m, B, B + 64 * QT_PAGE);

	/* Across both: the head of b1 and the tail of b2 survive. */
	r[0] = qt_map(B + 8 * QT_PAGE, 16 * QT_PAGE, &b3, 0x20000);
	run_ok(q, &m, r, 1);
	qt_check_range(&c, &m, B, B + 64 * QT_PAGE);
	gpuvm_bind_queue_flush(q);
	gpuvm_bind_queue_get_stats(q, &st);
	assert_int_equal(st.steps_remap, 2);
	assert_int_equal(st.steps_map, 3);

	/* Unmap across all three: two remaps and one whole unmap. */
	r[0] = qt_unmap(B + 4 * QT_PAGE, 24 * QT_PAGE);
	run_ok(q, &m, r, 1);
	qt_check_range(&c, &m, B, B + 64 * QT_PAGE);
	gpuvm_bind_queue_flush(q);
	gpuvm_bind_queue_get_stats(q, &st);
	assert_int_equal(st.steps_remap, 4);
	assert_int_equal(st.steps_unmap, 1);
	/* b3 lost its only mapping. */
	assert_false(obj_has_vm_bo(&b3.gem));
	assert_true(obj_has_vm_bo(&b1.gem));
	assert_true(obj_has_vm_bo(&b2.gem));

	/* One job doing several things in order, over the same range. */
	r[0] = qt_map(B, 32 * QT_PAGE, &b3, 0);
	r[1] = qt_unmap(B + 8 * QT_PAGE, 8 * QT_PAGE);
	r[2] = qt_map(B + 12 * QT_PAGE, 8 * QT_PAGE, &b1, 0x40000);
	run_ok(q, &m, r, 3);
	qt_check_range(&c, &m, B, B + 64 * QT_PAGE);

	gpuvm_bind_queue_destroy(q, GPUVM_BIND_QUEUE_DRAIN);
	qt_ctx_fini(&c);
	put_bo(&b1);
	put_bo(&b2);
	put_bo(&b3);
	qt_model_fini(&m);
}

static void test_keep(void **state)
{
	struct gpuvm_bind_stats s0, s1;
	struct qt_model m = { 0 };
	struct gpuvm_bind_queue *q;
	struct gpuvm_bind_req r;
	struct qt_ctx c;
	struct qt_bo bo;

	(void)state;
	qt_ctx_init(&c, false);
	q = queue_new(&c, "keep");
	/* 2 MiB aligned in VA and PA: the map uses 2 MiB entries. */
	qt_bo_init(&bo, 8 * MiB, UINT64_C(0x80000000), 0);
	r = qt_map(B, 4 * MiB, &bo, 0);
	run_ok(q, &m, &r, 1);
	gpuvm_bind_queue_flush(q);
	gpuvm_bind_queue_get_stats(q, &s0);

	/* The same mapping again: an UNMAP with keep, nothing rewritten. */
	run_ok(q, &m, &r, 1);
	gpuvm_bind_queue_flush(q);
	gpuvm_bind_queue_get_stats(q, &s1);
	qt_check_range(&c, &m, B, B + 8 * MiB);
	assert_int_equal(s1.pt_pages_kept - s0.pt_pages_kept,
			 (4 * MiB) / QT_PAGE);
	assert_int_equal(s1.pt_entries_kept - s0.pt_entries_kept, 2);
	assert_int_equal(s1.pt_entries_written, s0.pt_entries_written);
	assert_int_equal(s1.pt_entries_cleared, s0.pt_entries_cleared);
	assert_int_equal(s1.steps_unmap - s0.steps_unmap, 1);

	/* A piece in the middle, same memory: a REMAP with keep. */
	s0 = s1;
	r = qt_map(B + MiB, 2 * MiB, &bo, MiB);
	run_ok(q, &m, &r, 1);
	gpuvm_bind_queue_flush(q);
	gpuvm_bind_queue_get_stats(q, &s1);
	qt_check_range(&c, &m, B, B + 8 * MiB);
	assert_int_equal(s1.pt_pages_kept - s0.pt_pages_kept,
			 (2 * MiB) / QT_PAGE);
	assert_int_equal(s1.steps_remap - s0.steps_remap, 1);

	/* Other memory: no keep. */
	s0 = s1;
	r = qt_map(B + MiB, 2 * MiB, &bo, 4 * MiB);
	run_ok(q, &m, &r, 1);
	gpuvm_bind_queue_flush(q);
	gpuvm_bind_queue_get_stats(q, &s1);
	qt_check_range(&c, &m, B, B + 8 * MiB);
	assert_int_equal(s1.pt_pages_kept, s0.pt_pages_kept);

	gpuvm_bind_queue_destroy(q, GPUVM_BIND_QUEUE_DRAIN);
	qt_ctx_fini(&c);
	put_bo(&bo);
	qt_model_fini(&m);
}

static void test_sparse(void **state)
{
	struct qt_model m = { 0 };
	struct gpuvm_bind_queue *q;
	struct gpuvm_bind_req r;
	struct qt_ctx c;
	struct qt_bo bo;
	unsigned int flags;
	uint64_t pa;

	(void)state;
	qt_ctx_init(&c, false);
	q = queue_new(&c, "sparse");
	qt_bo_init(&bo, 4 * MiB, UINT64_C(0x80000000), 0);
	r = qt_map(B, 64 * QT_PAGE, NULL, 0);
	run_ok(q, &m, &r, 1);
	assert_int_equal(gpuvm_bind_vm_translate(c.bvm, B + 5 * QT_PAGE + 12,
						 &pa, NULL, &flags),
			 0);
	assert_int_equal(pa, 0);
	assert_int_equal(flags, GPUVM_PT_NULL);
	qt_check_range(&c, &m, B, B + 128 * QT_PAGE);

	/* Backing in the middle of the sparse range, then holes. */
	r = qt_map(B + 16 * QT_PAGE, 16 * QT_PAGE, &bo, 0x8000);
	run_ok(q, &m, &r, 1);
	qt_check_range(&c, &m, B, B + 128 * QT_PAGE);
	r = qt_unmap(B, 8 * QT_PAGE);
	run_ok(q, &m, &r, 1);
	r = qt_unmap(B + 20 * QT_PAGE, 30 * QT_PAGE);
	run_ok(q, &m, &r, 1);
	qt_check_range(&c, &m, B, B + 128 * QT_PAGE);
	/* Sparse over backed memory. */
	r = qt_map(B + 8 * QT_PAGE, 100 * QT_PAGE, NULL, 0);
	run_ok(q, &m, &r, 1);
	qt_check_range(&c, &m, B, B + 128 * QT_PAGE);
	gpuvm_bind_queue_flush(q);
	assert_false(obj_has_vm_bo(&bo.gem));

	gpuvm_bind_queue_destroy(q, GPUVM_BIND_QUEUE_DRAIN);
	qt_ctx_fini(&c);
	put_bo(&bo);
	qt_model_fini(&m);
}

static void test_attributes_and_chunks(void **state)
{
	struct qt_model m = { 0 };
	struct gpuvm_bind_queue *q;
	struct gpuvm_bind_req r;
	struct qt_bo bo, sc;
	struct qt_ctx c;

	(void)state;
	qt_ctx_init(&c, false);
	q = queue_new(&c, "attr");
	qt_bo_init(&bo, 4 * MiB, UINT64_C(0x80000000), 0);
	/* Scattered: 64 KiB pieces in reverse physical order. */
	qt_bo_init(&sc, 2 * MiB, UINT64_C(0x90000000), 0x10000);
	r = qt_map(B, 2 * MiB, &bo, 0);
	r.flags = GPUVM_BIND_READ_ONLY | GPUVM_BIND_NO_EXEC;
	run_ok(q, &m, &r, 1);
	qt_check_range(&c, &m, B, B + 4 * MiB);
	/* The pieces of a split keep their attributes. */
	r = qt_map(B + 0x33000, 0x51000, &sc, 0x7000);
	r.flags = GPUVM_BIND_UNCACHED;
	run_ok(q, &m, &r, 1);
	qt_check_range(&c, &m, B, B + 4 * MiB);
	r = qt_map(B + MiB, MiB, NULL, 0);
	r.flags |= GPUVM_BIND_READ_ONLY;
	run_ok(q, &m, &r, 1);
	qt_check_range(&c, &m, B, B + 4 * MiB);

	gpuvm_bind_queue_destroy(q, GPUVM_BIND_QUEUE_DRAIN);
	qt_ctx_fini(&c);
	put_bo(&bo);
	put_bo(&sc);
	qt_model_fini(&m);
}

/* ------------------------------------------------------------------ */
/* Validation.                                                          */

static void test_einval(void **state)
{
	struct gpuvm_fence *sentinel = (struct gpuvm_fence *)(uintptr_t)1;
	struct gpuvm_fence *f, *nullf = NULL;
	struct gpuvm_bind_queue *q;
	struct gpuvm_bind_stats st;
	struct gpuvm_bind_req bad[24], two[2];
	uint64_t live;
	unsigned int n = 0;
	struct qt_ctx c;
	struct qt_bo bo;

	(void)state;
	qt_ctx_init(&c, false);
	q = queue_new(&c, "einval");
	qt_bo_init(&bo, MiB, UINT64_C(0x80000000), 0);

	bad[n] = qt_map(B, QT_PAGE, &bo, 0);
	bad[n++].op = 0;
	bad[n] = qt_map(B, QT_PAGE, &bo, 0);
	bad[n++].op = 7;
	bad[n++] = qt_map(B, 0, &bo, 0);
	bad[n++] = qt_map(B + 1, QT_PAGE, &bo, 0);
	bad[n++] = qt_map(B, QT_PAGE + 1, &bo, 0);
	bad[n++] = qt_unmap(UINT64_MAX - QT_PAGE + 1, 2 * QT_PAGE);
	bad[n++] = qt_map(0, QT_PAGE, &bo, 0);
	bad[n++] = qt_map(QT_VM_START + QT_VM_RANGE - QT_PAGE, 2 * QT_PAGE, &bo,
			  0);
	bad[n++] = qt_unmap(QT_VM_START + QT_VM_RANGE, QT_PAGE);
	/* Touching the reserved cut-out. */
	bad[n++] = qt_map(QT_RES_START + QT_RES_RANGE - QT_PAGE, 2 * QT_PAGE,
			  &bo, 0);
	bad[n++] = qt_unmap(QT_RES_START, QT_PAGE);
	/* Map without object, sparse with object or offset. */
	bad[n] = qt_map(B, QT_PAGE, &bo, 0);
	bad[n++].obj = NULL;
	bad[n] = qt_map(B, QT_PAGE, &bo, 0);
	bad[n++].flags = GPUVM_BIND_SPARSE;
	bad[n] = qt_map(B, QT_PAGE, NULL, 0);
	bad[n++].offset = QT_PAGE;
	/* Beyond the object. */
	bad[n++] = qt_map(B, MiB + QT_PAGE, &bo, 0);
	bad[n++] = qt_map(B, QT_PAGE, &bo, MiB);
	bad[n++] = qt_map(B, 2 * QT_PAGE, &bo, MiB - QT_PAGE);
	bad[n++] = qt_map(B, QT_PAGE, &bo, UINT64_MAX - QT_PAGE + 1);
	bad[n++] = qt_map(B, QT_PAGE, &bo, 0x800);
	bad[n] = qt_map(B, QT_PAGE, &bo, 0);
	bad[n++].flags = 1u << 20;
	/* Unmap with object, flags or offset. */
	bad[n] = qt_unmap(B, QT_PAGE);
	bad[n++].obj = &bo.gem;
	bad[n] = qt_unmap(B, QT_PAGE);
	bad[n++].flags = GPUVM_BIND_READ_ONLY;
	bad[n] = qt_unmap(B, QT_PAGE);
	bad[n++].offset = QT_PAGE;
	assert_true(n <= 24);

	live = tu_live_allocs();
	for (unsigned int i = 0; i < n; i++) {
		f = sentinel;
		assert_int_equal(gpuvm_bind_submit(q, &bad[i], 1, NULL, 0, &f),
				 -EINVAL);
		assert_ptr_equal(f, sentinel);
		/* A good request with a bad one: nothing either. */
		two[0] = qt_map(B, QT_PAGE, &bo, 0);
		two[1] = bad[i];
		assert_int_equal(gpuvm_bind_submit(q, two, 2, NULL, 0, &f),
				 -EINVAL);
		assert_ptr_equal(f, sentinel);
	}
	two[0] = qt_map(B, QT_PAGE, &bo, 0);
	assert_int_equal(gpuvm_bind_submit(q, NULL, 1, NULL, 0, &f), -EINVAL);
	assert_int_equal(gpuvm_bind_submit(q, two, 1, NULL, 1, &f), -EINVAL);
	assert_int_equal(gpuvm_bind_submit(q, two, 1, &nullf, 1, &f), -EINVAL);
	assert_int_equal(gpuvm_bind_submit(NULL, two, 1, NULL, 0, &f), -EINVAL);
	assert_ptr_equal(f, sentinel);
	assert_int_equal(tu_live_allocs(), live);
	assert_int_equal(gpuvm_kref_read(&bo.gem.refcount), 1);
	assert_false(obj_has_vm_bo(&bo.gem));
	gpuvm_bind_queue_flush(q);
	gpuvm_bind_queue_get_stats(q, &st);
	assert_int_equal(st.jobs_submitted, 0);
	assert_int_equal(tu_count_va(c.vm), 0);

	gpuvm_bind_queue_destroy(q, GPUVM_BIND_QUEUE_DRAIN);
	qt_ctx_fini(&c);
	put_bo(&bo);
}

static void stack_vm_free(struct gpuvm *vm)
{
	(void)vm;
}

/* A backend without stashes: only gpuvm_pt_init()'s required members. */
static size_t nostash_cost(const struct gpuvm_pt *pt, uint64_t addr,
			   uint64_t range, unsigned int kind)
{
	(void)pt;
	(void)addr;
	(void)range;
	(void)kind;
	return 0;
}

static int nostash_reserve(struct gpuvm_pt *pt, uint64_t addr, uint64_t range,
			   unsigned int kind, struct gpuvm_pt_resv *resv)
{
	(void)pt;
	(void)addr;
	(void)range;
	(void)kind;
	(void)resv;
	return 0;
}

static int nostash_map(struct gpuvm_pt *pt, uint64_t addr, uint64_t range,
		       uint64_t pa, unsigned int flags,
		       struct gpuvm_pt_resv *resv)
{
	(void)pt;
	(void)addr;
	(void)range;
	(void)pa;
	(void)flags;
	(void)resv;
	return 0;
}

static int nostash_unmap(struct gpuvm_pt *pt, uint64_t addr, uint64_t range,
			 unsigned int flags, struct gpuvm_pt_resv *resv)
{
	(void)pt;
	(void)addr;
	(void)range;
	(void)flags;
	(void)resv;
	return 0;
}

static void nostash_release(struct gpuvm_pt *pt, struct gpuvm_pt_resv *resv)
{
	(void)pt;
	(void)resv;
}

static void nostash_pt(struct gpuvm_pt *pt)
{
	(void)pt;
}

static int nostash_translate(const struct gpuvm_pt *pt, uint64_t va,
			     uint64_t *pa, uint64_t *page_size,
			     unsigned int *flags)
{
	(void)pt;
	(void)va;
	(void)pa;
	(void)page_size;
	(void)flags;
	return -EFAULT;
}

static void nostash_stats(const struct gpuvm_pt *pt,
			  struct gpuvm_pt_stats *stats)
{
	(void)pt;
	(void)stats;
}

static const struct gpuvm_pt_ops nostash_ops = {
	.reserve_cost = nostash_cost,
	.reserve = nostash_reserve,
	.map = nostash_map,
	.unmap = nostash_unmap,
	.release = nostash_release,
	.trim = nostash_pt,
	.translate = nostash_translate,
	.get_stats = nostash_stats,
	.destroy = nostash_pt,
};

static void test_create_einval(void **state)
{
	static const struct gpuvm_ops steps = {
		.vm_free = stack_vm_free,
		GPUVM_BIND_SM_STEPS,
	};
	static const struct gpuvm_ops plain = { .vm_free = stack_vm_free };
	struct gpuvm_bind_vm *bvm = NULL;
	struct gpuvm_bind_queue *q = NULL;
	struct gpuvm_bind_vm_ops no_pa = { 0 };
	struct gpuvm staged, nosteps;
	struct gpuvm_pt *small;
	struct qt_ctx c;

	(void)state;
	qt_ctx_init(&c, false);
	assert_int_equal(gpuvm_bind_vm_create(NULL, NULL, NULL, NULL, &bvm),
			 -EINVAL);
	assert_int_equal(gpuvm_bind_vm_create(c.vm, NULL, NULL, NULL, NULL),
			 -EINVAL);
	/* Staged mode. */
	memset(&staged, 0, sizeof(staged));
	assert_int_equal(gpuvm_init(&staged, "staged", 0, NULL, QT_VM_START,
				    QT_VM_RANGE, 0, 0, &steps),
			 0);
	assert_int_equal(gpuvm_bind_vm_create(&staged, NULL, NULL, NULL, &bvm),
			 -EINVAL);
	/* No step callbacks. */
	memset(&nosteps, 0, sizeof(nosteps));
	assert_int_equal(gpuvm_init(&nosteps, "nosteps", GPUVM_IMMEDIATE_MODE,
				    NULL, QT_VM_START, QT_VM_RANGE, 0, 0,
				    &plain),
			 0);
	assert_int_equal(gpuvm_bind_vm_create(&nosteps, NULL, NULL, NULL, &bvm),
			 -EINVAL);
	/* A page table without gem_pa, or too small for the VM. */
	assert_int_equal(gpuvm_bind_vm_create(c.vm, c.pt, NULL, NULL, &bvm),
			 -EINVAL);
	assert_int_equal(gpuvm_bind_vm_create(c.vm, c.pt, &no_pa, NULL, &bvm),
			 -EINVAL);
	assert_int_equal(gpuvm_pt_sw_create(GPUVM_PT_VA_BITS_MIN, 0, &small),
			 0);
	assert_int_equal(
		gpuvm_bind_vm_create(c.vm, small, &qt_bind_ops, NULL, &bvm),
		-EINVAL);
	/* A backend that cannot reserve in two phases. */
	{
		struct gpuvm_pt nostash;

		assert_int_equal(gpuvm_pt_init(&nostash, &nostash_ops, 48), 0);
		assert_int_equal(gpuvm_bind_vm_create(c.vm, &nostash,
						      &qt_bind_ops, NULL, &bvm),
				 -EOPNOTSUPP);
	}
	/* A VM that holds mappings already. */
	{
		struct gpuva va = { .va.addr = B, .va.range = QT_PAGE };

		assert_int_equal(gpuva_insert(&staged, &va), 0);
		staged.flags |= GPUVM_IMMEDIATE_MODE;
		assert_int_equal(
			gpuvm_bind_vm_create(&staged, NULL, NULL, NULL, &bvm),
			-EINVAL);
		staged.flags &= ~(uint32_t)GPUVM_IMMEDIATE_MODE;
		gpuva_remove(&va);
	}
	assert_null(bvm);
	assert_int_equal(gpuvm_bind_queue_create(NULL, "x", &q), -EINVAL);
	assert_int_equal(gpuvm_bind_queue_create(c.bvm, "x", NULL), -EINVAL);
	assert_null(q);

	/* A live queue keeps the context. */
	q = queue_new(&c, NULL);
	assert_int_equal(gpuvm_bind_vm_destroy(c.bvm), -EBUSY);
	gpuvm_bind_queue_destroy(q, GPUVM_BIND_QUEUE_CANCEL);

	gpuvm_pt_destroy(small);
	gpuvm_put(&staged);
	gpuvm_put(&nosteps);
	qt_ctx_fini(&c);
}

/* ------------------------------------------------------------------ */
/* Input fences and ordering.                                           */

static void test_in_fence_wait(void **state)
{
	struct gpuvm_bind_queue *q1, *q2;
	struct gpuvm_fence *u, *f1, *f2;
	struct qt_model m = { 0 };
	struct gpuvm_bind_req r1, r2;
	struct qt_bo bo;
	struct qt_ctx c;

	(void)state;
	qt_ctx_init(&c, false);
	q1 = queue_new(&c, "q1");
	q2 = queue_new(&c, "q2");
	qt_bo_init(&bo, 4 * MiB, UINT64_C(0x80000000), 0);
	u = qt_fence_new();
	r1 = qt_map(B, 16 * QT_PAGE, &bo, 0);
	r2 = qt_map(B + MiB, 16 * QT_PAGE, &bo, MiB);
	f1 = submit(q1, &r1, 1, &u, 1);
	f2 = submit(q2, &r2, 1, NULL, 0);
	/* q2 runs; q1 waits for the fence. */
	assert_int_equal(gpuvm_bind_wait(f2, GPUVM_WAIT_FOREVER), 0);
	qt_model_apply(&m, &r2);
	assert_false(gpuvm_fence_is_signaled(f1));
	qt_check_range(&c, &m, B, B + 2 * MiB);
	/* A later job of q1 waits behind the blocked one. */
	gpuvm_fence_put(f2);
	f2 = submit(q1, &r2, 1, NULL, 0);
	assert_int_equal(gpuvm_bind_wait(f2, 0), -ETIME);
	assert_false(gpuvm_fence_is_signaled(f2));

	assert_int_equal(gpuvm_fence_signal(u), 0);
	assert_int_equal(gpuvm_bind_wait(f1, GPUVM_WAIT_FOREVER), 0);
	assert_int_equal(gpuvm_bind_wait(f2, GPUVM_WAIT_FOREVER), 0);
	qt_model_apply(&m, &r1);
	qt_model_apply(&m, &r2);
	qt_check_range(&c, &m, B, B + 2 * MiB);

	gpuvm_fence_put(f1);
	gpuvm_fence_put(f2);
	gpuvm_fence_put(u);
	gpuvm_bind_queue_destroy(q1, GPUVM_BIND_QUEUE_DRAIN);
	gpuvm_bind_queue_destroy(q2, GPUVM_BIND_QUEUE_DRAIN);
	qt_ctx_fini(&c);
	put_bo(&bo);
	qt_model_fini(&m);
}

static void test_in_fence_error(void **state)
{
	struct gpuvm_fence *u1, *u2, *ok, *f1, *f2, *f3, *f4;
	struct gpuvm_fence *in[2];
	struct qt_model m = { 0 };
	struct gpuvm_bind_queue *q;
	struct gpuvm_bind_stats st;
	struct gpuvm_bind_req r;
	struct qt_bo bo;
	struct qt_ctx c;

	(void)state;
	qt_ctx_init(&c, false);
	q = queue_new(&c, "err");
	qt_bo_init(&bo, 4 * MiB, UINT64_C(0x80000000), 0);
	u1 = qt_fence_new();
	u2 = qt_fence_new();
	ok = qt_fence_new();
	/* Failed before submit. */
	assert_int_equal(gpuvm_fence_signal_error(u1, -EIO), 0);
	r = qt_map(B, 16 * QT_PAGE, &bo, 0);
	f1 = submit(q, &r, 1, &u1, 1);
	/* Fails while the job waits; the first failing input counts. */
	in[0] = ok;
	in[1] = u2;
	f2 = submit(q, &r, 1, in, 2);
	/* A job waiting on a failed job fails with the same error. */
	f3 = submit(q, &r, 1, &f1, 1);
	assert_int_equal(gpuvm_fence_signal(ok), 0);
	assert_int_equal(gpuvm_fence_signal_error(u2, -ENOLINK), 0);
	assert_int_equal(gpuvm_bind_wait(f1, GPUVM_WAIT_FOREVER), -EIO);
	assert_int_equal(gpuvm_bind_wait(f2, GPUVM_WAIT_FOREVER), -ENOLINK);
	assert_int_equal(gpuvm_bind_wait(f3, GPUVM_WAIT_FOREVER), -EIO);
	qt_check_range(&c, &m, B, B + MiB);
	/* The queue goes on. */
	f4 = submit(q, &r, 1, NULL, 0);
	assert_int_equal(gpuvm_bind_wait(f4, GPUVM_WAIT_FOREVER), 0);
	qt_model_apply(&m, &r);
	qt_check_range(&c, &m, B, B + MiB);
	gpuvm_bind_queue_flush(q);
	gpuvm_bind_queue_get_stats(q, &st);
	assert_int_equal(st.jobs_failed, 3);
	assert_int_equal(st.jobs_done, 1);
	assert_int_equal(st.ops, 1);

	gpuvm_fence_put(f1);
	gpuvm_fence_put(f2);
	gpuvm_fence_put(f3);
	gpuvm_fence_put(f4);
	gpuvm_fence_put(u1);
	gpuvm_fence_put(u2);
	gpuvm_fence_put(ok);
	gpuvm_bind_queue_destroy(q, GPUVM_BIND_QUEUE_DRAIN);
	qt_ctx_fini(&c);
	put_bo(&bo);
	qt_model_fini(&m);
}

#define NR_ORDER 24

struct order_rec {
	struct gpuvm_fence_cb cb;
	unsigned int idx;
	unsigned int *log;
	atomic_uint *pos;
};

static void order_cb(struct gpuvm_fence *fence, struct gpuvm_fence_cb *cb)
{
	struct order_rec *o = gpuvm_container_of(cb, struct order_rec, cb);

	(void)fence;
	o->log[atomic_fetch_add(o->pos, 1)] = o->idx;
}

static void test_order(void **state)
{
	struct gpuvm_fence *f[NR_ORDER], *u;
	struct order_rec rec[NR_ORDER];
	unsigned int log[NR_ORDER];
	atomic_uint pos;
	struct qt_model m = { 0 };
	struct gpuvm_bind_queue *q;
	struct gpuvm_bind_req r;
	struct qt_bo bo[3];
	struct qt_ctx c;

	(void)state;
	atomic_init(&pos, 0);
	qt_ctx_init(&c, false);
	q = queue_new(&c, "order");
	for (int i = 0; i < 3; i++)
		qt_bo_init(&bo[i], 4 * MiB,
			   UINT64_C(0x100000000) * (uint64_t)(i + 1), 0);
	/* Hold the first job back so that all of them queue up. */
	u = qt_fence_new();
	for (unsigned int i = 0; i < NR_ORDER; i++) {
		uint64_t a = B + (i % 5) * 4 * QT_PAGE;

		if (i % 4 == 3)
			r = qt_unmap(a, 8 * QT_PAGE);
		else
			r = qt_map(a, (2 + i % 7) * QT_PAGE, &bo[i % 3],
				   i * QT_PAGE);
		f[i] = submit(q, &r, 1, i ? NULL : &u, i ? 0 : 1);
		qt_model_apply(&m, &r);
		assert_int_equal(f[i]->seqno, i + 1);
		assert_int_equal(f[i]->context, f[0]->context);
		rec[i].idx = i;
		rec[i].log = log;
		rec[i].pos = &pos;
		assert_int_equal(
			gpuvm_fence_add_callback(f[i], &rec[i].cb, order_cb),
			0);
	}
	assert_int_equal(gpuvm_fence_signal(u), 0);
	assert_int_equal(gpuvm_bind_wait(f[NR_ORDER - 1], GPUVM_WAIT_FOREVER),
			 0);
	gpuvm_bind_queue_flush(q);
	assert_int_equal(atomic_load(&pos), NR_ORDER);
	for (unsigned int i = 0; i < NR_ORDER; i++) {
		assert_int_equal(log[i], i);
		assert_int_equal(gpuvm_fence_get_status(f[i]), 1);
		if (i)
			assert_true(gpuvm_fence_is_later(f[i], f[i - 1]));
	}
	for (unsigned int i = 0; i < NR_ORDER; i++)
		gpuvm_fence_put(f[i]);
	qt_check_range(&c, &m, B, B + MiB);

	gpuvm_fence_put(u);
	gpuvm_bind_queue_destroy(q, GPUVM_BIND_QUEUE_DRAIN);
	qt_ctx_fini(&c);
	for (int i = 0; i < 3; i++)
		put_bo(&bo[i]);
	qt_model_fini(&m);
}

static void test_cross_queue_chain(void **state)
{
	struct gpuvm_bind_queue *q[3];
	struct gpuvm_fence *u, *f[3];
	struct qt_model m = { 0 };
	struct gpuvm_bind_req r[3];
	struct qt_bo bo[3];
	struct qt_ctx c;

	(void)state;
	qt_ctx_init(&c, false);
	for (int i = 0; i < 3; i++) {
		q[i] = queue_new(&c, "chain");
		qt_bo_init(&bo[i], 4 * MiB,
			   UINT64_C(0x100000000) * (uint64_t)(i + 1), 0);
	}
	u = qt_fence_new();
	/* Submitted last-first would deadlock nothing: each waits on the one
	 * before through its fence, whatever queue it is on. */
	r[0] = qt_map(B, 32 * QT_PAGE, &bo[0], 0);
	r[1] = qt_map(B + 8 * QT_PAGE, 8 * QT_PAGE, &bo[1], 0);
	r[2] = qt_unmap(B + 4 * QT_PAGE, 8 * QT_PAGE);
	f[0] = submit(q[0], &r[0], 1, &u, 1);
	f[1] = submit(q[1], &r[1], 1, &f[0], 1);
	f[2] = submit(q[2], &r[2], 1, &f[1], 1);
	assert_false(gpuvm_fence_is_signaled(f[2]));
	assert_int_equal(gpuvm_fence_signal(u), 0);
	assert_int_equal(gpuvm_bind_wait(f[2], GPUVM_WAIT_FOREVER), 0);
	assert_true(gpuvm_fence_is_signaled(f[0]));
	assert_true(gpuvm_fence_is_signaled(f[1]));
	qt_model_apply_all(&m, r, 3);
	qt_check_range(&c, &m, B, B + MiB);

	for (int i = 0; i < 3; i++) {
		gpuvm_fence_put(f[i]);
		gpuvm_bind_queue_destroy(q[i], GPUVM_BIND_QUEUE_DRAIN);
	}
	gpuvm_fence_put(u);
	qt_ctx_fini(&c);
	for (int i = 0; i < 3; i++)
		put_bo(&bo[i]);
	qt_model_fini(&m);
}

static void test_empty_job(void **state)
{
	struct gpuvm_bind_queue *q;
	struct gpuvm_fence *u, *f;
	struct qt_ctx c;

	(void)state;
	qt_ctx_init(&c, false);
	q = queue_new(&c, "empty");
	u = qt_fence_new();
	f = submit(q, NULL, 0, &u, 1);
	assert_false(gpuvm_fence_is_signaled(f));
	assert_int_equal(gpuvm_fence_signal(u), 0);
	assert_int_equal(gpuvm_bind_wait(f, GPUVM_WAIT_FOREVER), 0);
	gpuvm_fence_put(f);
	assert_int_equal(gpuvm_bind_submit_wait(q, NULL, 0, NULL, 0), 0);
	gpuvm_fence_put(u);
	gpuvm_bind_queue_destroy(q, GPUVM_BIND_QUEUE_DRAIN);
	qt_ctx_fini(&c);
}

/* ------------------------------------------------------------------ */
/* Destroy with pending jobs.                                           */

static void test_destroy_cancel(void **state)
{
	struct gpuvm_fence *u, *f[5], *g;
	struct gpuvm_bind_queue *q, *q2;
	struct gpuvm_bind_stats vst;
	struct qt_model m = { 0 };
	struct gpuvm_bind_req r;
	struct qt_bo bo;
	struct qt_ctx c;

	(void)state;
	qt_ctx_init(&c, false);
	q = queue_new(&c, "cancel");
	q2 = queue_new(&c, "other");
	qt_bo_init(&bo, 4 * MiB, UINT64_C(0x80000000), 0);
	u = qt_fence_new();
	for (int i = 0; i < 5; i++) {
		r = qt_map(B + (uint64_t)i * MiB, 8 * QT_PAGE, &bo,
			   (uint64_t)i * QT_PAGE);
		f[i] = submit(q, &r, 1, i ? NULL : &u, i ? 0 : 1);
	}
	/* Another queue's job that waits on a cancelled one. */
	r = qt_map(B + 8 * MiB, 8 * QT_PAGE, &bo, 0);
	g = submit(q2, &r, 1, &f[2], 1);
	assert_int_equal(gpuvm_kref_read(&bo.gem.refcount), 1 + 5 + 1 + 1);

	gpuvm_bind_queue_destroy(q, GPUVM_BIND_QUEUE_CANCEL);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(gpuvm_fence_get_status(f[i]), -ECANCELED);
		gpuvm_fence_put(f[i]);
	}
	assert_int_equal(gpuvm_bind_wait(g, GPUVM_WAIT_FOREVER), -ECANCELED);
	gpuvm_fence_put(g);
	gpuvm_bind_queue_flush(q2);
	qt_check_range(&c, &m, B, B + 16 * MiB);
	assert_false(obj_has_vm_bo(&bo.gem));
	assert_int_equal(gpuvm_kref_read(&bo.gem.refcount), 1);
	gpuvm_bind_vm_get_stats(c.bvm, &vst);
	assert_int_equal(vst.jobs_cancelled, 5);
	assert_int_equal(vst.jobs_failed, 1);
	assert_int_equal(vst.jobs_cleaned, 6);

	/* The callback on the never-signalled fence is gone. */
	assert_int_equal(gpuvm_fence_signal(u), 0);
	gpuvm_fence_put(u);
	gpuvm_bind_queue_destroy(q2, GPUVM_BIND_QUEUE_CANCEL);
	qt_ctx_fini(&c);
	put_bo(&bo);
	qt_model_fini(&m);
}

struct late_signal {
	struct gpuvm_fence *fence;
};

static void *late_signal_thread(void *arg)
{
	struct late_signal *ls = arg;

	/* Give destroy a chance to start waiting; correctness needs none. */
	for (int i = 0; i < 100; i++)
		sched_yield();
	gpuvm_fence_signal(ls->fence);
	return NULL;
}

static void test_destroy_drain(void **state)
{
	struct gpuvm_fence *u, *f[4];
	struct gpuvm_bind_queue *q;
	struct qt_model m = { 0 };
	struct gpuvm_bind_req r;
	struct late_signal ls;
	pthread_t t;
	struct qt_bo bo;
	struct qt_ctx c;

	(void)state;
	qt_ctx_init(&c, false);
	q = queue_new(&c, "drain");
	qt_bo_init(&bo, 4 * MiB, UINT64_C(0x80000000), 0);
	u = qt_fence_new();
	for (int i = 0; i < 4; i++) {
		r = qt_map(B + (uint64_t)i * 4 * QT_PAGE, 6 * QT_PAGE, &bo,
			   (uint64_t)i * 2 * QT_PAGE);
		f[i] = submit(q, &r, 1, i ? NULL : &u, i ? 0 : 1);
		qt_model_apply(&m, &r);
	}
	ls.fence = u;
	assert_int_equal(pthread_create(&t, NULL, late_signal_thread, &ls), 0);
	gpuvm_bind_queue_destroy(q, GPUVM_BIND_QUEUE_DRAIN);
	pthread_join(t, NULL);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(gpuvm_fence_get_status(f[i]), 1);
		gpuvm_fence_put(f[i]);
	}
	qt_check_range(&c, &m, B, B + MiB);
	gpuvm_fence_put(u);
	qt_ctx_fini(&c);
	put_bo(&bo);
	qt_model_fini(&m);
}

/* ------------------------------------------------------------------ */
/* Allocation failure at every allocation of submit.                   */

struct enomem_fix {
	struct qt_ctx c;
	struct gpuvm_bind_queue *q;
	struct qt_bo b1, b2;
	struct qt_model m;
};

static void enomem_setup(struct enomem_fix *x, bool resv)
{
	struct gpuvm_bind_req r[2];

	memset(x, 0, sizeof(*x));
	qt_ctx_init(&x->c, resv);
	x->q = queue_new(&x->c, "enomem");
	qt_bo_init(&x->b1, 8 * MiB, UINT64_C(0x100000000), 0);
	qt_bo_init(&x->b2, 8 * MiB, UINT64_C(0x200000000), 0x10000);
	r[0] = qt_map(B, 32 * QT_PAGE, &x->b1, 0);
	r[1] = qt_map(B + 64 * QT_PAGE, 32 * QT_PAGE, NULL, 0);
	run_ok(x->q, &x->m, r, 2);
	gpuvm_bind_queue_flush(x->q);
}

static void enomem_teardown(struct enomem_fix *x)
{
	gpuvm_bind_queue_destroy(x->q, GPUVM_BIND_QUEUE_DRAIN);
	qt_ctx_fini(&x->c);
	put_bo(&x->b1);
	put_bo(&x->b2);
	qt_model_fini(&x->m);
}

static size_t outstanding_reservations(struct qt_ctx *c)
{
	struct gpuvm_pt_stats ps;
	size_t tree;

	gpuvm_bind_vm_lock(c->bvm);
	tree = c->vm->tree.reserved;
	gpuvm_pt_get_stats(c->pt, &ps);
	gpuvm_bind_vm_unlock(c->bvm);
	return tree + ps.tables_reserved;
}

static void enomem_loop(bool resv, bool sticky)
{
	struct enomem_fix x;
	struct gpuvm_bind_req r[5];
	struct gpuvm_fence *u;
	struct gpuvm_fence *done = NULL;
	unsigned int failures = 0;
	uint64_t nth;

	enomem_setup(&x, resv);
	u = qt_fence_new();
	assert_int_equal(gpuvm_fence_signal(u), 0);
	/* A new object, an existing one, splits at both ends, a sparse one. */
	r[0] = qt_map(B + 8 * QT_PAGE, 64 * QT_PAGE, &x.b2, 0x40000);
	r[1] = qt_unmap(B + 20 * QT_PAGE, 4 * QT_PAGE);
	r[2] = qt_map(B + 4 * MiB, 3 * MiB, &x.b1, 0);
	r[3] = qt_unmap(B + 90 * QT_PAGE, 2 * QT_PAGE);
	r[4] = qt_map(B + 16 * MiB, 2 * MiB, NULL, 0);

	for (nth = 1;; nth++) {
		struct gpuvm_bind_stats st;
		struct gpuvm_fence *f = NULL;
		uint64_t live = tu_live_allocs();
		unsigned int ref1 = gpuvm_kref_read(&x.b1.gem.refcount);
		unsigned int uref = gpuvm_kref_read(&u->refcount);
		int ret;

		gpuvm_alloc_fail_nth(nth, sticky);
		ret = gpuvm_bind_submit(x.q, r, 5, &u, 1, &f);
		if (ret == 0) {
			gpuvm_alloc_fail_nth(0, false);
			done = f;
			break;
		}
		assert_int_equal(ret, -ENOMEM);
		assert_false(gpuvm_alloc_fail_pending());
		gpuvm_alloc_fail_nth(0, false);
		failures++;
		assert_null(f);
		/* Nothing changed, nothing kept. */
		assert_true(tu_live_allocs() <= live);
		assert_int_equal(gpuvm_kref_read(&x.b1.gem.refcount), ref1);
		assert_int_equal(gpuvm_kref_read(&x.b2.gem.refcount), 1);
		assert_false(obj_has_vm_bo(&x.b2.gem));
		assert_int_equal(gpuvm_kref_read(&u->refcount), uref);
		assert_int_equal(atomic_load(&x.c.vm->nr_zombies), 0);
		assert_int_equal(outstanding_reservations(&x.c), 0);
		gpuvm_bind_queue_flush(x.q);
		gpuvm_bind_queue_get_stats(x.q, &st);
		assert_int_equal(st.jobs_submitted, 1);
		qt_check_range(&x.c, &x.m, B, B + 20 * MiB);
	}
	/* Every allocation of the job failed once: one per N before success. */
	assert_true(failures >= 10);
	assert_int_equal(gpuvm_bind_wait(done, GPUVM_WAIT_FOREVER), 0);
	gpuvm_fence_put(done);
	gpuvm_bind_queue_flush(x.q);
	qt_model_apply_all(&x.m, r, 5);
	qt_check_range(&x.c, &x.m, B, B + 20 * MiB);
	assert_int_equal(outstanding_reservations(&x.c), 0);
	gpuvm_fence_put(u);
	enomem_teardown(&x);
}

static void test_enomem_submit(void **state)
{
	(void)state;
	enomem_loop(false, false);
}

static void test_enomem_submit_sticky(void **state)
{
	(void)state;
	enomem_loop(false, true);
}

static void test_enomem_submit_resv(void **state)
{
	(void)state;
	enomem_loop(true, false);
}

static void test_enomem_create(void **state)
{
	struct gpuvm_bind_va_info *snap;
	struct gpuvm_bind_queue *q = NULL;
	struct gpuvm_bind_vm *bvm = NULL;
	struct gpuvm_bind_req r;
	struct qt_bo bo;
	struct qt_ctx c;
	size_t n;
	int ret;

	(void)state;
	qt_ctx_init(&c, false);
	assert_int_equal(gpuvm_bind_vm_destroy(c.bvm), 0);
	for (uint64_t nth = 1;; nth++) {
		gpuvm_alloc_fail_nth(nth, false);
		ret = gpuvm_bind_vm_create(c.vm, c.pt, &qt_bind_ops, NULL,
					   &bvm);
		gpuvm_alloc_fail_nth(0, false);
		if (!ret)
			break;
		assert_int_equal(ret, -ENOMEM);
		assert_int_equal(gpuvm_kref_read(&c.vm->kref), 1);
	}
	c.bvm = bvm;
	for (uint64_t nth = 1;; nth++) {
		gpuvm_alloc_fail_nth(nth, false);
		ret = gpuvm_bind_queue_create(c.bvm, "q", &q);
		gpuvm_alloc_fail_nth(0, false);
		if (!ret)
			break;
		assert_int_equal(ret, -ENOMEM);
	}
	qt_bo_init(&bo, MiB, UINT64_C(0x80000000), 0);
	r = qt_map(B, 16 * QT_PAGE, &bo, 0);
	assert_int_equal(gpuvm_bind_submit_wait(q, &r, 1, NULL, 0), 0);
	for (uint64_t nth = 1;; nth++) {
		gpuvm_alloc_fail_nth(nth, false);
		ret = gpuvm_bind_vm_snapshot(c.bvm, 0, 0, &snap, &n);
		gpuvm_alloc_fail_nth(0, false);
		if (!ret)
			break;
		assert_int_equal(ret, -ENOMEM);
	}
	assert_int_equal(n, 1);
	assert_int_equal(snap[0].addr, B);
	gpuvm_bind_snapshot_free(snap);
	gpuvm_bind_queue_destroy(q, GPUVM_BIND_QUEUE_DRAIN);
	qt_ctx_fini(&c);
	put_bo(&bo);
}

/* ------------------------------------------------------------------ */
/* Resv-protected VMs, external and private objects.                  */

static bool on_extobj(struct qt_ctx *c, struct gpuvm_gem *obj)
{
	struct gpuvm_resv *resv = gpuvm_vm_resv(c->vm);
	struct gpuvm_bo *vm_bo;
	bool found = false;

	assert_int_equal(gpuvm_resv_lock(resv, NULL), 0);
	gpuvm_list_for_each_entry(vm_bo, &c->vm->extobj.list, struct gpuvm_bo,
				  list.entry.extobj) {
		if (vm_bo->obj == obj && !gpuvm_bo_is_zombie(vm_bo))
			found = true;
	}
	gpuvm_resv_unlock(resv);
	return found;
}

static void test_resv_protected(void **state)
{
	struct qt_model m = { 0 };
	struct gpuvm_bind_queue *q;
	struct gpuvm_bind_req r[2];
	struct qt_bo ext, priv;
	struct qt_ctx c;

	(void)state;
	qt_ctx_init(&c, true);
	q = queue_new(&c, "resv");
	qt_bo_init(&ext, 4 * MiB, UINT64_C(0x100000000), 0);
	qt_bo_init_shared(&priv, 4 * MiB, UINT64_C(0x200000000), c.r_obj);
	r[0] = qt_map(B, 16 * QT_PAGE, &ext, 0);
	r[1] = qt_map(B + 16 * QT_PAGE, 16 * QT_PAGE, &priv, 0);
	run_ok(q, &m, r, 2);
	assert_true(on_extobj(&c, &ext.gem));
	assert_false(on_extobj(&c, &priv.gem));
	qt_check_range(&c, &m, B, B + MiB);
	r[0] = qt_unmap(B, 32 * QT_PAGE);
	run_ok(q, &m, r, 1);
	gpuvm_bind_queue_flush(q);
	assert_false(on_extobj(&c, &ext.gem));
	assert_true(gpuvm_list_empty(&c.vm->extobj.list));
	assert_false(obj_has_vm_bo(&ext.gem));
	assert_false(obj_has_vm_bo(&priv.gem));
	qt_check_range(&c, &m, B, B + MiB);
	gpuvm_bind_queue_destroy(q, GPUVM_BIND_QUEUE_DRAIN);
	put_bo(&priv);
	qt_ctx_fini(&c);
	put_bo(&ext);
	qt_model_fini(&m);
}

/* ------------------------------------------------------------------ */
/* The read side and the rest of the API.                              */

static int count_cb(const struct gpuvm_bind_va_info *info, void *data)
{
	unsigned int *n = data;

	(void)info;
	return ++*n == 3 ? 42 : 0;
}

static void test_read_side(void **state)
{
	struct gpuvm_bind_va_info *snap;
	struct gpuvm_bind_queue *q;
	struct gpuvm_bind_req r[4];
	uint64_t samples[8], pa, size;
	unsigned int n = 0, flags;
	char msg[128];
	struct qt_bo bo;
	struct qt_ctx c;
	size_t cnt;

	(void)state;
	qt_ctx_init(&c, false);
	q = queue_new(&c, "read");
	assert_ptr_equal(gpuvm_bind_queue_vm(q), c.bvm);
	assert_ptr_equal(gpuvm_bind_vm_gpuvm(c.bvm), c.vm);
	assert_ptr_equal(gpuvm_bind_vm_pt(c.bvm), c.pt);
	assert_int_equal(gpuvm_bind_vm_snapshot(c.bvm, 0, 0, &snap, &cnt), 0);
	assert_null(snap);
	assert_int_equal(cnt, 0);
	qt_bo_init(&bo, 4 * MiB, UINT64_C(0x80000000), 0);
	for (int i = 0; i < 4; i++)
		r[i] = qt_map(B + (uint64_t)i * MiB, QT_PAGE, &bo,
			      (uint64_t)i * QT_PAGE);
	r[3].flags = GPUVM_BIND_READ_ONLY;
	assert_int_equal(gpuvm_bind_submit_wait(q, r, 4, NULL, 0), 0);

	assert_int_equal(gpuvm_bind_vm_for_each_va(c.bvm, 0, 0, count_cb, &n),
			 42);
	n = 0;
	assert_int_equal(gpuvm_bind_vm_for_each_va(c.bvm, B + MiB, 2 * MiB,
						   count_cb, &n),
			 0);
	assert_int_equal(n, 2);
	assert_int_equal(
		gpuvm_bind_vm_snapshot(c.bvm, B + 2 * MiB, 0, &snap, &cnt), 0);
	assert_int_equal(cnt, 2);
	assert_int_equal(snap[1].addr, B + 3 * MiB);
	assert_int_equal(snap[1].offset, 3 * QT_PAGE);
	assert_int_equal(snap[1].flags, GPUVM_BIND_READ_ONLY);
	assert_ptr_equal(snap[1].obj, &bo.gem);
	gpuvm_bind_snapshot_free(snap);
	gpuvm_bind_snapshot_free(NULL);

	assert_int_equal(gpuvm_bind_vm_translate(c.bvm, B + 3 * MiB + 5, &pa,
						 &size, &flags),
			 0);
	assert_int_equal(pa, UINT64_C(0x80000000) + 3 * QT_PAGE + 5);
	assert_int_equal(size, QT_PAGE);
	assert_int_equal(flags, GPUVM_PT_READ_ONLY);
	assert_int_equal(
		gpuvm_bind_vm_translate(c.bvm, B + QT_PAGE, &pa, NULL, NULL),
		-EFAULT);
	assert_int_equal(
		gpuvm_bind_vm_verify(c.bvm, B, 4 * MiB, msg, sizeof(msg)), 0);
	assert_int_equal(
		gpuvm_bind_vm_verify(c.bvm, B + 1, 4 * MiB, msg, sizeof(msg)),
		-EINVAL);
	/*
	 * Tamper with the page table: verify notices. The queue is idle, so
	 * the one-shot forms (which may allocate) run without the tree lock.
	 */
	gpuvm_bind_queue_flush(q);
	assert_int_equal(gpuvm_pt_unmap(c.pt, B + MiB, QT_PAGE, 0, NULL), 0);
	assert_int_equal(
		gpuvm_bind_vm_verify(c.bvm, B, 4 * MiB, msg, sizeof(msg)),
		-EUCLEAN);
	assert_non_null(strstr(msg, "faults"));
	/* Put it back as the tree says: verify agrees again. */
	assert_int_equal(gpuvm_pt_map(c.pt, B + MiB, QT_PAGE,
				      UINT64_C(0x80000000) + QT_PAGE, 0, NULL),
			 0);
	assert_int_equal(
		gpuvm_bind_vm_verify(c.bvm, B, 4 * MiB, msg, sizeof(msg)), 0);

	gpuvm_bind_queue_flush(q);
	assert_int_equal(gpuvm_bind_queue_latency_samples(q, samples, 8), 1);
	gpuvm_bind_queue_destroy(q, GPUVM_BIND_QUEUE_DRAIN);
	qt_ctx_fini(&c);
	put_bo(&bo);
}

static void test_no_page_table(void **state)
{
	struct qt_vm *v = calloc(1, sizeof(*v));
	struct gpuvm_bind_va_info *snap;
	struct gpuvm_bind_queue *q;
	struct gpuvm_bind_vm *bvm;
	struct gpuvm_bind_req r;
	struct qt_bo bo;
	size_t n;

	(void)state;
	assert_non_null(v);
	assert_int_equal(gpuvm_init(&v->vm, "nopt", GPUVM_IMMEDIATE_MODE, NULL,
				    0, UINT64_C(1) << 40, 0, 0, &qt_vm_ops),
			 0);
	assert_int_equal(gpuvm_bind_vm_create(&v->vm, NULL, NULL, NULL, &bvm),
			 0);
	assert_int_equal(gpuvm_bind_queue_create(bvm, "nopt", &q), 0);
	qt_bo_init(&bo, 0x10000, 0, 0);
	/* Without page tables, nothing needs page alignment. */
	r = qt_map(0x1234, 0x777, &bo, 0x11);
	assert_int_equal(gpuvm_bind_submit_wait(q, &r, 1, NULL, 0), 0);
	r = qt_unmap(0x1300, 0x10);
	assert_int_equal(gpuvm_bind_submit_wait(q, &r, 1, NULL, 0), 0);
	assert_int_equal(gpuvm_bind_vm_snapshot(bvm, 0, 0, &snap, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(snap[1].addr, 0x1310);
	assert_int_equal(snap[1].offset, 0x11 + 0x1310 - 0x1234);
	gpuvm_bind_snapshot_free(snap);
	assert_int_equal(gpuvm_bind_vm_translate(bvm, 0x1234, NULL, NULL, NULL),
			 -ENODEV);
	assert_int_equal(gpuvm_bind_vm_verify(bvm, 0, 0x10000, NULL, 0), 0);
	gpuvm_bind_queue_destroy(q, GPUVM_BIND_QUEUE_DRAIN);
	assert_int_equal(gpuvm_bind_vm_destroy(bvm), 0);
	gpuvm_put(&v->vm);
	put_bo(&bo);
}

static void test_step_outside_run(void **state)
{
	struct gpuvm_map_req req = {
		.map.va.addr = B,
		.map.va.range = QT_PAGE,
	};
	int junk = 0;
	struct qt_ctx c;

	(void)state;
	qt_ctx_init(&c, false);
	tu_expect_warnings(1);
	gpuvm_bind_vm_lock(c.bvm);
	assert_int_equal(gpuvm_sm_map(c.vm, &junk, &req), -EINVAL);
	gpuvm_bind_vm_unlock(c.bvm);
	assert_int_equal(tu_count_va(c.vm), 0);
	qt_ctx_fini(&c);
}

/*
 * The pools: once a job has run, the same job again takes its mappings,
 * nodes and tables from the pools (only the job and its fence are
 * allocated), an idle context keeps the busy period's peak, and
 * gpuvm_bind_vm_trim() gives all of it back.
 */
static void test_pools(void **state)
{
	struct qt_model m = { 0 };
	struct gpuvm_bind_req r[2];
	struct gpuvm_bind_queue *q;
	struct gpuvm_pt_stats pst;
	struct gpuvm_fence *f;
	uint64_t live0, live1;
	struct qt_ctx c;
	struct qt_bo bo;

	(void)state;
	qt_ctx_init(&c, false);
	q = queue_new(&c, "pools");
	qt_bo_init(&bo, 4 * MiB, UINT64_C(0x80000000), 0);
	/* The object's vm_bo exists after the first job: later ones find it. */
	r[0] = qt_map(B, 16 * QT_PAGE, &bo, 0);
	r[1] = qt_unmap(B + 4 * QT_PAGE, 2 * QT_PAGE);
	live0 = tu_live_allocs();
	/*
	 * The first run leaves fewer spare mappings than the worst case (its
	 * mappings stay in the tree); the second, which replaces them, gives
	 * enough back.
	 */
	for (int i = 0; i < 2; i++) {
		assert_int_equal(gpuvm_bind_submit_wait(q, r, 2, NULL, 0), 0);
		qt_model_apply_all(&m, r, 2);
		/*
		 * The output fence signals before the cleanup: without the
		 * flush, the next submit could find the context still busy
		 * and the two jobs would share one busy period (and peak).
		 */
		gpuvm_bind_queue_flush(q);
	}
	live1 = tu_live_allocs();

	/* A warm submit allocates the job and its fence, nothing else. */
	gpuvm_alloc_fail_nth(3, true);
	f = submit(q, r, 2, NULL, 0);
	gpuvm_alloc_fail_nth(0, false);
	assert_int_equal(gpuvm_bind_wait(f, GPUVM_WAIT_FOREVER), 0);
	gpuvm_fence_put(f);
	gpuvm_bind_queue_flush(q);
	qt_model_apply_all(&m, r, 2);
	qt_check_range(&c, &m, B - MiB, B + 4 * MiB);
	/* Idle: the pools kept the peak, no more. */
	assert_int_equal(tu_live_allocs(), live1);

	/* Trimming leaves the mappings, their vm_bo and the tables in use. */
	gpuvm_bind_vm_trim(c.bvm);
	gpuvm_bind_vm_lock(c.bvm);
	assert_int_equal(c.vm->tree.nr_spare, 0);
	gpuvm_pt_get_stats(c.pt, &pst);
	gpuvm_bind_vm_unlock(c.bvm);
	assert_int_equal(pst.tables_spare, 0);
	assert_true(tu_live_allocs() < live1);
	assert_true(tu_live_allocs() > live0);
	qt_check_range(&c, &m, B - MiB, B + 4 * MiB);
	/* A cold submit fills the pools again. */
	gpuvm_alloc_fail_nth(3, true);
	assert_int_equal(gpuvm_bind_submit(q, r, 2, NULL, 0, &f), -ENOMEM);
	gpuvm_alloc_fail_nth(0, false);
	assert_int_equal(gpuvm_bind_submit_wait(q, r, 2, NULL, 0), 0);
	gpuvm_bind_queue_flush(q);
	qt_model_apply_all(&m, r, 2);
	qt_check_range(&c, &m, B - MiB, B + 4 * MiB);

	gpuvm_bind_queue_destroy(q, GPUVM_BIND_QUEUE_DRAIN);
	qt_ctx_fini(&c);
	put_bo(&bo);
	qt_model_fini(&m);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * The histogram's quantiles bound the exact ones (from the sorted samples)
 * from above, by at most 1/16, for samples spread over many octaves.
 */
static void test_hist_quantile(void **state)
{
	static const double qs[] = {
		0.0, 0.01, 0.25, 0.5, 0.9, 0.99, 0.999, 1.0
	};
	enum { N = 20000 };
	uint64_t *v = calloc(N, sizeof(*v));
	struct gpuvm_bind_hist *h = calloc(1, sizeof(*h));

	(void)state;
	assert_non_null(v);
	assert_non_null(h);
	assert_int_equal(gpuvm_bind_hist_quantile(h, 0.5), 0);
	for (unsigned int i = 0; i < N; i++) {
		/* Log-uniform up to 2^40 ns, plus small exact values. */
		unsigned int bits = (unsigned int)tu_rng_below(tu_rng(), 41);

		v[i] = tu_rng_below(tu_rng(), (UINT64_C(1) << bits) + 1);
		gpuvm_bind_hist_add(h, v[i]);
	}
	qsort(v, N, sizeof(*v), cmp_u64);
	assert_int_equal(h->count, N);
	assert_int_equal(h->min_ns, v[0]);
	assert_int_equal(h->max_ns, v[N - 1]);
	for (unsigned int i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
		uint64_t rank = (uint64_t)((double)N * qs[i]);
		uint64_t exact, got;

		if ((double)rank < (double)N * qs[i] || !rank)
			rank++;
		exact = v[rank - 1];
		got = gpuvm_bind_hist_quantile(h, qs[i]);
		assert_true(got >= exact);
		assert_true(got <= exact + exact / 16);
	}
	/* Below 16 ns every value has its own bucket. */
	memset(h, 0, sizeof(*h));
	for (uint64_t ns = 0; ns < 16; ns++)
		gpuvm_bind_hist_add(h, ns);
	assert_int_equal(gpuvm_bind_hist_quantile(h, 0.5), 7);
	/* Beyond the last octave everything shares the last bucket. */
	gpuvm_bind_hist_add(h, UINT64_MAX);
	assert_int_equal(h->bucket[GPUVM_BIND_HIST_BUCKETS - 1], 1);
	assert_int_equal(gpuvm_bind_hist_quantile(h, 1.0), UINT64_MAX);
	free(h);
	free(v);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		QT_TEST(test_map_single),
		QT_TEST(test_unmap_zombie),
		QT_TEST(test_remap_across),
		QT_TEST(test_keep),
		QT_TEST(test_sparse),
		QT_TEST(test_attributes_and_chunks),
		QT_TEST(test_einval),
		QT_TEST(test_create_einval),
		QT_TEST(test_in_fence_wait),
		QT_TEST(test_in_fence_error),
		QT_TEST(test_order),
		QT_TEST(test_cross_queue_chain),
		QT_TEST(test_empty_job),
		QT_TEST(test_destroy_cancel),
		QT_TEST(test_destroy_drain),
		QT_TEST(test_enomem_submit),
		QT_TEST(test_enomem_submit_sticky),
		QT_TEST(test_enomem_submit_resv),
		QT_TEST(test_enomem_create),
		QT_TEST(test_resv_protected),
		QT_TEST(test_read_side),
		QT_TEST(test_no_page_table),
		QT_TEST(test_step_outside_run),
		QT_TEST(test_pools),
		cmocka_unit_test(test_hist_quantile),
	};

	tu_init(argc, argv, 1, 1);
	qt_install_handler();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
