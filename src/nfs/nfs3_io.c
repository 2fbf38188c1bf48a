/* nfs3_io.c -- READ, WRITE and COMMIT: stateless file I/O (fs_read_as /
 * fs_write_as check the caller on every call, with knfsd's owner
 * override), and durability.
 *
 * WRITE's stability: UNSTABLE replies once the core has the data (it is
 * visible to every reader, durable at the next barrier); DATA_SYNC and
 * FILE_SYNC run fs_commit before replying, which makes data and metadata
 * durable alike, so both reply committed = FILE_SYNC.  The write
 * verifier (fs_write_verifier) changes at every start of the daemon, so a
 * client whose UNSTABLE writes a crash lost sees another verifier in the
 * COMMIT reply and sends them again. */
#include "nfs/nfs_int.h"

#include <errno.h>
#include <string.h>

#include "util/mem.h"

#define STABLE_UNSTABLE 0
#define STABLE_DATA_SYNC 1
#define STABLE_FILE_SYNC 2

int nfs3_dec_read(struct xdr *x, union nfs_args *a)
{
	nfs_dec_fh(x, &a->read.fh);
	a->read.off = xdr_u64(x);
	a->read.count = xdr_u32(x);
	return x->err ? -EBADMSG : 0;
}

/* status, post_op_attr with attributes, count, eof, data length */
#define READ_HDR (4 + 4 + NFS3_FATTR_BYTES + 4 + 4 + 4)

void nfs3_exec_read(struct nfs_req *rq, const union nfs_args *a)
{
	const struct nfs_server *s = rq->srv;
	uint64_t ino;
	struct fs_attr at;
	int r = nfs3_fh_inode(rq, &a->read.fh, &ino, &at);
	if (r < 0) {
		xdr_put_u32(&rq->out, nfs3_status(r));
		nfs3_put_post_attr(&rq->out, s, NULL);
		return;
	}
	/* The data goes straight into the reply, behind room for the header. */
	size_t count = a->read.count < NFS_MAXDATA ? a->read.count : NFS_MAXDATA;
	/* No room for bytes past the end as the size was just now: a file
	 * that grew since gives a short read (eof false), and the client
	 * reads on. */
	uint64_t left = a->read.off < at.size ? at.size - a->read.off : 0;
	if (count > left)
		count = (size_t)left;
	size_t off = rq->out.len, got = 0;
	bool eof = false;
	/* Exactly that much: buf_reserve would double up to 2 MiB for 1 MiB
	 * of data, twice what the connection's budget counts for the reply. */
	size_t need = off + READ_HDR + count + 3;
	if (rq->out.cap < need) {
		rq->out.data = xrealloc(rq->out.data, need);
		rq->out.cap = need;
	}
	r = fs_read_as(s->fs, &rq->cred, ino, a->read.off, rq->out.data + off + READ_HDR, count,
		       &got, &eof);
	struct fs_attr post;
	if (fs_getattr(s->fs, ino, &post) == 0)
		at = post;
	if (r < 0) {
		xdr_put_u32(&rq->out, nfs3_status(r));
		nfs3_put_post_attr(&rq->out, s, &at);
		return;
	}
	struct buf hdr = BUF_INIT;
	xdr_put_u32(&hdr, NFS3_OK);
	nfs3_put_post_attr(&hdr, s, &at);
	xdr_put_u32(&hdr, (uint32_t)got);
	xdr_put_bool(&hdr, eof);
	xdr_put_u32(&hdr, (uint32_t)got);
	memcpy(rq->out.data + off, hdr.data, READ_HDR);
	buf_free(&hdr);
	rq->out.len = off + READ_HDR + got;
	static const uint8_t zero[4];
	buf_append(&rq->out, zero, xdr_pad(got));
}

int nfs3_dec_write(struct xdr *x, union nfs_args *a)
{
	nfs_dec_fh(x, &a->write.fh);
	a->write.off = xdr_u64(x);
	a->write.count = xdr_u32(x);
	a->write.stable = xdr_u32(x);
	a->write.data = xdr_opaque(x, NFS_MAXDATA, &a->write.len);
	if (a->write.stable > STABLE_FILE_SYNC || a->write.count > a->write.len)
		return -EBADMSG;
	return x->err ? -EBADMSG : 0;
}

void nfs3_exec_write(struct nfs_req *rq, const union nfs_args *a)
{
	const struct nfs_server *s = rq->srv;
	uint64_t ino;
	size_t put = 0;
	struct fs_wcc_out wcc;
	memset(&wcc, 0, sizeof wcc);
	int r = nfs3_fh_inode(rq, &a->write.fh, &ino, NULL);
	if (r == 0 && nfs3_read_only(rq))
		r = -EROFS;
	if (r == 0)
		r = fs_write_as(s->fs, &rq->cred, ino, a->write.off, a->write.data, a->write.count,
				&put, &wcc);
	uint32_t committed = STABLE_UNSTABLE;
	if (r == 0 && a->write.stable != STABLE_UNSTABLE) {
		r = fs_commit(s->fs, ino, a->write.off, a->write.count);
		committed = STABLE_FILE_SYNC;
	}
	xdr_put_u32(&rq->out, nfs3_status(r));
	nfs3_put_wcc_of(&rq->out, s, &wcc.obj, ino);
	if (r == 0) {
		uint8_t verf[8];
		fs_write_verifier(s->fs, verf);
		xdr_put_u32(&rq->out, (uint32_t)put);
		xdr_put_u32(&rq->out, committed);
		xdr_put_fixed(&rq->out, verf, 8);
	}
}

int nfs3_dec_commit(struct xdr *x, union nfs_args *a)
{
	return nfs3_dec_read(x, a);
}

void nfs3_exec_commit(struct nfs_req *rq, const union nfs_args *a)
{
	const struct nfs_server *s = rq->srv;
	uint64_t ino;
	struct fs_attr pre;
	int r = nfs3_fh_inode(rq, &a->read.fh, &ino, &pre);
	if (r == 0)
		r = fs_commit(s->fs, ino, a->read.off, a->read.count);
	xdr_put_u32(&rq->out, nfs3_status(r));
	/* A commit changes no attribute: pre-op and post-op are the same. */
	struct fs_wcc w;
	memset(&w, 0, sizeof w);
	if (ino && fs_getattr(s->fs, ino, &w.post) == 0) {
		w.post_valid = true;
		if (r == 0) {
			w.pre_valid = true;
			w.pre_size = pre.size;
			w.pre_mtime = pre.mtime;
			w.pre_ctime = pre.ctime;
		}
	}
	nfs3_put_wcc(&rq->out, s, &w);
	if (r == 0) {
		uint8_t verf[8];
		fs_write_verifier(s->fs, verf);
		xdr_put_fixed(&rq->out, verf, 8);
	}
}
