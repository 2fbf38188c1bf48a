/* lock.c -- advisory byte-range and flock locks, in memory (fs.h has the
 * rules callers see).
 *
 * The table: a hash of inodes that have locks, each with two unordered
 * lists of records, range locks (POSIX and OFD, one namespace) and flock
 * locks.  Invariants: an owner's range records on an inode never overlap,
 * and two of its records of the same type are never adjacent (they are
 * merged), so the records are the owner's locks in their shortest form;
 * an owner has at most one flock record per inode; an inode entry with no
 * record is freed.  One mutex covers everything: lock calls are short
 * list walks, and locks are rare next to reads and writes.
 *
 * Waiting.  A blocked request puts a waiter (on its own stack, with its
 * own condition variable) on one list; whatever frees or weakens a lock
 * on an inode signals that inode's waiters, and each tries again.  There
 * is no queue order, as on Linux.  Cancel marks the request's wait token
 * and signals its waiter; the mark is checked before every sleep, so a
 * cancel that comes before the wait is not lost.
 *
 * Deadlocks (POSIX owners only): before sleeping, a request follows the
 * wait-for graph -- the owners of the locks it conflicts with, the
 * requests those owners are blocked in, the owners those conflict with --
 * and fails with -EDEADLK if it comes back to itself.  The walk is
 * bounded (LOCK_DEADLOCK_STEPS), as Linux bounds its own. */
#include "fs/lock.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "fs/fs_int.h"
#include "util/mem.h"

#define LOCK_BUCKETS 1024
#define LOCK_MAX_RECORDS (1u << 20)   /* -ENOLCK past it: bounded memory */
#define LOCK_DEADLOCK_STEPS 256       /* wait-for edges followed at most */

struct lock_rec {
	struct lock_rec *next;
	uint64_t frontend, owner, handle;
	uint32_t pid;
	int kind;                     /* FS_LOCK_POSIX, FS_LOCK_OFD (ranges) */
	int type;                     /* F_RDLCK or F_WRLCK */
	uint64_t start, end;          /* inclusive */
};

struct lock_inode {
	struct lock_inode *next;      /* hash chain */
	uint64_t ino;
	struct lock_rec *ranges;
	struct lock_rec *flocks;
};

struct lock_waiter {
	struct lock_waiter *next;
	uint64_t ino;
	struct fs_lock_owner o;
	struct fs_lock want;          /* flock: the whole file */
	bool flock;
	struct fs_lock_wait *token;
	pthread_cond_t cond;
};

struct lock_table {
	pthread_mutex_t mu;
	struct lock_inode *buckets[LOCK_BUCKETS];
	struct lock_waiter *waiters;
	size_t records;
};

/* ---- the table ---- */

struct lock_table *lock_table_new(void)
{
	struct lock_table *t = xcalloc(1, sizeof *t);
	pthread_mutex_init(&t->mu, NULL);
	return t;
}

static void recs_free(struct lock_rec *r)
{
	while (r) {
		struct lock_rec *next = r->next;
		free(r);
		r = next;
	}
}

void lock_table_free(struct lock_table *t)
{
	if (!t)
		return;
	assert(!t->waiters);
	for (size_t i = 0; i < LOCK_BUCKETS; i++)
		while (t->buckets[i]) {
			struct lock_inode *li = t->buckets[i];
			t->buckets[i] = li->next;
			recs_free(li->ranges);
			recs_free(li->flocks);
			free(li);
		}
	pthread_mutex_destroy(&t->mu);
	free(t);
}

static size_t bucket_of(uint64_t ino)
{
	return (size_t)((ino * 0x9e3779b97f4a7c15ull) >> 54) % LOCK_BUCKETS;
}

static struct lock_inode *inode_find(struct lock_table *t, uint64_t ino)
{
	for (struct lock_inode *li = t->buckets[bucket_of(ino)]; li; li = li->next)
		if (li->ino == ino)
			return li;
	return NULL;
}

static struct lock_inode *inode_get(struct lock_table *t, uint64_t ino)
{
	struct lock_inode *li = inode_find(t, ino);
	if (li)
		return li;
	li = xcalloc(1, sizeof *li);
	li->ino = ino;
	li->next = t->buckets[bucket_of(ino)];
	t->buckets[bucket_of(ino)] = li;
	return li;
}

/* Free the entry if it holds no record any more. */
static void inode_put(struct lock_table *t, struct lock_inode *li)
{
	if (!li || li->ranges || li->flocks)
		return;
	for (struct lock_inode **pp = &t->buckets[bucket_of(li->ino)]; *pp; pp = &(*pp)->next)
		if (*pp == li) {
			*pp = li->next;
			free(li);
			return;
		}
}

size_t lock_table_records(struct lock_table *t, uint64_t ino)
{
	size_t n = 0;
	pthread_mutex_lock(&t->mu);
	struct lock_inode *li = inode_find(t, ino);
	if (li) {
		for (struct lock_rec *r = li->ranges; r; r = r->next)
			n++;
		for (struct lock_rec *r = li->flocks; r; r = r->next)
			n++;
	}
	pthread_mutex_unlock(&t->mu);
	return n;
}

size_t lock_table_waiters(struct lock_table *t)
{
	size_t n = 0;
	pthread_mutex_lock(&t->mu);
	for (struct lock_waiter *w = t->waiters; w; w = w->next)
		n++;
	pthread_mutex_unlock(&t->mu);
	return n;
}

/* ---- records ---- */

static bool owned_by(const struct lock_rec *r, const struct fs_lock_owner *o)
{
	return r->frontend == o->frontend && r->owner == o->owner;
}

static bool overlaps(const struct lock_rec *r, uint64_t start, uint64_t end)
{
	return r->start <= end && start <= r->end;
}

static bool types_conflict(int a, int b)
{
	return a == F_WRLCK || b == F_WRLCK;
}

/* The first record of another owner that conflicts with o taking type
 * over [start, end]. */
static struct lock_rec *find_conflict(struct lock_rec *list, const struct fs_lock_owner *o,
				      int type, uint64_t start, uint64_t end)
{
	for (struct lock_rec *r = list; r; r = r->next)
		if (!owned_by(r, o) && overlaps(r, start, end) && types_conflict(r->type, type))
			return r;
	return NULL;
}

static struct lock_rec *rec_new(struct lock_table *t, const struct fs_lock_owner *o, int type,
				uint64_t start, uint64_t end)
{
	struct lock_rec *r = xcalloc(1, sizeof *r);
	r->frontend = o->frontend;
	r->owner = o->owner;
	r->handle = o->handle;
	r->pid = o->pid;
	r->kind = o->kind;
	r->type = type;
	r->start = start;
	r->end = end;
	t->records++;
	return r;
}

static void rec_unlink(struct lock_table *t, struct lock_rec **pp)
{
	struct lock_rec *r = *pp;
	*pp = r->next;
	free(r);
	t->records--;
}

/* Take [start, end] out of o's range records: drop what it covers, trim
 * what it overlaps, split a record that holds it strictly inside. */
static void ranges_cut(struct lock_table *t, struct lock_inode *li, const struct fs_lock_owner *o,
		       uint64_t start, uint64_t end)
{
	struct lock_rec **pp = &li->ranges;
	while (*pp) {
		struct lock_rec *r = *pp;
		if (!owned_by(r, o) || !overlaps(r, start, end)) {
			pp = &r->next;
		} else if (r->start < start && r->end > end) {
			struct lock_rec *tail = xmalloc(sizeof *tail);
			*tail = *r;
			t->records++;
			tail->start = end + 1;
			r->end = start - 1;
			tail->next = r->next;
			r->next = tail;
			pp = &tail->next;
		} else if (r->start < start) {
			r->end = start - 1;
			pp = &r->next;
		} else if (r->end > end) {
			r->start = end + 1;
			pp = &r->next;
		} else {
			rec_unlink(t, pp);
		}
	}
}

/* Give o type over [start, end], no conflict being there: cut the range
 * out of o's records, then merge it with o's adjacent records of the
 * same type (at most one on each side, by the invariants). */
static void ranges_apply(struct lock_table *t, struct lock_inode *li,
			 const struct fs_lock_owner *o, int type, uint64_t start, uint64_t end)
{
	ranges_cut(t, li, o, start, end);
	if (type == F_UNLCK)
		return;
	uint64_t lo = start, hi = end;
	struct lock_rec **pp = &li->ranges;
	while (*pp) {
		struct lock_rec *r = *pp;
		bool left = start > 0 && r->end == start - 1;
		bool right = end != FS_LOCK_EOF && r->start == end + 1;
		if (owned_by(r, o) && r->type == type && (left || right)) {
			if (left)
				lo = r->start;
			else
				hi = r->end;
			rec_unlink(t, pp);
		} else {
			pp = &r->next;
		}
	}
	struct lock_rec *n = rec_new(t, o, type, lo, hi);
	n->next = li->ranges;
	li->ranges = n;
}

/* ---- waiting ---- */

static void wake_inode(struct lock_table *t, uint64_t ino)
{
	for (struct lock_waiter *w = t->waiters; w; w = w->next)
		if (w->ino == ino)
			pthread_cond_signal(&w->cond);
}

static void waiter_add(struct lock_table *t, struct lock_waiter *w)
{
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cond, &ca);
	pthread_condattr_destroy(&ca);
	w->next = t->waiters;
	t->waiters = w;
}

static void waiter_remove(struct lock_table *t, struct lock_waiter *w)
{
	for (struct lock_waiter **pp = &t->waiters; *pp; pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	pthread_cond_destroy(&w->cond);
}

static void deadline_of(const struct fs_lock_wait *wait, struct timespec *ts)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	uint64_t ns = (uint64_t)ts->tv_nsec + (uint64_t)wait->timeout_ms * 1000000ull;
	ts->tv_sec += (time_t)(ns / 1000000000ull);
	ts->tv_nsec = (long)(ns % 1000000000ull);
}

/* Sleep once (t->mu held): 0 when woken, -EINTR if cancelled, -ETIMEDOUT
 * once the deadline passed. */
static int wait_once(struct lock_table *t, struct lock_waiter *w, const struct timespec *deadline)
{
	if (w->token->cancelled)
		return -EINTR;
	if (!w->token->timeout_ms) {
		pthread_cond_wait(&w->cond, &t->mu);
	} else if (pthread_cond_timedwait(&w->cond, &t->mu, deadline) == ETIMEDOUT) {
		return w->token->cancelled ? -EINTR : -ETIMEDOUT;
	}
	return w->token->cancelled ? -EINTR : 0;
}

/* Does `want` by `by` on ino wait, through the graph, for `target`? */
static bool waits_for(struct lock_table *t, const struct fs_lock_owner *target, uint64_t ino,
		      const struct fs_lock_owner *by, const struct fs_lock *want, int *steps)
{
	struct lock_inode *li = inode_find(t, ino);
	if (!li)
		return false;
	for (struct lock_rec *r = li->ranges; r; r = r->next) {
		if (owned_by(r, by) || !overlaps(r, want->start, want->end) ||
		    !types_conflict(r->type, want->type))
			continue;
		if (owned_by(r, target))
			return true;
		if (r->kind != FS_LOCK_POSIX)
			continue;
		for (struct lock_waiter *w = t->waiters; w; w = w->next) {
			if (w->flock || w->o.kind != FS_LOCK_POSIX || !owned_by(r, &w->o))
				continue;
			if (--*steps < 0)
				return false;
			if (waits_for(t, target, w->ino, &w->o, &w->want, steps))
				return true;
		}
	}
	return false;
}

static bool would_deadlock(struct lock_table *t, uint64_t ino, const struct fs_lock_owner *o,
			   const struct fs_lock *want)
{
	int steps = LOCK_DEADLOCK_STEPS;
	return o->kind == FS_LOCK_POSIX && waits_for(t, o, ino, o, want, &steps);
}

/* ---- range locks ---- */

static int check_range(const struct fs_lock *lk)
{
	if (lk->type != F_RDLCK && lk->type != F_WRLCK && lk->type != F_UNLCK)
		return -EINVAL;
	return lk->start <= lk->end ? 0 : -EINVAL;
}

static bool owner_ok(const struct fs_lock_owner *o)
{
	return o && (o->kind == FS_LOCK_POSIX || o->kind == FS_LOCK_OFD);
}

int fs_getlk(struct fs *fs, uint64_t ino, const struct fs_lock_owner *o, struct fs_lock *lk)
{
	struct lock_table *t = fs->locks;
	if (!owner_ok(o) || check_range(lk) < 0 || lk->type == F_UNLCK)
		return -EINVAL;
	pthread_mutex_lock(&t->mu);
	struct lock_inode *li = inode_find(t, ino);
	struct lock_rec *c = li ? find_conflict(li->ranges, o, lk->type, lk->start, lk->end) : NULL;
	if (c) {
		lk->type = c->type;
		lk->start = c->start;
		lk->end = c->end;
		lk->pid = c->pid;
		lk->owner = c->owner;
	} else {
		lk->type = F_UNLCK;
	}
	pthread_mutex_unlock(&t->mu);
	return 0;
}

/* One attempt (t->mu held): 0 granted, -EAGAIN on a conflict. */
static int setlk_try(struct lock_table *t, uint64_t ino, const struct fs_lock_owner *o,
		     const struct fs_lock *lk)
{
	struct lock_inode *li = lk->type == F_UNLCK ? inode_find(t, ino) : inode_get(t, ino);
	int r = 0;
	if (!li)
		return 0;
	if (lk->type != F_UNLCK && find_conflict(li->ranges, o, lk->type, lk->start, lk->end))
		r = -EAGAIN;
	else if (t->records + 2 > LOCK_MAX_RECORDS)
		r = -ENOLCK; /* a split and a new record at most */
	if (r == 0) {
		ranges_apply(t, li, o, lk->type, lk->start, lk->end);
		wake_inode(t, ino); /* an unlock or a downgrade may let others in */
	}
	inode_put(t, li);
	return r;
}

int fs_setlk(struct fs *fs, uint64_t ino, const struct fs_lock_owner *o,
	     const struct fs_lock *lk, struct fs_lock_wait *wait)
{
	struct lock_table *t = fs->locks;
	struct lock_waiter w = { .ino = ino, .token = wait, .flock = false };
	struct timespec deadline;
	if (!owner_ok(o) || check_range(lk) < 0)
		return -EINVAL;
	pthread_mutex_lock(&t->mu);
	int r = setlk_try(t, ino, o, lk);
	if (r == -EAGAIN && wait) {
		w.o = *o;
		w.want = *lk;
		waiter_add(t, &w);
		deadline_of(wait, &deadline);
		while (r == -EAGAIN) {
			if (would_deadlock(t, ino, o, lk)) {
				r = -EDEADLK;
				break;
			}
			r = wait_once(t, &w, &deadline);
			if (r == 0)
				r = setlk_try(t, ino, o, lk);
		}
		waiter_remove(t, &w);
	}
	pthread_mutex_unlock(&t->mu);
	return r;
}

/* ---- flock ---- */

static struct lock_rec **flock_of(struct lock_inode *li, const struct fs_lock_owner *o)
{
	for (struct lock_rec **pp = &li->flocks; *pp; pp = &(*pp)->next)
		if (owned_by(*pp, o))
			return pp;
	return NULL;
}

/* One attempt at taking type (t->mu held, o holding no flock on ino). */
static int flock_try(struct lock_table *t, uint64_t ino, const struct fs_lock_owner *o, int type)
{
	struct lock_inode *li = inode_get(t, ino);
	int r = 0;
	if (find_conflict(li->flocks, o, type, 0, FS_LOCK_EOF))
		r = -EAGAIN;
	else if (t->records + 1 > LOCK_MAX_RECORDS)
		r = -ENOLCK;
	if (r == 0) {
		struct lock_rec *n = rec_new(t, o, type, 0, FS_LOCK_EOF);
		n->next = li->flocks;
		li->flocks = n;
	}
	inode_put(t, li);
	return r;
}

/* Drop o's flock on ino; true if it held one of the same type (kept). */
static bool flock_drop_other(struct lock_table *t, uint64_t ino, const struct fs_lock_owner *o,
			     int type)
{
	struct lock_inode *li = inode_find(t, ino);
	struct lock_rec **pp = li ? flock_of(li, o) : NULL;
	if (!pp)
		return false;
	if ((*pp)->type == type)
		return true;
	rec_unlink(t, pp);
	wake_inode(t, ino);
	inode_put(t, li);
	return false;
}

int fs_flock(struct fs *fs, uint64_t ino, const struct fs_lock_owner *o, int type,
	     struct fs_lock_wait *wait)
{
	struct lock_table *t = fs->locks;
	struct lock_waiter w = { .ino = ino, .token = wait, .flock = true };
	struct timespec deadline;
	if (!o || (type != F_RDLCK && type != F_WRLCK && type != F_UNLCK))
		return -EINVAL;
	pthread_mutex_lock(&t->mu);
	/* As Linux: a conversion drops the old lock first, so it is not
	 * atomic (and a failed one leaves none). */
	int r = 0;
	if (!flock_drop_other(t, ino, o, type) && type != F_UNLCK)
		r = flock_try(t, ino, o, type);
	if (r == -EAGAIN && wait) {
		w.o = *o;
		w.want = (struct fs_lock){ .type = type, .start = 0, .end = FS_LOCK_EOF };
		waiter_add(t, &w);
		deadline_of(wait, &deadline);
		while (r == -EAGAIN) {
			r = wait_once(t, &w, &deadline);
			if (r == 0)
				r = flock_try(t, ino, o, type);
		}
		waiter_remove(t, &w);
	}
	pthread_mutex_unlock(&t->mu);
	return r;
}

void fs_lock_cancel(struct fs *fs, struct fs_lock_wait *wait)
{
	struct lock_table *t = fs->locks;
	pthread_mutex_lock(&t->mu);
	wait->cancelled = true;
	for (struct lock_waiter *w = t->waiters; w; w = w->next)
		if (w->token == wait)
			pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&t->mu);
}

/* ---- releases ---- */

/* What a release drops; a record goes when match says so. */
struct release {
	const struct fs_lock_owner *o;   /* release_owner */
	uint64_t frontend, handle;       /* release_handle, release_frontend */
	enum { BY_OWNER, BY_HANDLE, BY_INODE, BY_FRONTEND } by;
};

static bool release_match(const struct release *rl, const struct lock_rec *r)
{
	switch (rl->by) {
	case BY_OWNER:
		return owned_by(r, rl->o);
	case BY_HANDLE:
		return r->frontend == rl->frontend && r->handle == rl->handle;
	case BY_INODE:
		return true;
	case BY_FRONTEND:
		return r->frontend == rl->frontend;
	}
	return false;
}

static bool release_list(struct lock_table *t, struct lock_rec **pp, const struct release *rl)
{
	bool any = false;
	while (*pp)
		if (release_match(rl, *pp)) {
			rec_unlink(t, pp);
			any = true;
		} else {
			pp = &(*pp)->next;
		}
	return any;
}

/* Release in one inode (t->mu held); may free li. */
static void release_inode(struct lock_table *t, struct lock_inode *li, const struct release *rl)
{
	bool any = release_list(t, &li->ranges, rl);
	if (rl->by != BY_OWNER) /* close(2) of a POSIX owner keeps its flocks */
		any |= release_list(t, &li->flocks, rl);
	if (any)
		wake_inode(t, li->ino);
	inode_put(t, li);
}

/* ino 0: every inode. */
static void release(struct lock_table *t, uint64_t ino, const struct release *rl)
{
	if (ino) {
		struct lock_inode *li = inode_find(t, ino);
		if (li)
			release_inode(t, li, rl);
		return;
	}
	for (size_t i = 0; i < LOCK_BUCKETS; i++) {
		struct lock_inode *li = t->buckets[i];
		while (li) {
			struct lock_inode *next = li->next;
			release_inode(t, li, rl);
			li = next;
		}
	}
}

void fs_lock_release_owner(struct fs *fs, uint64_t ino, const struct fs_lock_owner *o)
{
	struct release rl = { .o = o, .by = BY_OWNER };
	pthread_mutex_lock(&fs->locks->mu);
	release(fs->locks, ino, &rl);
	pthread_mutex_unlock(&fs->locks->mu);
}

void fs_lock_release_handle(struct fs *fs, uint64_t ino, uint64_t frontend, uint64_t handle)
{
	struct release rl = { .frontend = frontend, .handle = handle, .by = BY_HANDLE };
	if (!handle)
		return; /* 0 is "no handle": it names no open file */
	pthread_mutex_lock(&fs->locks->mu);
	release(fs->locks, ino, &rl);
	pthread_mutex_unlock(&fs->locks->mu);
}

void fs_lock_release_inode(struct fs *fs, uint64_t ino)
{
	struct release rl = { .by = BY_INODE };
	if (!ino)
		return;
	pthread_mutex_lock(&fs->locks->mu);
	release(fs->locks, ino, &rl);
	pthread_mutex_unlock(&fs->locks->mu);
}

void fs_lock_release_frontend(struct fs *fs, uint64_t frontend)
{
	struct lock_table *t = fs->locks;
	struct release rl = { .frontend = frontend, .by = BY_FRONTEND };
	pthread_mutex_lock(&t->mu);
	release(t, 0, &rl);
	for (struct lock_waiter *w = t->waiters; w; w = w->next)
		if (w->o.frontend == frontend) {
			w->token->cancelled = true;
			pthread_cond_signal(&w->cond);
		}
	pthread_mutex_unlock(&t->mu);
}
