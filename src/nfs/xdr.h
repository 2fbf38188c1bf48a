/* xdr.h -- XDR (RFC 4506) decoding with every read bounded, and encoding
 * onto a struct buf.
 *
 * A decoder walks [p, end).  A read past the end, an opaque or string
 * longer than the caller's cap, or a bool other than 0 or 1 sets err,
 * which stays set: later reads return zeros/NULL, so a decoder reads a
 * whole structure and checks err once at the end.  Padding is skipped
 * unread (its bytes are not checked to be zero, as other servers do).
 * Decoded opaques point into the input (no copy); they live as long as
 * the input does. */
#ifndef BUCKETFS_NFS_XDR_H
#define BUCKETFS_NFS_XDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

struct xdr {
	const uint8_t *p, *end;
	bool err;
};

static inline struct xdr xdr_make(const void *p, size_t n)
{
	struct xdr x = { (const uint8_t *)p, (const uint8_t *)p + n, false };
	return x;
}

static inline size_t xdr_left(const struct xdr *x) { return (size_t)(x->end - x->p); }

uint32_t xdr_u32(struct xdr *x);
uint64_t xdr_u64(struct xdr *x);
/* A bool: 0 or 1, anything else is an error (RFC 4506 4.4). */
bool xdr_bool(struct xdr *x);
/* Fixed-length opaque of n bytes (plus padding to 4). */
const uint8_t *xdr_fixed(struct xdr *x, size_t n);
/* Variable-length opaque or string of at most max bytes: *len gets its
 * length; NULL (and err) when short or longer than max.  A zero-length
 * one returns a non-NULL pointer. */
const uint8_t *xdr_opaque(struct xdr *x, uint32_t max, uint32_t *len);

/* Padding of n bytes to a multiple of 4. */
static inline size_t xdr_pad(size_t n) { return (4 - (n & 3)) & 3; }

void xdr_put_u32(struct buf *b, uint32_t v);
void xdr_put_u64(struct buf *b, uint64_t v);
void xdr_put_bool(struct buf *b, bool v);
/* Length, bytes, zero padding. */
void xdr_put_opaque(struct buf *b, const void *p, size_t n);
/* Bytes and zero padding (fixed-length opaque). */
void xdr_put_fixed(struct buf *b, const void *p, size_t n);

#endif
