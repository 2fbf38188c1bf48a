/* frontend_fuse.c -- the FUSE frontend as a daemon plug-in: [mount] of
 * the configuration -> struct fuse_frontend_options (fuse/fuse.h).
 * Enabled by [mount] dir (or --mount DIR). */
#include "daemon/frontend.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/admin.h"
#include "daemon/conf.h"
#include "fuse/fuse.h"
#include "util/mem.h"

struct frontend {
	struct fuse_mount *m;
};

static bool fuse_enabled(const struct conf *c)
{
	return c->mount_dir && *c->mount_dir;
}

/* The run directory (the admin socket's default one) records which
 * daemon serves a mount point, so a remount waits for the previous one. */
static char *run_dir(const struct conf *c)
{
	char *p = admin_default_path(c->url, false, NULL);
	char *slash = strrchr(p, '/');
	if (slash)
		*slash = '\0';
	return p;
}

static void mount_options(const struct conf *c, const char *run, struct fuse_frontend_options *o)
{
	*o = (struct fuse_frontend_options){
		.mountpoint = c->mount_dir,
		.fsname = c->url,
		.subtype = c->mount_subtype,
		.flags = c->mount_options,
		.run_dir = run,
	};
}

static int fuse_check(const struct conf *c, bool at_start)
{
	if (!at_start)
		return 0;   /* a running daemon's mount is there */
	char *abs = NULL, *run = run_dir(c);
	struct fuse_frontend_options o;
	mount_options(c, run, &o);
	int r = fuse_mountpoint_check(&o, &abs);
	free(abs);
	free(run);
	return r;
}

static int fuse_start(const struct frontend_env *env, struct frontend **out)
{
	const struct conf *c = env->conf;
	char *abs = NULL, *run = run_dir(c);
	struct fuse_frontend_options o;
	mount_options(c, run, &o);
	int r = fuse_mountpoint_check(&o, &abs);
	if (r < 0) {
		free(run);
		return r;
	}
	o = (struct fuse_frontend_options){
		.mountpoint = abs,
		.fsname = c->url,
		.subtype = c->mount_subtype,
		.flags = c->mount_options,
		.run_dir = run,
		.read_only = env->read_only,
		.allow_other = c->allow_other,
		.attr_timeout = (double)c->attr_timeout_ms / 1000.0,
		.entry_timeout = (double)c->entry_timeout_ms / 1000.0,
		.writeback_cache = c->writeback_cache,
		.max_threads = (unsigned)c->threads,
		.ended = env->ended,
		.ended_arg = env->arg,
	};
	struct frontend *f = xcalloc(1, sizeof *f);
	r = fuse_frontend_start(env->fs, &o, &f->m);
	free(abs);
	free(run);
	if (r < 0) {
		free(f);
		return r;
	}
	*out = f;
	return 0;
}

static void fuse_drain(struct frontend *f)
{
	fuse_frontend_drain(f->m);
}

static void fuse_stop(struct frontend *f)
{
	fuse_frontend_stop(f->m);
	free(f);
}

static int fuse_describe(struct frontend *f, char *buf, size_t size)
{
	return snprintf(buf, size, "%s", fuse_frontend_mountpoint(f->m));
}

const struct frontend_ops frontend_fuse = {
	.name = "fuse",
	.enabled = fuse_enabled,
	.check = fuse_check,
	.start = fuse_start,
	.drain = fuse_drain,
	.stop = fuse_stop,
	.describe = fuse_describe,
};
