/* helper-nfs.c -- what test-nfs-tools.sh and bench-nfs.sh need from NFS
 * that libnfs' command-line tools do not give:
 *
 *   helper-nfs freeport              a free TCP port on 127.0.0.1
 *   helper-nfs wait PORT             until 127.0.0.1:PORT accepts (30 s; exit 1 if not)
 *   helper-nfs verf PORT             the server's write verifier (16 hex digits): an
 *                                    UNSTABLE WRITE of one byte to /.verf-probe
 *   helper-nfs put PORT LOCAL NAME   copy LOCAL to /NAME and COMMIT it (nfs_fsync) before
 *                                    closing: what fsync(2) over NFS is.  nfs-cp does not
 *                                    commit (libnfs writes UNSTABLE and never sends COMMIT),
 *                                    so only this is durable by the protocol's promise.
 *
 * The export is "/" and NFS and MOUNT share PORT (no portmapper). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nfsc/libnfs.h>
#include <nfsc/libnfs-raw.h>
#include <nfsc/libnfs-raw-nfs.h>
#include <nfsc/libnfs-raw-mount.h>

#include "nfsfix.h"

/* libnfs keeps struct nfs_fh private (libnfs-private.h); this is its
 * layout in libnfs 4 and 5, which nfs_get_fh() hands out. */
struct nfs_fh {
	int len;
	char *val;
};

/* Under `make asan`: libnfs 4 leaks a few bytes on some of its own paths
 * (a 24-byte calloc per mount); the helper is a client tool, not what is
 * under test, so LeakSanitizer stays quiet for it (the hook is only read
 * by ASan builds). */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "detect_leaks=0";
}

static int usage(void)
{
	fprintf(stderr, "usage: helper-nfs freeport | wait PORT | verf PORT | put PORT LOCAL NAME\n");
	return 2;
}

static struct nfs_context *open_export(int port)
{
	char url[256];
	struct nfs_context *nfs = nfs_init_context();
	if (!nfs)
		return NULL;
	/* NFS_TEST_MOUNTPORT / NFS_TEST_EXPORT: another server (development) */
	const char *mp = getenv("NFS_TEST_MOUNTPORT");
	snprintf(url, sizeof url, "nfs://127.0.0.1/?nfsport=%d&mountport=%d", port, mp && *mp ? atoi(mp) : port);
	struct nfs_url *u = nfs_parse_url_dir(nfs, url);
	if (!u) {
		fprintf(stderr, "helper-nfs: %s: %s\n", url, nfs_get_error(nfs));
		nfs_destroy_context(nfs);
		return NULL;
	}
	nfs_set_uid(nfs, 0);
	nfs_set_gid(nfs, 0);
	const char *exp = getenv("NFS_TEST_EXPORT");
	if (nfs_mount(nfs, u->server, exp && *exp ? exp : "/")) {
		fprintf(stderr, "helper-nfs: mount: %s\n", nfs_get_error(nfs));
		nfs_destroy_url(u);
		nfs_destroy_context(nfs);
		return NULL;
	}
	nfs_destroy_url(u);
	return nfs;
}

static int put(int port, const char *local, const char *name)
{
	char path[1024];
	int fd = open(local, O_RDONLY);
	if (fd < 0) {
		perror(local);
		return 1;
	}
	struct nfs_context *nfs = open_export(port);
	if (!nfs)
		return 1;
	struct nfsfh *fh;
	snprintf(path, sizeof path, "/%s", name);
	if (nfs_open(nfs, path, O_WRONLY | O_CREAT | O_TRUNC, &fh) &&
	    nfs_creat(nfs, path, 0644, &fh)) {
		fprintf(stderr, "helper-nfs: create %s: %s\n", path, nfs_get_error(nfs));
		return 1;
	}
	static char buf[1 << 20];
	uint64_t off = 0;
	for (;;) {
		ssize_t n = read(fd, buf, sizeof buf);
		if (n < 0) {
			perror(local);
			return 1;
		}
		if (n == 0)
			break;
		for (ssize_t done = 0; done < n;) {
			int w = nfs_pwrite(nfs, fh, off, n - done, buf + done);
			if (w <= 0) {
				fprintf(stderr, "helper-nfs: write %s at %llu: %s\n", path,
					(unsigned long long)off, nfs_get_error(nfs));
				return 1;
			}
			done += w;
			off += w;
		}
	}
	if (nfs_fsync(nfs, fh)) {
		fprintf(stderr, "helper-nfs: fsync (COMMIT) %s: %s\n", path, nfs_get_error(nfs));
		return 1;
	}
	if (nfs_close(nfs, fh)) {
		fprintf(stderr, "helper-nfs: close %s: %s\n", path, nfs_get_error(nfs));
		return 1;
	}
	nfs_destroy_context(nfs);
	close(fd);
	printf("put %llu bytes to %s and committed them\n", (unsigned long long)off, path);
	return 0;
}

/* The raw WRITE of one byte, to see its verifier. */
struct wres {
	int done, status;
	char verf[NFS3_WRITEVERFSIZE];
	int nfsstat;
};

static void write_done(struct rpc_context *rpc, int status, void *data, void *priv)
{
	struct wres *w = priv;
	(void)rpc;
	w->done = 1;
	w->status = status;
	if (status == RPC_STATUS_SUCCESS) {
		WRITE3res *r = data;
		w->nfsstat = r->status;
		if (r->status == NFS3_OK)
			memcpy(w->verf, r->WRITE3res_u.resok.verf, sizeof w->verf);
	}
}

static int verf(int port)
{
	struct nfs_context *nfs = open_export(port);
	if (!nfs)
		return 1;
	struct nfsfh *fh;
	if (nfs_open(nfs, "/.verf-probe", O_WRONLY | O_CREAT, &fh) && nfs_creat(nfs, "/.verf-probe", 0644, &fh)) {
		fprintf(stderr, "helper-nfs: create /.verf-probe: %s\n", nfs_get_error(nfs));
		return 1;
	}
	struct rpc_context *rpc = nfs_get_rpc_context(nfs);
	struct nfs_fh *h = nfs_get_fh(fh);
	WRITE3args a;
	memset(&a, 0, sizeof a);
	a.file.data.data_len = h->len;
	a.file.data.data_val = h->val;
	a.offset = 0;
	a.count = 1;
	a.stable = UNSTABLE;
	a.data.data_len = 1;
	a.data.data_val = "v";
	struct wres w = { 0 };
	if (rpc_nfs3_write_async(rpc, write_done, &a, &w)) {
		fprintf(stderr, "helper-nfs: cannot queue WRITE\n");
		return 1;
	}
	double end = nfsfix_now() + 30;
	while (!w.done && nfsfix_now() < end) {
		struct pollfd p = { .fd = rpc_get_fd(rpc), .events = rpc_which_events(rpc) };
		int n = poll(&p, 1, 100);
		if (rpc_service(rpc, n > 0 ? p.revents : 0) < 0)
			break;
	}
	if (!w.done || w.status != RPC_STATUS_SUCCESS || w.nfsstat != NFS3_OK) {
		fprintf(stderr, "helper-nfs: WRITE failed (done %d, rpc %d, nfsstat %d)\n", w.done, w.status, w.nfsstat);
		return 1;
	}
	for (int i = 0; i < NFS3_WRITEVERFSIZE; i++)
		printf("%02x", (unsigned char)w.verf[i]);
	printf("\n");
	nfs_close(nfs, fh);
	nfs_destroy_context(nfs);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage();
	if (!strcmp(argv[1], "freeport")) {
		printf("%d\n", nfsfix_free_port());
		return 0;
	}
	if (argc < 3)
		return usage();
	int port = atoi(argv[2]);
	if (!strcmp(argv[1], "wait")) {
		double end = nfsfix_now() + 30;
		while (nfsfix_now() < end) {
			int s = nfsfix_connect(port);
			if (s >= 0) {
				close(s);
				return 0;
			}
			usleep(50000);
		}
		return 1;
	}
	if (!strcmp(argv[1], "verf"))
		return verf(port);
	if (!strcmp(argv[1], "put") && argc == 5)
		return put(port, argv[3], argv[4]);
	return usage();
}
