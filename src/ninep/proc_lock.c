/* proc_lock.c -- POSIX record locks: Tlock, Tgetlock, on the core's lock
 * table (fs.h), so a lock taken through 9P holds against FUSE and NFS.
 *
 * The owner is this connection (fs_lock_owner.frontend = conn->id) and,
 * within it, the client's proc_id mixed with its client_id (the guest's
 * node name), which is what the Linux client uses to tell processes
 * apart.  A connection's locks go when it closes or sends Tversion.
 *
 * Blocking requests (P9_LOCK_FLAGS_BLOCK): a worker never waits.  When
 * the lock is taken, the request moves to a thread of its own that waits
 * in the core (fs_setlk with a fs_lock_wait) and answers when the lock is
 * granted; Tflush cancels that wait (fs_lock_cancel: the request ends
 * with Rlerror(EINTR), then Rflush follows), and so does the connection's
 * end.  At most NINEP_LOCK_WAITERS such threads per connection and
 * NINEP_LOCK_WAITERS_ALL in the server: past them the answer is
 * status BLOCKED, on which the Linux client sleeps and retries, as it
 * does with servers that never block. */
#include "ninep/ninep_int.h"

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/mem.h"

#define NINEP_LOCK_WAITERS 64
#define NINEP_LOCK_WAITERS_ALL 256

struct lock_waiter {
	struct ninep_req *rq;
	uint64_t ino;
	struct fs_lock_owner o;
	struct fs_lock lk;
	struct fs_lock_wait wait;
};

static uint64_t owner_id(uint32_t proc_id, const struct p9_str *client)
{
	uint64_t h = 14695981039346656037ull;   /* FNV-1a of the client id */
	for (uint16_t i = 0; i < client->len; i++)
		h = (h ^ (uint8_t)client->s[i]) * 1099511628211ull;
	return (h << 32) ^ h ^ proc_id;
}

/* The message's range -> the core's; -EINVAL. */
static int lock_from_msg(const struct ninep_msg *m, struct fs_lock *lk)
{
	const typeof(m->u.lock) *l = &m->u.lock;
	switch (l->type) {
	case P9_LOCK_TYPE_RDLCK: lk->type = F_RDLCK; break;
	case P9_LOCK_TYPE_WRLCK: lk->type = F_WRLCK; break;
	case P9_LOCK_TYPE_UNLCK: lk->type = F_UNLCK; break;
	default: return -EINVAL;
	}
	if (l->start > (uint64_t)INT64_MAX)
		return -EINVAL;
	lk->start = l->start;
	if (l->length == 0)
		lk->end = FS_LOCK_EOF;
	else if (l->length - 1 > (uint64_t)INT64_MAX - l->start)
		return -EINVAL;
	else
		lk->end = l->start + l->length - 1;
	return 0;
}

/* Owner id -> the client_id it came with, so that Rgetlock can name the
 * holder (the core keeps only the id).  Informational, so a small table
 * where a newer owner may overwrite an older one: a holder not found (or
 * one of another frontend) is reported with an empty client_id. */
#define LOCK_NAMES 256
static struct {
	uint64_t owner;
	char id[65];
} lock_names[LOCK_NAMES];
static pthread_mutex_t lock_names_mu = PTHREAD_MUTEX_INITIALIZER;

static void lock_name_remember(uint64_t owner, const struct p9_str *client)
{
	pthread_mutex_lock(&lock_names_mu);
	unsigned i = (unsigned)(owner % LOCK_NAMES);
	lock_names[i].owner = owner;
	snprintf(lock_names[i].id, sizeof lock_names[i].id, "%s", client->s);
	pthread_mutex_unlock(&lock_names_mu);
}

static void lock_name_put(struct p9_wr *w, uint64_t owner)
{
	char id[65] = "";
	pthread_mutex_lock(&lock_names_mu);
	unsigned i = (unsigned)(owner % LOCK_NAMES);
	if (lock_names[i].owner == owner)
		memcpy(id, lock_names[i].id, sizeof id);
	pthread_mutex_unlock(&lock_names_mu);
	p9_put_str(w, id, (uint16_t)strlen(id));
}

static void owner_from_msg(const struct ninep_conn *c, const struct ninep_msg *m,
			   struct fs_lock_owner *o)
{
	memset(o, 0, sizeof *o);
	o->frontend = c->id;
	o->owner = owner_id(m->u.lock.proc_id, &m->u.lock.client_id);
	o->pid = m->u.lock.proc_id;
	o->kind = FS_LOCK_POSIX;
	if (m->type == P9_TLOCK && m->u.lock.type != P9_LOCK_TYPE_UNLCK)
		lock_name_remember(o->owner, &m->u.lock.client_id);
}

static void *waiter_main(void *arg)
{
	struct lock_waiter *lw = arg;
	struct ninep_req *rq = lw->rq;
	struct ninep_conn *c = rq->c;
	struct ninep_server *s = c->srv;
	int r = fs_setlk(s->fs, lw->ino, &lw->o, &lw->lk, &lw->wait);
	uint8_t *buf = xmalloc(32);
	struct p9_wr w;
	if (r == 0) {
		p9_wr_init(&w, buf, 32, P9_RLOCK, rq->m.tag);
		p9_put_u8(&w, P9_LOCK_SUCCESS);
	} else {
		p9_wr_init(&w, buf, 32, P9_RLERROR, rq->m.tag);
		p9_put_u32(&w, (uint32_t)-r);
	}
	size_t len = p9_wr_finish(&w);
	pthread_mutex_lock(&c->mu);
	rq->lock_wait = NULL;
	pthread_mutex_unlock(&c->mu);
	ninep_conn_complete(rq, buf, len);
	free(lw);
	pthread_mutex_lock(&s->wait_mu);
	c->nwaiters--;
	s->nwaiters--;
	pthread_cond_broadcast(&s->wait_cond);
	pthread_mutex_unlock(&s->wait_mu);
	return NULL;
}

/* Hand rq to a waiting thread: true if it took it. */
static bool start_waiter(struct ninep_req *rq, uint64_t ino, const struct fs_lock_owner *o,
			 const struct fs_lock *lk)
{
	struct ninep_conn *c = rq->c;
	struct ninep_server *s = c->srv;
	pthread_mutex_lock(&s->wait_mu);
	bool room = c->nwaiters < NINEP_LOCK_WAITERS && s->nwaiters < NINEP_LOCK_WAITERS_ALL;
	if (room) {
		c->nwaiters++;
		s->nwaiters++;
	}
	pthread_mutex_unlock(&s->wait_mu);
	if (!room)
		return false;
	struct lock_waiter *lw = xcalloc(1, sizeof *lw);
	lw->rq = rq;
	lw->ino = ino;
	lw->o = *o;
	lw->lk = *lk;
	/* The wait may last long and no longer counts against the
	 * connection's budget: drop the message (a client_id may make it
	 * msize-sized); only rq->m.tag is used from now on. */
	free(rq->buf);
	rq->buf = NULL;
	memset(&rq->m.u, 0, sizeof rq->m.u);
	pthread_mutex_lock(&c->mu);
	rq->lock_wait = &lw->wait;   /* Tflush cancels it from now on */
	/* A Tflush that came while this ran on the pool found no wait to
	 * cancel: cancel it now (it holds before the wait starts), or the
	 * flush would wait until the lock is granted. */
	if (rq->nflush)
		fs_lock_cancel(s->fs, &lw->wait);
	pthread_mutex_unlock(&c->mu);
	pthread_attr_t a;
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	pthread_t t;
	int e = pthread_create(&t, &a, waiter_main, lw);
	pthread_attr_destroy(&a);
	if (e == 0)
		return true;
	log_warn("9p: cannot start a lock waiter thread: %s", strerror(e));
	pthread_mutex_lock(&c->mu);
	rq->lock_wait = NULL;
	pthread_mutex_unlock(&c->mu);
	free(lw);
	pthread_mutex_lock(&s->wait_mu);
	c->nwaiters--;
	s->nwaiters--;
	pthread_cond_broadcast(&s->wait_cond);
	pthread_mutex_unlock(&s->wait_mu);
	return false;
}

int proc_lock(struct ninep_req *rq, struct p9_wr *w)
{
	struct ninep_conn *c = rq->c;
	struct fs_lock lk = { 0 };
	int r = lock_from_msg(&rq->m, &lk);
	if (r < 0)
		return r;
	uint64_t ino;
	struct ninep_fid *f = ninep_fid_file(rq, rq->m.u.lock.fid, &ino);
	if (!f)
		return -EBADF;
	fid_put(c, f);
	struct fs_lock_owner o;
	owner_from_msg(c, &rq->m, &o);
	r = fs_setlk(c->srv->fs, ino, &o, &lk, NULL);
	uint8_t status = P9_LOCK_SUCCESS;
	if (r == -EAGAIN) {
		if ((rq->m.u.lock.flags & P9_LOCK_FLAGS_BLOCK) && start_waiter(rq, ino, &o, &lk))
			return NINEP_DEFERRED;
		status = P9_LOCK_BLOCKED;
	} else if (r == -ENOLCK) {
		status = P9_LOCK_ERROR;
	} else if (r < 0) {
		return r;
	}
	p9_put_u8(w, status);
	return 0;
}

int proc_getlock(struct ninep_req *rq, struct p9_wr *w)
{
	struct ninep_conn *c = rq->c;
	struct fs_lock lk = { 0 };
	int r = lock_from_msg(&rq->m, &lk);
	if (r < 0)
		return r;
	if (lk.type == F_UNLCK)
		return -EINVAL;
	uint64_t ino;
	struct ninep_fid *f = ninep_fid_file(rq, rq->m.u.lock.fid, &ino);
	if (!f)
		return -EBADF;
	fid_put(c, f);
	struct fs_lock_owner o;
	owner_from_msg(c, &rq->m, &o);
	r = fs_getlk(c->srv->fs, ino, &o, &lk);
	if (r < 0)
		return r;
	const struct p9_str *cid = &rq->m.u.lock.client_id;
	if (lk.type == F_UNLCK) {
		p9_put_u8(w, P9_LOCK_TYPE_UNLCK);
		p9_put_u64(w, rq->m.u.lock.start);
		p9_put_u64(w, rq->m.u.lock.length);
		p9_put_u32(w, rq->m.u.lock.proc_id);
		p9_put_str(w, cid->s, cid->len);
	} else {
		p9_put_u8(w, lk.type == F_RDLCK ? P9_LOCK_TYPE_RDLCK : P9_LOCK_TYPE_WRLCK);
		p9_put_u64(w, lk.start);
		p9_put_u64(w, lk.end == FS_LOCK_EOF ? 0 : lk.end - lk.start + 1);
		p9_put_u32(w, lk.pid);
		lock_name_put(w, lk.owner);   /* the holder's, not the asker's */
	}
	return 0;
}
