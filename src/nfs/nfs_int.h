/* nfs_int.h -- what the files of the NFS layer share: the server, one
 * request, record marking, the RPC call header, handles, the procedure
 * tables and the encoders of the common NFSv3 structures.
 *
 * A request's way: rpc.c reads a record on the connection's reader thread
 * (rpc_record_read), parses the call header and credentials
 * (rpc_parse_call), answers what is wrong with it at once, and hands the
 * rest to the pool; there the procedure's decoder (nfs3_procs[].decode,
 * mount_procs[].decode) turns the arguments into a union nfs_args, which
 * holds only bounded, checked values (a decode error is GARBAGE_ARGS),
 * and its exec function calls the core and encodes the result. */
#ifndef BUCKETFS_NFS_NFS_INT_H
#define BUCKETFS_NFS_NFS_INT_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include "fs/fs.h"
#include "net/net.h"
#include "nfs/nfs.h"
#include "nfs/xdr.h"
#include "util/buf.h"

/* ---- protocol numbers ---- */
#define RPC_VERSION 2
#define RPC_CALL 0
#define RPC_REPLY 1
#define RPC_MSG_ACCEPTED 0
#define RPC_MSG_DENIED 1
enum rpc_accept_stat {
	RPC_SUCCESS = 0, RPC_PROG_UNAVAIL = 1, RPC_PROG_MISMATCH = 2, RPC_PROC_UNAVAIL = 3,
	RPC_GARBAGE_ARGS = 4, RPC_SYSTEM_ERR = 5,
};
enum rpc_reject_stat { RPC_MISMATCH = 0, RPC_AUTH_ERROR = 1 };
enum rpc_auth_stat {
	RPC_AUTH_OK = 0, RPC_AUTH_BADCRED = 1, RPC_AUTH_REJECTEDCRED = 2, RPC_AUTH_BADVERF = 3,
	RPC_AUTH_REJECTEDVERF = 4, RPC_AUTH_TOOWEAK = 5,
};
#define RPC_AUTH_NONE 0
#define RPC_AUTH_SYS 1
#define RPC_AUTH_SHORT 2
#define RPC_AUTH_DH 3
#define RPC_AUTH_KERB4 4
#define RPC_RPCSEC_GSS 6
#define RPC_AUTH_BODY_MAX 400        /* RFC 5531: opaque_auth body */
#define RPC_AUTH_SYS_MACHINE_MAX 255
#define RPC_AUTH_SYS_GROUPS_MAX 16

#define NFS_PROGRAM 100003
#define NFS_V3 3
#define MOUNT_PROGRAM 100005
#define MOUNT_V3 3

/* A record may hold a 1 MiB WRITE plus its headers. */
#define NFS_MAXDATA (1u << 20)
#define RPC_RECORD_MAX (NFS_MAXDATA + 64 * 1024)
#define RPC_FRAGMENTS_MAX 1024       /* zero-length fragments must end too */

/* ---- record marking (RFC 5531 section 11) ---- */
/* Read one record: fragments (4-byte header: last flag | length) until
 * the last one, reassembled into a malloc'ed *rec.  rd reads exactly n
 * bytes as net_conn_read does (n, 0 at EOF before any byte, <0).  0: EOF
 * between records; 1: a record; -EMSGSIZE: longer than max (or too many
 * fragments): the caller closes the connection; -EPIPE: EOF inside. */
typedef ssize_t (*rpc_read_fn)(void *arg, void *buf, size_t n);
int rpc_record_read(rpc_read_fn rd, void *arg, size_t max, uint8_t **rec, size_t *len);

/* ---- the call header ---- */
struct rpc_call {
	uint32_t xid, prog, vers, proc;
	uint32_t flavor;                  /* of the credential */
	uint32_t uid, gid, ngroups;       /* AUTH_SYS */
	uint32_t groups[RPC_AUTH_SYS_GROUPS_MAX];
};
enum rpc_parse {
	RPC_PARSE_OK,          /* *x is at the procedure's arguments */
	RPC_PARSE_DROP,        /* not a call, or too short for a header: close */
	RPC_PARSE_RPC_MISMATCH,/* rpcvers is not 2 */
	RPC_PARSE_BADCRED,     /* a malformed credential or verifier */
	RPC_PARSE_TOOWEAK,     /* a flavour we do not take */
};
enum rpc_parse rpc_parse_call(struct xdr *x, struct rpc_call *call);

/* Reply headers onto b (which starts with 4 bytes kept for the record
 * mark: rpc_reply_begin puts them there). */
void rpc_reply_begin(struct buf *b, uint32_t xid);
void rpc_reply_accepted(struct buf *b, uint32_t xid, enum rpc_accept_stat st);
void rpc_reply_mismatch(struct buf *b, uint32_t xid, enum rpc_accept_stat st, uint32_t low,
			uint32_t high);
void rpc_reply_denied_auth(struct buf *b, uint32_t xid, enum rpc_auth_stat st);
void rpc_reply_denied_rpcvers(struct buf *b, uint32_t xid);
/* Set the record mark (one last fragment) over b->data[0, 4). */
void rpc_reply_finish(struct buf *b);

/* ---- handles (handle.c) ---- */
#define NFS_FH_MAX 64
#define NFS_FH_BYTES 36
struct nfs_fh {
	uint32_t len;
	uint8_t data[NFS_FH_MAX];
};
struct nfs_handles {
	uint64_t fsid;
	uint8_t key[32];
};
void nfs_handle_make(const struct nfs_handles *h, uint64_t ino, uint64_t gen,
		     struct nfs_fh *out);
/* 0 with ino/gen; -EBADF for a malformed or forged handle (BADHANDLE),
 * -ESTALE for another filesystem's.  The inode itself is not looked at. */
int nfs_handle_parse(const struct nfs_handles *h, const struct nfs_fh *fh, uint64_t *ino,
		     uint64_t *gen);

/* ---- the server ---- */
struct nfs_cidr {
	int family;              /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	unsigned bits;
};

struct nfs_server {
	struct fs *fs;
	struct net_server *net;
	struct nfs_handles handles;
	uint64_t export_ino, export_gen;
	char *export_path;       /* normalised: "/" or "/a/b" */
	bool read_only;
	enum nfs_squash squash;
	uint32_t anon_uid, anon_gid;
	bool secure;
	bool async;
	struct nfs_cidr *clients;
	size_t nclients;         /* 0: everyone */
};

/* clients list -> s->clients; -EINVAL naming the bad entry in the log. */
int nfs_clients_parse(struct nfs_server *s, const char *const *list);
bool nfs_client_allowed(const struct nfs_server *s, const struct sockaddr_storage *ss);

/* ---- one request ---- */
struct nfs_req {
	struct nfs_server *srv;
	struct net_conn *conn;     /* NULL in the fuzz target and unit tests */
	struct rpc_call call;
	struct fs_cred cred;       /* after squashing; groups in call.groups */
	uint8_t *rec;              /* the record, owned */
	size_t rec_len;
	struct xdr args;           /* the procedure's arguments within rec */
	struct buf out;            /* the reply, record mark first */
};

/* The credential for the core after the squash rules. */
void nfs_req_cred(const struct nfs_server *s, struct nfs_req *rq);

/* ---- decoded arguments ---- */
struct nfs_name {
	const char *p;             /* into the record; not NUL-terminated */
	uint32_t len;
};
struct nfs_diropargs {
	struct nfs_fh dir;
	struct nfs_name name;
};
/* sattr3: set says which fields (FS_SET_* of fs.h). */
struct nfs_sattr {
	unsigned set;
	uint32_t mode, uid, gid;
	uint64_t size;
	struct timespec atime, mtime;
};

#define NFS_NAME_WIRE_MAX 1024       /* longer: garbage; > 255: NAMETOOLONG */
#define NFS_PATH_WIRE_MAX 4096       /* symlink targets, mount paths */

union nfs_args {
	struct nfs_fh fh;                                   /* GETATTR, READLINK, FS* */
	struct { struct nfs_fh fh; struct nfs_sattr sa; bool guard;
		 struct timespec guard_ctime; } setattr;
	struct nfs_diropargs dirop;                         /* LOOKUP, REMOVE, RMDIR */
	struct { struct nfs_fh fh; uint32_t mask; } access;
	struct { struct nfs_fh fh; uint64_t off; uint32_t count; } read; /* and COMMIT */
	struct { struct nfs_fh fh; uint64_t off; uint32_t count, stable;
		 const uint8_t *data; uint32_t len; } write;
	struct { struct nfs_diropargs where; uint32_t how; struct nfs_sattr sa;
		 uint8_t verf[8]; } create;
	struct { struct nfs_diropargs where; struct nfs_sattr sa; } mkdir;
	struct { struct nfs_diropargs where; struct nfs_sattr sa;
		 struct nfs_name target; } symlink;
	struct { struct nfs_diropargs where; uint32_t type; struct nfs_sattr sa;
		 uint32_t major, minor; } mknod;
	struct { struct nfs_diropargs from, to; } rename;
	struct { struct nfs_fh fh; struct nfs_diropargs to; } link;
	struct { struct nfs_fh fh; uint64_t cookie; uint64_t verf;
		 uint32_t dircount, maxcount; } readdir; /* READDIR: maxcount = count */
	struct nfs_name dirpath;                            /* MOUNT MNT, UMNT */
};

struct nfs_proc {
	const char *name;
	/* 0, or -EBADMSG: GARBAGE_ARGS. */
	int (*decode)(struct xdr *x, union nfs_args *a);
	/* Appends the result (after the accepted-reply header) to rq->out. */
	void (*exec)(struct nfs_req *rq, const union nfs_args *a);
};

#define NFS3_PROCS 22
extern const struct nfs_proc nfs3_procs[NFS3_PROCS];
#define MOUNT3_PROCS 6
extern const struct nfs_proc mount3_procs[MOUNT3_PROCS];

/* The decoders one file defines and others share. */
void nfs_dec_fh(struct xdr *x, struct nfs_fh *fh);
void nfs_dec_name(struct xdr *x, struct nfs_name *n);
void nfs_dec_diropargs(struct xdr *x, struct nfs_diropargs *d);
void nfs_dec_sattr(struct xdr *x, struct nfs_sattr *sa);
int nfs_dec_fh_only(struct xdr *x, union nfs_args *a);

/* ---- NFSv3 result encoding (nfs3_attr.c) ---- */
enum nfsstat3 {
	NFS3_OK = 0, NFS3ERR_PERM = 1, NFS3ERR_NOENT = 2, NFS3ERR_IO = 5, NFS3ERR_NXIO = 6,
	NFS3ERR_ACCES = 13, NFS3ERR_EXIST = 17, NFS3ERR_XDEV = 18, NFS3ERR_NODEV = 19,
	NFS3ERR_NOTDIR = 20, NFS3ERR_ISDIR = 21, NFS3ERR_INVAL = 22, NFS3ERR_FBIG = 27,
	NFS3ERR_NOSPC = 28, NFS3ERR_ROFS = 30, NFS3ERR_MLINK = 31, NFS3ERR_NAMETOOLONG = 63,
	NFS3ERR_NOTEMPTY = 66, NFS3ERR_DQUOT = 69, NFS3ERR_STALE = 70, NFS3ERR_REMOTE = 71,
	NFS3ERR_BADHANDLE = 10001, NFS3ERR_NOT_SYNC = 10002, NFS3ERR_BAD_COOKIE = 10003,
	NFS3ERR_NOTSUPP = 10004, NFS3ERR_TOOSMALL = 10005, NFS3ERR_SERVERFAULT = 10006,
	NFS3ERR_BADTYPE = 10007, NFS3ERR_JUKEBOX = 10008,
};
/* -errno of the core -> nfsstat3 (-EBADF: BADHANDLE, -EAGAIN: JUKEBOX;
 * SETATTR maps its guard's -EAGAIN to NOT_SYNC itself). */
enum nfsstat3 nfs3_status(int err);

#define NFS3_FATTR_BYTES 84
#define NFS3_POST_OP_FH_BYTES (4 + 4 + NFS_FH_BYTES)
void nfs3_put_fattr(struct buf *b, const struct nfs_server *s, const struct fs_attr *a);
/* post_op_attr: attributes follow when a is not NULL. */
void nfs3_put_post_attr(struct buf *b, const struct nfs_server *s, const struct fs_attr *a);
/* post_op_attr of ino fetched now (none if it is gone). */
void nfs3_put_post_attr_ino(struct buf *b, const struct nfs_server *s, uint64_t ino);
void nfs3_put_wcc(struct buf *b, const struct nfs_server *s, const struct fs_wcc *w);
/* wcc_data of an inode the operation did not change (read-only export, a
 * bad name): its attributes now, as both pre-op and post-op.  ino 0 (or
 * gone): neither. */
void nfs3_put_wcc_ino(struct buf *b, const struct nfs_server *s, uint64_t ino);
/* The core's wcc of ino; where the core reported none (it never got to
 * the inode) or no pre-op (a failure: post = pre), completed so that
 * every reply carries both, as the Linux client likes best. */
void nfs3_put_wcc_of(struct buf *b, const struct nfs_server *s, const struct fs_wcc *w,
		     uint64_t ino);
void nfs3_put_fh(struct buf *b, const struct nfs_fh *fh);
void nfs3_put_post_fh(struct buf *b, const struct nfs_server *s, const struct fs_attr *a);

/* The handle -> ino (the generation checked against the inode, so a
 * deleted or reused inode is -ESTALE); attr filled when not NULL. */
int nfs3_fh_inode(struct nfs_req *rq, const struct nfs_fh *fh, uint64_t *ino,
		  struct fs_attr *attr);
/* A wire name -> a C string in buf[FS_NAME_MAX + 1]: -ENAMETOOLONG,
 * -EACCES for "/" or NUL inside (as knfsd), -ENOENT for an empty one. */
int nfs3_name(const struct nfs_name *n, char *buf);
/* true when the export or the filesystem is read-only. */
bool nfs3_read_only(const struct nfs_req *rq);
/* After a successful namespace or attribute change: make it durable
 * before the reply (unless the export is async).  r is the operation's
 * result (returned as is when it failed); a and b the inodes it changed
 * (0: none). */
int nfs3_commit_meta(struct nfs_req *rq, int r, uint64_t a, uint64_t b);
/* sattr -> struct fs_setattr (valid 0 when nothing is set). */
void nfs3_setattr_from(const struct nfs_sattr *sa, struct fs_setattr *out);

/* Per-file procedure entries, gathered into nfs3_procs by nfs3_proc.c. */
#define NFS3_DECL(name) \
	int nfs3_dec_##name(struct xdr *x, union nfs_args *a); \
	void nfs3_exec_##name(struct nfs_req *rq, const union nfs_args *a)
NFS3_DECL(null); NFS3_DECL(getattr); NFS3_DECL(setattr); NFS3_DECL(lookup);
NFS3_DECL(access); NFS3_DECL(readlink); NFS3_DECL(read); NFS3_DECL(write);
NFS3_DECL(create); NFS3_DECL(mkdir); NFS3_DECL(symlink); NFS3_DECL(mknod);
NFS3_DECL(remove); NFS3_DECL(rmdir); NFS3_DECL(rename); NFS3_DECL(link);
NFS3_DECL(readdir); NFS3_DECL(readdirplus); NFS3_DECL(fsstat); NFS3_DECL(fsinfo);
NFS3_DECL(pathconf); NFS3_DECL(commit);

/* Decode and run one request whose header was parsed (rq->call, rq->args,
 * rq->out empty): the whole reply ends up in rq->out, record mark set. */
void nfs_dispatch(struct nfs_req *rq);

#endif
