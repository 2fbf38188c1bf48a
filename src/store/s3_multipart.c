/* s3_multipart.c -- puts of large objects as S3 multipart uploads.
 *
 * initiate (POST ?uploads) -> the parts (PUT ?partNumber&uploadId), several
 * at once -> complete (POST ?uploadId with the list of part etags).  The
 * object appears whole, atomically, at complete; if any step fails the
 * upload is aborted (DELETE ?uploadId) so its parts do not linger.
 *
 * Parts are uploaded by the calling thread and up to upload_threads - 1
 * helper threads that it starts and joins; each takes the next part number
 * from a shared counter, and the first failure stops them all.  Parts have
 * cfg.part_size bytes (the last one fewer), grown if the object would need
 * more than 10000 parts.
 *
 * Complete ignores If-None-Match on RGW, so multipart is never used for
 * put_if_absent (s3.c sends those as one PUT).
 *
 * A complete whose reply was lost is retried, and the retry finds the
 * upload gone (404 NoSuchUpload).  That is success if the object now has
 * the etag the completed upload must have: the md5 of the parts' md5s,
 * "-", and the part count. */
#include "store/s3_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/s3_xml.h"
#include "util/log.h"
#include "util/mem.h"

#define MIB (1ull << 20)

struct upload {
	struct s3_store *s;
	const char *key;
	char *upload_id;
	const uint8_t *data;
	size_t len;
	size_t part_size;
	unsigned nparts;
	char (*etags)[OBJSTORE_ETAG_MAX];
	_Atomic unsigned next;
	_Atomic int rc;        /* the first failure, 0 if none */
};

/* ---- the steps ---- */

static int initiate(struct upload *u)
{
	struct s3_request r = { .op = "multipart initiate", .method = "POST", .key = u->key };
	int rc;

	sigv4_query_add(&r.query, "uploads", "");
	rc = s3_perform(u->s, &r);
	if (rc)
		goto out;
	u->upload_id = s3_xml_text(s3_xml_make(r.response.data, r.response.len), "UploadId");
	if (!u->upload_id || !*u->upload_id) {
		s3_log_failure(u->s, r.op, u->key, "no UploadId in the answer");
		rc = -EIO;
	}
out:
	s3_request_free(&r);
	return rc;
}

static int upload_part(struct upload *u, unsigned i)
{
	size_t off = (size_t)i * u->part_size;
	size_t n = u->len - off < u->part_size ? u->len - off : u->part_size;
	struct s3_request r = { .op = "multipart upload part", .method = "PUT", .key = u->key,
				.body = u->data + off, .body_len = n };
	char num[16];
	int rc;

	snprintf(num, sizeof num, "%u", i + 1);
	sigv4_query_add(&r.query, "partNumber", num);
	sigv4_query_add(&r.query, "uploadId", u->upload_id);
	rc = s3_perform(u->s, &r);
	if (!rc && !r.etag[0]) {
		s3_log_failure(u->s, r.op, u->key, "part %u: no ETag in the answer", i + 1);
		rc = -EIO;
	}
	if (!rc)
		memcpy(u->etags[i], r.etag, sizeof u->etags[i]);
	s3_request_free(&r);
	return rc;
}

static void *part_worker(void *arg)
{
	struct upload *u = arg;

	for (;;) {
		unsigned i = atomic_fetch_add(&u->next, 1);
		int rc, none = 0;

		if (i >= u->nparts || atomic_load(&u->rc))
			break;
		rc = upload_part(u, i);
		if (rc)
			atomic_compare_exchange_strong(&u->rc, &none, rc);
	}
	return NULL;
}

/* Upload every part: this thread and up to upload_threads - 1 helpers. */
static int upload_parts(struct upload *u)
{
	unsigned want = u->s->cfg.upload_threads, started = 0, i;
	pthread_t *t;

	if (want > u->nparts)
		want = u->nparts;
	t = xcalloc(want, sizeof *t);
	for (i = 0; i + 1 < want; i++) {
		if (pthread_create(&t[started], NULL, part_worker, u)) {
			log_warn("s3: multipart put %s/%s%s: could not start an upload thread; using %u",
				 u->s->bucket, u->s->prefix, u->key, started + 1);
			break;
		}
		started++;
	}
	part_worker(u);
	for (i = 0; i < started; i++)
		pthread_join(t[i], NULL);
	free(t);
	return atomic_load(&u->rc);
}

static void complete_body(const struct upload *u, struct buf *b)
{
	unsigned i;

	buf_append(b, "<CompleteMultipartUpload>", 25);
	for (i = 0; i < u->nparts; i++) {
		char *part = xasprintf("<Part><PartNumber>%u</PartNumber><ETag>&quot;", i + 1);
		buf_append(b, part, strlen(part));
		s3_xml_escape(b, u->etags[i]);
		buf_append(b, "&quot;</ETag></Part>", 20);
		free(part);
	}
	buf_append(b, "</CompleteMultipartUpload>", 26);
}

static int hex_digit(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
	       c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* The etag a completed upload gets; false if a part etag is not an md5. */
static bool expected_etag(const struct upload *u, char *out, size_t size)
{
	uint8_t *md5s = xmalloc((size_t)u->nparts * 16);
	char hex[33];
	unsigned i, j;
	bool ok = true;

	for (i = 0; i < u->nparts && ok; i++) {
		ok = strlen(u->etags[i]) == 32;
		for (j = 0; j < 16 && ok; j++) {
			int hi = hex_digit(u->etags[i][2 * j]), lo = hex_digit(u->etags[i][2 * j + 1]);
			ok = hi >= 0 && lo >= 0;
			md5s[i * 16 + j] = (uint8_t)(hi << 4 | lo);
		}
	}
	if (ok) {
		s3_md5_hex(md5s, (size_t)u->nparts * 16, hex);
		snprintf(out, size, "%s-%u", hex, u->nparts);
	}
	free(md5s);
	return ok;
}

/* After NoSuchUpload on a retried complete: is the object ours? */
static bool completed_earlier(struct upload *u)
{
	struct s3_request r = { .op = "multipart check", .method = "HEAD", .key = u->key,
				.quiet = S3_QUIET_ENOENT };
	char want[OBJSTORE_ETAG_MAX];
	bool ours;

	ours = expected_etag(u, want, sizeof want) && s3_perform(u->s, &r) == 0 &&
	       !strcmp(r.etag, want);
	s3_request_free(&r);
	if (ours)
		log_warn("s3: multipart complete %s/%s%s: the reply to the first try was lost; it had succeeded",
			 u->s->bucket, u->s->prefix, u->key);
	return ours;
}

static int complete(struct upload *u)
{
	struct s3_request r = { .op = "multipart complete", .method = "POST", .key = u->key,
				.content_type = "application/xml", .quiet = S3_QUIET_ENOENT };
	struct buf body = BUF_INIT;
	struct s3_xml answer, err;
	int rc;

	complete_body(u, &body);
	r.body = body.data;
	r.body_len = body.len;
	sigv4_query_add(&r.query, "uploadId", u->upload_id);
	rc = s3_perform(u->s, &r);
	answer = s3_xml_make(r.response.data, r.response.len);
	if (!rc && s3_xml_next(&answer, "Error", &err)) {
		/* S3 may answer 200 and report the failure in the body. */
		char code[S3_CODE_MAX] = "(no code)";
		s3_xml_copy(err, "Code", code, sizeof code);
		s3_log_failure(u->s, r.op, u->key, "HTTP %ld with error %s in the body", r.status, code);
		rc = -EIO;
	}
	if (rc == -ENOENT && r.maybe_applied && completed_earlier(u))
		rc = 0;
	else if (rc == -ENOENT && strcmp(r.code, "NoSuchBucket"))
		s3_log_failure(u->s, r.op, u->key, "HTTP %ld %s: the upload vanished", r.status,
			       r.code[0] ? r.code : "(no code)");
	s3_request_free(&r);
	buf_free(&body);
	return rc;
}

static void abort_upload(struct upload *u)
{
	struct s3_request r = { .op = "multipart abort", .method = "DELETE", .key = u->key,
				.quiet = S3_QUIET_ENOENT };

	sigv4_query_add(&r.query, "uploadId", u->upload_id);
	if (s3_perform(u->s, &r) && r.status != 404)
		s3_log_failure(u->s, r.op, u->key, "upload %s left behind; its parts stay until "
			       "a lifecycle rule or an abort removes them", u->upload_id);
	s3_request_free(&r);
}

/* ---- the whole put ---- */

static size_t choose_part_size(const struct s3_store *s, size_t len)
{
	uint64_t ps = s->cfg.part_size;

	if ((len + ps - 1) / ps > S3_MAX_PARTS)
		ps = ((len + S3_MAX_PARTS - 1) / S3_MAX_PARTS + MIB - 1) / MIB * MIB;
	return (size_t)ps;
}

int s3_multipart_put(struct s3_store *s, const char *key, const void *data, size_t len)
{
	struct upload u = { .s = s, .key = key, .data = data, .len = len };
	int rc;

	u.part_size = choose_part_size(s, len);
	u.nparts = (unsigned)((len + u.part_size - 1) / u.part_size);
	u.etags = xcalloc(u.nparts, sizeof u.etags[0]);
	rc = initiate(&u);
	if (rc)
		goto out;
	log_debug("s3: multipart put %s/%s%s: %zu bytes in %u parts of %zu, upload %s",
		  s->bucket, s->prefix, key, len, u.nparts, u.part_size, u.upload_id);
	rc = upload_parts(&u);
	if (!rc)
		rc = complete(&u);
	if (rc)
		abort_upload(&u);
out:
	free(u.upload_id);
	free(u.etags);
	return rc;
}
