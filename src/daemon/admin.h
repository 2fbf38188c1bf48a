/* admin.h -- the daemon's admin socket: protocol, server and client.
 *
 * A running daemon listens on a Unix stream socket, mode 0600, owned by
 * the user it runs as: [admin] socket, by default one per store and role
 * (admin_default_path).  `bucketfs status|flush|stats|checkpoint` talk to
 * it, so they never open a second writer beside the daemon.
 *
 * Protocol (text, one request per connection):
 *
 *   request   one line "VERB [ARGS]\n" of at most ADMIN_REQUEST_MAX bytes
 *             (the newline included), printable ASCII only
 *   success   "OK\n", then zero or more lines, then ".\n"; a line that
 *             starts with '.' is sent with one more '.' in front
 *   failure   "ERR <errno> <message>\n" (errno as a positive number)
 *
 * after which the server closes the connection.  Longer requests get
 * "ERR 7 ...", non-text or unterminated ones "ERR 22 ...", unknown verbs
 * "ERR 22 unknown request ...", a peer of another uid (root excepted)
 * "ERR 13 ...", more than ADMIN_MAX_CLIENTS at once "ERR 16 ...".  A
 * client that sends nothing for ADMIN_IO_TIMEOUT_MS is dropped; each
 * connection has its own thread, so a slow client never blocks the
 * daemon or the other clients.
 *
 * Requests:
 *   status                    "key value" lines: store, role, checkpoint,
 *                             pid, started, epoch, manifest, fenced,
 *                             frontend NAME ADDRESS (one per frontend),
 *                             admin, dirty_bytes, uploads_pending,
 *                             last_barrier, barriers, cache_ram_bytes,
 *                             cache_disk_bytes, metadata_cache_bytes,
 *                             memtable_bytes, lease_refresh
 *   flush                     a durability barrier of everything written
 *   stats                     "name value" lines: every data_stats and
 *                             lsm_stats counter ("data.gets 12")
 *   checkpoint create NAME    NAME is the rest of the line
 *   checkpoint delete NAME
 *   checkpoint list           "SEQ CREATED_NS NAME" lines
 *
 * Threads: admin_start starts the accept thread, which starts one
 * detached thread per connection; admin_stop waits for all of them. */
#ifndef BUCKETFS_DAEMON_ADMIN_H
#define BUCKETFS_DAEMON_ADMIN_H

#include <stdbool.h>
#include <stddef.h>

#define ADMIN_REQUEST_MAX 1024
#define ADMIN_MAX_CLIENTS 16
#define ADMIN_IO_TIMEOUT_MS 5000
#define ADMIN_CLIENT_TIMEOUT_MS 150000  /* above the default barrier_timeout (120 s) */

struct daemon;
struct admin;

/* ---- server (the daemon) ---- */
/* Listen on path: its directory is created (0700) if missing; a stale
 * socket there is replaced; a live one (another daemon answers) is
 * -EADDRINUSE unless replace (a writer taking over), anything else there
 * -EEXIST (logged).  admin_stop removes the socket file unless another
 * daemon has replaced it meanwhile. */
int admin_start(struct daemon *d, const char *path, bool replace, struct admin **out);
void admin_stop(struct admin *a);

/* ---- client (the CLI) ---- */
/* The default socket of a store: DIR/<16 hex of a hash of the URL>.sock
 * for the writer, ...-replica.sock for a replica, ...-checkpoint-<8 hex
 * of a hash of the name>.sock for a checkpoint view.  DIR is
 * $BUCKETFS_RUN_DIR if set, else /run/bucketfs for root, else
 * $XDG_RUNTIME_DIR/bucketfs, else /tmp/bucketfs-<uid>.  malloc'ed. */
char *admin_default_path(const char *url, bool read_only, const char *checkpoint);

/* The default run directory's last fallback, /tmp/bucketfs-<uid>, sits
 * in a directory everyone may write: another user could have made it
 * first and put a socket of theirs there.  So when a socket's directory
 * is that fallback and exists, it must be a directory (not a link) owned
 * by the effective uid with no group or other permission bits; else
 * -EPERM with the reason in err (admin_start logs it, admin_request
 * returns it).  admin_check_private_dir is that check on any dir. */
int admin_check_run_dir(const char *socket_path, char *err, size_t errsize);
int admin_check_private_dir(const char *dir, char *err, size_t errsize);

/* Send one request and read the reply.  0 on "OK": *body (malloc'ed,
 * may be "") holds the reply's lines, each ending in '\n'.  A daemon's
 * "ERR": its negative errno, with the message in err.  No daemon there:
 * -ENOENT or -ECONNREFUSED; not allowed: -EACCES; -EPROTO for a reply
 * that breaks the protocol; a request that is not one printable line of
 * at most ADMIN_REQUEST_MAX bytes is not sent (-EINVAL, -E2BIG).  A
 * daemon that does not answer within ADMIN_CLIENT_TIMEOUT_MS (flush and
 * checkpoint run barriers, which wait for uploads) is -ETIMEDOUT. */
int admin_request(const char *path, const char *request, char **body, char *err,
		  size_t errsize);

#endif
