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

/* A parsed block: points into bytes the caller keeps alive. */
struct block {
	const uint8_t *data;
	size_t len;
	uint32_t count;
	const uint8_t *offsets; /* count u32 LE */
};

/* -EBADMSG if the bytes are not a well-formed block with sorted keys. */
int block_parse(struct block *b, const uint8_t *data, size_t len);
void block_entry(const struct block *b, uint32_t i, enum lsm_kind *kind, const uint8_t **key,
		 size_t *klen, const uint8_t **val, size_t *vlen);
/* Index of the first entry with key >= target (count if none). */
uint32_t block_seek(const struct block *b, const void *key, size_t klen);

#endif
