/* test-config.c -- config.c: every value type and syntax form, ${VAR}
 * expansion, every error class with its exact file:line message, defaults,
 * the template round trip, and random mutations of a valid file (which must
 * fail cleanly or parse, never crash or leak; run under ASan by make asan).
 *
 * The schema below stands in for bucketfs's: a top-level key, and sections
 * with one key of every type, ranges, a check callback and defaults with
 * escapes and ${VAR} in them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>

#include "testutil.h"
#include "util/buf.h"
#include "util/config.h"

struct cfg {
	char *title;
	char *url;
	char *password;
	char *compression;
	bool readonly;
	char *dir;
	int64_t memory;
	int64_t disk;
	int64_t flush_ms;
	int64_t threads;
	int64_t offset;
	char *banner;
	struct config_strv exports;
	struct config_strv peers;
};

static const char *check_codec(const void *field)
{
	const char *s = *(char *const *)field;
	if (!strcmp(s, "zstd") || !strcmp(s, "lz4") || !strcmp(s, "none"))
		return NULL;
	return "unknown codec (expected zstd, lz4 or none)";
}

#define F(x) offsetof(struct cfg, x)

static const struct config_key schema[] = {
	{ "", "title", CONFIG_STRING, F(title), .dflt = "bucketfs", .help = "A name for logs." },
	{ "storage", "url", CONFIG_STRING, F(url),
	  .help = "Where the store lives:\nfile:///path or s3://bucket/prefix." },
	{ "storage", "encryption_password", CONFIG_STRING, F(password), .help = "The password." },
	{ "storage", "compression", CONFIG_STRING, F(compression), .dflt = "zstd",
	  .help = "zstd, lz4 or none.", .check = check_codec },
	{ "storage", "readonly", CONFIG_BOOL, F(readonly), .dflt = "false", .help = "No writes." },
	{ "cache", "dir", CONFIG_STRING, F(dir), .dflt = "${TEST_CONFIG_BASE:-/tmp}/cache",
	  .help = "Cache directory." },
	{ "cache", "memory", CONFIG_SIZE, F(memory), .min = 1 << 20, .max = 1LL << 40,
	  .dflt = "256 MiB", .help = "Memory budget." },
	{ "cache", "disk", CONFIG_SIZE, F(disk), .dflt = "10GiB", .help = "Disk budget." },
	{ "filesystem", "flush_interval", CONFIG_DURATION_MS, F(flush_ms), .min = 0,
	  .max = 86400000, .dflt = "30s", .help = "How often to flush." },
	{ "filesystem", "threads", CONFIG_INT, F(threads), .min = 1, .max = 64, .dflt = "4",
	  .help = "Worker threads." },
	{ "filesystem", "offset", CONFIG_INT, F(offset), .help = "Unbounded integer." },
	{ "mount", "banner", CONFIG_STRING, F(banner),
	  .dflt = "say \"hi\" \\ $${NOT_EXPANDED} \ttab \xc3\xa9", .help = "Tricky default." },
	{ "nfs", "exports", CONFIG_STRING_ARRAY, F(exports), .dflt = "[\"/\", '/srv', \"${TEST_CONFIG_BASE:-/tmp}\"]",
	  .help = "Exported paths." },
	{ "nfs", "peers", CONFIG_STRING_ARRAY, F(peers), .help = "No default." },
	{ NULL },
};

static int load(struct cfg *c, const char *text, struct config_error *err)
{
	memset(c, 0, sizeof *c);
	return config_load_string(schema, c, text, "t.conf", err);
}

/* Load text that must parse. */
static void load_ok(struct cfg *c, const char *text)
{
	struct config_error err;
	int r = load(c, text, &err);
	if (r)
		fail_msg("unexpected error %d: %s", r, err.msg);
}

/* Load text that must fail with exactly this message and line. */
static void load_fails(const char *text, int line, const char *msg)
{
	struct cfg c;
	struct config_error err;
	int r = load(&c, text, &err);
	config_free(schema, &c);
	if (r != -EINVAL)
		fail_msg("expected -EINVAL for <<%s>>, got %d", text, r);
	assert_string_equal(err.msg, msg);
	assert_int_equal(err.line, line);
}

static int64_t load_int(const char *key_line_in_section)
{
	struct cfg c;
	char *text = xasprintf("%s\n", key_line_in_section);
	load_ok(&c, text);
	free(text);
	int64_t v = c.disk + c.flush_ms + c.offset; /* only one is set */
	config_free(schema, &c);
	return v;
}

static void setup_env(void)
{
	setenv("TEST_CONFIG_BASE", "/base", 1);
	setenv("TEST_CONFIG_EMPTY", "", 1);
	setenv("TEST_CONFIG_TRICKY", "a${TEST_CONFIG_BASE}\\\"", 1);
	unsetenv("TEST_CONFIG_UNSET");
}

static int group_setup(void **state)
{
	setup_env();
	return 0;
}

/* ---- values and syntax ---- */

static void test_defaults_applied_for_absent_keys(void **state)
{
	struct cfg c;
	memset(&c, 0, sizeof c);
	assert_int_equal(config_apply_defaults(schema, &c), 0);
	assert_string_equal(c.title, "bucketfs");
	assert_null(c.url);
	assert_string_equal(c.compression, "zstd");
	assert_false(c.readonly);
	assert_string_equal(c.dir, "/base/cache");
	assert_int_equal(c.memory, 256 << 20);
	assert_int_equal(c.disk, 10LL << 30);
	assert_int_equal(c.flush_ms, 30000);
	assert_int_equal(c.threads, 4);
	assert_int_equal(c.offset, 0);
	assert_string_equal(c.banner, "say \"hi\" \\ ${NOT_EXPANDED} \ttab \xc3\xa9");
	assert_int_equal(c.exports.n, 3);
	assert_string_equal(c.exports.v[0], "/");
	assert_string_equal(c.exports.v[1], "/srv");
	assert_string_equal(c.exports.v[2], "/base");
	assert_null(c.exports.v[3]);
	assert_null(c.peers.v);

	/* A file then overrides some keys and leaves the rest alone. */
	struct config_error err;
	assert_int_equal(config_load_string(schema, &c,
		"[cache]\nmemory = \"1 GiB\"\n[storage]\ncompression = \"lz4\"\n", "t.conf", &err), 0);
	assert_int_equal(c.memory, 1 << 30);
	assert_string_equal(c.compression, "lz4");
	assert_int_equal(c.disk, 10LL << 30);
	assert_string_equal(c.title, "bucketfs");
	config_free(schema, &c);
	assert_null(c.title);
	assert_null(c.exports.v);
	assert_int_equal(c.exports.n, 0);
}

static void test_basic_string_escapes(void **state)
{
	struct cfg c;
	load_ok(&c, "[storage]\nurl = \"q\\\" b\\\\ n\\n t\\t b\\b f\\f r\\r e\\u00e9 g\\U0001F600 z\\u20AC\"\n");
	assert_string_equal(c.url, "q\" b\\ n\n t\t b\b f\f r\r e\xc3\xa9 g\xf0\x9f\x98\x80 z\xe2\x82\xac");
	config_free(schema, &c);
	load_ok(&c, "[storage]\nurl = \"\"\n");
	assert_string_equal(c.url, "");
	config_free(schema, &c);
	load_ok(&c, "[storage]\nurl = \"# not a comment\" # a comment\n");
	assert_string_equal(c.url, "# not a comment");
	config_free(schema, &c);
}

static void test_literal_strings_are_verbatim(void **state)
{
	struct cfg c;
	load_ok(&c, "[storage]\nurl = 'C:\\dir\\new \"quoted\" #x'\nencryption_password = ''\n");
	assert_string_equal(c.url, "C:\\dir\\new \"quoted\" #x");
	assert_string_equal(c.password, "");
	config_free(schema, &c);
}

static void test_booleans(void **state)
{
	struct cfg c;
	load_ok(&c, "[storage]\nreadonly = true\n");
	assert_true(c.readonly);
	config_free(schema, &c);
	load_ok(&c, "[storage]\nreadonly=false#off\n");
	assert_false(c.readonly);
	config_free(schema, &c);
	load_ok(&c, "[storage]\nreadonly = \"true\"\n");
	assert_true(c.readonly);
	config_free(schema, &c);
}

static void test_integer_forms(void **state)
{
	static const struct {
		const char *text;
		int64_t v;
	} cases[] = {
		{ "0", 0 }, { "42", 42 }, { "-7", -7 }, { "+3", 3 }, { "1_000_000", 1000000 },
		{ "0x1f", 31 }, { "0xFF_FF", 65535 }, { "0o755", 493 }, { "0b101", 5 },
		{ "\"12\"", 12 }, { "'-12'", -12 },
		{ "9223372036854775807", INT64_MAX }, { "-9223372036854775808", INT64_MIN },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *line = xasprintf("[filesystem]\noffset = %s", cases[i].text);
		assert_true(load_int(line) == cases[i].v);
		free(line);
	}
	struct cfg c;
	load_ok(&c, "[filesystem]\nthreads = 64\n");
	assert_int_equal(c.threads, 64);
	config_free(schema, &c);
}

static void test_sizes_every_suffix(void **state)
{
	static const char *const units[] = { "k", "m", "g", "t" };
	static const char *const forms[] = { "%s", "%sb", "%sib" };
	for (int u = 0; u < 4; u++) {
		for (int f = 0; f < 3; f++) {
			for (int upper = 0; upper < 2; upper++) {
				char unit[8];
				snprintf(unit, sizeof unit, forms[f], units[u]);
				for (char *p = unit; upper && *p; p++)
					*p = (char)(*p - 'a' + 'A');
				int64_t want = 3LL << (10 * (u + 1));
				/* bare glued, bare spaced, quoted glued, quoted spaced */
				const char *fmts[] = { "disk = 3%s", "disk = 3 %s",
						       "disk = \"3%s\"", "disk = '3 %s'" };
				for (int i = 0; i < 4; i++) {
					char *line = xasprintf(fmts[i], unit);
					char *text = xasprintf("[cache]\n%s", line);
					if (load_int(text) != want)
						fail_msg("%s", line);
					free(line);
					free(text);
				}
			}
		}
	}
	assert_true(load_int("[cache]\ndisk = 512") == 512);
	assert_true(load_int("[cache]\ndisk = 512b") == 512);
	assert_true(load_int("[cache]\ndisk = \"512 B\"") == 512);
	assert_true(load_int("[cache]\ndisk = 0") == 0);
	assert_true(load_int("[cache]\ndisk = 1_024 KiB") == 1 << 20);
	assert_true(load_int("[cache]\ndisk = 8191 TiB") == 8191LL << 40);
	assert_true(load_int("[cache]\ndisk = 64 MiB # sixty-four") == 64 << 20);
}

static void test_durations_every_suffix(void **state)
{
	static const struct {
		const char *text;
		int64_t ms;
	} cases[] = {
		{ "0", 0 }, { "0ms", 0 }, { "500ms", 500 }, { "30s", 30000 }, { "5m", 300000 },
		{ "1h", 3600000 }, { "1d", 86400000 }, { "1h30m", 5400000 },
		{ "\"1h 30m 15s 5ms\"", 5415005 }, { "5 s", 5000 }, { "1H", 3600000 },
		{ "2MS", 2 }, { "'90m'", 5400000 }, { "1_000ms", 1000 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *text = xasprintf("[filesystem]\nflush_interval = %s", cases[i].text);
		if (load_int(text) != cases[i].ms)
			fail_msg("%s", text);
		free(text);
	}
}

static void test_arrays_one_line_and_across_lines(void **state)
{
	struct cfg c;
	load_ok(&c, "[nfs]\npeers = [\"a\", 'b\\c', \"d\\te\"]\n");
	assert_int_equal(c.peers.n, 3);
	assert_string_equal(c.peers.v[0], "a");
	assert_string_equal(c.peers.v[1], "b\\c");
	assert_string_equal(c.peers.v[2], "d\te");
	assert_null(c.peers.v[3]);
	config_free(schema, &c);

	load_ok(&c, "[nfs]\npeers = [\n"
		    "  \"one\",   # first\n"
		    "\n"
		    "  # a comment line inside\n"
		    "  \"two\" ,\n"
		    "  \"${TEST_CONFIG_BASE}/three\",  # trailing comma next\n"
		    "]  # after\n"
		    "exports = []\n");
	assert_int_equal(c.peers.n, 3);
	assert_string_equal(c.peers.v[0], "one");
	assert_string_equal(c.peers.v[1], "two");
	assert_string_equal(c.peers.v[2], "/base/three");
	assert_int_equal(c.exports.n, 0);
	assert_non_null(c.exports.v);
	assert_null(c.exports.v[0]);
	config_free(schema, &c);
}

static void test_comments_and_blank_lines_everywhere(void **state)
{
	struct cfg c;
	load_ok(&c, "# leading comment\n"
		    "\n"
		    "   \t\n"
		    "title = \"x\" # top-level\n"
		    "   # indented comment\n"
		    "[cache] # section comment\n"
		    "#memory = 1\n"
		    "memory = 2MiB# no space before comment\n"
		    "\n"
		    "# trailing comment without newline");
	assert_string_equal(c.title, "x");
	assert_int_equal(c.memory, 2 << 20);
	config_free(schema, &c);
	load_ok(&c, "");
	config_free(schema, &c);
	load_ok(&c, "\n\n#\n");
	config_free(schema, &c);
}

static void test_whitespace_tolerated(void **state)
{
	struct cfg c;
	load_ok(&c, "\t[  cache\t]  \n"
		    "  memory=\"4 MiB\"\n"
		    "\tdisk   =\t 1G   \n"
		    "[filesystem]\n"
		    "threads =8");
	assert_int_equal(c.memory, 4 << 20);
	assert_int_equal(c.disk, 1 << 30);
	assert_int_equal(c.threads, 8);
	config_free(schema, &c);
}

static const char *const full_file =
	"# a complete file\n"
	"title = \"demo\"\n"
	"[storage]\n"
	"url = \"s3://bucket/${TEST_CONFIG_BASE}\"\n"
	"encryption_password = 'p\"w'\n"
	"compression = \"none\" # fastest\n"
	"readonly = true\n"
	"[cache]\n"
	"dir = \"/var/cache\"\n"
	"memory = \"64 MiB\"\n"
	"disk = 4GiB\n"
	"[filesystem]\n"
	"flush_interval = 500ms\n"
	"threads = 16\n"
	"offset = -1_000\n"
	"[mount]\n"
	"banner = \"hello\\u0021\"\n"
	"[nfs]\n"
	"exports = [\n"
	"  \"/a\",\n"
	"  \"/b\", # b\n"
	"]\n"
	"peers = ['x']\n";

static void check_full(const struct cfg *c)
{
	assert_string_equal(c->title, "demo");
	assert_string_equal(c->url, "s3://bucket//base");
	assert_string_equal(c->password, "p\"w");
	assert_string_equal(c->compression, "none");
	assert_true(c->readonly);
	assert_string_equal(c->dir, "/var/cache");
	assert_int_equal(c->memory, 64 << 20);
	assert_int_equal(c->disk, 4LL << 30);
	assert_int_equal(c->flush_ms, 500);
	assert_int_equal(c->threads, 16);
	assert_int_equal(c->offset, -1000);
	assert_string_equal(c->banner, "hello!");
	assert_int_equal(c->exports.n, 2);
	assert_string_equal(c->exports.v[1], "/b");
	assert_int_equal(c->peers.n, 1);
	assert_string_equal(c->peers.v[0], "x");
}

static char *to_crlf(const char *s)
{
	char *out = xmalloc(2 * strlen(s) + 1), *o = out;
	for (; *s; s++) {
		if (*s == '\n')
			*o++ = '\r';
		*o++ = *s;
	}
	*o = '\0';
	return out;
}

static void test_crlf_and_bom_tolerated(void **state)
{
	struct cfg c;
	char *crlf = to_crlf(full_file);
	load_ok(&c, crlf);
	check_full(&c);
	config_free(schema, &c);
	char *bom = xasprintf("\xef\xbb\xbf%s", crlf);
	load_ok(&c, bom);
	check_full(&c);
	config_free(schema, &c);
	free(bom);
	free(crlf);
}

static void test_load_file(void **state)
{
	char *dir = test_tmpdir("config");
	char *path = xasprintf("%s/bucketfs.conf", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(full_file, f);
	fclose(f);

	struct cfg c;
	struct config_error err;
	memset(&c, 0, sizeof c);
	assert_int_equal(config_apply_defaults(schema, &c), 0);
	assert_int_equal(config_load_file(schema, &c, path, &err), 0);
	check_full(&c);
	/* Loading again replaces every value (ASan checks the old ones are freed). */
	assert_int_equal(config_load_file(schema, &c, path, &err), 0);
	check_full(&c);
	config_free(schema, &c);

	/* A bad line in a file names the path as given. */
	f = fopen(path, "w");
	fputs("[cache]\n\nmemory = lots\n", f);
	fclose(f);
	memset(&c, 0, sizeof c);
	assert_int_equal(config_load_file(schema, &c, path, &err), -EINVAL);
	char *want = xasprintf("%s:3: [cache] memory = lots: not a size (expected e.g. \"256 MiB\")",
			       path);
	assert_string_equal(err.msg, want);
	free(want);
	config_free(schema, &c);

	/* So does a file too large to be a configuration. */
	f = fopen(path, "w");
	for (int i = 0; i < 5 << 16; i++)
		fputs("# padding padding\n", f);
	fclose(f);
	assert_int_equal(config_load_file(schema, &c, path, &err), -EFBIG);
	want = xasprintf("%s: file is too large (over 4 MiB)", path);
	assert_string_equal(err.msg, want);
	free(want);

	test_rmtree(dir);
	free(path);
	free(dir);
}

static void test_missing_file_is_enoent(void **state)
{
	struct cfg c;
	struct config_error err;
	memset(&c, 0, sizeof c);
	assert_int_equal(config_load_file(schema, &c, "/nonexistent/bucketfs.conf", &err), -ENOENT);
	assert_string_equal(err.msg, "/nonexistent/bucketfs.conf: No such file or directory");
	assert_int_equal(err.line, 0);
	/* A directory is not a configuration file either. */
	assert_int_equal(config_load_file(schema, &c, "/", &err), -EISDIR);
	/* Without an error struct the message goes to the log. */
	assert_int_equal(config_load_file(schema, &c, "/nonexistent/x", NULL), -ENOENT);
	assert_int_equal(load(&c, "[nope]\n", NULL), -EINVAL);
	config_free(schema, &c);
}

/* ---- ${VAR} ---- */

static void test_env_substitution(void **state)
{
	struct cfg c;
	load_ok(&c, "[storage]\n"
		    "url = \"${TEST_CONFIG_BASE}/x/${TEST_CONFIG_BASE}\"\n"
		    "encryption_password = \"${TEST_CONFIG_UNSET:-fallback}\"\n"
		    "compression = \"${TEST_CONFIG_EMPTY:-lz4}\"\n"
		    "[cache]\n"
		    "dir = '$${literal} $ alone $$ ${TEST_CONFIG_EMPTY}|${TEST_CONFIG_UNSET:-}|'\n"
		    "memory = \"${TEST_CONFIG_UNSET:-8 MiB}\"\n"
		    "[mount]\n"
		    "banner = \"${TEST_CONFIG_TRICKY}\"\n");
	assert_string_equal(c.url, "/base/x//base");
	assert_string_equal(c.password, "fallback");
	assert_string_equal(c.compression, "lz4");
	assert_string_equal(c.dir, "${literal} $ alone $$ ||");
	assert_int_equal(c.memory, 8 << 20);
	/* A variable's value is inserted as is: never re-expanded or unescaped. */
	assert_string_equal(c.banner, "a${TEST_CONFIG_BASE}\\\"");
	config_free(schema, &c);

	/* Escapes are decoded before expansion: \u0024 is a '$'. */
	load_ok(&c, "[storage]\nurl = \"\\u0024{TEST_CONFIG_BASE}\"\n");
	assert_string_equal(c.url, "/base");
	config_free(schema, &c);
}

static void test_env_unset_is_an_error(void **state)
{
	load_fails("# x\n[storage]\nurl = \"s3://${TEST_CONFIG_UNSET}/\"\n", 3,
		   "t.conf:3: [storage] url: environment variable TEST_CONFIG_UNSET is not set");
	load_fails("[nfs]\npeers = [\n\"a\",\n\"${TEST_CONFIG_UNSET}\"]\n", 4,
		   "t.conf:4: [nfs] peers: environment variable TEST_CONFIG_UNSET is not set");
	load_fails("[cache]\nmemory = \"${TEST_CONFIG_UNSET} MiB\"\n", 2,
		   "t.conf:2: [cache] memory: environment variable TEST_CONFIG_UNSET is not set");
	/* ${VAR} without a default does not accept an empty variable as unset. */
	struct cfg c;
	load_ok(&c, "[storage]\nurl = \"<${TEST_CONFIG_EMPTY}>\"\n");
	assert_string_equal(c.url, "<>");
	config_free(schema, &c);
}

static void test_env_bad_syntax(void **state)
{
	static const char bad[] =
		"bad ${...}: expected ${NAME} or ${NAME:-default}";
	static const char *const texts[] = { "${}", "${1X}", "${A B}", "${:-x}", "${A-x}" };
	for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
		char *text = xasprintf("[storage]\nurl = \"%s\"\n", texts[i]);
		char *msg = xasprintf("t.conf:2: [storage] url: %s", bad);
		load_fails(text, 2, msg);
		free(text);
		free(msg);
	}
	load_fails("[storage]\nurl = \"${ABC\"\n", 2,
		   "t.conf:2: [storage] url: unterminated ${ (missing })");
	load_fails("[storage]\nurl = \"${ABC:-x\"\n", 2,
		   "t.conf:2: [storage] url: unterminated ${ (missing })");
}

/* ---- errors ---- */

static const struct {
	const char *text;
	int line;
	const char *msg;
} error_cases[] = {
	/* unknown section, unknown key */
	{ "[storage]\n[nosuch]\n", 2, "t.conf:2: unknown section [nosuch]" },
	{ "[cache]\nmemroy = 1\n", 2, "t.conf:2: [cache] memroy: unknown key" },
	{ "[storage]\nthreads = 4\n", 2,
	  "t.conf:2: [storage] threads: unknown key (it belongs in [filesystem])" },
	{ "[cache]\ntitle = \"x\"\n", 2,
	  "t.conf:2: [cache] title: unknown key (it belongs before the first [section])" },
	{ "memory = 1\n", 1, "t.conf:1: memory: unknown key (it belongs in [cache])" },
	{ "bogus = 1\n", 1, "t.conf:1: bogus: unknown key" },
	/* duplicate key, also across a reopened section */
	{ "[cache]\nmemory = 2M\n\nmemory = 4M\n", 4,
	  "t.conf:4: [cache] memory: duplicate key (first set on line 2)" },
	{ "[cache]\ndisk = 1G\n[storage]\n[cache]\ndisk = 1G\n", 5,
	  "t.conf:5: [cache] disk: duplicate key (first set on line 2)" },
	/* type mismatches */
	{ "[storage]\nurl = 42\n", 2, "t.conf:2: [storage] url: expected a string in quotes" },
	{ "[storage]\nurl = [\"a\"]\n", 2, "t.conf:2: [storage] url: expected a string in quotes" },
	{ "[nfs]\npeers = \"a\"\n", 2,
	  "t.conf:2: [nfs] peers: expected an array of strings, e.g. [\"a\", \"b\"]" },
	{ "[cache]\nmemory = [\"1G\"]\n", 2, "t.conf:2: [cache] memory: expected a size, not an array" },
	{ "[storage]\nreadonly = yes\n", 2,
	  "t.conf:2: [storage] readonly = yes: not a boolean (expected true or false)" },
	{ "[storage]\nreadonly = True\n", 2,
	  "t.conf:2: [storage] readonly = True: not a boolean (expected true or false)" },
	{ "[cache]\nmemory = \"lots\"\n", 2,
	  "t.conf:2: [cache] memory = \"lots\": not a size (expected e.g. \"256 MiB\")" },
	{ "[cache]\nmemory = 1.5G\n", 2,
	  "t.conf:2: [cache] memory = 1.5G: not a size (expected e.g. \"256 MiB\")" },
	{ "[cache]\ndisk = 1 PiB\n", 2,
	  "t.conf:2: [cache] disk = 1 PiB: not a size (expected e.g. \"256 MiB\")" },
	{ "[cache]\ndisk = -1G\n", 2,
	  "t.conf:2: [cache] disk = -1G: not a size (expected e.g. \"256 MiB\")" },
	{ "[cache]\ndisk = 1GiBs\n", 2,
	  "t.conf:2: [cache] disk = 1GiBs: not a size (expected e.g. \"256 MiB\")" },
	{ "[filesystem]\nflush_interval = 30\n", 2,
	  "t.conf:2: [filesystem] flush_interval = 30: not a duration (expected e.g. \"30s\", \"500ms\" or \"1h\")" },
	{ "[filesystem]\nflush_interval = 5 parsecs\n", 2,
	  "t.conf:2: [filesystem] flush_interval = 5 parsecs: not a duration (expected e.g. \"30s\", \"500ms\" or \"1h\")" },
	{ "[filesystem]\nflush_interval = \"\"\n", 2,
	  "t.conf:2: [filesystem] flush_interval = \"\": not a duration (expected e.g. \"30s\", \"500ms\" or \"1h\")" },
	{ "[filesystem]\noffset = 12abc\n", 2, "t.conf:2: [filesystem] offset = 12abc: not an integer" },
	{ "[filesystem]\noffset = 1__0\n", 2, "t.conf:2: [filesystem] offset = 1__0: not an integer" },
	{ "[filesystem]\noffset = _1\n", 2, "t.conf:2: [filesystem] offset = _1: not an integer" },
	{ "[filesystem]\noffset = 1_\n", 2, "t.conf:2: [filesystem] offset = 1_: not an integer" },
	{ "[filesystem]\noffset = 0x\n", 2, "t.conf:2: [filesystem] offset = 0x: not an integer" },
	{ "[filesystem]\noffset = 0b102\n", 2, "t.conf:2: [filesystem] offset = 0b102: not an integer" },
	/* out of range */
	{ "[filesystem]\nthreads = 65\n", 2,
	  "t.conf:2: [filesystem] threads = 65: out of range (must be between 1 and 64)" },
	{ "[filesystem]\nthreads = 0\n", 2,
	  "t.conf:2: [filesystem] threads = 0: out of range (must be between 1 and 64)" },
	{ "[cache]\nmemory = 512k\n", 2,
	  "t.conf:2: [cache] memory = 512k: out of range (must be between 1 MiB and 1 TiB)" },
	{ "[filesystem]\nflush_interval = 2d\n", 2,
	  "t.conf:2: [filesystem] flush_interval = 2d: out of range (must be between 0 and 1d)" },
	{ "[filesystem]\noffset = 9223372036854775808\n", 2,
	  "t.conf:2: [filesystem] offset = 9223372036854775808: out of range (too large)" },
	{ "[filesystem]\noffset = -9223372036854775809\n", 2,
	  "t.conf:2: [filesystem] offset = -9223372036854775809: out of range (too large)" },
	{ "[cache]\ndisk = 8388608T\n", 2, "t.conf:2: [cache] disk = 8388608T: out of range (too large)" },
	{ "[cache]\ndisk = 99999999999999999999\n", 2,
	  "t.conf:2: [cache] disk = 99999999999999999999: out of range (too large)" },
	{ "[filesystem]\nflush_interval = 106751991168d\n", 2,
	  "t.conf:2: [filesystem] flush_interval = 106751991168d: out of range (too large)" },
	/* a schema check callback */
	{ "[storage]\ncompression = \"brotli\"\n", 2,
	  "t.conf:2: [storage] compression = brotli: unknown codec (expected zstd, lz4 or none)" },
	/* malformed lines */
	{ "[cache]\njust some words\n", 2, "t.conf:2: expected \"=\" after \"just\"" },
	{ "[cache]\n= 5\n", 2, "t.conf:2: expected \"key = value\" or \"[section]\"" },
	{ "[cache]\n\"memory\" = 5\n", 2, "t.conf:2: expected \"key = value\" or \"[section]\"" },
	{ "[cache]\nmemory\n", 2, "t.conf:2: expected \"=\" after \"memory\"" },
	{ "[cache]\nmemory =\n", 2, "t.conf:2: [cache] memory: missing value" },
	{ "[cache]\nmemory = # nothing\n", 2, "t.conf:2: [cache] memory: missing value" },
	{ "[cache\n", 1, "t.conf:1: malformed section header (expected [name])" },
	{ "[]\n", 1, "t.conf:1: malformed section header (expected [name])" },
	{ "[ca che]\n", 1, "t.conf:1: malformed section header (expected [name])" },
	{ "[[cache]]\n", 1, "t.conf:1: [[array tables]] are not supported" },
	{ "[cache] memory = 1\n", 1, "t.conf:1: unexpected text after [cache]" },
	{ "[storage]\nurl = \"a\" \"b\"\n", 2, "t.conf:2: [storage] url: unexpected text after the value" },
	{ "[nfs]\npeers = [\"a\"] x\n", 2, "t.conf:2: [nfs] peers: unexpected text after the value" },
	/* strings */
	{ "[storage]\nurl = \"abc\n", 2, "t.conf:2: [storage] url: unterminated string" },
	{ "[storage]\nurl = \"abc\r\nx = 1\r\n", 2, "t.conf:2: [storage] url: unterminated string" },
	{ "[storage]\nurl = 'abc", 2, "t.conf:2: [storage] url: unterminated string" },
	{ "[storage]\nurl = \"a\\\"", 2, "t.conf:2: [storage] url: unterminated string" },
	{ "[storage]\nurl = \"a\\qb\"\n", 2,
	  "t.conf:2: [storage] url: invalid escape in string (write \\\\ for a backslash)" },
	{ "[storage]\nurl = \"\\u12\"\n", 2, "t.conf:2: [storage] url: \\u needs 4 hex digits" },
	{ "[storage]\nurl = \"\\U0001F60\"\n", 2, "t.conf:2: [storage] url: \\U needs 8 hex digits" },
	{ "[storage]\nurl = \"\\ud800\"\n", 2, "t.conf:2: [storage] url: invalid unicode escape U+D800" },
	{ "[storage]\nurl = \"\\u0000\"\n", 2, "t.conf:2: [storage] url: invalid unicode escape U+0000" },
	{ "[storage]\nurl = \"\\U00110000\"\n", 2,
	  "t.conf:2: [storage] url: invalid unicode escape U+110000" },
	{ "[storage]\nurl = \"a\x01\"\n", 2, "t.conf:2: [storage] url: control character in string" },
	{ "[storage]\nurl = \"\"\"a\"\"\"\n", 2,
	  "t.conf:2: [storage] url: multi-line strings are not supported" },
	/* arrays */
	{ "[nfs]\n\npeers = [\"a\",\n \"b\"\n\n", 3, "t.conf:3: [nfs] peers: unterminated array (missing ])" },
	{ "[nfs]\npeers = [\"a\",", 2, "t.conf:2: [nfs] peers: unterminated array (missing ])" },
	{ "[nfs]\npeers = [\"a\"\n\"b\"]\n", 3,
	  "t.conf:3: [nfs] peers: expected , or ] in the array opened on line 2" },
	{ "[nfs]\npeers = [\"a\", 1]\n", 2,
	  "t.conf:2: [nfs] peers: expected a quoted string or ] in the array" },
	{ "[nfs]\npeers = [\"a\", [\"b\"]]\n", 2,
	  "t.conf:2: [nfs] peers: expected a quoted string or ] in the array" },
	{ "[nfs]\npeers = [,]\n", 2, "t.conf:2: [nfs] peers: expected a quoted string or ] in the array" },
	{ "[nfs]\npeers = [\n\"a\",\n\"b\n]\n", 4, "t.conf:4: [nfs] peers: unterminated string" },
	/* a long bad value is shortened, control characters shown as '?' */
	{ "[cache]\nmemory = abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij\n", 2,
	  "t.conf:2: [cache] memory = abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij...: "
	  "not a size (expected e.g. \"256 MiB\")" },
	{ "[cache]\nmemory = '1\tx'\n", 2,
	  "t.conf:2: [cache] memory = '1\tx': not a size (expected e.g. \"256 MiB\")" },
	{ "[cache]\ndisk = 1\x01\n", 2, "t.conf:2: [cache] disk: unexpected text after the value" },
};

static void test_every_error_names_file_line_and_key(void **state)
{
	for (size_t i = 0; i < sizeof error_cases / sizeof error_cases[0]; i++) {
		struct cfg c;
		struct config_error err;
		int r = load(&c, error_cases[i].text, &err);
		config_free(schema, &c);
		if (r != -EINVAL || strcmp(err.msg, error_cases[i].msg) ||
		    err.line != error_cases[i].line)
			fail_msg("case %zu: r=%d line=%d\n  got:  %s\n  want: %s", i, r, err.line,
				 err.msg, error_cases[i].msg);
	}
}

static void test_errors_are_reported_in_crlf_files_too(void **state)
{
	char *crlf = to_crlf("[cache]\n\nmemory = lots\n");
	load_fails(crlf, 3, "t.conf:3: [cache] memory = lots: not a size (expected e.g. \"256 MiB\")");
	free(crlf);
}

static void test_bad_defaults_are_errors(void **state)
{
	struct only {
		int64_t v;
		char *s;
		struct config_strv a;
	} o = { 0, NULL, { NULL, 0 } };
	const struct config_key bad_size[] = {
		{ "x", "v", CONFIG_SIZE, offsetof(struct only, v), .dflt = "lots" }, { NULL },
	};
	const struct config_key unset_var[] = {
		{ "x", "s", CONFIG_STRING, offsetof(struct only, s), .dflt = "${TEST_CONFIG_UNSET}" },
		{ NULL },
	};
	const struct config_key bad_array[] = {
		{ "x", "s", CONFIG_STRING_ARRAY, offsetof(struct only, a), .dflt = "[\"a\"] junk" },
		{ NULL },
	};
	assert_int_equal(config_apply_defaults(bad_size, &o), -EINVAL);
	assert_int_equal(config_apply_defaults(unset_var, &o), -EINVAL);
	assert_null(o.s);
	assert_int_equal(config_apply_defaults(bad_array, &o), -EINVAL);
	config_free(bad_array, &o);
}

/* ---- the template ---- */

static bool cfg_equal(const struct cfg *a, const struct cfg *b)
{
	const char *const sa[] = { a->title, a->url, a->password, a->compression, a->dir, a->banner };
	const char *const sb[] = { b->title, b->url, b->password, b->compression, b->dir, b->banner };
	for (size_t i = 0; i < sizeof sa / sizeof sa[0]; i++)
		if ((sa[i] || sb[i]) && (!sa[i] || !sb[i] || strcmp(sa[i], sb[i])))
			return false;
	if (a->readonly != b->readonly || a->memory != b->memory || a->disk != b->disk ||
	    a->flush_ms != b->flush_ms || a->threads != b->threads || a->offset != b->offset)
		return false;
	const struct config_strv *va[] = { &a->exports, &a->peers }, *vb[] = { &b->exports, &b->peers };
	for (int i = 0; i < 2; i++) {
		if (va[i]->n != vb[i]->n || !va[i]->v != !vb[i]->v)
			return false;
		for (size_t j = 0; j < va[i]->n; j++)
			if (strcmp(va[i]->v[j], vb[i]->v[j]))
				return false;
	}
	return true;
}

static char *template_text(void)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	assert_non_null(f);
	assert_int_equal(config_write_template(schema, f), 0);
	fclose(f);
	return text;
}

static void test_template_round_trips_to_defaults(void **state)
{
	struct cfg defaults, loaded, both;
	memset(&defaults, 0, sizeof defaults);
	assert_int_equal(config_apply_defaults(schema, &defaults), 0);

	char *text = template_text();
	load_ok(&loaded, text);
	assert_true(cfg_equal(&defaults, &loaded));

	/* And loading it over the defaults changes nothing. */
	memset(&both, 0, sizeof both);
	assert_int_equal(config_apply_defaults(schema, &both), 0);
	struct config_error err;
	assert_int_equal(config_load_string(schema, &both, text, "template", &err), 0);
	assert_true(cfg_equal(&defaults, &both));

	/* A changed value is noticed, so the comparison can fail. */
	loaded.threads++;
	assert_false(cfg_equal(&defaults, &loaded));

	config_free(schema, &defaults);
	config_free(schema, &loaded);
	config_free(schema, &both);
	free(text);
}

static void test_template_lists_every_key_with_help(void **state)
{
	char *text = template_text();
	/* Top-level keys come before the first section. */
	assert_true(strstr(text, "title = \"bucketfs\"") < strstr(text, "[storage]"));
	for (const struct config_key *k = schema; k->key; k++) {
		char *line = xasprintf(k->dflt ? "\n%s = " : "\n# %s = ", k->key);
		if (!strstr(text, line))
			fail_msg("no line for %s in:\n%s", k->key, text);
		free(line);
		if (*k->section) {
			char *hdr = xasprintf("\n[%s]\n", k->section);
			assert_non_null(strstr(text, hdr));
			free(hdr);
		}
	}
	assert_non_null(strstr(text, "# Where the store lives:\n# file:///path or s3://bucket/prefix.\n"));
	assert_non_null(strstr(text, "# (a size such as \"512 KiB\", \"64 MiB\" or \"4 GiB\"; 1 MiB to 1 TiB)\n"
				     "memory = \"256 MiB\"\n"));
	assert_non_null(strstr(text, "# (an integer; 1 to 64)\nthreads = 4\n"));
	assert_non_null(strstr(text, "# (a duration such as"));
	assert_non_null(strstr(text, "# peers = []\n"));
	assert_non_null(strstr(text, "# url = \"\"\n"));
	assert_non_null(strstr(text, "banner = \"say \\\"hi\\\" \\\\ $${NOT_EXPANDED} \\ttab \xc3\xa9\"\n"));
	/* Each section appears once even when the schema interleaves them. */
	char *second = strstr(strstr(text, "[cache]") + 1, "[cache]");
	assert_null(second);
	free(text);
}

static void test_template_of_empty_schema(void **state)
{
	const struct config_key empty[] = { { NULL } };
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	assert_int_equal(config_write_template(empty, f), 0);
	fclose(f);
	assert_int_equal(len, 0);
	free(text);
}

/* ---- random mutations ---- */

/* config_load_mem takes the bytes of a file, NULs included (the fuzz
 * target fuzz/fuzz-conf.c uses it); a NUL never ends the text early. */
static void test_load_mem_with_nul_bytes(void **state)
{
	static const char ok[] = "[storage]\nurl = \"file:///x\"\n";
	static const char nul_in_value[] = "[storage]\nurl = \"a\0b\"\n";
	static const char nul_in_comment[] = "# \0\n[storage]\nurl = \"y\"\n";
	static const char nul_after[] = "[storage]\nurl = \"z\"\n\0[cache]\nmemory = lots\n";
	struct cfg c;
	struct config_error err;

	(void)state;
	memset(&c, 0, sizeof c);
	assert_int_equal(config_load_mem(schema, &c, ok, sizeof ok - 1, "m.conf", &err), 0);
	assert_string_equal(c.url, "file:///x");
	config_free(schema, &c);
	assert_int_equal(config_load_mem(schema, &c, "", 0, "m.conf", &err), 0);
	assert_null(c.url);
	assert_int_equal(config_load_mem(schema, &c, NULL, 0, "m.conf", &err), 0);
	int r = config_load_mem(schema, &c, nul_in_value, sizeof nul_in_value - 1, "m.conf", &err);
	assert_int_equal(r, -EINVAL);
	assert_true(!strncmp(err.msg, "m.conf:2:", 9));
	config_free(schema, &c);
	r = config_load_mem(schema, &c, nul_in_comment, sizeof nul_in_comment - 1, "m.conf", &err);
	if (r == 0)
		assert_string_equal(c.url, "y");
	else
		assert_true(!strncmp(err.msg, "m.conf:1:", 9));
	config_free(schema, &c);
	/* the bad line after the NUL is read: the text did not stop there */
	r = config_load_mem(schema, &c, nul_after, sizeof nul_after - 1, "m.conf", &err);
	assert_int_equal(r, -EINVAL);
	assert_int_not_equal(err.line, 0);
	config_free(schema, &c);
}

static const char fuzz_bytes[] = "\"'[]{}$#=,\\\n\r\t :-_.0123456789abkKMGiBsmhdux\x01\x7f\xc3\xff";

static void mutate(struct test_rng *rng, struct buf *b)
{
	int ops = 1 + (int)test_rng_below(rng, 4);
	for (int i = 0; i < ops; i++) {
		size_t at = test_rng_below(rng, b->len + 1);
		uint8_t c = (uint8_t)test_rng_next(rng);
		if (test_rng_below(rng, 4))
			c = (uint8_t)fuzz_bytes[test_rng_below(rng, sizeof fuzz_bytes - 1)];
		switch (test_rng_below(rng, 6)) {
		case 0: /* replace */
			if (at < b->len)
				b->data[at] = c;
			break;
		case 1: /* insert */
			buf_reserve(b, 1);
			memmove(b->data + at + 1, b->data + at, b->len - at);
			b->data[at] = c;
			b->len++;
			break;
		case 2: /* delete a run */
			if (at < b->len) {
				size_t n = 1 + test_rng_below(rng, b->len - at);
				n = n > 8 ? 1 + n % 8 : n;
				memmove(b->data + at, b->data + at + n, b->len - at - n);
				b->len -= n;
			}
			break;
		case 3: /* truncate */
			b->len = at;
			break;
		case 4: { /* copy a chunk elsewhere */
			size_t from = test_rng_below(rng, b->len + 1);
			size_t n = test_rng_below(rng, 40);
			if (from + n > b->len)
				n = b->len - from;
			uint8_t *chunk = xmemdup(b->data + from, n);
			buf_reserve(b, n);
			memmove(b->data + at + n, b->data + at, b->len - at);
			memcpy(b->data + at, chunk, n);
			b->len += n;
			free(chunk);
			break;
		}
		default: /* insert an interesting token */ {
			static const char *const toks[] = { "${", "$${", "${TEST_CONFIG_UNSET}", "\\u",
							    "\\U0010FFFF", "[", "]", "\"\"\"", "[[",
							    "= ", "\n[cache]\n", "#", "0x", "9999999999999999999" };
			const char *t = toks[test_rng_below(rng, sizeof toks / sizeof toks[0])];
			size_t n = strlen(t);
			buf_reserve(b, n);
			memmove(b->data + at + n, b->data + at, b->len - at);
			memcpy(b->data + at, t, n);
			b->len += n;
		}
		}
	}
}

static int count_lines(const uint8_t *p, size_t n)
{
	int lines = 1;
	for (size_t i = 0; i < n; i++)
		lines += p[i] == '\n';
	return lines;
}

static void check_fuzz_result(int r, const struct config_error *err, const char *name,
			      int lines, const struct buf *b)
{
	if (r == 0)
		return;
	size_t nlen = strlen(name);
	if (r != -EINVAL || strncmp(err->msg, name, nlen) || err->msg[nlen] != ':' ||
	    err->line < 1 || err->line > lines || !memchr(err->msg, '\0', sizeof err->msg))
		fail_msg("r=%d line=%d/%d msg=%s for %.*s", r, err->line, lines, err->msg,
			 (int)b->len, (const char *)b->data);
}

static void test_random_mutations_never_crash(void **state)
{
	struct test_rng rng = { test_seed("config mutations") };
	long iters = test_env_long("CONFIG_FUZZ_ITERS", 20000);
	char *dir = test_tmpdir("config-fuzz");
	char *path = xasprintf("%s/fuzz.conf", dir);
	char *crlf = to_crlf(full_file);
	int parsed = 0, failed = 0;

	for (long i = 0; i < iters; i++) {
		struct buf b = BUF_INIT;
		const char *base = i % 3 == 2 ? crlf : full_file;
		buf_append(&b, base, strlen(base));
		mutate(&rng, &b);

		struct cfg c;
		struct config_error err;
		memset(&c, 0, sizeof c);
		if (i % 2)
			assert_int_equal(config_apply_defaults(schema, &c), 0);
		int r, lines = count_lines(b.data, b.len);
		if (i % 64 == 0) {
			/* Through a file, where NUL bytes reach the parser. */
			FILE *f = fopen(path, "wb");
			assert_non_null(f);
			assert_int_equal(fwrite(b.data, 1, b.len, f), b.len);
			fclose(f);
			r = config_load_file(schema, &c, path, &err);
			check_fuzz_result(r, &err, path, lines, &b);
		} else {
			buf_put_u8(&b, 0);
			r = config_load_string(schema, &c, (const char *)b.data, "fuzz.conf", &err);
			check_fuzz_result(r, &err, "fuzz.conf", lines, &b);
		}
		if (r)
			failed++;
		else
			parsed++;
		config_free(schema, &c);
		buf_free(&b);
	}
	printf("# %d parsed, %d rejected\n", parsed, failed);
	assert_true(parsed > 0 && failed > 0);
	free(crlf);
	test_rmtree(dir);
	free(path);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_applied_for_absent_keys),
		cmocka_unit_test(test_basic_string_escapes),
		cmocka_unit_test(test_literal_strings_are_verbatim),
		cmocka_unit_test(test_booleans),
		cmocka_unit_test(test_integer_forms),
		cmocka_unit_test(test_sizes_every_suffix),
		cmocka_unit_test(test_durations_every_suffix),
		cmocka_unit_test(test_arrays_one_line_and_across_lines),
		cmocka_unit_test(test_comments_and_blank_lines_everywhere),
		cmocka_unit_test(test_whitespace_tolerated),
		cmocka_unit_test(test_crlf_and_bom_tolerated),
		cmocka_unit_test(test_load_file),
		cmocka_unit_test(test_load_mem_with_nul_bytes),
		cmocka_unit_test(test_missing_file_is_enoent),
		cmocka_unit_test(test_env_substitution),
		cmocka_unit_test(test_env_unset_is_an_error),
		cmocka_unit_test(test_env_bad_syntax),
		cmocka_unit_test(test_every_error_names_file_line_and_key),
		cmocka_unit_test(test_errors_are_reported_in_crlf_files_too),
		cmocka_unit_test(test_bad_defaults_are_errors),
		cmocka_unit_test(test_template_round_trips_to_defaults),
		cmocka_unit_test(test_template_lists_every_key_with_help),
		cmocka_unit_test(test_template_of_empty_schema),
		cmocka_unit_test(test_random_mutations_never_crash),
	};
	return cmocka_run_group_tests(tests, group_setup, NULL);
}
