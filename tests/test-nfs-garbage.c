/* test-nfs-garbage.c -- bad and hostile RPC traffic on raw TCP against
 * `bucketfs run --nfs`: truncated records, a fragment header claiming
 * 2 GiB, records of 2 MiB (one fragment and many), seeded random bytes in
 * valid record marks, calls to a bogus program / version / procedure
 * (PROG_UNAVAIL, PROG_MISMATCH, PROC_UNAVAIL, RPC_MISMATCH), bad
 * credentials (AUTH_ERROR, 17 AUTH_SYS groups), truncated and
 * oversized arguments (GARBAGE_ARGS).  After each case another connection
 * must get NULL answered within a few seconds and the daemon must live.
 * Then: 64 GETATTRs pipelined on one connection are all answered with
 * matching xids, and a client that sends 10,000 READs of 1 MiB and never
 * reads (small SO_RCVBUF) stalls nobody else and does not make the daemon
 * buffer gigabytes.
 *
 * The RPC messages are built by hand here (RFC 5531 / RFC 1813 XDR), so
 * exactly the bytes we mean go out.  TEST_SEED replays the random cases. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <netinet/tcp.h>

#include "testutil.h"
#include "nfsfix.h"

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

static void finish(void)
{
	int n = nfails;
	nfails = 0;
	if (n)
		printf("# %d check(s) failed\n", n);
	assert_int_equal(n, 0);
}

#define NFS_PROG 100003
#define MOUNT_PROG 100005
#define AUTH_NONE_FLAVOR 0
#define AUTH_SYS_FLAVOR 1

/* ---- XDR by hand ---- */

struct xb {
	uint8_t *p;
	size_t n, cap;
};

static void xb_u32(struct xb *b, uint32_t v)
{
	if (b->n + 4 > b->cap) {
		b->cap = b->cap ? b->cap * 2 : 1024;
		b->p = realloc(b->p, b->cap);
	}
	b->p[b->n++] = v >> 24;
	b->p[b->n++] = v >> 16;
	b->p[b->n++] = v >> 8;
	b->p[b->n++] = v;
}

static void xb_u64(struct xb *b, uint64_t v)
{
	xb_u32(b, v >> 32);
	xb_u32(b, (uint32_t)v);
}

static void xb_raw(struct xb *b, const void *d, size_t len)
{
	while (b->n + len + 4 > b->cap) {
		b->cap = b->cap ? b->cap * 2 : 1024;
		b->p = realloc(b->p, b->cap);
	}
	memcpy(b->p + b->n, d, len);
	b->n += len;
}

static void xb_opaque(struct xb *b, const void *d, uint32_t len)
{
	static const uint8_t zero[4];
	xb_u32(b, len);
	xb_raw(b, d, len);
	xb_raw(b, zero, (4 - len % 4) % 4);
}

/* An AUTH_SYS credential body with ngroups groups. */
static void auth_sys_body(struct xb *b, uint32_t uid, uint32_t gid, uint32_t ngroups)
{
	xb_u32(b, 12345);                 /* stamp */
	xb_opaque(b, "garbage", 7);       /* machinename */
	xb_u32(b, uid);
	xb_u32(b, gid);
	xb_u32(b, ngroups);
	for (uint32_t i = 0; i < ngroups; i++)
		xb_u32(b, 100 + i);
}

/* The call header: xid, CALL, rpcvers, prog, vers, proc, cred, verf
 * (AUTH_NONE).  cred_flavor AUTH_SYS with cred NULL: root's AUTH_SYS. */
static void call_hdr(struct xb *b, uint32_t xid, uint32_t rpcvers, uint32_t prog, uint32_t vers,
		     uint32_t proc, uint32_t cred_flavor, const struct xb *cred)
{
	xb_u32(b, xid);
	xb_u32(b, 0);          /* CALL */
	xb_u32(b, rpcvers);
	xb_u32(b, prog);
	xb_u32(b, vers);
	xb_u32(b, proc);
	xb_u32(b, cred_flavor);
	if (cred) {
		xb_opaque(b, cred->p, cred->n);
	} else if (cred_flavor == AUTH_SYS_FLAVOR) {
		struct xb c = { 0 };
		auth_sys_body(&c, 0, 0, 0);
		xb_opaque(b, c.p, c.n);
		free(c.p);
	} else {
		xb_u32(b, 0);
	}
	xb_u32(b, AUTH_NONE_FLAVOR);
	xb_u32(b, 0);
}

static void std_call(struct xb *b, uint32_t xid, uint32_t prog, uint32_t vers, uint32_t proc)
{
	call_hdr(b, xid, 2, prog, vers, proc, AUTH_SYS_FLAVOR, NULL);
}

/* ---- sockets ---- */

static struct nfsd d;
static int port;
static struct test_rng rng;
static uint8_t rootfh[64];
static uint32_t rootfh_len;

static int send_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;
	while (n) {
		ssize_t k = send(fd, b, n, MSG_NOSIGNAL);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		b += k;
		n -= k;
	}
	return 0;
}

/* One record in one fragment. */
static int send_record(int fd, const struct xb *b)
{
	uint8_t m[4];
	uint32_t v = 0x80000000u | (uint32_t)b->n;
	m[0] = v >> 24; m[1] = v >> 16; m[2] = v >> 8; m[3] = v;
	if (send_all(fd, m, 4))
		return -1;
	return send_all(fd, b->p, b->n);
}

/* Read exactly n bytes within the deadline: 0, -1 on EOF/error, -2 on timeout. */
static int read_full(int fd, void *p, size_t n, double deadline)
{
	uint8_t *b = p;
	while (n) {
		int ms = (int)((deadline - nfsfix_now()) * 1000);
		if (ms <= 0)
			return -2;
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		int r = poll(&pf, 1, ms);
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0)
			return -2;
		ssize_t k = recv(fd, b, n, 0);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		b += k;
		n -= k;
	}
	return 0;
}

/* A reply record (fragments joined, at most 4 MiB) into *out. */
static int read_record(int fd, struct xb *out, double timeout)
{
	double deadline = nfsfix_now() + timeout;
	out->n = 0;
	for (;;) {
		uint8_t m[4];
		int r = read_full(fd, m, 4, deadline);
		if (r)
			return r;
		uint32_t v = (uint32_t)m[0] << 24 | m[1] << 16 | m[2] << 8 | m[3];
		uint32_t len = v & 0x7fffffff;
		if (out->n + len > (4u << 20))
			return -3;
		if (out->n + len > out->cap) {
			out->cap = out->n + len;
			out->p = realloc(out->p, out->cap);
		}
		r = read_full(fd, out->p + out->n, len, deadline);
		if (r)
			return r;
		out->n += len;
		if (v & 0x80000000u)
			return 0;
	}
}

struct reply {
	uint32_t xid;
	uint32_t reply_stat;     /* 0 MSG_ACCEPTED, 1 MSG_DENIED */
	uint32_t stat;           /* accept_stat, or reject_stat */
	uint32_t a, b;           /* mismatch low/high, or auth_stat in a */
	const uint8_t *res;      /* the results after an accepted SUCCESS */
	size_t res_len;
};

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3];
}

static int parse_reply(const struct xb *rec, struct reply *r)
{
	const uint8_t *p = rec->p;
	size_t n = rec->n;
	memset(r, 0, sizeof *r);
	if (n < 12 || get32(p + 4) != 1)
		return -1;
	r->xid = get32(p);
	r->reply_stat = get32(p + 8);
	p += 12;
	n -= 12;
	if (r->reply_stat == 0) {
		if (n < 8)
			return -1;
		uint32_t vlen = get32(p + 4);
		size_t skip = 8 + ((vlen + 3) & ~3u);
		if (n < skip + 4)
			return -1;
		p += skip;
		n -= skip;
		r->stat = get32(p);
		p += 4;
		n -= 4;
		if (r->stat == 2 && n >= 8) {
			r->a = get32(p);
			r->b = get32(p + 4);
		}
		r->res = p;
		r->res_len = n;
		return 0;
	}
	if (r->reply_stat == 1) {
		if (n < 4)
			return -1;
		r->stat = get32(p);
		if (r->stat == 0 && n >= 12) {
			r->a = get32(p + 4);
			r->b = get32(p + 8);
		} else if (r->stat == 1 && n >= 8) {
			r->a = get32(p + 4);
		}
		return 0;
	}
	return -1;
}

/* Send the call in b on a fresh connection and read its reply.  0 with
 * *r filled; -1 if the connection closed without a reply (noted in
 * *closed), -2 on a timeout. */
static int call_once(const struct xb *b, struct reply *r, struct xb *rec, bool *closed)
{
	int fd = nfsfix_connect(port);
	*closed = false;
	if (fd < 0)
		return -1;
	int rc = -1;
	if (send_record(fd, b) == 0) {
		rc = read_record(fd, rec, 10);
		if (rc == 0)
			rc = parse_reply(rec, r) ? -1 : 0;
		else if (rc == -1)
			*closed = true;
	}
	close(fd);
	return rc;
}

/* The server still serves: a NULL call on a new connection is answered
 * within 5 s; and the daemon lives. */
static void still_serves_(const char *fn, int line, const char *after)
{
	struct xb b = { 0 }, rec = { 0 };
	struct reply r;
	std_call(&b, 0x5eed, NFS_PROG, 3, 0);
	double t0 = nfsfix_now();
	int fd = nfsfix_connect(port);
	int rc = -1;
	if (fd >= 0) {
		if (send_record(fd, &b) == 0 && read_record(fd, &rec, 5) == 0 && parse_reply(&rec, &r) == 0)
			rc = r.xid == 0x5eed && r.reply_stat == 0 && r.stat == 0 ? 0 : -2;
		close(fd);
	}
	if (rc) {
		nfails++;
		printf("# FAIL %s:%d: after %s: NULL on another connection %s (%.1f s)\n", fn, line, after,
		       rc == -2 ? "got a wrong reply" : "was not answered", nfsfix_now() - t0);
	}
	int st;
	if (d.pid > 0 && waitpid(d.pid, &st, WNOHANG) == d.pid) {
		nfails++;
		printf("# FAIL %s:%d: after %s: the daemon died (status 0x%x)\n", fn, line, after, st);
		d.pid = 0;
		nfsd_show_log(&d);
	}
	free(b.p);
	free(rec.p);
	fflush(stdout);
}
#define still_serves(after) still_serves_(__func__, __LINE__, after)

/* The connection is closed by the server within timeout seconds (reads
 * give EOF or a reset; whatever it sent before is drained). */
static bool closed_within(int fd, double timeout)
{
	double end = nfsfix_now() + timeout;
	char buf[65536];
	while (nfsfix_now() < end) {
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		int r = poll(&pf, 1, 100);
		if (r > 0) {
			ssize_t k = recv(fd, buf, sizeof buf, 0);
			if (k <= 0)
				return true;
		}
	}
	return false;
}

static long daemon_rss_kib(void)
{
	char path[64], line[256];
	long kib = 0;
	if (d.pid <= 0)
		return 0;
	snprintf(path, sizeof path, "/proc/%d/status", (int)d.pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "VmRSS: %ld", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

/* ---- setup: a daemon, and the root handle through a raw MNT ---- */

static int group_setup(void **state)
{
	(void)state;
	signal(SIGPIPE, SIG_IGN);
	rng.s = test_seed("test-nfs-garbage");
	/* NFS_TEST_PORT (+ NFS_TEST_MOUNTPORT, NFS_TEST_EXPORT): another
	 * server on 127.0.0.1, a development aid */
	const char *ep = getenv("NFS_TEST_PORT"), *mp = getenv("NFS_TEST_MOUNTPORT");
	const char *exp = getenv("NFS_TEST_EXPORT") ? getenv("NFS_TEST_EXPORT") : "/";
	if (ep && *ep) {
		port = atoi(ep);
		printf("# against an external server on port %s\n", ep);
	} else {
		nfsd_prepare(&d, "nfsgarbage", "[nfs]\nsquash = \"none\"\n");
		if (nfsd_start(&d, NULL, NULL))
			return -1;
		port = d.port;
		printf("# daemon on port %d (%s)\n", port, d.dir);
	}
	int nfsport = port;
	if (mp && *mp)
		port = atoi(mp);

	struct xb b = { 0 }, rec = { 0 };
	struct reply r;
	bool closed;
	std_call(&b, 1, MOUNT_PROG, 3, 1);
	xb_opaque(&b, exp, strlen(exp));
	int rc = call_once(&b, &r, &rec, &closed);
	port = nfsport;
	if (rc || r.reply_stat || r.stat || r.res_len < 8 || get32(r.res)) {
		printf("# MNT %s failed\n", exp);
		return -1;
	}
	rootfh_len = get32(r.res + 4);
	if (rootfh_len == 0 || rootfh_len > 64 || r.res_len < 8 + rootfh_len) {
		printf("# MNT gave a handle of %u bytes\n", rootfh_len);
		return -1;
	}
	memcpy(rootfh, r.res + 8, rootfh_len);
	free(b.p);
	free(rec.p);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	nfsd_cleanup(&d);
	return 0;
}

/* ---- record marking ---- */

static void t_records(void **state)
{
	(void)state;
	struct xb b = { 0 };
	uint8_t m[4];
	int fd;

	/* a truncated record, then EOF */
	std_call(&b, 7, NFS_PROG, 3, 0);
	fd = nfsfix_connect(port);
	m[0] = 0x80; m[1] = 0; m[2] = 0; m[3] = 100;
	send_all(fd, m, 4);
	send_all(fd, b.p, b.n);   /* 40 of the 100 bytes announced */
	close(fd);
	still_serves("a truncated record and EOF");

	/* a truncated record on a connection kept open: others go on */
	fd = nfsfix_connect(port);
	send_all(fd, m, 4);
	send_all(fd, b.p, b.n);
	still_serves("a truncated record on a connection left open");
	close(fd);

	/* half a record mark */
	fd = nfsfix_connect(port);
	send_all(fd, m, 2);
	still_serves("half a record mark on a connection left open");
	close(fd);

	/* a fragment header claiming 2 GiB: closed, nothing allocated */
	long rss0 = daemon_rss_kib();
	fd = nfsfix_connect(port);
	m[0] = 0xff; m[1] = 0xff; m[2] = 0xff; m[3] = 0xff;
	send_all(fd, m, 4);
	send_all(fd, b.p, b.n);
	CHECK(closed_within(fd, 5), "a fragment header of 2 GiB - 1: the connection was not closed within 5 s");
	close(fd);
	still_serves("a 2 GiB fragment header");
	/* a last-fragment bit clear with 2 GiB in a chain of fragments */
	fd = nfsfix_connect(port);
	m[0] = 0x7f; m[1] = 0xff; m[2] = 0xff; m[3] = 0xff;
	send_all(fd, m, 4);
	CHECK(closed_within(fd, 5), "a non-last fragment of 2 GiB - 1: the connection was not closed within 5 s");
	close(fd);
	long rss1 = daemon_rss_kib();
	CHECK(rss1 < rss0 + 512 * 1024, "the daemon's RSS grew from %ld to %ld KiB on 2 GiB headers", rss0, rss1);
	still_serves("a 2 GiB non-last fragment");

	/* a 2 MiB record in one fragment: a NULL call with 2 MiB of padding */
	{
		struct xb big = { 0 };
		std_call(&big, 8, NFS_PROG, 3, 0);
		size_t pad = (2u << 20) - big.n;
		uint8_t *z = calloc(1, pad);
		xb_raw(&big, z, pad);
		free(z);
		fd = nfsfix_connect(port);
		int sr = send_record(fd, &big);
		/* the server may refuse it (close) or answer the NULL; it must not crash */
		struct xb rec = { 0 };
		if (sr == 0) {
			int rr = read_record(fd, &rec, 5);
			CHECK(rr != -2, "a 2 MiB record: neither answered nor closed within 5 s");
		}
		free(rec.p);
		close(fd);
		still_serves("a 2 MiB record");

		/* the same 2 MiB as 64 fragments of 32 KiB: the bound is per record */
		fd = nfsfix_connect(port);
		size_t off = 0, frag = 32768;
		bool sent = true;
		while (off < big.n && sent) {
			size_t k = big.n - off < frag ? big.n - off : frag;
			uint32_t v = (uint32_t)k | (off + k == big.n ? 0x80000000u : 0);
			m[0] = v >> 24; m[1] = v >> 16; m[2] = v >> 8; m[3] = v;
			sent = send_all(fd, m, 4) == 0 && send_all(fd, big.p + off, k) == 0;
			off += k;
		}
		struct xb rec2 = { 0 };
		if (sent) {
			int rr = read_record(fd, &rec2, 5);
			CHECK(rr != -2, "a 2 MiB record in 64 fragments: neither answered nor closed within 5 s");
		}
		free(rec2.p);
		close(fd);
		free(big.p);
		still_serves("a 2 MiB record in 64 fragments");
	}

	/* a zero-length record, then a real call on the same connection */
	{
		struct xb rec = { 0 };
		struct reply r;
		fd = nfsfix_connect(port);
		m[0] = 0x80; m[1] = m[2] = m[3] = 0;
		send_all(fd, m, 4);
		send_record(fd, &b);
		int rr = read_record(fd, &rec, 5);
		if (rr == 0 && parse_reply(&rec, &r) == 0)
			CHECK(r.xid == 7 && r.stat == 0, "after an empty record: reply xid %u stat %u", r.xid, r.stat);
		free(rec.p);
		close(fd);
		still_serves("an empty record");
	}

	/* a well-formed NULL in 3 fragments is answered, whether the cuts fall
	 * on XDR units or not (RFC 5531 11: fragments are byte counts) */
	for (int k = 0; k < 2; k++) {
		struct xb rec = { 0 };
		struct reply r;
		fd = nfsfix_connect(port);
		size_t cuts[2][4] = { { 0, 8, 20, b.n }, { 0, 5, 17, b.n } };
		for (int i = 0; i < 3; i++) {
			uint32_t v = (uint32_t)(cuts[k][i + 1] - cuts[k][i]) | (i == 2 ? 0x80000000u : 0);
			m[0] = v >> 24; m[1] = v >> 16; m[2] = v >> 8; m[3] = v;
			send_all(fd, m, 4);
			send_all(fd, b.p + cuts[k][i], cuts[k][i + 1] - cuts[k][i]);
		}
		int rr = read_record(fd, &rec, 5);
		CHECK(rr == 0 && parse_reply(&rec, &r) == 0 && r.xid == 7 && r.reply_stat == 0 && r.stat == 0,
		      "a NULL call in 3 fragments cut at 0/%zu/%zu is answered (read %d)", cuts[k][1], cuts[k][2], rr);
		free(rec.p);
		close(fd);
	}
	free(b.p);
	finish();
}

/* ---- random bytes in valid record marks ---- */

static void t_random_records(void **state)
{
	(void)state;
	int fd = nfsfix_connect(port);
	int closes = 0;
	for (int i = 0; i < 300; i++) {
		struct xb b = { 0 };
		uint32_t len = 1 + (uint32_t)test_rng_below(&rng, i % 10 == 0 ? 65536 : 512);
		uint8_t *junk = malloc(len);
		test_rng_fill(&rng, junk, len);
		if (i % 3 == 0 && len >= 24) {
			/* plausible: a CALL to NFS v3 with random procedure and body */
			struct xb h = { 0 };
			call_hdr(&h, (uint32_t)i, 2, NFS_PROG, 3, (uint32_t)test_rng_below(&rng, 24), AUTH_SYS_FLAVOR, NULL);
			xb_raw(&b, h.p, h.n);
			free(h.p);
		}
		xb_raw(&b, junk, len);
		free(junk);
		if (fd < 0 || send_record(fd, &b)) {
			if (fd >= 0)
				close(fd);
			closes++;
			fd = nfsfix_connect(port);
			if (fd >= 0)
				send_record(fd, &b);
		}
		free(b.p);
		/* drain whatever came back */
		char buf[65536];
		while (fd >= 0) {
			struct pollfd pf = { .fd = fd, .events = POLLIN };
			if (poll(&pf, 1, 0) <= 0)
				break;
			ssize_t k = recv(fd, buf, sizeof buf, 0);
			if (k <= 0) {
				close(fd);
				fd = nfsfix_connect(port);
				closes++;
				break;
			}
		}
	}
	if (fd >= 0)
		close(fd);
	printf("# 300 random records: the server closed %d connections\n", closes);
	still_serves("300 seeded random records");
	finish();
}

/* ---- RPC-level errors ---- */

static void expect_accept(const char *what, const struct xb *b, uint32_t stat, uint32_t lo, uint32_t hi)
{
	struct reply r;
	struct xb rec = { 0 };
	bool closed;
	int rc = call_once(b, &r, &rec, &closed);
	if (rc) {
		CHECK(0, "%s: no reply (%s)", what, closed ? "connection closed" : "timeout");
	} else {
		CHECK(r.reply_stat == 0 && r.stat == stat, "%s: reply_stat %u stat %u, want MSG_ACCEPTED with accept_stat %u",
		      what, r.reply_stat, r.stat, stat);
		if (stat == 2 && r.reply_stat == 0 && r.stat == 2)
			CHECK(r.a == lo && r.b == hi, "%s: mismatch_info %u..%u, want %u..%u", what, r.a, r.b, lo, hi);
	}
	free(rec.p);
	still_serves(what);
}

/* MSG_DENIED with reject_stat rstat (AUTH_ERROR: any auth_stat but AUTH_OK). */
static void expect_denied(const char *what, const struct xb *b, uint32_t rstat)
{
	struct reply r;
	struct xb rec = { 0 };
	bool closed;
	int rc = call_once(b, &r, &rec, &closed);
	if (rc) {
		CHECK(0, "%s: no reply (%s)", what, closed ? "connection closed" : "timeout");
	} else {
		CHECK(r.reply_stat == 1 && r.stat == rstat, "%s: reply_stat %u stat %u, want MSG_DENIED with reject_stat %u",
		      what, r.reply_stat, r.stat, rstat);
		if (r.reply_stat == 1 && rstat == 1)
			CHECK(r.a != 0, "%s: AUTH_ERROR with auth_stat AUTH_OK", what);
		if (r.reply_stat == 1 && rstat == 0)
			CHECK(r.a == 2 && r.b == 2, "%s: RPC_MISMATCH %u..%u, want 2..2", what, r.a, r.b);
	}
	free(rec.p);
	still_serves(what);
}

static void t_rpc_errors(void **state)
{
	(void)state;
	struct xb b = { 0 };
#define FRESH() (b.n = 0)
	FRESH(); std_call(&b, 11, 123456, 1, 0);
	expect_accept("a call to program 123456", &b, 1, 0, 0);
	FRESH(); std_call(&b, 12, NFS_PROG, 2, 0);
	expect_accept("NFS version 2", &b, 2, 3, 3);
	FRESH(); std_call(&b, 13, NFS_PROG, 4, 0);
	expect_accept("NFS version 4", &b, 2, 3, 3);
	FRESH(); std_call(&b, 14, MOUNT_PROG, 4, 0);
	expect_accept("MOUNT version 4", &b, 2, 3, 3);
	FRESH(); std_call(&b, 15, NFS_PROG, 3, 22);
	expect_accept("NFS procedure 22", &b, 3, 0, 0);
	FRESH(); std_call(&b, 16, NFS_PROG, 3, 0xffffffffu);
	expect_accept("NFS procedure 2^32-1", &b, 3, 0, 0);
	FRESH(); std_call(&b, 17, MOUNT_PROG, 3, 6);
	expect_accept("MOUNT procedure 6", &b, 3, 0, 0);
	FRESH(); call_hdr(&b, 18, 3, NFS_PROG, 3, 0, AUTH_SYS_FLAVOR, NULL);
	expect_denied("RPC version 3", &b, 0);

	/* credentials */
	FRESH(); call_hdr(&b, 20, 2, NFS_PROG, 3, 1, 6 /* RPCSEC_GSS */, NULL);
	xb_opaque(&b, rootfh, rootfh_len);
	expect_denied("GETATTR with RPCSEC_GSS credentials", &b, 1);
	FRESH(); call_hdr(&b, 21, 2, NFS_PROG, 3, 1, 99, NULL);
	xb_opaque(&b, rootfh, rootfh_len);
	expect_denied("GETATTR with auth flavour 99", &b, 1);
	{
		struct xb c = { 0 };
		auth_sys_body(&c, 0, 0, 17);
		FRESH(); call_hdr(&b, 22, 2, NFS_PROG, 3, 1, AUTH_SYS_FLAVOR, &c);
		xb_opaque(&b, rootfh, rootfh_len);
		expect_denied("GETATTR with 17 AUTH_SYS groups", &b, 1);
		c.n = 0;
		auth_sys_body(&c, 0, 0, 16);
		FRESH(); call_hdr(&b, 23, 2, NFS_PROG, 3, 1, AUTH_SYS_FLAVOR, &c);
		xb_opaque(&b, rootfh, rootfh_len);
		expect_accept("GETATTR with 16 AUTH_SYS groups", &b, 0, 0, 0);
		/* a credential cut short: its body ends inside the uid */
		c.n = 0;
		auth_sys_body(&c, 0, 0, 0);
		c.n = 14;
		FRESH(); call_hdr(&b, 24, 2, NFS_PROG, 3, 1, AUTH_SYS_FLAVOR, &c);
		xb_opaque(&b, rootfh, rootfh_len);
		expect_denied("GETATTR with a truncated AUTH_SYS body", &b, 1);
		/* a machine name longer than 255 bytes */
		c.n = 0;
		xb_u32(&c, 1);
		char name[300];
		memset(name, 'h', sizeof name);
		xb_opaque(&c, name, 300);
		xb_u32(&c, 0);
		xb_u32(&c, 0);
		xb_u32(&c, 0);
		FRESH(); call_hdr(&b, 25, 2, NFS_PROG, 3, 1, AUTH_SYS_FLAVOR, &c);
		xb_opaque(&b, rootfh, rootfh_len);
		expect_denied("GETATTR with a 300-byte AUTH_SYS machine name", &b, 1);
		free(c.p);
	}
	/* a credential longer than the 400 bytes RFC 5531 allows */
	{
		FRESH();
		xb_u32(&b, 26); xb_u32(&b, 0); xb_u32(&b, 2); xb_u32(&b, NFS_PROG); xb_u32(&b, 3); xb_u32(&b, 0);
		xb_u32(&b, AUTH_SYS_FLAVOR);
		uint8_t junk[1000];
		memset(junk, 0, sizeof junk);
		xb_opaque(&b, junk, sizeof junk);
		xb_u32(&b, 0); xb_u32(&b, 0);
		struct reply r;
		struct xb rec = { 0 };
		bool closed;
		int rc = call_once(&b, &r, &rec, &closed);
		CHECK(rc == -1 || (rc == 0 && r.reply_stat == 1 && r.stat == 1),
		      "a 1000-byte credential: want AUTH_ERROR or a closed connection (rc %d, reply_stat %u stat %u)",
		      rc, r.reply_stat, r.stat);
		free(rec.p);
		still_serves("a 1000-byte credential");
	}
	/* a REPLY sent to the server */
	{
		FRESH();
		xb_u32(&b, 27); xb_u32(&b, 1); xb_u32(&b, 0); xb_u32(&b, 0); xb_u32(&b, 0); xb_u32(&b, 0);
		int fd = nfsfix_connect(port);
		send_record(fd, &b);
		close(fd);
		still_serves("a REPLY message sent to the server");
	}

	/* arguments */
	FRESH(); std_call(&b, 30, NFS_PROG, 3, 1);   /* GETATTR with no argument */
	expect_accept("GETATTR without its handle", &b, 4, 0, 0);
	FRESH(); std_call(&b, 31, NFS_PROG, 3, 1);
	xb_u32(&b, 100);                              /* a handle of 100 bytes */
	{ uint8_t z[100] = { 0 }; xb_raw(&b, z, 100); }
	expect_accept("GETATTR with a 100-byte handle (nfs_fh3 is opaque<64>)", &b, 4, 0, 0);
	FRESH(); std_call(&b, 32, NFS_PROG, 3, 3);   /* LOOKUP: name length 10^9 */
	xb_opaque(&b, rootfh, rootfh_len);
	xb_u32(&b, 1000000000);
	xb_raw(&b, "abcd", 4);
	expect_accept("LOOKUP with a name claiming 10^9 bytes", &b, 4, 0, 0);
	FRESH(); std_call(&b, 33, NFS_PROG, 3, 3);   /* LOOKUP: handle only */
	xb_opaque(&b, rootfh, rootfh_len);
	expect_accept("LOOKUP without its name", &b, 4, 0, 0);
	FRESH(); std_call(&b, 34, NFS_PROG, 3, 7);   /* WRITE: 1 MiB announced, 16 bytes there */
	xb_opaque(&b, rootfh, rootfh_len);
	xb_u64(&b, 0);
	xb_u32(&b, 1 << 20);
	xb_u32(&b, 2);
	xb_u32(&b, 1 << 20);
	xb_raw(&b, "0123456789abcdef", 16);
	expect_accept("WRITE with 16 of 1 MiB data bytes", &b, 4, 0, 0);
	FRESH(); std_call(&b, 35, NFS_PROG, 3, 2);   /* SETATTR: a bad set_it discriminant */
	xb_opaque(&b, rootfh, rootfh_len);
	xb_u32(&b, 7);
	xb_u32(&b, 0755);
	for (int i = 0; i < 6; i++)
		xb_u32(&b, 0);
	expect_accept("SETATTR with a bool of 7", &b, 4, 0, 0);
	FRESH(); std_call(&b, 36, NFS_PROG, 3, 8);   /* CREATE with createmode 9 */
	xb_opaque(&b, rootfh, rootfh_len);
	xb_opaque(&b, "garbage-create", 14);
	xb_u32(&b, 9);
	expect_accept("CREATE with createmode 9", &b, 4, 0, 0);
	FRESH(); std_call(&b, 37, NFS_PROG, 3, 11);  /* MKNOD with ftype 42 */
	xb_opaque(&b, rootfh, rootfh_len);
	xb_opaque(&b, "garbage-mknod", 13);
	xb_u32(&b, 42);
	{
		struct reply r;
		struct xb rec = { 0 };
		bool closed;
		int rc = call_once(&b, &r, &rec, &closed);
		/* an unknown ftype3 is either undecodable or BADTYPE */
		CHECK(rc == 0 && r.reply_stat == 0 &&
		      (r.stat == 4 || (r.stat == 0 && r.res_len >= 4 && get32(r.res) == 10007)),
		      "MKNOD with ftype 42: want GARBAGE_ARGS or NFS3ERR_BADTYPE (rc %d, stat %u)", rc, r.stat);
		free(rec.p);
		still_serves("MKNOD with ftype 42");
	}
	/* MNT with a 2000-byte path (dirpath is string<1024>) */
	{
		FRESH(); std_call(&b, 38, MOUNT_PROG, 3, 1);
		char p[2000];
		memset(p, 'p', sizeof p);
		p[0] = '/';
		xb_opaque(&b, p, sizeof p);
		struct reply r;
		struct xb rec = { 0 };
		bool closed;
		int rc = call_once(&b, &r, &rec, &closed);
		CHECK(rc == 0 && r.reply_stat == 0 && (r.stat == 4 || (r.stat == 0 && r.res_len >= 4 && get32(r.res) != 0)),
		      "MNT of a 2000-byte path: want GARBAGE_ARGS or a mount error (rc %d, stat %u)", rc, r.stat);
		free(rec.p);
		still_serves("MNT of a 2000-byte path");
	}
	free(b.p);
	finish();
}

/* ---- many requests on one connection ---- */

static void getattr_call(struct xb *b, uint32_t xid)
{
	std_call(b, xid, NFS_PROG, 3, 1);
	xb_opaque(b, rootfh, rootfh_len);
}

static void t_pipelined(void **state)
{
	(void)state;
	struct xb all = { 0 }, rec = { 0 };
	int fd = nfsfix_connect(port);
	const int N = 64;
	for (int i = 0; i < N; i++) {
		struct xb b = { 0 };
		if (i % 4 == 3)
			std_call(&b, 1000 + i, NFS_PROG, 3, 0);
		else
			getattr_call(&b, 1000 + i);
		uint32_t v = 0x80000000u | (uint32_t)b.n;
		uint8_t m[4] = { v >> 24, v >> 16, v >> 8, v };
		xb_raw(&all, m, 4);
		xb_raw(&all, b.p, b.n);
		free(b.p);
	}
	CHECK(send_all(fd, all.p, all.n) == 0, "sending %d pipelined calls in one write", N);
	bool seen[64] = { false };
	int got = 0, bad = 0;
	for (int i = 0; i < N; i++) {
		struct reply r;
		int rc = read_record(fd, &rec, 10);
		if (rc) {
			CHECK(0, "pipelined: reply %d of %d did not come (%d)", i + 1, N, rc);
			break;
		}
		if (parse_reply(&rec, &r) || r.xid < 1000 || r.xid >= 1000u + N || seen[r.xid - 1000]) {
			bad++;
			continue;
		}
		seen[r.xid - 1000] = true;
		got++;
		int k = (int)r.xid - 1000;
		if (r.reply_stat || r.stat || (k % 4 != 3 && (r.res_len < 4 || get32(r.res) != 0)))
			bad++;
	}
	CHECK(got == N && bad == 0, "pipelined: %d of %d xids answered once, %d bad replies", got, N, bad);
	close(fd);
	free(all.p);
	free(rec.p);
	finish();
}

/* ---- a client that never reads ---- */

/* CREATE name (UNCHECKED) under the root over raw RPC; its handle. */
static int raw_create(const char *name, uint8_t *fh, uint32_t *fhlen)
{
	struct xb b = { 0 }, rec = { 0 };
	struct reply r;
	bool closed;
	int rc = -1;
	std_call(&b, 40, NFS_PROG, 3, 8);
	xb_opaque(&b, rootfh, rootfh_len);
	xb_opaque(&b, name, strlen(name));
	xb_u32(&b, 0);                     /* UNCHECKED */
	for (int i = 0; i < 6; i++)
		xb_u32(&b, 0);             /* sattr3: nothing set */
	if (call_once(&b, &r, &rec, &closed) == 0 && !r.reply_stat && !r.stat && r.res_len >= 12 &&
	    get32(r.res) == 0 && get32(r.res + 4) == 1) {
		*fhlen = get32(r.res + 8);
		if (*fhlen > 0 && *fhlen <= 64 && r.res_len >= 12 + *fhlen) {
			memcpy(fh, r.res + 12, *fhlen);
			rc = 0;
		}
	}
	if (rc)
		printf("# CREATE %s failed\n", name);
	free(b.p);
	free(rec.p);
	return rc;
}

/* 64 WRITEs of 16 KiB at distinct offsets sent before any reply is read,
 * then 64 READs the same way: every xid answered once, every byte where
 * it was written, whatever order the replies took. */
static void t_pipelined_writes(void **state)
{
	(void)state;
	enum { N = 64, SZ = 16384 };
	uint8_t fh[64];
	uint32_t fhlen;
	if (raw_create("pipelined", fh, &fhlen)) {
		CHECK(0, "cannot create the file");
		finish();
		return;
	}
	uint8_t *data = malloc(N * SZ);
	test_rng_fill(&rng, data, N * SZ);
	struct xb all = { 0 }, rec = { 0 };
	for (int pass = 0; pass < 2; pass++) {
		all.n = 0;
		for (int i = 0; i < N; i++) {
			struct xb b = { 0 };
			std_call(&b, 5000 + pass * 1000 + i, NFS_PROG, 3, pass == 0 ? 7 : 6);
			xb_opaque(&b, fh, fhlen);
			xb_u64(&b, (uint64_t)i * SZ);
			xb_u32(&b, SZ);
			if (pass == 0) {
				xb_u32(&b, 0);     /* UNSTABLE */
				xb_opaque(&b, data + (size_t)i * SZ, SZ);
			}
			uint32_t v = 0x80000000u | (uint32_t)b.n;
			uint8_t m[4] = { v >> 24, v >> 16, v >> 8, v };
			xb_raw(&all, m, 4);
			xb_raw(&all, b.p, b.n);
			free(b.p);
		}
		int fd = nfsfix_connect(port);
		CHECK(send_all(fd, all.p, all.n) == 0, "sending %d pipelined %s", N, pass ? "READs" : "WRITEs");
		bool seen[N] = { false };
		int good = 0;
		uint8_t verf[8];
		bool have_verf = false;
		for (int k = 0; k < N; k++) {
			struct reply r;
			if (read_record(fd, &rec, 20)) {
				CHECK(0, "pipelined %s: reply %d of %d did not come", pass ? "READs" : "WRITEs", k + 1, N);
				break;
			}
			if (parse_reply(&rec, &r) || r.reply_stat || r.stat || r.xid < 5000u + pass * 1000 ||
			    r.xid >= 5000u + pass * 1000 + N || seen[r.xid - 5000 - pass * 1000] ||
			    r.res_len < 4 || get32(r.res) != 0)
				continue;
			int i = (int)(r.xid - 5000 - pass * 1000);
			seen[i] = true;
			if (pass == 0) {
				/* status, wcc_data (pre_op bool + 24, post_op bool + 84), count, committed, verf */
				size_t off = 4;
				off += 4 + (get32(r.res + off) ? 24 : 0);
				if (r.res_len < off + 4)
					continue;
				off += 4 + (get32(r.res + off) ? 84 : 0);
				if (r.res_len < off + 16 || get32(r.res + off) != SZ)
					continue;
				if (have_verf && memcmp(verf, r.res + off + 8, 8))
					continue;
				memcpy(verf, r.res + off + 8, 8);
				have_verf = true;
			} else {
				/* status, post_op_attr, count, eof, data<> */
				size_t off = 4;
				off += 4 + (get32(r.res + off) ? 84 : 0);
				if (r.res_len < off + 12 + SZ || get32(r.res + off) != SZ || get32(r.res + off + 8) != SZ)
					continue;
				if (memcmp(r.res + off + 12, data + (size_t)i * SZ, SZ))
					continue;
			}
			good++;
		}
		CHECK(good == N, "pipelined %s: %d of %d answered once, right (%s)", pass ? "READs" : "WRITEs", good, N,
		      pass ? "the bytes written at that offset" : "count 16 KiB, one verifier");
		close(fd);
	}
	free(all.p);
	free(rec.p);
	free(data);
	finish();
}

/* A file of 1 MiB under the root through raw CREATE + WRITE; its handle. */
static int make_big_file(uint8_t *fh, uint32_t *fhlen)
{
	struct xb b = { 0 }, rec = { 0 };
	struct reply r;
	bool closed;
	if (raw_create("big", fh, fhlen))
		return -1;
	std_call(&b, 41, NFS_PROG, 3, 7);
	xb_opaque(&b, fh, *fhlen);
	xb_u64(&b, 0);
	xb_u32(&b, 1 << 20);
	xb_u32(&b, 2);
	uint8_t *data = malloc(1 << 20);
	test_rng_fill(&rng, data, 1 << 20);
	xb_opaque(&b, data, 1 << 20);
	free(data);
	int rc = call_once(&b, &r, &rec, &closed);
	bool ok = rc == 0 && !r.reply_stat && !r.stat && r.res_len >= 4 && get32(r.res) == 0;
	free(b.p);
	free(rec.p);
	if (!ok) {
		printf("# WRITE big failed\n");
		return -1;
	}
	return 0;
}

static void t_slow_reader(void **state)
{
	(void)state;
	uint8_t fh[64];
	uint32_t fhlen;
	if (make_big_file(fh, &fhlen)) {
		CHECK(0, "cannot make the 1 MiB file");
		finish();
		return;
	}
	long rss0 = daemon_rss_kib();
	int hog = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int small = 4096;
	setsockopt(hog, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	CHECK(connect(hog, (struct sockaddr *)&a, sizeof a) == 0, "connect the hog");
	fcntl(hog, F_SETFL, O_NONBLOCK);

	/* 10,000 READs of 1 MiB, as many as the server takes in 5 s */
	struct xb all = { 0 };
	for (int i = 0; i < 10000; i++) {
		struct xb b = { 0 };
		std_call(&b, 100000 + i, NFS_PROG, 3, 6);
		xb_opaque(&b, fh, fhlen);
		xb_u64(&b, 0);
		xb_u32(&b, 1 << 20);
		uint32_t v = 0x80000000u | (uint32_t)b.n;
		uint8_t m[4] = { v >> 24, v >> 16, v >> 8, v };
		xb_raw(&all, m, 4);
		xb_raw(&all, b.p, b.n);
		free(b.p);
	}
	size_t off = 0;
	double end = nfsfix_now() + 5;
	while (off < all.n && nfsfix_now() < end) {
		ssize_t k = send(hog, all.p + off, all.n - off, MSG_NOSIGNAL);
		if (k > 0)
			off += k;
		else if (k < 0 && errno != EAGAIN && errno != EINTR)
			break;
		else
			usleep(10000);
	}
	printf("# the hog sent %zu of %zu bytes of READ calls (%zu calls) without reading\n", off, all.n,
	       off / (all.n / 10000));
	free(all.p);

	/* meanwhile another client is served promptly, NULL and a READ */
	for (int i = 0; i < 3; i++) {
		double t0 = nfsfix_now();
		still_serves("a client that sends 10,000 READs of 1 MiB and never reads");
		CHECK(nfsfix_now() - t0 < 3, "NULL beside the hog took %.1f s", nfsfix_now() - t0);
	}
	{
		struct xb b = { 0 }, rec = { 0 };
		struct reply r;
		bool closed;
		std_call(&b, 77, NFS_PROG, 3, 6);
		xb_opaque(&b, fh, fhlen);
		xb_u64(&b, 0);
		xb_u32(&b, 1 << 20);
		double t0 = nfsfix_now();
		int rc = call_once(&b, &r, &rec, &closed);
		CHECK(rc == 0 && r.reply_stat == 0 && r.stat == 0 && r.res_len > 4 && get32(r.res) == 0,
		      "a READ of 1 MiB on another connection beside the hog (rc %d)", rc);
		CHECK(nfsfix_now() - t0 < 5, "the READ beside the hog took %.1f s", nfsfix_now() - t0);
		free(b.p);
		free(rec.p);
	}
	long rss1 = daemon_rss_kib();
	printf("# daemon RSS %ld KiB before the hog, %ld KiB with it\n", rss0, rss1);
	CHECK(rss1 < rss0 + 1024 * 1024, "the daemon buffers for the hog: RSS %ld -> %ld KiB", rss0, rss1);
	close(hog);
	still_serves("the hog went away");
	finish();
}

/* ---- idle connections ---- */

static void t_many_idle(void **state)
{
	(void)state;
	int fds[100];
	for (int i = 0; i < 100; i++)
		fds[i] = nfsfix_connect(port);
	still_serves("100 idle connections");
	for (int i = 0; i < 100; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	still_serves("100 idle connections closed");
	finish();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_records),
		cmocka_unit_test(t_random_records),
		cmocka_unit_test(t_rpc_errors),
		cmocka_unit_test(t_pipelined),
		cmocka_unit_test(t_pipelined_writes),
		cmocka_unit_test(t_slow_reader),
		cmocka_unit_test(t_many_idle),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
