/* frontend_nbd.c -- the NBD server as a daemon plug-in: [nbd] of the
 * configuration -> struct nbd_options (nbd/nbd.h).  Enabled by [nbd]
 * listen or socket (--nbd ADDR:PORT, --nbd-socket PATH).  A replica or
 * checkpoint view serves its exports read-only. */
#include "daemon/frontend.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "daemon/conf.h"
#include "nbd/nbd.h"
#include "net/net.h"
#include "util/mem.h"

struct frontend {
	struct nbd_server *s;
};

static bool nbd_enabled(const struct conf *c)
{
	return (c->nbd_listen && *c->nbd_listen) || (c->nbd_socket && *c->nbd_socket);
}

/* Before the stack opens: a busy or malformed address fails the start
 * before a writer takes the store over. */
static int nbd_check(const struct conf *c, bool at_start)
{
	if (!c->nbd_listen || !*c->nbd_listen)
		return 0;
	return net_listen_check("nbd", c->nbd_listen, at_start);
}

static int nbd_start(const struct frontend_env *env, struct frontend **out)
{
	const struct conf *c = env->conf;
	struct nbd_options o = {
		.listen = c->nbd_listen,
		.socket = c->nbd_socket,
		.read_only = env->read_only,
	};
	struct frontend *f = xcalloc(1, sizeof *f);
	int r = nbd_server_start(env->fs, &o, &f->s);
	if (r < 0) {
		free(f);
		return r;
	}
	*out = f;
	return 0;
}

static void nbd_stop(struct frontend *f)
{
	nbd_server_stop(f->s);
	free(f);
}

static int nbd_describe(struct frontend *f, char *buf, size_t size)
{
	return nbd_server_describe(f->s, buf, size);
}

const struct frontend_ops frontend_nbd = {
	.name = "nbd",
	.enabled = nbd_enabled,
	.check = nbd_check,
	.start = nbd_start,
	.stop = nbd_stop,
	.describe = nbd_describe,
};
