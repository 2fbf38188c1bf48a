/* admin_client.c -- the admin socket's client side (the CLI) and where a
 * store's socket is by default (protocol in admin.h). */
#include "daemon/admin.h"
#include "daemon/admin_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/clock.h"
#include "util/mem.h"

#define REPLY_MAX (64u << 20) /* a reply past this breaks the protocol */

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		h = (h ^ *p) * 1099511628211ull;
	return h;
}

static char *tmp_fallback_dir(void)
{
	return xasprintf("/tmp/bucketfs-%u", (unsigned)geteuid());
}

int admin_check_private_dir(const char *dir, char *err, size_t errsize)
{
	struct stat st;
	if (lstat(dir, &st) < 0) {
		snprintf(err, errsize, "%s: %s", dir, strerror(errno));
		return -errno;
	}
	const char *why = !S_ISDIR(st.st_mode) ? "is not a directory (a link?)"
			  : st.st_uid != geteuid() ? "is owned by another user"
			  : st.st_mode & 077 ? "is open to other users (mode is not 0700)" : NULL;
	if (!why)
		return 0;
	snprintf(err, errsize, "%s %s: refusing to use the admin socket there (anyone may "
		 "have made it); remove it, or set BUCKETFS_RUN_DIR or [admin] socket", dir, why);
	return -EPERM;
}

int admin_check_run_dir(const char *socket_path, char *err, size_t errsize)
{
	char *dir = tmp_fallback_dir();
	size_t n = strlen(dir);
	int r = 0;
	struct stat st;
	if (!strncmp(socket_path, dir, n) && socket_path[n] == '/' &&
	    !strchr(socket_path + n + 1, '/') && lstat(dir, &st) == 0)
		r = admin_check_private_dir(dir, err, errsize);
	free(dir);
	return r;
}

static char *run_dir(void)
{
	const char *env = getenv("BUCKETFS_RUN_DIR");
	if (env && *env)
		return xstrdup(env);
	if (geteuid() == 0)
		return xstrdup("/run/bucketfs");
	env = getenv("XDG_RUNTIME_DIR");
	if (env && *env)
		return xasprintf("%s/bucketfs", env);
	return tmp_fallback_dir();
}

char *admin_default_path(const char *url, bool read_only, const char *checkpoint)
{
	char *dir = run_dir(), *p;
	uint64_t h = fnv1a(url);
	if (checkpoint)
		p = xasprintf("%s/%016" PRIx64 "-checkpoint-%08" PRIx32 ".sock", dir, h,
			      (uint32_t)fnv1a(checkpoint));
	else
		p = xasprintf("%s/%016" PRIx64 "%s.sock", dir, h, read_only ? "-replica" : "");
	free(dir);
	return p;
}

static int connect_to(const char *path, int *out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof sa.sun_path)
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	*out = fd;
	return 0;
}

/* The whole reply within ADMIN_CLIENT_TIMEOUT_MS: a wedged daemon must
 * not hang the command. */
static int read_all(int fd, struct buf *in)
{
	char chunk[4096];
	uint64_t deadline = clock_mono_ns() + (uint64_t)ADMIN_CLIENT_TIMEOUT_MS * 1000000ull;
	for (;;) {
		uint64_t now = clock_mono_ns();
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int pr = now < deadline ? poll(&p, 1, (int)((deadline - now + 999999) / 1000000)) : 0;
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr < 0)
			return -errno;
		if (pr == 0)
			return -ETIMEDOUT;
		ssize_t n = recv(fd, chunk, sizeof chunk, MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			continue;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == ECONNRESET && in->len > 0)
			return 0; /* it answered, then closed without reading us */
		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;
		if (in->len + (size_t)n > REPLY_MAX)
			return -EPROTO;
		buf_append(in, chunk, (size_t)n);
	}
}

/* "ERR <errno> <message>\n" */
static int parse_error(const char *s, char *err, size_t errsize)
{
	char *end;
	long e = strtol(s + 4, &end, 10);
	if (end == s + 4 || e <= 0 || e > 4095)
		return -EPROTO;
	if (*end == ' ')
		end++;
	size_t n = strcspn(end, "\n");
	snprintf(err, errsize, "%.*s", (int)n, end);
	return (int)-e;
}

/* Undo the dot-stuffing and drop the ".\n" end mark. */
static int parse_ok(const char *s, char **body)
{
	struct buf out;
	buf_init(&out);
	const char *p = s + 3;
	for (;;) {
		const char *nl = strchr(p, '\n');
		if (!nl) {
			buf_free(&out);
			return -EPROTO; /* no end mark */
		}
		if (nl == p + 1 && *p == '.')
			break;
		if (*p == '.')
			p++;
		buf_append(&out, p, (size_t)(nl + 1 - p));
		p = nl + 1;
	}
	buf_append(&out, "", 1);
	size_t len;
	*body = (char *)buf_steal(&out, &len);
	return 0;
}

int admin_parse_reply(const char *reply, size_t len, char **body, char *err, size_t errsize)
{
	*body = NULL;
	if (errsize)
		err[0] = '\0';
	/* The daemon sends text: a NUL would cut the lines short unseen. */
	if (memchr(reply, '\0', len))
		return -EPROTO;
	if (!strncmp(reply, "OK\n", 3))
		return parse_ok(reply, body);
	if (!strncmp(reply, "ERR ", 4))
		return parse_error(reply, err, errsize);
	return -EPROTO;
}

int admin_request(const char *path, const char *request, char **body, char *err,
		  size_t errsize)
{
	int fd = -1, r;
	*body = NULL;
	if (errsize)
		err[0] = '\0';
	size_t reqlen = strlen(request);
	for (const char *p = request; *p; p++)
		if (*p < 0x20 || *p > 0x7e) {
			snprintf(err, errsize, "the request holds a byte that is not printable text");
			return -EINVAL;
		}
	if (reqlen + 1 > ADMIN_REQUEST_MAX) {
		snprintf(err, errsize, "the request is longer than %d bytes", ADMIN_REQUEST_MAX);
		return -E2BIG;
	}
	if ((r = admin_check_run_dir(path, err, errsize)) < 0)
		return r;
	if ((r = connect_to(path, &fd)) < 0)
		return r;
	struct buf in;
	buf_init(&in);
	size_t n = reqlen;
	char *line = xasprintf("%s\n", request);
	ssize_t w = send(fd, line, n + 1, MSG_NOSIGNAL);
	int send_err = w == (ssize_t)(n + 1) ? 0 : w < 0 ? -errno : -EIO;
	free(line);
	/* Read even after a failed send: a daemon that refuses us (busy,
	 * another uid) answers and closes before reading the request. */
	r = read_all(fd, &in);
	close(fd);
	if (r == 0 && in.len == 0 && send_err)
		r = send_err;
	if (r == 0) {
		size_t len = in.len;
		buf_append(&in, "", 1);
		r = admin_parse_reply((const char *)in.data, len, body, err, errsize);
	}
	buf_free(&in);
	return r;
}
