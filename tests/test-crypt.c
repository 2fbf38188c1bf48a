/* test-crypt.c -- aead.c and unit.c: sealing, subkeys and sealed units.
 *
 * The property under test throughout: a message or unit that was not
 * produced by unit_seal/crypt_seal with this key and associated data never
 * opens.  Every bit flip of a small unit is tried; for a large one a random
 * sample (seed printed, TEST_SEED replays it). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <sodium.h>

#include "crypt/aead.h"
#include "crypt/codec.h"
#include "crypt/unit.h"
#include "testutil.h"
#include "util/buf.h"
#include "util/coding.h"

static uint8_t key[CRYPT_KEY_BYTES];
static uint8_t other_key[CRYPT_KEY_BYTES];
static const char ad[] = "sst/00000000000000000042@4096";
static struct test_rng rng;

static int group_setup(void **state)
{
	(void)state;
	assert_int_equal(crypt_init(), 0);
	crypt_random(key, sizeof(key));
	crypt_random(other_key, sizeof(other_key));
	rng.s = test_seed("test-crypt");
	return 0;
}

/* Text-like bytes that compress well. */
static void fill_compressible(uint8_t *p, size_t n)
{
	static const char words[] = "inode directory extent segment manifest ";
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)words[(i * 7 + i / 97) % (sizeof(words) - 1)];
}

static struct codec codec_of(const char *spec)
{
	struct codec c;
	assert_int_equal(codec_parse(spec, &c), 0);
	return c;
}

/* ---- aead ---- */

static void test_aead_round_trip(void **state)
{
	static const size_t lens[] = { 0, 1, 15, 16, 17, 100, 4096, 65537 };
	(void)state;
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		size_t n = lens[i];
		uint8_t *plain = xmalloc(n + 1), *back = xmalloc(n + 1);
		uint8_t *sealed = xmalloc(n + CRYPT_SEAL_OVERHEAD);
		test_rng_fill(&rng, plain, n);
		crypt_seal(key, ad, sizeof(ad), plain, n, sealed);
		assert_int_equal(crypt_open(key, ad, sizeof(ad), sealed,
					    n + CRYPT_SEAL_OVERHEAD, back), 0);
		assert_memory_equal(plain, back, n);
		free(plain);
		free(back);
		free(sealed);
	}
}

static void test_aead_in_place(void **state)
{
	uint8_t plain[300], msg[300 + CRYPT_SEAL_OVERHEAD];
	(void)state;
	test_rng_fill(&rng, plain, sizeof(plain));
	memcpy(msg + CRYPT_NONCE_BYTES, plain, sizeof(plain));
	crypt_seal(key, NULL, 0, msg + CRYPT_NONCE_BYTES, sizeof(plain), msg);
	assert_memory_not_equal(msg + CRYPT_NONCE_BYTES, plain, sizeof(plain));
	assert_int_equal(crypt_open(key, NULL, 0, msg, sizeof(msg), msg + CRYPT_NONCE_BYTES), 0);
	assert_memory_equal(msg + CRYPT_NONCE_BYTES, plain, sizeof(plain));
}

static void test_aead_nonce_is_fresh_per_seal(void **state)
{
	uint8_t plain[32] = { 0 }, a[32 + CRYPT_SEAL_OVERHEAD], b[32 + CRYPT_SEAL_OVERHEAD];
	(void)state;
	crypt_seal(key, ad, sizeof(ad), plain, sizeof(plain), a);
	crypt_seal(key, ad, sizeof(ad), plain, sizeof(plain), b);
	assert_memory_not_equal(a, b, CRYPT_NONCE_BYTES);
	assert_memory_not_equal(a + CRYPT_NONCE_BYTES, b + CRYPT_NONCE_BYTES, sizeof(plain));
}

static void test_aead_wrong_key_is_ebadmsg(void **state)
{
	uint8_t plain[64], sealed[64 + CRYPT_SEAL_OVERHEAD], back[64];
	(void)state;
	test_rng_fill(&rng, plain, sizeof(plain));
	crypt_seal(key, ad, sizeof(ad), plain, sizeof(plain), sealed);
	assert_int_equal(crypt_open(other_key, ad, sizeof(ad), sealed, sizeof(sealed), back),
			 -EBADMSG);
}

static void test_aead_wrong_ad_is_ebadmsg(void **state)
{
	uint8_t plain[64], sealed[64 + CRYPT_SEAL_OVERHEAD], back[64];
	char ad2[sizeof(ad)];
	(void)state;
	test_rng_fill(&rng, plain, sizeof(plain));
	crypt_seal(key, ad, sizeof(ad), plain, sizeof(plain), sealed);
	memcpy(ad2, ad, sizeof(ad));
	ad2[3] ^= 1;
	assert_int_equal(crypt_open(key, ad2, sizeof(ad2), sealed, sizeof(sealed), back),
			 -EBADMSG);
	assert_int_equal(crypt_open(key, ad, sizeof(ad) - 1, sealed, sizeof(sealed), back),
			 -EBADMSG);
	assert_int_equal(crypt_open(key, NULL, 0, sealed, sizeof(sealed), back), -EBADMSG);
}

static void test_aead_truncated_is_ebadmsg(void **state)
{
	uint8_t plain[64], sealed[64 + CRYPT_SEAL_OVERHEAD], back[64];
	(void)state;
	test_rng_fill(&rng, plain, sizeof(plain));
	crypt_seal(key, ad, sizeof(ad), plain, sizeof(plain), sealed);
	for (size_t n = 0; n < sizeof(sealed); n++)
		assert_int_equal(crypt_open(key, ad, sizeof(ad), sealed, n, back), -EBADMSG);
}

static void test_subkeys_differ_per_domain_and_are_stable(void **state)
{
	uint8_t data1[CRYPT_KEY_BYTES], data2[CRYPT_KEY_BYTES], meta[CRYPT_KEY_BYTES];
	uint8_t other[CRYPT_KEY_BYTES];
	(void)state;
	crypt_subkey(key, CRYPT_DOMAIN_DATA, data1);
	crypt_subkey(key, CRYPT_DOMAIN_DATA, data2);
	crypt_subkey(key, CRYPT_DOMAIN_META, meta);
	crypt_subkey(other_key, CRYPT_DOMAIN_DATA, other);
	assert_memory_equal(data1, data2, CRYPT_KEY_BYTES);
	assert_memory_not_equal(data1, meta, CRYPT_KEY_BYTES);
	assert_memory_not_equal(data1, key, CRYPT_KEY_BYTES);
	assert_memory_not_equal(meta, key, CRYPT_KEY_BYTES);
	assert_memory_not_equal(data1, other, CRYPT_KEY_BYTES);
}

/* The on-disk format depends on the derivation, so pin it to its
 * definition: BLAKE2b keyed with the master key, salt = subkey id
 * (little-endian, zero-padded), personalisation = "bucketfs". */
static void test_subkey_matches_its_definition(void **state)
{
	static const enum crypt_domain domains[] = { CRYPT_DOMAIN_DATA, CRYPT_DOMAIN_META };
	uint8_t master[CRYPT_KEY_BYTES], sub[CRYPT_KEY_BYTES], want[CRYPT_KEY_BYTES];
	(void)state;
	for (size_t i = 0; i < sizeof(master); i++)
		master[i] = (uint8_t)i;
	for (size_t d = 0; d < sizeof(domains) / sizeof(domains[0]); d++) {
		uint8_t salt[crypto_generichash_blake2b_SALTBYTES] = { 0 };
		uint8_t personal[crypto_generichash_blake2b_PERSONALBYTES] = { 0 };
		le64_put(salt, (uint64_t)domains[d]);
		memcpy(personal, "bucketfs", 8);
		assert_int_equal(crypto_generichash_blake2b_salt_personal(
					 want, sizeof(want), NULL, 0, master, sizeof(master),
					 salt, personal), 0);
		crypt_subkey(master, domains[d], sub);
		assert_memory_equal(sub, want, sizeof(sub));
	}
}

static void test_wipe_zeroes(void **state)
{
	uint8_t b[37];
	(void)state;
	memset(b, 0xa5, sizeof(b));
	crypt_wipe(b, sizeof(b));
	for (size_t i = 0; i < sizeof(b); i++)
		assert_int_equal(b[i], 0);
}

/* ---- units ---- */

static void seal_ok(struct codec c, const void *raw, size_t n, struct buf *out)
{
	buf_reset(out);
	assert_int_equal(unit_seal(key, c, ad, sizeof(ad), raw, n, out), 0);
	assert_true(out->len <= unit_bound(c, n));
}

static void open_equals(const struct buf *unit, const void *raw, size_t n)
{
	struct buf back = BUF_INIT;
	assert_int_equal(unit_open(key, ad, sizeof(ad), unit->data, unit->len, &back), 0);
	assert_int_equal(back.len, n);
	if (n)
		assert_memory_equal(back.data, raw, n);
	buf_free(&back);
}

static void test_unit_round_trip_every_codec(void **state)
{
	static const char *const specs[] = { "none", "lz4", "zstd:1", "zstd", "zstd:19",
					     "zstd:22" };
	static const size_t lens[] = { 0, 1, 4096, 32768 };
	struct buf unit = BUF_INIT;
	uint8_t *text = xmalloc(32768), *noise = xmalloc(32768);
	(void)state;
	fill_compressible(text, 32768);
	test_rng_fill(&rng, noise, 32768);
	for (size_t s = 0; s < sizeof(specs) / sizeof(specs[0]); s++) {
		for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
			seal_ok(codec_of(specs[s]), text, lens[l], &unit);
			open_equals(&unit, text, lens[l]);
			seal_ok(codec_of(specs[s]), noise, lens[l], &unit);
			open_equals(&unit, noise, lens[l]);
		}
	}
	buf_free(&unit);
	free(text);
	free(noise);
}

static void test_unit_compresses_compressible_data(void **state)
{
	static const char *const specs[] = { "lz4", "zstd:1", "zstd:19" };
	struct buf unit = BUF_INIT;
	uint8_t text[4096];
	enum codec_id id;
	(void)state;
	fill_compressible(text, sizeof(text));
	for (size_t s = 0; s < sizeof(specs) / sizeof(specs[0]); s++) {
		struct codec c = codec_of(specs[s]);
		seal_ok(c, text, sizeof(text), &unit);
		assert_true(unit.len < sizeof(text) / 2);
		assert_int_equal(unit_codec(key, ad, sizeof(ad), unit.data, unit.len, &id), 0);
		assert_int_equal(id, c.id);
	}
	buf_free(&unit);
}

static void test_unit_incompressible_falls_back_to_none(void **state)
{
	static const char *const specs[] = { "lz4", "zstd:3", "zstd:22" };
	struct buf unit = BUF_INIT;
	uint8_t noise[4096];
	enum codec_id id;
	(void)state;
	test_rng_fill(&rng, noise, sizeof(noise));
	for (size_t s = 0; s < sizeof(specs) / sizeof(specs[0]); s++) {
		seal_ok(codec_of(specs[s]), noise, sizeof(noise), &unit);
		assert_int_equal(unit.len, sizeof(noise) + CRYPT_SEAL_OVERHEAD + UNIT_HEADER_BYTES);
		assert_int_equal(unit_codec(key, ad, sizeof(ad), unit.data, unit.len, &id), 0);
		assert_int_equal(id, CODEC_NONE);
		open_equals(&unit, noise, sizeof(noise));
	}
	buf_free(&unit);
}

/* Units written under different configured codecs live side by side and
 * all open with the same call. */
static void test_unit_codec_switch(void **state)
{
	static const char *const specs[] = { "none", "lz4", "zstd:1", "zstd:19", "lz4",
					     "none" };
	static const enum codec_id want[] = { CODEC_NONE, CODEC_LZ4, CODEC_ZSTD, CODEC_ZSTD,
					      CODEC_LZ4, CODEC_NONE };
	enum { N = sizeof(specs) / sizeof(specs[0]) };
	struct buf units[N];
	uint8_t text[8192];
	enum codec_id id;
	(void)state;
	fill_compressible(text, sizeof(text));
	for (size_t i = 0; i < N; i++) {
		buf_init(&units[i]);
		seal_ok(codec_of(specs[i]), text, sizeof(text), &units[i]);
	}
	for (size_t i = 0; i < N; i++) {
		open_equals(&units[i], text, sizeof(text));
		assert_int_equal(unit_codec(key, ad, sizeof(ad), units[i].data, units[i].len,
					    &id), 0);
		assert_int_equal(id, want[i]);
		buf_free(&units[i]);
	}
}

static void test_unit_seal_appends(void **state)
{
	struct buf out = BUF_INIT, back = BUF_INIT;
	uint8_t text[1000];
	size_t first;
	(void)state;
	fill_compressible(text, sizeof(text));
	buf_append(&out, "prefix", 6);
	assert_int_equal(unit_seal(key, codec_of("zstd"), ad, sizeof(ad), text, 500, &out), 0);
	first = out.len;
	assert_int_equal(unit_seal(key, codec_of("lz4"), ad, sizeof(ad), text, 1000, &out), 0);
	assert_memory_equal(out.data, "prefix", 6);
	assert_int_equal(unit_open(key, ad, sizeof(ad), out.data + 6, first - 6, &back), 0);
	assert_int_equal(back.len, 500);
	assert_int_equal(unit_open(key, ad, sizeof(ad), out.data + first, out.len - first,
				   &back), 0);
	assert_int_equal(back.len, 1000);
	assert_memory_equal(back.data, text, 1000);
	buf_free(&out);
	buf_free(&back);
}

/* The unit may sit in the buffer that receives the raw bytes. */
static void test_unit_open_into_own_buffer(void **state)
{
	struct buf b = BUF_INIT;
	uint8_t text[20000];
	(void)state;
	fill_compressible(text, sizeof(text));
	assert_int_equal(unit_seal(key, codec_of("lz4"), ad, sizeof(ad), text, sizeof(text),
				   &b), 0);
	assert_int_equal(unit_open(key, ad, sizeof(ad), b.data, b.len, &b), 0);
	assert_int_equal(b.len, sizeof(text));
	assert_memory_equal(b.data, text, sizeof(text));
	buf_free(&b);
}

static void test_unit_seal_rejects_bad_arguments(void **state)
{
	struct buf out = BUF_INIT;
	uint8_t byte = 0;
	struct codec bad_level = { CODEC_ZSTD, 23 }, zero_level = { CODEC_ZSTD, 0 };
	struct codec bad_id = { (enum codec_id)9, 0 };
	(void)state;
	buf_append(&out, "x", 1);
	/* Rejected before the bytes are read. */
	assert_int_equal(unit_seal(key, codec_of("none"), ad, sizeof(ad), &byte,
				   (size_t)UNIT_RAW_MAX + 1, &out), -EINVAL);
	assert_int_equal(unit_seal(key, bad_level, ad, sizeof(ad), &byte, 1, &out), -EINVAL);
	assert_int_equal(unit_seal(key, zero_level, ad, sizeof(ad), &byte, 1, &out), -EINVAL);
	assert_int_equal(unit_seal(key, bad_id, ad, sizeof(ad), &byte, 1, &out), -EINVAL);
	assert_int_equal(out.len, 1);
	buf_free(&out);
}

static void expect_open_fails(const uint8_t *k, const void *a, size_t alen, const void *u,
			      size_t n)
{
	struct buf back = BUF_INIT;
	enum codec_id id;
	buf_append(&back, "stale", 5);
	assert_int_equal(unit_open(k, a, alen, u, n, &back), -EBADMSG);
	assert_int_equal(back.len, 0);
	assert_int_equal(unit_codec(k, a, alen, u, n, &id), -EBADMSG);
	buf_free(&back);
}

static void test_unit_wrong_key_or_ad_is_ebadmsg(void **state)
{
	struct buf unit = BUF_INIT;
	uint8_t text[4096], meta[CRYPT_KEY_BYTES];
	(void)state;
	fill_compressible(text, sizeof(text));
	seal_ok(codec_of("zstd"), text, sizeof(text), &unit);
	expect_open_fails(other_key, ad, sizeof(ad), unit.data, unit.len);
	crypt_subkey(key, CRYPT_DOMAIN_META, meta);
	expect_open_fails(meta, ad, sizeof(ad), unit.data, unit.len);
	expect_open_fails(key, "sst/1@0", 7, unit.data, unit.len);
	expect_open_fails(key, NULL, 0, unit.data, unit.len);
	buf_free(&unit);
}

static void flip_and_expect_failure(struct buf *unit, size_t bit)
{
	unit->data[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	expect_open_fails(key, ad, sizeof(ad), unit->data, unit->len);
	unit->data[bit / 8] ^= (uint8_t)(1u << (bit % 8));
}

static void test_unit_every_bit_flip_small(void **state)
{
	static const char *const specs[] = { "none", "lz4", "zstd" };
	struct buf unit = BUF_INIT;
	uint8_t text[96];
	(void)state;
	fill_compressible(text, sizeof(text));
	for (size_t s = 0; s < sizeof(specs) / sizeof(specs[0]); s++) {
		seal_ok(codec_of(specs[s]), text, sizeof(text), &unit);
		for (size_t bit = 0; bit < unit.len * 8; bit++)
			flip_and_expect_failure(&unit, bit);
		open_equals(&unit, text, sizeof(text));
	}
	buf_free(&unit);
}

static void test_unit_bit_flip_sample_large(void **state)
{
	struct buf unit = BUF_INIT;
	size_t n = 256 * 1024;
	uint8_t *raw = xmalloc(n);
	long samples = test_env_long("TEST_FLIPS", 300);
	(void)state;
	fill_compressible(raw, n);
	test_rng_fill(&rng, raw + n / 2, n / 4);
	seal_ok(codec_of("zstd"), raw, n, &unit);
	/* Always the edges, then random bits. */
	flip_and_expect_failure(&unit, 0);
	flip_and_expect_failure(&unit, unit.len * 8 - 1);
	flip_and_expect_failure(&unit, CRYPT_NONCE_BYTES * 8);
	for (long i = 0; i < samples; i++)
		flip_and_expect_failure(&unit, test_rng_below(&rng, unit.len * 8));
	open_equals(&unit, raw, n);
	buf_free(&unit);
	free(raw);
}

static void test_unit_truncation_is_ebadmsg(void **state)
{
	struct buf unit = BUF_INIT;
	uint8_t text[200];
	(void)state;
	fill_compressible(text, sizeof(text));
	seal_ok(codec_of("lz4"), text, sizeof(text), &unit);
	for (size_t n = 0; n < unit.len; n++)
		expect_open_fails(key, ad, sizeof(ad), unit.data, n);
	/* Extending is no better than cutting. */
	buf_put_u8(&unit, 0);
	expect_open_fails(key, ad, sizeof(ad), unit.data, unit.len);
	buf_free(&unit);
}

/* Seal header || payload directly, so only the unit layer can object. */
static void forge(uint8_t codec, uint32_t raw_len, const void *payload, size_t plen,
		  struct buf *out)
{
	uint8_t *plain = xmalloc(UNIT_HEADER_BYTES + plen);
	plain[0] = codec;
	be32_put(plain + 1, raw_len);
	if (plen)
		memcpy(plain + UNIT_HEADER_BYTES, payload, plen);
	buf_reset(out);
	buf_reserve(out, UNIT_HEADER_BYTES + plen + CRYPT_SEAL_OVERHEAD);
	crypt_seal(key, ad, sizeof(ad), plain, UNIT_HEADER_BYTES + plen, out->data);
	out->len = UNIT_HEADER_BYTES + plen + CRYPT_SEAL_OVERHEAD;
	free(plain);
}

static void test_unit_forged_is_consistent(void **state)
{
	struct buf unit = BUF_INIT;
	(void)state;
	forge(CODEC_NONE, 5, "hello", 5, &unit);
	open_equals(&unit, "hello", 5);
	buf_free(&unit);
}

static void test_unit_bad_header_is_ebadmsg(void **state)
{
	struct buf unit = BUF_INIT;
	uint8_t body[64] = { 0 };
	(void)state;
	forge(3, 64, body, 64, &unit);
	expect_open_fails(key, ad, sizeof(ad), unit.data, unit.len);
	forge(255, 64, body, 64, &unit);
	expect_open_fails(key, ad, sizeof(ad), unit.data, unit.len);
	forge(CODEC_NONE, 63, body, 64, &unit);
	expect_open_fails(key, ad, sizeof(ad), unit.data, unit.len);
	forge(CODEC_NONE, 65, body, 64, &unit);
	expect_open_fails(key, ad, sizeof(ad), unit.data, unit.len);
	forge(CODEC_ZSTD, UNIT_RAW_MAX + 1, body, 64, &unit);
	expect_open_fails(key, ad, sizeof(ad), unit.data, unit.len);
	forge(CODEC_NONE, UINT32_MAX, body, 64, &unit);
	expect_open_fails(key, ad, sizeof(ad), unit.data, unit.len);
	/* Plaintext shorter than the header. */
	for (size_t n = 0; n < UNIT_HEADER_BYTES; n++) {
		buf_reset(&unit);
		buf_reserve(&unit, n + CRYPT_SEAL_OVERHEAD);
		crypt_seal(key, ad, sizeof(ad), body, n, unit.data);
		unit.len = n + CRYPT_SEAL_OVERHEAD;
		expect_open_fails(key, ad, sizeof(ad), unit.data, unit.len);
	}
	buf_free(&unit);
}

static void test_unit_garbage_payload_is_ebadmsg(void **state)
{
	struct buf unit = BUF_INIT;
	uint8_t garbage[300];
	(void)state;
	for (int round = 0; round < 50; round++) {
		test_rng_fill(&rng, garbage, sizeof(garbage));
		forge(CODEC_ZSTD, 4096, garbage, sizeof(garbage), &unit);
		expect_open_fails(key, ad, sizeof(ad), unit.data, unit.len);
		forge(CODEC_LZ4, 4096, garbage, sizeof(garbage), &unit);
		expect_open_fails(key, ad, sizeof(ad), unit.data, unit.len);
	}
	forge(CODEC_ZSTD, 10, NULL, 0, &unit);
	expect_open_fails(key, ad, sizeof(ad), unit.data, unit.len);
	forge(CODEC_LZ4, 10, NULL, 0, &unit);
	expect_open_fails(key, ad, sizeof(ad), unit.data, unit.len);
	buf_free(&unit);
}

/* A genuine compressed body under a header claiming another length. */
static void test_unit_raw_len_mismatch_is_ebadmsg(void **state)
{
	static const char *const specs[] = { "lz4", "zstd" };
	uint8_t text[4096], comp[8192];
	struct buf unit = BUF_INIT;
	size_t clen;
	(void)state;
	fill_compressible(text, sizeof(text));
	for (size_t s = 0; s < sizeof(specs) / sizeof(specs[0]); s++) {
		struct codec c = codec_of(specs[s]);
		assert_int_equal(codec_compress(c, text, sizeof(text), comp, sizeof(comp),
						&clen), 0);
		forge((uint8_t)c.id, sizeof(text), comp, clen, &unit);
		open_equals(&unit, text, sizeof(text));
		forge((uint8_t)c.id, sizeof(text) - 1, comp, clen, &unit);
		expect_open_fails(key, ad, sizeof(ad), unit.data, unit.len);
		forge((uint8_t)c.id, sizeof(text) + 1, comp, clen, &unit);
		expect_open_fails(key, ad, sizeof(ad), unit.data, unit.len);
		forge((uint8_t)c.id, 0, comp, clen, &unit);
		expect_open_fails(key, ad, sizeof(ad), unit.data, unit.len);
		forge((uint8_t)c.id, sizeof(text), comp, clen - 1, &unit);
		expect_open_fails(key, ad, sizeof(ad), unit.data, unit.len);
	}
	buf_free(&unit);
}

/* Mutated compressed bodies that get past the AEAD: each either decodes to
 * exactly raw_len bytes (lz4 has no checksum) or is -EBADMSG. */
static void test_unit_mutated_payload_never_crashes(void **state)
{
	static const char *const specs[] = { "lz4", "zstd" };
	uint8_t text[4096], comp[8192];
	struct buf unit = BUF_INIT, back = BUF_INIT;
	long rounds = test_env_long("TEST_MUTATIONS", 500);
	size_t clen;
	(void)state;
	fill_compressible(text, sizeof(text));
	test_rng_fill(&rng, text + 1000, 200);
	for (size_t s = 0; s < sizeof(specs) / sizeof(specs[0]); s++) {
		struct codec c = codec_of(specs[s]);
		assert_int_equal(codec_compress(c, text, sizeof(text), comp, sizeof(comp),
						&clen), 0);
		for (long i = 0; i < rounds; i++) {
			size_t at = test_rng_below(&rng, clen);
			uint8_t was = comp[at];
			int rc;
			comp[at] ^= (uint8_t)(1 + test_rng_below(&rng, 255));
			forge((uint8_t)c.id, sizeof(text), comp, clen, &unit);
			rc = unit_open(key, ad, sizeof(ad), unit.data, unit.len, &back);
			assert_true(rc == 0 || rc == -EBADMSG);
			assert_int_equal(back.len, rc ? 0 : sizeof(text));
			comp[at] = was;
		}
	}
	buf_free(&unit);
	buf_free(&back);
}

/* Per-thread scratch and codec contexts: many threads at once, each
 * exiting (the destructors must free everything: ASan checks). */
static void *unit_worker(void *arg)
{
	struct test_rng r = { (uint64_t)(uintptr_t)arg };
	static const char *const specs[] = { "none", "lz4", "zstd:1", "zstd:6" };
	struct buf unit = BUF_INIT, back = BUF_INIT;
	uint8_t text[16384];
	fill_compressible(text, sizeof(text));
	for (int i = 0; i < 200; i++) {
		size_t n = test_rng_below(&r, sizeof(text));
		struct codec c;
		codec_parse(specs[i % 4], &c);
		buf_reset(&unit);
		if (unit_seal(key, c, ad, sizeof(ad), text, n, &unit) ||
		    unit_open(key, ad, sizeof(ad), unit.data, unit.len, &back) ||
		    back.len != n || (n && memcmp(back.data, text, n)))
			return (void *)1;
	}
	buf_free(&unit);
	buf_free(&back);
	return NULL;
}

static void test_unit_threads(void **state)
{
	pthread_t t[8];
	(void)state;
	for (uintptr_t i = 0; i < 8; i++)
		assert_int_equal(pthread_create(&t[i], NULL, unit_worker, (void *)(i + 1)), 0);
	for (int i = 0; i < 8; i++) {
		void *res;
		assert_int_equal(pthread_join(t[i], &res), 0);
		assert_null(res);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_aead_round_trip),
		cmocka_unit_test(test_aead_in_place),
		cmocka_unit_test(test_aead_nonce_is_fresh_per_seal),
		cmocka_unit_test(test_aead_wrong_key_is_ebadmsg),
		cmocka_unit_test(test_aead_wrong_ad_is_ebadmsg),
		cmocka_unit_test(test_aead_truncated_is_ebadmsg),
		cmocka_unit_test(test_subkeys_differ_per_domain_and_are_stable),
		cmocka_unit_test(test_subkey_matches_its_definition),
		cmocka_unit_test(test_wipe_zeroes),
		cmocka_unit_test(test_unit_round_trip_every_codec),
		cmocka_unit_test(test_unit_compresses_compressible_data),
		cmocka_unit_test(test_unit_incompressible_falls_back_to_none),
		cmocka_unit_test(test_unit_codec_switch),
		cmocka_unit_test(test_unit_seal_appends),
		cmocka_unit_test(test_unit_open_into_own_buffer),
		cmocka_unit_test(test_unit_seal_rejects_bad_arguments),
		cmocka_unit_test(test_unit_wrong_key_or_ad_is_ebadmsg),
		cmocka_unit_test(test_unit_every_bit_flip_small),
		cmocka_unit_test(test_unit_bit_flip_sample_large),
		cmocka_unit_test(test_unit_truncation_is_ebadmsg),
		cmocka_unit_test(test_unit_forged_is_consistent),
		cmocka_unit_test(test_unit_bad_header_is_ebadmsg),
		cmocka_unit_test(test_unit_garbage_payload_is_ebadmsg),
		cmocka_unit_test(test_unit_raw_len_mismatch_is_ebadmsg),
		cmocka_unit_test(test_unit_mutated_payload_never_crashes),
		cmocka_unit_test(test_unit_threads),
	};
	return cmocka_run_group_tests(tests, group_setup, NULL);
}
