/* export.c -- exports are the regular files of the export directory
 * (/.nbd by default): finding, listing, attaching (open + pin) and
 * detaching them.  Nothing is cached: every lookup walks the directory
 * again, so a file made through any frontend is an export at once. */
#include "nbd/nbd_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "fs/fs.h"
#include "util/log.h"

static const struct fs_cred nbd_cred = { 0, 0, 0, NULL, NBD_ORIGIN };

int nbd_export_dir(struct nbd_server *s, uint64_t *ino)
{
	char comp[FS_NAME_MAX + 1];
	uint64_t at = FS_ROOT_INO;
	const char *p = s->export_dir;
	while (*p) {
		while (*p == '/')
			p++;
		size_t n = strcspn(p, "/");
		if (n == 0)
			break;
		if (n > FS_NAME_MAX)
			return -ENAMETOOLONG;
		memcpy(comp, p, n);
		comp[n] = '\0';
		p += n;
		struct fs_attr a;
		int r = fs_lookup(s->fs, &nbd_cred, at, comp, &a);
		if (r < 0)
			return r;
		if (!S_ISDIR(a.mode))
			return -ENOTDIR;
		at = a.ino;
	}
	*ino = at;
	return 0;
}

int nbd_export_find(struct nbd_server *s, const char *name, uint64_t *ino, uint64_t *size)
{
	uint64_t dir;
	struct fs_attr a;
	if (!nbd_export_name_ok((const uint8_t *)name, (uint32_t)strlen(name)))
		return -ENOENT;
	int r = nbd_export_dir(s, &dir);
	if (r == 0)
		r = fs_lookup(s->fs, &nbd_cred, dir, name, &a);
	if (r == 0 && !S_ISREG(a.mode))
		r = -ENOENT;
	if (r < 0)
		return r == -ENOTDIR ? -ENOENT : r;
	*ino = a.ino;
	*size = a.size;
	return 0;
}

struct list_ctx {
	int (*cb)(void *arg, const char *name);
	void *arg;
};

static int list_one(void *arg, const char *name, const struct fs_attr *attr, uint64_t next)
{
	struct list_ctx *lc = arg;
	(void)next;
	if (!S_ISREG(attr->mode))
		return 0;
	return lc->cb(lc->arg, name);
}

int nbd_export_list(struct nbd_server *s, int (*cb)(void *arg, const char *name), void *arg)
{
	uint64_t dir;
	int r = nbd_export_dir(s, &dir);
	if (r == -ENOENT || r == -ENOTDIR)
		return 0;   /* no directory: no exports */
	if (r < 0)
		return r;
	struct list_ctx lc = { cb, arg };
	return fs_readdirplus(s->fs, &nbd_cred, dir, 0, list_one, &lc);
}

int nbd_export_attach(struct nbd_server *s, const char *name, struct nbd_export *ex)
{
	char holder[300];
	uint64_t ino, size;
	int r = nbd_export_find(s, name, &ino, &size);
	if (r < 0)
		return r;
	snprintf(holder, sizeof holder, "nbd export %s", name);
	/* Pin before the size is read: from here on nobody shrinks it (it
	 * may grow by writes past the end; we keep serving this size). */
	fs_pin(s->fs, ino, holder);
	r = fs_open_file(s->fs, &nbd_cred, ino, s->read_only ? O_RDONLY : O_RDWR);
	struct fs_attr a;
	if (r == 0) {
		r = fs_getattr(s->fs, ino, &a);
		/* Unlinked between the lookup and the pin while someone else
		 * held it open: an orphan, no export any more (its data goes
		 * with the last close). */
		if (r == 0 && a.nlink == 0)
			r = -ENOENT;
		if (r < 0)
			fs_release(s->fs, ino);
	}
	if (r < 0) {
		fs_unpin(s->fs, ino);
		return r;
	}
	snprintf(ex->name, sizeof ex->name, "%s", name);
	ex->ino = ino;
	ex->size = a.size;
	return 0;
}

void nbd_export_detach(struct nbd_server *s, struct nbd_export *ex)
{
	fs_release(s->fs, ex->ino);
	fs_unpin(s->fs, ex->ino);
}

uint16_t nbd_export_flags(const struct nbd_server *s)
{
	uint16_t f = NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_FUA |
		     NBD_FLAG_CAN_MULTI_CONN;
	if (s->read_only)
		f |= NBD_FLAG_READ_ONLY;
	else
		f |= NBD_FLAG_SEND_TRIM | NBD_FLAG_SEND_WRITE_ZEROES;
	return f;
}
