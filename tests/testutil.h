/* testutil.h -- small helpers shared by the C tests (header-only).
 *
 * Tests are cmocka programs printing TAP (the Makefile sets
 * CMOCKA_MESSAGE_OUTPUT=TAP) and are run by prove.  Randomized tests take
 * their seed from TEST_SEED when set and always print it, so a failure can
 * be replayed exactly:  TEST_SEED=1234 build/tests/test-foo */
#ifndef BUCKETFS_TESTUTIL_H
#define BUCKETFS_TESTUTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/mem.h"

/* splitmix64: small, fast, good enough for test decisions. */
struct test_rng {
	uint64_t s;
};

static inline uint64_t test_rng_next(struct test_rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform in [0, n). */
static inline uint64_t test_rng_below(struct test_rng *r, uint64_t n)
{
	return n ? test_rng_next(r) % n : 0;
}

static inline void test_rng_fill(struct test_rng *r, void *p, size_t n)
{
	uint8_t *b = p;
	while (n) {
		uint64_t v = test_rng_next(r);
		size_t k = n < 8 ? n : 8;
		memcpy(b, &v, k);
		b += k;
		n -= k;
	}
}

/* The seed for this run: TEST_SEED or the clock; printed as a TAP comment. */
static inline uint64_t test_seed(const char *what)
{
	const char *s = getenv("TEST_SEED");
	uint64_t seed;
	if (s && *s)
		seed = strtoull(s, NULL, 0);
	else {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		seed = (uint64_t)ts.tv_sec * 1000003u ^ (uint64_t)ts.tv_nsec ^ (uint64_t)getpid();
	}
	printf("# %s: seed %llu (replay with TEST_SEED=%llu)\n", what,
	       (unsigned long long)seed, (unsigned long long)seed);
	fflush(stdout);
	return seed;
}

/* An integer from the environment, for "more on demand" knobs. */
static inline long test_env_long(const char *name, long dflt)
{
	const char *s = getenv(name);
	return s && *s ? strtol(s, NULL, 0) : dflt;
}

/* A fresh directory under TMPDIR (or /tmp); caller frees the string and
 * removes the tree with test_rmtree. */
static inline char *test_tmpdir(const char *tag)
{
	const char *base = getenv("TMPDIR");
	char *path = xasprintf("%s/bucketfs-%s-XXXXXX", base && *base ? base : "/tmp", tag);
	if (!mkdtemp(path)) {
		perror("mkdtemp");
		abort();
	}
	return path;
}

static inline void test_rmtree(const char *path)
{
	char *cmd = xasprintf("rm -rf '%s'", path);
	if (system(cmd) != 0)
		fprintf(stderr, "# could not remove %s\n", path);
	free(cmd);
}

#endif
