/* proc_fid.c -- the messages that make and drop fids: Tauth, Tattach,
 * Twalk, Tclunk, Tremove.
 *
 * Tattach: n_uname (the uid, as v9fs access=user sends it) wins over
 * uname (a user name).  aname "" or "/" is the root of the filesystem;
 * another path is walked from the root as that user and must be a
 * directory, which then is the fid's root: ".." never climbs above it.
 * Twalk: up to 16 names; the first name failing is an Rlerror, a later
 * one an Rwalk with the qids of the names that were found (and newfid is
 * not made), as walk(5) says.  newfid may be fid (the fid moves). */
#include "ninep/ninep_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/mem.h"

int proc_auth(struct ninep_req *rq, struct p9_wr *w)
{
	/* No authentication: diod's clients read ENOENT as "not required";
	 * the Linux client never sends Tauth. */
	return -ENOENT;
}

/* Walk aname's components from the root, as c. */
static int attach_root(struct fs *fs, const struct fs_cred *c, const char *aname,
		       struct fs_attr *a)
{
	int r = fs_getattr(fs, FS_ROOT_INO, a);
	if (r < 0)
		return r;
	char *path = xstrdup(aname), *save = NULL;
	for (char *n = strtok_r(path, "/", &save); n && r == 0; n = strtok_r(NULL, "/", &save)) {
		if (strlen(n) > FS_NAME_MAX)
			r = -ENAMETOOLONG;
		else if (!strcmp(n, ".."))
			r = -EINVAL;   /* no climbing out of the path asked */
		else
			r = fs_lookup(fs, c, a->ino, n, a);
	}
	free(path);
	if (r == 0 && !S_ISDIR(a->mode))
		r = -ENOTDIR;
	return r;
}

int proc_attach(struct ninep_req *rq, struct p9_wr *w)
{
	struct ninep_conn *c = rq->c;
	const typeof(rq->m.u.attach) *m = &rq->m.u.attach;
	if (m->afid != P9_NOFID)
		return -EBADF;   /* we never hand out auth fids */
	if (m->fid == P9_NOFID)
		return -EINVAL;  /* NOFID names no fid */
	if (strlen(m->aname.s) != m->aname.len || strlen(m->uname.s) != m->uname.len)
		return -EINVAL;
	uint32_t uid = m->n_uname;
	if (uid == P9_NONUNAME && ninep_uid_by_name(m->uname.s, &uid) < 0)
		return -EPERM;
	struct ninep_user *u = ninep_user_get(c->srv, uid);
	struct fs_cred cr = { u->uid, u->gid, u->ngroups, u->groups, c->srv->origin };
	struct fs_attr a;
	int r = attach_root(c->srv->fs, &cr, m->aname.s, &a);
	if (r < 0) {
		ninep_user_put(c->srv, u);
		return r;
	}
	struct ninep_fid *f = fid_alloc(m->fid, u, a.ino);
	fid_set_file(f, &a, 0, NULL);
	r = fid_insert(c, f);
	fid_put(c, f);
	if (r < 0)
		return r;
	struct p9_qid q;
	ninep_qid_of(&a, &q);
	p9_put_qid(w, &q);
	return 0;
}

int proc_walk(struct ninep_req *rq, struct p9_wr *w)
{
	struct ninep_conn *c = rq->c;
	const typeof(rq->m.u.walk) *m = &rq->m.u.walk;
	uint64_t ino;
	if (m->newfid == P9_NOFID)
		return -EINVAL;       /* as Tattach: NOFID names no fid */
	struct ninep_fid *f = ninep_fid_file(rq, m->fid, &ino);
	if (!f)
		return -EBADF;
	pthread_mutex_lock(&f->mu);
	bool busy = f->kind != FID_PATH;
	pthread_mutex_unlock(&f->mu);
	if (busy) {
		/* An xattr fid names no file to walk from.  (An open fid may be
		 * walked from, though walk(5) forbids it: diod's client library
		 * does it and diod serves it; moving it is refused below.) */
		fid_put(c, f);
		return -EBUSY;
	}
	struct fs_cred cr = ninep_cred(rq, f);
	struct fs_attr a;
	struct p9_qid qids[NINEP_MAXWELEM];
	uint64_t parent = 0;
	pthread_mutex_lock(&f->mu);
	parent = f->parent;
	char *name = f->name ? xstrdup(f->name) : NULL;
	pthread_mutex_unlock(&f->mu);
	unsigned n = 0;
	int r = 0;
	for (; n < m->nwname; n++) {
		const struct p9_str *wn = &m->wname[n];
		uint64_t at = ino;
		r = ninep_check_name(wn, true);
		if (r == 0 && !strcmp(wn->s, "..") && at == f->root_ino)
			r = fs_lookup(c->srv->fs, &cr, at, ".", &a);
		else if (r == 0)
			r = fs_lookup(c->srv->fs, &cr, at, wn->s, &a);
		if (r < 0)
			break;
		ninep_qid_of(&a, &qids[n]);
		ino = a.ino;
		free(name);
		name = NULL;
		parent = 0;
		if (strcmp(wn->s, ".") && strcmp(wn->s, "..")) {
			parent = at;
			name = xstrdup(wn->s);
		}
	}
	if (n == 0 && m->nwname > 0) {
		free(name);
		fid_put(c, f);
		return r;
	}
	if (n == m->nwname) {
		if (m->nwname == 0) {
			/* A clone: the same file, even one that lost its name. */
			pthread_mutex_lock(&f->mu);
			memset(&a, 0, sizeof a);
			a.ino = f->ino;
			a.generation = f->gen;
			a.mode = f->mode;
			pthread_mutex_unlock(&f->mu);
		}
		if (m->newfid == m->fid) {
			pthread_mutex_lock(&f->mu);
			if (f->open || f->kind != FID_PATH) {
				r = -EBUSY;
			} else {
				fid_set_file(f, &a, parent, name);
				r = 0;
			}
			pthread_mutex_unlock(&f->mu);
		} else {
			pthread_mutex_lock(&c->srv->users_mu);
			f->user->refs++;
			pthread_mutex_unlock(&c->srv->users_mu);
			struct ninep_fid *nf = fid_alloc(m->newfid, f->user, f->root_ino);
			fid_set_file(nf, &a, parent, name);
			r = fid_insert(c, nf);
			fid_put(c, nf);
		}
		if (r < 0) {
			free(name);
			fid_put(c, f);
			return r;
		}
	}
	free(name);
	fid_put(c, f);
	p9_put_u16(w, (uint16_t)n);
	for (unsigned i = 0; i < n; i++)
		p9_put_qid(w, &qids[i]);
	return 0;
}

int proc_clunk(struct ninep_req *rq, struct p9_wr *w)
{
	struct ninep_conn *c = rq->c;
	struct ninep_fid *f = fid_remove(c, rq->m.u.fid.fid);
	if (!f)
		return -EBADF;
	int r = 0;
	pthread_mutex_lock(&f->mu);
	f->dead = true;
	bool xw = f->kind == FID_XATTR_WRITE;
	pthread_mutex_unlock(&f->mu);
	if (xw)
		r = ninep_xattr_commit(rq, f);
	fid_put(c, f);
	return r;
}

/* Tremove: unlink the name the fid was reached by, then clunk it (also
 * when the remove fails, as remove(5) says). */
int proc_remove(struct ninep_req *rq, struct p9_wr *w)
{
	struct ninep_conn *c = rq->c;
	struct ninep_fid *f = fid_remove(c, rq->m.u.fid.fid);
	if (!f)
		return -EBADF;
	struct fs_cred cr = ninep_cred(rq, f);
	pthread_mutex_lock(&f->mu);
	uint64_t ino = f->ino, parent = f->parent;
	char *name = f->name ? xstrdup(f->name) : NULL;
	bool path = f->kind == FID_PATH;
	f->dead = true;
	pthread_mutex_unlock(&f->mu);
	int r;
	struct fs_attr a;
	if (c->srv->read_only)
		r = -EROFS;
	else if (!path)
		r = -EINVAL;
	else if (!name)
		r = ino == FS_ROOT_INO ? -EBUSY : -EINVAL;
	else if ((r = fs_lookup(c->srv->fs, &cr, parent, name, &a)) == 0 && a.ino != ino)
		r = -ENOENT;   /* the name now names another file */
	if (r == 0)
		r = S_ISDIR(a.mode) ? fs_rmdir(c->srv->fs, &cr, parent, name, NULL)
				    : fs_unlink(c->srv->fs, &cr, parent, name, NULL);
	free(name);
	fid_put(c, f);
	return r;
}
