/* frontend.h -- the plug-in interface between the daemon and a frontend.
 *
 * A frontend serves the filesystem core (fs.h) over one protocol.  The
 * daemon knows each one through a struct frontend_ops in the table
 * daemon_frontends[] (frontend.c); adding NFS, 9P or NBD is one adapter
 * file here (frontend_nfs.c: its configuration section -> the frontend's
 * own options) and one table entry.  The frontend itself (src/fuse/ ...)
 * knows nothing of the daemon or its configuration: the adapter maps one
 * onto the other, so frontends stay a layer below the daemon.
 *
 * Life cycle, driven by daemon_serve():
 *   enabled(conf)     does the configuration ask for it?  (no side effects)
 *   check(conf, true) optional, before the stack opens (the writer takes
 *                     over only if every frontend can start: addresses are
 *                     bound and closed again); check(conf, false) for
 *                     `run --check`: syntax only
 *   start(env, &f)    start serving; returns once it serves (its threads
 *                     run on)
 *   describe(f, ...)  its address, for `bucketfs status`
 *   drain(f)          at stop, before any frontend stops: push what the
 *                     clients hold into the core (FUSE: syncfs(2))
 *   stop(f)           stop serving, wait for its threads, free f
 * A frontend that ends by itself (its mount was unmounted, its session
 * failed) calls env->ended(env->arg, why) from its own thread, once; the
 * daemon then stops everything.  stop() is still called after that. */
#ifndef BUCKETFS_DAEMON_FRONTEND_H
#define BUCKETFS_DAEMON_FRONTEND_H

#include <stdbool.h>
#include <stddef.h>

struct conf;
struct fs;
struct frontend;

struct frontend_env {
	struct fs *fs;
	const struct conf *conf;
	bool read_only;                              /* replica or checkpoint view */
	void (*ended)(void *arg, const char *why);   /* from the frontend's thread */
	void *arg;
};

struct frontend_ops {
	const char *name;                            /* "fuse", "nfs", ... */
	bool (*enabled)(const struct conf *c);
	/* may be NULL; at_start false: for `run --check`, only what does not
	 * disturb a daemon that already runs (address syntax, no binding) */
	int (*check)(const struct conf *c, bool at_start);
	int (*start)(const struct frontend_env *env, struct frontend **out);
	void (*drain)(struct frontend *f);           /* may be NULL */
	void (*stop)(struct frontend *f);
	/* where it serves: "/mnt/x" (FUSE: the mount point),
	 * "tcp 0.0.0.0:2049"; snprintf semantics */
	int (*describe)(struct frontend *f, char *buf, size_t size);
};

/* NULL-terminated, in start order. */
extern const struct frontend_ops *const daemon_frontends[];

/* The table's entries (one adapter file each). */
extern const struct frontend_ops frontend_fuse;
extern const struct frontend_ops frontend_ninep;
extern const struct frontend_ops frontend_nbd;
extern const struct frontend_ops frontend_nfs;

/* The hint given when nothing is enabled. */
#define FRONTEND_NONE_MESSAGE \
	"no frontend enabled (no mount point): give --mount DIR or enable " \
	"[nfs]/[ninep]/[nbd]"

#endif
