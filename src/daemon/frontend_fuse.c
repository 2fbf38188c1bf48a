/* frontend_fuse.c -- the FUSE frontend as a daemon plug-in: [mount] of
 * the configuration -> struct fuse_frontend_options (fuse/fuse.h).
 * Enabled by [mount] dir (or --mount DIR). */
#include "daemon/frontend.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

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

static int fuse_check(const struct conf *c, bool at_start)
{
	if (!at_start)
		return 0;   /* a running daemon's mount is there */
	char *abs = NULL;
	int r = fuse_mountpoint_check(c->mount_dir, &abs);
	free(abs);
	return r;
}

static int fuse_start(const struct frontend_env *env, struct frontend **out)
{
	const struct conf *c = env->conf;
	char *abs = NULL;
	int r = fuse_mountpoint_check(c->mount_dir, &abs);
	if (r < 0)
		return r;
	struct fuse_frontend_options o = {
		.mountpoint = abs,
		.fsname = c->url,
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
