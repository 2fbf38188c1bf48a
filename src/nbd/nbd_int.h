/* nbd_int.h -- the NBD layer's insides: the protocol's constants and wire
 * layouts (doc/proto.md of the NBD project), the decoders (proto.c,
 * pure functions the fuzz target drives), exports (export.c), the
 * handshake (handshake.c), the transmission phase (transmit.c reads
 * requests, command.c runs them). */
#ifndef BUCKETFS_NBD_NBD_INT_H
#define BUCKETFS_NBD_NBD_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nbd/nbd.h"

struct net_conn;
struct net_server;

/* ---- handshake ---- */
#define NBD_MAGIC 0x4e42444d41474943ull           /* "NBDMAGIC" */
#define NBD_IHAVEOPT 0x49484156454f5054ull        /* "IHAVEOPT" */
#define NBD_OPT_REPLY_MAGIC 0x0003e889045565a9ull

#define NBD_FLAG_FIXED_NEWSTYLE (1u << 0)         /* handshake flags (server) */
#define NBD_FLAG_NO_ZEROES (1u << 1)
#define NBD_FLAG_C_FIXED_NEWSTYLE (1u << 0)       /* client flags */
#define NBD_FLAG_C_NO_ZEROES (1u << 1)

enum {
	NBD_OPT_EXPORT_NAME = 1,
	NBD_OPT_ABORT = 2,
	NBD_OPT_LIST = 3,
	NBD_OPT_STARTTLS = 5,
	NBD_OPT_INFO = 6,
	NBD_OPT_GO = 7,
	NBD_OPT_STRUCTURED_REPLY = 8,
	NBD_OPT_LIST_META_CONTEXT = 9,
	NBD_OPT_SET_META_CONTEXT = 10,
};

#define NBD_REP_ERR(n) ((1u << 31) | (n))
enum {
	NBD_REP_ACK = 1,
	NBD_REP_SERVER = 2,
	NBD_REP_INFO = 3,
	NBD_REP_META_CONTEXT = 4,
	NBD_REP_ERR_UNSUP = NBD_REP_ERR(1),
	NBD_REP_ERR_POLICY = NBD_REP_ERR(2),
	NBD_REP_ERR_INVALID = NBD_REP_ERR(3),
	NBD_REP_ERR_PLATFORM = NBD_REP_ERR(4),
	NBD_REP_ERR_TLS_REQD = NBD_REP_ERR(5),
	NBD_REP_ERR_UNKNOWN = NBD_REP_ERR(6),
	NBD_REP_ERR_SHUTDOWN = NBD_REP_ERR(7),
	NBD_REP_ERR_TOO_BIG = NBD_REP_ERR(9),
};

enum {
	NBD_INFO_EXPORT = 0,
	NBD_INFO_NAME = 1,
	NBD_INFO_DESCRIPTION = 2,
	NBD_INFO_BLOCK_SIZE = 3,
};

/* transmission flags (16 bits, sent with the export) */
#define NBD_FLAG_HAS_FLAGS (1u << 0)
#define NBD_FLAG_READ_ONLY (1u << 1)
#define NBD_FLAG_SEND_FLUSH (1u << 2)
#define NBD_FLAG_SEND_FUA (1u << 3)
#define NBD_FLAG_SEND_TRIM (1u << 5)
#define NBD_FLAG_SEND_WRITE_ZEROES (1u << 6)
#define NBD_FLAG_SEND_DF (1u << 7)
#define NBD_FLAG_CAN_MULTI_CONN (1u << 8)

/* ---- transmission ---- */
#define NBD_REQUEST_MAGIC 0x25609513u
#define NBD_SIMPLE_REPLY_MAGIC 0x67446698u
#define NBD_STRUCTURED_REPLY_MAGIC 0x668e33efu
#define NBD_REQUEST_SIZE 28
#define NBD_SIMPLE_REPLY_SIZE 16
#define NBD_CHUNK_HEADER_SIZE 20

enum {
	NBD_CMD_READ = 0,
	NBD_CMD_WRITE = 1,
	NBD_CMD_DISC = 2,
	NBD_CMD_FLUSH = 3,
	NBD_CMD_TRIM = 4,
	NBD_CMD_WRITE_ZEROES = 6,
	NBD_CMD_BLOCK_STATUS = 7,
};

#define NBD_CMD_FLAG_FUA (1u << 0)
#define NBD_CMD_FLAG_NO_HOLE (1u << 1)
#define NBD_CMD_FLAG_DF (1u << 2)
#define NBD_CMD_FLAG_REQ_ONE (1u << 3)

#define NBD_REPLY_FLAG_DONE (1u << 0)
enum {
	NBD_REPLY_TYPE_NONE = 0,
	NBD_REPLY_TYPE_OFFSET_DATA = 1,
	NBD_REPLY_TYPE_BLOCK_STATUS = 5,
	NBD_REPLY_TYPE_ERROR = (1u << 15) + 1,
};

enum {
	NBD_EPERM = 1,
	NBD_EIO = 5,
	NBD_ENOMEM = 12,
	NBD_EINVAL = 22,
	NBD_ENOSPC = 28,
	NBD_EOVERFLOW = 75,
	NBD_ENOTSUP = 95,
	NBD_ESHUTDOWN = 108,
};

#define NBD_STATE_HOLE (1u << 0)
#define NBD_STATE_ZERO (1u << 1)
#define NBD_META_BASE_ALLOCATION "base:allocation"
#define NBD_META_ID_BASE_ALLOCATION 1u

/* ---- our bounds ---- */
#define NBD_MAX_PAYLOAD (32u << 20)       /* largest READ/WRITE, advertised as
					     the maximum block size */
#define NBD_BLOCK_MIN 1u
#define NBD_BLOCK_PREFERRED 4096u
#define NBD_NAME_MAX 4096u                /* strings in the protocol */
#define NBD_OPTION_MAX (64u << 10)        /* longer option data: we close */
#define NBD_INFO_REQUESTS_MAX 64u         /* info types a GO may ask for */
#define NBD_META_QUERIES_MAX 64u
#define NBD_STATUS_EXTENTS_MAX 65536u     /* descriptors in one BLOCK_STATUS */

/* ---- decoders (proto.c): never read past len, never allocate ---- */
struct nbd_request {
	uint16_t flags, type;
	uint64_t handle, offset;
	uint32_t length;
};
/* The 28-byte request header: 0, or -EINVAL for a bad magic. */
int nbd_decode_request(const uint8_t *p, struct nbd_request *rq);

/* The data of NBD_OPT_INFO / NBD_OPT_GO: the name (not NUL-terminated,
 * pointing into data) and the info types asked for. */
struct nbd_info_request {
	const uint8_t *name;
	uint32_t name_len;
	uint16_t ninfo;
	uint16_t info[NBD_INFO_REQUESTS_MAX];   /* the first NBD_INFO_REQUESTS_MAX */
};
/* 0, or -EINVAL when the lengths disagree with len or the name is too
 * long or holds a NUL. */
int nbd_parse_info_request(const uint8_t *data, size_t len, struct nbd_info_request *out);

/* The data of NBD_OPT_LIST/SET_META_CONTEXT: an export name and queries. */
struct nbd_meta_request {
	const uint8_t *name;
	uint32_t name_len;
	uint32_t nquery;
	struct {
		const uint8_t *p;
		uint32_t len;
	} query[NBD_META_QUERIES_MAX];
};
int nbd_parse_meta_request(const uint8_t *data, size_t len, struct nbd_meta_request *out);
/* Does a query select base:allocation?  For LIST, "base:" selects every
 * context of the namespace. */
bool nbd_meta_query_matches(const uint8_t *q, uint32_t len, bool list);

/* A valid export name: 1-255 bytes, a single path component. */
bool nbd_export_name_ok(const uint8_t *name, uint32_t len);

/* What a request may be before it runs, given the export: 0 or an NBD
 * error (NBD_EINVAL, NBD_ENOSPC, NBD_EPERM); *close_conn set when the
 * connection must close (an oversized payload we will not read). */
struct nbd_export_view {
	uint64_t size;
	bool read_only, structured, meta;
};
uint32_t nbd_check_request(const struct nbd_request *rq, const struct nbd_export_view *ev,
			   bool *close_conn);

/* errno (positive) -> the NBD error to send. */
uint32_t nbd_errno(int err);

/* ---- the server and its connections ---- */
struct nbd_server {
	struct fs *fs;
	bool read_only;
	char *export_dir;
	struct net_server *net;
};

/* An export attached by a connection: open and pinned. */
struct nbd_export {
	char name[256];
	uint64_t ino;
	uint64_t size;
};

struct nbd_conn {
	struct nbd_server *srv;
	struct net_conn *c;
	bool no_zeroes, structured;
	bool meta;                        /* base:allocation chosen (SET_META_CONTEXT) */
	char meta_export[256];            /* ... for this export */
	bool attached;
	struct nbd_export ex;
};

/* export.c */
/* The inode of the export directory: -ENOENT when it does not exist. */
int nbd_export_dir(struct nbd_server *s, uint64_t *ino);
/* Look up a name there: its attributes; -ENOENT if no regular file. */
int nbd_export_find(struct nbd_server *s, const char *name, uint64_t *ino, uint64_t *size);
/* Call cb for every export (a regular file); stops at a non-zero return. */
int nbd_export_list(struct nbd_server *s, int (*cb)(void *arg, const char *name), void *arg);
/* Open and pin the export for a connection (size read after the pin). */
int nbd_export_attach(struct nbd_server *s, const char *name, struct nbd_export *ex);
void nbd_export_detach(struct nbd_server *s, struct nbd_export *ex);
/* The transmission flags of an export. */
uint16_t nbd_export_flags(const struct nbd_server *s);

/* handshake.c: 1 when the connection enters transmission (nc->attached),
 * 0 at an orderly end (ABORT, EOF), <0 on a protocol error. */
int nbd_handshake(struct nbd_conn *nc);

/* transmit.c: the request loop after the handshake; returns why it ended. */
int nbd_transmit(struct nbd_conn *nc);

/* command.c: run one request on a pool worker; job is a struct nbd_job. */
struct nbd_job {
	struct nbd_conn *nc;
	struct nbd_request rq;
	uint8_t *payload;                 /* WRITE data (owned), else NULL */
};
void nbd_command_run(struct net_conn *c, void *job);
/* Queue an error reply (simple or structured) for rq without running it. */
void nbd_reply_error(struct nbd_conn *nc, const struct nbd_request *rq, uint32_t err,
		     const char *msg);

/* fs_cred.origin of the NBD frontend's calls. */
#define NBD_ORIGIN 0x4e420000u  /* "NB" */

#endif
