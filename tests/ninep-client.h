/* ninep-client.h -- an independent 9P2000.L client for the tests
 * (header-only: every function is static inline, so a test includes it and
 * uses what it needs).
 *
 * Written from the 9P2000.L protocol description (diod's protocol.md) and
 * the message layouts of Linux's v9fs client (include/net/9p/9p.h,
 * net/9p/client.c), not from the server it tests.  Three levels:
 *
 *   p9m_*   build one message into a struct p9_msg (any tag, any bytes:
 *           the garbage tests send what a real client never would);
 *   p9c_*   a connection: send bytes, receive replies matched by tag (a
 *           reply for another tag is kept until asked for, so requests
 *           can be pipelined and answered in any order), with a timeout
 *           so a silent server fails a test instead of hanging it;
 *   p9_*    one request and its reply: 0 or the Rlerror's -errno, or
 *           -EPIPE (connection closed), -ETIMEDOUT (no reply in time),
 *           -EBADMSG (a reply of the wrong type or a malformed one).
 *
 * Invariants: a received message is 7 <= size <= P9C_MAX_MSG, else the
 * connection is treated as broken (-EBADMSG); parsing never reads past a
 * message (struct p9_rd flags a short read and yields zeros). */
#ifndef BUCKETFS_NINEP_CLIENT_H
#define BUCKETFS_NINEP_CLIENT_H

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* ---- protocol constants (include/net/9p/9p.h) ---- */

enum {
	P9_TLERROR = 6, P9_RLERROR,
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
	P9_TERROR = 106, P9_RERROR,
	P9_TFLUSH = 108, P9_RFLUSH,
	P9_TWALK = 110, P9_RWALK,
	P9_TOPEN = 112, P9_ROPEN,
	P9_TCREATE = 114, P9_RCREATE,
	P9_TREAD = 116, P9_RREAD,
	P9_TWRITE = 118, P9_RWRITE,
	P9_TCLUNK = 120, P9_RCLUNK,
	P9_TREMOVE = 122, P9_RREMOVE,
	P9_TSTAT = 124, P9_RSTAT,
	P9_TWSTAT = 126, P9_RWSTAT,
};

#define P9_NOTAG    ((uint16_t)0xffff)
#define P9_NOFID    ((uint32_t)0xffffffff)
#define P9_NONUNAME ((uint32_t)0xffffffff)
#define P9_HDR      7u	/* size[4] type[1] tag[2] */
#define P9_IOHDR    24u	/* Rread/Twrite header a server keeps out of msize */
#define P9_MAXWELEM 16

/* qid.type */
#define P9_QTDIR     0x80
#define P9_QTSYMLINK 0x02
#define P9_QTFILE    0x00

/* Tgetattr request_mask / Rgetattr valid */
#define P9_GETATTR_MODE         0x0001ull
#define P9_GETATTR_NLINK        0x0002ull
#define P9_GETATTR_UID          0x0004ull
#define P9_GETATTR_GID          0x0008ull
#define P9_GETATTR_RDEV         0x0010ull
#define P9_GETATTR_ATIME        0x0020ull
#define P9_GETATTR_MTIME        0x0040ull
#define P9_GETATTR_CTIME        0x0080ull
#define P9_GETATTR_INO          0x0100ull
#define P9_GETATTR_SIZE         0x0200ull
#define P9_GETATTR_BLOCKS       0x0400ull
#define P9_GETATTR_BTIME        0x0800ull
#define P9_GETATTR_GEN          0x1000ull
#define P9_GETATTR_DATA_VERSION 0x2000ull
#define P9_GETATTR_BASIC        0x07ffull
#define P9_GETATTR_ALL          0x3fffull

/* Tsetattr valid */
#define P9_SETATTR_MODE      0x001u
#define P9_SETATTR_UID       0x002u
#define P9_SETATTR_GID       0x004u
#define P9_SETATTR_SIZE      0x008u
#define P9_SETATTR_ATIME     0x010u
#define P9_SETATTR_MTIME     0x020u
#define P9_SETATTR_CTIME     0x040u
#define P9_SETATTR_ATIME_SET 0x080u
#define P9_SETATTR_MTIME_SET 0x100u

/* Tlopen/Tlcreate flags: the Linux x86/arm generic O_ values (v9fs sends
 * P9_DOTL_* which equal them there). */
#define P9_DOTL_RDONLY    00000000u
#define P9_DOTL_WRONLY    00000001u
#define P9_DOTL_RDWR      00000002u
#define P9_DOTL_CREATE    00000100u
#define P9_DOTL_EXCL      00000200u
#define P9_DOTL_TRUNC     00001000u
#define P9_DOTL_APPEND    00002000u
#define P9_DOTL_NONBLOCK  00004000u
#define P9_DOTL_DIRECTORY 00200000u

/* Tlock/Tgetlock */
#define P9_LOCK_TYPE_RDLCK 0
#define P9_LOCK_TYPE_WRLCK 1
#define P9_LOCK_TYPE_UNLCK 2
#define P9_LOCK_FLAGS_BLOCK   1u
#define P9_LOCK_FLAGS_RECLAIM 2u
#define P9_LOCK_SUCCESS 0
#define P9_LOCK_BLOCKED 1
#define P9_LOCK_ERROR   2
#define P9_LOCK_GRACE   3

/* Tunlinkat flags */
#define P9_AT_REMOVEDIR 0x200u

/* The largest message the client accepts (a server may offer up to 1 MiB
 * plus the I/O header; anything bigger is a broken server). */
#define P9C_MAX_MSG (1u * 1024 * 1024 + 4096)

struct p9_qid {
	uint8_t type;
	uint32_t version;
	uint64_t path;
};

/* ---- building a message ---- */

struct p9_msg {
	uint8_t *data;
	uint32_t len, cap;
};

static inline void p9m_reserve(struct p9_msg *m, uint32_t n)
{
	if (m->len + n <= m->cap)
		return;
	uint32_t cap = m->cap ? m->cap : 256;
	while (cap < m->len + n)
		cap *= 2;
	uint8_t *d = realloc(m->data, cap);
	if (!d)
		abort();
	m->data = d;
	m->cap = cap;
}

static inline void p9m_bytes(struct p9_msg *m, const void *p, uint32_t n)
{
	p9m_reserve(m, n);
	if (n)
		memcpy(m->data + m->len, p, n);
	m->len += n;
}

static inline void p9m_u8(struct p9_msg *m, uint8_t v) { p9m_bytes(m, &v, 1); }

static inline void p9m_u16(struct p9_msg *m, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)v, (uint8_t)(v >> 8) };
	p9m_bytes(m, b, 2);
}

static inline void p9m_u32(struct p9_msg *m, uint32_t v)
{
	uint8_t b[4];
	for (int i = 0; i < 4; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	p9m_bytes(m, b, 4);
}

static inline void p9m_u64(struct p9_msg *m, uint64_t v)
{
	uint8_t b[8];
	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	p9m_bytes(m, b, 8);
}

/* string[s]: len[2] then the bytes, no NUL. */
static inline void p9m_strn(struct p9_msg *m, const char *s, uint16_t n)
{
	p9m_u16(m, n);
	p9m_bytes(m, s, n);
}

static inline void p9m_str(struct p9_msg *m, const char *s)
{
	p9m_strn(m, s, (uint16_t)strlen(s));
}

/* Starts a message: size (patched by p9m_end), type, tag. */
static inline void p9m_begin(struct p9_msg *m, uint8_t type, uint16_t tag)
{
	m->len = 0;
	p9m_u32(m, 0);
	p9m_u8(m, type);
	p9m_u16(m, tag);
}

static inline void p9m_end(struct p9_msg *m)
{
	uint32_t n = m->len;
	for (int i = 0; i < 4; i++)
		m->data[i] = (uint8_t)(n >> (8 * i));
}

static inline void p9m_free(struct p9_msg *m)
{
	free(m->data);
	m->data = NULL;
	m->len = m->cap = 0;
}

/* One builder per T-message, fields in protocol order. */
static inline void p9m_tversion(struct p9_msg *m, uint16_t tag, uint32_t msize, const char *version)
{
	p9m_begin(m, P9_TVERSION, tag); p9m_u32(m, msize); p9m_str(m, version); p9m_end(m);
}

static inline void p9m_tauth(struct p9_msg *m, uint16_t tag, uint32_t afid, const char *uname,
			     const char *aname, uint32_t n_uname)
{
	p9m_begin(m, P9_TAUTH, tag); p9m_u32(m, afid); p9m_str(m, uname); p9m_str(m, aname);
	p9m_u32(m, n_uname); p9m_end(m);
}

static inline void p9m_tattach(struct p9_msg *m, uint16_t tag, uint32_t fid, uint32_t afid,
			       const char *uname, const char *aname, uint32_t n_uname)
{
	p9m_begin(m, P9_TATTACH, tag); p9m_u32(m, fid); p9m_u32(m, afid); p9m_str(m, uname);
	p9m_str(m, aname); p9m_u32(m, n_uname); p9m_end(m);
}

static inline void p9m_tflush(struct p9_msg *m, uint16_t tag, uint16_t oldtag)
{
	p9m_begin(m, P9_TFLUSH, tag); p9m_u16(m, oldtag); p9m_end(m);
}

static inline void p9m_twalk(struct p9_msg *m, uint16_t tag, uint32_t fid, uint32_t newfid,
			     uint16_t nwname, const char *const *names)
{
	p9m_begin(m, P9_TWALK, tag); p9m_u32(m, fid); p9m_u32(m, newfid); p9m_u16(m, nwname);
	for (uint16_t i = 0; i < nwname; i++)
		p9m_str(m, names[i]);
	p9m_end(m);
}

static inline void p9m_tread(struct p9_msg *m, uint16_t tag, uint32_t fid, uint64_t off, uint32_t count)
{
	p9m_begin(m, P9_TREAD, tag); p9m_u32(m, fid); p9m_u64(m, off); p9m_u32(m, count); p9m_end(m);
}

static inline void p9m_twrite(struct p9_msg *m, uint16_t tag, uint32_t fid, uint64_t off,
			      const void *data, uint32_t count)
{
	p9m_begin(m, P9_TWRITE, tag); p9m_u32(m, fid); p9m_u64(m, off); p9m_u32(m, count);
	p9m_bytes(m, data, count); p9m_end(m);
}

/* Tclunk, Tremove, Tstatfs, Treadlink: fid[4] only. */
static inline void p9m_tfid(struct p9_msg *m, uint8_t type, uint16_t tag, uint32_t fid)
{
	p9m_begin(m, type, tag); p9m_u32(m, fid); p9m_end(m);
}

static inline void p9m_tlopen(struct p9_msg *m, uint16_t tag, uint32_t fid, uint32_t flags)
{
	p9m_begin(m, P9_TLOPEN, tag); p9m_u32(m, fid); p9m_u32(m, flags); p9m_end(m);
}

static inline void p9m_tlcreate(struct p9_msg *m, uint16_t tag, uint32_t fid, const char *name,
				uint32_t flags, uint32_t mode, uint32_t gid)
{
	p9m_begin(m, P9_TLCREATE, tag); p9m_u32(m, fid); p9m_str(m, name); p9m_u32(m, flags);
	p9m_u32(m, mode); p9m_u32(m, gid); p9m_end(m);
}

static inline void p9m_tsymlink(struct p9_msg *m, uint16_t tag, uint32_t dfid, const char *name,
				const char *target, uint32_t gid)
{
	p9m_begin(m, P9_TSYMLINK, tag); p9m_u32(m, dfid); p9m_str(m, name); p9m_str(m, target);
	p9m_u32(m, gid); p9m_end(m);
}

static inline void p9m_tmknod(struct p9_msg *m, uint16_t tag, uint32_t dfid, const char *name,
			      uint32_t mode, uint32_t major, uint32_t minor, uint32_t gid)
{
	p9m_begin(m, P9_TMKNOD, tag); p9m_u32(m, dfid); p9m_str(m, name); p9m_u32(m, mode);
	p9m_u32(m, major); p9m_u32(m, minor); p9m_u32(m, gid); p9m_end(m);
}

static inline void p9m_trename(struct p9_msg *m, uint16_t tag, uint32_t fid, uint32_t dfid, const char *name)
{
	p9m_begin(m, P9_TRENAME, tag); p9m_u32(m, fid); p9m_u32(m, dfid); p9m_str(m, name); p9m_end(m);
}

static inline void p9m_tgetattr(struct p9_msg *m, uint16_t tag, uint32_t fid, uint64_t mask)
{
	p9m_begin(m, P9_TGETATTR, tag); p9m_u32(m, fid); p9m_u64(m, mask); p9m_end(m);
}

struct p9_setattr {
	uint32_t valid, mode, uid, gid;
	uint64_t size, atime_sec, atime_nsec, mtime_sec, mtime_nsec;
};

static inline void p9m_tsetattr(struct p9_msg *m, uint16_t tag, uint32_t fid, const struct p9_setattr *s)
{
	p9m_begin(m, P9_TSETATTR, tag); p9m_u32(m, fid); p9m_u32(m, s->valid); p9m_u32(m, s->mode);
	p9m_u32(m, s->uid); p9m_u32(m, s->gid); p9m_u64(m, s->size); p9m_u64(m, s->atime_sec);
	p9m_u64(m, s->atime_nsec); p9m_u64(m, s->mtime_sec); p9m_u64(m, s->mtime_nsec); p9m_end(m);
}

static inline void p9m_txattrwalk(struct p9_msg *m, uint16_t tag, uint32_t fid, uint32_t newfid, const char *name)
{
	p9m_begin(m, P9_TXATTRWALK, tag); p9m_u32(m, fid); p9m_u32(m, newfid); p9m_str(m, name); p9m_end(m);
}

static inline void p9m_txattrcreate(struct p9_msg *m, uint16_t tag, uint32_t fid, const char *name,
				    uint64_t size, uint32_t flags)
{
	p9m_begin(m, P9_TXATTRCREATE, tag); p9m_u32(m, fid); p9m_str(m, name); p9m_u64(m, size);
	p9m_u32(m, flags); p9m_end(m);
}

static inline void p9m_treaddir(struct p9_msg *m, uint16_t tag, uint32_t fid, uint64_t off, uint32_t count)
{
	p9m_begin(m, P9_TREADDIR, tag); p9m_u32(m, fid); p9m_u64(m, off); p9m_u32(m, count); p9m_end(m);
}

/* Tfsync: fid[4] datasync[4] as Linux sends it (protocol.md lists fid only;
 * Linux added datasync, and servers read it when present). */
static inline void p9m_tfsync(struct p9_msg *m, uint16_t tag, uint32_t fid, uint32_t datasync)
{
	p9m_begin(m, P9_TFSYNC, tag); p9m_u32(m, fid); p9m_u32(m, datasync); p9m_end(m);
}

struct p9_flock {
	uint8_t type;
	uint32_t flags;	/* Tlock only */
	uint64_t start, length;
	uint32_t proc_id;
	char client_id[256];
};

static inline void p9m_tlock(struct p9_msg *m, uint16_t tag, uint32_t fid, const struct p9_flock *l)
{
	p9m_begin(m, P9_TLOCK, tag); p9m_u32(m, fid); p9m_u8(m, l->type); p9m_u32(m, l->flags);
	p9m_u64(m, l->start); p9m_u64(m, l->length); p9m_u32(m, l->proc_id); p9m_str(m, l->client_id);
	p9m_end(m);
}

static inline void p9m_tgetlock(struct p9_msg *m, uint16_t tag, uint32_t fid, const struct p9_flock *l)
{
	p9m_begin(m, P9_TGETLOCK, tag); p9m_u32(m, fid); p9m_u8(m, l->type); p9m_u64(m, l->start);
	p9m_u64(m, l->length); p9m_u32(m, l->proc_id); p9m_str(m, l->client_id); p9m_end(m);
}

static inline void p9m_tlink(struct p9_msg *m, uint16_t tag, uint32_t dfid, uint32_t fid, const char *name)
{
	p9m_begin(m, P9_TLINK, tag); p9m_u32(m, dfid); p9m_u32(m, fid); p9m_str(m, name); p9m_end(m);
}

static inline void p9m_tmkdir(struct p9_msg *m, uint16_t tag, uint32_t dfid, const char *name,
			      uint32_t mode, uint32_t gid)
{
	p9m_begin(m, P9_TMKDIR, tag); p9m_u32(m, dfid); p9m_str(m, name); p9m_u32(m, mode);
	p9m_u32(m, gid); p9m_end(m);
}

static inline void p9m_trenameat(struct p9_msg *m, uint16_t tag, uint32_t olddfid, const char *oldname,
				 uint32_t newdfid, const char *newname)
{
	p9m_begin(m, P9_TRENAMEAT, tag); p9m_u32(m, olddfid); p9m_str(m, oldname); p9m_u32(m, newdfid);
	p9m_str(m, newname); p9m_end(m);
}

static inline void p9m_tunlinkat(struct p9_msg *m, uint16_t tag, uint32_t dfid, const char *name, uint32_t flags)
{
	p9m_begin(m, P9_TUNLINKAT, tag); p9m_u32(m, dfid); p9m_str(m, name); p9m_u32(m, flags); p9m_end(m);
}

/* ---- reading a message ---- */

struct p9_rd {
	const uint8_t *p;
	uint32_t len, off;
	bool bad;	/* a field ran past the end */
};

static inline const uint8_t *p9r_take(struct p9_rd *r, uint32_t n)
{
	if (r->bad || n > r->len - r->off) {
		r->bad = true;
		return NULL;
	}
	const uint8_t *p = r->p + r->off;
	r->off += n;
	return p;
}

static inline uint64_t p9r_uint(struct p9_rd *r, int n)
{
	const uint8_t *p = p9r_take(r, (uint32_t)n);
	uint64_t v = 0;
	for (int i = 0; p && i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static inline uint8_t p9r_u8(struct p9_rd *r) { return (uint8_t)p9r_uint(r, 1); }
static inline uint16_t p9r_u16(struct p9_rd *r) { return (uint16_t)p9r_uint(r, 2); }
static inline uint32_t p9r_u32(struct p9_rd *r) { return (uint32_t)p9r_uint(r, 4); }
static inline uint64_t p9r_u64(struct p9_rd *r) { return p9r_uint(r, 8); }

/* A string into out (NUL-terminated); one longer than outsz-1 is an error. */
static inline void p9r_str(struct p9_rd *r, char *out, size_t outsz)
{
	uint16_t n = p9r_u16(r);
	const uint8_t *p = p9r_take(r, n);
	if (!p || n >= outsz) {
		r->bad = true;
		if (outsz)
			out[0] = 0;
		return;
	}
	memcpy(out, p, n);
	out[n] = 0;
}

static inline struct p9_qid p9r_qid(struct p9_rd *r)
{
	struct p9_qid q;
	q.type = p9r_u8(r);
	q.version = p9r_u32(r);
	q.path = p9r_u64(r);
	return q;
}

/* ---- the connection ---- */

struct p9_reply {
	struct p9_reply *next;
	uint8_t type;
	uint16_t tag;
	uint32_t size;
	uint8_t *data;	/* the whole message, size bytes */
};

struct p9c {
	int fd;
	uint32_t msize;		/* negotiated (what p9_version got back) */
	uint16_t tag;		/* the next tag p9c_tag hands out */
	int timeout_ms;		/* per receive; default 20 s */
	uint32_t next_fid;
	struct p9_reply *stash;	/* replies received for tags nobody asked for yet */
};

/* A reader over a reply's body (after the 7-byte header). */
static inline struct p9_rd p9_body(const struct p9_reply *r)
{
	struct p9_rd rd = { r->data + P9_HDR, r->size - P9_HDR, 0, false };
	return rd;
}

static inline void p9_reply_free(struct p9_reply *r)
{
	if (r) {
		free(r->data);
		free(r);
	}
}

static inline int p9c_fd_tcp(const char *host, int port)
{
	char ps[16];
	struct addrinfo hints = { 0 }, *ai;
	snprintf(ps, sizeof ps, "%d", port);
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, ps, &hints, &ai) != 0)
		return -EHOSTUNREACH;
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return -e;
	}
	freeaddrinfo(ai);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return fd;
}

static inline int p9c_fd_unix(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof sa.sun_path)
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

/* "HOST:PORT" or a path (anything with a '/') for a Unix socket. */
static inline int p9c_fd_addr(const char *addr)
{
	if (strchr(addr, '/'))
		return p9c_fd_unix(addr);
	char host[256];
	const char *colon = strrchr(addr, ':');
	if (!colon || (size_t)(colon - addr) >= sizeof host)
		return -EINVAL;
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = 0;
	return p9c_fd_tcp(host, atoi(colon + 1));
}

static inline struct p9c *p9c_open_fd(int fd)
{
	struct p9c *c = calloc(1, sizeof *c);
	if (!c)
		abort();
	c->fd = fd;
	c->msize = 8192;
	c->tag = 1;
	c->timeout_ms = 20000;
	c->next_fid = 1000;
	return c;
}

/* NULL (and errno) if the connection cannot be made. */
static inline struct p9c *p9c_connect(const char *addr)
{
	int fd = p9c_fd_addr(addr);
	if (fd < 0) {
		errno = -fd;
		return NULL;
	}
	return p9c_open_fd(fd);
}

static inline void p9c_close(struct p9c *c)
{
	if (!c)
		return;
	while (c->stash) {
		struct p9_reply *r = c->stash;
		c->stash = r->next;
		p9_reply_free(r);
	}
	if (c->fd >= 0)
		close(c->fd);
	free(c);
}

/* A fresh tag, never NOTAG, never one with a reply still stashed. */
static inline uint16_t p9c_tag(struct p9c *c)
{
	for (;;) {
		uint16_t t = c->tag++;
		if (t == P9_NOTAG)
			continue;
		bool used = false;
		for (struct p9_reply *r = c->stash; r; r = r->next)
			used |= r->tag == t;
		if (!used)
			return t;
	}
}

static inline uint32_t p9c_fid(struct p9c *c) { return c->next_fid++; }

static inline int p9c_send_bytes(struct p9c *c, const void *p, size_t n)
{
	const uint8_t *b = p;
	while (n) {
		ssize_t k = send(c->fd, b, n, MSG_NOSIGNAL);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return errno == ECONNRESET || errno == EPIPE ? -EPIPE : -errno;
		}
		b += k;
		n -= (size_t)k;
	}
	return 0;
}

static inline int p9c_send(struct p9c *c, const struct p9_msg *m)
{
	return p9c_send_bytes(c, m->data, m->len);
}

/* Reads exactly n bytes within the connection's timeout per wait. */
static inline int p9c_read_full(struct p9c *c, uint8_t *b, size_t n, int timeout_ms)
{
	while (n) {
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
		int pr = poll(&pfd, 1, timeout_ms);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr == 0)
			return -ETIMEDOUT;
		ssize_t k = recv(c->fd, b, n, 0);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return errno == ECONNRESET ? -EPIPE : -errno;
		if (k == 0)
			return -EPIPE;
		b += k;
		n -= (size_t)k;
	}
	return 0;
}

/* The next message off the wire, whatever its tag. */
static inline int p9c_recv_any(struct p9c *c, struct p9_reply **out, int timeout_ms)
{
	uint8_t hdr[P9_HDR];
	*out = NULL;
	int rc = p9c_read_full(c, hdr, sizeof hdr, timeout_ms);
	if (rc)
		return rc;
	uint32_t size = hdr[0] | hdr[1] << 8 | hdr[2] << 16 | (uint32_t)hdr[3] << 24;
	if (size < P9_HDR || size > P9C_MAX_MSG)
		return -EBADMSG;
	struct p9_reply *r = calloc(1, sizeof *r);
	if (!r || !(r->data = malloc(size)))
		abort();
	memcpy(r->data, hdr, sizeof hdr);
	rc = p9c_read_full(c, r->data + P9_HDR, size - P9_HDR, timeout_ms);
	if (rc) {
		p9_reply_free(r);
		return rc;
	}
	r->size = size;
	r->type = hdr[4];
	r->tag = (uint16_t)(hdr[5] | hdr[6] << 8);
	*out = r;
	return 0;
}

/* The reply for tag: from the stash, else off the wire (stashing others). */
static inline int p9c_recv_tag(struct p9c *c, uint16_t tag, struct p9_reply **out)
{
	for (struct p9_reply **pp = &c->stash; *pp; pp = &(*pp)->next) {
		if ((*pp)->tag == tag) {
			*out = *pp;
			*pp = (*pp)->next;
			(*out)->next = NULL;
			return 0;
		}
	}
	for (;;) {
		struct p9_reply *r;
		int rc = p9c_recv_any(c, &r, c->timeout_ms);
		if (rc) {
			*out = NULL;
			return rc;
		}
		if (r->tag == tag) {
			*out = r;
			return 0;
		}
		struct p9_reply **pp = &c->stash;
		while (*pp)
			pp = &(*pp)->next;
		*pp = r;
	}
}

/* Sends m (built with tag) and waits for its reply. */
static inline int p9c_rpc(struct p9c *c, const struct p9_msg *m, uint16_t tag, struct p9_reply **out)
{
	int rc = p9c_send(c, m);
	if (rc) {
		*out = NULL;
		return rc;
	}
	return p9c_recv_tag(c, tag, out);
}

/* What a reply means for a request expecting rtype: 0 if it is one (well
 * formed as far as the header goes), -ecode for Rlerror, -EBADMSG else. */
static inline int p9_reply_status(const struct p9_reply *r, uint8_t rtype)
{
	if (r->type == rtype)
		return 0;
	if (r->type == P9_RLERROR && r->size == P9_HDR + 4) {
		struct p9_rd rd = p9_body(r);
		uint32_t e = p9r_u32(&rd);
		return e && e < 4096 ? -(int)e : -EBADMSG;
	}
	return -EBADMSG;
}

/* The common path: send m, wait, check the type; *out is the reply on
 * success (caller frees), NULL otherwise. */
static inline int p9c_call(struct p9c *c, struct p9_msg *m, uint16_t tag, uint8_t rtype, struct p9_reply **out)
{
	struct p9_reply *r;
	int rc = p9c_rpc(c, m, tag, &r);
	p9m_free(m);
	*out = NULL;
	if (rc)
		return rc;
	rc = p9_reply_status(r, rtype);
	if (rc) {
		p9_reply_free(r);
		return rc;
	}
	*out = r;
	return 0;
}

/* For replies with no body (Rclunk, Rsetattr, ...): their size must be 7. */
static inline int p9c_call_empty(struct p9c *c, struct p9_msg *m, uint16_t tag, uint8_t rtype)
{
	struct p9_reply *r;
	int rc = p9c_call(c, m, tag, rtype, &r);
	if (rc == 0 && r->size != P9_HDR)
		rc = -EBADMSG;
	p9_reply_free(r);
	return rc;
}

/* Parse end: the body was read exactly. */
static inline int p9_rd_done(const struct p9_rd *rd)
{
	return rd->bad || rd->off != rd->len ? -EBADMSG : 0;
}

/* ---- one request each ---- */

/* Tversion (tag NOTAG); sets c->msize to the reply's msize. */
static inline int p9_version(struct p9c *c, uint32_t msize, const char *version,
			     uint32_t *rmsize, char *rversion, size_t rvsz)
{
	struct p9_msg m = { 0 };
	struct p9_reply *r;
	char vbuf[64];
	p9m_tversion(&m, P9_NOTAG, msize, version);
	int rc = p9c_call(c, &m, P9_NOTAG, P9_RVERSION, &r);
	if (rc)
		return rc;
	struct p9_rd rd = p9_body(r);
	uint32_t ms = p9r_u32(&rd);
	p9r_str(&rd, rversion ? rversion : vbuf, rversion ? rvsz : sizeof vbuf);
	rc = p9_rd_done(&rd);
	p9_reply_free(r);
	if (rc)
		return rc;
	if (rmsize)
		*rmsize = ms;
	c->msize = ms;
	return 0;
}

static inline int p9_auth(struct p9c *c, uint32_t afid, const char *uname, const char *aname,
			  uint32_t n_uname, struct p9_qid *aqid)
{
	struct p9_msg m = { 0 };
	struct p9_reply *r;
	uint16_t tag = p9c_tag(c);
	p9m_tauth(&m, tag, afid, uname, aname, n_uname);
	int rc = p9c_call(c, &m, tag, P9_RAUTH, &r);
	if (rc)
		return rc;
	struct p9_rd rd = p9_body(r);
	struct p9_qid q = p9r_qid(&rd);
	rc = p9_rd_done(&rd);
	if (aqid)
		*aqid = q;
	p9_reply_free(r);
	return rc;
}

/* Replies that are exactly one qid (Rattach, Rmkdir, Rsymlink, Rmknod). */
static inline int p9c_call_qid(struct p9c *c, struct p9_msg *m, uint16_t tag, uint8_t rtype, struct p9_qid *qid)
{
	struct p9_reply *r;
	int rc = p9c_call(c, m, tag, rtype, &r);
	if (rc)
		return rc;
	struct p9_rd rd = p9_body(r);
	struct p9_qid q = p9r_qid(&rd);
	rc = p9_rd_done(&rd);
	if (qid)
		*qid = q;
	p9_reply_free(r);
	return rc;
}

/* Ropen-like: qid[13] iounit[4] (Rlopen, Rlcreate). */
static inline int p9c_call_qid_iounit(struct p9c *c, struct p9_msg *m, uint16_t tag, uint8_t rtype,
				      struct p9_qid *qid, uint32_t *iounit)
{
	struct p9_reply *r;
	int rc = p9c_call(c, m, tag, rtype, &r);
	if (rc)
		return rc;
	struct p9_rd rd = p9_body(r);
	struct p9_qid q = p9r_qid(&rd);
	uint32_t io = p9r_u32(&rd);
	rc = p9_rd_done(&rd);
	if (qid)
		*qid = q;
	if (iounit)
		*iounit = io;
	p9_reply_free(r);
	return rc;
}

static inline int p9_attach(struct p9c *c, uint32_t fid, uint32_t afid, const char *uname,
			    const char *aname, uint32_t n_uname, struct p9_qid *qid)
{
	struct p9_msg m = { 0 };
	uint16_t tag = p9c_tag(c);
	p9m_tattach(&m, tag, fid, afid, uname, aname, n_uname);
	return p9c_call_qid(c, &m, tag, P9_RATTACH, qid);
}

static inline int p9_flush(struct p9c *c, uint16_t oldtag)
{
	struct p9_msg m = { 0 };
	uint16_t tag = p9c_tag(c);
	p9m_tflush(&m, tag, oldtag);
	return p9c_call_empty(c, &m, tag, P9_RFLUSH);
}

/* Twalk: *nwqid qids into qids (room for P9_MAXWELEM). */
static inline int p9_walk(struct p9c *c, uint32_t fid, uint32_t newfid, uint16_t nwname,
			  const char *const *names, struct p9_qid *qids, uint16_t *nwqid)
{
	struct p9_msg m = { 0 };
	struct p9_reply *r;
	uint16_t tag = p9c_tag(c);
	p9m_twalk(&m, tag, fid, newfid, nwname, names);
	int rc = p9c_call(c, &m, tag, P9_RWALK, &r);
	if (rc)
		return rc;
	struct p9_rd rd = p9_body(r);
	uint16_t n = p9r_u16(&rd);
	if (n > P9_MAXWELEM || n > nwname)
		rd.bad = true;
	for (uint16_t i = 0; !rd.bad && i < n; i++) {
		struct p9_qid q = p9r_qid(&rd);
		if (qids)
			qids[i] = q;
	}
	rc = p9_rd_done(&rd);
	if (nwqid)
		*nwqid = n;
	p9_reply_free(r);
	return rc;
}

/* Walk one path ("a/b/c", "" for a clone) from fid to newfid; -ENOENT also
 * when the walk stopped short (newfid is then not made). */
static inline int p9_walk_path(struct p9c *c, uint32_t fid, uint32_t newfid, const char *path,
			       struct p9_qid *last)
{
	char buf[4096];
	const char *names[P9_MAXWELEM];
	uint16_t n = 0, nq = 0;
	struct p9_qid qids[P9_MAXWELEM];
	snprintf(buf, sizeof buf, "%s", path);
	for (char *save, *s = strtok_r(buf, "/", &save); s; s = strtok_r(NULL, "/", &save)) {
		if (n == P9_MAXWELEM)
			return -ENAMETOOLONG;
		names[n++] = s;
	}
	int rc = p9_walk(c, fid, newfid, n, names, qids, &nq);
	if (rc)
		return rc;
	if (nq != n)
		return -ENOENT;
	if (last && n)
		*last = qids[n - 1];
	return 0;
}

static inline int p9_lopen(struct p9c *c, uint32_t fid, uint32_t flags, struct p9_qid *qid, uint32_t *iounit)
{
	struct p9_msg m = { 0 };
	uint16_t tag = p9c_tag(c);
	p9m_tlopen(&m, tag, fid, flags);
	return p9c_call_qid_iounit(c, &m, tag, P9_RLOPEN, qid, iounit);
}

static inline int p9_lcreate(struct p9c *c, uint32_t fid, const char *name, uint32_t flags,
			     uint32_t mode, uint32_t gid, struct p9_qid *qid, uint32_t *iounit)
{
	struct p9_msg m = { 0 };
	uint16_t tag = p9c_tag(c);
	p9m_tlcreate(&m, tag, fid, name, flags, mode, gid);
	return p9c_call_qid_iounit(c, &m, tag, P9_RLCREATE, qid, iounit);
}

/* Tread: up to count bytes into buf (room for count); *got what came. */
static inline int p9_read(struct p9c *c, uint32_t fid, uint64_t off, uint32_t count, void *buf, uint32_t *got)
{
	struct p9_msg m = { 0 };
	struct p9_reply *r;
	uint16_t tag = p9c_tag(c);
	p9m_tread(&m, tag, fid, off, count);
	int rc = p9c_call(c, &m, tag, P9_RREAD, &r);
	if (rc)
		return rc;
	struct p9_rd rd = p9_body(r);
	uint32_t n = p9r_u32(&rd);
	const uint8_t *p = n <= count ? p9r_take(&rd, n) : NULL;
	if (!p)
		rd.bad = true;
	rc = p9_rd_done(&rd);
	if (!rc) {
		if (n)
			memcpy(buf, p, n);
		*got = n;
	}
	p9_reply_free(r);
	return rc;
}

static inline int p9_write(struct p9c *c, uint32_t fid, uint64_t off, const void *data, uint32_t count, uint32_t *wrote)
{
	struct p9_msg m = { 0 };
	struct p9_reply *r;
	uint16_t tag = p9c_tag(c);
	p9m_twrite(&m, tag, fid, off, data, count);
	int rc = p9c_call(c, &m, tag, P9_RWRITE, &r);
	if (rc)
		return rc;
	struct p9_rd rd = p9_body(r);
	uint32_t n = p9r_u32(&rd);
	rc = p9_rd_done(&rd);
	if (!rc && n > count)
		rc = -EBADMSG;
	if (!rc && wrote)
		*wrote = n;
	p9_reply_free(r);
	return rc;
}

static inline int p9_clunk(struct p9c *c, uint32_t fid)
{
	struct p9_msg m = { 0 };
	uint16_t tag = p9c_tag(c);
	p9m_tfid(&m, P9_TCLUNK, tag, fid);
	return p9c_call_empty(c, &m, tag, P9_RCLUNK);
}

static inline int p9_remove(struct p9c *c, uint32_t fid)
{
	struct p9_msg m = { 0 };
	uint16_t tag = p9c_tag(c);
	p9m_tfid(&m, P9_TREMOVE, tag, fid);
	return p9c_call_empty(c, &m, tag, P9_RREMOVE);
}

struct p9_statfs {
	uint32_t type, bsize;
	uint64_t blocks, bfree, bavail, files, ffree, fsid;
	uint32_t namelen;
};

static inline int p9_statfs(struct p9c *c, uint32_t fid, struct p9_statfs *st)
{
	struct p9_msg m = { 0 };
	struct p9_reply *r;
	uint16_t tag = p9c_tag(c);
	p9m_tfid(&m, P9_TSTATFS, tag, fid);
	int rc = p9c_call(c, &m, tag, P9_RSTATFS, &r);
	if (rc)
		return rc;
	struct p9_rd rd = p9_body(r);
	st->type = p9r_u32(&rd);
	st->bsize = p9r_u32(&rd);
	st->blocks = p9r_u64(&rd);
	st->bfree = p9r_u64(&rd);
	st->bavail = p9r_u64(&rd);
	st->files = p9r_u64(&rd);
	st->ffree = p9r_u64(&rd);
	st->fsid = p9r_u64(&rd);
	st->namelen = p9r_u32(&rd);
	rc = p9_rd_done(&rd);
	p9_reply_free(r);
	return rc;
}

static inline int p9_symlink(struct p9c *c, uint32_t dfid, const char *name, const char *target,
			     uint32_t gid, struct p9_qid *qid)
{
	struct p9_msg m = { 0 };
	uint16_t tag = p9c_tag(c);
	p9m_tsymlink(&m, tag, dfid, name, target, gid);
	return p9c_call_qid(c, &m, tag, P9_RSYMLINK, qid);
}

static inline int p9_mknod(struct p9c *c, uint32_t dfid, const char *name, uint32_t mode,
			   uint32_t major, uint32_t minor, uint32_t gid, struct p9_qid *qid)
{
	struct p9_msg m = { 0 };
	uint16_t tag = p9c_tag(c);
	p9m_tmknod(&m, tag, dfid, name, mode, major, minor, gid);
	return p9c_call_qid(c, &m, tag, P9_RMKNOD, qid);
}

static inline int p9_rename(struct p9c *c, uint32_t fid, uint32_t dfid, const char *name)
{
	struct p9_msg m = { 0 };
	uint16_t tag = p9c_tag(c);
	p9m_trename(&m, tag, fid, dfid, name);
	return p9c_call_empty(c, &m, tag, P9_RRENAME);
}

static inline int p9_readlink(struct p9c *c, uint32_t fid, char *target, size_t size)
{
	struct p9_msg m = { 0 };
	struct p9_reply *r;
	uint16_t tag = p9c_tag(c);
	p9m_tfid(&m, P9_TREADLINK, tag, fid);
	int rc = p9c_call(c, &m, tag, P9_RREADLINK, &r);
	if (rc)
		return rc;
	struct p9_rd rd = p9_body(r);
	p9r_str(&rd, target, size);
	rc = p9_rd_done(&rd);
	p9_reply_free(r);
	return rc;
}

struct p9_attr {
	uint64_t valid;
	struct p9_qid qid;
	uint32_t mode, uid, gid;
	uint64_t nlink, rdev, size, blksize, blocks;
	uint64_t atime_sec, atime_nsec, mtime_sec, mtime_nsec, ctime_sec, ctime_nsec;
	uint64_t btime_sec, btime_nsec, gen, data_version;
};

static inline int p9_getattr(struct p9c *c, uint32_t fid, uint64_t mask, struct p9_attr *a)
{
	struct p9_msg m = { 0 };
	struct p9_reply *r;
	uint16_t tag = p9c_tag(c);
	p9m_tgetattr(&m, tag, fid, mask);
	int rc = p9c_call(c, &m, tag, P9_RGETATTR, &r);
	if (rc)
		return rc;
	struct p9_rd rd = p9_body(r);
	a->valid = p9r_u64(&rd);
	a->qid = p9r_qid(&rd);
	a->mode = p9r_u32(&rd);
	a->uid = p9r_u32(&rd);
	a->gid = p9r_u32(&rd);
	a->nlink = p9r_u64(&rd);
	a->rdev = p9r_u64(&rd);
	a->size = p9r_u64(&rd);
	a->blksize = p9r_u64(&rd);
	a->blocks = p9r_u64(&rd);
	a->atime_sec = p9r_u64(&rd);
	a->atime_nsec = p9r_u64(&rd);
	a->mtime_sec = p9r_u64(&rd);
	a->mtime_nsec = p9r_u64(&rd);
	a->ctime_sec = p9r_u64(&rd);
	a->ctime_nsec = p9r_u64(&rd);
	a->btime_sec = p9r_u64(&rd);
	a->btime_nsec = p9r_u64(&rd);
	a->gen = p9r_u64(&rd);
	a->data_version = p9r_u64(&rd);
	rc = p9_rd_done(&rd);
	p9_reply_free(r);
	return rc;
}

static inline int p9_setattr(struct p9c *c, uint32_t fid, const struct p9_setattr *s)
{
	struct p9_msg m = { 0 };
	uint16_t tag = p9c_tag(c);
	p9m_tsetattr(&m, tag, fid, s);
	return p9c_call_empty(c, &m, tag, P9_RSETATTR);
}

static inline int p9_xattrwalk(struct p9c *c, uint32_t fid, uint32_t newfid, const char *name, uint64_t *size)
{
	struct p9_msg m = { 0 };
	struct p9_reply *r;
	uint16_t tag = p9c_tag(c);
	p9m_txattrwalk(&m, tag, fid, newfid, name);
	int rc = p9c_call(c, &m, tag, P9_RXATTRWALK, &r);
	if (rc)
		return rc;
	struct p9_rd rd = p9_body(r);
	uint64_t n = p9r_u64(&rd);
	rc = p9_rd_done(&rd);
	if (size)
		*size = n;
	p9_reply_free(r);
	return rc;
}

static inline int p9_xattrcreate(struct p9c *c, uint32_t fid, const char *name, uint64_t size, uint32_t flags)
{
	struct p9_msg m = { 0 };
	uint16_t tag = p9c_tag(c);
	p9m_txattrcreate(&m, tag, fid, name, size, flags);
	return p9c_call_empty(c, &m, tag, P9_RXATTRCREATE);
}

/* Treaddir: the raw entries into buf (room for count), *got their bytes. */
static inline int p9_readdir(struct p9c *c, uint32_t fid, uint64_t off, uint32_t count, void *buf, uint32_t *got)
{
	struct p9_msg m = { 0 };
	struct p9_reply *r;
	uint16_t tag = p9c_tag(c);
	p9m_treaddir(&m, tag, fid, off, count);
	int rc = p9c_call(c, &m, tag, P9_RREADDIR, &r);
	if (rc)
		return rc;
	struct p9_rd rd = p9_body(r);
	uint32_t n = p9r_u32(&rd);
	const uint8_t *p = n <= count ? p9r_take(&rd, n) : NULL;
	if (!p)
		rd.bad = true;
	rc = p9_rd_done(&rd);
	if (!rc) {
		if (n)
			memcpy(buf, p, n);
		*got = n;
	}
	p9_reply_free(r);
	return rc;
}

/* One entry of Rreaddir's data: qid[13] offset[8] type[1] name[s]. */
struct p9_dirent {
	struct p9_qid qid;
	uint64_t offset;
	uint8_t type;
	char name[256];
};

/* The next entry from rd; false at the end or (rd->bad) when malformed. */
static inline bool p9_dirent_next(struct p9_rd *rd, struct p9_dirent *d)
{
	if (rd->bad || rd->off == rd->len)
		return false;
	d->qid = p9r_qid(rd);
	d->offset = p9r_u64(rd);
	d->type = p9r_u8(rd);
	p9r_str(rd, d->name, sizeof d->name);
	return !rd->bad;
}

static inline int p9_fsync(struct p9c *c, uint32_t fid, uint32_t datasync)
{
	struct p9_msg m = { 0 };
	uint16_t tag = p9c_tag(c);
	p9m_tfsync(&m, tag, fid, datasync);
	return p9c_call_empty(c, &m, tag, P9_RFSYNC);
}

static inline int p9_lock(struct p9c *c, uint32_t fid, const struct p9_flock *l, uint8_t *status)
{
	struct p9_msg m = { 0 };
	struct p9_reply *r;
	uint16_t tag = p9c_tag(c);
	p9m_tlock(&m, tag, fid, l);
	int rc = p9c_call(c, &m, tag, P9_RLOCK, &r);
	if (rc)
		return rc;
	struct p9_rd rd = p9_body(r);
	uint8_t st = p9r_u8(&rd);
	rc = p9_rd_done(&rd);
	if (status)
		*status = st;
	p9_reply_free(r);
	return rc;
}

/* Tgetlock: l is the question on entry and the answer on return. */
static inline int p9_getlock(struct p9c *c, uint32_t fid, struct p9_flock *l)
{
	struct p9_msg m = { 0 };
	struct p9_reply *r;
	uint16_t tag = p9c_tag(c);
	p9m_tgetlock(&m, tag, fid, l);
	int rc = p9c_call(c, &m, tag, P9_RGETLOCK, &r);
	if (rc)
		return rc;
	struct p9_rd rd = p9_body(r);
	l->type = p9r_u8(&rd);
	l->start = p9r_u64(&rd);
	l->length = p9r_u64(&rd);
	l->proc_id = p9r_u32(&rd);
	p9r_str(&rd, l->client_id, sizeof l->client_id);
	rc = p9_rd_done(&rd);
	p9_reply_free(r);
	return rc;
}

static inline int p9_link(struct p9c *c, uint32_t dfid, uint32_t fid, const char *name)
{
	struct p9_msg m = { 0 };
	uint16_t tag = p9c_tag(c);
	p9m_tlink(&m, tag, dfid, fid, name);
	return p9c_call_empty(c, &m, tag, P9_RLINK);
}

static inline int p9_mkdir(struct p9c *c, uint32_t dfid, const char *name, uint32_t mode, uint32_t gid,
			   struct p9_qid *qid)
{
	struct p9_msg m = { 0 };
	uint16_t tag = p9c_tag(c);
	p9m_tmkdir(&m, tag, dfid, name, mode, gid);
	return p9c_call_qid(c, &m, tag, P9_RMKDIR, qid);
}

static inline int p9_renameat(struct p9c *c, uint32_t olddfid, const char *oldname, uint32_t newdfid,
			      const char *newname)
{
	struct p9_msg m = { 0 };
	uint16_t tag = p9c_tag(c);
	p9m_trenameat(&m, tag, olddfid, oldname, newdfid, newname);
	return p9c_call_empty(c, &m, tag, P9_RRENAMEAT);
}

static inline int p9_unlinkat(struct p9c *c, uint32_t dfid, const char *name, uint32_t flags)
{
	struct p9_msg m = { 0 };
	uint16_t tag = p9c_tag(c);
	p9m_tunlinkat(&m, tag, dfid, name, flags);
	return p9c_call_empty(c, &m, tag, P9_RUNLINKAT);
}

/* ---- conveniences ---- */

/* Connect, Tversion "9P2000.L" with msize, Tattach fid as n_uname at
 * aname; NULL (message on stderr) if any step fails. */
static inline struct p9c *p9c_session(const char *addr, uint32_t msize, uint32_t fid,
				      uint32_t n_uname, const char *aname)
{
	struct p9c *c = p9c_connect(addr);
	if (!c) {
		fprintf(stderr, "# 9p: connect %s: %s\n", addr, strerror(errno));
		return NULL;
	}
	char v[32];
	int rc = p9_version(c, msize, "9P2000.L", NULL, v, sizeof v);
	if (rc || strcmp(v, "9P2000.L") != 0) {
		fprintf(stderr, "# 9p: Tversion: %s (version '%s')\n", strerror(-rc), rc ? "" : v);
		p9c_close(c);
		return NULL;
	}
	char uname[16];
	snprintf(uname, sizeof uname, "%u", n_uname);
	rc = p9_attach(c, fid, P9_NOFID, uname, aname, n_uname, NULL);
	if (rc) {
		fprintf(stderr, "# 9p: Tattach uid %u: %s\n", n_uname, strerror(-rc));
		p9c_close(c);
		return NULL;
	}
	return c;
}

#endif
