/* SPDX-License-Identifier: MIT */
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
#ifndef GPUVM_TESTS_QTEST_H
#define GPUVM_TESTS_QTEST_H

/*
 * Scaffolding of the bind-queue tests: buffer objects with known physical
 * addresses, a VM wired to the queue's step callbacks, a software page
 * table, a counting violation handler, and an independent model of the
 * address space (a sorted array of disjoint intervals, split by hand) that
 * the tree and the page tables are compared against page by page.
 */

#include <pthread.h>

#include <gpuvm/fence.h>
#include <gpuvm/pt.h>
#include <gpuvm/queue.h>

#include "heldalloc.h"
#include "testutil.h"

#define QT_PAGE GPUVM_PT_PAGE_SIZE

/* ------------------------------------------------------------------ */
/* Violations: counted, never fatal, so that a test can report them.  */

static atomic_uint qt_violations;

static inline void qt_violation_handler(enum gpuvm_violation rule,
					const char *msg, void *data)
{
	(void)rule;
	(void)data;
	fprintf(stderr, "violation: %s\n", msg);
	atomic_fetch_add(&qt_violations, 1);
}

static inline void qt_install_handler(void)
{
	gpuvm_set_violation_handler(qt_violation_handler, NULL);
	if (!ha_available())
		printf("no --wrap: allocations under a gpuvm_mutex not "
		       "checked\n");
}

/* No allocation was made under a lock the run path takes. */
static inline void qt_assert_no_held_alloc(void)
{
	if (ha_count())
		fail_msg("%u allocation(s) under a gpuvm_mutex, first: %s",
			 ha_count(), ha_first());
}

/* ------------------------------------------------------------------ */
/* Buffer objects. Physical memory is contiguous, or, with @chunk, made */
/* of @chunk-sized pieces laid out in reverse order.                    */

struct qt_bo {
	struct gpuvm_gem gem;
	uint64_t pa_base;
	uint64_t chunk;
	atomic_uint frees;
};

static inline void qt_bo_free_cb(struct gpuvm_gem *obj)
{
	struct qt_bo *bo = gpuvm_container_of(obj, struct qt_bo, gem);

	atomic_fetch_add(&bo->frees, 1);
}

static const struct gpuvm_gem_funcs qt_bo_funcs = {
	.free = qt_bo_free_cb,
};

static inline void qt_bo_init(struct qt_bo *bo, uint64_t size, uint64_t pa_base,
			      uint64_t chunk)
{
	memset(bo, 0, sizeof(*bo));
	assert_int_equal(gpuvm_gem_init(&bo->gem, &qt_bo_funcs, size), 0);
	bo->pa_base = pa_base;
	bo->chunk = chunk;
}

static inline void qt_bo_init_shared(struct qt_bo *bo, uint64_t size,
				     uint64_t pa_base, struct gpuvm_gem *owner)
{
	memset(bo, 0, sizeof(*bo));
	assert_int_equal(
		gpuvm_gem_init_shared_resv(&bo->gem, &qt_bo_funcs, size, owner),
		0);
	bo->pa_base = pa_base;
}

static inline struct qt_bo *qt_bo_of(struct gpuvm_gem *obj)
{
	return gpuvm_container_of(obj, struct qt_bo, gem);
}

/* The model's physical address of @obj at @offset. */
static inline uint64_t qt_bo_pa(struct gpuvm_gem *obj, uint64_t offset)
{
	struct qt_bo *bo = qt_bo_of(obj);
	uint64_t n, i;

	if (!bo->chunk)
		return bo->pa_base + offset;
	n = (obj->size + bo->chunk - 1) / bo->chunk;
	i = offset / bo->chunk;
	return bo->pa_base + (n - 1 - i) * bo->chunk + offset % bo->chunk;
}

static inline int qt_gem_pa(void *priv, struct gpuvm_gem *obj, uint64_t offset,
			    uint64_t range, uint64_t *pa, uint64_t *len)
{
	struct qt_bo *bo = qt_bo_of(obj);

	(void)priv;
	(void)range;
	*pa = qt_bo_pa(obj, offset);
	*len = bo->chunk ? bo->chunk - offset % bo->chunk : obj->size - offset;
	return 0;
}

static const struct gpuvm_bind_vm_ops qt_bind_ops = {
	.gem_pa = qt_gem_pa,
};

/* ------------------------------------------------------------------ */
/* The VM, its page table and its bind context.                        */

struct qt_vm {
	struct gpuvm vm;
};

static atomic_uint qt_vm_frees;

static inline void qt_vm_free(struct gpuvm *vm)
{
	atomic_fetch_add(&qt_vm_frees, 1);
	free(gpuvm_container_of(vm, struct qt_vm, vm));
}

static const struct gpuvm_ops qt_vm_ops = {
	.vm_free = qt_vm_free,
	GPUVM_BIND_SM_STEPS,
};

struct qt_ctx {
	struct gpuvm *vm;
	struct gpuvm_gem *r_obj;
	struct gpuvm_pt *pt;
	struct gpuvm_bind_vm *bvm;
};

/* VA space of the tests: [QT_VM_START, +QT_VM_RANGE), a cut-out low. */
#define QT_VM_START  UINT64_C(0x100000)
#define QT_VM_RANGE  (UINT64_C(1) << 36)
#define QT_RES_START UINT64_C(0x100000)
#define QT_RES_RANGE UINT64_C(0x100000)
#define QT_BASE	     UINT64_C(0x40000000)

static inline void qt_ctx_init(struct qt_ctx *c, bool resv_protected)
{
	struct qt_vm *v = calloc(1, sizeof(*v));
	uint32_t flags = GPUVM_IMMEDIATE_MODE;

	assert_non_null(v);
	memset(c, 0, sizeof(*c));
	if (resv_protected) {
		flags |= GPUVM_RESV_PROTECTED;
		c->r_obj = gpuvm_resv_object_alloc();
		assert_non_null(c->r_obj);
	}
	assert_int_equal(gpuvm_init(&v->vm, "qt", flags, c->r_obj, QT_VM_START,
				    QT_VM_RANGE, QT_RES_START, QT_RES_RANGE,
				    &qt_vm_ops),
			 0);
	c->vm = &v->vm;
	assert_int_equal(gpuvm_pt_sw_create(48, 0, &c->pt), 0);
	assert_int_equal(
		gpuvm_bind_vm_create(c->vm, c->pt, &qt_bind_ops, NULL, &c->bvm),
		0);
}

static inline void qt_ctx_fini(struct qt_ctx *c)
{
	unsigned int frees = atomic_load(&qt_vm_frees);

	assert_int_equal(gpuvm_bind_vm_destroy(c->bvm), 0);
	gpuvm_pt_destroy(c->pt);
	gpuvm_put(c->vm);
	assert_int_equal(atomic_load(&qt_vm_frees), frees + 1);
	gpuvm_gem_put(c->r_obj);
}

/* ------------------------------------------------------------------ */
/* Requests.                                                            */

static inline struct gpuvm_bind_req qt_map(uint64_t addr, uint64_t range,
					   struct qt_bo *bo, uint64_t offset)
{
	struct gpuvm_bind_req r = {
		.op = GPUVM_BIND_OP_MAP,
		.addr = addr,
		.range = range,
		.obj = bo ? &bo->gem : NULL,
		.offset = offset,
		.flags = bo ? 0 : GPUVM_BIND_SPARSE,
	};

	return r;
}

static inline struct gpuvm_bind_req qt_unmap(uint64_t addr, uint64_t range)
{
	struct gpuvm_bind_req r = {
		.op = GPUVM_BIND_OP_UNMAP,
		.addr = addr,
		.range = range,
	};

	return r;
}

/* ------------------------------------------------------------------ */
/* The model: disjoint intervals in address order, never merged (the  */
/* tree never merges either).                                           */

struct qt_ival {
	uint64_t addr, range;
	struct gpuvm_gem *obj;
	uint64_t offset;
	uint32_t flags;
};

struct qt_model {
	struct qt_ival *v;
	size_t n, cap;
};

static inline void qt_model_fini(struct qt_model *m)
{
	free(m->v);
	memset(m, 0, sizeof(*m));
}

static inline void qt_model_push(struct qt_model *m, const struct qt_ival *iv)
{
	if (m->n == m->cap) {
		m->cap = m->cap ? 2 * m->cap : 32;
		m->v = realloc(m->v, m->cap * sizeof(*m->v));
		/* Usable from any thread: no cmocka assertion here. */
		if (!m->v)
			abort();
	}
	m->v[m->n++] = *iv;
}

/* Cuts [addr, addr + range) out of every interval; keeps the rest. */
static inline void qt_model_cut(struct qt_model *m, uint64_t addr,
				uint64_t range)
{
	struct qt_model out = { NULL, 0, 0 };
	uint64_t end = addr + range;

	for (size_t i = 0; i < m->n; i++) {
		struct qt_ival iv = m->v[i];
		uint64_t ie = iv.addr + iv.range;

		if (ie <= addr || iv.addr >= end) {
			qt_model_push(&out, &iv);
			continue;
		}
		if (iv.addr < addr) {
			struct qt_ival head = iv;

			head.range = addr - iv.addr;
			qt_model_push(&out, &head);
		}
		if (ie > end) {
			struct qt_ival tail = iv;

			tail.addr = end;
			tail.range = ie - end;
			/* As GPUVM does, sparse pieces included. */
			tail.offset = iv.offset + (end - iv.addr);
			qt_model_push(&out, &tail);
		}
	}
	qt_model_fini(m);
	*m = out;
}

static inline void qt_model_apply(struct qt_model *m,
				  const struct gpuvm_bind_req *r)
{
	struct qt_ival iv;
	size_t pos;

	qt_model_cut(m, r->addr, r->range);
	if (r->op != GPUVM_BIND_OP_MAP)
		return;
	iv.addr = r->addr;
	iv.range = r->range;
	iv.obj = r->obj;
	iv.offset = r->offset;
	iv.flags = r->flags;
	qt_model_push(m, &iv);
	/* Keep address order: move the new interval into place. */
	for (pos = m->n - 1; pos > 0 && m->v[pos - 1].addr > iv.addr; pos--)
		m->v[pos] = m->v[pos - 1];
	m->v[pos] = iv;
}

static inline void qt_model_apply_all(struct qt_model *m,
				      const struct gpuvm_bind_req *r,
				      unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		qt_model_apply(m, &r[i]);
}

static inline unsigned int qt_pt_flags(uint32_t bflags)
{
	unsigned int f = 0;

	if (bflags & GPUVM_BIND_SPARSE)
		f |= GPUVM_PT_NULL;
	if (bflags & GPUVM_BIND_READ_ONLY)
		f |= GPUVM_PT_READ_ONLY;
	if (bflags & GPUVM_BIND_NO_EXEC)
		f |= GPUVM_PT_NO_EXEC;
	if (bflags & GPUVM_BIND_UNCACHED)
		f |= GPUVM_PT_UNCACHED;
	return f;
}

/*
 * The part of @iv inside [addr, end). Comparisons look only at that part:
 * outside it, other threads may be changing a mapping that sticks out.
 */
static inline struct qt_ival qt_clip(const struct qt_ival *iv, uint64_t addr,
				     uint64_t end)
{
	struct qt_ival c = *iv;
	uint64_t e = iv->addr + iv->range;

	if (c.addr < addr) {
		c.offset += addr - c.addr;
		c.addr = addr;
	}
	c.range = (e < end ? e : end) - c.addr;
	return c;
}

/*
 * Whether the tree holds exactly the model's intervals overlapping [addr,
 * end) (compared inside the range), and every page of [addr, end) translates as
 * the model says; then the library's own tree-versus-page-table check. The tree
 * is read through a snapshot, the page table under the tree lock. Usable from
 * any thread: returns -EUCLEAN with a message instead of failing the test.
 */
static inline int qt_compare_range(struct qt_ctx *c, const struct qt_model *m,
				   uint64_t addr, uint64_t end, char *msg,
				   size_t len)
{
	struct gpuvm_bind_va_info *snap;
	size_t n, j = 0, i = 0;
	int ret = -EUCLEAN;

	if (gpuvm_bind_vm_snapshot(c->bvm, addr, end - addr, &snap, &n))
		abort();
	for (i = 0; i < m->n; i++) {
		struct qt_ival a, b;

		if (m->v[i].addr + m->v[i].range <= addr || m->v[i].addr >= end)
			continue;
		if (j >= n) {
			snprintf(msg, len,
				 "model has [0x%" PRIx64 ", +0x%" PRIx64
				 "), the tree does not",
				 m->v[i].addr, m->v[i].range);
			goto out;
		}
		a = qt_clip(&m->v[i], addr, end);
		b.addr = snap[j].addr;
		b.range = snap[j].range;
		b.obj = snap[j].obj;
		b.offset = snap[j].offset;
		b.flags = snap[j].flags;
		b = qt_clip(&b, addr, end);
		if (a.addr != b.addr || a.range != b.range || a.obj != b.obj ||
		    a.offset != b.offset || a.flags != b.flags) {
			snprintf(msg, len,
				 "tree has [0x%" PRIx64 ", +0x%" PRIx64
				 ") off 0x%" PRIx64
				 " flags 0x%x, model [0x%" PRIx64
				 ", +0x%" PRIx64 ") off 0x%" PRIx64
				 " flags 0x%x",
				 b.addr, b.range, b.offset, b.flags, a.addr,
				 a.range, a.offset, a.flags);
			goto out;
		}
		j++;
	}
	if (j != n) {
		snprintf(msg, len,
			 "tree has %zu mapping(s) in range, model %zu", n, j);
		goto out;
	}

	/* Page tables against the model, page by page. */
	gpuvm_bind_vm_lock(c->bvm);
	i = 0;
	for (uint64_t p = addr; p < end; p += QT_PAGE) {
		uint64_t pa = 0, want = 0;
		unsigned int f = 0;
		int r = gpuvm_pt_translate(c->pt, p, &pa, NULL, &f);

		while (i < m->n && m->v[i].addr + m->v[i].range <= p)
			i++;
		if (i < m->n && m->v[i].addr <= p) {
			const struct qt_ival *iv = &m->v[i];

			if (iv->obj)
				want = qt_bo_pa(iv->obj,
						iv->offset + (p - iv->addr));
			if (r || pa != want || f != qt_pt_flags(iv->flags)) {
				gpuvm_bind_vm_unlock(c->bvm);
				snprintf(msg, len,
					 "page 0x%" PRIx64
					 ": pt %d pa 0x%" PRIx64
					 " flags 0x%x, model pa 0x%" PRIx64
					 " flags 0x%x",
					 p, r, pa, f, want,
					 qt_pt_flags(iv->flags));
				goto out;
			}
		} else if (r != -EFAULT) {
			gpuvm_bind_vm_unlock(c->bvm);
			snprintf(msg, len,
				 "page 0x%" PRIx64
				 " is mapped, the model has nothing",
				 p);
			goto out;
		}
	}
	gpuvm_bind_vm_unlock(c->bvm);

	/* And the library's own tree-versus-page-table check. */
	ret = gpuvm_bind_vm_verify(c->bvm, addr, end - addr, msg, len);
out:
	gpuvm_bind_snapshot_free(snap);
	return ret;
}

static inline void qt_check_range(struct qt_ctx *c, const struct qt_model *m,
				  uint64_t addr, uint64_t end)
{
	char msg[256] = "";

	if (qt_compare_range(c, m, addr, end, msg, sizeof(msg)))
		fail_msg("%s", msg);
}

/* ------------------------------------------------------------------ */
/* User fences.                                                         */

struct qt_fence {
	struct gpuvm_fence base;
};

static inline void qt_fence_release(struct gpuvm_fence *f)
{
	free(gpuvm_container_of(f, struct qt_fence, base));
}

static const struct gpuvm_fence_ops qt_fence_ops = {
	.release = qt_fence_release,
};

static inline struct gpuvm_fence *qt_fence_new(void)
{
	struct qt_fence *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	gpuvm_fence_init(&f->base, &qt_fence_ops, gpuvm_fence_context_alloc(1),
			 1);
	return &f->base;
}

#endif /* GPUVM_TESTS_QTEST_H */
