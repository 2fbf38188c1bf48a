/* s3.h -- the s3:// backend's configuration and the ways to open it.
 *
 * objstore_open("s3://bucket/prefix") fills a struct s3_config from the
 * environment (s3_config_from_env) and opens the store with it; a config
 * file parser can fill the struct instead and call objstore_s3_open_config.
 * The prefix is optional; when given, every key is stored under
 * "prefix/" and listings strip it again.  S3 limits an object name to 1024
 * bytes, so a store with a prefix accepts keys of 1024 - len("prefix/")
 * bytes (objstore_key_max).
 *
 * Environment read by s3_config_from_env:
 *   AWS_ENDPOINT_URL         http(s)://host[:port]; default
 *                            https://s3.<region>.amazonaws.com
 *   AWS_REGION, AWS_DEFAULT_REGION   region in the signature (us-east-1)
 *   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY   required
 *   AWS_SESSION_TOKEN        optional, sent as x-amz-security-token
 *   AWS_CA_BUNDLE            optional CA file for https (default: system)
 *   BUCKETFS_S3_VIRTUAL_HOST 1: bucket.host addressing, 0: path style
 *                            (default: virtual-hosted only for AWS itself)
 *   BUCKETFS_S3_MULTIPART_THRESHOLD  puts above this use multipart (64M)
 *   BUCKETFS_S3_PART_SIZE    multipart part size (16M); S3 wants >= 5M,
 *                            smaller (>= 64k) only for servers set up so
 *   BUCKETFS_S3_UPLOAD_THREADS  parts uploaded at once per put (4)
 *   BUCKETFS_S3_MAX_ATTEMPTS tries per request, >= 1 (10)
 *   BUCKETFS_S3_RETRY_SECONDS  time budget of a request's retries (60)
 * Sizes take a k/m/g suffix (binary).
 *
 * Threads: a multipart put starts up to upload_threads short-lived threads
 * for its parts and joins them before it returns; nothing else does. */
#ifndef BUCKETFS_STORE_S3_H
#define BUCKETFS_STORE_S3_H

#include <stdbool.h>
#include <stdint.h>

#include "store/objstore.h"

#define S3_MIN_PART_SIZE (5ull << 20)  /* what S3 and RGW accept by default */
#define S3_LOWEST_PART_SIZE (64ull << 10) /* for servers configured lower */
#define S3_MAX_PUT_SIZE (5ull << 30)
#define S3_MAX_PARTS 10000

struct s3_config {
	char *endpoint;        /* scheme://host[:port], no trailing '/' */
	char *region;
	char *access_key;
	char *secret_key;
	char *session_token;   /* NULL: none */
	char *ca_bundle;       /* NULL: the system's CA store */
	bool virtual_host;     /* bucket.host/key instead of host/bucket/key */
	uint64_t multipart_threshold;
	uint64_t part_size;
	unsigned upload_threads;
	unsigned max_attempts;
	unsigned retry_seconds;
	unsigned connect_timeout_seconds;
	unsigned stall_seconds; /* abort a transfer that moves no byte this long */
};

/* Counters of one store, for tests and metrics. */
struct s3_stats {
	uint64_t requests;     /* HTTP requests sent, retries included */
	uint64_t retries;
	uint64_t connects;     /* new connections opened */
};

/* Defaults, then the environment.  -EINVAL (logged) for a malformed value;
 * missing credentials are reported by open, not here.  Free with
 * s3_config_free. */
int s3_config_from_env(struct s3_config *cfg);
void s3_config_free(struct s3_config *cfg);

/* Open "s3://bucket[/prefix]" with cfg (copied).  No request is made:
 * a wrong endpoint, bucket or key shows at the first operation. */
int objstore_s3_open_config(const char *url, const struct s3_config *cfg, objstore **out);

/* Create the store's bucket (CreateBucket; a LocationConstraint is sent
 * only to AWS outside us-east-1).  0 if it was made or we already own
 * it, -EEXIST if someone else owns the name, -EINVAL for another backend. */
int objstore_s3_create_bucket(objstore *st);

/* Counters of an s3 store (all zero for another backend). */
void objstore_s3_stats(objstore *st, struct s3_stats *out);

#endif
