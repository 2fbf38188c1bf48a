/* version.h -- in-RAM state of the tree: live SST files, versions, views.
 *
 * An sst_file describes one live SST and lazily holds its open table.  A
 * version is an immutable set of files per level: L0 newest first (files
 * may overlap), L1+ sorted by key and disjoint.  A view bundles what a
 * reader needs: the active memtable, the frozen ones (newest first) and a
 * version.  Versions and views are replaced, never changed, and reference
 * counted, so a reader takes one reference under the lock and then reads
 * without it. */
#ifndef BUCKETFS_LSM_VERSION_H
#define BUCKETFS_LSM_VERSION_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "lsm/lsm.h"
#include "lsm/memtable.h"
#include "lsm/sst.h"

struct sst_file {
	_Atomic int refs;
	uint64_t id;
	int level;
	uint64_t size, meta_off, entries;
	uint64_t min_seq, max_seq;
	struct buf smallest, largest;
	bool compacting;                     /* under lsm.mu */
	pthread_mutex_t open_mu;
	struct sst_table *_Atomic table;     /* opened on first use */
};

struct sst_file *sst_file_new(uint64_t id, int level);
void sst_file_ref(struct sst_file *f);
void sst_file_unref(struct sst_file *f);
/* The open table, opening it on first use. */
int sst_file_table(struct sst_file *f, const struct sst_env *env, struct sst_table **t);
/* Does [smallest, largest] contain key / overlap [lo, hi]? */
bool sst_file_contains(const struct sst_file *f, const void *key, size_t klen);
bool sst_file_overlaps(const struct sst_file *f, const void *lo, size_t lolen,
		       const void *hi, size_t hilen);

struct version {
	_Atomic int refs;
	struct sst_file **files[LSM_LEVELS];
	size_t n[LSM_LEVELS];
};

struct version *version_new(void);
/* A copy sharing the files (each referenced again). */
struct version *version_copy(const struct version *v);
void version_ref(struct version *v);
void version_unref(struct version *v);
/* Add keeping the level's order (takes a reference). */
void version_add(struct version *v, struct sst_file *f);
/* Remove the file with this id from its level (drops the reference). */
void version_remove(struct version *v, const struct sst_file *f);
uint64_t version_level_bytes(const struct version *v, int level);
/* Index of the first file in level >= 1 whose largest key >= key. */
size_t version_find_file(const struct version *v, int level, const void *key, size_t klen);

struct view {
	_Atomic int refs;
	struct memtable *mem;
	struct memtable **imm;   /* newest first */
	size_t nimm;
	struct version *v;
};

struct view *view_new(struct memtable *mem, struct memtable *const *imm_oldest_first,
		      size_t nimm, struct version *v);
void view_ref(struct view *w);
void view_unref(struct view *w);

#endif
