/* segment.c -- frame sealing, segment building, parsing (see segment.h).
 *
 * An open segment is shared: the committer reserves frames (under the data
 * plane's commit lock), the threads that own those frames fill them in
 * parallel, readers copy frames out, and the uploader seals it once it is
 * closed.  s->mu guards the buffer (which may move when it grows) and the
 * fill state, and is only ever held for a copy; the only waits on it are
 * for a reserved frame to be filled, which its owner does without taking
 * any other lock. */
#include "data/segment.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypt/unit.h"
#include "util/coding.h"
#include "util/mem.h"

#define SEGMENT_MAGIC "BFSSEG01"
/* 1: plaintext footer under a crc32c only; 2: the footer is the directory
 * unit's associated data.  Frames are the same in both. */
#define SEGMENT_VERSION 2
#define FRAME_AD_BYTES 40
#define DIR_AD_BYTES (4 + SEGMENT_FOOTER_BYTES)
#define DIR_ENTRY_BYTES 28

struct segment {
	uint64_t epoch, counter;
	_Atomic unsigned refs;
	pthread_mutex_t mu;
	pthread_cond_t filled;  /* a frame was filled */
	struct buf data;        /* frames (reserved ones not yet filled included) */
	struct buf dir;         /* plaintext directory entries */
	uint8_t *ready;         /* per frame: 1 once filled */
	size_t ready_cap;
	uint32_t frames;
	uint32_t pending;       /* reserved, not yet filled */
	bool sealed;
};

void frame_loc_encode(const struct frame_loc *loc, uint8_t out[FRAME_LOC_BYTES])
{
	be64_put(out, loc->epoch);
	be64_put(out + 8, loc->counter);
	be32_put(out + 16, loc->frame);
	be32_put(out + 20, loc->len);
	be64_put(out + 24, loc->off);
}

int frame_loc_decode(const uint8_t *p, size_t n, struct frame_loc *loc)
{
	if (n != FRAME_LOC_BYTES)
		return -EBADMSG;
	loc->epoch = be64_get(p);
	loc->counter = be64_get(p + 8);
	loc->frame = be32_get(p + 16);
	loc->len = be32_get(p + 20);
	loc->off = be64_get(p + 24);
	if (loc->len < 4 + CRYPT_SEAL_OVERHEAD || loc->len > 4 + unit_bound((struct codec){ 0, 0 }, EXTENT_BYTES) + 64)
		return -EBADMSG;
	return 0;
}

void segment_name(uint64_t epoch, uint64_t counter, char name[SEGMENT_NAME_MAX])
{
	snprintf(name, SEGMENT_NAME_MAX, "segments/%02x/%010" PRIu64 "/%012" PRIu64,
		 (unsigned)(counter % SEGMENT_SHARDS), epoch, counter);
}

int segment_parse_name(const char *name, uint64_t *epoch, uint64_t *counter)
{
	unsigned shard;
	int n = 0;
	if (sscanf(name, "segments/%2x/%10" SCNu64 "/%12" SCNu64 "%n", &shard, epoch, counter,
		   &n) != 3 || name[n] != 0 || strlen(name) != 9 + 2 + 1 + 10 + 1 + 12 ||
	    shard != *counter % SEGMENT_SHARDS)
		return -EINVAL;
	return 0;
}

/* The frame's offset is not bound: (epoch, counter, frame index) already
 * names one slot, sealed once, and the offset a reader uses comes from the
 * same authenticated FrameLoc (or directory) as the index.  Binding it would
 * make every frame written so far unreadable for no added check. */
static void frame_ad(uint8_t ad[FRAME_AD_BYTES], const struct frame_loc *loc, uint64_t ino,
		     uint64_t ext)
{
	memcpy(ad, "frm\0", 4);
	be64_put(ad + 4, loc->epoch);
	be64_put(ad + 12, loc->counter);
	be32_put(ad + 20, loc->frame);
	be64_put(ad + 24, ino);
	be64_put(ad + 32, ext);
}

struct segment *segment_new(uint64_t epoch, uint64_t counter)
{
	struct segment *s = xcalloc(1, sizeof *s);
	s->epoch = epoch;
	s->counter = counter;
	atomic_init(&s->refs, 1);
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->filled, NULL);
	return s;
}

void segment_ref(struct segment *s)
{
	atomic_fetch_add(&s->refs, 1);
}

void segment_free(struct segment *s)
{
	if (!s || atomic_fetch_sub(&s->refs, 1) != 1)
		return;
	assert(s->pending == 0);
	pthread_cond_destroy(&s->filled);
	pthread_mutex_destroy(&s->mu);
	buf_free(&s->data);
	buf_free(&s->dir);
	free(s->ready);
	free(s);
}

uint64_t segment_epoch(const struct segment *s) { return s->epoch; }
uint64_t segment_counter(const struct segment *s) { return s->counter; }

uint32_t segment_frames(struct segment *s)
{
	pthread_mutex_lock(&s->mu);
	uint32_t n = s->frames;
	pthread_mutex_unlock(&s->mu);
	return n;
}

size_t segment_size(struct segment *s)
{
	pthread_mutex_lock(&s->mu);
	size_t n = s->data.len;
	pthread_mutex_unlock(&s->mu);
	return n;
}

const uint8_t *segment_bytes(const struct segment *s)
{
	assert(s->sealed);
	return s->data.data;
}

int frame_encode(struct codec c, const void *raw, size_t len, struct buf *frame)
{
	if (len == 0 || len > EXTENT_BYTES)
		return -EINVAL;
	buf_reset(frame);
	buf_put_be32(frame, 0);
	int n = unit_encode(c, raw, len, frame);
	if (n < 0)
		return n;
	be32_put(frame->data, (uint32_t)n);
	return 0;
}

void frame_encrypt(const uint8_t key[CRYPT_KEY_BYTES], const struct frame_loc *loc, uint64_t ino,
		   uint64_t ext, uint8_t *frame)
{
	uint8_t ad[FRAME_AD_BYTES];
	frame_ad(ad, loc, ino, ext);
	unit_encrypt(key, ad, sizeof ad, frame + 4, loc->len - 4);
}

int segment_reserve(struct segment *s, uint64_t ino, uint64_t ext, size_t frame_len,
		    struct frame_loc *loc)
{
	if (frame_len < 4 + CRYPT_SEAL_OVERHEAD || frame_len > UINT32_MAX)
		return -EINVAL;
	pthread_mutex_lock(&s->mu);
	if (s->sealed) {
		pthread_mutex_unlock(&s->mu);
		return -EINVAL;
	}
	size_t start = s->data.len;
	buf_reserve(&s->data, frame_len);
	s->data.len += frame_len;
	if (s->frames == s->ready_cap) {
		s->ready_cap = s->ready_cap ? s->ready_cap * 2 : 64;
		s->ready = xrealloc(s->ready, s->ready_cap);
	}
	s->ready[s->frames] = 0;
	loc->epoch = s->epoch;
	loc->counter = s->counter;
	loc->frame = s->frames++;
	loc->len = (uint32_t)frame_len;
	loc->off = start;
	s->pending++;
	buf_put_be64(&s->dir, ino);
	buf_put_be64(&s->dir, ext);
	buf_put_be64(&s->dir, start);
	buf_put_be32(&s->dir, loc->len);
	pthread_mutex_unlock(&s->mu);
	return 0;
}

void segment_fill(struct segment *s, const struct frame_loc *loc, const uint8_t *frame)
{
	pthread_mutex_lock(&s->mu);
	assert(loc->frame < s->frames && !s->ready[loc->frame] && s->pending > 0);
	memcpy(s->data.data + loc->off, frame, loc->len);
	s->ready[loc->frame] = 1;
	s->pending--;
	pthread_cond_broadcast(&s->filled);
	pthread_mutex_unlock(&s->mu);
}

int segment_append(struct segment *s, const uint8_t key[CRYPT_KEY_BYTES], struct codec c,
		   uint64_t ino, uint64_t ext, const void *raw, size_t len, struct frame_loc *loc)
{
	struct buf frame = BUF_INIT;
	int r = frame_encode(c, raw, len, &frame);
	if (r == 0)
		r = segment_reserve(s, ino, ext, frame.len, loc);
	if (r == 0) {
		frame_encrypt(key, loc, ino, ext, frame.data);
		segment_fill(s, loc, frame.data);
	}
	buf_free(&frame);
	return r;
}

/* The directory's associated data: the whole footer, so that no footer
 * byte can change without the directory failing to open. */
static void dir_ad(uint8_t ad[DIR_AD_BYTES], const uint8_t footer[SEGMENT_FOOTER_BYTES])
{
	memcpy(ad, "dir\0", 4);
	memcpy(ad + 4, footer, SEGMENT_FOOTER_BYTES);
}

static void footer_build(uint8_t f[SEGMENT_FOOTER_BYTES], uint32_t frames, uint64_t dir_off,
			 uint64_t dir_len, uint64_t epoch, uint64_t counter)
{
	memset(f, 0, SEGMENT_FOOTER_BYTES);
	memcpy(f, SEGMENT_MAGIC, 8);
	be32_put(f + 8, SEGMENT_VERSION);
	be32_put(f + 12, frames);
	be64_put(f + 16, dir_off);
	be64_put(f + 24, dir_len);
	be64_put(f + 32, epoch);
	be64_put(f + 40, counter);
}

int segment_seal(struct segment *s, const uint8_t key[CRYPT_KEY_BYTES])
{
	uint8_t ad[DIR_AD_BYTES], f[SEGMENT_FOOTER_BYTES];
	struct codec c = { CODEC_LZ4, 0 };
	pthread_mutex_lock(&s->mu);
	while (s->pending)
		pthread_cond_wait(&s->filled, &s->mu);
	if (s->sealed) {
		pthread_mutex_unlock(&s->mu);
		return -EINVAL;
	}
	/* Two steps: the footer (the directory's AD) holds the directory's
	 * length, known only once it is compressed. */
	size_t dir_off = s->data.len;
	int n = unit_encode(c, s->dir.data, s->dir.len, &s->data);
	if (n < 0) {
		s->data.len = dir_off;
		pthread_mutex_unlock(&s->mu);
		return n;
	}
	footer_build(f, s->frames, dir_off, (uint64_t)n, s->epoch, s->counter);
	dir_ad(ad, f);
	unit_encrypt(key, ad, sizeof ad, s->data.data + dir_off, (size_t)n);
	buf_append(&s->data, f, sizeof f);
	buf_free(&s->dir);
	s->sealed = true;
	pthread_mutex_unlock(&s->mu);
	return 0;
}

bool segment_sealed(struct segment *s)
{
	pthread_mutex_lock(&s->mu);
	bool sealed = s->sealed;
	pthread_mutex_unlock(&s->mu);
	return sealed;
}

int segment_copy_frame(struct segment *s, const struct frame_loc *loc, struct buf *out)
{
	int r = 0;
	pthread_mutex_lock(&s->mu);
	if (loc->epoch != s->epoch || loc->counter != s->counter || loc->frame >= s->frames ||
	    loc->off > s->data.len || loc->len > s->data.len - loc->off) {
		r = -ENOENT;
		goto out;
	}
	/* Reserved, not yet filled: its owner is encrypting it right now. */
	while (!s->ready[loc->frame])
		pthread_cond_wait(&s->filled, &s->mu);
	buf_set(out, s->data.data + loc->off, loc->len);
out:
	pthread_mutex_unlock(&s->mu);
	return r;
}

int frame_open(const uint8_t key[CRYPT_KEY_BYTES], const struct frame_loc *loc, uint64_t ino,
	       uint64_t ext, const uint8_t *frame, size_t n, struct buf *raw)
{
	uint8_t ad[FRAME_AD_BYTES];
	if (n != loc->len || n < 4 || be32_get(frame) != n - 4)
		return -EBADMSG;
	frame_ad(ad, loc, ino, ext);
	int r = unit_open(key, ad, sizeof ad, frame + 4, n - 4, raw);
	if (r < 0)
		return -EBADMSG;
	if (raw->len == 0 || raw->len > EXTENT_BYTES)
		return -EBADMSG;
	return 0;
}

/* ---- reading a whole object ---- */

#define WHY(...) (why ? (void)snprintf(why, SEGMENT_WHY_MAX, __VA_ARGS__) : (void)0)

/* The footer's plaintext, before it is authenticated (with the directory):
 * only what is needed to find the directory, all bounds checked. */
static int footer_parse(const uint8_t *obj, size_t n, struct segment_index *ix,
			char why[SEGMENT_WHY_MAX])
{
	if (n < SEGMENT_FOOTER_BYTES) {
		WHY("object is %zu bytes, shorter than a footer (%d)", n, SEGMENT_FOOTER_BYTES);
		return -EBADMSG;
	}
	const uint8_t *f = obj + n - SEGMENT_FOOTER_BYTES;
	if (memcmp(f, SEGMENT_MAGIC, 8) != 0) {
		WHY("no segment footer at the end of its %zu bytes (truncated, extended or "
		    "overwritten)", n);
		return -EBADMSG;
	}
	uint32_t version = be32_get(f + 8);
	if (version != SEGMENT_VERSION) {
		WHY("footer says format version %" PRIu32 ", this build reads version %d only",
		    version, SEGMENT_VERSION);
		return -ENOTSUP;
	}
	ix->frames = be32_get(f + 12);
	ix->dir_off = be64_get(f + 16);
	ix->dir_len = be64_get(f + 24);
	uint64_t end = n - SEGMENT_FOOTER_BYTES;
	if (ix->dir_off > end || ix->dir_len != end - ix->dir_off) {
		WHY("footer places the directory at %" PRIu64 "+%" PRIu64 ", the object has "
		    "%" PRIu64 " bytes before its footer", ix->dir_off, ix->dir_len, end);
		return -EBADMSG;
	}
	return 0;
}

static int dir_decode(const uint8_t *raw, size_t len, struct segment_index *ix,
			char why[SEGMENT_WHY_MAX])
{
	if (len != (size_t)ix->frames * DIR_ENTRY_BYTES) {
		WHY("directory holds %zu bytes for %" PRIu32 " frames", len, ix->frames);
		return -EBADMSG;
	}
	ix->ents = xcalloc(ix->frames ? ix->frames : 1, sizeof *ix->ents);
	if (ix->frames == 0)
		return 0; /* raw may be NULL: no pointer arithmetic on it */
	struct rd rd = rd_make(raw, len);
	for (uint32_t i = 0; i < ix->frames; i++) {
		ix->ents[i].ino = rd_be64(&rd);
		ix->ents[i].ext = rd_be64(&rd);
		ix->ents[i].off = rd_be64(&rd);
		ix->ents[i].len = rd_be32(&rd);
	}
	return 0;
}

/* The frames must tile [0, dir_off) in order, each length field matching
 * its entry: then no byte before the directory lies outside a frame. */
static int frames_tile(const uint8_t *obj, const struct segment_index *ix,
			char why[SEGMENT_WHY_MAX])
{
	uint64_t at = 0;
	for (uint32_t i = 0; i < ix->frames; i++) {
		const struct segment_dir_entry *e = &ix->ents[i];
		if (e->off != at || e->len < 4 + CRYPT_SEAL_OVERHEAD || e->len > ix->dir_off - at) {
			WHY("directory entry %" PRIu32 " (%" PRIu64 "+%" PRIu32 ") does not follow "
			    "the frame before it at %" PRIu64, i, e->off, e->len, at);
			return -EBADMSG;
		}
		if (be32_get(obj + at) != e->len - 4) {
			WHY("frame %" PRIu32 " at %" PRIu64 ": length field %" PRIu32 ", directory "
			    "says %" PRIu32, i, at, be32_get(obj + at), e->len - 4);
			return -EBADMSG;
		}
		at += e->len;
	}
	if (at != ix->dir_off) {
		WHY("frames end at %" PRIu64 ", the directory starts at %" PRIu64, at, ix->dir_off);
		return -EBADMSG;
	}
	return 0;
}

int segment_open_index(const uint8_t key[CRYPT_KEY_BYTES], uint64_t epoch, uint64_t counter,
		       const uint8_t *obj, size_t n, struct segment_index *ix,
		       char why[SEGMENT_WHY_MAX])
{
	uint8_t ad[DIR_AD_BYTES], f[SEGMENT_FOOTER_BYTES];
	struct buf raw = BUF_INIT;
	memset(ix, 0, sizeof *ix);
	int r = footer_parse(obj, n, ix, why);
	if (r < 0)
		return r;
	/* The footer the writer of this name would have written: a footer
	 * naming another segment (or differing in any byte) fails here. */
	footer_build(f, ix->frames, ix->dir_off, ix->dir_len, epoch, counter);
	const uint8_t *got = obj + n - SEGMENT_FOOTER_BYTES;
	if (memcmp(f, got, SEGMENT_FOOTER_BYTES) != 0) {
		if (be64_get(got + 32) != epoch || be64_get(got + 40) != counter)
			WHY("footer names segment epoch %" PRIu64 " counter %" PRIu64 ", not this "
			    "one (corrupt, or another segment's bytes)", be64_get(got + 32),
			    be64_get(got + 40));
		else
			WHY("footer's reserved bytes are not zero (corrupt)");
		return -EBADMSG;
	}
	dir_ad(ad, f);
	if (unit_open(key, ad, sizeof ad, obj + ix->dir_off, (size_t)ix->dir_len, &raw) < 0) {
		WHY("directory at %" PRIu64 "+%" PRIu64 " does not authenticate (corrupt footer "
		    "or directory, or another key)", ix->dir_off, ix->dir_len);
		r = -EBADMSG;
	}
	if (r == 0)
		r = dir_decode(raw.data, raw.len, ix, why);
	if (r == 0)
		r = frames_tile(obj, ix, why);
	buf_free(&raw);
	if (r < 0)
		segment_index_free(ix);
	return r;
}

int segment_verify(const uint8_t key[CRYPT_KEY_BYTES], uint64_t epoch, uint64_t counter,
		   const uint8_t *obj, size_t n, struct segment_index *ix_out,
		   char why[SEGMENT_WHY_MAX])
{
	struct segment_index ix;
	struct buf raw = BUF_INIT;
	int r = segment_open_index(key, epoch, counter, obj, n, &ix, why);
	for (uint32_t i = 0; r == 0 && i < ix.frames; i++) {
		const struct segment_dir_entry *e = &ix.ents[i];
		struct frame_loc loc = { epoch, counter, i, e->len, e->off };
		r = frame_open(key, &loc, e->ino, e->ext, obj + e->off, e->len, &raw);
		if (r < 0)
			WHY("frame %" PRIu32 " at %" PRIu64 "+%" PRIu32 " (inode %" PRIu64
			    ", extent %" PRIu64 ") does not authenticate", i, e->off, e->len,
			    e->ino, e->ext);
	}
	buf_free(&raw);
	if (r < 0)
		segment_index_free(&ix);
	else if (ix_out)
		*ix_out = ix;
	else
		segment_index_free(&ix);
	return r;
}

void segment_index_free(struct segment_index *ix)
{
	free(ix->ents);
	ix->ents = NULL;
}
