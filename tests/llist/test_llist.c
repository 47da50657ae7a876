// SPDX-License-Identifier: MIT
/*
 * Copyright (c) 2026 The libgpuvm authors
 *
 * Single-threaded tests of the lock-free list: every operation, the off-list
 * marker, the "was empty" results, chain order, and the iterators, including
 * the _safe ones with the cursor's link rewritten or its entry freed.
 */
#include <stdint.h>
#include <stdlib.h>

#include <gpuvm/llist.h>

#include "testutil.h"

/* The link is deliberately not the first member: iterators must subtract. */
struct ent {
	uint64_t key;
	struct gpuvm_llist_node node;
	uint32_t pad;
};

#define NR 8

static struct ent ents[NR];

static void ents_init(void)
{
	unsigned int i;

	for (i = 0; i < NR; i++) {
		ents[i].key = i;
		gpuvm_init_llist_node(&ents[i].node);
	}
}

static struct ent *ent_of(struct gpuvm_llist_node *n)
{
	return gpuvm_llist_entry(n, struct ent, node);
}

/* Asserts the chain at @first holds exactly @keys[0..n) in that order. */
static void assert_chain(struct gpuvm_llist_node *first, const uint64_t *keys,
			 size_t n)
{
	struct gpuvm_llist_node *pos;
	size_t i = 0;

	gpuvm_llist_for_each(pos, first) {
		assert_true(i < n);
		assert_int_equal(ent_of(pos)->key, keys[i]);
		i++;
	}
	assert_int_equal(i, n);
}

static void test_head_init(void **state)
{
	struct gpuvm_llist_head st = GPUVM_LLIST_HEAD_INIT;
	struct gpuvm_llist_head dyn;

	(void)state;
	assert_true(gpuvm_llist_empty(&st));
	gpuvm_llist_init_head(&dyn);
	assert_true(gpuvm_llist_empty(&dyn));
	assert_null(gpuvm_llist_del_all(&dyn));
	assert_null(gpuvm_llist_del_first(&dyn));
	assert_null(gpuvm_llist_del_all_unsync(&dyn));
	assert_true(gpuvm_llist_empty(&dyn));
}

static void test_off_list_marker(void **state)
{
	struct gpuvm_llist_head head;
	struct gpuvm_llist_node *chain;

	(void)state;
	ents_init();
	gpuvm_llist_init_head(&head);
	assert_false(gpuvm_llist_on_list(&ents[0].node));
	assert_ptr_equal(gpuvm_llist_next(&ents[0].node), &ents[0].node);

	/* Alone on the list its link is NULL, which is not the marker. */
	gpuvm_llist_add(&ents[0].node, &head);
	assert_true(gpuvm_llist_on_list(&ents[0].node));
	assert_null(gpuvm_llist_next(&ents[0].node));
	gpuvm_llist_add(&ents[1].node, &head);
	assert_true(gpuvm_llist_on_list(&ents[1].node));

	/* Taking nodes off does not mark them: the consumer does. */
	chain = gpuvm_llist_del_all(&head);
	assert_ptr_equal(chain, &ents[1].node);
	assert_true(gpuvm_llist_on_list(&ents[0].node));
	assert_true(gpuvm_llist_on_list(&ents[1].node));
	gpuvm_init_llist_node(&ents[0].node);
	gpuvm_init_llist_node(&ents[1].node);
	assert_false(gpuvm_llist_on_list(&ents[0].node));
	assert_false(gpuvm_llist_on_list(&ents[1].node));

	/* Same through del_first. */
	gpuvm_llist_add(&ents[2].node, &head);
	assert_ptr_equal(gpuvm_llist_del_first(&head), &ents[2].node);
	assert_true(gpuvm_llist_on_list(&ents[2].node));
	gpuvm_init_llist_node(&ents[2].node);
	assert_false(gpuvm_llist_on_list(&ents[2].node));

	/* A marked node can be pushed as it is. */
	gpuvm_llist_add(&ents[2].node, &head);
	assert_true(gpuvm_llist_on_list(&ents[2].node));
	assert_ptr_equal(gpuvm_llist_del_all(&head), &ents[2].node);
	assert_null(gpuvm_llist_next(&ents[2].node));
}

static void test_add_del_all(void **state)
{
	struct gpuvm_llist_head head;
	const uint64_t newest_first[] = { 3, 2, 1, 0 };
	struct gpuvm_llist_node *chain;
	unsigned int i;

	(void)state;
	ents_init();
	gpuvm_llist_init_head(&head);

	/* Only the push onto an empty list reports it. */
	for (i = 0; i < 4; i++) {
		assert_int_equal(gpuvm_llist_add(&ents[i].node, &head), i == 0);
		assert_false(gpuvm_llist_empty(&head));
	}
	chain = gpuvm_llist_del_all(&head);
	assert_true(gpuvm_llist_empty(&head));
	assert_null(gpuvm_llist_del_all(&head));
	assert_chain(chain, newest_first, 4);

	/* Emptied again, the next push reports it again. */
	assert_true(gpuvm_llist_add(&ents[4].node, &head));
	assert_false(gpuvm_llist_add(&ents[5].node, &head));
	chain = gpuvm_llist_del_all(&head);
	assert_chain(chain, (const uint64_t[]){ 5, 4 }, 2);
}

static void test_add_batch(void **state)
{
	struct gpuvm_llist_head head, priv;
	struct gpuvm_llist_node *last;
	unsigned int i;

	(void)state;
	ents_init();
	gpuvm_llist_init_head(&head);
	gpuvm_llist_init_head(&priv);

	/* Build 1,2,3 privately; the first node pushed becomes the last. */
	for (i = 1; i <= 3; i++)
		assert_int_equal(gpuvm_llist_add_unsync(&ents[i].node, &priv),
				 i == 1);
	last = &ents[1].node;
	assert_true(gpuvm_llist_add(&ents[0].node, &head));
	assert_false(gpuvm_llist_add_batch(gpuvm_llist_del_all_unsync(&priv),
					   last, &head));
	assert_true(gpuvm_llist_empty(&priv));
	assert_chain(gpuvm_llist_del_all(&head),
		     (const uint64_t[]){ 3, 2, 1, 0 }, 4);

	/* A batch onto an empty list reports it, and links past its end. */
	gpuvm_llist_add_unsync(&ents[4].node, &priv);
	gpuvm_llist_add_unsync(&ents[5].node, &priv);
	assert_true(gpuvm_llist_add_batch(gpuvm_llist_del_all_unsync(&priv),
					  &ents[4].node, &head));
	assert_false(gpuvm_llist_add(&ents[6].node, &head));
	assert_chain(gpuvm_llist_del_all(&head), (const uint64_t[]){ 6, 5, 4 },
		     3);

	/* A batch of one is a plain push. */
	assert_true(gpuvm_llist_add_batch(&ents[7].node, &ents[7].node, &head));
	assert_chain(gpuvm_llist_del_all(&head), (const uint64_t[]){ 7 }, 1);
}

static void test_reverse_order(void **state)
{
	struct gpuvm_llist_head head;
	struct gpuvm_llist_node *chain;
	const uint64_t fwd[] = { 0, 1, 2, 3, 4, 5, 6, 7 };
	const uint64_t rev[] = { 7, 6, 5, 4, 3, 2, 1, 0 };
	unsigned int i;

	(void)state;
	ents_init();
	gpuvm_llist_init_head(&head);
	assert_null(gpuvm_llist_reverse_order(NULL));

	gpuvm_llist_add(&ents[0].node, &head);
	chain = gpuvm_llist_reverse_order(gpuvm_llist_del_all(&head));
	assert_chain(chain, fwd, 1);

	for (i = 0; i < NR; i++)
		gpuvm_llist_add(&ents[i].node, &head);
	chain = gpuvm_llist_del_all(&head);
	assert_chain(chain, rev, NR);
	chain = gpuvm_llist_reverse_order(chain);
	assert_ptr_equal(chain, &ents[0].node);
	assert_chain(chain, fwd, NR);
	assert_null(gpuvm_llist_next(&ents[7].node));
	chain = gpuvm_llist_reverse_order(chain);
	assert_chain(chain, rev, NR);
}

static void test_del_first(void **state)
{
	struct gpuvm_llist_head head, priv;
	struct gpuvm_llist_node *n;

	(void)state;
	ents_init();
	gpuvm_llist_init_head(&head);
	gpuvm_llist_init_head(&priv);

	gpuvm_llist_add(&ents[0].node, &head);
	gpuvm_llist_add(&ents[1].node, &head);
	assert_ptr_equal(gpuvm_llist_del_first(&head), &ents[1].node);
	/* The survivor is still reachable; a push goes on top of it. */
	assert_false(gpuvm_llist_add(&ents[1].node, &head));
	gpuvm_llist_add(&ents[2].node, &head);
	assert_ptr_equal(gpuvm_llist_del_first(&head), &ents[2].node);
	assert_ptr_equal(gpuvm_llist_del_first(&head), &ents[1].node);
	n = gpuvm_llist_del_first(&head);
	assert_ptr_equal(n, &ents[0].node);
	/* The last node out leaves the list empty and its link NULL. */
	assert_null(gpuvm_llist_next(n));
	assert_true(gpuvm_llist_empty(&head));
	assert_null(gpuvm_llist_del_first(&head));

	/* Nodes of a batch come off one at a time, newest first. */
	gpuvm_llist_add_unsync(&ents[3].node, &priv);
	gpuvm_llist_add_unsync(&ents[4].node, &priv);
	gpuvm_llist_add(&ents[5].node, &head);
	gpuvm_llist_add_batch(gpuvm_llist_del_all_unsync(&priv), &ents[3].node,
			      &head);
	assert_ptr_equal(gpuvm_llist_del_first(&head), &ents[4].node);
	assert_ptr_equal(gpuvm_llist_del_first(&head), &ents[3].node);
	assert_chain(gpuvm_llist_del_all(&head), (const uint64_t[]){ 5 }, 1);
}

static void test_unsync(void **state)
{
	struct gpuvm_llist_head head;
	struct gpuvm_llist_node *chain;

	(void)state;
	ents_init();
	gpuvm_llist_init_head(&head);

	assert_true(gpuvm_llist_add_unsync(&ents[0].node, &head));
	assert_false(gpuvm_llist_add_unsync(&ents[1].node, &head));
	assert_true(gpuvm_llist_on_list(&ents[0].node));

	/* Chain 3 -> 2 linked by hand through a second private head. */
	{
		struct gpuvm_llist_head tmp;

		gpuvm_llist_init_head(&tmp);
		gpuvm_llist_add_unsync(&ents[2].node, &tmp);
		gpuvm_llist_add_unsync(&ents[3].node, &tmp);
		assert_false(gpuvm_llist_add_batch_unsync(
			gpuvm_llist_del_all_unsync(&tmp), &ents[2].node,
			&head));
	}
	chain = gpuvm_llist_del_all_unsync(&head);
	assert_true(gpuvm_llist_empty(&head));
	assert_chain(chain, (const uint64_t[]){ 3, 2, 1, 0 }, 4);
	assert_null(gpuvm_llist_del_all_unsync(&head));

	/* The twins and the atomic calls work on the same heads. */
	assert_true(gpuvm_llist_add_batch_unsync(&ents[4].node, &ents[4].node,
						 &head));
	assert_false(gpuvm_llist_add(&ents[5].node, &head));
	assert_chain(gpuvm_llist_del_all_unsync(&head),
		     (const uint64_t[]){ 5, 4 }, 2);
}

static void test_entry(void **state)
{
	struct ent e = { .key = 42 };

	(void)state;
	assert_ptr_equal(gpuvm_llist_entry(&e.node, struct ent, node), &e);
	assert_int_equal(gpuvm_llist_entry(&e.node, struct ent, node)->key, 42);
}

static void test_iterators_empty(void **state)
{
	struct gpuvm_llist_node *pos, *n;
	struct ent *e, *en;
	unsigned int count = 0;

	(void)state;
	gpuvm_llist_for_each(pos, NULL)
		count++;
	gpuvm_llist_for_each_safe(pos, n, NULL)
		count++;
	gpuvm_llist_for_each_entry(e, NULL, struct ent, node)
		count++;
	gpuvm_llist_for_each_entry_safe(e, en, NULL, struct ent, node)
		count++;
	assert_int_equal(count, 0);
	assert_null(e);
}

static void test_iterators(void **state)
{
	struct gpuvm_llist_head head, other;
	struct gpuvm_llist_node *chain, *pos, *n;
	struct ent *e, *en;
	uint64_t expect;
	unsigned int i;

	(void)state;
	ents_init();
	gpuvm_llist_init_head(&head);
	gpuvm_llist_init_head(&other);
	for (i = 0; i < NR; i++)
		gpuvm_llist_add(&ents[i].node, &head);
	chain = gpuvm_llist_del_all(&head);

	expect = NR;
	gpuvm_llist_for_each_entry(e, chain, struct ent, node)
		assert_int_equal(e->key, --expect);
	assert_int_equal(expect, 0);
	assert_null(e);

	/*
	 * _safe: pushing the cursor elsewhere rewrites its link, and the walk
	 * must still reach every node of the original chain.
	 */
	expect = NR;
	gpuvm_llist_for_each_safe(pos, n, chain) {
		assert_int_equal(ent_of(pos)->key, --expect);
		gpuvm_llist_add(pos, &other);
	}
	assert_int_equal(expect, 0);
	chain = gpuvm_llist_del_all(&other);
	assert_chain(chain, (const uint64_t[]){ 0, 1, 2, 3, 4, 5, 6, 7 }, NR);

	/* Same with entries, marking each off-list as it goes. */
	expect = 0;
	gpuvm_llist_for_each_entry_safe(e, en, chain, struct ent, node) {
		assert_int_equal(e->key, expect++);
		gpuvm_init_llist_node(&e->node);
	}
	assert_int_equal(expect, NR);
	for (i = 0; i < NR; i++)
		assert_false(gpuvm_llist_on_list(&ents[i].node));
}

/* _safe removal for real: every entry is freed while the walk goes on. */
static void test_iterator_safe_free(void **state)
{
	struct gpuvm_llist_head head;
	struct gpuvm_llist_node *chain, *pos, *n;
	struct ent *e, *en;
	uint64_t sum = 0;
	unsigned int i;

	(void)state;
	gpuvm_llist_init_head(&head);
	for (i = 0; i < 100; i++) {
		e = calloc(1, sizeof(*e));
		assert_non_null(e);
		e->key = i;
		gpuvm_llist_add(&e->node, &head);
	}
	chain = gpuvm_llist_del_all(&head);
	gpuvm_llist_for_each_entry_safe(e, en, chain, struct ent, node) {
		sum += e->key;
		free(e);
	}
	assert_int_equal(sum, 99 * 100 / 2);

	for (i = 0; i < 10; i++) {
		e = calloc(1, sizeof(*e));
		assert_non_null(e);
		gpuvm_llist_add(&e->node, &head);
	}
	i = 0;
	gpuvm_llist_for_each_safe(pos, n, gpuvm_llist_del_all(&head)) {
		free(ent_of(pos));
		i++;
	}
	assert_int_equal(i, 10);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		TU_TEST(test_head_init),
		TU_TEST(test_off_list_marker),
		TU_TEST(test_add_del_all),
		TU_TEST(test_add_batch),
		TU_TEST(test_reverse_order),
		TU_TEST(test_del_first),
		TU_TEST(test_unsync),
		TU_TEST(test_entry),
		TU_TEST(test_iterators_empty),
		TU_TEST(test_iterators),
		TU_TEST(test_iterator_safe_free),
	};

	tu_init(argc, argv, 1, 1);
	return cmocka_run_group_tests_name("llist", tests, NULL, NULL);
}
