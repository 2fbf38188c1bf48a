/* fuse_int.h -- what the FUSE request handlers (fuse_ops.c) and the mount
 * plumbing (mount.c) share: the libfuse API version and the per-mount
 * state the handlers find through fuse_req_userdata(). */
#ifndef BUCKETFS_FUSE_FUSE_INT_H
#define BUCKETFS_FUSE_FUSE_INT_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>
#include <stdbool.h>

struct fs;

struct fuse_frontend {
	struct fs *fs;
	double attr_timeout, entry_timeout;
	bool read_only;
	bool writeback;      /* asked for the kernel's write-back cache */
};

/* The request handlers; userdata is a struct fuse_frontend. */
extern const struct fuse_lowlevel_ops fuse_frontend_ops;

#endif
