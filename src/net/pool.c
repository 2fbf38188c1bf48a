/* pool.c -- the worker pool every connection of a server shares.
 *
 * One FIFO of jobs under the server's mutex.  Fairness between clients
 * comes from the per-connection max_inflight bound (net_conn_submit), not
 * from the queue: no connection can hold more than that many workers, and
 * there are more workers than that (net_server_new's default: four
 * times), so a client whose requests are all slow leaves workers for the
 * others. */
#include "net/net_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/mem.h"

static void job_finish(struct net_job *j)
{
	struct net_conn *c = j->c;
	pthread_mutex_lock(&c->mu);
	c->inflight--;
	c->used -= j->cost;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->mu);
	free(j);
}

static void *pool_main(void *arg)
{
	struct net_server *s = arg;
	pthread_mutex_lock(&s->mu);
	for (;;) {
		while (!s->jhead && !s->pool_stop)
			pthread_cond_wait(&s->cond, &s->mu);
		if (!s->jhead)
			break;
		struct net_job *j = s->jhead;
		s->jhead = j->next;
		if (!s->jhead)
			s->jtail = NULL;
		pthread_mutex_unlock(&s->mu);
		j->fn(j->c, j->arg);
		job_finish(j);
		pthread_mutex_lock(&s->mu);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

int net_pool_start(struct net_server *s)
{
	unsigned n = s->opt.workers;
	s->workers = xcalloc(n, sizeof *s->workers);
	for (unsigned i = 0; i < n; i++) {
		int r = pthread_create(&s->workers[i], NULL, pool_main, s);
		if (r) {
			log_error("%s: cannot start worker thread %u: %s",
				  s->proto->name, i, strerror(r));
			return -r;
		}
		s->nworkers_started = i + 1;
	}
	return 0;
}

void net_pool_push(struct net_server *s, struct net_job *j)
{
	pthread_mutex_lock(&s->mu);
	j->next = NULL;
	if (s->jtail)
		s->jtail->next = j;
	else
		s->jhead = j;
	s->jtail = j;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->mu);
}

/* Called once every connection has ended, so no job can be queued any
 * more: the workers drain the queue and exit. */
void net_pool_stop(struct net_server *s)
{
	pthread_mutex_lock(&s->mu);
	s->pool_stop = true;             /* pool_main exits once the queue is empty */
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->mu);
	for (unsigned i = 0; i < s->nworkers_started; i++)
		pthread_join(s->workers[i], NULL);
	free(s->workers);
	s->workers = NULL;
	s->nworkers_started = 0;
}
