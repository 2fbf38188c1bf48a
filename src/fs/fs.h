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
