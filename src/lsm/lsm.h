/* lsm.h -- the metadata LSM tree, kept in the object store.
 *
 * Keys and values are byte strings; keys sort by memcmp.  Writes go to an
 * in-RAM memtable as atomic batches; lsm_commit() makes them durable by
 * writing the memtable out as immutable SSTs (`sst/<id>`) and then a new
 * manifest (`manifest/<20-digit seq>`) naming every live SST.  Recovery is
 * "open the newest manifest": there is no log to replay.
 *
 * Invariants the rest of bucketfs relies on:
 *  - A batch is visible all at once or not at all, to readers and after a
 *    crash.  After a crash the tree holds exactly the batches up to some
 *    sequence number D >= the last completed commit: a prefix.
 *  - A manifest only ever names SSTs whose data is covered by a commit
 *    (sequence <= the manifest's durable seq): background flushes and
 *    compactions never make uncommitted writes durable, so the data plane
 *    decides when its objects must be uploaded (see lsm_rotate()).
 *  - Manifests are written only with put_if_absent.  A writer takes over by
 *    writing the next manifest with a new writer epoch; an older writer's
 *    next manifest write then fails and it is fenced: every later mutation
 *    returns -EROFS and the log says why.  Two writers never both succeed.
 *  - An SST is deleted only after no durable manifest, no checkpoint and no
 *    open iterator references it, and after a grace period (read replicas
 *    may still be reading an older manifest).
 *
 * Threads: unless options.background is false, lsm_open() starts one
 * background thread that flushes full memtables to SSTs, runs compactions
 * and deletes obsolete objects.  All functions are thread-safe.  Errors are
 * negative errno values: -ENOENT (no such key / no filesystem), -EROFS
 * (reader, checkpoint view, or fenced writer), -EIO (store failure, or
 * on reads a block that fails authentication: both logged with the object
 * name), -EBADMSG (lsm_open: a manifest that fails authentication),
 * -EINVAL (bad argument). */
#ifndef BUCKETFS_LSM_LSM_H
#define BUCKETFS_LSM_LSM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypt/aead.h"
#include "crypt/codec.h"
#include "store/objstore.h"
#include "util/buf.h"

typedef struct lsm lsm;
struct lsm_batch;
struct lsm_iter;

#define LSM_KEY_MAX 2048
#define LSM_VALUE_MAX (1u << 20)
#define LSM_LEVELS 7
#define LSM_CHECKPOINT_NAME_MAX 128

struct lsm_options {
	objstore *store;                    /* not owned; must outlive the lsm */
	uint8_t key[CRYPT_KEY_BYTES];       /* the metadata-domain subkey */
	struct codec codec;                 /* for new blocks (default zstd:3) */
	bool create;                        /* writer: start an empty tree if none */
	bool read_only;                     /* open the newest manifest, never write */
	const char *checkpoint;             /* read-only view of this checkpoint */
	bool background;                    /* start the background thread (default true) */
	size_t memtable_bytes;              /* rotate past this (default 64 MiB) */
	size_t block_bytes;                 /* data block target (default 4 KiB) */
	size_t block_cache_bytes;           /* decoded block cache (default 256 MiB) */
	uint64_t sst_target_bytes;          /* compaction output split (default 32 MiB) */
	unsigned l0_trigger;                /* committed L0 SSTs that start a compaction (4) */
	uint64_t l1_target_bytes;           /* L1 size target, x10 per level (256 MiB) */
	uint64_t gc_grace_ms;               /* keep unreferenced objects (default 10 min) */
	unsigned manifests_kept;            /* old manifests kept besides pinned (default 10) */
};

void lsm_options_default(struct lsm_options *o);

int lsm_open(const struct lsm_options *o, lsm **out);
/* Stops the background thread and frees everything.  Does NOT commit:
 * writes after the last commit are dropped, exactly as in a crash.  Call
 * lsm_flush() first for a clean shutdown. */
void lsm_close(lsm *db);

/* ---- writes ---- */
struct lsm_batch *lsm_batch_new(void);
void lsm_batch_free(struct lsm_batch *b);
void lsm_batch_clear(struct lsm_batch *b);
void lsm_batch_put(struct lsm_batch *b, const void *key, size_t klen,
		   const void *val, size_t vlen);
void lsm_batch_delete(struct lsm_batch *b, const void *key, size_t klen);
size_t lsm_batch_count(const struct lsm_batch *b);
/* Apply atomically (later operations on the same key win).  On success
 * *seq (if not NULL) is the batch's last sequence number.  -EINVAL for an
 * empty/oversized key or oversized value (nothing applied). */
int lsm_write(lsm *db, struct lsm_batch *b, uint64_t *seq);
/* The waits lsm_write may do before it applies (writers slowed down while
 * compaction catches up, frozen memtables flushed when too many wait),
 * done now, for callers that apply batches under a lock of their own: they
 * call this before taking it, so nobody waits for the store while holding
 * it.  Readers (lsm_get, iterators) never wait for writers: they only
 * take a reference to the current memtables and files. */
void lsm_throttle(lsm *db);

/* ---- reads (see every batch applied before the call) ---- */
int lsm_get(lsm *db, const void *key, size_t klen, struct buf *val);
/* An ordered iterator over keys starting with prefix (plen may be 0), from
 * the first key >= start (or the prefix's first key when start is NULL).
 * It reads a snapshot taken at creation. */
int lsm_iter_new(lsm *db, const void *prefix, size_t plen, const void *start,
		 size_t slen, struct lsm_iter **out);
bool lsm_iter_valid(const struct lsm_iter *it);
void lsm_iter_next(struct lsm_iter *it);
const uint8_t *lsm_iter_key(const struct lsm_iter *it, size_t *klen);
const uint8_t *lsm_iter_value(const struct lsm_iter *it, size_t *vlen);
/* 0, or the error that ended the iteration early (it is then not valid). */
int lsm_iter_status(const struct lsm_iter *it);
void lsm_iter_free(struct lsm_iter *it);

/* ---- durability ---- */
/* Freeze the memtable so that a following lsm_commit(*seq) makes durable
 * exactly the writes up to *seq, nothing after.  Call it while holding
 * whatever lock orders your writes (the data plane calls it together with
 * sealing its open segment). */
int lsm_rotate(lsm *db, uint64_t *seq);
/* Make every write with sequence <= seq durable; returns once a manifest
 * covering it is in the store.  Concurrent callers share one manifest
 * write (group commit).  It may make later writes durable too, unless the
 * caller rotated at seq. */
int lsm_commit(lsm *db, uint64_t seq);
/* Commit everything written so far. */
int lsm_flush(lsm *db);
/* The caller knows for certain that a writer of newer_epoch has taken
 * over the store (the daemon read its lease): turn fenced now, as a
 * failed manifest write would, rather than at the next commit, so an idle
 * writer reports it and refuses every later mutation with -EROFS.
 * Nothing for a reader, or when newer_epoch is not newer than ours. */
void lsm_mark_fenced(lsm *db, uint64_t newer_epoch);
uint64_t lsm_last_seq(lsm *db);
uint64_t lsm_durable_seq(lsm *db);

/* ---- maintenance ---- */
/* Run compactions until none is due (full = merge everything into the
 * bottom level), then write a manifest. */
int lsm_compact(lsm *db, bool full);
/* Delete objects no longer referenced whose grace period has passed. */
int lsm_collect_garbage(lsm *db);
/* Reader: switch to the newest manifest if there is one; *changed says if
 * it did.  -EINVAL on a writer. */
int lsm_refresh(lsm *db, bool *changed);

/* ---- checkpoints: named, pinned manifests ---- */
/* Record a checkpoint of the durable state (what the newest manifest
 * holds): commit first (lsm_flush, or the data plane's barrier, which
 * alone knows when data segments are in the store).  -EEXIST if the name
 * is taken, -EINVAL for an empty name, one longer than
 * LSM_CHECKPOINT_NAME_MAX or holding '/' or control characters. */
int lsm_checkpoint_create(lsm *db, const char *name);
int lsm_checkpoint_delete(lsm *db, const char *name);
/* Calls cb for each checkpoint: name, manifest seq, creation time (ns). */
int lsm_checkpoint_list(lsm *db, void (*cb)(void *arg, const char *name, uint64_t manifest_seq,
					   uint64_t created_ns), void *arg);

struct lsm_stats {
	uint64_t epoch;               /* writer epoch of this instance / of the manifest read */
	uint64_t manifest_seq;
	uint64_t last_seq, durable_seq;
	uint64_t memtable_bytes;      /* active + frozen */
	unsigned files[LSM_LEVELS];
	uint64_t bytes[LSM_LEVELS];
	uint64_t cache_hits, cache_misses, cache_bytes;
	uint64_t flushes, compactions, compaction_bytes_in, compaction_bytes_out;
	uint64_t objects_deleted;
	bool fenced;
};
void lsm_stats(lsm *db, struct lsm_stats *st);

#endif
