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
 * user is told what is there and how to remove it.
 *
 * The previous server of a mount point.  umount(8) of a FUSE mount
 * returns as soon as the kernel detaches it; the daemon that served it
 * learns of it afterwards and only then makes everything durable and
 * releases its lease.  (The kernel waits for the daemon only for fuseblk
 * mounts, whose FUSE_DESTROY is synchronous; those need a block device
 * as the source.)  So `umount DIR && mount DIR` would start a second
 * writer while the first still flushes, and the lease refuses it.  To
 * make that sequence just work, the serving daemon records itself (pid,
 * process start time, mount namespace) in RUN_DIR/fuse-<hash of the
 * mount point>.pid once it is mounted, and a start on a mount point that
 * holds no live mount first waits (bounded) for the process recorded
 * there, if it still runs in this mount namespace: having lost its mount
 * it is in its final flush, and once it exits its lease is released and
 * everything it was given is in the store.  The record is never removed
 * (the start time tells a reused pid apart); /run is a tmpfs.  (A
 * /sbin/umount.fuse.bucketfs that waits is no option: umount(8) of
 * util-linux 2.38 looks only for umount.fuse for any fuse.* type.) */
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
#include <inttypes.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/log.h"
#include "util/mem.h"

#define DEFAULT_SUBTYPE "bucketfs"
#define DEFAULT_THREADS 16
/* How long a start waits for the previous server of its mount point to
 * finish its final flush (which waits for uploads at most the barrier
 * timeout, 120 s by default). */
#define PREVIOUS_WAIT_S 180

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

/* The source column as the mount writes it: no commas (the option
 * separator), backslashes or spaces. */
static char *sanitized_fsname(const char *fsname)
{
	char *name = xstrdup(fsname ? fsname : "bucketfs");
	for (char *p = name; *p; p++)
		if (*p == ',' || *p == '\\' || *p == ' ')
			*p = '_';
	return name;
}

/* Is m a mount of this frontend?  fuse.SUBTYPE; with an empty subtype
 * the type is plain "fuse", so the source (our fsname) must match too. */
static bool is_ours(const struct mount_entry *m, const struct fuse_frontend_options *o)
{
	const char *sub = o->subtype ? o->subtype : DEFAULT_SUBTYPE;
	if (!m->fstype)
		return false;
	if (*sub)
		return !strncmp(m->fstype, "fuse.", 5) && !strcmp(m->fstype + 5, sub);
	char *name = sanitized_fsname(o->fsname);
	bool same = !strcmp(m->fstype, "fuse") && !strcmp(m->source, name);
	free(name);
	return same;
}

static int dead_mount(const char *path, const struct fuse_frontend_options *o)
{
	struct mount_entry m;
	if (!find_mount(path, &m) || !is_ours(&m, o)) {
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

static int check_live(const char *path, unsigned mode, const struct fuse_frontend_options *o)
{
	struct mount_entry m;
	if (!S_ISDIR(mode)) {
		log_error("mount point %s is not a directory", path);
		return -ENOTDIR;
	}
	int r = 0;
	if (find_mount(path, &m) && is_ours(&m, o)) {
		log_error("mount point %s already holds a running bucketfs mount of %s: stop "
			  "that daemon or unmount it first", path, m.source);
		r = -EBUSY;
	}
	mount_entry_free(&m);
	return r;
}

/* ---- the previous server of a mount point ---- */

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
	return h;
}

static char *record_path(const char *run_dir, const char *abs)
{
	return xasprintf("%s/fuse-%016" PRIx64 ".pid", run_dir, fnv1a(abs));
}

/* Field 22 of /proc/PID/stat (clock ticks since boot): with the pid it
 * names one process for good.  0 when the process is gone or a zombie. */
static uint64_t process_start(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *p = strrchr(buf, ')'); /* the command name may hold anything */
	if (!p || p[1] != ' ' || p[2] == 'Z')
		return 0;
	p += 2;
	for (int field = 3; field < 22 && p; field++) {
		p = strchr(p, ' ');
		if (p)
			p++;
	}
	return p ? strtoull(p, NULL, 10) : 0;
}

static uint64_t mount_ns(void)
{
	struct stat st;
	return stat("/proc/self/ns/mnt", &st) == 0 ? (uint64_t)st.st_ino : 0;
}

/* Record this process as the server of abs (best effort: without it a
 * remount right after an unmount may find our lease still held). */
static void record_server(const char *run_dir, const char *abs)
{
	char *path = record_path(run_dir, abs);
	char *tmp = xasprintf("%s.%d.tmp", path, (int)getpid());
	(void)mkdir(run_dir, 0700);
	FILE *f = fopen(tmp, "we");
	bool ok = f && fprintf(f, "%d %" PRIu64 " %" PRIu64 " %s\n", (int)getpid(),
			       process_start(getpid()), mount_ns(), abs) > 0;
	if (f && fclose(f) != 0)
		ok = false;
	if (!ok || rename(tmp, path) < 0) {
		log_warn("mount point %s: cannot record this daemon in %s: %s (a mount right "
			 "after this one's unmount may find the writer's lease still held)", abs,
			 path, strerror(errno));
		(void)unlink(tmp);
	}
	free(tmp);
	free(path);
}

/* The process recorded as the server of abs, if it still runs in this
 * mount namespace and is not us: its pid, else 0. */
static pid_t recorded_server(const char *run_dir, const char *abs, uint64_t *start)
{
	char *path = record_path(run_dir, abs);
	FILE *f = fopen(path, "re");
	free(path);
	if (!f)
		return 0;
	char line[PATH_MAX + 128];
	int pid = 0, used = 0;
	uint64_t ns = 0;
	*start = 0;
	bool got = fgets(line, sizeof line, f) != NULL;
	fclose(f);
	line[strcspn(line, "\n")] = '\0';
	if (!got || sscanf(line, "%d %" SCNu64 " %" SCNu64 " %n", &pid, start, &ns, &used) != 3 ||
	    !used || strcmp(line + used, abs) || pid <= 0 || pid == (int)getpid() ||
	    ns != mount_ns())
		return 0;
	return *start && process_start(pid) == *start ? (pid_t)pid : 0;
}

/* abs holds no live mount of ours (any more): if the daemon that served
 * it still runs, it lost its mount and is in its final flush; wait. */
static int wait_server(const char *run_dir, const char *abs)
{
	uint64_t start;
	pid_t pid = recorded_server(run_dir, abs, &start);
	if (!pid)
		return 0;
	log_info("mount point %s: the daemon that served it (pid %d) is still making its "
		 "data durable; waiting for it to finish (at most %d s)", abs, (int)pid,
		 PREVIOUS_WAIT_S);
	for (int i = 1; i <= PREVIOUS_WAIT_S * 20; i++) {
		struct timespec ts = { 0, 50 * 1000 * 1000 };
		nanosleep(&ts, NULL);
		if (process_start(pid) != start) {
			log_info("mount point %s: the daemon that served it (pid %d) has finished",
				 abs, (int)pid);
			return 0;
		}
		if (i % (15 * 20) == 0)
			log_info("mount point %s: still waiting for the daemon that served it "
				 "(pid %d), %d s so far", abs, (int)pid, i / 20);
	}
	log_error("mount point %s: the daemon that served it (pid %d) is still running after "
		  "%d s (its final flush?); not starting a second writer beside it: wait for it "
		  "or stop it ('kill -TERM %d')", abs, (int)pid, PREVIOUS_WAIT_S, (int)pid);
	return -EBUSY;
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

int fuse_mountpoint_check(const struct fuse_frontend_options *o, char **abs)
{
	unsigned mode = 0;
	const char *dir = o->mountpoint;
	*abs = absolute_path(dir);
	if (!*abs) {
		int e = errno;
		log_error("mount point %s: %s", dir, e == ENOENT ? "no such directory" : strerror(e));
		return -e;
	}
	int r = mode_of(*abs, &mode);
	if (r == -ENOTCONN) {
		r = dead_mount(*abs, o);
		if (r < 0)
			return r;
		r = mode_of(*abs, &mode);
	}
	if (r < 0) {
		log_error("mount point %s: %s", *abs, strerror(-r));
		return r;
	}
	r = check_live(*abs, mode, o);
	if (r == 0 && o->run_dir)
		r = wait_server(o->run_dir, *abs);
	return r;
}

bool fuse_mount_live(const char *abs, const struct fuse_frontend_options *o)
{
	struct mount_entry m;
	unsigned mode;
	bool ours = find_mount(abs, &m) && is_ours(&m, o);
	mount_entry_free(&m);
	/* Listed is not enough: the kernel queues requests until the
	 * session answers INIT, so an answered statx means it serves. */
	return ours && mode_of(abs, &mode) == 0;
}

/* ---- serving ---- */

/* ---- mount options ---- */

/* The kernel mount options a mount may ask for (fuse.h).  libfuse 3.14
 * passes the first seven to mount(2); relatime is the kernel's default
 * and strictatime is set on the mount afterwards (apply_atime). */
static const char *const known_flags[] = { "dev", "nodev", "suid", "nosuid", "exec",
					   "noexec", "noatime", "relatime", "strictatime" };

bool fuse_mount_flag_known(const char *name)
{
	for (size_t i = 0; i < sizeof known_flags / sizeof known_flags[0]; i++)
		if (!strcmp(name, known_flags[i]))
			return true;
	return false;
}

/* "noatime", "relatime" or "strictatime": the last one in flags wins;
 * NULL when none is there. */
static const char *atime_mode(const char *flags)
{
	const char *mode = NULL;
	char *copy = xstrdup(flags ? flags : ""), *save = NULL;
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
		if (strstr(t, "atime"))
			mode = !strcmp(t, "noatime") ? "noatime" :
			       !strcmp(t, "relatime") ? "relatime" : "strictatime";
	free(copy);
	return mode;
}

/* What libfuse passes to mount(2): every known flag but the atime ones
 * (the last atime mode given goes last, noatime only: see apply_atime). */
static char *libfuse_flags(const char *flags)
{
	char *out = xstrdup(""), *copy = xstrdup(flags ? flags : ""), *save = NULL;
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (strstr(t, "atime") || !fuse_mount_flag_known(t))
			continue;
		char *next = xasprintf("%s,%s", out, t);
		free(out);
		out = next;
	}
	const char *at = atime_mode(flags);
	if (at && !strcmp(at, "noatime")) {
		char *next = xasprintf("%s,noatime", out);
		free(out);
		out = next;
	}
	free(copy);
	return out;
}

/* strictatime: libfuse does not know it, so it is set on the mount once
 * it exists (mount_setattr(2), which needs CAP_SYS_ADMIN). */
static int apply_atime(const char *mnt, const char *flags)
{
	const char *at = atime_mode(flags);
	if (!at || strcmp(at, "strictatime"))
		return 0;
	struct mount_attr attr = { .attr_set = MOUNT_ATTR_STRICTATIME,
				   .attr_clr = MOUNT_ATTR__ATIME };
	if (mount_setattr(AT_FDCWD, mnt, 0, &attr, sizeof attr) == 0)
		return 0;
	int e = errno;
	log_error("mount %s: cannot set strictatime on the mount: %s%s", mnt, strerror(e),
		  e == EPERM ? " (it needs root)" : "");
	return -e;
}

/* The -o string for libfuse. */
static char *mount_opts(const struct fuse_frontend_options *o)
{
	char *name = sanitized_fsname(o->fsname);
	const char *sub = o->subtype ? o->subtype : DEFAULT_SUBTYPE;
	char *subopt = *sub ? xasprintf(",subtype=%s", sub) : xstrdup("");
	char *flags = libfuse_flags(o->flags);
	/* default_permissions: the kernel checks permissions against the
	 * attributes it caches too, so a walk through cached names still
	 * needs search permission; the core checks again on every call. */
	char *opts = xasprintf("fsname=%s%s,default_permissions%s%s%s", name, subopt,
			       o->allow_other ? ",allow_other" : "", o->read_only ? ",ro" : "",
			       flags);
	free(flags);
	free(subopt);
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
	if (r == 0 && (r = apply_atime(o->mountpoint, o->flags)) < 0) {
		fuse_session_unmount(m->se);
		fuse_session_destroy(m->se);
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
	if (o->run_dir)
		record_server(o->run_dir, o->mountpoint);
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
