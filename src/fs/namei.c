/* namei.c -- names: lookup, create (mknod, mkdir, symlink, and create+open
 * with NFS's exclusive-create verifier), link, unlink and rmdir.  Each
 * operation is one fs_op: it loads what it touches under the inode locks,
 * checks every rule, then commits one batch. */
#include "fs/fs_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/coding.h"
#include "util/mem.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

static int load_dir(struct fs *fs, uint64_t ino, struct inode *dir)
{
	int r = fs_inode_load(fs, ino, dir);
	if (r == 0 && !S_ISDIR(dir->mode)) {
		fs_inode_free(dir);
		r = -ENOTDIR;
	}
	return r;
}

int fs_lookup(struct fs *fs, const struct fs_cred *c, uint64_t parent, const char *name,
	      struct fs_attr *out)
{
	struct inode dir;
	uint64_t ino, t0 = fs_clock_ns();
	int r = load_dir(fs, parent, &dir);
	if (r < 0)
		goto out;
	r = fs_may(c, &dir, X_OK);
	if (r == 0 && strlen(name) > FS_NAME_MAX)
		r = -ENAMETOOLONG;
	if (r == 0) {
		if (!strcmp(name, "."))
			ino = parent;
		else if (!strcmp(name, ".."))
			ino = dir.parent ? dir.parent : parent;
		else
			r = fs_dir_get(fs, parent, name, &ino, NULL, NULL);
	}
	if (r == 0)
		r = fs_attr_load(fs, ino, out);
	fs_inode_free(&dir);
out:
	fs_stat_count(fs, FS_OP_LOOKUP, t0, r);
	return r;
}

/* Checks shared by every operation that adds a name to dir. */
static int may_create(struct fs *fs, const struct fs_cred *c, struct inode *dir, const char *name)
{
	uint64_t ino;
	int r = fs_may(c, dir, W_OK | X_OK);
	if (r < 0)
		return r;
	if (dir->nlink == 0)
		return -ENOENT; /* removed while we looked */
	r = fs_dir_get(fs, dir->ino, name, &ino, NULL, NULL);
	if (r == 0)
		return -EEXIST;
	return r == -ENOENT ? 0 : r;
}

static int check_new_name(const char *name)
{
	int r = fs_check_name(name);
	if (r == 0 && (!strcmp(name, ".") || !strcmp(name, "..")))
		r = -EEXIST;
	return r;
}

/* A new inode named name in dir, staged in op. */
static struct inode *new_node(struct fs_op *op, struct inode *dir, const char *name,
			      uint32_t mode, uint64_t rdev, const char *target)
{
	const struct fs_cred *c = op->c;
	struct inode *in = fs_op_new(op);
	in->mode = mode;
	in->uid = c->uid;
	in->gid = c->gid;
	if (dir->mode & S_ISGID) {
		/* A setgid directory hands its group on (and setgid to
		 * subdirectories); a file keeps setgid only if its creator
		 * belongs to that group, as Linux does. */
		in->gid = dir->gid;
		if (S_ISDIR(mode))
			in->mode |= S_ISGID;
		else if ((in->mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP) &&
			 c->uid != 0 && !fs_in_group(c, dir->gid))
			in->mode &= ~(uint32_t)S_ISGID;
	}
	in->nlink = S_ISDIR(mode) ? 2 : 1;
	in->rdev = rdev;
	fs_now(&in->ctime);
	in->atime = in->mtime = in->ctime;
	in->parent = S_ISDIR(mode) ? dir->ino : 0;
	in->target = target ? xstrdup(target) : NULL;
	in->size = target ? strlen(target) : 0; /* st_size of a symlink */
	fs_dir_add(fs_op_batch(op), dir, name, in->ino, in->mode);
	if (S_ISDIR(mode))
		dir->nlink++;
	dir->mtime = dir->ctime = in->ctime;
	fs_op_dirty(op, dir);
	fs_op_entry(op, dir->ino, name);
	op->d_inodes += 1;
	return in;
}

/* Linux keeps an exclusive create's verifier in mtime and atime seconds
 * until the client's first setattr sets real times. */
static void verf_store(struct inode *in, const uint8_t *verf)
{
	in->mtime.tv_sec = (time_t)be32_get(verf);
	in->atime.tv_sec = (time_t)be32_get(verf + 4);
	in->mtime.tv_nsec = in->atime.tv_nsec = 0;
}

/* Every new inode comes from here.  verf: an exclusive create's verifier
 * to keep (or NULL); open: count an open of the new file before its lock
 * goes, so no unlink can miss it. */
static int create_node(struct fs *fs, const struct fs_cred *c, enum fs_op_kind kind,
		       uint64_t parent, const char *name, uint32_t mode, uint64_t rdev,
		       const char *target, const uint8_t *verf, bool open, struct fs_attr *out,
		       struct fs_wcc_out *wcc)
{
	struct fs_op op;
	struct inode *dir, *in = NULL;
	int r = fs_op_begin(fs, &op, kind, c, true);
	if (r == 0)
		r = check_new_name(name);
	if (r == 0) {
		fs_op_lock(&op, parent, 0, 0, 0);
		r = fs_op_load_dir(&op, parent, &dir);
	}
	if (r == 0)
		r = may_create(fs, c, dir, name);
	if (r == 0)
		r = fs_quota_check(fs, 0, 1);
	if (r == 0) {
		in = new_node(&op, dir, name, mode, rdev, target);
		if (verf)
			verf_store(in, verf);
		r = fs_op_commit(&op);
	}
	if (r == 0 && open)
		fs_open_count_add(fs, in->ino);
	if (r == 0 && out)
		fs_inode_attr(in, out);
	return fs_op_end(&op, r, wcc, in ? in->ino : 0, parent, 0);
}

int fs_mknod(struct fs *fs, const struct fs_cred *c, uint64_t parent, const char *name,
	     uint32_t mode, uint64_t rdev, struct fs_attr *out, struct fs_wcc_out *wcc)
{
	switch (mode & S_IFMT) {
	case 0:
		mode |= S_IFREG;
		break;
	case S_IFREG: case S_IFIFO: case S_IFSOCK:
		break;
	case S_IFCHR: case S_IFBLK:
		if (c->uid != 0)
			return -EPERM;
		break;
	default:
		return -EINVAL;
	}
	if (!S_ISCHR(mode) && !S_ISBLK(mode))
		rdev = 0;
	return create_node(fs, c, FS_OP_MKNOD, parent, name, mode & (S_IFMT | 07777), rdev, NULL,
			   NULL, false, out, wcc);
}

int fs_mkdir(struct fs *fs, const struct fs_cred *c, uint64_t parent, const char *name,
	     uint32_t mode, struct fs_attr *out, struct fs_wcc_out *wcc)
{
	return create_node(fs, c, FS_OP_MKDIR, parent, name, S_IFDIR | (mode & 07777), 0, NULL,
			   NULL, false, out, wcc);
}

int fs_symlink(struct fs *fs, const struct fs_cred *c, uint64_t parent, const char *name,
	       const char *target, struct fs_attr *out, struct fs_wcc_out *wcc)
{
	size_t n = strlen(target);
	if (n == 0)
		return -ENOENT;
	if (n > FS_SYMLINK_MAX)
		return -ENAMETOOLONG;
	return create_node(fs, c, FS_OP_SYMLINK, parent, name, S_IFLNK | 0777, 0, target, NULL,
			   false, out, wcc);
}

/* ---- create + open ---- */

static bool verf_matches(const struct inode *in, const uint8_t *verf)
{
	return S_ISREG(in->mode) && in->size == 0 && in->mtime.tv_sec == (time_t)be32_get(verf) &&
	       in->atime.tv_sec == (time_t)be32_get(verf + 4);
}

/* Lock parent and the child `name` names, making sure the entry still
 * names it once both are locked. */
static int lock_child(struct fs_op *op, uint64_t parent, const char *name, uint64_t *child,
		      uint64_t *cookie)
{
	for (;;) {
		int r = fs_dir_get(op->fs, parent, name, child, NULL, cookie);
		if (r < 0)
			return r;
		fs_op_lock(op, parent, *child, 0, 0);
		uint64_t again;
		r = fs_dir_get(op->fs, parent, name, &again, NULL, cookie);
		if (r == 0 && again == *child)
			return 0;
		fs_op_unlock(op);
		if (r < 0)
			return r;
	}
}

static int open_mask(int flags)
{
	int acc = flags & O_ACCMODE;
	int mask = acc == O_RDONLY ? R_OK : acc == O_WRONLY ? W_OK : R_OK | W_OK;
	return (flags & O_TRUNC) ? mask | W_OK : mask;
}

/* The name exists: an exclusive create fails (unless it is the retry of
 * one with this verifier), anything else opens it. */
static int create_existing(struct fs *fs, const struct fs_cred *c, uint64_t parent,
			   const char *name, int flags, const uint8_t *verf, struct fs_attr *out,
			   struct fs_wcc_out *wcc)
{
	struct fs_op op;
	struct inode *dir, *in = NULL;
	uint64_t ino = 0;
	int r = fs_op_begin(fs, &op, FS_OP_CREATE, c, true);
	if (r == 0)
		r = lock_child(&op, parent, name, &ino, NULL);
	if (r == 0)
		r = fs_op_load_dir(&op, parent, &dir);
	if (r == 0)
		r = fs_may(c, dir, X_OK);
	if (r == 0)
		r = fs_op_load(&op, ino, &in);
	if (r == 0 && (flags & O_EXCL))
		r = verf && verf_matches(in, verf) ? 0 : -EEXIST;
	else if (r == 0 && S_ISDIR(in->mode))
		r = -EISDIR;
	else if (r == 0 && S_ISLNK(in->mode))
		r = -ELOOP;
	else if (r == 0 && (r = fs_may(c, in, open_mask(flags))) == 0 && (flags & O_TRUNC) &&
		 S_ISREG(in->mode))
		r = fs_set_size(&op, in, 0); /* stamps the times even when empty, as Linux */
	if (r == 0)
		r = fs_op_commit(&op);
	if (r == 0 && !(flags & FS_CREATE_NOOPEN))
		fs_open_count_add(fs, ino);
	if (r == 0 && out)
		fs_inode_attr(in, out);
	return fs_op_end(&op, r, wcc, ino, parent, 0);
}

static int create_new(struct fs *fs, const struct fs_cred *c, uint64_t parent, const char *name,
		      uint32_t mode, int flags, const uint8_t *verf, struct fs_attr *out,
		      struct fs_wcc_out *wcc)
{
	return create_node(fs, c, FS_OP_CREATE, parent, name, S_IFREG | (mode & 07777), 0, NULL,
			   flags & O_EXCL ? verf : NULL, !(flags & FS_CREATE_NOOPEN), out, wcc);
}

int fs_create(struct fs *fs, const struct fs_cred *c, uint64_t parent, const char *name,
	      uint32_t mode, int flags, const uint8_t *verf, struct fs_attr *out, bool *created,
	      struct fs_wcc_out *wcc)
{
	uint64_t ino;
	int r = check_new_name(name);
	if (r < 0)
		return r;
	if (fs->o.read_only)
		return -EROFS;
	if (created)
		*created = false;
	/* The name may come or go between looking and locking: try again. */
	for (int tries = 0; tries < 8; tries++) {
		r = fs_dir_get(fs, parent, name, &ino, NULL, NULL);
		if (r == 0) {
			r = create_existing(fs, c, parent, name, flags, verf, out, wcc);
			if (r != -ENOENT)
				return r;
		} else if (r == -ENOENT) {
			r = create_new(fs, c, parent, name, mode, flags, verf, out, wcc);
			if (r == 0 && created)
				*created = true;
			if (r != -EEXIST)
				return r;
		} else {
			return r;
		}
	}
	return r;
}

static int readlink_impl(struct fs *fs, uint64_t ino, char *buf, size_t size, size_t *len)
{
	struct inode in;
	int r = fs_inode_load(fs, ino, &in);
	if (r < 0)
		return r;
	if (!S_ISLNK(in.mode) || !in.target) {
		r = -EINVAL;
	} else {
		size_t n = strlen(in.target);
		memcpy(buf, in.target, n < size ? n : size);
		*len = n < size ? n : size;
	}
	fs_inode_free(&in);
	return r;
}

int fs_readlink(struct fs *fs, uint64_t ino, char *buf, size_t size, size_t *len)
{
	uint64_t t0 = fs_clock_ns();
	int r = readlink_impl(fs, ino, buf, size, len);
	fs_stat_count(fs, FS_OP_READLINK, t0, r);
	return r;
}

int fs_link(struct fs *fs, const struct fs_cred *c, uint64_t ino, uint64_t newparent,
	    const char *newname, struct fs_attr *out, struct fs_wcc_out *wcc)
{
	struct fs_op op;
	struct inode *dir, *in;
	int r = fs_op_begin(fs, &op, FS_OP_LINK, c, true);
	if (r == 0)
		r = check_new_name(newname);
	if (r == 0) {
		fs_op_lock(&op, ino, newparent, 0, 0);
		r = fs_op_load_dir(&op, newparent, &dir);
	}
	if (r == 0)
		r = fs_op_load(&op, ino, &in);
	if (r == 0 && S_ISDIR(in->mode))
		r = -EPERM;
	else if (r == 0 && in->nlink == 0)
		r = -ENOENT;
	else if (r == 0 && in->nlink >= FS_LINK_MAX)
		r = -EMLINK;
	if (r == 0)
		r = may_create(fs, c, dir, newname);
	if (r == 0) {
		in->nlink++;
		fs_now(&in->ctime);
		dir->mtime = dir->ctime = in->ctime;
		fs_dir_add(fs_op_batch(&op), dir, newname, in->ino, in->mode);
		fs_op_dirty(&op, in);
		fs_op_dirty(&op, dir);
		fs_op_entry(&op, newparent, newname);
		r = fs_op_commit(&op);
	}
	if (r == 0 && out)
		fs_inode_attr(in, out);
	return fs_op_end(&op, r, wcc, ino, newparent, 0);
}

/* Why a name could not be found: ENOTDIR / EACCES where that is the
 * real reason. */
static int why_missing(struct fs *fs, const struct fs_cred *c, uint64_t parent)
{
	struct inode p;
	int r = load_dir(fs, parent, &p);
	if (r == 0) {
		r = fs_may(c, &p, X_OK) ? -EACCES : -ENOENT;
		fs_inode_free(&p);
	} else if (r == -ENOENT) {
		r = -ENOTDIR;
	}
	return r;
}

static int remove_name(struct fs *fs, const struct fs_cred *c, uint64_t parent, const char *name,
		       bool want_dir, struct fs_wcc_out *wcc)
{
	struct fs_op op;
	struct inode *dir, *in;
	uint64_t ino = 0, cookie;
	int r = fs_op_begin(fs, &op, want_dir ? FS_OP_RMDIR : FS_OP_UNLINK, c, true);
	if (r == 0 && strlen(name) > FS_NAME_MAX)
		r = -ENAMETOOLONG;
	else if (r == 0 && want_dir && !strcmp(name, "."))
		r = -EINVAL;
	else if (r == 0 && want_dir && !strcmp(name, ".."))
		r = -ENOTEMPTY;
	if (r == 0 && (r = lock_child(&op, parent, name, &ino, &cookie)) == -ENOENT)
		r = why_missing(fs, c, parent);
	if (r == 0)
		r = fs_op_load_dir(&op, parent, &dir);
	if (r == 0)
		r = fs_op_load(&op, ino, &in);
	if (r == 0)
		r = fs_may(c, dir, W_OK | X_OK);
	if (r == 0 && !fs_sticky_ok(c, dir, in))
		r = -EPERM;
	if (r == 0 && want_dir && !S_ISDIR(in->mode))
		r = -ENOTDIR;
	if (r == 0 && !want_dir && S_ISDIR(in->mode))
		r = -EISDIR;
	if (r == 0 && want_dir) {
		r = fs_dir_empty(fs, ino);
		r = r == 1 ? 0 : r == 0 ? -ENOTEMPTY : r;
	}
	if (r == 0) {
		fs_dir_del(fs_op_batch(&op), parent, name, cookie);
		fs_op_entry(&op, parent, name);
		fs_now(&dir->mtime);
		dir->ctime = dir->mtime;
		in->ctime = dir->mtime;
		if (want_dir) {
			dir->nlink--;
			in->nlink = 0;
		} else {
			in->nlink--;
		}
		fs_op_dirty(&op, dir);
		if (in->nlink) {
			fs_op_dirty(&op, in);
		} else {
			r = fs_drop_inode(&op, in);
		}
	}
	if (r == 0)
		r = fs_op_commit(&op);
	return fs_op_end(&op, r, wcc, ino, parent, 0);
}

int fs_unlink(struct fs *fs, const struct fs_cred *c, uint64_t parent, const char *name,
	      struct fs_wcc_out *wcc)
{
	return remove_name(fs, c, parent, name, false, wcc);
}

int fs_rmdir(struct fs *fs, const struct fs_cred *c, uint64_t parent, const char *name,
	     struct fs_wcc_out *wcc)
{
	return remove_name(fs, c, parent, name, true, wcc);
}
