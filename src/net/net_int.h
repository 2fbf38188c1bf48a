/* net_int.h -- what the files of src/net/ share: the server, a connection,
 * the pool.  Not part of the API (net.h). */
#ifndef BUCKETFS_NET_NET_INT_H
#define BUCKETFS_NET_NET_INT_H

#include <pthread.h>
#include <stdint.h>

#include "net/net.h"

#define NET_MAX_LISTENERS 8

struct net_listener {
	int fd;
	bool is_unix;
	char *name;                   /* "tcp 127.0.0.1:2049" / "unix PATH" */
	char *path;                   /* Unix: unlinked at stop */
	int port;                     /* TCP: the bound port */
	pthread_t thread;
	bool started;
	struct net_server *s;
};

/* What a queued reply costs beyond its bytes (its node and malloc's
 * headers), counted against the budget so that a flood of tiny replies
 * to a client that does not read is bounded too. */
#define NET_REPLY_OVERHEAD 64

/* One queued reply. */
struct net_reply {
	struct net_reply *next;
	void *buf;
	size_t len;
};

/* One request waiting for or running on the pool. */
struct net_job {
	struct net_job *next;
	struct net_conn *c;
	void (*fn)(struct net_conn *c, void *job);
	void *arg;
	size_t cost;
};

struct net_conn {
	struct net_server *s;
	int fd;
	struct sockaddr_storage peer;
	socklen_t peer_len;
	char name[80];
	void *data;

	/* Under mu: the budget, the reply queue, the state. */
	pthread_mutex_t mu;
	pthread_cond_t cond;          /* budget freed, reply queued, job done */
	unsigned inflight;            /* submitted, fn not returned */
	size_t used;                  /* cost of inflight + queued reply bytes */
	struct net_reply *head, *tail;
	bool closing;                 /* no more reads, drop new replies */
	bool reader_done;             /* the writer may finish once empty */
	pthread_t writer;
};

struct net_server {
	const struct net_proto *proto;
	void *arg;
	struct net_options opt;
	struct net_listener lis[NET_MAX_LISTENERS];
	unsigned nlis;
	bool started;

	pthread_mutex_t mu;           /* conns, nconns, stopping, the pool */
	pthread_cond_t cond;          /* a connection ended; a job queued */
	bool stopping;
	unsigned nconns;
	struct net_conn **conns;      /* [opt.max_conns], NULL = free slot */

	struct net_job *jhead, *jtail;
	pthread_t *workers;
	unsigned nworkers_started;
	bool pool_stop;
};

/* conn.c: start serving an accepted socket (closes fd on failure). */
void net_conn_spawn(struct net_server *s, int fd, const struct sockaddr_storage *peer,
		    socklen_t len);
/* conn.c: wake every connection of s (server stopping). */
void net_conn_shutdown(struct net_conn *c);
/* pool.c */
int net_pool_start(struct net_server *s);
void net_pool_push(struct net_server *s, struct net_job *j);
void net_pool_stop(struct net_server *s);

#endif
