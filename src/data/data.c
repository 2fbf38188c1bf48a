/* data.c -- transactions, commits, reads and the durability barrier.
 *
 * A transaction keeps the new content of every extent it touches (the old
 * content read first when only part of an extent changes), plus ranges of
 * whole extents to delete.  Committing it is commit.c.
 *
 * Barrier (group commit): under seg_mu write the dirty segment counters,
 * close the open segment and rotate the memtable; then wait until every
 * closed segment is sealed (its last frame filled) and uploaded, and only
 * then commit the LSM to the rotation point.  A manifest can therefore
 * only name segments already stored. */
#include "data/data_int.h"

#include <assert.h>
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

void data_subkey(const struct data *d, enum crypt_domain domain, uint8_t out[CRYPT_KEY_BYTES])
{
	crypt_subkey(d->key, domain, out);
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
	struct seginfo *si = data_seginfo_locked(d, segment_epoch(s), segment_counter(s), true);
	si->sealed = true; /* no frame is added any more; the uploader holds it */
	/* Under open_mu, so a reader finds it here or in the uploader. */
	pthread_mutex_lock(&d->open_mu);
	d->open = NULL;
	upload_submit(d->up, s);
	pthread_mutex_unlock(&d->open_mu);
	return 0;
}

int data_reserve_locked(struct data *d, uint64_t ino, uint64_t ext, size_t frame_len,
			struct segment **seg, struct frame_loc *loc)
{
	/* Room for the frame plus the directory entry and footer. */
	size_t need = frame_len + 64 + SEGMENT_FOOTER_BYTES;
	if (d->open && segment_size(d->open) + need > d->o.segment_bytes &&
	    segment_frames(d->open) > 0) {
		int r = data_seal_open_locked(d);
		if (r < 0)
			return r;
	}
	if (!d->open) {
		struct segment *s = segment_new(d->epoch, ++d->next_counter);
		pthread_mutex_lock(&d->open_mu);
		d->open = s;
		pthread_mutex_unlock(&d->open_mu);
	}
	int r = segment_reserve(d->open, ino, ext, frame_len, loc);
	if (r < 0)
		return r;
	data_seginfo_locked(d, loc->epoch, loc->counter, true)->total += loc->len;
	segment_ref(d->open);
	*seg = d->open;
	return 0;
}

/* ---- transactions ---- */

struct data_txn *data_txn_new(struct data *d)
{
	struct data_txn *t = xcalloc(1, sizeof *t);
	t->d = d;
	return t;
}

void data_txn_on_extents(struct data_txn *t, data_extents_hook fn, void *arg)
{
	t->hook = fn;
	t->hook_arg = arg;
}

void data_txn_on_commit(struct data_txn *t, data_commit_hook fn, void *arg)
{
	t->commit_hook = fn;
	t->commit_arg = arg;
}

void data_txn_free(struct data_txn *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++) {
		free(t->st[i].raw);
		buf_free(&t->st[i].frame);
		assert(!t->st[i].seg); /* a commit fills and drops what it reserved */
	}
	free(t->st);
	free(t->rd);
	free(t);
}

bool data_txn_range_deleted(const struct data_txn *t, uint64_t ino, uint64_t ext)
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
	if (load && !data_txn_range_deleted(t, ino, ext)) {
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
	memset(s, 0, sizeof *s);
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
		/* A reference, so the copy (which may wait for the frame to be
		 * filled) holds no lock that a committer needs. */
		pthread_mutex_lock(&d->open_mu);
		struct segment *open = d->open;
		if (open)
			segment_ref(open);
		pthread_mutex_unlock(&d->open_mu);
		if (open) {
			r = segment_copy_frame(open, loc, &frame);
			segment_free(open);
		}
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
		r = -EIO;   /* to readers a bad frame is a bad sector */
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
			log_error("data: extent %" PRIu64 " of inode %" PRIu64 ": malformed location "
				  "(%zu bytes) in the metadata; reading it fails with EIO", ext, ino,
				  val.len);
			r = -EIO; /* corruption reaches readers as EIO, never EBADMSG */
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

/* ---- map of data and holes ---- */

_Static_assert(DATA_EXTENT_BYTES == EXTENT_BYTES, "one extent size in the API and the format");

/* Emit [from, to) clipped to [lo, hi); 0 or cb's stop value. */
static int map_emit(data_map_cb cb, void *arg, uint64_t lo, uint64_t hi, uint64_t from,
		    uint64_t to, bool data)
{
	if (from < lo)
		from = lo;
	if (to > hi)
		to = hi;
	return from < to ? cb(arg, from, to - from, data) : 0;
}

int data_map(struct data *d, uint64_t ino, uint64_t off, uint64_t len, data_map_cb cb,
	     void *arg)
{
	if (len == 0)
		return 0;
	uint64_t hi = off + len < off ? UINT64_MAX : off + len;
	uint8_t prefix[9], start[17];
	struct lsm_iter *it;
	prefix[0] = KEY_EXTENT;
	be64_put(prefix + 1, ino);
	data_extent_key(start, ino, off / EXTENT_BYTES);
	int r = lsm_iter_new(d->db, prefix, sizeof prefix, start, sizeof start, &it);
	if (r < 0)
		return r;
	/* pos: where the next run starts; a run of data grows while extents
	 * are adjacent. */
	uint64_t pos = off, run_start = 0, run_end = 0;
	bool in_run = false;
	for (; r == 0 && lsm_iter_valid(it); lsm_iter_next(it)) {
		size_t kl;
		const uint8_t *k = lsm_iter_key(it, &kl);
		if (kl != 17)
			continue;
		uint64_t ext = be64_get(k + 9);
		if (ext >= UINT64_MAX / EXTENT_BYTES)
			break;
		uint64_t eoff = ext * EXTENT_BYTES;
		if (eoff >= hi)
			break;
		if (in_run && eoff == run_end) {
			run_end += EXTENT_BYTES;
			continue;
		}
		if (in_run) {
			r = map_emit(cb, arg, off, hi, run_start, run_end, true);
			pos = run_end;
		}
		if (r == 0)
			r = map_emit(cb, arg, off, hi, pos, eoff, false);
		run_start = eoff;
		run_end = eoff + EXTENT_BYTES;
		in_run = true;
	}
	if (r == 0)
		r = lsm_iter_status(it);
	lsm_iter_free(it);
	if (r == 0 && in_run) {
		r = map_emit(cb, arg, off, hi, run_start, run_end, true);
		pos = run_end;
	}
	if (r == 0)
		r = map_emit(cb, arg, off, hi, pos, hi, false);
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
	pthread_mutex_init(&d->open_mu, NULL);
	pthread_mutex_init(&d->q_mu, NULL);
	pthread_cond_init(&d->q_cond, NULL);
	pthread_mutex_init(&d->bg_mu, NULL);
	pthread_cond_init(&d->bg_cond, NULL);
	d->nbuckets = 256;
	d->segs = xcalloc(d->nbuckets, sizeof *d->segs);
	d->up = upload_new(d->st, d->key, o->upload_threads, o->uploads_in_flight);
	if (d->writer) {
		/* The committing thread works too: one pool thread fewer. */
		unsigned cpus = o->cpu_threads ? o->cpu_threads : workers_cpus();
		d->cpu = workers_new(cpus - 1);
	}
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
	workers_free(d->cpu);
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
	pthread_cond_destroy(&d->q_cond);
	pthread_mutex_destroy(&d->q_mu);
	pthread_mutex_destroy(&d->open_mu);
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
