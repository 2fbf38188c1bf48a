/* memory.c -- the memory:// backend: objects in process memory, for tests.
 *
 * Stores are named and live in a process-wide registry for the life of the
 * process, so every objstore_open("memory://x") shares the objects of the
 * first one and a test can close and reopen a store as a daemon restart
 * would.  objstore_memory_reset() empties a named store.
 *
 * Objects sit in a skip list ordered by key (byte order), under one mutex
 * per store: put and delete are O(log n) and a list page is one O(log n)
 * seek plus a walk along the bottom level, so paging through a large store
 * is not quadratic.  Object bytes are copied in and out; nothing handed to
 * a caller points into the store.  The etag is a per-store version number
 * that every put bumps, so it changes whenever the object is replaced. */
#include "store/objstore.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/backend.h"
#include "util/log.h"
#include "util/mem.h"

#define MEM_LEVELS 20

struct mem_node {
	char *key;
	void *data;
	size_t len;
	uint64_t version;
	int levels;
	struct mem_node *next[];
};

/* One named store, shared by every handle opened on it. */
struct mem_store {
	char *name;
	pthread_mutex_t lock;
	struct mem_node *head; /* sentinel with MEM_LEVELS levels */
	int levels;            /* levels in use, >= 1 */
	uint64_t rng;
	uint64_t version;
	struct mem_store *next_store;
};

struct mem_handle {
	struct objstore base;
	struct mem_store *ms;
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mem_store *registry;

static struct mem_store *store_of(objstore *st)
{
	return ((struct mem_handle *)st)->ms;
}

/* ---- skip list ---- */

static struct mem_node *node_new(const char *key, int levels)
{
	struct mem_node *n = xcalloc(1, sizeof *n + (size_t)levels * sizeof n->next[0]);

	n->key = key ? xstrdup(key) : NULL;
	n->levels = levels;
	return n;
}

static void node_free(struct mem_node *n)
{
	free(n->key);
	free(n->data);
	free(n);
}

/* Levels for a new node: each further level with probability 1/4. */
static int random_levels(struct mem_store *ms)
{
	uint64_t z = (ms->rng += 0x9e3779b97f4a7c15ull);
	int levels = 1;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	z ^= z >> 31;
	while (levels < MEM_LEVELS && (z & 3) == 0) {
		levels++;
		z >>= 2;
	}
	return levels;
}

/* The first node with key >= key (> key if strict).  If prev is not NULL
 * it receives, per level, the last node before that position. */
static struct mem_node *seek(struct mem_store *ms, const char *key, bool strict,
			     struct mem_node **prev)
{
	struct mem_node *x = ms->head;
	int lvl;

	for (lvl = ms->levels - 1; lvl >= 0; lvl--) {
		for (;;) {
			struct mem_node *n = x->next[lvl];
			int c;
			if (!n)
				break;
			c = strcmp(n->key, key);
			if (c > 0 || (c == 0 && !strict))
				break;
			x = n;
		}
		if (prev)
			prev[lvl] = x;
	}
	return x->next[0];
}

static struct mem_node *find(struct mem_store *ms, const char *key,
			     struct mem_node **prev)
{
	struct mem_node *n = seek(ms, key, false, prev);

	return n && !strcmp(n->key, key) ? n : NULL;
}

static void insert_after(struct mem_store *ms, struct mem_node **prev, struct mem_node *n)
{
	int lvl;

	for (lvl = ms->levels; lvl < n->levels; lvl++)
		prev[lvl] = ms->head;
	if (n->levels > ms->levels)
		ms->levels = n->levels;
	for (lvl = 0; lvl < n->levels; lvl++) {
		n->next[lvl] = prev[lvl]->next[lvl];
		prev[lvl]->next[lvl] = n;
	}
}

static void unlink_node(struct mem_store *ms, struct mem_node **prev, struct mem_node *n)
{
	int lvl;

	for (lvl = 0; lvl < n->levels; lvl++)
		if (prev[lvl]->next[lvl] == n)
			prev[lvl]->next[lvl] = n->next[lvl];
	while (ms->levels > 1 && !ms->head->next[ms->levels - 1])
		ms->levels--;
}

static void clear_nodes(struct mem_store *ms)
{
	struct mem_node *n = ms->head->next[0];

	while (n) {
		struct mem_node *next = n->next[0];
		node_free(n);
		n = next;
	}
	memset(ms->head->next, 0, MEM_LEVELS * sizeof ms->head->next[0]);
	ms->levels = 1;
}

/* ---- operations ---- */

/* Store a copy of data under key.  With only_new, an existing object is
 * left alone and -EEXIST returned. */
static int store_object(objstore *st, const char *key, const void *data, size_t len,
			bool only_new)
{
	struct mem_store *ms = store_of(st);
	struct mem_node *prev[MEM_LEVELS];
	struct mem_node *n;
	void *copy = xmemdup(data, len);
	void *old = NULL;
	int rc = 0;

	pthread_mutex_lock(&ms->lock);
	n = find(ms, key, prev);
	if (n && only_new) {
		old = copy;
		rc = -EEXIST;
		goto out;
	}
	if (!n) {
		n = node_new(key, random_levels(ms));
		insert_after(ms, prev, n);
	}
	old = n->data;
	n->data = copy;
	n->len = len;
	n->version = ++ms->version;
out:
	pthread_mutex_unlock(&ms->lock);
	free(old);
	return rc;
}

static int mem_put(objstore *st, const char *key, const void *data, size_t len)
{
	return store_object(st, key, data, len, false);
}

static int mem_put_if_absent(objstore *st, const char *key, const void *data, size_t len)
{
	return store_object(st, key, data, len, true);
}

static int mem_get(objstore *st, const char *key, uint64_t off, uint64_t len,
		   void **data, size_t *out_len)
{
	struct mem_store *ms = store_of(st);
	struct mem_node *n;
	int rc = 0;

	pthread_mutex_lock(&ms->lock);
	n = find(ms, key, NULL);
	if (!n) {
		rc = -ENOENT;
		goto out;
	}
	if (off > n->len) {
		rc = -ERANGE;
		goto out;
	}
	if (len > n->len - off)
		len = n->len - off;
	*data = xmemdup((const char *)n->data + off, (size_t)len);
	*out_len = (size_t)len;
out:
	pthread_mutex_unlock(&ms->lock);
	return rc;
}

static int mem_head(objstore *st, const char *key, struct objstore_info *info)
{
	struct mem_store *ms = store_of(st);
	struct mem_node *n;
	int rc = 0;

	pthread_mutex_lock(&ms->lock);
	n = find(ms, key, NULL);
	if (!n) {
		rc = -ENOENT;
		goto out;
	}
	info->size = n->len;
	snprintf(info->etag, sizeof info->etag, "mem-%" PRIu64, n->version);
out:
	pthread_mutex_unlock(&ms->lock);
	return rc;
}

static int mem_del(objstore *st, const char *key)
{
	struct mem_store *ms = store_of(st);
	struct mem_node *prev[MEM_LEVELS];
	struct mem_node *n;

	pthread_mutex_lock(&ms->lock);
	n = find(ms, key, prev);
	if (n)
		unlink_node(ms, prev, n);
	pthread_mutex_unlock(&ms->lock);
	if (n)
		node_free(n);
	return 0;
}

/* The first node that can be in the listing. */
static struct mem_node *list_start(struct mem_store *ms, const char *prefix,
				   const char *start_after)
{
	if (*start_after && strcmp(start_after, prefix) >= 0)
		return seek(ms, start_after, true, NULL);
	return seek(ms, prefix, false, NULL);
}

static int mem_list(objstore *st, const char *prefix, const char *start_after,
		    size_t max_keys, struct objstore_listing *out)
{
	struct mem_store *ms = store_of(st);
	size_t plen = strlen(prefix);
	size_t cap = max_keys < 64 ? max_keys : 64;
	struct mem_node *n;

	out->entries = xmalloc(cap * sizeof out->entries[0]);
	pthread_mutex_lock(&ms->lock);
	for (n = list_start(ms, prefix, start_after); n; n = n->next[0]) {
		if (strncmp(n->key, prefix, plen))
			break;
		if (out->count == max_keys) {
			out->truncated = true;
			break;
		}
		if (out->count == cap) {
			cap *= 2;
			out->entries = xrealloc(out->entries, cap * sizeof out->entries[0]);
		}
		out->entries[out->count].key = xstrdup(n->key);
		out->entries[out->count].size = n->len;
		out->count++;
	}
	pthread_mutex_unlock(&ms->lock);
	return 0;
}

static void mem_close(objstore *st)
{
	free(st->url);
	free(st);
}

static const struct objstore_ops mem_ops = {
	.name = "memory",
	.put = mem_put,
	.put_if_absent = mem_put_if_absent,
	.get = mem_get,
	.head = mem_head,
	.del = mem_del,
	.list = mem_list,
	.close = mem_close,
};

/* ---- registry ---- */

/* Caller holds registry_lock. */
static struct mem_store *registry_find(const char *name)
{
	struct mem_store *ms;

	for (ms = registry; ms; ms = ms->next_store)
		if (!strcmp(ms->name, name))
			return ms;
	return NULL;
}

static struct mem_store *registry_get(const char *name)
{
	struct mem_store *ms;

	pthread_mutex_lock(&registry_lock);
	ms = registry_find(name);
	if (!ms) {
		ms = xcalloc(1, sizeof *ms);
		ms->name = xstrdup(name);
		pthread_mutex_init(&ms->lock, NULL);
		ms->head = node_new(NULL, MEM_LEVELS);
		ms->levels = 1;
		ms->rng = (uint64_t)(uintptr_t)ms;
		ms->next_store = registry;
		registry = ms;
	}
	pthread_mutex_unlock(&registry_lock);
	return ms;
}

int objstore_memory_open(const char *url, const char *name, objstore **out)
{
	struct mem_handle *h;

	if (!*name) {
		log_error("objstore: open %s: memory store needs a name (memory://name)", url);
		return -EINVAL;
	}
	h = xcalloc(1, sizeof *h);
	h->base.ops = &mem_ops;
	h->base.url = xstrdup(url);
	h->ms = registry_get(name);
	*out = &h->base;
	return 0;
}

void objstore_memory_reset(const char *name)
{
	struct mem_store *ms;

	pthread_mutex_lock(&registry_lock);
	ms = registry_find(name);
	pthread_mutex_unlock(&registry_lock);
	if (!ms)
		return;
	pthread_mutex_lock(&ms->lock);
	clear_nodes(ms);
	pthread_mutex_unlock(&ms->lock);
}
