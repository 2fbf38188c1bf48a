/* fs.h -- the POSIX filesystem core: one API for every frontend.
 *
 * FUSE, NFSv3, 9P2000.L and NBD all call these functions; the core alone
 * owns the rules of POSIX (permissions, errno values, timestamps, link
 * counts, rename semantics), so every frontend behaves alike.  Frontends
 * never touch the LSM or the data plane.
 *
 * Every call takes the caller's credentials and returns 0 or a negative
 * errno.  Every mutation is ONE atomic batch of the metadata LSM (through
 * the data plane's transactions, so data and metadata commit together):
 * a crash never leaves a half-done rename or a dangling entry.  Changes
 * are durable after fs_fsync() / fs_sync() (the verified barrier) or the
 * periodic flush.
 *
 * Inode numbers are 64-bit and never reused; the root directory is inode
 * FS_ROOT_INO.  Metadata keys (big-endian integers):
 *   'I' ino              inode record
 *   'D' parent name      directory entry: child ino, type, readdir cookie
 *   'C' parent cookie    name, so readdir resumes from a stable cookie
 *   'X' ino name         extended attribute value
 *   'O' ino              orphan: unlinked while open (reclaimed at the last
 *                        release, or at the next start after a crash)
 *   'F'                  filesystem counters (next inode, used bytes, inodes)
 * plus the data plane's 'E', 'S' and 'L' keys.
 *
 * Locks (fs_getlk, fs_setlk, fs_flock) are advisory and kept in memory
 * only, as an NFS/NLM or 9P server keeps them: a restart loses them and
 * clients reclaim them.
 *
 * Threads: none of its own beyond the data plane's and the LSM's.  All
 * calls are thread-safe; operations on one inode are serialised by a
 * per-inode lock (several inodes: locked in inode order). */
#ifndef BUCKETFS_FS_FS_H
#define BUCKETFS_FS_FS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "data/data.h"
#include "lsm/lsm.h"
#include "store/objstore.h"

#define FS_ROOT_INO 1
#define FS_NAME_MAX 255
#define FS_SYMLINK_MAX 4095
#define FS_XATTR_NAME_MAX 255
#define FS_XATTR_VALUE_MAX 65536
#define FS_LINK_MAX 65000

struct fs;

struct fs_cred {
	uint32_t uid, gid;
	uint32_t ngroups;
	const uint32_t *groups;   /* supplementary groups */
	uint32_t origin;          /* the frontend making the call (0 = unknown):
				     handed to observers, so a frontend can
				     ignore its own changes */
};

struct fs_attr {
	uint64_t ino;
	uint32_t mode;            /* type and permission bits (S_IFMT | 07777) */
	uint32_t nlink;
	uint32_t uid, gid;
	uint64_t size;
	uint64_t blocks;          /* 512-byte units actually stored */
	uint64_t rdev;
	struct timespec atime, mtime, ctime;
	uint64_t generation;
};

/* fs_setattr: which fields to change. */
enum {
	FS_SET_MODE = 1 << 0,
	FS_SET_UID = 1 << 1,
	FS_SET_GID = 1 << 2,
	FS_SET_SIZE = 1 << 3,
	FS_SET_ATIME = 1 << 4,       /* to atime below */
	FS_SET_MTIME = 1 << 5,       /* to mtime below */
	FS_SET_ATIME_NOW = 1 << 6,
	FS_SET_MTIME_NOW = 1 << 7,
	FS_SET_CTIME = 1 << 8,       /* to ctime below (NFS, 9P) */
};

struct fs_setattr {
	unsigned valid;
	uint32_t mode, uid, gid;
	uint64_t size;
	struct timespec atime, mtime, ctime;
};

struct fs_statfs {
	uint64_t blocks, bfree, bavail;   /* in bsize units */
	uint64_t files, ffree;
	uint32_t bsize, namemax;
};

struct fs_options {
	lsm *db;                  /* not owned */
	struct data *data;        /* not owned */
	bool read_only;           /* every mutation is EROFS */
	uint64_t max_size;        /* quota in bytes (0 = none): ENOSPC past it */
	uint64_t max_inodes;      /* 0 = none */
	bool atime;               /* update atime on read (relatime rules) */
};

/* Open the filesystem in db (creating the root directory on an empty
 * tree, owned by uid/gid 0, mode 0755) and reclaim orphans left by a crash. */
int fs_open(const struct fs_options *o, struct fs **out);
void fs_close(struct fs *fs);

int fs_lookup(struct fs *fs, const struct fs_cred *c, uint64_t parent, const char *name,
	      struct fs_attr *out);
int fs_getattr(struct fs *fs, uint64_t ino, struct fs_attr *out);
int fs_setattr(struct fs *fs, const struct fs_cred *c, uint64_t ino, const struct fs_setattr *sa,
	       struct fs_attr *out);
/* mask: R_OK | W_OK | X_OK, or F_OK. */
int fs_access(struct fs *fs, const struct fs_cred *c, uint64_t ino, int mask);

/* mode holds the file type (S_IFREG, S_IFIFO, S_IFCHR, S_IFBLK, S_IFSOCK)
 * and permission bits, umask already applied by the caller. */
int fs_mknod(struct fs *fs, const struct fs_cred *c, uint64_t parent, const char *name,
	     uint32_t mode, uint64_t rdev, struct fs_attr *out);
int fs_mkdir(struct fs *fs, const struct fs_cred *c, uint64_t parent, const char *name,
	     uint32_t mode, struct fs_attr *out);
int fs_symlink(struct fs *fs, const struct fs_cred *c, uint64_t parent, const char *name,
	       const char *target, struct fs_attr *out);
/* Copies the target (not NUL-terminated) into buf; *len gets its length. */
int fs_readlink(struct fs *fs, uint64_t ino, char *buf, size_t size, size_t *len);
int fs_link(struct fs *fs, const struct fs_cred *c, uint64_t ino, uint64_t newparent,
	    const char *newname, struct fs_attr *out);
int fs_unlink(struct fs *fs, const struct fs_cred *c, uint64_t parent, const char *name);
int fs_rmdir(struct fs *fs, const struct fs_cred *c, uint64_t parent, const char *name);
/* flags: 0, RENAME_NOREPLACE or RENAME_EXCHANGE. */
int fs_rename(struct fs *fs, const struct fs_cred *c, uint64_t parent, const char *name,
	      uint64_t newparent, const char *newname, unsigned flags);

/* Open files: an unlinked file stays readable until its last release.
 * flags are open(2) flags; permission is checked here (O_TRUNC truncates). */
int fs_open_file(struct fs *fs, const struct fs_cred *c, uint64_t ino, int flags);
void fs_release(struct fs *fs, uint64_t ino);

int fs_read(struct fs *fs, uint64_t ino, uint64_t off, void *buf, size_t len, size_t *got);
/* Writes are done with the credentials checked at open; clears setuid and
 * setgid as Linux does when c is not privileged. */
int fs_write(struct fs *fs, const struct fs_cred *c, uint64_t ino, uint64_t off,
	     const void *buf, size_t len, size_t *put);
/* fs_write_ex flags. */
#define FS_WRITE_KEEP_TIMES 1   /* the caller keeps mtime/ctime itself (a kernel
				   write-back cache, which sends them later) */
int fs_write_ex(struct fs *fs, const struct fs_cred *c, uint64_t ino, uint64_t off,
		const void *buf, size_t len, unsigned flags, size_t *put);
/* The verified durability barrier (lineage 0: this incarnation). */
int fs_fsync(struct fs *fs, uint64_t ino, bool datasync);
int fs_sync(struct fs *fs);
/* mode: 0, FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE|KEEP_SIZE,
 * FALLOC_FL_ZERO_RANGE (optionally |KEEP_SIZE). */
int fs_fallocate(struct fs *fs, const struct fs_cred *c, uint64_t ino, int mode, uint64_t off,
		 uint64_t len);

/* Entries after cookie (0 = from the start, "." and ".." included);
 * cb returns non-zero to stop (that entry is not consumed).  Cookies are
 * stable 64-bit values that survive concurrent inserts and deletes. */
typedef int (*fs_dirent_cb)(void *arg, const char *name, uint64_t ino, uint32_t type,
			    uint64_t next_cookie);
int fs_readdir(struct fs *fs, const struct fs_cred *c, uint64_t ino, uint64_t cookie,
	       fs_dirent_cb cb, void *arg);

int fs_statfs(struct fs *fs, struct fs_statfs *out);

/* flags: 0, XATTR_CREATE or XATTR_REPLACE.  get/list with size 0 return
 * the needed size in *len. */
int fs_getxattr(struct fs *fs, const struct fs_cred *c, uint64_t ino, const char *name,
		void *buf, size_t size, size_t *len);
int fs_setxattr(struct fs *fs, const struct fs_cred *c, uint64_t ino, const char *name,
		const void *value, size_t size, int flags);
int fs_listxattr(struct fs *fs, const struct fs_cred *c, uint64_t ino, char *buf, size_t size,
		 size_t *len);
int fs_removexattr(struct fs *fs, const struct fs_cred *c, uint64_t ino, const char *name);

/* ---- byte-range locks ----
 *
 * Advisory locks, in memory (src/fs/lock.c), shared by every frontend so
 * a lock taken through one holds against the others.  Three kinds, as on
 * Linux:
 *  - POSIX record locks (fcntl F_SETLK/F_SETLKW/F_GETLK): an owner's locks
 *    on a file merge, split, upgrade and downgrade byte by byte; an
 *    owner's own locks never conflict with it; blocking requests that
 *    would close a cycle of waiting POSIX owners fail with -EDEADLK;
 *  - OFD locks (F_OFD_SETLK...): the same ranges, owned by an open file
 *    description, and conflicting with POSIX locks of other owners; no
 *    deadlock detection (Linux does none for them);
 *  - flock(2) locks: whole-file, shared or exclusive, one per owner (an
 *    open file description), converted by dropping the old lock first;
 *    a separate namespace: they never conflict with range locks.
 * Owners are opaque: the frontend (any id unique among the live ones,
 * e.g. the address of its connection object) and an id within it.  The
 * core does not look the inode up: the caller holds the file open and
 * checked its access mode.  Errors: -EINVAL (bad type or range), -EAGAIN
 * (conflict, no wait), -EDEADLK, -EINTR (cancelled), -ETIMEDOUT (the
 * wait's timeout passed), -ENOLCK (the table is full). */

#define FS_LOCK_EOF UINT64_MAX     /* end of a range that runs to end of file */

enum fs_lock_kind { FS_LOCK_POSIX, FS_LOCK_OFD };

struct fs_lock_owner {
	uint64_t frontend;         /* which frontend or connection */
	uint64_t owner;            /* who, within it (FUSE lock_owner, 9P fid...) */
	uint64_t handle;           /* the open file it acts through (0: none);
				      see fs_lock_release_handle */
	uint32_t pid;              /* reported to fs_getlk callers (Linux
				      reports -1 for an OFD lock: pass that) */
	int kind;                  /* FS_LOCK_POSIX or FS_LOCK_OFD */
};

struct fs_lock {
	int type;                  /* F_RDLCK, F_WRLCK or F_UNLCK */
	uint64_t start, end;       /* inclusive; end FS_LOCK_EOF: to end of file */
	uint32_t pid;              /* fs_getlk: the holder's pid */
	uint64_t owner;            /* fs_getlk: the holder's owner id */
};

/* A blocking request: zero it, set timeout_ms, pass it to one call at a
 * time.  fs_lock_cancel from another thread (a FUSE interrupt, a 9P
 * Tflush) ends the wait with -EINTR, also when it comes before the call
 * starts waiting; a request that needs no wait is granted anyway. */
struct fs_lock_wait {
	uint32_t timeout_ms;       /* 0: wait until granted or cancelled */
	bool cancelled;            /* the core's, under the table's mutex */
};

/* Would lk (F_RDLCK or F_WRLCK) be granted to o?  If not, lk becomes the
 * first conflicting lock (type, range, pid, owner); if so, lk->type is
 * F_UNLCK and the rest is unchanged. */
int fs_getlk(struct fs *fs, uint64_t ino, const struct fs_lock_owner *o, struct fs_lock *lk);
/* Lock or (F_UNLCK) unlock lk's range for o.  wait NULL: -EAGAIN on a
 * conflict; else wait until it is granted (or -EDEADLK, -EINTR,
 * -ETIMEDOUT). */
int fs_setlk(struct fs *fs, uint64_t ino, const struct fs_lock_owner *o,
	     const struct fs_lock *lk, struct fs_lock_wait *wait);
/* flock(2): type F_RDLCK (LOCK_SH), F_WRLCK (LOCK_EX) or F_UNLCK. */
int fs_flock(struct fs *fs, uint64_t ino, const struct fs_lock_owner *o, int type,
	     struct fs_lock_wait *wait);
void fs_lock_cancel(struct fs *fs, struct fs_lock_wait *wait);

/* The releases wake whoever waits for what they free. */
/* o's range locks (POSIX close(2) semantics: not its flock locks) on ino,
 * or on every inode when ino is 0. */
void fs_lock_release_owner(struct fs *fs, uint64_t ino, const struct fs_lock_owner *o);
/* The last reference to an open file went: every lock taken through it
 * (its OFD and flock locks; a POSIX owner's went when it closed it). */
void fs_lock_release_handle(struct fs *fs, uint64_t ino, uint64_t frontend, uint64_t handle);
/* Every lock on ino (the inode is gone). */
void fs_lock_release_inode(struct fs *fs, uint64_t ino);
/* A frontend or connection went away: every lock held through it, and
 * its waiting requests end with -EINTR. */
void fs_lock_release_frontend(struct fs *fs, uint64_t frontend);

/* ---- observers: coherence between frontends ----
 * After every committed mutation (outside the core's locks, so a callback
 * may call back into the core) each registered observer hears of it:
 * inode_changed for an inode whose attributes or data changed,
 * entry_changed for a name added, removed or renamed in a directory
 * (a rename reports both names).  origin is the caller's fs_cred.origin.
 * Callbacks run on the thread that made the change and must be quick.
 * At most FS_OBSERVERS_MAX observers: -ENOSPC past that.  ob must stay
 * valid until fs_unobserve() or fs_close(). */
#define FS_OBSERVERS_MAX 8
struct fs_observer {
	void (*inode_changed)(void *arg, uint32_t origin, uint64_t ino);
	void (*entry_changed)(void *arg, uint32_t origin, uint64_t parent, const char *name);
};
int fs_observe(struct fs *fs, const struct fs_observer *ob, void *arg);
/* -ENOENT if (ob, arg) was not registered.  Not from inside a callback. */
int fs_unobserve(struct fs *fs, const struct fs_observer *ob, void *arg);

#endif
