/* nbd.h -- the NBD server: block devices that are files of the
 * filesystem.
 *
 * Every regular file in the export directory (/.nbd unless configured) is
 * an export named by its file name, looked up at each NBD_OPT_GO /
 * NBD_OPT_EXPORT_NAME, so `truncate -s 10G /mnt/bucketfs/.nbd/disk1`
 * through any frontend makes one without a restart.  The export's size is
 * the file's size when a client attaches; while it has clients the file
 * is pinned in the core (fs_pin): truncating it or removing its last name
 * fails with EBUSY and a warning naming the export.
 *
 * The protocol is the fixed newstyle handshake (NBD_OPT_LIST, INFO, GO,
 * EXPORT_NAME, STRUCTURED_REPLY, LIST/SET_META_CONTEXT base:allocation,
 * ABORT) and the transmission phase READ, WRITE (FUA), FLUSH, TRIM,
 * WRITE_ZEROES (NO_HOLE), BLOCK_STATUS and DISC, served through the
 * shared connection server (net.h): many requests per connection run at
 * once and their replies leave as they finish.  FLUSH and FUA are the
 * core's barrier (fs_commit), which is global, so one connection's FLUSH
 * covers the writes every connection had completed (CAN_MULTI_CONN).
 *
 * Errors are negative errno values. */
#ifndef BUCKETFS_NBD_NBD_H
#define BUCKETFS_NBD_NBD_H

#include <stdbool.h>
#include <stddef.h>

struct fs;
struct nbd_server;

struct nbd_options {
	const char *listen;       /* "host:port" for TCP, or NULL */
	const char *socket;       /* a Unix socket path, or NULL */
	bool read_only;           /* a replica or checkpoint: READ_ONLY exports */
	const char *export_dir;   /* NULL: "/.nbd" */
	unsigned workers;         /* pool threads (0: the net layer's default) */
};

/* Listen and serve fs until nbd_server_stop.  At least one of listen and
 * socket must be set (-EINVAL). */
int nbd_server_start(struct fs *fs, const struct nbd_options *o, struct nbd_server **out);
/* "tcp 127.0.0.1:10809, unix /run/x.sock"; snprintf semantics. */
int nbd_server_describe(struct nbd_server *s, char *buf, size_t size);
/* The TCP port it listens on (the listener picked a free one for port 0),
 * or -ENOENT without TCP. */
int nbd_server_port(struct nbd_server *s);
/* Disconnect every client, wait for their requests, free s.  NULL: no-op. */
void nbd_server_stop(struct nbd_server *s);

#endif
