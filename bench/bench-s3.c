/* bench-s3.c -- the s3:// backend's figures on a real server, next to the
 * AWS CLI moving the same bytes.  Prints; asserts only that data reads
 * back.
 *
 *   sequential PUT of BENCH_S3_MB (default 256) MiB   vs aws s3 cp up
 *   sequential GET of the same object                 vs aws s3 cp down
 *   4 parallel ranged GETs covering the object
 *   small (100 B) put_if_absent, put, head, get: latency (one round trip)
 *
 * Needs a server: the AWS_* variables and BUCKETFS_BENCH_S3_URL
 * (s3://bucket/prefix; the bucket is made if missing).  Without them it
 * says how to get one and exits 0, so `make bench` passes on a machine
 * without Ceph.  For example:
 *   eval "$(tests/rgw-start.sh /tmp/bench-rgw)"
 *   BUCKETFS_BENCH_S3_URL=s3://bench/p build/bench/bench-s3
 *   tests/rgw-stop.sh /tmp/bench-rgw
 * The AWS CLI is AWS_CLI, else /usr/bin/aws, else none (an `aws` found
 * elsewhere in PATH is used only through AWS_CLI). */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/objstore.h"
#include "store/s3.h"
#include "util/clock.h"
#include "util/mem.h"

#define MIB (1u << 20)
#define SMALL_OPS 200
#define RANGE_THREADS 4

static uint64_t rng_state = 88172645463325252ull;

static void fill_random(uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i + 8 <= n; i += 8) {
		rng_state ^= rng_state << 13;
		rng_state ^= rng_state >> 7;
		rng_state ^= rng_state << 17;
		memcpy(p + i, &rng_state, 8);
	}
}

static double secs_since(uint64_t t0)
{
	return (double)(clock_mono_ns() - t0) / 1e9;
}

static void die(const char *what, int rc)
{
	fprintf(stderr, "bench-s3: %s failed: %s\n", what, strerror(-rc));
	exit(1);
}

static void report(const char *what, size_t bytes, double secs)
{
	printf("  %-44s %8.1f MiB/s  (%.2f s)\n", what, (double)bytes / MIB / secs, secs);
}

/* ---- big objects through the objstore API ---- */

static void bench_put_get(objstore *st, const uint8_t *data, size_t n)
{
	uint64_t t0;
	void *got;
	size_t len;
	int rc;

	t0 = clock_mono_ns();
	rc = objstore_put(st, "bench/big", data, n);
	if (rc)
		die("put", rc);
	report("objstore_put (multipart, 16 MiB x 4 threads)", n, secs_since(t0));
	t0 = clock_mono_ns();
	rc = objstore_get(st, "bench/big", 0, OBJSTORE_GET_TO_END, &got, &len);
	if (rc)
		die("get", rc);
	report("objstore_get (one stream)", n, secs_since(t0));
	if (len != n || memcmp(got, data, n)) {
		fprintf(stderr, "bench-s3: the object read back differs\n");
		exit(1);
	}
	free(got);
}

struct range_job {
	objstore *st;
	uint64_t off, len;
	const uint8_t *want;
	int rc;
};

static void *get_range(void *arg)
{
	struct range_job *j = arg;
	void *got;
	size_t len;

	j->rc = objstore_get(j->st, "bench/big", j->off, j->len, &got, &len);
	if (!j->rc && (len != j->len || memcmp(got, j->want + j->off, len)))
		j->rc = -EIO;
	if (!j->rc)
		free(got);
	return NULL;
}

static void bench_parallel_ranges(objstore *st, const uint8_t *data, size_t n)
{
	struct range_job jobs[RANGE_THREADS];
	pthread_t t[RANGE_THREADS];
	uint64_t t0 = clock_mono_ns(), part = n / RANGE_THREADS;
	unsigned i;

	for (i = 0; i < RANGE_THREADS; i++) {
		jobs[i] = (struct range_job){ st, i * part, i + 1 < RANGE_THREADS ? part : n - i * part,
					      data, 0 };
		pthread_create(&t[i], NULL, get_range, &jobs[i]);
	}
	for (i = 0; i < RANGE_THREADS; i++) {
		pthread_join(t[i], NULL);
		if (jobs[i].rc)
			die("ranged get", jobs[i].rc);
	}
	report("objstore_get, 4 parallel ranges", n, secs_since(t0));
}

/* ---- the AWS CLI on the same bytes ---- */

static const char *aws_cli(void)
{
	const char *cli = getenv("AWS_CLI");

	if (cli && *cli)
		return cli;
	return access("/usr/bin/aws", X_OK) == 0 ? "/usr/bin/aws" : NULL;
}

static double run_timed(const char *cmd)
{
	uint64_t t0 = clock_mono_ns();
	int rc = system(cmd);

	if (rc != 0) {
		fprintf(stderr, "bench-s3: command failed (%d): %s\n", rc, cmd);
		return -1;
	}
	return secs_since(t0);
}

static void bench_aws_cli(const char *url, const uint8_t *data, size_t n)
{
	const char *cli = aws_cli(), *endpoint = getenv("AWS_ENDPOINT_URL");
	char path[] = "/tmp/bench-s3-XXXXXX";
	char *cmd, *target;
	double secs;
	FILE *f;
	int fd;

	if (!cli) {
		printf("  aws s3 cp: no AWS CLI (/usr/bin/aws; or set AWS_CLI)\n");
		return;
	}
	fd = mkstemp(path);
	if (fd < 0 || !(f = fdopen(fd, "w")) || fwrite(data, 1, n, f) != n || fclose(f)) {
		perror("bench-s3: temp file");
		exit(1);
	}
	target = xasprintf("%s/bench/awscli", url);
	cmd = xasprintf("'%s' --endpoint-url '%s' s3 cp --only-show-errors '%s' '%s'",
			cli, endpoint, path, target);
	secs = run_timed(cmd);
	if (secs > 0)
		report("aws s3 cp (upload)", n, secs);
	free(cmd);
	cmd = xasprintf("'%s' --endpoint-url '%s' s3 cp --only-show-errors '%s' '%s.down'",
			cli, endpoint, target, path);
	secs = run_timed(cmd);
	if (secs > 0)
		report("aws s3 cp (download)", n, secs);
	free(cmd);
	cmd = xasprintf("'%s' --endpoint-url '%s' s3 rm --only-show-errors '%s' >/dev/null",
			cli, endpoint, target);
	if (system(cmd) != 0)
		fprintf(stderr, "bench-s3: could not remove %s\n", target);
	free(cmd);
	unlink(path);
	cmd = xasprintf("%s.down", path);
	unlink(cmd);
	free(cmd);
	free(target);
}

/* ---- small requests: latency ---- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void latency_line(const char *what, double *ms, unsigned n)
{
	double sum = 0;
	unsigned i;

	qsort(ms, n, sizeof *ms, cmp_double);
	for (i = 0; i < n; i++)
		sum += ms[i];
	printf("  %-26s mean %6.2f ms  p50 %6.2f ms  p99 %6.2f ms  (%u ops)\n", what,
	       sum / n, ms[n / 2], ms[n * 99 / 100], n);
}

enum small_op { SMALL_PUT_IF_ABSENT, SMALL_PUT, SMALL_HEAD, SMALL_GET };

static int small_op(objstore *st, enum small_op op, const char *key, const uint8_t *body)
{
	struct objstore_info info;
	void *got;
	size_t len;
	int rc;

	switch (op) {
	case SMALL_PUT_IF_ABSENT:
		return objstore_put_if_absent(st, key, body, 100);
	case SMALL_PUT:
		return objstore_put(st, key, body, 100);
	case SMALL_HEAD:
		return objstore_head(st, key, &info);
	default:
		rc = objstore_get(st, key, 0, OBJSTORE_GET_TO_END, &got, &len);
		if (!rc)
			free(got);
		return rc;
	}
}

static void bench_small(objstore *st)
{
	static const char *const names[] = {
		"put_if_absent 100 B (new)", "put 100 B (overwrite)", "head", "get 100 B",
	};
	double ms[SMALL_OPS];
	uint8_t body[100];
	char key[64];
	unsigned op, i;
	int rc;

	fill_random(body, sizeof body);
	for (op = SMALL_PUT_IF_ABSENT; op <= SMALL_GET; op++) {
		for (i = 0; i < SMALL_OPS; i++) {
			uint64_t t0 = clock_mono_ns();
			snprintf(key, sizeof key, "bench/small/%04u", i);
			rc = small_op(st, op, key, body);
			if (rc)
				die(names[op], rc);
			ms[i] = secs_since(t0) * 1e3;
		}
		latency_line(names[op], ms, SMALL_OPS);
	}
	for (i = 0; i < SMALL_OPS; i++) {
		snprintf(key, sizeof key, "bench/small/%04u", i);
		objstore_delete(st, key);
	}
}

int main(void)
{
	const char *url = getenv("BUCKETFS_BENCH_S3_URL");
	const char *mb = getenv("BENCH_S3_MB");
	size_t n = (size_t)(mb && *mb ? strtoul(mb, NULL, 10) : 256) * MIB;
	struct s3_stats stats;
	uint8_t *data;
	objstore *st;
	int rc;

	if (!url || !*url || !getenv("AWS_ENDPOINT_URL")) {
		printf("bench-s3: skipped: needs a server; for example\n"
		       "  eval \"$(tests/rgw-start.sh /tmp/bench-rgw)\"\n"
		       "  BUCKETFS_BENCH_S3_URL=s3://bench/p build/bench/bench-s3\n"
		       "  tests/rgw-stop.sh /tmp/bench-rgw\n");
		return 0;
	}
	rc = objstore_open(url, &st);
	if (rc)
		die("open", rc);
	rc = objstore_s3_create_bucket(st);
	if (rc)
		die("create bucket", rc);
	printf("bench-s3: %s at %s, %zu MiB\n", url, getenv("AWS_ENDPOINT_URL"), n / MIB);
	data = xmalloc(n);
	fill_random(data, n);
	bench_put_get(st, data, n);
	bench_parallel_ranges(st, data, n);
	objstore_delete(st, "bench/big");
	bench_aws_cli(url, data, n);
	bench_small(st);
	objstore_s3_stats(st, &stats);
	printf("  %" PRIu64 " requests, %" PRIu64 " retries, %" PRIu64 " connections\n",
	       stats.requests, stats.retries, stats.connects);
	free(data);
	objstore_close(st);
	return 0;
}
