/* sst.h -- immutable sorted tables: the on-store form of the LSM.
 *
 * Object `sst/<16 hex digits>` (the id: writer epoch << 32 | counter, so two
 * writers never pick the same name):
 *
 *   data block unit*   sorted entries (block.h), each a sealed unit
 *   index unit         per data block: last key, offset, length
 *   bloom unit         bloom.h over every key
 *   footer (64 bytes, plaintext)
 *     magic "BFSSST\0\1" | version u32 | flags u32 | index_off u64
 *     | index_len u64 | bloom_off u64 | bloom_len u64 | entries u64
 *     | reserved u32 | crc32c u32 (of the 60 bytes before it)
 *
 * Every unit's associated data is (id, offset, block type), so a block
 * copied to another place or table fails authentication.  The manifest
 * records each table's size and meta offset (where the index starts), so
 * opening a table costs one ranged GET of index + bloom + footer.
 * Anything that does not parse or authenticate is -EBADMSG, logged with
 * the object name; a missing object is -EIO (a live table must exist). */
#ifndef BUCKETFS_LSM_SST_H
#define BUCKETFS_LSM_SST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypt/aead.h"
#include "crypt/codec.h"
#include "lsm/block_cache.h"
#include "lsm/format.h"
#include "store/objstore.h"
#include "util/buf.h"

#define SST_FOOTER_BYTES 64
#define SST_MAGIC "BFSSST\0\1"
#define SST_VERSION 1

/* Unit roles, part of each unit's associated data. */
enum { SST_BLOCK_DATA = 1, SST_BLOCK_INDEX = 2, SST_BLOCK_BLOOM = 3 };
void sst_unit_ad(uint64_t id, uint64_t off, int type, uint8_t ad[24]);
#define SST_NAME_MAX 32

/* What the readers of a table share. */
struct sst_env {
	objstore *store;
	const uint8_t *key;  /* CRYPT_KEY_BYTES, the metadata key */
	struct block_cache *cache;
	struct codec codec;
	size_t block_bytes;
};

void sst_object_name(uint64_t id, char name[SST_NAME_MAX]);
/* -EINVAL if name is not an SST object name. */
int sst_parse_name(const char *name, uint64_t *id);

/* ---- writer: add entries in strictly increasing key order ---- */
struct sst_writer;
struct sst_table;

struct sst_props {
	uint64_t size;       /* object bytes */
	uint64_t meta_off;   /* offset of the index unit */
	uint64_t entries;
	struct buf smallest, largest;
};

struct sst_writer *sst_writer_new(const struct sst_env *env, uint64_t id);
void sst_writer_add(struct sst_writer *w, enum lsm_kind kind, const void *key, size_t klen,
		    const void *val, size_t vlen);
uint64_t sst_writer_entries(const struct sst_writer *w);
/* Bytes written so far (for splitting outputs). */
uint64_t sst_writer_size(const struct sst_writer *w);
/* Seal the table and upload it.  props' bufs must be initialised; they
 * receive the key range. */
int sst_writer_finish(struct sst_writer *w, struct sst_props *props);
/* After a successful finish: the open table, parsed from the bytes just
 * written, so the first read of a new SST costs no GET for its index. */
int sst_writer_table(struct sst_writer *w, struct sst_table **t);
void sst_writer_free(struct sst_writer *w);

/* ---- reader ---- */
struct sst_table;

/* Open from the store (one ranged GET of the meta region). */
int sst_table_open(const struct sst_env *env, uint64_t id, uint64_t size, uint64_t meta_off,
		   struct sst_table **out);
/* Open from the meta region (index unit .. end of object) already in RAM. */
int sst_table_open_meta(const struct sst_env *env, uint64_t id, uint64_t size, uint64_t meta_off,
			const uint8_t *meta, size_t mlen, struct sst_table **out);
/* Open over the whole object held in RAM (compaction input).  Takes
 * ownership of data.  Blocks are decoded privately, not cached. */
int sst_table_open_bytes(const struct sst_env *env, uint64_t id, uint8_t *data, size_t len,
			 struct sst_table **out);
void sst_table_free(struct sst_table *t);
/* Bytes of index + bloom held in RAM. */
size_t sst_table_mem(const struct sst_table *t);

/* 1 = found (kind and, for a put, val set), 0 = not in this table, <0 error. */
int sst_table_get(struct sst_table *t, const void *key, size_t klen, uint64_t hash,
		  enum lsm_kind *kind, struct buf *val);

struct sst_iter;
struct sst_iter *sst_iter_new(struct sst_table *t);
void sst_iter_free(struct sst_iter *it);
void sst_iter_seek(struct sst_iter *it, const void *key, size_t klen);
void sst_iter_first(struct sst_iter *it);
bool sst_iter_valid(const struct sst_iter *it);
void sst_iter_next(struct sst_iter *it);
void sst_iter_entry(const struct sst_iter *it, enum lsm_kind *kind, const uint8_t **key,
		    size_t *klen, const uint8_t **val, size_t *vlen);
/* 0 or the error that stopped the iterator (it is then invalid). */
int sst_iter_status(const struct sst_iter *it);

#endif
