/* test-nbd-garbage.c -- the NBD server against raw bytes on a TCP socket
 * (an in-process server over the core, tests/fsfix.h): bad magic, a huge
 * option length, unknown options and client flags, unknown commands,
 * requests past the end, oversized lengths, random bytes after the
 * handshake (seeded: the seed is printed; TEST_SEED repeats one).
 * After each, the server still negotiates a new connection promptly, and
 * the well-formed paths (EXPORT_NAME with and without NO_ZEROES, LIST,
 * pipelined requests, DISC after a write) behave as the protocol says;
 * the export's pin lasts exactly as long as its connections (two at once,
 * every way one ends), a rename or growth while attached changes nothing
 * for the client, and structured replies are framed as the spec says
 * (BLOCK_STATUS descriptors and REQ_ONE, OFFSET_DATA, ERROR, NONE). */
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
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "fsfix.h"
#include "nbd/nbd.h"
#include "nbd/nbd_int.h"
#include "util/coding.h"

#define DISK_SIZE (4u << 20)

static struct fsfix F;
static struct nbd_server *S;
static int PORT;

/* ---- sockets ---- */

static int conn_open(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)PORT),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
	struct timeval tv = { .tv_sec = 5 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	return fd;
}

static void send_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;
	while (n) {
		ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
		if (w <= 0)
			return;   /* the server may have closed: the caller checks */
		b += w;
		n -= (size_t)w;
	}
}

/* Read n bytes: 0, or -1 at EOF/error/timeout. */
static int recv_all(int fd, void *p, size_t n)
{
	uint8_t *b = p;
	while (n) {
		ssize_t r = recv(fd, b, n, 0);
		if (r <= 0)
			return -1;
		b += r;
		n -= (size_t)r;
	}
	return 0;
}

/* The server closed the connection (EOF or reset) within 5 s, after
 * whatever it still had queued. */
static bool closed_by_server(int fd)
{
	uint8_t buf[4096];
	for (;;) {
		ssize_t r = recv(fd, buf, sizeof buf, 0);
		if (r == 0 || (r < 0 && errno == ECONNRESET))
			return true;
		if (r < 0)
			return false;   /* timeout */
	}
}

static void send_option(int fd, uint32_t opt, const void *data, uint32_t len)
{
	uint8_t h[16];
	be64_put(h, NBD_IHAVEOPT);
	be32_put(h + 8, opt);
	be32_put(h + 12, len);
	send_all(fd, h, 16);
	if (len)
		send_all(fd, data, len);
}

/* One option reply: its type; its data (up to cap) into buf. */
static uint32_t recv_option_reply(int fd, uint32_t opt, uint8_t *buf, size_t cap,
				  uint32_t *len)
{
	uint8_t h[20];
	assert_int_equal(recv_all(fd, h, 20), 0);
	assert_true(be64_get(h) == NBD_OPT_REPLY_MAGIC);
	assert_int_equal(be32_get(h + 8), opt);
	uint32_t n = be32_get(h + 16);
	assert_true(n <= cap);
	assert_int_equal(recv_all(fd, buf, n), 0);
	if (len)
		*len = n;
	return be32_get(h + 12);
}

/* Greeting and client flags. */
static int conn_greeted(uint32_t client_flags)
{
	int fd = conn_open();
	uint8_t g[18];
	assert_int_equal(recv_all(fd, g, 18), 0);
	assert_true(be64_get(g) == NBD_MAGIC);
	assert_true(be64_get(g + 8) == NBD_IHAVEOPT);
	assert_int_equal(be16_get(g + 16), NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
	uint8_t cf[4];
	be32_put(cf, client_flags);
	send_all(fd, cf, 4);
	return fd;
}

/* NBD_OPT_GO of name: the reply type that ended it (ACK or an error). */
static uint32_t go(int fd, const char *name, uint64_t *size)
{
	uint8_t d[300], buf[1024];
	size_t n = strlen(name);
	be32_put(d, (uint32_t)n);
	memcpy(d + 4, name, n);
	be16_put(d + 4 + n, 0);
	send_option(fd, NBD_OPT_GO, d, (uint32_t)(n + 6));
	for (;;) {
		uint32_t len, t = recv_option_reply(fd, NBD_OPT_GO, buf, sizeof buf, &len);
		if (t == NBD_REP_INFO && be16_get(buf) == NBD_INFO_EXPORT && size)
			*size = be64_get(buf + 2);
		if (t != NBD_REP_INFO)
			return t;
	}
}

/* A fresh connection in transmission (simple replies), within 2 s. */
static int conn_ready(void)
{
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int fd = conn_greeted(NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
	uint64_t size = 0;
	assert_int_equal(go(fd, "disk", &size), NBD_REP_ACK);
	assert_int_equal(size, DISK_SIZE);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 < 2000);
	return fd;
}

static void send_request(int fd, uint16_t flags, uint16_t type, uint64_t handle, uint64_t off,
			 uint32_t len)
{
	uint8_t r[28];
	be32_put(r, NBD_REQUEST_MAGIC);
	be16_put(r + 4, flags);
	be16_put(r + 6, type);
	be64_put(r + 8, handle);
	be64_put(r + 16, off);
	be32_put(r + 24, len);
	send_all(fd, r, 28);
}

/* A simple reply: its error; handle checked. */
static uint32_t recv_simple(int fd, uint64_t *handle)
{
	uint8_t h[16];
	assert_int_equal(recv_all(fd, h, 16), 0);
	assert_int_equal(be32_get(h), NBD_SIMPLE_REPLY_MAGIC);
	*handle = be64_get(h + 8);
	return be32_get(h + 4);
}

/* The server still serves: a new connection negotiates and reads. */
static void still_serving(void)
{
	int fd = conn_ready();
	uint8_t buf[512];
	uint64_t h;
	send_request(fd, 0, NBD_CMD_READ, 77, 0, sizeof buf);
	assert_int_equal(recv_simple(fd, &h), 0);
	assert_int_equal(h, 77);
	assert_int_equal(recv_all(fd, buf, sizeof buf), 0);
	send_request(fd, 0, NBD_CMD_DISC, 78, 0, 0);
	assert_true(closed_by_server(fd));
	close(fd);
}

/* ---- setup ---- */

static int setup(void **state)
{
	(void)state;
	fsfix_init(&F, "nbd-garbage");
	uint64_t dir = fsfix_mk(&F, &FSFIX_ROOT, FS_ROOT_INO, ".nbd", S_IFDIR | 0755);
	uint64_t ino = fsfix_mk(&F, &FSFIX_ROOT, dir, "disk", S_IFREG | 0600);
	struct fs_setattr sa = { .valid = FS_SET_SIZE, .size = DISK_SIZE };
	assert_int_equal(fs_setattr(F.fs, &FSFIX_ROOT, ino, &sa, NULL, NULL), 0);
	fsfix_mk(&F, &FSFIX_ROOT, dir, "subdir", S_IFDIR | 0755);
	struct nbd_options o = { .listen = "127.0.0.1:0", .workers = 4 };
	assert_int_equal(nbd_server_start(F.fs, &o, &S), 0);
	PORT = nbd_server_port(S);
	assert_true(PORT > 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	nbd_server_stop(S);
	fsfix_done(&F);
	return 0;
}

/* ---- the handshake ---- */

static void test_bad_option_magic(void **state)
{
	(void)state;
	int fd = conn_greeted(NBD_FLAG_C_FIXED_NEWSTYLE);
	send_all(fd, "NOTMAGIC\0\0\0\x07\0\0\0\0", 16);
	assert_true(closed_by_server(fd));
	close(fd);
	still_serving();
}

static void test_huge_option_length(void **state)
{
	(void)state;
	int fd = conn_greeted(NBD_FLAG_C_FIXED_NEWSTYLE);
	uint8_t h[16];
	be64_put(h, NBD_IHAVEOPT);
	be32_put(h + 8, NBD_OPT_GO);
	be32_put(h + 12, 0xffffffffu);
	send_all(fd, h, 16);
	assert_true(closed_by_server(fd));
	close(fd);
	still_serving();
}

static void test_unknown_option_and_flags(void **state)
{
	(void)state;
	uint8_t buf[1024];
	int fd = conn_greeted(NBD_FLAG_C_FIXED_NEWSTYLE);
	send_option(fd, 99, "0123456789", 10);
	assert_int_equal(recv_option_reply(fd, 99, buf, sizeof buf, NULL), NBD_REP_ERR_UNSUP);
	send_option(fd, NBD_OPT_STARTTLS, NULL, 0);
	assert_int_equal(recv_option_reply(fd, NBD_OPT_STARTTLS, buf, sizeof buf, NULL),
			 NBD_REP_ERR_UNSUP);
	/* malformed GO data, then an unknown export, then a directory */
	send_option(fd, NBD_OPT_GO, "\0\0\0\xff" "ab", 6);
	assert_int_equal(recv_option_reply(fd, NBD_OPT_GO, buf, sizeof buf, NULL),
			 NBD_REP_ERR_INVALID);
	assert_int_equal(go(fd, "nosuch", NULL), NBD_REP_ERR_UNKNOWN);
	assert_int_equal(go(fd, "subdir", NULL), NBD_REP_ERR_UNKNOWN);
	assert_int_equal(go(fd, "../disk", NULL), NBD_REP_ERR_UNKNOWN);
	/* meta contexts need structured replies first */
	uint8_t m[64];
	be32_put(m, 4);
	memcpy(m + 4, "disk", 4);
	be32_put(m + 8, 1);
	be32_put(m + 12, 15);
	memcpy(m + 16, "base:allocation", 15);
	send_option(fd, NBD_OPT_SET_META_CONTEXT, m, 31);
	assert_int_equal(recv_option_reply(fd, NBD_OPT_SET_META_CONTEXT, buf, sizeof buf, NULL),
			 NBD_REP_ERR_INVALID);
	send_option(fd, NBD_OPT_STRUCTURED_REPLY, NULL, 0);
	assert_int_equal(recv_option_reply(fd, NBD_OPT_STRUCTURED_REPLY, buf, sizeof buf, NULL),
			 NBD_REP_ACK);
	send_option(fd, NBD_OPT_SET_META_CONTEXT, m, 31);
	uint32_t len;
	assert_int_equal(recv_option_reply(fd, NBD_OPT_SET_META_CONTEXT, buf, sizeof buf, &len),
			 NBD_REP_META_CONTEXT);
	assert_int_equal(len, 4 + 15);
	assert_memory_equal(buf + 4, "base:allocation", 15);
	assert_int_equal(recv_option_reply(fd, NBD_OPT_SET_META_CONTEXT, buf, sizeof buf, NULL),
			 NBD_REP_ACK);
	/* the connection still negotiates */
	assert_int_equal(go(fd, "disk", NULL), NBD_REP_ACK);
	close(fd);

	/* unknown client flags: closed */
	fd = conn_greeted(0x80);
	assert_true(closed_by_server(fd));
	close(fd);
	still_serving();
}

static void test_list_abort_export_name(void **state)
{
	(void)state;
	uint8_t buf[1024];
	uint32_t len;
	int fd = conn_greeted(NBD_FLAG_C_FIXED_NEWSTYLE);
	send_option(fd, NBD_OPT_LIST, NULL, 0);
	assert_int_equal(recv_option_reply(fd, NBD_OPT_LIST, buf, sizeof buf, &len),
			 NBD_REP_SERVER);
	assert_int_equal(be32_get(buf), 4);
	assert_memory_equal(buf + 4, "disk", 4);
	assert_int_equal(recv_option_reply(fd, NBD_OPT_LIST, buf, sizeof buf, NULL), NBD_REP_ACK);
	send_option(fd, NBD_OPT_ABORT, NULL, 0);
	assert_int_equal(recv_option_reply(fd, NBD_OPT_ABORT, buf, sizeof buf, NULL), NBD_REP_ACK);
	assert_true(closed_by_server(fd));
	close(fd);

	/* EXPORT_NAME: 134 bytes without NO_ZEROES, 10 with */
	for (int nz = 0; nz < 2; nz++) {
		fd = conn_greeted(NBD_FLAG_C_FIXED_NEWSTYLE | (nz ? NBD_FLAG_C_NO_ZEROES : 0));
		send_option(fd, NBD_OPT_EXPORT_NAME, "disk", 4);
		uint8_t r[134];
		assert_int_equal(recv_all(fd, r, nz ? 10 : 134), 0);
		assert_int_equal(be64_get(r), DISK_SIZE);
		uint16_t fl = be16_get(r + 8);
		assert_true(fl & NBD_FLAG_HAS_FLAGS);
		assert_true(fl & NBD_FLAG_SEND_FLUSH);
		assert_true(fl & NBD_FLAG_CAN_MULTI_CONN);
		uint64_t h;
		send_request(fd, 0, NBD_CMD_FLUSH, 5, 0, 0);
		assert_int_equal(recv_simple(fd, &h), 0);
		assert_int_equal(h, 5);
		close(fd);
	}
	/* EXPORT_NAME of an unknown export: no error reply exists, closed */
	fd = conn_greeted(NBD_FLAG_C_FIXED_NEWSTYLE);
	send_option(fd, NBD_OPT_EXPORT_NAME, "nosuch", 6);
	assert_true(closed_by_server(fd));
	close(fd);
	still_serving();
}

/* ---- transmission ---- */

static void test_bad_requests(void **state)
{
	(void)state;
	int fd = conn_ready();
	uint64_t h;
	send_request(fd, 0, 42, 1, 0, 0);                         /* unknown type */
	assert_int_equal(recv_simple(fd, &h), NBD_EINVAL);
	assert_int_equal(h, 1);
	send_request(fd, 0, NBD_CMD_READ, 2, DISK_SIZE - 100, 512);  /* past the end */
	assert_int_equal(recv_simple(fd, &h), NBD_EINVAL);
	send_request(fd, 0, NBD_CMD_READ, 3, UINT64_MAX - 10, 512);  /* offset overflow */
	assert_int_equal(recv_simple(fd, &h), NBD_EINVAL);
	uint8_t data[512];
	memset(data, 0x5a, sizeof data);
	send_request(fd, 0, NBD_CMD_WRITE, 4, DISK_SIZE - 100, 512);  /* payload still read */
	send_all(fd, data, sizeof data);
	assert_int_equal(recv_simple(fd, &h), NBD_ENOSPC);
	send_request(fd, 0x40, NBD_CMD_READ, 5, 0, 512);           /* unknown flag */
	assert_int_equal(recv_simple(fd, &h), NBD_EINVAL);
	/* FUA is valid on every command once SEND_FUA is advertised (the
	 * spec: "the server MUST accept all commands with this bit set") */
	uint8_t rd[512];
	send_request(fd, NBD_CMD_FLAG_FUA, NBD_CMD_READ, 55, 0, sizeof rd);
	assert_int_equal(recv_simple(fd, &h), 0);
	assert_int_equal(h, 55);
	assert_int_equal(recv_all(fd, rd, sizeof rd), 0);
	send_request(fd, NBD_CMD_FLAG_FUA, NBD_CMD_FLUSH, 56, 0, 0);
	assert_int_equal(recv_simple(fd, &h), 0);
	send_request(fd, 0, NBD_CMD_BLOCK_STATUS, 6, 0, 4096);     /* not negotiated */
	assert_int_equal(recv_simple(fd, &h), NBD_EINVAL);
	send_request(fd, 0, NBD_CMD_TRIM, 7, 0, DISK_SIZE + 1);    /* past the end */
	assert_int_equal(recv_simple(fd, &h), NBD_EINVAL);
	/* in step: a write and its read-back */
	send_request(fd, NBD_CMD_FLAG_FUA, NBD_CMD_WRITE, 8, 8192, 512);
	send_all(fd, data, sizeof data);
	assert_int_equal(recv_simple(fd, &h), 0);
	assert_int_equal(h, 8);
	uint8_t back[512];
	send_request(fd, 0, NBD_CMD_READ, 9, 8192, 512);
	assert_int_equal(recv_simple(fd, &h), 0);
	assert_int_equal(recv_all(fd, back, 512), 0);
	assert_memory_equal(back, data, 512);
	/* oversized: closed */
	send_request(fd, 0, NBD_CMD_READ, 10, 0, 64u << 20);
	assert_true(closed_by_server(fd));
	close(fd);

	fd = conn_ready();
	send_request(fd, 0, NBD_CMD_WRITE, 11, 0, 0xffffffffu);
	assert_true(closed_by_server(fd));
	close(fd);

	fd = conn_ready();
	send_all(fd, "this is not a request header", 28);
	assert_true(closed_by_server(fd));
	close(fd);
	still_serving();
}

static void test_pipelined_and_disc(void **state)
{
	(void)state;
	enum { N = 64 };
	int fd = conn_ready();
	uint8_t data[4096];
	for (int i = 0; i < N; i++) {
		memset(data, i, sizeof data);
		send_request(fd, 0, NBD_CMD_WRITE, 1000 + (uint64_t)i, (uint64_t)i * 65536,
			     sizeof data);
		send_all(fd, data, sizeof data);
	}
	bool seen[N] = { false };
	for (int i = 0; i < N; i++) {
		uint64_t h;
		assert_int_equal(recv_simple(fd, &h), 0);
		assert_true(h >= 1000 && h < 1000 + N && !seen[h - 1000]);
		seen[h - 1000] = true;
	}
	/* a write, then DISC at once: it is answered before the close */
	memset(data, 0xee, sizeof data);
	send_request(fd, 0, NBD_CMD_WRITE, 2000, 3u << 20, sizeof data);
	send_all(fd, data, sizeof data);
	send_request(fd, 0, NBD_CMD_DISC, 2001, 0, 0);
	uint64_t h;
	assert_int_equal(recv_simple(fd, &h), 0);
	assert_int_equal(h, 2000);
	assert_true(closed_by_server(fd));
	close(fd);

	fd = conn_ready();
	uint8_t back[4096];
	send_request(fd, 0, NBD_CMD_READ, 1, 3u << 20, sizeof back);
	assert_int_equal(recv_simple(fd, &h), 0);
	assert_int_equal(recv_all(fd, back, sizeof back), 0);
	assert_memory_equal(back, data, sizeof back);
	send_request(fd, 0, NBD_CMD_READ, 2, 5 * 65536, sizeof back);
	assert_int_equal(recv_simple(fd, &h), 0);
	assert_int_equal(recv_all(fd, back, sizeof back), 0);
	assert_int_equal(back[0], 5);
	assert_int_equal(back[4095], 5);
	close(fd);
}

static void test_random_bytes(void **state)
{
	(void)state;
	const char *env = getenv("TEST_SEED");
	unsigned seed = env ? (unsigned)strtoul(env, NULL, 0) : (unsigned)time(NULL);
	printf("# seed %u (TEST_SEED=%u repeats it)\n", seed, seed);
	srandom(seed);
	for (int round = 0; round < 40; round++) {
		int fd;
		if (round % 2)
			fd = conn_ready();
		else
			fd = conn_greeted(NBD_FLAG_C_FIXED_NEWSTYLE);
		uint8_t junk[2048];
		size_t n = 1 + (size_t)(random() % sizeof junk);
		for (size_t i = 0; i < n; i++)
			junk[i] = (uint8_t)random();
		/* sometimes a valid magic first, so the rest reaches the decoders */
		if (round % 4 == 1 && n >= 28)
			be32_put(junk, NBD_REQUEST_MAGIC);
		if (round % 4 == 0 && n >= 16)
			be64_put(junk, NBD_IHAVEOPT);
		send_all(fd, junk, n);
		shutdown(fd, SHUT_WR);
		closed_by_server(fd);
		close(fd);
		still_serving();
	}
}

/* ---- the export's pin: taken at GO / EXPORT_NAME, let go at every end ---- */

static uint64_t disk_ino(const char *name)
{
	struct fs_attr a;
	assert_int_equal(fs_lookup(F.fs, &FSFIX_ROOT, FS_ROOT_INO, ".nbd", &a), 0);
	assert_int_equal(fs_lookup(F.fs, &FSFIX_ROOT, a.ino, name, &a), 0);
	return a.ino;
}

/* Within 2 s the inode's pin state becomes want (connections end on
 * their own threads). */
static void wait_pinned(uint64_t ino, bool want)
{
	for (int i = 0; i < 200 && fs_pinned(F.fs, ino) != want; i++)
		usleep(10000);
	assert_int_equal(fs_pinned(F.fs, ino), want);
}

static int set_size(uint64_t ino, uint64_t size)
{
	struct fs_setattr sa = { .valid = FS_SET_SIZE, .size = size };
	return fs_setattr(F.fs, &FSFIX_ROOT, ino, &sa, NULL, NULL);
}

static void test_pin_lifetime(void **state)
{
	(void)state;
	uint64_t ino = disk_ino("disk"), h;
	assert_false(fs_pinned(F.fs, ino));
	/* two connections on one export: pinned until the last one goes */
	int a = conn_ready(), b = conn_ready();
	assert_true(fs_pinned(F.fs, ino));
	assert_int_equal(set_size(ino, DISK_SIZE / 2), -EBUSY);
	close(a);
	usleep(100000);
	assert_true(fs_pinned(F.fs, ino));
	assert_int_equal(set_size(ino, DISK_SIZE * 2), -EBUSY);
	send_request(b, 0, NBD_CMD_READ, 1, 0, 512);
	uint8_t buf[512];
	assert_int_equal(recv_simple(b, &h), 0);
	assert_int_equal(recv_all(b, buf, sizeof buf), 0);
	send_request(b, 0, NBD_CMD_DISC, 2, 0, 0);
	assert_true(closed_by_server(b));
	close(b);
	wait_pinned(ino, false);

	/* INFO does not pin; a bad option after it ends the handshake */
	a = conn_greeted(NBD_FLAG_C_FIXED_NEWSTYLE);
	uint8_t d[16] = { 0, 0, 0, 4, 'd', 'i', 's', 'k', 0, 0 };
	send_option(a, NBD_OPT_INFO, d, 10);
	uint8_t r[1024];
	while (recv_option_reply(a, NBD_OPT_INFO, r, sizeof r, NULL) == NBD_REP_INFO)
		;
	assert_false(fs_pinned(F.fs, ino));
	send_all(a, "garbage garbage!", 16);
	assert_true(closed_by_server(a));
	close(a);
	assert_false(fs_pinned(F.fs, ino));

	/* ended by the client mid-request, by a bad magic, by an oversized
	 * request, by EXPORT_NAME then EOF: unpinned each time */
	a = conn_ready();
	send_request(a, 0, NBD_CMD_WRITE, 3, 0, 4096);
	send_all(a, buf, 100);   /* a payload cut short */
	close(a);
	wait_pinned(ino, false);
	a = conn_ready();
	send_all(a, "not a request header, at all", 28);
	assert_true(closed_by_server(a));
	close(a);
	wait_pinned(ino, false);
	a = conn_ready();
	send_request(a, 0, NBD_CMD_READ, 4, 0, 64u << 20);
	assert_true(closed_by_server(a));
	close(a);
	wait_pinned(ino, false);
	a = conn_greeted(NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
	send_option(a, NBD_OPT_EXPORT_NAME, "disk", 4);
	assert_int_equal(recv_all(a, r, 10), 0);
	assert_true(fs_pinned(F.fs, ino));
	close(a);
	wait_pinned(ino, false);
	assert_int_equal(set_size(ino, DISK_SIZE), 0);
}

/* Renamed or grown while attached: the connection serves the inode and
 * the size it attached with; the old name is no export any more. */
static void test_rename_and_grow_attached(void **state)
{
	(void)state;
	uint64_t ino = disk_ino("disk"), h, dir;
	struct fs_attr a;
	assert_int_equal(fs_lookup(F.fs, &FSFIX_ROOT, FS_ROOT_INO, ".nbd", &a), 0);
	dir = a.ino;
	int fd = conn_ready();
	assert_int_equal(fs_rename(F.fs, &FSFIX_ROOT, dir, "disk", dir, "moved", 0, NULL), 0);
	int other = conn_greeted(NBD_FLAG_C_FIXED_NEWSTYLE);
	assert_int_equal(go(other, "disk", NULL), NBD_REP_ERR_UNKNOWN);
	close(other);
	/* grown by a write through the core: allowed, the export keeps its size */
	size_t put;
	assert_int_equal(fs_write(F.fs, &FSFIX_ROOT, ino, DISK_SIZE, "grow", 4, &put), 0);
	assert_int_equal(put, 4);
	uint8_t buf[512];
	send_request(fd, 0, NBD_CMD_READ, 1, DISK_SIZE - 256, 512);
	assert_int_equal(recv_simple(fd, &h), NBD_EINVAL);
	send_request(fd, 0, NBD_CMD_READ, 2, DISK_SIZE - 512, 512);
	assert_int_equal(recv_simple(fd, &h), 0);
	assert_int_equal(recv_all(fd, buf, sizeof buf), 0);
	/* the renamed export is still pinned under its new name */
	assert_int_equal(fs_unlink(F.fs, &FSFIX_ROOT, dir, "moved", NULL), -EBUSY);
	close(fd);
	wait_pinned(ino, false);
	assert_int_equal(set_size(ino, DISK_SIZE), 0);
	assert_int_equal(fs_rename(F.fs, &FSFIX_ROOT, dir, "moved", dir, "disk", 0, NULL), 0);
	still_serving();
}

/* ---- structured replies ---- */

/* A connection with structured replies and base:allocation on "disk". */
static int conn_structured(void)
{
	uint8_t buf[1024], m[64];
	int fd = conn_greeted(NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
	send_option(fd, NBD_OPT_STRUCTURED_REPLY, NULL, 0);
	assert_int_equal(recv_option_reply(fd, NBD_OPT_STRUCTURED_REPLY, buf, sizeof buf, NULL),
			 NBD_REP_ACK);
	be32_put(m, 4);
	memcpy(m + 4, "disk", 4);
	be32_put(m + 8, 1);
	be32_put(m + 12, 15);
	memcpy(m + 16, "base:allocation", 15);
	send_option(fd, NBD_OPT_SET_META_CONTEXT, m, 31);
	assert_int_equal(recv_option_reply(fd, NBD_OPT_SET_META_CONTEXT, buf, sizeof buf, NULL),
			 NBD_REP_META_CONTEXT);
	assert_int_equal(recv_option_reply(fd, NBD_OPT_SET_META_CONTEXT, buf, sizeof buf, NULL),
			 NBD_REP_ACK);
	assert_int_equal(go(fd, "disk", NULL), NBD_REP_ACK);
	return fd;
}

/* One chunk: its type and flags; its payload (up to cap) into buf. */
static uint16_t recv_chunk(int fd, uint64_t handle, uint16_t *flags, uint8_t *buf, size_t cap,
			   uint32_t *len)
{
	uint8_t h[20];
	assert_int_equal(recv_all(fd, h, 20), 0);
	assert_int_equal(be32_get(h), NBD_STRUCTURED_REPLY_MAGIC);
	assert_true(be64_get(h + 8) == handle);
	*flags = be16_get(h + 4);
	*len = be32_get(h + 16);
	assert_true(*len <= cap);
	assert_int_equal(recv_all(fd, buf, *len), 0);
	return be16_get(h + 6);
}

static void test_structured(void **state)
{
	(void)state;
	enum { EXT = 32768 };
	static uint8_t buf[2 * 32768];
	uint64_t ino = disk_ino("disk");
	size_t put;
	/* data in extents 2 and 3, and 10; the rest holes */
	assert_int_equal(fs_fallocate(F.fs, &FSFIX_ROOT, ino, FALLOC_FL_PUNCH_HOLE |
				      FALLOC_FL_KEEP_SIZE, 0, DISK_SIZE, NULL), 0);
	memset(buf, 0x7c, sizeof buf);
	assert_int_equal(fs_write(F.fs, &FSFIX_ROOT, ino, 2 * EXT + 100, buf, 2 * EXT - 200, &put), 0);
	assert_int_equal(fs_write(F.fs, &FSFIX_ROOT, ino, 10 * EXT, buf, 1, &put), 0);
	int fd = conn_structured();
	uint16_t flags;
	uint32_t len;
	send_request(fd, 0, NBD_CMD_BLOCK_STATUS, 1, 1000, 12 * EXT - 1000);
	assert_int_equal(recv_chunk(fd, 1, &flags, buf, sizeof buf, &len),
			 NBD_REPLY_TYPE_BLOCK_STATUS);
	assert_int_equal(flags, NBD_REPLY_FLAG_DONE);
	assert_int_equal(be32_get(buf), NBD_META_ID_BASE_ALLOCATION);
	assert_int_equal(len, 4 + 8 * 5);
	uint32_t want[5][2] = { { 2 * EXT - 1000, 3 }, { 2 * EXT, 0 }, { 6 * EXT, 3 },
				{ EXT, 0 }, { EXT, 3 } };
	uint64_t total = 0;
	for (int i = 0; i < 5; i++) {
		assert_int_equal(be32_get(buf + 4 + 8 * i), want[i][0]);
		assert_int_equal(be32_get(buf + 8 + 8 * i), want[i][1]);
		total += want[i][0];
	}
	assert_int_equal(total, 12 * EXT - 1000);
	/* REQ_ONE: one descriptor, no longer than asked */
	send_request(fd, NBD_CMD_FLAG_REQ_ONE, NBD_CMD_BLOCK_STATUS, 2, 2 * EXT + 5, 100);
	assert_int_equal(recv_chunk(fd, 2, &flags, buf, sizeof buf, &len),
			 NBD_REPLY_TYPE_BLOCK_STATUS);
	assert_int_equal(len, 12);
	assert_int_equal(be32_get(buf + 4), 100);
	assert_int_equal(be32_get(buf + 8), 0);
	/* the whole export, REQ_ONE (and FUA, which every command accepts):
	 * the first hole only */
	send_request(fd, NBD_CMD_FLAG_REQ_ONE | NBD_CMD_FLAG_FUA, NBD_CMD_BLOCK_STATUS, 3, 0,
		     DISK_SIZE);
	assert_int_equal(recv_chunk(fd, 3, &flags, buf, sizeof buf, &len),
			 NBD_REPLY_TYPE_BLOCK_STATUS);
	assert_int_equal(len, 12);
	assert_int_equal(be32_get(buf + 4), 2 * EXT);
	/* READ: one OFFSET_DATA chunk with DONE */
	send_request(fd, 0, NBD_CMD_READ, 4, 2 * EXT + 100, 16);
	assert_int_equal(recv_chunk(fd, 4, &flags, buf, sizeof buf, &len),
			 NBD_REPLY_TYPE_OFFSET_DATA);
	assert_int_equal(flags, NBD_REPLY_FLAG_DONE);
	assert_int_equal(len, 8 + 16);
	assert_true(be64_get(buf) == 2 * EXT + 100);
	assert_int_equal(buf[8], 0x7c);
	/* errors: an ERROR chunk with DONE, its message length inside */
	send_request(fd, 0, NBD_CMD_READ, 5, DISK_SIZE, 16);
	assert_int_equal(recv_chunk(fd, 5, &flags, buf, sizeof buf, &len), NBD_REPLY_TYPE_ERROR);
	assert_int_equal(flags, NBD_REPLY_FLAG_DONE);
	assert_int_equal(be32_get(buf), NBD_EINVAL);
	assert_int_equal(len, 6 + be16_get(buf + 4));
	send_request(fd, 0, NBD_CMD_BLOCK_STATUS, 6, 0, 0);
	assert_int_equal(recv_chunk(fd, 6, &flags, buf, sizeof buf, &len), NBD_REPLY_TYPE_ERROR);
	/* a FLUSH: NONE with DONE */
	send_request(fd, 0, NBD_CMD_FLUSH, 7, 0, 0);
	assert_int_equal(recv_chunk(fd, 7, &flags, buf, sizeof buf, &len), NBD_REPLY_TYPE_NONE);
	assert_int_equal(flags, NBD_REPLY_FLAG_DONE);
	assert_int_equal(len, 0);
	close(fd);
	wait_pinned(ino, false);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_option_magic),
		cmocka_unit_test(test_huge_option_length),
		cmocka_unit_test(test_unknown_option_and_flags),
		cmocka_unit_test(test_list_abort_export_name),
		cmocka_unit_test(test_bad_requests),
		cmocka_unit_test(test_pipelined_and_disc),
		cmocka_unit_test(test_random_bytes),
		cmocka_unit_test(test_pin_lifetime),
		cmocka_unit_test(test_rename_and_grow_attached),
		cmocka_unit_test(test_structured),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
