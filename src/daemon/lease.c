/* lease.c -- the writer's lease object: format, judging it, refreshing it
 * (see lease.h for the rules and the choice on clock skew). */
#include "daemon/lease.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/clock.h"
#include "util/log.h"
#include "util/mem.h"

#define LEASE_MAGIC "bucketfs-lease 1"
#define LEASE_MAX_BYTES 4096

struct lease {
	objstore *st;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	bool stop, fenced_seen;
	struct lease_info info;     /* ours, as last written */
	void (*fenced)(void *arg, uint64_t epoch, const char *who);
	void *arg;
};

/* ---- format ---- */

static int format(const struct lease_info *l, char *buf, size_t size)
{
	return snprintf(buf, size,
			LEASE_MAGIC "\nhost %s\npid %" PRId64 "\nstart %" PRIu64 "\nepoch %" PRIu64
			"\nrefresh %" PRIu64 "\ntime %" PRIu64 "\nperiod %" PRIu64 "\nstate %s\n",
			l->host, l->pid, l->start_ns, l->epoch, l->refresh, l->time_ns, l->period_ms,
			l->released ? "released" : "live");
}

static bool parse_u64(const char *s, uint64_t *v)
{
	char *end;
	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	unsigned long long x = strtoull(s, &end, 10);
	if (errno || *end)
		return false;
	*v = x;
	return true;
}

/* The host is logged and shown: printable ASCII only (anything else
 * becomes '?', so a corrupted lease cannot drive a terminal), and it must
 * fit. */
static bool parse_host(const char *v, char *host, size_t size)
{
	size_t n = strlen(v);
	if (n >= size)
		return false;
	for (size_t i = 0; i < n; i++)
		host[i] = v[i] >= 0x20 && v[i] <= 0x7e ? v[i] : '?';
	host[n] = '\0';
	return true;
}

static bool parse_line(char *line, struct lease_info *out, unsigned *seen)
{
	static const char *const keys[] = { "host", "pid", "start", "epoch", "refresh",
					    "time", "period", "state" };
	char *sp = strchr(line, ' ');
	if (!sp)
		return false;
	*sp = '\0';
	const char *v = sp + 1;
	uint64_t *nums[] = { NULL, NULL, &out->start_ns, &out->epoch, &out->refresh,
			     &out->time_ns, &out->period_ms, NULL };
	for (unsigned i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		if (strcmp(line, keys[i]))
			continue;
		*seen |= 1u << i;
		uint64_t pid;
		if (i == 0)
			return parse_host(v, out->host, sizeof out->host);
		if (i == 1) {
			if (!parse_u64(v, &pid) || pid > INT32_MAX)
				return false;
			out->pid = (int64_t)pid;
			return true;
		}
		if (i == 7) {
			out->released = !strcmp(v, "released");
			return out->released || !strcmp(v, "live");
		}
		return parse_u64(v, nums[i]);
	}
	return true; /* unknown keys: from a newer version, ignored */
}

int lease_parse(const char *text, size_t len, struct lease_info *out)
{
	memset(out, 0, sizeof *out);
	if (len > LEASE_MAX_BYTES || memchr(text, '\0', len))
		return -EBADMSG;
	char *copy = xmalloc(len + 1);
	memcpy(copy, text, len);
	copy[len] = '\0';
	char *save = NULL, *line = strtok_r(copy, "\n", &save);
	int r = line && !strcmp(line, LEASE_MAGIC) ? 0 : -EBADMSG;
	unsigned seen = 0;
	while (r == 0 && (line = strtok_r(NULL, "\n", &save)))
		if (!parse_line(line, out, &seen))
			r = -EBADMSG;
	if (r == 0 && seen != 0xff)
		r = -EBADMSG; /* every key is needed */
	free(copy);
	return r;
}

int lease_read(objstore *st, struct lease_info *out)
{
	void *data = NULL;
	size_t len = 0;
	/* One byte more than a lease may hold: a corrupted huge object is
	 * refused without being fetched whole. */
	int r = objstore_get(st, LEASE_OBJECT, 0, LEASE_MAX_BYTES + 1, &data, &len);
	if (r == 0 && len > LEASE_MAX_BYTES) {
		log_warn("%s: the %s object is longer than %d bytes: not a lease (corrupted?)",
			 objstore_url(st), LEASE_OBJECT, LEASE_MAX_BYTES);
		r = -EBADMSG;
	}
	if (r == 0)
		r = lease_parse(data, len, out);
	free(data);
	return r;
}

/* ---- judging ---- */

static void local_host(char *buf, size_t size)
{
	if (gethostname(buf, size) < 0)
		snprintf(buf, size, "unknown");
	buf[size - 1] = '\0';
}

bool lease_alive(const struct lease_info *l, uint64_t now_ns)
{
	char host[256];
	if (l->released)
		return false;
	local_host(host, sizeof host);
	if (!strcmp(host, l->host) && l->pid > 0 && kill((pid_t)l->pid, 0) < 0 && errno == ESRCH)
		return false; /* its process is gone */
	uint64_t period = l->period_ms ? l->period_ms : 10000;
	uint64_t stale_after = l->time_ns + LEASE_STALE_PERIODS * period * 1000000ull;
	return now_ns < stale_after;
}

static void format_time(uint64_t ns, char *buf, size_t size)
{
	time_t t = (time_t)(ns / 1000000000ull);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, size, "%Y-%m-%d %H:%M:%SZ", &tm);
}

void lease_describe(const struct lease_info *l, char *buf, size_t size)
{
	char start[64];
	format_time(l->start_ns, start, sizeof start);
	snprintf(buf, size, "host %s, pid %" PRId64 ", started %s, epoch %" PRIu64, l->host,
		 l->pid, start, l->epoch);
}

/* A lease refreshed "in the future" by more than the staleness window
 * means a clock is wrong on one of the hosts: it then looks alive for
 * that much longer.  Said once per start, naming the writer. */
static void warn_if_future(objstore *st, const struct lease_info *l, uint64_t now_ns)
{
	uint64_t period = l->period_ms ? l->period_ms : 10000;
	uint64_t window = period < UINT64_MAX / (LEASE_STALE_PERIODS * 1000000ull)
				  ? LEASE_STALE_PERIODS * period * 1000000ull : UINT64_MAX;
	if (l->time_ns <= now_ns || l->time_ns - now_ns <= window)
		return;
	log_warn("%s: the writer's lease (host %s, pid %" PRId64 ") was refreshed %.1f s in the "
		 "future: a clock is skewed on that host or this one; the lease looks alive until "
		 "that time passes (or use --takeover)", objstore_url(st), l->host, l->pid,
		 (double)(l->time_ns - now_ns) / 1e9);
}

int lease_check(objstore *st, bool takeover)
{
	struct lease_info l;
	char who[400];
	int r = lease_read(st, &l);
	if (r == -ENOENT)
		return 0;
	if (r == -EBADMSG) {
		log_warn("%s: the %s object does not parse; taking it as stale",
			 objstore_url(st), LEASE_OBJECT);
		return 0;
	}
	if (r < 0) {
		log_error("cannot read the writer's lease %s in %s: %s", LEASE_OBJECT,
			  objstore_url(st), strerror(-r));
		return r;
	}
	uint64_t now = clock_wall_ns();
	warn_if_future(st, &l, now);
	if (!lease_alive(&l, now))
		return 0;
	lease_describe(&l, who, sizeof who);
	if (takeover) {
		log_warn("%s: taking over from the live writer (%s): it is fenced out and its "
			 "writes after its last flush are lost", objstore_url(st), who);
		return 0;
	}
	log_error("%s already has a live writer (%s, lease refreshed %" PRIu64 " times); stop "
		  "it first, run a read-only replica (--read-only), or take over with --takeover "
		  "(which fences it out)", objstore_url(st), who, l.refresh);
	return -EBUSY;
}

/* ---- refreshing ---- */

static int write_lease(struct lease *ls)
{
	char buf[LEASE_MAX_BYTES];
	int n = format(&ls->info, buf, sizeof buf);
	return objstore_put(ls->st, LEASE_OBJECT, buf, (size_t)n);
}

/* Another writer's lease of a newer epoch: we were taken over. */
static bool taken_over(struct lease *ls, char *who, size_t size, uint64_t *epoch)
{
	struct lease_info cur;
	if (lease_read(ls->st, &cur) < 0)
		return false;
	if (cur.epoch <= ls->info.epoch)
		return false;
	lease_describe(&cur, who, size);
	*epoch = cur.epoch;
	return true;
}

static void refresh_once(struct lease *ls, int *last_err)
{
	char who[400];
	uint64_t epoch;
	if (taken_over(ls, who, sizeof who, &epoch)) {
		ls->fenced_seen = true;
		log_error("fenced: another writer (%s) took over %s; this daemon (epoch %" PRIu64
			  ") no longer writes: its changes fail with EROFS", who,
			  objstore_url(ls->st), ls->info.epoch);
		if (ls->fenced)
			ls->fenced(ls->arg, epoch, who);
		return;
	}
	pthread_mutex_lock(&ls->mu);
	ls->info.refresh++;
	ls->info.time_ns = clock_wall_ns();
	pthread_mutex_unlock(&ls->mu);
	int r = write_lease(ls);
	if (r < 0 && r != *last_err)
		log_warn("cannot refresh the writer's lease %s in %s: %s (will retry)",
			 LEASE_OBJECT, objstore_url(ls->st), strerror(-r));
	else if (r == 0 && *last_err)
		log_info("the writer's lease in %s is refreshed again", objstore_url(ls->st));
	*last_err = r;
}

static void *lease_main(void *arg)
{
	struct lease *ls = arg;
	int last_err = 0;
	pthread_mutex_lock(&ls->mu);
	while (!ls->stop && !ls->fenced_seen) {
		uint64_t until = clock_mono_ns() + ls->info.period_ms * 1000000ull;
		while (!ls->stop && clock_mono_ns() < until)
			clock_cond_wait(&ls->cond, &ls->mu, until - clock_mono_ns());
		if (ls->stop)
			break;
		pthread_mutex_unlock(&ls->mu);
		refresh_once(ls, &last_err);
		pthread_mutex_lock(&ls->mu);
	}
	pthread_mutex_unlock(&ls->mu);
	return NULL;
}

int lease_start(objstore *st, uint64_t epoch, uint64_t period_ms,
		void (*fenced)(void *arg, uint64_t epoch, const char *who), void *arg,
		struct lease **out)
{
	struct lease *ls = xcalloc(1, sizeof *ls);
	ls->st = st;
	ls->fenced = fenced;
	ls->arg = arg;
	local_host(ls->info.host, sizeof ls->info.host);
	ls->info.pid = (int64_t)getpid();
	ls->info.start_ns = ls->info.time_ns = clock_wall_ns();
	ls->info.epoch = epoch;
	ls->info.refresh = 1;
	ls->info.period_ms = period_ms ? period_ms : 10000;
	pthread_mutex_init(&ls->mu, NULL);
	pthread_cond_init(&ls->cond, NULL);
	int r = write_lease(ls);
	if (r < 0)
		log_error("cannot write the writer's lease %s in %s: %s", LEASE_OBJECT,
			  objstore_url(st), strerror(-r));
	if (r == 0 && (r = -pthread_create(&ls->thread, NULL, lease_main, ls)) < 0)
		log_error("cannot start the lease thread: %s", strerror(-r));
	if (r < 0) {
		pthread_cond_destroy(&ls->cond);
		pthread_mutex_destroy(&ls->mu);
		free(ls);
		return r;
	}
	*out = ls;
	return 0;
}

void lease_get(struct lease *ls, struct lease_info *out)
{
	pthread_mutex_lock(&ls->mu);
	*out = ls->info;
	pthread_mutex_unlock(&ls->mu);
}

void lease_stop(struct lease *ls, bool release)
{
	char who[400];
	uint64_t epoch;
	if (!ls)
		return;
	pthread_mutex_lock(&ls->mu);
	ls->stop = true;
	pthread_cond_broadcast(&ls->cond);
	pthread_mutex_unlock(&ls->mu);
	pthread_join(ls->thread, NULL);
	if (release && !ls->fenced_seen && !taken_over(ls, who, sizeof who, &epoch)) {
		ls->info.released = true;
		ls->info.time_ns = clock_wall_ns();
		int r = write_lease(ls);
		if (r < 0)
			log_warn("cannot release the writer's lease %s in %s: %s (the next writer "
				 "waits until it is stale)", LEASE_OBJECT, objstore_url(ls->st),
				 strerror(-r));
	}
	pthread_cond_destroy(&ls->cond);
	pthread_mutex_destroy(&ls->mu);
	free(ls);
}
