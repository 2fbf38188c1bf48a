/* serve.c -- the daemon while it serves: starting the admin socket, the
 * replica follower and the enabled frontends (frontend.h), waiting for a
 * stop request (a signal, daemon_request_stop, a frontend that ended by
 * itself), then draining and stopping the frontends. */
#include "daemon/daemon_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/admin.h"
#include "daemon/conf.h"
#include "util/log.h"
#include "util/mem.h"

bool daemon_frontends_configured(const struct conf *c)
{
	for (const struct frontend_ops *const *f = daemon_frontends; *f; f++)
		if ((*f)->enabled(c))
			return true;
	log_error(FRONTEND_NONE_MESSAGE);
	return false;
}

int daemon_frontends_check(const struct conf *c, bool at_start)
{
	for (const struct frontend_ops *const *f = daemon_frontends; *f; f++) {
		if (!(*f)->enabled(c) || !(*f)->check)
			continue;
		int r = (*f)->check(c, at_start);
		if (r < 0)
			return r;
	}
	return 0;
}

void daemon_request_stop(struct daemon *d, const char *why)
{
	pthread_mutex_lock(&d->mu);
	if (!d->stop) {
		d->stop = true;
		snprintf(d->why, sizeof d->why, "%s", why);
		pthread_cond_broadcast(&d->cond);
	}
	pthread_mutex_unlock(&d->mu);
}

static void frontend_ended(void *arg, const char *why)
{
	daemon_request_stop(arg, why);
}

void daemon_frontends_describe(struct daemon *d,
			       void (*cb)(void *arg, const char *name, const char *address),
			       void *arg)
{
	char addr[512];
	pthread_mutex_lock(&d->mu);
	for (unsigned i = 0; i < d->nfronts; i++) {
		struct running_frontend *rf = &d->fronts[i];
		rf->ops->describe(rf->f, addr, sizeof addr);
		cb(arg, rf->ops->name, addr);
	}
	pthread_mutex_unlock(&d->mu);
}

static int start_admin(struct daemon *d)
{
	const struct conf *c = d->conf;
	if (c->admin_socket && !*c->admin_socket)
		return 0; /* "" : no socket */
	d->admin_path = c->admin_socket ? xstrdup(c->admin_socket)
					: admin_default_path(c->url, d->role != DAEMON_WRITER,
							     c->checkpoint);
	int r = admin_start(d, d->admin_path, writer(d) && c->takeover, &d->admin);
	if (r < 0) {
		free(d->admin_path);
		d->admin_path = NULL;
	}
	return r;
}

static void stop_admin(struct daemon *d)
{
	admin_stop(d->admin);
	d->admin = NULL;
	free(d->admin_path);
	d->admin_path = NULL;
}

/* Drain every frontend before stopping any: a drain may need the others
 * still serving (nothing does today, but NFS clients flushing through a
 * FUSE-mounted path would). */
/* Each entry leaves the table under d->mu before its stop() (which frees
 * it): a status request on an admin thread (daemon_frontends_describe)
 * never sees a frontend that is stopping or gone.  Only the serving
 * thread changes the table, so reading it here without the lock is safe. */
void daemon_frontends_stop(struct daemon *d)
{
	unsigned n = d->nfronts;
	for (unsigned i = 0; i < n; i++)
		if (d->fronts[i].ops->drain)
			d->fronts[i].ops->drain(d->fronts[i].f);
	for (unsigned i = n; i-- > 0;) {
		pthread_mutex_lock(&d->mu);
		struct running_frontend rf = d->fronts[i];
		d->fronts[i] = (struct running_frontend){ NULL, NULL };
		d->nfronts = i;
		pthread_mutex_unlock(&d->mu);
		rf.ops->stop(rf.f);
	}
}

static int start_frontends(struct daemon *d)
{
	d->env = (struct frontend_env){
		.fs = d->fs,
		.conf = d->conf,
		.read_only = !writer(d),
		.ended = frontend_ended,
		.arg = d,
	};
	for (const struct frontend_ops *const *f = daemon_frontends; *f; f++) {
		if (!(*f)->enabled(d->conf))
			continue;
		struct frontend *fe;
		int r = d->nfronts < DAEMON_MAX_FRONTENDS ? (*f)->start(&d->env, &fe) : -E2BIG;
		if (r < 0) {
			log_error("cannot start the %s frontend: %s", (*f)->name, strerror(-r));
			daemon_frontends_stop(d);
			return r;
		}
		pthread_mutex_lock(&d->mu);
		d->fronts[d->nfronts++] = (struct running_frontend){ *f, fe };
		pthread_mutex_unlock(&d->mu);
	}
	return 0;
}

static void append_address(void *arg, const char *name, const char *address)
{
	char *on = arg;
	size_t n = strlen(on);
	if (n < 1000)
		snprintf(on + n, 1024 - n, "%s%.*s", n ? ", " : "", (int)(1020 - n), address);
}

static void log_start(struct daemon *d)
{
	const struct conf *c = d->conf;
	struct lsm_stats s;
	char on[1024] = "";
	lsm_stats(d->db, &s);
	daemon_frontends_describe(d, append_address, on);
	log_info("serving %s on %s: %s, writer epoch %" PRIu64 ", manifest %" PRIu64
		 ", flush every %" PRId64 " ms, cache %s%s%s", c->url, on,
		 writer(d) ? "read-write (the writer)" :
		 d->role == DAEMON_REPLICA ? "read-only replica" : "read-only checkpoint view",
		 s.epoch, s.manifest_seq, c->flush_interval_ms,
		 d->cache_dir ? d->cache_dir : "RAM only", d->admin_path ? ", admin socket " : "",
		 d->admin_path ? d->admin_path : "");
}

static void wait_for_stop(struct daemon *d)
{
	pthread_mutex_lock(&d->mu);
	while (!d->stop)
		pthread_cond_wait(&d->cond, &d->mu);
	log_info("%s: stopping (draining the frontends, then the final flush)", d->why);
	pthread_mutex_unlock(&d->mu);
}

int daemon_serve(struct daemon *d)
{
	if (!daemon_frontends_configured(d->conf))
		return -EINVAL;
	int r = start_admin(d);
	if (r < 0)
		return r;
	if (d->role == DAEMON_REPLICA)
		d->follower = follower_start(d->data, (uint64_t)d->conf->refresh_interval_ms);
	r = start_frontends(d);
	if (r == 0) {
		log_start(d);
		if (d->flags & DAEMON_SIGNALS)
			daemon_signals_target(d);
		wait_for_stop(d);
		daemon_signals_target(NULL);
		daemon_frontends_stop(d);
	}
	follower_stop(d->follower);
	d->follower = NULL;
	stop_admin(d);
	return r;
}
