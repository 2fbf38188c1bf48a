/* test-store.c -- the object store contract (objstore.h), one conformance
 * suite run against every backend, plus what is particular to file:// and
 * memory:// and to opening stores by URL.
 *
 * The suite runs against memory:// and a fresh file:// directory, and also
 * against BUCKETFS_TEST_STORE_URL when that is set (say an s3:// bucket).
 * Each test works below its own key prefix and deletes what it made, so it
 * can share a real bucket with other runs.
 *
 * Races (put_if_absent from threads and processes, readers during
 * overwrites) are in test-store-race.c; the fault wrapper is in
 * test-store-fault.c. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>

#include "store/objstore.h"
#include "testutil.h"

struct backend {
	const char *name;
	char *url;
	char many_ns[64]; /* where the MANY_KEYS objects are, once made */
};

/* One test's view: a store and a key prefix of its own. */
struct fx {
	struct backend *be;
	objstore *st;
	char ns[64];
	char keys[4][OBJSTORE_KEY_MAX + 1];
	unsigned next_key;
};

static struct test_rng rng;
static char *file_dir;
static struct backend backends[3];
static size_t nbackends;
static unsigned fx_seq;

/* ---- helpers ---- */

/* The key `name` inside the test's prefix (valid until 4 more calls). */
static const char *K(struct fx *f, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static const char *K(struct fx *f, const char *fmt, ...)
{
	char *k = f->keys[f->next_key++ % 4];
	size_t n = strlen(f->ns);
	va_list ap;

	memcpy(k, f->ns, n);
	va_start(ap, fmt);
	vsnprintf(k + n, sizeof f->keys[0] - n, fmt, ap);
	va_end(ap);
	return k;
}

static uint8_t *random_bytes(size_t n)
{
	uint8_t *p = xmalloc(n);

	test_rng_fill(&rng, p, n);
	return p;
}

static void put_str(objstore *st, const char *key, const char *s)
{
	assert_int_equal(objstore_put(st, key, s, strlen(s)), 0);
}

/* Assert the whole object equals (data, len). */
static void assert_object(objstore *st, const char *key, const void *data, size_t len)
{
	void *got = NULL;
	size_t got_len = 99;

	assert_int_equal(objstore_get(st, key, 0, OBJSTORE_GET_TO_END, &got, &got_len), 0);
	assert_non_null(got);
	assert_int_equal(got_len, len);
	if (len)
		assert_memory_equal(got, data, len);
	free(got);
}

static void assert_range(objstore *st, const char *key, uint64_t off, uint64_t len,
			 const void *want, size_t want_len)
{
	void *got = NULL;
	size_t got_len = 99;

	assert_int_equal(objstore_get(st, key, off, len, &got, &got_len), 0);
	assert_non_null(got);
	assert_int_equal(got_len, want_len);
	if (want_len)
		assert_memory_equal(got, want, want_len);
	free(got);
}

static void assert_missing(objstore *st, const char *key)
{
	struct objstore_info info;
	void *got = NULL;
	size_t len;

	assert_int_equal(objstore_get(st, key, 0, OBJSTORE_GET_TO_END, &got, &len), -ENOENT);
	assert_null(got);
	assert_int_equal(objstore_head(st, key, &info), -ENOENT);
}

/* Assert a page holds exactly the keys in want (NULL-terminated). */
static void assert_page(const struct objstore_listing *l, const char *const *want,
			bool truncated)
{
	size_t i;

	for (i = 0; want[i]; i++) {
		assert_true(i < l->count);
		assert_string_equal(l->entries[i].key, want[i]);
	}
	assert_int_equal(l->count, i);
	assert_int_equal(l->truncated, truncated);
}

/* ---- fixture ---- */

static int fx_setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof *f);

	f->be = *state;
	snprintf(f->ns, sizeof f->ns, "t%ld-%llx-%u/", (long)getpid(),
		 (unsigned long long)test_rng_next(&rng) & 0xffffff, fx_seq++);
	if (objstore_open(f->be->url, &f->st)) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int delete_cb(void *arg, const struct objstore_entry *e)
{
	return objstore_delete(arg, e->key);
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;
	int rc = objstore_list_all(f->st, f->ns, NULL, delete_cb, f->st);

	objstore_close(f->st);
	free(f);
	return rc ? -1 : 0;
}

/* ---- conformance suite ---- */

static void test_put_get_round_trip(void **state)
{
	struct fx *f = *state;
	static const char hello[] = "hello, object store";

	assert_int_equal(objstore_put(f->st, K(f, "hello"), hello, sizeof hello), 0);
	assert_object(f->st, K(f, "hello"), hello, sizeof hello);
	assert_int_equal(objstore_put(f->st, K(f, "deep/er/still/key"), "x", 1), 0);
	assert_object(f->st, K(f, "deep/er/still/key"), "x", 1);
}

static void test_put_get_empty_object(void **state)
{
	struct fx *f = *state;
	struct objstore_info info;

	assert_int_equal(objstore_put(f->st, K(f, "empty"), NULL, 0), 0);
	assert_object(f->st, K(f, "empty"), NULL, 0);
	assert_range(f->st, K(f, "empty"), 0, 10, NULL, 0);
	assert_int_equal(objstore_head(f->st, K(f, "empty"), &info), 0);
	assert_int_equal(info.size, 0);
	assert_true(info.etag[0] != '\0');
}

static void test_put_get_multi_mib_object(void **state)
{
	struct fx *f = *state;
	size_t n = 3 * 1024 * 1024 + 17;
	uint8_t *data = random_bytes(n);

	assert_int_equal(objstore_put(f->st, K(f, "big"), data, n), 0);
	assert_object(f->st, K(f, "big"), data, n);
	assert_range(f->st, K(f, "big"), 1024 * 1024 + 3, 1000000, data + 1024 * 1024 + 3, 1000000);
	free(data);
}

static void test_overwrite_replaces_whole_object(void **state)
{
	struct fx *f = *state;

	put_str(f->st, K(f, "obj"), "a much longer first version");
	put_str(f->st, K(f, "obj"), "short");
	assert_object(f->st, K(f, "obj"), "short", 5);
	put_str(f->st, K(f, "obj"), "");
	assert_object(f->st, K(f, "obj"), "", 0);
}

static void test_get_ranges(void **state)
{
	struct fx *f = *state;
	const char *data = "0123456789";
	void *got = NULL;
	size_t len = 99;

	put_str(f->st, K(f, "r"), data);
	assert_range(f->st, K(f, "r"), 0, 4, "0123", 4);
	assert_range(f->st, K(f, "r"), 3, 4, "3456", 4);
	assert_range(f->st, K(f, "r"), 7, 100, "789", 3);
	assert_range(f->st, K(f, "r"), 9, OBJSTORE_GET_TO_END, "9", 1);
	assert_range(f->st, K(f, "r"), 5, 0, NULL, 0);
	assert_range(f->st, K(f, "r"), 10, 5, NULL, 0);
	assert_range(f->st, K(f, "r"), 10, OBJSTORE_GET_TO_END, NULL, 0);
	assert_int_equal(objstore_get(f->st, K(f, "r"), 11, 1, &got, &len), -ERANGE);
	assert_null(got);
	assert_int_equal(objstore_get(f->st, K(f, "r"), UINT64_MAX - 1, 1, &got, &len), -ERANGE);
}

static void test_head_size_and_etag_change_on_overwrite(void **state)
{
	struct fx *f = *state;
	struct objstore_info a, b, c, d;

	put_str(f->st, K(f, "h"), "first");
	assert_int_equal(objstore_head(f->st, K(f, "h"), &a), 0);
	assert_int_equal(a.size, 5);
	assert_int_equal(objstore_head(f->st, K(f, "h"), &b), 0);
	assert_string_equal(a.etag, b.etag);
	put_str(f->st, K(f, "h"), "other"); /* same size, new bytes */
	assert_int_equal(objstore_head(f->st, K(f, "h"), &c), 0);
	assert_int_equal(c.size, 5);
	assert_string_not_equal(a.etag, c.etag);
	put_str(f->st, K(f, "h"), "longer now");
	assert_int_equal(objstore_head(f->st, K(f, "h"), &d), 0);
	assert_int_equal(d.size, 10);
	assert_string_not_equal(c.etag, d.etag);
}

static void test_missing_object(void **state)
{
	struct fx *f = *state;

	assert_missing(f->st, K(f, "nope"));
	assert_missing(f->st, K(f, "no/such/dir/key"));
	assert_int_equal(objstore_delete(f->st, K(f, "nope")), 0);
	assert_int_equal(objstore_delete(f->st, K(f, "no/such/dir/key")), 0);
}

static void test_delete(void **state)
{
	struct fx *f = *state;
	struct objstore_listing l;

	put_str(f->st, K(f, "d/one"), "1");
	put_str(f->st, K(f, "d/two"), "2");
	assert_int_equal(objstore_delete(f->st, K(f, "d/one")), 0);
	assert_missing(f->st, K(f, "d/one"));
	assert_object(f->st, K(f, "d/two"), "2", 1);
	assert_int_equal(objstore_delete(f->st, K(f, "d/one")), 0);
	assert_int_equal(objstore_list(f->st, K(f, "d/"), NULL, 0, &l), 0);
	assert_int_equal(l.count, 1);
	assert_string_equal(l.entries[0].key, K(f, "d/two"));
	objstore_listing_free(&l);
	/* With everything under d/ gone, d/ can be filled again. */
	assert_int_equal(objstore_delete(f->st, K(f, "d/two")), 0);
	put_str(f->st, K(f, "d/one"), "again");
	assert_object(f->st, K(f, "d/one"), "again", 5);
}

static void test_put_if_absent(void **state)
{
	struct fx *f = *state;

	assert_int_equal(objstore_put_if_absent(f->st, K(f, "m/0001"), "first", 5), 0);
	assert_int_equal(objstore_put_if_absent(f->st, K(f, "m/0001"), "second", 6), -EEXIST);
	assert_object(f->st, K(f, "m/0001"), "first", 5);
	assert_int_equal(objstore_put_if_absent(f->st, K(f, "m/0002"), NULL, 0), 0);
	assert_int_equal(objstore_put_if_absent(f->st, K(f, "m/0002"), NULL, 0), -EEXIST);
	/* A plain put still replaces it; after a delete it can be created again. */
	put_str(f->st, K(f, "m/0001"), "replaced");
	assert_object(f->st, K(f, "m/0001"), "replaced", 8);
	assert_int_equal(objstore_delete(f->st, K(f, "m/0001")), 0);
	assert_int_equal(objstore_put_if_absent(f->st, K(f, "m/0001"), "third", 5), 0);
	assert_object(f->st, K(f, "m/0001"), "third", 5);
}

static void test_delete_many(void **state)
{
	struct fx *f = *state;
	char *keys[6], *bad[3];
	struct objstore_listing l;
	size_t i;

	for (i = 0; i < 6; i++) {
		keys[i] = xasprintf("%sdm/%zu", f->ns, i);
		if (i < 5)
			put_str(f->st, keys[i], "x");
	}
	assert_int_equal(objstore_delete_many(f->st, NULL, 0), 0);
	/* An invalid key anywhere refuses the whole call. */
	bad[0] = keys[0];
	bad[1] = "a//b";
	bad[2] = keys[1];
	assert_int_equal(objstore_delete_many(f->st, (const char *const *)bad, 3), -EINVAL);
	assert_object(f->st, keys[0], "x", 1);
	/* keys[5] was never made: missing keys are fine. */
	assert_int_equal(objstore_delete_many(f->st, (const char *const *)keys + 2, 4), 0);
	assert_int_equal(objstore_list(f->st, K(f, "dm/"), NULL, 0, &l), 0);
	assert_int_equal(l.count, 2);
	assert_string_equal(l.entries[0].key, keys[0]);
	assert_string_equal(l.entries[1].key, keys[1]);
	objstore_listing_free(&l);
	for (i = 0; i < 6; i++)
		free(keys[i]);
}

/* Keys whose byte order crosses "directory" boundaries: '-' < '.' < '/' < '0'. */
static const char *const order_keys[] = {
	"d/x/sub/3", "d/y", "d/x0", "d/x/2", "d/x.1", "d/x/1", "d/x-1", "e", NULL,
};

static void put_order_keys(struct fx *f)
{
	size_t i;

	for (i = 0; order_keys[i]; i++)
		put_str(f->st, K(f, "%s", order_keys[i]), order_keys[i]);
}

/* List `prefix` (inside the namespace) after `after` and compare. */
static void check_list(struct fx *f, const char *prefix, const char *after,
		       size_t max_keys, bool truncated, const char *const *want)
{
	char *p = xasprintf("%s%s", f->ns, prefix);
	char *a = after ? xasprintf("%s%s", f->ns, after) : NULL;
	const char *full[16];
	char *owned[16];
	struct objstore_listing l;
	size_t i;

	for (i = 0; want[i]; i++)
		full[i] = owned[i] = xasprintf("%s%s", f->ns, want[i]);
	full[i] = NULL;
	assert_int_equal(objstore_list(f->st, p, a, max_keys, &l), 0);
	assert_page(&l, full, truncated);
	objstore_listing_free(&l);
	while (i--)
		free(owned[i]);
	free(p);
	free(a);
}

static void test_list_byte_order_and_prefix(void **state)
{
	struct fx *f = *state;
	struct objstore_listing l;
	size_t i;

	put_order_keys(f);
	check_list(f, "", NULL, 0, false, (const char *[]){ "d/x-1", "d/x.1", "d/x/1",
		   "d/x/2", "d/x/sub/3", "d/x0", "d/y", "e", NULL });
	check_list(f, "d/x", NULL, 0, false, (const char *[]){ "d/x-1", "d/x.1", "d/x/1",
		   "d/x/2", "d/x/sub/3", "d/x0", NULL });
	check_list(f, "d/x/", NULL, 0, false, (const char *[]){ "d/x/1", "d/x/2",
		   "d/x/sub/3", NULL });
	check_list(f, "d/x/s", NULL, 0, false, (const char *[]){ "d/x/sub/3", NULL });
	check_list(f, "d/x/sub/3", NULL, 0, false, (const char *[]){ "d/x/sub/3", NULL });
	check_list(f, "d/z", NULL, 0, false, (const char *[]){ NULL });
	check_list(f, "nothing/here/", NULL, 0, false, (const char *[]){ NULL });
	check_list(f, "d/x/sub/3/", NULL, 0, false, (const char *[]){ NULL });
	/* Sizes come with the keys. */
	assert_int_equal(objstore_list(f->st, K(f, "d/"), NULL, 0, &l), 0);
	for (i = 0; i < l.count; i++)
		assert_int_equal(l.entries[i].size, strlen(l.entries[i].key) - strlen(f->ns));
	objstore_listing_free(&l);
}

static void test_list_start_after(void **state)
{
	struct fx *f = *state;
	struct objstore_listing l;

	put_order_keys(f);
	check_list(f, "d/", "d/x/1", 0, false, (const char *[]){ "d/x/2", "d/x/sub/3",
		   "d/x0", "d/y", NULL });
	check_list(f, "d/", "d/x/", 0, false, (const char *[]){ "d/x/1", "d/x/2",
		   "d/x/sub/3", "d/x0", "d/y", NULL });
	check_list(f, "d/", "d/x", 0, false, (const char *[]){ "d/x-1", "d/x.1", "d/x/1",
		   "d/x/2", "d/x/sub/3", "d/x0", "d/y", NULL });
	check_list(f, "d/", "d/x/sub/3", 0, false, (const char *[]){ "d/x0", "d/y", NULL });
	check_list(f, "d/", "d/x/sub", 0, false, (const char *[]){ "d/x/sub/3", "d/x0",
		   "d/y", NULL });
	check_list(f, "d/", "d/y", 0, false, (const char *[]){ NULL });
	check_list(f, "d/", "d/zzz", 0, false, (const char *[]){ NULL });
	check_list(f, "d/x/", "a", 0, false, (const char *[]){ "d/x/1", "d/x/2",
		   "d/x/sub/3", NULL });
	/* "" means from the start, like NULL. */
	assert_int_equal(objstore_list(f->st, K(f, "d/x/"), "", 0, &l), 0);
	assert_int_equal(l.count, 3);
	objstore_listing_free(&l);
}

static void test_list_max_keys_pages(void **state)
{
	struct fx *f = *state;

	put_order_keys(f);
	check_list(f, "d/", NULL, 2, true, (const char *[]){ "d/x-1", "d/x.1", NULL });
	check_list(f, "d/", "d/x.1", 2, true, (const char *[]){ "d/x/1", "d/x/2", NULL });
	check_list(f, "d/", "d/x/2", 2, true, (const char *[]){ "d/x/sub/3", "d/x0", NULL });
	check_list(f, "d/", "d/x0", 2, false, (const char *[]){ "d/y", NULL });
	check_list(f, "d/", NULL, 7, false, (const char *[]){ "d/x-1", "d/x.1", "d/x/1",
		   "d/x/2", "d/x/sub/3", "d/x0", "d/y", NULL });
	check_list(f, "d/", NULL, 6, true, (const char *[]){ "d/x-1", "d/x.1", "d/x/1",
		   "d/x/2", "d/x/sub/3", "d/x0", NULL });
}

#define MANY_KEYS 2500
#define PUT_THREADS 4

/* The list tests share one set of MANY_KEYS objects per backend, made by
 * the first test that needs it (puts cost a couple of fsyncs each on
 * file://) and removed at the end of the run. */
struct put_job {
	struct fx *f;
	unsigned first;
	int rc;
};

/* Keys spread over 25 "directories" of 100, so pages cross them. */
static void many_key(char *out, size_t n, const struct fx *f, unsigned i)
{
	snprintf(out, n, "%s%02u/%04u", f->be->many_ns, i / 100, i);
}

static void *put_many(void *arg)
{
	struct put_job *j = arg;
	char key[128];
	unsigned i;

	for (i = j->first; i < MANY_KEYS && !j->rc; i += PUT_THREADS) {
		many_key(key, sizeof key, j->f, i);
		j->rc = objstore_put(j->f->st, key, key, i % 7);
	}
	return NULL;
}

static void put_many_keys(struct fx *f)
{
	struct put_job jobs[PUT_THREADS];
	pthread_t t[PUT_THREADS];
	unsigned i;

	if (f->be->many_ns[0])
		return;
	snprintf(f->be->many_ns, sizeof f->be->many_ns, "many%ld-%llx/", (long)getpid(),
		 (unsigned long long)test_rng_next(&rng) & 0xffffff);
	for (i = 0; i < PUT_THREADS; i++) {
		jobs[i] = (struct put_job){ f, i, 0 };
		assert_int_equal(pthread_create(&t[i], NULL, put_many, &jobs[i]), 0);
	}
	for (i = 0; i < PUT_THREADS; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(jobs[i].rc, 0);
	}
}

struct key_list {
	char **keys;
	size_t n;
};

static int collect_key_cb(void *arg, const struct objstore_entry *e)
{
	struct key_list *kl = arg;

	kl->keys = xrealloc(kl->keys, (kl->n + 1) * sizeof kl->keys[0]);
	kl->keys[kl->n++] = xstrdup(e->key);
	return 0;
}

/* Remove the shared objects of a backend (the fixture only cleans up what
 * a test made below its own prefix), in one objstore_delete_many. */
static void remove_many_keys(struct backend *be)
{
	struct key_list kl = { 0 };
	objstore *st;
	size_t i;

	if (!be->many_ns[0] || objstore_open(be->url, &st))
		return;
	if (!objstore_list_all(st, be->many_ns, NULL, collect_key_cb, &kl) &&
	    objstore_delete_many(st, (const char *const *)kl.keys, kl.n))
		fprintf(stderr, "# could not remove the objects under %s\n", be->many_ns);
	for (i = 0; i < kl.n; i++)
		free(kl.keys[i]);
	free(kl.keys);
	objstore_close(st);
}

static void test_list_paginates_2500_keys(void **state)
{
	struct fx *f = *state;
	static const size_t page_sizes[] = { 1000, 1000, 500 };
	struct objstore_listing l;
	const char *prefix;
	char *after = NULL;
	char want[128];
	unsigned next = 0;
	size_t page, i;

	put_many_keys(f);
	prefix = f->be->many_ns;
	for (page = 0; page < 3; page++) {
		assert_int_equal(objstore_list(f->st, prefix, after, 1000, &l), 0);
		assert_int_equal(l.count, page_sizes[page]);
		assert_int_equal(l.truncated, page < 2);
		for (i = 0; i < l.count; i++, next++) {
			many_key(want, sizeof want, f, next);
			assert_string_equal(l.entries[i].key, want);
			assert_int_equal(l.entries[i].size, next % 7);
		}
		free(after);
		after = xstrdup(l.entries[l.count - 1].key);
		objstore_listing_free(&l);
	}
	assert_int_equal(next, MANY_KEYS);
	/* The default page is 1000 too. */
	assert_int_equal(objstore_list(f->st, prefix, NULL, 0, &l), 0);
	assert_int_equal(l.count, 1000);
	assert_true(l.truncated);
	objstore_listing_free(&l);
	free(after);
}

struct collect {
	unsigned seen;
	unsigned stop_at; /* 0 = never */
	char *first;
	char last[128];
	int order_broken;
};

static int collect_cb(void *arg, const struct objstore_entry *e)
{
	struct collect *c = arg;

	if (c->seen && strcmp(c->last, e->key) >= 0)
		c->order_broken = 1;
	if (!c->first)
		c->first = xstrdup(e->key);
	snprintf(c->last, sizeof c->last, "%s", e->key);
	c->seen++;
	return c->stop_at && c->seen == c->stop_at ? 42 : 0;
}

static void test_list_all(void **state)
{
	struct fx *f = *state;
	struct collect c = { 0 };
	const char *prefix;
	char want[128];

	put_many_keys(f);
	prefix = f->be->many_ns;
	assert_int_equal(objstore_list_all(f->st, prefix, NULL, collect_cb, &c), 0);
	assert_int_equal(c.seen, MANY_KEYS);
	assert_false(c.order_broken);
	many_key(want, sizeof want, f, MANY_KEYS - 1);
	assert_string_equal(c.last, want);
	free(c.first);

	/* start_after, and a callback that stops the walk in the second page. */
	c = (struct collect){ .stop_at = 1500 };
	many_key(want, sizeof want, f, 99);
	assert_int_equal(objstore_list_all(f->st, prefix, want, collect_cb, &c), 42);
	assert_int_equal(c.seen, 1500);
	many_key(want, sizeof want, f, 100);
	assert_string_equal(c.first, want);
	many_key(want, sizeof want, f, 1599);
	assert_string_equal(c.last, want);
	free(c.first);

	c = (struct collect){ 0 };
	assert_int_equal(objstore_list_all(f->st, K(f, "nothing/"), NULL, collect_cb, &c), 0);
	assert_int_equal(c.seen, 0);
}

static void assert_key_rejected(objstore *st, const char *key)
{
	struct objstore_info info;
	void *data = NULL;
	size_t len;

	assert_int_equal(objstore_put(st, key, "x", 1), -EINVAL);
	assert_int_equal(objstore_put_if_absent(st, key, "x", 1), -EINVAL);
	assert_int_equal(objstore_get(st, key, 0, OBJSTORE_GET_TO_END, &data, &len), -EINVAL);
	assert_int_equal(objstore_head(st, key, &info), -EINVAL);
	assert_int_equal(objstore_delete(st, key), -EINVAL);
	assert_null(data);
}

static void test_invalid_keys_rejected(void **state)
{
	struct fx *f = *state;
	static const char *const bad[] = {
		"", "/abs", "a//b", "trailing/", ".", "..", "./a", "a/.", "a/../b",
		"../escape", "new\nline", "tab\there", "del\x7f",
	};
	char key[OBJSTORE_KEY_MAX + 2];
	size_t i, max = objstore_key_max(f->st);

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_key_rejected(f->st, bad[i]);
	assert_key_rejected(f->st, NULL);

	/* 1024 bytes is the limit, less an s3:// store's prefix (components
	 * kept short for file systems). */
	assert_true(max <= OBJSTORE_KEY_MAX && max > 900);
	memset(key, 'k', sizeof key);
	for (i = 100; i < sizeof key; i += 101)
		key[i] = '/';
	memcpy(key, f->ns, strlen(f->ns));
	key[max - 1] = 'k'; /* no trailing '/' */
	key[max] = '\0';
	assert_int_equal(objstore_put(f->st, key, "long", 4), 0);
	assert_object(f->st, key, "long", 4);
	assert_int_equal(objstore_delete(f->st, key), 0);
	key[max] = 'k';
	key[max + 1] = '\0';
	assert_key_rejected(f->st, key);

	/* Names with dots that are not "." or ".." are fine. */
	put_str(f->st, K(f, ".hidden/..x/a.b"), "ok");
	assert_object(f->st, K(f, ".hidden/..x/a.b"), "ok", 2);
}

static void test_reopen_keeps_objects(void **state)
{
	struct fx *f = *state;
	objstore *again;

	put_str(f->st, K(f, "kept/obj"), "still here");
	assert_int_equal(objstore_open(f->be->url, &again), 0);
	assert_object(again, K(f, "kept/obj"), "still here", 10);
	objstore_close(again);
	objstore_close(f->st);
	assert_int_equal(objstore_open(f->be->url, &f->st), 0);
	assert_object(f->st, K(f, "kept/obj"), "still here", 10);
	assert_string_equal(objstore_url(f->st), f->be->url);
}

/* ---- opening ---- */

static void test_invalid_urls_rejected(void **state)
{
	static const char *const bad[] = {
		"", "nonsense", "file://", "file://relative/dir", "file:relative",
		"memory://", "memory:/x", "ftp://host/x", "fault+", "fault+nonsense",
		"MEMORY://x",
	};
	objstore *st = (objstore *)&st;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(objstore_open(bad[i], &st), -EINVAL);
		assert_null(st);
	}
	assert_int_equal(objstore_open(NULL, &st), -EINVAL);
	assert_int_equal(objstore_open("memory://x", NULL), -EINVAL);
}

static void test_fault_url_passes_through(void **state)
{
	objstore *st;

	(void)state;
	objstore_memory_reset("test-store-fault-url");
	assert_int_equal(objstore_open("fault+memory://test-store-fault-url", &st), 0);
	assert_string_equal(objstore_url(st), "fault+memory://test-store-fault-url");
	put_str(st, "a", "b");
	assert_object(st, "a", "b", 1);
	assert_int_equal(objstore_fault_calls(st), 2);
	assert_int_equal(objstore_fault_injected(st), 0);
	objstore_close(st);
}

/* ---- memory:// ---- */

static void test_memory_opens_share_and_reset_wipes(void **state)
{
	objstore *a, *b, *other;
	struct objstore_listing l;

	(void)state;
	assert_int_equal(objstore_open("memory://shared", &a), 0);
	assert_int_equal(objstore_open("memory://shared", &b), 0);
	assert_int_equal(objstore_open("memory://other", &other), 0);
	put_str(a, "k", "v");
	assert_object(b, "k", "v", 1);
	assert_missing(other, "k");
	objstore_close(a);
	assert_object(b, "k", "v", 1);
	objstore_memory_reset("shared");
	assert_missing(b, "k");
	assert_int_equal(objstore_list(b, "", NULL, 0, &l), 0);
	assert_int_equal(l.count, 0);
	objstore_listing_free(&l);
	put_str(b, "k", "after reset");
	assert_object(b, "k", "after reset", 11);
	objstore_memory_reset("never-opened");
	objstore_close(b);
	objstore_close(other);
}

/* ---- file:// ---- */

static char *file_path(const char *dir, const char *rel)
{
	return xasprintf("%s/%s", dir, rel);
}

static bool exists(const char *dir, const char *rel)
{
	char *p = file_path(dir, rel);
	struct stat st;
	bool ok = stat(p, &st) == 0;

	free(p);
	return ok;
}

static void write_file(const char *dir, const char *rel, const char *s)
{
	char *p = file_path(dir, rel);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s));
	close(fd);
	free(p);
}

/* Set a file's mtime `seconds` into the past. */
static void age(const char *dir, const char *rel, time_t seconds)
{
	char *p = file_path(dir, rel);
	struct timespec times[2] = { { time(NULL) - seconds, 0 }, { time(NULL) - seconds, 0 } };

	assert_int_equal(utimensat(AT_FDCWD, p, times, 0), 0);
	free(p);
}

static void test_file_objects_are_files_in_subdirectories(void **state)
{
	char *dir = test_tmpdir("store-layout");
	char *url = xasprintf("file://%s/sub/store/", dir);
	char *root = xasprintf("%s/sub/store", dir);
	char *lonely;
	objstore *st;

	(void)state;
	assert_int_equal(objstore_open(url, &st), 0);
	assert_string_equal(objstore_url(st), url);
	put_str(st, "segments/0/12/345", "frame bytes");
	assert_true(exists(root, "segments/0/12/345"));
	/* Deleting the last object of a directory removes the directories. */
	assert_int_equal(objstore_delete(st, "segments/0/12/345"), 0);
	assert_false(exists(root, "segments"));
	/* So a deleted directory's name can become an object and back. */
	put_str(st, "segments/0/12/345", "x");
	assert_int_equal(objstore_delete(st, "segments/0/12/345"), 0);
	put_str(st, "segments", "now a file");
	assert_object(st, "segments", "now a file", 10);
	assert_int_equal(objstore_delete(st, "segments"), 0);
	assert_int_equal(objstore_put_if_absent(st, "segments/0/1", "y", 1), 0);
	/* An empty directory left by a crash does not block a put. */
	lonely = file_path(root, "lonely");
	assert_int_equal(mkdir(lonely, 0755), 0);
	free(lonely);
	put_str(st, "lonely", "file now");
	assert_object(st, "lonely", "file now", 8);
	objstore_close(st);
	test_rmtree(dir);
	free(root);
	free(url);
	free(dir);
}

static void test_file_temp_files_never_listed(void **state)
{
	char *dir = test_tmpdir("store-tmp");
	char *url = xasprintf("file://%s", dir);
	struct objstore_listing l;
	objstore *st;
	char *cmd;

	(void)state;
	assert_int_equal(objstore_open(url, &st), 0);
	put_str(st, "a", "1");
	/* What a put that crashed between write and rename leaves behind. */
	write_file(dir, ".tmp/p12345-7", "half an object");
	assert_int_equal(objstore_list(st, "", NULL, 0, &l), 0);
	assert_int_equal(l.count, 1);
	assert_string_equal(l.entries[0].key, "a");
	objstore_listing_free(&l);
	assert_int_equal(objstore_list(st, ".", NULL, 0, &l), 0);
	assert_int_equal(l.count, 0);
	objstore_listing_free(&l);
	assert_int_equal(objstore_list(st, ".tmp/", NULL, 0, &l), 0);
	assert_int_equal(l.count, 0);
	objstore_listing_free(&l);
	/* The temp directory is not reachable as keys either. */
	assert_missing(st, ".tmp/p12345-7");
	assert_int_equal(objstore_put(st, ".tmp/x", "x", 1), -EINVAL);
	assert_int_equal(objstore_put(st, ".tmp", "x", 1), -EINVAL);
	assert_int_equal(objstore_delete(st, ".tmp/p12345-7"), 0);
	assert_true(exists(dir, ".tmp/p12345-7"));
	/* Puts leave nothing behind in it. */
	assert_int_equal(objstore_put_if_absent(st, "b", "2", 1), 0);
	assert_int_equal(objstore_put_if_absent(st, "b", "3", 1), -EEXIST);
	objstore_close(st);
	cmd = xasprintf("test $(ls -A '%s/.tmp' | wc -l) -eq 1", dir);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	/* Opening the store sweeps away temp files older than an hour. */
	write_file(dir, ".tmp/p999-1", "crashed long ago");
	age(dir, ".tmp/p999-1", 7200);
	assert_int_equal(objstore_open(url, &st), 0);
	assert_false(exists(dir, ".tmp/p999-1"));
	assert_true(exists(dir, ".tmp/p12345-7"));
	objstore_close(st);
	test_rmtree(dir);
	free(url);
	free(dir);
}

static void test_file_foreign_entries_ignored(void **state)
{
	char *dir = test_tmpdir("store-foreign");
	char *url = xasprintf("file://%s", dir);
	char *link = file_path(dir, "k/symlink");
	struct objstore_listing l;
	objstore *st;

	(void)state;
	assert_int_equal(objstore_open(url, &st), 0);
	put_str(st, "k/real", "1");
	assert_int_equal(symlink("/etc", link), 0);
	assert_int_equal(objstore_list(st, "k/", NULL, 0, &l), 0);
	assert_int_equal(l.count, 1);
	assert_string_equal(l.entries[0].key, "k/real");
	objstore_listing_free(&l);
	objstore_close(st);
	test_rmtree(dir);
	free(link);
	free(url);
	free(dir);
}

/* ---- running ---- */

#define SUITE(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)

static const struct CMUnitTest conformance[] = {
	SUITE(test_put_get_round_trip),
	SUITE(test_put_get_empty_object),
	SUITE(test_put_get_multi_mib_object),
	SUITE(test_overwrite_replaces_whole_object),
	SUITE(test_get_ranges),
	SUITE(test_head_size_and_etag_change_on_overwrite),
	SUITE(test_missing_object),
	SUITE(test_delete),
	SUITE(test_delete_many),
	SUITE(test_put_if_absent),
	SUITE(test_list_byte_order_and_prefix),
	SUITE(test_list_start_after),
	SUITE(test_list_max_keys_pages),
	SUITE(test_list_paginates_2500_keys),
	SUITE(test_list_all),
	SUITE(test_invalid_keys_rejected),
	SUITE(test_reopen_keeps_objects),
};

static const struct CMUnitTest single[] = {
	cmocka_unit_test(test_invalid_urls_rejected),
	cmocka_unit_test(test_fault_url_passes_through),
	cmocka_unit_test(test_memory_opens_share_and_reset_wipes),
	cmocka_unit_test(test_file_objects_are_files_in_subdirectories),
	cmocka_unit_test(test_file_temp_files_never_listed),
	cmocka_unit_test(test_file_foreign_entries_ignored),
};

static void add_backend(const char *name, char *url)
{
	backends[nbackends].name = name;
	backends[nbackends].url = url;
	nbackends++;
}

int main(void)
{
	size_t nconf = sizeof conformance / sizeof conformance[0];
	size_t nsingle = sizeof single / sizeof single[0];
	const char *env = getenv("BUCKETFS_TEST_STORE_URL");
	struct CMUnitTest *tests;
	size_t b, i, n = 0;
	int rc;

	rng.s = test_seed("test-store");
	file_dir = test_tmpdir("store");
	add_backend("memory", xstrdup("memory://test-store"));
	add_backend("file", xasprintf("file://%s", file_dir));
	if (env && *env)
		add_backend("env", xstrdup(env));

	tests = xcalloc(nbackends * nconf + nsingle, sizeof *tests);
	for (b = 0; b < nbackends; b++) {
		for (i = 0; i < nconf; i++, n++) {
			tests[n] = conformance[i];
			tests[n].name = xasprintf("%s: %s", backends[b].name, conformance[i].name);
			tests[n].initial_state = &backends[b];
		}
	}
	for (i = 0; i < nsingle; i++)
		tests[n++] = single[i];
	rc = _cmocka_run_group_tests("test-store", tests, n, NULL, NULL);
	for (b = 0; b < nbackends; b++) {
		remove_many_keys(&backends[b]);
		free(backends[b].url);
	}
	for (i = 0; i < nbackends * nconf; i++)
		free((char *)tests[i].name);
	free(tests);
	test_rmtree(file_dir);
	free(file_dir);
	return rc;
}
