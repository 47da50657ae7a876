// SPDX-License-Identifier: MIT
/*
 * Copyright (c) 2026 The libgpuvm authors
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <gpuvm/alloc.h>
#include <gpuvm/va_tree.h>

/*
 * Tests of the VA tree: every entry point on small trees, a model-based
 * random test against a sorted array, allocation-failure injection on every
 * allocating insert, reserve and prealloc, a proof that reserved inserts and
 * all removals never reach the allocator, and the memory use at 10^6 entries.
 */

static uint64_t test_seed;

static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* A per-test generator so that each test replays alone from the seed. */
static uint64_t rng_for(uint64_t salt)
{
	uint64_t s = test_seed ^ (salt * 0x2545f4914f6cdd1dull);

	splitmix64(&s);
	return s;
}

static uint64_t rnd(uint64_t *s, uint64_t bound)
{
	return bound ? splitmix64(s) % bound : splitmix64(s);
}

/* A non-NULL value derived from the key, for trees the model does not hold. */
static void *val_of(uint64_t key)
{
	uint64_t s = key;

	return (void *)(uintptr_t)(splitmix64(&s) | 1);
}

static void check_tree(const struct gpuvm_va_tree *t)
{
	char msg[256];
	int rc = gpuvm_va_tree_check(t, msg, sizeof(msg));

	if (rc)
		print_error("va_tree check failed: %s\n", msg);
	assert_int_equal(rc, 0);
}

static uint64_t live_allocs(void)
{
	struct gpuvm_alloc_stats st;

	gpuvm_alloc_get_stats(&st);
	return st.live_allocs;
}

static double bytes_per_entry(const struct gpuvm_va_tree *t)
{
	return (double)((t->nr_nodes + t->nr_spare) *
			gpuvm_va_tree_node_size()) /
	       (double)t->count;
}

/* Ranges for insert_range: each value is its own [first, last]. */
struct rng_range {
	uint64_t first, last;
};

static uint64_t range_last(const void *val)
{
	return ((const struct rng_range *)val)->last;
}

static void test_insert_range(void **state)
{
	enum { N = 400 };
	static struct rng_range r[N], gap[N], probe;
	struct gpuvm_va_tree t;
	uint64_t base = live_allocs();

	(void)state;
	gpuvm_va_tree_init(&t);
	/* [0x100 i, 0x100 i + 0x7f]: enough ranges to span many leaves. */
	for (unsigned int i = 0; i < N; i++) {
		r[i].first = 0x100ull * i;
		r[i].last = r[i].first + 0x7f;
		assert_int_equal(gpuvm_va_tree_insert_range(&t, r[i].first,
							    r[i].last, &r[i],
							    range_last),
				 0);
	}
	assert_true(t.height >= 2);
	check_tree(&t);
	for (unsigned int i = 0; i < N; i++) {
		/* Reaching into the range from below or from above. */
		probe.first = r[i].first ? r[i].first - 1 : 0;
		probe.last = r[i].first;
		assert_int_equal(gpuvm_va_tree_insert_range(&t, probe.first,
							    probe.last, &probe,
							    range_last),
				 -EEXIST);
		probe.first = r[i].last;
		probe.last = r[i].last + 1;
		assert_int_equal(gpuvm_va_tree_insert_range(&t, probe.first,
							    probe.last, &probe,
							    range_last),
				 -EEXIST);
		/* Covering it whole from the gap before it. */
		if (i) {
			probe.first = r[i - 1].last + 1;
			probe.last = r[i].last + 0x10;
			assert_int_equal(gpuvm_va_tree_insert_range(
						 &t, probe.first, probe.last,
						 &probe, range_last),
					 -EEXIST);
		}
	}
	assert_int_equal(t.count, N);
	/* Every gap exactly filled fits, whichever leaf its neighbours sit in.
	 */
	for (unsigned int i = 0; i < N; i++) {
		gap[i].first = r[i].last + 1;
		gap[i].last = gap[i].first + 0x7f;
		assert_int_equal(gpuvm_va_tree_insert_range(
					 &t, gap[i].first, gap[i].last, &gap[i],
					 range_last),
				 0);
	}
	check_tree(&t);
	assert_int_equal(t.count, 2 * N);
	assert_int_equal(
		gpuvm_va_tree_insert_range(&t, 5, 4, &probe, range_last),
		-EINVAL);
	assert_int_equal(gpuvm_va_tree_insert_range(&t, 1ull << 40,
						    (1ull << 40) + 1, NULL,
						    range_last),
			 -EINVAL);
	assert_int_equal(gpuvm_va_tree_insert_range(&t, 1ull << 40,
						    (1ull << 40) + 1, &probe,
						    NULL),
			 -EINVAL);
	assert_int_equal(t.count, 2 * N);
	gpuvm_va_tree_fini(&t);
	assert_int_equal(live_allocs(), base);
}

/* Two-phase reservation: allocate into a stash, commit without allocating. */
static void test_stash(void **state)
{
	struct gpuvm_va_tree_stash st = { 0 };
	struct gpuvm_va_tree t;
	uint64_t base = live_allocs();
	size_t cost, nodes;

	(void)state;
	gpuvm_va_tree_init(&t);
	for (uint64_t k = 0; k < 5000; k++)
		assert_int_equal(gpuvm_va_tree_insert(&t, k * 16, val_of(k)),
				 0);
	gpuvm_va_tree_trim(&t);
	cost = gpuvm_va_tree_insert_cost(&t);
	nodes = 20 * cost;

	/* A failed fill leaves the stash as it was. */
	assert_int_equal(gpuvm_va_tree_stash_fill(&st, 3), 0);
	gpuvm_alloc_fail_nth(2, false);
	assert_int_equal(gpuvm_va_tree_stash_fill(&st, 10), -ENOMEM);
	gpuvm_alloc_fail_nth(0, false);
	assert_int_equal(st.count, 3);
	/* Too small a stash is refused with nothing changed. */
	assert_int_equal(gpuvm_va_tree_reserve_stash(&t, nodes, &st), -ENOSPC);
	assert_int_equal(t.reserved, 0);
	assert_int_equal(st.count, 3);

	assert_int_equal(gpuvm_va_tree_stash_fill(&st, nodes), 0);
	assert_int_equal(st.count, nodes);
	/* The commit and the covered inserts never reach the allocator. */
	gpuvm_alloc_fail_nth(1, true);
	assert_int_equal(gpuvm_va_tree_reserve_stash(&t, nodes, &st), 0);
	assert_int_equal(t.reserved, nodes);
	assert_true(t.nr_spare >= nodes);
	for (uint64_t k = 0; k < 20; k++)
		assert_int_equal(gpuvm_va_tree_insert(&t, k * 16 * 250 + 1,
						      val_of(k + 100000)),
				 0);
	check_tree(&t);
	/*
	 * Unreserving without a stash keeps every spare in the pool, where
	 * the same reservation finds them again with an empty stash.
	 */
	gpuvm_va_tree_unreserve_stash(&t, nodes, NULL);
	assert_int_equal(t.reserved, 0);
	assert_true(t.nr_spare >= nodes - 20 * cost);
	{
		struct gpuvm_va_tree_stash none = { 0 };
		size_t spare = t.nr_spare;

		assert_int_equal(gpuvm_va_tree_reserve_stash(&t, spare, &none),
				 0);
		assert_int_equal(t.reserved, spare);
		assert_int_equal(t.nr_spare, spare);
		gpuvm_va_tree_unreserve_stash(&t, spare, NULL);
		assert_int_equal(t.nr_spare, spare);
	}
	check_tree(&t);
	/* Trimming keeps what it is told to beyond the floor. */
	{
		size_t spare = t.nr_spare, before = st.count;

		gpuvm_va_tree_trim_stash(&t, 2, &st);
		assert_int_equal(t.nr_spare, 2);
		assert_int_equal(st.count, before + spare - 2);
	}
	/* Unreserving moves spares into the stash instead of freeing them. */
	gpuvm_va_tree_unreserve_stash(&t, 0, &st);
	gpuvm_alloc_fail_nth(0, false);
	assert_int_equal(t.reserved, 0);
	assert_int_equal(t.nr_spare, 0);
	check_tree(&t);
	gpuvm_va_tree_stash_free(&st);
	assert_null(st.head);
	assert_int_equal(st.count, 0);
	gpuvm_va_tree_fini(&t);
	assert_int_equal(live_allocs(), base);
}

/*
 * In-place replacement: an entry may take any key from its own up to below
 * its successor unless that crosses the separator bounding its leaf; then
 * the call refuses and changes nothing. Either way the tree stays valid and
 * every lookup agrees.
 */
static void test_replace(void **state)
{
	struct gpuvm_va_tree t;
	uint64_t base = live_allocs();
	unsigned int moved = 0, refused = 0;

	(void)state;
	gpuvm_va_tree_init(&t);
	assert_int_equal(gpuvm_va_tree_replace(&t, 0, 0, NULL), -ENOENT);
	for (uint64_t k = 0; k < 3000; k++)
		assert_int_equal(gpuvm_va_tree_insert(&t, k * 16, val_of(k)),
				 0);
	/* Randomly removed keys leave separators the leaves no longer reach. */
	for (uint64_t k = 0; k < 3000; k += 7)
		assert_non_null(gpuvm_va_tree_remove(&t, k * 16));
	assert_int_equal(gpuvm_va_tree_replace(&t, 5, 6, NULL), -ENOENT);
	for (uint64_t k = 1; k < 3000; k++) {
		uint64_t key = k * 16, next = key + 16;
		int ret;

		if (k % 7 == 0)
			continue;
		if ((k + 1) % 7 == 0)
			next += 16;
		if (k + 1 == 3000)
			next = UINT64_MAX;
		/* Never below the old key, never at or past the successor. */
		assert_int_equal(
			gpuvm_va_tree_replace(&t, key, key - 1, val_of(k)),
			-ERANGE);
		if (next != UINT64_MAX)
			assert_int_equal(
				gpuvm_va_tree_replace(&t, key, next, val_of(k)),
				-ERANGE);
		/* Same key, new value: always in place. */
		assert_int_equal(
			gpuvm_va_tree_replace(&t, key, key, val_of(k + 5000)),
			0);
		assert_ptr_equal(gpuvm_va_tree_lookup(&t, key),
				 val_of(k + 5000));
		ret = gpuvm_va_tree_replace(&t, key, next - 1, val_of(k));
		if (ret == 0) {
			moved++;
			assert_null(gpuvm_va_tree_lookup(&t, key));
			assert_ptr_equal(gpuvm_va_tree_lookup(&t, next - 1),
					 val_of(k));
			/* Back where it was, to keep the pattern. */
			assert_int_equal(gpuvm_va_tree_remove(&t, next - 1),
					 val_of(k));
			assert_int_equal(
				gpuvm_va_tree_insert(&t, key, val_of(k)), 0);
		} else {
			assert_int_equal(ret, -ERANGE);
			refused++;
			assert_ptr_equal(gpuvm_va_tree_lookup(&t, key),
					 val_of(k + 5000));
			assert_int_equal(
				gpuvm_va_tree_replace(&t, key, key, val_of(k)),
				0);
		}
	}
	check_tree(&t);
	assert_true(moved > 0);
	assert_true(refused > 0);
	gpuvm_va_tree_fini(&t);
	assert_int_equal(live_allocs(), base);
}

/* Prefetching is a hint: it changes nothing, whatever the keys. */
static void test_prefetch(void **state)
{
	struct gpuvm_va_tree t;
	uint64_t keys[100];
	uint64_t rs = rng_for(17), seq;

	(void)state;
	gpuvm_va_tree_init(&t);
	keys[0] = 5;
	gpuvm_va_tree_prefetch(&t, keys, 1);
	assert_int_equal(gpuvm_va_tree_insert(&t, 16, val_of(1)), 0);
	gpuvm_va_tree_prefetch(&t, keys, 1);
	for (uint64_t k = 2; k < 20000; k++)
		assert_int_equal(gpuvm_va_tree_insert(&t, k * 16, val_of(k)),
				 0);
	for (unsigned int i = 0; i < 100; i++)
		keys[i] = rnd(&rs, 20000 * 16 + 64);
	keys[0] = 0;
	keys[1] = UINT64_MAX;
	seq = t.seq;
	gpuvm_va_tree_prefetch(&t, keys, 100);
	gpuvm_va_tree_prefetch(&t, keys, 0);
	assert_int_equal(t.seq, seq);
	assert_int_equal(t.count, 19999);
	check_tree(&t);
	gpuvm_va_tree_fini(&t);
}

/* Unit tests. */

static void test_empty(void **state)
{
	struct gpuvm_va_tree t;
	struct gpuvm_va_tree_cursor c;
	uint64_t base = live_allocs();

	(void)state;
	gpuvm_va_tree_init(&t);
	assert_null(t.root);
	assert_int_equal(t.count, 0);
	assert_int_equal(t.height, 0);
	assert_int_equal(t.seq, 0);
	assert_null(gpuvm_va_tree_lookup(&t, 0));
	assert_null(gpuvm_va_tree_lookup(&t, UINT64_MAX));
	assert_null(gpuvm_va_tree_remove(&t, 5));
	assert_int_equal(t.seq, 0);
	assert_false(gpuvm_va_tree_seek_le(&t, UINT64_MAX, &c));
	assert_false(gpuvm_va_tree_seek_ge(&t, 0, &c));
	assert_false(gpuvm_va_tree_first(&t, &c));
	assert_false(gpuvm_va_tree_last(&t, &c));
	assert_int_equal(gpuvm_va_tree_insert_cost(&t), 2);
	assert_int_equal(gpuvm_va_tree_check(&t, NULL, 0), 0);
	assert_true(gpuvm_va_tree_node_size() > 0);
	assert_true(gpuvm_va_tree_node_size() <= 512);
	gpuvm_va_tree_trim(&t);
	gpuvm_va_tree_fini(&t);
	assert_int_equal(live_allocs(), base);
}

static void test_insert_lookup_remove(void **state)
{
	static const uint64_t keys[] = { 0,    UINT64_MAX, 1, UINT64_MAX - 1,
					 4096, 1ull << 63, 77 };
	const size_t n = sizeof(keys) / sizeof(keys[0]);
	struct gpuvm_va_tree t;
	struct gpuvm_va_tree_cursor c;
	uint64_t base = live_allocs(), seq;
	int dummy;

	(void)state;
	gpuvm_va_tree_init(&t);
	for (size_t i = 0; i < n; i++) {
		seq = t.seq;
		assert_int_equal(
			gpuvm_va_tree_insert(&t, keys[i], val_of(keys[i])), 0);
		assert_int_equal(t.seq, seq + 1);
		assert_int_equal(t.count, i + 1);
		check_tree(&t);
	}
	for (size_t i = 0; i < n; i++)
		assert_ptr_equal(gpuvm_va_tree_lookup(&t, keys[i]),
				 val_of(keys[i]));
	assert_null(gpuvm_va_tree_lookup(&t, 2));
	assert_null(gpuvm_va_tree_lookup(&t, UINT64_MAX - 2));

	/* Failed inserts change nothing, not even the sequence number. */
	seq = t.seq;
	assert_int_equal(gpuvm_va_tree_insert(&t, 4096, &dummy), -EEXIST);
	assert_int_equal(gpuvm_va_tree_insert(&t, 0, &dummy), -EEXIST);
	assert_int_equal(gpuvm_va_tree_insert(&t, UINT64_MAX, &dummy), -EEXIST);
	assert_int_equal(gpuvm_va_tree_insert(&t, 5, NULL), -EINVAL);
	assert_int_equal(t.seq, seq);
	assert_int_equal(t.count, n);
	assert_ptr_equal(gpuvm_va_tree_lookup(&t, 4096), val_of(4096));
	assert_null(gpuvm_va_tree_lookup(&t, 5));

	assert_true(gpuvm_va_tree_first(&t, &c));
	assert_int_equal(gpuvm_va_tree_cursor_key(&c), 0);
	assert_true(gpuvm_va_tree_last(&t, &c));
	assert_true(gpuvm_va_tree_cursor_key(&c) == UINT64_MAX);
	assert_true(gpuvm_va_tree_seek_le(&t, UINT64_MAX, &c));
	assert_true(gpuvm_va_tree_cursor_key(&c) == UINT64_MAX);
	assert_true(gpuvm_va_tree_seek_ge(&t, 0, &c));
	assert_int_equal(gpuvm_va_tree_cursor_key(&c), 0);

	/* Removing an absent key fails without a sequence change. */
	seq = t.seq;
	assert_null(gpuvm_va_tree_remove(&t, 2));
	assert_int_equal(t.seq, seq);
	for (size_t i = 0; i < n; i++) {
		assert_ptr_equal(gpuvm_va_tree_remove(&t, keys[i]),
				 val_of(keys[i]));
		assert_int_equal(t.seq, seq + i + 1);
		assert_null(gpuvm_va_tree_lookup(&t, keys[i]));
		assert_null(gpuvm_va_tree_remove(&t, keys[i]));
		check_tree(&t);
	}
	assert_int_equal(t.count, 0);
	assert_null(t.root);
	assert_int_equal(t.height, 0);
	gpuvm_va_tree_fini(&t);
	assert_int_equal(live_allocs(), base);
}

/* Keys 10, 20, ..., 10 * n: every probe has an arithmetic answer. */
static void fill_tens(struct gpuvm_va_tree *t, uint64_t n)
{
	for (uint64_t i = 1; i <= n; i++)
		assert_int_equal(
			gpuvm_va_tree_insert(t, i * 10, val_of(i * 10)), 0);
}

/* Reference seeks over a sorted array. */
static bool ref_le(const uint64_t *k, size_t n, uint64_t key, size_t *idx)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (k[mid] <= key)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return false;
	*idx = lo - 1;
	return true;
}

static bool ref_ge(const uint64_t *k, size_t n, uint64_t key, size_t *idx)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (k[mid] < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == n)
		return false;
	*idx = lo;
	return true;
}

/* Compare both seeks at @key, and one step either way from the result. */
static void compare_seeks(const struct gpuvm_va_tree *t, const uint64_t *k,
			  size_t n, uint64_t key)
{
	struct gpuvm_va_tree_cursor c, d;
	size_t idx = 0;
	bool found;

	found = gpuvm_va_tree_seek_le(t, key, &c);
	assert_int_equal(found, ref_le(k, n, key, &idx));
	if (found) {
		assert_true(gpuvm_va_tree_cursor_valid(t, &c));
		assert_true(gpuvm_va_tree_cursor_key(&c) == k[idx]);
		assert_ptr_equal(gpuvm_va_tree_cursor_val(&c), val_of(k[idx]));
		d = c;
		assert_int_equal(gpuvm_va_tree_next(&d), idx + 1 < n);
		if (idx + 1 < n)
			assert_true(gpuvm_va_tree_cursor_key(&d) == k[idx + 1]);
		d = c;
		assert_int_equal(gpuvm_va_tree_prev(&d), idx > 0);
		if (idx > 0)
			assert_true(gpuvm_va_tree_cursor_key(&d) == k[idx - 1]);
	}
	found = gpuvm_va_tree_seek_ge(t, key, &c);
	assert_int_equal(found, ref_ge(k, n, key, &idx));
	if (found) {
		assert_true(gpuvm_va_tree_cursor_key(&c) == k[idx]);
		d = c;
		assert_int_equal(gpuvm_va_tree_prev(&d), idx > 0);
		if (idx > 0)
			assert_true(gpuvm_va_tree_cursor_key(&d) == k[idx - 1]);
	}
}

static void test_seek(void **state)
{
	const uint64_t n = 3000;
	struct gpuvm_va_tree t;
	uint64_t *k = malloc(n * sizeof(*k));
	size_t m = 0;

	(void)state;
	assert_non_null(k);
	gpuvm_va_tree_init(&t);
	fill_tens(&t, n);
	check_tree(&t);
	assert_true(t.height >= 3);
	for (uint64_t i = 1; i <= n; i++)
		k[m++] = i * 10;

	/* At keys, between them, and beyond both ends. */
	for (uint64_t p = 0; p <= n * 10 + 20; p++)
		compare_seeks(&t, k, m, p);
	compare_seeks(&t, k, m, UINT64_MAX);

	/*
	 * Remove two of every three keys, and whole runs, so that many leaves
	 * lose their first key and separators go stale; the seeks must still
	 * find predecessors in the previous leaf.
	 */
	m = 0;
	for (uint64_t i = 1; i <= n; i++) {
		uint64_t key = i * 10;

		if (i % 3 == 0 && (i < 1000 || i > 1400)) {
			k[m++] = key;
			continue;
		}
		assert_ptr_equal(gpuvm_va_tree_remove(&t, key), val_of(key));
	}
	check_tree(&t);
	assert_int_equal(t.count, m);
	for (uint64_t p = 0; p <= n * 10 + 20; p++)
		compare_seeks(&t, k, m, p);
	compare_seeks(&t, k, m, UINT64_MAX);

	/* One entry left: both seeks from either side. */
	while (m > 1) {
		m--;
		assert_ptr_equal(gpuvm_va_tree_remove(&t, k[m]), val_of(k[m]));
	}
	check_tree(&t);
	compare_seeks(&t, k, m, 0);
	compare_seeks(&t, k, m, k[0]);
	compare_seeks(&t, k, m, k[0] + 1);
	compare_seeks(&t, k, m, UINT64_MAX);
	gpuvm_va_tree_fini(&t);
	free(k);
}

static void test_walk(void **state)
{
	const uint64_t n = 5000;
	struct gpuvm_va_tree t;
	struct gpuvm_va_tree_cursor c;
	uint64_t i;

	(void)state;
	gpuvm_va_tree_init(&t);
	/* Interleaved order so that the leaves are not built by appends. */
	for (i = 1; i <= n; i += 2)
		assert_int_equal(
			gpuvm_va_tree_insert(&t, i * 10, val_of(i * 10)), 0);
	for (i = 2; i <= n; i += 2)
		assert_int_equal(
			gpuvm_va_tree_insert(&t, i * 10, val_of(i * 10)), 0);
	check_tree(&t);

	assert_true(gpuvm_va_tree_first(&t, &c));
	for (i = 1; i <= n; i++) {
		assert_true(gpuvm_va_tree_cursor_key(&c) == i * 10);
		assert_ptr_equal(gpuvm_va_tree_cursor_val(&c), val_of(i * 10));
		assert_int_equal(gpuvm_va_tree_next(&c), i < n);
	}
	assert_true(gpuvm_va_tree_last(&t, &c));
	for (i = n; i >= 1; i--) {
		assert_true(gpuvm_va_tree_cursor_key(&c) == i * 10);
		assert_int_equal(gpuvm_va_tree_prev(&c), i > 1);
	}
	/* Direction changes at leaf boundaries. */
	assert_true(gpuvm_va_tree_seek_ge(&t, 10 * 31, &c));
	for (i = 0; i < 200; i++) {
		uint64_t key = gpuvm_va_tree_cursor_key(&c);

		assert_true(gpuvm_va_tree_next(&c));
		assert_true(gpuvm_va_tree_prev(&c));
		assert_true(gpuvm_va_tree_cursor_key(&c) == key);
		assert_true(gpuvm_va_tree_next(&c));
	}
	gpuvm_va_tree_fini(&t);
}

static void test_cursor_valid(void **state)
{
	struct gpuvm_va_tree t;
	struct gpuvm_va_tree_cursor c;
	int dummy;

	(void)state;
	gpuvm_va_tree_init(&t);
	fill_tens(&t, 100);
	assert_true(gpuvm_va_tree_seek_le(&t, 55, &c));
	assert_true(gpuvm_va_tree_cursor_valid(&t, &c));

	/* Calls that change nothing leave cursors usable. */
	assert_int_equal(gpuvm_va_tree_insert(&t, 50, &dummy), -EEXIST);
	assert_int_equal(gpuvm_va_tree_insert(&t, 51, NULL), -EINVAL);
	assert_null(gpuvm_va_tree_remove(&t, 51));
	assert_null(gpuvm_va_tree_lookup(&t, 51));
	assert_int_equal(gpuvm_va_tree_reserve(&t, 4), 0);
	gpuvm_va_tree_unreserve(&t, 4);
	gpuvm_va_tree_trim(&t);
	assert_true(gpuvm_va_tree_cursor_valid(&t, &c));
	assert_int_equal(gpuvm_va_tree_cursor_key(&c), 50);

	assert_int_equal(gpuvm_va_tree_insert(&t, 51, &dummy), 0);
	assert_false(gpuvm_va_tree_cursor_valid(&t, &c));
	assert_true(gpuvm_va_tree_seek_ge(&t, 51, &c));
	assert_true(gpuvm_va_tree_cursor_valid(&t, &c));
	assert_ptr_equal(gpuvm_va_tree_cursor_val(&c), &dummy);
	assert_ptr_equal(gpuvm_va_tree_remove(&t, 51), &dummy);
	assert_false(gpuvm_va_tree_cursor_valid(&t, &c));
	assert_true(gpuvm_va_tree_first(&t, &c));
	assert_true(gpuvm_va_tree_cursor_valid(&t, &c));
	assert_ptr_equal(gpuvm_va_tree_remove(&t, 10), val_of(10));
	assert_false(gpuvm_va_tree_cursor_valid(&t, &c));
	gpuvm_va_tree_fini(&t);
}

static void test_reserve_trim(void **state)
{
	struct gpuvm_va_tree t;
	uint64_t base = live_allocs();
	size_t spare;

	(void)state;
	gpuvm_va_tree_init(&t);
	assert_int_equal(gpuvm_va_tree_reserve(&t, 5), 0);
	assert_int_equal(t.reserved, 5);
	assert_int_equal(t.nr_spare, 5);
	assert_int_equal(live_allocs(), base + 5);
	assert_int_equal(gpuvm_va_tree_reserve(&t, 3), 0);
	assert_int_equal(t.reserved, 8);
	assert_int_equal(t.nr_spare, 8);
	assert_int_equal(gpuvm_va_tree_reserve(&t, 0), 0);
	assert_int_equal(t.nr_spare, 8);
	check_tree(&t);

	/* Trim keeps what is reserved. */
	gpuvm_va_tree_trim(&t);
	assert_int_equal(t.nr_spare, 8);
	gpuvm_va_tree_unreserve(&t, 3);
	assert_int_equal(t.reserved, 5);
	assert_int_equal(t.nr_spare, 5);
	/* More than is reserved clamps at zero. */
	gpuvm_va_tree_unreserve(&t, 100);
	assert_int_equal(t.reserved, 0);
	assert_int_equal(t.nr_spare, 0);
	assert_int_equal(live_allocs(), base);

	/* insert_cost follows the height. */
	for (uint64_t i = 0; i < 20000; i++) {
		assert_int_equal(gpuvm_va_tree_insert(&t, i, val_of(i)), 0);
		assert_int_equal(gpuvm_va_tree_insert_cost(&t), t.height + 2);
	}
	assert_true(t.height >= 3);
	assert_int_equal(live_allocs(), base + t.nr_nodes + t.nr_spare);

	/* Inserts draw on the pool without touching the reservation. */
	gpuvm_va_tree_trim(&t);
	assert_int_equal(t.nr_spare, 0);
	assert_int_equal(gpuvm_va_tree_reserve(&t, 10), 0);
	spare = t.nr_spare;
	for (uint64_t i = 0; i < 200; i++)
		assert_int_equal(
			gpuvm_va_tree_insert(&t, 1000000 + i, val_of(i)), 0);
	assert_int_equal(t.reserved, 10);
	assert_true(t.nr_spare < spare);
	gpuvm_va_tree_unreserve(&t, 10);
	assert_int_equal(t.nr_spare, 0);
	check_tree(&t);
	assert_int_equal(live_allocs(), base + t.nr_nodes);

	/* Prealloc tops the pool up to a size and leaves reserved alone. */
	assert_int_equal(gpuvm_va_tree_prealloc(&t, 6), 0);
	assert_int_equal(t.nr_spare, 6);
	assert_int_equal(t.reserved, 0);
	assert_int_equal(gpuvm_va_tree_prealloc(&t, 2), 0);
	assert_int_equal(t.nr_spare, 6);
	assert_int_equal(gpuvm_va_tree_reserve(&t, 4), 0);
	assert_int_equal(t.nr_spare, 6);
	assert_int_equal(gpuvm_va_tree_prealloc(&t, 9), 0);
	assert_int_equal(t.nr_spare, 9);
	assert_int_equal(t.reserved, 4);
	gpuvm_va_tree_trim(&t);
	assert_int_equal(t.nr_spare, 4);
	gpuvm_va_tree_unreserve(&t, 4);
	assert_int_equal(t.nr_spare, 0);
	assert_int_equal(live_allocs(), base + t.nr_nodes);
	gpuvm_va_tree_fini(&t);
	assert_int_equal(live_allocs(), base);
}

static void test_fini_reuse(void **state)
{
	struct gpuvm_va_tree t;
	uint64_t base = live_allocs();

	(void)state;
	gpuvm_va_tree_init(&t);
	for (int round = 0; round < 3; round++) {
		fill_tens(&t, 2000 * (uint64_t)(round + 1));
		assert_int_equal(gpuvm_va_tree_reserve(&t, 7), 0);
		for (uint64_t i = 1; i <= 500; i++)
			assert_non_null(gpuvm_va_tree_remove(&t, i * 30));
		check_tree(&t);
		gpuvm_va_tree_fini(&t);
		assert_null(t.root);
		assert_null(t.spare);
		assert_int_equal(t.count, 0);
		assert_int_equal(t.nr_nodes, 0);
		assert_int_equal(t.nr_spare, 0);
		assert_int_equal(t.reserved, 0);
		assert_int_equal(t.height, 0);
		assert_int_equal(live_allocs(), base);
		check_tree(&t);
	}
}

/* The model-based random test. */

struct model {
	uint64_t *keys;
	void **vals;
	size_t n, cap;
};

static size_t model_pos(const struct model *m, uint64_t key)
{
	size_t lo = 0, hi = m->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (m->keys[mid] < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static bool model_has(const struct model *m, uint64_t key, size_t *pos)
{
	*pos = model_pos(m, key);
	return *pos < m->n && m->keys[*pos] == key;
}

static void model_insert(struct model *m, size_t pos, uint64_t key, void *v)
{
	if (m->n == m->cap) {
		m->cap = m->cap ? 2 * m->cap : 1024;
		m->keys = realloc(m->keys, m->cap * sizeof(*m->keys));
		m->vals = realloc(m->vals, m->cap * sizeof(*m->vals));
		assert_non_null(m->keys);
		assert_non_null(m->vals);
	}
	memmove(m->keys + pos + 1, m->keys + pos,
		(m->n - pos) * sizeof(*m->keys));
	memmove(m->vals + pos + 1, m->vals + pos,
		(m->n - pos) * sizeof(*m->vals));
	m->keys[pos] = key;
	m->vals[pos] = v;
	m->n++;
}

static void model_remove(struct model *m, size_t pos)
{
	memmove(m->keys + pos, m->keys + pos + 1,
		(m->n - pos - 1) * sizeof(*m->keys));
	memmove(m->vals + pos, m->vals + pos + 1,
		(m->n - pos - 1) * sizeof(*m->vals));
	m->n--;
}

static void compare_full(const struct gpuvm_va_tree *t, const struct model *m)
{
	struct gpuvm_va_tree_cursor c;
	size_t i;

	assert_int_equal(t->count, m->n);
	if (!m->n) {
		assert_false(gpuvm_va_tree_first(t, &c));
		return;
	}
	assert_true(gpuvm_va_tree_first(t, &c));
	for (i = 0; i < m->n; i++) {
		assert_true(gpuvm_va_tree_cursor_key(&c) == m->keys[i]);
		assert_ptr_equal(gpuvm_va_tree_cursor_val(&c), m->vals[i]);
		assert_int_equal(gpuvm_va_tree_next(&c), i + 1 < m->n);
	}
	assert_true(gpuvm_va_tree_last(t, &c));
	for (i = m->n; i-- > 0;) {
		assert_true(gpuvm_va_tree_cursor_key(&c) == m->keys[i]);
		assert_int_equal(gpuvm_va_tree_prev(&c), i > 0);
	}
}

/* Key spaces the random test draws from. */
enum space { DENSE, SPARSE, MEDIUM, ENDS };

static uint64_t draw_key(uint64_t *s, enum space sp)
{
	uint64_t k;

	switch (sp) {
	case DENSE:
		return rnd(s, 600);
	case MEDIUM:
		return rnd(s, 10000);
	case ENDS:
		/* Both ends of the key space, to catch overflow at the edges.
		 */
		k = rnd(s, 3000);
		return k < 1500 ? k : UINT64_MAX - (k - 1500);
	case SPARSE:
	default:
		return splitmix64(s);
	}
}

struct rt_state {
	struct gpuvm_va_tree t;
	struct model m;
	uint64_t s;
	uint64_t ops;
	uint64_t next_val;
};

static void *fresh_val(struct rt_state *st)
{
	st->next_val += 16;
	return (void *)(uintptr_t)st->next_val;
}

static void rt_after_op(struct rt_state *st)
{
	st->ops++;
	if (st->ops < 4000 || st->ops % 61 == 0)
		check_tree(&st->t);
	if (st->ops % 1500 == 0)
		compare_full(&st->t, &st->m);
}

static void rt_insert(struct rt_state *st, uint64_t key)
{
	uint64_t seq = st->t.seq;
	void *v = fresh_val(st);
	size_t pos;
	int rc = gpuvm_va_tree_insert(&st->t, key, v);

	if (model_has(&st->m, key, &pos)) {
		assert_int_equal(rc, -EEXIST);
		assert_int_equal(st->t.seq, seq);
	} else {
		assert_int_equal(rc, 0);
		assert_int_equal(st->t.seq, seq + 1);
		model_insert(&st->m, pos, key, v);
	}
	assert_int_equal(st->t.count, st->m.n);
	rt_after_op(st);
}

static void rt_remove(struct rt_state *st, uint64_t key)
{
	uint64_t seq = st->t.seq;
	size_t pos;
	void *v = gpuvm_va_tree_remove(&st->t, key);

	if (model_has(&st->m, key, &pos)) {
		assert_ptr_equal(v, st->m.vals[pos]);
		assert_int_equal(st->t.seq, seq + 1);
		model_remove(&st->m, pos);
	} else {
		assert_null(v);
		assert_int_equal(st->t.seq, seq);
	}
	assert_int_equal(st->t.count, st->m.n);
	rt_after_op(st);
}

static void rt_seek(struct rt_state *st, uint64_t key)
{
	struct gpuvm_va_tree_cursor c;
	size_t idx = 0;
	bool found;

	found = gpuvm_va_tree_seek_le(&st->t, key, &c);
	assert_int_equal(found, ref_le(st->m.keys, st->m.n, key, &idx));
	if (found) {
		/* Walk a few steps back from the result. */
		for (int i = 0; i < 3; i++) {
			assert_true(gpuvm_va_tree_cursor_key(&c) ==
				    st->m.keys[idx]);
			assert_ptr_equal(gpuvm_va_tree_cursor_val(&c),
					 st->m.vals[idx]);
			if (!idx) {
				assert_false(gpuvm_va_tree_prev(&c));
				break;
			}
			assert_true(gpuvm_va_tree_prev(&c));
			idx--;
		}
	}
	found = gpuvm_va_tree_seek_ge(&st->t, key, &c);
	assert_int_equal(found, ref_ge(st->m.keys, st->m.n, key, &idx));
	if (found) {
		for (int i = 0; i < 3; i++) {
			assert_true(gpuvm_va_tree_cursor_key(&c) ==
				    st->m.keys[idx]);
			if (idx + 1 == st->m.n) {
				assert_false(gpuvm_va_tree_next(&c));
				break;
			}
			assert_true(gpuvm_va_tree_next(&c));
			idx++;
		}
	}
	assert_ptr_equal(gpuvm_va_tree_lookup(&st->t, key),
			 model_has(&st->m, key, &idx) ? st->m.vals[idx] : NULL);
}

/*
 * One phase: @nops operations on keys from @sp, inserting with probability
 * @ins_pct percent; a few percent of operations are ascending or descending
 * runs of consecutive keys, which drive the edge splits.
 */
static void rt_phase(struct rt_state *st, enum space sp, unsigned int nops,
		     unsigned int ins_pct)
{
	for (unsigned int i = 0; i < nops; i++) {
		uint64_t r = rnd(&st->s, 100), key = draw_key(&st->s, sp);
		size_t pos;

		if (r < 2) {
			unsigned int len = 1 + (unsigned int)rnd(&st->s, 80);
			uint64_t step =
				sp == SPARSE ? 1 + rnd(&st->s, 1000) : 1;
			bool down = rnd(&st->s, 2);

			for (unsigned int j = 0; j < len; j++) {
				rt_insert(st, key);
				if (down ? key < step : key > UINT64_MAX - step)
					break;
				key = down ? key - step : key + step;
			}
		} else if (r < 4 && st->m.n) {
			/* Remove a run of present keys. */
			unsigned int len = 1 + (unsigned int)rnd(&st->s, 60);

			pos = rnd(&st->s, st->m.n);
			for (unsigned int j = 0; j < len && pos < st->m.n; j++)
				rt_remove(st, st->m.keys[pos]);
		} else if (r < 20) {
			rt_seek(st, key);
			if (st->m.n)
				rt_seek(st, st->m.keys[rnd(&st->s, st->m.n)]);
		} else if (r < 20 + (uint64_t)ins_pct * 80 / 100) {
			rt_insert(st, key);
		} else if (st->m.n && rnd(&st->s, 2)) {
			rt_remove(st, st->m.keys[rnd(&st->s, st->m.n)]);
		} else {
			rt_remove(st, key);
		}
	}
	check_tree(&st->t);
	compare_full(&st->t, &st->m);
}

static void test_random_model(void **state)
{
	struct rt_state *st = calloc(1, sizeof(*st));
	uint64_t base = live_allocs();

	(void)state;
	assert_non_null(st);
	st->s = rng_for(1);
	gpuvm_va_tree_init(&st->t);

	rt_phase(st, DENSE, 15000, 50);
	rt_phase(st, ENDS, 8000, 60);
	rt_phase(st, SPARSE, 10000, 75);
	rt_phase(st, MEDIUM, 15000, 70);
	/* Shrink to nothing, which collapses the tree level by level. */
	rt_phase(st, MEDIUM, 20000, 15);
	while (st->m.n)
		rt_remove(st, st->m.keys[rnd(&st->s, st->m.n)]);
	check_tree(&st->t);
	assert_null(st->t.root);
	rt_phase(st, DENSE, 8000, 65);

	print_message("random model: %" PRIu64
		      " operations, %zu entries left\n",
		      st->ops, st->m.n);
	gpuvm_va_tree_fini(&st->t);
	assert_int_equal(live_allocs(), base);
	free(st->m.keys);
	free(st->m.vals);
	free(st);
}

/* Allocation-failure injection. */

struct snap {
	size_t count, nr_nodes, nr_spare, reserved;
	uint64_t seq, live;
	unsigned int height;
	uint64_t first, last;
};

static void take_snap(const struct gpuvm_va_tree *t, struct snap *s)
{
	struct gpuvm_va_tree_cursor c;

	memset(s, 0, sizeof(*s));
	s->count = t->count;
	s->nr_nodes = t->nr_nodes;
	s->nr_spare = t->nr_spare;
	s->reserved = t->reserved;
	s->seq = t->seq;
	s->height = t->height;
	s->live = live_allocs();
	if (gpuvm_va_tree_first(t, &c))
		s->first = gpuvm_va_tree_cursor_key(&c);
	if (gpuvm_va_tree_last(t, &c))
		s->last = gpuvm_va_tree_cursor_key(&c);
}

static void assert_snap(const struct gpuvm_va_tree *t, const struct snap *s)
{
	struct snap now;

	take_snap(t, &now);
	assert_int_equal(now.count, s->count);
	assert_int_equal(now.nr_nodes, s->nr_nodes);
	assert_int_equal(now.nr_spare, s->nr_spare);
	assert_int_equal(now.reserved, s->reserved);
	assert_int_equal(now.seq, s->seq);
	assert_int_equal(now.height, s->height);
	assert_int_equal(now.live, s->live);
	assert_true(now.first == s->first);
	assert_true(now.last == s->last);
}

/*
 * Insert @key failing the 1st, 2nd, ... allocation until the insert goes
 * through; every failure must leave the tree exactly as it was. With the
 * pool trimmed first, every node the insert needs is an allocation. Returns
 * the number of allocations the insert made.
 */
static unsigned int insert_with_failures(struct gpuvm_va_tree *t,
					 struct model *m, uint64_t key,
					 unsigned int *fails)
{
	struct snap before;
	unsigned int nth;
	size_t pos;
	int rc;

	gpuvm_va_tree_trim(t);
	assert_false(model_has(m, key, &pos));
	for (nth = 1;; nth++) {
		take_snap(t, &before);
		gpuvm_alloc_fail_nth(nth, false);
		rc = gpuvm_va_tree_insert(t, key, val_of(key));
		gpuvm_alloc_fail_nth(0, false);
		if (!rc)
			break;
		assert_int_equal(rc, -ENOMEM);
		assert_snap(t, &before);
		assert_null(gpuvm_va_tree_lookup(t, key));
		/* The full comparison is O(n); do it often, not always. */
		if (m->n < 1500 || ++*fails % 16 == 0) {
			check_tree(t);
			compare_full(t, m);
		}
	}
	model_insert(m, pos, key, val_of(key));
	assert_int_equal(t->count, m->n);
	return nth - 1;
}

static void test_alloc_fail_insert(void **state)
{
	struct gpuvm_va_tree t;
	struct model m = { 0 };
	uint64_t base = live_allocs(), s = rng_for(2);
	unsigned int need, max_need = 0, fails = 0;
	unsigned int h;

	(void)state;
	gpuvm_va_tree_init(&t);

	/*
	 * Ascending appends reach, every so often, a path on which every node
	 * is full, so that one insert needs a node per level and a new root.
	 */
	for (uint64_t i = 0; i < 30000; i++) {
		h = t.height;
		need = insert_with_failures(&t, &m, 1000000 + i * 8, &fails);
		if (need > max_need)
			max_need = need;
		if (need == h + 1)
			assert_int_equal(t.height, h + 1);
	}
	check_tree(&t);
	compare_full(&t, &m);
	print_message("ascending: height %u, largest insert took %u nodes, "
		      "%u injected failures\n",
		      t.height, max_need, fails);
	assert_true(max_need >= 3);
	assert_true(max_need <= t.height + 1);

	/* Descending below, and random keys in between. */
	for (uint64_t i = 1; i <= 2000; i++)
		insert_with_failures(&t, &m, 1000000 - i * 8, &fails);
	for (int i = 0; i < 4000; i++) {
		uint64_t key = 980000 + rnd(&s, 30000 * 8 + 20000);
		size_t pos;

		if (model_has(&m, key, &pos))
			continue;
		need = insert_with_failures(&t, &m, key, &fails);
		assert_true(need <= t.height + 1);
	}
	check_tree(&t);
	compare_full(&t, &m);

	/* Reserve fails cleanly for every N too, with spares already pooled. */
	gpuvm_va_tree_trim(&t);
	assert_int_equal(gpuvm_va_tree_reserve(&t, 3), 0);
	for (unsigned int nth = 1;; nth++) {
		struct snap before;
		int rc;

		take_snap(&t, &before);
		gpuvm_alloc_fail_nth(nth, false);
		rc = gpuvm_va_tree_reserve(&t, 40);
		gpuvm_alloc_fail_nth(0, false);
		if (!rc) {
			assert_int_equal(nth, 41);
			break;
		}
		assert_int_equal(rc, -ENOMEM);
		assert_snap(&t, &before);
		check_tree(&t);
	}
	assert_int_equal(t.reserved, 43);
	assert_int_equal(t.nr_spare, 43);

	/* And prealloc, which must not touch the reservation either. */
	for (unsigned int nth = 1;; nth++) {
		struct snap before;
		int rc;

		take_snap(&t, &before);
		gpuvm_alloc_fail_nth(nth, false);
		rc = gpuvm_va_tree_prealloc(&t, 60);
		gpuvm_alloc_fail_nth(0, false);
		if (!rc) {
			assert_int_equal(nth, 18);
			break;
		}
		assert_int_equal(rc, -ENOMEM);
		assert_snap(&t, &before);
	}
	assert_int_equal(t.reserved, 43);
	assert_int_equal(t.nr_spare, 60);
	gpuvm_va_tree_unreserve(&t, 43);
	assert_int_equal(t.nr_spare, 0);

	gpuvm_va_tree_fini(&t);
	assert_int_equal(live_allocs(), base);
	free(m.keys);
	free(m.vals);
}

/*
 * After reserving insert_cost() nodes per insert, those inserts and any
 * number of removals must not reach the allocator at all: every allocation
 * fails from the first on, and the failure counter must not move.
 */
static void test_reserved_no_alloc(void **state)
{
	const unsigned int k = 400;
	struct gpuvm_va_tree t;
	struct gpuvm_alloc_stats st0, st1;
	struct model m = { 0 };
	uint64_t s = rng_for(3), base = live_allocs();
	uint64_t lo = 1ull << 40, hi = (1ull << 40) + 4096 * 4096;
	size_t pos, cost;

	(void)state;
	gpuvm_va_tree_init(&t);
	/* A tree with a packed middle (appended) and random surroundings. */
	for (uint64_t i = 0; i < 4096; i++) {
		uint64_t key = lo + i * 4096;

		assert_int_equal(gpuvm_va_tree_insert(&t, key, val_of(key)), 0);
		model_insert(&m, m.n, key, val_of(key));
	}
	for (int i = 0; i < 6000; i++) {
		uint64_t key = lo - (1ull << 30) + rnd(&s, 1ull << 31);

		if (key % 4096 == 0 || model_has(&m, key, &pos))
			continue;
		assert_int_equal(gpuvm_va_tree_insert(&t, key, val_of(key)), 0);
		model_insert(&m, pos, key, val_of(key));
	}
	gpuvm_va_tree_trim(&t);

	for (int round = 0; round < 2; round++) {
		cost = gpuvm_va_tree_insert_cost(&t);
		assert_int_equal(gpuvm_va_tree_reserve(&t, k * cost), 0);
		gpuvm_alloc_get_stats(&st0);
		gpuvm_alloc_fail_nth(1, true);

		for (unsigned int i = 0; i < k; i++) {
			uint64_t key;

			switch (i % 4) {
			case 0: /* append past the highest key */
				key = m.keys[m.n - 1] + 1;
				break;
			case 1: /* prepend below the lowest key */
				key = m.keys[0] - 1;
				break;
			case 2: /* into the packed, full leaves */
				key = lo + rnd(&s, 4096) * 4096 + 1 +
				      rnd(&s, 4095);
				break;
			default:
				key = lo + rnd(&s, hi - lo);
				break;
			}
			if (model_has(&m, key, &pos))
				continue;
			assert_int_equal(
				gpuvm_va_tree_insert(&t, key, val_of(key)), 0);
			model_insert(&m, pos, key, val_of(key));
		}
		check_tree(&t);
		/* Removals, many of them merging, never allocate or free. */
		for (int i = 0; i < 3000 && m.n > 1; i++) {
			pos = rnd(&s, m.n);
			assert_ptr_equal(gpuvm_va_tree_remove(&t, m.keys[pos]),
					 m.vals[pos]);
			model_remove(&m, pos);
		}
		gpuvm_alloc_get_stats(&st1);
		gpuvm_alloc_fail_nth(0, false);
		assert_int_equal(st1.failed_allocs, st0.failed_allocs);
		assert_int_equal(st1.total_allocs, st0.total_allocs);
		assert_int_equal(st1.live_allocs, st0.live_allocs);
		check_tree(&t);
		compare_full(&t, &m);
		gpuvm_va_tree_unreserve(&t, k * cost);
		assert_int_equal(t.reserved, 0);
		assert_int_equal(t.nr_spare, 0);
	}

	/* An empty tree, reserved for a burst that builds three levels. */
	gpuvm_va_tree_fini(&t);
	cost = gpuvm_va_tree_insert_cost(&t);
	assert_int_equal(gpuvm_va_tree_reserve(&t, 1000 * cost), 0);
	gpuvm_alloc_get_stats(&st0);
	gpuvm_alloc_fail_nth(1, true);
	for (uint64_t i = 0; i < 1000; i++)
		assert_int_equal(gpuvm_va_tree_insert(&t, i, val_of(i)), 0);
	gpuvm_alloc_get_stats(&st1);
	gpuvm_alloc_fail_nth(0, false);
	assert_int_equal(st1.failed_allocs, st0.failed_allocs);
	assert_true(t.height >= 2);
	check_tree(&t);
	gpuvm_va_tree_unreserve(&t, 1000 * cost);

	gpuvm_va_tree_fini(&t);
	assert_int_equal(live_allocs(), base);
	free(m.keys);
	free(m.vals);
}

/* Mass removal pools every node; the next insert hands the excess back. */
static void test_remove_pools_nodes(void **state)
{
	struct gpuvm_va_tree t;
	struct gpuvm_alloc_stats st0, st1;
	uint64_t s = rng_for(4), base = live_allocs();
	const uint64_t n = 20000;
	uint64_t *perm = malloc(n * sizeof(*perm));
	size_t nodes;

	(void)state;
	assert_non_null(perm);
	gpuvm_va_tree_init(&t);
	for (uint64_t i = 0; i < n; i++)
		perm[i] = i * 3;
	for (uint64_t i = n - 1; i > 0; i--) {
		uint64_t j = rnd(&s, i + 1), x = perm[i];

		perm[i] = perm[j];
		perm[j] = x;
	}
	for (uint64_t i = 0; i < n; i++)
		assert_int_equal(
			gpuvm_va_tree_insert(&t, perm[i], val_of(perm[i])), 0);
	gpuvm_va_tree_trim(&t);
	nodes = t.nr_nodes;

	gpuvm_alloc_get_stats(&st0);
	gpuvm_alloc_fail_nth(1, true);
	for (uint64_t i = n; i-- > 0;) {
		assert_ptr_equal(gpuvm_va_tree_remove(&t, perm[i]),
				 val_of(perm[i]));
		if (i % 97 == 0)
			check_tree(&t);
	}
	gpuvm_alloc_get_stats(&st1);
	gpuvm_alloc_fail_nth(0, false);
	assert_int_equal(st1.failed_allocs, st0.failed_allocs);
	assert_int_equal(st1.live_allocs, st0.live_allocs);
	assert_null(t.root);
	assert_int_equal(t.nr_nodes, 0);
	assert_int_equal(t.nr_spare, nodes);
	check_tree(&t);

	/* The first insert with nothing reserved frees the surplus. */
	assert_int_equal(gpuvm_va_tree_insert(&t, 1, val_of(1)), 0);
	assert_true(t.nr_spare < 64);
	assert_int_equal(live_allocs(), base + t.nr_nodes + t.nr_spare);
	check_tree(&t);
	gpuvm_va_tree_fini(&t);
	assert_int_equal(live_allocs(), base);
	free(perm);
}

/* Memory at 10^6 entries. */

static void test_memory(void **state)
{
	const uint64_t n = 1000000;
	struct gpuvm_va_tree t;
	uint64_t s = rng_for(5), base = live_allocs();
	uint64_t s0;
	double bpe;

	(void)state;
	gpuvm_va_tree_init(&t);
	s0 = s;
	while (t.count < n) {
		uint64_t key = splitmix64(&s);
		int rc = gpuvm_va_tree_insert(&t, key, val_of(key));

		assert_true(rc == 0 || rc == -EEXIST);
	}
	check_tree(&t);
	bpe = bytes_per_entry(&t);
	print_message("random: %zu entries, height %u, %zu nodes + %zu spare "
		      "x %zu bytes = %.2f bytes/entry\n",
		      t.count, t.height, t.nr_nodes, t.nr_spare,
		      gpuvm_va_tree_node_size(), bpe);
	assert_true(bpe <= 24.0);
	s = s0;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t key = splitmix64(&s);

		assert_ptr_equal(gpuvm_va_tree_lookup(&t, key), val_of(key));
	}
	gpuvm_va_tree_fini(&t);

	for (uint64_t i = 0; i < n; i++)
		assert_int_equal(
			gpuvm_va_tree_insert(&t, i << 12, val_of(i << 12)), 0);
	check_tree(&t);
	bpe = bytes_per_entry(&t);
	print_message("ascending: %zu entries, height %u, %.2f bytes/entry\n",
		      t.count, t.height, bpe);
	assert_true(bpe <= 20.0);
	gpuvm_va_tree_fini(&t);

	for (uint64_t i = n; i-- > 0;)
		assert_int_equal(
			gpuvm_va_tree_insert(&t, i << 12, val_of(i << 12)), 0);
	check_tree(&t);
	bpe = bytes_per_entry(&t);
	print_message("descending: %zu entries, height %u, %.2f bytes/entry\n",
		      t.count, t.height, bpe);
	assert_true(bpe <= 20.0);
	gpuvm_va_tree_fini(&t);
	assert_int_equal(live_allocs(), base);
}

static uint64_t parse_seed(int argc, char **argv)
{
	const char *env = getenv("GPUVM_SEED");

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--seed") && i + 1 < argc)
			return strtoull(argv[i + 1], NULL, 0);
		if (!strncmp(argv[i], "--seed=", 7))
			return strtoull(argv[i] + 7, NULL, 0);
	}
	if (env && *env)
		return strtoull(env, NULL, 0);
	return (uint64_t)time(NULL) ^ ((uint64_t)clock() << 32);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_insert_lookup_remove),
		cmocka_unit_test(test_insert_range),
		cmocka_unit_test(test_stash),
		cmocka_unit_test(test_replace),
		cmocka_unit_test(test_prefetch),
		cmocka_unit_test(test_seek),
		cmocka_unit_test(test_walk),
		cmocka_unit_test(test_cursor_valid),
		cmocka_unit_test(test_reserve_trim),
		cmocka_unit_test(test_fini_reuse),
		cmocka_unit_test(test_random_model),
		cmocka_unit_test(test_alloc_fail_insert),
		cmocka_unit_test(test_reserved_no_alloc),
		cmocka_unit_test(test_remove_pools_nodes),
		cmocka_unit_test(test_memory),
	};

	test_seed = parse_seed(argc, argv);
	printf("seed: %" PRIu64 "\n", test_seed);
	fflush(stdout);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
