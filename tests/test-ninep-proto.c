/* test-ninep-proto.c -- bucketfs's 9P2000.L server, message by message,
 * through the independent client in ninep-client.h: every T-message a
 * Linux v9fs client sends, its reply layout and its errno cases, with
 * access=user semantics (n_uname is the uid each fid acts as), Tflush
 * ordering, locks between two clients, a read-only replica that answers
 * EROFS to every mutation, and the Unix socket listener.
 *
 * Starts `bucketfs run --ninep 127.0.0.1:PORT --ninep-socket PATH` on a
 * temp file:// store (and a --read-only replica of it); NINEP_ADDR=H:P
 * runs the same checks against another server (the replica and socket
 * tests are then skipped), which is how the tests were checked against
 * diod.  Every test works in its own directory under a per-run directory,
 * so they do not depend on each other.  Randomness (readdir counts) comes
 * from a printed seed (TEST_SEED replays it). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <dirent.h>
#include <cmocka.h>

#include "ninep-daemon.h"

#define ROOTFID 1u	/* the attach fid of every session */
#define RUNFID  2u	/* the per-run directory, walked in every session */
#define OTHER   1000u	/* the other user */

static const char *addr;		/* the server under test */
static const char *aname = "";		/* NINEP_ANAME for another server */
static char run_dir[64];		/* per-run directory name under the root */
static char *tmp;
static struct ninep_daemon writer, replica;
static bool own_daemon;
static struct test_rng rng;

/* A transport failure (not an Rlerror): the test stops on it. */
static bool transport_err(int rc)
{
	return rc == -EPIPE || rc == -ETIMEDOUT || rc == -EBADMSG;
}

/* rc is an Rlerror (any errno): for cases where the protocol says "an
 * error" without naming it. */
#define assert_lerror(rc) do { int rc_ = (rc); \
	if (rc_ >= 0 || transport_err(rc_)) \
		fail_msg("want an Rlerror, got %d (%s)", rc_, rc_ < 0 ? strerror(-rc_) : "success"); \
	} while (0)

#define assert_ok(rc) do { int rc_ = (rc); \
	if (rc_) fail_msg("%s: %d (%s)", #rc, rc_, strerror(-rc_)); } while (0)

#define assert_errno(rc, e) do { int rc_ = (rc); \
	if (rc_ != -(e)) fail_msg("%s: want -%s, got %d (%s)", #rc, #e, rc_, \
				  rc_ < 0 ? strerror(-rc_) : "success"); } while (0)

/* Sessions a test has open, closed by the per-test teardown when a
 * failed assertion jumped past the test's own sclose. */
static struct p9c *open_sess[32];

static void sclose(struct p9c *c)
{
	for (int i = 0; i < 32; i++)
		if (open_sess[i] == c)
			open_sess[i] = NULL;
	p9c_close(c);
}

static int close_sessions(void **state)
{
	for (int i = 0; i < 32; i++)
		if (open_sess[i]) {
			p9c_close(open_sess[i]);
			open_sess[i] = NULL;
		}
	return 0;
}

static struct p9c *sess_at(const char *a, uint32_t uid, uint32_t msize)
{
	struct p9c *c = p9c_session(a, msize, ROOTFID, uid, aname);
	assert_non_null(c);
	for (int i = 0; i < 32; i++)
		if (!open_sess[i]) {
			open_sess[i] = c;
			break;
		}
	if (run_dir[0])
		assert_ok(p9_walk_path(c, ROOTFID, RUNFID, run_dir, NULL));
	return c;
}

static struct p9c *sess(uint32_t uid) { return sess_at(addr, uid, 65536); }

/* A new fid walked from the run directory along path ("" clones it). */
static uint32_t walkf(struct p9c *c, const char *path)
{
	uint32_t fid = p9c_fid(c);
	int rc = p9_walk_path(c, RUNFID, fid, path, NULL);
	if (rc)
		fail_msg("walk %s: %s", path, strerror(-rc));
	return fid;
}

static uint32_t openf(struct p9c *c, const char *path, uint32_t flags)
{
	uint32_t fid = walkf(c, path);
	int rc = p9_lopen(c, fid, flags, NULL, NULL);
	if (rc)
		fail_msg("lopen %s 0%o: %s", path, flags, strerror(-rc));
	return fid;
}

/* Splits "a/b/c" into its directory ("a/b", "" for the run directory)
 * and its last name. */
static void split(const char *path, char *dir, size_t dsz, const char **name)
{
	const char *slash = strrchr(path, '/');
	if (!slash) {
		dir[0] = 0;
		*name = path;
		return;
	}
	snprintf(dir, dsz, "%.*s", (int)(slash - path), path);
	*name = slash + 1;
}

/* Creates path (mode, gid 0) holding data; returns its qid. */
static struct p9_qid mkfile(struct p9c *c, const char *path, uint32_t mode, const char *data)
{
	char dir[256];
	const char *name;
	split(path, dir, sizeof dir, &name);
	uint32_t fid = walkf(c, dir);
	struct p9_qid q;
	int rc = p9_lcreate(c, fid, name, P9_DOTL_RDWR, mode, 0, &q, NULL);
	if (rc)
		fail_msg("lcreate %s: %s", path, strerror(-rc));
	uint32_t n = (uint32_t)strlen(data), w = 0;
	if (n) {
		assert_ok(p9_write(c, fid, 0, data, n, &w));
		assert_int_equal(w, n);
	}
	assert_ok(p9_clunk(c, fid));
	return q;
}

static struct p9_qid mkdirp(struct p9c *c, const char *path, uint32_t mode)
{
	char dir[256];
	const char *name;
	split(path, dir, sizeof dir, &name);
	uint32_t fid = walkf(c, dir);
	struct p9_qid q;
	int rc = p9_mkdir(c, fid, name, mode, 0, &q);
	if (rc)
		fail_msg("mkdir %s: %s", path, strerror(-rc));
	assert_ok(p9_clunk(c, fid));
	return q;
}

static struct p9_attr attrs(struct p9c *c, const char *path)
{
	uint32_t fid = walkf(c, path);
	struct p9_attr a;
	assert_ok(p9_getattr(c, fid, P9_GETATTR_ALL, &a));
	assert_ok(p9_clunk(c, fid));
	return a;
}

/* The whole content of path (at most cap bytes) read with count-sized Treads. */
static uint32_t slurp(struct p9c *c, const char *path, char *buf, uint32_t cap, uint32_t count)
{
	uint32_t fid = openf(c, path, P9_DOTL_RDONLY), got = 0, n;
	do {
		uint32_t want = cap - got < count ? cap - got : count;
		assert_ok(p9_read(c, fid, got, want, buf + got, &n));
		got += n;
	} while (n && got < cap);
	assert_ok(p9_clunk(c, fid));
	return got;
}

static bool exists(struct p9c *c, const char *path)
{
	uint32_t fid = p9c_fid(c);
	int rc = p9_walk_path(c, RUNFID, fid, path, NULL);
	if (rc == 0)
		assert_ok(p9_clunk(c, fid));
	else if (transport_err(rc))
		fail_msg("walk %s: %s", path, strerror(-rc));
	return rc == 0;
}

/* ---- version and attach ---- */

static void test_version(void **state)
{
	struct p9c *c = p9c_connect(addr);
	assert_non_null(c);
	uint32_t ms;
	char v[64];
	/* a huge msize is clamped to what the server takes (at most 1 MiB) */
	assert_ok(p9_version(c, 64u << 20, "9P2000.L", &ms, v, sizeof v));
	assert_string_equal(v, "9P2000.L");
	if (ms > (1u << 20) || ms < 4096)
		fail_msg("msize 64 MiB negotiated to %u (want 4096..1 MiB)", ms);
	/* a small one is never raised */
	assert_ok(p9_version(c, 8192, "9P2000.L", &ms, v, sizeof v));
	if (ms > 8192)
		fail_msg("msize 8192 raised to %u", ms);
	/* versions the server does not speak: "unknown" */
	assert_ok(p9_version(c, 8192, "9P2000.X", &ms, v, sizeof v));
	assert_string_equal(v, "unknown");
	assert_ok(p9_version(c, 8192, "foo", &ms, v, sizeof v));
	assert_string_equal(v, "unknown");
	assert_ok(p9_version(c, 8192, "", &ms, v, sizeof v));
	assert_string_equal(v, "unknown");
	/* a session after all that still works */
	assert_ok(p9_version(c, 65536, "9P2000.L", &ms, v, sizeof v));
	assert_string_equal(v, "9P2000.L");
	assert_ok(p9_attach(c, ROOTFID, P9_NOFID, "0", aname, 0, NULL));
	/* Tversion again resets the session: the attach fid is gone */
	assert_ok(p9_version(c, 65536, "9P2000.L", &ms, v, sizeof v));
	struct p9_attr a;
	assert_lerror(p9_getattr(c, ROOTFID, P9_GETATTR_BASIC, &a));
	assert_ok(p9_attach(c, ROOTFID, P9_NOFID, "0", aname, 0, NULL));
	sclose(c);

	/* a request before Tversion is not served */
	c = p9c_connect(addr);
	assert_non_null(c);
	c->timeout_ms = 5000;
	int rc = p9_attach(c, ROOTFID, P9_NOFID, "0", "", 0, NULL);
	if (rc == 0 || rc == -ETIMEDOUT)
		fail_msg("Tattach before Tversion: %d (want an Rlerror or a closed connection)", rc);
	sclose(c);
}

static void test_attach(void **state)
{
	struct p9c *c = p9c_connect(addr);
	assert_non_null(c);
	assert_ok(p9_version(c, 65536, "9P2000.L", NULL, NULL, 0));
	struct p9_qid q1, q2, aq;
	/* no authentication: Tauth is an Rlerror */
	assert_lerror(p9_auth(c, 99, "0", "", 0, &aq));
	assert_ok(p9_attach(c, 1, P9_NOFID, "0", "", 0, &q1));
	assert_int_equal(q1.type & P9_QTDIR, P9_QTDIR);
	assert_ok(p9_attach(c, 2, P9_NOFID, "0", "/", 0, &q2));
	assert_true(q1.path == q2.path);
	/* a fid in use */
	assert_lerror(p9_attach(c, 1, P9_NOFID, "0", "", 0, &q2));
	/* an afid that was never made */
	assert_lerror(p9_attach(c, 3, 77, "0", "", 0, &q2));
	/* an aname that is not served */
	assert_lerror(p9_attach(c, 4, P9_NOFID, "0", "/no/such/export", 0, &q2));
	/* another user: n_uname is the uid, uname is only a name */
	assert_ok(p9_attach(c, 5, P9_NOFID, "whoever", "", OTHER, &q2));
	assert_true(q1.path == q2.path);
	sclose(c);

	/* what each user creates is theirs */
	c = sess(0);
	mkdirp(c, "attach", 0777);
	sclose(c);
	c = sess(OTHER);
	uint32_t d = walkf(c, "attach");
	assert_ok(p9_lcreate(c, d, "mine", P9_DOTL_WRONLY, 0644, OTHER, NULL, NULL));
	assert_ok(p9_clunk(c, d));
	struct p9_attr a = attrs(c, "attach/mine");
	assert_int_equal(a.uid, OTHER);
	assert_int_equal(a.gid, OTHER);
	sclose(c);
	c = sess(0);
	mkfile(c, "attach/roots", 0644, "");
	a = attrs(c, "attach/roots");
	assert_int_equal(a.uid, 0);
	assert_int_equal(a.gid, 0);
	sclose(c);
}

/* ---- walk ---- */

static void test_walk(void **state)
{
	struct p9c *c = sess(0);
	struct p9_qid qd = mkdirp(c, "walk", 0755);
	struct p9_qid qa = mkdirp(c, "walk/a", 0755);
	struct p9_qid qb = mkdirp(c, "walk/a/b", 0755);
	struct p9_qid qf = mkfile(c, "walk/a/b/f", 0644, "x");
	struct p9_qid qs[P9_MAXWELEM];
	uint16_t nq;

	/* 0 names: a clone of the same file */
	uint32_t d = walkf(c, "walk"), clone = p9c_fid(c);
	assert_ok(p9_walk(c, d, clone, 0, NULL, qs, &nq));
	assert_int_equal(nq, 0);
	struct p9_attr at;
	assert_ok(p9_getattr(c, clone, P9_GETATTR_BASIC, &at));
	assert_true(at.qid.path == qd.path);
	/* 0 names onto itself */
	assert_ok(p9_walk(c, clone, clone, 0, NULL, qs, &nq));

	/* all names: one qid each, the last one the file's */
	const char *path[] = { "a", "b", "f" };
	uint32_t f = p9c_fid(c);
	assert_ok(p9_walk(c, d, f, 3, path, qs, &nq));
	assert_int_equal(nq, 3);
	assert_true(qs[0].path == qa.path && qs[1].path == qb.path && qs[2].path == qf.path);
	assert_int_equal(qs[0].type & P9_QTDIR, P9_QTDIR);
	assert_int_equal(qs[2].type & P9_QTDIR, 0);

	/* stopping short: the qids walked, and no newfid */
	const char *partial[] = { "a", "b", "missing", "x" };
	uint32_t nf = p9c_fid(c);
	assert_ok(p9_walk(c, d, nf, 4, partial, qs, &nq));
	assert_int_equal(nq, 2);
	assert_lerror(p9_getattr(c, nf, P9_GETATTR_BASIC, &at));
	/* the first name missing: Rlerror ENOENT */
	const char *missing[] = { "missing", "a" };
	assert_errno(p9_walk(c, d, nf, 2, missing, qs, &nq), ENOENT);
	assert_lerror(p9_getattr(c, nf, P9_GETATTR_BASIC, &at));
	/* ".." goes up; at the root it stays there */
	const char *up[] = { "a", "b", "..", ".." };
	assert_ok(p9_walk(c, d, nf, 4, up, qs, &nq));
	assert_int_equal(nq, 4);
	assert_true(qs[3].path == qd.path);
	assert_ok(p9_clunk(c, nf));
	struct p9_qid qroot;
	assert_ok(p9_getattr(c, ROOTFID, P9_GETATTR_BASIC, &at));
	qroot = at.qid;
	const char *dotdot[] = { ".." };
	assert_ok(p9_walk(c, ROOTFID, nf, 1, dotdot, qs, &nq));
	assert_int_equal(nq, 1);
	assert_true(qs[0].path == qroot.path);
	assert_ok(p9_clunk(c, nf));
	/* a name through a file: ENOTDIR */
	const char *through[] = { "x" };
	assert_errno(p9_walk(c, f, nf, 1, through, qs, &nq), ENOTDIR);
	/* a name with a slash is not a name */
	const char *slash[] = { "a/b" };
	assert_lerror(p9_walk(c, d, nf, 1, slash, qs, &nq));
	/* a newfid in use (other than fid) */
	assert_lerror(p9_walk(c, d, f, 1, path, qs, &nq));
	/* an unknown fid */
	assert_lerror(p9_walk(c, 424242, nf, 0, NULL, qs, &nq));

	/* 16 names is the limit; 17 is refused */
	const char *names[17];
	for (int i = 0; i < 17; i++)
		names[i] = "..";
	assert_ok(p9_walk(c, d, nf, 16, names, qs, &nq));
	assert_int_equal(nq, 16);
	assert_ok(p9_clunk(c, nf));
	struct p9_msg m = { 0 };
	struct p9_reply *r;
	uint16_t tag = p9c_tag(c);
	p9m_twalk(&m, tag, d, nf, 17, names);
	int rc = p9c_call(c, &m, tag, P9_RWALK, &r);
	p9_reply_free(r);
	assert_lerror(rc);
	assert_lerror(p9_getattr(c, nf, P9_GETATTR_BASIC, &at));

	/* walk(5) says the fid must not be open, but diod's client library
	 * (diodls) walks from an open directory and diod serves it: a walk
	 * from an open fid to a new fid works, and the open fid stays open;
	 * moving an open fid itself (newfid = fid) is refused. */
	uint32_t od = openf(c, "walk", P9_DOTL_RDONLY);
	assert_ok(p9_walk(c, od, nf, 1, path, qs, &nq));
	assert_int_equal(nq, 1);
	assert_ok(p9_getattr(c, nf, P9_GETATTR_BASIC, &at));
	assert_lerror(p9_walk(c, od, od, 1, path, qs, &nq));
	sclose(c);
}

/* ---- lopen, lcreate ---- */

static void test_lopen(void **state)
{
	struct p9c *c = sess(0);
	mkdirp(c, "lopen", 0755);
	struct p9_qid qf = mkfile(c, "lopen/f", 0644, "hello");
	char buf[64];
	uint32_t n, w;
	struct p9_qid q;
	uint32_t iounit;

	uint32_t f = walkf(c, "lopen/f");
	assert_ok(p9_lopen(c, f, P9_DOTL_RDONLY, &q, &iounit));
	assert_true(q.path == qf.path);
	if (iounit > c->msize - P9_IOHDR)
		fail_msg("iounit %u above msize %u - 24", iounit, c->msize);
	/* opened twice */
	assert_lerror(p9_lopen(c, f, P9_DOTL_RDONLY, &q, NULL));
	assert_ok(p9_read(c, f, 0, sizeof buf, buf, &n));
	assert_int_equal(n, 5);
	assert_memory_equal(buf, "hello", 5);
	assert_errno(p9_write(c, f, 0, "x", 1, &w), EBADF);
	assert_ok(p9_clunk(c, f));

	f = openf(c, "lopen/f", P9_DOTL_WRONLY);
	assert_errno(p9_read(c, f, 0, sizeof buf, buf, &n), EBADF);
	assert_ok(p9_write(c, f, 0, "J", 1, &w));
	assert_int_equal(w, 1);
	assert_ok(p9_clunk(c, f));

	f = openf(c, "lopen/f", P9_DOTL_RDWR);
	assert_ok(p9_write(c, f, 4, "O", 1, &w));
	assert_ok(p9_read(c, f, 0, sizeof buf, buf, &n));
	assert_int_equal(n, 5);
	assert_memory_equal(buf, "JellO", 5);
	assert_ok(p9_clunk(c, f));

	/* O_APPEND: every write goes to the end whatever its offset */
	f = openf(c, "lopen/f", P9_DOTL_WRONLY | P9_DOTL_APPEND);
	assert_ok(p9_write(c, f, 0, "!!", 2, &w));
	assert_int_equal(w, 2);
	assert_ok(p9_clunk(c, f));
	assert_int_equal(slurp(c, "lopen/f", buf, sizeof buf, 100), 7);
	assert_memory_equal(buf, "JellO!!", 7);

	/* O_DIRECTORY of a file */
	f = walkf(c, "lopen/f");
	assert_errno(p9_lopen(c, f, P9_DOTL_RDONLY | P9_DOTL_DIRECTORY, NULL, NULL), ENOTDIR);
	assert_ok(p9_clunk(c, f));
	/* O_TRUNC empties it */
	f = openf(c, "lopen/f", P9_DOTL_WRONLY | P9_DOTL_TRUNC);
	assert_ok(p9_clunk(c, f));
	assert_int_equal(attrs(c, "lopen/f").size, 0);

	/* a directory: only for reading */
	f = walkf(c, "lopen");
	assert_errno(p9_lopen(c, f, P9_DOTL_WRONLY, &q, NULL), EISDIR);
	assert_errno(p9_lopen(c, f, P9_DOTL_RDWR, &q, NULL), EISDIR);
	assert_ok(p9_lopen(c, f, P9_DOTL_RDONLY, &q, NULL));
	assert_int_equal(q.type & P9_QTDIR, P9_QTDIR);
	assert_ok(p9_clunk(c, f));
	/* an unknown fid */
	assert_lerror(p9_lopen(c, 515151, P9_DOTL_RDONLY, &q, NULL));
	sclose(c);
}

static void test_lcreate(void **state)
{
	struct p9c *c = sess(0);
	mkdirp(c, "lcreate", 0755);
	uint32_t d = walkf(c, "lcreate");
	struct p9_qid q;
	uint32_t iounit, w;
	assert_ok(p9_lcreate(c, d, "new", P9_DOTL_RDWR, 0640, 0, &q, &iounit));
	assert_int_equal(q.type, P9_QTFILE);
	/* the fid is now the open file */
	assert_ok(p9_write(c, d, 0, "abc", 3, &w));
	struct p9_attr a;
	assert_ok(p9_getattr(c, d, P9_GETATTR_ALL, &a));
	assert_true(a.qid.path == q.path);
	assert_int_equal(a.mode, S_IFREG | 0640);
	assert_int_equal(a.size, 3);
	assert_int_equal(a.nlink, 1);
	assert_ok(p9_clunk(c, d));

	/* O_EXCL on an existing name */
	d = walkf(c, "lcreate");
	assert_errno(p9_lcreate(c, d, "new", P9_DOTL_RDWR | P9_DOTL_EXCL, 0640, 0, &q, NULL), EEXIST);
	/* bad names */
	assert_lerror(p9_lcreate(c, d, "a/b", P9_DOTL_RDWR, 0640, 0, &q, NULL));
	assert_lerror(p9_lcreate(c, d, "..", P9_DOTL_RDWR | P9_DOTL_EXCL, 0640, 0, &q, NULL));
	assert_lerror(p9_lcreate(c, d, "", P9_DOTL_RDWR, 0640, 0, &q, NULL));
	assert_ok(p9_clunk(c, d));
	/* in a file */
	d = walkf(c, "lcreate/new");
	assert_errno(p9_lcreate(c, d, "x", P9_DOTL_RDWR, 0640, 0, &q, NULL), ENOTDIR);
	assert_ok(p9_clunk(c, d));
	/* on an opened directory fid */
	d = openf(c, "lcreate", P9_DOTL_RDONLY);
	assert_lerror(p9_lcreate(c, d, "y", P9_DOTL_RDWR, 0640, 0, &q, NULL));
	assert_ok(p9_clunk(c, d));
	assert_false(exists(c, "lcreate/y"));
	sclose(c);
}

/* ---- read and write ---- */

static void test_read_write(void **state)
{
	struct p9c *c = sess(0);
	mkdirp(c, "rw", 0755);
	mkfile(c, "rw/f", 0644, "");
	enum { SIZE = 300000 };
	uint8_t *data = malloc(SIZE), *back = calloc(1, SIZE + 70000);
	test_rng_fill(&rng, data, SIZE);
	uint32_t f = openf(c, "rw/f", P9_DOTL_RDWR), w, n;
	uint32_t chunk = c->msize - P9_IOHDR;
	for (uint32_t off = 0; off < SIZE; off += w) {
		uint32_t k = SIZE - off < chunk ? SIZE - off : chunk;
		assert_ok(p9_write(c, f, off, data + off, k, &w));
		assert_true(w > 0 && w <= k);
	}
	/* reads at odd offsets */
	uint64_t offs[] = { 0, 1, 4095, 4096, 65535, 123457, SIZE - 10 };
	for (size_t i = 0; i < sizeof offs / sizeof offs[0]; i++) {
		assert_ok(p9_read(c, f, offs[i], 1000, back, &n));
		uint32_t want = SIZE - offs[i] < 1000 ? (uint32_t)(SIZE - offs[i]) : 1000;
		assert_int_equal(n, want);
		assert_memory_equal(back, data + offs[i], n);
	}
	/* a count beyond msize - 24 is clamped: the Rread (count[4] after the
	 * header, 11 bytes) still fits in msize */
	assert_ok(p9_read(c, f, 0, SIZE, back, &n));
	if (n == 0 || n > c->msize - P9_HDR - 4)
		fail_msg("Tread count %u with msize %u: got %u bytes", SIZE, c->msize, n);
	assert_memory_equal(back, data, n);
	/* at and past EOF: nothing */
	assert_ok(p9_read(c, f, SIZE, 100, back, &n));
	assert_int_equal(n, 0);
	assert_ok(p9_read(c, f, SIZE + 100000, 100, back, &n));
	assert_int_equal(n, 0);
	assert_ok(p9_read(c, f, UINT64_MAX - 10, 100, back, &n));
	assert_int_equal(n, 0);
	/* a write past EOF leaves a hole of zeros */
	assert_ok(p9_write(c, f, SIZE + 50000, "end", 3, &w));
	assert_int_equal(w, 3);
	assert_ok(p9_read(c, f, SIZE - 5, 60000, back, &n));
	assert_true(n > 5);
	assert_memory_equal(back, data + SIZE - 5, 5);
	for (uint32_t i = 5; i < n && i < 50005; i++)
		if (back[i])
			fail_msg("hole byte %u is %u", i, back[i]);
	assert_int_equal(attrs(c, "rw/f").size, SIZE + 50003);
	assert_ok(p9_clunk(c, f));
	/* the whole file read back through another fid */
	assert_int_equal(slurp(c, "rw/f", (char *)back, SIZE + 70000, 65536), SIZE + 50003);
	assert_memory_equal(back, data, SIZE);
	/* read/write on an fid that is not open */
	f = walkf(c, "rw/f");
	assert_lerror(p9_read(c, f, 0, 10, back, &n));
	assert_lerror(p9_write(c, f, 0, "x", 1, &w));
	assert_ok(p9_clunk(c, f));
	/* reading a directory with Tread */
	f = openf(c, "rw", P9_DOTL_RDONLY);
	assert_lerror(p9_read(c, f, 0, 10, back, &n));
	assert_ok(p9_clunk(c, f));
	free(data);
	free(back);
	sclose(c);
}

/* ---- getattr, setattr ---- */

static void test_getattr(void **state)
{
	struct p9c *c = sess(0);
	struct p9_qid qd = mkdirp(c, "getattr", 0755);
	struct p9_qid qf = mkfile(c, "getattr/f", 0644, "12345");
	uint32_t d = walkf(c, "getattr");
	assert_ok(p9_symlink(c, d, "l", "some/target", 0, NULL));
	assert_ok(p9_mknod(c, d, "p", S_IFIFO | 0600, 0, 0, 0, NULL));
	assert_ok(p9_clunk(c, d));
	time_t now = time(NULL);

	struct p9_attr a = attrs(c, "getattr/f");
	if ((a.valid & P9_GETATTR_BASIC) != P9_GETATTR_BASIC)
		fail_msg("getattr ALL valid 0x%llx lacks basic fields", (unsigned long long)a.valid);
	assert_true(a.qid.path == qf.path);
	assert_int_equal(a.qid.type, P9_QTFILE);
	assert_int_equal(a.mode, S_IFREG | 0644);
	assert_int_equal(a.uid, 0);
	assert_int_equal(a.gid, 0);
	assert_int_equal(a.nlink, 1);
	assert_int_equal(a.rdev, 0);
	assert_int_equal(a.size, 5);
	assert_true(a.blksize > 0);
	assert_true(a.blocks * 512 >= 5 || a.blocks == 0);
	assert_true(a.atime_nsec < 1000000000 && a.mtime_nsec < 1000000000 && a.ctime_nsec < 1000000000);
	assert_true(llabs((long long)a.mtime_sec - now) < 120);
	assert_true(llabs((long long)a.ctime_sec - now) < 120);
	assert_true(llabs((long long)a.atime_sec - now) < 120);

	struct p9_attr b = attrs(c, "getattr");
	assert_int_equal(b.mode, S_IFDIR | 0755);
	assert_true(b.qid.path == qd.path);
	assert_int_equal(b.qid.type & P9_QTDIR, P9_QTDIR);
	assert_true(b.nlink >= 2);
	b = attrs(c, "getattr/l");
	assert_int_equal(b.mode & S_IFMT, S_IFLNK);
	assert_int_equal(b.qid.type & P9_QTSYMLINK, P9_QTSYMLINK);
	assert_int_equal(b.size, strlen("some/target"));
	b = attrs(c, "getattr/p");
	assert_int_equal(b.mode, S_IFIFO | 0600);

	/* each mask bit alone is answered (valid may say more) */
	uint32_t f = walkf(c, "getattr/f");
	for (int bit = 0; bit < 14; bit++) {
		uint64_t mask = 1ull << bit;
		assert_ok(p9_getattr(c, f, mask, &b));
		if (bit <= 10 && !(b.valid & mask))
			fail_msg("getattr mask 0x%llx: valid 0x%llx", (unsigned long long)mask,
				 (unsigned long long)b.valid);
		assert_true(b.qid.path == qf.path);
		if (mask & P9_GETATTR_MODE)
			assert_int_equal(b.mode, a.mode);
		if (mask & P9_GETATTR_SIZE)
			assert_int_equal(b.size, 5);
	}
	/* qid.path is stable: same through another walk, another session, a rename */
	sclose(c);
	c = sess(0);
	f = walkf(c, "getattr/f");
	assert_ok(p9_getattr(c, f, P9_GETATTR_BASIC, &b));
	assert_true(b.qid.path == qf.path);
	d = walkf(c, "getattr");
	assert_ok(p9_renameat(c, d, "f", d, "g"));
	assert_true(attrs(c, "getattr/g").qid.path == qf.path);

	/* qid.version changes with a write; mtime and ctime move on */
	struct p9_attr before, after;
	assert_ok(p9_getattr(c, f, P9_GETATTR_ALL, &before));
	usleep(20000);
	uint32_t o = openf(c, "getattr/g", P9_DOTL_WRONLY), w;
	assert_ok(p9_write(c, o, 0, "abcdefgh", 8, &w));
	assert_ok(p9_getattr(c, o, P9_GETATTR_ALL, &after));
	assert_true(after.qid.path == before.qid.path);
	if (after.qid.version == before.qid.version)
		fail_msg("qid.version %u unchanged after a write", before.qid.version);
	assert_int_equal(after.size, 8);
	assert_true(after.mtime_sec * 1000000000ull + after.mtime_nsec >
		    before.mtime_sec * 1000000000ull + before.mtime_nsec);
	/* the fid walked before sees the same */
	assert_ok(p9_getattr(c, f, P9_GETATTR_ALL, &b));
	assert_int_equal(b.qid.version, after.qid.version);
	assert_int_equal(b.size, 8);
	/* an unknown fid */
	assert_lerror(p9_getattr(c, 777777, P9_GETATTR_ALL, &b));
	sclose(c);
}

static void test_setattr(void **state)
{
	struct p9c *c = sess(0);
	mkdirp(c, "setattr", 0777);
	mkfile(c, "setattr/f", 0644, "0123456789");
	uint32_t f = walkf(c, "setattr/f");
	struct p9_attr a;
	struct p9_setattr s;

	memset(&s, 0, sizeof s);
	s.valid = P9_SETATTR_MODE;
	s.mode = 0600;
	assert_ok(p9_setattr(c, f, &s));
	assert_ok(p9_getattr(c, f, P9_GETATTR_ALL, &a));
	assert_int_equal(a.mode, S_IFREG | 0600);

	s.valid = P9_SETATTR_UID;
	s.uid = OTHER;
	assert_ok(p9_setattr(c, f, &s));
	s.valid = P9_SETATTR_GID;
	s.gid = 2000;
	assert_ok(p9_setattr(c, f, &s));
	assert_ok(p9_getattr(c, f, P9_GETATTR_ALL, &a));
	assert_int_equal(a.uid, OTHER);
	assert_int_equal(a.gid, 2000);
	s.valid = P9_SETATTR_UID | P9_SETATTR_GID;
	s.uid = 0;
	s.gid = 0;
	assert_ok(p9_setattr(c, f, &s));
	assert_ok(p9_getattr(c, f, P9_GETATTR_ALL, &a));
	assert_int_equal(a.uid, 0);
	assert_int_equal(a.gid, 0);

	/* size: shrink, then grow with zeros */
	s.valid = P9_SETATTR_SIZE;
	s.size = 4;
	assert_ok(p9_setattr(c, f, &s));
	s.size = 5000;
	assert_ok(p9_setattr(c, f, &s));
	char buf[6000];
	assert_int_equal(slurp(c, "setattr/f", buf, sizeof buf, 8000), 5000);
	assert_memory_equal(buf, "0123", 4);
	for (int i = 4; i < 5000; i++)
		if (buf[i])
			fail_msg("byte %d after growing is %d", i, buf[i]);

	/* times with _SET: exactly what was given */
	s.valid = P9_SETATTR_ATIME | P9_SETATTR_ATIME_SET | P9_SETATTR_MTIME | P9_SETATTR_MTIME_SET;
	s.atime_sec = 1000000000;
	s.atime_nsec = 123456789;
	s.mtime_sec = 1200000000;
	s.mtime_nsec = 987654321;
	assert_ok(p9_setattr(c, f, &s));
	assert_ok(p9_getattr(c, f, P9_GETATTR_ALL, &a));
	assert_int_equal(a.atime_sec, 1000000000);
	assert_int_equal(a.atime_nsec, 123456789);
	assert_int_equal(a.mtime_sec, 1200000000);
	assert_int_equal(a.mtime_nsec, 987654321);
	/* without _SET: the server's now (the given values are ignored) */
	time_t now = time(NULL);
	s.valid = P9_SETATTR_ATIME | P9_SETATTR_MTIME;
	assert_ok(p9_setattr(c, f, &s));
	assert_ok(p9_getattr(c, f, P9_GETATTR_ALL, &a));
	assert_true(llabs((long long)a.atime_sec - now) < 60);
	assert_true(llabs((long long)a.mtime_sec - now) < 60);
	/* ctime alone: moves to now */
	s.valid = P9_SETATTR_ATIME | P9_SETATTR_ATIME_SET;
	s.atime_sec = 5;
	s.atime_nsec = 0;
	assert_ok(p9_setattr(c, f, &s));
	struct p9_attr b0, b1;
	assert_ok(p9_getattr(c, f, P9_GETATTR_ALL, &b0));
	usleep(20000);
	s.valid = P9_SETATTR_CTIME;
	assert_ok(p9_setattr(c, f, &s));
	assert_ok(p9_getattr(c, f, P9_GETATTR_ALL, &b1));
	assert_true(b1.ctime_sec * 1000000000ull + b1.ctime_nsec > b0.ctime_sec * 1000000000ull + b0.ctime_nsec);
	assert_int_equal(b1.atime_sec, 5);
	/* a chmod moves ctime too */
	usleep(20000);
	s.valid = P9_SETATTR_MODE;
	s.mode = 0644;
	assert_ok(p9_setattr(c, f, &s));
	assert_ok(p9_getattr(c, f, P9_GETATTR_ALL, &b0));
	assert_true(b0.ctime_sec * 1000000000ull + b0.ctime_nsec > b1.ctime_sec * 1000000000ull + b1.ctime_nsec);
	/* on an open fid too */
	uint32_t o = openf(c, "setattr/f", P9_DOTL_RDWR);
	s.valid = P9_SETATTR_SIZE;
	s.size = 1;
	assert_ok(p9_setattr(c, o, &s));
	assert_int_equal(attrs(c, "setattr/f").size, 1);
	assert_ok(p9_clunk(c, o));
	/* size of a directory */
	uint32_t d = walkf(c, "setattr");
	s.valid = P9_SETATTR_SIZE;
	s.size = 0;
	assert_errno(p9_setattr(c, d, &s), EISDIR);
	sclose(c);

	/* the other user does not own f: no chmod, chown, chgrp, set times */
	c = sess(OTHER);
	f = walkf(c, "setattr/f");
	memset(&s, 0, sizeof s);
	s.valid = P9_SETATTR_MODE;
	s.mode = 0777;
	assert_errno(p9_setattr(c, f, &s), EPERM);
	s.valid = P9_SETATTR_UID;
	s.uid = OTHER;
	assert_errno(p9_setattr(c, f, &s), EPERM);
	s.valid = P9_SETATTR_GID;
	s.gid = OTHER;
	assert_errno(p9_setattr(c, f, &s), EPERM);
	s.valid = P9_SETATTR_MTIME | P9_SETATTR_MTIME_SET;
	s.mtime_sec = 7;
	assert_errno(p9_setattr(c, f, &s), EPERM);
	s.valid = P9_SETATTR_SIZE;
	s.size = 0;
	assert_errno(p9_setattr(c, f, &s), EACCES);
	assert_int_equal(attrs(c, "setattr/f").mode, S_IFREG | 0644);
	/* its own file: chmod yes, give away no */
	mkfile(c, "setattr/mine", 0644, "");
	uint32_t m = walkf(c, "setattr/mine");
	s.valid = P9_SETATTR_MODE;
	s.mode = 0600;
	assert_ok(p9_setattr(c, m, &s));
	s.valid = P9_SETATTR_UID;
	s.uid = 0;
	assert_errno(p9_setattr(c, m, &s), EPERM);
	/* ftruncate through a fid it opened for writing: allowed on its file
	 * even once the mode says read-only, and it drops setuid as a write
	 * by an unprivileged user does (not done as root) */
	s.valid = P9_SETATTR_MODE;
	s.mode = 04755;
	assert_ok(p9_setattr(c, m, &s));
	uint32_t mo = openf(c, "setattr/mine", P9_DOTL_RDWR);
	s.valid = P9_SETATTR_MODE;
	s.mode = 04444;
	assert_ok(p9_setattr(c, m, &s));
	s.valid = P9_SETATTR_SIZE;
	s.size = 3;
	assert_ok(p9_setattr(c, mo, &s));
	assert_int_equal(attrs(c, "setattr/mine").size, 3);
	assert_int_equal(attrs(c, "setattr/mine").mode, S_IFREG | 0444);
	assert_ok(p9_clunk(c, mo));
	sclose(c);
}

/* O_APPEND writes sent at once from two sessions (each pipelines its
 * Twrites, so the server runs them side by side): every record lands
 * whole and none overwrites another. */
static void test_append_concurrent(void **state)
{
	enum { K = 48, REC = 64 };
	struct p9c *c[2] = { sess(0), sess(0) };
	mkdirp(c[0], "appendrace", 0777);
	mkfile(c[0], "appendrace/log", 0666, "");
	uint32_t fid[2];
	for (int i = 0; i < 2; i++)
		fid[i] = openf(c[i], "appendrace/log", P9_DOTL_WRONLY | P9_DOTL_APPEND);
	uint16_t tags[2][K];
	for (int k = 0; k < K; k++)
		for (int i = 0; i < 2; i++) {
			char rec[REC];
			memset(rec, 'a' + i, REC);
			snprintf(rec, REC, "%d:%02d:", i, k);
			rec[REC - 1] = '\n';
			struct p9_msg m = { 0 };
			tags[i][k] = p9c_tag(c[i]);
			p9m_twrite(&m, tags[i][k], fid[i], 0, rec, REC);
			assert_ok(p9c_send(c[i], &m));
			p9m_free(&m);
		}
	for (int i = 0; i < 2; i++)
		for (int k = 0; k < K; k++) {
			struct p9_reply *r;
			assert_ok(p9c_recv_tag(c[i], tags[i][k], &r));
			if (r->type != P9_RWRITE)
				fail_msg("append %d/%d: reply type %u", i, k, r->type);
			p9_reply_free(r);
		}
	static char buf[2 * K * REC + 1];
	uint32_t n = slurp(c[0], "appendrace/log", buf, sizeof buf, 8000);
	if (n != 2 * K * REC)
		fail_msg("%d appends of %d bytes left %u bytes, not %d", 2 * K, REC, n, 2 * K * REC);
	bool seen[2][K] = { { false } };
	for (uint32_t off = 0; off < n; off += REC) {
		int i, k;
		if (sscanf(buf + off, "%d:%d:", &i, &k) != 2 || i < 0 || i > 1 || k < 0 || k >= K ||
		    seen[i][k] || buf[off + REC - 1] != '\n')
			fail_msg("a torn or repeated record at %u", off);
		seen[i][k] = true;
	}
	sclose(c[0]);
	sclose(c[1]);
}

/* ---- readdir ---- */

/* Reads the whole directory with counts from pick(); every entry's name
 * goes to names (cap of them), offsets to offs. */
static int read_dir(struct p9c *c, uint32_t fid, uint64_t start, char (*names)[32], uint64_t *offs,
		    int cap, bool random_counts)
{
	static uint8_t buf[65536];
	uint64_t off = start;
	int n = 0;
	for (;;) {
		uint32_t count = random_counts ? 64 + (uint32_t)test_rng_below(&rng, 600) : 8000, got;
		int rc = p9_readdir(c, fid, off, count, buf, &got);
		if (rc)
			fail_msg("readdir at %llu count %u: %s", (unsigned long long)off, count, strerror(-rc));
		if (got == 0)
			return n;
		struct p9_rd rd = { buf, got, 0, false };
		struct p9_dirent de;
		int here = 0;
		while (p9_dirent_next(&rd, &de)) {
			if (n >= cap)
				fail_msg("readdir: more than %d entries", cap);
			snprintf(names[n], 32, "%.31s", de.name);
			offs[n++] = de.offset;
			off = de.offset;
			here++;
		}
		if (rd.bad)
			fail_msg("readdir at %llu: malformed entries", (unsigned long long)off);
		if (here == 0)
			fail_msg("readdir: %u bytes but no entry", got);
	}
}

static int cmp_name(const void *a, const void *b) { return strcmp(a, b); }

static void test_readdir(void **state)
{
	enum { N = 3000 };
	struct p9c *c = sess(0);
	mkdirp(c, "readdir", 0755);
	uint32_t d = walkf(c, "readdir");
	/* N files, pipelined: walk-clone, lcreate, clunk per file */
	for (int i = 0; i < N; i++) {
		char name[32];
		snprintf(name, sizeof name, "file-%05d", i);
		uint32_t fid = 100000 + (uint32_t)i;
		assert_ok(p9_walk(c, d, fid, 0, NULL, NULL, NULL));
		assert_ok(p9_lcreate(c, fid, name, P9_DOTL_WRONLY, 0644, 0, NULL, NULL));
		assert_ok(p9_clunk(c, fid));
	}
	struct p9_qid q5;
	uint32_t f5 = walkf(c, "readdir/file-00005");
	struct p9_attr a;
	assert_ok(p9_getattr(c, f5, P9_GETATTR_BASIC, &a));
	q5 = a.qid;

	/* readdir needs an open directory */
	uint8_t buf[512];
	uint32_t got;
	assert_lerror(p9_readdir(c, d, 0, sizeof buf, buf, &got));
	uint32_t od = openf(c, "readdir", P9_DOTL_RDONLY);
	char (*names)[32] = calloc(N + 10, 32);
	uint64_t *offs = calloc(N + 10, sizeof *offs);
	int n = read_dir(c, od, 0, names, offs, N + 10, true);
	assert_int_equal(n, N + 2);
	/* the type and qid of one entry */
	{
		uint32_t g;
		static uint8_t b2[65536];
		bool seen = false;
		uint64_t off = 0;
		for (;;) {
			assert_ok(p9_readdir(c, od, off, 8000, b2, &g));
			if (!g)
				break;
			struct p9_rd rd = { b2, g, 0, false };
			struct p9_dirent de;
			while (p9_dirent_next(&rd, &de)) {
				off = de.offset;
				if (strcmp(de.name, "file-00005") == 0) {
					seen = true;
					assert_true(de.qid.path == q5.path);
					assert_int_equal(de.type, DT_REG);
				}
				if (strcmp(de.name, ".") == 0)
					assert_int_equal(de.type, DT_DIR);
			}
		}
		assert_true(seen);
	}
	/* resuming at an entry's offset gives what followed it */
	int mid = N / 2;
	char (*again)[32] = calloc(N + 10, 32);
	uint64_t *offs2 = calloc(N + 10, sizeof *offs2);
	int m = read_dir(c, od, offs[mid], again, offs2, N + 10, false);
	assert_int_equal(m, n - mid - 1);
	for (int i = 0; i < m; i++)
		assert_string_equal(again[i], names[mid + 1 + i]);
	/* every name exactly once, with . and .. */
	qsort(names, (size_t)n, 32, cmp_name);
	assert_string_equal(names[0], ".");
	assert_string_equal(names[1], "..");
	for (int i = 0; i < N; i++) {
		char want[32];
		snprintf(want, sizeof want, "file-%05d", i);
		assert_string_equal(names[i + 2], want);
	}
	/* from the last offset: the end */
	assert_ok(p9_readdir(c, od, offs2[m - 1], sizeof buf, buf, &got));
	assert_int_equal(got, 0);
	/* a count too small for any entry: nothing, or an error, never a partial entry */
	int rc = p9_readdir(c, od, 0, 10, buf, &got);
	if (rc == 0 && got != 0)
		fail_msg("readdir count 10 returned %u bytes", got);
	if (transport_err(rc))
		fail_msg("readdir count 10: %s", strerror(-rc));
	assert_ok(p9_clunk(c, od));
	/* readdir of a file */
	uint32_t of = openf(c, "readdir/file-00001", P9_DOTL_RDONLY);
	assert_lerror(p9_readdir(c, of, 0, sizeof buf, buf, &got));
	free(names);
	free(offs);
	free(again);
	free(offs2);
	sclose(c);
}

/* ---- names: mkdir, mknod, symlink, readlink, link ---- */

static void test_mkdir_mknod(void **state)
{
	struct p9c *c = sess(0);
	mkdirp(c, "mk", 0777);
	uint32_t d = walkf(c, "mk");
	struct p9_qid q;
	assert_ok(p9_mkdir(c, d, "sub", 0750, 0, &q));
	assert_int_equal(q.type & P9_QTDIR, P9_QTDIR);
	assert_int_equal(attrs(c, "mk/sub").mode, S_IFDIR | 0750);
	assert_errno(p9_mkdir(c, d, "sub", 0750, 0, &q), EEXIST);
	assert_lerror(p9_mkdir(c, d, "x/y", 0750, 0, &q));
	assert_ok(p9_mknod(c, d, "fifo", S_IFIFO | 0640, 0, 0, 0, &q));
	struct p9_attr a = attrs(c, "mk/fifo");
	assert_int_equal(a.mode, S_IFIFO | 0640);
	assert_true(a.qid.path == q.path);
	assert_errno(p9_mknod(c, d, "fifo", S_IFIFO | 0640, 0, 0, 0, &q), EEXIST);
	assert_errno(p9_mkdir(c, d, "fifo", 0750, 0, &q), EEXIST);
	assert_ok(p9_mknod(c, d, "sock", S_IFSOCK | 0600, 0, 0, 0, &q));
	assert_int_equal(attrs(c, "mk/sock").mode, S_IFSOCK | 0600);
	/* a device node, as root */
	assert_ok(p9_mknod(c, d, "null", S_IFCHR | 0666, 1, 3, 0, &q));
	a = attrs(c, "mk/null");
	assert_int_equal(a.mode, S_IFCHR | 0666);
	assert_int_equal(a.rdev, makedev(1, 3));
	uint32_t f = walkf(c, "mk/fifo");
	assert_errno(p9_mkdir(c, f, "x", 0750, 0, &q), ENOTDIR);
	assert_errno(p9_mknod(c, f, "x", S_IFIFO | 0600, 0, 0, 0, &q), ENOTDIR);
	sclose(c);
	/* another user may not make devices */
	c = sess(OTHER);
	mkdirp(c, "mk/other", 0755);
	d = walkf(c, "mk/other");
	assert_errno(p9_mknod(c, d, "null", S_IFCHR | 0666, 1, 3, OTHER, &q), EPERM);
	assert_ok(p9_mknod(c, d, "fifo", S_IFIFO | 0600, 0, 0, OTHER, &q));
	assert_int_equal(attrs(c, "mk/other/fifo").uid, OTHER);
	sclose(c);
}

static void test_symlink_link(void **state)
{
	struct p9c *c = sess(0);
	mkdirp(c, "ln", 0755);
	struct p9_qid qf = mkfile(c, "ln/f", 0644, "data");
	uint32_t d = walkf(c, "ln");
	struct p9_qid q;
	assert_ok(p9_symlink(c, d, "sym", "../ln/f", 0, &q));
	assert_int_equal(q.type & P9_QTSYMLINK, P9_QTSYMLINK);
	assert_errno(p9_symlink(c, d, "sym", "other", 0, &q), EEXIST);
	uint32_t s = walkf(c, "ln/sym");
	char target[256];
	assert_ok(p9_readlink(c, s, target, sizeof target));
	assert_string_equal(target, "../ln/f");
	/* a long target survives whole */
	char longt[1025];
	memset(longt, 'x', 1024);
	longt[1024] = 0;
	assert_ok(p9_symlink(c, d, "long", longt, 0, &q));
	uint32_t l = walkf(c, "ln/long");
	char back[1100];
	assert_ok(p9_readlink(c, l, back, sizeof back));
	assert_string_equal(back, longt);
	/* readlink of a file */
	uint32_t f = walkf(c, "ln/f");
	assert_errno(p9_readlink(c, f, target, sizeof target), EINVAL);

	/* hard links */
	assert_ok(p9_link(c, d, f, "hard"));
	struct p9_attr a = attrs(c, "ln/hard");
	assert_true(a.qid.path == qf.path);
	assert_int_equal(a.nlink, 2);
	assert_errno(p9_link(c, d, f, "hard"), EEXIST);
	uint32_t dd = walkf(c, "ln");
	assert_errno(p9_link(c, d, dd, "dirlink"), EPERM);
	assert_errno(p9_link(c, f, f, "x"), ENOTDIR);
	/* unlinking one name keeps the other */
	assert_ok(p9_unlinkat(c, d, "f", 0));
	a = attrs(c, "ln/hard");
	assert_int_equal(a.nlink, 1);
	char buf[16];
	assert_int_equal(slurp(c, "ln/hard", buf, sizeof buf, 100), 4);
	assert_memory_equal(buf, "data", 4);
	sclose(c);
}

/* ---- rename, renameat, unlinkat, remove ---- */

static void test_rename(void **state)
{
	struct p9c *c = sess(0);
	mkdirp(c, "ren", 0755);
	mkdirp(c, "ren/a", 0755);
	mkdirp(c, "ren/b", 0755);
	struct p9_qid qf = mkfile(c, "ren/a/f", 0644, "one");
	uint32_t f = walkf(c, "ren/a/f"), b = walkf(c, "ren/b");
	/* Trename moves the fid's file */
	assert_ok(p9_rename(c, f, b, "moved"));
	assert_false(exists(c, "ren/a/f"));
	assert_true(attrs(c, "ren/b/moved").qid.path == qf.path);
	struct p9_attr a;
	assert_ok(p9_getattr(c, f, P9_GETATTR_BASIC, &a));
	assert_true(a.qid.path == qf.path);
	/* the fid still names it: a second rename through it */
	uint32_t ad = walkf(c, "ren/a");
	assert_ok(p9_rename(c, f, ad, "back"));
	assert_true(exists(c, "ren/a/back"));
	assert_errno(p9_rename(c, f, f, "x"), ENOTDIR);

	/* Trenameat: replaces a file, refuses a dir over a non-empty dir */
	mkfile(c, "ren/b/victim", 0644, "two");
	assert_ok(p9_renameat(c, ad, "back", b, "victim"));
	char buf[8];
	assert_int_equal(slurp(c, "ren/b/victim", buf, sizeof buf, 100), 3);
	assert_memory_equal(buf, "one", 3);
	assert_false(exists(c, "ren/a/back"));
	assert_errno(p9_renameat(c, ad, "nothing", b, "x"), ENOENT);
	mkdirp(c, "ren/a/d1", 0755);
	mkdirp(c, "ren/b/d2", 0755);
	mkfile(c, "ren/b/d2/keep", 0644, "");
	assert_errno(p9_renameat(c, ad, "d1", b, "d2"), ENOTEMPTY);
	assert_errno(p9_renameat(c, ad, "d1", b, "victim"), ENOTDIR);
	assert_errno(p9_renameat(c, b, "victim", ad, "d1"), EISDIR);
	/* a directory into itself */
	uint32_t d1 = walkf(c, "ren/a/d1");
	assert_errno(p9_renameat(c, ad, "d1", d1, "inside"), EINVAL);
	/* an empty directory can be replaced */
	mkdirp(c, "ren/b/empty", 0755);
	assert_ok(p9_renameat(c, ad, "d1", b, "empty"));
	assert_false(exists(c, "ren/a/d1"));
	assert_true(exists(c, "ren/b/empty"));
	sclose(c);
}

static void test_unlinkat_remove(void **state)
{
	struct p9c *c = sess(0);
	mkdirp(c, "rm", 0755);
	mkfile(c, "rm/f", 0644, "");
	mkdirp(c, "rm/d", 0755);
	mkdirp(c, "rm/full", 0755);
	mkfile(c, "rm/full/x", 0644, "");
	uint32_t d = walkf(c, "rm");
	assert_errno(p9_unlinkat(c, d, "d", 0), EISDIR);
	assert_errno(p9_unlinkat(c, d, "f", P9_AT_REMOVEDIR), ENOTDIR);
	assert_errno(p9_unlinkat(c, d, "full", P9_AT_REMOVEDIR), ENOTEMPTY);
	assert_errno(p9_unlinkat(c, d, "missing", 0), ENOENT);
	assert_ok(p9_unlinkat(c, d, "f", 0));
	assert_ok(p9_unlinkat(c, d, "d", P9_AT_REMOVEDIR));
	assert_false(exists(c, "rm/f"));
	assert_false(exists(c, "rm/d"));
	uint32_t x = walkf(c, "rm/full/x");
	assert_errno(p9_unlinkat(c, x, "y", 0), ENOTDIR);

	/* Tremove: the file goes and the fid with it */
	assert_ok(p9_remove(c, x));
	assert_false(exists(c, "rm/full/x"));
	struct p9_attr a;
	assert_lerror(p9_getattr(c, x, P9_GETATTR_BASIC, &a));
	assert_lerror(p9_clunk(c, x));
	/* a failing Tremove clunks the fid all the same */
	mkfile(c, "rm/full/y", 0644, "");
	uint32_t full = walkf(c, "rm/full");
	assert_errno(p9_remove(c, full), ENOTEMPTY);
	assert_lerror(p9_getattr(c, full, P9_GETATTR_BASIC, &a));
	assert_true(exists(c, "rm/full"));
	/* the fid number is free again */
	assert_ok(p9_walk_path(c, RUNFID, full, "rm", NULL));
	/* a name with a slash is not a name */
	assert_lerror(p9_unlinkat(c, d, "full/y", 0));
	assert_true(exists(c, "rm/full/y"));
	/* an empty directory by Tremove */
	assert_ok(p9_unlinkat(c, walkf(c, "rm/full"), "y", 0));
	uint32_t e = walkf(c, "rm/full");
	assert_ok(p9_remove(c, e));
	assert_false(exists(c, "rm/full"));
	sclose(c);
}

/* ---- statfs, fsync ---- */

static void test_statfs_fsync(void **state)
{
	struct p9c *c = sess(0);
	mkdirp(c, "sf", 0755);
	mkfile(c, "sf/f", 0644, "abc");
	struct p9_statfs st;
	assert_ok(p9_statfs(c, RUNFID, &st));
	assert_true(st.bsize > 0);
	assert_true(st.bfree <= st.blocks);
	assert_true(st.bavail <= st.bfree);
	assert_true(st.ffree <= st.files);
	assert_true(st.namelen >= 255);
	uint32_t f = walkf(c, "sf/f");
	struct p9_statfs st2;
	assert_ok(p9_statfs(c, f, &st2));
	assert_true(st2.fsid == st.fsid);
	assert_lerror(p9_statfs(c, 909090, &st2));

	uint32_t o = openf(c, "sf/f", P9_DOTL_RDWR), w;
	assert_ok(p9_write(c, o, 3, "def", 3, &w));
	assert_ok(p9_fsync(c, o, 0));
	assert_ok(p9_fsync(c, o, 1));
	/* Tfsync as protocol.md has it: fid only, no datasync */
	struct p9_msg m = { 0 };
	uint16_t tag = p9c_tag(c);
	p9m_begin(&m, P9_TFSYNC, tag);
	p9m_u32(&m, o);
	p9m_end(&m);
	assert_ok(p9c_call_empty(c, &m, tag, P9_RFSYNC));
	uint32_t od = openf(c, "sf", P9_DOTL_RDONLY);
	assert_ok(p9_fsync(c, od, 0));
	assert_lerror(p9_fsync(c, 909090, 0));
	sclose(c);
}

/* ---- xattrs ---- */

/* Sets name on path's fid through Txattrcreate + Twrite + Tclunk; the
 * first error of the three. */
static int xset(struct p9c *c, const char *path, const char *name, const void *val, uint32_t len, uint32_t flags)
{
	uint32_t x = walkf(c, path), w;
	int rc = p9_xattrcreate(c, x, name, len, flags);
	if (rc) {
		p9_clunk(c, x);
		return rc;
	}
	if (len) {
		rc = p9_write(c, x, 0, val, len, &w);
		if (!rc && w != len)
			rc = -EIO;
	}
	int rc2 = p9_clunk(c, x);
	return rc ? rc : rc2;
}

/* Gets name ("" lists) into buf; its size, or -errno. */
static int xget(struct p9c *c, const char *path, const char *name, char *buf, uint32_t cap)
{
	uint32_t f = walkf(c, path), x = p9c_fid(c);
	uint64_t size;
	int rc = p9_xattrwalk(c, f, x, name, &size);
	assert_ok(p9_clunk(c, f));
	if (rc)
		return rc;
	uint32_t got = 0, n;
	do {
		assert_ok(p9_read(c, x, got, 7, buf + got, &n));
		got += n;
	} while (n && got < cap);
	assert_ok(p9_clunk(c, x));
	assert_int_equal(got, size);
	return (int)got;
}

static void test_xattr(void **state)
{
	struct p9c *c = sess(0);
	mkdirp(c, "xattr", 0777);
	mkfile(c, "xattr/f", 0644, "");
	char buf[512];
	assert_int_equal(xget(c, "xattr/f", "", buf, sizeof buf), 0);
	assert_errno(xget(c, "xattr/f", "user.color", buf, sizeof buf), ENODATA);
	assert_ok(xset(c, "xattr/f", "user.color", "green", 5, 0));
	assert_int_equal(xget(c, "xattr/f", "user.color", buf, sizeof buf), 5);
	assert_memory_equal(buf, "green", 5);
	/* a value read with an offset, over Tread */
	assert_ok(xset(c, "xattr/f", "user.long", "0123456789abcdef", 16, 0));
	uint32_t f = walkf(c, "xattr/f"), x = p9c_fid(c), n;
	uint64_t size;
	assert_ok(p9_xattrwalk(c, f, x, "user.long", &size));
	assert_int_equal(size, 16);
	assert_ok(p9_read(c, x, 10, 100, buf, &n));
	assert_int_equal(n, 6);
	assert_memory_equal(buf, "abcdef", 6);
	assert_ok(p9_clunk(c, x));
	/* the list: every name with its NUL */
	int len = xget(c, "xattr/f", "", buf, sizeof buf);
	assert_true(len > 0);
	int found = 0;
	for (int i = 0; i < len; i += (int)strlen(buf + i) + 1)
		found += !strcmp(buf + i, "user.color") + !strcmp(buf + i, "user.long");
	assert_int_equal(found, 2);
	assert_int_equal(buf[len - 1], 0);
	/* flags: XATTR_CREATE on an existing name, XATTR_REPLACE on a missing one */
	assert_errno(xset(c, "xattr/f", "user.color", "red", 3, XATTR_CREATE), EEXIST);
	assert_errno(xset(c, "xattr/f", "user.none", "red", 3, XATTR_REPLACE), ENODATA);
	assert_ok(xset(c, "xattr/f", "user.color", "blue", 4, XATTR_REPLACE));
	assert_int_equal(xget(c, "xattr/f", "user.color", buf, sizeof buf), 4);
	assert_memory_equal(buf, "blue", 4);
	/* removing: size 0 with XATTR_REPLACE, as Linux's removexattr sends it */
	assert_ok(xset(c, "xattr/f", "user.color", NULL, 0, XATTR_REPLACE));
	assert_errno(xget(c, "xattr/f", "user.color", buf, sizeof buf), ENODATA);
	assert_errno(xset(c, "xattr/f", "user.color", NULL, 0, XATTR_REPLACE), ENODATA);
	/* a value bigger than Linux allows (64 KiB) is refused up front */
	f = walkf(c, "xattr/f");
	assert_lerror(p9_xattrcreate(c, f, "user.huge", 1ull << 32, 0));
	sclose(c);
	c = sess(0);
	/* on a directory */
	assert_ok(xset(c, "xattr", "user.dir", "d", 1, 0));
	assert_int_equal(xget(c, "xattr", "user.dir", buf, sizeof buf), 1);
	sclose(c);
	/* another user cannot set user.* on root's 0644 file */
	c = sess(OTHER);
	int rc = xset(c, "xattr/f", "user.evil", "x", 1, 0);
	if (rc != -EACCES && rc != -EPERM)
		fail_msg("other user's setxattr on a 0644 root file: %d (want EACCES/EPERM)", rc);
	sclose(c);
}

/* ---- locks ---- */

static struct p9_flock lk(uint8_t type, uint64_t start, uint64_t len, uint32_t pid, const char *client)
{
	struct p9_flock l = { .type = type, .start = start, .length = len, .proc_id = pid };
	snprintf(l.client_id, sizeof l.client_id, "%s", client);
	return l;
}

static void test_lock(void **state)
{
	struct p9c *a = sess(0), *b = sess(0);
	mkdirp(a, "lock", 0777);
	mkfile(a, "lock/f", 0666, "0123456789");
	uint32_t fa = openf(a, "lock/f", P9_DOTL_RDWR), fb = openf(b, "lock/f", P9_DOTL_RDWR);
	uint8_t st;
	struct p9_flock l = lk(P9_LOCK_TYPE_WRLCK, 0, 100, 11, "host-a");
	assert_ok(p9_lock(a, fa, &l, &st));
	assert_int_equal(st, P9_LOCK_SUCCESS);
	/* B conflicts */
	l = lk(P9_LOCK_TYPE_WRLCK, 50, 10, 22, "host-b");
	assert_ok(p9_lock(b, fb, &l, &st));
	assert_int_equal(st, P9_LOCK_BLOCKED);
	l = lk(P9_LOCK_TYPE_RDLCK, 99, 1, 22, "host-b");
	assert_ok(p9_lock(b, fb, &l, &st));
	assert_int_equal(st, P9_LOCK_BLOCKED);
	/* beyond A's range: fine */
	l = lk(P9_LOCK_TYPE_WRLCK, 100, 10, 22, "host-b");
	assert_ok(p9_lock(b, fb, &l, &st));
	assert_int_equal(st, P9_LOCK_SUCCESS);
	/* getlock names the holder */
	l = lk(P9_LOCK_TYPE_WRLCK, 0, 0, 22, "host-b");
	assert_ok(p9_getlock(b, fb, &l));
	assert_int_equal(l.type, P9_LOCK_TYPE_WRLCK);
	assert_int_equal(l.start, 0);
	assert_int_equal(l.length, 100);
	assert_int_equal(l.proc_id, 11);
	assert_string_equal(l.client_id, "host-a");
	/* and A sees B's */
	l = lk(P9_LOCK_TYPE_RDLCK, 100, 0, 11, "host-a");
	assert_ok(p9_getlock(a, fa, &l));
	assert_int_equal(l.type, P9_LOCK_TYPE_WRLCK);
	assert_int_equal(l.start, 100);
	assert_int_equal(l.length, 10);
	assert_int_equal(l.proc_id, 22);
	assert_string_equal(l.client_id, "host-b");
	/* a free range: UNLCK */
	l = lk(P9_LOCK_TYPE_WRLCK, 1000, 10, 22, "host-b");
	assert_ok(p9_getlock(b, fb, &l));
	assert_int_equal(l.type, P9_LOCK_TYPE_UNLCK);
	/* A unlocks: B gets it */
	l = lk(P9_LOCK_TYPE_UNLCK, 0, 0, 11, "host-a");
	assert_ok(p9_lock(a, fa, &l, &st));
	assert_int_equal(st, P9_LOCK_SUCCESS);
	l = lk(P9_LOCK_TYPE_WRLCK, 50, 10, 22, "host-b");
	assert_ok(p9_lock(b, fb, &l, &st));
	assert_int_equal(st, P9_LOCK_SUCCESS);
	/* shared read locks */
	l = lk(P9_LOCK_TYPE_UNLCK, 0, 0, 22, "host-b");
	assert_ok(p9_lock(b, fb, &l, &st));
	l = lk(P9_LOCK_TYPE_RDLCK, 0, 0, 11, "host-a");
	assert_ok(p9_lock(a, fa, &l, &st));
	assert_int_equal(st, P9_LOCK_SUCCESS);
	l = lk(P9_LOCK_TYPE_RDLCK, 0, 0, 22, "host-b");
	assert_ok(p9_lock(b, fb, &l, &st));
	assert_int_equal(st, P9_LOCK_SUCCESS);
	l = lk(P9_LOCK_TYPE_WRLCK, 5, 1, 22, "host-b");
	assert_ok(p9_lock(b, fb, &l, &st));
	assert_int_equal(st, P9_LOCK_BLOCKED);
	/* A's connection goes away: its locks with it */
	sclose(a);
	bool got = false;
	for (int i = 0; i < 40 && !got; i++) {
		l = lk(P9_LOCK_TYPE_WRLCK, 5, 1, 22, "host-b");
		assert_ok(p9_lock(b, fb, &l, &st));
		got = st == P9_LOCK_SUCCESS;
		if (!got)
			usleep(50000);
	}
	if (!got)
		fail_msg("a lock of a closed connection still blocks after 2 s");
	/* a lock type that does not exist */
	l = lk(7, 0, 1, 22, "host-b");
	int rc = p9_lock(b, fb, &l, &st);
	if (rc == 0 && st == P9_LOCK_SUCCESS)
		fail_msg("Tlock type 7 succeeded");
	sclose(b);
}

/* ---- flush ---- */

static void test_flush(void **state)
{
	struct p9c *c = sess(0);
	mkdirp(c, "flush", 0755);
	/* of a tag never used */
	assert_ok(p9_flush(c, 4321));
	/* of a request already answered */
	struct p9_attr a;
	uint16_t done = c->tag;
	assert_ok(p9_getattr(c, RUNFID, P9_GETATTR_BASIC, &a));
	assert_ok(p9_flush(c, done));
	/* of NOTAG */
	assert_ok(p9_flush(c, P9_NOTAG));

	/* ordering: a request and its Tflush sent together, many times:
	 * the flushed request's reply (if any) comes before the Rflush */
	mkfile(c, "flush/f", 0644, "some data");
	uint32_t f = openf(c, "flush/f", P9_DOTL_RDONLY);
	int answered = 0;
	for (int i = 0; i < 300; i++) {
		struct p9_msg m = { 0 };
		uint16_t t1 = p9c_tag(c), t2 = p9c_tag(c);
		if (i % 2)
			p9m_tread(&m, t1, f, 0, 4096);
		else
			p9m_tgetattr(&m, t1, f, P9_GETATTR_ALL);
		assert_ok(p9c_send(c, &m));
		p9m_tflush(&m, t2, t1);
		assert_ok(p9c_send(c, &m));
		uint16_t t3 = p9c_tag(c);
		p9m_tgetattr(&m, t3, RUNFID, P9_GETATTR_BASIC);
		assert_ok(p9c_send(c, &m));
		p9m_free(&m);
		/* read replies in arrival order until Rflush and t3's reply
		 * (t3 is independent: it may be answered before the Rflush);
		 * a t1 reply after its Rflush shows up here or, later, as a
		 * reply for a tag nobody waits for */
		bool got1 = false, gotf = false, got3 = false;
		while (!gotf || !got3) {
			struct p9_reply *r;
			int rc = p9c_recv_any(c, &r, 10000);
			if (rc)
				fail_msg("round %d: %s", i, strerror(-rc));
			uint16_t tag = r->tag;
			uint8_t type = r->type;
			p9_reply_free(r);
			if (tag == t1) {
				if (gotf)
					fail_msg("round %d: the flushed request's reply came after Rflush", i);
				if (got1)
					fail_msg("round %d: two replies for tag %u", i, t1);
				got1 = true;
			} else if (tag == t2) {
				if (type != P9_RFLUSH)
					fail_msg("round %d: Tflush answered with type %u", i, type);
				gotf = true;
			} else if (tag == t3) {
				got3 = true;
			} else {
				fail_msg("round %d: a reply for tag %u nobody waits for (a flushed "
					 "request answered after its Rflush?)", i, tag);
			}
		}
		answered += got1;
	}
	printf("# flush: %d of 300 flushed requests were answered before their Rflush\n", answered);
	/* the connection still works */
	assert_ok(p9_getattr(c, f, P9_GETATTR_BASIC, &a));
	sclose(c);
}

/* A request that may wait (a blocking Tlock on a held range), flushed:
 * Rflush comes (within 5 s), any reply of the Tlock before it, and the
 * flushed lock is never granted later. */
static void test_flush_blocked_lock(void **state)
{
	struct p9c *a = sess(0), *b = sess(0);
	mkdirp(a, "flushlock", 0777);
	mkfile(a, "flushlock/f", 0666, "x");
	uint32_t fa = openf(a, "flushlock/f", P9_DOTL_RDWR), fb = openf(b, "flushlock/f", P9_DOTL_RDWR);
	uint8_t st;
	struct p9_flock l = lk(P9_LOCK_TYPE_WRLCK, 0, 0, 11, "host-a");
	assert_ok(p9_lock(a, fa, &l, &st));
	assert_int_equal(st, P9_LOCK_SUCCESS);

	/* B's blocking lock, then its flush */
	struct p9_msg m = { 0 };
	uint16_t t1 = p9c_tag(b), t2 = p9c_tag(b);
	l = lk(P9_LOCK_TYPE_WRLCK, 0, 0, 22, "host-b");
	l.flags = P9_LOCK_FLAGS_BLOCK;
	p9m_tlock(&m, t1, fb, &l);
	assert_ok(p9c_send(b, &m));
	/* not answered within 200 ms: it waits (or the server is slow); an
	 * early answer must be BLOCKED */
	struct p9_reply *early = NULL;
	int erc = p9c_recv_any(b, &early, 200);
	if (erc == 0) {
		int est = p9_reply_status(early, P9_RLOCK);
		struct p9_rd erd = p9_body(early);
		uint8_t es = est == 0 ? p9r_u8(&erd) : 0xff;
		if (early->tag != t1 || est != 0 || es != P9_LOCK_BLOCKED)
			fail_msg("a blocking Tlock on a held range answered at once with %s (status %u; "
				 "want RLOCK BLOCKED, or to wait)", est ? strerror(-est) : "Rlock", es);
		p9_reply_free(early);
	} else if (erc != -ETIMEDOUT) {
		fail_msg("blocking Tlock: %s", strerror(-erc));
	}
	p9m_tflush(&m, t2, t1);
	assert_ok(p9c_send(b, &m));
	p9m_free(&m);
	bool got1 = erc == 0, gotf = false;
	while (!gotf) {
		struct p9_reply *r;
		int rc = p9c_recv_any(b, &r, 5000);
		if (rc)
			fail_msg("flushing a blocked Tlock: %s (no Rflush in 5 s)", strerror(-rc));
		if (r->tag == t1) {
			/* the flushed request may be answered (before the Rflush)
			 * with BLOCKED or an error such as EINTR, never SUCCESS */
			if (got1)
				fail_msg("two replies for the blocking Tlock");
			int st1 = p9_reply_status(r, P9_RLOCK);
			struct p9_rd rd = p9_body(r);
			if (st1 == 0 && p9r_u8(&rd) == P9_LOCK_SUCCESS)
				fail_msg("a Tlock on a range another client holds succeeded");
			if (st1 == -EBADMSG)
				fail_msg("blocked Tlock answered with type %u", r->type);
			printf("# the flushed Tlock was answered with %s\n", st1 ? strerror(-st1) : "Rlock");
			got1 = true;
		} else if (r->tag == t2 && r->type == P9_RFLUSH) {
			gotf = true;
		} else {
			fail_msg("unexpected reply type %u tag %u", r->type, r->tag);
		}
		p9_reply_free(r);
	}
	printf("# flush of a blocking Tlock: the Tlock was %s before the Rflush\n",
	       got1 ? "answered" : "not answered");
	/* A unlocks: the flushed lock must not be granted behind B's back */
	l = lk(P9_LOCK_TYPE_UNLCK, 0, 0, 11, "host-a");
	assert_ok(p9_lock(a, fa, &l, &st));
	usleep(300000);
	l = lk(P9_LOCK_TYPE_WRLCK, 0, 0, 11, "host-a");
	assert_ok(p9_getlock(a, fa, &l));
	if (l.type != P9_LOCK_TYPE_UNLCK)
		fail_msg("after its Tlock was flushed, B holds a lock (type %u, proc %u)", l.type, l.proc_id);
	/* no late reply for t1 either */
	struct p9_reply *r;
	int rc = p9c_recv_any(b, &r, 300);
	if (rc != -ETIMEDOUT)
		fail_msg("a reply (type %u tag %u) after the Rflush", rc ? 0 : r->type, rc ? 0 : r->tag);

	/* a blocking lock that the holder releases: granted (or BLOCKED, which
	 * v9fs retries) within 5 s of the release */
	l = lk(P9_LOCK_TYPE_WRLCK, 0, 0, 11, "host-a");
	assert_ok(p9_lock(a, fa, &l, &st));
	assert_int_equal(st, P9_LOCK_SUCCESS);
	t1 = p9c_tag(b);
	l = lk(P9_LOCK_TYPE_WRLCK, 0, 0, 22, "host-b");
	l.flags = P9_LOCK_FLAGS_BLOCK;
	p9m_tlock(&m, t1, fb, &l);
	assert_ok(p9c_send(b, &m));
	p9m_free(&m);
	usleep(200000);
	l = lk(P9_LOCK_TYPE_UNLCK, 0, 0, 11, "host-a");
	assert_ok(p9_lock(a, fa, &l, &st));
	b->timeout_ms = 5000;
	rc = p9c_recv_tag(b, t1, &r);
	if (rc)
		fail_msg("a blocking Tlock after the holder unlocked: %s", strerror(-rc));
	assert_int_equal(r->type, P9_RLOCK);
	struct p9_rd rd = p9_body(r);
	uint8_t s2 = p9r_u8(&rd);
	p9_reply_free(r);
	if (s2 != P9_LOCK_SUCCESS && s2 != P9_LOCK_BLOCKED)
		fail_msg("blocking Tlock status %u", s2);
	printf("# a blocking Tlock released by the holder: %s\n", s2 == P9_LOCK_SUCCESS ? "SUCCESS" : "BLOCKED");
	sclose(a);
	sclose(b);
}

/* A Tflush sent right behind its blocking Tlock reaches the server while
 * the Tlock is still on the worker pool, before its wait exists: the
 * flush must still end the wait (Rflush at once), not wait for the lock
 * to be granted.  Rounds, so that the race is hit. */
static void test_flush_lock_race(void **state)
{
	struct p9c *a = sess(0), *b = sess(0);
	mkdirp(a, "flushrace", 0777);
	mkfile(a, "flushrace/f", 0666, "x");
	uint32_t fa = openf(a, "flushrace/f", P9_DOTL_RDWR), fb = openf(b, "flushrace/f", P9_DOTL_RDWR);
	uint8_t st;
	struct p9_flock l = lk(P9_LOCK_TYPE_WRLCK, 0, 0, 11, "host-a");
	assert_ok(p9_lock(a, fa, &l, &st));
	assert_int_equal(st, P9_LOCK_SUCCESS);
	for (int round = 0; round < 40; round++) {
		struct p9_msg m = { 0 };
		uint16_t t1 = p9c_tag(b), t2 = p9c_tag(b);
		l = lk(P9_LOCK_TYPE_WRLCK, 0, 0, 22, "host-b");
		l.flags = P9_LOCK_FLAGS_BLOCK;
		p9m_tlock(&m, t1, fb, &l);
		assert_ok(p9c_send(b, &m));
		p9m_free(&m);
		p9m_tflush(&m, t2, t1);
		assert_ok(p9c_send(b, &m));
		p9m_free(&m);
		bool gotf = false;
		while (!gotf) {
			struct p9_reply *r;
			int rc = p9c_recv_any(b, &r, 3000);
			if (rc)
				fail_msg("round %d: a Tflush right behind a blocking Tlock: %s (no Rflush in 3 s)",
					 round, strerror(-rc));
			if (r->tag == t2 && r->type == P9_RFLUSH)
				gotf = true;
			else if (r->tag != t1)
				fail_msg("unexpected reply type %u tag %u", r->type, r->tag);
			p9_reply_free(r);
		}
	}
	sclose(a);
	sclose(b);
}

/* ---- fids ---- */

static void test_fids(void **state)
{
	struct p9c *c = sess(0);
	struct p9_attr a;
	assert_lerror(p9_clunk(c, 31337));
	uint32_t f = walkf(c, "");
	assert_ok(p9_clunk(c, f));
	assert_lerror(p9_getattr(c, f, P9_GETATTR_BASIC, &a));
	assert_lerror(p9_clunk(c, f));
	assert_lerror(p9_walk(c, f, p9c_fid(c), 0, NULL, NULL, NULL));
	assert_lerror(p9_lopen(c, f, P9_DOTL_RDONLY, NULL, NULL));
	/* NOFID is never a fid */
	assert_lerror(p9_walk(c, RUNFID, P9_NOFID, 0, NULL, NULL, NULL));
	assert_lerror(p9_attach(c, P9_NOFID, P9_NOFID, "0", "", 0, NULL));
	/* fids are per connection */
	struct p9c *d = sess(0);
	uint32_t g = walkf(c, "");
	assert_lerror(p9_getattr(d, g, P9_GETATTR_BASIC, &a));
	assert_ok(p9_getattr(c, g, P9_GETATTR_BASIC, &a));
	sclose(d);
	/* many fids on one connection */
	for (uint32_t i = 0; i < 2000; i++)
		assert_ok(p9_walk(c, RUNFID, 50000 + i, 0, NULL, NULL, NULL));
	for (uint32_t i = 0; i < 2000; i++)
		assert_ok(p9_clunk(c, 50000 + i));
	sclose(c);
}

/* ---- permissions between users ---- */

static void test_permissions(void **state)
{
	struct p9c *c = sess(0);
	mkdirp(c, "perm", 0755);
	mkfile(c, "perm/secret", 0600, "root only");
	mkfile(c, "perm/none", 0000, "nobody");
	mkdirp(c, "perm/open", 0777);
	mkdirp(c, "perm/closed", 0700);
	/* root reads a mode 0000 file */
	char buf[64];
	assert_int_equal(slurp(c, "perm/none", buf, sizeof buf, 100), 6);
	sclose(c);

	c = sess(OTHER);
	uint32_t f = walkf(c, "perm/secret");
	struct p9_qid q;
	assert_errno(p9_lopen(c, f, P9_DOTL_RDONLY, &q, NULL), EACCES);
	assert_errno(p9_lopen(c, f, P9_DOTL_WRONLY, &q, NULL), EACCES);
	struct p9_setattr s = { .valid = P9_SETATTR_MODE, .mode = 0666 };
	assert_errno(p9_setattr(c, f, &s), EPERM);
	/* creating in root's 0755 directory, removing from it */
	uint32_t d = walkf(c, "perm");
	assert_errno(p9_lcreate(c, d, "mine", P9_DOTL_RDWR, 0644, OTHER, &q, NULL), EACCES);
	d = walkf(c, "perm");
	assert_errno(p9_mkdir(c, d, "mine", 0755, OTHER, &q), EACCES);
	assert_errno(p9_symlink(c, d, "mine", "x", OTHER, &q), EACCES);
	assert_errno(p9_unlinkat(c, d, "secret", 0), EACCES);
	assert_errno(p9_renameat(c, d, "secret", d, "stolen"), EACCES);
	/* search permission: into a 0700 directory */
	uint32_t x = p9c_fid(c);
	const char *in[] = { "perm", "closed", "anything" };
	uint16_t nq;
	struct p9_qid qs[4];
	int rc = p9_walk(c, RUNFID, x, 3, in, qs, &nq);
	if (rc == 0 && nq == 3)
		fail_msg("walked through a 0700 directory of root as uid %u", OTHER);
	uint32_t cl = walkf(c, "perm/closed");
	assert_errno(p9_lopen(c, cl, P9_DOTL_RDONLY, &q, NULL), EACCES);
	/* its own things in the 0777 directory */
	uint32_t o = walkf(c, "perm/open");
	assert_ok(p9_lcreate(c, o, "mine", P9_DOTL_RDWR, 0600, OTHER, &q, NULL));
	uint32_t w;
	assert_ok(p9_write(c, o, 0, "x", 1, &w));
	assert_ok(p9_clunk(c, o));
	struct p9_attr a = attrs(c, "perm/open/mine");
	assert_int_equal(a.uid, OTHER);
	sclose(c);
	/* root still reads it */
	c = sess(0);
	assert_int_equal(slurp(c, "perm/open/mine", buf, sizeof buf, 100), 1);
	sclose(c);
}

/* ---- a read-only replica ---- */

static void test_read_only(void **state)
{
	if (!own_daemon)
		skip();
	struct p9c *w = sess(0);
	mkdirp(w, "ro", 0777);
	mkfile(w, "ro/f", 0644, "replicated");
	mkdirp(w, "ro/d", 0755);
	uint32_t f = openf(w, "ro/f", P9_DOTL_RDWR);
	assert_ok(p9_fsync(w, f, 0));
	sclose(w);

	/* the replica follows the writer: wait for ro/f */
	struct p9c *c = NULL;
	for (int i = 0; i < 200; i++) {
		c = p9c_session(replica.addr, 65536, ROOTFID, 0, "");
		assert_non_null(c);
		if (p9_walk_path(c, ROOTFID, RUNFID, run_dir, NULL) == 0 && exists(c, "ro/f") && exists(c, "ro/d"))
			break;
		sclose(c);
		c = NULL;
		usleep(100000);
	}
	if (!c)
		fail_msg("the replica did not show ro/f within 20 s");
	char buf[64];
	assert_int_equal(slurp(c, "ro/f", buf, sizeof buf, 100), 10);
	assert_memory_equal(buf, "replicated", 10);
	uint32_t d = walkf(c, "ro"), fid = walkf(c, "ro/f"), sub = walkf(c, "ro/d");
	struct p9_qid q;
	assert_errno(p9_lcreate(c, d, "new", P9_DOTL_RDWR, 0644, 0, &q, NULL), EROFS);
	d = walkf(c, "ro");
	assert_errno(p9_mkdir(c, d, "new", 0755, 0, &q), EROFS);
	assert_errno(p9_mknod(c, d, "new", S_IFIFO | 0644, 0, 0, 0, &q), EROFS);
	assert_errno(p9_symlink(c, d, "new", "x", 0, &q), EROFS);
	assert_errno(p9_link(c, d, fid, "new"), EROFS);
	assert_errno(p9_rename(c, fid, d, "new"), EROFS);
	assert_errno(p9_renameat(c, d, "f", d, "new"), EROFS);
	assert_errno(p9_unlinkat(c, d, "f", 0), EROFS);
	assert_errno(p9_unlinkat(c, d, "d", P9_AT_REMOVEDIR), EROFS);
	struct p9_setattr s = { .valid = P9_SETATTR_MODE, .mode = 0600 };
	assert_errno(p9_setattr(c, fid, &s), EROFS);
	s.valid = P9_SETATTR_SIZE;
	assert_errno(p9_setattr(c, fid, &s), EROFS);
	s.valid = P9_SETATTR_MTIME | P9_SETATTR_MTIME_SET;
	assert_errno(p9_setattr(c, fid, &s), EROFS);
	uint32_t o = walkf(c, "ro/f");
	assert_errno(p9_lopen(c, o, P9_DOTL_WRONLY, &q, NULL), EROFS);
	assert_errno(p9_lopen(c, o, P9_DOTL_RDWR, &q, NULL), EROFS);
	assert_errno(p9_lopen(c, o, P9_DOTL_RDONLY | P9_DOTL_TRUNC, &q, NULL), EROFS);
	uint32_t x = walkf(c, "ro/f");
	int rc = p9_xattrcreate(c, x, "user.x", 1, 0);
	if (rc == 0) {
		uint32_t n;
		rc = p9_write(c, x, 0, "x", 1, &n);
		int rc2 = p9_clunk(c, x);
		rc = rc ? rc : rc2;
	}
	assert_errno(rc, EROFS);
	/* Tremove fails and clunks */
	assert_errno(p9_remove(c, sub), EROFS);
	struct p9_attr a;
	assert_lerror(p9_getattr(c, sub, P9_GETATTR_BASIC, &a));
	assert_true(exists(c, "ro/d"));
	/* reading still works */
	uint32_t od = openf(c, "ro", P9_DOTL_RDONLY), got;
	uint8_t dbuf[4096];
	assert_ok(p9_readdir(c, od, 0, sizeof dbuf, dbuf, &got));
	assert_true(got > 0);
	struct p9_statfs st;
	assert_ok(p9_statfs(c, fid, &st));
	sclose(c);
}

/* ---- the Unix socket ---- */

static void test_unix_socket(void **state)
{
	if (!own_daemon)
		skip();
	struct p9c *w = sess(0);
	mkdirp(w, "unix", 0755);
	mkfile(w, "unix/f", 0644, "over tcp");
	sclose(w);
	struct p9c *c = sess_at(writer.sock, 0, 65536);
	char buf[32];
	assert_int_equal(slurp(c, "unix/f", buf, sizeof buf, 100), 8);
	assert_memory_equal(buf, "over tcp", 8);
	mkfile(c, "unix/g", 0644, "over unix");
	sclose(c);
	c = sess(OTHER);
	assert_int_equal(slurp(c, "unix/g", buf, sizeof buf, 100), 9);
	sclose(c);
}

/* ---- setup ---- */

static int group_setup(void **state)
{
	uint64_t seed = test_seed("test-ninep-proto");
	rng.s = seed;
	signal(SIGPIPE, SIG_IGN);
	const char *ext = getenv("NINEP_ADDR");
	if (ext && *ext) {
		addr = ext;
		if (getenv("NINEP_ANAME"))
			aname = getenv("NINEP_ANAME");
	} else {
		tmp = test_tmpdir("ninep-proto");
		chmod(tmp, 0755);
		if (ninep_daemon_start(&writer, tmp, "writer", true, (const char *)NULL) != 0)
			return -1;
		if (ninep_daemon_start(&replica, tmp, "replica", false, "--read-only", (const char *)NULL) != 0)
			return -1;
		addr = writer.addr;
		own_daemon = true;
	}
	struct p9c *c = p9c_session(addr, 65536, ROOTFID, 0, aname);
	if (!c)
		return -1;
	snprintf(run_dir, sizeof run_dir, "run-%llx", (unsigned long long)(seed & 0xffffffffffull));
	int rc = p9_mkdir(c, ROOTFID, run_dir, 0755, 0, NULL);
	sclose(c);
	if (rc) {
		printf("# mkdir %s: %s\n", run_dir, strerror(-rc));
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	if (own_daemon) {
		bool alive = ninep_daemon_alive(&writer);
		if (!alive)
			printf("# the writer died during the tests\n");
		int st = ninep_daemon_stop(&replica, SIGTERM);
		int st2 = ninep_daemon_stop(&writer, SIGTERM);
		if (!alive || st != 0 || st2 != 0 || getenv("NINEP_SHOW_LOG")) {
			printf("# writer exit status %d, replica %d\n", st2, st);
			ninep_show_log(&writer);
			ninep_show_log(&replica);
		}
		test_rmtree(tmp);
		free(tmp);
		if (!alive)
			return -1;
	}
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_version, close_sessions),
		cmocka_unit_test_teardown(test_attach, close_sessions),
		cmocka_unit_test_teardown(test_walk, close_sessions),
		cmocka_unit_test_teardown(test_lopen, close_sessions),
		cmocka_unit_test_teardown(test_lcreate, close_sessions),
		cmocka_unit_test_teardown(test_read_write, close_sessions),
		cmocka_unit_test_teardown(test_getattr, close_sessions),
		cmocka_unit_test_teardown(test_setattr, close_sessions),
		cmocka_unit_test_teardown(test_append_concurrent, close_sessions),
		cmocka_unit_test_teardown(test_readdir, close_sessions),
		cmocka_unit_test_teardown(test_mkdir_mknod, close_sessions),
		cmocka_unit_test_teardown(test_symlink_link, close_sessions),
		cmocka_unit_test_teardown(test_rename, close_sessions),
		cmocka_unit_test_teardown(test_unlinkat_remove, close_sessions),
		cmocka_unit_test_teardown(test_statfs_fsync, close_sessions),
		cmocka_unit_test_teardown(test_xattr, close_sessions),
		cmocka_unit_test_teardown(test_lock, close_sessions),
		cmocka_unit_test_teardown(test_flush, close_sessions),
		cmocka_unit_test_teardown(test_flush_blocked_lock, close_sessions),
		cmocka_unit_test_teardown(test_flush_lock_race, close_sessions),
		cmocka_unit_test_teardown(test_fids, close_sessions),
		cmocka_unit_test_teardown(test_permissions, close_sessions),
		cmocka_unit_test_teardown(test_read_only, close_sessions),
		cmocka_unit_test_teardown(test_unix_socket, close_sessions),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
