/* test-fs-observe.c -- observers of the core: every committed mutation
 * reports the inodes and names it changed, with the caller's origin, after
 * the core let go of its locks; failed operations report nothing. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <cmocka.h>

#include "fsfix.h"

#define LOG_MAX 64

struct seen {
	struct fsfix *f;
	int n;
	char what[LOG_MAX];         /* 'i' inode, 'e' entry */
	uint32_t origin[LOG_MAX];
	uint64_t ino[LOG_MAX];
	char name[LOG_MAX][FS_NAME_MAX + 1];
	int reentered;              /* getattr from inside the callback worked */
	uint64_t mutate;            /* once: setxattr on this inode from the callback */
};

static void on_inode(void *arg, uint32_t origin, uint64_t ino)
{
	struct seen *s = arg;
	struct fs_attr a;
	if (s->n < LOG_MAX) {
		s->what[s->n] = 'i';
		s->origin[s->n] = origin;
		s->ino[s->n] = ino;
		s->name[s->n][0] = 0;
		s->n++;
	}
	/* The core's locks are not held: calling back must not deadlock. */
	if (fs_getattr(s->f->fs, ino, &a) == 0)
		s->reentered++;
	/* Even a mutation of the same inode: its lock is not held. */
	if (s->mutate == ino) {
		s->mutate = 0;
		if (fs_setxattr(s->f->fs, &FSFIX_ROOT, ino, "user.cb", "1", 1, 0, NULL) == 0)
			s->reentered += 1000;
	}
}

static void on_entry(void *arg, uint32_t origin, uint64_t parent, const char *name)
{
	struct seen *s = arg;
	if (s->n < LOG_MAX) {
		s->what[s->n] = 'e';
		s->origin[s->n] = origin;
		s->ino[s->n] = parent;
		snprintf(s->name[s->n], sizeof s->name[s->n], "%s", name);
		s->n++;
	}
}

static const struct fs_observer OBS = { on_inode, on_entry };

static bool saw(const struct seen *s, char what, uint64_t ino, const char *name)
{
	for (int i = 0; i < s->n; i++)
		if (s->what[i] == what && s->ino[i] == ino && (!name || !strcmp(s->name[i], name)))
			return true;
	return false;
}

static void test_every_mutation_notifies(void **state)
{
	struct fsfix f;
	struct seen s;
	struct fs_attr a;
	size_t put;
	fsfix_init(&f, "obs");
	memset(&s, 0, sizeof s);
	s.f = &f;
	assert_int_equal(fs_observe(f.fs, &OBS, &s), 0);
	struct fs_cred nfs = FSFIX_ROOT;
	nfs.origin = 7;

	assert_int_equal(fs_mknod(f.fs, &nfs, FS_ROOT_INO, "a", S_IFREG | 0644, 0, &a, NULL), 0);
	uint64_t ino = a.ino;
	assert_true(saw(&s, 'e', FS_ROOT_INO, "a"));
	assert_true(saw(&s, 'i', FS_ROOT_INO, NULL));
	for (int i = 0; i < s.n; i++)
		assert_int_equal(s.origin[i], 7);

	s.n = 0;
	assert_int_equal(fs_write(f.fs, &FSFIX_ROOT, ino, 0, "hello", 5, &put), 0);
	assert_true(saw(&s, 'i', ino, NULL));
	assert_int_equal(s.origin[0], 0);

	s.n = 0;
	struct fs_setattr sa = { .valid = FS_SET_MODE, .mode = 0600 };
	assert_int_equal(fs_setattr(f.fs, &nfs, ino, &sa, NULL, NULL), 0);
	assert_true(saw(&s, 'i', ino, NULL));

	s.n = 0;
	assert_int_equal(fs_setxattr(f.fs, &nfs, ino, "user.x", "1", 1, 0, NULL), 0);
	assert_true(saw(&s, 'i', ino, NULL));
	s.n = 0;
	assert_int_equal(fs_removexattr(f.fs, &nfs, ino, "user.x", NULL), 0);
	assert_true(saw(&s, 'i', ino, NULL));

	s.n = 0;
	uint64_t d = fsfix_mk(&f, &nfs, FS_ROOT_INO, "d", S_IFDIR | 0755);
	assert_int_equal(fs_link(f.fs, &nfs, ino, d, "b", &a, NULL), 0);
	assert_true(saw(&s, 'e', d, "b"));
	assert_true(saw(&s, 'i', ino, NULL));

	s.n = 0;
	assert_int_equal(fs_rename(f.fs, &nfs, d, "b", FS_ROOT_INO, "c", 0, NULL), 0);
	assert_true(saw(&s, 'e', d, "b"));
	assert_true(saw(&s, 'e', FS_ROOT_INO, "c"));
	assert_true(saw(&s, 'i', d, NULL));
	assert_true(saw(&s, 'i', FS_ROOT_INO, NULL));

	s.n = 0;
	assert_int_equal(fs_unlink(f.fs, &nfs, FS_ROOT_INO, "c", NULL), 0);
	assert_true(saw(&s, 'e', FS_ROOT_INO, "c"));
	assert_true(saw(&s, 'i', ino, NULL));
	s.n = 0;
	assert_int_equal(fs_rmdir(f.fs, &nfs, FS_ROOT_INO, "d", NULL), 0);
	assert_true(saw(&s, 'e', FS_ROOT_INO, "d"));

	s.n = 0;
	assert_int_equal(fs_fallocate(f.fs, &nfs, ino, 0, 0, 4096, NULL), 0);
	assert_true(saw(&s, 'i', ino, NULL));
	assert_true(s.reentered > 0);
	s.reentered = 0;
	s.mutate = ino;
	assert_int_equal(fs_write(f.fs, &FSFIX_ROOT, ino, 0, "y", 1, &put), 0);
	assert_true(s.reentered >= 1000);
	size_t xl;
	assert_int_equal(fs_getxattr(f.fs, &FSFIX_ROOT, ino, "user.cb", NULL, 0, &xl), 0);

	/* The stateless calls too. */
	s.n = 0;
	bool created;
	assert_int_equal(fs_create(f.fs, &nfs, FS_ROOT_INO, "n", 0644,
				   O_RDWR | O_EXCL | FS_CREATE_NOOPEN, NULL, &a, &created, NULL), 0);
	assert_true(saw(&s, 'e', FS_ROOT_INO, "n"));
	assert_true(saw(&s, 'i', a.ino, NULL));
	s.n = 0;
	assert_int_equal(fs_write_as(f.fs, &nfs, a.ino, 0, "z", 1, &put, NULL), 0);
	assert_true(saw(&s, 'i', a.ino, NULL));
	assert_int_equal(s.origin[0], 7);

	/* A failed operation changed nothing and says nothing. */
	s.n = 0;
	assert_int_equal(fs_mknod(f.fs, &nfs, FS_ROOT_INO, "a", S_IFREG | 0644, 0, &a, NULL), -EEXIST);
	assert_int_equal(fs_unlink(f.fs, &nfs, FS_ROOT_INO, "nope", NULL), -ENOENT);
	assert_int_equal(fs_setattr(f.fs, &FSFIX_BOB, ino, &sa, NULL, NULL), -EPERM);
	assert_int_equal(s.n, 0);

	assert_int_equal(fs_unobserve(f.fs, &OBS, &s), 0);
	assert_int_equal(fs_unobserve(f.fs, &OBS, &s), -ENOENT);
	assert_int_equal(fs_write(f.fs, &FSFIX_ROOT, ino, 0, "x", 1, &put), 0);
	assert_int_equal(s.n, 0);
	fsfix_done(&f);
}

static void test_observer_table_limits(void **state)
{
	struct fsfix f;
	struct seen s[FS_OBSERVERS_MAX + 1];
	fsfix_init(&f, "obs-limit");
	memset(s, 0, sizeof s);
	assert_int_equal(fs_observe(f.fs, NULL, NULL), -EINVAL);
	for (int i = 0; i < FS_OBSERVERS_MAX; i++) {
		s[i].f = &f;
		assert_int_equal(fs_observe(f.fs, &OBS, &s[i]), 0);
	}
	assert_int_equal(fs_observe(f.fs, &OBS, &s[FS_OBSERVERS_MAX]), -ENOSPC);
	fsfix_mk(&f, &FSFIX_ROOT, FS_ROOT_INO, "x", S_IFREG | 0644);
	/* Every observer hears every change. */
	for (int i = 0; i < FS_OBSERVERS_MAX; i++)
		assert_true(saw(&s[i], 'e', FS_ROOT_INO, "x"));
	fsfix_done(&f);
}

/* An atime update is no change a client must hear of (FUSE's write-back
 * fix-up acting on one once cut a file the kernel was still writing), and
 * it does not move the change counter. */
static void test_atime_update_is_quiet(void **state)
{
	struct fsfix f;
	struct seen s;
	struct fs_attr a, b;
	size_t put, got;
	char buf[8];
	memset(&f, 0, sizeof f);
	fsfix_prepare(&f, "obs-atime", NULL);
	f.fo.atime = true;
	fsfix_open(&f);
	memset(&s, 0, sizeof s);
	s.f = &f;
	uint64_t ino = fsfix_mk(&f, &FSFIX_ROOT, FS_ROOT_INO, "a", S_IFREG | 0644);
	assert_int_equal(fs_write(f.fs, &FSFIX_ROOT, ino, 0, "abc", 3, &put), 0);
	assert_int_equal(fs_getattr(f.fs, ino, &a), 0);
	assert_int_equal(fs_observe(f.fs, &OBS, &s), 0);
	/* atime is not after mtime yet: relatime updates it on this read. */
	assert_int_equal(fs_read(f.fs, ino, 0, buf, sizeof buf, &got), 0);
	assert_int_equal(fs_getattr(f.fs, ino, &b), 0);
	assert_true(b.atime.tv_sec > a.atime.tv_sec ||
		    (b.atime.tv_sec == a.atime.tv_sec && b.atime.tv_nsec > a.atime.tv_nsec));
	assert_int_equal(s.n, 0);
	assert_int_equal(b.change, a.change);
	/* A real change still notifies. */
	assert_int_equal(fs_write(f.fs, &FSFIX_ROOT, ino, 0, "x", 1, &put), 0);
	assert_true(saw(&s, 'i', ino, NULL));
	assert_true(fs_getattr(f.fs, ino, &b) == 0 && b.change > a.change);
	assert_int_equal(fs_unobserve(f.fs, &OBS, &s), 0);
	fsfix_done(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_mutation_notifies),
		cmocka_unit_test(test_observer_table_limits),
		cmocka_unit_test(test_atime_update_is_quiet),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
