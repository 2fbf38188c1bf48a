/* frontend_nfs.c -- the NFSv3 frontend as a daemon plug-in: [nfs] of the
 * configuration -> struct nfs_options (nfs/nfs.h).  Enabled by a
 * non-empty [nfs] listen (or --nfs ADDR:PORT). */
#include "daemon/frontend.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/conf.h"
#include "net/net.h"
#include "nfs/nfs.h"
#include "util/log.h"
#include "util/mem.h"

struct frontend {
	struct nfs_server *s;
};

/* "a b,c" -> a malloc'ed NULL-terminated vector of malloc'ed words. */
static char **split_words(const char *s)
{
	size_t n = 0, cap = 4;
	char **v = xcalloc(cap, sizeof *v);
	while (s && *s) {
		size_t skip = strspn(s, " \t,");
		s += skip;
		size_t len = strcspn(s, " \t,");
		if (!len)
			break;
		if (n + 2 > cap) {
			cap *= 2;
			v = xrealloc(v, cap * sizeof *v);
		}
		v[n] = xmalloc(len + 1);
		memcpy(v[n], s, len);
		v[n][len] = '\0';
		v[++n] = NULL;
		s += len;
	}
	return v;
}

static void free_words(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

static bool nfs_enabled(const struct conf *c)
{
	return c->nfs_listen && c->nfs_listen[strspn(c->nfs_listen, " \t,")];
}

static enum nfs_squash squash_of(const char *s)
{
	if (s && !strcmp(s, "none"))
		return NFS_SQUASH_NONE;
	if (s && !strcmp(s, "all"))
		return NFS_SQUASH_ALL;
	return NFS_SQUASH_ROOT;
}

/* Before the stack opens: a busy or malformed address fails the start
 * before a writer takes the store over. */
static int nfs_check(const struct conf *c, bool at_start)
{
	char **listen = split_words(c->nfs_listen);
	int r = 0;
	for (size_t i = 0; r == 0 && listen[i]; i++)
		r = net_listen_check("nfs", listen[i], at_start);
	free_words(listen);
	return r;
}

static int nfs_start(const struct frontend_env *env, struct frontend **out)
{
	const struct conf *c = env->conf;
	char **listen = split_words(c->nfs_listen);
	char **clients = split_words(c->nfs_clients);
	struct nfs_options o = {
		.listen = (const char *const *)listen,
		.export_path = c->nfs_export,
		.read_only = env->read_only || c->nfs_read_only,
		.clients = (const char *const *)clients,
		.squash = squash_of(c->nfs_squash),
		.anon_uid = (uint32_t)c->nfs_anon_uid,
		.anon_gid = (uint32_t)c->nfs_anon_gid,
		.secure = c->nfs_secure,
		.async = c->nfs_async,
	};
	struct frontend *f = xcalloc(1, sizeof *f);
	int r = nfs_server_start(env->fs, &o, &f->s);
	free_words(listen);
	free_words(clients);
	if (r < 0) {
		free(f);
		return r;
	}
	*out = f;
	return 0;
}

static void nfs_stop(struct frontend *f)
{
	nfs_server_stop(f->s);
	free(f);
}

static int nfs_describe(struct frontend *f, char *buf, size_t size)
{
	return nfs_server_describe(f->s, buf, size);
}

const struct frontend_ops frontend_nfs = {
	.name = "nfs",
	.enabled = nfs_enabled,
	.check = nfs_check,
	.start = nfs_start,
	.stop = nfs_stop,
	.describe = nfs_describe,
};
