/* sigv4.c -- AWS Signature Version 4 (see sigv4.h).
 *
 * The algorithm, in the order the code follows it:
 *   canonical request = method \n uri \n query \n
 *                       "name:value\n" per header (sorted by name) \n
 *                       signed header names joined by ';' \n payload hash
 *   string to sign    = "AWS4-HMAC-SHA256" \n date-time \n scope \n
 *                       hex(sha256(canonical request))
 *   signing key       = HMAC chain "AWS4"+secret -> date -> region ->
 *                       service -> "aws4_request"
 *   signature         = hex(HMAC(signing key, string to sign))
 * where scope is date/region/service/aws4_request. */
#include "store/sigv4.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "util/log.h"
#include "util/mem.h"

#define SHA256_LEN 32

static void hex_encode(const unsigned char *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

static void sha256(const void *data, size_t len, unsigned char out[SHA256_LEN])
{
	if (!EVP_Digest(data, len, out, NULL, EVP_sha256(), NULL)) {
		log_error("sigv4: sha256 failed in libcrypto");
		abort();
	}
}

static void hmac(const void *key, size_t key_len, const char *msg,
		 unsigned char out[SHA256_LEN])
{
	unsigned int n = SHA256_LEN;

	if (!HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)msg,
		  strlen(msg), out, &n)) {
		log_error("sigv4: HMAC-SHA256 failed in libcrypto");
		abort();
	}
}

void sigv4_sha256_hex(const void *data, size_t len, char out[SIGV4_HASH_HEX])
{
	unsigned char md[SHA256_LEN];

	sha256(data, len, md);
	hex_encode(md, sizeof md, out);
}

void sigv4_amz_date(time_t t, char out[SIGV4_DATE_LEN])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, SIGV4_DATE_LEN, "%Y%m%dT%H%M%SZ", &tm);
}

static bool unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
}

void sigv4_uri_encode(struct buf *out, const char *s, bool keep_slash)
{
	static const char digits[] = "0123456789ABCDEF";
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p; p++) {
		if (unreserved(*p) || (keep_slash && *p == '/')) {
			buf_put_u8(out, *p);
		} else {
			char esc[3] = { '%', digits[*p >> 4], digits[*p & 15] };
			buf_append(out, esc, 3);
		}
	}
}

/* ---- query strings ---- */

void sigv4_query_add(struct sigv4_query *q, const char *name, const char *value)
{
	if (q->n == SIGV4_MAX_PARAMS) {
		log_error("sigv4: more than %d query parameters", SIGV4_MAX_PARAMS);
		abort();
	}
	q->p[q->n].name = name;
	q->p[q->n].value = value;
	q->n++;
}

char *sigv4_query_string(const struct sigv4_query *q)
{
	struct buf b = BUF_INIT;
	bool used[SIGV4_MAX_PARAMS] = { false };
	size_t i, k;

	/* Selection by name: a handful of parameters, no allocation. */
	for (k = 0; k < q->n; k++) {
		size_t best = q->n;
		for (i = 0; i < q->n; i++)
			if (!used[i] && (best == q->n || strcmp(q->p[i].name, q->p[best].name) < 0))
				best = i;
		used[best] = true;
		if (k)
			buf_put_u8(&b, '&');
		sigv4_uri_encode(&b, q->p[best].name, false);
		buf_put_u8(&b, '=');
		sigv4_uri_encode(&b, q->p[best].value, false);
	}
	buf_put_u8(&b, '\0');
	return (char *)buf_steal(&b, &i);
}

/* ---- signing ---- */

void sigv4_add_header(struct sigv4_request *r, const char *name, const char *value)
{
	if (r->nheaders == SIGV4_MAX_HEADERS) {
		log_error("sigv4: more than %d signed headers", SIGV4_MAX_HEADERS);
		abort();
	}
	r->headers[r->nheaders].name = name;
	r->headers[r->nheaders].value = value;
	r->nheaders++;
}

static int header_cmp(const void *a, const void *b)
{
	return strcmp(((const struct sigv4_header *)a)->name,
		      ((const struct sigv4_header *)b)->name);
}

/* Append a header value with leading and trailing blanks removed and
 * inner runs of blanks squeezed to one space. */
static void append_trimmed(struct buf *b, const char *v)
{
	bool space = false;

	while (*v == ' ' || *v == '\t')
		v++;
	for (; *v; v++) {
		if (*v == ' ' || *v == '\t') {
			space = true;
			continue;
		}
		if (space)
			buf_put_u8(b, ' ');
		space = false;
		buf_put_u8(b, (uint8_t)*v);
	}
}

static void append_str(struct buf *b, const char *s)
{
	buf_append(b, s, strlen(s));
}

/* The signed header names joined by ';' (headers already sorted). */
static void signed_headers(struct buf *b, const struct sigv4_request *r)
{
	size_t i;

	for (i = 0; i < r->nheaders; i++) {
		if (i)
			buf_put_u8(b, ';');
		append_str(b, r->headers[i].name);
	}
}

static void canonical_request(struct buf *b, const struct sigv4_request *r)
{
	size_t i;

	append_str(b, r->method);
	buf_put_u8(b, '\n');
	append_str(b, r->uri);
	buf_put_u8(b, '\n');
	append_str(b, r->query);
	buf_put_u8(b, '\n');
	for (i = 0; i < r->nheaders; i++) {
		append_str(b, r->headers[i].name);
		buf_put_u8(b, ':');
		append_trimmed(b, r->headers[i].value);
		buf_put_u8(b, '\n');
	}
	buf_put_u8(b, '\n');
	signed_headers(b, r);
	buf_put_u8(b, '\n');
	append_str(b, r->payload_hash);
}

static void signing_key(const struct sigv4_credentials *c, const char *date,
			unsigned char key[SHA256_LEN])
{
	char *secret = xasprintf("AWS4%s", c->secret_key);

	hmac(secret, strlen(secret), date, key);
	hmac(key, SHA256_LEN, c->region, key);
	hmac(key, SHA256_LEN, c->service, key);
	hmac(key, SHA256_LEN, "aws4_request", key);
	explicit_bzero(secret, strlen(secret));
	free(secret);
}

char *sigv4_authorization(const struct sigv4_credentials *c, struct sigv4_request *r,
			  const char *amz_date)
{
	struct buf creq = BUF_INIT, names = BUF_INIT;
	unsigned char key[SHA256_LEN], sig[SHA256_LEN];
	char date[9], creq_hash[SIGV4_HASH_HEX], sig_hex[SIGV4_HASH_HEX];
	char *scope, *to_sign, *auth;

	memcpy(date, amz_date, 8);
	date[8] = '\0';
	scope = xasprintf("%s/%s/%s/aws4_request", date, c->region, c->service);
	qsort(r->headers, r->nheaders, sizeof r->headers[0], header_cmp);
	canonical_request(&creq, r);
	sigv4_sha256_hex(creq.data, creq.len, creq_hash);
	to_sign = xasprintf("AWS4-HMAC-SHA256\n%s\n%s\n%s", amz_date, scope, creq_hash);
	signing_key(c, date, key);
	hmac(key, sizeof key, to_sign, sig);
	hex_encode(sig, sizeof sig, sig_hex);
	signed_headers(&names, r);
	buf_put_u8(&names, '\0');
	auth = xasprintf("AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s",
			 c->access_key, scope, (const char *)names.data, sig_hex);
	explicit_bzero(key, sizeof key);
	buf_free(&creq);
	buf_free(&names);
	free(to_sign);
	free(scope);
	return auth;
}
