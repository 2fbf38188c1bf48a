/* test-lsm.c -- behaviour of the LSM tree, one property per test. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <cmocka.h>

#include "crypt/aead.h"
#include "lsm/lsm.h"
#include "store/objstore.h"
#include "testutil.h"

static int counter;

/* A fresh memory store per test. */
static objstore *new_store(char *name, size_t n)
{
	objstore *st;
	snprintf(name, n, "memory://test-lsm-%d", ++counter);
	assert_int_equal(objstore_open(name, &st), 0);
	return st;
}

static void opts(struct lsm_options *o, objstore *st)
{
	lsm_options_default(o);
	o->store = st;
	o->create = true;
	o->background = false;
	memset(o->key, 0x42, sizeof o->key);
}

static void put(lsm *db, const char *k, const char *v)
{
	struct lsm_batch *b = lsm_batch_new();
	lsm_batch_put(b, k, strlen(k), v, strlen(v));
	assert_int_equal(lsm_write(db, b, NULL), 0);
	lsm_batch_free(b);
}

static void del(lsm *db, const char *k)
{
	struct lsm_batch *b = lsm_batch_new();
	lsm_batch_delete(b, k, strlen(k));
	assert_int_equal(lsm_write(db, b, NULL), 0);
	lsm_batch_free(b);
}

static void expect(lsm *db, const char *k, const char *v)
{
	struct buf val = BUF_INIT;
	int r = lsm_get(db, k, strlen(k), &val);
	if (!v) {
		assert_int_equal(r, -ENOENT);
	} else {
		assert_int_equal(r, 0);
		assert_int_equal(val.len, strlen(v));
		assert_memory_equal(val.data, v, val.len);
	}
	buf_free(&val);
}

static void test_put_get_delete(void **state)
{
	char name[64];
	struct lsm_options o;
	lsm *db;
	objstore *st = new_store(name, sizeof name);
	opts(&o, st);
	assert_int_equal(lsm_open(&o, &db), 0);
	put(db, "a", "1");
	put(db, "b", "2");
	expect(db, "a", "1");
	put(db, "a", "3");
	expect(db, "a", "3");
	del(db, "b");
	expect(db, "b", NULL);
	expect(db, "zz", NULL);
	assert_int_equal(lsm_flush(db), 0);
	expect(db, "a", "3");
	expect(db, "b", NULL);
	del(db, "a");
	expect(db, "a", NULL);
	assert_int_equal(lsm_flush(db), 0);
	expect(db, "a", NULL);
	lsm_close(db);
	objstore_close(st);
}

static void test_reopen_keeps_committed_only(void **state)
{
	char name[64];
	struct lsm_options o;
	lsm *db;
	objstore *st = new_store(name, sizeof name);
	opts(&o, st);
	assert_int_equal(lsm_open(&o, &db), 0);
	put(db, "kept", "yes");
	assert_int_equal(lsm_flush(db), 0);
	put(db, "lost", "yes");
	lsm_close(db);
	assert_int_equal(lsm_open(&o, &db), 0);
	expect(db, "kept", "yes");
	expect(db, "lost", NULL);
	lsm_close(db);
	objstore_close(st);
}

static void test_batch_atomic_and_last_wins(void **state)
{
	char name[64];
	struct lsm_options o;
	lsm *db;
	objstore *st = new_store(name, sizeof name);
	opts(&o, st);
	assert_int_equal(lsm_open(&o, &db), 0);
	struct lsm_batch *b = lsm_batch_new();
	lsm_batch_put(b, "x", 1, "1", 1);
	lsm_batch_put(b, "x", 1, "2", 1);
	lsm_batch_put(b, "y", 1, "1", 1);
	lsm_batch_delete(b, "y", 1);
	assert_int_equal(lsm_batch_count(b), 4);
	assert_int_equal(lsm_write(db, b, NULL), 0);
	expect(db, "x", "2");
	expect(db, "y", NULL);
	/* Invalid batches are refused whole. */
	lsm_batch_clear(b);
	lsm_batch_put(b, "ok", 2, "v", 1);
	lsm_batch_put(b, "", 0, "v", 1);
	assert_int_equal(lsm_write(db, b, NULL), -EINVAL);
	expect(db, "ok", NULL);
	lsm_batch_free(b);
	lsm_close(db);
	objstore_close(st);
}

static int count_scan(lsm *db, const char *prefix, const char *start, char *first, size_t n)
{
	struct lsm_iter *it;
	assert_int_equal(lsm_iter_new(db, prefix, strlen(prefix), start, start ? strlen(start) : 0,
				      &it), 0);
	int c = 0;
	struct buf prev = BUF_INIT;
	for (; lsm_iter_valid(it); lsm_iter_next(it)) {
		size_t kl;
		const uint8_t *k = lsm_iter_key(it, &kl);
		if (c == 0 && first) {
			snprintf(first, n, "%.*s", (int)kl, k);
		}
		if (prev.len)
			assert_true(memcmp(prev.data, k, kl < prev.len ? kl : prev.len) <= 0);
		buf_set(&prev, k, kl);
		c++;
	}
	assert_int_equal(lsm_iter_status(it), 0);
	lsm_iter_free(it);
	buf_free(&prev);
	return c;
}

static void test_scan_prefix_across_levels(void **state)
{
	char name[64], first[64];
	struct lsm_options o;
	lsm *db;
	objstore *st = new_store(name, sizeof name);
	opts(&o, st);
	o.l0_trigger = 2;
	assert_int_equal(lsm_open(&o, &db), 0);
	for (int round = 0; round < 5; round++) {
		for (int i = round; i < 300; i += 5) {
			char k[32], v[32];
			snprintf(k, sizeof k, "p%c/%05d", 'a' + i % 3, i);
			snprintf(v, sizeof v, "v%d", i);
			put(db, k, v);
		}
		assert_int_equal(lsm_flush(db), 0);
		if (round == 2)
			assert_int_equal(lsm_compact(db, false), 0);
	}
	del(db, "pa/00000");
	put(db, "pb/99999", "new");
	assert_int_equal(count_scan(db, "pa/", NULL, first, sizeof first), 99);
	assert_string_equal(first, "pa/00003");
	assert_int_equal(count_scan(db, "pb/", NULL, NULL, 0), 101);
	assert_int_equal(count_scan(db, "pb/", "pb/00200", first, sizeof first), 34);
	assert_string_equal(first, "pb/00202");
	assert_int_equal(count_scan(db, "", NULL, NULL, 0), 300);
	assert_int_equal(lsm_flush(db), 0);
	assert_int_equal(lsm_compact(db, true), 0);
	struct lsm_stats s;
	lsm_stats(db, &s);
	assert_int_equal(s.files[0], 0);
	assert_int_equal(count_scan(db, "pa/", NULL, NULL, 0), 99);
	assert_int_equal(count_scan(db, "", NULL, NULL, 0), 300);
	expect(db, "pb/99999", "new");
	expect(db, "pa/00000", NULL);
	lsm_close(db);
	objstore_close(st);
}

static void test_iterator_is_snapshot(void **state)
{
	char name[64];
	struct lsm_options o;
	lsm *db;
	objstore *st = new_store(name, sizeof name);
	opts(&o, st);
	assert_int_equal(lsm_open(&o, &db), 0);
	put(db, "k1", "a");
	put(db, "k3", "a");
	struct lsm_iter *it;
	assert_int_equal(lsm_iter_new(db, "k", 1, NULL, 0, &it), 0);
	put(db, "k2", "b");
	del(db, "k3");
	assert_int_equal(lsm_flush(db), 0);
	int n = 0;
	for (; lsm_iter_valid(it); lsm_iter_next(it))
		n++;
	assert_int_equal(n, 2); /* k1 and k3, as of creation */
	lsm_iter_free(it);
	assert_int_equal(count_scan(db, "k", NULL, NULL, 0), 2); /* k1, k2 */
	lsm_close(db);
	objstore_close(st);
}

static void test_second_writer_fences_first(void **state)
{
	char name[64];
	struct lsm_options o;
	lsm *a, *b;
	objstore *st = new_store(name, sizeof name);
	opts(&o, st);
	assert_int_equal(lsm_open(&o, &a), 0);
	put(a, "from", "a");
	assert_int_equal(lsm_flush(a), 0);
	assert_int_equal(lsm_open(&o, &b), 0);
	expect(b, "from", "a");
	put(b, "from", "b");
	assert_int_equal(lsm_flush(b), 0);
	put(a, "late", "a");
	assert_int_equal(lsm_flush(a), -EROFS);
	struct lsm_batch *bt = lsm_batch_new();
	lsm_batch_put(bt, "x", 1, "y", 1);
	assert_int_equal(lsm_write(a, bt, NULL), -EROFS);
	lsm_batch_free(bt);
	struct lsm_stats s;
	lsm_stats(a, &s);
	assert_true(s.fenced);
	lsm_close(a);
	lsm_close(b);
	assert_int_equal(lsm_open(&o, &b), 0);
	expect(b, "from", "b");
	expect(b, "late", NULL);
	lsm_close(b);
	objstore_close(st);
}

static void test_reader_refresh_and_checkpoint(void **state)
{
	char name[64];
	struct lsm_options o, ro;
	lsm *w, *r, *cp;
	bool changed;
	objstore *st = new_store(name, sizeof name);
	opts(&o, st);
	assert_int_equal(lsm_open(&o, &w), 0);
	put(w, "k", "1");
	assert_int_equal(lsm_flush(w), 0);
	ro = o;
	ro.read_only = true;
	assert_int_equal(lsm_open(&ro, &r), 0);
	expect(r, "k", "1");
	struct lsm_batch *bt = lsm_batch_new();
	lsm_batch_put(bt, "x", 1, "y", 1);
	assert_int_equal(lsm_write(r, bt, NULL), -EROFS);
	lsm_batch_free(bt);
	assert_int_equal(lsm_checkpoint_create(w, "one"), 0);
	assert_int_equal(lsm_checkpoint_create(w, "one"), -EEXIST);
	put(w, "k", "2");
	assert_int_equal(lsm_flush(w), 0);
	assert_int_equal(lsm_compact(w, true), 0);
	expect(r, "k", "1");
	assert_int_equal(lsm_refresh(r, &changed), 0);
	assert_true(changed);
	expect(r, "k", "2");
	assert_int_equal(lsm_refresh(r, &changed), 0);
	assert_false(changed);
	ro.checkpoint = "one";
	assert_int_equal(lsm_open(&ro, &cp), 0);
	expect(cp, "k", "1");
	lsm_close(cp);
	ro.checkpoint = "nope";
	assert_int_equal(lsm_open(&ro, &cp), -ENOENT);
	lsm_close(r);
	lsm_close(w);
	objstore_close(st);
}

static void test_gc_deletes_obsolete_but_not_pinned(void **state)
{
	char name[64];
	struct lsm_options o, ro;
	lsm *w, *cp;
	objstore *st = new_store(name, sizeof name);
	opts(&o, st);
	o.gc_grace_ms = 0;
	o.manifests_kept = 2;
	assert_int_equal(lsm_open(&o, &w), 0);
	put(w, "k", "old");
	assert_int_equal(lsm_flush(w), 0);
	assert_int_equal(lsm_checkpoint_create(w, "pin"), 0);
	for (int i = 0; i < 5; i++) {
		char v[16];
		snprintf(v, sizeof v, "v%d", i);
		put(w, "k", v);
		assert_int_equal(lsm_flush(w), 0);
	}
	assert_int_equal(lsm_compact(w, true), 0);
	assert_int_equal(lsm_collect_garbage(w), 0);
	struct objstore_listing l;
	assert_int_equal(objstore_list(st, "sst/", NULL, 0, &l), 0);
	/* The compacted output plus the one SST the checkpoint pins. */
	assert_int_equal(l.count, 2);
	objstore_listing_free(&l);
	assert_int_equal(objstore_list(st, "manifest/", NULL, 0, &l), 0);
	/* Two kept, the pinned one, and the epoch start (which fences). */
	assert_true(l.count <= 4);
	assert_int_equal(objstore_head(st, "manifest/00000000000000000001", &(struct objstore_info){ 0 }), 0);
	objstore_listing_free(&l);
	ro = o;
	ro.checkpoint = "pin";
	assert_int_equal(lsm_open(&ro, &cp), 0);
	expect(cp, "k", "old");
	lsm_close(cp);
	assert_int_equal(lsm_checkpoint_delete(w, "pin"), 0);
	assert_int_equal(lsm_checkpoint_delete(w, "pin"), -ENOENT);
	assert_int_equal(lsm_collect_garbage(w), 0);
	assert_int_equal(objstore_list(st, "sst/", NULL, 0, &l), 0);
	assert_int_equal(l.count, 1);
	objstore_listing_free(&l);
	expect(w, "k", "v4");
	lsm_close(w);
	objstore_close(st);
}

static void test_orphans_swept_at_open(void **state)
{
	char name[64];
	struct lsm_options o;
	lsm *w;
	objstore *st = new_store(name, sizeof name);
	opts(&o, st);
	o.gc_grace_ms = 0;
	assert_int_equal(lsm_open(&o, &w), 0);
	put(w, "a", "1");
	assert_int_equal(lsm_flush(w), 0);
	/* Flushed to an SST but never committed: an orphan after "crash". */
	put(w, "b", "1");
	uint64_t seq;
	assert_int_equal(lsm_rotate(w, &seq), 0);
	o.memtable_bytes = 1;
	lsm_close(w);
	struct objstore_listing l;
	assert_int_equal(objstore_put(st, "sst/00000000000000ff", "junk", 4), 0);
	assert_int_equal(lsm_open(&o, &w), 0);
	assert_int_equal(lsm_flush(w), 0);
	assert_int_equal(lsm_collect_garbage(w), 0);
	assert_int_equal(objstore_list(st, "sst/", NULL, 0, &l), 0);
	assert_int_equal(l.count, 1);
	objstore_listing_free(&l);
	expect(w, "a", "1");
	expect(w, "b", NULL);
	lsm_close(w);
	objstore_close(st);
}

static void test_wrong_key_is_an_error(void **state)
{
	char name[64];
	struct lsm_options o;
	lsm *w;
	objstore *st = new_store(name, sizeof name);
	opts(&o, st);
	assert_int_equal(lsm_open(&o, &w), 0);
	put(w, "a", "1");
	assert_int_equal(lsm_flush(w), 0);
	lsm_close(w);
	o.key[0] ^= 1;
	o.read_only = true;
	assert_int_equal(lsm_open(&o, &w), -EBADMSG);
	objstore_close(st);
}

/* A table just written is opened from the bytes in RAM, and a small
 * one's blocks are in the block cache: the first get after a flush (as
 * after an fsync) costs no GET at all. */
static void test_new_sst_needs_no_index_get(void **state)
{
	char name[64];
	struct lsm_options o;
	lsm *db;
	objstore *inner, *st;
	struct objstore_fault_config quiet = { .ops = OBJSTORE_OP_GET };
	snprintf(name, sizeof name, "memory://test-lsm-idx-%d", (int)getpid());
	assert_int_equal(objstore_open(name, &inner), 0);
	assert_int_equal(objstore_fault_wrap(inner, &quiet, &st), 0);
	opts(&o, st);
	assert_int_equal(lsm_open(&o, &db), 0);
	put(db, "k", "v");
	assert_int_equal(lsm_flush(db), 0);
	objstore_fault_set(st, &quiet);
	expect(db, "k", "v");
	assert_int_equal(objstore_fault_calls(st), 0);
	lsm_close(db);
	objstore_close(st);
}

/* lsm_throttle does the flush that lsm_write would otherwise do inside,
 * so a caller holding a lock of its own around lsm_write does no I/O there. */
static void test_throttle_flushes_before_the_write(void **state)
{
	(void)state;
	char name[64];
	objstore *st = new_store(name, sizeof name);
	struct lsm_options o;
	struct lsm_stats s0, s1, s2;
	lsm *db;
	opts(&o, st);
	o.memtable_bytes = 1024;
	assert_int_equal(lsm_open(&o, &db), 0);
	lsm_throttle(db); /* nothing to do */
	char k[32], v[200];
	memset(v, 'v', sizeof v - 1);
	v[sizeof v - 1] = 0;
	/* Fill frozen memtables up to the limit, before any stall. */
	lsm_stats(db, &s0);
	for (int i = 0; i < 64; i++) {
		snprintf(k, sizeof k, "key-%03d", i);
		put(db, k, v);
		lsm_stats(db, &s1);
		if (s1.flushes != s0.flushes)
			break; /* lsm_write stalled: the limit is behind us */
	}
	/* From here on writes keep filling memtables: with a throttle before
	 * each, none of them flushes, and the throttles do flush. */
	lsm_stats(db, &s0);
	for (int i = 0; i < 64; i++) {
		lsm_throttle(db);
		lsm_stats(db, &s1);
		snprintf(k, sizeof k, "after-%03d", i);
		put(db, k, v);
		lsm_stats(db, &s2);
		if (s2.flushes != s1.flushes)
			fail_msg("write %d flushed although lsm_throttle ran just before", i);
	}
	assert_true(s2.flushes > s0.flushes);
	expect(db, "after-063", v);
	expect(db, "key-000", v);
	lsm_close(db);
	objstore_close(st);
}

int main(void)
{
	crypt_init();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_get_delete),
		cmocka_unit_test(test_reopen_keeps_committed_only),
		cmocka_unit_test(test_batch_atomic_and_last_wins),
		cmocka_unit_test(test_scan_prefix_across_levels),
		cmocka_unit_test(test_iterator_is_snapshot),
		cmocka_unit_test(test_second_writer_fences_first),
		cmocka_unit_test(test_reader_refresh_and_checkpoint),
		cmocka_unit_test(test_gc_deletes_obsolete_but_not_pinned),
		cmocka_unit_test(test_orphans_swept_at_open),
		cmocka_unit_test(test_wrong_key_is_an_error),
		cmocka_unit_test(test_new_sst_needs_no_index_get),
		cmocka_unit_test(test_throttle_flushes_before_the_write),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
