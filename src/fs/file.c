/* file.c -- open files, reads and writes (through an open file or
 * stateless), durability, fallocate, data/hole maps, and the removal of
 * inodes whose last name went.
 *
 * An inode unlinked while open keeps its record (nlink 0) and gets an
 * orphan key ('O' ino) in the same batch.  When nobody holds it any more
 * (last name gone and no open, or the last release), a small one goes in
 * one batch (record, xattrs, data, orphan key); a big one keeps its
 * orphan key and is handed to the reclaimer (reclaim.c), which removes
 * its data in bounded chunks.  After a crash fs_open() finds the orphan
 * keys and finishes the job. */
#include "fs/fs_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/coding.h"
#include "util/log.h"
#include "util/mem.h"

static struct open_count **open_slot(struct fs *fs, uint64_t ino)
{
	struct open_count **pp = &fs->opens[ino % 256];
	while (*pp && (*pp)->ino != ino)
		pp = &(*pp)->next;
	return pp;
}

uint32_t fs_open_count(struct fs *fs, uint64_t ino)
{
	pthread_mutex_lock(&fs->open_mu);
	struct open_count *oc = *open_slot(fs, ino);
	uint32_t n = oc ? oc->count : 0;
	pthread_mutex_unlock(&fs->open_mu);
	return n;
}

bool fs_inode_gone(struct fs *fs, const struct inode *in)
{
	return in->nlink == 0 && fs_open_count(fs, in->ino) == 0;
}

void fs_open_count_add(struct fs *fs, uint64_t ino)
{
	pthread_mutex_lock(&fs->open_mu);
	struct open_count **pp = open_slot(fs, ino);
	if (!*pp) {
		*pp = xcalloc(1, sizeof **pp);
		(*pp)->ino = ino;
	}
	(*pp)->count++;
	pthread_mutex_unlock(&fs->open_mu);
}

/* Drop one open; true if it was the last. */
static bool open_count_drop(struct fs *fs, uint64_t ino)
{
	pthread_mutex_lock(&fs->open_mu);
	struct open_count **pp = open_slot(fs, ino), *oc = *pp;
	bool last = oc && --oc->count == 0;
	if (last) {
		*pp = oc->next;
		free(oc);
	}
	pthread_mutex_unlock(&fs->open_mu);
	return last;
}

static int delete_xattrs(struct fs *fs, struct lsm_batch *b, uint64_t ino)
{
	uint8_t prefix[9];
	struct lsm_iter *it;
	prefix[0] = KEY_XATTR;
	be64_put(prefix + 1, ino);
	int r = lsm_iter_new(fs->db, prefix, sizeof prefix, NULL, 0, &it);
	if (r < 0)
		return r;
	for (; lsm_iter_valid(it); lsm_iter_next(it)) {
		size_t kl;
		const uint8_t *k = lsm_iter_key(it, &kl);
		lsm_batch_delete(b, k, kl);
	}
	r = lsm_iter_status(it);
	lsm_iter_free(it);
	if (r < 0)
		log_error("fs: inode %" PRIu64 ": cannot list its xattrs to delete them: %s", ino,
			  strerror(-r));
	return r;
}

/* The data of in from `from` on: no extent lies past the size. */
static int delete_data(struct fs_op *op, struct inode *in, uint64_t from)
{
	if (from == 0)
		return data_delete_all(fs_op_txn(op), in->ino, in->size);
	uint64_t to = in->size + DATA_EXTENT_BYTES - 1;
	to = to > INT64_MAX ? in->size : to - to % DATA_EXTENT_BYTES;
	return from < to ? data_punch(fs_op_txn(op), in->ino, from, to) : 0;
}

int fs_delete_inode(struct fs_op *op, struct inode *in, uint64_t from)
{
	uint8_t k[9];
	struct lsm_batch *b = fs_op_batch(op);
	int r = delete_xattrs(op->fs, b, in->ino);
	if (r < 0)
		return r;
	if (S_ISREG(in->mode) && (r = delete_data(op, in, from)) < 0)
		return r;
	lsm_batch_delete(b, k, fs_key_inode(k, in->ino));
	lsm_batch_delete(b, k, fs_key_orphan(k, in->ino));
	if (S_ISREG(in->mode))
		op->d_bytes -= (int64_t)in->size;
	op->d_inodes -= 1;
	fs_op_gone(op, in);
	return 0;
}

int fs_drop_inode(struct fs_op *op, struct inode *in)
{
	uint8_t k[9];
	int r = fs_pin_check(op->fs, in->ino, "removing its last name");
	if (r < 0)
		return r;
	bool open = fs_open_count(op->fs, in->ino) > 0;
	in->nlink = 0;
	if (!open && !fs_reclaim_big(op->fs, in))
		return fs_delete_inode(op, in, 0);
	/* Still open, or too big for one batch: the name goes now, the
	 * record stays with an orphan key until it can go. */
	fs_op_dirty(op, in);
	lsm_batch_put(fs_op_batch(op), k, fs_key_orphan(k, in->ino), "", 0);
	if (!open)
		op->reclaim = in->ino;
	return 0;
}

/* Writing or truncating by an unprivileged user drops setuid, and setgid
 * when the group can execute, as Linux does (file_remove_privs). */
static void kill_priv(const struct fs_cred *c, struct inode *in)
{
	if (!c || c->uid == 0)
		return;
	in->mode &= ~(uint32_t)S_ISUID;
	if ((in->mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP))
		in->mode &= ~(uint32_t)S_ISGID;
}

/* Growing a file to end: a big shrink may have left data past the size.
 * A named file finishes that first (FS_TRIM_FIRST) if its orphan key is
 * there: the key, read under the stripe, says whether work is left, not
 * the reclaimer's queue (an entry can be missing from it, the key
 * cannot: it goes only in the batch that removed the last of the data).
 * An unlinked open one
 * (whose leftovers the reclaimer keeps for its last release) clears the
 * range it exposes in the op's batch (writes: clear_past_size, a batch of
 * its own before the write). */
static int before_growth(struct fs_op *op, struct inode *in, uint64_t end)
{
	if (end <= in->size)
		return 0;
	if (in->nlink > 0) {
		int r = fs_reclaim_pending(op->fs, in->ino);
		return r > 0 ? FS_TRIM_FIRST : r;
	}
	uint64_t to = end + DATA_EXTENT_BYTES - 1;
	to = to > INT64_MAX ? end : to - to % DATA_EXTENT_BYTES;
	op->wrote_data = true;
	return data_punch(fs_op_txn(op), in->ino, in->size, to);
}

/* An unlinked open file about to grow to end: clear [size, end) of what
 * a big shrink may have left, in one batch of its own. */
static int clear_past_size(struct fs *fs, const struct fs_cred *c, uint64_t ino, uint64_t end)
{
	struct fs_op op;
	struct inode *in;
	/* c only names the origin for the observers: the write checked it. */
	struct fs_cred origin = { 0, 0, 0, NULL, c ? c->origin : 0 };
	fs_op_begin(fs, &op, FS_OP_WRITE, &origin, true);
	fs_op_lock(&op, ino, 0, 0, 0);
	int r = fs_op_load(&op, ino, &in);
	if (r == 0 && end > in->size && S_ISREG(in->mode)) {
		r = before_growth(&op, in, end);
		if (r == 0)
			r = fs_op_commit(&op); /* the extent hook re-puts the record */
	}
	return fs_op_end(&op, r, NULL, 0, 0, 0);
}

/* A shrink that drops more stored extents than one reclaim chunk: the
 * size goes down now, the data past it chunk by chunk (reclaim.c). */
static bool shrink_is_big(struct fs *fs, const struct inode *in, uint64_t size)
{
	uint64_t chunk = fs->o.reclaim_chunk_bytes ? fs->o.reclaim_chunk_bytes :
						     FS_RECLAIM_CHUNK_BYTES;
	uint64_t n = chunk / DATA_EXTENT_BYTES;
	return fs->rc && in->nlink > 0 && size < in->size && in->extents > n &&
	       (in->size - size) / DATA_EXTENT_BYTES > n && size <= INT64_MAX - DATA_EXTENT_BYTES;
}

static int shrink_later(struct fs_op *op, struct inode *in, uint64_t size)
{
	uint8_t k[9], v[8];
	uint64_t cut = (size + DATA_EXTENT_BYTES - 1) / DATA_EXTENT_BYTES * DATA_EXTENT_BYTES;
	uint64_t cursor = cut, old;
	bool has = false;
	int r = 0;
	if (cut > size)
		r = data_punch(fs_op_txn(op), in->ino, size, cut < in->size ? cut : in->size);
	/* An earlier shrink's work still pending (its key says so, queued or
	 * not): start where it is lower. */
	if (r == 0) {
		r = fs_reclaim_cursor(op->fs, in->ino, &old, &has);
		if (r == -ENOENT)
			r = 0; /* no key: no earlier work (only this read's ENOENT means that) */
		if (r == 0 && has && old < cursor)
			cursor = old;
	}
	if (r < 0)
		return r;
	be64_put(v, cursor);
	lsm_batch_put(fs_op_batch(op), k, fs_key_orphan(k, in->ino), v, sizeof v);
	op->reclaim = in->ino;
	return 0;
}

int fs_set_size(struct fs_op *op, struct inode *in, uint64_t size)
{
	if (size > INT64_MAX)
		return -EFBIG;
	int64_t delta = (int64_t)size - (int64_t)in->size;
	int r = size != in->size ? fs_pin_check(op->fs, in->ino, "a size change") : 0;
	if (r == 0)
		r = fs_quota_check(op->fs, delta, 0);
	/* Growing over data a big shrink left behind would show it again. */
	if (r == 0)
		r = before_growth(op, in, size);
	if (r == 0 && shrink_is_big(op->fs, in, size))
		r = shrink_later(op, in, size);
	else if (r == 0)
		r = data_truncate(fs_op_txn(op), in->ino, in->size, size);
	op->wrote_data = true; /* a partial extent is rewritten */
	if (r < 0)
		return r;
	op->d_bytes += delta;
	in->size = size;
	fs_now(&in->mtime);
	in->ctime = in->mtime;
	kill_priv(op->c, in);
	fs_op_dirty(op, in);
	return 0;
}

int fs_open_file(struct fs *fs, const struct fs_cred *c, uint64_t ino, int flags)
{
	struct fs_op op;
	struct inode *in;
	int acc = flags & O_ACCMODE;
	int mask = acc == O_RDONLY ? R_OK : acc == O_WRONLY ? W_OK : R_OK | W_OK;
	if (flags & O_TRUNC)
		mask |= W_OK;
	fs_op_begin(fs, &op, FS_OP_OPEN, c, false);
	/* Under the inode's lock, so an unlink sees the open or the open
	 * sees the unlink, never neither. */
	fs_op_lock(&op, ino, 0, 0, 0);
	int r = fs_op_load(&op, ino, &in);
	if (r == 0 && S_ISDIR(in->mode) && (mask & W_OK))
		r = -EISDIR;
	else if (r == 0 && S_ISLNK(in->mode))
		r = -ELOOP;
	else if (r == 0 && (mask & W_OK) && fs->o.read_only)
		r = -EROFS;
	else if (r == 0 && in->nlink == 0 && fs_open_count(fs, ino) == 0)
		r = -ENOENT; /* gone: only those holding it open keep it */
	if (r == 0)
		r = fs_may(c, in, mask);
	bool trunc = r == 0 && (flags & O_TRUNC) && S_ISREG(in->mode);
	if (r == 0)
		fs_open_count_add(fs, ino);
	r = fs_op_end(&op, r, NULL, 0, 0, 0);
	if (trunc) {
		struct fs_setattr sa = { .valid = FS_SET_SIZE, .size = 0 };
		r = fs_setattr(fs, c, ino, &sa, NULL, NULL);
		if (r < 0)
			fs_release(fs, ino);
	}
	return r;
}

void fs_release(struct fs *fs, uint64_t ino)
{
	struct fs_op op;
	struct inode *in;
	if (!open_count_drop(fs, ino) || fs->o.read_only)
		return;
	/* The last close of a file with no name left: reclaim it. */
	fs_op_begin(fs, &op, FS_OP_RELEASE, NULL, true);
	fs_op_lock(&op, ino, 0, 0, 0);
	int r = fs_op_load(&op, ino, &in);
	if (r == 0 && in->nlink == 0 && fs_open_count(fs, ino) == 0) {
		r = fs_drop_inode(&op, in);
		if (r == 0)
			r = fs_op_commit(&op);
		if (r < 0)
			log_error("fs: inode %" PRIu64 ": cannot remove it at its last close: %s; "
				  "its orphan key stays and the reclaimer retries", ino,
				  strerror(-r));
	}
	/* A close cannot fail: a failed removal goes to the reclaimer, which
	 * retries with a backoff (the orphan key, written at the unlink, is
	 * still there), instead of waiting for the next start. */
	if (fs_op_end(&op, r, NULL, 0, 0, 0) < 0)
		fs_reclaim_queue(fs, ino);
}

/* relatime: update atime if it is older than mtime/ctime or a day old. */
static void touch_atime(struct fs *fs, uint64_t ino)
{
	struct fs_op op;
	struct inode *in;
	struct timespec now;
	fs_now(&now);
	int r = fs_op_begin(fs, &op, FS_OP_ATIME, NULL, true);
	if (r == 0) {
		fs_op_lock(&op, ino, 0, 0, 0);
		r = fs_op_load(&op, ino, &in);
	}
	if (r == 0) {
		bool stale = in->atime.tv_sec < in->mtime.tv_sec ||
			     (in->atime.tv_sec == in->mtime.tv_sec &&
			      in->atime.tv_nsec <= in->mtime.tv_nsec) ||
			     in->atime.tv_sec < in->ctime.tv_sec ||
			     now.tv_sec - in->atime.tv_sec >= 24 * 3600;
		if (stale && in->nlink) {
			in->atime = now;
			fs_op_dirty(&op, in);
			r = fs_op_commit(&op);
		}
	}
	fs_op_end(&op, r, NULL, 0, 0, 0);
}

static int read_common(struct fs *fs, const struct fs_cred *c, uint64_t ino, uint64_t off,
		       void *buf, size_t len, size_t *got, bool *eof)
{
	struct inode in;
	*got = 0;
	int r = fs_inode_load(fs, ino, &in);
	if (r < 0)
		return r;
	if (S_ISDIR(in.mode))
		r = -EISDIR;
	else if (!S_ISREG(in.mode))
		r = -EINVAL;
	else if (c && in.nlink == 0 && fs_open_count(fs, ino) == 0)
		r = -ESTALE; /* stateless: the file is gone */
	else if (c)
		r = fs_may_io(c, &in, false);
	if (r == 0 && off < in.size) {
		size_t n = in.size - off < len ? (size_t)(in.size - off) : len;
		r = data_read(fs->data, ino, off, buf, n);
		if (r == 0)
			*got = n;
	}
	if (eof)
		*eof = r == 0 && off + *got >= in.size;
	fs_inode_free(&in);
	if (r == 0 && fs->o.atime && !fs->o.read_only)
		touch_atime(fs, ino);
	return r;
}

int fs_read(struct fs *fs, uint64_t ino, uint64_t off, void *buf, size_t len, size_t *got)
{
	uint64_t t0 = fs_clock_ns();
	int r = read_common(fs, NULL, ino, off, buf, len, got, NULL);
	fs_stat_count(fs, FS_OP_READ, t0, r);
	return r;
}

int fs_read_as(struct fs *fs, const struct fs_cred *c, uint64_t ino, uint64_t off, void *buf,
	       size_t len, size_t *got, bool *eof)
{
	uint64_t t0 = fs_clock_ns();
	int r = read_common(fs, c, ino, off, buf, len, got, eof);
	fs_stat_count(fs, FS_OP_READ, t0, r);
	return r;
}

static int write_once(struct fs *fs, const struct fs_cred *c, uint64_t ino, uint64_t off,
		      const void *buf, size_t len, unsigned flags, bool check, bool cleared,
		      size_t *put, struct fs_wcc_out *wcc)
{
	struct fs_op op;
	struct inode *in;
	*put = 0;
	int r = fs_op_begin(fs, &op, FS_OP_WRITE, c, true);
	if (r == 0 && (off > INT64_MAX || len > (uint64_t)INT64_MAX - off))
		r = -EFBIG;
	if (r == 0) {
		fs_op_lock(&op, ino, 0, 0, 0);
		r = fs_op_load(&op, ino, &in);
	}
	if (r == 0 && !S_ISREG(in->mode))
		r = S_ISDIR(in->mode) ? -EISDIR : -EINVAL;
	/* A stateless write by handle to a file nobody holds any more would
	 * bring back data the reclaimer is removing. */
	if (r == 0 && fs_inode_gone(fs, in))
		r = -ESTALE;
	if (r == 0 && check)
		r = fs_may_io(c, in, true);
	uint64_t end = off + len;
	int64_t growth = r == 0 && end > in->size ? (int64_t)(end - in->size) : 0;
	if (r == 0)
		r = fs_quota_check(fs, growth, 0);
	/* An unlinked open file: the range it grows over is cleared in a
	 * batch of its own first (a write staged over a range deleted in
	 * the same transaction is not something the data plane promises). */
	if (r == 0 && len && end > in->size && in->nlink == 0 && !cleared)
		r = FS_CLEAR_FIRST;
	else if (r == 0 && len && in->nlink > 0)
		r = before_growth(&op, in, end);
	if (r == 0 && len) {
		op.wrote_data = true;
		r = data_write(fs_op_txn(&op), ino, off, buf, len);
	}
	if (r == 0 && len) {
		if (end > in->size)
			in->size = end;
		/* A write-back cache hands data over long after the write(2),
		 * and then sends the times of the write itself: stamping "now"
		 * here would make a file look newer than ones touched after. */
		if (!(flags & FS_WRITE_KEEP_TIMES)) {
			fs_now(&in->mtime);
			in->ctime = in->mtime;
		}
		kill_priv(c, in);
		fs_op_dirty(&op, in);
		op.d_bytes = growth;
		r = fs_op_commit(&op);
		if (r == 0)
			*put = len;
	}
	return fs_op_end(&op, r, wcc, ino, 0, 0);
}

int fs_write_common(struct fs *fs, const struct fs_cred *c, uint64_t ino, uint64_t off,
		    const void *buf, size_t len, unsigned flags, bool check, size_t *put,
		    struct fs_wcc_out *wcc)
{
	bool cleared = false;
	for (;;) {
		int r = write_once(fs, c, ino, off, buf, len, flags, check, cleared, put, wcc);
		if (r == FS_TRIM_FIRST)
			r = fs_reclaim_finish(fs, ino);
		else if (r == FS_CLEAR_FIRST && (r = clear_past_size(fs, c, ino, off + len)) == 0)
			cleared = true; /* an unlinked file gets no new leftovers */
		else
			return r;
		if (r < 0)
			return r;
	}
}

int fs_write(struct fs *fs, const struct fs_cred *c, uint64_t ino, uint64_t off,
	     const void *buf, size_t len, size_t *put)
{
	return fs_write_common(fs, c, ino, off, buf, len, 0, false, put, NULL);
}

int fs_write_ex(struct fs *fs, const struct fs_cred *c, uint64_t ino, uint64_t off,
		const void *buf, size_t len, unsigned flags, size_t *put, struct fs_wcc_out *wcc)
{
	return fs_write_common(fs, c, ino, off, buf, len, flags, false, put, wcc);
}

int fs_write_as(struct fs *fs, const struct fs_cred *c, uint64_t ino, uint64_t off,
		const void *buf, size_t len, size_t *put, struct fs_wcc_out *wcc)
{
	return fs_write_common(fs, c, ino, off, buf, len, 0, true, put, wcc);
}

int fs_commit(struct fs *fs, uint64_t ino, uint64_t off, uint64_t len)
{
	uint64_t t0 = fs_clock_ns();
	(void)off;
	(void)len;
	if (fs->o.read_only)
		return 0;
	int r = 0;
	uint64_t seq = atomic_load(&fs->seqs[ino % SEQ_SLOTS]);
	/* A durable manifest never names data that is not in the store, so
	 * the metadata being durable means the data is too. */
	if (seq == 0 || seq <= lsm_durable_seq(fs->db))
		atomic_fetch_add(&fs->commits_skipped, 1);
	else
		r = data_barrier(fs->data, 0);
	fs_stat_count(fs, FS_OP_COMMIT, t0, r);
	return r;
}

int fs_fsync(struct fs *fs, uint64_t ino, bool datasync)
{
	(void)datasync;
	return fs_commit(fs, ino, 0, UINT64_MAX);
}

int fs_sync(struct fs *fs)
{
	if (fs->o.read_only)
		return 0;
	return data_barrier(fs->data, 0);
}

static int fallocate_once(struct fs *fs, const struct fs_cred *c, uint64_t ino, int mode,
			  uint64_t off, uint64_t len, struct fs_wcc_out *wcc)
{
	struct fs_op op;
	struct inode *in;
	bool keep = mode & FALLOC_FL_KEEP_SIZE;
	bool punch = mode & FALLOC_FL_PUNCH_HOLE, zero = mode & FALLOC_FL_ZERO_RANGE;
	int r = fs_op_begin(fs, &op, FS_OP_FALLOCATE, c, true);
	if (r == 0 && len == 0)
		r = -EINVAL;
	else if (r == 0 && (off > INT64_MAX || len > (uint64_t)INT64_MAX - off))
		r = -EFBIG;
	else if (r == 0 && (mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE |
				     FALLOC_FL_ZERO_RANGE)))
		r = -EOPNOTSUPP;
	else if (r == 0 && ((punch && !keep) || (punch && zero)))
		r = -EINVAL;
	if (r == 0) {
		fs_op_lock(&op, ino, 0, 0, 0);
		r = fs_op_load(&op, ino, &in);
	}
	if (r == 0 && !S_ISREG(in->mode))
		r = S_ISDIR(in->mode) ? -EISDIR : -ENODEV;
	else if (r == 0 && fs_inode_gone(fs, in))
		r = -ESTALE;
	uint64_t end = off + len;
	int64_t growth = r == 0 && !keep && end > in->size ? (int64_t)(end - in->size) : 0;
	if (r == 0)
		r = fs_quota_check(fs, growth, 0);
	if (r == 0 && growth)
		r = before_growth(&op, in, end);
	if (r == 0 && (punch || zero) && off < in->size) {
		op.wrote_data = true;
		r = data_punch(fs_op_txn(&op), ino, off, end < in->size ? end : in->size);
	}
	if (r == 0) {
		/* Holes read as zeros, so "allocating" stores nothing: the
		 * space is the object store's, not ours to reserve. */
		if (growth)
			in->size = end;
		fs_now(&in->ctime);
		if (punch || zero || growth) {
			in->mtime = in->ctime;
			kill_priv(c, in);
		}
		fs_op_dirty(&op, in);
		op.d_bytes = growth;
		r = fs_op_commit(&op);
	}
	return fs_op_end(&op, r, wcc, ino, 0, 0);
}

static int map_impl(struct fs *fs, uint64_t ino, uint64_t off, uint64_t len, fs_map_cb cb,
		    void *arg)
{
	struct inode in;
	int r = fs_inode_load(fs, ino, &in);
	if (r < 0)
		return r;
	if (!S_ISREG(in.mode))
		r = S_ISDIR(in.mode) ? -EISDIR : -EINVAL;
	uint64_t size = in.size;
	fs_inode_free(&in);
	if (r < 0 || off >= size || len == 0)
		return r;
	if (len > size - off)
		len = size - off;
	/* fs_map_cb and data_map_cb are the same type on purpose. */
	return data_map(fs->data, ino, off, len, cb, arg);
}

int fs_fallocate(struct fs *fs, const struct fs_cred *c, uint64_t ino, int mode, uint64_t off,
		 uint64_t len, struct fs_wcc_out *wcc)
{
	int r;
	while ((r = fallocate_once(fs, c, ino, mode, off, len, wcc)) == FS_TRIM_FIRST)
		if ((r = fs_reclaim_finish(fs, ino)) < 0)
			break;
	return r;
}

int fs_map(struct fs *fs, uint64_t ino, uint64_t off, uint64_t len, fs_map_cb cb, void *arg)
{
	uint64_t t0 = fs_clock_ns();
	int r = map_impl(fs, ino, off, len, cb, arg);
	fs_stat_count(fs, FS_OP_MAP, t0, r);
	return r;
}
