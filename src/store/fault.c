/* fault.c -- the fault-injecting wrapper (tests only; see objstore.h).
 *
 * Every call whose operation is in the configured mask is "affected": it is
 * counted, delayed by latency_us, and may be made to fail.  The decision is
 * taken under the wrapper's mutex from a seeded splitmix64 generator, in
 * this order:
 *   1. fail_at: the Nth affected call (or, with fail_after, every call from
 *      the Nth on) fails with -EIO without reaching the inner store;
 *   2. error_rate: the call fails with -EIO without reaching the inner store;
 *   3. puts only: torn_write_rate stores a strict prefix of the bytes and
 *      returns -EIO; lost_ack_rate stores everything and returns -EIO.
 * A torn put_if_absent stores its prefix with put_if_absent, so fencing
 * still holds: a torn create never replaces an existing object.
 * Single-threaded callers get the same decisions for the same seed. */
#include "store/objstore.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/backend.h"
#include "util/log.h"
#include "util/mem.h"

enum fault_kind {
	FAULT_NONE,
	FAULT_ERROR,
	FAULT_TORN,
	FAULT_LOST_ACK,
};

struct fault_store {
	struct objstore base;
	objstore *inner;
	pthread_mutex_t lock;
	struct objstore_fault_config cfg; /* under lock */
	uint64_t rng;                     /* under lock */
	_Atomic uint64_t calls;
	_Atomic uint64_t injected;
};

static const struct objstore_ops fault_ops;

static struct fault_store *fault_of(objstore *st)
{
	return (struct fault_store *)st;
}

/* Caller holds the lock. */
static uint64_t rng_next(struct fault_store *f)
{
	uint64_t z = (f->rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static double rng_unit(struct fault_store *f)
{
	return (double)(rng_next(f) >> 11) * 0x1.0p-53;
}

/* Caller holds the lock.  Every rate draws a number whether or not it is
 * set, so that enabling one fault does not shift the others' sequence. */
static enum fault_kind decide(struct fault_store *f, bool is_put, uint64_t n)
{
	const struct objstore_fault_config *c = &f->cfg;
	double e = rng_unit(f), t = rng_unit(f), l = rng_unit(f);

	if (c->fail_at && (n == c->fail_at || (c->fail_after && n > c->fail_at)))
		return FAULT_ERROR;
	if (e < c->error_rate)
		return FAULT_ERROR;
	if (is_put && t < c->torn_write_rate)
		return FAULT_TORN;
	if (is_put && l < c->lost_ack_rate)
		return FAULT_LOST_ACK;
	return FAULT_NONE;
}

static void sleep_us(uint64_t us)
{
	struct timespec ts = { (time_t)(us / 1000000), (long)(us % 1000000) * 1000 };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* Count an affected call, pick its fate, and apply the latency.  For a put
 * that will be torn, *torn_len receives the prefix length. */
static enum fault_kind begin_call(struct fault_store *f, enum objstore_op op, const char *key,
				  size_t put_len, size_t *torn_len)
{
	enum fault_kind kind;
	uint64_t latency;
	unsigned mask;

	pthread_mutex_lock(&f->lock);
	mask = f->cfg.ops ? f->cfg.ops : OBJSTORE_OP_ALL;
	const char *pre = f->cfg.key_prefix;
	if (!(mask & (unsigned)op) || (pre && (!key || strncmp(key, pre, strlen(pre))))) {
		pthread_mutex_unlock(&f->lock);
		return FAULT_NONE;
	}
	kind = decide(f, op == OBJSTORE_OP_PUT, atomic_fetch_add(&f->calls, 1) + 1);
	if (kind == FAULT_TORN && torn_len)
		*torn_len = put_len ? (size_t)(rng_next(f) % put_len) : 0;
	if (kind != FAULT_NONE)
		atomic_fetch_add(&f->injected, 1);
	latency = f->cfg.latency_us;
	pthread_mutex_unlock(&f->lock);
	if (latency)
		sleep_us(latency);
	return kind;
}

static int injected(const char *op, const char *key, const char *what)
{
	log_debug("fault store: %s %s: injected %s", op, key, what);
	return -EIO;
}

/* put and put_if_absent; only_new selects the latter. */
static int fault_store_object(objstore *st, const char *key, const void *data,
			      size_t len, bool only_new)
{
	struct fault_store *f = fault_of(st);
	int (*put)(objstore *, const char *, const void *, size_t) =
		only_new ? objstore_put_if_absent : objstore_put;
	const char *op = only_new ? "put_if_absent" : "put";
	size_t torn_len = 0;

	switch (begin_call(f, OBJSTORE_OP_PUT, key, len, &torn_len)) {
	case FAULT_ERROR:
		return injected(op, key, "error");
	case FAULT_TORN:
		put(f->inner, key, data, torn_len);
		return injected(op, key, "torn write");
	case FAULT_LOST_ACK:
		put(f->inner, key, data, len);
		return injected(op, key, "lost acknowledgement");
	case FAULT_NONE:
		break;
	}
	return put(f->inner, key, data, len);
}

static int fault_put(objstore *st, const char *key, const void *data, size_t len)
{
	return fault_store_object(st, key, data, len, false);
}

static int fault_put_if_absent(objstore *st, const char *key, const void *data, size_t len)
{
	return fault_store_object(st, key, data, len, true);
}

static int fault_get(objstore *st, const char *key, uint64_t off, uint64_t len,
		     void **data, size_t *out_len)
{
	struct fault_store *f = fault_of(st);

	if (begin_call(f, OBJSTORE_OP_GET, key, 0, NULL) != FAULT_NONE)
		return injected("get", key, "error");
	return objstore_get(f->inner, key, off, len, data, out_len);
}

static int fault_head(objstore *st, const char *key, struct objstore_info *info)
{
	struct fault_store *f = fault_of(st);

	if (begin_call(f, OBJSTORE_OP_HEAD, key, 0, NULL) != FAULT_NONE)
		return injected("head", key, "error");
	return objstore_head(f->inner, key, info);
}

static int fault_del(objstore *st, const char *key)
{
	struct fault_store *f = fault_of(st);

	if (begin_call(f, OBJSTORE_OP_DELETE, key, 0, NULL) != FAULT_NONE)
		return injected("delete", key, "error");
	return objstore_delete(f->inner, key);
}

static int fault_list(objstore *st, const char *prefix, const char *start_after,
		      size_t max_keys, struct objstore_listing *out)
{
	struct fault_store *f = fault_of(st);

	if (begin_call(f, OBJSTORE_OP_LIST, prefix, 0, NULL) != FAULT_NONE)
		return injected("list", prefix, "error");
	return objstore_list(f->inner, prefix, start_after, max_keys, out);
}

static void fault_close(objstore *st)
{
	struct fault_store *f = fault_of(st);

	objstore_close(f->inner);
	pthread_mutex_destroy(&f->lock);
	free(f->base.url);
	free(f);
}

static const struct objstore_ops fault_ops = {
	.name = "fault",
	.put = fault_put,
	.put_if_absent = fault_put_if_absent,
	.get = fault_get,
	.head = fault_head,
	.del = fault_del,
	.list = fault_list,
	.close = fault_close,
};

/* Caller holds the lock (or owns f exclusively). */
static void configure(struct fault_store *f, const struct objstore_fault_config *cfg)
{
	f->cfg = *cfg;
	f->rng = cfg->seed;
	atomic_store(&f->calls, 0);
	atomic_store(&f->injected, 0);
}

int objstore_fault_wrap(objstore *inner, const struct objstore_fault_config *cfg,
			objstore **out)
{
	struct fault_store *f;

	if (!inner || !cfg || !out) {
		log_error("fault store: wrap: missing store, configuration or result pointer");
		return -EINVAL;
	}
	f = xcalloc(1, sizeof *f);
	f->base.ops = &fault_ops;
	f->base.url = xasprintf("fault+%s", objstore_url(inner));
	f->base.key_max = inner->key_max;
	f->inner = inner;
	pthread_mutex_init(&f->lock, NULL);
	configure(f, cfg);
	*out = &f->base;
	return 0;
}

static struct fault_store *as_fault(const objstore *st, const char *op)
{
	if (st && st->ops == &fault_ops)
		return (struct fault_store *)st;
	log_error("fault store: %s: %s is not a fault-injecting store", op,
		  st ? st->url : "(null)");
	return NULL;
}

void objstore_fault_set(objstore *st, const struct objstore_fault_config *cfg)
{
	struct fault_store *f = as_fault(st, "set");

	if (!f || !cfg)
		return;
	pthread_mutex_lock(&f->lock);
	configure(f, cfg);
	pthread_mutex_unlock(&f->lock);
}

uint64_t objstore_fault_calls(const objstore *st)
{
	struct fault_store *f = as_fault(st, "calls");

	return f ? atomic_load(&f->calls) : 0;
}

uint64_t objstore_fault_injected(const objstore *st)
{
	struct fault_store *f = as_fault(st, "injected");

	return f ? atomic_load(&f->injected) : 0;
}
