/* gc.c -- garbage collection of data segments (writer only).
 *
 * Live-byte counters (struct seginfo, persisted as 'S' keys at barriers)
 * say where space is wasted; they are hints, and nothing is deleted or
 * moved on their word alone.  Before deleting a segment GC reads its
 * directory (the reverse map: inode and extent of every frame) and checks
 * that no extent key still points into it; repacking copies only frames
 * whose extent key still points at them, and switches each key with a
 * compare-and-set under seg_mu, so a concurrent write always wins (frames
 * are compressed before and encrypted after, as commits do).
 *
 * Deletion waits a grace period after a segment is first seen dead (read
 * replicas may still follow an older manifest), and never touches a
 * segment that a checkpoint references: a checkpoint's own 'S' keys list
 * the segments it needs.  Objects under segments/ that nothing knows (an
 * upload whose commit never became durable, or a fenced writer's) are
 * deleted after the grace period too. */
#include "data/data_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "util/clock.h"
#include "util/coding.h"
#include "util/log.h"
#include "util/mem.h"

struct segid {
	uint64_t epoch, counter;
};

struct segset {
	struct segid *v;
	size_t n;
};

static void segset_add(struct segset *s, uint64_t epoch, uint64_t counter)
{
	s->v = xrealloc(s->v, (s->n + 1) * sizeof *s->v);
	s->v[s->n].epoch = epoch;
	s->v[s->n].counter = counter;
	s->n++;
}

static bool segset_has(const struct segset *s, uint64_t epoch, uint64_t counter)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i].epoch == epoch && s->v[i].counter == counter)
			return true;
	return false;
}

/* A segment that holds some garbage: a candidate for the space target. */
struct garbage {
	uint64_t epoch, counter, live, total;
};

/* Emptiest first. */
static int cmp_garbage(const void *a, const void *b)
{
	const struct garbage *x = a, *y = b;
	double fx = (double)x->live / (double)x->total, fy = (double)y->live / (double)y->total;
	return fx < fy ? -1 : fx > fy;
}

struct pin_ctx {
	struct data *d;
	struct segset *pinned;
	int err;
};

/* Segments a checkpoint needs: those its own 'S' keys call live. */
static void pin_checkpoint(void *arg, const char *name, uint64_t seq, uint64_t created)
{
	struct pin_ctx *pc = arg;
	struct lsm_options o;
	lsm *view;
	struct lsm_iter *it;
	uint8_t prefix[1] = { KEY_SEGMENT };
	(void)seq;
	(void)created;
	lsm_options_default(&o);
	o.store = pc->d->st;
	o.checkpoint = name;
	o.background = false;
	o.block_cache_bytes = 4u << 20;
	memcpy(o.key, pc->d->o.meta_key, sizeof o.key);
	int r = lsm_open(&o, &view);
	if (r < 0) {
		pc->err = r;
		return;
	}
	r = lsm_iter_new(view, prefix, 1, NULL, 0, &it);
	for (; r == 0 && lsm_iter_valid(it); lsm_iter_next(it)) {
		size_t kl, vl;
		const uint8_t *k = lsm_iter_key(it, &kl);
		const uint8_t *v = lsm_iter_value(it, &vl);
		if (kl == 17 && vl == 16 && be64_get(v) > 0)
			segset_add(pc->pinned, be64_get(k + 1), be64_get(k + 9));
	}
	if (r == 0) {
		r = lsm_iter_status(it);
		lsm_iter_free(it);
	}
	if (r < 0)
		pc->err = r;
	lsm_close(view);
}

/* Fetch and decode a sealed segment's directory (and, if want_object, the
 * whole object for repacking). */
static int read_segment(struct data *d, uint64_t epoch, uint64_t counter,
			struct segment_dir_entry **ents, uint32_t *frames, void **object,
			size_t *size)
{
	char name[SEGMENT_NAME_MAX];
	void *obj;
	size_t len;
	struct segment_index ix;
	char why[SEGMENT_WHY_MAX];
	segment_name(epoch, counter, name);
	int r = objstore_get(d->st, name, 0, OBJSTORE_GET_TO_END, &obj, &len);
	if (r < 0) {
		log_error("data: gc: read %s from %s: %s", name, objstore_url(d->st), strerror(-r));
		return r;
	}
	r = segment_open_index(d->key, epoch, counter, obj, len, &ix, why);
	if (r < 0) {
		log_error("data: gc: %s in %s: %s; left in place", name, objstore_url(d->st), why);
		free(obj);
		return r;
	}
	*ents = ix.ents;
	*frames = ix.frames;
	*object = obj;
	*size = len;
	return 0;
}

/* Does the extent key of dir entry i still point at that frame? */
static int frame_is_live(struct data *d, uint64_t epoch, uint64_t counter, uint32_t i,
			 const struct segment_dir_entry *e, struct frame_loc *loc)
{
	uint8_t key[17];
	struct buf val = BUF_INIT;
	data_extent_key(key, e->ino, e->ext);
	int r = lsm_get(d->db, key, sizeof key, &val);
	if (r == 0)
		r = frame_loc_decode(val.data, val.len, loc) == 0 && loc->epoch == epoch &&
		    loc->counter == counter && loc->frame == i && loc->off == e->off;
	else if (r == -ENOENT)
		r = 0;
	buf_free(&val);
	return r;
}

static int delete_segment(struct data *d, uint64_t epoch, uint64_t counter,
			  struct data_gc_report *rep)
{
	char name[SEGMENT_NAME_MAX];
	uint8_t key[17];
	segment_name(epoch, counter, name);
	int r = objstore_delete(d->st, name);
	if (r < 0) {
		log_warn("data: gc: delete %s: %s (retried next pass)", name, strerror(-r));
		return r;
	}
	pcache_drop_segment(d->pc, epoch, counter);
	struct lsm_batch *b = lsm_batch_new();
	data_segment_key(key, epoch, counter);
	lsm_batch_delete(b, key, sizeof key);
	pthread_mutex_lock(&d->seg_mu);
	struct seginfo *si = data_seginfo_locked(d, epoch, counter, false);
	if (si)
		rep->bytes_reclaimed += si->total;
	data_seginfo_remove_locked(d, epoch, counter);
	r = lsm_write(d->db, b, NULL);
	if (r == 0)
		atomic_fetch_add(&d->commits, 1);
	pthread_mutex_unlock(&d->seg_mu);
	lsm_batch_free(b);
	rep->segments_deleted++;
	return r;
}

/* A segment the counters call dead: make sure, then delete it. */
static int collect_dead(struct data *d, uint64_t epoch, uint64_t counter,
			struct data_gc_report *rep)
{
	struct segment_dir_entry *ents = NULL;
	uint32_t frames = 0;
	void *obj = NULL;
	size_t size;
	int r = read_segment(d, epoch, counter, &ents, &frames, &obj, &size);
	if (r < 0)
		return r;
	int64_t live = 0;
	for (uint32_t i = 0; i < frames && r >= 0; i++) {
		struct frame_loc loc;
		r = frame_is_live(d, epoch, counter, i, &ents[i], &loc);
		if (r == 1)
			live += ents[i].len;
	}
	free(ents);
	free(obj);
	if (r < 0)
		return r;
	if (live > 0) {
		/* The counter was wrong (a failed commit, say): fix it. */
		pthread_mutex_lock(&d->seg_mu);
		struct seginfo *si = data_seginfo_locked(d, epoch, counter, false);
		if (si) {
			si->live = live;
			si->dirty = true;
			si->dead_since_ns = 0;
		}
		pthread_mutex_unlock(&d->seg_mu);
		return 0;
	}
	return delete_segment(d, epoch, counter, rep);
}

struct moved {
	uint64_t ino, ext;
	struct frame_loc old;
	uint8_t *raw;
	uint32_t len;
};

static int cmp_moved(const void *a, const void *b)
{
	const struct moved *x = a, *y = b;
	if (x->ino != y->ino)
		return x->ino < y->ino ? -1 : 1;
	return x->ext < y->ext ? -1 : x->ext > y->ext;
}

/* Collect the live frames of one segment, decoded. */
static int gather_live(struct data *d, uint64_t epoch, uint64_t counter, struct moved **mv,
		       size_t *n)
{
	struct segment_dir_entry *ents = NULL;
	uint32_t frames = 0;
	void *obj = NULL;
	size_t size;
	int r = read_segment(d, epoch, counter, &ents, &frames, &obj, &size);
	for (uint32_t i = 0; r >= 0 && i < frames; i++) {
		struct frame_loc loc;
		struct buf raw = BUF_INIT;
		r = frame_is_live(d, epoch, counter, i, &ents[i], &loc);
		if (r != 1)
			continue;
		if (loc.off + loc.len > size) {
			r = -EBADMSG;
			break;
		}
		r = frame_open(d->key, &loc, ents[i].ino, ents[i].ext, (uint8_t *)obj + loc.off,
			       loc.len, &raw);
		if (r < 0) {
			buf_free(&raw);
			break;
		}
		*mv = xrealloc(*mv, (*n + 1) * sizeof **mv);
		struct moved *m = &(*mv)[(*n)++];
		m->ino = ents[i].ino;
		m->ext = ents[i].ext;
		m->old = loc;
		m->len = (uint32_t)raw.len;
		m->raw = buf_steal(&raw, NULL);
	}
	free(ents);
	free(obj);
	return r < 0 ? r : 0;
}

struct rewrite_batch {
	struct data *d;
	struct moved *mv;
	struct buf *frame;        /* per moved frame: encoded, then sealed */
	struct segment **seg;     /* reserved in, or NULL */
	struct frame_loc *loc;
	int *err;
};

static void rewrite_encode(void *arg, size_t i)
{
	struct rewrite_batch *rb = arg;
	rb->err[i] = frame_encode(rb->d->o.codec, rb->mv[i].raw, rb->mv[i].len, &rb->frame[i]);
}

static void rewrite_fill(void *arg, size_t i)
{
	struct rewrite_batch *rb = arg;
	if (!rb->seg[i])
		return;
	frame_encrypt(rb->d->key, &rb->loc[i], rb->mv[i].ino, rb->mv[i].ext, rb->frame[i].data);
	segment_fill(rb->seg[i], &rb->loc[i], rb->frame[i].data);
	segment_free(rb->seg[i]);
	rb->seg[i] = NULL;
}

/* Rewrite the frames, switching each key only if it still points at the
 * old frame (a write since then wins).  Like a commit (commit.c), the
 * frames are compressed before and encrypted after seg_mu, which covers
 * only the check, the reservations and the batch. */
static int rewrite_some(struct data *d, struct moved *mv, size_t n, struct data_gc_report *rep)
{
	struct rewrite_batch rb = { d, mv, xcalloc(n, sizeof *rb.frame), xcalloc(n, sizeof *rb.seg),
				    xcalloc(n, sizeof *rb.loc), xcalloc(n, sizeof *rb.err) };
	struct lsm_batch *b = lsm_batch_new();
	int r = 0;
	workers_run(d->cpu, rewrite_encode, &rb, n);
	for (size_t i = 0; i < n && r == 0; i++)
		r = rb.err[i];
	if (r == 0) {
		pthread_mutex_lock(&d->seg_mu);
		for (size_t i = 0; i < n && r >= 0; i++) {
			struct frame_loc cur, *loc = &rb.loc[i];
			uint8_t key[17], val[FRAME_LOC_BYTES];
			struct segment_dir_entry e = { mv[i].ino, mv[i].ext, mv[i].old.off,
						       mv[i].old.len };
			r = frame_is_live(d, mv[i].old.epoch, mv[i].old.counter, mv[i].old.frame, &e,
					  &cur);
			if (r != 1)
				continue;
			r = data_reserve_locked(d, mv[i].ino, mv[i].ext, rb.frame[i].len, &rb.seg[i],
						loc);
			if (r < 0)
				break;
			data_extent_key(key, mv[i].ino, mv[i].ext);
			frame_loc_encode(loc, val);
			lsm_batch_put(b, key, sizeof key, val, sizeof val);
			struct seginfo *o = data_seginfo_locked(d, cur.epoch, cur.counter, true);
			struct seginfo *nw = data_seginfo_locked(d, loc->epoch, loc->counter, true);
			o->live -= cur.len;
			o->dirty = nw->dirty = true;
			nw->live += loc->len;
			if (o->live <= 0 && !o->dead_since_ns)
				o->dead_since_ns = clock_wall_ns();
			rep->bytes_rewritten += loc->len;
		}
		if (r >= 0 && lsm_batch_count(b)) {
			r = lsm_write(d->db, b, NULL);
			if (r == 0)
				atomic_fetch_add(&d->commits, 1);
		}
		pthread_mutex_unlock(&d->seg_mu);
	}
	/* Every reserved frame is filled, whatever failed (segment.h). */
	workers_run(d->cpu, rewrite_fill, &rb, n);
	for (size_t i = 0; i < n; i++)
		buf_free(&rb.frame[i]);
	free(rb.frame);
	free(rb.seg);
	free(rb.loc);
	free(rb.err);
	lsm_batch_free(b);
	return r > 0 ? 0 : r;
}

static int rewrite(struct data *d, struct moved *mv, size_t n, struct data_gc_report *rep)
{
	int r = 0;
	for (size_t start = 0; start < n && r == 0; start += 256) {
		size_t end = start + 256 < n ? start + 256 : n;
		r = rewrite_some(d, mv + start, end - start, rep);
		upload_wait_room(d->up); /* no lock held but gc_mu */
	}
	return r;
}

static int repack(struct data *d, struct segset *victims, struct data_gc_report *rep)
{
	struct moved *mv = NULL;
	size_t n = 0;
	int r = 0;
	for (size_t i = 0; i < victims->n && r == 0; i++)
		r = gather_live(d, victims->v[i].epoch, victims->v[i].counter, &mv, &n);
	if (r == 0) {
		if (n)
			qsort(mv, n, sizeof *mv, cmp_moved);
		r = rewrite(d, mv, n, rep);
		if (r == 0)
			rep->segments_repacked += victims->n;
	}
	for (size_t i = 0; i < n; i++)
		free(mv[i].raw);
	free(mv);
	return r;
}

struct sweep_ctx {
	struct data *d;
	const struct segset *pinned;
	struct segset orphans;
};

static int sweep_one(void *arg, const struct objstore_entry *e)
{
	struct sweep_ctx *s = arg;
	struct data *d = s->d;
	uint64_t epoch, counter;
	if (segment_parse_name(e->key, &epoch, &counter) < 0)
		return 0;
	pthread_mutex_lock(&d->seg_mu);
	bool known = data_seginfo_locked(d, epoch, counter, false) != NULL ||
		     (d->open && segment_counter(d->open) == counter && epoch == d->epoch);
	pthread_mutex_unlock(&d->seg_mu);
	/* Only older epochs: a newer writer's segments are not ours to judge
	 * (we may be fenced without knowing it yet). */
	if (!known && !segset_has(s->pinned, epoch, counter) && epoch < d->epoch)
		segset_add(&s->orphans, epoch, counter);
	return 0;
}

/* Orphans are deleted once seen unknown for the grace period. */
static void sweep_orphans(struct data *d, const struct segset *pinned, uint64_t now,
			  struct data_gc_report *rep)
{
	struct sweep_ctx s = { d, pinned, { NULL, 0 } };
	if (objstore_list_all(d->st, "segments/", NULL, sweep_one, &s) < 0)
		return;
	for (size_t i = 0; i < s.orphans.n; i++) {
		uint64_t epoch = s.orphans.v[i].epoch, counter = s.orphans.v[i].counter;
		pthread_mutex_lock(&d->seg_mu);
		/* Track it like a dead segment with no live bytes. */
		struct seginfo *si = data_seginfo_locked(d, epoch, counter, true);
		si->sealed = true;
		if (!si->dead_since_ns)
			si->dead_since_ns = now;
		bool due = si->dead_since_ns + d->o.gc_grace_ms * 1000000ull <= now;
		pthread_mutex_unlock(&d->seg_mu);
		if (due && collect_dead(d, epoch, counter, rep) == 0)
			rep->orphans_deleted++;
	}
	free(s.orphans.v);
}

int data_gc(struct data *d, struct data_gc_report *rep)
{
	memset(rep, 0, sizeof *rep);
	if (!d->writer)
		return -EROFS;
	pthread_mutex_lock(&d->gc_mu);
	struct segset pinned = { NULL, 0 }, dead = { NULL, 0 }, sparse = { NULL, 0 };
	struct pin_ctx pc = { d, &pinned, 0 };
	uint64_t now = clock_wall_ns(), grace = d->o.gc_grace_ms * 1000000ull;
	int r = lsm_checkpoint_list(d->db, pin_checkpoint, &pc);
	if (r == 0)
		r = pc.err;
	if (r < 0)
		goto out;

	size_t tiny = 0;
	struct garbage *cand = NULL;
	size_t ncand = 0;
	uint64_t stored = 0, live = 0;
	pthread_mutex_lock(&d->seg_mu);
	for (size_t b = 0; b < d->nbuckets; b++)
		for (struct seginfo *s = d->segs[b]; s; s = s->next) {
			if (s->live > 0) {
				stored += s->total;
				live += (uint64_t)s->live;
			}
			if (!s->sealed || upload_holds(d->up, s->epoch, s->counter))
				continue;
			rep->segments_scanned++;
			if (segset_has(&pinned, s->epoch, s->counter))
				continue;
			if (s->live <= 0) {
				if (s->dead_since_ns && s->dead_since_ns + grace <= now)
					segset_add(&dead, s->epoch, s->counter);
			} else if ((double)s->live < d->o.gc_repack_below * (double)s->total) {
				segset_add(&sparse, s->epoch, s->counter);
				stored -= s->total - (uint64_t)s->live;
			} else if (s->total < d->o.segment_bytes / 8) {
				segset_add(&sparse, s->epoch, s->counter);
				tiny++;
			} else if ((uint64_t)s->live < s->total) {
				cand = xrealloc(cand, (ncand + 1) * sizeof *cand);
				cand[ncand].epoch = s->epoch;
				cand[ncand].counter = s->counter;
				cand[ncand].live = (uint64_t)s->live;
				cand[ncand].total = s->total;
				ncand++;
			}
		}
	pthread_mutex_unlock(&d->seg_mu);
	/* A lone small segment is not worth rewriting: only merge several. */
	if (sparse.n == 1 && tiny == 1)
		sparse.n = 0;
	/* Then the space target: repack the emptiest of the rest until what
	 * is stored is within gc_space_target of what is live. */
	if (ncand)
		qsort(cand, ncand, sizeof *cand, cmp_garbage);
	for (size_t i = 0; i < ncand && (double)stored > d->o.gc_space_target * (double)live; i++) {
		segset_add(&sparse, cand[i].epoch, cand[i].counter);
		stored -= cand[i].total - cand[i].live;
	}
	free(cand);

	/* Nothing is deleted on the word of commits that are not durable:
	 * a crash would bring back a state that still points there.  (And a
	 * fenced writer's barrier fails, so it deletes nothing.)  Nothing
	 * revives a dead segment, so what the barrier made durable stays
	 * true while we delete. */
	r = data_barrier(d, 0);
	for (size_t i = 0; r == 0 && i < dead.n; i++)
		collect_dead(d, dead.v[i].epoch, dead.v[i].counter, rep);
	if (r == 0)
		sweep_orphans(d, &pinned, now, rep);
	if (r == 0 && sparse.n)
		r = repack(d, &sparse, rep);
	if (r == 0)
		r = data_barrier(d, 0);
	if (rep->segments_deleted || rep->segments_repacked)
		log_info("data: gc: %" PRIu64 " segments scanned, %" PRIu64 " deleted (%" PRIu64
			 " orphans), %" PRIu64 " repacked; %" PRIu64 " bytes reclaimed, %" PRIu64
			 " rewritten", rep->segments_scanned, rep->segments_deleted,
			 rep->orphans_deleted, rep->segments_repacked, rep->bytes_reclaimed,
			 rep->bytes_rewritten);
out:
	free(pinned.v);
	free(dead.v);
	free(sparse.v);
	pthread_mutex_unlock(&d->gc_mu);
	return r;
}
