/* fuse_locks.c -- the FUSE lock requests (getlk, setlk, flock) and the
 * lock side of flush, release and the session's end.
 *
 * fcntl and flock locks are the core's (fs_setlk, fs_flock), so they hold
 * against every other frontend; with the lock capabilities on (op_init)
 * the kernel forwards every request instead of locking locally.  The
 * owner is the kernel's lock_owner, hashed per connection: the process's
 * file table for POSIX locks (close(2) of any descriptor sends it in
 * flush, which drops them), the open file for OFD and flock locks.  The
 * kernel never sends an unlock of OFD locks, so every open gets a handle
 * (fi->fh) and its release drops whatever was taken through it.  A
 * request that must wait is handed to a thread of its own (lock_job); an
 * interrupt (the caller got a signal) cancels it, and it gives up when
 * the daemon is stopping or the session ends. */
#include "fuse/fuse_int.h"
#include "fuse/fuse.h"

#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "fs/fs.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/mem.h"

static struct fuse_frontend *ff_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

#define LOCK_POLL_MS 500     /* a blocked request looks for a stop this often */

uint64_t fuse_lock_handle_new(void)
{
	static uint64_t counter;
	return __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
}

static uint64_t lock_frontend(fuse_req_t req)
{
	return (uint64_t)(uintptr_t)ff_of(req);
}

static void lock_owner_of(fuse_req_t req, const struct fuse_file_info *fi, uint32_t pid,
			  struct fs_lock_owner *o)
{
	memset(o, 0, sizeof *o);
	o->frontend = lock_frontend(req);
	o->owner = fi->lock_owner;
	o->handle = fi->fh;
	o->pid = pid;
	o->kind = FS_LOCK_POSIX; /* the kernel does not say which; the rules match */
}

/* libfuse hands over SEEK_SET ranges with l_len 0 for "to end of file". */
static int lock_from_flock(const struct flock *fl, struct fs_lock *lk)
{
	memset(lk, 0, sizeof *lk);
	if (fl->l_whence != SEEK_SET || fl->l_start < 0 || fl->l_len < 0)
		return -EINVAL;
	lk->type = fl->l_type;
	lk->start = (uint64_t)fl->l_start;
	lk->end = FS_LOCK_EOF;
	if (fl->l_len > 0 && (uint64_t)fl->l_len - 1 < INT64_MAX - lk->start)
		lk->end = lk->start + (uint64_t)fl->l_len - 1;
	return 0;
}

static void lock_to_flock(const struct fs_lock *lk, struct flock *fl)
{
	memset(fl, 0, sizeof *fl);
	fl->l_type = (short)lk->type;
	fl->l_whence = SEEK_SET;
	fl->l_start = (off_t)lk->start;
	fl->l_len = lk->end >= INT64_MAX ? 0 : (off_t)(lk->end - lk->start + 1);
	fl->l_pid = (pid_t)lk->pid;
}

void fuse_op_getlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, struct flock *fl)
{
	struct fs_lock_owner o;
	struct fs_lock lk;
	lock_owner_of(req, fi, (uint32_t)fl->l_pid, &o);
	int r = lock_from_flock(fl, &lk);
	if (r == 0)
		r = fs_getlk(ff_of(req)->fs, ino, &o, &lk);
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	if (lk.type == F_UNLCK) {
		fl->l_type = F_UNLCK;
		fuse_reply_lock(req, fl);
		return;
	}
	struct flock out;
	lock_to_flock(&lk, &out);
	fuse_reply_lock(req, &out);
}

struct lock_interrupt {
	struct fs *fs;
	struct fs_lock_wait wait;
};

static void lock_interrupted(fuse_req_t req, void *data)
{
	struct lock_interrupt *li = data;
	fs_lock_cancel(li->fs, &li->wait);
}

/* A blocked request: fs_setlk of lk, or fs_flock of lk.type. */
struct lock_job {
	struct lock_job *next;
	fuse_req_t req;
	struct fuse_frontend *ff;
	fuse_ino_t ino;
	struct fs_lock_owner o;
	struct fs_lock lk;
	bool flock;
};

/* Blocked requests wait in threads of their own, not in libfuse's
 * workers: those are few (max_threads), and a mount whose workers all
 * waited for a lock could not serve the unlock that frees them. */
#define LOCK_JOBS_MAX 4096
#define LOCK_JOB_STACK (256u << 10)

static struct {
	pthread_mutex_t mu;
	pthread_cond_t done;
	struct lock_job *list;
	size_t count;
} lock_jobs = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, 0 };

/* Wait until granted, cancelled by an interrupt (-EINTR: the kernel
 * restarts or fails the call as the signal says) or ended by a stopping
 * daemon (-ENOLCK: an -EINTR with no signal pending would reach the
 * caller as the kernel's internal ERESTARTSYS). */
static int lock_wait(struct lock_job *j)
{
	struct lock_interrupt li = { j->ff->fs, { .timeout_ms = LOCK_POLL_MS } };
	int r = -ETIMEDOUT;
	fuse_req_interrupt_func(j->req, lock_interrupted, &li);
	while (r == -ETIMEDOUT && !atomic_load(&j->ff->stopping))
		r = j->flock ? fs_flock(li.fs, j->ino, &j->o, j->lk.type, &li.wait) :
			       fs_setlk(li.fs, j->ino, &j->o, &j->lk, &li.wait);
	/* Unregistering waits for an interrupt callback under way. */
	fuse_req_interrupt_func(j->req, NULL, NULL);
	return r == -ETIMEDOUT ? -ENOLCK : r;
}

static void lock_job_unlink(struct lock_job *j)
{
	pthread_mutex_lock(&lock_jobs.mu);
	for (struct lock_job **pp = &lock_jobs.list; *pp; pp = &(*pp)->next)
		if (*pp == j) {
			*pp = j->next;
			break;
		}
	lock_jobs.count--;
	pthread_cond_broadcast(&lock_jobs.done);
	pthread_mutex_unlock(&lock_jobs.mu);
	free(j);
}

static void *lock_job_main(void *arg)
{
	struct lock_job *j = arg;
	fuse_reply_err(j->req, -lock_wait(j));
	lock_job_unlink(j);
	return NULL;
}

/* Hand a request that must wait to a thread, which replies: 0, or an
 * errno for the caller to reply with. */
static int lock_job_start(const struct lock_job *tmpl)
{
	pthread_mutex_lock(&lock_jobs.mu);
	if (lock_jobs.count >= LOCK_JOBS_MAX) {
		pthread_mutex_unlock(&lock_jobs.mu);
		log_warn("fuse: %d lock requests already wait: ENOLCK", LOCK_JOBS_MAX);
		return -ENOLCK;
	}
	struct lock_job *j = xmalloc(sizeof *j);
	*j = *tmpl;
	j->next = lock_jobs.list;
	lock_jobs.list = j;
	lock_jobs.count++;
	pthread_mutex_unlock(&lock_jobs.mu);
	pthread_attr_t attr;
	pthread_t thread;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, LOCK_JOB_STACK);
	int r = pthread_create(&thread, &attr, lock_job_main, j);
	pthread_attr_destroy(&attr);
	if (r != 0) {
		log_warn("fuse: cannot start a thread for a blocked lock request: %s", strerror(r));
		lock_job_unlink(j);
		return -ENOLCK;
	}
	return 0;
}

/* The session ends: cancel its waits (again until none is left: a
 * thread may only now be starting to wait) and wait for their replies. */
static void lock_jobs_end(struct fuse_frontend *ff)
{
	pthread_mutex_lock(&lock_jobs.mu);
	for (;;) {
		bool any = false;
		for (struct lock_job *j = lock_jobs.list; j; j = j->next)
			any |= j->ff == ff;
		if (!any)
			break;
		pthread_mutex_unlock(&lock_jobs.mu);
		fs_lock_release_frontend(ff->fs, (uint64_t)(uintptr_t)ff);
		pthread_mutex_lock(&lock_jobs.mu);
		clock_cond_wait(&lock_jobs.done, &lock_jobs.mu, 100 * 1000000ull);
	}
	pthread_mutex_unlock(&lock_jobs.mu);
}

void fuse_op_setlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, struct flock *fl,
		   int sleep)
{
	struct lock_job j = { .req = req, .ff = ff_of(req), .ino = ino, .flock = false };
	lock_owner_of(req, fi, (uint32_t)fl->l_pid, &j.o);
	int r = lock_from_flock(fl, &j.lk);
	if (r == 0)
		r = fs_setlk(j.ff->fs, ino, &j.o, &j.lk, NULL);
	if (r == -EAGAIN && sleep) {
		r = lock_job_start(&j);
		if (r == 0)
			return; /* the job replies */
	}
	fuse_reply_err(req, -r);
}

void fuse_op_flock(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, int op)
{
	struct lock_job j = { .req = req, .ff = ff_of(req), .ino = ino, .flock = true };
	if (!(op & (LOCK_SH | LOCK_EX | LOCK_UN))) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	j.lk.type = (op & LOCK_UN) ? F_UNLCK : (op & LOCK_EX) ? F_WRLCK : F_RDLCK;
	lock_owner_of(req, fi, (uint32_t)fuse_req_ctx(req)->pid, &j.o);
	int r = fs_flock(j.ff->fs, ino, &j.o, j.lk.type, NULL);
	if (r == -EAGAIN && !(op & LOCK_NB)) {
		r = lock_job_start(&j);
		if (r == 0)
			return;
	}
	fuse_reply_err(req, -r);
}

/* close(2) of a descriptor: its process's POSIX locks on the file go. */
void fuse_locks_flush(fuse_req_t req, fuse_ino_t ino, const struct fuse_file_info *fi)
{
	struct fs_lock_owner o;
	lock_owner_of(req, fi, 0, &o);
	fs_lock_release_owner(ff_of(req)->fs, ino, &o);
}

/* The last close of an open file: its flock and OFD locks go. */
void fuse_locks_release(fuse_req_t req, fuse_ino_t ino, const struct fuse_file_info *fi)
{
	struct fs *fs = ff_of(req)->fs;
	if (fi->flock_release) {
		struct fs_lock_owner o;
		lock_owner_of(req, fi, 0, &o);
		fs_flock(fs, ino, &o, F_UNLCK, NULL);
	}
	fs_lock_release_handle(fs, ino, lock_frontend(req), fi->fh);
}

/* The session ends: nothing this mount holds may outlive it. */
void fuse_op_destroy(void *userdata)
{
	struct fuse_frontend *ff = userdata;
	lock_jobs_end(ff);
	fs_lock_release_frontend(ff->fs, (uint64_t)(uintptr_t)ff);
}
