/* nfs3_fsinfo.c -- FSSTAT, FSINFO and PATHCONF: what the filesystem is
 * and can do, truthfully (the Linux client sizes its I/O from FSINFO and
 * takes time_delta as the granularity of the times it compares). */
#include "nfs/nfs_int.h"

#include <errno.h>
#include <stdint.h>

#define FSF3_LINK 0x0001
#define FSF3_SYMLINK 0x0002
#define FSF3_HOMOGENEOUS 0x0008
#define FSF3_CANSETTIME 0x0010

/* The object's attributes (post_op_attr) or the error: 0 when it exists. */
static int head(struct nfs_req *rq, const struct nfs_fh *fh, struct fs_attr *at)
{
	uint64_t ino;
	int r = nfs3_fh_inode(rq, fh, &ino, at);
	xdr_put_u32(&rq->out, nfs3_status(r));
	nfs3_put_post_attr(&rq->out, rq->srv, r == 0 ? at : NULL);
	return r;
}

int nfs3_dec_fsstat(struct xdr *x, union nfs_args *a)
{
	return nfs_dec_fh_only(x, a);
}

void nfs3_exec_fsstat(struct nfs_req *rq, const union nfs_args *a)
{
	struct fs_attr at;
	struct fs_statfs st;
	uint64_t ino;
	int r = nfs3_fh_inode(rq, &a->fh, &ino, &at);
	if (r == 0)
		r = fs_statfs(rq->srv->fs, &st);
	xdr_put_u32(&rq->out, nfs3_status(r));
	nfs3_put_post_attr(&rq->out, rq->srv, ino ? &at : NULL);
	if (r < 0)
		return;
	xdr_put_u64(&rq->out, st.blocks * st.bsize);
	xdr_put_u64(&rq->out, st.bfree * st.bsize);
	xdr_put_u64(&rq->out, st.bavail * st.bsize);
	xdr_put_u64(&rq->out, st.files);
	xdr_put_u64(&rq->out, st.ffree);
	xdr_put_u64(&rq->out, st.ffree);
	xdr_put_u32(&rq->out, 0); /* invarsec: it changes at any time */
}

int nfs3_dec_fsinfo(struct xdr *x, union nfs_args *a)
{
	return nfs_dec_fh_only(x, a);
}

void nfs3_exec_fsinfo(struct nfs_req *rq, const union nfs_args *a)
{
	struct fs_attr at;
	if (head(rq, &a->fh, &at) < 0)
		return;
	struct buf *b = &rq->out;
	xdr_put_u32(b, NFS_MAXDATA); /* rtmax */
	xdr_put_u32(b, NFS_MAXDATA); /* rtpref */
	xdr_put_u32(b, 4096);        /* rtmult */
	xdr_put_u32(b, NFS_MAXDATA); /* wtmax */
	xdr_put_u32(b, NFS_MAXDATA); /* wtpref */
	xdr_put_u32(b, 4096);        /* wtmult */
	xdr_put_u32(b, 65536);       /* dtpref */
	xdr_put_u64(b, INT64_MAX);   /* maxfilesize: what a client's off_t holds */
	xdr_put_u32(b, 0);           /* time_delta: 1 ns */
	xdr_put_u32(b, 1);
	xdr_put_u32(b, FSF3_LINK | FSF3_SYMLINK | FSF3_HOMOGENEOUS | FSF3_CANSETTIME);
}

int nfs3_dec_pathconf(struct xdr *x, union nfs_args *a)
{
	return nfs_dec_fh_only(x, a);
}

void nfs3_exec_pathconf(struct nfs_req *rq, const union nfs_args *a)
{
	struct fs_attr at;
	if (head(rq, &a->fh, &at) < 0)
		return;
	struct buf *b = &rq->out;
	xdr_put_u32(b, FS_LINK_MAX);
	xdr_put_u32(b, FS_NAME_MAX);
	xdr_put_bool(b, true);  /* no_trunc: longer names are NAMETOOLONG */
	xdr_put_bool(b, true);  /* chown_restricted */
	xdr_put_bool(b, false); /* case_insensitive */
	xdr_put_bool(b, true);  /* case_preserving */
}
