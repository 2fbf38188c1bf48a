/* admin.c -- the admin socket's server: listening, one thread per
 * connection, reading and validating the request in one place, and the
 * request table (protocol in admin.h). */
#include "daemon/admin.h"
#include "daemon/admin_int.h"
#include "daemon/daemon_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "daemon/conf.h"
#include "daemon/lease.h"
#include "data/data.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/mem.h"

struct admin {
	struct daemon *d;
	char *path;
	int fd;                    /* listening */
	int wake[2];               /* admin_stop -> accept thread */
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t idle;
	unsigned clients;          /* connection threads running */
	ino_t ino;                 /* of our socket file: unlink only that */
};

/* Remove our socket file, not one a later daemon put there (takeover). */
static void unlink_ours(struct admin *a)
{
	struct stat st;
	if (lstat(a->path, &st) == 0 && st.st_ino == a->ino)
		unlink(a->path);
}

struct conn {
	struct admin *a;
	int fd;
};

/* ---- replies ---- */

struct reply {
	struct buf out;
	int err;                   /* 0: OK */
	char msg[256];
};

static void reply_line(struct reply *rp, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void reply_line(struct reply *rp, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (line[0] == '.')
		buf_append(&rp->out, ".", 1); /* dot-stuffing */
	buf_append(&rp->out, line, strlen(line));
	buf_append(&rp->out, "\n", 1);
}

static void reply_error(struct reply *rp, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void reply_error(struct reply *rp, int err, const char *fmt, ...)
{
	va_list ap;
	rp->err = err < 0 ? -err : err;
	va_start(ap, fmt);
	vsnprintf(rp->msg, sizeof rp->msg, fmt, ap);
	va_end(ap);
}

static void format_time(uint64_t ns, char *buf, size_t size)
{
	if (!ns) {
		snprintf(buf, size, "never");
		return;
	}
	time_t t = (time_t)(ns / 1000000000ull);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- requests ---- */

static void frontend_line(void *arg, const char *name, const char *address)
{
	reply_line(arg, "frontend %s %s", name, address);
}

static void do_status(struct admin *a, struct reply *rp)
{
	struct daemon *d = a->d;
	struct data_stats ds;
	struct lsm_stats ls;
	char when[64];
	data_stats(d->data, &ds);
	lsm_stats(d->db, &ls);
	reply_line(rp, "store %s", d->conf->url);
	reply_line(rp, "role %s", daemon_role_name(d->role));
	if (d->role == DAEMON_CHECKPOINT)
		reply_line(rp, "checkpoint %s", d->conf->checkpoint);
	reply_line(rp, "pid %d", (int)getpid());
	format_time(d->start_ns, when, sizeof when);
	reply_line(rp, "started %s", when);
	reply_line(rp, "epoch %" PRIu64, ls.epoch);
	reply_line(rp, "manifest %" PRIu64, ls.manifest_seq);
	reply_line(rp, "fenced %s", ls.fenced ? "yes" : "no");
	daemon_frontends_describe(d, frontend_line, rp);
	reply_line(rp, "admin %s", a->path);
	reply_line(rp, "dirty_bytes %" PRIu64, ds.dirty_bytes);
	reply_line(rp, "uploads_pending %" PRIu64, ds.uploads_pending);
	format_time(ds.last_barrier_ns, when, sizeof when);
	reply_line(rp, "last_barrier %s", when);
	reply_line(rp, "barriers %" PRIu64, ds.barriers);
	reply_line(rp, "cache_ram_bytes %" PRIu64, ds.cache_ram_bytes);
	reply_line(rp, "cache_disk_bytes %" PRIu64, ds.cache_disk_bytes);
	reply_line(rp, "metadata_cache_bytes %" PRIu64, ls.cache_bytes);
	reply_line(rp, "memtable_bytes %" PRIu64, ls.memtable_bytes);
	if (d->lease) {
		struct lease_info li;
		lease_get(d->lease, &li);
		reply_line(rp, "lease_refresh %" PRIu64, li.refresh);
	}
}

static void do_flush(struct admin *a, struct reply *rp)
{
	int r = daemon_flush(a->d);
	if (r < 0)
		reply_error(rp, r, "flush of %s failed: %s", a->d->conf->url, strerror(-r));
}

static void do_stats(struct admin *a, struct reply *rp)
{
	struct data_stats ds;
	struct lsm_stats ls;
	data_stats(a->d->data, &ds);
	lsm_stats(a->d->db, &ls);
#define D(x) reply_line(rp, "data." #x " %" PRIu64, ds.x)
	D(segments_uploaded); D(bytes_uploaded); D(upload_retries); D(extent_hits);
	D(extent_misses); D(part_hits); D(part_misses); D(disk_hits); D(gets); D(get_bytes);
	D(barriers); D(live_bytes); D(stored_bytes); D(dirty_bytes); D(uploads_pending);
	D(last_barrier_ns); D(cache_ram_bytes); D(cache_disk_bytes);
#undef D
#define L(x) reply_line(rp, "lsm." #x " %" PRIu64, ls.x)
	L(epoch); L(manifest_seq); L(last_seq); L(durable_seq); L(memtable_bytes);
	L(cache_hits); L(cache_misses); L(cache_bytes); L(flushes); L(compactions);
	L(compaction_bytes_in); L(compaction_bytes_out); L(objects_deleted);
#undef L
	for (int l = 0; l < LSM_LEVELS; l++) {
		reply_line(rp, "lsm.level%d_files %u", l, ls.files[l]);
		reply_line(rp, "lsm.level%d_bytes %" PRIu64, l, ls.bytes[l]);
	}
	reply_line(rp, "lsm.fenced %d", ls.fenced ? 1 : 0);
}

static void checkpoint_line(void *arg, const char *name, uint64_t seq, uint64_t created_ns)
{
	reply_line(arg, "%" PRIu64 " %" PRIu64 " %s", seq, created_ns, name);
}

static void do_checkpoint(struct admin *a, const struct admin_request *rq, struct reply *rp)
{
	const char *url = a->d->conf->url;
	int r;
	if (rq->verb == ADMIN_CHECKPOINT_LIST) {
		r = daemon_checkpoint_list(a->d, checkpoint_line, rp);
		if (r < 0)
			reply_error(rp, r, "checkpoint list in %s: %s", url, strerror(-r));
		return;
	}
	bool create = rq->verb == ADMIN_CHECKPOINT_CREATE;
	const char *name = rq->name;
	r = create ? daemon_checkpoint_create(a->d, name) : daemon_checkpoint_delete(a->d, name);
	if (r < 0)
		reply_error(rp, r, "checkpoint %s '%s' in %s: %s", create ? "create" : "delete",
			    name, url, r == -EEXIST ? "a checkpoint of that name exists" :
			    r == -ENOENT ? "no such checkpoint" : strerror(-r));
}

static void dispatch(struct admin *a, const struct admin_request *rq, struct reply *rp)
{
	switch (rq->verb) {
	case ADMIN_STATUS: do_status(a, rp); break;
	case ADMIN_FLUSH: do_flush(a, rp); break;
	case ADMIN_STATS: do_stats(a, rp); break;
	case ADMIN_CHECKPOINT_CREATE:
	case ADMIN_CHECKPOINT_DELETE:
	case ADMIN_CHECKPOINT_LIST: do_checkpoint(a, rq, rp); break;
	}
}

/* ---- decoding a request (no socket: admin_int.h) ---- */

static int refuse_request(struct admin_request *out, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int refuse_request(struct admin_request *out, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(out->msg, sizeof out->msg, fmt, ap);
	va_end(ap);
	return -err;
}

/* "checkpoint" ARGS: create NAME | delete NAME | list. */
static int parse_checkpoint(const char *args, struct admin_request *out)
{
	if (!strcmp(args, "list")) {
		out->verb = ADMIN_CHECKPOINT_LIST;
		return 0;
	}
	bool create = !strncmp(args, "create ", 7);
	if (!create && strncmp(args, "delete ", 7))
		return refuse_request(out, EINVAL,
				      "usage: checkpoint create NAME | delete NAME | list");
	out->verb = create ? ADMIN_CHECKPOINT_CREATE : ADMIN_CHECKPOINT_DELETE;
	out->name = args + 7;
	return 0;
}

/* A verb either takes no arguments (parse_args NULL) or needs some, and
 * then its parse_args sets the final verb (checkpoint create/delete/list). */
static const struct {
	const char *verb;
	enum admin_verb id;
	int (*parse_args)(const char *args, struct admin_request *out);
} requests[] = {
	{ "status", ADMIN_STATUS, NULL },
	{ "flush", ADMIN_FLUSH, NULL },
	{ "stats", ADMIN_STATS, NULL },
	{ "checkpoint", ADMIN_CHECKPOINT_LIST, parse_checkpoint },
};

/* The verb and its arguments of a line that is valid text. */
static int parse_verb(struct admin_request *out)
{
	char *line = out->line;
	char *args = strchr(line, ' ');
	if (args)
		*args++ = '\0';
	for (size_t i = 0; i < sizeof requests / sizeof requests[0]; i++) {
		if (strcmp(line, requests[i].verb))
			continue;
		bool takes_args = requests[i].parse_args != NULL;
		if (!takes_args && args && *args)
			return refuse_request(out, EINVAL, "request '%s' takes no arguments", line);
		if (takes_args && (!args || !*args))
			return refuse_request(out, EINVAL, "request '%s' needs arguments", line);
		out->verb = requests[i].id;
		return takes_args ? requests[i].parse_args(args, out) : 0;
	}
	return refuse_request(out, EINVAL,
			      "unknown request '%.64s' (status, flush, stats, checkpoint)", line);
}

int admin_parse(const char *buf, size_t len, struct admin_request *out)
{
	memset(out, 0, sizeof *out);
	if (len > ADMIN_REQUEST_MAX)
		len = ADMIN_REQUEST_MAX;
	const char *nl = memchr(buf, '\n', len);
	if (!nl && len >= ADMIN_REQUEST_MAX)
		return refuse_request(out, E2BIG, "request longer than %d bytes",
				      ADMIN_REQUEST_MAX);
	if (!nl)
		return refuse_request(out, EINVAL, "request not terminated by a newline");
	size_t n = (size_t)(nl - buf);
	/* A NUL is not printable either: it must not cut the line short. */
	for (size_t i = 0; i < n; i++)
		if (buf[i] < 0x20 || buf[i] > 0x7e)
			return refuse_request(out, EINVAL, "request is not printable text");
	memcpy(out->line, buf, n);
	out->line[n] = '\0';
	return parse_verb(out);
}

/* ---- one connection ---- */

static void set_timeouts(int fd)
{
	struct timeval tv = { .tv_sec = ADMIN_IO_TIMEOUT_MS / 1000,
			      .tv_usec = (ADMIN_IO_TIMEOUT_MS % 1000) * 1000 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

static void send_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n > 0) {
		ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return; /* the client went away or stalled: its loss */
		c += w;
		n -= (size_t)w;
	}
}

/* Wait until fd is readable or the deadline (monotonic ns) passes. */
static int wait_readable(int fd, uint64_t deadline)
{
	for (;;) {
		uint64_t now = clock_mono_ns();
		if (now >= deadline)
			return -ETIMEDOUT;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int r = poll(&p, 1, (int)((deadline - now + 999999) / 1000000));
		if (r > 0)
			return 0;
		if (r == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

/* Read until the first newline, ADMIN_REQUEST_MAX bytes or end of file
 * (admin_parse judges what came): 0 and *len, or -ETIMEDOUT / -errno
 * when there is nobody to reply to.  One deadline for the whole line, so
 * a client dribbling a byte at a time cannot hold a connection thread
 * for longer than ADMIN_IO_TIMEOUT_MS. */
static int read_request(int fd, char *buf, size_t *len)
{
	uint64_t deadline = clock_mono_ns() + (uint64_t)ADMIN_IO_TIMEOUT_MS * 1000000ull;
	size_t n = 0;
	while (n < ADMIN_REQUEST_MAX) {
		int r = wait_readable(fd, deadline);
		if (r < 0)
			return r;
		ssize_t got = recv(fd, buf + n, ADMIN_REQUEST_MAX - n, MSG_DONTWAIT);
		if (got < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
			continue;
		if (got < 0)
			return -errno;
		if (got == 0)
			break;
		bool nl = memchr(buf + n, '\n', (size_t)got) != NULL;
		n += (size_t)got;
		if (nl)
			break;
	}
	*len = n;
	return 0;
}

static void send_reply(int fd, struct reply *rp)
{
	if (rp->err) {
		char line[320];
		int n = snprintf(line, sizeof line, "ERR %d %s\n", rp->err, rp->msg);
		send_all(fd, line, (size_t)n);
		return;
	}
	send_all(fd, "OK\n", 3);
	send_all(fd, rp->out.data, rp->out.len);
	send_all(fd, ".\n", 2);
}

static void serve_conn(struct admin *a, int fd)
{
	char buf[ADMIN_REQUEST_MAX];
	size_t len = 0;
	struct admin_request rq;
	struct reply rp;
	memset(&rp, 0, sizeof rp);
	buf_init(&rp.out);
	set_timeouts(fd);
	if (read_request(fd, buf, &len) == 0) {
		int r = admin_parse(buf, len, &rq);
		if (r == 0) {
			log_debug("admin: request '%s'", rq.line);
			dispatch(a, &rq, &rp);
		} else {
			reply_error(&rp, r, "%s", rq.msg);
		}
		send_reply(fd, &rp);
	}
	buf_free(&rp.out);
}

static void *conn_main(void *arg)
{
	struct conn *c = arg;
	struct admin *a = c->a;
	serve_conn(a, c->fd);
	close(c->fd);
	free(c);
	pthread_mutex_lock(&a->mu);
	a->clients--;
	pthread_cond_broadcast(&a->idle);
	pthread_mutex_unlock(&a->mu);
	return NULL;
}

static void refuse(int fd, int err, const char *msg)
{
	char line[256];
	int n = snprintf(line, sizeof line, "ERR %d %s\n", err, msg);
	(void)send(fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
	/* Read what the client sent already: closing with unread data would
	 * reset the connection, and the client might lose our answer. */
	shutdown(fd, SHUT_WR);
	char sink[ADMIN_REQUEST_MAX];
	(void)!recv(fd, sink, sizeof sink, MSG_DONTWAIT);
	close(fd);
}

static bool peer_allowed(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof cred;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return false;
	return cred.uid == 0 || cred.uid == geteuid();
}

static void accept_one(struct admin *a)
{
	int fd = accept4(a->fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED)
			log_warn("admin: accept on %s: %s", a->path, strerror(errno));
		if (errno == EMFILE || errno == ENFILE)
			usleep(100000); /* do not spin while out of descriptors */
		return;
	}
	if (!peer_allowed(fd)) {
		refuse(fd, EACCES, "permission denied: only the daemon's user may use this socket");
		return;
	}
	pthread_mutex_lock(&a->mu);
	bool busy = a->clients >= ADMIN_MAX_CLIENTS;
	if (!busy)
		a->clients++;
	pthread_mutex_unlock(&a->mu);
	if (busy) {
		refuse(fd, EBUSY, "too many admin connections at once; try again");
		return;
	}
	struct conn *c = xmalloc(sizeof *c);
	c->a = a;
	c->fd = fd;
	pthread_t t;
	int r = pthread_create(&t, NULL, conn_main, c);
	if (r == 0) {
		pthread_detach(t);
		return;
	}
	free(c);
	refuse(fd, r, "cannot start a thread for this connection");
	pthread_mutex_lock(&a->mu);
	a->clients--;
	pthread_mutex_unlock(&a->mu);
}

static void *accept_main(void *arg)
{
	struct admin *a = arg;
	for (;;) {
		struct pollfd p[2] = { { .fd = a->fd, .events = POLLIN },
				       { .fd = a->wake[0], .events = POLLIN } };
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents)
			break;
		if (p[0].revents & POLLIN)
			accept_one(a);
	}
	return NULL;
}

/* ---- listening ---- */

static int make_parent(const char *path)
{
	char *dir = xstrdup(path);
	char *slash = strrchr(dir, '/');
	int r = 0;
	if (slash && slash != dir) {
		*slash = '\0';
		for (char *s = dir + 1; r == 0; s++) {
			if (*s && *s != '/')
				continue;
			char c = *s;
			*s = '\0';
			if (mkdir(dir, 0700) < 0 && errno != EEXIST)
				r = -errno;
			*s = c;
			if (!c)
				break;
		}
	}
	free(dir);
	return r;
}

/* Something is at path: a live socket is another daemon's; a dead one
 * is left from a daemon that died and is removed. */
static int clear_path(const char *path, const struct sockaddr_un *sa, bool replace)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		log_error("admin socket %s: something that is not a socket is there; remove it "
			  "or set [admin] socket", path);
		return -EEXIST;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int r = connect(fd, (const struct sockaddr *)sa, sizeof *sa);
	close(fd);
	if (r == 0 && replace) {
		log_warn("admin socket %s: taking it over from the daemon that answers there",
			 path);
	} else if (r == 0) {
		log_error("admin socket %s: another daemon answers there (the same store in the "
			  "same role?); stop it or set [admin] socket", path);
		return -EADDRINUSE;
	}
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	log_debug("admin socket %s: removed the socket of a daemon that died", path);
	return 0;
}

static int listen_on(const char *path, bool replace, int *out, ino_t *ino)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof sa.sun_path) {
		log_error("admin socket %s: path longer than %zu bytes", path,
			  sizeof sa.sun_path - 1);
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int r = make_parent(path);
	if (r < 0) {
		log_error("admin socket %s: cannot create its directory: %s", path, strerror(-r));
		return r;
	}
	char why[512];
	if ((r = admin_check_run_dir(path, why, sizeof why)) < 0) {
		log_error("admin socket %s: %s", path, why);
		return r;
	}
	if ((r = clear_path(path, &sa, replace)) < 0)
		return r;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	/* fchmod before bind sets the mode the socket file is created with
	 * on Linux; chmod after bind makes sure of it. */
	(void)fchmod(fd, 0600);
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || chmod(path, 0600) < 0 ||
	    listen(fd, ADMIN_MAX_CLIENTS) < 0) {
		r = -errno;
		log_error("admin socket %s: %s", path, strerror(-r));
		close(fd);
		return r;
	}
	struct stat st;
	*ino = lstat(path, &st) == 0 ? st.st_ino : 0;
	*out = fd;
	return 0;
}

int admin_start(struct daemon *d, const char *path, bool replace, struct admin **out)
{
	struct admin *a = xcalloc(1, sizeof *a);
	a->d = d;
	a->path = xstrdup(path);
	a->fd = a->wake[0] = a->wake[1] = -1;
	int r = listen_on(path, replace, &a->fd, &a->ino);
	if (r == 0 && pipe2(a->wake, O_CLOEXEC) < 0)
		r = -errno;
	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->idle, NULL);
	if (r == 0 && (r = -pthread_create(&a->thread, NULL, accept_main, a)) < 0)
		log_error("admin socket %s: cannot start its thread: %s", path, strerror(-r));
	if (r < 0) {
		if (a->fd >= 0) {
			close(a->fd);
			unlink(path);
		}
		if (a->wake[0] >= 0) {
			close(a->wake[0]);
			close(a->wake[1]);
		}
		pthread_cond_destroy(&a->idle);
		pthread_mutex_destroy(&a->mu);
		free(a->path);
		free(a);
		return r;
	}
	log_info("admin socket %s", path);
	*out = a;
	return 0;
}

void admin_stop(struct admin *a)
{
	if (!a)
		return;
	(void)!write(a->wake[1], "x", 1);
	pthread_join(a->thread, NULL);
	close(a->fd);
	unlink_ours(a);
	/* Connection threads end within ADMIN_IO_TIMEOUT_MS of their
	 * client's silence, or when their request (a flush) is done. */
	pthread_mutex_lock(&a->mu);
	while (a->clients > 0)
		pthread_cond_wait(&a->idle, &a->mu);
	pthread_mutex_unlock(&a->mu);
	close(a->wake[0]);
	close(a->wake[1]);
	pthread_cond_destroy(&a->idle);
	pthread_mutex_destroy(&a->mu);
	free(a->path);
	free(a);
}
