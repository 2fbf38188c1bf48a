/* commit.c -- committing a transaction: frames and one atomic LSM batch.
 *
 * A commit runs in four steps, and only the third holds the commit lock:
 *
 *  1. encode (caller, no lock): trailing zeros trimmed, all-zero extents
 *     become holes, every other extent is compressed into its frame
 *     (frame_encode), on the CPU pool when there are several;
 *  2. queue (group commit): the caller joins the queue; the first caller
 *     to find no leader becomes the leader and takes the whole queue;
 *  3. apply (leader, under seg_mu, once per group): for each transaction
 *     in turn retire the old frames, reserve the new ones in the open
 *     segment (their length is known, so this fixes the frame index and
 *     offset that the associated data binds), build the batch, run the
 *     PREPARE hooks, lsm_write, run the APPLIED/FAILED hooks, account live
 *     bytes and install the plaintext in the extent cache, then wake that
 *     transaction's caller;
 *  4. fill (caller, no lock): seal each frame for its slot (frame_encrypt)
 *     and copy it in (segment_fill), on the CPU pool when there are
 *     several.
 *
 * Until step 4, a reader of a new frame waits for it (it usually hits the
 * extent cache instead) and the uploader waits before sealing the segment;
 * neither holds a lock the filler needs.  The leader applies its own
 * transaction last, so it never holds an unfilled frame while it still
 * takes locks.  A batch applied is atomic and in seq order; a barrier
 * takes seg_mu between two transactions, so durable states are still a
 * prefix of the commits.  Frames are byte for byte what segment_append()
 * always wrote: stores written before read the same. */
#include "data/data_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/clock.h"
#include "util/coding.h"
#include "util/mem.h"

struct live_delta {
	uint64_t epoch, counter;
	int64_t delta;
};

struct extent_delta {
	uint64_t ino;
	int64_t delta;
};

struct commit_ctx {
	struct live_delta *deltas;
	size_t n, cap;
	struct extent_delta *ext;   /* stored-extent count change per inode */
	size_t next, extcap;
	uint64_t *dropped;        /* extents removed by range deletes */
	size_t ndropped;
};

static void delta_add(struct commit_ctx *c, uint64_t epoch, uint64_t counter, int64_t delta)
{
	for (size_t i = 0; i < c->n; i++)
		if (c->deltas[i].epoch == epoch && c->deltas[i].counter == counter) {
			c->deltas[i].delta += delta;
			return;
		}
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 8;
		c->deltas = xrealloc(c->deltas, c->cap * sizeof *c->deltas);
	}
	c->deltas[c->n].epoch = epoch;
	c->deltas[c->n].counter = counter;
	c->deltas[c->n].delta = delta;
	c->n++;
}

static void extents_add(struct commit_ctx *c, uint64_t ino, int64_t delta)
{
	if (!delta)
		return;
	for (size_t i = 0; i < c->next; i++)
		if (c->ext[i].ino == ino) {
			c->ext[i].delta += delta;
			return;
		}
	if (c->next == c->extcap) {
		c->extcap = c->extcap ? c->extcap * 2 : 4;
		c->ext = xrealloc(c->ext, c->extcap * sizeof *c->ext);
	}
	c->ext[c->next].ino = ino;
	c->ext[c->next].delta = delta;
	c->next++;
}

/* The old frame of a key stops being live. */
static int retire_old(struct data *d, const uint8_t *key, struct commit_ctx *c, bool *existed)
{
	struct buf val = BUF_INIT;
	struct frame_loc loc;
	int r = lsm_get(d->db, key, 17, &val);
	*existed = r == 0;
	if (r == -ENOENT)
		r = 0;
	else if (r == 0 && frame_loc_decode(val.data, val.len, &loc) == 0)
		delta_add(c, loc.epoch, loc.counter, -(int64_t)loc.len);
	buf_free(&val);
	return r;
}

static bool covered_earlier(const struct data_txn *t, size_t upto, uint64_t ino, uint64_t ext)
{
	for (size_t j = 0; j < upto; j++)
		if (t->rd[j].ino == ino && ext >= t->rd[j].from && ext < t->rd[j].to)
			return true;
	return false;
}

static int commit_range_deletes(struct data_txn *t, struct lsm_batch *b, struct commit_ctx *c)
{
	for (size_t i = 0; i < t->nrd; i++) {
		const struct range_del *rd = &t->rd[i];
		uint8_t prefix[9], start[17];
		struct lsm_iter *it;
		prefix[0] = KEY_EXTENT;
		be64_put(prefix + 1, rd->ino);
		data_extent_key(start, rd->ino, rd->from);
		int r = lsm_iter_new(t->d->db, prefix, sizeof prefix, start, sizeof start, &it);
		if (r < 0)
			return r;
		for (; lsm_iter_valid(it); lsm_iter_next(it)) {
			size_t kl, vl;
			const uint8_t *k = lsm_iter_key(it, &kl);
			const uint8_t *v = lsm_iter_value(it, &vl);
			struct frame_loc loc;
			if (kl != 17 || be64_get(k + 9) >= rd->to)
				break;
			if (covered_earlier(t, i, rd->ino, be64_get(k + 9)))
				continue; /* already retired and deleted */
			if (frame_loc_decode(v, vl, &loc) == 0)
				delta_add(c, loc.epoch, loc.counter, -(int64_t)loc.len);
			lsm_batch_delete(b, k, kl);
			extents_add(c, rd->ino, -1);
			c->dropped = xrealloc(c->dropped, (c->ndropped + 1) * sizeof *c->dropped);
			c->dropped[c->ndropped++] = be64_get(k + 9);
		}
		r = lsm_iter_status(it);
		lsm_iter_free(it);
		if (r < 0)
			return r;
	}
	return 0;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* Step 1 for one extent: a hole, or its frame compressed. */
static void encode_one(void *arg, size_t i)
{
	struct data_txn *t = arg;
	struct staged *s = &t->st[i];
	s->err = 0;
	/* Trailing zeros are not stored: they read back as zeros. */
	while (s->len && s->raw[s->len - 1] == 0)
		s->len--;
	if (s->len == 0 || all_zero(s->raw, s->len)) {
		s->len = 0;
		return;
	}
	s->err = frame_encode(t->d->o.codec, s->raw, s->len, &s->frame);
}

static int encode(struct data_txn *t)
{
	workers_run(t->d->cpu, encode_one, t, t->n);
	for (size_t i = 0; i < t->n; i++)
		if (t->st[i].err < 0)
			return t->st[i].err;
	return 0;
}

/* Step 4 for one extent. */
static void fill_one(void *arg, size_t i)
{
	struct data_txn *t = arg;
	struct staged *s = &t->st[i];
	if (!s->seg)
		return;
	frame_encrypt(t->d->key, &s->loc, s->ino, s->ext, s->frame.data);
	segment_fill(s->seg, &s->loc, s->frame.data);
	segment_free(s->seg);
	s->seg = NULL;
}

static void fill(struct data_txn *t)
{
	size_t frames = 0;
	for (size_t i = 0; i < t->n; i++)
		frames += t->st[i].seg != NULL;
	if (frames)
		workers_run(frames > 1 ? t->d->cpu : NULL, fill_one, t, t->n);
}

static int commit_extents(struct data_txn *t, struct lsm_batch *b, struct commit_ctx *c)
{
	struct data *d = t->d;
	for (size_t i = 0; i < t->n; i++) {
		struct staged *s = &t->st[i];
		uint8_t key[17];
		bool existed = false;
		data_extent_key(key, s->ino, s->ext);
		/* A range delete in this transaction already retired it. */
		bool ranged = data_txn_range_deleted(t, s->ino, s->ext);
		int r = ranged ? 0 : retire_old(d, key, c, &existed);
		if (r < 0)
			return r;
		/* A range delete already counted the old extent out. */
		bool counted = existed && !ranged;
		if (ranged)
			existed = true;
		if (s->len == 0) {
			if (existed)
				lsm_batch_delete(b, key, sizeof key);
			extents_add(c, s->ino, counted ? -1 : 0);
			continue;
		}
		extents_add(c, s->ino, counted ? 0 : 1);
		uint8_t val[FRAME_LOC_BYTES];
		r = data_reserve_locked(d, s->ino, s->ext, s->frame.len, &s->seg, &s->loc);
		if (r < 0)
			return r;
		frame_loc_encode(&s->loc, val);
		lsm_batch_put(b, key, sizeof key, val, sizeof val);
		delta_add(c, s->loc.epoch, s->loc.counter, s->loc.len);
	}
	return 0;
}

static void apply_deltas_locked(struct data *d, const struct commit_ctx *c)
{
	for (size_t i = 0; i < c->n; i++) {
		struct seginfo *si = data_seginfo_locked(d, c->deltas[i].epoch, c->deltas[i].counter,
							 true);
		si->live += c->deltas[i].delta;
		si->dirty = true;
		if (si->live <= 0 && si->sealed && !si->dead_since_ns)
			si->dead_since_ns = clock_wall_ns();
		else if (si->live > 0)
			si->dead_since_ns = 0;
	}
}

static void run_prepare_hooks(struct data_txn *t, struct lsm_batch *b, const struct commit_ctx *c)
{
	for (size_t i = 0; t->hook && i < c->next; i++)
		if (c->ext[i].delta)
			t->hook(t->hook_arg, b, c->ext[i].ino, c->ext[i].delta);
	if (t->commit_hook)
		t->commit_hook(t->commit_arg, b, DATA_HOOK_PREPARE);
}

/* Step 3 for one transaction (seg_mu held). */
static int apply_locked(struct data_txn *t)
{
	struct data *d = t->d;
	struct lsm_batch *b = t->batch;
	struct commit_ctx c = { 0 };
	int r = commit_range_deletes(t, b, &c);
	if (r == 0)
		r = commit_extents(t, b, &c);
	if (r == 0) {
		run_prepare_hooks(t, b, &c);
		r = lsm_write(d->db, b, &t->seq);
		if (t->commit_hook)
			t->commit_hook(t->commit_arg, b, r == 0 ? DATA_HOOK_APPLIED : DATA_HOOK_FAILED);
	}
	/* Readers that looked up a location before the batch went in must
	 * not cache what they decode from it: bump, then install. */
	for (size_t i = 0; i < t->n; i++)
		ecache_bump(d->ec, t->st[i].ino);
	for (size_t i = 0; i < t->nrd; i++) {
		ecache_bump(d->ec, t->rd[i].ino);
		for (size_t k = 0; k < c.ndropped; k++)
			ecache_drop(d->ec, t->rd[i].ino, c.dropped[k]);
	}
	if (r == 0) {
		apply_deltas_locked(d, &c);
		for (size_t i = 0; i < t->n; i++)
			ecache_put(d->ec, t->st[i].ino, t->st[i].ext, t->st[i].raw, t->st[i].len,
				   ECACHE_ALWAYS);
		atomic_fetch_add(&d->commits, 1);
	} else {
		/* Frames already reserved are dead bytes (still filled). */
		for (size_t i = 0; i < t->n; i++)
			ecache_drop(d->ec, t->st[i].ino, t->st[i].ext);
	}
	free(c.dropped);
	free(c.deltas);
	free(c.ext);
	return r;
}

/* Steps 2 and 3: returns t's result once its batch is applied (or not). */
static int group_commit(struct data_txn *t)
{
	struct data *d = t->d;
	pthread_mutex_lock(&d->q_mu);
	t->done = false;
	t->qnext = NULL;
	if (d->q_tail)
		d->q_tail->qnext = t;
	else
		d->q_head = t;
	d->q_tail = t;
	while (!t->done && d->q_leader)
		pthread_cond_wait(&d->q_cond, &d->q_mu);
	if (t->done) {
		pthread_mutex_unlock(&d->q_mu);
		return t->result;
	}
	/* Lead: take the whole queue, ours last (see the top of the file). */
	d->q_leader = true;
	struct data_txn *group = NULL, **tail = &group;
	for (struct data_txn *x = d->q_head; x; x = x->qnext)
		if (x != t) {
			*tail = x;
			tail = &x->qnext;
		}
	*tail = t;
	t->qnext = NULL;
	d->q_head = d->q_tail = NULL;
	pthread_mutex_unlock(&d->q_mu);

	pthread_mutex_lock(&d->seg_mu);
	for (struct data_txn *x = group; x;) {
		struct data_txn *next = x->qnext;
		x->result = apply_locked(x);
		if (x != t) {
			/* Its caller fills its frames (and may free x) from now on. */
			pthread_mutex_lock(&d->q_mu);
			x->done = true;
			pthread_cond_broadcast(&d->q_cond);
			pthread_mutex_unlock(&d->q_mu);
		}
		x = next;
	}
	pthread_mutex_unlock(&d->seg_mu);

	pthread_mutex_lock(&d->q_mu);
	t->done = true;
	d->q_leader = false;
	pthread_cond_broadcast(&d->q_cond);
	pthread_mutex_unlock(&d->q_mu);
	return t->result;
}

int data_txn_commit(struct data_txn *t, struct lsm_batch *b, uint64_t *seq)
{
	int r = data_txn_commit_nowait(t, b, seq);
	/* A commit that stored no frame adds nothing to upload: a chmod
	 * never waits behind a bulk write's backlog. */
	bool stored = false;
	for (size_t i = 0; i < t->n && !stored; i++)
		stored = t->st[i].len != 0;
	if (stored)
		data_throttle(t->d);
	return r;
}

void data_throttle(struct data *d)
{
	upload_wait_room(d->up);
}

int data_txn_commit_nowait(struct data_txn *t, struct lsm_batch *caller, uint64_t *seq)
{
	struct data *d = t->d;
	if (!d->writer)
		return -EROFS;
	int r = encode(t);
	if (r < 0)
		return r;
	lsm_throttle(d->db); /* the LSM's waits, before the commit lock */
	t->batch = caller ? caller : lsm_batch_new();
	r = group_commit(t);
	fill(t);
	if (r == 0 && seq)
		*seq = t->seq;
	if (!caller)
		lsm_batch_free(t->batch);
	t->batch = NULL;
	return r;
}
