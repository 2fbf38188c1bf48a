/* buf.h -- a growable byte buffer, the unit of encoding and I/O.
 *
 * A struct buf owns `data` (NULL when cap == 0).  Appends grow it
 * geometrically; allocation failure aborts (see mem.h).  Integers are
 * appended big-endian so encoded keys sort as numbers. */
#ifndef BUCKETFS_UTIL_BUF_H
#define BUCKETFS_UTIL_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf {
	uint8_t *data;
	size_t len;
	size_t cap;
};

#define BUF_INIT { NULL, 0, 0 }

void buf_init(struct buf *b);
void buf_free(struct buf *b);
/* Make room for `extra` more bytes past len. */
void buf_reserve(struct buf *b, size_t extra);
void buf_reset(struct buf *b);
void buf_append(struct buf *b, const void *p, size_t n);
void buf_set(struct buf *b, const void *p, size_t n);
void buf_put_u8(struct buf *b, uint8_t v);
void buf_put_be16(struct buf *b, uint16_t v);
void buf_put_be32(struct buf *b, uint32_t v);
void buf_put_be64(struct buf *b, uint64_t v);
void buf_put_varint(struct buf *b, uint64_t v);
/* UTF-8 of a Unicode scalar value; false (nothing appended) for 0, a
 * surrogate or a value past U+10FFFF. */
bool buf_put_utf8(struct buf *b, uint32_t cp);
/* varint length followed by the bytes. */
void buf_put_bytes(struct buf *b, const void *p, size_t n);
/* Give the caller ownership of the bytes; b is left empty. */
uint8_t *buf_steal(struct buf *b, size_t *len);

#endif
