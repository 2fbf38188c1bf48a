/* mount_helper.c -- `bucketfs SOURCE DIR -o OPTS`: the form mount(8) uses.
 *
 * `mount -t fuse.bucketfs SOURCE DIR -o OPTS` (or an fstab line of that
 * type) runs mount.fuse3, which drops the options only mount(8) knows
 * (_netdev, nofail, user, ...) and runs `/bin/sh -c 'bucketfs SOURCE DIR
 * -o OPTS'` with no PATH of its own (so the shell's default one: bucketfs
 * must be in /usr/local/bin, /usr/bin or /bin) and often no terminal.
 *
 * SOURCE is a store URL or a directory (file://); the options map onto
 * the configuration (conf=FILE loads one first, so options win over it):
 * ro/rw (a read-only replica / the writer), allow_other, the kernel's
 * dev/nodev/suid/nosuid/exec/noexec/noatime/relatime/strictatime ([mount]
 * options; noatime also stops the core's atime updates), subtype=NAME,
 * password_file=FILE, log=FILE.  Options only fstab or mount(8) use
 * (defaults, auto, noauto, _netdev, nofail, user, users, nouser, owner,
 * group, comment=, x-*) are ignored; anything else is refused, by name,
 * before anything is opened.  The password never comes from the command
 * line: password_file=, else the configuration's, else
 * $BUCKETFS_PASSWORD; there is no prompt (mount(8) may have no terminal).
 *
 * Detaching.  mount(8) waits for us, so the daemon must leave the
 * foreground, but only once the mount is live: the process forks; the
 * child starts a session (setsid: a hangup of the caller's terminal is
 * not a stop signal for it), runs the daemon with its stderr on a pipe to
 * the parent, which copies it to its own stderr, and a watcher thread in
 * the child reports on a second pipe once the mount answers (listed in
 * /proc/self/mountinfo with our type, and a statx answered).  The child
 * then points stderr at the log file (log=FILE, else /var/log/bucketfs.log
 * for root, else /dev/null) and the parent exits 0.  If the daemon stops
 * first, the parent has copied its error and exits with its status. */
#include "cli/mount_helper.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "crypt/aead.h"
#include "daemon/conf.h"
#include "daemon/daemon.h"
#include "fuse/fuse.h"
#include "util/log.h"
#include "util/mem.h"

#define PASSWORD_MAX 1024

struct helper {
	const char *source, *dir;
	char *abs_dir;
	char *opts;             /* every -o joined with commas */
	char *split;            /* opts cut at the commas: the values point here */
	const char *conf_file, *password_file, *log_file;
	const char *subtype;    /* NULL: the configuration's */
	char *flags;            /* kernel mount options, in order */
	int read_only;          /* -1: the configuration's */
	bool allow_other, no_atime, atime;
};

/* Options fstab and mount(8) use, which mean nothing to the daemon. */
static bool ignored_option(const char *o)
{
	static const char *const names[] = { "defaults", "auto", "noauto", "_netdev", "nofail",
					    "user", "users", "nouser", "owner", "group" };
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (!strcmp(o, names[i]))
			return true;
	return !strncmp(o, "x-", 2) || !strncmp(o, "comment=", 8);
}

static void add_flag(struct helper *h, const char *o)
{
	char *next = xasprintf("%s%s%s", h->flags ? h->flags : "", h->flags ? "," : "", o);
	free(h->flags);
	h->flags = next;
}

/* One option of -o.  0, or -EINVAL after saying which and why. */
static int parse_option(struct helper *h, char *o)
{
	char *eq = strchr(o, '=');
	const char *v = eq ? eq + 1 : NULL;
	if (!*o || ignored_option(o))
		return 0;
	if (eq)
		*eq = '\0';
	if (!v && (!strcmp(o, "ro") || !strcmp(o, "rw")))
		h->read_only = o[1] == 'o';
	else if (!v && !strcmp(o, "allow_other"))
		h->allow_other = true;
	else if (!v && fuse_mount_flag_known(o)) {
		add_flag(h, o);
		if (strstr(o, "atime")) {
			h->no_atime = !strcmp(o, "noatime");
			h->atime = !h->no_atime;
		}
	} else if (v && !strcmp(o, "conf") && *v)
		h->conf_file = v;
	else if (v && !strcmp(o, "password_file") && *v)
		h->password_file = v;
	else if (v && !strcmp(o, "log") && *v)
		h->log_file = v;
	else if (v && !strcmp(o, "subtype"))
		h->subtype = v;   /* "" allowed: plain "fuse" */
	else {
		fprintf(stderr, "bucketfs: mount %s: unknown mount option '%s%s%s' (known: ro, "
			"rw, allow_other, dev, nodev, suid, nosuid, exec, noexec, noatime, relatime, "
			"strictatime, subtype=NAME, conf=FILE, password_file=FILE, log=FILE; "
			"ignored: defaults, auto, noauto, _netdev, nofail, user, x-*)\n", h->dir, o,
			v ? "=" : "", v ? v : "");
		return -EINVAL;
	}
	return 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: bucketfs SOURCE DIR [-o OPTIONS]   (the form mount -t "
		"fuse.bucketfs uses; see bucketfs(8))\n");
	return 2;
}

/* argv: bucketfs SOURCE DIR [-o OPTS]... (mount(8) may also pass -n,
 * -s, -v and -t TYPE, which change nothing here). */
static int parse_args(struct helper *h, int argc, char **argv)
{
	memset(h, 0, sizeof *h);
	h->read_only = -1;
	h->opts = xstrdup("");
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-o") && i + 1 < argc) {
			char *next = xasprintf("%s,%s", h->opts, argv[++i]);
			free(h->opts);
			h->opts = next;
		} else if (!strncmp(a, "-o", 2) && a[2]) {
			char *next = xasprintf("%s,%s", h->opts, a + 2);
			free(h->opts);
			h->opts = next;
		} else if (!strcmp(a, "-n") || !strcmp(a, "-s") || !strcmp(a, "-v")) {
			continue;
		} else if (!strcmp(a, "-t") && i + 1 < argc) {
			i++; /* mount(8) names the type it ran us for */
		} else if (a[0] == '-' || (h->source && h->dir)) {
			fprintf(stderr, "bucketfs: mount: unexpected argument '%s'\n", a);
			return usage();
		} else if (!h->source) {
			h->source = a;
		} else {
			h->dir = a;
		}
	}
	if (!h->source || !h->dir || !*h->source)
		return usage();
	char *save = NULL;
	int r = 0;
	h->split = xstrdup(h->opts);
	for (char *o = strtok_r(h->split, ",", &save); o && r == 0; o = strtok_r(NULL, ",", &save))
		r = parse_option(h, o);
	return r < 0 ? 1 : 0;
}

/* SOURCE: a URL as it is, a directory as file:// of its absolute path. */
static char *source_url(const char *source)
{
	if (strstr(source, "://"))
		return xstrdup(source);
	if (source[0] == '/')
		return xasprintf("file://%s", source);
	char cwd[PATH_MAX];
	if (!getcwd(cwd, sizeof cwd))
		return NULL;
	return xasprintf("file://%s/%s", cwd, source);
}

/* The first line of a file only its owner may read. */
static char *read_password_file(const char *path, const char *dir)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		fprintf(stderr, "bucketfs: mount %s: cannot read password_file %s: %s\n", dir, path,
			strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	if (st.st_mode & 077) {
		fprintf(stderr, "bucketfs: mount %s: password_file %s is readable by others (mode "
			"%04o): refused; chmod 600 %s\n", dir, path, (unsigned)(st.st_mode & 07777),
			path);
		close(fd);
		return NULL;
	}
	char buf[PASSWORD_MAX + 2];
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n < 0) {
		fprintf(stderr, "bucketfs: mount %s: cannot read password_file %s: %s\n", dir, path,
			strerror(errno));
		return NULL;
	}
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	char *pw = *buf ? xstrdup(buf) : NULL;
	if (!pw)
		fprintf(stderr, "bucketfs: mount %s: password_file %s holds an empty password: "
			"refused\n", dir, path);
	crypt_wipe(buf, sizeof buf);
	return pw;
}

static void set_string(char **field, const char *value)
{
	free(*field);
	*field = xstrdup(value);
}

/* The options over the configuration.  0, or 1 after saying why. */
static int build_conf(struct helper *h, struct conf *c)
{
	if (conf_load(h->conf_file, c) < 0)
		return 1;
	char *url = source_url(h->source);
	if (!url) {
		fprintf(stderr, "bucketfs: mount %s: source %s: %s\n", h->dir, h->source,
			strerror(errno));
		return 1;
	}
	free(c->url);
	c->url = url;
	set_string(&c->mount_dir, h->abs_dir);
	if (h->read_only >= 0)
		c->read_only = h->read_only;
	if (h->allow_other)
		c->allow_other = true;
	if (h->subtype)
		set_string(&c->mount_subtype, h->subtype);
	if (h->flags) {
		char *all = xasprintf("%s%s%s", c->mount_options, *c->mount_options ? "," : "",
				      h->flags);
		free(c->mount_options);
		c->mount_options = all;
	}
	if (h->no_atime)
		c->atime = false;
	else if (h->atime)
		c->atime = true;
	if (h->password_file) {
		char *pw = read_password_file(h->password_file, h->dir);
		if (!pw)
			return 1;
		if (c->password)
			crypt_wipe(c->password, strlen(c->password));
		free(c->password);
		c->password = pw;
	}
	if (!c->password) {
		const char *env = getenv("BUCKETFS_PASSWORD");
		if (!env || !*env) {
			fprintf(stderr, "bucketfs: mount %s: no password for %s: give "
				"password_file=FILE, conf=FILE with [storage] encryption_password, "
				"or set BUCKETFS_PASSWORD (never on the command line)\n", h->dir,
				c->url);
			return 1;
		}
		c->password = xstrdup(env);
	}
	return 0;
}

/* ---- the detached daemon ---- */

struct watch {
	const struct conf *c;
	int status_fd;          /* write end: one byte once the mount answers */
	const char *log_file;
};

static void *watch_main(void *arg)
{
	struct watch *w = arg;
	struct fuse_frontend_options o = {
		.fsname = w->c->url,
		.subtype = w->c->mount_subtype,
	};
	for (;;) {
		struct timespec ts = { 0, 20 * 1000 * 1000 };
		nanosleep(&ts, NULL);
		if (fuse_mount_live(w->c->mount_dir, &o))
			break;
	}
	/* The caller has what it needs: from now on the log goes to the file. */
	int fd = open(w->log_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	char ok = '0';
	if (write(w->status_fd, &ok, 1) != 1)
		ok = 0; /* the parent is gone: nothing to tell */
	close(w->status_fd);
	if (fd >= 0) {
		dup2(fd, STDERR_FILENO);
		close(fd);
	}
	return NULL;
}

/* What `bucketfs run` does, in the child.  The exit status. */
static int run_child(struct conf *c, int status_fd, const char *log_file)
{
	struct daemon *d;
	pthread_t watcher;
	struct watch w = { .c = c, .status_fd = status_fd, .log_file = log_file };
	signal(SIGPIPE, SIG_IGN);
	if (daemon_frontends_check(c, true) < 0)
		return 1;
	int r = daemon_open(c, DAEMON_SIGNALS, &d);
	if (r == -EINTR)
		return 1;
	if (r < 0)
		return 1;
	if (pthread_create(&watcher, NULL, watch_main, &w) != 0) {
		log_error("mount %s: cannot start a thread: %s", c->mount_dir, strerror(errno));
		daemon_close(d);
		return 1;
	}
	pthread_detach(watcher);
	r = daemon_serve(d);
	int e = daemon_close(d);
	return r || e ? 1 : 0;
}

/* What the child said on its stderr before the mount was live, kept for
 * the end: all of it if the daemon failed (its error with the steps
 * before it), only what is not an info or debug log line if it mounted
 * (warnings, libfuse's own messages), so a mount that works is quiet. */
#define RELAY_MAX (256 * 1024)

struct relay {
	char *buf;
	size_t len;
	bool cut;               /* past RELAY_MAX: the rest is not kept */
};

static void relay_add(struct relay *r, const char *p, size_t n)
{
	if (r->len + n > RELAY_MAX) {
		n = RELAY_MAX - r->len;
		r->cut = true;
	}
	if (!r->buf)
		r->buf = xmalloc(RELAY_MAX);
	memcpy(r->buf + r->len, p, n);
	r->len += n;
}

static void relay_print(struct relay *r, bool live)
{
	size_t i = 0;
	while (i < r->len) {
		const char *nl = memchr(r->buf + i, '\n', r->len - i);
		size_t n = nl ? (size_t)(nl - (r->buf + i)) + 1 : r->len - i;
		char line[160];
		size_t k = n < sizeof line - 1 ? n : sizeof line - 1;
		memcpy(line, r->buf + i, k);
		line[k] = '\0';
		if (!live || (!strstr(line, "] info: ") && !strstr(line, "] debug: ")))
			(void)!write(STDERR_FILENO, r->buf + i, n);
		i += n;
	}
	if (r->cut && !live)
		fprintf(stderr, "bucketfs: (more of the daemon's output was cut)\n");
	free(r->buf);
}

/* In the parent: gather the child's stderr until it reports the mount
 * live (0) or ends (its status). */
static int wait_child(pid_t pid, int err_fd, int status_fd)
{
	struct pollfd p[2] = { { .fd = err_fd, .events = POLLIN },
			       { .fd = status_fd, .events = POLLIN } };
	struct relay out = { 0 };
	bool live = false, status_done = false, err_done = false;
	while (!err_done || !status_done) {
		/* Once live, the child's stderr moves to the log file (EOF
		 * here); the last lines before that are still read. */
		int ready = poll(p, 2, live ? 2000 : -1);
		if ((ready < 0 && errno != EINTR) || (ready == 0 && live))
			break;
		char buf[4096];
		if (!err_done && p[0].revents) {
			ssize_t n = read(err_fd, buf, sizeof buf);
			if (n > 0)
				relay_add(&out, buf, (size_t)n);
			else if (n == 0 || errno != EINTR)
				err_done = true, p[0].fd = -1;
		}
		if (!status_done && p[1].revents) {
			ssize_t n = read(status_fd, buf, 1);
			if (n == 1)
				live = true;
			if (n >= 0 || errno != EINTR)
				status_done = true, p[1].fd = -1;
		}
	}
	relay_print(&out, live);
	if (live)
		return 0;
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return 1;
	return WIFEXITED(st) && WEXITSTATUS(st) ? WEXITSTATUS(st) : 1;
}

static const char *default_log(void)
{
	return geteuid() == 0 ? "/var/log/bucketfs.log" : "/dev/null";
}

static int detach_and_run(struct conf *c, const char *log_file)
{
	int err[2], status[2];
	if (pipe2(err, O_CLOEXEC) < 0 || pipe2(status, O_CLOEXEC) < 0) {
		fprintf(stderr, "bucketfs: mount %s: pipe: %s\n", c->mount_dir, strerror(errno));
		return 1;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "bucketfs: mount %s: fork: %s\n", c->mount_dir, strerror(errno));
		return 1;
	}
	if (pid == 0) {
		close(err[0]);
		close(status[0]);
		setsid();
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (null >= 0) {
			dup2(null, STDIN_FILENO);
			dup2(null, STDOUT_FILENO);
			close(null);
		}
		dup2(err[1], STDERR_FILENO);
		close(err[1]);
		if (chdir("/") < 0)
			_exit(1);
		_exit(run_child(c, status[1], log_file));
	}
	close(err[1]);
	close(status[1]);
	return wait_child(pid, err[0], status[0]);
}

bool mount_helper_form(int argc, char **argv)
{
	const char *base = strrchr(argv[0], '/');
	base = base ? base + 1 : argv[0];
	if (!strncmp(base, "mount.", 6))
		return true;
	/* bucketfs SOURCE DIR ...: no command is a URL or a path */
	return argc >= 3 && (strstr(argv[1], "://") || strchr(argv[1], '/') || argv[1][0] == '.');
}

int mount_helper_main(int argc, char **argv)
{
	struct helper h;
	struct conf c;
	int r = parse_args(&h, argc, argv);
	if (r) {
		free(h.opts);
		free(h.split);
		free(h.flags);
		return r;
	}
	if (crypt_init() < 0) {
		fprintf(stderr, "bucketfs: cannot initialise libsodium\n");
		return 1;
	}
	h.abs_dir = realpath(h.dir, NULL);
	if (!h.abs_dir) {
		fprintf(stderr, "bucketfs: mount %s: %s\n", h.dir,
			errno == ENOENT ? "no such directory" : strerror(errno));
		r = 32; /* mount(8)'s "mount failure" */
	}
	memset(&c, 0, sizeof c);
	if (r == 0 && (r = build_conf(&h, &c)) == 0) {
		if (c.log_level) {
			static const char *const names[] = { "error", "warn", "info", "debug" };
			for (int i = 0; i < 4; i++)
				if (!strcasecmp(c.log_level, names[i]))
					log_set_level((enum log_level)i);
		}
		r = detach_and_run(&c, h.log_file ? h.log_file : default_log());
	}
	if (c.password)
		crypt_wipe(c.password, strlen(c.password));
	conf_free(&c);
	free(h.abs_dir);
	free(h.opts);
	free(h.split);
	free(h.flags);
	return r;
}
