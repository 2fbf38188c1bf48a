/* db.h -- the state of an open tree, shared by the LSM's own files (private).
 *
 * Locks, always taken in this order when nested:
 *   compact_mu  one compaction at a time
 *   commit_mu   one manifest write at a time (commit, compaction install,
 *               checkpoints), so manifests are numbered without gaps
 *   write_mu    one batch into the memtable at a time; rotation takes it so
 *               a batch never straddles two memtables
 *   flush_mu    one memtable flush at a time, oldest first, so L0 order is
 *               flush order
 *   mu          every field below it; never held across store I/O
 */
#ifndef BUCKETFS_LSM_DB_H
#define BUCKETFS_LSM_DB_H

#include <pthread.h>
#include <stdatomic.h>

#include "lsm/lsm.h"
#include "lsm/manifest.h"
#include "lsm/version.h"

/* An SST that no durable manifest references any more. */
struct obsolete {
	uint64_t id;
	uint64_t since_ns;
	struct sst_file *f;      /* still referenced by in-process readers, or NULL */
};

struct checkpoint {
	char *name;
	uint64_t manifest_seq;   /* 0 until the manifest recording it is written */
	uint64_t created_ns;
	uint64_t *ids;           /* the SSTs it pins, sorted */
	size_t nids;
};

#define MAX_FROZEN_MEMTABLES 4
/* Writers wait (briefly) for compaction past this many L0 files. */
#define L0_SLOWDOWN_FILES 20

struct lsm {
	struct lsm_options o;
	uint8_t key[CRYPT_KEY_BYTES];
	struct sst_env env;
	struct block_cache *cache;
	bool writer;

	pthread_mutex_t compact_mu, commit_mu, write_mu, flush_mu, mu;
	pthread_cond_t cond;     /* background work and writer stalls */

	struct memtable *mem;
	struct memtable **imm;   /* frozen, oldest first */
	size_t nimm;
	struct version *cur;
	struct view *view;
	_Atomic uint64_t last_seq;
	uint64_t durable_seq;
	uint64_t manifest_seq;
	uint64_t epoch;
	uint32_t next_sst;
	struct checkpoint *cps;
	size_t ncps;
	struct obsolete *obs;
	size_t nobs;
	struct sst_file **pending;  /* removed from the version, not yet durable */
	size_t npending;
	uint64_t *manifests;     /* manifest seqs known to exist, ascending */
	size_t nmanifests;
	uint64_t *starts;        /* epoch-start manifests: never deleted */
	size_t nstarts;
	bool fenced;
	bool manifest_dirty;     /* the version changed without a manifest */
	struct buf compact_ptr[LSM_LEVELS];

	pthread_t bg, bg_compact;
	bool bg_started, compact_started, stop;
	pthread_mutex_t refresh_mu; /* one lsm_refresh at a time */

	uint64_t n_flushes, n_compactions, n_cbytes_in, n_cbytes_out, n_deleted;
};

/* commit.c */
void db_install_view_locked(lsm *db);
void db_rotate_locked(lsm *db);
uint64_t db_alloc_sst_id_locked(lsm *db);
/* Flush the oldest frozen memtable to an L0 SST if it holds writes with
 * seq <= upto: 1 if one was flushed, 0 if there was none, or an error. */
int db_flush_oldest(lsm *db, uint64_t upto);
/* Write the next manifest covering `durable` (commit_mu held). */
int db_write_manifest(lsm *db, uint64_t durable);
void db_add_manifest_seq_locked(lsm *db, uint64_t seq);
/* After EEXIST on our next manifest: 1 if it is ours (a lost reply), 0 if
 * another writer's (logged: we are fenced), or an error. */
int db_manifest_is_ours(lsm *db, uint64_t seq);

/* compaction.c */
bool db_compaction_due_locked(lsm *db);
size_t db_committed_l0_locked(lsm *db);
/* Run one compaction if due: 1 if it ran, 0 if none was due, or an error. */
int db_compact_once(lsm *db, bool full);

/* gc.c */
bool db_is_pinned_locked(lsm *db, uint64_t id);
void db_obsolete_add_locked(lsm *db, uint64_t id, uint64_t since_ns, struct sst_file *f);
void db_checkpoints_free(lsm *db);
/* Writer open: mark SSTs that nothing references as obsolete. */
int db_sweep_orphans(lsm *db);
/* Load the SST sets of every checkpoint in m (writer open). */
int db_load_checkpoints(lsm *db, const struct manifest *m);

#endif
