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
 * Life cycle of a mount, as the daemon (src/daemon) drives it:
 *
 *	fuse_mountpoint_check(&o, &abs);	before taking over as writer
 *	... open the stack ...
 *	fuse_frontend_start(fs, &o, &m);	mount, serve on a thread
 *	... until the daemon stops, or o.ended() tells it of an unmount ...
 *	fuse_frontend_drain(m);		syncfs(2): the kernel's write-back
 *					cache reaches the core
 *	fuse_frontend_stop(m);		end the loop, lazy unmount (files
 *					still open there fail with ENOTCONN)
 *	... fs_sync, fs_close, data_close, lsm_flush ...
 *
 * The frontend takes no signals: the daemon owns them.
 *
 * A mount left behind by a daemon that died ("Transport endpoint is not
 * connected") is found by fuse_mountpoint_check: a dead bucketfs mount is
 * detached lazily (logged), anything else is refused with an explanation.
 *
 * Threads: fuse_frontend_start starts one serving thread, which runs
 * libfuse's worker threads (up to max_threads) until the stop, and one thread that tells the kernel about changes
 * other frontends make to the same core (inval.h: coherence between
 * frontends). */
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
	const char *subtype;       /* the type in /proc/mounts is fuse.SUBTYPE; NULL:
				      "bucketfs"; "": plain "fuse" */
	const char *flags;         /* kernel mount options, comma-separated, each one
				      fuse_mount_flag_known; NULL: the kernel's
				      (relatime; suid and dev allowed when root
				      mounts, fusermount3 forces nosuid, nodev) */
	const char *run_dir;       /* where the serving daemon is recorded for its
				      mount point (mount.c: "the previous server");
				      NULL: not recorded, not waited for */
	struct fuse_coherence_stats *stats;  /* optional (tests) */
	/* Called once from the serving thread when the mount ends without
	 * fuse_frontend_stop (an unmount from outside, a failed session). */
	void (*ended)(void *arg, const char *why);
	void *ended_arg;
};

/* Resolve o->mountpoint to an absolute path (*abs, malloc'ed) and make
 * sure it can be mounted: it must be a directory and not a live bucketfs
 * mount (of o->subtype).  A dead FUSE mount of bucketfs there is detached
 * (MNT_DETACH, or fusermount3 -uz when not root) with a log line; a dead
 * mount of another filesystem is -ENOTCONN with a message saying how to
 * remove it.  With o->run_dir, a daemon that served the mount point
 * before and still runs (in its final flush after an unmount) is waited
 * for, at most 180 s (-EBUSY, logged, past that). */
int fuse_mountpoint_check(const struct fuse_frontend_options *o, char **abs);
/* Is a mount of o (fuse.SUBTYPE) on abs, and does it answer? */
bool fuse_mount_live(const char *abs, const struct fuse_frontend_options *o);
/* Is name one of the mount options o->flags may hold (dev, nodev, suid,
 * nosuid, exec, noexec, noatime, relatime, strictatime)? */
bool fuse_mount_flag_known(const char *name);

struct fuse_mount;

/* Mount fs at o->mountpoint and serve it on a thread.  0, or negative
 * errno (logged) if it could not mount. */
int fuse_frontend_start(struct fs *fs, const struct fuse_frontend_options *o,
			struct fuse_mount **out);
const char *fuse_frontend_mountpoint(const struct fuse_mount *m);
/* syncfs(2) on the mount: what the kernel caches is written to the core. */
void fuse_frontend_drain(struct fuse_mount *m);
/* Stop serving, unmount (lazily) and free m.  NULL is a no-op. */
void fuse_frontend_stop(struct fuse_mount *m);

#endif
