/* memtable.h -- the in-RAM write buffer: a skiplist of versioned entries.
 *
 * Entries are (key, seq, kind, value); a key may have several versions and
 * the newest visible one wins.  Nothing is ever updated or removed in place,
 * which is what makes reads lock-free: one writer at a time (the caller
 * serialises memtable_add), any number of concurrent readers, each reading
 * as of a snapshot sequence number.  Memory comes from an arena freed only
 * when the last reference goes. */
#ifndef BUCKETFS_LSM_MEMTABLE_H
#define BUCKETFS_LSM_MEMTABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lsm/format.h"

struct memtable;
struct mt_node;

struct memtable *memtable_new(uint64_t seed);
void memtable_ref(struct memtable *mt);
void memtable_unref(struct memtable *mt);

void memtable_add(struct memtable *mt, uint64_t seq, enum lsm_kind kind,
		  const void *key, size_t klen, const void *val, size_t vlen);
/* The newest version of key with seq <= snap: returns true and sets
 * kind/val/vlen (pointers valid while the memtable is referenced). */
bool memtable_get(struct memtable *mt, const void *key, size_t klen, uint64_t snap,
		  enum lsm_kind *kind, const uint8_t **val, size_t *vlen);
/* Bytes of entries and nodes allocated (the rotation trigger). */
size_t memtable_bytes(const struct memtable *mt);
uint64_t memtable_entries(const struct memtable *mt);
/* Smallest and largest seq added (0 when empty). */
uint64_t memtable_min_seq(const struct memtable *mt);
uint64_t memtable_max_seq(const struct memtable *mt);

/* Iterates keys in order, yielding for each key its newest version with
 * seq <= snap (tombstones included: callers decide). */
struct memtable_iter {
	struct memtable *mt;
	struct mt_node *node;
	uint64_t snap;
};

void memtable_iter_init(struct memtable_iter *it, struct memtable *mt, uint64_t snap);
void memtable_iter_seek(struct memtable_iter *it, const void *key, size_t klen);
void memtable_iter_first(struct memtable_iter *it);
static inline bool memtable_iter_valid(const struct memtable_iter *it) { return it->node != NULL; }
void memtable_iter_next(struct memtable_iter *it);
void memtable_iter_entry(const struct memtable_iter *it, const uint8_t **key, size_t *klen,
			 enum lsm_kind *kind, const uint8_t **val, size_t *vlen, uint64_t *seq);

#endif
