/* ecache.h -- the RAM cache of decoded extents, for hot reads.
 *
 * Keyed by (inode, extent index); holds the extent's plaintext (up to
 * 32 KiB; bytes past the stored length read as zeros).  Sharded LRU under
 * a byte budget; a hit copies under the shard lock, so no reference counts.
 *
 * Coherence with commits: a reader that missed records ecache_gen(ino)
 * before it looks up where the extent lives, and inserts what it decoded
 * with that generation; a commit bumps the inode's generation before it
 * installs new content, so a reader that raced with the commit never
 * inserts stale bytes.  (Generations live in a fixed table indexed by a
 * hash of the inode: a collision only makes a reader skip its insert.) */
#ifndef BUCKETFS_DATA_ECACHE_H
#define BUCKETFS_DATA_ECACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ecache;

struct ecache *ecache_new(uint64_t capacity);
void ecache_free(struct ecache *ec);
uint64_t ecache_gen(struct ecache *ec, uint64_t ino);
void ecache_bump(struct ecache *ec, uint64_t ino);
/* Copy [off, off+len) of the extent (zeros past its stored length). */
bool ecache_read(struct ecache *ec, uint64_t ino, uint64_t ext, uint32_t off, void *buf,
		 size_t len);
/* Whole extent content (raw_len <= 32 KiB) into out; false on a miss. */
bool ecache_get(struct ecache *ec, uint64_t ino, uint64_t ext, void *out, uint32_t *raw_len);
/* Insert; with gen != ECACHE_ALWAYS only if the inode's generation is
 * still gen.  raw_len 0 records a hole. */
#define ECACHE_ALWAYS UINT64_MAX
void ecache_put(struct ecache *ec, uint64_t ino, uint64_t ext, const void *raw,
		uint32_t raw_len, uint64_t gen);
void ecache_drop(struct ecache *ec, uint64_t ino, uint64_t ext);
/* Forget everything (a replica moved to a newer manifest). */
void ecache_clear(struct ecache *ec);
void ecache_counts(struct ecache *ec, uint64_t *hits, uint64_t *misses);

#endif
