/* test-fuse-inval-queue.c -- the FUSE mount's queue of invalidations:
 * order, coalescing of duplicates, the bound, and the keep_cache marks
 * (never a wrong "keep": a slot shared by two marked inodes stays marked). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "fuse/inval_queue.h"
#include "testutil.h"

static struct inval_queue *queue_new(void)
{
	struct inval_queue *q = calloc(1, sizeof *q);
	assert_non_null(q);
	return q;
}

static void expect_pop(struct inval_queue *q, uint64_t ino, const char *name)
{
	struct inval_item it;
	assert_true(inval_queue_pop(q, &it));
	assert_int_equal(it.ino, ino);
	if (name)
		assert_string_equal(it.name, name);
	else
		assert_null(it.name);
	free(it.name);
}

static void test_fifo_and_coalescing(void **state)
{
	struct inval_queue *q = queue_new();
	struct inval_item it;
	assert_false(inval_queue_pop(q, &it));
	assert_int_equal(inval_queue_push(q, 5, NULL), INVAL_QUEUED);
	assert_int_equal(inval_queue_push(q, 1, "a"), INVAL_QUEUED);
	assert_int_equal(inval_queue_push(q, 5, NULL), INVAL_COALESCED);
	assert_int_equal(inval_queue_push(q, 1, "a"), INVAL_COALESCED);
	/* Same number, other kind or name: distinct items. */
	assert_int_equal(inval_queue_push(q, 1, NULL), INVAL_QUEUED);
	assert_int_equal(inval_queue_push(q, 1, "b"), INVAL_QUEUED);
	assert_int_equal(inval_queue_push(q, 5, "a"), INVAL_QUEUED);
	expect_pop(q, 5, NULL);
	/* Taken: a new change queues it again. */
	assert_int_equal(inval_queue_push(q, 5, NULL), INVAL_QUEUED);
	expect_pop(q, 1, "a");
	expect_pop(q, 1, NULL);
	expect_pop(q, 1, "b");
	expect_pop(q, 5, "a");
	expect_pop(q, 5, NULL);
	assert_false(inval_queue_pop(q, &it));
	free(q);
}

static void test_bound_and_wraparound(void **state)
{
	struct inval_queue *q = queue_new();
	struct inval_item it;
	struct test_rng r = { test_seed("inval queue") };
	uint64_t base = 2 + test_rng_below(&r, 1000000);
	/* Fill, half drain, fill again: the ring wraps and stays in order. */
	for (uint64_t i = 0; i < INVAL_QUEUE_MAX; i++)
		assert_int_equal(inval_queue_push(q, base + i, NULL), INVAL_QUEUED);
	assert_true(inval_queue_full(q));
	assert_int_equal(inval_queue_push(q, 1, "new"), INVAL_FULL);
	/* A duplicate of a queued item is still coalesced when full. */
	assert_int_equal(inval_queue_push(q, base, NULL), INVAL_COALESCED);
	for (uint64_t i = 0; i < INVAL_QUEUE_MAX / 2; i++)
		expect_pop(q, base + i, NULL);
	assert_int_equal(inval_queue_push(q, 1, "n"), INVAL_QUEUED);
	for (uint64_t i = 1; i < INVAL_QUEUE_MAX / 2; i++)
		assert_int_equal(inval_queue_push(q, base + INVAL_QUEUE_MAX + i, NULL), INVAL_QUEUED);
	assert_true(inval_queue_full(q));
	for (uint64_t i = INVAL_QUEUE_MAX / 2; i < INVAL_QUEUE_MAX; i++)
		expect_pop(q, base + i, NULL);
	expect_pop(q, 1, "n");
	expect_pop(q, base + INVAL_QUEUE_MAX + 1, NULL);
	inval_queue_clear(q);   /* frees what is left */
	assert_false(inval_queue_pop(q, &it));
	free(q);
}

static void test_marks(void **state)
{
	struct inval_queue *q = queue_new();
	assert_false(inval_mark_take(q, 42));
	inval_mark(q, 42);
	inval_mark(q, 42);
	assert_true(inval_mark_take(q, 42));
	assert_false(inval_mark_take(q, 42));   /* consumed */
	/* Many inodes: each marked one is reported, however slots collide. */
	struct test_rng r = { test_seed("inval marks") };
	enum { N = 3 * INVAL_MARKS };
	static uint64_t inos[N];
	for (int i = 0; i < N; i++) {
		inos[i] = 1 + test_rng_below(&r, 1ull << 40);
		inval_mark(q, inos[i]);
	}
	for (int i = 0; i < N; i++)
		if (!inval_mark_take(q, inos[i]))
			fail_msg("inode %llu was marked but may keep its cache",
				 (unsigned long long)inos[i]);
	free(q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fifo_and_coalescing),
		cmocka_unit_test(test_bound_and_wraparound),
		cmocka_unit_test(test_marks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
