/* fuzz-conf.c -- the configuration parser (src/util/config.c) with the
 * daemon's own schema (src/daemon/conf.c): bucketfs.conf is user input.
 * A rejected file must say where it went wrong (file:line:). */
#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/conf.h"
#include "util/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* bucketfs.conf has no array yet: a schema of every type, arrays too,
 * so the whole parser is reached. */
struct every {
	char *s;
	bool b;
	int64_t i, size, ms;
	struct config_strv v;
};

static const struct config_key every_schema[] = {
	{ "fuzz", "s", CONFIG_STRING, offsetof(struct every, s), 0, 0, "x${BUCKETFS_FUZZ}", "", NULL },
	{ "fuzz", "b", CONFIG_BOOL, offsetof(struct every, b), 0, 0, "true", "", NULL },
	{ "fuzz", "i", CONFIG_INT, offsetof(struct every, i), -5, 5, "1", "", NULL },
	{ "fuzz", "size", CONFIG_SIZE, offsetof(struct every, size), 0, 0, "1 MiB", "", NULL },
	{ "fuzz", "ms", CONFIG_DURATION_MS, offsetof(struct every, ms), 0, 0, "1s", "", NULL },
	{ "fuzz", "v", CONFIG_STRING_ARRAY, offsetof(struct every, v), 0, 0, "[\"a\", 'b']", "",
	  NULL },
	{ "", "top", CONFIG_STRING_ARRAY, offsetof(struct every, v), 0, 0, NULL, "", NULL },
	{ NULL },
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int once;
	if (!once) {
		/* Fixed values for the ${VAR} the corpus uses. */
		setenv("BUCKETFS_FUZZ", "fuzz", 1);
		unsetenv("BUCKETFS_FUZZ_UNSET");
		once = 1;
	}
	/* An exact-size copy, so ASan sees any read past the end. */
	char *text = malloc(size ? size : 1);
	memcpy(text, data, size);
	struct conf c;
	struct config_error err;
	int r = conf_load_text(text, size, "fuzz.conf", &c, &err);
	if (r < 0)
		assert(memchr(err.msg, '\0', sizeof err.msg) &&
		       !strncmp(err.msg, "fuzz.conf", 9));
	conf_free(&c);

	struct every e;
	memset(&e, 0, sizeof e);
	assert(config_apply_defaults(every_schema, &e) == 0);
	r = config_load_mem(every_schema, &e, text, size, "every.conf", &err);
	if (r < 0)
		assert(!strncmp(err.msg, "every.conf", 10));
	if (e.v.v) {
		assert(!e.v.v[e.v.n]);
		for (size_t i = 0; i < e.v.n; i++)
			assert(e.v.v[i]);
	}
	config_free(every_schema, &e);
	free(text);
	return 0;
}
