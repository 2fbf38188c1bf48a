/* server.c -- the NFS server's life cycle (nfs.h) and a connection's read
 * loop: admission (client addresses, privileged ports), reading records,
 * answering bad headers at once, and handing requests to the pool.
 *
 * Only a NULL procedure is answered on the reader thread; everything else
 * (even GETATTR may wait for the object store) runs on the pool, so a
 * slow COMMIT never holds up the requests behind it.  A request costs its
 * record's bytes against the connection's budget (net.h), which bounds
 * what one client can make the server hold. */
#include "nfs/nfs_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/log.h"
#include "util/mem.h"

#define NFS_CRED_ORIGIN 0x6e667333u /* "nfs3": fs_cred.origin of our calls */

/* ---- clients ---- */

static int parse_cidr(const char *s, struct nfs_cidr *out)
{
	char addr[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	if (n == 0 || n >= sizeof addr)
		return -EINVAL;
	memcpy(addr, s, n);
	addr[n] = '\0';
	memset(out, 0, sizeof *out);
	unsigned maxbits;
	if (inet_pton(AF_INET, addr, out->addr) == 1) {
		out->family = AF_INET;
		maxbits = 32;
	} else if (inet_pton(AF_INET6, addr, out->addr) == 1) {
		out->family = AF_INET6;
		maxbits = 128;
	} else {
		return -EINVAL;
	}
	out->bits = maxbits;
	if (slash) {
		char *end;
		unsigned long b = strtoul(slash + 1, &end, 10);
		if (!slash[1] || *end || b > maxbits)
			return -EINVAL;
		out->bits = (unsigned)b;
	}
	return 0;
}

int nfs_clients_parse(struct nfs_server *s, const char *const *list)
{
	size_t n = 0;
	while (list && list[n])
		n++;
	s->clients = n ? xcalloc(n, sizeof *s->clients) : NULL;
	s->nclients = n;
	for (size_t i = 0; i < n; i++) {
		if (parse_cidr(list[i], &s->clients[i]) < 0) {
			log_error("nfs: bad client address '%s' (expected ADDR or ADDR/BITS)",
				  list[i]);
			return -EINVAL;
		}
	}
	return 0;
}

static bool prefix_match(const uint8_t *a, const uint8_t *b, unsigned bits)
{
	unsigned bytes = bits / 8, rest = bits % 8;
	if (memcmp(a, b, bytes))
		return false;
	if (!rest)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (a[bytes] & mask) == (b[bytes] & mask);
}

bool nfs_client_allowed(const struct nfs_server *s, const struct sockaddr_storage *ss)
{
	if (!s->nclients)
		return true;
	uint8_t v4[4], v6[16];
	bool has4 = false, has6 = false;
	if (ss->ss_family == AF_INET) {
		memcpy(v4, &((const struct sockaddr_in *)ss)->sin_addr, 4);
		has4 = true;
	} else if (ss->ss_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;
		memcpy(v6, a, 16);
		has6 = true;
		if (IN6_IS_ADDR_V4MAPPED(a)) { /* ::ffff:a.b.c.d matches IPv4 entries */
			memcpy(v4, v6 + 12, 4);
			has4 = true;
		}
	}
	for (size_t i = 0; i < s->nclients; i++) {
		const struct nfs_cidr *c = &s->clients[i];
		if ((c->family == AF_INET && has4 && prefix_match(v4, c->addr, c->bits)) ||
		    (c->family == AF_INET6 && has6 && prefix_match(v6, c->addr, c->bits)))
			return true;
	}
	return false;
}

/* ---- credentials ---- */

void nfs_req_cred(const struct nfs_server *s, struct nfs_req *rq)
{
	struct fs_cred *c = &rq->cred;
	const struct rpc_call *call = &rq->call;
	memset(c, 0, sizeof *c);
	c->origin = NFS_CRED_ORIGIN;
	if (call->flavor != RPC_AUTH_SYS || s->squash == NFS_SQUASH_ALL) {
		c->uid = s->anon_uid;
		c->gid = s->anon_gid;
		return;
	}
	c->uid = call->uid;
	c->gid = call->gid;
	c->ngroups = call->ngroups;
	c->groups = call->groups;
	if (s->squash == NFS_SQUASH_ROOT) {
		/* As Linux's root_squash: uid 0 and gid 0 (also among the
		 * groups) become anon. */
		if (c->uid == 0)
			c->uid = s->anon_uid;
		if (c->gid == 0)
			c->gid = s->anon_gid;
		for (uint32_t i = 0; i < call->ngroups; i++)
			if (rq->call.groups[i] == 0)
				rq->call.groups[i] = s->anon_gid;
	}
}

/* ---- a connection ---- */

static ssize_t conn_read(void *arg, void *buf, size_t n)
{
	return net_conn_read(arg, buf, n);
}

static void req_free(struct nfs_req *rq)
{
	free(rq->rec);
	buf_free(&rq->out);
	free(rq);
}

static void req_send(struct nfs_req *rq)
{
	size_t len;
	uint8_t *data = buf_steal(&rq->out, &len);
	net_conn_reply(rq->conn, data, len); /* -ESHUTDOWN: freed, nobody listens */
	req_free(rq);
}

static void req_work(struct net_conn *c, void *job)
{
	struct nfs_req *rq = job;
	nfs_dispatch(rq);
	req_send(rq);
}

/* 0: sent or queued; <0: close the connection. */
static int serve_record(struct nfs_server *s, struct net_conn *c, uint8_t *rec, size_t len)
{
	struct nfs_req *rq = xcalloc(1, sizeof *rq);
	rq->srv = s;
	rq->conn = c;
	rq->rec = rec;
	rq->rec_len = len;
	rq->args = xdr_make(rec, len);
	switch (rpc_parse_call(&rq->args, &rq->call)) {
	case RPC_PARSE_DROP:
		log_warn("nfs: %s sent a record that is not an RPC call: closing",
			 net_conn_name(c));
		req_free(rq);
		return -EPROTO;
	case RPC_PARSE_RPC_MISMATCH:
		rpc_reply_denied_rpcvers(&rq->out, rq->call.xid);
		rpc_reply_finish(&rq->out);
		req_send(rq);
		return 0;
	case RPC_PARSE_BADCRED:
		rpc_reply_denied_auth(&rq->out, rq->call.xid, RPC_AUTH_BADCRED);
		rpc_reply_finish(&rq->out);
		req_send(rq);
		return 0;
	case RPC_PARSE_TOOWEAK:
		rpc_reply_denied_auth(&rq->out, rq->call.xid, RPC_AUTH_TOOWEAK);
		rpc_reply_finish(&rq->out);
		req_send(rq);
		return 0;
	case RPC_PARSE_OK:
		break;
	}
	if (rq->call.proc == 0) { /* NULL: nothing to wait for */
		req_work(c, rq);
		return 0;
	}
	int r = net_conn_submit(c, req_work, rq, len + sizeof *rq);
	if (r < 0) {
		req_free(rq);
		return r;
	}
	return 0;
}

static int nfs_serve(struct net_conn *c, void *arg)
{
	struct nfs_server *s = arg;
	socklen_t alen;
	const struct sockaddr_storage *peer = net_conn_peer(c, &alen);
	if (!nfs_client_allowed(s, peer)) {
		log_warn("nfs: %s is not in the allowed clients: closed", net_conn_name(c));
		return -EACCES;
	}
	if (s->secure && !net_conn_peer_privileged(c)) {
		log_warn("nfs: %s uses an unprivileged port and the export is secure: closed",
			 net_conn_name(c));
		return -EACCES;
	}
	for (;;) {
		uint8_t *rec;
		size_t len;
		int r = rpc_record_read(conn_read, c, RPC_RECORD_MAX, &rec, &len);
		if (r == 0 || r == -ECONNRESET)
			return 0; /* clients (libnfs) often end with a reset */
		if (r == -EMSGSIZE)
			log_warn("nfs: %s sent a record over %u bytes: closing", net_conn_name(c),
				 RPC_RECORD_MAX);
		if (r < 0)
			return r;
		r = serve_record(s, c, rec, len);
		if (r < 0)
			return r;
	}
}

static const struct net_proto nfs_proto = {
	.name = "nfs",
	.serve = nfs_serve,
};

/* ---- the export ---- */

static int resolve_export(struct nfs_server *s, const char *path)
{
	static const struct fs_cred root = { 0, 0, 0, NULL, NFS_CRED_ORIGIN };
	struct fs_attr a;
	int r = fs_getattr(s->fs, FS_ROOT_INO, &a);
	struct buf norm = BUF_INIT;
	const char *p = path && *path ? path : "/";
	while (r == 0 && *p) {
		while (*p == '/')
			p++;
		size_t n = strcspn(p, "/");
		if (!n)
			break;
		char name[FS_NAME_MAX + 1];
		if (n > FS_NAME_MAX) {
			r = -ENAMETOOLONG;
			break;
		}
		memcpy(name, p, n);
		name[n] = '\0';
		r = fs_lookup(s->fs, &root, a.ino, name, &a);
		buf_append(&norm, "/", 1);
		buf_append(&norm, name, n);
		p += n;
	}
	if (r == 0 && !S_ISDIR(a.mode))
		r = -ENOTDIR;
	if (r < 0) {
		log_error("nfs: export %s: %s", path, strerror(-r));
		buf_free(&norm);
		return r;
	}
	if (!norm.len)
		buf_append(&norm, "/", 1);
	buf_put_u8(&norm, 0);
	s->export_path = (char *)buf_steal(&norm, &(size_t){ 0 });
	s->export_ino = a.ino;
	s->export_gen = a.generation;
	return 0;
}

int nfs_server_start(struct fs *fs, const struct nfs_options *o, struct nfs_server **out)
{
	struct nfs_server *s = xcalloc(1, sizeof *s);
	s->fs = fs;
	s->read_only = o->read_only;
	s->squash = o->squash;
	s->anon_uid = o->anon_uid;
	s->anon_gid = o->anon_gid;
	s->secure = o->secure;
	s->async = o->async;
	s->handles.fsid = fs_fsid(fs);
	fs_handle_key(fs, s->handles.key);
	int r = nfs_clients_parse(s, o->clients);
	if (r == 0)
		r = resolve_export(s, o->export_path);
	struct net_options no = { .workers = o->workers };
	if (r == 0)
		r = net_server_new(&nfs_proto, s, &no, &s->net);
	for (size_t i = 0; r == 0 && o->listen && o->listen[i]; i++)
		r = net_server_listen_tcp(s->net, o->listen[i]);
	if (r == 0)
		r = net_server_start(s->net);
	if (r < 0) {
		nfs_server_stop(s);
		return r;
	}
	char where[256];
	net_server_describe(s->net, where, sizeof where);
	log_info("nfs: serving %s on %s%s", s->export_path, where,
		 s->read_only ? " (read-only)" : "");
	*out = s;
	return 0;
}

int nfs_server_describe(struct nfs_server *s, char *buf, size_t size)
{
	return net_server_describe(s->net, buf, size);
}

int nfs_server_port(struct nfs_server *s, unsigned i)
{
	return net_server_port(s->net, i);
}

void nfs_server_stop(struct nfs_server *s)
{
	if (!s)
		return;
	net_server_stop(s->net);
	free(s->clients);
	free(s->export_path);
	memset(s->handles.key, 0, sizeof s->handles.key);
	free(s);
}
