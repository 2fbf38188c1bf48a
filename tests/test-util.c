/* test-util.c -- crc32c, integer coding, the bounds-checked reader, buf. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"
#include "util/buf.h"
#include "util/coding.h"
#include "util/crc32c.h"

static void test_crc32c_vectors(void **state)
{
	/* RFC 3720 B.4 and the classic check value. */
	uint8_t zeros[32] = { 0 }, ones[32], inc[32];
	memset(ones, 0xff, sizeof ones);
	for (int i = 0; i < 32; i++)
		inc[i] = (uint8_t)i;
	assert_int_equal(crc32c(0, "123456789", 9), 0xe3069283);
	assert_int_equal(crc32c(0, zeros, 32), 0x8a9136aa);
	assert_int_equal(crc32c(0, ones, 32), 0x62a8ab43);
	assert_int_equal(crc32c(0, inc, 32), 0x46dd794e);
	assert_int_equal(crc32c(0, "", 0), 0);
}

static void test_crc32c_hw_matches_table(void **state)
{
	struct test_rng rng = { test_seed("crc32c") };
	uint8_t buf[4096];
	for (int i = 0; i < 200; i++) {
		size_t n = test_rng_below(&rng, sizeof buf);
		size_t split = n ? test_rng_below(&rng, n) : 0;
		test_rng_fill(&rng, buf, n);
		uint32_t whole = crc32c(0, buf, n);
		assert_int_equal(whole, crc32c_portable(0, buf, n));
		/* Extending a checksum equals checksumming the whole. */
		assert_int_equal(crc32c(crc32c(0, buf, split), buf + split, n - split), whole);
	}
}

static void test_varint_round_trip(void **state)
{
	const uint64_t vals[] = { 0, 1, 127, 128, 300, 16383, 16384, UINT32_MAX,
				  (uint64_t)1 << 56, UINT64_MAX };
	struct buf b = BUF_INIT;
	for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++)
		buf_put_varint(&b, vals[i]);
	struct rd r = rd_make(b.data, b.len);
	for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++)
		assert_true(rd_varint(&r) == vals[i]);
	assert_false(r.err);
	assert_int_equal(rd_left(&r), 0);
	buf_free(&b);
}

static void test_reader_never_overruns(void **state)
{
	uint8_t bytes[] = { 0x80, 0x80, 0x80 }; /* varint that never ends */
	struct rd r = rd_make(bytes, sizeof bytes);
	rd_varint(&r);
	assert_true(r.err);
	uint8_t eleven[11];
	memset(eleven, 0xff, sizeof eleven);
	r = rd_make(eleven, sizeof eleven); /* longer than 64 bits */
	rd_varint(&r);
	assert_true(r.err);
	uint8_t lenpfx[] = { 5, 'a', 'b' }; /* says 5 bytes, has 2 */
	size_t n;
	r = rd_make(lenpfx, sizeof lenpfx);
	assert_null(rd_bytes(&r, &n));
	assert_true(r.err);
	r = rd_make(lenpfx, 2);
	rd_be32(&r);
	assert_true(r.err);
	assert_int_equal(rd_u8(&r), 0); /* sticky error */
}

static void test_big_endian_sorts(void **state)
{
	uint8_t a[8], b[8];
	be64_put(a, 255);
	be64_put(b, 256);
	assert_true(memcmp(a, b, 8) < 0);
	assert_true(be64_get(b) == 256);
	be32_put(a, 0xdeadbeef);
	assert_int_equal(be32_get(a), 0xdeadbeef);
	le64_put(a, 0x0102030405060708ull);
	assert_int_equal(a[0], 8);
	assert_true(le64_get(a) == 0x0102030405060708ull);
}

static void test_buf_grows_and_steals(void **state)
{
	struct buf b = BUF_INIT;
	for (int i = 0; i < 10000; i++)
		buf_put_u8(&b, (uint8_t)i);
	assert_int_equal(b.len, 10000);
	assert_int_equal(b.data[9999], (uint8_t)9999);
	buf_put_bytes(&b, "xyz", 3);
	size_t len;
	uint8_t *p = buf_steal(&b, &len);
	assert_int_equal(len, 10004);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32c_vectors),
		cmocka_unit_test(test_crc32c_hw_matches_table),
		cmocka_unit_test(test_varint_round_trip),
		cmocka_unit_test(test_reader_never_overruns),
		cmocka_unit_test(test_big_endian_sorts),
		cmocka_unit_test(test_buf_grows_and_steals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
