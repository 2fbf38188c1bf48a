/* clock.h -- monotonic and wall-clock time in nanoseconds, and timed
 * waits on condition variables (which count in CLOCK_REALTIME). */
#ifndef BUCKETFS_UTIL_CLOCK_H
#define BUCKETFS_UTIL_CLOCK_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

static inline uint64_t clock_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t clock_wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The CLOCK_REALTIME instant ns from now, for pthread_cond_timedwait. */
static inline void clock_deadline(struct timespec *ts, uint64_t ns)
{
	clock_gettime(CLOCK_REALTIME, ts);
	uint64_t t = (uint64_t)ts->tv_nsec + ns;
	ts->tv_sec += (time_t)(t / 1000000000ull);
	ts->tv_nsec = (long)(t % 1000000000ull);
}

/* Wait on c for at most ns (m held); returns pthread_cond_timedwait's result. */
static inline int clock_cond_wait(pthread_cond_t *c, pthread_mutex_t *m, uint64_t ns)
{
	struct timespec ts;
	clock_deadline(&ts, ns);
	return pthread_cond_timedwait(c, m, &ts);
}

#endif
