/* workers.c -- the CPU pool (see workers.h).
 *
 * A job is a range of indices handed out one at a time by an atomic
 * counter.  Jobs wait in a FIFO list while they have indices left to hand
 * out; a thread that takes part in a job counts itself in `active`, and
 * the caller returns once no index is left and nobody is active, so the
 * job (on the caller's stack) is never touched after workers_run(). */
#include "data/workers.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#include "util/log.h"
#include "util/mem.h"

struct job {
	void (*fn)(void *arg, size_t i);
	void *arg;
	size_t n;
	_Atomic size_t next;     /* the next index to hand out */
	unsigned active;         /* pool threads inside the job (under mu) */
	bool queued;             /* still on the list (under mu) */
	struct job *link;
};

struct workers {
	pthread_mutex_t mu;
	pthread_cond_t work, idle;
	struct job *head, *tail;
	bool stop;
	pthread_t *threads;
	unsigned nthreads;
};

unsigned workers_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned)n : 1;
}

static void unqueue_locked(struct workers *w, struct job *j)
{
	struct job **pp = &w->head, *prev = NULL;
	while (*pp && *pp != j) {
		prev = *pp;
		pp = &(*pp)->link;
	}
	if (!*pp)
		return;
	*pp = j->link;
	if (w->tail == j)
		w->tail = prev;
	j->queued = false;
}

/* Process indices of j until none is left. */
static void drain(struct job *j)
{
	for (;;) {
		size_t i = atomic_fetch_add(&j->next, 1);
		if (i >= j->n)
			return;
		j->fn(j->arg, i);
	}
}

static void *worker_main(void *arg)
{
	struct workers *w = arg;
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->head && !w->stop)
			pthread_cond_wait(&w->work, &w->mu);
		if (w->stop)
			break;
		struct job *j = w->head;
		j->active++;
		pthread_mutex_unlock(&w->mu);
		drain(j);
		pthread_mutex_lock(&w->mu);
		/* Nothing left to hand out: later threads need not see it. */
		if (j->queued)
			unqueue_locked(w, j);
		if (--j->active == 0)
			pthread_cond_broadcast(&w->idle);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

struct workers *workers_new(unsigned threads)
{
	struct workers *w = xcalloc(1, sizeof *w);
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->work, NULL);
	pthread_cond_init(&w->idle, NULL);
	w->threads = xcalloc(threads ? threads : 1, sizeof *w->threads);
	for (unsigned i = 0; i < threads; i++) {
		if (pthread_create(&w->threads[i], NULL, worker_main, w) != 0) {
			log_warn("data: cannot start CPU worker %u of %u; going on with %u", i + 1,
				 threads, i);
			break;
		}
		w->nthreads++;
	}
	return w;
}

void workers_free(struct workers *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	w->stop = true;
	pthread_cond_broadcast(&w->work);
	pthread_mutex_unlock(&w->mu);
	for (unsigned i = 0; i < w->nthreads; i++)
		pthread_join(w->threads[i], NULL);
	pthread_cond_destroy(&w->idle);
	pthread_cond_destroy(&w->work);
	pthread_mutex_destroy(&w->mu);
	free(w->threads);
	free(w);
}

void workers_run(struct workers *w, void (*fn)(void *arg, size_t i), void *arg, size_t n)
{
	struct job j = { .fn = fn, .arg = arg, .n = n };
	if (!w || w->nthreads == 0 || n < 2) {
		drain(&j);
		return;
	}
	pthread_mutex_lock(&w->mu);
	j.queued = true;
	if (w->tail)
		w->tail->link = &j;
	else
		w->head = &j;
	w->tail = &j;
	pthread_cond_broadcast(&w->work);
	pthread_mutex_unlock(&w->mu);
	drain(&j);
	pthread_mutex_lock(&w->mu);
	if (j.queued)
		unqueue_locked(w, &j);
	while (j.active)
		pthread_cond_wait(&w->idle, &w->mu);
	pthread_mutex_unlock(&w->mu);
}
