/* test-data-segment.c -- frames built in steps, the open segment's waits,
 * and the CPU pool.
 *
 *  - a frame laid out the way bucketfs always wrote them (one unit_seal
 *    with the frame's associated data) opens, and so do frames built by
 *    frame_encode + segment_reserve + frame_encrypt + segment_fill;
 *  - a reader of a reserved frame waits until it is filled, and gets it;
 *  - sealing waits for every reserved frame, then parses back;
 *  - bad input: empty and oversized frames, reserving in a sealed segment;
 *  - workers_run processes every index exactly once, from several callers
 *    at once, and with no pool at all. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <cmocka.h>

#include "crypt/aead.h"
#include "crypt/unit.h"
#include "data/segment.h"
#include "data/workers.h"
#include "testutil.h"
#include "util/coding.h"
#include "util/mem.h"

static const uint8_t key[CRYPT_KEY_BYTES] = { 3, 1, 4, 1, 5, 9, 2, 6 };
static const struct codec lz4 = { CODEC_LZ4, 0 };

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
	nanosleep(&ts, NULL);
}

static void fill_text(uint8_t *p, size_t n, uint8_t salt)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)("segment frame "[i % 14] + salt);
}

/* The layout of segment.h, written out here by hand: what older versions
 * stored must keep opening. */
static void old_frame(const struct frame_loc *loc, uint64_t ino, uint64_t ext, const void *raw,
		      size_t len, struct buf *out)
{
	uint8_t ad[40];
	memcpy(ad, "frm\0", 4);
	be64_put(ad + 4, loc->epoch);
	be64_put(ad + 12, loc->counter);
	be32_put(ad + 20, loc->frame);
	be64_put(ad + 24, ino);
	be64_put(ad + 32, ext);
	buf_reset(out);
	buf_put_be32(out, 0);
	assert_int_equal(unit_seal(key, lz4, ad, sizeof ad, raw, len, out), 0);
	be32_put(out->data, (uint32_t)(out->len - 4));
}

static void test_old_and_new_frames_open(void **state)
{
	(void)state;
	uint8_t raw[20000];
	fill_text(raw, sizeof raw, 0);
	struct frame_loc loc = { 7, 42, 3, 0, 1000 };
	struct buf frame = BUF_INIT, back = BUF_INIT;
	old_frame(&loc, 5, 9, raw, sizeof raw, &frame);
	loc.len = (uint32_t)frame.len;
	assert_int_equal(frame_open(key, &loc, 5, 9, frame.data, frame.len, &back), 0);
	assert_int_equal(back.len, sizeof raw);
	assert_memory_equal(back.data, raw, sizeof raw);
	/* Bound to its place: another extent, frame or segment fails. */
	assert_int_equal(frame_open(key, &loc, 5, 10, frame.data, frame.len, &back), -EBADMSG);
	loc.frame = 4;
	assert_int_equal(frame_open(key, &loc, 5, 9, frame.data, frame.len, &back), -EBADMSG);

	/* Built in steps, in a segment: same length as the old layout, opens. */
	struct segment *s = segment_new(7, 42);
	struct frame_loc a, b;
	assert_int_equal(segment_append(s, key, lz4, 1, 1, raw, 100, &a), 0);
	assert_int_equal(frame_encode(lz4, raw, sizeof raw, &frame), 0);
	size_t encoded = frame.len;
	assert_int_equal(segment_reserve(s, 5, 9, frame.len, &b), 0);
	assert_int_equal(b.frame, 1);
	assert_int_equal(b.off, a.off + a.len);
	frame_encrypt(key, &b, 5, 9, frame.data);
	segment_fill(s, &b, frame.data);
	struct buf old = BUF_INIT;
	old_frame(&b, 5, 9, raw, sizeof raw, &old);
	assert_int_equal(old.len, encoded);
	assert_int_equal(segment_copy_frame(s, &b, &frame), 0);
	assert_int_equal(frame_open(key, &b, 5, 9, frame.data, frame.len, &back), 0);
	assert_memory_equal(back.data, raw, sizeof raw);
	assert_int_equal(segment_copy_frame(s, &a, &frame), 0);
	assert_int_equal(frame_open(key, &a, 1, 1, frame.data, frame.len, &back), 0);
	assert_int_equal(back.len, 100);
	buf_free(&old);
	buf_free(&frame);
	buf_free(&back);
	segment_free(s);
}

struct waiter {
	struct segment *s;
	struct frame_loc loc;
	struct buf out;
	int rc;
	_Atomic bool returned;
};

static void *copy_main(void *arg)
{
	struct waiter *w = arg;
	w->rc = segment_copy_frame(w->s, &w->loc, &w->out);
	atomic_store(&w->returned, true);
	return NULL;
}

static void *seal_main(void *arg)
{
	struct waiter *w = arg;
	w->rc = segment_seal(w->s, key);
	atomic_store(&w->returned, true);
	return NULL;
}

static void test_reader_waits_for_fill(void **state)
{
	(void)state;
	uint8_t raw[5000];
	fill_text(raw, sizeof raw, 1);
	struct segment *s = segment_new(1, 2);
	struct buf frame = BUF_INIT, back = BUF_INIT;
	struct waiter w = { .s = s, .out = BUF_INIT };
	assert_int_equal(frame_encode(lz4, raw, sizeof raw, &frame), 0);
	assert_int_equal(segment_reserve(s, 8, 0, frame.len, &w.loc), 0);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, copy_main, &w), 0);
	sleep_ms(50);
	assert_false(atomic_load(&w.returned)); /* an unfilled frame is never handed out */
	frame_encrypt(key, &w.loc, 8, 0, frame.data);
	segment_fill(s, &w.loc, frame.data);
	pthread_join(th, NULL);
	assert_int_equal(w.rc, 0);
	assert_int_equal(frame_open(key, &w.loc, 8, 0, w.out.data, w.out.len, &back), 0);
	assert_memory_equal(back.data, raw, sizeof raw);
	/* Not a frame of this segment: -ENOENT at once. */
	struct frame_loc other = w.loc;
	other.counter = 3;
	assert_int_equal(segment_copy_frame(s, &other, &back), -ENOENT);
	other = w.loc;
	other.frame = 1;
	assert_int_equal(segment_copy_frame(s, &other, &back), -ENOENT);
	buf_free(&w.out);
	buf_free(&frame);
	buf_free(&back);
	segment_free(s);
}

static void test_seal_waits_for_every_frame(void **state)
{
	(void)state;
	uint8_t raw[3000];
	struct segment *s = segment_new(4, 16);
	struct buf f[3] = { BUF_INIT, BUF_INIT, BUF_INIT };
	struct frame_loc loc[3];
	for (int i = 0; i < 3; i++) {
		fill_text(raw, sizeof raw, (uint8_t)i);
		assert_int_equal(frame_encode(lz4, raw, sizeof raw - (size_t)i, &f[i]), 0);
		assert_int_equal(segment_reserve(s, 20, (uint64_t)i, f[i].len, &loc[i]), 0);
		frame_encrypt(key, &loc[i], 20, (uint64_t)i, f[i].data);
	}
	segment_fill(s, &loc[2], f[2].data); /* out of order */
	struct waiter w = { .s = s };
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, seal_main, &w), 0);
	sleep_ms(30);
	assert_false(atomic_load(&w.returned));
	segment_fill(s, &loc[0], f[0].data);
	sleep_ms(30);
	assert_false(atomic_load(&w.returned));
	segment_fill(s, &loc[1], f[1].data);
	pthread_join(th, NULL);
	assert_int_equal(w.rc, 0);
	assert_true(segment_sealed(s));
	/* Parse it back as a reader of the object would. */
	size_t size = segment_size(s);
	const uint8_t *obj = segment_bytes(s);
	struct segment_index ix;
	char why[SEGMENT_WHY_MAX];
	assert_int_equal(segment_verify(key, 4, 16, obj, size, &ix, why), 0);
	assert_int_equal(ix.frames, 3);
	struct segment_dir_entry *ents = ix.ents;
	struct buf back = BUF_INIT;
	for (int i = 0; i < 3; i++) {
		assert_int_equal(ents[i].ext, (uint64_t)i);
		assert_int_equal(ents[i].off, loc[i].off);
		assert_int_equal(frame_open(key, &loc[i], 20, (uint64_t)i, obj + loc[i].off, loc[i].len,
					    &back), 0);
		assert_int_equal(back.len, sizeof raw - (size_t)i);
		buf_free(&f[i]);
	}
	free(ents);
	/* Sealed: nothing more goes in. */
	struct frame_loc x;
	assert_int_equal(segment_reserve(s, 1, 1, 100, &x), -EINVAL);
	assert_int_equal(segment_append(s, key, lz4, 1, 1, raw, 10, &x), -EINVAL);
	assert_int_equal(segment_seal(s, key), -EINVAL);
	buf_free(&back);
	segment_free(s);
}

static void test_bad_frames_refused(void **state)
{
	(void)state;
	uint8_t *raw = xcalloc(1, EXTENT_BYTES + 1);
	struct buf frame = BUF_INIT;
	struct frame_loc loc;
	assert_int_equal(frame_encode(lz4, raw, 0, &frame), -EINVAL);
	assert_int_equal(frame_encode(lz4, raw, EXTENT_BYTES + 1, &frame), -EINVAL);
	assert_int_equal(frame_encode(lz4, raw, EXTENT_BYTES, &frame), 0);
	struct segment *s = segment_new(1, 1);
	assert_int_equal(segment_reserve(s, 1, 1, 3, &loc), -EINVAL); /* shorter than any unit */
	assert_int_equal(segment_frames(s), 0);
	assert_int_equal(segment_size(s), 0);
	assert_int_equal(segment_seal(s, key), 0); /* an empty segment seals */
	segment_free(s);
	buf_free(&frame);
	free(raw);
}

/* ---- the CPU pool ---- */

#define NIDX 2000

struct count_job {
	_Atomic int seen[NIDX];
};

static void count_one(void *arg, size_t i)
{
	struct count_job *c = arg;
	atomic_fetch_add(&c->seen[i], 1);
}

struct caller {
	struct workers *w;
	struct count_job job;
};

static void *caller_main(void *arg)
{
	struct caller *c = arg;
	for (int k = 0; k < 20; k++)
		workers_run(c->w, count_one, &c->job, NIDX);
	return NULL;
}

static void test_workers_run_every_index_once(void **state)
{
	(void)state;
	assert_true(workers_cpus() >= 1);
	struct workers *pools[2] = { workers_new(3), workers_new(0) };
	for (int p = 0; p < 2; p++) {
		struct caller *c = xcalloc(4, sizeof *c);
		pthread_t th[4];
		for (int i = 0; i < 4; i++) {
			c[i].w = pools[p];
			assert_int_equal(pthread_create(&th[i], NULL, caller_main, &c[i]), 0);
		}
		for (int i = 0; i < 4; i++)
			pthread_join(th[i], NULL);
		for (int i = 0; i < 4; i++)
			for (size_t k = 0; k < NIDX; k++)
				if (atomic_load(&c[i].job.seen[k]) != 20)
					fail_msg("pool %d caller %d index %zu ran %d times, not 20", p, i,
						 k, atomic_load(&c[i].job.seen[k]));
		free(c);
		workers_free(pools[p]);
	}
	workers_run(NULL, count_one, &(struct count_job){ 0 }, 0); /* nothing to do */
}

int main(void)
{
	crypt_init();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_old_and_new_frames_open),
		cmocka_unit_test(test_reader_waits_for_fill),
		cmocka_unit_test(test_seal_waits_for_every_frame),
		cmocka_unit_test(test_bad_frames_refused),
		cmocka_unit_test(test_workers_run_every_index_once),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
