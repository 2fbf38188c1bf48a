/* conn.c -- one connection: its reader thread (the protocol's serve()),
 * its writer thread (the reply queue), the budget that bounds its memory.
 *
 * Invariants, under c->mu: used = the cost of the inflight requests + the
 * bytes of the queued replies; the writer owns the queue's head while it
 * sends it (it is unlinked first); c is freed only by its reader thread,
 * after inflight reached 0 and the writer was joined, so a job or the
 * writer never sees a freed connection. */
#include "net/net_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/log.h"
#include "util/mem.h"

static bool is_closing(struct net_conn *c)
{
	return __atomic_load_n(&c->closing, __ATOMIC_ACQUIRE);
}

/* Under c->mu. */
static void mark_closing(struct net_conn *c)
{
	__atomic_store_n(&c->closing, true, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&c->cond);
}

ssize_t net_conn_read(struct net_conn *c, void *buf, size_t len)
{
	/* The reader is the only producer of work: holding it while replies
	 * pile up bounds what a client that does not read can make us keep. */
	pthread_mutex_lock(&c->mu);
	while (!c->closing && c->used > c->s->opt.conn_budget)
		pthread_cond_wait(&c->cond, &c->mu);
	pthread_mutex_unlock(&c->mu);

	size_t got = 0;
	while (got < len) {
		if (is_closing(c))
			return -ESHUTDOWN;
		ssize_t n = recv(c->fd, (char *)buf + got, len - got, 0);
		if (n > 0) {
			got += (size_t)n;
			continue;
		}
		if (n == 0) {
			if (is_closing(c))
				return -ESHUTDOWN;
			return got ? -EPIPE : 0;
		}
		if (errno == EINTR)
			continue;
		return is_closing(c) ? -ESHUTDOWN : -errno;
	}
	return (ssize_t)len;
}

int net_conn_submit(struct net_conn *c, void (*fn)(struct net_conn *, void *), void *job,
		    size_t cost)
{
	const struct net_options *o = &c->s->opt;
	pthread_mutex_lock(&c->mu);
	while (!c->closing && c->inflight > 0 &&
	       (c->inflight >= o->max_inflight || c->used + cost > o->conn_budget))
		pthread_cond_wait(&c->cond, &c->mu);
	if (c->closing) {
		pthread_mutex_unlock(&c->mu);
		return -ESHUTDOWN;
	}
	c->inflight++;
	c->used += cost;
	pthread_mutex_unlock(&c->mu);

	struct net_job *j = xcalloc(1, sizeof *j);
	j->c = c;
	j->fn = fn;
	j->arg = job;
	j->cost = cost;
	net_pool_push(c->s, j);
	return 0;
}

int net_conn_reply(struct net_conn *c, void *buf, size_t len)
{
	struct net_reply *r = xmalloc(sizeof *r);
	r->next = NULL;
	r->buf = buf;
	r->len = len;
	pthread_mutex_lock(&c->mu);
	/* After release() (reader_done) the writer may be gone: a reply
	 * queued then would never be sent nor freed (net.h forbids it). */
	if (c->closing || c->reader_done) {
		pthread_mutex_unlock(&c->mu);
		free(buf);
		free(r);
		return -ESHUTDOWN;
	}
	if (c->tail)
		c->tail->next = r;
	else
		c->head = r;
	c->tail = r;
	c->used += len + NET_REPLY_OVERHEAD;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->mu);
	return 0;
}

void net_conn_close(struct net_conn *c)
{
	pthread_mutex_lock(&c->mu);
	mark_closing(c);
	pthread_mutex_unlock(&c->mu);
	/* Wake a reader blocked in recv; the writer still sends the queue. */
	shutdown(c->fd, SHUT_RD);
}

void net_conn_shutdown(struct net_conn *c)
{
	pthread_mutex_lock(&c->mu);
	mark_closing(c);
	pthread_mutex_unlock(&c->mu);
	shutdown(c->fd, SHUT_RDWR);
}

bool net_conn_closing(struct net_conn *c)
{
	return is_closing(c);
}

void net_conn_set_data(struct net_conn *c, void *data)
{
	c->data = data;
}

void *net_conn_data(struct net_conn *c)
{
	return c->data;
}

const struct sockaddr_storage *net_conn_peer(struct net_conn *c, socklen_t *len)
{
	if (len)
		*len = c->peer_len;
	return &c->peer;
}

int net_conn_peer_cred(struct net_conn *c, uid_t *uid, gid_t *gid, pid_t *pid)
{
	if (c->peer.ss_family != AF_UNIX)
		return -EAFNOSUPPORT;
	struct ucred cr;
	socklen_t n = sizeof cr;
	if (getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &cr, &n) < 0)
		return -errno;
	if (uid)
		*uid = cr.uid;
	if (gid)
		*gid = cr.gid;
	if (pid)
		*pid = cr.pid;
	return 0;
}

const char *net_conn_name(struct net_conn *c)
{
	return c->name;
}

bool net_conn_peer_privileged(struct net_conn *c)
{
	if (c->peer.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&c->peer)->sin_port) < 1024;
	if (c->peer.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&c->peer)->sin6_port) < 1024;
	return false;
}

/* ---- the two threads ---- */

/* Send every byte of one reply; false once the peer is gone. */
static bool send_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

static void *writer_main(void *arg)
{
	struct net_conn *c = arg;
	bool dead = false;
	pthread_mutex_lock(&c->mu);
	for (;;) {
		while (!c->head && !c->reader_done)
			pthread_cond_wait(&c->cond, &c->mu);
		struct net_reply *r = c->head;
		if (!r)
			break;
		c->head = r->next;
		if (!c->head)
			c->tail = NULL;
		pthread_mutex_unlock(&c->mu);
		if (!dead && !send_all(c->fd, r->buf, r->len)) {
			/* The peer is gone: stop its reader too, drop the rest. */
			dead = true;
			log_debug("%s %s: send failed: %s", c->s->proto->name, c->name,
				  strerror(errno));
			shutdown(c->fd, SHUT_RDWR);
		}
		free(r->buf);
		pthread_mutex_lock(&c->mu);
		if (dead)
			mark_closing(c);
		c->used -= r->len + NET_REPLY_OVERHEAD;
		pthread_cond_broadcast(&c->cond);
		free(r);
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

static void conn_free(struct net_conn *c)
{
	/* Under s->mu, so net_server_stop never shuts down a freed c. */
	struct net_server *s = c->s;
	pthread_mutex_lock(&s->mu);
	for (unsigned i = 0; i < s->opt.max_conns; i++)
		if (s->conns[i] == c)
			s->conns[i] = NULL;
	s->nconns--;
	close(c->fd);
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cond);
	free(c);
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->mu);
}

static void *reader_main(void *arg)
{
	struct net_conn *c = arg;
	struct net_server *s = c->s;
	int r = s->proto->serve(c, s->arg);
	if (r < 0 && r != -ESHUTDOWN)
		log_info("%s: connection from %s closed: %s", s->proto->name, c->name,
			 strerror(-r));
	else
		log_debug("%s: connection from %s ended", s->proto->name, c->name);

	pthread_mutex_lock(&c->mu);
	while (c->inflight)
		pthread_cond_wait(&c->cond, &c->mu);
	pthread_mutex_unlock(&c->mu);
	if (s->proto->release)
		s->proto->release(c, s->arg);
	pthread_mutex_lock(&c->mu);
	c->reader_done = true;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->mu);
	pthread_join(c->writer, NULL);
	conn_free(c);
	return NULL;
}

static void peer_name(struct net_conn *c)
{
	char host[INET6_ADDRSTRLEN] = "?";
	if (c->peer.ss_family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&c->peer;
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
		snprintf(c->name, sizeof c->name, "%s:%u", host, ntohs(in->sin_port));
	} else if (c->peer.ss_family == AF_INET6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&c->peer;
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
		snprintf(c->name, sizeof c->name, "[%s]:%u", host, ntohs(in6->sin6_port));
	} else {
		pid_t pid = 0;
		if (net_conn_peer_cred(c, NULL, NULL, &pid) == 0)
			snprintf(c->name, sizeof c->name, "unix pid %ld", (long)pid);
		else
			snprintf(c->name, sizeof c->name, "unix");
	}
}

void net_conn_spawn(struct net_server *s, int fd, const struct sockaddr_storage *peer,
		    socklen_t len)
{
	struct net_conn *c = xcalloc(1, sizeof *c);
	c->s = s;
	c->fd = fd;
	c->peer = *peer;
	c->peer_len = len;
	peer_name(c);
	if (peer->ss_family != AF_UNIX) {
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	}
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cond, NULL);

	pthread_mutex_lock(&s->mu);
	unsigned slot = s->opt.max_conns;
	if (!s->stopping && s->nconns < s->opt.max_conns)
		for (slot = 0; s->conns[slot]; slot++)
			;
	if (slot == s->opt.max_conns) {
		bool stopping = s->stopping;
		pthread_mutex_unlock(&s->mu);
		if (!stopping)
			log_warn("%s: connection from %s refused: already %u connections "
				 "(the limit)", s->proto->name, c->name, s->opt.max_conns);
		goto fail;
	}
	s->conns[slot] = c;
	s->nconns++;
	pthread_mutex_unlock(&s->mu);

	int r = pthread_create(&c->writer, NULL, writer_main, c);
	if (r == 0) {
		pthread_attr_t a;
		pthread_attr_init(&a);
		pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
		pthread_t t;
		int r2 = pthread_create(&t, &a, reader_main, c);
		pthread_attr_destroy(&a);
		if (r2 == 0)
			return;
		pthread_mutex_lock(&c->mu);
		c->reader_done = true;
		pthread_cond_broadcast(&c->cond);
		pthread_mutex_unlock(&c->mu);
		pthread_join(c->writer, NULL);
		r = r2;
	}
	log_error("%s: connection from %s dropped: cannot start a thread: %s",
		  s->proto->name, c->name, strerror(r));
	conn_free(c);
	return;
fail:
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cond);
	close(fd);
	free(c);
}
