/* data.h -- the data plane: file contents as frames in segments.
 *
 * The filesystem core stores file data through this API.  Data changes are
 * staged in a transaction (struct data_txn) and applied by data_txn_commit()
 * together with the caller's own metadata mutations, as ONE atomic LSM
 * batch: a crash never separates a file's size from its data.
 *
 * Keys this module owns in the LSM (big-endian integers):
 *   'E' ino ext       FrameLoc of extent ext of inode ino (no key = hole)
 *   'S' epoch counter live bytes of a segment (u64), written at barriers
 *   'L' lineage       present once that writer incarnation shut down cleanly
 *
 * Invariants:
 *  - A durable manifest never references a segment that is not in the
 *    store: data_barrier() seals and uploads the open segment, and only then
 *    commits the LSM up to the exact point where the segment was sealed.
 *  - Every frame committed before a completed barrier reads back exactly;
 *    after a crash the data is that of a prefix of the commits.
 *  - Readers never wait for uploads: data not yet in the store is served
 *    from RAM.
 *  - Nothing leaves the process unencrypted; the disk cache holds only
 *    bytes as stored (ciphertext).
 *
 * Callers serialise changes to one inode (the core's inode lock): a
 * transaction reads an extent's old content when it changes part of it,
 * and that content must not change under it.  Several calls on the same
 * inode within one transaction see each other's effects.
 *
 * Threads: data_open() starts upload threads, a periodic-barrier thread,
 * a garbage-collection thread and a pool of CPU threads that compress and
 * encrypt large transactions (writer only).  All calls are
 * thread-safe.  Errors are negative errno: -EIO (store, or a frame that
 * failed authentication, logged naming the segment, frame, inode and
 * extent: never garbage), -EROFS (read-only or fenced),
 * -ESTALE (barrier for writes of a crashed incarnation). */
#ifndef BUCKETFS_DATA_DATA_H
#define BUCKETFS_DATA_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypt/aead.h"
#include "crypt/codec.h"
#include "lsm/lsm.h"
#include "store/objstore.h"

struct data;
struct data_txn;

struct data_options {
	objstore *store;                 /* not owned */
	lsm *db;                         /* not owned; opened by the caller */
	uint8_t key[CRYPT_KEY_BYTES];    /* the data-domain subkey */
	uint8_t meta_key[CRYPT_KEY_BYTES]; /* the LSM's key: GC opens checkpoint views */
	struct codec codec;              /* for new frames (default lz4) */
	bool read_only;
	uint64_t segment_bytes;          /* seal past this (default 256 MiB) */
	unsigned upload_threads;         /* default 2 */
	unsigned uploads_in_flight;      /* sealed segments awaiting upload before
					    writers wait (default 4) */
	uint64_t flush_interval_ms;      /* periodic barrier (default 30 s; 0 = off) */
	const char *cache_dir;           /* disk tier of the parts cache (NULL = none) */
	uint64_t cache_ram_bytes;        /* parts cache RAM tier (default 256 MiB) */
	uint64_t cache_disk_bytes;       /* parts cache disk tier (default 4 GiB) */
	uint64_t extent_cache_bytes;     /* decoded extents (default 256 MiB) */
	uint64_t gc_grace_ms;            /* before deleting a dead segment (10 min) */
	uint64_t gc_interval_ms;         /* background GC period (default 60 s; 0 = off) */
	double gc_repack_below;          /* repack segments less live than this (0.5) */
	double gc_space_target;          /* then repack the emptiest until stored <=
					    this x live (default 1.25) */
	uint64_t barrier_timeout_ms;     /* give up waiting for uploads (120 s) */
	unsigned cpu_threads;            /* compress/encrypt commits on this many
					    threads (0 = one per CPU) */
};

void data_options_default(struct data_options *o);
int data_open(const struct data_options *o, struct data **out);
/* Writer: a final barrier and the clean-shutdown mark for this lineage. */
int data_close(struct data *d);

/* This incarnation's lineage: tag writes with it, ask barriers for it. */
uint64_t data_lineage(const struct data *d);
/* A key of its own for domain, derived from the data-domain subkey (the
 * NFS handles' MAC key): the same for every open of the store. */
void data_subkey(const struct data *d, enum crypt_domain domain, uint8_t out[CRYPT_KEY_BYTES]);

/* ---- changes ---- */
struct data_txn *data_txn_new(struct data *d);
void data_txn_free(struct data_txn *t);
int data_write(struct data_txn *t, uint64_t ino, uint64_t off, const void *buf, size_t len);
/* Zero [from, to): whole extents become holes, partial ones are rewritten. */
int data_punch(struct data_txn *t, uint64_t ino, uint64_t from, uint64_t to);
/* The file shrinks or grows to size: everything at or past size is zero. */
int data_truncate(struct data_txn *t, uint64_t ino, uint64_t old_size, uint64_t size);
/* Every extent of the inode (size: the file's size, bounding the work). */
int data_delete_all(struct data_txn *t, uint64_t ino, uint64_t size);
/* The size of an extent: the unit of data_map and of stored-extent counts. */
#define DATA_EXTENT_BYTES (32u << 10)
/* Called by data_txn_commit just before the batch is applied, once per
 * inode whose number of stored (non-hole) extents the transaction changes,
 * with that change.  The hook may add to the batch (a later put of a key
 * wins), so the caller can keep a per-inode count in its own record.  It
 * runs under the data plane's commit lock: it must be quick and must not
 * call back into the data plane. */
typedef void (*data_extents_hook)(void *arg, struct lsm_batch *b, uint64_t ino, int64_t delta);
void data_txn_on_extents(struct data_txn *t, data_extents_hook fn, void *arg);
/* Called by data_txn_commit under the same lock, after the extent hooks:
 * once with DATA_HOOK_PREPARE just before the batch is applied (it may add
 * to the batch), then once with DATA_HOOK_APPLIED or DATA_HOOK_FAILED.
 * Commits run their hooks one at a time in the order their batches are
 * applied, so a caller can keep in-RAM totals (and persist them in the
 * batch) exactly in step with the tree without a lock of its own held
 * across the commit.  A commit that fails before the batch is ready
 * calls neither.  Same rules as the extent hook. */
enum { DATA_HOOK_PREPARE, DATA_HOOK_APPLIED, DATA_HOOK_FAILED };
typedef void (*data_commit_hook)(void *arg, struct lsm_batch *b, int phase);
void data_txn_on_commit(struct data_txn *t, data_commit_hook fn, void *arg);
/* Apply the staged data changes plus the caller's mutations in b as one
 * atomic batch.  b may be NULL.  *seq (if not NULL) is the LSM seq.  If
 * it stored data it then waits for upload room (backpressure:
 * data_throttle); a commit of metadata and holes only never waits.
 *
 * Concurrent commits are grouped: the frames are compressed and encrypted
 * by their own callers (and the CPU pool) outside any lock, and one of the
 * callers applies the whole group's batches in turn, each its own atomic
 * batch with its own seq, and runs their hooks.  So a hook may run on
 * another committer's thread, while its own caller waits in the commit. */
int data_txn_commit(struct data_txn *t, struct lsm_batch *b, uint64_t *seq);
/* The same without the wait, for callers that hold locks of their own
 * during the commit: they call data_throttle() once they have let go, so
 * nobody waits for uploads while holding a lock others need. */
int data_txn_commit_nowait(struct data_txn *t, struct lsm_batch *b, uint64_t *seq);
/* Wait until the upload queue has room for more sealed segments.  Holds
 * no lock while it waits. */
void data_throttle(struct data *d);

/* ---- reads ---- */
/* Fill buf with [off, off+len) as stored: holes and never-written ranges
 * read as zeros (the caller handles end of file). */
int data_read(struct data *d, uint64_t ino, uint64_t off, void *buf, size_t len);

/* Calls cb for each run of stored extents (data) and of holes in
 * [off, off+len), in order, clipped to the range; runs are extent-aligned
 * except where clipped.  Sees every committed transaction.  cb returns
 * non-zero to stop (data_map then returns that value). */
typedef int (*data_map_cb)(void *arg, uint64_t off, uint64_t len, bool data);
int data_map(struct data *d, uint64_t ino, uint64_t off, uint64_t len, data_map_cb cb,
	     void *arg);

/* Read-only instance (replica): follow the writer to the newest
 * manifest (lsm_refresh) and forget cached extents it may have changed.
 * Call this rather than lsm_refresh() directly. */
int data_refresh(struct data *d, bool *changed);

/* ---- durability ---- */
/* Make every commit so far durable.  lineage 0 or this incarnation's:
 * a normal barrier.  Another lineage: 0 if that incarnation shut down
 * cleanly (all its writes are durable), -ESTALE if it did not (writes it
 * made after its last barrier are lost).  Concurrent callers share one
 * barrier. */
int data_barrier(struct data *d, uint64_t lineage);

/* A named read-only snapshot of everything committed so far: a barrier,
 * then a checkpoint of the LSM (which pins the segments it references). */
int data_checkpoint(struct data *d, const char *name);

/* ---- garbage collection ---- */
struct data_gc_report {
	uint64_t segments_scanned, segments_deleted, segments_repacked;
	uint64_t bytes_reclaimed, bytes_rewritten, orphans_deleted;
};
/* One pass: delete dead segments past the grace period, repack sparse
 * ones, delete unreferenced objects.  Ends with a barrier. */
int data_gc(struct data *d, struct data_gc_report *rep);

struct data_stats {
	uint64_t segments_uploaded, bytes_uploaded, upload_retries;
	uint64_t extent_hits, extent_misses, part_hits, part_misses, disk_hits;
	uint64_t gets, get_bytes, barriers;
	uint64_t live_bytes, stored_bytes; /* over all segments known */
	/* Not yet durable: the open segment plus the sealed segments still
	 * waiting for their upload (uploads_pending of them). */
	uint64_t dirty_bytes, uploads_pending;
	uint64_t last_barrier_ns;  /* wall clock (CLOCK_REALTIME) of the last
				      completed barrier; 0: none yet */
	uint64_t cache_ram_bytes, cache_disk_bytes; /* parts cache in use */
};
void data_stats(struct data *d, struct data_stats *st);

#endif
