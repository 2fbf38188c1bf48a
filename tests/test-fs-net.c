/* test-fs-net.c -- the core calls stateless network frontends need (NFSv3,
 * 9P, NBD), each with its errno cases: filesystem id, write verifier,
 * handles and generations, stateless read/write with knfsd's owner
 * override, fs_commit, wcc data, create+open with the exclusive-create
 * verifier, change counters, fs_map and st_blocks, readdirplus and the
 * cookie verifier, metrics, and reading inode records of version 1. */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <cmocka.h>

#include "fsfix.h"
#include "util/buf.h"
#include "util/coding.h"

#define ROOT (&FSFIX_ROOT)
#define ALICE (&FSFIX_ALICE)
#define BOB (&FSFIX_BOB)

static struct fs_attr attr(struct fsfix *f, uint64_t ino)
{
	struct fs_attr a;
	assert_int_equal(fs_getattr(f->fs, ino, &a), 0);
	return a;
}

static void test_fsid_and_verifier(void **state)
{
	struct fsfix f;
	uint8_t v1[8], v2[8];
	fsfix_init(&f, "net-id");
	uint64_t id = fs_fsid(f.fs);
	assert_true(id != 0);
	fs_write_verifier(f.fs, v1);
	fsfix_reopen(&f);
	/* The id is the store's; the verifier is the instance's. */
	assert_true(fs_fsid(f.fs) == id);
	fs_write_verifier(f.fs, v2);
	assert_memory_not_equal(v1, v2, 8);

	/* A read-only instance sees the stored id. */
	struct fsfix ro;
	assert_int_equal(fs_sync(f.fs), 0);
	fsfix_open_reader(&f, &ro);
	assert_true(fs_fsid(ro.fs) == id);
	fsfix_close(&ro);
	fsfix_done(&f);
}

/* A store made before ids existed: a reader derives the same id every
 * time; the first writer stores one. */
static void test_fsid_of_old_store(void **state)
{
	struct fsfix f;
	fsfix_init(&f, "net-oldid");
	uint8_t k[1] = { 'U' };
	struct lsm_batch *b = lsm_batch_new();
	lsm_batch_delete(b, k, 1);
	assert_int_equal(lsm_write(f.df.db, b, NULL), 0);
	lsm_batch_free(b);
	fsfix_close(&f); /* clean shutdown: writes the lineage mark */

	uint64_t ids[2];
	for (int i = 0; i < 2; i++) {
		struct fsfix ro;
		fsfix_open_reader(&f, &ro);
		ids[i] = fs_fsid(ro.fs);
		fsfix_close(&ro);
	}
	assert_true(ids[0] != 0 && ids[0] == ids[1]);
	fsfix_open(&f);
	uint64_t stored = fs_fsid(f.fs);
	assert_true(stored != 0);
	fsfix_reopen(&f);
	assert_true(fs_fsid(f.fs) == stored);
	fsfix_done(&f);
}

static void test_handles_and_generations(void **state)
{
	struct fsfix f;
	struct fs_attr a;
	fsfix_init(&f, "net-handle");
	uint64_t ino = fsfix_mk(&f, ROOT, FS_ROOT_INO, "f", S_IFREG | 0644);
	struct fs_attr fa = attr(&f, ino);
	assert_int_equal(fs_getattr_handle(f.fs, ino, fa.generation, &a), 0);
	assert_int_equal(a.ino, ino);
	assert_int_equal(fs_getattr_handle(f.fs, ino, fa.generation + 1, &a), -ESTALE);
	assert_int_equal(fs_getattr_handle(f.fs, 999999, 1, &a), -ESTALE);
	assert_int_equal(fs_getattr_handle(f.fs, 0, 1, &a), -ESTALE);
	assert_int_equal(fs_getattr_handle(f.fs, FS_ROOT_INO, 1, &a), 0);

	/* Unlinked but open: still there for its holders; then gone. */
	assert_int_equal(fs_open_file(f.fs, ROOT, ino, O_RDONLY), 0);
	assert_int_equal(fs_unlink(f.fs, ROOT, FS_ROOT_INO, "f", NULL), 0);
	assert_int_equal(fs_getattr_handle(f.fs, ino, fa.generation, &a), 0);
	assert_int_equal(a.nlink, 0);
	size_t n;
	bool eof;
	char buf[4];
	assert_int_equal(fs_write_as(f.fs, ROOT, ino, 0, "ab", 2, &n, NULL), 0);
	assert_int_equal(fs_read_as(f.fs, ROOT, ino, 0, buf, 2, &n, &eof), 0);
	fs_release(f.fs, ino);
	assert_int_equal(fs_getattr_handle(f.fs, ino, fa.generation, &a), -ESTALE);
	assert_int_equal(fs_open_file(f.fs, ROOT, ino, O_RDONLY), -ENOENT);

	/* Another incarnation hands out another generation. */
	fsfix_reopen(&f);
	uint64_t ino2 = fsfix_mk(&f, ROOT, FS_ROOT_INO, "g", S_IFREG | 0644);
	assert_true(ino2 != ino);
	assert_true(attr(&f, ino2).generation > fa.generation);
	fsfix_done(&f);
}

static void test_stateless_io(void **state)
{
	struct fsfix f;
	char buf[16];
	size_t n;
	bool eof;
	fsfix_init(&f, "net-io");
	uint64_t d = fsfix_mk(&f, ROOT, FS_ROOT_INO, "d", S_IFDIR | 0777);
	/* Alice creates a file 0444 and may still fill it (owner override). */
	uint64_t ino = fsfix_mk(&f, ALICE, d, "ro", S_IFREG | 0444);
	assert_int_equal(fs_write_as(f.fs, ALICE, ino, 0, "hello", 5, &n, NULL), 0);
	assert_int_equal(n, 5);
	assert_int_equal(fs_read_as(f.fs, ALICE, ino, 0, buf, sizeof buf, &n, &eof), 0);
	assert_int_equal(n, 5);
	assert_true(eof);
	assert_memory_equal(buf, "hello", 5);
	assert_int_equal(fs_read_as(f.fs, ALICE, ino, 1, buf, 2, &n, &eof), 0);
	assert_int_equal(n, 2);
	assert_false(eof);
	/* Bob is "other": may read (r--), may not write. */
	assert_int_equal(fs_write_as(f.fs, BOB, ino, 0, "x", 1, &n, NULL), -EACCES);
	assert_int_equal(n, 0);
	assert_int_equal(fs_read_as(f.fs, BOB, ino, 0, buf, 1, &n, &eof), 0);
	struct fs_setattr sa = { .valid = FS_SET_MODE, .mode = 0600 };
	assert_int_equal(fs_setattr(f.fs, ALICE, ino, &sa, NULL, NULL), 0);
	assert_int_equal(fs_read_as(f.fs, BOB, ino, 0, buf, 1, &n, &eof), -EACCES);
	/* Execute permission lets a client read what it runs. */
	sa.mode = 0711;
	assert_int_equal(fs_setattr(f.fs, ALICE, ino, &sa, NULL, NULL), 0);
	assert_int_equal(fs_read_as(f.fs, BOB, ino, 0, buf, 5, &n, &eof), 0);
	assert_int_equal(n, 5);
	/* The same rule for a size change when the caller asks for it. */
	struct fs_setattr tr = { .valid = FS_SET_SIZE, .size = 5 };
	sa.mode = 0444;
	assert_int_equal(fs_setattr(f.fs, ALICE, ino, &sa, NULL, NULL), 0);
	assert_int_equal(fs_setattr(f.fs, ALICE, ino, &tr, NULL, NULL), -EACCES);
	tr.valid |= FS_SET_OWNER_OVERRIDE;
	assert_int_equal(fs_setattr(f.fs, ALICE, ino, &tr, NULL, NULL), 0);
	assert_int_equal(fs_setattr(f.fs, BOB, ino, &tr, NULL, NULL), -EACCES);
	/* Root writes anything. */
	assert_int_equal(fs_write_as(f.fs, ROOT, ino, 5, "!", 1, &n, NULL), 0);
	/* Wrong types and ranges. */
	assert_int_equal(fs_read_as(f.fs, ROOT, d, 0, buf, 1, &n, &eof), -EISDIR);
	assert_int_equal(fs_write_as(f.fs, ROOT, d, 0, "x", 1, &n, NULL), -EISDIR);
	uint64_t fifo = fsfix_mk(&f, ROOT, d, "p", S_IFIFO | 0666);
	assert_int_equal(fs_read_as(f.fs, ROOT, fifo, 0, buf, 1, &n, &eof), -EINVAL);
	assert_int_equal(fs_write_as(f.fs, ROOT, fifo, 0, "x", 1, &n, NULL), -EINVAL);
	assert_int_equal(fs_write_as(f.fs, ROOT, ino, INT64_MAX, "xy", 2, &n, NULL), -EFBIG);
	assert_int_equal(fs_read_as(f.fs, ROOT, 424242, 0, buf, 1, &n, &eof), -ENOENT);
	assert_int_equal(fs_write_as(f.fs, ROOT, 424242, 0, "x", 1, &n, NULL), -ENOENT);
	/* Past the end: nothing, and eof. */
	assert_int_equal(fs_read_as(f.fs, ROOT, ino, 100, buf, 4, &n, &eof), 0);
	assert_int_equal(n, 0);
	assert_true(eof);
	fsfix_done(&f);
}

static void test_commit_costs_nothing_when_durable(void **state)
{
	struct fsfix f;
	struct fs_stats st;
	size_t n;
	fsfix_init(&f, "net-commit");
	uint64_t a = fsfix_mk(&f, ROOT, FS_ROOT_INO, "a", S_IFREG | 0644);
	uint64_t b = fsfix_mk(&f, ROOT, FS_ROOT_INO, "b", S_IFREG | 0644);
	assert_int_equal(fs_sync(f.fs), 0);
	struct data_stats ds0, ds1;
	data_stats(f.df.d, &ds0);
	/* Nothing new on a: no barrier. */
	assert_int_equal(fs_commit(f.fs, a, 0, 0), 0);
	assert_int_equal(fs_fsync(f.fs, a, false), 0);
	data_stats(f.df.d, &ds1);
	assert_int_equal(ds1.barriers, ds0.barriers);
	fs_stats(f.fs, &st);
	assert_true(st.commits_skipped >= 2);
	/* A write to b needs one; then b is durable too. */
	assert_int_equal(fs_write(f.fs, ROOT, b, 0, "data", 4, &n), 0);
	assert_int_equal(fs_commit(f.fs, a, 0, 0), 0); /* a is still clean */
	data_stats(f.df.d, &ds1);
	assert_int_equal(ds1.barriers, ds0.barriers);
	assert_int_equal(fs_commit(f.fs, b, 0, 4), 0);
	data_stats(f.df.d, &ds1);
	assert_int_equal(ds1.barriers, ds0.barriers + 1);
	assert_int_equal(fs_commit(f.fs, b, 0, 4), 0);
	data_stats(f.df.d, &ds0);
	assert_int_equal(ds0.barriers, ds1.barriers);
	fsfix_done(&f);
}

static void test_wcc_data(void **state)
{
	struct fsfix f;
	struct fs_wcc_out w;
	struct fs_attr a;
	size_t n;
	fsfix_init(&f, "net-wcc");
	uint64_t d = fsfix_mk(&f, ROOT, FS_ROOT_INO, "d", S_IFDIR | 0755);
	struct fs_attr before = attr(&f, d);
	assert_int_equal(fs_mknod(f.fs, ROOT, d, "f", S_IFREG | 0644, 0, &a, &w), 0);
	assert_false(w.obj.pre_valid);
	assert_true(w.obj.post_valid);
	assert_int_equal(w.obj.post.ino, a.ino);
	assert_true(w.dir.pre_valid && w.dir.post_valid);
	assert_true(w.dir.pre_change == before.change);
	assert_true(w.dir.post.change > before.change);
	assert_true(w.dir.pre_mtime.tv_sec == before.mtime.tv_sec &&
		    w.dir.pre_mtime.tv_nsec == before.mtime.tv_nsec);
	assert_false(w.dir2.pre_valid || w.dir2.post_valid);
	uint64_t ino = a.ino;

	assert_int_equal(fs_write_ex(f.fs, ROOT, ino, 0, "abc", 3, 0, &n, &w), 0);
	assert_int_equal(w.obj.pre_size, 0);
	assert_int_equal(w.obj.post.size, 3);

	struct fs_setattr sa = { .valid = FS_SET_SIZE, .size = 1 };
	assert_int_equal(fs_setattr(f.fs, ROOT, ino, &sa, NULL, &w), 0);
	assert_int_equal(w.obj.pre_size, 3);
	assert_int_equal(w.obj.post.size, 1);
	/* NFS's guard: only if ctime is still what the client saw. */
	struct fs_setattr g = { .valid = FS_SET_MODE | FS_SET_GUARD_CTIME, .mode = 0640 };
	g.guard_ctime = w.obj.post.ctime;
	g.guard_ctime.tv_nsec = (g.guard_ctime.tv_nsec + 1) % 1000000000;
	assert_int_equal(fs_setattr(f.fs, ROOT, ino, &g, NULL, &w), -EAGAIN);
	assert_int_equal(attr(&f, ino).mode & 07777, 0644);
	g.guard_ctime = w.obj.post.ctime;
	assert_int_equal(fs_setattr(f.fs, ROOT, ino, &g, NULL, &w), 0);
	assert_int_equal(attr(&f, ino).mode & 07777, 0640);
	/* A failed operation: post is what was there before. */
	assert_int_equal(fs_setattr(f.fs, BOB, ino, &sa, NULL, &w), -EACCES);
	assert_true(w.obj.pre_valid && w.obj.post_valid);
	assert_int_equal(w.obj.post.size, 1);
	assert_true(w.obj.post.change == w.obj.pre_change);

	uint64_t d2 = fsfix_mk(&f, ROOT, FS_ROOT_INO, "d2", S_IFDIR | 0755);
	assert_int_equal(fs_rename(f.fs, ROOT, d, "f", d2, "g", 0, &w), 0);
	assert_true(w.dir.pre_valid && w.dir.post_valid && w.dir2.pre_valid && w.dir2.post_valid);
	assert_int_equal(w.dir.post.ino, d);
	assert_int_equal(w.dir2.post.ino, d2);
	assert_int_equal(w.obj.post.ino, ino);

	assert_int_equal(fs_link(f.fs, ROOT, ino, d, "h", &a, &w), 0);
	assert_int_equal(w.obj.post.nlink, 2);
	assert_int_equal(w.dir.post.ino, d);
	assert_int_equal(fs_unlink(f.fs, ROOT, d, "h", &w), 0);
	assert_int_equal(w.obj.post.nlink, 1);
	assert_int_equal(fs_unlink(f.fs, ROOT, d2, "g", &w), 0);
	assert_true(w.obj.pre_valid);
	assert_false(w.obj.post_valid); /* gone */
	assert_true(w.dir.post_valid);
	assert_int_equal(fs_unlink(f.fs, ROOT, d2, "g", &w), -ENOENT);
	assert_int_equal(fs_rmdir(f.fs, ROOT, FS_ROOT_INO, "d2", &w), 0);
	assert_int_equal(w.dir.post.ino, FS_ROOT_INO);

	assert_int_equal(fs_setxattr(f.fs, ROOT, d, "user.a", "1", 1, 0, &w), 0);
	assert_true(w.obj.post.change > w.obj.pre_change);
	assert_int_equal(fs_removexattr(f.fs, ROOT, d, "user.a", &w), 0);
	assert_true(w.obj.post.change > w.obj.pre_change);
	fsfix_done(&f);
}

static void test_create_exclusive_verifier(void **state)
{
	struct fsfix f;
	struct fs_attr a;
	struct fs_wcc_out w;
	bool created;
	const uint8_t v1[8] = { 1, 2, 3, 4, 5, 6, 7, 8 }, v2[8] = { 9, 9, 9, 9, 9, 9, 9, 9 };
	fsfix_init(&f, "net-create");
	int fl = O_RDWR | O_CREAT | O_EXCL | FS_CREATE_NOOPEN;
	assert_int_equal(fs_create(f.fs, ALICE, FS_ROOT_INO, "f", 0644, fl, v1, &a, &created, &w),
			 -EACCES); /* root's 0755 directory */
	assert_int_equal(fs_create(f.fs, ROOT, FS_ROOT_INO, "f", 0644, fl, v1, &a, &created, &w), 0);
	assert_true(created);
	assert_true(S_ISREG(a.mode));
	assert_true(w.dir.post_valid && w.obj.post_valid);
	uint64_t ino = a.ino;
	/* A retry (the reply was lost): the same verifier finds its file. */
	assert_int_equal(fs_create(f.fs, ROOT, FS_ROOT_INO, "f", 0644, fl, v1, &a, &created, NULL), 0);
	assert_false(created);
	assert_int_equal(a.ino, ino);
	assert_int_equal(fs_create(f.fs, ROOT, FS_ROOT_INO, "f", 0644, fl, v2, &a, &created, NULL),
			 -EEXIST);
	assert_int_equal(fs_create(f.fs, ROOT, FS_ROOT_INO, "f", 0644, fl, NULL, &a, &created, NULL),
			 -EEXIST);
	/* The client's setattr after the create replaces the verifier. */
	struct fs_setattr sa = { .valid = FS_SET_MTIME_NOW | FS_SET_ATIME_NOW };
	assert_int_equal(fs_setattr(f.fs, ROOT, ino, &sa, NULL, NULL), 0);
	assert_int_equal(fs_create(f.fs, ROOT, FS_ROOT_INO, "f", 0644, fl, v1, &a, &created, NULL),
			 -EEXIST);

	/* Plain create+open of an existing file, with O_TRUNC. */
	size_t n;
	assert_int_equal(fs_write(f.fs, ROOT, ino, 0, "data", 4, &n), 0);
	assert_int_equal(fs_create(f.fs, ROOT, FS_ROOT_INO, "f", 0644, O_WRONLY | O_TRUNC, NULL, &a,
				   &created, NULL), 0);
	assert_false(created);
	assert_int_equal(a.size, 0);
	/* That open is counted: the unlinked file lives until the release. */
	assert_int_equal(fs_unlink(f.fs, ROOT, FS_ROOT_INO, "f", NULL), 0);
	assert_int_equal(fs_getattr(f.fs, ino, &a), 0);
	fs_release(f.fs, ino);
	assert_int_equal(fs_getattr(f.fs, ino, &a), -ENOENT);

	/* A new file is opened whatever its mode says. */
	uint64_t d = fsfix_mk(&f, ROOT, FS_ROOT_INO, "pub", S_IFDIR | 0777);
	assert_int_equal(fs_create(f.fs, ALICE, d, "ro", 0444, O_RDWR, NULL, &a, &created, NULL), 0);
	assert_true(created);
	assert_int_equal(a.uid, FSFIX_ALICE.uid);
	fs_release(f.fs, a.ino);
	/* ... but opening it again is checked. */
	assert_int_equal(fs_create(f.fs, ALICE, d, "ro", 0444, O_RDWR, NULL, &a, &created, NULL),
			 -EACCES);
	assert_int_equal(fs_create(f.fs, ROOT, FS_ROOT_INO, "pub", 0644, O_RDONLY, NULL, &a, &created,
				   NULL), -EISDIR);
	assert_int_equal(fs_create(f.fs, ROOT, FS_ROOT_INO, "a/b", 0644, O_RDONLY, NULL, &a, &created,
				   NULL), -EINVAL);
	assert_int_equal(fs_create(f.fs, ROOT, FS_ROOT_INO, "", 0644, O_RDONLY, NULL, &a, &created,
				   NULL), -ENOENT);
	assert_int_equal(fs_create(f.fs, ROOT, 4242, "x", 0644, O_RDONLY, NULL, &a, &created, NULL),
			 -ENOENT);
	uint64_t reg = fsfix_mk(&f, ROOT, FS_ROOT_INO, "reg", S_IFREG | 0644);
	assert_int_equal(fs_create(f.fs, ROOT, reg, "x", 0644, O_RDONLY, NULL, &a, &created, NULL),
			 -ENOTDIR);
	fsfix_done(&f);
}

static void test_change_counter(void **state)
{
	struct fsfix f;
	size_t n;
	fsfix_init(&f, "net-change");
	uint64_t ino = fsfix_mk(&f, ROOT, FS_ROOT_INO, "f", S_IFREG | 0644);
	uint64_t c0 = attr(&f, ino).change;
	assert_int_equal(fs_write(f.fs, ROOT, ino, 0, "x", 1, &n), 0);
	uint64_t c1 = attr(&f, ino).change;
	assert_true(c1 > c0);
	/* Even a write that keeps the times (write-back cache) counts. */
	assert_int_equal(fs_write_ex(f.fs, ROOT, ino, 0, "y", 1, FS_WRITE_KEEP_TIMES, &n, NULL), 0);
	uint64_t c2 = attr(&f, ino).change;
	assert_true(c2 > c1);
	assert_int_equal(fs_setxattr(f.fs, ROOT, ino, "user.k", "v", 1, 0, NULL), 0);
	uint64_t c3 = attr(&f, ino).change;
	assert_true(c3 > c2);
	/* A failure changes nothing. */
	assert_int_equal(fs_setxattr(f.fs, ROOT, ino, "user.k", "v", 1, XATTR_CREATE, NULL), -EEXIST);
	assert_true(attr(&f, ino).change == c3);
	fsfix_reopen(&f);
	assert_true(attr(&f, ino).change == c3);
	assert_int_equal(fs_fallocate(f.fs, ROOT, ino, 0, 0, 100, NULL), 0);
	assert_true(attr(&f, ino).change > c3);
	fsfix_done(&f);
}

struct runs {
	int n;
	uint64_t off[16], len[16];
	bool data[16];
};

static int map_cb(void *arg, uint64_t off, uint64_t len, bool data)
{
	struct runs *r = arg;
	if (r->n == 16)
		return 7;
	r->off[r->n] = off;
	r->len[r->n] = len;
	r->data[r->n] = data;
	r->n++;
	return 0;
}

static void test_map_and_blocks(void **state)
{
	struct fsfix f;
	struct runs r;
	size_t n;
	const uint64_t E = DATA_EXTENT_BYTES;
	fsfix_init(&f, "net-map");
	uint64_t ino = fsfix_mk(&f, ROOT, FS_ROOT_INO, "sparse", S_IFREG | 0644);
	char buf[100];
	memset(buf, 'a', sizeof buf);
	assert_int_equal(fs_write(f.fs, ROOT, ino, 0, buf, sizeof buf, &n), 0);
	assert_int_equal(fs_write(f.fs, ROOT, ino, 10 * E + 5, buf, sizeof buf, &n), 0);
	struct fs_setattr sa = { .valid = FS_SET_SIZE, .size = 1ull << 30 };
	assert_int_equal(fs_setattr(f.fs, ROOT, ino, &sa, NULL, NULL), 0);
	struct fs_attr a = attr(&f, ino);
	assert_int_equal(a.blocks, 2 * E / 512); /* two extents stored */
	assert_true(a.blocks * 512 < a.size);

	memset(&r, 0, sizeof r);
	assert_int_equal(fs_map(f.fs, ino, 0, UINT64_MAX, map_cb, &r), 0);
	assert_int_equal(r.n, 4);
	assert_true(r.data[0] && r.off[0] == 0 && r.len[0] == E);
	assert_true(!r.data[1] && r.off[1] == E && r.len[1] == 9 * E);
	assert_true(r.data[2] && r.off[2] == 10 * E && r.len[2] == E);
	assert_true(!r.data[3] && r.off[3] == 11 * E && r.off[3] + r.len[3] == 1ull << 30);
	/* Clipped to the range asked. */
	memset(&r, 0, sizeof r);
	assert_int_equal(fs_map(f.fs, ino, E / 2, E, map_cb, &r), 0);
	assert_int_equal(r.n, 2);
	assert_true(r.data[0] && r.off[0] == E / 2 && r.len[0] == E / 2);
	assert_true(!r.data[1] && r.off[1] == E && r.len[1] == E / 2);
	/* Past the end: nothing. */
	memset(&r, 0, sizeof r);
	assert_int_equal(fs_map(f.fs, ino, 2ull << 30, 10, map_cb, &r), 0);
	assert_int_equal(r.n, 0);

	/* A punched hole gives blocks back; a rewrite takes them again. */
	assert_int_equal(fs_fallocate(f.fs, ROOT, ino, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				      10 * E, E, NULL), 0);
	assert_int_equal(attr(&f, ino).blocks, E / 512);
	assert_int_equal(fs_write(f.fs, ROOT, ino, 3 * E, buf, sizeof buf, &n), 0);
	assert_int_equal(attr(&f, ino).blocks, 2 * E / 512);
	fsfix_reopen(&f);
	assert_int_equal(attr(&f, ino).blocks, 2 * E / 512);
	sa.size = 0;
	assert_int_equal(fs_setattr(f.fs, ROOT, ino, &sa, NULL, NULL), 0);
	assert_int_equal(attr(&f, ino).blocks, 0);

	uint64_t d = fsfix_mk(&f, ROOT, FS_ROOT_INO, "d", S_IFDIR | 0755);
	uint64_t p = fsfix_mk(&f, ROOT, FS_ROOT_INO, "p", S_IFIFO | 0644);
	assert_int_equal(fs_map(f.fs, d, 0, 1, map_cb, &r), -EISDIR);
	assert_int_equal(fs_map(f.fs, p, 0, 1, map_cb, &r), -EINVAL);
	assert_int_equal(fs_map(f.fs, 98765, 0, 1, map_cb, &r), -ENOENT);
	/* The callback's stop value comes back. */
	for (int i = 0; i < 20; i++)
		assert_int_equal(fs_write(f.fs, ROOT, ino, (uint64_t)i * 2 * E, "z", 1, &n), 0);
	memset(&r, 0, sizeof r);
	assert_int_equal(fs_map(f.fs, ino, 0, UINT64_MAX, map_cb, &r), 7);
	fsfix_done(&f);
}

struct plus {
	int n;
	char names[8][16];
	struct fs_attr a[8];
	uint64_t cookie[8];
};

static int plus_cb(void *arg, const char *name, const struct fs_attr *a, uint64_t next)
{
	struct plus *p = arg;
	if (p->n == 8)
		return 1;
	snprintf(p->names[p->n], sizeof p->names[p->n], "%s", name);
	p->a[p->n] = *a;
	p->cookie[p->n] = next;
	p->n++;
	return 0;
}

static void test_readdirplus(void **state)
{
	struct fsfix f;
	struct plus p;
	size_t n;
	fsfix_init(&f, "net-rdp");
	uint64_t d = fsfix_mk(&f, ROOT, FS_ROOT_INO, "d", S_IFDIR | 0750);
	uint64_t x = fsfix_mk(&f, ROOT, d, "x", S_IFREG | 0644);
	fsfix_mk(&f, ROOT, d, "y", S_IFDIR | 0755);
	assert_int_equal(fs_write(f.fs, ROOT, x, 0, "12345", 5, &n), 0);
	memset(&p, 0, sizeof p);
	assert_int_equal(fs_readdirplus(f.fs, ROOT, d, 0, plus_cb, &p), 0);
	assert_int_equal(p.n, 4);
	assert_string_equal(p.names[0], ".");
	assert_int_equal(p.a[0].ino, d);
	assert_string_equal(p.names[1], "..");
	assert_int_equal(p.a[1].ino, FS_ROOT_INO);
	assert_string_equal(p.names[2], "x");
	assert_int_equal(p.a[2].size, 5);
	assert_string_equal(p.names[3], "y");
	assert_true(S_ISDIR(p.a[3].mode));
	/* Resume after x. */
	uint64_t after_x = p.cookie[2];
	memset(&p, 0, sizeof p);
	assert_int_equal(fs_readdirplus(f.fs, ROOT, d, after_x, plus_cb, &p), 0);
	assert_int_equal(p.n, 1);
	assert_string_equal(p.names[0], "y");

	uint64_t v1, v2;
	assert_int_equal(fs_readdir_verifier(f.fs, d, &v1), 0);
	fsfix_mk(&f, ROOT, d, "z", S_IFREG | 0644);
	fsfix_reopen(&f);
	assert_int_equal(fs_readdir_verifier(f.fs, d, &v2), 0);
	assert_true(v1 == v2); /* cookies never change meaning */
	assert_int_equal(fs_readdir_verifier(f.fs, x, &v2), -ENOTDIR);
	assert_int_equal(fs_readdir_verifier(f.fs, 5555, &v2), -ENOENT);
	assert_int_equal(fs_readdirplus(f.fs, BOB, d, 0, plus_cb, &p), -EACCES);
	assert_int_equal(fs_readdirplus(f.fs, ROOT, x, 0, plus_cb, &p), -ENOTDIR);
	fsfix_done(&f);
}

static void test_stats(void **state)
{
	struct fsfix f;
	struct fs_stats st;
	struct fs_attr a;
	fsfix_init(&f, "net-stats");
	fsfix_mk(&f, ROOT, FS_ROOT_INO, "a", S_IFREG | 0644);
	assert_int_equal(fs_mknod(f.fs, ROOT, FS_ROOT_INO, "a", S_IFREG | 0644, 0, &a, NULL),
			 -EEXIST);
	assert_int_equal(fs_lookup(f.fs, ROOT, FS_ROOT_INO, "a", &a), 0);
	assert_int_equal(fs_lookup(f.fs, ROOT, FS_ROOT_INO, "b", &a), -ENOENT);
	fs_stats(f.fs, &st);
	assert_true(st.op[FS_OP_MKNOD].count == 2);
	assert_true(st.op[FS_OP_MKNOD].errors == 1);
	assert_true(st.op[FS_OP_MKNOD].ns > 0);
	assert_true(st.op[FS_OP_LOOKUP].count == 2 && st.op[FS_OP_LOOKUP].errors == 1);
	assert_string_equal(fs_op_name(FS_OP_RENAME), "rename");
	assert_string_equal(fs_op_name(FS_OP_KINDS), "unknown");
	for (int i = 0; i < FS_OP_KINDS; i++)
		assert_string_not_equal(fs_op_name((enum fs_op_kind)i), "unknown");
	fsfix_done(&f);
}

/* A record written by the first format (no change counter, no extent
 * count) reads, reports its real blocks, and is upgraded by a change. */
static void test_version1_record(void **state)
{
	struct fsfix f;
	size_t n;
	fsfix_init(&f, "net-v1");
	uint64_t ino = fsfix_mk(&f, ROOT, FS_ROOT_INO, "old", S_IFREG | 0644);
	char big[3 * DATA_EXTENT_BYTES];
	memset(big, 'q', sizeof big);
	assert_int_equal(fs_write(f.fs, ROOT, ino, 0, big, sizeof big, &n), 0);
	struct fs_attr a = attr(&f, ino);
	struct buf v = BUF_INIT;
	buf_put_u8(&v, 1);
	buf_put_be32(&v, a.mode);
	buf_put_be32(&v, a.uid);
	buf_put_be32(&v, a.gid);
	buf_put_be32(&v, a.nlink);
	buf_put_be64(&v, a.size);
	buf_put_be64(&v, a.rdev);
	buf_put_be64(&v, a.generation);
	const struct timespec *t[3] = { &a.atime, &a.mtime, &a.ctime };
	for (int i = 0; i < 3; i++) {
		buf_put_be64(&v, (uint64_t)t[i]->tv_sec);
		buf_put_be32(&v, (uint32_t)t[i]->tv_nsec);
	}
	buf_put_be64(&v, 0);
	buf_put_be64(&v, 0);
	buf_put_bytes(&v, NULL, 0);
	uint8_t k[9];
	k[0] = 'I';
	be64_put(k + 1, ino);
	struct lsm_batch *b = lsm_batch_new();
	lsm_batch_put(b, k, 9, v.data, v.len);
	assert_int_equal(lsm_write(f.df.db, b, NULL), 0);
	lsm_batch_free(b);
	buf_free(&v);

	struct fs_attr old = attr(&f, ino);
	assert_int_equal(old.size, sizeof big);
	assert_int_equal(old.blocks, 3 * DATA_EXTENT_BYTES / 512);
	uint64_t ctime_ns = (uint64_t)a.ctime.tv_sec * 1000000000u + (uint64_t)a.ctime.tv_nsec;
	assert_true(old.change == ctime_ns);
	assert_int_equal(fs_write(f.fs, ROOT, ino, 5 * DATA_EXTENT_BYTES, "x", 1, &n), 0);
	struct fs_attr now = attr(&f, ino);
	assert_true(now.change > old.change);
	assert_int_equal(now.blocks, 4 * DATA_EXTENT_BYTES / 512);
	fsfix_done(&f);
}

/* Quotas and read-only instances refuse the new calls the same way. */
static void test_quota_and_read_only(void **state)
{
	struct fsfix f;
	struct fs_attr a;
	bool created;
	size_t n;
	char buf[8];
	fsfix_prepare(&f, "net-quota", NULL);
	f.fo.max_inodes = 2;
	f.fo.max_size = 100;
	fsfix_open(&f);
	assert_int_equal(fs_create(f.fs, ROOT, FS_ROOT_INO, "a", 0644, O_RDWR | FS_CREATE_NOOPEN,
				   NULL, &a, &created, NULL), 0);
	uint64_t ino = a.ino;
	assert_int_equal(fs_create(f.fs, ROOT, FS_ROOT_INO, "b", 0644, O_RDWR | FS_CREATE_NOOPEN,
				   NULL, &a, &created, NULL), -ENOSPC);
	assert_int_equal(fs_write_as(f.fs, ROOT, ino, 0, "0123456789", 10, &n, NULL), 0);
	assert_int_equal(fs_write_as(f.fs, ROOT, ino, 95, "0123456789", 10, &n, NULL), -ENOSPC);
	assert_int_equal(n, 0);
	struct fs_stats st;
	fs_stats(f.fs, &st);
	assert_true(st.op[FS_OP_CREATE].errors >= 1 && st.op[FS_OP_WRITE].errors >= 1);
	assert_int_equal(fs_sync(f.fs), 0);
	fsfix_close(&f);

	/* A read-only instance: reads and handles work, mutations are EROFS. */
	struct fsfix reader;
	fsfix_open_reader(&f, &reader);
	struct fs *ro = reader.fs;
	bool eof;
	assert_int_equal(fs_read_as(ro, ROOT, ino, 0, buf, sizeof buf, &n, &eof), 0);
	assert_int_equal(n, 8);
	assert_int_equal(fs_getattr(ro, ino, &a), 0);
	assert_int_equal(fs_getattr_handle(ro, ino, a.generation, &a), 0);
	assert_int_equal(fs_write_as(ro, ROOT, ino, 0, "x", 1, &n, NULL), -EROFS);
	assert_int_equal(fs_create(ro, ROOT, FS_ROOT_INO, "c", 0644, O_RDWR, NULL, &a, &created,
				   NULL), -EROFS);
	assert_int_equal(fs_create(ro, ROOT, FS_ROOT_INO, "a", 0644, O_RDONLY, NULL, &a, &created,
				   NULL), -EROFS);
	assert_int_equal(fs_commit(ro, ino, 0, 1), 0);
	assert_int_equal(fs_reclaim_step(ro), 0);
	assert_int_equal(fs_reclaim_wait(ro), 0);
	struct fs_wcc_out w;
	struct fs_setattr sa = { .valid = FS_SET_MODE, .mode = 0600 };
	assert_int_equal(fs_setattr(ro, ROOT, ino, &sa, NULL, &w), -EROFS);
	assert_false(w.obj.pre_valid || w.obj.post_valid);
	fsfix_close(&reader);
	datafix_done(&f.df);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fsid_and_verifier),
		cmocka_unit_test(test_fsid_of_old_store),
		cmocka_unit_test(test_handles_and_generations),
		cmocka_unit_test(test_stateless_io),
		cmocka_unit_test(test_commit_costs_nothing_when_durable),
		cmocka_unit_test(test_wcc_data),
		cmocka_unit_test(test_create_exclusive_verifier),
		cmocka_unit_test(test_change_counter),
		cmocka_unit_test(test_map_and_blocks),
		cmocka_unit_test(test_readdirplus),
		cmocka_unit_test(test_stats),
		cmocka_unit_test(test_version1_record),
		cmocka_unit_test(test_quota_and_read_only),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
