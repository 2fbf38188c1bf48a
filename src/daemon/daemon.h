/* daemon.h -- the bucketfs daemon: one object that serves one store.
 *
 * The daemon sits between the command line (src/cli) and the frontends
 * (src/fuse, later src/nfs, src/ninep, src/nbd).  It opens the stack from
 * the configuration, in this order:
 *
 *   object store -> conditional-put probe (writer) -> lease check (writer:
 *   refuse while another writer is alive, unless takeover) -> bucketfs.key
 *   (created with the filesystem when a writer finds none) -> subkeys ->
 *   stop signals (DAEMON_SIGNALS) -> metadata LSM (the writer writes its
 *   epoch-start manifest here: this fences any previous writer) -> lease
 *   (writer) -> data plane -> filesystem core
 *
 * and daemon_serve() then starts the admin socket (admin.h), the replica
 * follower (a read-only replica polls the store every refresh_interval)
 * and every frontend the configuration enables (frontend.h), and waits
 * until it is asked to stop: a stop signal, daemon_request_stop(), or a
 * frontend that ended by itself (an unmount).  It then drains the
 * frontends (FUSE: syncfs, so the kernel's write-back cache reaches the
 * core) and stops them.  daemon_close() makes everything durable
 * (fs_sync, the data plane's final barrier and clean-shutdown mark, the
 * LSM flush), removes the lease and frees everything.
 *
 * Roles: the writer (default; one per store, fenced through the
 * manifest epoch, visible through its lease), a read-only replica
 * (conf->read_only: follows the writer, every change is EROFS) and a
 * checkpoint view (conf->checkpoint: read-only, pinned to that checkpoint,
 * never follows).  Replicas and checkpoint views write nothing: no lease,
 * no manifest, no probe object.
 *
 * The periodic flush is the data plane's own flush thread
 * (data_options.flush_interval_ms, from [filesystem] flush_interval): the
 * daemon decides the interval, the data plane runs the thread.
 *
 * Tests open the stack in-process with daemon_open() (no signals, no
 * frontends, conf->admin_socket "" for no socket) and use daemon_fs().
 *
 * Threads: those of the layers it opens; with DAEMON_SIGNALS the signal
 * thread (process-wide, as signals are); the lease refresher (writer);
 * while serving, the admin socket's accept thread and one thread per admin
 * connection, the replica follower (replica), and the frontends' own. */
#ifndef BUCKETFS_DAEMON_DAEMON_H
#define BUCKETFS_DAEMON_DAEMON_H

#include <stdbool.h>
#include <stdint.h>

struct conf;
struct fs;
struct daemon;

enum daemon_role { DAEMON_WRITER, DAEMON_REPLICA, DAEMON_CHECKPOINT };

/* daemon_open flags */
#define DAEMON_SIGNALS 1u  /* take SIGINT, SIGTERM and SIGHUP (bucketfs run) */

/* Open the stack described by c (which must outlive the daemon).  0, or
 * a negative errno after logging what failed and why: -EBUSY when another
 * writer is alive (its host, pid and start time are logged), -EINTR when
 * a stop signal came while opening. */
int daemon_open(const struct conf *c, unsigned flags, struct daemon **out);

/* The filesystem core, for in-process users (tests). */
struct fs *daemon_fs(struct daemon *d);
enum daemon_role daemon_role(const struct daemon *d);
const char *daemon_role_name(enum daemon_role r);

/* Does the configuration enable at least one frontend?  false after
 * logging "no frontend enabled: ..." (call before daemon_open, so a
 * writer is not fenced for nothing). */
bool daemon_frontends_configured(const struct conf *c);
/* The checks each enabled frontend makes before the stack opens (FUSE:
 * the mount point exists and holds no live mount; NFS, 9P, NBD: their
 * TCP addresses can be bound).  at_start false: only what does not
 * disturb a running daemon (`run --check`: address syntax).  0 or
 * negative errno, logged. */
int daemon_frontends_check(const struct conf *c, bool at_start);

/* Start the admin socket, the follower and the frontends, serve until
 * asked to stop, then drain and stop the frontends.  -EINVAL (logged)
 * when no frontend is enabled; a frontend or the admin socket that cannot
 * start is an error too (everything started is stopped again). */
int daemon_serve(struct daemon *d);
/* Ask daemon_serve to return (any thread; why is logged). */
void daemon_request_stop(struct daemon *d, const char *why);

/* The final flush, lease release and free.  0, or the first error
 * (logged): then writes since the last durable point may be lost. */
int daemon_close(struct daemon *d);

/* ---- what the admin socket offers, also in-process ---- */
/* A durability barrier of everything written so far (writer only). */
int daemon_flush(struct daemon *d);
/* A named checkpoint of everything written so far, made by this daemon,
 * so it never fences it.  -EEXIST, -EINVAL (bad name), -EROFS. */
int daemon_checkpoint_create(struct daemon *d, const char *name);
int daemon_checkpoint_delete(struct daemon *d, const char *name);
int daemon_checkpoint_list(struct daemon *d,
			   void (*cb)(void *arg, const char *name, uint64_t manifest_seq,
				      uint64_t created_ns),
			   void *arg);
/* The admin socket's path, or NULL when it has none (yet). */
const char *daemon_admin_path(const struct daemon *d);

#endif
