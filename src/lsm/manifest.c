/* manifest.c -- encoding, naming, finding and storing manifests (see manifest.h). */
#include "lsm/manifest.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypt/unit.h"
#include "lsm/lsm.h"
#include "util/coding.h"
#include "util/log.h"
#include "util/mem.h"

#define MANIFEST_MAGIC "BFSMAN01"

void manifest_name(uint64_t seq, char name[MANIFEST_NAME_MAX])
{
	snprintf(name, MANIFEST_NAME_MAX, MANIFEST_PREFIX "%020" PRIu64, seq);
}

int manifest_parse_name(const char *name, uint64_t *seq)
{
	size_t pl = strlen(MANIFEST_PREFIX);
	if (strncmp(name, MANIFEST_PREFIX, pl) != 0 || strlen(name) != pl + 20)
		return -EINVAL;
	for (const char *p = name + pl; *p; p++)
		if (*p < '0' || *p > '9')
			return -EINVAL;
	*seq = strtoull(name + pl, NULL, 10);
	return 0;
}

struct manifest_file *manifest_add_file(struct manifest *m)
{
	m->files = xrealloc(m->files, (m->nfiles + 1) * sizeof *m->files);
	struct manifest_file *f = &m->files[m->nfiles++];
	memset(f, 0, sizeof *f);
	return f;
}

void manifest_add_checkpoint(struct manifest *m, const char *name, uint64_t seq,
			     uint64_t created_ns)
{
	m->checkpoints = xrealloc(m->checkpoints, (m->ncheckpoints + 1) * sizeof *m->checkpoints);
	struct manifest_checkpoint *c = &m->checkpoints[m->ncheckpoints++];
	c->name = xstrdup(name);
	c->manifest_seq = seq;
	c->created_ns = created_ns;
}

void manifest_add_obsolete(struct manifest *m, uint64_t id, uint64_t since_ns)
{
	m->obsolete = xrealloc(m->obsolete, (m->nobsolete + 1) * sizeof *m->obsolete);
	m->obsolete[m->nobsolete].id = id;
	m->obsolete[m->nobsolete].since_ns = since_ns;
	m->nobsolete++;
}

void manifest_add_start(struct manifest *m, uint64_t seq)
{
	m->starts = xrealloc(m->starts, (m->nstarts + 1) * sizeof *m->starts);
	m->starts[m->nstarts++] = seq;
}

void manifest_free(struct manifest *m)
{
	for (size_t i = 0; i < m->nfiles; i++) {
		buf_free(&m->files[i].smallest);
		buf_free(&m->files[i].largest);
	}
	for (size_t i = 0; i < m->ncheckpoints; i++)
		free(m->checkpoints[i].name);
	free(m->files);
	free(m->checkpoints);
	free(m->obsolete);
	free(m->starts);
	memset(m, 0, sizeof *m);
}

static void manifest_ad(uint64_t seq, uint8_t ad[16])
{
	memcpy(ad, "manifest", 8);
	be64_put(ad + 8, seq);
}

int manifest_encode(const struct manifest *m, const uint8_t key[CRYPT_KEY_BYTES], struct buf *out)
{
	struct buf b = BUF_INIT;
	uint8_t ad[16];
	struct codec c = { CODEC_ZSTD, 3 };

	buf_append(&b, MANIFEST_MAGIC, 8);
	buf_put_be64(&b, m->seq);
	buf_put_be64(&b, m->epoch);
	buf_put_be64(&b, m->durable_seq);
	buf_put_be64(&b, m->created_ns);
	buf_put_varint(&b, m->nfiles);
	for (size_t i = 0; i < m->nfiles; i++) {
		const struct manifest_file *f = &m->files[i];
		buf_put_be64(&b, f->id);
		buf_put_u8(&b, (uint8_t)f->level);
		buf_put_varint(&b, f->size);
		buf_put_varint(&b, f->meta_off);
		buf_put_varint(&b, f->entries);
		buf_put_varint(&b, f->min_seq);
		buf_put_varint(&b, f->max_seq);
		buf_put_bytes(&b, f->smallest.data, f->smallest.len);
		buf_put_bytes(&b, f->largest.data, f->largest.len);
	}
	buf_put_varint(&b, m->ncheckpoints);
	for (size_t i = 0; i < m->ncheckpoints; i++) {
		const struct manifest_checkpoint *cp = &m->checkpoints[i];
		buf_put_bytes(&b, cp->name, strlen(cp->name));
		buf_put_varint(&b, cp->manifest_seq);
		buf_put_varint(&b, cp->created_ns);
	}
	buf_put_varint(&b, m->nobsolete);
	for (size_t i = 0; i < m->nobsolete; i++) {
		buf_put_be64(&b, m->obsolete[i].id);
		buf_put_varint(&b, m->obsolete[i].since_ns);
	}
	buf_put_varint(&b, m->nstarts);
	for (size_t i = 0; i < m->nstarts; i++)
		buf_put_varint(&b, m->starts[i]);
	manifest_ad(m->seq, ad);
	int r = unit_seal(key, c, ad, sizeof ad, b.data, b.len, out);
	buf_free(&b);
	return r;
}

static int decode_body(struct rd *r, struct manifest *m)
{
	const uint8_t *magic = rd_raw(r, 8);
	if (!magic || memcmp(magic, MANIFEST_MAGIC, 8) != 0)
		return -EBADMSG;
	m->seq = rd_be64(r);
	m->epoch = rd_be64(r);
	m->durable_seq = rd_be64(r);
	m->created_ns = rd_be64(r);
	uint64_t n = rd_varint(r);
	if (r->err || n > rd_left(r))
		return -EBADMSG;
	for (uint64_t i = 0; i < n; i++) {
		struct manifest_file *f = manifest_add_file(m);
		const uint8_t *k;
		size_t kl;
		f->id = rd_be64(r);
		f->level = rd_u8(r);
		f->size = rd_varint(r);
		f->meta_off = rd_varint(r);
		f->entries = rd_varint(r);
		f->min_seq = rd_varint(r);
		f->max_seq = rd_varint(r);
		k = rd_bytes(r, &kl);
		if (k)
			buf_set(&f->smallest, k, kl);
		k = rd_bytes(r, &kl);
		if (k)
			buf_set(&f->largest, k, kl);
		if (r->err || f->level >= LSM_LEVELS)
			return -EBADMSG;
	}
	n = rd_varint(r);
	if (r->err || n > rd_left(r))
		return -EBADMSG;
	for (uint64_t i = 0; i < n; i++) {
		size_t nl;
		const uint8_t *name = rd_bytes(r, &nl);
		uint64_t seq = rd_varint(r), created = rd_varint(r);
		if (r->err || nl == 0 || nl > LSM_CHECKPOINT_NAME_MAX || memchr(name, 0, nl))
			return -EBADMSG;
		char tmp[LSM_CHECKPOINT_NAME_MAX + 1];
		memcpy(tmp, name, nl);
		tmp[nl] = 0;
		manifest_add_checkpoint(m, tmp, seq, created);
	}
	n = rd_varint(r);
	if (r->err || n > rd_left(r))
		return -EBADMSG;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t id = rd_be64(r), since = rd_varint(r);
		manifest_add_obsolete(m, id, since);
	}
	n = rd_varint(r);
	if (r->err || n > rd_left(r))
		return -EBADMSG;
	for (uint64_t i = 0; i < n; i++)
		manifest_add_start(m, rd_varint(r));
	return r->err || rd_left(r) ? -EBADMSG : 0;
}

int manifest_decode(const uint8_t key[CRYPT_KEY_BYTES], uint64_t seq, const void *data,
		    size_t len, struct manifest *m)
{
	struct buf raw = BUF_INIT;
	uint8_t ad[16];
	char name[MANIFEST_NAME_MAX];

	memset(m, 0, sizeof *m);
	manifest_name(seq, name);
	manifest_ad(seq, ad);
	int r = unit_open(key, ad, sizeof ad, data, len, &raw);
	if (r < 0) {
		log_error("lsm: %s: authentication failed (wrong key, corrupt or tampered)", name);
		r = -EBADMSG;
		goto out;
	}
	struct rd rd = rd_make(raw.data, raw.len);
	r = decode_body(&rd, m);
	if (r == 0 && m->seq != seq)
		r = -EBADMSG;
	if (r < 0)
		log_error("lsm: %s: malformed manifest", name);
out:
	buf_free(&raw);
	if (r < 0)
		manifest_free(m);
	return r;
}

struct list_ctx {
	uint64_t *seqs;
	size_t n, cap;
};

static int collect_seq(void *arg, const struct objstore_entry *e)
{
	struct list_ctx *c = arg;
	uint64_t seq;
	if (manifest_parse_name(e->key, &seq) < 0)
		return 0; /* not ours: ignore */
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 16;
		c->seqs = xrealloc(c->seqs, c->cap * sizeof *c->seqs);
	}
	c->seqs[c->n++] = seq;
	return 0;
}

static int list_after(objstore *st, uint64_t after, struct list_ctx *c)
{
	char start[MANIFEST_NAME_MAX];
	manifest_name(after, start);
	int r = objstore_list_all(st, MANIFEST_PREFIX, after ? start : NULL, collect_seq, c);
	if (r < 0)
		log_error("lsm: list %s in %s: %s", MANIFEST_PREFIX, objstore_url(st), strerror(-r));
	return r;
}

int manifest_find_latest(objstore *st, uint64_t after, uint64_t *seq)
{
	struct list_ctx c = { 0 };
	int r = list_after(st, after, &c);
	if (r == 0 && c.n == 0)
		r = -ENOENT;
	if (r == 0)
		*seq = c.seqs[c.n - 1];
	free(c.seqs);
	return r;
}

int manifest_list(objstore *st, uint64_t **seqs, size_t *n)
{
	struct list_ctx c = { 0 };
	int r = list_after(st, 0, &c);
	*seqs = c.seqs;
	*n = c.n;
	return r;
}

int manifest_load(objstore *st, const uint8_t key[CRYPT_KEY_BYTES], uint64_t seq,
		  struct manifest *m)
{
	char name[MANIFEST_NAME_MAX];
	void *data;
	size_t len;
	manifest_name(seq, name);
	int r = objstore_get(st, name, 0, OBJSTORE_GET_TO_END, &data, &len);
	if (r < 0) {
		if (r != -ENOENT)
			log_error("lsm: read %s from %s: %s", name, objstore_url(st), strerror(-r));
		return r;
	}
	r = manifest_decode(key, seq, data, len, m);
	free(data);
	return r;
}

int manifest_store(objstore *st, const uint8_t key[CRYPT_KEY_BYTES], const struct manifest *m)
{
	char name[MANIFEST_NAME_MAX];
	struct buf b = BUF_INIT;
	manifest_name(m->seq, name);
	int r = manifest_encode(m, key, &b);
	if (r == 0)
		r = objstore_put_if_absent(st, name, b.data, b.len);
	if (r < 0 && r != -EEXIST)
		log_error("lsm: write %s to %s: %s", name, objstore_url(st), strerror(-r));
	buf_free(&b);
	return r;
}
