/* test-fs-concurrency.c -- many threads mutating one filesystem at once,
 * checked against a model.
 *
 * 8 threads share 4 directories.  Each thread creates, writes, truncates,
 * renames (across the shared directories), links, unlinks, chmods, sets
 * and removes xattrs, and makes and removes subdirectories, all on names
 * of its own, so each thread's final state is fixed by its own sequence
 * and the model (one per thread) knows it exactly; the directories,
 * their link counts and the counters are shared and contended.  Every
 * operation also writes its sequence number into the thread's own slot
 * of one shared file: concurrent writes to one inode (and to one extent)
 * must not lose an update.  The final state is checked, then again after
 * a reopen, including nlink of every inode and directory and the counters
 * that statfs reports.  The seed is printed. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "fsfix.h"
#include "util/coding.h"

#define THREADS 8
#define DIRS 4
#define ITERS 2000
#define MAX_OBJS 128
#define MAX_DATA 20000
#define MAX_SUBDIRS 16

struct name {
	bool used;
	int dir;
	char s[32];
};

struct obj {
	bool live;
	uint64_t ino;
	struct name names[2];
	uint64_t size;
	uint8_t data[MAX_DATA];
	uint32_t mode;
	bool xattr;
};

struct subdir {
	bool live;
	int dir;
	char s[32];
};

struct worker {
	int id;
	struct fsfix *f;
	uint64_t seed;
	uint64_t dirs[DIRS];
	uint64_t shared;
	int next_name;
	int nobj;
	struct obj *objs;
	struct subdir subdirs[MAX_SUBDIRS];
	int failed_line;
	int failed_rc;
};

#define CHECK(w, expr)                                                                  \
	do {                                                                            \
		int rc_ = (expr);                                                       \
		if (rc_ != 0 && !(w)->failed_line) {                                    \
			(w)->failed_line = __LINE__;                                    \
			(w)->failed_rc = rc_;                                           \
		}                                                                       \
	} while (0)

static const struct fs_cred *cred(void)
{
	return &FSFIX_ROOT;
}

static void fresh_name(struct worker *w, char *s, size_t n)
{
	snprintf(s, n, "t%d-%d", w->id, w->next_name++);
}

static struct obj *pick_live(struct worker *w, struct test_rng *r)
{
	if (w->nobj == 0)
		return NULL;
	for (int tries = 0; tries < 8; tries++) {
		struct obj *o = &w->objs[test_rng_below(r, (uint64_t)w->nobj)];
		if (o->live)
			return o;
	}
	return NULL;
}

static int names_of(const struct obj *o)
{
	return (int)o->names[0].used + (int)o->names[1].used;
}

static struct name *some_name(struct obj *o, struct test_rng *r)
{
	int i = names_of(o) == 2 ? (int)test_rng_below(r, 2) : (o->names[0].used ? 0 : 1);
	return &o->names[i];
}

static void op_create(struct worker *w, struct test_rng *r)
{
	if (w->nobj == MAX_OBJS)
		return;
	struct obj *o = &w->objs[w->nobj];
	struct fs_attr a;
	memset(o, 0, sizeof *o);
	o->names[0].used = true;
	o->names[0].dir = (int)test_rng_below(r, DIRS);
	fresh_name(w, o->names[0].s, sizeof o->names[0].s);
	o->mode = 0644;
	int rc = fs_mknod(w->f->fs, cred(), w->dirs[o->names[0].dir], o->names[0].s,
			  S_IFREG | 0644, 0, &a, NULL);
	CHECK(w, rc);
	if (rc == 0) {
		o->ino = a.ino;
		o->live = true;
		w->nobj++;
	}
}

static void op_write(struct worker *w, struct test_rng *r, struct obj *o)
{
	uint8_t buf[5000];
	size_t len = 1 + (size_t)test_rng_below(r, sizeof buf), put;
	uint64_t off = test_rng_below(r, MAX_DATA - len);
	test_rng_fill(r, buf, len);
	CHECK(w, fs_write(w->f->fs, cred(), o->ino, off, buf, len, &put));
	memcpy(o->data + off, buf, len);
	if (off + len > o->size)
		o->size = off + len;
}

static void op_truncate(struct worker *w, struct test_rng *r, struct obj *o)
{
	uint64_t size = test_rng_below(r, MAX_DATA);
	struct fs_setattr sa = { .valid = FS_SET_SIZE, .size = size };
	CHECK(w, fs_setattr(w->f->fs, cred(), o->ino, &sa, NULL, NULL));
	if (size < o->size)
		memset(o->data + size, 0, o->size - size);
	o->size = size;
}

static void op_rename(struct worker *w, struct test_rng *r, struct obj *o)
{
	struct name *n = some_name(o, r);
	struct name to = { true, (int)test_rng_below(r, DIRS), "" };
	fresh_name(w, to.s, sizeof to.s);
	CHECK(w, fs_rename(w->f->fs, cred(), w->dirs[n->dir], n->s, w->dirs[to.dir], to.s, 0,
			   NULL));
	*n = to;
}

static void op_link(struct worker *w, struct test_rng *r, struct obj *o)
{
	if (names_of(o) == 2)
		return;
	struct name *n = o->names[0].used ? &o->names[1] : &o->names[0];
	struct fs_attr a;
	n->used = true;
	n->dir = (int)test_rng_below(r, DIRS);
	fresh_name(w, n->s, sizeof n->s);
	CHECK(w, fs_link(w->f->fs, cred(), o->ino, w->dirs[n->dir], n->s, &a, NULL));
}

static void op_unlink(struct worker *w, struct test_rng *r, struct obj *o)
{
	struct name *n = some_name(o, r);
	CHECK(w, fs_unlink(w->f->fs, cred(), w->dirs[n->dir], n->s, NULL));
	n->used = false;
	if (names_of(o) == 0)
		o->live = false;
}

static void op_chmod(struct worker *w, struct test_rng *r, struct obj *o)
{
	struct fs_setattr sa = { .valid = FS_SET_MODE, .mode = 0600 | (uint32_t)test_rng_below(r, 64) };
	CHECK(w, fs_setattr(w->f->fs, cred(), o->ino, &sa, NULL, NULL));
	o->mode = sa.mode;
}

static void op_xattr(struct worker *w, struct obj *o)
{
	if (o->xattr)
		CHECK(w, fs_removexattr(w->f->fs, cred(), o->ino, "user.t", NULL));
	else
		CHECK(w, fs_setxattr(w->f->fs, cred(), o->ino, "user.t", &o->ino, sizeof o->ino, 0,
				     NULL));
	o->xattr = !o->xattr;
}

static void op_subdir(struct worker *w, struct test_rng *r)
{
	struct subdir *s = &w->subdirs[test_rng_below(r, MAX_SUBDIRS)];
	struct fs_attr a;
	if (s->live) {
		CHECK(w, fs_rmdir(w->f->fs, cred(), w->dirs[s->dir], s->s, NULL));
		s->live = false;
	} else {
		s->dir = (int)test_rng_below(r, DIRS);
		fresh_name(w, s->s, sizeof s->s);
		CHECK(w, fs_mkdir(w->f->fs, cred(), w->dirs[s->dir], s->s, 0755, &a, NULL));
		s->live = true;
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct test_rng r = { w->seed };
	for (int i = 0; i < ITERS && !w->failed_line; i++) {
		uint8_t slot[8];
		size_t put;
		be64_put(slot, (uint64_t)i + 1);
		/* Each thread's slots sit next to the others' in shared extents. */
		CHECK(w, fs_write(w->f->fs, cred(), w->shared, ((uint64_t)i * THREADS + w->id) * 8,
				  slot, 8, &put));
		unsigned op = (unsigned)test_rng_below(&r, 10);
		struct obj *o = pick_live(w, &r);
		if (op == 0 || !o) {
			op_create(w, &r);
			continue;
		}
		switch (op) {
		case 1: case 2: op_write(w, &r, o); break;
		case 3: op_truncate(w, &r, o); break;
		case 4: op_rename(w, &r, o); break;
		case 5: op_link(w, &r, o); break;
		case 6: op_unlink(w, &r, o); break;
		case 7: op_chmod(w, &r, o); break;
		case 8: op_xattr(w, o); break;
		default: op_subdir(w, &r); break;
		}
	}
	return NULL;
}

struct dir_count {
	uint64_t entries;
};

static int count_cb(void *arg, const char *name, uint64_t ino, uint32_t type, uint64_t next)
{
	struct dir_count *c = arg;
	if (strcmp(name, ".") && strcmp(name, ".."))
		c->entries++;
	return 0;
}

/* The model against the filesystem as it is now. */
static void check_state(struct fsfix *f, struct worker *ws, const char *when)
{
	uint64_t expect_entries[DIRS] = { 0 }, expect_subdirs[DIRS] = { 0 };
	uint64_t inodes = 1 + DIRS + 1, bytes = (uint64_t)ITERS * THREADS * 8;
	uint8_t *buf = xmalloc(MAX_DATA);
	for (int t = 0; t < THREADS; t++) {
		struct worker *w = &ws[t];
		for (int i = 0; i < w->nobj; i++) {
			struct obj *o = &w->objs[i];
			struct fs_attr a;
			if (!o->live) {
				if (fs_getattr(f->fs, o->ino, &a) != -ENOENT)
					fail_msg("%s: inode %llu should be gone", when,
						 (unsigned long long)o->ino);
				continue;
			}
			inodes++;
			bytes += o->size;
			for (int k = 0; k < 2; k++) {
				if (!o->names[k].used)
					continue;
				expect_entries[o->names[k].dir]++;
				if (fs_lookup(f->fs, cred(), ws[0].dirs[o->names[k].dir], o->names[k].s,
					      &a) != 0 || a.ino != o->ino)
					fail_msg("%s: name %s does not name inode %llu", when,
						 o->names[k].s, (unsigned long long)o->ino);
			}
			assert_int_equal(fs_getattr(f->fs, o->ino, &a), 0);
			if (a.size != o->size || a.nlink != (uint32_t)names_of(o) ||
			    (a.mode & 07777) != o->mode)
				fail_msg("%s: inode %llu: size %llu nlink %u mode %o, model %llu %d %o",
					 when, (unsigned long long)o->ino, (unsigned long long)a.size,
					 a.nlink, a.mode & 07777, (unsigned long long)o->size,
					 names_of(o), o->mode);
			size_t got;
			assert_int_equal(fs_read(f->fs, o->ino, 0, buf, MAX_DATA, &got), 0);
			assert_int_equal(got, o->size);
			if (memcmp(buf, o->data, o->size))
				fail_msg("%s: inode %llu: content differs from the model", when,
					 (unsigned long long)o->ino);
			size_t xl;
			int xr = fs_getxattr(f->fs, cred(), o->ino, "user.t", NULL, 0, &xl);
			assert_int_equal(xr, o->xattr ? 0 : -ENODATA);
		}
		for (int i = 0; i < MAX_SUBDIRS; i++)
			if (w->subdirs[i].live) {
				expect_entries[w->subdirs[i].dir]++;
				expect_subdirs[w->subdirs[i].dir]++;
				inodes++;
			}
	}
	for (int d = 0; d < DIRS; d++) {
		struct dir_count c = { 0 };
		struct fs_attr a;
		assert_int_equal(fs_readdir(f->fs, cred(), ws[0].dirs[d], 0, count_cb, &c), 0);
		assert_int_equal(c.entries, expect_entries[d]);
		assert_int_equal(fs_getattr(f->fs, ws[0].dirs[d], &a), 0);
		assert_int_equal(a.nlink, 2 + expect_subdirs[d]);
	}
	/* No lost update in the shared file. */
	size_t got, n = (size_t)ITERS * THREADS * 8;
	uint8_t *sh = xmalloc(n);
	assert_int_equal(fs_read(f->fs, ws[0].shared, 0, sh, n, &got), 0);
	assert_int_equal(got, n);
	for (int i = 0; i < ITERS; i++)
		for (int t = 0; t < THREADS; t++) {
			uint64_t v = be64_get(sh + ((size_t)i * THREADS + (size_t)t) * 8);
			if (ws[t].failed_line == 0 && v != (uint64_t)i + 1)
				fail_msg("%s: thread %d's update %d of the shared file was lost (%llu)",
					 when, t, i, (unsigned long long)v);
		}
	free(sh);
	/* The counters: every inode, and the bytes of every regular file. */
	struct fs_statfs s;
	assert_int_equal(fs_statfs(f->fs, &s), 0);
	assert_int_equal(s.files - s.ffree, inodes);
	assert_int_equal(s.blocks - s.bfree, (bytes + s.bsize - 1) / s.bsize);
	free(buf);
}

static void test_mixed_threads_against_model(void **state)
{
	struct fsfix f;
	struct worker ws[THREADS];
	pthread_t th[THREADS];
	struct fs_attr a;
	uint64_t seed = test_seed("fs concurrency");
	fsfix_init(&f, "fs-concurrency");
	uint64_t dirs[DIRS];
	for (int d = 0; d < DIRS; d++) {
		char name[16];
		snprintf(name, sizeof name, "d%d", d);
		dirs[d] = fsfix_mk(&f, cred(), FS_ROOT_INO, name, S_IFDIR | 0755);
	}
	uint64_t shared = fsfix_mk(&f, cred(), FS_ROOT_INO, "shared", S_IFREG | 0644);
	for (int t = 0; t < THREADS; t++) {
		memset(&ws[t], 0, sizeof ws[t]);
		ws[t].id = t;
		ws[t].f = &f;
		ws[t].seed = seed + (uint64_t)t * 7919;
		memcpy(ws[t].dirs, dirs, sizeof dirs);
		ws[t].shared = shared;
		ws[t].objs = xcalloc(MAX_OBJS, sizeof *ws[t].objs);
	}
	for (int t = 0; t < THREADS; t++)
		assert_int_equal(pthread_create(&th[t], NULL, worker_main, &ws[t]), 0);
	for (int t = 0; t < THREADS; t++)
		pthread_join(th[t], NULL);
	for (int t = 0; t < THREADS; t++)
		if (ws[t].failed_line)
			fail_msg("thread %d: the call at line %d returned %d", t, ws[t].failed_line,
				 ws[t].failed_rc);
	check_state(&f, ws, "after the threads");
	fsfix_reopen(&f);
	check_state(&f, ws, "after a reopen");
	assert_int_equal(fs_getattr(f.fs, FS_ROOT_INO, &a), 0);
	assert_int_equal(a.nlink, 2 + DIRS);
	for (int t = 0; t < THREADS; t++)
		free(ws[t].objs);
	fsfix_done(&f);
}

/* ---- metadata never waits behind uploads ---- */

struct streamer {
	struct fsfix *f;
	uint64_t ino;
	_Atomic bool stop, done;
	_Atomic uint64_t writes;
	int rc;
};

static void *stream_main(void *arg)
{
	struct streamer *s = arg;
	static uint8_t buf[64 << 10];
	struct test_rng r = { 42 };
	size_t put;
	for (uint64_t off = 0; !atomic_load(&s->stop) && off < (256ull << 20); off += sizeof buf) {
		test_rng_fill(&r, buf, sizeof buf);
		s->rc = fs_write(s->f->fs, cred(), s->ino, off, buf, sizeof buf, &put);
		if (s->rc)
			break;
		atomic_fetch_add(&s->writes, 1);
	}
	atomic_store(&s->done, true);
	return NULL;
}

static void on_alarm(int sig)
{
	static const char msg[] = "Bail out! a metadata operation waited behind the uploads\n";
	(void)sig;
	if (write(1, msg, sizeof msg - 1) < 0)
		_exit(2);
	_exit(1);
}

/* Every upload fails (and is retried) while one thread streams data into
 * a file, so that thread soon waits for upload room.  Meanwhile chmod,
 * setxattr, mkdir and even a chmod of the file being written must go
 * through: nobody waits for uploads while holding a lock, and operations
 * that store no data do not wait at all.  A watchdog fails the test if
 * any of them hangs. */
static void test_metadata_never_waits_for_uploads(void **state)
{
	struct fsfix f;
	objstore *mem, *st;
	char url[96];
	struct objstore_fault_config none = { 0 }, fail = { 0 };
	snprintf(url, sizeof url, "memory://fs-upload-wait-%d", (int)getpid());
	assert_int_equal(objstore_open(url, &mem), 0);
	assert_int_equal(objstore_fault_wrap(mem, &none, &st), 0);
	fsfix_prepare(&f, url, st);
	f.df.dopt.segment_bytes = 1 << 20;
	f.df.dopt.uploads_in_flight = 1;
	f.df.dopt.upload_threads = 1;
	fsfix_open(&f);
	uint64_t file = fsfix_mk(&f, cred(), FS_ROOT_INO, "stream", S_IFREG | 0644);
	uint64_t other = fsfix_mk(&f, cred(), FS_ROOT_INO, "other", S_IFREG | 0644);
	assert_int_equal(fs_sync(f.fs), 0);

	fail.ops = OBJSTORE_OP_PUT;
	fail.error_rate = 1.0;
	objstore_fault_set(st, &fail);
	struct streamer s = { .f = &f, .ino = file };
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, stream_main, &s), 0);
	/* Wait until the streamer is stuck: uploads retried, writes stalled. */
	struct data_stats ds;
	uint64_t last = 0;
	int stable = 0;
	for (int i = 0; i < 400 && stable < 5; i++) {
		usleep(10000);
		data_stats(f.df.d, &ds);
		uint64_t w = atomic_load(&s.writes);
		stable = ds.upload_retries > 0 && w == last ? stable + 1 : 0;
		last = w;
	}
	assert_true(stable >= 5);
	assert_false(atomic_load(&s.done));

	signal(SIGALRM, on_alarm);
	alarm(60);
	struct fs_setattr sa = { .valid = FS_SET_MODE, .mode = 0600 };
	struct fs_attr a;
	assert_int_equal(fs_setattr(f.fs, cred(), other, &sa, NULL, NULL), 0);
	assert_int_equal(fs_setattr(f.fs, cred(), file, &sa, NULL, NULL), 0);
	assert_int_equal(fs_setxattr(f.fs, cred(), other, "user.x", "1", 1, 0, NULL), 0);
	assert_int_equal(fs_mkdir(f.fs, cred(), FS_ROOT_INO, "dir", 0755, &a, NULL), 0);
	assert_int_equal(fs_rename(f.fs, cred(), FS_ROOT_INO, "dir", FS_ROOT_INO, "dir2", 0, NULL),
			 0);
	assert_int_equal(fs_getattr(f.fs, file, &a), 0);
	alarm(0);
	assert_false(atomic_load(&s.done)); /* it really was waiting all along */

	atomic_store(&s.stop, true);
	objstore_fault_set(st, &none);
	pthread_join(th, NULL);
	assert_int_equal(s.rc, 0);
	assert_int_equal(fs_getattr(f.fs, file, &a), 0);
	assert_int_equal(a.mode & 07777, 0600);
	assert_int_equal(a.size, atomic_load(&s.writes) * (64 << 10));
	fsfix_done(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mixed_threads_against_model),
		cmocka_unit_test(test_metadata_never_waits_for_uploads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
