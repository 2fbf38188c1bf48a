/* wire.c -- the 9P2000.L decoder of requests and encoder of replies
 * (wire.h).  Every read checks the bytes left; a short field sets err and
 * yields zeros, so each message's parser checks once at the end. */
#include "ninep/wire.h"

#include <errno.h>
#include <string.h>

#include "util/coding.h"

struct p9_rd {
	const uint8_t *p, *end;
	char *scratch;            /* where the next string's copy goes */
	bool err;
};

static bool need(struct p9_rd *r, size_t n)
{
	if (r->err || (size_t)(r->end - r->p) < n) {
		r->err = true;
		return false;
	}
	return true;
}

static uint8_t get_u8(struct p9_rd *r)
{
	return need(r, 1) ? *r->p++ : 0;
}

static uint16_t get_u16(struct p9_rd *r)
{
	if (!need(r, 2))
		return 0;
	uint16_t v = (uint16_t)(r->p[0] | r->p[1] << 8);
	r->p += 2;
	return v;
}

static uint32_t get_u32(struct p9_rd *r)
{
	if (!need(r, 4))
		return 0;
	uint32_t v = le32_get(r->p);
	r->p += 4;
	return v;
}

static uint64_t get_u64(struct p9_rd *r)
{
	if (!need(r, 8))
		return 0;
	uint64_t v = le64_get(r->p);
	r->p += 8;
	return v;
}

/* The copy takes len + 1 bytes of scratch for the 2 + len it consumed, so
 * scratch never outgrows the message. */
static void get_str(struct p9_rd *r, struct p9_str *s)
{
	uint16_t len = get_u16(r);
	s->s = "";
	s->len = 0;
	if (!need(r, len))
		return;
	memcpy(r->scratch, r->p, len);
	r->scratch[len] = 0;
	s->s = r->scratch;
	s->len = len;
	r->scratch += len + 1;
	r->p += len;
}

static void decode_body(struct p9_rd *r, struct ninep_msg *m)
{
	switch (m->type) {
	case P9_TVERSION:
		m->u.version.msize = get_u32(r);
		get_str(r, &m->u.version.version);
		break;
	case P9_TAUTH:
		m->u.auth.afid = get_u32(r);
		get_str(r, &m->u.auth.uname);
		get_str(r, &m->u.auth.aname);
		m->u.auth.n_uname = get_u32(r);
		break;
	case P9_TATTACH:
		m->u.attach.fid = get_u32(r);
		m->u.attach.afid = get_u32(r);
		get_str(r, &m->u.attach.uname);
		get_str(r, &m->u.attach.aname);
		m->u.attach.n_uname = get_u32(r);
		break;
	case P9_TFLUSH:
		m->u.flush.oldtag = get_u16(r);
		break;
	case P9_TWALK:
		m->u.walk.fid = get_u32(r);
		m->u.walk.newfid = get_u32(r);
		m->u.walk.nwname = get_u16(r);
		if (m->u.walk.nwname > NINEP_MAXWELEM) {
			r->err = true;
			break;
		}
		for (unsigned i = 0; i < m->u.walk.nwname; i++)
			get_str(r, &m->u.walk.wname[i]);
		break;
	case P9_TREAD:
	case P9_TREADDIR:
		m->u.read.fid = get_u32(r);
		m->u.read.offset = get_u64(r);
		m->u.read.count = get_u32(r);
		break;
	case P9_TWRITE:
		m->u.write.fid = get_u32(r);
		m->u.write.offset = get_u64(r);
		m->u.write.count = get_u32(r);
		if (need(r, m->u.write.count)) {
			m->u.write.data = r->p;
			r->p += m->u.write.count;
		}
		break;
	case P9_TCLUNK:
	case P9_TREMOVE:
	case P9_TSTATFS:
	case P9_TREADLINK:
		m->u.fid.fid = get_u32(r);
		break;
	case P9_TLOPEN:
		m->u.lopen.fid = get_u32(r);
		m->u.lopen.flags = get_u32(r);
		break;
	case P9_TLCREATE:
		m->u.lcreate.fid = get_u32(r);
		get_str(r, &m->u.lcreate.name);
		m->u.lcreate.flags = get_u32(r);
		m->u.lcreate.mode = get_u32(r);
		m->u.lcreate.gid = get_u32(r);
		break;
	case P9_TSYMLINK:
		m->u.symlink.fid = get_u32(r);
		get_str(r, &m->u.symlink.name);
		get_str(r, &m->u.symlink.symtgt);
		m->u.symlink.gid = get_u32(r);
		break;
	case P9_TMKNOD:
		m->u.mknod.dfid = get_u32(r);
		get_str(r, &m->u.mknod.name);
		m->u.mknod.mode = get_u32(r);
		m->u.mknod.major = get_u32(r);
		m->u.mknod.minor = get_u32(r);
		m->u.mknod.gid = get_u32(r);
		break;
	case P9_TRENAME:
		m->u.rename.fid = get_u32(r);
		m->u.rename.dfid = get_u32(r);
		get_str(r, &m->u.rename.name);
		break;
	case P9_TGETATTR:
		m->u.getattr.fid = get_u32(r);
		m->u.getattr.mask = get_u64(r);
		break;
	case P9_TSETATTR:
		m->u.setattr.fid = get_u32(r);
		m->u.setattr.valid = get_u32(r);
		m->u.setattr.mode = get_u32(r);
		m->u.setattr.uid = get_u32(r);
		m->u.setattr.gid = get_u32(r);
		m->u.setattr.size = get_u64(r);
		m->u.setattr.atime_sec = get_u64(r);
		m->u.setattr.atime_nsec = get_u64(r);
		m->u.setattr.mtime_sec = get_u64(r);
		m->u.setattr.mtime_nsec = get_u64(r);
		break;
	case P9_TXATTRWALK:
		m->u.xattrwalk.fid = get_u32(r);
		m->u.xattrwalk.newfid = get_u32(r);
		get_str(r, &m->u.xattrwalk.name);
		break;
	case P9_TXATTRCREATE:
		m->u.xattrcreate.fid = get_u32(r);
		get_str(r, &m->u.xattrcreate.name);
		m->u.xattrcreate.size = get_u64(r);
		m->u.xattrcreate.flags = get_u32(r);
		break;
	case P9_TFSYNC:
		m->u.fsync.fid = get_u32(r);
		/* Linux sends datasync[4]; diod's protocol.md and older
		 * clients do not: then it is a full fsync. */
		m->u.fsync.datasync = r->p < r->end ? get_u32(r) : 0;
		break;
	case P9_TLOCK:
	case P9_TGETLOCK:
		m->u.lock.fid = get_u32(r);
		m->u.lock.type = get_u8(r);
		m->u.lock.flags = m->type == P9_TLOCK ? get_u32(r) : 0;
		m->u.lock.start = get_u64(r);
		m->u.lock.length = get_u64(r);
		m->u.lock.proc_id = get_u32(r);
		get_str(r, &m->u.lock.client_id);
		break;
	case P9_TLINK:
		m->u.link.dfid = get_u32(r);
		m->u.link.fid = get_u32(r);
		get_str(r, &m->u.link.name);
		break;
	case P9_TMKDIR:
		m->u.mkdir.dfid = get_u32(r);
		get_str(r, &m->u.mkdir.name);
		m->u.mkdir.mode = get_u32(r);
		m->u.mkdir.gid = get_u32(r);
		break;
	case P9_TRENAMEAT:
		m->u.renameat.olddirfid = get_u32(r);
		get_str(r, &m->u.renameat.oldname);
		m->u.renameat.newdirfid = get_u32(r);
		get_str(r, &m->u.renameat.newname);
		break;
	case P9_TUNLINKAT:
		m->u.unlinkat.dirfid = get_u32(r);
		get_str(r, &m->u.unlinkat.name);
		m->u.unlinkat.flags = get_u32(r);
		break;
	}
}

static bool known_type(uint8_t t)
{
	switch (t) {
	case P9_TVERSION: case P9_TAUTH: case P9_TATTACH: case P9_TFLUSH: case P9_TWALK:
	case P9_TREAD: case P9_TWRITE: case P9_TCLUNK: case P9_TREMOVE: case P9_TSTATFS:
	case P9_TLOPEN: case P9_TLCREATE: case P9_TSYMLINK: case P9_TMKNOD: case P9_TRENAME:
	case P9_TREADLINK: case P9_TGETATTR: case P9_TSETATTR: case P9_TXATTRWALK:
	case P9_TXATTRCREATE: case P9_TREADDIR: case P9_TFSYNC: case P9_TLOCK:
	case P9_TGETLOCK: case P9_TLINK: case P9_TMKDIR: case P9_TRENAMEAT: case P9_TUNLINKAT:
		return true;
	}
	return false;
}

int ninep_msg_decode(const uint8_t *msg, size_t len, char *scratch, struct ninep_msg *m)
{
	memset(m, 0, sizeof *m);
	if (len < P9_HDR || le32_get(msg) != len)
		return -EPROTO;
	struct p9_rd r = { msg + 4, msg + len, scratch, false };
	m->type = get_u8(&r);
	m->tag = get_u16(&r);
	if (!known_type(m->type))
		return -EOPNOTSUPP;
	decode_body(&r, m);
	if (r.err || r.p != r.end)
		return -EPROTO;
	return 0;
}

/* ---- the encoder ---- */

static uint8_t *room(struct p9_wr *w, size_t n)
{
	if (w->err || w->cap - w->len < n) {
		w->err = true;
		return NULL;
	}
	uint8_t *p = w->buf + w->len;
	w->len += n;
	return p;
}

void p9_wr_init(struct p9_wr *w, uint8_t *buf, size_t cap, uint8_t type, uint16_t tag)
{
	w->buf = buf;
	w->cap = cap;
	w->len = 0;
	w->err = false;
	p9_put_u32(w, 0);
	p9_put_u8(w, type);
	p9_put_u16(w, tag);
}

void p9_put_u8(struct p9_wr *w, uint8_t v)
{
	uint8_t *p = room(w, 1);
	if (p)
		*p = v;
}

void p9_put_u16(struct p9_wr *w, uint16_t v)
{
	uint8_t *p = room(w, 2);
	if (p) {
		p[0] = (uint8_t)v;
		p[1] = (uint8_t)(v >> 8);
	}
}

void p9_put_u32(struct p9_wr *w, uint32_t v)
{
	uint8_t *p = room(w, 4);
	if (p)
		le32_put(p, v);
}

void p9_put_u64(struct p9_wr *w, uint64_t v)
{
	uint8_t *p = room(w, 8);
	if (p)
		le64_put(p, v);
}

void p9_put_str(struct p9_wr *w, const char *s, size_t len)
{
	if (len > 0xffff) {
		w->err = true;
		return;
	}
	p9_put_u16(w, (uint16_t)len);
	uint8_t *p = room(w, len);
	if (p && len)
		memcpy(p, s, len);
}

void p9_put_qid(struct p9_wr *w, const struct p9_qid *q)
{
	p9_put_u8(w, q->type);
	p9_put_u32(w, q->version);
	p9_put_u64(w, q->path);
}

uint8_t *p9_put_room(struct p9_wr *w, size_t n)
{
	return room(w, n);
}

size_t p9_wr_finish(struct p9_wr *w)
{
	if (w->err || w->len > 0xffffffffu)
		return 0;
	le32_put(w->buf, (uint32_t)w->len);
	return w->len;
}
