/* bench-data.c -- data plane figures, each next to a baseline from the
 * same run.  Prints; asserts only that data reads back.
 *
 *   warm 4 KiB random read (extent cache)   vs memcpy of 4 KiB
 *   cold 4 KiB random read (file:// store)  vs pread of 4 KiB from a file
 *   sequential write / read of BENCH_DATA_MB (default 1024) MiB, lz4 and
 *   zstd:3, compressible and incompressible  vs write+fsync / read of a file
 *   barrier after a 4 KiB write              vs write + fsync of 4 KiB
 *   commit throughput (MiB/s, commits/s) with 1, 2 and 8 threads, 128 KiB
 *   and 4 KiB transactions, memory:// and file:// (median of 3 runs)
 *   metadata-only commit latency (p50/p99) while another thread writes
 *   BENCH_DATA_MB, vs the same commit on an idle data plane
 *
 * Knobs: BENCH_DIR (default /tmp), BENCH_DATA_MB, BENCH_READS,
 * BENCH_COMMIT_MB (default 128), BENCH_DATA_ONLY=commit (only the commit
 * figures). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crypt/aead.h"
#include "data/data.h"
#include "lsm/lsm.h"
#include "store/objstore.h"
#include "util/clock.h"
#include "util/coding.h"
#include "util/mem.h"

#define CHUNK (1u << 20)

struct bench_fs {
	char dir[512], url[600];
	objstore *st;
	lsm *db;
	struct data *d;
	struct lsm_options lo;
	struct data_options dopt;
};

static uint64_t rng_state = 88172645463325252ull;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void fill_random(uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 8 <= n; i += 8) {
		uint64_t v = rnd();
		memcpy(p + i, &v, 8);
	}
}

/* Text-like: words from a small vocabulary, compresses ~3-4x. */
static void fill_text(uint8_t *p, size_t n)
{
	static const char *words[] = { "the ", "filesystem ", "object ", "segment ", "extent ",
				       "bucket ", "inode ", "barrier ", "manifest ", "of ", "and ",
				       "data\n", "0x1f ", "read ", "write " };
	size_t i = 0;
	while (i < n) {
		const char *w = words[rnd() % (sizeof words / sizeof words[0])];
		size_t l = strlen(w);
		if (l > n - i)
			l = n - i;
		memcpy(p + i, w, l);
		i += l;
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void percentiles(uint64_t *v, size_t n, double *med, double *p99)
{
	qsort(v, n, sizeof *v, cmp_u64);
	*med = (double)v[n / 2];
	*p99 = (double)v[(size_t)((double)n * 0.99)];
}

static void fs_open(struct bench_fs *f)
{
	if (lsm_open(&f->lo, &f->db) < 0 || (f->dopt.db = f->db, data_open(&f->dopt, &f->d)) < 0) {
		fprintf(stderr, "bench: cannot open %s\n", f->url);
		exit(1);
	}
}

static void fs_close(struct bench_fs *f)
{
	data_close(f->d);
	lsm_close(f->db);
}

static void fs_init(struct bench_fs *f, const char *base, const char *tag, struct codec c)
{
	memset(f, 0, sizeof *f);
	snprintf(f->dir, sizeof f->dir, "%s/bench-data-%s-%d", base, tag, (int)getpid());
	snprintf(f->url, sizeof f->url, "file://%s/store", f->dir);
	if (objstore_open(f->url, &f->st) < 0)
		exit(1);
	lsm_options_default(&f->lo);
	f->lo.store = f->st;
	f->lo.create = true;
	memset(f->lo.key, 1, sizeof f->lo.key);
	data_options_default(&f->dopt);
	f->dopt.store = f->st;
	f->dopt.codec = c;
	memset(f->dopt.key, 2, sizeof f->dopt.key);
	memcpy(f->dopt.meta_key, f->lo.key, sizeof f->lo.key);
	f->dopt.flush_interval_ms = 0;
	f->dopt.gc_interval_ms = 0;
	/* Room for the whole 256 MiB random-read file: "warm" means cached. */
	f->dopt.extent_cache_bytes = 512ull << 20;
	fs_open(f);
}

static void fs_destroy(struct bench_fs *f)
{
	fs_close(f);
	objstore_close(f->st);
	char *cmd = xasprintf("rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "bench: could not remove %s\n", f->dir);
	free(cmd);
}

static double secs(uint64_t ns)
{
	return (double)ns / 1e9;
}

/* Sequential write (commit per MiB, barrier at the end) and read back. */
static void seq_throughput(const char *base, const char *name, struct codec c, bool text,
			   size_t mb, double *wr, double *rd)
{
	struct bench_fs f;
	fs_init(&f, base, name, c);
	uint8_t *buf = xmalloc(CHUNK), *back = xmalloc(CHUNK);
	uint64_t t0 = clock_mono_ns();
	for (size_t i = 0; i < mb; i++) {
		if (text)
			fill_text(buf, CHUNK);
		else
			fill_random(buf, CHUNK);
		struct data_txn *t = data_txn_new(f.d);
		if (data_write(t, 42, (uint64_t)i * CHUNK, buf, CHUNK) < 0 ||
		    data_txn_commit(t, NULL, NULL) < 0) {
			fprintf(stderr, "bench: write failed\n");
			exit(1);
		}
		data_txn_free(t);
	}
	if (data_barrier(f.d, 0) < 0)
		exit(1);
	*wr = (double)mb / secs(clock_mono_ns() - t0);
	/* Reopen so the read comes from the store, not the extent cache. */
	fs_close(&f);
	f.dopt.extent_cache_bytes = 64u << 20;
	fs_open(&f);
	t0 = clock_mono_ns();
	for (size_t i = 0; i < mb; i++)
		if (data_read(f.d, 42, (uint64_t)i * CHUNK, back, CHUNK) < 0) {
			fprintf(stderr, "bench: read failed\n");
			exit(1);
		}
	*rd = (double)mb / secs(clock_mono_ns() - t0);
	free(buf);
	free(back);
	fs_destroy(&f);
}

static void file_throughput(const char *base, size_t mb, double *wr, double *rd)
{
	char *path = xasprintf("%s/bench-data-file-%d", base, (int)getpid());
	uint8_t *buf = xmalloc(CHUNK);
	fill_random(buf, CHUNK);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	uint64_t t0 = clock_mono_ns();
	for (size_t i = 0; i < mb; i++)
		if (write(fd, buf, CHUNK) != CHUNK)
			exit(1);
	fsync(fd);
	*wr = (double)mb / secs(clock_mono_ns() - t0);
	close(fd);
	/* Drop it from the page cache so the read is from disk like ours. */
	fd = open(path, O_RDONLY);
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	t0 = clock_mono_ns();
	for (size_t i = 0; i < mb; i++)
		if (read(fd, buf, CHUNK) != CHUNK)
			exit(1);
	*rd = (double)mb / secs(clock_mono_ns() - t0);
	close(fd);
	unlink(path);
	free(path);
	free(buf);
}

/* ---- concurrent commits ---- */

struct commit_run {
	struct data *d;
	const uint8_t *src;      /* 1 MiB of text-like data */
	size_t txn_bytes, per_thread;
	uint64_t ino;
};

static void *commit_worker(void *arg)
{
	struct commit_run *c = arg;
	for (size_t i = 0; i < c->per_thread; i++) {
		size_t at = (i * c->txn_bytes) % CHUNK;
		if (at + c->txn_bytes > CHUNK)
			at = 0;
		struct data_txn *t = data_txn_new(c->d);
		if (data_write(t, c->ino, (uint64_t)i * c->txn_bytes, c->src + at, c->txn_bytes) < 0 ||
		    data_txn_commit(t, NULL, NULL) < 0) {
			fprintf(stderr, "bench: concurrent commit failed\n");
			exit(1);
		}
		data_txn_free(t);
	}
	return NULL;
}

/* total_bytes written by nthreads threads in txn_bytes transactions, each
 * thread on its own inode; seconds for all the commits (no barrier). */
static double commit_once(const char *base, bool file, unsigned nthreads, size_t txn_bytes,
			  size_t total_bytes, const uint8_t *src)
{
	static int n;
	struct bench_fs f;
	memset(&f, 0, sizeof f);
	snprintf(f.dir, sizeof f.dir, "%s/bench-data-commit-%d-%d", base, (int)getpid(), ++n);
	if (file)
		snprintf(f.url, sizeof f.url, "file://%s/store", f.dir);
	else
		snprintf(f.url, sizeof f.url, "memory://bench-commit-%d-%d", (int)getpid(), n);
	if (objstore_open(f.url, &f.st) < 0)
		exit(1);
	lsm_options_default(&f.lo);
	f.lo.store = f.st;
	f.lo.create = true;
	memset(f.lo.key, 1, sizeof f.lo.key);
	data_options_default(&f.dopt);
	f.dopt.store = f.st;
	memset(f.dopt.key, 2, sizeof f.dopt.key);
	memcpy(f.dopt.meta_key, f.lo.key, sizeof f.lo.key);
	f.dopt.flush_interval_ms = 0;
	f.dopt.gc_interval_ms = 0;
	f.dopt.segment_bytes = 64ull << 20;
	fs_open(&f);
	struct commit_run *runs = xcalloc(nthreads, sizeof *runs);
	pthread_t *th = xcalloc(nthreads, sizeof *th);
	uint64_t t0 = clock_mono_ns();
	for (unsigned i = 0; i < nthreads; i++) {
		runs[i] = (struct commit_run){ f.d, src, txn_bytes, total_bytes / txn_bytes / nthreads,
					       100 + i };
		pthread_create(&th[i], NULL, commit_worker, &runs[i]);
	}
	for (unsigned i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
	double s = secs(clock_mono_ns() - t0);
	free(runs);
	free(th);
	if (file) {
		fs_destroy(&f);
	} else {
		fs_close(&f);
		objstore_close(f.st);
		objstore_memory_reset(f.url + strlen("memory://"));
	}
	return s;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void commit_throughput(const char *base, size_t total_mb)
{
	uint8_t *src = xmalloc(CHUNK);
	fill_text(src, CHUNK);
	printf("concurrent commits (text-like data, each thread its own inode, median of 3 runs)\n");
	const unsigned threads[] = { 1, 2, 8 };
	const size_t sizes[] = { 128u << 10, 4u << 10 };
	for (int file = 0; file < 2; file++)
		for (size_t si = 0; si < 2; si++)
			for (size_t ti = 0; ti < 3; ti++) {
				size_t total = total_mb << 20;
				if (sizes[si] < (64u << 10))
					total /= 8; /* small commits: fewer bytes, as many commits */
				double run[3];
				for (int k = 0; k < 3; k++)
					run[k] = commit_once(base, file, threads[ti], sizes[si], total, src);
				qsort(run, 3, sizeof run[0], cmp_double);
				double commits = (double)(total / sizes[si] / threads[ti] * threads[ti]);
				printf("  %-9s %3zu KiB txns, %u thread%s  %8.1f MiB/s  %9.0f commits/s\n",
				       file ? "file://" : "memory://", sizes[si] >> 10, threads[ti],
				       threads[ti] > 1 ? "s" : " ", (double)total / (1 << 20) / run[1],
				       commits / run[1]);
			}
	free(src);
}

struct bulk_writer {
	struct data *d;
	size_t mb;
	atomic_bool done;
};

static void *bulk_main(void *arg)
{
	struct bulk_writer *w = arg;
	uint8_t *buf = xmalloc(CHUNK);
	for (size_t i = 0; i < w->mb; i++) {
		fill_random(buf, CHUNK);
		struct data_txn *t = data_txn_new(w->d);
		if (data_write(t, 5, (uint64_t)i * CHUNK, buf, CHUNK) < 0 ||
		    data_txn_commit(t, NULL, NULL) < 0)
			exit(1);
		data_txn_free(t);
	}
	data_barrier(w->d, 0);
	atomic_store(&w->done, true);
	free(buf);
	return NULL;
}

/* A chmod-like commit: a metadata batch, no data. */
static uint64_t meta_commit(struct data *d, uint64_t i)
{
	uint8_t key[9], val[32];
	key[0] = 'I';
	be64_put(key + 1, 1000 + i % 64);
	memset(val, (int)i, sizeof val);
	struct lsm_batch *b = lsm_batch_new();
	lsm_batch_put(b, key, sizeof key, val, sizeof val);
	struct data_txn *t = data_txn_new(d);
	uint64_t t0 = clock_mono_ns();
	if (data_txn_commit(t, b, NULL) < 0)
		exit(1);
	uint64_t ns = clock_mono_ns() - t0;
	data_txn_free(t);
	lsm_batch_free(b);
	return ns;
}

static void meta_latency(const char *base, size_t mb)
{
	struct bench_fs f;
	fs_init(&f, base, "meta", (struct codec){ CODEC_LZ4, 0 });
	size_t cap = 1u << 20, n = 0;
	uint64_t *lat = xcalloc(cap, sizeof *lat);
	for (size_t i = 0; i < 2000; i++)
		lat[i] = meta_commit(f.d, i);
	double idle_med, idle_p99;
	percentiles(lat, 2000, &idle_med, &idle_p99);
	struct bulk_writer w = { f.d, mb, false };
	pthread_t th;
	uint64_t t0 = clock_mono_ns();
	pthread_create(&th, NULL, bulk_main, &w);
	while (!atomic_load(&w.done) && n < cap) {
		lat[n] = meta_commit(f.d, n);
		n++;
		struct timespec ts = { 0, 200000 }; /* 0.2 ms between "chmods" */
		nanosleep(&ts, NULL);
	}
	pthread_join(th, NULL);
	double wsecs = secs(clock_mono_ns() - t0);
	double med, p99;
	percentiles(lat, n ? n : 1, &med, &p99);
	printf("metadata-only commit (one put, data_txn_commit) on file://\n");
	printf("  idle                          p50 %8.1f us  p99 %8.1f us\n", idle_med / 1e3,
	       idle_p99 / 1e3);
	printf("  while %zu MiB are written      p50 %8.1f us  p99 %8.1f us  (%zu commits; writer %.0f MiB/s incl. barrier)\n",
	       mb, med / 1e3, p99 / 1e3, n, (double)mb / wsecs);
	free(lat);
	fs_destroy(&f);
}

int main(void)
{
	const char *base = getenv("BENCH_DIR") ? getenv("BENCH_DIR") : "/tmp";
	size_t mb = getenv("BENCH_DATA_MB") ? strtoul(getenv("BENCH_DATA_MB"), NULL, 0) : 1024;
	size_t nreads = getenv("BENCH_READS") ? strtoul(getenv("BENCH_READS"), NULL, 0) : 200000;
	size_t commit_mb = getenv("BENCH_COMMIT_MB") ? strtoul(getenv("BENCH_COMMIT_MB"), NULL, 0)
						     : 128;
	const char *only = getenv("BENCH_DATA_ONLY");
	crypt_init();
	if (only && strcmp(only, "commit") == 0) {
		commit_throughput(base, commit_mb);
		meta_latency(base, mb);
		return 0;
	}
	struct codec lz4 = { CODEC_LZ4, 0 }, zstd3 = { CODEC_ZSTD, 3 };

	/* ---- random 4 KiB reads over a 256 MiB file ---- */
	struct bench_fs f;
	fs_init(&f, base, "rand", lz4);
	size_t file_mb = 256;
	uint8_t *buf = xmalloc(CHUNK);
	for (size_t i = 0; i < file_mb; i++) {
		fill_text(buf, CHUNK);
		struct data_txn *t = data_txn_new(f.d);
		data_write(t, 7, (uint64_t)i * CHUNK, buf, CHUNK);
		data_txn_commit(t, NULL, NULL);
		data_txn_free(t);
	}
	data_barrier(f.d, 0);
	uint64_t *lat = xcalloc(nreads, sizeof *lat);
	uint8_t out[4096];
	uint64_t blocks = file_mb * CHUNK / 4096;
	/* Warm: every extent already in the extent cache (256 MiB budget). */
	for (uint64_t b = 0; b < blocks; b += 8)
		data_read(f.d, 7, b * 4096, out, sizeof out);
	for (size_t i = 0; i < nreads; i++) {
		uint64_t b = rnd() % blocks;
		uint64_t t0 = clock_mono_ns();
		data_read(f.d, 7, b * 4096, out, sizeof out);
		lat[i] = clock_mono_ns() - t0;
	}
	double warm_med, warm_p99;
	percentiles(lat, nreads, &warm_med, &warm_p99);
	static uint8_t src[4096], dst[4096];
	for (size_t i = 0; i < nreads; i++) {
		src[i % 4096] = (uint8_t)i;
		uint64_t t0 = clock_mono_ns();
		memcpy(dst, src, sizeof dst);
		__asm__ volatile("" : : "r"(dst) : "memory");
		lat[i] = clock_mono_ns() - t0;
	}
	double memcpy_med, memcpy_p99;
	percentiles(lat, nreads, &memcpy_med, &memcpy_p99);
	/* The fair floor: 4 KiB copied from a random place in 256 MiB of RAM,
	 * which, like a cached extent, is not in the CPU caches. */
	uint8_t *big = xmalloc(file_mb * CHUNK);
	fill_random(big, file_mb * CHUNK);
	for (size_t i = 0; i < nreads; i++) {
		uint64_t b = rnd() % blocks;
		uint64_t t0 = clock_mono_ns();
		memcpy(dst, big + b * 4096, sizeof dst);
		__asm__ volatile("" : : "r"(dst) : "memory");
		lat[i] = clock_mono_ns() - t0;
	}
	free(big);
	double ram_med, ram_p99;
	percentiles(lat, nreads, &ram_med, &ram_p99);

	/* Cold: a fresh instance, no RAM caches, reads from file:// store. */
	fs_close(&f);
	f.dopt.cache_ram_bytes = 1u << 20;
	f.dopt.extent_cache_bytes = 1u << 20;
	fs_open(&f);
	size_t ncold = nreads / 20;
	for (size_t i = 0; i < ncold; i++) {
		uint64_t b = rnd() % blocks;
		uint64_t t0 = clock_mono_ns();
		data_read(f.d, 7, b * 4096, out, sizeof out);
		lat[i] = clock_mono_ns() - t0;
	}
	double cold_med, cold_p99;
	percentiles(lat, ncold, &cold_med, &cold_p99);

	/* Barrier after one 4 KiB write. */
	size_t nbar = 100;
	for (size_t i = 0; i < nbar; i++) {
		fill_random(out, sizeof out);
		uint64_t t0 = clock_mono_ns();
		struct data_txn *t = data_txn_new(f.d);
		data_write(t, 99, i * 4096, out, sizeof out);
		data_txn_commit(t, NULL, NULL);
		data_txn_free(t);
		data_barrier(f.d, 0);
		lat[i] = clock_mono_ns() - t0;
	}
	double bar_med, bar_p99;
	percentiles(lat, nbar, &bar_med, &bar_p99);
	fs_destroy(&f);

	char *path = xasprintf("%s/bench-data-fsync-%d", base, (int)getpid());
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	for (size_t i = 0; i < nbar; i++) {
		uint64_t t0 = clock_mono_ns();
		if (pwrite(fd, out, sizeof out, (off_t)(i * 4096)) != sizeof out)
			exit(1);
		fsync(fd);
		lat[i] = clock_mono_ns() - t0;
	}
	close(fd);
	unlink(path);
	free(path);
	double fsync_med, fsync_p99;
	percentiles(lat, nbar, &fsync_med, &fsync_p99);

	/* Cold baseline: pread 4 KiB from a 256 MiB file not in page cache. */
	path = xasprintf("%s/bench-data-pread-%d", base, (int)getpid());
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	for (size_t i = 0; i < file_mb; i++) {
		fill_random(buf, CHUNK);
		if (write(fd, buf, CHUNK) != CHUNK)
			exit(1);
	}
	fsync(fd);
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	for (size_t i = 0; i < ncold; i++) {
		uint64_t b = rnd() % blocks;
		uint64_t t0 = clock_mono_ns();
		if (pread(fd, out, sizeof out, (off_t)(b * 4096)) != sizeof out)
			exit(1);
		lat[i] = clock_mono_ns() - t0;
	}
	close(fd);
	unlink(path);
	free(path);
	double pread_med, pread_p99;
	percentiles(lat, ncold, &pread_med, &pread_p99);

	printf("random 4 KiB reads over a 256 MiB file\n");
	printf("  warm read      median %8.0f ns  p99 %8.0f ns   (memcpy 4 KiB hot: median %.0f ns; from a random place in 256 MiB: median %.0f ns, p99 %.0f ns; ratio %.2fx)\n",
	       warm_med, warm_p99, memcpy_med, ram_med, ram_p99, warm_med / (ram_med ? ram_med : 1));
	printf("  cold read      median %8.0f ns  p99 %8.0f ns   (pread from disk: median %.0f ns, p99 %.0f ns)\n",
	       cold_med, cold_p99, pread_med, pread_p99);
	printf("  barrier after a 4 KiB write: median %.2f ms, p99 %.2f ms (write+fsync 4 KiB: median %.2f ms)\n",
	       bar_med / 1e6, bar_p99 / 1e6, fsync_med / 1e6);

	double fw, fr;
	file_throughput(base, mb, &fw, &fr);
	printf("sequential %zu MiB (MiB/s, write includes the final barrier; read after reopen)\n", mb);
	printf("  local file (write+fsync / read, no page cache)   write %7.0f   read %7.0f\n", fw, fr);
	struct {
		const char *name;
		struct codec c;
		bool text;
	} cases[] = {
		{ "lz4-text", { CODEC_LZ4, 0 }, true },
		{ "lz4-random", { CODEC_LZ4, 0 }, false },
		{ "zstd3-text", { CODEC_ZSTD, 3 }, true },
		{ "zstd3-random", { CODEC_ZSTD, 3 }, false },
	};
	(void)lz4;
	(void)zstd3;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		double w, r;
		seq_throughput(base, cases[i].name, cases[i].c, cases[i].text, mb, &w, &r);
		printf("  bucketfs %-14s                         write %7.0f   read %7.0f   (%.2fx / %.2fx of local file)\n",
		       cases[i].name, w, r, w / fw, r / fr);
	}
	free(lat);
	free(buf);
	commit_throughput(base, commit_mb);
	meta_latency(base, mb);
	return 0;
}
