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
#include "util/crc32c.h"
#include "util/mem.h"

#define SEGMENT_MAGIC "BFSSEG01"
#define SEGMENT_VERSION 1
#define FRAME_AD_BYTES 40

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

static void frame_ad(uint8_t ad[FRAME_AD_BYTES], uint64_t epoch, uint64_t counter,
		     uint32_t frame, uint64_t ino, uint64_t ext)
{
	memcpy(ad, "frm\0", 4);
	be64_put(ad + 4, epoch);
	be64_put(ad + 12, counter);
	be32_put(ad + 20, frame);
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
	frame_ad(ad, loc->epoch, loc->counter, loc->frame, ino, ext);
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

static void dir_ad(uint8_t ad[20], uint64_t epoch, uint64_t counter)
{
	memcpy(ad, "dir\0", 4);
	be64_put(ad + 4, epoch);
	be64_put(ad + 12, counter);
}

int segment_seal(struct segment *s, const uint8_t key[CRYPT_KEY_BYTES])
{
	uint8_t ad[20], f[SEGMENT_FOOTER_BYTES] = { 0 };
	struct codec c = { CODEC_LZ4, 0 };
	pthread_mutex_lock(&s->mu);
	while (s->pending)
		pthread_cond_wait(&s->filled, &s->mu);
	int r = s->sealed ? -EINVAL : 0;
	uint64_t dir_off = s->data.len;
	dir_ad(ad, s->epoch, s->counter);
	if (r == 0)
		r = unit_seal(key, c, ad, sizeof ad, s->dir.data, s->dir.len, &s->data);
	if (r < 0) {
		s->data.len = dir_off;
		pthread_mutex_unlock(&s->mu);
		return r;
	}
	memcpy(f, SEGMENT_MAGIC, 8);
	be32_put(f + 8, SEGMENT_VERSION);
	be32_put(f + 16, s->frames);
	be64_put(f + 24, dir_off);
	be64_put(f + 32, s->data.len - dir_off);
	be64_put(f + 40, s->epoch);
	be64_put(f + 48, s->counter);
	be32_put(f + 60, crc32c(0, f, 60));
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
	frame_ad(ad, loc->epoch, loc->counter, loc->frame, ino, ext);
	int r = unit_open(key, ad, sizeof ad, frame + 4, n - 4, raw);
	if (r < 0)
		return -EBADMSG;
	if (raw->len == 0 || raw->len > EXTENT_BYTES)
		return -EBADMSG;
	return 0;
}

int segment_parse_footer(const uint8_t *f, uint64_t object_size, uint64_t *dir_off,
			 uint64_t *dir_len, uint32_t *frames, uint64_t *epoch, uint64_t *counter)
{
	if (object_size < SEGMENT_FOOTER_BYTES || memcmp(f, SEGMENT_MAGIC, 8) != 0 ||
	    be32_get(f + 60) != crc32c(0, f, 60) || be32_get(f + 8) != SEGMENT_VERSION)
		return -EBADMSG;
	*frames = be32_get(f + 16);
	*dir_off = be64_get(f + 24);
	*dir_len = be64_get(f + 32);
	*epoch = be64_get(f + 40);
	*counter = be64_get(f + 48);
	uint64_t end = object_size - SEGMENT_FOOTER_BYTES;
	if (*dir_off > end || *dir_len != end - *dir_off)
		return -EBADMSG;
	return 0;
}

int segment_parse_dir(const uint8_t key[CRYPT_KEY_BYTES], uint64_t epoch, uint64_t counter,
		      const uint8_t *dir, size_t n, uint32_t frames,
		      struct segment_dir_entry **ents)
{
	uint8_t ad[20];
	struct buf raw = BUF_INIT;
	dir_ad(ad, epoch, counter);
	int r = unit_open(key, ad, sizeof ad, dir, n, &raw);
	if (r < 0 || raw.len != (size_t)frames * 28) {
		buf_free(&raw);
		return -EBADMSG;
	}
	struct segment_dir_entry *e = xcalloc(frames ? frames : 1, sizeof *e);
	struct rd rd = rd_make(raw.data, raw.len);
	for (uint32_t i = 0; i < frames; i++) {
		e[i].ino = rd_be64(&rd);
		e[i].ext = rd_be64(&rd);
		e[i].off = rd_be64(&rd);
		e[i].len = rd_be32(&rd);
	}
	buf_free(&raw);
	*ents = e;
	return 0;
}
