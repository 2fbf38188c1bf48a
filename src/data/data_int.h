/* data_int.h -- state of the data plane shared by data.c, commit.c and
 * gc.c (private).
 *
 * Locks, in order:
 *   gc_mu       one GC pass at a time
 *   barrier_mu  one barrier at a time
 *   seg_mu      the commit lock: the segment table, which segment is open,
 *               frame reservations and every LSM batch the data plane
 *               applies.  A commit reserves its frames and applies its
 *               batch under seg_mu, so a barrier that closes the segment
 *               and rotates the memtable under seg_mu splits the history
 *               exactly between two commits.  Never held while compressing
 *               or encrypting a commit's frames, nor while waiting for
 *               uploads.
 *   open_mu     the d->open pointer, for readers (changed under seg_mu too)
 *   q_mu        the group-commit queue (a leaf)
 * and inside any of them a segment's own lock (segment.c).
 *
 * The owner of a reserved frame fills it without taking any of these
 * locks first (segment.h): a reader may wait for the frame, and the
 * group-commit leader applies its own transaction last, so it has no
 * unfilled frame while it still takes locks. */
#ifndef BUCKETFS_DATA_DATA_INT_H
#define BUCKETFS_DATA_DATA_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "data/data.h"
#include "data/ecache.h"
#include "data/pcache.h"
#include "data/segment.h"
#include "data/upload.h"
#include "data/workers.h"

#define KEY_EXTENT 'E'
#define KEY_SEGMENT 'S'
#define KEY_LINEAGE 'L'

/* What the writer knows of each segment: live bytes drive GC. */
struct seginfo {
	uint64_t epoch, counter;
	int64_t live;             /* bytes of frames some extent key points at */
	uint64_t total;           /* bytes of all frames ever appended */
	bool dirty;               /* differs from its 'S' key */
	bool sealed;              /* immutable (uploaded or on its way) */
	uint64_t dead_since_ns;   /* first seen with no live bytes (0 = live) */
	struct seginfo *next;
};

/* One extent changed by a transaction. */
struct staged {
	uint64_t ino, ext;
	uint32_t len;             /* stored length; 0 = hole */
	uint8_t *raw;             /* EXTENT_BYTES */
	/* commit: */
	int err;                  /* of frame_encode */
	struct buf frame;         /* the frame, encoded, then sealed */
	struct segment *seg;      /* reserved in (a reference), or NULL */
	struct frame_loc loc;
};

struct range_del {
	uint64_t ino, from, to;   /* extents [from, to) */
};

struct data_txn {
	struct data *d;
	struct staged *st;
	size_t n, cap;
	struct range_del *rd;
	size_t nrd;
	data_extents_hook hook;
	void *hook_arg;
	data_commit_hook commit_hook;
	void *commit_arg;
	/* commit: in the group-commit queue (under q_mu) */
	struct lsm_batch *batch;
	uint64_t seq;
	int result;
	bool done;
	struct data_txn *qnext;
};

struct data {
	struct data_options o;
	uint8_t key[CRYPT_KEY_BYTES];
	lsm *db;
	objstore *st;
	uint64_t epoch;
	bool writer;

	pthread_mutex_t gc_mu, barrier_mu, seg_mu, open_mu;
	struct segment *open;
	uint64_t next_counter;
	struct seginfo **segs;    /* hash table by (epoch, counter) */
	size_t nbuckets, nsegs;

	struct uploader *up;
	struct workers *cpu;      /* compresses and encrypts large commits */

	pthread_mutex_t q_mu;
	pthread_cond_t q_cond;    /* a queued commit is done, or the leader left */
	struct data_txn *q_head, *q_tail;
	bool q_leader;            /* a thread is applying a group */
	struct pcache *pc;
	struct ecache *ec;

	_Atomic uint64_t commits;  /* commits applied so far */
	uint64_t durable_commits;  /* under barrier_mu */

	/* readahead: the last extent read per small hash of the inode */
	_Atomic uint64_t ra_next[64];
	_Atomic uint32_t ra_window[64];

	pthread_t flusher, gc_thread;
	pthread_mutex_t bg_mu;
	pthread_cond_t bg_cond;
	_Atomic bool stop;        /* read by the background threads without bg_mu */
	bool flusher_started, gc_started;

	_Atomic uint64_t n_barriers;
	_Atomic uint64_t last_barrier_ns; /* data_stats; CLOCK_REALTIME */
};

void data_extent_key(uint8_t key[17], uint64_t ino, uint64_t ext);
void data_segment_key(uint8_t key[17], uint64_t epoch, uint64_t counter);
struct seginfo *data_seginfo_locked(struct data *d, uint64_t epoch, uint64_t counter, bool create);
void data_seginfo_remove_locked(struct data *d, uint64_t epoch, uint64_t counter);
/* Close the open segment (if any) and hand it to the uploader, which
 * seals it once its last frame is filled. */
int data_seal_open_locked(struct data *d);
/* Reserve a frame of frame_len bytes in the open segment, opening or
 * rolling it as needed; *seg gets a reference the caller drops after
 * segment_fill(). */
int data_reserve_locked(struct data *d, uint64_t ino, uint64_t ext, size_t frame_len,
			struct segment **seg, struct frame_loc *loc);
bool data_txn_range_deleted(const struct data_txn *t, uint64_t ino, uint64_t ext);
/* Read and authenticate one frame from RAM or the store. */
int data_load_frame(struct data *d, const struct frame_loc *loc, uint64_t ino, uint64_t ext,
		    struct buf *raw);
#endif
