/* fuse_ops.c -- the FUSE request handlers: one fs.h call per request.
 *
 * Each handler takes the caller's credentials from the request (uid, gid,
 * and the supplementary groups libfuse reads from /proc), calls the core,
 * and replies; a negative errno from the core becomes fuse_reply_err.  The
 * core checks every permission on every call (the mount also asks the
 * kernel for default_permissions, see mount.c), so handlers only
 * translate.
 *
 * Node ids are inode numbers (stable, never reused), so lookup and forget
 * keep no counts.  File handles carry nothing: the core keeps an open
 * count per inode (fs_open_file / fs_release) and reads and writes go by
 * inode.  What the kernel does on its own behalf:
 *  - with the write-back cache it writes dirty pages back (credentials
 *    uid 0) and may read through a file opened write-only; fs_read and
 *    fs_write need no permission, it was checked at open;
 *  - changes made through an open file (ftruncate, the write-back of
 *    mtime/ctime at close) were authorised by the open, so they are made
 *    with the privileges of the open file (see setattr_cred), as fs_write
 *    does;
 *  - open(O_CREAT) of a new file succeeds whatever its mode says, as
 *    POSIX wants (op_create opens it without a permission check).
 *
 * Coherence: the mount is not the only writer (NFS, 9P, NBD and the admin
 * socket change the same core).  The rules (inval.h, inval.c):
 *  - every fs_cred built here carries the mount's origin; the core's
 *    notifications of the mount's own changes are ignored (the kernel
 *    knows them, and may hold the inode's locks waiting for our reply);
 *  - a change made elsewhere is sent to the kernel from the invalidation
 *    thread, never from a handler: a name as inval_entry (which also drops
 *    a negative dentry, so misses may still be cached for entry_timeout),
 *    an inode as inval_inode of its attributes and all its pages;
 *  - keep_cache on open only when the inode was not changed elsewhere
 *    since the previous open (fuse_inval_keep_cache);
 *  - with the write-back cache the kernel trusts its own size and mtime
 *    of a regular file: the invalidation thread corrects them through the
 *    mount (a truncate and a utimensat), and op_setattr answers those
 *    requests of its own with the core's attributes, changing nothing;
 *  - a write through the mount and one made elsewhere to the same bytes:
 *    the last to reach the core wins, as on NFS (dirty pages reach it at
 *    write-back, or when an invalidation flushes them); with the write-back
 *    cache the unit is the kernel's page, written back whole.
 *
 * Why default_permissions, for the record: the kernel walks cached names
 * (entry_timeout) without asking us, so without it search permission on a
 * directory would be checked only when a name is looked up, not at every
 * walk. */
#include "fuse/fuse_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "fs/fs.h"
#include "fuse/inval.h"
#include "util/log.h"
#include "util/mem.h"

#define CRED_GROUPS 32          /* groups read without allocating */
#define ST_BLKSIZE (128u << 10) /* st_blksize: the I/O size we like */
#define MAX_WRITE (1u << 20)
#define CREATE_TRIES 4

_Static_assert(sizeof(gid_t) == sizeof(uint32_t), "gid_t is 32-bit");
_Static_assert(FS_ROOT_INO == FUSE_ROOT_ID, "root inode is the FUSE root");

/* ---- credentials ---- */

struct req_cred {
	struct fs_cred c;
	uint32_t small[CRED_GROUPS];
	uint32_t *big;
};

static struct fuse_frontend *ff_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* uid and gid only: for calls that check nothing (read, write). */
static void cred_light(fuse_req_t req, struct req_cred *rc)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	memset(&rc->c, 0, sizeof rc->c);
	rc->c.uid = ctx->uid;
	rc->c.gid = ctx->gid;
	rc->c.origin = ff_of(req)->origin;
	rc->big = NULL;
}

/* uid, gid and supplementary groups.  Root needs no groups; a request the
 * kernel makes itself (pid 0) has none. */
static void cred_full(fuse_req_t req, struct req_cred *rc)
{
	cred_light(req, rc);
	if (rc->c.uid == 0 || fuse_req_ctx(req)->pid == 0)
		return;
	int n = fuse_req_getgroups(req, CRED_GROUPS, (gid_t *)rc->small);
	if (n > CRED_GROUPS) {
		rc->big = xmalloc((size_t)n * sizeof(uint32_t));
		int m = fuse_req_getgroups(req, n, (gid_t *)rc->big);
		n = m < n ? m : n;
	}
	if (n <= 0)
		return;
	rc->c.ngroups = (uint32_t)n;
	rc->c.groups = rc->big ? rc->big : rc->small;
}

static void cred_done(struct req_cred *rc)
{
	free(rc->big);
}

/* Root, for what an open file was already allowed to do. */
static struct fs_cred open_file_cred(const struct fuse_frontend *ff)
{
	struct fs_cred c = { 0, 0, 0, NULL, ff->origin };
	return c;
}

/* ---- attributes ---- */

static void attr_to_stat(const struct fs_attr *a, struct stat *st)
{
	memset(st, 0, sizeof *st);
	st->st_ino = a->ino;
	st->st_mode = a->mode;
	st->st_nlink = a->nlink;
	st->st_uid = a->uid;
	st->st_gid = a->gid;
	st->st_size = (off_t)a->size;
	st->st_blocks = (blkcnt_t)a->blocks;
	st->st_blksize = ST_BLKSIZE;
	st->st_rdev = (dev_t)a->rdev;
	st->st_atim = a->atime;
	st->st_mtim = a->mtime;
	st->st_ctim = a->ctime;
}

static void entry_fill(const struct fuse_frontend *ff, const struct fs_attr *a,
		       struct fuse_entry_param *e)
{
	memset(e, 0, sizeof *e);
	e->ino = a->ino;
	e->generation = a->generation;
	attr_to_stat(a, &e->attr);
	e->attr_timeout = ff->attr_timeout;
	e->entry_timeout = ff->entry_timeout;
}

static void reply_entry(fuse_req_t req, int r, const struct fs_attr *a)
{
	struct fuse_entry_param e;
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	entry_fill(ff_of(req), a, &e);
	fuse_reply_entry(req, &e);
}

static void reply_attr(fuse_req_t req, int r, const struct fs_attr *a)
{
	struct stat st;
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	attr_to_stat(a, &st);
	fuse_reply_attr(req, &st, ff_of(req)->attr_timeout);
}

/* ---- session ---- */

static void want(struct fuse_conn_info *conn, unsigned cap)
{
	if (conn->capable & cap)
		conn->want |= cap;
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct fuse_frontend *ff = userdata;
	want(conn, FUSE_CAP_ATOMIC_O_TRUNC);
	want(conn, FUSE_CAP_ASYNC_READ);
	want(conn, FUSE_CAP_PARALLEL_DIROPS);
	want(conn, FUSE_CAP_AUTO_INVAL_DATA);
	want(conn, FUSE_CAP_CACHE_SYMLINKS);   /* a symlink never changes */
	want(conn, FUSE_CAP_POSIX_LOCKS);      /* locks are the core's (fuse_locks.c) */
	want(conn, FUSE_CAP_FLOCK_LOCKS);
	if (ff->writeback && !ff->read_only)
		want(conn, FUSE_CAP_WRITEBACK_CACHE);
	/* What was granted: with it the kernel owns mtime/ctime of writes. */
	ff->writeback = (conn->want & FUSE_CAP_WRITEBACK_CACHE) != 0;
	if (ff->inval)
		fuse_inval_set_writeback(ff->inval, ff->writeback);
	/* The kernel clears setuid/setgid itself (by a setattr of the mode):
	 * with the write-back cache our writes come as uid 0 and could not. */
	conn->want &= ~(unsigned)FUSE_CAP_HANDLE_KILLPRIV;
	conn->max_write = MAX_WRITE;
	conn->max_background = 64;
	conn->congestion_threshold = 48;
	conn->time_gran = 1;
	log_debug("fuse: kernel protocol %u.%u, write-back cache %s", conn->proto_major,
		  conn->proto_minor, conn->want & FUSE_CAP_WRITEBACK_CACHE ? "on" : "off");
}

/* ---- names ---- */

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_frontend *ff = ff_of(req);
	struct req_cred rc;
	struct fs_attr a;
	cred_full(req, &rc);
	int r = fs_lookup(ff->fs, &rc.c, parent, name, &a);
	cred_done(&rc);
	if (r == -ENOENT && !ff->read_only) {
		/* A miss can be cached: a name created elsewhere comes with an
		 * inval_entry that drops the negative dentry (a replica's names
		 * change under it unannounced: no caching there). */
		struct fuse_entry_param e;
		memset(&e, 0, sizeof e);
		e.entry_timeout = ff->entry_timeout;
		fuse_reply_entry(req, &e);
		return;
	}
	reply_entry(req, r, &a);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs_attr a;
	int r = fs_getattr(ff_of(req)->fs, ino, &a);
	reply_attr(req, r, &a);
}

static void setattr_times(const struct stat *st, int to_set, struct fs_setattr *sa)
{
	if (to_set & FUSE_SET_ATTR_ATIME_NOW) {
		sa->valid |= FS_SET_ATIME_NOW;
	} else if (to_set & FUSE_SET_ATTR_ATIME) {
		sa->valid |= FS_SET_ATIME;
		sa->atime = st->st_atim;
	}
	if (to_set & FUSE_SET_ATTR_MTIME_NOW) {
		sa->valid |= FS_SET_MTIME_NOW;
	} else if (to_set & FUSE_SET_ATTR_MTIME) {
		sa->valid |= FS_SET_MTIME;
		sa->mtime = st->st_mtim;
	}
	if (to_set & FUSE_SET_ATTR_CTIME) {
		sa->valid |= FS_SET_CTIME;
		sa->ctime = st->st_ctim;
	}
}

static void setattr_from_stat(const struct stat *st, int to_set, struct fs_setattr *sa)
{
	memset(sa, 0, sizeof *sa);
	if (to_set & FUSE_SET_ATTR_MODE) {
		sa->valid |= FS_SET_MODE;
		sa->mode = st->st_mode & 07777;
	}
	if (to_set & FUSE_SET_ATTR_UID) {
		sa->valid |= FS_SET_UID;
		sa->uid = st->st_uid;
	}
	if (to_set & FUSE_SET_ATTR_GID) {
		sa->valid |= FS_SET_GID;
		sa->gid = st->st_gid;
	}
	if (to_set & FUSE_SET_ATTR_SIZE) {
		sa->valid |= FS_SET_SIZE;
		sa->size = (uint64_t)st->st_size;
	}
	setattr_times(st, to_set, sa);
}

/* A size or time change was already allowed by the kernel: it checks
 * them itself (default_permissions: write permission for truncate and for
 * "set to now", ownership for explicit times), and with the write-back
 * cache it sends "now" as an explicit time, so the core could not tell
 * the two apart.  Anything touching the owner or the mode is checked by
 * the core as the caller too. */
static bool setattr_by_open_file(int to_set, const struct fuse_file_info *fi)
{
	(void)fi;
	return !(to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID));
}

static bool setattr_times_only(int to_set)
{
	return !(to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID |
			   FUSE_SET_ATTR_SIZE));
}

/* With the write-back cache the kernel writes back the times it keeps of a
 * regular file it still caches after the file's last name and open are
 * gone (the core reclaimed it: ENOENT).  There is nothing left to update;
 * failing would surface as an error of syncfs(2) on the whole mount. */
static void reply_gone_file(fuse_req_t req, fuse_ino_t ino, const struct stat *st)
{
	struct stat gone = *st;
	gone.st_ino = ino;
	gone.st_mode = S_IFREG;
	gone.st_nlink = 0;
	fuse_reply_attr(req, &gone, 0);
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *st, int to_set,
		       struct fuse_file_info *fi)
{
	struct fs_setattr sa;
	struct req_cred rc;
	struct fs_attr a;
	if ((to_set & FUSE_SET_ATTR_SIZE) && st->st_size < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	struct fuse_frontend *ff = ff_of(req);
	if (ff->inval && fuse_inval_is_own_request(ff->inval, fuse_req_ctx(req)->pid)) {
		/* The write-back fix-up: the kernel is to take the core's size
		 * and times, which already are what they should be. */
		int r = fs_getattr(ff->fs, ino, &a);
		reply_attr(req, r, &a);
		return;
	}
	setattr_from_stat(st, to_set, &sa);
	cred_full(req, &rc);
	struct fs_cred by_open = open_file_cred(ff);
	const struct fs_cred *c = setattr_by_open_file(to_set, fi) ? &by_open : &rc.c;
	int r = fs_setattr(ff->fs, c, ino, &sa, &a, NULL);
	cred_done(&rc);
	if (r == -ENOENT && setattr_times_only(to_set)) {
		reply_gone_file(req, ino, st);
		return;
	}
	reply_attr(req, r, &a);
}

static void op_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	struct req_cred rc;
	cred_full(req, &rc);
	int r = fs_access(ff_of(req)->fs, &rc.c, ino, mask);
	cred_done(&rc);
	fuse_reply_err(req, -r);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	char buf[FS_SYMLINK_MAX + 1];
	size_t len = 0;
	int r = fs_readlink(ff_of(req)->fs, ino, buf, FS_SYMLINK_MAX, &len);
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	buf[len < FS_SYMLINK_MAX ? len : FS_SYMLINK_MAX] = '\0';
	fuse_reply_readlink(req, buf);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		     dev_t rdev)
{
	struct req_cred rc;
	struct fs_attr a;
	cred_full(req, &rc);
	int r = fs_mknod(ff_of(req)->fs, &rc.c, parent, name, mode, rdev, &a, NULL);
	cred_done(&rc);
	reply_entry(req, r, &a);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct req_cred rc;
	struct fs_attr a;
	cred_full(req, &rc);
	int r = fs_mkdir(ff_of(req)->fs, &rc.c, parent, name, mode & 07777, &a, NULL);
	cred_done(&rc);
	reply_entry(req, r, &a);
}

static void op_symlink(fuse_req_t req, const char *target, fuse_ino_t parent, const char *name)
{
	struct req_cred rc;
	struct fs_attr a;
	cred_full(req, &rc);
	int r = fs_symlink(ff_of(req)->fs, &rc.c, parent, name, target, &a, NULL);
	cred_done(&rc);
	reply_entry(req, r, &a);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	struct req_cred rc;
	struct fs_attr a;
	cred_full(req, &rc);
	int r = fs_link(ff_of(req)->fs, &rc.c, ino, newparent, newname, &a, NULL);
	cred_done(&rc);
	reply_entry(req, r, &a);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct req_cred rc;
	cred_full(req, &rc);
	int r = fs_unlink(ff_of(req)->fs, &rc.c, parent, name, NULL);
	cred_done(&rc);
	fuse_reply_err(req, -r);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct req_cred rc;
	cred_full(req, &rc);
	int r = fs_rmdir(ff_of(req)->fs, &rc.c, parent, name, NULL);
	cred_done(&rc);
	fuse_reply_err(req, -r);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		      const char *newname, unsigned int flags)
{
	struct req_cred rc;
	if (flags & ~(unsigned)(RENAME_NOREPLACE | RENAME_EXCHANGE)) {
		fuse_reply_err(req, EINVAL); /* RENAME_WHITEOUT: overlayfs only */
		return;
	}
	cred_full(req, &rc);
	int r = fs_rename(ff_of(req)->fs, &rc.c, parent, name, newparent, newname, flags, NULL);
	cred_done(&rc);
	fuse_reply_err(req, -r);
}

/* ---- files ---- */

static void open_fill(const struct fuse_frontend *ff, uint64_t ino, struct fuse_file_info *fi)
{
	/* The page cache stays right across opens unless the file changed
	 * elsewhere since; a replica's files change under it unannounced. */
	fi->keep_cache = !ff->read_only && (!ff->inval || fuse_inval_keep_cache(ff->inval, ino));
	fi->fh = fuse_lock_handle_new();  /* fuse_locks.c */
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fuse_frontend *ff = ff_of(req);
	struct req_cred rc;
	cred_full(req, &rc);
	int r = fs_open_file(ff->fs, &rc.c, ino, fi->flags);
	cred_done(&rc);
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	open_fill(ff, ino, fi);
	if (fuse_reply_open(req, fi) == -ENOENT)
		fs_release(ff->fs, ino); /* interrupted: no release will come */
}

/* Open an existing name for create without O_EXCL: checked like open(2). */
static int create_open_existing(struct fs *fs, const struct fs_cred *c, fuse_ino_t parent,
				const char *name, int flags, struct fs_attr *a)
{
	int r = fs_lookup(fs, c, parent, name, a);
	if (r < 0)
		return r;
	if (S_ISDIR(a->mode))
		return -EISDIR;
	r = fs_open_file(fs, c, a->ino, flags & ~(O_CREAT | O_EXCL));
	if (r < 0)
		return r;
	r = fs_getattr(fs, a->ino, a); /* O_TRUNC changed the size */
	if (r < 0)
		fs_release(fs, a->ino);
	return r;
}

static int create_file(const struct fuse_frontend *ff, const struct fs_cred *c,
		       fuse_ino_t parent, const char *name, mode_t mode, int flags,
		       struct fs_attr *a)
{
	struct fs *fs = ff->fs;
	struct fs_cred by_open = open_file_cred(ff);
	int r = -EEXIST;
	for (int i = 0; i < CREATE_TRIES; i++) {
		r = fs_mknod(fs, c, parent, name, S_IFREG | (mode & 07777), 0, a, NULL);
		if (r == 0)
			/* New: open(2) grants the access asked whatever the mode. */
			return fs_open_file(fs, &by_open, a->ino,
					    flags & ~(O_CREAT | O_EXCL | O_TRUNC));
		if (r != -EEXIST || (flags & O_EXCL))
			return r;
		r = create_open_existing(fs, c, parent, name, flags, a);
		if (r != -ENOENT)
			return r;
		/* Removed between the two calls: try again. */
	}
	return r;
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	struct fuse_frontend *ff = ff_of(req);
	struct fuse_entry_param e;
	struct req_cred rc;
	struct fs_attr a;
	cred_full(req, &rc);
	int r = create_file(ff, &rc.c, parent, name, mode, fi->flags, &a);
	cred_done(&rc);
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	entry_fill(ff, &a, &e);
	open_fill(ff, a.ino, fi);
	if (fuse_reply_create(req, &e, fi) == -ENOENT)
		fs_release(ff->fs, a.ino);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	size_t got = 0;
	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	char *buf = xmalloc(size ? size : 1);
	int r = fs_read(ff_of(req)->fs, ino, (uint64_t)off, buf, size, &got);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_buf(req, buf, got);
	free(buf);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct req_cred rc;
	size_t put = 0;
	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	cred_light(req, &rc);
	struct fuse_frontend *ff = ff_of(req);
	int r = fs_write_ex(ff->fs, &rc.c, ino, (uint64_t)off, buf, size,
			    ff->writeback && !ff->read_only ? FS_WRITE_KEEP_TIMES : 0, &put, NULL);
	if (r < 0 && put == 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_write(req, put);
}

/* close(2) is not a durability point, as on ext4: fsync is. */
static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fuse_locks_flush(req, ino, fi);
	fuse_reply_err(req, 0);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fuse_locks_release(req, ino, fi);
	fs_release(ff_of(req)->fs, ino);
	fuse_reply_err(req, 0);
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	int r = fs_fsync(ff_of(req)->fs, ino, datasync != 0);
	fuse_reply_err(req, -r);
}

static void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
			 struct fuse_file_info *fi)
{
	struct req_cred rc;
	if (off < 0 || len <= 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	cred_full(req, &rc);
	int r = fs_fallocate(ff_of(req)->fs, &rc.c, ino, mode, (uint64_t)off, (uint64_t)len, NULL);
	cred_done(&rc);
	fuse_reply_err(req, -r);
}

/* ---- directories ---- */

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct req_cred rc;
	cred_full(req, &rc);
	int r = fs_access(ff_of(req)->fs, &rc.c, ino, R_OK);
	cred_done(&rc);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_open(req, fi);
}

struct dirbuf {
	fuse_req_t req;
	struct fuse_frontend *ff;
	char *buf;
	size_t size, used;
	bool plus;
};

static size_t dirbuf_add_plus(struct dirbuf *d, const char *name, uint64_t ino, uint64_t next,
			      bool *skip)
{
	struct fuse_entry_param e;
	struct fs_attr a;
	if (fs_getattr(d->ff->fs, ino, &a) < 0) {
		*skip = true; /* removed since the listing read it */
		return 0;
	}
	entry_fill(d->ff, &a, &e);
	return fuse_add_direntry_plus(d->req, d->buf + d->used, d->size - d->used, name, &e,
				      (off_t)next);
}

/* fs_readdir callback: non-zero when the entry does not fit (not consumed;
 * the kernel asks again from its cookie). */
static int dirbuf_add(void *arg, const char *name, uint64_t ino, uint32_t type, uint64_t next)
{
	struct dirbuf *d = arg;
	bool skip = false;
	size_t need;
	if (d->plus) {
		need = dirbuf_add_plus(d, name, ino, next, &skip);
		if (skip)
			return 0;
	} else {
		struct stat st;
		memset(&st, 0, sizeof st);
		st.st_ino = ino;
		st.st_mode = DTTOIF(type);
		need = fuse_add_direntry(d->req, d->buf + d->used, d->size - d->used, name, &st,
					 (off_t)next);
	}
	if (need > d->size - d->used)
		return 1;
	d->used += need;
	return 0;
}

static void readdir_common(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus)
{
	struct dirbuf d = { req, ff_of(req), NULL, size, 0, plus };
	struct req_cred rc;
	d.buf = xmalloc(size ? size : 1);
	cred_full(req, &rc);
	int r = fs_readdir(d.ff->fs, &rc.c, ino, (uint64_t)off, dirbuf_add, &d);
	cred_done(&rc);
	if (r < 0 && d.used == 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_buf(req, d.buf, d.used);
	free(d.buf);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	readdir_common(req, ino, size, off, false);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	readdir_common(req, ino, size, off, true);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fuse_reply_err(req, 0);
}

static void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	int r = fs_fsync(ff_of(req)->fs, ino, datasync != 0);
	fuse_reply_err(req, -r);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct fs_statfs s;
	struct statvfs v;
	int r = fs_statfs(ff_of(req)->fs, &s);
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	memset(&v, 0, sizeof v);
	v.f_bsize = s.bsize;
	v.f_frsize = s.bsize;
	v.f_blocks = s.blocks;
	v.f_bfree = s.bfree;
	v.f_bavail = s.bavail;
	v.f_files = s.files;
	v.f_ffree = s.ffree;
	v.f_favail = s.ffree;
	v.f_namemax = s.namemax;
	fuse_reply_statfs(req, &v);
}

/* ---- extended attributes ---- */

/* POSIX ACLs would be stored but not enforced (the kernel enforces them
 * only with FUSE_CAP_POSIX_ACL): refuse them, as ext4 mounted noacl does. */
static bool is_acl_name(const char *name)
{
	return !strncmp(name, "system.posix_acl_", 17);
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
			size_t size, int flags)
{
	struct req_cred rc;
	if (is_acl_name(name)) {
		fuse_reply_err(req, EOPNOTSUPP);
		return;
	}
	cred_full(req, &rc);
	int r = fs_setxattr(ff_of(req)->fs, &rc.c, ino, name, value, size, flags, NULL);
	cred_done(&rc);
	fuse_reply_err(req, -r);
}

/* size 0 asks for the size; otherwise the value must fit (ERANGE). */
static void reply_xattr_buf(fuse_req_t req, int r, const char *buf, size_t size, size_t len)
{
	if (r < 0)
		fuse_reply_err(req, -r);
	else if (size == 0)
		fuse_reply_xattr(req, len);
	else if (len > size)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, buf, len);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct req_cred rc;
	size_t len = 0;
	char *buf = size ? xmalloc(size) : NULL;
	cred_full(req, &rc);
	int r = fs_getxattr(ff_of(req)->fs, &rc.c, ino, name, buf, size, &len);
	cred_done(&rc);
	reply_xattr_buf(req, r, buf, size, len);
	free(buf);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct req_cred rc;
	size_t len = 0;
	char *buf = size ? xmalloc(size) : NULL;
	cred_full(req, &rc);
	int r = fs_listxattr(ff_of(req)->fs, &rc.c, ino, buf, size, &len);
	cred_done(&rc);
	reply_xattr_buf(req, r, buf, size, len);
	free(buf);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct req_cred rc;
	cred_full(req, &rc);
	int r = fs_removexattr(ff_of(req)->fs, &rc.c, ino, name, NULL);
	cred_done(&rc);
	fuse_reply_err(req, -r);
}

const struct fuse_lowlevel_ops fuse_frontend_ops = {
	.init = op_init,
	.destroy = fuse_op_destroy,
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.setattr = op_setattr,
	.access = op_access,
	.readlink = op_readlink,
	.mknod = op_mknod,
	.mkdir = op_mkdir,
	.symlink = op_symlink,
	.link = op_link,
	.unlink = op_unlink,
	.rmdir = op_rmdir,
	.rename = op_rename,
	.open = op_open,
	.create = op_create,
	.read = op_read,
	.write = op_write,
	.flush = op_flush,
	.release = op_release,
	.fsync = op_fsync,
	.fallocate = op_fallocate,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.readdirplus = op_readdirplus,
	.releasedir = op_releasedir,
	.fsyncdir = op_fsyncdir,
	.statfs = op_statfs,
	.setxattr = op_setxattr,
	.getxattr = op_getxattr,
	.listxattr = op_listxattr,
	.removexattr = op_removexattr,
	.getlk = fuse_op_getlk,
	.setlk = fuse_op_setlk,
	.flock = fuse_op_flock,
};
