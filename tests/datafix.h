/* datafix.h -- test fixture, layer 1 of 3: the data plane (object store,
 * metadata LSM, data plane; no core, no daemon).  Header-only, like
 * testutil.h.  Used by tests/test-data*.c (test-data-crash's parent too;
 * its forked child cannot use cmocka asserts and opens by hand) and, as
 * its lower half, by fsfix.h.  The LSM tests open the LSM alone
 * (lsm_open) and bench/ has no cmocka, so neither uses it.
 *
 * Provides struct datafix (store URL, objstore, lsm, data plane and the
 * lsm_options / data_options used to open them) and:
 *  - datafix_init(f, name, st): fills the defaults without opening anything:
 *    a fresh memory://<name>-<pid>-<n> URL (or name itself when it already
 *    is a URL), the store st when given (the fixture then owns it) else one
 *    opened at that URL, lsm options with create and key 7s, data options
 *    with key 9s, meta_key = the lsm key, flush_interval_ms = 0 and
 *    gc_interval_ms = 0.  The test tweaks f->lo / f->dopt afterwards.
 *  - datafix_open / datafix_close / datafix_reopen / datafix_done (done
 *    also closes f->clean and removes f->cache when the test set them).
 *  - datafix_reader(f, ro): a read-only copy of f's options on f's store
 *    (checkpoint views, replicas), opened by datafix_open(ro).
 *  - datafix_write: one data_write in its own committed transaction.
 *  - datafix_expect / datafix_expect_d: bytes [off, off+n) of ino read back
 *    exactly as want (on f->d or on any data plane).
 * Include after <cmocka.h>. */
#ifndef BUCKETFS_DATAFIX_H
#define BUCKETFS_DATAFIX_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/data.h"
#include "lsm/lsm.h"
#include "store/objstore.h"
#include "testutil.h"
#include "util/mem.h"

struct datafix {
	char url[128];
	objstore *st;
	lsm *db;
	struct data *d;
	struct lsm_options lo;
	struct data_options dopt;
	objstore *clean; /* optional: a second handle, closed by datafix_done */
	char *cache;     /* optional: a test_tmpdir, removed by datafix_done */
};

static inline void datafix_init(struct datafix *f, const char *name, objstore *st)
{
	static int datafix_counter;
	memset(f, 0, sizeof *f);
	if (strstr(name, "://"))
		snprintf(f->url, sizeof f->url, "%s", name);
	else
		snprintf(f->url, sizeof f->url, "memory://%s-%d-%d", name, (int)getpid(),
			 ++datafix_counter);
	if (st)
		f->st = st;
	else
		assert_int_equal(objstore_open(f->url, &f->st), 0);
	lsm_options_default(&f->lo);
	f->lo.store = f->st;
	f->lo.create = true;
	memset(f->lo.key, 7, sizeof f->lo.key);
	data_options_default(&f->dopt);
	f->dopt.store = f->st;
	memset(f->dopt.key, 9, sizeof f->dopt.key);
	memcpy(f->dopt.meta_key, f->lo.key, sizeof f->dopt.meta_key);
	f->dopt.flush_interval_ms = 0;
	f->dopt.gc_interval_ms = 0;
}

static inline void datafix_open(struct datafix *f)
{
	assert_int_equal(lsm_open(&f->lo, &f->db), 0);
	f->dopt.db = f->db;
	assert_int_equal(data_open(&f->dopt, &f->d), 0);
}

static inline void datafix_close(struct datafix *f)
{
	assert_int_equal(data_close(f->d), 0);
	lsm_close(f->db);
	f->d = NULL;
	f->db = NULL;
}

static inline void datafix_reopen(struct datafix *f)
{
	datafix_close(f);
	datafix_open(f);
}

static inline void datafix_done(struct datafix *f)
{
	if (f->d)
		datafix_close(f);
	objstore_close(f->st);
	f->st = NULL;
	if (f->clean)
		objstore_close(f->clean);
	f->clean = NULL;
	if (strncmp(f->url, "memory://", strlen("memory://")) == 0)
		objstore_memory_reset(f->url + strlen("memory://"));
	if (f->cache) {
		test_rmtree(f->cache);
		free(f->cache);
		f->cache = NULL;
	}
}

/* ro = a read-only reader of f's store with f's options, not opened yet:
 * the test may still point ro->lo.checkpoint at a checkpoint, give it
 * another store handle or other cache sizes, then datafix_open(ro).  ro
 * borrows f's store: close it with datafix_close, never datafix_done. */
static inline void datafix_reader(const struct datafix *f, struct datafix *ro)
{
	*ro = *f;
	ro->db = NULL;
	ro->d = NULL;
	ro->clean = NULL;
	ro->cache = NULL;
	ro->lo.create = false;
	ro->lo.read_only = true;
	ro->dopt.read_only = true;
}

static inline void datafix_write(struct datafix *f, uint64_t ino, uint64_t off, const void *p,
				 size_t n)
{
	struct data_txn *t = data_txn_new(f->d);
	assert_int_equal(data_write(t, ino, off, p, n), 0);
	assert_int_equal(data_txn_commit(t, NULL, NULL), 0);
	data_txn_free(t);
}

static inline void datafix_expect_d(struct data *d, uint64_t ino, uint64_t off, const void *want,
				    size_t n, const char *when)
{
	const uint8_t *w = want;
	uint8_t *got = xmalloc(n);
	int r = data_read(d, ino, off, got, n);
	if (r != 0)
		fail_msg("%s: data_read(ino %llu) = %d", when, (unsigned long long)ino, r);
	if (memcmp(got, w, n) != 0) {
		size_t i = 0;
		while (got[i] == w[i])
			i++;
		fail_msg("%s: ino %llu differs at byte %llu", when, (unsigned long long)ino,
			 (unsigned long long)(off + i));
	}
	free(got);
}

static inline void datafix_expect(struct datafix *f, uint64_t ino, uint64_t off, const void *want,
				  size_t n, const char *when)
{
	datafix_expect_d(f->d, ino, off, want, n, when);
}

#endif
