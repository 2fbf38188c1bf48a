/* test-fs.c -- the POSIX core through its API, one rule per test:
 * names and errno values, link counts, timestamps, permissions (owner,
 * group, other, supplementary groups, root, sticky, setgid), rename
 * variants, unlinked-but-open files, xattrs, readdir cookies, quota,
 * read-only mode, and persistence across reopen. */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <cmocka.h>

#include "crypt/aead.h"
#include "fs/fs.h"
#include "fsfix.h"
#include "testutil.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#define RENAME_EXCHANGE (1 << 1)
#endif

#define ROOT (&FSFIX_ROOT)
#define ALICE (&FSFIX_ALICE)
#define BOB (&FSFIX_BOB)

static struct fs_attr attr(struct fsfix *t, uint64_t ino)
{
	struct fs_attr a;
	assert_int_equal(fs_getattr(t->fs, ino, &a), 0);
	return a;
}

static int ts_after(struct timespec a, struct timespec b)
{
	return a.tv_sec > b.tv_sec || (a.tv_sec == b.tv_sec && a.tv_nsec > b.tv_nsec);
}

static void test_create_lookup_errnos(void **state)
{
	struct fsfix t;
	struct fs_attr a;
	fsfix_init(&t, "test-fs");
	struct fs_attr root = attr(&t, FS_ROOT_INO);
	assert_true(S_ISDIR(root.mode));
	assert_int_equal(root.nlink, 2);
	uint64_t f = fsfix_mk(&t, ROOT, FS_ROOT_INO, "f", S_IFREG | 0644);
	assert_int_equal(fs_mknod(t.fs, ROOT, FS_ROOT_INO, "f", S_IFREG | 0644, 0, &a, NULL), -EEXIST);
	assert_int_equal(fs_lookup(t.fs, ROOT, FS_ROOT_INO, "f", &a), 0);
	assert_int_equal(a.ino, f);
	assert_int_equal(fs_lookup(t.fs, ROOT, FS_ROOT_INO, "nope", &a), -ENOENT);
	assert_int_equal(fs_lookup(t.fs, ROOT, f, "x", &a), -ENOTDIR);
	char name[300];
	memset(name, 'n', 255);
	name[255] = 0;
	assert_int_equal(fs_mknod(t.fs, ROOT, FS_ROOT_INO, name, S_IFREG | 0644, 0, &a, NULL), 0);
	name[255] = 'n';
	name[256] = 0;
	assert_int_equal(fs_mknod(t.fs, ROOT, FS_ROOT_INO, name, S_IFREG | 0644, 0, &a, NULL),
			 -ENAMETOOLONG);
	assert_int_equal(fs_lookup(t.fs, ROOT, FS_ROOT_INO, name, &a), -ENAMETOOLONG);
	/* Inode numbers only grow. */
	uint64_t g = fsfix_mk(&t, ROOT, FS_ROOT_INO, "g", S_IFREG | 0644);
	assert_true(g > f);
	assert_int_equal(fs_unlink(t.fs, ROOT, FS_ROOT_INO, "g", NULL), 0);
	assert_true(fsfix_mk(&t, ROOT, FS_ROOT_INO, "g", S_IFREG | 0644) > g);
	fsfix_done(&t);
}

static void test_dir_nlink_and_rmdir(void **state)
{
	struct fsfix t;
	fsfix_init(&t, "test-fs");
	uint64_t d = fsfix_mk(&t, ROOT, FS_ROOT_INO, "d", S_IFDIR | 0755);
	assert_int_equal(attr(&t, FS_ROOT_INO).nlink, 3);
	fsfix_mk(&t, ROOT, d, "sub", S_IFDIR | 0755);
	fsfix_mk(&t, ROOT, d, "file", S_IFREG | 0644);
	assert_int_equal(attr(&t, d).nlink, 3);
	assert_int_equal(fs_rmdir(t.fs, ROOT, FS_ROOT_INO, "d", NULL), -ENOTEMPTY);
	assert_int_equal(fs_rmdir(t.fs, ROOT, d, "file", NULL), -ENOTDIR);
	assert_int_equal(fs_unlink(t.fs, ROOT, d, "sub", NULL), -EISDIR);
	assert_int_equal(fs_rmdir(t.fs, ROOT, d, ".", NULL), -EINVAL);
	assert_int_equal(fs_rmdir(t.fs, ROOT, d, "sub", NULL), 0);
	assert_int_equal(attr(&t, d).nlink, 2);
	assert_int_equal(fs_unlink(t.fs, ROOT, d, "file", NULL), 0);
	assert_int_equal(fs_rmdir(t.fs, ROOT, FS_ROOT_INO, "d", NULL), 0);
	assert_int_equal(attr(&t, FS_ROOT_INO).nlink, 2);
	struct fs_attr a;
	assert_int_equal(fs_getattr(t.fs, d, &a), -ENOENT);
	fsfix_done(&t);
}

static void test_timestamps(void **state)
{
	struct fsfix t;
	fsfix_init(&t, "test-fs");
	struct fs_attr before = attr(&t, FS_ROOT_INO);
	usleep(2000);
	uint64_t f = fsfix_mk(&t, ROOT, FS_ROOT_INO, "f", S_IFREG | 0644);
	struct fs_attr after = attr(&t, FS_ROOT_INO);
	assert_true(ts_after(after.mtime, before.mtime));
	assert_true(ts_after(after.ctime, before.ctime));
	/* A failed call changes nothing. */
	struct fs_attr a;
	usleep(2000);
	assert_int_equal(fs_mknod(t.fs, ROOT, FS_ROOT_INO, "f", S_IFREG | 0644, 0, &a, NULL), -EEXIST);
	struct fs_attr same = attr(&t, FS_ROOT_INO);
	assert_memory_equal(&same.mtime, &after.mtime, sizeof same.mtime);
	/* chmod: ctime only; write: mtime and ctime. */
	struct fs_attr fa = attr(&t, f);
	usleep(2000);
	struct fs_setattr sa = { .valid = FS_SET_MODE, .mode = 0600 };
	assert_int_equal(fs_setattr(t.fs, ROOT, f, &sa, NULL, NULL), 0);
	struct fs_attr fb = attr(&t, f);
	assert_true(ts_after(fb.ctime, fa.ctime));
	assert_memory_equal(&fb.mtime, &fa.mtime, sizeof fa.mtime);
	size_t n;
	usleep(2000);
	assert_int_equal(fs_write(t.fs, ROOT, f, 0, "x", 1, &n), 0);
	struct fs_attr fc = attr(&t, f);
	assert_true(ts_after(fc.mtime, fb.mtime));
	/* Explicit times with nanoseconds are kept exactly. */
	sa.valid = FS_SET_ATIME | FS_SET_MTIME;
	sa.atime.tv_sec = 1000;
	sa.atime.tv_nsec = 123456789;
	sa.mtime.tv_sec = 2000;
	sa.mtime.tv_nsec = 987654321;
	assert_int_equal(fs_setattr(t.fs, ROOT, f, &sa, NULL, NULL), 0);
	fc = attr(&t, f);
	assert_int_equal(fc.atime.tv_nsec, 123456789);
	assert_int_equal(fc.mtime.tv_sec, 2000);
	fsfix_done(&t);
}

static void test_permissions(void **state)
{
	struct fsfix t;
	struct fs_attr a;
	fsfix_init(&t, "test-fs");
	uint64_t d = fsfix_mk(&t, ROOT, FS_ROOT_INO, "home", S_IFDIR | 0755);
	struct fs_setattr own = { .valid = FS_SET_UID | FS_SET_GID, .uid = 1001, .gid = 1001 };
	assert_int_equal(fs_setattr(t.fs, ROOT, d, &own, NULL, NULL), 0);
	uint64_t f = fsfix_mk(&t, ALICE, d, "secret", S_IFREG | 0600);
	assert_int_equal(fs_access(t.fs, ALICE, f, R_OK | W_OK), 0);
	assert_int_equal(fs_access(t.fs, BOB, f, R_OK), -EACCES);
	assert_int_equal(fs_access(t.fs, ROOT, f, R_OK | W_OK), 0);
	assert_int_equal(fs_access(t.fs, ROOT, f, X_OK), -EACCES);
	assert_int_equal(fs_open_file(t.fs, BOB, f, O_RDONLY), -EACCES);
	/* Bob cannot create in Alice's directory, nor chmod her file. */
	assert_int_equal(fs_mknod(t.fs, BOB, d, "x", S_IFREG | 0644, 0, &a, NULL), -EACCES);
	struct fs_setattr sa = { .valid = FS_SET_MODE, .mode = 0777 };
	assert_int_equal(fs_setattr(t.fs, BOB, f, &sa, NULL, NULL), -EPERM);
	/* Only root gives files away; an owner may change the group to
	 * one of its own groups. */
	struct fs_setattr chown_bob = { .valid = FS_SET_UID, .uid = 1002 };
	assert_int_equal(fs_setattr(t.fs, ALICE, f, &chown_bob, NULL, NULL), -EPERM);
	struct fs_setattr grp = { .valid = FS_SET_GID, .gid = 2000 };
	assert_int_equal(fs_setattr(t.fs, ALICE, f, &grp, NULL, NULL), 0);
	grp.gid = 3000;
	assert_int_equal(fs_setattr(t.fs, ALICE, f, &grp, NULL, NULL), -EPERM);
	/* A supplementary group grants group access. */
	sa.mode = 0640;
	assert_int_equal(fs_setattr(t.fs, ALICE, f, &sa, NULL, NULL), 0);
	const uint32_t g2000[] = { 2000 };
	struct fs_cred carol = { 1003, 1003, 1, g2000, 0 };
	assert_int_equal(fs_access(t.fs, &carol, f, R_OK), 0);
	assert_int_equal(fs_access(t.fs, &carol, f, W_OK), -EACCES);
	/* No search permission on a component: EACCES on lookup. */
	sa.mode = 0700;
	assert_int_equal(fs_setattr(t.fs, ALICE, d, &sa, NULL, NULL), 0);
	assert_int_equal(fs_lookup(t.fs, BOB, d, "secret", &a), -EACCES);
	fsfix_done(&t);
}

static void test_sticky_and_setgid(void **state)
{
	struct fsfix t;
	fsfix_init(&t, "test-fs");
	uint64_t tmp = fsfix_mk(&t, ROOT, FS_ROOT_INO, "tmp", S_IFDIR | 01777);
	fsfix_mk(&t, ALICE, tmp, "alice", S_IFREG | 0644);
	assert_int_equal(fs_unlink(t.fs, BOB, tmp, "alice", NULL), -EPERM);
	assert_int_equal(fs_rename(t.fs, BOB, tmp, "alice", tmp, "mine", 0, NULL), -EPERM);
	assert_int_equal(fs_unlink(t.fs, ALICE, tmp, "alice", NULL), 0);
	/* setgid directory: group inherited, subdirectories setgid too. */
	uint64_t shared = fsfix_mk(&t, ROOT, FS_ROOT_INO, "shared", S_IFDIR | 02777);
	struct fs_setattr grp = { .valid = FS_SET_GID, .gid = 2000 };
	assert_int_equal(fs_setattr(t.fs, ROOT, shared, &grp, NULL, NULL), 0);
	struct fs_setattr mode = { .valid = FS_SET_MODE, .mode = 02777 };
	assert_int_equal(fs_setattr(t.fs, ROOT, shared, &mode, NULL, NULL), 0);
	uint64_t f = fsfix_mk(&t, BOB, shared, "f", S_IFREG | 0644);
	uint64_t sub = fsfix_mk(&t, BOB, shared, "sub", S_IFDIR | 0755);
	assert_int_equal(attr(&t, f).gid, 2000);
	assert_int_equal(attr(&t, sub).gid, 2000);
	assert_true(attr(&t, sub).mode & S_ISGID);
	/* Writing as non-root clears setuid (and setgid with group exec). */
	mode.mode = 06755;
	assert_int_equal(fs_setattr(t.fs, BOB, f, &mode, NULL, NULL), 0);
	assert_int_equal(attr(&t, f).mode & 07777, 04755); /* Bob is not in group 2000 */
	mode.mode = 04755;
	size_t n;
	assert_int_equal(fs_write(t.fs, BOB, f, 0, "x", 1, &n), 0);
	assert_int_equal(attr(&t, f).mode & 07777, 0755);
	fsfix_done(&t);
}

static void test_rename_rules(void **state)
{
	struct fsfix t;
	fsfix_init(&t, "test-fs");
	uint64_t a = fsfix_mk(&t, ROOT, FS_ROOT_INO, "a", S_IFDIR | 0755);
	uint64_t b = fsfix_mk(&t, ROOT, FS_ROOT_INO, "b", S_IFDIR | 0755);
	uint64_t sub = fsfix_mk(&t, ROOT, a, "sub", S_IFDIR | 0755);
	uint64_t f = fsfix_mk(&t, ROOT, a, "f", S_IFREG | 0644);
	uint64_t g = fsfix_mk(&t, ROOT, b, "g", S_IFREG | 0644);
	fsfix_mk(&t, ROOT, b, "full", S_IFDIR | 0755);
	struct fs_attr at;
	/* Into its own subtree. */
	assert_int_equal(fs_rename(t.fs, ROOT, FS_ROOT_INO, "a", sub, "a2", 0, NULL), -EINVAL);
	assert_int_equal(fs_rename(t.fs, ROOT, FS_ROOT_INO, "a", a, "a2", 0, NULL), -EINVAL);
	/* File over dir, dir over file, dir over non-empty dir. */
	assert_int_equal(fs_rename(t.fs, ROOT, a, "f", FS_ROOT_INO, "b", 0, NULL), -EISDIR);
	assert_int_equal(fs_rename(t.fs, ROOT, a, "sub", b, "g", 0, NULL), -ENOTDIR);
	uint64_t full;
	assert_int_equal(fs_lookup(t.fs, ROOT, b, "full", &at), 0);
	full = at.ino;
	fsfix_mk(&t, ROOT, full, "inside", S_IFREG | 0644);
	assert_int_equal(fs_rename(t.fs, ROOT, a, "sub", b, "full", 0, NULL), -ENOTEMPTY);
	assert_int_equal(fs_rename(t.fs, ROOT, a, "f", b, "g", RENAME_NOREPLACE, NULL), -EEXIST);
	/* Replace a file: the old target goes. */
	assert_int_equal(fs_rename(t.fs, ROOT, a, "f", b, "g", 0, NULL), 0);
	assert_int_equal(fs_getattr(t.fs, g, &at), -ENOENT);
	assert_int_equal(fs_lookup(t.fs, ROOT, b, "g", &at), 0);
	assert_int_equal(at.ino, f);
	/* Move a directory: link counts follow. */
	assert_int_equal(fs_rename(t.fs, ROOT, a, "sub", b, "sub", 0, NULL), 0);
	assert_int_equal(attr(&t, a).nlink, 2);
	assert_int_equal(attr(&t, b).nlink, 4); /* ".", its entry, full, sub */
	assert_int_equal(fs_lookup(t.fs, ROOT, sub, "..", &at), 0);
	assert_int_equal(at.ino, b);
	/* Exchange a file and a directory. */
	assert_int_equal(fs_rename(t.fs, ROOT, b, "g", b, "sub", RENAME_EXCHANGE, NULL), 0);
	assert_int_equal(fs_lookup(t.fs, ROOT, b, "g", &at), 0);
	assert_int_equal(at.ino, sub);
	assert_int_equal(fs_rename(t.fs, ROOT, b, "g", a, "nothere", RENAME_EXCHANGE, NULL), -ENOENT);
	/* Same inode under two names: a no-op. */
	assert_int_equal(fs_link(t.fs, ROOT, f, a, "f2", &at, NULL), 0);
	assert_int_equal(fs_rename(t.fs, ROOT, a, "f2", b, "sub", 0, NULL), 0);
	assert_int_equal(fs_lookup(t.fs, ROOT, a, "f2", &at), 0);
	fsfix_done(&t);
}

static void test_links_and_open_unlinked(void **state)
{
	struct fsfix t;
	struct fs_attr a;
	size_t n;
	char buf[16];
	fsfix_init(&t, "test-fs");
	uint64_t f = fsfix_mk(&t, ROOT, FS_ROOT_INO, "f", S_IFREG | 0644);
	assert_int_equal(fs_write(t.fs, ROOT, f, 0, "hello", 5, &n), 0);
	assert_int_equal(fs_link(t.fs, ROOT, f, FS_ROOT_INO, "g", &a, NULL), 0);
	assert_int_equal(a.nlink, 2);
	uint64_t d = fsfix_mk(&t, ROOT, FS_ROOT_INO, "d", S_IFDIR | 0755);
	assert_int_equal(fs_link(t.fs, ROOT, d, FS_ROOT_INO, "dl", &a, NULL), -EPERM);
	assert_int_equal(fs_unlink(t.fs, ROOT, FS_ROOT_INO, "f", NULL), 0);
	assert_int_equal(attr(&t, f).nlink, 1);
	assert_int_equal(fs_open_file(t.fs, ROOT, f, O_RDWR), 0);
	assert_int_equal(fs_unlink(t.fs, ROOT, FS_ROOT_INO, "g", NULL), 0);
	/* Nameless but open: readable and writable until the release. */
	assert_int_equal(fs_read(t.fs, f, 0, buf, sizeof buf, &n), 0);
	assert_int_equal(n, 5);
	assert_int_equal(fs_write(t.fs, ROOT, f, 5, "!", 1, &n), 0);
	assert_int_equal(attr(&t, f).nlink, 0);
	fs_release(t.fs, f);
	assert_int_equal(fs_getattr(t.fs, f, &a), -ENOENT);
	fsfix_done(&t);
}

static void test_orphan_reclaimed_after_crash(void **state)
{
	struct fsfix t;
	size_t n;
	fsfix_init(&t, "test-fs");
	uint64_t f = fsfix_mk(&t, ROOT, FS_ROOT_INO, "f", S_IFREG | 0644);
	assert_int_equal(fs_write(t.fs, ROOT, f, 0, "data", 4, &n), 0);
	assert_int_equal(fs_open_file(t.fs, ROOT, f, O_RDONLY), 0);
	assert_int_equal(fs_unlink(t.fs, ROOT, FS_ROOT_INO, "f", NULL), 0);
	assert_int_equal(fs_sync(t.fs), 0);
	/* "Crash": close without releasing. */
	fsfix_close(&t);
	fsfix_open(&t);
	struct fs_attr a;
	assert_int_equal(fs_getattr(t.fs, f, &a), -ENOENT);
	struct fs_statfs s;
	assert_int_equal(fs_statfs(t.fs, &s), 0);
	assert_int_equal(s.files - s.ffree, 1); /* only the root */
	fsfix_done(&t);
}

static void test_symlink_mknod(void **state)
{
	struct fsfix t;
	struct fs_attr a;
	char buf[5000];
	size_t n;
	fsfix_init(&t, "test-fs");
	assert_int_equal(fs_symlink(t.fs, ROOT, FS_ROOT_INO, "l", "target/path", &a, NULL), 0);
	assert_true(S_ISLNK(a.mode));
	assert_int_equal(fs_readlink(t.fs, a.ino, buf, sizeof buf, &n), 0);
	assert_int_equal(n, 11);
	assert_memory_equal(buf, "target/path", 11);
	memset(buf, 'x', 4096);
	buf[4096] = 0;
	assert_int_equal(fs_symlink(t.fs, ROOT, FS_ROOT_INO, "long", buf, &a, NULL), -ENAMETOOLONG);
	buf[4095] = 0;
	assert_int_equal(fs_symlink(t.fs, ROOT, FS_ROOT_INO, "long", buf, &a, NULL), 0);
	assert_int_equal(fs_mknod(t.fs, ROOT, FS_ROOT_INO, "fifo", S_IFIFO | 0644, 0, &a, NULL), 0);
	assert_true(S_ISFIFO(a.mode));
	assert_int_equal(fs_mknod(t.fs, ROOT, FS_ROOT_INO, "null", S_IFCHR | 0666, 0x0103, &a, NULL), 0);
	assert_int_equal(a.rdev, 0x0103);
	assert_int_equal(fs_mknod(t.fs, ALICE, FS_ROOT_INO, "c", S_IFCHR | 0666, 1, &a, NULL), -EPERM);
	fsfix_done(&t);
}

static void test_xattrs(void **state)
{
	struct fsfix t;
	char buf[64];
	size_t n;
	fsfix_init(&t, "test-fs");
	struct fs_setattr open_root = { .valid = FS_SET_MODE, .mode = 0777 };
	assert_int_equal(fs_setattr(t.fs, ROOT, FS_ROOT_INO, &open_root, NULL, NULL), 0);
	uint64_t f = fsfix_mk(&t, ALICE, FS_ROOT_INO, "f", S_IFREG | 0644);
	assert_int_equal(fs_setxattr(t.fs, ALICE, f, "user.a", "1", 1, XATTR_REPLACE, NULL), -ENODATA);
	assert_int_equal(fs_setxattr(t.fs, ALICE, f, "user.a", "1", 1, XATTR_CREATE, NULL), 0);
	assert_int_equal(fs_setxattr(t.fs, ALICE, f, "user.a", "2", 1, XATTR_CREATE, NULL), -EEXIST);
	assert_int_equal(fs_setxattr(t.fs, ALICE, f, "user.b", "bee", 3, 0, NULL), 0);
	assert_int_equal(fs_setxattr(t.fs, BOB, f, "user.c", "x", 1, 0, NULL), -EACCES);
	assert_int_equal(fs_setxattr(t.fs, ALICE, f, "bogus.c", "x", 1, 0, NULL), -EOPNOTSUPP);
	assert_int_equal(fs_getxattr(t.fs, BOB, f, "user.b", buf, sizeof buf, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(fs_getxattr(t.fs, BOB, f, "user.b", buf, 0, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(fs_getxattr(t.fs, BOB, f, "user.b", buf, 2, &n), -ERANGE);
	assert_int_equal(fs_listxattr(t.fs, BOB, f, buf, sizeof buf, &n), 0);
	assert_int_equal(n, 14);
	assert_memory_equal(buf, "user.a\0user.b\0", 14);
	/* An empty value is a value. */
	assert_int_equal(fs_setxattr(t.fs, ALICE, f, "user.empty", "", 0, 0, NULL), 0);
	assert_int_equal(fs_getxattr(t.fs, ALICE, f, "user.empty", buf, sizeof buf, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(fs_removexattr(t.fs, ALICE, f, "user.empty", NULL), 0);
	assert_int_equal(fs_removexattr(t.fs, ALICE, f, "user.a", NULL), 0);
	assert_int_equal(fs_removexattr(t.fs, ALICE, f, "user.a", NULL), -ENODATA);
	assert_int_equal(fs_getxattr(t.fs, ALICE, f, "user.a", buf, sizeof buf, &n), -ENODATA);
	fsfix_done(&t);
}

struct seen {
	char names[64][16];
	int n;
	uint64_t last;
	int stop_after;
};

static int collect(void *arg, const char *name, uint64_t ino, uint32_t type, uint64_t next)
{
	struct seen *s = arg;
	if (s->stop_after && s->n == s->stop_after)
		return 1;
	snprintf(s->names[s->n++], sizeof s->names[0], "%s", name);
	s->last = next;
	return 0;
}

static void test_readdir_cookies(void **state)
{
	struct fsfix t;
	fsfix_init(&t, "test-fs");
	uint64_t d = fsfix_mk(&t, ROOT, FS_ROOT_INO, "d", S_IFDIR | 0755);
	for (int i = 0; i < 10; i++) {
		char name[8];
		snprintf(name, sizeof name, "e%u", (unsigned)i % 10);
		fsfix_mk(&t, ROOT, d, name, S_IFREG | 0644);
	}
	struct seen s = { .stop_after = 6 };
	assert_int_equal(fs_readdir(t.fs, ROOT, d, 0, collect, &s), 0);
	assert_int_equal(s.n, 6);
	assert_string_equal(s.names[0], ".");
	assert_string_equal(s.names[1], "..");
	/* Changes in the middle of a listing: removed entries not yet seen
	 * vanish, entries seen are not repeated, new ones come at the end. */
	assert_int_equal(fs_unlink(t.fs, ROOT, d, "e0", NULL), 0);
	assert_int_equal(fs_unlink(t.fs, ROOT, d, "e7", NULL), 0);
	fsfix_mk(&t, ROOT, d, "new", S_IFREG | 0644);
	struct seen rest = { 0 };
	assert_int_equal(fs_readdir(t.fs, ROOT, d, s.last, collect, &rest), 0);
	assert_int_equal(rest.n, 6); /* e4..e9 without e7, plus new */
	assert_string_equal(rest.names[0], "e4");
	assert_string_equal(rest.names[rest.n - 1], "new");
	fsfix_done(&t);
}

static void test_quota_and_read_only(void **state)
{
	struct fsfix t;
	size_t n;
	fsfix_init(&t, "test-fs");
	fsfix_close(&t);
	t.fo.max_size = 100000;
	fsfix_open(&t);
	uint64_t f = fsfix_mk(&t, ROOT, FS_ROOT_INO, "f", S_IFREG | 0644);
	static char big[120000];
	assert_int_equal(fs_write(t.fs, ROOT, f, 0, big, 90000, &n), 0);
	assert_int_equal(fs_write(t.fs, ROOT, f, 90000, big, 20000, &n), -ENOSPC);
	struct fs_setattr shrink = { .valid = FS_SET_SIZE, .size = 1000 };
	assert_int_equal(fs_setattr(t.fs, ROOT, f, &shrink, NULL, NULL), 0);
	assert_int_equal(fs_write(t.fs, ROOT, f, 1000, big, 20000, &n), 0);
	assert_int_equal(fs_sync(t.fs), 0);
	fsfix_close(&t);
	t.fo.read_only = true;
	fsfix_open(&t);
	struct fs_attr a;
	assert_int_equal(fs_mknod(t.fs, ROOT, FS_ROOT_INO, "x", S_IFREG | 0644, 0, &a, NULL), -EROFS);
	assert_int_equal(fs_write(t.fs, ROOT, f, 0, "x", 1, &n), -EROFS);
	assert_int_equal(fs_open_file(t.fs, ROOT, f, O_WRONLY), -EROFS);
	assert_int_equal(attr(&t, f).size, 21000);
	fsfix_done(&t);
}

static void test_data_truncate_fallocate_persist(void **state)
{
	struct fsfix t;
	size_t n;
	fsfix_init(&t, "test-fs");
	uint64_t f = fsfix_mk(&t, ROOT, FS_ROOT_INO, "f", S_IFREG | 0644);
	static uint8_t a[200000], got[200000];
	struct test_rng rng = { 5 };
	test_rng_fill(&rng, a, sizeof a);
	assert_int_equal(fs_write(t.fs, ROOT, f, 0, a, sizeof a, &n), 0);
	assert_int_equal(fs_fallocate(t.fs, ROOT, f, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				      1000, 70000, NULL), 0);
	memset(a + 1000, 0, 70000);
	assert_int_equal(fs_fallocate(t.fs, ROOT, f, FALLOC_FL_PUNCH_HOLE, 0, 10, NULL), -EINVAL);
	assert_int_equal(fs_fallocate(t.fs, ROOT, f, 0, 0, 300000, NULL), 0);
	assert_int_equal(attr(&t, f).size, 300000);
	struct fs_setattr tr = { .valid = FS_SET_SIZE, .size = 150000 };
	assert_int_equal(fs_setattr(t.fs, ROOT, f, &tr, NULL, NULL), 0);
	tr.size = 200000;
	assert_int_equal(fs_setattr(t.fs, ROOT, f, &tr, NULL, NULL), 0);
	memset(a + 150000, 0, 50000);
	assert_int_equal(fs_sync(t.fs), 0);
	fsfix_close(&t);
	fsfix_open(&t);
	assert_int_equal(fs_read(t.fs, f, 0, got, sizeof got, &n), 0);
	assert_int_equal(n, sizeof got);
	assert_memory_equal(got, a, sizeof a);
	assert_int_equal(fs_read(t.fs, f, 199990, got, 100, &n), 0);
	assert_int_equal(n, 10);
	fsfix_done(&t);
}

int main(void)
{
	crypt_init();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_lookup_errnos),
		cmocka_unit_test(test_dir_nlink_and_rmdir),
		cmocka_unit_test(test_timestamps),
		cmocka_unit_test(test_permissions),
		cmocka_unit_test(test_sticky_and_setgid),
		cmocka_unit_test(test_rename_rules),
		cmocka_unit_test(test_links_and_open_unlinked),
		cmocka_unit_test(test_orphan_reclaimed_after_crash),
		cmocka_unit_test(test_symlink_mknod),
		cmocka_unit_test(test_xattrs),
		cmocka_unit_test(test_readdir_cookies),
		cmocka_unit_test(test_quota_and_read_only),
		cmocka_unit_test(test_data_truncate_fallocate_persist),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
