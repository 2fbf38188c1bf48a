/* workers.h -- a small pool of CPU threads for a transaction's frames.
 *
 * Compressing and encrypting a large transaction (a 1 MiB write is 32
 * frames) one frame at a time would use one core; workers_run() spreads
 * the frames over the pool AND the calling thread, so it always makes
 * progress even when every pool thread is busy with another caller's
 * work, and it returns only once every index has been processed.  Jobs
 * must not block (no locks held across them that others wait on).
 *
 * Threads: workers_new(n) starts n threads (0: the caller does it all). */
#ifndef BUCKETFS_DATA_WORKERS_H
#define BUCKETFS_DATA_WORKERS_H

#include <stddef.h>

struct workers;

/* The number of CPUs online, at least 1. */
unsigned workers_cpus(void);
struct workers *workers_new(unsigned threads);
void workers_free(struct workers *w);
/* fn(arg, i) for every i in [0, n), in parallel; returns when all ran. */
void workers_run(struct workers *w, void (*fn)(void *arg, size_t i), void *arg, size_t n);

#endif
