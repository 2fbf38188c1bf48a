/* fs.h -- the POSIX filesystem core: one API for every frontend.
 *
 * FUSE, NFSv3, 9P2000.L and NBD all call these functions; the core alone
 * owns the rules of POSIX (permissions, errno values, timestamps, link
 * counts, rename semantics), so every frontend behaves alike.  Frontends
 * never touch the LSM or the data plane: this header names them only as
 * incomplete types.  Where a protocol needs more than POSIX, the core does
 * what a Linux NFS server over ext4 makes a client see.
 *
 * Contract:
 *  - Every call takes the caller's credentials and returns 0 or a negative
 *    errno.  Every mutation is ONE atomic batch of the metadata LSM
 *    (through the data plane's transactions, so data and metadata commit
 *    together): a crash never leaves a half-done rename or a dangling
 *    entry.  The one exception is the removal of a big file's data, which
 *    runs in bounded chunks after its last name went (see "Orphans").
 *  - fs_commit() / fs_fsync() make one inode's changes durable (free when
 *    they already are), fs_sync() everything; the periodic flush does it
 *    in the background.
 *  - Every mutation can report NFS-style weak cache consistency data
 *    (struct fs_wcc_out: attributes before and after, for the object and
 *    its parent directories); pass NULL when not wanted.  Every mutation
 *    bumps the change counter (fs_attr.change) of each inode it changes;
 *    it is persisted and never goes back.  Every committed mutation is
 *    reported to the observers (fs_observe) after the core let go of its
 *    locks.
 *  - Handles: inode numbers are 64-bit and never reused in one store; the
 *    generation of an inode is the writer incarnation (epoch) that created
 *    it, so (ino, generation) is unique forever, even when a crash makes
 *    a number be handed out again.  fs_fsid() names the filesystem.  The
 *    root directory is inode FS_ROOT_INO, generation 1.
 *  - Readdir cookies are stable 64-bit values: an entry keeps its cookie
 *    as long as it exists, cookies are never reused in a directory, and a
 *    listing resumed from any cookie sees every entry that existed
 *    throughout exactly once.  The cookie verifier of a directory
 *    (fs_readdir_verifier) is therefore constant for the directory's life:
 *    its generation; a client holding cookies of a directory that was
 *    removed gets -ESTALE from the handle, never wrong entries.
 *  - Orphans: a file whose last name goes while it is open keeps its
 *    record (nlink 0) until the last fs_release.  A file whose data must
 *    go (last name and no open, or last release) is deleted at once when
 *    small; a big one gets an orphan key in the same batch that drops the
 *    name, and a background thread (the reclaimer, started by fs_open on
 *    a writer) punches its data FS_RECLAIM_CHUNK_BYTES of stored extents
 *    per transaction, then deletes the record.  fs_statfs counts its bytes
 *    until they are gone.  A crash in between resumes at the next start.
 *    Such an inode (no name, not open) is gone for callers: getattr by
 *    handle, stateless I/O, setattr, xattr changes and fallocate are
 *    -ESTALE, fs_open_file -ENOENT.  A big shrink (truncate) works the
 *    same way: the size drops in one batch, the data past it goes chunk
 *    by chunk, and an operation that would grow the file over it first
 *    finishes that, so old data never shows through.
 *
 * Metadata keys (big-endian integers):
 *   'I' ino              inode record (docs/DESIGN.md has the format)
 *   'D' parent name      directory entry: child ino, type, readdir cookie
 *   'C' parent cookie    name, so readdir resumes from a stable cookie
 *   'X' ino name         extended attribute value
 *   'O' ino              orphan: unlinked while open, or its data still
 *                        being reclaimed (also: data past the size of a
 *                        file shrunk a lot, still being removed)
 *   'F'                  filesystem counters (next inode, used bytes, inodes)
 *   'U'                  filesystem id (8 random bytes)
 * plus the data plane's 'E', 'S' and 'L' keys.
 *
 * Locks (fs_getlk, fs_setlk, fs_flock) are advisory and kept in memory
 * only, as an NFS/NLM or 9P server keeps them: a restart loses them and
 * clients reclaim them.
 *
 * Threads: the reclaimer (writer only), plus the data plane's and the
 * LSM's.  All calls are thread-safe; operations on one inode are
 * serialised by a per-inode lock (several inodes: locked in a fixed
 * order), and no lock of the core is held while waiting for uploads. */
#ifndef BUCKETFS_FS_FS_H
#define BUCKETFS_FS_FS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

struct lsm;
struct data;

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
	uint64_t change;          /* bumped by every change of data or metadata */
};

/* Weak cache consistency data of one inode (NFSv3 wcc_data): what it was
 * before the operation and what it is after.  pre is set when the
 * operation found the inode (not for one it created), post when the inode
 * still exists afterwards; a failed operation reports post = pre. */
struct fs_wcc {
	bool pre_valid, post_valid;
	uint64_t pre_size;
	struct timespec pre_mtime, pre_ctime;
	uint64_t pre_change;
	struct fs_attr post;
};

/* What a mutation changed: obj is the inode operated on (the file
 * written, the inode created, linked, removed or renamed), dir its parent
 * directory (rename: the old parent), dir2 the new parent of a rename. */
struct fs_wcc_out {
	struct fs_wcc obj, dir, dir2;
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
	FS_SET_OWNER_OVERRIDE = 1 << 9, /* stateless callers (NFS): the owner may
					   change the size whatever the mode
					   says, as with fs_write_as (knfsd) */
	FS_SET_GUARD_CTIME = 1 << 10, /* NFS SETATTR guard: change nothing and
					 return -EAGAIN (NFS3ERR_NOT_SYNC)
					 unless ctime is guard_ctime */
};

struct fs_setattr {
	unsigned valid;
	uint32_t mode, uid, gid;
	uint64_t size;
	struct timespec atime, mtime, ctime;
	struct timespec guard_ctime;
};

struct fs_statfs {
	uint64_t blocks, bfree, bavail;   /* in bsize units */
	uint64_t files, ffree;
	uint32_t bsize, namemax;
};

struct fs_options {
	struct lsm *db;           /* not owned */
	struct data *data;        /* not owned */
	bool read_only;           /* every mutation is EROFS */
	uint64_t max_size;        /* quota in bytes (0 = none): ENOSPC past it */
	uint64_t max_inodes;      /* 0 = none */
	bool atime;               /* update atime on read (relatime rules) */
	uint64_t reclaim_chunk_bytes; /* stored bytes punched per reclaim
					 transaction (0: FS_RECLAIM_CHUNK_BYTES) */
	bool reclaim_paused;      /* tests: start with the reclaimer paused */
};

#define FS_RECLAIM_CHUNK_BYTES (64ull << 20)

/* Open the filesystem in db (creating the root directory on an empty
 * tree, owned by uid/gid 0, mode 0755; giving a writer's store a
 * filesystem id if it has none), and on a writer start the reclaimer,
 * which first finishes the deletes a crash interrupted. */
int fs_open(const struct fs_options *o, struct fs **out);
/* Stops the reclaimer between two chunks (the rest waits for the next
 * start).  Does not run a barrier: the caller closes the data plane. */
void fs_close(struct fs *fs);

/* ---- identity (stateless frontends) ---- */
/* The filesystem id: random at creation, kept in the store ('U').  A
 * read-only instance of a store that has none yet (made before ids
 * existed, no writer opened since) gets one derived from the store's
 * first clean-shutdown lineage, the same on every open. */
uint64_t fs_fsid(struct fs *fs);
/* 8 random bytes chosen at fs_open: they change on every restart, so an
 * NFS client knows to resend writes not yet committed (WRITE/COMMIT verf). */
void fs_write_verifier(struct fs *fs, uint8_t out[8]);
/* The key of the NFS handles' MAC: derived from the data key for the domain
 * "nfs handles", so it is the same on every open of the store (a handle
 * outlives a restart) and unknown to anyone without the password. */
void fs_handle_key(struct fs *fs, uint8_t out[32]);
/* getattr of a handle: -ESTALE if the inode is gone (deleted, or unlinked
 * and not open) or its generation is not gen. */
int fs_getattr_handle(struct fs *fs, uint64_t ino, uint64_t gen, struct fs_attr *out);

int fs_lookup(struct fs *fs, const struct fs_cred *c, uint64_t parent, const char *name,
	      struct fs_attr *out);
int fs_getattr(struct fs *fs, uint64_t ino, struct fs_attr *out);
int fs_setattr(struct fs *fs, const struct fs_cred *c, uint64_t ino, const struct fs_setattr *sa,
	       struct fs_attr *out, struct fs_wcc_out *wcc);
/* mask: R_OK | W_OK | X_OK, or F_OK. */
int fs_access(struct fs *fs, const struct fs_cred *c, uint64_t ino, int mask);

/* mode holds the file type (S_IFREG, S_IFIFO, S_IFCHR, S_IFBLK, S_IFSOCK)
 * and permission bits, umask already applied by the caller.  wcc: obj is
 * the new inode (post only), dir the parent. */
int fs_mknod(struct fs *fs, const struct fs_cred *c, uint64_t parent, const char *name,
	     uint32_t mode, uint64_t rdev, struct fs_attr *out, struct fs_wcc_out *wcc);
int fs_mkdir(struct fs *fs, const struct fs_cred *c, uint64_t parent, const char *name,
	     uint32_t mode, struct fs_attr *out, struct fs_wcc_out *wcc);
int fs_symlink(struct fs *fs, const struct fs_cred *c, uint64_t parent, const char *name,
	       const char *target, struct fs_attr *out, struct fs_wcc_out *wcc);

/* Create a regular file and open it in one step (open(2) with O_CREAT,
 * NFS CREATE, 9P lcreate).  flags: open(2) flags; O_EXCL: fail with
 * -EEXIST if the name exists, except for an exclusive create with a
 * verifier (verf not NULL: NFS CREATE EXCLUSIVE), which stores the 8
 * bytes in atime/mtime as Linux does until the first setattr, so a retry
 * with the same verifier finds its own file and succeeds, and another
 * verifier gets -EEXIST.  Without O_EXCL an existing file is opened
 * (permission checked, O_TRUNC truncates; -EISDIR for a directory).  A new
 * file is opened whatever its mode says.  Unless flags has FS_CREATE_NOOPEN
 * the open is counted (fs_release it).  *created says if the file is new. */
#define FS_CREATE_NOOPEN (1 << 30)
int fs_create(struct fs *fs, const struct fs_cred *c, uint64_t parent, const char *name,
	      uint32_t mode, int flags, const uint8_t *verf, struct fs_attr *out, bool *created,
	      struct fs_wcc_out *wcc);

/* Copies the target (not NUL-terminated) into buf; *len gets its length. */
int fs_readlink(struct fs *fs, uint64_t ino, char *buf, size_t size, size_t *len);
/* wcc: obj the inode, dir the new parent. */
int fs_link(struct fs *fs, const struct fs_cred *c, uint64_t ino, uint64_t newparent,
	    const char *newname, struct fs_attr *out, struct fs_wcc_out *wcc);
/* wcc: obj the inode that lost the name, dir the parent. */
int fs_unlink(struct fs *fs, const struct fs_cred *c, uint64_t parent, const char *name,
	      struct fs_wcc_out *wcc);
int fs_rmdir(struct fs *fs, const struct fs_cred *c, uint64_t parent, const char *name,
	     struct fs_wcc_out *wcc);
/* flags: 0, RENAME_NOREPLACE or RENAME_EXCHANGE.  wcc: obj the source,
 * dir the old parent, dir2 the new parent. */
int fs_rename(struct fs *fs, const struct fs_cred *c, uint64_t parent, const char *name,
	      uint64_t newparent, const char *newname, unsigned flags, struct fs_wcc_out *wcc);

/* Open files: an unlinked file stays readable until its last release.
 * flags are open(2) flags; permission is checked here (O_TRUNC truncates). */
int fs_open_file(struct fs *fs, const struct fs_cred *c, uint64_t ino, int flags);
void fs_release(struct fs *fs, uint64_t ino);

/* Reads and writes through an open file: the permission was checked at
 * open (c only decides whether setuid/setgid are dropped). */
int fs_read(struct fs *fs, uint64_t ino, uint64_t off, void *buf, size_t len, size_t *got);
int fs_write(struct fs *fs, const struct fs_cred *c, uint64_t ino, uint64_t off,
	     const void *buf, size_t len, size_t *put);
/* fs_write_ex flags. */
#define FS_WRITE_KEEP_TIMES 1   /* the caller keeps mtime/ctime itself (a kernel
				   write-back cache, which sends them later) */
int fs_write_ex(struct fs *fs, const struct fs_cred *c, uint64_t ino, uint64_t off,
		const void *buf, size_t len, unsigned flags, size_t *put, struct fs_wcc_out *wcc);

/* Stateless reads and writes (NFS): no open file; c is checked on every
 * call with knfsd's rules: the owner may read and write a file it owns
 * whatever its mode bits (it may have just created it mode 0444), and a
 * file that may be executed may be read.  *eof: the read reached the end.
 * -ESTALE for a file that lost its last name and is not open. */
int fs_read_as(struct fs *fs, const struct fs_cred *c, uint64_t ino, uint64_t off, void *buf,
	       size_t len, size_t *got, bool *eof);
int fs_write_as(struct fs *fs, const struct fs_cred *c, uint64_t ino, uint64_t off,
		const void *buf, size_t len, size_t *put, struct fs_wcc_out *wcc);

/* Make the inode's committed changes durable (NFS COMMIT, NBD FLUSH,
 * fsync): free when they already are (the core remembers per inode the
 * last commit that changed it), else the verified barrier.  off/len are
 * accepted for the protocols and do not narrow the barrier.  Covered are
 * the changes whose call had returned: a write still in flight on another
 * thread (visible to readers, its seq not yet stamped) may be missed, as
 * POSIX allows for a write that has not returned. */
int fs_commit(struct fs *fs, uint64_t ino, uint64_t off, uint64_t len);
/* fs_commit of the whole inode. */
int fs_fsync(struct fs *fs, uint64_t ino, bool datasync);
/* The verified barrier for everything (lineage 0: this incarnation). */
int fs_sync(struct fs *fs);
/* mode: 0, FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE|KEEP_SIZE,
 * FALLOC_FL_ZERO_RANGE (optionally |KEEP_SIZE). */
int fs_fallocate(struct fs *fs, const struct fs_cred *c, uint64_t ino, int mode, uint64_t off,
		 uint64_t len, struct fs_wcc_out *wcc);

/* Data and holes of [off, off+len) clipped to the file's size, in order
 * (SEEK_DATA/SEEK_HOLE, NBD BLOCK_STATUS): runs are DATA_EXTENT_BYTES
 * (32 KiB) aligned except where clipped.  cb returns non-zero to stop
 * (fs_map returns that value).  -EISDIR / -EINVAL for a non-regular file. */
typedef int (*fs_map_cb)(void *arg, uint64_t off, uint64_t len, bool data);
int fs_map(struct fs *fs, uint64_t ino, uint64_t off, uint64_t len, fs_map_cb cb, void *arg);

/* Entries after cookie (0 = from the start, "." and ".." included);
 * cb returns non-zero to stop (that entry is not consumed).  See the top
 * of this file for what cookies promise. */
typedef int (*fs_dirent_cb)(void *arg, const char *name, uint64_t ino, uint32_t type,
			    uint64_t next_cookie);
int fs_readdir(struct fs *fs, const struct fs_cred *c, uint64_t ino, uint64_t cookie,
	       fs_dirent_cb cb, void *arg);
/* The same with each entry's attributes (READDIRPLUS, 9P readdir): an
 * entry removed between the listing and the attribute load is skipped. */
typedef int (*fs_direntplus_cb)(void *arg, const char *name, const struct fs_attr *attr,
				uint64_t next_cookie);
int fs_readdirplus(struct fs *fs, const struct fs_cred *c, uint64_t ino, uint64_t cookie,
		   fs_direntplus_cb cb, void *arg);
/* The directory's cookie verifier (its generation); -ENOTDIR. */
int fs_readdir_verifier(struct fs *fs, uint64_t ino, uint64_t *verf);

int fs_statfs(struct fs *fs, struct fs_statfs *out);

/* flags: 0, XATTR_CREATE or XATTR_REPLACE.  get/list with size 0 return
 * the needed size in *len. */
int fs_getxattr(struct fs *fs, const struct fs_cred *c, uint64_t ino, const char *name,
		void *buf, size_t size, size_t *len);
int fs_setxattr(struct fs *fs, const struct fs_cred *c, uint64_t ino, const char *name,
		const void *value, size_t size, int flags, struct fs_wcc_out *wcc);
int fs_listxattr(struct fs *fs, const struct fs_cred *c, uint64_t ino, char *buf, size_t size,
		 size_t *len);
int fs_removexattr(struct fs *fs, const struct fs_cred *c, uint64_t ino, const char *name,
		   struct fs_wcc_out *wcc);

/* ---- pins: a file in use as a whole (an NBD export) ----
 * While an inode is pinned (by any holder, counted), what would pull it
 * from under its users fails with -EBUSY and a warning naming the holder:
 * a size change (truncate, O_TRUNC, setattr), removing its last name
 * (unlink, or a rename over it).  Data writes, renaming the file itself
 * and extra hard links are allowed.  Pins live in memory only; the
 * holder names itself (e.g. "nbd export disk1"), the first one's name is
 * the one reported.  fs_pin does not look the inode up. */
void fs_pin(struct fs *fs, uint64_t ino, const char *holder);
void fs_unpin(struct fs *fs, uint64_t ino);
bool fs_pinned(struct fs *fs, uint64_t ino);

/* ---- metrics ---- */
enum fs_op_kind {
	FS_OP_LOOKUP, FS_OP_GETATTR, FS_OP_SETATTR, FS_OP_MKNOD, FS_OP_MKDIR, FS_OP_SYMLINK,
	FS_OP_CREATE, FS_OP_LINK, FS_OP_UNLINK, FS_OP_RMDIR, FS_OP_RENAME, FS_OP_OPEN,
	FS_OP_RELEASE, FS_OP_READ, FS_OP_WRITE, FS_OP_FALLOCATE, FS_OP_COMMIT, FS_OP_READDIR,
	FS_OP_SETXATTR, FS_OP_REMOVEXATTR, FS_OP_ATIME, FS_OP_RECLAIM, FS_OP_ACCESS,
	FS_OP_READLINK, FS_OP_STATFS, FS_OP_GETXATTR, FS_OP_LISTXATTR, FS_OP_MAP, FS_OP_KINDS
};
struct fs_op_stats {
	uint64_t count, errors;   /* calls, and those that returned an error */
	uint64_t ns;              /* total latency */
};
struct fs_stats {
	struct fs_op_stats op[FS_OP_KINDS];
	uint64_t commits_skipped;     /* fs_commit with nothing to make durable */
	uint64_t reclaim_chunks;      /* reclaimer transactions */
	uint64_t reclaim_pending;     /* inodes waiting for the reclaimer */
	uint64_t reclaim_failures;    /* chunks that failed (each is retried) */
};
void fs_stats(struct fs *fs, struct fs_stats *out);
const char *fs_op_name(enum fs_op_kind k);

/* ---- the reclaimer (tests and shutdown) ---- */
/* Pause (between chunks) or resume it. */
void fs_reclaim_pause(struct fs *fs, bool paused);
/* Wait until it has nothing left to do (not while paused: -EAGAIN); a
 * failed chunk is waited for through its retries. */
int fs_reclaim_wait(struct fs *fs);
/* While paused: run the next chunk on the caller's thread.  1: more is
 * queued (this inode or others), 0: the queue is empty (or a read-only
 * instance), <0: the chunk failed (the inode stays queued, moved to the
 * back; a step does not wait for the thread's backoff); -EBUSY when not
 * paused. */
int fs_reclaim_step(struct fs *fs);

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
