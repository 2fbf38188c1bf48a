/* objstore.c -- the public object store API: URL dispatch to a backend,
 * argument validation, and the helpers every backend shares (listing
 * pagination, freeing a listing, deleting many keys one by one where the
 * backend has no batch call, probing conditional put).
 *
 * Validation happens here, once, so that backends can trust their
 * arguments (see backend.h).  A key is valid when it is 1..OBJSTORE_KEY_MAX
 * bytes of printable characters (no control characters: no newline, and
 * a C string cannot hold a NUL; at most the store's key_max bytes, which
 * s3:// lowers by its prefix), does not start with '/', and splits on '/'
 * into components that are neither empty, "." nor "..".  The last rule
 * keeps keys usable as relative paths by the file:// backend and makes
 * every backend accept exactly the same names. */
#include "store/objstore.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/backend.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/mem.h"

#define FAULT_SCHEME "fault+"

typedef int (*open_fn)(const char *url, const char *rest, objstore **out);

struct scheme {
	const char *prefix;
	open_fn open;
};

static const struct scheme schemes[] = {
	{ "file://", objstore_file_open },
	{ "memory://", objstore_memory_open },
	{ "s3://", objstore_s3_open },
};

/* ---- opening ---- */

static int open_fault(const char *url, objstore **out)
{
	struct objstore_fault_config cfg = { 0 };
	objstore *inner;
	int rc;

	rc = objstore_open(url + strlen(FAULT_SCHEME), &inner);
	if (rc)
		return rc;
	return objstore_fault_wrap(inner, &cfg, out);
}

int objstore_open(const char *url, objstore **out)
{
	size_t i;

	if (!url || !out) {
		log_error("objstore: open: missing URL or result pointer");
		return -EINVAL;
	}
	*out = NULL;
	if (!strncmp(url, FAULT_SCHEME, strlen(FAULT_SCHEME)))
		return open_fault(url, out);
	for (i = 0; i < sizeof schemes / sizeof schemes[0]; i++) {
		size_t n = strlen(schemes[i].prefix);
		if (!strncmp(url, schemes[i].prefix, n))
			return schemes[i].open(url, url + n, out);
	}
	log_error("objstore: open %s: unknown URL scheme (want file:///dir, s3://bucket/prefix "
		  "or memory://name)", url);
	return -EINVAL;
}

void objstore_close(objstore *st)
{
	if (st)
		st->ops->close(st);
}

const char *objstore_url(const objstore *st)
{
	return st->url;
}

size_t objstore_key_max(const objstore *st)
{
	return st->key_max ? st->key_max : OBJSTORE_KEY_MAX;
}

/* ---- validation ---- */

/* NULL if the key is valid for a store taking keys of up to max bytes,
 * else why not. */
static const char *key_problem(const char *key, size_t max)
{
	const char *comp, *p;
	size_t len;

	if (!key)
		return "no key";
	len = strlen(key);
	if (len == 0)
		return "empty key";
	if (len > max)
		return max == OBJSTORE_KEY_MAX ? "key longer than 1024 bytes"
					       : "key longer than the store allows (1024 bytes with its prefix)";
	for (p = key; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c < 0x20 || c == 0x7f)
			return "control character in key";
	}
	if (key[0] == '/')
		return "key starts with '/'";
	for (comp = key;; comp = p + 1) {
		p = strchr(comp, '/');
		len = p ? (size_t)(p - comp) : strlen(comp);
		if (len == 0)
			return "empty path component in key";
		if ((len == 1 && comp[0] == '.') ||
		    (len == 2 && comp[0] == '.' && comp[1] == '.'))
			return "'.' or '..' component in key";
		if (!p)
			return NULL;
	}
}

/* A key is printed in a message only if it is short and printable. */
static bool printable(const char *key)
{
	const char *p;

	if (!key || strlen(key) > OBJSTORE_KEY_MAX)
		return false;
	for (p = key; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return false;
	return true;
}

static int check_key(const objstore *st, const char *op, const char *key)
{
	const char *why;

	if (!st) {
		log_error("objstore: %s: no store", op);
		return -EINVAL;
	}
	why = key_problem(key, objstore_key_max(st));
	if (!why)
		return 0;
	if (printable(key))
		log_error("objstore %s: %s \"%s\": invalid key: %s", st->url, op, key, why);
	else
		log_error("objstore %s: %s: invalid key: %s", st->url, op, why);
	return -EINVAL;
}

/* ---- operations ---- */

int objstore_put(objstore *st, const char *key, const void *data, size_t len)
{
	int rc = check_key(st, "put", key);

	if (rc)
		return rc;
	if (!data && len) {
		log_error("objstore %s: put %s: no data", st->url, key);
		return -EINVAL;
	}
	return st->ops->put(st, key, data ? data : "", len);
}

int objstore_put_if_absent(objstore *st, const char *key, const void *data, size_t len)
{
	int rc = check_key(st, "put_if_absent", key);

	if (rc)
		return rc;
	if (!data && len) {
		log_error("objstore %s: put_if_absent %s: no data", st->url, key);
		return -EINVAL;
	}
	if (!st->ops->put_if_absent)
		return -ENOTSUP;
	return st->ops->put_if_absent(st, key, data ? data : "", len);
}

int objstore_get(objstore *st, const char *key, uint64_t off, uint64_t len,
		 void **data, size_t *out_len)
{
	int rc = check_key(st, "get", key);

	if (rc)
		return rc;
	if (!data || !out_len) {
		log_error("objstore %s: get %s: missing result pointer", st->url, key);
		return -EINVAL;
	}
	*data = NULL;
	*out_len = 0;
	return st->ops->get(st, key, off, len, data, out_len);
}

int objstore_head(objstore *st, const char *key, struct objstore_info *info)
{
	int rc = check_key(st, "head", key);

	if (rc)
		return rc;
	if (!info) {
		log_error("objstore %s: head %s: missing result pointer", st->url, key);
		return -EINVAL;
	}
	memset(info, 0, sizeof *info);
	return st->ops->head(st, key, info);
}

int objstore_delete(objstore *st, const char *key)
{
	int rc = check_key(st, "delete", key);

	if (rc)
		return rc;
	return st->ops->del(st, key);
}

int objstore_delete_many(objstore *st, const char *const *keys, size_t n)
{
	size_t i;
	int rc;

	if (!keys && n) {
		log_error("objstore: delete_many: no keys");
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		rc = check_key(st, "delete_many", keys[i]);
		if (rc)
			return rc;
	}
	if (!n)
		return 0;
	if (st->ops->del_many)
		return st->ops->del_many(st, keys, n);
	for (i = 0; i < n; i++) {
		rc = st->ops->del(st, keys[i]);
		if (rc)
			return rc;
	}
	return 0;
}

int objstore_list(objstore *st, const char *prefix, const char *start_after,
		  size_t max_keys, struct objstore_listing *out)
{
	if (!st || !out) {
		log_error("objstore: list: missing store or result pointer");
		return -EINVAL;
	}
	memset(out, 0, sizeof *out);
	if (!prefix)
		prefix = "";
	if (!start_after)
		start_after = "";
	if (strlen(prefix) > OBJSTORE_KEY_MAX || strlen(start_after) > OBJSTORE_KEY_MAX) {
		log_error("objstore %s: list: prefix or start_after longer than 1024 bytes",
			  st->url);
		return -EINVAL;
	}
	if (max_keys == 0)
		max_keys = OBJSTORE_LIST_DEFAULT;
	return st->ops->list(st, prefix, start_after, max_keys, out);
}

void objstore_listing_free(struct objstore_listing *l)
{
	size_t i;

	if (!l)
		return;
	for (i = 0; i < l->count; i++)
		free(l->entries[i].key);
	free(l->entries);
	memset(l, 0, sizeof *l);
}

/* Call cb for each entry of one page; returns cb's first non-zero result. */
static int list_page_each(const struct objstore_listing *l,
			  int (*cb)(void *arg, const struct objstore_entry *e), void *arg)
{
	size_t i;
	int rc;

	for (i = 0; i < l->count; i++) {
		rc = cb(arg, &l->entries[i]);
		if (rc)
			return rc;
	}
	return 0;
}

int objstore_list_all(objstore *st, const char *prefix, const char *start_after,
		      int (*cb)(void *arg, const struct objstore_entry *e), void *arg)
{
	struct objstore_listing l;
	char *after = xstrdup(start_after ? start_after : "");
	bool more = true;
	int rc = 0;

	if (!cb) {
		rc = -EINVAL;
		goto out;
	}
	while (more) {
		rc = objstore_list(st, prefix, after, 0, &l);
		if (rc)
			goto out;
		rc = list_page_each(&l, cb, arg);
		more = l.truncated && l.count > 0;
		if (l.count) {
			free(after);
			after = xstrdup(l.entries[l.count - 1].key);
		}
		objstore_listing_free(&l);
		if (rc)
			goto out;
	}
out:
	free(after);
	return rc;
}

/* ---- probing ---- */

int objstore_probe_conditional_put(objstore *st)
{
	static const char probe[] = "bucketfs conditional put probe";
	char key[80];
	int rc, again;

	if (!st)
		return -EINVAL;
	snprintf(key, sizeof key, "bucketfs-probe/%ld-%016" PRIx64, (long)getpid(),
		 clock_wall_ns() ^ (clock_mono_ns() << 17));
	rc = objstore_put_if_absent(st, key, probe, sizeof probe - 1);
	if (rc == -ENOTSUP)
		log_error("objstore %s: the store has no conditional put; a writer cannot be "
			  "fenced here", st->url);
	if (rc)
		return rc;
	again = objstore_put_if_absent(st, key, probe, sizeof probe - 1);
	rc = objstore_delete(st, key);
	if (again == 0) {
		log_error("objstore %s: the store does not honour conditional put "
			  "(If-None-Match: * overwrote %s); a writer cannot be fenced here",
			  st->url, key);
		return -ENOTSUP;
	}
	if (again != -EEXIST)
		return again;
	return rc;
}
