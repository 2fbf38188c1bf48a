/* transmit.c -- the transmission phase on the connection's reader
 * thread: read each request (header, and a WRITE's payload), check it
 * against the export, and hand it to the shared pool (command.c), which
 * replies as each finishes, so replies leave out of order.
 *
 * What closes the connection: a bad request magic, a READ or WRITE over
 * NBD_MAX_PAYLOAD (we never allocate what the client names beyond that),
 * EOF, NBD_CMD_DISC (after the requests in flight are answered: the net
 * layer waits for them).  Every other bad request gets an error reply and
 * the connection goes on. */
#include "nbd/nbd_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>

#include "net/net.h"
#include "util/log.h"
#include "util/mem.h"

/* Read a request's payload (a WRITE's data); the caller frees it. */
static int read_payload(struct nbd_conn *nc, uint32_t len, uint8_t **out)
{
	*out = NULL;
	if (!len)
		return 0;
	uint8_t *p = xmalloc(len);
	ssize_t n = net_conn_read(nc->c, p, len);
	if (n != (ssize_t)len) {
		free(p);
		return n < 0 ? (int)n : -EPIPE;
	}
	*out = p;
	return 0;
}

int nbd_transmit(struct nbd_conn *nc)
{
	const struct nbd_export_view ev = {
		.size = nc->ex.size,
		.read_only = nc->srv->read_only,
		.structured = nc->structured,
		.meta = nc->meta,
	};
	for (;;) {
		uint8_t h[NBD_REQUEST_SIZE];
		struct nbd_request rq;
		ssize_t n = net_conn_read(nc->c, h, sizeof h);
		if (n == 0)
			return 0;
		if (n < 0)
			return (int)n;
		if (nbd_decode_request(h, &rq) < 0) {
			log_info("nbd: %s: bad request magic: closing", net_conn_name(nc->c));
			return -EINVAL;
		}
		if (rq.type == NBD_CMD_DISC)
			return 0;
		bool close_conn;
		uint32_t err = nbd_check_request(&rq, &ev, &close_conn);
		if (close_conn) {
			log_info("nbd: %s: export %s: request of %" PRIu32 " bytes (at most %u): "
				 "closing", net_conn_name(nc->c), nc->ex.name, rq.length,
				 NBD_MAX_PAYLOAD);
			return -E2BIG;
		}
		uint8_t *payload = NULL;
		if (rq.type == NBD_CMD_WRITE) {
			/* Read it even when the request fails, to stay in step. */
			int r = read_payload(nc, rq.length, &payload);
			if (r < 0)
				return r;
		}
		if (err) {
			free(payload);
			nbd_reply_error(nc, &rq, err, "invalid request");
			continue;
		}
		struct nbd_job *job = xmalloc(sizeof *job);
		job->nc = nc;
		job->rq = rq;
		job->payload = payload;
		size_t cost = rq.type == NBD_CMD_READ || rq.type == NBD_CMD_WRITE ? rq.length : 0;
		int r = net_conn_submit(nc->c, nbd_command_run, job, cost + sizeof *job);
		if (r < 0) {
			free(payload);
			free(job);
			return r;
		}
	}
}
