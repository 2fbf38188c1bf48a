/* test-nfs-proc.c -- every NFSv3 procedure of RFC 1813 (and MOUNT v3)
 * against `bucketfs run --nfs`, through libnfs' raw RPC interface, so each
 * call carries exactly the arguments we choose and each reply is checked
 * field by field: nfsstat3, wcc_data (pre-op attributes equal to what
 * GETATTR said before, post-op attributes equal to what it says after),
 * post-op attributes and handles.
 *
 * Four daemons on temp file:// stores, each on its own free port (NFS and
 * MOUNT share it: no portmapper):
 *   A  the main one, [nfs] squash = "none", anon_uid/gid 5555/6666
 *   B  root squash ([nfs] squash = "root") with anon_uid/gid 4242/4343; first run
 *      without squash to open its root directory to everyone, then
 *      restarted (which also shows the write verifier changes across
 *      restarts and handles survive them); then squash = "all", then
 *      clients = "192.0.2.7" (which must refuse us on 127.0.0.1)
 *   C  `--read-only`: a replica of A's store
 *   D  [nfs] read_only = true on a store seeded by an earlier run
 *
 * Beyond one call at a time: "." and ".." as names of every creating,
 * removing and renaming call, and races (the same GUARDED/EXCLUSIVE
 * CREATE, MKDIR, REMOVE or RENAME from 8 connections at once: exactly one
 * wins; 8 disjoint WRITEs at once all land).
 *
 * A check that fails prints "# FAIL test:line: what, got X, want Y" and
 * the test goes on, so one run lists every deviation; the test then fails.
 * NFS_TEST_PORT (and NFS_TEST_MOUNTPORT, NFS_TEST_HOST, NFS_TEST_EXPORT)
 * points the tests that need only A at another server instead (the
 * B/C/D tests are then skipped: a development aid, not for CI).
 * Randomness (garbage handles) is seeded: TEST_SEED replays it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>

#include <nfsc/libnfs.h>
#include <nfsc/libnfs-raw.h>
#include <nfsc/libnfs-raw-nfs.h>
#include <nfsc/libnfs-raw-mount.h>

#include "testutil.h"
#include "nfsfix.h"

/* ---- checks that report and go on ---- */

static int nfails;
#define CHECK(cond, ...) do { \
	if (!(cond)) { \
		nfails++; \
		printf("# FAIL %s:%d: ", __func__, __LINE__); \
		printf(__VA_ARGS__); \
		printf("\n"); \
		fflush(stdout); \
	} \
} while (0)

#define RPC_FAILED 0x7fffffff   /* status of a call that got no NFS reply */

static const char *st(int s)
{
	static char buf[8][32];
	static int i;
	switch (s) {
	case NFS3_OK: return "NFS3_OK";
	case NFS3ERR_PERM: return "PERM";
	case NFS3ERR_NOENT: return "NOENT";
	case NFS3ERR_IO: return "IO";
	case NFS3ERR_NXIO: return "NXIO";
	case NFS3ERR_ACCES: return "ACCES";
	case NFS3ERR_EXIST: return "EXIST";
	case NFS3ERR_XDEV: return "XDEV";
	case NFS3ERR_NODEV: return "NODEV";
	case NFS3ERR_NOTDIR: return "NOTDIR";
	case NFS3ERR_ISDIR: return "ISDIR";
	case NFS3ERR_INVAL: return "INVAL";
	case NFS3ERR_FBIG: return "FBIG";
	case NFS3ERR_NOSPC: return "NOSPC";
	case NFS3ERR_ROFS: return "ROFS";
	case NFS3ERR_MLINK: return "MLINK";
	case NFS3ERR_NAMETOOLONG: return "NAMETOOLONG";
	case NFS3ERR_NOTEMPTY: return "NOTEMPTY";
	case NFS3ERR_DQUOT: return "DQUOT";
	case NFS3ERR_STALE: return "STALE";
	case NFS3ERR_REMOTE: return "REMOTE";
	case NFS3ERR_BADHANDLE: return "BADHANDLE";
	case NFS3ERR_NOT_SYNC: return "NOT_SYNC";
	case NFS3ERR_BAD_COOKIE: return "BAD_COOKIE";
	case NFS3ERR_NOTSUPP: return "NOTSUPP";
	case NFS3ERR_TOOSMALL: return "TOOSMALL";
	case NFS3ERR_SERVERFAULT: return "SERVERFAULT";
	case NFS3ERR_BADTYPE: return "BADTYPE";
	case NFS3ERR_JUKEBOX: return "JUKEBOX";
	case RPC_FAILED: return "no reply (RPC failed)";
	}
	i = (i + 1) % 8;
	snprintf(buf[i], sizeof buf[i], "status %d", s);
	return buf[i];
}

#define STATUS(got, want, ...) do { \
	int g_ = (got), w_ = (want); \
	if (g_ != w_) { \
		nfails++; \
		printf("# FAIL %s:%d: ", __func__, __LINE__); \
		printf(__VA_ARGS__); \
		printf(": got %s, want %s\n", st(g_), st(w_)); \
		fflush(stdout); \
	} \
} while (0)

/* Each test ends with this: it fails if any CHECK did. */
static void finish(void)
{
	int n = nfails;
	nfails = 0;
	if (n)
		printf("# %d check(s) failed\n", n);
	assert_int_equal(n, 0);
}

/* ---- synchronous calls over libnfs' async raw interface ---- */

typedef uint32_t (*xdr_fn)(ZDR *, void *);
#define XDR(T) ((xdr_fn)(void (*)(void))zdr_##T)

/* libnfs frees a reply once its callback returns, so the callback
 * re-encodes it into our own buffer and decodes it from there into the
 * caller's structure; the ZDR (which owns what decoding allocated) and the
 * buffer live until the test ends (calls_free). */
struct call {
	const char *what;
	xdr_fn proc;
	void *out;
	int done, status;
	char err[256];
	char *buf;
	ZDR zdr;
	bool decoded;
	struct call *next;
};
static struct call *calls;
static size_t last_reply_size;   /* encoded size of the last reply's result */

#define SCRATCH_SIZE (4u << 20)
static char *scratch;

static void calls_free(void)
{
	while (calls) {
		struct call *c = calls;
		calls = c->next;
		if (c->decoded)
			zdr_destroy(&c->zdr);
		free(c->buf);
		free(c);
	}
}

static void call_done(struct rpc_context *rpc, int status, void *data, void *priv)
{
	struct call *c = priv;
	(void)rpc;
	c->done = 1;
	c->status = status;
	if (status != RPC_STATUS_SUCCESS) {
		snprintf(c->err, sizeof c->err, "%s",
			 status == RPC_STATUS_ERROR && data ? (const char *)data :
			 status == RPC_STATUS_TIMEOUT ? "timeout" : "cancelled");
		return;
	}
	if (!c->proc)
		return;
	ZDR enc;
	zdrmem_create(&enc, scratch, SCRATCH_SIZE, ZDR_ENCODE);
	if (!c->proc(&enc, data)) {
		c->status = RPC_STATUS_ERROR;
		snprintf(c->err, sizeof c->err, "the reply does not re-encode in %u bytes", SCRATCH_SIZE);
		return;
	}
	size_t n = zdr_getpos(&enc);
	last_reply_size = n;
	c->buf = malloc(n ? n : 1);
	memcpy(c->buf, scratch, n);
	zdrmem_create(&c->zdr, c->buf, n, ZDR_DECODE);
	c->decoded = true;
	if (!c->proc(&c->zdr, c->out)) {
		c->status = RPC_STATUS_ERROR;
		snprintf(c->err, sizeof c->err, "the reply does not decode again");
	}
}

struct conn {
	struct rpc_context *rpc;
	int port, prog, vers;
	bool broken;
	/* the credential, to connect again after a connection broke */
	bool auth_none;
	uint32_t uid, gid, ngroups, groups[32];
};
static int conn_connect(struct conn *cn);

static struct call *call_new(const char *what, xdr_fn proc, void *out, size_t size)
{
	struct call *c = calloc(1, sizeof *c);
	c->what = what;
	c->proc = proc;
	c->out = out;
	if (out)
		memset(out, 0, size);
	c->next = calls;
	calls = c;
	return c;
}

/* Wait for c's reply (30 s).  0 with a decoded reply; -1 otherwise (the
 * failure is counted and the result's status set to RPC_FAILED). */
static int call_wait(struct conn *cn, struct call *c, int queued, bool quiet)
{
	double end = nfsfix_now() + 30;
	if (cn->broken || queued) {
		snprintf(c->err, sizeof c->err, cn->broken ? "connection broken earlier" : "could not queue");
		goto failed;
	}
	while (!c->done) {
		struct pollfd p = { .fd = rpc_get_fd(cn->rpc), .events = rpc_which_events(cn->rpc) };
		int n = poll(&p, 1, 100);
		if (n < 0 && errno != EINTR) {
			snprintf(c->err, sizeof c->err, "poll: %s", strerror(errno));
			cn->broken = true;
			goto failed;
		}
		if (rpc_service(cn->rpc, n > 0 ? p.revents : 0) < 0) {
			snprintf(c->err, sizeof c->err, "connection lost: %s", rpc_get_error(cn->rpc));
			cn->broken = true;
			goto failed;
		}
		if (!c->done && nfsfix_now() > end) {
			snprintf(c->err, sizeof c->err, "no reply within 30 s");
			rpc_disconnect(cn->rpc, "timeout");
			cn->broken = true;
			goto failed;
		}
	}
	if (c->status == RPC_STATUS_SUCCESS)
		return 0;
failed:
	if (!quiet)
		CHECK(0, "%s: %s", c->what, c->err);
	if (c->out)
		*(int *)c->out = RPC_FAILED;   /* every *3res starts with its status */
	return -1;
}

/* 0 when cn can take a call: a connection that broke in an earlier call
 * (a reply libnfs refused, a timeout) is made again first. */
static int conn_ready(struct conn *cn)
{
	if (cn->broken) {
		rpc_destroy_context(cn->rpc);
		cn->rpc = NULL;
		if (conn_connect(cn) == 0) {
			printf("# (connected again to port %d)\n", cn->port);
			cn->broken = false;
		}
	}
	return cn->broken ? -1 : 0;
}

/* NFSCALL(conn, getattr, GETATTR, &args, &res): 0 when a reply came. */
#define NFSCALL(cn, lower, UPPER, argp, resp) ({ \
	struct call *c_ = call_new(#UPPER, XDR(UPPER##3res), (resp), sizeof *(resp)); \
	call_wait((cn), c_, conn_ready(cn) ? -1 : \
		  rpc_nfs3_##lower##_async((cn)->rpc, call_done, (argp), c_), false); })

static void connect_done(struct rpc_context *rpc, int status, void *data, void *priv)
{
	struct call *c = priv;
	(void)rpc;
	c->done = 1;
	c->status = status;
	if (status != RPC_STATUS_SUCCESS)
		snprintf(c->err, sizeof c->err, "%s", data ? (const char *)data : "cancelled");
}

static const char *host = "127.0.0.1";
static const char *export_path = "/";

static int conn_connect(struct conn *cn)
{
	cn->rpc = rpc_init_context();
	rpc_set_auth(cn->rpc, cn->auth_none ? libnfs_authnone_create() :
		     libnfs_authunix_create("nfstest", cn->uid, cn->gid, cn->ngroups, cn->groups));
	struct call *c = call_new("connect", NULL, NULL, 0);
	cn->broken = false;
	if (call_wait(cn, c, rpc_connect_port_async(cn->rpc, host, cn->port, cn->prog, cn->vers, connect_done, c), true)) {
		printf("# cannot connect to %s:%d: %s\n", host, cn->port, c->err);
		cn->broken = true;
		return -1;
	}
	return 0;
}

static bool quiet_connect;   /* a refused connection is what the test wants */

/* A connection to port for prog/vers as uid/gid/groups (auth_none: with
 * AUTH_NONE), or NULL (counted as a failure). */
static struct conn *conn_open(int port, int prog, int vers, bool auth_none, uint32_t uid, uint32_t gid,
			      uint32_t ngroups, const uint32_t *groups)
{
	struct conn *cn = calloc(1, sizeof *cn);
	cn->port = port;
	cn->prog = prog;
	cn->vers = vers;
	cn->auth_none = auth_none;
	cn->uid = uid;
	cn->gid = gid;
	cn->ngroups = ngroups > 32 ? 32 : ngroups;
	if (groups)
		memcpy(cn->groups, groups, cn->ngroups * sizeof *groups);
	if (conn_connect(cn)) {
		if (!quiet_connect)
			CHECK(0, "cannot connect to %s:%d", host, port);
		if (cn->rpc)
			rpc_destroy_context(cn->rpc);
		free(cn);
		return NULL;
	}
	return cn;
}

static struct conn *conn_as(int port, uint32_t uid, uint32_t gid, uint32_t ngroups, uint32_t *groups)
{
	return conn_open(port, NFS_PROGRAM, NFS_V3, false, uid, gid, ngroups, groups);
}

static struct conn *conn_none(int port)
{
	return conn_open(port, NFS_PROGRAM, NFS_V3, true, 0, 0, 0, NULL);
}

static struct conn *conn_mount(int port)
{
	return conn_open(port, MOUNT_PROGRAM, MOUNT_V3, false, 0, 0, 0, NULL);
}

static void conn_close(struct conn *cn)
{
	if (!cn)
		return;
	if (cn->rpc)
		rpc_destroy_context(cn->rpc);
	free(cn);
}

/* ---- handles and attributes ---- */

struct fh {
	uint32_t len;
	char data[NFS3_FHSIZE];
};

static nfs_fh3 FH(const struct fh *h)
{
	nfs_fh3 f = { .data = { h->len, (char *)h->data } };
	return f;
}

static void fh_set(struct fh *h, const char *data, uint32_t len)
{
	CHECK(len > 0 && len <= NFS3_FHSIZE, "a file handle of %u bytes (RFC 1813: 1..64)", len);
	h->len = len > NFS3_FHSIZE ? NFS3_FHSIZE : len;
	memcpy(h->data, data, h->len);
}

static diropargs3 DIROP(const struct fh *d, const char *name)
{
	diropargs3 a = { .dir = FH(d), .name = (char *)name };
	return a;
}

static sattr3 sattr_mode(uint32_t mode)
{
	sattr3 s;
	memset(&s, 0, sizeof s);
	s.mode.set_it = 1;
	s.mode.set_mode3_u.mode = mode;
	return s;
}

static bool time_eq(nfstime3 a, nfstime3 b)
{
	return a.seconds == b.seconds && a.nseconds == b.nseconds;
}

static bool time_le(nfstime3 a, nfstime3 b)
{
	return a.seconds < b.seconds || (a.seconds == b.seconds && a.nseconds <= b.nseconds);
}

/* The attributes a client's cache relies on are equal (not atime). */
static bool attr_same(const fattr3 *a, const fattr3 *b, char *why, size_t n)
{
#define SAME(f) if (a->f != b->f) { snprintf(why, n, #f " %llu vs %llu", (unsigned long long)a->f, (unsigned long long)b->f); return false; }
	SAME(type) SAME(mode) SAME(nlink) SAME(uid) SAME(gid) SAME(size) SAME(fsid) SAME(fileid)
	SAME(rdev.specdata1) SAME(rdev.specdata2)
#undef SAME
	if (!time_eq(a->mtime, b->mtime)) {
		snprintf(why, n, "mtime %u.%09u vs %u.%09u", a->mtime.seconds, a->mtime.nseconds, b->mtime.seconds, b->mtime.nseconds);
		return false;
	}
	if (!time_eq(a->ctime, b->ctime)) {
		snprintf(why, n, "ctime %u.%09u vs %u.%09u", a->ctime.seconds, a->ctime.nseconds, b->ctime.seconds, b->ctime.nseconds);
		return false;
	}
	return true;
}

static int getattr(struct conn *cn, const struct fh *h, fattr3 *out)
{
	GETATTR3args a = { .object = FH(h) };
	GETATTR3res r;
	NFSCALL(cn, getattr, GETATTR, &a, &r);
	if (r.status == NFS3_OK)
		*out = r.GETATTR3res_u.resok.obj_attributes;
	else
		memset(out, 0, sizeof *out);
	return r.status;
}

static int lookup(struct conn *cn, const struct fh *dir, const char *name, struct fh *out, fattr3 *attr)
{
	LOOKUP3args a = { .what = DIROP(dir, name) };
	LOOKUP3res r;
	NFSCALL(cn, lookup, LOOKUP, &a, &r);
	if (r.status == NFS3_OK) {
		if (out)
			fh_set(out, r.LOOKUP3res_u.resok.object.data.data_val, r.LOOKUP3res_u.resok.object.data.data_len);
		if (attr)
			*attr = r.LOOKUP3res_u.resok.obj_attributes.post_op_attr_u.attributes;
	}
	return r.status;
}

/* Check a wcc_data against what GETATTR said before (pre) and says now. */
static void check_wcc_(const char *fn, int line, struct conn *cn, const char *what,
		       const fattr3 *pre, const wcc_data *w, const struct fh *obj)
{
	char why[160];
	fattr3 now;
#define WFAIL(...) do { nfails++; printf("# FAIL %s:%d: %s: ", fn, line, what); printf(__VA_ARGS__); printf("\n"); } while (0)
	if (!w->before.attributes_follow)
		WFAIL("wcc_data has no pre-op attributes");
	else {
		const wcc_attr *b = &w->before.pre_op_attr_u.attributes;
		if (b->size != pre->size)
			WFAIL("pre-op size %llu, GETATTR before said %llu", (unsigned long long)b->size, (unsigned long long)pre->size);
		if (!time_eq(b->mtime, pre->mtime))
			WFAIL("pre-op mtime %u.%09u, GETATTR before said %u.%09u", b->mtime.seconds, b->mtime.nseconds, pre->mtime.seconds, pre->mtime.nseconds);
		if (!time_eq(b->ctime, pre->ctime))
			WFAIL("pre-op ctime %u.%09u, GETATTR before said %u.%09u", b->ctime.seconds, b->ctime.nseconds, pre->ctime.seconds, pre->ctime.nseconds);
	}
	if (!w->after.attributes_follow) {
		WFAIL("wcc_data has no post-op attributes");
	} else if (obj && getattr(cn, obj, &now) == NFS3_OK &&
		   !attr_same(&w->after.post_op_attr_u.attributes, &now, why, sizeof why)) {
		WFAIL("post-op attributes differ from GETATTR after: %s", why);
	}
#undef WFAIL
	fflush(stdout);
}
#define check_wcc(cn, what, pre, w, obj) check_wcc_(__func__, __LINE__, cn, what, pre, w, obj)

/* post-op attributes present and equal to GETATTR now. */
static void check_post_(const char *fn, int line, struct conn *cn, const char *what,
			const post_op_attr *p, const struct fh *obj)
{
	char why[160];
	fattr3 now;
	if (!p->attributes_follow) {
		nfails++;
		printf("# FAIL %s:%d: %s: no post-op attributes\n", fn, line, what);
	} else if (obj && getattr(cn, obj, &now) == NFS3_OK &&
		   !attr_same(&p->post_op_attr_u.attributes, &now, why, sizeof why)) {
		nfails++;
		printf("# FAIL %s:%d: %s: post-op attributes differ from GETATTR: %s\n", fn, line, what, why);
	}
}
#define check_post(cn, what, p, obj) check_post_(__func__, __LINE__, cn, what, p, obj)

/* ---- the daemons ---- */

static struct nfsd dA, dB, dC, dD;
static int portA, mountportA;
static bool external;          /* NFS_TEST_PORT: only A, someone else's */
static struct conn *root;      /* uid 0 on A */
static struct fh rootfh;       /* A's export root */
static struct test_rng rng;
static char verfA[NFS3_WRITEVERFSIZE];
static bool have_verfA;

/* MNT export on port: the root handle. */
static int mount_root(int port, struct fh *out)
{
	struct conn *m = conn_mount(port);
	if (!m)
		return -1;
	mountres3 r;
	struct call *c = call_new("MNT", XDR(mountres3), &r, sizeof r);
	int rc = call_wait(m, c, rpc_mount3_mnt_async(m->rpc, call_done, (char *)export_path, c), false);
	if (rc == 0) {
		CHECK(r.fhs_status == MNT3_OK, "MNT %s: mountstat3 %d, want MNT3_OK", export_path, r.fhs_status);
		if (r.fhs_status == MNT3_OK)
			fh_set(out, r.mountres3_u.mountinfo.fhandle.fhandle3_val, r.mountres3_u.mountinfo.fhandle.fhandle3_len);
		else
			rc = -1;
	}
	conn_close(m);
	return rc;
}

/* a file (UNCHECKED) with mode; its handle in out. */
static int mkfile(struct conn *cn, const struct fh *dir, const char *name, uint32_t mode, struct fh *out)
{
	CREATE3args a;
	memset(&a, 0, sizeof a);
	a.where = DIROP(dir, name);
	a.how.mode = UNCHECKED;
	a.how.createhow3_u.obj_attributes = sattr_mode(mode);
	CREATE3res r;
	NFSCALL(cn, create, CREATE, &a, &r);
	if (r.status == NFS3_OK && out) {
		CHECK(r.CREATE3res_u.resok.obj.handle_follows, "CREATE %s: no handle", name);
		if (r.CREATE3res_u.resok.obj.handle_follows)
			fh_set(out, r.CREATE3res_u.resok.obj.post_op_fh3_u.handle.data.data_val,
			       r.CREATE3res_u.resok.obj.post_op_fh3_u.handle.data.data_len);
		else
			lookup(cn, dir, name, out, NULL);
	}
	return r.status;
}

static int mkdir_(struct conn *cn, const struct fh *dir, const char *name, uint32_t mode, struct fh *out)
{
	MKDIR3args a = { .where = DIROP(dir, name), .attributes = sattr_mode(mode) };
	MKDIR3res r;
	NFSCALL(cn, mkdir, MKDIR, &a, &r);
	if (r.status == NFS3_OK && out) {
		CHECK(r.MKDIR3res_u.resok.obj.handle_follows, "MKDIR %s: no handle", name);
		if (r.MKDIR3res_u.resok.obj.handle_follows)
			fh_set(out, r.MKDIR3res_u.resok.obj.post_op_fh3_u.handle.data.data_val,
			       r.MKDIR3res_u.resok.obj.post_op_fh3_u.handle.data.data_len);
		else
			lookup(cn, dir, name, out, NULL);
	}
	return r.status;
}

/* WRITE; the reply's resok copied to ok when given. */
static int write_(struct conn *cn, const struct fh *f, uint64_t off, const void *buf, uint32_t len,
		  stable_how how, WRITE3resok *ok)
{
	WRITE3args a = { .file = FH(f), .offset = off, .count = len, .stable = how,
			 .data = { len, (char *)buf } };
	WRITE3res r;
	NFSCALL(cn, write, WRITE, &a, &r);
	if (r.status == NFS3_OK && ok)
		*ok = r.WRITE3res_u.resok;
	return r.status;
}

static int setmode(struct conn *cn, const struct fh *f, uint32_t mode)
{
	SETATTR3args a;
	memset(&a, 0, sizeof a);
	a.object = FH(f);
	a.new_attributes = sattr_mode(mode);
	SETATTR3res r;
	NFSCALL(cn, setattr, SETATTR, &a, &r);
	return r.status;
}

static int setowner(struct conn *cn, const struct fh *f, uint32_t uid, uint32_t gid)
{
	SETATTR3args a;
	memset(&a, 0, sizeof a);
	a.object = FH(f);
	a.new_attributes.uid.set_it = 1;
	a.new_attributes.uid.set_uid3_u.uid = uid;
	a.new_attributes.gid.set_it = 1;
	a.new_attributes.gid.set_gid3_u.gid = gid;
	SETATTR3res r;
	NFSCALL(cn, setattr, SETATTR, &a, &r);
	return r.status;
}

/* A fresh directory (mode 01777) under A's root for one test. */
static struct fh testdir(const char *name)
{
	struct fh d = { 0 };
	char n[64];
	snprintf(n, sizeof n, "%s.%d", name, (int)test_rng_below(&rng, 1000000));
	int s = mkdir_(root, &rootfh, n, 01777, &d);
	STATUS(s, NFS3_OK, "MKDIR test directory %s", n);
	if (s == NFS3_OK)
		setmode(root, &d, 01777);
	return d;
}

static void note_verf(const char *what, const char *verf)
{
	if (!have_verfA) {
		memcpy(verfA, verf, sizeof verfA);
		have_verfA = true;
		return;
	}
	CHECK(!memcmp(verfA, verf, sizeof verfA), "%s: the write verifier changed within one server run", what);
}

/* ---- setup ---- */

static void seed_rofs_objects(struct conn *cn, const struct fh *r)
{
	struct fh f, d;
	STATUS(mkfile(cn, r, "rofile", 0666, &f), NFS3_OK, "seed: CREATE rofile");
	STATUS(write_(cn, &f, 0, "read-only data\n", 15, FILE_SYNC, NULL), NFS3_OK, "seed: WRITE rofile");
	STATUS(mkdir_(cn, r, "rodir", 0777, &d), NFS3_OK, "seed: MKDIR rodir");
	STATUS(mkdir_(cn, r, "rodir2", 0777, NULL), NFS3_OK, "seed: MKDIR rodir2");
}

static int run_cmd(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	fflush(stdout);
	int r = system(cmd);
	return r == -1 ? -1 : WEXITSTATUS(r);
}

static const char *bin(void)
{
	const char *b = getenv("BUCKETFS_BIN");
	return b && *b ? b : "build/bucketfs";
}

static int group_setup(void **state)
{
	(void)state;
	scratch = malloc(SCRATCH_SIZE);
	rng.s = test_seed("test-nfs-proc");
	signal(SIGPIPE, SIG_IGN);
	const char *p = getenv("NFS_TEST_PORT");
	if (p && *p) {
		external = true;
		portA = atoi(p);
		const char *mp = getenv("NFS_TEST_MOUNTPORT");
		mountportA = mp && *mp ? atoi(mp) : portA;
		if (getenv("NFS_TEST_HOST"))
			host = getenv("NFS_TEST_HOST");
		if (getenv("NFS_TEST_EXPORT"))
			export_path = getenv("NFS_TEST_EXPORT");
		printf("# against an external server %s:%d (mount port %d, export %s)\n", host, portA, mountportA, export_path);
	} else {
		nfsd_prepare(&dA, "nfsA", "[nfs]\nsquash = \"none\"\nanon_uid = 5555\nanon_gid = 6666\n");
		if (nfsd_start(&dA, NULL, NULL))
			return -1;
		portA = mountportA = dA.port;
		printf("# daemon A on port %d (%s)\n", portA, dA.dir);
	}
	if (mount_root(mountportA, &rootfh))
		return -1;
	root = conn_as(portA, 0, 0, 0, NULL);
	if (!root)
		return -1;
	if (external) {
		nfails = 0;
		return 0;
	}

	/* C: a read-only replica of A's store, seeded and flushed first */
	seed_rofs_objects(root, &rootfh);
	if (run_cmd("'%s' flush -c '%s' --store 'file://%s/store' >/dev/null 2>&1", bin(), dA.conf, dA.dir))
		printf("# warning: bucketfs flush on A failed\n");
	nfsd_prepare(&dC, "nfsC", "[nfs]\nsquash = \"none\"\n");
	char storeA[300];
	snprintf(storeA, sizeof storeA, "file://%s/store", dA.dir);
	if (nfsd_start(&dC, storeA, "--read-only", NULL))
		return -1;

	/* D: seeded by a writable run, then served with [nfs] read_only */
	nfsd_prepare(&dD, "nfsD", "[nfs]\nsquash = \"none\"\n");
	if (nfsd_start(&dD, NULL, NULL))
		return -1;
	struct fh rd;
	if (mount_root(dD.port, &rd))
		return -1;
	struct conn *cd = conn_as(dD.port, 0, 0, 0, NULL);
	if (!cd)
		return -1;
	seed_rofs_objects(cd, &rd);
	conn_close(cd);
	if (nfsd_stop(&dD, SIGTERM) != 0)
		printf("# warning: daemon D did not exit 0 at SIGTERM\n");
	nfsd_reconfigure(&dD, "[nfs]\nsquash = \"none\"\nread_only = true\n");
	if (nfsd_start(&dD, NULL, NULL))
		return -1;
	/* B is set up by its own test (the restart is part of what it checks) */
	calls_free();
	if (nfails) {
		printf("# setup: %d check(s) failed\n", nfails);
		nfails = 0;
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	conn_close(root);
	calls_free();
	nfsd_cleanup(&dA);
	nfsd_cleanup(&dB);
	nfsd_cleanup(&dC);
	nfsd_cleanup(&dD);
	free(scratch);
	return 0;
}

static int test_teardown(void **state)
{
	(void)state;
	calls_free();
	return 0;
}

static void need_own_daemons(void)
{
	if (external)
		skip();
}

/* ---- NULL, MOUNT ---- */

static void t_null_and_mount(void **state)
{
	(void)state;
	struct call *c = call_new("NFS NULL", NULL, NULL, 0);
	call_wait(root, c, rpc_nfs3_null_async(root->rpc, call_done, c), false);

	struct conn *m = conn_mount(mountportA);
	if (m) {
		c = call_new("MOUNT NULL", NULL, NULL, 0);
		call_wait(m, c, rpc_mount3_null_async(m->rpc, call_done, c), false);

		mountres3 r;
		c = call_new("MNT", XDR(mountres3), &r, sizeof r);
		if (!call_wait(m, c, rpc_mount3_mnt_async(m->rpc, call_done, (char *)export_path, c), false)) {
			CHECK(r.fhs_status == MNT3_OK, "MNT %s: status %d", export_path, r.fhs_status);
			if (r.fhs_status == MNT3_OK) {
				mountres3_ok *ok = &r.mountres3_u.mountinfo;
				CHECK(ok->fhandle.fhandle3_len == rootfh.len &&
				      !memcmp(ok->fhandle.fhandle3_val, rootfh.data, rootfh.len),
				      "MNT twice gives the same root handle");
				bool sys = false;
				for (u_int i = 0; i < ok->auth_flavors.auth_flavors_len; i++)
					sys |= ok->auth_flavors.auth_flavors_val[i] == AUTH_UNIX;
				CHECK(sys, "MNT: AUTH_SYS (1) is among the %u auth flavours offered",
				      ok->auth_flavors.auth_flavors_len);
			}
		}
		c = call_new("MNT /no-such-export", XDR(mountres3), &r, sizeof r);
		if (!call_wait(m, c, rpc_mount3_mnt_async(m->rpc, call_done, "/no-such-export-here", c), false))
			CHECK(r.fhs_status != MNT3_OK, "MNT of an export that does not exist: got MNT3_OK");

		exports ex = NULL;
		c = call_new("EXPORT", XDR(exports), &ex, sizeof ex);
		if (!call_wait(m, c, rpc_mount3_export_async(m->rpc, call_done, c), false)) {
			bool found = false;
			for (exports e = ex; e; e = e->ex_next)
				found |= e->ex_dir && !strcmp(e->ex_dir, export_path);
			CHECK(found, "EXPORT lists %s", export_path);
		}
		c = call_new("UMNT", NULL, NULL, 0);
		call_wait(m, c, rpc_mount3_umnt_async(m->rpc, call_done, (char *)export_path, c), false);
		c = call_new("UMNTALL", NULL, NULL, 0);
		call_wait(m, c, rpc_mount3_umntall_async(m->rpc, call_done, c), false);
		conn_close(m);
	}
	/* the root handle still works after UMNT (NFS is stateless) */
	fattr3 a;
	STATUS(getattr(root, &rootfh, &a), NFS3_OK, "GETATTR of the root after UMNT");
	finish();
}

/* ---- GETATTR ---- */

static void t_getattr(void **state)
{
	(void)state;
	fattr3 a, b;
	STATUS(getattr(root, &rootfh, &a), NFS3_OK, "GETATTR root");
	CHECK(a.type == NF3DIR, "root type %d, want NF3DIR", a.type);
	CHECK(a.nlink >= 2, "root nlink %u, want >= 2", a.nlink);
	CHECK(a.fileid != 0, "root fileid 0");
	struct fh d = testdir("getattr"), f;
	STATUS(mkfile(root, &d, "f", 0640, &f), NFS3_OK, "CREATE f");
	STATUS(write_(root, &f, 0, "hello", 5, FILE_SYNC, NULL), NFS3_OK, "WRITE f");
	STATUS(getattr(root, &f, &b), NFS3_OK, "GETATTR f");
	CHECK(b.type == NF3REG, "type %d, want NF3REG", b.type);
	CHECK((b.mode & 07777) == 0640, "mode 0%o, want 0640", b.mode);
	CHECK(b.size == 5, "size %llu, want 5", (unsigned long long)b.size);
	CHECK(b.nlink == 1, "nlink %u, want 1", b.nlink);
	CHECK(b.uid == 0 && b.gid == 0, "owner %u:%u, want 0:0", b.uid, b.gid);
	CHECK(b.fsid == a.fsid, "fsid of a file %llu differs from the root's %llu",
	      (unsigned long long)b.fsid, (unsigned long long)a.fsid);
	CHECK(b.fileid != a.fileid, "a file has the root's fileid");
	finish();
}

/* ---- SETATTR ---- */

static void t_setattr(void **state)
{
	(void)state;
	struct fh d = testdir("setattr"), f;
	fattr3 pre, now;
	SETATTR3args a;
	SETATTR3res r;
	STATUS(mkfile(root, &d, "f", 0644, &f), NFS3_OK, "CREATE f");

	/* size */
	getattr(root, &f, &pre);
	memset(&a, 0, sizeof a);
	a.object = FH(&f);
	a.new_attributes.size.set_it = 1;
	a.new_attributes.size.set_size3_u.size = 100000;
	NFSCALL(root, setattr, SETATTR, &a, &r);
	STATUS(r.status, NFS3_OK, "SETATTR size 100000");
	check_wcc(root, "SETATTR size", &pre, &r.SETATTR3res_u.resok.obj_wcc, &f);
	getattr(root, &f, &now);
	CHECK(now.size == 100000, "size %llu after SETATTR size 100000", (unsigned long long)now.size);
	CHECK(!time_le(now.mtime, pre.mtime), "truncate did not advance mtime");
	{
		READ3args ra = { .file = FH(&f), .offset = 99990, .count = 100 };
		READ3res rr;
		NFSCALL(root, read, READ, &ra, &rr);
		STATUS(rr.status, NFS3_OK, "READ the extended tail");
		if (rr.status == NFS3_OK) {
			READ3resok *ok = &rr.READ3res_u.resok;
			bool zero = ok->data.data_len == 10;
			for (u_int i = 0; zero && i < ok->data.data_len; i++)
				zero = !ok->data.data_val[i];
			CHECK(zero, "the extended tail reads as 10 zero bytes (got %u bytes)", ok->data.data_len);
		}
	}

	/* mode */
	getattr(root, &f, &pre);
	memset(&a, 0, sizeof a);
	a.object = FH(&f);
	a.new_attributes = sattr_mode(04751);
	NFSCALL(root, setattr, SETATTR, &a, &r);
	STATUS(r.status, NFS3_OK, "SETATTR mode 04751");
	check_wcc(root, "SETATTR mode", &pre, &r.SETATTR3res_u.resok.obj_wcc, &f);
	getattr(root, &f, &now);
	CHECK((now.mode & 07777) == 04751, "mode 0%o, want 04751", now.mode & 07777);
	CHECK(!time_le(now.ctime, pre.ctime), "chmod did not advance ctime");

	/* uid/gid as root */
	STATUS(setowner(root, &f, 1234, 5678), NFS3_OK, "SETATTR uid 1234 gid 5678");
	getattr(root, &f, &now);
	CHECK(now.uid == 1234 && now.gid == 5678, "owner %u:%u, want 1234:5678", now.uid, now.gid);

	/* times: client time with nanoseconds, then server time */
	getattr(root, &f, &pre);
	memset(&a, 0, sizeof a);
	a.object = FH(&f);
	a.new_attributes.atime.set_it = SET_TO_CLIENT_TIME;
	a.new_attributes.atime.set_atime_u.atime = (nfstime3){ 1000000000, 123456789 };
	a.new_attributes.mtime.set_it = SET_TO_CLIENT_TIME;
	a.new_attributes.mtime.set_mtime_u.mtime = (nfstime3){ 1234567890, 987654321 };
	NFSCALL(root, setattr, SETATTR, &a, &r);
	STATUS(r.status, NFS3_OK, "SETATTR atime/mtime SET_TO_CLIENT_TIME");
	check_wcc(root, "SETATTR times", &pre, &r.SETATTR3res_u.resok.obj_wcc, &f);
	getattr(root, &f, &now);
	CHECK(now.atime.seconds == 1000000000 && now.atime.nseconds == 123456789,
	      "atime %u.%09u, want 1000000000.123456789", now.atime.seconds, now.atime.nseconds);
	CHECK(now.mtime.seconds == 1234567890 && now.mtime.nseconds == 987654321,
	      "mtime %u.%09u, want 1234567890.987654321", now.mtime.seconds, now.mtime.nseconds);

	memset(&a, 0, sizeof a);
	a.object = FH(&f);
	a.new_attributes.atime.set_it = SET_TO_SERVER_TIME;
	a.new_attributes.mtime.set_it = SET_TO_SERVER_TIME;
	NFSCALL(root, setattr, SETATTR, &a, &r);
	STATUS(r.status, NFS3_OK, "SETATTR atime/mtime SET_TO_SERVER_TIME");
	getattr(root, &f, &now);
	{
		long t = (long)time(NULL);
		CHECK(labs((long)now.mtime.seconds - t) < 60 && labs((long)now.atime.seconds - t) < 60,
		      "SET_TO_SERVER_TIME: mtime %u atime %u, now %ld", now.mtime.seconds, now.atime.seconds, t);
	}

	/* the ctime guard */
	getattr(root, &f, &pre);
	memset(&a, 0, sizeof a);
	a.object = FH(&f);
	a.new_attributes = sattr_mode(0600);
	a.guard.check = 1;
	a.guard.sattrguard3_u.obj_ctime = pre.ctime;
	NFSCALL(root, setattr, SETATTR, &a, &r);
	STATUS(r.status, NFS3_OK, "SETATTR with a guard equal to the ctime");
	getattr(root, &f, &pre);
	a.new_attributes = sattr_mode(0640);
	a.guard.sattrguard3_u.obj_ctime = (nfstime3){ pre.ctime.seconds - 1, pre.ctime.nseconds };
	NFSCALL(root, setattr, SETATTR, &a, &r);
	STATUS(r.status, NFS3ERR_NOT_SYNC, "SETATTR with a stale ctime guard");
	if (r.status != RPC_FAILED)
		check_wcc(root, "SETATTR NOT_SYNC (failure wcc)", &pre, &r.SETATTR3res_u.resfail.obj_wcc, &f);
	getattr(root, &f, &now);
	CHECK((now.mode & 07777) == 0600, "a NOT_SYNC SETATTR changed the mode to 0%o", now.mode & 07777);

	/* another uid may not chmod or chown a file it does not own */
	struct conn *u = conn_as(portA, 1000, 1000, 0, NULL);
	if (u) {
		STATUS(setmode(u, &f, 0777), NFS3ERR_PERM, "SETATTR mode by a non-owner (uid 1000)");
		STATUS(setowner(u, &f, 1000, 1000), NFS3ERR_PERM, "SETATTR uid by a non-owner (uid 1000)");
		conn_close(u);
	}
	/* a size on a directory */
	memset(&a, 0, sizeof a);
	a.object = FH(&d);
	a.new_attributes.size.set_it = 1;
	NFSCALL(root, setattr, SETATTR, &a, &r);
	CHECK(r.status == NFS3ERR_ISDIR || r.status == NFS3ERR_INVAL || r.status == NFS3ERR_BADTYPE,
	      "SETATTR size on a directory: got %s, want ISDIR, INVAL or BADTYPE", st(r.status));
	finish();
}

/* ---- LOOKUP ---- */

static void t_lookup(void **state)
{
	(void)state;
	struct fh d = testdir("lookup"), sub, f, got;
	fattr3 da, sa, fa, ga;
	LOOKUP3args a;
	LOOKUP3res r;
	STATUS(mkdir_(root, &d, "sub", 0755, &sub), NFS3_OK, "MKDIR sub");
	STATUS(mkfile(root, &sub, "f", 0644, &f), NFS3_OK, "CREATE sub/f");
	getattr(root, &d, &da);
	getattr(root, &sub, &sa);
	getattr(root, &f, &fa);

	a.what = DIROP(&sub, "f");
	NFSCALL(root, lookup, LOOKUP, &a, &r);
	STATUS(r.status, NFS3_OK, "LOOKUP sub/f");
	if (r.status == NFS3_OK) {
		LOOKUP3resok *ok = &r.LOOKUP3res_u.resok;
		CHECK(ok->object.data.data_len == f.len && !memcmp(ok->object.data.data_val, f.data, f.len),
		      "LOOKUP returns the handle CREATE returned");
		check_post(root, "LOOKUP obj_attributes", &ok->obj_attributes, &f);
		check_post(root, "LOOKUP dir_attributes", &ok->dir_attributes, &sub);
	}
	a.what = DIROP(&sub, "nope");
	NFSCALL(root, lookup, LOOKUP, &a, &r);
	STATUS(r.status, NFS3ERR_NOENT, "LOOKUP of a missing name");
	if (r.status == NFS3ERR_NOENT)
		check_post(root, "LOOKUP NOENT dir_attributes", &r.LOOKUP3res_u.resfail.dir_attributes, &sub);
	STATUS(lookup(root, &f, "x", NULL, NULL), NFS3ERR_NOTDIR, "LOOKUP in a regular file");

	char longname[300];
	memset(longname, 'n', 256);
	longname[256] = 0;
	STATUS(lookup(root, &sub, longname, NULL, NULL), NFS3ERR_NAMETOOLONG, "LOOKUP of a 256-byte name");
	memset(longname, 'n', 255);
	longname[255] = 0;
	STATUS(lookup(root, &sub, longname, NULL, NULL), NFS3ERR_NOENT, "LOOKUP of a 255-byte name that is not there");

	STATUS(lookup(root, &sub, "..", &got, &ga), NFS3_OK, "LOOKUP sub/..");
	CHECK(ga.fileid == da.fileid, "sub/.. has fileid %llu, its parent %llu",
	      (unsigned long long)ga.fileid, (unsigned long long)da.fileid);
	STATUS(lookup(root, &sub, ".", &got, &ga), NFS3_OK, "LOOKUP sub/.");
	CHECK(ga.fileid == sa.fileid, "sub/. has fileid %llu, sub %llu",
	      (unsigned long long)ga.fileid, (unsigned long long)sa.fileid);
	fattr3 ra;
	getattr(root, &rootfh, &ra);
	STATUS(lookup(root, &rootfh, "..", &got, &ga), NFS3_OK, "LOOKUP /.. (the export root's parent)");
	CHECK(ga.fileid == ra.fileid, "/.. leaves the export: fileid %llu, root %llu",
	      (unsigned long long)ga.fileid, (unsigned long long)ra.fileid);

	/* a name with a slash is no path */
	{
		int s = lookup(root, &d, "sub/f", NULL, NULL);
		CHECK(s != NFS3_OK && s != RPC_FAILED, "LOOKUP of \"sub/f\" (a slash in a name): %s, want an error", st(s));
	}
	(void)fa;
	finish();
}

/* ---- ACCESS ---- */

#define ALL_FILE (ACCESS3_READ | ACCESS3_MODIFY | ACCESS3_EXTEND | ACCESS3_EXECUTE)
#define ALL_DIR (ACCESS3_READ | ACCESS3_LOOKUP | ACCESS3_MODIFY | ACCESS3_EXTEND | ACCESS3_DELETE)

static void access_is_(const char *fn, int line, struct conn *cn, const struct fh *o, uint32_t ask,
		       uint32_t want, const char *who)
{
	ACCESS3args a = { .object = FH(o), .access = ask };
	ACCESS3res r;
	NFSCALL(cn, access, ACCESS, &a, &r);
	if (r.status != NFS3_OK) {
		nfails++;
		printf("# FAIL %s:%d: ACCESS 0x%x as %s: %s\n", fn, line, ask, who, st(r.status));
		return;
	}
	uint32_t got = r.ACCESS3res_u.resok.access;
	if (got != want) {
		nfails++;
		printf("# FAIL %s:%d: ACCESS 0x%x as %s: granted 0x%x, want 0x%x\n", fn, line, ask, who, got, want);
	}
	if (!r.ACCESS3res_u.resok.obj_attributes.attributes_follow) {
		nfails++;
		printf("# FAIL %s:%d: ACCESS as %s: no post-op attributes\n", fn, line, who);
	}
}
#define access_is(cn, o, ask, want, who) access_is_(__func__, __LINE__, cn, o, ask, want, who)

static void t_access(void **state)
{
	(void)state;
	struct fh d = testdir("access"), f, x, z, sub, zd;
	STATUS(mkfile(root, &d, "f", 0640, &f), NFS3_OK, "CREATE f");
	STATUS(mkfile(root, &d, "x", 0755, &x), NFS3_OK, "CREATE x");
	STATUS(mkfile(root, &d, "z", 0000, &z), NFS3_OK, "CREATE z");
	STATUS(mkdir_(root, &d, "sub", 0755, &sub), NFS3_OK, "MKDIR sub");
	STATUS(mkdir_(root, &d, "zd", 0000, &zd), NFS3_OK, "MKDIR zd");
	setmode(root, &z, 0);
	setmode(root, &zd, 0);
	setowner(root, &f, 1000, 2000);
	setowner(root, &x, 1000, 2000);
	setowner(root, &sub, 1000, 2000);
	setowner(root, &z, 1000, 2000);
	setowner(root, &zd, 1000, 2000);

	/* root: everything but executing a file with no x bit */
	access_is(root, &f, ALL_FILE, ACCESS3_READ | ACCESS3_MODIFY | ACCESS3_EXTEND, "root on 0640");
	access_is(root, &x, ALL_FILE, ALL_FILE, "root on 0755");
	access_is(root, &z, ALL_FILE, ACCESS3_READ | ACCESS3_MODIFY | ACCESS3_EXTEND, "root on 0000");
	access_is(root, &zd, ALL_DIR, ALL_DIR, "root on a 0000 directory");
	/* only what was asked is answered */
	access_is(root, &x, ACCESS3_READ, ACCESS3_READ, "root asking READ only");

	uint32_t g2000 = 2000;
	struct conn *owner = conn_as(portA, 1000, 1000, 0, NULL);
	struct conn *grp = conn_as(portA, 3000, 2000, 0, NULL);
	struct conn *other = conn_as(portA, 3000, 3000, 0, NULL);
	struct conn *sgrp = conn_as(portA, 3000, 3000, 1, &g2000);
	if (owner && grp && other && sgrp) {
		access_is(owner, &f, ALL_FILE, ACCESS3_READ | ACCESS3_MODIFY | ACCESS3_EXTEND, "owner on 0640");
		access_is(grp, &f, ALL_FILE, ACCESS3_READ, "group on 0640");
		access_is(other, &f, ALL_FILE, 0, "other on 0640");
		access_is(sgrp, &f, ALL_FILE, ACCESS3_READ, "other with supplementary group 2000 on 0640");
		access_is(other, &x, ALL_FILE, ACCESS3_READ | ACCESS3_EXECUTE, "other on 0755");
		access_is(owner, &z, ALL_FILE, 0, "owner on 0000");
		access_is(owner, &sub, ALL_DIR, ALL_DIR, "owner on a 0755 directory");
		access_is(other, &sub, ALL_DIR, ACCESS3_READ | ACCESS3_LOOKUP, "other on a 0755 directory");
		access_is(owner, &zd, ALL_DIR, 0, "owner on a 0000 directory");
		/* and the server enforces it, not only reports it */
		READ3args ra = { .file = FH(&f), .offset = 0, .count = 10 };
		READ3res rr;
		NFSCALL(other, read, READ, &ra, &rr);
		STATUS(rr.status, NFS3ERR_ACCES, "READ of a 0640 file by other");
		STATUS(write_(grp, &f, 0, "x", 1, FILE_SYNC, NULL), NFS3ERR_ACCES, "WRITE to a 0640 file by group");
		STATUS(mkfile(other, &sub, "nope", 0644, NULL), NFS3ERR_ACCES, "CREATE in a 0755 directory by other");
		STATUS(lookup(owner, &zd, "x", NULL, NULL), NFS3ERR_ACCES, "LOOKUP in a 0000 directory by its owner");
	}
	conn_close(owner);
	conn_close(grp);
	conn_close(other);
	conn_close(sgrp);
	finish();
}

/* ---- SYMLINK, READLINK ---- */

static void t_symlink_readlink(void **state)
{
	(void)state;
	struct fh d = testdir("symlink"), l, f;
	fattr3 pre, la;
	const char *target = "some/target/../path with spaces";
	SYMLINK3args a;
	SYMLINK3res r;
	memset(&a, 0, sizeof a);
	a.where = DIROP(&d, "l");
	a.symlink.symlink_attributes = sattr_mode(0777);
	a.symlink.symlink_data = (char *)target;
	getattr(root, &d, &pre);
	NFSCALL(root, symlink, SYMLINK, &a, &r);
	STATUS(r.status, NFS3_OK, "SYMLINK l");
	if (r.status == NFS3_OK) {
		check_wcc(root, "SYMLINK dir_wcc", &pre, &r.SYMLINK3res_u.resok.dir_wcc, &d);
		CHECK(r.SYMLINK3res_u.resok.obj.handle_follows, "SYMLINK: no handle");
	}
	STATUS(lookup(root, &d, "l", &l, &la), NFS3_OK, "LOOKUP l");
	CHECK(la.type == NF3LNK, "symlink type %d, want NF3LNK", la.type);
	CHECK(la.size == strlen(target), "symlink size %llu, want %zu", (unsigned long long)la.size, strlen(target));

	READLINK3args ra = { .symlink = FH(&l) };
	READLINK3res rr;
	NFSCALL(root, readlink, READLINK, &ra, &rr);
	STATUS(rr.status, NFS3_OK, "READLINK l");
	if (rr.status == NFS3_OK) {
		CHECK(rr.READLINK3res_u.resok.data && !strcmp(rr.READLINK3res_u.resok.data, target),
		      "READLINK gives '%s', want '%s'", rr.READLINK3res_u.resok.data ? rr.READLINK3res_u.resok.data : "(null)", target);
		check_post(root, "READLINK symlink_attributes", &rr.READLINK3res_u.resok.symlink_attributes, &l);
	}
	NFSCALL(root, symlink, SYMLINK, &a, &r);
	STATUS(r.status, NFS3ERR_EXIST, "SYMLINK over an existing name");

	STATUS(mkfile(root, &d, "f", 0644, &f), NFS3_OK, "CREATE f");
	ra.symlink = FH(&f);
	NFSCALL(root, readlink, READLINK, &ra, &rr);
	STATUS(rr.status, NFS3ERR_INVAL, "READLINK of a regular file");
	ra.symlink = FH(&d);
	NFSCALL(root, readlink, READLINK, &ra, &rr);
	STATUS(rr.status, NFS3ERR_INVAL, "READLINK of a directory");

	/* a 1024-byte target (POSIX PATH_MAX territory) round-trips */
	char big[1025];
	memset(big, 'a', 1024);
	big[1024] = 0;
	for (int i = 100; i < 1024; i += 100)
		big[i] = '/';
	a.where = DIROP(&d, "big");
	a.symlink.symlink_data = big;
	NFSCALL(root, symlink, SYMLINK, &a, &r);
	STATUS(r.status, NFS3_OK, "SYMLINK with a 1024-byte target");
	if (lookup(root, &d, "big", &l, NULL) == NFS3_OK) {
		ra.symlink = FH(&l);
		NFSCALL(root, readlink, READLINK, &ra, &rr);
		CHECK(rr.status == NFS3_OK && rr.READLINK3res_u.resok.data && !strcmp(rr.READLINK3res_u.resok.data, big),
		      "the 1024-byte target reads back (%s)", st(rr.status));
	}
	finish();
}

/* ---- READ, WRITE, COMMIT ---- */

static void t_write_read_commit(void **state)
{
	(void)state;
	struct fh d = testdir("rw"), f;
	const uint32_t MiB = 1u << 20;
	char *data = malloc(3 * MiB);
	test_rng_fill(&rng, data, 3 * MiB);
	STATUS(mkfile(root, &d, "f", 0644, &f), NFS3_OK, "CREATE f");

	/* three 1 MiB writes, one per stable_how */
	stable_how how[3] = { UNSTABLE, DATA_SYNC, FILE_SYNC };
	for (int i = 0; i < 3; i++) {
		fattr3 pre;
		getattr(root, &f, &pre);
		WRITE3args a = { .file = FH(&f), .offset = (uint64_t)i * MiB, .count = MiB, .stable = how[i],
				 .data = { MiB, data + (size_t)i * MiB } };
		WRITE3res r;
		NFSCALL(root, write, WRITE, &a, &r);
		STATUS(r.status, NFS3_OK, "WRITE 1 MiB at %d MiB, stable %d", i, how[i]);
		if (r.status != NFS3_OK)
			continue;
		WRITE3resok *ok = &r.WRITE3res_u.resok;
		CHECK(ok->count == MiB, "WRITE count %u, want %u (wtmax is 1 MiB)", ok->count, MiB);
		CHECK((int)ok->committed >= (int)how[i] && ok->committed <= FILE_SYNC,
		      "WRITE stable %d: committed %d (must be >= what was asked)", how[i], ok->committed);
		note_verf("WRITE", ok->verf);
		check_wcc(root, "WRITE file_wcc", &pre, &ok->file_wcc, &f);
		if (ok->file_wcc.after.attributes_follow)
			CHECK(ok->file_wcc.after.post_op_attr_u.attributes.size == (uint64_t)(i + 1) * MiB,
			      "WRITE post-op size %llu", (unsigned long long)ok->file_wcc.after.post_op_attr_u.attributes.size);
	}
	/* COMMIT: the same verifier, wcc */
	{
		fattr3 pre;
		getattr(root, &f, &pre);
		COMMIT3args a = { .file = FH(&f), .offset = 0, .count = 0 };
		COMMIT3res r;
		NFSCALL(root, commit, COMMIT, &a, &r);
		STATUS(r.status, NFS3_OK, "COMMIT 0/0");
		if (r.status == NFS3_OK) {
			note_verf("COMMIT", r.COMMIT3res_u.resok.verf);
			check_wcc(root, "COMMIT file_wcc", &pre, &r.COMMIT3res_u.resok.file_wcc, &f);
		}
		a.offset = MiB;
		a.count = 4096;
		NFSCALL(root, commit, COMMIT, &a, &r);
		STATUS(r.status, NFS3_OK, "COMMIT of a range");
		if (r.status == NFS3_OK)
			note_verf("COMMIT range", r.COMMIT3res_u.resok.verf);
	}

	/* READ: 1 MiB pieces, eof exactly at the end, short reads past it */
	struct { uint64_t off; uint32_t count; uint32_t want; bool eof; } rd[] = {
		{ 0, MiB, MiB, false },
		{ MiB, MiB, MiB, false },
		{ 2 * MiB, MiB, MiB, true },     /* ends at EOF: eof is TRUE (RFC 1813 3.3.6) */
		{ 3 * MiB - 10, 100, 10, true },
		{ 3 * MiB, 100, 0, true },
		{ 3 * MiB + 12345, 100, 0, true },
		{ 12345, 1, 1, false },
		{ 777, 0, 0, false },
	};
	for (size_t i = 0; i < sizeof rd / sizeof rd[0]; i++) {
		READ3args a = { .file = FH(&f), .offset = rd[i].off, .count = rd[i].count };
		READ3res r;
		NFSCALL(root, read, READ, &a, &r);
		STATUS(r.status, NFS3_OK, "READ %u at %llu", rd[i].count, (unsigned long long)rd[i].off);
		if (r.status != NFS3_OK)
			continue;
		READ3resok *ok = &r.READ3res_u.resok;
		CHECK(ok->count == rd[i].want && ok->data.data_len == rd[i].want,
		      "READ %u at %llu: count %u, %u data bytes, want %u", rd[i].count,
		      (unsigned long long)rd[i].off, ok->count, ok->data.data_len, rd[i].want);
		CHECK(!!ok->eof == rd[i].eof, "READ %u at %llu: eof %u, want %d", rd[i].count,
		      (unsigned long long)rd[i].off, ok->eof, rd[i].eof);
		if (ok->data.data_len == rd[i].want && rd[i].want)
			CHECK(!memcmp(ok->data.data_val, data + rd[i].off, rd[i].want),
			      "READ %u at %llu: the bytes differ from what was written", rd[i].count,
			      (unsigned long long)rd[i].off);
		CHECK(ok->file_attributes.attributes_follow &&
		      ok->file_attributes.post_op_attr_u.attributes.size == 3 * MiB,
		      "READ post-op attributes present with size 3 MiB");
	}
	/* more than rtmax: at most rtmax comes back, and it is right */
	{
		READ3args a = { .file = FH(&f), .offset = 0, .count = 3 * MiB };
		READ3res r;
		NFSCALL(root, read, READ, &a, &r);
		STATUS(r.status, NFS3_OK, "READ of 3 MiB (> rtmax)");
		if (r.status == NFS3_OK) {
			READ3resok *ok = &r.READ3res_u.resok;
			CHECK(ok->count <= MiB && ok->count > 0, "READ of 3 MiB returned %u bytes (rtmax 1 MiB)", ok->count);
			CHECK(ok->count == ok->data.data_len && !memcmp(ok->data.data_val, data, ok->data.data_len),
			      "READ of 3 MiB: the bytes are right");
			CHECK(!ok->eof, "a short READ before the end says eof");
		}
	}
	/* a sparse write far out; the hole reads as zeros */
	{
		WRITE3resok ok;
		STATUS(write_(root, &f, 100ull * MiB, "tail", 4, FILE_SYNC, &ok), NFS3_OK, "WRITE at 100 MiB");
		fattr3 a;
		getattr(root, &f, &a);
		CHECK(a.size == 100ull * MiB + 4, "size after a write at 100 MiB: %llu", (unsigned long long)a.size);
		READ3args ra = { .file = FH(&f), .offset = 50ull * MiB, .count = 4096 };
		READ3res r;
		NFSCALL(root, read, READ, &ra, &r);
		if (r.status == NFS3_OK) {
			bool zero = r.READ3res_u.resok.data.data_len == 4096;
			for (u_int i = 0; zero && i < 4096; i++)
				zero = !r.READ3res_u.resok.data.data_val[i];
			CHECK(zero, "a hole reads as 4096 zero bytes");
		} else
			STATUS(r.status, NFS3_OK, "READ in a hole");
	}
	/* overwrite in the middle, unstable, then read it back before COMMIT */
	{
		WRITE3resok ok;
		STATUS(write_(root, &f, 1000, "OVERWRITE", 9, UNSTABLE, &ok), NFS3_OK, "WRITE 9 bytes at 1000");
		READ3args ra = { .file = FH(&f), .offset = 995, .count = 20 };
		READ3res r;
		NFSCALL(root, read, READ, &ra, &r);
		if (r.status == NFS3_OK && r.READ3res_u.resok.data.data_len == 20) {
			char want[20];
			memcpy(want, data + 995, 20);
			memcpy(want + 5, "OVERWRITE", 9);
			CHECK(!memcmp(r.READ3res_u.resok.data.data_val, want, 20), "an unstable write reads back");
		} else
			CHECK(0, "READ after an unstable write: %s, %u bytes", st(r.status),
			      r.status == NFS3_OK ? r.READ3res_u.resok.data.data_len : 0);
	}
	/* READ and WRITE of a directory */
	{
		READ3args ra = { .file = FH(&d), .offset = 0, .count = 10 };
		READ3res r;
		NFSCALL(root, read, READ, &ra, &r);
		CHECK(r.status == NFS3ERR_ISDIR || r.status == NFS3ERR_INVAL, "READ of a directory: %s, want ISDIR or INVAL", st(r.status));
		int s = write_(root, &d, 0, "x", 1, FILE_SYNC, NULL);
		CHECK(s == NFS3ERR_ISDIR || s == NFS3ERR_INVAL, "WRITE to a directory: %s, want ISDIR or INVAL", st(s));
	}
	/* a WRITE whose count disagrees with its data: GARBAGE_ARGS, an error,
	 * or at most the 10 bytes that came -- never a claim of 100 */
	{
		WRITE3args a = { .file = FH(&f), .offset = 0, .count = 100, .stable = FILE_SYNC, .data = { 10, data } };
		WRITE3res r;
		struct call *c = call_new("WRITE count 100, 10 bytes", XDR(WRITE3res), &r, sizeof r);
		int rc = call_wait(root, c, conn_ready(root) ? -1 : rpc_nfs3_write_async(root->rpc, call_done, &a, c), true);
		if (rc == 0 && r.status == NFS3_OK)
			CHECK(r.WRITE3res_u.resok.count <= 10, "WRITE count 100 with 10 data bytes: claims %u written",
			      r.WRITE3res_u.resok.count);
		else if (rc)
			CHECK(strstr(c->err, "Garbage") != NULL, "WRITE count 100 with 10 data bytes: %s", c->err);
	}
	free(data);
	finish();
}

/* ---- CREATE ---- */

static void t_create(void **state)
{
	(void)state;
	struct fh d = testdir("create"), f, f2;
	fattr3 pre, fa;
	CREATE3args a;
	CREATE3res r;

	/* UNCHECKED: new */
	getattr(root, &d, &pre);
	memset(&a, 0, sizeof a);
	a.where = DIROP(&d, "u");
	a.how.mode = UNCHECKED;
	a.how.createhow3_u.obj_attributes = sattr_mode(0604);
	NFSCALL(root, create, CREATE, &a, &r);
	STATUS(r.status, NFS3_OK, "CREATE UNCHECKED new");
	if (r.status == NFS3_OK) {
		CREATE3resok *ok = &r.CREATE3res_u.resok;
		check_wcc(root, "CREATE dir_wcc", &pre, &ok->dir_wcc, &d);
		CHECK(ok->obj.handle_follows, "CREATE: no handle");
		if (ok->obj.handle_follows) {
			fh_set(&f, ok->obj.post_op_fh3_u.handle.data.data_val, ok->obj.post_op_fh3_u.handle.data.data_len);
			check_post(root, "CREATE obj_attributes", &ok->obj_attributes, &f);
			getattr(root, &f, &fa);
			CHECK((fa.mode & 07777) == 0604 && fa.type == NF3REG && fa.size == 0,
			      "created: type %d mode 0%o size %llu", fa.type, fa.mode & 07777, (unsigned long long)fa.size);
			CHECK(time_le(pre.mtime, fa.mtime), "the new file's mtime precedes its directory's mtime before the CREATE");
		}
		fattr3 post;
		getattr(root, &d, &post);
		CHECK(!time_le(post.mtime, pre.mtime), "CREATE did not advance the directory's mtime");
	}
	/* UNCHECKED over an existing file with size 0: truncates, same file */
	STATUS(write_(root, &f, 0, "12345", 5, FILE_SYNC, NULL), NFS3_OK, "WRITE u");
	a.how.createhow3_u.obj_attributes.mode.set_it = 0;
	a.how.createhow3_u.obj_attributes.size.set_it = 1;
	a.how.createhow3_u.obj_attributes.size.set_size3_u.size = 0;
	NFSCALL(root, create, CREATE, &a, &r);
	STATUS(r.status, NFS3_OK, "CREATE UNCHECKED over an existing file");
	getattr(root, &f, &fa);
	CHECK(fa.size == 0, "UNCHECKED with size 0 over an existing file: size %llu", (unsigned long long)fa.size);
	CHECK((fa.mode & 07777) == 0604, "UNCHECKED without a mode changed the mode to 0%o", fa.mode & 07777);

	/* GUARDED */
	getattr(root, &d, &pre);
	a.how.mode = GUARDED;
	a.how.createhow3_u.g_obj_attributes = sattr_mode(0644);
	NFSCALL(root, create, CREATE, &a, &r);
	STATUS(r.status, NFS3ERR_EXIST, "CREATE GUARDED over an existing file");
	if (r.status == NFS3ERR_EXIST)
		check_wcc(root, "CREATE EXIST (failure wcc)", &pre, &r.CREATE3res_u.resfail.dir_wcc, &d);
	a.where = DIROP(&d, "g");
	NFSCALL(root, create, CREATE, &a, &r);
	STATUS(r.status, NFS3_OK, "CREATE GUARDED new");

	/* EXCLUSIVE: a retry with the same verifier is the same create */
	memset(&a, 0, sizeof a);
	a.where = DIROP(&d, "x");
	a.how.mode = EXCLUSIVE;
	memcpy(a.how.createhow3_u.verf, "\x01\x23\x45\x67\x89\xab\xcd\xef", 8);
	NFSCALL(root, create, CREATE, &a, &r);
	STATUS(r.status, NFS3_OK, "CREATE EXCLUSIVE new");
	fattr3 x1 = { 0 }, x2 = { 0 };
	if (lookup(root, &d, "x", &f2, &x1) == NFS3_OK) {
		/* as the RFC says, the client then sets the attributes */
		STATUS(setmode(root, &f2, 0640), NFS3_OK, "SETATTR after EXCLUSIVE");
	}
	NFSCALL(root, create, CREATE, &a, &r);
	STATUS(r.status, NFS3_OK, "CREATE EXCLUSIVE retry with the same verifier");
	if (r.status == NFS3_OK && r.CREATE3res_u.resok.obj.handle_follows) {
		struct fh h;
		fh_set(&h, r.CREATE3res_u.resok.obj.post_op_fh3_u.handle.data.data_val,
		       r.CREATE3res_u.resok.obj.post_op_fh3_u.handle.data.data_len);
		getattr(root, &h, &x2);
		CHECK(x2.fileid == x1.fileid, "the retry returned another file (%llu vs %llu)",
		      (unsigned long long)x2.fileid, (unsigned long long)x1.fileid);
	}
	memcpy(a.how.createhow3_u.verf, "\xfe\xdc\xba\x98\x76\x54\x32\x10", 8);
	NFSCALL(root, create, CREATE, &a, &r);
	STATUS(r.status, NFS3ERR_EXIST, "CREATE EXCLUSIVE with another verifier");
	a.where = DIROP(&d, "u");
	NFSCALL(root, create, CREATE, &a, &r);
	STATUS(r.status, NFS3ERR_EXIST, "CREATE EXCLUSIVE over a file made by UNCHECKED");

	/* names */
	char longname[300];
	memset(longname, 'c', 256);
	longname[256] = 0;
	STATUS(mkfile(root, &d, longname, 0644, NULL), NFS3ERR_NAMETOOLONG, "CREATE with a 256-byte name");
	longname[255] = 0;
	STATUS(mkfile(root, &d, longname, 0644, NULL), NFS3_OK, "CREATE with a 255-byte name");
	STATUS(mkfile(root, &f, "in-a-file", 0644, NULL), NFS3ERR_NOTDIR, "CREATE in a regular file");
	int s = mkfile(root, &d, "a/b", 0644, NULL);
	CHECK(s != NFS3_OK && s != RPC_FAILED, "CREATE of a name with a slash: %s, want an error", st(s));
	s = mkfile(root, &d, "", 0644, NULL);
	CHECK(s == NFS3ERR_INVAL || s == NFS3ERR_ACCES || s == NFS3ERR_NOENT || s == NFS3ERR_EXIST,
	      "CREATE of an empty name: %s, want an error", st(s));
	s = mkfile(root, &d, ".", 0644, NULL);
	CHECK(s != NFS3_OK && s != RPC_FAILED, "CREATE of \".\": %s, want an error", st(s));
	s = mkfile(root, &d, "..", 0644, NULL);
	CHECK(s != NFS3_OK && s != RPC_FAILED, "CREATE of \"..\": %s, want an error", st(s));
	STATUS(mkfile(root, &d, "d1", 0644, NULL), NFS3_OK, "CREATE d1");
	finish();
}

/* ---- MKDIR ---- */

static void t_mkdir(void **state)
{
	(void)state;
	struct fh d = testdir("mkdir"), s;
	fattr3 pre, sa, post;
	MKDIR3args a = { .where = DIROP(&d, "s"), .attributes = sattr_mode(0751) };
	MKDIR3res r;
	getattr(root, &d, &pre);
	NFSCALL(root, mkdir, MKDIR, &a, &r);
	STATUS(r.status, NFS3_OK, "MKDIR s");
	if (r.status == NFS3_OK) {
		MKDIR3resok *ok = &r.MKDIR3res_u.resok;
		check_wcc(root, "MKDIR dir_wcc", &pre, &ok->dir_wcc, &d);
		CHECK(ok->obj.handle_follows, "MKDIR: no handle");
		if (ok->obj.handle_follows) {
			fh_set(&s, ok->obj.post_op_fh3_u.handle.data.data_val, ok->obj.post_op_fh3_u.handle.data.data_len);
			check_post(root, "MKDIR obj_attributes", &ok->obj_attributes, &s);
			getattr(root, &s, &sa);
			CHECK(sa.type == NF3DIR && (sa.mode & 07777) == 0751 && sa.nlink == 2,
			      "new dir: type %d mode 0%o nlink %u", sa.type, sa.mode & 07777, sa.nlink);
		}
		getattr(root, &d, &post);
		CHECK(post.nlink == pre.nlink + 1, "the parent's nlink %u -> %u, want +1", pre.nlink, post.nlink);
	}
	getattr(root, &d, &pre);
	NFSCALL(root, mkdir, MKDIR, &a, &r);
	STATUS(r.status, NFS3ERR_EXIST, "MKDIR over an existing name");
	if (r.status == NFS3ERR_EXIST)
		check_wcc(root, "MKDIR EXIST (failure wcc)", &pre, &r.MKDIR3res_u.resfail.dir_wcc, &d);
	struct fh f;
	mkfile(root, &d, "f", 0644, &f);
	STATUS(mkdir_(root, &d, "f", 0755, NULL), NFS3ERR_EXIST, "MKDIR over a file");
	STATUS(mkdir_(root, &f, "x", 0755, NULL), NFS3ERR_NOTDIR, "MKDIR in a file");
	int st_ = mkdir_(root, &d, ".", 0755, NULL);
	CHECK(st_ == NFS3ERR_EXIST || st_ == NFS3ERR_INVAL, "MKDIR \".\": %s, want EXIST or INVAL", st(st_));
	st_ = mkdir_(root, &d, "..", 0755, NULL);
	CHECK(st_ == NFS3ERR_EXIST || st_ == NFS3ERR_INVAL, "MKDIR \"..\": %s, want EXIST or INVAL", st(st_));
	char longname[300];
	memset(longname, 'm', 256);
	longname[256] = 0;
	STATUS(mkdir_(root, &d, longname, 0755, NULL), NFS3ERR_NAMETOOLONG, "MKDIR with a 256-byte name");
	finish();
}

/* ---- MKNOD ---- */

static void t_mknod(void **state)
{
	(void)state;
	struct fh d = testdir("mknod"), n;
	fattr3 pre, na;
	MKNOD3args a;
	MKNOD3res r;

	memset(&a, 0, sizeof a);
	a.where = DIROP(&d, "fifo");
	a.what.type = NF3FIFO;
	a.what.mknoddata3_u.pipe_attributes = sattr_mode(0640);
	getattr(root, &d, &pre);
	NFSCALL(root, mknod, MKNOD, &a, &r);
	STATUS(r.status, NFS3_OK, "MKNOD FIFO");
	if (r.status == NFS3_OK) {
		check_wcc(root, "MKNOD dir_wcc", &pre, &r.MKNOD3res_u.resok.dir_wcc, &d);
		CHECK(r.MKNOD3res_u.resok.obj.handle_follows, "MKNOD: no handle");
	}
	if (lookup(root, &d, "fifo", &n, &na) == NFS3_OK)
		CHECK(na.type == NF3FIFO && (na.mode & 07777) == 0640, "fifo: type %d mode 0%o", na.type, na.mode & 07777);
	NFSCALL(root, mknod, MKNOD, &a, &r);
	STATUS(r.status, NFS3ERR_EXIST, "MKNOD over an existing name");

	memset(&a, 0, sizeof a);
	a.where = DIROP(&d, "null");
	a.what.type = NF3CHR;
	a.what.mknoddata3_u.chr_device.dev_attributes = sattr_mode(0666);
	a.what.mknoddata3_u.chr_device.spec = (specdata3){ 1, 3 };
	NFSCALL(root, mknod, MKNOD, &a, &r);
	STATUS(r.status, NFS3_OK, "MKNOD CHR 1,3 as root");
	if (lookup(root, &d, "null", &n, &na) == NFS3_OK)
		CHECK(na.type == NF3CHR && na.rdev.specdata1 == 1 && na.rdev.specdata2 == 3,
		      "char device: type %d rdev %u,%u", na.type, na.rdev.specdata1, na.rdev.specdata2);

	a.where = DIROP(&d, "blk");
	a.what.type = NF3BLK;
	a.what.mknoddata3_u.blk_device.spec = (specdata3){ 7, 0 };
	NFSCALL(root, mknod, MKNOD, &a, &r);
	STATUS(r.status, NFS3_OK, "MKNOD BLK 7,0 as root");

	memset(&a, 0, sizeof a);
	a.where = DIROP(&d, "sock");
	a.what.type = NF3SOCK;
	a.what.mknoddata3_u.sock_attributes = sattr_mode(0600);
	NFSCALL(root, mknod, MKNOD, &a, &r);
	STATUS(r.status, NFS3_OK, "MKNOD SOCK");
	if (lookup(root, &d, "sock", &n, &na) == NFS3_OK)
		CHECK(na.type == NF3SOCK, "socket: type %d", na.type);

	memset(&a, 0, sizeof a);
	a.where = DIROP(&d, "reg");
	a.what.type = NF3REG;
	NFSCALL(root, mknod, MKNOD, &a, &r);
	STATUS(r.status, NFS3ERR_BADTYPE, "MKNOD NF3REG");
	a.what.type = NF3DIR;
	NFSCALL(root, mknod, MKNOD, &a, &r);
	STATUS(r.status, NFS3ERR_BADTYPE, "MKNOD NF3DIR");
	a.what.type = NF3LNK;
	NFSCALL(root, mknod, MKNOD, &a, &r);
	STATUS(r.status, NFS3ERR_BADTYPE, "MKNOD NF3LNK");

	struct conn *u = conn_as(portA, 1000, 1000, 0, NULL);
	if (u) {
		memset(&a, 0, sizeof a);
		a.where = DIROP(&d, "userdev");
		a.what.type = NF3CHR;
		a.what.mknoddata3_u.chr_device.spec = (specdata3){ 1, 3 };
		NFSCALL(u, mknod, MKNOD, &a, &r);
		STATUS(r.status, NFS3ERR_PERM, "MKNOD CHR as uid 1000");
		memset(&a, 0, sizeof a);
		a.where = DIROP(&d, "userfifo");
		a.what.type = NF3FIFO;
		a.what.mknoddata3_u.pipe_attributes = sattr_mode(0644);
		NFSCALL(u, mknod, MKNOD, &a, &r);
		STATUS(r.status, NFS3_OK, "MKNOD FIFO as uid 1000");
		if (lookup(root, &d, "userfifo", &n, &na) == NFS3_OK)
			CHECK(na.uid == 1000 && na.gid == 1000, "uid 1000's fifo is owned by %u:%u", na.uid, na.gid);
		conn_close(u);
	}
	finish();
}

/* ---- REMOVE, RMDIR, and STALE handles ---- */

static void t_remove_rmdir(void **state)
{
	(void)state;
	struct fh d = testdir("remove"), f, s, s2, x;
	fattr3 pre;
	mkfile(root, &d, "f", 0644, &f);
	mkdir_(root, &d, "s", 0755, &s);
	mkdir_(root, &d, "s2", 0755, &s2);
	mkfile(root, &s2, "x", 0644, &x);

	REMOVE3args ra = { .object = DIROP(&d, "f") };
	REMOVE3res rr;
	getattr(root, &d, &pre);
	NFSCALL(root, remove, REMOVE, &ra, &rr);
	STATUS(rr.status, NFS3_OK, "REMOVE f");
	if (rr.status == NFS3_OK)
		check_wcc(root, "REMOVE dir_wcc", &pre, &rr.REMOVE3res_u.resok.dir_wcc, &d);
	STATUS(lookup(root, &d, "f", NULL, NULL), NFS3ERR_NOENT, "LOOKUP after REMOVE");
	fattr3 a;
	STATUS(getattr(root, &f, &a), NFS3ERR_STALE, "GETATTR of a removed file's handle");
	STATUS(write_(root, &f, 0, "x", 1, FILE_SYNC, NULL), NFS3ERR_STALE, "WRITE to a removed file's handle");
	getattr(root, &d, &pre);
	NFSCALL(root, remove, REMOVE, &ra, &rr);
	STATUS(rr.status, NFS3ERR_NOENT, "REMOVE of a missing name");
	if (rr.status == NFS3ERR_NOENT)
		check_wcc(root, "REMOVE NOENT (failure wcc)", &pre, &rr.REMOVE3res_u.resfail.dir_wcc, &d);
	ra.object = DIROP(&d, "s");
	NFSCALL(root, remove, REMOVE, &ra, &rr);
	CHECK(rr.status != NFS3_OK && rr.status != RPC_FAILED, "REMOVE of a directory: %s, want an error (ISDIR)", st(rr.status));
	STATUS(lookup(root, &d, "s", NULL, NULL), NFS3_OK, "the directory is still there after REMOVE of it");

	RMDIR3args da = { .object = DIROP(&d, "s2") };
	RMDIR3res dr;
	NFSCALL(root, rmdir, RMDIR, &da, &dr);
	STATUS(dr.status, NFS3ERR_NOTEMPTY, "RMDIR of a non-empty directory");
	da.object = DIROP(&s2, "x");
	NFSCALL(root, rmdir, RMDIR, &da, &dr);
	STATUS(dr.status, NFS3ERR_NOTDIR, "RMDIR of a file");
	da.object = DIROP(&d, "nope");
	NFSCALL(root, rmdir, RMDIR, &da, &dr);
	STATUS(dr.status, NFS3ERR_NOENT, "RMDIR of a missing name");
	da.object = DIROP(&s, ".");
	NFSCALL(root, rmdir, RMDIR, &da, &dr);
	STATUS(dr.status, NFS3ERR_INVAL, "RMDIR \".\"");
	da.object = DIROP(&s, "..");
	NFSCALL(root, rmdir, RMDIR, &da, &dr);
	CHECK(dr.status == NFS3ERR_EXIST || dr.status == NFS3ERR_INVAL || dr.status == NFS3ERR_NOTEMPTY,
	      "RMDIR \"..\": %s, want EXIST, INVAL or NOTEMPTY", st(dr.status));

	da.object = DIROP(&d, "s");
	getattr(root, &d, &pre);
	NFSCALL(root, rmdir, RMDIR, &da, &dr);
	STATUS(dr.status, NFS3_OK, "RMDIR s");
	if (dr.status == NFS3_OK)
		check_wcc(root, "RMDIR dir_wcc", &pre, &dr.RMDIR3res_u.resok.dir_wcc, &d);
	fattr3 post;
	getattr(root, &d, &post);
	CHECK(post.nlink == pre.nlink - 1, "the parent's nlink %u -> %u after RMDIR, want -1", pre.nlink, post.nlink);
	STATUS(getattr(root, &s, &a), NFS3ERR_STALE, "GETATTR of a removed directory's handle");
	STATUS(mkfile(root, &s, "x", 0644, NULL), NFS3ERR_STALE, "CREATE in a removed directory");

	/* a file removed while another name links it stays */
	struct fh g;
	mkfile(root, &d, "g", 0644, &g);
	LINK3args la = { .file = FH(&g), .link = DIROP(&d, "g2") };
	LINK3res lr;
	NFSCALL(root, link, LINK, &la, &lr);
	ra.object = DIROP(&d, "g");
	NFSCALL(root, remove, REMOVE, &ra, &rr);
	STATUS(getattr(root, &g, &a), NFS3_OK, "GETATTR of a file whose other name remains");
	CHECK(a.nlink == 1, "nlink %u after removing one of two names", a.nlink);
	finish();
}

/* ---- RENAME ---- */

static int rename_(struct conn *cn, const struct fh *fd, const char *fn, const struct fh *td, const char *tn,
		   RENAME3res *out)
{
	RENAME3args a = { .from = DIROP(fd, fn), .to = DIROP(td, tn) };
	NFSCALL(cn, rename, RENAME, &a, out);
	return out->status;
}

static void t_rename(void **state)
{
	(void)state;
	struct fh d = testdir("rename"), d2, a, b, e1, e2, n1, n2, x;
	fattr3 pre1, pre2, aa, ga;
	RENAME3res r;
	mkdir_(root, &d, "d2", 0755, &d2);
	mkfile(root, &d, "a", 0644, &a);
	mkfile(root, &d, "b", 0644, &b);
	getattr(root, &a, &aa);

	/* a file over a file, across directories: both wcc_data */
	getattr(root, &d, &pre1);
	getattr(root, &d2, &pre2);
	STATUS(rename_(root, &d, "a", &d2, "a2", &r), NFS3_OK, "RENAME a -> d2/a2");
	if (r.status == NFS3_OK) {
		check_wcc(root, "RENAME fromdir_wcc", &pre1, &r.RENAME3res_u.resok.fromdir_wcc, &d);
		check_wcc(root, "RENAME todir_wcc", &pre2, &r.RENAME3res_u.resok.todir_wcc, &d2);
	}
	STATUS(lookup(root, &d, "a", NULL, NULL), NFS3ERR_NOENT, "the old name is gone");
	STATUS(lookup(root, &d2, "a2", NULL, &ga), NFS3_OK, "the new name is there");
	CHECK(ga.fileid == aa.fileid, "the new name is the same file");
	STATUS(getattr(root, &a, &ga), NFS3_OK, "the handle survives a RENAME");

	STATUS(rename_(root, &d, "b", &d2, "a2", &r), NFS3_OK, "RENAME b over d2/a2");
	STATUS(getattr(root, &a, &ga), NFS3ERR_STALE, "the replaced file's handle is stale");
	STATUS(lookup(root, &d2, "a2", &x, &ga), NFS3_OK, "LOOKUP d2/a2");
	fattr3 ba;
	getattr(root, &b, &ba);
	CHECK(ga.fileid == ba.fileid, "d2/a2 is now b");

	/* to itself: nothing happens */
	STATUS(rename_(root, &d2, "a2", &d2, "a2", &r), NFS3_OK, "RENAME onto itself");
	STATUS(lookup(root, &d2, "a2", NULL, NULL), NFS3_OK, "still there after RENAME onto itself");

	/* directories */
	mkdir_(root, &d, "e1", 0755, &e1);
	mkdir_(root, &d, "e2", 0755, &e2);
	mkdir_(root, &d, "n1", 0755, &n1);
	mkdir_(root, &d, "n2", 0755, &n2);
	mkfile(root, &n2, "x", 0644, NULL);
	mkfile(root, &e1, "inside", 0644, NULL);
	STATUS(rename_(root, &d, "e1", &d, "e2", &r), NFS3_OK, "RENAME a dir over an empty dir");
	STATUS(lookup(root, &d, "e2", NULL, &ga), NFS3_OK, "LOOKUP e2");
	fattr3 e1a;
	getattr(root, &e1, &e1a);
	CHECK(ga.fileid == e1a.fileid, "e2 is now e1");
	STATUS(lookup(root, &e1, "inside", NULL, NULL), NFS3_OK, "the moved dir keeps its entries");
	fattr3 dda;
	getattr(root, &d, &dda);
	STATUS(lookup(root, &e1, "..", NULL, &ga), NFS3_OK, "LOOKUP e2/..");
	CHECK(ga.fileid == dda.fileid, "e2/.. is its parent");

	rename_(root, &d, "n1", &d, "n2", &r);
	CHECK(r.status == NFS3ERR_NOTEMPTY || r.status == NFS3ERR_EXIST,
	      "RENAME a dir over a non-empty dir: %s, want NOTEMPTY or EXIST", st(r.status));
	mkfile(root, &d, "file", 0644, NULL);
	rename_(root, &d, "file", &d, "n1", &r);
	CHECK(r.status == NFS3ERR_ISDIR || r.status == NFS3ERR_EXIST,
	      "RENAME a file over a dir: %s, want ISDIR or EXIST", st(r.status));
	rename_(root, &d, "n1", &d, "file", &r);
	CHECK(r.status == NFS3ERR_NOTDIR || r.status == NFS3ERR_EXIST,
	      "RENAME a dir over a file: %s, want NOTDIR or EXIST", st(r.status));
	STATUS(lookup(root, &d, "file", NULL, &ga), NFS3_OK, "the file survives the refused renames");
	CHECK(ga.type == NF3REG, "and is still a file");

	/* a directory into itself */
	rename_(root, &d, "n2", &n2, "sub", &r);
	STATUS(r.status, NFS3ERR_INVAL, "RENAME a directory into itself");
	struct fh deep;
	mkdir_(root, &n2, "deep", 0755, &deep);
	rename_(root, &d, "n2", &deep, "x", &r);
	STATUS(r.status, NFS3ERR_INVAL, "RENAME a directory into its own subdirectory");

	STATUS(rename_(root, &d, "missing", &d, "y", &r), NFS3ERR_NOENT, "RENAME of a missing name");
	getattr(root, &d, &pre1);
	rename_(root, &d, "missing", &d, "y", &r);
	if (r.status != RPC_FAILED) {
		check_wcc(root, "RENAME NOENT fromdir_wcc", &pre1, &r.RENAME3res_u.resfail.fromdir_wcc, &d);
		check_wcc(root, "RENAME NOENT todir_wcc", &pre1, &r.RENAME3res_u.resfail.todir_wcc, &d);
	}
	char longname[300];
	memset(longname, 'r', 256);
	longname[256] = 0;
	STATUS(rename_(root, &d, "file", &d, longname, &r), NFS3ERR_NAMETOOLONG, "RENAME to a 256-byte name");
	struct fh ff;
	lookup(root, &d, "file", &ff, NULL);
	STATUS(rename_(root, &d, "file", &ff, "x", &r), NFS3ERR_NOTDIR, "RENAME into a file handle");
	/* RFC 1813 names no code for a RENAME of "."; RMDIR's notes give INVAL
	 * for "." and EXIST for "..": either, but not a hard error (IO) */
	rename_(root, &d, ".", &d, "dot", &r);
	CHECK(r.status == NFS3ERR_INVAL || r.status == NFS3ERR_EXIST,
	      "RENAME of \".\": got %s, want INVAL (or EXIST)", st(r.status));
	rename_(root, &d, "..", &d, "dotdot", &r);
	CHECK(r.status == NFS3ERR_INVAL || r.status == NFS3ERR_EXIST || r.status == NFS3ERR_NOTEMPTY,
	      "RENAME of \"..\": got %s, want INVAL (or EXIST/NOTEMPTY)", st(r.status));
	STATUS(lookup(root, &d, "dot", NULL, NULL), NFS3ERR_NOENT, "no \"dot\" after RENAME of \".\"");
	STATUS(lookup(root, &d, "dotdot", NULL, NULL), NFS3ERR_NOENT, "no \"dotdot\" after RENAME of \"..\"");
	rename_(root, &d, "file", &d, "..", &r);
	CHECK(r.status != NFS3_OK && r.status != RPC_FAILED && r.status != NFS3ERR_IO,
	      "RENAME onto \"..\": got %s, want an error other than IO", st(r.status));

	/* the directory's nlink follows a directory moved out of it */
	getattr(root, &d, &pre1);
	getattr(root, &d2, &pre2);
	STATUS(rename_(root, &d, "n1", &d2, "n1", &r), NFS3_OK, "RENAME a directory to another parent");
	fattr3 p1, p2;
	getattr(root, &d, &p1);
	getattr(root, &d2, &p2);
	CHECK(p1.nlink == pre1.nlink - 1 && p2.nlink == pre2.nlink + 1,
	      "nlink of old/new parent %u->%u / %u->%u, want -1/+1", pre1.nlink, p1.nlink, pre2.nlink, p2.nlink);
	finish();
}

/* ---- LINK ---- */

static void t_link(void **state)
{
	(void)state;
	struct fh d = testdir("link"), d2, f, s;
	fattr3 pre, fa, la;
	mkdir_(root, &d, "d2", 0755, &d2);
	mkdir_(root, &d, "s", 0755, &s);
	mkfile(root, &d, "f", 0644, &f);
	LINK3args a = { .file = FH(&f), .link = DIROP(&d2, "l") };
	LINK3res r;
	getattr(root, &d2, &pre);
	NFSCALL(root, link, LINK, &a, &r);
	STATUS(r.status, NFS3_OK, "LINK f -> d2/l");
	if (r.status == NFS3_OK) {
		check_wcc(root, "LINK linkdir_wcc", &pre, &r.LINK3res_u.resok.linkdir_wcc, &d2);
		check_post(root, "LINK file_attributes", &r.LINK3res_u.resok.file_attributes, &f);
		if (r.LINK3res_u.resok.file_attributes.attributes_follow)
			CHECK(r.LINK3res_u.resok.file_attributes.post_op_attr_u.attributes.nlink == 2,
			      "LINK post-op nlink %u, want 2", r.LINK3res_u.resok.file_attributes.post_op_attr_u.attributes.nlink);
	}
	getattr(root, &f, &fa);
	STATUS(lookup(root, &d2, "l", NULL, &la), NFS3_OK, "LOOKUP d2/l");
	CHECK(la.fileid == fa.fileid && fa.nlink == 2, "the link is the file (nlink %u)", fa.nlink);
	NFSCALL(root, link, LINK, &a, &r);
	STATUS(r.status, NFS3ERR_EXIST, "LINK over an existing name");
	a.file = FH(&s);
	a.link = DIROP(&d2, "ldir");
	NFSCALL(root, link, LINK, &a, &r);
	CHECK(r.status == NFS3ERR_ISDIR || r.status == NFS3ERR_PERM || r.status == NFS3ERR_INVAL ||
	      r.status == NFS3ERR_BADTYPE,
	      "LINK of a directory: %s, want ISDIR (or PERM/INVAL/BADTYPE)", st(r.status));
	a.file = FH(&f);
	a.link = DIROP(&f, "x");
	NFSCALL(root, link, LINK, &a, &r);
	STATUS(r.status, NFS3ERR_NOTDIR, "LINK into a file handle");
	finish();
}

/* ---- "." and ".." as names of new or removed entries ---- */

static void dot_refused(const char *what, const char *name, int s)
{
	CHECK(s != NFS3_OK && s != RPC_FAILED && s != NFS3ERR_IO && s != NFS3ERR_SERVERFAULT,
	      "%s \"%s\": got %s, want a plain refusal (EXIST, INVAL, ISDIR, NOTEMPTY...)", what, name, st(s));
}

static void t_dot_names(void **state)
{
	(void)state;
	struct fh d = testdir("dots"), sub, f;
	fattr3 da, sa, ga;
	mkdir_(root, &d, "sub", 0755, &sub);
	mkfile(root, &sub, "f", 0644, &f);
	getattr(root, &d, &da);
	const char *names[2] = { ".", ".." };
	for (int i = 0; i < 2; i++) {
		const char *n = names[i];
		dot_refused("CREATE", n, mkfile(root, &sub, n, 0644, NULL));
		dot_refused("MKDIR", n, mkdir_(root, &sub, n, 0755, NULL));
		SYMLINK3args sa3;
		memset(&sa3, 0, sizeof sa3);
		sa3.where = DIROP(&sub, n);
		sa3.symlink.symlink_data = "t";
		SYMLINK3res sr;
		NFSCALL(root, symlink, SYMLINK, &sa3, &sr);
		dot_refused("SYMLINK", n, sr.status);
		MKNOD3args ma;
		memset(&ma, 0, sizeof ma);
		ma.where = DIROP(&sub, n);
		ma.what.type = NF3FIFO;
		MKNOD3res mr;
		NFSCALL(root, mknod, MKNOD, &ma, &mr);
		dot_refused("MKNOD", n, mr.status);
		REMOVE3args ra = { .object = DIROP(&sub, n) };
		REMOVE3res rr;
		NFSCALL(root, remove, REMOVE, &ra, &rr);
		dot_refused("REMOVE", n, rr.status);
		RMDIR3args da3 = { .object = DIROP(&sub, n) };
		RMDIR3res dr;
		NFSCALL(root, rmdir, RMDIR, &da3, &dr);
		dot_refused("RMDIR", n, dr.status);
		LINK3args la = { .file = FH(&f), .link = DIROP(&sub, n) };
		LINK3res lr;
		NFSCALL(root, link, LINK, &la, &lr);
		dot_refused("LINK to", n, lr.status);
		RENAME3res nr;
		dot_refused("RENAME from", n, rename_(root, &sub, n, &d, "moved", &nr));
		dot_refused("RENAME to", n, rename_(root, &d, "sub", &sub, n, &nr));
	}
	/* nothing moved or broke */
	STATUS(lookup(root, &d, "sub", NULL, &sa), NFS3_OK, "sub is still there");
	STATUS(lookup(root, &sub, "..", NULL, &ga), NFS3_OK, "LOOKUP sub/..");
	CHECK(ga.fileid == da.fileid, "sub/.. is still its parent");
	STATUS(lookup(root, &sub, "f", NULL, NULL), NFS3_OK, "sub/f is still there");
	STATUS(lookup(root, &d, "moved", NULL, NULL), NFS3ERR_NOENT, "nothing was renamed to \"moved\"");
	finish();
}

/* ---- READDIR, READDIRPLUS ---- */

#define NDIR 3000

struct listing {
	int n;
	char **names;
	uint64_t *cookies;
};

static void listing_free(struct listing *l)
{
	for (int i = 0; i < l->n; i++)
		free(l->names[i]);
	free(l->names);
	free(l->cookies);
	memset(l, 0, sizeof *l);
}

static void listing_add(struct listing *l, const char *name, uint64_t cookie)
{
	l->names = realloc(l->names, (l->n + 1) * sizeof *l->names);
	l->cookies = realloc(l->cookies, (l->n + 1) * sizeof *l->cookies);
	l->names[l->n] = strdup(name);
	l->cookies[l->n] = cookie;
	l->n++;
}

/* List dir from (cookie, verf) to the end in pages of count (READDIR) or
 * dircount/maxcount (READDIRPLUS). */
static void list_dir(const char *fn, int line, const struct fh *dir, bool plus, uint64_t cookie,
		     const char *verf0, uint32_t count, uint32_t maxcount, struct listing *out, int *pages)
{
	char verf[NFS3_COOKIEVERFSIZE];
	memcpy(verf, verf0, sizeof verf);
	*pages = 0;
	for (int page = 0; page < 20000; page++) {
		int nent = 0;
		bool eof = false;
		if (!plus) {
			READDIR3args a = { .dir = FH(dir), .cookie = cookie, .count = count };
			memcpy(a.cookieverf, verf, sizeof verf);
			READDIR3res r;
			NFSCALL(root, readdir, READDIR, &a, &r);
			if (r.status != NFS3_OK) {
				nfails++;
				printf("# FAIL %s:%d: READDIR cookie %llu count %u (page %d): %s\n", fn, line,
				       (unsigned long long)cookie, count, page, st(r.status));
				return;
			}
			if (last_reply_size - 4 > count) {
				nfails++;
				printf("# FAIL %s:%d: READDIR count %u: the reply's READDIR3resok is %zu bytes\n",
				       fn, line, count, last_reply_size - 4);
			}
			READDIR3resok *ok = &r.READDIR3res_u.resok;
			if (!ok->dir_attributes.attributes_follow) {
				nfails++;
				printf("# FAIL %s:%d: READDIR: no dir_attributes\n", fn, line);
			}
			memcpy(verf, ok->cookieverf, sizeof verf);
			for (entry3 *e = ok->reply.entries; e; e = e->nextentry, nent++) {
				listing_add(out, e->name, e->cookie);
				cookie = e->cookie;
			}
			eof = ok->reply.eof;
		} else {
			READDIRPLUS3args a = { .dir = FH(dir), .cookie = cookie, .dircount = count, .maxcount = maxcount };
			memcpy(a.cookieverf, verf, sizeof verf);
			READDIRPLUS3res r;
			NFSCALL(root, readdirplus, READDIRPLUS, &a, &r);
			if (r.status != NFS3_OK) {
				nfails++;
				printf("# FAIL %s:%d: READDIRPLUS cookie %llu dircount %u maxcount %u (page %d): %s\n",
				       fn, line, (unsigned long long)cookie, count, maxcount, page, st(r.status));
				return;
			}
			if (last_reply_size - 4 > maxcount) {
				nfails++;
				printf("# FAIL %s:%d: READDIRPLUS maxcount %u: the reply's READDIRPLUS3resok is %zu bytes\n",
				       fn, line, maxcount, last_reply_size - 4);
			}
			READDIRPLUS3resok *ok = &r.READDIRPLUS3res_u.resok;
			memcpy(verf, ok->cookieverf, sizeof verf);
			/* dircount bounds the directory information alone: per entry
			 * fileid, name, cookie and the list's bool, as in an entry3 */
			size_t dirbytes = 0;
			for (entryplus3 *e = ok->reply.entries; e; e = e->nextentry)
				dirbytes += 8 + 4 + ((strlen(e->name) + 3) & ~(size_t)3) + 8 + 4;
			if (dirbytes > count) {
				nfails++;
				printf("# FAIL %s:%d: READDIRPLUS dircount %u: the page holds %zu bytes of directory information\n",
				       fn, line, count, dirbytes);
			}
			for (entryplus3 *e = ok->reply.entries; e; e = e->nextentry, nent++) {
				listing_add(out, e->name, e->cookie);
				cookie = e->cookie;
				bool dots = !strcmp(e->name, ".") || !strcmp(e->name, "..");
				if (!dots && (!e->name_attributes.attributes_follow || !e->name_handle.handle_follows)) {
					nfails++;
					printf("# FAIL %s:%d: READDIRPLUS entry %s without attributes or handle\n", fn, line, e->name);
				} else if (!dots && e->name_attributes.post_op_attr_u.attributes.fileid != e->fileid) {
					nfails++;
					printf("# FAIL %s:%d: READDIRPLUS entry %s: fileid %llu, its attributes say %llu\n",
					       fn, line, e->name, (unsigned long long)e->fileid,
					       (unsigned long long)e->name_attributes.post_op_attr_u.attributes.fileid);
				} else if (!dots && out->n % 500 == 1) {
					/* now and then: the handle works and names the same file */
					struct fh h;
					fattr3 ha;
					fh_set(&h, e->name_handle.post_op_fh3_u.handle.data.data_val,
					       e->name_handle.post_op_fh3_u.handle.data.data_len);
					if (getattr(root, &h, &ha) != NFS3_OK || ha.fileid != e->fileid) {
						nfails++;
						printf("# FAIL %s:%d: READDIRPLUS handle of %s does not GETATTR to its file\n",
						       fn, line, e->name);
					}
				}
			}
			eof = ok->reply.eof;
		}
		(*pages)++;
		if (eof)
			return;
		if (nent == 0) {
			nfails++;
			printf("# FAIL %s:%d: %s page %d: no entries and no eof (count %u)\n", fn, line,
			       plus ? "READDIRPLUS" : "READDIR", page, count);
			return;
		}
	}
	nfails++;
	printf("# FAIL %s:%d: listing did not end after 20000 pages\n", fn, line);
}

/* Each of the NDIR names exactly once, and nothing else but "." and "..". */
static void check_names(const char *what, const struct listing *l, int from)
{
	static unsigned char seen[NDIR];
	int dots = 0, other = 0, dup = 0, missing = 0;
	memset(seen, 0, sizeof seen);
	for (int i = from; i < l->n; i++) {
		const char *s = l->names[i];
		if (!strcmp(s, ".") || !strcmp(s, "..")) {
			dots++;
			continue;
		}
		int k;
		char tail;
		if (sscanf(s, "entry-%d%c", &k, &tail) != 1 || k < 0 || k >= NDIR) {
			if (other++ < 3)
				printf("# %s: unexpected name '%s'\n", what, s);
			continue;
		}
		if (seen[k]++)
			dup++;
	}
	for (int k = 0; k < NDIR; k++)
		missing += !seen[k];
	CHECK(!dup && !missing && !other, "%s: %d duplicated, %d missing, %d unexpected names of %d",
	      what, dup, missing, other, NDIR);
	CHECK(dots <= 2, "%s: \".\"/\"..\" %d times", what, dots);
}

static void t_readdir(void **state)
{
	(void)state;
	struct fh d = testdir("readdir"), f;
	char name[32];
	for (int i = 0; i < NDIR; i++) {
		snprintf(name, sizeof name, "entry-%d", i);
		if (mkfile(root, &d, name, 0644, NULL) != NFS3_OK) {
			CHECK(0, "CREATE %s failed", name);
			break;
		}
	}
	const char zero[8] = { 0 };
	struct listing l = { 0 }, l2 = { 0 };
	int pages;

	list_dir(__func__, __LINE__, &d, false, 0, zero, 1024, 0, &l, &pages);
	check_names("READDIR count 1024", &l, 0);
	printf("# READDIR count 1024: %d entries in %d pages\n", l.n, pages);
	CHECK(pages > 10, "READDIR count 1024 of %d entries took only %d pages", NDIR, pages);

	/* resume at a cookie from the middle: exactly the rest, in order */
	int k = l.n / 3;
	READDIR3args a = { .dir = FH(&d), .cookie = 0, .count = 1024 };
	READDIR3res r;
	NFSCALL(root, readdir, READDIR, &a, &r);
	char verf[8] = { 0 };
	if (r.status == NFS3_OK)
		memcpy(verf, r.READDIR3res_u.resok.cookieverf, 8);
	list_dir(__func__, __LINE__, &d, false, l.cookies[k], verf, 4096, 0, &l2, &pages);
	bool same = l2.n == l.n - k - 1;
	for (int i = 0; same && i < l2.n; i++)
		same = !strcmp(l2.names[i], l.names[k + 1 + i]);
	CHECK(same, "READDIR resumed after entry %d (cookie %llu): %d entries, want the %d that followed it",
	      k, (unsigned long long)l.cookies[k], l2.n, l.n - k - 1);
	listing_free(&l2);

	/* a wrong cookie verifier */
	memcpy(a.cookieverf, verf, 8);
	a.cookieverf[0] ^= 0x5a;
	a.cookieverf[7] ^= 0xa5;
	a.cookie = l.cookies[k];
	NFSCALL(root, readdir, READDIR, &a, &r);
	STATUS(r.status, NFS3ERR_BAD_COOKIE, "READDIR with a wrong cookieverf");
	CHECK(memcmp(verf, zero, 8), "the cookie verifier is all zeros (the server cannot tell a bad cookie)");
	READDIRPLUS3args pa = { .dir = FH(&d), .cookie = l.cookies[k], .dircount = 1024, .maxcount = 8192 };
	memcpy(pa.cookieverf, a.cookieverf, 8);
	READDIRPLUS3res pr;
	NFSCALL(root, readdirplus, READDIRPLUS, &pa, &pr);
	STATUS(pr.status, NFS3ERR_BAD_COOKIE, "READDIRPLUS with a wrong cookieverf");
	listing_free(&l);

	/* too small for one entry */
	a.cookie = 0;
	memset(a.cookieverf, 0, 8);
	a.count = 40;
	NFSCALL(root, readdir, READDIR, &a, &r);
	STATUS(r.status, NFS3ERR_TOOSMALL, "READDIR count 40");

	/* READDIRPLUS in small pages, then one in large ones */
	list_dir(__func__, __LINE__, &d, true, 0, zero, 512, 4096, &l, &pages);
	check_names("READDIRPLUS dircount 512 maxcount 4096", &l, 0);
	printf("# READDIRPLUS 512/4096: %d entries in %d pages\n", l.n, pages);
	listing_free(&l);
	list_dir(__func__, __LINE__, &d, true, 0, zero, 65536, 1 << 20, &l, &pages);
	check_names("READDIRPLUS dircount 64K maxcount 1M", &l, 0);
	listing_free(&l);
	list_dir(__func__, __LINE__, &d, false, 0, zero, 1 << 20, 0, &l, &pages);
	check_names("READDIR count 1M", &l, 0);
	listing_free(&l);

	/* odd page sizes all work */
	for (uint32_t c = 300; c < 600; c += 37) {
		list_dir(__func__, __LINE__, &d, false, 0, zero, c, 0, &l, &pages);
		char what[64];
		snprintf(what, sizeof what, "READDIR count %u", c);
		check_names(what, &l, 0);
		listing_free(&l);
	}

	/* a file is no directory; an empty directory lists nothing but dots */
	STATUS(mkfile(root, &d, "zfile", 0644, &f), NFS3_OK, "CREATE zfile");
	a.dir = FH(&f);
	a.count = 4096;
	NFSCALL(root, readdir, READDIR, &a, &r);
	STATUS(r.status, NFS3ERR_NOTDIR, "READDIR of a file");
	struct fh e;
	mkdir_(root, &d, "empty", 0755, &e);
	a.dir = FH(&e);
	NFSCALL(root, readdir, READDIR, &a, &r);
	STATUS(r.status, NFS3_OK, "READDIR of an empty directory");
	if (r.status == NFS3_OK) {
		int n = 0;
		for (entry3 *x = r.READDIR3res_u.resok.reply.entries; x; x = x->nextentry)
			n += strcmp(x->name, ".") && strcmp(x->name, "..");
		CHECK(n == 0 && r.READDIR3res_u.resok.reply.eof, "an empty directory: %d entries, eof %u", n,
		      r.READDIR3res_u.resok.reply.eof);
	}
	finish();
}

/* ---- races: the same call from 8 connections at once ---- */

#define NRACE 8

/* Wait for every call, servicing all the connections together so the
 * calls are in flight at the same time (30 s). */
static void wait_all(struct conn **cn, struct call **c, int n)
{
	double end = nfsfix_now() + 30;
	for (;;) {
		struct pollfd p[NRACE];
		int pending = 0;
		for (int i = 0; i < n; i++) {
			p[i].fd = rpc_get_fd(cn[i]->rpc);
			p[i].events = rpc_which_events(cn[i]->rpc);
			p[i].revents = 0;
			pending += !c[i]->done;
		}
		if (!pending)
			return;
		if (nfsfix_now() > end) {
			CHECK(0, "race: %d of %d calls unanswered after 30 s", pending, n);
			return;
		}
		poll(p, n, 100);
		for (int i = 0; i < n; i++)
			if (rpc_service(cn[i]->rpc, p[i].revents) < 0 && !c[i]->done) {
				CHECK(0, "race: connection %d lost: %s", i, rpc_get_error(cn[i]->rpc));
				c[i]->done = 1;
				c[i]->status = RPC_STATUS_ERROR;
			}
	}
}

/* how many of the n results (each starting with its nfsstat3) are want */
static int count_status(void *res, size_t size, int n, int want)
{
	int k = 0;
	for (int i = 0; i < n; i++) {
		int s_ = *(int *)((char *)res + (size_t)i * size);
		k += s_ == want;
	}
	return k;
}

static void t_races(void **state)
{
	(void)state;
	struct fh d = testdir("races");
	struct conn *cn[NRACE];
	struct call *c[NRACE];
	for (int i = 0; i < NRACE; i++)
		cn[i] = conn_as(portA, 0, 0, 0, NULL);
	for (int i = 0; i < NRACE; i++)
		if (!cn[i]) {
			finish();
			return;
		}
	for (int round = 0; round < 10; round++) {
		char name[32];
		snprintf(name, sizeof name, "g%d", round);
		/* GUARDED: exactly one creates */
		CREATE3args ca[NRACE];
		CREATE3res cr[NRACE];
		for (int i = 0; i < NRACE; i++) {
			memset(&ca[i], 0, sizeof ca[i]);
			ca[i].where = DIROP(&d, name);
			ca[i].how.mode = GUARDED;
			ca[i].how.createhow3_u.g_obj_attributes = sattr_mode(0644);
			c[i] = call_new("CREATE GUARDED (race)", XDR(CREATE3res), &cr[i], sizeof cr[i]);
			rpc_nfs3_create_async(cn[i]->rpc, call_done, &ca[i], c[i]);
		}
		wait_all(cn, c, NRACE);
		int ok = count_status(cr, sizeof cr[0], NRACE, NFS3_OK);
		int ex = count_status(cr, sizeof cr[0], NRACE, NFS3ERR_EXIST);
		CHECK(ok == 1 && ex == NRACE - 1, "8 GUARDED CREATEs of %s at once: %d OK, %d EXIST", name, ok, ex);

		/* EXCLUSIVE with 8 verifiers: exactly one creates */
		snprintf(name, sizeof name, "x%d", round);
		for (int i = 0; i < NRACE; i++) {
			memset(&ca[i], 0, sizeof ca[i]);
			ca[i].where = DIROP(&d, name);
			ca[i].how.mode = EXCLUSIVE;
			memset(ca[i].how.createhow3_u.verf, 'a' + i, 8);
			c[i] = call_new("CREATE EXCLUSIVE (race)", XDR(CREATE3res), &cr[i], sizeof cr[i]);
			rpc_nfs3_create_async(cn[i]->rpc, call_done, &ca[i], c[i]);
		}
		wait_all(cn, c, NRACE);
		ok = count_status(cr, sizeof cr[0], NRACE, NFS3_OK);
		ex = count_status(cr, sizeof cr[0], NRACE, NFS3ERR_EXIST);
		CHECK(ok == 1 && ex == NRACE - 1, "8 EXCLUSIVE CREATEs of %s with 8 verifiers: %d OK, %d EXIST", name, ok, ex);

		/* MKDIR: exactly one */
		snprintf(name, sizeof name, "d%d", round);
		MKDIR3args ma[NRACE];
		MKDIR3res mr[NRACE];
		for (int i = 0; i < NRACE; i++) {
			ma[i] = (MKDIR3args){ .where = DIROP(&d, name), .attributes = sattr_mode(0755) };
			c[i] = call_new("MKDIR (race)", XDR(MKDIR3res), &mr[i], sizeof mr[i]);
			rpc_nfs3_mkdir_async(cn[i]->rpc, call_done, &ma[i], c[i]);
		}
		wait_all(cn, c, NRACE);
		ok = count_status(mr, sizeof mr[0], NRACE, NFS3_OK);
		ex = count_status(mr, sizeof mr[0], NRACE, NFS3ERR_EXIST);
		CHECK(ok == 1 && ex == NRACE - 1, "8 MKDIRs of %s at once: %d OK, %d EXIST", name, ok, ex);

		/* REMOVE of one name: exactly one removes */
		snprintf(name, sizeof name, "g%d", round);
		REMOVE3args ra[NRACE];
		REMOVE3res rr[NRACE];
		for (int i = 0; i < NRACE; i++) {
			ra[i] = (REMOVE3args){ .object = DIROP(&d, name) };
			c[i] = call_new("REMOVE (race)", XDR(REMOVE3res), &rr[i], sizeof rr[i]);
			rpc_nfs3_remove_async(cn[i]->rpc, call_done, &ra[i], c[i]);
		}
		wait_all(cn, c, NRACE);
		ok = count_status(rr, sizeof rr[0], NRACE, NFS3_OK);
		int ne = count_status(rr, sizeof rr[0], NRACE, NFS3ERR_NOENT);
		CHECK(ok == 1 && ne == NRACE - 1, "8 REMOVEs of %s at once: %d OK, %d NOENT", name, ok, ne);

		/* RENAME of 8 files onto one name: one survives, the sources are gone */
		char src[NRACE][32];
		for (int i = 0; i < NRACE; i++) {
			snprintf(src[i], sizeof src[i], "r%d-%d", round, i);
			mkfile(root, &d, src[i], 0644, NULL);
		}
		snprintf(name, sizeof name, "target%d", round);
		RENAME3args na[NRACE];
		RENAME3res nr[NRACE];
		for (int i = 0; i < NRACE; i++) {
			na[i] = (RENAME3args){ .from = DIROP(&d, src[i]), .to = DIROP(&d, name) };
			c[i] = call_new("RENAME (race)", XDR(RENAME3res), &nr[i], sizeof nr[i]);
			rpc_nfs3_rename_async(cn[i]->rpc, call_done, &na[i], c[i]);
		}
		wait_all(cn, c, NRACE);
		ok = count_status(nr, sizeof nr[0], NRACE, NFS3_OK);
		CHECK(ok == NRACE, "8 RENAMEs onto %s at once: %d OK", name, ok);
		int left = 0;
		for (int i = 0; i < NRACE; i++)
			left += lookup(root, &d, src[i], NULL, NULL) == NFS3_OK;
		CHECK(left == 0, "after 8 RENAMEs onto one name, %d sources remain", left);
		STATUS(lookup(root, &d, name, NULL, NULL), NFS3_OK, "the target of 8 RENAMEs");
	}
	/* the directory lists what the races left: x0..x9, d0..d9, target0..target9 */
	struct listing l = { 0 };
	int pages;
	const char zero[8] = { 0 };
	list_dir(__func__, __LINE__, &d, false, 0, zero, 4096, 0, &l, &pages);
	int real = 0;
	for (int i = 0; i < l.n; i++)
		real += strcmp(l.names[i], ".") && strcmp(l.names[i], "..");
	CHECK(real == 30, "after the races the directory lists %d names, want 30", real);
	fattr3 da;
	getattr(root, &d, &da);
	CHECK(da.nlink == 2 + 10, "after the races the directory's nlink is %u, want 12", da.nlink);
	listing_free(&l);

	/* 8 connections WRITE 8 disjoint 256 KiB pieces of one file at once */
	struct fh f;
	STATUS(mkfile(root, &d, "shared", 0644, &f), NFS3_OK, "CREATE shared");
	const uint32_t PIECE = 256 << 10;
	char *data = malloc((size_t)NRACE * PIECE);
	test_rng_fill(&rng, data, (size_t)NRACE * PIECE);
	WRITE3args wa[NRACE];
	WRITE3res wr[NRACE];
	for (int i = 0; i < NRACE; i++) {
		wa[i] = (WRITE3args){ .file = FH(&f), .offset = (uint64_t)i * PIECE, .count = PIECE, .stable = UNSTABLE,
				     .data = { PIECE, data + (size_t)i * PIECE } };
		c[i] = call_new("WRITE (race)", XDR(WRITE3res), &wr[i], sizeof wr[i]);
		rpc_nfs3_write_async(cn[i]->rpc, call_done, &wa[i], c[i]);
	}
	wait_all(cn, c, NRACE);
	int ok = count_status(wr, sizeof wr[0], NRACE, NFS3_OK);
	CHECK(ok == NRACE, "8 concurrent WRITEs: %d OK", ok);
	for (int i = 0; i < NRACE; i++)
		if (wr[i].status == NFS3_OK)
			note_verf("concurrent WRITE", wr[i].WRITE3res_u.resok.verf);
	for (int i = 0; i < NRACE; i++) {
		READ3args ra = { .file = FH(&f), .offset = (uint64_t)i * PIECE, .count = PIECE };
		READ3res rr;
		NFSCALL(root, read, READ, &ra, &rr);
		CHECK(rr.status == NFS3_OK && rr.READ3res_u.resok.data.data_len == PIECE &&
		      !memcmp(rr.READ3res_u.resok.data.data_val, data + (size_t)i * PIECE, PIECE),
		      "piece %d of the concurrent WRITEs reads back (%s)", i, st(rr.status));
	}
	free(data);
	for (int i = 0; i < NRACE; i++)
		conn_close(cn[i]);
	finish();
}

/* ---- FSSTAT, FSINFO, PATHCONF ---- */

static void t_fsstat_fsinfo_pathconf(void **state)
{
	(void)state;
	FSSTAT3args sa = { .fsroot = FH(&rootfh) };
	FSSTAT3res sr;
	NFSCALL(root, fsstat, FSSTAT, &sa, &sr);
	STATUS(sr.status, NFS3_OK, "FSSTAT");
	if (sr.status == NFS3_OK) {
		FSSTAT3resok *ok = &sr.FSSTAT3res_u.resok;
		CHECK(ok->tbytes > 0 && ok->fbytes <= ok->tbytes && ok->abytes <= ok->fbytes,
		      "FSSTAT bytes total %llu free %llu avail %llu", (unsigned long long)ok->tbytes,
		      (unsigned long long)ok->fbytes, (unsigned long long)ok->abytes);
		CHECK(ok->tfiles > 0 && ok->ffiles <= ok->tfiles && ok->afiles <= ok->ffiles,
		      "FSSTAT files total %llu free %llu avail %llu", (unsigned long long)ok->tfiles,
		      (unsigned long long)ok->ffiles, (unsigned long long)ok->afiles);
		check_post(root, "FSSTAT obj_attributes", &ok->obj_attributes, &rootfh);
	}
	FSINFO3args ia = { .fsroot = FH(&rootfh) };
	FSINFO3res ir;
	NFSCALL(root, fsinfo, FSINFO, &ia, &ir);
	STATUS(ir.status, NFS3_OK, "FSINFO");
	if (ir.status == NFS3_OK) {
		FSINFO3resok *ok = &ir.FSINFO3res_u.resok;
		CHECK(ok->rtmax == 1u << 20, "FSINFO rtmax %u, want 1 MiB", ok->rtmax);
		CHECK(ok->wtmax == 1u << 20, "FSINFO wtmax %u, want 1 MiB", ok->wtmax);
		CHECK(ok->rtpref > 0 && ok->rtpref <= ok->rtmax, "FSINFO rtpref %u", ok->rtpref);
		CHECK(ok->wtpref > 0 && ok->wtpref <= ok->wtmax, "FSINFO wtpref %u", ok->wtpref);
		CHECK(ok->dtpref > 0, "FSINFO dtpref 0");
		CHECK(ok->maxfilesize >= (1ull << 40), "FSINFO maxfilesize %llu", (unsigned long long)ok->maxfilesize);
		CHECK(ok->time_delta.seconds == 0 && ok->time_delta.nseconds == 1,
		      "FSINFO time_delta %u.%09u, want 0.000000001", ok->time_delta.seconds, ok->time_delta.nseconds);
		uint32_t want = FSF3_LINK | FSF3_SYMLINK | FSF3_HOMOGENEOUS | FSF3_CANSETTIME;
		CHECK((ok->properties & want) == want, "FSINFO properties 0x%x, want 0x%x", ok->properties, want);
		check_post(root, "FSINFO obj_attributes", &ok->obj_attributes, &rootfh);
	}
	PATHCONF3args pa = { .object = FH(&rootfh) };
	PATHCONF3res pr;
	NFSCALL(root, pathconf, PATHCONF, &pa, &pr);
	STATUS(pr.status, NFS3_OK, "PATHCONF");
	if (pr.status == NFS3_OK) {
		PATHCONF3resok *ok = &pr.PATHCONF3res_u.resok;
		CHECK(ok->linkmax > 1, "PATHCONF linkmax %u", ok->linkmax);
		CHECK(ok->name_max == 255, "PATHCONF name_max %u, want 255", ok->name_max);
		CHECK(ok->no_trunc, "PATHCONF no_trunc false (long names must be refused, not cut)");
		CHECK(ok->chown_restricted, "PATHCONF chown_restricted false");
		CHECK(!ok->case_insensitive, "PATHCONF case_insensitive true");
		CHECK(ok->case_preserving, "PATHCONF case_preserving false");
		check_post(root, "PATHCONF obj_attributes", &ok->obj_attributes, &rootfh);
	}
	finish();
}

/* ---- bad handles ---- */

static void expect_badhandle(const char *what, const char *data, uint32_t len)
{
	struct fh h;
	h.len = len;
	memcpy(h.data, data, len);
	fattr3 a;
	int s = getattr(root, &h, &a);
	STATUS(s, NFS3ERR_BADHANDLE, "GETATTR with %s", what);
	STATUS(lookup(root, &h, "x", NULL, NULL), NFS3ERR_BADHANDLE, "LOOKUP in %s", what);
}

static void t_handles(void **state)
{
	(void)state;
	char buf[NFS3_FHSIZE];
	fattr3 a;
	for (int i = 0; i < 8; i++) {
		uint32_t len = 8 + (uint32_t)test_rng_below(&rng, NFS3_FHSIZE - 7);
		test_rng_fill(&rng, buf, len);
		char what[64];
		snprintf(what, sizeof what, "%u random bytes", len);
		expect_badhandle(what, buf, len);
	}
	/* One flipped bit anywhere: never a valid handle.  BADHANDLE where the
	 * MAC catches it; STALE is right too where the flip lands in the
	 * filesystem id (RFC 1813: STALE for a handle of another filesystem,
	 * whose MAC this server cannot check), so either, but at least the MAC
	 * part must say BADHANDLE. */
	struct fh d = testdir("handles"), f;
	int nbad = 0;
	mkfile(root, &d, "f", 0644, &f);
	for (uint32_t i = 0; i < f.len; i++) {
		memcpy(buf, f.data, f.len);
		buf[i] ^= 1 << (i % 8);
		struct fh h = { .len = f.len };
		memcpy(h.data, buf, f.len);
		int s = getattr(root, &h, &a);
		nbad += s == NFS3ERR_BADHANDLE;
		if (s != NFS3ERR_BADHANDLE && s != NFS3ERR_STALE) {
			nfails++;
			printf("# FAIL %s:%d: GETATTR of a handle with byte %u of %u flipped: %s, want BADHANDLE (or STALE)\n",
			       __func__, __LINE__, i, f.len, st(s));
		}
	}
	CHECK(nbad >= (int)f.len / 2, "only %d of %u flipped bytes gave BADHANDLE", nbad, f.len);
	expect_badhandle("a 1-byte handle", f.data, 1);
	if (f.len > 4)
		expect_badhandle("the real handle cut short by 4 bytes", f.data, f.len - 4);
	if (f.len < NFS3_FHSIZE) {
		memcpy(buf, f.data, f.len);
		buf[f.len] = 0;
		expect_badhandle("the real handle with a zero byte appended", buf, f.len + 1);
	}
	{
		/* an empty handle: BADHANDLE, or GARBAGE_ARGS (nfs_fh3 is 1..64 bytes) */
		GETATTR3args ga = { .object = { .data = { 0, buf } } };
		GETATTR3res gr;
		struct call *c = call_new("GETATTR (empty handle)", XDR(GETATTR3res), &gr, sizeof gr);
		int rc = call_wait(root, c, conn_ready(root) ? -1 : rpc_nfs3_getattr_async(root->rpc, call_done, &ga, c), true);
		CHECK(rc == 0 ? gr.status == NFS3ERR_BADHANDLE : strstr(c->err, "Garbage") != NULL,
		      "GETATTR with an empty handle: %s", rc == 0 ? st(gr.status) : c->err);
	}
	STATUS(getattr(root, &f, &a), NFS3_OK, "the real handle still works");
	finish();
}

/* ---- AUTH_NONE on A (squash none): the anonymous ids ---- */

static void t_auth_none(void **state)
{
	(void)state;
	need_own_daemons();
	struct fh d = testdir("authnone"), f;
	struct conn *n = conn_none(portA);
	if (n) {
		STATUS(mkfile(n, &d, "anon", 0644, NULL), NFS3_OK, "CREATE with AUTH_NONE");
		fattr3 a;
		if (lookup(root, &d, "anon", &f, &a) == NFS3_OK)
			CHECK(a.uid == 5555 && a.gid == 6666, "AUTH_NONE's file is owned by %u:%u, want anon 5555:6666",
			      a.uid, a.gid);
		conn_close(n);
	}
	/* with squash = none, root stays root */
	STATUS(mkfile(root, &d, "rootfile", 0644, NULL), NFS3_OK, "CREATE as root");
	fattr3 a;
	if (lookup(root, &d, "rootfile", NULL, &a) == NFS3_OK)
		CHECK(a.uid == 0 && a.gid == 0, "root's file with squash = none is owned by %u:%u", a.uid, a.gid);
	finish();
}

/* ---- B: root squash, restart: verifier and handles ---- */

static void t_root_squash_restart(void **state)
{
	(void)state;
	need_own_daemons();
	struct fh rb, f, keep;
	WRITE3resok w1, w2;
	fattr3 a;
	memset(&w1, 0, sizeof w1);
	memset(&w2, 0, sizeof w2);

	nfsd_prepare(&dB, "nfsB", "[nfs]\nsquash = \"none\"\n");
	if (nfsd_start(&dB, NULL, NULL))
		fail();
	if (mount_root(dB.port, &rb))
		fail();
	struct conn *b = conn_as(dB.port, 0, 0, 0, NULL);
	if (!b)
		fail();
	STATUS(setmode(b, &rb, 01777), NFS3_OK, "B: chmod 1777 of the root without squash");
	STATUS(mkfile(b, &rb, "keep", 0666, &keep), NFS3_OK, "B: CREATE keep (0666: squashed root writes it later)");
	STATUS(write_(b, &keep, 0, "kept", 4, UNSTABLE, &w1), NFS3_OK, "B: WRITE UNSTABLE before the restart");
	{
		COMMIT3args ca = { .file = FH(&keep) };
		COMMIT3res cr;
		NFSCALL(b, commit, COMMIT, &ca, &cr);
		STATUS(cr.status, NFS3_OK, "B: COMMIT");
		if (cr.status == NFS3_OK)
			CHECK(!memcmp(cr.COMMIT3res_u.resok.verf, w1.verf, 8), "B: COMMIT's verifier differs from WRITE's");
	}
	/* A's root handle means nothing here: another filesystem */
	STATUS(getattr(b, &rootfh, &a), NFS3ERR_STALE, "B: GETATTR of A's root handle (another filesystem)");
	conn_close(b);

	CHECK(nfsd_stop(&dB, SIGTERM) == 0, "B: the daemon exits 0 at SIGTERM");
	nfsd_reconfigure(&dB, "[nfs]\nsquash = \"root\"\nanon_uid = 4242\nanon_gid = 4343\n");
	if (nfsd_start(&dB, NULL, NULL))
		fail();
	b = conn_as(dB.port, 0, 0, 0, NULL);
	if (!b)
		fail();
	struct fh rb2;
	mount_root(dB.port, &rb2);
	CHECK(rb2.len == rb.len && !memcmp(rb2.data, rb.data, rb.len), "B: the root handle is the same after a restart");
	STATUS(getattr(b, &keep, &a), NFS3_OK, "B: a handle from before the restart still works");
	CHECK(a.size == 4, "B: the committed file has size %llu after the restart, want 4", (unsigned long long)a.size);
	STATUS(write_(b, &keep, 4, "more", 4, UNSTABLE, &w2), NFS3_OK, "B: WRITE after the restart");
	CHECK(memcmp(w1.verf, w2.verf, 8), "B: the write verifier is the same after a restart (a client would not resend)");

	/* root is squashed to the anonymous ids */
	STATUS(mkfile(b, &rb, "byroot", 0644, &f), NFS3_OK, "B: CREATE as (squashed) root");
	if (getattr(b, &f, &a) == NFS3_OK)
		CHECK(a.uid == 4242 && a.gid == 4343, "B: squashed root's file is owned by %u:%u, want 4242:4343", a.uid, a.gid);
	struct conn *u = conn_as(dB.port, 1000, 1000, 0, NULL);
	if (u) {
		STATUS(mkfile(u, &rb, "byuser", 0600, &f), NFS3_OK, "B: CREATE as uid 1000");
		if (getattr(u, &f, &a) == NFS3_OK)
			CHECK(a.uid == 1000 && a.gid == 1000, "B: uid 1000's file is owned by %u:%u (not squashed)", a.uid, a.gid);
		/* root has no power over it */
		access_is(b, &f, ALL_FILE, 0, "squashed root on uid 1000's 0600 file");
		READ3args ra = { .file = FH(&f), .count = 10 };
		READ3res rr;
		NFSCALL(b, read, READ, &ra, &rr);
		STATUS(rr.status, NFS3ERR_ACCES, "B: squashed root READs uid 1000's 0600 file");
		STATUS(setowner(b, &f, 0, 0), NFS3ERR_PERM, "B: squashed root chowns uid 1000's file");
		conn_close(u);
	}
	struct conn *n = conn_none(dB.port);
	if (n) {
		STATUS(mkfile(n, &rb, "bynone", 0644, &f), NFS3_OK, "B: CREATE with AUTH_NONE");
		if (getattr(b, &f, &a) == NFS3_OK)
			CHECK(a.uid == 4242 && a.gid == 4343, "B: AUTH_NONE's file is owned by %u:%u, want 4242:4343", a.uid, a.gid);
		conn_close(n);
	}
	conn_close(b);

	/* squash = "all": every uid becomes the anonymous one */
	CHECK(nfsd_stop(&dB, SIGTERM) == 0, "B: the daemon exits 0 at SIGTERM (squash root)");
	nfsd_reconfigure(&dB, "[nfs]\nsquash = \"all\"\nanon_uid = 4242\nanon_gid = 4343\n");
	if (nfsd_start(&dB, NULL, NULL))
		fail();
	u = conn_as(dB.port, 1000, 1000, 0, NULL);
	if (u) {
		STATUS(mkfile(u, &rb, "byuser-all", 0644, &f), NFS3_OK, "B (squash all): CREATE as uid 1000");
		if (getattr(u, &f, &a) == NFS3_OK)
			CHECK(a.uid == 4242 && a.gid == 4343, "B (squash all): uid 1000's file is owned by %u:%u, want 4242:4343",
			      a.uid, a.gid);
		conn_close(u);
	}

	/* clients: an address list without us refuses us */
	CHECK(nfsd_stop(&dB, SIGTERM) == 0, "B: the daemon exits 0 at SIGTERM (squash all)");
	nfsd_reconfigure(&dB, "[nfs]\nsquash = \"none\"\nclients = \"192.0.2.7\"\n");
	if (nfsd_start(&dB, NULL, NULL))
		fail();
	{
		quiet_connect = true;   /* refusing the connection itself is fine */
		struct conn *m = conn_mount(dB.port);
		if (m) {
			mountres3 mr;
			struct call *c = call_new("MNT (not an allowed client)", XDR(mountres3), &mr, sizeof mr);
			int rc = call_wait(m, c, rpc_mount3_mnt_async(m->rpc, call_done, (char *)export_path, c), true);
			CHECK(rc != 0 || mr.fhs_status != MNT3_OK, "B (clients = 192.0.2.7): MNT from 127.0.0.1 succeeded");
			conn_close(m);
		}
		struct conn *x = conn_as(dB.port, 0, 0, 0, NULL);
		if (x) {
			GETATTR3args ga = { .object = FH(&keep) };
			GETATTR3res gr;
			struct call *c = call_new("GETATTR (not an allowed client)", XDR(GETATTR3res), &gr, sizeof gr);
			int rc = call_wait(x, c, rpc_nfs3_getattr_async(x->rpc, call_done, &ga, c), true);
			CHECK(rc != 0 || gr.status != NFS3_OK, "B (clients = 192.0.2.7): GETATTR from 127.0.0.1 succeeded");
			conn_close(x);
		}
		quiet_connect = false;
	}
	finish();
}

/* ---- C and D: read-only ---- */

static void check_rofs(const char *who, int port)
{
	struct fh r, f, d;
	if (mount_root(port, &r))
		return;
	struct conn *c = conn_as(port, 0, 0, 0, NULL);
	if (!c)
		return;
	STATUS(lookup(c, &r, "rofile", &f, NULL), NFS3_OK, "%s: LOOKUP rofile", who);
	STATUS(lookup(c, &r, "rodir", &d, NULL), NFS3_OK, "%s: LOOKUP rodir", who);
	READ3args ra = { .file = FH(&f), .count = 100 };
	READ3res rr;
	NFSCALL(c, read, READ, &ra, &rr);
	STATUS(rr.status, NFS3_OK, "%s: READ works", who);
	if (rr.status == NFS3_OK)
		CHECK(rr.READ3res_u.resok.data.data_len == 15 && !memcmp(rr.READ3res_u.resok.data.data_val, "read-only data\n", 15),
		      "%s: READ gives the seeded bytes", who);

	STATUS(setmode(c, &f, 0600), NFS3ERR_ROFS, "%s: SETATTR", who);
	/* a refusal still carries full wcc_data: nothing changed */
	{
		fattr3 pre;
		getattr(c, &f, &pre);
		SETATTR3args sa0;
		memset(&sa0, 0, sizeof sa0);
		sa0.object = FH(&f);
		sa0.new_attributes = sattr_mode(0600);
		SETATTR3res sr0;
		NFSCALL(c, setattr, SETATTR, &sa0, &sr0);
		if (sr0.status == NFS3ERR_ROFS)
			check_wcc(c, "SETATTR ROFS (failure wcc)", &pre, &sr0.SETATTR3res_u.resfail.obj_wcc, &f);
		getattr(c, &r, &pre);
		CREATE3args ca0;
		memset(&ca0, 0, sizeof ca0);
		ca0.where = DIROP(&r, "new");
		ca0.how.mode = GUARDED;
		CREATE3res cr0;
		NFSCALL(c, create, CREATE, &ca0, &cr0);
		if (cr0.status == NFS3ERR_ROFS)
			check_wcc(c, "CREATE ROFS (failure wcc)", &pre, &cr0.CREATE3res_u.resfail.dir_wcc, &r);
	}
	STATUS(write_(c, &f, 0, "x", 1, FILE_SYNC, NULL), NFS3ERR_ROFS, "%s: WRITE FILE_SYNC", who);
	STATUS(write_(c, &f, 0, "x", 1, UNSTABLE, NULL), NFS3ERR_ROFS, "%s: WRITE UNSTABLE", who);
	STATUS(mkfile(c, &r, "new", 0644, NULL), NFS3ERR_ROFS, "%s: CREATE", who);
	STATUS(mkfile(c, &r, "rofile", 0644, NULL), NFS3ERR_ROFS, "%s: CREATE UNCHECKED over an existing file", who);
	STATUS(mkdir_(c, &r, "newdir", 0755, NULL), NFS3ERR_ROFS, "%s: MKDIR", who);
	SYMLINK3args sa;
	memset(&sa, 0, sizeof sa);
	sa.where = DIROP(&r, "newlink");
	sa.symlink.symlink_data = "target";
	SYMLINK3res sr;
	NFSCALL(c, symlink, SYMLINK, &sa, &sr);
	STATUS(sr.status, NFS3ERR_ROFS, "%s: SYMLINK", who);
	MKNOD3args ma;
	memset(&ma, 0, sizeof ma);
	ma.where = DIROP(&r, "newfifo");
	ma.what.type = NF3FIFO;
	MKNOD3res mr;
	NFSCALL(c, mknod, MKNOD, &ma, &mr);
	STATUS(mr.status, NFS3ERR_ROFS, "%s: MKNOD", who);
	REMOVE3args rma = { .object = DIROP(&r, "rofile") };
	REMOVE3res rmr;
	NFSCALL(c, remove, REMOVE, &rma, &rmr);
	STATUS(rmr.status, NFS3ERR_ROFS, "%s: REMOVE", who);
	RMDIR3args rda = { .object = DIROP(&r, "rodir") };
	RMDIR3res rdr;
	NFSCALL(c, rmdir, RMDIR, &rda, &rdr);
	STATUS(rdr.status, NFS3ERR_ROFS, "%s: RMDIR", who);
	RENAME3res rnr;
	STATUS(rename_(c, &r, "rofile", &r, "renamed", &rnr), NFS3ERR_ROFS, "%s: RENAME", who);
	STATUS(rename_(c, &r, "rodir", &r, "rodir2", &rnr), NFS3ERR_ROFS, "%s: RENAME a dir over an empty dir", who);
	LINK3args la = { .file = FH(&f), .link = DIROP(&r, "hardlink") };
	LINK3res lr;
	NFSCALL(c, link, LINK, &la, &lr);
	STATUS(lr.status, NFS3ERR_ROFS, "%s: LINK", who);
	STATUS(lookup(c, &r, "rofile", NULL, NULL), NFS3_OK, "%s: rofile is still there", who);
	STATUS(lookup(c, &r, "new", NULL, NULL), NFS3ERR_NOENT, "%s: nothing was created", who);
	conn_close(c);
}

static void t_read_only(void **state)
{
	(void)state;
	need_own_daemons();
	check_rofs("--read-only replica", dC.port);
	check_rofs("[nfs] read_only", dD.port);
	finish();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(t_null_and_mount, test_teardown),
		cmocka_unit_test_teardown(t_getattr, test_teardown),
		cmocka_unit_test_teardown(t_setattr, test_teardown),
		cmocka_unit_test_teardown(t_lookup, test_teardown),
		cmocka_unit_test_teardown(t_access, test_teardown),
		cmocka_unit_test_teardown(t_symlink_readlink, test_teardown),
		cmocka_unit_test_teardown(t_write_read_commit, test_teardown),
		cmocka_unit_test_teardown(t_create, test_teardown),
		cmocka_unit_test_teardown(t_mkdir, test_teardown),
		cmocka_unit_test_teardown(t_mknod, test_teardown),
		cmocka_unit_test_teardown(t_remove_rmdir, test_teardown),
		cmocka_unit_test_teardown(t_rename, test_teardown),
		cmocka_unit_test_teardown(t_link, test_teardown),
		cmocka_unit_test_teardown(t_dot_names, test_teardown),
		cmocka_unit_test_teardown(t_readdir, test_teardown),
		cmocka_unit_test_teardown(t_races, test_teardown),
		cmocka_unit_test_teardown(t_fsstat_fsinfo_pathconf, test_teardown),
		cmocka_unit_test_teardown(t_handles, test_teardown),
		cmocka_unit_test_teardown(t_auth_none, test_teardown),
		cmocka_unit_test_teardown(t_root_squash_restart, test_teardown),
		cmocka_unit_test_teardown(t_read_only, test_teardown),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
