/* inval_queue.h -- the FUSE mount's bounded queue of changes to tell the
 * kernel about, and its "changed elsewhere" marks (used by inval.c; no
 * locking here: the caller holds its mutex).
 *
 * The queue is a ring of INVAL_QUEUE_MAX items, each an inode or a
 * (parent, name).  A change already queued and not yet taken is not
 * queued again: the item is sent after both changes committed, so it
 * covers both.  A full queue refuses (the caller decides what to lose).
 *
 * The marks remember which inodes changed elsewhere since the mount last
 * opened them (keep_cache).  They are a direct-mapped table: two marked
 * inodes of one slot make the slot "any", which stays (every inode of the
 * slot then opens without keeping its pages): never a wrong keep, at
 * worst a page cache dropped for nothing. */
#ifndef BUCKETFS_FUSE_INVAL_QUEUE_H
#define BUCKETFS_FUSE_INVAL_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define INVAL_QUEUE_MAX 1024
#define INVAL_MARKS 4096

struct inval_item {
	uint64_t ino;          /* the inode, or the parent of name */
	char *name;            /* NULL: an inode item; else malloc'ed */
};

struct inval_queue {
	struct inval_item q[INVAL_QUEUE_MAX];
	size_t head, count;
	uint64_t marks[INVAL_MARKS];   /* 0, a marked inode, or INVAL_MARK_ANY */
};

enum inval_push { INVAL_QUEUED, INVAL_COALESCED, INVAL_FULL };

/* Queue an inode (name NULL) or a name of directory ino (copied). */
enum inval_push inval_queue_push(struct inval_queue *q, uint64_t ino, const char *name);
/* The oldest item (the caller frees its name); false when empty. */
bool inval_queue_pop(struct inval_queue *q, struct inval_item *out);
bool inval_queue_full(const struct inval_queue *q);
/* Drop every item. */
void inval_queue_clear(struct inval_queue *q);

void inval_mark(struct inval_queue *q, uint64_t ino);
/* Was ino marked (or its slot "any")?  Consumes ino's own mark. */
bool inval_mark_take(struct inval_queue *q, uint64_t ino);

#endif
