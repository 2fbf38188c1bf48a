/* fs_int.h -- state and helpers shared by the core's files (private).
 *
 * Locking, outermost first:
 *  - rename_mu serialises renames across directories, so the "not into
 *    its own subtree" walk sees a tree nobody else is moving until the
 *    batch is in (Linux's s_vfs_rename_mutex).  The only core-wide lock
 *    held across a commit, and only by cross-directory renames; never
 *    while waiting for upload room;
 *  - inode stripes (an inode's stripe is ino % FS_STRIPES): an operation
 *    locks the stripes of every inode it touches in stripe order, so no
 *    two operations wait on each other in a cycle.  They are held across
 *    the data plane's commit (data_txn_commit_nowait), never while
 *    waiting for upload room (data_throttle runs after they are let go);
 *  - ctr_mu: the in-RAM counters (next inode, used bytes, inodes).  Held
 *    for a moment only, also inside the data plane's commit hook, which
 *    keeps the counters and their 'F' key in step with the tree without a
 *    lock of ours held across the commit;
 *  - open_mu (open counts), obs_mu (observers), reclaim_mu (its queue).
 *
 * Every mutation goes through struct fs_op (op.c): begin, lock, load the
 * inodes it touches, check, stage changes, commit, end.  The op keeps the
 * attributes from before (wcc), bumps change counters, stamps the commit
 * seq for fs_commit, notifies observers and counts the metrics. */
#ifndef BUCKETFS_FS_FS_INT_H
#define BUCKETFS_FS_FS_INT_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

#include "data/data.h"
#include "fs/fs.h"
#include "lsm/lsm.h"
#include "util/buf.h"

#define FS_STRIPES 256
#define INO_BATCH 1024            /* inode numbers reserved per 'F' write */
#define SEQ_SLOTS 4096            /* per-inode last commit seq, hashed */

#define KEY_INODE 'I'
#define KEY_DIRENT 'D'
#define KEY_COOKIE 'C'
#define KEY_XATTR 'X'
#define KEY_ORPHAN 'O'
#define KEY_COUNTERS 'F'
#define KEY_FSID 'U'

/* The inode record ('I' ino). */
struct inode {
	uint64_t ino;
	uint32_t mode, uid, gid, nlink;
	uint64_t size, rdev, generation;
	struct timespec atime, mtime, ctime;
	uint64_t parent;              /* directories: for ".." and rename checks */
	uint64_t next_cookie;         /* directories: next readdir cookie */
	char *target;                 /* symlinks */
	uint64_t change;              /* change counter (version 2) */
	uint64_t extents;             /* stored extents (version 2) */
	bool extents_known;           /* false: a version 1 record, count unknown */
};

struct open_count {
	uint64_t ino;
	uint32_t count;
	struct open_count *next;
};

struct fs_op_counter {
	_Atomic uint64_t count, errors, ns;
};

struct reclaim;

struct fs {
	struct fs_options o;
	lsm *db;
	struct data *data;
	uint64_t gen;                 /* generation of inodes made now (epoch) */
	uint64_t fsid;
	uint8_t verifier[8];
	pthread_mutex_t stripes[FS_STRIPES];
	pthread_mutex_t rename_mu;
	/* counters, under ctr_mu */
	pthread_mutex_t ctr_mu;
	uint64_t next_ino, reserved_ino, used_bytes, inodes;
	/* open files, under open_mu */
	pthread_mutex_t open_mu;
	struct open_count *opens[256];
	struct pin *pins;             /* pinned inodes (pin.c), under open_mu */
	struct lock_table *locks;     /* byte-range and flock locks (lock.c) */
	/* observers, under obs_mu (read: notify; write: register) */
	pthread_rwlock_t obs_mu;
	struct {
		const struct fs_observer *ob;
		void *arg;
	} obs[FS_OBSERVERS_MAX];
	/* last commit seq per inode slot (a collision only costs a barrier) */
	_Atomic uint64_t seqs[SEQ_SLOTS];
	struct fs_op_counter stats[FS_OP_KINDS];
	_Atomic uint64_t commits_skipped;
	struct reclaim *rc;           /* NULL on a read-only instance */
};

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
/* A version 1 record: count its stored extents (data_map) once. */
int fs_inode_count_extents(struct fs *fs, struct inode *in);
/* Load and fill attributes, counting extents of an old record. */
int fs_attr_load(struct fs *fs, uint64_t ino, struct fs_attr *out);

/* ---- the mutation path (op.c) ---- */
#define OP_INODES 4
#define OP_ENTRIES 4
struct fs_op_slot {
	struct inode in;
	bool used, loaded;            /* loaded: found (pre attributes valid) */
	bool dirty, gone;             /* to be put / was deleted */
	struct fs_attr pre;
};
struct fs_op {
	struct fs *fs;
	const struct fs_cred *c;
	enum fs_op_kind kind;
	uint64_t t0;
	uint64_t lk[4];               /* inodes whose stripes are held */
	bool locked, committed;
	struct fs_op_slot slot[OP_INODES];
	struct {
		uint64_t parent;
		const char *name;         /* the caller's, alive until fs_op_end */
	} ent[OP_ENTRIES];
	int nent;
	struct data_txn *txn;
	struct lsm_batch *b;
	int64_t d_bytes, d_inodes;    /* counter deltas */
	int64_t applied_bytes, applied_inodes;
	uint64_t prev_reserved, new_reserved;
	uint64_t seq;
	uint64_t reclaim;             /* an orphan for the reclaimer, once committed */
	bool wrote_data;              /* new frames staged: wait for upload room after */
};
/* Start an operation (-EROFS on a read-only instance if `mutation`). */
int fs_op_begin(struct fs *fs, struct fs_op *op, enum fs_op_kind kind, const struct fs_cred *c,
		bool mutation);
/* Lock the stripes of up to 4 inodes (0 = unused).  Once per op. */
void fs_op_lock(struct fs_op *op, uint64_t a, uint64_t b, uint64_t c, uint64_t d);
void fs_op_unlock(struct fs_op *op);
/* Load an inode into the op (under its lock); the op owns the record. */
int fs_op_load(struct fs_op *op, uint64_t ino, struct inode **out);
/* As fs_op_load, -ENOTDIR unless it is a directory. */
int fs_op_load_dir(struct fs_op *op, uint64_t ino, struct inode **out);
/* A new inode with a fresh number and this incarnation's generation. */
struct inode *fs_op_new(struct fs_op *op);
/* The record changed: it is written with the commit, change bumped. */
void fs_op_dirty(struct fs_op *op, struct inode *in);
/* The record goes with the commit (its keys are the caller's to delete). */
void fs_op_gone(struct fs_op *op, struct inode *in);
/* A name changed in parent (for observers). */
void fs_op_entry(struct fs_op *op, uint64_t parent, const char *name);
/* The transaction and batch of the op (made on first use). */
struct data_txn *fs_op_txn(struct fs_op *op);
struct lsm_batch *fs_op_batch(struct fs_op *op);
/* Commit everything staged as one batch. */
int fs_op_commit(struct fs_op *op);
/* Unlock, wait for upload room (only if the op wrote data: a chmod never
 * waits behind uploads), fill wcc (slots by ino; 0 = none), notify
 * observers of a committed op, count the metrics; returns r. */
int fs_op_end(struct fs_op *op, int r, struct fs_wcc_out *wcc, uint64_t obj, uint64_t dir,
	      uint64_t dir2);
/* Would the deltas exceed a quota?  -ENOSPC. */
int fs_quota_check(struct fs *fs, int64_t d_bytes, int64_t d_inodes);
/* Count a call that is no mutation (reads, lookups). */
void fs_stat_count(struct fs *fs, enum fs_op_kind kind, uint64_t t0, int r);
uint64_t fs_clock_ns(void);
/* Counters at open / an 'F' value. */
int fs_counters_load(struct fs *fs);

/* ---- permissions (perm.c) ---- */
bool fs_in_group(const struct fs_cred *c, uint32_t gid);
/* mask of R_OK/W_OK/X_OK: 0 or -EACCES. */
int fs_may(const struct fs_cred *c, const struct inode *in, int mask);
/* knfsd's rules for stateless I/O: the owner overrides the mode bits, and
 * reading is allowed where executing is. */
int fs_may_io(const struct fs_cred *c, const struct inode *in, bool write);
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
/* Lost its last name and nobody has it open: changes by handle are
 * -ESTALE (its data may be being reclaimed). */
bool fs_inode_gone(struct fs *fs, const struct inode *in);
void fs_open_count_add(struct fs *fs, uint64_t ino);
/* The last link of in went (in the op): drop it now (small, not open),
 * keep it as an orphan (open), or hand its data to the reclaimer (big). */
int fs_drop_inode(struct fs_op *op, struct inode *in);
/* Stage the deletion of the record, xattrs, orphan key and the data from
 * offset `from` on (the reclaimer's cursor: what lies before it is gone,
 * and scanning its deleted keys again would cost as much as the file). */
int fs_delete_inode(struct fs_op *op, struct inode *in, uint64_t from);
/* Truncate in to size inside op (data, counters, times). */
int fs_set_size(struct fs_op *op, struct inode *in, uint64_t size);
/* The write shared by fs_write_ex and fs_write_as. */
int fs_write_common(struct fs *fs, const struct fs_cred *c, uint64_t ino, uint64_t off,
		    const void *buf, size_t len, unsigned flags, bool check, size_t *put,
		    struct fs_wcc_out *wcc);

/* ---- the reclaimer (reclaim.c) ---- */
int fs_reclaim_start(struct fs *fs);
void fs_reclaim_stop(struct fs *fs);
/* Queue an inode whose orphan key is in a committed batch. */
void fs_reclaim_queue(struct fs *fs, uint64_t ino);
/* Is the file big enough to be reclaimed in chunks? */
bool fs_reclaim_big(struct fs *fs, const struct inode *in);
void fs_reclaim_stats(struct fs *fs, struct fs_stats *out);
/* Does ino have reclaim work left, by its orphan key (the truth, queued
 * or not; call under its stripe)?  1 yes, 0 no, <0 the read failed. */
int fs_reclaim_pending(struct fs *fs, uint64_t ino);
/* Do all of ino's reclaim work now, on the caller's thread (no lock held). */
int fs_reclaim_finish(struct fs *fs, uint64_t ino);
/* The orphan key's cursor (*has: it holds one); -ENOENT: no key. */
int fs_reclaim_cursor(struct fs *fs, uint64_t ino, uint64_t *cursor, bool *has);
/* fs_set_size's answer when the file must first lose the data a big
 * shrink left past its size: the caller ends its op, runs
 * fs_reclaim_finish and starts again. */
#define FS_TRIM_FIRST (-EINPROGRESS)
/* fs_write's: clear the range an unlinked open file grows over first. */
#define FS_CLEAR_FIRST (-EALREADY)

/* ---- pins (pin.c) ---- */
/* 0, or -EBUSY (logged, naming the holder and what was refused) when ino
 * is pinned: the size may not change, its last name may not go. */
int fs_pin_check(struct fs *fs, uint64_t ino, const char *what);
void fs_pins_free(struct fs *fs);

/* ---- observers (observe.c) ---- */
void fs_notify_inode(struct fs *fs, uint32_t origin, uint64_t ino);
void fs_notify_entry(struct fs *fs, uint32_t origin, uint64_t parent, const char *name);

#endif
