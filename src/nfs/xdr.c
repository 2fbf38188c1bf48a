/* xdr.c -- bounded XDR decoding and encoding (xdr.h). */
#include "nfs/xdr.h"

#include <string.h>

#include "util/coding.h"

static bool need(struct xdr *x, size_t n)
{
	if (x->err || xdr_left(x) < n) {
		x->err = true;
		return false;
	}
	return true;
}

uint32_t xdr_u32(struct xdr *x)
{
	if (!need(x, 4))
		return 0;
	uint32_t v = be32_get(x->p);
	x->p += 4;
	return v;
}

uint64_t xdr_u64(struct xdr *x)
{
	if (!need(x, 8))
		return 0;
	uint64_t v = be64_get(x->p);
	x->p += 8;
	return v;
}

bool xdr_bool(struct xdr *x)
{
	uint32_t v = xdr_u32(x);
	if (v > 1)
		x->err = true;
	return v == 1 && !x->err;
}

const uint8_t *xdr_fixed(struct xdr *x, size_t n)
{
	size_t padded = n + xdr_pad(n);
	if (padded < n || !need(x, padded))
		return NULL;
	const uint8_t *p = x->p;
	x->p += padded;
	return p;
}

const uint8_t *xdr_opaque(struct xdr *x, uint32_t max, uint32_t *len)
{
	uint32_t n = xdr_u32(x);
	*len = 0;
	if (x->err || n > max) {
		x->err = true;
		return NULL;
	}
	const uint8_t *p = xdr_fixed(x, n);
	if (p)
		*len = n;
	return p;
}

void xdr_put_u32(struct buf *b, uint32_t v)
{
	buf_put_be32(b, v);
}

void xdr_put_u64(struct buf *b, uint64_t v)
{
	buf_put_be64(b, v);
}

void xdr_put_bool(struct buf *b, bool v)
{
	buf_put_be32(b, v ? 1 : 0);
}

void xdr_put_fixed(struct buf *b, const void *p, size_t n)
{
	static const uint8_t zero[4];
	buf_append(b, p, n);
	buf_append(b, zero, xdr_pad(n));
}

void xdr_put_opaque(struct buf *b, const void *p, size_t n)
{
	buf_put_be32(b, (uint32_t)n);
	xdr_put_fixed(b, p, n);
}
