/* test-store-fault.c -- the fault-injecting store wrapper: each kind of
 * fault does what objstore.h says, at the configured rate or call, only
 * for the configured operations, and replays from its seed.
 *
 * The wrapper sits on a memory:// store that the tests also open directly,
 * to see what really reached the inner store. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>

#include "store/objstore.h"
#include "util/clock.h"
#include "testutil.h"

#define INNER "memory://fault-inner"

struct fx {
	objstore *inner; /* the same objects as the wrapper's inner store */
	objstore *st;    /* the wrapper */
};

static uint64_t seed;

static int fx_setup(void **state)
{
	struct objstore_fault_config none = { .seed = seed };
	struct fx *f = xcalloc(1, sizeof *f);
	objstore *wrapped;

	objstore_memory_reset("fault-inner");
	if (objstore_open(INNER, &f->inner) || objstore_open(INNER, &wrapped) ||
	    objstore_fault_wrap(wrapped, &none, &f->st))
		return -1;
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;

	objstore_close(f->st);
	objstore_close(f->inner);
	free(f);
	return 0;
}

static void set(struct fx *f, struct objstore_fault_config cfg)
{
	objstore_fault_set(f->st, &cfg);
}

static int get_rc(objstore *st, const char *key)
{
	void *p = NULL;
	size_t n;
	int rc = objstore_get(st, key, 0, OBJSTORE_GET_TO_END, &p, &n);

	free(p);
	return rc;
}

static void assert_inner(struct fx *f, const char *key, const void *data, size_t len)
{
	void *p = NULL;
	size_t n;

	assert_int_equal(objstore_get(f->inner, key, 0, OBJSTORE_GET_TO_END, &p, &n), 0);
	assert_int_equal(n, len);
	assert_memory_equal(p, data, len);
	free(p);
}

static void test_no_faults_pass_through(void **state)
{
	struct fx *f = *state;
	struct objstore_listing l;
	struct objstore_info info;

	assert_int_equal(objstore_put(f->st, "a", "1", 1), 0);
	assert_int_equal(objstore_put_if_absent(f->st, "a", "2", 1), -EEXIST);
	assert_int_equal(get_rc(f->st, "a"), 0);
	assert_int_equal(objstore_head(f->st, "a", &info), 0);
	assert_int_equal(objstore_list(f->st, "", NULL, 0, &l), 0);
	assert_int_equal(l.count, 1);
	objstore_listing_free(&l);
	assert_int_equal(objstore_delete(f->st, "a"), 0);
	assert_int_equal(get_rc(f->inner, "a"), -ENOENT);
	assert_int_equal(objstore_fault_calls(f->st), 6);
	assert_int_equal(objstore_fault_injected(f->st), 0);
}

static void test_error_rate_fails_about_that_fraction(void **state)
{
	struct fx *f = *state;
	unsigned i, failed = 0, calls = 4000;

	assert_int_equal(objstore_put(f->inner, "k", "v", 1), 0);
	set(f, (struct objstore_fault_config){ .error_rate = 0.25, .seed = seed });
	for (i = 0; i < calls; i++) {
		int rc = get_rc(f->st, "k");
		if (rc) {
			assert_int_equal(rc, -EIO);
			failed++;
		}
	}
	/* Binomial(4000, 0.25): sd ~27; allow ~9 sd. */
	assert_true(failed > 750 && failed < 1250);
	assert_int_equal(objstore_fault_injected(f->st), failed);
	assert_int_equal(objstore_fault_calls(f->st), calls);
}

static void test_failed_put_stores_nothing(void **state)
{
	struct fx *f = *state;

	set(f, (struct objstore_fault_config){ .error_rate = 1.0, .seed = seed });
	assert_int_equal(objstore_put(f->st, "p", "data", 4), -EIO);
	assert_int_equal(objstore_put_if_absent(f->st, "q", "data", 4), -EIO);
	assert_int_equal(objstore_delete(f->st, "p"), -EIO);
	assert_int_equal(get_rc(f->inner, "p"), -ENOENT);
	assert_int_equal(get_rc(f->inner, "q"), -ENOENT);
}

/* The pattern of failures of 200 gets under a config. */
static void failure_pattern(struct fx *f, uint64_t s, bool out[200])
{
	unsigned i;

	set(f, (struct objstore_fault_config){ .error_rate = 0.5, .seed = s });
	for (i = 0; i < 200; i++)
		out[i] = get_rc(f->st, "k") != 0;
}

static void test_same_seed_same_faults(void **state)
{
	struct fx *f = *state;
	bool a[200], b[200], c[200];

	assert_int_equal(objstore_put(f->inner, "k", "v", 1), 0);
	failure_pattern(f, seed, a);
	failure_pattern(f, seed, b);
	failure_pattern(f, seed + 1, c);
	assert_memory_equal(a, b, sizeof a);
	assert_memory_not_equal(a, c, sizeof a);
}

static void test_fail_at_fails_exactly_the_nth_call(void **state)
{
	struct fx *f = *state;
	unsigned i;

	assert_int_equal(objstore_put(f->inner, "k", "v", 1), 0);
	set(f, (struct objstore_fault_config){ .fail_at = 5, .seed = seed });
	for (i = 1; i <= 20; i++)
		assert_int_equal(get_rc(f->st, "k"), i == 5 ? -EIO : 0);
	assert_int_equal(objstore_fault_calls(f->st), 20);
	assert_int_equal(objstore_fault_injected(f->st), 1);

	/* Setting again restarts the count. */
	set(f, (struct objstore_fault_config){ .fail_at = 2, .seed = seed });
	assert_int_equal(objstore_fault_calls(f->st), 0);
	assert_int_equal(get_rc(f->st, "k"), 0);
	assert_int_equal(get_rc(f->st, "k"), -EIO);
	assert_int_equal(get_rc(f->st, "k"), 0);
}

static void test_fail_after_fails_every_call_from_the_nth(void **state)
{
	struct fx *f = *state;
	unsigned i;

	set(f, (struct objstore_fault_config){ .fail_at = 3, .fail_after = true, .seed = seed });
	for (i = 1; i <= 10; i++) {
		char key[16];
		snprintf(key, sizeof key, "k%u", i);
		assert_int_equal(objstore_put(f->st, key, "v", 1), i < 3 ? 0 : -EIO);
		assert_int_equal(get_rc(f->inner, key), i < 3 ? 0 : -ENOENT);
	}
	assert_int_equal(objstore_fault_injected(f->st), 8);
}

static void test_torn_write_leaves_a_prefix_and_fails(void **state)
{
	struct fx *f = *state;
	uint8_t data[1000];
	unsigned i, shorter = 0;

	for (i = 0; i < sizeof data; i++)
		data[i] = (uint8_t)(i * 7 + 1);
	set(f, (struct objstore_fault_config){ .torn_write_rate = 1.0, .seed = seed });
	for (i = 0; i < 20; i++) {
		char key[16];
		void *p = NULL;
		size_t n;
		snprintf(key, sizeof key, "torn%u", i);
		assert_int_equal(objstore_put(f->st, key, data, sizeof data), -EIO);
		assert_int_equal(objstore_get(f->inner, key, 0, OBJSTORE_GET_TO_END, &p, &n), 0);
		assert_true(n < sizeof data);
		if (n)
			assert_memory_equal(p, data, n);
		shorter += n > 0;
		free(p);
	}
	assert_true(shorter > 0); /* prefixes are random, not always empty */
	assert_int_equal(objstore_fault_injected(f->st), 20);

	/* A torn put_if_absent never replaces an existing object. */
	assert_int_equal(objstore_put(f->inner, "fence", "winner", 6), 0);
	assert_int_equal(objstore_put_if_absent(f->st, "fence", data, sizeof data), -EIO);
	assert_inner(f, "fence", "winner", 6);
}

static void test_lost_ack_stores_everything_and_fails(void **state)
{
	struct fx *f = *state;
	uint8_t data[5000];

	memset(data, 0x5a, sizeof data);
	set(f, (struct objstore_fault_config){ .lost_ack_rate = 1.0, .seed = seed });
	assert_int_equal(objstore_put(f->st, "lost", data, sizeof data), -EIO);
	assert_inner(f, "lost", data, sizeof data);
	assert_int_equal(objstore_put_if_absent(f->st, "lost2", data, 100), -EIO);
	assert_inner(f, "lost2", data, 100);
	/* Reads are not puts: a lost ack does not apply to them. */
	assert_int_equal(get_rc(f->st, "lost"), 0);
	assert_int_equal(objstore_fault_injected(f->st), 2);
}

static void test_latency_delays_calls(void **state)
{
	struct fx *f = *state;
	uint64_t start, elapsed;
	unsigned i;

	assert_int_equal(objstore_put(f->inner, "k", "v", 1), 0);
	set(f, (struct objstore_fault_config){ .latency_us = 20000, .seed = seed });
	start = clock_mono_ns();
	for (i = 0; i < 3; i++)
		assert_int_equal(get_rc(f->st, "k"), 0);
	elapsed = clock_mono_ns() - start;
	assert_true(elapsed >= 60000000ull);
	assert_true(elapsed < 2000000000ull);
	assert_int_equal(objstore_fault_injected(f->st), 0);

	/* Operations outside the mask are not delayed. */
	set(f, (struct objstore_fault_config){ .ops = OBJSTORE_OP_PUT, .latency_us = 500000,
					       .seed = seed });
	start = clock_mono_ns();
	assert_int_equal(get_rc(f->st, "k"), 0);
	assert_true(clock_mono_ns() - start < 400000000ull);
}

static void test_ops_mask_limits_faults(void **state)
{
	struct fx *f = *state;
	struct objstore_listing l;
	struct objstore_info info;

	set(f, (struct objstore_fault_config){ .ops = OBJSTORE_OP_GET | OBJSTORE_OP_LIST,
					       .error_rate = 1.0, .seed = seed });
	assert_int_equal(objstore_put(f->st, "k", "v", 1), 0);
	assert_int_equal(objstore_put_if_absent(f->st, "k2", "v", 1), 0);
	assert_int_equal(objstore_head(f->st, "k", &info), 0);
	assert_int_equal(get_rc(f->st, "k"), -EIO);
	assert_int_equal(objstore_list(f->st, "", NULL, 0, &l), -EIO);
	assert_int_equal(objstore_list_all(f->st, "", NULL, NULL, NULL), -EINVAL);
	assert_int_equal(objstore_delete(f->st, "k2"), 0);
	assert_int_equal(objstore_fault_calls(f->st), 2);
	assert_int_equal(objstore_fault_injected(f->st), 2);

	set(f, (struct objstore_fault_config){ .ops = OBJSTORE_OP_DELETE | OBJSTORE_OP_HEAD,
					       .error_rate = 1.0, .seed = seed });
	assert_int_equal(get_rc(f->st, "k"), 0);
	assert_int_equal(objstore_head(f->st, "k", &info), -EIO);
	assert_int_equal(objstore_delete(f->st, "k"), -EIO);
	assert_int_equal(get_rc(f->inner, "k"), 0);
}

static void test_close_closes_inner_and_counters_need_wrapper(void **state)
{
	struct objstore_fault_config cfg = { .fail_at = 1 };
	objstore *inner, *st;

	(void)state;
	assert_int_equal(objstore_open("memory://fault-close", &inner), 0);
	assert_int_equal(objstore_fault_wrap(inner, &cfg, &st), 0);
	assert_string_equal(objstore_url(st), "fault+memory://fault-close");
	assert_int_equal(objstore_put(st, "k", "v", 1), -EIO);
	objstore_close(st); /* closes inner too: the leak checker would see it */
	assert_int_equal(objstore_open("memory://fault-close", &inner), 0);
	assert_int_equal(objstore_fault_calls(inner), 0);
	objstore_fault_set(inner, &cfg); /* logged and ignored */
	assert_int_equal(objstore_put(inner, "k", "v", 1), 0);
	objstore_close(inner);
	assert_int_equal(objstore_fault_wrap(NULL, &cfg, &st), -EINVAL);
}

#define FX(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		FX(test_no_faults_pass_through),
		FX(test_error_rate_fails_about_that_fraction),
		FX(test_failed_put_stores_nothing),
		FX(test_same_seed_same_faults),
		FX(test_fail_at_fails_exactly_the_nth_call),
		FX(test_fail_after_fails_every_call_from_the_nth),
		FX(test_torn_write_leaves_a_prefix_and_fails),
		FX(test_lost_ack_stores_everything_and_fails),
		FX(test_latency_delays_calls),
		FX(test_ops_mask_limits_faults),
		cmocka_unit_test(test_close_closes_inner_and_counters_need_wrapper),
	};

	seed = test_seed("test-store-fault");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
