// SPDX-License-Identifier: MIT
/*
 * Copyright (c) 2026 The libgpuvm authors
 *
 * Concurrent extobj/evict lists of VMs that are not resv-protected: mutator
 * threads create and drop vm_bos (obtain + extobj_add / put) and evict and
 * un-evict them under each object's reservation, while walker threads run
 * gpuvm_prepare_objects() + gpuvm_validate() in an exec, serialised among
 * themselves by an outer mutex as the lock-free walk requires. At the end
 * every list must hold exactly what the bookkeeping says: nothing lost,
 * nothing twice.
 *
 * Bookkeeping: for each (VM, object) pair, under the object's reservation,
 * the vm_bo the mutators own a reference to (or NULL), whether it is
 * evicted, and whether a walker has locked it while it was listed
 * ("established").
 *
 * Why "established": a walker validates every vm_bo on the evict list, and
 * the validation (like the final put of the walk's reference) needs the
 * object's reservation. The walker holds the reservation of every object
 * that was on the extobj list when its walk began; a vm_bo created after
 * that is not locked by it. So mutators evict an external vm_bo only once
 * a walker has locked it while listed: from then on it stays listed until
 * destroyed, so every later walk locks it before validating. Mutators take
 * reservations without an acquire context and one at a time, so a walker
 * waits for them and never backs off with a reference it cannot drop.
 *
 * Arguments: --seed N (or GPUVM_SEED), --iterations N (mutator rounds).
 */
#include <sched.h>

#include "objtest.h"

#define NVM   2
#define NEXT  24
#define NPRIV 4 /* private objects per VM */
#define NOBJ  (NEXT + NVM * NPRIV)
#define NMUT  3
#define NWALK 2

struct pair {
	struct gpuvm_bo *vm_bo;
	bool evicted;
	bool established;
};

struct sobj {
	struct ot_bo bo;
	int private_to; /* the VM index, or -1 for an external object */
	struct pair st[NVM];
};

static struct gpuvm *vms[NVM];
static struct sobj objs[NOBJ];
static pthread_mutex_t walk_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_uint failures;
static atomic_ulong n_obtain, n_put, n_evict, n_unevict, n_validated, n_walks,
	n_reused;

#define FAIL(...)                                                              \
	do {                                                                   \
		fprintf(stderr, __VA_ARGS__);                                  \
		fputc('\n', stderr);                                           \
		atomic_fetch_add(&failures, 1);                                \
	} while (0)

static unsigned int vm_index(const struct gpuvm *vm)
{
	for (unsigned int i = 0; i < NVM; i++)
		if (vms[i] == vm)
			return i;
	abort();
}

static struct sobj *to_sobj(struct gpuvm_gem *obj)
{
	return gpuvm_container_of(obj, struct sobj, bo.gem);
}

static int stress_validate(struct gpuvm_bo *vm_bo, struct gpuvm_exec *exec)
{
	struct sobj *o = to_sobj(vm_bo->obj);
	struct pair *p = &o->st[vm_index(vm_bo->vm)];

	(void)exec;
	if (!gpuvm_resv_is_held(vm_bo->obj->resv)) {
		FAIL("validate: object %td not locked by the walker", o - objs);
		return -EIO;
	}
	if (p->vm_bo != vm_bo)
		FAIL("validate: vm_bo of object %td not owned", o - objs);
	if (!vm_bo->evicted || !p->evicted)
		FAIL("validate: object %td not evicted", o - objs);
	p->evicted = false;
	gpuvm_bo_evict(vm_bo, false);
	atomic_fetch_add(&n_validated, 1);
	return 0;
}

static const struct gpuvm_ops stress_ops = {
	.vm_free = ot_vm_free,
	.vm_bo_validate = stress_validate,
};

/* One mutation of a random (VM, object) pair, under the object's lock. */
static void mutate(struct tu_rng *rng)
{
	unsigned int v = (unsigned int)tu_rng_below(rng, NVM);
	struct sobj *o = &objs[tu_rng_below(rng, NOBJ)];
	struct gpuvm_gem *obj = &o->bo.gem;
	struct pair *p = &o->st[v];
	bool external = gpuvm_is_extobj(vms[v], obj);
	struct gpuvm_bo *vm_bo;
	int err;

	if (gpuvm_resv_lock(obj->resv, NULL))
		abort();
	if (!p->vm_bo) {
		vm_bo = gpuvm_bo_obtain_locked(vms[v], obj, &err);
		if (!vm_bo) {
			FAIL("obtain failed: %d", err);
			goto out;
		}
		/* Still alive through a walk's reference: reused. */
		if (gpuvm_kref_read(&vm_bo->kref) > 1)
			atomic_fetch_add(&n_reused, 1);
		gpuvm_bo_extobj_add(vm_bo);
		p->vm_bo = vm_bo;
		p->evicted = vm_bo->evicted;
		p->established = false;
		atomic_fetch_add(&n_obtain, 1);
		goto out;
	}
	vm_bo = p->vm_bo;
	switch (tu_rng_below(rng, 5)) {
	case 0:
		p->vm_bo = NULL;
		p->evicted = false;
		p->established = false;
		gpuvm_bo_put(vm_bo);
		atomic_fetch_add(&n_put, 1);
		break;
	case 1:
	case 2:
		if (p->evicted || (external && !p->established))
			break;
		gpuvm_bo_evict(vm_bo, true);
		p->evicted = true;
		atomic_fetch_add(&n_evict, 1);
		break;
	case 3:
		if (!p->evicted)
			break;
		gpuvm_bo_evict(vm_bo, false);
		p->evicted = false;
		atomic_fetch_add(&n_unevict, 1);
		break;
	default:
		/* Reference churn and an idempotent add. */
		if (gpuvm_bo_find(vms[v], obj) != vm_bo)
			FAIL("find: another vm_bo");
		gpuvm_bo_extobj_add(vm_bo);
		gpuvm_bo_put(vm_bo);
		break;
	}
out:
	gpuvm_resv_unlock(obj->resv);
}

static void *mutator_fn(void *arg)
{
	struct tu_rng *rng = arg;
	uint64_t rounds = tu_state()->iterations;

	for (uint64_t r = 0; r < rounds; r++) {
		mutate(rng);
		if (tu_rng_chance(rng, 5))
			sched_yield();
	}
	return NULL;
}

static void walk(unsigned int v)
{
	struct gpuvm *vm = vms[v];
	struct gpuvm_exec exec;
	int ret = 0;

	pthread_mutex_lock(&walk_lock);
	gpuvm_exec_init(&exec, GPUVM_EXEC_IGNORE_DUPLICATES, 0);
	gpuvm_exec_until_all_locked(&exec) {
		ret = gpuvm_prepare_vm(vm, &exec, 1);
		gpuvm_exec_retry_on_contention(&exec);
		if (ret)
			break;
		ret = gpuvm_prepare_objects(vm, &exec, 1);
		gpuvm_exec_retry_on_contention(&exec);
		if (ret)
			break;
	}
	if (ret) {
		FAIL("walk: locking failed with %d", ret);
		goto out;
	}
	/* Every listed vm_bo whose object we now hold is established. */
	for (unsigned int i = 0; i < NOBJ; i++) {
		struct pair *p = &objs[i].st[v];

		if (gpuvm_resv_is_held(objs[i].bo.gem.resv) && p->vm_bo)
			p->established = true;
	}
	ret = gpuvm_validate(vm, &exec);
	if (ret)
		FAIL("walk: validate failed with %d", ret);
	if (!gpuvm_list_empty(&vm->evict.list))
		FAIL("walk: evict list not empty after validation");
	atomic_fetch_add(&n_walks, 1);
out:
	gpuvm_exec_fini(&exec);
	pthread_mutex_unlock(&walk_lock);
}

struct walker {
	struct tu_rng rng;
	atomic_bool *stop;
};

static void *walker_fn(void *arg)
{
	struct walker *w = arg;

	/* At least a few walks, then as many as the mutators leave room for. */
	for (unsigned int n = 0; n < 8 || !atomic_load(w->stop); n++) {
		walk((unsigned int)tu_rng_below(&w->rng, NVM));
		if (tu_rng_chance(&w->rng, 20))
			sched_yield();
	}
	return NULL;
}

/* Checks the lists of every VM against the bookkeeping. */
static void check_lists(void)
{
	for (unsigned int v = 0; v < NVM; v++) {
		struct gpuvm *vm = vms[v];
		unsigned int on_ext[NOBJ] = { 0 }, on_evict[NOBJ] = { 0 };
		struct gpuvm_bo *it;

		assert_null(vm->extobj.local_list);
		assert_null(vm->evict.local_list);
		gpuvm_list_for_each_entry(it, &vm->extobj.list, struct gpuvm_bo,
					  list.entry.extobj) {
			assert_ptr_equal(it->vm, vm);
			on_ext[to_sobj(it->obj) - objs]++;
		}
		gpuvm_list_for_each_entry(it, &vm->evict.list, struct gpuvm_bo,
					  list.entry.evict) {
			assert_ptr_equal(it->vm, vm);
			on_evict[to_sobj(it->obj) - objs]++;
		}
		for (unsigned int i = 0; i < NOBJ; i++) {
			struct pair *p = &objs[i].st[v];
			bool external = gpuvm_is_extobj(vm, &objs[i].bo.gem);

			if (!p->vm_bo) {
				assert_int_equal(on_ext[i], 0);
				assert_int_equal(on_evict[i], 0);
				continue;
			}
			assert_int_equal(gpuvm_kref_read(&p->vm_bo->kref), 1);
			assert_int_equal(on_ext[i], external ? 1 : 0);
			assert_int_equal(on_evict[i], p->evicted ? 1 : 0);
			assert_int_equal(p->vm_bo->evicted, p->evicted);
		}
	}
	for (unsigned int i = 0; i < NOBJ; i++) {
		unsigned int want = 0;
		struct gpuvm_bo *it;

		for (unsigned int v = 0; v < NVM; v++)
			want += objs[i].st[v].vm_bo != NULL;
		assert_int_equal(ot_gem_vm_bo_count(&objs[i].bo.gem), want);
		gpuvm_gem_for_each_vm_bo(it, &objs[i].bo.gem)
			assert_ptr_equal(objs[i].st[vm_index(it->vm)].vm_bo,
					 it);
	}
}

static void test_extobj_evict_stress(void **state)
{
	struct tu_state *st = tu_state();
	pthread_t mut[NMUT], wlk[NWALK];
	struct tu_rng mrng[NMUT];
	struct walker w[NWALK];
	atomic_bool stop;
	uint64_t x = st->seed;
	unsigned int i, v, evicted_left = 0;

	(void)state;
	atomic_init(&stop, false);
	for (v = 0; v < NVM; v++)
		vms[v] = ot_vm_new(0, true, &stress_ops);
	memset(objs, 0, sizeof(objs));
	for (i = 0; i < NOBJ; i++) {
		if (i < NEXT) {
			ot_bo_init(&objs[i].bo, 4096);
			objs[i].private_to = -1;
		} else {
			v = (i - NEXT) / NPRIV;
			ot_bo_init_priv(&objs[i].bo, 4096, vms[v]->r_obj);
			objs[i].private_to = (int)v;
		}
	}
	for (i = 0; i < NMUT; i++)
		tu_rng_seed(&mrng[i], tu_splitmix64(&x));
	for (i = 0; i < NWALK; i++) {
		tu_rng_seed(&w[i].rng, tu_splitmix64(&x));
		w[i].stop = &stop;
	}

	for (i = 0; i < NWALK; i++)
		assert_int_equal(
			pthread_create(&wlk[i], NULL, walker_fn, &w[i]), 0);
	for (i = 0; i < NMUT; i++)
		assert_int_equal(
			pthread_create(&mut[i], NULL, mutator_fn, &mrng[i]), 0);
	for (i = 0; i < NMUT; i++)
		pthread_join(mut[i], NULL);
	atomic_store(&stop, true);
	for (i = 0; i < NWALK; i++)
		pthread_join(wlk[i], NULL);

	for (v = 0; v < NVM; v++)
		for (i = 0; i < NOBJ; i++)
			evicted_left += objs[i].st[v].evicted;
	printf("extobj/evict stress: %u mutators x %" PRIu64
	       " rounds: %lu obtained (%lu reused), %lu dropped, %lu "
	       "evicted, %lu un-evicted; %lu walks validated %lu; %u left "
	       "evicted\n",
	       NMUT, st->iterations, atomic_load(&n_obtain),
	       atomic_load(&n_reused), atomic_load(&n_put),
	       atomic_load(&n_evict), atomic_load(&n_unevict),
	       atomic_load(&n_walks), atomic_load(&n_validated), evicted_left);
	assert_int_equal(atomic_load(&failures), 0);
	check_lists();

	/* A last walk per VM validates whatever is left. */
	for (v = 0; v < NVM; v++)
		walk(v);
	assert_int_equal(atomic_load(&failures), 0);
	for (v = 0; v < NVM; v++)
		for (i = 0; i < NOBJ; i++)
			assert_false(objs[i].st[v].evicted);
	check_lists();

	/* Tear down: drop the owned references, then the VMs and objects. */
	for (v = 0; v < NVM; v++) {
		for (i = 0; i < NOBJ; i++) {
			struct pair *p = &objs[i].st[v];

			if (!p->vm_bo)
				continue;
			ot_lock(&objs[i].bo.gem);
			assert_true(gpuvm_bo_put(p->vm_bo));
			ot_unlock(&objs[i].bo.gem);
			p->vm_bo = NULL;
		}
	}
	for (i = 0; i < NOBJ; i++)
		ot_bo_put_last(&objs[i].bo);
	for (v = 0; v < NVM; v++)
		ot_vm_put_last(vms[v]);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		OT_TEST(test_extobj_evict_stress),
	};

	tu_init(argc, argv, 0xe7b0b1ec7ull, 4000);
	return cmocka_run_group_tests_name("objects-vm-bo-stress", tests, NULL,
					   NULL);
}
