/* server.c -- a net_server: its listeners, their accept threads, start
 * and stop (net.h). */
#include "net/net_int.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "util/log.h"
#include "util/mem.h"

int net_server_new(const struct net_proto *proto, void *arg, const struct net_options *opt,
		   struct net_server **out)
{
	struct net_server *s = xcalloc(1, sizeof *s);
	s->proto = proto;
	s->arg = arg;
	if (opt)
		s->opt = *opt;
	if (!s->opt.max_conns)
		s->opt.max_conns = 256;
	if (!s->opt.max_inflight)
		s->opt.max_inflight = 16;
	/* Four connections' worth of requests: with as many workers as one
	 * connection may have in flight, one client with slow requests (a
	 * cold read from the store, a COMMIT) held every worker and stalled
	 * every other client. */
	if (!s->opt.workers)
		s->opt.workers = 4 * s->opt.max_inflight;
	if (!s->opt.conn_budget)
		s->opt.conn_budget = 64u << 20;
	s->conns = xcalloc(s->opt.max_conns, sizeof *s->conns);
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cond, NULL);
	*out = s;
	return 0;
}

/* "host:port", "[v6]:port", ":port" -> host (NULL: any) and port. */
static int split_addr(const char *addr, char *host, size_t hsize, char *port, size_t psize)
{
	const char *colon;
	const char *h = addr;
	size_t hlen;
	if (addr[0] == '[') {
		const char *end = strchr(addr, ']');
		if (!end || end[1] != ':')
			return -EINVAL;
		h = addr + 1;
		hlen = (size_t)(end - h);
		colon = end + 1;
	} else {
		colon = strrchr(addr, ':');
		if (!colon || memchr(addr, ':', (size_t)(colon - addr)))
			return -EINVAL;
		hlen = (size_t)(colon - addr);
	}
	const char *p = colon + 1;
	if (!*p || strspn(p, "0123456789") != strlen(p) || strlen(p) > 5 || atoi(p) > 65535)
		return -EINVAL;
	if (hlen >= hsize || strlen(p) >= psize)
		return -EINVAL;
	memcpy(host, h, hlen);
	host[hlen] = 0;
	strcpy(port, p);
	return 0;
}

static struct net_listener *new_listener(struct net_server *s, const char *what)
{
	if (s->started || s->nlis == NET_MAX_LISTENERS) {
		log_error("%s: cannot listen on %s: %s", s->proto->name, what,
			  s->started ? "the server already runs" : "too many listeners");
		return NULL;
	}
	struct net_listener *l = &s->lis[s->nlis];
	memset(l, 0, sizeof *l);
	l->fd = -1;
	l->s = s;
	return l;
}

int net_server_listen_tcp(struct net_server *s, const char *addr)
{
	char host[256], port[8];
	if (split_addr(addr, host, sizeof host, port, sizeof port) < 0) {
		log_error("%s: bad listen address \"%s\": want HOST:PORT, [V6ADDR]:PORT "
			  "or :PORT", s->proto->name, addr);
		return -EINVAL;
	}
	struct net_listener *l = new_listener(s, addr);
	if (!l)
		return -EINVAL;
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *res = NULL;
	int g = getaddrinfo(*host ? host : NULL, port, &hints, &res);
	if (g) {
		log_error("%s: cannot listen on %s: %s", s->proto->name, addr, gai_strerror(g));
		return -EADDRNOTAVAIL;
	}
	int err = -EADDRNOTAVAIL;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			err = -errno;
			continue;
		}
		int one = 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 128) < 0) {
			err = -errno;
			close(fd);
			continue;
		}
		struct sockaddr_storage ss;
		socklen_t n = sizeof ss;
		getsockname(fd, (struct sockaddr *)&ss, &n);
		char h[NI_MAXHOST] = "?", p[NI_MAXSERV] = "?";
		getnameinfo((struct sockaddr *)&ss, n, h, sizeof h, p, sizeof p,
			    NI_NUMERICHOST | NI_NUMERICSERV);
		l->fd = fd;
		l->port = atoi(p);
		l->name = ss.ss_family == AF_INET6 ? xasprintf("tcp [%s]:%s", h, p)
						   : xasprintf("tcp %s:%s", h, p);
		s->nlis++;
		err = 0;
		break;
	}
	freeaddrinfo(res);
	if (err < 0)
		log_error("%s: cannot listen on %s: %s", s->proto->name, addr, strerror(-err));
	return err;
}

int net_server_listen_unix(struct net_server *s, const char *path, mode_t mode)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	if (!*path || strlen(path) >= sizeof sun.sun_path) {
		log_error("%s: bad socket path \"%s\" (empty or longer than %zu bytes)",
			  s->proto->name, path, sizeof sun.sun_path - 1);
		return -ENAMETOOLONG;
	}
	struct net_listener *l = new_listener(s, path);
	if (!l)
		return -EINVAL;
	struct stat st;
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			log_error("%s: cannot listen on %s: it exists and is not a socket",
				  s->proto->name, path);
			return -EEXIST;
		}
		/* A socket of an earlier run is replaced; a live one (another
		 * daemon answers on it) is not. */
		int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		strcpy(sun.sun_path, path);
		bool live = probe >= 0 &&
			    connect(probe, (struct sockaddr *)&sun, sizeof sun) == 0;
		if (probe >= 0)
			close(probe);
		if (live) {
			log_error("%s: cannot listen on %s: another server answers there",
				  s->proto->name, path);
			return -EADDRINUSE;
		}
		unlink(path);
	}
	strcpy(sun.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sun, sizeof sun) < 0 || chmod(path, mode) < 0 ||
	    listen(fd, 128) < 0) {
		int e = errno;
		log_error("%s: cannot listen on %s: %s", s->proto->name, path, strerror(e));
		close(fd);
		return -e;
	}
	l->fd = fd;
	l->is_unix = true;
	l->path = xstrdup(path);
	l->name = xasprintf("unix %s", path);
	s->nlis++;
	return 0;
}

/* An accept() error that is the new connection's own (Linux passes a
 * pending network error of the connection, or a firewall's EPERM, through
 * accept): skip that connection and accept the next one at once. */
static bool accept_error_is_the_peers(int e)
{
	switch (e) {
	case EINTR: case ECONNABORTED: case EPROTO: case ENOPROTOOPT: case EHOSTDOWN:
	case ENONET: case EHOSTUNREACH: case EOPNOTSUPP: case ENETUNREACH: case ENETDOWN:
	case EPERM: case ETIMEDOUT:
		return true;
	default:
		return false;
	}
}

/* Out of descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM) or
 * anything else: the pending connection stays in the backlog, so back
 * off 100 ms instead of spinning, keep serving the others, and log the
 * first failure of a run and then at most one line a minute (an fd
 * shortage that lasts must not write ten lines a second). */
static void accept_backoff(struct net_listener *l, int e, unsigned *fails, time_t *last_log)
{
	time_t now = time(NULL);
	(*fails)++;
	if (*fails == 1 || now - *last_log >= 60) {
		log_warn("%s: accept on %s: %s (%u time%s; retrying every 100 ms)",
			 l->s->proto->name, l->name, strerror(e), *fails, *fails == 1 ? "" : "s");
		*last_log = now;
	}
	nanosleep(&(struct timespec){ 0, 100 * 1000 * 1000 }, NULL);
}

static void *accept_main(void *arg)
{
	struct net_listener *l = arg;
	struct net_server *s = l->s;
	unsigned fails = 0;
	time_t last_log = 0;
	for (;;) {
		struct sockaddr_storage peer;
		socklen_t n = sizeof peer;
		memset(&peer, 0, sizeof peer);
		int fd = accept4(l->fd, (struct sockaddr *)&peer, &n, SOCK_CLOEXEC);
		int e = errno;
		pthread_mutex_lock(&s->mu);
		bool stopping = s->stopping;
		pthread_mutex_unlock(&s->mu);
		if (stopping) {
			if (fd >= 0)
				close(fd);
			break;
		}
		if (fd < 0) {
			if (!accept_error_is_the_peers(e))
				accept_backoff(l, e, &fails, &last_log);
			continue;
		}
		if (fails)
			log_info("%s: accept on %s works again (after %u failure%s)",
				 s->proto->name, l->name, fails, fails == 1 ? "" : "s");
		fails = 0;
		if (l->is_unix)
			peer.ss_family = AF_UNIX;
		net_conn_spawn(s, fd, &peer, n);
	}
	return NULL;
}

int net_server_start(struct net_server *s)
{
	int r = net_pool_start(s);
	if (r < 0)
		return r;
	s->started = true;
	for (unsigned i = 0; i < s->nlis; i++) {
		struct net_listener *l = &s->lis[i];
		int e = pthread_create(&l->thread, NULL, accept_main, l);
		if (e) {
			log_error("%s: cannot start the accept thread of %s: %s",
				  s->proto->name, l->name, strerror(e));
			return -e;
		}
		l->started = true;
	}
	return 0;
}

int net_server_describe(struct net_server *s, char *buf, size_t size)
{
	size_t used = 0;
	int total = 0;
	if (size)
		buf[0] = 0;
	for (unsigned i = 0; i < s->nlis; i++) {
		int n = snprintf(buf + used, used < size ? size - used : 0, "%s%s",
				 i ? ", " : "", s->lis[i].name);
		if (n < 0)
			return n;
		total += n;
		used = used + (size_t)n < size ? used + (size_t)n : size;
	}
	return total;
}

int net_server_port(struct net_server *s, unsigned i)
{
	if (i >= s->nlis || s->lis[i].is_unix)
		return -ENOENT;
	return s->lis[i].port;
}

int net_listen_check(const char *who, const char *addr, bool try_bind)
{
	struct net_proto proto = { .name = who };
	struct net_server *s;
	char host[256], port[8];
	if (!try_bind) {
		if (split_addr(addr, host, sizeof host, port, sizeof port) == 0)
			return 0;
		log_error("%s: bad listen address \"%s\": want HOST:PORT, [V6ADDR]:PORT "
			  "or :PORT", who, addr);
		return -EINVAL;
	}
	net_server_new(&proto, NULL, NULL, &s);
	int r = net_server_listen_tcp(s, addr);
	net_server_stop(s);    /* never started: closes the listener */
	return r;
}

void net_server_stop(struct net_server *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->stopping = true;
	pthread_mutex_unlock(&s->mu);
	for (unsigned i = 0; i < s->nlis; i++) {
		struct net_listener *l = &s->lis[i];
		shutdown(l->fd, SHUT_RDWR);     /* wakes accept() with EINVAL */
		if (l->started)
			pthread_join(l->thread, NULL);
		close(l->fd);
		if (l->path)
			unlink(l->path);
		free(l->path);
		free(l->name);
	}
	pthread_mutex_lock(&s->mu);
	for (unsigned i = 0; i < s->opt.max_conns; i++)
		if (s->conns[i])
			net_conn_shutdown(s->conns[i]);
	while (s->nconns)
		pthread_cond_wait(&s->cond, &s->mu);
	pthread_mutex_unlock(&s->mu);
	/* Also after a net_server_start whose pool started only partly: the
	 * workers that did start must not outlive s. */
	if (s->workers)
		net_pool_stop(s);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cond);
	free(s->conns);
	free(s);
}
