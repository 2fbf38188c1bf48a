/* nfs3_proc.c -- the NFSv3 procedure table (RFC 1813 numbering) and the
 * NULL procedure.  Each procedure's decoder and exec function live in the
 * file of its kind (nfs3_attr.c, nfs3_lookup.c, nfs3_io.c, nfs3_create.c,
 * nfs3_remove.c, nfs3_readdir.c, nfs3_fsinfo.c). */
#include "nfs/nfs_int.h"

int nfs3_dec_null(struct xdr *x, union nfs_args *a)
{
	return 0;
}

void nfs3_exec_null(struct nfs_req *rq, const union nfs_args *a)
{
}

#define P(n, name) [n] = { #name, nfs3_dec_##name, nfs3_exec_##name }

const struct nfs_proc nfs3_procs[NFS3_PROCS] = {
	P(0, null),     P(1, getattr),  P(2, setattr),    P(3, lookup),   P(4, access),
	P(5, readlink), P(6, read),     P(7, write),      P(8, create),   P(9, mkdir),
	P(10, symlink), P(11, mknod),   P(12, remove),    P(13, rmdir),   P(14, rename),
	P(15, link),    P(16, readdir), P(17, readdirplus), P(18, fsstat), P(19, fsinfo),
	P(20, pathconf), P(21, commit),
};
