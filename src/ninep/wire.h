/* wire.h -- 9P2000.L on the wire: message numbers, the bounded decoder of
 * every request the server accepts, and the encoder of replies.
 *
 * A message is size[4] type[1] tag[2] body, little-endian.  The decoder
 * (ninep_msg_decode) never reads past the bytes it is given: every field
 * checks what is left, a string's s[2] length must fit, a Twalk carries at
 * most NINEP_MAXWELEM names, and a body with bytes left over is malformed
 * too.  Strings are copied NUL-terminated into a scratch area the caller
 * provides (as large as the message: each string's 2-byte length prefix
 * pays for its NUL), so handlers get C strings; p9_str.len is the wire
 * length, so a string with an embedded NUL is told apart by strlen.
 * Twrite's data points into the message itself.
 *
 * The encoder (struct p9_wr) writes into a buffer of fixed capacity and
 * only records an overflow, which the caller checks once. */
#ifndef BUCKETFS_NINEP_WIRE_H
#define BUCKETFS_NINEP_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	P9_TLERROR = 6, P9_RLERROR = 7,
	P9_TSTATFS = 8, P9_RSTATFS,
	P9_TLOPEN = 12, P9_RLOPEN,
	P9_TLCREATE = 14, P9_RLCREATE,
	P9_TSYMLINK = 16, P9_RSYMLINK,
	P9_TMKNOD = 18, P9_RMKNOD,
	P9_TRENAME = 20, P9_RRENAME,
	P9_TREADLINK = 22, P9_RREADLINK,
	P9_TGETATTR = 24, P9_RGETATTR,
	P9_TSETATTR = 26, P9_RSETATTR,
	P9_TXATTRWALK = 30, P9_RXATTRWALK,
	P9_TXATTRCREATE = 32, P9_RXATTRCREATE,
	P9_TREADDIR = 40, P9_RREADDIR,
	P9_TFSYNC = 50, P9_RFSYNC,
	P9_TLOCK = 52, P9_RLOCK,
	P9_TGETLOCK = 54, P9_RGETLOCK,
	P9_TLINK = 70, P9_RLINK,
	P9_TMKDIR = 72, P9_RMKDIR,
	P9_TRENAMEAT = 74, P9_RRENAMEAT,
	P9_TUNLINKAT = 76, P9_RUNLINKAT,
	P9_TVERSION = 100, P9_RVERSION,
	P9_TAUTH = 102, P9_RAUTH,
	P9_TATTACH = 104, P9_RATTACH,
	P9_RERROR = 107,
	P9_TFLUSH = 108, P9_RFLUSH,
	P9_TWALK = 110, P9_RWALK,
	P9_TREAD = 116, P9_RREAD,
	P9_TWRITE = 118, P9_RWRITE,
	P9_TCLUNK = 120, P9_RCLUNK,
	P9_TREMOVE = 122, P9_RREMOVE,
};

#define P9_NOTAG 0xffffu
#define P9_NOFID 0xffffffffu
#define P9_NONUNAME 0xffffffffu
#define NINEP_MAXWELEM 16
#define P9_HDR 7                 /* size[4] type[1] tag[2] */
#define P9_IOHDR 11              /* Rread / Rreaddir header: + count[4] */

/* qid.type */
#define P9_QTDIR 0x80
#define P9_QTSYMLINK 0x02
#define P9_QTFILE 0x00

/* Tgetattr request_mask / Rgetattr valid */
#define P9_GETATTR_MODE 0x1ull
#define P9_GETATTR_NLINK 0x2ull
#define P9_GETATTR_UID 0x4ull
#define P9_GETATTR_GID 0x8ull
#define P9_GETATTR_RDEV 0x10ull
#define P9_GETATTR_ATIME 0x20ull
#define P9_GETATTR_MTIME 0x40ull
#define P9_GETATTR_CTIME 0x80ull
#define P9_GETATTR_INO 0x100ull
#define P9_GETATTR_SIZE 0x200ull
#define P9_GETATTR_BLOCKS 0x400ull
#define P9_GETATTR_BTIME 0x800ull
#define P9_GETATTR_GEN 0x1000ull
#define P9_GETATTR_DATA_VERSION 0x2000ull
#define P9_GETATTR_ALL 0x3fffull

/* Tsetattr valid */
#define P9_SETATTR_MODE 0x1u
#define P9_SETATTR_UID 0x2u
#define P9_SETATTR_GID 0x4u
#define P9_SETATTR_SIZE 0x8u
#define P9_SETATTR_ATIME 0x10u
#define P9_SETATTR_MTIME 0x20u
#define P9_SETATTR_CTIME 0x40u
#define P9_SETATTR_ATIME_SET 0x80u
#define P9_SETATTR_MTIME_SET 0x100u

/* Tlock / Tgetlock */
#define P9_LOCK_TYPE_RDLCK 0
#define P9_LOCK_TYPE_WRLCK 1
#define P9_LOCK_TYPE_UNLCK 2
#define P9_LOCK_FLAGS_BLOCK 1u
#define P9_LOCK_SUCCESS 0
#define P9_LOCK_BLOCKED 1
#define P9_LOCK_ERROR 2

/* Tlopen / Tlcreate flags (the Linux generic open(2) values) */
#define P9_DOTL_ACCMODE 03u
#define P9_DOTL_CREATE 0100u
#define P9_DOTL_EXCL 0200u
#define P9_DOTL_TRUNC 01000u
#define P9_DOTL_APPEND 02000u
#define P9_DOTL_DIRECTORY 0200000u

#define P9_AT_REMOVEDIR 0x200u

struct p9_str {
	const char *s;           /* NUL-terminated copy in the scratch area */
	uint16_t len;            /* the wire length (strlen(s) < len: a NUL inside) */
};

struct p9_qid {
	uint8_t type;
	uint32_t version;
	uint64_t path;
};

/* One decoded request.  Field names follow diod's protocol description. */
struct ninep_msg {
	uint8_t type;
	uint16_t tag;
	union {
		struct { uint32_t msize; struct p9_str version; } version;
		struct { uint32_t afid; struct p9_str uname, aname; uint32_t n_uname; } auth;
		struct { uint32_t fid, afid; struct p9_str uname, aname; uint32_t n_uname; } attach;
		struct { uint16_t oldtag; } flush;
		struct {
			uint32_t fid, newfid;
			uint16_t nwname;
			struct p9_str wname[NINEP_MAXWELEM];
		} walk;
		struct { uint32_t fid; uint64_t offset; uint32_t count; } read;   /* also readdir */
		struct { uint32_t fid; uint64_t offset; uint32_t count; const uint8_t *data; } write;
		struct { uint32_t fid; } fid;   /* clunk, remove, statfs, readlink */
		struct { uint32_t fid, flags; } lopen;
		struct { uint32_t fid; struct p9_str name; uint32_t flags, mode, gid; } lcreate;
		struct { uint32_t fid; struct p9_str name, symtgt; uint32_t gid; } symlink;
		struct { uint32_t dfid; struct p9_str name; uint32_t mode, major, minor, gid; } mknod;
		struct { uint32_t fid, dfid; struct p9_str name; } rename;
		struct { uint32_t fid; uint64_t mask; } getattr;
		struct {
			uint32_t fid, valid, mode, uid, gid;
			uint64_t size, atime_sec, atime_nsec, mtime_sec, mtime_nsec;
		} setattr;
		struct { uint32_t fid, newfid; struct p9_str name; } xattrwalk;
		struct { uint32_t fid; struct p9_str name; uint64_t size; uint32_t flags; } xattrcreate;
		struct { uint32_t fid, datasync; } fsync;
		struct {
			uint32_t fid;
			uint8_t type;
			uint32_t flags;       /* Tlock only */
			uint64_t start, length;
			uint32_t proc_id;
			struct p9_str client_id;
		} lock;                       /* also getlock */
		struct { uint32_t dfid, fid; struct p9_str name; } link;
		struct { uint32_t dfid; struct p9_str name; uint32_t mode, gid; } mkdir;
		struct { uint32_t olddirfid; struct p9_str oldname; uint32_t newdirfid;
			 struct p9_str newname; } renameat;
		struct { uint32_t dirfid; struct p9_str name; uint32_t flags; } unlinkat;
	} u;
};

/* Decode msg[0, len), a whole message including its size[4] field, which
 * must say len.  scratch has at least len bytes (the strings; a Twrite
 * has none and needs none).  0, -EPROTO (malformed: short, a length
 * past the end, bytes left over, too many walk names), or -EOPNOTSUPP for a type the server does not know
 * (m->type and m->tag are set then, and also for -EPROTO when the header
 * was whole). */
int ninep_msg_decode(const uint8_t *msg, size_t len, char *scratch, struct ninep_msg *m);

/* ---- the encoder ---- */
struct p9_wr {
	uint8_t *buf;
	size_t cap, len;
	bool err;                 /* something did not fit */
};

/* Starts a reply: size (patched by p9_wr_finish), type, tag. */
void p9_wr_init(struct p9_wr *w, uint8_t *buf, size_t cap, uint8_t type, uint16_t tag);
void p9_put_u8(struct p9_wr *w, uint8_t v);
void p9_put_u16(struct p9_wr *w, uint16_t v);
void p9_put_u32(struct p9_wr *w, uint32_t v);
void p9_put_u64(struct p9_wr *w, uint64_t v);
void p9_put_str(struct p9_wr *w, const char *s, size_t len);
void p9_put_qid(struct p9_wr *w, const struct p9_qid *q);
/* Room for n raw bytes: a pointer to fill, or NULL (err set). */
uint8_t *p9_put_room(struct p9_wr *w, size_t n);
/* Patches size[4]; the message length, or 0 if something did not fit. */
size_t p9_wr_finish(struct p9_wr *w);

#endif
