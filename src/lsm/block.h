/* block.h -- the decoded form of an SST data block, and its builder.
 *
 * A block holds sorted entries, then a table of entry offsets so a lookup
 * is a binary search without decoding the entries before it:
 *
 *   entry*   kind u8 | klen varint | vlen varint | key | value
 *   offsets  u32 little-endian per entry (offset of the entry)
 *   count    u32 little-endian
 *
 * No prefix compression: the block is compressed as a whole afterwards,
 * and a plain layout keeps a warm lookup to a few cache lines.  Blocks come
 * from the store, so block_parse() checks every offset and length once;
 * after it succeeds, lookups need no further checks. */
#ifndef BUCKETFS_LSM_BLOCK_H
#define BUCKETFS_LSM_BLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lsm/format.h"
#include "util/buf.h"

struct block_builder {
	struct buf data;
	struct buf offsets;
	uint32_t count;
	struct buf last_key;
};

void block_builder_init(struct block_builder *bb);
void block_builder_free(struct block_builder *bb);
void block_builder_add(struct block_builder *bb, enum lsm_kind kind, const void *key,
		       size_t klen, const void *val, size_t vlen);
/* Bytes the block would take if finished now. */
size_t block_builder_size(const struct block_builder *bb);
/* Append offsets and count to the data; the block is in bb->data.  Call
 * block_builder_reset() before reusing. */
void block_builder_finish(struct block_builder *bb);
void block_builder_reset(struct block_builder *bb);

/* A parsed block: points into bytes the caller keeps alive, plus a table
 * of entry positions built by block_parse so that a lookup compares keys
 * without decoding anything. */
struct block_ent {
	uint32_t koff;   /* key offset in data; the value follows the key */
	uint32_t vlen;
	uint16_t klen;
	uint8_t kind;
};

struct block {
	const uint8_t *data;
	size_t len;
	uint32_t count;
	struct block_ent *ents;
	/* Hash index for point lookups: slot -> entry + 1 (0 = empty), open
	 * addressing over bloom_hash() of the key; NULL if not built. */
	uint16_t *hidx;
	uint32_t hmask;
};

/* -EBADMSG if the bytes are not a well-formed block with sorted keys.  On
 * success free the entry table with block_release(). */
int block_parse(struct block *b, const uint8_t *data, size_t len);
void block_release(struct block *b);
static inline void block_entry(const struct block *b, uint32_t i, enum lsm_kind *kind,
			       const uint8_t **key, size_t *klen, const uint8_t **val, size_t *vlen)
{
	const struct block_ent *e = &b->ents[i];
	*kind = (enum lsm_kind)e->kind;
	*key = b->data + e->koff;
	*klen = e->klen;
	*val = *key + e->klen;
	*vlen = e->vlen;
}
/* Index of the first entry with key >= target (count if none). */
uint32_t block_seek(const struct block *b, const void *key, size_t klen);
/* Index of the entry with exactly this key (hash = bloom_hash(key)), or
 * count: one probe of the hash index instead of a binary search. */
uint32_t block_find(const struct block *b, const void *key, size_t klen, uint64_t hash);

#endif
