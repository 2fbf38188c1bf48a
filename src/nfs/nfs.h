/* nfs.h -- the NFSv3 frontend: the filesystem core (fs.h) over ONC RPC.
 *
 * One TCP port serves NFS version 3 (program 100003, RFC 1813) and MOUNT
 * version 3 (program 100005), so a client needs no portmapper:
 *   mount -t nfs -o vers=3,proto=tcp,port=P,mountport=P host:/ /mnt
 * Requests run on the net layer's worker pool (src/net/net.h) and their
 * replies leave in the order they finish.
 *
 * Security: file handles carry a MAC keyed from the data key (handle.c),
 * so they cannot be forged; clients are admitted by address (clients) and,
 * with secure, only from privileged ports; AUTH_SYS credentials are taken
 * as given (as with any NFSv3 server) after the squash rule.
 *
 * Errors are negative errno values. */
#ifndef BUCKETFS_NFS_NFS_H
#define BUCKETFS_NFS_NFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fs;
struct nfs_server;

enum nfs_squash {
	NFS_SQUASH_ROOT = 0,   /* uid 0 / gid 0 become anon (Linux's default) */
	NFS_SQUASH_NONE,       /* credentials as the client sends them */
	NFS_SQUASH_ALL,        /* every caller is anon, no groups */
};

struct nfs_options {
	const char *const *listen;    /* NULL-terminated "host:port" list */
	const char *export_path;      /* a directory of the filesystem; NULL: "/" */
	bool read_only;               /* every mutation is NFS3ERR_ROFS */
	/* Admitted clients: "addr/bits" or "addr" entries (IPv4 or IPv6),
	 * NULL-terminated.  NULL or empty: every client. */
	const char *const *clients;
	enum nfs_squash squash;
	uint32_t anon_uid, anon_gid;  /* AUTH_NONE and squashed callers */
	bool secure;                  /* only clients on ports below 1024 */
	/* Reply to namespace and attribute changes (CREATE, MKDIR, REMOVE,
	 * RENAME, SETATTR ...) before they are durable, as Linux's "async"
	 * export option.  Off (the default, RFC 1813 and Linux's "sync"): each
	 * is committed (fs_commit) before its reply, since a client never
	 * sends COMMIT for them and fsync of a directory sends nothing. */
	bool async;
	unsigned workers;             /* 0: the net layer's default */
};

/* Resolve the export, listen and serve.  -EINVAL for a bad client list
 * or listen address, -ENOENT / -ENOTDIR for a bad export path. */
int nfs_server_start(struct fs *fs, const struct nfs_options *o, struct nfs_server **out);
/* "tcp 127.0.0.1:2049"; snprintf semantics. */
int nfs_server_describe(struct nfs_server *s, char *buf, size_t size);
/* The TCP port of listen address i, or -ENOENT (port 0 picks one). */
int nfs_server_port(struct nfs_server *s, unsigned i);
/* Stop, wait for every connection and request, free s.  NULL: no-op. */
void nfs_server_stop(struct nfs_server *s);

#endif
