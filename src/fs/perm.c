/* perm.c -- permission rules: owner/group/other bits, supplementary
 * groups, root's exceptions, sticky directories. */
#include "fs/fs_int.h"

#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

bool fs_in_group(const struct fs_cred *c, uint32_t gid)
{
	if (c->gid == gid)
		return true;
	for (uint32_t i = 0; i < c->ngroups; i++)
		if (c->groups[i] == gid)
			return true;
	return false;
}

int fs_may(const struct fs_cred *c, const struct inode *in, int mask)
{
	mask &= R_OK | W_OK | X_OK;
	if (!mask)
		return 0;
	if (c->uid == 0) {
		/* Root reads and writes anything; it executes a file only if
		 * some execute bit is set (directories are always searchable). */
		if (!(mask & X_OK) || S_ISDIR(in->mode) || (in->mode & 0111))
			return 0;
		return -EACCES;
	}
	unsigned bits;
	if (c->uid == in->uid)
		bits = (in->mode >> 6) & 7;
	else if (fs_in_group(c, in->gid))
		bits = (in->mode >> 3) & 7;
	else
		bits = in->mode & 7;
	return ((unsigned)mask & ~bits) ? -EACCES : 0;
}

bool fs_sticky_ok(const struct fs_cred *c, const struct inode *dir, const struct inode *victim)
{
	if (!(dir->mode & S_ISVTX) || c->uid == 0)
		return true;
	return c->uid == dir->uid || c->uid == victim->uid;
}

int fs_may_io(const struct fs_cred *c, const struct inode *in, bool write)
{
	/* knfsd (NFSD_MAY_OWNER_OVERRIDE): the owner passes whatever the
	 * mode says, so a file created 0444 can still be written by the
	 * client that is filling it. */
	if (c->uid == in->uid)
		return 0;
	if (write)
		return fs_may(c, in, W_OK);
	/* NFSD_MAY_READ_IF_EXEC: a client reads what it runs. */
	if (fs_may(c, in, R_OK) == 0 || fs_may(c, in, X_OK) == 0)
		return 0;
	return -EACCES;
}
