/* pcache.h -- the parts cache: byte ranges of segment objects, as stored.
 *
 * Segment objects are immutable and never renamed, so their bytes can be
 * cached without invalidation.  They are cached in 1 MiB parts (aligned
 * ranges of an object): a RAM tier (LRU under a byte budget) over an
 * optional disk tier (files under the cache directory, oldest evicted past
 * the budget).  Both hold bytes exactly as stored: ciphertext, so the
 * cache directory needs no protection and can be deleted at any time.
 *
 * A read that misses fetches the run of missing parts with ONE ranged GET,
 * and concurrent readers of a part being fetched wait for that fetch
 * instead of issuing their own. */
#ifndef BUCKETFS_DATA_PCACHE_H
#define BUCKETFS_DATA_PCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "store/objstore.h"

#define PCACHE_PART_BYTES (1u << 20)

struct pcache;

/* dir may be NULL (no disk tier); it is created if missing. */
struct pcache *pcache_new(objstore *st, const char *dir, uint64_t ram_bytes, uint64_t disk_bytes);
void pcache_free(struct pcache *pc);
/* Copy [off, off+len) of the segment object into out.  -EIO if the
 * object is missing or shorter. */
int pcache_read(struct pcache *pc, uint64_t epoch, uint64_t counter, uint64_t off, size_t len,
		void *out);
/* Start loading the parts covering [off, off+len) in the background
 * (readahead); returns at once. */
void pcache_prefetch(struct pcache *pc, uint64_t epoch, uint64_t counter, uint64_t off,
		     size_t len);
/* Forget every cached part of a segment (deleted, or failed to verify). */
void pcache_drop_segment(struct pcache *pc, uint64_t epoch, uint64_t counter);

struct pcache_stats {
	uint64_t hits, misses, disk_hits, gets, get_bytes, ram_bytes, disk_bytes;
};
void pcache_stats(struct pcache *pc, struct pcache_stats *st);

#endif
