/* server.c -- the NBD server (nbd.h): its listeners through the shared
 * connection server (net.h), and the life of one connection: handshake,
 * transmission, and at the end (every request answered) the export's
 * open and pin let go. */
#include "nbd/nbd_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "fs/fs.h"
#include "net/net.h"
#include "util/log.h"
#include "util/mem.h"

static int nbd_serve(struct net_conn *c, void *arg)
{
	struct nbd_conn *nc = xcalloc(1, sizeof *nc);
	nc->srv = arg;
	nc->c = c;
	net_conn_set_data(c, nc);
	int r = nbd_handshake(nc);
	if (r <= 0)
		return r;
	log_info("nbd: %s attached export %s (%" PRIu64 " bytes%s)", net_conn_name(c),
		 nc->ex.name, nc->ex.size, nc->structured ? ", structured replies" : "");
	r = nbd_transmit(nc);
	log_info("nbd: %s detached export %s%s%s", net_conn_name(c), nc->ex.name,
		 r < 0 ? ": " : "", r < 0 ? strerror(-r) : "");
	return r;
}

static void nbd_release(struct net_conn *c, void *arg)
{
	struct nbd_conn *nc = net_conn_data(c);
	(void)arg;
	if (!nc)
		return;
	if (nc->attached)
		nbd_export_detach(nc->srv, &nc->ex);
	free(nc);
}

static const struct net_proto nbd_proto = {
	.name = "nbd",
	.serve = nbd_serve,
	.release = nbd_release,
};

static void server_free(struct nbd_server *s)
{
	free(s->export_dir);
	free(s);
}

int nbd_server_start(struct fs *fs, const struct nbd_options *o, struct nbd_server **out)
{
	if (!(o->listen && *o->listen) && !(o->socket && *o->socket))
		return -EINVAL;
	struct nbd_server *s = xcalloc(1, sizeof *s);
	s->fs = fs;
	s->read_only = o->read_only;
	s->export_dir = xstrdup(o->export_dir && *o->export_dir ? o->export_dir : "/.nbd");
	struct net_options no = { .workers = o->workers };
	int r = net_server_new(&nbd_proto, s, &no, &s->net);
	if (r < 0) {
		server_free(s);
		return r;
	}
	if (o->listen && *o->listen)
		r = net_server_listen_tcp(s->net, o->listen);
	if (r == 0 && o->socket && *o->socket)
		r = net_server_listen_unix(s->net, o->socket, 0660);
	if (r == 0)
		r = net_server_start(s->net);
	if (r < 0) {
		net_server_stop(s->net);
		server_free(s);
		return r;
	}
	*out = s;
	return 0;
}

int nbd_server_describe(struct nbd_server *s, char *buf, size_t size)
{
	return net_server_describe(s->net, buf, size);
}

int nbd_server_port(struct nbd_server *s)
{
	return net_server_port(s->net, 0);
}

void nbd_server_stop(struct nbd_server *s)
{
	if (!s)
		return;
	net_server_stop(s->net);
	server_free(s);
}
