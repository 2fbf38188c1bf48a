/* server.c -- a 9P server (ninep.h): its options, its listeners on the
 * shared connection server (net.h), start, describe and stop. */
#include "ninep/ninep_int.h"

#include <errno.h>
#include <stdlib.h>

#include "util/log.h"
#include "util/mem.h"

static const struct net_proto ninep_proto = {
	.name = "9p",
	.serve = ninep_conn_serve,
	.release = ninep_conn_release,
};

static uint32_t servers;   /* atomic: origins */

static void server_free(struct ninep_server *s)
{
	ninep_users_free(s);
	pthread_mutex_destroy(&s->users_mu);
	pthread_mutex_destroy(&s->wait_mu);
	pthread_cond_destroy(&s->wait_cond);
	for (unsigned i = 0; i < NINEP_APPEND_STRIPES; i++)
		pthread_mutex_destroy(&s->append_mu[i]);
	free(s);
}

int ninep_options_check(const struct ninep_options *o)
{
	struct net_server *ns;
	int r = net_server_new(&ninep_proto, NULL, NULL, &ns);
	for (unsigned i = 0; r == 0 && i < NINEP_MAX_LISTEN && o->listen[i]; i++)
		r = net_server_listen_tcp(ns, o->listen[i]);
	net_server_stop(ns);   /* never started: closes the listeners */
	return r;
}

int ninep_server_start(struct fs *fs, const struct ninep_options *o, struct ninep_server **out)
{
	if (!o->listen[0] && !o->socket_path) {
		log_error("9p: nothing to listen on (no address, no socket)");
		return -EINVAL;
	}
	struct ninep_server *s = xcalloc(1, sizeof *s);
	s->fs = fs;
	s->read_only = o->read_only;
	s->msize_max = o->msize ? o->msize : NINEP_MSIZE_MAX;
	if (s->msize_max < NINEP_MSIZE_MIN)
		s->msize_max = NINEP_MSIZE_MIN;
	if (s->msize_max > NINEP_MSIZE_MAX)
		s->msize_max = NINEP_MSIZE_MAX;
	s->origin = NINEP_ORIGIN_BASE + __atomic_add_fetch(&servers, 1, __ATOMIC_RELAXED);
	pthread_mutex_init(&s->users_mu, NULL);
	pthread_mutex_init(&s->wait_mu, NULL);
	pthread_cond_init(&s->wait_cond, NULL);
	for (unsigned i = 0; i < NINEP_APPEND_STRIPES; i++)
		pthread_mutex_init(&s->append_mu[i], NULL);
	/* A request costs its message plus its reply: room for several
	 * msize-sized reads at once per connection. */
	/* A client has at most 16 requests running (some may wait for a
	 * barrier, up to barrier_timeout): a pool four times that keeps one
	 * slow client from holding every worker. */
	struct net_options no = { .workers = o->workers ? o->workers : 64, .max_inflight = 16,
				  .conn_budget = 8 * (size_t)s->msize_max + (1u << 20) };
	int r = net_server_new(&ninep_proto, s, &no, &s->net);
	if (r < 0) {
		server_free(s);
		return r;
	}
	for (unsigned i = 0; r == 0 && i < NINEP_MAX_LISTEN && o->listen[i]; i++)
		r = net_server_listen_tcp(s->net, o->listen[i]);
	if (r == 0 && o->socket_path)
		r = net_server_listen_unix(s->net, o->socket_path,
					   o->socket_mode ? o->socket_mode : 0660);
	if (r == 0)
		r = net_server_start(s->net);
	if (r < 0) {
		net_server_stop(s->net);
		server_free(s);
		return r;
	}
	*out = s;
	return 0;
}

int ninep_server_describe(struct ninep_server *s, char *buf, size_t size)
{
	return net_server_describe(s->net, buf, size);
}

int ninep_server_port(struct ninep_server *s, unsigned i)
{
	return net_server_port(s->net, i);
}

void ninep_server_stop(struct ninep_server *s)
{
	if (!s)
		return;
	net_server_stop(s->net);
	server_free(s);
}
