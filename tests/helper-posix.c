/*
 * helper-posix.c -- POSIX (Linux-flavoured) conformance checks for a
 * directory on some filesystem.
 *
 *   helper-posix DIR
 *
 * Makes DIR/posix-test.PID, runs each check in a fresh subdirectory named
 * after it and prints TAP ("ok N - name" lines, then the plan).  The
 * behaviour of Linux tmpfs and ext4 is the yardstick: every check passes
 * there.  Checks that need root are skipped without it; the unprivileged
 * checks fork a child that drops to uid/gid 1001 with the supplementary
 * group 2000 and reports its result back over a pipe, so that every TAP
 * line is printed by the parent.  Exit status 1 if any check failed.
 *
 * Environment: POSIX_KEEP=1 keeps the test directories.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

enum { PASS, FAIL, SKIP };

#define USER_UID   1001
#define USER_GID   1001
#define USER_SGID  2000 /* the child's supplementary group */
#define OTHER_UID  1002 /* some other user */
#define OTHER_GID  3000 /* a group the child is not in */

static char g_msg[512];
static int g_num, g_failed;
static int g_basefd = -1;
static int g_root;

static const char *ename(int e)
{
	const char *s;

	if (e == 0)
		return "0";
	s = strerrorname_np(e);
	return s ? s : "E?";
}

#define FAILF(...) do { snprintf(g_msg, sizeof g_msg, __VA_ARGS__); return FAIL; } while (0)
#define SKIPF(...) do { snprintf(g_msg, sizeof g_msg, __VA_ARGS__); return SKIP; } while (0)
#define CHECK(c, ...) do { if (!(c)) { snprintf(g_msg, sizeof g_msg, __VA_ARGS__); \
	at_line(__LINE__); return FAIL; } } while (0)
/* the call must succeed (return >= 0) */
#define TRY(call) do { errno = 0; if ((long)(call) < 0) \
	FAILF("line %d: %s: %s", __LINE__, #call, ename(errno)); } while (0)
/* the call must fail with errno want */
#define ERR(call, want) do { errno = 0; long r_ = (long)(call); int e_ = errno; \
	if (r_ >= 0 || e_ != (want)) FAILF("line %d: %s: got %s, want %s", \
		__LINE__, #call, r_ >= 0 ? "success" : ename(e_), ename(want)); } while (0)

/* prefix g_msg with the line number of the failed check */
static void at_line(int line)
{
	char tmp[sizeof g_msg];

	memcpy(tmp, g_msg, sizeof tmp);
	snprintf(g_msg, sizeof g_msg, "line %d: %.480s", line, tmp);
}

#define TS_FMT "%lld.%09ld"
#define TS_ARG(t) (long long)(t).tv_sec, (long)(t).tv_nsec

static int ts_cmp(struct timespec a, struct timespec b)
{
	if (a.tv_sec != b.tv_sec)
		return a.tv_sec < b.tv_sec ? -1 : 1;
	if (a.tv_nsec != b.tv_nsec)
		return a.tv_nsec < b.tv_nsec ? -1 : 1;
	return 0;
}

static int ts_eq(struct timespec a, struct timespec b)
{
	return ts_cmp(a, b) == 0;
}

/* long enough for a coarse (jiffy) clock to move on */
static void tick(void)
{
	struct timespec t = { 0, 20 * 1000 * 1000 };

	nanosleep(&t, NULL);
}

/* create or truncate path and write n bytes of buf; -1 with errno */
static int put(const char *path, const void *buf, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ssize_t w;
	int e;

	if (fd < 0)
		return -1;
	w = n ? write(fd, buf, n) : 0;
	e = errno;
	close(fd);
	if (w != (ssize_t)n) {
		errno = w < 0 ? e : EIO;
		return -1;
	}
	return 0;
}

static int puts_(const char *path, const char *s)
{
	return put(path, s, strlen(s));
}

/* read up to n bytes of path; -1 with errno */
static ssize_t get(const char *path, void *buf, size_t n)
{
	int fd = open(path, O_RDONLY);
	size_t got = 0;
	ssize_t r;

	if (fd < 0)
		return -1;
	while (got < n && (r = read(fd, (char *)buf + got, n - got)) > 0)
		got += (size_t)r;
	close(fd);
	return (ssize_t)got;
}

/* does path hold exactly the string s? */
static int holds(const char *path, const char *s)
{
	char buf[256];
	ssize_t n = get(path, buf, sizeof buf);

	return n == (ssize_t)strlen(s) && memcmp(buf, s, (size_t)n) == 0;
}

static int all_zero(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

static ino_t ino_of(const char *path)
{
	struct stat s;

	return lstat(path, &s) ? 0 : s.st_ino;
}

static long nlink_of(const char *path)
{
	struct stat s;

	return lstat(path, &s) ? -1 : (long)s.st_nlink;
}

static int rm_one(const char *p, const struct stat *s, int type, struct FTW *f)
{
	(void)s;
	(void)type;
	(void)f;
	return remove(p) ? -1 : 0;
}

static int rm_rf(const char *path)
{
	return nftw(path, rm_one, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

/* is name in directory dir? */
static int in_dir(const char *dir, const char *name)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int found = 0;

	if (!d)
		return 0;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, name) == 0)
			found++;
	closedir(d);
	return found;
}

/* ---- running a part of a check as the unprivileged user ---- */

struct child_result {
	int rc;
	char msg[sizeof g_msg];
};

/*
 * Run fn() in a child with uid/gid USER_UID/USER_GID and the single
 * supplementary group USER_SGID; return its result (and g_msg).
 */
static int as_user(int (*fn)(void))
{
	struct child_result r;
	size_t got = 0;
	ssize_t n;
	int p[2], status;
	pid_t pid;

	if (pipe(p))
		FAILF("pipe: %s", ename(errno));
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0)
		FAILF("fork: %s", ename(errno));
	if (pid == 0) {
		gid_t g = USER_SGID;

		close(p[0]);
		memset(&r, 0, sizeof r);
		g_msg[0] = 0;
		if (setgroups(1, &g) || setresgid(USER_GID, USER_GID, USER_GID) ||
		    setresuid(USER_UID, USER_UID, USER_UID)) {
			r.rc = FAIL;
			snprintf(r.msg, sizeof r.msg, "dropping privileges: %s", ename(errno));
		} else {
			r.rc = fn();
			memcpy(r.msg, g_msg, sizeof r.msg);
		}
		if (write(p[1], &r, sizeof r) != sizeof r)
			_exit(2);
		_exit(0);
	}
	close(p[1]);
	while (got < sizeof r && (n = read(p[0], (char *)&r + got, sizeof r - got)) > 0)
		got += (size_t)n;
	close(p[0]);
	waitpid(pid, &status, 0);
	if (got != sizeof r)
		FAILF("child died without a result (status %#x)", status);
	memcpy(g_msg, r.msg, sizeof g_msg);
	g_msg[sizeof g_msg - 1] = 0;
	return r.rc;
}

/* ======================= errors from open and lookup ======================= */

static int t_creat_excl(void)
{
	int fd;

	TRY(fd = open("f", O_CREAT | O_EXCL | O_WRONLY, 0644));
	close(fd);
	ERR(open("f", O_CREAT | O_EXCL | O_WRONLY, 0644), EEXIST);
	TRY(mkdir("d", 0755));
	ERR(open("d", O_CREAT | O_EXCL | O_RDONLY, 0644), EEXIST);
	/* O_EXCL does not follow a symlink, even a dangling one */
	TRY(symlink("missing", "l"));
	ERR(open("l", O_CREAT | O_EXCL | O_WRONLY, 0644), EEXIST);
	CHECK(access("missing", F_OK) < 0, "O_CREAT|O_EXCL followed a dangling symlink");
	return PASS;
}

static int t_open_dir_write(void)
{
	int fd;

	TRY(mkdir("d", 0755));
	ERR(open("d", O_WRONLY), EISDIR);
	ERR(open("d", O_RDWR), EISDIR);
	ERR(open("d", O_WRONLY | O_CREAT, 0644), EISDIR);
	ERR(open("d", O_RDONLY | O_TRUNC), EISDIR);
	TRY(fd = open("d", O_RDONLY));
	close(fd);
	return PASS;
}

static int t_odirectory_file(void)
{
	int fd;

	TRY(puts_("f", "x"));
	TRY(symlink("f", "l"));
	ERR(open("f", O_RDONLY | O_DIRECTORY), ENOTDIR);
	ERR(open("l", O_RDONLY | O_DIRECTORY), ENOTDIR);
	errno = 0;
	CHECK(opendir("f") == NULL && errno == ENOTDIR, "opendir(file): %s", ename(errno));
	TRY(mkdir("d", 0755));
	TRY(fd = open("d", O_RDONLY | O_DIRECTORY));
	close(fd);
	return PASS;
}

static int t_component_file(void)
{
	struct stat s;

	TRY(puts_("f", "x"));
	ERR(lstat("f/x", &s), ENOTDIR);
	ERR(open("f/x", O_RDONLY), ENOTDIR);
	ERR(open("f/x", O_WRONLY | O_CREAT, 0644), ENOTDIR);
	ERR(mkdir("f/x", 0755), ENOTDIR);
	ERR(unlink("f/x"), ENOTDIR);
	ERR(rename("f", "f/x"), ENOTDIR);
	ERR(stat("f/", &s), ENOTDIR);
	ERR(open("f/", O_RDONLY), ENOTDIR);
	return PASS;
}

static int t_enoent(void)
{
	struct stat s;

	TRY(symlink("nowhere", "dangling"));
	ERR(lstat("nope", &s), ENOENT);
	ERR(open("nope", O_RDONLY), ENOENT);
	ERR(open("nodir/f", O_WRONLY | O_CREAT, 0644), ENOENT);
	ERR(mkdir("nodir/d", 0755), ENOENT);
	ERR(unlink("nope"), ENOENT);
	ERR(rmdir("nope"), ENOENT);
	ERR(rename("nope", "x"), ENOENT);
	ERR(link("nope", "x"), ENOENT);
	ERR(stat("dangling", &s), ENOENT);
	ERR(open("dangling", O_RDONLY), ENOENT);
	ERR(open("", O_RDONLY), ENOENT);
	ERR(readlink("nope", (char[8]){ 0 }, 8), ENOENT);
	CHECK(access("x", F_OK) < 0, "a failed rename/link created x");
	return PASS;
}

static int t_name_255(void)
{
	char a[256], b[256], buf[300];
	struct stat s;
	int fd;

	memset(a, 'a', 255);
	a[255] = 0;
	memset(b, 'b', 255);
	b[255] = 0;
	TRY(fd = open(a, O_WRONLY | O_CREAT | O_EXCL, 0644));
	close(fd);
	TRY(lstat(a, &s));
	CHECK(S_ISREG(s.st_mode), "not a regular file");
	CHECK(in_dir(".", a) == 1, "255-byte name not listed once by readdir");
	TRY(rename(a, b));
	CHECK(in_dir(".", b) == 1 && !in_dir(".", a), "rename to a 255-byte name");
	TRY(mkdir(a, 0755));
	snprintf(buf, sizeof buf, "%s/x", a);
	TRY(puts_(buf, "x"));
	TRY(unlink(buf));
	TRY(rmdir(a));
	TRY(symlink(b, a));
	TRY(unlink(a));
	TRY(link(b, a));
	CHECK(nlink_of(b) == 2, "link to a 255-byte name");
	TRY(unlink(a));
	TRY(unlink(b));
	return PASS;
}

static int t_name_256(void)
{
	char n[257];
	struct stat s;

	memset(n, 'n', 256);
	n[256] = 0;
	TRY(puts_("f", "x"));
	ERR(open(n, O_WRONLY | O_CREAT, 0644), ENAMETOOLONG);
	ERR(mkdir(n, 0755), ENAMETOOLONG);
	ERR(lstat(n, &s), ENAMETOOLONG);
	ERR(rename("f", n), ENAMETOOLONG);
	ERR(link("f", n), ENAMETOOLONG);
	ERR(symlink("f", n), ENAMETOOLONG);
	ERR(mknod(n, S_IFIFO | 0644, 0), ENAMETOOLONG);
	CHECK(in_dir(".", "f") == 1, "f lost");
	return PASS;
}

/* ============================ unlink and rmdir ============================ */

static int t_rmdir_nonempty(void)
{
	TRY(mkdir("d", 0755));
	TRY(puts_("d/f", "x"));
	ERR(rmdir("d"), ENOTEMPTY);
	TRY(unlink("d/f"));
	TRY(mkdir("d/s", 0755));
	ERR(rmdir("d"), ENOTEMPTY);
	TRY(rmdir("d/s"));
	TRY(symlink("x", "d/l"));
	ERR(rmdir("d"), ENOTEMPTY);
	TRY(unlink("d/l"));
	TRY(rmdir("d"));
	return PASS;
}

static int t_rmdir_dot(void)
{
	TRY(mkdir("d", 0755));
	ERR(rmdir("d/."), EINVAL);
	TRY(chdir("d"));
	ERR(rmdir("."), EINVAL);
	TRY(chdir(".."));
	CHECK(access("d", F_OK) == 0, "d is gone");
	return PASS;
}

static int t_unlink_dir(void)
{
	TRY(mkdir("d", 0755));
	ERR(unlink("d"), EISDIR);
	ERR(unlinkat(AT_FDCWD, "d", 0), EISDIR);
	CHECK(access("d", F_OK) == 0, "d is gone");
	return PASS;
}

static int t_rmdir_file(void)
{
	TRY(puts_("f", "x"));
	ERR(rmdir("f"), ENOTDIR);
	ERR(unlinkat(AT_FDCWD, "f", AT_REMOVEDIR), ENOTDIR);
	CHECK(holds("f", "x"), "f is gone");
	return PASS;
}

/* ================================ rename ================================ */

static int t_rename_into_self(void)
{
	TRY(mkdir("a", 0755));
	TRY(mkdir("a/b", 0755));
	ERR(rename("a", "a/b/c"), EINVAL);
	ERR(rename("a", "a/c"), EINVAL);
	ERR(rename("a", "a/b"), EINVAL);
	CHECK(access("a/b", F_OK) == 0 && access("a/c", F_OK) < 0 &&
	      access("a/b/c", F_OK) < 0, "tree changed");
	return PASS;
}

static int t_rename_file_over_dir(void)
{
	TRY(puts_("f", "x"));
	TRY(mkdir("d", 0755));
	TRY(mkdir("e", 0755));
	TRY(puts_("e/x", "x"));
	ERR(rename("f", "d"), EISDIR);
	ERR(rename("f", "e"), EISDIR);
	CHECK(holds("f", "x"), "f changed");
	return PASS;
}

static int t_rename_dir_over_file(void)
{
	TRY(puts_("f", "x"));
	TRY(mkdir("d", 0755));
	ERR(rename("d", "f"), ENOTDIR);
	CHECK(holds("f", "x"), "f changed");
	return PASS;
}

static int t_rename_dir_over_nonempty(void)
{
	ino_t a;

	TRY(mkdir("a", 0755));
	TRY(puts_("a/in-a", "x"));
	TRY(mkdir("b", 0755));
	TRY(puts_("b/in-b", "x"));
	TRY(mkdir("c", 0755));
	ERR(rename("a", "b"), ENOTEMPTY);
	CHECK(holds("b/in-b", "x") && holds("a/in-a", "x"), "tree changed");
	/* over an empty directory it works */
	a = ino_of("a");
	TRY(rename("a", "c"));
	CHECK(ino_of("c") == a && holds("c/in-a", "x"), "c is not the old a");
	CHECK(access("a", F_OK) < 0, "a still there");
	return PASS;
}

static int t_rename_replaces(void)
{
	struct stat s;
	char buf[8];
	ino_t ia;
	int fd;

	TRY(puts_("a", "AAA"));
	TRY(puts_("b", "BBB"));
	ia = ino_of("a");
	TRY(fd = open("b", O_RDONLY));
	TRY(rename("a", "b"));
	CHECK(access("a", F_OK) < 0, "a still there");
	CHECK(ino_of("b") == ia, "b is not the old a");
	CHECK(holds("b", "AAA"), "b content");
	TRY(fstat(fd, &s));
	CHECK(s.st_nlink == 0, "replaced inode has nlink %ld, want 0", (long)s.st_nlink);
	CHECK(pread(fd, buf, sizeof buf, 0) == 3 && memcmp(buf, "BBB", 3) == 0,
	      "replaced inode unreadable through an open fd");
	close(fd);
	CHECK(in_dir(".", "b") == 1 && !in_dir(".", "a"), "listing");
	return PASS;
}

static int t_rename_noreplace(void)
{
	TRY(puts_("a", "A"));
	TRY(puts_("b", "B"));
	errno = 0;
	if (renameat2(AT_FDCWD, "a", AT_FDCWD, "b", RENAME_NOREPLACE) == 0)
		FAILF("RENAME_NOREPLACE replaced b");
	if (errno == EINVAL || errno == ENOSYS)
		SKIPF("RENAME_NOREPLACE not supported (%s)", ename(errno));
	CHECK(errno == EEXIST, "got %s, want EEXIST", ename(errno));
	CHECK(holds("a", "A") && holds("b", "B"), "contents changed");
	TRY(renameat2(AT_FDCWD, "a", AT_FDCWD, "c", RENAME_NOREPLACE));
	CHECK(holds("c", "A") && access("a", F_OK) < 0, "rename to c");
	return PASS;
}

static int t_rename_exchange_files(void)
{
	ino_t ia, ib;

	TRY(puts_("a", "A"));
	TRY(puts_("b", "B"));
	ia = ino_of("a");
	ib = ino_of("b");
	errno = 0;
	if (renameat2(AT_FDCWD, "a", AT_FDCWD, "b", RENAME_EXCHANGE)) {
		if (errno == EINVAL || errno == ENOSYS)
			SKIPF("RENAME_EXCHANGE not supported (%s)", ename(errno));
		FAILF("RENAME_EXCHANGE: %s", ename(errno));
	}
	CHECK(holds("a", "B") && holds("b", "A"), "contents not swapped");
	CHECK(ino_of("a") == ib && ino_of("b") == ia, "inodes not swapped");
	ERR(renameat2(AT_FDCWD, "a", AT_FDCWD, "missing", RENAME_EXCHANGE), ENOENT);
	ERR(renameat2(AT_FDCWD, "a", AT_FDCWD, "b", RENAME_EXCHANGE | RENAME_NOREPLACE), EINVAL);
	return PASS;
}

static int t_rename_exchange_file_dir(void)
{
	struct stat s;
	ino_t f, d;

	TRY(mkdir("p1", 0755));
	TRY(mkdir("p2", 0755));
	TRY(puts_("p1/f", "F"));
	TRY(mkdir("p2/d", 0755));
	TRY(puts_("p2/d/inner", "I"));
	f = ino_of("p1/f");
	d = ino_of("p2/d");
	CHECK(nlink_of("p1") == 2 && nlink_of("p2") == 3, "nlink before: %ld %ld",
	      nlink_of("p1"), nlink_of("p2"));
	errno = 0;
	if (renameat2(AT_FDCWD, "p1/f", AT_FDCWD, "p2/d", RENAME_EXCHANGE)) {
		if (errno == EINVAL || errno == ENOSYS)
			SKIPF("RENAME_EXCHANGE not supported (%s)", ename(errno));
		FAILF("RENAME_EXCHANGE: %s", ename(errno));
	}
	TRY(lstat("p1/f", &s));
	CHECK(S_ISDIR(s.st_mode) && s.st_ino == d, "p1/f is not the old directory");
	TRY(lstat("p2/d", &s));
	CHECK(S_ISREG(s.st_mode) && s.st_ino == f, "p2/d is not the old file");
	CHECK(holds("p1/f/inner", "I") && holds("p2/d", "F"), "contents");
	CHECK(ino_of("p1/f/..") == ino_of("p1"), "'..' of the moved directory is not p1");
	CHECK(nlink_of("p1") == 3 && nlink_of("p2") == 2, "nlink after: p1 %ld (want 3), p2 %ld (want 2)",
	      nlink_of("p1"), nlink_of("p2"));
	return PASS;
}

static int t_rename_hardlinks(void)
{
	ino_t i;

	TRY(puts_("a", "A"));
	TRY(link("a", "b"));
	i = ino_of("a");
	TRY(rename("a", "b"));
	CHECK(ino_of("a") == i && ino_of("b") == i, "a names removed");
	CHECK(nlink_of("a") == 2, "nlink %ld, want 2", nlink_of("a"));
	CHECK(in_dir(".", "a") == 1 && in_dir(".", "b") == 1, "listing");
	TRY(rename("a", "a"));
	CHECK(holds("a", "A"), "a content");
	return PASS;
}

/* ========================= link counts ========================= */

static int t_dir_nlink_mkdir_rmdir(void)
{
	TRY(mkdir("d", 0755));
	CHECK(nlink_of("d") == 2, "empty dir nlink %ld", nlink_of("d"));
	TRY(mkdir("d/s1", 0755));
	TRY(mkdir("d/s2", 0755));
	CHECK(nlink_of("d") == 4, "after 2 mkdir nlink %ld, want 4", nlink_of("d"));
	TRY(puts_("d/f", "x"));
	TRY(symlink("x", "d/l"));
	TRY(mknod("d/p", S_IFIFO | 0644, 0));
	CHECK(nlink_of("d") == 4, "non-directories changed nlink to %ld", nlink_of("d"));
	TRY(rmdir("d/s1"));
	CHECK(nlink_of("d") == 3, "after rmdir nlink %ld, want 3", nlink_of("d"));
	TRY(rename("d/s2", "d/s3"));
	CHECK(nlink_of("d") == 3, "after rename within nlink %ld, want 3", nlink_of("d"));
	CHECK(nlink_of("d/s3") == 2, "subdir nlink %ld", nlink_of("d/s3"));
	return PASS;
}

static int t_dir_nlink_rename(void)
{
	TRY(mkdir("p1", 0755));
	TRY(mkdir("p2", 0755));
	TRY(mkdir("p1/s", 0755));
	CHECK(nlink_of("p1") == 3 && nlink_of("p2") == 2, "before: %ld %ld",
	      nlink_of("p1"), nlink_of("p2"));
	TRY(rename("p1/s", "p2/s"));
	CHECK(nlink_of("p1") == 2 && nlink_of("p2") == 3, "after move: p1 %ld (want 2) p2 %ld (want 3)",
	      nlink_of("p1"), nlink_of("p2"));
	CHECK(ino_of("p2/s/..") == ino_of("p2"), "'..' not updated");
	/* over an empty directory in the other parent */
	TRY(mkdir("p1/t", 0755));
	TRY(rename("p2/s", "p1/t"));
	CHECK(nlink_of("p1") == 3 && nlink_of("p2") == 2, "after replace: p1 %ld (want 3) p2 %ld (want 2)",
	      nlink_of("p1"), nlink_of("p2"));
	CHECK(ino_of("p1/t/..") == ino_of("p1"), "'..' not updated");
	/* a file moved across parents changes nothing */
	TRY(puts_("p1/f", "x"));
	TRY(rename("p1/f", "p2/f"));
	CHECK(nlink_of("p1") == 3 && nlink_of("p2") == 2, "file move changed nlink");
	return PASS;
}

static int t_hardlink_count(void)
{
	struct stat a, b;
	int fd;

	TRY(puts_("a", "data"));
	TRY(link("a", "b"));
	TRY(lstat("a", &a));
	TRY(lstat("b", &b));
	CHECK(a.st_ino == b.st_ino, "different inodes");
	CHECK(a.st_nlink == 2 && b.st_nlink == 2, "nlink %ld %ld, want 2", (long)a.st_nlink, (long)b.st_nlink);
	TRY(link("b", "c"));
	CHECK(nlink_of("a") == 3, "nlink %ld, want 3", nlink_of("a"));
	TRY(fd = open("c", O_RDONLY));
	TRY(unlink("a"));
	TRY(lstat("b", &b));
	CHECK(b.st_ino == a.st_ino && b.st_nlink == 2, "after unlink: ino %s, nlink %ld",
	      b.st_ino == a.st_ino ? "same" : "changed", (long)b.st_nlink);
	CHECK(holds("b", "data"), "content lost");
	TRY(fstat(fd, &b));
	CHECK(b.st_nlink == 2, "fstat nlink %ld", (long)b.st_nlink);
	close(fd);
	TRY(unlink("c"));
	CHECK(nlink_of("b") == 1, "nlink %ld, want 1", nlink_of("b"));
	ERR(link("b", "b"), EEXIST);
	return PASS;
}

static int t_link_dir(void)
{
	TRY(mkdir("d", 0755));
	ERR(link("d", "e"), EPERM);
	CHECK(nlink_of("d") == 2, "nlink %ld", nlink_of("d"));
	return PASS;
}

/* ============================ symlinks ============================ */

static int t_symlink_loop(void)
{
	struct stat s;

	TRY(symlink("b", "a"));
	TRY(symlink("a", "b"));
	TRY(symlink("self", "self"));
	ERR(open("a", O_RDONLY), ELOOP);
	ERR(stat("a", &s), ELOOP);
	ERR(stat("self", &s), ELOOP);
	ERR(open("self/x", O_WRONLY | O_CREAT, 0644), ELOOP);
	ERR(open("a", O_WRONLY | O_CREAT, 0644), ELOOP);
	TRY(lstat("a", &s));
	CHECK(S_ISLNK(s.st_mode), "lstat of a loop");
	return PASS;
}

static int t_nofollow(void)
{
	struct stat s;
	int fd;

	TRY(puts_("f", "x"));
	TRY(symlink("f", "l"));
	ERR(open("l", O_RDONLY | O_NOFOLLOW), ELOOP);
	ERR(open("l", O_WRONLY | O_CREAT | O_NOFOLLOW, 0644), ELOOP);
	TRY(fd = open("f", O_RDONLY | O_NOFOLLOW));
	close(fd);
	TRY(fd = open("l", O_PATH | O_NOFOLLOW));
	TRY(fstat(fd, &s));
	close(fd);
	CHECK(S_ISLNK(s.st_mode) && s.st_size == 1, "O_PATH|O_NOFOLLOW fstat: mode %o size %lld",
	      s.st_mode, (long long)s.st_size);
	return PASS;
}

static int t_readlink_long(void)
{
	static char target[4097], buf[5000];
	struct stat s;
	ssize_t n;

	for (int i = 0; i < 4096; i++)
		target[i] = (i % 100 == 99) ? '/' : (char)('a' + i % 26);
	target[4095] = 0;
	TRY(symlink(target, "l"));
	TRY(lstat("l", &s));
	CHECK(s.st_size == 4095, "st_size %lld, want 4095", (long long)s.st_size);
	TRY(n = readlink("l", buf, sizeof buf));
	CHECK(n == 4095 && memcmp(buf, target, 4095) == 0, "readlink returned %zd bytes", n);
	TRY(n = readlink("l", buf, 10));
	CHECK(n == 10 && memcmp(buf, target, 10) == 0, "short readlink returned %zd", n);
	target[4095] = 'z';
	target[4096] = 0;
	ERR(symlink(target, "m"), ENAMETOOLONG);
	ERR(symlink("", "e"), ENOENT);
	return PASS;
}

/* ============================ file data ============================ */

static int t_truncate_grow(void)
{
	unsigned char buf[10000];
	struct stat s;
	int fd;

	TRY(puts_("f", "hello"));
	TRY(truncate("f", 10000));
	TRY(lstat("f", &s));
	CHECK(s.st_size == 10000, "size %lld, want 10000", (long long)s.st_size);
	CHECK(get("f", buf, sizeof buf) == 10000, "short read");
	CHECK(memcmp(buf, "hello", 5) == 0 && all_zero(buf + 5, sizeof buf - 5),
	      "grown part is not zero");
	TRY(fd = open("f", O_RDWR));
	TRY(ftruncate(fd, 20000));
	TRY(fstat(fd, &s));
	CHECK(s.st_size == 20000, "ftruncate size %lld", (long long)s.st_size);
	CHECK(pread(fd, buf, sizeof buf, 10000) == 10000 && all_zero(buf, sizeof buf),
	      "ftruncate-grown part is not zero");
	close(fd);
	return PASS;
}

static int t_truncate_shrink(void)
{
	static unsigned char buf[8192];
	struct stat s;

	memset(buf, 'x', sizeof buf);
	TRY(put("f", buf, sizeof buf));
	TRY(truncate("f", 100));
	TRY(lstat("f", &s));
	CHECK(s.st_size == 100, "size %lld, want 100", (long long)s.st_size);
	memset(buf, 0, sizeof buf);
	CHECK(get("f", buf, sizeof buf) == 100, "read past the new size");
	/* growing again must not bring the old bytes back */
	TRY(truncate("f", 8192));
	CHECK(get("f", buf, sizeof buf) == 8192, "short read");
	for (int i = 0; i < 100; i++)
		CHECK(buf[i] == 'x', "byte %d lost", i);
	CHECK(all_zero(buf + 100, sizeof buf - 100), "old data reappeared after shrink and grow");
	TRY(truncate("f", 0));
	TRY(lstat("f", &s));
	CHECK(s.st_size == 0, "size %lld, want 0", (long long)s.st_size);
	ERR(truncate("f", -1), EINVAL);
	return PASS;
}

static int t_write_hole(void)
{
	unsigned char buf[10003];
	struct stat s;
	int fd;

	TRY(fd = open("f", O_RDWR | O_CREAT, 0644));
	TRY(write(fd, "abc", 3));
	TRY(pwrite(fd, "xyz", 3, 10000));
	TRY(fstat(fd, &s));
	CHECK(s.st_size == 10003, "size %lld", (long long)s.st_size);
	/* lseek past EOF and write */
	TRY(lseek(fd, 70000, SEEK_SET));
	TRY(write(fd, "end", 3));
	TRY(fstat(fd, &s));
	CHECK(s.st_size == 70003, "size %lld", (long long)s.st_size);
	close(fd);
	CHECK(get("f", buf, sizeof buf) == (ssize_t)sizeof buf, "short read");
	CHECK(memcmp(buf, "abc", 3) == 0 && memcmp(buf + 10000, "xyz", 3) == 0, "data");
	CHECK(all_zero(buf + 3, 10000 - 3), "hole is not zero");
	return PASS;
}

static int t_write_2_40(void)
{
	const off_t off = (off_t)1 << 40;
	unsigned char buf[16];
	struct stat s;
	int fd;

	TRY(fd = open("f", O_RDWR | O_CREAT, 0644));
	TRY(pwrite(fd, "tail", 4, off));
	TRY(fstat(fd, &s));
	CHECK(s.st_size == off + 4, "size %lld, want %lld", (long long)s.st_size, (long long)off + 4);
	CHECK(pread(fd, buf, 16, off - 4) == 8, "read at 2^40-4");
	CHECK(all_zero(buf, 4) && memcmp(buf + 4, "tail", 4) == 0, "data at 2^40");
	CHECK(pread(fd, buf, 16, 0) == 16 && all_zero(buf, 16), "start is not zero");
	CHECK(pread(fd, buf, 16, off + 4) == 0, "read at EOF");
	close(fd);
	return PASS;
}

static int t_append(void)
{
	struct stat s;
	int a, b;

	TRY(a = open("f", O_WRONLY | O_CREAT | O_APPEND, 0644));
	TRY(b = open("f", O_WRONLY | O_APPEND));
	TRY(write(a, "aaa", 3));
	TRY(lseek(a, 0, SEEK_SET));
	TRY(write(a, "bbb", 3));
	CHECK(lseek(a, 0, SEEK_CUR) == 6, "offset after append");
	TRY(write(b, "ccc", 3));
	TRY(write(a, "ddd", 3));
	TRY(fstat(a, &s));
	close(a);
	close(b);
	CHECK(s.st_size == 12, "size %lld", (long long)s.st_size);
	CHECK(holds("f", "aaabbbcccddd"), "content");
	return PASS;
}

static int falloc_skip(int fd, int mode, off_t off, off_t len)
{
	if (fallocate(fd, mode, off, len) == 0)
		return PASS;
	if (errno == EOPNOTSUPP || errno == ENOSYS)
		SKIPF("fallocate mode %#x not supported (%s)", mode, ename(errno));
	FAILF("fallocate(mode %#x, %lld, %lld): %s", mode, (long long)off, (long long)len,
	      ename(errno));
}

static int t_falloc_mode0(void)
{
	static unsigned char buf[1 << 20];
	struct stat s;
	int fd, rc;

	memset(buf, 'a', 4096);
	TRY(put("f", buf, 4096));
	TRY(fd = open("f", O_RDWR));
	if ((rc = falloc_skip(fd, 0, 0, 1 << 20)) != PASS)
		return close(fd), rc;
	TRY(fstat(fd, &s));
	CHECK(s.st_size == 1 << 20, "size %lld, want %d", (long long)s.st_size, 1 << 20);
	CHECK(pread(fd, buf, sizeof buf, 0) == (ssize_t)sizeof buf, "short read");
	for (int i = 0; i < 4096; i++)
		CHECK(buf[i] == 'a', "data lost at %d", i);
	CHECK(all_zero(buf + 4096, sizeof buf - 4096), "allocated part not zero");
	/* inside the file: nothing changes */
	TRY(fallocate(fd, 0, 100, 100));
	TRY(fstat(fd, &s));
	CHECK(s.st_size == 1 << 20, "size changed by an inner fallocate");
	CHECK(pread(fd, buf, 300, 0) == 300, "read");
	for (int i = 0; i < 300; i++)
		CHECK(buf[i] == 'a', "inner fallocate changed byte %d", i);
	close(fd);
	return PASS;
}

static int t_falloc_keep_size(void)
{
	unsigned char buf[8193];
	struct stat s;
	int fd, rc;

	TRY(puts_("f", "abc"));
	TRY(fd = open("f", O_RDWR));
	if ((rc = falloc_skip(fd, FALLOC_FL_KEEP_SIZE, 0, 1 << 20)) != PASS)
		return close(fd), rc;
	TRY(fstat(fd, &s));
	CHECK(s.st_size == 3, "size %lld, want 3", (long long)s.st_size);
	CHECK(pread(fd, buf, sizeof buf, 0) == 3 && memcmp(buf, "abc", 3) == 0, "content");
	TRY(pwrite(fd, "z", 1, 8192));
	TRY(fstat(fd, &s));
	CHECK(s.st_size == 8193, "size %lld after write", (long long)s.st_size);
	CHECK(pread(fd, buf, sizeof buf, 0) == 8193, "short read");
	CHECK(memcmp(buf, "abc", 3) == 0 && all_zero(buf + 3, 8189) && buf[8192] == 'z',
	      "content after write into the preallocated range");
	close(fd);
	return PASS;
}

static int t_falloc_punch(void)
{
	static unsigned char buf[3 * 65536];
	struct stat s;
	int fd, rc;

	memset(buf, 'x', sizeof buf);
	TRY(put("f", buf, sizeof buf));
	TRY(fd = open("f", O_RDWR));
	ERR(fallocate(fd, FALLOC_FL_PUNCH_HOLE, 0, 10), EOPNOTSUPP);
	if ((rc = falloc_skip(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 65536, 65536)) != PASS)
		return close(fd), rc;
	TRY(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 10, 20));
	/* past EOF: size must not change */
	TRY(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, sizeof buf - 100, 1000));
	TRY(fstat(fd, &s));
	CHECK(s.st_size == (off_t)sizeof buf, "size %lld, want %zu", (long long)s.st_size, sizeof buf);
	CHECK(pread(fd, buf, sizeof buf, 0) == (ssize_t)sizeof buf, "short read");
	close(fd);
	for (size_t i = 0; i < sizeof buf; i++) {
		int hole = (i >= 10 && i < 30) || (i >= 65536 && i < 131072) || i >= sizeof buf - 100;

		CHECK(buf[i] == (hole ? 0 : 'x'), "byte %zu is %#x", i, buf[i]);
	}
	return PASS;
}

static int t_falloc_zero_range(void)
{
	static unsigned char buf[20000];
	struct stat s;
	int fd, rc;

	memset(buf, 'x', 3 * 4096);
	TRY(put("f", buf, 3 * 4096));
	TRY(fd = open("f", O_RDWR));
	if ((rc = falloc_skip(fd, FALLOC_FL_ZERO_RANGE, 100, 4900)) != PASS)
		return close(fd), rc;
	TRY(fstat(fd, &s));
	CHECK(s.st_size == 3 * 4096, "size %lld", (long long)s.st_size);
	TRY(fallocate(fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, 12000, 8000));
	TRY(fstat(fd, &s));
	CHECK(s.st_size == 3 * 4096, "KEEP_SIZE: size %lld", (long long)s.st_size);
	TRY(fallocate(fd, FALLOC_FL_ZERO_RANGE, 10000, 10000));
	TRY(fstat(fd, &s));
	CHECK(s.st_size == 20000, "size %lld, want 20000", (long long)s.st_size);
	CHECK(pread(fd, buf, sizeof buf, 0) == (ssize_t)sizeof buf, "short read");
	close(fd);
	for (size_t i = 0; i < sizeof buf; i++) {
		int zero = (i >= 100 && i < 5000) || i >= 10000;

		CHECK(buf[i] == (zero ? 0 : 'x'), "byte %zu is %#x", i, buf[i]);
	}
	return PASS;
}

static int t_unlinked_open(void)
{
	char buf[32];
	struct stat s;
	int fd, fd2;

	TRY(fd = open("f", O_RDWR | O_CREAT, 0644));
	TRY(write(fd, "hello", 5));
	TRY(fd2 = open("f", O_RDONLY));
	TRY(unlink("f"));
	CHECK(access("f", F_OK) < 0 && !in_dir(".", "f"), "f still visible");
	TRY(fstat(fd, &s));
	CHECK(s.st_nlink == 0, "nlink %ld, want 0", (long)s.st_nlink);
	TRY(write(fd, " world", 6));
	CHECK(pread(fd2, buf, sizeof buf, 0) == 11 && memcmp(buf, "hello world", 11) == 0,
	      "data written after unlink");
	/* a new file of the same name is a different one */
	TRY(puts_("f", "new"));
	TRY(fchmod(fd, 0600));
	TRY(ftruncate(fd, 5));
	TRY(fstat(fd, &s));
	CHECK(s.st_size == 5 && (s.st_mode & 07777) == 0600, "size %lld mode %o",
	      (long long)s.st_size, s.st_mode & 07777);
	close(fd);
	CHECK(pread(fd2, buf, sizeof buf, 0) == 5 && memcmp(buf, "hello", 5) == 0,
	      "unreadable after the writer closed");
	close(fd2);
	CHECK(holds("f", "new"), "new f");
	return PASS;
}

static int t_mknod_fifo(void)
{
	struct stat s;
	char c;
	int r, w;

	TRY(mknod("p", S_IFIFO | 0640, 0));
	TRY(mkfifo("q", 0666));
	TRY(lstat("p", &s));
	CHECK(S_ISFIFO(s.st_mode) && (s.st_mode & 07777) == 0640, "mode %o", s.st_mode);
	TRY(lstat("q", &s));
	CHECK(S_ISFIFO(s.st_mode) && (s.st_mode & 07777) == 0644, "mkfifo mode %o", s.st_mode);
	CHECK(s.st_size == 0, "size %lld", (long long)s.st_size);
	ERR(open("p", O_WRONLY | O_NONBLOCK), ENXIO);
	TRY(r = open("p", O_RDONLY | O_NONBLOCK));
	TRY(w = open("p", O_WRONLY | O_NONBLOCK));
	TRY(write(w, "x", 1));
	CHECK(read(r, &c, 1) == 1 && c == 'x', "no data through the fifo");
	close(w);
	close(r);
	ERR(mknod("p", S_IFIFO | 0644, 0), EEXIST);
	return PASS;
}

static int t_mknod_dev(void)
{
	struct stat s;

	if (!g_root)
		SKIPF("needs root");
	TRY(mknod("c", S_IFCHR | 0600, makedev(1, 3)));
	TRY(mknod("b", S_IFBLK | 0640, makedev(7, 200)));
	TRY(mknod("r", S_IFREG | 0644, 0));
	TRY(lstat("c", &s));
	CHECK(S_ISCHR(s.st_mode) && (s.st_mode & 07777) == 0600, "c mode %o", s.st_mode);
	CHECK(s.st_rdev == makedev(1, 3), "c rdev %u:%u", major(s.st_rdev), minor(s.st_rdev));
	TRY(lstat("b", &s));
	CHECK(S_ISBLK(s.st_mode) && (s.st_mode & 07777) == 0640, "b mode %o", s.st_mode);
	CHECK(s.st_rdev == makedev(7, 200), "b rdev %u:%u", major(s.st_rdev), minor(s.st_rdev));
	TRY(lstat("r", &s));
	CHECK(S_ISREG(s.st_mode) && s.st_size == 0, "r mode %o", s.st_mode);
	return PASS;
}

/* ============================ xattrs ============================ */

static int xattr_skip(const char *path)
{
	if (setxattr(path, "user.probe", "1", 1, 0) == 0)
		return PASS;
	if (errno == ENOTSUP || errno == ENOSYS)
		SKIPF("user xattrs not supported (%s)", ename(errno));
	FAILF("setxattr user.probe: %s", ename(errno));
}

/* does the listxattr result of path hold name? -1 on error */
static int xattr_listed(const char *path, const char *name)
{
	char list[4096];
	ssize_t n = listxattr(path, list, sizeof list);
	int found = 0;

	if (n < 0)
		return -1;
	for (ssize_t i = 0; i < n; i += (ssize_t)strlen(list + i) + 1)
		if (strcmp(list + i, name) == 0)
			found++;
	return found;
}

static int t_xattr_basic(void)
{
	static const char bin[] = { 'a', 0, 'b', (char)0xff, 0 };
	char buf[256];
	ssize_t n;
	int rc;

	TRY(puts_("f", "x"));
	if ((rc = xattr_skip("f")) != PASS)
		return rc;
	TRY(removexattr("f", "user.probe"));
	TRY(setxattr("f", "user.a", "1", 1, 0));
	TRY(setxattr("f", "user.bin", bin, sizeof bin, 0));
	TRY(setxattr("f", "user.empty", "", 0, 0));
	TRY(n = getxattr("f", "user.bin", buf, sizeof buf));
	CHECK(n == sizeof bin && memcmp(buf, bin, sizeof bin) == 0, "user.bin value (%zd bytes)", n);
	TRY(n = getxattr("f", "user.empty", buf, sizeof buf));
	CHECK(n == 0, "user.empty has %zd bytes", n);
	CHECK(xattr_listed("f", "user.a") == 1 && xattr_listed("f", "user.bin") == 1 &&
	      xattr_listed("f", "user.empty") == 1, "listxattr misses a name");
	CHECK(xattr_listed("f", "user.probe") == 0, "removed name still listed");
	/* flags 0 replaces */
	TRY(setxattr("f", "user.a", "second", 6, 0));
	TRY(n = getxattr("f", "user.a", buf, sizeof buf));
	CHECK(n == 6 && memcmp(buf, "second", 6) == 0, "replaced value");
	TRY(removexattr("f", "user.a"));
	ERR(getxattr("f", "user.a", buf, sizeof buf), ENODATA);
	ERR(removexattr("f", "user.a"), ENODATA);
	CHECK(xattr_listed("f", "user.a") == 0, "removed name still listed");
	/* directories take user xattrs, symlinks do not */
	TRY(mkdir("d", 0755));
	TRY(setxattr("d", "user.d", "dir", 3, 0));
	CHECK(getxattr("d", "user.d", buf, sizeof buf) == 3, "directory xattr");
	TRY(symlink("f", "l"));
	ERR(lsetxattr("l", "user.l", "1", 1, 0), EPERM);
	/* through a symlink the target is meant */
	CHECK(getxattr("l", "user.bin", buf, sizeof buf) == sizeof bin, "getxattr via symlink");
	return PASS;
}

static int t_xattr_create_exists(void)
{
	char buf[16];
	int rc;

	TRY(puts_("f", "x"));
	if ((rc = xattr_skip("f")) != PASS)
		return rc;
	TRY(setxattr("f", "user.a", "1", 1, XATTR_CREATE));
	ERR(setxattr("f", "user.a", "2", 1, XATTR_CREATE), EEXIST);
	CHECK(getxattr("f", "user.a", buf, sizeof buf) == 1 && buf[0] == '1', "value changed");
	return PASS;
}

static int t_xattr_replace_missing(void)
{
	char buf[16];
	int rc;

	TRY(puts_("f", "x"));
	if ((rc = xattr_skip("f")) != PASS)
		return rc;
	ERR(setxattr("f", "user.nope", "2", 1, XATTR_REPLACE), ENODATA);
	ERR(getxattr("f", "user.nope", buf, sizeof buf), ENODATA);
	TRY(setxattr("f", "user.probe", "3", 1, XATTR_REPLACE));
	CHECK(getxattr("f", "user.probe", buf, sizeof buf) == 1 && buf[0] == '3', "replace");
	return PASS;
}

static int t_xattr_erange(void)
{
	char buf[64];
	ssize_t n;
	int rc;

	TRY(puts_("f", "x"));
	if ((rc = xattr_skip("f")) != PASS)
		return rc;
	TRY(setxattr("f", "user.long", "0123456789", 10, 0));
	ERR(getxattr("f", "user.long", buf, 9), ERANGE);
	TRY(n = getxattr("f", "user.long", NULL, 0));
	CHECK(n == 10, "size query returned %zd, want 10", n);
	TRY(n = listxattr("f", NULL, 0));
	CHECK(n >= (ssize_t)(sizeof "user.probe" + sizeof "user.long"), "list size %zd", n);
	ERR(listxattr("f", buf, 5), ERANGE);
	return PASS;
}

/* ============================ timestamps ============================ */

static int t_utimensat_ns(void)
{
	struct timespec t[2] = { { 1234567890, 123456789 }, { 1000000000, 987654321 } };
	struct stat s, s0;
	int fd;

	TRY(puts_("f", "x"));
	TRY(lstat("f", &s0));
	tick();
	TRY(utimensat(AT_FDCWD, "f", t, 0));
	TRY(lstat("f", &s));
	CHECK(ts_eq(s.st_atim, t[0]), "atime " TS_FMT, TS_ARG(s.st_atim));
	CHECK(ts_eq(s.st_mtim, t[1]), "mtime " TS_FMT, TS_ARG(s.st_mtim));
	CHECK(ts_cmp(s.st_ctim, s0.st_ctim) > 0, "ctime did not advance");
	/* futimens, and times before 1970 */
	t[0].tv_sec = -1000;
	t[0].tv_nsec = 1;
	t[1].tv_sec = 4000000000LL;
	t[1].tv_nsec = 999999999;
	TRY(fd = open("f", O_RDONLY));
	TRY(futimens(fd, t));
	close(fd);
	TRY(lstat("f", &s));
	CHECK(ts_eq(s.st_atim, t[0]) && ts_eq(s.st_mtim, t[1]), "futimens: " TS_FMT " " TS_FMT,
	      TS_ARG(s.st_atim), TS_ARG(s.st_mtim));
	/* a symlink's own times */
	TRY(symlink("f", "l"));
	t[0] = (struct timespec){ 1500000000, 5 };
	t[1] = (struct timespec){ 1500000001, 6 };
	TRY(utimensat(AT_FDCWD, "l", t, AT_SYMLINK_NOFOLLOW));
	TRY(lstat("l", &s));
	CHECK(ts_eq(s.st_atim, t[0]) && ts_eq(s.st_mtim, t[1]), "symlink times");
	TRY(lstat("f", &s));
	CHECK(s.st_mtim.tv_sec == 4000000000LL, "AT_SYMLINK_NOFOLLOW changed the target");
	t[1].tv_nsec = 1000000000;
	ERR(utimensat(AT_FDCWD, "f", t, 0), EINVAL);
	return PASS;
}

static int t_utime_now(void)
{
	struct timespec old[2] = { { 1000000000, 1 }, { 1000000000, 2 } };
	struct timespec now[2] = { { 0, UTIME_NOW }, { 0, UTIME_NOW } };
	struct timespec lo, hi;
	struct stat s, s0;

	TRY(puts_("f", "x"));
	TRY(utimensat(AT_FDCWD, "f", old, 0));
	TRY(lstat("f", &s0));
	tick();
	clock_gettime(CLOCK_REALTIME, &lo);
	TRY(utimensat(AT_FDCWD, "f", now, 0));
	clock_gettime(CLOCK_REALTIME, &hi);
	TRY(lstat("f", &s));
	/* file times may come from a coarse clock: allow 1 s */
	lo.tv_sec -= 1;
	hi.tv_sec += 1;
	CHECK(ts_cmp(s.st_atim, lo) >= 0 && ts_cmp(s.st_atim, hi) <= 0, "atime " TS_FMT " not now",
	      TS_ARG(s.st_atim));
	CHECK(ts_cmp(s.st_mtim, lo) >= 0 && ts_cmp(s.st_mtim, hi) <= 0, "mtime " TS_FMT " not now",
	      TS_ARG(s.st_mtim));
	CHECK(ts_cmp(s.st_ctim, s0.st_ctim) > 0, "ctime did not advance");
	/* NULL times means now too */
	TRY(utimensat(AT_FDCWD, "f", old, 0));
	TRY(utimensat(AT_FDCWD, "f", NULL, 0));
	TRY(lstat("f", &s));
	CHECK(ts_cmp(s.st_mtim, lo) >= 0 && ts_cmp(s.st_atim, lo) >= 0, "NULL times: not now");
	return PASS;
}

static int t_utime_omit(void)
{
	struct timespec t1[2] = { { 1100000000, 111 }, { 1200000000, 222 } };
	struct timespec t2[2] = { { 0, UTIME_OMIT }, { 1300000000, 333 } };
	struct timespec t3[2] = { { 1400000000, 444 }, { 0, UTIME_OMIT } };
	struct timespec t4[2] = { { 0, UTIME_OMIT }, { 0, UTIME_OMIT } };
	struct stat s, s0;

	TRY(puts_("f", "x"));
	TRY(utimensat(AT_FDCWD, "f", t1, 0));
	TRY(utimensat(AT_FDCWD, "f", t2, 0));
	TRY(lstat("f", &s));
	CHECK(ts_eq(s.st_atim, t1[0]), "omitted atime changed to " TS_FMT, TS_ARG(s.st_atim));
	CHECK(ts_eq(s.st_mtim, t2[1]), "mtime " TS_FMT, TS_ARG(s.st_mtim));
	TRY(utimensat(AT_FDCWD, "f", t3, 0));
	TRY(lstat("f", &s0));
	CHECK(ts_eq(s0.st_atim, t3[0]), "atime " TS_FMT, TS_ARG(s0.st_atim));
	CHECK(ts_eq(s0.st_mtim, t2[1]), "omitted mtime changed to " TS_FMT, TS_ARG(s0.st_mtim));
	tick();
	TRY(utimensat(AT_FDCWD, "f", t4, 0));
	TRY(lstat("f", &s));
	CHECK(ts_eq(s.st_atim, s0.st_atim) && ts_eq(s.st_mtim, s0.st_mtim) &&
	      ts_eq(s.st_ctim, s0.st_ctim), "both omitted: something changed");
	return PASS;
}

/* did mtime and ctime of path advance past those in *before? */
#define ADVANCED(path, before, what) do { struct stat a_; TRY(lstat(path, &a_)); \
	CHECK(ts_cmp(a_.st_mtim, (before).st_mtim) > 0, "%s: mtime of %s did not advance", what, path); \
	CHECK(ts_cmp(a_.st_ctim, (before).st_ctim) > 0, "%s: ctime of %s did not advance", what, path); \
	} while (0)
#define CTIME_ADVANCED(path, before, what) do { struct stat a_; TRY(lstat(path, &a_)); \
	CHECK(ts_cmp(a_.st_ctim, (before).st_ctim) > 0, "%s: ctime of %s did not advance", what, path); \
	} while (0)

static int t_parent_times_create(void)
{
	struct stat s;

	TRY(mkdir("d", 0755));
	TRY(lstat("d", &s));
	tick();
	TRY(puts_("d/f", "x"));
	ADVANCED("d", s, "create");
	TRY(lstat("d", &s));
	tick();
	TRY(mkdir("d/s", 0755));
	ADVANCED("d", s, "mkdir");
	TRY(lstat("d", &s));
	tick();
	TRY(symlink("f", "d/l"));
	ADVANCED("d", s, "symlink");
	TRY(lstat("d", &s));
	tick();
	TRY(link("d/f", "d/h"));
	ADVANCED("d", s, "link");
	return PASS;
}

static int t_parent_times_unlink(void)
{
	struct stat s;

	TRY(mkdir("d", 0755));
	TRY(puts_("d/f", "x"));
	TRY(mkdir("d/s", 0755));
	TRY(lstat("d", &s));
	tick();
	TRY(unlink("d/f"));
	ADVANCED("d", s, "unlink");
	TRY(lstat("d", &s));
	tick();
	TRY(rmdir("d/s"));
	ADVANCED("d", s, "rmdir");
	return PASS;
}

static int t_parent_times_rename(void)
{
	struct stat s1, s2;

	TRY(mkdir("d1", 0755));
	TRY(mkdir("d2", 0755));
	TRY(puts_("d1/f", "x"));
	TRY(mkdir("d1/s", 0755));
	TRY(lstat("d1", &s1));
	tick();
	TRY(rename("d1/f", "d1/g"));
	ADVANCED("d1", s1, "rename within");
	TRY(lstat("d1", &s1));
	TRY(lstat("d2", &s2));
	tick();
	TRY(rename("d1/g", "d2/g"));
	ADVANCED("d1", s1, "rename across (source)");
	ADVANCED("d2", s2, "rename across (target)");
	TRY(lstat("d1", &s1));
	TRY(lstat("d2", &s2));
	tick();
	TRY(rename("d1/s", "d2/s"));
	ADVANCED("d1", s1, "directory rename across (source)");
	ADVANCED("d2", s2, "directory rename across (target)");
	return PASS;
}

static int t_ctime_chmod(void)
{
	struct stat s0, s;

	TRY(puts_("f", "x"));
	TRY(lstat("f", &s0));
	tick();
	TRY(chmod("f", 0600));
	TRY(lstat("f", &s));
	CHECK(ts_cmp(s.st_ctim, s0.st_ctim) > 0, "ctime did not advance");
	CHECK(ts_eq(s.st_mtim, s0.st_mtim), "chmod changed mtime");
	CHECK((s.st_mode & 07777) == 0600, "mode %o", s.st_mode & 07777);
	return PASS;
}

static int t_ctime_chown(void)
{
	struct stat s0, s;

	if (!g_root)
		SKIPF("needs root");
	TRY(puts_("f", "x"));
	TRY(lstat("f", &s0));
	CHECK(s0.st_uid == 0 && s0.st_gid == 0, "new file owned by %d:%d", s0.st_uid, s0.st_gid);
	tick();
	TRY(chown("f", USER_UID, USER_SGID));
	TRY(lstat("f", &s));
	CHECK(s.st_uid == USER_UID && s.st_gid == USER_SGID, "owner %d:%d", s.st_uid, s.st_gid);
	CHECK(ts_cmp(s.st_ctim, s0.st_ctim) > 0, "ctime did not advance");
	CHECK(ts_eq(s.st_mtim, s0.st_mtim), "chown changed mtime");
	/* chown of a symlink itself */
	TRY(symlink("f", "l"));
	TRY(lchown("l", OTHER_UID, OTHER_GID));
	TRY(lstat("l", &s));
	CHECK(s.st_uid == OTHER_UID && s.st_gid == OTHER_GID, "lchown: %d:%d", s.st_uid, s.st_gid);
	TRY(lstat("f", &s));
	CHECK(s.st_uid == USER_UID, "lchown changed the target");
	return PASS;
}

static int t_chown_clears_setuid(void)
{
	struct stat s;

	if (!g_root)
		SKIPF("needs root");
	TRY(puts_("f", "x"));
	TRY(chmod("f", 06755));
	TRY(chown("f", USER_UID, -1));
	TRY(lstat("f", &s));
	CHECK((s.st_mode & 07777) == 0755, "mode %o after chown, want 0755", s.st_mode & 07777);
	TRY(mkdir("d", 0755));
	TRY(chmod("d", 02755));
	TRY(chown("d", USER_UID, -1));
	TRY(lstat("d", &s));
	CHECK((s.st_mode & 07777) == 02755, "chown changed a directory's mode to %o", s.st_mode & 07777);
	return PASS;
}

static int t_ctime_link(void)
{
	struct stat s0;

	TRY(puts_("f", "x"));
	TRY(lstat("f", &s0));
	tick();
	TRY(link("f", "g"));
	CTIME_ADVANCED("f", s0, "link");
	return PASS;
}

static int t_ctime_unlink_other(void)
{
	struct stat s0;

	TRY(puts_("f", "x"));
	TRY(link("f", "g"));
	TRY(lstat("f", &s0));
	tick();
	TRY(unlink("g"));
	CTIME_ADVANCED("f", s0, "unlink of the other link");
	return PASS;
}

static int t_ctime_rename(void)
{
	struct stat s0, s;

	TRY(puts_("f", "x"));
	TRY(lstat("f", &s0));
	tick();
	TRY(rename("f", "g"));
	CTIME_ADVANCED("g", s0, "rename");
	TRY(lstat("g", &s));
	CHECK(ts_eq(s.st_mtim, s0.st_mtim), "rename changed the file's mtime");
	return PASS;
}

static int t_write_times(void)
{
	struct stat s0, s;
	int fd;

	TRY(puts_("f", "x"));
	TRY(lstat("f", &s0));
	tick();
	TRY(fd = open("f", O_WRONLY));
	TRY(write(fd, "y", 1));
	close(fd);
	ADVANCED("f", s0, "write");
	TRY(lstat("f", &s0));
	tick();
	TRY(truncate("f", 0));
	ADVANCED("f", s0, "truncate");
	TRY(lstat("f", &s0));
	tick();
	TRY(fd = open("f", O_WRONLY | O_TRUNC));
	close(fd);
	ADVANCED("f", s0, "O_TRUNC");
	TRY(lstat("f", &s));
	CHECK(s.st_size == 0, "size");
	return PASS;
}

static int t_failed_call_times(void)
{
	struct stat s0, s;

	TRY(mkdir("d", 0755));
	TRY(puts_("d/f", "x"));
	TRY(mkdir("d/s", 0755));
	TRY(puts_("d/s/x", "x"));
	TRY(lstat("d", &s0));
	tick();
	ERR(mkdir("d/f", 0755), EEXIST);
	ERR(mkdir("d/s", 0755), EEXIST);
	ERR(open("d/f", O_WRONLY | O_CREAT | O_EXCL, 0644), EEXIST);
	ERR(mknod("d/f", S_IFIFO | 0644, 0), EEXIST);
	ERR(symlink("x", "d/f"), EEXIST);
	ERR(link("d/f", "d/s"), EEXIST);
	ERR(unlink("d/nope"), ENOENT);
	ERR(rmdir("d/s"), ENOTEMPTY);
	ERR(rename("d/f", "d/s"), EISDIR);
	ERR(rename("d/nope", "d/g"), ENOENT);
	TRY(lstat("d", &s));
	CHECK(ts_eq(s.st_mtim, s0.st_mtim), "mtime changed: " TS_FMT " -> " TS_FMT,
	      TS_ARG(s0.st_mtim), TS_ARG(s.st_mtim));
	CHECK(ts_eq(s.st_ctim, s0.st_ctim), "ctime changed: " TS_FMT " -> " TS_FMT,
	      TS_ARG(s0.st_ctim), TS_ARG(s.st_ctim));
	CHECK(s.st_nlink == s0.st_nlink, "nlink changed");
	return PASS;
}

/* ============================ readdir ============================ */

#define CK_N 300

static int t_readdir_cookies(void)
{
	static char names[CK_N + 3][16];
	static long cookie[CK_N + 3];
	struct dirent *de;
	char p[32];
	long end;
	int n = 0;
	DIR *d;

	TRY(mkdir("r", 0755));
	for (int i = 0; i < CK_N; i++) {
		snprintf(p, sizeof p, "r/c%03d", i);
		TRY(puts_(p, ""));
	}
	CHECK((d = opendir("r")) != NULL, "opendir: %s", ename(errno));
	for (;;) {
		long c = telldir(d);

		if (!(de = readdir(d)))
			break;
		if (n == CK_N + 2) {
			closedir(d);
			FAILF("more than %d entries", CK_N + 2);
		}
		cookie[n] = c;
		snprintf(names[n], sizeof names[n], "%.15s", de->d_name);
		n++;
	}
	end = telldir(d);
	if (n != CK_N + 2) {
		closedir(d);
		FAILF("%d entries, want %d", n, CK_N + 2);
	}
	/* jump around: forwards, backwards, to the end */
	for (int k = 0; k < 3 * n; k++) {
		int i = (int)(((unsigned)k * 7919u) % (unsigned)n);

		seekdir(d, cookie[i]);
		de = readdir(d);
		if (!de || strcmp(de->d_name, names[i])) {
			closedir(d);
			FAILF("seekdir to the cookie of entry %d (%s) gave %s", i, names[i],
			      de ? de->d_name : "the end");
		}
	}
	seekdir(d, end);
	if ((de = readdir(d))) {
		closedir(d);
		FAILF("seekdir to the end cookie gave %s", de->d_name);
	}
	rewinddir(d);
	de = readdir(d);
	if (!de || strcmp(de->d_name, names[0])) {
		closedir(d);
		FAILF("rewinddir");
	}
	closedir(d);
	return PASS;
}

#define RD_N   2000 /* entries present at the start */
#define RD_NEW 600  /* at most this many created during the listing */

/*
 * Entries e0000..e1999 are listed while, every 20 entries, 5 entries not
 * yet seen are removed and 5 new ones made, and the listing continues from
 * its telldir cookie (seekdir drops what libc has buffered, so each cookie
 * goes back to the filesystem).  Every entry present throughout must be
 * seen exactly once, and no entry twice.
 *
 * Every tenth entry is never removed.  Linux tmpfs (libfs offset
 * directories, seen on 6.18) restarts a listing from the beginning when
 * every entry from the resume cookie onwards has been removed; keeping
 * some entries spread over the whole directory avoids that corner, which
 * is not what this check is about.
 */
#define deletable(j) (!seen[j] && !deleted[j] && (j) % 10 != 0)

static int t_readdir_concurrent(void)
{
	static unsigned char deleted[RD_N];
	static int seen[RD_N], seen_new[RD_NEW];
	int n_new = 0, count = 0, n_deleted = 0, idx;
	unsigned rnd = 12345;
	struct dirent *de;
	char p[32], kind;
	DIR *d;

	memset(deleted, 0, sizeof deleted);
	memset(seen, 0, sizeof seen);
	memset(seen_new, 0, sizeof seen_new);
	TRY(mkdir("r", 0755));
	for (int i = 0; i < RD_N; i++) {
		snprintf(p, sizeof p, "r/e%04d", i);
		TRY(mknod(p, S_IFREG | 0644, 0));
	}
	CHECK((d = opendir("r")) != NULL, "opendir: %s", ename(errno));
	for (;;) {
		errno = 0;
		if (!(de = readdir(d)))
			break;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (sscanf(de->d_name, "%c%d", &kind, &idx) != 2 ||
		    !((kind == 'e' && idx >= 0 && idx < RD_N) ||
		      (kind == 'n' && idx >= 0 && idx < n_new))) {
			closedir(d);
			FAILF("unexpected entry %s", de->d_name);
		}
		if (kind == 'e' ? ++seen[idx] > 1 : ++seen_new[idx] > 1) {
			closedir(d);
			FAILF("%s seen twice", de->d_name);
		}
		if (++count % 20)
			continue;
		/* remove 5 entries not seen yet, add 5 new ones */
		for (int k = 0; k < 5; k++) {
			int j = (int)((rnd = rnd * 1103515245u + 12345u) >> 8) % RD_N;

			for (int tries = 0; tries < RD_N && !deletable(j); tries++)
				j = (j + 1) % RD_N;
			if (!deletable(j))
				break;
			snprintf(p, sizeof p, "r/e%04d", j);
			if (unlink(p)) {
				closedir(d);
				FAILF("unlink %s: %s", p, ename(errno));
			}
			deleted[j] = 1;
			n_deleted++;
		}
		for (int k = 0; k < 5 && n_new < RD_NEW; k++) {
			snprintf(p, sizeof p, "r/n%04d", n_new++);
			if (mknod(p, S_IFREG | 0644, 0)) {
				closedir(d);
				FAILF("create %s: %s", p, ename(errno));
			}
		}
		/* continue from the cookie: drops what libc has buffered */
		seekdir(d, telldir(d));
	}
	if (errno) {
		int e = errno;

		closedir(d);
		FAILF("readdir: %s", ename(e));
	}
	closedir(d);
	CHECK(n_deleted > 100, "only %d entries deleted during the listing", n_deleted);
	for (int i = 0; i < RD_N; i++)
		CHECK(deleted[i] || seen[i] == 1, "e%04d (present throughout) seen %d times", i, seen[i]);
	/* a fresh listing sees exactly what is there now */
	memset(seen, 0, sizeof seen);
	memset(seen_new, 0, sizeof seen_new);
	CHECK((d = opendir("r")) != NULL, "opendir: %s", ename(errno));
	count = 0;
	while ((de = readdir(d))) {
		if (sscanf(de->d_name, "%c%d", &kind, &idx) != 2)
			continue;
		if (kind == 'e' && idx >= 0 && idx < RD_N)
			seen[idx]++;
		else if (kind == 'n' && idx >= 0 && idx < n_new)
			seen_new[idx]++;
		count++;
	}
	closedir(d);
	for (int i = 0; i < RD_N; i++)
		CHECK(seen[i] == !deleted[i], "second listing: e%04d seen %d times", i, seen[i]);
	for (int i = 0; i < n_new; i++)
		CHECK(seen_new[i] == 1, "second listing: n%04d seen %d times", i, seen_new[i]);
	CHECK(count == RD_N - n_deleted + n_new, "second listing: %d entries", count);
	return PASS;
}

/* ======================= permissions (unprivileged) ======================= */

/* make path with mode, owner and group (as root) */
static int mk_owned(const char *path, int dir, mode_t mode, uid_t uid, gid_t gid)
{
	if (dir ? mkdir(path, 0700) : puts_(path, "data"))
		return -1;
	if (chown(path, uid, gid) || chmod(path, mode))
		return -1;
	return 0;
}

#define NEED_ROOT() do { if (!g_root) SKIPF("needs root"); } while (0)

static int u_open_eacces(void)
{
	int fd;

	ERR(open("rootfile", O_RDONLY), EACCES);
	ERR(open("rootfile", O_WRONLY), EACCES);
	ERR(open("rootfile", O_WRONLY | O_TRUNC), EACCES);
	/* the owner class decides, even when others may read */
	ERR(open("ownfile", O_RDONLY), EACCES);
	TRY(fd = open("ownfile", O_WRONLY));
	close(fd);
	ERR(open("ro/new", O_WRONLY | O_CREAT, 0644), EACCES);
	ERR(mkdir("ro/d", 0755), EACCES);
	ERR(unlink("ro/f"), EACCES);
	ERR(rename("ro/f", "stolen"), EACCES);
	ERR(truncate("rootfile", 0), EACCES);
	ERR(access("rootfile", R_OK), EACCES);
	return PASS;
}

static int t_unpriv_open(void)
{
	NEED_ROOT();
	TRY(mk_owned("rootfile", 0, 0600, 0, 0));
	TRY(mk_owned("ownfile", 0, 0204, USER_UID, USER_GID));
	TRY(mk_owned("ro", 1, 0755, 0, 0));
	TRY(puts_("ro/f", "x"));
	return as_user(u_open_eacces);
}

static int u_search(void)
{
	struct stat s;
	DIR *d;

	ERR(lstat("nox/f", &s), EACCES);
	ERR(open("nox/f", O_RDONLY), EACCES);
	ERR(open("nox/sub/g", O_RDONLY), EACCES);
	ERR(chdir("nox"), EACCES);
	/* read without search: the names can be listed */
	CHECK((d = opendir("nox")) != NULL, "opendir of a readable directory: %s", ename(errno));
	closedir(d);
	/* search without read */
	TRY(lstat("noread/f", &s));
	errno = 0;
	CHECK(opendir("noread") == NULL && errno == EACCES, "opendir of a 0711 directory: %s",
	      ename(errno));
	/* search permission on every component; the owner class decides */
	ERR(lstat("ok/nox/sub", &s), EACCES);
	return PASS;
}

static int t_unpriv_search(void)
{
	NEED_ROOT();
	TRY(mk_owned("nox", 1, 0766, 0, 0));
	TRY(puts_("nox/f", "x"));
	TRY(mkdir("nox/sub", 0777));
	TRY(puts_("nox/sub/g", "x"));
	TRY(mk_owned("noread", 1, 0711, 0, 0));
	TRY(puts_("noread/f", "x"));
	TRY(mkdir("ok", 0755));
	TRY(mk_owned("ok/nox", 1, 0677, USER_UID, USER_GID));
	TRY(mkdir("ok/nox/sub", 0777));
	return as_user(u_search);
}

static int u_chmod(void)
{
	struct stat s;

	ERR(chmod("rootfile", 0777), EPERM);
	ERR(chmod("otherfile", 0777), EPERM);
	TRY(chmod("own", 0640));
	TRY(lstat("own", &s));
	CHECK((s.st_mode & 07777) == 0640, "own mode %o", s.st_mode & 07777);
	return PASS;
}

static int t_unpriv_chmod(void)
{
	struct stat s;
	int rc;

	NEED_ROOT();
	TRY(mk_owned("rootfile", 0, 0666, 0, 0));
	TRY(mk_owned("otherfile", 0, 0666, OTHER_UID, USER_SGID));
	TRY(mk_owned("own", 0, 0644, USER_UID, USER_GID));
	if ((rc = as_user(u_chmod)) != PASS)
		return rc;
	TRY(lstat("rootfile", &s));
	CHECK((s.st_mode & 07777) == 0666, "rootfile mode changed to %o", s.st_mode & 07777);
	return PASS;
}

static int u_chown(void)
{
	struct stat s;

	ERR(chown("own", OTHER_UID, -1), EPERM);
	ERR(chown("own", 0, -1), EPERM);
	ERR(chown("rootfile", USER_UID, -1), EPERM);
	/* to oneself: allowed, nothing changes */
	TRY(chown("own", USER_UID, -1));
	TRY(lstat("own", &s));
	CHECK(s.st_uid == USER_UID, "owner %d", s.st_uid);
	return PASS;
}

static int t_unpriv_chown(void)
{
	NEED_ROOT();
	TRY(mk_owned("own", 0, 0644, USER_UID, USER_GID));
	TRY(mk_owned("rootfile", 0, 0666, 0, 0));
	return as_user(u_chown);
}

static int u_chgrp(void)
{
	struct stat s;

	ERR(chown("own", -1, OTHER_GID), EPERM);
	ERR(chown("own", -1, 0), EPERM);
	TRY(lstat("own", &s));
	CHECK(s.st_gid == USER_GID, "group changed to %d", s.st_gid);
	TRY(chown("own", -1, USER_SGID));
	TRY(lstat("own", &s));
	CHECK(s.st_gid == USER_SGID, "group %d, want %d", s.st_gid, USER_SGID);
	TRY(chown("own", -1, USER_GID));
	TRY(lstat("own", &s));
	CHECK(s.st_gid == USER_GID, "group %d, want %d", s.st_gid, USER_GID);
	/* not one's own file, even to one's own group */
	ERR(chown("rootfile", -1, USER_SGID), EPERM);
	return PASS;
}

static int t_unpriv_chgrp(void)
{
	NEED_ROOT();
	TRY(mk_owned("own", 0, 0644, USER_UID, USER_GID));
	TRY(mk_owned("rootfile", 0, 0666, 0, 0));
	return as_user(u_chgrp);
}

static int u_group_read(void)
{
	char buf[8];
	int fd;

	TRY(fd = open("grp", O_RDONLY));
	CHECK(read(fd, buf, sizeof buf) == 4, "read");
	close(fd);
	ERR(open("grp", O_WRONLY), EACCES);
	/* the group class decides, even when others may read */
	ERR(open("grp-denied", O_RDONLY), EACCES);
	ERR(open("nogrp", O_RDONLY), EACCES);
	/* group search on a directory */
	TRY(fd = open("gdir/f", O_RDONLY));
	close(fd);
	return PASS;
}

static int t_unpriv_group_read(void)
{
	NEED_ROOT();
	TRY(mk_owned("grp", 0, 0640, 0, USER_SGID));
	TRY(mk_owned("grp-denied", 0, 0604, 0, USER_SGID));
	TRY(mk_owned("nogrp", 0, 0640, 0, OTHER_GID));
	TRY(mk_owned("gdir", 1, 0750, 0, USER_SGID));
	TRY(mk_owned("gdir/f", 0, 0640, 0, USER_SGID));
	return as_user(u_group_read);
}

static int u_sticky(void)
{
	ERR(unlink("t/other"), EPERM);
	ERR(rename("t/other", "t/moved"), EPERM);
	ERR(rmdir("t/otherdir"), EPERM);
	TRY(puts_("t/mine", "x"));
	ERR(rename("t/mine", "t/other"), EPERM);
	TRY(rename("t/mine", "t/mine2"));
	TRY(unlink("t/mine2"));
	/* without the sticky bit the same is allowed */
	TRY(unlink("nt/other"));
	return PASS;
}

static int t_unpriv_sticky(void)
{
	int rc;

	NEED_ROOT();
	TRY(mk_owned("t", 1, 01777, 0, 0));
	TRY(mk_owned("t/other", 0, 0666, OTHER_UID, OTHER_GID));
	TRY(mk_owned("t/otherdir", 1, 0777, OTHER_UID, OTHER_GID));
	TRY(mk_owned("nt", 1, 0777, 0, 0));
	TRY(mk_owned("nt/other", 0, 0666, OTHER_UID, OTHER_GID));
	if ((rc = as_user(u_sticky)) != PASS)
		return rc;
	CHECK(holds("t/other", "data"), "t/other changed");
	return PASS;
}

static int u_setgid_dir(void)
{
	struct stat s;

	TRY(puts_("g/f", "x"));
	TRY(lstat("g/f", &s));
	CHECK(s.st_uid == USER_UID && s.st_gid == USER_SGID, "file in setgid dir owned by %d:%d, want %d:%d",
	      s.st_uid, s.st_gid, USER_UID, USER_SGID);
	TRY(mkdir("g/s", 0755));
	TRY(lstat("g/s", &s));
	CHECK(s.st_gid == USER_SGID, "subdirectory group %d", s.st_gid);
	CHECK((s.st_mode & 07777) == 02755, "subdirectory mode %o, want 2755", s.st_mode & 07777);
	TRY(puts_("g/s/f", "x"));
	TRY(lstat("g/s/f", &s));
	CHECK(s.st_gid == USER_SGID, "file in the subdirectory: group %d", s.st_gid);
	/* without setgid: the creator's group */
	TRY(puts_("plain/f", "x"));
	TRY(lstat("plain/f", &s));
	CHECK(s.st_uid == USER_UID && s.st_gid == USER_GID, "file owned by %d:%d, want %d:%d",
	      s.st_uid, s.st_gid, USER_UID, USER_GID);
	TRY(mkdir("plain/s", 0755));
	TRY(lstat("plain/s", &s));
	CHECK((s.st_mode & 07777) == 0755 && s.st_gid == USER_GID, "plain subdirectory %o %d",
	      s.st_mode & 07777, s.st_gid);
	return PASS;
}

static int t_unpriv_setgid_dir(void)
{
	NEED_ROOT();
	TRY(mk_owned("g", 1, 02777, 0, USER_SGID));
	TRY(mk_owned("plain", 1, 0777, 0, 0));
	return as_user(u_setgid_dir);
}

static int u_write_clears(void)
{
	struct stat s;
	int fd;

	TRY(fd = open("suid", O_WRONLY));
	TRY(write(fd, "x", 1));
	TRY(fstat(fd, &s));
	close(fd);
	CHECK((s.st_mode & 07777) == 0755, "setuid file mode %o after write, want 0755", s.st_mode & 07777);
	TRY(fd = open("both", O_WRONLY));
	TRY(write(fd, "x", 1));
	TRY(fstat(fd, &s));
	close(fd);
	CHECK((s.st_mode & 07777) == 0755, "setuid+setgid file mode %o after write, want 0755",
	      s.st_mode & 07777);
	TRY(truncate("trunc", 1));
	TRY(lstat("trunc", &s));
	CHECK((s.st_mode & 07777) == 0755, "setuid file mode %o after truncate, want 0755",
	      s.st_mode & 07777);
	return PASS;
}

static int t_unpriv_write_clears_setuid(void)
{
	struct stat s;
	int fd;

	NEED_ROOT();
	TRY(mk_owned("suid", 0, 04755, USER_UID, USER_GID));
	TRY(mk_owned("both", 0, 06755, USER_UID, USER_GID));
	TRY(mk_owned("trunc", 0, 04755, USER_UID, USER_GID));
	TRY(lstat("suid", &s));
	CHECK((s.st_mode & 07777) == 04755, "setup: mode %o", s.st_mode & 07777);
	/* root writing keeps the bit */
	TRY(mk_owned("rootw", 0, 04755, USER_UID, USER_GID));
	TRY(fd = open("rootw", O_WRONLY));
	TRY(write(fd, "x", 1));
	close(fd);
	TRY(lstat("rootw", &s));
	CHECK((s.st_mode & 07777) == 04755, "root's write changed the mode to %o", s.st_mode & 07777);
	return as_user(u_write_clears);
}

static int u_utimes(void)
{
	struct timespec t[2] = { { 1000000000, 0 }, { 1000000000, 0 } };

	/* writable but not owned: only "now" */
	TRY(utimensat(AT_FDCWD, "w", NULL, 0));
	ERR(utimensat(AT_FDCWD, "w", t, 0), EPERM);
	ERR(utimensat(AT_FDCWD, "r", NULL, 0), EACCES);
	ERR(utimensat(AT_FDCWD, "r", t, 0), EPERM);
	TRY(utimensat(AT_FDCWD, "own", t, 0));
	return PASS;
}

static int t_unpriv_utimes(void)
{
	NEED_ROOT();
	TRY(mk_owned("w", 0, 0666, 0, 0));
	TRY(mk_owned("r", 0, 0644, 0, 0));
	TRY(mk_owned("own", 0, 0444, USER_UID, USER_GID));
	return as_user(u_utimes);
}

static int t_root_reads_0000(void)
{
	struct stat s;
	char buf[8];
	int fd;

	NEED_ROOT();
	TRY(puts_("f", "data"));
	TRY(chmod("f", 0000));
	TRY(fd = open("f", O_RDONLY));
	CHECK(read(fd, buf, sizeof buf) == 4 && memcmp(buf, "data", 4) == 0, "read");
	close(fd);
	TRY(fd = open("f", O_WRONLY | O_APPEND));
	TRY(write(fd, "!", 1));
	close(fd);
	TRY(access("f", R_OK | W_OK));
	TRY(mkdir("d", 0755));
	TRY(puts_("d/g", "x"));
	TRY(chmod("d", 0000));
	TRY(lstat("d/g", &s));
	CHECK(holds("d/g", "x"), "read through a 0000 directory");
	TRY(chmod("d", 0755));
	return PASS;
}

/* fork and execve path; the exit status, or 1000 + errno if execve failed */
static int run_exec(const char *path)
{
	char *argv[] = { (char *)path, NULL };
	char *envp[] = { NULL };
	int p[2], status, e = 0;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC))
		return -1;
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		execve(path, argv, envp);
		e = errno;
		if (write(p[1], &e, sizeof e) < 0)
			_exit(126);
		_exit(127);
	}
	close(p[1]);
	if (read(p[0], &e, sizeof e) != sizeof e)
		e = 0;
	close(p[0]);
	waitpid(pid, &status, 0);
	if (e)
		return 1000 + e;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int t_root_exec_no_x(void)
{
	static const char script[] = "#!/bin/sh\nexit 7\n";
	int r;

	NEED_ROOT();
	TRY(puts_("s", script));
	TRY(chmod("s", 0644));
	ERR(access("s", X_OK), EACCES);
	r = run_exec("./s");
	CHECK(r == 1000 + EACCES, "execve of a 0644 file: %s",
	      r > 1000 ? ename(r - 1000) : "it ran");
	/* one x bit anywhere is enough for root */
	TRY(chmod("s", 0001));
	TRY(access("s", X_OK));
	r = run_exec("./s");
	CHECK(r == 7, "execve of a 0001 file: %s", r > 1000 ? ename(r - 1000) : "wrong exit status");
	/* a directory is never executable */
	TRY(mkdir("d", 0755));
	r = run_exec("./d");
	CHECK(r == 1000 + EACCES, "execve of a directory: %s", r > 1000 ? ename(r - 1000) : "it ran");
	return PASS;
}

/* ============================ main ============================ */

struct test {
	const char *name;
	int (*fn)(void);
	int unpriv; /* chmod the test directory 0777 first */
};

static const struct test tests[] = {
	{ "open-creat-excl-EEXIST", t_creat_excl, 0 },
	{ "open-dir-for-writing-EISDIR", t_open_dir_write, 0 },
	{ "open-O_DIRECTORY-on-file-ENOTDIR", t_odirectory_file, 0 },
	{ "file-as-path-component-ENOTDIR", t_component_file, 0 },
	{ "missing-name-ENOENT", t_enoent, 0 },
	{ "name-255-bytes-ok", t_name_255, 0 },
	{ "name-256-bytes-ENAMETOOLONG", t_name_256, 0 },
	{ "rmdir-nonempty-ENOTEMPTY", t_rmdir_nonempty, 0 },
	{ "rmdir-dot-EINVAL", t_rmdir_dot, 0 },
	{ "unlink-dir-EISDIR", t_unlink_dir, 0 },
	{ "rmdir-file-ENOTDIR", t_rmdir_file, 0 },
	{ "rename-dir-into-itself-EINVAL", t_rename_into_self, 0 },
	{ "rename-file-over-dir-EISDIR", t_rename_file_over_dir, 0 },
	{ "rename-dir-over-file-ENOTDIR", t_rename_dir_over_file, 0 },
	{ "rename-dir-over-nonempty-dir-ENOTEMPTY", t_rename_dir_over_nonempty, 0 },
	{ "rename-over-file-replaces-it", t_rename_replaces, 0 },
	{ "renameat2-NOREPLACE-EEXIST", t_rename_noreplace, 0 },
	{ "renameat2-EXCHANGE-files", t_rename_exchange_files, 0 },
	{ "renameat2-EXCHANGE-file-and-dir", t_rename_exchange_file_dir, 0 },
	{ "rename-hardlinks-of-one-inode-noop", t_rename_hardlinks, 0 },
	{ "dir-nlink-mkdir-rmdir", t_dir_nlink_mkdir_rmdir, 0 },
	{ "dir-nlink-rename-across-parents", t_dir_nlink_rename, 0 },
	{ "hardlink-counts", t_hardlink_count, 0 },
	{ "link-to-dir-EPERM", t_link_dir, 0 },
	{ "symlink-loop-ELOOP", t_symlink_loop, 0 },
	{ "open-O_NOFOLLOW-symlink-ELOOP", t_nofollow, 0 },
	{ "readlink-4095-byte-target", t_readlink_long, 0 },
	{ "truncate-grow-reads-zeros", t_truncate_grow, 0 },
	{ "truncate-shrink", t_truncate_shrink, 0 },
	{ "write-past-eof-zero-hole", t_write_hole, 0 },
	{ "write-at-2^40", t_write_2_40, 0 },
	{ "O_APPEND-writes-at-end", t_append, 0 },
	{ "fallocate-mode-0", t_falloc_mode0, 0 },
	{ "fallocate-KEEP_SIZE", t_falloc_keep_size, 0 },
	{ "fallocate-PUNCH_HOLE", t_falloc_punch, 0 },
	{ "fallocate-ZERO_RANGE", t_falloc_zero_range, 0 },
	{ "unlinked-open-file-usable-until-close", t_unlinked_open, 0 },
	{ "mknod-fifo", t_mknod_fifo, 0 },
	{ "mknod-devices-as-root", t_mknod_dev, 0 },
	{ "xattr-set-get-list-remove", t_xattr_basic, 0 },
	{ "xattr-CREATE-existing-EEXIST", t_xattr_create_exists, 0 },
	{ "xattr-REPLACE-missing-ENODATA", t_xattr_replace_missing, 0 },
	{ "xattr-small-buffer-ERANGE", t_xattr_erange, 0 },
	{ "utimensat-explicit-ns", t_utimensat_ns, 0 },
	{ "utimensat-UTIME_NOW", t_utime_now, 0 },
	{ "utimensat-UTIME_OMIT", t_utime_omit, 0 },
	{ "parent-mtime-ctime-on-create", t_parent_times_create, 0 },
	{ "parent-mtime-ctime-on-unlink", t_parent_times_unlink, 0 },
	{ "parent-mtime-ctime-on-rename", t_parent_times_rename, 0 },
	{ "ctime-on-chmod", t_ctime_chmod, 0 },
	{ "ctime-on-chown", t_ctime_chown, 0 },
	{ "chown-clears-setuid", t_chown_clears_setuid, 0 },
	{ "ctime-on-link", t_ctime_link, 0 },
	{ "ctime-on-unlink-of-other-link", t_ctime_unlink_other, 0 },
	{ "ctime-on-rename", t_ctime_rename, 0 },
	{ "mtime-ctime-on-write-truncate", t_write_times, 0 },
	{ "failed-calls-leave-parent-times", t_failed_call_times, 0 },
	{ "readdir-telldir-seekdir-cookies", t_readdir_cookies, 0 },
	{ "readdir-exactly-once-during-create-unlink", t_readdir_concurrent, 0 },
	{ "unpriv-open-without-permission-EACCES", t_unpriv_open, 1 },
	{ "unpriv-missing-search-permission-EACCES", t_unpriv_search, 1 },
	{ "unpriv-chmod-other-users-file-EPERM", t_unpriv_chmod, 1 },
	{ "unpriv-chown-to-other-user-EPERM", t_unpriv_chown, 1 },
	{ "unpriv-chgrp-nonmember-EPERM-supplementary-ok", t_unpriv_chgrp, 1 },
	{ "unpriv-group-read-via-supplementary-group", t_unpriv_group_read, 1 },
	{ "unpriv-sticky-dir-unlink-others-file-EPERM", t_unpriv_sticky, 1 },
	{ "unpriv-setgid-dir-group-inheritance", t_unpriv_setgid_dir, 1 },
	{ "unpriv-write-clears-setuid", t_unpriv_write_clears_setuid, 1 },
	{ "unpriv-utimensat-permissions", t_unpriv_utimes, 1 },
	{ "root-reads-0000-file", t_root_reads_0000, 0 },
	{ "root-exec-without-x-EACCES", t_root_exec_no_x, 0 },
};

static void report(int rc, const char *name)
{
	g_num++;
	if (rc == PASS) {
		printf("ok %d - %s\n", g_num, name);
	} else if (rc == SKIP) {
		printf("ok %d - %s # SKIP %s\n", g_num, name, g_msg);
	} else {
		g_failed++;
		printf("not ok %d - %s\n# %s\n", g_num, name, g_msg);
	}
	fflush(stdout);
}

int main(int argc, char **argv)
{
	char base[PATH_MAX];
	const char *only = getenv("POSIX_ONLY");
	int keep = getenv("POSIX_KEEP") != NULL;

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	g_root = geteuid() == 0;
	snprintf(base, sizeof base, "%s/posix-test.%ld", argv[1], (long)getpid());
	umask(0);
	if (mkdir(base, 0755) || (g_basefd = open(base, O_RDONLY | O_DIRECTORY)) < 0) {
		printf("Bail out! cannot make %s: %s\n", base, strerror(errno));
		return 1;
	}
	for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
		const struct test *t = &tests[i];
		int rc;

		if (only && !strstr(t->name, only))
			continue;
		g_msg[0] = 0;
		umask(0);
		if (fchdir(g_basefd) || mkdir(t->name, t->unpriv ? 0777 : 0755) ||
		    chdir(t->name)) {
			snprintf(g_msg, sizeof g_msg, "cannot make the test directory: %s", ename(errno));
			rc = FAIL;
		} else {
			umask(022);
			rc = t->fn();
		}
		umask(022);
		if (fchdir(g_basefd) == 0 && !keep && rm_rf(t->name))
			printf("# cleanup of %s failed: %s\n", t->name, strerror(errno));
		report(rc, t->name);
	}
	if (fchdir(g_basefd) == 0 && chdir("..") == 0 && !keep)
		rmdir(base);
	printf("1..%d\n", g_num);
	return g_failed ? 1 : 0;
}
