/* fs.c -- opening the filesystem, attributes, access, statfs.
 *
 * fs_open() creates the root directory of an empty tree, loads the
 * counters, and reclaims inodes left as orphans by a crash. */
#include "fs/fs_int.h"
#include "fs/lock.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/coding.h"
#include "util/log.h"
#include "util/mem.h"

static int load_counters(struct fs *fs)
{
	uint8_t k[1] = { KEY_COUNTERS };
	struct buf v = BUF_INIT;
	int r = lsm_get(fs->db, k, 1, &v);
	if (r == 0 && v.len == 24) {
		fs->reserved_ino = be64_get(v.data);
		fs->used_bytes = be64_get(v.data + 8);
		fs->inodes = be64_get(v.data + 16);
	} else if (r == 0) {
		r = -EIO;
	} else if (r == -ENOENT) {
		fs->reserved_ino = FS_ROOT_INO + 1;
		r = 0;
	}
	/* Numbers below the reservation may have been handed out before a
	 * crash: start above it, so none is ever used twice. */
	fs->next_ino = fs->reserved_ino;
	buf_free(&v);
	return r;
}

static int create_root(struct fs *fs)
{
	struct inode root;
	struct fs_commit cm;
	memset(&root, 0, sizeof root);
	root.ino = FS_ROOT_INO;
	root.mode = S_IFDIR | 0755;
	root.nlink = 2;
	root.parent = FS_ROOT_INO;
	root.generation = 1;
	fs_now(&root.ctime);
	root.atime = root.mtime = root.ctime;
	fs_commit_init(fs, &cm);
	fs_inode_put(cm.b, &root);
	cm.d_inodes = 1;
	int r = fs_commit_done(fs, &cm);
	if (r == 0)
		r = data_barrier(fs->data, 0);
	if (r == 0)
		log_info("fs: created the root directory");
	return r;
}

static int reclaim_orphans(struct fs *fs)
{
	uint8_t prefix[1] = { KEY_ORPHAN };
	struct lsm_iter *it;
	uint64_t *inos = NULL;
	size_t n = 0;
	int r = lsm_iter_new(fs->db, prefix, 1, NULL, 0, &it);
	if (r < 0)
		return r;
	for (; lsm_iter_valid(it); lsm_iter_next(it)) {
		size_t kl;
		const uint8_t *k = lsm_iter_key(it, &kl);
		if (kl != 9)
			continue;
		inos = xrealloc(inos, (n + 1) * sizeof *inos);
		inos[n++] = be64_get(k + 1);
	}
	r = lsm_iter_status(it);
	lsm_iter_free(it);
	for (size_t i = 0; r == 0 && i < n; i++) {
		struct inode in;
		struct fs_commit cm;
		fs_commit_init(fs, &cm);
		if (fs_inode_load(fs, inos[i], &in) == 0 && in.nlink == 0) {
			r = fs_drop_inode(fs, &cm, &in);
			fs_inode_free(&in);
		} else {
			uint8_t k[9];
			lsm_batch_delete(cm.b, k, fs_key_orphan(k, inos[i]));
		}
		r = r == 0 ? fs_commit_done(fs, &cm) : (fs_commit_abort(fs, &cm), r);
	}
	if (n)
		log_info("fs: reclaimed %zu files that were unlinked while open before a crash", n);
	free(inos);
	return r;
}

int fs_open(const struct fs_options *o, struct fs **out)
{
	struct fs *fs = xcalloc(1, sizeof *fs);
	struct inode root;
	fs->o = *o;
	fs->db = o->db;
	fs->data = o->data;
	for (int i = 0; i < FS_STRIPES; i++)
		pthread_mutex_init(&fs->stripes[i], NULL);
	pthread_mutex_init(&fs->rename_mu, NULL);
	pthread_mutex_init(&fs->commit_mu, NULL);
	pthread_mutex_init(&fs->open_mu, NULL);
	fs->locks = lock_table_new();
	pthread_rwlock_init(&fs->obs_mu, NULL);
	int r = load_counters(fs);
	if (r == 0) {
		r = fs_inode_load(fs, FS_ROOT_INO, &root);
		if (r == 0)
			fs_inode_free(&root);
		else if (r == -ENOENT && !o->read_only)
			r = create_root(fs);
	}
	if (r == 0 && !o->read_only)
		r = reclaim_orphans(fs);
	if (r < 0) {
		log_error("fs: cannot open the filesystem: %s", strerror(-r));
		fs_close(fs);
		return r;
	}
	*out = fs;
	return 0;
}

void fs_close(struct fs *fs)
{
	if (!fs)
		return;
	for (int i = 0; i < 256; i++)
		while (fs->opens[i]) {
			struct open_count *oc = fs->opens[i];
			fs->opens[i] = oc->next;
			free(oc);
		}
	for (int i = 0; i < FS_STRIPES; i++)
		pthread_mutex_destroy(&fs->stripes[i]);
	pthread_mutex_destroy(&fs->rename_mu);
	pthread_mutex_destroy(&fs->commit_mu);
	pthread_mutex_destroy(&fs->open_mu);
	lock_table_free(fs->locks);
	pthread_rwlock_destroy(&fs->obs_mu);
	free(fs);
}

int fs_getattr(struct fs *fs, uint64_t ino, struct fs_attr *out)
{
	struct inode in;
	int r = fs_inode_load(fs, ino, &in);
	if (r == 0) {
		fs_inode_attr(&in, out);
		fs_inode_free(&in);
	}
	return r;
}

int fs_access(struct fs *fs, const struct fs_cred *c, uint64_t ino, int mask)
{
	struct inode in;
	int r = fs_inode_load(fs, ino, &in);
	if (r < 0)
		return r;
	if ((mask & W_OK) && fs->o.read_only)
		r = -EROFS;
	else
		r = fs_may(c, &in, mask);
	fs_inode_free(&in);
	return r;
}

static int check_chmod(const struct fs_cred *c, struct inode *in, uint32_t mode)
{
	if (c->uid != 0 && c->uid != in->uid)
		return -EPERM;
	mode &= 07777;
	/* Non-root may not set setgid on a file of a group it is not in. */
	if (c->uid != 0 && !S_ISDIR(in->mode) && !fs_in_group(c, in->gid))
		mode &= ~(uint32_t)S_ISGID;
	in->mode = (in->mode & S_IFMT) | mode;
	return 0;
}

static int check_chown(const struct fs_cred *c, struct inode *in, const struct fs_setattr *sa)
{
	bool uid = (sa->valid & FS_SET_UID) && sa->uid != in->uid;
	bool gid = (sa->valid & FS_SET_GID) && sa->gid != in->gid;
	if (c->uid != 0) {
		if (uid || c->uid != in->uid)
			return (uid || gid) ? -EPERM : 0;
		if (gid && !fs_in_group(c, sa->gid))
			return -EPERM;
	}
	if (sa->valid & FS_SET_UID)
		in->uid = sa->uid;
	if (sa->valid & FS_SET_GID)
		in->gid = sa->gid;
	/* A change of owner drops setuid, and setgid if the group can
	 * execute, on anything but a directory (Linux). */
	if ((uid || gid || (sa->valid & (FS_SET_UID | FS_SET_GID))) && !S_ISDIR(in->mode)) {
		in->mode &= ~(uint32_t)S_ISUID;
		if ((in->mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP))
			in->mode &= ~(uint32_t)S_ISGID;
	}
	return 0;
}

static int check_times(const struct fs_cred *c, const struct inode *in, unsigned valid)
{
	bool owner = c->uid == 0 || c->uid == in->uid;
	/* Explicit times need ownership; "now" also write permission. */
	if (valid & (FS_SET_ATIME | FS_SET_MTIME))
		return owner ? 0 : -EPERM;
	if (!owner && fs_may(c, in, W_OK) < 0)
		return -EACCES;
	return 0;
}

static int set_size(struct fs *fs, const struct fs_cred *c, struct fs_commit *cm, struct inode *in,
		    uint64_t size)
{
	if (S_ISDIR(in->mode))
		return -EISDIR;
	if (!S_ISREG(in->mode))
		return -EINVAL;
	if (size > INT64_MAX)
		return -EFBIG;
	int r = fs_may(c, in, W_OK);
	if (r < 0)
		return r;
	int64_t delta = (int64_t)size - (int64_t)in->size;
	r = fs_quota_check(fs, delta, 0);
	if (r == 0)
		r = data_truncate(cm->txn, in->ino, in->size, size);
	if (r == 0) {
		cm->d_bytes += delta;
		in->size = size;
		fs_now(&in->mtime);
		if (c->uid != 0) {
			in->mode &= ~(uint32_t)S_ISUID;
			if ((in->mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP))
				in->mode &= ~(uint32_t)S_ISGID;
		}
	}
	return r;
}

int fs_setattr(struct fs *fs, const struct fs_cred *c, uint64_t ino, const struct fs_setattr *sa,
	       struct fs_attr *out)
{
	struct inode in;
	struct fs_commit cm;
	struct timespec now;
	if (fs->o.read_only)
		return -EROFS;
	fs_lock(fs, ino, 0, 0, 0);
	int r = fs_inode_load(fs, ino, &in);
	if (r < 0)
		goto out_unlock;
	fs_commit_init(fs, &cm);
	fs_now(&now);
	unsigned v = sa->valid;
	if (v & (FS_SET_UID | FS_SET_GID))
		r = check_chown(c, &in, sa);
	if (r == 0 && (v & FS_SET_MODE))
		r = check_chmod(c, &in, sa->mode);
	if (r == 0 && (v & (FS_SET_ATIME | FS_SET_MTIME | FS_SET_ATIME_NOW | FS_SET_MTIME_NOW)))
		r = check_times(c, &in, v);
	if (r == 0 && (v & FS_SET_SIZE))
		r = set_size(fs, c, &cm, &in, sa->size);
	if (r < 0) {
		fs_commit_abort(fs, &cm);
		goto out;
	}
	if (v & FS_SET_ATIME)
		in.atime = sa->atime;
	if (v & FS_SET_ATIME_NOW)
		in.atime = now;
	if (v & FS_SET_MTIME)
		in.mtime = sa->mtime;
	if (v & FS_SET_MTIME_NOW)
		in.mtime = now;
	in.ctime = (v & FS_SET_CTIME) ? sa->ctime : now;
	fs_inode_put(cm.b, &in);
	r = fs_commit_done(fs, &cm);
	if (r == 0 && out)
		fs_inode_attr(&in, out);
out:
	fs_inode_free(&in);
out_unlock:
	fs_unlock(fs, ino, 0, 0, 0);
	if (r == 0)
		fs_notify_inode(fs, c->origin, ino);
	return r;
}

int fs_statfs(struct fs *fs, struct fs_statfs *out)
{
	const uint64_t bsize = 4096;
	pthread_mutex_lock(&fs->commit_mu);
	uint64_t used = fs->used_bytes, inodes = fs->inodes;
	pthread_mutex_unlock(&fs->commit_mu);
	/* Without a quota an object store is as good as endless: say 1 PiB. */
	uint64_t total = fs->o.max_size ? fs->o.max_size : 1ull << 50;
	uint64_t files = fs->o.max_inodes ? fs->o.max_inodes : 1ull << 32;
	memset(out, 0, sizeof *out);
	out->bsize = (uint32_t)bsize;
	out->blocks = total / bsize;
	uint64_t used_blocks = (used + bsize - 1) / bsize;
	out->bfree = out->blocks > used_blocks ? out->blocks - used_blocks : 0;
	out->bavail = out->bfree;
	out->files = files;
	out->ffree = files > inodes ? files - inodes : 0;
	out->namemax = FS_NAME_MAX;
	return 0;
}
