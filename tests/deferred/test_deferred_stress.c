// SPDX-License-Identifier: MIT
/*
 * Copyright (c) 2026 The libgpuvm authors
 *
 * Concurrency stress of immediate mode's deferred vm_bo cleanup, in the
 * shape of a driver: one immediate-mode VM and a set of object slots whose
 * objects are dropped and recreated while
 *
 * - two run-path threads, inside fence-signalling sections, insert and link
 *   mappings (vm_bos obtained with gpuvm_bo_create() +
 *   gpuvm_bo_obtain_prealloc() before the section, tree nodes reserved
 *   before it, as at submit time), unlink them with gpuva_unlink_defer()
 *   and drop extra references with gpuvm_bo_put_deferred();
 * - one or two ioctl threads obtain, find (under the object's gpuva mutex),
 *   get and put vm_bos of the same objects deferred, add them to the extobj
 *   list and mark them evicted, and replace the slots' objects;
 * - one thread runs gpuvm_bo_deferred_cleanup() in a loop;
 * - in a resv-protected VM, one more thread locks the VM and its external
 *   objects and validates (walks that must skip zombies).
 *
 * The VA tree is not thread-safe: a test mutex serialises its updates, as a
 * driver's VM lock does. Conservation at the end: every vm_bo allocated was
 * freed once, every object initialised was freed once, no violation was
 * reported inside the sections, and the library holds no allocation.
 *
 * Options: --seed N (or GPUVM_SEED), --iterations N (rounds per thread),
 * --soak SECONDS (repeat whole runs with new seeds until the time is up;
 * for long runs by hand, not used by the test suite).
 */
#include <pthread.h>
#include <sched.h>
#include <time.h>

#include "deftest.h"

#define NSLOTS	8
#define NRUN	2
#define NIOCTL	2
#define MAXMAP	12
#define MAXHELD 6

struct slot {
	pthread_mutex_t lock;
	struct dt_bo *bo;
};

struct run {
	struct gpuvm *vm;
	bool resv;
	uint64_t seed;
	uint64_t rounds;
	struct slot slots[NSLOTS];
	pthread_mutex_t tree_lock;
	atomic_uint running;
	/* Statistics, for the summary line. */
	atomic_ulong zombies_made;
	atomic_ulong cleanups;
	atomic_ulong finds_hit;
	atomic_ulong recycled;
	atomic_ulong validations;
};

/* ------------------------------------------------------------------ */
/* Warnings.                                                            */

/*
 * gpuvm_put() warns when it sees a VM kept alive only by zombies. It reads
 * the zombie count and the VM's count one after the other, without a lock,
 * so a put racing with a cleanup can read a count of zombies that the
 * cleanup destroyed before the VM's count was read, and warn although
 * other references remain. Here the main thread holds a VM reference
 * throughout, so every such warning is a false positive: they are counted
 * and reported, not failed on. Any other warning fails the run.
 */
struct warn_log {
	pthread_mutex_t lock;
	unsigned long zombie_false_positives;
	unsigned long others;
	char other[256];
};

static struct warn_log wlog = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void stress_warn(const char *msg, void *data)
{
	(void)data;
	pthread_mutex_lock(&wlog.lock);
	if (strstr(msg, "is kept alive only by")) {
		wlog.zombie_false_positives++;
	} else {
		wlog.others++;
		snprintf(wlog.other, sizeof(wlog.other), "%s", msg);
	}
	pthread_mutex_unlock(&wlog.lock);
}

/* ------------------------------------------------------------------ */
/* Objects.                                                             */

static struct dt_bo *bo_new(struct run *r, bool priv)
{
	struct dt_bo *bo = malloc(sizeof(*bo));

	if (!bo)
		abort();
	dt_bo_init(bo, priv ? r->vm->r_obj : NULL);
	bo->heap = true;
	return bo;
}

/* A reference on the object in slot @i, which may be replaced meanwhile. */
static struct dt_bo *slot_get(struct run *r, unsigned int i)
{
	struct slot *s = &r->slots[i];
	struct dt_bo *bo;

	pthread_mutex_lock(&s->lock);
	bo = s->bo;
	gpuvm_gem_get(&bo->gem);
	pthread_mutex_unlock(&s->lock);
	return bo;
}

/* Drops the slot's reference on its object and puts a new one there. */
static void slot_recycle(struct run *r, unsigned int i, bool priv)
{
	struct dt_bo *nbo = bo_new(r, priv), *old;
	struct slot *s = &r->slots[i];

	pthread_mutex_lock(&s->lock);
	old = s->bo;
	s->bo = nbo;
	pthread_mutex_unlock(&s->lock);
	gpuvm_gem_put(&old->gem);
	atomic_fetch_add(&r->recycled, 1);
}

static void check(bool cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "stress check failed: %s\n", what);
		abort();
	}
}

/* ------------------------------------------------------------------ */
/* Run-path threads.                                                    */

struct mapping {
	struct gpuva va;
	bool used;
};

struct run_thread {
	struct run *r;
	unsigned int idx;
	struct tu_rng rng;
	struct mapping map[MAXMAP];
	unsigned int nmap;
};

static uint64_t map_addr(const struct run_thread *t, unsigned int k)
{
	return ((uint64_t)(t->idx + 1) << 32) + (uint64_t)k * 0x10000;
}

static void put_counted(struct run *r, struct gpuvm_bo *vm_bo)
{
	if (gpuvm_bo_put_deferred(vm_bo))
		atomic_fetch_add(&r->zombies_made, 1);
}

/*
 * Submit time: obtain the vm_bo and reserve a tree node. Run time (the
 * section): insert, link, drop the extra references deferred.
 */
static void run_map(struct run_thread *t, unsigned int k)
{
	struct run *r = t->r;
	struct mapping *m = &t->map[k];
	unsigned int slot = (unsigned int)tu_rng_below(&t->rng, NSLOTS);
	struct dt_bo *bo = slot_get(r, slot);
	struct gpuvm_bo *vm_bo = dt_obtain(r->vm, &bo->gem);
	bool extra = tu_rng_chance(&t->rng, 50);
	bool drop_early = tu_rng_chance(&t->rng, 50);
	size_t nodes;

	pthread_mutex_lock(&r->tree_lock);
	check(gpuvm_va_reserve(r->vm, 1, &nodes) == 0, "va_reserve");
	pthread_mutex_unlock(&r->tree_lock);
	/* The vm_bo keeps the object from here on. */
	if (drop_early)
		gpuvm_gem_put(&bo->gem);

	memset(&m->va, 0, sizeof(m->va));
	m->va.va.addr = map_addr(t, k);
	m->va.va.range = 0x1000;
	m->va.gem.obj = &bo->gem;

	gpuvm_fence_begin_signalling();
	pthread_mutex_lock(&r->tree_lock);
	check(gpuva_insert(r->vm, &m->va) == 0, "gpuva_insert");
	pthread_mutex_unlock(&r->tree_lock);
	gpuvm_gem_gpuva_lock(&bo->gem);
	gpuva_link(&m->va, vm_bo);
	gpuvm_gem_gpuva_unlock(&bo->gem);
	if (extra) {
		gpuvm_bo_get(vm_bo);
		put_counted(r, vm_bo);
	}
	/* The link holds its own reference. */
	put_counted(r, vm_bo);
	gpuvm_fence_end_signalling();

	pthread_mutex_lock(&r->tree_lock);
	gpuvm_va_unreserve(r->vm, nodes);
	pthread_mutex_unlock(&r->tree_lock);
	if (!drop_early)
		gpuvm_gem_put(&bo->gem);
	m->used = true;
	t->nmap++;
}

static void run_unmap(struct run_thread *t, unsigned int k)
{
	struct run *r = t->r;
	struct mapping *m = &t->map[k];

	gpuvm_fence_begin_signalling();
	pthread_mutex_lock(&r->tree_lock);
	gpuva_remove(&m->va);
	pthread_mutex_unlock(&r->tree_lock);
	if (m->va.vm_bo && tu_rng_chance(&t->rng, 30)) {
		gpuvm_bo_get(m->va.vm_bo);
		put_counted(r, m->va.vm_bo);
	}
	gpuva_unlink_defer(&m->va);
	gpuvm_fence_end_signalling();
	check(m->va.vm_bo == NULL, "unlink_defer cleared vm_bo");
	m->used = false;
	t->nmap--;
}

static void *run_fn(void *arg)
{
	struct run_thread *t = arg;
	struct run *r = t->r;
	uint64_t i;
	unsigned int k;

	for (i = 0; i < r->rounds; i++) {
		k = (unsigned int)tu_rng_below(&t->rng, MAXMAP);
		if (t->map[k].used)
			run_unmap(t, k);
		else
			run_map(t, k);
		if (tu_rng_chance(&t->rng, 5))
			sched_yield();
	}
	for (k = 0; k < MAXMAP; k++)
		if (t->map[k].used)
			run_unmap(t, k);
	atomic_fetch_sub(&r->running, 1);
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Ioctl threads.                                                       */

struct held {
	struct gpuvm_bo *vm_bo;
	struct dt_bo *bo;
};

struct ioctl_thread {
	struct run *r;
	unsigned int idx;
	struct tu_rng rng;
	struct held held[MAXHELD];
	unsigned int nheld;
};

static void hold(struct ioctl_thread *t, struct gpuvm_bo *vm_bo,
		 struct dt_bo *bo)
{
	check(vm_bo->vm == t->r->vm && vm_bo->obj == &bo->gem,
	      "vm_bo belongs to its VM and object");
	check(!gpuvm_bo_is_zombie(vm_bo), "held vm_bo is alive");
	t->held[t->nheld].vm_bo = vm_bo;
	t->held[t->nheld].bo = bo;
	t->nheld++;
}

static void release(struct ioctl_thread *t, unsigned int h)
{
	struct held x = t->held[h];

	t->held[h] = t->held[--t->nheld];
	put_counted(t->r, x.vm_bo);
	gpuvm_gem_put(&x.bo->gem);
}

static void ioctl_extobj_add(struct run *r, struct gpuvm_bo *vm_bo)
{
	struct gpuvm_resv *resv = gpuvm_vm_resv(r->vm);

	if (r->resv)
		check(gpuvm_resv_lock(resv, NULL) == 0, "lock VM resv");
	gpuvm_bo_extobj_add(vm_bo);
	if (r->resv)
		gpuvm_resv_unlock(resv);
}

static void ioctl_evict(struct gpuvm_bo *vm_bo, bool on)
{
	struct gpuvm_resv *resv = vm_bo->obj->resv;

	check(gpuvm_resv_lock(resv, NULL) == 0, "lock object resv");
	gpuvm_bo_evict(vm_bo, on);
	gpuvm_resv_unlock(resv);
}

static void ioctl_step(struct ioctl_thread *t)
{
	struct run *r = t->r;
	unsigned int op = (unsigned int)tu_rng_below(&t->rng, 100);
	unsigned int slot = (unsigned int)tu_rng_below(&t->rng, NSLOTS);
	struct gpuvm_bo *vm_bo;
	struct dt_bo *bo;

	if (t->nheld == MAXHELD || (op < 25 && t->nheld)) {
		release(t, (unsigned int)tu_rng_below(&t->rng, t->nheld));
		return;
	}
	if (op < 45) {
		bo = slot_get(r, slot);
		hold(t, dt_obtain(r->vm, &bo->gem), bo);
	} else if (op < 65) {
		bo = slot_get(r, slot);
		gpuvm_gem_gpuva_lock(&bo->gem);
		vm_bo = gpuvm_bo_find(r->vm, &bo->gem);
		gpuvm_gem_gpuva_unlock(&bo->gem);
		if (vm_bo) {
			atomic_fetch_add(&r->finds_hit, 1);
			hold(t, vm_bo, bo);
		} else {
			gpuvm_gem_put(&bo->gem);
		}
	} else if (op < 75 && t->nheld) {
		struct held *h = &t->held[tu_rng_below(&t->rng, t->nheld)];

		hold(t, gpuvm_bo_get(h->vm_bo), h->bo);
		gpuvm_gem_get(&h->bo->gem);
	} else if (op < 85 && t->nheld) {
		struct held *h = &t->held[tu_rng_below(&t->rng, t->nheld)];

		if (tu_rng_chance(&t->rng, 50))
			ioctl_extobj_add(r, h->vm_bo);
		else
			ioctl_evict(h->vm_bo, tu_rng_chance(&t->rng, 60));
	} else if (op < 92) {
		slot_recycle(r, slot, tu_rng_chance(&t->rng, 50));
	} else {
		sched_yield();
	}
}

static void *ioctl_fn(void *arg)
{
	struct ioctl_thread *t = arg;
	struct run *r = t->r;
	uint64_t i;

	for (i = 0; i < r->rounds; i++)
		ioctl_step(t);
	while (t->nheld)
		release(t, t->nheld - 1);
	atomic_fetch_sub(&r->running, 1);
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Cleanup and validation threads.                                      */

static void *cleanup_fn(void *arg)
{
	struct run *r = arg;

	while (atomic_load(&r->running)) {
		gpuvm_bo_deferred_cleanup(r->vm);
		atomic_fetch_add(&r->cleanups, 1);
		sched_yield();
	}
	return NULL;
}

/* Resv-protected only: the other mode's walks may not run concurrently. */
static void *validate_fn(void *arg)
{
	struct run *r = arg;
	struct gpuvm_vm_exec ve;

	while (atomic_load(&r->running)) {
		memset(&ve, 0, sizeof(ve));
		ve.vm = r->vm;
		ve.flags = GPUVM_EXEC_IGNORE_DUPLICATES;
		ve.num_fences = 1;
		check(gpuvm_vm_exec_lock(&ve) == 0, "vm_exec_lock");
		check(gpuvm_validate(r->vm, &ve.exec) == 0, "validate");
		gpuvm_vm_exec_unlock(&ve);
		atomic_fetch_add(&r->validations, 1);
		sched_yield();
	}
	return NULL;
}

/* ------------------------------------------------------------------ */

static void run_once(bool resv, uint64_t seed, uint64_t rounds)
{
	struct run_thread rt[NRUN];
	struct ioctl_thread it[NIOCTL];
	pthread_t th_run[NRUN], th_ioctl[NIOCTL], th_clean, th_val;
	struct tu_rng rng;
	unsigned int i, nioctl;
	struct run *r = calloc(1, sizeof(*r));
	uint64_t x = seed;

	unsigned long fp0 = wlog.zombie_false_positives;

	assert_non_null(r);
	tu_rng_seed(&rng, seed);
	dt_counters_reset();
	r->vm = dt_vm_create(dt_flags(resv));
	r->resv = resv;
	r->seed = seed;
	r->rounds = rounds;
	pthread_mutex_init(&r->tree_lock, NULL);
	for (i = 0; i < NSLOTS; i++) {
		pthread_mutex_init(&r->slots[i].lock, NULL);
		r->slots[i].bo = bo_new(r, tu_rng_chance(&rng, 50));
	}
	nioctl = 1 + (unsigned int)tu_rng_below(&rng, NIOCTL);
	atomic_init(&r->running, NRUN + nioctl);

	gpuvm_set_violation_handler(dt_violation_handler, NULL);
	gpuvm_set_warn_handler(stress_warn, NULL);
	for (i = 0; i < NRUN; i++) {
		memset(&rt[i], 0, sizeof(rt[i]));
		rt[i].r = r;
		rt[i].idx = i;
		tu_rng_seed(&rt[i].rng, tu_splitmix64(&x));
	}
	for (i = 0; i < nioctl; i++) {
		memset(&it[i], 0, sizeof(it[i]));
		it[i].r = r;
		it[i].idx = i;
		tu_rng_seed(&it[i].rng, tu_splitmix64(&x));
	}
	assert_int_equal(pthread_create(&th_clean, NULL, cleanup_fn, r), 0);
	if (resv)
		assert_int_equal(pthread_create(&th_val, NULL, validate_fn, r),
				 0);
	for (i = 0; i < NRUN; i++)
		assert_int_equal(
			pthread_create(&th_run[i], NULL, run_fn, &rt[i]), 0);
	for (i = 0; i < nioctl; i++)
		assert_int_equal(
			pthread_create(&th_ioctl[i], NULL, ioctl_fn, &it[i]),
			0);
	for (i = 0; i < NRUN; i++)
		assert_int_equal(pthread_join(th_run[i], NULL), 0);
	for (i = 0; i < nioctl; i++)
		assert_int_equal(pthread_join(th_ioctl[i], NULL), 0);
	assert_int_equal(pthread_join(th_clean, NULL), 0);
	if (resv)
		assert_int_equal(pthread_join(th_val, NULL), 0);
	gpuvm_set_violation_handler(NULL, NULL);
	gpuvm_set_warn_handler(tu_warn_handler, tu_state());
	tu_expect_warnings(wlog.zombie_false_positives - fp0);
	if (wlog.others)
		fail_msg("seed %" PRIu64 ": %lu unexpected warning(s), the "
			 "last: %s",
			 seed, wlog.others, wlog.other);

	/* Everything is put: a last cleanup empties the queue. */
	gpuvm_bo_deferred_cleanup(r->vm);
	assert_int_equal(dt_zombies(r->vm), 0);
	assert_true(gpuvm_llist_empty(&r->vm->bo_defer));
	assert_int_equal(dt_get(&dt_c()->vm_bo_allocs),
			 dt_get(&dt_c()->vm_bo_frees));
	assert_true(gpuvm_list_empty(&r->vm->extobj.list));
	assert_true(gpuvm_list_empty(&r->vm->evict.list));
	assert_int_equal(gpuvm_kref_read(&r->vm->kref), 1);
	for (i = 0; i < NSLOTS; i++) {
		struct dt_bo *bo = r->slots[i].bo;

		assert_int_equal(dt_bo_refs(bo), 1);
		assert_true(gpuvm_list_empty(&bo->gem.gpuva.list));
		gpuvm_gem_put(&bo->gem);
		pthread_mutex_destroy(&r->slots[i].lock);
	}
	gpuvm_bo_deferred_cleanup(r->vm);
	gpuvm_put(r->vm);
	assert_int_equal(dt_get(&dt_c()->vm_frees), 1);
	assert_int_equal(dt_get(&dt_c()->gem_inits),
			 dt_get(&dt_c()->gem_frees));
	assert_int_equal(dt_get(&dt_c()->violations), 0);
	assert_int_equal(tu_live_allocs(), 0);
	if (wlog.zombie_false_positives != fp0)
		printf("  seed %" PRIu64 ": %lu false \"kept alive only by "
		       "zombies\" warning(s) from gpuvm_put()\n",
		       seed, wlog.zombie_false_positives - fp0);

	printf("  %s: seed %" PRIu64 ", %u ioctl thread(s): %lu zombies, "
	       "%u vm_bos, %u objects, %lu cleanups, %lu finds, %lu "
	       "validations\n",
	       resv ? "resv-protected" : "internal locks", seed, nioctl,
	       (unsigned long)atomic_load(&r->zombies_made),
	       dt_get(&dt_c()->vm_bo_allocs), dt_get(&dt_c()->gem_inits),
	       (unsigned long)atomic_load(&r->cleanups),
	       (unsigned long)atomic_load(&r->finds_hit),
	       (unsigned long)atomic_load(&r->validations));
	fflush(stdout);
	pthread_mutex_destroy(&r->tree_lock);
	free(r);
}

static double soak_seconds;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void stress(bool resv)
{
	struct tu_state *st = tu_state();
	uint64_t seed = st->seed ^ (resv ? 0x5eedull : 0);
	double end = now_s() + soak_seconds;
	uint64_t x;

	run_once(resv, seed, st->iterations);
	x = seed;
	while (soak_seconds > 0 && now_s() < end)
		run_once(resv, tu_splitmix64(&x), st->iterations);
}

static void test_stress_internal_locks(void **state)
{
	(void)state;
	stress(false);
}

static void test_stress_resv_protected(void **state)
{
	(void)state;
	stress(true);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		TU_TEST(test_stress_internal_locks),
		TU_TEST(test_stress_resv_protected),
	};
	char **args = calloc((size_t)argc + 1, sizeof(*args));
	int i, n = 0;

	if (!args)
		return 2;
	/* --soak is ours; the rest goes to tu_init(). */
	for (i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--soak") && i + 1 < argc) {
			soak_seconds = strtod(argv[++i], NULL);
			continue;
		}
		args[n++] = argv[i];
	}
	tu_init(n, args, 1, 50000);
	free(args);
	return cmocka_run_group_tests_name("deferred-stress", tests, NULL,
					   NULL);
}
