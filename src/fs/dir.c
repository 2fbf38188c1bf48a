/* dir.c -- directory entries, stable readdir cookies, lookups.
 *
 * An entry is two keys written in the same batch: 'D' parent name -> child
 * ino u64 | type u8 (DT_*) | cookie u64, and 'C' parent cookie -> name.
 * Cookies come from the directory's own counter and are never reused, so
 * a listing resumed from a cookie sees every entry that existed for the
 * whole listing exactly once, whatever was created or removed meanwhile.
 * Cookies 1 and 2 are "." and "..".  As cookies never change meaning,
 * the cookie verifier a directory hands out is constant: its generation. */
#include "fs/fs_int.h"

#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/coding.h"
#include "util/mem.h"

#define FIRST_COOKIE 3

int fs_check_name(const char *name)
{
	size_t n = strlen(name);
	if (n == 0)
		return -ENOENT;
	if (n > FS_NAME_MAX)
		return -ENAMETOOLONG;
	if (strchr(name, '/'))
		return -EINVAL;
	return 0;
}

static uint8_t dtype_of(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFDIR: return DT_DIR;
	case S_IFREG: return DT_REG;
	case S_IFLNK: return DT_LNK;
	case S_IFCHR: return DT_CHR;
	case S_IFBLK: return DT_BLK;
	case S_IFIFO: return DT_FIFO;
	case S_IFSOCK: return DT_SOCK;
	}
	return DT_UNKNOWN;
}

int fs_dir_get(struct fs *fs, uint64_t parent, const char *name, uint64_t *ino, uint32_t *type,
	       uint64_t *cookie)
{
	uint8_t k[9 + FS_NAME_MAX];
	struct buf v = BUF_INIT;
	int r = lsm_get(fs->db, k, fs_key_dirent(k, parent, name), &v);
	if (r == 0) {
		if (v.len != 17) {
			r = -EIO;
		} else {
			*ino = be64_get(v.data);
			if (type)
				*type = v.data[8];
			if (cookie)
				*cookie = be64_get(v.data + 9);
		}
	}
	buf_free(&v);
	return r;
}

void fs_dir_add(struct lsm_batch *b, struct inode *dir, const char *name, uint64_t ino,
		uint32_t mode)
{
	uint8_t k[9 + FS_NAME_MAX], v[17];
	if (dir->next_cookie < FIRST_COOKIE)
		dir->next_cookie = FIRST_COOKIE;
	uint64_t cookie = dir->next_cookie++;
	be64_put(v, ino);
	v[8] = dtype_of(mode);
	be64_put(v + 9, cookie);
	lsm_batch_put(b, k, fs_key_dirent(k, dir->ino, name), v, sizeof v);
	lsm_batch_put(b, k, fs_key_cookie(k, dir->ino, cookie), name, strlen(name));
}

void fs_dir_del(struct lsm_batch *b, uint64_t parent, const char *name, uint64_t cookie)
{
	uint8_t k[9 + FS_NAME_MAX];
	lsm_batch_delete(b, k, fs_key_dirent(k, parent, name));
	lsm_batch_delete(b, k, fs_key_cookie(k, parent, cookie));
}

int fs_dir_empty(struct fs *fs, uint64_t dir)
{
	uint8_t prefix[9];
	struct lsm_iter *it;
	prefix[0] = KEY_DIRENT;
	be64_put(prefix + 1, dir);
	int r = lsm_iter_new(fs->db, prefix, sizeof prefix, NULL, 0, &it);
	if (r < 0)
		return r;
	r = lsm_iter_valid(it) ? 0 : 1;
	if (lsm_iter_status(it))
		r = lsm_iter_status(it);
	lsm_iter_free(it);
	return r;
}

/* One listing, with or without attributes (plus: cb_plus). */
struct lister {
	fs_dirent_cb cb;
	fs_direntplus_cb cb_plus;
	void *arg;
};

static int emit(struct fs *fs, const struct lister *l, const char *name, uint64_t ino,
		uint32_t type, uint64_t next)
{
	if (!l->cb_plus)
		return l->cb(l->arg, name, ino, type, next);
	struct fs_attr a;
	if (fs_attr_load(fs, ino, &a) < 0)
		return 0; /* went since the listing saw it */
	return l->cb_plus(l->arg, name, &a, next);
}

static int list(struct fs *fs, const struct fs_cred *c, uint64_t ino, uint64_t cookie,
		const struct lister *l)
{
	struct inode dir;
	int r = fs_inode_load(fs, ino, &dir);
	if (r < 0)
		return r;
	if (!S_ISDIR(dir.mode)) {
		fs_inode_free(&dir);
		return -ENOTDIR;
	}
	r = fs_may(c, &dir, R_OK);
	if (r < 0)
		goto out;
	if (cookie < 1 && emit(fs, l, ".", ino, DT_DIR, 1))
		goto out;
	if (cookie < 2 && emit(fs, l, "..", dir.parent ? dir.parent : ino, DT_DIR, 2))
		goto out;
	uint8_t prefix[9], start[17];
	struct lsm_iter *it;
	prefix[0] = KEY_COOKIE;
	be64_put(prefix + 1, ino);
	fs_key_cookie(start, ino, cookie < FIRST_COOKIE ? FIRST_COOKIE : cookie + 1);
	r = lsm_iter_new(fs->db, prefix, sizeof prefix, start, sizeof start, &it);
	if (r < 0)
		goto out;
	for (; lsm_iter_valid(it); lsm_iter_next(it)) {
		size_t kl, vl;
		const uint8_t *k = lsm_iter_key(it, &kl);
		const uint8_t *v = lsm_iter_value(it, &vl);
		char name[FS_NAME_MAX + 1];
		uint64_t child;
		uint32_t type;
		if (kl != 17 || vl == 0 || vl > FS_NAME_MAX)
			continue;
		memcpy(name, v, vl);
		name[vl] = 0;
		/* The 'D' key holds the child; the snapshot of the iterator and
		 * this lookup may disagree if the entry just went: skip it. */
		if (fs_dir_get(fs, ino, name, &child, &type, NULL) < 0)
			continue;
		if (emit(fs, l, name, child, type, be64_get(k + 9)))
			break;
	}
	r = lsm_iter_status(it);
	lsm_iter_free(it);
out:
	fs_inode_free(&dir);
	return r;
}

int fs_readdir(struct fs *fs, const struct fs_cred *c, uint64_t ino, uint64_t cookie,
	       fs_dirent_cb cb, void *arg)
{
	uint64_t t0 = fs_clock_ns();
	struct lister l = { cb, NULL, arg };
	int r = list(fs, c, ino, cookie, &l);
	fs_stat_count(fs, FS_OP_READDIR, t0, r);
	return r;
}

int fs_readdirplus(struct fs *fs, const struct fs_cred *c, uint64_t ino, uint64_t cookie,
		   fs_direntplus_cb cb, void *arg)
{
	uint64_t t0 = fs_clock_ns();
	struct lister l = { NULL, cb, arg };
	int r = list(fs, c, ino, cookie, &l);
	fs_stat_count(fs, FS_OP_READDIR, t0, r);
	return r;
}

int fs_readdir_verifier(struct fs *fs, uint64_t ino, uint64_t *verf)
{
	struct inode dir;
	int r = fs_inode_load(fs, ino, &dir);
	if (r < 0)
		return r;
	if (S_ISDIR(dir.mode))
		*verf = dir.generation;
	else
		r = -ENOTDIR;
	fs_inode_free(&dir);
	return r;
}
