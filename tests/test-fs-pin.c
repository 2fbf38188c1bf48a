/* test-fs-pin.c -- pinned inodes (fs_pin): while pinned, a file keeps its
 * size and its last name (truncate, O_TRUNC, unlink, rename over it are
 * -EBUSY); writes, renaming the file itself and more links still work;
 * pins count, and the last unpin lets everything through again. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "fsfix.h"

static void set_size(struct fsfix *f, uint64_t ino, uint64_t size, int want)
{
	struct fs_setattr sa = { .valid = FS_SET_SIZE, .size = size };
	assert_int_equal(fs_setattr(f->fs, &FSFIX_ROOT, ino, &sa, NULL, NULL), want);
}

static uint64_t size_of(struct fsfix *f, uint64_t ino)
{
	struct fs_attr a;
	assert_int_equal(fs_getattr(f->fs, ino, &a), 0);
	return a.size;
}

static void test_pin_blocks_size_and_last_name(void **state)
{
	struct fsfix f;
	(void)state;
	fsfix_init(&f, "pin");
	uint64_t ino = fsfix_mk(&f, &FSFIX_ROOT, FS_ROOT_INO, "disk", S_IFREG | 0600);
	set_size(&f, ino, 1 << 20, 0);
	assert_false(fs_pinned(f.fs, ino));
	fs_pin(f.fs, ino, "nbd export disk");
	assert_true(fs_pinned(f.fs, ino));

	set_size(&f, ino, 2 << 20, -EBUSY);
	set_size(&f, ino, 0, -EBUSY);
	set_size(&f, ino, 1 << 20, 0);          /* the same size is no change */
	assert_int_equal(size_of(&f, ino), 1 << 20);
	assert_int_equal(fs_open_file(f.fs, &FSFIX_ROOT, ino, O_RDWR | O_TRUNC), -EBUSY);
	assert_int_equal(fs_create(f.fs, &FSFIX_ROOT, FS_ROOT_INO, "disk", 0600, O_RDWR | O_TRUNC,
				   NULL, NULL, NULL, NULL), -EBUSY);
	assert_int_equal(fs_unlink(f.fs, &FSFIX_ROOT, FS_ROOT_INO, "disk", NULL), -EBUSY);
	fsfix_mk(&f, &FSFIX_ROOT, FS_ROOT_INO, "other", S_IFREG | 0600);
	assert_int_equal(fs_rename(f.fs, &FSFIX_ROOT, FS_ROOT_INO, "other", FS_ROOT_INO, "disk", 0,
				   NULL), -EBUSY);
	/* A failed op changed nothing: the name and the data are there. */
	struct fs_attr a;
	assert_int_equal(fs_lookup(f.fs, &FSFIX_ROOT, FS_ROOT_INO, "disk", &a), 0);
	assert_int_equal(a.ino, ino);
	assert_int_equal(a.nlink, 1);
	assert_int_equal(fs_lookup(f.fs, &FSFIX_ROOT, FS_ROOT_INO, "other", &a), 0);

	/* What leaves the users' view intact is allowed. */
	size_t put;
	assert_int_equal(fs_open_file(f.fs, &FSFIX_ROOT, ino, O_RDWR), 0);
	assert_int_equal(fs_write(f.fs, &FSFIX_ROOT, ino, 4096, "abc", 3, &put), 0);
	assert_int_equal(fs_fallocate(f.fs, &FSFIX_ROOT, ino,
				      FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 65536, NULL), 0);
	fs_release(f.fs, ino);
	assert_int_equal(fs_rename(f.fs, &FSFIX_ROOT, FS_ROOT_INO, "disk", FS_ROOT_INO, "disk2", 0,
				   NULL), 0);
	assert_int_equal(fs_link(f.fs, &FSFIX_ROOT, ino, FS_ROOT_INO, "disk3", NULL, NULL), 0);
	/* Not the last name: it may go. */
	assert_int_equal(fs_unlink(f.fs, &FSFIX_ROOT, FS_ROOT_INO, "disk3", NULL), 0);
	assert_int_equal(fs_unlink(f.fs, &FSFIX_ROOT, FS_ROOT_INO, "disk2", NULL), -EBUSY);

	/* Pins count: two holders, two unpins. */
	fs_pin(f.fs, ino, "nbd export disk (second client)");
	fs_unpin(f.fs, ino);
	assert_true(fs_pinned(f.fs, ino));
	set_size(&f, ino, 0, -EBUSY);
	fs_unpin(f.fs, ino);
	assert_false(fs_pinned(f.fs, ino));
	set_size(&f, ino, 3 << 20, 0);
	assert_int_equal(size_of(&f, ino), 3 << 20);
	assert_int_equal(fs_rename(f.fs, &FSFIX_ROOT, FS_ROOT_INO, "other", FS_ROOT_INO, "disk2", 0,
				   NULL), 0);
	assert_int_equal(fs_getattr_handle(f.fs, ino, 1, &a) == 0, 0);   /* gone */
	fsfix_done(&f);
}

static void test_unpin_of_unknown_is_harmless(void **state)
{
	struct fsfix f;
	(void)state;
	fsfix_init(&f, "pin-unknown");
	fs_unpin(f.fs, 12345);
	assert_false(fs_pinned(f.fs, 12345));
	/* Pins left at close are freed (asan checks). */
	fs_pin(f.fs, 777, "left over");
	fsfix_done(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pin_blocks_size_and_last_name),
		cmocka_unit_test(test_unpin_of_unknown_is_harmless),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
