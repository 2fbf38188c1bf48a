/* test-nfs-xdr.c -- the NFS layer's decoders on their own: XDR bounds,
 * record marking (reassembly, oversized records, EOF), the RPC call
 * header and AUTH_SYS (16 groups fine, 17 not), handle MACs (forged,
 * flipped, short, another filesystem's, a deleted inode), squashing,
 * client address lists, errno mapping and the procedures' argument
 * decoders on truncated input. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <malloc.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "fsfix.h"
#include "nfs/nfs_int.h"
#include "util/coding.h"

/* ---- XDR ---- */

static void test_xdr_bounds(void **state)
{
	uint8_t in[12] = { 0, 0, 0, 7, 0, 0, 0, 1, 0, 0, 0, 2 };
	struct xdr x = xdr_make(in, sizeof in);
	assert_int_equal(xdr_u32(&x), 7);
	assert_true(xdr_bool(&x));
	assert_false(xdr_bool(&x)); /* 2 is not a bool */
	assert_true(x.err);
	x = xdr_make(in, 7);
	assert_int_equal(xdr_u64(&x), 0); /* 7 bytes: short */
	assert_true(x.err);
	assert_int_equal(xdr_u32(&x), 0); /* sticky */
	x = xdr_make(in, 8);
	assert_int_equal(xdr_u64(&x), 0x0000000700000001ull);
	assert_false(x.err);
	assert_int_equal(xdr_u32(&x), 0);
	assert_true(x.err);
}

static void test_xdr_opaque(void **state)
{
	struct buf b = BUF_INIT;
	xdr_put_opaque(&b, "abcde", 5);
	assert_int_equal(b.len, 4 + 8);
	assert_memory_equal(b.data + 9, "\0\0\0", 3);
	uint32_t len;
	struct xdr x = xdr_make(b.data, b.len);
	const uint8_t *p = xdr_opaque(&x, 5, &len);
	assert_non_null(p);
	assert_int_equal(len, 5);
	assert_memory_equal(p, "abcde", 5);
	assert_int_equal(xdr_left(&x), 0);
	x = xdr_make(b.data, b.len);
	assert_null(xdr_opaque(&x, 4, &len)); /* over the cap */
	assert_true(x.err);
	x = xdr_make(b.data, b.len - 1); /* padding cut */
	assert_null(xdr_opaque(&x, 5, &len));
	assert_true(x.err);
	/* a length near 2^32 never wraps the bounds check */
	uint8_t huge[8] = { 0xff, 0xff, 0xff, 0xfd, 1, 2, 3, 4 };
	x = xdr_make(huge, sizeof huge);
	assert_null(xdr_opaque(&x, UINT32_MAX, &len));
	assert_true(x.err);
	x = xdr_make(huge, sizeof huge);
	assert_null(xdr_fixed(&x, SIZE_MAX - 1));
	/* zero-length opaque: a pointer, nothing consumed past the length */
	uint8_t zero[4] = { 0 };
	x = xdr_make(zero, 4);
	assert_non_null(xdr_opaque(&x, 10, &len));
	assert_int_equal(len, 0);
	assert_false(x.err);
	buf_free(&b);
}

/* ---- record marking ---- */

struct mem_reader {
	const uint8_t *p;
	size_t len, off;
};

static ssize_t mem_read(void *arg, void *buf, size_t n)
{
	struct mem_reader *m = arg;
	if (m->off == m->len)
		return 0;
	if (m->len - m->off < n)
		return -EPIPE;
	memcpy(buf, m->p + m->off, n);
	m->off += n;
	return (ssize_t)n;
}

static void add_frag(struct buf *b, const void *p, uint32_t n, bool last)
{
	buf_put_be32(b, (last ? 0x80000000u : 0) | n);
	buf_append(b, p, n);
}

static void test_record_fragments(void **state)
{
	struct buf b = BUF_INIT;
	add_frag(&b, "hello ", 6, false);
	add_frag(&b, "", 0, false);
	add_frag(&b, "wor", 3, false);
	add_frag(&b, "ld", 2, true);
	add_frag(&b, "x", 1, true); /* a second record */
	struct mem_reader m = { b.data, b.len, 0 };
	uint8_t *rec;
	size_t len;
	assert_int_equal(rpc_record_read(mem_read, &m, 1000, &rec, &len), 1);
	assert_int_equal(len, 11);
	assert_memory_equal(rec, "hello world", 11);
	free(rec);
	assert_int_equal(rpc_record_read(mem_read, &m, 1000, &rec, &len), 1);
	assert_int_equal(len, 1);
	free(rec);
	assert_int_equal(rpc_record_read(mem_read, &m, 1000, &rec, &len), 0); /* clean EOF */
	assert_null(rec);
	buf_free(&b);

	/* A record holds about its length, not the doubled buffer it grew
	 * in: the connection's budget counts the length. */
	size_t big = 600 * 1024 + 1;
	uint8_t *data = calloc(1, big);
	add_frag(&b, data, big / 2, false);
	add_frag(&b, data, big - big / 2, true);
	m = (struct mem_reader){ b.data, b.len, 0 };
	assert_int_equal(rpc_record_read(mem_read, &m, 1u << 20, &rec, &len), 1);
	assert_int_equal(len, big);
	assert_true(malloc_usable_size(rec) < big + 8192);
	free(rec);
	free(data);
	buf_free(&b);
}

static void test_record_limits(void **state)
{
	uint8_t *rec;
	size_t len;
	char chunk[600];
	memset(chunk, 'a', sizeof chunk);
	/* one fragment over the cap: refused before anything is allocated */
	struct buf b = BUF_INIT;
	buf_put_be32(&b, 0x80000000u | 0x7fffffffu);
	struct mem_reader m = { b.data, b.len, 0 };
	assert_int_equal(rpc_record_read(mem_read, &m, 1000, &rec, &len), -EMSGSIZE);
	/* fragments that add up past it */
	buf_reset(&b);
	add_frag(&b, chunk, 600, false);
	add_frag(&b, chunk, 600, true);
	m = (struct mem_reader){ b.data, b.len, 0 };
	assert_int_equal(rpc_record_read(mem_read, &m, 1000, &rec, &len), -EMSGSIZE);
	/* exactly the cap is fine */
	buf_reset(&b);
	add_frag(&b, chunk, 600, false);
	add_frag(&b, chunk, 400, true);
	m = (struct mem_reader){ b.data, b.len, 0 };
	assert_int_equal(rpc_record_read(mem_read, &m, 1000, &rec, &len), 1);
	assert_int_equal(len, 1000);
	free(rec);
	/* endless empty fragments end too */
	buf_reset(&b);
	for (int i = 0; i < RPC_FRAGMENTS_MAX + 1; i++)
		add_frag(&b, "", 0, false);
	m = (struct mem_reader){ b.data, b.len, 0 };
	assert_int_equal(rpc_record_read(mem_read, &m, 1000, &rec, &len), -EMSGSIZE);
	/* EOF inside a header or a fragment */
	buf_reset(&b);
	add_frag(&b, chunk, 10, false);
	m = (struct mem_reader){ b.data, b.len, 0 };
	assert_int_equal(rpc_record_read(mem_read, &m, 1000, &rec, &len), -EPIPE);
	m = (struct mem_reader){ b.data, 8, 0 };
	assert_int_equal(rpc_record_read(mem_read, &m, 1000, &rec, &len), -EPIPE);
	/* an empty record */
	buf_reset(&b);
	add_frag(&b, "", 0, true);
	m = (struct mem_reader){ b.data, b.len, 0 };
	assert_int_equal(rpc_record_read(mem_read, &m, 1000, &rec, &len), 1);
	assert_int_equal(len, 0);
	free(rec);
	buf_free(&b);
}

/* ---- call header ---- */

static void put_call_head(struct buf *b, uint32_t rpcvers, uint32_t prog, uint32_t vers,
			  uint32_t proc)
{
	xdr_put_u32(b, 0x1234);
	xdr_put_u32(b, RPC_CALL);
	xdr_put_u32(b, rpcvers);
	xdr_put_u32(b, prog);
	xdr_put_u32(b, vers);
	xdr_put_u32(b, proc);
}

static void put_auth_sys(struct buf *b, size_t machine_len, uint32_t ngroups)
{
	struct buf body = BUF_INIT;
	char machine[300];
	memset(machine, 'm', sizeof machine);
	xdr_put_u32(&body, 99); /* stamp */
	xdr_put_opaque(&body, machine, machine_len);
	xdr_put_u32(&body, 1000);
	xdr_put_u32(&body, 100);
	xdr_put_u32(&body, ngroups);
	for (uint32_t i = 0; i < ngroups; i++)
		xdr_put_u32(&body, 2000 + i);
	xdr_put_u32(b, RPC_AUTH_SYS);
	xdr_put_opaque(b, body.data, body.len);
	buf_free(&body);
}

static void put_verf_none(struct buf *b)
{
	xdr_put_u32(b, RPC_AUTH_NONE);
	xdr_put_u32(b, 0);
}

static enum rpc_parse parse(struct buf *b, struct rpc_call *c)
{
	struct xdr x = xdr_make(b->data, b->len);
	return rpc_parse_call(&x, c);
}

static void test_auth_sys(void **state)
{
	struct buf b = BUF_INIT;
	struct rpc_call c;
	put_call_head(&b, 2, NFS_PROGRAM, 3, 1);
	put_auth_sys(&b, 255, 16);
	put_verf_none(&b);
	assert_int_equal(parse(&b, &c), RPC_PARSE_OK);
	assert_int_equal(c.xid, 0x1234);
	assert_int_equal(c.flavor, RPC_AUTH_SYS);
	assert_int_equal(c.uid, 1000);
	assert_int_equal(c.gid, 100);
	assert_int_equal(c.ngroups, 16);
	assert_int_equal(c.groups[15], 2015);

	buf_reset(&b);
	put_call_head(&b, 2, NFS_PROGRAM, 3, 1);
	put_auth_sys(&b, 10, 17);
	put_verf_none(&b);
	assert_int_equal(parse(&b, &c), RPC_PARSE_BADCRED);

	buf_reset(&b);
	put_call_head(&b, 2, NFS_PROGRAM, 3, 1);
	put_auth_sys(&b, 256, 0);
	put_verf_none(&b);
	assert_int_equal(parse(&b, &c), RPC_PARSE_BADCRED);

	/* a body over 400 bytes */
	buf_reset(&b);
	put_call_head(&b, 2, NFS_PROGRAM, 3, 1);
	uint8_t big[404] = { 0 };
	xdr_put_u32(&b, RPC_AUTH_SYS);
	xdr_put_opaque(&b, big, sizeof big);
	put_verf_none(&b);
	assert_int_equal(parse(&b, &c), RPC_PARSE_BADCRED);

	/* AUTH_SYS body with trailing bytes */
	buf_reset(&b);
	put_call_head(&b, 2, NFS_PROGRAM, 3, 1);
	xdr_put_u32(&b, RPC_AUTH_SYS);
	uint8_t body[24] = { 0 };
	xdr_put_opaque(&b, body, sizeof body); /* stamp, "", uid, gid, 0 groups, +4 */
	put_verf_none(&b);
	assert_int_equal(parse(&b, &c), RPC_PARSE_BADCRED);
	buf_free(&b);
}

static void test_call_header(void **state)
{
	struct buf b = BUF_INIT;
	struct rpc_call c;
	put_call_head(&b, 2, NFS_PROGRAM, 3, 0);
	put_verf_none(&b);
	put_verf_none(&b);
	assert_int_equal(parse(&b, &c), RPC_PARSE_OK);
	assert_int_equal(c.flavor, RPC_AUTH_NONE);

	buf_reset(&b);
	put_call_head(&b, 2, NFS_PROGRAM, 3, 0);
	xdr_put_u32(&b, RPC_AUTH_DH);
	xdr_put_opaque(&b, "abcd", 4);
	put_verf_none(&b);
	assert_int_equal(parse(&b, &c), RPC_PARSE_TOOWEAK);

	buf_reset(&b);
	put_call_head(&b, 2, NFS_PROGRAM, 3, 0);
	xdr_put_u32(&b, RPC_RPCSEC_GSS);
	xdr_put_opaque(&b, "abcd", 4);
	put_verf_none(&b);
	assert_int_equal(parse(&b, &c), RPC_PARSE_TOOWEAK);

	buf_reset(&b);
	put_call_head(&b, 2, NFS_PROGRAM, 3, 0);
	xdr_put_u32(&b, 12345);
	xdr_put_opaque(&b, "", 0);
	put_verf_none(&b);
	assert_int_equal(parse(&b, &c), RPC_PARSE_BADCRED);

	buf_reset(&b);
	put_call_head(&b, 3, NFS_PROGRAM, 3, 0);
	assert_int_equal(parse(&b, &c), RPC_PARSE_RPC_MISMATCH);

	/* no verifier */
	buf_reset(&b);
	put_call_head(&b, 2, NFS_PROGRAM, 3, 0);
	put_verf_none(&b);
	assert_int_equal(parse(&b, &c), RPC_PARSE_BADCRED);

	/* a reply, or a header cut short: dropped */
	buf_reset(&b);
	xdr_put_u32(&b, 1);
	xdr_put_u32(&b, RPC_REPLY);
	assert_int_equal(parse(&b, &c), RPC_PARSE_DROP);
	buf_reset(&b);
	put_call_head(&b, 2, NFS_PROGRAM, 3, 0);
	b.len -= 2;
	assert_int_equal(parse(&b, &c), RPC_PARSE_DROP);
	buf_free(&b);
}

/* ---- squash ---- */

static void test_squash(void **state)
{
	struct nfs_server s = { .squash = NFS_SQUASH_ROOT, .anon_uid = 65534, .anon_gid = 65533 };
	struct nfs_req rq;
	memset(&rq, 0, sizeof rq);
	rq.call.flavor = RPC_AUTH_SYS;
	rq.call.uid = 0;
	rq.call.gid = 0;
	rq.call.ngroups = 2;
	rq.call.groups[0] = 0;
	rq.call.groups[1] = 5;
	nfs_req_cred(&s, &rq);
	assert_int_equal(rq.cred.uid, 65534);
	assert_int_equal(rq.cred.gid, 65533);
	assert_int_equal(rq.cred.ngroups, 2);
	assert_int_equal(rq.cred.groups[0], 65533);
	assert_int_equal(rq.cred.groups[1], 5);

	rq.call.uid = 1000;
	rq.call.gid = 1000;
	nfs_req_cred(&s, &rq);
	assert_int_equal(rq.cred.uid, 1000);

	s.squash = NFS_SQUASH_NONE;
	rq.call.uid = 0;
	nfs_req_cred(&s, &rq);
	assert_int_equal(rq.cred.uid, 0);

	s.squash = NFS_SQUASH_ALL;
	rq.call.uid = 1000;
	nfs_req_cred(&s, &rq);
	assert_int_equal(rq.cred.uid, 65534);
	assert_int_equal(rq.cred.ngroups, 0);

	s.squash = NFS_SQUASH_NONE;
	rq.call.flavor = RPC_AUTH_NONE;
	nfs_req_cred(&s, &rq);
	assert_int_equal(rq.cred.uid, 65534);
	assert_int_equal(rq.cred.gid, 65533);
}

/* ---- client lists ---- */

static struct sockaddr_storage addr(const char *a)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof ss);
	if (strchr(a, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, a, &s6->sin6_addr), 1);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, a, &s4->sin_addr), 1);
	}
	return ss;
}

static void test_clients(void **state)
{
	struct nfs_server s;
	memset(&s, 0, sizeof s);
	struct sockaddr_storage ss = addr("10.1.2.3");
	assert_true(nfs_client_allowed(&s, &ss)); /* no list: everyone */
	const char *list[] = { "127.0.0.1/32", "192.0.2.0/24", "10.0.0.0/9", "2001:db8::/32",
			       NULL };
	assert_int_equal(nfs_clients_parse(&s, list), 0);
	const char *yes[] = { "127.0.0.1", "192.0.2.200", "10.127.0.1", "2001:db8::1",
			      "::ffff:192.0.2.7" };
	const char *no[] = { "127.0.0.2", "192.0.3.1", "10.128.0.1", "2001:db9::1", "::1" };
	for (size_t i = 0; i < 5; i++) {
		ss = addr(yes[i]);
		assert_true(nfs_client_allowed(&s, &ss));
		ss = addr(no[i]);
		assert_false(nfs_client_allowed(&s, &ss));
	}
	free(s.clients);
	const char *bad[][2] = { { "10.0.0.0/33", NULL }, { "nothost", NULL }, { "1.2.3.4/", NULL },
				 { "::/129", NULL }, { "1.2.3.4/x", NULL } };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		memset(&s, 0, sizeof s);
		assert_int_equal(nfs_clients_parse(&s, bad[i]), -EINVAL);
		free(s.clients);
	}
}

/* ---- handles ---- */

static void test_handle_mac(void **state)
{
	struct nfs_handles h = { .fsid = 0x1122334455667788ull };
	memset(h.key, 3, sizeof h.key);
	struct nfs_fh fh;
	uint64_t ino, gen;
	nfs_handle_make(&h, 42, 7, &fh);
	assert_int_equal(fh.len, NFS_FH_BYTES);
	assert_int_equal(nfs_handle_parse(&h, &fh, &ino, &gen), 0);
	assert_int_equal(ino, 42);
	assert_int_equal(gen, 7);
	/* every bit of it matters */
	for (unsigned bit = 0; bit < NFS_FH_BYTES * 8; bit++) {
		struct nfs_fh f2 = fh;
		f2.data[bit / 8] ^= (uint8_t)(1 << (bit % 8));
		int r = nfs_handle_parse(&h, &f2, &ino, &gen);
		bool in_fsid = bit >= 32 && bit < 96;
		assert_int_equal(r, in_fsid ? -ESTALE : -EBADF);
	}
	/* forged: the right layout for another inode, a MAC made up */
	struct nfs_fh forged = fh;
	be64_put(forged.data + 12, 43);
	assert_int_equal(nfs_handle_parse(&h, &forged, &ino, &gen), -EBADF);
	/* short, long, empty */
	struct nfs_fh f3 = fh;
	f3.len = NFS_FH_BYTES - 1;
	assert_int_equal(nfs_handle_parse(&h, &f3, &ino, &gen), -EBADF);
	f3.len = NFS_FH_BYTES + 1;
	assert_int_equal(nfs_handle_parse(&h, &f3, &ino, &gen), -EBADF);
	f3.len = 0;
	assert_int_equal(nfs_handle_parse(&h, &f3, &ino, &gen), -EBADF);
	/* another key: BADHANDLE */
	struct nfs_handles other = h;
	other.key[0] ^= 1;
	assert_int_equal(nfs_handle_parse(&other, &fh, &ino, &gen), -EBADF);
	/* another filesystem: STALE */
	other = h;
	other.fsid++;
	assert_int_equal(nfs_handle_parse(&other, &fh, &ino, &gen), -ESTALE);
}

/* Through a real core: deleted and regenerated inodes are STALE. */
static void test_handle_stale(void **state)
{
	struct fsfix f;
	fsfix_init(&f, "nfs-xdr-handle");
	struct nfs_server s;
	memset(&s, 0, sizeof s);
	s.fs = f.fs;
	s.handles.fsid = fs_fsid(f.fs);
	fs_handle_key(f.fs, s.handles.key);
	uint8_t again[32];
	fs_handle_key(f.fs, again);
	assert_memory_equal(again, s.handles.key, 32);
	struct nfs_req rq;
	memset(&rq, 0, sizeof rq);
	rq.srv = &s;

	uint64_t ino = fsfix_mk(&f, &FSFIX_ROOT, FS_ROOT_INO, "f", S_IFREG | 0644);
	struct fs_attr a;
	assert_int_equal(fs_getattr(f.fs, ino, &a), 0);
	struct nfs_fh fh, wrong_gen;
	nfs_handle_make(&s.handles, ino, a.generation, &fh);
	nfs_handle_make(&s.handles, ino, a.generation + 1, &wrong_gen);
	uint64_t got;
	struct fs_attr ga;
	assert_int_equal(nfs3_fh_inode(&rq, &fh, &got, &ga), 0);
	assert_int_equal(got, ino);
	assert_int_equal(nfs3_fh_inode(&rq, &wrong_gen, &got, NULL), -ESTALE);
	assert_int_equal(nfs3_status(-ESTALE), NFS3ERR_STALE);
	assert_int_equal(fs_unlink(f.fs, &FSFIX_ROOT, FS_ROOT_INO, "f", NULL), 0);
	assert_int_equal(nfs3_fh_inode(&rq, &fh, &got, NULL), -ESTALE);
	assert_int_equal(got, 0);
	/* a handle of an inode number never used */
	nfs_handle_make(&s.handles, ino + 1000, 1, &fh);
	assert_int_equal(nfs3_fh_inode(&rq, &fh, &got, NULL), -ESTALE);
	/* garbage: BADHANDLE */
	fh.data[35] ^= 1;
	assert_int_equal(nfs3_fh_inode(&rq, &fh, &got, NULL), -EBADF);
	assert_int_equal(nfs3_status(-EBADF), NFS3ERR_BADHANDLE);
	/* the key survives a restart: handles outlive the daemon */
	fsfix_reopen(&f);
	fs_handle_key(f.fs, again);
	assert_memory_equal(again, s.handles.key, 32);
	fsfix_done(&f);
}

/* ---- errno mapping ---- */

static void test_status(void **state)
{
	static const struct { int err; enum nfsstat3 st; } map[] = {
		{ 0, NFS3_OK }, { -EPERM, NFS3ERR_PERM }, { -EACCES, NFS3ERR_ACCES },
		{ -EROFS, NFS3ERR_ROFS }, { -ENOSPC, NFS3ERR_NOSPC }, { -EDQUOT, NFS3ERR_DQUOT },
		{ -ENAMETOOLONG, NFS3ERR_NAMETOOLONG }, { -ENOTEMPTY, NFS3ERR_NOTEMPTY },
		{ -EXDEV, NFS3ERR_XDEV }, { -EIO, NFS3ERR_IO }, { -EINVAL, NFS3ERR_INVAL },
		{ -EEXIST, NFS3ERR_EXIST }, { -ENOTDIR, NFS3ERR_NOTDIR }, { -EISDIR, NFS3ERR_ISDIR },
		{ -EFBIG, NFS3ERR_FBIG }, { -ENXIO, NFS3ERR_NXIO }, { -EMLINK, NFS3ERR_MLINK },
		{ -ENOTSUP, NFS3ERR_NOTSUPP }, { -EOPNOTSUPP, NFS3ERR_NOTSUPP },
		{ -ENOENT, NFS3ERR_NOENT }, { -EBADMSG, NFS3ERR_IO }, { -EAGAIN, NFS3ERR_JUKEBOX },
		{ -ETIMEDOUT, NFS3ERR_JUKEBOX },
	};
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
		assert_int_equal(nfs3_status(map[i].err), map[i].st);
}

/* ---- argument decoders ---- */

/* Each procedure's arguments, cut at every length short of whole, are
 * garbage; whole, they decode. */
static void test_arg_decoders(void **state)
{
	struct buf fh = BUF_INIT;
	uint8_t h[NFS_FH_BYTES] = { 1 };
	xdr_put_opaque(&fh, h, sizeof h);
	struct buf sattr = BUF_INIT; /* mode set, rest unset, both times client-given */
	xdr_put_bool(&sattr, true);
	xdr_put_u32(&sattr, 0644);
	xdr_put_bool(&sattr, false);
	xdr_put_bool(&sattr, false);
	xdr_put_bool(&sattr, false);
	xdr_put_u32(&sattr, 2);
	xdr_put_u32(&sattr, 1);
	xdr_put_u32(&sattr, 2);
	xdr_put_u32(&sattr, 2);
	xdr_put_u32(&sattr, 1);
	xdr_put_u32(&sattr, 999999999);
	struct buf args[NFS3_PROCS];
	for (int i = 0; i < NFS3_PROCS; i++)
		buf_init(&args[i]);
	for (int p = 1; p < NFS3_PROCS; p++) {
		struct buf *b = &args[p];
		buf_append(b, fh.data, fh.len);
		switch (p) {
		case 2: buf_append(b, sattr.data, sattr.len); xdr_put_bool(b, false); break;
		case 3: case 12: case 13: xdr_put_opaque(b, "name", 4); break;
		case 4: xdr_put_u32(b, 0x3f); break;
		case 6: case 21: xdr_put_u64(b, 0); xdr_put_u32(b, 4096); break;
		case 7: xdr_put_u64(b, 0); xdr_put_u32(b, 3); xdr_put_u32(b, 2);
			xdr_put_opaque(b, "abc", 3); break;
		case 8: xdr_put_opaque(b, "n", 1); xdr_put_u32(b, 1);
			buf_append(b, sattr.data, sattr.len); break;
		case 9: xdr_put_opaque(b, "n", 1); buf_append(b, sattr.data, sattr.len); break;
		case 10: xdr_put_opaque(b, "n", 1); buf_append(b, sattr.data, sattr.len);
			 xdr_put_opaque(b, "target", 6); break;
		case 11: xdr_put_opaque(b, "n", 1); xdr_put_u32(b, 4);
			 buf_append(b, sattr.data, sattr.len); xdr_put_u32(b, 1); xdr_put_u32(b, 3);
			 break;
		case 14: xdr_put_opaque(b, "a", 1); buf_append(b, fh.data, fh.len);
			 xdr_put_opaque(b, "b", 1); break;
		case 15: buf_append(b, fh.data, fh.len); xdr_put_opaque(b, "b", 1); break;
		case 16: xdr_put_u64(b, 0); xdr_put_u64(b, 0); xdr_put_u32(b, 4096); break;
		case 17: xdr_put_u64(b, 0); xdr_put_u64(b, 0); xdr_put_u32(b, 4096);
			 xdr_put_u32(b, 8192); break;
		default: break;
		}
	}
	for (int p = 1; p < NFS3_PROCS; p++) {
		union nfs_args a;
		struct xdr x = xdr_make(args[p].data, args[p].len);
		if (nfs3_procs[p].decode(&x, &a) != 0)
			fail_msg("%s: whole arguments did not decode", nfs3_procs[p].name);
		for (size_t cut = 0; cut < args[p].len; cut++) {
			x = xdr_make(args[p].data, cut);
			if (nfs3_procs[p].decode(&x, &a) != -EBADMSG)
				fail_msg("%s cut at %zu of %zu decoded", nfs3_procs[p].name, cut,
					 args[p].len);
		}
		buf_free(&args[p]);
	}
	/* WRITE: count past the data, a bad stability */
	struct buf w = BUF_INIT;
	buf_append(&w, fh.data, fh.len);
	xdr_put_u64(&w, 0);
	xdr_put_u32(&w, 4);
	xdr_put_u32(&w, 0);
	xdr_put_opaque(&w, "abc", 3);
	union nfs_args a;
	struct xdr x = xdr_make(w.data, w.len);
	assert_int_equal(nfs3_procs[7].decode(&x, &a), -EBADMSG);
	be32_put(w.data + fh.len + 8, 3);
	be32_put(w.data + fh.len + 12, 3);
	x = xdr_make(w.data, w.len);
	assert_int_equal(nfs3_procs[7].decode(&x, &a), -EBADMSG);
	/* a handle over 64 bytes, a name over the wire cap */
	buf_reset(&w);
	uint8_t big[NFS_NAME_WIRE_MAX + 1] = { 0 };
	xdr_put_opaque(&w, big, NFS_FH_MAX + 1);
	x = xdr_make(w.data, w.len);
	assert_int_equal(nfs3_procs[1].decode(&x, &a), -EBADMSG);
	buf_reset(&w);
	buf_append(&w, fh.data, fh.len);
	xdr_put_opaque(&w, big, sizeof big);
	x = xdr_make(w.data, w.len);
	assert_int_equal(nfs3_procs[3].decode(&x, &a), -EBADMSG);
	/* sattr3 with a bad time_how, CREATE with a bad mode */
	buf_reset(&w);
	buf_append(&w, fh.data, fh.len);
	xdr_put_opaque(&w, "n", 1);
	xdr_put_u32(&w, 3);
	x = xdr_make(w.data, w.len);
	assert_int_equal(nfs3_procs[8].decode(&x, &a), -EBADMSG);
	buf_free(&w);
	buf_free(&fh);
	buf_free(&sattr);
}

/* names: too long, slashes, NUL, empty */
static void test_names(void **state)
{
	char buf[FS_NAME_MAX + 1];
	char big[FS_NAME_MAX + 1];
	memset(big, 'a', sizeof big);
	struct nfs_name n = { big, FS_NAME_MAX };
	assert_int_equal(nfs3_name(&n, buf), 0);
	assert_int_equal(strlen(buf), FS_NAME_MAX);
	n.len = FS_NAME_MAX + 1;
	assert_int_equal(nfs3_name(&n, buf), -ENAMETOOLONG);
	n = (struct nfs_name){ "a/b", 3 };
	assert_int_equal(nfs3_name(&n, buf), -EACCES);
	n = (struct nfs_name){ "a\0b", 3 };
	assert_int_equal(nfs3_name(&n, buf), -EACCES);
	n = (struct nfs_name){ "", 0 };
	assert_int_equal(nfs3_name(&n, buf), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_xdr_bounds),
		cmocka_unit_test(test_xdr_opaque),
		cmocka_unit_test(test_record_fragments),
		cmocka_unit_test(test_record_limits),
		cmocka_unit_test(test_auth_sys),
		cmocka_unit_test(test_call_header),
		cmocka_unit_test(test_squash),
		cmocka_unit_test(test_clients),
		cmocka_unit_test(test_handle_mac),
		cmocka_unit_test(test_handle_stale),
		cmocka_unit_test(test_status),
		cmocka_unit_test(test_arg_decoders),
		cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
