/* fuse.h -- the FUSE frontend: the filesystem core mounted locally.
 *
 * Serves a struct fs through the kernel's FUSE protocol with libfuse3's
 * low-level API and its multi-threaded loop.  Every request is mapped onto
 * one fs.h call made with the caller's credentials (uid, gid and
 * supplementary groups of the requesting process); the core does every
 * permission check, so the mount does not use default_permissions.
 * Inode numbers are used as FUSE node ids as they are (the root is
 * FS_ROOT_INO = FUSE_ROOT_ID); they are stable, so forget needs no count.
 *
 * Life cycle of a mount, as the daemon (bucketfs run) uses it:
 *
 *	fuse_mountpoint_check(dir, &abs);	before taking over as writer
 *	... open the store, read the key ...
 *	fuse_signals_start();		before any thread of the layers exists
 *	... open lsm, data, fs; give up if fuse_stop_requested() ...
 *	fuse_frontend_run(fs, &o);	mount and serve until told to stop
 *	... fs_sync, fs_close, data_close, lsm_flush ...
 *
 * fuse_frontend_run returns when SIGINT, SIGTERM or SIGHUP arrives (after
 * syncfs(2) on the mount, so the kernel's writeback cache has been written
 * to the core, and a lazy unmount: files still open there then fail with
 * ENOTCONN) or when someone unmounts the mount point.
 *
 * A mount left behind by a daemon that died ("Transport endpoint is not
 * connected") is found by fuse_mountpoint_check: a dead bucketfs mount is
 * detached lazily (logged), anything else is refused with an explanation.
 *
 * Threads: fuse_signals_start() starts one thread that waits for the
 * signals (they are blocked in every other thread, which inherit the mask);
 * this signal state is process-wide, as signals are.  fuse_frontend_run
 * runs libfuse's worker threads (up to max_threads) while it serves, and
 * one thread that tells the kernel about changes other frontends make to
 * the same core (inval.h: coherence between frontends). */
#ifndef BUCKETFS_FUSE_FUSE_H
#define BUCKETFS_FUSE_FUSE_H

#include <stdbool.h>
#include <stdint.h>

struct fs;

/* What a mount told the kernel about changes made elsewhere (for tests
 * and metrics; updated atomically while the mount is served). */
struct fuse_coherence_stats {
	uint64_t inval_inode, inval_entry;   /* notifications sent */
	uint64_t own_ignored;                /* the mount's own changes: not sent */
	uint64_t lost;                       /* dropped, the queue being full */
	uint64_t wb_fixups;                  /* kernel size/mtime corrected (write-back) */
};

struct fuse_frontend_options {
	const char *mountpoint;    /* an absolute path (fuse_mountpoint_check) */
	const char *fsname;        /* "source" column of mount(8), e.g. the store URL */
	bool read_only;            /* mount ro; the core returns EROFS anyway */
	bool allow_other;          /* let other users in (needs user_allow_other
				      in /etc/fuse.conf unless root) */
	double attr_timeout;       /* seconds the kernel caches attributes */
	double entry_timeout;      /* seconds it caches names (and misses) */
	bool writeback_cache;      /* kernel write-back caching (ignored read-only) */
	unsigned max_threads;      /* worker threads (0: 16) */
	struct fuse_coherence_stats *stats;  /* optional (tests) */
};

/* Block SIGINT, SIGTERM and SIGHUP in the calling thread and start the
 * thread that handles them.  Call before the threads that must not see
 * them start (they inherit the mask); a second call does nothing.
 * Before a mount exists the first signal asks the daemon to stop
 * (fuse_stop_requested) and a second one ends the process at once. */
int fuse_signals_start(void);
bool fuse_stop_requested(void);

/* Resolve dir to an absolute path (*abs, malloc'ed) and make sure it can
 * be mounted: it must be a directory and not a live bucketfs mount.  A
 * dead FUSE mount of bucketfs there is detached (MNT_DETACH, or
 * fusermount3 -uz when not root) with a log line; a dead mount of another
 * filesystem is -ENOTCONN with a message saying how to remove it. */
int fuse_mountpoint_check(const char *dir, char **abs);

/* Mount fs at o->mountpoint and serve it until a stop signal or an
 * unmount.  0 on a clean end; negative errno (logged) if it could not
 * mount or the session failed. */
int fuse_frontend_run(struct fs *fs, const struct fuse_frontend_options *o);

#endif
