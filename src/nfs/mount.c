/* mount.c -- the MOUNT protocol, version 3 (RFC 1813 appendix I), on the
 * NFS port: MNT hands out the export's root handle (or a directory below
 * it), EXPORT lists the one export, DUMP is empty (we keep no mount list:
 * it would be state that a stateless server need not keep), UMNT and
 * UMNTALL succeed. */
#include "nfs/nfs_int.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

enum mountstat3 {
	MNT3_OK = 0, MNT3ERR_PERM = 1, MNT3ERR_NOENT = 2, MNT3ERR_IO = 5, MNT3ERR_ACCES = 13,
	MNT3ERR_NOTDIR = 20, MNT3ERR_INVAL = 22, MNT3ERR_NAMETOOLONG = 63,
	MNT3ERR_NOTSUPP = 10004, MNT3ERR_SERVERFAULT = 10006,
};

static int dec_none(struct xdr *x, union nfs_args *a)
{
	return 0;
}

static int dec_dirpath(struct xdr *x, union nfs_args *a)
{
	const uint8_t *p = xdr_opaque(x, NFS_PATH_WIRE_MAX, &a->dirpath.len);
	a->dirpath.p = (const char *)p;
	return x->err ? -EBADMSG : 0;
}

static void exec_none(struct nfs_req *rq, const union nfs_args *a)
{
}

static enum mountstat3 mount_status(int r)
{
	switch (r) {
	case -EPERM: return MNT3ERR_PERM;
	case -ENOENT: return MNT3ERR_NOENT;
	case -EACCES: return MNT3ERR_ACCES;
	case -ENOTDIR: return MNT3ERR_NOTDIR;
	case -EINVAL: return MNT3ERR_INVAL;
	case -ENAMETOOLONG: return MNT3ERR_NAMETOOLONG;
	default: return MNT3ERR_IO;
	}
}

/* The path must be the export or lie below it; the rest is looked up
 * with the caller's credentials. */
static int resolve(struct nfs_req *rq, const struct nfs_name *path, struct fs_attr *a)
{
	const struct nfs_server *s = rq->srv;
	const char *p = path->p, *end = path->p + path->len;
	if (memchr(p, '\0', path->len))
		return -EINVAL;
	/* match the export's components */
	const char *e = s->export_path;
	for (;;) {
		while (*e == '/')
			e++;
		while (p < end && *p == '/')
			p++;
		if (!*e)
			break;
		size_t en = strcspn(e, "/");
		size_t pn = 0;
		while (p + pn < end && p[pn] != '/')
			pn++;
		if (en != pn || memcmp(e, p, en))
			return -ENOENT;
		e += en;
		p += pn;
	}
	int r = fs_getattr_handle(s->fs, s->export_ino, s->export_gen, a);
	while (r == 0 && p < end) {
		size_t n = 0;
		while (p + n < end && p[n] != '/')
			n++;
		struct nfs_name comp = { p, (uint32_t)n };
		char name[FS_NAME_MAX + 1];
		if (n) {
			r = nfs3_name(&comp, name);
			if (r == 0 && (!strcmp(name, ".") || !strcmp(name, "..")))
				r = -EACCES; /* never climb out of the export */
			if (r == 0)
				r = fs_lookup(s->fs, &rq->cred, a->ino, name, a);
		}
		p += n;
		while (p < end && *p == '/')
			p++;
	}
	if (r == 0 && !S_ISDIR(a->mode))
		r = -ENOTDIR;
	return r;
}

static void exec_mnt(struct nfs_req *rq, const union nfs_args *a)
{
	struct fs_attr at;
	int r = resolve(rq, &a->dirpath, &at);
	if (r < 0) {
		xdr_put_u32(&rq->out, mount_status(r));
		return;
	}
	struct nfs_fh fh;
	nfs_handle_make(&rq->srv->handles, at.ino, at.generation, &fh);
	xdr_put_u32(&rq->out, MNT3_OK);
	xdr_put_opaque(&rq->out, fh.data, fh.len);
	xdr_put_u32(&rq->out, 2); /* auth flavours */
	xdr_put_u32(&rq->out, RPC_AUTH_SYS);
	xdr_put_u32(&rq->out, RPC_AUTH_NONE);
}

static void exec_dump(struct nfs_req *rq, const union nfs_args *a)
{
	xdr_put_bool(&rq->out, false); /* no mount list */
}

static void exec_export(struct nfs_req *rq, const union nfs_args *a)
{
	const char *path = rq->srv->export_path;
	xdr_put_bool(&rq->out, true);
	xdr_put_opaque(&rq->out, path, strlen(path));
	xdr_put_bool(&rq->out, false); /* no group list: see the allowed clients */
	xdr_put_bool(&rq->out, false);
}

const struct nfs_proc mount3_procs[MOUNT3_PROCS] = {
	{ "MOUNT NULL", dec_none, exec_none },
	{ "MNT", dec_dirpath, exec_mnt },
	{ "DUMP", dec_none, exec_dump },
	{ "UMNT", dec_dirpath, exec_none },
	{ "UMNTALL", dec_none, exec_none },
	{ "EXPORT", dec_none, exec_export },
};
