/* s3.c -- the s3:// backend: opening a URL (s3.h; the configuration is
 * s3_config.c's), and the objstore operations as S3 requests (s3_http.c
 * runs them, s3_multipart.c does large puts).
 *
 *   put            PUT, or a multipart upload above multipart_threshold
 *   put_if_absent  PUT with If-None-Match: * (412 -> -EEXIST); always one
 *                  PUT, because RGW's CompleteMultipartUpload ignores it
 *   get            GET with Range; 416 is -ERANGE, except that a range
 *                  starting exactly at the end is an empty result
 *   head           HEAD: Content-Length and ETag
 *   del            DELETE; 404 is success (but NoSuchBucket is not)
 *   del_many       POST ?delete (DeleteObjects), 1000 keys per request
 *   list           ListObjectsV2 pages joined until max_keys
 *
 * Keys are stored as prefix + key; listings ask for prefix + the caller's
 * prefix and strip the store prefix from what comes back.  A put_if_absent
 * whose first try may have been applied (the reply was lost) and whose
 * retry got 412 reads the object's etag: if it is the md5 of our bytes,
 * the first try won and the answer is 0. */
#include "store/s3_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/s3_xml.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/mem.h"

#define DELETE_BATCH 1000
#define LIST_PAGE_MAX 1000
#define LIST_RESPONSE_MAX (64u << 20)

static const struct objstore_ops s3_ops;

static struct s3_store *s3_of(objstore *st)
{
	return (struct s3_store *)st;
}

/* ---- opening ---- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result;

static void curl_init(void)
{
	curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* Fill the addressing fields of s from the endpoint. */
static void set_addressing(struct s3_store *s, size_t scheme_len)
{
	const char *ep = s->cfg.endpoint;
	size_t n = strcspn(ep + scheme_len, "/");

	if (s->cfg.virtual_host) {
		s->host = xasprintf("%s.%.*s", s->bucket, (int)n, ep + scheme_len);
		s->path_base = xstrdup("");
	} else {
		s->host = xasprintf("%.*s", (int)n, ep + scheme_len);
		s->path_base = xasprintf("/%s", s->bucket);
	}
	s->origin = xasprintf("%.*s%s", (int)scheme_len, ep, s->host);
}

static struct s3_store *store_new(const char *url, const struct s3_config *cfg,
				  const char *bucket, size_t bucket_len, const char *prefix)
{
	struct s3_store *s = xcalloc(1, sizeof *s);
	size_t plen = strlen(prefix);

	s->base.ops = &s3_ops;
	s->base.url = xstrdup(url);
	s3_config_copy(&s->cfg, cfg);
	s->bucket = xasprintf("%.*s", (int)bucket_len, bucket);
	s->prefix = xasprintf("%s%s", prefix, plen && prefix[plen - 1] != '/' ? "/" : "");
	s->prefix_len = strlen(s->prefix);
	s->base.key_max = OBJSTORE_KEY_MAX - s->prefix_len;
	pthread_mutex_init(&s->pool_lock, NULL);
	atomic_store(&s->rng, clock_mono_ns() ^ (uint64_t)(uintptr_t)s);
	return s;
}

int objstore_s3_open_config(const char *url, const struct s3_config *cfg, objstore **out)
{
	const char *bucket, *slash, *why;
	size_t bucket_len, scheme_len = 0;
	struct s3_store *s;

	*out = NULL;
	if (strncmp(url, "s3://", 5)) {
		log_error("objstore: open %s: not an s3:// URL", url);
		return -EINVAL;
	}
	bucket = url + 5;
	slash = strchr(bucket, '/');
	bucket_len = slash ? (size_t)(slash - bucket) : strlen(bucket);
	why = s3_config_problem(cfg, &scheme_len);
	if (!why)
		why = s3_bucket_problem(bucket, bucket_len, cfg->virtual_host);
	if (!why)
		why = s3_prefix_problem(slash ? slash + 1 : "");
	if (why) {
		log_error("objstore: open %s: %s (want s3://bucket/prefix)", url, why);
		return -EINVAL;
	}
	pthread_once(&curl_once, curl_init);
	if (curl_init_result != CURLE_OK) {
		log_error("objstore: open %s: curl_global_init: %s", url,
			  curl_easy_strerror(curl_init_result));
		return -EIO;
	}
	if (cfg->part_size < S3_MIN_PART_SIZE)
		log_warn("objstore: open %s: multipart part size %" PRIu64 " is below 5 MiB; "
			 "most servers refuse such parts (EntityTooSmall)", url, cfg->part_size);
	s = store_new(url, cfg, bucket, bucket_len, slash ? slash + 1 : "");
	set_addressing(s, scheme_len);
	log_debug("s3: opened %s at %s (%s style, region %s)", url, s->origin,
		  s->cfg.virtual_host ? "virtual-hosted" : "path", s->cfg.region);
	*out = &s->base;
	return 0;
}

int objstore_s3_open(const char *url, const char *rest, objstore **out)
{
	struct s3_config cfg;
	int rc;

	(void)rest;
	rc = s3_config_from_env(&cfg);
	if (rc) {
		log_error("objstore: open %s: bad S3 settings in the environment", url);
		return rc;
	}
	rc = objstore_s3_open_config(url, &cfg, out);
	s3_config_free(&cfg);
	return rc;
}

static void s3_close(objstore *st)
{
	struct s3_store *s = s3_of(st);

	s3_pool_free(s);
	pthread_mutex_destroy(&s->pool_lock);
	s3_config_free(&s->cfg);
	free(s->bucket);
	free(s->prefix);
	free(s->origin);
	free(s->host);
	free(s->path_base);
	free(s->base.url);
	free(s);
}

void objstore_s3_stats(objstore *st, struct s3_stats *out)
{
	struct s3_store *s;

	memset(out, 0, sizeof *out);
	if (!st || st->ops != &s3_ops)
		return;
	s = s3_of(st);
	out->requests = atomic_load(&s->n_requests);
	out->retries = atomic_load(&s->n_retries);
	out->connects = atomic_load(&s->n_connects);
}

/* ---- the bucket ---- */

static bool ends_with(const char *s, const char *tail)
{
	size_t n = strlen(s), t = strlen(tail);

	return n >= t && !strcmp(s + n - t, tail);
}

int objstore_s3_create_bucket(objstore *st)
{
	struct s3_store *s;
	struct s3_request r = { .op = "create bucket", .method = "PUT" };
	char *body = NULL;
	int rc;

	if (!st || st->ops != &s3_ops)
		return -EINVAL;
	s = s3_of(st);
	if (strcmp(s->cfg.region, "us-east-1") && ends_with(s->host, ".amazonaws.com")) {
		body = xasprintf("<CreateBucketConfiguration><LocationConstraint>%s"
				 "</LocationConstraint></CreateBucketConfiguration>", s->cfg.region);
		r.body = body;
		r.body_len = strlen(body);
	}
	rc = s3_perform(s, &r);
	if (rc == -EIO && r.status == 409 && !strcmp(r.code, "BucketAlreadyOwnedByYou"))
		rc = 0;
	else if (rc == -EIO && r.status == 409)
		rc = -EEXIST;
	s3_request_free(&r);
	free(body);
	return rc;
}

/* ---- put ---- */

static int single_put(struct s3_store *s, const char *op, const char *key, const void *data,
		      size_t len, bool only_new)
{
	struct s3_request r = { .op = op, .method = "PUT", .key = key, .body = data,
				.body_len = len, .if_none_match = only_new,
				.quiet = only_new ? S3_QUIET_EEXIST : 0 };
	int rc;

	if (len > S3_MAX_PUT_SIZE) {
		s3_log_failure(s, op, key, "%zu bytes is more than one S3 PUT can carry (5 GiB)", len);
		return -EFBIG;
	}
	rc = s3_perform(s, &r);
	if (rc == -EEXIST && r.maybe_applied) {
		/* Was the 412 caused by our own first try? */
		struct s3_request h = { .op = op, .method = "HEAD", .key = key,
					.quiet = S3_QUIET_ENOENT };
		char md5[33];
		s3_md5_hex(data, len, md5);
		if (s3_perform(s, &h) == 0 && !strcmp(h.etag, md5)) {
			log_warn("s3: %s %s/%s%s: the reply to the first try was lost; "
				 "the object holds our bytes, so it had succeeded",
				 op, s->bucket, s->prefix, key);
			rc = 0;
		}
		s3_request_free(&h);
	}
	s3_request_free(&r);
	return rc;
}

static int s3_put(objstore *st, const char *key, const void *data, size_t len)
{
	struct s3_store *s = s3_of(st);

	if (len > s->cfg.multipart_threshold)
		return s3_multipart_put(s, key, data, len);
	return single_put(s, "put", key, data, len, false);
}

static int s3_put_if_absent(objstore *st, const char *key, const void *data, size_t len)
{
	return single_put(s3_of(st), "put_if_absent", key, data, len, true);
}

/* ---- head and get ---- */

static int s3_head(objstore *st, const char *key, struct objstore_info *info)
{
	struct s3_store *s = s3_of(st);
	struct s3_request r = { .op = "head", .method = "HEAD", .key = key,
				.quiet = S3_QUIET_ENOENT };
	int rc = s3_perform(s, &r);

	if (!rc && !r.has_length) {
		s3_log_failure(s, r.op, key, "no Content-Length in the answer");
		rc = -EIO;
	}
	if (!rc) {
		info->size = r.content_length;
		snprintf(info->etag, sizeof info->etag, "%s", r.etag);
	}
	s3_request_free(&r);
	return rc;
}

/* An empty result at off, if off is within the object (off == size is
 * the end; past it is -ERANGE). */
static int get_empty(objstore *st, const char *key, uint64_t off, void **data, size_t *out_len)
{
	struct objstore_info info;
	int rc = s3_head(st, key, &info);

	if (rc)
		return rc;
	if (off > info.size)
		return -ERANGE;
	*data = xmalloc(1);
	*out_len = 0;
	return 0;
}

/* The Range header for [off, off + len), or "" for the whole object. */
static void range_header(uint64_t off, uint64_t len, char *out, size_t size)
{
	if (off == 0 && len == OBJSTORE_GET_TO_END)
		*out = '\0';
	else if (len == OBJSTORE_GET_TO_END || len > UINT64_MAX - off)
		snprintf(out, size, "bytes=%" PRIu64 "-", off);
	else
		snprintf(out, size, "bytes=%" PRIu64 "-%" PRIu64, off, off + len - 1);
}

/* Hand the body to the caller; a server that ignored Range (200 with the
 * whole object) is cut to the range here. */
static int take_body(struct s3_request *r, uint64_t off, uint64_t len, bool ranged,
		     void **data, size_t *out_len)
{
	size_t n;
	uint8_t *p;

	if (ranged && r->status == 200) {
		if (off > r->response.len)
			return -ERANGE;
		n = r->response.len - (size_t)off;
		if (len < n)
			n = (size_t)len;
		memmove(r->response.data, r->response.data + off, n);
		r->response.len = n;
	}
	buf_reserve(&r->response, 1); /* a zero-length result is non-NULL */
	p = buf_steal(&r->response, &n);
	*data = p;
	*out_len = n;
	return 0;
}

static int s3_get(objstore *st, const char *key, uint64_t off, uint64_t len,
		  void **data, size_t *out_len)
{
	struct s3_store *s = s3_of(st);
	struct s3_request r = { .op = "get", .method = "GET", .key = key,
				.quiet = S3_QUIET_ENOENT | S3_QUIET_ERANGE,
				.max_response = SIZE_MAX };
	char range[64];
	int rc;

	if (len == 0)
		return get_empty(st, key, off, data, out_len);
	range_header(off, len, range, sizeof range);
	r.range = *range ? range : NULL;
	rc = s3_perform(s, &r);
	if (rc == -ERANGE)  /* 416: fine if off is exactly the end */
		rc = get_empty(st, key, off, data, out_len);
	else if (!rc)
		rc = take_body(&r, off, len, r.range != NULL, data, out_len);
	s3_request_free(&r);
	return rc;
}

/* ---- delete ---- */

static int s3_del(objstore *st, const char *key)
{
	struct s3_store *s = s3_of(st);
	struct s3_request r = { .op = "delete", .method = "DELETE", .key = key,
				.quiet = S3_QUIET_ENOENT };
	int rc = s3_perform(s, &r);

	if (rc == -ENOENT && strcmp(r.code, "NoSuchBucket"))
		rc = 0;
	s3_request_free(&r);
	return rc;
}

static void delete_body(struct s3_store *s, const char *const *keys, size_t n, struct buf *b)
{
	static const char head[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
				   "<Delete><Quiet>true</Quiet>";
	size_t i;

	buf_append(b, head, sizeof head - 1);
	for (i = 0; i < n; i++) {
		buf_append(b, "<Object><Key>", 13);
		s3_xml_escape(b, s->prefix);
		s3_xml_escape(b, keys[i]);
		buf_append(b, "</Key></Object>", 15);
	}
	buf_append(b, "</Delete>", 9);
}

/* Log the per-key errors of a DeleteObjects answer; 0 if there are none. */
static int delete_errors(struct s3_store *s, const struct s3_request *r)
{
	struct s3_xml doc = s3_xml_make(r->response.data, r->response.len), err;
	unsigned errors = 0;
	int rc = 0;

	while (s3_xml_next(&doc, "Error", &err)) {
		char key[OBJSTORE_KEY_MAX + 1] = "?", code[S3_CODE_MAX] = "?";
		s3_xml_copy(err, "Key", key, sizeof key);
		s3_xml_copy(err, "Code", code, sizeof code);
		if (errors++ < 5)
			log_error("s3: delete_many bucket %s: %s: %s", s->bucket, key, code);
		rc = !strcmp(code, "AccessDenied") && rc != -EIO ? -EACCES : -EIO;
	}
	if (errors > 5)
		log_error("s3: delete_many bucket %s: %u keys could not be deleted", s->bucket, errors);
	return rc;
}

static int delete_batch(struct s3_store *s, const char *const *keys, size_t n)
{
	struct s3_request r = { .op = "delete_many", .method = "POST",
				.content_type = "application/xml" };
	struct buf body = BUF_INIT;
	char md5[25];
	int rc;

	delete_body(s, keys, n, &body);
	s3_md5_base64(body.data, body.len, md5);
	r.body = body.data;
	r.body_len = body.len;
	r.content_md5 = md5;
	sigv4_query_add(&r.query, "delete", "");
	rc = s3_perform(s, &r);
	if (!rc)
		rc = delete_errors(s, &r);
	s3_request_free(&r);
	buf_free(&body);
	return rc;
}

static int s3_del_many(objstore *st, const char *const *keys, size_t n)
{
	size_t i;
	int rc;

	for (i = 0; i < n; i += DELETE_BATCH) {
		rc = delete_batch(s3_of(st), keys + i, n - i < DELETE_BATCH ? n - i : DELETE_BATCH);
		if (rc)
			return rc;
	}
	return 0;
}

/* ---- list ---- */

struct list_state {
	struct objstore_listing *out;
	size_t max_keys;
	size_t cap;
	bool truncated;
	char *token;           /* NextContinuationToken, NULL if none */
};

static void add_entry(struct list_state *ls, const char *key, uint64_t size)
{
	struct objstore_listing *out = ls->out;

	if (out->count == ls->cap) {
		ls->cap = ls->cap ? ls->cap * 2 : 64;
		out->entries = xrealloc(out->entries, ls->cap * sizeof out->entries[0]);
	}
	out->entries[out->count].key = xstrdup(key);
	out->entries[out->count].size = size;
	out->count++;
}

/* Take one Contents element of a page. */
static int list_entry(struct s3_store *s, struct list_state *ls, struct s3_xml contents)
{
	char *key = s3_xml_text(contents, "Key");
	char size[32], *end;
	uint64_t v = 0;
	int rc = 0;

	if (!key || !s3_xml_copy(contents, "Size", size, sizeof size)) {
		s3_log_failure(s, "list", NULL, "malformed Contents in a ListObjectsV2 answer");
		rc = -EIO;
		goto out;
	}
	v = strtoull(size, &end, 10);
	if (strncmp(key, s->prefix, s->prefix_len) || *end || end == size) {
		s3_log_failure(s, "list", NULL, "unexpected entry \"%s\" (size %s) outside %s",
			       key, size, s->prefix);
		rc = -EIO;
		goto out;
	}
	add_entry(ls, key + s->prefix_len, v);
out:
	free(key);
	return rc;
}

static int list_parse(struct s3_store *s, struct list_state *ls, const struct s3_request *r)
{
	struct s3_xml doc = s3_xml_make(r->response.data, r->response.len), contents;
	char flag[8] = "";
	int rc;

	s3_xml_copy(doc, "IsTruncated", flag, sizeof flag);
	ls->truncated = !strcmp(flag, "true");
	free(ls->token);
	ls->token = s3_xml_text(doc, "NextContinuationToken");
	while (s3_xml_next(&doc, "Contents", &contents)) {
		if (ls->out->count == ls->max_keys) {
			ls->truncated = true;
			break;
		}
		rc = list_entry(s, ls, contents);
		if (rc)
			return rc;
	}
	return 0;
}

/* One ListObjectsV2 request: continuation token if we have one, else
 * start-after (full key). */
static int list_page(struct s3_store *s, struct list_state *ls, const char *full_prefix,
		     const char *full_after)
{
	struct s3_request r = { .op = "list", .method = "GET", .max_response = LIST_RESPONSE_MAX };
	size_t want = ls->max_keys - ls->out->count;
	char max[24];
	int rc;

	snprintf(max, sizeof max, "%zu", want < LIST_PAGE_MAX ? want : (size_t)LIST_PAGE_MAX);
	sigv4_query_add(&r.query, "list-type", "2");
	sigv4_query_add(&r.query, "max-keys", max);
	if (*full_prefix)
		sigv4_query_add(&r.query, "prefix", full_prefix);
	if (ls->token)
		sigv4_query_add(&r.query, "continuation-token", ls->token);
	else if (full_after)
		sigv4_query_add(&r.query, "start-after", full_after);
	rc = s3_perform(s, &r);
	if (!rc)
		rc = list_parse(s, ls, &r);
	s3_request_free(&r);
	return rc;
}

static int s3_list(objstore *st, const char *prefix, const char *start_after,
		   size_t max_keys, struct objstore_listing *out)
{
	struct s3_store *s = s3_of(st);
	struct list_state ls = { .out = out, .max_keys = max_keys };
	char *full_prefix = xasprintf("%s%s", s->prefix, prefix);
	char *full_after = *start_after ? xasprintf("%s%s", s->prefix, start_after) : NULL;
	int rc = 0;

	do {
		size_t before = out->count;

		rc = list_page(s, &ls, full_prefix, full_after);
		if (rc)
			goto out;
		if (ls.truncated && !ls.token && out->count == before) {
			s3_log_failure(s, "list", NULL, "truncated page without entries or token");
			rc = -EIO;
			goto out;
		}
		if (ls.truncated && !ls.token) {
			/* No token (not V2?): go on after the last key. */
			free(full_after);
			full_after = xasprintf("%s%s", s->prefix, out->entries[out->count - 1].key);
		}
	} while (ls.truncated && out->count < max_keys);
	out->truncated = ls.truncated;
out:
	if (rc)
		objstore_listing_free(out);
	free(ls.token);
	free(full_prefix);
	free(full_after);
	return rc;
}

static const struct objstore_ops s3_ops = {
	.name = "s3",
	.put = s3_put,
	.put_if_absent = s3_put_if_absent,
	.get = s3_get,
	.head = s3_head,
	.del = s3_del,
	.del_many = s3_del_many,
	.list = s3_list,
	.close = s3_close,
};
