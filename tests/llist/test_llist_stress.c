// SPDX-License-Identifier: MIT
/*
 * Copyright (c) 2026 The libgpuvm authors
 *
 * Concurrent tests of the lock-free list, meant to run under ThreadSanitizer
 * as well. Producers push tagged nodes (producer, sequence number, payload),
 * one at a time or in pre-linked batches, while consumers drain the list.
 * Checked:
 *
 * - conservation: every node pushed is taken exactly once, by the consumers
 *   or by the final drain, and nothing is left;
 * - publication: a consumer sees the payload the producer wrote before the
 *   push (and ThreadSanitizer sees the happens-before edge);
 * - order: a chain taken by del_all holds, for each producer, a run of
 *   consecutive sequence numbers, descending; after gpuvm_llist_reverse_order()
 *   ascending; and each consumer's successive chains move forward;
 * - "was empty": the pushes that found the list empty are exactly as many as
 *   the removals that left it empty;
 * - del_first, serialised by a consumer lock, alone and mixed with del_all;
 * - gpuvm_llist_on_list() racing with pushes and with consumers re-marking
 *   taken nodes (a watcher thread), which must be free of data races.
 *
 * Rounds are bounded (--iterations: nodes per producer); the seed (--seed or
 * GPUVM_SEED) drives batch sizes and yields. Thread interleavings are not
 * reproducible, the seed only makes the workload so.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include <gpuvm/llist.h>

#include "testutil.h"

#define MAX_PRODUCERS 4
#define MAX_CONSUMERS 2
#define MAX_BATCH     8

struct item {
	uint64_t payload;
	struct gpuvm_llist_node node;
	uint32_t producer;
	uint32_t seq;
	/* Written only by the consumer that took the node. */
	unsigned int seen;
};

enum take_mode {
	TAKE_DEL_ALL,	/* consumers call del_all without a lock */
	TAKE_DEL_FIRST, /* consumers call del_first under the lock */
	TAKE_MIXED,	/* consumer 0 del_first, the others del_all; locked */
};

struct stress {
	unsigned int nr_producers;
	unsigned int nr_consumers;
	enum take_mode mode;
	bool watcher;
	uint32_t per_producer;
	uint64_t seed;

	struct gpuvm_llist_head head;
	pthread_mutex_t lock;
	struct item *items[MAX_PRODUCERS];

	atomic_uint producers_left;
	atomic_bool stop_watcher;
	atomic_ulong kicks;
	atomic_ulong emptied;
	atomic_ulong taken;
	atomic_ulong chains;
	atomic_ulong watcher_reads;
	atomic_ulong watcher_on_list;
	atomic_uint errors;
	char first_error[256];
};

struct worker {
	struct stress *s;
	unsigned int id;
	struct tu_rng rng;
	/* Consumer: the last sequence number seen per producer, or -1. */
	int64_t last_seq[MAX_PRODUCERS];
};

static uint64_t payload_of(uint32_t producer, uint32_t seq)
{
	uint64_t x = ((uint64_t)producer << 32) | seq;

	return tu_splitmix64(&x);
}

/* Threads must not call cmocka's asserts: record, and fail in main. */
static void stress_error(struct stress *s, const char *what,
			 const struct item *it)
{
	if (atomic_fetch_add(&s->errors, 1) == 0)
		snprintf(s->first_error, sizeof(s->first_error),
			 "%s (producer %u seq %u)", what, it ? it->producer : 0,
			 it ? it->seq : 0);
}

static void *producer_main(void *arg)
{
	struct worker *w = arg;
	struct stress *s = w->s;
	struct item *items = s->items[w->id];
	uint32_t seq = 0;

	while (seq < s->per_producer) {
		uint32_t n = 1, i;
		bool kick;

		if (tu_rng_chance(&w->rng, 30))
			n = (uint32_t)tu_rng_range(&w->rng, 2, MAX_BATCH);
		if (n > s->per_producer - seq)
			n = s->per_producer - seq;
		for (i = 0; i < n; i++) {
			struct item *it = &items[seq + i];

			it->payload = payload_of(w->id, seq + i);
		}
		if (n == 1) {
			kick = gpuvm_llist_add(&items[seq].node, &s->head);
		} else {
			struct gpuvm_llist_head priv;

			gpuvm_llist_init_head(&priv);
			for (i = 0; i < n; i++)
				gpuvm_llist_add_unsync(&items[seq + i].node,
						       &priv);
			kick = gpuvm_llist_add_batch(
				gpuvm_llist_del_all_unsync(&priv),
				&items[seq].node, &s->head);
		}
		if (kick)
			atomic_fetch_add_explicit(&s->kicks, 1,
						  memory_order_relaxed);
		seq += n;
		if (tu_rng_chance(&w->rng, 2))
			sched_yield();
	}
	atomic_fetch_sub_explicit(&s->producers_left, 1, memory_order_release);
	return NULL;
}

/* Takes ownership of one node: check it, count it, mark it off-list. */
static void consume(struct stress *s, struct item *it)
{
	if (it->producer >= s->nr_producers || it->seq >= s->per_producer)
		stress_error(s, "node with a bad tag", it);
	else if (it->payload != payload_of(it->producer, it->seq))
		stress_error(s, "payload not published", it);
	if (it->seen++)
		stress_error(s, "node taken twice", it);
	gpuvm_init_llist_node(&it->node);
	atomic_fetch_add_explicit(&s->taken, 1, memory_order_relaxed);
}

/*
 * Checks and consumes a chain returned by del_all. @contiguous: nothing but
 * pushes and del_all touch the list, so each producer's nodes in a chain are
 * consecutive.
 */
static void consume_chain(struct worker *w, struct gpuvm_llist_node *chain,
			  bool contiguous)
{
	struct stress *s = w->s;
	uint64_t total = (uint64_t)s->per_producer * s->nr_producers, len = 0;
	int64_t prev[MAX_PRODUCERS];
	struct item *it, *next;
	unsigned int p;

	if (!chain)
		return;
	atomic_fetch_add_explicit(&s->emptied, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->chains, 1, memory_order_relaxed);

	/* Newest first: descending per producer. */
	for (p = 0; p < MAX_PRODUCERS; p++)
		prev[p] = -1;
	gpuvm_llist_for_each_entry(it, chain, struct item, node) {
		/* A node taken twice and re-marked would make a cycle. */
		if (++len > total) {
			stress_error(s, "chain longer than all pushes", it);
			return;
		}
		if (it->producer >= s->nr_producers) {
			stress_error(s, "node with a bad tag", it);
			return;
		}
		p = it->producer;
		if (prev[p] >= 0 &&
		    (contiguous ? it->seq + 1 != prev[p] : it->seq >= prev[p]))
			stress_error(s, "chain not newest first", it);
		prev[p] = it->seq;
	}

	/* Reversed: ascending, and after everything this consumer took. */
	chain = gpuvm_llist_reverse_order(chain);
	for (p = 0; p < MAX_PRODUCERS; p++)
		prev[p] = -1;
	gpuvm_llist_for_each_entry_safe(it, next, chain, struct item, node) {
		p = it->producer;
		if (prev[p] < 0 && it->seq <= w->last_seq[p])
			stress_error(s, "chains taken out of order", it);
		if (prev[p] >= 0 &&
		    (contiguous ? it->seq != prev[p] + 1 : it->seq <= prev[p]))
			stress_error(s, "reversed chain not in push order", it);
		prev[p] = it->seq;
		w->last_seq[p] = it->seq;
		/* Rewrites it->node's link: the walk must be the _safe one. */
		consume(s, it);
	}
}

static void take_some_first(struct worker *w)
{
	struct stress *s = w->s;
	unsigned int k = (unsigned int)tu_rng_range(&w->rng, 1, 16);
	struct gpuvm_llist_node *n;

	pthread_mutex_lock(&s->lock);
	while (k--) {
		n = gpuvm_llist_del_first(&s->head);
		if (!n)
			break;
		/* The link still holds the successor at the time of removal. */
		if (!gpuvm_llist_next(n))
			atomic_fetch_add_explicit(&s->emptied, 1,
						  memory_order_relaxed);
		consume(s, gpuvm_llist_entry(n, struct item, node));
	}
	pthread_mutex_unlock(&s->lock);
}

static void take_all_locked(struct worker *w)
{
	struct gpuvm_llist_node *chain;

	pthread_mutex_lock(&w->s->lock);
	chain = gpuvm_llist_del_all(&w->s->head);
	consume_chain(w, chain, false);
	pthread_mutex_unlock(&w->s->lock);
}

static void take(struct worker *w)
{
	struct stress *s = w->s;

	switch (s->mode) {
	case TAKE_DEL_ALL:
		consume_chain(w, gpuvm_llist_del_all(&s->head), true);
		break;
	case TAKE_DEL_FIRST:
		take_some_first(w);
		break;
	case TAKE_MIXED:
		if (w->id == 0)
			take_some_first(w);
		else
			take_all_locked(w);
		break;
	}
}

static void *consumer_main(void *arg)
{
	struct worker *w = arg;
	struct stress *s = w->s;

	for (;;) {
		/* Read before the drain: after it, nothing more will come. */
		bool last = atomic_load_explicit(&s->producers_left,
						 memory_order_acquire) == 0;

		if (gpuvm_llist_empty(&s->head) && !last) {
			sched_yield();
			continue;
		}
		take(w);
		if (last && gpuvm_llist_empty(&s->head))
			break;
	}
	return NULL;
}

/* Reads the off-list marker of random nodes while everyone else works. */
static void *watcher_main(void *arg)
{
	struct worker *w = arg;
	struct stress *s = w->s;
	unsigned long reads = 0, on = 0;

	while (!atomic_load_explicit(&s->stop_watcher, memory_order_relaxed)) {
		unsigned int p =
			(unsigned int)tu_rng_below(&w->rng, s->nr_producers);
		uint32_t i = (uint32_t)tu_rng_below(&w->rng, s->per_producer);

		on += gpuvm_llist_on_list(&s->items[p][i].node);
		reads++;
		if ((reads & 255) == 0)
			sched_yield();
	}
	atomic_store_explicit(&s->watcher_reads, reads, memory_order_relaxed);
	atomic_store_explicit(&s->watcher_on_list, on, memory_order_relaxed);
	return NULL;
}

static void run_stress(unsigned int nr_producers, unsigned int nr_consumers,
		       enum take_mode mode, bool watcher)
{
	struct tu_state *st = tu_state();
	struct stress *s = calloc(1, sizeof(*s));
	struct worker prod[MAX_PRODUCERS], cons[MAX_CONSUMERS], watch;
	pthread_t prod_t[MAX_PRODUCERS], cons_t[MAX_CONSUMERS], watch_t;
	struct gpuvm_llist_node *rest;
	uint64_t wseed;
	unsigned int p, c;
	uint32_t i;
	unsigned long total;

	assert_non_null(s);
	s->nr_producers = nr_producers;
	s->nr_consumers = nr_consumers;
	s->mode = mode;
	s->watcher = watcher;
	s->per_producer = (uint32_t)(st->iterations / nr_producers);
	if (s->per_producer == 0)
		s->per_producer = 1;
	/* Each configuration draws its own stream from the test seed. */
	wseed = tu_rng_next(tu_rng());
	gpuvm_llist_init_head(&s->head);
	assert_int_equal(pthread_mutex_init(&s->lock, NULL), 0);
	atomic_init(&s->producers_left, nr_producers);
	total = (unsigned long)s->per_producer * nr_producers;

	for (p = 0; p < nr_producers; p++) {
		s->items[p] = calloc(s->per_producer, sizeof(struct item));
		assert_non_null(s->items[p]);
		for (i = 0; i < s->per_producer; i++) {
			s->items[p][i].producer = p;
			s->items[p][i].seq = i;
			gpuvm_init_llist_node(&s->items[p][i].node);
		}
	}

	for (c = 0; c < nr_consumers; c++) {
		cons[c].s = s;
		cons[c].id = c;
		tu_rng_seed(&cons[c].rng, wseed + 100 + c);
		for (p = 0; p < MAX_PRODUCERS; p++)
			cons[c].last_seq[p] = -1;
		assert_int_equal(pthread_create(&cons_t[c], NULL, consumer_main,
						&cons[c]),
				 0);
	}
	if (watcher) {
		watch.s = s;
		watch.id = 0;
		tu_rng_seed(&watch.rng, wseed + 200);
		assert_int_equal(
			pthread_create(&watch_t, NULL, watcher_main, &watch),
			0);
	}
	for (p = 0; p < nr_producers; p++) {
		prod[p].s = s;
		prod[p].id = p;
		tu_rng_seed(&prod[p].rng, wseed + p);
		assert_int_equal(pthread_create(&prod_t[p], NULL, producer_main,
						&prod[p]),
				 0);
	}

	for (p = 0; p < nr_producers; p++)
		pthread_join(prod_t[p], NULL);
	for (c = 0; c < nr_consumers; c++)
		pthread_join(cons_t[c], NULL);
	if (watcher) {
		atomic_store(&s->stop_watcher, true);
		pthread_join(watch_t, NULL);
	}

	/* The final drain: the consumers must have left nothing behind. */
	rest = gpuvm_llist_del_all(&s->head);
	if (rest) {
		struct worker fin = { .s = s };

		for (p = 0; p < MAX_PRODUCERS; p++)
			fin.last_seq[p] = -1;
		consume_chain(&fin, rest, false);
		stress_error(s, "consumers stopped before the list was empty",
			     NULL);
	}

	if (atomic_load(&s->errors))
		fail_msg("%u errors, first: %s", atomic_load(&s->errors),
			 s->first_error);
	assert_int_equal(atomic_load(&s->taken), total);
	for (p = 0; p < nr_producers; p++) {
		for (i = 0; i < s->per_producer; i++) {
			const struct item *it = &s->items[p][i];

			if (it->seen != 1)
				fail_msg("producer %u seq %u taken %u times", p,
					 i, it->seen);
			assert_false(gpuvm_llist_on_list(&it->node));
		}
	}
	assert_true(gpuvm_llist_empty(&s->head));
	assert_int_equal(atomic_load(&s->kicks), atomic_load(&s->emptied));
	print_message("    %u producer(s), %u consumer(s): %lu nodes, "
		      "%lu chains, %lu empty->non-empty, %lu on_list reads\n",
		      nr_producers, nr_consumers, total,
		      atomic_load(&s->chains), atomic_load(&s->kicks),
		      atomic_load(&s->watcher_reads));

	for (p = 0; p < nr_producers; p++)
		free(s->items[p]);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static void test_del_all_p1_c1(void **state)
{
	(void)state;
	run_stress(1, 1, TAKE_DEL_ALL, false);
}

static void test_del_all_p2_c1(void **state)
{
	(void)state;
	run_stress(2, 1, TAKE_DEL_ALL, true);
}

static void test_del_all_p4_c1(void **state)
{
	(void)state;
	run_stress(4, 1, TAKE_DEL_ALL, false);
}

static void test_del_all_p1_c2(void **state)
{
	(void)state;
	run_stress(1, 2, TAKE_DEL_ALL, false);
}

static void test_del_all_p2_c2(void **state)
{
	(void)state;
	run_stress(2, 2, TAKE_DEL_ALL, false);
}

static void test_del_all_p4_c2(void **state)
{
	(void)state;
	run_stress(4, 2, TAKE_DEL_ALL, true);
}

static void test_del_first_p2_c2(void **state)
{
	(void)state;
	run_stress(2, 2, TAKE_DEL_FIRST, false);
}

static void test_del_first_p4_c1(void **state)
{
	(void)state;
	run_stress(4, 1, TAKE_DEL_FIRST, false);
}

static void test_mixed_p2_c2(void **state)
{
	(void)state;
	run_stress(2, 2, TAKE_MIXED, true);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		TU_TEST(test_del_all_p1_c1),   TU_TEST(test_del_all_p2_c1),
		TU_TEST(test_del_all_p4_c1),   TU_TEST(test_del_all_p1_c2),
		TU_TEST(test_del_all_p2_c2),   TU_TEST(test_del_all_p4_c2),
		TU_TEST(test_del_first_p2_c2), TU_TEST(test_del_first_p4_c1),
		TU_TEST(test_mixed_p2_c2),
	};

	/* --iterations: nodes pushed per configuration, over all producers. */
	tu_init(argc, argv, 20260101, 200000);
	return cmocka_run_group_tests_name("llist-stress", tests, NULL, NULL);
}
