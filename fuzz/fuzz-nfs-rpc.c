/* fuzz-nfs-rpc.c -- the bytes an NFS client sends: a TCP stream with
 * record marking (rpc_record_read), each record's call header and
 * credential (rpc_parse_call), and the arguments of the procedure it
 * names (nfs3_procs[] / mount3_procs[] decoders), then the reply headers
 * the server would send.  Decoded values must keep the promises the exec
 * functions rely on: handles at most 64 bytes, names and data inside the
 * record and within their caps, a WRITE's count within its data.
 *
 * Then the whole request runs (nfs_dispatch) against a filesystem on a
 * memory:// store opened once (async, with a quota so it stays small).
 * So that the fuzzer reaches past the handle check, every 36-byte opaque
 * that looks like a version-1 handle gets this filesystem's fsid and a
 * valid MAC before dispatch: the fuzzer picks inode and generation (the
 * seeds use the root, inode 1 generation 1). */
#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "data/data.h"
#include "lsm/lsm.h"
#include "nfs/nfs_int.h"
#include "store/objstore.h"
#include "util/coding.h"
#include "util/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct stream {
	const uint8_t *p;
	size_t len, off;
};

static ssize_t stream_read(void *arg, void *buf, size_t n)
{
	struct stream *s = arg;
	if (s->off == s->len)
		return 0;
	if (s->len - s->off < n)
		return -EPIPE;
	memcpy(buf, s->p + s->off, n);
	s->off += n;
	return (ssize_t)n;
}

static void check_inside(const uint8_t *rec, size_t len, const void *p, size_t n)
{
	if (!n)
		return;
	assert(p);
	assert((const uint8_t *)p >= rec && (const uint8_t *)p + n <= rec + len);
}

static void check_args(uint32_t prog, uint32_t proc, const union nfs_args *a,
		       const uint8_t *rec, size_t len)
{
	if (prog == MOUNT_PROGRAM) {
		if (proc == 1 || proc == 3) {
			assert(a->dirpath.len <= NFS_PATH_WIRE_MAX);
			check_inside(rec, len, a->dirpath.p, a->dirpath.len);
		}
		return;
	}
	/* the first member of every argument structure is a handle or a
	 * diropargs, whose handle comes first */
	assert(a->fh.len <= NFS_FH_MAX);
	switch (proc) {
	case 3: case 12: case 13:
		assert(a->dirop.name.len <= NFS_NAME_WIRE_MAX);
		check_inside(rec, len, a->dirop.name.p, a->dirop.name.len);
		break;
	case 7:
		assert(a->write.len <= NFS_MAXDATA && a->write.count <= a->write.len);
		assert(a->write.stable <= 2);
		check_inside(rec, len, a->write.data, a->write.len);
		break;
	case 10:
		assert(a->symlink.target.len <= NFS_PATH_WIRE_MAX);
		check_inside(rec, len, a->symlink.target.p, a->symlink.target.len);
		break;
	case 14:
		assert(a->rename.to.dir.len <= NFS_FH_MAX);
		assert(a->rename.from.name.len <= NFS_NAME_WIRE_MAX);
		assert(a->rename.to.name.len <= NFS_NAME_WIRE_MAX);
		break;
	case 2:
		assert(!(a->setattr.sa.set & FS_SET_MTIME) || a->setattr.sa.mtime.tv_nsec < 1000000000);
		break;
	default:
		break;
	}
}

static struct nfs_server *server(void)
{
	static struct nfs_server srv;
	static bool opened;
	if (opened)
		return &srv;
	opened = true;
	log_set_level(LOG_ERROR);
	objstore *st;
	lsm *db;
	struct data *d;
	struct fs *fs;
	struct lsm_options lo;
	struct data_options dopt;
	struct fs_options fo = { .max_size = 64 << 20, .max_inodes = 20000 };
	assert(objstore_open("memory://fuzz-nfs-rpc", &st) == 0);
	lsm_options_default(&lo);
	lo.store = st;
	lo.create = true;
	memset(lo.key, 7, sizeof lo.key);
	assert(lsm_open(&lo, &db) == 0);
	data_options_default(&dopt);
	dopt.store = st;
	dopt.db = db;
	memset(dopt.key, 9, sizeof dopt.key);
	memcpy(dopt.meta_key, lo.key, sizeof dopt.meta_key);
	dopt.flush_interval_ms = 0;
	dopt.gc_interval_ms = 0;
	assert(data_open(&dopt, &d) == 0);
	fo.db = db;
	fo.data = d;
	assert(fs_open(&fo, &fs) == 0);
	srv.fs = fs;
	srv.handles.fsid = fs_fsid(fs);
	fs_handle_key(fs, srv.handles.key);
	srv.export_path = "/";
	srv.export_ino = FS_ROOT_INO;
	srv.export_gen = 1;
	srv.squash = NFS_SQUASH_NONE;
	srv.anon_uid = srv.anon_gid = 65534;
	srv.async = true;
	return &srv;
}

/* Give every handle-shaped opaque our fsid and a valid MAC. */
static void fix_handles(const struct nfs_server *s, uint8_t *rec, size_t len)
{
	for (size_t i = 0; i + 4 + NFS_FH_BYTES <= len; i += 4) {
		uint8_t *h = rec + i + 4;
		if (be32_get(rec + i) != NFS_FH_BYTES || h[0] != 1 || h[1] || h[2] || h[3])
			continue;
		struct nfs_fh fh;
		nfs_handle_make(&s->handles, be64_get(h + 12), be64_get(h + 20), &fh);
		memcpy(h, fh.data, NFS_FH_BYTES);
	}
}

/* The whole request, as the server runs it: a well-formed reply. */
static void run_request(uint8_t *rec, size_t len)
{
	struct nfs_server *s = server();
	fix_handles(s, rec, len);
	struct nfs_req rq;
	memset(&rq, 0, sizeof rq);
	rq.srv = s;
	rq.rec = rec;
	rq.rec_len = len;
	rq.args = xdr_make(rec, len);
	if (rpc_parse_call(&rq.args, &rq.call) != RPC_PARSE_OK)
		return;
	nfs_dispatch(&rq);
	assert(rq.out.len >= 28 && (rq.out.len & 3) == 0);
	assert(be32_get(rq.out.data) == (0x80000000u | (uint32_t)(rq.out.len - 4)));
	assert(be32_get(rq.out.data + 4) == rq.call.xid);
	/* bounded: a READ or READDIR reply at most 1 MiB plus headers */
	assert(rq.out.len <= NFS_MAXDATA + 4096);
	buf_free(&rq.out);
}

static void one_record(uint8_t *rec, size_t len)
{
	struct xdr x = xdr_make(rec, len);
	struct rpc_call c;
	enum rpc_parse pr = rpc_parse_call(&x, &c);
	struct buf out = BUF_INIT;
	switch (pr) {
	case RPC_PARSE_DROP:
		return;
	case RPC_PARSE_RPC_MISMATCH:
		rpc_reply_denied_rpcvers(&out, c.xid);
		break;
	case RPC_PARSE_BADCRED:
	case RPC_PARSE_TOOWEAK:
		rpc_reply_denied_auth(&out, c.xid, RPC_AUTH_BADCRED);
		break;
	case RPC_PARSE_OK: {
		assert(c.ngroups <= RPC_AUTH_SYS_GROUPS_MAX);
		const struct nfs_proc *table = c.prog == NFS_PROGRAM ? nfs3_procs
					       : c.prog == MOUNT_PROGRAM ? mount3_procs : NULL;
		uint32_t n = c.prog == NFS_PROGRAM ? NFS3_PROCS : MOUNT3_PROCS;
		if (!table || c.vers != 3 || c.proc >= n) {
			rpc_reply_accepted(&out, c.xid, RPC_PROC_UNAVAIL);
			break;
		}
		union nfs_args a;
		memset(&a, 0, sizeof a);
		int r = table[c.proc].decode(&x, &a);
		assert(r == 0 || r == -EBADMSG);
		if (r == 0)
			check_args(c.prog, c.proc, &a, rec, len);
		rpc_reply_accepted(&out, c.xid, r == 0 ? RPC_SUCCESS : RPC_GARBAGE_ARGS);
		break;
	}
	}
	rpc_reply_finish(&out);
	assert(out.len >= 16);
	buf_free(&out);
	if (pr == RPC_PARSE_OK)
		run_request(rec, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A small cap, so the fuzzer reaches the oversized path too. */
	struct stream s = { data, size, 0 };
	for (int i = 0; i < 64; i++) {
		uint8_t *rec;
		size_t len;
		int r = rpc_record_read(stream_read, &s, 64 * 1024, &rec, &len);
		if (r <= 0) {
			assert(r == 0 || r == -EPIPE || r == -EMSGSIZE);
			return 0;
		}
		assert(len <= 64 * 1024);
		one_record(rec, len);
		free(rec);
	}
	return 0;
}
