/* bench-lsm.c -- metadata benchmark of the LSM tree on a file:// store.
 *
 * Loads N (BENCH_KEYS, default 1,000,000) directory-entry-like records in
 * random order, makes them durable, fully compacts, then measures warm and
 * cold point gets, full and prefix scans, and baselines measured in the same
 * run (plain file write + fsync, bsearch over a sorted in-memory array).
 * It prints figures; it only asserts correctness sanity (every key found
 * with its value, scans see every key in order).
 *
 * Knobs (environment):
 *   BENCH_KEYS         keys loaded into the main tree           (1000000)
 *   BENCH_BATCH        keys per lsm_write batch in the main load (100)
 *   BENCH_SINGLE_KEYS  keys loaded one per batch into a second tree, whose
 *                      memtable then serves the memtable gets  (min(N, 300000))
 *   BENCH_GETS         timed warm random gets per pass          (1000000)
 *   BENCH_THREADS      threads of the parallel get throughput   (2)
 *   BENCH_COLD_GETS    timed cold random gets (page cache warm) (10000)
 *   BENCH_DISK_GETS    cold gets after dropping the store files from the
 *                      page cache (0 = skip)                    (2000)
 *   BENCH_SCANS        full scans                               (3)
 *   BENCH_PREFIX_SCANS prefix scans of each kind                (1000)
 *   BENCH_CODEC        block codec, e.g. lz4 (default: the tree's, zstd:3)
 *   BENCH_BLOCK_BYTES  data block target (default: the tree's, 4096)
 *   BENCH_DIR          parent of the temp dir                   (/tmp)
 *   BENCH_KEEP         keep the temp dir when set to 1
 *   BENCH_SEED         RNG seed                                 (42)
 *   BENCH_PROFILE_COLD rounds of reopen + cold gets of every 64th key in
 *                      cold_get_loop(), for profilers           (0)
 *   BENCH_PROFILE_GETS extra untimed warm gets in warm_get_loop(), for
 *                      perf / callgrind --toggle-collect=warm_get_loop (0)
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypt/aead.h"
#include "lsm/lsm.h"
#include "store/objstore.h"
#include "util/buf.h"
#include "util/clock.h"

#define KSTRIDE 48       /* bytes per key slot; keys are < KSTRIDE */
#define VLEN 80          /* value bytes */
#define GET_GROUP 64     /* gets per timed group in the batched passes */
#define KEYS_PER_DIR 1000

/* ---------------------------------------------------------------- utils */

static void die(const char *what, int r)
{
	fprintf(stderr, "bench-lsm: %s failed: %s (%d)\n", what, r < 0 ? strerror(-r) : "?", r);
	exit(1);
}

#define CHECK(call)                                      \
	do {                                             \
		int r_ = (call);                         \
		if (r_ < 0)                              \
			die(#call, r_);                  \
	} while (0)

#define SANITY(cond, ...)                                        \
	do {                                                     \
		if (!(cond)) {                                   \
			fprintf(stderr, "bench-lsm: SANITY: " __VA_ARGS__); \
			fputc('\n', stderr);                     \
			exit(1);                                 \
		}                                                \
	} while (0)

static uint64_t env_u64(const char *name, uint64_t def)
{
	const char *s = getenv(name);
	if (!s || !*s)
		return def;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (*end) {
		fprintf(stderr, "bench-lsm: %s=%s is not a number\n", name, s);
		exit(2);
	}
	return v;
}

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t mix(uint64_t x)
{
	uint64_t s = x;
	return splitmix(&s);
}

static void be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

static void be32(uint8_t *p, uint32_t v)
{
	for (int i = 3; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

static double secs(uint64_t ns)
{
	return (double)ns / 1e9;
}

/* Bytes this process has passed to write(2)-like calls so far. */
static uint64_t proc_wchar(void)
{
	FILE *f = fopen("/proc/self/io", "r");
	char line[128];
	uint64_t v = 0;
	if (!f)
		return 0;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "wchar: %" SCNu64, &v) == 1)
			break;
	fclose(f);
	return v;
}

static uint64_t walk_bytes, walk_files;

static int walk_sum(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)path;
	(void)ftw;
	if (type == FTW_F && S_ISREG(st->st_mode)) {
		walk_bytes += (uint64_t)st->st_size;
		walk_files++;
	}
	return 0;
}

static uint64_t dir_bytes(const char *dir, uint64_t *files)
{
	walk_bytes = walk_files = 0;
	nftw(dir, walk_sum, 16, FTW_PHYS);
	if (files)
		*files = walk_files;
	return walk_bytes;
}

static int walk_rm(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (type == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

static int walk_drop(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)ftw;
	if (type == FTW_F && S_ISREG(st->st_mode)) {
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			fdatasync(fd);
			posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
			close(fd);
		}
	}
	return 0;
}

/* ------------------------------------------------------------ statistics */

struct dist {
	double p50, p90, p99, p999, max, mean;
};

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static double pct(const uint32_t *sorted, size_t n, double p)
{
	if (!n)
		return 0;
	size_t i = (size_t)(p * (double)(n - 1) + 0.5);
	return sorted[i];
}

/* Sorts s in place. */
static struct dist dist_of(uint32_t *s, size_t n)
{
	struct dist d = { 0 };
	if (!n)
		return d;
	double sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += s[i];
	qsort(s, n, sizeof *s, cmp_u32);
	d.p50 = pct(s, n, 0.50);
	d.p90 = pct(s, n, 0.90);
	d.p99 = pct(s, n, 0.99);
	d.p999 = pct(s, n, 0.999);
	d.max = s[n - 1];
	d.mean = sum / (double)n;
	return d;
}

static uint32_t clamp32(uint64_t v)
{
	return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

static void print_dist(const char *name, struct dist d, const char *unit, double div)
{
	printf("  %-34s p50 %9.1f  p90 %9.1f  p99 %9.1f  p99.9 %9.1f  max %10.1f  mean %9.1f %s\n",
	       name, d.p50 / div, d.p90 / div, d.p99 / div, d.p999 / div, d.max / div,
	       d.mean / div, unit);
}

/* -------------------------------------------------------------- dataset */

static const char *const words[] = {
	"report", "photo", "notes", "build", "index", "thumbnail", "backup", "draft",
	"invoice", "IMG", "track", "config", "module", "README", "archive", "chapter",
};
static const char *const exts[] = { ".txt", ".jpg", ".c", ".json", "", ".tar.gz", ".md", ".png" };

static uint64_t nkeys, ndirs;
static uint8_t *keys;    /* nkeys slots of KSTRIDE bytes */
static uint8_t *klens;

static uint8_t *key_at(uint64_t i)
{
	return keys + i * KSTRIDE;
}

static uint64_t parent_of(uint64_t i)
{
	return 1000 + mix(i ^ 0x5eed) % ndirs;
}

/* 'D' + be64 parent + filename; unique because the name carries i. */
static size_t make_key(uint64_t i, uint8_t *out)
{
	uint64_t h = mix(i * 7 + 1);
	char name[40];
	int n = snprintf(name, sizeof name, "%s_%08" PRIx64 "%s", words[h % 16], i,
			 exts[(h >> 8) % 8]);
	out[0] = 'D';
	be64(out + 1, parent_of(i));
	memcpy(out + 9, name, (size_t)n);
	return 9 + (size_t)n;
}

/* An inode-record-like value: a few random fields, many shared bytes. */
static void make_value(uint64_t i, uint8_t *v)
{
	uint64_t h = mix(i * 13 + 5), h2 = mix(h);
	uint64_t t0 = 1700000000ull * 1000000000ull;
	bool dir = (h & 31) == 0;
	be64(v + 0, 1000000 + i);                                  /* child ino */
	be32(v + 8, dir ? 040755 : 0100644);                       /* mode */
	be32(v + 12, (h >> 5) & 7 ? 1000 : 0);                     /* uid */
	be32(v + 16, (h >> 5) & 7 ? 1000 : 0);                     /* gid */
	be32(v + 20, dir ? 2 : 1);                                 /* nlink */
	be64(v + 24, dir ? 4096 : (h2 >> (40 + (h >> 58))));       /* size */
	uint64_t mt = t0 + (h2 % (365ull * 86400 * 1000000000ull));
	be64(v + 32, mt + (h >> 44));                              /* atime */
	be64(v + 40, mt);                                          /* mtime */
	be64(v + 48, mt);                                          /* ctime */
	be64(v + 56, 0);                                           /* rdev */
	be64(v + 64, (h >> 16) & 0xffff);                          /* generation */
	be64(v + 72, h2 >> 1);                                     /* readdir cookie */
}

static void gen_keys(void)
{
	keys = malloc(nkeys * KSTRIDE);
	klens = malloc(nkeys);
	SANITY(keys && klens, "out of memory for %" PRIu64 " keys", nkeys);
	for (uint64_t i = 0; i < nkeys; i++) {
		memset(key_at(i), 0, KSTRIDE);
		klens[i] = (uint8_t)make_key(i, key_at(i));
	}
}

static uint32_t *permutation(uint64_t n, uint64_t *rng)
{
	uint32_t *p = malloc(n * sizeof *p);
	SANITY(p, "out of memory");
	for (uint64_t i = 0; i < n; i++)
		p[i] = (uint32_t)i;
	for (uint64_t i = n; i > 1; i--) {
		uint64_t j = splitmix(rng) % i;
		uint32_t t = p[i - 1];
		p[i - 1] = p[j];
		p[j] = t;
	}
	return p;
}

/* ------------------------------------------------------------ the tree */

static objstore *store_open(const char *dir)
{
	char url[PATH_MAX + 16];
	objstore *st;
	snprintf(url, sizeof url, "file://%s", dir);
	CHECK(objstore_open(url, &st));
	return st;
}

static uint8_t meta_key[CRYPT_KEY_BYTES];
static struct codec opt_codec;       /* BENCH_CODEC, else the default */
static bool opt_codec_set;
static size_t opt_block_bytes;       /* BENCH_BLOCK_BYTES, 0 = default */

static lsm *tree_open(objstore *st, bool read_only)
{
	struct lsm_options o;
	lsm *db;
	lsm_options_default(&o);
	o.store = st;
	memcpy(o.key, meta_key, sizeof o.key);
	if (opt_codec_set)
		o.codec = opt_codec;
	if (opt_block_bytes)
		o.block_bytes = opt_block_bytes;
	o.create = !read_only;
	o.read_only = read_only;
	CHECK(lsm_open(&o, &db));
	return db;
}

static void print_tree(lsm *db, const char *when)
{
	struct lsm_stats s;
	lsm_stats(db, &s);
	printf("  tree %s: files/level", when);
	for (int l = 0; l < LSM_LEVELS; l++)
		printf(" %u", s.files[l]);
	uint64_t tot = 0;
	for (int l = 0; l < LSM_LEVELS; l++)
		tot += s.bytes[l];
	printf("  (%.1f MiB)  flushes %" PRIu64 "  compactions %" PRIu64
	       "  memtable %.1f MiB  cache %.1f MiB hits %" PRIu64 " misses %" PRIu64 "\n",
	       (double)tot / 1048576, s.flushes, s.compactions, (double)s.memtable_bytes / 1048576,
	       (double)s.cache_bytes / 1048576, s.cache_hits, s.cache_misses);
}

/* Get key i and check its value.  Returns the lsm_get result. */
static int get_check(lsm *db, uint64_t i, struct buf *val)
{
	uint8_t want[VLEN];
	int r = lsm_get(db, key_at(i), klens[i], val);
	if (r < 0)
		return r;
	make_value(i, want);
	SANITY(val->len == VLEN && memcmp(val->data, want, VLEN) == 0,
	       "key %" PRIu64 ": wrong value (len %zu)", i, val->len);
	return 0;
}

/* Per-call timed gets of the keys idx[0..n): samples in ns. */
static void timed_gets(lsm *db, const uint32_t *idx, size_t n, uint32_t *samples)
{
	struct buf val = BUF_INIT;
	uint8_t k[KSTRIDE];
	for (size_t j = 0; j < n; j++) {
		uint32_t i = idx[j];
		memcpy(k, key_at(i), KSTRIDE);   /* key hot in L1 before timing */
		uint64_t t0 = clock_mono_ns();
		int r = lsm_get(db, k, klens[i], &val);
		uint64_t t1 = clock_mono_ns();
		SANITY(r == 0, "key %u not found (%d)", i, r);
		samples[j] = clamp32(t1 - t0);
	}
	buf_free(&val);
}

/* Groups of GET_GROUP gets timed together: mean ns per get of each group. */
static size_t grouped_gets(lsm *db, const uint32_t *idx, size_t n, uint32_t *samples)
{
	struct buf val = BUF_INIT;
	uint8_t k[GET_GROUP][KSTRIDE];
	size_t ng = 0;
	for (size_t j = 0; j + GET_GROUP <= n; j += GET_GROUP) {
		for (int g = 0; g < GET_GROUP; g++)
			memcpy(k[g], key_at(idx[j + g]), KSTRIDE);
		int bad = 0;
		uint64_t t0 = clock_mono_ns();
		for (int g = 0; g < GET_GROUP; g++)
			bad |= lsm_get(db, k[g], klens[idx[j + g]], &val);
		uint64_t t1 = clock_mono_ns();
		SANITY(bad == 0, "a key of group %zu not found", j / GET_GROUP);
		samples[ng++] = clamp32((t1 - t0 + GET_GROUP / 2) / GET_GROUP);
	}
	buf_free(&val);
	return ng;
}

/* Untimed warm gets for profilers (BENCH_PROFILE_GETS): a function of its
 * own so that perf/callgrind can select it (callgrind --toggle-collect). */
__attribute__((noinline)) static uint64_t warm_get_loop(lsm *db, uint64_t n, uint64_t *rng)
{
	struct buf val = BUF_INIT;
	uint64_t found = 0;
	for (uint64_t j = 0; j < n; j++) {
		uint64_t i = splitmix(rng) % nkeys;
		found += lsm_get(db, key_at(i), klens[i], &val) == 0;
	}
	buf_free(&val);
	return found;
}

/* Cold gets for profilers (BENCH_PROFILE_COLD): keys `step` apart in key
 * order, so that nearly every get loads a block not yet in the cache. */
__attribute__((noinline)) static uint64_t cold_get_loop(lsm *db, const uint32_t *sorted,
							 uint64_t step)
{
	struct buf val = BUF_INIT;
	uint64_t found = 0;
	for (uint64_t j = 0; j < nkeys; j += step)
		found += lsm_get(db, key_at(sorted[j]), klens[sorted[j]], &val) == 0;
	buf_free(&val);
	return found;
}

/* Gets from several threads at once: aggregate throughput. */
struct mt_arg {
	lsm *db;
	const uint32_t *idx;
	size_t n;
	pthread_barrier_t *bar;
	int bad;
};

static void *mt_worker(void *p)
{
	struct mt_arg *a = p;
	struct buf val = BUF_INIT;
	pthread_barrier_wait(a->bar);
	for (size_t j = 0; j < a->n; j++) {
		uint32_t i = a->idx[j];
		a->bad |= lsm_get(a->db, key_at(i), klens[i], &val) != 0;
	}
	buf_free(&val);
	return NULL;
}

/* Seconds for nthreads threads to do n gets of idx between them. */
static double mt_gets(lsm *db, const uint32_t *idx, size_t n, int nthreads)
{
	pthread_t th[64];
	struct mt_arg args[64];
	pthread_barrier_t bar;
	pthread_barrier_init(&bar, NULL, (unsigned)nthreads + 1);
	for (int t = 0; t < nthreads; t++) {
		args[t] = (struct mt_arg){ db, idx + n / (size_t)nthreads * (size_t)t,
					   n / (size_t)nthreads, &bar, 0 };
		SANITY(pthread_create(&th[t], NULL, mt_worker, &args[t]) == 0, "pthread_create");
	}
	pthread_barrier_wait(&bar);
	uint64_t t0 = clock_mono_ns();
	for (int t = 0; t < nthreads; t++) {
		pthread_join(th[t], NULL);
		SANITY(!args[t].bad, "thread %d: a key was not found", t);
	}
	uint64_t t1 = clock_mono_ns();
	pthread_barrier_destroy(&bar);
	return secs(t1 - t0);
}

/* ----------------------------------------------------- bsearch baseline */

struct rec {
	uint8_t key[KSTRIDE - 4];
	uint32_t idx;
};

static int rec_cmp(const void *a, const void *b)
{
	return memcmp(((const struct rec *)a)->key, ((const struct rec *)b)->key, KSTRIDE - 4);
}

/* Records compare by their whole zero-padded key slot: a consistent total
 * order in which equal slots mean equal keys, all bsearch needs. */
static const struct rec *bsearch_get(const struct rec *arr, size_t n, const uint8_t *k,
				     const uint8_t *vals, uint8_t *out)
{
	const struct rec *r = bsearch(k, arr, n, sizeof *arr, rec_cmp);
	if (r)
		memcpy(out, vals + (size_t)r->idx * VLEN, VLEN);
	return r;
}

/* ----------------------------------------------------------------- main */

struct summary_row {
	char name[48];
	char value[40];
	char goal[16];
	char ratio[40];
};

static struct summary_row rows[40];
static int nrows;

static void row(const char *name, const char *goal, const char *ratio, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void row(const char *name, const char *goal, const char *ratio, const char *fmt, ...)
{
	struct summary_row *r = &rows[nrows++];
	va_list ap;
	snprintf(r->name, sizeof r->name, "%s", name);
	snprintf(r->goal, sizeof r->goal, "%s", goal ? goal : "");
	snprintf(r->ratio, sizeof r->ratio, "%s", ratio ? ratio : "");
	va_start(ap, fmt);
	vsnprintf(r->value, sizeof r->value, fmt, ap);
	va_end(ap);
}

int main(void)
{
	nkeys = env_u64("BENCH_KEYS", 1000000);
	uint64_t batch = env_u64("BENCH_BATCH", 100);
	uint64_t nsingle = env_u64("BENCH_SINGLE_KEYS", nkeys < 300000 ? nkeys : 300000);
	uint64_t ngets = env_u64("BENCH_GETS", 1000000);
	uint64_t ncold = env_u64("BENCH_COLD_GETS", 10000);
	uint64_t ndisk = env_u64("BENCH_DISK_GETS", 2000);
	uint64_t nscans = env_u64("BENCH_SCANS", 3);
	uint64_t nprefix = env_u64("BENCH_PREFIX_SCANS", 1000);
	uint64_t nthreads = env_u64("BENCH_THREADS", 2);
	uint64_t nprof = env_u64("BENCH_PROFILE_GETS", 0);
	uint64_t nprof_cold = env_u64("BENCH_PROFILE_COLD", 0);
	uint32_t *sorted_idx = NULL;
	uint64_t rng = env_u64("BENCH_SEED", 42);
	bool keep = env_u64("BENCH_KEEP", 0) != 0;
	const char *parent = getenv("BENCH_DIR");
	const char *codec_spec = getenv("BENCH_CODEC");
	opt_block_bytes = env_u64("BENCH_BLOCK_BYTES", 0);
	if (codec_spec && *codec_spec) {
		if (codec_parse(codec_spec, &opt_codec) < 0) {
			fprintf(stderr, "bench-lsm: BENCH_CODEC=%s: unknown codec\n", codec_spec);
			return 2;
		}
		opt_codec_set = true;
	}
	if (nkeys < 1000 || nkeys > UINT32_MAX) {
		fprintf(stderr, "bench-lsm: BENCH_KEYS must be in 1000..2^32\n");
		return 2;
	}
	if (batch == 0)
		batch = 1;
	if (nsingle > nkeys)
		nsingle = nkeys;
	if (nthreads < 1 || nthreads > 64)
		nthreads = 2;
	if (ngets < GET_GROUP * 2)
		ngets = GET_GROUP * 2;
	if (nscans == 0)
		nscans = 1;
	ndirs = nkeys / KEYS_PER_DIR ? nkeys / KEYS_PER_DIR : 1;
	uint64_t t_start = clock_mono_ns();

	CHECK(crypt_init());
	uint8_t master[CRYPT_KEY_BYTES];
	memset(master, 0xb5, sizeof master);
	crypt_subkey(master, CRYPT_DOMAIN_META, meta_key);

	char tmpl[PATH_MAX];
	snprintf(tmpl, sizeof tmpl, "%s/bench-lsm-XXXXXX", parent && *parent ? parent : "/tmp");
	char *tmpdir = mkdtemp(tmpl);
	if (!tmpdir) {
		perror("bench-lsm: mkdtemp");
		return 1;
	}
	char base[PATH_MAX], dir_main[PATH_MAX + 8], dir_single[PATH_MAX + 8], plain[PATH_MAX + 8];
	if (!realpath(tmpdir, base)) {
		perror("bench-lsm: realpath");
		return 1;
	}
	snprintf(dir_main, sizeof dir_main, "%s/main", base);
	snprintf(dir_single, sizeof dir_single, "%s/single", base);
	snprintf(plain, sizeof plain, "%s/plain", base);

	/* Timer overhead: back-to-back clock reads. */
	uint32_t tov[10001];
	for (int i = 0; i < 10001; i++) {
		uint64_t a = clock_mono_ns(), b = clock_mono_ns();
		tov[i] = clamp32(b - a);
	}
	double timer_ns = dist_of(tov, 10001).p50;

	printf("bench-lsm: %" PRIu64 " keys (%" PRIu64 " dirs), batch %" PRIu64
	       ", single-key batches %" PRIu64 ", store file://%s\n",
	       nkeys, ndirs, batch, nsingle, base);
	{
		struct lsm_options d;
		lsm_options_default(&d);
		struct codec c = opt_codec_set ? opt_codec : d.codec;
		printf("  codec %s", codec_name(c.id));
		if (c.id == CODEC_ZSTD)
			printf(":%d", c.level);
		printf(", memtable %zu MiB, blocks %zu B, cache %zu MiB, background thread;"
		       " clock_gettime pair overhead %.0f ns (not subtracted)\n",
		       d.memtable_bytes >> 20, opt_block_bytes ? opt_block_bytes : d.block_bytes,
		       d.block_cache_bytes >> 20, timer_ns);
	}

	gen_keys();
	uint64_t kbytes = 0;
	for (uint64_t i = 0; i < nkeys; i++)
		kbytes += klens[i];
	uint64_t raw = kbytes + nkeys * VLEN;
	printf("  entries: key avg %.1f B, value %d B, %.1f MiB logical\n",
	       (double)kbytes / (double)nkeys, VLEN, (double)raw / 1048576);
	uint32_t *order = permutation(nkeys, &rng);

	/* ---- baseline: the same logical bytes to a plain file + fsync ---- */
	uint64_t t0, t1;
	double base_write_s;
	{
		size_t chunk = 1u << 20, used = 0;
		uint8_t *cb = malloc(chunk);
		SANITY(cb, "out of memory");
		t0 = clock_mono_ns();
		int fd = open(plain, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		SANITY(fd >= 0, "open %s: %s", plain, strerror(errno));
		for (uint64_t j = 0; j < nkeys; j++) {
			uint32_t i = order[j];
			if (chunk - used < KSTRIDE + VLEN) {
				SANITY(write(fd, cb, used) == (ssize_t)used, "write: %s", strerror(errno));
				used = 0;
			}
			memcpy(cb + used, key_at(i), klens[i]);
			used += klens[i];
			make_value(i, cb + used);
			used += VLEN;
		}
		SANITY(write(fd, cb, used) == (ssize_t)used, "write: %s", strerror(errno));
		SANITY(fsync(fd) == 0, "fsync: %s", strerror(errno));
		close(fd);
		t1 = clock_mono_ns();
		base_write_s = secs(t1 - t0);
		unlink(plain);
		free(cb);
		printf("baseline: plain file write+fsync of %.1f MiB: %.3f s (%.0f MiB/s)\n",
		       (double)raw / 1048576, base_write_s, (double)raw / 1048576 / base_write_s);
	}

	/* ---- single-key batches into a second tree; memtable gets ---- */
	double single_s = 0, single_flush_s = 0;
	struct dist mem_d = { 0 };
	if (nsingle) {
		objstore *st = store_open(dir_single);
		lsm *db = tree_open(st, false);
		struct lsm_batch *b = lsm_batch_new();
		uint8_t v[VLEN];
		t0 = clock_mono_ns();
		for (uint64_t j = 0; j < nsingle; j++) {
			uint32_t i = order[j];
			make_value(i, v);
			lsm_batch_clear(b);
			lsm_batch_put(b, key_at(i), klens[i], v, VLEN);
			CHECK(lsm_write(db, b, NULL));
		}
		t1 = clock_mono_ns();
		single_s = secs(t1 - t0);
		printf("load, 1 key/batch: %" PRIu64 " keys in %.3f s: %.0f keys/s, %.2f us/write\n",
		       nsingle, single_s, (double)nsingle / single_s, single_s * 1e6 / (double)nsingle);
		print_tree(db, "before flush");

		/* Memtable gets (if nothing rotated, every key is in the memtable). */
		uint64_t nm = ngets < nsingle ? ngets : nsingle;
		if (nm > 200000)
			nm = 200000;
		uint32_t *idx = malloc(nm * sizeof *idx), *s = malloc(nm * sizeof *s);
		SANITY(idx && s, "out of memory");
		for (uint64_t j = 0; j < nm; j++)
			idx[j] = order[splitmix(&rng) % nsingle];
		timed_gets(db, idx, nm, s);
		mem_d = dist_of(s, nm);
		print_dist("memtable get (ns):", mem_d, "ns", 1);
		free(idx);
		free(s);

		t0 = clock_mono_ns();
		CHECK(lsm_flush(db));
		t1 = clock_mono_ns();
		single_flush_s = secs(t1 - t0);
		printf("  flush of that memtable: %.3f s\n", single_flush_s);
		lsm_batch_free(b);
		lsm_close(db);
		objstore_close(st);
	}

	/* ---- main load, `batch` keys per lsm_write ---- */
	objstore *st = store_open(dir_main);
	lsm *db = tree_open(st, false);
	double load_s, load_write_s, flush_s;
	uint64_t store_w, store_files, store_bytes;
	{
		struct lsm_batch *b = lsm_batch_new();
		uint8_t v[VLEN];
		uint64_t wsum = 0, w0 = proc_wchar();
		t0 = clock_mono_ns();
		for (uint64_t j = 0; j < nkeys;) {
			lsm_batch_clear(b);
			for (uint64_t g = 0; g < batch && j < nkeys; g++, j++) {
				uint32_t i = order[j];
				make_value(i, v);
				lsm_batch_put(b, key_at(i), klens[i], v, VLEN);
			}
			uint64_t a = clock_mono_ns();
			CHECK(lsm_write(db, b, NULL));
			wsum += clock_mono_ns() - a;
		}
		t1 = clock_mono_ns();
		load_s = secs(t1 - t0);
		load_write_s = secs(wsum);
		CHECK(lsm_flush(db));
		uint64_t t2 = clock_mono_ns();
		flush_s = secs(t2 - t0);
		store_w = proc_wchar() - w0;
		store_bytes = dir_bytes(dir_main, &store_files);
		lsm_batch_free(b);
		printf("load, %" PRIu64 " keys/batch: %" PRIu64 " keys in %.3f s (%.3f s inside lsm_write):"
		       " %.0f keys/s, %.1f MiB/s logical\n",
		       batch, nkeys, load_s, load_write_s, (double)nkeys / load_s,
		       (double)raw / 1048576 / load_s);
		printf("  load+flush (durable): %.3f s (flush alone %.3f s)  goal <= 10 s\n", flush_s,
		       secs(t2 - t1));
		printf("  store: %.1f MiB written by the process (wchar), %" PRIu64
		       " objects / %.1f MiB present (%.2f x logical)\n",
		       (double)store_w / 1048576, store_files, (double)store_bytes / 1048576,
		       (double)store_bytes / (double)raw);
		print_tree(db, "after flush");
	}

	/* ---- full compaction ---- */
	double compact_s;
	{
		uint64_t w0 = proc_wchar();
		t0 = clock_mono_ns();
		CHECK(lsm_compact(db, true));
		t1 = clock_mono_ns();
		compact_s = secs(t1 - t0);
		uint64_t files, bytes = dir_bytes(dir_main, &files);
		printf("full compaction: %.3f s, %.1f MiB written; store now %" PRIu64
		       " objects / %.1f MiB (old SSTs kept for the GC grace period)\n",
		       compact_s, (double)(proc_wchar() - w0) / 1048576, files,
		       (double)bytes / 1048576);
		print_tree(db, "after compaction");
	}

	/* ---- touch every key once: correctness + cache warm-up ---- */
	double touch_s;
	{
		struct buf val = BUF_INIT;
		t0 = clock_mono_ns();
		for (uint64_t i = 0; i < nkeys; i++) {
			int r = get_check(db, i, &val);
			SANITY(r == 0, "key %" PRIu64 " not found after compaction (%d)", i, r);
		}
		t1 = clock_mono_ns();
		touch_s = secs(t1 - t0);
		buf_free(&val);
		printf("touch every key (all %" PRIu64 " found, values match): %.3f s, %.0f ns/key\n",
		       nkeys, touch_s, touch_s * 1e9 / (double)nkeys);
		print_tree(db, "warm");
		struct lsm_stats s;
		lsm_stats(db, &s);
		if (s.cache_bytes + (1u << 20) >= (256u << 20))
			printf("  WARNING: block cache is full; warm gets will miss\n");
	}

	/* ---- warm random gets, and the bsearch baseline over the same keys ---- */
	struct dist warm_d, warm_g, bs_d, bs_g, neg_d;
	double mt1_rate, mtn_rate;
	{
		uint32_t *idx = malloc(ngets * sizeof *idx), *s = malloc(ngets * sizeof *s);
		SANITY(idx && s, "out of memory");
		for (uint64_t j = 0; j < ngets; j++)
			idx[j] = (uint32_t)(splitmix(&rng) % nkeys);
		uint64_t h0, m0;
		struct lsm_stats st0, st1;
		lsm_stats(db, &st0);
		h0 = st0.cache_hits;
		m0 = st0.cache_misses;
		timed_gets(db, idx, ngets, s);
		warm_d = dist_of(s, ngets);
		size_t ng = grouped_gets(db, idx, ngets, s);
		warm_g = dist_of(s, ng);
		lsm_stats(db, &st1);
		printf("warm random get, %" PRIu64 " keys x 2 passes (cache hits %" PRIu64
		       ", misses %" PRIu64 "):\n", ngets, st1.cache_hits - h0, st1.cache_misses - m0);
		print_dist("per call (ns):", warm_d, "ns", 1);
		print_dist("mean of 64-get groups (ns):", warm_g, "ns", 1);

		/* Names that do not exist, in existing directories (bloom path). */
		uint64_t nneg = ngets < 200000 ? ngets : 200000;
		{
			struct buf val = BUF_INIT;
			uint8_t k[KSTRIDE];
			for (uint64_t j = 0; j < nneg; j++) {
				uint64_t i = nkeys + splitmix(&rng) % (nkeys * 4);
				size_t kl = make_key(i, k);
				uint64_t a = clock_mono_ns();
				int r = lsm_get(db, k, kl, &val);
				uint64_t bb = clock_mono_ns();
				SANITY(r == -ENOENT, "absent key %" PRIu64 ": get returned %d", i, r);
				s[j] = clamp32(bb - a);
			}
			buf_free(&val);
		}
		neg_d = dist_of(s, nneg);
		print_dist("absent key, per call (ns):", neg_d, "ns", 1);

		/* Several threads at once (the same keys, split between them). */
		double st1_s = mt_gets(db, idx, ngets, 1);
		double stn_s = mt_gets(db, idx, ngets, (int)nthreads);
		mt1_rate = (double)ngets / st1_s;
		mtn_rate = (double)ngets / stn_s;
		printf("  throughput: 1 thread %.2f M gets/s, %" PRIu64 " threads %.2f M gets/s"
		       " (%.2fx; %ld CPUs online)\n", mt1_rate / 1e6, nthreads, mtn_rate / 1e6,
		       mtn_rate / mt1_rate, sysconf(_SC_NPROCESSORS_ONLN));

		if (nprof) {
			t0 = clock_mono_ns();
			uint64_t f = warm_get_loop(db, nprof, &rng);
			t1 = clock_mono_ns();
			SANITY(f == nprof, "profile loop: %" PRIu64 " of %" PRIu64 " found", f, nprof);
			printf("  profile loop: %" PRIu64 " untimed gets, %.0f ns/get\n", nprof,
			       (double)(t1 - t0) / (double)nprof);
		}

		/* Baseline: sorted array of the same keys + values, bsearch. */
		struct rec *arr = malloc(nkeys * sizeof *arr);   /* padded-slot order */
		uint8_t *vals = malloc(nkeys * VLEN);
		SANITY(arr && vals, "out of memory");
		for (uint64_t i = 0; i < nkeys; i++) {
			memcpy(arr[i].key, key_at(i), KSTRIDE - 4);
			arr[i].idx = (uint32_t)i;
			make_value(i, vals + i * VLEN);
		}
		qsort(arr, nkeys, sizeof *arr, rec_cmp);
		uint8_t out[VLEN], k[KSTRIDE];
		for (uint64_t j = 0; j < ngets; j++) {
			memcpy(k, key_at(idx[j]), KSTRIDE);
			uint64_t a = clock_mono_ns();
			const struct rec *r = bsearch_get(arr, nkeys, k, vals, out);
			uint64_t bb = clock_mono_ns();
			SANITY(r && r->idx == idx[j], "bsearch baseline lost key %u", idx[j]);
			s[j] = clamp32(bb - a);
		}
		bs_d = dist_of(s, ngets);
		ng = 0;
		uint8_t kg[GET_GROUP][KSTRIDE];
		for (uint64_t j = 0; j + GET_GROUP <= ngets; j += GET_GROUP) {
			for (int g = 0; g < GET_GROUP; g++)
				memcpy(kg[g], key_at(idx[j + g]), KSTRIDE);
			int miss = 0;
			uint64_t a = clock_mono_ns();
			for (int g = 0; g < GET_GROUP; g++)
				miss |= bsearch_get(arr, nkeys, kg[g], vals, out) == NULL;
			uint64_t bb = clock_mono_ns();
			SANITY(!miss, "bsearch baseline lost a key");
			s[ng++] = clamp32((bb - a + GET_GROUP / 2) / GET_GROUP);
		}
		bs_g = dist_of(s, ng);
		printf("baseline: bsearch in a sorted in-memory array of the same keys (+ value copy):\n");
		print_dist("per call (ns):", bs_d, "ns", 1);
		print_dist("mean of 64-get groups (ns):", bs_g, "ns", 1);
		if (nprof_cold) {
			sorted_idx = malloc(nkeys * sizeof *sorted_idx);
			SANITY(sorted_idx, "out of memory");
			for (uint64_t i = 0; i < nkeys; i++)
				sorted_idx[i] = arr[i].idx;
		}
		free(arr);
		free(vals);
		free(idx);
		free(s);
	}

	/* ---- scans ---- */
	double scan_s, dir_avg;
	struct dist dir_d, rs_d;
	{
		uint32_t *s = malloc((nscans > nprefix ? nscans : nprefix) * sizeof *s + 4);
		SANITY(s, "out of memory");
		uint64_t scan_bytes = 0;
		for (uint64_t r = 0; r < nscans; r++) {
			struct lsm_iter *it;
			uint8_t prev[KSTRIDE];
			size_t prevlen = 0;
			uint64_t n = 0, bytes = 0;
			t0 = clock_mono_ns();
			CHECK(lsm_iter_new(db, NULL, 0, NULL, 0, &it));
			for (; lsm_iter_valid(it); lsm_iter_next(it)) {
				size_t kl, vl;
				const uint8_t *kp = lsm_iter_key(it, &kl);
				lsm_iter_value(it, &vl);
				SANITY(kl < KSTRIDE && vl == VLEN, "scan: odd entry");
				if (n) {
					int c = memcmp(prev, kp, kl < prevlen ? kl : prevlen);
					SANITY(c < 0 || (c == 0 && prevlen < kl), "scan: keys out of order");
				}
				memcpy(prev, kp, kl);
				prevlen = kl;
				bytes += kl + vl;
				n++;
			}
			CHECK(lsm_iter_status(it));
			lsm_iter_free(it);
			t1 = clock_mono_ns();
			SANITY(n == nkeys, "full scan saw %" PRIu64 " keys, want %" PRIu64, n, nkeys);
			s[r] = clamp32((t1 - t0) / 1000);  /* us */
			scan_bytes = bytes;
		}
		struct dist sd = dist_of(s, nscans);
		scan_s = sd.p50 / 1e6;
		printf("full scan (%" PRIu64 " runs, median): %" PRIu64 " keys in %.3f s: %.2f M keys/s,"
		       " %.1f MiB/s (key+value bytes)\n", nscans, nkeys, scan_s,
		       (double)nkeys / scan_s / 1e6, (double)scan_bytes / 1048576 / scan_s);

		/* Directory listing: prefix 'D' + parent (~KEYS_PER_DIR entries). */
		uint64_t total = 0;
		for (uint64_t r = 0; r < nprefix; r++) {
			uint8_t pfx[9];
			uint64_t i = splitmix(&rng) % nkeys;
			memcpy(pfx, key_at(i), 9);
			struct lsm_iter *it;
			uint64_t n = 0;
			t0 = clock_mono_ns();
			CHECK(lsm_iter_new(db, pfx, 9, NULL, 0, &it));
			for (; lsm_iter_valid(it); lsm_iter_next(it)) {
				size_t vl;
				lsm_iter_value(it, &vl);
				n++;
			}
			lsm_iter_free(it);
			t1 = clock_mono_ns();
			SANITY(n > 0, "directory scan found nothing");
			total += n;
			s[r] = clamp32(t1 - t0);
		}
		dir_d = dist_of(s, nprefix);
		printf("prefix scan = whole directory ('D'+parent, avg %.0f keys), %" PRIu64 " runs:\n",
		       (double)total / (double)nprefix, nprefix);
		print_dist("per scan (us):", dir_d, "us", 1000);
		double dir_keys = (double)total / (double)nprefix;

		/* 1000 keys from a random start under prefix "D". */
		total = 0;
		for (uint64_t r = 0; r < nprefix; r++) {
			uint64_t i = splitmix(&rng) % nkeys;
			struct lsm_iter *it;
			uint64_t n = 0;
			t0 = clock_mono_ns();
			CHECK(lsm_iter_new(db, "D", 1, key_at(i), klens[i], &it));
			for (; n < 1000 && lsm_iter_valid(it); lsm_iter_next(it)) {
				size_t vl;
				lsm_iter_value(it, &vl);
				n++;
			}
			lsm_iter_free(it);
			t1 = clock_mono_ns();
			total += n;
			s[r] = clamp32(t1 - t0);
		}
		rs_d = dist_of(s, nprefix);
		printf("prefix scan 'D' from a random key, up to 1000 keys (avg %.0f), %" PRIu64 " runs:\n",
		       (double)total / (double)nprefix, nprefix);
		print_dist("per scan (us):", rs_d, "us", 1000);
		free(s);

		dir_avg = dir_keys;
	}
	print_tree(db, "before close");
	lsm_close(db);

	/* ---- cold gets: reopen read-only, fresh cache, tables not open ---- */
	struct dist cold_d = { 0 }, disk_d = { 0 };
	double open_us = 0, first_us = 0, dopen_us = 0, dfirst_us = 0;
	for (uint64_t r = 0; r < nprof_cold; r++) {
		db = tree_open(st, true);
		uint64_t want = (nkeys + 63) / 64;
		t0 = clock_mono_ns();
		uint64_t f = cold_get_loop(db, sorted_idx, 64);
		t1 = clock_mono_ns();
		struct lsm_stats ls;
		lsm_stats(db, &ls);
		SANITY(f == want, "cold profile loop: %" PRIu64 " of %" PRIu64 " found", f, want);
		printf("  cold profile loop %" PRIu64 ": %" PRIu64 " gets, %" PRIu64
		       " cache misses, %.1f us/get\n", r, f, ls.cache_misses,
		       (double)(t1 - t0) / 1000 / (double)f);
		lsm_close(db);
	}
	free(sorted_idx);
	for (int pass = 0; pass < 2; pass++) {
		uint64_t n = pass == 0 ? ncold : ndisk;
		if (n == 0)
			continue;
		if (pass == 1)
			nftw(dir_main, walk_drop, 16, FTW_PHYS);
		struct buf val = BUF_INIT;
		t0 = clock_mono_ns();
		db = tree_open(st, true);
		t1 = clock_mono_ns();
		uint64_t i = splitmix(&rng) % nkeys;
		int r = get_check(db, i, &val);
		uint64_t t2 = clock_mono_ns();
		SANITY(r == 0, "cold: key %" PRIu64 " not found (%d)", i, r);
		uint32_t *idx = malloc(n * sizeof *idx), *s = malloc(n * sizeof *s);
		SANITY(idx && s, "out of memory");
		for (uint64_t j = 0; j < n; j++)
			idx[j] = (uint32_t)(splitmix(&rng) % nkeys);
		/* Timed one by one; the cache-miss counter, read outside the
		 * timed region, tells which gets went to the store. */
		uint32_t *ms = malloc(n * sizeof *ms);
		size_t nmiss = 0;
		SANITY(ms, "out of memory");
		for (uint64_t j = 0; j < n; j++) {
			struct lsm_stats a, b;
			lsm_stats(db, &a);
			timed_gets(db, idx + j, 1, s + j);
			lsm_stats(db, &b);
			if (b.cache_misses != a.cache_misses)
				ms[nmiss++] = s[j];
		}
		struct dist md = dist_of(ms, nmiss);
		free(ms);
		for (uint64_t j = 0; j < n; j++)   /* untimed: values are right */
			SANITY(get_check(db, idx[j], &val) == 0, "cold: lost a key");
		struct dist d = dist_of(s, n);
		if (pass == 0) {
			cold_d = md;
			open_us = secs(t1 - t0) * 1e6;
			first_us = secs(t2 - t1) * 1e6;
			printf("cold get, reopened read-only (store files in the OS page cache):\n");
		} else {
			disk_d = md;
			dopen_us = secs(t1 - t0) * 1e6;
			dfirst_us = secs(t2 - t1) * 1e6;
			printf("cold get, reopened after dropping the store files from the page cache"
			       " (POSIX_FADV_DONTNEED):\n");
		}
		printf("  lsm_open %.0f us, first get (opens its table) %.0f us\n",
		       secs(t1 - t0) * 1e6, secs(t2 - t1) * 1e6);
		print_dist("per call, all (us):", d, "us", 1000);
		char what[64];
		snprintf(what, sizeof what, "block cache misses, %zu (us):", nmiss);
		print_dist(what, md, "us", 1000);
		print_tree(db, "cold");
		buf_free(&val);
		free(idx);
		free(s);
		lsm_close(db);
	}
	objstore_close(st);

	/* ---- summary ---- */
	double warm_vs = warm_d.p50 / bs_d.p50;
	char rat[64];
	{
		char nm[48];
		snprintf(nm, sizeof nm, "load, %" PRIu64 " keys/batch", batch);
		row(nm, NULL, NULL, "%.3f s, %.0f keys/s", load_s, (double)nkeys / load_s);
	}
	snprintf(rat, sizeof rat, "%.1fx file+fsync", flush_s / base_write_s);
	row("load+flush (durable)", "<= 10 s", rat, "%.3f s", flush_s);
	row("plain file write+fsync (baseline)", NULL, NULL, "%.3f s", base_write_s);
	if (nsingle)
		row("load, 1 key/batch (own tree)", NULL, NULL, "%.0f keys/s (%" PRIu64 " keys)",
		    (double)nsingle / single_s, nsingle);
	row("store bytes written (load+flush)", NULL, NULL, "%.1f MiB", (double)store_w / 1048576);
	row("compaction time (full)", NULL, NULL, "%.3f s", compact_s);
	snprintf(rat, sizeof rat, "%.1fx bsearch", warm_vs);
	row("warm get p50", "<= 1000 ns", rat, "%.0f ns", warm_d.p50);
	snprintf(rat, sizeof rat, "%.1fx bsearch", warm_d.p99 / bs_d.p99);
	row("warm get p99", NULL, rat, "%.0f ns", warm_d.p99);
	snprintf(rat, sizeof rat, "%.1fx bsearch", warm_g.p50 / bs_g.p50);
	row("warm get, 64-groups p50 mean", "<= 1000 ns", rat, "%.0f ns", warm_g.p50);
	row("absent key get p50 / p99", NULL, NULL, "%.0f / %.0f ns", neg_d.p50, neg_d.p99);
	snprintf(rat, sizeof rat, "%.2fx 1 thread", mtn_rate / mt1_rate);
	{
		char nm[48];
		snprintf(nm, sizeof nm, "warm get throughput, %" PRIu64 " threads", nthreads);
		row(nm, NULL, rat, "%.2f M/s", mtn_rate / 1e6);
	}
	row("bsearch baseline p50 / p99", NULL, NULL, "%.0f / %.0f ns", bs_d.p50, bs_d.p99);
	if (nsingle) {
		snprintf(rat, sizeof rat, "%.1fx bsearch", mem_d.p50 / bs_d.p50);
		row("memtable get p50 / p99", NULL, rat, "%.0f / %.0f ns", mem_d.p50, mem_d.p99);
	}
	if (ncold) {
		row("cold: open / first get", NULL, NULL, "%.0f / %.0f us", open_us, first_us);
		snprintf(rat, sizeof rat, "%.0fx warm", cold_d.p50 / warm_d.p50);
		row("cold get (cache miss) p50/p99, pgcache", NULL, rat, "%.1f / %.1f us", cold_d.p50 / 1000,
		    cold_d.p99 / 1000);
	}
	if (ndisk) {
		row("disk: open / first get", NULL, NULL, "%.0f / %.0f us", dopen_us, dfirst_us);
		row("cold get (cache miss) p50/p99, disk", NULL, NULL, "%.1f / %.1f us",
		    disk_d.p50 / 1000, disk_d.p99 / 1000);
	}
	row("full scan", NULL, NULL, "%.2f Mkeys/s %.0f MiB/s", (double)nkeys / scan_s / 1e6,
	    (double)raw / 1048576 / scan_s);
	row("dir listing scan p50 / p99", NULL, NULL, "%.1f / %.1f us (%.0f keys)",
	    dir_d.p50 / 1000, dir_d.p99 / 1000, dir_avg);
	row("prefix scan 1000 keys p50 / p99", NULL, NULL, "%.1f / %.1f us", rs_d.p50 / 1000,
	    rs_d.p99 / 1000);

	printf("\nsummary (%" PRIu64 " keys, %.1f MiB logical; times are wall clock on a shared machine)\n",
	       nkeys, (double)raw / 1048576);
	printf("  %-40s %-28s %-12s %s\n", "metric", "value", "goal", "ratio");
	for (int r = 0; r < nrows; r++)
		printf("  %-40s %-28s %-12s %s\n", rows[r].name, rows[r].value, rows[r].goal,
		       rows[r].ratio);
	printf("  total bench time %.1f s\n", secs(clock_mono_ns() - t_start));

	free(order);
	free(keys);
	free(klens);
	if (keep)
		printf("kept %s\n", base);
	else
		nftw(base, walk_rm, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}
