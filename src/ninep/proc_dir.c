/* proc_dir.c -- directories and names: Treaddir, Tmkdir, Tmknod,
 * Tsymlink, Treadlink, Tlink, Trename, Trenameat, Tunlinkat.
 *
 * Treaddir offsets are the core's readdir cookies (stable while the
 * directory changes; 0 = the start), each entry carrying the cookie to
 * resume after it; only whole entries that fit count (and msize) are
 * sent.  The creating messages carry the creator's gid, which becomes the
 * caller's gid for that call (the client computed it, setgid directories
 * included). */
#include "ninep/ninep_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "util/mem.h"

struct dirfill {
	struct p9_wr *w;
	size_t end;              /* w->len may not pass it */
};

static int dirent_put(void *arg, const char *name, const struct fs_attr *a, uint64_t next)
{
	struct dirfill *d = arg;
	size_t nlen = strlen(name);
	if (d->w->len + 13 + 8 + 1 + 2 + nlen > d->end)
		return 1;   /* not consumed: the next call starts here */
	struct p9_qid q;
	ninep_qid_of(a, &q);
	p9_put_qid(d->w, &q);
	p9_put_u64(d->w, next);
	p9_put_u8(d->w, (uint8_t)((a->mode & S_IFMT) >> 12));
	p9_put_str(d->w, name, nlen);
	return 0;
}

int proc_readdir(struct ninep_req *rq, struct p9_wr *w)
{
	struct ninep_conn *c = rq->c;
	const typeof(rq->m.u.read) *m = &rq->m.u.read;
	uint64_t ino;
	struct ninep_fid *f = ninep_fid_file(rq, m->fid, &ino);
	if (!f)
		return -EBADF;
	pthread_mutex_lock(&f->mu);
	bool open = f->open;
	pthread_mutex_unlock(&f->mu);
	struct fs_cred cr = ninep_cred(rq, f);
	uint32_t count = m->count;
	if (count > c->msize - P9_IOHDR)
		count = c->msize - P9_IOHDR;
	int r = -EBADF;
	if (open) {
		size_t hdr = w->len;
		p9_put_u32(w, 0);
		struct dirfill d = { w, w->len + count };
		if (d.end > w->cap)
			d.end = w->cap;
		r = fs_readdirplus(c->srv->fs, &cr, ino, m->offset, dirent_put, &d);
		if (r == 0) {
			size_t end = w->len;
			w->len = hdr;
			p9_put_u32(w, (uint32_t)(end - hdr - 4));
			w->len = end;
		}
	}
	fid_put(c, f);
	return r;
}

/* The directory fid's inode and the caller's credentials with gid. */
static struct ninep_fid *dir_fid(struct ninep_req *rq, uint32_t fid, uint32_t gid,
				 uint64_t *dir, struct fs_cred *cr)
{
	struct ninep_fid *f = ninep_fid_file(rq, fid, dir);
	if (f) {
		*cr = ninep_cred(rq, f);
		cr->gid = gid;
	}
	return f;
}

static int reply_qid(struct p9_wr *w, int r, const struct fs_attr *a)
{
	if (r < 0)
		return r;
	struct p9_qid q;
	ninep_qid_of(a, &q);
	p9_put_qid(w, &q);
	return 0;
}

int proc_mkdir(struct ninep_req *rq, struct p9_wr *w)
{
	const typeof(rq->m.u.mkdir) *m = &rq->m.u.mkdir;
	int r = ninep_check_name(&m->name, true);
	if (r < 0)
		return r;
	uint64_t dir;
	struct fs_cred cr;
	struct ninep_fid *f = dir_fid(rq, m->dfid, m->gid, &dir, &cr);
	if (!f)
		return -EBADF;
	struct fs_attr a;
	r = fs_mkdir(rq->c->srv->fs, &cr, dir, m->name.s, m->mode & 07777, &a, NULL);
	fid_put(rq->c, f);
	return reply_qid(w, r, &a);
}

int proc_mknod(struct ninep_req *rq, struct p9_wr *w)
{
	const typeof(rq->m.u.mknod) *m = &rq->m.u.mknod;
	int r = ninep_check_name(&m->name, true);
	if (r < 0)
		return r;
	uint32_t type = m->mode & S_IFMT;
	if (type == 0)
		type = S_IFREG;
	if (type != S_IFREG && type != S_IFIFO && type != S_IFCHR && type != S_IFBLK &&
	    type != S_IFSOCK)
		return -EINVAL;
	uint64_t dir;
	struct fs_cred cr;
	struct ninep_fid *f = dir_fid(rq, m->dfid, m->gid, &dir, &cr);
	if (!f)
		return -EBADF;
	struct fs_attr a;
	uint64_t rdev = (type == S_IFCHR || type == S_IFBLK) ? makedev(m->major, m->minor) : 0;
	r = fs_mknod(rq->c->srv->fs, &cr, dir, m->name.s, type | (m->mode & 07777), rdev, &a, NULL);
	fid_put(rq->c, f);
	return reply_qid(w, r, &a);
}

int proc_symlink(struct ninep_req *rq, struct p9_wr *w)
{
	const typeof(rq->m.u.symlink) *m = &rq->m.u.symlink;
	int r = ninep_check_name(&m->name, true);
	if (r < 0)
		return r;
	if (strlen(m->symtgt.s) != m->symtgt.len || m->symtgt.len == 0)
		return m->symtgt.len ? -EINVAL : -ENOENT;
	if (m->symtgt.len > FS_SYMLINK_MAX)
		return -ENAMETOOLONG;
	uint64_t dir;
	struct fs_cred cr;
	struct ninep_fid *f = dir_fid(rq, m->fid, m->gid, &dir, &cr);
	if (!f)
		return -EBADF;
	struct fs_attr a;
	r = fs_symlink(rq->c->srv->fs, &cr, dir, m->name.s, m->symtgt.s, &a, NULL);
	fid_put(rq->c, f);
	return reply_qid(w, r, &a);
}

int proc_readlink(struct ninep_req *rq, struct p9_wr *w)
{
	uint64_t ino;
	struct ninep_fid *f = ninep_fid_file(rq, rq->m.u.fid.fid, &ino);
	if (!f)
		return -EBADF;
	char buf[FS_SYMLINK_MAX];
	size_t len = 0;
	int r = fs_readlink(rq->c->srv->fs, ino, buf, sizeof buf, &len);
	fid_put(rq->c, f);
	if (r < 0)
		return r;
	if (w->len + 2 + len > w->cap)
		return -ENAMETOOLONG;   /* msize smaller than the target */
	p9_put_str(w, buf, len);
	return 0;
}

int proc_link(struct ninep_req *rq, struct p9_wr *w)
{
	const typeof(rq->m.u.link) *m = &rq->m.u.link;
	int r = ninep_check_name(&m->name, true);
	if (r < 0)
		return r;
	uint64_t dir, ino;
	struct ninep_fid *d = ninep_fid_file(rq, m->dfid, &dir);
	if (!d)
		return -EBADF;
	struct ninep_fid *f = ninep_fid_file(rq, m->fid, &ino);
	if (!f) {
		fid_put(rq->c, d);
		return -EBADF;
	}
	struct fs_cred cr = ninep_cred(rq, d);
	r = fs_link(rq->c->srv->fs, &cr, ino, dir, m->name.s, NULL, NULL);
	fid_put(rq->c, f);
	fid_put(rq->c, d);
	return r;
}

static int rename_names(struct ninep_req *rq, uint64_t olddir, const char *oldname,
			uint32_t newdirfid, const char *newname, const struct fs_cred *cr)
{
	uint64_t newdir;
	struct ninep_fid *nd = ninep_fid_file(rq, newdirfid, &newdir);
	if (!nd)
		return -EBADF;
	int r = fs_rename(rq->c->srv->fs, cr, olddir, oldname, newdir, newname, 0, NULL);
	fid_put(rq->c, nd);
	return r;
}

/* Trename: the fid's own name (from its walk) moves to dfid/name. */
int proc_rename(struct ninep_req *rq, struct p9_wr *w)
{
	const typeof(rq->m.u.rename) *m = &rq->m.u.rename;
	int r = ninep_check_name(&m->name, true);
	if (r < 0)
		return r;
	uint64_t ino;
	struct ninep_fid *f = ninep_fid_file(rq, m->fid, &ino);
	if (!f)
		return -EBADF;
	pthread_mutex_lock(&f->mu);
	uint64_t parent = f->parent;
	char *name = f->name ? xstrdup(f->name) : NULL;
	pthread_mutex_unlock(&f->mu);
	struct fs_cred cr = ninep_cred(rq, f);
	struct fs_attr a;
	if (!name)
		r = -EINVAL;
	else if ((r = fs_lookup(rq->c->srv->fs, &cr, parent, name, &a)) == 0 && a.ino != ino)
		r = -ENOENT;
	if (r == 0)
		r = rename_names(rq, parent, name, m->dfid, m->name.s, &cr);
	if (r == 0) {
		uint64_t newdir;
		struct ninep_fid *nd = ninep_fid_file(rq, m->dfid, &newdir);
		pthread_mutex_lock(&f->mu);
		if (nd) {
			f->parent = newdir;
			free(f->name);
			f->name = xstrdup(m->name.s);
		}
		pthread_mutex_unlock(&f->mu);
		fid_put(rq->c, nd);
	}
	free(name);
	fid_put(rq->c, f);
	return r;
}

int proc_renameat(struct ninep_req *rq, struct p9_wr *w)
{
	const typeof(rq->m.u.renameat) *m = &rq->m.u.renameat;
	int r = ninep_check_name(&m->oldname, true);
	if (r == 0)
		r = ninep_check_name(&m->newname, true);
	if (r < 0)
		return r;
	uint64_t olddir;
	struct ninep_fid *od = ninep_fid_file(rq, m->olddirfid, &olddir);
	if (!od)
		return -EBADF;
	struct fs_cred cr = ninep_cred(rq, od);
	r = rename_names(rq, olddir, m->oldname.s, m->newdirfid, m->newname.s, &cr);
	fid_put(rq->c, od);
	return r;
}

int proc_unlinkat(struct ninep_req *rq, struct p9_wr *w)
{
	const typeof(rq->m.u.unlinkat) *m = &rq->m.u.unlinkat;
	int r = ninep_check_name(&m->name, true);
	if (r < 0)
		return r;
	if (m->flags & ~P9_AT_REMOVEDIR)
		return -EINVAL;
	uint64_t dir;
	struct ninep_fid *d = ninep_fid_file(rq, m->dirfid, &dir);
	if (!d)
		return -EBADF;
	struct fs_cred cr = ninep_cred(rq, d);
	r = (m->flags & P9_AT_REMOVEDIR) ? fs_rmdir(rq->c->srv->fs, &cr, dir, m->name.s, NULL)
					 : fs_unlink(rq->c->srv->fs, &cr, dir, m->name.s, NULL);
	fid_put(rq->c, d);
	return r;
}
