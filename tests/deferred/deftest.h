/* SPDX-License-Identifier: MIT */
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
#ifndef GPUVM_TESTS_DEFERRED_DEFTEST_H
#define GPUVM_TESTS_DEFERRED_DEFTEST_H

/*
 * Scaffolding of the deferred-cleanup tests: an immediate-mode VM in either
 * resv mode, with a root object and callbacks that count every vm_bo
 * allocation and free and the VM's own free; buffer objects (external or
 * sharing the VM's reservation) that count their frees; a violation handler
 * that counts fence-signalling rule violations instead of aborting. Every
 * counter is atomic so that the stress test can use the same code.
 */

#include <stdatomic.h>

#include "testutil.h"

#include <gpuvm/fence.h>
#include <gpuvm/gpuvm.h>

#include "lockcount.h"

/* ------------------------------------------------------------------ */
/* Counters.                                                            */

struct dt_counters {
	atomic_uint vm_bo_allocs;
	atomic_uint vm_bo_frees;
	atomic_uint vm_frees;
	atomic_uint gem_inits;
	atomic_uint gem_frees;
	atomic_uint validates;
	atomic_uint violations;
	atomic_uint violation_rule[8];
	/* The first rule reported since the last reset. */
	atomic_int first_rule;
	/* A vm_bo handed to vm_bo_validate was a zombie. */
	atomic_uint validated_zombies;
};

static inline struct dt_counters *dt_c(void)
{
	static struct dt_counters c;

	return &c;
}

static inline void dt_counters_reset(void)
{
	struct dt_counters *c = dt_c();
	unsigned int i;

	atomic_store(&c->vm_bo_allocs, 0);
	atomic_store(&c->vm_bo_frees, 0);
	atomic_store(&c->vm_frees, 0);
	atomic_store(&c->gem_inits, 0);
	atomic_store(&c->gem_frees, 0);
	atomic_store(&c->validates, 0);
	atomic_store(&c->violations, 0);
	for (i = 0; i < 8; i++)
		atomic_store(&c->violation_rule[i], 0);
	atomic_store(&c->first_rule, 0);
	atomic_store(&c->validated_zombies, 0);
}

static inline unsigned int dt_get(atomic_uint *v)
{
	return atomic_load(v);
}

/*
 * Counts violations. Returning lets the operation go ahead, so a test that
 * expects one must also cope with what follows it.
 */
static inline void dt_violation_handler(enum gpuvm_violation rule,
					const char *msg, void *data)
{
	struct dt_counters *c = dt_c();
	int zero = 0;

	(void)msg;
	(void)data;
	atomic_fetch_add(&c->violations, 1);
	if ((unsigned int)rule < 8)
		atomic_fetch_add(&c->violation_rule[rule], 1);
	atomic_compare_exchange_strong(&c->first_rule, &zero, (int)rule);
}

/* ------------------------------------------------------------------ */
/* VM callbacks.                                                        */

static inline void dt_vm_free(struct gpuvm *vm)
{
	atomic_fetch_add(&dt_c()->vm_frees, 1);
	free(vm);
}

static inline struct gpuvm_bo *dt_vm_bo_alloc(void)
{
	struct gpuvm_bo *vm_bo = malloc(sizeof(*vm_bo));

	if (!vm_bo)
		return NULL;
	/* Garbage on purpose: the library must initialise what it gets. */
	memset(vm_bo, 0x5a, sizeof(*vm_bo));
	atomic_fetch_add(&dt_c()->vm_bo_allocs, 1);
	return vm_bo;
}

static inline void dt_vm_bo_free(struct gpuvm_bo *vm_bo)
{
	atomic_fetch_add(&dt_c()->vm_bo_frees, 1);
	/* Poison: a use after the free shows up even without ASan. */
	memset(vm_bo, 0x6b, sizeof(*vm_bo));
	free(vm_bo);
}

/* Makes the object resident again, as a driver would. */
static inline int dt_vm_bo_validate(struct gpuvm_bo *vm_bo,
				    struct gpuvm_exec *exec)
{
	(void)exec;
	atomic_fetch_add(&dt_c()->validates, 1);
	if (gpuvm_bo_is_zombie(vm_bo))
		atomic_fetch_add(&dt_c()->validated_zombies, 1);
	gpuvm_bo_evict(vm_bo, false);
	return 0;
}

static const struct gpuvm_ops dt_vm_ops = {
	.vm_free = dt_vm_free,
	.vm_bo_alloc = dt_vm_bo_alloc,
	.vm_bo_free = dt_vm_bo_free,
	.vm_bo_validate = dt_vm_bo_validate,
};

/* ------------------------------------------------------------------ */
/* Buffer objects.                                                      */

/*
 * @frees: times the free callback ran for this object (must end at 1);
 * @heap: the free callback frees the struct (stress objects).
 */
struct dt_bo {
	struct gpuvm_gem gem;
	atomic_uint frees;
	bool heap;
};

static inline void dt_bo_free(struct gpuvm_gem *obj)
{
	struct dt_bo *bo = gpuvm_container_of(obj, struct dt_bo, gem);

	atomic_fetch_add(&dt_c()->gem_frees, 1);
	if (atomic_fetch_add(&bo->frees, 1) != 0) {
		fprintf(stderr, "object %p freed twice\n", (void *)bo);
		abort();
	}
	if (bo->heap) {
		memset(bo, 0x6b, sizeof(*bo));
		free(bo);
	}
}

static const struct gpuvm_gem_funcs dt_bo_funcs = {
	.free = dt_bo_free,
};

/*
 * Initialises an object: external (its own reservation) or private to the
 * VM whose root object is @root (NULL: external).
 */
static inline void dt_bo_init(struct dt_bo *bo, struct gpuvm_gem *root)
{
	int ret;

	memset(bo, 0, sizeof(*bo));
	atomic_init(&bo->frees, 0);
	if (root)
		ret = gpuvm_gem_init_shared_resv(&bo->gem, &dt_bo_funcs,
						 0x10000, root);
	else
		ret = gpuvm_gem_init(&bo->gem, &dt_bo_funcs, 0x10000);
	if (ret) {
		fprintf(stderr, "gem init failed: %d\n", ret);
		abort();
	}
	atomic_fetch_add(&dt_c()->gem_inits, 1);
}

static inline unsigned int dt_bo_refs(struct dt_bo *bo)
{
	return gpuvm_kref_read(&bo->gem.refcount);
}

/* ------------------------------------------------------------------ */
/* The VM.                                                              */

/*
 * @resv: GPUVM_RESV_PROTECTED as well as GPUVM_IMMEDIATE_MODE;
 * @priv: the test's objects share the VM's reservation.
 */
struct dt_cfg {
	bool resv;
	bool priv;
};

static inline uint32_t dt_flags(bool resv)
{
	return GPUVM_IMMEDIATE_MODE | (resv ? GPUVM_RESV_PROTECTED : 0);
}

/*
 * A heap VM with a root object in both modes (a VM that is not
 * resv-protected may still have a common reservation, so that private
 * objects exist in both). The creation reference of the root goes to the VM.
 */
static inline struct gpuvm *dt_vm_create(uint32_t flags)
{
	struct gpuvm *vm = calloc(1, sizeof(*vm));
	struct gpuvm_gem *root = gpuvm_resv_object_alloc();
	int ret;

	if (!vm || !root) {
		fprintf(stderr, "out of memory\n");
		abort();
	}
	ret = gpuvm_init(vm, "deferred", flags, root, 0, 1ull << 40, 0, 0,
			 &dt_vm_ops);
	if (ret) {
		fprintf(stderr, "gpuvm_init: %d\n", ret);
		abort();
	}
	gpuvm_gem_put(root);
	return vm;
}

/* The root object when @priv, else NULL: what dt_bo_init() wants. */
static inline struct gpuvm_gem *dt_owner(struct gpuvm *vm, bool priv)
{
	return priv ? vm->r_obj : NULL;
}

/* A preallocated vm_bo installed the immediate-mode way. */
static inline struct gpuvm_bo *dt_obtain(struct gpuvm *vm,
					 struct gpuvm_gem *obj)
{
	struct gpuvm_bo *pre = gpuvm_bo_create(vm, obj);

	if (!pre) {
		fprintf(stderr, "gpuvm_bo_create failed\n");
		abort();
	}
	return gpuvm_bo_obtain_prealloc(pre);
}

static inline unsigned int dt_zombies(struct gpuvm *vm)
{
	return atomic_load_explicit(&vm->nr_zombies, memory_order_relaxed);
}

/* Length of one of the VM's vm_bo lists (caller keeps it still). */
static inline unsigned int dt_list_len(const struct gpuvm_list_head *head)
{
	const struct gpuvm_list_head *p;
	unsigned int n = 0;

	for (p = head->next; p != head; p = p->next)
		n++;
	return n;
}

static inline bool dt_on_list(const struct gpuvm_list_head *head,
			      const struct gpuvm_list_head *entry)
{
	const struct gpuvm_list_head *p;

	for (p = head->next; p != head; p = p->next)
		if (p == entry)
			return true;
	return false;
}

#endif /* GPUVM_TESTS_DEFERRED_DEFTEST_H */
