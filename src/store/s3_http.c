/* s3_http.c -- one S3 request over libcurl: addressing, SigV4 signing, the
 * pool of curl handles, retries with backoff, and turning the answer into
 * an errno with a log line that says what failed (see s3_int.h).
 *
 * Connections.  A curl easy handle keeps the connections it opened alive
 * after a transfer; the store keeps idle handles on a stack, and a request
 * takes one, resets its options (curl_easy_reset keeps the connections)
 * and puts it back.  Many threads can have requests in flight at once, each
 * on its own handle, and a steady load reuses a steady set of connections.
 *
 * Retries.  A request is retried when no answer came (connection refused
 * or reset, timeout, a reply cut short) or the answer is 5xx or 429: each
 * retry is signed afresh and waits a random time in [0, min(5 s, 100 ms *
 * 2^n)] ("full jitter"), and the retries stop at max_attempts or when the
 * next wait would pass the time budget (retry_seconds).  Other 4xx answers
 * are final at once.
 *
 * Curl's own retry.  When a reused connection turns out dead before any
 * answer, curl sends the request again on a new one, without telling.
 * For a request that may not be repeated blindly (put_if_absent, POST) the
 * first send may have been carried out, and the caller must know that to
 * read a 412 or NoSuchUpload right.  So those bodies get no seek callback:
 * curl cannot rewind, fails with CURLE_SEND_FAIL_REWIND, and the retry is
 * ours, marked maybe_applied.  (One without a body needs no rewind; it is
 * sent on a fresh connection instead.)
 *
 * Payloads are signed with their full sha256 (x-amz-content-sha256),
 * computed once per request, so a corrupted body is refused by the server
 * rather than stored. */
#include "store/s3_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/evp.h>

#include "store/s3_xml.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/mem.h"

#define DEFAULT_MAX_RESPONSE (16u << 20)
#define BACKOFF_BASE_MS 100u
#define BACKOFF_CAP_MS 5000u
#define REQUEST_ID_MAX 96

/* Where one request goes, computed once for all its attempts. */
struct target {
	char *url;
	char *uri;             /* encoded path, as signed */
	char *query;           /* canonical query string, as signed */
	char hash[SIGV4_HASH_HEX];
};

/* The state of one attempt, shared with the curl callbacks. */
struct transfer {
	struct s3_request *r;
	size_t sent;
	size_t max_response;
	bool too_big;
	char request_id[REQUEST_ID_MAX];
	char errbuf[CURL_ERROR_SIZE];
};

/* ---- small helpers ---- */

void s3_md5_hex(const void *data, size_t len, char out[33])
{
	static const char digits[] = "0123456789abcdef";
	unsigned char md[16];
	int i;

	if (!EVP_Digest(data, len, md, NULL, EVP_md5(), NULL)) {
		log_error("s3: md5 failed in libcrypto");
		abort();
	}
	for (i = 0; i < 16; i++) {
		out[2 * i] = digits[md[i] >> 4];
		out[2 * i + 1] = digits[md[i] & 15];
	}
	out[32] = '\0';
}

void s3_md5_base64(const void *data, size_t len, char out[25])
{
	unsigned char md[16];

	if (!EVP_Digest(data, len, md, NULL, EVP_md5(), NULL)) {
		log_error("s3: md5 failed in libcrypto");
		abort();
	}
	EVP_EncodeBlock((unsigned char *)out, md, 16);
}

static uint64_t rng_next(struct s3_store *s)
{
	uint64_t z = atomic_fetch_add(&s->rng, 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000u), (long)(ns % 1000000000u) };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

void s3_log_failure(struct s3_store *s, const char *op, const char *key, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (key)
		log_error("s3: %s %s/%s%s: %s", op, s->bucket, s->prefix, key, msg);
	else
		log_error("s3: %s bucket %s: %s", op, s->bucket, msg);
}

void s3_request_free(struct s3_request *r)
{
	buf_free(&r->response);
}

/* ---- the handle pool ---- */

static CURL *handle_get(struct s3_store *s)
{
	CURL *h = NULL;

	pthread_mutex_lock(&s->pool_lock);
	if (s->npool)
		h = s->pool[--s->npool];
	pthread_mutex_unlock(&s->pool_lock);
	if (h)
		curl_easy_reset(h);
	else
		h = curl_easy_init();
	return h;
}

static void handle_put(struct s3_store *s, CURL *h)
{
	pthread_mutex_lock(&s->pool_lock);
	if (s->npool < S3_POOL_MAX) {
		s->pool[s->npool++] = h;
		h = NULL;
	}
	pthread_mutex_unlock(&s->pool_lock);
	if (h)
		curl_easy_cleanup(h);
}

void s3_pool_free(struct s3_store *s)
{
	while (s->npool)
		curl_easy_cleanup(s->pool[--s->npool]);
}

/* ---- the target ---- */

static void target_make(struct s3_store *s, const struct s3_request *r, struct target *t)
{
	struct buf path = BUF_INIT;
	size_t n;

	buf_append(&path, s->path_base, strlen(s->path_base));
	if (r->key) {
		char *full = xasprintf("%s%s", s->prefix, r->key);
		buf_put_u8(&path, '/');
		sigv4_uri_encode(&path, full, true);
		free(full);
	} else if (!path.len) {
		buf_put_u8(&path, '/');
	}
	buf_put_u8(&path, '\0');
	t->uri = (char *)buf_steal(&path, &n);
	t->query = sigv4_query_string(&r->query);
	t->url = xasprintf("%s%s%s%s", s->origin, t->uri, *t->query ? "?" : "", t->query);
	sigv4_sha256_hex(r->body ? r->body : "", r->body_len, t->hash);
}

static void target_free(struct target *t)
{
	free(t->url);
	free(t->uri);
	free(t->query);
}

/* ---- curl callbacks ---- */

static size_t read_cb(char *out, size_t size, size_t nmemb, void *arg)
{
	struct transfer *x = arg;
	size_t n = size * nmemb, left = x->r->body_len - x->sent;

	if (n > left)
		n = left;
	if (!n)
		return 0;
	memcpy(out, (const char *)x->r->body + x->sent, n);
	x->sent += n;
	return n;
}

static int seek_cb(void *arg, curl_off_t off, int origin)
{
	struct transfer *x = arg;

	if (origin != SEEK_SET || off < 0 || (uint64_t)off > x->r->body_len)
		return CURL_SEEKFUNC_FAIL;
	x->sent = (size_t)off;
	return CURL_SEEKFUNC_OK;
}

static size_t write_cb(char *p, size_t size, size_t nmemb, void *arg)
{
	struct transfer *x = arg;
	size_t n = size * nmemb;

	if (n > x->max_response - x->r->response.len) {
		x->too_big = true;
		return 0;
	}
	buf_append(&x->r->response, p, n);
	return n;
}

/* Copy a header value, trimmed of blanks and the line end, into out. */
static void header_value(const char *v, size_t n, char *out, size_t size)
{
	while (n && (*v == ' ' || *v == '\t'))
		v++, n--;
	while (n && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' '))
		n--;
	if (n >= size)
		n = size - 1;
	memcpy(out, v, n);
	out[n] = '\0';
}

static bool header_is(const char *line, size_t n, const char *name, const char **value)
{
	size_t len = strlen(name);

	if (n <= len || strncasecmp(line, name, len) || line[len] != ':')
		return false;
	*value = line + len + 1;
	return true;
}

static void take_etag(struct s3_request *r, const char *v, size_t n)
{
	char raw[OBJSTORE_ETAG_MAX + 2];
	const char *p = raw;
	size_t len;

	header_value(v, n, raw, sizeof raw);
	len = strlen(raw);
	if (len >= 2 && raw[0] == '"' && raw[len - 1] == '"') {
		p++;
		len -= 2;
	}
	if (len >= sizeof r->etag)
		len = sizeof r->etag - 1;
	memcpy(r->etag, p, len);
	r->etag[len] = '\0';
}

static size_t header_cb(char *line, size_t size, size_t nmemb, void *arg)
{
	struct transfer *x = arg;
	struct s3_request *r = x->r;
	size_t n = size * nmemb;
	const char *v;
	char num[32];

	if (n >= 5 && !memcmp(line, "HTTP/", 5)) {
		/* A new response (after a 100 Continue, say) */
		r->etag[0] = '\0';
		r->has_length = false;
		x->request_id[0] = '\0';
	} else if (header_is(line, n, "etag", &v)) {
		take_etag(r, v, n - (size_t)(v - line));
	} else if (header_is(line, n, "content-length", &v)) {
		header_value(v, n - (size_t)(v - line), num, sizeof num);
		r->content_length = strtoull(num, NULL, 10);
		r->has_length = true;
		if (!strcmp(r->method, "GET") &&
		    r->content_length <= x->max_response - r->response.len)
			buf_reserve(&r->response, (size_t)r->content_length);
	} else if (header_is(line, n, "x-amz-request-id", &v)) {
		header_value(v, n - (size_t)(v - line), x->request_id, sizeof x->request_id);
	}
	return n;
}

/* ---- one attempt ---- */

static struct curl_slist *add_header(struct curl_slist *list, const char *name,
				     const char *value)
{
	char *line = xasprintf("%s: %s", name, value);
	struct curl_slist *l = curl_slist_append(list, line);

	free(line);
	if (!l) {
		log_error("s3: out of memory building request headers");
		abort();
	}
	return l;
}

/* The signed headers of one attempt, with the Authorization header. */
static struct curl_slist *signed_headers(struct s3_store *s, const struct s3_request *r,
					 const struct target *t)
{
	struct sigv4_credentials cred = { s->cfg.access_key, s->cfg.secret_key,
					  s->cfg.region, "s3" };
	struct sigv4_request sr = { .method = r->method, .uri = t->uri, .query = t->query,
				    .payload_hash = t->hash };
	struct curl_slist *list = NULL;
	char date[SIGV4_DATE_LEN];
	char *auth;
	size_t i;

	sigv4_amz_date(time(NULL), date);
	sigv4_add_header(&sr, "host", s->host);
	sigv4_add_header(&sr, "x-amz-date", date);
	sigv4_add_header(&sr, "x-amz-content-sha256", t->hash);
	if (s->cfg.session_token)
		sigv4_add_header(&sr, "x-amz-security-token", s->cfg.session_token);
	if (r->range)
		sigv4_add_header(&sr, "range", r->range);
	if (r->if_none_match)
		sigv4_add_header(&sr, "if-none-match", "*");
	if (r->content_md5)
		sigv4_add_header(&sr, "content-md5", r->content_md5);
	if (r->content_type)
		sigv4_add_header(&sr, "content-type", r->content_type);
	auth = sigv4_authorization(&cred, &sr, date);
	for (i = 0; i < sr.nheaders; i++)
		list = add_header(list, sr.headers[i].name, sr.headers[i].value);
	list = add_header(list, "authorization", auth);
	/* No "Expect: 100-continue" round trip before bodies. */
	list = curl_slist_append(list, "Expect:");
	free(auth);
	return list;
}

/* May the request be sent twice without changing its meaning? */
static bool idempotent(const struct s3_request *r)
{
	return !r->if_none_match && strcmp(r->method, "POST");
}

static void set_method(CURL *h, struct s3_request *r, struct transfer *x)
{
	if (!strcmp(r->method, "HEAD")) {
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else if (!strcmp(r->method, "PUT") || !strcmp(r->method, "POST")) {
		curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->body_len);
		curl_easy_setopt(h, CURLOPT_READFUNCTION, read_cb);
		curl_easy_setopt(h, CURLOPT_READDATA, x);
		if (idempotent(r)) {
			curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, seek_cb);
			curl_easy_setopt(h, CURLOPT_SEEKDATA, x);
		} else if (!r->body_len) {
			/* see "Curl's own retry" above */
			curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L);
		}
		if (!strcmp(r->method, "POST"))
			curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "POST");
	} else if (!strcmp(r->method, "DELETE")) {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "DELETE");
	} else {
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	}
}

static void set_options(struct s3_store *s, CURL *h, struct s3_request *r,
			const struct target *t, struct transfer *x, struct curl_slist *headers)
{
	curl_easy_setopt(h, CURLOPT_URL, t->url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, (long)s->cfg.connect_timeout_seconds);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, (long)s->cfg.stall_seconds);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	if (s->cfg.ca_bundle)
		curl_easy_setopt(h, CURLOPT_CAINFO, s->cfg.ca_bundle);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, x->errbuf);
	set_method(h, r, x);
}

static void reset_response(struct s3_request *r)
{
	buf_reset(&r->response);
	r->status = 0;
	r->code[0] = '\0';
	r->etag[0] = '\0';
	r->has_length = false;
	r->content_length = 0;
}

/* Run one attempt.  Returns the curl result; on CURLE_OK r->status holds
 * the HTTP status and r->code the S3 error code if the body had one. */
static CURLcode attempt(struct s3_store *s, struct s3_request *r, const struct target *t,
			struct transfer *x)
{
	struct curl_slist *headers;
	CURLcode cc;
	long connects = 0;
	CURL *h;

	reset_response(r);
	memset(x, 0, sizeof *x);
	x->r = r;
	x->max_response = r->max_response ? r->max_response : DEFAULT_MAX_RESPONSE;
	h = handle_get(s);
	if (!h) {
		snprintf(x->errbuf, sizeof x->errbuf, "curl_easy_init failed");
		return CURLE_FAILED_INIT;
	}
	headers = signed_headers(s, r, t);
	set_options(s, h, r, t, x, headers);
	atomic_fetch_add(&s->n_requests, 1);
	cc = curl_easy_perform(h);
	if (curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &connects) == CURLE_OK && connects > 0)
		atomic_fetch_add(&s->n_connects, (uint64_t)connects);
	if (cc == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(headers);
	handle_put(s, h);
	if (cc == CURLE_OK && r->status >= 300)
		s3_xml_copy(s3_xml_make(r->response.data, r->response.len), "Code",
			    r->code, sizeof r->code);
	if (cc == CURLE_WRITE_ERROR && x->too_big)
		snprintf(x->errbuf, sizeof x->errbuf, "response longer than %zu bytes",
			 x->max_response);
	if (cc == CURLE_SEND_FAIL_REWIND)
		snprintf(x->errbuf, sizeof x->errbuf,
			 "the connection died after the request was sent (it may have been carried out)");
	if (cc != CURLE_OK && !x->errbuf[0])
		snprintf(x->errbuf, sizeof x->errbuf, "%s", curl_easy_strerror(cc));
	return cc;
}

/* ---- retry policy ---- */

static bool transport_retryable(CURLcode cc)
{
	switch (cc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_SEND_FAIL_REWIND:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return true;
	default:
		return false;
	}
}

static bool status_retryable(long status)
{
	return status >= 500 || status == 429;
}

/* Could the server have applied a mutation although this attempt failed? */
static bool attempt_maybe_applied(const struct s3_request *r, CURLcode cc)
{
	if (!strcmp(r->method, "GET") || !strcmp(r->method, "HEAD"))
		return false;
	if (cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST)
		return false;
	return cc != CURLE_OK || r->status >= 500;
}

/* Full jitter: uniform in [0, min(cap, base * 2^(attempt-1))]. */
static uint64_t backoff_ns(struct s3_store *s, unsigned attempt)
{
	unsigned shift = attempt > 16 ? 16 : attempt - 1;
	uint64_t ceiling = (uint64_t)BACKOFF_BASE_MS << shift;

	if (ceiling > BACKOFF_CAP_MS)
		ceiling = BACKOFF_CAP_MS;
	return rng_next(s) % (ceiling * 1000000u + 1);
}

static void describe_attempt(const struct s3_request *r, CURLcode cc, const struct transfer *x,
			     char *out, size_t size)
{
	if (cc != CURLE_OK)
		snprintf(out, size, "%s", x->errbuf);
	else
		snprintf(out, size, "HTTP %ld%s%s", r->status, r->code[0] ? " " : "", r->code);
}

/* ---- the final answer ---- */

static int status_errno(long status)
{
	switch (status) {
	case 404: return -ENOENT;
	case 412: return -EEXIST;
	case 416: return -ERANGE;
	case 403: return -EACCES;
	default: return -EIO;
	}
}

static bool quiet(const struct s3_request *r, int rc)
{
	return (rc == -ENOENT && (r->quiet & S3_QUIET_ENOENT)) ||
	       (rc == -EEXIST && (r->quiet & S3_QUIET_EEXIST)) ||
	       (rc == -ERANGE && (r->quiet & S3_QUIET_ERANGE));
}

static const char *code_hint(const char *code)
{
	if (!strcmp(code, "SignatureDoesNotMatch"))
		return ": the secret key is wrong (AWS_SECRET_ACCESS_KEY)";
	if (!strcmp(code, "InvalidAccessKeyId"))
		return ": the access key is unknown to the server (AWS_ACCESS_KEY_ID)";
	if (!strcmp(code, "RequestTimeTooSkewed"))
		return ": the local clock is too far from the server's";
	if (!strcmp(code, "AccessDenied"))
		return ": the credentials may not do this";
	return "";
}

static int finish(struct s3_store *s, struct s3_request *r, CURLcode cc,
		  const struct transfer *x, uint64_t start)
{
	double secs = (double)(clock_mono_ns() - start) / 1e9;
	int rc;

	if (cc != CURLE_OK) {
		s3_log_failure(s, r->op, r->key, "no answer from %s: %s (%u attempt%s in %.1f s)",
			       s->origin, x->errbuf, r->attempts, r->attempts == 1 ? "" : "s", secs);
		return -EIO;
	}
	if (r->status >= 200 && r->status < 300)
		return 0;
	rc = status_errno(r->status);
	if (!strcmp(r->code, "NoSuchBucket")) {
		s3_log_failure(s, r->op, r->key, "bucket \"%s\" does not exist at %s (HTTP %ld NoSuchBucket)",
			       s->bucket, s->origin, r->status);
		return -ENOENT;
	}
	if (quiet(r, rc))
		return rc;
	s3_log_failure(s, r->op, r->key, "HTTP %ld %s (request id %s, %u attempt%s in %.1f s)%s",
		       r->status, r->code[0] ? r->code : "(no error code)",
		       x->request_id[0] ? x->request_id : "none", r->attempts,
		       r->attempts == 1 ? "" : "s", secs, code_hint(r->code));
	return rc;
}

int s3_perform(struct s3_store *s, struct s3_request *r)
{
	uint64_t start = clock_mono_ns();
	uint64_t deadline = start + (uint64_t)s->cfg.retry_seconds * 1000000000u;
	struct transfer x;
	struct target t;
	CURLcode cc;
	int rc;

	target_make(s, r, &t);
	r->attempts = 0;
	r->maybe_applied = false;
	for (;;) {
		char what[CURL_ERROR_SIZE + 64];
		uint64_t wait;

		r->attempts++;
		cc = attempt(s, r, &t, &x);
		if (cc == CURLE_OK ? !status_retryable(r->status) : !transport_retryable(cc))
			break;
		if (attempt_maybe_applied(r, cc))
			r->maybe_applied = true;
		wait = backoff_ns(s, r->attempts);
		if (r->attempts >= s->cfg.max_attempts || clock_mono_ns() + wait > deadline)
			break;
		describe_attempt(r, cc, &x, what, sizeof what);
		if (r->attempts == 1)
			log_warn("s3: %s %s/%s%s: %s; retrying", r->op, s->bucket, s->prefix,
				 r->key ? r->key : "", what);
		else
			log_debug("s3: %s %s/%s%s: %s; retry %u in %.2f s", r->op, s->bucket,
				  s->prefix, r->key ? r->key : "", what, r->attempts,
				  (double)wait / 1e9);
		atomic_fetch_add(&s->n_retries, 1);
		sleep_ns(wait);
	}
	rc = finish(s, r, cc, &x, start);
	target_free(&t);
	return rc;
}
