/* inval.h -- keeping the kernel's caches of a FUSE mount coherent with
 * changes made elsewhere (NFS, 9P, NBD, the admin socket, a test).
 *
 * The core tells every observer of each committed change (fs_observe).
 * This module is the FUSE mount's observer: it ignores the changes the
 * mount made itself (their origin is the mount's own), and queues the
 * others for one thread of its own, which tells the kernel:
 *   - a name added, removed or renamed: fuse_lowlevel_notify_inval_entry
 *     (drops the dentry, negative ones included, and the parent's attrs);
 *   - an inode changed: fuse_lowlevel_notify_inval_inode(ino, 0, 0)
 *     (drops its attributes and all its cached pages; dirty pages are
 *     written back to us first), and with the write-back cache, where the
 *     kernel trusts its own size and mtime of a regular file, brings those
 *     to the core's values (see inval.c: "the write-back fix-up").
 * The notifications are sent from that thread, never from a request
 * handler nor from the committing thread: the kernel may hold the locks
 * of the inode or its parent while it waits for one of our replies, and a
 * notification blocks on those locks.
 *
 * The queue is bounded (INVAL_QUEUE_MAX items, duplicates coalesced).  A
 * notification that finds it full waits a few milliseconds for room, then
 * is dropped and counted as lost: the kernel then relies on its timeouts
 * (attr_timeout, entry_timeout) for that item, and no open keeps the page
 * cache any more (fuse_inval_keep_cache) -- invalidating more, never
 * blocking the core for long.  (With the write-back cache a lost inode
 * item leaves the kernel's size and mtime of that file as they were until
 * the kernel forgets it or the file changes elsewhere again; a warning
 * is logged at the first loss.)
 *
 * keep_cache: an open keeps the kernel's cached pages only when the
 * inode has not been changed elsewhere since the previous open through
 * this mount (a change racing a READ in flight may leave stale pages
 * behind the invalidation; the next open drops them). */
#ifndef BUCKETFS_FUSE_INVAL_H
#define BUCKETFS_FUSE_INVAL_H

#include <stdbool.h>
#include <stdint.h>

#include "fuse/fuse.h"

struct fs;
struct fuse_session;
struct fuse_inval;

/* Observe fs for the mounted session se (origin: the mount's own, whose
 * changes are ignored) and start the thread.  mountpoint is used by the
 * write-back fix-up (writeback: the kernel's write-back cache is on).
 * stats, if not NULL, is updated as it goes (atomically). */
int fuse_inval_start(struct fs *fs, struct fuse_session *se, uint32_t origin,
		     const char *mountpoint, struct fuse_coherence_stats *stats,
		     struct fuse_inval **out);
/* The kernel granted (or not) the write-back cache: called from init. */
void fuse_inval_set_writeback(struct fuse_inval *iv, bool writeback);

/* Stop observing and end the thread (pending items are dropped: the
 * session is ending).  Call before the session is unmounted; if the
 * thread is stuck in the kernel it is waited for in fuse_inval_free,
 * after the unmount aborted the connection. */
void fuse_inval_stop(struct fuse_inval *iv);
void fuse_inval_free(struct fuse_inval *iv);

/* For op_open: may the kernel keep its cached pages of ino?  Consumes the
 * "changed elsewhere" mark. */
bool fuse_inval_keep_cache(struct fuse_inval *iv, uint64_t ino);

/* Is this request made by the invalidation thread itself (its write-back
 * fix-up)?  Such a setattr must change nothing in the core. */
bool fuse_inval_is_own_request(const struct fuse_inval *iv, uint32_t pid);

#endif
