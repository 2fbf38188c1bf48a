/* block.c -- SST data block layout: build, validate, search (see block.h). */
#include "lsm/block.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lsm/bloom.h"
#include "util/mem.h"

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

static void build_hash_index(struct block *b)
{
	b->hidx = NULL;
	b->hmask = 0;
	if (b->count == 0 || b->count >= UINT16_MAX)
		return;
	uint32_t slots = 4;
	while (slots < b->count * 2)
		slots *= 2;
	b->hidx = xcalloc(slots, sizeof *b->hidx);
	b->hmask = slots - 1;
	for (uint32_t i = 0; i < b->count; i++) {
		uint64_t h = bloom_hash(b->data + b->ents[i].koff, b->ents[i].klen);
		uint32_t s = (uint32_t)(h >> 40) & b->hmask;
		while (b->hidx[s])
			s = (s + 1) & b->hmask;
		b->hidx[s] = (uint16_t)(i + 1);
	}
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
	struct block_ent *ents = xcalloc(count ? count : 1, sizeof *ents);
	uint32_t expect = 0;

	/* Entries must tile [0, entries_end) exactly, in key order. */
	for (uint32_t i = 0; i < count; i++) {
		uint32_t off = le32_get(offs + 4 * (size_t)i);
		if (off != expect)
			goto bad;
		struct rd r = rd_make(data + off, entries_end - off);
		uint8_t kind = rd_u8(&r);
		uint64_t klen = rd_varint(&r), vlen = rd_varint(&r);
		if (r.err || kind > LSM_KIND_PUT || klen == 0 || klen > UINT16_MAX ||
		    klen > rd_left(&r) || vlen > rd_left(&r) - klen)
			goto bad;
		ents[i].koff = (uint32_t)(r.p - data);
		ents[i].klen = (uint16_t)klen;
		ents[i].vlen = (uint32_t)vlen;
		ents[i].kind = kind;
		if (i && lsm_key_cmp(data + ents[i - 1].koff, ents[i - 1].klen, r.p, klen) >= 0)
			goto bad;
		expect = (uint32_t)(r.p + klen + vlen - data);
	}
	if (expect != entries_end)
		goto bad;
	b->data = data;
	b->len = len;
	b->count = count;
	b->ents = ents;
	build_hash_index(b);
	return 0;
bad:
	free(ents);
	return -EBADMSG;
}

void block_release(struct block *b)
{
	free(b->ents);
	free(b->hidx);
	b->ents = NULL;
	b->hidx = NULL;
}

uint32_t block_find(const struct block *b, const void *key, size_t klen, uint64_t hash)
{
	if (!b->hidx) {
		uint32_t i = block_seek(b, key, klen);
		if (i < b->count && b->ents[i].klen == klen &&
		    memcmp(b->data + b->ents[i].koff, key, klen) == 0)
			return i;
		return b->count;
	}
	for (uint32_t s = (uint32_t)(hash >> 40) & b->hmask;; s = (s + 1) & b->hmask) {
		uint16_t v = b->hidx[s];
		if (!v)
			return b->count;
		const struct block_ent *e = &b->ents[v - 1];
		if (e->klen == klen && memcmp(b->data + e->koff, key, klen) == 0)
			return v - 1u;
	}
}

uint32_t block_seek(const struct block *b, const void *key, size_t klen)
{
	uint32_t lo = 0, hi = b->count;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		const struct block_ent *e = &b->ents[mid];
		if (lsm_key_cmp(b->data + e->koff, e->klen, key, klen) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}
