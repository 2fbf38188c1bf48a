/* inval.c -- the FUSE mount's observer of the core, its bounded queue of
 * invalidations and the thread that sends them to the kernel (the rules
 * are in inval.h).
 *
 * Queue.  Bounded and coalescing (inval_queue.h).  Producers are the
 * core's committing threads (any frontend but this mount); they hold the
 * mutex for a scan of the queue, never for a kernel call.
 *
 * The write-back fix-up.  With the write-back cache the kernel keeps the
 * size, mtime and ctime it has of a regular file whatever a getattr
 * reply says (it may hold writes we have not seen yet), for as long as
 * the inode is in its cache: an open file, or one with a cached name.
 * inval_inode does not change that.  So for an inode the kernel has, after
 * invalidating it (which first writes its dirty pages back to us), this
 * thread compares the kernel's size and mtime with the core's and, when
 * they differ, makes the kernel take the core's through the only doors
 * it has: a truncate(2) and a utimensat(2) on the inode through the
 * mount.  op_setattr recognises requests from this thread
 * (fuse_inval_is_own_request) and answers them with the core's
 * attributes without changing anything, and the kernel takes the size
 * from that answer.  The inode is reached by its file handle (FUSE's
 * handle is node id and generation; open_by_handle_at needs
 * CAP_DAC_READ_SEARCH): where that is refused the fix-up is off (logged
 * once) and the kernel shows the core's size once it forgets the inode.
 * ctime on the mount is then the moment of the fix-up.
 *
 * A write through the mount racing a change made elsewhere to the same
 * bytes: whichever reaches the core last wins, as on NFS.  Dirty pages of
 * the mount reach the core when the invalidation writes them back (or at
 * the kernel's next write-back), so a foreign write that commits before
 * that is overwritten by them; pages not dirty are dropped and read again.
 * The kernel writes back whole pages (it does not track which bytes of a
 * page were written), so with the write-back cache the unit is the page:
 * a write made elsewhere to other bytes of a page the mount has dirty is
 * overwritten too (by the stale bytes of the kernel's page).  Frontends
 * sharing a file byte-exactly need the cache off or locks, as NFS
 * clients sharing pages do.
 * The fix-up's truncate uses the size the core has when it answers, so
 * it never cuts data the core holds; a write the kernel still caches
 * beyond that size in the instant between the two is cut (a foreign
 * truncate racing a local extend: the truncate wins). */
#include "fuse/inval.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fs/fs.h"
#include "fuse/fuse_int.h"
#include "fuse/inval_queue.h"
#include "util/log.h"
#include "util/mem.h"

#define FULL_WAIT_NS (5 * 1000000L)   /* a producer waits this long for room */
#define STOP_WAIT_S 2                 /* then fuse_inval_stop leaves the thread */
#define FUSE_FILEID_INO64_GEN 0x81    /* the kernel's FUSE handle: node id, generation */

struct fuse_inval {
	struct fs *fs;
	struct fuse_session *se;
	uint32_t origin;
	char *mountpoint;
	struct fuse_coherence_stats *stats;
	struct fuse_coherence_stats own_stats;   /* when the caller gave none */
	bool writeback;                          /* atomic: set by op_init */
	pid_t tid;                               /* atomic: the thread's id */

	pthread_mutex_t mu;
	pthread_cond_t more, room;
	struct inval_queue q;
	bool stop, observing, running;
	bool all_stale;                /* something was lost: no open keeps pages */
	pthread_t thread;

	bool fixup_off;                /* thread only */
};

static void stat_add(uint64_t *counter)
{
	__atomic_add_fetch(counter, 1, __ATOMIC_RELAXED);
}

/* ---- the producers' side (the core's committing threads) ---- */

static void wait_for_room(struct fuse_inval *iv)
{
	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_nsec += FULL_WAIT_NS;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	while (inval_queue_full(&iv->q) && !iv->stop)
		if (pthread_cond_timedwait(&iv->room, &iv->mu, &until) == ETIMEDOUT)
			break;
}

static void lose(struct fuse_inval *iv, uint64_t ino, const char *name)
{
	stat_add(&iv->stats->lost);
	if (!iv->all_stale)
		log_warn("fuse: invalidation queue full (%d items): %s %llu%s%s changed "
			 "elsewhere is left to the kernel's cache timeouts, and opens no "
			 "longer keep cached pages", INVAL_QUEUE_MAX, name ? "name in" : "inode",
			 (unsigned long long)ino, name ? " " : "", name ? name : "");
	iv->all_stale = true;
}

static void enqueue(struct fuse_inval *iv, uint32_t origin, uint64_t ino, const char *name)
{
	if (origin == iv->origin) {
		/* The kernel made this change itself, and may be waiting in the
		 * request for it with the locks a notification needs. */
		stat_add(&iv->stats->own_ignored);
		return;
	}
	pthread_mutex_lock(&iv->mu);
	if (!name)
		inval_mark(&iv->q, ino);
	enum inval_push p = iv->stop ? INVAL_COALESCED : inval_queue_push(&iv->q, ino, name);
	if (p == INVAL_FULL) {
		wait_for_room(iv);
		p = iv->stop ? INVAL_COALESCED : inval_queue_push(&iv->q, ino, name);
		if (p == INVAL_FULL)
			lose(iv, ino, name);
	}
	if (p == INVAL_QUEUED)
		pthread_cond_signal(&iv->more);
	pthread_mutex_unlock(&iv->mu);
}

static void on_inode_changed(void *arg, uint32_t origin, uint64_t ino)
{
	enqueue(arg, origin, ino, NULL);
}

static void on_entry_changed(void *arg, uint32_t origin, uint64_t parent, const char *name)
{
	enqueue(arg, origin, parent, name);
}

static const struct fs_observer inval_observer = { on_inode_changed, on_entry_changed };

/* ---- the write-back fix-up (this module's thread) ---- */

static void fixup_disable(struct fuse_inval *iv, const char *why)
{
	iv->fixup_off = true;
	log_warn("fuse: %s: %s; with the write-back cache the mount shows the size and mtime "
		 "of a file changed elsewhere only once the kernel forgets the file",
		 iv->mountpoint, why);
}

/* The mount's root, checked to hand out the handle layout we build. */
static int open_mount_root(struct fuse_inval *iv)
{
	union {
		struct file_handle fh;
		char buf[sizeof(struct file_handle) + MAX_HANDLE_SZ];
	} h;
	uint32_t w[3];
	int mount_id;
	int fd = open(iv->mountpoint, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	h.fh.handle_bytes = MAX_HANDLE_SZ;
	if (name_to_handle_at(fd, "", &h.fh, &mount_id, AT_EMPTY_PATH) < 0) {
		int e = errno;
		close(fd);
		fixup_disable(iv, "name_to_handle_at on the mount root failed");
		return -e;
	}
	memcpy(w, h.fh.f_handle, h.fh.handle_bytes < sizeof w ? h.fh.handle_bytes : sizeof w);
	if (h.fh.handle_type != FUSE_FILEID_INO64_GEN || h.fh.handle_bytes != sizeof w ||
	    w[0] != 0 || w[1] != FUSE_ROOT_ID) {
		close(fd);
		fixup_disable(iv, "the kernel's file handles are not the FUSE node ids we know");
		return -EPROTO;
	}
	return fd;
}

/* An O_PATH descriptor of the kernel's inode for a; -ESTALE when the
 * kernel does not have it (nothing to fix then). */
static int open_inode(struct fuse_inval *iv, const struct fs_attr *a)
{
	union {
		struct file_handle fh;
		char buf[sizeof(struct file_handle) + 3 * sizeof(uint32_t)];
	} h;
	uint32_t w[3] = { (uint32_t)(a->ino >> 32), (uint32_t)a->ino, (uint32_t)a->generation };
	int root = open_mount_root(iv);
	if (root < 0)
		return root;
	h.fh.handle_bytes = sizeof w;
	h.fh.handle_type = FUSE_FILEID_INO64_GEN;
	memcpy(h.fh.f_handle, w, sizeof w);
	int fd = open_by_handle_at(root, &h.fh, O_PATH | O_CLOEXEC);
	int e = errno;
	close(root);
	if (fd < 0 && (e == EPERM || e == EACCES))
		fixup_disable(iv, "open_by_handle_at is not allowed (needs CAP_DAC_READ_SEARCH)");
	return fd < 0 ? -e : fd;
}

static bool same_time(const struct timespec *x, const struct timespec *y)
{
	return x->tv_sec == y->tv_sec && x->tv_nsec == y->tv_nsec;
}

static void wb_fixup(struct fuse_inval *iv, uint64_t ino)
{
	struct fs_attr a;
	struct stat st;
	if (iv->fixup_off || fs_getattr(iv->fs, ino, &a) < 0 || !S_ISREG(a.mode))
		return;
	int fd = open_inode(iv, &a);
	if (fd < 0) {
		log_debug("fuse: write-back fix-up of inode %llu: %s", (unsigned long long)ino,
			  strerror(-fd));
		return;
	}
	/* The attributes were invalidated: this asks us, but size and mtime
	 * are the kernel's own. */
	if (fstat(fd, &st) < 0 || ((uint64_t)st.st_size == a.size && same_time(&st.st_mtim, &a.mtime)))
		goto out;
	/* Last writer wins: a kernel mtime later than the core's last change
	 * means the kernel holds writes made after it (dirty pages it has not
	 * written back yet), which will reach the core; cutting the size now
	 * would drop them. */
	if (st.st_mtim.tv_sec > a.ctime.tv_sec ||
	    (st.st_mtim.tv_sec == a.ctime.tv_sec && st.st_mtim.tv_nsec > a.ctime.tv_nsec))
		goto out;
	char path[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	if ((uint64_t)st.st_size != a.size && truncate(path, (off_t)a.size) < 0)
		log_debug("fuse: write-back fix-up of inode %llu: truncate: %s",
			  (unsigned long long)ino, strerror(errno));
	/* After the truncate the kernel has its own "now" as mtime. */
	if (fs_getattr(iv->fs, ino, &a) == 0) {
		struct timespec ts[2] = { { 0, UTIME_OMIT }, a.mtime };
		if (utimensat(fd, "", ts, AT_EMPTY_PATH) < 0)
			log_debug("fuse: write-back fix-up of inode %llu: utimensat: %s",
				  (unsigned long long)ino, strerror(errno));
	}
	stat_add(&iv->stats->wb_fixups);
out:
	close(fd);
}

/* ---- the thread ---- */

static void send_item(struct fuse_inval *iv, const struct inval_item *it)
{
	int r;
	if (it->name) {
		r = fuse_lowlevel_notify_inval_entry(iv->se, it->ino, it->name, strlen(it->name));
		stat_add(&iv->stats->inval_entry);
	} else {
		r = fuse_lowlevel_notify_inval_inode(iv->se, it->ino, 0, 0);
		stat_add(&iv->stats->inval_inode);
		log_debug("fuse: inval inode %llu: %d", (unsigned long long)it->ino, r);
		if (r == 0 && __atomic_load_n(&iv->writeback, __ATOMIC_RELAXED))
			wb_fixup(iv, it->ino);
	}
	/* -ENOENT: the kernel does not cache it, nothing to do. */
	if (r < 0 && r != -ENOENT)
		log_warn("fuse: %s: invalidating %s %llu%s%s: %s", iv->mountpoint,
			  it->name ? "name in" : "inode", (unsigned long long)it->ino,
			  it->name ? " " : "", it->name ? it->name : "", strerror(-r));
}

static void *inval_main(void *arg)
{
	struct fuse_inval *iv = arg;
	__atomic_store_n(&iv->tid, gettid(), __ATOMIC_RELEASE);
	pthread_mutex_lock(&iv->mu);
	for (;;) {
		struct inval_item it;
		while (!iv->stop && !inval_queue_pop(&iv->q, &it))
			pthread_cond_wait(&iv->more, &iv->mu);
		if (iv->stop)
			break;
		pthread_cond_broadcast(&iv->room);
		pthread_mutex_unlock(&iv->mu);
		send_item(iv, &it);
		free(it.name);
		pthread_mutex_lock(&iv->mu);
	}
	pthread_mutex_unlock(&iv->mu);
	return NULL;
}

/* ---- life cycle ---- */

int fuse_inval_start(struct fs *fs, struct fuse_session *se, uint32_t origin,
		     const char *mountpoint, struct fuse_coherence_stats *stats,
		     struct fuse_inval **out)
{
	struct fuse_inval *iv = xcalloc(1, sizeof *iv);
	pthread_condattr_t ca;
	iv->fs = fs;
	iv->se = se;
	iv->origin = origin;
	iv->mountpoint = xstrdup(mountpoint);
	iv->stats = stats ? stats : &iv->own_stats;
	pthread_mutex_init(&iv->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&iv->room, &ca);
	pthread_condattr_destroy(&ca);
	pthread_cond_init(&iv->more, NULL);
	int r = pthread_create(&iv->thread, NULL, inval_main, iv);
	if (r != 0) {
		log_error("fuse: %s: cannot start the invalidation thread: %s", mountpoint,
			  strerror(r));
		iv->stop = true;
		fuse_inval_free(iv);
		return -r;
	}
	iv->running = true;
	r = fs_observe(fs, &inval_observer, iv);
	if (r < 0) {
		log_error("fuse: %s: cannot observe the filesystem's changes: %s", mountpoint,
			  strerror(-r));
		fuse_inval_stop(iv);
		fuse_inval_free(iv);
		return r;
	}
	iv->observing = true;
	*out = iv;
	return 0;
}

void fuse_inval_set_writeback(struct fuse_inval *iv, bool writeback)
{
	__atomic_store_n(&iv->writeback, writeback, __ATOMIC_RELAXED);
}

void fuse_inval_stop(struct fuse_inval *iv)
{
	if (iv->observing)
		fs_unobserve(iv->fs, &inval_observer, iv);
	iv->observing = false;
	pthread_mutex_lock(&iv->mu);
	iv->stop = true;
	pthread_cond_broadcast(&iv->more);
	pthread_cond_broadcast(&iv->room);
	pthread_mutex_unlock(&iv->mu);
	if (!iv->running)
		return;
	/* A notification may wait on a lock held by a request no worker will
	 * answer any more (a stop signal ended the loop): the unmount that
	 * follows aborts the connection and fuse_inval_free joins. */
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += STOP_WAIT_S;
	if (pthread_timedjoin_np(iv->thread, NULL, &until) == 0)
		iv->running = false;
	else
		log_warn("fuse: %s: the invalidation thread is waiting in the kernel: "
			 "waiting for it after the unmount", iv->mountpoint);
}

void fuse_inval_free(struct fuse_inval *iv)
{
	if (!iv)
		return;
	if (iv->running)
		pthread_join(iv->thread, NULL);
	inval_queue_clear(&iv->q);
	pthread_cond_destroy(&iv->more);
	pthread_cond_destroy(&iv->room);
	pthread_mutex_destroy(&iv->mu);
	free(iv->mountpoint);
	free(iv);
}

bool fuse_inval_keep_cache(struct fuse_inval *iv, uint64_t ino)
{
	pthread_mutex_lock(&iv->mu);
	bool changed = inval_mark_take(&iv->q, ino);
	bool keep = !changed && !iv->all_stale;
	pthread_mutex_unlock(&iv->mu);
	return keep;
}

bool fuse_inval_is_own_request(const struct fuse_inval *iv, uint32_t pid)
{
	return pid != 0 && (pid_t)pid == __atomic_load_n(&iv->tid, __ATOMIC_ACQUIRE);
}
