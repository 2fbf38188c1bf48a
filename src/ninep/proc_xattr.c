/* proc_xattr.c -- extended attributes: Txattrwalk (a new fid holding a
 * value, or with the empty name the list of names, to Tread), and
 * Txattrcreate (the fid turns into one that takes the value by Twrite;
 * Tclunk sets it in the core).  A Txattrcreate of size 0 with
 * XATTR_REPLACE is how Linux sends removexattr(2).  ACL names
 * (system.posix_acl_*) go to the core like any other, which answers
 * EOPNOTSUPP for them today.
 *
 * Memory: a value is at most FS_XATTR_VALUE_MAX, a name list at most
 * NINEP_XATTR_LIST_MAX, and the values and lists held by one
 * connection's xattr fids (read or being written) at most
 * NINEP_XATTR_CONN_MAX bytes together (ENOSPC past that). */
#include "ninep/ninep_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#include "util/mem.h"

#define NINEP_XATTR_LIST_MAX (1u << 20)
#define NINEP_XATTR_CONN_MAX (16u << 20)

/* The value (name "") or the name list of ino into a new buffer. */
static int xattr_load(struct fs *fs, const struct fs_cred *cr, uint64_t ino, const char *name,
		      uint8_t **out, size_t *outlen)
{
	for (int tries = 0; tries < 3; tries++) {
		size_t len = 0;
		int r = *name ? fs_getxattr(fs, cr, ino, name, NULL, 0, &len)
			      : fs_listxattr(fs, cr, ino, NULL, 0, &len);
		if (r < 0)
			return r;
		if (len > (*name ? FS_XATTR_VALUE_MAX : NINEP_XATTR_LIST_MAX))
			return -E2BIG;
		uint8_t *b = xmalloc(len ? len : 1);
		size_t got = 0;
		r = *name ? fs_getxattr(fs, cr, ino, name, b, len, &got)
			  : fs_listxattr(fs, cr, ino, (char *)b, len, &got);
		if (r == -ERANGE) {   /* it grew in between */
			free(b);
			continue;
		}
		if (r < 0) {
			free(b);
			return r;
		}
		*out = b;
		*outlen = got;
		return 0;
	}
	return -ERANGE;
}

int proc_xattrwalk(struct ninep_req *rq, struct p9_wr *w)
{
	struct ninep_conn *c = rq->c;
	const typeof(rq->m.u.xattrwalk) *m = &rq->m.u.xattrwalk;
	if (strlen(m->name.s) != m->name.len)
		return -EINVAL;
	if (m->name.len > FS_XATTR_NAME_MAX)
		return -ERANGE;
	if (m->newfid == m->fid)
		return -EINVAL;
	uint64_t ino;
	struct ninep_fid *f = ninep_fid_file(rq, m->fid, &ino);
	if (!f)
		return -EBADF;
	struct fs_cred cr = ninep_cred(rq, f);
	uint8_t *val = NULL;
	size_t len = 0;
	int r = xattr_load(c->srv->fs, &cr, ino, m->name.s, &val, &len);
	if (r == 0) {
		pthread_mutex_lock(&c->mu);
		if (c->xattr_bytes + len > NINEP_XATTR_CONN_MAX)
			r = -ENOSPC;
		else
			c->xattr_bytes += len;
		pthread_mutex_unlock(&c->mu);
		if (r < 0)
			free(val);
	}
	if (r < 0) {
		fid_put(c, f);
		return r;
	}
	pthread_mutex_lock(&c->srv->users_mu);
	f->user->refs++;
	pthread_mutex_unlock(&c->srv->users_mu);
	struct ninep_fid *nf = fid_alloc(m->newfid, f->user, f->root_ino);
	pthread_mutex_lock(&f->mu);
	nf->ino = f->ino;
	nf->gen = f->gen;
	nf->mode = f->mode;
	pthread_mutex_unlock(&f->mu);
	nf->kind = FID_XATTR_READ;
	nf->xbuf = val;
	nf->xsize = len;
	r = fid_insert(c, nf);
	fid_put(c, nf);
	fid_put(c, f);
	if (r < 0)
		return r;
	p9_put_u64(w, len);
	return 0;
}

int proc_xattrcreate(struct ninep_req *rq, struct p9_wr *w)
{
	struct ninep_conn *c = rq->c;
	const typeof(rq->m.u.xattrcreate) *m = &rq->m.u.xattrcreate;
	if (strlen(m->name.s) != m->name.len || m->name.len == 0)
		return -EINVAL;
	if (m->name.len > FS_XATTR_NAME_MAX)
		return -ERANGE;
	if (m->flags & ~(uint32_t)(XATTR_CREATE | XATTR_REPLACE))
		return -EINVAL;
	if (m->size > FS_XATTR_VALUE_MAX)
		return -E2BIG;
	uint64_t ino;
	struct ninep_fid *f = ninep_fid_file(rq, m->fid, &ino);
	if (!f)
		return -EBADF;
	int r = 0;
	pthread_mutex_lock(&c->mu);
	if (c->xattr_bytes + m->size > NINEP_XATTR_CONN_MAX)
		r = -ENOSPC;
	else
		c->xattr_bytes += m->size;
	pthread_mutex_unlock(&c->mu);
	if (r == 0) {
		pthread_mutex_lock(&f->mu);
		if (f->open || f->kind != FID_PATH || f->dead) {
			r = -EBADF;
		} else {
			f->kind = FID_XATTR_WRITE;
			f->xname = xstrdup(m->name.s);
			f->xsize = m->size;
			f->xbuf = xcalloc(1, m->size ? m->size : 1);
			f->xlen = 0;
			f->xflags = (int)m->flags;
		}
		pthread_mutex_unlock(&f->mu);
		if (r < 0) {
			pthread_mutex_lock(&c->mu);
			c->xattr_bytes -= m->size;
			pthread_mutex_unlock(&c->mu);
		}
	}
	fid_put(c, f);
	return r;
}

int ninep_xattr_read(struct ninep_fid *f, uint64_t off, uint32_t count, struct p9_wr *w)
{
	pthread_mutex_lock(&f->mu);
	size_t n = 0;
	if (off < f->xsize)
		n = f->xsize - off < count ? f->xsize - (size_t)off : count;
	p9_put_u32(w, (uint32_t)n);
	uint8_t *p = p9_put_room(w, n);
	if (p && n)
		memcpy(p, f->xbuf + off, n);
	pthread_mutex_unlock(&f->mu);
	return p || !n ? 0 : -EIO;
}

int ninep_xattr_write(struct ninep_fid *f, uint64_t off, const uint8_t *data, uint32_t count,
		      struct p9_wr *w)
{
	int r = 0;
	pthread_mutex_lock(&f->mu);
	if (f->dead)
		r = -EBADF;
	else if (off > f->xsize || count > f->xsize - off)
		r = -ENOSPC;   /* past the size Txattrcreate declared */
	else {
		memcpy(f->xbuf + off, data, count);
		if (off + count > f->xlen)
			f->xlen = (size_t)off + count;
	}
	pthread_mutex_unlock(&f->mu);
	if (r == 0)
		p9_put_u32(w, count);
	return r;
}

int ninep_xattr_commit(struct ninep_req *rq, struct ninep_fid *f)
{
	struct ninep_conn *c = rq->c;
	struct fs_cred cr = ninep_cred(rq, f);
	pthread_mutex_lock(&f->mu);
	int r;
	if (f->xlen != f->xsize)
		r = -EINVAL;   /* fewer bytes written than declared */
	else if (f->xsize == 0 && (f->xflags & XATTR_REPLACE))
		r = fs_removexattr(c->srv->fs, &cr, f->ino, f->xname, NULL);
	else
		r = fs_setxattr(c->srv->fs, &cr, f->ino, f->xname, f->xbuf, f->xsize, f->xflags,
				NULL);
	pthread_mutex_unlock(&f->mu);
	return r;
}
