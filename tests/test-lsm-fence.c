/* test-lsm-fence.c -- two writer processes on one file:// store: the newer
 * takes over, the older is fenced, and never do both succeed.
 *
 * The guarantees under test (lsm.h, DESIGN.md "Fencing"):
 *  - a writer that another one took over from fails its next manifest
 *    write and every later mutation with -EROFS;
 *  - what a writer committed before the takeover is in the new writer's
 *    state, what it had not committed is not;
 *  - manifests form one chain: each is written by put_if_absent on the
 *    next sequence number by a writer whose state was the previous one, so
 *    no sequence number is ever reported written by two writers, writer
 *    epochs never go down along the chain, and every flush that returned 0
 *    is durable in the newest manifest -- also a flush by a writer that was
 *    fenced later.  A flush that failed made nothing durable.
 *
 * The sequential tests drive the old writer A in a child process step by
 * step through a command pipe, the parent being the new writer B; in some,
 * B commits more than manifests_kept times and collects garbage before A
 * tries again, so that A's next manifest name is free once more.  The
 * racing test forks two or three writers per round (at the same moment,
 * or staggered so that a late one takes over from busy ones; in some
 * rounds writers stall now and then), has each loop write+flush with the
 * background thread on, and checks the chain and the final state.  The
 * store is kept across rounds.  Knobs: TEST_SEED, LSM_FENCE_ROUNDS
 * (default 25). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "crypt/aead.h"
#include "lsm/lsm.h"
#include "store/objstore.h"
#include "testutil.h"
#include "util/log.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

static const uint8_t KEY[CRYPT_KEY_BYTES] = { 0xfe, 0x0c, 0xe5 };

static void writer_options(struct lsm_options *o, objstore *st, bool background)
{
	lsm_options_default(o);
	o->store = st;
	o->create = true;
	o->background = background;
	memcpy(o->key, KEY, sizeof o->key);
	o->memtable_bytes = 16u << 10;
	o->l0_trigger = 2;
	o->sst_target_bytes = 64u << 10;
	o->l1_target_bytes = 128u << 10;
	o->gc_grace_ms = 0;
}

static void put(lsm *db, const char *k, const char *v, int want)
{
	struct lsm_batch *b = lsm_batch_new();
	lsm_batch_put(b, k, strlen(k), v, strlen(v));
	assert_int_equal(lsm_write(db, b, NULL), want);
	lsm_batch_free(b);
}

static void expect(lsm *db, const char *k, const char *v)
{
	struct buf val = BUF_INIT;
	int r = lsm_get(db, k, strlen(k), &val);
	if (!v) {
		if (r != -ENOENT)
			fail_msg("get %s: want -ENOENT, got %d", k, r);
	} else {
		if (r != 0)
			fail_msg("get %s: want '%s', got %d", k, v, r);
		assert_int_equal(val.len, strlen(v));
		assert_memory_equal(val.data, v, val.len);
	}
	buf_free(&val);
}

/* ---- a writer in another process, driven one call at a time ---- */

enum { CMD_OPEN = 1, CMD_PUT, CMD_FLUSH, CMD_COMPACT, CMD_GC, CMD_FENCED, CMD_MANIFEST,
       CMD_EXIT };

struct cmd {
	int op;
	int arg;
	char key[32], val[32];
};

struct remote {
	pid_t pid;
	int to, from;
};

static __attribute__((noreturn)) void remote_main(const char *url, int in, int out)
{
	objstore *st = NULL;
	lsm *db = NULL;
	struct cmd c;
	while (read(in, &c, sizeof c) == (ssize_t)sizeof c) {
		int64_t r = 0;
		struct lsm_options o;
		struct lsm_stats s;
		struct lsm_batch *b;
		switch (c.op) {
		case CMD_OPEN:
			r = objstore_open(url, &st);
			writer_options(&o, st, c.arg);
			if (r == 0)
				r = lsm_open(&o, &db);
			break;
		case CMD_PUT:
			b = lsm_batch_new();
			lsm_batch_put(b, c.key, strlen(c.key), c.val, strlen(c.val));
			r = lsm_write(db, b, NULL);
			lsm_batch_free(b);
			break;
		case CMD_FLUSH:
			r = lsm_flush(db);
			break;
		case CMD_COMPACT:
			r = lsm_compact(db, c.arg);
			break;
		case CMD_GC:
			r = lsm_collect_garbage(db);
			break;
		case CMD_FENCED:
			lsm_stats(db, &s);
			r = s.fenced;
			break;
		case CMD_MANIFEST:
			lsm_stats(db, &s);
			r = (int64_t)s.manifest_seq;
			break;
		case CMD_EXIT:
			lsm_close(db);
			objstore_close(st);
			_exit(0);
		}
		if (write(out, &r, sizeof r) != (ssize_t)sizeof r)
			_exit(3);
	}
	_exit(4);
}

static void remote_start(struct remote *rw, const char *url)
{
	int a[2], b[2];
	assert_int_equal(pipe(a), 0);
	assert_int_equal(pipe(b), 0);
	fflush(stdout);
	fflush(stderr);
	rw->pid = fork();
	assert_true(rw->pid >= 0);
	if (rw->pid == 0) {
		close(a[1]);
		close(b[0]);
		remote_main(url, a[0], b[1]);
	}
	close(a[0]);
	close(b[1]);
	rw->to = a[1];
	rw->from = b[0];
}

static int64_t remote_call(struct remote *rw, int op, int arg, const char *key, const char *val)
{
	struct cmd c;
	int64_t r;
	memset(&c, 0, sizeof c);
	c.op = op;
	c.arg = arg;
	if (key)
		snprintf(c.key, sizeof c.key, "%s", key);
	if (val)
		snprintf(c.val, sizeof c.val, "%s", val);
	assert_int_equal(write(rw->to, &c, sizeof c), sizeof c);
	if (read(rw->from, &r, sizeof r) != (ssize_t)sizeof r)
		fail_msg("writer process died during command %d", op);
	return r;
}

static void remote_stop(struct remote *rw)
{
	int status;
	struct cmd c = { .op = CMD_EXIT };
	assert_int_equal(write(rw->to, &c, sizeof c), sizeof c);
	assert_int_equal(waitpid(rw->pid, &status, 0), rw->pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(rw->to);
	close(rw->from);
}

struct store_dir {
	char *dir, *url;
	objstore *st;
};

static void store_dir_new(struct store_dir *sd, const char *tag)
{
	sd->dir = test_tmpdir(tag);
	sd->url = xasprintf("file://%s/store", sd->dir);
	assert_int_equal(objstore_open(sd->url, &sd->st), 0);
}

static void store_dir_free(struct store_dir *sd)
{
	objstore_close(sd->st);
	test_rmtree(sd->dir);
	free(sd->dir);
	free(sd->url);
}

/* A opens, commits some, writes more; B takes over.  Then B commits
 * `b_flushes` times (collecting garbage after, so that old manifests are
 * pruned beyond manifests_kept when b_flushes is large), and A carries on:
 * its next flush and every mutation after it must fail with -EROFS, and
 * A must not disturb B's tree.  Returns with B open. */
static void sequential_takeover(struct store_dir *sd, int b_flushes, bool a_compacts, lsm **bout)
{
	struct remote a;
	struct lsm_options o;
	lsm *b;
	remote_start(&a, sd->url);
	assert_int_equal(remote_call(&a, CMD_OPEN, false, NULL, NULL), 0);
	for (int i = 0; i < 6; i++) {
		char k[32];
		snprintf(k, sizeof k, "a/flushed%d", i);
		assert_int_equal(remote_call(&a, CMD_PUT, 0, k, "A"), 0);
		assert_int_equal(remote_call(&a, CMD_FLUSH, 0, NULL, NULL), 0);
	}
	assert_int_equal(remote_call(&a, CMD_PUT, 0, "a/unflushed", "A"), 0);
	int64_t a_seq = remote_call(&a, CMD_MANIFEST, 0, NULL, NULL);

	writer_options(&o, sd->st, false);
	o.manifests_kept = 2;
	assert_int_equal(lsm_open(&o, &b), 0);
	struct lsm_stats s;
	lsm_stats(b, &s);
	assert_int_equal(s.manifest_seq, a_seq + 1);
	expect(b, "a/flushed5", "A");
	expect(b, "a/unflushed", NULL);
	for (int i = 0; i < b_flushes; i++) {
		char k[32];
		snprintf(k, sizeof k, "b/%d", i);
		put(b, k, "B", 0);
		assert_int_equal(lsm_flush(b), 0);
	}
	assert_int_equal(lsm_collect_garbage(b), 0);

	/* A does not know yet: its memtable still takes writes... */
	assert_int_equal(remote_call(&a, CMD_FENCED, 0, NULL, NULL), 0);
	int64_t r = remote_call(&a, CMD_PUT, 0, "a/late", "A");
	assert_true(r == 0 || r == -EROFS);
	if (a_compacts) {
		/* ...and a compaction or a collection must not make it act as
		 * the owner of the store either. */
		r = remote_call(&a, CMD_COMPACT, true, NULL, NULL);
		if (r != -EROFS && r != 0)
			fail_msg("fenced writer's lsm_compact returned %d", (int)r);
		r = remote_call(&a, CMD_GC, 0, NULL, NULL);
		if (r != -EROFS && r != 0)
			fail_msg("fenced writer's lsm_collect_garbage returned %d", (int)r);
		/* Nothing of B's tree may be gone. */
		expect(b, "a/flushed0", "A");
		expect(b, "a/flushed5", "A");
	}
	/* ...but its next commit finds the takeover. */
	r = remote_call(&a, CMD_FLUSH, 0, NULL, NULL);
	if (r != -EROFS)
		fail_msg("old writer's lsm_flush after %d commits of the new writer returned %d, "
			 "want -EROFS (%d)", b_flushes, (int)r, -EROFS);
	assert_int_equal(remote_call(&a, CMD_FENCED, 0, NULL, NULL), 1);
	assert_int_equal(remote_call(&a, CMD_PUT, 0, "a/later", "A"), -EROFS);
	assert_int_equal(remote_call(&a, CMD_FLUSH, 0, NULL, NULL), -EROFS);
	/* Maintenance has nothing left to do once fenced
	 * (test_fenced_maintenance_is_erofs holds it to -EROFS); here it must
	 * only not write anything. */
	r = remote_call(&a, CMD_COMPACT, true, NULL, NULL);
	if (r != -EROFS && r != 0)
		fail_msg("fenced writer's lsm_compact returned %d", (int)r);
	r = remote_call(&a, CMD_GC, 0, NULL, NULL);
	if (r != -EROFS && r != 0)
		fail_msg("fenced writer's lsm_collect_garbage returned %d", (int)r);
	assert_int_equal(remote_call(&a, CMD_MANIFEST, 0, NULL, NULL), a_seq);
	remote_stop(&a);

	/* B still owns the store. */
	put(b, "b/after", "B", 0);
	assert_int_equal(lsm_flush(b), 0);
	*bout = b;
}

/* What every sequential test checks at the end, from a fresh open. */
static void check_final(struct store_dir *sd, int b_flushes)
{
	struct lsm_options o;
	lsm *db;
	writer_options(&o, sd->st, false);
	o.read_only = true;
	assert_int_equal(lsm_open(&o, &db), 0);
	for (int i = 0; i < 6; i++) {
		char k[32];
		snprintf(k, sizeof k, "a/flushed%d", i);
		expect(db, k, "A");
	}
	for (int i = 0; i < b_flushes; i++) {
		char k[32];
		snprintf(k, sizeof k, "b/%d", i);
		expect(db, k, "B");
	}
	expect(db, "b/after", "B");
	expect(db, "a/unflushed", NULL);
	expect(db, "a/late", NULL);
	expect(db, "a/later", NULL);
	lsm_close(db);
}

static void test_fence_sequential(void **state)
{
	struct store_dir sd;
	lsm *b;
	store_dir_new(&sd, "lsm-fence");
	sequential_takeover(&sd, 1, false, &b);
	lsm_close(b);
	check_final(&sd, 1);
	store_dir_free(&sd);
}

/* The old writer is fenced while it compacts. */
static void test_fence_old_writer_compacting(void **state)
{
	struct store_dir sd;
	lsm *b;
	store_dir_new(&sd, "lsm-fence");
	sequential_takeover(&sd, 1, true, &b);
	lsm_close(b);
	check_final(&sd, 1);
	store_dir_free(&sd);
}

/* "every later mutation returns -EROFS" (lsm.h): lsm_compact() and
 * lsm_collect_garbage() too, even when the fenced writer has nothing left
 * to compact or collect. */
static void test_fenced_maintenance_is_erofs(void **state)
{
	struct store_dir sd;
	struct lsm_options o;
	lsm *a, *b;
	store_dir_new(&sd, "lsm-fence");
	writer_options(&o, sd.st, false);
	assert_int_equal(lsm_open(&o, &a), 0);
	put(a, "k", "a", 0);
	assert_int_equal(lsm_flush(a), 0);
	assert_int_equal(lsm_open(&o, &b), 0);
	put(b, "k", "b", 0);
	assert_int_equal(lsm_flush(b), 0);
	put(a, "k", "late", 0);
	assert_int_equal(lsm_flush(a), -EROFS);
	int r = lsm_compact(a, false);
	if (r != -EROFS)
		fail_msg("lsm_compact(false) on a fenced writer returned %d, want -EROFS", r);
	r = lsm_compact(a, true);
	if (r != -EROFS)
		fail_msg("lsm_compact(true) on a fenced writer returned %d, want -EROFS", r);
	r = lsm_collect_garbage(a);
	if (r != -EROFS)
		fail_msg("lsm_collect_garbage on a fenced writer returned %d, want -EROFS", r);
	lsm_close(a);
	lsm_close(b);
	store_dir_free(&sd);
}

/* lsm_mark_fenced: the caller's word that a newer writer took over turns
 * an idle writer fenced at once (no manifest write needed); an epoch not
 * newer than ours, or a reader, changes nothing. */
static void test_mark_fenced(void **state)
{
	struct store_dir sd;
	struct lsm_options o;
	struct lsm_stats s;
	lsm *a, *b;
	store_dir_new(&sd, "lsm-mark");
	writer_options(&o, sd.st, false);
	assert_int_equal(lsm_open(&o, &a), 0);
	put(a, "k", "a", 0);
	assert_int_equal(lsm_flush(a), 0);
	lsm_stats(a, &s);
	lsm_mark_fenced(a, s.epoch); /* not newer: nothing */
	lsm_stats(a, &s);
	assert_false(s.fenced);
	put(a, "k2", "a", 0);
	assert_int_equal(lsm_flush(a), 0);
	assert_int_equal(lsm_open(&o, &b), 0);
	lsm_stats(b, &s);
	lsm_mark_fenced(a, s.epoch);
	lsm_stats(a, &s);
	assert_true(s.fenced);
	put(a, "k", "late", -EROFS);
	assert_int_equal(lsm_flush(a), -EROFS);
	expect(b, "k", "a");
	expect(b, "k2", "a");
	lsm_close(a);
	lsm_close(b);
	store_dir_free(&sd);
}

/* The old writer's next manifest sequence number was written by the new
 * writer and has since been deleted by its garbage collection
 * (manifests_kept): put_if_absent on it succeeds, yet the old writer is
 * fenced all the same. */
static void test_fence_after_manifests_pruned(void **state)
{
	struct store_dir sd;
	lsm *b;
	store_dir_new(&sd, "lsm-fence");
	sequential_takeover(&sd, 12, false, &b);
	lsm_close(b);
	check_final(&sd, 12);
	store_dir_free(&sd);
}

/* The same, with the old writer compacting and collecting garbage before
 * it commits: it must not delete SSTs the new writer's tree names. */
static void test_fenced_writer_deletes_nothing_live(void **state)
{
	struct store_dir sd;
	lsm *b;
	store_dir_new(&sd, "lsm-fence");
	sequential_takeover(&sd, 12, true, &b);
	lsm_close(b);
	check_final(&sd, 12);
	store_dir_free(&sd);
}

/* ---- racing writers ---- */

#define MAX_PROCS 3

enum { R_OPENED = 1, R_OPEN_FAILED, R_WROTE, R_FLUSHED };

/* One report from a racer; small enough for an atomic pipe write. */
struct rmsg {
	uint32_t type, proc;
	int64_t rc;
	uint64_t n, seq, epoch;
};

static void race_key(char *out, size_t len, unsigned round, unsigned proc, uint64_t n)
{
	snprintf(out, len, "r%03u/p%u/%06llu", round, proc, (unsigned long long)n);
}

static size_t race_value(char *out, size_t len, unsigned round, unsigned proc, uint64_t n)
{
	int h = snprintf(out, len, "v%u.%u.%llu:", round, proc, (unsigned long long)n);
	size_t fill = 100 + (round * 7 + proc * 13 + n * 31) % 200;
	if (fill > len - (size_t)h - 1)
		fill = len - (size_t)h - 1;
	memset(out + h, 'a' + (int)(n % 26), fill);
	return (size_t)h + fill;
}

/* The racers' stderr ("fenced out" is logged as an error every time a
 * writer loses, as it should be) goes to a file, shown only on failure,
 * after a summary of what the writers of the round reported. */
static char *race_log;
static char race_summary[2048];

static void race_dump_log(void)
{
	FILE *f = race_log ? fopen(race_log, "r") : NULL;
	char line[512];
	printf("# %s\n", race_summary);
	if (!f)
		return;
	printf("# the writers' log (%s):\n", race_log);
	while (fgets(line, sizeof line, f))
		printf("#   %s", line);
	fclose(f);
	fflush(stdout);
}

#define race_fail(...)                                                                     \
	do {                                                                               \
		race_dump_log();                                                           \
		fail_msg(__VA_ARGS__);                                                     \
	} while (0)

static void race_send(int fd, const struct rmsg *m)
{
	if (write(fd, m, sizeof *m) != (ssize_t)sizeof *m)
		_exit(3);
}

struct racer_cfg {
	const char *url;
	unsigned round, proc;
	uint64_t delay_us;  /* after the start line, before lsm_open */
	uint64_t budget_ms; /* how long to write+flush */
	unsigned pause_pct; /* chance of a 20-170 ms stall before a flush */
};

static int64_t ms_since(const struct timespec *t0)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)(ts.tv_sec - t0->tv_sec) * 1000 + (ts.tv_nsec - t0->tv_nsec) / 1000000;
}

/* Open as writer, report, then write one key and flush, reporting each
 * result, until the budget is spent or a few attempts after being fenced. */
static __attribute__((noreturn)) void racer_main(const struct racer_cfg *cfg, int go, int out)
{
	struct rmsg m = { .proc = cfg->proc };
	struct lsm_options o;
	struct lsm_stats s;
	struct timespec t0;
	objstore *st;
	lsm *db;
	char dummy;
	if (read(go, &dummy, 1) != 0) /* the start line: EOF for everyone at once */
		_exit(5);
	usleep((useconds_t)cfg->delay_us);
	if (objstore_open(cfg->url, &st) < 0)
		_exit(6);
	writer_options(&o, st, true);
	o.manifests_kept = 2;
	int rc = lsm_open(&o, &db);
	if (rc < 0) {
		m.type = R_OPEN_FAILED;
		m.rc = rc;
		race_send(out, &m);
		_exit(0);
	}
	lsm_stats(db, &s);
	m.type = R_OPENED;
	m.seq = s.manifest_seq;
	m.epoch = s.epoch;
	race_send(out, &m);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	unsigned seed = (unsigned)(cfg->delay_us * 31 + cfg->proc * 7 + cfg->round);
	unsigned fenced_tries = 0;
	struct lsm_batch *b = lsm_batch_new();
	for (uint64_t n = 0; ms_since(&t0) <= (int64_t)cfg->budget_ms && fenced_tries <= 3; n++) {
		char k[64], v[400];
		race_key(k, sizeof k, cfg->round, cfg->proc, n);
		size_t vl = race_value(v, sizeof v, cfg->round, cfg->proc, n);
		lsm_batch_clear(b);
		lsm_batch_put(b, k, strlen(k), v, vl);
		m.type = R_WROTE;
		m.n = n;
		m.rc = lsm_write(db, b, NULL);
		m.seq = m.epoch = 0;
		race_send(out, &m);
		/* Now and then a writer stalls (a pause, a slow machine) while
		 * the others carry on, commit and collect garbage. */
		if (cfg->pause_pct && (unsigned)rand_r(&seed) % 100 < cfg->pause_pct)
			usleep(20000 + (useconds_t)((unsigned)rand_r(&seed) % 150000));
		m.type = R_FLUSHED;
		m.rc = lsm_flush(db);
		lsm_stats(db, &s);
		m.seq = s.manifest_seq;
		m.epoch = s.epoch;
		race_send(out, &m);
		if (m.rc != 0 || s.fenced)
			fenced_tries++;
	}
	lsm_batch_free(b);
	lsm_close(db);
	objstore_close(st);
	_exit(0);
}

/* What the parent learned about one racer. */
struct racer {
	bool opened, open_failed, failed; /* failed: a write or flush failed */
	int open_rc;
	uint64_t open_seq, epoch;
	int64_t last_ok; /* last n whose flush returned 0, -1 if none */
	uint64_t nsucc, max_succ_seq;
};

/* A manifest a racer reported writing: at open, or by a flush. */
struct seen_seq {
	uint64_t seq, epoch;
	unsigned proc;
	bool open;
};

static int seen_cmp(const void *a, const void *b)
{
	const struct seen_seq *x = a, *y = b;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static const char *race_msg_name(uint32_t t)
{
	return t == R_OPENED ? "open" : t == R_WROTE ? "write" : t == R_FLUSHED ? "flush" : "?";
}

struct race_totals {
	uint64_t rounds, procs, flush_ok, flush_fenced, fenced_procs, open_failed;
};

struct race {
	unsigned round, np;
	pid_t pids[MAX_PROCS];
	struct racer rs[MAX_PROCS];
	struct seen_seq *seen;
	size_t nseen;
	struct race_totals *tot;
};

static void race_spawn(struct race *rc, const char *url, struct test_rng *r, int go[2],
		       int out[2])
{
	struct racer_cfg cfg = { .url = url, .round = rc->round };
	cfg.budget_ms = (UNDER_ASAN ? 150 : 60) + test_rng_below(r, 80);
	cfg.pause_pct = rc->round % 3 == 2 ? 10 : 0;
	fflush(stdout);
	fflush(stderr);
	for (unsigned p = 0; p < rc->np; p++) {
		/* Half the rounds start together; in the others a late writer
		 * takes over while the earlier ones are in full swing. */
		cfg.proc = p;
		cfg.delay_us = rc->round % 2 ? test_rng_below(r, cfg.budget_ms * 500)
					     : test_rng_below(r, 300);
		rc->pids[p] = fork();
		assert_true(rc->pids[p] >= 0);
		if (rc->pids[p] == 0) {
			close(go[1]);
			close(out[0]);
			int fd = open(race_log, O_WRONLY | O_CREAT | O_APPEND, 0644);
			if (fd >= 0 && getenv("BUCKETFS_LOG") == NULL)
				dup2(fd, 2);
			racer_main(&cfg, go[0], out[1]);
		}
	}
}

static void race_note_seq(struct race *rc, const struct rmsg *m)
{
	rc->seen = xrealloc(rc->seen, (rc->nseen + 1) * sizeof *rc->seen);
	rc->seen[rc->nseen].seq = m->seq;
	rc->seen[rc->nseen].epoch = m->epoch;
	rc->seen[rc->nseen].proc = m->proc;
	rc->seen[rc->nseen].open = m->type == R_OPENED;
	rc->nseen++;
}

/* Per writer: only -EROFS as an error, nothing succeeds after it, every
 * commit is at the epoch it opened with, on ever higher manifests. */
static void race_observe(struct race *rc, const struct rmsg *m)
{
	unsigned round = rc->round;
	assert_true(m->proc < rc->np);
	struct racer *x = &rc->rs[m->proc];
	if (m->type == R_OPEN_FAILED) {
		x->open_failed = true;
		x->open_rc = (int)m->rc;
		return;
	}
	if (m->type == R_OPENED) {
		x->opened = true;
		x->open_seq = m->seq;
		x->epoch = m->epoch;
		race_note_seq(rc, m);
		return;
	}
	if (m->rc != 0) {
		if (m->rc != -EROFS)
			race_fail("round %u: writer %u: %s of #%llu failed with %d; only -EROFS is "
				  "expected", round, m->proc, race_msg_name(m->type),
				  (unsigned long long)m->n, (int)m->rc);
		x->failed = true;
		rc->tot->flush_fenced += m->type == R_FLUSHED;
		return;
	}
	if (x->failed)
		race_fail("round %u: writer %u: %s of #%llu succeeded after an -EROFS (manifest "
			  "%llu, epoch %llu)", round, m->proc, race_msg_name(m->type),
			  (unsigned long long)m->n, (unsigned long long)m->seq,
			  (unsigned long long)m->epoch);
	if (m->type != R_FLUSHED)
		return;
	if (m->epoch != x->epoch)
		race_fail("round %u: writer %u: flush at epoch %llu, opened at %llu", round,
			  m->proc, (unsigned long long)m->epoch, (unsigned long long)x->epoch);
	uint64_t prev = x->nsucc ? x->max_succ_seq : x->open_seq;
	if (m->seq <= prev)
		race_fail("round %u: writer %u: manifest %llu after %llu", round, m->proc,
			  (unsigned long long)m->seq, (unsigned long long)prev);
	x->last_ok = (int64_t)m->n;
	x->nsucc++;
	x->max_succ_seq = m->seq;
	rc->tot->flush_ok++;
	race_note_seq(rc, m);
}

static void race_summarize(const struct race *rc)
{
	size_t sl = (size_t)snprintf(race_summary, sizeof race_summary, "round %u:", rc->round);
	for (unsigned p = 0; p < rc->np && sl < sizeof race_summary; p++) {
		const struct racer *x = &rc->rs[p];
		if (x->open_failed)
			sl += (size_t)snprintf(race_summary + sl, sizeof race_summary - sl,
					       " [writer %u: open failed: %d]", p, x->open_rc);
		else
			sl += (size_t)snprintf(race_summary + sl, sizeof race_summary - sl,
					       " [writer %u: opened at manifest %llu, epoch %llu; "
					       "%llu flushes ok, up to #%lld, the last at manifest "
					       "%llu%s]", p, (unsigned long long)x->open_seq,
					       (unsigned long long)x->epoch,
					       (unsigned long long)x->nsucc, (long long)x->last_ok,
					       (unsigned long long)x->max_succ_seq,
					       x->failed ? "; then fenced" : "");
	}
}

/* One chain: no manifest written twice, epochs never going down. */
static void race_check_chain(struct race *rc)
{
	struct seen_seq *sn = rc->seen;
	qsort(sn, rc->nseen, sizeof *sn, seen_cmp);
	for (size_t i = 1; i < rc->nseen; i++) {
		if (sn[i].seq == sn[i - 1].seq)
			race_fail("round %u: manifest %llu written by writer %u (epoch %llu, %s) "
				  "and by writer %u (epoch %llu, %s)", rc->round,
				  (unsigned long long)sn[i].seq, sn[i - 1].proc,
				  (unsigned long long)sn[i - 1].epoch,
				  race_msg_name(sn[i - 1].open ? R_OPENED : R_FLUSHED), sn[i].proc,
				  (unsigned long long)sn[i].epoch,
				  race_msg_name(sn[i].open ? R_OPENED : R_FLUSHED));
		if (sn[i].epoch < sn[i - 1].epoch)
			race_fail("round %u: manifest %llu (writer %u) has epoch %llu, older than "
				  "manifest %llu's (writer %u, epoch %llu)", rc->round,
				  (unsigned long long)sn[i].seq, sn[i].proc,
				  (unsigned long long)sn[i].epoch,
				  (unsigned long long)sn[i - 1].seq, sn[i - 1].proc,
				  (unsigned long long)sn[i - 1].epoch);
	}
}

/* A writer's commits all precede the takeover by any newer writer, and
 * the newest writer, whom nobody took over from, is never fenced. */
static void race_check_writers(struct race *rc)
{
	const struct racer *rs = rc->rs;
	unsigned newest = MAX_PROCS;
	for (unsigned p = 0; p < rc->np; p++) {
		rc->tot->procs++;
		if (rs[p].open_failed) {
			if (rs[p].open_rc != -EBUSY)
				race_fail("round %u: writer %u: lsm_open: %d", rc->round, p,
					  rs[p].open_rc);
			rc->tot->open_failed++;
			continue;
		}
		assert_true(rs[p].opened);
		rc->tot->fenced_procs += rs[p].failed;
		if (newest == MAX_PROCS || rs[p].epoch > rs[newest].epoch)
			newest = p;
		for (unsigned q = 0; q < rc->np; q++) {
			if (!rs[q].opened || rs[q].epoch <= rs[p].epoch || !rs[p].nsucc ||
			    rs[p].max_succ_seq < rs[q].open_seq)
				continue;
			race_fail("round %u: writer %u (epoch %llu) committed manifest %llu after "
				  "writer %u (epoch %llu) took over at %llu", rc->round, p,
				  (unsigned long long)rs[p].epoch,
				  (unsigned long long)rs[p].max_succ_seq, q,
				  (unsigned long long)rs[q].epoch,
				  (unsigned long long)rs[q].open_seq);
		}
	}
	assert_true(newest < MAX_PROCS);
	if (rs[newest].failed)
		race_fail("round %u: writer %u has the newest epoch %llu but was fenced",
			  rc->round, newest, (unsigned long long)rs[newest].epoch);
}

static void race_round(struct store_dir *sd, unsigned round, struct test_rng *r,
		       int64_t (*last_ok)[MAX_PROCS], unsigned *nprocs, struct race_totals *tot)
{
	struct race rc;
	int go[2], out[2];
	memset(&rc, 0, sizeof rc);
	rc.round = round;
	rc.np = 2 + (unsigned)test_rng_below(r, 2);
	rc.tot = tot;
	for (unsigned p = 0; p < rc.np; p++)
		rc.rs[p].last_ok = -1;
	assert_int_equal(pipe(go), 0);
	assert_int_equal(pipe(out), 0);
	race_spawn(&rc, sd->url, r, go, out);
	close(go[0]);
	close(out[1]);
	close(go[1]); /* go */

	struct rmsg m;
	ssize_t got;
	snprintf(race_summary, sizeof race_summary, "round %u: running", round);
	while ((got = read(out[0], &m, sizeof m)) == (ssize_t)sizeof m)
		race_observe(&rc, &m);
	assert_int_equal(got, 0);
	close(out[0]);
	race_summarize(&rc);
	for (unsigned p = 0; p < rc.np; p++) {
		int status;
		assert_int_equal(waitpid(rc.pids[p], &status, 0), rc.pids[p]);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			race_fail("round %u: writer %u exited with status %d", round, p, status);
	}
	race_check_chain(&rc);
	race_check_writers(&rc);
	free(rc.seen);
	for (unsigned p = 0; p < rc.np; p++)
		last_ok[round][p] = rc.rs[p].last_ok;
	nprocs[round] = rc.np;
	tot->rounds++;
}

/* Every flush that returned 0, in any round, by any writer, is in the
 * newest state; nothing else is. */
static void race_check_state(struct store_dir *sd, unsigned rounds,
			     int64_t (*last_ok)[MAX_PROCS], const unsigned *nprocs)
{
	struct lsm_options o;
	lsm *db;
	struct lsm_iter *it;
	writer_options(&o, sd->st, false);
	o.read_only = true;
	assert_int_equal(lsm_open(&o, &db), 0);
	assert_int_equal(lsm_iter_new(db, "r", 1, NULL, 0, &it), 0);
	for (unsigned rd = 0; rd < rounds; rd++)
		for (unsigned p = 0; p < nprocs[rd]; p++)
			for (int64_t n = 0; n <= last_ok[rd][p]; n++) {
				char k[64], v[400];
				size_t kl = 0, gl = 0;
				const uint8_t *key = NULL, *val = NULL;
				race_key(k, sizeof k, rd, p, (uint64_t)n);
				size_t vl = race_value(v, sizeof v, rd, p, (uint64_t)n);
				if (lsm_iter_valid(it)) {
					key = lsm_iter_key(it, &kl);
					val = lsm_iter_value(it, &gl);
				}
				if (!key || kl != strlen(k) || memcmp(key, k, kl) != 0)
					race_fail("%s, committed by a flush that returned 0, is "
						  "missing; the scan has '%.*s' there (status %d)",
						  k, (int)kl, key ? (const char *)key : "",
						  lsm_iter_status(it));
				if (gl != vl || memcmp(val, v, vl) != 0)
					race_fail("%s has a wrong value", k);
				lsm_iter_next(it);
			}
	if (lsm_iter_valid(it)) {
		size_t kl;
		const uint8_t *key = lsm_iter_key(it, &kl);
		race_fail("'%.*s' is in the store, but no flush that returned 0 covered it",
			  (int)kl, (const char *)key);
	}
	assert_int_equal(lsm_iter_status(it), 0);
	lsm_iter_free(it);
	lsm_close(db);
}

static void test_fence_racing_writers(void **state)
{
	uint64_t seed = test_seed("test-lsm-fence racing");
	struct test_rng r = { seed };
	unsigned rounds = (unsigned)test_env_long("LSM_FENCE_ROUNDS", 25);
	int64_t (*last_ok)[MAX_PROCS] = xcalloc(rounds, sizeof *last_ok);
	unsigned *nprocs = xcalloc(rounds, sizeof *nprocs);
	struct race_totals tot = { 0 };
	struct store_dir sd;
	store_dir_new(&sd, "lsm-fence-race");
	race_log = xasprintf("%s/writers.log", sd.dir);
	for (unsigned rd = 0; rd < rounds; rd++) {
		race_round(&sd, rd, &r, last_ok, nprocs, &tot);
		race_check_state(&sd, rd + 1, last_ok, nprocs);
	}
	printf("# %llu rounds, %llu writers (%llu fenced, %llu gave up opening): %llu flushes "
	       "returned 0, %llu returned -EROFS\n", (unsigned long long)tot.rounds,
	       (unsigned long long)tot.procs, (unsigned long long)tot.fenced_procs,
	       (unsigned long long)tot.open_failed, (unsigned long long)tot.flush_ok,
	       (unsigned long long)tot.flush_fenced);
	assert_true(tot.flush_ok > 0);
	free(race_log);
	race_log = NULL;
	store_dir_free(&sd);
	free(last_ok);
	free(nprocs);
}

int main(void)
{
	crypt_init();
	if (!getenv("BUCKETFS_LOG"))
		log_set_level(LOG_WARN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fence_sequential),
		cmocka_unit_test(test_fence_old_writer_compacting),
		cmocka_unit_test(test_fence_racing_writers),
		cmocka_unit_test(test_fenced_maintenance_is_erofs),
		cmocka_unit_test(test_mark_fenced),
		cmocka_unit_test(test_fence_after_manifests_pruned),
		cmocka_unit_test(test_fenced_writer_deletes_nothing_live),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
