/* fuzz-nfs-rpc.c -- the bytes an NFS client sends: a TCP stream with
 * record marking (rpc_record_read), each record's call header and
 * credential (rpc_parse_call), and the arguments of the procedure it
 * names (nfs3_procs[] / mount3_procs[] decoders), then the reply headers
 * the server would send.  No filesystem is touched: the decoders alone
 * must hold every bound.  Besides not crashing, decoded values must keep
 * the promises the exec functions rely on: handles at most 64 bytes,
 * names and data inside the record and within their caps, a WRITE's
 * count within its data. */
#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nfs/nfs_int.h"

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

static void one_record(const uint8_t *rec, size_t len)
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
