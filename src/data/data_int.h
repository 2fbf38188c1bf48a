/* data_int.h -- state of the data plane shared by data.c and gc.c (private).
 *
 * Locks, in order: gc_mu (one GC pass at a time), barrier_mu (one barrier
 * at a time), seg_mu (the open segment, segment table and every commit:
 * a commit appends its frames and applies its LSM batch under seg_mu, so
 * a barrier that seals the segment and rotates the memtable under seg_mu
 * splits the history exactly between two commits). */
#ifndef BUCKETFS_DATA_DATA_INT_H
#define BUCKETFS_DATA_DATA_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "data/data.h"
#include "data/ecache.h"
#include "data/pcache.h"
#include "data/segment.h"
#include "data/upload.h"

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

struct data {
	struct data_options o;
	uint8_t key[CRYPT_KEY_BYTES];
	lsm *db;
	objstore *st;
	uint64_t epoch;
	bool writer;

	pthread_mutex_t gc_mu, barrier_mu, seg_mu;
	struct segment *open;
	uint64_t next_counter;
	struct seginfo **segs;    /* hash table by (epoch, counter) */
	size_t nbuckets, nsegs;

	struct uploader *up;
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
	bool stop, flusher_started, gc_started;

	_Atomic uint64_t n_barriers;
	_Atomic uint64_t last_barrier_ns; /* data_stats; CLOCK_REALTIME */
};

void data_extent_key(uint8_t key[17], uint64_t ino, uint64_t ext);
void data_segment_key(uint8_t key[17], uint64_t epoch, uint64_t counter);
struct seginfo *data_seginfo_locked(struct data *d, uint64_t epoch, uint64_t counter, bool create);
void data_seginfo_remove_locked(struct data *d, uint64_t epoch, uint64_t counter);
/* Seal the open segment (if any) and hand it to the uploader. */
int data_seal_open_locked(struct data *d);
/* Read and authenticate one frame from RAM or the store. */
int data_load_frame(struct data *d, const struct frame_loc *loc, uint64_t ino, uint64_t ext,
		    struct buf *raw);
/* Append a frame to the open segment, opening or rolling it as needed. */
int data_append_locked(struct data *d, uint64_t ino, uint64_t ext, const void *raw, size_t len,
		       struct frame_loc *loc);

#endif
