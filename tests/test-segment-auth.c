/* test-segment-auth.c -- every byte of a sealed segment object is
 * authenticated, and corruption reaches applications as EIO.
 *
 *  - a small real segment (three frames, sealed by segment_seal): each byte
 *    position flipped in turn (two masks: low and high bit) is caught by
 *    segment_verify (the whole-object check GC and scrubbing use), and a
 *    flip inside frame i is caught by frame_open of frame i (the single
 *    frame read by FrameLoc) while the other frames still open;
 *  - a large segment (64 frames of random data, ~2 MiB): the footer, the
 *    directory and the frames' first and last bytes every time, plus
 *    positions sampled with a printed seed;
 *  - every truncation of the small segment, extensions by 1..80 bytes
 *    (zeros and random), and a frame removed from the middle: all refused;
 *  - a segment checked under another segment's name (epoch or counter) is
 *    refused, as is one whose bytes are another segment's;
 *  - a footer with an unknown format version is refused with -ENOTSUP and
 *    a message naming the version; v1 (the crc32c footer) is such a one;
 *  - an empty segment seals, verifies, and detects flips too;
 *  - GC leaves a dead segment whose footer is damaged (last byte, 20th
 *    from last) in place, and deletes it once repaired;
 *  - through the POSIX core (fs_read, the path FUSE, 9P and NBD read
 *    through, and fs_read_as, NFS's): a byte flipped inside a stored frame
 *    is -EIO, never -EBADMSG, and the other extents still read; so is an
 *    extent whose location in the metadata is malformed.
 *
 * Knobs: TEST_SEED, SEGMENT_AUTH_SAMPLES (default 3000). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "data/segment.h"
#include "fsfix.h"
#include "testutil.h"
#include "util/coding.h"
#include "util/mem.h"

static const uint8_t key[CRYPT_KEY_BYTES] = { 2, 7, 1, 8, 2, 8, 1, 8 };
static const struct codec lz4 = { CODEC_LZ4, 0 };

struct sealed {
	uint8_t *obj;
	size_t n;
	uint32_t frames;
	struct frame_loc *loc;
	uint64_t *ino, *ext;
};

/* A real segment (epoch, counter) of `frames` frames, sizes[i] bytes each
 * (random if rng, else text), sealed the way the data plane seals. */
static void build(struct sealed *sg, uint64_t epoch, uint64_t counter, uint32_t frames,
		  const size_t *sizes, struct test_rng *rng)
{
	struct segment *s = segment_new(epoch, counter);
	uint8_t *raw = xmalloc(EXTENT_BYTES);
	memset(sg, 0, sizeof *sg);
	sg->frames = frames;
	sg->loc = xcalloc(frames + 1, sizeof *sg->loc);
	sg->ino = xcalloc(frames + 1, sizeof *sg->ino);
	sg->ext = xcalloc(frames + 1, sizeof *sg->ext);
	for (uint32_t i = 0; i < frames; i++) {
		if (rng)
			test_rng_fill(rng, raw, sizes[i]);
		else
			for (size_t j = 0; j < sizes[i]; j++)
				raw[j] = (uint8_t)("authenticated "[j % 14] + i);
		sg->ino[i] = 100 + i % 3;
		sg->ext[i] = i;
		assert_int_equal(segment_append(s, key, lz4, sg->ino[i], sg->ext[i], raw, sizes[i],
						&sg->loc[i]), 0);
	}
	assert_int_equal(segment_seal(s, key), 0);
	sg->n = segment_size(s);
	sg->obj = xmalloc(sg->n + 128);
	memcpy(sg->obj, segment_bytes(s), sg->n);
	segment_free(s);
	free(raw);
}

static void sealed_free(struct sealed *sg)
{
	free(sg->obj);
	free(sg->loc);
	free(sg->ino);
	free(sg->ext);
}

static int verify(const struct sealed *sg, size_t n, uint64_t epoch, uint64_t counter)
{
	char why[SEGMENT_WHY_MAX] = "";
	int r = segment_verify(key, epoch, counter, sg->obj, n, NULL, why);
	if (r < 0 && why[0] == 0)
		fail_msg("verify failed (%d) without saying why", r);
	return r;
}

/* Which frame holds byte at, or frames if none. */
static uint32_t frame_of(const struct sealed *sg, size_t at)
{
	for (uint32_t i = 0; i < sg->frames; i++)
		if (at >= sg->loc[i].off && at < sg->loc[i].off + sg->loc[i].len)
			return i;
	return sg->frames;
}

static int open_frame(const struct sealed *sg, uint32_t i)
{
	struct buf raw = BUF_INIT;
	const struct frame_loc *l = &sg->loc[i];
	int r = frame_open(key, l, sg->ino[i], sg->ext[i], sg->obj + l->off, l->len, &raw);
	buf_free(&raw);
	return r;
}

/* Flip byte `at` with mask, check every reader that covers it, restore. */
static void flip_check(struct sealed *sg, size_t at, uint8_t mask)
{
	sg->obj[at] ^= mask;
	int r = verify(sg, sg->n, sg->loc[0].epoch, sg->loc[0].counter);
	if (r != -EBADMSG && r != -ENOTSUP)
		fail_msg("byte %zu of %zu (%zu from the end) ^ 0x%02x: segment_verify = %d, "
			 "want -EBADMSG", at, sg->n, sg->n - at, mask, r);
	uint32_t f = frame_of(sg, at);
	if (f < sg->frames && open_frame(sg, f) != -EBADMSG)
		fail_msg("byte %zu (frame %u) ^ 0x%02x: frame_open did not fail", at, f, mask);
	sg->obj[at] ^= mask;
}

static const size_t small_sizes[] = { 300, 1, 700 };

static void test_every_byte_of_a_small_segment(void **state)
{
	(void)state;
	struct sealed sg;
	build(&sg, 3, 21, 3, small_sizes, NULL);
	assert_int_equal(verify(&sg, sg.n, 3, 21), 0);
	for (uint32_t i = 0; i < 3; i++)
		assert_int_equal(open_frame(&sg, i), 0);
	/* The two reported today: the last byte and the 20th from last. */
	flip_check(&sg, sg.n - 1, 0x01);
	flip_check(&sg, sg.n - 20, 0x01);
	for (size_t at = 0; at < sg.n; at++) {
		flip_check(&sg, at, 0x01);
		flip_check(&sg, at, 0x80);
		/* Untouched frames still open around a damaged one. */
		uint32_t f = frame_of(&sg, at);
		sg.obj[at] ^= 0x10;
		for (uint32_t i = 0; i < 3; i++)
			if (i != f)
				assert_int_equal(open_frame(&sg, i), 0);
		sg.obj[at] ^= 0x10;
	}
	assert_int_equal(verify(&sg, sg.n, 3, 21), 0);
	sealed_free(&sg);
}

static void test_sampled_bytes_of_a_large_segment(void **state)
{
	(void)state;
	uint64_t seed = test_seed("segment auth: large segment");
	struct test_rng rng = { seed };
	size_t sizes[64];
	for (int i = 0; i < 64; i++)
		sizes[i] = 1 + test_rng_below(&rng, EXTENT_BYTES);
	struct sealed sg;
	build(&sg, 9, 1234, 64, sizes, &rng);
	assert_int_equal(verify(&sg, sg.n, 9, 1234), 0);
	uint64_t dir_off = be64_get(sg.obj + sg.n - SEGMENT_FOOTER_BYTES + 16);
	/* Directory and footer: every byte. */
	for (size_t at = dir_off; at < sg.n; at++)
		flip_check(&sg, at, (uint8_t)(1u << (at % 8)));
	/* Each frame's length field, nonce start, and last (tag) byte. */
	for (uint32_t i = 0; i < sg.frames; i++) {
		flip_check(&sg, sg.loc[i].off, 0x01);
		flip_check(&sg, sg.loc[i].off + 3, 0x01);
		flip_check(&sg, sg.loc[i].off + 4, 0x01);
		flip_check(&sg, sg.loc[i].off + sg.loc[i].len - 1, 0x80);
	}
	long samples = test_env_long("SEGMENT_AUTH_SAMPLES", 3000);
	for (long k = 0; k < samples; k++) {
		size_t at = test_rng_below(&rng, sg.n);
		flip_check(&sg, at, (uint8_t)(1u << test_rng_below(&rng, 8)));
	}
	assert_int_equal(verify(&sg, sg.n, 9, 1234), 0);
	sealed_free(&sg);
}

static void test_truncation_and_extension(void **state)
{
	(void)state;
	struct test_rng rng = { test_seed("segment auth: extension bytes") };
	struct sealed sg;
	build(&sg, 3, 21, 3, small_sizes, NULL);
	for (size_t n = 0; n < sg.n; n++)
		if (verify(&sg, n, 3, 21) != -EBADMSG)
			fail_msg("cut to %zu of %zu bytes: not refused", n, sg.n);
	for (size_t extra = 1; extra <= 80; extra++) {
		memset(sg.obj + sg.n, 0, extra);
		if (verify(&sg, sg.n + extra, 3, 21) != -EBADMSG)
			fail_msg("%zu zero bytes appended: not refused", extra);
		test_rng_fill(&rng, sg.obj + sg.n, extra);
		if (verify(&sg, sg.n + extra, 3, 21) != -EBADMSG)
			fail_msg("%zu random bytes appended: not refused", extra);
		/* Bytes inserted before the footer, the footer kept last. */
		struct sealed ins = sg;
		ins.obj = xmalloc(sg.n + extra);
		size_t body = sg.n - SEGMENT_FOOTER_BYTES;
		memcpy(ins.obj, sg.obj, body);
		memset(ins.obj + body, 0, extra);
		memcpy(ins.obj + body + extra, sg.obj + body, SEGMENT_FOOTER_BYTES);
		if (verify(&ins, sg.n + extra, 3, 21) != -EBADMSG)
			fail_msg("%zu bytes inserted before the footer: not refused", extra);
		free(ins.obj);
	}
	assert_int_equal(verify(&sg, sg.n, 3, 21), 0);
	/* Frame 1 cut out of the middle. */
	size_t at = sg.loc[1].off, len = sg.loc[1].len;
	memmove(sg.obj + at, sg.obj + at + len, sg.n - at - len);
	assert_int_equal(verify(&sg, sg.n - len, 3, 21), -EBADMSG);
	sealed_free(&sg);
}

static void test_another_segments_name_or_bytes(void **state)
{
	(void)state;
	struct sealed a, b;
	build(&a, 3, 21, 3, small_sizes, NULL);
	build(&b, 3, 22, 3, small_sizes, NULL);
	assert_int_equal(verify(&a, a.n, 3, 22), -EBADMSG);
	assert_int_equal(verify(&a, a.n, 4, 21), -EBADMSG);
	assert_int_equal(verify(&b, b.n, 3, 21), -EBADMSG);
	/* b's footer naming a: the directory does not open. */
	be64_put(b.obj + b.n - SEGMENT_FOOTER_BYTES + 40, 21);
	assert_int_equal(verify(&b, b.n, 3, 21), -EBADMSG);
	/* a's directory and footer on b's frames (same sizes, same places). */
	uint64_t dir_off = be64_get(a.obj + a.n - SEGMENT_FOOTER_BYTES + 16);
	if (a.n == b.n) {
		memcpy(b.obj + dir_off, a.obj + dir_off, a.n - dir_off);
		assert_int_equal(verify(&b, b.n, 3, 21), -EBADMSG);
	}
	sealed_free(&a);
	sealed_free(&b);
}

static void test_unknown_version_refused(void **state)
{
	(void)state;
	struct sealed sg;
	char why[SEGMENT_WHY_MAX] = "";
	struct segment_index ix;
	build(&sg, 3, 21, 3, small_sizes, NULL);
	for (uint32_t v = 0; v < 5; v++) {
		if (v == 2)
			continue;
		be32_put(sg.obj + sg.n - SEGMENT_FOOTER_BYTES + 8, v);
		assert_int_equal(segment_open_index(key, 3, 21, sg.obj, sg.n, &ix, why), -ENOTSUP);
		char want[32];
		snprintf(want, sizeof want, "format version %u", v);
		if (!strstr(why, want))
			fail_msg("version %u: message \"%s\" does not name it", v, why);
		printf("# version %u: %s\n", v, why);
	}
	be32_put(sg.obj + sg.n - SEGMENT_FOOTER_BYTES + 8, 2);
	assert_int_equal(segment_open_index(key, 3, 21, sg.obj, sg.n, &ix, why), 0);
	assert_int_equal(ix.frames, 3);
	for (uint32_t i = 0; i < 3; i++) {
		assert_int_equal(ix.ents[i].off, sg.loc[i].off);
		assert_int_equal(ix.ents[i].len, sg.loc[i].len);
		assert_int_equal(ix.ents[i].ino, sg.ino[i]);
		assert_int_equal(ix.ents[i].ext, sg.ext[i]);
	}
	segment_index_free(&ix);
	sealed_free(&sg);
}

static void test_empty_segment(void **state)
{
	(void)state;
	struct segment *s = segment_new(5, 6);
	assert_int_equal(segment_seal(s, key), 0);
	struct sealed sg = { .n = segment_size(s), .frames = 0 };
	sg.obj = xmalloc(sg.n);
	memcpy(sg.obj, segment_bytes(s), sg.n);
	segment_free(s);
	sg.loc = xcalloc(1, sizeof *sg.loc);
	sg.loc[0].epoch = 5;
	sg.loc[0].counter = 6;
	assert_int_equal(verify(&sg, sg.n, 5, 6), 0);
	for (size_t at = 0; at < sg.n; at++)
		flip_check(&sg, at, 0x04);
	for (size_t n = 0; n < sg.n; n++)
		assert_int_equal(verify(&sg, n, 5, 6), -EBADMSG);
	free(sg.obj);
	free(sg.loc);
}

/* ---- through the POSIX core ---- */

static void flip_object_byte(objstore *st, const char *name, uint64_t at)
{
	void *p;
	size_t len;
	assert_int_equal(objstore_get(st, name, 0, OBJSTORE_GET_TO_END, &p, &len), 0);
	assert_true(at < len);
	((uint8_t *)p)[at] ^= 0x40;
	assert_int_equal(objstore_put(st, name, p, len), 0);
	free(p);
}

static void test_fs_read_of_a_tampered_frame_is_eio(void **state)
{
	(void)state;
	struct test_rng rng = { test_seed("segment auth: fs read") };
	struct fsfix f;
	fsfix_init(&f, "segauth-fs");
	enum { N = 4 * EXTENT_BYTES };
	uint8_t *a = xmalloc(N), *got = xmalloc(N);
	test_rng_fill(&rng, a, N);
	uint64_t ino = fsfix_mk(&f, &FSFIX_ROOT, FS_ROOT_INO, "f", S_IFREG | 0644);
	size_t n;
	assert_int_equal(fs_write(f.fs, &FSFIX_ROOT, ino, 0, a, N, &n), 0);
	assert_int_equal(n, N);
	assert_int_equal(data_barrier(f.df.d, 0), 0);
	/* Where extent 2 is stored. */
	uint8_t k[17];
	struct buf v = BUF_INIT;
	struct frame_loc loc;
	k[0] = 'E';
	be64_put(k + 1, ino);
	be64_put(k + 9, 2);
	assert_int_equal(lsm_get(f.df.db, k, sizeof k, &v), 0);
	assert_int_equal(frame_loc_decode(v.data, v.len, &loc), 0);
	buf_free(&v);
	char name[SEGMENT_NAME_MAX];
	segment_name(loc.epoch, loc.counter, name);
	flip_object_byte(f.df.st, name, loc.off + 4 + 24 + test_rng_below(&rng, loc.len - 44));
	fsfix_reopen(&f); /* nothing cached in RAM */
	bool eof;
	int r = fs_read(f.fs, ino, 2 * EXTENT_BYTES, got, EXTENT_BYTES, &n);
	if (r != -EIO)
		fail_msg("fs_read of the tampered extent = %d, want -EIO (%d)", r, -EIO);
	r = fs_read_as(f.fs, &FSFIX_ROOT, ino, 2 * EXTENT_BYTES + 100, got, 10, &n, &eof);
	if (r != -EIO)
		fail_msg("fs_read_as of the tampered extent = %d, want -EIO (%d)", r, -EIO);
	assert_int_equal(fs_read(f.fs, ino, 0, got, N, &n), -EIO);
	assert_int_equal(fs_read(f.fs, ino, EXTENT_BYTES, got, EXTENT_BYTES, &n), 0);
	assert_int_equal(n, EXTENT_BYTES);
	assert_memory_equal(got, a + EXTENT_BYTES, EXTENT_BYTES);
	assert_int_equal(fs_read(f.fs, ino, 3 * EXTENT_BYTES, got, EXTENT_BYTES, &n), 0);
	assert_memory_equal(got, a + 3 * EXTENT_BYTES, EXTENT_BYTES);
	/* A malformed FrameLoc in the metadata (a bug, not the store: the
	 * metadata is authenticated) is EIO too. */
	struct lsm_batch *b = lsm_batch_new();
	be64_put(k + 9, 1);
	lsm_batch_put(b, k, sizeof k, "short", 5);
	assert_int_equal(lsm_write(f.df.db, b, NULL), 0);
	lsm_batch_free(b);
	fsfix_reopen(&f);
	r = fs_read(f.fs, ino, EXTENT_BYTES, got, 10, &n);
	if (r != -EIO)
		fail_msg("fs_read of an extent with a malformed location = %d, want -EIO", r);
	free(a);
	free(got);
	fsfix_done(&f);
}

/* ---- GC reads whole segments through the verified index ---- */

static int one_segment(void *arg, const struct objstore_entry *e)
{
	snprintf(arg, SEGMENT_NAME_MAX, "%s", e->key);
	return 0;
}

static bool object_exists(objstore *st, const char *name)
{
	void *p;
	size_t len;
	int r = objstore_get(st, name, 0, OBJSTORE_GET_TO_END, &p, &len);
	assert_true(r == 0 || r == -ENOENT);
	if (r == 0)
		free(p);
	return r == 0;
}

/* A dead segment whose footer was damaged (its last byte, then its 20th
 * from last) is left in place by GC, not deleted on the strength of a
 * directory it cannot trust; repaired, it goes. */
static void test_gc_leaves_a_damaged_segment(void **state)
{
	(void)state;
	struct test_rng rng = { test_seed("segment auth: gc") };
	struct datafix f;
	datafix_init(&f, "segauth-gc", NULL);
	f.dopt.gc_grace_ms = 0;
	datafix_open(&f);
	enum { N = 4 * EXTENT_BYTES };
	uint8_t *a = xmalloc(N);
	test_rng_fill(&rng, a, N);
	datafix_write(&f, 1, 0, a, N);
	assert_int_equal(data_barrier(f.d, 0), 0);
	char name[SEGMENT_NAME_MAX] = "";
	assert_int_equal(objstore_list_all(f.st, "segments/", NULL, one_segment, name), 0);
	assert_true(name[0] != 0);
	test_rng_fill(&rng, a, N);
	datafix_write(&f, 1, 0, a, N); /* every frame of `name` dies */
	assert_int_equal(data_barrier(f.d, 0), 0);
	void *p;
	size_t len;
	assert_int_equal(objstore_get(f.st, name, 0, OBJSTORE_GET_TO_END, &p, &len), 0);
	const size_t from_end[] = { 1, 20 };
	for (int k = 0; k < 2; k++) {
		uint8_t *bad = xmalloc(len);
		memcpy(bad, p, len);
		bad[len - from_end[k]] ^= 0x01;
		assert_int_equal(objstore_put(f.st, name, bad, len), 0);
		free(bad);
		struct data_gc_report rep;
		(void)data_gc(f.d, &rep);
		if (!object_exists(f.st, name))
			fail_msg("GC deleted %s with byte %zu from the end flipped", name,
				 from_end[k]);
	}
	assert_int_equal(objstore_put(f.st, name, p, len), 0);
	free(p);
	struct data_gc_report rep;
	assert_int_equal(data_gc(f.d, &rep), 0);
	assert_false(object_exists(f.st, name));
	datafix_expect(&f, 1, 0, a, N, "after GC");
	free(a);
	datafix_done(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_byte_of_a_small_segment),
		cmocka_unit_test(test_sampled_bytes_of_a_large_segment),
		cmocka_unit_test(test_truncation_and_extension),
		cmocka_unit_test(test_another_segments_name_or_bytes),
		cmocka_unit_test(test_unknown_version_refused),
		cmocka_unit_test(test_empty_segment),
		cmocka_unit_test(test_fs_read_of_a_tampered_frame_is_eio),
		cmocka_unit_test(test_gc_leaves_a_damaged_segment),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
