/* upload.c -- segment upload threads (see upload.h).
 *
 * Segments get increasing tickets at submit.  `done_below` is the lowest
 * ticket not yet uploaded, so "everything submitted before ticket T is
 * uploaded" is done_below > T, however the uploads finish in parallel.
 *
 * A segment arrives closed but maybe not sealed: frames reserved in it may
 * still be being encrypted by their committers.  The upload thread seals
 * it (segment_seal waits for the last frame) before the first put; nobody
 * else waits for that, and a reader of a frame waits only for that frame. */
#include "data/upload.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/clock.h"
#include "util/log.h"
#include "util/mem.h"

struct job {
	uint64_t ticket;
	struct segment *seg;
	bool busy;
	uint64_t not_before_ns;  /* retry backoff */
	unsigned attempts;
	struct job *next;
};

struct uploader {
	objstore *st;
	uint8_t key[CRYPT_KEY_BYTES];
	pthread_mutex_t mu;
	pthread_cond_t work, done;
	struct job *jobs;        /* ascending tickets */
	uint64_t next_ticket;
	unsigned count, max_in_flight;
	bool stop;
	pthread_t *threads;
	unsigned nthreads;
	uint64_t n_segments, n_bytes, n_retries;
};

static uint64_t lowest_pending_locked(struct uploader *u)
{
	return u->jobs ? u->jobs->ticket : u->next_ticket;
}

static struct job *pick_locked(struct uploader *u, uint64_t now, uint64_t *wait_ns)
{
	*wait_ns = 0;
	for (struct job *j = u->jobs; j; j = j->next) {
		if (j->busy)
			continue;
		if (j->not_before_ns <= now)
			return j;
		uint64_t w = j->not_before_ns - now;
		if (!*wait_ns || w < *wait_ns)
			*wait_ns = w;
	}
	return NULL;
}

static void remove_locked(struct uploader *u, struct job *j)
{
	struct job **pp = &u->jobs;
	while (*pp != j)
		pp = &(*pp)->next;
	*pp = j->next;
	u->count--;
}

static int put_segment(struct uploader *u, struct segment *s)
{
	char name[SEGMENT_NAME_MAX];
	segment_name(segment_epoch(s), segment_counter(s), name);
	return objstore_put(u->st, name, segment_bytes(s), segment_size(s));
}

static void *upload_main(void *arg)
{
	struct uploader *u = arg;
	pthread_mutex_lock(&u->mu);
	while (!u->stop) {
		uint64_t wait_ns;
		struct job *j = pick_locked(u, clock_mono_ns(), &wait_ns);
		if (!j) {
			if (wait_ns)
				clock_cond_wait(&u->work, &u->mu, wait_ns);
			else
				pthread_cond_wait(&u->work, &u->mu);
			continue;
		}
		j->busy = true;
		pthread_mutex_unlock(&u->mu);
		int r = segment_sealed(j->seg) ? 0 : segment_seal(j->seg, u->key);
		if (r == 0)
			r = put_segment(u, j->seg);
		pthread_mutex_lock(&u->mu);
		j->busy = false;
		if (r == 0) {
			u->n_segments++;
			u->n_bytes += segment_size(j->seg);
			remove_locked(u, j);
			segment_free(j->seg);
			free(j);
			pthread_cond_broadcast(&u->done);
			continue;
		}
		/* Exponential backoff, 100 ms doubling to 10 s. */
		uint64_t delay_ms = 100ull << (j->attempts < 7 ? j->attempts : 7);
		if (delay_ms > 10000)
			delay_ms = 10000;
		j->attempts++;
		j->not_before_ns = clock_mono_ns() + delay_ms * 1000000ull;
		u->n_retries++;
		char name[SEGMENT_NAME_MAX];
		segment_name(segment_epoch(j->seg), segment_counter(j->seg), name);
		log_warn("data: upload %s (%zu bytes) failed: %s; retry %u in %" PRIu64 " ms "
			 "(the data stays in RAM)", name, segment_size(j->seg), strerror(-r),
			 j->attempts, delay_ms);
		pthread_cond_broadcast(&u->work);
	}
	pthread_mutex_unlock(&u->mu);
	return NULL;
}

struct uploader *upload_new(objstore *st, const uint8_t key[CRYPT_KEY_BYTES], unsigned threads,
			    unsigned max_in_flight)
{
	struct uploader *u = xcalloc(1, sizeof *u);
	u->st = st;
	memcpy(u->key, key, sizeof u->key);
	u->max_in_flight = max_in_flight ? max_in_flight : 1;
	u->next_ticket = 1;
	pthread_mutex_init(&u->mu, NULL);
	pthread_cond_init(&u->work, NULL);
	pthread_cond_init(&u->done, NULL);
	u->nthreads = threads ? threads : 1;
	u->threads = xcalloc(u->nthreads, sizeof *u->threads);
	for (unsigned i = 0; i < u->nthreads; i++)
		if (pthread_create(&u->threads[i], NULL, upload_main, u) != 0) {
			log_error("data: cannot start upload thread");
			abort();
		}
	return u;
}

void upload_free(struct uploader *u)
{
	if (!u)
		return;
	pthread_mutex_lock(&u->mu);
	u->stop = true;
	pthread_cond_broadcast(&u->work);
	pthread_cond_broadcast(&u->done);
	pthread_mutex_unlock(&u->mu);
	for (unsigned i = 0; i < u->nthreads; i++)
		pthread_join(u->threads[i], NULL);
	while (u->jobs) {
		struct job *j = u->jobs;
		u->jobs = j->next;
		segment_free(j->seg);
		free(j);
	}
	free(u->threads);
	crypt_wipe(u->key, sizeof u->key);
	pthread_cond_destroy(&u->work);
	pthread_cond_destroy(&u->done);
	pthread_mutex_destroy(&u->mu);
	free(u);
}

void upload_submit(struct uploader *u, struct segment *s)
{
	struct job *j = xcalloc(1, sizeof *j);
	j->seg = s;
	pthread_mutex_lock(&u->mu);
	j->ticket = u->next_ticket++;
	struct job **pp = &u->jobs;
	while (*pp)
		pp = &(*pp)->next;
	*pp = j;
	u->count++;
	pthread_cond_signal(&u->work);
	pthread_mutex_unlock(&u->mu);
}

int upload_read_frame(struct uploader *u, const struct frame_loc *loc, struct buf *out)
{
	struct segment *s = NULL;
	pthread_mutex_lock(&u->mu);
	for (struct job *j = u->jobs; j; j = j->next)
		if (segment_epoch(j->seg) == loc->epoch && segment_counter(j->seg) == loc->counter) {
			s = j->seg;
			segment_ref(s);
			break;
		}
	pthread_mutex_unlock(&u->mu);
	if (!s)
		return -ENOENT;
	/* Outside u->mu: the frame may still be being filled. */
	int r = segment_copy_frame(s, loc, out);
	segment_free(s);
	return r;
}

void upload_wait_room(struct uploader *u)
{
	pthread_mutex_lock(&u->mu);
	while (u->count > u->max_in_flight && !u->stop)
		pthread_cond_wait(&u->done, &u->mu);
	pthread_mutex_unlock(&u->mu);
}

bool upload_holds(struct uploader *u, uint64_t epoch, uint64_t counter)
{
	bool held = false;
	pthread_mutex_lock(&u->mu);
	for (struct job *j = u->jobs; j && !held; j = j->next)
		held = segment_epoch(j->seg) == epoch && segment_counter(j->seg) == counter;
	pthread_mutex_unlock(&u->mu);
	return held;
}

int upload_drain(struct uploader *u, uint64_t timeout_ms)
{
	uint64_t deadline = clock_mono_ns() + timeout_ms * 1000000ull;
	int r = 0;
	pthread_mutex_lock(&u->mu);
	uint64_t target = u->next_ticket;
	while (lowest_pending_locked(u) < target) {
		uint64_t now = clock_mono_ns();
		if (now >= deadline || u->stop) {
			r = -ETIMEDOUT;
			break;
		}
		clock_cond_wait(&u->done, &u->mu, deadline - now);
	}
	pthread_mutex_unlock(&u->mu);
	return r;
}

void upload_stats(struct uploader *u, struct upload_stats *st)
{
	pthread_mutex_lock(&u->mu);
	st->segments = u->n_segments;
	st->bytes = u->n_bytes;
	st->retries = u->n_retries;
	st->waiting = u->count;
	st->waiting_bytes = 0;
	for (struct job *j = u->jobs; j; j = j->next)
		st->waiting_bytes += segment_size(j->seg);
	pthread_mutex_unlock(&u->mu);
}
