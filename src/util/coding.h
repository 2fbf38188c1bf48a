/* coding.h -- fixed-width big/little-endian integers, varints, and a
 * bounds-checked reader for parsing untrusted bytes.
 *
 * The reader (struct rd) never reads past `end`: any short read sets `err`
 * and returns zeros, so a parser checks `rd.err` once at the end instead of
 * after every field.  Everything that decodes bytes from the object store
 * goes through it. */
#ifndef BUCKETFS_UTIL_CODING_H
#define BUCKETFS_UTIL_CODING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline void be16_put(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = (uint8_t)v; }
static inline void be32_put(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = (uint8_t)v;
}
static inline void be64_put(uint8_t *p, uint64_t v)
{
	be32_put(p, (uint32_t)(v >> 32));
	be32_put(p + 4, (uint32_t)v);
}
static inline uint16_t be16_get(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t be32_get(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t be64_get(const uint8_t *p)
{
	return (uint64_t)be32_get(p) << 32 | be32_get(p + 4);
}
static inline void le32_put(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v; p[1] = v >> 8; p[2] = v >> 16; p[3] = v >> 24;
}
static inline uint32_t le32_get(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline void le64_put(uint8_t *p, uint64_t v)
{
	le32_put(p, (uint32_t)v);
	le32_put(p + 4, (uint32_t)(v >> 32));
}
static inline uint64_t le64_get(const uint8_t *p)
{
	return (uint64_t)le32_get(p) | (uint64_t)le32_get(p + 4) << 32;
}

/* Writes at most 10 bytes; returns the number written. */
static inline size_t varint_put(uint8_t *p, uint64_t v)
{
	size_t n = 0;
	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

struct rd {
	const uint8_t *p;
	const uint8_t *end;
	bool err;
};

static inline struct rd rd_make(const void *p, size_t n)
{
	struct rd r = { (const uint8_t *)p, (const uint8_t *)p + n, false };
	return r;
}

static inline size_t rd_left(const struct rd *r) { return (size_t)(r->end - r->p); }

static inline bool rd_need(struct rd *r, size_t n)
{
	if (r->err || rd_left(r) < n) {
		r->err = true;
		return false;
	}
	return true;
}

static inline uint8_t rd_u8(struct rd *r)
{
	if (!rd_need(r, 1))
		return 0;
	return *r->p++;
}

static inline uint32_t rd_be32(struct rd *r)
{
	if (!rd_need(r, 4))
		return 0;
	uint32_t v = be32_get(r->p);
	r->p += 4;
	return v;
}

static inline uint64_t rd_be64(struct rd *r)
{
	if (!rd_need(r, 8))
		return 0;
	uint64_t v = be64_get(r->p);
	r->p += 8;
	return v;
}

static inline uint64_t rd_varint(struct rd *r)
{
	uint64_t v = 0;
	for (unsigned shift = 0; shift < 64; shift += 7) {
		if (!rd_need(r, 1))
			return 0;
		uint8_t c = *r->p++;
		v |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80))
			return v;
	}
	r->err = true;
	return 0;
}

/* Returns a pointer into the input, or NULL (and err) if short. */
static inline const uint8_t *rd_raw(struct rd *r, size_t n)
{
	if (!rd_need(r, n))
		return NULL;
	const uint8_t *p = r->p;
	r->p += n;
	return p;
}

/* A varint length followed by that many bytes. */
static inline const uint8_t *rd_bytes(struct rd *r, size_t *n)
{
	uint64_t len = rd_varint(r);
	if (r->err || len > rd_left(r)) {
		r->err = true;
		*n = 0;
		return NULL;
	}
	*n = (size_t)len;
	return rd_raw(r, (size_t)len);
}

#endif
