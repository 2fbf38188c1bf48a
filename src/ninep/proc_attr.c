/* proc_attr.c -- attributes: Tgetattr, Tsetattr, Tstatfs.
 *
 * Rgetattr fills every field whatever the request mask asks (valid says
 * so): btime is 0 and not marked valid (the core keeps none), gen is the
 * inode's generation, data_version its change counter.  Tsetattr maps
 * each valid bit onto the core's: a time bit without its _SET bit means
 * "now"; CTIME alone asks for a ctime update, which every core setattr
 * makes.  Truncating through a fid opened for writing is allowed to the
 * file's owner whatever the mode says now (ftruncate on a file created
 * 0444), as knfsd allows it; others need write permission now. */
#include "ninep/ninep_int.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

#define V9FS_MAGIC 0x01021997u
#define NINEP_BLKSIZE 4096

int proc_getattr(struct ninep_req *rq, struct p9_wr *w)
{
	struct ninep_conn *c = rq->c;
	uint64_t ino;
	struct ninep_fid *f = ninep_fid_file(rq, rq->m.u.getattr.fid, &ino);
	if (!f)
		return -EBADF;
	pthread_mutex_lock(&f->mu);
	uint64_t gen = f->gen;
	pthread_mutex_unlock(&f->mu);
	struct fs_attr a;
	/* Not by handle: a file open through any fid keeps its inode after
	 * its last name went, and stat through another fid still works. */
	int r = fs_getattr(c->srv->fs, ino, &a);
	if (r == 0 && a.generation != gen)
		r = -ESTALE;
	fid_put(c, f);
	if (r < 0)
		return r;
	struct p9_qid q;
	ninep_qid_of(&a, &q);
	p9_put_u64(w, (P9_GETATTR_ALL & ~P9_GETATTR_BTIME));
	p9_put_qid(w, &q);
	p9_put_u32(w, a.mode);
	p9_put_u32(w, a.uid);
	p9_put_u32(w, a.gid);
	p9_put_u64(w, a.nlink);
	p9_put_u64(w, a.rdev);
	p9_put_u64(w, a.size);
	p9_put_u64(w, NINEP_BLKSIZE);
	p9_put_u64(w, a.blocks);
	p9_put_u64(w, (uint64_t)a.atime.tv_sec);
	p9_put_u64(w, (uint64_t)a.atime.tv_nsec);
	p9_put_u64(w, (uint64_t)a.mtime.tv_sec);
	p9_put_u64(w, (uint64_t)a.mtime.tv_nsec);
	p9_put_u64(w, (uint64_t)a.ctime.tv_sec);
	p9_put_u64(w, (uint64_t)a.ctime.tv_nsec);
	p9_put_u64(w, 0);   /* btime */
	p9_put_u64(w, 0);
	p9_put_u64(w, a.generation);
	p9_put_u64(w, a.change);
	return 0;
}

static int set_time(uint64_t sec, uint64_t nsec, struct timespec *ts)
{
	if (nsec >= 1000000000u || sec > (uint64_t)INT64_MAX)
		return -EINVAL;
	ts->tv_sec = (time_t)sec;
	ts->tv_nsec = (long)nsec;
	return 0;
}

int proc_setattr(struct ninep_req *rq, struct p9_wr *w)
{
	struct ninep_conn *c = rq->c;
	const typeof(rq->m.u.setattr) *m = &rq->m.u.setattr;
	struct fs_setattr sa = { 0 };
	int r = 0;
	uint32_t v = m->valid;
	if (v & P9_SETATTR_MODE) {
		sa.valid |= FS_SET_MODE;
		sa.mode = m->mode & 07777;
	}
	if (v & P9_SETATTR_UID) {
		sa.valid |= FS_SET_UID;
		sa.uid = m->uid;
	}
	if (v & P9_SETATTR_GID) {
		sa.valid |= FS_SET_GID;
		sa.gid = m->gid;
	}
	if (v & P9_SETATTR_SIZE) {
		if (m->size > (uint64_t)INT64_MAX)
			return -EFBIG;
		sa.valid |= FS_SET_SIZE;
		sa.size = m->size;
	}
	if ((v & P9_SETATTR_ATIME) && (v & P9_SETATTR_ATIME_SET)) {
		sa.valid |= FS_SET_ATIME;
		r = set_time(m->atime_sec, m->atime_nsec, &sa.atime);
	} else if (v & P9_SETATTR_ATIME) {
		sa.valid |= FS_SET_ATIME_NOW;
	}
	if (r == 0 && (v & P9_SETATTR_MTIME) && (v & P9_SETATTR_MTIME_SET)) {
		sa.valid |= FS_SET_MTIME;
		r = set_time(m->mtime_sec, m->mtime_nsec, &sa.mtime);
	} else if (v & P9_SETATTR_MTIME) {
		sa.valid |= FS_SET_MTIME_NOW;
	}
	if (r < 0)
		return r;
	uint64_t ino;
	struct ninep_fid *f = ninep_fid_file(rq, m->fid, &ino);
	if (!f)
		return -EBADF;
	struct fs_cred cr = ninep_cred(rq, f);
	pthread_mutex_lock(&f->mu);
	bool open_w = f->open && (f->oflags & O_ACCMODE) != O_RDONLY;
	pthread_mutex_unlock(&f->mu);
	/* What the open allowed (see the top): the owner may truncate
	 * whatever the mode says now.  With the user's own credentials, so a
	 * truncate still drops setuid (not as root, which keeps it). */
	if (open_w && (sa.valid & FS_SET_SIZE))
		sa.valid |= FS_SET_OWNER_OVERRIDE;
	r = fs_setattr(c->srv->fs, &cr, ino, &sa, NULL, NULL);
	fid_put(c, f);
	return r;
}

int proc_statfs(struct ninep_req *rq, struct p9_wr *w)
{
	struct ninep_conn *c = rq->c;
	uint64_t ino;
	struct ninep_fid *f = ninep_fid_file(rq, rq->m.u.fid.fid, &ino);
	if (!f)
		return -EBADF;
	fid_put(c, f);
	struct fs_statfs st;
	int r = fs_statfs(c->srv->fs, &st);
	if (r < 0)
		return r;
	p9_put_u32(w, V9FS_MAGIC);
	p9_put_u32(w, st.bsize);
	p9_put_u64(w, st.blocks);
	p9_put_u64(w, st.bfree);
	p9_put_u64(w, st.bavail);
	p9_put_u64(w, st.files);
	p9_put_u64(w, st.ffree);
	p9_put_u64(w, fs_fsid(c->srv->fs));
	p9_put_u32(w, st.namemax);
	return 0;
}
