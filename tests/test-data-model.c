/* test-data-model.c -- the data plane against an in-memory model.
 *
 * Many inodes are modelled as byte arrays plus a size.  Random transactions
 * of one to four operations (data_write with aligned, unaligned and
 * extent-spanning ranges of 1 B..200 KiB holding random, compressible,
 * all-zero and mixed bytes; data_punch; data_truncate shrinking and
 * growing; data_delete_all), often several on the same inode, are applied
 * to both, and each commit carries a caller key "I"+ino holding the size,
 * which must always agree with the data (one atomic batch).  Interleaved:
 * reads of random ranges (holes, never-written ranges and ranges past the
 * end read as zeros), data_barrier, data_gc with gc_grace_ms = 0, and
 * close + reopen (data_close makes everything durable, so everything must
 * be there after it).  Segments are small (256 KiB) and the caches tiny, so
 * seals, uploads and reads from the store happen all the time.  Runs with
 * lz4 and with zstd:3.
 *
 * Structural checks after barriers and reopens:
 *  - an 'E' key exists exactly for the extents whose content is not all
 *    zeros (zero extents are holes, DESIGN.md), and after a barrier every
 *    segment an 'E' key points at is in the store.
 *
 * A second test runs readers against a writer that keeps rewriting a
 * region with uniform fills of a version byte.  A commit is one atomic
 * LSM batch and an extent is one frame, so a read of one extent-aligned
 * 32 KiB chunk must return exactly one version's bytes (all equal), and,
 * per reader and chunk, versions never go backwards.
 *
 * Also: edge cases (empty operations, offsets at the off_t limit, staged
 * changes invisible until commit, zero writes leave no key), and a read
 * replica following the writer through data_refresh.
 *
 * Knobs: TEST_SEED, DATA_MODEL_OPS (operations per codec, default 4000),
 * DATA_MODEL_ROUNDS (reader/writer rounds, default 3),
 * DATA_CHECK_COUNTERS=1 also compares the live-byte counters with the
 * extent keys after each barrier (see the report: off by default). */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "crypt/aead.h"
#include "data/data.h"
#include "data/segment.h"
#include "lsm/lsm.h"
#include "store/objstore.h"
#include "datafix.h"
#include "testutil.h"
#include "util/coding.h"
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

static bool slow_mode(void)
{
	return UNDER_ASAN || getenv("BUCKETFS_ASAN") != NULL;
}

#define EXT EXTENT_BYTES
#define NFILES 6
#define FILE_CAP (3u << 19)            /* 1.5 MiB of modelled offsets */
#define MODEL_BYTES (FILE_CAP + (256u << 10)) /* reads may run past the cap */
#define INO0 100
#define MAX_WRITE (200u << 10)

/* The shared fixture plus this test's sizes: small memtable, segments and
 * caches, so flushes, seals and store reads happen all the time. */
static void fs_setup(struct datafix *f, const char *codec)
{
	datafix_init(f, "test-data-model", NULL);
	f->lo.memtable_bytes = 256 << 10;  /* flushes and compactions happen */
	f->lo.block_cache_bytes = 256 << 10;
	assert_int_equal(codec_parse(codec, &f->dopt.codec), 0);
	f->dopt.gc_grace_ms = 0;
	f->dopt.segment_bytes = 256 << 10;
	f->dopt.cache_ram_bytes = 2 << 20;
	f->dopt.extent_cache_bytes = 256 << 10;
}

/* ---- the model ---- */

struct model {
	uint8_t *data[NFILES];
	uint64_t size[NFILES];
};

static void model_init(struct model *m)
{
	for (int i = 0; i < NFILES; i++) {
		m->data[i] = xcalloc(1, MODEL_BYTES);
		m->size[i] = 0;
	}
}

static void model_free(struct model *m)
{
	for (int i = 0; i < NFILES; i++)
		free(m->data[i]);
}

/* Content of a write: random, compressible, zeros, or a mix with runs of
 * zeros long enough to cover whole extents. */
static void gen_content(struct test_rng *r, uint8_t *p, size_t n)
{
	unsigned kind = (unsigned)test_rng_below(r, 7);
	switch (kind) {
	case 0:
		test_rng_fill(r, p, n);
		break;
	case 1: { /* a short repeated pattern */
		uint8_t pat[64];
		size_t pl = 1 + test_rng_below(r, sizeof pat);
		test_rng_fill(r, pat, pl);
		pat[0] |= 1;
		for (size_t i = 0; i < n; i++)
			p[i] = pat[i % pl];
		break;
	}
	case 2:
		memset(p, 0, n);
		break;
	case 3: { /* text from a small alphabet */
		for (size_t i = 0; i < n; i++)
			p[i] = (uint8_t)("etaoin shrdlu\n"[test_rng_below(r, 14)]);
		break;
	}
	case 4: /* sparse: mostly zeros, a few bytes set */
		memset(p, 0, n);
		for (size_t k = test_rng_below(r, 8); k; k--)
			p[test_rng_below(r, n)] = (uint8_t)(1 + test_rng_below(r, 255));
		break;
	default: { /* runs of random, zero and compressible bytes */
		size_t i = 0;
		while (i < n) {
			size_t run = 1 + test_rng_below(r, 80 << 10);
			if (run > n - i)
				run = n - i;
			unsigned k = (unsigned)test_rng_below(r, 3);
			if (k == 0)
				memset(p + i, 0, run);
			else if (k == 1)
				test_rng_fill(r, p + i, run);
			else
				memset(p + i, (int)(1 + test_rng_below(r, 255)), run);
			i += run;
		}
		break;
	}
	}
}

static uint64_t rand_off(struct test_rng *r, uint64_t limit)
{
	switch (test_rng_below(r, 4)) {
	case 0: /* extent aligned */
		return test_rng_below(r, limit / EXT) * EXT;
	case 1: /* near an extent boundary */
		{
			uint64_t b = (1 + test_rng_below(r, limit / EXT - 1)) * EXT;
			uint64_t d = test_rng_below(r, 64);
			return test_rng_below(r, 2) ? b - 1 - d : b + d;
		}
	default:
		return test_rng_below(r, limit);
	}
}

static size_t rand_len(struct test_rng *r)
{
	switch (test_rng_below(r, 5)) {
	case 0:
		return 1 + test_rng_below(r, 100);
	case 1:
		return 1 + test_rng_below(r, EXT);
	case 2:
		return EXT * (1 + test_rng_below(r, 6)); /* whole extents if aligned */
	default:
		return 1 + test_rng_below(r, MAX_WRITE);
	}
}

static void size_key(uint8_t key[9], uint64_t ino)
{
	key[0] = 'I';
	be64_put(key + 1, ino);
}

/* ---- checks ---- */

static void expect_range(struct datafix *f, const struct model *m, int fi, uint64_t off, size_t len,
			 const char *when)
{
	uint8_t *got = xmalloc(len);
	int r = data_read(f->d, INO0 + (uint64_t)fi, off, got, len);
	if (r != 0)
		fail_msg("%s: data_read(ino %d, %llu, %zu) = %d", when, INO0 + fi,
			 (unsigned long long)off, len, r);
	const uint8_t *want = m->data[fi] + off;
	if (memcmp(got, want, len) != 0) {
		size_t i = 0;
		while (got[i] == want[i])
			i++;
		fail_msg("%s: ino %d byte %llu: got %02x want %02x (read %llu+%zu, size %llu)", when,
			 INO0 + fi, (unsigned long long)(off + i), got[i], want[i],
			 (unsigned long long)off, len, (unsigned long long)m->size[fi]);
	}
	free(got);
}

static void check_all(struct datafix *f, const struct model *m, const char *when)
{
	for (int i = 0; i < NFILES; i++)
		expect_range(f, m, i, 0, MODEL_BYTES, when);
	/* The size written in the same batches agrees with the data. */
	for (int i = 0; i < NFILES; i++) {
		uint8_t key[9];
		struct buf v = BUF_INIT;
		size_key(key, INO0 + (uint64_t)i);
		int r = lsm_get(f->db, key, sizeof key, &v);
		uint64_t sz = r == 0 && v.len == 8 ? be64_get(v.data) : 0;
		if (r != 0 && r != -ENOENT)
			fail_msg("%s: lsm_get size of ino %d: %d", when, INO0 + i, r);
		if (sz != m->size[i])
			fail_msg("%s: size key of ino %d is %llu, model %llu", when, INO0 + i,
				 (unsigned long long)sz, (unsigned long long)m->size[i]);
		buf_free(&v);
	}
}

static bool extent_nonzero(const struct model *m, int fi, uint64_t ext)
{
	const uint8_t *p = m->data[fi] + ext * EXT;
	for (size_t i = 0; i < EXT; i++)
		if (p[i])
			return true;
	return false;
}

/* 'E' keys exist exactly for non-zero extents; with durable set, every
 * segment they point at is in the store.  Returns the sum of the frame
 * lengths (the live bytes). */
static uint64_t check_extent_keys(struct datafix *f, const struct model *m, bool durable,
				  const char *when)
{
	uint8_t prefix[1] = { 'E' };
	struct lsm_iter *it;
	uint64_t live = 0;
	bool seen[NFILES][MODEL_BYTES / EXT];
	memset(seen, 0, sizeof seen);
	char last[SEGMENT_NAME_MAX] = "";
	assert_int_equal(lsm_iter_new(f->db, prefix, 1, NULL, 0, &it), 0);
	for (; lsm_iter_valid(it); lsm_iter_next(it)) {
		size_t kl, vl;
		const uint8_t *k = lsm_iter_key(it, &kl);
		const uint8_t *v = lsm_iter_value(it, &vl);
		assert_int_equal(kl, 17);
		uint64_t ino = be64_get(k + 1), ext = be64_get(k + 9);
		if (ino < INO0 || ino >= INO0 + NFILES || ext >= MODEL_BYTES / EXT)
			fail_msg("%s: unexpected extent key ino %llu ext %llu", when,
				 (unsigned long long)ino, (unsigned long long)ext);
		int fi = (int)(ino - INO0);
		if (!extent_nonzero(m, fi, ext))
			fail_msg("%s: ino %llu extent %llu is all zeros but has a key (not a hole)",
				 when, (unsigned long long)ino, (unsigned long long)ext);
		seen[fi][ext] = true;
		struct frame_loc loc;
		assert_int_equal(frame_loc_decode(v, vl, &loc), 0);
		live += loc.len;
		if (durable) {
			char name[SEGMENT_NAME_MAX];
			struct objstore_info info;
			segment_name(loc.epoch, loc.counter, name);
			if (strcmp(name, last) != 0) {
				int r = objstore_head(f->st, name, &info);
				if (r != 0)
					fail_msg("%s: after a barrier, ino %llu ext %llu points at %s, "
						 "which is not in the store (%d)", when,
						 (unsigned long long)ino, (unsigned long long)ext, name, r);
				if (loc.off + loc.len > info.size)
					fail_msg("%s: frame past the end of %s", when, name);
				snprintf(last, sizeof last, "%s", name);
			}
		}
	}
	assert_int_equal(lsm_iter_status(it), 0);
	lsm_iter_free(it);
	for (int fi = 0; fi < NFILES; fi++)
		for (uint64_t e = 0; e < MODEL_BYTES / EXT; e++)
			if (!seen[fi][e] && extent_nonzero(m, fi, e))
				fail_msg("%s: ino %d extent %llu has data but no key", when, INO0 + fi,
					 (unsigned long long)e);
	return live;
}

static void check_counters(struct datafix *f, uint64_t live, const char *when)
{
	if (test_env_long("DATA_CHECK_COUNTERS", 0) == 0)
		return;
	struct data_stats s;
	data_stats(f->d, &s);
	if (s.live_bytes != live)
		fail_msg("%s: live-byte counters say %llu, the extent keys reference %llu", when,
			 (unsigned long long)s.live_bytes, (unsigned long long)live);
}

/* ---- one operation inside a transaction ---- */

static void op_in_txn(struct datafix *f, struct model *m, struct data_txn *t, struct lsm_batch *b,
		      struct test_rng *r, int fi, uint8_t *buf, unsigned *kinds)
{
	uint64_t ino = INO0 + (uint64_t)fi;
	unsigned what = (unsigned)test_rng_below(r, 100);
	if (what < 62) {
		uint64_t off = rand_off(r, FILE_CAP);
		size_t len = rand_len(r);
		if (off + len > FILE_CAP)
			len = FILE_CAP - off;
		if (!len)
			len = 1, off = FILE_CAP - 1;
		gen_content(r, buf, len);
		assert_int_equal(data_write(t, ino, off, buf, len), 0);
		memcpy(m->data[fi] + off, buf, len);
		if (off + len > m->size[fi])
			m->size[fi] = off + len;
		kinds[0]++;
	} else if (what < 77) {
		uint64_t from = rand_off(r, FILE_CAP);
		uint64_t to = from + rand_len(r) * (test_rng_below(r, 3) ? 1 : 4);
		if (to > FILE_CAP)
			to = FILE_CAP;
		assert_int_equal(data_punch(t, ino, from, to), 0);
		memset(m->data[fi] + from, 0, to - from);
		kinds[1]++;
	} else if (what < 95) {
		uint64_t old = m->size[fi], nsz;
		if (test_rng_below(r, 3) && old)
			nsz = test_rng_below(r, 2) ? test_rng_below(r, old) : old - test_rng_below(r, old < 70000 ? old : 70000);
		else
			nsz = old + test_rng_below(r, FILE_CAP - old + 1);
		assert_int_equal(data_truncate(t, ino, old, nsz), 0);
		if (nsz < old)
			memset(m->data[fi] + nsz, 0, old - nsz);
		m->size[fi] = nsz;
		kinds[2]++;
	} else {
		assert_int_equal(data_delete_all(t, ino, m->size[fi]), 0);
		memset(m->data[fi], 0, FILE_CAP);
		m->size[fi] = 0;
		kinds[3]++;
	}
	uint8_t key[9], val[8];
	size_key(key, ino);
	be64_put(val, m->size[fi]);
	lsm_batch_put(b, key, sizeof key, val, sizeof val);
}

static void run_model(const char *codec)
{
	char what[64];
	snprintf(what, sizeof what, "data model (%s)", codec);
	uint64_t seed = test_seed(what);
	struct test_rng r = { seed };
	long nops = test_env_long("DATA_MODEL_OPS", slow_mode() ? 800 : 4000);
	struct datafix f;
	struct model m;
	uint8_t *buf = xmalloc(MAX_WRITE);
	unsigned kinds[4] = { 0 }, commits = 0, reads = 0, barriers = 0, gcs = 0, reopens = 0;
	fs_setup(&f, codec);
	datafix_open(&f);
	model_init(&m);
	char when[96];
	for (long i = 1; i <= nops; i++) {
		snprintf(when, sizeof when, "op %ld (seed %llu)", i, (unsigned long long)seed);
		unsigned c = (unsigned)test_rng_below(&r, 1000);
		if (c < 560) {
			struct data_txn *t = data_txn_new(f.d);
			struct lsm_batch *b = lsm_batch_new();
			unsigned n = 1 + (unsigned)test_rng_below(&r, 4);
			int fi = (int)test_rng_below(&r, NFILES);
			for (unsigned k = 0; k < n; k++) {
				if (test_rng_below(&r, 10) >= 7)
					fi = (int)test_rng_below(&r, NFILES);
				op_in_txn(&f, &m, t, b, &r, fi, buf, kinds);
			}
			int rc = data_txn_commit(t, b, NULL);
			if (rc != 0)
				fail_msg("%s: commit = %d", when, rc);
			data_txn_free(t);
			lsm_batch_free(b);
			commits++;
		} else if (c < 860) {
			int fi = (int)test_rng_below(&r, NFILES);
			uint64_t off = test_rng_below(&r, 2) ? rand_off(&r, FILE_CAP) :
				       test_rng_below(&r, MODEL_BYTES - 1);
			size_t len = rand_len(&r) * (test_rng_below(&r, 4) ? 1 : 3);
			if (off + len > MODEL_BYTES)
				len = MODEL_BYTES - off;
			expect_range(&f, &m, fi, off, len, when);
			reads++;
		} else if (c < 930) {
			assert_int_equal(data_barrier(f.d, 0), 0);
			uint64_t live = check_extent_keys(&f, &m, true, when);
			check_counters(&f, live, when);
			barriers++;
		} else if (c < 965) {
			struct data_gc_report rep;
			assert_int_equal(data_gc(f.d, &rep), 0);
			gcs++;
		} else if (c < 980) {
			datafix_close(&f);
			datafix_open(&f);
			check_all(&f, &m, when);
			check_extent_keys(&f, &m, true, when);
			reopens++;
		} else {
			int fi = (int)test_rng_below(&r, NFILES);
			expect_range(&f, &m, fi, 0, MODEL_BYTES, when);
		}
	}
	snprintf(when, sizeof when, "end (seed %llu)", (unsigned long long)seed);
	check_all(&f, &m, when);
	struct data_gc_report rep;
	assert_int_equal(data_gc(f.d, &rep), 0);
	assert_int_equal(data_gc(f.d, &rep), 0);
	check_all(&f, &m, when);
	struct data_stats s;
	data_stats(f.d, &s);
	datafix_close(&f);
	datafix_open(&f);
	check_all(&f, &m, when);
	uint64_t live = check_extent_keys(&f, &m, true, when);
	check_counters(&f, live, when);
	printf("# %s: %u commits (%u writes, %u punches, %u truncates, %u deletes), %u reads, "
	       "%u barriers, %u gc, %u reopens; since the last reopen: %llu segments uploaded, "
	       "%llu gets\n", codec,
	       commits, kinds[0], kinds[1], kinds[2], kinds[3], reads, barriers, gcs, reopens,
	       (unsigned long long)s.segments_uploaded, (unsigned long long)s.gets);
	model_free(&m);
	free(buf);
	datafix_done(&f);
}

static void test_model_lz4(void **state)
{
	run_model("lz4");
}

static void test_model_zstd(void **state)
{
	run_model("zstd:3");
}

/* ---- readers against a rewriting writer ---- */

#define REGION_EXTENTS 8
#define VERSIONS 250

struct rw_shared {
	struct datafix *f;
	_Atomic uint64_t ino;       /* region being rewritten (0 = stop) */
	_Atomic bool stop;
	_Atomic uint64_t reads, chunks;
	pthread_mutex_t mu;
	char failure[256];          /* first failure seen by a reader */
	uint64_t seed;
};

struct reader_arg {
	struct rw_shared *sh;
	unsigned id;
};

static void rw_fail(struct rw_shared *sh, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void rw_fail(struct rw_shared *sh, const char *fmt, ...)
{
	pthread_mutex_lock(&sh->mu);
	if (!sh->failure[0]) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(sh->failure, sizeof sh->failure, fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&sh->mu);
	atomic_store(&sh->stop, true);
}

static void *reader_main(void *arg)
{
	struct reader_arg *ra = arg;
	struct rw_shared *sh = ra->sh;
	struct test_rng r = { sh->seed * 31 + ra->id };
	uint8_t *buf = xmalloc(REGION_EXTENTS * EXT);
	uint64_t cur = 0;
	unsigned last[REGION_EXTENTS] = { 0 };
	while (!atomic_load(&sh->stop)) {
		uint64_t ino = atomic_load(&sh->ino);
		if (ino != cur) {
			cur = ino;
			memset(last, 0, sizeof last);
		}
		/* A random range, possibly unaligned, within the region. */
		uint64_t off = test_rng_below(&r, REGION_EXTENTS * EXT);
		size_t len = 1 + test_rng_below(&r, REGION_EXTENTS * EXT - off);
		if (test_rng_below(&r, 2)) { /* whole extents */
			off = off / EXT * EXT;
			len = (len + EXT - 1) / EXT * EXT;
			if (off + len > REGION_EXTENTS * EXT)
				len = REGION_EXTENTS * EXT - off;
		}
		int rc = data_read(sh->f->d, ino, off, buf, len);
		if (rc != 0) {
			rw_fail(sh, "reader %u: data_read(ino %llu, %llu, %zu) = %d", ra->id,
				(unsigned long long)ino, (unsigned long long)off, len, rc);
			break;
		}
		atomic_fetch_add(&sh->reads, 1);
		/* Every extent-aligned piece holds one version. */
		uint64_t pos = off;
		while (pos < off + len) {
			uint64_t ext = pos / EXT;
			uint64_t end = (ext + 1) * EXT < off + len ? (ext + 1) * EXT : off + len;
			const uint8_t *p = buf + (pos - off);
			uint8_t v = p[0];
			for (uint64_t i = 1; i < end - pos; i++)
				if (p[i] != v) {
					rw_fail(sh, "reader %u: ino %llu extent %llu mixes versions %u and %u "
						"at byte %llu", ra->id, (unsigned long long)ino,
						(unsigned long long)ext, v, p[i],
						(unsigned long long)(pos + i));
					goto out;
				}
			if (v < last[ext]) {
				rw_fail(sh, "reader %u: ino %llu extent %llu went back from version %u to %u",
					ra->id, (unsigned long long)ino, (unsigned long long)ext,
					last[ext], v);
				goto out;
			}
			last[ext] = v;
			atomic_fetch_add(&sh->chunks, 1);
			pos = end;
		}
	}
out:
	free(buf);
	return NULL;
}

static void test_readers_see_whole_commits(void **state)
{
	struct rw_shared sh;
	struct datafix f;
	memset(&sh, 0, sizeof sh);
	pthread_mutex_init(&sh.mu, NULL);
	sh.seed = test_seed("data readers vs writer");
	struct test_rng r = { sh.seed };
	fs_setup(&f, "lz4");
	f.dopt.extent_cache_bytes = 16 << 10; /* nothing fits: every read decodes a frame */
	f.dopt.cache_ram_bytes = 1 << 20;
	f.dopt.flush_interval_ms = 20;        /* periodic barriers seal and upload */
	f.dopt.segment_bytes = 64 << 10;
	datafix_open(&f);
	sh.f = &f;
	long rounds = test_env_long("DATA_MODEL_ROUNDS", slow_mode() ? 2 : 3);
	uint8_t *buf = xmalloc(REGION_EXTENTS * EXT);
	/* The first region gets version 1 before the readers start. */
	atomic_store(&sh.ino, 1000);
	memset(buf, 1, REGION_EXTENTS * EXT);
	struct data_txn *t = data_txn_new(f.d);
	assert_int_equal(data_write(t, 1000, 0, buf, REGION_EXTENTS * EXT), 0);
	assert_int_equal(data_txn_commit(t, NULL, NULL), 0);
	data_txn_free(t);
	enum { NREADERS = 2 };
	pthread_t th[NREADERS];
	struct reader_arg ra[NREADERS];
	for (unsigned i = 0; i < NREADERS; i++) {
		ra[i].sh = &sh;
		ra[i].id = i;
		assert_int_equal(pthread_create(&th[i], NULL, reader_main, &ra[i]), 0);
	}
	uint64_t versions = 0;
	for (long round = 0; round < rounds && !atomic_load(&sh.stop); round++) {
		uint64_t ino = 1000 + (uint64_t)round;
		if (round > 0) {
			memset(buf, 1, REGION_EXTENTS * EXT);
			t = data_txn_new(f.d);
			assert_int_equal(data_write(t, ino, 0, buf, REGION_EXTENTS * EXT), 0);
			assert_int_equal(data_txn_commit(t, NULL, NULL), 0);
			data_txn_free(t);
			atomic_store(&sh.ino, ino);
		}
		for (unsigned v = 2; v <= VERSIONS && !atomic_load(&sh.stop); v++) {
			memset(buf, (int)v, REGION_EXTENTS * EXT);
			t = data_txn_new(f.d);
			/* Whole region in one commit, sometimes as several writes. */
			if (test_rng_below(&r, 3) == 0) {
				uint64_t cut = 1 + test_rng_below(&r, REGION_EXTENTS * EXT - 1);
				assert_int_equal(data_write(t, ino, cut, buf, REGION_EXTENTS * EXT - cut), 0);
				assert_int_equal(data_write(t, ino, 0, buf, cut), 0);
			} else {
				assert_int_equal(data_write(t, ino, 0, buf, REGION_EXTENTS * EXT), 0);
			}
			assert_int_equal(data_txn_commit(t, NULL, NULL), 0);
			data_txn_free(t);
			versions++;
			if (v % 32 == 0)
				assert_int_equal(data_barrier(f.d, 0), 0);
			if (v % 64 == 0) /* let the readers catch up now and then */
				usleep(1000);
		}
	}
	atomic_store(&sh.stop, true);
	for (unsigned i = 0; i < NREADERS; i++)
		pthread_join(th[i], NULL);
	printf("# %llu versions written, %llu reads, %llu chunks checked\n",
	       (unsigned long long)versions, (unsigned long long)atomic_load(&sh.reads),
	       (unsigned long long)atomic_load(&sh.chunks));
	if (sh.failure[0])
		fail_msg("%s (seed %llu)", sh.failure, (unsigned long long)sh.seed);
	assert_true(atomic_load(&sh.chunks) > 0);
	free(buf);
	pthread_mutex_destroy(&sh.mu);
	datafix_done(&f);
}


/* ---- edges: empty operations, huge offsets, staged vs committed ---- */

static void test_edges(void **state)
{
	struct datafix f;
	fs_setup(&f, "lz4");
	datafix_open(&f);
	uint8_t got[64], zeros[64] = { 0 };
	/* Empty transaction, empty write, empty read, empty punch. */
	struct data_txn *t = data_txn_new(f.d);
	assert_int_equal(data_txn_commit(t, NULL, NULL), 0);
	data_txn_free(t);
	t = data_txn_new(f.d);
	assert_int_equal(data_write(t, 1, 100, "x", 0), 0);
	assert_int_equal(data_punch(t, 1, 500, 400), 0);
	assert_int_equal(data_punch(t, 1, 500, 500), 0);
	assert_int_equal(data_txn_commit(t, NULL, NULL), 0);
	data_txn_free(t);
	assert_int_equal(data_read(f.d, 1, 0, got, 0), 0);
	/* The last bytes an off_t can address, and one past. */
	const uint64_t top = (uint64_t)INT64_MAX;
	t = data_txn_new(f.d);
	assert_int_equal(data_write(t, 2, top - 10, "0123456789", 10), 0);
	assert_int_equal(data_write(t, 2, top - 5, "0123456789", 10), -EFBIG);
	data_txn_free(t); /* a failed call: the caller drops the transaction */
	t = data_txn_new(f.d);
	assert_int_equal(data_write(t, 2, top - 10, "0123456789", 10), 0);
	assert_int_equal(data_write(t, 2, (uint64_t)1 << 40, "far", 3), 0);
	assert_int_equal(data_txn_commit(t, NULL, NULL), 0);
	data_txn_free(t);
	assert_int_equal(data_read(f.d, 2, top - 10, got, 10), 0);
	assert_memory_equal(got, "0123456789", 10);
	assert_int_equal(data_read(f.d, 2, top - 5, got, 10), -EFBIG);
	assert_int_equal(data_read(f.d, 2, ((uint64_t)1 << 40) - 2, got, 7), 0);
	assert_memory_equal(got, "\0\0far\0\0", 7);
	/* Staged changes are invisible to readers until the commit. */
	t = data_txn_new(f.d);
	assert_int_equal(data_write(t, 2, ((uint64_t)1 << 40) + 1, "AR!", 3), 0);
	assert_int_equal(data_read(f.d, 2, (uint64_t)1 << 40, got, 4), 0);
	assert_memory_equal(got, "far\0", 4);
	assert_int_equal(data_txn_commit(t, NULL, NULL), 0);
	data_txn_free(t);
	assert_int_equal(data_read(f.d, 2, (uint64_t)1 << 40, got, 4), 0);
	assert_memory_equal(got, "fAR!", 4);
	assert_int_equal(data_barrier(f.d, 0), 0);
	datafix_close(&f);
	datafix_open(&f);
	assert_int_equal(data_read(f.d, 2, top - 10, got, 10), 0);
	assert_memory_equal(got, "0123456789", 10);
	/* Truncate from a huge size: only the extents that exist matter. */
	t = data_txn_new(f.d);
	assert_int_equal(data_truncate(t, 2, top, 1), 0);
	assert_int_equal(data_txn_commit(t, NULL, NULL), 0);
	data_txn_free(t);
	assert_int_equal(data_read(f.d, 2, top - 10, got, 10), 0);
	assert_memory_equal(got, zeros, 10);
	assert_int_equal(data_read(f.d, 2, (uint64_t)1 << 40, got, 4), 0);
	assert_memory_equal(got, zeros, 4);
	/* Write, then delete everything in the same transaction, then write
	 * again: the last call wins. */
	t = data_txn_new(f.d);
	assert_int_equal(data_write(t, 3, 40000, "abc", 3), 0);
	assert_int_equal(data_delete_all(t, 3, 40003), 0);
	assert_int_equal(data_write(t, 3, 40001, "Z", 1), 0);
	assert_int_equal(data_txn_commit(t, NULL, NULL), 0);
	data_txn_free(t);
	assert_int_equal(data_read(f.d, 3, 40000, got, 3), 0);
	assert_memory_equal(got, "\0Z\0", 3);
	/* Writes of zeros over data punch it: no key remains. */
	uint8_t *z = xcalloc(1, 2 * EXT);
	t = data_txn_new(f.d);
	assert_int_equal(data_write(t, 3, 0, z, 2 * EXT), 0);
	assert_int_equal(data_txn_commit(t, NULL, NULL), 0);
	data_txn_free(t);
	free(z);
	uint8_t prefix[9] = { 'E' };
	be64_put(prefix + 1, 3);
	struct lsm_iter *it;
	assert_int_equal(lsm_iter_new(f.db, prefix, sizeof prefix, NULL, 0, &it), 0);
	assert_false(lsm_iter_valid(it));
	lsm_iter_free(it);
	datafix_done(&f);
}


/* ---- a read replica follows the writer ---- */

/* A read-only LSM + data plane on the writer's store; after the writer's
 * barrier and data_refresh() the replica must read the new content (no
 * stale decoded extents), including new holes. */
static void test_replica_follows_writer(void **state)
{
	uint64_t seed = test_seed("data replica");
	struct test_rng r = { seed };
	struct datafix w;
	fs_setup(&w, "lz4");
	datafix_open(&w);
	enum { N = 4 * EXT };
	uint8_t *a = xmalloc(N), *b = xmalloc(N), *got = xmalloc(N);
	test_rng_fill(&r, a, N);
	test_rng_fill(&r, b, N);
	struct data_txn *t = data_txn_new(w.d);
	assert_int_equal(data_write(t, 1, 0, a, N), 0);
	assert_int_equal(data_txn_commit(t, NULL, NULL), 0);
	data_txn_free(t);
	assert_int_equal(data_barrier(w.d, 0), 0);
	struct datafix replica;
	datafix_reader(&w, &replica);
	replica.dopt.extent_cache_bytes = 64 << 20; /* a cache that keeps everything */
	datafix_open(&replica);
	struct data *rdp = replica.d;
	assert_int_equal(data_read(rdp, 1, 0, got, N), 0);
	assert_memory_equal(got, a, N);
	/* The writer overwrites the first half and punches the second. */
	memcpy(a, b, N / 2);
	memset(a + N / 2, 0, N / 2);
	t = data_txn_new(w.d);
	assert_int_equal(data_write(t, 1, 0, b, N / 2), 0);
	assert_int_equal(data_punch(t, 1, N / 2, N), 0);
	assert_int_equal(data_txn_commit(t, NULL, NULL), 0);
	data_txn_free(t);
	assert_int_equal(data_barrier(w.d, 0), 0);
	bool changed = false;
	assert_int_equal(data_refresh(rdp, &changed), 0);
	assert_true(changed);
	assert_int_equal(data_read(rdp, 1, 0, got, N), 0);
	if (memcmp(got, a, N) != 0) {
		size_t i = 0;
		while (got[i] == a[i])
			i++;
		fail_msg("replica after data_refresh reads stale bytes from offset %zu", i);
	}
	datafix_close(&replica);
	free(a);
	free(b);
	free(got);
	datafix_done(&w);
}

int main(void)
{
	crypt_init();
	if (!getenv("BUCKETFS_LOG"))
		log_set_level(LOG_WARN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_edges),
		cmocka_unit_test(test_model_lz4),
		cmocka_unit_test(test_model_zstd),
		cmocka_unit_test(test_readers_see_whole_commits),
		cmocka_unit_test(test_replica_follows_writer),
	};
	size_t n = sizeof tests / sizeof tests[0];
	return _cmocka_run_group_tests("tests", tests, n, NULL, NULL);
}
