/* proc_file.c -- open files: Tlopen, Tlcreate, Tread, Twrite, Tfsync.
 *
 * An open fid holds one open of the core (fs_open_file / fs_create),
 * released with the fid's last reference, so an unlinked file stays
 * readable through it.  Permission is checked at open, as open(2) does;
 * reads and writes then need the access the open asked for (EBADF).
 * Tfsync is the core's fs_fsync: free when the file's changes are already
 * durable, else the verified barrier (the datasync flag is passed on).
 *
 * O_APPEND: the core has no atomic append, so a Twrite through a fid
 * opened with it reads the size and writes there under a lock of this
 * server (striped by inode).  Appends through 9P are therefore atomic
 * with each other, but not with writes through FUSE, NFS or another
 * server on the same store, which may land in between. */
#include "ninep/ninep_int.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

/* The 9P2000.L open flags (Linux's generic values) -> this host's. */
static int open_flags(uint32_t f)
{
	int acc = (f & P9_DOTL_ACCMODE) == 1 ? O_WRONLY : (f & P9_DOTL_ACCMODE) == 2 ? O_RDWR
										     : O_RDONLY;
	return acc | (f & P9_DOTL_TRUNC ? O_TRUNC : 0) | (f & P9_DOTL_APPEND ? O_APPEND : 0) |
	       (f & P9_DOTL_EXCL ? O_EXCL : 0);
}

static bool may_write(int oflags)
{
	return (oflags & O_ACCMODE) != O_RDONLY;
}

static void put_open_reply(struct p9_wr *w, const struct fs_attr *a)
{
	struct p9_qid q;
	ninep_qid_of(a, &q);
	p9_put_qid(w, &q);
	p9_put_u32(w, 0);   /* iounit 0: the client uses msize less the header */
}

int proc_lopen(struct ninep_req *rq, struct p9_wr *w)
{
	struct ninep_conn *c = rq->c;
	struct fs *fs = c->srv->fs;
	uint64_t ino;
	struct ninep_fid *f = ninep_fid_file(rq, rq->m.u.lopen.fid, &ino);
	if (!f)
		return -EBADF;
	int flags = open_flags(rq->m.u.lopen.flags) & ~O_EXCL;
	struct fs_cred cr = ninep_cred(rq, f);
	struct fs_attr a;
	int r = 0;
	if (c->srv->read_only && (may_write(flags) || (flags & O_TRUNC)))
		r = -EROFS;
	pthread_mutex_lock(&f->mu);
	if (r == 0 && f->open)
		r = -EBUSY;
	if (r == 0 && (rq->m.u.lopen.flags & P9_DOTL_DIRECTORY) && !S_ISDIR(f->mode))
		r = -ENOTDIR;
	if (r == 0)
		r = fs_open_file(fs, &cr, ino, flags);
	if (r == 0) {
		f->open = true;
		f->oflags = flags;
	}
	pthread_mutex_unlock(&f->mu);
	if (r == 0)
		r = fs_getattr(fs, ino, &a);
	fid_put(c, f);
	if (r < 0)
		return r;
	put_open_reply(w, &a);
	return 0;
}

int proc_lcreate(struct ninep_req *rq, struct p9_wr *w)
{
	struct ninep_conn *c = rq->c;
	const typeof(rq->m.u.lcreate) *m = &rq->m.u.lcreate;
	uint64_t dir;
	int r = ninep_check_name(&m->name, true);
	if (r < 0)
		return r;
	struct ninep_fid *f = ninep_fid_file(rq, m->fid, &dir);
	if (!f)
		return -EBADF;
	struct fs_cred cr = ninep_cred(rq, f);
	cr.gid = m->gid;   /* the creator's effective gid, as the client says */
	int flags = open_flags(m->flags) | O_CREAT;
	struct fs_attr a;
	bool created;
	pthread_mutex_lock(&f->mu);
	if (f->open)
		r = -EBUSY;
	else
		r = fs_create(c->srv->fs, &cr, dir, m->name.s, m->mode & 07777, flags, NULL, &a,
			      &created, NULL);
	if (r == 0) {
		/* The fid now is the new file, open. */
		fid_set_file(f, &a, dir, m->name.s);
		f->open = true;
		f->oflags = flags & ~(O_CREAT | O_EXCL | O_TRUNC);
	}
	pthread_mutex_unlock(&f->mu);
	fid_put(c, f);
	if (r < 0)
		return r;
	put_open_reply(w, &a);
	return 0;
}

int proc_read(struct ninep_req *rq, struct p9_wr *w)
{
	struct ninep_conn *c = rq->c;
	const typeof(rq->m.u.read) *m = &rq->m.u.read;
	struct ninep_fid *f = fid_get(c, m->fid);
	if (!f)
		return -EBADF;
	uint32_t count = m->count;
	if (count > c->msize - P9_IOHDR)
		count = c->msize - P9_IOHDR;
	pthread_mutex_lock(&f->mu);
	enum fid_kind kind = f->kind;
	bool ok = f->open && !f->dead && (f->oflags & O_ACCMODE) != O_WRONLY;
	uint64_t ino = f->ino;
	uint32_t mode = f->mode;
	pthread_mutex_unlock(&f->mu);
	int r;
	if (kind == FID_XATTR_READ) {
		r = ninep_xattr_read(f, m->offset, count, w);
	} else if (kind != FID_PATH || !ok) {
		r = -EBADF;
	} else if (S_ISDIR(mode)) {
		r = -EISDIR;
	} else {
		size_t hdr = w->len;
		p9_put_u32(w, 0);
		uint8_t *p = p9_put_room(w, count);
		size_t got = 0;
		r = p ? fs_read(c->srv->fs, ino, m->offset, p, count, &got) : -EIO;
		if (r == 0) {
			w->len = hdr;
			p9_put_u32(w, (uint32_t)got);
			w->len += got;
		}
	}
	fid_put(c, f);
	return r;
}

int proc_write(struct ninep_req *rq, struct p9_wr *w)
{
	struct ninep_conn *c = rq->c;
	const typeof(rq->m.u.write) *m = &rq->m.u.write;
	struct ninep_fid *f = fid_get(c, m->fid);
	if (!f)
		return -EBADF;
	pthread_mutex_lock(&f->mu);
	enum fid_kind kind = f->kind;
	bool ok = f->open && !f->dead && may_write(f->oflags);
	bool append = f->oflags & O_APPEND;
	uint64_t ino = f->ino;
	pthread_mutex_unlock(&f->mu);
	int r;
	if (kind == FID_XATTR_WRITE) {
		r = ninep_xattr_write(f, m->offset, m->data, m->count, w);
	} else if (kind != FID_PATH || !ok) {
		r = -EBADF;
	} else if (c->srv->read_only) {
		r = -EROFS;
	} else {
		struct fs_cred cr = ninep_cred(rq, f);
		uint64_t off = m->offset;
		struct fs_attr a;
		pthread_mutex_t *amu = &c->srv->append_mu[ino % NINEP_APPEND_STRIPES];
		r = 0;
		if (append) {
			/* O_APPEND: at the end, as pwrite(2) on Linux.  The size
			 * and the write under one lock, so appends through this
			 * server never overwrite each other (see the top). */
			pthread_mutex_lock(amu);
			if ((r = fs_getattr(c->srv->fs, ino, &a)) == 0)
				off = a.size;
		}
		size_t put = 0;
		if (r == 0)
			r = fs_write(c->srv->fs, &cr, ino, off, m->data, m->count, &put);
		if (append)
			pthread_mutex_unlock(amu);
		if (put > 0)
			r = 0;
		if (r == 0)
			p9_put_u32(w, (uint32_t)put);
	}
	fid_put(c, f);
	return r;
}

int proc_fsync(struct ninep_req *rq, struct p9_wr *w)
{
	uint64_t ino;
	struct ninep_fid *f = ninep_fid_file(rq, rq->m.u.fsync.fid, &ino);
	if (!f)
		return -EBADF;
	int r = fs_fsync(rq->c->srv->fs, ino, rq->m.u.fsync.datasync != 0);
	fid_put(rq->c, f);
	return r;
}
