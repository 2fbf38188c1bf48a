/* block.c -- SST data block layout: build, validate, search (see block.h). */
#include "lsm/block.h"

#include <errno.h>

#include "util/coding.h"

void block_builder_init(struct block_builder *bb)
{
	buf_init(&bb->data);
	buf_init(&bb->offsets);
	buf_init(&bb->last_key);
	bb->count = 0;
}

void block_builder_free(struct block_builder *bb)
{
	buf_free(&bb->data);
	buf_free(&bb->offsets);
	buf_free(&bb->last_key);
}

void block_builder_reset(struct block_builder *bb)
{
	buf_reset(&bb->data);
	buf_reset(&bb->offsets);
	buf_reset(&bb->last_key);
	bb->count = 0;
}

void block_builder_add(struct block_builder *bb, enum lsm_kind kind, const void *key,
		       size_t klen, const void *val, size_t vlen)
{
	uint8_t off[4];
	le32_put(off, (uint32_t)bb->data.len);
	buf_append(&bb->offsets, off, 4);
	buf_put_u8(&bb->data, (uint8_t)kind);
	buf_put_varint(&bb->data, klen);
	buf_put_varint(&bb->data, vlen);
	buf_append(&bb->data, key, klen);
	buf_append(&bb->data, val, vlen);
	buf_set(&bb->last_key, key, klen);
	bb->count++;
}

size_t block_builder_size(const struct block_builder *bb)
{
	return bb->data.len + bb->offsets.len + 4;
}

void block_builder_finish(struct block_builder *bb)
{
	uint8_t cnt[4];
	buf_append(&bb->data, bb->offsets.data, bb->offsets.len);
	le32_put(cnt, bb->count);
	buf_append(&bb->data, cnt, 4);
}

static void entry_at(const uint8_t *data, uint32_t off, enum lsm_kind *kind,
		     const uint8_t **key, size_t *klen, const uint8_t **val, size_t *vlen)
{
	struct rd r = rd_make(data + off, SIZE_MAX / 2);
	*kind = (enum lsm_kind)rd_u8(&r);
	*klen = (size_t)rd_varint(&r);
	*vlen = (size_t)rd_varint(&r);
	*key = r.p;
	*val = r.p + *klen;
}

int block_parse(struct block *b, const uint8_t *data, size_t len)
{
	if (len < 4)
		return -EBADMSG;
	uint32_t count = le32_get(data + len - 4);
	if ((uint64_t)count * 4 + 4 > len)
		return -EBADMSG;
	size_t entries_end = len - 4 - (size_t)count * 4;
	const uint8_t *offs = data + entries_end;
	const uint8_t *prev_key = NULL;
	size_t prev_klen = 0;
	uint32_t expect = 0;

	/* Entries must tile [0, entries_end) exactly, in key order. */
	for (uint32_t i = 0; i < count; i++) {
		uint32_t off = le32_get(offs + 4 * (size_t)i);
		if (off != expect)
			return -EBADMSG;
		struct rd r = rd_make(data + off, entries_end - off);
		uint8_t kind = rd_u8(&r);
		uint64_t klen = rd_varint(&r), vlen = rd_varint(&r);
		if (r.err || kind > LSM_KIND_PUT || klen == 0 || klen > rd_left(&r) ||
		    vlen > rd_left(&r) - klen)
			return -EBADMSG;
		const uint8_t *key = r.p;
		if (prev_key && lsm_key_cmp(prev_key, prev_klen, key, (size_t)klen) >= 0)
			return -EBADMSG;
		prev_key = key;
		prev_klen = (size_t)klen;
		expect = (uint32_t)(r.p + klen + vlen - data);
	}
	if (expect != entries_end)
		return -EBADMSG;
	b->data = data;
	b->len = len;
	b->count = count;
	b->offsets = offs;
	return 0;
}

void block_entry(const struct block *b, uint32_t i, enum lsm_kind *kind, const uint8_t **key,
		 size_t *klen, const uint8_t **val, size_t *vlen)
{
	entry_at(b->data, le32_get(b->offsets + 4 * (size_t)i), kind, key, klen, val, vlen);
}

uint32_t block_seek(const struct block *b, const void *key, size_t klen)
{
	uint32_t lo = 0, hi = b->count;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		enum lsm_kind kind;
		const uint8_t *k, *v;
		size_t kl, vl;
		block_entry(b, mid, &kind, &k, &kl, &v, &vl);
		if (lsm_key_cmp(k, kl, key, klen) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}
