/* nfs3_readdir.c -- READDIR and READDIRPLUS over the core's stable
 * cookies.
 *
 * The cookie verifier is fs_readdir_verifier (the directory's generation,
 * constant for its life): a resumed listing (cookie != 0) whose verifier
 * is neither the directory's nor 0 gets NFS3ERR_BAD_COOKIE.  Sizes: READDIR's count
 * and READDIRPLUS's maxcount bound the whole reply's XDR bytes;
 * READDIRPLUS's dircount bounds the bytes of the entries' names, ids and
 * cookies alone (RFC 1813).  An entry that does not fit is not consumed
 * (the core's callback stops before it), so eof is true only when the
 * directory really ended; a reply that fits no entry is NFS3ERR_TOOSMALL. */
#include "nfs/nfs_int.h"

#include <errno.h>
#include <string.h>

/* status, post_op_attr (with attributes), cookieverf, list end, eof */
#define DIR_REPLY_FIXED (4 + 4 + NFS3_FATTR_BYTES + 8 + 4 + 4)
/* Our own cap on a listing, whatever the client asks. */
#define DIR_REPLY_MAX (NFS_MAXDATA)
/* Outcomes of our own, beside the core's -errno values. */
#define ERR_BAD_COOKIE 10003
#define ERR_TOOSMALL 10005

struct listing {
	struct nfs_req *rq;
	size_t limit;        /* bytes the entries may take */
	size_t dirlimit;     /* READDIRPLUS dircount budget (0: none) */
	size_t used, dirused;
	unsigned entries;
	bool full;           /* stopped for want of room */
	bool plus;
	const struct fs_attr *self; /* the export's root being listed: its ".."
				       is itself, as LOOKUP says (NULL: not) */
};

static size_t entry_bytes(size_t namelen)
{
	/* value follows, fileid, name, cookie */
	return 4 + 8 + 4 + namelen + xdr_pad(namelen) + 8;
}

/* Room for one more entry of extra bytes (dirbytes of dircount)? */
static bool fits(struct listing *l, size_t extra, size_t dirbytes)
{
	if (l->used + extra > l->limit || (l->dirlimit && l->dirused + dirbytes > l->dirlimit)) {
		l->full = true;
		return false;
	}
	l->used += extra;
	l->dirused += dirbytes;
	l->entries++;
	return true;
}

static void put_entry_head(struct buf *b, const char *name, uint64_t ino)
{
	xdr_put_bool(b, true);
	xdr_put_u64(b, ino);
	xdr_put_opaque(b, name, strlen(name));
}

static int on_entry(void *arg, const char *name, uint64_t ino, uint32_t type,
		    uint64_t next_cookie)
{
	struct listing *l = arg;
	if (!fits(l, entry_bytes(strlen(name)), 0))
		return 1;
	if (l->self && !strcmp(name, ".."))
		ino = l->self->ino;
	put_entry_head(&l->rq->out, name, ino);
	xdr_put_u64(&l->rq->out, next_cookie);
	return 0;
}

static int on_entry_plus(void *arg, const char *name, const struct fs_attr *a,
			 uint64_t next_cookie)
{
	struct listing *l = arg;
	size_t dirbytes = entry_bytes(strlen(name));
	if (!fits(l, dirbytes + 4 + NFS3_FATTR_BYTES + NFS3_POST_OP_FH_BYTES, dirbytes))
		return 1;
	struct buf *b = &l->rq->out;
	if (l->self && !strcmp(name, ".."))
		a = l->self; /* never a handle out of the export */
	put_entry_head(b, name, a->ino);
	xdr_put_u64(b, next_cookie);
	nfs3_put_post_attr(b, l->rq->srv, a);
	nfs3_put_post_fh(b, l->rq->srv, a);
	return 0;
}

static int dec_common(struct xdr *x, union nfs_args *a, bool plus)
{
	nfs_dec_fh(x, &a->readdir.fh);
	a->readdir.cookie = xdr_u64(x);
	a->readdir.verf = xdr_u64(x); /* cookieverf3: 8 opaque bytes, ours big-endian */
	a->readdir.dircount = plus ? xdr_u32(x) : 0;
	a->readdir.maxcount = xdr_u32(x);
	return x->err ? -EBADMSG : 0;
}

int nfs3_dec_readdir(struct xdr *x, union nfs_args *a)
{
	return dec_common(x, a, false);
}

int nfs3_dec_readdirplus(struct xdr *x, union nfs_args *a)
{
	return dec_common(x, a, true);
}

static void exec_common(struct nfs_req *rq, const union nfs_args *a, bool plus)
{
	struct nfs_server *s = rq->srv;
	uint64_t ino, verf = 0;
	struct fs_attr at;
	int r = nfs3_fh_inode(rq, &a->readdir.fh, &ino, &at);
	if (r == 0)
		r = fs_readdir_verifier(s->fs, ino, &verf);
	/* A zero verifier with a cookie is what the Linux client sends after
	 * it dropped its cache of a directory that changed under a listing
	 * (rm -rf of a big directory does it): our cookies never change
	 * meaning, so it resumes fine.  Only another verifier is refused. */
	if (r == 0 && a->readdir.cookie != 0 && a->readdir.verf != 0 && a->readdir.verf != verf)
		r = -ERR_BAD_COOKIE;
	size_t max = a->readdir.maxcount < DIR_REPLY_MAX ? a->readdir.maxcount : DIR_REPLY_MAX;
	if (r == 0 && max <= DIR_REPLY_FIXED)
		r = -ERR_TOOSMALL;
	if (r < 0) {
		xdr_put_u32(&rq->out, r == -ERR_BAD_COOKIE ? NFS3ERR_BAD_COOKIE
				     : r == -ERR_TOOSMALL ? NFS3ERR_TOOSMALL
							    : nfs3_status(r));
		nfs3_put_post_attr(&rq->out, s, ino ? &at : NULL);
		return;
	}
	size_t start = rq->out.len;
	xdr_put_u32(&rq->out, NFS3_OK);
	nfs3_put_post_attr(&rq->out, s, &at);
	xdr_put_u64(&rq->out, verf);
	struct listing l = {
		.rq = rq, .limit = max - DIR_REPLY_FIXED, .plus = plus,
		.dirlimit = plus ? a->readdir.dircount : 0, /* 0: no bound of its own */
		.self = ino == s->export_ino ? &at : NULL,
	};
	r = plus ? fs_readdirplus(s->fs, &rq->cred, ino, a->readdir.cookie, on_entry_plus, &l)
		 : fs_readdir(s->fs, &rq->cred, ino, a->readdir.cookie, on_entry, &l);
	if (r > 0)
		r = 0; /* our callback stopped it */
	if (r == 0 && l.full && !l.entries)
		r = -ERR_TOOSMALL;
	if (r < 0) {
		rq->out.len = start;
		xdr_put_u32(&rq->out, r == -ERR_TOOSMALL ? NFS3ERR_TOOSMALL : nfs3_status(r));
		nfs3_put_post_attr(&rq->out, s, &at);
		return;
	}
	xdr_put_bool(&rq->out, false); /* no more entries in this reply */
	xdr_put_bool(&rq->out, !l.full);
}

void nfs3_exec_readdir(struct nfs_req *rq, const union nfs_args *a)
{
	exec_common(rq, a, false);
}

void nfs3_exec_readdirplus(struct nfs_req *rq, const union nfs_args *a)
{
	exec_common(rq, a, true);
}
