/* buf.c -- growable byte buffer (see buf.h). */
#include "util/buf.h"

#include <stdlib.h>
#include <string.h>

#include "util/coding.h"
#include "util/mem.h"

void buf_init(struct buf *b)
{
	b->data = NULL;
	b->len = b->cap = 0;
}

void buf_free(struct buf *b)
{
	free(b->data);
	buf_init(b);
}

void buf_reserve(struct buf *b, size_t extra)
{
	if (b->cap - b->len >= extra)
		return;
	size_t cap = b->cap ? b->cap : 64;
	while (cap - b->len < extra)
		cap *= 2;
	b->data = xrealloc(b->data, cap);
	b->cap = cap;
}

void buf_reset(struct buf *b)
{
	b->len = 0;
}

void buf_append(struct buf *b, const void *p, size_t n)
{
	if (!n)
		return;
	buf_reserve(b, n);
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

void buf_set(struct buf *b, const void *p, size_t n)
{
	b->len = 0;
	buf_append(b, p, n);
}

void buf_put_u8(struct buf *b, uint8_t v)
{
	buf_append(b, &v, 1);
}

void buf_put_be16(struct buf *b, uint16_t v)
{
	uint8_t t[2];
	be16_put(t, v);
	buf_append(b, t, 2);
}

void buf_put_be32(struct buf *b, uint32_t v)
{
	uint8_t t[4];
	be32_put(t, v);
	buf_append(b, t, 4);
}

void buf_put_be64(struct buf *b, uint64_t v)
{
	uint8_t t[8];
	be64_put(t, v);
	buf_append(b, t, 8);
}

void buf_put_varint(struct buf *b, uint64_t v)
{
	uint8_t t[10];
	buf_append(b, t, varint_put(t, v));
}

bool buf_put_utf8(struct buf *b, uint32_t cp)
{
	if (cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return false;
	if (cp < 0x80) {
		buf_put_u8(b, (uint8_t)cp);
	} else if (cp < 0x800) {
		buf_put_u8(b, (uint8_t)(0xc0 | cp >> 6));
		buf_put_u8(b, (uint8_t)(0x80 | (cp & 0x3f)));
	} else if (cp < 0x10000) {
		buf_put_u8(b, (uint8_t)(0xe0 | cp >> 12));
		buf_put_u8(b, (uint8_t)(0x80 | ((cp >> 6) & 0x3f)));
		buf_put_u8(b, (uint8_t)(0x80 | (cp & 0x3f)));
	} else {
		buf_put_u8(b, (uint8_t)(0xf0 | cp >> 18));
		buf_put_u8(b, (uint8_t)(0x80 | ((cp >> 12) & 0x3f)));
		buf_put_u8(b, (uint8_t)(0x80 | ((cp >> 6) & 0x3f)));
		buf_put_u8(b, (uint8_t)(0x80 | (cp & 0x3f)));
	}
	return true;
}

void buf_put_bytes(struct buf *b, const void *p, size_t n)
{
	buf_put_varint(b, n);
	buf_append(b, p, n);
}

uint8_t *buf_steal(struct buf *b, size_t *len)
{
	uint8_t *p = b->data;
	if (len)
		*len = b->len;
	buf_init(b);
	return p;
}
