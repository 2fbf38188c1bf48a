/* block_cache.h -- decoded SST blocks kept in RAM under a byte budget.
 *
 * Keyed by (SST id, block offset).  Sharded by key hash, each shard an LRU
 * list plus hash chain under its own mutex.  Entries are reference counted:
 * eviction unlinks an entry but its bytes live until the last user
 * releases it, so a reader never holds a dangling block.  The budget counts
 * decoded bytes; it may be exceeded briefly by blocks still in use. */
#ifndef BUCKETFS_LSM_BLOCK_CACHE_H
#define BUCKETFS_LSM_BLOCK_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "lsm/block.h"

struct block_cache;
struct cblock;

struct block_cache *block_cache_new(size_t capacity);
void block_cache_free(struct block_cache *bc);

/* A referenced entry, or NULL on a miss. */
struct cblock *block_cache_lookup(struct block_cache *bc, uint64_t id, uint64_t off);
/* Take ownership of `bytes` (malloc'ed, parsed as `blk`) and return a
 * referenced entry: the new one, or the one another thread inserted first
 * (then `bytes` is freed). */
struct cblock *block_cache_insert(struct block_cache *bc, uint64_t id, uint64_t off,
				  uint8_t *bytes, const struct block *blk);
void block_cache_release(struct block_cache *bc, struct cblock *cb);
const struct block *cblock_block(const struct cblock *cb);

struct block_cache_stats {
	uint64_t hits, misses, bytes, entries;
};
void block_cache_stats(struct block_cache *bc, struct block_cache_stats *st);

#endif
