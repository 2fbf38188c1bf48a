/* lock.h -- the byte-range lock table's life cycle (private to the core).
 *
 * The lock calls themselves (fs_getlk, fs_setlk, fs_flock, the releases
 * and the cancel) are public and declared in fs.h; this header is what
 * fs_open/fs_close and the tests need besides: making and freeing the
 * table that hangs off struct fs, and counting its records. */
#ifndef BUCKETFS_FS_LOCK_H
#define BUCKETFS_FS_LOCK_H

#include <stddef.h>
#include <stdint.h>

struct lock_table;

struct lock_table *lock_table_new(void);
/* Frees every record; no call may be waiting (the frontends are stopped). */
void lock_table_free(struct lock_table *t);
/* Records held on ino (range and flock ones), for tests: a merge that did
 * not happen shows as one record too many. */
size_t lock_table_records(struct lock_table *t, uint64_t ino);
/* Requests waiting now, for tests that must know one is blocked. */
size_t lock_table_waiters(struct lock_table *t);

#endif
