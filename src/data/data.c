/* data.c -- transactions, commits, reads and the durability barrier.
 *
 * A transaction keeps the new content of every extent it touches (the old
 * content read first when only part of an extent changes), plus ranges of
 * whole extents to delete.  Commit, under seg_mu: seal each changed extent
 * as a frame in the open segment, put its FrameLoc (or delete its key for
 * a hole), account live bytes, apply the LSM batch, then install the new
 * plaintext in the extent cache.
 *
 * Barrier (group commit): under seg_mu write the dirty segment counters,
 * seal the open segment and rotate the memtable; then wait until every
 * sealed segment is uploaded, and only then commit the LSM to the rotation
 * point.  A manifest can therefore only name segments already stored. */
#include "data/data_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "util/clock.h"
#include "util/coding.h"
#include "util/log.h"
#include "util/mem.h"

void data_options_default(struct data_options *o)
{
	memset(o, 0, sizeof *o);
	o->codec.id = CODEC_LZ4;
	o->segment_bytes = 256ull << 20;
	o->upload_threads = 2;
	o->uploads_in_flight = 4;
	o->flush_interval_ms = 30000;
	o->cache_ram_bytes = 256ull << 20;
	o->cache_disk_bytes = 4ull << 30;
	o->extent_cache_bytes = 256ull << 20;
	o->gc_grace_ms = 10 * 60 * 1000;
	o->gc_interval_ms = 60000;
	o->gc_repack_below = 0.5;
	o->gc_space_target = 1.25;
	o->barrier_timeout_ms = 120000;
}

void data_extent_key(uint8_t key[17], uint64_t ino, uint64_t ext)
{
	key[0] = KEY_EXTENT;
	be64_put(key + 1, ino);
	be64_put(key + 9, ext);
}

void data_segment_key(uint8_t key[17], uint64_t epoch, uint64_t counter)
{
	key[0] = KEY_SEGMENT;
	be64_put(key + 1, epoch);
	be64_put(key + 9, counter);
}

uint64_t data_lineage(const struct data *d)
{
	return d->epoch;
}

/* ---- segment table ---- */

static size_t seg_bucket(const struct data *d, uint64_t epoch, uint64_t counter)
{
	uint64_t h = epoch * 0x9e3779b97f4a7c15ull ^ counter * 0xc2b2ae3d27d4eb4full;
	return (size_t)((h ^ (h >> 31)) & (d->nbuckets - 1));
}

struct seginfo *data_seginfo_locked(struct data *d, uint64_t epoch, uint64_t counter, bool create)
{
	struct seginfo *s = d->segs[seg_bucket(d, epoch, counter)];
	while (s && (s->epoch != epoch || s->counter != counter))
		s = s->next;
	if (s || !create)
		return s;
	if (d->nsegs >= d->nbuckets) {
		size_t old = d->nbuckets;
		struct seginfo **t = d->segs;
		d->nbuckets *= 2;
		d->segs = xcalloc(d->nbuckets, sizeof *d->segs);
		for (size_t i = 0; i < old; i++)
			while (t[i]) {
				struct seginfo *x = t[i];
				t[i] = x->next;
				size_t b = seg_bucket(d, x->epoch, x->counter);
				x->next = d->segs[b];
				d->segs[b] = x;
			}
		free(t);
	}
	s = xcalloc(1, sizeof *s);
	s->epoch = epoch;
	s->counter = counter;
	size_t b = seg_bucket(d, epoch, counter);
	s->next = d->segs[b];
	d->segs[b] = s;
	d->nsegs++;
	return s;
}

void data_seginfo_remove_locked(struct data *d, uint64_t epoch, uint64_t counter)
{
	struct seginfo **pp = &d->segs[seg_bucket(d, epoch, counter)];
	while (*pp && ((*pp)->epoch != epoch || (*pp)->counter != counter))
		pp = &(*pp)->next;
	if (*pp) {
		struct seginfo *s = *pp;
		*pp = s->next;
		free(s);
		d->nsegs--;
	}
}

int data_seal_open_locked(struct data *d)
{
	struct segment *s = d->open;
	if (!s)
		return 0;
	int r = segment_seal(s, d->key);
	if (r < 0)
		return r;
	struct seginfo *si = data_seginfo_locked(d, segment_epoch(s), segment_counter(s), true);
	si->sealed = true;
	d->open = NULL;
	upload_submit(d->up, s);
	return 0;
}

int data_append_locked(struct data *d, uint64_t ino, uint64_t ext, const void *raw, size_t len,
		       struct frame_loc *loc)
{
	/* Room for the frame plus the directory entry and footer. */
	size_t need = len + 4 + CRYPT_SEAL_OVERHEAD + 64 + SEGMENT_FOOTER_BYTES;
	if (d->open && segment_size(d->open) + need > d->o.segment_bytes &&
	    segment_frames(d->open) > 0) {
		int r = data_seal_open_locked(d);
		if (r < 0)
			return r;
	}
	if (!d->open)
		d->open = segment_new(d->epoch, ++d->next_counter);
	int r = segment_append(d->open, d->key, d->o.codec, ino, ext, raw, len, loc);
	if (r == 0)
		data_seginfo_locked(d, loc->epoch, loc->counter, true)->total += loc->len;
	return r;
}

/* ---- transactions ---- */

struct staged {
	uint64_t ino, ext;
	uint32_t len;             /* stored length; 0 = hole */
	uint8_t *raw;             /* EXTENT_BYTES */
};

struct range_del {
	uint64_t ino, from, to;   /* extents [from, to) */
};

struct data_txn {
	struct data *d;
	struct staged *st;
	size_t n, cap;
	struct range_del *rd;
	size_t nrd;
};

struct data_txn *data_txn_new(struct data *d)
{
	struct data_txn *t = xcalloc(1, sizeof *t);
	t->d = d;
	return t;
}

void data_txn_free(struct data_txn *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++)
		free(t->st[i].raw);
	free(t->st);
	free(t->rd);
	free(t);
}

static bool in_range_delete(const struct data_txn *t, uint64_t ino, uint64_t ext)
{
	for (size_t i = 0; i < t->nrd; i++)
		if (t->rd[i].ino == ino && ext >= t->rd[i].from && ext < t->rd[i].to)
			return true;
	return false;
}

static int load_extent(struct data *d, uint64_t ino, uint64_t ext, struct buf *raw, bool ra);

/* Current content of an extent as committed (not as staged). */
static int read_committed(struct data *d, uint64_t ino, uint64_t ext, uint8_t *raw, uint32_t *len)
{
	if (ecache_get(d->ec, ino, ext, raw, len))
		return 0;
	uint64_t gen = ecache_gen(d->ec, ino);
	struct buf out = BUF_INIT;
	int r = load_extent(d, ino, ext, &out, false);
	if (r == 0) {
		if (out.len)
			memcpy(raw, out.data, out.len);
		*len = (uint32_t)out.len;
		ecache_put(d->ec, ino, ext, raw, *len, gen);
	}
	buf_free(&out);
	return r;
}

/* The staged extent, created from the committed content when `load`. */
static int stage(struct data_txn *t, uint64_t ino, uint64_t ext, bool load, struct staged **out)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->st[i].ino == ino && t->st[i].ext == ext) {
			*out = &t->st[i];
			return 0;
		}
	uint8_t *raw = xcalloc(1, EXTENT_BYTES);
	uint32_t len = 0;
	if (load && !in_range_delete(t, ino, ext)) {
		int r = read_committed(t->d, ino, ext, raw, &len);
		if (r < 0) {
			free(raw);
			return r;
		}
	}
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 8;
		t->st = xrealloc(t->st, t->cap * sizeof *t->st);
	}
	struct staged *s = &t->st[t->n++];
	s->ino = ino;
	s->ext = ext;
	s->len = len;
	s->raw = raw;
	*out = s;
	return 0;
}

static int check_range(uint64_t off, uint64_t len)
{
	/* Offsets up to 2^63 - 1, as for off_t. */
	if (off > INT64_MAX || len > INT64_MAX - off)
		return -EFBIG;
	return 0;
}

int data_write(struct data_txn *t, uint64_t ino, uint64_t off, const void *buf, size_t len)
{
	if (!t->d->writer)
		return -EROFS;
	int r = check_range(off, len);
	const uint8_t *src = buf;
	while (r == 0 && len) {
		uint64_t ext = off / EXTENT_BYTES;
		uint32_t in = (uint32_t)(off % EXTENT_BYTES);
		uint32_t n = EXTENT_BYTES - in < len ? EXTENT_BYTES - in : (uint32_t)len;
		struct staged *s;
		r = stage(t, ino, ext, n != EXTENT_BYTES, &s);
		if (r < 0)
			break;
		memcpy(s->raw + in, src, n);
		if (in + n > s->len)
			s->len = in + n;
		off += n;
		src += n;
		len -= n;
	}
	return r;
}

static void add_range_delete(struct data_txn *t, uint64_t ino, uint64_t from, uint64_t to)
{
	t->rd = xrealloc(t->rd, (t->nrd + 1) * sizeof *t->rd);
	t->rd[t->nrd].ino = ino;
	t->rd[t->nrd].from = from;
	t->rd[t->nrd].to = to;
	t->nrd++;
	/* Staged extents inside the range become holes. */
	for (size_t i = 0; i < t->n; i++)
		if (t->st[i].ino == ino && t->st[i].ext >= from && t->st[i].ext < to) {
			memset(t->st[i].raw, 0, EXTENT_BYTES);
			t->st[i].len = 0;
		}
}

/* Zero [in, in+n) of one extent. */
static int zero_part(struct data_txn *t, uint64_t ino, uint64_t ext, uint32_t in, uint32_t n)
{
	struct staged *s;
	int r = stage(t, ino, ext, true, &s);
	if (r < 0)
		return r;
	if (in < s->len) {
		uint32_t end = in + n < s->len ? in + n : s->len;
		memset(s->raw + in, 0, end - in);
		if (end == s->len)
			s->len = in;
	}
	return 0;
}

int data_punch(struct data_txn *t, uint64_t ino, uint64_t from, uint64_t to)
{
	if (!t->d->writer)
		return -EROFS;
	if (to <= from)
		return 0;
	int r = check_range(from, to - from);
	if (r < 0)
		return r;
	uint64_t first_full = (from + EXTENT_BYTES - 1) / EXTENT_BYTES;
	uint64_t end_full = to / EXTENT_BYTES;
	if (first_full < end_full)
		add_range_delete(t, ino, first_full, end_full);
	if (from % EXTENT_BYTES) {
		uint64_t ext = from / EXTENT_BYTES;
		uint64_t stop = to < (ext + 1) * EXTENT_BYTES ? to : (ext + 1) * EXTENT_BYTES;
		r = zero_part(t, ino, ext, (uint32_t)(from % EXTENT_BYTES), (uint32_t)(stop - from));
		if (r < 0)
			return r;
	}
	if (to % EXTENT_BYTES && to / EXTENT_BYTES >= first_full &&
	    (to / EXTENT_BYTES != from / EXTENT_BYTES || from % EXTENT_BYTES == 0))
		r = zero_part(t, ino, to / EXTENT_BYTES, 0, (uint32_t)(to % EXTENT_BYTES));
	return r;
}

int data_truncate(struct data_txn *t, uint64_t ino, uint64_t old_size, uint64_t size)
{
	if (size >= old_size)
		return t->d->writer ? 0 : -EROFS;
	return data_punch(t, ino, size, old_size);
}

int data_delete_all(struct data_txn *t, uint64_t ino, uint64_t size)
{
	if (!t->d->writer)
		return -EROFS;
	(void)size;
	add_range_delete(t, ino, 0, UINT64_MAX);
	return 0;
}

/* ---- commit ---- */

struct live_delta {
	uint64_t epoch, counter;
	int64_t delta;
};

struct commit_ctx {
	struct live_delta *deltas;
	size_t n, cap;
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

static int commit_extents(struct data_txn *t, struct lsm_batch *b, struct commit_ctx *c)
{
	struct data *d = t->d;
	for (size_t i = 0; i < t->n; i++) {
		struct staged *s = &t->st[i];
		uint8_t key[17];
		bool existed;
		data_extent_key(key, s->ino, s->ext);
		/* Trailing zeros are not stored: they read back as zeros. */
		while (s->len && s->raw[s->len - 1] == 0)
			s->len--;
		/* A range delete in this transaction already retired it. */
		bool ranged = in_range_delete(t, s->ino, s->ext);
		int r = ranged ? 0 : retire_old(d, key, c, &existed);
		if (r < 0)
			return r;
		if (ranged)
			existed = true;
		if (s->len == 0 || all_zero(s->raw, s->len)) {
			s->len = 0;
			if (existed)
				lsm_batch_delete(b, key, sizeof key);
			continue;
		}
		struct frame_loc loc;
		uint8_t val[FRAME_LOC_BYTES];
		r = data_append_locked(d, s->ino, s->ext, s->raw, s->len, &loc);
		if (r < 0)
			return r;
		frame_loc_encode(&loc, val);
		lsm_batch_put(b, key, sizeof key, val, sizeof val);
		delta_add(c, loc.epoch, loc.counter, loc.len);
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

int data_txn_commit(struct data_txn *t, struct lsm_batch *caller, uint64_t *seq)
{
	struct data *d = t->d;
	if (!d->writer)
		return -EROFS;
	struct lsm_batch *b = caller ? caller : lsm_batch_new();
	struct commit_ctx c = { 0 };

	pthread_mutex_lock(&d->seg_mu);
	int r = commit_range_deletes(t, b, &c);
	if (r == 0)
		r = commit_extents(t, b, &c);
	if (r == 0)
		r = lsm_write(d->db, b, seq);
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
		/* Frames already appended are dead bytes. */
		for (size_t i = 0; i < t->n; i++)
			ecache_drop(d->ec, t->st[i].ino, t->st[i].ext);
	}
	pthread_mutex_unlock(&d->seg_mu);
	upload_wait_room(d->up);
	free(c.dropped);
	free(c.deltas);
	if (!caller)
		lsm_batch_free(b);
	return r;
}

/* ---- reads ---- */

static int read_frame_direct(struct data *d, const struct frame_loc *loc, struct buf *frame)
{
	char name[SEGMENT_NAME_MAX];
	void *p;
	size_t n;
	segment_name(loc->epoch, loc->counter, name);
	int r = objstore_get(d->st, name, loc->off, loc->len, &p, &n);
	if (r < 0) {
		log_error("data: read %s bytes %" PRIu64 "+%u from %s: %s", name, loc->off, loc->len,
			  objstore_url(d->st), r == -ENOENT ? "object missing" : strerror(-r));
		return r == -ENOENT || r == -ERANGE ? -EIO : r;
	}
	buf_set(frame, p, n);
	free(p);
	return 0;
}

int data_load_frame(struct data *d, const struct frame_loc *loc, uint64_t ino, uint64_t ext,
		    struct buf *raw)
{
	struct buf frame = BUF_INIT;
	int r = -ENOENT;
	/* Newest first: the open segment, then segments being uploaded,
	 * then the store (through the parts cache). */
	if (loc->epoch == d->epoch) {
		pthread_mutex_lock(&d->seg_mu);
		if (d->open)
			r = segment_copy_frame(d->open, loc, &frame);
		pthread_mutex_unlock(&d->seg_mu);
		if (r == -ENOENT)
			r = upload_read_frame(d->up, loc, &frame);
	}
	bool from_cache = r == -ENOENT;
	if (from_cache) {
		buf_reserve(&frame, loc->len);
		r = pcache_read(d->pc, loc->epoch, loc->counter, loc->off, loc->len, frame.data);
		if (r == 0)
			frame.len = loc->len;
	}
	if (r == 0)
		r = frame_open(d->key, loc, ino, ext, frame.data, frame.len, raw);
	if ((r == -EBADMSG || r == -EIO) && from_cache) {
		/* A damaged cache copy must not hide good data: drop the
		 * cached parts and read this frame straight from the store
		 * (a readahead may still hold the damaged part for a moment). */
		pcache_drop_segment(d->pc, loc->epoch, loc->counter);
		r = read_frame_direct(d, loc, &frame);
		if (r == 0)
			r = frame_open(d->key, loc, ino, ext, frame.data, frame.len, raw);
	}
	if (r == -EBADMSG) {
		char name[SEGMENT_NAME_MAX];
		segment_name(loc->epoch, loc->counter, name);
		log_error("data: frame %u of %s (inode %" PRIu64 ", extent %" PRIu64 "): "
			  "authentication failed (corrupt or tampered)", loc->frame, name, ino, ext);
	}
	buf_free(&frame);
	return r;
}

/* Sequential reads ramp up a readahead window in the segment being read. */
static void readahead(struct data *d, uint64_t ino, uint64_t ext, const struct frame_loc *loc)
{
	size_t slot = (size_t)(ino * 0x9e3779b97f4a7c15ull >> 58);
	uint64_t expect = atomic_exchange(&d->ra_next[slot], ext + 1);
	uint32_t win = atomic_load(&d->ra_window[slot]);
	if (expect != ext) {
		atomic_store(&d->ra_window[slot], 0);
		return;
	}
	win = win ? (win < 8 ? win * 2 : 8) : 1;
	atomic_store(&d->ra_window[slot], win);
	/* Once per 8 extents (256 KiB) is enough to stay ahead. */
	if (ext % 8 == 0)
		pcache_prefetch(d->pc, loc->epoch, loc->counter, loc->off + loc->len,
				(size_t)win * PCACHE_PART_BYTES);
}

/* An extent's content (raw->len 0 for a hole) through its extent key.  If
 * its segment is gone by the time we read it (GC moved the extent after
 * we looked it up), look the key up once more. */
static int load_extent(struct data *d, uint64_t ino, uint64_t ext, struct buf *raw, bool ra)
{
	uint8_t key[17];
	struct buf val = BUF_INIT;
	struct frame_loc loc, prev;
	int r = 0;
	data_extent_key(key, ino, ext);
	for (int attempt = 0; attempt < 2; attempt++) {
		r = lsm_get(d->db, key, sizeof key, &val);
		if (r == -ENOENT) {
			buf_reset(raw);
			r = 0;
			break;
		}
		if (r < 0)
			break;
		r = frame_loc_decode(val.data, val.len, &loc);
		if (r < 0) {
			log_error("data: extent %" PRIu64 " of inode %" PRIu64 ": malformed location",
				  ext, ino);
			break;
		}
		if (attempt && !memcmp(&loc, &prev, sizeof loc)) {
			r = -EIO; /* same place, still unreadable */
			break;
		}
		if (ra && (loc.epoch != d->epoch || !d->writer))
			readahead(d, ino, ext, &loc);
		r = data_load_frame(d, &loc, ino, ext, raw);
		if (r != -EIO)
			break;
		prev = loc;
	}
	buf_free(&val);
	return r;
}

static int read_extent(struct data *d, uint64_t ino, uint64_t ext, uint32_t in, uint8_t *dst,
		       uint32_t n)
{
	if (ecache_read(d->ec, ino, ext, in, dst, n))
		return 0;
	uint64_t gen = ecache_gen(d->ec, ino);
	struct buf raw = BUF_INIT;
	int r = load_extent(d, ino, ext, &raw, true);
	if (r == 0) {
		uint32_t have = in < raw.len ? (uint32_t)raw.len - in : 0;
		if (have > n)
			have = n;
		if (have)
			memcpy(dst, raw.data + in, have);
		memset(dst + have, 0, n - have);
		ecache_put(d->ec, ino, ext, raw.data, (uint32_t)raw.len, gen);
	}
	buf_free(&raw);
	return r;
}

int data_read(struct data *d, uint64_t ino, uint64_t off, void *buf, size_t len)
{
	int r = check_range(off, len);
	uint8_t *dst = buf;
	while (r == 0 && len) {
		uint64_t ext = off / EXTENT_BYTES;
		uint32_t in = (uint32_t)(off % EXTENT_BYTES);
		uint32_t n = EXTENT_BYTES - in < len ? EXTENT_BYTES - in : (uint32_t)len;
		r = read_extent(d, ino, ext, in, dst, n);
		off += n;
		dst += n;
		len -= n;
	}
	return r;
}

int data_refresh(struct data *d, bool *changed)
{
	int r = lsm_refresh(d->db, changed);
	if (r == 0 && *changed)
		ecache_clear(d->ec); /* cached extents may have been rewritten */
	return r;
}

/* ---- barrier ---- */

static void write_counters_locked(struct data *d, struct lsm_batch *b)
{
	for (size_t i = 0; i < d->nbuckets; i++)
		for (struct seginfo *s = d->segs[i]; s; s = s->next) {
			if (!s->dirty)
				continue;
			uint8_t key[17], val[16];
			data_segment_key(key, s->epoch, s->counter);
			be64_put(val, s->live > 0 ? (uint64_t)s->live : 0);
			be64_put(val + 8, s->total);
			lsm_batch_put(b, key, sizeof key, val, sizeof val);
			s->dirty = false;
		}
}

static int barrier_locked(struct data *d)
{
	uint64_t seq;
	struct lsm_batch *b = lsm_batch_new();
	pthread_mutex_lock(&d->seg_mu);
	write_counters_locked(d, b);
	int r = lsm_batch_count(b) ? lsm_write(d->db, b, NULL) : 0;
	if (r == 0)
		r = data_seal_open_locked(d);
	if (r == 0)
		r = lsm_rotate(d->db, &seq);
	pthread_mutex_unlock(&d->seg_mu);
	lsm_batch_free(b);
	if (r < 0)
		return r;
	r = upload_drain(d->up, d->o.barrier_timeout_ms);
	if (r == -ETIMEDOUT) {
		log_error("data: barrier: segments still not uploaded to %s after %" PRIu64 " ms; "
			  "reporting EIO (uploads keep retrying)", objstore_url(d->st),
			  d->o.barrier_timeout_ms);
		return -EIO;
	}
	if (r == 0)
		r = lsm_commit(d->db, seq);
	atomic_fetch_add(&d->n_barriers, 1);
	if (r == 0) {
		struct timespec now;
		clock_gettime(CLOCK_REALTIME, &now);
		atomic_store(&d->last_barrier_ns,
			     (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec);
	}
	return r;
}

static int lineage_check(struct data *d, uint64_t lineage)
{
	uint8_t key[9];
	key[0] = KEY_LINEAGE;
	be64_put(key + 1, lineage);
	int r = lsm_get(d->db, key, sizeof key, NULL);
	if (r == -ENOENT) {
		log_warn("data: barrier asked for writes of incarnation %" PRIu64 ", which did not "
			 "shut down cleanly: its writes after its last barrier are lost (ESTALE)",
			 lineage);
		return -ESTALE;
	}
	return r;
}

int data_barrier(struct data *d, uint64_t lineage)
{
	if (!d->writer)
		return -EROFS;
	if (lineage && lineage != d->epoch)
		return lineage_check(d, lineage);
	uint64_t want = atomic_load(&d->commits);
	pthread_mutex_lock(&d->barrier_mu);
	int r = 0;
	if (d->durable_commits < want || want == 0) {
		uint64_t start = atomic_load(&d->commits);
		r = barrier_locked(d);
		if (r == 0)
			d->durable_commits = start;
	}
	pthread_mutex_unlock(&d->barrier_mu);
	return r;
}

int data_checkpoint(struct data *d, const char *name)
{
	if (!d->writer)
		return -EROFS;
	/* Under barrier_mu no other barrier runs; commits made after ours
	 * are not durable yet, so the checkpoint (of the durable state)
	 * cannot include them. */
	pthread_mutex_lock(&d->barrier_mu);
	uint64_t start = atomic_load(&d->commits);
	int r = barrier_locked(d);
	if (r == 0) {
		d->durable_commits = start;
		r = lsm_checkpoint_create(d->db, name);
	}
	pthread_mutex_unlock(&d->barrier_mu);
	return r;
}

/* ---- background ---- */

static void bg_wait(struct data *d, uint64_t ms)
{
	pthread_mutex_lock(&d->bg_mu);
	if (!d->stop)
		clock_cond_wait(&d->bg_cond, &d->bg_mu, ms * 1000000ull);
	pthread_mutex_unlock(&d->bg_mu);
}

static void *flusher_main(void *arg)
{
	struct data *d = arg;
	while (!d->stop) {
		bg_wait(d, d->o.flush_interval_ms);
		if (d->stop)
			break;
		int r = data_barrier(d, 0);
		if (r < 0 && r != -EROFS)
			log_warn("data: periodic flush failed: %s", strerror(-r));
	}
	return NULL;
}

static void *gc_main(void *arg)
{
	struct data *d = arg;
	while (!d->stop) {
		bg_wait(d, d->o.gc_interval_ms);
		if (d->stop)
			break;
		struct data_gc_report rep;
		int r = data_gc(d, &rep);
		if (r < 0 && r != -EROFS)
			log_warn("data: garbage collection failed: %s", strerror(-r));
	}
	return NULL;
}

/* ---- open / close ---- */

static int load_counters(struct data *d)
{
	uint8_t prefix[1] = { KEY_SEGMENT };
	struct lsm_iter *it;
	int r = lsm_iter_new(d->db, prefix, 1, NULL, 0, &it);
	if (r < 0)
		return r;
	for (; lsm_iter_valid(it); lsm_iter_next(it)) {
		size_t kl, vl;
		const uint8_t *k = lsm_iter_key(it, &kl);
		const uint8_t *v = lsm_iter_value(it, &vl);
		if (kl != 17 || vl != 16)
			continue;
		struct seginfo *s = data_seginfo_locked(d, be64_get(k + 1), be64_get(k + 9), true);
		s->live = (int64_t)be64_get(v);
		s->total = be64_get(v + 8);
		s->sealed = true;
		if (s->live <= 0)
			s->dead_since_ns = clock_wall_ns();
	}
	r = lsm_iter_status(it);
	lsm_iter_free(it);
	return r;
}

int data_open(const struct data_options *o, struct data **out)
{
	struct data *d = xcalloc(1, sizeof *d);
	struct lsm_stats ls;
	d->o = *o;
	d->o.cache_dir = o->cache_dir ? xstrdup(o->cache_dir) : NULL;
	memcpy(d->key, o->key, sizeof d->key);
	d->db = o->db;
	d->st = o->store;
	d->writer = !o->read_only;
	lsm_stats(d->db, &ls);
	d->epoch = ls.epoch;
	if (d->writer && ls.fenced) {
		free(d);
		return -EROFS;
	}
	pthread_mutex_init(&d->gc_mu, NULL);
	pthread_mutex_init(&d->barrier_mu, NULL);
	pthread_mutex_init(&d->seg_mu, NULL);
	pthread_mutex_init(&d->bg_mu, NULL);
	pthread_cond_init(&d->bg_cond, NULL);
	d->nbuckets = 256;
	d->segs = xcalloc(d->nbuckets, sizeof *d->segs);
	d->up = upload_new(d->st, o->upload_threads, o->uploads_in_flight);
	d->pc = pcache_new(d->st, o->cache_dir, o->cache_ram_bytes, o->cache_disk_bytes);
	d->ec = ecache_new(o->extent_cache_bytes);
	if (d->writer) {
		int r = load_counters(d);
		if (r < 0) {
			data_close(d);
			return r;
		}
		if (o->flush_interval_ms &&
		    pthread_create(&d->flusher, NULL, flusher_main, d) == 0)
			d->flusher_started = true;
		if (o->gc_interval_ms && pthread_create(&d->gc_thread, NULL, gc_main, d) == 0)
			d->gc_started = true;
	}
	*out = d;
	return 0;
}

static int mark_clean_shutdown(struct data *d)
{
	uint8_t key[9];
	struct lsm_batch *b = lsm_batch_new();
	key[0] = KEY_LINEAGE;
	be64_put(key + 1, d->epoch);
	lsm_batch_put(b, key, sizeof key, "", 0);
	pthread_mutex_lock(&d->seg_mu);
	int r = lsm_write(d->db, b, NULL);
	if (r == 0)
		atomic_fetch_add(&d->commits, 1);
	pthread_mutex_unlock(&d->seg_mu);
	lsm_batch_free(b);
	return r == 0 ? data_barrier(d, 0) : r;
}

int data_close(struct data *d)
{
	if (!d)
		return 0;
	pthread_mutex_lock(&d->bg_mu);
	d->stop = true;
	pthread_cond_broadcast(&d->bg_cond);
	pthread_mutex_unlock(&d->bg_mu);
	if (d->flusher_started)
		pthread_join(d->flusher, NULL);
	if (d->gc_started)
		pthread_join(d->gc_thread, NULL);
	int r = 0;
	if (d->writer) {
		r = data_barrier(d, 0);
		if (r == 0)
			r = mark_clean_shutdown(d);
	}
	upload_free(d->up);
	segment_free(d->open);
	pcache_free(d->pc);
	ecache_free(d->ec);
	for (size_t i = 0; i < d->nbuckets; i++)
		while (d->segs[i]) {
			struct seginfo *s = d->segs[i];
			d->segs[i] = s->next;
			free(s);
		}
	free(d->segs);
	free((char *)d->o.cache_dir);
	pthread_cond_destroy(&d->bg_cond);
	pthread_mutex_destroy(&d->bg_mu);
	pthread_mutex_destroy(&d->seg_mu);
	pthread_mutex_destroy(&d->barrier_mu);
	pthread_mutex_destroy(&d->gc_mu);
	crypt_wipe(d->key, sizeof d->key);
	crypt_wipe(d->o.meta_key, sizeof d->o.meta_key);
	free(d);
	return r;
}

void data_stats(struct data *d, struct data_stats *st)
{
	struct upload_stats us;
	struct pcache_stats ps;
	memset(st, 0, sizeof *st);
	upload_stats(d->up, &us);
	pcache_stats(d->pc, &ps);
	st->segments_uploaded = us.segments;
	st->bytes_uploaded = us.bytes;
	st->upload_retries = us.retries;
	ecache_counts(d->ec, &st->extent_hits, &st->extent_misses);
	st->part_hits = ps.hits;
	st->part_misses = ps.misses;
	st->disk_hits = ps.disk_hits;
	st->cache_ram_bytes = ps.ram_bytes;
	st->cache_disk_bytes = ps.disk_bytes;
	st->gets = ps.gets;
	st->get_bytes = ps.get_bytes;
	st->barriers = atomic_load(&d->n_barriers);
	st->last_barrier_ns = atomic_load(&d->last_barrier_ns);
	st->uploads_pending = us.waiting;
	st->dirty_bytes = us.waiting_bytes;
	pthread_mutex_lock(&d->seg_mu);
	if (d->open)
		st->dirty_bytes += segment_size(d->open);
	for (size_t i = 0; i < d->nbuckets; i++)
		for (struct seginfo *s = d->segs[i]; s; s = s->next) {
			st->live_bytes += s->live > 0 ? (uint64_t)s->live : 0;
			st->stored_bytes += s->total;
		}
	pthread_mutex_unlock(&d->seg_mu);
}
