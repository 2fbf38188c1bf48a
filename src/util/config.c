/* config.c -- the configuration parser and template writer (see config.h).
 *
 * One pass over the text with a cursor and a line counter.  A line is blank,
 * a comment, a [section] header or `key = value`.  The key is looked up in
 * the schema and its type decides how the value is read: a string must be
 * quoted, an array must be an array, anything else is a quoted or bare
 * token handed to the type's converter (parse_int, parse_size,
 * parse_duration, or true/false).  Strings are decoded (escapes) and then
 * expanded (${VAR}); the expansion is never re-scanned.
 *
 * Defaults travel the same road, from the schema's text instead of a file,
 * so a default and the same text in a file always agree: that is what lets
 * the template written here load back to exactly the defaults. */
#include "util/config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/log.h"
#include "util/mem.h"

#define CONFIG_MAX_FILE (4u << 20)	/* no sane configuration is bigger */
#define ECHO_MAX 60			/* bytes of a bad value quoted back */
#define DEFAULTS_NAME "built-in default"

struct parser {
	const struct config_key *schema;
	void *target;
	const char *name;		/* file name for messages */
	const char *p, *end;		/* cursor */
	int line;
	char *section;			/* current [section]; "" before any */
	int *seen;			/* per schema entry: line that set it */
	const struct config_key *k;	/* the key whose value is being read */
	struct config_error *err;
};

/* ---- small helpers ---- */

static const char *sect(const struct config_key *k)
{
	return k->section ? k->section : "";
}

static void *field(const struct parser *ps, const struct config_key *k)
{
	return (char *)ps->target + k->offset;
}

static char *dup_n(const char *s, size_t n)
{
	char *d = xmalloc(n + 1);
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

static int lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

static bool is_alpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(int c)
{
	return c >= '0' && c <= '9';
}

/* Characters of a bare key; section names also allow '.'. */
static bool is_bare(int c)
{
	return is_alpha(c) || is_digit(c) || c == '_' || c == '-';
}

static bool is_ctrl(int c)
{
	return (c < 0x20 && c != '\t') || c == 0x7f;
}

static void strv_free(struct config_strv *v)
{
	for (size_t i = 0; i < v->n; i++)
		free(v->v[i]);
	free(v->v);
	v->v = NULL;
	v->n = 0;
}

static void strv_push(struct config_strv *v, char *s)
{
	v->v = xrealloc(v->v, (v->n + 2) * sizeof(char *));
	v->v[v->n++] = s;
	v->v[v->n] = NULL;
}

static const char *type_noun(enum config_type t)
{
	switch (t) {
	case CONFIG_STRING:		return "a string";
	case CONFIG_BOOL:		return "a boolean";
	case CONFIG_INT:		return "an integer";
	case CONFIG_SIZE:		return "a size";
	case CONFIG_DURATION_MS:	return "a duration";
	case CONFIG_STRING_ARRAY:	return "an array of strings";
	}
	return "a value";
}

/* ---- error messages ---- */

static size_t vaddf(char *s, size_t cap, size_t len, const char *fmt, va_list ap)
	__attribute__((format(printf, 4, 0)));
static size_t vaddf(char *s, size_t cap, size_t len, const char *fmt, va_list ap)
{
	int r = vsnprintf(s + len, cap - len, fmt, ap);
	if (r < 0)
		return len;
	return len + (size_t)r >= cap ? cap - 1 : len + (size_t)r;
}

static size_t addf(char *s, size_t cap, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static size_t addf(char *s, size_t cap, size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	len = vaddf(s, cap, len, fmt, ap);
	va_end(ap);
	return len;
}

/* Quote a bad value back, shortened, with control characters made visible. */
static size_t add_echo(char *s, size_t cap, size_t len, const char *v, size_t n)
{
	len = addf(s, cap, len, " = ");
	for (size_t i = 0; i < n && i < ECHO_MAX && len + 1 < cap; i++)
		s[len++] = is_ctrl((unsigned char)v[i]) ? '?' : v[i];
	s[len] = '\0';
	if (n > ECHO_MAX)
		len = addf(s, cap, len, "...");
	return len;
}

struct where {
	int line;		/* 0: not about a line */
	const char *section;	/* NULL: not about a key */
	const char *key;
	size_t keylen;
	const char *echo;	/* NULL: do not quote the value */
	size_t echolen;
};

/* "name:line: [section] key = value: what" into the error; -EINVAL. */
static int vreport(struct parser *ps, const struct where *w, const char *fmt, va_list ap)
{
	char *s = ps->err->msg;
	size_t cap = sizeof ps->err->msg, len = 0;

	ps->err->line = w->line;
	len = addf(s, cap, len, "%s:", ps->name);
	if (w->line > 0)
		len = addf(s, cap, len, "%d:", w->line);
	len = addf(s, cap, len, " ");
	if (w->section && *w->section)
		len = addf(s, cap, len, "[%s] ", w->section);
	if (w->key) {
		len = addf(s, cap, len, "%.*s", (int)w->keylen, w->key);
		if (w->echo)
			len = add_echo(s, cap, len, w->echo, w->echolen);
		len = addf(s, cap, len, ": ");
	}
	vaddf(s, cap, len, fmt, ap);
	return -EINVAL;
}

static int report(struct parser *ps, const struct where *w, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int report(struct parser *ps, const struct where *w, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = vreport(ps, w, fmt, ap);
	va_end(ap);
	return r;
}

/* An error about the text, not about any key. */
static int fail_at(struct parser *ps, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail_at(struct parser *ps, int line, const char *fmt, ...)
{
	struct where w = { .line = line };
	va_list ap;
	va_start(ap, fmt);
	int r = vreport(ps, &w, fmt, ap);
	va_end(ap);
	return r;
}

/* An error about the value of ps->k, without quoting it. */
static int fail_key(struct parser *ps, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail_key(struct parser *ps, int line, const char *fmt, ...)
{
	struct where w = { .line = line, .section = sect(ps->k),
			   .key = ps->k->key, .keylen = strlen(ps->k->key) };
	va_list ap;
	va_start(ap, fmt);
	int r = vreport(ps, &w, fmt, ap);
	va_end(ap);
	return r;
}

/* An error about the value of ps->k, quoting the value as written. */
static int fail_value(struct parser *ps, const char *raw, size_t rawlen, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int fail_value(struct parser *ps, const char *raw, size_t rawlen, const char *fmt, ...)
{
	struct where w = { .line = ps->line, .section = sect(ps->k),
			   .key = ps->k->key, .keylen = strlen(ps->k->key),
			   .echo = raw, .echolen = rawlen };
	va_list ap;
	va_start(ap, fmt);
	int r = vreport(ps, &w, fmt, ap);
	va_end(ap);
	return r;
}

/* ---- numbers ---- */

static int digit_value(int c)
{
	if (is_digit(c))
		return c - '0';
	c = lower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static bool is_digit_in(int c, unsigned base)
{
	int d = digit_value(c);
	return d >= 0 && (unsigned)d < base;
}

/* Digits in `base`, a single '_' allowed between two digits.  Advances *sp.
 * 0, -EINVAL (no digits, stray '_'), -ERANGE (over 64 bits). */
static int scan_digits(const char **sp, unsigned base, uint64_t *out)
{
	const char *s = *sp;
	uint64_t v = 0;
	int ndigits = 0;

	for (;; s++) {
		if (*s == '_') {
			if (!ndigits || !is_digit_in(s[1], base))
				return -EINVAL;
			continue;
		}
		if (!is_digit_in(*s, base))
			break;
		unsigned d = (unsigned)digit_value(*s);
		if (v > (UINT64_MAX - d) / base)
			return -ERANGE;
		v = v * base + d;
		ndigits++;
	}
	if (!ndigits)
		return -EINVAL;
	*sp = s;
	*out = v;
	return 0;
}

/* 42, -7, +3, 1_000, 0x1f, 0o755, 0b101. */
static int parse_int(const char *s, int64_t *out)
{
	unsigned base = 10;
	bool neg = false;
	uint64_t u;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'o' || s[1] == 'b')) {
		base = s[1] == 'x' ? 16 : s[1] == 'o' ? 8 : 2;
		s += 2;
	} else if (*s == '+' || *s == '-') {
		neg = *s++ == '-';
	}
	int r = scan_digits(&s, base, &u);
	if (r)
		return r;
	if (*s)
		return -EINVAL;
	if (u > (uint64_t)INT64_MAX + neg)
		return -ERANGE;
	*out = neg ? (int64_t)(0 - u) : (int64_t)u;
	return 0;
}

static size_t alpha_run(const char *s)
{
	size_t n = 0;
	while (is_alpha(s[n]))
		n++;
	return n;
}

static const char *skip_spaces(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

/* The shift of a size unit: "", b -> 0; k, kb, kib -> 10; ... t -> 40. */
static int size_shift(const char *u, size_t n)
{
	static const char prefixes[] = "kmgt";

	if (n == 0 || (n == 1 && lower(u[0]) == 'b'))
		return 0;
	const char *p = strchr(prefixes, lower(u[0]));
	if (!p)
		return -1;
	if (n == 1 || (n == 2 && lower(u[1]) == 'b') ||
	    (n == 3 && lower(u[1]) == 'i' && lower(u[2]) == 'b'))
		return 10 * (int)(p - prefixes + 1);
	return -1;
}

/* 512, 512k, "64 MiB", 4GiB, 1T: always powers of 1024. */
static int parse_size(const char *s, int64_t *out)
{
	uint64_t u;
	int r = scan_digits(&s, 10, &u);
	if (r)
		return r;
	s = skip_spaces(s);
	size_t n = alpha_run(s);
	int shift = size_shift(s, n);
	if (shift < 0 || s[n])
		return -EINVAL;
	if (u > (uint64_t)INT64_MAX >> shift)
		return -ERANGE;
	*out = (int64_t)(u << shift);
	return 0;
}

static const struct {
	const char *name;
	int64_t ms;
} duration_units[] = {
	{ "d", 86400000 }, { "h", 3600000 }, { "m", 60000 }, { "s", 1000 }, { "ms", 1 },
};

#define N_DURATION_UNITS (sizeof duration_units / sizeof duration_units[0])

static int64_t duration_unit(const char *u, size_t n)
{
	for (size_t i = 0; i < N_DURATION_UNITS; i++) {
		const char *name = duration_units[i].name;
		if (strlen(name) != n)
			continue;
		size_t j = 0;
		while (j < n && lower(u[j]) == name[j])
			j++;
		if (j == n)
			return duration_units[i].ms;
	}
	return -1;
}

/* 500ms, 30s, 5m, 1h, 2d, "1h 30m"; a bare 0.  In milliseconds. */
static int parse_duration(const char *s, int64_t *out)
{
	int64_t total = 0;
	int parts = 0;

	s = skip_spaces(s);
	if (s[0] == '0' && !*skip_spaces(s + 1)) {
		*out = 0;
		return 0;
	}
	for (; *s; s = skip_spaces(s)) {
		uint64_t n;
		int r = scan_digits(&s, 10, &n);
		if (r)
			return r;
		s = skip_spaces(s);
		size_t len = alpha_run(s);
		int64_t unit = duration_unit(s, len);
		if (unit < 0)
			return -EINVAL;
		s += len;
		if (n > (uint64_t)(INT64_MAX / unit) ||
		    __builtin_add_overflow(total, (int64_t)n * unit, &total))
			return -ERANGE;
		parts++;
	}
	if (!parts)
		return -EINVAL;
	*out = total;
	return 0;
}

/* A number the way a person would write it back: "1 MiB", "30s". */
static void format_number(enum config_type t, int64_t v, char *out, size_t n)
{
	static const char *const size_names[] = { "KiB", "MiB", "GiB", "TiB" };

	if (t == CONFIG_SIZE && v) {
		for (int i = 3; i >= 0; i--) {
			int64_t unit = (int64_t)1 << (10 * (i + 1));
			if (v % unit == 0) {
				snprintf(out, n, "%lld %s", (long long)(v / unit), size_names[i]);
				return;
			}
		}
	}
	if (t == CONFIG_DURATION_MS && v) {
		for (size_t i = 0; i < N_DURATION_UNITS; i++) {
			if (v % duration_units[i].ms == 0) {
				snprintf(out, n, "%lld%s", (long long)(v / duration_units[i].ms),
					 duration_units[i].name);
				return;
			}
		}
	}
	snprintf(out, n, "%lld", (long long)v);
}

static const char *number_error(enum config_type t)
{
	switch (t) {
	case CONFIG_SIZE:
		return "not a size (expected e.g. \"256 MiB\")";
	case CONFIG_DURATION_MS:
		return "not a duration (expected e.g. \"30s\", \"500ms\" or \"1h\")";
	default:
		return "not an integer";
	}
}

static int parse_number(enum config_type t, const char *s, int64_t *out)
{
	if (t == CONFIG_SIZE)
		return parse_size(s, out);
	if (t == CONFIG_DURATION_MS)
		return parse_duration(s, out);
	return parse_int(s, out);
}

/* ---- storing values ---- */

static int run_check(struct parser *ps, const char *echo, size_t echolen)
{
	const struct config_key *k = ps->k;
	if (!k->check)
		return 0;
	const char *why = k->check(field(ps, k));
	if (!why)
		return 0;
	if (echo)
		return fail_value(ps, echo, echolen, "%s", why);
	return fail_key(ps, ps->line, "%s", why);
}

static int store_string(struct parser *ps, char *s)
{
	char **f = field(ps, ps->k);
	free(*f);
	*f = s;
	return run_check(ps, s, strlen(s));
}

static int store_array(struct parser *ps, struct config_strv *v)
{
	struct config_strv *f = field(ps, ps->k);
	strv_free(f);
	*f = *v;
	return run_check(ps, NULL, 0);
}

/* Convert the text of a bool or number and store it; raw is the value as
 * written, for messages. */
static int store_scalar(struct parser *ps, const char *text, const char *raw, size_t rawlen)
{
	const struct config_key *k = ps->k;
	int64_t v;

	if (k->type == CONFIG_BOOL) {
		bool b = !strcmp(text, "true");
		if (!b && strcmp(text, "false"))
			return fail_value(ps, raw, rawlen, "not a boolean (expected true or false)");
		*(bool *)field(ps, k) = b;
		return run_check(ps, raw, rawlen);
	}
	int r = parse_number(k->type, text, &v);
	if (r == -ERANGE)
		return fail_value(ps, raw, rawlen, "out of range (too large)");
	if (r)
		return fail_value(ps, raw, rawlen, "%s", number_error(k->type));
	if (k->min < k->max && (v < k->min || v > k->max)) {
		char lo[32], hi[32];
		format_number(k->type, k->min, lo, sizeof lo);
		format_number(k->type, k->max, hi, sizeof hi);
		return fail_value(ps, raw, rawlen, "out of range (must be between %s and %s)", lo, hi);
	}
	*(int64_t *)field(ps, k) = v;
	return run_check(ps, raw, rawlen);
}

/* ---- ${VAR} expansion ---- */

static bool is_name_char(int c)
{
	return is_alpha(c) || is_digit(c) || c == '_';
}

/* *sp points at "${"; append the expansion to b and move past the '}'. */
static int expand_var(struct parser *ps, const char **sp, struct buf *b)
{
	const char *name = *sp + 2, *q = name, *dflt = NULL;
	size_t dlen = 0;

	while (is_name_char(*q))
		q++;
	if (q[0] == ':' && q[1] == '-') {
		dflt = q + 2;
		q = strchr(dflt, '}');
		if (!q)
			return fail_key(ps, ps->line, "unterminated ${ (missing })");
		dlen = (size_t)(q - dflt);
	} else if (*q != '}') {
		if (!strchr(q, '}'))
			return fail_key(ps, ps->line, "unterminated ${ (missing })");
		return fail_key(ps, ps->line, "bad ${...}: expected ${NAME} or ${NAME:-default}");
	}
	if (q == name || is_digit(*name) || (dflt && dflt - 2 == name))
		return fail_key(ps, ps->line, "bad ${...}: expected ${NAME} or ${NAME:-default}");

	char *var = dup_n(name, (size_t)((dflt ? dflt - 2 : q) - name));
	const char *val = getenv(var);
	int r = 0;
	if (dflt && (!val || !*val))
		buf_append(b, dflt, dlen);
	else if (val)
		buf_append(b, val, strlen(val));
	else
		r = fail_key(ps, ps->line, "environment variable %s is not set", var);
	free(var);
	*sp = q + 1;
	return r;
}

/* A malloc'ed copy of s with ${VAR}, ${VAR:-text} and $${ expanded. */
static int expand(struct parser *ps, const char *s, char **out)
{
	struct buf b = BUF_INIT;

	while (*s) {
		if (s[0] == '$' && s[1] == '$' && s[2] == '{') {
			buf_append(&b, "${", 2);
			s += 3;
		} else if (s[0] == '$' && s[1] == '{') {
			int r = expand_var(ps, &s, &b);
			if (r) {
				buf_free(&b);
				return r;
			}
		} else {
			buf_put_u8(&b, (uint8_t)*s++);
		}
	}
	buf_put_u8(&b, 0);
	*out = (char *)buf_steal(&b, NULL);
	return 0;
}

/* ---- the cursor ---- */

static bool at_end(const struct parser *ps)
{
	return ps->p >= ps->end;
}

static int peek(const struct parser *ps)
{
	return at_end(ps) ? -1 : (unsigned char)*ps->p;
}

/* Spaces and tabs; '\r' too, which is how CRLF is tolerated. */
static void skip_blank(struct parser *ps)
{
	while (!at_end(ps) && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\r'))
		ps->p++;
}

static void skip_comment(struct parser *ps)
{
	if (peek(ps) == '#')
		while (!at_end(ps) && *ps->p != '\n')
			ps->p++;
}

/* Blanks, comments and newlines: the filler between array elements. */
static void skip_filler(struct parser *ps)
{
	for (;;) {
		skip_blank(ps);
		skip_comment(ps);
		if (peek(ps) != '\n')
			return;
		ps->p++;
		ps->line++;
	}
}

static bool at_line_end(const struct parser *ps)
{
	int c = peek(ps);
	return c == -1 || c == '\n' || c == '#';
}

/* After a header or a value: only a comment may follow on the line. */
static int end_line(struct parser *ps)
{
	skip_blank(ps);
	skip_comment(ps);
	if (at_end(ps))
		return 0;
	if (*ps->p == '\n') {
		ps->p++;
		ps->line++;
		return 0;
	}
	if (ps->k)
		return fail_key(ps, ps->line, "unexpected text after the value");
	return fail_at(ps, ps->line, "unexpected text after [%s]", ps->section);
}

/* ---- strings ---- */

/* \uXXXX or \UXXXXXXXX, the cursor just past the 'u'. */
static int lex_unicode(struct parser *ps, struct buf *out, int ndigits)
{
	uint32_t cp = 0;

	for (int i = 0; i < ndigits; i++) {
		if (!is_digit_in(peek(ps), 16))
			return fail_key(ps, ps->line, "\\%c needs %d hex digits",
					ndigits == 4 ? 'u' : 'U', ndigits);
		cp = cp << 4 | (uint32_t)digit_value(*ps->p++);
	}
	if (!buf_put_utf8(out, cp))
		return fail_key(ps, ps->line, "invalid unicode escape U+%04X", cp);
	return 0;
}

/* A backslash escape in a basic string, the cursor just past the '\'. */
static int lex_escape(struct parser *ps, struct buf *out)
{
	static const char from[] = "\"\\btnfr", to[] = "\"\\\b\t\n\f\r";
	int c = peek(ps);
	const char *e = c > 0 ? strchr(from, c) : NULL;

	if (e) {
		ps->p++;
		buf_put_u8(out, (uint8_t)to[e - from]);
		return 0;
	}
	if (c == 'u' || c == 'U') {
		ps->p++;
		return lex_unicode(ps, out, c == 'u' ? 4 : 8);
	}
	return fail_key(ps, ps->line, "invalid escape in string (write \\\\ for a backslash)");
}

static bool string_ends_here(const struct parser *ps)
{
	return at_end(ps) || *ps->p == '\n' ||
	       (*ps->p == '\r' && ps->p + 1 < ps->end && ps->p[1] == '\n');
}

/* A "basic" or 'literal' string, decoded into out (NUL-terminated). */
static int lex_string(struct parser *ps, struct buf *out)
{
	char quote = *ps->p++;

	if (ps->end - ps->p >= 2 && ps->p[0] == quote && ps->p[1] == quote)
		return fail_key(ps, ps->line, "multi-line strings are not supported");
	for (;;) {
		if (string_ends_here(ps))
			return fail_key(ps, ps->line, "unterminated string");
		int c = (unsigned char)*ps->p++;
		if (c == quote)
			break;
		if (c == '\\' && quote == '"') {
			int r = lex_escape(ps, out);
			if (r)
				return r;
			continue;
		}
		if (is_ctrl(c))
			return fail_key(ps, ps->line, "control character in string");
		buf_put_u8(out, (uint8_t)c);
	}
	buf_put_u8(out, 0);
	return 0;
}

/* A quoted string from the text, decoded and expanded. */
static int read_string(struct parser *ps, char **out)
{
	struct buf raw = BUF_INIT;
	int r = lex_string(ps, &raw);
	if (!r)
		r = expand(ps, (const char *)raw.data, out);
	buf_free(&raw);
	return r;
}

static bool at_quote(const struct parser *ps)
{
	int c = peek(ps);
	return c == '"' || c == '\'';
}

/* ---- values ---- */

static int read_array(struct parser *ps, struct config_strv *v)
{
	int open = ps->line;

	ps->p++;
	v->v = xcalloc(1, sizeof(char *));
	for (;;) {
		skip_filler(ps);
		if (at_end(ps))
			return fail_key(ps, open, "unterminated array (missing ])");
		if (*ps->p == ']')
			break;
		if (!at_quote(ps))
			return fail_key(ps, ps->line, "expected a quoted string or ] in the array");
		char *s;
		int r = read_string(ps, &s);
		if (r)
			return r;
		strv_push(v, s);
		skip_filler(ps);
		if (at_end(ps))
			return fail_key(ps, open, "unterminated array (missing ])");
		if (*ps->p == ']')
			break;
		if (*ps->p != ',')
			return fail_key(ps, ps->line, "expected , or ] in the array opened on line %d",
					open);
		ps->p++;
	}
	ps->p++;
	return 0;
}

static int read_array_value(struct parser *ps)
{
	struct config_strv v = { NULL, 0 };

	if (peek(ps) != '[')
		return fail_key(ps, ps->line, "expected an array of strings, e.g. [\"a\", \"b\"]");
	int r = read_array(ps, &v);
	if (r) {
		strv_free(&v);
		return r;
	}
	return store_array(ps, &v);
}

static int read_string_value(struct parser *ps)
{
	char *s;

	if (!at_quote(ps))
		return fail_key(ps, ps->line, "expected a string in quotes");
	int r = read_string(ps, &s);
	if (r)
		return r;
	return store_string(ps, s);
}

/* A bool or number: quoted (and so expanded) or bare up to a comment. */
static int read_scalar_value(struct parser *ps)
{
	const char *raw = ps->p;
	size_t rawlen;
	char *text;

	if (peek(ps) == '[')
		return fail_key(ps, ps->line, "expected %s, not an array", type_noun(ps->k->type));
	if (at_quote(ps)) {
		int r = read_string(ps, &text);
		if (r)
			return r;
		rawlen = (size_t)(ps->p - raw);
	} else {
		while (!at_end(ps) && *ps->p != '#' &&
		       (!is_ctrl((unsigned char)*ps->p) || *ps->p == '\r'))
			ps->p++;
		rawlen = (size_t)(ps->p - raw);
		while (rawlen && (raw[rawlen - 1] == ' ' || raw[rawlen - 1] == '\t' ||
				  raw[rawlen - 1] == '\r'))
			rawlen--;
		text = dup_n(raw, rawlen);
	}
	int r = store_scalar(ps, text, raw, rawlen);
	free(text);
	return r;
}

static int read_value(struct parser *ps)
{
	skip_blank(ps);
	if (at_line_end(ps))
		return fail_key(ps, ps->line, "missing value");
	switch (ps->k->type) {
	case CONFIG_STRING:
		return read_string_value(ps);
	case CONFIG_STRING_ARRAY:
		return read_array_value(ps);
	default:
		return read_scalar_value(ps);
	}
}

/* ---- lines ---- */

static const struct config_key *find_key(const struct config_key *schema, const char *section,
					 const char *key, size_t n)
{
	for (const struct config_key *k = schema; k->key; k++)
		if (!strcmp(sect(k), section) && strlen(k->key) == n && !memcmp(k->key, key, n))
			return k;
	return NULL;
}

static int unknown_key(struct parser *ps, const char *key, size_t n)
{
	struct where w = { .line = ps->line, .section = ps->section, .key = key, .keylen = n };

	for (const struct config_key *k = ps->schema; k->key; k++) {
		if (strlen(k->key) != n || memcmp(k->key, key, n))
			continue;
		if (!*sect(k))
			return report(ps, &w, "unknown key (it belongs before the first [section])");
		return report(ps, &w, "unknown key (it belongs in [%s])", sect(k));
	}
	return report(ps, &w, "unknown key");
}

static int parse_assignment(struct parser *ps)
{
	const char *key = ps->p;

	while (!at_end(ps) && is_bare(*ps->p))
		ps->p++;
	size_t n = (size_t)(ps->p - key);
	if (!n)
		return fail_at(ps, ps->line, "expected \"key = value\" or \"[section]\"");
	skip_blank(ps);
	if (peek(ps) != '=')
		return fail_at(ps, ps->line, "expected \"=\" after \"%.*s\"", (int)n, key);
	ps->p++;

	const struct config_key *k = find_key(ps->schema, ps->section, key, n);
	if (!k)
		return unknown_key(ps, key, n);
	ps->k = k;
	int *seen = &ps->seen[k - ps->schema];
	if (*seen)
		return fail_key(ps, ps->line, "duplicate key (first set on line %d)", *seen);
	*seen = ps->line;
	return read_value(ps);
}

static bool section_known(const struct config_key *schema, const char *name)
{
	for (const struct config_key *k = schema; k->key; k++)
		if (!strcmp(sect(k), name))
			return true;
	return false;
}

static int parse_section(struct parser *ps)
{
	ps->p++;
	if (peek(ps) == '[')
		return fail_at(ps, ps->line, "[[array tables]] are not supported");
	skip_blank(ps);
	const char *name = ps->p;
	while (!at_end(ps) && (is_bare(*ps->p) || *ps->p == '.'))
		ps->p++;
	size_t n = (size_t)(ps->p - name);
	skip_blank(ps);
	if (!n || peek(ps) != ']')
		return fail_at(ps, ps->line, "malformed section header (expected [name])");
	ps->p++;
	free(ps->section);
	ps->section = dup_n(name, n);
	if (!section_known(ps->schema, ps->section))
		return fail_at(ps, ps->line, "unknown section [%s]", ps->section);
	return 0;
}

static int parse_line(struct parser *ps)
{
	int r = 0;

	ps->k = NULL;
	skip_blank(ps);
	if (peek(ps) == '[')
		r = parse_section(ps);
	else if (!at_line_end(ps))
		r = parse_assignment(ps);
	return r ? r : end_line(ps);
}

static size_t schema_len(const struct config_key *schema)
{
	size_t n = 0;
	while (schema[n].key)
		n++;
	return n;
}

static void clear_error(struct config_error *err)
{
	err->msg[0] = '\0';
	err->line = 0;
}

static int load(const struct config_key *schema, void *target, const char *text, size_t len,
		const char *name, struct config_error *err)
{
	struct config_error local;
	struct parser ps = {
		.schema = schema, .target = target, .name = name,
		.p = text, .end = text + len, .line = 1,
		.section = xstrdup(""),
		.seen = xcalloc(schema_len(schema) + 1, sizeof(int)),
		.err = err ? err : &local,
	};
	int r = 0;

	clear_error(ps.err);
	if (len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3))
		ps.p += 3;	/* a UTF-8 byte order mark */
	while (!r && !at_end(&ps))
		r = parse_line(&ps);
	free(ps.seen);
	free(ps.section);
	if (r && !err)
		log_error("%s", local.msg);
	return r;
}

/* ---- public entry points ---- */

int config_load_string(const struct config_key *schema, void *target, const char *text,
		       const char *name, struct config_error *err)
{
	return load(schema, target, text, strlen(text), name, err);
}

int config_load_mem(const struct config_key *schema, void *target, const char *text, size_t len,
		    const char *name, struct config_error *err)
{
	return load(schema, target, len ? text : "", len, name, err);
}

static int read_file(const char *path, struct buf *b)
{
	FILE *f = fopen(path, "rb");
	int r = 0;

	if (!f)
		return -errno;
	for (;;) {
		buf_reserve(b, 65536);
		size_t n = fread(b->data + b->len, 1, b->cap - b->len, f);
		b->len += n;
		if (b->len > CONFIG_MAX_FILE) {
			r = -EFBIG;
			break;
		}
		if (n == 0) {
			r = ferror(f) ? (errno ? -errno : -EIO) : 0;
			break;
		}
	}
	fclose(f);
	return r;
}

int config_load_file(const struct config_key *schema, void *target, const char *path,
		     struct config_error *err)
{
	struct buf b = BUF_INIT;
	int r = read_file(path, &b);

	if (r) {
		struct config_error local;
		struct config_error *e = err ? err : &local;
		clear_error(e);
		if (r == -EFBIG)
			snprintf(e->msg, sizeof e->msg, "%s: file is too large (over %u MiB)",
				 path, CONFIG_MAX_FILE >> 20);
		else
			snprintf(e->msg, sizeof e->msg, "%s: %s", path, strerror(-r));
		if (!err)
			log_error("%s", local.msg);
	} else {
		r = load(schema, target, b.len ? (const char *)b.data : "", b.len, path, err);
	}
	buf_free(&b);
	return r;
}

static int apply_default(struct parser *ps, const struct config_key *k)
{
	char *text;
	int r;

	ps->k = k;
	ps->p = k->dflt;
	ps->end = k->dflt + strlen(k->dflt);
	if (k->type == CONFIG_STRING_ARRAY) {
		skip_blank(ps);
		r = read_array_value(ps);
		skip_blank(ps);
		if (!r && !at_end(ps))
			r = fail_key(ps, 0, "unexpected text after the array");
		return r;
	}
	r = expand(ps, k->dflt, &text);
	if (r)
		return r;
	if (k->type == CONFIG_STRING)
		return store_string(ps, text);
	r = store_scalar(ps, text, k->dflt, strlen(k->dflt));
	free(text);
	return r;
}

int config_apply_defaults(const struct config_key *schema, void *target)
{
	struct config_error err;
	struct parser ps = { .schema = schema, .target = target, .name = DEFAULTS_NAME,
			     .err = &err };

	clear_error(&err);
	for (const struct config_key *k = schema; k->key; k++) {
		if (!k->dflt)
			continue;
		ps.line = 0;
		int r = apply_default(&ps, k);
		if (r) {
			log_error("%s", err.msg);
			return r;
		}
	}
	return 0;
}

void config_free(const struct config_key *schema, void *target)
{
	for (const struct config_key *k = schema; k->key; k++) {
		void *f = (char *)target + k->offset;
		if (k->type == CONFIG_STRING) {
			free(*(char **)f);
			*(char **)f = NULL;
		} else if (k->type == CONFIG_STRING_ARRAY) {
			strv_free(f);
		}
	}
}

/* ---- the template ---- */

static void write_quoted(const char *s, FILE *out)
{
	fputc('"', out);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", out);
		else if (c == '\t')
			fputs("\\t", out);
		else if (is_ctrl(c))
			fprintf(out, "\\u%04X", c);
		else
			fputc(c, out);
	}
	fputc('"', out);
}

static bool bare_safe(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!is_bare(*s) && *s != '+')
			return false;
	return true;
}

static void write_default(const struct config_key *k, FILE *out)
{
	if (k->type == CONFIG_STRING_ARRAY)
		fputs(k->dflt, out);
	else if ((k->type == CONFIG_BOOL || k->type == CONFIG_INT) && bare_safe(k->dflt))
		fputs(k->dflt, out);
	else
		write_quoted(k->dflt, out);
}

static const char *placeholder(enum config_type t)
{
	switch (t) {
	case CONFIG_BOOL:		return "false";
	case CONFIG_INT:		return "0";
	case CONFIG_SIZE:		return "\"0\"";
	case CONFIG_DURATION_MS:	return "\"0s\"";
	case CONFIG_STRING_ARRAY:	return "[]";
	default:			return "\"\"";
	}
}

static const char *type_example(enum config_type t)
{
	switch (t) {
	case CONFIG_BOOL:	  return "true or false";
	case CONFIG_INT:	  return "an integer";
	case CONFIG_SIZE:	  return "a size such as \"512 KiB\", \"64 MiB\" or \"4 GiB\"";
	case CONFIG_DURATION_MS:  return "a duration such as \"500ms\", \"30s\", \"5m\" or \"1h\"";
	case CONFIG_STRING_ARRAY: return "a list of strings such as [\"a\", \"b\"]";
	default:		  return NULL;
	}
}

static void write_help(const struct config_key *k, FILE *out)
{
	for (const char *s = k->help; s && *s;) {
		size_t n = strcspn(s, "\n");
		fprintf(out, "# %.*s\n", (int)n, s);
		s += n + (s[n] == '\n');
	}
	const char *ex = type_example(k->type);
	if (!ex)
		return;
	fprintf(out, "# (%s", ex);
	if (k->type != CONFIG_BOOL && k->type != CONFIG_STRING_ARRAY && k->min < k->max) {
		char lo[32], hi[32];
		format_number(k->type, k->min, lo, sizeof lo);
		format_number(k->type, k->max, hi, sizeof hi);
		fprintf(out, "; %s to %s", lo, hi);
	}
	fputs(")\n", out);
}

static void write_key(const struct config_key *k, FILE *out)
{
	write_help(k, out);
	if (k->dflt) {
		fprintf(out, "%s = ", k->key);
		write_default(k, out);
		fputc('\n', out);
	} else {
		fprintf(out, "# %s = %s\n", k->key, placeholder(k->type));
	}
}

/* Every key of one section, in schema order; *first: nothing written yet. */
static void write_section(const struct config_key *schema, const char *section, bool *first,
			  FILE *out)
{
	bool gap = !*first;

	if (*section) {
		fprintf(out, "%s[%s]\n", gap ? "\n" : "", section);
		gap = false;
		*first = false;
	}
	for (const struct config_key *k = schema; k->key; k++) {
		if (strcmp(sect(k), section))
			continue;
		if (gap)
			fputc('\n', out);
		write_key(k, out);
		gap = true;
		*first = false;
	}
}

static bool first_of_section(const struct config_key *schema, const struct config_key *k)
{
	for (const struct config_key *j = schema; j < k; j++)
		if (!strcmp(sect(j), sect(k)))
			return false;
	return true;
}

int config_write_template(const struct config_key *schema, FILE *out)
{
	bool first = true;

	write_section(schema, "", &first, out);
	for (const struct config_key *k = schema; k->key; k++)
		if (*sect(k) && first_of_section(schema, k))
			write_section(schema, sect(k), &first, out);
	if (fflush(out) || ferror(out))
		return -EIO;
	return 0;
}
