/* rpc.c -- ONC RPC (RFC 5531) over TCP: record marking, the call header
 * with its credential, the reply headers, and dispatch to the programs
 * this port serves (NFS v3 and MOUNT v3).
 *
 * Credentials: AUTH_SYS (stamp, machine name <= 255 bytes, uid, gid, at
 * most 16 groups) and AUTH_NONE are taken; a malformed one, or an unknown
 * flavour, is AUTH_BADCRED; the known flavours we do not serve (AUTH_DH,
 * Kerberos 4, RPCSEC_GSS, AUTH_SHORT) are AUTH_TOOWEAK.  Replies always
 * carry an AUTH_NONE verifier. */
#include "nfs/nfs_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/coding.h"
#include "util/log.h"
#include "util/mem.h"

int rpc_record_read(rpc_read_fn rd, void *arg, size_t max, uint8_t **rec, size_t *len)
{
	struct buf b = BUF_INIT;
	*rec = NULL;
	*len = 0;
	for (unsigned frag = 0;; frag++) {
		uint8_t hdr[4];
		ssize_t n = rd(arg, hdr, 4);
		if (n == 0 && frag == 0)
			return 0;
		if (n != 4) {
			buf_free(&b);
			return n < 0 ? (int)n : -EPIPE;
		}
		uint32_t mark = be32_get(hdr);
		size_t flen = mark & 0x7fffffffu;
		if (flen > max - b.len || frag >= RPC_FRAGMENTS_MAX) {
			buf_free(&b);
			return -EMSGSIZE;
		}
		if (flen) {
			buf_reserve(&b, flen);
			n = rd(arg, b.data + b.len, flen);
			if (n != (ssize_t)flen) {
				buf_free(&b);
				return n < 0 ? (int)n : -EPIPE;
			}
			b.len += flen;
		}
		if (mark & 0x80000000u)
			break;
	}
	/* The buffer grew by doubling: a 1 MiB WRITE would hold 2 MiB while
	 * the connection's budget counts its length.  Give the slack back. */
	if (b.cap - b.len > 4096)
		b.data = xrealloc(b.data, b.len ? b.len : 1);
	*rec = buf_steal(&b, len);
	if (!*rec)
		*rec = xmalloc(1); /* an empty record is still one */
	return 1;
}

/* opaque_auth: flavour and a body of at most 400 bytes. */
static const uint8_t *parse_opaque_auth(struct xdr *x, uint32_t *flavor, uint32_t *len)
{
	*flavor = xdr_u32(x);
	return xdr_opaque(x, RPC_AUTH_BODY_MAX, len);
}

static bool parse_auth_sys(const uint8_t *body, uint32_t len, struct rpc_call *c)
{
	struct xdr x = xdr_make(body, len);
	uint32_t n;
	(void)xdr_u32(&x); /* stamp */
	(void)xdr_opaque(&x, RPC_AUTH_SYS_MACHINE_MAX, &n);
	c->uid = xdr_u32(&x);
	c->gid = xdr_u32(&x);
	c->ngroups = xdr_u32(&x);
	if (x.err || c->ngroups > RPC_AUTH_SYS_GROUPS_MAX)
		return false;
	for (uint32_t i = 0; i < c->ngroups; i++)
		c->groups[i] = xdr_u32(&x);
	return !x.err && xdr_left(&x) == 0;
}

enum rpc_parse rpc_parse_call(struct xdr *x, struct rpc_call *c)
{
	memset(c, 0, sizeof *c);
	c->xid = xdr_u32(x);
	uint32_t type = xdr_u32(x);
	if (x->err || type != RPC_CALL)
		return RPC_PARSE_DROP;
	uint32_t rpcvers = xdr_u32(x);
	c->prog = xdr_u32(x);
	c->vers = xdr_u32(x);
	c->proc = xdr_u32(x);
	if (x->err)
		return RPC_PARSE_DROP;
	if (rpcvers != RPC_VERSION)
		return RPC_PARSE_RPC_MISMATCH;
	uint32_t len, vflavor, vlen;
	const uint8_t *body = parse_opaque_auth(x, &c->flavor, &len);
	(void)parse_opaque_auth(x, &vflavor, &vlen);
	if (x->err)
		return RPC_PARSE_BADCRED;
	switch (c->flavor) {
	case RPC_AUTH_NONE:
		return RPC_PARSE_OK;
	case RPC_AUTH_SYS:
		return parse_auth_sys(body, len, c) ? RPC_PARSE_OK : RPC_PARSE_BADCRED;
	case RPC_AUTH_SHORT:
	case RPC_AUTH_DH:
	case RPC_AUTH_KERB4:
	case RPC_RPCSEC_GSS:
		return RPC_PARSE_TOOWEAK;
	default:
		return RPC_PARSE_BADCRED;
	}
}

/* ---- replies ---- */

void rpc_reply_begin(struct buf *b, uint32_t xid)
{
	buf_reset(b);
	xdr_put_u32(b, 0); /* the record mark, set by rpc_reply_finish */
	xdr_put_u32(b, xid);
	xdr_put_u32(b, RPC_REPLY);
}

void rpc_reply_accepted(struct buf *b, uint32_t xid, enum rpc_accept_stat st)
{
	rpc_reply_begin(b, xid);
	xdr_put_u32(b, RPC_MSG_ACCEPTED);
	xdr_put_u32(b, RPC_AUTH_NONE); /* verifier */
	xdr_put_u32(b, 0);
	xdr_put_u32(b, st);
}

void rpc_reply_mismatch(struct buf *b, uint32_t xid, enum rpc_accept_stat st, uint32_t low,
			uint32_t high)
{
	rpc_reply_accepted(b, xid, st);
	xdr_put_u32(b, low);
	xdr_put_u32(b, high);
}

void rpc_reply_denied_auth(struct buf *b, uint32_t xid, enum rpc_auth_stat st)
{
	rpc_reply_begin(b, xid);
	xdr_put_u32(b, RPC_MSG_DENIED);
	xdr_put_u32(b, RPC_AUTH_ERROR);
	xdr_put_u32(b, st);
}

void rpc_reply_denied_rpcvers(struct buf *b, uint32_t xid)
{
	rpc_reply_begin(b, xid);
	xdr_put_u32(b, RPC_MSG_DENIED);
	xdr_put_u32(b, RPC_MISMATCH);
	xdr_put_u32(b, RPC_VERSION);
	xdr_put_u32(b, RPC_VERSION);
}

void rpc_reply_finish(struct buf *b)
{
	be32_put(b->data, 0x80000000u | (uint32_t)(b->len - 4));
}

/* ---- dispatch ---- */

static const struct nfs_proc *find_proc(struct nfs_req *rq)
{
	const struct rpc_call *c = &rq->call;
	const struct nfs_proc *table;
	uint32_t nprocs;
	if (c->prog == NFS_PROGRAM) {
		table = nfs3_procs;
		nprocs = NFS3_PROCS;
	} else if (c->prog == MOUNT_PROGRAM) {
		table = mount3_procs;
		nprocs = MOUNT3_PROCS;
	} else {
		rpc_reply_accepted(&rq->out, c->xid, RPC_PROG_UNAVAIL);
		return NULL;
	}
	if (c->vers != 3) {
		rpc_reply_mismatch(&rq->out, c->xid, RPC_PROG_MISMATCH, 3, 3);
		return NULL;
	}
	if (c->proc >= nprocs) {
		rpc_reply_accepted(&rq->out, c->xid, RPC_PROC_UNAVAIL);
		return NULL;
	}
	return &table[c->proc];
}

void nfs_dispatch(struct nfs_req *rq)
{
	const struct nfs_proc *p = find_proc(rq);
	if (p) {
		union nfs_args a;
		memset(&a, 0, sizeof a);
		if (p->decode(&rq->args, &a) < 0) {
			log_debug("nfs: %s from %s: garbage arguments", p->name,
				  rq->conn ? net_conn_name(rq->conn) : "-");
			rpc_reply_accepted(&rq->out, rq->call.xid, RPC_GARBAGE_ARGS);
		} else {
			log_debug("nfs: %s xid %08x", p->name, rq->call.xid);
			nfs_req_cred(rq->srv, rq);
			rpc_reply_accepted(&rq->out, rq->call.xid, RPC_SUCCESS);
			p->exec(rq, &a);
		}
	}
	rpc_reply_finish(&rq->out);
}
