/* net.h -- the connection server shared by the network frontends (NFS,
 * 9P, NBD): listeners, a reader and a writer thread per connection, one
 * worker pool for the requests of every connection.
 *
 * The protocol supplies serve(): it runs on the connection's reader thread,
 * reads requests with net_conn_read(), answers cheap ones itself and hands
 * the rest to the shared pool with net_conn_submit().  Whoever answers
 * queues the reply with net_conn_reply(); the connection's writer thread
 * sends replies in the order they were queued.  So replies may leave in
 * another order than their requests came (each carries the protocol's own
 * xid / tag / handle), and no worker ever blocks on a socket: a client that
 * stops reading stalls only itself.
 *
 * Memory per connection is bounded: the cost given to each submitted
 * request (its size) plus the bytes of replies not yet sent may not exceed
 * the connection's budget, and at most max_inflight requests run at once.
 * net_conn_submit() waits while the connection is over either bound, which
 * stops its reader and lets TCP push back on that client only.  One request
 * is always admitted, so a request larger than the budget still runs (the
 * protocol caps sizes itself and closes on an oversized one).
 *
 * Life cycle of a connection: accept -> serve() on the reader thread ->
 * serve() returns (EOF, protocol error, server stopping) -> wait for its
 * requests in the pool -> release() -> the writer sends what is queued ->
 * close.  net_server_stop() shuts every connection down (their blocked
 * reads and sends return), waits for all of them and frees the server.
 *
 * Errors are negative errno values. */
#ifndef BUCKETFS_NET_NET_H
#define BUCKETFS_NET_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

struct net_server;
struct net_conn;

struct net_proto {
	const char *name;                 /* "nfs", "9p", "nbd": for log lines */
	/* Serve c until it should close; the return value is only logged
	 * (0: orderly end; -errno: why it was closed). */
	int (*serve)(struct net_conn *c, void *arg);
	/* Optional: called once after serve() returned and every submitted
	 * request of c finished, before c is freed: free the protocol's
	 * per-connection state (net_conn_data). */
	void (*release)(struct net_conn *c, void *arg);
};

struct net_options {
	unsigned workers;        /* pool threads; 0: 4 * max_inflight (so one
	                          * connection never holds them all) */
	unsigned max_conns;      /* connections at once (more are closed at
	                          * accept, logged); 0: 256 */
	unsigned max_inflight;   /* requests per connection at once; 0: 16 */
	size_t conn_budget;      /* bytes per connection in flight; 0: 64 MiB */
};

int net_server_new(const struct net_proto *proto, void *arg,
		   const struct net_options *opt, struct net_server **out);
/* Listen on "host:port", "[v6addr]:port" or ":port" (every address);
 * port 0 picks a free one (net_server_describe says which).  -EINVAL for a
 * malformed address, else the errno of getaddrinfo/bind/listen (logged,
 * naming the address).  Before net_server_start only. */
int net_server_listen_tcp(struct net_server *s, const char *addr);
/* Check addr as net_server_listen_tcp would, logging the same way under
 * the name who ("nfs"): -EINVAL when malformed; with try_bind it is also
 * bound (and closed again), so a busy or foreign address fails now, with
 * the errno it would fail with at start.  For a daemon's checks before
 * it opens anything (try_bind) and for `run --check` (syntax only: a
 * running daemon may hold the address). */
int net_listen_check(const char *who, const char *addr, bool try_bind);
/* Listen on a Unix socket at path (a stale socket file there is replaced;
 * one another server answers on is -EADDRINUSE, any other file -EEXIST),
 * chmod'ed to mode. */
int net_server_listen_unix(struct net_server *s, const char *path, mode_t mode);
/* Start the pool and one accept thread per listener. */
int net_server_start(struct net_server *s);
/* "tcp 127.0.0.1:2049, unix /run/bucketfs/9p.sock"; snprintf semantics. */
int net_server_describe(struct net_server *s, char *buf, size_t size);
/* The TCP port of listener i (in listen order), or -ENOENT. */
int net_server_port(struct net_server *s, unsigned i);
/* Stop accepting, shut every connection down, wait for all, free s.
 * NULL is a no-op. */
void net_server_stop(struct net_server *s);

/* ---- on a connection ---- */

/* Read exactly len bytes: returns len; 0 at EOF before the first byte;
 * -EPIPE at EOF in the middle; -ESHUTDOWN when the server is stopping or
 * the connection was closed; other -errno from recv. Reader thread only. */
ssize_t net_conn_read(struct net_conn *c, void *buf, size_t len);
/* Run fn(c, job) on the pool; cost (the request's bytes) counts against
 * the connection's budget until fn returns.  Waits while the connection is
 * over budget or max_inflight.  -ESHUTDOWN when closing (fn is not run:
 * the caller still owns job).  Reader thread only. */
int net_conn_submit(struct net_conn *c, void (*fn)(struct net_conn *c, void *job),
		    void *job, size_t cost);
/* Queue buf[0, len) to be sent; takes ownership of buf (free()d once
 * sent, or at once when the connection is closing: -ESHUTDOWN).  Any
 * thread, while c lives: from serve(), a submitted job, or a thread of
 * the protocol's that release() waits for; never after release()
 * returned (c is freed right after: a reply then is a use after free).  Replies leave in the order they were queued; each is written
 * whole, never interleaved with another. */
int net_conn_reply(struct net_conn *c, void *buf, size_t len);
/* Close c after the queued replies are sent: its reader's next (or
 * current) net_conn_read returns -ESHUTDOWN.  For a protocol error found
 * in a worker.  Any thread. */
void net_conn_close(struct net_conn *c);
/* True once c is closing (net_conn_close, server stop, a send error). */
bool net_conn_closing(struct net_conn *c);

/* The protocol's per-connection state (NULL until set). */
void net_conn_set_data(struct net_conn *c, void *data);
void *net_conn_data(struct net_conn *c);
/* The peer: its address (AF_INET, AF_INET6 or AF_UNIX) and, for a Unix
 * socket, its credentials (-ENOTSOCK-like -EAFNOSUPPORT for TCP). */
const struct sockaddr_storage *net_conn_peer(struct net_conn *c, socklen_t *len);
int net_conn_peer_cred(struct net_conn *c, uid_t *uid, gid_t *gid, pid_t *pid);
/* "192.0.2.5:881", "[::1]:1020" or "unix pid 123": for log lines. */
const char *net_conn_name(struct net_conn *c);
/* True when the peer's port is below 1024 (NFS "secure" exports). */
bool net_conn_peer_privileged(struct net_conn *c);

#endif
