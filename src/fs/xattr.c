/* xattr.c -- extended attributes ('X' ino name -> value).
 *
 * Namespaces as on Linux: user.* (regular files and directories only,
 * governed by the file's permissions), trusted.* (root only), security.*;
 * system.* (POSIX ACLs) is not supported. */
#include "fs/fs_int.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "util/coding.h"
#include "util/mem.h"

enum ns { NS_USER, NS_TRUSTED, NS_SECURITY, NS_BAD };

static enum ns ns_of(const char *name)
{
	if (!strncmp(name, "user.", 5) && name[5])
		return NS_USER;
	if (!strncmp(name, "trusted.", 8) && name[8])
		return NS_TRUSTED;
	if (!strncmp(name, "security.", 9) && name[9])
		return NS_SECURITY;
	return NS_BAD;
}

/* May c read (write) the attribute `name` of in? */
static int may_xattr(const struct fs_cred *c, const struct inode *in, const char *name, bool write)
{
	if (strlen(name) > FS_XATTR_NAME_MAX)
		return -ERANGE;
	switch (ns_of(name)) {
	case NS_USER:
		if (!S_ISREG(in->mode) && !S_ISDIR(in->mode))
			return write ? -EPERM : -ENODATA;
		return fs_may(c, in, write ? W_OK : R_OK);
	case NS_TRUSTED:
		return c->uid == 0 ? 0 : (write ? -EPERM : -ENODATA);
	case NS_SECURITY:
		return write && c->uid != 0 && c->uid != in->uid ? -EPERM : 0;
	default:
		return -EOPNOTSUPP;
	}
}

static int getxattr_impl(struct fs *fs, const struct fs_cred *c, uint64_t ino,
			 const char *name, void *buf, size_t size, size_t *len)
{
	struct inode in;
	uint8_t k[9 + FS_XATTR_NAME_MAX];
	struct buf v = BUF_INIT;
	int r = fs_inode_load(fs, ino, &in);
	if (r < 0)
		return r;
	r = may_xattr(c, &in, name, false);
	fs_inode_free(&in);
	if (r < 0)
		return r;
	r = lsm_get(fs->db, k, fs_key_xattr(k, ino, name), &v);
	if (r == -ENOENT)
		r = -ENODATA;
	if (r == 0) {
		*len = v.len;
		if (size && v.len > size)
			r = -ERANGE;
		else if (size && v.len)
			memcpy(buf, v.data, v.len);
	}
	buf_free(&v);
	return r;
}

int fs_getxattr(struct fs *fs, const struct fs_cred *c, uint64_t ino, const char *name,
		void *buf, size_t size, size_t *len)
{
	uint64_t t0 = fs_clock_ns();
	int r = getxattr_impl(fs, c, ino, name, buf, size, len);
	fs_stat_count(fs, FS_OP_GETXATTR, t0, r);
	return r;
}

/* The skeleton of set and remove: exists is 0 or -ENOENT for the name. */
static int xattr_change(struct fs *fs, const struct fs_cred *c, enum fs_op_kind kind,
			uint64_t ino, const char *name, const void *value, size_t size, int flags,
			struct fs_wcc_out *wcc)
{
	struct fs_op op;
	struct inode *in;
	uint8_t k[9 + FS_XATTR_NAME_MAX];
	bool remove = kind == FS_OP_REMOVEXATTR;
	int r = fs_op_begin(fs, &op, kind, c, true);
	if (r == 0 && size > FS_XATTR_VALUE_MAX)
		r = -E2BIG;
	else if (r == 0 && (flags & ~(XATTR_CREATE | XATTR_REPLACE)))
		r = -EINVAL;
	if (r == 0) {
		fs_op_lock(&op, ino, 0, 0, 0);
		r = fs_op_load(&op, ino, &in);
	}
	if (r == 0 && fs_inode_gone(fs, in))
		r = -ESTALE;
	if (r == 0)
		r = may_xattr(c, in, name, true);
	size_t kl = r == 0 ? fs_key_xattr(k, ino, name) : 0;
	int exists = r == 0 ? lsm_get(fs->db, k, kl, NULL) : 0;
	if (r == 0 && exists < 0 && exists != -ENOENT)
		r = exists;
	else if (r == 0 && (flags & XATTR_CREATE) && exists == 0)
		r = -EEXIST;
	else if (r == 0 && (remove || (flags & XATTR_REPLACE)) && exists == -ENOENT)
		r = -ENODATA;
	if (r == 0) {
		if (remove)
			lsm_batch_delete(fs_op_batch(&op), k, kl);
		else
			lsm_batch_put(fs_op_batch(&op), k, kl, value, size);
		fs_now(&in->ctime);
		fs_op_dirty(&op, in);
		r = fs_op_commit(&op);
	}
	return fs_op_end(&op, r, wcc, ino, 0, 0);
}

int fs_setxattr(struct fs *fs, const struct fs_cred *c, uint64_t ino, const char *name,
		const void *value, size_t size, int flags, struct fs_wcc_out *wcc)
{
	return xattr_change(fs, c, FS_OP_SETXATTR, ino, name, value, size, flags, wcc);
}

int fs_removexattr(struct fs *fs, const struct fs_cred *c, uint64_t ino, const char *name,
		   struct fs_wcc_out *wcc)
{
	return xattr_change(fs, c, FS_OP_REMOVEXATTR, ino, name, NULL, 0, 0, wcc);
}

static int listxattr_impl(struct fs *fs, const struct fs_cred *c, uint64_t ino, char *buf,
			  size_t size, size_t *len)
{
	struct inode in;
	uint8_t prefix[9];
	struct lsm_iter *it;
	int r = fs_inode_load(fs, ino, &in);
	if (r < 0)
		return r;
	prefix[0] = KEY_XATTR;
	be64_put(prefix + 1, ino);
	r = lsm_iter_new(fs->db, prefix, sizeof prefix, NULL, 0, &it);
	size_t need = 0;
	for (; r == 0 && lsm_iter_valid(it); lsm_iter_next(it)) {
		size_t kl;
		const uint8_t *k = lsm_iter_key(it, &kl);
		char name[FS_XATTR_NAME_MAX + 1];
		size_t nl = kl - 9;
		if (kl <= 9 || nl > FS_XATTR_NAME_MAX)
			continue;
		memcpy(name, k + 9, nl);
		name[nl] = 0;
		if (ns_of(name) == NS_TRUSTED && c->uid != 0)
			continue;
		if (size && need + nl + 1 <= size)
			memcpy(buf + need, name, nl + 1);
		need += nl + 1;
	}
	if (r == 0) {
		r = lsm_iter_status(it);
		lsm_iter_free(it);
	}
	fs_inode_free(&in);
	if (r == 0) {
		*len = need;
		if (size && need > size)
			r = -ERANGE;
	}
	return r;
}

int fs_listxattr(struct fs *fs, const struct fs_cred *c, uint64_t ino, char *buf, size_t size,
		 size_t *len)
{
	uint64_t t0 = fs_clock_ns();
	int r = listxattr_impl(fs, c, ino, buf, size, len);
	fs_stat_count(fs, FS_OP_LISTXATTR, t0, r);
	return r;
}
