/* rename.c -- rename(2) with RENAME_NOREPLACE and RENAME_EXCHANGE.
 *
 * Up to four inodes change (two parents, the source, a replaced or
 * exchanged target) and all of it is one batch.  A directory moving to
 * another parent takes rename_mu first, so the walk that refuses to move
 * a directory into its own subtree sees a tree nobody else is moving. */
#include "fs/fs_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

struct rename_op {
	const struct fs_cred *c;
	uint64_t p1, p2;              /* old and new parent */
	const char *n1, *n2;
	unsigned flags;
	uint64_t src, dst;            /* dst 0: no target */
	uint64_t src_cookie, dst_cookie;
	struct inode *d1, *d2;        /* d2 == d1 when p1 == p2 */
	struct inode *sin, *din;      /* din NULL: no target */
	struct fs_op op;
};

/* Is `ino` the directory `anc` or below it? */
static int is_within(struct fs *fs, uint64_t ino, uint64_t anc)
{
	for (int depth = 0; depth < 4096; depth++) {
		if (ino == anc)
			return 1;
		if (ino == FS_ROOT_INO)
			return 0;
		struct inode in;
		int r = fs_inode_load(fs, ino, &in);
		if (r < 0)
			return r;
		ino = in.parent;
		fs_inode_free(&in);
		if (!ino)
			return 0;
	}
	return -ELOOP;
}

static int check(struct fs *fs, struct rename_op *o)
{
	const struct fs_cred *c = o->c;
	bool sdir = S_ISDIR(o->sin->mode);
	int r = fs_may(c, o->d1, W_OK | X_OK);
	if (r == 0)
		r = fs_may(c, o->d2, W_OK | X_OK);
	if (r < 0)
		return r;
	if (!fs_sticky_ok(c, o->d1, o->sin))
		return -EPERM;
	if (o->dst && !fs_sticky_ok(c, o->d2, o->din))
		return -EPERM;
	if (o->flags & RENAME_EXCHANGE) {
		if (!o->dst)
			return -ENOENT;
	} else if (o->dst) {
		if (o->flags & RENAME_NOREPLACE)
			return -EEXIST;
		bool ddir = S_ISDIR(o->din->mode);
		if (sdir && !ddir)
			return -ENOTDIR;
		if (!sdir && ddir)
			return -EISDIR;
		if (ddir) {
			r = fs_dir_empty(fs, o->dst);
			if (r < 0)
				return r;
			if (!r)
				return -ENOTEMPTY;
		}
	}
	/* A directory changing parent rewrites its "..": it needs write
	 * permission on itself, and must not go below itself. */
	if (o->p1 != o->p2) {
		if (sdir && (r = fs_may(c, o->sin, W_OK)) < 0)
			return r;
		if (o->dst && (o->flags & RENAME_EXCHANGE) && S_ISDIR(o->din->mode) &&
		    (r = fs_may(c, o->din, W_OK)) < 0)
			return r;
		if (sdir && (r = is_within(fs, o->p2, o->src)) != 0)
			return r < 0 ? r : -EINVAL;
		if ((o->flags & RENAME_EXCHANGE) && S_ISDIR(o->din->mode) &&
		    (r = is_within(fs, o->p1, o->dst)) != 0)
			return r < 0 ? r : -EINVAL;
	}
	return 0;
}

/* Move a directory's ".." from one parent to the other. */
static void reparent(struct inode *child, struct inode *from, struct inode *to)
{
	if (!S_ISDIR(child->mode) || from == to)
		return;
	from->nlink--;
	to->nlink++;
	child->parent = to->ino;
}

static int apply(struct fs *fs, struct rename_op *o)
{
	struct lsm_batch *b = fs_op_batch(&o->op);
	struct timespec now;
	int r = 0;
	fs_now(&now);
	fs_dir_del(b, o->p1, o->n1, o->src_cookie);
	if (o->dst)
		fs_dir_del(b, o->p2, o->n2, o->dst_cookie);
	fs_dir_add(b, o->d2, o->n2, o->src, o->sin->mode);
	reparent(o->sin, o->d1, o->d2);
	o->sin->ctime = now;
	if (o->flags & RENAME_EXCHANGE) {
		fs_dir_add(b, o->d1, o->n1, o->dst, o->din->mode);
		reparent(o->din, o->d2, o->d1);
		o->din->ctime = now;
		fs_op_dirty(&o->op, o->din);
	} else if (o->dst) {
		o->din->ctime = now;
		if (S_ISDIR(o->din->mode)) {
			o->d2->nlink--;
			o->din->nlink = 0;
		} else {
			o->din->nlink--;
		}
		if (o->din->nlink)
			fs_op_dirty(&o->op, o->din);
		else
			r = fs_drop_inode(&o->op, o->din);
	}
	o->d1->mtime = o->d1->ctime = now;
	o->d2->mtime = o->d2->ctime = now;
	fs_op_dirty(&o->op, o->sin);
	fs_op_dirty(&o->op, o->d1);
	fs_op_dirty(&o->op, o->d2);
	fs_op_entry(&o->op, o->p1, o->n1);
	fs_op_entry(&o->op, o->p2, o->n2);
	(void)fs;
	return r;
}

static int load_all(struct rename_op *o)
{
	int r = fs_op_load_dir(&o->op, o->p1, &o->d1);
	o->d2 = o->d1;
	if (r == 0 && o->p2 != o->p1)
		r = fs_op_load_dir(&o->op, o->p2, &o->d2);
	if (r == 0)
		r = fs_op_load(&o->op, o->src, &o->sin);
	if (r == 0 && o->dst)
		r = fs_op_load(&o->op, o->dst, &o->din);
	return r;
}

/* Find the entries, lock all four inodes, and make sure the entries did
 * not change while we were not holding the locks. */
static int lock_entries(struct fs *fs, struct rename_op *o)
{
	for (;;) {
		int r = fs_dir_get(fs, o->p1, o->n1, &o->src, NULL, &o->src_cookie);
		if (r < 0)
			return r;
		r = fs_dir_get(fs, o->p2, o->n2, &o->dst, NULL, &o->dst_cookie);
		if (r == -ENOENT)
			o->dst = 0;
		else if (r < 0)
			return r;
		fs_op_lock(&o->op, o->p1, o->p2, o->src, o->dst);
		uint64_t s2, d2 = 0;
		r = fs_dir_get(fs, o->p1, o->n1, &s2, NULL, &o->src_cookie);
		int r2 = fs_dir_get(fs, o->p2, o->n2, &d2, NULL, &o->dst_cookie);
		if (r2 == -ENOENT)
			d2 = 0;
		if (r == 0 && s2 == o->src && d2 == o->dst && (r2 == 0 || r2 == -ENOENT))
			return 0;
		fs_op_unlock(&o->op);
		if (r < 0)
			return r;
	}
}

static int check_args(const char *name, const char *newname, unsigned flags)
{
	if ((flags & ~(unsigned)(RENAME_NOREPLACE | RENAME_EXCHANGE)) ||
	    (flags & RENAME_NOREPLACE && flags & RENAME_EXCHANGE))
		return -EINVAL;
	int r = fs_check_name(name);
	if (r == 0)
		r = fs_check_name(newname);
	if (r == 0 && (!strcmp(name, ".") || !strcmp(name, "..") || !strcmp(newname, ".") ||
		       !strcmp(newname, "..")))
		r = -EBUSY;
	return r;
}

int fs_rename(struct fs *fs, const struct fs_cred *c, uint64_t parent, const char *name,
	      uint64_t newparent, const char *newname, unsigned flags, struct fs_wcc_out *wcc)
{
	struct rename_op o;
	memset(&o, 0, sizeof o);
	o.c = c;
	o.p1 = parent;
	o.p2 = newparent;
	o.n1 = name;
	o.n2 = newname;
	o.flags = flags;
	int r = fs_op_begin(fs, &o.op, FS_OP_RENAME, c, true);
	if (r == 0)
		r = check_args(name, newname, flags);
	if (r < 0)
		return fs_op_end(&o.op, r, NULL, 0, 0, 0);
	bool cross = parent != newparent;
	if (cross)
		pthread_mutex_lock(&fs->rename_mu);
	r = lock_entries(fs, &o);
	if (r == -ENOENT) {
		/* Say ENOTDIR/EACCES where that is the real reason. */
		struct inode p;
		if (fs_inode_load(fs, parent, &p) == 0) {
			if (!S_ISDIR(p.mode))
				r = -ENOTDIR;
			else if (fs_may(c, &p, X_OK))
				r = -EACCES;
			fs_inode_free(&p);
		}
	}
	if (r == 0)
		r = load_all(&o);
	bool same = r == 0 && o.src == o.dst; /* two names of one inode: nothing to do */
	if (r == 0 && !same)
		r = check(fs, &o);
	if (r == 0 && !same)
		r = apply(fs, &o);
	if (r == 0 && !same)
		r = fs_op_commit(&o.op);
	fs_op_unlock(&o.op);
	if (cross)
		pthread_mutex_unlock(&fs->rename_mu);
	return fs_op_end(&o.op, r, wcc, o.src, parent, cross ? newparent : 0);
}
