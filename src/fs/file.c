/* file.c -- open files, reads, writes, durability, fallocate, and the
 * reclaiming of inodes whose last name went.
 *
 * An inode unlinked while open keeps its record (nlink 0) and gets an
 * orphan key ('O' ino) in the same batch; the last release removes record,
 * xattrs, data and orphan key in one batch.  After a crash fs_open()
 * finds the orphan keys and finishes the job. */
#include "fs/fs_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/coding.h"
#include "util/log.h"
#include "util/mem.h"

static struct open_count **open_slot(struct fs *fs, uint64_t ino)
{
	struct open_count **pp = &fs->opens[ino % 256];
	while (*pp && (*pp)->ino != ino)
		pp = &(*pp)->next;
	return pp;
}

uint32_t fs_open_count(struct fs *fs, uint64_t ino)
{
	pthread_mutex_lock(&fs->open_mu);
	struct open_count *oc = *open_slot(fs, ino);
	uint32_t n = oc ? oc->count : 0;
	pthread_mutex_unlock(&fs->open_mu);
	return n;
}

static void delete_xattrs(struct fs *fs, struct lsm_batch *b, uint64_t ino)
{
	uint8_t prefix[9];
	struct lsm_iter *it;
	prefix[0] = KEY_XATTR;
	be64_put(prefix + 1, ino);
	if (lsm_iter_new(fs->db, prefix, sizeof prefix, NULL, 0, &it) < 0)
		return;
	for (; lsm_iter_valid(it); lsm_iter_next(it)) {
		size_t kl;
		const uint8_t *k = lsm_iter_key(it, &kl);
		lsm_batch_delete(b, k, kl);
	}
	lsm_iter_free(it);
}

int fs_drop_inode(struct fs *fs, struct fs_commit *c, struct inode *in)
{
	uint8_t k[9];
	if (fs_open_count(fs, in->ino) > 0) {
		in->nlink = 0;
		fs_inode_put(c->b, in);
		lsm_batch_put(c->b, k, fs_key_orphan(k, in->ino), "", 0);
		return 0;
	}
	lsm_batch_delete(c->b, k, fs_key_inode(k, in->ino));
	lsm_batch_delete(c->b, k, fs_key_orphan(k, in->ino));
	delete_xattrs(fs, c->b, in->ino);
	if (S_ISREG(in->mode)) {
		int r = data_delete_all(c->txn, in->ino, in->size);
		if (r < 0)
			return r;
		c->d_bytes -= (int64_t)in->size;
	}
	c->d_inodes -= 1;
	return 0;
}

int fs_open_file(struct fs *fs, const struct fs_cred *c, uint64_t ino, int flags)
{
	struct inode in;
	int r = fs_inode_load(fs, ino, &in);
	if (r < 0)
		return r;
	int acc = flags & O_ACCMODE;
	int mask = acc == O_RDONLY ? R_OK : acc == O_WRONLY ? W_OK : R_OK | W_OK;
	if (flags & O_TRUNC)
		mask |= W_OK;
	if (S_ISDIR(in.mode) && (mask & W_OK))
		r = -EISDIR;
	else if (S_ISLNK(in.mode))
		r = -ELOOP;
	else if ((mask & W_OK) && fs->o.read_only)
		r = -EROFS;
	if (r == 0)
		r = fs_may(c, &in, mask);
	fs_inode_free(&in);
	if (r < 0)
		return r;
	pthread_mutex_lock(&fs->open_mu);
	struct open_count **pp = open_slot(fs, ino);
	if (!*pp) {
		*pp = xcalloc(1, sizeof **pp);
		(*pp)->ino = ino;
	}
	(*pp)->count++;
	pthread_mutex_unlock(&fs->open_mu);
	if ((flags & O_TRUNC) && S_ISREG(in.mode)) {
		struct fs_setattr sa = { .valid = FS_SET_SIZE, .size = 0 };
		r = fs_setattr(fs, c, ino, &sa, NULL);
		if (r < 0)
			fs_release(fs, ino);
	}
	return r;
}

void fs_release(struct fs *fs, uint64_t ino)
{
	pthread_mutex_lock(&fs->open_mu);
	struct open_count **pp = open_slot(fs, ino), *oc = *pp;
	bool last = oc && --oc->count == 0;
	if (last) {
		*pp = oc->next;
		free(oc);
	}
	pthread_mutex_unlock(&fs->open_mu);
	if (!last || fs->o.read_only)
		return;
	/* The last close of a file with no name left: reclaim it. */
	struct inode in;
	fs_lock(fs, ino, 0, 0, 0);
	if (fs_inode_load(fs, ino, &in) == 0) {
		if (in.nlink == 0 && fs_open_count(fs, ino) == 0) {
			struct fs_commit cm;
			fs_commit_init(fs, &cm);
			if (fs_drop_inode(fs, &cm, &in) == 0)
				fs_commit_done(fs, &cm);
			else
				fs_commit_abort(fs, &cm);
		}
		fs_inode_free(&in);
	}
	fs_unlock(fs, ino, 0, 0, 0);
}

/* relatime: update atime if it is older than mtime/ctime or a day old. */
static void touch_atime(struct fs *fs, uint64_t ino)
{
	struct inode in;
	struct timespec now;
	fs_now(&now);
	fs_lock(fs, ino, 0, 0, 0);
	if (fs_inode_load(fs, ino, &in) == 0) {
		bool stale = in.atime.tv_sec < in.mtime.tv_sec ||
			     (in.atime.tv_sec == in.mtime.tv_sec && in.atime.tv_nsec <= in.mtime.tv_nsec) ||
			     in.atime.tv_sec < in.ctime.tv_sec ||
			     now.tv_sec - in.atime.tv_sec >= 24 * 3600;
		if (stale && in.nlink) {
			struct fs_commit cm;
			fs_commit_init(fs, &cm);
			in.atime = now;
			fs_inode_put(cm.b, &in);
			fs_commit_done(fs, &cm);
		}
		fs_inode_free(&in);
	}
	fs_unlock(fs, ino, 0, 0, 0);
}

int fs_read(struct fs *fs, uint64_t ino, uint64_t off, void *buf, size_t len, size_t *got)
{
	struct inode in;
	int r = fs_inode_load(fs, ino, &in);
	if (r < 0)
		return r;
	*got = 0;
	if (S_ISDIR(in.mode))
		r = -EISDIR;
	else if (!S_ISREG(in.mode))
		r = -EINVAL;
	else if (off < in.size) {
		size_t n = in.size - off < len ? (size_t)(in.size - off) : len;
		r = data_read(fs->data, ino, off, buf, n);
		if (r == 0)
			*got = n;
	}
	fs_inode_free(&in);
	if (r == 0 && fs->o.atime && !fs->o.read_only)
		touch_atime(fs, ino);
	return r;
}

/* Writing by an unprivileged user drops setuid, and setgid when the group
 * can execute, as Linux does (file_remove_privs). */
static void kill_priv(const struct fs_cred *c, struct inode *in)
{
	if (c->uid == 0)
		return;
	in->mode &= ~(uint32_t)S_ISUID;
	if ((in->mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP))
		in->mode &= ~(uint32_t)S_ISGID;
}

int fs_write(struct fs *fs, const struct fs_cred *c, uint64_t ino, uint64_t off,
	     const void *buf, size_t len, size_t *put)
{
	return fs_write_ex(fs, c, ino, off, buf, len, 0, put);
}

int fs_write_ex(struct fs *fs, const struct fs_cred *c, uint64_t ino, uint64_t off,
		const void *buf, size_t len, unsigned flags, size_t *put)
{
	struct inode in;
	struct fs_commit cm;
	*put = 0;
	if (fs->o.read_only)
		return -EROFS;
	if (off > INT64_MAX || len > (uint64_t)INT64_MAX - off)
		return -EFBIG;
	fs_lock(fs, ino, 0, 0, 0);
	int r = fs_inode_load(fs, ino, &in);
	if (r < 0)
		goto out_unlock;
	if (!S_ISREG(in.mode)) {
		r = S_ISDIR(in.mode) ? -EISDIR : -EINVAL;
		goto out;
	}
	uint64_t end = off + len;
	int64_t growth = end > in.size ? (int64_t)(end - in.size) : 0;
	r = fs_quota_check(fs, growth, 0);
	if (r < 0 || len == 0)
		goto out;
	fs_commit_init(fs, &cm);
	r = data_write(cm.txn, ino, off, buf, len);
	if (r < 0) {
		fs_commit_abort(fs, &cm);
		goto out;
	}
	if (end > in.size)
		in.size = end;
	/* A write-back cache hands data over long after the write(2), and
	 * then sends the times of the write itself: stamping "now" here
	 * would make a file look newer than ones touched after it. */
	if (!(flags & FS_WRITE_KEEP_TIMES)) {
		fs_now(&in.mtime);
		in.ctime = in.mtime;
	}
	kill_priv(c, &in);
	fs_inode_put(cm.b, &in);
	cm.d_bytes = growth;
	r = fs_commit_done(fs, &cm);
	if (r == 0)
		*put = len;
out:
	fs_inode_free(&in);
out_unlock:
	fs_unlock(fs, ino, 0, 0, 0);
	if (r == 0 && *put)
		fs_notify_inode(fs, c->origin, ino);
	return r;
}

int fs_fsync(struct fs *fs, uint64_t ino, bool datasync)
{
	(void)ino;
	(void)datasync;
	if (fs->o.read_only)
		return 0;
	return data_barrier(fs->data, 0);
}

int fs_sync(struct fs *fs)
{
	return fs_fsync(fs, 0, false);
}

int fs_fallocate(struct fs *fs, const struct fs_cred *c, uint64_t ino, int mode, uint64_t off,
		 uint64_t len)
{
	struct inode in;
	struct fs_commit cm;
	if (fs->o.read_only)
		return -EROFS;
	if (len == 0)
		return -EINVAL;
	if (off > INT64_MAX || len > (uint64_t)INT64_MAX - off)
		return -EFBIG;
	bool keep = mode & FALLOC_FL_KEEP_SIZE;
	bool punch = mode & FALLOC_FL_PUNCH_HOLE, zero = mode & FALLOC_FL_ZERO_RANGE;
	if (mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE))
		return -EOPNOTSUPP;
	if ((punch && !keep) || (punch && zero))
		return -EINVAL;
	fs_lock(fs, ino, 0, 0, 0);
	int r = fs_inode_load(fs, ino, &in);
	if (r < 0)
		goto out_unlock;
	if (!S_ISREG(in.mode)) {
		r = S_ISDIR(in.mode) ? -EISDIR : -ENODEV;
		goto out;
	}
	uint64_t end = off + len;
	int64_t growth = !keep && end > in.size ? (int64_t)(end - in.size) : 0;
	r = fs_quota_check(fs, growth, 0);
	if (r < 0)
		goto out;
	fs_commit_init(fs, &cm);
	if ((punch || zero) && off < in.size)
		r = data_punch(cm.txn, ino, off, end < in.size ? end : in.size);
	if (r < 0) {
		fs_commit_abort(fs, &cm);
		goto out;
	}
	/* Holes read as zeros, so "allocating" stores nothing: the space is
	 * the object store's, not ours to reserve. */
	if (growth)
		in.size = end;
	fs_now(&in.ctime);
	if (punch || zero || growth) {
		in.mtime = in.ctime;
		kill_priv(c, &in);
	}
	fs_inode_put(cm.b, &in);
	cm.d_bytes = growth;
	r = fs_commit_done(fs, &cm);
out:
	fs_inode_free(&in);
out_unlock:
	fs_unlock(fs, ino, 0, 0, 0);
	if (r == 0)
		fs_notify_inode(fs, c->origin, ino);
	return r;
}
