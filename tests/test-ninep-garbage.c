/* test-ninep-garbage.c -- bucketfs's 9P server against malformed and
 * hostile traffic on raw TCP: frames whose size is below the 7-byte
 * header or above msize (the connection is closed), truncated strings,
 * message types that do not exist (Rlerror), valid headers over random
 * bodies (seeded; a few thousand), a flood of 10,000 Tflush for random
 * tags between real requests, and a client that pipelines 64 Treads of
 * 1 MiB without reading a reply (and one that asks for 1 GiB that way:
 * the daemon's memory stays bounded), clients stalled mid-frame, an fid
 * table filled until the server refuses, and 256 blocking Tlocks waiting
 * at once.  After each, a new connection must
 * get its Tversion answered within 2 s and the daemon must still run.
 *
 * NINEP_ADDR=HOST:PORT (and NINEP_ANAME) runs it against another server;
 * the memory check then is skipped.  TEST_SEED replays the random parts. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ninep-daemon.h"

static const char *addr;
static const char *aname = "";
static char *tmp;
static struct ninep_daemon daemon_;
static bool own_daemon;
static struct test_rng rng;

/* A new connection gets Tversion, Tattach and Tgetattr answered, each
 * within 2 s. */
static void probe(const char *after)
{
	if (own_daemon && !ninep_daemon_alive(&daemon_)) {
		ninep_show_log(&daemon_);
		fail_msg("the daemon died after %s", after);
	}
	uint64_t t0 = ninep_now_ms();
	struct p9c *c = p9c_connect(addr);
	if (!c)
		fail_msg("after %s: connect: %s", after, strerror(errno));
	c->timeout_ms = 2000;
	int rc = p9_version(c, 65536, "9P2000.L", NULL, NULL, 0);
	if (rc)
		fail_msg("after %s: Tversion: %s", after, strerror(-rc));
	rc = p9_attach(c, 1, P9_NOFID, "0", aname, 0, NULL);
	if (rc)
		fail_msg("after %s: Tattach: %s", after, strerror(-rc));
	struct p9_attr a;
	rc = p9_getattr(c, 1, P9_GETATTR_BASIC, &a);
	if (rc)
		fail_msg("after %s: Tgetattr: %s", after, strerror(-rc));
	uint64_t ms = ninep_now_ms() - t0;
	if (ms > 2000)
		fail_msg("after %s: a new client waited %llu ms", after, (unsigned long long)ms);
	p9c_close(c);
}

static struct p9c *versioned(uint32_t msize)
{
	struct p9c *c = p9c_connect(addr);
	assert_non_null(c);
	assert_int_equal(p9_version(c, msize, "9P2000.L", NULL, NULL, 0), 0);
	return c;
}

static struct p9c *attached(uint32_t msize)
{
	struct p9c *c = versioned(msize);
	assert_int_equal(p9_attach(c, 1, P9_NOFID, "0", aname, 0, NULL), 0);
	return c;
}

/* Waits for the server to close c (nothing else may come): true if it
 * did within 5 s. */
static bool closed_by_server(struct p9c *c)
{
	for (;;) {
		struct p9_reply *r;
		int rc = p9c_recv_any(c, &r, 5000);
		if (rc == -EPIPE || rc == -EBADMSG)
			return true;
		if (rc)
			return false;
		p9_reply_free(r);
	}
}

/* The one reply to a framed message: Rlerror (true) or a closed connection
 * (true); anything else, or silence for 5 s, is false. */
static bool refused(struct p9c *c, uint16_t tag, uint32_t *ecode)
{
	struct p9_reply *r;
	int rc = p9c_recv_any(c, &r, 5000);
	*ecode = 0;
	if (rc == -EPIPE)
		return true;
	if (rc)
		return false;
	bool ok = r->type == P9_RLERROR && r->tag == tag && r->size == P9_HDR + 4;
	if (ok) {
		struct p9_rd rd = p9_body(r);
		*ecode = p9r_u32(&rd);
	}
	p9_reply_free(r);
	return ok;
}

static void send_raw(struct p9c *c, const void *p, size_t n)
{
	int rc = p9c_send_bytes(c, p, n);
	if (rc && rc != -EPIPE)
		fail_msg("send: %s", strerror(-rc));
}

/* ---- framing ---- */

static void test_short_size(void **state)
{
	for (uint32_t size = 0; size < 7; size++) {
		struct p9c *c = versioned(8192);
		uint8_t b[16] = { (uint8_t)size, 0, 0, 0, P9_TVERSION, 1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 };
		send_raw(c, b, sizeof b);
		if (!closed_by_server(c))
			fail_msg("a frame of size %u did not close the connection", size);
		p9c_close(c);
		probe("a frame shorter than its header");
	}
	/* before Tversion too */
	struct p9c *c = p9c_connect(addr);
	assert_non_null(c);
	uint8_t b[8] = { 3, 0, 0, 0, 0, 0, 0, 0 };
	send_raw(c, b, sizeof b);
	if (!closed_by_server(c))
		fail_msg("size 3 as the first frame did not close the connection");
	p9c_close(c);
	probe("size 3 before Tversion");
}

static void test_big_size(void **state)
{
	uint32_t sizes[] = { 8193, 65536, 1u << 20, 0x7fffffff, 0xffffffff };
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		struct p9c *c = versioned(8192);
		assert_true(c->msize <= 8192);
		struct p9_msg m = { 0 };
		p9m_begin(&m, P9_TWRITE, 1);
		p9m_u32(&m, 1);
		p9m_u64(&m, 0);
		p9m_u32(&m, sizes[i]);
		for (int k = 0; k < 8; k++)
			p9m_u32(&m, 0);
		for (int k = 0; k < 4; k++)
			m.data[k] = (uint8_t)(sizes[i] >> (8 * k));
		send_raw(c, m.data, m.len);
		p9m_free(&m);
		if (!closed_by_server(c))
			fail_msg("a frame of size %u above msize %u did not close the connection", sizes[i], c->msize);
		p9c_close(c);
		probe("a frame bigger than msize");
	}
	/* a huge Tversion before any msize was agreed */
	struct p9c *c = p9c_connect(addr);
	assert_non_null(c);
	uint8_t b[7] = { 0xff, 0xff, 0xff, 0x7f, P9_TVERSION, 0xff, 0xff };
	send_raw(c, b, sizeof b);
	if (!closed_by_server(c))
		fail_msg("a 2 GiB Tversion frame did not close the connection");
	p9c_close(c);
	probe("a 2 GiB Tversion");
}

/* ---- bodies that do not parse ---- */

static void test_truncated(void **state)
{
	struct p9c *c = attached(65536);
	struct p9_msg m = { 0 };
	uint32_t e;
	struct {
		uint8_t type;
		const char *what;
	} cases[] = {
		{ P9_TWALK, "Twalk with a name longer than the message" },
		{ P9_TATTACH, "Tattach with a truncated uname" },
		{ P9_TLCREATE, "Tlcreate with a truncated name" },
		{ P9_TXATTRWALK, "Txattrwalk with a truncated name" },
		{ P9_TMKDIR, "Tmkdir with a truncated name" },
		{ P9_TRENAMEAT, "Trenameat with a truncated name" },
		{ P9_TSYMLINK, "Tsymlink with a truncated target" },
		{ P9_TLOCK, "Tlock with a truncated client_id" },
		{ P9_TUNLINKAT, "Tunlinkat with a truncated name" },
		{ P9_TVERSION, "Tversion with a truncated version" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		uint16_t tag = (uint16_t)(10 + i);
		p9m_begin(&m, cases[i].type, tag);
		p9m_u32(&m, 1);		/* fid */
		if (cases[i].type == P9_TWALK) {
			p9m_u32(&m, 2);
			p9m_u16(&m, 1);
		} else if (cases[i].type == P9_TLOCK) {
			p9m_u8(&m, 1);
			p9m_u32(&m, 0);
			p9m_u64(&m, 0);
			p9m_u64(&m, 0);
			p9m_u32(&m, 1);
		} else if (cases[i].type == P9_TRENAMEAT || cases[i].type == P9_TATTACH) {
			if (cases[i].type == P9_TATTACH)
				p9m_u32(&m, P9_NOFID);
		}
		p9m_u16(&m, 200);	/* a string of 200 bytes ... */
		p9m_bytes(&m, "abc", 3);	/* ... of which 3 are there */
		p9m_end(&m);
		send_raw(c, m.data, m.len);
		if (!refused(c, tag, &e))
			fail_msg("%s: neither Rlerror nor a closed connection", cases[i].what);
		p9c_close(c);
		probe(cases[i].what);
		c = attached(65536);
	}
	/* fields missing altogether, and trailing bytes */
	p9m_begin(&m, P9_TGETATTR, 30);
	p9m_u32(&m, 1);
	p9m_end(&m);
	send_raw(c, m.data, m.len);
	if (!refused(c, 30, &e))
		fail_msg("Tgetattr without its mask: neither Rlerror nor a closed connection");
	p9c_close(c);
	c = attached(65536);
	p9m_begin(&m, P9_TWRITE, 31);
	p9m_u32(&m, 1);
	p9m_u64(&m, 0);
	p9m_u32(&m, 1000);	/* count beyond the frame */
	p9m_bytes(&m, "xy", 2);
	p9m_end(&m);
	send_raw(c, m.data, m.len);
	if (!refused(c, 31, &e))
		fail_msg("Twrite with count beyond the frame: neither Rlerror nor a closed connection");
	p9c_close(c);
	p9m_free(&m);
	probe("truncated messages");
}

static void test_unknown_types(void **state)
{
	/* types 9P2000.L has no T-message for, and R-types sent as requests */
	uint8_t types[] = { 0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 13, 28, 29, 34, 42, 56, 60, 69, 78, 99,
			    101, 105, 106, 107, 112, 114, 124, 126, 128, 150, 200, 255 };
	struct p9c *c = attached(65536);
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
		struct p9_msg m = { 0 };
		uint16_t tag = (uint16_t)(100 + i);
		p9m_begin(&m, types[i], tag);
		p9m_u32(&m, 1);
		p9m_u64(&m, 0);
		p9m_end(&m);
		send_raw(c, m.data, m.len);
		p9m_free(&m);
		struct p9_reply *r;
		int rc = p9c_recv_tag(c, tag, &r);
		if (rc)
			fail_msg("type %u: %s (want Rlerror)", types[i], strerror(-rc));
		if (r->type != P9_RLERROR)
			fail_msg("type %u answered with type %u (want Rlerror)", types[i], r->type);
		p9_reply_free(r);
	}
	/* the connection is still good */
	struct p9_attr a;
	assert_int_equal(p9_getattr(c, 1, P9_GETATTR_BASIC, &a), 0);
	p9c_close(c);
	probe("unknown message types");
}

/* ---- random bodies ---- */

static const uint8_t t_types[] = {
	P9_TSTATFS, P9_TLOPEN, P9_TLCREATE, P9_TSYMLINK, P9_TMKNOD, P9_TRENAME, P9_TREADLINK,
	P9_TGETATTR, P9_TSETATTR, P9_TXATTRWALK, P9_TXATTRCREATE, P9_TREADDIR, P9_TFSYNC,
	P9_TLOCK, P9_TGETLOCK, P9_TLINK, P9_TMKDIR, P9_TRENAMEAT, P9_TUNLINKAT, P9_TVERSION,
	P9_TAUTH, P9_TATTACH, P9_TFLUSH, P9_TWALK, P9_TREAD, P9_TWRITE, P9_TCLUNK, P9_TREMOVE,
};

static void test_random_bodies(void **state)
{
	long count = test_env_long("NINEP_GARBAGE_MESSAGES", 3000);
	struct p9c *c = attached(65536);
	int reconnects = 0, replies = 0;
	for (long i = 0; i < count; i++) {
		uint8_t type = t_types[test_rng_below(&rng, sizeof t_types)];
		uint32_t len = (uint32_t)test_rng_below(&rng, 80);
		uint8_t body[80];
		test_rng_fill(&rng, body, len);
		/* small fids and short strings more often, so some get past parsing */
		if (len >= 4 && test_rng_below(&rng, 2)) {
			body[0] = (uint8_t)test_rng_below(&rng, 4);
			body[1] = body[2] = body[3] = 0;
		}
		if (len >= 6 && test_rng_below(&rng, 2)) {
			body[4] = (uint8_t)test_rng_below(&rng, 8);
			body[5] = 0;
		}
		/* no Tlock that could block, no Tversion that resets the session often */
		if (type == P9_TLOCK && len >= 9)
			body[5] = body[6] = body[7] = body[8] = 0;
		uint16_t tag = (uint16_t)(1 + test_rng_below(&rng, 60000));
		struct p9_msg m = { 0 };
		p9m_begin(&m, type, tag);
		p9m_bytes(&m, body, len);
		p9m_end(&m);
		int rc = p9c_send(c, &m);
		p9m_free(&m);
		struct p9_reply *r = NULL;
		if (!rc)
			rc = p9c_recv_any(c, &r, 5000);
		if (rc == -ETIMEDOUT)
			fail_msg("message %ld (type %u, %u random bytes): no reply in 5 s (seed above)", i, type, len);
		if (rc == 0 && r->tag != tag && type != P9_TVERSION)
			fail_msg("message %ld (type %u): reply for tag %u, sent %u", i, type, r->tag, tag);
		p9_reply_free(r);
		if (rc) {
			p9c_close(c);
			c = attached(65536);
			reconnects++;
		} else {
			replies++;
		}
		if (i % 500 == 499)
			probe("random bodies");
	}
	printf("# random bodies: %ld messages, %d replies, %d connections closed by the server\n",
	       count, replies, reconnects);
	p9c_close(c);
	probe("random bodies");
}

/* ---- Tflush flood ---- */

static void test_flush_flood(void **state)
{
	struct p9c *c = attached(65536);
	int flushes = 0, real = 0;
	uint64_t worst = 0;
	for (int batch = 0; batch < 100; batch++) {
		struct p9_msg m = { 0 };
		/* 100 Tflush for random tags, then one real request */
		for (uint16_t k = 1; k <= 100; k++) {
			p9m_tflush(&m, k, (uint16_t)test_rng_next(&rng));
			send_raw(c, m.data, m.len);
		}
		p9m_tgetattr(&m, 500, 1, P9_GETATTR_ALL);
		send_raw(c, m.data, m.len);
		p9m_free(&m);
		bool got_real = false;
		int got = 0;
		while (got < 101) {
			struct p9_reply *r;
			int rc = p9c_recv_any(c, &r, 10000);
			if (rc)
				fail_msg("flood batch %d: %s after %d replies", batch, strerror(-rc), got);
			if (r->tag == 500) {
				if (r->type != P9_RGETATTR)
					fail_msg("flood batch %d: Tgetattr answered with type %u", batch, r->type);
				got_real = true;
				real++;
			} else if (r->type == P9_RFLUSH && r->tag >= 1 && r->tag <= 100) {
				flushes++;
			} else {
				fail_msg("flood batch %d: unexpected reply type %u tag %u", batch, r->type, r->tag);
			}
			p9_reply_free(r);
			got++;
		}
		assert_true(got_real);
		if (batch % 10 == 5) {
			uint64_t t0 = ninep_now_ms();
			probe("a Tflush flood (during)");
			uint64_t ms = ninep_now_ms() - t0;
			worst = ms > worst ? ms : worst;
		}
	}
	assert_int_equal(flushes, 10000);
	assert_int_equal(real, 100);
	printf("# flood: 10000 Rflush, 100 Rgetattr; slowest probe during it %llu ms\n",
	       (unsigned long long)worst);
	/* and a flood nobody reads, then hang up */
	struct p9_msg m = { 0 };
	for (int k = 0; k < 10000; k++) {
		p9m_tflush(&m, (uint16_t)(k % 60000), (uint16_t)test_rng_next(&rng));
		if (send(c->fd, m.data, m.len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
			break;
	}
	p9m_free(&m);
	probe("an unread Tflush flood");
	p9c_close(c);
	probe("a Tflush flood");
}

/* ---- a client that does not read ---- */

static long daemon_rss_kb(void)
{
	if (!own_daemon)
		return -1;
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/%d/status", (int)daemon_.pid);
	FILE *f = fopen(path, "r");
	long kb = -1;
	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "VmRSS: %ld", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb;
}

/* Sends n Treads of the whole msize on fid without reading a reply (stops
 * early when the server stops reading: that is its right); the count sent. */
static int pipeline_reads(struct p9c *g, uint32_t fid, int n)
{
	struct p9_msg m = { 0 };
	int sent = 0;
	for (int i = 0; i < n; i++) {
		p9m_tread(&m, (uint16_t)(1 + i), fid, 0, g->msize - P9_IOHDR);
		ssize_t k = send(g->fd, m.data, m.len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (k != (ssize_t)m.len)
			break;	/* a partial frame is fine: the connection is dropped after */
		sent++;
	}
	p9m_free(&m);
	return sent;
}

static void test_slow_reader(void **state)
{
	/* a 1 MiB file */
	struct p9c *c = attached(1u << 20);
	uint32_t f = 2;
	assert_int_equal(p9_walk(c, 1, f, 0, NULL, NULL, NULL), 0);
	char name[32];
	snprintf(name, sizeof name, "big-%llx", (unsigned long long)(rng.s & 0xffffff));
	assert_int_equal(p9_lcreate(c, f, name, P9_DOTL_RDWR, 0644, 0, NULL, NULL), 0);
	uint8_t *buf = malloc(1u << 20);
	test_rng_fill(&rng, buf, 1u << 20);
	for (uint32_t off = 0, w = 0; off < (1u << 20); off += w)
		assert_int_equal(p9_write(c, f, off, buf + off, (1u << 20) - off < c->msize - P9_IOHDR ?
					  (1u << 20) - off : c->msize - P9_IOHDR, &w), 0);
	assert_int_equal(p9_clunk(c, f), 0);
	p9c_close(c);

	struct p9c *g = attached(1u << 20);
	printf("# slow reader: msize %u\n", g->msize);
	const char *wn[] = { name };
	assert_int_equal(p9_walk(g, 1, 2, 1, wn, NULL, NULL), 0);
	assert_int_equal(p9_lopen(g, 2, P9_DOTL_RDONLY, NULL, NULL), 0);
	int sent = pipeline_reads(g, 2, 64);
	printf("# slow reader: %d of 64 Treads sent without reading\n", sent);
	/* others are served meanwhile, reads included */
	for (int i = 0; i < 10; i++) {
		probe("a client that does not read its replies");
		struct p9c *o = attached(1u << 20);
		o->timeout_ms = 5000;
		assert_int_equal(p9_walk(o, 1, 2, 1, wn, NULL, NULL), 0);
		assert_int_equal(p9_lopen(o, 2, P9_DOTL_RDONLY, NULL, NULL), 0);
		uint32_t n;
		uint64_t t0 = ninep_now_ms();
		int rc = p9_read(o, 2, 0, o->msize - P9_IOHDR, buf, &n);
		if (rc)
			fail_msg("another client's Tread: %s", strerror(-rc));
		if (ninep_now_ms() - t0 > 2000)
			fail_msg("another client's Tread took %llu ms", (unsigned long long)(ninep_now_ms() - t0));
		p9c_close(o);
	}
	/* the replies are all there for the slow one, in the end */
	int got = 0;
	for (; got < sent; got++) {
		struct p9_reply *r;
		int rc = p9c_recv_any(g, &r, 10000);
		if (rc)
			fail_msg("slow reader: reply %d of %d: %s", got, sent, strerror(-rc));
		if (r->type != P9_RREAD)
			fail_msg("slow reader: reply type %u", r->type);
		p9_reply_free(r);
	}
	p9c_close(g);

	/* 1 GiB of replies nobody reads: the daemon does not buffer them all */
	long before = daemon_rss_kb();
	g = attached(1u << 20);
	assert_int_equal(p9_walk(g, 1, 2, 1, wn, NULL, NULL), 0);
	assert_int_equal(p9_lopen(g, 2, P9_DOTL_RDONLY, NULL, NULL), 0);
	sent = pipeline_reads(g, 2, 1024);
	usleep(1000000);
	long during = daemon_rss_kb();
	probe("1 GiB of unread replies");
	printf("# slow reader: %d of 1024 Treads sent; daemon RSS %ld kB before, %ld kB with them pending\n",
	       sent, before, during);
	if (own_daemon && during - before > 512 * 1024)
		fail_msg("the daemon grew by %ld MiB for one client's unread replies", (during - before) / 1024);
	p9c_close(g);
	free(buf);
	probe("a slow reader hanging up");
}

/* ---- stalled frames, many fids ---- */

/* Clients that stop in the middle of a frame (a header cut short, a 1 MiB
 * Twrite half sent) hold nobody else up. */
static void test_stalled_frames(void **state)
{
	struct p9c *a = versioned(1u << 20), *b = attached(1u << 20), *z = p9c_connect(addr);
	assert_non_null(z);
	uint8_t hdr[3] = { 0x40, 0, 0 };
	send_raw(z, hdr, sizeof hdr);			/* 3 bytes of a size */
	send_raw(a, hdr, sizeof hdr);
	uint32_t half = (b->msize - P9_IOHDR) / 2;
	struct p9_msg m = { 0 };
	uint8_t *junk = calloc(1, b->msize);
	p9m_twrite(&m, 1, 1, 0, junk, b->msize - P9_IOHDR);
	send_raw(b, m.data, P9_HDR + 16 + half);	/* half a Twrite */
	p9m_free(&m);
	free(junk);
	for (int i = 0; i < 5; i++)
		probe("clients stalled in the middle of a frame");
	p9c_close(a);
	p9c_close(b);
	p9c_close(z);
	probe("stalled clients hanging up");
}

/* Walk-clones until the server refuses: it must refuse (an fid table is
 * bounded) or take them all, and stay up; clunking them all works. */
static void test_many_fids(void **state)
{
	long want = test_env_long("NINEP_GARBAGE_FIDS", 200000);
	struct p9c *c = attached(65536);
	long made = 0, refused_at = -1;
	uint8_t *ok = calloc((size_t)want + 100, 1);	/* ok[i]: fid 10+i was made */
	struct p9_msg m = { 0 };
	for (long base = 0; base < want && refused_at < 0; base += 100) {
		for (long k = 0; k < 100; k++) {
			p9m_twalk(&m, (uint16_t)(1 + k), 1, (uint32_t)(10 + base + k), 0, NULL);
			send_raw(c, m.data, m.len);
		}
		for (long k = 0; k < 100; k++) {
			struct p9_reply *r;
			int rc = p9c_recv_any(c, &r, 10000);
			if (rc)
				fail_msg("walk-clone %ld: %s", base + k, strerror(-rc));
			long i = r->tag >= 1 && r->tag <= 100 ? base + r->tag - 1 : -1;
			if (i < 0)
				fail_msg("walk-clone: a reply for tag %u", r->tag);
			if (r->type == P9_RWALK) {
				made++;
				ok[i] = 1;
			} else if (refused_at < 0) {
				refused_at = i;
			}
			p9_reply_free(r);
		}
	}
	p9m_free(&m);
	printf("# many fids: %ld made, the first refused: %ld\n", made, refused_at >= 0 ? 10 + refused_at : -1);
	probe("many fids");
	for (long i = 0; i < want + 100; i++) {
		if (!ok[i])
			continue;
		int rc = p9_clunk(c, (uint32_t)(10 + i));
		if (rc)
			fail_msg("clunk of fid %ld (its Twalk got Rwalk): %s", 10 + i, strerror(-rc));
	}
	free(ok);
	p9c_close(c);
	probe("clunking many fids");
}

/* Many requests that wait (blocking Tlocks on a range another client
 * holds: 8 connections x 32) do not take every worker: a new client is
 * still served, and hanging up the waiters cleans them up. */
static void test_blocked_locks(void **state)
{
	struct p9c *h = attached(65536);
	char name[32];
	snprintf(name, sizeof name, "lk-%llx", (unsigned long long)(rng.s & 0xffffff));
	assert_int_equal(p9_walk(h, 1, 2, 0, NULL, NULL, NULL), 0);
	assert_int_equal(p9_lcreate(h, 2, name, P9_DOTL_RDWR, 0666, 0, NULL, NULL), 0);
	struct p9_flock l = { .type = P9_LOCK_TYPE_WRLCK, .proc_id = 1 };
	snprintf(l.client_id, sizeof l.client_id, "holder");
	uint8_t st;
	assert_int_equal(p9_lock(h, 2, &l, &st), 0);
	assert_int_equal(st, P9_LOCK_SUCCESS);
	struct p9c *w[8];
	const char *wn[] = { name };
	int waiting = 0;
	for (int i = 0; i < 8; i++) {
		w[i] = attached(65536);
		assert_int_equal(p9_walk(w[i], 1, 2, 1, wn, NULL, NULL), 0);
		assert_int_equal(p9_lopen(w[i], 2, P9_DOTL_RDWR, NULL, NULL), 0);
		struct p9_msg m = { 0 };
		for (int k = 0; k < 32; k++) {
			struct p9_flock b = { .type = P9_LOCK_TYPE_WRLCK, .flags = P9_LOCK_FLAGS_BLOCK,
					      .proc_id = (uint32_t)(100 + 32 * i + k) };
			snprintf(b.client_id, sizeof b.client_id, "waiter-%d", i);
			p9m_tlock(&m, (uint16_t)(1 + k), 2, &b);
			send_raw(w[i], m.data, m.len);
		}
		p9m_free(&m);
	}
	usleep(300000);
	/* the ones answered at once (BLOCKED) do not wait */
	for (int i = 0; i < 8; i++) {
		struct p9_reply *r;
		while (p9c_recv_any(w[i], &r, 0) == 0) {
			if (r->type == P9_RLOCK) {
				struct p9_rd rd = p9_body(r);
				if (p9r_u8(&rd) == P9_LOCK_SUCCESS)
					fail_msg("a blocking Tlock on a held range succeeded");
			}
			p9_reply_free(r);
			waiting--;
		}
		waiting += 32;
	}
	printf("# blocked locks: %d of 256 blocking Tlocks still waiting\n", waiting);
	for (int i = 0; i < 3; i++)
		probe("256 blocking Tlocks waiting");
	for (int i = 0; i < 8; i++)
		p9c_close(w[i]);
	probe("the waiters hanging up");
	/* the holder still holds, and can unlock */
	l.type = P9_LOCK_TYPE_UNLCK;
	assert_int_equal(p9_lock(h, 2, &l, &st), 0);
	assert_int_equal(st, P9_LOCK_SUCCESS);
	p9c_close(h);
	probe("blocked locks");
}

static int group_setup(void **state)
{
	rng.s = test_seed("test-ninep-garbage");
	signal(SIGPIPE, SIG_IGN);
	const char *ext = getenv("NINEP_ADDR");
	if (ext && *ext) {
		addr = ext;
		if (getenv("NINEP_ANAME"))
			aname = getenv("NINEP_ANAME");
		return 0;
	}
	tmp = test_tmpdir("ninep-garbage");
	if (ninep_daemon_start(&daemon_, tmp, "garbage", false, (const char *)NULL) != 0)
		return -1;
	addr = daemon_.addr;
	own_daemon = true;
	return 0;
}

static int group_teardown(void **state)
{
	if (!own_daemon)
		return 0;
	bool alive = ninep_daemon_alive(&daemon_);
	int st = ninep_daemon_stop(&daemon_, SIGTERM);
	if (!alive || st != 0) {
		printf("# daemon %s, exit status %d\n", alive ? "ran" : "died", st);
		ninep_show_log(&daemon_);
	}
	test_rmtree(tmp);
	free(tmp);
	return alive && st == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_short_size),
		cmocka_unit_test(test_big_size),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_unknown_types),
		cmocka_unit_test(test_random_bodies),
		cmocka_unit_test(test_flush_flood),
		cmocka_unit_test(test_slow_reader),
		cmocka_unit_test(test_stalled_frames),
		cmocka_unit_test(test_many_fids),
		cmocka_unit_test(test_blocked_locks),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
