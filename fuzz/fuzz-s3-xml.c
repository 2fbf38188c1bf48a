/* fuzz-s3-xml.c -- the S3 response decoder (src/store/s3_xml.c): bytes
 * from the network.  The input is walked the way src/store/s3.c and
 * s3_multipart.c walk real answers (errors, list pages, upload ids), and
 * every decoded element must lie inside the document. */
#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/s3_xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void walk(struct s3_xml doc, const char *outer, const char *const *inner)
{
	struct s3_xml x = doc, el;
	size_t n = 0;
	while (s3_xml_next(&x, outer, &el)) {
		assert(el.p >= doc.p && el.p <= el.end && el.end <= doc.end);
		assert(x.p >= el.end && x.p <= doc.end);
		for (const char *const *t = inner; *t; t++) {
			char small[8];
			free(s3_xml_text(el, *t));
			if (s3_xml_copy(el, *t, small, sizeof small))
				assert(strlen(small) < sizeof small);
		}
		free(s3_xml_unescape(el));
		assert(++n <= (size_t)(doc.end - doc.p)); /* each element consumes bytes */
	}
	assert(x.p == doc.end);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* An exact-size copy, so ASan sees any read past the end. */
	char *body = malloc(size ? size : 1);
	memcpy(body, data, size);
	struct s3_xml doc = s3_xml_make(body, size);
	static const char *const error_keys[] = { "Key", "Code", "Message", NULL };
	static const char *const contents_keys[] = { "Key", "Size", "ETag", NULL };
	static const char *const none[] = { NULL };

	walk(doc, "Error", error_keys);
	walk(doc, "Contents", contents_keys);
	walk(doc, "UploadId", none);
	char flag[8] = "";
	s3_xml_copy(doc, "IsTruncated", flag, sizeof flag);
	free(s3_xml_text(doc, "NextContinuationToken"));

	/* Escaping then unescaping gives the text back. */
	char *text = malloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';
	struct buf b = BUF_INIT;
	s3_xml_escape(&b, text);
	char *back = s3_xml_unescape(s3_xml_make(b.data, b.len));
	assert(back && !strcmp(back, text));
	free(back);
	buf_free(&b);
	free(text);
	free(body);
	return 0;
}
