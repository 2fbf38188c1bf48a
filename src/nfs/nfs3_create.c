/* nfs3_create.c -- CREATE (UNCHECKED, GUARDED, EXCLUSIVE), MKDIR,
 * SYMLINK and MKNOD: new names.  Each replies with the new object's
 * handle and attributes and the directory's wcc_data.
 *
 * EXCLUSIVE goes to fs_create with the client's 8-byte verifier, which
 * the core keeps in atime/mtime as Linux does until the client's
 * following SETATTR sets the real attributes: a retransmitted CREATE with
 * the same verifier finds its own file and succeeds. */
#include "nfs/nfs_int.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#define CREATE_UNCHECKED 0
#define CREATE_GUARDED 1
#define CREATE_EXCLUSIVE 2

/* The reply shared by the four: obj is the new inode (NULL on failure). */
static void put_diropres(struct nfs_req *rq, int r, const struct fs_attr *obj,
			 const struct fs_wcc_out *wcc, uint64_t dir)
{
	const struct nfs_server *s = rq->srv;
	xdr_put_u32(&rq->out, nfs3_status(r));
	if (r == 0) {
		nfs3_put_post_fh(&rq->out, s, obj);
		nfs3_put_post_attr(&rq->out, s, obj);
	}
	nfs3_put_wcc_of(&rq->out, s, &wcc->dir, dir);
}

/* Resolve the directory and name; read-only exports stop here. */
static int where(struct nfs_req *rq, const struct nfs_diropargs *d, uint64_t *dir, char *name)
{
	int r = nfs3_fh_inode(rq, &d->dir, dir, NULL);
	if (r == 0)
		r = nfs3_name(&d->name, name);
	if (r == 0 && nfs3_read_only(rq))
		r = -EROFS;
	return r;
}

/* What sattr asks beyond the mode given at creation (owner, size, times). */
static int apply_rest(struct nfs_req *rq, const struct nfs_sattr *sa, struct fs_attr *obj)
{
	struct fs_setattr set;
	nfs3_setattr_from(sa, &set);
	set.valid &= ~(unsigned)FS_SET_MODE;
	if (!set.valid)
		return 0;
	set.valid |= FS_SET_OWNER_OVERRIDE;
	return fs_setattr(rq->srv->fs, &rq->cred, obj->ino, &set, obj, NULL);
}

int nfs3_dec_create(struct xdr *x, union nfs_args *a)
{
	nfs_dec_diropargs(x, &a->create.where);
	a->create.how = xdr_u32(x);
	switch (a->create.how) {
	case CREATE_UNCHECKED:
	case CREATE_GUARDED:
		nfs_dec_sattr(x, &a->create.sa);
		break;
	case CREATE_EXCLUSIVE: {
		const uint8_t *v = xdr_fixed(x, 8);
		if (v)
			memcpy(a->create.verf, v, 8);
		break;
	}
	default:
		return -EBADMSG;
	}
	return x->err ? -EBADMSG : 0;
}

void nfs3_exec_create(struct nfs_req *rq, const union nfs_args *a)
{
	uint64_t dir;
	char name[FS_NAME_MAX + 1];
	struct fs_attr obj;
	struct fs_wcc_out wcc;
	memset(&wcc, 0, sizeof wcc);
	int r = where(rq, &a->create.where, &dir, name);
	if (r == 0) {
		const struct nfs_sattr *sa = &a->create.sa;
		bool excl = a->create.how == CREATE_EXCLUSIVE;
		uint32_t mode = excl ? 0600 : (sa->set & FS_SET_MODE) ? sa->mode : 0644;
		bool created = false;
		r = fs_create(rq->srv->fs, &rq->cred, dir, name, S_IFREG | mode,
			      O_CREAT | O_EXCL | O_RDWR | FS_CREATE_NOOPEN,
			      excl ? a->create.verf : NULL, &obj, &created, &wcc);
		/* UNCHECKED on an existing file: that file, with sattr applied
		 * (knfsd checks no open permission: the client does) */
		if (r == -EEXIST && a->create.how == CREATE_UNCHECKED) {
			r = fs_lookup(rq->srv->fs, &rq->cred, dir, name, &obj);
			if (r == 0 && !S_ISREG(obj.mode))
				r = S_ISDIR(obj.mode) ? -EISDIR : -EEXIST;
		}
		if (r == 0 && !excl)
			r = apply_rest(rq, sa, &obj);
	}
	r = nfs3_commit_meta(rq, r, dir, r == 0 ? obj.ino : 0);
	put_diropres(rq, r, &obj, &wcc, dir);
}

int nfs3_dec_mkdir(struct xdr *x, union nfs_args *a)
{
	nfs_dec_diropargs(x, &a->mkdir.where);
	nfs_dec_sattr(x, &a->mkdir.sa);
	return x->err ? -EBADMSG : 0;
}

void nfs3_exec_mkdir(struct nfs_req *rq, const union nfs_args *a)
{
	uint64_t dir;
	char name[FS_NAME_MAX + 1];
	struct fs_attr obj;
	struct fs_wcc_out wcc;
	memset(&wcc, 0, sizeof wcc);
	const struct nfs_sattr *sa = &a->mkdir.sa;
	int r = where(rq, &a->mkdir.where, &dir, name);
	if (r == 0)
		r = fs_mkdir(rq->srv->fs, &rq->cred, dir, name,
			     (sa->set & FS_SET_MODE) ? sa->mode : 0755, &obj, &wcc);
	if (r == 0)
		r = apply_rest(rq, sa, &obj);
	r = nfs3_commit_meta(rq, r, dir, r == 0 ? obj.ino : 0);
	put_diropres(rq, r, &obj, &wcc, dir);
}

int nfs3_dec_symlink(struct xdr *x, union nfs_args *a)
{
	nfs_dec_diropargs(x, &a->symlink.where);
	nfs_dec_sattr(x, &a->symlink.sa);
	a->symlink.target.p =
		(const char *)xdr_opaque(x, NFS_PATH_WIRE_MAX, &a->symlink.target.len);
	return x->err ? -EBADMSG : 0;
}

void nfs3_exec_symlink(struct nfs_req *rq, const union nfs_args *a)
{
	uint64_t dir;
	char name[FS_NAME_MAX + 1];
	char target[NFS_PATH_WIRE_MAX + 1];
	struct fs_attr obj;
	struct fs_wcc_out wcc;
	memset(&wcc, 0, sizeof wcc);
	const struct nfs_name *t = &a->symlink.target;
	int r = where(rq, &a->symlink.where, &dir, name);
	if (r == 0 && t->len > FS_SYMLINK_MAX)
		r = -ENAMETOOLONG;
	else if (r == 0 && (t->len == 0 || memchr(t->p, '\0', t->len)))
		r = -EINVAL;
	if (r == 0) {
		memcpy(target, t->p, t->len);
		target[t->len] = '\0';
		r = fs_symlink(rq->srv->fs, &rq->cred, dir, name, target, &obj, &wcc);
	}
	if (r == 0) {
		struct nfs_sattr rest = a->symlink.sa;
		rest.set &= ~(unsigned)(FS_SET_SIZE); /* a symlink's size is its target's */
		r = apply_rest(rq, &rest, &obj);
	}
	r = nfs3_commit_meta(rq, r, dir, r == 0 ? obj.ino : 0);
	put_diropres(rq, r, &obj, &wcc, dir);
}

/* ftype3 */
#define NF3CHR 4
#define NF3BLK 3
#define NF3SOCK 6
#define NF3FIFO 7

int nfs3_dec_mknod(struct xdr *x, union nfs_args *a)
{
	nfs_dec_diropargs(x, &a->mknod.where);
	a->mknod.type = xdr_u32(x);
	switch (a->mknod.type) {
	case NF3CHR:
	case NF3BLK:
		nfs_dec_sattr(x, &a->mknod.sa);
		a->mknod.major = xdr_u32(x);
		a->mknod.minor = xdr_u32(x);
		break;
	case NF3SOCK:
	case NF3FIFO:
		nfs_dec_sattr(x, &a->mknod.sa);
		break;
	default:
		break; /* NF3REG, NF3DIR, NF3LNK or garbage: NFS3ERR_BADTYPE */
	}
	return x->err ? -EBADMSG : 0;
}

void nfs3_exec_mknod(struct nfs_req *rq, const union nfs_args *a)
{
	uint64_t dir;
	char name[FS_NAME_MAX + 1];
	struct fs_attr obj;
	struct fs_wcc_out wcc;
	memset(&wcc, 0, sizeof wcc);
	const struct nfs_sattr *sa = &a->mknod.sa;
	uint32_t type;
	switch (a->mknod.type) {
	case NF3CHR: type = S_IFCHR; break;
	case NF3BLK: type = S_IFBLK; break;
	case NF3SOCK: type = S_IFSOCK; break;
	case NF3FIFO: type = S_IFIFO; break;
	default: type = 0;
	}
	int r = where(rq, &a->mknod.where, &dir, name);
	if (r == 0 && !type) {
		xdr_put_u32(&rq->out, NFS3ERR_BADTYPE);
		nfs3_put_wcc_ino(&rq->out, rq->srv, dir);
		return;
	}
	if (r == 0)
		r = fs_mknod(rq->srv->fs, &rq->cred, dir, name,
			     type | ((sa->set & FS_SET_MODE) ? sa->mode : 0644),
			     makedev(a->mknod.major, a->mknod.minor), &obj, &wcc);
	if (r == 0)
		r = apply_rest(rq, sa, &obj);
	r = nfs3_commit_meta(rq, r, dir, r == 0 ? obj.ino : 0);
	put_diropres(rq, r, &obj, &wcc, dir);
}
