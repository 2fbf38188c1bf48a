/* test-lsm-crash.c -- SIGKILL a writer at random moments; recovery must give
 * exactly a prefix of its batches, never less than it was told is durable.
 *
 * A forked child opens a file:// store as writer (background thread on,
 * tiny memtables, so background flushes and compactions run all the time)
 * and applies deterministic batches: batch i is derived from the seed and
 * i alone, sets key "ctr" to i and puts or deletes a few of ~1000 keys.  It
 * tells the parent through a pipe what it has done:
 *
 *   ACKED i        lsm_write() of batch i returned 0
 *   FLUSHING i     about to call lsm_flush(), batches 1..i written
 *   DURABLE i      that lsm_flush() returned 0
 *   COMPACTING / COMPACTED, COLLECTING / COLLECTED   around lsm_compact()
 *                  and lsm_collect_garbage() calls
 *
 * The parent kills it with SIGKILL after a random delay or after a random
 * number of acks, reads every message the child wrote before it died, then
 * opens the store as writer itself (which also fences anything left) and
 * checks, with k = the value of "ctr" (0 if absent):
 *
 *   last DURABLE <= k <= last ACKED.
 *       The lower bound is the promise of lsm_flush().  For the upper
 *       bound: batch i+1 can only become durable through a manifest whose
 *       durable seq covers it, and only lsm_commit() raises the durable seq
 *       (background flushes and compactions never do, lsm.h).  The child
 *       calls lsm_flush() only after it has reported the ack of the last
 *       batch it wrote, so any batch a manifest covers was reported as
 *       ACKED first.  (A batch being written when the kill landed is
 *       never durable: there was no flush after it.)
 *   k is a flush point: the value k0 the child started from, or an i the
 *       child reported FLUSHING for.  Durability only ever comes from a
 *       flush, and a flush covers everything written before it.  This also
 *       catches a state that is a prefix but not one any commit asked for.
 *   the FULL state (a scan of everything) equals batches 1..k replayed.
 *
 * The store is kept across iterations and each child continues from the
 * recovered k, so recovery runs over the leftovers of earlier crashes and
 * recoveries.  Knobs: TEST_SEED, LSM_CRASH_ITERS (default 200, 100 under
 * AddressSanitizer). */
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

#define NKEYS 1000
#define CTR NKEYS /* model slot of "ctr" */
#define MAX_OPS 8

enum msg_type {
	MSG_OPENED = 1,
	MSG_ACKED,
	MSG_FLUSHING,
	MSG_DURABLE,
	MSG_COMPACTING,
	MSG_COMPACTED,
	MSG_COLLECTING,
	MSG_COLLECTED,
	MSG_ERROR, /* i = the negative errno, as uint64 */
};

struct msg {
	uint32_t type;
	uint32_t what; /* MSG_ERROR: which call failed */
	uint64_t i;
};

/* ---- batches, derived from (seed, i) alone ---- */

struct op {
	unsigned key;   /* 0..NKEYS-1, or CTR */
	bool del;
	size_t vlen;
	char val[512];
};

struct batch {
	size_t n;
	struct op ops[MAX_OPS + 1];
};

static void key_name(unsigned key, char out[16])
{
	if (key == CTR)
		snprintf(out, 16, "ctr");
	else
		snprintf(out, 16, "k%04u", key);
}

static void batch_gen(uint64_t seed, uint64_t i, struct batch *b)
{
	struct test_rng r = { seed ^ (i * 0x9e3779b97f4a7c15ull) ^ 0xc4a5ull };
	b->n = 0;
	size_t n = 1 + test_rng_below(&r, MAX_OPS);
	for (size_t k = 0; k < n; k++) {
		struct op *op = &b->ops[b->n++];
		/* Skewed: half the operations go to the first 50 keys. */
		op->key = (unsigned)(test_rng_below(&r, 2) ? test_rng_below(&r, 50)
							    : test_rng_below(&r, NKEYS));
		op->del = test_rng_below(&r, 4) == 0;
		if (op->del)
			continue;
		int h = snprintf(op->val, sizeof op->val, "b%llu.%zu:",
				 (unsigned long long)i, k);
		size_t fill = test_rng_below(&r, 8) ? test_rng_below(&r, 64)
						    : test_rng_below(&r, sizeof op->val - 40);
		for (size_t j = 0; j < fill; j++)
			op->val[h + j] = (char)('a' + test_rng_below(&r, 26));
		op->vlen = (size_t)h + fill;
	}
	/* The counter goes in the middle or at the end: atomicity, not order. */
	struct op *c = &b->ops[b->n++];
	c->key = CTR;
	c->del = false;
	c->vlen = (size_t)snprintf(c->val, sizeof c->val, "%llu", (unsigned long long)i);
	if (b->n > 2 && test_rng_below(&r, 2)) {
		struct op t = b->ops[0];
		b->ops[0] = *c;
		*c = t;
	}
}

/* ---- the model: one value per key, NULL when absent ---- */

struct model {
	char *val[NKEYS + 1];
	size_t len[NKEYS + 1];
};

static void model_apply(struct model *m, const struct batch *b)
{
	for (size_t k = 0; k < b->n; k++) {
		const struct op *op = &b->ops[k];
		free(m->val[op->key]);
		m->val[op->key] = op->del ? NULL : xmemdup(op->val, op->vlen);
		m->len[op->key] = op->del ? 0 : op->vlen;
	}
}

static void model_clear(struct model *m)
{
	for (unsigned k = 0; k <= NKEYS; k++)
		free(m->val[k]);
	memset(m, 0, sizeof *m);
}

/* ---- the child: write until killed ---- */

struct child_cfg {
	const char *url;
	uint64_t seed;      /* batches */
	uint64_t behaviour; /* flush/compaction decisions and options */
	uint64_t start;     /* batches 1..start are in the store */
	uint8_t key[CRYPT_KEY_BYTES];
};

static void send_msg(int fd, uint32_t type, uint32_t what, uint64_t i)
{
	struct msg m = { type, what, i };
	if (write(fd, &m, sizeof m) != (ssize_t)sizeof m)
		_exit(3);
}

static void child_fail(int fd, uint32_t what, int r)
{
	send_msg(fd, MSG_ERROR, what, (uint64_t)(int64_t)r);
	_exit(2);
}

static void options_for(const struct child_cfg *cfg, objstore *st, struct lsm_options *o,
			struct test_rng *r)
{
	lsm_options_default(o);
	o->store = st;
	o->create = true;
	memcpy(o->key, cfg->key, sizeof o->key);
	o->memtable_bytes = (2u << 10) + test_rng_below(r, 16u << 10);
	o->block_bytes = 512 + test_rng_below(r, 1024);
	o->sst_target_bytes = 32u << 10;
	o->l0_trigger = 2 + (unsigned)test_rng_below(r, 3);
	o->l1_target_bytes = 64u << 10;
	o->gc_grace_ms = 0;
	o->manifests_kept = 2 + (unsigned)test_rng_below(r, 6);
}

static __attribute__((noreturn)) void child_main(const struct child_cfg *cfg, int fd)
{
	struct test_rng r = { cfg->behaviour };
	struct lsm_options o;
	objstore *st;
	lsm *db;
	int rc = objstore_open(cfg->url, &st);
	if (rc < 0)
		child_fail(fd, 1, rc);
	options_for(cfg, st, &o, &r);
	o.background = true;
	rc = lsm_open(&o, &db);
	if (rc < 0)
		child_fail(fd, 2, rc);
	send_msg(fd, MSG_OPENED, 0, cfg->start);
	/* How often this child flushes: some flush after nearly every batch,
	 * some rarely, so kills land in every phase. */
	unsigned flush_pct = 5 + (unsigned)test_rng_below(&r, 40);
	struct lsm_batch *lb = lsm_batch_new();
	struct batch b;
	for (uint64_t i = cfg->start + 1;; i++) {
		batch_gen(cfg->seed, i, &b);
		lsm_batch_clear(lb);
		for (size_t k = 0; k < b.n; k++) {
			char name[16];
			key_name(b.ops[k].key, name);
			if (b.ops[k].del)
				lsm_batch_delete(lb, name, strlen(name));
			else
				lsm_batch_put(lb, name, strlen(name), b.ops[k].val, b.ops[k].vlen);
		}
		rc = lsm_write(db, lb, NULL);
		if (rc < 0)
			child_fail(fd, 3, rc);
		send_msg(fd, MSG_ACKED, 0, i);
		uint64_t p = test_rng_below(&r, 1000);
		if (p < flush_pct * 10) {
			send_msg(fd, MSG_FLUSHING, 0, i);
			rc = lsm_flush(db);
			if (rc < 0)
				child_fail(fd, 4, rc);
			send_msg(fd, MSG_DURABLE, 0, i);
		} else if (p < flush_pct * 10 + 15) {
			bool full = test_rng_below(&r, 2);
			send_msg(fd, MSG_COMPACTING, full, i);
			rc = lsm_compact(db, full);
			if (rc < 0)
				child_fail(fd, 5, rc);
			send_msg(fd, MSG_COMPACTED, full, i);
		} else if (p < flush_pct * 10 + 25) {
			send_msg(fd, MSG_COLLECTING, 0, i);
			rc = lsm_collect_garbage(db);
			if (rc < 0)
				child_fail(fd, 6, rc);
			send_msg(fd, MSG_COLLECTED, 0, i);
		}
	}
}

/* ---- the parent ---- */

struct observed {
	bool opened, error;
	uint32_t err_what;
	int err;
	uint64_t acked, durable;
	uint64_t *flush_points; /* FLUSHING i, in order */
	size_t nflush;
	bool in_flush, in_compact, in_gc, compact_full;
	uint64_t nmsgs;
};

static void observe(struct observed *ob, const struct msg *m)
{
	ob->nmsgs++;
	switch (m->type) {
	case MSG_OPENED:
		ob->opened = true;
		break;
	case MSG_ACKED:
		ob->acked = m->i;
		break;
	case MSG_FLUSHING:
		ob->flush_points = xrealloc(ob->flush_points, (ob->nflush + 1) * sizeof(uint64_t));
		ob->flush_points[ob->nflush++] = m->i;
		ob->in_flush = true;
		break;
	case MSG_DURABLE:
		ob->durable = m->i;
		ob->in_flush = false;
		break;
	case MSG_COMPACTING:
		ob->in_compact = true;
		ob->compact_full = m->what;
		break;
	case MSG_COMPACTED:
		ob->in_compact = false;
		break;
	case MSG_COLLECTING:
		ob->in_gc = true;
		break;
	case MSG_COLLECTED:
		ob->in_gc = false;
		break;
	case MSG_ERROR:
		ob->error = true;
		ob->err_what = m->what;
		ob->err = (int)(int64_t)m->i;
		break;
	}
}

/* Read what is there; false on EOF. */
static bool drain(int fd, struct observed *ob, int timeout_ms)
{
	struct pollfd p = { fd, POLLIN, 0 };
	if (poll(&p, 1, timeout_ms) <= 0)
		return true;
	struct msg m[64];
	ssize_t n = read(fd, m, sizeof m);
	if (n <= 0)
		return false;
	assert_int_equal(n % (ssize_t)sizeof(struct msg), 0);
	for (ssize_t k = 0; k < n / (ssize_t)sizeof(struct msg); k++)
		observe(ob, &m[k]);
	return true;
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct totals {
	uint64_t iters, killed_before_open, mid_flush, mid_flush_landed, mid_compact,
		mid_full_compact, mid_gc, batches_acked, batches_lost, flushes;
};

struct run {
	uint64_t seed;
	char *dir, *url;
	uint8_t key[CRYPT_KEY_BYTES];
	struct model model; /* batches 1..k */
	uint64_t k;
	bool created;         /* a recovery has opened the store */
	char history[8][200]; /* the last iterations, printed on failure */
	struct totals t;
};

static void print_history(const struct run *rn, uint64_t iter)
{
	for (uint64_t j = iter > 7 ? iter - 7 : 0; j <= iter; j++)
		printf("#   %s\n", rn->history[j % 8]);
	fflush(stdout);
}

/* Recover as writer and compare the whole tree with the model at k. */
static uint64_t recover_and_check(struct run *rn, uint64_t iter, const struct observed *ob)
{
	objstore *st;
	struct lsm_options o;
	lsm *db;
	struct buf v = BUF_INIT;
	assert_int_equal(objstore_open(rn->url, &st), 0);
	lsm_options_default(&o);
	o.store = st;
	o.create = false;
	o.background = false;
	memcpy(o.key, rn->key, sizeof o.key);
	int rc = lsm_open(&o, &db);
	if (rc == -ENOENT && !ob->opened && !rn->created) {
		/* No child has yet finished the open that creates the store,
		 * and this one was killed inside it before the first manifest:
		 * there is no filesystem yet, and nothing was promised.  The
		 * next child creates it.  (Once a recovery opened it, -ENOENT
		 * would be a lost manifest: a failure.) */
		objstore_close(st);
		return 0;
	}
	if (rc != 0) {
		print_history(rn, iter);
		fail_msg("iteration %llu: recovery open failed: %d (seed %llu)",
			 (unsigned long long)iter, rc, (unsigned long long)rn->seed);
	}
	rn->created = true;
	uint64_t k = 0;
	rc = lsm_get(db, "ctr", 3, &v);
	if (rc == 0) {
		char tmp[32];
		snprintf(tmp, sizeof tmp, "%.*s", (int)v.len, (const char *)v.data);
		k = strtoull(tmp, NULL, 10);
	} else if (rc != -ENOENT) {
		print_history(rn, iter);
		fail_msg("iteration %llu: get ctr: %d", (unsigned long long)iter, rc);
	}
	buf_free(&v);

	bool flush_point = k == rn->k;
	for (size_t j = 0; j < ob->nflush && !flush_point; j++)
		flush_point = ob->flush_points[j] == k;
	snprintf(rn->history[iter % 8], sizeof rn->history[0],
		 "iteration %llu: started at %llu, acked %llu, durable %llu, %zu flushes begun, "
		 "%s%s%s%s-> recovered %llu", (unsigned long long)iter,
		 (unsigned long long)rn->k, (unsigned long long)ob->acked,
		 (unsigned long long)ob->durable, ob->nflush, ob->opened ? "" : "killed in open, ",
		 ob->in_flush ? "killed in flush, " : "",
		 ob->in_compact ? "killed in compaction, " : "",
		 ob->in_gc ? "killed in gc, " : "", (unsigned long long)k);
	uint64_t lo = ob->durable > rn->k ? ob->durable : rn->k;
	uint64_t hi = ob->acked > rn->k ? ob->acked : rn->k;
	if (k < lo || k > hi || !flush_point) {
		print_history(rn, iter);
		fail_msg("iteration %llu: recovered ctr %llu, want a flush point in [%llu, %llu] "
			 "(seed %llu)", (unsigned long long)iter, (unsigned long long)k,
			 (unsigned long long)lo, (unsigned long long)hi,
			 (unsigned long long)rn->seed);
	}

	/* Replay up to k, then compare everything. */
	struct batch b;
	for (uint64_t i = rn->k + 1; i <= k; i++) {
		batch_gen(rn->seed, i, &b);
		model_apply(&rn->model, &b);
	}
	struct lsm_iter *it;
	assert_int_equal(lsm_iter_new(db, NULL, 0, NULL, 0, &it), 0);
	unsigned next = 0; /* model slots in key order: ctr < k0000 < ... */
	unsigned order[NKEYS + 1];
	order[0] = CTR;
	for (unsigned j = 0; j < NKEYS; j++)
		order[j + 1] = j;
	for (;; lsm_iter_next(it)) {
		while (next <= NKEYS && !rn->model.val[order[next]])
			next++;
		if (!lsm_iter_valid(it))
			break;
		size_t kl, vl;
		const uint8_t *key = lsm_iter_key(it, &kl);
		const uint8_t *val = lsm_iter_value(it, &vl);
		char want[16];
		if (next <= NKEYS)
			key_name(order[next], want);
		if (next > NKEYS || kl != strlen(want) || memcmp(key, want, kl) != 0 ||
		    vl != rn->model.len[order[next]] ||
		    memcmp(val, rn->model.val[order[next]], vl) != 0) {
			print_history(rn, iter);
			fail_msg("iteration %llu: recovered state differs from batches 1..%llu at "
				 "key '%.*s' (model expects %s) (seed %llu)",
				 (unsigned long long)iter, (unsigned long long)k, (int)kl,
				 (const char *)key, next > NKEYS ? "the end" : want,
				 (unsigned long long)rn->seed);
		}
		next++;
	}
	if (lsm_iter_status(it) != 0 || next <= NKEYS) {
		print_history(rn, iter);
		fail_msg("iteration %llu: scan ended early (status %d) at model slot %u of "
			 "batches 1..%llu (seed %llu)", (unsigned long long)iter,
			 lsm_iter_status(it), next, (unsigned long long)k,
			 (unsigned long long)rn->seed);
	}
	lsm_iter_free(it);
	lsm_close(db);
	objstore_close(st);
	return k;
}

static void one_iteration(struct run *rn, uint64_t iter, struct test_rng *r)
{
	int fds[2];
	struct child_cfg cfg;
	struct observed ob;
	memset(&ob, 0, sizeof ob);
	cfg.url = rn->url;
	cfg.seed = rn->seed;
	cfg.behaviour = test_rng_next(r);
	cfg.start = rn->k;
	memcpy(cfg.key, rn->key, sizeof cfg.key);
	assert_int_equal(pipe(fds), 0);
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		child_main(&cfg, fds[1]);
	}
	close(fds[1]);

	/* When to kill: after a random delay, or after a random number of
	 * acks (then also a random number of further messages in, so kills
	 * land inside flushes, compactions and collections). */
	bool by_acks = test_rng_below(r, 2);
	uint64_t delay = test_rng_below(r, UNDER_ASAN ? 120 : 40);
	uint64_t acks = 1 + test_rng_below(r, 150);
	uint64_t t0 = now_ms();
	bool alive = true;
	while (alive) {
		if (by_acks ? ob.acked >= rn->k + acks : now_ms() - t0 >= delay)
			break;
		if (now_ms() - t0 > 20000)
			break; /* a stuck child: kill it, the checks still apply */
		alive = drain(fds[0], &ob, by_acks ? 50 : 1);
	}
	kill(pid, SIGKILL);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	while (drain(fds[0], &ob, 1000))
		;
	close(fds[0]);
	if (ob.error || (WIFEXITED(status) && WEXITSTATUS(status) != 0)) {
		print_history(rn, iter ? iter - 1 : 0);
		fail_msg("iteration %llu: the child writer failed: call #%u returned %d "
			 "(exit status %d) (seed %llu)", (unsigned long long)iter, ob.err_what,
			 ob.err, status, (unsigned long long)rn->seed);
	}

	uint64_t before = rn->k;
	uint64_t k = recover_and_check(rn, iter, &ob);
	rn->k = k;
	rn->t.iters++;
	rn->t.killed_before_open += !ob.opened;
	rn->t.mid_flush += ob.in_flush;
	rn->t.mid_flush_landed += ob.in_flush && k > ob.durable && k > before;
	rn->t.mid_compact += ob.in_compact;
	rn->t.mid_full_compact += ob.in_compact && ob.compact_full;
	rn->t.mid_gc += ob.in_gc;
	rn->t.batches_acked += ob.acked > before ? ob.acked - before : 0;
	rn->t.batches_lost += ob.acked > k ? ob.acked - k : 0;
	rn->t.flushes += ob.nflush;
	free(ob.flush_points);
}

static void test_crash_recovery(void **state)
{
	struct run rn;
	memset(&rn, 0, sizeof rn);
	rn.seed = test_seed("test-lsm-crash");
	struct test_rng r = { rn.seed };
	bool asan = UNDER_ASAN || getenv("BUCKETFS_ASAN");
	long iters = test_env_long("LSM_CRASH_ITERS", asan ? 100 : 200);
	rn.dir = test_tmpdir("lsm-crash");
	rn.url = xasprintf("file://%s/store", rn.dir);
	memset(rn.key, 0xc3, sizeof rn.key);
	uint64_t t0 = now_ms();
	for (long it = 0; it < iters; it++)
		one_iteration(&rn, (uint64_t)it, &r);
	printf("# %llu kills in %.1f s: %llu batches acked, %llu of them lost (not flushed), "
	       "final ctr %llu; kills landed: %llu before open finished, %llu in a flush (%llu "
	       "of those flushes became durable anyway), %llu in an explicit compaction "
	       "(%llu full), %llu in garbage collection; %llu flushes begun\n",
	       (unsigned long long)rn.t.iters, (double)(now_ms() - t0) / 1000.0,
	       (unsigned long long)rn.t.batches_acked, (unsigned long long)rn.t.batches_lost,
	       (unsigned long long)rn.k, (unsigned long long)rn.t.killed_before_open,
	       (unsigned long long)rn.t.mid_flush, (unsigned long long)rn.t.mid_flush_landed,
	       (unsigned long long)rn.t.mid_compact, (unsigned long long)rn.t.mid_full_compact,
	       (unsigned long long)rn.t.mid_gc, (unsigned long long)rn.t.flushes);
	/* The run must have made progress through crashes. */
	if (iters >= 50)
		assert_true(rn.k > 0);
	model_clear(&rn.model);
	test_rmtree(rn.dir);
	free(rn.url);
	free(rn.dir);
}

int main(void)
{
	crypt_init();
	if (!getenv("BUCKETFS_LOG"))
		log_set_level(LOG_WARN); /* recovery's "unreferenced SSTs" notes */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crash_recovery),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
