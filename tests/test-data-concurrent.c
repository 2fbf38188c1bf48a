/* test-data-concurrent.c -- many threads committing at once, against a model.
 *
 * Eight threads apply deterministic operations (op i of thread t is derived
 * from the seed, t and i alone): writes, punches, truncates and
 * metadata-only commits, on inodes of their own and on three shared ones.
 * Like the core, a thread holds an inode's lock across its transaction and
 * the model update, so the data plane sees one change per inode at a time.
 * Every commit's caller batch puts the thread's progress and the inode's
 * size, and its commit hook numbers the commits in apply order: at
 * PREPARE it takes g = the next number and puts 'P' g = (thread, op) and
 * 'G' = g, so the tree itself records the order the batches went in.
 *
 *  - test_concurrent_model: on memory://, with small segments (constant
 *    rolls), a periodic barrier and a GC thread repacking with no grace:
 *    each thread reads its change back right after the commit
 *    (read-your-writes), two threads read without the inode lock (so they
 *    meet frames still being filled: no extent cache); hooks never run two
 *    at a time and APPLIED always follows its own PREPARE; at the end every
 *    inode reads back as the model, before and after a reopen, and the 'P'
 *    keys are 1..G with each thread's ops in its own order.
 *  - test_concurrent_crash_prefix: a forked child runs the same workload on
 *    a file:// store with a 10 ms periodic barrier and reports, after each
 *    barrier of its own, the number of commits applied before it started;
 *    the parent SIGKILLs it at a random moment, opens the store and checks
 *    that what survived is exactly commits 1..G in apply order ('P' keys
 *    1..G, none past it), that G covers every reported barrier, and that
 *    every inode and size key equals the ops of 1..G replayed in that order.
 *
 * Knobs: TEST_SEED, DATA_CONC_OPS (ops per thread, default 150),
 * DATA_CONC_CRASHES (default 6). */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "crypt/aead.h"
#include "data/data.h"
#include "lsm/lsm.h"
#include "store/objstore.h"
#include "testutil.h"
#include "datafix.h"
#include "util/clock.h"
#include "util/coding.h"
#include "util/mem.h"

#define NT 8                  /* threads */
#define NSHARED 3             /* inodes every thread changes */
#define NOWN 2                /* inodes of each thread's own */
#define NI (NSHARED + NT * NOWN)
#define CAP (256u << 10)      /* bytes per inode the ops touch */
#define MAXLEN (96u << 10)

enum { OP_WRITE, OP_PUNCH, OP_TRUNC, OP_META };

struct op {
	int kind;
	int slot;                 /* inode slot: shared first, then own */
	uint64_t off, len;        /* OP_TRUNC: off is the new size */
	uint64_t seed;            /* content */
};

struct model {
	uint8_t *data[NI];
	uint64_t size[NI];
};

static uint64_t g_seed;

static uint64_t slot_ino(int slot)
{
	return 1000 + (uint64_t)slot;
}

static void gen_op(uint64_t seed, int t, uint64_t i, struct op *op)
{
	struct test_rng r = { seed ^ ((uint64_t)t + 1) * 0x9e3779b97f4a7c15ull ^
			      (i + 1) * 0xc2b2ae3d27d4eb4full };
	test_rng_next(&r);
	uint64_t k = test_rng_below(&r, 100);
	op->kind = k < 60 ? OP_WRITE : k < 75 ? OP_PUNCH : k < 88 ? OP_TRUNC : OP_META;
	op->slot = test_rng_below(&r, 10) < 3 ? (int)test_rng_below(&r, NSHARED)
					     : NSHARED + t * NOWN + (int)test_rng_below(&r, NOWN);
	/* Often extent-aligned, so whole extents and holes come up. */
	op->off = test_rng_below(&r, 2) ? test_rng_below(&r, CAP / 32768) * 32768
					: test_rng_below(&r, CAP);
	op->len = 1 + test_rng_below(&r, test_rng_below(&r, 3) ? 8192 : MAXLEN);
	if (op->off + op->len > CAP)
		op->len = CAP - op->off;
	op->seed = test_rng_next(&r);
}

/* Random, text-like or partly zero: compressible, incompressible, holes. */
static void op_content(const struct op *op, uint8_t *buf)
{
	struct test_rng r = { op->seed };
	test_rng_fill(&r, buf, op->len);
	if (op->seed % 3 == 1)
		for (uint64_t i = 0; i < op->len; i++)
			buf[i] = (uint8_t)('a' + buf[i] % 4);
	else if (op->seed % 3 == 2)
		memset(buf, 0, op->len / 2);
}

static void model_apply(struct model *m, const struct op *op, const uint8_t *content)
{
	uint8_t *d = m->data[op->slot];
	uint64_t *size = &m->size[op->slot];
	switch (op->kind) {
	case OP_WRITE:
		memcpy(d + op->off, content, op->len);
		if (op->off + op->len > *size)
			*size = op->off + op->len;
		break;
	case OP_PUNCH:
		memset(d + op->off, 0, op->len);
		break;
	case OP_TRUNC:
		if (op->off < *size)
			memset(d + op->off, 0, *size - op->off);
		*size = op->off;
		break;
	}
}

static void key_of(uint8_t key[9], char tag, uint64_t v)
{
	key[0] = (uint8_t)tag;
	be64_put(key + 1, v);
}

/* ---- the workload ---- */

struct shared {
	struct data *d;
	struct model m;
	pthread_mutex_t ino_mu[NI];
	uint64_t ops;
	uint64_t seed;
	/* commit order, kept by the hooks (which run one at a time) */
	uint64_t next_g;
	_Atomic uint64_t applied;
	_Atomic int in_hook;
	const void *prepared;     /* the hook context of the last PREPARE */
	_Atomic int errors;
	char err[256];
	int report_fd;            /* crash child: barrier reports, or -1 */
	_Atomic bool stop;
};

struct hook_ctx {
	struct shared *sh;
	int t;
	uint64_t i;
};

static void sh_fail(struct shared *sh, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sh_fail(struct shared *sh, const char *fmt, ...)
{
	if (atomic_fetch_add(&sh->errors, 1) == 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(sh->err, sizeof sh->err, fmt, ap);
		va_end(ap);
	}
}

static void commit_hook(void *arg, struct lsm_batch *b, int phase)
{
	struct hook_ctx *c = arg;
	struct shared *sh = c->sh;
	if (atomic_exchange(&sh->in_hook, 1) != 0)
		sh_fail(sh, "two commit hooks ran at once");
	if (phase == DATA_HOOK_PREPARE) {
		if (sh->prepared)
			sh_fail(sh, "PREPARE of thread %d op %llu before the last one's outcome", c->t,
				(unsigned long long)c->i);
		sh->prepared = c;
		uint64_t g = ++sh->next_g;
		uint8_t key[9], val[16];
		key_of(key, 'P', g);
		be64_put(val, (uint64_t)c->t);
		be64_put(val + 8, c->i);
		lsm_batch_put(b, key, sizeof key, val, sizeof val);
		key_of(key, 'G', 0);
		be64_put(val, g);
		lsm_batch_put(b, key, sizeof key, val, 8);
	} else {
		if (sh->prepared != c)
			sh_fail(sh, "outcome hook of thread %d op %llu without its PREPARE", c->t,
				(unsigned long long)c->i);
		sh->prepared = NULL;
		if (phase == DATA_HOOK_APPLIED)
			atomic_store(&sh->applied, sh->next_g);
		else
			sh->next_g--; /* the batch did not go in */
	}
	atomic_store(&sh->in_hook, 0);
}

static int stage_op(struct data_txn *txn, const struct op *op, uint64_t old_size,
		    const uint8_t *content)
{
	uint64_t ino = slot_ino(op->slot);
	switch (op->kind) {
	case OP_WRITE:
		return data_write(txn, ino, op->off, content, op->len);
	case OP_PUNCH:
		return data_punch(txn, ino, op->off, op->off + op->len);
	case OP_TRUNC:
		return data_truncate(txn, ino, old_size, op->off);
	}
	return 0;
}

static void check_range(struct shared *sh, int slot, uint64_t off, uint64_t len, const char *when)
{
	if (!len)
		return;
	uint8_t *got = xmalloc(len);
	int r = data_read(sh->d, slot_ino(slot), off, got, len);
	if (r != 0)
		sh_fail(sh, "%s: read inode %llu: %d", when, (unsigned long long)slot_ino(slot), r);
	else if (memcmp(got, sh->m.data[slot] + off, len) != 0)
		sh_fail(sh, "%s: inode %llu differs from the model in %llu+%llu", when,
			(unsigned long long)slot_ino(slot), (unsigned long long)off,
			(unsigned long long)len);
	free(got);
}

struct worker {
	struct shared *sh;
	int t;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct shared *sh = w->sh;
	uint8_t *content = xmalloc(MAXLEN);
	for (uint64_t i = 0; i < sh->ops && !atomic_load(&sh->errors); i++) {
		struct op op;
		gen_op(sh->seed, w->t, i, &op);
		op_content(&op, content);
		pthread_mutex_lock(&sh->ino_mu[op.slot]);
		uint64_t old_size = sh->m.size[op.slot];
		struct data_txn *txn = data_txn_new(sh->d);
		struct lsm_batch *b = lsm_batch_new();
		struct hook_ctx hc = { sh, w->t, i };
		uint8_t key[9], val[8];
		int r = stage_op(txn, &op, old_size, content);
		key_of(key, 'Z', (uint64_t)w->t);
		be64_put(val, i + 1);
		lsm_batch_put(b, key, sizeof key, val, sizeof val);
		model_apply(&sh->m, &op, content);
		key_of(key, 'I', slot_ino(op.slot));
		be64_put(val, sh->m.size[op.slot]);
		lsm_batch_put(b, key, sizeof key, val, sizeof val);
		data_txn_on_commit(txn, commit_hook, &hc);
		/* Half the commits the way the core does them: no wait inside. */
		if (r == 0)
			r = i % 2 ? data_txn_commit(txn, b, NULL) : data_txn_commit_nowait(txn, b, NULL);
		if (r != 0)
			sh_fail(sh, "thread %d op %llu: commit: %d", w->t, (unsigned long long)i, r);
		/* Read-your-writes, while frames may still be being filled. */
		if (op.kind == OP_TRUNC)
			check_range(sh, op.slot, op.off, old_size > op.off ? old_size - op.off : 0,
				    "after truncate");
		else
			check_range(sh, op.slot, op.off, op.len, "right after the commit");
		pthread_mutex_unlock(&sh->ino_mu[op.slot]);
		if (i % 2 == 0)
			data_throttle(sh->d);
		data_txn_free(txn);
		lsm_batch_free(b);
		if (test_rng_below(&(struct test_rng){ op.seed }, 25) == 0) {
			uint64_t before = atomic_load(&sh->applied);
			r = data_barrier(sh->d, 0);
			if (r != 0)
				sh_fail(sh, "thread %d: barrier: %d", w->t, r);
			else if (sh->report_fd >= 0) {
				uint64_t msg[2] = { 'D', before };
				if (write(sh->report_fd, msg, sizeof msg) != sizeof msg)
					_exit(3);
			}
		}
	}
	free(content);
	return NULL;
}

/* Reads without the inode lock, so they meet frames still being filled:
 * the content is not knowable, but the read must succeed. */
static void *reader_main(void *arg)
{
	struct shared *sh = arg;
	struct test_rng r = { sh->seed ^ 0x7eade7 };
	uint8_t *buf = xmalloc(65536);
	while (!atomic_load(&sh->stop)) {
		int slot = (int)test_rng_below(&r, NI);
		uint64_t off = test_rng_below(&r, CAP / 32768) * 32768;
		int rc = data_read(sh->d, slot_ino(slot), off, buf, 65536);
		if (rc != 0)
			sh_fail(sh, "unlocked read of inode %llu at %llu: %d",
				(unsigned long long)slot_ino(slot), (unsigned long long)off, rc);
	}
	free(buf);
	return NULL;
}

static void *gc_main(void *arg)
{
	struct shared *sh = arg;
	while (!atomic_load(&sh->stop)) {
		struct data_gc_report rep;
		int r = data_gc(sh->d, &rep);
		if (r != 0)
			sh_fail(sh, "gc pass: %d", r);
		struct timespec ts = { 0, 5000000 };
		nanosleep(&ts, NULL);
	}
	return NULL;
}

static void shared_init(struct shared *sh, uint64_t seed, uint64_t ops)
{
	memset(sh, 0, sizeof *sh);
	sh->seed = seed;
	sh->ops = ops;
	sh->report_fd = -1;
	for (int i = 0; i < NI; i++) {
		sh->m.data[i] = xcalloc(1, CAP);
		pthread_mutex_init(&sh->ino_mu[i], NULL);
	}
}

static void shared_free(struct shared *sh)
{
	for (int i = 0; i < NI; i++) {
		free(sh->m.data[i]);
		pthread_mutex_destroy(&sh->ino_mu[i]);
	}
}

static void run_workers(struct shared *sh, bool gc)
{
	pthread_t th[NT], gct, rd[2];
	struct worker w[NT];
	if (gc)
		assert_int_equal(pthread_create(&gct, NULL, gc_main, sh), 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&rd[i], NULL, reader_main, sh), 0);
	for (int t = 0; t < NT; t++) {
		w[t] = (struct worker){ sh, t };
		assert_int_equal(pthread_create(&th[t], NULL, worker_main, &w[t]), 0);
	}
	for (int t = 0; t < NT; t++)
		pthread_join(th[t], NULL);
	atomic_store(&sh->stop, true);
	for (int i = 0; i < 2; i++)
		pthread_join(rd[i], NULL);
	if (gc)
		pthread_join(gct, NULL);
}

static uint64_t get_u64(lsm *db, char tag, uint64_t v, bool *found)
{
	uint8_t key[9];
	struct buf val = BUF_INIT;
	key_of(key, tag, v);
	int r = lsm_get(db, key, sizeof key, &val);
	*found = r == 0;
	if (r != 0 && r != -ENOENT)
		fail_msg("lsm_get %c %llu: %d", tag, (unsigned long long)v, r);
	uint64_t x = r == 0 && val.len >= 8 ? be64_get(val.data) : 0;
	buf_free(&val);
	return x;
}

/* The 'P' keys are 1..G, none past, each thread's ops in order from 0;
 * replayed in that order they give the model of the recovered state. */
static uint64_t check_order(lsm *db, uint64_t seed, struct model *m, uint64_t done[NT])
{
	bool found;
	uint64_t g = get_u64(db, 'G', 0, &found);
	uint8_t *content = xmalloc(MAXLEN);
	for (int t = 0; t < NT; t++)
		done[t] = 0;
	for (uint64_t k = 1; k <= g + 1; k++) {
		uint8_t key[9];
		struct buf val = BUF_INIT;
		key_of(key, 'P', k);
		int r = lsm_get(db, key, sizeof key, &val);
		if (k == g + 1) {
			if (r != -ENOENT)
				fail_msg("commit %llu is there past G = %llu", (unsigned long long)k,
					 (unsigned long long)g);
			break;
		}
		if (r != 0 || val.len != 16)
			fail_msg("commit %llu of %llu missing (%d): not a prefix", (unsigned long long)k,
				 (unsigned long long)g, r);
		uint64_t t = be64_get(val.data), i = be64_get(val.data + 8);
		buf_free(&val);
		if (t >= NT || i != done[t])
			fail_msg("commit %llu is thread %llu op %llu, expected op %llu: out of order",
				 (unsigned long long)k, (unsigned long long)t, (unsigned long long)i,
				 (unsigned long long)(t < NT ? done[t] : 0));
		struct op op;
		gen_op(seed, (int)t, i, &op);
		op_content(&op, content);
		model_apply(m, &op, content);
		done[t]++;
	}
	for (int t = 0; t < NT; t++) {
		uint64_t z = get_u64(db, 'Z', (uint64_t)t, &found);
		if (z != done[t])
			fail_msg("thread %d: progress key %llu, commits %llu", t, (unsigned long long)z,
				 (unsigned long long)done[t]);
	}
	free(content);
	return g;
}

static void check_model(struct data *d, lsm *db, const struct model *m, const char *when)
{
	uint8_t *got = xmalloc(CAP);
	for (int s = 0; s < NI; s++) {
		int r = data_read(d, slot_ino(s), 0, got, CAP);
		if (r != 0)
			fail_msg("%s: read inode %llu: %d", when, (unsigned long long)slot_ino(s), r);
		if (memcmp(got, m->data[s], CAP) != 0) {
			size_t i = 0;
			while (got[i] == m->data[s][i])
				i++;
			fail_msg("%s: inode %llu differs from the model at byte %zu", when,
				 (unsigned long long)slot_ino(s), i);
		}
		bool found;
		uint64_t size = get_u64(db, 'I', slot_ino(s), &found);
		if (size != m->size[s])
			fail_msg("%s: inode %llu size key %llu, model %llu", when,
				 (unsigned long long)slot_ino(s), (unsigned long long)size,
				 (unsigned long long)m->size[s]);
	}
	free(got);
}

static uint64_t ops_per_thread(void)
{
	return (uint64_t)test_env_long("DATA_CONC_OPS", getenv("BUCKETFS_ASAN") ? 60 : 150);
}

static void test_concurrent_model(void **state)
{
	(void)state;
	g_seed = test_seed("data concurrent model");
	struct datafix f;
	datafix_init(&f, "conc-model", NULL);
	f.dopt.segment_bytes = 256u << 10;
	f.dopt.uploads_in_flight = 2;
	f.dopt.flush_interval_ms = 15;
	f.dopt.gc_grace_ms = 0;
	f.dopt.extent_cache_bytes = 0; /* no extent cache: reads reach the frames */
	f.lo.memtable_bytes = 64u << 10;
	datafix_open(&f);
	struct shared sh;
	shared_init(&sh, g_seed, ops_per_thread());
	sh.d = f.d;
	run_workers(&sh, true);
	if (atomic_load(&sh.errors))
		fail_msg("%s (%d errors)", sh.err, atomic_load(&sh.errors));
	assert_int_equal(data_barrier(f.d, 0), 0);
	check_model(f.d, f.db, &sh.m, "after the threads, barrier");
	struct model replay;
	uint64_t done[NT];
	for (int i = 0; i < NI; i++) {
		replay.data[i] = xcalloc(1, CAP);
		replay.size[i] = 0;
	}
	uint64_t g = check_order(f.db, g_seed, &replay, done);
	assert_int_equal(g, NT * sh.ops);
	for (int i = 0; i < NI; i++)
		assert_memory_equal(replay.data[i], sh.m.data[i], CAP);
	struct data_stats st;
	data_stats(f.d, &st);
	datafix_reopen(&f);
	check_model(f.d, f.db, &sh.m, "after reopen");
	printf("# %llu commits by %d threads; %llu segments uploaded\n",
	       (unsigned long long)g, NT, (unsigned long long)st.segments_uploaded);
	for (int i = 0; i < NI; i++)
		free(replay.data[i]);
	shared_free(&sh);
	datafix_done(&f);
}

static void open_file_store(struct datafix *f, const char *url, bool child)
{
	datafix_init(f, url, NULL);
	f->dopt.segment_bytes = 256u << 10;
	f->dopt.uploads_in_flight = 2;
	f->dopt.flush_interval_ms = child ? 10 : 0;
	f->lo.memtable_bytes = 64u << 10;
	f->lo.create = true;
	datafix_open(f);
}

static void child_main(const char *url, uint64_t seed, uint64_t ops, int fd)
{
	struct datafix f;
	open_file_store(&f, url, true);
	struct shared sh;
	shared_init(&sh, seed, ops);
	sh.d = f.d;
	sh.report_fd = fd;
	uint64_t msg[2] = { 'R', 0 };
	if (write(fd, msg, sizeof msg) != sizeof msg)
		_exit(3);
	run_workers(&sh, false);
	if (atomic_load(&sh.errors)) {
		fprintf(stderr, "child: %s\n", sh.err);
		_exit(2);
	}
	/* Done before the kill: wait for it. */
	pause();
	_exit(0);
}

static void test_concurrent_crash_prefix(void **state)
{
	(void)state;
	g_seed = test_seed("data concurrent crash");
	struct test_rng r = { g_seed ^ 0x5eed };
	long crashes = test_env_long("DATA_CONC_CRASHES", getenv("BUCKETFS_ASAN") ? 3 : 6);
	if (!getenv("TMPDIR") && access("/dev/shm", W_OK) == 0)
		setenv("TMPDIR", "/dev/shm", 0);
	uint64_t total = 0;
	for (long it = 0; it < crashes; it++) {
		char *dir = test_tmpdir("data-conc-crash");
		char url[100];
		if (snprintf(url, sizeof url, "file://%s", dir) >= (int)sizeof url)
			fail_msg("temporary directory name too long: %s", dir);
		uint64_t seed = g_seed + (uint64_t)it;
		int fds[2];
		assert_int_equal(pipe(fds), 0);
		fflush(stdout);
		fflush(stderr);
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(fds[0]);
			child_main(url, seed, ops_per_thread(), fds[1]);
		}
		close(fds[1]);
		uint64_t kill_after_ns = (1 + test_rng_below(&r, test_rng_below(&r, 2) ? 40 : 150)) * 1000000ull;
		uint64_t start = 0, durable = 0;
		uint64_t msg[2];
		for (;;) {
			struct pollfd p = { fds[0], POLLIN, 0 };
			if (start && clock_mono_ns() >= start + kill_after_ns)
				break;
			if (poll(&p, 1, 2) <= 0)
				continue;
			if (read(fds[0], msg, sizeof msg) != sizeof msg)
				break; /* the child died by itself */
			if (msg[0] == 'R')
				start = clock_mono_ns();
			else if (msg[0] == 'D' && msg[1] > durable)
				durable = msg[1];
		}
		kill(pid, SIGKILL);
		/* Reports written before the kill still count. */
		while (read(fds[0], msg, sizeof msg) == sizeof msg)
			if (msg[0] == 'D' && msg[1] > durable)
				durable = msg[1];
		close(fds[0]);
		int status;
		assert_int_equal(waitpid(pid, &status, 0), pid);
		if (!WIFSIGNALED(status))
			fail_msg("crash %ld: the child ended by itself (status %d)", it, status);

		struct datafix f;
		open_file_store(&f, url, false);
		struct model m;
		uint64_t done[NT];
		for (int i = 0; i < NI; i++) {
			m.data[i] = xcalloc(1, CAP);
			m.size[i] = 0;
		}
		uint64_t g = check_order(f.db, seed, &m, done);
		if (g < durable)
			fail_msg("crash %ld: %llu commits survived, but a barrier covered %llu", it,
				 (unsigned long long)g, (unsigned long long)durable);
		char when[64];
		snprintf(when, sizeof when, "crash %ld, %llu commits", it, (unsigned long long)g);
		check_model(f.d, f.db, &m, when);
		total += g;
		printf("# crash %ld: %llu commits survived (a barrier covered %llu)\n", it,
		       (unsigned long long)g, (unsigned long long)durable);
		for (int i = 0; i < NI; i++)
			free(m.data[i]);
		datafix_done(&f);
		test_rmtree(dir);
		free(dir);
	}
	assert_true(total > 0);
}

int main(void)
{
	crypt_init();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_concurrent_model),
		cmocka_unit_test(test_concurrent_crash_prefix),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
