/* observe.c -- observers of committed changes (cache coherence between
 * frontends).
 *
 * A frontend registers callbacks with fs_observe(); after every committed
 * mutation the core calls them, outside its own locks, with the origin
 * the caller put in its struct fs_cred.  The table is small and fixed;
 * notify takes a read lock, so a callback may call back into the core
 * (even a mutation: glibc read locks nest), but must not register or
 * remove an observer itself. */
#include "fs/fs_int.h"

#include <errno.h>

int fs_observe(struct fs *fs, const struct fs_observer *ob, void *arg)
{
	int r = -ENOSPC;
	if (!ob)
		return -EINVAL;
	pthread_rwlock_wrlock(&fs->obs_mu);
	for (int i = 0; i < FS_OBSERVERS_MAX; i++)
		if (!fs->obs[i].ob) {
			fs->obs[i].ob = ob;
			fs->obs[i].arg = arg;
			r = 0;
			break;
		}
	pthread_rwlock_unlock(&fs->obs_mu);
	return r;
}

int fs_unobserve(struct fs *fs, const struct fs_observer *ob, void *arg)
{
	int r = -ENOENT;
	pthread_rwlock_wrlock(&fs->obs_mu);
	for (int i = 0; i < FS_OBSERVERS_MAX; i++)
		if (fs->obs[i].ob == ob && fs->obs[i].arg == arg) {
			fs->obs[i].ob = NULL;
			fs->obs[i].arg = NULL;
			r = 0;
			break;
		}
	pthread_rwlock_unlock(&fs->obs_mu);
	return r;
}

void fs_notify_inode(struct fs *fs, uint32_t origin, uint64_t ino)
{
	pthread_rwlock_rdlock(&fs->obs_mu);
	for (int i = 0; i < FS_OBSERVERS_MAX; i++) {
		const struct fs_observer *ob = fs->obs[i].ob;
		if (ob && ob->inode_changed)
			ob->inode_changed(fs->obs[i].arg, origin, ino);
	}
	pthread_rwlock_unlock(&fs->obs_mu);
}

void fs_notify_entry(struct fs *fs, uint32_t origin, uint64_t parent, const char *name)
{
	pthread_rwlock_rdlock(&fs->obs_mu);
	for (int i = 0; i < FS_OBSERVERS_MAX; i++) {
		const struct fs_observer *ob = fs->obs[i].ob;
		if (ob && ob->entry_changed)
			ob->entry_changed(fs->obs[i].arg, origin, parent, name);
	}
	pthread_rwlock_unlock(&fs->obs_mu);
}
