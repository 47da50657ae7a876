// SPDX-License-Identifier: MIT
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
/*
 * The base layer: the intrusive list, reference counts, the allocator entry
 * with its counters and fault injection, warnings, and GEM objects.
 */
#include "testutil.h"

#include "base/alloc_internal.h"

struct item {
	int val;
	struct gpuvm_list_head link;
};

/* Asserts that @head holds exactly the values in @want, in both directions. */
static void check_list(struct gpuvm_list_head *head, const int *want, size_t n)
{
	struct gpuvm_list_head *pos;
	struct item *it;
	size_t i = 0;

	gpuvm_list_for_each(pos, head) {
		assert_true(i < n);
		it = gpuvm_list_entry(pos, struct item, link);
		assert_int_equal(it->val, want[i]);
		assert_ptr_equal(pos->next->prev, pos);
		i++;
	}
	assert_int_equal(i, n);
	gpuvm_list_for_each_entry_reverse(it, head, struct item, link)
	{
		assert_true(i > 0);
		assert_int_equal(it->val, want[--i]);
	}
	assert_int_equal(i, 0);
	assert_int_equal(gpuvm_list_empty(head), n == 0);
	assert_int_equal(gpuvm_list_is_singular(head), n == 1);
}

static void test_list_basic(void **state)
{
	struct gpuvm_list_head head;
	struct item a = { .val = 1 }, b = { .val = 2 }, c = { .val = 3 };

	(void)state;
	gpuvm_list_init(&head);
	check_list(&head, NULL, 0);
	assert_ptr_equal(head.next, &head);
	assert_ptr_equal(head.prev, &head);

	gpuvm_list_add(&a.link, &head);
	check_list(&head, (int[]){ 1 }, 1);
	/* add pushes at the front, add_tail appends. */
	gpuvm_list_add(&b.link, &head);
	check_list(&head, (int[]){ 2, 1 }, 2);
	gpuvm_list_add_tail(&c.link, &head);
	check_list(&head, (int[]){ 2, 1, 3 }, 3);
	assert_ptr_equal(gpuvm_list_first_entry(&head, struct item, link), &b);
	assert_ptr_equal(gpuvm_list_last_entry(&head, struct item, link), &c);

	gpuvm_list_del(&a.link);
	assert_null(a.link.next);
	assert_null(a.link.prev);
	check_list(&head, (int[]){ 2, 3 }, 2);

	/* Adding relative to an entry inserts next to that entry. */
	gpuvm_list_add(&a.link, &b.link);
	check_list(&head, (int[]){ 2, 1, 3 }, 3);
	gpuvm_list_del(&a.link);
	gpuvm_list_add_tail(&a.link, &b.link);
	check_list(&head, (int[]){ 1, 2, 3 }, 3);

	gpuvm_list_del_init(&b.link);
	assert_true(gpuvm_list_empty(&b.link));
	check_list(&head, (int[]){ 1, 3 }, 2);
	/* del_init of an unlinked, initialised entry is a no-op. */
	gpuvm_list_del_init(&b.link);
	assert_true(gpuvm_list_empty(&b.link));
	check_list(&head, (int[]){ 1, 3 }, 2);

	gpuvm_list_del(&a.link);
	gpuvm_list_del(&c.link);
	check_list(&head, NULL, 0);
}

static void test_list_splice(void **state)
{
	struct gpuvm_list_head x, y;
	struct item it[6];
	int i;

	(void)state;
	gpuvm_list_init(&x);
	gpuvm_list_init(&y);
	for (i = 0; i < 6; i++)
		it[i].val = i;

	/* Splicing an empty list changes nothing. */
	gpuvm_list_splice_tail_init(&x, &y);
	check_list(&x, NULL, 0);
	check_list(&y, NULL, 0);

	gpuvm_list_add_tail(&it[0].link, &x);
	gpuvm_list_add_tail(&it[1].link, &x);
	gpuvm_list_splice_tail_init(&x, &y);
	check_list(&x, NULL, 0);
	check_list(&y, (int[]){ 0, 1 }, 2);

	gpuvm_list_add_tail(&it[2].link, &x);
	gpuvm_list_add_tail(&it[3].link, &x);
	gpuvm_list_add_tail(&it[4].link, &x);
	gpuvm_list_splice_tail_init(&x, &y);
	check_list(&x, NULL, 0);
	check_list(&y, (int[]){ 0, 1, 2, 3, 4 }, 5);

	/* Into an empty list. */
	gpuvm_list_splice_tail_init(&y, &x);
	check_list(&y, NULL, 0);
	check_list(&x, (int[]){ 0, 1, 2, 3, 4 }, 5);

	/* A singular list. */
	gpuvm_list_add_tail(&it[5].link, &y);
	check_list(&y, (int[]){ 5 }, 1);
	gpuvm_list_splice_tail_init(&y, &x);
	check_list(&x, (int[]){ 0, 1, 2, 3, 4, 5 }, 6);
}

static void test_list_iterators(void **state)
{
	struct gpuvm_list_head head, *pos, *n;
	struct item it[8], *e, *en;
	int i, sum;

	(void)state;
	gpuvm_list_init(&head);
	for (i = 0; i < 8; i++) {
		it[i].val = i;
		gpuvm_list_add_tail(&it[i].link, &head);
	}

	i = 0;
	gpuvm_list_for_each_entry(e, &head, struct item, link) {
		assert_int_equal(e->val, i);
		i++;
	}
	assert_int_equal(i, 8);

	/* Remove every other entry with the link-level safe walk. */
	i = 0;
	gpuvm_list_for_each_safe(pos, n, &head) {
		if (i++ % 2)
			gpuvm_list_del(pos);
	}
	check_list(&head, (int[]){ 0, 2, 4, 6 }, 4);

	/* Remove all with the entry-level safe walk. */
	sum = 0;
	gpuvm_list_for_each_entry_safe(e, en, &head, struct item, link) {
		sum += e->val;
		gpuvm_list_del_init(&e->link);
	}
	assert_int_equal(sum, 12);
	check_list(&head, NULL, 0);

	/* Walks over an empty list run zero times. */
	gpuvm_list_for_each(pos, &head)
		fail();
	gpuvm_list_for_each_entry(e, &head, struct item, link)
		fail();
	gpuvm_list_for_each_entry_reverse(e, &head, struct item, link) fail();
	gpuvm_list_for_each_entry_safe(e, en, &head, struct item, link)
		fail();
}

static unsigned int kref_released;

static void kref_release(struct gpuvm_kref *k)
{
	(void)k;
	kref_released++;
}

static void test_kref(void **state)
{
	struct gpuvm_kref k;

	(void)state;
	kref_released = 0;
	gpuvm_kref_init(&k);
	assert_int_equal(gpuvm_kref_read(&k), 1);
	gpuvm_kref_get(&k);
	assert_int_equal(gpuvm_kref_read(&k), 2);
	assert_true(gpuvm_kref_get_unless_zero(&k));
	assert_int_equal(gpuvm_kref_read(&k), 3);

	assert_false(gpuvm_kref_put(&k, kref_release));
	assert_false(gpuvm_kref_put(&k, kref_release));
	assert_int_equal(kref_released, 0);
	assert_int_equal(gpuvm_kref_read(&k), 1);
	assert_true(gpuvm_kref_put(&k, kref_release));
	assert_int_equal(kref_released, 1);
	assert_int_equal(gpuvm_kref_read(&k), 0);

	/* A dead object cannot be revived. */
	assert_false(gpuvm_kref_get_unless_zero(&k));
	assert_int_equal(gpuvm_kref_read(&k), 0);
	assert_int_equal(kref_released, 1);
}

static void test_alloc_stats(void **state)
{
	struct gpuvm_alloc_stats s0, s1, s2;
	unsigned char *p, *z;
	size_t i;

	(void)state;
	gpuvm_alloc_get_stats(&s0);
	p = gpuvm_alloc(100);
	z = gpuvm_zalloc(37);
	assert_non_null(p);
	assert_non_null(z);
	for (i = 0; i < 37; i++)
		assert_int_equal(z[i], 0);
	memset(p, 0xab, 100);
	gpuvm_alloc_get_stats(&s1);
	assert_int_equal(s1.live_allocs, s0.live_allocs + 2);
	assert_int_equal(s1.live_bytes, s0.live_bytes + 137);
	assert_int_equal(s1.total_allocs, s0.total_allocs + 2);
	assert_int_equal(s1.failed_allocs, s0.failed_allocs);

	gpuvm_free(p, 100);
	gpuvm_free(z, 37);
	gpuvm_free(NULL, 12);
	gpuvm_alloc_get_stats(&s2);
	assert_int_equal(s2.live_allocs, s0.live_allocs);
	assert_int_equal(s2.live_bytes, s0.live_bytes);
	assert_int_equal(s2.total_allocs, s0.total_allocs + 2);
}

static void test_alloc_fail_one_shot(void **state)
{
	struct gpuvm_alloc_stats s0, s1;
	void *a, *b, *c;

	(void)state;
	gpuvm_alloc_get_stats(&s0);
	assert_false(gpuvm_alloc_fail_pending());

	gpuvm_alloc_fail_nth(2, false);
	assert_true(gpuvm_alloc_fail_pending());
	a = gpuvm_alloc(8);
	assert_non_null(a);
	assert_true(gpuvm_alloc_fail_pending());
	b = gpuvm_zalloc(8);
	assert_null(b);
	assert_false(gpuvm_alloc_fail_pending());
	c = gpuvm_alloc(8);
	assert_non_null(c);
	gpuvm_alloc_get_stats(&s1);
	assert_int_equal(s1.failed_allocs, s0.failed_allocs + 1);
	assert_int_equal(s1.total_allocs, s0.total_allocs + 2);
	assert_int_equal(s1.live_allocs, s0.live_allocs + 2);
	gpuvm_free(a, 8);
	gpuvm_free(c, 8);

	/* nth = 1 fails the very next allocation. */
	gpuvm_alloc_fail_nth(1, false);
	assert_null(gpuvm_alloc(1));
	a = gpuvm_alloc(1);
	assert_non_null(a);
	gpuvm_free(a, 1);

	/* Disarming cancels a pending failure. */
	gpuvm_alloc_fail_nth(1, false);
	gpuvm_alloc_fail_nth(0, false);
	assert_false(gpuvm_alloc_fail_pending());
	a = gpuvm_alloc(1);
	assert_non_null(a);
	gpuvm_free(a, 1);
}

static void test_alloc_fail_sticky(void **state)
{
	struct gpuvm_alloc_stats s0, s1;
	void *a;
	int i;

	(void)state;
	gpuvm_alloc_get_stats(&s0);
	gpuvm_alloc_fail_nth(3, true);
	a = gpuvm_alloc(16);
	assert_non_null(a);
	gpuvm_free(a, 16);
	a = gpuvm_alloc(16);
	assert_non_null(a);
	gpuvm_free(a, 16);
	for (i = 0; i < 10; i++) {
		assert_null(gpuvm_alloc(16));
		assert_null(gpuvm_zalloc(16));
	}
	/* Once fired, nothing is pending even though failures continue. */
	assert_false(gpuvm_alloc_fail_pending());
	gpuvm_alloc_get_stats(&s1);
	assert_int_equal(s1.failed_allocs, s0.failed_allocs + 20);
	assert_int_equal(s1.total_allocs, s0.total_allocs + 2);

	gpuvm_alloc_fail_nth(0, false);
	a = gpuvm_alloc(16);
	assert_non_null(a);
	gpuvm_free(a, 16);

	/* Re-arming sticky at 1 fails from the next allocation on. */
	gpuvm_alloc_fail_nth(1, true);
	assert_null(gpuvm_alloc(1));
	assert_null(gpuvm_alloc(1));
	/* Re-arming one-shot clears the sticky state. */
	gpuvm_alloc_fail_nth(2, false);
	a = gpuvm_alloc(1);
	assert_non_null(a);
	gpuvm_free(a, 1);
	assert_null(gpuvm_alloc(1));
	a = gpuvm_alloc(1);
	assert_non_null(a);
	gpuvm_free(a, 1);
}

struct warn_capture {
	unsigned int calls;
	char msg[128];
};

static void capture_warn(const char *msg, void *data)
{
	struct warn_capture *w = data;

	w->calls++;
	snprintf(w->msg, sizeof(w->msg), "%s", msg);
}

static void test_warn(void **state)
{
	struct warn_capture w = { 0 };
	uint64_t c0 = gpuvm_warn_count();

	(void)state;
	gpuvm_set_warn_handler(capture_warn, &w);
	gpuvm_warn("value %d", 42);
	gpuvm_warn("%s", "second");
	gpuvm_set_warn_handler(tu_warn_handler, tu_state());
	tu_expect_warnings(2);
	assert_int_equal(w.calls, 2);
	assert_string_equal(w.msg, "second");
	assert_int_equal(gpuvm_warn_count(), c0 + 2);
}

static void test_gem(void **state)
{
	struct tu_bo bo;
	static const struct gpuvm_gem_funcs no_free = { .free = NULL };

	(void)state;
	memset(&bo, 0, sizeof(bo));
	assert_int_equal(gpuvm_gem_init(&bo.gem, NULL, 4096), -EINVAL);
	assert_int_equal(gpuvm_gem_init(&bo.gem, &no_free, 4096), -EINVAL);

	tu_bo_init(&bo, 0x10000);
	assert_int_equal(bo.gem.size, 0x10000);
	assert_ptr_equal(bo.gem.funcs, &tu_bo_funcs);
	assert_int_equal(gpuvm_kref_read(&bo.gem.refcount), 1);

	assert_ptr_equal(gpuvm_gem_get(&bo.gem), &bo.gem);
	assert_int_equal(gpuvm_kref_read(&bo.gem.refcount), 2);
	gpuvm_gem_put(&bo.gem);
	assert_int_equal(bo.frees, 0);
	assert_int_equal(gpuvm_kref_read(&bo.gem.refcount), 1);
	gpuvm_gem_put(&bo.gem);
	assert_int_equal(bo.frees, 1);

	/* NULL is accepted by get and put. */
	assert_null(gpuvm_gem_get(NULL));
	gpuvm_gem_put(NULL);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		TU_TEST(test_list_basic),
		TU_TEST(test_list_splice),
		TU_TEST(test_list_iterators),
		TU_TEST(test_kref),
		TU_TEST(test_alloc_stats),
		TU_TEST(test_alloc_fail_one_shot),
		TU_TEST(test_alloc_fail_sticky),
		TU_TEST(test_warn),
		TU_TEST(test_gem),
	};

	tu_init(argc, argv, 1, 1);
	return cmocka_run_group_tests_name("base", tests, NULL, NULL);
}
