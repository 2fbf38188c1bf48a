/* test-fuse-coherence.c -- a FUSE mount stays coherent with changes made
 * elsewhere: the core (memory:// store) is changed directly, as NFS or 9P
 * would, while a file is open and cached on the mount (write-back cache
 * on, as by default), and the mount sees the new size, data, mtime and
 * names.  The mount's own changes produce no invalidations.
 *
 * The foreign write and truncate tests run again with the write-back
 * cache off.  The caches' timeouts are long (60 s), so only an invalidation can make
 * the mount see a change within the test's wait (5 s).  Runs as root in
 * a private mount namespace (it re-executes itself under unshare -m). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "fsfix.h"
#include "fuse/fuse.h"

#define FUSE_MAGIC 0x65735546
#define WAIT_MS 5000
#define OTHER_ORIGIN 7   /* "another frontend" */

struct mnt {
	struct fsfix f;
	char dir[64];
	struct fuse_mount *fm;
	struct fuse_frontend_options o;
	struct fuse_coherence_stats stats;
	int fds[8];          /* open on the mount: closed by the teardown */
};

static struct fs_cred other(void)
{
	struct fs_cred c = FSFIX_ROOT;
	c.origin = OTHER_ORIGIN;
	return c;
}

static bool mounted(const char *dir)
{
	struct statfs s;
	return statfs(dir, &s) == 0 && s.f_type == FUSE_MAGIC;
}

static void sleep_ms(long ms)
{
	struct timespec t = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&t, NULL);
}

static const bool WRITE_THROUGH = false;

/* *state: NULL (the write-back cache, as by default) or &WRITE_THROUGH. */
static int mnt_setup(void **state)
{
	const bool *writeback = *state;
	struct mnt *m = calloc(1, sizeof *m);
	assert_non_null(m);
	for (int i = 0; i < 8; i++)
		m->fds[i] = -1;
	fsfix_init(&m->f, "coherence");
	snprintf(m->dir, sizeof m->dir, "/tmp/bucketfs-coh-XXXXXX");
	assert_non_null(mkdtemp(m->dir));
	m->o.mountpoint = m->dir;
	m->o.fsname = "memory://coherence";
	m->o.attr_timeout = 60;
	m->o.entry_timeout = 60;
	m->o.writeback_cache = writeback ? *writeback : true;
	m->o.max_threads = 4;
	m->o.stats = &m->stats;
	assert_int_equal(fuse_frontend_start(m->f.fs, &m->o, &m->fm), 0);
	for (int i = 0; i < WAIT_MS / 10 && !mounted(m->dir); i++)
		sleep_ms(10);
	assert_true(mounted(m->dir));
	*state = m;
	return 0;
}

/* Also after a failed test: with a descriptor left open on it, the
 * mount would outlive the unmount, and the exit would wait for it. */
static int mnt_teardown(void **state)
{
	struct mnt *m = *state;
	for (int i = 0; i < 8; i++)
		if (m->fds[i] >= 0)
			close(m->fds[i]);
	fuse_frontend_stop(m->fm);
	assert_false(mounted(m->dir));
	rmdir(m->dir);
	fsfix_done(&m->f);
	free(m);
	return 0;
}

/* Remember fd for the teardown. */
static int track(struct mnt *m, int fd)
{
	assert_true(fd >= 0);
	for (int i = 0; i < 8; i++)
		if (m->fds[i] < 0) {
			m->fds[i] = fd;
			return fd;
		}
	fail_msg("more than 8 descriptors open on the mount");
	return -1;
}

static void untrack_close(struct mnt *m, int fd)
{
	for (int i = 0; i < 8; i++)
		if (m->fds[i] == fd)
			m->fds[i] = -1;
	assert_int_equal(close(fd), 0);
}

/* Two at a time (rename). */
static char *path_of(struct mnt *m, const char *name)
{
	static char p[2][128];
	static int next;
	char *out = p[next++ % 2];
	snprintf(out, sizeof p[0], "%s/%s", m->dir, name);
	return out;
}

static uint64_t ino_of(struct mnt *m, const char *name)
{
	struct fs_attr a;
	assert_int_equal(fs_lookup(m->f.fs, &FSFIX_ROOT, FS_ROOT_INO, name, &a), 0);
	return a.ino;
}

static off_t fd_size(int fd)
{
	struct stat st;
	return fstat(fd, &st) == 0 ? st.st_size : -1;
}

/* Until fd shows size (true), or WAIT_MS passed. */
static bool wait_size(int fd, off_t size)
{
	for (int i = 0; i < WAIT_MS / 10; i++) {
		if (fd_size(fd) == size)
			return true;
		sleep_ms(10);
	}
	fprintf(stderr, "# size %lld, want %lld\n", (long long)fd_size(fd), (long long)size);
	return false;
}

/* Until stat(path) succeeds (want_exists) or fails with ENOENT. */
static bool wait_exists(const char *path, bool want_exists)
{
	struct stat st;
	for (int i = 0; i < WAIT_MS / 10; i++) {
		int r = stat(path, &st);
		if (want_exists ? r == 0 : (r < 0 && errno == ENOENT))
			return true;
		sleep_ms(10);
	}
	return false;
}

static uint64_t sent(const struct mnt *m)
{
	return __atomic_load_n(&m->stats.inval_inode, __ATOMIC_RELAXED) +
	       __atomic_load_n(&m->stats.inval_entry, __ATOMIC_RELAXED);
}

/* A file written and read through the mount, fsynced: in the core and in
 * the kernel's page cache.  Returns the open descriptor. */
static int cached_file(struct mnt *m, const char *name, const char *data, size_t len)
{
	char back[4096];
	int fd = track(m, open(path_of(m, name), O_RDWR | O_CREAT, 0644));
	assert_int_equal(pwrite(fd, data, len, 0), (ssize_t)len);
	assert_int_equal(fsync(fd), 0);
	assert_true(len <= sizeof back);
	assert_int_equal(pread(fd, back, len, 0), (ssize_t)len);
	assert_memory_equal(back, data, len);
	return fd;
}

static void test_foreign_write_reaches_open_file(void **state)
{
	struct mnt *m = *state;
	struct fs_cred c = other();
	char buf[64];
	size_t put;
	int fd = cached_file(m, "f", "hello world", 11);
	uint64_t ino = ino_of(m, "f");

	/* Elsewhere: overwrite the head and extend the file. */
	assert_int_equal(fs_write(m->f.fs, &c, ino, 0, "HELLO", 5, &put), 0);
	assert_int_equal(fs_write(m->f.fs, &c, ino, 20, "tail", 4, &put), 0);
	struct fs_attr before;
	assert_int_equal(fs_getattr(m->f.fs, ino, &before), 0);
	assert_true(wait_size(fd, 24));
	memset(buf, 'x', sizeof buf);
	assert_int_equal(pread(fd, buf, sizeof buf, 0), 24);
	assert_memory_equal(buf, "HELLO world\0\0\0\0\0\0\0\0\0tail", 24);

	/* stat by name and a fresh open see the same. */
	struct stat st;
	struct fs_attr a;
	assert_int_equal(stat(path_of(m, "f"), &st), 0);
	assert_int_equal(st.st_size, 24);
	assert_int_equal(fs_getattr(m->f.fs, ino, &a), 0);
	assert_int_equal(st.st_mtim.tv_sec, a.mtime.tv_sec);
	assert_int_equal(st.st_mtim.tv_nsec, a.mtime.tv_nsec);
	/* The fix-up (a truncate and a utimensat through the mount) changed
	 * nothing in the core. */
	assert_int_equal(a.mtime.tv_sec, before.mtime.tv_sec);
	assert_int_equal(a.mtime.tv_nsec, before.mtime.tv_nsec);
	assert_int_equal(a.ctime.tv_nsec, before.ctime.tv_nsec);
	assert_int_equal(a.size, 24);
	int fd2 = track(m, open(path_of(m, "f"), O_RDONLY));
	assert_int_equal(read(fd2, buf, sizeof buf), 24);
	assert_memory_equal(buf, "HELLO", 5);
	untrack_close(m, fd2);

	/* A change of the data alone (same size) reaches the open file too. */
	assert_int_equal(fs_write(m->f.fs, &c, ino, 6, "WORLD", 5, &put), 0);
	bool seen = false;
	for (int i = 0; i < WAIT_MS / 10 && !seen; i++) {
		seen = pread(fd, buf, 11, 0) == 11 && !memcmp(buf, "HELLO WORLD", 11);
		if (!seen)
			sleep_ms(10);
	}
	assert_true(seen);
	assert_true(m->stats.inval_inode > 0);
	untrack_close(m, fd);
}

static void test_foreign_truncate_reaches_open_file(void **state)
{
	struct mnt *m = *state;
	struct fs_cred c = other();
	static char data[4000], buf[8192];
	struct fs_setattr sa = { .valid = FS_SET_SIZE };
	struct fs_attr a;
	for (size_t i = 0; i < sizeof data; i++)
		data[i] = (char)('a' + i % 26);
	int fd = cached_file(m, "t", data, sizeof data);
	uint64_t ino = ino_of(m, "t");

	/* Shrink elsewhere: the open file ends at the new size. */
	sa.size = 1000;
	assert_int_equal(fs_setattr(m->f.fs, &c, ino, &sa, &a, NULL), 0);
	assert_true(wait_size(fd, 1000));
	assert_int_equal(pread(fd, buf, sizeof buf, 0), 1000);
	assert_memory_equal(buf, data, 1000);
	assert_int_equal(pread(fd, buf, 10, 1000), 0);

	/* Extend elsewhere: zeros past the old end. */
	sa.size = 6000;
	assert_int_equal(fs_setattr(m->f.fs, &c, ino, &sa, &a, NULL), 0);
	assert_true(wait_size(fd, 6000));
	assert_int_equal(pread(fd, buf, sizeof buf, 0), 6000);
	assert_memory_equal(buf, data, 1000);
	for (int i = 1000; i < 6000; i++)
		if (buf[i] != 0)
			fail_msg("byte %d is %d after the extension, want 0", i, buf[i]);

	/* The mount's own write after that lands where it is asked. */
	assert_int_equal(pwrite(fd, "end", 3, 5997), 3);
	assert_int_equal(fsync(fd), 0);
	size_t got = 0;
	assert_int_equal(fs_read(m->f.fs, ino, 5997, buf, 3, &got), 0);
	assert_int_equal(got, 3);
	assert_memory_equal(buf, "end", 3);
	if (m->o.writeback_cache)
		assert_true(m->stats.wb_fixups > 0);
	else
		assert_int_equal(m->stats.wb_fixups, 0);
	untrack_close(m, fd);
}

/* The same with the write-back cache off: the kernel takes size and
 * mtime from getattr, the invalidation alone is enough. */
static void test_foreign_write_without_writeback(void **state)
{
	test_foreign_write_reaches_open_file(state);
}

static void test_foreign_truncate_without_writeback(void **state)
{
	test_foreign_truncate_reaches_open_file(state);
}

/* Dirty pages of the mount and a write made elsewhere to the same page:
 * whichever reaches the core last wins, a page of the mount as a whole
 * (here the mount's, written back by the invalidation), and afterwards
 * the mount and the core agree. */
static void test_concurrent_writes_agree(void **state)
{
	struct mnt *m = *state;
	struct fs_cred c = other();
	char mine[8], core[8];
	size_t put, got = 0;
	int fd = cached_file(m, "w", "........", 8);
	uint64_t ino = ino_of(m, "w");
	assert_int_equal(pwrite(fd, "AAAA", 4, 2), 4);   /* dirty in the kernel */
	uint64_t before = __atomic_load_n(&m->stats.inval_inode, __ATOMIC_RELAXED);
	assert_int_equal(fs_write(m->f.fs, &c, ino, 0, "BBBB", 4, &put), 0);
	for (int i = 0; i < WAIT_MS / 10 && m->stats.inval_inode == before; i++)
		sleep_ms(10);
	assert_true(m->stats.inval_inode > before);
	assert_int_equal(fsync(fd), 0);
	assert_int_equal(pread(fd, mine, 8, 0), 8);
	assert_int_equal(fs_read(m->f.fs, ino, 0, core, 8, &got), 0);
	assert_int_equal(got, 8);
	assert_memory_equal(mine, core, 8);
	/* The kernel writes back whole pages: its page, stale bytes included,
	 * reached the core after the foreign write. */
	assert_memory_equal(core, "..AAAA..", 8);
	untrack_close(m, fd);
}

static void test_foreign_names(void **state)
{
	struct mnt *m = *state;
	struct fs_cred c = other();
	struct fs_attr a;
	struct stat st;

	/* A miss is cached (entry_timeout 60 s) until the name appears. */
	assert_int_equal(stat(path_of(m, "new"), &st), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(fs_mknod(m->f.fs, &c, FS_ROOT_INO, "new", S_IFREG | 0644, 0, &a, NULL), 0);
	assert_true(wait_exists(path_of(m, "new"), true));
	assert_int_equal(stat(path_of(m, "new"), &st), 0);
	assert_int_equal(st.st_ino, a.ino);

	/* A name removed elsewhere disappears. */
	int fd = track(m, open(path_of(m, "gone"), O_WRONLY | O_CREAT, 0644));
	untrack_close(m, fd);
	assert_int_equal(stat(path_of(m, "gone"), &st), 0);
	assert_int_equal(fs_unlink(m->f.fs, &c, FS_ROOT_INO, "gone", NULL), 0);
	assert_true(wait_exists(path_of(m, "gone"), false));

	/* Unlink and create again under the same name: the new inode. */
	assert_int_equal(fs_unlink(m->f.fs, &c, FS_ROOT_INO, "new", NULL), 0);
	assert_int_equal(fs_mknod(m->f.fs, &c, FS_ROOT_INO, "new", S_IFREG | 0600, 0, &a, NULL), 0);
	bool seen = false;
	for (int i = 0; i < WAIT_MS / 10 && !seen; i++) {
		seen = stat(path_of(m, "new"), &st) == 0 && st.st_ino == a.ino;
		if (!seen)
			sleep_ms(10);
	}
	assert_true(seen);
	assert_int_equal(st.st_mode & 07777, 0600);

	/* Rename elsewhere: the old name goes, the new one shows the inode. */
	assert_int_equal(stat(path_of(m, "renamed"), &st), -1);
	assert_int_equal(fs_rename(m->f.fs, &c, FS_ROOT_INO, "new", FS_ROOT_INO, "renamed", 0, NULL), 0);
	assert_true(wait_exists(path_of(m, "new"), false));
	assert_true(wait_exists(path_of(m, "renamed"), true));
	assert_int_equal(stat(path_of(m, "renamed"), &st), 0);
	assert_int_equal(st.st_ino, a.ino);
	assert_true(m->stats.inval_entry > 0);
}

static void test_own_changes_send_nothing(void **state)
{
	struct mnt *m = *state;
	struct stat st;
	uint64_t before = sent(m);
	int fd = track(m, open(path_of(m, "mine"), O_RDWR | O_CREAT, 0644));
	assert_int_equal(write(fd, "data", 4), 4);
	assert_int_equal(ftruncate(fd, 2), 0);
	assert_int_equal(fsync(fd), 0);
	untrack_close(m, fd);
	assert_int_equal(chmod(path_of(m, "mine"), 0600), 0);
	assert_int_equal(mkdir(path_of(m, "d"), 0755), 0);
	assert_int_equal(rename(path_of(m, "mine"), path_of(m, "d/mine")), 0);
	if (unlink(path_of(m, "d/mine")) < 0)
		fail_msg("unlink d/mine: %s", strerror(errno));
	assert_int_equal(rmdir(path_of(m, "d")), 0);
	int dfd = track(m, open(m->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
	(void)syncfs(dfd);
	untrack_close(m, dfd);
	sleep_ms(100);
	assert_int_equal(sent(m), before);
	assert_true(m->stats.own_ignored > 0);
	assert_int_equal(m->stats.wb_fixups, 0);

	/* The counters do move for a change made elsewhere. */
	struct fs_cred c = other();
	struct fs_attr a;
	assert_int_equal(fs_mkdir(m->f.fs, &c, FS_ROOT_INO, "theirs", 0755, &a, NULL), 0);
	for (int i = 0; i < WAIT_MS / 10 && sent(m) == before; i++)
		sleep_ms(10);
	assert_true(sent(m) > before);
	assert_int_equal(stat(path_of(m, "theirs"), &st), 0);
}

/* Why this process cannot run the tests in a private mount namespace, as
 * tests/tap.sh's private_ns_missing names it (the one place that knows the
 * conditions, e.g. a chroot whose / is not a mount point); NULL when it can.
 * The test runs from the source tree (prove), where tests/tap.sh is. */
static char *private_ns_missing(void)
{
	static char why[512];
	FILE *p = popen("bash -c '. tests/tap.sh && private_ns_missing' 2>/dev/null", "r");
	if (!p)
		return "cannot run bash to check root, /dev/fuse and unshare -m";
	size_t n = fread(why, 1, sizeof why - 1, p);
	int st = pclose(p);
	why[n] = 0;
	why[strcspn(why, "\n")] = 0;
	if (st == 0 && why[0])
		return why;
	if (!why[0] && (geteuid() != 0 || access("/dev/fuse", R_OK | W_OK) != 0 ||
			system("unshare -m --propagation private true 2>/dev/null") != 0))
		return "needs root, /dev/fuse and unshare -m (tests/tap.sh, which says which, "
		       "is not here: run from the source tree)";
	return NULL;
}

int main(int argc, char **argv)
{
	if (!getenv("BUCKETFS_FUSE_NS")) {
		const char *why = private_ns_missing();
		if (why) {
			printf("1..0 # SKIP %s\n", why);
			return 0;
		}
		setenv("BUCKETFS_FUSE_NS", "1", 1);
		execlp("unshare", "unshare", "-m", "--propagation", "private", argv[0],
		       (char *)NULL);
		perror("unshare");
		return 1;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_foreign_write_reaches_open_file, mnt_setup, mnt_teardown),
		cmocka_unit_test_setup_teardown(test_foreign_truncate_reaches_open_file, mnt_setup, mnt_teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_writes_agree, mnt_setup, mnt_teardown),
		cmocka_unit_test_prestate_setup_teardown(test_foreign_write_without_writeback,
							 mnt_setup, mnt_teardown,
							 (void *)&WRITE_THROUGH),
		cmocka_unit_test_prestate_setup_teardown(test_foreign_truncate_without_writeback,
							 mnt_setup, mnt_teardown,
							 (void *)&WRITE_THROUGH),
		cmocka_unit_test_setup_teardown(test_foreign_names, mnt_setup, mnt_teardown),
		cmocka_unit_test_setup_teardown(test_own_changes_send_nothing, mnt_setup, mnt_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
