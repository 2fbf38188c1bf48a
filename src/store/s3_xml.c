/* s3_xml.c -- element scanning, entity decoding and escaping for S3 bodies
 * (see s3_xml.h). */
#include "store/s3_xml.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/mem.h"

static size_t span_len(struct s3_xml x)
{
	return x.p < x.end ? (size_t)(x.end - x.p) : 0;
}

/* Is there an opening tag `tag` at p (p points at '<')?  Sets *empty for
 * <Tag/> and *content_start past the '>'. */
static bool open_tag_at(const char *p, const char *end, const char *tag, size_t tlen,
			bool *empty, const char **content_start)
{
	const char *q = p + 1 + tlen, *gt;

	if ((size_t)(end - p) < tlen + 2 || memcmp(p + 1, tag, tlen))
		return false;
	if (*q != '>' && *q != '/' && *q != ' ' && *q != '\t' && *q != '\n' && *q != '\r')
		return false;
	gt = memchr(q, '>', (size_t)(end - q));
	if (!gt)
		return false;
	*empty = gt[-1] == '/';
	*content_start = gt + 1;
	return true;
}

bool s3_xml_next(struct s3_xml *x, const char *tag, struct s3_xml *content)
{
	size_t tlen = strlen(tag);
	const char *p = x->p;
	char close[80];

	if (tlen + 4 > sizeof close)
		return false;
	close[0] = '<';
	close[1] = '/';
	memcpy(close + 2, tag, tlen);
	close[tlen + 2] = '>';
	while (p < x->end) {
		const char *start, *stop;
		bool empty;

		p = memchr(p, '<', (size_t)(x->end - p));
		if (!p)
			break;
		if (!open_tag_at(p, x->end, tag, tlen, &empty, &start)) {
			p++;
			continue;
		}
		if (empty) {
			*content = (struct s3_xml){ start, start };
			x->p = start;
			return true;
		}
		stop = memmem(start, (size_t)(x->end - start), close, tlen + 3);
		if (!stop)
			break;
		*content = (struct s3_xml){ start, stop };
		x->p = stop + tlen + 3;
		return true;
	}
	x->p = x->end;
	return false;
}

/* Decode one entity (the text between '&' and ';'). */
static bool put_entity(struct buf *b, const char *e, size_t n)
{
	static const struct { const char *name; char c; } named[] = {
		{ "lt", '<' }, { "gt", '>' }, { "amp", '&' }, { "quot", '"' }, { "apos", '\'' },
	};
	unsigned long cp = 0;
	size_t i;

	for (i = 0; i < sizeof named / sizeof named[0]; i++) {
		if (strlen(named[i].name) == n && !memcmp(e, named[i].name, n)) {
			buf_put_u8(b, (uint8_t)named[i].c);
			return true;
		}
	}
	if (n < 2 || n > 10 || e[0] != '#')
		return false;
	if (e[1] == 'x') {
		for (i = 2; i < n; i++) {
			char c = e[i];
			int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
				c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
			if (d < 0)
				return false;
			cp = cp * 16 + (unsigned long)d;
		}
		return n > 2 && cp <= 0x10ffff && buf_put_utf8(b, (uint32_t)cp);
	}
	for (i = 1; i < n; i++) {
		if (e[i] < '0' || e[i] > '9')
			return false;
		cp = cp * 10 + (unsigned long)(e[i] - '0');
	}
	return cp <= 0x10ffff && buf_put_utf8(b, (uint32_t)cp);
}

char *s3_xml_unescape(struct s3_xml x)
{
	struct buf b = BUF_INIT;
	const char *p = x.p;

	buf_reserve(&b, span_len(x) + 1);
	while (p < x.end) {
		const char *semi;
		if (*p != '&') {
			buf_put_u8(&b, (uint8_t)*p++);
			continue;
		}
		semi = memchr(p, ';', (size_t)(x.end - p));
		if (!semi || !put_entity(&b, p + 1, (size_t)(semi - p - 1))) {
			buf_free(&b);
			return NULL;
		}
		p = semi + 1;
	}
	buf_put_u8(&b, '\0');
	return (char *)buf_steal(&b, NULL);
}

char *s3_xml_text(struct s3_xml x, const char *tag)
{
	struct s3_xml content;

	if (!s3_xml_next(&x, tag, &content))
		return NULL;
	return s3_xml_unescape(content);
}

bool s3_xml_copy(struct s3_xml x, const char *tag, char *out, size_t size)
{
	char *s = s3_xml_text(x, tag);
	size_t n;

	if (!s)
		return false;
	n = strlen(s);
	if (n >= size)
		n = size - 1;
	memcpy(out, s, n);
	out[n] = '\0';
	free(s);
	return true;
}

void s3_xml_escape(struct buf *out, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': buf_append(out, "&amp;", 5); break;
		case '<': buf_append(out, "&lt;", 4); break;
		case '>': buf_append(out, "&gt;", 4); break;
		case '"': buf_append(out, "&quot;", 6); break;
		case '\'': buf_append(out, "&apos;", 6); break;
		default: buf_put_u8(out, (uint8_t)*s); break;
		}
	}
}
