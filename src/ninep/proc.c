/* proc.c -- running one request on a worker: the table of handlers, the
 * reply buffer (sized per message, never past msize), Rlerror for a
 * handler's -errno (the core's Linux errno, passed straight through),
 * EROFS for every mutation of a read-only server, and the helpers the
 * handlers share (qids, names, fids). */
#include "ninep/ninep_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/log.h"
#include "util/mem.h"

#define SMALL_REPLY 256

struct proc {
	ninep_proc_fn *fn;
	bool mutates;          /* EROFS on a read-only server */
};

static const struct proc *proc_of(uint8_t type)
{
	static const struct proc t[256] = {
		[P9_TAUTH] = { proc_auth, false },
		[P9_TATTACH] = { proc_attach, false },
		[P9_TWALK] = { proc_walk, false },
		[P9_TCLUNK] = { proc_clunk, false },
		[P9_TREMOVE] = { proc_remove, false },    /* clunks even then */
		[P9_TLOPEN] = { proc_lopen, false },       /* checks its flags */
		[P9_TLCREATE] = { proc_lcreate, true },
		[P9_TREAD] = { proc_read, false },
		[P9_TWRITE] = { proc_write, false },       /* an xattr fid may be new */
		[P9_TFSYNC] = { proc_fsync, false },
		[P9_TGETATTR] = { proc_getattr, false },
		[P9_TSETATTR] = { proc_setattr, true },
		[P9_TSTATFS] = { proc_statfs, false },
		[P9_TREADDIR] = { proc_readdir, false },
		[P9_TMKDIR] = { proc_mkdir, true },
		[P9_TMKNOD] = { proc_mknod, true },
		[P9_TSYMLINK] = { proc_symlink, true },
		[P9_TREADLINK] = { proc_readlink, false },
		[P9_TLINK] = { proc_link, true },
		[P9_TRENAME] = { proc_rename, true },
		[P9_TRENAMEAT] = { proc_renameat, true },
		[P9_TUNLINKAT] = { proc_unlinkat, true },
		[P9_TXATTRWALK] = { proc_xattrwalk, false },
		[P9_TXATTRCREATE] = { proc_xattrcreate, true },
		[P9_TLOCK] = { proc_lock, false },
		[P9_TGETLOCK] = { proc_getlock, false },
	};
	return t[type].fn ? &t[type] : NULL;
}

size_t ninep_reply_cap(const struct ninep_conn *c, const struct ninep_msg *m)
{
	size_t cap = SMALL_REPLY;
	switch (m->type) {
	case P9_TREAD:
	case P9_TREADDIR:
		cap = P9_IOHDR + (size_t)m->u.read.count;
		break;
	case P9_TREADLINK:
		cap = P9_HDR + 2 + FS_SYMLINK_MAX;
		break;
	case P9_TGETLOCK:
		cap = P9_HDR + 23 + (size_t)m->u.lock.client_id.len;
		break;
	}
	return cap < c->msize ? cap : c->msize;
}

void ninep_proc_run(struct net_conn *nc, void *job)
{
	struct ninep_req *rq = job;
	struct ninep_conn *c = rq->c;
	const struct proc *p = proc_of(rq->m.type);
	size_t cap = ninep_reply_cap(c, &rq->m);
	if (cap < SMALL_REPLY)
		cap = SMALL_REPLY;   /* room for an Rlerror whatever msize says */
	uint8_t *buf = xmalloc(cap);
	struct p9_wr w;
	p9_wr_init(&w, buf, cap, (uint8_t)(rq->m.type + 1), rq->m.tag);
	int r;
	if (!p)
		r = -EOPNOTSUPP;
	else if (p->mutates && c->srv->read_only)
		r = -EROFS;
	else
		r = p->fn(rq, &w);
	if (r == NINEP_DEFERRED) {
		free(buf);   /* rq belongs to whoever answers it now */
		return;
	}
	size_t len = 0;
	if (r == 0 && (len = p9_wr_finish(&w)) == 0) {
		log_error("9p: reply to message type %u did not fit in %zu bytes", rq->m.type, cap);
		r = -EIO;
	}
	if (r < 0) {
		p9_wr_init(&w, buf, cap, P9_RLERROR, rq->m.tag);
		p9_put_u32(&w, (uint32_t)-r);
		len = p9_wr_finish(&w);
	}
	ninep_conn_complete(rq, buf, len);
}

/* ---- shared by the handlers ---- */

void ninep_qid_of(const struct fs_attr *a, struct p9_qid *q)
{
	q->type = S_ISDIR(a->mode) ? P9_QTDIR : S_ISLNK(a->mode) ? P9_QTSYMLINK : P9_QTFILE;
	q->version = (uint32_t)a->change;
	q->path = a->ino;
}

int ninep_check_name(const struct p9_str *s, bool dots_ok)
{
	if (strlen(s->s) != s->len || s->len == 0 || strchr(s->s, '/'))
		return -EINVAL;
	if (s->len > FS_NAME_MAX)
		return -ENAMETOOLONG;
	if (!dots_ok && (!strcmp(s->s, ".") || !strcmp(s->s, "..")))
		return -EINVAL;
	return 0;
}

struct ninep_fid *ninep_fid_file(struct ninep_req *rq, uint32_t fid, uint64_t *ino)
{
	struct ninep_fid *f = fid_get(rq->c, fid);
	if (!f)
		return NULL;
	pthread_mutex_lock(&f->mu);
	bool ok = f->kind == FID_PATH && !f->dead;
	*ino = f->ino;
	pthread_mutex_unlock(&f->mu);
	if (!ok) {
		fid_put(rq->c, f);
		return NULL;
	}
	return f;
}
