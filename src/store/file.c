/* file.c -- the file:// backend: objects as files in a local directory
 * (layout in file.h; listing in file_list.c).
 *
 * put writes the bytes to a fresh file in root/.tmp, fsyncs it, renames it
 * over the key's path and fsyncs the key's directory: readers hold either
 * the old inode or the new one, never a mix, and after a 0 return the
 * object survives a crash.  put_if_absent does the same with link(2)
 * instead of rename: link fails with EEXIST when the name exists, which the
 * kernel decides atomically, so of N racing creators (threads or
 * processes) exactly one wins.
 *
 * Directories are made on demand (mkdir, then fsync of the parent) and
 * removed by the delete that empties them.  A put racing such a delete sees
 * ENOENT from rename or link, remakes the directories and tries again.
 * A put that finds its directory already there fsyncs only that directory;
 * if another thread made it a moment ago, the entry for the directory
 * itself is durable once that thread's fsync of the parent is done (on
 * journaling file systems, with the put's own fsync).
 *
 * The etag is inode number, mtime in nanoseconds and size.  Every put
 * creates a new inode while the old one still exists, and stamps it with
 * the wall clock in nanoseconds, so the etag changes with each put. */
#include "store/file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/clock.h"
#include "util/log.h"
#include "util/mem.h"

#define PUBLISH_ATTEMPTS 16
#define TMP_NAME_MAX 64
#define TMP_STALE_SECONDS 3600

/* Makes temp file names unique within the process (with the pid, across
 * processes); O_EXCL catches the rest. */
static _Atomic uint64_t tmp_counter;

static struct file_store *file_of(objstore *st)
{
	return (struct file_store *)st;
}

int file_store_errno(int e)
{
	switch (e) {
	case ENOSPC:
	case EDQUOT:
	case EROFS:
	case ENAMETOOLONG:
	case ENOTDIR:
	case EISDIR:
		return -e;
	default:
		return -EIO;
	}
}

/* Log a failed system call on `path` (relative to the root) and return
 * the store's error code for it. */
static int fail(struct file_store *fs, const char *op, const char *key,
		const char *call, const char *path, int e)
{
	log_error("file store: %s %s: %s %s/%s: %s", op, key, call, fs->root, path,
		  strerror(e));
	return file_store_errno(e);
}

/* Keys in the temp directory's namespace are not objects. */
static bool reserved_key(const char *key)
{
	size_t n = strlen(FILE_TMP_DIR);

	return !strncmp(key, FILE_TMP_DIR, n) && (key[n] == '\0' || key[n] == '/');
}

/* Copy the directory part of key ("" for a top-level key) into dir. */
static void key_dir(const char *key, char dir[OBJSTORE_KEY_MAX + 1])
{
	const char *slash = strrchr(key, '/');
	size_t n = slash ? (size_t)(slash - key) : 0;

	memcpy(dir, key, n);
	dir[n] = '\0';
}

/* fsync a directory given relative to the root ("" = the root).
 * Returns 0 or -errno. */
static int sync_dir(struct file_store *fs, const char *dir)
{
	int fd, rc = 0;

	if (!*dir)
		return fsync(fs->rootfd) ? -errno : 0;
	fd = openat(fs->rootfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd))
		rc = -errno;
	close(fd);
	return rc;
}

static int sync_key_dir(struct file_store *fs, const char *op, const char *key)
{
	char dir[OBJSTORE_KEY_MAX + 1];
	int rc;

	key_dir(key, dir);
	rc = sync_dir(fs, dir);
	if (rc)
		return fail(fs, op, key, "fsync directory", *dir ? dir : ".", -rc);
	return 0;
}

/* Make every directory above key, each made durable by an fsync of its
 * parent (also when another thread made it: its fsync may not be done).
 * -EAGAIN if a concurrent delete removed a directory on the way. */
static int make_parents(struct file_store *fs, const char *op, const char *key)
{
	char path[OBJSTORE_KEY_MAX + 1];
	const char *slash;
	int rc;

	for (slash = strchr(key, '/'); slash; slash = strchr(slash + 1, '/')) {
		size_t n = (size_t)(slash - key);
		memcpy(path, key, n);
		path[n] = '\0';
		if (mkdirat(fs->rootfd, path, 0755) && errno != EEXIST) {
			if (errno == ENOENT)
				return -EAGAIN;
			return fail(fs, op, key, "mkdir", path, errno);
		}
		key_dir(path, path);
		rc = sync_dir(fs, path);
		if (rc == -ENOENT)
			return -EAGAIN;
		if (rc)
			return fail(fs, op, key, "fsync directory", *path ? path : ".", -rc);
	}
	return 0;
}

/* Remove the directories above key that are now empty, deepest first.
 * Best effort: a directory that is not empty (or is gone) ends it. */
static void prune_parents(struct file_store *fs, const char *key)
{
	char dir[OBJSTORE_KEY_MAX + 1];

	key_dir(key, dir);
	while (*dir) {
		if (unlinkat(fs->rootfd, dir, AT_REMOVEDIR))
			return;
		key_dir(dir, dir);
	}
}

/* ---- writing ---- */

static int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Fill an open temp file: bytes, an mtime with nanoseconds, fsync.
 * Returns 0 or an errno, and the call that failed. */
static int fill_temp(int fd, const void *data, size_t len, const char **call)
{
	uint64_t now = clock_wall_ns();
	struct timespec times[2] = {
		{ 0, UTIME_OMIT },
		{ (time_t)(now / 1000000000u), (long)(now % 1000000000u) },
	};
	int e;

	*call = "write";
	e = write_all(fd, data, len);
	if (e)
		return e;
	*call = "set mtime of";
	if (futimens(fd, times))
		return errno;
	*call = "fsync";
	if (fsync(fd))
		return errno;
	return 0;
}

/* Write data to a new durable file in the temp directory; its name goes
 * to name (TMP_NAME_MAX bytes). */
static int write_temp(struct file_store *fs, const char *op, const char *key,
		      const void *data, size_t len, char *name)
{
	char path[TMP_NAME_MAX + 8];
	const char *call = "create";
	int fd, e;

	do {
		snprintf(name, TMP_NAME_MAX, "p%ld-%" PRIu64, (long)getpid(),
			 atomic_fetch_add(&tmp_counter, 1));
		fd = openat(fs->tmpfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	} while (fd < 0 && errno == EEXIST);
	snprintf(path, sizeof path, "%s/%s", FILE_TMP_DIR, name);
	if (fd < 0)
		return fail(fs, op, key, call, path, errno);
	e = fill_temp(fd, data, len, &call);
	if (close(fd) && !e) {
		call = "close";
		e = errno;
	}
	if (!e)
		return 0;
	unlinkat(fs->tmpfd, name, 0);
	return fail(fs, op, key, call, path, e);
}

/* Called when rename or link found something at the key's path.  An
 * empty directory there is debris of a racing delete: remove it and say
 * -EAGAIN.  A directory with objects in it is a key conflict (-EISDIR,
 * logged); anything else is 0. */
static int clear_dir_at(struct file_store *fs, const char *op, const char *key)
{
	struct stat st;

	if (fstatat(fs->rootfd, key, &st, AT_SYMLINK_NOFOLLOW) || !S_ISDIR(st.st_mode))
		return 0;
	if (unlinkat(fs->rootfd, key, AT_REMOVEDIR) == 0 || errno == ENOENT)
		return -EAGAIN;
	log_error("file store: %s %s: %s/%s is a directory holding other objects",
		  op, key, fs->root, key);
	return -EISDIR;
}

/* Give the temp file its key: rename over (put) or link (put_if_absent).
 * Returns 0, -EEXIST (only_new), -EAGAIN to retry, or a logged error. */
static int publish_once(struct file_store *fs, const char *op, const char *key,
			const char *tmp, bool only_new)
{
	int rc, e;

	if (only_new)
		rc = linkat(fs->tmpfd, tmp, fs->rootfd, key, 0);
	else
		rc = renameat(fs->tmpfd, tmp, fs->rootfd, key);
	if (rc == 0)
		return 0;
	e = errno;
	if (e == ENOENT && strchr(key, '/')) {
		rc = make_parents(fs, op, key);
		return rc ? rc : -EAGAIN;
	}
	if (e == EISDIR || e == EEXIST) {
		rc = clear_dir_at(fs, op, key);
		if (rc)
			return rc;
	}
	if (e == EEXIST && only_new)
		return -EEXIST;
	if (e == EPERM && only_new) {
		log_error("file store: %s %s: link in %s: %s (the file system cannot do put_if_absent)",
			  op, key, fs->root, strerror(e));
		return -ENOTSUP;
	}
	return fail(fs, op, key, only_new ? "link to" : "rename to", key, e);
}

static int publish(struct file_store *fs, const char *op, const char *key,
		   const char *tmp, bool only_new)
{
	int attempt, rc = -EAGAIN;

	for (attempt = 0; attempt < PUBLISH_ATTEMPTS && rc == -EAGAIN; attempt++)
		rc = publish_once(fs, op, key, tmp, only_new);
	if (rc == -EAGAIN) {
		log_error("file store: %s %s: directories in %s keep vanishing (gave up after %d attempts)",
			  op, key, fs->root, PUBLISH_ATTEMPTS);
		rc = -EIO;
	}
	return rc;
}

static int store_object(objstore *st, const char *key, const void *data, size_t len,
			bool only_new)
{
	struct file_store *fs = file_of(st);
	const char *op = only_new ? "put_if_absent" : "put";
	char tmp[TMP_NAME_MAX];
	int rc;

	if (reserved_key(key)) {
		log_error("file store: %s %s: keys under %s/ are reserved", op, key, FILE_TMP_DIR);
		return -EINVAL;
	}
	rc = write_temp(fs, op, key, data, len, tmp);
	if (rc)
		return rc;
	rc = publish(fs, op, key, tmp, only_new);
	if (rc == 0)
		rc = sync_key_dir(fs, op, key);
	if (rc || only_new)
		unlinkat(fs->tmpfd, tmp, 0);
	return rc;
}

static int file_put(objstore *st, const char *key, const void *data, size_t len)
{
	return store_object(st, key, data, len, false);
}

static int file_put_if_absent(objstore *st, const char *key, const void *data, size_t len)
{
	return store_object(st, key, data, len, true);
}

/* ---- reading ---- */

/* errnos that mean "no object by that name". */
static bool missing_errno(int e)
{
	return e == ENOENT || e == ENOTDIR || e == ENAMETOOLONG;
}

static int read_all(int fd, void *buf, size_t len, uint64_t off)
{
	char *p = buf;

	while (len) {
		ssize_t n = pread(fd, p, len, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		if (n == 0)
			return EIO; /* the file shrank: someone wrote into the store */
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static int read_range(struct file_store *fs, const char *key, int fd, uint64_t off,
		      uint64_t len, void **data, size_t *out_len)
{
	struct stat st;
	void *buf;
	int e;

	if (fstat(fd, &st))
		return fail(fs, "get", key, "stat", key, errno);
	if (!S_ISREG(st.st_mode))
		return -ENOENT;
	if (off > (uint64_t)st.st_size)
		return -ERANGE;
	if (len > (uint64_t)st.st_size - off)
		len = (uint64_t)st.st_size - off;
	buf = xmalloc((size_t)len);
	e = read_all(fd, buf, (size_t)len, off);
	if (e) {
		free(buf);
		return fail(fs, "get", key, "read", key, e);
	}
	*data = buf;
	*out_len = (size_t)len;
	return 0;
}

static int file_get(objstore *st, const char *key, uint64_t off, uint64_t len,
		    void **data, size_t *out_len)
{
	struct file_store *fs = file_of(st);
	int fd, rc;

	if (reserved_key(key))
		return -ENOENT;
	fd = openat(fs->rootfd, key, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return missing_errno(errno) ? -ENOENT : fail(fs, "get", key, "open", key, errno);
	rc = read_range(fs, key, fd, off, len, data, out_len);
	close(fd);
	return rc;
}

static int file_head(objstore *st, const char *key, struct objstore_info *info)
{
	struct file_store *fs = file_of(st);
	struct stat s;
	uint64_t mtime;

	if (reserved_key(key))
		return -ENOENT;
	if (fstatat(fs->rootfd, key, &s, 0))
		return missing_errno(errno) ? -ENOENT : fail(fs, "head", key, "stat", key, errno);
	if (!S_ISREG(s.st_mode))
		return -ENOENT;
	mtime = (uint64_t)s.st_mtim.tv_sec * 1000000000u + (uint64_t)s.st_mtim.tv_nsec;
	info->size = (uint64_t)s.st_size;
	snprintf(info->etag, sizeof info->etag, "%" PRIx64 "-%" PRIx64 "-%" PRIx64,
		 (uint64_t)s.st_ino, mtime, (uint64_t)s.st_size);
	return 0;
}

static int file_del(objstore *st, const char *key)
{
	struct file_store *fs = file_of(st);
	int rc;

	if (reserved_key(key))
		return 0;
	if (unlinkat(fs->rootfd, key, 0)) {
		if (missing_errno(errno) || errno == EISDIR)
			return 0;
		return fail(fs, "delete", key, "unlink", key, errno);
	}
	rc = sync_key_dir(fs, "delete", key);
	prune_parents(fs, key);
	return rc;
}

/* ---- open and close ---- */

/* Remove temp files left by puts that crashed more than an hour ago. */
static void sweep_temp(struct file_store *fs)
{
	int fd = dup(fs->tmpfd);
	time_t cutoff = time(NULL) - TMP_STALE_SECONDS;
	struct dirent *de;
	struct stat st;
	DIR *d;

	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (!fstatat(fs->tmpfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) &&
		    S_ISREG(st.st_mode) && st.st_mtime < cutoff)
			unlinkat(fs->tmpfd, de->d_name, 0);
	}
	closedir(d);
}

/* fsync the directory holding path (absolute), best effort. */
static void sync_parent(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *parent = xasprintf("%.*s", slash == path ? 1 : (int)(slash - path), path);
	int fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	free(parent);
}

/* mkdir -p for an absolute path, fsyncing the parent of each new
 * directory.  Returns 0 or an errno. */
static int make_root(const char *root)
{
	char *path = xstrdup(root);
	char *slash = path;
	int e = 0;

	do {
		slash = strchr(slash + 1, '/');
		if (slash)
			*slash = '\0';
		if (mkdir(path, 0755) == 0)
			sync_parent(path);
		else if (errno != EEXIST) {
			e = errno;
			goto out;
		}
		if (slash)
			*slash = '/';
	} while (slash);
out:
	free(path);
	return e;
}

/* Open root and root/.tmp, making them if needed.  Returns 0 or an errno
 * with *call naming what failed. */
static int open_dirs(struct file_store *fs, const char **call)
{
	int e;

	*call = "mkdir";
	e = make_root(fs->root);
	if (e)
		return e;
	*call = "open";
	fs->rootfd = open(fs->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fs->rootfd < 0)
		return errno;
	*call = "mkdir " FILE_TMP_DIR " in";
	if (mkdirat(fs->rootfd, FILE_TMP_DIR, 0755) == 0)
		fsync(fs->rootfd);
	else if (errno != EEXIST)
		return errno;
	*call = "open " FILE_TMP_DIR " in";
	fs->tmpfd = openat(fs->rootfd, FILE_TMP_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fs->tmpfd < 0)
		return errno;
	return 0;
}

static void file_close(objstore *st)
{
	struct file_store *fs = file_of(st);

	if (fs->tmpfd >= 0)
		close(fs->tmpfd);
	if (fs->rootfd >= 0)
		close(fs->rootfd);
	free(fs->root);
	free(fs->base.url);
	free(fs);
}

static const struct objstore_ops file_ops = {
	.name = "file",
	.put = file_put,
	.put_if_absent = file_put_if_absent,
	.get = file_get,
	.head = file_head,
	.del = file_del,
	.list = file_store_list,
	.close = file_close,
};

/* The directory of a file:// URL without trailing slashes. */
static char *root_path(const char *path)
{
	size_t n = strlen(path);

	while (n > 1 && path[n - 1] == '/')
		n--;
	return xasprintf("%.*s", (int)n, path);
}

int objstore_file_open(const char *url, const char *path, objstore **out)
{
	struct file_store *fs;
	const char *call;
	int e;

	if (path[0] != '/') {
		log_error("objstore: open %s: a file store needs an absolute path (file:///dir)", url);
		return -EINVAL;
	}
	fs = xcalloc(1, sizeof *fs);
	fs->base.ops = &file_ops;
	fs->base.url = xstrdup(url);
	fs->root = root_path(path);
	fs->rootfd = fs->tmpfd = -1;
	e = open_dirs(fs, &call);
	if (e) {
		log_error("file store: open %s: %s %s: %s", url, call, fs->root, strerror(e));
		file_close(&fs->base);
		return file_store_errno(e);
	}
	sweep_temp(fs);
	*out = &fs->base;
	return 0;
}
