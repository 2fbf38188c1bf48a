/* mount.c -- mounting, serving and unmounting; mounts left behind by a
 * daemon that died.
 *
 * Stopping is the daemon's call (src/daemon owns the signals): it calls
 * fuse_frontend_drain, which runs syncfs(2) on the mount point so the
 * kernel writes its dirty pages (write-back cache) to us while the
 * workers still serve, then fuse_frontend_stop, which marks the session
 * exited and looks up a name that cannot exist in the mount, so a worker
 * wakes, answers, sees the mark and ends the loop (libfuse's loop only
 * notices the mark between requests), then unmounts lazily (whatever is
 * still open there fails with ENOTCONN).  An unmount from outside (umount,
 * fusermount3 -u) ends the loop as well: the serving thread then calls
 * the options' ended() hook.
 *
 * Dead mounts.  When the daemon dies, its mount stays with every access
 * failing with ENOTCONN.  fuse_mountpoint_check finds it through
 * /proc/self/mountinfo: if it is a bucketfs mount it is detached, else the
 * user is told what is there and how to remove it. */
#include "fuse/fuse.h"
#include "fuse/fuse_int.h"
#include "fuse/inval.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/log.h"
#include "util/mem.h"

#define FSTYPE "fuse.bucketfs"
#define DEFAULT_THREADS 16

/* Wake one worker with a request that cannot be cached: a lookup of a
 * name never asked before. */
static void wake_session(const char *mnt)
{
	static unsigned long counter;
	struct stat st;
	char *p = xasprintf("%s/.bucketfs-stop-%d-%lu", mnt, (int)getpid(),
			    __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED));
	(void)stat(p, &st);
	free(p);
}

/* ---- the mount point ---- */

struct mount_entry {
	char *fstype;
	char *source;
};

static void mount_entry_free(struct mount_entry *m)
{
	free(m->fstype);
	free(m->source);
	m->fstype = m->source = NULL;
}

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape_octal(char *s)
{
	char *out = s;
	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*out++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*out++ = *s;
		}
	}
	*out = '\0';
}

/* One mountinfo line: "id parent maj:min root MOUNTPOINT opts [tags] - FSTYPE SOURCE sopts". */
static bool mountinfo_match(char *line, const char *path, struct mount_entry *m)
{
	char *save = NULL, *tok = strtok_r(line, " \n", &save);
	for (int i = 0; tok && i < 4; i++)
		tok = strtok_r(NULL, " \n", &save);
	if (!tok)
		return false;
	unescape_octal(tok);
	if (strcmp(tok, path))
		return false;
	while ((tok = strtok_r(NULL, " \n", &save)) && strcmp(tok, "-"))
		;
	char *fstype = strtok_r(NULL, " \n", &save);
	char *source = strtok_r(NULL, " \n", &save);
	if (!fstype)
		return false;
	if (source)
		unescape_octal(source);
	mount_entry_free(m);
	m->fstype = xstrdup(fstype);
	m->source = xstrdup(source ? source : "?");
	return true;
}

/* The mount on top at path, if any (the last line that names it). */
static bool find_mount(const char *path, struct mount_entry *m)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0;
	bool found = false;
	memset(m, 0, sizeof *m);
	if (!f)
		return false;
	while (getline(&line, &cap, f) > 0)
		found |= mountinfo_match(line, path, m);
	free(line);
	fclose(f);
	return found;
}

static int run_fusermount_detach(const char *path)
{
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		execlp("fusermount3", "fusermount3", "-u", "-z", "-q", "--", path, (char *)NULL);
		_exit(127);
	}
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EPERM;
}

static int detach_mount(const char *path)
{
	if (geteuid() == 0)
		return umount2(path, MNT_DETACH) < 0 ? -errno : 0;
	return run_fusermount_detach(path);
}

static int dead_mount(const char *path)
{
	struct mount_entry m;
	if (!find_mount(path, &m) || strcmp(m.fstype, FSTYPE)) {
		log_error("mount point %s: Transport endpoint is not connected: a dead %s mount "
			  "(source %s) is there, not one of bucketfs; remove it with "
			  "'fusermount3 -uz %s' (or 'umount -l %s')", path,
			  m.fstype ? m.fstype : "FUSE", m.source ? m.source : "unknown", path, path);
		mount_entry_free(&m);
		return -ENOTCONN;
	}
	int r = detach_mount(path);
	if (r < 0)
		log_error("mount point %s: the bucketfs mount of %s left by a daemon that died "
			  "cannot be detached: %s; run 'fusermount3 -uz %s'", path, m.source,
			  strerror(-r), path);
	else
		log_warn("mount point %s: found the bucketfs mount of %s left by a daemon that "
			 "died (Transport endpoint is not connected); detached it (lazy unmount)",
			 path, m.source);
	mount_entry_free(&m);
	return r;
}

/* An absolute path for dir, even when dir itself cannot be stat'ed (a dead
 * mount): resolve the parent and append the last component. */
static char *absolute_path(const char *dir)
{
	char *r = realpath(dir, NULL);
	if (r || errno != ENOTCONN)
		return r;
	char *copy = xstrdup(dir);
	size_t n = strlen(copy);
	while (n > 1 && copy[n - 1] == '/')
		copy[--n] = '\0';
	char *slash = strrchr(copy, '/');
	const char *base = copy, *parent = ".";
	if (slash) {
		*slash = '\0';
		base = slash + 1;
		parent = *copy ? copy : "/";
	}
	char *rp = realpath(parent, NULL);
	if (rp)
		r = xasprintf("%s%s%s", rp, strcmp(rp, "/") ? "/" : "", base);
	free(rp);
	free(copy);
	if (!r)
		errno = ENOTCONN;
	return r;
}

static int check_live(const char *path, unsigned mode)
{
	struct mount_entry m;
	if (!S_ISDIR(mode)) {
		log_error("mount point %s is not a directory", path);
		return -ENOTDIR;
	}
	int r = 0;
	if (find_mount(path, &m) && !strcmp(m.fstype, FSTYPE)) {
		log_error("mount point %s already holds a running bucketfs mount of %s: stop "
			  "that daemon or unmount it first", path, m.source);
		r = -EBUSY;
	}
	mount_entry_free(&m);
	return r;
}

/* The file type, asking the filesystem itself: a dead FUSE mount may still
 * answer a plain stat from the kernel's attribute cache. */
static int mode_of(const char *path, unsigned *mode)
{
	struct statx stx;
	if (statx(AT_FDCWD, path, AT_STATX_FORCE_SYNC, STATX_TYPE, &stx) < 0)
		return -errno;
	*mode = stx.stx_mode;
	return 0;
}

int fuse_mountpoint_check(const char *dir, char **abs)
{
	unsigned mode = 0;
	*abs = absolute_path(dir);
	if (!*abs) {
		int e = errno;
		log_error("mount point %s: %s", dir, e == ENOENT ? "no such directory" : strerror(e));
		return -e;
	}
	int r = mode_of(*abs, &mode);
	if (r == -ENOTCONN) {
		r = dead_mount(*abs);
		if (r < 0)
			return r;
		r = mode_of(*abs, &mode);
	}
	if (r == 0)
		return check_live(*abs, mode);
	log_error("mount point %s: %s", *abs, strerror(-r));
	return r;
}

/* ---- serving ---- */

/* The source column of the mount: no commas (the option separator). */
static char *mount_opts(const struct fuse_frontend_options *o)
{
	char *name = xstrdup(o->fsname ? o->fsname : "bucketfs");
	for (char *p = name; *p; p++)
		if (*p == ',' || *p == '\\' || *p == ' ')
			*p = '_';
	/* default_permissions: the kernel checks permissions against the
	 * attributes it caches too, so a walk through cached names still
	 * needs search permission; the core checks again on every call. */
	char *opts = xasprintf("fsname=%s,subtype=bucketfs,default_permissions%s%s", name,
			       o->allow_other ? ",allow_other" : "", o->read_only ? ",ro" : "");
	free(name);
	return opts;
}

static struct fuse_session *session_new(struct fuse_frontend *ff,
					const struct fuse_frontend_options *o)
{
	char *opts = mount_opts(o);
	char *argv[] = { "bucketfs", "-o", opts, NULL };
	struct fuse_args args = FUSE_ARGS_INIT(3, argv);
	struct fuse_session *se = fuse_session_new(&args, &fuse_frontend_ops,
						   sizeof fuse_frontend_ops, ff);
	fuse_opt_free_args(&args);
	free(opts);
	if (!se)
		log_error("fuse: cannot start a session (see the libfuse message above)");
	return se;
}

struct fuse_mount {
	struct fuse_frontend ff;   /* what the handlers see (fuse_int.h) */
	struct fuse_session *se;
	char *mountpoint;
	char *fsname;
	unsigned max_threads;
	pthread_t thread;
	_Atomic bool stopping;     /* fuse_frontend_stop was called */
	void (*ended)(void *arg, const char *why);
	void *ended_arg;
};

static void *serve_main(void *arg)
{
	struct fuse_mount *m = arg;
	struct fuse_loop_config *cfg = fuse_loop_cfg_create();
	int r = -ENOMEM;
	if (cfg) {
		fuse_loop_cfg_set_max_threads(cfg, m->max_threads ? m->max_threads : DEFAULT_THREADS);
		fuse_loop_cfg_set_clone_fd(cfg, 0);
		r = fuse_session_loop_mt(m->se, cfg);
		fuse_loop_cfg_destroy(cfg);
	}
	if (r > 0)
		r = 0; /* a signal libfuse noticed: stopped as asked */
	bool asked = atomic_load(&m->stopping);
	if (r < 0)
		log_error("fuse: the session on %s failed: %s", m->mountpoint, strerror(-r));
	else if (!asked)
		log_info("%s was unmounted: stopping", m->mountpoint);
	if (!asked && m->ended)
		m->ended(m->ended_arg, r < 0 ? "the FUSE session failed" : "the mount was unmounted");
	return NULL;
}

int fuse_frontend_start(struct fs *fs, const struct fuse_frontend_options *o,
			struct fuse_mount **out)
{
	struct fuse_mount *m = xcalloc(1, sizeof *m);
	m->ff = (struct fuse_frontend){
		.fs = fs,
		.attr_timeout = o->attr_timeout,
		.entry_timeout = o->entry_timeout,
		.read_only = o->read_only,
		.writeback = o->writeback_cache,
	};
	static uint32_t mounts;
	m->ff.origin = FUSE_ORIGIN_BASE + __atomic_add_fetch(&mounts, 1, __ATOMIC_RELAXED);
	m->mountpoint = xstrdup(o->mountpoint);
	m->fsname = xstrdup(o->fsname ? o->fsname : "bucketfs");
	m->max_threads = o->max_threads;
	m->ended = o->ended;
	m->ended_arg = o->ended_arg;
	*out = NULL;
	m->se = session_new(&m->ff, o);
	int r = m->se ? 0 : -EIO;
	if (r == 0 && fuse_session_mount(m->se, o->mountpoint) != 0) {
		log_error("fuse: cannot mount %s (see the libfuse message above)", o->mountpoint);
		fuse_session_destroy(m->se);
		m->se = NULL;
		r = -EIO;
	}
	if (r == 0 && (r = fuse_inval_start(fs, m->se, m->ff.origin, o->mountpoint, o->stats,
					     &m->ff.inval)) < 0) {
		fuse_session_unmount(m->se);
		fuse_session_destroy(m->se);
	} else if (r == 0 && (r = -pthread_create(&m->thread, NULL, serve_main, m)) < 0) {
		log_error("fuse: cannot start serving %s: %s", o->mountpoint, strerror(-r));
		fuse_inval_stop(m->ff.inval);
		fuse_session_unmount(m->se);
		fuse_inval_free(m->ff.inval);
		fuse_session_destroy(m->se);
	}
	if (r < 0) {
		free(m->mountpoint);
		free(m->fsname);
		free(m);
		return r;
	}
	log_info("mounted %s on %s%s", m->fsname, o->mountpoint, o->read_only ? " (read-only)" : "");
	*out = m;
	return 0;
}

const char *fuse_frontend_mountpoint(const struct fuse_mount *m)
{
	return m->mountpoint;
}

/* syncfs(2): the kernel writes its dirty pages (write-back cache) to us
 * while the workers still serve. */
void fuse_frontend_drain(struct fuse_mount *m)
{
	int fd = open(m->mountpoint, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		if (syncfs(fd) < 0)
			log_warn("fuse: syncfs %s: %s", m->mountpoint, strerror(errno));
		close(fd);
	}
}

static void *wake_main(void *arg)
{
	wake_session(arg);
	return NULL;
}

/* Mark the session exited and wake a worker, which sees the mark and
 * ends the loop (libfuse only notices it between requests); then a lazy
 * unmount: whatever is still open there fails with ENOTCONN.  The wake-up
 * lookup runs on its own thread: the worker that reads it may end the
 * loop without answering, and then only closing the session's device
 * (fuse_session_destroy) ends the lookup. */
void fuse_frontend_stop(struct fuse_mount *m)
{
	pthread_t waker;
	if (!m)
		return;
	/* The invalidation thread first, while the workers still serve: its
	 * notify calls and write-back fix-ups need them (if one is stuck,
	 * the unmount below ends it and fuse_inval_free waits for it). */
	fuse_inval_stop(m->ff.inval);
	atomic_store(&m->stopping, true);
	atomic_store(&m->ff.stopping, true);
	fuse_session_exit(m->se);
	bool woke = pthread_create(&waker, NULL, wake_main, m->mountpoint) == 0;
	if (!woke)
		wake_session(m->mountpoint); /* out of threads: inline, may wait for a reply */
	pthread_join(m->thread, NULL);
	fuse_session_unmount(m->se);
	fuse_inval_free(m->ff.inval);
	fuse_session_destroy(m->se);
	if (woke)
		pthread_join(waker, NULL);
	log_info("unmounted %s", m->mountpoint);
	free(m->mountpoint);
	free(m->fsname);
	free(m);
}
