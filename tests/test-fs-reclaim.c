/* test-fs-reclaim.c -- big deletes in bounded chunks through the orphan
 * key: a 1 TiB sparse file and a dense 200 MiB one lose their last name
 * at once, their data goes chunk by chunk (the reclaimer paused and
 * stepped by hand, with a reopen between chunks standing for a crash),
 * and the counters that statfs reports are right at every step and after
 * every reopen.  Also: stale orphan keys, deletes of open files, rename
 * over a big file, and the background thread itself. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "fsfix.h"
#include "util/coding.h"

#define ROOT (&FSFIX_ROOT)
#define E ((uint64_t)DATA_EXTENT_BYTES)

struct usage {
	uint64_t used_blocks, inodes;
};

static struct usage usage(struct fsfix *f)
{
	struct fs_statfs s;
	assert_int_equal(fs_statfs(f->fs, &s), 0);
	struct usage u = { s.blocks - s.bfree, s.files - s.ffree };
	return u;
}

/* Stored extents ('E' keys) of ino, straight from the tree. */
static uint64_t extent_keys(struct fsfix *f, uint64_t ino)
{
	uint8_t prefix[9];
	struct lsm_iter *it;
	uint64_t n = 0;
	prefix[0] = 'E';
	be64_put(prefix + 1, ino);
	assert_int_equal(lsm_iter_new(f->df.db, prefix, sizeof prefix, NULL, 0, &it), 0);
	for (; lsm_iter_valid(it); lsm_iter_next(it))
		n++;
	assert_int_equal(lsm_iter_status(it), 0);
	lsm_iter_free(it);
	return n;
}

static uint64_t attr_blocks(struct fsfix *f, uint64_t ino)
{
	struct fs_attr a;
	assert_int_equal(fs_getattr(f->fs, ino, &a), 0);
	return a.blocks;
}

static bool orphan_key(struct fsfix *f, uint64_t ino)
{
	uint8_t k[9];
	k[0] = 'O';
	be64_put(k + 1, ino);
	int r = lsm_get(f->df.db, k, sizeof k, NULL);
	assert_true(r == 0 || r == -ENOENT);
	return r == 0;
}

static void test_sparse_terabyte_in_chunks(void **state)
{
	struct fsfix f;
	struct fs_attr a;
	size_t n;
	fsfix_prepare(&f, "reclaim-sparse", NULL);
	f.fo.reclaim_chunk_bytes = 4 * E;
	f.fo.reclaim_paused = true;
	fsfix_open(&f);
	struct usage base = usage(&f);
	uint64_t ino = fsfix_mk(&f, ROOT, FS_ROOT_INO, "tera", S_IFREG | 0644);
	for (uint64_t i = 0; i < 16; i++)
		assert_int_equal(fs_write(f.fs, ROOT, ino, i << 36, "data", 4, &n), 0);
	struct fs_setattr sa = { .valid = FS_SET_SIZE, .size = 1ull << 40 };
	assert_int_equal(fs_setattr(f.fs, ROOT, ino, &sa, NULL, NULL), 0);
	assert_int_equal(attr_blocks(&f, ino), 16 * E / 512);
	struct usage full = usage(&f);
	assert_int_equal(full.used_blocks - base.used_blocks, (1ull << 40) / 4096);

	assert_int_equal(fs_unlink(f.fs, ROOT, FS_ROOT_INO, "tera", NULL), 0);
	assert_int_equal(fs_lookup(f.fs, ROOT, FS_ROOT_INO, "tera", &a), -ENOENT);
	assert_true(orphan_key(&f, ino));
	assert_int_equal(fs_getattr_handle(f.fs, ino, 0, &a), -ESTALE);
	assert_int_equal(fs_open_file(f.fs, ROOT, ino, O_RDONLY), -ENOENT);
	/* Stateless I/O by an old handle must not bring data back. */
	char buf[4];
	bool eof;
	assert_int_equal(fs_write_as(f.fs, ROOT, ino, 0, "x", 1, &n, NULL), -ESTALE);
	assert_int_equal(fs_read_as(f.fs, ROOT, ino, 0, buf, 1, &n, &eof), -ESTALE);
	assert_int_equal(fs_write(f.fs, ROOT, ino, 0, "x", 1, &n), -ESTALE);
	sa.size = 1;
	assert_int_equal(fs_setattr(f.fs, ROOT, ino, &sa, NULL, NULL), -ESTALE);
	assert_int_equal(fs_setxattr(f.fs, ROOT, ino, "user.a", "1", 1, 0, NULL), -ESTALE);
	assert_int_equal(fs_fallocate(f.fs, ROOT, ino, 0, 0, 10, NULL), -ESTALE);
	/* Nothing reclaimed yet: its bytes and inode still count. */
	assert_int_equal(usage(&f).used_blocks, full.used_blocks);
	assert_int_equal(usage(&f).inodes, full.inodes);
	assert_int_equal(fs_reclaim_wait(f.fs), -EAGAIN);

	/* One chunk: 4 extents, the first 3 x 64 GiB + a bit of the range. */
	assert_int_equal(fs_reclaim_step(f.fs), 1);
	assert_int_equal(extent_keys(&f, ino), 12);
	struct usage u1 = usage(&f);
	assert_true(u1.used_blocks < full.used_blocks);
	assert_int_equal(u1.inodes, full.inodes);

	/* "Crash" between chunks: the next start resumes at the cursor. */
	fsfix_reopen(&f);
	assert_int_equal(usage(&f).used_blocks, u1.used_blocks);
	assert_true(orphan_key(&f, ino));
	assert_int_equal(fs_reclaim_step(f.fs), 1);
	assert_int_equal(extent_keys(&f, ino), 8);
	fsfix_reopen(&f);
	int r, steps = 0;
	while ((r = fs_reclaim_step(f.fs)) == 1)
		steps++;
	assert_int_equal(r, 0);
	assert_true(steps >= 2 && steps <= 3);
	assert_int_equal(extent_keys(&f, ino), 0);
	assert_false(orphan_key(&f, ino));
	assert_int_equal(fs_getattr(f.fs, ino, &a), -ENOENT);
	struct usage done = usage(&f);
	assert_int_equal(done.used_blocks, base.used_blocks);
	assert_int_equal(done.inodes, base.inodes);
	fsfix_reopen(&f);
	done = usage(&f);
	assert_int_equal(done.used_blocks, base.used_blocks);
	assert_int_equal(done.inodes, base.inodes);
	struct fs_stats st;
	fs_stats(f.fs, &st);
	assert_int_equal(st.reclaim_pending, 0);
	fsfix_done(&f);
}


static void open_paused(struct fsfix *f, const char *name, uint64_t chunk)
{
	fsfix_prepare(f, name, NULL);
	f->fo.reclaim_chunk_bytes = chunk;
	f->fo.reclaim_paused = true;
	fsfix_open(f);
}

static void write_dense(struct fsfix *f, uint64_t ino, uint64_t bytes, uint64_t seed)
{
	struct test_rng rng = { seed };
	size_t chunk = 1u << 20, n;
	uint8_t *buf = xmalloc(chunk);
	for (uint64_t off = 0; off < bytes; off += chunk) {
		test_rng_fill(&rng, buf, chunk);
		assert_int_equal(fs_write(f->fs, ROOT, ino, off, buf, chunk, &n), 0);
		if ((off / chunk) % 64 == 63)
			assert_int_equal(fs_sync(f->fs), 0); /* keep RAM bounded */
	}
	free(buf);
}

/* 200 MiB dense with the default chunk (64 MiB of extents): 4 chunks. */
static void test_dense_in_default_chunks(void **state)
{
	struct fsfix f;
	struct fs_attr a;
	open_paused(&f, "reclaim-dense", 0);
	uint64_t seed = test_seed("dense file contents");
	struct usage base = usage(&f);
	uint64_t ino = fsfix_mk(&f, ROOT, FS_ROOT_INO, "dense", S_IFREG | 0644);
	const uint64_t size = 200ull << 20;
	write_dense(&f, ino, size, seed);
	assert_int_equal(attr_blocks(&f, ino), size / 512);
	assert_int_equal(fs_unlink(f.fs, ROOT, FS_ROOT_INO, "dense", NULL), 0);
	uint64_t per_chunk = FS_RECLAIM_CHUNK_BYTES / E;
	uint64_t left = size / E;
	assert_int_equal(extent_keys(&f, ino), left);
	assert_int_equal(fs_reclaim_step(f.fs), 1);
	left -= per_chunk;
	assert_int_equal(extent_keys(&f, ino), left);
	assert_int_equal(attr_blocks(&f, ino), left * E / 512);
	fsfix_reopen(&f);
	assert_int_equal(fs_reclaim_step(f.fs), 1);
	left -= per_chunk;
	assert_int_equal(extent_keys(&f, ino), left);
	int r;
	while ((r = fs_reclaim_step(f.fs)) == 1)
		;
	assert_int_equal(r, 0);
	assert_int_equal(extent_keys(&f, ino), 0);
	assert_int_equal(fs_getattr(f.fs, ino, &a), -ENOENT);
	assert_int_equal(usage(&f).used_blocks, base.used_blocks);
	assert_int_equal(usage(&f).inodes, base.inodes);
	fsfix_reopen(&f);
	assert_int_equal(usage(&f).used_blocks, base.used_blocks);
	assert_int_equal(usage(&f).inodes, base.inodes);
	fsfix_done(&f);
}

/* Small files still go in one batch; big open ones wait for the last
 * release; a rename over a big file hands it to the reclaimer. */
static void test_open_small_and_rename_over(void **state)
{
	struct fsfix f;
	struct fs_attr a;
	size_t n;
	char buf[8 * DATA_EXTENT_BYTES];
	memset(buf, 'b', sizeof buf);
	open_paused(&f, "reclaim-open", 4 * E);
	struct usage base = usage(&f);
	uint64_t small = fsfix_mk(&f, ROOT, FS_ROOT_INO, "small", S_IFREG | 0644);
	assert_int_equal(fs_write(f.fs, ROOT, small, 0, buf, 2 * E, &n), 0);
	assert_int_equal(fs_unlink(f.fs, ROOT, FS_ROOT_INO, "small", NULL), 0);
	assert_int_equal(fs_getattr(f.fs, small, &a), -ENOENT);
	assert_false(orphan_key(&f, small));

	uint64_t big = fsfix_mk(&f, ROOT, FS_ROOT_INO, "big", S_IFREG | 0644);
	assert_int_equal(fs_write(f.fs, ROOT, big, 0, buf, sizeof buf, &n), 0);
	assert_int_equal(fs_open_file(f.fs, ROOT, big, O_RDONLY), 0);
	assert_int_equal(fs_unlink(f.fs, ROOT, FS_ROOT_INO, "big", NULL), 0);
	assert_int_equal(fs_reclaim_step(f.fs), 0); /* open: nothing queued */
	char got[16];
	assert_int_equal(fs_read(f.fs, big, 7 * E, got, sizeof got, &n), 0);
	assert_int_equal(n, sizeof got);
	assert_memory_equal(got, buf, sizeof got);
	fs_release(f.fs, big);
	assert_int_equal(fs_reclaim_step(f.fs), 1);
	assert_int_equal(fs_reclaim_step(f.fs), 1);
	assert_int_equal(fs_reclaim_step(f.fs), 0);
	assert_int_equal(fs_getattr(f.fs, big, &a), -ENOENT);

	uint64_t victim = fsfix_mk(&f, ROOT, FS_ROOT_INO, "victim", S_IFREG | 0644);
	assert_int_equal(fs_write(f.fs, ROOT, victim, 0, buf, sizeof buf, &n), 0);
	fsfix_mk(&f, ROOT, FS_ROOT_INO, "new", S_IFREG | 0644);
	assert_int_equal(fs_rename(f.fs, ROOT, FS_ROOT_INO, "new", FS_ROOT_INO, "victim", 0, NULL),
			 0);
	assert_true(orphan_key(&f, victim));
	fsfix_reopen(&f);
	while (fs_reclaim_step(f.fs) == 1)
		;
	assert_int_equal(fs_getattr(f.fs, victim, &a), -ENOENT);
	struct usage u = usage(&f);
	assert_int_equal(u.inodes, base.inodes + 1); /* "victim" (was "new") */
	assert_int_equal(u.used_blocks, base.used_blocks);
	fsfix_done(&f);
}

/* Orphan keys that name nothing to reclaim are dropped at start; keys of
 * inodes that still have a name are dropped too, the inode kept. */
static void test_stale_orphan_keys(void **state)
{
	struct fsfix f;
	open_paused(&f, "reclaim-stale", 4 * E);
	uint64_t live = fsfix_mk(&f, ROOT, FS_ROOT_INO, "live", S_IFREG | 0644);
	struct lsm_batch *b = lsm_batch_new();
	uint8_t k[9];
	k[0] = 'O';
	be64_put(k + 1, live);
	lsm_batch_put(b, k, 9, "", 0);
	be64_put(k + 1, 777777);
	lsm_batch_put(b, k, 9, "", 0);
	assert_int_equal(lsm_write(f.df.db, b, NULL), 0);
	lsm_batch_free(b);
	fsfix_reopen(&f);
	while (fs_reclaim_step(f.fs) == 1)
		;
	assert_false(orphan_key(&f, live));
	assert_false(orphan_key(&f, 777777));
	struct fs_attr a;
	assert_int_equal(fs_getattr(f.fs, live, &a), 0);
	assert_int_equal(a.nlink, 1);
	fsfix_done(&f);
}

/* The background thread does it all by itself. */
static void test_background_thread(void **state)
{
	struct fsfix f;
	size_t n;
	char buf[8 * DATA_EXTENT_BYTES];
	memset(buf, 'c', sizeof buf);
	fsfix_prepare(&f, "reclaim-thread", NULL);
	f.fo.reclaim_chunk_bytes = E;
	fsfix_open(&f);
	struct usage base = usage(&f);
	uint64_t ino[4];
	for (int i = 0; i < 4; i++) {
		char name[16];
		snprintf(name, sizeof name, "f%d", i);
		ino[i] = fsfix_mk(&f, ROOT, FS_ROOT_INO, name, S_IFREG | 0644);
		assert_int_equal(fs_write(f.fs, ROOT, ino[i], 0, buf, sizeof buf, &n), 0);
		assert_int_equal(fs_unlink(f.fs, ROOT, FS_ROOT_INO, name, NULL), 0);
	}
	assert_int_equal(fs_reclaim_step(f.fs), -EBUSY);
	assert_int_equal(fs_reclaim_wait(f.fs), 0);
	struct fs_attr a;
	for (int i = 0; i < 4; i++)
		assert_int_equal(fs_getattr(f.fs, ino[i], &a), -ENOENT);
	assert_int_equal(usage(&f).used_blocks, base.used_blocks);
	assert_int_equal(usage(&f).inodes, base.inodes);
	struct fs_stats st;
	fs_stats(f.fs, &st);
	assert_true(st.reclaim_chunks >= 4 * 8);
	fs_reclaim_pause(f.fs, true);
	fs_reclaim_pause(f.fs, false);
	fsfix_done(&f);
}

/* The child: a sparse terabyte unlinked, one chunk made durable, a second
 * chunk not, then it dies without any barrier or close. */
static int crash_child(const char *url)
{
	struct fsfix f;
	size_t n;
	fsfix_prepare(&f, url, NULL);
	f.fo.reclaim_chunk_bytes = 4 * E;
	f.fo.reclaim_paused = true;
	fsfix_open(&f);
	struct fs_attr a;
	if (fs_mknod(f.fs, ROOT, FS_ROOT_INO, "tera", S_IFREG | 0644, 0, &a, NULL))
		return 2;
	for (uint64_t i = 0; i < 16; i++)
		if (fs_write(f.fs, ROOT, a.ino, i << 36, "data", 4, &n))
			return 3;
	struct fs_setattr sa = { .valid = FS_SET_SIZE, .size = 1ull << 40 };
	if (fs_setattr(f.fs, ROOT, a.ino, &sa, NULL, NULL) || fs_sync(f.fs))
		return 4;
	if (fs_unlink(f.fs, ROOT, FS_ROOT_INO, "tera", NULL) || fs_sync(f.fs))
		return 5;
	if (fs_reclaim_step(f.fs) != 1 || fs_sync(f.fs))
		return 6;
	if (fs_reclaim_step(f.fs) != 1)
		return 7;
	_exit(0); /* a crash: the second chunk was never behind a barrier */
}

static void test_crash_between_chunks(void **state)
{
	char *dir = test_tmpdir("fs-reclaim-crash");
	char url[100];
	if ((size_t)snprintf(url, sizeof url, "file://%s/s", dir) >= sizeof url)
		fail_msg("temporary directory name too long: %s", dir);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(crash_child(url));
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);

	struct fsfix f;
	fsfix_prepare(&f, url, NULL);
	f.fo.reclaim_chunk_bytes = 4 * E;
	f.fo.reclaim_paused = true;
	fsfix_open(&f);
	/* The durable state: one chunk done, its cursor and counters with it. */
	uint64_t ino = 0;
	uint8_t prefix[1] = { 'O' };
	struct lsm_iter *it;
	assert_int_equal(lsm_iter_new(f.df.db, prefix, 1, NULL, 0, &it), 0);
	assert_true(lsm_iter_valid(it));
	size_t kl, vl;
	ino = be64_get(lsm_iter_key(it, &kl) + 1);
	const uint8_t *v = lsm_iter_value(it, &vl);
	assert_int_equal(vl, 8);
	uint64_t cursor = be64_get(v);
	lsm_iter_free(it);
	assert_int_equal(cursor, 3 * (1ull << 36) + E);
	assert_int_equal(extent_keys(&f, ino), 12);
	struct usage u = usage(&f);
	assert_int_equal(u.inodes, 2);
	assert_int_equal(u.used_blocks, ((1ull << 40) - cursor + 4095) / 4096);
	assert_int_equal(attr_blocks(&f, ino), 12 * E / 512);
	int r;
	while ((r = fs_reclaim_step(f.fs)) == 1)
		;
	assert_int_equal(r, 0);
	u = usage(&f);
	assert_int_equal(u.inodes, 1);
	assert_int_equal(u.used_blocks, 0);
	assert_int_equal(extent_keys(&f, ino), 0);
	fsfix_reopen(&f);
	u = usage(&f);
	assert_int_equal(u.inodes, 1);
	assert_int_equal(u.used_blocks, 0);
	fsfix_done(&f);
	test_rmtree(dir);
	free(dir);
}

static void fill_pattern(struct fsfix *f, uint64_t ino, uint64_t bytes, uint8_t seed)
{
	uint8_t *buf = xmalloc(bytes);
	size_t n;
	for (uint64_t i = 0; i < bytes; i++)
		buf[i] = (uint8_t)(i * 7 + seed) | 1;
	assert_int_equal(fs_write(f->fs, ROOT, ino, 0, buf, bytes, &n), 0);
	free(buf);
}

static void expect_zeros(struct fsfix *f, uint64_t ino, uint64_t off, size_t len)
{
	uint8_t *buf = xmalloc(len);
	size_t n;
	assert_int_equal(fs_read(f->fs, ino, off, buf, len, &n), 0);
	assert_int_equal(n, len);
	for (size_t i = 0; i < len; i++)
		if (buf[i])
			fail_msg("byte %llu reads %u: old data showed through a truncate",
				 (unsigned long long)(off + i), buf[i]);
	free(buf);
}

/* A big shrink of a file that keeps its name: the size drops at once,
 * the data past it goes chunk by chunk, and growing the file again first
 * finishes that work, so no old byte shows through. */
static void test_big_shrink_in_chunks(void **state)
{
	struct fsfix f;
	struct fs_attr a;
	size_t n;
	uint8_t got[64];
	open_paused(&f, "reclaim-shrink", 4 * E);
	struct usage base = usage(&f);
	uint64_t ino = fsfix_mk(&f, ROOT, FS_ROOT_INO, "f", S_IFREG | 0644);
	fill_pattern(&f, ino, 64 * E, 3);
	struct fs_setattr sa = { .valid = FS_SET_SIZE, .size = E + 100 };
	assert_int_equal(fs_setattr(f.fs, ROOT, ino, &sa, &a, NULL), 0);
	assert_int_equal(a.size, E + 100);
	assert_int_equal(extent_keys(&f, ino), 64); /* still there, out of reach */
	assert_true(orphan_key(&f, ino));
	assert_int_equal(usage(&f).used_blocks, base.used_blocks + (E + 100 + 4095) / 4096);
	assert_int_equal(fs_read(f.fs, ino, E + 90, got, sizeof got, &n), 0);
	assert_int_equal(n, 10);
	assert_int_equal(got[9], (uint8_t)((E + 99) * 7 + 3) | 1);
	assert_int_equal(fs_reclaim_step(f.fs), 1);
	assert_int_equal(extent_keys(&f, ino), 60);
	fsfix_reopen(&f);
	assert_true(orphan_key(&f, ino));
	while (fs_reclaim_step(f.fs) == 1)
		;
	assert_int_equal(extent_keys(&f, ino), 2);
	assert_false(orphan_key(&f, ino));
	assert_int_equal(fs_getattr(f.fs, ino, &a), 0);
	assert_int_equal(a.size, E + 100);
	assert_int_equal(a.blocks, 2 * E / 512);
	assert_int_equal(a.nlink, 1);

	/* Shrink to 0, then write far out at once: the write finishes the
	 * trim first, and the gap reads as zeros. */
	fill_pattern(&f, ino, 64 * E, 5);
	bool created;
	assert_int_equal(fs_create(f.fs, ROOT, FS_ROOT_INO, "f", 0644, O_WRONLY | O_TRUNC, NULL, &a,
				   &created, NULL), 0);
	fs_release(f.fs, ino);
	assert_int_equal(a.size, 0);
	assert_true(orphan_key(&f, ino));
	assert_int_equal(fs_write(f.fs, ROOT, ino, 40 * E, "x", 1, &n), 0);
	assert_false(orphan_key(&f, ino));
	assert_int_equal(extent_keys(&f, ino), 1);
	expect_zeros(&f, ino, 0, 40 * E);
	/* The same for a size change and for fallocate. */
	fill_pattern(&f, ino, 64 * E, 7);
	sa.size = 0;
	assert_int_equal(fs_setattr(f.fs, ROOT, ino, &sa, NULL, NULL), 0);
	assert_true(orphan_key(&f, ino));
	sa.size = 64 * E;
	assert_int_equal(fs_setattr(f.fs, ROOT, ino, &sa, NULL, NULL), 0);
	assert_false(orphan_key(&f, ino));
	expect_zeros(&f, ino, 0, 64 * E);
	fill_pattern(&f, ino, 64 * E, 9);
	sa.size = 10;
	assert_int_equal(fs_setattr(f.fs, ROOT, ino, &sa, NULL, NULL), 0);
	assert_int_equal(fs_fallocate(f.fs, ROOT, ino, 0, 0, 64 * E, NULL), 0);
	assert_false(orphan_key(&f, ino));
	expect_zeros(&f, ino, 10, 64 * E - 10);
	/* Unlinked while open and while its trim waits: growing the open
	 * file must not show the old data either. */
	fill_pattern(&f, ino, 64 * E, 13);
	assert_int_equal(fs_open_file(f.fs, ROOT, ino, O_RDWR), 0);
	sa.size = 0;
	assert_int_equal(fs_setattr(f.fs, ROOT, ino, &sa, NULL, NULL), 0);
	assert_int_equal(fs_unlink(f.fs, ROOT, FS_ROOT_INO, "f", NULL), 0);
	while (fs_reclaim_step(f.fs) == 1)
		;
	assert_int_equal(fs_write(f.fs, ROOT, ino, 30 * E + 7, "y", 1, &n), 0);
	expect_zeros(&f, ino, 0, 30 * E + 7);
	sa.size = 64 * E;
	assert_int_equal(fs_setattr(f.fs, ROOT, ino, &sa, NULL, NULL), 0);
	expect_zeros(&f, ino, 30 * E + 8, 34 * E - 8);
	fs_release(f.fs, ino);
	while (fs_reclaim_step(f.fs) == 1)
		;
	assert_int_equal(fs_getattr(f.fs, ino, &a), -ENOENT);
	assert_int_equal(extent_keys(&f, ino), 0);
	assert_int_equal(usage(&f).used_blocks, base.used_blocks);
	ino = fsfix_mk(&f, ROOT, FS_ROOT_INO, "f", S_IFREG | 0644);
	base = usage(&f);
	base.inodes -= 1;

	/* Unlinked while its trim waits: reclaimed as an orphan, counters right. */
	fill_pattern(&f, ino, 64 * E, 11);
	sa.size = 0;
	assert_int_equal(fs_setattr(f.fs, ROOT, ino, &sa, NULL, NULL), 0);
	assert_int_equal(fs_unlink(f.fs, ROOT, FS_ROOT_INO, "f", NULL), 0);
	while (fs_reclaim_step(f.fs) == 1)
		;
	assert_int_equal(fs_getattr(f.fs, ino, &a), -ENOENT);
	assert_int_equal(extent_keys(&f, ino), 0);
	assert_int_equal(usage(&f).used_blocks, base.used_blocks);
	assert_int_equal(usage(&f).inodes, base.inodes);
	fsfix_reopen(&f);
	assert_int_equal(usage(&f).used_blocks, base.used_blocks);
	assert_int_equal(usage(&f).inodes, base.inodes);
	fsfix_done(&f);
}

/* A reclaimer on a store whose reads can be made to fail: the lsm keeps
 * no block in its cache, so a chunk that reads extent keys from an SST
 * reaches the store. */
static objstore *open_faulty(struct fsfix *f, const char *name, bool paused)
{
	objstore *mem, *st;
	char url[96];
	struct objstore_fault_config none = { 0 };
	snprintf(url, sizeof url, "memory://%s-%d", name, (int)getpid());
	assert_int_equal(objstore_open(url, &mem), 0);
	assert_int_equal(objstore_fault_wrap(mem, &none, &st), 0);
	fsfix_prepare(f, url, st);
	f->df.lo.block_cache_bytes = 1;
	f->fo.reclaim_chunk_bytes = 4 * E;
	f->fo.reclaim_paused = paused;
	fsfix_open(f);
	return st;
}

static void store_reads_fail(objstore *st, bool fail)
{
	struct objstore_fault_config c = { 0 };
	if (fail) {
		c.ops = OBJSTORE_OP_GET;
		c.error_rate = 1.0;
	}
	objstore_fault_set(st, &c);
}

/* Fill 64 extents, push them into SSTs (a reopen), shrink to 0 and make
 * the first reclaim chunk fail on a store read. */
static void shrink_and_fail_a_chunk(struct fsfix *f, objstore *st, uint64_t ino, uint8_t seed)
{
	fill_pattern(f, ino, 64 * E, seed);
	assert_int_equal(fs_sync(f->fs), 0);
	fsfix_reopen(f);
	struct fs_setattr sa = { .valid = FS_SET_SIZE, .size = 0 };
	assert_int_equal(fs_setattr(f->fs, ROOT, ino, &sa, NULL, NULL), 0);
	assert_true(orphan_key(f, ino));
	store_reads_fail(st, true);
	int r = fs_reclaim_step(f->fs);
	uint64_t injected = objstore_fault_injected(st);
	store_reads_fail(st, false);
	assert_int_equal(r, -EIO);
	assert_true(injected > 0);
	assert_true(orphan_key(f, ino));
	assert_int_equal(extent_keys(f, ino), 64); /* nothing of it went */
}

/* A chunk that fails leaves the trim pending, not forgotten: growing the
 * file afterwards (by a size change or by a write far out) still finishes
 * the trim first, so the old bytes never show through, and the failed
 * work stays queued for a retry. */
static void test_failed_chunk_keeps_the_trim(void **state)
{
	struct fsfix f;
	struct fs_stats st;
	size_t n;
	objstore *fst = open_faulty(&f, "reclaim-fail-trim", true);
	struct usage base = usage(&f);
	uint64_t ino = fsfix_mk(&f, ROOT, FS_ROOT_INO, "f", S_IFREG | 0644);

	shrink_and_fail_a_chunk(&f, fst, ino, 21);
	fs_stats(f.fs, &st);
	assert_int_equal(st.reclaim_pending, 1); /* kept for a retry */
	assert_true(st.reclaim_failures >= 1);
	struct fs_setattr sa = { .valid = FS_SET_SIZE, .size = 64 * E };
	assert_int_equal(fs_setattr(f.fs, ROOT, ino, &sa, NULL, NULL), 0);
	expect_zeros(&f, ino, 0, 64 * E);
	assert_false(orphan_key(&f, ino));
	assert_int_equal(extent_keys(&f, ino), 0);
	assert_int_equal(usage(&f).used_blocks, base.used_blocks + 64 * E / 4096);
	assert_int_equal(fs_reclaim_step(f.fs), 0);

	shrink_and_fail_a_chunk(&f, fst, ino, 23);
	assert_int_equal(fs_write(f.fs, ROOT, ino, 40 * E + 3, "z", 1, &n), 0);
	assert_false(orphan_key(&f, ino));
	assert_int_equal(extent_keys(&f, ino), 1);
	expect_zeros(&f, ino, 0, 40 * E + 3);
	assert_int_equal(usage(&f).used_blocks, base.used_blocks + (40 * E + 4 + 4095) / 4096);

	/* Failed, then retried by a step: the trim ends, the size stays 0. */
	shrink_and_fail_a_chunk(&f, fst, ino, 25);
	int r;
	while ((r = fs_reclaim_step(f.fs)) == 1)
		;
	assert_int_equal(r, 0);
	assert_false(orphan_key(&f, ino));
	assert_int_equal(extent_keys(&f, ino), 0);
	fs_stats(f.fs, &st);
	assert_int_equal(st.reclaim_pending, 0);
	assert_int_equal(usage(&f).used_blocks, base.used_blocks);
	fsfix_reopen(&f);
	assert_int_equal(usage(&f).used_blocks, base.used_blocks);
	assert_int_equal(usage(&f).inodes, base.inodes + 1);
	fsfix_done(&f);
}

/* The background thread retries a failed chunk by itself (after a
 * backoff) instead of leaving the work for the next start. */
static void test_thread_retries_a_failed_chunk(void **state)
{
	struct fsfix f;
	struct fs_stats st;
	struct fs_attr a;
	objstore *fst = open_faulty(&f, "reclaim-fail-retry", true);
	struct usage base = usage(&f);
	uint64_t ino = fsfix_mk(&f, ROOT, FS_ROOT_INO, "big", S_IFREG | 0644);
	fill_pattern(&f, ino, 64 * E, 31);
	assert_int_equal(fs_sync(f.fs), 0);
	fsfix_reopen(&f);
	assert_int_equal(fs_unlink(f.fs, ROOT, FS_ROOT_INO, "big", NULL), 0);
	store_reads_fail(fst, true);
	fs_reclaim_pause(f.fs, false);
	for (int i = 0; i < 500; i++) {
		fs_stats(f.fs, &st);
		if (st.reclaim_failures > 0)
			break;
		usleep(10000);
	}
	store_reads_fail(fst, false);
	assert_true(st.reclaim_failures > 0);
	assert_int_equal(fs_reclaim_wait(f.fs), 0);
	assert_int_equal(fs_getattr(f.fs, ino, &a), -ENOENT);
	assert_false(orphan_key(&f, ino));
	assert_int_equal(extent_keys(&f, ino), 0);
	fs_stats(f.fs, &st);
	assert_int_equal(st.reclaim_pending, 0);
	assert_int_equal(usage(&f).used_blocks, base.used_blocks);
	assert_int_equal(usage(&f).inodes, base.inodes);
	fsfix_reopen(&f);
	assert_int_equal(usage(&f).used_blocks, base.used_blocks);
	assert_int_equal(usage(&f).inodes, base.inodes);
	fsfix_done(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sparse_terabyte_in_chunks),
		cmocka_unit_test(test_dense_in_default_chunks),
		cmocka_unit_test(test_open_small_and_rename_over),
		cmocka_unit_test(test_stale_orphan_keys),
		cmocka_unit_test(test_background_thread),
		cmocka_unit_test(test_crash_between_chunks),
		cmocka_unit_test(test_big_shrink_in_chunks),
		cmocka_unit_test(test_failed_chunk_keeps_the_trim),
		cmocka_unit_test(test_thread_retries_a_failed_chunk),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
