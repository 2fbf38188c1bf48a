/* test-fs-errors.c -- no swallowed errors in the core: a store read that
 * fails at any point of an operation either fails the operation (nothing
 * changed) or is retried until the work is done; it never loses track of
 * data.  Store GETs are failed one at a time (the Nth, N = 1, 2, ... until
 * the operation no longer reaches the store), through the fault wrapper,
 * with no LSM block cache so every metadata read reaches the store.
 *
 *  - the start after a crash that left an orphan (a file unlinked while
 *    open): whatever read of the start fails, the start either fails or
 *    the orphan is reclaimed in full (record, extents, xattrs, orphan key)
 *    once the store is back; never the orphan key dropped with the record
 *    still there (a file's data leaked for good);
 *  - unlinking a file with xattrs: it fails (name, record and xattrs all
 *    still there) or leaves no xattr key behind (an iterator error while
 *    listing the xattrs to delete must fail the unlink);
 *  - the last close of an unlinked file while the store fails: the removal
 *    is retried by the reclaimer, not left for the next start. */
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "fsfix.h"
#include "util/coding.h"

#define ROOT (&FSFIX_ROOT)
#define E ((uint64_t)DATA_EXTENT_BYTES)
#define MAX_N 2000

static objstore *open_faulty(struct fsfix *f, const char *name)
{
	objstore *mem, *st;
	char url[96];
	struct objstore_fault_config none = { 0 };
	snprintf(url, sizeof url, "memory://%s-%d", name, (int)getpid());
	assert_int_equal(objstore_open(url, &mem), 0);
	assert_int_equal(objstore_fault_wrap(mem, &none, &st), 0);
	fsfix_prepare(f, url, st);
	f->df.lo.block_cache_bytes = 1;
	fsfix_open(f);
	return st;
}

static void gets_fail_at(objstore *st, uint64_t n)
{
	struct objstore_fault_config c = { 0 };
	c.ops = OBJSTORE_OP_GET;
	c.fail_at = n;
	objstore_fault_set(st, &c);
}

static void faults_off(objstore *st)
{
	struct objstore_fault_config c = { 0 };
	objstore_fault_set(st, &c);
}

/* Keys under prefix letter + ino. */
static uint64_t keys_of(struct fsfix *f, char letter, uint64_t ino)
{
	uint8_t prefix[9];
	struct lsm_iter *it;
	uint64_t n = 0;
	prefix[0] = (uint8_t)letter;
	be64_put(prefix + 1, ino);
	assert_int_equal(lsm_iter_new(f->df.db, prefix, sizeof prefix, NULL, 0, &it), 0);
	for (; lsm_iter_valid(it); lsm_iter_next(it))
		n++;
	assert_int_equal(lsm_iter_status(it), 0);
	lsm_iter_free(it);
	return n;
}

static uint64_t make_file(struct fsfix *f, const char *name, int xattrs)
{
	uint64_t ino = fsfix_mk(f, ROOT, FS_ROOT_INO, name, S_IFREG | 0644);
	uint8_t buf[3 * E];
	size_t n;
	for (size_t i = 0; i < sizeof buf; i++)
		buf[i] = (uint8_t)(i * 7 + ino);
	assert_int_equal(fs_write(f->fs, ROOT, ino, 0, buf, sizeof buf, &n), 0);
	for (int i = 0; i < xattrs; i++) {
		char xn[32];
		snprintf(xn, sizeof xn, "user.x%d", i);
		assert_int_equal(fs_setxattr(f->fs, ROOT, ino, xn, "value", 5, 0, NULL), 0);
	}
	return ino;
}

/* Open lsm, data plane and core by hand: any of them may fail here. */
static int try_open(struct fsfix *f)
{
	int r = lsm_open(&f->df.lo, &f->df.db);
	if (r < 0)
		return r;
	f->df.dopt.db = f->df.db;
	r = data_open(&f->df.dopt, &f->df.d);
	if (r < 0) {
		lsm_close(f->df.db);
		return r;
	}
	f->fo.db = f->df.db;
	f->fo.data = f->df.d;
	r = fs_open(&f->fo, &f->fs);
	if (r < 0) {
		data_close(f->df.d);
		lsm_close(f->df.db);
	}
	return r;
}

static void test_start_with_an_orphan_and_a_failing_read(void **state)
{
	struct fsfix f;
	objstore *st = open_faulty(&f, "fserr-orphan");
	uint64_t n, tolerated = 0, refused = 0;
	for (n = 1; n < MAX_N; n++) {
		char name[32];
		snprintf(name, sizeof name, "f%" PRIu64, n);
		uint64_t ino = make_file(&f, name, 2);
		assert_int_equal(fs_open_file(f.fs, ROOT, ino, O_RDWR), 0);
		assert_int_equal(fs_unlink(f.fs, ROOT, FS_ROOT_INO, name, NULL), 0);
		fsfix_close(&f); /* still open: a crash, as far as the orphan goes */
		gets_fail_at(st, n);
		int r = try_open(&f);
		uint64_t injected = objstore_fault_injected(st);
		faults_off(st);
		if (r < 0) {
			refused++;
			fsfix_open(&f);
		} else if (injected) {
			tolerated++;
		}
		assert_int_equal(fs_reclaim_wait(f.fs), 0);
		if (keys_of(&f, 'O', ino) || keys_of(&f, 'I', ino) || keys_of(&f, 'E', ino) ||
		    keys_of(&f, 'X', ino))
			fail_msg("GET #%" PRIu64 " failed at the start (start %s): inode %" PRIu64
				 " left: orphan key %" PRIu64 ", record %" PRIu64 ", extents %" PRIu64
				 ", xattrs %" PRIu64, n, r < 0 ? "refused" : "went on", ino,
				 keys_of(&f, 'O', ino), keys_of(&f, 'I', ino), keys_of(&f, 'E', ino),
				 keys_of(&f, 'X', ino));
		if (!injected)
			break; /* past the last read of the start */
	}
	printf("# start: %" PRIu64 " reads failed in turn: %" PRIu64 " starts refused, %" PRIu64
	       " went on\n", n - 1, refused, tolerated);
	assert_true(n < MAX_N);
	assert_true(tolerated > 0); /* the orphan's own reads were among them */
	fsfix_done(&f);
}

static void test_unlink_with_xattrs_and_a_failing_read(void **state)
{
	struct fsfix f;
	objstore *st = open_faulty(&f, "fserr-xattr");
	uint64_t n, failed = 0;
	for (n = 1; n < MAX_N; n++) {
		char name[32];
		snprintf(name, sizeof name, "x%" PRIu64, n);
		uint64_t ino = make_file(&f, name, 40);
		fsfix_reopen(&f); /* everything in SSTs, nothing cached */
		gets_fail_at(st, n);
		int r = fs_unlink(f.fs, ROOT, FS_ROOT_INO, name, NULL);
		uint64_t injected = objstore_fault_injected(st);
		faults_off(st);
		struct fs_attr a;
		if (r < 0) {
			failed++;
			assert_int_equal(fs_lookup(f.fs, ROOT, FS_ROOT_INO, name, &a), 0);
			assert_int_equal(keys_of(&f, 'X', ino), 40);
			assert_int_equal(keys_of(&f, 'E', ino), 3);
			assert_int_equal(fs_unlink(f.fs, ROOT, FS_ROOT_INO, name, NULL), 0);
		}
		assert_int_equal(fs_reclaim_wait(f.fs), 0);
		if (keys_of(&f, 'X', ino) || keys_of(&f, 'I', ino) || keys_of(&f, 'E', ino))
			fail_msg("GET #%" PRIu64 " failed in unlink (= %d): inode %" PRIu64 " left %"
				 PRIu64 " xattr keys, record %" PRIu64 ", extents %" PRIu64, n, r, ino,
				 keys_of(&f, 'X', ino), keys_of(&f, 'I', ino), keys_of(&f, 'E', ino));
		if (!injected)
			break;
	}
	printf("# unlink: %" PRIu64 " reads failed in turn, %" PRIu64 " unlinks failed\n", n - 1,
	       failed);
	assert_true(n < MAX_N);
	assert_true(failed > 0);
	fsfix_done(&f);
}

static void test_last_close_retried(void **state)
{
	struct fsfix f;
	objstore *st = open_faulty(&f, "fserr-release");
	uint64_t ino = make_file(&f, "r", 3);
	fsfix_reopen(&f); /* in SSTs, nothing cached */
	assert_int_equal(fs_open_file(f.fs, ROOT, ino, O_RDWR), 0);
	assert_int_equal(fs_unlink(f.fs, ROOT, FS_ROOT_INO, "r", NULL), 0);
	assert_int_equal(keys_of(&f, 'O', ino), 1);
	assert_int_equal(fs_sync(f.fs), 0);
	struct objstore_fault_config c = { 0 };
	c.ops = OBJSTORE_OP_GET;
	c.error_rate = 1.0;
	objstore_fault_set(st, &c);
	fs_release(f.fs, ino);
	uint64_t injected = objstore_fault_injected(st);
	faults_off(st);
	printf("# release: %" PRIu64 " reads failed\n", injected);
	assert_true(injected > 0);
	assert_int_equal(fs_reclaim_wait(f.fs), 0);
	if (keys_of(&f, 'O', ino) || keys_of(&f, 'I', ino) || keys_of(&f, 'E', ino) ||
	    keys_of(&f, 'X', ino))
		fail_msg("a last close that failed (%" PRIu64 " reads failed) was not retried: "
			 "orphan key %" PRIu64 ", record %" PRIu64, injected, keys_of(&f, 'O', ino),
			 keys_of(&f, 'I', ino));
	fsfix_done(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_start_with_an_orphan_and_a_failing_read),
		cmocka_unit_test(test_unlink_with_xattrs_and_a_failing_read),
		cmocka_unit_test(test_last_close_retried),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
