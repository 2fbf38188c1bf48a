/*
 * helper-lock.c -- fcntl locks from the command line, for shell tests.
 *
 *   helper-lock FILE STEP...
 *
 * Opens FILE read-write and runs the steps in order, printing one line
 * per lock step ("lk w 0 10: ok", "...: EAGAIN") and flushing it, so a
 * test can run several of these side by side and read what each got:
 *
 *   lk:T:START:LEN     F_SETLK      (T: r, w or u)
 *   lkw:T:START:LEN    F_SETLKW
 *   ofd:T:START:LEN    F_OFD_SETLK
 *   ofdw:T:START:LEN   F_OFD_SETLKW
 *   get:T:START:LEN    F_GETLK: "get ...: unlocked" or "get ...: w 0 10 pid=N"
 *   say:TEXT           print TEXT
 *   sleep:MS           sleep
 *   alarm:MS           SIGALRM after MS, with a handler and no SA_RESTART,
 *                      so a blocked F_SETLKW returns EINTR
 *   close              close FILE (POSIX locks of this process go)
 *   reopen             open FILE again
 *
 * Exit status 0, or 2 on a usage error or when FILE cannot be opened.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

static void on_alarm(int sig)
{
	(void)sig;
}

static int lock_type(char c)
{
	return c == 'r' ? F_RDLCK : c == 'w' ? F_WRLCK : c == 'u' ? F_UNLCK : -1;
}

static char type_char(int t)
{
	return t == F_RDLCK ? 'r' : t == F_WRLCK ? 'w' : 'u';
}

static const char *errno_name(int e)
{
	switch (e) {
	case EAGAIN: return "EAGAIN";
	case EACCES: return "EACCES";
	case EDEADLK: return "EDEADLK";
	case EINTR: return "EINTR";
	case EBADF: return "EBADF";
	case EINVAL: return "EINVAL";
	case ENOLCK: return "ENOLCK";
	default: return strerror(e);
	}
}

/* A lock step "op:T:START:LEN": 0 done, -1 usage error. */
static int lock_step(int fd, const char *step)
{
	char op[8], t;
	long long start, len;
	if (sscanf(step, "%7[a-z]:%c:%lld:%lld", op, &t, &start, &len) != 4 || lock_type(t) < 0)
		return -1;
	struct flock fl = { .l_type = (short)lock_type(t), .l_whence = SEEK_SET,
			    .l_start = start, .l_len = len };
	int cmd;
	if (!strcmp(op, "lk"))
		cmd = F_SETLK;
	else if (!strcmp(op, "lkw"))
		cmd = F_SETLKW;
	else if (!strcmp(op, "ofd"))
		cmd = F_OFD_SETLK;
	else if (!strcmp(op, "ofdw"))
		cmd = F_OFD_SETLKW;
	else if (!strcmp(op, "get"))
		cmd = F_GETLK;
	else
		return -1;
	printf("%s %c %lld %lld: ", op, t, start, len);
	if (fcntl(fd, cmd, &fl) < 0)
		printf("%s\n", errno_name(errno));
	else if (cmd != F_GETLK)
		printf("ok\n");
	else if (fl.l_type == F_UNLCK)
		printf("unlocked\n");
	else
		printf("%c %lld %lld pid=%d\n", type_char(fl.l_type), (long long)fl.l_start,
		       (long long)fl.l_len, (int)fl.l_pid);
	fflush(stdout);
	return 0;
}

static void set_alarm(long ms)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_alarm; /* no SA_RESTART: the blocked call fails */
	sigaction(SIGALRM, &sa, NULL);
	struct itimerval it = { { 0, 0 }, { ms / 1000, (ms % 1000) * 1000 } };
	setitimer(ITIMER_REAL, &it, NULL);
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: helper-lock FILE STEP...\n");
		return 2;
	}
	const char *path = argv[1];
	int fd = open(path, O_RDWR);
	if (fd < 0) {
		fprintf(stderr, "helper-lock: open %s: %s\n", path, strerror(errno));
		return 2;
	}
	for (int i = 2; i < argc; i++) {
		const char *s = argv[i];
		int bad = 0;
		if (!strncmp(s, "say:", 4)) {
			printf("%s\n", s + 4);
			fflush(stdout);
		} else if (!strncmp(s, "sleep:", 6)) {
			usleep((useconds_t)atol(s + 6) * 1000);
		} else if (!strncmp(s, "alarm:", 6)) {
			set_alarm(atol(s + 6));
		} else if (!strcmp(s, "close")) {
			close(fd);
			fd = -1;
		} else if (!strcmp(s, "reopen")) {
			fd = open(path, O_RDWR);
			if (fd < 0) {
				fprintf(stderr, "helper-lock: open %s: %s\n", path, strerror(errno));
				return 2;
			}
		} else {
			bad = lock_step(fd, s) < 0;
		}
		if (bad) {
			fprintf(stderr, "helper-lock: bad step '%s'\n", s);
			return 2;
		}
	}
	return 0;
}
