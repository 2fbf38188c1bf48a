/* fsfix.h -- test fixture, layer 2 of 3: the POSIX core (fs.h) on top of
 * datafix.h's data plane, opened directly (no daemon, no keyfile, no
 * lease).  Header-only.  Used by tests/test-fs*.c, test-lock.c and
 * test-fuse-coherence.c.
 *
 * Why not through daemon_open (stackfix.h): the core tests set options
 * the daemon's configuration does not carry (fs_options.reclaim_paused,
 * reclaim_chunk_bytes; data_options upload and segment tuning), reach the
 * lsm and data plane below the core (f->df.db, f->df.d), and hand in
 * their own store handle (test-fs-concurrency's fault injector), where
 * daemon_open opens the store from a URL and adds a keyfile (Argon2id) and
 * a lease thread the core does not need.
 *
 * struct fsfix holds a data-plane fixture (memory:// store, lsm, data
 * plane) plus the core on top, and:
 *  - fsfix_init(f, name): defaults and open everything;
 *  - fsfix_prepare(f, name, st): defaults only, so the test sets f->fo,
 *    f->df.lo or f->df.dopt, then fsfix_open(f);
 *  - fsfix_open / fsfix_close: the core over the data plane and back
 *    (close is a clean shutdown; the store stays);
 *  - fsfix_reopen(f): close and open again on the same store;
 *  - fsfix_done(f): close and forget the store;
 *  - fsfix_open_reader(f, ro): a read-only core on f's store with f's
 *    options (closed with fsfix_close);
 *  - fsfix_mk(f, cred, parent, name, mode): create and return the ino.
 * Include after <cmocka.h>. */
#ifndef BUCKETFS_FSFIX_H
#define BUCKETFS_FSFIX_H

#include <sys/stat.h>

#include "data/data.h"
#include "datafix.h"
#include "fs/fs.h"
#include "lsm/lsm.h"

struct fsfix {
	struct datafix df;
	struct fs *fs;
	struct fs_options fo;
};

static const uint32_t fsfix_alice_groups[] = { 2000 };
static const struct fs_cred FSFIX_ROOT = { 0, 0, 0, NULL, 0 };
static const struct fs_cred FSFIX_ALICE = { 1001, 1001, 1, fsfix_alice_groups, 0 };
static const struct fs_cred FSFIX_BOB = { 1002, 1002, 0, NULL, 0 };

static inline void fsfix_open(struct fsfix *f)
{
	datafix_open(&f->df);
	f->fo.db = f->df.db;
	f->fo.data = f->df.d;
	assert_int_equal(fs_open(&f->fo, &f->fs), 0);
}

/* The defaults without opening anything, so a test can set f->df.lo,
 * f->df.dopt or f->fo (reclaim_paused, max_size, ...) before fsfix_open.
 * name and st as for datafix_init. */
static inline void fsfix_prepare(struct fsfix *f, const char *name, objstore *st)
{
	memset(f, 0, sizeof *f);
	datafix_init(&f->df, name, st);
}

static inline void fsfix_init(struct fsfix *f, const char *name)
{
	fsfix_prepare(f, name, NULL);
	fsfix_open(f);
}

static inline void fsfix_close(struct fsfix *f)
{
	fs_close(f->fs);
	f->fs = NULL;
	datafix_close(&f->df);
}

static inline void fsfix_reopen(struct fsfix *f)
{
	fsfix_close(f);
	fsfix_open(f);
}

static inline void fsfix_done(struct fsfix *f)
{
	fsfix_close(f);
	datafix_done(&f->df);
}

/* A read-only instance of the core on f's store, with f's options (a
 * reader beside the writer, or after it closed).  ro borrows f's store:
 * close it with fsfix_close, never fsfix_done. */
static inline void fsfix_open_reader(const struct fsfix *f, struct fsfix *ro)
{
	*ro = *f;
	datafix_reader(&f->df, &ro->df);
	ro->fs = NULL;
	ro->fo.read_only = true;
	fsfix_open(ro);
}

static inline uint64_t fsfix_mk(struct fsfix *f, const struct fs_cred *c, uint64_t parent,
				const char *name, uint32_t mode)
{
	struct fs_attr a;
	int r = S_ISDIR(mode) ? fs_mkdir(f->fs, c, parent, name, mode & 07777, &a, NULL) :
				fs_mknod(f->fs, c, parent, name, mode, 0, &a, NULL);
	assert_int_equal(r, 0);
	return a.ino;
}

#endif
