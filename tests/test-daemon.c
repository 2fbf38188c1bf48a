/* test-daemon.c -- the daemon object in-process (through tests/stackfix.h):
 * roles, no frontend, flush and checkpoints, the writer's lease (format,
 * staleness, refusal, takeover, release) and the admin socket (every
 * request, bad requests, slow clients, too many clients, socket mode,
 * stale and live sockets). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "stackfix.h"

#include "daemon/admin.h"
#include "daemon/admin_int.h"
#include "daemon/conf.h"
#include "daemon/daemon_int.h"
#include "daemon/lease.h"
#include "fs/fs.h"
#include "util/clock.h"
#include "util/config.h"

static const struct fs_cred ROOT = { 0, 0, 0, NULL, 0 };

/* A file named name holding text, through the core. */
static void write_file(struct fs *fs, const char *name, const char *text)
{
	struct fs_attr a;
	size_t put;
	assert_int_equal(fs_mknod(fs, &ROOT, FS_ROOT_INO, name, S_IFREG | 0644, 0, &a, NULL), 0);
	assert_int_equal(fs_open_file(fs, &ROOT, a.ino, O_WRONLY), 0);
	assert_int_equal(fs_write(fs, &ROOT, a.ino, 0, text, strlen(text), &put), 0);
	assert_int_equal(put, strlen(text));
	fs_release(fs, a.ino);
}

static void expect_file(struct fs *fs, const char *name, const char *text)
{
	struct fs_attr a;
	char buf[256];
	size_t got = 0;
	assert_int_equal(fs_lookup(fs, &ROOT, FS_ROOT_INO, name, &a), 0);
	assert_int_equal(fs_open_file(fs, &ROOT, a.ino, O_RDONLY), 0);
	assert_int_equal(fs_read(fs, a.ino, 0, buf, sizeof buf, &got), 0);
	fs_release(fs, a.ino);
	assert_int_equal(got, strlen(text));
	assert_memory_equal(buf, text, got);
}

/* ---- roles and opening ---- */

static void test_writer_reopens_what_it_wrote(void **state)
{
	struct stackfix f;
	stackfix_init(&f, "reopen");
	stackfix_open(&f);
	assert_int_equal(daemon_role(f.d), DAEMON_WRITER);
	write_file(f.fs, "a", "alpha");
	stackfix_close(&f);
	stackfix_open(&f);
	expect_file(f.fs, "a", "alpha");
	stackfix_done(&f);
}

static void test_no_frontend_is_an_error(void **state)
{
	struct stackfix f;
	stackfix_init(&f, "nofront");
	assert_false(daemon_frontends_configured(&f.conf));
	stackfix_open(&f);
	assert_int_equal(daemon_serve(f.d), -EINVAL);
	stackfix_done(&f);
}

static void test_wrong_password_fails(void **state)
{
	struct stackfix f;
	struct daemon *d = NULL;
	stackfix_init(&f, "badpw");
	stackfix_set(&f.conf.password, "not-the-password");
	assert_int_equal(daemon_open(&f.conf, 0, &d), -EKEYREJECTED);
	assert_null(d);
	stackfix_done(&f);
}

static void test_replica_and_checkpoint_views(void **state)
{
	struct stackfix w, r;
	struct lease_info before, after;
	objstore *st;
	stackfix_init(&w, "views");
	stackfix_open(&w);
	write_file(w.fs, "kept", "in the checkpoint");
	assert_int_equal(daemon_checkpoint_create(w.d, "c1"), 0);
	assert_int_equal(daemon_checkpoint_create(w.d, "c1"), -EEXIST);
	assert_int_equal(daemon_checkpoint_create(w.d, ""), -EINVAL);
	write_file(w.fs, "later", "after it");
	assert_int_equal(daemon_flush(w.d), 0);

	assert_int_equal(objstore_open(w.url, &st), 0);
	assert_int_equal(lease_read(st, &before), 0);

	/* a replica: reads the newest state, writes nothing, no lease */
	stackfix_attach(&w, &r);
	r.conf.read_only = true;
	stackfix_open(&r);
	assert_int_equal(daemon_role(r.d), DAEMON_REPLICA);
	expect_file(r.fs, "later", "after it");
	assert_int_equal(daemon_flush(r.d), -EROFS);
	assert_int_equal(daemon_checkpoint_create(r.d, "no"), -EROFS);
	stackfix_close(&r);

	/* a checkpoint view: the state at the checkpoint */
	stackfix_set(&r.conf.checkpoint, "c1");
	stackfix_open(&r);
	assert_int_equal(daemon_role(r.d), DAEMON_CHECKPOINT);
	assert_string_equal(daemon_role_name(daemon_role(r.d)), "checkpoint");
	expect_file(r.fs, "kept", "in the checkpoint");
	struct fs_attr a;
	assert_int_equal(fs_lookup(r.fs, &ROOT, FS_ROOT_INO, "later", &a), -ENOENT);
	assert_int_equal(fs_mkdir(r.fs, &ROOT, FS_ROOT_INO, "d", 0755, &a, NULL), -EROFS);
	stackfix_close(&r);

	/* a view of a checkpoint that does not exist */
	struct daemon *d = NULL;
	stackfix_set(&r.conf.checkpoint, "missing");
	assert_int_equal(daemon_open(&r.conf, 0, &d), -ENOENT);

	/* neither wrote the lease */
	assert_int_equal(lease_read(st, &after), 0);
	assert_int_equal(after.pid, before.pid);
	assert_true(after.refresh >= before.refresh);
	assert_int_equal(after.epoch, before.epoch);
	objstore_close(st);
	stackfix_done(&r);

	assert_int_equal(daemon_checkpoint_delete(w.d, "c1"), 0);
	assert_int_equal(daemon_checkpoint_delete(w.d, "c1"), -ENOENT);
	stackfix_done(&w);
}

/* A final barrier that fails (the segment uploads never land) must not
 * be followed by a metadata commit: that would write a manifest naming
 * segments that are not in the store, and every read of that data would
 * fail for good.  Reopened on the fault-free store, each file that
 * exists reads back. */
static void test_failed_close_commits_nothing(void **state)
{
	struct stackfix f;
	struct fs_attr a;
	char url[160];
	stackfix_init(&f, "closefail");
	snprintf(url, sizeof url, "fault+%s", f.url);
	stackfix_set(&f.conf.url, url);
	f.conf.barrier_timeout_ms = 200;
	stackfix_open(&f);
	write_file(f.fs, "durable", "made durable by a flush");
	assert_int_equal(daemon_flush(f.d), 0);
	struct objstore_fault_config fc = { .ops = OBJSTORE_OP_PUT, .error_rate = 1.0,
					    .key_prefix = "segments/", .seed = 1 };
	objstore_fault_set(f.d->st, &fc);
	write_file(f.fs, "lost", "its segment never reaches the store");
	assert_int_not_equal(daemon_close(f.d), 0);
	f.d = NULL;

	stackfix_set(&f.conf.url, f.url);
	f.conf.takeover = true; /* the failed close kept its lease */
	stackfix_open(&f);
	expect_file(f.fs, "durable", "made durable by a flush");
	int r = fs_lookup(f.fs, &ROOT, FS_ROOT_INO, "lost", &a);
	if (r == 0)
		expect_file(f.fs, "lost", "its segment never reaches the store");
	else
		assert_int_equal(r, -ENOENT);
	stackfix_done(&f);
}

/* ---- the lease ---- */

static void test_lease_format_and_judgement(void **state)
{
	struct lease_info l;
	char host[256];
	const char good[] = "bucketfs-lease 1\nhost h\npid 42\nstart 1\nepoch 3\nrefresh 9\n"
			    "time 1000\nperiod 10000\nstate live\nfuture key\n";
	assert_int_equal(lease_parse(good, strlen(good), &l), 0);
	assert_string_equal(l.host, "h");
	assert_int_equal(l.pid, 42);
	assert_int_equal(l.epoch, 3);
	assert_int_equal(l.refresh, 9);
	assert_false(l.released);
	/* alive within 3 periods of its refresh, stale after */
	assert_true(lease_alive(&l, 1000 + 29999ull * 1000000));
	assert_false(lease_alive(&l, 1000 + 30001ull * 1000000));

	const char *bad[] = {
		"", "garbage", "bucketfs-lease 2\n", "bucketfs-lease 1\nhost h\n",
		"bucketfs-lease 1\nhost h\npid x\nstart 1\nepoch 3\nrefresh 9\ntime 1\nperiod 1\nstate live\n",
		"bucketfs-lease 1\nhost h\npid 1\nstart 1\nepoch -3\nrefresh 9\ntime 1\nperiod 1\nstate live\n",
		"bucketfs-lease 1\nhost h\npid 1\nstart 1\nepoch 3\nrefresh 9\ntime 1\nperiod 1\nstate maybe\n",
		"bucketfs-lease 1\nnokeyvalue\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(lease_parse(bad[i], strlen(bad[i]), &l), -EBADMSG);
	assert_int_equal(lease_parse("bucketfs-lease 1\0x", 18, &l), -EBADMSG);

	/* released: never alive */
	assert_int_equal(lease_parse(good, strlen(good), &l), 0);
	l.released = true;
	assert_false(lease_alive(&l, 1000));
	/* this host, a pid that does not exist: stale at once */
	gethostname(host, sizeof host);
	assert_int_equal(lease_parse(good, strlen(good), &l), 0);
	snprintf(l.host, sizeof l.host, "%s", host);
	l.pid = 0x7ffffff0;
	l.time_ns = clock_wall_ns();
	assert_false(lease_alive(&l, clock_wall_ns()));
	l.pid = getpid();
	assert_true(lease_alive(&l, clock_wall_ns()));
}

/* A huge lease object (a sparse 2 TiB file) is refused after one ranged
 * read, not fetched whole; garbage does not parse; a host field is
 * cleaned of control bytes before anything logs it; a lease refreshed
 * far in the future (clock skew) still counts as live, with a warning. */
static void test_lease_big_garbage_and_skew(void **state)
{
	struct lease_info l;
	objstore *st;
	char *dir = test_tmpdir("lease");
	char *url = xasprintf("file://%s", dir), *path = xasprintf("%s/%s", dir, LEASE_OBJECT);
	assert_int_equal(objstore_open(url, &st), 0);
	assert_int_equal(objstore_put(st, LEASE_OBJECT, "x", 1), 0);
	assert_int_equal(truncate(path, 2ll << 40), 0);
	assert_int_equal(lease_read(st, &l), -EBADMSG);
	const char garbage[] = "\x1b[2J\xff\xfegarbage";
	assert_int_equal(objstore_put(st, LEASE_OBJECT, garbage, sizeof garbage - 1), 0);
	assert_int_equal(lease_read(st, &l), -EBADMSG);

	char text[512];
	int n = snprintf(text, sizeof text, "bucketfs-lease 1\nhost ev\x1bil\x7f\x9b\npid 1\n"
			 "start 1\nepoch 1\nrefresh 1\ntime %llu\nperiod 100\nstate live\n",
			 (unsigned long long)(clock_wall_ns() + 3600ull * 1000000000ull));
	assert_int_equal(objstore_put(st, LEASE_OBJECT, text, (size_t)n), 0);
	assert_int_equal(lease_read(st, &l), 0);
	assert_string_equal(l.host, "ev?il??");
	assert_int_equal(lease_check(st, false), -EBUSY); /* an hour ahead: live */
	objstore_close(st);
	test_rmtree(dir);
	free(path);
	free(url);
	free(dir);
}

static void test_second_writer_refused_then_takeover(void **state)
{
	struct stackfix a, b;
	struct lease_info l;
	objstore *st;
	stackfix_init(&a, "lease");
	stackfix_open(&a);
	write_file(a.fs, "first", "one");
	assert_int_equal(daemon_flush(a.d), 0);

	/* b: the same store, as a second writer */
	stackfix_attach(&a, &b);
	struct daemon *d = NULL;
	assert_int_equal(daemon_open(&b.conf, 0, &d), -EBUSY);
	assert_null(d);

	/* the lease a keeps is being refreshed */
	assert_int_equal(objstore_open(a.url, &st), 0);
	assert_int_equal(lease_read(st, &l), 0);
	uint64_t first = l.refresh, epoch_a = l.epoch;
	assert_int_equal(l.pid, getpid());
	for (int i = 0; i < 100 && l.refresh == first; i++) {
		usleep(20000);
		assert_int_equal(lease_read(st, &l), 0);
	}
	assert_true(l.refresh > first);

	/* --takeover: b starts, with a newer epoch; a is fenced */
	b.conf.takeover = true;
	stackfix_open(&b);
	expect_file(b.fs, "first", "one");
	assert_int_equal(lease_read(st, &l), 0);
	assert_true(l.epoch > epoch_a);
	usleep(400000); /* a's lease thread sees b's lease */
	assert_int_equal(lease_read(st, &l), 0);
	assert_true(l.epoch > epoch_a); /* a did not overwrite it */
	struct fs_attr fa; /* a knows it is fenced: the change is refused */
	assert_int_equal(fs_mknod(a.fs, &ROOT, FS_ROOT_INO, "fenced", S_IFREG | 0644, 0, &fa, NULL),
			 -EROFS);
	assert_int_equal(daemon_flush(a.d), -EROFS);
	/* a's stop must not release b's lease */
	assert_int_not_equal(daemon_close(a.d), 0);
	a.d = NULL;
	assert_int_equal(lease_read(st, &l), 0);
	assert_false(l.released);
	assert_true(l.epoch > epoch_a);

	/* b stops cleanly: the lease is released, a new writer starts */
	stackfix_close(&b);
	assert_int_equal(lease_read(st, &l), 0);
	assert_true(l.released);
	b.conf.takeover = false;
	stackfix_open(&b);
	stackfix_close(&b);
	objstore_close(st);
	stackfix_done(&b);
	stackfix_done(&a);
}

/* An idle writer that was taken over learns it from the lease within a
 * period or two (not at its next manifest write): it reports fenced and
 * refuses the next mutation, rather than acknowledging it. */
static void test_idle_writer_sees_takeover(void **state)
{
	struct stackfix a, b;
	struct lsm_stats s;
	struct fs_attr at;
	stackfix_init(&a, "idlefence");
	stackfix_open(&a);
	write_file(a.fs, "first", "one");
	assert_int_equal(daemon_flush(a.d), 0);
	stackfix_attach(&a, &b);
	b.conf.takeover = true;
	stackfix_open(&b);
	lsm_stats(a.d->db, &s);
	for (int i = 0; i < 100 && !s.fenced; i++) {
		usleep(10000);
		lsm_stats(a.d->db, &s);
	}
	assert_true(s.fenced); /* within 1 s, lease every 100 ms */
	assert_int_equal(fs_mkdir(a.fs, &ROOT, FS_ROOT_INO, "late", 0755, &at, NULL), -EROFS);
	assert_int_not_equal(daemon_close(a.d), 0);
	a.d = NULL;
	expect_file(b.fs, "first", "one");
	assert_int_equal(fs_lookup(b.fs, &ROOT, FS_ROOT_INO, "late", &at), -ENOENT);
	stackfix_done(&b);
	stackfix_done(&a);
}

/* ---- the admin socket ---- */

struct adminfix {
	struct stackfix f;
	struct admin *a;
	char *dir, *path;
};

static void adminfix_start(struct adminfix *x, const char *name)
{
	stackfix_init(&x->f, name);
	stackfix_open(&x->f);
	x->dir = test_tmpdir("admin");
	x->path = xasprintf("%s/sub/admin.sock", x->dir);
	assert_int_equal(admin_start(x->f.d, x->path, false, &x->a), 0);
}

static void adminfix_stop(struct adminfix *x)
{
	admin_stop(x->a);
	struct stat st;
	assert_int_equal(stat(x->path, &st), -1); /* removed */
	stackfix_done(&x->f);
	test_rmtree(x->dir);
	free(x->dir);
	free(x->path);
}

static int raw_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	return fd;
}

/* Send bytes (then shut the write side when shut) and read the reply. */
static char *raw_exchange(const char *path, const void *p, size_t n, bool shut)
{
	int fd = raw_connect(path);
	size_t off = 0;
	while (off < n) {
		ssize_t w = send(fd, (const char *)p + off, n - off, MSG_NOSIGNAL);
		if (w <= 0)
			break; /* the server may close early on an oversized request */
		off += (size_t)w;
	}
	if (shut)
		shutdown(fd, SHUT_WR);
	char *out = xcalloc(1, 65536);
	size_t len = 0;
	ssize_t r;
	while (len < 65535 && (r = recv(fd, out + len, 65535 - len, 0)) > 0)
		len += (size_t)r;
	close(fd);
	return out;
}

static void test_admin_requests(void **state)
{
	struct adminfix x;
	char *body, err[256];
	struct stat st;
	adminfix_start(&x, "admin");
	assert_int_equal(stat(x.path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(st.st_uid, geteuid());

	write_file(x.f.fs, "f", "data");
	assert_int_equal(admin_request(x.path, "status", &body, err, sizeof err), 0);
	assert_non_null(strstr(body, "role writer\n"));
	assert_non_null(strstr(body, x.f.url));
	assert_non_null(strstr(body, "\nepoch "));
	assert_non_null(strstr(body, "\ndirty_bytes "));
	assert_non_null(strstr(body, "\nuploads_pending "));
	assert_non_null(strstr(body, "\nlast_barrier "));
	assert_non_null(strstr(body, "\ncache_ram_bytes "));
	assert_null(strstr(body, "\ndirty_bytes 0\n")); /* the open segment holds "data" */
	free(body);

	assert_int_equal(admin_request(x.path, "flush", &body, err, sizeof err), 0);
	assert_string_equal(body, "");
	free(body);
	assert_int_equal(admin_request(x.path, "status", &body, err, sizeof err), 0);
	assert_null(strstr(body, "last_barrier never"));
	assert_non_null(strstr(body, "dirty_bytes 0\n"));
	free(body);

	assert_int_equal(admin_request(x.path, "stats", &body, err, sizeof err), 0);
	assert_non_null(strstr(body, "data.barriers "));
	assert_non_null(strstr(body, "lsm.manifest_seq "));
	free(body);

	assert_int_equal(admin_request(x.path, "checkpoint create night ly", &body, err,
				       sizeof err), 0);
	free(body);
	assert_int_equal(admin_request(x.path, "checkpoint create night ly", &body, err,
				       sizeof err), -EEXIST);
	assert_non_null(strstr(err, "a checkpoint of that name exists"));
	assert_int_equal(admin_request(x.path, "checkpoint create .dot", &body, err, sizeof err),
			 0);
	free(body);
	assert_int_equal(admin_request(x.path, "checkpoint list", &body, err, sizeof err), 0);
	assert_non_null(strstr(body, " night ly\n"));
	assert_non_null(strstr(body, " .dot\n")); /* dot-stuffing undone */
	free(body);
	assert_int_equal(admin_request(x.path, "checkpoint delete night ly", &body, err,
				       sizeof err), 0);
	free(body);
	assert_int_equal(admin_request(x.path, "checkpoint delete night ly", &body, err,
				       sizeof err), -ENOENT);
	assert_non_null(strstr(err, "no such checkpoint"));
	adminfix_stop(&x);
}

static void test_admin_bad_requests(void **state)
{
	struct adminfix x;
	char *body, err[256];
	adminfix_start(&x, "adminbad");
	const char *bad[] = { "", "hello", "status now", "checkpoint", "checkpoint frobnicate x",
			      "STATUS", "flush  " };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(admin_request(x.path, bad[i], &body, err, sizeof err), -EINVAL);
		assert_null(body);
		assert_true(strlen(err) > 0);
	}

	/* the client does not send what the protocol cannot carry */
	assert_int_equal(admin_request(x.path, "checkpoint create a\nflush", &body, err, sizeof err),
			 -EINVAL);
	char huge[ADMIN_REQUEST_MAX + 8];
	memset(huge, 'x', sizeof huge - 1);
	huge[sizeof huge - 1] = '\0';
	assert_int_equal(admin_request(x.path, huge, &body, err, sizeof err), -E2BIG);

	/* garbage bytes, an unterminated request, an oversized one */
	char *out = raw_exchange(x.path, "\x01\x02\xff\n", 4, false);
	assert_string_equal(out, "ERR 22 request is not printable text\n");
	free(out);
	out = raw_exchange(x.path, "status", 6, true);
	assert_string_equal(out, "ERR 22 request not terminated by a newline\n");
	free(out);
	char big[3 * ADMIN_REQUEST_MAX];
	memset(big, 'a', sizeof big);
	big[sizeof big - 1] = '\n';
	out = raw_exchange(x.path, big, sizeof big, false);
	assert_true(!strncmp(out, "ERR 7 request longer than", 25));
	free(out);
	out = raw_exchange(x.path, "", 0, true);
	assert_string_equal(out, "ERR 22 request not terminated by a newline\n");
	free(out);
	/* a NUL is not printable: it must not cut "status\0..." to "status" */
	out = raw_exchange(x.path, "status\0junk\n", 12, false);
	assert_string_equal(out, "ERR 22 request is not printable text\n");
	free(out);
	/* two requests in one: only the first is answered */
	out = raw_exchange(x.path, "flush\nstatus\n", 13, false);
	assert_string_equal(out, "OK\n.\n");
	free(out);

	/* still serving */
	assert_int_equal(admin_request(x.path, "status", &body, err, sizeof err), 0);
	free(body);
	adminfix_stop(&x);
}

/* The request decoder without a socket (admin_int.h, also fuzzed). */
static void test_admin_parse(void **state)
{
	struct admin_request rq;
	(void)state;
#define PARSE(s) admin_parse(s, sizeof s - 1, &rq)
	assert_int_equal(PARSE("status\n"), 0);
	assert_int_equal(rq.verb, ADMIN_STATUS);
	assert_null(rq.name);
	assert_int_equal(PARSE("flush\nstatus\n"), 0);
	assert_int_equal(rq.verb, ADMIN_FLUSH);
	assert_int_equal(PARSE("stats\n"), 0);
	assert_int_equal(rq.verb, ADMIN_STATS);
	assert_int_equal(PARSE("checkpoint list\n"), 0);
	assert_int_equal(rq.verb, ADMIN_CHECKPOINT_LIST);
	assert_int_equal(PARSE("checkpoint create night ly\n"), 0);
	assert_int_equal(rq.verb, ADMIN_CHECKPOINT_CREATE);
	assert_string_equal(rq.name, "night ly");
	assert_int_equal(PARSE("checkpoint delete x\n"), 0);
	assert_int_equal(rq.verb, ADMIN_CHECKPOINT_DELETE);
	assert_string_equal(rq.name, "x");

	assert_int_equal(PARSE("status"), -EINVAL);
	assert_string_equal(rq.msg, "request not terminated by a newline");
	assert_int_equal(PARSE("status now\n"), -EINVAL);
	assert_string_equal(rq.msg, "request 'status' takes no arguments");
	assert_int_equal(PARSE("checkpoint \n"), -EINVAL);
	assert_string_equal(rq.msg, "request 'checkpoint' needs arguments");
	assert_int_equal(PARSE("checkpoint frob x\n"), -EINVAL);
	assert_string_equal(rq.msg, "usage: checkpoint create NAME | delete NAME | list");
	assert_int_equal(PARSE("nope\n"), -EINVAL);
	assert_true(!strncmp(rq.msg, "unknown request 'nope'", 22));
	assert_int_equal(PARSE("st\tatus\n"), -EINVAL);
	assert_string_equal(rq.msg, "request is not printable text");
	assert_int_equal(PARSE("status\0x\n"), -EINVAL);
	assert_string_equal(rq.msg, "request is not printable text");
	assert_int_equal(PARSE("\xc3\xa9\n"), -EINVAL);
#undef PARSE
	/* ADMIN_REQUEST_MAX bytes, newline included, is the longest */
	char big[ADMIN_REQUEST_MAX + 1];
	memcpy(big, "checkpoint create ", 18);
	memset(big + 18, 'n', sizeof big - 18);
	big[ADMIN_REQUEST_MAX - 1] = '\n';
	assert_int_equal(admin_parse(big, ADMIN_REQUEST_MAX, &rq), 0);
	assert_int_equal(strlen(rq.name), ADMIN_REQUEST_MAX - 19);
	big[ADMIN_REQUEST_MAX - 1] = 'n';
	big[ADMIN_REQUEST_MAX] = '\n';
	assert_int_equal(admin_parse(big, sizeof big, &rq), -E2BIG);
	assert_int_equal(admin_parse(big, ADMIN_REQUEST_MAX - 1, &rq), -EINVAL);
}

/* bucketfs.conf from memory (what fuzz/fuzz-conf.c drives). */
static void test_conf_load_text(void **state)
{
	static const char good[] = "[storage]\nurl = \"file:///srv/x\"\n[cache]\nmemory = 1MiB\n";
	static const char bad[] = "[storage]\ncompression = \"zstd:99\"\n";
	struct conf c;
	struct config_error err;
	(void)state;
	assert_int_equal(conf_load_text(good, sizeof good - 1, "t.conf", &c, &err), 0);
	assert_string_equal(c.url, "file:///srv/x");
	assert_int_equal(c.cache_memory, 1 << 20);
	assert_non_null(c.compression); /* the default */
	conf_free(&c);
	assert_int_equal(conf_load_text(bad, sizeof bad - 1, "t.conf", &c, &err), -EINVAL);
	assert_true(!strncmp(err.msg, "t.conf:2: [storage] compression", 31));
	conf_free(&c);
	assert_int_equal(conf_load_text("x\0", 2, "t.conf", &c, &err), -EINVAL);
	assert_int_equal(err.line, 1);
	conf_free(&c);
}

/* The reply decoder of the CLI: a broken daemon gets -EPROTO. */
static void test_admin_parse_reply(void **state)
{
	char *body, err[16];
	(void)state;
#define REPLY(s) admin_parse_reply(s, sizeof s - 1, &body, err, sizeof err)
	assert_int_equal(REPLY("OK\n.\n"), 0);
	assert_string_equal(body, "");
	free(body);
	assert_int_equal(REPLY("OK\na 1\n..dot\n.\ntrailing"), 0);
	assert_string_equal(body, "a 1\n.dot\n");
	free(body);
	assert_int_equal(REPLY("ERR 22 unknown request 'x' and more\n"), -EINVAL);
	assert_null(body);
	assert_string_equal(err, "unknown request");
	assert_int_equal(REPLY("ERR 13\n"), -EACCES);
	assert_string_equal(err, "");
	const char *bad[] = { "", "OK", "OK\n", "OK\nline\n", "OK\n.", "ERR ", "ERR x\n",
			      "ERR 0 zero\n", "ERR -5 neg\n", "ERR 4096 big\n",
			      "ERR 99999999999999999999 huge\n", "HELLO\n", "ok\n.\n" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(admin_parse_reply(bad[i], strlen(bad[i]), &body, err, sizeof err),
				 -EPROTO);
		assert_null(body);
	}
	/* a NUL inside the reply would hide the lines after it */
	assert_int_equal(REPLY("OK\nx\0y\n.\n"), -EPROTO);
	assert_null(body);
#undef REPLY
}

static void test_admin_slow_and_many_clients(void **state)
{
	struct adminfix x;
	char *body, err[256];
	int slow[ADMIN_MAX_CLIENTS];
	adminfix_start(&x, "adminslow");
	/* one silent client does not block another */
	slow[0] = raw_connect(x.path);
	uint64_t t0 = clock_mono_ns();
	assert_int_equal(admin_request(x.path, "status", &body, err, sizeof err), 0);
	free(body);
	assert_true(clock_mono_ns() - t0 < (uint64_t)ADMIN_IO_TIMEOUT_MS * 1000000ull);
	/* every connection thread taken: the next one hears "busy" */
	for (int i = 1; i < ADMIN_MAX_CLIENTS; i++)
		slow[i] = raw_connect(x.path);
	usleep(200000); /* the accept thread has taken them all */
	assert_int_equal(admin_request(x.path, "status", &body, err, sizeof err), -EBUSY);
	assert_non_null(strstr(err, "too many"));
	for (int i = 0; i < ADMIN_MAX_CLIENTS; i++)
		close(slow[i]);
	/* the threads notice and end: served again */
	int r = -EBUSY;
	for (int i = 0; i < 100 && r == -EBUSY; i++) {
		usleep(20000);
		r = admin_request(x.path, "status", &body, err, sizeof err);
		if (r == 0)
			free(body);
	}
	assert_int_equal(r, 0);
	/* a client that stays silent is dropped (after ADMIN_IO_TIMEOUT_MS),
	 * with no reply */
	slow[0] = raw_connect(x.path);
	char c;
	assert_int_equal(recv(slow[0], &c, 1, 0), 0);
	close(slow[0]);
	/* one deadline for the whole request: a client sending a byte a
	 * second is dropped once ADMIN_IO_TIMEOUT_MS is up, unanswered */
	slow[0] = raw_connect(x.path);
	const char *req = "status\n";
	t0 = clock_mono_ns();
	for (size_t i = 0; req[i]; i++) {
		if (send(slow[0], req + i, 1, MSG_NOSIGNAL) != 1)
			break; /* dropped already */
		if (req[i + 1])
			usleep(ADMIN_IO_TIMEOUT_MS * 1000 / 4);
	}
	ssize_t got = recv(slow[0], &c, 1, 0);
	assert_true(got <= 0);
	close(slow[0]);
	/* the stop waits for a connection thread still reading */
	slow[0] = raw_connect(x.path);
	usleep(100000);
	adminfix_stop(&x);
	close(slow[0]);
}

/* ---- frontends stopping while status is asked ---- */

/* A frontend whose stop() tears its state down, then waits (as an
 * unmount does): describing it after its stop began is the bug. */
struct frontend {
	atomic_int stopping;
};

static atomic_int described_while_stopping;

static int fake_describe(struct frontend *f, char *buf, size_t size)
{
	if (atomic_load(&f->stopping))
		atomic_fetch_add(&described_while_stopping, 1);
	return snprintf(buf, size, "fake");
}

static void fake_stop(struct frontend *f)
{
	atomic_store(&f->stopping, 1);
	usleep(200000);
	free(f);
}

static const struct frontend_ops fake_frontend = {
	.name = "fake", .stop = fake_stop, .describe = fake_describe,
};

struct status_loop {
	const char *path;
	atomic_int stop, served;
};

static void *status_main(void *arg)
{
	struct status_loop *sl = arg;
	char *body, err[256];
	while (!atomic_load(&sl->stop))
		if (admin_request(sl->path, "status", &body, err, sizeof err) == 0) {
			atomic_fetch_add(&sl->served, 1);
			free(body);
		}
	return NULL;
}

static void test_status_while_frontends_stop(void **state)
{
	struct adminfix x;
	adminfix_start(&x, "frontstop");
	struct daemon *d = x.f.d;
	for (int i = 0; i < 2; i++) {
		d->fronts[i].ops = &fake_frontend;
		d->fronts[i].f = xcalloc(1, sizeof(struct frontend));
	}
	d->nfronts = 2;
	struct status_loop sl = { .path = x.path };
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, status_main, &sl), 0);
	while (atomic_load(&sl.served) < 3)
		usleep(1000);
	daemon_frontends_stop(d);
	assert_int_equal(d->nfronts, 0);
	atomic_store(&sl.stop, 1);
	pthread_join(t, NULL);
	assert_int_equal(atomic_load(&described_while_stopping), 0);
	adminfix_stop(&x);
}

static void test_admin_socket_paths(void **state)
{
	struct stackfix f;
	struct admin *a, *b;
	char *dir = test_tmpdir("adminpath");
	char *path = xasprintf("%s/admin.sock", dir);
	stackfix_init(&f, "adminpath");
	stackfix_open(&f);

	/* a live socket is another daemon's */
	assert_int_equal(admin_start(f.d, path, false, &a), 0);
	assert_int_equal(admin_start(f.d, path, false, &b), -EADDRINUSE);
	/* unless taken over: then the first one's stop leaves the new one */
	assert_int_equal(admin_start(f.d, path, true, &b), 0);
	admin_stop(a);
	char *body0, err0[64];
	assert_int_equal(admin_request(path, "status", &body0, err0, sizeof err0), 0);
	free(body0);
	admin_stop(b);

	/* a dead one (its daemon died) is replaced */
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	close(fd);
	assert_int_equal(admin_start(f.d, path, false, &a), 0);
	admin_stop(a);

	/* a plain file is left alone */
	FILE *p = fopen(path, "w");
	assert_non_null(p);
	fclose(p);
	assert_int_equal(admin_start(f.d, path, false, &a), -EEXIST);
	unlink(path);

	/* too long for a Unix socket */
	char *longp = xasprintf("%s/%0200d.sock", dir, 0);
	assert_int_equal(admin_start(f.d, longp, false, &a), -ENAMETOOLONG);
	free(longp);

	/* nobody there */
	char *body, err[64];
	assert_int_equal(admin_request(path, "status", &body, err, sizeof err), -ENOENT);

	/* the /tmp fallback run directory must be ours alone */
	char *priv = xasprintf("%s/priv", dir), *link = xasprintf("%s/link", dir);
	char why[512];
	assert_int_equal(mkdir(priv, 0700), 0);
	assert_int_equal(admin_check_private_dir(priv, why, sizeof why), 0);
	assert_int_equal(chmod(priv, 0750), 0);
	assert_int_equal(admin_check_private_dir(priv, why, sizeof why), -EPERM);
	assert_non_null(strstr(why, "mode is not 0700"));
	assert_int_equal(chmod(priv, 0700), 0);
	assert_int_equal(symlink(priv, link), 0);
	assert_int_equal(admin_check_private_dir(link, why, sizeof why), -EPERM);
	if (geteuid() == 0) {
		assert_int_equal(chown(priv, 12345, 12345), 0);
		assert_int_equal(admin_check_private_dir(priv, why, sizeof why), -EPERM);
		assert_non_null(strstr(why, "another user"));
	}
	assert_int_equal(admin_check_run_dir(path, why, sizeof why), 0); /* not the fallback */
	char *fb = xasprintf("/tmp/bucketfs-%u", (unsigned)geteuid());
	if (mkdir(fb, 0755) == 0) { /* else in use: leave it alone */
		char *sock = xasprintf("%s/x.sock", fb);
		assert_int_equal(chmod(fb, 0755), 0);
		assert_int_equal(admin_check_run_dir(sock, why, sizeof why), -EPERM);
		assert_int_equal(admin_start(f.d, sock, false, &a), -EPERM);
		assert_int_equal(admin_request(sock, "status", &body0, why, sizeof why), -EPERM);
		assert_int_equal(chmod(fb, 0700), 0);
		assert_int_equal(admin_check_run_dir(sock, why, sizeof why), 0);
		rmdir(fb);
		free(sock);
	}
	free(fb);
	free(priv);
	free(link);

	/* default paths: per store and per role */
	setenv("BUCKETFS_RUN_DIR", dir, 1);
	char *w1 = admin_default_path("file:///a", false, NULL);
	char *w2 = admin_default_path("file:///b", false, NULL);
	char *r1 = admin_default_path("file:///a", true, NULL);
	char *c1 = admin_default_path("file:///a", true, "c1");
	assert_true(!strncmp(w1, dir, strlen(dir)));
	assert_string_not_equal(w1, w2);
	assert_string_not_equal(w1, r1);
	assert_string_not_equal(r1, c1);
	free(w1);
	free(w2);
	free(r1);
	free(c1);
	unsetenv("BUCKETFS_RUN_DIR");

	stackfix_done(&f);
	test_rmtree(dir);
	free(dir);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_writer_reopens_what_it_wrote),
		cmocka_unit_test(test_no_frontend_is_an_error),
		cmocka_unit_test(test_wrong_password_fails),
		cmocka_unit_test(test_replica_and_checkpoint_views),
		cmocka_unit_test(test_failed_close_commits_nothing),
		cmocka_unit_test(test_lease_format_and_judgement),
		cmocka_unit_test(test_lease_big_garbage_and_skew),
		cmocka_unit_test(test_second_writer_refused_then_takeover),
		cmocka_unit_test(test_idle_writer_sees_takeover),
		cmocka_unit_test(test_admin_requests),
		cmocka_unit_test(test_admin_bad_requests),
		cmocka_unit_test(test_admin_parse),
		cmocka_unit_test(test_admin_parse_reply),
		cmocka_unit_test(test_conf_load_text),
		cmocka_unit_test(test_admin_slow_and_many_clients),
		cmocka_unit_test(test_admin_socket_paths),
		cmocka_unit_test(test_status_while_frontends_stop),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
