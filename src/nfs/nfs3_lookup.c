/* nfs3_lookup.c -- LOOKUP, ACCESS and READLINK: the procedures that read
 * names and permissions.  Every reply carries post-op attributes of the
 * directory or object it looked at, also on failure. */
#include "nfs/nfs_int.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ACCESS3 bits */
#define ACCESS3_READ 0x01
#define ACCESS3_LOOKUP 0x02
#define ACCESS3_MODIFY 0x04
#define ACCESS3_EXTEND 0x08
#define ACCESS3_DELETE 0x10
#define ACCESS3_EXECUTE 0x20

int nfs3_dec_lookup(struct xdr *x, union nfs_args *a)
{
	nfs_dec_diropargs(x, &a->dirop);
	return x->err ? -EBADMSG : 0;
}

void nfs3_exec_lookup(struct nfs_req *rq, const union nfs_args *a)
{
	const struct nfs_server *s = rq->srv;
	uint64_t dir;
	char name[FS_NAME_MAX + 1];
	struct fs_attr at;
	int r = nfs3_fh_inode(rq, &a->dirop.dir, &dir, NULL);
	if (r == 0)
		r = nfs3_name(&a->dirop.name, name);
	/* ".." of the export's root stays at the root, as knfsd does */
	if (r == 0 && dir == s->export_ino && !strcmp(name, ".."))
		r = fs_getattr(s->fs, dir, &at);
	else if (r == 0)
		r = fs_lookup(s->fs, &rq->cred, dir, name, &at);
	xdr_put_u32(&rq->out, nfs3_status(r));
	if (r == 0) {
		struct nfs_fh fh;
		nfs_handle_make(&s->handles, at.ino, at.generation, &fh);
		nfs3_put_fh(&rq->out, &fh);
		nfs3_put_post_attr(&rq->out, s, &at);
	}
	nfs3_put_post_attr_ino(&rq->out, s, dir);
}

int nfs3_dec_access(struct xdr *x, union nfs_args *a)
{
	nfs_dec_fh(x, &a->access.fh);
	a->access.mask = xdr_u32(x);
	return x->err ? -EBADMSG : 0;
}

/* The bits of want that the caller holds: each asked as the core would
 * check the operation it stands for. */
static uint32_t access_bits(struct nfs_req *rq, const struct fs_attr *at, uint32_t want)
{
	struct fs *fs = rq->srv->fs;
	bool dir = S_ISDIR(at->mode);
	uint32_t got = 0;
	bool r = fs_access(fs, &rq->cred, at->ino, R_OK) == 0;
	bool w = fs_access(fs, &rq->cred, at->ino, W_OK) == 0 && !nfs3_read_only(rq);
	bool x = fs_access(fs, &rq->cred, at->ino, X_OK) == 0;
	if (r)
		got |= ACCESS3_READ;
	if (w)
		got |= ACCESS3_MODIFY | ACCESS3_EXTEND;
	if (dir) {
		if (x)
			got |= ACCESS3_LOOKUP;
		if (w && x)
			got |= ACCESS3_DELETE;
	} else if (x) {
		got |= ACCESS3_EXECUTE;
	}
	if (dir && !(w && x))
		got &= ~(uint32_t)(ACCESS3_MODIFY | ACCESS3_EXTEND);
	return got & want;
}

void nfs3_exec_access(struct nfs_req *rq, const union nfs_args *a)
{
	uint64_t ino;
	struct fs_attr at;
	int r = nfs3_fh_inode(rq, &a->access.fh, &ino, &at);
	xdr_put_u32(&rq->out, nfs3_status(r));
	nfs3_put_post_attr(&rq->out, rq->srv, r == 0 ? &at : NULL);
	if (r == 0)
		xdr_put_u32(&rq->out, access_bits(rq, &at, a->access.mask));
}

int nfs3_dec_readlink(struct xdr *x, union nfs_args *a)
{
	return nfs_dec_fh_only(x, a);
}

void nfs3_exec_readlink(struct nfs_req *rq, const union nfs_args *a)
{
	uint64_t ino;
	struct fs_attr at;
	char target[FS_SYMLINK_MAX + 1];
	size_t len = 0;
	int r = nfs3_fh_inode(rq, &a->fh, &ino, &at);
	if (r == 0 && !S_ISLNK(at.mode))
		r = -EINVAL;
	if (r == 0)
		r = fs_readlink(rq->srv->fs, ino, target, sizeof target, &len);
	xdr_put_u32(&rq->out, nfs3_status(r));
	nfs3_put_post_attr(&rq->out, rq->srv, ino ? &at : NULL);
	if (r == 0)
		xdr_put_opaque(&rq->out, target, len);
}
