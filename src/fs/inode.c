/* inode.c -- inode records and keys.
 *
 * Inode record ('I' ino), big-endian:
 *   version u8 (2) | mode u32 | uid u32 | gid u32 | nlink u32 | size u64
 *   | rdev u64 | generation u64 | atime, mtime, ctime (sec s64, nsec u32)
 *   | parent u64 | next_cookie u64 | change u64 | stored extents u64
 *   | symlink target (varint length + bytes)
 * Version 1 (still read) has neither change nor stored extents: its
 * change counter starts from its ctime in ns (so it never goes back), and
 * its extents are counted with data_map when needed and written at its
 * next change. */
#include "fs/fs_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/coding.h"
#include "util/log.h"
#include "util/mem.h"

#define INODE_VERSION 2

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
	buf_put_be64(&v, in->change);
	buf_put_be64(&v, in->extents);
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
	uint8_t version = rd_u8(&rd);
	if (version != 1 && version != INODE_VERSION)
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
	if (version >= 2) {
		in->change = rd_be64(&rd);
		in->extents = rd_be64(&rd);
		in->extents_known = true;
	} else {
		in->change = (uint64_t)in->ctime.tv_sec * 1000000000u + (uint64_t)in->ctime.tv_nsec;
		in->extents_known = !S_ISREG(in->mode) || in->size == 0;
	}
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
	/* What is really stored: a sparse file shows fewer blocks than its
	 * size.  An old record whose count is unknown says its size. */
	out->blocks = in->extents_known ? in->extents * (DATA_EXTENT_BYTES / 512) :
					  (in->size + 511) / 512;
	out->rdev = in->rdev;
	out->atime = in->atime;
	out->mtime = in->mtime;
	out->ctime = in->ctime;
	out->generation = in->generation;
	out->change = in->change;
}

static int count_cb(void *arg, uint64_t off, uint64_t len, bool data)
{
	uint64_t *n = arg;
	if (data)
		*n += (len + DATA_EXTENT_BYTES - 1) / DATA_EXTENT_BYTES;
	(void)off;
	return 0;
}

int fs_inode_count_extents(struct fs *fs, struct inode *in)
{
	if (in->extents_known)
		return 0;
	uint64_t n = 0;
	/* Extents may lie past the size only transiently; count them all. */
	int r = data_map(fs->data, in->ino, 0, UINT64_MAX, count_cb, &n);
	if (r < 0) {
		log_error("fs: inode %" PRIu64 ": cannot count its stored extents: %s", in->ino,
			  strerror(-r));
		return r;
	}
	in->extents = n;
	in->extents_known = true;
	return 0;
}

int fs_attr_load(struct fs *fs, uint64_t ino, struct fs_attr *out)
{
	struct inode in;
	int r = fs_inode_load(fs, ino, &in);
	if (r < 0)
		return r;
	r = fs_inode_count_extents(fs, &in);
	if (r == 0)
		fs_inode_attr(&in, out);
	fs_inode_free(&in);
	return r;
}
