/* nfsfix.h -- what the NFS tests share (header-only): a bucketfs daemon
 * serving NFSv3 on a temp file:// store, started and stopped by pid, and
 * a free TCP port to serve on.
 *
 * A daemon is `$BUCKETFS_BIN run -c CONF --store file://DIR/store --nfs
 * 127.0.0.1:PORT [extra args]` with BUCKETFS_PASSWORD set, its output in
 * DIR/log.  It serves once a TCP connection to the port succeeds (NFS and
 * MOUNT share that port, so no portmapper is involved). */
#ifndef BUCKETFS_NFSFIX_H
#define BUCKETFS_NFSFIX_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct nfsd {
	pid_t pid;
	int port;
	char dir[256];     /* its store, cache, socket and log live here */
	char conf[300];
	char log[300];
};

static inline double nfsfix_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A TCP port on 127.0.0.1 nobody listens on right now. */
static inline int nfsfix_free_port(void)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t l = sizeof a;
	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) || getsockname(s, (struct sockaddr *)&a, &l)) {
		perror("nfsfix: free port");
		exit(2);
	}
	close(s);
	return ntohs(a.sin_port);
}

/* A TCP connection to 127.0.0.1:port, or -1. */
static inline int nfsfix_connect(int port)
{
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (s < 0)
		return -1;
	if (connect(s, (struct sockaddr *)&a, sizeof a)) {
		close(s);
		return -1;
	}
	return s;
}

/* Make dir (under TMPDIR or /tmp) for a daemon named name and write its
 * configuration: the common part plus extra (more sections, e.g.
 * "[nfs]\nsquash = \"none\"\n"). */
static inline void nfsd_prepare(struct nfsd *d, const char *name, const char *extra)
{
	const char *t = getenv("TMPDIR");
	memset(d, 0, sizeof *d);
	snprintf(d->dir, sizeof d->dir, "%s/bucketfs-%s-XXXXXX", t && *t ? t : "/tmp", name);
	if (!mkdtemp(d->dir)) {
		perror("nfsfix: mkdtemp");
		exit(2);
	}
	chmod(d->dir, 0755);
	snprintf(d->conf, sizeof d->conf, "%s/test.conf", d->dir);
	snprintf(d->log, sizeof d->log, "%s/log", d->dir);
	FILE *f = fopen(d->conf, "w");
	if (!f) {
		perror("nfsfix: conf");
		exit(2);
	}
	fprintf(f, "[filesystem]\nflush_interval = \"500ms\"\nlease_interval = \"300ms\"\n"
		   "[cache]\ndir = \"%s/cache\"\n[admin]\nsocket = \"%s/admin.sock\"\n%s",
		d->dir, d->dir, extra ? extra : "");
	fclose(f);
}

/* Rewrite the configuration's extra part (for a restart with other settings). */
static inline void nfsd_reconfigure(struct nfsd *d, const char *extra)
{
	FILE *f = fopen(d->conf, "w");
	if (!f) {
		perror("nfsfix: conf");
		exit(2);
	}
	fprintf(f, "[filesystem]\nflush_interval = \"500ms\"\nlease_interval = \"300ms\"\n"
		   "[cache]\ndir = \"%s/cache\"\n[admin]\nsocket = \"%s/admin.sock\"\n%s",
		d->dir, d->dir, extra ? extra : "");
	fclose(f);
}

static inline void nfsd_show_log(const struct nfsd *d)
{
	char cmd[400];
	printf("# daemon log %s (last lines):\n", d->log);
	fflush(stdout);
	snprintf(cmd, sizeof cmd, "tail -n 25 '%s' | sed 's/^/#   /'", d->log);
	if (system(cmd) < 0)
		perror("system");
}

/* Start the daemon on store (a file:// URL; NULL: DIR/store) with the
 * extra arguments (NULL-terminated); on a new free port unless d->port is
 * set.  0 once its port accepts connections, -1 if it died or did not
 * serve within 30 s (its log is shown). */
static inline int nfsd_start(struct nfsd *d, const char *store, ...)
{
	const char *bin = getenv("BUCKETFS_BIN");
	char url[320], listen[64];
	const char *argv[32];
	int argc = 0;
	va_list ap;

	if (!bin || !*bin)
		bin = "build/bucketfs";
	if (!store) {
		snprintf(url, sizeof url, "file://%s/store", d->dir);
		store = url;
	}
	if (!d->port)
		d->port = nfsfix_free_port();
	snprintf(listen, sizeof listen, "127.0.0.1:%d", d->port);
	argv[argc++] = bin;
	argv[argc++] = "run";
	argv[argc++] = "-c";
	argv[argc++] = d->conf;
	argv[argc++] = "--store";
	argv[argc++] = store;
	argv[argc++] = "--nfs";
	argv[argc++] = listen;
	va_start(ap, store);
	for (const char *a; argc < 31 && (a = va_arg(ap, const char *));)
		argv[argc++] = a;
	va_end(ap);
	argv[argc] = NULL;

	fflush(stdout);
	pid_t parent = getpid();
	d->pid = fork();
	if (d->pid < 0) {
		perror("fork");
		exit(2);
	}
	if (d->pid == 0) {
		/* a test that dies (an abort, a sanitizer) takes its daemons along */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		int fd = open(d->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		setenv("BUCKETFS_PASSWORD", "nfs-test-password", 1);
		unsetenv("BUCKETFS_CONFIG");
		unsetenv("BUCKETFS_STORE");
		execv(bin, (char *const *)argv);
		perror("execv");
		_exit(127);
	}
	double end = nfsfix_now() + 30;
	while (nfsfix_now() < end) {
		int st;
		if (waitpid(d->pid, &st, WNOHANG) == d->pid) {
			printf("# daemon %s exited (status 0x%x) before serving NFS on %s\n", d->dir, st, listen);
			d->pid = 0;
			nfsd_show_log(d);
			return -1;
		}
		int s = nfsfix_connect(d->port);
		if (s >= 0) {
			close(s);
			return 0;
		}
		usleep(50 * 1000);
	}
	printf("# daemon %s did not serve NFS on %s within 30 s\n", d->dir, listen);
	nfsd_show_log(d);
	return -1;
}

/* Stop it with sig (SIGTERM: orderly; SIGKILL: a crash); after 60 s it is
 * killed.  Its exit status as waitpid gives it, or -1 if none ran. */
static inline int nfsd_stop(struct nfsd *d, int sig)
{
	int st = -1;
	if (d->pid <= 0)
		return -1;
	kill(d->pid, sig);
	double end = nfsfix_now() + 60;
	for (;;) {
		pid_t r = waitpid(d->pid, &st, WNOHANG);
		if (r == d->pid || (r < 0 && errno != EINTR))
			break;
		if (nfsfix_now() > end) {
			printf("# daemon %d did not exit within 60 s: killed\n", (int)d->pid);
			kill(d->pid, SIGKILL);
			waitpid(d->pid, &st, 0);
			break;
		}
		usleep(20 * 1000);
	}
	d->pid = 0;
	return st;
}

/* Stop it (if running) and remove its directory. */
static inline void nfsd_cleanup(struct nfsd *d)
{
	char cmd[320];
	if (!d->dir[0])
		return;
	nfsd_stop(d, SIGKILL);
	if (getenv("NFS_TEST_KEEP"))
		return;
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", d->dir);
	if (system(cmd) < 0)
		perror("system");
	d->dir[0] = 0;
}

#endif
