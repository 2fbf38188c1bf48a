/* ninep.h -- the 9P2000.L frontend: the filesystem core (fs.h) served to
 * the Linux kernel's v9fs client (and diod's tools, QEMU-style guests)
 * over TCP and a Unix socket.  This header is the layer's whole API.
 *
 * Connections run on the shared connection server (net.h): a reader
 * thread per connection decodes requests, answers Tversion and Tflush
 * itself and hands the rest to the worker pool; replies leave out of
 * order, tagged.  Each connection has its own fid table (at most
 * NINEP_MAX_FIDS fids); each fid carries the credentials of the user who
 * attached it (v9fs access=user sends one Tattach per user, n_uname = the
 * uid), looked up in the system's user database.  There is no
 * authentication: Tauth is answered with Rlerror(ENOENT), which diod's
 * clients read as "not required"; whoever can reach the socket can act as
 * any uid, so listen on loopback or a Unix socket of a restricted mode.
 *
 * Errors are negative errno values. */
#ifndef BUCKETFS_NINEP_NINEP_H
#define BUCKETFS_NINEP_NINEP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct fs;
struct ninep_server;

#define NINEP_MAX_LISTEN 4
#define NINEP_MAX_FIDS 65536
#define NINEP_MSIZE_MIN 4096
#define NINEP_MSIZE_MAX (1u << 20)

struct ninep_options {
	const char *listen[NINEP_MAX_LISTEN]; /* "host:port" ("127.0.0.1:5640",
						 ":0" picks a port), NULL ends */
	const char *socket_path;   /* a Unix socket, or NULL */
	mode_t socket_mode;        /* 0: 0660 */
	bool read_only;            /* every mutation is EROFS (replica, checkpoint) */
	uint32_t msize;            /* largest message offered (0: NINEP_MSIZE_MAX;
				      clamped to [NINEP_MSIZE_MIN, NINEP_MSIZE_MAX]) */
	unsigned workers;          /* worker threads (0: 64; a connection runs at most 16
				      requests at once) */
};

/* Can the TCP addresses be listened on now (well-formed, not in use)?
 * Binds each and lets go again, so the daemon can refuse to start before
 * it opens the store.  0 or the error of net_server_listen_tcp (logged). */
int ninep_options_check(const struct ninep_options *o);
/* Listen on every address given and start serving.  At least one listen
 * address or a socket path is needed (-EINVAL). */
int ninep_server_start(struct fs *fs, const struct ninep_options *o, struct ninep_server **out);
/* "tcp 127.0.0.1:5640, unix /run/bucketfs/9p.sock"; snprintf semantics. */
int ninep_server_describe(struct ninep_server *s, char *buf, size_t size);
/* The TCP port of listen address i (tests that listen on port 0). */
int ninep_server_port(struct ninep_server *s, unsigned i);
/* Close every connection (their fids and locks go), free s.  NULL: no-op. */
void ninep_server_stop(struct ninep_server *s);

#endif
