/* s3_xml.h -- just enough XML for S3 (private to src/store): finding
 * elements by name in a response body, decoding their text, and escaping
 * text for the few request bodies bucketfs sends.
 *
 * S3 responses are flat, machine-written documents (no comments, no
 * CDATA, no nesting of an element inside one of the same name), so a
 * scanner for <Name>...</Name> suffices.  The input is untrusted: every
 * function stays inside [p, end) and treats anything it cannot read as
 * absent. */
#ifndef BUCKETFS_STORE_S3_XML_H
#define BUCKETFS_STORE_S3_XML_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"

/* A span of a document: the whole body, or an element's content. */
struct s3_xml {
	const char *p;
	const char *end;
};

/* An empty body may come as (NULL, 0) (a buf never written): it becomes
 * an empty span of "", since even NULL + 0 is undefined behaviour. */
static inline struct s3_xml s3_xml_make(const void *p, size_t n)
{
	const char *c = p ? (const char *)p : "";
	struct s3_xml x = { c, c + (p ? n : 0) };
	return x;
}

/* Find the next element `tag` in *x.  On success its content goes to
 * *content, *x is advanced past the element, and true is returned.  An
 * empty element (<Tag/>) has empty content. */
bool s3_xml_next(struct s3_xml *x, const char *tag, struct s3_xml *content);
/* The decoded text of the first element `tag` in x (malloc'ed), or NULL
 * if there is none or its entities are malformed. */
char *s3_xml_text(struct s3_xml x, const char *tag);
/* Same, into a fixed buffer (cut to fit); false if absent. */
bool s3_xml_copy(struct s3_xml x, const char *tag, char *out, size_t size);
/* Decode the character data in x (entities &lt; &gt; &amp; &quot; &apos;
 * &#N; &#xN;), malloc'ed; NULL if malformed. */
char *s3_xml_unescape(struct s3_xml x);
/* Append s with & < > " ' escaped. */
void s3_xml_escape(struct buf *out, const char *s);

#endif
