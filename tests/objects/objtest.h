/* SPDX-License-Identifier: MIT */
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
#ifndef GPUVM_TESTS_OBJECTS_OBJTEST_H
#define GPUVM_TESTS_OBJECTS_OBJTEST_H

/*
 * Scaffolding of the object-model tests: buffer objects that record when
 * they are freed, VMs with a root object and counting callbacks, and
 * helpers that read the VM's extobj/evict lists and a reservation's locks.
 * Built on testutil.h (seed, leak and warning checks).
 */

#include <pthread.h>
#include <stdatomic.h>

#include "testutil.h"

#include <gpuvm/fence.h>
#include <gpuvm/gpuvm.h>

/* ------------------------------------------------------------------ */
/* Buffer objects.                                                      */

/*
 * @frees: how many times the free callback ran (must end at 1);
 * @free_seq: the global position of that call, to check release order.
 */
struct ot_bo {
	struct gpuvm_gem gem;
	unsigned int frees;
	unsigned int free_seq;
};

static inline unsigned int *ot_free_clock(void)
{
	static unsigned int clock;

	return &clock;
}

static inline void ot_bo_free(struct gpuvm_gem *obj)
{
	struct ot_bo *bo = gpuvm_container_of(obj, struct ot_bo, gem);

	bo->frees++;
	bo->free_seq = ++*ot_free_clock();
}

static const struct gpuvm_gem_funcs ot_bo_funcs = {
	.free = ot_bo_free,
};

/* An external object: its own reservation. */
static inline void ot_bo_init(struct ot_bo *bo, uint64_t size)
{
	memset(bo, 0, sizeof(*bo));
	assert_int_equal(gpuvm_gem_init(&bo->gem, &ot_bo_funcs, size), 0);
}

/* A private object: the reservation of @owner (a VM's root object). */
static inline void ot_bo_init_priv(struct ot_bo *bo, uint64_t size,
				   struct gpuvm_gem *owner)
{
	memset(bo, 0, sizeof(*bo));
	assert_int_equal(
		gpuvm_gem_init_shared_resv(&bo->gem, &ot_bo_funcs, size, owner),
		0);
}

/* Drops what must be the last reference and checks the free ran. */
static inline void ot_bo_put_last(struct ot_bo *bo)
{
	assert_int_equal(gpuvm_kref_read(&bo->gem.refcount), 1);
	assert_int_equal(bo->frees, 0);
	gpuvm_gem_put(&bo->gem);
	assert_int_equal(bo->frees, 1);
}

static inline unsigned int ot_refs(struct gpuvm_gem *obj)
{
	return gpuvm_kref_read(&obj->refcount);
}

static inline void ot_lock(struct gpuvm_gem *obj)
{
	assert_int_equal(gpuvm_resv_lock(obj->resv, NULL), 0);
}

static inline void ot_unlock(struct gpuvm_gem *obj)
{
	gpuvm_resv_unlock(obj->resv);
}

static inline bool ot_held(struct gpuvm_gem *obj)
{
	return gpuvm_resv_is_held(obj->resv);
}

/* ------------------------------------------------------------------ */
/* VM callbacks with counters.                                          */

/*
 * Counters of the callbacks below. The deterministic tests reset them in
 * their fixture; stress tests do not use the counting vm_bo allocator.
 */
struct ot_counters {
	unsigned int vm_frees;
	unsigned int vm_bo_allocs;
	unsigned int vm_bo_frees;
	bool vm_bo_alloc_fail;
	unsigned int validates;
	/* Validation: clear the evicted state, and the error to return. */
	bool validate_clear;
	int validate_err;
	unsigned int validate_fail_at;
	struct gpuvm_bo *validated[16];
};

static inline struct ot_counters *ot_c(void)
{
	static struct ot_counters c;

	return &c;
}

static inline void ot_counters_reset(void)
{
	memset(ot_c(), 0, sizeof(*ot_c()));
	ot_c()->validate_clear = true;
}

static inline void ot_vm_free(struct gpuvm *vm)
{
	ot_c()->vm_frees++;
	free(vm);
}

static inline struct gpuvm_bo *ot_vm_bo_alloc(void)
{
	struct gpuvm_bo *vm_bo;

	if (ot_c()->vm_bo_alloc_fail)
		return NULL;
	/* Garbage on purpose: the library must clear what it gets. */
	vm_bo = malloc(sizeof(*vm_bo));
	assert_non_null(vm_bo);
	memset(vm_bo, 0xa5, sizeof(*vm_bo));
	ot_c()->vm_bo_allocs++;
	return vm_bo;
}

static inline void ot_vm_bo_free(struct gpuvm_bo *vm_bo)
{
	ot_c()->vm_bo_frees++;
	free(vm_bo);
}

static inline int ot_vm_bo_validate(struct gpuvm_bo *vm_bo,
				    struct gpuvm_exec *exec)
{
	struct ot_counters *c = ot_c();

	(void)exec;
	/* The exec holds the object's lock while it validates. */
	assert_true(ot_held(vm_bo->obj));
	if (c->validates < 16)
		c->validated[c->validates] = vm_bo;
	c->validates++;
	if (c->validate_fail_at && c->validates == c->validate_fail_at)
		return c->validate_err;
	if (c->validate_clear)
		gpuvm_bo_evict(vm_bo, false);
	return 0;
}

/* Library allocator for vm_bos, validation callback. */
static const struct gpuvm_ops ot_ops = {
	.vm_free = ot_vm_free,
	.vm_bo_validate = ot_vm_bo_validate,
};

/* Counting vm_bo allocator, validation callback. */
static const struct gpuvm_ops ot_ops_alloc = {
	.vm_free = ot_vm_free,
	.vm_bo_alloc = ot_vm_bo_alloc,
	.vm_bo_free = ot_vm_bo_free,
	.vm_bo_validate = ot_vm_bo_validate,
};

/* No validation callback. */
static const struct gpuvm_ops ot_ops_novalidate = {
	.vm_free = ot_vm_free,
};

#define OT_VM_START 0x100000ull
#define OT_VM_RANGE 0x100000000ull

/*
 * A heap VM. With @with_root, a fresh root object carries its common
 * reservation; the VM then holds the only reference to it.
 */
static inline struct gpuvm *ot_vm_new_ex(uint32_t flags, bool with_root,
					 const struct gpuvm_ops *ops,
					 uint64_t res_off, uint64_t res_range)
{
	struct gpuvm *vm = calloc(1, sizeof(*vm));
	struct gpuvm_gem *root = NULL;

	assert_non_null(vm);
	if (with_root) {
		root = gpuvm_resv_object_alloc();
		assert_non_null(root);
	}
	assert_int_equal(gpuvm_init(vm, "objects", flags, root, OT_VM_START,
				    OT_VM_RANGE, res_off, res_range, ops),
			 0);
	if (root) {
		assert_int_equal(ot_refs(root), 2);
		gpuvm_gem_put(root);
	}
	return vm;
}

static inline struct gpuvm *ot_vm_new(uint32_t flags, bool with_root,
				      const struct gpuvm_ops *ops)
{
	return ot_vm_new_ex(flags, with_root, ops, 0, 0);
}

/* Inserts a heap mapping (not linked). */
static inline struct gpuva *ot_map(struct gpuvm *vm, uint64_t addr,
				   uint64_t range, struct gpuvm_gem *obj)
{
	return tu_insert(vm, addr, range, obj, 0);
}

/* Removes and frees a mapping that is no longer linked. */
static inline void ot_unmap(struct gpuva *va)
{
	assert_null(va->vm_bo);
	gpuva_remove(va);
	free(va);
}

/* Drops what must be the last VM reference (the lists must be empty). */
static inline void ot_vm_put_last(struct gpuvm *vm)
{
	unsigned int frees = ot_c()->vm_frees;

	assert_int_equal(gpuvm_kref_read(&vm->kref), 1);
	assert_true(gpuvm_list_empty(&vm->extobj.list));
	assert_true(gpuvm_list_empty(&vm->evict.list));
	gpuvm_put(vm);
	assert_int_equal(ot_c()->vm_frees, frees + 1);
}

/* ------------------------------------------------------------------ */
/* The VM's lists.                                                      */

static inline unsigned int ot_extobj_count(struct gpuvm *vm,
					   const struct gpuvm_bo *vm_bo)
{
	struct gpuvm_bo *it;
	unsigned int n = 0;

	gpuvm_list_for_each_entry(it, &vm->extobj.list, struct gpuvm_bo,
				  list.entry.extobj) {
		if (!vm_bo || it == vm_bo)
			n++;
	}
	return n;
}

static inline unsigned int ot_evict_count(struct gpuvm *vm,
					  const struct gpuvm_bo *vm_bo)
{
	struct gpuvm_bo *it;
	unsigned int n = 0;

	gpuvm_list_for_each_entry(it, &vm->evict.list, struct gpuvm_bo,
				  list.entry.evict) {
		if (!vm_bo || it == vm_bo)
			n++;
	}
	return n;
}

static inline unsigned int ot_gem_vm_bo_count(struct gpuvm_gem *obj)
{
	struct gpuvm_bo *it;
	unsigned int n = 0;

	gpuvm_gem_for_each_vm_bo(it, obj)
		n++;
	return n;
}

/* Obtains the vm_bo of (@vm, @obj) under the object's reservation. */
static inline struct gpuvm_bo *ot_obtain(struct gpuvm *vm,
					 struct gpuvm_gem *obj)
{
	struct gpuvm_bo *vm_bo;
	int err = 1;

	ot_lock(obj);
	vm_bo = gpuvm_bo_obtain_locked(vm, obj, &err);
	ot_unlock(obj);
	assert_non_null(vm_bo);
	assert_int_equal(err, 0);
	return vm_bo;
}

/*
 * Drops a vm_bo reference with what a destroy may need held: the object's
 * reservation and, for a resv-protected VM, the VM's (often the same one).
 */
static inline bool ot_bo_put(struct gpuvm_bo *vm_bo)
{
	struct gpuvm *vm = vm_bo->vm;
	struct gpuvm_gem *obj = vm_bo->obj;
	struct gpuvm_ww_acquire_ctx ctx;
	struct gpuvm_resv *vres = gpuvm_vm_resv(vm);
	bool both = gpuvm_resv_protected(vm) && vres != obj->resv;
	bool ret;

	if (gpuvm_immediate_mode(vm)) {
		if (gpuvm_resv_protected(vm))
			assert_int_equal(gpuvm_resv_lock(vres, NULL), 0);
		gpuvm_gem_gpuva_lock(obj);
		ret = gpuvm_bo_put(vm_bo);
		gpuvm_gem_gpuva_unlock(obj);
		if (gpuvm_resv_protected(vm))
			gpuvm_resv_unlock(vres);
		return ret;
	}
	if (!both) {
		ot_lock(obj);
		ret = gpuvm_bo_put(vm_bo);
		ot_unlock(obj);
		return ret;
	}
	/* Two reservations: one acquire context, so no deadlock. */
	gpuvm_ww_acquire_init(&ctx, gpuvm_reservation_ww_class());
	assert_int_equal(gpuvm_resv_lock(vres, &ctx), 0);
	assert_int_equal(gpuvm_resv_lock(obj->resv, &ctx), 0);
	ret = gpuvm_bo_put(vm_bo);
	gpuvm_resv_unlock(obj->resv);
	gpuvm_resv_unlock(vres);
	gpuvm_ww_acquire_fini(&ctx);
	return ret;
}

/* ------------------------------------------------------------------ */
/* A helper thread that holds objects in an older transaction, so that  */
/* a later transaction of the test thread must back off.                */

struct holder {
	pthread_t thread;
	struct gpuvm_gem *objs[4];
	unsigned int n;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int phase; /* 0 starting, 1 holding, 2 release asked, 3 released */
};

static inline void holder_set(struct holder *h, int phase)
{
	pthread_mutex_lock(&h->lock);
	if (h->phase < phase)
		h->phase = phase;
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
}

static inline void holder_wait(struct holder *h, int phase)
{
	pthread_mutex_lock(&h->lock);
	while (h->phase < phase)
		pthread_cond_wait(&h->cond, &h->lock);
	pthread_mutex_unlock(&h->lock);
}

static inline void *holder_fn(void *arg)
{
	struct holder *h = arg;
	struct gpuvm_exec exec;
	int ret = 0;

	gpuvm_exec_init(&exec, 0, 0);
	gpuvm_exec_until_all_locked(&exec) {
		ret = gpuvm_exec_prepare_array(&exec, h->objs, h->n, 0);
		gpuvm_exec_retry_on_contention(&exec);
	}
	if (ret)
		abort();
	holder_set(h, 1);
	holder_wait(h, 2);
	gpuvm_exec_fini(&exec);
	holder_set(h, 3);
	return NULL;
}

/* Starts the helper, whose transaction is then older than any later one. */
static inline void holder_start(struct holder *h, struct gpuvm_gem *const *o,
				unsigned int n)
{
	memset(h, 0, sizeof(*h));
	for (unsigned int i = 0; i < n; i++)
		h->objs[i] = o[i];
	h->n = n;
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->cond, NULL);
	assert_int_equal(pthread_create(&h->thread, NULL, holder_fn, h), 0);
	holder_wait(h, 1);
}

static inline void holder_join(struct holder *h)
{
	holder_set(h, 2);
	pthread_join(h->thread, NULL);
	assert_int_equal(h->phase, 3);
	pthread_mutex_destroy(&h->lock);
	pthread_cond_destroy(&h->cond);
}

/* Fixture: leak and warning checks plus fresh counters. */
static inline int ot_setup(void **state)
{
	ot_counters_reset();
	return tu_setup(state);
}

static inline int ot_teardown(void **state)
{
	return tu_teardown(state);
}

#define OT_TEST(f) cmocka_unit_test_setup_teardown(f, ot_setup, ot_teardown)

#endif /* GPUVM_TESTS_OBJECTS_OBJTEST_H */
