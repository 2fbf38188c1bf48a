/* ninep_int.h -- what the files of src/ninep/ share: the server, a
 * connection (session), its fids and pending requests, the users' cached
 * credentials, and the message handlers.  Not part of the API (ninep.h).
 *
 * Locking: conn->mu guards the fid table (and every fid's refs), the
 * pending list and its flush waiters.  fid->mu guards what a fid points at
 * and its open / xattr state; it is taken after conn->mu, never before.
 * A handler holds a reference on each fid it uses (fid_get / fid_put), so
 * a concurrent Tclunk never frees a fid in use: the last reference does
 * (fs_release of an open file happens there). */
#ifndef BUCKETFS_NINEP_NINEP_INT_H
#define BUCKETFS_NINEP_NINEP_INT_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "fs/fs.h"
#include "net/net.h"
#include "ninep/ninep.h"
#include "ninep/wire.h"

/* fs_cred.origin of this frontend's calls: the base + a server number. */
#define NINEP_ORIGIN_BASE 0x39500000u   /* "9P" */
/* Locks that make O_APPEND writes through this server atomic. */
#define NINEP_APPEND_STRIPES 64
/* Waiting Tflush requests per connection; past it the reader waits. */
#define NINEP_MAX_FLUSHES 1024

/* One user's credentials, shared by the fids attached as that user. */
struct ninep_user {
	struct ninep_user *next;      /* the server's cache */
	unsigned refs;                /* under the cache's mutex */
	uint32_t uid, gid;
	uint32_t ngroups;
	uint32_t *groups;
	time_t loaded;                /* CLOCK_MONOTONIC seconds */
};

struct ninep_server {
	struct fs *fs;
	struct net_server *net;
	bool read_only;
	uint32_t msize_max;
	uint32_t origin;
	uint64_t conn_seq;            /* atomic: connection ids */
	pthread_mutex_t users_mu;
	struct ninep_user *users;
	unsigned nusers;
	/* O_APPEND writes (proc_file.c), striped by inode: */
	pthread_mutex_t append_mu[NINEP_APPEND_STRIPES];
	/* Blocked lock requests' threads (proc_lock.c): */
	pthread_mutex_t wait_mu;
	pthread_cond_t wait_cond;     /* a waiter ended */
	unsigned nwaiters;
};

enum fid_kind {
	FID_PATH,       /* names a file; may be opened (open) */
	FID_XATTR_READ, /* Txattrwalk: the value (or name list) to read */
	FID_XATTR_WRITE /* Txattrcreate: the value being written, set at clunk */
};

struct ninep_fid {
	uint32_t fid;
	struct ninep_fid *hnext;
	unsigned refs;                /* the table's + handlers'; under conn->mu */
	pthread_mutex_t mu;
	struct ninep_user *user;
	uint64_t root_ino;            /* its attach root: ".." stops there */
	/* under mu: */
	uint64_t ino, gen;
	uint32_t mode;                /* S_IFMT of the file */
	uint64_t parent;              /* where the last walk found it (0: unknown) */
	char *name;                   /* its name there, or NULL */
	enum fid_kind kind;
	bool open;
	int oflags;                   /* open(2) flags of the open */
	/* xattr fids: */
	char *xname;
	uint8_t *xbuf;
	size_t xlen, xsize;           /* written / declared (write); size (read) */
	int xflags;
	bool dead;                    /* clunked: no more I/O through it */
};

/* One request read from the connection and not yet answered. */
struct ninep_req {
	struct ninep_conn *c;
	struct ninep_req *prev, *next;   /* conn->pending */
	uint16_t *flushes;               /* tags of the Tflush waiting for it */
	unsigned nflush, capflush;
	size_t len;                      /* buf's size: its cost with the reply's */
	uint8_t *buf;                    /* the message, then its strings' scratch */
	struct fs_lock_wait *lock_wait;  /* a blocked Tlock's wait (Tflush cancels) */
	struct ninep_user *users[2];     /* fresh credentials its calls use (cred.c) */
	unsigned nusers;
	struct ninep_msg m;
};

struct ninep_conn {
	struct ninep_server *srv;
	struct net_conn *nc;
	uint64_t id;                     /* lock owners' frontend id */
	pthread_mutex_t mu;
	pthread_cond_t cond;             /* a request finished */
	uint32_t msize;                  /* negotiated (the server's max before) */
	bool versioned;
	struct ninep_fid **buckets;
	unsigned nbuckets, nfids;
	struct ninep_req *pending;
	unsigned npending, nflush;
	size_t xattr_bytes;              /* xattr fids' buffers (proc_xattr.c) */
	unsigned nwaiters;               /* blocked Tlocks; under srv->wait_mu */
};

/* ---- conn.c: the session ---- */
int ninep_conn_serve(struct net_conn *nc, void *arg);
void ninep_conn_release(struct net_conn *nc, void *arg);
/* Queue rq's reply (buf: NULL for none), then the Rflush of each Tflush
 * waiting for it; free rq.  Any thread. */
void ninep_conn_complete(struct ninep_req *rq, void *buf, size_t len);

/* ---- fid.c ---- */
void fid_table_init(struct ninep_conn *c);
/* Every fid (Tversion, connection end). */
void fid_table_clear(struct ninep_conn *c);
/* A referenced fid, or NULL (-EBADF for the caller). */
struct ninep_fid *fid_get(struct ninep_conn *c, uint32_t fid);
void fid_put(struct ninep_conn *c, struct ninep_fid *f);
/* A new fid (not in the table yet): one reference, the caller's. */
struct ninep_fid *fid_alloc(uint32_t fid, struct ninep_user *u, uint64_t root_ino);
/* Put f in the table (it takes one more reference): -EEXIST if its number
 * is in use, -EMFILE past NINEP_MAX_FIDS. */
int fid_insert(struct ninep_conn *c, struct ninep_fid *f);
/* Take fid out of the table: the table's reference goes to the caller. */
struct ninep_fid *fid_remove(struct ninep_conn *c, uint32_t fid);
/* Point f (under f->mu) at a file: ino, gen, mode, parent, name. */
void fid_set_file(struct ninep_fid *f, const struct fs_attr *a, uint64_t parent,
		  const char *name);

/* ---- cred.c ---- */
/* The user uid (groups looked up in the user database, cached a while).
 * Never fails: an unknown uid gets gid = uid and no other groups. */
struct ninep_user *ninep_user_get(struct ninep_server *s, uint32_t uid);
void ninep_user_put(struct ninep_server *s, struct ninep_user *u);
/* uname -> uid; -ENOENT. */
int ninep_uid_by_name(const char *name, uint32_t *uid);
void ninep_users_free(struct ninep_server *s);
/* The credentials of rq's calls through f: f's user's, or when those
 * were loaded longer than the cache's TTL ago, the uid's as the cache has
 * them now (held by rq until it is freed), so group changes reach fids
 * that live as long as a mount. */
struct fs_cred ninep_cred(struct ninep_req *rq, const struct ninep_fid *f);
/* Drop the users rq holds (conn.c, when rq is freed). */
void ninep_req_users_put(struct ninep_req *rq);

/* ---- proc.c: run one request on a worker ---- */
void ninep_proc_run(struct net_conn *nc, void *job);
/* Bytes the reply may need (the request's cost against the budget). */
size_t ninep_reply_cap(const struct ninep_conn *c, const struct ninep_msg *m);

/* A handler's return: the reply will be sent later, by another thread. */
#define NINEP_DEFERRED 1

/* The handlers: write the reply body into w (its header is set) and
 * return 0, or return -errno for an Rlerror. */
typedef int ninep_proc_fn(struct ninep_req *rq, struct p9_wr *w);
ninep_proc_fn proc_auth, proc_attach, proc_walk, proc_clunk, proc_remove;
ninep_proc_fn proc_lopen, proc_lcreate, proc_read, proc_write, proc_fsync;
ninep_proc_fn proc_getattr, proc_setattr, proc_statfs;
ninep_proc_fn proc_readdir, proc_mkdir, proc_mknod, proc_symlink, proc_readlink;
ninep_proc_fn proc_link, proc_rename, proc_renameat, proc_unlinkat;
ninep_proc_fn proc_xattrwalk, proc_xattrcreate;
ninep_proc_fn proc_lock, proc_getlock;

/* Shared by the handlers (proc.c). */
void ninep_qid_of(const struct fs_attr *a, struct p9_qid *q);
/* A name for the core: no NUL inside, no '/', not empty, not "." or ".."
 * unless dots_ok; -EINVAL / -ENAMETOOLONG. */
int ninep_check_name(const struct p9_str *s, bool dots_ok);
/* A referenced fid and a snapshot of its file; -EBADF. */
struct ninep_fid *ninep_fid_file(struct ninep_req *rq, uint32_t fid, uint64_t *ino);
/* xattr fid I/O (proc_xattr.c), from Tread / Twrite / Tclunk. */
int ninep_xattr_read(struct ninep_fid *f, uint64_t off, uint32_t count, struct p9_wr *w);
int ninep_xattr_write(struct ninep_fid *f, uint64_t off, const uint8_t *data, uint32_t count,
		      struct p9_wr *w);
int ninep_xattr_commit(struct ninep_req *rq, struct ninep_fid *f);

#endif
