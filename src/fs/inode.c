/* inode.c -- inode records, keys, counters and the commit of one operation.
 *
 * Inode record ('I' ino), big-endian:
 *   version u8 (1) | mode u32 | uid u32 | gid u32 | nlink u32 | size u64
 *   | rdev u64 | generation u64 | atime, mtime, ctime (sec s64, nsec u32)
 *   | parent u64 | next_cookie u64 | symlink target (varint length + bytes)
 * Counters ('F'): next inode u64 (numbers below it may have been handed
 * out), used bytes u64, inodes u64.  Inode numbers are reserved INO_BATCH
 * at a time, so a crash skips some numbers but never reuses one. */
#include "fs/fs_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/coding.h"
#include "util/log.h"
#include "util/mem.h"

#define INODE_VERSION 1

size_t fs_key_inode(uint8_t *k, uint64_t ino)
{
	k[0] = KEY_INODE;
	be64_put(k + 1, ino);
	return 9;
}

size_t fs_key_dirent(uint8_t *k, uint64_t parent, const char *name)
{
	size_t n = strlen(name);
	k[0] = KEY_DIRENT;
	be64_put(k + 1, parent);
	memcpy(k + 9, name, n);
	return 9 + n;
}

size_t fs_key_cookie(uint8_t *k, uint64_t parent, uint64_t cookie)
{
	k[0] = KEY_COOKIE;
	be64_put(k + 1, parent);
	be64_put(k + 9, cookie);
	return 17;
}

size_t fs_key_xattr(uint8_t *k, uint64_t ino, const char *name)
{
	size_t n = strlen(name);
	k[0] = KEY_XATTR;
	be64_put(k + 1, ino);
	memcpy(k + 9, name, n);
	return 9 + n;
}

size_t fs_key_orphan(uint8_t *k, uint64_t ino)
{
	k[0] = KEY_ORPHAN;
	be64_put(k + 1, ino);
	return 9;
}

void fs_now(struct timespec *ts)
{
	clock_gettime(CLOCK_REALTIME, ts);
}

static void put_time(struct buf *b, const struct timespec *t)
{
	buf_put_be64(b, (uint64_t)t->tv_sec);
	buf_put_be32(b, (uint32_t)t->tv_nsec);
}

static void get_time(struct rd *r, struct timespec *t)
{
	t->tv_sec = (time_t)rd_be64(r);
	t->tv_nsec = (long)rd_be32(r);
	if (t->tv_nsec >= 1000000000)
		r->err = true;
}

void fs_inode_put(struct lsm_batch *b, const struct inode *in)
{
	uint8_t k[9];
	struct buf v = BUF_INIT;
	buf_put_u8(&v, INODE_VERSION);
	buf_put_be32(&v, in->mode);
	buf_put_be32(&v, in->uid);
	buf_put_be32(&v, in->gid);
	buf_put_be32(&v, in->nlink);
	buf_put_be64(&v, in->size);
	buf_put_be64(&v, in->rdev);
	buf_put_be64(&v, in->generation);
	put_time(&v, &in->atime);
	put_time(&v, &in->mtime);
	put_time(&v, &in->ctime);
	buf_put_be64(&v, in->parent);
	buf_put_be64(&v, in->next_cookie);
	buf_put_bytes(&v, in->target, in->target ? strlen(in->target) : 0);
	lsm_batch_put(b, k, fs_key_inode(k, in->ino), v.data, v.len);
	buf_free(&v);
}

int fs_inode_load(struct fs *fs, uint64_t ino, struct inode *in)
{
	uint8_t k[9];
	struct buf v = BUF_INIT;
	memset(in, 0, sizeof *in);
	int r = lsm_get(fs->db, k, fs_key_inode(k, ino), &v);
	if (r < 0) {
		buf_free(&v);
		return r == -ENOENT ? -ENOENT : r;
	}
	struct rd rd = rd_make(v.data, v.len);
	in->ino = ino;
	if (rd_u8(&rd) != INODE_VERSION)
		rd.err = true;
	in->mode = rd_be32(&rd);
	in->uid = rd_be32(&rd);
	in->gid = rd_be32(&rd);
	in->nlink = rd_be32(&rd);
	in->size = rd_be64(&rd);
	in->rdev = rd_be64(&rd);
	in->generation = rd_be64(&rd);
	get_time(&rd, &in->atime);
	get_time(&rd, &in->mtime);
	get_time(&rd, &in->ctime);
	in->parent = rd_be64(&rd);
	in->next_cookie = rd_be64(&rd);
	size_t tl;
	const uint8_t *t = rd_bytes(&rd, &tl);
	if (!rd.err && tl)
		in->target = xasprintf("%.*s", (int)tl, (const char *)t);
	buf_free(&v);
	if (rd.err || rd_left(&rd)) {
		log_error("fs: inode %" PRIu64 ": malformed record", ino);
		fs_inode_free(in);
		return -EIO;
	}
	return 0;
}

void fs_inode_free(struct inode *in)
{
	free(in->target);
	in->target = NULL;
}

void fs_inode_attr(const struct inode *in, struct fs_attr *out)
{
	out->ino = in->ino;
	out->mode = in->mode;
	out->nlink = in->nlink;
	out->uid = in->uid;
	out->gid = in->gid;
	out->size = in->size;
	/* Apparent size in 512-byte units: holes are not tracked here. */
	out->blocks = (in->size + 511) / 512;
	out->rdev = in->rdev;
	out->atime = in->atime;
	out->mtime = in->mtime;
	out->ctime = in->ctime;
	out->generation = in->generation;
}

/* ---- commits ---- */

void fs_commit_init(struct fs *fs, struct fs_commit *c)
{
	memset(c, 0, sizeof *c);
	c->txn = data_txn_new(fs->data);
	c->b = lsm_batch_new();
}

static void put_counters(struct fs *fs, struct lsm_batch *b, uint64_t reserved, uint64_t used,
			 uint64_t inodes)
{
	uint8_t k[1] = { KEY_COUNTERS }, v[24];
	be64_put(v, reserved);
	be64_put(v + 8, used);
	be64_put(v + 16, inodes);
	lsm_batch_put(b, k, 1, v, sizeof v);
	(void)fs;
}

uint64_t fs_commit_alloc_ino(struct fs *fs, struct fs_commit *c)
{
	c->alloc = true;
	pthread_mutex_lock(&fs->commit_mu);
	c->ino = fs->next_ino++;
	return c->ino;
}

int fs_quota_check(struct fs *fs, int64_t d_bytes, int64_t d_inodes)
{
	int r = 0;
	pthread_mutex_lock(&fs->commit_mu);
	if (d_bytes > 0 && fs->o.max_size && fs->used_bytes + (uint64_t)d_bytes > fs->o.max_size)
		r = -ENOSPC;
	if (d_inodes > 0 && fs->o.max_inodes && fs->inodes + (uint64_t)d_inodes > fs->o.max_inodes)
		r = -ENOSPC;
	pthread_mutex_unlock(&fs->commit_mu);
	return r;
}

int fs_commit_done(struct fs *fs, struct fs_commit *c)
{
	if (!c->alloc)
		pthread_mutex_lock(&fs->commit_mu);
	uint64_t used = (uint64_t)((int64_t)fs->used_bytes + c->d_bytes);
	uint64_t inodes = (uint64_t)((int64_t)fs->inodes + c->d_inodes);
	uint64_t reserved = fs->reserved_ino;
	if (fs->next_ino > reserved)
		reserved = fs->next_ino + INO_BATCH;
	if (c->d_bytes || c->d_inodes || reserved != fs->reserved_ino)
		put_counters(fs, c->b, reserved, used, inodes);
	int r = data_txn_commit(c->txn, c->b, NULL);
	if (r == 0) {
		fs->used_bytes = used;
		fs->inodes = inodes;
		fs->reserved_ino = reserved;
	} else if (c->alloc && fs->next_ino == c->ino + 1) {
		fs->next_ino--; /* nothing used it */
	}
	pthread_mutex_unlock(&fs->commit_mu);
	data_txn_free(c->txn);
	lsm_batch_free(c->b);
	c->txn = NULL;
	c->b = NULL;
	return r;
}

void fs_commit_abort(struct fs *fs, struct fs_commit *c)
{
	if (c->alloc)
		pthread_mutex_unlock(&fs->commit_mu);
	data_txn_free(c->txn);
	lsm_batch_free(c->b);
	c->txn = NULL;
	c->b = NULL;
}

/* ---- locks ---- */

static void sort4(uint32_t *s)
{
	for (int i = 1; i < 4; i++)
		for (int j = i; j > 0 && s[j] < s[j - 1]; j--) {
			uint32_t t = s[j];
			s[j] = s[j - 1];
			s[j - 1] = t;
		}
}

static void stripes_of(uint64_t a, uint64_t b, uint64_t c, uint64_t d, uint32_t s[4])
{
	uint64_t v[4] = { a, b, c, d };
	for (int i = 0; i < 4; i++)
		s[i] = v[i] ? (uint32_t)(v[i] % FS_STRIPES) : UINT32_MAX;
	sort4(s);
}

void fs_lock(struct fs *fs, uint64_t a, uint64_t b, uint64_t c, uint64_t d)
{
	uint32_t s[4];
	stripes_of(a, b, c, d, s);
	for (int i = 0; i < 4; i++)
		if (s[i] != UINT32_MAX && (i == 0 || s[i] != s[i - 1]))
			pthread_mutex_lock(&fs->stripes[s[i]]);
}

void fs_unlock(struct fs *fs, uint64_t a, uint64_t b, uint64_t c, uint64_t d)
{
	uint32_t s[4];
	stripes_of(a, b, c, d, s);
	for (int i = 3; i >= 0; i--)
		if (s[i] != UINT32_MAX && (i == 0 || s[i] != s[i - 1]))
			pthread_mutex_unlock(&fs->stripes[s[i]]);
}
