/* test-net.c -- the shared connection server (src/net/) with a small echo
 * protocol: a request is [len u32][delay_ms u32][len bytes], answered on
 * the pool after delay_ms with the same bytes.  Checked: round trips over
 * TCP and a Unix socket (with peer credentials), replies out of order, the
 * per-connection bound on requests in flight, a client that never reads
 * its replies not stalling another client, the connection limit, a
 * protocol error closing only its own connection, release() once per
 * connection, stop with connections open, and malformed addresses. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "net/net.h"

#define MAX_PAYLOAD (1u << 20)

struct echo {
	pthread_mutex_t mu;
	unsigned running, max_running;   /* jobs on the pool at once */
	unsigned releases;
};

struct echo_job {
	uint32_t len, delay_ms;
	uint8_t *bytes;                   /* header + payload */
	struct echo *e;
};

static void sleep_ms(unsigned ms)
{
	nanosleep(&(struct timespec){ ms / 1000, (long)(ms % 1000) * 1000000L }, NULL);
}

static void echo_run(struct net_conn *c, void *arg)
{
	struct echo_job *j = arg;
	pthread_mutex_lock(&j->e->mu);
	if (++j->e->running > j->e->max_running)
		j->e->max_running = j->e->running;
	pthread_mutex_unlock(&j->e->mu);
	sleep_ms(j->delay_ms);
	pthread_mutex_lock(&j->e->mu);
	j->e->running--;
	pthread_mutex_unlock(&j->e->mu);
	net_conn_reply(c, j->bytes, 8 + (size_t)j->len);
	free(j);
}

static int echo_serve(struct net_conn *c, void *arg)
{
	for (;;) {
		uint32_t h[2];
		ssize_t n = net_conn_read(c, h, sizeof h);
		if (n <= 0)
			return (int)n;
		if (h[0] > MAX_PAYLOAD)
			return -EPROTO;
		struct echo_job *j = calloc(1, sizeof *j);
		j->len = h[0];
		j->delay_ms = h[1];
		j->e = arg;
		j->bytes = malloc(8 + (size_t)j->len);
		memcpy(j->bytes, h, 8);
		n = net_conn_read(c, j->bytes + 8, j->len);
		if (n != (ssize_t)j->len && j->len) {
			free(j->bytes);
			free(j);
			return n < 0 ? (int)n : -EPIPE;
		}
		int r = net_conn_submit(c, echo_run, j, 8 + (size_t)j->len);
		if (r < 0) {
			free(j->bytes);
			free(j);
			return r;
		}
	}
}

static void echo_release(struct net_conn *c, void *arg)
{
	struct echo *e = arg;
	pthread_mutex_lock(&e->mu);
	e->releases++;
	pthread_mutex_unlock(&e->mu);
}

static const struct net_proto echo_proto = {
	.name = "echo", .serve = echo_serve, .release = echo_release,
};

struct fix {
	struct echo e;
	struct net_server *s;
	int port;
};

static struct fix *start(const struct net_options *o)
{
	struct fix *f = calloc(1, sizeof *f);
	pthread_mutex_init(&f->e.mu, NULL);
	assert_int_equal(net_server_new(&echo_proto, &f->e, o, &f->s), 0);
	assert_int_equal(net_server_listen_tcp(f->s, "127.0.0.1:0"), 0);
	assert_int_equal(net_server_start(f->s), 0);
	f->port = net_server_port(f->s, 0);
	assert_true(f->port > 0);
	return f;
}

static void stop(struct fix *f)
{
	net_server_stop(f->s);
	pthread_mutex_destroy(&f->e.mu);
	free(f);
}

static int dial(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
	struct timeval tv = { 20, 0 };      /* a hang fails the test, not the run */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	return fd;
}

static void send_req(int fd, uint32_t len, uint32_t delay_ms, uint8_t fill)
{
	uint8_t *b = malloc(8 + (size_t)len);
	uint32_t h[2] = { len, delay_ms };
	memcpy(b, h, 8);
	memset(b + 8, fill, len);
	size_t off = 0;
	while (off < 8 + (size_t)len) {
		ssize_t n = send(fd, b + off, 8 + len - off, MSG_NOSIGNAL);
		assert_true(n > 0);
		off += (size_t)n;
	}
	free(b);
}

static bool read_full(int fd, void *buf, size_t len)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = recv(fd, (char *)buf + got, len - got, 0);
		if (n <= 0)
			return false;
		got += (size_t)n;
	}
	return true;
}

/* One reply: its fill byte (payloads are one repeated byte), or -1. */
static int recv_reply(int fd, uint32_t *len)
{
	uint32_t h[2];
	if (!read_full(fd, h, sizeof h))
		return -1;
	*len = h[0];
	uint8_t *b = malloc(h[0] ? h[0] : 1);
	bool ok = read_full(fd, b, h[0]);
	int fill = ok ? (h[0] ? b[0] : 0) : -1;
	for (uint32_t i = 0; ok && i < h[0]; i++)
		if (b[i] != b[0])
			fill = -2;
	free(b);
	return fill;
}

static void test_round_trip(void **state)
{
	struct fix *f = start(NULL);
	int fd = dial(f->port);
	uint32_t len;
	send_req(fd, 5, 0, 'a');
	assert_int_equal(recv_reply(fd, &len), 'a');
	assert_int_equal(len, 5);
	send_req(fd, MAX_PAYLOAD, 0, 'b');
	assert_int_equal(recv_reply(fd, &len), 'b');
	assert_int_equal(len, MAX_PAYLOAD);
	send_req(fd, 0, 0, 0);
	assert_int_equal(recv_reply(fd, &len), 0);
	assert_int_equal(len, 0);
	char d[128];
	assert_true(net_server_describe(f->s, d, sizeof d) > 0);
	assert_non_null(strstr(d, "tcp 127.0.0.1:"));
	close(fd);
	stop(f);
}

static void test_out_of_order(void **state)
{
	struct fix *f = start(NULL);
	int fd = dial(f->port);
	uint32_t len;
	send_req(fd, 10, 400, 'A');
	send_req(fd, 10, 0, 'B');
	assert_int_equal(recv_reply(fd, &len), 'B');
	assert_int_equal(recv_reply(fd, &len), 'A');
	close(fd);
	stop(f);
}

static void test_max_inflight(void **state)
{
	struct net_options o = { .max_inflight = 3, .workers = 8 };
	struct fix *f = start(&o);
	int fd = dial(f->port);
	for (int i = 0; i < 12; i++)
		send_req(fd, 100, 50, (uint8_t)('a' + i));
	uint32_t len;
	for (int i = 0; i < 12; i++)
		assert_true(recv_reply(fd, &len) >= 'a');
	assert_true(f->e.max_running <= 3);
	assert_true(f->e.max_running >= 2);   /* and it did run several at once */
	close(fd);
	stop(f);
}

/* A client that sends big requests and never reads: its connection stops
 * being read once over budget, and another client is still served. */
static void test_reader_that_never_reads(void **state)
{
	struct net_options o = { .conn_budget = 4u << 20 };
	struct fix *f = start(&o);
	int hog = dial(f->port);
	int small = 4096;
	setsockopt(hog, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
	struct timeval tv = { 0, 200 * 1000 };
	setsockopt(hog, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	/* Push until the kernel stops taking bytes (the server holds off). */
	uint8_t *chunk = calloc(1, 1 << 16);
	uint32_t h[2] = { MAX_PAYLOAD, 0 };
	size_t sent = 0;
	for (int i = 0; i < 200; i++) {
		if (send(hog, h, 8, MSG_NOSIGNAL) != 8)
			break;
		bool full = false;
		for (size_t off = 0; off < MAX_PAYLOAD; off += 1 << 16) {
			ssize_t n = send(hog, chunk, 1 << 16, MSG_NOSIGNAL);
			if (n != 1 << 16) {
				full = true;
				break;
			}
			sent += (size_t)n;
		}
		if (full)
			break;
	}
	free(chunk);
	assert_true(sent < 200u * MAX_PAYLOAD);   /* back-pressure reached the hog */

	int fd = dial(f->port);
	uint32_t len;
	send_req(fd, 64, 0, 'z');
	assert_int_equal(recv_reply(fd, &len), 'z');
	close(fd);
	/* Stop must not wait for the hog to read. */
	stop(f);
	close(hog);
}

/* Zero-byte requests cost only their header: a client that sends a flood
 * of them and never reads is still bounded (each queued reply counts its
 * overhead), so the server stops reading it long before 1e6 replies. */
static void test_tiny_reply_flood(void **state)
{
	struct net_options o = { .conn_budget = 64u << 10 };
	struct fix *f = start(&o);
	int hog = dial(f->port);
	int small = 4096;
	setsockopt(hog, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
	struct timeval tv = { 0, 200 * 1000 };
	setsockopt(hog, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	uint32_t reqs[2 * 1024];
	memset(reqs, 0, sizeof reqs);             /* 1,024 empty requests */
	size_t sent = 0;
	for (int i = 0; i < 1000; i++) {
		ssize_t n = send(hog, reqs, sizeof reqs, MSG_NOSIGNAL);
		if (n <= 0)
			break;
		sent += (size_t)n;
	}
	assert_true(sent < 1000 * sizeof reqs);   /* back-pressure came */
	int fd = dial(f->port);
	uint32_t len;
	send_req(fd, 1, 0, 'q');
	assert_int_equal(recv_reply(fd, &len), 'q');
	close(fd);
	stop(f);
	close(hog);
}

static void test_conn_limit(void **state)
{
	struct net_options o = { .max_conns = 2 };
	struct fix *f = start(&o);
	int a = dial(f->port), b = dial(f->port);
	uint32_t len;
	send_req(a, 1, 0, 'a');
	send_req(b, 1, 0, 'b');
	assert_int_equal(recv_reply(a, &len), 'a');
	assert_int_equal(recv_reply(b, &len), 'b');
	int c = dial(f->port);
	char x;
	assert_int_equal(recv(c, &x, 1, 0), 0);  /* closed at accept */
	close(c);
	close(a);
	/* A freed slot is reused. */
	for (int tries = 0; tries < 100; tries++) {
		c = dial(f->port);
		send_req(c, 1, 0, 'c');
		if (recv_reply(c, &len) == 'c')
			break;
		close(c);
		c = -1;
		sleep_ms(10);
	}
	assert_true(c >= 0);
	close(c);
	close(b);
	stop(f);
}

static void test_protocol_error_closes_one(void **state)
{
	struct fix *f = start(NULL);
	int bad = dial(f->port), good = dial(f->port);
	uint32_t h[2] = { MAX_PAYLOAD + 1, 0 };
	assert_int_equal(send(bad, h, 8, 0), 8);
	char x;
	assert_int_equal(recv(bad, &x, 1, 0), 0);
	uint32_t len;
	send_req(good, 3, 0, 'g');
	assert_int_equal(recv_reply(good, &len), 'g');
	close(bad);
	close(good);
	for (int i = 0; i < 200 && f->e.releases < 2; i++)
		sleep_ms(10);
	assert_int_equal(f->e.releases, 2);
	stop(f);
}

static void test_unix_socket(void **state)
{
	char dir[] = "/tmp/test-net-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[128];
	snprintf(path, sizeof path, "%s/echo.sock", dir);
	struct echo e = { 0 };
	pthread_mutex_init(&e.mu, NULL);
	struct net_server *s;
	assert_int_equal(net_server_new(&echo_proto, &e, NULL, &s), 0);
	assert_int_equal(net_server_listen_unix(s, path, 0600), 0);
	assert_int_equal(net_server_start(s), 0);
	assert_int_equal(net_server_port(s, 0), -ENOENT);

	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	strcpy(a.sun_path, path);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
	uint32_t len;
	send_req(fd, 7, 0, 'u');
	assert_int_equal(recv_reply(fd, &len), 'u');
	close(fd);
	net_server_stop(s);
	assert_int_equal(access(path, F_OK), -1);    /* removed at stop */

	/* A live socket (another server answers on it) is not replaced. */
	struct net_server *live;
	assert_int_equal(net_server_new(&echo_proto, &e, NULL, &live), 0);
	assert_int_equal(net_server_listen_unix(live, path, 0600), 0);
	assert_int_equal(net_server_start(live), 0);
	assert_int_equal(net_server_new(&echo_proto, &e, NULL, &s), 0);
	assert_int_equal(net_server_listen_unix(s, path, 0600), -EADDRINUSE);
	net_server_stop(s);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
	send_req(fd, 3, 0, 'l');
	assert_int_equal(recv_reply(fd, &len), 'l');   /* still the first one's */
	close(fd);
	net_server_stop(live);

	/* A regular file where the socket should go is not replaced. */
	FILE *file = fopen(path, "w");
	fclose(file);
	assert_int_equal(net_server_new(&echo_proto, &e, NULL, &s), 0);
	assert_int_equal(net_server_listen_unix(s, path, 0600), -EEXIST);
	net_server_stop(s);
	unlink(path);
	rmdir(dir);
	pthread_mutex_destroy(&e.mu);
}

static int cred_serve(struct net_conn *c, void *arg)
{
	uid_t uid = 1;
	int *out = arg;
	out[0] = net_conn_peer_cred(c, &uid, NULL, NULL);
	out[1] = (int)uid;
	return 0;
}

static void test_peer_cred(void **state)
{
	static const struct net_proto p = { .name = "cred", .serve = cred_serve };
	char path[] = "/tmp/test-net-cred-XXXXXX";
	int tmp = mkstemp(path);
	close(tmp);
	unlink(path);
	int out[2] = { 1, -1 }, tout[2] = { 1, -1 };
	struct net_server *s;
	assert_int_equal(net_server_new(&p, out, NULL, &s), 0);
	assert_int_equal(net_server_listen_unix(s, path, 0600), 0);
	assert_int_equal(net_server_start(s), 0);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	strcpy(a.sun_path, path);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
	char x;
	assert_int_equal(recv(fd, &x, 1, 0), 0);    /* serve returned: closed */
	close(fd);
	net_server_stop(s);
	assert_int_equal(out[0], 0);
	assert_int_equal(out[1], (int)getuid());

	assert_int_equal(net_server_new(&p, tout, NULL, &s), 0);
	assert_int_equal(net_server_listen_tcp(s, "127.0.0.1:0"), 0);
	assert_int_equal(net_server_start(s), 0);
	fd = dial(net_server_port(s, 0));
	assert_int_equal(recv(fd, &x, 1, 0), 0);
	close(fd);
	net_server_stop(s);
	assert_int_equal(tout[0], -EAFNOSUPPORT);
}

/* Stop while a request sleeps on the pool and a reader blocks mid-read. */
static void test_stop_with_clients(void **state)
{
	struct fix *f = start(NULL);
	int a = dial(f->port), b = dial(f->port);
	send_req(a, 10, 300, 'a');
	uint32_t h[2] = { 100, 0 };
	assert_int_equal(send(b, h, 8, 0), 8);     /* payload never comes */
	sleep_ms(50);
	stop(f);
	char x;
	uint32_t len;
	/* a's reply may or may not have left; then both see the close. */
	int r = recv_reply(a, &len);
	assert_true(r == 'a' || r == -1);
	assert_true(recv(b, &x, 1, 0) <= 0);
	close(a);
	close(b);
}

static double now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* Default options: one client with max_inflight slow requests running
 * does not hold every worker, so another client's quick request is
 * answered at once. */
static void test_slow_client_leaves_workers(void **state)
{
	struct fix *f = start(NULL);
	int slow = dial(f->port), quick = dial(f->port);
	for (int i = 0; i < 16; i++)
		send_req(slow, 1, 3000, 's');
	sleep_ms(100);                   /* all 16 on the pool */
	double t0 = now_ms();
	send_req(quick, 1, 0, 'q');
	uint32_t len;
	assert_int_equal(recv_reply(quick, &len), 'q');
	double waited = now_ms() - t0;
	for (int i = 0; i < 16; i++)
		assert_int_equal(recv_reply(slow, &len), 's');
	close(slow);
	close(quick);
	stop(f);
	if (waited > 1500)
		fail_msg("the quick client waited %.0f ms behind the slow one", waited);
}

/* Count the lines of path that contain what. */
static int count_lines(const char *path, const char *what)
{
	FILE *f = fopen(path, "r");
	char line[512];
	int n = 0;
	while (f && fgets(line, sizeof line, f))
		n += strstr(line, what) != NULL;
	if (f)
		fclose(f);
	return n;
}

/* Out of descriptors: accept fails with EMFILE while the connection waits
 * in the backlog.  The server backs off and logs the shortage once (not
 * ten lines a second), and serves the waiting client once descriptors
 * are free again. */
static void test_accept_emfile(void **state)
{
	struct fix *f = start(NULL);
	char log_path[] = "/tmp/test-net-log-XXXXXX";
	int log_fd = mkstemp(log_path);
	assert_true(log_fd >= 0);
	fflush(stderr);
	int saved_err = dup(2);
	dup2(log_fd, 2);
	struct rlimit old, low;
	getrlimit(RLIMIT_NOFILE, &old);
	low = old;
	low.rlim_cur = 256;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	int fill[256], nfill = 0;
	for (int fd; nfill < 256 && (fd = open("/dev/null", O_RDONLY)) >= 0;)
		fill[nfill++] = fd;
	close(fill[--nfill]);            /* room for the client's socket only */
	int c = dial(f->port);
	send_req(c, 1, 0, 'e');
	sleep_ms(1500);                  /* ~15 failed accepts */
	while (nfill)
		close(fill[--nfill]);
	uint32_t len;
	int got = recv_reply(c, &len);
	setrlimit(RLIMIT_NOFILE, &old);
	fflush(stderr);
	dup2(saved_err, 2);
	close(saved_err);
	close(log_fd);
	int warned = count_lines(log_path, "Too many open files");
	unlink(log_path);
	close(c);
	stop(f);
	assert_int_equal(got, 'e');
	if (warned != 1)
		fail_msg("%d EMFILE lines for one shortage (want 1)", warned);
}

static void test_listen_check(void **state)
{
	assert_int_equal(net_listen_check("echo", "127.0.0.1:0", true), 0);
	assert_int_equal(net_listen_check("echo", "127.0.0.1:1", false), 0);
	assert_int_equal(net_listen_check("echo", "garbage", false), -EINVAL);
	assert_int_equal(net_listen_check("echo", "garbage", true), -EINVAL);
	struct fix *f = start(NULL);
	char addr[32];
	snprintf(addr, sizeof addr, "127.0.0.1:%d", f->port);
	assert_int_equal(net_listen_check("echo", addr, true), -EADDRINUSE);
	assert_int_equal(net_listen_check("echo", addr, false), 0);  /* syntax only */
	stop(f);
}

static void test_bad_addresses(void **state)
{
	struct echo e = { 0 };
	struct net_server *s;
	assert_int_equal(net_server_new(&echo_proto, &e, NULL, &s), 0);
	const char *bad[] = { "", "nope", "127.0.0.1", "127.0.0.1:", "127.0.0.1:99999",
			      "127.0.0.1:12x", "[::1", "[::1]12", "::1:80" };
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		int r = net_server_listen_tcp(s, bad[i]);
		if (r == 0)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_true(r < 0);
	}
	assert_int_equal(net_server_listen_tcp(s, ":0"), 0);
	assert_true(net_server_port(s, 0) > 0);
	/* Two listeners on one port: the second bind fails, naming it. */
	char addr[32];
	snprintf(addr, sizeof addr, "127.0.0.1:%d", net_server_port(s, 0));
	assert_int_equal(net_server_listen_tcp(s, addr), -EADDRINUSE);
	net_server_stop(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_out_of_order),
		cmocka_unit_test(test_max_inflight),
		cmocka_unit_test(test_reader_that_never_reads),
		cmocka_unit_test(test_tiny_reply_flood),
		cmocka_unit_test(test_conn_limit),
		cmocka_unit_test(test_protocol_error_closes_one),
		cmocka_unit_test(test_unix_socket),
		cmocka_unit_test(test_peer_cred),
		cmocka_unit_test(test_stop_with_clients),
		cmocka_unit_test(test_bad_addresses),
		cmocka_unit_test(test_accept_emfile),
		cmocka_unit_test(test_slow_client_leaves_workers),
		cmocka_unit_test(test_listen_check),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
