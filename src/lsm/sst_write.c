/* sst_write.c -- building and uploading an SST (format in sst.h).
 *
 * The whole table is assembled in RAM and uploaded with one put: tables
 * are bounded by the memtable size and the compaction split size, and an
 * object store offers no cheaper way to publish an object atomically. */
#include "lsm/sst.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypt/unit.h"
#include "lsm/block.h"
#include "lsm/bloom.h"
#include "util/coding.h"
#include "util/crc32c.h"
#include "util/log.h"
#include "util/mem.h"

struct sst_writer {
	struct sst_env env;
	uint64_t id;
	struct buf out;          /* the object being built */
	struct block_builder bb;
	struct buf index;        /* entries of the index block */
	uint32_t nblocks;
	uint64_t *hashes;
	size_t nhashes, cap_hashes;
	struct buf smallest, largest;
	uint64_t entries;
	int error;               /* first failure; reported by finish */
	bool finished;
	uint64_t meta_off;
	/* Plaintext of the data blocks of a small table, kept to warm the
	 * block cache once the table is in the store (WARM_MAX in all). */
	struct warm_block { uint64_t off; uint8_t *bytes; size_t len; } *warm;
	size_t nwarm, warm_bytes;
	bool warm_off;
};

#define WARM_MAX (1u << 20)

static void drop_warm(struct sst_writer *w);

void sst_object_name(uint64_t id, char name[SST_NAME_MAX])
{
	snprintf(name, SST_NAME_MAX, "sst/%016" PRIx64, id);
}

int sst_parse_name(const char *name, uint64_t *id)
{
	char *end;
	if (strncmp(name, "sst/", 4) != 0 || strlen(name) != 20)
		return -EINVAL;
	errno = 0;
	*id = strtoull(name + 4, &end, 16);
	return errno || *end ? -EINVAL : 0;
}

void sst_unit_ad(uint64_t id, uint64_t off, int type, uint8_t ad[24])
{
	memcpy(ad, "sst\0", 4);
	be64_put(ad + 4, id);
	be64_put(ad + 12, off);
	be32_put(ad + 20, (uint32_t)type);
}

struct sst_writer *sst_writer_new(const struct sst_env *env, uint64_t id)
{
	struct sst_writer *w = xcalloc(1, sizeof *w);
	w->env = *env;
	w->id = id;
	buf_init(&w->out);
	block_builder_init(&w->bb);
	buf_init(&w->index);
	buf_init(&w->smallest);
	buf_init(&w->largest);
	return w;
}

void sst_writer_free(struct sst_writer *w)
{
	if (!w)
		return;
	buf_free(&w->out);
	block_builder_free(&w->bb);
	buf_free(&w->index);
	buf_free(&w->smallest);
	buf_free(&w->largest);
	free(w->hashes);
	drop_warm(w);
	free(w);
}

static int seal_unit(struct sst_writer *w, int type, const void *raw, size_t len,
		     uint64_t *off, uint64_t *ulen)
{
	uint8_t ad[24];
	*off = w->out.len;
	sst_unit_ad(w->id, *off, type, ad);
	int r = unit_seal(w->env.key, w->env.codec, ad, sizeof ad, raw, len, &w->out);
	*ulen = w->out.len - *off;
	return r;
}

static void drop_warm(struct sst_writer *w)
{
	for (size_t i = 0; i < w->nwarm; i++)
		free(w->warm[i].bytes);
	free(w->warm);
	w->warm = NULL;
	w->nwarm = 0;
}

static void keep_warm(struct sst_writer *w, uint64_t off)
{
	if (w->warm_off || !w->env.cache)
		return;
	if (w->warm_bytes + w->bb.data.len > WARM_MAX) {
		/* A big table: its blocks would only push hot ones out. */
		drop_warm(w);
		w->warm_off = true;
		return;
	}
	w->warm = xrealloc(w->warm, (w->nwarm + 1) * sizeof *w->warm);
	w->warm[w->nwarm].off = off;
	w->warm[w->nwarm].bytes = xmemdup(w->bb.data.data, w->bb.data.len);
	w->warm[w->nwarm].len = w->bb.data.len;
	w->nwarm++;
	w->warm_bytes += w->bb.data.len;
}

static int flush_block(struct sst_writer *w)
{
	uint64_t off, len;
	if (w->bb.count == 0)
		return 0;
	if (w->error)
		return w->error;
	block_builder_finish(&w->bb);
	int r = seal_unit(w, SST_BLOCK_DATA, w->bb.data.data, w->bb.data.len, &off, &len);
	if (r < 0) {
		/* The builder now holds a finished block: never reuse it. */
		w->error = r;
		return r;
	}
	buf_put_bytes(&w->index, w->bb.last_key.data, w->bb.last_key.len);
	buf_put_varint(&w->index, off);
	buf_put_varint(&w->index, len);
	keep_warm(w, off);
	w->nblocks++;
	block_builder_reset(&w->bb);
	return 0;
}

void sst_writer_add(struct sst_writer *w, enum lsm_kind kind, const void *key, size_t klen,
		    const void *val, size_t vlen)
{
	if (w->entries == 0)
		buf_set(&w->smallest, key, klen);
	buf_set(&w->largest, key, klen);
	if (w->nhashes == w->cap_hashes) {
		w->cap_hashes = w->cap_hashes ? w->cap_hashes * 2 : 1024;
		w->hashes = xrealloc(w->hashes, w->cap_hashes * sizeof *w->hashes);
	}
	w->hashes[w->nhashes++] = bloom_hash(key, klen);
	block_builder_add(&w->bb, kind, key, klen, val, vlen);
	w->entries++;
	/* A failure is kept in w->error and returned by finish. */
	if (!w->error && block_builder_size(&w->bb) >= w->env.block_bytes)
		(void)flush_block(w);
}

int sst_writer_table(struct sst_writer *w, struct sst_table **t)
{
	if (!w->finished)
		return -EINVAL;
	/* A small table's blocks go straight into the block cache: the
	 * reads that follow a commit (an fsync) then need no GET at all. */
	for (size_t i = 0; i < w->nwarm; i++) {
		struct block b;
		if (block_parse(&b, w->warm[i].bytes, w->warm[i].len) < 0)
			continue;
		struct cblock *cb = block_cache_insert(w->env.cache, w->id, w->warm[i].off,
						       w->warm[i].bytes, &b);
		w->warm[i].bytes = NULL; /* the cache owns it now */
		block_cache_release(w->env.cache, cb);
	}
	drop_warm(w);
	return sst_table_open_meta(&w->env, w->id, w->out.len, w->meta_off,
				   w->out.data + w->meta_off, w->out.len - w->meta_off, t);
}

uint64_t sst_writer_entries(const struct sst_writer *w)
{
	return w->entries;
}

uint64_t sst_writer_size(const struct sst_writer *w)
{
	return w->out.len + block_builder_size(&w->bb);
}

static void put_footer(struct sst_writer *w, uint64_t index_off, uint64_t index_len,
		       uint64_t bloom_off, uint64_t bloom_len)
{
	uint8_t f[SST_FOOTER_BYTES] = { 0 };
	memcpy(f, SST_MAGIC, 8);
	be32_put(f + 8, SST_VERSION);
	be32_put(f + 12, 0);
	be64_put(f + 16, index_off);
	be64_put(f + 24, index_len);
	be64_put(f + 32, bloom_off);
	be64_put(f + 40, bloom_len);
	be64_put(f + 48, w->entries);
	be32_put(f + 56, 0);
	be32_put(f + 60, crc32c(0, f, 60));
	buf_append(&w->out, f, sizeof f);
}

int sst_writer_finish(struct sst_writer *w, struct sst_props *props)
{
	char name[SST_NAME_MAX];
	struct buf tmp = BUF_INIT;
	uint64_t index_off, index_len, bloom_off, bloom_len;
	int r = flush_block(w);
	if (r < 0)
		goto out;
	/* The index block starts with the block count. */
	buf_put_varint(&tmp, w->nblocks);
	buf_append(&tmp, w->index.data, w->index.len);
	r = seal_unit(w, SST_BLOCK_INDEX, tmp.data, tmp.len, &index_off, &index_len);
	if (r < 0)
		goto out;
	buf_reset(&tmp);
	bloom_build(w->hashes, w->nhashes, &tmp);
	r = seal_unit(w, SST_BLOCK_BLOOM, tmp.data, tmp.len, &bloom_off, &bloom_len);
	if (r < 0)
		goto out;
	put_footer(w, index_off, index_len, bloom_off, bloom_len);

	sst_object_name(w->id, name);
	r = objstore_put(w->env.store, name, w->out.data, w->out.len);
	if (r < 0) {
		log_error("lsm: upload %s (%zu bytes) to %s: %s", name, w->out.len,
			  objstore_url(w->env.store), strerror(-r));
		goto out;
	}
	w->meta_off = index_off;
	w->finished = true;
	props->size = w->out.len;
	props->meta_off = index_off;
	props->entries = w->entries;
	buf_set(&props->smallest, w->smallest.data, w->smallest.len);
	buf_set(&props->largest, w->largest.data, w->largest.len);
out:
	buf_free(&tmp);
	return r;
}
