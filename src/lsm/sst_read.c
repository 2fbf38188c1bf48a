/* sst_read.c -- opening SSTs, point lookups and iteration (format in sst.h).
 *
 * An open table keeps its index and bloom filter decoded in RAM; data
 * blocks go through the shared block cache, except for tables opened over
 * a whole object (compaction inputs), whose blocks are decoded privately
 * so that one compaction cannot flush the cache of every hot block. */
#include "lsm/sst.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "crypt/unit.h"
#include "lsm/block.h"
#include "lsm/bloom.h"
#include "util/coding.h"
#include "util/crc32c.h"
#include "util/log.h"
#include "util/mem.h"

struct idx_entry {
	uint64_t p1, p2;    /* key bytes [skip, skip+16), big-endian, zero-padded */
	const uint8_t *key; /* the block's last key, in index_raw */
	size_t klen;
	uint64_t off, len;
};

struct sst_table {
	struct sst_env env;
	uint64_t id;
	uint64_t size;
	char name[SST_NAME_MAX];
	struct buf index_raw;
	struct idx_entry *idx;
	uint64_t *ip1;            /* idx[i].p1, dense: the hot path of a search */
	uint32_t nblocks;
	size_t skip;              /* prefix common to every index key */
	struct buf bloom;
	uint64_t entries;
	uint8_t *whole;           /* whole object, when opened over bytes */
};

/* A data block in use: cached, or privately owned. */
struct blockref {
	struct cblock *cb;
	uint8_t *own;
	struct block blk;
};

static int corrupt(const struct sst_table *t, const char *what)
{
	log_error("lsm: %s in %s: %s (corrupt or tampered object)", what, t->name,
		  objstore_url(t->env.store));
	return -EBADMSG;
}

static int open_unit(struct sst_table *t, const uint8_t *p, uint64_t off, uint64_t len,
		     int type, struct buf *out)
{
	uint8_t ad[24];
	sst_unit_ad(t->id, off, type, ad);
	int r = unit_open(t->env.key, ad, sizeof ad, p, (size_t)len, out);
	if (r < 0) {
		log_error("lsm: open block at offset %" PRIu64 " of %s: %s", off, t->name,
			  r == -EBADMSG ? "authentication failed (corrupt or tampered)" :
			  strerror(-r));
		return -EBADMSG;
	}
	return 0;
}

static uint64_t prefix_word(const uint8_t *key, size_t klen, size_t from)
{
	uint64_t v = 0;
	for (size_t i = 0; i < 8; i++)
		v = v << 8 | (from + i < klen ? key[from + i] : 0);
	return v;
}

/* Index search compares 16 inline bytes past the prefix all index keys
 * share, and touches the key itself only on a tie: binary search over
 * thousands of entries then costs one cache line per probe, not two. */
static void set_prefixes(struct sst_table *t)
{
	size_t skip = 0;
	if (t->nblocks > 1) {
		const struct idx_entry *a = &t->idx[0], *z = &t->idx[t->nblocks - 1];
		while (skip < a->klen && skip < z->klen && a->key[skip] == z->key[skip])
			skip++;
	}
	t->skip = skip;
	t->ip1 = xcalloc(t->nblocks ? t->nblocks : 1, sizeof *t->ip1);
	for (uint32_t i = 0; i < t->nblocks; i++) {
		struct idx_entry *e = &t->idx[i];
		e->p1 = t->ip1[i] = prefix_word(e->key, e->klen, skip);
		e->p2 = prefix_word(e->key, e->klen, skip + 8);
	}
}

static int parse_index(struct sst_table *t)
{
	struct rd r = rd_make(t->index_raw.data, t->index_raw.len);
	uint64_t n = rd_varint(&r);
	if (r.err || n > t->size / 8 + 1)
		return corrupt(t, "bad index header");
	t->idx = xcalloc(n ? n : 1, sizeof *t->idx);
	t->nblocks = (uint32_t)n;
	for (uint64_t i = 0; i < n; i++) {
		struct idx_entry *e = &t->idx[i];
		e->key = rd_bytes(&r, &e->klen);
		e->off = rd_varint(&r);
		e->len = rd_varint(&r);
		if (r.err || e->off > t->size || e->len > t->size - e->off)
			return corrupt(t, "bad index entry");
		if (i && lsm_key_cmp(t->idx[i - 1].key, t->idx[i - 1].klen, e->key, e->klen) >= 0)
			return corrupt(t, "index keys out of order");
	}
	if (rd_left(&r))
		return corrupt(t, "trailing bytes in index");
	set_prefixes(t);
	return 0;
}

/* meta = the bytes from meta_off to the end of the object. */
static int parse_meta(struct sst_table *t, const uint8_t *meta, size_t mlen, uint64_t meta_off)
{
	if (mlen < SST_FOOTER_BYTES)
		return corrupt(t, "object too short for a footer");
	const uint8_t *f = meta + mlen - SST_FOOTER_BYTES;
	if (memcmp(f, SST_MAGIC, 8) != 0)
		return corrupt(t, "bad footer magic");
	if (be32_get(f + 60) != crc32c(0, f, 60))
		return corrupt(t, "footer checksum mismatch");
	if (be32_get(f + 8) != SST_VERSION)
		return corrupt(t, "unknown SST format version");
	uint64_t index_off = be64_get(f + 16), index_len = be64_get(f + 24);
	uint64_t bloom_off = be64_get(f + 32), bloom_len = be64_get(f + 40);
	t->entries = be64_get(f + 48);
	uint64_t footer_off = t->size - SST_FOOTER_BYTES;
	if (index_off != meta_off || index_len > footer_off - index_off ||
	    bloom_off != index_off + index_len || bloom_len != footer_off - bloom_off)
		return corrupt(t, "footer offsets out of range");
	int r = open_unit(t, meta, index_off, index_len, SST_BLOCK_INDEX, &t->index_raw);
	if (r < 0)
		return r;
	r = open_unit(t, meta + index_len, bloom_off, bloom_len, SST_BLOCK_BLOOM, &t->bloom);
	if (r < 0)
		return r;
	return parse_index(t);
}

static struct sst_table *table_new(const struct sst_env *env, uint64_t id, uint64_t size)
{
	struct sst_table *t = xcalloc(1, sizeof *t);
	t->env = *env;
	t->id = id;
	t->size = size;
	sst_object_name(id, t->name);
	buf_init(&t->index_raw);
	buf_init(&t->bloom);
	return t;
}

static int fetch(struct sst_table *t, uint64_t off, uint64_t len, void **data)
{
	size_t got;
	int r = objstore_get(t->env.store, t->name, off, len, data, &got);
	if (r < 0) {
		log_error("lsm: read %s bytes %" PRIu64 "+%" PRIu64 " from %s: %s", t->name, off,
			  len, objstore_url(t->env.store),
			  r == -ENOENT ? "object missing" : strerror(-r));
		return r == -ENOENT || r == -ERANGE ? -EIO : r;
	}
	if (got != len) {
		free(*data);
		*data = NULL;
		return corrupt(t, "object shorter than the manifest says");
	}
	return 0;
}

int sst_table_open(const struct sst_env *env, uint64_t id, uint64_t size, uint64_t meta_off,
		   struct sst_table **out)
{
	struct sst_table *t = table_new(env, id, size);
	void *meta = NULL;
	int r;
	if (size < SST_FOOTER_BYTES) {
		r = corrupt(t, "object too short for a footer");
		goto out;
	}
	if (meta_off == 0 || meta_off >= size) {
		/* Not recorded: read the footer to find the meta region. */
		r = fetch(t, size - SST_FOOTER_BYTES, SST_FOOTER_BYTES, &meta);
		if (r < 0)
			goto out;
		meta_off = be64_get((uint8_t *)meta + 16);
		free(meta);
		meta = NULL;
		if (meta_off >= size) {
			r = corrupt(t, "footer offsets out of range");
			goto out;
		}
	}
	r = fetch(t, meta_off, size - meta_off, &meta);
	if (r < 0)
		goto out;
	r = parse_meta(t, meta, (size_t)(size - meta_off), meta_off);
out:
	free(meta);
	if (r < 0) {
		sst_table_free(t);
		return r;
	}
	*out = t;
	return 0;
}

int sst_table_open_meta(const struct sst_env *env, uint64_t id, uint64_t size, uint64_t meta_off,
			const uint8_t *meta, size_t mlen, struct sst_table **out)
{
	struct sst_table *t = table_new(env, id, size);
	int r = meta_off < size && mlen == size - meta_off ?
		parse_meta(t, meta, mlen, meta_off) : -EINVAL;
	if (r < 0) {
		sst_table_free(t);
		return r;
	}
	*out = t;
	return 0;
}

int sst_table_open_bytes(const struct sst_env *env, uint64_t id, uint8_t *data, size_t len,
			 struct sst_table **out)
{
	struct sst_table *t = table_new(env, id, len);
	t->whole = data;
	int r;
	if (len < SST_FOOTER_BYTES) {
		r = corrupt(t, "object too short for a footer");
		goto fail;
	}
	uint64_t meta_off = be64_get(data + len - SST_FOOTER_BYTES + 16);
	if (meta_off >= len) {
		r = corrupt(t, "footer offsets out of range");
		goto fail;
	}
	r = parse_meta(t, data + meta_off, len - (size_t)meta_off, meta_off);
	if (r < 0)
		goto fail;
	*out = t;
	return 0;
fail:
	sst_table_free(t);
	return r;
}

void sst_table_free(struct sst_table *t)
{
	if (!t)
		return;
	buf_free(&t->index_raw);
	buf_free(&t->bloom);
	free(t->idx);
	free(t->ip1);
	free(t->whole);
	free(t);
}

size_t sst_table_mem(const struct sst_table *t)
{
	return t->index_raw.cap + t->bloom.cap + t->nblocks * (sizeof *t->idx + 8) + sizeof *t;
}

/* Decode block bi: from the cache, from the whole object, or from the store. */
static int block_load(struct sst_table *t, uint32_t bi, struct blockref *ref)
{
	const struct idx_entry *e = &t->idx[bi];
	struct buf raw = BUF_INIT;
	void *data = NULL;
	int r;

	ref->cb = NULL;
	ref->own = NULL;
	if (!t->whole && t->env.cache) {
		ref->cb = block_cache_lookup(t->env.cache, t->id, e->off);
		if (ref->cb)
			return 0;
	}
	const uint8_t *unit;
	if (t->whole) {
		unit = t->whole + e->off;
	} else {
		r = fetch(t, e->off, e->len, &data);
		if (r < 0)
			return r;
		unit = data;
	}
	r = open_unit(t, unit, e->off, e->len, SST_BLOCK_DATA, &raw);
	free(data);
	if (r < 0)
		goto fail;
	r = block_parse(&ref->blk, raw.data, raw.len);
	if (r < 0) {
		r = corrupt(t, "malformed data block");
		goto fail;
	}
	if (ref->blk.count == 0) {
		block_release(&ref->blk);
		r = corrupt(t, "empty data block");
		goto fail;
	}
	uint8_t *bytes = buf_steal(&raw, NULL);
	if (!t->whole && t->env.cache) {
		ref->cb = block_cache_insert(t->env.cache, t->id, e->off, bytes, &ref->blk);
	} else {
		ref->own = bytes;
	}
	return 0;
fail:
	buf_free(&raw);
	return r;
}

static const struct block *blockref_block(const struct blockref *ref)
{
	return ref->cb ? cblock_block(ref->cb) : &ref->blk;
}

static void blockref_release(struct sst_table *t, struct blockref *ref)
{
	if (ref->cb)
		block_cache_release(t->env.cache, ref->cb);
	else if (ref->own)
		block_release(&ref->blk);
	free(ref->own);
	ref->cb = NULL;
	ref->own = NULL;
}

/* First block whose last key >= key (nblocks if none). */
static uint32_t index_seek(const struct sst_table *t, const void *key, size_t klen)
{
	uint32_t lo = 0, hi = t->nblocks;
	if (!hi)
		return 0;
	/* Keys outside the shared prefix: the answer is an end. */
	int c = lsm_key_cmp(key, klen < t->skip ? klen : t->skip, t->idx[0].key, t->skip);
	if (c < 0)
		return 0;
	if (c > 0)
		return t->nblocks;
	uint64_t k1 = prefix_word(key, klen, t->skip), k2 = prefix_word(key, klen, t->skip + 8);
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		const struct idx_entry *e = &t->idx[mid];
		int less;
		if (t->ip1[mid] != k1)
			less = t->ip1[mid] < k1;
		else if (e->p2 != k2)
			less = e->p2 < k2;
		else
			less = lsm_key_cmp(e->key, e->klen, key, klen) < 0;
		if (less)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int sst_table_get(struct sst_table *t, const void *key, size_t klen, uint64_t hash,
		  enum lsm_kind *kind, struct buf *val)
{
	if (!bloom_may_contain(t->bloom.data, t->bloom.len, hash))
		return 0;
	uint32_t bi = index_seek(t, key, klen);
	if (bi == t->nblocks)
		return 0;
	struct blockref ref;
	int r = block_load(t, bi, &ref);
	if (r < 0)
		return r;
	const struct block *b = blockref_block(&ref);
	uint32_t i = block_find(b, key, klen, hash);
	r = 0;
	if (i < b->count) {
		const uint8_t *k, *v;
		size_t kl, vl;
		block_entry(b, i, kind, &k, &kl, &v, &vl);
		if (*kind == LSM_KIND_PUT && val)
			buf_set(val, v, vl);
		r = 1;
	}
	blockref_release(t, &ref);
	return r;
}

struct sst_iter {
	struct sst_table *t;
	uint32_t bi;            /* current block; nblocks = exhausted */
	uint32_t ei;            /* entry within the block */
	struct blockref ref;
	bool loaded;
	int status;
};

struct sst_iter *sst_iter_new(struct sst_table *t)
{
	struct sst_iter *it = xcalloc(1, sizeof *it);
	it->t = t;
	it->bi = t->nblocks;
	return it;
}

void sst_iter_free(struct sst_iter *it)
{
	if (!it)
		return;
	if (it->loaded)
		blockref_release(it->t, &it->ref);
	free(it);
}

static void iter_unload(struct sst_iter *it)
{
	if (it->loaded)
		blockref_release(it->t, &it->ref);
	it->loaded = false;
}

/* Position at entry ei of block bi, moving to later blocks as needed. */
static void iter_settle(struct sst_iter *it, uint32_t bi, uint32_t ei)
{
	while (bi < it->t->nblocks) {
		if (!it->loaded || it->bi != bi) {
			iter_unload(it);
			int r = block_load(it->t, bi, &it->ref);
			if (r < 0) {
				it->status = r;
				it->bi = it->t->nblocks;
				return;
			}
			it->loaded = true;
			it->bi = bi;
		}
		if (ei < blockref_block(&it->ref)->count) {
			it->ei = ei;
			return;
		}
		bi++;
		ei = 0;
	}
	iter_unload(it);
	it->bi = it->t->nblocks;
}

void sst_iter_seek(struct sst_iter *it, const void *key, size_t klen)
{
	uint32_t bi = index_seek(it->t, key, klen);
	if (bi == it->t->nblocks) {
		iter_unload(it);
		it->bi = bi;
		return;
	}
	iter_settle(it, bi, 0);
	if (it->bi < it->t->nblocks)
		iter_settle(it, it->bi, block_seek(blockref_block(&it->ref), key, klen));
}

void sst_iter_first(struct sst_iter *it)
{
	iter_settle(it, 0, 0);
}

bool sst_iter_valid(const struct sst_iter *it)
{
	return it->bi < it->t->nblocks;
}

void sst_iter_next(struct sst_iter *it)
{
	iter_settle(it, it->bi, it->ei + 1);
}

void sst_iter_entry(const struct sst_iter *it, enum lsm_kind *kind, const uint8_t **key,
		    size_t *klen, const uint8_t **val, size_t *vlen)
{
	block_entry(blockref_block(&it->ref), it->ei, kind, key, klen, val, vlen);
}

int sst_iter_status(const struct sst_iter *it)
{
	return it->status;
}
