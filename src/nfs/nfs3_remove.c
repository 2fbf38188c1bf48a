/* nfs3_remove.c -- REMOVE, RMDIR, RENAME and LINK: names that go, move or
 * are added to an existing inode.  Replies carry the directories'
 * wcc_data (RENAME: both; LINK: the file's post-op attributes too). */
#include "nfs/nfs_int.h"

#include <errno.h>
#include <string.h>

/* wcc of dir from the core, or (it never got there) fetched now. */
static void put_dir_wcc(struct nfs_req *rq, const struct fs_wcc *w, uint64_t dir)
{
	nfs3_put_wcc_of(&rq->out, rq->srv, w, dir);
}

static int dirop(struct nfs_req *rq, const struct nfs_diropargs *d, uint64_t *dir, char *name)
{
	int r = nfs3_fh_inode(rq, &d->dir, dir, NULL);
	if (r == 0)
		r = nfs3_name(&d->name, name);
	if (r == 0 && nfs3_read_only(rq))
		r = -EROFS;
	return r;
}

int nfs3_dec_remove(struct xdr *x, union nfs_args *a)
{
	nfs_dec_diropargs(x, &a->dirop);
	return x->err ? -EBADMSG : 0;
}

void nfs3_exec_remove(struct nfs_req *rq, const union nfs_args *a)
{
	uint64_t dir;
	char name[FS_NAME_MAX + 1];
	struct fs_wcc_out wcc;
	memset(&wcc, 0, sizeof wcc);
	int r = dirop(rq, &a->dirop, &dir, name);
	if (r == 0)
		r = fs_unlink(rq->srv->fs, &rq->cred, dir, name, &wcc);
	r = nfs3_commit_meta(rq, r, dir, 0);
	xdr_put_u32(&rq->out, nfs3_status(r));
	put_dir_wcc(rq, &wcc.dir, dir);
}

int nfs3_dec_rmdir(struct xdr *x, union nfs_args *a)
{
	return nfs3_dec_remove(x, a);
}

void nfs3_exec_rmdir(struct nfs_req *rq, const union nfs_args *a)
{
	uint64_t dir;
	char name[FS_NAME_MAX + 1];
	struct fs_wcc_out wcc;
	memset(&wcc, 0, sizeof wcc);
	int r = dirop(rq, &a->dirop, &dir, name);
	if (r == 0 && (!strcmp(name, ".") || !strcmp(name, "..")))
		r = !strcmp(name, ".") ? -EINVAL : -ENOTEMPTY;
	if (r == 0)
		r = fs_rmdir(rq->srv->fs, &rq->cred, dir, name, &wcc);
	r = nfs3_commit_meta(rq, r, dir, 0);
	xdr_put_u32(&rq->out, nfs3_status(r));
	put_dir_wcc(rq, &wcc.dir, dir);
}

int nfs3_dec_rename(struct xdr *x, union nfs_args *a)
{
	nfs_dec_diropargs(x, &a->rename.from);
	nfs_dec_diropargs(x, &a->rename.to);
	return x->err ? -EBADMSG : 0;
}

void nfs3_exec_rename(struct nfs_req *rq, const union nfs_args *a)
{
	uint64_t from = 0, to = 0;
	char fname[FS_NAME_MAX + 1], tname[FS_NAME_MAX + 1];
	struct fs_wcc_out wcc;
	memset(&wcc, 0, sizeof wcc);
	int r = dirop(rq, &a->rename.from, &from, fname);
	if (r == 0)
		r = dirop(rq, &a->rename.to, &to, tname);
	if (r == 0 && (!strcmp(fname, ".") || !strcmp(fname, "..") || !strcmp(tname, ".") ||
		       !strcmp(tname, "..")))
		r = -EINVAL; /* as knfsd */
	if (r == 0)
		r = fs_rename(rq->srv->fs, &rq->cred, from, fname, to, tname, 0, &wcc);
	r = nfs3_commit_meta(rq, r, from, to);
	xdr_put_u32(&rq->out, nfs3_status(r));
	put_dir_wcc(rq, &wcc.dir, from);
	/* Into the same directory: the core reports it once, as dir. */
	put_dir_wcc(rq, (wcc.dir2.pre_valid || wcc.dir2.post_valid) ? &wcc.dir2 : &wcc.dir, to);
}

int nfs3_dec_link(struct xdr *x, union nfs_args *a)
{
	nfs_dec_fh(x, &a->link.fh);
	nfs_dec_diropargs(x, &a->link.to);
	return x->err ? -EBADMSG : 0;
}

void nfs3_exec_link(struct nfs_req *rq, const union nfs_args *a)
{
	uint64_t ino, dir = 0;
	char name[FS_NAME_MAX + 1];
	struct fs_attr at;
	struct fs_wcc_out wcc;
	memset(&wcc, 0, sizeof wcc);
	int r = nfs3_fh_inode(rq, &a->link.fh, &ino, NULL);
	if (r == 0)
		r = dirop(rq, &a->link.to, &dir, name);
	if (r == 0)
		r = fs_link(rq->srv->fs, &rq->cred, ino, dir, name, &at, &wcc);
	r = nfs3_commit_meta(rq, r, dir, ino);
	xdr_put_u32(&rq->out, nfs3_status(r));
	if (r == 0)
		nfs3_put_post_attr(&rq->out, rq->srv, &at);
	else
		nfs3_put_post_attr_ino(&rq->out, rq->srv, ino);
	put_dir_wcc(rq, &wcc.dir, dir);
}
