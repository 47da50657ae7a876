// SPDX-License-Identifier: MIT
/*
 * Copyright (c) 2026 The libgpuvm authors
 *
 * Deterministic tests of immediate mode's deferred vm_bo cleanup:
 * gpuvm_bo_put_deferred(), gpuva_unlink_defer(), gpuvm_bo_deferred_cleanup()
 * and what they promise (see "DOC: Deferred vm_bo cleanup" in vm_bo.h).
 * Every behavioural test runs four times: in a VM that is resv-protected or
 * not, with external objects or objects sharing the VM's reservation.
 */
#include <pthread.h>
#include <sched.h>

#include "deftest.h"

#include "../sync/death.h"

/* ------------------------------------------------------------------ */
/* Fixture.                                                             */

static const struct dt_cfg cfg_ext = { .resv = false, .priv = false };
static const struct dt_cfg cfg_priv = { .resv = false, .priv = true };
static const struct dt_cfg cfg_resv_ext = { .resv = true, .priv = false };
static const struct dt_cfg cfg_resv_priv = { .resv = true, .priv = true };

static unsigned int expected_violations;

static int dt_setup(void **state)
{
	dt_counters_reset();
	expected_violations = 0;
	lc_watch(NULL);
	lc_watch_mutex(NULL);
	lc_set_unlock_hook(NULL, NULL);
	return tu_setup(state);
}

static int dt_teardown(void **state)
{
	lc_watch(NULL);
	lc_watch_mutex(NULL);
	lc_set_unlock_hook(NULL, NULL);
	assert_int_equal(dt_get(&dt_c()->violations), expected_violations);
	/* What the library allocated is gone, and so is every vm_bo. */
	assert_int_equal(dt_get(&dt_c()->vm_bo_allocs),
			 dt_get(&dt_c()->vm_bo_frees));
	return tu_teardown(state);
}

/* No test left anything behind (each one is also checked on its own). */
static int dt_group_teardown(void **state)
{
	(void)state;
	assert_int_equal(tu_live_allocs(), 0);
	return 0;
}

static const struct dt_cfg *cfg_of(void **state)
{
	return *state;
}

/* A mapping of @obj at @addr, inserted (not linked). */
static void va_insert(struct gpuvm *vm, struct gpuva *va, uint64_t addr,
		      struct gpuvm_gem *obj)
{
	memset(va, 0, sizeof(*va));
	va->va.addr = addr;
	va->va.range = 0x1000;
	va->gem.obj = obj;
	assert_int_equal(gpuva_insert(vm, va), 0);
}

static void va_link(struct gpuva *va, struct gpuvm_bo *vm_bo)
{
	gpuvm_gem_gpuva_lock(va->gem.obj);
	gpuva_link(va, vm_bo);
	gpuvm_gem_gpuva_unlock(va->gem.obj);
}

static bool on_gem_list(struct dt_bo *bo, struct gpuvm_bo *vm_bo)
{
	return dt_on_list(&bo->gem.gpuva.list, &vm_bo->list.entry.gem);
}

/* Locks the VM's lists for extobj_add() when they are resv-protected. */
static void extobj_add(struct gpuvm_bo *vm_bo)
{
	struct gpuvm *vm = vm_bo->vm;
	bool lock = gpuvm_resv_protected(vm);

	if (lock)
		assert_int_equal(gpuvm_resv_lock(gpuvm_vm_resv(vm), NULL), 0);
	gpuvm_bo_extobj_add(vm_bo);
	if (lock)
		gpuvm_resv_unlock(gpuvm_vm_resv(vm));
}

static void evict(struct gpuvm_bo *vm_bo, bool on)
{
	struct gpuvm_resv *resv = vm_bo->obj->resv;

	assert_int_equal(gpuvm_resv_lock(resv, NULL), 0);
	gpuvm_bo_evict(vm_bo, on);
	gpuvm_resv_unlock(resv);
}

static void vm_put_last(struct gpuvm *vm)
{
	unsigned int before = dt_get(&dt_c()->vm_frees);

	assert_int_equal(dt_zombies(vm), 0);
	assert_true(gpuvm_llist_empty(&vm->bo_defer));
	assert_int_equal(gpuvm_kref_read(&vm->kref), 1);
	gpuvm_put(vm);
	assert_int_equal(dt_get(&dt_c()->vm_frees), before + 1);
}

static void bo_put_last(struct dt_bo *bo)
{
	assert_int_equal(dt_bo_refs(bo), 1);
	assert_int_equal(atomic_load(&bo->frees), 0);
	gpuvm_gem_put(&bo->gem);
	assert_int_equal(atomic_load(&bo->frees), 1);
}

/* ------------------------------------------------------------------ */
/* gpuvm_bo_put_deferred().                                             */

static void test_put_deferred(void **state)
{
	const struct dt_cfg *cfg = cfg_of(state);
	struct gpuvm *vm = dt_vm_create(dt_flags(cfg->resv));
	struct gpuvm_bo *vm_bo;
	struct dt_bo bo;

	dt_bo_init(&bo, dt_owner(vm, cfg->priv));
	vm_bo = dt_obtain(vm, &bo.gem);
	assert_int_equal(dt_get(&dt_c()->vm_bo_allocs), 1);
	assert_int_equal(gpuvm_kref_read(&vm_bo->kref), 1);
	assert_int_equal(gpuvm_kref_read(&vm->kref), 2);
	assert_int_equal(dt_bo_refs(&bo), 2);
	assert_true(on_gem_list(&bo, vm_bo));

	assert_false(gpuvm_bo_put_deferred(NULL));

	gpuvm_bo_get(vm_bo);
	gpuvm_bo_get(vm_bo);
	assert_false(gpuvm_bo_put_deferred(vm_bo));
	assert_false(gpuvm_bo_put_deferred(vm_bo));
	assert_int_equal(gpuvm_kref_read(&vm_bo->kref), 1);
	assert_false(gpuvm_bo_is_zombie(vm_bo));
	assert_true(on_gem_list(&bo, vm_bo));
	assert_int_equal(dt_zombies(vm), 0);
	assert_true(gpuvm_llist_empty(&vm->bo_defer));

	/* The last reference: a zombie, off the object's list at once. */
	assert_true(gpuvm_bo_put_deferred(vm_bo));
	assert_true(gpuvm_bo_is_zombie(vm_bo));
	assert_false(on_gem_list(&bo, vm_bo));
	assert_true(gpuvm_list_empty(&bo.gem.gpuva.list));
	assert_int_equal(dt_zombies(vm), 1);
	assert_false(gpuvm_llist_empty(&vm->bo_defer));
	/* Memory, VM reference and object reference all stay. */
	assert_int_equal(dt_get(&dt_c()->vm_bo_frees), 0);
	assert_ptr_equal(vm_bo->vm, vm);
	assert_ptr_equal(vm_bo->obj, &bo.gem);
	assert_int_equal(gpuvm_kref_read(&vm->kref), 2);
	assert_int_equal(dt_bo_refs(&bo), 2);

	gpuvm_bo_deferred_cleanup(vm);
	assert_int_equal(dt_get(&dt_c()->vm_bo_frees), 1);
	assert_int_equal(gpuvm_kref_read(&vm->kref), 1);
	assert_int_equal(dt_bo_refs(&bo), 1);
	assert_int_equal(dt_zombies(vm), 0);
	assert_true(gpuvm_llist_empty(&vm->bo_defer));

	/* Idempotent. */
	gpuvm_bo_deferred_cleanup(vm);
	assert_int_equal(dt_get(&dt_c()->vm_bo_frees), 1);
	assert_int_equal(gpuvm_kref_read(&vm->kref), 1);
	assert_int_equal(dt_bo_refs(&bo), 1);

	bo_put_last(&bo);
	vm_put_last(vm);
}

/* Zombies of one VM, many objects: one batch frees each exactly once. */
static void test_put_deferred_many(void **state)
{
	const struct dt_cfg *cfg = cfg_of(state);
	struct gpuvm *vm = dt_vm_create(dt_flags(cfg->resv));
	struct gpuvm_bo *vm_bo[32];
	struct dt_bo bo[32];
	unsigned int i;

	for (i = 0; i < 32; i++) {
		dt_bo_init(&bo[i], dt_owner(vm, cfg->priv));
		vm_bo[i] = dt_obtain(vm, &bo[i].gem);
		if (i % 3 == 0)
			extobj_add(vm_bo[i]);
	}
	for (i = 0; i < 32; i++)
		assert_true(gpuvm_bo_put_deferred(vm_bo[i]));
	assert_int_equal(dt_zombies(vm), 32);
	assert_int_equal(gpuvm_kref_read(&vm->kref), 33);
	assert_int_equal(dt_get(&dt_c()->vm_bo_frees), 0);

	gpuvm_bo_deferred_cleanup(vm);
	assert_int_equal(dt_get(&dt_c()->vm_bo_frees), 32);
	assert_int_equal(dt_zombies(vm), 0);
	assert_true(gpuvm_list_empty(&vm->extobj.list));
	for (i = 0; i < 32; i++)
		bo_put_last(&bo[i]);
	vm_put_last(vm);
}

/* ------------------------------------------------------------------ */
/* gpuva_unlink_defer().                                                */

static void test_unlink_defer(void **state)
{
	const struct dt_cfg *cfg = cfg_of(state);
	struct gpuvm *vm = dt_vm_create(dt_flags(cfg->resv));
	struct gpuva va1, va2, sparse;
	struct gpuvm_bo *vm_bo;
	struct dt_bo bo;

	dt_bo_init(&bo, dt_owner(vm, cfg->priv));
	vm_bo = dt_obtain(vm, &bo.gem);
	va_insert(vm, &va1, 0x10000, &bo.gem);
	va_insert(vm, &va2, 0x20000, &bo.gem);
	va_link(&va1, vm_bo);
	va_link(&va2, vm_bo);
	assert_ptr_equal(va1.vm_bo, vm_bo);
	assert_int_equal(gpuvm_kref_read(&vm_bo->kref), 3);
	/* The links keep it; the obtain reference goes. */
	assert_false(gpuvm_bo_put_deferred(vm_bo));

	gpuva_remove(&va1);
	gpuva_unlink_defer(&va1);
	assert_null(va1.vm_bo);
	assert_true(gpuvm_list_empty(&va1.gem.entry));
	assert_int_equal(gpuvm_kref_read(&vm_bo->kref), 1);
	assert_false(gpuvm_bo_is_zombie(vm_bo));
	assert_true(on_gem_list(&bo, vm_bo));
	assert_int_equal(dt_zombies(vm), 0);

	gpuva_remove(&va2);
	gpuva_unlink_defer(&va2);
	assert_null(va2.vm_bo);
	assert_true(gpuvm_bo_is_zombie(vm_bo));
	assert_false(on_gem_list(&bo, vm_bo));
	assert_true(gpuvm_list_empty(&vm_bo->list.gpuva));
	assert_int_equal(dt_zombies(vm), 1);
	assert_int_equal(dt_get(&dt_c()->vm_bo_frees), 0);
	assert_int_equal(dt_bo_refs(&bo), 2);

	/* A mapping without an object: nothing to unlink. */
	va_insert(vm, &sparse, 0x30000, NULL);
	gpuva_unlink_defer(&sparse);
	assert_null(sparse.vm_bo);
	assert_int_equal(dt_zombies(vm), 1);
	gpuva_remove(&sparse);

	gpuvm_bo_deferred_cleanup(vm);
	assert_int_equal(dt_get(&dt_c()->vm_bo_frees), 1);
	bo_put_last(&bo);
	vm_put_last(vm);
}

/* ------------------------------------------------------------------ */
/* Lookups and walks never see a zombie.                                */

static void test_lookup_skips_zombie(void **state)
{
	const struct dt_cfg *cfg = cfg_of(state);
	struct gpuvm *vm = dt_vm_create(dt_flags(cfg->resv));
	struct gpuvm_bo *a, *b, *f, *pre;
	struct dt_bo bo;

	dt_bo_init(&bo, dt_owner(vm, cfg->priv));
	a = dt_obtain(vm, &bo.gem);
	assert_true(gpuvm_bo_put_deferred(a));

	gpuvm_gem_gpuva_lock(&bo.gem);
	assert_null(gpuvm_bo_find(vm, &bo.gem));
	gpuvm_gem_gpuva_unlock(&bo.gem);

	/* obtain installs a fresh vm_bo rather than reviving the zombie. */
	b = dt_obtain(vm, &bo.gem);
	assert_ptr_not_equal(a, b);
	assert_int_equal(dt_get(&dt_c()->vm_bo_allocs), 2);
	assert_int_equal(dt_get(&dt_c()->vm_bo_frees), 0);
	assert_int_equal(gpuvm_kref_read(&b->kref), 1);
	assert_true(on_gem_list(&bo, b));
	assert_true(gpuvm_list_is_singular(&bo.gem.gpuva.list));
	assert_true(gpuvm_bo_is_zombie(a));

	gpuvm_gem_gpuva_lock(&bo.gem);
	f = gpuvm_bo_find(vm, &bo.gem);
	gpuvm_gem_gpuva_unlock(&bo.gem);
	assert_ptr_equal(f, b);
	assert_int_equal(gpuvm_kref_read(&b->kref), 2);
	assert_false(gpuvm_bo_put_deferred(f));

	/* With a live vm_bo, obtain returns it and destroys the duplicate. */
	pre = gpuvm_bo_create(vm, &bo.gem);
	assert_non_null(pre);
	f = gpuvm_bo_obtain_prealloc(pre);
	assert_ptr_equal(f, b);
	assert_int_equal(dt_get(&dt_c()->vm_bo_frees), 1);
	assert_int_equal(gpuvm_kref_read(&b->kref), 2);
	assert_false(gpuvm_bo_put_deferred(f));

	/* Only the zombie goes. */
	assert_int_equal(dt_zombies(vm), 1);
	gpuvm_bo_deferred_cleanup(vm);
	assert_int_equal(dt_get(&dt_c()->vm_bo_frees), 2);
	assert_int_equal(gpuvm_kref_read(&b->kref), 1);
	assert_true(on_gem_list(&bo, b));

	assert_true(gpuvm_bo_put_deferred(b));
	gpuvm_bo_deferred_cleanup(vm);
	assert_int_equal(dt_get(&dt_c()->vm_bo_frees), 3);
	bo_put_last(&bo);
	vm_put_last(vm);
}

/*
 * gpuvm_prepare_objects() and gpuvm_validate() skip a zombie. A
 * resv-protected VM leaves it on extobj/evict until the cleanup; otherwise
 * it left them when it became a zombie.
 */
static void test_walks_skip_zombie(void **state)
{
	const struct dt_cfg *cfg = cfg_of(state);
	struct gpuvm *vm = dt_vm_create(dt_flags(cfg->resv));
	struct gpuvm_vm_exec ve;
	struct gpuvm_bo *vx, *vy;
	struct dt_bo x, y;
	bool ext = !cfg->priv;

	dt_bo_init(&x, dt_owner(vm, cfg->priv));
	dt_bo_init(&y, dt_owner(vm, cfg->priv));
	vx = dt_obtain(vm, &x.gem);
	vy = dt_obtain(vm, &y.gem);
	extobj_add(vx);
	extobj_add(vy);
	evict(vx, true);
	evict(vy, true);
	if (cfg->resv && ext) {
		/* Flagged only; the VM's next locking pass lists them. */
		assert_int_equal(dt_list_len(&vm->evict.list), 0);
		memset(&ve, 0, sizeof(ve));
		ve.vm = vm;
		ve.flags = GPUVM_EXEC_IGNORE_DUPLICATES;
		assert_int_equal(gpuvm_vm_exec_lock(&ve), 0);
		gpuvm_vm_exec_unlock(&ve);
	}
	assert_int_equal(dt_list_len(&vm->extobj.list), ext ? 2 : 0);
	assert_int_equal(dt_list_len(&vm->evict.list), 2);

	assert_true(gpuvm_bo_put_deferred(vx));
	if (cfg->resv) {
		assert_int_equal(dt_list_len(&vm->extobj.list), ext ? 2 : 0);
		assert_true(dt_on_list(&vm->evict.list, &vx->list.entry.evict));
	} else {
		assert_true(gpuvm_list_empty(&vx->list.entry.extobj));
		assert_true(gpuvm_list_empty(&vx->list.entry.evict));
		assert_int_equal(dt_list_len(&vm->extobj.list), ext ? 1 : 0);
		assert_int_equal(dt_list_len(&vm->evict.list), 1);
	}

	memset(&ve, 0, sizeof(ve));
	ve.vm = vm;
	ve.flags = GPUVM_EXEC_IGNORE_DUPLICATES;
	ve.num_fences = 1;
	assert_int_equal(gpuvm_vm_exec_lock(&ve), 0);
	if (ext) {
		assert_false(gpuvm_resv_is_held(x.gem.resv));
		assert_true(gpuvm_resv_is_held(y.gem.resv));
	}
	assert_int_equal(gpuvm_validate(vm, &ve.exec), 0);
	assert_int_equal(dt_get(&dt_c()->validates), 1);
	assert_int_equal(dt_get(&dt_c()->validated_zombies), 0);
	assert_false(vy->evicted);
	gpuvm_vm_exec_unlock(&ve);
	if (cfg->resv)
		assert_true(dt_on_list(&vm->evict.list, &vx->list.entry.evict));

	gpuvm_bo_deferred_cleanup(vm);
	assert_int_equal(dt_get(&dt_c()->vm_bo_frees), 1);
	assert_int_equal(dt_list_len(&vm->evict.list), 0);
	assert_int_equal(dt_list_len(&vm->extobj.list), ext ? 1 : 0);
	if (ext)
		assert_true(
			dt_on_list(&vm->extobj.list, &vy->list.entry.extobj));

	assert_true(gpuvm_bo_put_deferred(vy));
	gpuvm_bo_deferred_cleanup(vm);
	assert_true(gpuvm_list_empty(&vm->extobj.list));
	bo_put_last(&x);
	bo_put_last(&y);
	vm_put_last(vm);
}

/* ------------------------------------------------------------------ */
/* gpuvm_bo_deferred_cleanup().                                         */

/*
 * The cleanup may drop an object's last reference; an object mapped by two
 * VMs is freed once, after its last vm_bo. A resv-protected cleanup locks
 * the VM's reservation once per non-empty batch, and never for an empty one.
 */
static void test_cleanup_drops_last_gem_ref(void **state)
{
	const struct dt_cfg *cfg = cfg_of(state);
	struct gpuvm *vm = dt_vm_create(dt_flags(cfg->resv));
	struct gpuvm_bo *vm_bo[16];
	struct dt_bo bo[16];
	unsigned int i;

	for (i = 0; i < 16; i++) {
		dt_bo_init(&bo[i], dt_owner(vm, cfg->priv));
		vm_bo[i] = dt_obtain(vm, &bo[i].gem);
		/* The vm_bo now holds the only reference. */
		gpuvm_gem_put(&bo[i].gem);
	}
	for (i = 0; i < 16; i++)
		assert_true(gpuvm_bo_put_deferred(vm_bo[i]));
	assert_int_equal(dt_get(&dt_c()->gem_frees), 0);

	lc_watch(&gpuvm_vm_resv(vm)->lock);
	gpuvm_bo_deferred_cleanup(vm);
	assert_int_equal(dt_get(&dt_c()->gem_frees), 16);
	for (i = 0; i < 16; i++)
		assert_int_equal(atomic_load(&bo[i].frees), 1);
	assert_int_equal(dt_get(&dt_c()->vm_bo_frees), 16);
	if (lc_available())
		assert_int_equal(lc_acquired(), cfg->resv ? 1 : 0);

	gpuvm_bo_deferred_cleanup(vm);
	assert_int_equal(dt_get(&dt_c()->gem_frees), 16);
	if (lc_available()) {
		assert_int_equal(lc_entered(), cfg->resv ? 1 : 0);
		assert_int_equal(lc_acquired(), cfg->resv ? 1 : 0);
	}
	lc_watch(NULL);
	vm_put_last(vm);
}

static void test_cleanup_two_vms(void **state)
{
	const struct dt_cfg *cfg = cfg_of(state);
	struct gpuvm *vm1 = dt_vm_create(dt_flags(cfg->resv));
	struct gpuvm *vm2 = dt_vm_create(dt_flags(cfg->resv));
	struct gpuvm_bo *b1, *b2;
	struct dt_bo bo;

	/* Private to vm1, external to vm2 in the private configuration. */
	dt_bo_init(&bo, dt_owner(vm1, cfg->priv));
	b1 = dt_obtain(vm1, &bo.gem);
	b2 = dt_obtain(vm2, &bo.gem);
	extobj_add(b1);
	extobj_add(b2);
	assert_int_equal(dt_list_len(&bo.gem.gpuva.list), 2);
	gpuvm_gem_put(&bo.gem);
	assert_int_equal(dt_bo_refs(&bo), 2);

	assert_true(gpuvm_bo_put_deferred(b1));
	assert_true(gpuvm_bo_put_deferred(b2));
	assert_true(gpuvm_list_empty(&bo.gem.gpuva.list));
	gpuvm_bo_deferred_cleanup(vm1);
	assert_int_equal(atomic_load(&bo.frees), 0);
	assert_int_equal(dt_bo_refs(&bo), 1);
	assert_int_equal(dt_zombies(vm2), 1);
	gpuvm_bo_deferred_cleanup(vm2);
	assert_int_equal(atomic_load(&bo.frees), 1);
	gpuvm_bo_deferred_cleanup(vm1);
	gpuvm_bo_deferred_cleanup(vm2);
	assert_int_equal(atomic_load(&bo.frees), 1);
	vm_put_last(vm1);
	vm_put_last(vm2);
}

struct cleanup_thread {
	struct gpuvm *vm;
	atomic_bool done;
};

static void *cleanup_fn(void *arg)
{
	struct cleanup_thread *t = arg;

	gpuvm_bo_deferred_cleanup(t->vm);
	atomic_store(&t->done, true);
	return NULL;
}

/*
 * The batch lock, proven two ways. While this thread holds the VM's
 * reservation, a cleanup running on another thread takes the batch (the
 * queue empties) and then frees nothing until the reservation is released;
 * and the wrapped lock entries count exactly one acquisition for the
 * batch. A put made meanwhile goes to the next batch. In a VM that is not
 * resv-protected the cleanup does not touch the reservation at all: it
 * completes while this thread holds it.
 */
static void test_cleanup_locks_resv_once(void **state)
{
	const struct dt_cfg *cfg = cfg_of(state);
	struct gpuvm *vm = dt_vm_create(dt_flags(cfg->resv));
	struct gpuvm_resv *resv = gpuvm_vm_resv(vm);
	struct cleanup_thread t = { .vm = vm };
	struct gpuvm_bo *vm_bo[9];
	struct dt_bo bo[9];
	pthread_t th;
	unsigned int i;

	for (i = 0; i < 9; i++) {
		dt_bo_init(&bo[i], dt_owner(vm, cfg->priv));
		vm_bo[i] = dt_obtain(vm, &bo[i].gem);
		extobj_add(vm_bo[i]);
	}
	for (i = 0; i < 8; i++)
		assert_true(gpuvm_bo_put_deferred(vm_bo[i]));

	lc_watch(&resv->lock);
	assert_int_equal(gpuvm_resv_lock(resv, NULL), 0);
	atomic_init(&t.done, false);
	assert_int_equal(pthread_create(&th, NULL, cleanup_fn, &t), 0);
	/* Wait for the cleanup to take the batch (and, if counted, to block).
	 */
	while (!gpuvm_llist_empty(&vm->bo_defer))
		sched_yield();
	if (cfg->resv && lc_available())
		while (lc_entered() < 2 && !atomic_load(&t.done))
			sched_yield();
	if (cfg->resv) {
		/* It cannot free without the reservation we hold. */
		assert_int_equal(dt_get(&dt_c()->vm_bo_frees), 0);
		assert_false(atomic_load(&t.done));
		/* A put meanwhile is not held up and queues for later. */
		assert_true(gpuvm_bo_put_deferred(vm_bo[8]));
		assert_false(gpuvm_llist_empty(&vm->bo_defer));
		assert_int_equal(dt_get(&dt_c()->vm_bo_frees), 0);
		gpuvm_resv_unlock(resv);
		assert_int_equal(pthread_join(th, NULL), 0);
	} else {
		assert_int_equal(pthread_join(th, NULL), 0);
		assert_true(gpuvm_bo_put_deferred(vm_bo[8]));
		gpuvm_resv_unlock(resv);
	}
	assert_true(atomic_load(&t.done));
	assert_int_equal(dt_get(&dt_c()->vm_bo_frees), 8);
	if (lc_available())
		/* Ours, plus one for the batch of eight. */
		assert_int_equal(lc_acquired(), cfg->resv ? 2 : 1);

	gpuvm_bo_deferred_cleanup(vm);
	assert_int_equal(dt_get(&dt_c()->vm_bo_frees), 9);
	if (lc_available())
		assert_int_equal(lc_acquired(), cfg->resv ? 3 : 1);
	lc_watch(NULL);
	for (i = 0; i < 9; i++)
		bo_put_last(&bo[i]);
	vm_put_last(vm);
}

/*
 * The 1->0 transition happens under the object's gpuva mutex, so a lookup
 * holding that mutex wins against a last put: the put finds a count of two
 * once it gets the mutex, and the vm_bo lives on.
 */
struct put_thread {
	struct gpuvm_bo *vm_bo;
	atomic_int ret;
};

static void *put_fn(void *arg)
{
	struct put_thread *t = arg;

	atomic_store(&t->ret, gpuvm_bo_put_deferred(t->vm_bo) ? 1 : 0);
	return NULL;
}

static void test_lookup_beats_last_put(void **state)
{
	const struct dt_cfg *cfg = cfg_of(state);
	struct gpuvm *vm = dt_vm_create(dt_flags(cfg->resv));
	struct put_thread t;
	struct gpuvm_bo *vm_bo, *f;
	struct dt_bo bo;
	pthread_t th;

	if (!lc_available()) {
		vm_put_last(vm);
		skip();
	}
	dt_bo_init(&bo, dt_owner(vm, cfg->priv));
	vm_bo = dt_obtain(vm, &bo.gem);
	t.vm_bo = vm_bo;
	atomic_init(&t.ret, -1);

	lc_watch_mutex(&bo.gem.gpuva.lock);
	gpuvm_gem_gpuva_lock(&bo.gem);
	assert_int_equal(lc_mutex_entered(), 1);
	assert_int_equal(pthread_create(&th, NULL, put_fn, &t), 0);
	/* The putter saw the last reference and waits for the mutex. */
	while (lc_mutex_entered() < 2 && atomic_load(&t.ret) < 0)
		sched_yield();
	assert_int_equal(gpuvm_kref_read(&vm_bo->kref), 1);
	f = gpuvm_bo_find(vm, &bo.gem);
	assert_ptr_equal(f, vm_bo);
	gpuvm_gem_gpuva_unlock(&bo.gem);
	assert_int_equal(pthread_join(th, NULL), 0);
	lc_watch_mutex(NULL);

	assert_int_equal(atomic_load(&t.ret), 0);
	assert_int_equal(gpuvm_kref_read(&vm_bo->kref), 1);
	assert_false(gpuvm_bo_is_zombie(vm_bo));
	assert_true(on_gem_list(&bo, vm_bo));
	assert_int_equal(dt_zombies(vm), 0);

	assert_true(gpuvm_bo_put_deferred(f));
	gpuvm_bo_deferred_cleanup(vm);
	bo_put_last(&bo);
	vm_put_last(vm);
}

/*
 * Step 3 of the protocol: the zombie is queued only after the object's
 * gpuva mutex is released, or a concurrent cleanup could free the object,
 * mutex included, under the putter. A hook on the library's unlock of that
 * mutex looks at the VM's queue at the last moment the mutex is held.
 */
struct unlock_probe {
	struct gpuvm *vm;
	unsigned int calls;
	unsigned int queued;
};

static void unlock_probe_fn(void *arg)
{
	struct unlock_probe *p = arg;

	p->calls++;
	if (!gpuvm_llist_empty(&p->vm->bo_defer))
		p->queued++;
}

static void test_queue_after_unlock(void **state)
{
	const struct dt_cfg *cfg = cfg_of(state);
	struct gpuvm *vm = dt_vm_create(dt_flags(cfg->resv));
	struct unlock_probe p = { .vm = vm };
	struct gpuvm_bo *a, *b;
	struct dt_bo bo;
	struct gpuva va;

	if (!lc_available()) {
		vm_put_last(vm);
		skip();
	}
	dt_bo_init(&bo, dt_owner(vm, cfg->priv));
	a = dt_obtain(vm, &bo.gem);
	lc_set_unlock_hook(unlock_probe_fn, &p);
	lc_watch_mutex(&bo.gem.gpuva.lock);
	assert_true(gpuvm_bo_put_deferred(a));
	lc_watch_mutex(NULL);
	assert_int_equal(p.calls, 1);
	assert_int_equal(p.queued, 0);
	assert_false(gpuvm_llist_empty(&vm->bo_defer));
	gpuvm_bo_deferred_cleanup(vm);

	b = dt_obtain(vm, &bo.gem);
	va_insert(vm, &va, 0x10000, &bo.gem);
	va_link(&va, b);
	assert_false(gpuvm_bo_put_deferred(b));
	gpuva_remove(&va);
	p.calls = 0;
	lc_watch_mutex(&bo.gem.gpuva.lock);
	gpuva_unlink_defer(&va);
	lc_watch_mutex(NULL);
	assert_int_equal(p.calls, 1);
	assert_int_equal(p.queued, 0);
	assert_false(gpuvm_llist_empty(&vm->bo_defer));
	gpuvm_bo_deferred_cleanup(vm);

	bo_put_last(&bo);
	vm_put_last(vm);
}

/* A VM kept alive only by zombies: gpuvm_put() warns; cleanup frees it. */
static void test_zombies_keep_vm_alive(void **state)
{
	const struct dt_cfg *cfg = cfg_of(state);
	struct gpuvm *vm = dt_vm_create(dt_flags(cfg->resv));
	struct gpuvm_bo *a, *b;
	struct dt_bo x, y;
	uint64_t seen;

	dt_bo_init(&x, dt_owner(vm, cfg->priv));
	dt_bo_init(&y, dt_owner(vm, cfg->priv));
	a = dt_obtain(vm, &x.gem);
	b = dt_obtain(vm, &y.gem);
	extobj_add(a);
	extobj_add(b);
	assert_true(gpuvm_bo_put_deferred(a));
	assert_true(gpuvm_bo_put_deferred(b));
	assert_int_equal(gpuvm_kref_read(&vm->kref), 3);

	tu_expect_warnings(1);
	seen = tu_state()->warns_seen;
	gpuvm_put(vm);
	assert_int_equal(tu_state()->warns_seen, seen + 1);
	assert_non_null(strstr(tu_state()->last_warn, "zombie"));
	assert_int_equal(dt_get(&dt_c()->vm_frees), 0);

	gpuvm_bo_deferred_cleanup(vm);
	/* @vm is gone now. */
	assert_int_equal(dt_get(&dt_c()->vm_frees), 1);
	assert_int_equal(dt_get(&dt_c()->vm_bo_frees), 2);
	bo_put_last(&x);
	bo_put_last(&y);
}

/* ------------------------------------------------------------------ */
/* The fence-signalling path.                                           */

/*
 * The run path of an immediate-mode job: remove a mapping, unlink it and
 * put vm_bos deferred, each the last reference, with the objects' and the
 * VM's last references held only by those vm_bos. Nothing in the section
 * allocates, locks a reservation, or drops a final object or VM reference;
 * the cleanup afterwards frees the objects and the VM.
 */
static void test_section_rules(void **state)
{
	const struct dt_cfg *cfg = cfg_of(state);
	struct gpuvm *vm = dt_vm_create(dt_flags(cfg->resv));
	struct gpuvm_alloc_stats s0, s1;
	struct gpuvm_bo *a, *b, *c;
	struct dt_bo x, y, z;
	struct gpuva va;

	dt_bo_init(&x, dt_owner(vm, cfg->priv));
	dt_bo_init(&y, dt_owner(vm, cfg->priv));
	dt_bo_init(&z, dt_owner(vm, cfg->priv));
	a = dt_obtain(vm, &x.gem);
	b = dt_obtain(vm, &y.gem);
	c = dt_obtain(vm, &z.gem);
	extobj_add(a);
	extobj_add(b);
	evict(c, true);
	va_insert(vm, &va, 0x40000, &y.gem);
	va_link(&va, b);
	assert_false(gpuvm_bo_put_deferred(b));
	gpuvm_bo_get(c);
	gpuvm_gem_put(&x.gem);
	gpuvm_gem_put(&y.gem);
	gpuvm_gem_put(&z.gem);
	/* Only the vm_bos and the mapping keep the VM now. */
	gpuvm_put(vm);

	gpuvm_set_violation_handler(dt_violation_handler, NULL);
	gpuvm_alloc_get_stats(&s0);
	gpuvm_fence_begin_signalling();
	assert_false(gpuvm_bo_put_deferred(c));
	assert_true(gpuvm_bo_put_deferred(a));
	gpuva_remove(&va);
	gpuva_unlink_defer(&va);
	assert_true(gpuvm_bo_put_deferred(c));
	gpuvm_fence_end_signalling();
	gpuvm_alloc_get_stats(&s1);
	assert_int_equal(dt_get(&dt_c()->violations), 0);
	assert_int_equal(s1.total_allocs, s0.total_allocs);
	assert_int_equal(dt_get(&dt_c()->gem_frees), 0);
	assert_int_equal(dt_get(&dt_c()->vm_frees), 0);
	assert_int_equal(dt_zombies(vm), 3);

	gpuvm_bo_deferred_cleanup(vm);
	assert_int_equal(dt_get(&dt_c()->violations), 0);
	assert_int_equal(dt_get(&dt_c()->vm_bo_frees), 3);
	assert_int_equal(dt_get(&dt_c()->gem_frees), 3);
	assert_int_equal(dt_get(&dt_c()->vm_frees), 1);
	gpuvm_set_violation_handler(NULL, NULL);
}

/*
 * Called inside a section, the cleanup is a violation even with nothing
 * queued; the counting handler lets it go on, as the default one would not.
 */
static void test_cleanup_in_section_counted(void **state)
{
	const struct dt_cfg *cfg = cfg_of(state);
	struct gpuvm *vm;
	struct gpuvm_bo *vm_bo;
	struct dt_bo bo;

	if (!gpuvm_checks_enabled())
		skip();
	vm = dt_vm_create(dt_flags(cfg->resv));
	dt_bo_init(&bo, dt_owner(vm, cfg->priv));
	vm_bo = dt_obtain(vm, &bo.gem);
	assert_true(gpuvm_bo_put_deferred(vm_bo));

	gpuvm_set_violation_handler(dt_violation_handler, NULL);
	gpuvm_fence_begin_signalling();
	gpuvm_bo_deferred_cleanup(vm);
	gpuvm_fence_end_signalling();
	assert_true(dt_get(&dt_c()->violations) >= 1);
	assert_int_equal(atomic_load(&dt_c()->first_rule),
			 GPUVM_VIOLATION_GEM_PUT);
	assert_int_equal(
		dt_get(&dt_c()->violation_rule[GPUVM_VIOLATION_WW_LOCK]),
		cfg->resv ? 1 : 0);
	assert_int_equal(dt_get(&dt_c()->vm_bo_frees), 1);

	dt_counters_reset();
	gpuvm_fence_begin_signalling();
	gpuvm_bo_deferred_cleanup(vm);
	gpuvm_fence_end_signalling();
	assert_int_equal(dt_get(&dt_c()->violations), 1);
	assert_int_equal(atomic_load(&dt_c()->first_rule),
			 GPUVM_VIOLATION_GEM_PUT);
	dt_counters_reset();
	gpuvm_set_violation_handler(NULL, NULL);

	/* The resets forgot the vm_bo's allocation and free; both happened. */
	bo_put_last(&bo);
	vm_put_last(vm);
}

/* ------------------------------------------------------------------ */
/* Death tests: misuse aborts with checks enabled.                      */

struct death_arg {
	uint32_t flags;
};

static struct gpuvm_bo *death_vm_bo(uint32_t flags, struct dt_bo *bo,
				    struct gpuvm **vmp)
{
	struct gpuvm *vm = dt_vm_create(flags);

	dt_bo_init(bo, NULL);
	*vmp = vm;
	return gpuvm_bo_create(vm, &bo->gem);
}

static void die_put_deferred_staged(void *arg)
{
	struct gpuvm *vm;
	struct dt_bo bo;
	struct gpuvm_bo *vm_bo = death_vm_bo(0, &bo, &vm);

	(void)arg;
	gpuvm_bo_put_deferred(vm_bo);
}

static void die_unlink_defer_staged(void *arg)
{
	struct gpuvm *vm;
	struct dt_bo bo;
	struct gpuvm_bo *vm_bo;
	struct gpuva va;
	int err;

	(void)arg;
	vm = dt_vm_create(GPUVM_RESV_PROTECTED);
	dt_bo_init(&bo, NULL);
	memset(&va, 0, sizeof(va));
	va.va.addr = 0x10000;
	va.va.range = 0x1000;
	va.gem.obj = &bo.gem;
	if (gpuva_insert(vm, &va))
		return;
	gpuvm_resv_lock(bo.gem.resv, NULL);
	vm_bo = gpuvm_bo_obtain_locked(vm, &bo.gem, &err);
	gpuva_link(&va, vm_bo);
	gpuvm_resv_unlock(bo.gem.resv);
	gpuva_unlink_defer(&va);
}

static void die_obtain_prealloc_staged(void *arg)
{
	struct gpuvm *vm;
	struct dt_bo bo;
	struct gpuvm_bo *vm_bo = death_vm_bo(0, &bo, &vm);

	(void)arg;
	gpuvm_bo_obtain_prealloc(vm_bo);
}

static void die_cleanup_in_section(void *arg)
{
	const struct death_arg *d = arg;
	struct gpuvm *vm = dt_vm_create(d->flags);

	gpuvm_set_violation_handler(NULL, NULL);
	gpuvm_fence_begin_signalling();
	gpuvm_bo_deferred_cleanup(vm);
}

static void die_put_holding_gem_mutex(void *arg)
{
	const struct death_arg *d = arg;
	struct gpuvm *vm;
	struct dt_bo bo;
	struct gpuvm_bo *vm_bo = death_vm_bo(d->flags, &bo, &vm);

	vm_bo = gpuvm_bo_obtain_prealloc(vm_bo);
	gpuvm_gem_gpuva_lock(&bo.gem);
	gpuvm_bo_put_deferred(vm_bo);
}

static void die_unlink_holding_gem_mutex(void *arg)
{
	const struct death_arg *d = arg;
	struct gpuvm *vm;
	struct dt_bo bo;
	struct gpuvm_bo *vm_bo = death_vm_bo(d->flags, &bo, &vm);
	struct gpuva va;

	vm_bo = gpuvm_bo_obtain_prealloc(vm_bo);
	memset(&va, 0, sizeof(va));
	va.va.addr = 0x10000;
	va.va.range = 0x1000;
	va.gem.obj = &bo.gem;
	if (gpuva_insert(vm, &va))
		return;
	gpuvm_gem_gpuva_lock(&bo.gem);
	gpuva_link(&va, vm_bo);
	gpuva_unlink_defer(&va);
}

static void die_cleanup_holding_vm_resv(void *arg)
{
	const struct death_arg *d = arg;
	struct gpuvm *vm;
	struct dt_bo bo;
	struct gpuvm_bo *vm_bo = death_vm_bo(d->flags, &bo, &vm);

	vm_bo = gpuvm_bo_obtain_prealloc(vm_bo);
	gpuvm_bo_put_deferred(vm_bo);
	gpuvm_resv_lock(gpuvm_vm_resv(vm), NULL);
	gpuvm_bo_deferred_cleanup(vm);
}

static void die_put_deferred_twice(void *arg)
{
	const struct death_arg *d = arg;
	struct gpuvm *vm;
	struct dt_bo bo;
	struct gpuvm_bo *vm_bo = death_vm_bo(d->flags, &bo, &vm);

	vm_bo = gpuvm_bo_obtain_prealloc(vm_bo);
	gpuvm_bo_put_deferred(vm_bo);
	gpuvm_bo_put_deferred(vm_bo);
}

static void die_unlink_defer_twice(void *arg)
{
	const struct death_arg *d = arg;
	struct gpuvm *vm;
	struct dt_bo bo;
	struct gpuvm_bo *vm_bo = death_vm_bo(d->flags, &bo, &vm);
	struct gpuva va;

	vm_bo = gpuvm_bo_obtain_prealloc(vm_bo);
	memset(&va, 0, sizeof(va));
	va.va.addr = 0x10000;
	va.va.range = 0x1000;
	va.gem.obj = &bo.gem;
	if (gpuva_insert(vm, &va))
		return;
	gpuvm_gem_gpuva_lock(&bo.gem);
	gpuva_link(&va, vm_bo);
	gpuvm_gem_gpuva_unlock(&bo.gem);
	gpuva_unlink_defer(&va);
	gpuva_unlink_defer(&va);
}

static void test_death_staged(void **state)
{
	(void)state;
	TD_NEED_CHECKS();
	TD_EXPECT_DEATH(die_put_deferred_staged, NULL,
			"gpuvm_bo_put_deferred() on VM 'deferred', which is "
			"not in immediate mode");
	TD_EXPECT_DEATH(die_unlink_defer_staged, NULL,
			"gpuva_unlink_defer() on VM 'deferred', which is not "
			"in immediate mode");
	TD_EXPECT_DEATH(die_obtain_prealloc_staged, NULL,
			"gpuvm_bo_obtain_prealloc() on VM 'deferred', which "
			"is not in immediate mode");
}

static void test_death_context(void **state)
{
	const struct dt_cfg *cfg = cfg_of(state);
	struct death_arg d = { .flags = dt_flags(cfg->resv) };

	TD_NEED_CHECKS();
	TD_EXPECT_DEATH(die_cleanup_in_section, &d,
			"gpuvm_bo_deferred_cleanup()");
	TD_EXPECT_DEATH(die_put_holding_gem_mutex, &d,
			"recursive lock would deadlock");
	TD_EXPECT_DEATH(die_unlink_holding_gem_mutex, &d,
			"recursive lock would deadlock");
	TD_EXPECT_DEATH(die_put_deferred_twice, &d,
			"gpuvm_bo_put_deferred(): vm_bo");
	TD_EXPECT_DEATH(die_unlink_defer_twice, &d,
			"gpuva_unlink_defer(): the mapping at 0x10000 is not "
			"linked");
	if (cfg->resv)
		TD_EXPECT_DEATH(die_cleanup_holding_vm_resv, &d,
				"already held by this thread");
}

/* ------------------------------------------------------------------ */

#define DT_T(f, c)                                                             \
	{                                                                      \
		.name = #f "/" #c, .test_func = f, .setup_func = dt_setup,     \
		.teardown_func = dt_teardown, .initial_state = (void *)&c,     \
	}

#define DT_T4(f)                                                               \
	DT_T(f, cfg_ext), DT_T(f, cfg_priv), DT_T(f, cfg_resv_ext),            \
		DT_T(f, cfg_resv_priv)

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		DT_T4(test_put_deferred),
		DT_T4(test_put_deferred_many),
		DT_T4(test_unlink_defer),
		DT_T4(test_lookup_skips_zombie),
		DT_T4(test_walks_skip_zombie),
		DT_T4(test_cleanup_drops_last_gem_ref),
		DT_T4(test_cleanup_two_vms),
		DT_T4(test_cleanup_locks_resv_once),
		DT_T4(test_lookup_beats_last_put),
		DT_T4(test_queue_after_unlock),
		DT_T4(test_zombies_keep_vm_alive),
		DT_T4(test_section_rules),
		DT_T4(test_cleanup_in_section_counted),
		DT_T(test_death_staged, cfg_ext),
		DT_T(test_death_context, cfg_ext),
		DT_T(test_death_context, cfg_resv_ext),
	};

	tu_init(argc, argv, 1, 0);
	return cmocka_run_group_tests_name("deferred", tests, NULL,
					   dt_group_teardown);
}
