/* test-lsm-fault.c -- the LSM tree over a failing object store.
 *
 * The store is memory:// wrapped by the fault injector (objstore.h).  What
 * must hold whatever the store does (short of breaking its own contract):
 *
 *  - a failure surfaces as a negative errno (-EIO here), never as a crash,
 *    a wrong value, a key that is not there or a missing key that is: every
 *    get or scan that succeeds returns exactly what the model holds;
 *  - a write that failed applied nothing;
 *  - a flush that returned 0 is durable; one that failed may or may not be
 *    (the manifest may have landed and only its acknowledgement been lost),
 *    so the store's state is the model as of the last successful flush or
 *    as of one of the failed flushes after it -- nothing else;
 *  - a lost acknowledgement of its own manifest never makes a writer think
 *    it was fenced (commit.c reads the manifest back and finds its epoch);
 *  - once the store works again, lsm_flush() succeeds and a reopen gives
 *    exactly the model;
 *  - a flipped byte in an SST or a manifest is -EBADMSG or -EIO, never
 *    garbage and never a crash.
 *
 * Torn writes are not injected: they break the store's contract (a put is
 * atomic), which the LSM relies on for manifests.  Knobs: TEST_SEED,
 * LSM_FAULT_OPS (default 15000, 4000 under AddressSanitizer),
 * LSM_FAULT_POINTS (failure points tried, default: every call of the
 * sequence, at least 30). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
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

#define NKEYS 300

/* ---- the log: thousands of (correct) error lines while the store fails,
 * so each test's stderr goes to a temporary file, shown only on failure
 * (or always, with BUCKETFS_LOG set) ---- */

static char *quiet_path;   /* where stderr goes while the tests run */
static bool quiet_failed;

struct quiet {
	int saved;
	long start; /* where this test's lines begin in the file */
	bool done;
};

static int quiet_setup(void **state)
{
	struct quiet *q = xcalloc(1, sizeof *q);
	q->saved = -1;
	if (quiet_path) {
		fflush(stderr);
		int fd = open(quiet_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
		q->saved = fd >= 0 ? dup(2) : -1;
		if (q->saved >= 0) {
			q->start = lseek(fd, 0, SEEK_END);
			dup2(fd, 2);
		}
		if (fd >= 0)
			close(fd);
	}
	*state = q;
	return 0;
}

static int quiet_teardown(void **state)
{
	struct quiet *q = *state;
	if (q->saved >= 0) {
		fflush(stderr);
		dup2(q->saved, 2);
		close(q->saved);
		FILE *f = q->done ? NULL : fopen(quiet_path, "r");
		if (f) {
			/* The test failed: show the end of what was logged. */
			char line[400];
			long lines = 0, shown = 0;
			fseek(f, q->start, SEEK_SET);
			while (fgets(line, sizeof line, f))
				lines++;
			fseek(f, q->start, SEEK_SET);
			printf("# the last lines logged (of %ld, all in %s):\n", lines, quiet_path);
			while (fgets(line, sizeof line, f))
				if (++shown > lines - 40)
					printf("#   %s", line);
			fclose(f);
			fflush(stdout);
		}
	}
	quiet_failed |= !q->done;
	free(q);
	return 0;
}

#define QUIET_TEST(t) cmocka_unit_test_setup_teardown(t, quiet_setup, quiet_teardown)

static void quiet_done(void **state)
{
	((struct quiet *)*state)->done = true;
}

/* ---- the model: shared immutable values, cheap snapshots ---- */

struct val {
	unsigned refs;
	size_t len;
	uint8_t data[];
};

static struct val *val_ref(struct val *v)
{
	if (v)
		v->refs++;
	return v;
}

static void val_unref(struct val *v)
{
	if (v && --v->refs == 0)
		free(v);
}

static struct val *val_new(struct test_rng *r)
{
	size_t n = test_rng_below(r, 50) ? test_rng_below(r, 301) : 300 + test_rng_below(r, 6000);
	struct val *v = xmalloc(sizeof *v + n);
	v->refs = 1;
	v->len = n;
	test_rng_fill(r, v->data, n);
	return v;
}

/* memcmp for values, which may be empty (and then have a NULL pointer). */
static bool same(const void *a, const void *b, size_t n)
{
	return n == 0 || memcmp(a, b, n) == 0;
}

struct model {
	struct val *v[NKEYS];
};

static struct model *model_copy(const struct model *m)
{
	struct model *c = xcalloc(1, sizeof *c);
	for (int i = 0; i < NKEYS; i++)
		c->v[i] = val_ref(m->v[i]);
	return c;
}

static void model_free(struct model *m)
{
	if (!m)
		return;
	for (int i = 0; i < NKEYS; i++)
		val_unref(m->v[i]);
	free(m);
}

static void key_name(int i, char out[16])
{
	snprintf(out, 16, "f%04d", i);
}

/* ---- the test state ---- */

struct ctx {
	uint64_t seed;
	struct test_rng rng;
	char url[96];
	objstore *inner; /* not faulty: for inspection and corruption */
	objstore *st;    /* the fault wrapper the tree uses (owns its own inner handle) */
	struct objstore_fault_config faults;
	struct lsm_options o;
	lsm *db;
	struct model *model;   /* every applied batch */
	struct model *durable; /* as of the last flush that returned 0 */
	struct model **maybe;  /* failed flushes since: each may have landed */
	size_t nmaybe;
	uint64_t errors, flush_ok, flush_failed, reopens, landed_failed;
	uint64_t reader_races; /* check_store_state looked again (see there) */
	const char *phase;
	uint64_t op;
};

static void ctx_open_store(struct ctx *c, const char *tag)
{
	static int n;
	objstore *in2;
	snprintf(c->url, sizeof c->url, "memory://test-lsm-fault-%s-%d-%d", tag, (int)getpid(),
		 ++n);
	assert_int_equal(objstore_open(c->url, &c->inner), 0);
	assert_int_equal(objstore_open(c->url, &in2), 0);
	struct objstore_fault_config none = { 0 };
	assert_int_equal(objstore_fault_wrap(in2, &none, &c->st), 0);
	lsm_options_default(&c->o);
	c->o.store = c->st;
	c->o.create = true;
	c->o.background = false;
	memset(c->o.key, 0x77, sizeof c->o.key);
	c->o.memtable_bytes = 4u << 10;
	c->o.block_bytes = 512;
	c->o.block_cache_bytes = 32u << 10;
	c->o.sst_target_bytes = 16u << 10;
	c->o.l0_trigger = 2;
	c->o.l1_target_bytes = 32u << 10;
	c->o.gc_grace_ms = 0;
	c->o.manifests_kept = 3;
	c->model = xcalloc(1, sizeof *c->model);
	c->durable = xcalloc(1, sizeof *c->durable);
}

static void ctx_close(struct ctx *c)
{
	lsm_close(c->db);
	c->db = NULL;
	objstore_close(c->st);
	objstore_close(c->inner);
	objstore_memory_reset(c->url);
	model_free(c->model);
	model_free(c->durable);
	for (size_t i = 0; i < c->nmaybe; i++)
		model_free(c->maybe[i]);
	free(c->maybe);
}

static void faults_on(struct ctx *c)
{
	objstore_fault_set(c->st, &c->faults);
}

static void faults_off(struct ctx *c)
{
	struct objstore_fault_config none = { 0 };
	objstore_fault_set(c->st, &none);
}

static void bad(struct ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bad(struct ctx *c, const char *fmt, ...)
{
	char msg[300];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	fail_msg("%s, op %llu: %s (seed %llu)", c->phase, (unsigned long long)c->op, msg,
		 (unsigned long long)c->seed);
}

/* An error the store's failures may cause. */
static void expect_store_error(struct ctx *c, const char *what, int r)
{
	if (r != -EIO)
		bad(c, "%s returned %d, want 0 or -EIO", what, r);
	c->errors++;
}

/* A successful get must agree with the model; an error must be -EIO. */
static void check_get(struct ctx *c, lsm *db, const struct model *m, int i, bool may_fail)
{
	char k[16];
	struct buf v = BUF_INIT;
	key_name(i, k);
	int r = lsm_get(db, k, strlen(k), &v);
	const struct val *want = m->v[i];
	if (r == 0) {
		if (!want)
			bad(c, "get %s returned a %zu-byte value for a key the model does not hold",
			    k, v.len);
		if (v.len != want->len || !same(v.data, want->data, v.len))
			bad(c, "get %s returned a wrong value (%zu bytes, want %zu)", k, v.len,
			    want->len);
	} else if (r == -ENOENT) {
		if (want)
			bad(c, "get %s returned -ENOENT; the model holds %zu bytes", k, want->len);
	} else if (may_fail) {
		expect_store_error(c, "lsm_get", r);
	} else {
		bad(c, "get %s failed with %d with the store working", k, r);
	}
	buf_free(&v);
}

/* Entries a scan returns must be the model's, in order, with nothing
 * skipped; the scan may end early only with an error status. */
static void check_scan(struct ctx *c, lsm *db, const struct model *m, int from, bool may_fail,
		       bool *complete)
{
	char start[16];
	struct lsm_iter *it;
	key_name(from, start);
	*complete = false;
	int r = lsm_iter_new(db, "f", 1, start, strlen(start), &it);
	if (r < 0) {
		if (!may_fail)
			bad(c, "lsm_iter_new failed with %d with the store working", r);
		expect_store_error(c, "lsm_iter_new", r);
		return;
	}
	int i = from;
	for (; lsm_iter_valid(it); lsm_iter_next(it)) {
		while (i < NKEYS && !m->v[i])
			i++;
		size_t kl, vl;
		const uint8_t *k = lsm_iter_key(it, &kl);
		const uint8_t *v = lsm_iter_value(it, &vl);
		char want[16];
		if (i >= NKEYS)
			bad(c, "scan from %s returned '%.*s' past the model's last key", start,
			    (int)kl, (const char *)k);
		key_name(i, want);
		if (kl != strlen(want) || memcmp(k, want, kl) != 0)
			bad(c, "scan from %s returned '%.*s' where the model has %s", start,
			    (int)kl, (const char *)k, want);
		if (vl != m->v[i]->len || !same(v, m->v[i]->data, vl))
			bad(c, "scan from %s: wrong value for %s", start, want);
		i++;
	}
	r = lsm_iter_status(it);
	lsm_iter_free(it);
	if (r < 0) {
		if (!may_fail)
			bad(c, "scan failed with %d with the store working", r);
		expect_store_error(c, "scan", r);
		return;
	}
	while (i < NKEYS && !m->v[i])
		i++;
	if (i < NKEYS)
		bad(c, "scan from %s ended without error before key f%04d", start, i);
	*complete = true;
}

/* Does the tree hold exactly m?  0 with *eq set, or the negative errno of
 * a read that failed (the caller decides whether that may happen). */
static int tree_compare(lsm *db, const struct model *m, bool *eq)
{
	struct lsm_iter *it;
	int r = lsm_iter_new(db, NULL, 0, NULL, 0, &it);
	if (r < 0)
		return r;
	int i = 0;
	*eq = true;
	for (; *eq && lsm_iter_valid(it); lsm_iter_next(it)) {
		while (i < NKEYS && !m->v[i])
			i++;
		size_t kl, vl;
		const uint8_t *k = lsm_iter_key(it, &kl);
		const uint8_t *v = lsm_iter_value(it, &vl);
		char want[16];
		if (i >= NKEYS) {
			*eq = false;
			break;
		}
		key_name(i, want);
		*eq = kl == strlen(want) && memcmp(k, want, kl) == 0 && vl == m->v[i]->len &&
		       same(v, m->v[i]->data, vl);
		i++;
	}
	r = lsm_iter_status(it);
	while (*eq && i < NKEYS && !m->v[i])
		i++;
	*eq = *eq && i == NKEYS && !lsm_iter_valid(it);
	lsm_iter_free(it);
	return r;
}

/* With the store working: does the tree hold exactly m? */
static bool tree_equals(struct ctx *c, lsm *db, const struct model *m)
{
	bool eq;
	int r = tree_compare(db, m, &eq);
	if (r < 0)
		bad(c, "full scan failed with %d with the store working", r);
	return eq;
}

/* Which of the possible durable states does the tree hold: 0 = the last
 * successful flush, k = the k-th failed flush after, SIZE_MAX = none.  0,
 * or the errno of a read that failed. */
static int find_durable(lsm *db, const struct ctx *c, size_t *which)
{
	bool eq;
	*which = SIZE_MAX;
	int r = tree_compare(db, c->durable, &eq);
	if (r == 0 && eq)
		*which = 0;
	for (size_t i = c->nmaybe; r == 0 && *which == SIZE_MAX && i > 0; i--) {
		r = tree_compare(db, c->maybe[i - 1], &eq);
		if (r == 0 && eq)
			*which = i;
	}
	return r;
}

/* Makes the state found (find_durable) the model's durable one. */
static void settle(struct ctx *c, size_t which, const char *what)
{
	if (which == SIZE_MAX)
		bad(c, "%s: the store holds neither the last flushed state nor that of any of "
		    "the %zu failed flushes after it", what, c->nmaybe);
	if (which > 0) {
		c->landed_failed++;
		model_free(c->durable);
		c->durable = model_copy(c->maybe[which - 1]);
	}
	for (size_t i = 0; i < c->nmaybe; i++)
		model_free(c->maybe[i]);
	c->nmaybe = 0;
}

static size_t settle_on_durable(struct ctx *c, lsm *db, const char *what)
{
	size_t which;
	int r = find_durable(db, c, &which);
	if (r < 0)
		bad(c, "%s: a full scan failed with %d with the store working", what, r);
	settle(c, which, what);
	return which;
}

static uint64_t newest_manifest(struct ctx *c);

/* What a new reader of store finds (find_durable), with the store working.
 *
 * With the background threads on, the writer commits and collects garbage
 * while the reader reads; with gc_grace_ms 0 (which makes GC run here at
 * all) it may delete the SSTs of the manifest the reader opened as soon as
 * a newer one lands.  That is what the grace period is for, not a fault:
 * look again.  A read that fails while the reader's manifest is still the
 * newest is one (the newest manifest names what is not in the store). */
static size_t reader_finds_durable(struct ctx *c, objstore *store, const char *what)
{
	struct lsm_options ro = c->o;
	ro.store = store;
	ro.read_only = true;
	for (int attempt = 1;; attempt++) {
		struct lsm_stats s = { 0 };
		size_t which = SIZE_MAX;
		lsm *reader;
		int r = lsm_open(&ro, &reader);
		if (r == 0) {
			lsm_stats(reader, &s);
			r = find_durable(reader, c, &which);
			lsm_close(reader);
		}
		if (r == 0)
			return which;
		uint64_t newest = newest_manifest(c);
		if (!c->o.background || newest == s.manifest_seq || attempt == 100)
			bad(c, "%s: a new reader of manifest %llu (0: its open failed; the newest "
			    "is %llu) failed with %d with the store working (attempt %d)", what,
			    (unsigned long long)s.manifest_seq, (unsigned long long)newest, r,
			    attempt);
		c->reader_races++;
	}
}

/* What a replica (or a crash) would see now, with the store working: the
 * last flushed state or that of a failed flush after it.  Nothing is
 * settled: a later manifest may still move between these (a commit after
 * a lost acknowledgement can name the older durable state again). */
static void check_store_state(struct ctx *c)
{
	if (reader_finds_durable(c, c->inner, "a replica now") == SIZE_MAX)
		bad(c, "the store holds neither the last flushed state nor that of any of the %zu "
		    "failed flushes after it", c->nmaybe);
}

static void note_flush(struct ctx *c, int r)
{
	if (r == 0) {
		c->flush_ok++;
		model_free(c->durable);
		c->durable = model_copy(c->model);
		for (size_t i = 0; i < c->nmaybe; i++)
			model_free(c->maybe[i]);
		c->nmaybe = 0;
		return;
	}
	expect_store_error(c, "lsm_flush", r);
	c->flush_failed++;
	c->maybe = xrealloc(c->maybe, (c->nmaybe + 1) * sizeof *c->maybe);
	c->maybe[c->nmaybe++] = model_copy(c->model);
}

/* One batch of 1..4 puts/deletes; applied to the model only if it was. */
static int do_batch(struct ctx *c, bool may_fail)
{
	struct lsm_batch *b = lsm_batch_new();
	int keys[4];
	struct val *vals[4];
	int n = 1 + (int)test_rng_below(&c->rng, 4);
	for (int i = 0; i < n; i++) {
		char k[16];
		keys[i] = test_rng_below(&c->rng, 2) ? (int)test_rng_below(&c->rng, 30)
						      : (int)test_rng_below(&c->rng, NKEYS);
		key_name(keys[i], k);
		vals[i] = test_rng_below(&c->rng, 5) ? val_new(&c->rng) : NULL;
		if (vals[i])
			lsm_batch_put(b, k, strlen(k), vals[i]->data, vals[i]->len);
		else
			lsm_batch_delete(b, k, strlen(k));
	}
	uint64_t before = lsm_last_seq(c->db);
	int r = lsm_write(c->db, b, NULL);
	lsm_batch_free(b);
	if (r == 0) {
		for (int i = 0; i < n; i++) {
			val_unref(c->model->v[keys[i]]);
			c->model->v[keys[i]] = vals[i];
		}
	} else {
		if (!may_fail)
			bad(c, "lsm_write failed with %d with the store working", r);
		expect_store_error(c, "lsm_write", r);
		if (lsm_last_seq(c->db) != before)
			bad(c, "a failed lsm_write moved the last seq");
		for (int i = 0; i < n; i++)
			val_unref(vals[i]);
	}
	check_get(c, c->db, c->model, keys[n - 1], may_fail);
	return r;
}

/* Open the writer, retrying while the store fails; a successful open
 * takes over from the newest manifest, which is one of the possible
 * durable states. */
static void reopen(struct ctx *c, bool with_faults)
{
	lsm_close(c->db);
	c->db = NULL;
	if (with_faults)
		faults_on(c);
	int r = -EIO;
	for (int attempt = 0; attempt < 50 && r != 0; attempt++) {
		r = lsm_open(&c->o, &c->db);
		if (r < 0)
			expect_store_error(c, "lsm_open", r);
	}
	faults_off(c);
	if (r != 0)
		assert_int_equal(lsm_open(&c->o, &c->db), 0);
	settle_on_durable(c, c->db, "reopen");
	model_free(c->model);
	c->model = model_copy(c->durable);
	c->reopens++;
	struct lsm_stats s;
	lsm_stats(c->db, &s);
	if (s.fenced)
		bad(c, "a freshly opened writer is fenced");
}

/* The store works again: the next flush succeeds, and a reopen gives
 * exactly the model. */
static void recover_and_check(struct ctx *c)
{
	faults_off(c);
	const char *what = "replica after the faults";
	settle(c, reader_finds_durable(c, c->st, what), what);
	struct lsm_stats s;
	lsm_stats(c->db, &s);
	if (s.fenced)
		bad(c, "the writer considers itself fenced after store failures alone");
	int r = lsm_flush(c->db);
	if (r != 0)
		bad(c, "lsm_flush with the store working again: %d", r);
	note_flush(c, r);
	if (!tree_equals(c, c->db, c->model))
		bad(c, "after the faults, the writer's tree differs from the model");
	lsm_close(c->db);
	c->db = NULL;
	assert_int_equal(lsm_open(&c->o, &c->db), 0);
	if (!tree_equals(c, c->db, c->model))
		bad(c, "after the faults, the reopened tree differs from the model");
	for (int i = 0; i < NKEYS; i++)
		check_get(c, c->db, c->model, i, false);
}

/* ---- random faults under a random workload ---- */

static void random_workload(struct ctx *c, long ops, bool reopens)
{
	bool complete;
	faults_on(c);
	for (c->op = 0; c->op < (uint64_t)ops; c->op++) {
		uint64_t p = test_rng_below(&c->rng, 1000);
		if (p < 450)
			do_batch(c, true);
		else if (p < 750)
			check_get(c, c->db, c->model, (int)test_rng_below(&c->rng, NKEYS), true);
		else if (p < 800)
			check_scan(c, c->db, c->model, (int)test_rng_below(&c->rng, NKEYS), true,
				   &complete);
		else if (p < 900)
			note_flush(c, lsm_flush(c->db));
		else if (p < 930) {
			int r = lsm_compact(c->db, test_rng_below(&c->rng, 3) == 0);
			if (r < 0)
				expect_store_error(c, "lsm_compact", r);
		} else if (p < 950) {
			int r = lsm_collect_garbage(c->db);
			if (r < 0)
				expect_store_error(c, "lsm_collect_garbage", r);
		} else if (p < 953 && reopens) {
			reopen(c, true);
			faults_on(c);
		} else if (p < 960) {
			check_store_state(c);
		} else {
			check_get(c, c->db, c->model, (int)test_rng_below(&c->rng, 30), true);
		}
		struct lsm_stats s;
		lsm_stats(c->db, &s);
		if (s.fenced)
			bad(c, "the writer considers itself fenced after store failures alone");
	}
	recover_and_check(c);
}

static long fault_ops(void)
{
	return test_env_long("LSM_FAULT_OPS", UNDER_ASAN || getenv("BUCKETFS_ASAN") ? 4000 : 15000);
}

static void run_random(const char *phase, unsigned ops_mask, double error_rate, double lost_ack,
		       bool background)
{
	struct ctx c;
	memset(&c, 0, sizeof c);
	c.phase = phase;
	c.seed = test_seed(phase);
	c.rng.s = c.seed;
	ctx_open_store(&c, "random");
	c.o.background = background;
	if (background)
		c.o.memtable_bytes = 64u << 10; /* seldom stall behind a backed-off flush */
	assert_int_equal(lsm_open(&c.o, &c.db), 0);
	c.faults.ops = ops_mask;
	c.faults.error_rate = error_rate;
	c.faults.lost_ack_rate = lost_ack;
	c.faults.seed = c.seed;
	long ops = fault_ops();
	if (background)
		ops /= 4;
	random_workload(&c, ops, true);
	printf("# %s: %ld ops, %llu failures surfaced, %llu flushes ok, %llu failed (%llu of "
	       "those found durable later), %llu reopens, %llu reader races with GC\n", phase,
	       ops, (unsigned long long)c.errors, (unsigned long long)c.flush_ok,
	       (unsigned long long)c.flush_failed, (unsigned long long)c.landed_failed,
	       (unsigned long long)c.reopens, (unsigned long long)c.reader_races);
	assert_true(c.errors > 0);
	assert_true(c.flush_ok > 0);
	ctx_close(&c);
}

static void test_fault_random_errors(void **state)
{
	run_random("random errors on put/get/list", OBJSTORE_OP_PUT | OBJSTORE_OP_GET |
		   OBJSTORE_OP_LIST, 0.1, 0, false);
	quiet_done(state);
}

static void test_fault_random_errors_and_lost_acks(void **state)
{
	run_random("errors on every operation, lost acks on puts", OBJSTORE_OP_ALL, 0.08, 0.1,
		   false);
	quiet_done(state);
}

static void test_fault_random_background(void **state)
{
	run_random("errors with the background thread", OBJSTORE_OP_ALL, 0.05, 0.05, true);
	quiet_done(state);
}

/* ---- lost acknowledgements of the writer's own manifests ---- */

static void put_one(struct ctx *c, int key)
{
	char k[16];
	struct lsm_batch *b = lsm_batch_new();
	struct val *v = val_new(&c->rng);
	key_name(key, k);
	lsm_batch_put(b, k, strlen(k), v->data, v->len);
	assert_int_equal(lsm_write(c->db, b, NULL), 0);
	lsm_batch_free(b);
	val_unref(c->model->v[key]);
	c->model->v[key] = v;
}

static uint64_t newest_manifest(struct ctx *c)
{
	struct objstore_listing l;
	uint64_t seq = 0;
	assert_int_equal(objstore_list(c->inner, "manifest/", NULL, 0, &l), 0);
	assert_true(l.count > 0 && !l.truncated);
	seq = strtoull(l.entries[l.count - 1].key + strlen("manifest/"), NULL, 10);
	objstore_listing_free(&l);
	return seq;
}

/* A manifest-only write (a checkpoint) whose acknowledgement is lost: the
 * manifest is in the store, the writer was told -EIO.  Its next commit
 * meets its own manifest (EEXIST), must recognise it and carry on. */
static void test_fault_lost_ack_own_manifest(void **state)
{
	struct ctx c;
	struct lsm_stats s;
	memset(&c, 0, sizeof c);
	c.phase = "lost ack of a checkpoint manifest";
	c.seed = 1;
	c.rng.s = 1;
	ctx_open_store(&c, "lostack");
	c.o.manifests_kept = 1; /* so that there is always garbage to collect */
	assert_int_equal(lsm_open(&c.o, &c.db), 0);
	put_one(&c, 1);
	note_flush(&c, lsm_flush(c.db));
	uint64_t before = newest_manifest(&c);

	c.faults.ops = OBJSTORE_OP_PUT;
	c.faults.lost_ack_rate = 1.0;
	faults_on(&c);
	int r = lsm_checkpoint_create(c.db, "cp");
	if (r != -EIO && r != 0) /* 0 if it read its manifest back */
		bad(&c, "lsm_checkpoint_create with a lost acknowledgement returned %d", r);
	assert_true(objstore_fault_injected(c.st) >= 1);
	faults_off(&c);
	assert_int_equal(newest_manifest(&c), before + 1); /* it did land */

	/* Garbage collection, before the next commit, meets it too. */
	r = lsm_collect_garbage(c.db);
	if (r != 0)
		bad(&c, "lsm_collect_garbage after a lost acknowledgement returned %d", r);
	lsm_stats(c.db, &s);
	if (s.fenced)
		bad(&c, "fenced by its own manifest after a lost acknowledgement");

	put_one(&c, 2);
	r = lsm_flush(c.db);
	if (r != 0)
		bad(&c, "the commit after a lost acknowledgement returned %d", r);
	lsm_stats(c.db, &s);
	assert_false(s.fenced);
	assert_int_equal(s.manifest_seq, newest_manifest(&c));
	assert_true(s.manifest_seq >= before + 2);
	note_flush(&c, 0);
	recover_and_check(&c);
	ctx_close(&c);
	quiet_done(state);
}

/* The takeover manifest of lsm_open() landed but was not acknowledged:
 * open fails, and the next open takes over from it. */
static void test_fault_lost_ack_takeover(void **state)
{
	struct ctx c;
	memset(&c, 0, sizeof c);
	c.phase = "lost ack of a takeover manifest";
	c.seed = 2;
	c.rng.s = 2;
	ctx_open_store(&c, "lostack-open");
	assert_int_equal(lsm_open(&c.o, &c.db), 0);
	put_one(&c, 3);
	note_flush(&c, lsm_flush(c.db));
	lsm_close(c.db);
	c.db = NULL;
	uint64_t before = newest_manifest(&c);
	c.faults.ops = OBJSTORE_OP_PUT;
	c.faults.lost_ack_rate = 1.0;
	faults_on(&c);
	int r = lsm_open(&c.o, &c.db);
	faults_off(&c);
	struct lsm_stats s;
	if (r == 0) {
		/* It found its own manifest in the store: fine too. */
		lsm_stats(c.db, &s);
		assert_false(s.fenced);
		assert_int_equal(s.manifest_seq, newest_manifest(&c));
	} else {
		if (r != -EIO)
			bad(&c, "lsm_open with a lost acknowledgement returned %d", r);
		assert_null(c.db);
		assert_int_equal(newest_manifest(&c), before + 1);
		assert_int_equal(lsm_open(&c.o, &c.db), 0);
		lsm_stats(c.db, &s);
		assert_int_equal(s.manifest_seq, before + 2);
	}
	put_one(&c, 4);
	note_flush(&c, lsm_flush(c.db));
	recover_and_check(&c);
	ctx_close(&c);
	quiet_done(state);
}

/* Every put acknowledged or not at random, for many commits: never
 * fenced, every commit 0 or -EIO, and the end state exact. */
static void test_fault_lost_acks_random(void **state)
{
	struct ctx c;
	memset(&c, 0, sizeof c);
	c.phase = "random lost acks on puts";
	c.seed = test_seed(c.phase);
	c.rng.s = c.seed;
	ctx_open_store(&c, "lostack-random");
	assert_int_equal(lsm_open(&c.o, &c.db), 0);
	c.faults.ops = OBJSTORE_OP_PUT;
	c.faults.lost_ack_rate = 0.3;
	c.faults.seed = c.seed;
	faults_on(&c);
	for (c.op = 0; c.op < 300; c.op++) {
		for (int i = 0; i < 3; i++)
			do_batch(&c, true);
		note_flush(&c, lsm_flush(c.db));
		check_store_state(&c);
		if (c.op % 10 == 0) {
			int r = lsm_compact(c.db, c.op % 20 == 0);
			if (r < 0)
				expect_store_error(&c, "lsm_compact", r);
		}
		struct lsm_stats s;
		lsm_stats(c.db, &s);
		if (s.fenced)
			bad(&c, "fenced by its own manifests");
	}
	printf("# %s: %llu flushes ok, %llu failed\n", c.phase, (unsigned long long)c.flush_ok,
	       (unsigned long long)c.flush_failed);
	assert_true(c.flush_failed > 0);
	recover_and_check(&c);
	ctx_close(&c);
	quiet_done(state);
}

/* ---- one failure at each call of a fixed sequence ---- */

struct point_totals {
	uint64_t points, injected, failed_flushes, landed;
};

/* A store with committed and uncommitted data, then, with `cfg` on: flush,
 * full compaction, collection, writes, flush, compaction, reads, close and
 * reopen.  Then the store works again and everything must be in order.
 * Returns the number of affected store calls the sequence made. */
static uint64_t fail_point_run(uint64_t seed, const struct objstore_fault_config *cfg,
			       struct point_totals *t)
{
	struct ctx c;
	bool complete;
	int r;
	memset(&c, 0, sizeof c);
	c.phase = cfg->fail_after ? "store down from call N" : "call N fails";
	c.seed = seed;
	c.rng.s = seed;
	ctx_open_store(&c, "point");
	assert_int_equal(lsm_open(&c.o, &c.db), 0);
	for (int i = 0; i < 40; i++)
		do_batch(&c, false);
	note_flush(&c, lsm_flush(c.db));
	for (int i = 0; i < 30; i++)
		do_batch(&c, false);

	c.faults = *cfg;
	faults_on(&c);
	c.op = 1;
	note_flush(&c, lsm_flush(c.db));
	c.op = 2;
	if ((r = lsm_compact(c.db, true)) < 0)
		expect_store_error(&c, "lsm_compact", r);
	c.op = 3;
	if ((r = lsm_collect_garbage(c.db)) < 0)
		expect_store_error(&c, "lsm_collect_garbage", r);
	c.op = 4;
	for (int i = 0; i < 8; i++)
		do_batch(&c, true);
	c.op = 5;
	note_flush(&c, lsm_flush(c.db));
	c.op = 6;
	if ((r = lsm_compact(c.db, false)) < 0)
		expect_store_error(&c, "lsm_compact", r);
	c.op = 7;
	for (int i = 0; i < 10; i++)
		check_get(&c, c.db, c.model, (int)test_rng_below(&c.rng, NKEYS), true);
	check_scan(&c, c.db, c.model, 0, true, &complete);
	c.op = 8;
	lsm_close(c.db);
	c.db = NULL;
	r = -EIO;
	for (int attempt = 0; attempt < 3 && r != 0; attempt++)
		if ((r = lsm_open(&c.o, &c.db)) < 0)
			expect_store_error(&c, "lsm_open", r);
	uint64_t calls = objstore_fault_calls(c.st);
	t->injected += objstore_fault_injected(c.st);
	faults_off(&c);
	if (r != 0)
		assert_int_equal(lsm_open(&c.o, &c.db), 0);
	c.op = 9;
	settle_on_durable(&c, c.db, "reopened after the failure");
	model_free(c.model);
	c.model = model_copy(c.durable);
	recover_and_check(&c);
	t->points++;
	t->failed_flushes += c.flush_failed;
	t->landed += c.landed_failed;
	ctx_close(&c);
	return calls;
}

static void run_fail_points(bool after)
{
	uint64_t seed = test_seed(after ? "store down from call N" : "call N fails");
	struct objstore_fault_config cfg = { 0 };
	struct point_totals t = { 0 };
	uint64_t calls = fail_point_run(seed, &cfg, &t);
	uint64_t n = (uint64_t)test_env_long("LSM_FAULT_POINTS", (long)(calls > 30 ? calls : 30));
	cfg.fail_after = after;
	/* The number of store calls varies a little from run to run (the
	 * background thread's timing): a point is owed a fault only in runs
	 * that reached call N. */
	uint64_t reached = 0;
	for (cfg.fail_at = 1; cfg.fail_at <= n; cfg.fail_at++)
		reached += fail_point_run(seed, &cfg, &t) >= cfg.fail_at;
	printf("# %s: the sequence makes %llu store calls; failed each of calls 1..%llu in turn: "
	       "%llu faults injected, %llu flushes failed, %llu of those were durable anyway\n",
	       after ? "store down from call N" : "call N fails", (unsigned long long)calls,
	       (unsigned long long)n, (unsigned long long)t.injected,
	       (unsigned long long)t.failed_flushes, (unsigned long long)t.landed);
	assert_true(reached >= (n < calls ? n : calls) * 9 / 10);
	assert_true(t.injected >= reached);
}

static void test_fault_each_call_fails(void **state)
{
	run_fail_points(false);
	quiet_done(state);
}

static void test_fault_store_down_from_each_call(void **state)
{
	run_fail_points(true);
	quiet_done(state);
}

/* ---- corruption ---- */

static bool is_corruption_error(int r)
{
	return r == -EBADMSG || r == -EIO;
}

/* A fresh replica (empty caches) over a store with one damaged object:
 * opening may fail, but only with -EBADMSG/-EIO; every get answers
 * correctly or fails that way; a full scan returns a correct prefix and
 * must then report the damage.  Returns how many reads failed. */
static unsigned read_damaged(struct ctx *c, const char *what, bool must_fail_scan)
{
	struct lsm_options ro = c->o;
	lsm *db;
	unsigned failed = 0;
	ro.store = c->inner;
	ro.read_only = true;
	int r = lsm_open(&ro, &db);
	if (r != 0) {
		if (!is_corruption_error(r))
			bad(c, "%s: lsm_open returned %d, want 0, -EBADMSG or -EIO", what, r);
		return 1;
	}
	for (int i = 0; i < NKEYS; i++) {
		char k[16];
		struct buf v = BUF_INIT;
		key_name(i, k);
		r = lsm_get(db, k, strlen(k), &v);
		const struct val *want = c->model->v[i];
		if (r == 0) {
			if (!want || v.len != want->len || !same(v.data, want->data, v.len))
				bad(c, "%s: get %s returned garbage", what, k);
		} else if (r == -ENOENT) {
			if (want)
				bad(c, "%s: get %s returned -ENOENT for a key that is there", what,
				    k);
		} else if (is_corruption_error(r)) {
			failed++;
		} else {
			bad(c, "%s: get %s returned %d", what, k, r);
		}
		buf_free(&v);
	}
	struct lsm_iter *it;
	r = lsm_iter_new(db, NULL, 0, NULL, 0, &it);
	if (r < 0) {
		if (!is_corruption_error(r))
			bad(c, "%s: lsm_iter_new returned %d", what, r);
		failed++;
	} else {
		int i = 0;
		for (; lsm_iter_valid(it); lsm_iter_next(it)) {
			while (i < NKEYS && !c->model->v[i])
				i++;
			size_t kl, vl;
			const uint8_t *k = lsm_iter_key(it, &kl);
			const uint8_t *v = lsm_iter_value(it, &vl);
			char want[16];
			key_name(i < NKEYS ? i : NKEYS - 1, want);
			if (i >= NKEYS || kl != strlen(want) || memcmp(k, want, kl) != 0 ||
			    vl != c->model->v[i]->len || !same(v, c->model->v[i]->data, vl))
				bad(c, "%s: the scan returned garbage at entry for '%.*s'", what,
				    (int)kl, (const char *)k);
			i++;
		}
		r = lsm_iter_status(it);
		lsm_iter_free(it);
		if (r != 0 && !is_corruption_error(r))
			bad(c, "%s: the scan ended with %d", what, r);
		if (r != 0)
			failed++;
		else if (must_fail_scan)
			bad(c, "%s: a full scan read the damaged object without noticing", what);
	}
	lsm_close(db);
	return failed;
}

static void get_object(struct ctx *c, const char *name, uint8_t **data, size_t *len)
{
	void *p;
	assert_int_equal(objstore_get(c->inner, name, 0, OBJSTORE_GET_TO_END, &p, len), 0);
	*data = p;
}

static void test_fault_corrupt_sst_and_manifest(void **state)
{
	struct ctx c;
	memset(&c, 0, sizeof c);
	c.phase = "corruption";
	c.seed = test_seed(c.phase);
	c.rng.s = c.seed;
	ctx_open_store(&c, "corrupt");
	c.o.memtable_bytes = 16u << 10;
	assert_int_equal(lsm_open(&c.o, &c.db), 0);
	/* A bottom level from a full compaction, and L0 files on top. */
	for (int i = 0; i < NKEYS; i += 1 + (int)test_rng_below(&c.rng, 2))
		put_one(&c, i);
	note_flush(&c, lsm_flush(c.db));
	assert_int_equal(lsm_compact(c.db, true), 0);
	for (int i = 0; i < 40; i++)
		put_one(&c, (int)test_rng_below(&c.rng, NKEYS));
	note_flush(&c, lsm_flush(c.db));
	assert_int_equal(read_damaged(&c, "undamaged store", false), 0);
	/* Only live SSTs left in the store: each one matters. */
	assert_int_equal(lsm_collect_garbage(c.db), 0);

	struct objstore_listing l;
	assert_int_equal(objstore_list(c.inner, "sst/", NULL, 0, &l), 0);
	assert_true(l.count >= 2);
	unsigned flips = 0, failed_reads = 0;
	for (size_t f = 0; f < l.count; f++) {
		const char *name = l.entries[f].key;
		uint8_t *orig;
		size_t len;
		get_object(&c, name, &orig, &len);
		assert_true(len > 80);
		size_t pos[] = { 0, 1, 30, len / 3, len / 2, len - 100, len - 64, len - 60,
				 len - 40, len - 20, len - 5, len - 1,
				 test_rng_below(&c.rng, len), test_rng_below(&c.rng, len),
				 test_rng_below(&c.rng, len), test_rng_below(&c.rng, len) };
		for (size_t k = 0; k < sizeof pos / sizeof pos[0]; k++) {
			char what[96];
			uint8_t *bad_copy = xmemdup(orig, len);
			bad_copy[pos[k]] ^= (uint8_t)(1 + test_rng_below(&c.rng, 255));
			assert_int_equal(objstore_put(c.inner, name, bad_copy, len), 0);
			snprintf(what, sizeof what, "%s with byte %zu of %zu flipped", name, pos[k],
				 len);
			failed_reads += read_damaged(&c, what, true);
			flips++;
			free(bad_copy);
		}
		/* Cut short, and empty. */
		assert_int_equal(objstore_put(c.inner, name, orig, len / 2), 0);
		read_damaged(&c, "an SST cut in half", true);
		assert_int_equal(objstore_put(c.inner, name, orig, 0), 0);
		read_damaged(&c, "an empty SST", true);
		assert_int_equal(objstore_put(c.inner, name, orig, len), 0);
		free(orig);
	}
	objstore_listing_free(&l);
	assert_int_equal(read_damaged(&c, "repaired store", false), 0);

	/* The newest manifest: opening fails, as reader and as writer, and
	 * the writer must not take over from an older manifest instead. */
	uint64_t seq = newest_manifest(&c);
	char name[64];
	snprintf(name, sizeof name, "manifest/%020llu", (unsigned long long)seq);
	uint8_t *orig;
	size_t len;
	get_object(&c, name, &orig, &len);
	size_t mpos[] = { 0, len / 2, len - 1, test_rng_below(&c.rng, len),
			  test_rng_below(&c.rng, len) };
	lsm_close(c.db);
	c.db = NULL;
	for (size_t k = 0; k <= sizeof mpos / sizeof mpos[0]; k++) {
		uint8_t *bad_copy = xmemdup(orig, len);
		size_t blen = len;
		if (k < sizeof mpos / sizeof mpos[0])
			bad_copy[mpos[k]] ^= (uint8_t)(1 + test_rng_below(&c.rng, 255));
		else
			blen = len / 2;
		assert_int_equal(objstore_put(c.inner, name, bad_copy, blen), 0);
		struct lsm_options ro = c.o;
		lsm *db = NULL;
		ro.read_only = true;
		int r = lsm_open(&ro, &db);
		if (!is_corruption_error(r))
			bad(&c, "opening a replica over a damaged newest manifest: %d", r);
		r = lsm_open(&c.o, &db);
		if (!is_corruption_error(r))
			bad(&c, "opening a writer over a damaged newest manifest: %d", r);
		if (newest_manifest(&c) != seq)
			bad(&c, "a writer took over past a damaged newest manifest");
		free(bad_copy);
		flips++;
	}
	assert_int_equal(objstore_put(c.inner, name, orig, len), 0);
	free(orig);
	assert_int_equal(lsm_open(&c.o, &c.db), 0);
	if (!tree_equals(&c, c.db, c.model))
		bad(&c, "the repaired store differs from the model");
	printf("# %u damaged objects tried, %u reads failed cleanly\n", flips, failed_reads);
	ctx_close(&c);
	quiet_done(state);
}

int main(void)
{
	crypt_init();
	if (!getenv("BUCKETFS_LOG")) {
		/* Thousands of (correct) error lines while the store fails: to
		 * a file, whose end is shown when a test fails.  A crash (or a
		 * sanitizer report) leaves it behind. */
		log_set_level(LOG_WARN);
		const char *tmp = getenv("TMPDIR");
		quiet_path = xasprintf("%s/bucketfs-test-lsm-fault-%d.log",
				       tmp && *tmp ? tmp : "/tmp", (int)getpid());
		printf("# stderr goes to %s (removed if every test passes)\n", quiet_path);
	}
	const struct CMUnitTest tests[] = {
		QUIET_TEST(test_fault_random_errors),
		QUIET_TEST(test_fault_random_errors_and_lost_acks),
		QUIET_TEST(test_fault_random_background),
		QUIET_TEST(test_fault_lost_ack_own_manifest),
		QUIET_TEST(test_fault_lost_ack_takeover),
		QUIET_TEST(test_fault_lost_acks_random),
		QUIET_TEST(test_fault_each_call_fails),
		QUIET_TEST(test_fault_store_down_from_each_call),
		QUIET_TEST(test_fault_corrupt_sst_and_manifest),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	if (quiet_path && !failed && !quiet_failed)
		unlink(quiet_path);
	free(quiet_path);
	return failed;
}
