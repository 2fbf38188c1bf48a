/* frontend_ninep.c -- the 9P2000.L frontend as a daemon plug-in: [ninep]
 * of the configuration -> struct ninep_options (ninep/ninep.h).
 * Enabled by [ninep] listen or socket (or --ninep / --ninep-socket). */
#include "daemon/frontend.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "daemon/conf.h"
#include "net/net.h"
#include "ninep/ninep.h"
#include "util/mem.h"

struct frontend {
	struct ninep_server *s;
};

static bool ninep_enabled(const struct conf *c)
{
	return (c->ninep_listen && *c->ninep_listen) || (c->ninep_socket && *c->ninep_socket);
}

/* The socket's directory (/run/bucketfs) may not exist yet: make it (one
 * level; the socket's own mode decides who may connect). */
static void make_socket_dir(const char *path)
{
	char *dir = xstrdup(path);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		mkdir(dir, 0755);
	}
	free(dir);
}

/* Before the stack opens: a busy or malformed address fails the start
 * before a writer takes the store over. */
static int ninep_check(const struct conf *c, bool at_start)
{
	struct ninep_options o = { .listen = { NULL } };
	if (!c->ninep_listen || !*c->ninep_listen)
		return 0;
	if (!at_start)
		return net_listen_check("9p", c->ninep_listen, false);
	o.listen[0] = c->ninep_listen;
	return ninep_options_check(&o);
}

static int ninep_start(const struct frontend_env *env, struct frontend **out)
{
	const struct conf *c = env->conf;
	struct ninep_options o = {
		.socket_path = c->ninep_socket && *c->ninep_socket ? c->ninep_socket : NULL,
		.socket_mode = (mode_t)c->ninep_socket_mode,
		.read_only = env->read_only,
		.msize = (uint32_t)c->ninep_msize,
	};
	if (c->ninep_listen && *c->ninep_listen)
		o.listen[0] = c->ninep_listen;
	if (o.socket_path)
		make_socket_dir(o.socket_path);
	struct frontend *f = xcalloc(1, sizeof *f);
	int r = ninep_server_start(env->fs, &o, &f->s);
	if (r < 0) {
		free(f);
		return r;
	}
	*out = f;
	return 0;
}

static void ninep_stop(struct frontend *f)
{
	ninep_server_stop(f->s);
	free(f);
}

static int ninep_describe(struct frontend *f, char *buf, size_t size)
{
	return ninep_server_describe(f->s, buf, size);
}

const struct frontend_ops frontend_ninep = {
	.name = "9p",
	.enabled = ninep_enabled,
	.check = ninep_check,
	.start = ninep_start,
	.stop = ninep_stop,
	.describe = ninep_describe,
};
