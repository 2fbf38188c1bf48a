/* fs.c -- opening the filesystem, its identity, attributes, access,
 * statfs and metrics.
 *
 * fs_open() creates the root directory of an empty tree, loads the
 * counters and the filesystem id, and starts the reclaimer, which first
 * finishes deletes a crash interrupted. */
#include "fs/fs_int.h"
#include "fs/lock.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/coding.h"
#include "util/log.h"
#include "util/mem.h"

static int create_root(struct fs *fs)
{
	struct fs_op op;
	fs_op_begin(fs, &op, FS_OP_MKDIR, NULL, true);
	struct inode *root = fs_op_new(&op);
	/* The root is a fixed number; fs_op_new's number is just skipped. */
	root->ino = FS_ROOT_INO;
	root->mode = S_IFDIR | 0755;
	root->nlink = 2;
	root->parent = FS_ROOT_INO;
	root->generation = 1;
	fs_now(&root->ctime);
	root->atime = root->mtime = root->ctime;
	op.d_inodes = 1;
	int r = fs_op_end(&op, fs_op_commit(&op), NULL, 0, 0, 0);
	if (r == 0)
		r = data_barrier(fs->data, 0);
	if (r == 0)
		log_info("fs: created the root directory");
	return r;
}

static void random_bytes(void *p, size_t n)
{
	uint8_t *b = p;
	while (n) {
		ssize_t k = getrandom(b, n, 0);
		if (k <= 0)
			continue; /* EINTR; getrandom does not fail otherwise */
		b += k;
		n -= (size_t)k;
	}
}

/* A read-only view of a store without an id: derive one from the first
 * clean-shutdown lineage, which never changes once written. */
static uint64_t derived_fsid(struct fs *fs)
{
	uint8_t prefix[1] = { 'L' };
	struct lsm_iter *it;
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a of the key */
	if (lsm_iter_new(fs->db, prefix, 1, NULL, 0, &it) == 0) {
		if (lsm_iter_valid(it)) {
			size_t kl;
			const uint8_t *k = lsm_iter_key(it, &kl);
			for (size_t i = 0; i < kl; i++)
				h = (h ^ k[i]) * 0x100000001b3ull;
		}
		lsm_iter_free(it);
	}
	return h ? h : 1;
}

static int load_fsid(struct fs *fs)
{
	uint8_t k[1] = { KEY_FSID };
	struct buf v = BUF_INIT;
	int r = lsm_get(fs->db, k, 1, &v);
	if (r == 0 && v.len == 8) {
		fs->fsid = be64_get(v.data);
	} else if (r == 0) {
		log_error("fs: the filesystem id key holds %zu bytes, not 8", v.len);
		r = -EIO;
	} else if (r == -ENOENT && fs->o.read_only) {
		fs->fsid = derived_fsid(fs);
		r = 0;
	} else if (r == -ENOENT) {
		uint8_t id[8];
		do
			random_bytes(id, sizeof id);
		while (be64_get(id) == 0);
		struct fs_op op;
		fs_op_begin(fs, &op, FS_OP_SETATTR, NULL, true);
		lsm_batch_put(fs_op_batch(&op), k, 1, id, sizeof id);
		r = fs_op_end(&op, fs_op_commit(&op), NULL, 0, 0, 0);
		if (r == 0)
			fs->fsid = be64_get(id);
	}
	buf_free(&v);
	return r;
}

uint64_t fs_fsid(struct fs *fs)
{
	return fs->fsid;
}

void fs_write_verifier(struct fs *fs, uint8_t out[8])
{
	memcpy(out, fs->verifier, 8);
}

void fs_handle_key(struct fs *fs, uint8_t out[32])
{
	data_subkey(fs->data, CRYPT_DOMAIN_NFS_HANDLES, out);
}

int fs_open(const struct fs_options *o, struct fs **out)
{
	struct fs *fs = xcalloc(1, sizeof *fs);
	struct inode root;
	fs->o = *o;
	fs->db = o->db;
	fs->data = o->data;
	/* The writer's epoch only grows, so numbers a crash handed out again
	 * come back with a new generation. */
	fs->gen = data_lineage(o->data);
	if (fs->gen == 0)
		fs->gen = 1;
	random_bytes(fs->verifier, sizeof fs->verifier);
	for (int i = 0; i < FS_STRIPES; i++)
		pthread_mutex_init(&fs->stripes[i], NULL);
	pthread_mutex_init(&fs->rename_mu, NULL);
	pthread_mutex_init(&fs->ctr_mu, NULL);
	pthread_mutex_init(&fs->open_mu, NULL);
	fs->locks = lock_table_new();
	pthread_rwlock_init(&fs->obs_mu, NULL);
	int r = fs_counters_load(fs);
	if (r == 0) {
		r = fs_inode_load(fs, FS_ROOT_INO, &root);
		if (r == 0)
			fs_inode_free(&root);
		else if (r == -ENOENT && !o->read_only)
			r = create_root(fs);
	}
	if (r == 0)
		r = load_fsid(fs);
	if (r == 0 && !o->read_only)
		r = fs_reclaim_start(fs);
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
	fs_reclaim_stop(fs);
	for (int i = 0; i < 256; i++)
		while (fs->opens[i]) {
			struct open_count *oc = fs->opens[i];
			fs->opens[i] = oc->next;
			free(oc);
		}
	fs_pins_free(fs);
	for (int i = 0; i < FS_STRIPES; i++)
		pthread_mutex_destroy(&fs->stripes[i]);
	pthread_mutex_destroy(&fs->rename_mu);
	pthread_mutex_destroy(&fs->ctr_mu);
	pthread_mutex_destroy(&fs->open_mu);
	lock_table_free(fs->locks);
	pthread_rwlock_destroy(&fs->obs_mu);
	free(fs);
}

int fs_getattr(struct fs *fs, uint64_t ino, struct fs_attr *out)
{
	uint64_t t0 = fs_clock_ns();
	int r = fs_attr_load(fs, ino, out);
	fs_stat_count(fs, FS_OP_GETATTR, t0, r);
	return r;
}

int fs_getattr_handle(struct fs *fs, uint64_t ino, uint64_t gen, struct fs_attr *out)
{
	uint64_t t0 = fs_clock_ns();
	int r = ino ? fs_attr_load(fs, ino, out) : -ESTALE;
	if (r == -ENOENT)
		r = -ESTALE;
	/* An unlinked file lives on only for those who have it open. */
	if (r == 0 && (out->generation != gen || (out->nlink == 0 && !fs_open_count(fs, ino))))
		r = -ESTALE;
	fs_stat_count(fs, FS_OP_GETATTR, t0, r);
	return r;
}

static int access_impl(struct fs *fs, const struct fs_cred *c, uint64_t ino, int mask)
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

int fs_access(struct fs *fs, const struct fs_cred *c, uint64_t ino, int mask)
{
	uint64_t t0 = fs_clock_ns();
	int r = access_impl(fs, c, ino, mask);
	fs_stat_count(fs, FS_OP_ACCESS, t0, r);
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

static int setattr_once(struct fs *fs, const struct fs_cred *c, uint64_t ino,
			const struct fs_setattr *sa, struct fs_attr *out, struct fs_wcc_out *wcc)
{
	struct fs_op op;
	struct inode *in;
	struct timespec now;
	int r = fs_op_begin(fs, &op, FS_OP_SETATTR, c, true);
	if (r == 0) {
		fs_op_lock(&op, ino, 0, 0, 0);
		r = fs_op_load(&op, ino, &in);
	}
	fs_now(&now);
	unsigned v = sa->valid;
	/* The guard is checked under the inode's lock: no change slips in
	 * between the check and the update. */
	if (r == 0 && fs_inode_gone(fs, in))
		r = -ESTALE;
	if (r == 0 && (v & FS_SET_GUARD_CTIME) &&
	    (in->ctime.tv_sec != sa->guard_ctime.tv_sec ||
	     in->ctime.tv_nsec != sa->guard_ctime.tv_nsec))
		r = -EAGAIN;
	if (r == 0 && (v & (FS_SET_UID | FS_SET_GID)))
		r = check_chown(c, in, sa);
	if (r == 0 && (v & FS_SET_MODE))
		r = check_chmod(c, in, sa->mode);
	if (r == 0 && (v & (FS_SET_ATIME | FS_SET_MTIME | FS_SET_ATIME_NOW | FS_SET_MTIME_NOW)))
		r = check_times(c, in, v);
	if (r == 0 && (v & FS_SET_SIZE)) {
		if (S_ISDIR(in->mode))
			r = -EISDIR;
		else if (!S_ISREG(in->mode))
			r = -EINVAL;
		else if ((r = (v & FS_SET_OWNER_OVERRIDE) ? fs_may_io(c, in, true) :
							     fs_may(c, in, W_OK)) == 0)
			r = fs_set_size(&op, in, sa->size);
	}
	if (r == 0) {
		if (v & FS_SET_ATIME)
			in->atime = sa->atime;
		if (v & FS_SET_ATIME_NOW)
			in->atime = now;
		if (v & FS_SET_MTIME)
			in->mtime = sa->mtime;
		if (v & FS_SET_MTIME_NOW)
			in->mtime = now;
		in->ctime = (v & FS_SET_CTIME) ? sa->ctime : now;
		fs_op_dirty(&op, in);
		r = fs_op_commit(&op);
	}
	if (r == 0 && out)
		fs_inode_attr(in, out);
	return fs_op_end(&op, r, wcc, ino, 0, 0);
}

int fs_setattr(struct fs *fs, const struct fs_cred *c, uint64_t ino, const struct fs_setattr *sa,
	       struct fs_attr *out, struct fs_wcc_out *wcc)
{
	int r;
	while ((r = setattr_once(fs, c, ino, sa, out, wcc)) == FS_TRIM_FIRST)
		if ((r = fs_reclaim_finish(fs, ino)) < 0)
			break;
	return r;
}

static int statfs_impl(struct fs *fs, struct fs_statfs *out)
{
	const uint64_t bsize = 4096;
	pthread_mutex_lock(&fs->ctr_mu);
	uint64_t used = fs->used_bytes, inodes = fs->inodes;
	pthread_mutex_unlock(&fs->ctr_mu);
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

int fs_statfs(struct fs *fs, struct fs_statfs *out)
{
	uint64_t t0 = fs_clock_ns();
	int r = statfs_impl(fs, out);
	fs_stat_count(fs, FS_OP_STATFS, t0, r);
	return r;
}

void fs_stats(struct fs *fs, struct fs_stats *out)
{
	memset(out, 0, sizeof *out);
	for (int i = 0; i < FS_OP_KINDS; i++) {
		out->op[i].count = atomic_load(&fs->stats[i].count);
		out->op[i].errors = atomic_load(&fs->stats[i].errors);
		out->op[i].ns = atomic_load(&fs->stats[i].ns);
	}
	out->commits_skipped = atomic_load(&fs->commits_skipped);
	fs_reclaim_stats(fs, out);
}
