/* s3_int.h -- internals shared by the s3:// backend's files (private to
 * src/store): s3.c (opening, the objstore operations), s3_config.c
 * (settings from the environment and their checks), s3_http.c (one S3
 * request: addressing, signing, the libcurl handle pool, retries, error
 * mapping and logging) and s3_multipart.c (large puts).
 *
 * A request is described by a struct s3_request and run by s3_perform,
 * which retries what is worth retrying and turns the final answer into
 * 0 or a negative errno:
 *   2xx -> 0;  404 -> -ENOENT;  412 -> -EEXIST;  416 -> -ERANGE;
 *   403 -> -EACCES;  anything else, or no answer -> -EIO.
 * Failures are logged with operation, bucket, key, HTTP status and the S3
 * error code, except the answers a caller expects and asked to keep quiet
 * (S3_QUIET_*).  NoSuchBucket is always logged. */
#ifndef BUCKETFS_STORE_S3_INT_H
#define BUCKETFS_STORE_S3_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <curl/curl.h>

#include "store/backend.h"
#include "store/s3.h"
#include "store/sigv4.h"
#include "util/buf.h"

#define S3_CODE_MAX 64
#define S3_POOL_MAX 64

struct s3_store {
	struct objstore base;
	struct s3_config cfg;
	char *bucket;
	char *prefix;          /* "" or "dir/" (ends with '/') */
	size_t prefix_len;
	char *origin;          /* scheme://host[:port] requests go to */
	char *host;            /* the Host header */
	char *path_base;       /* "/bucket" (path style) or "" (virtual host) */
	/* Idle curl handles; each keeps its connections open between uses. */
	pthread_mutex_t pool_lock;
	CURL *pool[S3_POOL_MAX];
	size_t npool;
	_Atomic uint64_t rng;
	_Atomic uint64_t n_requests;
	_Atomic uint64_t n_retries;
	_Atomic uint64_t n_connects;
};

enum s3_quiet {
	S3_QUIET_ENOENT = 1 << 0, /* 404 other than NoSuchBucket */
	S3_QUIET_EEXIST = 1 << 1, /* 412 */
	S3_QUIET_ERANGE = 1 << 2, /* 416 */
};

struct s3_request {
	/* set by the caller */
	const char *op;          /* for messages: "put", "get", ... */
	const char *method;      /* GET HEAD PUT POST DELETE */
	const char *key;         /* object key without the store prefix; NULL = bucket */
	struct sigv4_query query;
	const void *body;
	size_t body_len;
	const char *range;       /* Range header value or NULL */
	const char *content_md5; /* base64, or NULL */
	const char *content_type;
	bool if_none_match;      /* If-None-Match: * */
	unsigned quiet;          /* enum s3_quiet */
	size_t max_response;     /* body bytes to accept; 0 = 16 MiB */
	/* filled in by s3_perform */
	long status;             /* 0 if no response */
	char code[S3_CODE_MAX];  /* S3 error code from the body, "" if none */
	struct buf response;     /* response body */
	char etag[OBJSTORE_ETAG_MAX]; /* without quotes */
	uint64_t content_length;
	bool has_length;
	unsigned attempts;
	/* An attempt that failed may still have been applied by the server
	 * (its reply was lost or was a 5xx): a later 412 or NoSuchUpload may
	 * be the echo of our own success. */
	bool maybe_applied;
};

int s3_perform(struct s3_store *s, struct s3_request *r);
void s3_request_free(struct s3_request *r);
/* Log a failure of an operation on key (the prefix is added). */
void s3_log_failure(struct s3_store *s, const char *op, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Free the pooled curl handles. */
void s3_pool_free(struct s3_store *s);

/* Lower-case hex md5 of data (the etag S3 gives a single-part object). */
void s3_md5_hex(const void *data, size_t len, char out[33]);
/* Base64 of the binary md5 of data (a Content-MD5 header value). */
void s3_md5_base64(const void *data, size_t len, char out[25]);

/* s3_config.c: a deep copy of src; NULL if the settings can be used, else
 * what is wrong with them (with the length of the endpoint's "http://" or
 * "https://" in *scheme_len); the same for a bucket name and a prefix
 * (components neither empty, "." nor "..", printable, as keys are). */
void s3_config_copy(struct s3_config *dst, const struct s3_config *src);
const char *s3_config_problem(const struct s3_config *cfg, size_t *scheme_len);
const char *s3_bucket_problem(const char *bucket, size_t len, bool virtual_host);
const char *s3_prefix_problem(const char *prefix);

/* Multipart upload of data as key: parts in parallel, abort on failure. */
int s3_multipart_put(struct s3_store *s, const char *key, const void *data, size_t len);

#endif
