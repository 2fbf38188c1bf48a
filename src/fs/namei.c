/* namei.c -- names: lookup, create (mknod, mkdir, symlink), link, unlink,
 * rmdir and rename.  Each operation loads what it touches under the
 * inode locks, checks every rule, then commits one batch. */
#include "fs/fs_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
	struct inode dir, child;
	uint64_t ino;
	int r = load_dir(fs, parent, &dir);
	if (r < 0)
		return r;
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
		r = fs_inode_load(fs, ino, &child);
	if (r == 0) {
		fs_inode_attr(&child, out);
		fs_inode_free(&child);
	}
	fs_inode_free(&dir);
	return r;
}

/* Checks shared by every operation that adds a name to dir. */
static int may_create(struct fs *fs, const struct fs_cred *c, struct inode *dir, const char *name)
{
	uint64_t ino;
	if (fs->o.read_only)
		return -EROFS;
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

static int create_node(struct fs *fs, const struct fs_cred *c, uint64_t parent, const char *name,
		       uint32_t mode, uint64_t rdev, const char *target, struct fs_attr *out)
{
	struct inode dir, in;
	struct fs_commit cm;
	if (fs->o.read_only)
		return -EROFS;
	int r = fs_check_name(name);
	if (r < 0)
		return r;
	if (!strcmp(name, ".") || !strcmp(name, ".."))
		return -EEXIST;
	fs_lock(fs, parent, 0, 0, 0);
	r = load_dir(fs, parent, &dir);
	if (r < 0)
		goto out_unlock;
	r = may_create(fs, c, &dir, name);
	if (r == 0)
		r = fs_quota_check(fs, 0, 1);
	if (r < 0)
		goto out;

	memset(&in, 0, sizeof in);
	in.mode = mode;
	in.uid = c->uid;
	in.gid = c->gid;
	if (dir.mode & S_ISGID) {
		/* A setgid directory hands its group on (and setgid to
		 * subdirectories); a file keeps setgid only if its creator
		 * belongs to that group, as Linux does. */
		in.gid = dir.gid;
		if (S_ISDIR(mode))
			in.mode |= S_ISGID;
		else if ((in.mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP) &&
			 c->uid != 0 && !fs_in_group(c, dir.gid))
			in.mode &= ~(uint32_t)S_ISGID;
	}
	in.nlink = S_ISDIR(mode) ? 2 : 1;
	in.rdev = rdev;
	fs_now(&in.ctime);
	in.atime = in.mtime = in.ctime;
	in.parent = S_ISDIR(mode) ? parent : 0;
	in.target = target ? xstrdup(target) : NULL;
	in.size = target ? strlen(target) : 0; /* st_size of a symlink */

	fs_commit_init(fs, &cm);
	in.ino = fs_commit_alloc_ino(fs, &cm);
	in.generation = 1;
	fs_dir_add(cm.b, &dir, name, in.ino, in.mode);
	if (S_ISDIR(mode))
		dir.nlink++;
	dir.mtime = dir.ctime = in.ctime;
	fs_inode_put(cm.b, &in);
	fs_inode_put(cm.b, &dir);
	cm.d_inodes = 1;
	r = fs_commit_done(fs, &cm);
	if (r == 0 && out)
		fs_inode_attr(&in, out);
	fs_inode_free(&in);
out:
	fs_inode_free(&dir);
out_unlock:
	fs_unlock(fs, parent, 0, 0, 0);
	if (r == 0) {
		fs_notify_entry(fs, c->origin, parent, name);
		fs_notify_inode(fs, c->origin, parent);
	}
	return r;
}

int fs_mknod(struct fs *fs, const struct fs_cred *c, uint64_t parent, const char *name,
	     uint32_t mode, uint64_t rdev, struct fs_attr *out)
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
	return create_node(fs, c, parent, name, mode & (S_IFMT | 07777), rdev, NULL, out);
}

int fs_mkdir(struct fs *fs, const struct fs_cred *c, uint64_t parent, const char *name,
	     uint32_t mode, struct fs_attr *out)
{
	return create_node(fs, c, parent, name, S_IFDIR | (mode & 07777), 0, NULL, out);
}

int fs_symlink(struct fs *fs, const struct fs_cred *c, uint64_t parent, const char *name,
	       const char *target, struct fs_attr *out)
{
	size_t n = strlen(target);
	if (n == 0)
		return -ENOENT;
	if (n > FS_SYMLINK_MAX)
		return -ENAMETOOLONG;
	return create_node(fs, c, parent, name, S_IFLNK | 0777, 0, target, out);
}

int fs_readlink(struct fs *fs, uint64_t ino, char *buf, size_t size, size_t *len)
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

int fs_link(struct fs *fs, const struct fs_cred *c, uint64_t ino, uint64_t newparent,
	    const char *newname, struct fs_attr *out)
{
	struct inode dir, in;
	struct fs_commit cm;
	if (fs->o.read_only)
		return -EROFS;
	int r = fs_check_name(newname);
	if (r < 0)
		return r;
	if (!strcmp(newname, ".") || !strcmp(newname, ".."))
		return -EEXIST;
	fs_lock(fs, ino, newparent, 0, 0);
	r = load_dir(fs, newparent, &dir);
	if (r < 0)
		goto out_unlock;
	r = fs_inode_load(fs, ino, &in);
	if (r < 0)
		goto out_dir;
	if (S_ISDIR(in.mode))
		r = -EPERM;
	else if (in.nlink == 0)
		r = -ENOENT;
	else if (in.nlink >= FS_LINK_MAX)
		r = -EMLINK;
	if (r == 0)
		r = may_create(fs, c, &dir, newname);
	if (r == 0) {
		fs_commit_init(fs, &cm);
		in.nlink++;
		fs_now(&in.ctime);
		dir.mtime = dir.ctime = in.ctime;
		fs_dir_add(cm.b, &dir, newname, in.ino, in.mode);
		fs_inode_put(cm.b, &in);
		fs_inode_put(cm.b, &dir);
		r = fs_commit_done(fs, &cm);
		if (r == 0 && out)
			fs_inode_attr(&in, out);
	}
	fs_inode_free(&in);
out_dir:
	fs_inode_free(&dir);
out_unlock:
	fs_unlock(fs, ino, newparent, 0, 0);
	if (r == 0) {
		fs_notify_entry(fs, c->origin, newparent, newname);
		fs_notify_inode(fs, c->origin, newparent);
		fs_notify_inode(fs, c->origin, ino);
	}
	return r;
}

/* Lock parent and the child `name` names, making sure the entry still
 * names it once both are locked. */
static int lock_child(struct fs *fs, uint64_t parent, const char *name, uint64_t *child,
		      uint64_t *cookie)
{
	for (;;) {
		int r = fs_dir_get(fs, parent, name, child, NULL, cookie);
		if (r < 0)
			return r;
		fs_lock(fs, parent, *child, 0, 0);
		uint64_t again;
		r = fs_dir_get(fs, parent, name, &again, NULL, cookie);
		if (r == 0 && again == *child)
			return 0;
		fs_unlock(fs, parent, *child, 0, 0);
		if (r < 0)
			return r;
	}
}

static int remove_name(struct fs *fs, const struct fs_cred *c, uint64_t parent, const char *name,
		       bool want_dir)
{
	struct inode dir, in;
	struct fs_commit cm;
	uint64_t ino, cookie;
	if (fs->o.read_only)
		return -EROFS;
	if (strlen(name) > FS_NAME_MAX)
		return -ENAMETOOLONG;
	if (want_dir && !strcmp(name, "."))
		return -EINVAL;
	if (want_dir && !strcmp(name, ".."))
		return -ENOTEMPTY;
	int r = lock_child(fs, parent, name, &ino, &cookie);
	if (r < 0) {
		struct inode p;
		if (r == -ENOENT && load_dir(fs, parent, &p) == 0) {
			r = fs_may(c, &p, X_OK) ? -EACCES : -ENOENT;
			fs_inode_free(&p);
		} else if (r == -ENOENT) {
			r = -ENOTDIR;
		}
		return r;
	}
	r = load_dir(fs, parent, &dir);
	if (r < 0)
		goto out_unlock;
	r = fs_inode_load(fs, ino, &in);
	if (r < 0)
		goto out_dir;
	r = fs_may(c, &dir, W_OK | X_OK);
	if (r == 0 && !fs_sticky_ok(c, &dir, &in))
		r = -EPERM;
	if (r == 0 && want_dir && !S_ISDIR(in.mode))
		r = -ENOTDIR;
	if (r == 0 && !want_dir && S_ISDIR(in.mode))
		r = -EISDIR;
	if (r == 0 && want_dir) {
		r = fs_dir_empty(fs, ino);
		r = r == 1 ? 0 : r == 0 ? -ENOTEMPTY : r;
	}
	if (r < 0)
		goto out_in;
	fs_commit_init(fs, &cm);
	fs_dir_del(cm.b, parent, name, cookie);
	fs_now(&dir.mtime);
	dir.ctime = dir.mtime;
	in.ctime = dir.mtime;
	if (want_dir) {
		dir.nlink--;
		in.nlink = 0;
	} else {
		in.nlink--;
	}
	fs_inode_put(cm.b, &dir);
	r = in.nlink ? (fs_inode_put(cm.b, &in), 0) : fs_drop_inode(fs, &cm, &in);
	if (r == 0)
		r = fs_commit_done(fs, &cm);
	else
		fs_commit_abort(fs, &cm);
out_in:
	fs_inode_free(&in);
out_dir:
	fs_inode_free(&dir);
out_unlock:
	fs_unlock(fs, parent, ino, 0, 0);
	if (r == 0) {
		fs_notify_entry(fs, c->origin, parent, name);
		fs_notify_inode(fs, c->origin, parent);
		fs_notify_inode(fs, c->origin, ino);
	}
	return r;
}

int fs_unlink(struct fs *fs, const struct fs_cred *c, uint64_t parent, const char *name)
{
	return remove_name(fs, c, parent, name, false);
}

int fs_rmdir(struct fs *fs, const struct fs_cred *c, uint64_t parent, const char *name)
{
	return remove_name(fs, c, parent, name, true);
}
