/* test-data-crash.c -- SIGKILL a data-plane writer at random moments; what
 * recovery gives back must be exactly a prefix of its commits, never less
 * than what a completed barrier covered.
 *
 * A forked child opens a file:// store as writer (LSM background thread on,
 * small memtables; data plane with small segments and a periodic barrier
 * every 20 ms, so seals, uploads and barriers run all the time) and applies
 * deterministic operations: op i is derived from the seed and i alone (and
 * from the file sizes, which the ops before it determine): one to three
 * writes / punches / truncates / delete_alls on a few files, committed as
 * one transaction whose caller batch also puts "ctr" = i and "I"+ino = the
 * file's size.  Through a pipe the child reports
 *
 *   'L' lineage   after data_open
 *   'A' i         data_txn_commit of op i returned 0
 *   'D' i         a data_barrier called after op i returned 0
 *   'C' i         data_checkpoint "cp-i" called after op i returned 0
 *   'E' rc        something failed (the test fails)
 *
 * The parent kills it after a random number of acks plus a random delay
 * (sometimes during startup), reads everything the child wrote, then opens
 * the store as writer itself and checks, with k = "ctr" (k0 = the value the
 * child started from):
 *
 *   k0 <= k, last 'D' <= k <= last 'A' + 1   (a commit may have become
 *       durable through a periodic barrier before its ack was written),
 *   every file's full content and its size key equal ops 1..k replayed,
 *   an 'E' key exists exactly for the non-zero extents,
 *   data_barrier(child's lineage) = -ESTALE (it did not shut down cleanly),
 *   every checkpoint reported exists, every checkpoint "cp-j" there has
 *   k0 < j <= k, and its view (read-only LSM + data plane) reads exactly
 *   ops 1..j; the parent then deletes them.
 *
 * The parent then closes cleanly and the next child continues from k on
 * the same store, so recovery runs over the leftovers of earlier crashes:
 * orphan segments (uploaded, never committed) pile up.  At the end a
 * writer with gc_grace_ms = 0 runs GC passes until they settle: every
 * file still reads back, the objects under segments/ are then exactly the
 * segments the 'E' keys reference (orphans and dead segments are gone),
 * and everything survives a reopen.
 *
 * Knobs: TEST_SEED, DATA_CRASH_ITERS (default 100), DATA_CRASH_GC=0 turns
 * off the GC passes (grace 0) that every other child runs every 30 ms. */
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
#include "data/data.h"
#include "datafix.h"
#include "data/segment.h"
#include "lsm/lsm.h"
#include "store/objstore.h"
#include "testutil.h"
#include "util/clock.h"
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

#define EXT EXTENT_BYTES
#define NF 4
#define CAP (512u << 10)
#define INO0 50
#define MAXW (96u << 10)

struct model {
	uint8_t *data[NF];
	uint64_t size[NF];
};

struct msg {
	uint8_t type;
	uint8_t pad[7];
	uint64_t v;
};

static uint64_t g_seed;

static void setup_opts(objstore *st, struct lsm_options *lo, struct data_options *dopt)
{
	lsm_options_default(lo);
	lo->store = st;
	lo->create = true;
	lo->memtable_bytes = 64 << 10;
	lo->block_cache_bytes = 256 << 10;
	memset(lo->key, 7, sizeof lo->key);
	data_options_default(dopt);
	dopt->store = st;
	memset(dopt->key, 9, sizeof dopt->key);
	memcpy(dopt->meta_key, lo->key, sizeof dopt->meta_key);
	dopt->segment_bytes = 64 << 10;
	dopt->flush_interval_ms = 0;
	dopt->gc_interval_ms = 0;
	dopt->cache_ram_bytes = 1 << 20;
	dopt->extent_cache_bytes = 256 << 10;
}

/* ---- deterministic operations ---- */

static void gen_content(struct test_rng *r, uint8_t *p, size_t n)
{
	switch (test_rng_below(r, 5)) {
	case 0:
		test_rng_fill(r, p, n);
		break;
	case 1:
		memset(p, 0, n);
		break;
	case 2: {
		uint8_t b = (uint8_t)(1 + test_rng_below(r, 255));
		for (size_t i = 0; i < n; i++)
			p[i] = (uint8_t)(b + (i % 7));
		break;
	}
	default: {
		size_t i = 0;
		while (i < n) {
			size_t run = 1 + test_rng_below(r, 40 << 10);
			if (run > n - i)
				run = n - i;
			if (test_rng_below(r, 2))
				memset(p + i, 0, run);
			else
				test_rng_fill(r, p + i, run);
			i += run;
		}
	}
	}
}

static void size_key(uint8_t key[9], uint64_t ino)
{
	key[0] = 'I';
	be64_put(key + 1, ino);
}

/* Apply op i to the model, and (t, b not NULL) stage it.  Returns the
 * first staging error. */
static int apply_op(struct model *m, uint64_t i, struct data_txn *t, struct lsm_batch *b,
		    uint8_t *buf)
{
	struct test_rng r = { g_seed ^ (i * 0xd1342543de82ef95ull) };
	unsigned n = 1 + (unsigned)test_rng_below(&r, 3);
	int fi = (int)test_rng_below(&r, NF);
	int rc = 0;
	for (unsigned k = 0; k < n; k++) {
		if (test_rng_below(&r, 3) == 0)
			fi = (int)test_rng_below(&r, NF);
		uint64_t ino = INO0 + (uint64_t)fi;
		unsigned what = (unsigned)test_rng_below(&r, 100);
		if (what < 62) {
			uint64_t off = test_rng_below(&r, 3) == 0 ? test_rng_below(&r, CAP / EXT) * EXT :
				       test_rng_below(&r, CAP);
			size_t len = 1 + test_rng_below(&r, test_rng_below(&r, 4) ? MAXW : 200);
			if (off + len > CAP)
				len = CAP - off;
			gen_content(&r, buf, len);
			if (t && !rc)
				rc = data_write(t, ino, off, buf, len);
			memcpy(m->data[fi] + off, buf, len);
			if (off + len > m->size[fi])
				m->size[fi] = off + len;
		} else if (what < 77) {
			uint64_t from = test_rng_below(&r, CAP);
			uint64_t to = from + test_rng_below(&r, 160 << 10);
			if (to > CAP)
				to = CAP;
			if (t && !rc)
				rc = data_punch(t, ino, from, to);
			memset(m->data[fi] + from, 0, to - from);
		} else if (what < 95) {
			uint64_t old = m->size[fi];
			uint64_t nsz = test_rng_below(&r, 2) && old ? test_rng_below(&r, old) :
				       old + test_rng_below(&r, CAP - old + 1);
			if (t && !rc)
				rc = data_truncate(t, ino, old, nsz);
			if (nsz < old)
				memset(m->data[fi] + nsz, 0, old - nsz);
			m->size[fi] = nsz;
		} else {
			if (t && !rc)
				rc = data_delete_all(t, ino, m->size[fi]);
			memset(m->data[fi], 0, CAP);
			m->size[fi] = 0;
		}
		if (b) {
			uint8_t key[9], val[8];
			size_key(key, ino);
			be64_put(val, m->size[fi]);
			lsm_batch_put(b, key, sizeof key, val, sizeof val);
		}
	}
	if (b) {
		uint8_t val[8];
		be64_put(val, i);
		lsm_batch_put(b, "ctr", 3, val, sizeof val);
	}
	return rc;
}

static bool op_checkpoint_after(uint64_t i)
{
	struct test_rng r = { g_seed ^ (i * 0xe7037ed1a0b428dbull) ^ 0x7777 };
	return test_rng_below(&r, 150) == 0;
}

static bool op_barrier_after(uint64_t i)
{
	struct test_rng r = { g_seed ^ (i * 0x9fb21c651e98df25ull) ^ 0x5555 };
	return test_rng_below(&r, 40) == 0;
}

/* ---- the child ---- */

static void send_msg(int fd, uint8_t type, uint64_t v)
{
	struct msg mm;
	memset(&mm, 0, sizeof mm);
	mm.type = type;
	mm.v = v;
	if (write(fd, &mm, sizeof mm) != (ssize_t)sizeof mm)
		_exit(4);
}

static void child_fail(int fd, int rc, int where)
{
	send_msg(fd, 'E', (uint64_t)(uint32_t)-rc << 16 | (unsigned)where);
	_exit(3);
}

static void child_main(const char *url, struct model *m, uint64_t k0, int fd, bool gc)
{
	objstore *st;
	lsm *db;
	struct data *d;
	struct lsm_options lo;
	struct data_options dopt;
	uint8_t *buf = xmalloc(MAXW);
	int rc = objstore_open(url, &st);
	if (rc)
		child_fail(fd, rc, 1);
	setup_opts(st, &lo, &dopt);
	rc = lsm_open(&lo, &db);
	if (rc)
		child_fail(fd, rc, 2);
	dopt.db = db;
	dopt.flush_interval_ms = 20;
	if (gc) {
		dopt.gc_interval_ms = 30;
		dopt.gc_grace_ms = 0;
	}
	rc = data_open(&dopt, &d);
	if (rc)
		child_fail(fd, rc, 3);
	send_msg(fd, 'L', data_lineage(d));
	for (uint64_t i = k0 + 1;; i++) {
		struct data_txn *t = data_txn_new(d);
		struct lsm_batch *b = lsm_batch_new();
		rc = apply_op(m, i, t, b, buf);
		if (rc)
			child_fail(fd, rc, 4);
		rc = data_txn_commit(t, b, NULL);
		if (rc)
			child_fail(fd, rc, 5);
		data_txn_free(t);
		lsm_batch_free(b);
		send_msg(fd, 'A', i);
		if (op_checkpoint_after(i)) {
			char name[32];
			snprintf(name, sizeof name, "cp-%llu", (unsigned long long)i);
			rc = data_checkpoint(d, name);
			if (rc)
				child_fail(fd, rc, 7);
			send_msg(fd, 'C', i);
			send_msg(fd, 'D', i);
		} else if (op_barrier_after(i)) {
			rc = data_barrier(d, 0);
			if (rc)
				child_fail(fd, rc, 6);
			send_msg(fd, 'D', i);
		}
	}
}

/* ---- the parent's checks ---- */

/* The parent reopens the store through the data-plane fixture, with the
 * child's options (setup_opts) so both see the same tree.  The store is
 * the test's, shared by every iteration: close with datafix_close only. */
static void parent_open(struct datafix *f, const char *url, objstore *st, uint64_t grace_ms)
{
	datafix_init(f, url, st);
	setup_opts(st, &f->lo, &f->dopt);
	f->dopt.gc_grace_ms = grace_ms;
	datafix_open(f);
}

static uint64_t get_u64(lsm *db, const void *key, size_t klen, bool *found)
{
	struct buf v = BUF_INIT;
	int r = lsm_get(db, key, klen, &v);
	if (r != 0 && r != -ENOENT)
		fail_msg("lsm_get: %d", r);
	*found = r == 0;
	uint64_t x = r == 0 && v.len == 8 ? be64_get(v.data) : 0;
	buf_free(&v);
	return x;
}

static bool extent_nonzero(const struct model *m, int fi, uint64_t ext)
{
	for (size_t i = 0; i < EXT; i++)
		if (m->data[fi][ext * EXT + i])
			return true;
	return false;
}

static void check_state(struct datafix *f, const struct model *m, const char *when)
{
	uint8_t *got = xmalloc(CAP + EXT);
	for (int fi = 0; fi < NF; fi++) {
		int r = data_read(f->d, INO0 + (uint64_t)fi, 0, got, CAP + EXT);
		if (r != 0)
			fail_msg("%s: data_read ino %d = %d", when, INO0 + fi, r);
		if (memcmp(got, m->data[fi], CAP) != 0) {
			size_t i = 0;
			while (got[i] == m->data[fi][i])
				i++;
			fail_msg("%s: ino %d byte %zu: got %02x want %02x", when, INO0 + fi, i, got[i],
				 m->data[fi][i]);
		}
		for (size_t i = CAP; i < CAP + EXT; i++)
			if (got[i])
				fail_msg("%s: ino %d: data past the modelled range", when, INO0 + fi);
		uint8_t key[9];
		bool found;
		size_key(key, INO0 + (uint64_t)fi);
		uint64_t sz = get_u64(f->db, key, sizeof key, &found);
		if (sz != m->size[fi])
			fail_msg("%s: ino %d size key %llu, model %llu", when, INO0 + fi,
				 (unsigned long long)sz, (unsigned long long)m->size[fi]);
	}
	free(got);
	/* Holes: keys exist exactly for non-zero extents. */
	uint8_t prefix[1] = { 'E' };
	struct lsm_iter *it;
	unsigned keys[NF] = { 0 }, want[NF] = { 0 };
	assert_int_equal(lsm_iter_new(f->db, prefix, 1, NULL, 0, &it), 0);
	for (; lsm_iter_valid(it); lsm_iter_next(it)) {
		size_t kl;
		const uint8_t *k = lsm_iter_key(it, &kl);
		uint64_t ino = be64_get(k + 1), ext = be64_get(k + 9);
		if (kl != 17 || ino < INO0 || ino >= INO0 + NF || ext >= CAP / EXT)
			fail_msg("%s: stray extent key", when);
		if (!extent_nonzero(m, (int)(ino - INO0), ext))
			fail_msg("%s: ino %llu extent %llu is zeros but has a key", when,
				 (unsigned long long)ino, (unsigned long long)ext);
		keys[ino - INO0]++;
	}
	assert_int_equal(lsm_iter_status(it), 0);
	lsm_iter_free(it);
	for (int fi = 0; fi < NF; fi++) {
		for (uint64_t e = 0; e < CAP / EXT; e++)
			want[fi] += extent_nonzero(m, fi, e);
		if (keys[fi] != want[fi])
			fail_msg("%s: ino %d has %u extent keys, %u non-zero extents", when, INO0 + fi,
				 keys[fi], want[fi]);
	}
}

/* ---- segment accounting for the final GC check ---- */

struct names {
	char **v;
	size_t n;
};

static void names_add(struct names *s, const char *k)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i], k) == 0)
			return;
	s->v = xrealloc(s->v, (s->n + 1) * sizeof *s->v);
	s->v[s->n++] = xstrdup(k);
}

static bool names_has(const struct names *s, const char *k)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i], k) == 0)
			return true;
	return false;
}

static void names_free(struct names *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	memset(s, 0, sizeof *s);
}

static int list_cb(void *arg, const struct objstore_entry *e)
{
	names_add(arg, e->key);
	return 0;
}

static void referenced_segments(lsm *db, struct names *out)
{
	uint8_t prefix[1] = { 'E' };
	struct lsm_iter *it;
	assert_int_equal(lsm_iter_new(db, prefix, 1, NULL, 0, &it), 0);
	for (; lsm_iter_valid(it); lsm_iter_next(it)) {
		size_t vl;
		const uint8_t *v = lsm_iter_value(it, &vl);
		struct frame_loc loc;
		char name[SEGMENT_NAME_MAX];
		assert_int_equal(frame_loc_decode(v, vl, &loc), 0);
		segment_name(loc.epoch, loc.counter, name);
		names_add(out, name);
	}
	assert_int_equal(lsm_iter_status(it), 0);
	lsm_iter_free(it);
}

/* ---- the test ---- */

struct cps {
	uint64_t op[64];
	size_t n;
};

static void cp_cb(void *arg, const char *name, uint64_t seq, uint64_t created)
{
	struct cps *c = arg;
	unsigned long long i;
	if (sscanf(name, "cp-%llu", &i) == 1 && c->n < 64)
		c->op[c->n++] = i;
}

/* The checkpoint view of op i reads the model as of op i. */
static void check_checkpoint(struct datafix *f, const struct model *m, uint64_t i, const char *when)
{
	char name[32], w[256];
	snprintf(name, sizeof name, "cp-%llu", (unsigned long long)i);
	struct datafix v;
	datafix_reader(f, &v);
	v.lo.checkpoint = name;
	datafix_open(&v);
	snprintf(w, sizeof w, "%s: checkpoint %s", when, name);
	check_state(&v, m, w);
	datafix_close(&v);
}

static void test_crash_recovery(void **state)
{
	g_seed = test_seed("data crash");
	struct test_rng r = { g_seed ^ 0xabcdef };
	long iters = test_env_long("DATA_CRASH_ITERS", UNDER_ASAN || getenv("BUCKETFS_ASAN") ? 40 : 100);
	bool child_gc = test_env_long("DATA_CRASH_GC", 1) != 0;
	/* A SIGKILL loses no page cache, so tmpfs gives the same crash
	 * semantics as a disk, without the fsync costs. */
	if (!getenv("TMPDIR") && access("/dev/shm", W_OK) == 0)
		setenv("TMPDIR", "/dev/shm", 0);
	char *dir = test_tmpdir("data-crash");
	char url[512];
	snprintf(url, sizeof url, "file://%s", dir);
	objstore *st;
	assert_int_equal(objstore_open(url, &st), 0);
	struct model m;
	for (int i = 0; i < NF; i++) {
		m.data[i] = xcalloc(1, CAP);
		m.size[i] = 0;
	}
	uint8_t *buf = xmalloc(MAXW);
	uint64_t k = 0, total_acked = 0, lost_max = 0, at_barrier = 0, past_barrier = 0, lost = 0;
	uint64_t ncheckpoints = 0;
	char when[128];
	for (long it = 0; it < iters; it++) {
		int fds[2];
		assert_int_equal(pipe(fds), 0);
		fflush(stdout);
		fflush(stderr);
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(fds[0]);
			child_main(url, &m, k, fds[1], child_gc);
			_exit(0);
		}
		close(fds[1]);
		uint64_t target = test_rng_below(&r, 5) == 0 ? 0 : test_rng_below(&r, 80);
		uint64_t extra_us = test_rng_below(&r, test_rng_below(&r, 2) ? 30000 : 120000);
		uint64_t acked = k, durable = k, lineage = 0, nacks = 0;
		uint64_t cps_reported[64];
		size_t ncps_reported = 0;
		bool failed = false;
		uint64_t err = 0;
		uint64_t deadline = clock_mono_ns() + 10000000000ull;
		struct msg mm;
		/* Wait for the acks we want, then a little more, then kill. */
		while (nacks < target && clock_mono_ns() < deadline) {
			struct pollfd p = { fds[0], POLLIN, 0 };
			if (poll(&p, 1, 10) <= 0)
				continue;
			ssize_t got = read(fds[0], &mm, sizeof mm);
			if (got != (ssize_t)sizeof mm)
				break;
			if (mm.type == 'A') {
				acked = mm.v;
				nacks++;
			} else if (mm.type == 'D') {
				durable = mm.v;
			} else if (mm.type == 'C') {
				cps_reported[ncps_reported++ % 64] = mm.v;
			} else if (mm.type == 'L') {
				lineage = mm.v;
			} else if (mm.type == 'E') {
				failed = true;
				err = mm.v;
				break;
			}
		}
		usleep((useconds_t)extra_us);
		kill(pid, SIGKILL);
		int status;
		waitpid(pid, &status, 0);
		while (read(fds[0], &mm, sizeof mm) == (ssize_t)sizeof mm) {
			if (mm.type == 'A') {
				acked = mm.v;
				nacks++;
			} else if (mm.type == 'D') {
				durable = mm.v;
			} else if (mm.type == 'C') {
				cps_reported[ncps_reported++ % 64] = mm.v;
			} else if (mm.type == 'L') {
				lineage = mm.v;
			} else if (mm.type == 'E') {
				failed = true;
				err = mm.v;
			}
		}
		close(fds[0]);
		if (failed)
			fail_msg("iteration %ld: child failed: error %d at step %d (seed %llu)", it,
				 -(int)(err >> 16), (int)(err & 0xffff), (unsigned long long)g_seed);
		if (!WIFSIGNALED(status))
			fail_msg("iteration %ld: child exited with status %d", it, status);
		total_acked += acked - k;

		/* Recover. */
		struct datafix f;
		parent_open(&f, url, st, 10 * 60 * 1000);
		bool found;
		uint64_t k1 = get_u64(f.db, "ctr", 3, &found);
		snprintf(when, sizeof when, "iteration %ld (k0 %llu, k %llu, durable %llu, acked %llu, seed %llu)",
			 it, (unsigned long long)k, (unsigned long long)k1,
			 (unsigned long long)durable, (unsigned long long)acked,
			 (unsigned long long)g_seed);
		if (k1 < k)
			fail_msg("%s: went back before the state the last clean close made durable", when);
		if (k1 < durable)
			fail_msg("%s: lost commits a completed barrier covered", when);
		if (k1 > acked + 1)
			fail_msg("%s: holds commits the child never made", when);
		if (acked > k1 && acked - k1 > lost_max)
			lost_max = acked - k1;
		at_barrier += k1 == durable;
		past_barrier += k1 > durable;
		lost += k1 < acked;
		/* Checkpoints: every one reported exists, none is past k, and
		 * each reads the state of its op; then they are deleted. */
		struct cps cpl = { 0 };
		assert_int_equal(lsm_checkpoint_list(f.db, cp_cb, &cpl), 0);
		for (size_t c = 0; c < ncps_reported && c < 64; c++) {
			bool there = false;
			for (size_t j = 0; j < cpl.n; j++)
				there |= cpl.op[j] == cps_reported[c];
			if (!there)
				fail_msg("%s: checkpoint cp-%llu was created but is gone", when,
					 (unsigned long long)cps_reported[c]);
		}
		for (uint64_t i = k + 1; i <= k1; i++) {
			apply_op(&m, i, NULL, NULL, buf);
			for (size_t j = 0; j < cpl.n; j++)
				if (cpl.op[j] == i) {
					check_checkpoint(&f, &m, i, when);
					ncheckpoints++;
				}
		}
		for (size_t j = 0; j < cpl.n; j++) {
			if (cpl.op[j] <= k || cpl.op[j] > k1)
				fail_msg("%s: checkpoint cp-%llu outside the recovered ops", when,
					 (unsigned long long)cpl.op[j]);
			char name[32];
			snprintf(name, sizeof name, "cp-%llu", (unsigned long long)cpl.op[j]);
			assert_int_equal(lsm_checkpoint_delete(f.db, name), 0);
		}
		k = k1;
		check_state(&f, &m, when);
		if (lineage && lineage != data_lineage(f.d)) {
			int rc = data_barrier(f.d, lineage);
			if (rc != -ESTALE)
				fail_msg("%s: barrier for the killed incarnation = %d, want -ESTALE", when, rc);
		}
		datafix_close(&f);
	}
	printf("# %ld crashes, %llu ops acked, final k %llu; recovered state: %llu at the last "
	       "explicit barrier, %llu past it (periodic barriers), %llu lost acked ops (at most "
	       "%llu); %llu checkpoints verified\n", iters, (unsigned long long)total_acked,
	       (unsigned long long)k, (unsigned long long)at_barrier,
	       (unsigned long long)past_barrier, (unsigned long long)lost,
	       (unsigned long long)lost_max, (unsigned long long)ncheckpoints);

	/* GC over the leftovers: orphans and dead segments go, live data stays. */
	struct datafix f;
	parent_open(&f, url, st, 0);
	struct names all = { 0 }, refd = { 0 };
	assert_int_equal(objstore_list_all(st, "segments/", NULL, list_cb, &all), 0);
	referenced_segments(f.db, &refd);
	size_t unref = 0;
	for (size_t i = 0; i < all.n; i++)
		unref += !names_has(&refd, all.v[i]);
	struct data_gc_report rep, sum = { 0 };
	int pass;
	for (pass = 0; pass < 12; pass++) {
		assert_int_equal(data_gc(f.d, &rep), 0);
		sum.segments_deleted += rep.segments_deleted;
		sum.orphans_deleted += rep.orphans_deleted;
		sum.segments_repacked += rep.segments_repacked;
		if (!rep.segments_deleted && !rep.segments_repacked)
			break;
	}
	assert_true(pass < 12);
	snprintf(when, sizeof when, "after gc (seed %llu)", (unsigned long long)g_seed);
	check_state(&f, &m, when);
	struct names after = { 0 }, refd2 = { 0 };
	assert_int_equal(objstore_list_all(st, "segments/", NULL, list_cb, &after), 0);
	referenced_segments(f.db, &refd2);
	printf("# before gc: %zu segment objects, %zu referenced, %zu not; gc: %llu deleted "
	       "(%llu orphans), %llu repacked; after: %zu objects, %zu referenced\n", all.n,
	       refd.n, unref, (unsigned long long)sum.segments_deleted,
	       (unsigned long long)sum.orphans_deleted, (unsigned long long)sum.segments_repacked,
	       after.n, refd2.n);
	for (size_t i = 0; i < after.n; i++)
		if (!names_has(&refd2, after.v[i]))
			fail_msg("%s: %s is referenced by no extent but was not collected", when,
				 after.v[i]);
	for (size_t i = 0; i < refd2.n; i++)
		if (!names_has(&after, refd2.v[i]))
			fail_msg("%s: %s is referenced but not in the store", when, refd2.v[i]);
	datafix_close(&f);
	parent_open(&f, url, st, 0);
	check_state(&f, &m, "reopen after gc");
	datafix_close(&f);
	names_free(&all);
	names_free(&refd);
	names_free(&after);
	names_free(&refd2);
	for (int i = 0; i < NF; i++)
		free(m.data[i]);
	free(buf);
	objstore_close(st);
	test_rmtree(dir);
	free(dir);
}

int main(void)
{
	crypt_init();
	if (!getenv("BUCKETFS_LOG"))
		log_set_level(LOG_ERROR);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crash_recovery),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
