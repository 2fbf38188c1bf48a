/* ninep-daemon.h -- start and stop `bucketfs run --ninep` for the C 9P
 * tests (header-only).
 *
 * Each daemon gets a temp dir with a file:// store, a configuration (short
 * flush, lease and refresh intervals, its own cache dir), its own admin
 * socket and a free TCP port on 127.0.0.1; its log goes to DIR/NAME.log and
 * is shown when a test fails.  NINEP_ADDR=HOST:PORT instead points the
 * tests at a running server (for checking the tests against diod). */
#ifndef BUCKETFS_NINEP_DAEMON_H
#define BUCKETFS_NINEP_DAEMON_H

#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "ninep-client.h"
#include "testutil.h"

struct ninep_daemon {
	pid_t pid;
	char addr[64];		/* 127.0.0.1:PORT */
	char sock[256];		/* the --ninep-socket path, "" if none */
	char log[256];
};

/* A TCP port nobody listens on now (bind to 0, read it, close). */
static inline int ninep_free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof sa;
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
		abort();
	close(fd);
	return ntohs(sa.sin_port);
}

static inline void ninep_write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f || fputs(text, f) < 0 || fclose(f) != 0)
		abort();
}

static inline void ninep_show_log(const struct ninep_daemon *d)
{
	char *cmd = xasprintf("tail -n 40 '%s' | sed 's/^/#   /'", d->log);
	printf("# daemon log %s:\n", d->log);
	fflush(stdout);
	if (system(cmd) != 0)
		printf("#   (no log)\n");
	free(cmd);
}

/* Starts `bucketfs run` on DIR/store named NAME with extra arguments
 * (NULL-terminated), waits until its TCP port answers a Tversion (30 s).
 * 0, or -1 with the log shown. */
static inline int ninep_daemon_start(struct ninep_daemon *d, const char *dir, const char *name,
				     bool with_socket, ...)
{
	memset(d, 0, sizeof *d);
	snprintf(d->addr, sizeof d->addr, "127.0.0.1:%d", ninep_free_port());
	snprintf(d->log, sizeof d->log, "%s/%s.log", dir, name);
	if (with_socket)
		snprintf(d->sock, sizeof d->sock, "%s/%s.9p.sock", dir, name);
	char *conf = xasprintf("%s/%s.conf", dir, name);
	char *text = xasprintf("[filesystem]\nflush_interval = \"200ms\"\nlease_interval = \"300ms\"\n"
			       "refresh_interval = \"200ms\"\n[cache]\ndir = \"%s/%s.cache\"\n", dir, name);
	ninep_write_file(conf, text);
	free(text);
	char *store = xasprintf("file://%s/store", dir);
	char *admin = xasprintf("%s/%s.admin.sock", dir, name);

	const char *argv[32];
	int n = 0;
	const char *bin = getenv("BUCKETFS_BIN");
	argv[n++] = bin && *bin ? bin : "build/bucketfs";
	argv[n++] = "run";
	argv[n++] = "-c"; argv[n++] = conf;
	argv[n++] = "--store"; argv[n++] = store;
	argv[n++] = "--socket"; argv[n++] = admin;
	argv[n++] = "--ninep"; argv[n++] = d->addr;
	if (with_socket) {
		argv[n++] = "--ninep-socket";
		argv[n++] = d->sock;
	}
	va_list ap;
	va_start(ap, with_socket);
	for (const char *a; n < 30 && (a = va_arg(ap, const char *));)
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;

	fflush(stdout);
	d->pid = fork();
	if (d->pid == 0) {
		int fd = open(d->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		setenv("BUCKETFS_PASSWORD", "ninep-test-password", 1);
		execv(argv[0], (char **)argv);
		_exit(127);
	}
	free(conf);
	free(store);
	free(admin);
	for (int i = 0; i < 600; i++) {
		int st;
		if (waitpid(d->pid, &st, WNOHANG) == d->pid) {
			printf("# bucketfs %s exited (status %d) before serving\n", name, st);
			d->pid = 0;
			ninep_show_log(d);
			return -1;
		}
		struct p9c *c = p9c_connect(d->addr);
		if (c) {
			c->timeout_ms = 2000;
			int rc = p9_version(c, 65536, "9P2000.L", NULL, NULL, 0);
			p9c_close(c);
			if (rc == 0)
				return 0;
		}
		usleep(50000);
	}
	printf("# bucketfs %s did not answer Tversion on %s within 30 s\n", name, d->addr);
	ninep_show_log(d);
	return -1;
}

/* Stops it with sig and reaps it (SIGKILL after 30 s); its exit status. */
static inline int ninep_daemon_stop(struct ninep_daemon *d, int sig)
{
	if (d->pid <= 0)
		return 0;
	kill(d->pid, sig);
	int st = 0;
	for (int i = 0; i < 600; i++) {
		if (waitpid(d->pid, &st, WNOHANG) == d->pid) {
			d->pid = 0;
			return st;
		}
		usleep(50000);
	}
	printf("# bucketfs pid %d did not stop: killed\n", (int)d->pid);
	kill(d->pid, SIGKILL);
	waitpid(d->pid, &st, 0);
	d->pid = 0;
	return -1;
}

/* The daemon still runs (not exited or a zombie). */
static inline bool ninep_daemon_alive(struct ninep_daemon *d)
{
	int st;
	return d->pid > 0 && waitpid(d->pid, &st, WNOHANG) == 0;
}

static inline uint64_t ninep_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

#endif
