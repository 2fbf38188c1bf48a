/* test-nfs-rpc.c -- the NFS server in-process on a test filesystem, spoken
 * to in raw ONC RPC over TCP: NULL, MNT, GETATTR, LOOKUP, WRITE+COMMIT
 * with the verifier, READ, garbage arguments (GARBAGE_ARGS), unknown
 * program / version / procedure, AUTH_DH (denied), a record over the cap
 * (that connection closed, the server still serves others), a read-only
 * export, and many calls in flight on one connection.  The per-procedure
 * suite runs against libnfs elsewhere; this one checks the wire itself. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "fsfix.h"
#include "nfs/nfs.h"
#include "nfs/nfs_int.h"
#include "util/buf.h"
#include "util/coding.h"

struct rig {
	struct fsfix f;
	struct nfs_server *s;
	int port;
};

static void rig_start_export(struct rig *r, bool read_only, const char *export_path)
{
	fsfix_init(&r->f, "nfs-rpc");
	if (export_path)
		fsfix_mk(&r->f, &FSFIX_ROOT, FS_ROOT_INO, export_path + 1, S_IFDIR | 0755);
	const char *listen[] = { "127.0.0.1:0", NULL };
	const char *clients[] = { "127.0.0.1/8", NULL };
	struct nfs_options o = {
		.listen = listen, .clients = clients, .squash = NFS_SQUASH_NONE,
		.anon_uid = 65534, .anon_gid = 65534, .read_only = read_only,
		.export_path = export_path,
	};
	assert_int_equal(nfs_server_start(r->f.fs, &o, &r->s), 0);
	r->port = nfs_server_port(r->s, 0);
	assert_true(r->port > 0);
	char d[128];
	nfs_server_describe(r->s, d, sizeof d);
	assert_non_null(strstr(d, "127.0.0.1:"));
}

static void rig_start(struct rig *r, bool read_only)
{
	rig_start_export(r, read_only, NULL);
}

static void rig_stop(struct rig *r)
{
	nfs_server_stop(r->s);
	fsfix_done(&r->f);
}

static int dial(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
	struct timeval tv = { 10, 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	return fd;
}

static void send_all(int fd, const void *p, size_t n)
{
	const uint8_t *q = p;
	while (n) {
		ssize_t w = send(fd, q, n, MSG_NOSIGNAL);
		if (w <= 0)
			return; /* the server may have closed: the reader sees it */
		q += w;
		n -= (size_t)w;
	}
}

/* 0 at EOF, else the bytes (all of n). */
static ssize_t recv_all(int fd, void *p, size_t n)
{
	uint8_t *q = p;
	size_t got = 0;
	while (got < n) {
		ssize_t r = recv(fd, q + got, n - got, 0);
		if (r <= 0)
			return r == 0 && got == 0 ? 0 : -1;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

/* A call: header with credentials of flavour, then args. */
static void call_begin(struct buf *b, uint32_t xid, uint32_t prog, uint32_t vers, uint32_t proc,
		       uint32_t flavor)
{
	buf_reset(b);
	xdr_put_u32(b, 0); /* record mark */
	xdr_put_u32(b, xid);
	xdr_put_u32(b, RPC_CALL);
	xdr_put_u32(b, 2);
	xdr_put_u32(b, prog);
	xdr_put_u32(b, vers);
	xdr_put_u32(b, proc);
	if (flavor == RPC_AUTH_SYS) {
		struct buf c = BUF_INIT;
		xdr_put_u32(&c, 0);
		xdr_put_opaque(&c, "test", 4);
		xdr_put_u32(&c, 0);
		xdr_put_u32(&c, 0);
		xdr_put_u32(&c, 0);
		xdr_put_u32(b, RPC_AUTH_SYS);
		xdr_put_opaque(b, c.data, c.len);
		buf_free(&c);
	} else if (flavor == RPC_AUTH_DH) {
		xdr_put_u32(b, RPC_AUTH_DH);
		xdr_put_opaque(b, "fullname-and-key", 16);
	} else {
		xdr_put_u32(b, RPC_AUTH_NONE);
		xdr_put_u32(b, 0);
	}
	xdr_put_u32(b, RPC_AUTH_NONE);
	xdr_put_u32(b, 0);
}

static void call_send(int fd, struct buf *b)
{
	be32_put(b->data, 0x80000000u | (uint32_t)(b->len - 4));
	send_all(fd, b->data, b->len);
}

/* The next reply record into *out (malloc'ed); its length, or 0 at EOF. */
static size_t reply_recv(int fd, uint8_t **out)
{
	uint8_t hdr[4];
	*out = NULL;
	if (recv_all(fd, hdr, 4) != 4)
		return 0;
	uint32_t mark = be32_get(hdr);
	assert_true(mark & 0x80000000u);
	size_t n = mark & 0x7fffffffu;
	*out = malloc(n ? n : 1);
	assert_int_equal(recv_all(fd, *out, n), (ssize_t)n);
	return n;
}

struct reply {
	uint8_t *rec;
	struct xdr x;      /* at the result, after accept_stat */
	uint32_t xid, stat;/* accept_stat, or 100 + auth_stat for AUTH_ERROR */
};

static void reply_parse(struct reply *r, uint8_t *rec, size_t n)
{
	r->rec = rec;
	r->x = xdr_make(rec, n);
	r->xid = xdr_u32(&r->x);
	assert_int_equal(xdr_u32(&r->x), RPC_REPLY);
	uint32_t rs = xdr_u32(&r->x);
	if (rs == RPC_MSG_DENIED) {
		uint32_t why = xdr_u32(&r->x);
		r->stat = why == RPC_AUTH_ERROR ? 100 + xdr_u32(&r->x) : 200;
		return;
	}
	assert_int_equal(rs, RPC_MSG_ACCEPTED);
	assert_int_equal(xdr_u32(&r->x), RPC_AUTH_NONE);
	assert_int_equal(xdr_u32(&r->x), 0);
	r->stat = xdr_u32(&r->x);
	assert_false(r->x.err);
}

static void roundtrip(int fd, struct buf *call, struct reply *r)
{
	call_send(fd, call);
	uint8_t *rec;
	size_t n = reply_recv(fd, &rec);
	assert_true(n > 0);
	reply_parse(r, rec, n);
}

static void mnt_root(int fd, struct nfs_fh *fh)
{
	struct buf b = BUF_INIT;
	struct reply r;
	call_begin(&b, 2, MOUNT_PROGRAM, 3, 1, RPC_AUTH_SYS);
	xdr_put_opaque(&b, "/", 1);
	roundtrip(fd, &b, &r);
	assert_int_equal(r.xid, 2);
	assert_int_equal(r.stat, RPC_SUCCESS);
	assert_int_equal(xdr_u32(&r.x), 0); /* MNT3_OK */
	nfs_dec_fh(&r.x, fh);
	assert_int_equal(fh->len, NFS_FH_BYTES);
	uint32_t nflav = xdr_u32(&r.x);
	assert_true(nflav >= 1);
	assert_int_equal(xdr_u32(&r.x), RPC_AUTH_SYS);
	assert_false(r.x.err);
	free(r.rec);
	buf_free(&b);
}

static void test_null_mnt_getattr_lookup(void **state)
{
	struct rig g;
	rig_start(&g, false);
	int fd = dial(g.port);
	struct buf b = BUF_INIT;
	struct reply r;

	call_begin(&b, 1, NFS_PROGRAM, 3, 0, RPC_AUTH_NONE);
	roundtrip(fd, &b, &r);
	assert_int_equal(r.xid, 1);
	assert_int_equal(r.stat, RPC_SUCCESS);
	assert_int_equal(xdr_left(&r.x), 0);
	free(r.rec);

	struct nfs_fh root;
	mnt_root(fd, &root);

	/* a subdirectory by MNT too; a missing one is MNT3ERR_NOENT */
	fsfix_mk(&g.f, &FSFIX_ROOT, FS_ROOT_INO, "sub", S_IFDIR | 0755);
	call_begin(&b, 3, MOUNT_PROGRAM, 3, 1, RPC_AUTH_SYS);
	xdr_put_opaque(&b, "/nope", 5);
	roundtrip(fd, &b, &r);
	assert_int_equal(xdr_u32(&r.x), 2);
	free(r.rec);
	call_begin(&b, 3, MOUNT_PROGRAM, 3, 1, RPC_AUTH_SYS);
	xdr_put_opaque(&b, "/sub/", 5);
	roundtrip(fd, &b, &r);
	assert_int_equal(xdr_u32(&r.x), 0);
	free(r.rec);

	/* EXPORT lists "/" */
	call_begin(&b, 4, MOUNT_PROGRAM, 3, 5, RPC_AUTH_NONE);
	roundtrip(fd, &b, &r);
	assert_true(xdr_bool(&r.x));
	uint32_t len;
	const uint8_t *p = xdr_opaque(&r.x, 100, &len);
	assert_int_equal(len, 1);
	assert_memory_equal(p, "/", 1);
	free(r.rec);

	/* GETATTR of the root: a directory, fileid 1 */
	call_begin(&b, 5, NFS_PROGRAM, 3, 1, RPC_AUTH_SYS);
	nfs3_put_fh(&b, &root);
	roundtrip(fd, &b, &r);
	assert_int_equal(r.stat, RPC_SUCCESS);
	assert_int_equal(xdr_u32(&r.x), NFS3_OK);
	assert_int_equal(xdr_u32(&r.x), 2); /* NF3DIR */
	assert_int_equal(xdr_u32(&r.x), 0755);
	for (int i = 0; i < 3; i++)
		xdr_u32(&r.x);
	xdr_u64(&r.x);
	xdr_u64(&r.x);
	xdr_u64(&r.x);
	assert_int_equal(xdr_u64(&r.x), fs_fsid(g.f.fs));
	assert_int_equal(xdr_u64(&r.x), FS_ROOT_INO);
	free(r.rec);

	/* LOOKUP: missing, then present */
	call_begin(&b, 6, NFS_PROGRAM, 3, 3, RPC_AUTH_SYS);
	nfs3_put_fh(&b, &root);
	xdr_put_opaque(&b, "file", 4);
	roundtrip(fd, &b, &r);
	assert_int_equal(xdr_u32(&r.x), NFS3ERR_NOENT);
	assert_true(xdr_bool(&r.x)); /* the directory's attributes */
	free(r.rec);
	uint64_t ino = fsfix_mk(&g.f, &FSFIX_ROOT, FS_ROOT_INO, "file", S_IFREG | 0644);
	roundtrip(fd, &b, &r);
	assert_int_equal(xdr_u32(&r.x), NFS3_OK);
	struct nfs_fh fh;
	nfs_dec_fh(&r.x, &fh);
	assert_int_equal(fh.len, NFS_FH_BYTES);
	assert_int_equal(be64_get(fh.data + 12), ino);
	free(r.rec);

	/* a forged handle is BADHANDLE */
	fh.data[30] ^= 0x40;
	call_begin(&b, 7, NFS_PROGRAM, 3, 1, RPC_AUTH_SYS);
	nfs3_put_fh(&b, &fh);
	roundtrip(fd, &b, &r);
	assert_int_equal(xdr_u32(&r.x), NFS3ERR_BADHANDLE);
	free(r.rec);

	close(fd);
	buf_free(&b);
	rig_stop(&g);
}

/* A WRITE with FILE_SYNC says so and carries the verifier COMMIT does;
 * a READ sees the bytes and eof. */
static void test_write_commit_read(void **state)
{
	struct rig g;
	rig_start(&g, false);
	int fd = dial(g.port);
	struct nfs_fh root, fh;
	mnt_root(fd, &root);
	struct fs_attr a;
	bool created;
	assert_int_equal(fs_create(g.f.fs, &FSFIX_ROOT, FS_ROOT_INO, "w", S_IFREG | 0644,
				   O_CREAT | FS_CREATE_NOOPEN, NULL, &a, &created, NULL), 0);
	struct nfs_handles h = { .fsid = fs_fsid(g.f.fs) };
	fs_handle_key(g.f.fs, h.key);
	nfs_handle_make(&h, a.ino, a.generation, &fh);
	uint8_t verf[8];
	fs_write_verifier(g.f.fs, verf);

	struct buf b = BUF_INIT;
	struct reply r;
	for (uint32_t stable = 0; stable <= 2; stable++) {
		call_begin(&b, 10 + stable, NFS_PROGRAM, 3, 7, RPC_AUTH_SYS);
		nfs3_put_fh(&b, &fh);
		xdr_put_u64(&b, stable * 5);
		xdr_put_u32(&b, 5);
		xdr_put_u32(&b, stable);
		xdr_put_opaque(&b, "hello", 5);
		roundtrip(fd, &b, &r);
		assert_int_equal(xdr_u32(&r.x), NFS3_OK);
		assert_true(xdr_bool(&r.x)); /* pre-op */
		assert_int_equal(xdr_u64(&r.x), stable * 5);
		xdr_fixed(&r.x, 16);
		assert_true(xdr_bool(&r.x)); /* post-op */
		xdr_fixed(&r.x, NFS3_FATTR_BYTES);
		assert_int_equal(xdr_u32(&r.x), 5);
		assert_int_equal(xdr_u32(&r.x), stable ? 2 : 0); /* committed */
		assert_memory_equal(xdr_fixed(&r.x, 8), verf, 8);
		assert_false(r.x.err);
		free(r.rec);
	}
	call_begin(&b, 20, NFS_PROGRAM, 3, 21, RPC_AUTH_SYS);
	nfs3_put_fh(&b, &fh);
	xdr_put_u64(&b, 0);
	xdr_put_u32(&b, 0);
	roundtrip(fd, &b, &r);
	assert_int_equal(xdr_u32(&r.x), NFS3_OK);
	if (xdr_bool(&r.x))
		xdr_fixed(&r.x, 24);
	if (xdr_bool(&r.x))
		xdr_fixed(&r.x, NFS3_FATTR_BYTES);
	assert_memory_equal(xdr_fixed(&r.x, 8), verf, 8);
	free(r.rec);

	call_begin(&b, 21, NFS_PROGRAM, 3, 6, RPC_AUTH_SYS);
	nfs3_put_fh(&b, &fh);
	xdr_put_u64(&b, 3);
	xdr_put_u32(&b, 100);
	roundtrip(fd, &b, &r);
	assert_int_equal(xdr_u32(&r.x), NFS3_OK);
	assert_true(xdr_bool(&r.x));
	xdr_fixed(&r.x, NFS3_FATTR_BYTES);
	assert_int_equal(xdr_u32(&r.x), 12);
	assert_true(xdr_bool(&r.x)); /* eof */
	uint32_t len;
	const uint8_t *p = xdr_opaque(&r.x, 100, &len);
	assert_int_equal(len, 12);
	assert_memory_equal(p, "lohellohello", 12);
	assert_int_equal(xdr_left(&r.x), 0);
	free(r.rec);
	close(fd);
	buf_free(&b);
	rig_stop(&g);
}

static void test_rpc_errors(void **state)
{
	struct rig g;
	rig_start(&g, false);
	int fd = dial(g.port);
	struct buf b = BUF_INIT;
	struct reply r;

	/* GETATTR whose handle is cut short */
	call_begin(&b, 30, NFS_PROGRAM, 3, 1, RPC_AUTH_SYS);
	xdr_put_u32(&b, 36);
	xdr_put_u32(&b, 0);
	roundtrip(fd, &b, &r);
	assert_int_equal(r.xid, 30);
	assert_int_equal(r.stat, RPC_GARBAGE_ARGS);
	free(r.rec);

	call_begin(&b, 31, 100099, 1, 0, RPC_AUTH_SYS);
	roundtrip(fd, &b, &r);
	assert_int_equal(r.stat, RPC_PROG_UNAVAIL);
	free(r.rec);

	call_begin(&b, 32, NFS_PROGRAM, 4, 0, RPC_AUTH_SYS);
	roundtrip(fd, &b, &r);
	assert_int_equal(r.stat, RPC_PROG_MISMATCH);
	assert_int_equal(xdr_u32(&r.x), 3);
	assert_int_equal(xdr_u32(&r.x), 3);
	free(r.rec);

	call_begin(&b, 33, NFS_PROGRAM, 3, 22, RPC_AUTH_SYS);
	roundtrip(fd, &b, &r);
	assert_int_equal(r.stat, RPC_PROC_UNAVAIL);
	free(r.rec);

	call_begin(&b, 34, MOUNT_PROGRAM, 3, 6, RPC_AUTH_SYS);
	roundtrip(fd, &b, &r);
	assert_int_equal(r.stat, RPC_PROC_UNAVAIL);
	free(r.rec);

	call_begin(&b, 35, NFS_PROGRAM, 3, 0, RPC_AUTH_DH);
	roundtrip(fd, &b, &r);
	assert_int_equal(r.xid, 35);
	assert_int_equal(r.stat, 100 + RPC_AUTH_TOOWEAK);
	free(r.rec);

	/* rpcvers 3: RPC_MISMATCH 2..2 */
	call_begin(&b, 36, NFS_PROGRAM, 3, 0, RPC_AUTH_NONE);
	be32_put(b.data + 12, 3);
	roundtrip(fd, &b, &r);
	assert_int_equal(r.stat, 200);
	free(r.rec);

	/* still serving on this connection */
	call_begin(&b, 37, NFS_PROGRAM, 3, 0, RPC_AUTH_NONE);
	roundtrip(fd, &b, &r);
	assert_int_equal(r.stat, RPC_SUCCESS);
	free(r.rec);
	close(fd);
	buf_free(&b);
	rig_stop(&g);
}

/* A 2 MiB record: that connection is closed; another is served. */
static void test_oversized_record(void **state)
{
	struct rig g;
	rig_start(&g, false);
	int bad = dial(g.port), good = dial(g.port);
	size_t n = 2u << 20;
	uint8_t *big = calloc(1, n + 4);
	be32_put(big, 0x80000000u | (uint32_t)n);
	send_all(bad, big, n + 4);
	uint8_t *rec;
	assert_int_equal(reply_recv(bad, &rec), 0); /* EOF, no reply */
	free(big);
	struct buf b = BUF_INIT;
	struct reply r;
	call_begin(&b, 40, NFS_PROGRAM, 3, 0, RPC_AUTH_NONE);
	roundtrip(good, &b, &r);
	assert_int_equal(r.stat, RPC_SUCCESS);
	free(r.rec);
	close(bad);
	close(good);
	buf_free(&b);
	rig_stop(&g);
}

/* Many calls sent before any reply is read: every xid answered once. */
static void test_pipelined(void **state)
{
	struct rig g;
	rig_start(&g, false);
	int fd = dial(g.port);
	struct nfs_fh root;
	mnt_root(fd, &root);
	struct buf b = BUF_INIT;
	enum { N = 64 };
	for (uint32_t i = 0; i < N; i++) {
		call_begin(&b, 1000 + i, NFS_PROGRAM, 3, i % 2 ? 1 : 19, RPC_AUTH_SYS);
		nfs3_put_fh(&b, &root);
		call_send(fd, &b);
	}
	bool seen[N] = { false };
	for (int i = 0; i < N; i++) {
		uint8_t *rec;
		size_t n = reply_recv(fd, &rec);
		assert_true(n > 0);
		struct reply r;
		reply_parse(&r, rec, n);
		assert_true(r.xid >= 1000 && r.xid < 1000 + N);
		assert_false(seen[r.xid - 1000]);
		seen[r.xid - 1000] = true;
		assert_int_equal(xdr_u32(&r.x), NFS3_OK);
		free(rec);
	}
	close(fd);
	buf_free(&b);
	rig_stop(&g);
}

/* A READ's reply buffer is about its length (the connection's budget
 * counts that), not doubled, nor sized for bytes past the end of file. */
static size_t read_reply_cap(struct rig *g, const struct nfs_fh *fh, uint64_t off, uint32_t count,
			     size_t *len)
{
	struct buf args = BUF_INIT;
	nfs3_put_fh(&args, fh);
	xdr_put_u64(&args, off);
	xdr_put_u32(&args, count);
	struct nfs_req rq;
	memset(&rq, 0, sizeof rq);
	rq.srv = g->s;
	rq.call = (struct rpc_call){ .xid = 7, .prog = NFS_PROGRAM, .vers = 3, .proc = 6,
				     .flavor = RPC_AUTH_SYS };
	rq.args = xdr_make(args.data, args.len);
	nfs_dispatch(&rq);
	struct xdr x = xdr_make(rq.out.data + 4 + 24, rq.out.len - 4 - 24);
	assert_int_equal(xdr_u32(&x), NFS3_OK);
	size_t cap = rq.out.cap;
	*len = rq.out.len;
	buf_free(&rq.out);
	buf_free(&args);
	return cap;
}

static void test_read_reply_size(void **state)
{
	struct rig g;
	rig_start(&g, false);
	struct fs_attr a;
	bool created;
	assert_int_equal(fs_create(g.f.fs, &FSFIX_ROOT, FS_ROOT_INO, "big", S_IFREG | 0644,
				   O_CREAT | FS_CREATE_NOOPEN, NULL, &a, &created, NULL), 0);
	size_t n = NFS_MAXDATA, put;
	uint8_t *data = calloc(1, n);
	memset(data, 'b', n);
	assert_int_equal(fs_write_as(g.f.fs, &FSFIX_ROOT, a.ino, 0, data, n, &put, NULL), 0);
	struct nfs_fh fh;
	nfs_handle_make(&g.s->handles, a.ino, a.generation, &fh);
	size_t len, cap = read_reply_cap(&g, &fh, 0, NFS_MAXDATA, &len);
	assert_true(len > NFS_MAXDATA);
	assert_true(cap < len + 4096);
	cap = read_reply_cap(&g, &fh, NFS_MAXDATA - 10, NFS_MAXDATA, &len);
	assert_true(cap < 4096);     /* 10 bytes left */
	cap = read_reply_cap(&g, &fh, 5 * NFS_MAXDATA, NFS_MAXDATA, &len);
	assert_true(cap < 4096);     /* past the end */
	free(data);
	rig_stop(&g);
}

/* READDIR pages through a directory with the core's cookies: every name
 * once, eof on the last page; a resumed listing with another verifier is
 * BAD_COOKIE (a zero one is not), a count too small for one entry TOOSMALL.  READDIRPLUS
 * hands out handles that work. */
static void test_readdir(void **state)
{
	struct rig g;
	rig_start(&g, false);
	int fd = dial(g.port);
	struct nfs_fh root;
	mnt_root(fd, &root);
	enum { N = 60 };
	for (int i = 0; i < N; i++) {
		char name[32];
		snprintf(name, sizeof name, "entry-%03d", i);
		fsfix_mk(&g.f, &FSFIX_ROOT, FS_ROOT_INO, name, S_IFREG | 0644);
	}
	uint64_t verf;
	assert_int_equal(fs_readdir_verifier(g.f.fs, FS_ROOT_INO, &verf), 0);
	struct buf b = BUF_INIT;
	struct reply r;
	int seen[N] = { 0 }, pages = 0, dots = 0;
	uint64_t cookie = 0, cverf = 0;
	bool eof = false;
	while (!eof) {
		call_begin(&b, 60, NFS_PROGRAM, 3, 16, RPC_AUTH_SYS);
		nfs3_put_fh(&b, &root);
		xdr_put_u64(&b, cookie);
		xdr_put_u64(&b, cverf);
		xdr_put_u32(&b, 512);
		roundtrip(fd, &b, &r);
		assert_int_equal(xdr_u32(&r.x), NFS3_OK);
		assert_true(xdr_bool(&r.x));
		xdr_fixed(&r.x, NFS3_FATTR_BYTES);
		cverf = xdr_u64(&r.x);
		assert_int_equal(cverf, verf);
		int here = 0;
		while (xdr_bool(&r.x)) {
			xdr_u64(&r.x);
			uint32_t len;
			const uint8_t *p = xdr_opaque(&r.x, 255, &len);
			cookie = xdr_u64(&r.x);
			assert_false(r.x.err);
			here++;
			int i;
			if (len == 9 && sscanf((const char *)p, "entry-%03d", &i) == 1)
				seen[i]++;
			else
				dots++;
		}
		eof = xdr_bool(&r.x);
		assert_false(r.x.err);
		assert_int_equal(xdr_left(&r.x), 0);
		assert_true(here > 0);
		assert_true(r.x.p - r.rec <= 512 + 28); /* count bounds the reply */
		free(r.rec);
		pages++;
		assert_true(pages < 100);
	}
	assert_true(pages > 2);
	assert_int_equal(dots, 2);
	for (int i = 0; i < N; i++)
		assert_int_equal(seen[i], 1);

	call_begin(&b, 61, NFS_PROGRAM, 3, 16, RPC_AUTH_SYS);
	nfs3_put_fh(&b, &root);
	xdr_put_u64(&b, 3);
	xdr_put_u64(&b, verf + 1);
	xdr_put_u32(&b, 4096);
	roundtrip(fd, &b, &r);
	assert_int_equal(xdr_u32(&r.x), NFS3ERR_BAD_COOKIE);
	free(r.rec);

	/* A zero verifier resumes: Linux zeroes its copy when it drops its
	 * cache of a directory that changed under a listing (rm -rf). */
	call_begin(&b, 65, NFS_PROGRAM, 3, 16, RPC_AUTH_SYS);
	nfs3_put_fh(&b, &root);
	xdr_put_u64(&b, 3);
	xdr_put_u64(&b, 0);
	xdr_put_u32(&b, 4096);
	roundtrip(fd, &b, &r);
	assert_int_equal(xdr_u32(&r.x), NFS3_OK);
	free(r.rec);

	call_begin(&b, 62, NFS_PROGRAM, 3, 16, RPC_AUTH_SYS);
	nfs3_put_fh(&b, &root);
	xdr_put_u64(&b, 0);
	xdr_put_u64(&b, 0);
	xdr_put_u32(&b, 100);
	roundtrip(fd, &b, &r);
	assert_int_equal(xdr_u32(&r.x), NFS3ERR_TOOSMALL);
	free(r.rec);

	/* READDIRPLUS: the first real entry's handle works for GETATTR */
	call_begin(&b, 63, NFS_PROGRAM, 3, 17, RPC_AUTH_SYS);
	nfs3_put_fh(&b, &root);
	xdr_put_u64(&b, 2);
	xdr_put_u64(&b, verf);
	xdr_put_u32(&b, 4096);
	xdr_put_u32(&b, 8192);
	roundtrip(fd, &b, &r);
	assert_int_equal(xdr_u32(&r.x), NFS3_OK);
	assert_true(xdr_bool(&r.x));
	xdr_fixed(&r.x, NFS3_FATTR_BYTES);
	xdr_u64(&r.x);
	assert_true(xdr_bool(&r.x));
	uint64_t fileid = xdr_u64(&r.x);
	uint32_t len;
	xdr_opaque(&r.x, 255, &len);
	xdr_u64(&r.x);
	assert_true(xdr_bool(&r.x));
	xdr_fixed(&r.x, NFS3_FATTR_BYTES);
	assert_true(xdr_bool(&r.x));
	struct nfs_fh fh;
	nfs_dec_fh(&r.x, &fh);
	assert_false(r.x.err);
	free(r.rec);
	call_begin(&b, 64, NFS_PROGRAM, 3, 1, RPC_AUTH_SYS);
	nfs3_put_fh(&b, &fh);
	roundtrip(fd, &b, &r);
	assert_int_equal(xdr_u32(&r.x), NFS3_OK);
	xdr_fixed(&r.x, 4 * 5 + 8 * 4);
	assert_int_equal(xdr_u64(&r.x), fileid);
	free(r.rec);
	close(fd);
	buf_free(&b);
	rig_stop(&g);
}

/* An export below the root: MNT of "/" is refused, MNT of it works, and
 * neither LOOKUP ".." nor READDIRPLUS's ".." leads out of it. */
static void test_sub_export(void **state)
{
	struct rig g;
	rig_start_export(&g, false, "/sub");
	int fd = dial(g.port);
	struct buf b = BUF_INIT;
	struct reply r;
	call_begin(&b, 70, MOUNT_PROGRAM, 3, 1, RPC_AUTH_SYS);
	xdr_put_opaque(&b, "/", 1);
	roundtrip(fd, &b, &r);
	assert_int_equal(xdr_u32(&r.x), 2); /* MNT3ERR_NOENT */
	free(r.rec);
	call_begin(&b, 71, MOUNT_PROGRAM, 3, 1, RPC_AUTH_SYS);
	xdr_put_opaque(&b, "/sub", 4);
	roundtrip(fd, &b, &r);
	assert_int_equal(xdr_u32(&r.x), 0);
	struct nfs_fh top;
	nfs_dec_fh(&r.x, &top);
	free(r.rec);
	uint64_t sub_ino = be64_get(top.data + 12);
	assert_int_not_equal(sub_ino, FS_ROOT_INO);

	call_begin(&b, 72, NFS_PROGRAM, 3, 3, RPC_AUTH_SYS);
	nfs3_put_fh(&b, &top);
	xdr_put_opaque(&b, "..", 2);
	roundtrip(fd, &b, &r);
	assert_int_equal(xdr_u32(&r.x), NFS3_OK);
	struct nfs_fh up;
	nfs_dec_fh(&r.x, &up);
	assert_int_equal(be64_get(up.data + 12), sub_ino);
	free(r.rec);

	call_begin(&b, 73, NFS_PROGRAM, 3, 17, RPC_AUTH_SYS);
	nfs3_put_fh(&b, &top);
	xdr_put_u64(&b, 0);
	xdr_put_u64(&b, 0);
	xdr_put_u32(&b, 4096);
	xdr_put_u32(&b, 8192);
	roundtrip(fd, &b, &r);
	assert_int_equal(xdr_u32(&r.x), NFS3_OK);
	assert_true(xdr_bool(&r.x));
	xdr_fixed(&r.x, NFS3_FATTR_BYTES);
	xdr_u64(&r.x);
	int entries = 0;
	while (xdr_bool(&r.x) && !r.x.err) {
		uint64_t fileid = xdr_u64(&r.x);
		uint32_t len;
		const uint8_t *name = xdr_opaque(&r.x, 255, &len);
		xdr_u64(&r.x);
		if (xdr_bool(&r.x))
			xdr_fixed(&r.x, NFS3_FATTR_BYTES);
		struct nfs_fh fh = { 0 };
		if (xdr_bool(&r.x))
			nfs_dec_fh(&r.x, &fh);
		assert_false(r.x.err);
		assert_int_equal(fileid, sub_ino); /* "." and "..": both the export */
		assert_int_equal(be64_get(fh.data + 12), sub_ino);
		assert_true(len <= 2 && name[0] == '.');
		entries++;
	}
	assert_int_equal(entries, 2);
	free(r.rec);
	close(fd);
	buf_free(&b);
	rig_stop(&g);
}

/* A read-only export: a mutation is ROFS, with the directory's wcc. */
static void test_read_only(void **state)
{
	struct rig g;
	rig_start(&g, true);
	int fd = dial(g.port);
	struct nfs_fh root;
	mnt_root(fd, &root);
	struct buf b = BUF_INIT;
	struct reply r;
	call_begin(&b, 50, NFS_PROGRAM, 3, 9, RPC_AUTH_SYS); /* MKDIR */
	nfs3_put_fh(&b, &root);
	xdr_put_opaque(&b, "d", 1);
	for (int i = 0; i < 6; i++)
		xdr_put_u32(&b, 0); /* empty sattr3 */
	roundtrip(fd, &b, &r);
	assert_int_equal(xdr_u32(&r.x), NFS3ERR_ROFS);
	assert_true(xdr_bool(&r.x)); /* pre-op = post-op: nothing changed */
	xdr_fixed(&r.x, 24);
	assert_true(xdr_bool(&r.x));  /* post-op of the directory */
	free(r.rec);
	struct fs_attr a;
	assert_int_equal(fs_lookup(g.f.fs, &FSFIX_ROOT, FS_ROOT_INO, "d", &a), -ENOENT);
	close(fd);
	buf_free(&b);
	rig_stop(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_null_mnt_getattr_lookup),
		cmocka_unit_test(test_write_commit_read),
		cmocka_unit_test(test_rpc_errors),
		cmocka_unit_test(test_oversized_record),
		cmocka_unit_test(test_pipelined),
		cmocka_unit_test(test_read_reply_size),
		cmocka_unit_test(test_readdir),
		cmocka_unit_test(test_sub_export),
		cmocka_unit_test(test_read_only),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
