/* test-codec.c -- codec.c: round trips, bounds, parsing, corrupt input.
 *
 * Decompression runs on bytes that passed the AEAD but could still be
 * wrong (a bug, a forged header): it must report -EBADMSG and never write
 * past the buffer it was given, which the guard bytes after every output
 * buffer check. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>

#include "crypt/codec.h"
#include "testutil.h"

#define GUARD 64
#define GUARD_BYTE 0xa7

static struct test_rng rng;

static int group_setup(void **state)
{
	(void)state;
	rng.s = test_seed("test-codec");
	return 0;
}

static void fill_compressible(uint8_t *p, size_t n)
{
	static const char words[] = "the quick brown fox jumps over the lazy dog ";
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)words[(i * 3 + i / 251) % (sizeof(words) - 1)];
}

static struct codec codec_of(const char *spec)
{
	struct codec c;
	assert_int_equal(codec_parse(spec, &c), 0);
	return c;
}

/* An output buffer of n bytes followed by guard bytes. */
static uint8_t *guarded(size_t n)
{
	uint8_t *p = xmalloc(n + GUARD);
	memset(p, GUARD_BYTE, n + GUARD);
	return p;
}

static void assert_guard_intact(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < GUARD; i++)
		assert_int_equal(p[n + i], GUARD_BYTE);
}

static void round_trip(struct codec c, const uint8_t *in, size_t n)
{
	size_t cap = codec_bound(c, n), clen = 0;
	uint8_t *comp = guarded(cap), *back = guarded(n);
	assert_int_equal(codec_compress(c, in, n, comp, cap, &clen), 0);
	assert_true(clen <= cap);
	assert_guard_intact(comp, cap);
	assert_int_equal(codec_decompress(c.id, comp, clen, back, n), 0);
	assert_guard_intact(back, n);
	if (n)
		assert_memory_equal(back, in, n);
	free(comp);
	free(back);
}

static void round_trips(const char *spec)
{
	static const size_t lens[] = { 0, 1, 7, 4096, 65536 };
	struct codec c = codec_of(spec);
	uint8_t *text = xmalloc(65536), *noise = xmalloc(65536);
	fill_compressible(text, 65536);
	test_rng_fill(&rng, noise, 65536);
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		round_trip(c, text, lens[i]);
		round_trip(c, noise, lens[i]);
	}
	/* Empty input may come as NULL. */
	round_trip(c, NULL, 0);
	free(text);
	free(noise);
}

static void test_round_trip_none(void **state) { (void)state; round_trips("none"); }
static void test_round_trip_lz4(void **state) { (void)state; round_trips("lz4"); }
static void test_round_trip_zstd_1(void **state) { (void)state; round_trips("zstd:1"); }
static void test_round_trip_zstd_3(void **state) { (void)state; round_trips("zstd"); }
static void test_round_trip_zstd_19(void **state) { (void)state; round_trips("zstd-19"); }
static void test_round_trip_zstd_22(void **state) { (void)state; round_trips("zstd:22"); }

static void test_compression_shrinks_text(void **state)
{
	static const char *const specs[] = { "lz4", "zstd:1", "zstd:22" };
	uint8_t text[16384], out[32768];
	size_t clen;
	(void)state;
	fill_compressible(text, sizeof(text));
	for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		assert_int_equal(codec_compress(codec_of(specs[i]), text, sizeof(text), out,
						sizeof(out), &clen), 0);
		assert_true(clen < sizeof(text) / 4);
	}
}

static void test_compress_small_output_is_enospc(void **state)
{
	static const char *const specs[] = { "none", "lz4", "zstd", "zstd:19" };
	uint8_t noise[4096], out[100];
	size_t clen;
	(void)state;
	test_rng_fill(&rng, noise, sizeof(noise));
	for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++)
		assert_int_equal(codec_compress(codec_of(specs[i]), noise, sizeof(noise), out,
						sizeof(out), &clen), -ENOSPC);
}

static void test_compress_invalid_codec_is_einval(void **state)
{
	static const struct codec bad[] = {
		{ CODEC_ZSTD, 0 }, { CODEC_ZSTD, 23 }, { CODEC_ZSTD, -1 },
		{ (enum codec_id)3, 0 }, { (enum codec_id)255, 3 },
	};
	uint8_t in[16] = { 0 }, out[256];
	size_t clen;
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(codec_compress(bad[i], in, sizeof(in), out, sizeof(out), &clen),
				 -EINVAL);
	assert_int_equal(codec_decompress((enum codec_id)3, in, sizeof(in), out, 16), -EINVAL);
}

static void test_bound_covers_worst_case(void **state)
{
	static const char *const specs[] = { "none", "lz4", "zstd:1", "zstd:22" };
	(void)state;
	for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		struct codec c = codec_of(specs[i]);
		assert_true(codec_bound(c, 1 << 20) >= 1 << 20);
		assert_true(codec_bound(c, (size_t)1 << 30) >= (size_t)1 << 30);
	}
}

/* ---- corrupt input ---- */

static void test_decompress_wrong_size_is_ebadmsg(void **state)
{
	static const char *const specs[] = { "none", "lz4", "zstd" };
	uint8_t text[4096], comp[8192];
	size_t clen;
	(void)state;
	fill_compressible(text, sizeof(text));
	for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		struct codec c = codec_of(specs[i]);
		uint8_t *small = guarded(sizeof(text) - 1), *big = guarded(sizeof(text) + 1);
		assert_int_equal(codec_compress(c, text, sizeof(text), comp, sizeof(comp), &clen),
				 0);
		assert_int_equal(codec_decompress(c.id, comp, clen, small, sizeof(text) - 1),
				 -EBADMSG);
		assert_guard_intact(small, sizeof(text) - 1);
		assert_int_equal(codec_decompress(c.id, comp, clen, big, sizeof(text) + 1),
				 -EBADMSG);
		assert_guard_intact(big, sizeof(text) + 1);
		assert_int_equal(codec_decompress(c.id, comp, clen - 1, big, sizeof(text)),
				 -EBADMSG);
		assert_int_equal(codec_decompress(c.id, comp, 0, big, sizeof(text)), -EBADMSG);
		free(small);
		free(big);
	}
}

static void test_decompress_garbage_is_ebadmsg(void **state)
{
	uint8_t garbage[512];
	uint8_t *out = guarded(8192);
	(void)state;
	for (int i = 0; i < 200; i++) {
		size_t n = 1 + test_rng_below(&rng, sizeof(garbage));
		test_rng_fill(&rng, garbage, n);
		assert_int_equal(codec_decompress(CODEC_ZSTD, garbage, n, out, 8192), -EBADMSG);
		assert_int_equal(codec_decompress(CODEC_LZ4, garbage, n, out, 8192), -EBADMSG);
		assert_guard_intact(out, 8192);
	}
	free(out);
}

/* Valid frames with random bytes changed: decode to exactly the size asked
 * for, or -EBADMSG; never a write past the buffer. */
static void mutate_and_decode(const char *spec)
{
	struct codec c = codec_of(spec);
	size_t n = 8192, clen;
	uint8_t *text = xmalloc(n), *comp = xmalloc(codec_bound(c, n)), *out = guarded(n);
	long rounds = test_env_long("TEST_MUTATIONS", 1000);
	fill_compressible(text, n);
	test_rng_fill(&rng, text + 3000, 300);
	assert_int_equal(codec_compress(c, text, n, comp, codec_bound(c, n), &clen), 0);
	for (long i = 0; i < rounds; i++) {
		size_t at = test_rng_below(&rng, clen), k = 1 + test_rng_below(&rng, 3);
		uint8_t saved[3];
		size_t len = clen;
		int rc;
		if (at + k > clen)
			k = clen - at;
		memcpy(saved, comp + at, k);
		for (size_t j = 0; j < k; j++)
			comp[at + j] ^= (uint8_t)(1 + test_rng_below(&rng, 255));
		if (test_rng_below(&rng, 4) == 0)
			len = test_rng_below(&rng, clen);
		rc = codec_decompress(c.id, comp, len, out, n);
		assert_true(rc == 0 || rc == -EBADMSG);
		assert_guard_intact(out, n);
		memcpy(comp + at, saved, k);
	}
	free(text);
	free(comp);
	free(out);
}

static void test_mutated_lz4_never_overruns(void **state)
{
	(void)state;
	mutate_and_decode("lz4");
}

static void test_mutated_zstd_never_overruns(void **state)
{
	(void)state;
	mutate_and_decode("zstd");
}

/* ---- names ---- */

static void test_parse_good_specs(void **state)
{
	static const struct {
		const char *spec;
		enum codec_id id;
		int level;
	} good[] = {
		{ "none", CODEC_NONE, 0 }, { "lz4", CODEC_LZ4, 0 }, { "zstd", CODEC_ZSTD, 3 },
		{ "zstd:1", CODEC_ZSTD, 1 }, { "zstd-1", CODEC_ZSTD, 1 },
		{ "zstd:19", CODEC_ZSTD, 19 }, { "zstd-22", CODEC_ZSTD, 22 },
		{ "zstd:07", CODEC_ZSTD, 7 },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct codec c;
		assert_int_equal(codec_parse(good[i].spec, &c), 0);
		assert_int_equal(c.id, good[i].id);
		if (c.id == CODEC_ZSTD)
			assert_int_equal(c.level, good[i].level);
	}
}

static void test_parse_bad_specs(void **state)
{
	static const char *const bad[] = {
		"", "zstd:", "zstd-", "zstd:0", "zstd:23", "zstd-100", "zstd:-1", "zstd:+3",
		"zstd:3x", "zstd: 3", "zstd3", "zstd:3:4", "ZSTD", "Lz4", "lz4:1", "lz4 ",
		" none", "gzip", "zst", "zstd:99999999999999999999999",
	};
	struct codec c = { CODEC_LZ4, 0 };
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(codec_parse(bad[i], &c), -EINVAL);
		assert_int_equal(c.id, CODEC_LZ4); /* untouched on error */
	}
	assert_int_equal(codec_parse(NULL, &c), -EINVAL);
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(codec_name(CODEC_NONE), "none");
	assert_string_equal(codec_name(CODEC_LZ4), "lz4");
	assert_string_equal(codec_name(CODEC_ZSTD), "zstd");
	assert_string_equal(codec_name((enum codec_id)42), "unknown");
}

/* ---- threads: per-thread contexts, freed when each thread exits ---- */

static void *codec_worker(void *arg)
{
	struct test_rng r = { (uint64_t)(uintptr_t)arg };
	struct codec c = { CODEC_ZSTD, 1 + (int)((uintptr_t)arg % 9) };
	uint8_t text[8192], comp[9000], back[8192];
	fill_compressible(text, sizeof(text));
	for (int i = 0; i < 300; i++) {
		size_t n = test_rng_below(&r, sizeof(text)), clen;
		if (codec_compress(c, text, n, comp, sizeof(comp), &clen) ||
		    codec_decompress(c.id, comp, clen, back, n) ||
		    (n && memcmp(back, text, n)))
			return (void *)1;
	}
	return NULL;
}

static void test_threads(void **state)
{
	pthread_t t[8];
	(void)state;
	for (uintptr_t i = 0; i < 8; i++)
		assert_int_equal(pthread_create(&t[i], NULL, codec_worker, (void *)(i + 1)), 0);
	for (int i = 0; i < 8; i++) {
		void *res;
		assert_int_equal(pthread_join(t[i], &res), 0);
		assert_null(res);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_none),
		cmocka_unit_test(test_round_trip_lz4),
		cmocka_unit_test(test_round_trip_zstd_1),
		cmocka_unit_test(test_round_trip_zstd_3),
		cmocka_unit_test(test_round_trip_zstd_19),
		cmocka_unit_test(test_round_trip_zstd_22),
		cmocka_unit_test(test_compression_shrinks_text),
		cmocka_unit_test(test_compress_small_output_is_enospc),
		cmocka_unit_test(test_compress_invalid_codec_is_einval),
		cmocka_unit_test(test_bound_covers_worst_case),
		cmocka_unit_test(test_decompress_wrong_size_is_ebadmsg),
		cmocka_unit_test(test_decompress_garbage_is_ebadmsg),
		cmocka_unit_test(test_mutated_lz4_never_overruns),
		cmocka_unit_test(test_mutated_zstd_never_overruns),
		cmocka_unit_test(test_parse_good_specs),
		cmocka_unit_test(test_parse_bad_specs),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_threads),
	};
	return cmocka_run_group_tests(tests, group_setup, NULL);
}
