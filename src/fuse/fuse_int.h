/* fuse_int.h -- what the FUSE request handlers (fuse_ops.c) and the mount
 * plumbing (mount.c) share: the libfuse API version and the per-mount
 * state the handlers find through fuse_req_userdata(). */
#ifndef BUCKETFS_FUSE_FUSE_INT_H
#define BUCKETFS_FUSE_FUSE_INT_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct fs;
struct fuse_inval;

/* fs_cred.origin of a mount's calls: FUSE_ORIGIN_BASE + a number per
 * mount of the process, so the mount can tell its own changes apart. */
#define FUSE_ORIGIN_BASE 0x46550000u   /* "FU" */

struct fuse_frontend {
	struct fs *fs;
	double attr_timeout, entry_timeout;
	bool read_only;
	bool writeback;      /* asked for the kernel's write-back cache */
	uint32_t origin;     /* in every fs_cred the handlers build */
	struct fuse_inval *inval;   /* changes made elsewhere (inval.h) */
	_Atomic bool stopping;      /* the mount is being stopped: blocked lock
				       requests give up (fuse_locks.c) */
};

/* The request handlers; userdata is a struct fuse_frontend. */
extern const struct fuse_lowlevel_ops fuse_frontend_ops;

/* ---- locks (fuse_locks.c): handlers and the lock side of others ---- */
void fuse_op_getlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, struct flock *fl);
void fuse_op_setlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, struct flock *fl,
		   int sleep);
void fuse_op_flock(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, int op);
void fuse_op_destroy(void *userdata);
/* A new open's fi->fh: unique, so its release can drop its OFD locks. */
uint64_t fuse_lock_handle_new(void);
void fuse_locks_flush(fuse_req_t req, fuse_ino_t ino, const struct fuse_file_info *fi);
void fuse_locks_release(fuse_req_t req, fuse_ino_t ino, const struct fuse_file_info *fi);

#endif
