/* fuzz-ninep-msg.c -- the 9P2000.L request decoder (ninep_msg_decode,
 * src/ninep/wire.h): every message type's argument parsing, on bytes a
 * network client sends.  The size field is set to the input's length
 * (else nearly every input fails the first check); the input is copied
 * into a buffer of exactly its size so ASan sees any read past it.
 * Besides not crashing, a decoded message keeps the decoder's promises:
 * known type, at most NINEP_MAXWELEM walk names, strings NUL-terminated
 * inside the scratch area, Twrite data inside the message. */
#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ninep/wire.h"
#include "util/coding.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t *sbase, *send_;

static void check_str(const struct p9_str *s)
{
	const uint8_t *p = (const uint8_t *)s->s;
	if (s->len == 0 && !strcmp(s->s, ""))
		return;
	assert(p >= sbase && p + s->len < send_);
	assert(s->s[s->len] == '\0');
}

static void check(const struct ninep_msg *m, const uint8_t *msg, size_t len)
{
	switch (m->type) {
	case P9_TVERSION: check_str(&m->u.version.version); break;
	case P9_TAUTH: check_str(&m->u.auth.uname); check_str(&m->u.auth.aname); break;
	case P9_TATTACH: check_str(&m->u.attach.uname); check_str(&m->u.attach.aname); break;
	case P9_TWALK:
		assert(m->u.walk.nwname <= NINEP_MAXWELEM);
		for (unsigned i = 0; i < m->u.walk.nwname; i++)
			check_str(&m->u.walk.wname[i]);
		break;
	case P9_TWRITE:
		assert(m->u.write.data >= msg && m->u.write.data + m->u.write.count == msg + len);
		break;
	case P9_TLCREATE: check_str(&m->u.lcreate.name); break;
	case P9_TSYMLINK: check_str(&m->u.symlink.name); check_str(&m->u.symlink.symtgt); break;
	case P9_TMKNOD: check_str(&m->u.mknod.name); break;
	case P9_TRENAME: check_str(&m->u.rename.name); break;
	case P9_TXATTRWALK: check_str(&m->u.xattrwalk.name); break;
	case P9_TXATTRCREATE: check_str(&m->u.xattrcreate.name); break;
	case P9_TLOCK: case P9_TGETLOCK: check_str(&m->u.lock.client_id); break;
	case P9_TLINK: check_str(&m->u.link.name); break;
	case P9_TMKDIR: check_str(&m->u.mkdir.name); break;
	case P9_TRENAMEAT:
		check_str(&m->u.renameat.oldname);
		check_str(&m->u.renameat.newname);
		break;
	case P9_TUNLINKAT: check_str(&m->u.unlinkat.name); break;
	case P9_TFLUSH: case P9_TREAD: case P9_TREADDIR: case P9_TCLUNK: case P9_TREMOVE:
	case P9_TSTATFS: case P9_TREADLINK: case P9_TLOPEN: case P9_TGETATTR:
	case P9_TSETATTR: case P9_TFSYNC:
		break;
	default:
		assert(!"decoded an unknown type");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *msg = malloc(size ? size : 1);
	char *scratch = malloc(size ? size : 1);
	memcpy(msg, data, size);
	if (size >= 4)
		le32_put(msg, (uint32_t)size);
	struct ninep_msg m;
	sbase = (const uint8_t *)scratch;
	send_ = sbase + (size ? size : 1);
	int r = ninep_msg_decode(msg, size, scratch, &m);
	assert(r == 0 || r == -EPROTO || r == -EOPNOTSUPP);
	if (r == 0)
		check(&m, msg, size);
	free(scratch);
	free(msg);
	return 0;
}
