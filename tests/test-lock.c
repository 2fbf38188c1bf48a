/* test-lock.c -- the core's advisory locks through fs.h, one rule per
 * test: read/write conflicts, an owner's ranges merging, splitting,
 * upgrading and downgrading, F_GETLK reports, ranges to end of file,
 * flock conversion, OFD and POSIX owners, blocking waits woken by an
 * unlock, cancels and timeouts, EDEADLK, the releases, bad input,
 * threads contending (exclusion checked, cycles ending in EDEADLK), and a
 * randomized model test (random requests from several owners against a
 * byte map).  Randomized tests print their seed. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>
#include <cmocka.h>

#include "crypt/aead.h"
#include "fs/fs.h"
#include "fs/fs_int.h"
#include "fs/lock.h"
#include "fsfix.h"
#include "testutil.h"

#define INO 42
#define EOF_ FS_LOCK_EOF

static struct fs_lock_owner owner(uint64_t frontend, uint64_t id, int kind)
{
	struct fs_lock_owner o = { .frontend = frontend, .owner = id, .handle = 100 + id,
				   .pid = (uint32_t)(1000 + 10 * frontend + id), .kind = kind };
	return o;
}

static struct fs_lock range(int type, uint64_t start, uint64_t end)
{
	struct fs_lock lk = { .type = type, .start = start, .end = end };
	return lk;
}

static int set(struct fsfix *t, const struct fs_lock_owner *o, int type, uint64_t start,
	       uint64_t end)
{
	struct fs_lock lk = range(type, start, end);
	return fs_setlk(t->fs, INO, o, &lk, NULL);
}

/* fs_getlk's answer for o asking type over [start, end]. */
static struct fs_lock get(struct fsfix *t, const struct fs_lock_owner *o, int type, uint64_t start,
			  uint64_t end)
{
	struct fs_lock lk = range(type, start, end);
	assert_int_equal(fs_getlk(t->fs, INO, o, &lk), 0);
	return lk;
}

static size_t records(struct fsfix *t)
{
	return lock_table_records(t->fs->locks, INO);
}

static void test_read_write_conflicts(void **state)
{
	struct fsfix t;
	fsfix_init(&t, "test-lock");
	struct fs_lock_owner a = owner(1, 1, FS_LOCK_POSIX), b = owner(1, 2, FS_LOCK_POSIX),
			     c = owner(1, 3, FS_LOCK_POSIX);
	assert_int_equal(set(&t, &a, F_RDLCK, 0, 9), 0);
	assert_int_equal(set(&t, &b, F_RDLCK, 5, 15), 0);        /* readers share */
	assert_int_equal(set(&t, &b, F_WRLCK, 5, 15), -EAGAIN);  /* a reads 5..9 */
	assert_int_equal(set(&t, &b, F_WRLCK, 10, 20), 0);       /* its own read lock: no conflict */
	assert_int_equal(set(&t, &c, F_RDLCK, 20, 30), -EAGAIN); /* b writes 20 */
	assert_int_equal(set(&t, &c, F_WRLCK, 21, 30), 0);
	assert_int_equal(set(&t, &c, F_RDLCK, 0, 4), 0);
	assert_int_equal(set(&t, &a, F_WRLCK, 0, 4), -EAGAIN);
	/* Same owner id through another frontend is another owner. */
	struct fs_lock_owner a2 = owner(2, 1, FS_LOCK_POSIX);
	assert_int_equal(set(&t, &a2, F_WRLCK, 0, 0), -EAGAIN);
	/* Another inode is free. */
	struct fs_lock lk = range(F_WRLCK, 0, EOF_);
	assert_int_equal(fs_setlk(t.fs, INO + 1, &a2, &lk, NULL), 0);
	fsfix_done(&t);
}

static void test_split_and_merge(void **state)
{
	struct fsfix t;
	fsfix_init(&t, "test-lock");
	struct fs_lock_owner a = owner(1, 1, FS_LOCK_POSIX), b = owner(1, 2, FS_LOCK_POSIX);
	assert_int_equal(set(&t, &a, F_WRLCK, 0, 9), 0);
	assert_int_equal(set(&t, &a, F_WRLCK, 10, 19), 0);
	assert_int_equal(records(&t), 1); /* adjacent, same type: one lock */
	assert_int_equal(set(&t, &a, F_WRLCK, 5, 25), 0);
	assert_int_equal(records(&t), 1); /* overlapping: still one */
	struct fs_lock g = get(&t, &b, F_RDLCK, 0, 0);
	assert_int_equal(g.type, F_WRLCK);
	assert_true(g.start == 0 && g.end == 25);
	assert_int_equal(set(&t, &a, F_RDLCK, 26, 29), 0);
	assert_int_equal(records(&t), 2); /* adjacent but another type */
	/* Unlocking the middle splits. */
	assert_int_equal(set(&t, &a, F_UNLCK, 5, 14), 0);
	assert_int_equal(records(&t), 3);
	assert_int_equal(get(&t, &b, F_WRLCK, 5, 14).type, F_UNLCK);
	g = get(&t, &b, F_WRLCK, 14, 15);
	assert_true(g.type == F_WRLCK && g.start == 15 && g.end == 25);
	g = get(&t, &b, F_WRLCK, 0, 5);
	assert_true(g.type == F_WRLCK && g.start == 0 && g.end == 4);
	/* Filling the hole merges both sides. */
	assert_int_equal(set(&t, &a, F_WRLCK, 5, 14), 0);
	assert_int_equal(records(&t), 2);
	g = get(&t, &b, F_RDLCK, 10, 10);
	assert_true(g.start == 0 && g.end == 25);
	/* Unlocking what is not locked, or another owner's range, is no error
	 * and changes nothing. */
	assert_int_equal(set(&t, &b, F_UNLCK, 0, EOF_), 0);
	assert_int_equal(set(&t, &a, F_UNLCK, 100, 200), 0);
	assert_int_equal(records(&t), 2);
	assert_int_equal(set(&t, &a, F_UNLCK, 0, EOF_), 0);
	assert_int_equal(records(&t), 0);
	assert_int_equal(get(&t, &b, F_WRLCK, 0, EOF_).type, F_UNLCK);
	fsfix_done(&t);
}

static void test_upgrade_downgrade(void **state)
{
	struct fsfix t;
	fsfix_init(&t, "test-lock");
	struct fs_lock_owner a = owner(1, 1, FS_LOCK_POSIX), b = owner(1, 2, FS_LOCK_POSIX);
	assert_int_equal(set(&t, &a, F_RDLCK, 0, 99), 0);
	assert_int_equal(set(&t, &b, F_RDLCK, 50, 50), 0);
	assert_int_equal(set(&t, &a, F_WRLCK, 0, 99), -EAGAIN); /* b reads 50 */
	assert_int_equal(records(&t), 2);                       /* a failed request changes nothing */
	assert_int_equal(set(&t, &a, F_WRLCK, 0, 49), 0);       /* part of it can */
	assert_int_equal(records(&t), 3);
	assert_int_equal(set(&t, &b, F_UNLCK, 50, 50), 0);
	assert_int_equal(set(&t, &a, F_WRLCK, 0, 99), 0);       /* upgrade */
	assert_int_equal(records(&t), 1);
	/* A downgrade of the middle: write, read, write. */
	assert_int_equal(set(&t, &a, F_RDLCK, 40, 59), 0);
	assert_int_equal(records(&t), 3);
	assert_int_equal(set(&t, &b, F_RDLCK, 45, 45), 0);
	assert_int_equal(set(&t, &b, F_RDLCK, 39, 39), -EAGAIN);
	assert_int_equal(set(&t, &b, F_RDLCK, 60, 60), -EAGAIN);
	fsfix_done(&t);
}

static void test_getlk_reports_holder(void **state)
{
	struct fsfix t;
	fsfix_init(&t, "test-lock");
	struct fs_lock_owner a = owner(1, 1, FS_LOCK_POSIX), b = owner(1, 2, FS_LOCK_POSIX);
	assert_int_equal(get(&t, &a, F_WRLCK, 0, EOF_).type, F_UNLCK);
	assert_int_equal(set(&t, &a, F_RDLCK, 10, 19), 0);
	struct fs_lock g = get(&t, &b, F_WRLCK, 0, EOF_);
	assert_int_equal(g.type, F_RDLCK);
	assert_int_equal(g.start, 10);
	assert_int_equal(g.end, 19);
	assert_int_equal(g.pid, a.pid);
	assert_int_equal(g.owner, a.owner);
	/* Readers do not conflict; an owner never conflicts with itself; and
	 * a free answer leaves the range as asked. */
	g = get(&t, &b, F_RDLCK, 0, EOF_);
	assert_true(g.type == F_UNLCK && g.start == 0 && g.end == EOF_);
	assert_int_equal(get(&t, &a, F_WRLCK, 0, EOF_).type, F_UNLCK);
	assert_int_equal(get(&t, &b, F_WRLCK, 20, 30).type, F_UNLCK);
	assert_int_equal(get(&t, &b, F_WRLCK, 19, 19).type, F_RDLCK);
	fsfix_done(&t);
}

static void test_bad_requests(void **state)
{
	struct fsfix t;
	fsfix_init(&t, "test-lock");
	struct fs_lock_owner a = owner(1, 1, FS_LOCK_POSIX), bad = owner(1, 2, 7);
	struct fs_lock lk = range(F_UNLCK, 0, 10);
	assert_int_equal(fs_getlk(t.fs, INO, &a, &lk), -EINVAL); /* F_GETLK of F_UNLCK */
	lk = range(F_WRLCK, 10, 9);
	assert_int_equal(fs_getlk(t.fs, INO, &a, &lk), -EINVAL);
	assert_int_equal(fs_setlk(t.fs, INO, &a, &lk, NULL), -EINVAL);
	lk = range(12345, 0, 9);
	assert_int_equal(fs_getlk(t.fs, INO, &a, &lk), -EINVAL);
	assert_int_equal(fs_setlk(t.fs, INO, &a, &lk, NULL), -EINVAL);
	lk = range(F_WRLCK, 0, 9);
	assert_int_equal(fs_setlk(t.fs, INO, &bad, &lk, NULL), -EINVAL);
	assert_int_equal(fs_setlk(t.fs, INO, NULL, &lk, NULL), -EINVAL);
	assert_int_equal(fs_flock(t.fs, INO, &a, 99, NULL), -EINVAL);
	assert_int_equal(fs_flock(t.fs, INO, NULL, F_RDLCK, NULL), -EINVAL);
	assert_int_equal(records(&t), 0);
	/* Releases of what does not exist do nothing. */
	fs_lock_release_owner(t.fs, 999, &a);
	fs_lock_release_owner(t.fs, 0, &a);
	fs_lock_release_handle(t.fs, 999, 1, 5);
	fs_lock_release_inode(t.fs, 999);
	fs_lock_release_frontend(t.fs, 77);
	fsfix_done(&t);
}

static void test_ranges_to_eof(void **state)
{
	struct fsfix t;
	fsfix_init(&t, "test-lock");
	struct fs_lock_owner a = owner(1, 1, FS_LOCK_POSIX), b = owner(1, 2, FS_LOCK_POSIX);
	assert_int_equal(set(&t, &a, F_WRLCK, 100, EOF_), 0);
	assert_int_equal(set(&t, &b, F_WRLCK, EOF_, EOF_), -EAGAIN);
	assert_int_equal(set(&t, &b, F_RDLCK, UINT64_MAX - 1, UINT64_MAX - 1), -EAGAIN);
	assert_int_equal(set(&t, &b, F_WRLCK, 0, 99), 0);
	assert_int_equal(set(&t, &a, F_UNLCK, 200, EOF_), 0);
	struct fs_lock g = get(&t, &b, F_RDLCK, 100, EOF_);
	assert_true(g.type == F_WRLCK && g.start == 100 && g.end == 199);
	assert_int_equal(set(&t, &b, F_WRLCK, 200, EOF_), 0);
	/* Merging up to the end and splitting at the very last byte. */
	assert_int_equal(set(&t, &b, F_UNLCK, EOF_, EOF_), 0);
	assert_int_equal(set(&t, &a, F_WRLCK, EOF_, EOF_), 0);
	assert_int_equal(set(&t, &b, F_WRLCK, EOF_, EOF_), -EAGAIN);
	assert_int_equal(set(&t, &a, F_UNLCK, 0, EOF_), 0);
	assert_int_equal(set(&t, &b, F_WRLCK, EOF_, EOF_), 0);
	assert_int_equal(records(&t), 2);  /* [0,99] and [200,EOF] are not adjacent */
	assert_int_equal(set(&t, &b, F_WRLCK, 100, 199), 0);
	assert_int_equal(records(&t), 1);
	g = get(&t, &a, F_RDLCK, 5, 5);
	assert_true(g.start == 0 && g.end == EOF_);
	fsfix_done(&t);
}

static void test_flock_shared_exclusive(void **state)
{
	struct fsfix t;
	fsfix_init(&t, "test-lock");
	struct fs_lock_owner a = owner(1, 1, FS_LOCK_OFD), b = owner(1, 2, FS_LOCK_OFD),
			     c = owner(1, 3, FS_LOCK_OFD);
	assert_int_equal(fs_flock(t.fs, INO, &a, F_RDLCK, NULL), 0);
	assert_int_equal(fs_flock(t.fs, INO, &b, F_RDLCK, NULL), 0);
	assert_int_equal(fs_flock(t.fs, INO, &c, F_WRLCK, NULL), -EAGAIN);
	assert_int_equal(fs_flock(t.fs, INO, &a, F_RDLCK, NULL), 0); /* again: kept */
	assert_int_equal(records(&t), 2);
	/* A conversion drops the old lock first: failing, it leaves none. */
	assert_int_equal(fs_flock(t.fs, INO, &a, F_WRLCK, NULL), -EAGAIN);
	assert_int_equal(records(&t), 1);
	assert_int_equal(fs_flock(t.fs, INO, &b, F_WRLCK, NULL), 0); /* b alone: converts */
	assert_int_equal(records(&t), 1);
	assert_int_equal(fs_flock(t.fs, INO, &a, F_RDLCK, NULL), -EAGAIN);
	assert_int_equal(fs_flock(t.fs, INO, &b, F_RDLCK, NULL), 0); /* downgrade */
	assert_int_equal(fs_flock(t.fs, INO, &a, F_RDLCK, NULL), 0);
	assert_int_equal(fs_flock(t.fs, INO, &a, F_UNLCK, NULL), 0);
	assert_int_equal(fs_flock(t.fs, INO, &a, F_UNLCK, NULL), 0); /* none held: fine */
	/* flock and range locks are separate namespaces, as on Linux. */
	assert_int_equal(set(&t, &c, F_WRLCK, 0, EOF_), 0);
	assert_int_equal(get(&t, &a, F_RDLCK, 0, EOF_).type, F_WRLCK);
	assert_int_equal(fs_flock(t.fs, INO, &b, F_UNLCK, NULL), 0);
	assert_int_equal(fs_flock(t.fs, INO, &a, F_WRLCK, NULL), 0);
	/* A POSIX close (release_owner) keeps flocks; a handle release drops them. */
	fs_lock_release_owner(t.fs, INO, &a);
	assert_int_equal(fs_flock(t.fs, INO, &b, F_RDLCK, NULL), -EAGAIN);
	fs_lock_release_handle(t.fs, INO, a.frontend, a.handle);
	assert_int_equal(fs_flock(t.fs, INO, &b, F_RDLCK, NULL), 0);
	fsfix_done(&t);
}

static void test_ofd_and_posix(void **state)
{
	struct fsfix t;
	fsfix_init(&t, "test-lock");
	struct fs_lock_owner ofd = owner(1, 1, FS_LOCK_OFD), ofd2 = owner(1, 2, FS_LOCK_OFD),
			     px = owner(1, 3, FS_LOCK_POSIX);
	/* OFD and POSIX locks conflict with each other (other owners). */
	assert_int_equal(set(&t, &ofd, F_WRLCK, 0, 9), 0);
	assert_int_equal(set(&t, &px, F_WRLCK, 5, 5), -EAGAIN);
	assert_int_equal(set(&t, &px, F_RDLCK, 10, 10), 0);
	assert_int_equal(set(&t, &ofd, F_WRLCK, 10, 10), -EAGAIN);
	/* Two OFDs are two owners, even in one process. */
	assert_int_equal(set(&t, &ofd2, F_RDLCK, 9, 9), -EAGAIN);
	assert_int_equal(get(&t, &ofd2, F_RDLCK, 0, EOF_).pid, ofd.pid);
	/* The POSIX owner closing its file keeps the OFD lock. */
	fs_lock_release_owner(t.fs, INO, &px);
	assert_int_equal(set(&t, &ofd2, F_RDLCK, 10, 10), 0);
	assert_int_equal(set(&t, &ofd2, F_RDLCK, 9, 9), -EAGAIN);
	/* Only the release of its open file frees it. */
	fs_lock_release_handle(t.fs, INO, ofd.frontend, ofd.handle);
	assert_int_equal(set(&t, &ofd2, F_WRLCK, 0, 9), 0);
	/* Handle 0 names no open file: it drops nothing. */
	struct fs_lock_owner nohandle = owner(1, 4, FS_LOCK_POSIX);
	nohandle.handle = 0;
	assert_int_equal(set(&t, &nohandle, F_RDLCK, 20, 20), 0);
	fs_lock_release_handle(t.fs, INO, nohandle.frontend, 0);
	assert_int_equal(set(&t, &ofd2, F_WRLCK, 20, 20), -EAGAIN);
	fsfix_done(&t);
}

/* ---- blocking ---- */

struct waiter {
	struct fsfix *t;
	struct fs_lock_owner o;
	struct fs_lock lk;
	bool flock;
	struct fs_lock_wait wait;
	int result;
	pthread_t thread;
};

static void *waiter_main(void *arg)
{
	struct waiter *w = arg;
	if (w->flock)
		w->result = fs_flock(w->t->fs, INO, &w->o, w->lk.type, &w->wait);
	else
		w->result = fs_setlk(w->t->fs, INO, &w->o, &w->lk, &w->wait);
	return NULL;
}

/* Start w and return once the table has `waiting` waiters.  A wait that
 * is never granted ends in -ETIMEDOUT after WAIT_MS: a failure, not a hang. */
#define WAIT_MS 10000
static void waiter_start(struct waiter *w, size_t waiting)
{
	w->result = 1;
	w->wait.timeout_ms = WAIT_MS;
	assert_int_equal(pthread_create(&w->thread, NULL, waiter_main, w), 0);
	for (int i = 0; i < 10000 && lock_table_waiters(w->t->fs->locks) < waiting; i++)
		usleep(1000);
	assert_int_equal(lock_table_waiters(w->t->fs->locks), waiting);
}

static int waiter_join(struct waiter *w)
{
	assert_int_equal(pthread_join(w->thread, NULL), 0);
	return w->result;
}

static void test_blocking_woken_by_unlock(void **state)
{
	struct fsfix t;
	fsfix_init(&t, "test-lock");
	struct fs_lock_owner a = owner(1, 1, FS_LOCK_POSIX);
	struct waiter w = { .t = &t, .o = owner(1, 2, FS_LOCK_POSIX), .lk = range(F_WRLCK, 5, 5) };
	assert_int_equal(set(&t, &a, F_RDLCK, 0, 9), 0);
	waiter_start(&w, 1);
	/* A change that does not free byte 5 wakes it, and it sleeps again. */
	assert_int_equal(set(&t, &a, F_UNLCK, 0, 2), 0);
	usleep(20000);
	assert_int_equal(lock_table_waiters(t.fs->locks), 1);
	assert_int_equal(set(&t, &a, F_UNLCK, 5, 5), 0);
	assert_int_equal(waiter_join(&w), 0);
	assert_int_equal(get(&t, &a, F_RDLCK, 5, 5).pid, w.o.pid);
	/* The same for flock. */
	struct waiter f = { .t = &t, .o = owner(1, 3, FS_LOCK_OFD), .lk = range(F_RDLCK, 0, EOF_),
			    .flock = true };
	assert_int_equal(fs_flock(t.fs, INO, &a, F_WRLCK, NULL), 0);
	waiter_start(&f, 1);
	assert_int_equal(fs_flock(t.fs, INO, &a, F_UNLCK, NULL), 0);
	assert_int_equal(waiter_join(&f), 0);
	assert_int_equal(fs_flock(t.fs, INO, &a, F_WRLCK, NULL), -EAGAIN);
	fsfix_done(&t);
}

static void test_cancel_and_timeout(void **state)
{
	struct fsfix t;
	fsfix_init(&t, "test-lock");
	struct fs_lock_owner a = owner(1, 1, FS_LOCK_POSIX);
	assert_int_equal(set(&t, &a, F_WRLCK, 0, EOF_), 0);
	struct waiter w = { .t = &t, .o = owner(1, 2, FS_LOCK_POSIX), .lk = range(F_RDLCK, 0, 0) };
	waiter_start(&w, 1);
	fs_lock_cancel(t.fs, &w.wait);
	assert_int_equal(waiter_join(&w), -EINTR);
	assert_int_equal(lock_table_waiters(t.fs->locks), 0);
	/* A cancel before the call: -EINTR at the first wait ... */
	struct fs_lock_wait early = { 0 };
	fs_lock_cancel(t.fs, &early);
	struct fs_lock lk = range(F_RDLCK, 0, 0);
	struct fs_lock_owner b = owner(1, 2, FS_LOCK_POSIX);
	assert_int_equal(fs_setlk(t.fs, INO, &b, &lk, &early), -EINTR);
	assert_int_equal(fs_flock(t.fs, INO, &b, F_RDLCK, &early), 0); /* ... none needed: granted */
	assert_int_equal(fs_flock(t.fs, INO, &a, F_WRLCK, &early), -EINTR);
	/* A timeout. */
	struct fs_lock_wait brief = { .timeout_ms = 30 };
	assert_int_equal(fs_setlk(t.fs, INO, &b, &lk, &brief), -ETIMEDOUT);
	assert_int_equal(fs_flock(t.fs, INO, &a, F_WRLCK, &brief), -ETIMEDOUT);
	/* The cancel of a whole frontend ends its waits, not others'. */
	struct waiter w1 = { .t = &t, .o = owner(2, 1, FS_LOCK_POSIX), .lk = range(F_RDLCK, 0, 0) };
	struct waiter w2 = { .t = &t, .o = owner(3, 1, FS_LOCK_POSIX), .lk = range(F_RDLCK, 1, 1) };
	waiter_start(&w1, 1);
	waiter_start(&w2, 2);
	fs_lock_release_frontend(t.fs, 2);
	assert_int_equal(waiter_join(&w1), -EINTR);
	assert_int_equal(lock_table_waiters(t.fs->locks), 1);
	fs_lock_release_frontend(t.fs, 1); /* a's locks go: w2 is granted */
	assert_int_equal(waiter_join(&w2), 0);
	assert_int_equal(get(&t, &b, F_WRLCK, 0, EOF_).pid, w2.o.pid);
	fsfix_done(&t);
}

static void test_deadlock_detected(void **state)
{
	struct fsfix t;
	fsfix_init(&t, "test-lock");
	struct fs_lock_owner a = owner(1, 1, FS_LOCK_POSIX), b = owner(1, 2, FS_LOCK_POSIX),
			     c = owner(1, 3, FS_LOCK_POSIX);
	struct fs_lock_wait wait = { .timeout_ms = WAIT_MS };
	assert_int_equal(set(&t, &a, F_WRLCK, 0, 0), 0);
	assert_int_equal(set(&t, &b, F_WRLCK, 1, 1), 0);
	struct waiter wb = { .t = &t, .o = b, .lk = range(F_WRLCK, 0, 0) };
	waiter_start(&wb, 1); /* b waits for a */
	struct fs_lock lk = range(F_WRLCK, 1, 1);
	assert_int_equal(fs_setlk(t.fs, INO, &a, &lk, &wait), -EDEADLK); /* a for b: a cycle */
	/* Without waiting it is only a conflict. */
	assert_int_equal(fs_setlk(t.fs, INO, &a, &lk, NULL), -EAGAIN);
	/* Three owners: c holds 2, b waits for a, a waits for c, c asks for 1. */
	assert_int_equal(set(&t, &c, F_RDLCK, 2, 2), 0);
	struct waiter wa = { .t = &t, .o = a, .lk = range(F_WRLCK, 2, 2) };
	waiter_start(&wa, 2);
	lk = range(F_RDLCK, 1, 1);
	assert_int_equal(fs_setlk(t.fs, INO, &c, &lk, &wait), -EDEADLK);
	/* c letting go of 2 lets a in; a unlocking 0 lets b in. */
	assert_int_equal(set(&t, &c, F_UNLCK, 2, 2), 0);
	assert_int_equal(waiter_join(&wa), 0);
	assert_int_equal(set(&t, &a, F_UNLCK, 0, 0), 0);
	assert_int_equal(waiter_join(&wb), 0);
	/* OFD owners get no deadlock detection (as on Linux): a timeout. */
	struct fs_lock_owner o1 = owner(2, 1, FS_LOCK_OFD), o2 = owner(2, 2, FS_LOCK_OFD);
	lk = range(F_WRLCK, 10, 10);
	assert_int_equal(fs_setlk(t.fs, INO, &o1, &lk, NULL), 0);
	lk = range(F_WRLCK, 11, 11);
	assert_int_equal(fs_setlk(t.fs, INO, &o2, &lk, NULL), 0);
	struct waiter w2 = { .t = &t, .o = o2, .lk = range(F_WRLCK, 10, 10) };
	waiter_start(&w2, 1);
	struct fs_lock_wait brief = { .timeout_ms = 30 };
	assert_int_equal(fs_setlk(t.fs, INO, &o1, &lk, &brief), -ETIMEDOUT);
	fs_lock_release_owner(t.fs, INO, &o1);
	assert_int_equal(waiter_join(&w2), 0);
	fsfix_done(&t);
}

static void test_releases_wake_waiters(void **state)
{
	struct fsfix t;
	fsfix_init(&t, "test-lock");
	struct fs_lock_owner a = owner(1, 1, FS_LOCK_POSIX), b = owner(1, 2, FS_LOCK_POSIX);
	assert_int_equal(set(&t, &a, F_WRLCK, 0, 9), 0);
	assert_int_equal(set(&t, &a, F_RDLCK, 20, 29), 0);
	struct fs_lock lk = range(F_WRLCK, 0, 0);
	assert_int_equal(fs_setlk(t.fs, INO + 1, &a, &lk, NULL), 0);
	assert_int_equal(fs_flock(t.fs, INO, &a, F_WRLCK, NULL), 0);
	struct waiter w = { .t = &t, .o = b, .lk = range(F_WRLCK, 0, 29) };
	waiter_start(&w, 1);
	fs_lock_release_owner(t.fs, INO, &a);   /* a closes the file */
	assert_int_equal(waiter_join(&w), 0);
	assert_int_equal(fs_setlk(t.fs, INO + 1, &b, &lk, NULL), -EAGAIN); /* other inode kept */
	assert_int_equal(fs_flock(t.fs, INO, &b, F_RDLCK, NULL), -EAGAIN); /* flock kept */
	fs_lock_release_owner(t.fs, 0, &a);     /* every inode */
	assert_int_equal(fs_setlk(t.fs, INO + 1, &b, &lk, NULL), 0);
	/* Every lock of an inode. */
	fs_lock_release_inode(t.fs, INO);
	assert_int_equal(records(&t), 0);
	assert_int_equal(lock_table_records(t.fs->locks, INO + 1), 1);
	/* Every lock through a frontend, on every inode. */
	fs_lock_release_frontend(t.fs, b.frontend);
	assert_int_equal(lock_table_records(t.fs->locks, INO + 1), 0);
	fsfix_done(&t);
}

/* ---- threads ----
 *
 * Threads take two random ranges each (read or write, blocking), in
 * random order, so they wait on each other and close cycles; a shared
 * byte map checks that no two ever hold conflicting locks, and a cycle
 * must end in -EDEADLK (then the thread lets go of everything), never in
 * a hang (the waits' timeout would fail the test). */

#define T_THREADS 4
#define T_BYTES 24

struct shared_map {
	pthread_mutex_t mu;
	int writer[T_BYTES];     /* thread holding a write lock, or -1 */
	int readers[T_BYTES];
	long granted, deadlocks;
};

struct worker {
	struct fsfix *t;
	struct shared_map *map;
	int id;
	uint64_t seed;
	int errors;
};

static void map_take(struct worker *w, int type, int lo, int hi, int sign)
{
	struct shared_map *m = w->map;
	pthread_mutex_lock(&m->mu);
	for (int b = lo; b <= hi; b++) {
		if (type == F_WRLCK) {
			if (sign > 0 && (m->writer[b] != -1 || m->readers[b]))
				w->errors++;
			m->writer[b] = sign > 0 ? w->id : -1;
		} else {
			if (sign > 0 && m->writer[b] != -1)
				w->errors++;
			m->readers[b] += sign;
		}
	}
	pthread_mutex_unlock(&m->mu);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct test_rng rng = { w->seed };
	struct fs_lock_owner o = owner(1, (uint64_t)w->id + 1, FS_LOCK_POSIX);
	for (int i = 0; i < 300; i++) {
		struct fs_lock held[2];
		int n = 0;
		for (int k = 0; k < 2; k++) {
			int lo = (int)test_rng_below(&rng, T_BYTES);
			int hi = lo + (int)test_rng_below(&rng, 3);
			hi = hi < T_BYTES ? hi : T_BYTES - 1;
			/* Disjoint from what this thread holds, so the map stays simple. */
			if (n && !(hi < (int)held[0].start || lo > (int)held[0].end))
				continue;
			struct fs_lock lk = range(test_rng_below(&rng, 2) ? F_WRLCK : F_RDLCK,
						  (uint64_t)lo, (uint64_t)hi);
			struct fs_lock_wait wait = { .timeout_ms = WAIT_MS };
			int r = fs_setlk(w->t->fs, INO, &o, &lk, &wait);
			if (r == -EDEADLK) {
				pthread_mutex_lock(&w->map->mu);
				w->map->deadlocks++;
				pthread_mutex_unlock(&w->map->mu);
				break;
			}
			if (r != 0) {
				w->errors++;
				break;
			}
			map_take(w, lk.type, lo, hi, +1);
			held[n++] = lk;
		}
		sched_yield();
		for (int k = n - 1; k >= 0; k--)
			map_take(w, held[k].type, (int)held[k].start, (int)held[k].end, -1);
		fs_lock_release_owner(w->t->fs, INO, &o);
		pthread_mutex_lock(&w->map->mu);
		w->map->granted += n;
		pthread_mutex_unlock(&w->map->mu);
	}
	return NULL;
}

static void test_threads_exclusion_and_deadlocks(void **state)
{
	uint64_t seed = test_seed("test-lock threads");
	struct fsfix t;
	struct shared_map map = { .mu = PTHREAD_MUTEX_INITIALIZER };
	struct worker w[T_THREADS];
	pthread_t th[T_THREADS];
	fsfix_init(&t, "test-lock");
	for (int b = 0; b < T_BYTES; b++)
		map.writer[b] = -1;
	for (int i = 0; i < T_THREADS; i++) {
		w[i] = (struct worker){ .t = &t, .map = &map, .id = i, .seed = seed + (uint64_t)i };
		assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
	}
	for (int i = 0; i < T_THREADS; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(w[i].errors, 0);
	}
	printf("# %ld locks granted, %ld deadlocks detected\n", map.granted, map.deadlocks);
	assert_true(map.granted > 0);
	assert_int_equal(records(&t), 0);
	assert_int_equal(lock_table_waiters(t.fs->locks), 0);
	fsfix_done(&t);
}

/* ---- a randomized model ----
 *
 * Cells 0..CELLS-1 are bytes; cell CELLS stands for every byte from CELLS
 * to the end of file (ranges that reach it end at FS_LOCK_EOF).  The
 * model holds each owner's lock type per cell and its flock type; every
 * request's result is checked against it, and after every step the
 * table's record count against the shortest form of the model. */

#define CELLS 40
#define OWNERS 4

/* Model values: F_RDLCK is 0 on Linux, so "none" needs its own. */
enum { M_NONE, M_RD, M_WR };

struct model {
	int cell[OWNERS][CELLS + 1];   /* M_NONE, M_RD or M_WR */
	int flock[OWNERS];
};

static int m_of(int type)
{
	return type == F_RDLCK ? M_RD : type == F_WRLCK ? M_WR : M_NONE;
}

static uint64_t cell_start(int c)
{
	return (uint64_t)c;
}

static uint64_t cell_end(int c)
{
	return c == CELLS ? EOF_ : (uint64_t)c;
}

static int cell_of(uint64_t off)
{
	return off >= CELLS ? CELLS : (int)off;
}

static bool m_conflict(int held, int want)
{
	return held != M_NONE && want != M_NONE && (held == M_WR || want == M_WR);
}

static bool model_conflict(const struct model *m, int who, int want, int lo, int hi)
{
	for (int o = 0; o < OWNERS; o++)
		for (int c = lo; o != who && c <= hi; c++)
			if (m_conflict(m->cell[o][c], want))
				return true;
	return false;
}

static size_t model_records(const struct model *m)
{
	size_t n = 0;
	for (int o = 0; o < OWNERS; o++) {
		for (int c = 0; c <= CELLS; c++)
			if (m->cell[o][c] && (c == 0 || m->cell[o][c - 1] != m->cell[o][c]))
				n++;
		n += m->flock[o] != M_NONE;
	}
	return n;
}

static void model_getlk(struct fsfix *t, struct model *m, const struct fs_lock_owner *owners,
			int who, int type, int lo, int hi)
{
	struct fs_lock lk = range(type, cell_start(lo), cell_end(hi));
	bool conflict = model_conflict(m, who, m_of(type), lo, hi);
	assert_int_equal(fs_getlk(t->fs, INO, &owners[who], &lk), 0);
	if (!conflict) {
		assert_int_equal(lk.type, F_UNLCK);
		return;
	}
	/* A real lock of another owner, overlapping, conflicting. */
	int holder = -1;
	for (int o = 0; o < OWNERS; o++)
		if (lk.pid == owners[o].pid)
			holder = o;
	assert_true(holder >= 0 && holder != who);
	assert_true(m_conflict(m_of(lk.type), m_of(type)));
	assert_true(lk.start <= cell_end(hi) && cell_start(lo) <= lk.end);
	assert_true(lk.end == EOF_ || lk.end < CELLS);
	int glo = cell_of(lk.start), ghi = cell_of(lk.end);
	for (int c = glo; c <= ghi; c++)
		assert_int_equal(m->cell[holder][c], m_of(lk.type));
	/* Maximal: the holder's record is its whole run. */
	assert_true(glo == 0 || m->cell[holder][glo - 1] != m_of(lk.type));
	assert_true(ghi == CELLS || m->cell[holder][ghi + 1] != m_of(lk.type));
}

static void model_flock(struct fsfix *t, struct model *m, const struct fs_lock_owner *owners,
			int who, int type)
{
	int want = m_of(type);
	int r = fs_flock(t->fs, INO, &owners[who], type, NULL);
	if (m->flock[who] == want && want != M_NONE) {
		assert_int_equal(r, 0); /* held already */
		return;
	}
	m->flock[who] = M_NONE; /* a conversion drops the old lock first */
	bool conflict = false;
	for (int o = 0; o < OWNERS; o++)
		conflict |= o != who && m_conflict(m->flock[o], want);
	assert_int_equal(r, conflict ? -EAGAIN : 0);
	if (!conflict)
		m->flock[who] = want;
}

static void model_step(struct fsfix *t, struct model *m, struct test_rng *rng,
		       const struct fs_lock_owner *owners)
{
	int who = (int)test_rng_below(rng, OWNERS);
	int lo = (int)test_rng_below(rng, CELLS + 1);
	int hi = lo + (int)test_rng_below(rng, (uint64_t)(CELLS + 1 - lo));
	static const int types[] = { F_RDLCK, F_WRLCK, F_UNLCK };
	int type = types[test_rng_below(rng, 3)];
	uint64_t op = test_rng_below(rng, 100);
	if (op < 50) {
		struct fs_lock lk = range(type, cell_start(lo), cell_end(hi));
		bool conflict = model_conflict(m, who, m_of(type), lo, hi);
		assert_int_equal(fs_setlk(t->fs, INO, &owners[who], &lk, NULL),
				 conflict ? -EAGAIN : 0);
		for (int c = lo; !conflict && c <= hi; c++)
			m->cell[who][c] = m_of(type);
	} else if (op < 85) {
		model_getlk(t, m, owners, who, type == F_UNLCK ? F_WRLCK : type, lo, hi);
	} else if (op < 97) {
		model_flock(t, m, owners, who, type);
	} else {
		fs_lock_release_owner(t->fs, INO, &owners[who]);
		memset(m->cell[who], 0, sizeof m->cell[who]);
	}
}

static void test_random_model(void **state)
{
	struct test_rng rng = { test_seed("test-lock model") };
	struct fsfix t;
	struct model m;
	fsfix_init(&t, "test-lock");
	memset(&m, 0, sizeof m);
	/* Owner ids repeat across frontends: identity is the pair. */
	const struct fs_lock_owner owners[OWNERS] = {
		owner(1, 1, FS_LOCK_POSIX), owner(1, 2, FS_LOCK_OFD),
		owner(2, 1, FS_LOCK_POSIX), owner(2, 2, FS_LOCK_POSIX),
	};
	long steps = test_env_long("TEST_LOCK_STEPS", 20000);
	for (long i = 0; i < steps; i++) {
		model_step(&t, &m, &rng, owners);
		assert_int_equal(records(&t), model_records(&m));
	}
	fsfix_done(&t);
}

int main(void)
{
	crypt_init();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_write_conflicts),
		cmocka_unit_test(test_split_and_merge),
		cmocka_unit_test(test_upgrade_downgrade),
		cmocka_unit_test(test_getlk_reports_holder),
		cmocka_unit_test(test_bad_requests),
		cmocka_unit_test(test_ranges_to_eof),
		cmocka_unit_test(test_flock_shared_exclusive),
		cmocka_unit_test(test_ofd_and_posix),
		cmocka_unit_test(test_blocking_woken_by_unlock),
		cmocka_unit_test(test_cancel_and_timeout),
		cmocka_unit_test(test_deadlock_detected),
		cmocka_unit_test(test_releases_wake_waiters),
		cmocka_unit_test(test_threads_exclusion_and_deadlocks),
		cmocka_unit_test(test_random_model),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
