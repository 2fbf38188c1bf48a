/* test-data-secrecy.c -- nothing leaves the process unencrypted, and
 * damaged bytes are never returned as data.
 *
 *  - files holding a known marker ("BUCKETFS-PLAINTEXT-MARKER": 64 KiB of
 *    it repeated, which compresses to almost nothing; the marker embedded
 *    in random data at unaligned offsets, across extent boundaries; a
 *    short file) are written, made durable, and read back through a
 *    reopened data plane with a disk cache (cache_dir), so the disk tier
 *    is populated (the marker is also a key and a value in the caller's
 *    metadata batch of one commit).  Then EVERY object in the store (objstore_list_all over
 *    "" and objstore_get of each: segments, SSTs, manifests) and every
 *    file under the cache dir is scanned for the marker and for every
 *    16-byte window of the repeated marker stream: none may appear.  With
 *    lz4 and with zstd:3.
 *  - one byte flipped in a frame of a segment object in the store (length
 *    field, nonce, ciphertext, tag): reading that extent is -EIO,
 *    other extents still read correctly, and nothing else is returned.
 *  - one byte flipped in every disk-cache file: reads return the right
 *    bytes (the damaged copy is dropped and fetched again from the store),
 *    and every file left in the cache then equals the store's bytes.
 *  - the same with three readers at once (and their readahead), rounds
 *    of damage + reopen: no read fails, none returns wrong bytes.
 *  - a disk-cache file cut short (what a power loss can leave after a
 *    rename without fsync): reads must still return the right bytes.
 *
 * Knobs: TEST_SEED, DATA_SECRECY_ROUNDS (default 10). */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "crypt/aead.h"
#include "data/data.h"
#include "data/segment.h"
#include "lsm/lsm.h"
#include "store/objstore.h"
#include "datafix.h"
#include "testutil.h"
#include "util/coding.h"
#include "util/log.h"

#define EXT EXTENT_BYTES
#define MARKER "BUCKETFS-PLAINTEXT-MARKER"
#define MLEN (sizeof MARKER - 1)

/* The shared fixture plus this test's codec, 256 KiB segments and a cache
 * directory (used when opened with_cache). */
static void fs_setup(struct datafix *f, const char *codec)
{
	datafix_init(f, "test-data-secrecy", NULL);
	assert_int_equal(codec_parse(codec, &f->dopt.codec), 0);
	f->dopt.segment_bytes = 256 << 10;
	f->cache = test_tmpdir("data-secrecy");
}

static void fs_open(struct datafix *f, bool with_cache)
{
	f->dopt.cache_dir = with_cache ? f->cache : NULL;
	/* RAM tier below one part: every read goes to the disk tier or the
	 * store; no decoded-extent cache either. */
	f->dopt.cache_ram_bytes = with_cache ? 1 : 4 << 20;
	f->dopt.extent_cache_bytes = 16 << 10;
	datafix_open(f);
}

/* ---- the files ---- */

#define NFILES 4

struct files {
	uint8_t *data[NFILES];
	size_t size[NFILES];
};

static void make_files(struct files *fl, struct test_rng *r)
{
	/* 1: 64 KiB of the marker, repeated. */
	fl->size[0] = 64 << 10;
	fl->data[0] = xmalloc(fl->size[0]);
	for (size_t i = 0; i < fl->size[0]; i++)
		fl->data[0][i] = (uint8_t)MARKER[i % MLEN];
	/* 2: random bytes with markers at unaligned places, some across
	 * extent boundaries. */
	fl->size[1] = 300000;
	fl->data[1] = xmalloc(fl->size[1]);
	test_rng_fill(r, fl->data[1], fl->size[1]);
	for (int k = 0; k < 40; k++) {
		size_t at = test_rng_below(r, fl->size[1] - MLEN);
		if (k < 6)
			at = (size_t)(k + 1) * EXT - 1 - (size_t)k * 3; /* across a boundary */
		memcpy(fl->data[1] + at, MARKER, MLEN);
	}
	/* 3: text-like (compressible) with marker lines. */
	fl->size[2] = 100000;
	fl->data[2] = xmalloc(fl->size[2]);
	for (size_t i = 0; i < fl->size[2]; i++)
		fl->data[2][i] = (uint8_t)("lorem ipsum dolor sit amet\n"[i % 27]);
	for (size_t at = 777; at + MLEN < fl->size[2]; at += 4099)
		memcpy(fl->data[2] + at, MARKER, MLEN);
	/* 4: a short file, just the marker. */
	fl->size[3] = MLEN;
	fl->data[3] = xmemdup(MARKER, MLEN);
}

static void free_files(struct files *fl)
{
	for (int i = 0; i < NFILES; i++)
		free(fl->data[i]);
}

/* ---- scanning ---- */

/* Every 16-byte window of the repeated marker, plus the whole marker. */
static bool has_marker(const uint8_t *p, size_t n, char *which)
{
	char stream[MLEN + 16];
	for (size_t i = 0; i < sizeof stream; i++)
		stream[i] = MARKER[i % MLEN];
	if (memmem(p, n, MARKER, MLEN)) {
		snprintf(which, 64, "%s", MARKER);
		return true;
	}
	for (size_t s = 0; s < MLEN; s++)
		if (memmem(p, n, stream + s, 16)) {
			snprintf(which, 64, "%.16s", stream + s);
			return true;
		}
	return false;
}

struct scan {
	objstore *st;
	size_t objects, bytes;
	char found[256];
};

static int scan_object(void *arg, const struct objstore_entry *e)
{
	struct scan *s = arg;
	void *data;
	size_t len;
	char which[64];
	assert_int_equal(objstore_get(s->st, e->key, 0, OBJSTORE_GET_TO_END, &data, &len), 0);
	s->objects++;
	s->bytes += len;
	if (!s->found[0] && has_marker(data, len, which))
		snprintf(s->found, sizeof s->found, "object %s holds \"%s\"", e->key, which);
	free(data);
	return 0;
}

static void scan_dir(const char *dir, size_t *files, size_t *bytes, char *found, size_t fsz)
{
	DIR *dh = opendir(dir);
	struct dirent *de;
	assert_non_null(dh);
	while ((de = readdir(dh))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		char *path = xasprintf("%s/%s", dir, de->d_name);
		struct stat sb;
		assert_int_equal(lstat(path, &sb), 0);
		if (S_ISDIR(sb.st_mode)) {
			scan_dir(path, files, bytes, found, fsz);
		} else if (S_ISREG(sb.st_mode)) {
			uint8_t *data = xmalloc((size_t)sb.st_size + 1);
			int fd = open(path, O_RDONLY);
			assert_true(fd >= 0);
			assert_int_equal(read(fd, data, (size_t)sb.st_size), sb.st_size);
			close(fd);
			char which[64];
			(*files)++;
			*bytes += (size_t)sb.st_size;
			if (!found[0] && has_marker(data, (size_t)sb.st_size, which))
				snprintf(found, fsz, "cache file %s holds \"%s\"", path, which);
			free(data);
		}
		free(path);
	}
	closedir(dh);
}

static void run_secrecy(const char *codec)
{
	char what[64];
	snprintf(what, sizeof what, "data secrecy (%s)", codec);
	uint64_t seed = test_seed(what);
	struct test_rng r = { seed };
	struct datafix f;
	struct files fl;
	fs_setup(&f, codec);
	fs_open(&f, false);
	make_files(&fl, &r);
	for (int i = 0; i < NFILES; i++)
		datafix_write(&f, 1 + (uint64_t)i, 0, fl.data[i], fl.size[i]);
	/* Also through partial-extent rewrites (read, merge, re-seal), with
	 * the marker in the caller's metadata batch too (key and value). */
	struct data_txn *t = data_txn_new(f.d);
	struct lsm_batch *b = lsm_batch_new();
	assert_int_equal(data_write(t, 2, 5000, MARKER, MLEN), 0);
	lsm_batch_put(b, "X" MARKER, 1 + MLEN, MARKER MARKER, 2 * MLEN);
	assert_int_equal(data_txn_commit(t, b, NULL), 0);
	data_txn_free(t);
	lsm_batch_free(b);
	memcpy(fl.data[1] + 5000, MARKER, MLEN);
	assert_int_equal(data_barrier(f.d, 0), 0);
	datafix_close(&f);
	/* Read back through the disk tier, twice (fill, then hit). */
	for (int pass = 0; pass < 2; pass++) {
		fs_open(&f, true);
		for (int i = 0; i < NFILES; i++)
			datafix_expect(&f, 1 + (uint64_t)i, 0, fl.data[i], fl.size[i], "read back");
		struct data_stats s;
		data_stats(f.d, &s);
		if (pass == 1)
			assert_true(s.disk_hits > 0); /* the disk tier is really used */
		datafix_close(&f);
	}
	/* Reading from the store only, for completeness. */
	fs_open(&f, false);
	for (int i = 0; i < NFILES; i++)
		datafix_expect(&f, 1 + (uint64_t)i, 0, fl.data[i], fl.size[i], "read back");
	datafix_close(&f);

	struct scan s = { f.st, 0, 0, "" };
	assert_int_equal(objstore_list_all(f.st, "", NULL, scan_object, &s), 0);
	size_t cfiles = 0, cbytes = 0;
	char cfound[512] = "";
	scan_dir(f.cache, &cfiles, &cbytes, cfound, sizeof cfound);
	printf("# %s: scanned %zu objects (%zu bytes) and %zu cache files (%zu bytes)\n", codec,
	       s.objects, s.bytes, cfiles, cbytes);
	if (s.found[0])
		fail_msg("plaintext in the store: %s", s.found);
	if (cfound[0])
		fail_msg("plaintext in the cache dir: %s", cfound);
	assert_true(s.objects > 3);
	assert_true(cfiles > 0);
	/* The scan would have found it: a sanity check of the scanner. */
	char which[64];
	assert_true(has_marker(fl.data[0] + 7, 16, which));
	free_files(&fl);
	datafix_done(&f);
}

static void test_secrecy_lz4(void **state)
{
	run_secrecy("lz4");
}

static void test_secrecy_zstd(void **state)
{
	run_secrecy("zstd:3");
}

/* ---- damaged bytes ---- */

static int get_loc(lsm *db, uint64_t ino, uint64_t ext, struct frame_loc *loc)
{
	uint8_t key[17];
	struct buf v = BUF_INIT;
	key[0] = 'E';
	be64_put(key + 1, ino);
	be64_put(key + 9, ext);
	int r = lsm_get(db, key, sizeof key, &v);
	if (r == 0)
		r = frame_loc_decode(v.data, v.len, loc);
	buf_free(&v);
	return r;
}

static void flip_object_byte(objstore *st, const char *name, uint64_t at)
{
	void *data;
	size_t len;
	assert_int_equal(objstore_get(st, name, 0, OBJSTORE_GET_TO_END, &data, &len), 0);
	assert_true(at < len);
	((uint8_t *)data)[at] ^= 0x20;
	assert_int_equal(objstore_put(st, name, data, len), 0);
	free(data);
}

static void test_flipped_store_byte_is_ebadmsg(void **state)
{
	uint64_t seed = test_seed("data secrecy: flipped store byte");
	struct test_rng r = { seed };
	struct datafix f;
	fs_setup(&f, "lz4");
	fs_open(&f, false);
	enum { N = 8 * EXT };
	uint8_t *a = xmalloc(N), *got = xmalloc(N);
	test_rng_fill(&r, a, N);
	datafix_write(&f, 1, 0, a, N);
	assert_int_equal(data_barrier(f.d, 0), 0);
	/* Where each place to damage is: length field, nonce, ciphertext, tag. */
	const char *what[] = { "length field", "nonce", "ciphertext", "tag" };
	for (int k = 0; k < 4; k++) {
		uint64_t ext = 1 + 2 * (uint64_t)k;
		struct frame_loc loc;
		char name[SEGMENT_NAME_MAX];
		assert_int_equal(get_loc(f.db, 1, ext, &loc), 0);
		segment_name(loc.epoch, loc.counter, name);
		uint64_t at = loc.off + (k == 0 ? 2 : k == 1 ? 4 + 3 :
				      k == 2 ? 4 + 24 + test_rng_below(&r, loc.len - 4 - 24 - 16) :
				      loc.len - 1 - test_rng_below(&r, 16));
		flip_object_byte(f.st, name, at);
		/* Reopen: no RAM copy of anything. */
		datafix_close(&f);
		fs_open(&f, false);
		memset(got, 0xee, EXT);
		int rc = data_read(f.d, 1, ext * EXT, got, EXT);
		if (rc != -EIO)
			fail_msg("%s flipped: read = %d, want -EIO", what[k], rc);
		/* A read spanning it fails as a whole... */
		assert_int_not_equal(data_read(f.d, 1, 0, got, N), 0);
		/* ...and untouched extents still read. */
		assert_int_equal(data_read(f.d, 1, (ext - 1) * EXT, got, EXT), 0);
		assert_memory_equal(got, a + (ext - 1) * EXT, EXT);
		/* A partial write into the damaged extent cannot merge garbage. */
		struct data_txn *t = data_txn_new(f.d);
		rc = data_write(t, 1, ext * EXT + 10, "x", 1);
		if (rc == 0)
			rc = data_txn_commit(t, NULL, NULL);
		data_txn_free(t);
		if (rc != -EIO)
			fail_msg("%s flipped: partial write = %d, want -EIO", what[k], rc);
		/* Repair the object for the next round. */
		flip_object_byte(f.st, name, at);
		datafix_close(&f);
		fs_open(&f, false);
		assert_int_equal(data_read(f.d, 1, 0, got, N), 0);
		assert_memory_equal(got, a, N);
	}
	free(a);
	free(got);
	datafix_done(&f);
}

/* Apply fn to every regular file in the cache dir. */
static size_t for_cache_files(const char *dir, void (*fn)(const char *path, off_t size,
							    struct test_rng *r),
			      struct test_rng *r)
{
	DIR *dh = opendir(dir);
	struct dirent *de;
	size_t n = 0;
	assert_non_null(dh);
	while ((de = readdir(dh))) {
		if (de->d_name[0] == '.')
			continue;
		char *path = xasprintf("%s/%s", dir, de->d_name);
		struct stat sb;
		if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size > 0) {
			fn(path, sb.st_size, r);
			n++;
		}
		free(path);
	}
	closedir(dh);
	return n;
}

static void flip_file_byte(const char *path, off_t size, struct test_rng *r)
{
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	off_t at = (off_t)test_rng_below(r, (uint64_t)size);
	uint8_t b;
	assert_int_equal(pread(fd, &b, 1, at), 1);
	b ^= 0x01;
	assert_int_equal(pwrite(fd, &b, 1, at), 1);
	close(fd);
}

static void cut_file(const char *path, off_t size, struct test_rng *r)
{
	assert_int_equal(truncate(path, size / 2), 0);
}

struct cache_check {
	objstore *st;
	size_t good, bad;
};

static void check_cache_files(const char *dir, struct cache_check *cc)
{
	DIR *dh = opendir(dir);
	struct dirent *de;
	assert_non_null(dh);
	while ((de = readdir(dh))) {
		unsigned long long e, c, i;
		int n = 0;
		if (sscanf(de->d_name, "%llu-%llu-%llu%n", &e, &c, &i, &n) != 3 || de->d_name[n])
			continue;
		char *path = xasprintf("%s/%s", dir, de->d_name);
		struct stat sb;
		assert_int_equal(stat(path, &sb), 0);
		uint8_t *data = xmalloc((size_t)sb.st_size + 1);
		int fd = open(path, O_RDONLY);
		assert_true(fd >= 0);
		assert_int_equal(read(fd, data, (size_t)sb.st_size), sb.st_size);
		close(fd);
		char name[SEGMENT_NAME_MAX];
		void *obj;
		size_t len;
		segment_name(e, c, name);
		int r = objstore_get(cc->st, name, i << 20, (uint64_t)sb.st_size, &obj, &len);
		if (r == 0 && len == (size_t)sb.st_size && memcmp(obj, data, len) == 0)
			cc->good++;
		else
			cc->bad++;
		if (r == 0)
			free(obj);
		free(data);
		free(path);
	}
	closedir(dh);
}

static void run_cache_damage(void (*damage)(const char *, off_t, struct test_rng *),
			     const char *how)
{
	char what[96];
	snprintf(what, sizeof what, "data secrecy: %s cache files", how);
	uint64_t seed = test_seed(what);
	struct test_rng r = { seed };
	struct datafix f;
	fs_setup(&f, "lz4");
	fs_open(&f, false);
	enum { N = 3 << 20 };
	uint8_t *a = xmalloc(N);
	test_rng_fill(&r, a, N);
	datafix_write(&f, 1, 0, a, N);
	assert_int_equal(data_barrier(f.d, 0), 0);
	datafix_close(&f);
	fs_open(&f, true);
	datafix_expect(&f, 1, 0, a, N, "fill the cache");
	datafix_close(&f);
	size_t n = for_cache_files(f.cache, damage, &r);
	assert_true(n >= 3);
	fs_open(&f, true);
	datafix_expect(&f, 1, 0, a, N, how);
	datafix_close(&f);
	/* What is left in the cache is good: every file equals the store's
	 * bytes of its part. */
	struct cache_check cc = { f.st, 0, 0 };
	check_cache_files(f.cache, &cc);
	printf("# %zu cache files %s; afterwards %zu good cache files, %zu bad\n", n, how,
	       cc.good, cc.bad);
	assert_int_equal(cc.bad, 0);
	/* The cache now holds good copies. */
	fs_open(&f, true);
	datafix_expect(&f, 1, 0, a, N, "after repair");
	datafix_close(&f);
	free(a);
	datafix_done(&f);
}

static void test_flipped_cache_byte_refetches(void **state)
{
	run_cache_damage(flip_file_byte, "flipped a byte in");
}

static void test_truncated_cache_file_refetches(void **state)
{
	run_cache_damage(cut_file, "cut short");
}


/* ---- damaged cache copies while several readers run ---- */

struct creader {
	struct datafix *f;
	const uint8_t *want;
	size_t n;
	int rc;
	bool wrong;
};

static void *creader_main(void *arg)
{
	struct creader *c = arg;
	uint8_t *got = xmalloc(c->n);
	for (int k = 0; k < 3 && !c->rc && !c->wrong; k++) {
		c->rc = data_read(c->f->d, 1, 0, got, c->n);
		if (!c->rc && memcmp(got, c->want, c->n) != 0)
			c->wrong = true;
	}
	free(got);
	return NULL;
}

/* Several readers (and their readahead) over damaged cache copies: the
 * refetch after a damaged copy must not read the damaged bytes again
 * (another reader or the readahead may hold or be loading that part). */
static void test_damaged_cache_concurrent_readers(void **state)
{
	uint64_t seed = test_seed("data secrecy: damaged cache, concurrent readers");
	struct test_rng r = { seed };
	struct datafix f;
	fs_setup(&f, "lz4");
	fs_open(&f, false);
	enum { N = 4 << 20, NT = 3 };
	uint8_t *a = xmalloc(N);
	test_rng_fill(&r, a, N);
	datafix_write(&f, 1, 0, a, N);
	assert_int_equal(data_barrier(f.d, 0), 0);
	datafix_close(&f);
	long rounds = test_env_long("DATA_SECRECY_ROUNDS", 10);
	unsigned failed = 0, wrong = 0;
	for (long round = 0; round < rounds; round++) {
		fs_open(&f, true);
		datafix_expect(&f, 1, 0, a, N, "fill the cache");
		datafix_close(&f);
		for_cache_files(f.cache, flip_file_byte, &r);
		fs_open(&f, true);
		pthread_t th[NT];
		struct creader c[NT];
		for (int i = 0; i < NT; i++) {
			c[i] = (struct creader){ &f, a, N, 0, false };
			assert_int_equal(pthread_create(&th[i], NULL, creader_main, &c[i]), 0);
		}
		for (int i = 0; i < NT; i++) {
			pthread_join(th[i], NULL);
			failed += c[i].rc != 0;
			wrong += c[i].wrong;
		}
		datafix_close(&f);
	}
	printf("# %ld rounds x %d readers: %u reads failed, %u returned wrong bytes\n", rounds, NT,
	       failed, wrong);
	assert_int_equal(wrong, 0);
	assert_int_equal(failed, 0);
	free(a);
	datafix_done(&f);
}

int main(void)
{
	crypt_init();
	if (!getenv("BUCKETFS_LOG"))
		log_set_level(LOG_ERROR);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_secrecy_lz4),
		cmocka_unit_test(test_secrecy_zstd),
		cmocka_unit_test(test_flipped_store_byte_is_ebadmsg),
		cmocka_unit_test(test_flipped_cache_byte_refetches),
		cmocka_unit_test(test_damaged_cache_concurrent_readers),
		cmocka_unit_test(test_truncated_cache_file_refetches),
	};
	size_t n = sizeof tests / sizeof tests[0];
	return _cmocka_run_group_tests("tests", tests, n, NULL, NULL);
}
