/* test-data.c -- the data plane, one behaviour per test: extents, holes,
 * partial writes, truncate/punch, durability across reopen, reads from
 * the store, lineage, checkpoints and garbage collection. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "crypt/aead.h"
#include <pthread.h>

#include "data/data.h"
#include "data/segment.h"
#include "lsm/lsm.h"
#include "store/objstore.h"
#include "datafix.h"
#include "testutil.h"

/* The shared fixture (url NULL: a fresh memory store) with 1 MiB
 * segments, opened. */
static void fs_init(struct datafix *f, const char *url)
{
	datafix_init(f, url ? url : "test-data", NULL);
	f->dopt.segment_bytes = 1 << 20;
	datafix_open(f);
}

static void expect_bytes(struct datafix *f, uint64_t ino, uint64_t off, const uint8_t *want,
			 size_t n)
{
	datafix_expect(f, ino, off, want, n, "read back");
}

static void fill(uint8_t *p, size_t n, uint8_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed + i * 7 + (i >> 9));
}

static void test_write_read_across_extents(void **state)
{
	struct datafix f;
	fs_init(&f, NULL);
	enum { N = 200000 };
	uint8_t *buf = xmalloc(N);
	fill(buf, N, 1);
	datafix_write(&f, 5, 1000, buf, N);
	expect_bytes(&f, 5, 1000, buf, N);
	/* Before the first byte: zeros. */
	uint8_t zeros[1000] = { 0 };
	expect_bytes(&f, 5, 0, zeros, 1000);
	/* Another inode is untouched. */
	expect_bytes(&f, 6, 1000, zeros, 1000);
	assert_int_equal(data_barrier(f.d, 0), 0);
	datafix_reopen(&f);
	expect_bytes(&f, 5, 1000, buf, N);
	free(buf);
	datafix_done(&f);
}

static void test_partial_overwrite_keeps_neighbours(void **state)
{
	struct datafix f;
	fs_init(&f, NULL);
	uint8_t a[65536], b[100];
	fill(a, sizeof a, 3);
	memset(b, 0xab, sizeof b);
	datafix_write(&f, 1, 0, a, sizeof a);
	datafix_write(&f, 1, 32760, b, sizeof b); /* straddles two extents */
	memcpy(a + 32760, b, sizeof b);
	expect_bytes(&f, 1, 0, a, sizeof a);
	assert_int_equal(data_barrier(f.d, 0), 0);
	datafix_reopen(&f);
	expect_bytes(&f, 1, 0, a, sizeof a);
	datafix_done(&f);
}

static void test_several_writes_in_one_txn(void **state)
{
	struct datafix f;
	fs_init(&f, NULL);
	struct data_txn *t = data_txn_new(f.d);
	assert_int_equal(data_write(t, 2, 10, "hello", 5), 0);
	assert_int_equal(data_write(t, 2, 12, "LLO world", 9), 0);
	assert_int_equal(data_txn_commit(t, NULL, NULL), 0);
	data_txn_free(t);
	uint8_t want[21] = { 0 };
	memcpy(want + 10, "heLLO world", 11);
	expect_bytes(&f, 2, 0, want, sizeof want);
	datafix_done(&f);
}

static void test_zero_extents_are_holes(void **state)
{
	struct datafix f;
	fs_init(&f, NULL);
	uint8_t *z = xcalloc(1, 3 * 32768);
	datafix_write(&f, 3, 0, z, 3 * 32768);
	assert_int_equal(data_barrier(f.d, 0), 0);
	struct data_stats s;
	data_stats(f.d, &s);
	assert_int_equal(s.stored_bytes, 0); /* nothing stored for zeros */
	expect_bytes(&f, 3, 0, z, 3 * 32768);
	free(z);
	datafix_done(&f);
}

static void test_truncate_and_punch(void **state)
{
	struct datafix f;
	fs_init(&f, NULL);
	enum { N = 5 * 32768 };
	uint8_t *a = xmalloc(N);
	fill(a, N, 9);
	datafix_write(&f, 4, 0, a, N);
	/* Punch the middle: partial head, two whole extents, partial tail. */
	struct data_txn *t = data_txn_new(f.d);
	assert_int_equal(data_punch(t, 4, 30000, 4 * 32768 + 100), 0);
	assert_int_equal(data_txn_commit(t, NULL, NULL), 0);
	data_txn_free(t);
	memset(a + 30000, 0, 4 * 32768 + 100 - 30000);
	expect_bytes(&f, 4, 0, a, N);
	/* Shrink to 1000 bytes, grow back: the tail reads zeros. */
	t = data_txn_new(f.d);
	assert_int_equal(data_truncate(t, 4, N, 1000), 0);
	assert_int_equal(data_txn_commit(t, NULL, NULL), 0);
	data_txn_free(t);
	memset(a + 1000, 0, N - 1000);
	expect_bytes(&f, 4, 0, a, N);
	assert_int_equal(data_barrier(f.d, 0), 0);
	datafix_reopen(&f);
	expect_bytes(&f, 4, 0, a, N);
	/* Delete everything. */
	t = data_txn_new(f.d);
	assert_int_equal(data_delete_all(t, 4, N), 0);
	assert_int_equal(data_txn_commit(t, NULL, NULL), 0);
	data_txn_free(t);
	memset(a, 0, N);
	expect_bytes(&f, 4, 0, a, N);
	free(a);
	datafix_done(&f);
}

static void test_caller_batch_is_atomic_with_data(void **state)
{
	struct datafix f;
	fs_init(&f, NULL);
	struct data_txn *t = data_txn_new(f.d);
	struct lsm_batch *b = lsm_batch_new();
	lsm_batch_put(b, "Isize", 5, "5", 1);
	assert_int_equal(data_write(t, 8, 0, "abcde", 5), 0);
	assert_int_equal(data_txn_commit(t, b, NULL), 0);
	data_txn_free(t);
	lsm_batch_free(b);
	struct buf v = BUF_INIT;
	assert_int_equal(lsm_get(f.db, "Isize", 5, &v), 0);
	buf_free(&v);
	expect_bytes(&f, 8, 0, (const uint8_t *)"abcde", 5);
	datafix_done(&f);
}

static void test_reads_come_from_store_after_reopen(void **state)
{
	struct datafix f;
	fs_init(&f, NULL);
	enum { N = 3 << 20 };
	uint8_t *a = xmalloc(N);
	struct test_rng rng = { 42 };
	test_rng_fill(&rng, a, N); /* incompressible: 3 MiB stays 3 MiB */
	datafix_write(&f, 10, 0, a, N);
	assert_int_equal(data_barrier(f.d, 0), 0);
	datafix_reopen(&f);
	expect_bytes(&f, 10, 0, a, N);
	struct data_stats s;
	data_stats(f.d, &s);
	assert_true(s.gets > 0);
	assert_true(s.gets < 3 * 16); /* ranged GETs of many frames, not one per frame */
	struct objstore_listing l;
	assert_int_equal(objstore_list(f.st, "segments/", NULL, 0, &l), 0);
	assert_true(l.count >= 3); /* 1 MiB segments */
	objstore_listing_free(&l);
	free(a);
	datafix_done(&f);
}

static void test_unflushed_writes_lost_as_suffix(void **state)
{
	struct datafix f;
	/* A real directory: the child incarnation must share the store. */
	char *dir = test_tmpdir("data-lineage");
	char url[256];
	snprintf(url, sizeof url, "file://%s", dir);
	fs_init(&f, url);
	datafix_write(&f, 11, 0, "durable", 7);
	assert_int_equal(data_barrier(f.d, 0), 0);
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	/* The child is another incarnation that writes and dies unflushed. */
	datafix_close(&f);
	pid_t pid = fork();
	if (pid == 0) {
		datafix_open(&f);
		uint64_t lineage = data_lineage(f.d);
		datafix_write(&f, 11, 0, "LOST!!!", 7);
		if (write(fds[1], &lineage, sizeof lineage) != sizeof lineage)
			_exit(2);
		pause();
		_exit(0);
	}
	uint64_t lineage;
	assert_int_equal(read(fds[0], &lineage, sizeof lineage), sizeof lineage);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(fds[0]);
	close(fds[1]);
	datafix_open(&f);
	expect_bytes(&f, 11, 0, (const uint8_t *)"durable", 7);
	/* A barrier for the dead incarnation's writes cannot be honoured. */
	assert_int_equal(data_barrier(f.d, lineage), -ESTALE);
	uint64_t mine = data_lineage(f.d);
	assert_int_equal(data_barrier(f.d, mine), 0);
	datafix_close(&f);
	/* A cleanly closed incarnation's writes are all durable. */
	datafix_open(&f);
	assert_int_equal(data_barrier(f.d, mine), 0);
	datafix_done(&f);
	test_rmtree(dir);
	free(dir);
}

static void test_checkpoint_pins_and_gc_reclaims(void **state)
{
	struct datafix f;
	fs_init(&f, NULL);
	f.dopt.gc_grace_ms = 0;
	datafix_reopen(&f);
	enum { N = 1 << 20 };
	uint8_t *a = xmalloc(N), *b = xmalloc(N);
	fill(a, N, 1);
	fill(b, N, 2);
	datafix_write(&f, 20, 0, a, N);
	assert_int_equal(data_checkpoint(f.d, "before"), 0);
	for (int i = 0; i < 4; i++)
		datafix_write(&f, 20, 0, b, N); /* overwrite: old frames die */
	assert_int_equal(data_barrier(f.d, 0), 0);
	struct data_gc_report rep;
	assert_int_equal(data_gc(f.d, &rep), 0);
	assert_int_equal(data_gc(f.d, &rep), 0);
	expect_bytes(&f, 20, 0, b, N);
	/* The checkpoint still reads its version. */
	struct datafix view;
	datafix_reader(&f, &view);
	view.lo.checkpoint = "before";
	datafix_open(&view);
	uint8_t *got = xmalloc(N);
	assert_int_equal(data_read(view.d, 20, 0, got, N), 0);
	assert_memory_equal(got, a, N);
	datafix_close(&view);
	struct data_stats s;
	data_stats(f.d, &s);
	printf("# live %llu stored %llu\n", (unsigned long long)s.live_bytes,
	       (unsigned long long)s.stored_bytes);
	free(a);
	free(b);
	free(got);
	datafix_done(&f);
}

struct writer_arg {
	struct datafix *f;
	int stop;
	int commits;
};

static void *writer_thread(void *arg)
{
	struct writer_arg *w = arg;
	uint8_t buf[40000];
	struct test_rng rng = { 7 };
	for (int i = 0; !__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE); i++) {
		/* Incompressible, so segments fill and uploads queue up. */
		test_rng_fill(&rng, buf, sizeof buf);
		datafix_write(w->f, 30 + i % 5, (uint64_t)(i % 17) * 50000, buf, sizeof buf);
		w->commits++;
	}
	return NULL;
}

/* Every segment that the newest manifest references through an extent
 * key exists in the store. */
static void check_manifest_segments_exist(struct datafix *f)
{
	struct lsm_options ro = f->lo;
	lsm *view;
	struct lsm_iter *it;
	ro.read_only = true;
	ro.background = false;
	assert_int_equal(lsm_open(&ro, &view), 0);
	assert_int_equal(lsm_iter_new(view, "E", 1, NULL, 0, &it), 0);
	int n = 0;
	for (; lsm_iter_valid(it); lsm_iter_next(it)) {
		size_t vl;
		const uint8_t *v = lsm_iter_value(it, &vl);
		struct frame_loc loc;
		char name[SEGMENT_NAME_MAX];
		struct objstore_info info;
		assert_int_equal(frame_loc_decode(v, vl, &loc), 0);
		segment_name(loc.epoch, loc.counter, name);
		assert_int_equal(objstore_head(f->st, name, &info), 0);
		assert_true(loc.off + loc.len <= info.size);
		n++;
	}
	assert_int_equal(lsm_iter_status(it), 0);
	lsm_iter_free(it);
	lsm_close(view);
}

static void test_manifest_never_names_missing_segment(void **state)
{
	struct datafix f;
	objstore *inner;
	char url[64];
	memset(&f, 0, sizeof f);
	snprintf(url, sizeof url, "memory://test-data-inv-%d", (int)getpid());
	assert_int_equal(objstore_open(url, &inner), 0);
	/* Slow uploads so barriers race with writers and sealing. */
	struct objstore_fault_config fc = { .ops = OBJSTORE_OP_PUT, .latency_us = 30000, .seed = 1 };
	objstore *slow;
	assert_int_equal(objstore_fault_wrap(inner, &fc, &slow), 0);
	snprintf(f.url, sizeof f.url, "%s", url);
	f.st = slow;
	lsm_options_default(&f.lo);
	f.lo.store = slow;
	f.lo.create = true;
	f.lo.memtable_bytes = 64 << 10;
	memset(f.lo.key, 7, sizeof f.lo.key);
	data_options_default(&f.dopt);
	f.dopt.store = slow;
	memset(f.dopt.key, 9, sizeof f.dopt.key);
	memcpy(f.dopt.meta_key, f.lo.key, sizeof f.dopt.meta_key);
	f.dopt.flush_interval_ms = 5;
	f.dopt.gc_interval_ms = 0;
	f.dopt.segment_bytes = 200 << 10;
	/* One upload thread: sealed segments queue up behind each other, so
	 * a barrier that did not wait for them would commit well before
	 * they are stored. */
	f.dopt.upload_threads = 1;
	datafix_open(&f);
	struct writer_arg w = { &f, 0, 0 };
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, writer_thread, &w), 0);
	for (int round = 0; round < 40; round++) {
		usleep(5000);
		check_manifest_segments_exist(&f);
	}
	__atomic_store_n(&w.stop, 1, __ATOMIC_RELEASE);
	pthread_join(th, NULL);
	printf("# %d commits raced with periodic barriers\n", w.commits);
	assert_true(w.commits > 10);
	datafix_done(&f);
}

/* ---- data_map and the stored-extent hook ---- */

struct map_rec {
	uint64_t off[16], len[16];
	bool data[16];
	int n;
};

static int map_cb(void *arg, uint64_t off, uint64_t len, bool data)
{
	struct map_rec *m = arg;
	assert_true(m->n < 16);
	m->off[m->n] = off;
	m->len[m->n] = len;
	m->data[m->n] = data;
	m->n++;
	return 0;
}

static void test_map_reports_data_and_holes(void **state)
{
	struct datafix f;
	fs_init(&f, NULL);
	enum { E = DATA_EXTENT_BYTES };
	uint8_t *buf = xmalloc(2 * E);
	fill(buf, 2 * E, 3);
	/* Extents 1, 2 and 5 hold data; 0, 3, 4 and past 5 are holes. */
	datafix_write(&f, 9, E, buf, 2 * E);
	datafix_write(&f, 9, 5 * (uint64_t)E + 100, buf, 10);
	struct map_rec m = { .n = 0 };
	assert_int_equal(data_map(f.d, 9, 0, 8 * (uint64_t)E, map_cb, &m), 0);
	assert_int_equal(m.n, 5);
	uint64_t want_off[] = { 0, E, 3 * (uint64_t)E, 5 * (uint64_t)E, 6 * (uint64_t)E };
	uint64_t want_len[] = { E, 2 * E, 2 * E, E, 2 * E };
	bool want_data[] = { false, true, false, true, false };
	for (int i = 0; i < 5; i++) {
		assert_int_equal(m.off[i], want_off[i]);
		assert_int_equal(m.len[i], want_len[i]);
		assert_int_equal(m.data[i], want_data[i]);
	}
	/* Clipped to an unaligned range inside a data run. */
	m.n = 0;
	assert_int_equal(data_map(f.d, 9, E + 10, 20, map_cb, &m), 0);
	assert_int_equal(m.n, 1);
	assert_int_equal(m.off[0], E + 10);
	assert_int_equal(m.len[0], 20);
	assert_true(m.data[0]);
	/* A punched extent becomes a hole. */
	struct data_txn *t = data_txn_new(f.d);
	assert_int_equal(data_punch(t, 9, E, 2 * (uint64_t)E), 0);
	assert_int_equal(data_txn_commit(t, NULL, NULL), 0);
	data_txn_free(t);
	m.n = 0;
	assert_int_equal(data_map(f.d, 9, 0, 3 * (uint64_t)E, map_cb, &m), 0);
	assert_int_equal(m.n, 2);
	assert_false(m.data[0]);
	assert_int_equal(m.len[0], 2 * E);
	assert_true(m.data[1]);
	assert_int_equal(m.off[1], 2 * (uint64_t)E);
	free(buf);
	datafix_done(&f);
}

struct hook_rec {
	uint64_t ino;
	int64_t delta;
	int calls;
};

static void extents_hook(void *arg, struct lsm_batch *b, uint64_t ino, int64_t delta)
{
	struct hook_rec *h = arg;
	h->ino = ino;
	h->delta += delta;
	h->calls++;
	lsm_batch_put(b, "hooked", 6, "1", 1);
}

static int64_t commit_counted(struct datafix *f, struct data_txn *t)
{
	struct hook_rec h = { 0, 0, 0 };
	data_txn_on_extents(t, extents_hook, &h);
	assert_int_equal(data_txn_commit(t, NULL, NULL), 0);
	data_txn_free(t);
	assert_true(h.calls <= 1);
	return h.delta;
}

static void test_extent_hook_counts_stored_extents(void **state)
{
	struct datafix f;
	fs_init(&f, NULL);
	enum { E = DATA_EXTENT_BYTES };
	uint8_t *buf = xmalloc(4 * E);
	fill(buf, 4 * E, 5);
	struct data_txn *t = data_txn_new(f.d);
	assert_int_equal(data_write(t, 11, 0, buf, 4 * E), 0);
	assert_int_equal(commit_counted(&f, t), 4);
	assert_int_equal(lsm_get(f.db, "hooked", 6, NULL), 0);
	/* Overwriting stored extents changes nothing. */
	t = data_txn_new(f.d);
	assert_int_equal(data_write(t, 11, 100, buf, E), 0);
	assert_int_equal(commit_counted(&f, t), 0);
	/* Zeros over a whole extent make it a hole. */
	uint8_t *zero = xcalloc(1, E);
	t = data_txn_new(f.d);
	assert_int_equal(data_write(t, 11, 2 * (uint64_t)E, zero, E), 0);
	assert_int_equal(commit_counted(&f, t), -1);
	/* Punch then rewrite in one transaction: one out, one back. */
	t = data_txn_new(f.d);
	assert_int_equal(data_punch(t, 11, 0, 2 * (uint64_t)E), 0);
	assert_int_equal(data_write(t, 11, 0, buf, 10), 0);
	assert_int_equal(commit_counted(&f, t), -1);
	/* Truncate to zero drops the rest. */
	t = data_txn_new(f.d);
	assert_int_equal(data_truncate(t, 11, 4 * (uint64_t)E, 0), 0);
	assert_int_equal(commit_counted(&f, t), -2);
	free(zero);
	free(buf);
	datafix_done(&f);
}

struct phase_rec {
	int phases[4];
	int n;
};

static void commit_hook(void *arg, struct lsm_batch *b, int phase)
{
	struct phase_rec *p = arg;
	if (p->n < 4)
		p->phases[p->n] = phase;
	p->n++;
	if (phase == DATA_HOOK_PREPARE)
		lsm_batch_put(b, "total", 5, "42", 2);
}

static void test_commit_hook_phases(void **state)
{
	struct datafix f;
	fs_init(&f, NULL);
	struct phase_rec p = { { 0 }, 0 };
	struct data_txn *t = data_txn_new(f.d);
	data_txn_on_commit(t, commit_hook, &p);
	assert_int_equal(data_write(t, 12, 0, "x", 1), 0);
	assert_int_equal(data_txn_commit(t, NULL, NULL), 0);
	data_txn_free(t);
	assert_int_equal(p.n, 2);
	assert_int_equal(p.phases[0], DATA_HOOK_PREPARE);
	assert_int_equal(p.phases[1], DATA_HOOK_APPLIED);
	struct buf v = BUF_INIT;
	assert_int_equal(lsm_get(f.db, "total", 5, &v), 0);
	assert_memory_equal(v.data, "42", 2);
	buf_free(&v);
	/* An oversized key fails the apply: the hook hears it. */
	p.n = 0;
	t = data_txn_new(f.d);
	data_txn_on_commit(t, commit_hook, &p);
	struct lsm_batch *b = lsm_batch_new();
	static uint8_t big[LSM_KEY_MAX + 1];
	lsm_batch_put(b, big, sizeof big, "v", 1);
	assert_int_not_equal(data_txn_commit(t, b, NULL), 0);
	data_txn_free(t);
	lsm_batch_free(b);
	assert_int_equal(p.n, 2);
	assert_int_equal(p.phases[1], DATA_HOOK_FAILED);
	datafix_done(&f);
}

int main(void)
{
	crypt_init();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_write_read_across_extents),
		cmocka_unit_test(test_partial_overwrite_keeps_neighbours),
		cmocka_unit_test(test_several_writes_in_one_txn),
		cmocka_unit_test(test_zero_extents_are_holes),
		cmocka_unit_test(test_truncate_and_punch),
		cmocka_unit_test(test_caller_batch_is_atomic_with_data),
		cmocka_unit_test(test_reads_come_from_store_after_reopen),
		cmocka_unit_test(test_unflushed_writes_lost_as_suffix),
		cmocka_unit_test(test_checkpoint_pins_and_gc_reclaims),
		cmocka_unit_test(test_manifest_never_names_missing_segment),
		cmocka_unit_test(test_map_reports_data_and_holes),
		cmocka_unit_test(test_extent_hook_counts_stored_extents),
		cmocka_unit_test(test_commit_hook_phases),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
