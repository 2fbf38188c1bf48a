/*
 * helper-ninep.c -- files over 9P2000.L from the command line, through the
 * tests' own client (ninep-client.h), for shell tests and benchmarks.
 *
 *   helper-ninep [-m MSIZE] [-u UID] [-a ANAME] [-t] ADDR put PATH   < data
 *   helper-ninep [-m MSIZE] [-u UID] [-a ANAME] [-t] ADDR get PATH   > data
 *
 * ADDR is HOST:PORT or a Unix socket path.  put creates or truncates PATH
 * (relative to the attach root; its directory must exist), writes standard
 * input in msize-24 chunks, sends Tfsync and clunks; get writes PATH's
 * content to standard output.  -t prints "BYTES SECONDS" of the transfer
 * (after Tversion/Tattach, fsync included) on standard error.
 *
 * Exit status 0; 1 when a 9P request fails (the errno on stderr); 2 on a
 * usage error.
 */
#include <getopt.h>
#include <time.h>

#include "ninep-client.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int die(const char *what, int rc)
{
	fprintf(stderr, "helper-ninep: %s: %s\n", what, strerror(-rc));
	return 1;
}

/* Walks fid 1 -> 2 to the directory of path; *name is its last part. */
static int walk_dir(struct p9c *c, char *path, const char **name)
{
	char *slash = strrchr(path, '/');
	if (!slash) {
		*name = path;
		return p9_walk_path(c, 1, 2, "", NULL);
	}
	*slash = 0;
	*name = slash + 1;
	return p9_walk_path(c, 1, 2, path, NULL);
}

static int put(struct p9c *c, char *path, bool timed)
{
	const char *name;
	int rc = walk_dir(c, path, &name);
	if (rc)
		return die("walk to the directory", rc);
	/* lcreate turns fid 2 into the open file; an existing one is opened
	 * through fid 3 with O_TRUNC */
	uint32_t fid = 2;
	rc = p9_lcreate(c, 2, name, P9_DOTL_WRONLY | P9_DOTL_EXCL, 0644, 0, NULL, NULL);
	if (rc == -EEXIST) {
		fid = 3;
		const char *n[] = { name };
		uint16_t nq;
		rc = p9_walk(c, 2, fid, 1, n, NULL, &nq);
		if (!rc && nq != 1)
			rc = -ENOENT;
		if (!rc)
			rc = p9_lopen(c, fid, P9_DOTL_WRONLY | P9_DOTL_TRUNC, NULL, NULL);
	}
	if (rc)
		return die("create", rc);
	uint32_t chunk = c->msize - P9_IOHDR;
	char *buf = malloc(chunk);
	uint64_t off = 0;
	double t0 = now_s();
	for (;;) {
		size_t got = 0;
		while (got < chunk) {
			ssize_t k = read(0, buf + got, chunk - got);
			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0)
				break;
			got += (size_t)k;
		}
		if (!got)
			break;
		for (uint32_t done = 0, w; done < got; done += w) {
			rc = p9_write(c, fid, off + done, buf + done, (uint32_t)got - done, &w);
			if (rc)
				return die("write", rc);
			if (!w)
				return die("write", -EIO);
		}
		off += got;
	}
	rc = p9_fsync(c, fid, 0);
	if (rc)
		return die("fsync", rc);
	rc = p9_clunk(c, fid);
	if (rc)
		return die("clunk", rc);
	if (timed)
		fprintf(stderr, "%llu %.6f\n", (unsigned long long)off, now_s() - t0);
	free(buf);
	return 0;
}

static int get(struct p9c *c, const char *path, bool timed)
{
	int rc = p9_walk_path(c, 1, 2, path, NULL);
	if (rc)
		return die("walk", rc);
	rc = p9_lopen(c, 2, P9_DOTL_RDONLY, NULL, NULL);
	if (rc)
		return die("lopen", rc);
	uint32_t chunk = c->msize - P9_IOHDR, n;
	char *buf = malloc(chunk);
	uint64_t off = 0;
	double t0 = now_s();
	for (;;) {
		rc = p9_read(c, 2, off, chunk, buf, &n);
		if (rc)
			return die("read", rc);
		if (!n)
			break;
		for (uint32_t done = 0; done < n;) {
			ssize_t k = write(1, buf + done, n - done);
			if (k < 0 && errno == EINTR)
				continue;
			if (k < 0)
				return die("stdout", -errno);
			done += (uint32_t)k;
		}
		off += n;
	}
	if (timed)
		fprintf(stderr, "%llu %.6f\n", (unsigned long long)off, now_s() - t0);
	free(buf);
	return p9_clunk(c, 2) ? 1 : 0;
}

int main(int argc, char **argv)
{
	uint32_t msize = 1u << 20, uid = 0;
	const char *aname = "";
	bool timed = false;
	int ch;
	while ((ch = getopt(argc, argv, "m:u:a:t")) != -1) {
		switch (ch) {
		case 'm': msize = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'u': uid = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'a': aname = optarg; break;
		case 't': timed = true; break;
		default: goto usage;
		}
	}
	if (argc - optind != 3)
		goto usage;
	struct p9c *c = p9c_session(argv[optind], msize, 1, uid, aname);
	if (!c)
		return 1;
	c->timeout_ms = 120000;
	char path[4096];
	snprintf(path, sizeof path, "%s", argv[optind + 2]);
	int st;
	if (!strcmp(argv[optind + 1], "put"))
		st = put(c, path, timed);
	else if (!strcmp(argv[optind + 1], "get"))
		st = get(c, path, timed);
	else
		goto usage;
	p9c_close(c);
	return st;
usage:
	fprintf(stderr, "usage: helper-ninep [-m MSIZE] [-u UID] [-a ANAME] [-t] ADDR put|get PATH\n");
	return 2;
}
