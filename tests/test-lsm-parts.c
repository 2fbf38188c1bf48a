/* test-lsm-parts.c -- the LSM's building blocks, each on its own:
 * memtable, block, bloom filter, block cache, SST, manifest. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "crypt/aead.h"
#include "lsm/block.h"
#include "lsm/block_cache.h"
#include "lsm/bloom.h"
#include "lsm/manifest.h"
#include "lsm/memtable.h"
#include "lsm/sst.h"
#include "testutil.h"
#include "util/coding.h"

static const uint8_t KEY[CRYPT_KEY_BYTES] = { 1, 2, 3 };

static void test_memtable_versions_and_snapshots(void **state)
{
	struct memtable *mt = memtable_new(1);
	enum lsm_kind kind;
	const uint8_t *v;
	size_t vl;
	memtable_add(mt, 1, LSM_KIND_PUT, "k", 1, "v1", 2);
	memtable_add(mt, 2, LSM_KIND_PUT, "j", 1, "x", 1);
	memtable_add(mt, 3, LSM_KIND_PUT, "k", 1, "v3", 2);
	memtable_add(mt, 4, LSM_KIND_DELETE, "k", 1, NULL, 0);
	assert_true(memtable_get(mt, "k", 1, 4, &kind, &v, &vl));
	assert_int_equal(kind, LSM_KIND_DELETE);
	assert_true(memtable_get(mt, "k", 1, 3, &kind, &v, &vl));
	assert_int_equal(kind, LSM_KIND_PUT);
	assert_memory_equal(v, "v3", 2);
	assert_true(memtable_get(mt, "k", 1, 2, &kind, &v, &vl));
	assert_memory_equal(v, "v1", 2);
	assert_false(memtable_get(mt, "j", 1, 1, &kind, &v, &vl));
	assert_false(memtable_get(mt, "kk", 2, 9, &kind, &v, &vl));
	assert_int_equal(memtable_min_seq(mt), 1);
	assert_int_equal(memtable_max_seq(mt), 4);

	/* Iteration yields each key once, newest visible version. */
	struct memtable_iter it;
	const uint8_t *k;
	size_t kl;
	uint64_t seq;
	memtable_iter_init(&it, mt, 3);
	memtable_iter_first(&it);
	assert_true(memtable_iter_valid(&it));
	memtable_iter_entry(&it, &k, &kl, &kind, &v, &vl, &seq);
	assert_memory_equal(k, "j", 1);
	memtable_iter_next(&it);
	memtable_iter_entry(&it, &k, &kl, &kind, &v, &vl, &seq);
	assert_memory_equal(k, "k", 1);
	assert_int_equal(seq, 3);
	memtable_iter_next(&it);
	assert_false(memtable_iter_valid(&it));
	/* A snapshot before "j" existed skips it. */
	memtable_iter_init(&it, mt, 1);
	memtable_iter_seek(&it, "a", 1);
	memtable_iter_entry(&it, &k, &kl, &kind, &v, &vl, &seq);
	assert_memory_equal(k, "k", 1);
	assert_int_equal(seq, 1);
	memtable_unref(mt);
}

static void test_memtable_large_random(void **state)
{
	struct test_rng rng = { test_seed("memtable") };
	struct memtable *mt = memtable_new(7);
	enum { N = 20000 };
	static uint32_t last[4096];
	memset(last, 0, sizeof last);
	for (uint32_t i = 1; i <= N; i++) {
		uint32_t k = (uint32_t)test_rng_below(&rng, 4096);
		uint8_t key[4];
		be32_put(key, k);
		memtable_add(mt, i, LSM_KIND_PUT, key, 4, &i, sizeof i);
		last[k] = i;
	}
	struct memtable_iter it;
	memtable_iter_init(&it, mt, UINT64_MAX);
	uint32_t prev = 0, n = 0;
	for (memtable_iter_first(&it); memtable_iter_valid(&it); memtable_iter_next(&it)) {
		const uint8_t *k, *v;
		size_t kl, vl;
		enum lsm_kind kind;
		memtable_iter_entry(&it, &k, &kl, &kind, &v, &vl, NULL);
		uint32_t key = be32_get(k), val;
		memcpy(&val, v, 4);
		assert_true(n == 0 || key > prev);
		assert_int_equal(val, last[key]);
		prev = key;
		n++;
	}
	uint32_t distinct = 0;
	for (int i = 0; i < 4096; i++)
		distinct += last[i] != 0;
	assert_int_equal(n, distinct);
	assert_true(memtable_bytes(mt) > N * 4);
	memtable_unref(mt);
}

static void build_block(struct block_builder *bb, int n)
{
	block_builder_init(bb);
	for (int i = 0; i < n; i++) {
		char k[16], v[16];
		snprintf(k, sizeof k, "key%04d", i);
		snprintf(v, sizeof v, "val%d", i);
		block_builder_add(bb, i % 7 ? LSM_KIND_PUT : LSM_KIND_DELETE, k, strlen(k), v,
				  strlen(v));
	}
	block_builder_finish(bb);
}

static void test_block_seek_and_reject_corruption(void **state)
{
	struct block_builder bb;
	struct block b;
	build_block(&bb, 100);
	assert_int_equal(block_parse(&b, bb.data.data, bb.data.len), 0);
	assert_int_equal(b.count, 100);
	assert_int_equal(block_seek(&b, "key0050", 7), 50);
	assert_int_equal(block_seek(&b, "key00505", 8), 51);
	assert_int_equal(block_seek(&b, "a", 1), 0);
	assert_int_equal(block_seek(&b, "z", 1), 100);
	enum lsm_kind kind;
	const uint8_t *k, *v;
	size_t kl, vl;
	block_entry(&b, 14, &kind, &k, &kl, &v, &vl);
	assert_int_equal(kind, LSM_KIND_DELETE);
	/* The hash index finds every key and nothing else. */
	for (int i = 0; i < 100; i++) {
		char key[16];
		snprintf(key, sizeof key, "key%04d", i);
		assert_int_equal(block_find(&b, key, 7, bloom_hash(key, 7)), i);
		snprintf(key, sizeof key, "key%04dx", i);
		assert_int_equal(block_find(&b, key, 8, bloom_hash(key, 8)), 100);
	}
	/* Any single corrupted byte in the structure is caught or harmless:
	 * parse never reads out of bounds (ASan checks that). */
	int rejected = 0;
	block_release(&b);
	for (size_t i = 0; i < bb.data.len; i++) {
		uint8_t save = bb.data.data[i];
		bb.data.data[i] ^= 0x55;
		if (block_parse(&b, bb.data.data, bb.data.len) < 0)
			rejected++;
		else
			block_release(&b);
		bb.data.data[i] = save;
	}
	assert_true(rejected > 0);
	for (size_t n = 0; n < bb.data.len; n++)
		assert_int_equal(block_parse(&b, bb.data.data, n) < 0, 1);
	block_builder_free(&bb);
}

static void test_bloom_no_false_negatives(void **state)
{
	enum { N = 10000 };
	uint64_t *h = xcalloc(N, sizeof *h);
	struct buf f = BUF_INIT;
	char k[32];
	for (int i = 0; i < N; i++) {
		snprintf(k, sizeof k, "present-%d", i);
		h[i] = bloom_hash(k, strlen(k));
	}
	bloom_build(h, N, &f);
	for (int i = 0; i < N; i++)
		assert_true(bloom_may_contain(f.data, f.len, h[i]));
	int fp = 0;
	for (int i = 0; i < N; i++) {
		snprintf(k, sizeof k, "absent-%d", i);
		fp += bloom_may_contain(f.data, f.len, bloom_hash(k, strlen(k)));
	}
	printf("# bloom false positives: %d of %d\n", fp, N);
	assert_true(fp < N / 50); /* ~1% expected at 10 bits/key */
	/* Garbage filters answer "maybe", never "no". */
	assert_true(bloom_may_contain((const uint8_t *)"", 0, h[0]));
	buf_free(&f);
	free(h);
}

static void test_block_cache_budget_and_refs(void **state)
{
	struct block_cache *bc = block_cache_new(64 * 1024);
	struct block_builder bb;
	struct block b;
	build_block(&bb, 50);
	size_t blen = bb.data.len;
	struct cblock *held = NULL;
	for (uint64_t i = 0; i < 1000; i++) {
		uint8_t *bytes = xmemdup(bb.data.data, blen);
		assert_int_equal(block_parse(&b, bytes, blen), 0);
		struct cblock *cb = block_cache_insert(bc, i, 0, bytes, &b);
		if (i == 0)
			held = cb; /* keep the first one referenced */
		else
			block_cache_release(bc, cb);
	}
	struct block_cache_stats st;
	block_cache_stats(bc, &st);
	assert_true(st.bytes <= 64 * 1024 + 16 * (blen + 256));
	assert_true(st.entries < 1000);
	/* Evicted but still referenced: its bytes are intact. */
	assert_int_equal(cblock_block(held)->count, 50);
	block_cache_release(bc, held);
	struct cblock *hit = block_cache_lookup(bc, 999, 0);
	assert_non_null(hit);
	block_cache_release(bc, hit);
	assert_null(block_cache_lookup(bc, 5000, 0));
	/* A racing second insert returns the first entry. */
	uint8_t *b1 = xmemdup(bb.data.data, blen), *b2 = xmemdup(bb.data.data, blen);
	block_parse(&b, b1, blen);
	struct cblock *c1 = block_cache_insert(bc, 77777, 8, b1, &b);
	block_parse(&b, b2, blen);
	struct cblock *c2 = block_cache_insert(bc, 77777, 8, b2, &b);
	assert_ptr_equal(c1, c2);
	block_cache_release(bc, c1);
	block_cache_release(bc, c2);
	block_cache_free(bc);
	block_builder_free(&bb);
}

static void write_sst(objstore *st, uint64_t id, int n, struct sst_props *props)
{
	struct sst_env env = { st, KEY, NULL, { CODEC_ZSTD, 3 }, 512 };
	struct sst_writer *w = sst_writer_new(&env, id);
	for (int i = 0; i < n; i++) {
		char k[16], v[64];
		snprintf(k, sizeof k, "k%06d", i * 2);
		snprintf(v, sizeof v, "value-%d-%d", i, i * 7);
		sst_writer_add(w, i % 10 == 3 ? LSM_KIND_DELETE : LSM_KIND_PUT, k, strlen(k), v,
			       i % 10 == 3 ? 0 : strlen(v));
	}
	buf_init(&props->smallest);
	buf_init(&props->largest);
	assert_int_equal(sst_writer_finish(w, props), 0);
	sst_writer_free(w);
}

static void test_sst_round_trip(void **state)
{
	objstore *st;
	struct sst_props p;
	assert_int_equal(objstore_open("memory://parts-sst", &st), 0);
	struct block_cache *bc = block_cache_new(1 << 20);
	struct sst_env env = { st, KEY, bc, { CODEC_LZ4, 0 }, 512 };
	write_sst(st, 42, 2000, &p);
	assert_int_equal(p.entries, 2000);
	assert_memory_equal(p.smallest.data, "k000000", 7);
	assert_memory_equal(p.largest.data, "k003998", 7);
	struct sst_table *t;
	/* Both with and without the recorded meta offset. */
	assert_int_equal(sst_table_open(&env, 42, p.size, 0, &t), 0);
	sst_table_free(t);
	assert_int_equal(sst_table_open(&env, 42, p.size, p.meta_off, &t), 0);
	struct buf v = BUF_INIT;
	enum lsm_kind kind;
	assert_int_equal(sst_table_get(t, "k000010", 7, bloom_hash("k000010", 7), &kind, &v), 1);
	assert_int_equal(kind, LSM_KIND_PUT);
	assert_memory_equal(v.data, "value-5-35", 10);
	assert_int_equal(sst_table_get(t, "k000006", 7, bloom_hash("k000006", 7), &kind, &v), 1);
	assert_int_equal(kind, LSM_KIND_DELETE);
	assert_int_equal(sst_table_get(t, "k000011", 7, bloom_hash("k000011", 7), &kind, &v), 0);
	struct sst_iter *it = sst_iter_new(t);
	int n = 0;
	for (sst_iter_first(it); sst_iter_valid(it); sst_iter_next(it))
		n++;
	assert_int_equal(n, 2000);
	sst_iter_seek(it, "k001001", 7);
	const uint8_t *k, *val;
	size_t kl, vl;
	sst_iter_entry(it, &kind, &k, &kl, &val, &vl);
	assert_memory_equal(k, "k001002", 7);
	sst_iter_seek(it, "z", 1);
	assert_false(sst_iter_valid(it));
	sst_iter_free(it);
	sst_table_free(t);
	buf_free(&v);
	buf_free(&p.smallest);
	buf_free(&p.largest);
	block_cache_free(bc);
	objstore_close(st);
}

static void test_sst_tamper_and_move_fail(void **state)
{
	objstore *st;
	struct sst_props p;
	char name[SST_NAME_MAX];
	void *data;
	size_t len;
	assert_int_equal(objstore_open("memory://parts-tamper", &st), 0);
	struct sst_env env = { st, KEY, NULL, { CODEC_ZSTD, 1 }, 512 };
	write_sst(st, 7, 300, &p);
	sst_object_name(7, name);
	assert_int_equal(objstore_get(st, name, 0, OBJSTORE_GET_TO_END, &data, &len), 0);
	struct test_rng rng = { test_seed("sst-tamper") };
	for (int i = 0; i < 200; i++) {
		uint8_t *copy = xmemdup(data, len);
		size_t at = test_rng_below(&rng, len);
		copy[at] ^= (uint8_t)(1u << test_rng_below(&rng, 8));
		struct sst_table *t;
		int r = sst_table_open_bytes(&env, 7, copy, len, &t);
		if (r == 0) {
			/* The damage is in a data block: reading it must fail. */
			struct sst_iter *it = sst_iter_new(t);
			int n = 0;
			for (sst_iter_first(it); sst_iter_valid(it); sst_iter_next(it))
				n++;
			assert_int_equal(sst_iter_status(it), -EBADMSG);
			assert_true(n < 300);
			sst_iter_free(it);
			sst_table_free(t);
		} else {
			assert_int_equal(r, -EBADMSG);
		}
	}
	/* The same bytes under another id do not authenticate. */
	struct sst_table *t;
	assert_int_equal(sst_table_open_bytes(&env, 8, xmemdup(data, len), len, &t), -EBADMSG);
	free(data);
	buf_free(&p.smallest);
	buf_free(&p.largest);
	objstore_close(st);
}

static void test_manifest_round_trip_and_tamper(void **state)
{
	struct manifest m = { 0 }, got;
	struct buf enc = BUF_INIT;
	m.seq = 12;
	m.epoch = 3;
	m.durable_seq = 999;
	struct manifest_file *f = manifest_add_file(&m);
	f->id = 77;
	f->level = 2;
	f->size = 1234;
	buf_set(&f->smallest, "a", 1);
	buf_set(&f->largest, "zz", 2);
	manifest_add_checkpoint(&m, "nightly", 10, 555);
	manifest_add_obsolete(&m, 5, 666);
	assert_int_equal(manifest_encode(&m, KEY, &enc), 0);
	assert_int_equal(manifest_decode(KEY, 12, enc.data, enc.len, &got), 0);
	assert_int_equal(got.epoch, 3);
	assert_int_equal(got.nfiles, 1);
	assert_int_equal(got.files[0].level, 2);
	assert_memory_equal(got.files[0].largest.data, "zz", 2);
	assert_string_equal(got.checkpoints[0].name, "nightly");
	assert_int_equal(got.obsolete[0].id, 5);
	manifest_free(&got);
	/* Renamed to another seq: refused. */
	assert_int_equal(manifest_decode(KEY, 13, enc.data, enc.len, &got), -EBADMSG);
	for (size_t i = 0; i < enc.len; i++) {
		enc.data[i] ^= 0x10;
		assert_int_equal(manifest_decode(KEY, 12, enc.data, enc.len, &got), -EBADMSG);
		enc.data[i] ^= 0x10;
	}
	char name[MANIFEST_NAME_MAX];
	uint64_t seq;
	manifest_name(12, name);
	assert_string_equal(name, "manifest/00000000000000000012");
	assert_int_equal(manifest_parse_name(name, &seq), 0);
	assert_int_equal(seq, 12);
	assert_int_equal(manifest_parse_name("manifest/12", &seq), -EINVAL);
	buf_free(&enc);
	manifest_free(&m);
}

int main(void)
{
	crypt_init();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_memtable_versions_and_snapshots),
		cmocka_unit_test(test_memtable_large_random),
		cmocka_unit_test(test_block_seek_and_reject_corruption),
		cmocka_unit_test(test_bloom_no_false_negatives),
		cmocka_unit_test(test_block_cache_budget_and_refs),
		cmocka_unit_test(test_sst_round_trip),
		cmocka_unit_test(test_sst_tamper_and_move_fail),
		cmocka_unit_test(test_manifest_round_trip_and_tamper),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
