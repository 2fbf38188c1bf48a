/* sigv4.h -- AWS Signature Version 4 for S3 requests (header form), and
 * the encodings it needs (private to src/store).
 *
 * The signer is pure: it turns a described request, credentials and a
 * timestamp into the Authorization header value, so it can be checked
 * against AWS's published examples without a network.  Hashing and HMAC
 * come from OpenSSL's libcrypto.
 *
 * The caller owns canonical form: `uri` must already be URI-encoded the way
 * it goes on the wire (sigv4_uri_encode with keep_slash), and `query` must
 * be the canonical query string (sigv4_query_add + sigv4_query_string),
 * which is also what goes on the wire, so what is signed is what is sent. */
#ifndef BUCKETFS_STORE_SIGV4_H
#define BUCKETFS_STORE_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "util/buf.h"

#define SIGV4_HASH_HEX 65      /* 64 hex digits and NUL */
#define SIGV4_DATE_LEN 17      /* YYYYMMDDTHHMMSSZ and NUL */
#define SIGV4_MAX_HEADERS 16
#define SIGV4_MAX_PARAMS 8

/* The sha256 of an empty payload, in hex. */
#define SIGV4_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

struct sigv4_credentials {
	const char *access_key;
	const char *secret_key;
	const char *region;
	const char *service;   /* "s3" */
};

struct sigv4_header {
	const char *name;      /* lower case */
	const char *value;
};

/* Query parameters, kept unencoded until sigv4_query_string. */
struct sigv4_query {
	struct {
		const char *name;
		const char *value;
	} p[SIGV4_MAX_PARAMS];
	size_t n;
};

struct sigv4_request {
	const char *method;
	const char *uri;       /* encoded path, starting with '/' */
	const char *query;     /* canonical query string, "" for none */
	/* Every header to sign (at least host, x-amz-date and
	 * x-amz-content-sha256); any order, sorted by the signer. */
	struct sigv4_header headers[SIGV4_MAX_HEADERS];
	size_t nheaders;
	const char *payload_hash; /* hex sha256 of the body */
};

/* Hex sha256 of data. */
void sigv4_sha256_hex(const void *data, size_t len, char out[SIGV4_HASH_HEX]);
/* "YYYYMMDDTHHMMSSZ" for t (UTC). */
void sigv4_amz_date(time_t t, char out[SIGV4_DATE_LEN]);
/* Append s URI-encoded as SigV4 wants: unreserved characters (A-Z a-z 0-9
 * - . _ ~) as they are, every other byte as %XX (upper-case hex); '/' is
 * kept when keep_slash (object key paths) and encoded otherwise. */
void sigv4_uri_encode(struct buf *out, const char *s, bool keep_slash);
/* Add a parameter (value "" for a bare flag like "uploads"); the strings
 * must outlive the query.  Aborts past SIGV4_MAX_PARAMS (a bug). */
void sigv4_query_add(struct sigv4_query *q, const char *name, const char *value);
/* The canonical query string: encoded name=value pairs sorted by name,
 * joined by '&'; "" for no parameters.  Caller frees. */
char *sigv4_query_string(const struct sigv4_query *q);
/* Append a header to sign; aborts past SIGV4_MAX_HEADERS (a bug). */
void sigv4_add_header(struct sigv4_request *r, const char *name, const char *value);
/* The Authorization header value for request r made at amz_date.  Sorts
 * r->headers.  Caller frees. */
char *sigv4_authorization(const struct sigv4_credentials *c, struct sigv4_request *r,
			  const char *amz_date);

#endif
