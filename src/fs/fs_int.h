/* fs_int.h -- state and helpers shared by the core's files (private).
 *
 * Locking: striped inode locks (an inode's stripe is ino % FS_STRIPES);
 * an operation locks the stripes of every inode it touches in stripe
 * order, so no two operations can wait on each other in a cycle.
 * rename_mu serialises directory renames across directories, so the
 * "not into its own subtree" walk sees a stable tree.  commit_mu covers
 * the in-RAM counters and the commit that persists them ('F' key), so
 * concurrent creates never hand out the same inode number. */
#ifndef BUCKETFS_FS_FS_INT_H
#define BUCKETFS_FS_FS_INT_H

#include <pthread.h>

#include "fs/fs.h"
#include "util/buf.h"

#define FS_STRIPES 256
#define INO_BATCH 1024            /* inode numbers reserved per 'F' write */

#define KEY_INODE 'I'
#define KEY_DIRENT 'D'
#define KEY_COOKIE 'C'
#define KEY_XATTR 'X'
#define KEY_ORPHAN 'O'
#define KEY_COUNTERS 'F'

/* The inode record ('I' ino). */
struct inode {
	uint64_t ino;
	uint32_t mode, uid, gid, nlink;
	uint64_t size, rdev, generation;
	struct timespec atime, mtime, ctime;
	uint64_t parent;              /* directories: for ".." and rename checks */
	uint64_t next_cookie;         /* directories: next readdir cookie */
	char *target;                 /* symlinks */
};

struct open_count {
	uint64_t ino;
	uint32_t count;
	struct open_count *next;
};

struct fs {
	struct fs_options o;
	lsm *db;
	struct data *data;
	pthread_mutex_t stripes[FS_STRIPES];
	pthread_mutex_t rename_mu;
	pthread_mutex_t commit_mu;
	/* counters, under commit_mu */
	uint64_t next_ino, reserved_ino, used_bytes, inodes;
	/* open files, under open_mu */
	pthread_mutex_t open_mu;
	struct open_count *opens[256];
	struct lock_table *locks;     /* byte-range and flock locks (lock.c) */
	/* observers, under obs_mu (read: notify; write: register) */
	pthread_rwlock_t obs_mu;
	struct {
		const struct fs_observer *ob;
		void *arg;
	} obs[FS_OBSERVERS_MAX];
};

/* ---- observers (observe.c) ---- */
void fs_notify_inode(struct fs *fs, uint32_t origin, uint64_t ino);
void fs_notify_entry(struct fs *fs, uint32_t origin, uint64_t parent, const char *name);

/* ---- keys ---- */
size_t fs_key_inode(uint8_t *k, uint64_t ino);
size_t fs_key_dirent(uint8_t *k, uint64_t parent, const char *name);
size_t fs_key_cookie(uint8_t *k, uint64_t parent, uint64_t cookie);
size_t fs_key_xattr(uint8_t *k, uint64_t ino, const char *name);
size_t fs_key_orphan(uint8_t *k, uint64_t ino);

/* ---- inodes (inode.c) ---- */
void fs_now(struct timespec *ts);
int fs_inode_load(struct fs *fs, uint64_t ino, struct inode *in);
void fs_inode_put(struct lsm_batch *b, const struct inode *in);
void fs_inode_free(struct inode *in);
void fs_inode_attr(const struct inode *in, struct fs_attr *out);

/* A commit of one operation: counter deltas applied and persisted with it. */
struct fs_commit {
	struct data_txn *txn;
	struct lsm_batch *b;
	int64_t d_bytes, d_inodes;
	bool alloc;                   /* allocate an inode number */
	uint64_t ino;                 /* the allocated number */
};
void fs_commit_init(struct fs *fs, struct fs_commit *c);
/* Allocates c->ino now if asked (under commit_mu until fs_commit_done). */
uint64_t fs_commit_alloc_ino(struct fs *fs, struct fs_commit *c);
int fs_commit_done(struct fs *fs, struct fs_commit *c);
void fs_commit_abort(struct fs *fs, struct fs_commit *c);
/* Would the deltas exceed a quota? -ENOSPC. */
int fs_quota_check(struct fs *fs, int64_t d_bytes, int64_t d_inodes);

/* ---- locks ---- */
/* Lock the stripes of up to 4 inodes (0 = unused slot). */
void fs_lock(struct fs *fs, uint64_t a, uint64_t b, uint64_t c, uint64_t d);
void fs_unlock(struct fs *fs, uint64_t a, uint64_t b, uint64_t c, uint64_t d);

/* ---- permissions (perm.c) ---- */
bool fs_in_group(const struct fs_cred *c, uint32_t gid);
/* mask of R_OK/W_OK/X_OK: 0 or -EACCES. */
int fs_may(const struct fs_cred *c, const struct inode *in, int mask);
/* Sticky directory: may c remove or replace `victim` in `dir`? */
bool fs_sticky_ok(const struct fs_cred *c, const struct inode *dir, const struct inode *victim);

/* ---- directories (dir.c) ---- */
/* Look up a name: child ino and type; -ENOENT. */
int fs_dir_get(struct fs *fs, uint64_t parent, const char *name, uint64_t *ino, uint32_t *type,
	       uint64_t *cookie);
void fs_dir_add(struct lsm_batch *b, struct inode *dir, const char *name, uint64_t ino,
		uint32_t type);
void fs_dir_del(struct lsm_batch *b, uint64_t parent, const char *name, uint64_t cookie);
/* Is the directory empty?  1 yes, 0 no, <0 error. */
int fs_dir_empty(struct fs *fs, uint64_t dir);
int fs_check_name(const char *name);

/* ---- open files (file.c) ---- */
uint32_t fs_open_count(struct fs *fs, uint64_t ino);
/* Remove an inode whose last link went: its record, xattrs and data now,
 * or an orphan key if it is still open. */
int fs_drop_inode(struct fs *fs, struct fs_commit *c, struct inode *in);

#endif
