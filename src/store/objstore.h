/* objstore.h -- the object store: the only durable state bucketfs has.
 *
 * A flat namespace of immutable-by-convention objects named by keys
 * (printable strings without NUL, at most 1024 bytes).  The contract every
 * backend keeps, and that the layers above rely on:
 *
 *  - put replaces the whole object atomically: a reader sees the old object
 *    or the new one, never a mix or a prefix.  A put that returned 0 is
 *    durable (file://: file and directory fsynced).
 *  - put_if_absent creates the object only if no object has the key; of N
 *    concurrent creators exactly one gets 0 and the rest -EEXIST.  This is
 *    the fencing primitive (manifests are written only with it).  A backend
 *    that cannot do it returns -ENOTSUP.
 *  - get of a missing key is -ENOENT; a range that starts past the end is
 *    -ERANGE; a range that runs past the end is cut at the end.
 *  - delete of a missing key is 0 (S3 semantics).
 *  - list returns keys with the prefix in byte order, strictly after
 *    start_after, at most max_keys of them (0 = backend default, 1000), and
 *    says whether more remain.
 *
 * Every function is safe to call from many threads at once.  Functions
 * return 0 or a negative errno; backends log unexpected failures themselves
 * (naming operation, key and cause) and return -EIO.  -ENOENT, -EEXIST and
 * -ERANGE are not logged: they are answers, not failures.
 *
 * Backends, chosen by URL in objstore_open():
 *   file:///abs/dir   objects as files under dir (the embedded default)
 *   memory://name     in-process; every open of the same name shares one
 *                     store for the life of the process (tests reopen it)
 *   s3://bucket/prefix  an S3 bucket (SigV4 over libcurl; endpoint,
 *                     region and credentials from the environment, see
 *                     store/s3.h); keys are stored under "prefix/".  A
 *                     multipart put (objects above 64 MiB) runs its parts
 *                     on short-lived threads that it joins before returning.
 * and objstore_fault_wrap() wraps any store to inject failures in tests. */
#ifndef BUCKETFS_STORE_OBJSTORE_H
#define BUCKETFS_STORE_OBJSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct objstore objstore;

#define OBJSTORE_KEY_MAX 1024
#define OBJSTORE_ETAG_MAX 80
#define OBJSTORE_LIST_DEFAULT 1000
#define OBJSTORE_GET_TO_END UINT64_MAX

struct objstore_info {
	uint64_t size;
	char etag[OBJSTORE_ETAG_MAX]; /* opaque, changes when the object changes */
};

struct objstore_entry {
	char *key;
	uint64_t size;
};

struct objstore_listing {
	struct objstore_entry *entries;
	size_t count;
	bool truncated; /* more keys remain after the last entry */
};

/* Open a store by URL.  -EINVAL (logged) for a malformed or unknown URL;
 * file:// creates the directory if it does not exist. */
int objstore_open(const char *url, objstore **out);
void objstore_close(objstore *st);
/* The URL the store was opened with (for messages). */
const char *objstore_url(const objstore *st);
/* The longest key this store accepts: OBJSTORE_KEY_MAX, less the length of
 * the prefix for s3:// (S3 names are at most 1024 bytes in all).  Longer
 * keys are -EINVAL like any other invalid key. */
size_t objstore_key_max(const objstore *st);

int objstore_put(objstore *st, const char *key, const void *data, size_t len);
int objstore_put_if_absent(objstore *st, const char *key, const void *data, size_t len);
/* Read `len` bytes from `off` (len OBJSTORE_GET_TO_END = to the end).  On
 * success *data is a malloc'ed buffer of *out_len bytes (caller frees; a
 * zero-length result is a valid non-NULL buffer). */
int objstore_get(objstore *st, const char *key, uint64_t off, uint64_t len,
		 void **data, size_t *out_len);
int objstore_head(objstore *st, const char *key, struct objstore_info *info);
int objstore_delete(objstore *st, const char *key);
/* Delete n keys (missing ones are fine, as for objstore_delete).  Every
 * key is validated first (-EINVAL, nothing deleted).  s3:// sends batches
 * of 1000 in one DeleteObjects request each; other backends delete one by
 * one.  On failure some of the keys may be gone and others not. */
int objstore_delete_many(objstore *st, const char *const *keys, size_t n);
/* start_after may be NULL or "".  Free the result with objstore_listing_free. */
int objstore_list(objstore *st, const char *prefix, const char *start_after,
		  size_t max_keys, struct objstore_listing *out);
void objstore_listing_free(struct objstore_listing *l);
/* Pages through every key with the prefix after start_after, calling cb for
 * each in order; a non-zero return from cb stops and is returned. */
int objstore_list_all(objstore *st, const char *prefix, const char *start_after,
		      int (*cb)(void *arg, const struct objstore_entry *e), void *arg);

/* Check that the store honours put_if_absent, as a writer needs for
 * fencing: put_if_absent twice on a fresh probe key (under
 * "bucketfs-probe/"), expecting 0 and then -EEXIST, then delete it.
 * -ENOTSUP (logged) if the store overwrote or cannot do it; other errors
 * as the store gave them. */
int objstore_probe_conditional_put(objstore *st);

/* Delete every object of the memory store `name` (tests); no-op if no
 * store of that name was ever opened. */
void objstore_memory_reset(const char *name);

/* ---- fault injection (tests only) ----
 *
 * The wrapper forwards to `inner` (which it then owns and closes) and,
 * according to the configuration, makes calls fail.  Decisions are drawn
 * from a PRNG seeded by `seed`, so a failing run can be replayed. */
enum objstore_op {
	OBJSTORE_OP_PUT = 1 << 0,          /* put and put_if_absent */
	OBJSTORE_OP_GET = 1 << 1,
	OBJSTORE_OP_HEAD = 1 << 2,
	OBJSTORE_OP_DELETE = 1 << 3,
	OBJSTORE_OP_LIST = 1 << 4,
	OBJSTORE_OP_ALL = 0x1f,
};

struct objstore_fault_config {
	unsigned ops;            /* mask of objstore_op the faults apply to (0 = all) */
	const char *key_prefix;  /* only keys (list: prefixes) starting with this, so a
				    test can fail one kind of object; NULL = every key;
				    the caller keeps the string alive */
	double error_rate;       /* probability a call fails with -EIO, nothing done */
	double torn_write_rate;  /* probability a put stores only a random prefix of
				    the bytes (a non-atomic store) and returns -EIO */
	double lost_ack_rate;    /* probability a put succeeds in the inner store
				    but returns -EIO (the reply was lost) */
	uint64_t latency_us;     /* added to every affected call */
	uint64_t fail_at;        /* the Nth affected call (1-based) fails; 0 = off */
	bool fail_after;         /* with fail_at: every call from the Nth on fails */
	uint64_t seed;
};

int objstore_fault_wrap(objstore *inner, const struct objstore_fault_config *cfg,
			objstore **out);
/* Change the configuration of a wrapper (counters restart at 0). */
void objstore_fault_set(objstore *st, const struct objstore_fault_config *cfg);
/* Affected calls seen and faults injected since the last set. */
uint64_t objstore_fault_calls(const objstore *st);
uint64_t objstore_fault_injected(const objstore *st);

#endif
