/* test-ninep-wire.c -- the 9P2000.L decoder's bounds (truncated messages,
 * strings past the end, size fields that lie, too many walk names,
 * trailing bytes, unknown types), the encoder's overflow flag, and a quick
 * round trip against a server on a test filesystem: Tversion (msize
 * negotiation, unknown versions), Tattach, Twalk (partial walks), Tlcreate,
 * Twrite, Tread, Tgetattr, Tclunk, Tflush of an unknown tag, and a message
 * larger than msize closing the connection.  The per-message suite is
 * tests/test-ninep*.c's own client. */
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "fsfix.h"
#include "ninep/ninep.h"
#include "ninep/ninep_int.h"
#include "ninep/wire.h"
#include "util/coding.h"

/* ---- building requests ---- */

struct msg {
	uint8_t b[8192];
	struct p9_wr w;
};

static void msg_start(struct msg *m, uint8_t type, uint16_t tag)
{
	p9_wr_init(&m->w, m->b, sizeof m->b, type, tag);
}

static size_t msg_end(struct msg *m)
{
	size_t n = p9_wr_finish(&m->w);
	assert_true(n > 0);
	return n;
}

static void put_s(struct msg *m, const char *s)
{
	p9_put_str(&m->w, s, strlen(s));
}

/* The decoded strings live in scratch until the next call. */
static char scratch[sizeof ((struct msg *)0)->b];

static int decode(const uint8_t *b, size_t len, struct ninep_msg *out)
{
	uint8_t *copy = malloc(len ? len : 1);   /* exactly len bytes: ASan sees overreads */
	memcpy(copy, b, len);
	int r = ninep_msg_decode(copy, len, scratch, out);
	free(copy);
	return r;
}

/* ---- the decoder ---- */

static size_t make_attach(struct msg *m)
{
	msg_start(m, P9_TATTACH, 7);
	p9_put_u32(&m->w, 1);
	p9_put_u32(&m->w, P9_NOFID);
	put_s(m, "root");
	put_s(m, "/");
	p9_put_u32(&m->w, 0);
	return msg_end(m);
}

static void test_truncated(void **state)
{
	struct msg m;
	size_t n = make_attach(&m);
	struct ninep_msg d;
	assert_int_equal(decode(m.b, n, &d), 0);
	assert_int_equal(d.type, P9_TATTACH);
	assert_int_equal(d.tag, 7);
	assert_string_equal(d.u.attach.uname.s, "root");
	for (size_t len = 0; len < n; len++) {
		/* Cut short, with the size field telling the truth about the cut. */
		uint8_t b[64];
		memcpy(b, m.b, len);
		if (len >= 4)
			le32_put(b, (uint32_t)len);
		assert_int_equal(decode(b, len, &d), -EPROTO);
	}
}

static void test_size_lies(void **state)
{
	struct msg m;
	size_t n = make_attach(&m);
	struct ninep_msg d;
	le32_put(m.b, (uint32_t)n + 1);
	assert_int_equal(decode(m.b, n, &d), -EPROTO);
	le32_put(m.b, (uint32_t)n - 1);
	assert_int_equal(decode(m.b, n, &d), -EPROTO);
	le32_put(m.b, 0xffffffffu);
	assert_int_equal(decode(m.b, n, &d), -EPROTO);
	/* Bytes past the last field. */
	le32_put(m.b, (uint32_t)n + 2);
	m.b[n] = m.b[n + 1] = 0;
	assert_int_equal(decode(m.b, n + 2, &d), -EPROTO);
}

static void test_string_past_end(void **state)
{
	struct msg m;
	msg_start(&m, P9_TWALK, 1);
	p9_put_u32(&m.w, 1);
	p9_put_u32(&m.w, 2);
	p9_put_u16(&m.w, 1);
	p9_put_u16(&m.w, 100);         /* a 100-byte name ... */
	memcpy(p9_put_room(&m.w, 3), "abc", 3);   /* ... of 3 bytes */
	size_t n = msg_end(&m);
	struct ninep_msg d;
	assert_int_equal(decode(m.b, n, &d), -EPROTO);
	/* A write whose count runs past the message. */
	msg_start(&m, P9_TWRITE, 1);
	p9_put_u32(&m.w, 1);
	p9_put_u64(&m.w, 0);
	p9_put_u32(&m.w, 10);
	memcpy(p9_put_room(&m.w, 9), "123456789", 9);
	n = msg_end(&m);
	assert_int_equal(decode(m.b, n, &d), -EPROTO);
}

static void test_walk_names(void **state)
{
	struct ninep_msg d;
	for (unsigned names = 15; names <= 17; names++) {
		struct msg m;
		msg_start(&m, P9_TWALK, 1);
		p9_put_u32(&m.w, 1);
		p9_put_u32(&m.w, 2);
		p9_put_u16(&m.w, (uint16_t)names);
		for (unsigned i = 0; i < names; i++)
			put_s(&m, "x");
		size_t n = msg_end(&m);
		assert_int_equal(decode(m.b, n, &d), names <= NINEP_MAXWELEM ? 0 : -EPROTO);
		if (names <= NINEP_MAXWELEM)
			assert_int_equal(d.u.walk.nwname, names);
	}
}

static void test_unknown_type(void **state)
{
	struct msg m;
	msg_start(&m, 200, 9);
	p9_put_u32(&m.w, 5);
	size_t n = msg_end(&m);
	struct ninep_msg d;
	assert_int_equal(decode(m.b, n, &d), -EOPNOTSUPP);
	assert_int_equal(d.tag, 9);
	/* An R-message is not a request either. */
	msg_start(&m, P9_RVERSION, 9);
	n = msg_end(&m);
	assert_int_equal(decode(m.b, n, &d), -EOPNOTSUPP);
}

static void test_embedded_nul(void **state)
{
	struct msg m;
	msg_start(&m, P9_TMKDIR, 3);
	p9_put_u32(&m.w, 1);
	p9_put_str(&m.w, "a\0b", 3);
	p9_put_u32(&m.w, 0755);
	p9_put_u32(&m.w, 0);
	size_t n = msg_end(&m);
	struct ninep_msg d;
	assert_int_equal(decode(m.b, n, &d), 0);
	assert_int_equal(d.u.mkdir.name.len, 3);
	assert_int_equal(strlen(d.u.mkdir.name.s), 1);   /* the handler sees it */
}

static void test_encoder_overflow(void **state)
{
	uint8_t b[16];
	struct p9_wr w;
	p9_wr_init(&w, b, sizeof b, P9_RREAD, 1);
	p9_put_u32(&w, 1);
	assert_int_equal(p9_wr_finish(&w), 11);
	p9_put_u64(&w, 1);   /* 19 > 16 */
	assert_true(w.err);
	assert_int_equal(p9_wr_finish(&w), 0);
}

/* ---- a round trip ---- */

struct client {
	int fd;
	uint8_t r[1 << 16];
	size_t rlen;
};

static void client_connect(struct client *c, int port)
{
	c->fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(c->fd >= 0);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	assert_int_equal(connect(c->fd, (struct sockaddr *)&sin, sizeof sin), 0);
	struct timeval tv = { 10, 0 };
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

static void send_all(int fd, const void *p, size_t n)
{
	assert_int_equal(send(fd, p, n, MSG_NOSIGNAL), (ssize_t)n);
}

static bool recv_all(int fd, void *p, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t k = recv(fd, (char *)p + got, n - got, 0);
		if (k <= 0)
			return false;
		got += (size_t)k;
	}
	return true;
}

/* Read one reply: its type; fills c->r / rlen. */
static int client_recv(struct client *c)
{
	if (!recv_all(c->fd, c->r, 4))
		return -1;
	uint32_t n = le32_get(c->r);
	assert_true(n >= 7 && n <= sizeof c->r);
	assert_true(recv_all(c->fd, c->r + 4, n - 4));
	c->rlen = n;
	return c->r[4];
}

static int rpc(struct client *c, struct msg *m, uint16_t tag)
{
	size_t n = msg_end(m);
	send_all(c->fd, m->b, n);
	int t = client_recv(c);
	assert_int_equal(c->r[5] | c->r[6] << 8, tag);
	return t;
}

static uint32_t rlerror(struct client *c)
{
	assert_int_equal(c->r[4], P9_RLERROR);
	return le32_get(c->r + 7);
}

struct rt {
	struct fsfix f;
	struct ninep_server *s;
	int port;
};

static int rt_setup(void **state)
{
	struct rt *t = calloc(1, sizeof *t);
	fsfix_init(&t->f, "ninep-wire");
	struct ninep_options o = { .listen = { "127.0.0.1:0" } };
	assert_int_equal(ninep_server_start(t->f.fs, &o, &t->s), 0);
	t->port = ninep_server_port(t->s, 0);
	assert_true(t->port > 0);
	*state = t;
	return 0;
}

static int rt_teardown(void **state)
{
	struct rt *t = *state;
	ninep_server_stop(t->s);
	fsfix_done(&t->f);
	free(t);
	return 0;
}

static void version(struct client *c, uint32_t msize, const char *v, uint32_t *got_msize,
		    char *got_v)
{
	struct msg m;
	msg_start(&m, P9_TVERSION, P9_NOTAG);
	p9_put_u32(&m.w, msize);
	put_s(&m, v);
	assert_int_equal(rpc(c, &m, P9_NOTAG), P9_RVERSION);
	*got_msize = le32_get(c->r + 7);
	uint16_t l = (uint16_t)(c->r[11] | c->r[12] << 8);
	memcpy(got_v, c->r + 13, l);
	got_v[l] = 0;
}

static void test_version(void **state)
{
	struct rt *t = *state;
	struct client c;
	client_connect(&c, t->port);
	uint32_t ms;
	char v[64];
	version(&c, 8 << 20, "9P2000.L", &ms, v);
	assert_int_equal(ms, NINEP_MSIZE_MAX);
	assert_string_equal(v, "9P2000.L");
	version(&c, 8192, "9P2000.L", &ms, v);
	assert_int_equal(ms, 8192);
	version(&c, 8192, "9P2000.u", &ms, v);
	assert_string_equal(v, "unknown");
	version(&c, 100, "9P2000.L", &ms, v);      /* below the least msize */
	assert_string_equal(v, "unknown");
	/* Without a version, requests are refused. */
	struct msg m;
	msg_start(&m, P9_TCLUNK, 1);
	p9_put_u32(&m.w, 1);
	assert_int_equal(rpc(&c, &m, 1), P9_RLERROR);
	close(c.fd);
}

static void attach(struct client *c, uint32_t fid, uint32_t uid)
{
	struct msg m;
	msg_start(&m, P9_TATTACH, 1);
	p9_put_u32(&m.w, fid);
	p9_put_u32(&m.w, P9_NOFID);
	put_s(&m, "");
	put_s(&m, "");
	p9_put_u32(&m.w, uid);
	assert_int_equal(rpc(c, &m, 1), P9_RATTACH);
	assert_int_equal(c->r[7], P9_QTDIR);
	assert_int_equal(le64_get(c->r + 12), FS_ROOT_INO);
}

static void test_round_trip(void **state)
{
	struct rt *t = *state;
	struct client c;
	struct msg m;
	uint32_t ms;
	char v[64];
	client_connect(&c, t->port);
	version(&c, 65536, "9P2000.L", &ms, v);
	attach(&c, 1, 0);

	/* Tauth: not required. */
	msg_start(&m, P9_TAUTH, 2);
	p9_put_u32(&m.w, 9);
	put_s(&m, "");
	put_s(&m, "");
	p9_put_u32(&m.w, 0);
	assert_int_equal(rpc(&c, &m, 2), P9_RLERROR);
	assert_int_equal(rlerror(&c), ENOENT);

	/* Clone the root, create a file through the clone. */
	msg_start(&m, P9_TWALK, 3);
	p9_put_u32(&m.w, 1);
	p9_put_u32(&m.w, 2);
	p9_put_u16(&m.w, 0);
	assert_int_equal(rpc(&c, &m, 3), P9_RWALK);
	msg_start(&m, P9_TLCREATE, 4);
	p9_put_u32(&m.w, 2);
	put_s(&m, "hello");
	p9_put_u32(&m.w, 2);           /* O_RDWR */
	p9_put_u32(&m.w, 0640);
	p9_put_u32(&m.w, 0);
	assert_int_equal(rpc(&c, &m, 4), P9_RLCREATE);
	uint64_t ino = le64_get(c.r + 12);

	msg_start(&m, P9_TWRITE, 5);
	p9_put_u32(&m.w, 2);
	p9_put_u64(&m.w, 3);
	p9_put_u32(&m.w, 5);
	memcpy(p9_put_room(&m.w, 5), "world", 5);
	assert_int_equal(rpc(&c, &m, 5), P9_RWRITE);
	assert_int_equal(le32_get(c.r + 7), 5);

	msg_start(&m, P9_TREAD, 6);
	p9_put_u32(&m.w, 2);
	p9_put_u64(&m.w, 0);
	p9_put_u32(&m.w, 100);
	assert_int_equal(rpc(&c, &m, 6), P9_RREAD);
	assert_int_equal(le32_get(c.r + 7), 8);
	assert_memory_equal(c.r + 11, "\0\0\0world", 8);

	msg_start(&m, P9_TGETATTR, 7);
	p9_put_u32(&m.w, 2);
	p9_put_u64(&m.w, P9_GETATTR_ALL);
	assert_int_equal(rpc(&c, &m, 7), P9_RGETATTR);
	const uint8_t *a = c.r + 7;
	assert_true(le64_get(a) & P9_GETATTR_SIZE);
	assert_int_equal(le64_get(a + 8 + 5), ino);                 /* qid.path */
	assert_int_equal(le32_get(a + 21), S_IFREG | 0640);           /* mode */
	assert_int_equal(le64_get(a + 33 + 16), 8);                 /* size */

	/* A partial walk: the first name is found, the second not. */
	msg_start(&m, P9_TWALK, 8);
	p9_put_u32(&m.w, 1);
	p9_put_u32(&m.w, 3);
	p9_put_u16(&m.w, 2);
	put_s(&m, "hello");
	put_s(&m, "nope");
	assert_int_equal(rpc(&c, &m, 8), P9_RWALK);
	assert_int_equal(c.r[7] | c.r[8] << 8, 1);
	/* ... and newfid was not made. */
	msg_start(&m, P9_TCLUNK, 9);
	p9_put_u32(&m.w, 3);
	assert_int_equal(rpc(&c, &m, 9), P9_RLERROR);
	assert_int_equal(rlerror(&c), EBADF);
	/* A first name missing is an error. */
	msg_start(&m, P9_TWALK, 10);
	p9_put_u32(&m.w, 1);
	p9_put_u32(&m.w, 3);
	p9_put_u16(&m.w, 1);
	put_s(&m, "nope");
	assert_int_equal(rpc(&c, &m, 10), P9_RLERROR);
	assert_int_equal(rlerror(&c), ENOENT);

	/* Tflush of a tag nobody uses: Rflush at once, many times. */
	for (int i = 0; i < 2000; i++) {
		msg_start(&m, P9_TFLUSH, 11);
		p9_put_u16(&m.w, (uint16_t)(500 + i));
		assert_int_equal(rpc(&c, &m, 11), P9_RFLUSH);
	}

	msg_start(&m, P9_TCLUNK, 12);
	p9_put_u32(&m.w, 2);
	assert_int_equal(rpc(&c, &m, 12), P9_RCLUNK);
	msg_start(&m, P9_TCLUNK, 12);
	p9_put_u32(&m.w, 2);
	assert_int_equal(rpc(&c, &m, 12), P9_RLERROR);

	/* The file is there for the core too. */
	struct fs_attr fa;
	assert_int_equal(fs_lookup(t->f.fs, &FSFIX_ROOT, FS_ROOT_INO, "hello", &fa), 0);
	assert_int_equal(fa.ino, ino);
	assert_int_equal(fa.size, 8);

	/* Malformed but whole: Rlerror(EPROTO), the connection goes on. */
	msg_start(&m, P9_TCLUNK, 13);
	p9_put_u16(&m.w, 2);   /* a fid[4] of 2 bytes */
	assert_int_equal(rpc(&c, &m, 13), P9_RLERROR);
	assert_int_equal(rlerror(&c), EPROTO);
	msg_start(&m, 250, 14);
	assert_int_equal(rpc(&c, &m, 14), P9_RLERROR);
	assert_int_equal(rlerror(&c), EOPNOTSUPP);

	/* Larger than msize: the server closes the connection. */
	uint8_t big[8];
	le32_put(big, 65537);
	big[4] = P9_TWRITE;
	big[5] = big[6] = 0;
	send_all(c.fd, big, 7);
	assert_int_equal(client_recv(&c), -1);
	close(c.fd);
}

static void walk1(struct client *c, uint32_t fid, uint32_t newfid, const char *name)
{
	struct msg m;
	msg_start(&m, P9_TWALK, 20);
	p9_put_u32(&m.w, fid);
	p9_put_u32(&m.w, newfid);
	p9_put_u16(&m.w, name ? 1 : 0);
	if (name)
		put_s(&m, name);
	assert_int_equal(rpc(c, &m, 20), P9_RWALK);
}

static void clunk(struct client *c, uint32_t fid, int want)
{
	struct msg m;
	msg_start(&m, P9_TCLUNK, 21);
	p9_put_u32(&m.w, fid);
	assert_int_equal(rpc(c, &m, 21), want);
}

/* Treaddir in small pieces resumes at each entry's offset; xattrs set
 * through Txattrcreate + Twrite + Tclunk read back through Txattrwalk;
 * Trenameat and Tunlinkat (AT_REMOVEDIR). */
static void test_dir_xattr(void **state)
{
	struct rt *t = *state;
	struct client c;
	struct msg m;
	uint32_t ms;
	char v[64];
	client_connect(&c, t->port);
	version(&c, 65536, "9P2000.L", &ms, v);
	attach(&c, 1, 0);
	msg_start(&m, P9_TMKDIR, 2);
	p9_put_u32(&m.w, 1);
	put_s(&m, "d");
	p9_put_u32(&m.w, 0755);
	p9_put_u32(&m.w, 0);
	assert_int_equal(rpc(&c, &m, 2), P9_RMKDIR);
	assert_int_equal(c.r[7], P9_QTDIR);
	uint64_t dino = le64_get(c.r + 12);
	for (int i = 0; i < 20; i++) {
		char name[16];
		snprintf(name, sizeof name, "file%02d", i);
		assert_int_equal(fsfix_mk(&t->f, &FSFIX_ROOT, dino, name, S_IFREG | 0644) > 0, 1);
	}
	walk1(&c, 1, 2, "d");
	msg_start(&m, P9_TLOPEN, 3);
	p9_put_u32(&m.w, 2);
	p9_put_u32(&m.w, 0);
	assert_int_equal(rpc(&c, &m, 3), P9_RLOPEN);
	uint64_t off = 0;
	int seen = 0;
	for (;;) {
		msg_start(&m, P9_TREADDIR, 4);
		p9_put_u32(&m.w, 2);
		p9_put_u64(&m.w, off);
		p9_put_u32(&m.w, 100);   /* two or three entries a call */
		assert_int_equal(rpc(&c, &m, 4), P9_RREADDIR);
		uint32_t cnt = le32_get(c.r + 7);
		assert_true(cnt <= 100);
		if (cnt == 0)
			break;
		const uint8_t *p = c.r + 11, *end = p + cnt;
		while (p < end) {
			off = le64_get(p + 13);
			uint16_t nl = (uint16_t)(p[22] | p[23] << 8);
			p += 24 + nl;
			seen++;
		}
		assert_true(p == end);
	}
	assert_int_equal(seen, 22);   /* ".", ".." and the 20 files */
	clunk(&c, 2, P9_RCLUNK);

	/* user.color = "blue" through an xattr fid. */
	walk1(&c, 1, 3, "d");
	msg_start(&m, P9_TXATTRCREATE, 5);
	p9_put_u32(&m.w, 3);
	put_s(&m, "user.color");
	p9_put_u64(&m.w, 4);
	p9_put_u32(&m.w, 0);
	assert_int_equal(rpc(&c, &m, 5), P9_RXATTRCREATE);
	msg_start(&m, P9_TWRITE, 6);
	p9_put_u32(&m.w, 3);
	p9_put_u64(&m.w, 0);
	p9_put_u32(&m.w, 4);
	memcpy(p9_put_room(&m.w, 4), "blue", 4);
	assert_int_equal(rpc(&c, &m, 6), P9_RWRITE);
	clunk(&c, 3, P9_RCLUNK);
	char val[16];
	size_t vl = 0;
	assert_int_equal(fs_getxattr(t->f.fs, &FSFIX_ROOT, dino, "user.color", val, sizeof val, &vl), 0);
	assert_int_equal(vl, 4);
	/* Read back, and the list with the empty name. */
	for (int list = 0; list < 2; list++) {
		walk1(&c, 1, 5, "d");
		msg_start(&m, P9_TXATTRWALK, 7);
		p9_put_u32(&m.w, 5);
		p9_put_u32(&m.w, 4);
		put_s(&m, list ? "" : "user.color");
		assert_int_equal(rpc(&c, &m, 7), P9_RXATTRWALK);
		uint64_t size = le64_get(c.r + 7);
		assert_int_equal(size, list ? strlen("user.color") + 1 : 4);
		msg_start(&m, P9_TREAD, 8);
		p9_put_u32(&m.w, 4);
		p9_put_u64(&m.w, 0);
		p9_put_u32(&m.w, 100);
		assert_int_equal(rpc(&c, &m, 8), P9_RREAD);
		assert_int_equal(le32_get(c.r + 7), size);
		assert_memory_equal(c.r + 11, list ? "user.color" : "blue", size);
		clunk(&c, 4, P9_RCLUNK);
		clunk(&c, 5, P9_RCLUNK);
	}

	/* Rename d/file00 to top, remove d's files and d. */
	msg_start(&m, P9_TRENAMEAT, 9);
	p9_put_u32(&m.w, 1);
	put_s(&m, "d");
	p9_put_u32(&m.w, 1);
	put_s(&m, "e");
	assert_int_equal(rpc(&c, &m, 9), P9_RRENAMEAT);
	walk1(&c, 1, 6, "e");
	for (int i = 0; i < 20; i++) {
		char name[16];
		snprintf(name, sizeof name, "file%02d", i);
		msg_start(&m, P9_TUNLINKAT, 10);
		p9_put_u32(&m.w, 6);
		put_s(&m, name);
		p9_put_u32(&m.w, 0);
		assert_int_equal(rpc(&c, &m, 10), P9_RUNLINKAT);
	}
	msg_start(&m, P9_TUNLINKAT, 11);
	p9_put_u32(&m.w, 1);
	put_s(&m, "e");
	p9_put_u32(&m.w, 0);   /* a directory without AT_REMOVEDIR */
	assert_int_equal(rpc(&c, &m, 11), P9_RLERROR);
	msg_start(&m, P9_TUNLINKAT, 12);
	p9_put_u32(&m.w, 1);
	put_s(&m, "e");
	p9_put_u32(&m.w, P9_AT_REMOVEDIR);
	assert_int_equal(rpc(&c, &m, 12), P9_RUNLINKAT);
	struct fs_attr a;
	assert_int_equal(fs_lookup(t->f.fs, &FSFIX_ROOT, FS_ROOT_INO, "e", &a), -ENOENT);
	/* The fid of the removed directory is stale now. */
	msg_start(&m, P9_TGETATTR, 13);
	p9_put_u32(&m.w, 6);
	p9_put_u64(&m.w, P9_GETATTR_ALL);
	assert_int_equal(rpc(&c, &m, 13), P9_RLERROR);
	close(c.fd);
}

/* Random requests of every type with small fids, tricky names and
 * random (sometimes cut) bodies: each gets an answer with its tag, and
 * the server still works afterwards.  Seeded; the seed is printed. */
static void put_rand_body(struct msg *m, uint8_t type, unsigned *seed)
{
	static const char *names[] = { "a", "b", "..", ".", "", "x/y", "user.a", "c" };
#define R() ((uint32_t)rand_r(seed))
#define FID() p9_put_u32(&m->w, R() % 8)
#define NAME() put_s(m, names[R() % 8])
#define U32() p9_put_u32(&m->w, R() % 3 ? R() % 4096 : R())
#define U64() p9_put_u64(&m->w, R() % 3 ? R() % 65536 : (uint64_t)R() << 32 | R())
	switch (type) {
	case P9_TATTACH: FID(); p9_put_u32(&m->w, P9_NOFID); NAME(); put_s(m, R() % 2 ? "" : "/a"); p9_put_u32(&m->w, R() % 3 ? 0 : 1000); break;
	case P9_TWALK: { FID(); FID(); unsigned k = R() % 4; p9_put_u16(&m->w, (uint16_t)k); for (unsigned i = 0; i < k; i++) NAME(); break; }
	case P9_TREAD: case P9_TREADDIR: FID(); U64(); U32(); break;
	case P9_TWRITE: { FID(); U64(); unsigned k = R() % 64; p9_put_u32(&m->w, k); memset(p9_put_room(&m->w, k), 'w', k); break; }
	case P9_TCLUNK: case P9_TREMOVE: case P9_TSTATFS: case P9_TREADLINK: FID(); break;
	case P9_TLOPEN: FID(); p9_put_u32(&m->w, R() % 4 | (R() % 4 ? 0 : P9_DOTL_TRUNC)); break;
	case P9_TLCREATE: FID(); NAME(); p9_put_u32(&m->w, R() % 3); p9_put_u32(&m->w, R() % 01000); U32(); break;
	case P9_TSYMLINK: FID(); NAME(); NAME(); U32(); break;
	case P9_TMKNOD: FID(); NAME(); p9_put_u32(&m->w, R()); U32(); U32(); U32(); break;
	case P9_TRENAME: FID(); FID(); NAME(); break;
	case P9_TGETATTR: FID(); U64(); break;
	case P9_TSETATTR: FID(); p9_put_u32(&m->w, R() % 0x200); U32(); U32(); U32(); U64(); U64(); U64(); U64(); U64(); break;
	case P9_TXATTRWALK: FID(); FID(); NAME(); break;
	case P9_TXATTRCREATE: FID(); NAME(); p9_put_u64(&m->w, R() % 100); p9_put_u32(&m->w, R() % 4); break;
	case P9_TFSYNC: FID(); U32(); break;
	case P9_TLOCK: FID(); p9_put_u8(&m->w, (uint8_t)(R() % 4)); p9_put_u32(&m->w, 0); U64(); U64(); U32(); NAME(); break;
	case P9_TGETLOCK: FID(); p9_put_u8(&m->w, (uint8_t)(R() % 4)); U64(); U64(); U32(); NAME(); break;
	case P9_TLINK: FID(); FID(); NAME(); break;
	case P9_TMKDIR: FID(); NAME(); p9_put_u32(&m->w, R() % 01000); U32(); break;
	case P9_TRENAMEAT: FID(); NAME(); FID(); NAME(); break;
	case P9_TUNLINKAT: FID(); NAME(); p9_put_u32(&m->w, R() % 2 ? 0 : P9_AT_REMOVEDIR); break;
	case P9_TFLUSH: p9_put_u16(&m->w, (uint16_t)R()); break;
	case P9_TAUTH: FID(); NAME(); NAME(); U32(); break;
	}
#undef R
#undef FID
#undef NAME
#undef U32
#undef U64
}

/* access=user: each Tattach's uid is the fid tree's credentials; the
 * creating messages' gid becomes the new file's group. */
static void attach_as(struct client *c, uint32_t fid, uint32_t uid, int want)
{
	struct msg m;
	msg_start(&m, P9_TATTACH, 1);
	p9_put_u32(&m.w, fid);
	p9_put_u32(&m.w, P9_NOFID);
	put_s(&m, "");
	put_s(&m, "");
	p9_put_u32(&m.w, uid);
	assert_int_equal(rpc(c, &m, 1), want);
}

static int mkdir_at(struct client *c, uint32_t dfid, const char *name, uint32_t mode,
		    uint32_t gid)
{
	struct msg m;
	msg_start(&m, P9_TMKDIR, 2);
	p9_put_u32(&m.w, dfid);
	put_s(&m, name);
	p9_put_u32(&m.w, mode);
	p9_put_u32(&m.w, gid);
	return rpc(c, &m, 2);
}

static void test_credentials(void **state)
{
	struct rt *t = *state;
	struct client c;
	uint32_t ms;
	char v[64];
	client_connect(&c, t->port);
	version(&c, 65536, "9P2000.L", &ms, v);
	attach_as(&c, 1, 0, P9_RATTACH);
	attach_as(&c, 2, 54321, P9_RATTACH);   /* a uid no passwd entry has */
	/* The root directory is root's 0755: the user may not create there. */
	assert_int_equal(mkdir_at(&c, 2, "u", 0755, 54321), P9_RLERROR);
	assert_int_equal(rlerror(&c), EACCES);
	assert_int_equal(mkdir_at(&c, 1, "shared", 0777, 0), P9_RMKDIR);
	struct fs_attr a;
	struct fs_setattr sa = { .valid = FS_SET_MODE, .mode = 0777 };
	assert_int_equal(fs_lookup(t->f.fs, &FSFIX_ROOT, FS_ROOT_INO, "shared", &a), 0);
	assert_int_equal(fs_setattr(t->f.fs, &FSFIX_ROOT, a.ino, &sa, NULL, NULL), 0); /* no umask */
	walk1(&c, 2, 3, "shared");
	assert_int_equal(mkdir_at(&c, 3, "mine", 0700, 777), P9_RMKDIR);
	assert_int_equal(fs_lookup(t->f.fs, &FSFIX_ROOT, a.ino, "mine", &a), 0);
	assert_int_equal(a.uid, 54321);
	assert_int_equal(a.gid, 777);
	/* Root may not be refused; the user may not enter root's 0700. */
	walk1(&c, 1, 4, "shared");
	assert_int_equal(mkdir_at(&c, 4, "rootonly", 0700, 0), P9_RMKDIR);
	struct msg m;
	msg_start(&m, P9_TWALK, 5);
	p9_put_u32(&m.w, 3);
	p9_put_u32(&m.w, 5);
	p9_put_u16(&m.w, 2);
	put_s(&m, "rootonly");
	put_s(&m, "x");
	assert_int_equal(rpc(&c, &m, 5), P9_RWALK);   /* found, not entered: 1 qid */
	assert_int_equal(c.r[7], 1);
	close(c.fd);
}

/* A read-only server (replica, checkpoint) answers EROFS to mutations. */
static void test_read_only(void **state)
{
	struct rt *t = *state;
	ninep_server_stop(t->s);
	struct ninep_options o = { .listen = { "127.0.0.1:0" }, .read_only = true };
	assert_int_equal(ninep_server_start(t->f.fs, &o, &t->s), 0);
	t->port = ninep_server_port(t->s, 0);
	struct client c;
	uint32_t ms;
	char v[64];
	client_connect(&c, t->port);
	version(&c, 65536, "9P2000.L", &ms, v);
	attach(&c, 1, 0);
	assert_int_equal(mkdir_at(&c, 1, "d", 0755, 0), P9_RLERROR);
	assert_int_equal(rlerror(&c), EROFS);
	struct msg m;
	msg_start(&m, P9_TLOPEN, 3);
	p9_put_u32(&m.w, 1);
	p9_put_u32(&m.w, 0);
	assert_int_equal(rpc(&c, &m, 3), P9_RLOPEN);   /* reading is fine */
	msg_start(&m, P9_TREMOVE, 4);
	p9_put_u32(&m.w, 1);
	assert_int_equal(rpc(&c, &m, 4), P9_RLERROR);
	assert_int_equal(rlerror(&c), EROFS);
	clunk(&c, 1, P9_RLERROR);   /* Tremove clunked it anyway */
	close(c.fd);
}

static const uint8_t random_types[] = {
	P9_TATTACH, P9_TWALK, P9_TREAD, P9_TREADDIR, P9_TWRITE, P9_TCLUNK, P9_TREMOVE,
	P9_TSTATFS, P9_TREADLINK, P9_TLOPEN, P9_TLCREATE, P9_TSYMLINK, P9_TMKNOD,
	P9_TRENAME, P9_TGETATTR, P9_TSETATTR, P9_TXATTRWALK, P9_TXATTRCREATE, P9_TFSYNC,
	P9_TLOCK, P9_TGETLOCK, P9_TLINK, P9_TMKDIR, P9_TRENAMEAT, P9_TUNLINKAT, P9_TFLUSH,
	P9_TAUTH, 3, 150,
};

struct session {
	int port;
	unsigned seed;
	unsigned batch;          /* requests in flight at once */
	int rounds;
	bool ok;
};

/* rounds batches of batch random requests, each batch answered whole
 * (in any order: every tag once). */
static void *random_session(void *arg)
{
	struct session *se = arg;
	struct client *c = calloc(1, sizeof *c);
	struct msg *m = calloc(1, sizeof *m);
	uint32_t ms;
	char v[64];
	client_connect(c, se->port);
	version(c, 65536, "9P2000.L", &ms, v);
	attach(c, 0, 0);
	se->ok = true;
	for (int i = 0; i < se->rounds && se->ok; i++) {
		bool seen[64] = { false };
		for (unsigned k = 0; k < se->batch; k++) {
			uint8_t type = random_types[(unsigned)rand_r(&se->seed) % sizeof random_types];
			msg_start(m, type, (uint16_t)k);
			put_rand_body(m, type, &se->seed);
			size_t n = msg_end(m);
			if (rand_r(&se->seed) % 8 == 0 && n > 7) {   /* cut the body short */
				n = 7 + (unsigned)rand_r(&se->seed) % (n - 7);
				le32_put(m->b, (uint32_t)n);
			}
			send_all(c->fd, m->b, n);
		}
		for (unsigned k = 0; k < se->batch; k++) {
			unsigned tag;
			if (client_recv(c) <= 0 || (tag = (unsigned)(c->r[5] | c->r[6] << 8)) >= se->batch ||
			    seen[tag]) {
				se->ok = false;
				break;
			}
			seen[tag] = true;
		}
	}
	close(c->fd);
	free(m);
	free(c);
	return NULL;
}

static void test_random_requests(void **state)
{
	struct rt *t = *state;
	unsigned seed = (unsigned)time(NULL);
	const char *env = getenv("NINEP_SEED");
	if (env)
		seed = (unsigned)strtoul(env, NULL, 10);
	printf("# random requests: NINEP_SEED=%u\n", seed);
	/* One at a time, then three connections with 16 in flight each
	 * (clunks racing reads on the same fids). */
	struct session one = { t->port, seed, 1, 3000, false };
	random_session(&one);
	assert_true(one.ok);
	struct session many[3];
	pthread_t th[3];
	for (int i = 0; i < 3; i++) {
		many[i] = (struct session){ t->port, seed + 1 + (unsigned)i, 16, 200, false };
		assert_int_equal(pthread_create(&th[i], NULL, random_session, &many[i]), 0);
	}
	for (int i = 0; i < 3; i++) {
		pthread_join(th[i], NULL);
		assert_true(many[i].ok);
	}
	/* Still serving. */
	struct client c2;
	uint32_t ms;
	char v[64];
	client_connect(&c2, t->port);
	version(&c2, 65536, "9P2000.L", &ms, v);
	attach(&c2, 1, 0);
	close(c2.fd);
}

/* A blocked Tlock waits in a thread of its own; the lock's release grants
 * it; Tflush cancels it, and the Rflush (each of many) comes after the
 * request's own reply. */
static void tlock(struct msg *m, uint16_t tag, uint32_t fid, uint8_t type, uint32_t flags)
{
	msg_start(m, P9_TLOCK, tag);
	p9_put_u32(&m->w, fid);
	p9_put_u8(&m->w, type);
	p9_put_u32(&m->w, flags);
	p9_put_u64(&m->w, 0);
	p9_put_u64(&m->w, 0);
	p9_put_u32(&m->w, 77);
	put_s(m, "guest");
}

static void test_lock_flush(void **state)
{
	struct rt *t = *state;
	struct client c;
	struct msg m;
	uint32_t ms;
	char v[64];
	client_connect(&c, t->port);
	version(&c, 65536, "9P2000.L", &ms, v);
	attach(&c, 1, 0);
	msg_start(&m, P9_TWALK, 2);
	p9_put_u32(&m.w, 1);
	p9_put_u32(&m.w, 2);
	p9_put_u16(&m.w, 0);
	assert_int_equal(rpc(&c, &m, 2), P9_RWALK);
	msg_start(&m, P9_TLCREATE, 3);
	p9_put_u32(&m.w, 2);
	put_s(&m, "locked");
	p9_put_u32(&m.w, 2);
	p9_put_u32(&m.w, 0644);
	p9_put_u32(&m.w, 0);
	assert_int_equal(rpc(&c, &m, 3), P9_RLCREATE);
	uint64_t ino = le64_get(c.r + 12);

	/* Someone else (another frontend) holds a write lock. */
	struct fs_lock_owner other = { .frontend = 1, .owner = 1, .pid = 1, .kind = FS_LOCK_POSIX };
	struct fs_lock lk = { .type = F_WRLCK, .start = 0, .end = FS_LOCK_EOF };
	assert_int_equal(fs_setlk(t->f.fs, ino, &other, &lk, NULL), 0);

	/* Not blocking: BLOCKED at once. */
	tlock(&m, 4, 2, P9_LOCK_TYPE_WRLCK, 0);
	assert_int_equal(rpc(&c, &m, 4), P9_RLOCK);
	assert_int_equal(c.r[7], P9_LOCK_BLOCKED);

	/* Blocking: granted when the other lets go. */
	tlock(&m, 5, 2, P9_LOCK_TYPE_WRLCK, P9_LOCK_FLAGS_BLOCK);
	send_all(c.fd, m.b, msg_end(&m));
	usleep(100 * 1000);
	struct fs_lock un = { .type = F_UNLCK, .start = 0, .end = FS_LOCK_EOF };
	assert_int_equal(fs_setlk(t->f.fs, ino, &other, &un, NULL), 0);
	assert_int_equal(client_recv(&c), P9_RLOCK);
	assert_int_equal(c.r[5], 5);
	assert_int_equal(c.r[7], P9_LOCK_SUCCESS);
	/* Now we hold it: the other one conflicts. */
	assert_int_equal(fs_setlk(t->f.fs, ino, &other, &lk, NULL), -EAGAIN);
	tlock(&m, 6, 2, P9_LOCK_TYPE_UNLCK, 0);
	assert_int_equal(rpc(&c, &m, 6), P9_RLOCK);
	assert_int_equal(fs_setlk(t->f.fs, ino, &other, &lk, NULL), 0);

	/* Blocking again, then a flood of Tflush for it. */
	tlock(&m, 7, 2, P9_LOCK_TYPE_WRLCK, P9_LOCK_FLAGS_BLOCK);
	send_all(c.fd, m.b, msg_end(&m));
	usleep(100 * 1000);
	enum { FLUSHES = 1000 };
	for (int i = 0; i < FLUSHES; i++) {
		msg_start(&m, P9_TFLUSH, (uint16_t)(100 + i));
		p9_put_u16(&m.w, 7);
		send_all(c.fd, m.b, msg_end(&m));
	}
	assert_int_equal(client_recv(&c), P9_RLERROR);   /* the lock's own reply first */
	assert_int_equal(c.r[5], 7);
	assert_int_equal(rlerror(&c), EINTR);
	for (int i = 0; i < FLUSHES; i++) {
		assert_int_equal(client_recv(&c), P9_RFLUSH);
		assert_int_equal(c.r[5] | c.r[6] << 8, 100 + i);
	}
	assert_int_equal(fs_setlk(t->f.fs, ino, &other, &un, NULL), 0);

	/* A blocked lock when the connection goes: the server does not hang. */
	assert_int_equal(fs_setlk(t->f.fs, ino, &other, &lk, NULL), 0);
	tlock(&m, 8, 2, P9_LOCK_TYPE_WRLCK, P9_LOCK_FLAGS_BLOCK);
	send_all(c.fd, m.b, msg_end(&m));
	usleep(50 * 1000);
	close(c.fd);
}

/* A fid's user (loaded at Tattach) goes stale after the cache's TTL; a
 * fid lives as long as the mount, so each request's credentials come
 * from the user database again: a group the user left is gone. */
static void test_cred_refresh(void **state)
{
	struct ninep_server s = { 0 };
	pthread_mutex_init(&s.users_mu, NULL);
	struct ninep_conn c = { .srv = &s };
	struct ninep_user *u = ninep_user_get(&s, 0);
	uint32_t *groups = u->groups, ngroups = u->ngroups, old[1] = { 424242 };
	u->groups = old;   /* what the database said an hour ago */
	u->ngroups = 1;
	struct ninep_fid f = { .user = u };
	struct ninep_req rq = { .c = &c };
	struct fs_cred cr = ninep_cred(&rq, &f);
	assert_int_equal(cr.ngroups, 1);   /* fresh: still the one loaded */
	assert_int_equal(cr.groups[0], 424242);
	u->loaded -= 3600;
	cr = ninep_cred(&rq, &f);
	assert_int_equal(cr.uid, 0);
	for (uint32_t i = 0; i < cr.ngroups; i++)
		if (cr.groups[i] == 424242)
			fail_msg("a stale user's old groups are still used");
	ninep_req_users_put(&rq);
	u->groups = groups;
	u->ngroups = ngroups;
	ninep_user_put(&s, u);
	ninep_users_free(&s);
	pthread_mutex_destroy(&s.users_mu);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_size_lies),
		cmocka_unit_test(test_string_past_end),
		cmocka_unit_test(test_walk_names),
		cmocka_unit_test(test_unknown_type),
		cmocka_unit_test(test_embedded_nul),
		cmocka_unit_test(test_encoder_overflow),
		cmocka_unit_test(test_cred_refresh),
		cmocka_unit_test_setup_teardown(test_version, rt_setup, rt_teardown),
		cmocka_unit_test_setup_teardown(test_round_trip, rt_setup, rt_teardown),
		cmocka_unit_test_setup_teardown(test_lock_flush, rt_setup, rt_teardown),
		cmocka_unit_test_setup_teardown(test_dir_xattr, rt_setup, rt_teardown),
		cmocka_unit_test_setup_teardown(test_random_requests, rt_setup, rt_teardown),
		cmocka_unit_test_setup_teardown(test_credentials, rt_setup, rt_teardown),
		cmocka_unit_test_setup_teardown(test_read_only, rt_setup, rt_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
