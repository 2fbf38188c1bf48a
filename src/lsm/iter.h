/* iter.h -- the merging iterator over memtables, SSTs and levels (private).
 *
 * Children are added newest first; for a key present in several children
 * the entry of the first (newest) one is yielded and the others are
 * skipped, which is how newer versions shadow older ones.  Tombstones are
 * yielded too: lsm_iter hides them, compaction decides whether to keep
 * them.  The caller keeps everything the children point at alive (a view
 * reference, or the compaction's input tables). */
#ifndef BUCKETFS_LSM_ITER_H
#define BUCKETFS_LSM_ITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lsm/format.h"
#include "lsm/memtable.h"
#include "lsm/sst.h"
#include "lsm/version.h"

struct merge_iter;

struct merge_iter *merge_iter_new(void);
void merge_iter_free(struct merge_iter *mi);
void merge_add_memtable(struct merge_iter *mi, struct memtable *mt, uint64_t snap);
void merge_add_table(struct merge_iter *mi, struct sst_table *t);
/* A sorted, disjoint run of files (a level >= 1), opened as needed. */
void merge_add_level(struct merge_iter *mi, struct sst_file *const *files, size_t n,
		     const struct sst_env *env);

void merge_seek(struct merge_iter *mi, const void *key, size_t klen);
void merge_first(struct merge_iter *mi);
bool merge_valid(const struct merge_iter *mi);
void merge_next(struct merge_iter *mi);
void merge_entry(const struct merge_iter *mi, enum lsm_kind *kind, const uint8_t **key,
		 size_t *klen, const uint8_t **val, size_t *vlen);
int merge_status(const struct merge_iter *mi);

#endif
