/* conn.c -- one 9P session: the reader loop (net.h serve()), Tversion,
 * Tflush, the pending requests, and answering them.
 *
 * The reader reads size[4], refuses a message larger than the negotiated
 * msize (or smaller than a header) by closing the connection, decodes it,
 * and answers Tversion and Tflush itself; every other request joins the
 * pending list and goes to the worker pool.
 *
 * Tflush ordering: a request leaves the pending list in the same critical
 * section (conn->mu) that queues its reply, and a Tflush looks its oldtag
 * up under that mutex.  So either the reply is already queued and Rflush
 * follows it at once, or the request is still pending: the Tflush's tag
 * joins the request's waiters and the worker queues each Rflush right
 * after the request's own reply.  Requests are never abandoned half-way
 * (none of them blocks for long, but a blocking Tlock, which waits on a
 * thread of its own that the Tflush cancels: it answers EINTR, see
 * proc_lock.c), so "flushed" means "answered first, then Rflush", which
 * the spec allows and Linux handles.  An unknown oldtag gets Rflush at
 * once.  At most NINEP_MAX_FLUSHES waiters per connection: past that the
 * reader waits for requests to finish, which pushes back on that client
 * only.  A flood of Tflush for unknown tags costs one small reply each,
 * bounded by the connection's reply budget (net.h). */
#include "ninep/ninep_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/coding.h"
#include "util/log.h"
#include "util/mem.h"

static void ninep_conn_reply_error(struct ninep_conn *c, uint16_t tag, int err);

static void *small_reply(uint8_t type, uint16_t tag, size_t *len, uint32_t ecode, bool with_code)
{
	uint8_t *b = xmalloc(16);
	struct p9_wr w;
	p9_wr_init(&w, b, 16, type, tag);
	if (with_code)
		p9_put_u32(&w, ecode);
	*len = p9_wr_finish(&w);
	return b;
}

static void ninep_conn_reply_error(struct ninep_conn *c, uint16_t tag, int err)
{
	size_t len;
	void *b = small_reply(P9_RLERROR, tag, &len, (uint32_t)err, true);
	net_conn_reply(c->nc, b, len);
}

static void reply_flush(struct ninep_conn *c, uint16_t tag)
{
	size_t len;
	void *b = small_reply(P9_RFLUSH, tag, &len, 0, false);
	net_conn_reply(c->nc, b, len);
}

/* Under c->mu: is tag in use by a pending request or a waiting Tflush? */
static bool tag_busy(struct ninep_conn *c, uint16_t tag)
{
	for (struct ninep_req *r = c->pending; r; r = r->next) {
		if (r->m.tag == tag)
			return true;
		for (unsigned i = 0; i < r->nflush; i++)
			if (r->flushes[i] == tag)
				return true;
	}
	return false;
}

static void req_free(struct ninep_req *rq)
{
	ninep_req_users_put(rq);
	free(rq->flushes);
	free(rq->buf);
	free(rq);
}

void ninep_conn_complete(struct ninep_req *rq, void *buf, size_t len)
{
	struct ninep_conn *c = rq->c;
	pthread_mutex_lock(&c->mu);
	if (buf)
		net_conn_reply(c->nc, buf, len);
	if (rq->prev)
		rq->prev->next = rq->next;
	else
		c->pending = rq->next;
	if (rq->next)
		rq->next->prev = rq->prev;
	c->npending--;
	for (unsigned i = 0; i < rq->nflush; i++)
		reply_flush(c, rq->flushes[i]);
	c->nflush -= rq->nflush;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->mu);
	req_free(rq);
}

static void do_flush(struct ninep_conn *c, const struct ninep_msg *m)
{
	pthread_mutex_lock(&c->mu);
	while (c->nflush >= NINEP_MAX_FLUSHES && !net_conn_closing(c->nc))
		pthread_cond_wait(&c->cond, &c->mu);
	struct ninep_req *r = c->pending;
	while (r && r->m.tag != m->u.flush.oldtag)
		r = r->next;
	if (!r || m->u.flush.oldtag == m->tag) {
		reply_flush(c, m->tag);
	} else {
		if (r->lock_wait)
			fs_lock_cancel(c->srv->fs, r->lock_wait);
		if (r->nflush == r->capflush) {
			r->capflush = r->capflush ? 2 * r->capflush : 4;
			r->flushes = xrealloc(r->flushes, r->capflush * sizeof *r->flushes);
		}
		r->flushes[r->nflush++] = m->tag;
		c->nflush++;
	}
	pthread_mutex_unlock(&c->mu);
}

/* Cancel every blocked Tlock of c (also one whose thread has not begun
 * to wait yet: fs_lock_cancel holds for a wait not yet started). */
static void cancel_waits(struct ninep_conn *c)
{
	pthread_mutex_lock(&c->mu);
	for (struct ninep_req *r = c->pending; r; r = r->next)
		if (r->lock_wait)
			fs_lock_cancel(c->srv->fs, r->lock_wait);
	pthread_mutex_unlock(&c->mu);
}

/* Tversion: a new session.  Every request answered first, every fid gone
 * (their opens released, their locks dropped). */
static void do_version(struct ninep_conn *c, const struct ninep_msg *m)
{
	/* Blocked Tlocks are cancelled, again and again: a request still on
	 * the pool may start blocking after a first pass. */
	pthread_mutex_lock(&c->mu);
	while (c->npending && !net_conn_closing(c->nc)) {
		for (struct ninep_req *r = c->pending; r; r = r->next)
			if (r->lock_wait)
				fs_lock_cancel(c->srv->fs, r->lock_wait);
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 100 * 1000 * 1000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&c->cond, &c->mu, &ts);
	}
	pthread_mutex_unlock(&c->mu);
	fid_table_clear(c);
	fs_lock_release_frontend(c->srv->fs, c->id);

	uint32_t msize = m->u.version.msize;
	if (msize > c->srv->msize_max)
		msize = c->srv->msize_max;
	const char *v = m->u.version.version.s;
	bool ok = m->u.version.version.len == strlen(v) &&
		  (!strcmp(v, "9P2000.L") || !strncmp(v, "9P2000.L.", 9)) &&
		  msize >= NINEP_MSIZE_MIN;
	const char *reply = ok ? "9P2000.L" : "unknown";
	c->versioned = ok;
	if (ok)
		c->msize = msize;
	uint8_t *b = xmalloc(64);
	struct p9_wr w;
	p9_wr_init(&w, b, 64, P9_RVERSION, m->tag);
	p9_put_u32(&w, ok ? msize : m->u.version.msize);
	p9_put_str(&w, reply, strlen(reply));
	net_conn_reply(c->nc, b, p9_wr_finish(&w));
}

/* Submit rq to the pool; false if the connection must close. */
static bool submit(struct ninep_conn *c, struct ninep_req *rq)
{
	pthread_mutex_lock(&c->mu);
	if (tag_busy(c, rq->m.tag)) {
		pthread_mutex_unlock(&c->mu);
		log_info("9p: %s: tag %u reused while in flight", net_conn_name(c->nc),
			 rq->m.tag);
		return false;
	}
	rq->prev = NULL;
	rq->next = c->pending;
	if (c->pending)
		c->pending->prev = rq;
	c->pending = rq;
	c->npending++;
	pthread_mutex_unlock(&c->mu);
	size_t cost = rq->len + ninep_reply_cap(c, &rq->m);
	if (net_conn_submit(c->nc, ninep_proc_run, rq, cost) < 0) {
		/* Closing: it never runs; take it out again. */
		ninep_conn_complete(rq, NULL, 0);
		return false;
	}
	return true;
}

/* Read one message; 1: handled, 0: EOF, <0: close. */
static int serve_one(struct ninep_conn *c)
{
	uint8_t hdr[4];
	ssize_t n = net_conn_read(c->nc, hdr, 4);
	if (n <= 0)
		return (int)n;
	uint32_t size = le32_get(hdr);
	if (size < P9_HDR || size > c->msize) {
		log_info("9p: %s: message of %u bytes (msize %u): closing", net_conn_name(c->nc),
			 size, c->msize);
		return -EPROTO;
	}
	/* The type first: a Twrite (the only big message without strings)
	 * needs no scratch after it, any other one as much as its size. */
	uint8_t type;
	n = net_conn_read(c->nc, &type, 1);
	if (n != 1)
		return n < 0 ? (int)n : -EPIPE;
	struct ninep_req *rq = xcalloc(1, sizeof *rq);
	rq->c = c;
	rq->len = type == P9_TWRITE ? size : 2 * (size_t)size;   /* what buf holds */
	rq->buf = xmalloc(rq->len);   /* the message, then the scratch */
	memcpy(rq->buf, hdr, 4);
	rq->buf[4] = type;
	n = net_conn_read(c->nc, rq->buf + 5, size - 5);
	if (n != (ssize_t)(size - 5)) {
		req_free(rq);
		return n < 0 ? (int)n : -EPIPE;
	}
	int r = ninep_msg_decode(rq->buf, size, (char *)rq->buf + size, &rq->m);
	if (r < 0) {
		ninep_conn_reply_error(c, rq->m.tag, r == -EOPNOTSUPP ? EOPNOTSUPP : EPROTO);
		req_free(rq);
		return 1;
	}
	if (rq->m.type == P9_TVERSION) {
		do_version(c, &rq->m);
		req_free(rq);
		return 1;
	}
	if (rq->m.type == P9_TFLUSH) {
		do_flush(c, &rq->m);
		req_free(rq);
		return 1;
	}
	if (!c->versioned) {
		ninep_conn_reply_error(c, rq->m.tag, EPROTO);
		req_free(rq);
		return 1;
	}
	if (!submit(c, rq))
		return -EPROTO;
	return 1;
}

int ninep_conn_serve(struct net_conn *nc, void *arg)
{
	struct ninep_server *s = arg;
	struct ninep_conn *c = xcalloc(1, sizeof *c);
	c->srv = s;
	c->nc = nc;
	c->id = ((uint64_t)NINEP_ORIGIN_BASE << 32) |
		__atomic_add_fetch(&s->conn_seq, 1, __ATOMIC_RELAXED);
	c->msize = s->msize_max;
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cond, NULL);
	fid_table_init(c);
	net_conn_set_data(nc, c);
	int r;
	while ((r = serve_one(c)) > 0)
		;
	return r;
}

/* Every request has finished: drop the session's state. */
void ninep_conn_release(struct net_conn *nc, void *arg)
{
	struct ninep_conn *c = net_conn_data(nc);
	if (!c)
		return;
	/* Blocked Tlocks end (-EINTR) and answer into the closing connection;
	 * wait for their threads, which use c. */
	struct ninep_server *s = c->srv;
	cancel_waits(c);
	pthread_mutex_lock(&s->wait_mu);
	while (c->nwaiters)
		pthread_cond_wait(&s->wait_cond, &s->wait_mu);
	pthread_mutex_unlock(&s->wait_mu);
	fid_table_clear(c);
	fs_lock_release_frontend(s->fs, c->id);
	free(c->buckets);
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cond);
	free(c);
	net_conn_set_data(nc, NULL);
}
