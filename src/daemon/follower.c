/* follower.c -- a read-only replica following the writer: every
 * refresh_interval, data_refresh() opens the newest manifest and drops
 * cached extents it may have changed.  A failed refresh is logged once
 * (the replica keeps serving the last state read) and its recovery too.
 *
 * Threads: one, between follower_start and follower_stop. */
#include "daemon/daemon_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "data/data.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/mem.h"

struct follower {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	bool stop;
	struct data *data;
	uint64_t interval_ms;
};

static void refresh_once(struct follower *f, int *last_err)
{
	bool changed = false;
	int r = data_refresh(f->data, &changed);
	if (r < 0 && r != *last_err)
		log_warn("replica refresh failed: %s (serving the last state read)", strerror(-r));
	else if (r == 0 && *last_err)
		log_info("replica refresh works again");
	else if (changed)
		log_debug("replica: the writer's newest changes are visible");
	*last_err = r;
}

static void *follower_main(void *arg)
{
	struct follower *f = arg;
	int last_err = 0;
	pthread_mutex_lock(&f->mu);
	while (!f->stop) {
		uint64_t until = clock_mono_ns() + f->interval_ms * 1000000ull;
		while (!f->stop && clock_mono_ns() < until)
			clock_cond_wait(&f->cond, &f->mu, until - clock_mono_ns());
		if (f->stop)
			break;
		pthread_mutex_unlock(&f->mu);
		refresh_once(f, &last_err);
		pthread_mutex_lock(&f->mu);
	}
	pthread_mutex_unlock(&f->mu);
	return NULL;
}

struct follower *follower_start(struct data *data, uint64_t interval_ms)
{
	struct follower *f = xcalloc(1, sizeof *f);
	f->data = data;
	f->interval_ms = interval_ms;
	pthread_mutex_init(&f->mu, NULL);
	pthread_cond_init(&f->cond, NULL);
	int r = pthread_create(&f->thread, NULL, follower_main, f);
	if (r != 0) {
		log_warn("cannot start the replica refresh thread: %s; the replica serves the "
			 "state at start", strerror(r));
		pthread_cond_destroy(&f->cond);
		pthread_mutex_destroy(&f->mu);
		free(f);
		return NULL;
	}
	return f;
}

void follower_stop(struct follower *f)
{
	if (!f)
		return;
	pthread_mutex_lock(&f->mu);
	f->stop = true;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->mu);
	pthread_join(f->thread, NULL);
	pthread_cond_destroy(&f->cond);
	pthread_mutex_destroy(&f->mu);
	free(f);
}
