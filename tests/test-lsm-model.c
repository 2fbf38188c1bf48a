/* test-lsm-model.c -- the LSM tree against an in-memory model, at random.
 *
 * A seeded random workload of batches (puts of 0..300-byte values, now and
 * then up to 64 KiB, and deletes), point gets, prefix scans from random
 * start keys, snapshot iterators, flushes, compactions, garbage collection
 * and close+reopen runs against a memory:// store with tiny options, so
 * that many SSTs, several levels and many compactions happen.  After every
 * step the tree must agree with the model, a sorted map kept as an array
 * over a fixed, sorted universe of keys:
 *
 *  - gets and scans see exactly the model (reads see every applied batch);
 *  - an iterator reads the snapshot taken when it was created, through
 *    later writes, flushes, compactions and garbage collection;
 *  - reopening after lsm_flush() loses nothing; reopening without it gives
 *    exactly the model as of the last flush (neither background flushes nor
 *    compactions make uncommitted writes durable);
 *  - a read-only replica on the same store, refreshed after each flush, sees
 *    exactly the flushed state.
 *
 * It runs once with background=false and once with the background thread
 * racing the workload.  A third test has reader threads take snapshots
 * while batches go in, and checks each snapshot holds whole batches only.
 * Knobs: TEST_SEED, LSM_MODEL_OPS (default 100000; 25000 under
 * AddressSanitizer), LSM_MODEL_KEYS (default 2000), LSM_MODEL_ATOMIC_BATCHES
 * (default 15000; 4000 under AddressSanitizer). */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdatomic.h>
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

#define VALUE_LARGE_MAX (64u << 10)

/* ---- values: immutable and shared between the model and its snapshots ---- */

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

static size_t value_size(struct test_rng *r)
{
	uint64_t p = test_rng_below(r, 1000);
	if (p < 900)
		return (size_t)test_rng_below(r, 301);
	if (p < 990)
		return 300 + (size_t)test_rng_below(r, 4096 - 300);
	return 4096 + (size_t)test_rng_below(r, VALUE_LARGE_MAX - 4096 + 1);
}

/* Half random (incompressible), half a repeated pattern; the first bytes
 * carry a serial so that successive values of a key differ. */
static struct val *val_new(struct test_rng *r, uint64_t serial)
{
	size_t n = value_size(r);
	struct val *v = xmalloc(sizeof *v + n);
	v->refs = 1;
	v->len = n;
	size_t half = n / 2;
	test_rng_fill(r, v->data, half);
	for (size_t i = half; i < n; i++)
		v->data[i] = (uint8_t)('a' + (serial + i / 7) % 26);
	if (n >= 8)
		memcpy(v->data, &serial, 8);
	return v;
}

/* ---- the key universe: fixed, sorted in the tree's order ---- */

struct key {
	uint8_t *p;
	size_t len;
};

/* memcmp order, a proper prefix first: the order lsm.h promises. */
static int key_cmp(const void *a, size_t alen, const void *b, size_t blen)
{
	size_t n = alen < blen ? alen : blen;
	int c = n ? memcmp(a, b, n) : 0;
	if (c)
		return c;
	return alen < blen ? -1 : alen > blen;
}

static int key_qsort_cmp(const void *a, const void *b)
{
	const struct key *x = a, *y = b;
	return key_cmp(x->p, x->len, y->p, y->len);
}

static bool has_prefix(const struct key *k, const void *prefix, size_t plen)
{
	return k->len >= plen && (plen == 0 || memcmp(k->p, prefix, plen) == 0);
}

struct universe {
	struct key *keys;
	size_t n;
	size_t *hot; /* indexes of the hot keys, scattered over the key space */
	size_t nhot;
};

static void be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

/* Keys shaped like bucketfs metadata (a type byte, big-endian numbers,
 * names), raw random bytes including 0x00 and 0xff, chains of keys that
 * are prefixes of each other, and a few long keys up to LSM_KEY_MAX. */
static struct key make_key(struct test_rng *r, size_t i)
{
	uint8_t tmp[LSM_KEY_MAX];
	size_t n = 0;
	switch (test_rng_below(r, 8)) {
	case 0: /* I ino */
		tmp[n++] = 'I';
		be64(tmp + n, test_rng_below(r, 400));
		n += 8;
		break;
	case 1:
	case 2: /* D parent name */
		tmp[n++] = 'D';
		be64(tmp + n, test_rng_below(r, 20));
		n += 8;
		for (size_t k = 1 + test_rng_below(r, 16); k; k--)
			tmp[n++] = (uint8_t)('a' + test_rng_below(r, 6));
		break;
	case 3: /* E ino extent */
		tmp[n++] = 'E';
		be64(tmp + n, test_rng_below(r, 30));
		n += 8;
		be64(tmp + n, test_rng_below(r, 50));
		n += 8;
		break;
	case 4: /* raw bytes, biased to the extremes */
		for (size_t k = 1 + test_rng_below(r, 12); k; k--) {
			uint64_t b = test_rng_below(r, 4);
			tmp[n++] = b == 0 ? 0x00 : b == 1 ? 0xff : (uint8_t)test_rng_next(r);
		}
		break;
	case 5: /* prefix chains: "x", "x\0", "x\0\0", "xa", ... */
		tmp[n++] = 'x';
		for (size_t k = test_rng_below(r, 5); k; k--)
			tmp[n++] = test_rng_below(r, 2) ? 0 : (uint8_t)('a' + test_rng_below(r, 2));
		break;
	case 6: /* short printable */
		for (size_t k = 1 + test_rng_below(r, 3); k; k--)
			tmp[n++] = (uint8_t)('0' + test_rng_below(r, 10));
		break;
	default: /* long, sharing a prefix; one in 8 of these near the maximum */
		memset(tmp, 'L', 64);
		n = test_rng_below(r, 8) ? 64 + test_rng_below(r, 300)
					   : LSM_KEY_MAX - test_rng_below(r, 16);
		for (size_t k = 64; k < n; k++)
			tmp[k] = (uint8_t)('a' + (i + k) % 3);
		be64(tmp + n - 8, i);
		break;
	}
	struct key k = { xmemdup(tmp, n), n };
	return k;
}

static void universe_init(struct universe *u, uint64_t seed, size_t want)
{
	struct test_rng r = { seed ^ 0x5eed0fc0ffeeull };
	u->keys = xcalloc(want, sizeof *u->keys);
	for (size_t i = 0; i < want; i++)
		u->keys[i] = make_key(&r, i);
	qsort(u->keys, want, sizeof *u->keys, key_qsort_cmp);
	size_t n = 0;
	for (size_t i = 0; i < want; i++) {
		if (n && key_cmp(u->keys[n - 1].p, u->keys[n - 1].len, u->keys[i].p,
				 u->keys[i].len) == 0) {
			free(u->keys[i].p);
			continue;
		}
		u->keys[n++] = u->keys[i];
	}
	u->n = n;
	u->nhot = n / 20 + 1;
	u->hot = xcalloc(u->nhot, sizeof *u->hot);
	for (size_t i = 0; i < u->nhot; i++)
		u->hot[i] = (size_t)test_rng_below(&r, n);
}

static void universe_free(struct universe *u)
{
	for (size_t i = 0; i < u->n; i++)
		free(u->keys[i].p);
	free(u->keys);
	free(u->hot);
}

/* Skewed: most operations hit a few hot keys, so overwrites and deletes
 * of existing keys are common. */
static size_t pick_key(const struct universe *u, struct test_rng *r)
{
	if (test_rng_below(r, 100) < 60)
		return u->hot[test_rng_below(r, u->nhot)];
	return (size_t)test_rng_below(r, u->n);
}

/* First index whose key is >= (p, n). */
static size_t lower_bound(const struct universe *u, const void *p, size_t n)
{
	size_t lo = 0, hi = u->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (key_cmp(u->keys[mid].p, u->keys[mid].len, p, n) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* ---- the model: one value (or NULL) per universe key ---- */

static struct val **model_copy(struct val *const *m, size_t n)
{
	struct val **c = xcalloc(n, sizeof *c);
	for (size_t i = 0; i < n; i++)
		c[i] = val_ref(m[i]);
	return c;
}

static void model_free(struct val **m, size_t n)
{
	if (!m)
		return;
	for (size_t i = 0; i < n; i++)
		val_unref(m[i]);
	free(m);
}

static void model_set(struct val **m, size_t i, struct val *v)
{
	val_unref(m[i]);
	m[i] = val_ref(v);
}

/* ---- the test state ---- */

struct counts {
	uint64_t batches, puts, deletes, gets, scans, scanned, snapshots, flushes, compacts,
		full_compacts, gcs, reopens, reopens_unflushed, refreshes, tree_compactions,
		tree_flushes, max_level;
};

struct ctx {
	uint64_t seed;
	struct test_rng rng;
	bool background;
	struct universe u;
	struct val **model;   /* every applied batch */
	struct val **durable; /* as of the last successful lsm_flush */
	uint64_t serial;
	uint64_t op;
	char url[96];
	objstore *st;
	struct lsm_options o, ro;
	lsm *db, *reader;
	struct counts n;
};

static void fail_at_op(struct ctx *c, const char *what, size_t key, const char *detail)
{
	char hex[41] = "";
	if (key < c->u.n)
		for (size_t i = 0; i < c->u.keys[key].len && i < 20; i++)
			snprintf(hex + 2 * i, 3, "%02x", c->u.keys[key].p[i]);
	fail_msg("%s run, op %llu: %s: key #%zu (%s%s, %zu bytes): %s (seed %llu)",
		 c->background ? "background" : "foreground", (unsigned long long)c->op, what,
		 key, hex, key < c->u.n && c->u.keys[key].len > 20 ? "..." : "",
		 key < c->u.n ? c->u.keys[key].len : 0, detail, (unsigned long long)c->seed);
}

static void check_value(struct ctx *c, const char *what, size_t key, const struct val *want,
			int r, const void *got, size_t glen)
{
	char d[160];
	if (!want) {
		if (r != -ENOENT) {
			snprintf(d, sizeof d, "want -ENOENT, got %d (%zu bytes)", r,
				 r == 0 ? glen : 0);
			fail_at_op(c, what, key, d);
		}
		return;
	}
	if (r != 0) {
		snprintf(d, sizeof d, "want a %zu-byte value, got %d", want->len, r);
		fail_at_op(c, what, key, d);
	}
	if (glen != want->len || (glen && memcmp(got, want->data, glen) != 0)) {
		snprintf(d, sizeof d, "wrong value: want %zu bytes, got %zu bytes", want->len,
			 glen);
		fail_at_op(c, what, key, d);
	}
}

static void check_get(struct ctx *c, lsm *db, struct val *const *m, size_t key, const char *what)
{
	struct buf v = BUF_INIT;
	int r = lsm_get(db, c->u.keys[key].p, c->u.keys[key].len, &v);
	check_value(c, what, key, m[key], r, v.data, v.len);
	buf_free(&v);
	c->n.gets++;
}

/* The iterator must yield exactly the model's present keys from index i0
 * on while they have the prefix; stop comparing after `limit` entries
 * (0 = all). */
static void check_iter(struct ctx *c, struct lsm_iter *it, struct val *const *m, size_t i0,
		       const uint8_t *prefix, size_t plen, size_t limit, const char *what)
{
	size_t i = i0, seen = 0;
	char d[160];
	for (;;) {
		while (i < c->u.n && has_prefix(&c->u.keys[i], prefix, plen) && !m[i])
			i++;
		bool more = i < c->u.n && has_prefix(&c->u.keys[i], prefix, plen);
		if (limit && seen == limit)
			break;
		if (!lsm_iter_valid(it)) {
			if (lsm_iter_status(it) != 0) {
				snprintf(d, sizeof d, "iterator failed with %d after %zu entries",
					 lsm_iter_status(it), seen);
				fail_at_op(c, what, i, d);
			}
			if (more) {
				snprintf(d, sizeof d, "iterator ended after %zu entries; key "
					 "missing", seen);
				fail_at_op(c, what, i, d);
			}
			break;
		}
		size_t kl, vl;
		const uint8_t *k = lsm_iter_key(it, &kl);
		const uint8_t *v = lsm_iter_value(it, &vl);
		if (!more || key_cmp(k, kl, c->u.keys[i].p, c->u.keys[i].len) != 0) {
			size_t at = lower_bound(&c->u, k, kl);
			snprintf(d, sizeof d, "iterator yields key #%zu (%zu bytes) at entry %zu, "
				 "model expects %s", at, kl, seen,
				 more ? "the key shown" : "the end");
			fail_at_op(c, what, more ? i : at, d);
		}
		check_value(c, what, i, m[i], 0, v, vl);
		seen++;
		i++;
		lsm_iter_next(it);
	}
	c->n.scanned += seen;
}

/* A scan from a random start key under a random prefix. */
static void check_scan(struct ctx *c, lsm *db, struct val *const *m, size_t limit,
		       const char *what)
{
	struct test_rng *r = &c->rng;
	const struct key *base = &c->u.keys[test_rng_below(r, c->u.n)];
	size_t plen = 0;
	if (test_rng_below(r, 4) != 0) /* 0..10 bytes of a key */
		plen = test_rng_below(r, base->len < 11 ? base->len + 1 : 11);
	const uint8_t *prefix = base->p;
	uint8_t start[64];
	size_t slen = 0;
	bool use_start = test_rng_below(r, 3) != 0;
	if (use_start) {
		size_t at = (size_t)test_rng_below(r, c->u.n);
		if (test_rng_below(r, 2)) { /* near the prefix: just before, at or inside it */
			size_t lo = lower_bound(&c->u, prefix, plen);
			at = lo + (size_t)test_rng_below(r, 4);
			at = at > 0 ? at - 1 : 0;
			if (at >= c->u.n)
				at = c->u.n - 1;
		}
		const struct key *s = &c->u.keys[at];
		slen = s->len < sizeof start ? s->len : sizeof start;
		memcpy(start, s->p, slen);
		switch (test_rng_below(r, 4)) {
		case 0: /* one past: append a byte */
			if (slen < sizeof start)
				start[slen++] = (uint8_t)test_rng_next(r);
			break;
		case 1: /* shorter */
			slen = slen > 1 ? slen - 1 - test_rng_below(r, slen - 1) : slen;
			break;
		case 2: /* a random key */
			slen = 1 + test_rng_below(r, 10);
			test_rng_fill(r, start, slen);
			break;
		default: /* exactly a universe key (maybe cut at 64 bytes) */
			break;
		}
	}
	size_t i0 = lower_bound(&c->u, prefix, plen);
	if (use_start && key_cmp(start, slen, prefix, plen) > 0)
		i0 = lower_bound(&c->u, start, slen);
	struct lsm_iter *it;
	int rc = lsm_iter_new(db, prefix, plen, use_start ? start : NULL, slen, &it);
	if (rc != 0) {
		char d[64];
		snprintf(d, sizeof d, "lsm_iter_new: %d", rc);
		fail_at_op(c, what, i0, d);
	}
	check_iter(c, it, m, i0, prefix, plen, limit, what);
	lsm_iter_free(it);
	c->n.scans++;
}

/* Everything: a full scan and a get of every key of the universe. */
static void check_all(struct ctx *c, lsm *db, struct val *const *m, const char *what)
{
	struct lsm_iter *it;
	assert_int_equal(lsm_iter_new(db, NULL, 0, NULL, 0, &it), 0);
	check_iter(c, it, m, 0, NULL, 0, 0, what);
	lsm_iter_free(it);
	for (size_t i = 0; i < c->u.n; i++)
		check_get(c, db, m, i, what);
}

static void note_stats(struct ctx *c)
{
	struct lsm_stats s;
	lsm_stats(c->db, &s);
	c->n.tree_compactions += s.compactions;
	c->n.tree_flushes += s.flushes;
	for (int l = LSM_LEVELS - 1; l > 0; l--)
		if (s.files[l]) {
			if ((uint64_t)l > c->n.max_level)
				c->n.max_level = (uint64_t)l;
			break;
		}
}

/* ---- operations ---- */

static void do_batch(struct ctx *c)
{
	struct test_rng *r = &c->rng;
	size_t nops = test_rng_below(r, 10) < 7 ? 1 : 2 + (size_t)test_rng_below(r, 9);
	struct lsm_batch *b = lsm_batch_new();
	size_t keys[12];
	struct val *vals[12];
	for (size_t i = 0; i < nops; i++) {
		keys[i] = pick_key(&c->u, r);
		const struct key *k = &c->u.keys[keys[i]];
		if (test_rng_below(r, 4) == 0) {
			vals[i] = NULL;
			lsm_batch_delete(b, k->p, k->len);
			c->n.deletes++;
		} else {
			vals[i] = val_new(r, ++c->serial);
			lsm_batch_put(b, k->p, k->len, vals[i]->data, vals[i]->len);
			c->n.puts++;
		}
	}
	assert_int_equal(lsm_batch_count(b), nops);
	uint64_t seq = 0, before = lsm_last_seq(c->db);
	int rc = lsm_write(c->db, b, &seq);
	if (rc != 0)
		fail_at_op(c, "lsm_write", keys[0], "failed");
	if (seq != before + nops) {
		char d[96];
		snprintf(d, sizeof d, "seq %llu after %llu + %zu ops", (unsigned long long)seq,
			 (unsigned long long)before, nops);
		fail_at_op(c, "lsm_write", keys[0], d);
	}
	for (size_t i = 0; i < nops; i++) {
		model_set(c->model, keys[i], vals[i]);
		val_unref(vals[i]);
	}
	/* Later operations on the same key win: the last one is visible. */
	check_get(c, c->db, c->model, keys[nops - 1], "get after write");
	lsm_batch_free(b);
	c->n.batches++;
}

/* An invalid batch is refused whole. */
static void do_bad_batch(struct ctx *c)
{
	struct lsm_batch *b = lsm_batch_new();
	size_t key = pick_key(&c->u, &c->rng);
	static uint8_t longkey[LSM_KEY_MAX + 1];
	lsm_batch_put(b, c->u.keys[key].p, c->u.keys[key].len, "zz", 2);
	if (test_rng_below(&c->rng, 2))
		lsm_batch_put(b, "", 0, "v", 1);
	else
		lsm_batch_delete(b, longkey, sizeof longkey);
	uint64_t before = lsm_last_seq(c->db);
	assert_int_equal(lsm_write(c->db, b, NULL), -EINVAL);
	assert_int_equal(lsm_last_seq(c->db), before);
	check_get(c, c->db, c->model, key, "get after refused batch");
	lsm_batch_free(b);
}

static void check_reader(struct ctx *c)
{
	bool changed;
	int rc = lsm_refresh(c->reader, &changed);
	if (rc != 0) {
		char d[64];
		snprintf(d, sizeof d, "lsm_refresh: %d", rc);
		fail_at_op(c, "replica", 0, d);
	}
	c->n.refreshes++;
	/* A whole comparison now and then, samples otherwise. */
	if (c->n.flushes % 8 == 0) {
		check_all(c, c->reader, c->durable, "replica after flush");
	} else {
		for (int i = 0; i < 20; i++)
			check_get(c, c->reader, c->durable, pick_key(&c->u, &c->rng),
				  "replica get after flush");
		check_scan(c, c->reader, c->durable, 50, "replica scan after flush");
	}
}

static void do_flush(struct ctx *c)
{
	int rc = lsm_flush(c->db);
	if (rc != 0) {
		char d[64];
		snprintf(d, sizeof d, "lsm_flush: %d", rc);
		fail_at_op(c, "flush", 0, d);
	}
	assert_int_equal(lsm_durable_seq(c->db), lsm_last_seq(c->db));
	model_free(c->durable, c->u.n);
	c->durable = model_copy(c->model, c->u.n);
	c->n.flushes++;
	check_reader(c);
}

static void do_compact(struct ctx *c, bool full)
{
	int rc = lsm_compact(c->db, full);
	if (rc != 0) {
		char d[64];
		snprintf(d, sizeof d, "lsm_compact(%s): %d", full ? "full" : "due", rc);
		fail_at_op(c, "compact", 0, d);
	}
	if (full) {
		c->n.full_compacts++;
		/* Nothing committed is left above the bottom level's L0. */
		struct lsm_stats s;
		lsm_stats(c->db, &s);
		if (!c->background && s.files[0] > 0 && s.durable_seq == s.last_seq &&
		    s.memtable_bytes == 0)
			fail_at_op(c, "full compaction", 0, "committed L0 files remain");
	} else {
		c->n.compacts++;
	}
	for (int i = 0; i < 10; i++)
		check_get(c, c->db, c->model, pick_key(&c->u, &c->rng), "get after compaction");
}

static void do_gc(struct ctx *c)
{
	assert_int_equal(lsm_collect_garbage(c->db), 0);
	c->n.gcs++;
}

static void open_writer(struct ctx *c)
{
	int rc = lsm_open(&c->o, &c->db);
	if (rc != 0) {
		char d[64];
		snprintf(d, sizeof d, "lsm_open: %d", rc);
		fail_at_op(c, "reopen", 0, d);
	}
}

/* Close and reopen, committed first or not. */
static void do_reopen(struct ctx *c, bool flush_first)
{
	if (flush_first)
		do_flush(c);
	note_stats(c);
	lsm_close(c->db);
	c->db = NULL;
	open_writer(c);
	c->n.reopens++;
	if (!flush_first) {
		/* What was not behind a flush is gone; the model goes back. */
		model_free(c->model, c->u.n);
		c->model = model_copy(c->durable, c->u.n);
		c->n.reopens_unflushed++;
	}
	check_all(c, c->db, c->model, flush_first ? "reopen after flush" : "reopen without flush");
	assert_int_equal(lsm_last_seq(c->db), lsm_durable_seq(c->db));
}

/* An iterator keeps reading its creation snapshot while batches, flushes,
 * compactions and garbage collection go on underneath it. */
static void do_snapshot_iter(struct ctx *c)
{
	struct test_rng *r = &c->rng;
	const struct key *base = &c->u.keys[test_rng_below(r, c->u.n)];
	size_t plen = test_rng_below(r, 3) ? 0 : (base->len < 2 ? base->len : 1);
	struct lsm_iter *it;
	assert_int_equal(lsm_iter_new(c->db, base->p, plen, NULL, 0, &it), 0);
	struct val **snap = model_copy(c->model, c->u.n);
	size_t n = 1 + test_rng_below(r, 40);
	for (size_t i = 0; i < n; i++) {
		uint64_t p = test_rng_below(r, 100);
		if (p < 90)
			do_batch(c);
		else if (p < 95)
			do_flush(c);
		else if (p < 97)
			do_compact(c, true);
		else
			do_gc(c);
	}
	check_iter(c, it, snap, lower_bound(&c->u, base->p, plen), base->p, plen, 0,
		   "snapshot iterator");
	lsm_iter_free(it);
	model_free(snap, c->u.n);
	c->n.snapshots++;
}

/* Invalid batches, and gets of keys that were never written. */
static void do_get_absent(struct ctx *c)
{
	uint8_t k[16];
	size_t n = 1 + test_rng_below(&c->rng, sizeof k);
	test_rng_fill(&c->rng, k, n);
	size_t at = lower_bound(&c->u, k, n);
	if (at < c->u.n && key_cmp(c->u.keys[at].p, c->u.keys[at].len, k, n) == 0)
		return; /* happens to be a universe key */
	struct buf v = BUF_INIT;
	int rc = lsm_get(c->db, k, n, &v);
	if (rc != -ENOENT)
		fail_at_op(c, "get of a key never written", at, "not -ENOENT");
	buf_free(&v);
}

static void pick_codec(struct ctx *c)
{
	static const struct codec codecs[] = {
		{ CODEC_ZSTD, 3 }, { CODEC_ZSTD, 1 }, { CODEC_LZ4, 0 }, { CODEC_NONE, 0 },
	};
	c->o.codec = codecs[test_rng_below(&c->rng, sizeof codecs / sizeof codecs[0])];
}

/* Sanitizers make everything several times slower: do less by default. */
static bool under_asan(void)
{
	return UNDER_ASAN || getenv("BUCKETFS_ASAN");
}

static long model_ops(void)
{
	long dflt = under_asan() ? 25000 : 100000;
	return test_env_long("LSM_MODEL_OPS", dflt);
}

static void run_model(bool background)
{
	static int runs;
	struct ctx *c = xcalloc(1, sizeof *c);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	c->background = background;
	c->seed = test_seed(background ? "model, background thread" : "model, foreground");
	c->rng.s = c->seed;
	universe_init(&c->u, c->seed, (size_t)test_env_long("LSM_MODEL_KEYS", 2000));
	c->model = xcalloc(c->u.n, sizeof *c->model);
	c->durable = xcalloc(c->u.n, sizeof *c->durable);

	snprintf(c->url, sizeof c->url, "memory://test-lsm-model-%d-%d", (int)getpid(), ++runs);
	assert_int_equal(objstore_open(c->url, &c->st), 0);
	lsm_options_default(&c->o);
	c->o.store = c->st;
	c->o.create = true;
	c->o.background = background;
	memset(c->o.key, 0x5a, sizeof c->o.key);
	c->o.memtable_bytes = 64u << 10;
	c->o.block_bytes = 512 + (size_t)test_rng_below(&c->rng, 4096 - 512 + 1);
	c->o.block_cache_bytes = (64u << 10) + (size_t)test_rng_below(&c->rng, 1u << 20);
	c->o.sst_target_bytes = 128u << 10;
	c->o.l0_trigger = 2;
	c->o.l1_target_bytes = 256u << 10;
	/* With the background thread collecting garbage on its own, a replica
	 * needs the grace period the design gives it; without it, garbage is
	 * collected only where the test says, so none is needed. */
	c->o.gc_grace_ms = background ? 3000 : 0;
	c->o.manifests_kept = 3;
	pick_codec(c);
	open_writer(c);
	c->ro = c->o;
	c->ro.read_only = true;
	c->ro.create = false;
	assert_int_equal(lsm_open(&c->ro, &c->reader), 0);
	printf("# %s: %zu keys, block_bytes %zu, block cache %zu bytes\n",
	       background ? "background" : "foreground", c->u.n, c->o.block_bytes,
	       c->o.block_cache_bytes);

	long ops = model_ops();
	uint64_t flush_skip = 0;
	for (c->op = 0; c->op < (uint64_t)ops; c->op++) {
		/* Phases: mostly frequent flushes; now and then rare ones, so
		 * that frozen memtables pile up, flushes happen to make room
		 * (also in the foreground) and compactions see uncommitted L0
		 * files, which no manifest may name. */
		if (c->op % 4000 == 0)
			flush_skip = test_rng_below(&c->rng, 10) < 3 ? 30 : 0;
		uint64_t p = test_rng_below(&c->rng, 100000);
		if (p >= 84500 && p < 85200 && flush_skip && test_rng_below(&c->rng, flush_skip))
			p = 99999; /* skip this flush: a get instead */
		if (p < 45000)
			do_batch(c);
		else if (p < 75000)
			check_get(c, c->db, c->model, pick_key(&c->u, &c->rng), "get");
		else if (p < 80000)
			do_get_absent(c);
		else if (p < 84000)
			check_scan(c, c->db, c->model,
				   test_rng_below(&c->rng, 4) ? 1 + test_rng_below(&c->rng, 64) : 0,
				   "scan");
		else if (p < 84400)
			do_snapshot_iter(c);
		else if (p < 84500)
			do_bad_batch(c);
		else if (p < 85200)
			do_flush(c);
		else if (p < 85250)
			do_compact(c, false);
		else if (p < 85270)
			do_compact(c, true);
		else if (p < 85350)
			do_gc(c);
		else if (p < 85380) {
			if (test_rng_below(&c->rng, 2))
				pick_codec(c);
			do_reopen(c, test_rng_below(&c->rng, 2));
		} else
			check_get(c, c->db, c->model, pick_key(&c->u, &c->rng), "get");
	}
	/* The end: everything, then a committed reopen, then an uncommitted one. */
	check_all(c, c->db, c->model, "final state");
	do_compact(c, true);
	do_gc(c);
	check_all(c, c->db, c->model, "final state after full compaction");
	do_reopen(c, true);
	do_batch(c);
	do_reopen(c, false);
	note_stats(c);

	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("# %s: %ld ops in %.1f s: %llu batches (%llu puts, %llu deletes), %llu gets, "
	       "%llu scans (%llu entries), %llu snapshot iterators, %llu flushes, %llu+%llu "
	       "compactions asked, %llu done, %llu memtable flushes, %llu gc, %llu reopens "
	       "(%llu unflushed), %llu replica refreshes, deepest level L%llu\n",
	       background ? "background" : "foreground", ops,
	       (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
	       (unsigned long long)c->n.batches, (unsigned long long)c->n.puts,
	       (unsigned long long)c->n.deletes, (unsigned long long)c->n.gets,
	       (unsigned long long)c->n.scans, (unsigned long long)c->n.scanned,
	       (unsigned long long)c->n.snapshots, (unsigned long long)c->n.flushes,
	       (unsigned long long)c->n.compacts, (unsigned long long)c->n.full_compacts,
	       (unsigned long long)c->n.tree_compactions, (unsigned long long)c->n.tree_flushes,
	       (unsigned long long)c->n.gcs, (unsigned long long)c->n.reopens,
	       (unsigned long long)c->n.reopens_unflushed, (unsigned long long)c->n.refreshes,
	       (unsigned long long)c->n.max_level);
	/* The workload must have exercised what it is meant to. */
	if (ops >= 20000) {
		assert_true(c->n.tree_compactions > 10);
		assert_true(c->n.max_level >= 2);
		assert_true(c->n.reopens_unflushed > 0);
	}

	lsm_close(c->reader);
	lsm_close(c->db);
	objstore_close(c->st);
	objstore_memory_reset(c->url);
	model_free(c->model, c->u.n);
	model_free(c->durable, c->u.n);
	universe_free(&c->u);
	free(c);
}

/* ---- batches are atomic to concurrent readers ---- */

#define PAIRS 8

struct atomic_ctx {
	lsm *db;
	atomic_bool stop;
	atomic_ulong snapshots;
	pthread_mutex_t mu;
	char failure[200]; /* the first violation a reader saw */
};

static void atomic_fail(struct atomic_ctx *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void atomic_fail(struct atomic_ctx *a, const char *fmt, ...)
{
	va_list ap;
	pthread_mutex_lock(&a->mu);
	if (!a->failure[0]) {
		va_start(ap, fmt);
		vsnprintf(a->failure, sizeof a->failure, fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&a->mu);
	atomic_store(&a->stop, true);
}

/* Every snapshot holds all PAIRS keys with one batch's value, never older
 * than the previous snapshot's. */
static void *atomic_reader(void *arg)
{
	struct atomic_ctx *a = arg;
	unsigned long last = 0;
	while (!atomic_load(&a->stop)) {
		struct lsm_iter *it;
		int r = lsm_iter_new(a->db, "pair/", 5, NULL, 0, &it);
		if (r != 0) {
			atomic_fail(a, "lsm_iter_new: %d", r);
			break;
		}
		unsigned long first = 0, n = 0;
		for (; lsm_iter_valid(it); lsm_iter_next(it), n++) {
			size_t vl;
			const uint8_t *v = lsm_iter_value(it, &vl);
			char tmp[32];
			int len = (int)(vl < 31 ? vl : 31);
			snprintf(tmp, sizeof tmp, "%.*s", len, (const char *)v);
			unsigned long x = strtoul(tmp, NULL, 10);
			if (n == 0)
				first = x;
			else if (x != first)
				atomic_fail(a, "a snapshot mixes batches %lu and %lu", first, x);
		}
		if (lsm_iter_status(it) != 0)
			atomic_fail(a, "iterator failed: %d", lsm_iter_status(it));
		lsm_iter_free(it);
		if (n != PAIRS)
			atomic_fail(a, "a snapshot of batch %lu has %lu keys", first, n);
		if (first < last)
			atomic_fail(a, "batch %lu seen after batch %lu", first, last);
		last = first;
		atomic_fetch_add(&a->snapshots, 1);
	}
	return NULL;
}

static void test_batches_atomic_to_concurrent_readers(void **state)
{
	char url[96];
	objstore *st;
	struct lsm_options o;
	struct atomic_ctx a;
	pthread_t readers[2];
	uint64_t seed = test_seed("atomic batches");
	struct test_rng r = { seed };
	memset(&a, 0, sizeof a);
	pthread_mutex_init(&a.mu, NULL);
	snprintf(url, sizeof url, "memory://test-lsm-model-atomic-%d", (int)getpid());
	assert_int_equal(objstore_open(url, &st), 0);
	lsm_options_default(&o);
	o.store = st;
	o.create = true;
	memset(o.key, 0x3c, sizeof o.key);
	o.memtable_bytes = 16u << 10;
	o.block_bytes = 1024;
	o.sst_target_bytes = 32u << 10;
	o.l0_trigger = 2;
	o.l1_target_bytes = 64u << 10;
	o.gc_grace_ms = 0;
	assert_int_equal(lsm_open(&o, &a.db), 0);
	struct lsm_batch *b = lsm_batch_new();
	long batches = test_env_long("LSM_MODEL_ATOMIC_BATCHES", under_asan() ? 4000 : 15000);
	for (long i = 1; i <= batches && !atomic_load(&a.stop); i++) {
		char k[32], v[300];
		int vl = snprintf(v, sizeof v, "%ld:", i);
		size_t fill = test_rng_below(&r, 200);
		memset(v + vl, 'p', fill);
		lsm_batch_clear(b);
		/* The pairs in a random order, with other keys in between. */
		unsigned start = (unsigned)test_rng_below(&r, PAIRS);
		for (unsigned j = 0; j < PAIRS; j++) {
			snprintf(k, sizeof k, "pair/%u", (start + j) % PAIRS);
			lsm_batch_put(b, k, strlen(k), v, (size_t)vl + fill);
			snprintf(k, sizeof k, "fill/%04u", (unsigned)test_rng_below(&r, 3000));
			if (test_rng_below(&r, 4))
				lsm_batch_put(b, k, strlen(k), v, (size_t)vl + fill);
			else
				lsm_batch_delete(b, k, strlen(k));
		}
		assert_int_equal(lsm_write(a.db, b, NULL), 0);
		for (int t = 0; i == 1 && t < 2; t++)
			assert_int_equal(pthread_create(&readers[t], NULL, atomic_reader, &a), 0);
		if (i % 97 == 0)
			assert_int_equal(lsm_flush(a.db), 0);
		if (i % 1500 == 0)
			assert_int_equal(lsm_compact(a.db, i % 3000 == 0), 0);
		if (i % 700 == 0)
			assert_int_equal(lsm_collect_garbage(a.db), 0);
	}
	atomic_store(&a.stop, true);
	for (int t = 0; t < 2; t++)
		pthread_join(readers[t], NULL);
	lsm_batch_free(b);
	struct lsm_stats s;
	lsm_stats(a.db, &s);
	printf("# %ld batches, %lu reader snapshots, %llu memtable flushes, %llu compactions\n",
	       batches, (unsigned long)atomic_load(&a.snapshots), (unsigned long long)s.flushes,
	       (unsigned long long)s.compactions);
	lsm_close(a.db);
	objstore_close(st);
	objstore_memory_reset(url);
	pthread_mutex_destroy(&a.mu);
	if (a.failure[0])
		fail_msg("%s (seed %llu)", a.failure, (unsigned long long)seed);
	assert_true(s.compactions > 0);
}

static void test_model_foreground(void **state)
{
	run_model(false);
}

static void test_model_background(void **state)
{
	run_model(true);
}

int main(void)
{
	crypt_init();
	if (!getenv("BUCKETFS_LOG"))
		log_set_level(LOG_WARN); /* reopen's "unreferenced SSTs" notes */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_model_foreground),
		cmocka_unit_test(test_model_background),
		cmocka_unit_test(test_batches_atomic_to_concurrent_readers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
