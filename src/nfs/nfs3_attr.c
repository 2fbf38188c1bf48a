/* nfs3_attr.c -- what every NFSv3 procedure shares: errno -> nfsstat3,
 * fattr3 / post_op_attr / wcc_data encoding, handle and name decoding,
 * sattr3; and the procedures on attributes: GETATTR and SETATTR.
 *
 * Attributes come from the core unchanged: fileid = inode number, fsid =
 * fs_fsid, times in nanoseconds.  The Linux client trusts wcc_data to
 * keep its cache: pre-op size/mtime/ctime are what the core saw before
 * the change, under the same inode lock as the change itself. */
#include "nfs/nfs_int.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

enum nfsstat3 nfs3_status(int err)
{
	switch (err) {
	case 0: return NFS3_OK;
	case -EPERM: return NFS3ERR_PERM;
	case -ENOENT: return NFS3ERR_NOENT;
	case -ENXIO: return NFS3ERR_NXIO;
	case -EACCES: return NFS3ERR_ACCES;
	case -EEXIST: return NFS3ERR_EXIST;
	case -EXDEV: return NFS3ERR_XDEV;
	case -ENODEV: return NFS3ERR_NODEV;
	case -ENOTDIR: return NFS3ERR_NOTDIR;
	case -EISDIR: return NFS3ERR_ISDIR;
	case -EINVAL: return NFS3ERR_INVAL;
	case -EFBIG: return NFS3ERR_FBIG;
	case -ENOSPC: return NFS3ERR_NOSPC;
	case -EROFS: return NFS3ERR_ROFS;
	case -EMLINK: return NFS3ERR_MLINK;
	case -ENAMETOOLONG: return NFS3ERR_NAMETOOLONG;
	case -ENOTEMPTY: return NFS3ERR_NOTEMPTY;
	case -EDQUOT: return NFS3ERR_DQUOT;
	case -ESTALE: return NFS3ERR_STALE;
	case -EBADF: return NFS3ERR_BADHANDLE;
	/* A transient condition: the client retries later.  NOT_SYNC is
	 * SETATTR's guard only (RFC 1813 3.3.2), mapped there. */
	case -EAGAIN: return NFS3ERR_JUKEBOX;
	case -ENOTSUP: return NFS3ERR_NOTSUPP; /* == -EOPNOTSUPP on Linux */
	case -ENOSYS: return NFS3ERR_NOTSUPP;
	case -ELOOP: return NFS3ERR_INVAL;
	case -EOVERFLOW: return NFS3ERR_FBIG;
	case -ETIMEDOUT: return NFS3ERR_JUKEBOX; /* the store is slow: retry later */
	case -ENOMEM: return NFS3ERR_SERVERFAULT;
	default: return NFS3ERR_IO;
	}
}

/* ---- encoders ---- */

static uint32_t ftype3(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG: return 1;
	case S_IFDIR: return 2;
	case S_IFBLK: return 3;
	case S_IFCHR: return 4;
	case S_IFLNK: return 5;
	case S_IFSOCK: return 6;
	case S_IFIFO: return 7;
	default: return 1;
	}
}

static void put_time(struct buf *b, struct timespec t)
{
	xdr_put_u32(b, (uint32_t)t.tv_sec);
	xdr_put_u32(b, (uint32_t)t.tv_nsec);
}

void nfs3_put_fattr(struct buf *b, const struct nfs_server *s, const struct fs_attr *a)
{
	xdr_put_u32(b, ftype3(a->mode));
	xdr_put_u32(b, a->mode & 07777);
	xdr_put_u32(b, a->nlink);
	xdr_put_u32(b, a->uid);
	xdr_put_u32(b, a->gid);
	xdr_put_u64(b, a->size);
	xdr_put_u64(b, a->blocks * 512);
	xdr_put_u32(b, major(a->rdev));
	xdr_put_u32(b, minor(a->rdev));
	xdr_put_u64(b, s->handles.fsid);
	xdr_put_u64(b, a->ino);
	put_time(b, a->atime);
	put_time(b, a->mtime);
	put_time(b, a->ctime);
}

void nfs3_put_post_attr(struct buf *b, const struct nfs_server *s, const struct fs_attr *a)
{
	xdr_put_bool(b, a != NULL);
	if (a)
		nfs3_put_fattr(b, s, a);
}

void nfs3_put_post_attr_ino(struct buf *b, const struct nfs_server *s, uint64_t ino)
{
	struct fs_attr a;
	nfs3_put_post_attr(b, s, ino && fs_getattr(s->fs, ino, &a) == 0 ? &a : NULL);
}

void nfs3_put_wcc(struct buf *b, const struct nfs_server *s, const struct fs_wcc *w)
{
	xdr_put_bool(b, w->pre_valid);
	if (w->pre_valid) {
		xdr_put_u64(b, w->pre_size);
		put_time(b, w->pre_mtime);
		put_time(b, w->pre_ctime);
	}
	nfs3_put_post_attr(b, s, w->post_valid ? &w->post : NULL);
}

void nfs3_put_wcc_ino(struct buf *b, const struct nfs_server *s, uint64_t ino)
{
	struct fs_wcc w;
	memset(&w, 0, sizeof w);
	if (ino && fs_getattr(s->fs, ino, &w.post) == 0) {
		/* nothing was changed: before is after */
		w.post_valid = w.pre_valid = true;
		w.pre_size = w.post.size;
		w.pre_mtime = w.post.mtime;
		w.pre_ctime = w.post.ctime;
	}
	nfs3_put_wcc(b, s, &w);
}

void nfs3_put_wcc_of(struct buf *b, const struct nfs_server *s, const struct fs_wcc *w,
		     uint64_t ino)
{
	if (!w->post_valid) {
		nfs3_put_wcc_ino(b, s, ino);
		return;
	}
	struct fs_wcc full = *w;
	if (!full.pre_valid) { /* a failed operation: post = pre */
		full.pre_valid = true;
		full.pre_size = full.post.size;
		full.pre_mtime = full.post.mtime;
		full.pre_ctime = full.post.ctime;
	}
	nfs3_put_wcc(b, s, &full);
}

void nfs3_put_fh(struct buf *b, const struct nfs_fh *fh)
{
	xdr_put_opaque(b, fh->data, fh->len);
}

void nfs3_put_post_fh(struct buf *b, const struct nfs_server *s, const struct fs_attr *a)
{
	xdr_put_bool(b, a != NULL);
	if (a) {
		struct nfs_fh fh;
		nfs_handle_make(&s->handles, a->ino, a->generation, &fh);
		nfs3_put_fh(b, &fh);
	}
}

/* ---- decoders ---- */

void nfs_dec_fh(struct xdr *x, struct nfs_fh *fh)
{
	const uint8_t *p = xdr_opaque(x, NFS_FH_MAX, &fh->len);
	if (p)
		memcpy(fh->data, p, fh->len);
}

void nfs_dec_name(struct xdr *x, struct nfs_name *n)
{
	n->p = (const char *)xdr_opaque(x, NFS_NAME_WIRE_MAX, &n->len);
}

void nfs_dec_diropargs(struct xdr *x, struct nfs_diropargs *d)
{
	nfs_dec_fh(x, &d->dir);
	nfs_dec_name(x, &d->name);
}

static void dec_time(struct xdr *x, struct timespec *t)
{
	t->tv_sec = xdr_u32(x);
	t->tv_nsec = xdr_u32(x);
	if (t->tv_nsec >= 1000000000)
		x->err = true;
}

/* set_atime / set_mtime: DONT_CHANGE, SET_TO_SERVER_TIME, SET_TO_CLIENT_TIME. */
static void dec_set_time(struct xdr *x, struct nfs_sattr *sa, unsigned now, unsigned given,
			 struct timespec *t)
{
	switch (xdr_u32(x)) {
	case 0: break;
	case 1: sa->set |= now; break;
	case 2: sa->set |= given; dec_time(x, t); break;
	default: x->err = true;
	}
}

void nfs_dec_sattr(struct xdr *x, struct nfs_sattr *sa)
{
	memset(sa, 0, sizeof *sa);
	if (xdr_bool(x)) {
		sa->set |= FS_SET_MODE;
		sa->mode = xdr_u32(x) & 07777;
	}
	if (xdr_bool(x)) {
		sa->set |= FS_SET_UID;
		sa->uid = xdr_u32(x);
	}
	if (xdr_bool(x)) {
		sa->set |= FS_SET_GID;
		sa->gid = xdr_u32(x);
	}
	if (xdr_bool(x)) {
		sa->set |= FS_SET_SIZE;
		sa->size = xdr_u64(x);
	}
	dec_set_time(x, sa, FS_SET_ATIME_NOW, FS_SET_ATIME, &sa->atime);
	dec_set_time(x, sa, FS_SET_MTIME_NOW, FS_SET_MTIME, &sa->mtime);
}

int nfs_dec_fh_only(struct xdr *x, union nfs_args *a)
{
	nfs_dec_fh(x, &a->fh);
	return x->err ? -EBADMSG : 0;
}

/* ---- helpers of the procedures ---- */

int nfs3_fh_inode(struct nfs_req *rq, const struct nfs_fh *fh, uint64_t *ino,
		  struct fs_attr *attr)
{
	uint64_t gen;
	struct fs_attr tmp;
	int r = nfs_handle_parse(&rq->srv->handles, fh, ino, &gen);
	if (r == 0)
		r = fs_getattr_handle(rq->srv->fs, *ino, gen, attr ? attr : &tmp);
	if (r < 0)
		*ino = 0;
	return r;
}

int nfs3_name(const struct nfs_name *n, char *buf)
{
	if (n->len == 0)
		return -ENOENT;
	if (n->len > FS_NAME_MAX)
		return -ENAMETOOLONG;
	if (memchr(n->p, '\0', n->len) || memchr(n->p, '/', n->len))
		return -EACCES;
	memcpy(buf, n->p, n->len);
	buf[n->len] = '\0';
	return 0;
}

bool nfs3_read_only(const struct nfs_req *rq)
{
	return rq->srv->read_only;
}

int nfs3_commit_meta(struct nfs_req *rq, int r, uint64_t a, uint64_t b)
{
	if (r < 0 || rq->srv->async)
		return r;
	/* Either commit covers everything committed before it (one barrier,
	 * shared with concurrent ones); the second is then free. */
	if (a)
		r = fs_commit(rq->srv->fs, a, 0, 0);
	if (r == 0 && b && b != a)
		r = fs_commit(rq->srv->fs, b, 0, 0);
	return r;
}

void nfs3_setattr_from(const struct nfs_sattr *sa, struct fs_setattr *out)
{
	memset(out, 0, sizeof *out);
	out->valid = sa->set;
	out->mode = sa->mode;
	out->uid = sa->uid;
	out->gid = sa->gid;
	out->size = sa->size;
	out->atime = sa->atime;
	out->mtime = sa->mtime;
}

/* ---- GETATTR, SETATTR ---- */

int nfs3_dec_getattr(struct xdr *x, union nfs_args *a)
{
	return nfs_dec_fh_only(x, a);
}

void nfs3_exec_getattr(struct nfs_req *rq, const union nfs_args *a)
{
	uint64_t ino;
	struct fs_attr at;
	int r = nfs3_fh_inode(rq, &a->fh, &ino, &at);
	xdr_put_u32(&rq->out, nfs3_status(r));
	if (r == 0)
		nfs3_put_fattr(&rq->out, rq->srv, &at);
}

int nfs3_dec_setattr(struct xdr *x, union nfs_args *a)
{
	nfs_dec_fh(x, &a->setattr.fh);
	nfs_dec_sattr(x, &a->setattr.sa);
	a->setattr.guard = xdr_bool(x);
	if (a->setattr.guard)
		dec_time(x, &a->setattr.guard_ctime);
	return x->err ? -EBADMSG : 0;
}

void nfs3_exec_setattr(struct nfs_req *rq, const union nfs_args *a)
{
	uint64_t ino;
	struct fs_wcc_out wcc;
	memset(&wcc, 0, sizeof wcc);
	int r = nfs3_fh_inode(rq, &a->setattr.fh, &ino, NULL);
	if (r == 0 && nfs3_read_only(rq))
		r = -EROFS;
	if (r == 0) {
		struct fs_setattr sa;
		struct fs_attr out;
		nfs3_setattr_from(&a->setattr.sa, &sa);
		/* knfsd: the owner may truncate a file it owns whatever its mode */
		sa.valid |= FS_SET_OWNER_OVERRIDE;
		if (a->setattr.guard) {
			sa.valid |= FS_SET_GUARD_CTIME;
			sa.guard_ctime = a->setattr.guard_ctime;
		}
		r = fs_setattr(rq->srv->fs, &rq->cred, ino, &sa, &out, &wcc);
		r = nfs3_commit_meta(rq, r, ino, 0);
	}
	/* The core says -EAGAIN for a guard whose ctime is not the file's. */
	xdr_put_u32(&rq->out, r == -EAGAIN && a->setattr.guard ? NFS3ERR_NOT_SYNC
							      : nfs3_status(r));
	nfs3_put_wcc_of(&rq->out, rq->srv, &wcc.obj, ino);
}
