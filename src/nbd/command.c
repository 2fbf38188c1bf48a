/* command.c -- running one NBD request on a pool worker and queueing its
 * reply: simple replies, or structured ones (OFFSET_DATA, BLOCK_STATUS,
 * ERROR, NONE) when the client negotiated them.
 *
 * The mapping onto the core: READ fs_read; WRITE fs_write; FUA and FLUSH
 * fs_commit, the core's barrier, which is global (every inode's committed
 * changes), so one connection's FLUSH covers what every connection had
 * written (CAN_MULTI_CONN); TRIM and WRITE_ZEROES punch holes (the
 * segments' space comes back through segment GC), WRITE_ZEROES with
 * NO_HOLE zeroes the range (all-zero extents are holes in bucketfs
 * anyway, so the result is the same); BLOCK_STATUS base:allocation is
 * fs_map: a hole reads as zeroes (HOLE|ZERO). */
#include "nbd/nbd_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "fs/fs.h"
#include "net/net.h"
#include "util/coding.h"
#include "util/log.h"
#include "util/mem.h"

static const struct fs_cred nbd_cred = { 0, 0, 0, NULL, NBD_ORIGIN };

/* A structured chunk header at p for a payload of len bytes. */
static void chunk_header(uint8_t *p, uint16_t flags, uint16_t type, uint64_t handle,
			 uint32_t len)
{
	be32_put(p, NBD_STRUCTURED_REPLY_MAGIC);
	be16_put(p + 4, flags);
	be16_put(p + 6, type);
	be64_put(p + 8, handle);
	be32_put(p + 16, len);
}

static void simple_header(uint8_t *p, uint32_t err, uint64_t handle)
{
	be32_put(p, NBD_SIMPLE_REPLY_MAGIC);
	be32_put(p + 4, err);
	be64_put(p + 8, handle);
}

void nbd_reply_error(struct nbd_conn *nc, const struct nbd_request *rq, uint32_t err,
		     const char *msg)
{
	uint8_t *p;
	size_t n;
	if (nc->structured) {
		size_t mlen = strlen(msg);
		n = NBD_CHUNK_HEADER_SIZE + 6 + mlen;
		p = xmalloc(n);
		chunk_header(p, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_ERROR, rq->handle,
			     (uint32_t)(6 + mlen));
		be32_put(p + 20, err);
		be16_put(p + 24, (uint16_t)mlen);
		memcpy(p + 26, msg, mlen);
	} else {
		n = NBD_SIMPLE_REPLY_SIZE;
		p = xmalloc(n);
		simple_header(p, err, rq->handle);
	}
	net_conn_reply(nc->c, p, n);
}

static void reply_ok(struct nbd_conn *nc, const struct nbd_request *rq)
{
	uint8_t *p;
	size_t n;
	if (nc->structured) {
		n = NBD_CHUNK_HEADER_SIZE;
		p = xmalloc(n);
		chunk_header(p, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_NONE, rq->handle, 0);
	} else {
		n = NBD_SIMPLE_REPLY_SIZE;
		p = xmalloc(n);
		simple_header(p, 0, rq->handle);
	}
	net_conn_reply(nc->c, p, n);
}

/* The reply and result of a failed call: r is -errno. */
static void reply_errno(struct nbd_conn *nc, const struct nbd_request *rq, int r,
			const char *what)
{
	if (r == -EIO || r == -ENOSPC || r == -EBUSY)
		log_warn("nbd: export %s: %s at %" PRIu64 " +%" PRIu32 ": %s", nc->ex.name, what,
			 rq->offset, rq->length, strerror(-r));
	else
		log_debug("nbd: export %s: %s at %" PRIu64 " +%" PRIu32 ": %s", nc->ex.name,
			  what, rq->offset, rq->length, strerror(-r));
	nbd_reply_error(nc, rq, nbd_errno(-r), strerror(-r));
}

static void cmd_read(struct nbd_conn *nc, const struct nbd_request *rq)
{
	if (rq->length == 0) {
		reply_ok(nc, rq);
		return;
	}
	/* The data goes straight into the reply buffer, after its header. */
	size_t hdr = nc->structured ? NBD_CHUNK_HEADER_SIZE + 8 : NBD_SIMPLE_REPLY_SIZE;
	uint8_t *p = xmalloc(hdr + rq->length);
	size_t got = 0;
	int r = fs_read(nc->srv->fs, nc->ex.ino, rq->offset, p + hdr, rq->length, &got);
	if (r < 0) {
		free(p);
		reply_errno(nc, rq, r, "read");
		return;
	}
	/* Past the end of the file: not while pinned here, but a read-only
	 * replica's pin does not bind the writer, which may shrink it.
	 * Zeroes, as a hole reads. */
	if (got < rq->length)
		memset(p + hdr + got, 0, rq->length - got);
	if (nc->structured) {
		chunk_header(p, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_OFFSET_DATA, rq->handle,
			     8 + rq->length);
		be64_put(p + NBD_CHUNK_HEADER_SIZE, rq->offset);
	} else {
		simple_header(p, 0, rq->handle);
	}
	net_conn_reply(nc->c, p, hdr + rq->length);
}

static int do_write(struct nbd_conn *nc, const struct nbd_request *rq, const uint8_t *data)
{
	size_t done = 0;
	while (done < rq->length) {
		size_t put = 0;
		int r = fs_write(nc->srv->fs, &nbd_cred, nc->ex.ino, rq->offset + done, data + done,
				 rq->length - done, &put);
		if (r < 0)
			return r;
		if (put == 0)
			return -EIO;
		done += put;
	}
	return 0;
}

static int do_zero(struct nbd_conn *nc, const struct nbd_request *rq, bool punch)
{
	int mode = punch ? FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
			 : FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
	if (rq->length == 0)
		return 0;
	return fs_fallocate(nc->srv->fs, &nbd_cred, nc->ex.ino, mode, rq->offset, rq->length,
			    NULL);
}

/* ---- BLOCK_STATUS ---- */

struct status_ctx {
	uint8_t *buf;             /* descriptors: u32 length, u32 flags */
	uint32_t n, cap;
	bool one;                 /* REQ_ONE */
};

static int status_run(void *arg, uint64_t off, uint64_t len, bool data)
{
	struct status_ctx *sc = arg;
	uint32_t flags = data ? 0 : NBD_STATE_HOLE | NBD_STATE_ZERO;
	(void)off;
	if (sc->n && be32_get(sc->buf + 8 * (sc->n - 1) + 4) == flags) {
		uint64_t merged = be32_get(sc->buf + 8 * (sc->n - 1)) + len;
		if (merged <= UINT32_MAX) {
			be32_put(sc->buf + 8 * (sc->n - 1), (uint32_t)merged);
			return 0;
		}
	}
	if (sc->n && (sc->one || sc->n == NBD_STATUS_EXTENTS_MAX))
		return 1;   /* a shorter answer is allowed: the client asks again */
	if (sc->n == sc->cap) {
		sc->cap = sc->cap ? sc->cap * 2 : 64;
		sc->buf = xrealloc(sc->buf, (size_t)sc->cap * 8);
	}
	be32_put(sc->buf + 8 * sc->n, (uint32_t)len);
	be32_put(sc->buf + 8 * sc->n + 4, flags);
	sc->n++;
	return 0;
}

static void cmd_block_status(struct nbd_conn *nc, const struct nbd_request *rq)
{
	struct status_ctx sc = { .one = rq->flags & NBD_CMD_FLAG_REQ_ONE };
	int r = fs_map(nc->srv->fs, nc->ex.ino, rq->offset, rq->length, status_run, &sc);
	if (r < 0 || sc.n == 0) {
		free(sc.buf);
		reply_errno(nc, rq, r < 0 ? r : -EIO, "block status");
		return;
	}
	size_t plen = 4 + (size_t)sc.n * 8;
	uint8_t *p = xmalloc(NBD_CHUNK_HEADER_SIZE + plen);
	chunk_header(p, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_BLOCK_STATUS, rq->handle,
		     (uint32_t)plen);
	be32_put(p + NBD_CHUNK_HEADER_SIZE, NBD_META_ID_BASE_ALLOCATION);
	memcpy(p + NBD_CHUNK_HEADER_SIZE + 4, sc.buf, (size_t)sc.n * 8);
	free(sc.buf);
	net_conn_reply(nc->c, p, NBD_CHUNK_HEADER_SIZE + plen);
}

void nbd_command_run(struct net_conn *c, void *arg)
{
	struct nbd_job *job = arg;
	struct nbd_conn *nc = job->nc;
	const struct nbd_request *rq = &job->rq;
	struct fs *fs = nc->srv->fs;
	bool fua = rq->flags & NBD_CMD_FLAG_FUA;
	int r = 0;
	const char *what = "flush";
	(void)c;
	switch (rq->type) {
	case NBD_CMD_READ:
		cmd_read(nc, rq);
		goto out;
	case NBD_CMD_BLOCK_STATUS:
		cmd_block_status(nc, rq);
		goto out;
	case NBD_CMD_WRITE:
		what = "write";
		r = do_write(nc, rq, job->payload);
		break;
	case NBD_CMD_TRIM:
		what = "trim";
		r = do_zero(nc, rq, true);
		break;
	case NBD_CMD_WRITE_ZEROES:
		what = "write zeroes";
		r = do_zero(nc, rq, !(rq->flags & NBD_CMD_FLAG_NO_HOLE));
		break;
	case NBD_CMD_FLUSH:
		fua = true;
		break;
	default:
		r = -EINVAL;
		break;
	}
	/* FUA and FLUSH: durable before the reply. */
	if (r == 0 && fua)
		r = fs_commit(fs, nc->ex.ino, 0, nc->ex.size);
	if (r < 0)
		reply_errno(nc, rq, r, what);
	else
		reply_ok(nc, rq);
out:
	free(job->payload);
	free(job);
}
