/* admin_int.h -- the admin protocol's decoders, without a socket: the
 * server's request parser (admin.c) and the client's reply parser
 * (admin_client.c).  They are the first code to see bytes from the other
 * side of the socket, so they are pure functions that the unit tests and
 * the fuzz targets (fuzz/fuzz-admin-*.c) call directly.  Not for use
 * outside src/daemon, tests and fuzz. */
#ifndef BUCKETFS_DAEMON_ADMIN_INT_H
#define BUCKETFS_DAEMON_ADMIN_INT_H

#include <stddef.h>

#include "daemon/admin.h"

enum admin_verb {
	ADMIN_STATUS,
	ADMIN_FLUSH,
	ADMIN_STATS,
	ADMIN_CHECKPOINT_CREATE,
	ADMIN_CHECKPOINT_DELETE,
	ADMIN_CHECKPOINT_LIST,
};

struct admin_request {
	enum admin_verb verb;
	const char *name;                  /* checkpoint create/delete: into line */
	char line[ADMIN_REQUEST_MAX + 1];  /* the request, NUL-terminated */
	char msg[256];                     /* why it was refused */
};

/* Decode what a client sent: buf[0, len) is everything read from the
 * connection (a read stops at the first newline, ADMIN_REQUEST_MAX bytes or
 * end of file).  0: *out holds a valid request.  Otherwise the errno the
 * reply carries, negated, with out->msg the reply's message: -E2BIG when
 * no newline is within ADMIN_REQUEST_MAX bytes, -EINVAL for an
 * unterminated line, a byte that is not printable ASCII, an unknown verb
 * or wrong arguments.  Bytes after the first newline are ignored. */
int admin_parse(const char *buf, size_t len, struct admin_request *out);

/* Decode a daemon's reply, reply[0, len) with reply[len] == '\0' (what the
 * client read, NUL-terminated).  0 on "OK\n...\n.\n": *body (malloc'ed)
 * holds the lines without the dot-stuffing and the end mark.  "ERR N msg":
 * -N with msg in err (cut to errsize).  -EPROTO for anything else. */
int admin_parse_reply(const char *reply, size_t len, char **body, char *err, size_t errsize);

#endif
