/* reclaim.c -- the reclaimer: big deletes in bounded chunks.
 *
 * Deleting a file removes one key per stored extent; for a big file that
 * would be one huge batch under one long lock hold.  Instead the batch
 * that drops the last name (or the last release) keeps the record
 * (nlink 0) and writes an orphan key 'O' ino, and this thread then removes
 * the data front to back, at most chunk_bytes of stored extents per
 * transaction, holding the inode's stripe for one chunk at a time.  The
 * orphan key's value is the offset reclaimed so far (u64; empty = 0),
 * written in the chunk's own batch together with the counters: an orphan
 * accounts for size - offset used bytes, so statfs sees the space come
 * back chunk by chunk and a crash anywhere leaves record, cursor and
 * counters in step.  The last transaction deletes the record, its xattrs
 * and the orphan key.  fs_open() queues every orphan whose inode has no
 * name left; their chunks resume where the cursor says.
 *
 * A big shrink of a file that keeps its name works the same way: the
 * batch that lowers the size (fs_set_size) zeroes the partial extent and
 * writes the orphan key with the cursor at the next extent boundary; what
 * lies past the size is unreachable (reads, fs_map and the counters go by
 * the size), and this thread removes it chunk by chunk, then the key.
 * An operation that would make the file grow past its size first
 * finishes that work itself (fs_reclaim_finish), so old data never shows
 * through.  It asks the orphan key, not the queue: the key is the truth
 * (the queue is only this thread's list of work), so an entry missing
 * from the queue can delay the cleanup but never expose old data.
 *
 * A chunk that fails (a store read, a commit) changes nothing: the key
 * keeps its cursor and the inode stays queued, moved to the back with a
 * backoff (RETRY_FIRST_MS doubling up to RETRY_MAX_MS), so a transient
 * error delays the cleanup and a lasting one does not stall the others.
 *
 * Threads: one, started by fs_reclaim_start on a writer. */
#include "fs/fs_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/clock.h"
#include "util/coding.h"
#include "util/log.h"
#include "util/mem.h"

struct reclaim {
	struct fs *fs;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t work, idle;
	struct qent {
		uint64_t ino;
		uint64_t seq;         /* bumped when queued again while queued */
		uint64_t retry_ns;    /* failed: not before this (monotonic), else 0 */
		unsigned failures;    /* in a row */
	} *queue;
	size_t n, cap;
	uint64_t next_seq;
	bool stop, paused, busy;
	uint64_t chunk_bytes;
	_Atomic uint64_t chunks, failures;
};

#define RETRY_FIRST_MS 100
#define RETRY_MAX_MS 30000

bool fs_reclaim_big(struct fs *fs, const struct inode *in)
{
	uint64_t chunk = fs->o.reclaim_chunk_bytes ? fs->o.reclaim_chunk_bytes :
						     FS_RECLAIM_CHUNK_BYTES;
	return S_ISREG(in->mode) && fs->rc && in->extents > chunk / DATA_EXTENT_BYTES;
}

/* The orphan key's cursor; *has: the key holds one (8 bytes). */
static int read_cursor(struct fs *fs, uint64_t ino, uint64_t *cursor, bool *has)
{
	uint8_t k[9];
	struct buf v = BUF_INIT;
	int r = lsm_get(fs->db, k, fs_key_orphan(k, ino), &v);
	*cursor = 0;
	*has = false;
	if (r == 0 && v.len == 8) {
		*cursor = be64_get(v.data);
		*has = true;
	} else if (r == 0 && v.len != 0) {
		log_error("fs: orphan key of inode %" PRIu64 " holds %zu bytes, not 0 or 8", ino,
			  v.len);
		r = -EIO;
	}
	buf_free(&v);
	return r;
}

/* Where the next chunk ends: after `left` stored extents from the cursor. */
struct cut {
	uint64_t left, end;
	bool more;
	uint64_t last_end;        /* end of the last data run seen */
};

static int cut_cb(void *arg, uint64_t off, uint64_t len, bool data)
{
	struct cut *c = arg;
	if (!data)
		return 0;
	c->last_end = off + len;
	uint64_t n = len / DATA_EXTENT_BYTES;
	if (n >= c->left) {
		c->end = off + c->left * DATA_EXTENT_BYTES;
		c->more = true;
		return 1;
	}
	c->left -= n;
	return 0;
}

/* One transaction.  1: more to do, 0: done with this inode, <0: error.
 * An orphan (nlink 0) loses its data and then its record; a live inode
 * with a cursor (a big shrink, fs_set_size) loses the data past its size
 * and then the key. */
static int reclaim_chunk(struct reclaim *rc, uint64_t ino)
{
	struct fs *fs = rc->fs;
	struct fs_op op;
	struct inode *in;
	uint8_t k[9];
	uint64_t cursor = 0;
	bool has = false;
	int more = 0;
	fs_op_begin(fs, &op, FS_OP_RECLAIM, NULL, true);
	fs_op_lock(&op, ino, 0, 0, 0);
	int r = fs_op_load(&op, ino, &in);
	if (r == 0)
		r = read_cursor(fs, ino, &cursor, &has);
	bool live = r == 0 && in->nlink > 0;
	if (r == -ENOENT || (live && !has)) {
		/* A stale orphan key: nothing (left) to reclaim. */
		lsm_batch_delete(fs_op_batch(&op), k, fs_key_orphan(k, ino));
		r = fs_op_commit(&op);
		return fs_op_end(&op, r, NULL, 0, 0, 0);
	}
	if (r == 0 && !live && fs_open_count(fs, ino) > 0)
		return fs_op_end(&op, 0, NULL, 0, 0, 0); /* the last release queues it */
	struct cut c = { rc->chunk_bytes / DATA_EXTENT_BYTES, 0, false, 0 };
	if (c.left == 0)
		c.left = 1;
	if (r == 0 && S_ISREG(in->mode)) {
		r = data_map(fs->data, ino, cursor, UINT64_MAX - cursor, cut_cb, &c);
		r = r == 1 ? 0 : r;
	}
	if (r == 0 && c.more) {
		/* Punch [cursor, end) and move the cursor past it. */
		r = data_punch(fs_op_txn(&op), ino, cursor, c.end);
		uint8_t v[8];
		be64_put(v, c.end);
		lsm_batch_put(fs_op_batch(&op), k, fs_key_orphan(k, ino), v, sizeof v);
		/* A live inode's size is below its cursor: nothing of it counted. */
		uint64_t from = cursor < in->size ? cursor : in->size;
		uint64_t to = c.end < in->size ? c.end : in->size;
		if (!live)
			op.d_bytes -= (int64_t)(to - from);
		fs_op_dirty(&op, in);
		more = 1;
	} else if (r == 0) {
		/* Less than a chunk left past the cursor: it goes now (it may
		 * lie past the size: what a big shrink left). */
		if (c.last_end > INT64_MAX)
			c.last_end = INT64_MAX; /* the last extent a file can have */
		if (c.last_end > cursor) {
			r = data_punch(fs_op_txn(&op), ino, cursor, c.last_end);
			fs_op_dirty(&op, in);
		}
	}
	if (r == 0 && !more && live) {
		lsm_batch_delete(fs_op_batch(&op), k, fs_key_orphan(k, ino));
	} else if (r == 0 && !more) {
		/* The record goes, and with it what the orphan still
		 * accounted for. */
		uint64_t done = c.last_end > cursor ? c.last_end : cursor;
		r = fs_delete_inode(&op, in, done);
		if (S_ISREG(in->mode))
			op.d_bytes += (int64_t)(cursor < in->size ? cursor : in->size);
	}
	if (r == 0)
		r = fs_op_commit(&op);
	if (r == 0)
		atomic_fetch_add(&rc->chunks, 1);
	r = fs_op_end(&op, r, NULL, 0, 0, 0);
	if (r < 0) {
		atomic_fetch_add(&rc->failures, 1);
		log_error("fs: reclaim of inode %" PRIu64 " (%s) at offset %" PRIu64 " failed: %s; "
			  "its orphan key keeps the cursor and the chunk is retried", ino,
			  live ? "truncated" : "unlinked", cursor, strerror(-r));
	}
	return r < 0 ? r : more;
}

/* Under rc->mu: the inode's entry, or NULL. */
static struct qent *queue_find_locked(struct reclaim *rc, uint64_t ino)
{
	for (size_t i = 0; i < rc->n; i++)
		if (rc->queue[i].ino == ino)
			return &rc->queue[i];
	return NULL;
}

/* Under rc->mu: drop the entry, unless it was queued again (seq moved)
 * after the work that found nothing left began. */
static void queue_done_locked(struct reclaim *rc, uint64_t ino, uint64_t seq)
{
	struct qent *q = queue_find_locked(rc, ino);
	if (!q || q->seq != seq)
		return;
	size_t i = (size_t)(q - rc->queue);
	memmove(rc->queue + i, rc->queue + i + 1, (rc->n - i - 1) * sizeof *rc->queue);
	rc->n--;
}

/* Under rc->mu: a new entry at the back. */
static struct qent *queue_add_locked(struct reclaim *rc, uint64_t ino)
{
	if (rc->n == rc->cap) {
		rc->cap = rc->cap ? rc->cap * 2 : 16;
		rc->queue = xrealloc(rc->queue, rc->cap * sizeof *rc->queue);
	}
	struct qent *q = &rc->queue[rc->n++];
	memset(q, 0, sizeof *q);
	q->ino = ino;
	q->seq = ++rc->next_seq;
	return q;
}

/* Under rc->mu: a chunk of ino failed.  Its entry (made again if it was
 * not queued) goes to the back and waits for its backoff. */
static void queue_failed_locked(struct reclaim *rc, uint64_t ino)
{
	struct qent *q = queue_find_locked(rc, ino), e;
	if (q) {
		e = *q;
		size_t i = (size_t)(q - rc->queue);
		memmove(rc->queue + i, rc->queue + i + 1, (rc->n - i - 1) * sizeof *rc->queue);
		rc->queue[rc->n - 1] = e;
		q = &rc->queue[rc->n - 1];
	} else {
		q = queue_add_locked(rc, ino);
	}
	unsigned shift = q->failures < 16 ? q->failures : 16;
	uint64_t ms = (uint64_t)RETRY_FIRST_MS << shift;
	q->failures++;
	q->retry_ns = clock_mono_ns() + (ms < RETRY_MAX_MS ? ms : RETRY_MAX_MS) * 1000000u;
	pthread_cond_signal(&rc->work);
}

/* Under rc->mu: a chunk of ino went through; it may run again at once. */
static void queue_progress_locked(struct reclaim *rc, uint64_t ino)
{
	struct qent *q = queue_find_locked(rc, ino);
	if (q) {
		q->failures = 0;
		q->retry_ns = 0;
	}
}

/* Under rc->mu: what a chunk's result means for the queue. */
static void queue_after_chunk_locked(struct reclaim *rc, uint64_t ino, uint64_t seq, int r)
{
	if (r < 0)
		queue_failed_locked(rc, ino);
	else if (r == 0)
		queue_done_locked(rc, ino, seq);
	else
		queue_progress_locked(rc, ino);
}

/* Under rc->mu: the first entry whose backoff is over, or NULL; *wake:
 * the earliest retry time of the others (0 if none waits). */
static struct qent *queue_ready_locked(struct reclaim *rc, uint64_t now, uint64_t *wake)
{
	*wake = 0;
	for (size_t i = 0; i < rc->n; i++) {
		struct qent *q = &rc->queue[i];
		if (q->retry_ns <= now)
			return q;
		if (!*wake || q->retry_ns < *wake)
			*wake = q->retry_ns;
	}
	return NULL;
}

/* Under rc->mu: the entry's seq (0 if not queued). */
static uint64_t queue_seq_locked(struct reclaim *rc, uint64_t ino)
{
	struct qent *q = queue_find_locked(rc, ino);
	return q ? q->seq : 0;
}

int fs_reclaim_finish(struct fs *fs, uint64_t ino)
{
	struct reclaim *rc = fs->rc;
	int r;
	if (!rc)
		return 0;
	pthread_mutex_lock(&rc->mu);
	uint64_t seq = queue_seq_locked(rc, ino);
	pthread_mutex_unlock(&rc->mu);
	while ((r = reclaim_chunk(rc, ino)) == 1)
		;
	/* A failure keeps (or puts) it in the queue: the thread retries,
	 * and the caller's next growth finds the key again. */
	pthread_mutex_lock(&rc->mu);
	queue_after_chunk_locked(rc, ino, seq, r);
	pthread_mutex_unlock(&rc->mu);
	return r;
}

int fs_reclaim_pending(struct fs *fs, uint64_t ino)
{
	uint8_t k[9];
	if (!fs->rc)
		return 0; /* a read-only instance: nobody trims, nobody grows */
	int r = lsm_get(fs->db, k, fs_key_orphan(k, ino), NULL);
	if (r < 0 && r != -ENOENT)
		log_error("fs: inode %" PRIu64 ": cannot read its orphan key to see whether a "
			  "trim is pending: %s", ino, strerror(-r));
	return r == 0 ? 1 : r == -ENOENT ? 0 : r;
}

int fs_reclaim_cursor(struct fs *fs, uint64_t ino, uint64_t *cursor, bool *has)
{
	return read_cursor(fs, ino, cursor, has);
}

static void *reclaim_main(void *arg)
{
	struct reclaim *rc = arg;
	pthread_mutex_lock(&rc->mu);
	for (;;) {
		while (!rc->stop && (rc->paused || rc->n == 0)) {
			pthread_cond_broadcast(&rc->idle);
			pthread_cond_wait(&rc->work, &rc->mu);
		}
		if (rc->stop)
			break;
		uint64_t wake, now = clock_mono_ns();
		struct qent *q = queue_ready_locked(rc, now, &wake);
		if (!q) {
			/* Only failed entries, all waiting for their backoff. */
			clock_cond_wait(&rc->work, &rc->mu, wake - now);
			continue;
		}
		uint64_t ino = q->ino, seq = q->seq;
		rc->busy = true;
		pthread_mutex_unlock(&rc->mu);
		int r = reclaim_chunk(rc, ino);
		pthread_mutex_lock(&rc->mu);
		rc->busy = false;
		queue_after_chunk_locked(rc, ino, seq, r);
	}
	rc->busy = false;
	pthread_cond_broadcast(&rc->idle);
	pthread_mutex_unlock(&rc->mu);
	return NULL;
}

static bool reclaim_pending(struct reclaim *rc)
{
	pthread_mutex_lock(&rc->mu);
	bool pending = rc->n > 0;
	pthread_mutex_unlock(&rc->mu);
	return pending;
}

void fs_reclaim_queue(struct fs *fs, uint64_t ino)
{
	struct reclaim *rc = fs->rc;
	if (!rc)
		return;
	pthread_mutex_lock(&rc->mu);
	struct qent *q = queue_find_locked(rc, ino);
	if (q)
		q->seq = ++rc->next_seq; /* new work: whoever is at it must look again */
	else
		queue_add_locked(rc, ino);
	pthread_cond_signal(&rc->work);
	pthread_mutex_unlock(&rc->mu);
}

static void queue_failed(struct reclaim *rc, uint64_t ino)
{
	pthread_mutex_lock(&rc->mu);
	queue_failed_locked(rc, ino);
	pthread_mutex_unlock(&rc->mu);
}

/* Orphans left by an earlier run (none is open now): small ones go at
 * once, as one batch each; big ones are queued for the thread. */
static int queue_orphans(struct reclaim *rc)
{
	struct fs *fs = rc->fs;
	uint8_t prefix[1] = { KEY_ORPHAN };
	struct lsm_iter *it;
	uint64_t *inos = NULL;
	size_t n = 0, big = 0;
	int r = lsm_iter_new(fs->db, prefix, 1, NULL, 0, &it);
	if (r < 0)
		return r;
	for (; lsm_iter_valid(it); lsm_iter_next(it)) {
		size_t kl;
		const uint8_t *k = lsm_iter_key(it, &kl);
		if (kl != 9)
			continue;
		inos = xrealloc(inos, (n + 1) * sizeof *inos);
		inos[n++] = be64_get(k + 1);
	}
	r = lsm_iter_status(it);
	lsm_iter_free(it);
	if (r < 0)
		log_error("fs: cannot list the orphans left by the last run: %s", strerror(-r));
	for (size_t i = 0; r == 0 && i < n; i++) {
		struct inode in;
		uint64_t cursor = 0;
		bool has = false;
		int e = fs_inode_load(fs, inos[i], &in);
		if (e == 0) {
			e = fs_inode_count_extents(fs, &in);
			if (e == 0)
				e = read_cursor(fs, inos[i], &cursor, &has);
			/* Big, begun, or a live inode's trim: the thread's work. */
			bool queue = e == 0 && (fs_reclaim_big(fs, &in) || has);
			fs_inode_free(&in);
			if (queue) {
				fs_reclaim_queue(fs, inos[i]);
				big++;
				continue;
			}
		}
		if (e < 0 && e != -ENOENT) {
			/* Keep the key and retry: the record may be readable
			 * in a moment. */
			log_error("fs: orphan inode %" PRIu64 ": cannot read it to reclaim it: %s; "
				  "retrying", inos[i], strerror(-e));
			queue_failed(rc, inos[i]);
			big++;
			continue;
		}
		if (reclaim_chunk(rc, inos[i]) < 0) { /* logs its own errors */
			queue_failed(rc, inos[i]);
			big++;
		}
	}
	if (n)
		log_info("fs: %zu files unlinked before the last shutdown: %zu reclaimed now, %zu "
			 "in the background", n, n - big, big);
	free(inos);
	return r;
}

int fs_reclaim_start(struct fs *fs)
{
	struct reclaim *rc = xcalloc(1, sizeof *rc);
	rc->fs = fs;
	rc->paused = fs->o.reclaim_paused;
	rc->chunk_bytes = fs->o.reclaim_chunk_bytes ? fs->o.reclaim_chunk_bytes :
						     FS_RECLAIM_CHUNK_BYTES;
	pthread_mutex_init(&rc->mu, NULL);
	pthread_cond_init(&rc->work, NULL);
	pthread_cond_init(&rc->idle, NULL);
	fs->rc = rc;
	int r = queue_orphans(rc);
	if (r == 0 && (r = -pthread_create(&rc->thread, NULL, reclaim_main, rc)) < 0)
		log_error("fs: cannot start the reclaimer thread: %s", strerror(-r));
	if (r < 0) {
		pthread_mutex_destroy(&rc->mu);
		pthread_cond_destroy(&rc->work);
		pthread_cond_destroy(&rc->idle);
		free(rc->queue);
		free(rc);
		fs->rc = NULL;
	}
	return r;
}

void fs_reclaim_stop(struct fs *fs)
{
	struct reclaim *rc = fs->rc;
	if (!rc)
		return;
	pthread_mutex_lock(&rc->mu);
	rc->stop = true;
	pthread_cond_broadcast(&rc->work);
	pthread_mutex_unlock(&rc->mu);
	pthread_join(rc->thread, NULL);
	fs->rc = NULL;
	pthread_mutex_destroy(&rc->mu);
	pthread_cond_destroy(&rc->work);
	pthread_cond_destroy(&rc->idle);
	free(rc->queue);
	free(rc);
}

void fs_reclaim_pause(struct fs *fs, bool paused)
{
	struct reclaim *rc = fs->rc;
	if (!rc)
		return;
	pthread_mutex_lock(&rc->mu);
	rc->paused = paused;
	pthread_cond_broadcast(&rc->work);
	/* Pausing waits for the chunk in progress, so nothing runs after. */
	while (paused && rc->busy)
		pthread_cond_wait(&rc->idle, &rc->mu);
	pthread_mutex_unlock(&rc->mu);
}

int fs_reclaim_wait(struct fs *fs)
{
	struct reclaim *rc = fs->rc;
	int r = 0;
	if (!rc)
		return 0;
	pthread_mutex_lock(&rc->mu);
	while (rc->n || rc->busy) {
		if (rc->paused && !rc->busy) {
			r = -EAGAIN;
			break;
		}
		pthread_cond_wait(&rc->idle, &rc->mu);
	}
	pthread_mutex_unlock(&rc->mu);
	return r;
}

int fs_reclaim_step(struct fs *fs)
{
	struct reclaim *rc = fs->rc;
	if (!rc)
		return 0;
	pthread_mutex_lock(&rc->mu);
	if (!rc->paused || rc->n == 0) {
		int r = rc->paused ? 0 : -EBUSY;
		pthread_mutex_unlock(&rc->mu);
		return r;
	}
	/* A step by hand does not wait for a backoff: the front entry
	 * runs (a failed one went to the back). */
	uint64_t ino = rc->queue[0].ino, seq = rc->queue[0].seq;
	pthread_mutex_unlock(&rc->mu);
	int r = reclaim_chunk(rc, ino);
	pthread_mutex_lock(&rc->mu);
	queue_after_chunk_locked(rc, ino, seq, r);
	pthread_mutex_unlock(&rc->mu);
	return r < 0 ? r : (r == 1 || reclaim_pending(rc)) ? 1 : 0;
}

void fs_reclaim_stats(struct fs *fs, struct fs_stats *out)
{
	struct reclaim *rc = fs->rc;
	if (!rc)
		return;
	out->reclaim_chunks = atomic_load(&rc->chunks);
	out->reclaim_failures = atomic_load(&rc->failures);
	pthread_mutex_lock(&rc->mu);
	out->reclaim_pending = rc->n;
	pthread_mutex_unlock(&rc->mu);
}
