/* config.h -- the configuration file: a schema-driven TOML-style parser.
 *
 * A caller describes its settings with a schema, an array of struct
 * config_key ended by an entry whose key is NULL.  Each entry names a
 * [section] and key, the type, and where the value goes: an offset into a
 * struct the caller owns.  The parser knows nothing about bucketfs's own
 * sections; it only follows the table.
 *
 * The file format is a subset of TOML:
 *
 *	# comment (also after a value)
 *	[cache]
 *	dir = "${HOME:-/root}/.cache/bucketfs"	# basic string, \ escapes
 *	memory = "256 MiB"			# or bare: memory = 256MiB
 *	flush_interval = "30s"
 *	readonly = false
 *	peers = [ "a", 'b',			# arrays of strings may span lines
 *		  "c" ]
 *
 * Basic strings ("...") take the escapes \" \\ \b \t \n \f \r \uXXXX and
 * \UXXXXXXXX; literal strings ('...') take none.  Multi-line strings,
 * inline tables, dotted keys and [[array tables]] are not supported.  After
 * escapes are decoded, every string (basic or literal) has ${VAR} replaced
 * by the environment variable, ${VAR:-text} by the variable or, when it is
 * unset or empty, by text; $${ stands for a literal ${.  Numbers and
 * booleans may also be written in quotes, so they can come from the
 * environment too: port = "${PORT:-2049}".
 *
 * A [section] may be reopened further down; a key may be set only once.
 *
 * Errors stop at the first problem and name the file, the line and the key:
 *	bucketfs.conf:12: [cache] memory = "lots": not a size (expected e.g. "256 MiB")
 * The value is echoed only for non-string types, so a bad password line
 * never lands in a log.
 *
 * Ownership: string and array fields are malloc'ed by the parser and freed
 * by config_free().  The target struct must start zeroed (or hold values
 * from config_apply_defaults or an earlier load); a value read from a file
 * replaces, and frees, what the field held.  After an error the target may
 * hold some of the file's values; config_free() it as usual.
 *
 * No global state; a schema may be shared by threads, a target may not. */
#ifndef BUCKETFS_UTIL_CONFIG_H
#define BUCKETFS_UTIL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum config_type {
	CONFIG_STRING,		/* char *, quoted in the file */
	CONFIG_BOOL,		/* bool: true or false */
	CONFIG_INT,		/* int64_t: 42, -7, 1_000, 0x1f, 0o755, 0b101 */
	CONFIG_SIZE,		/* int64_t bytes: 512, 512k, "64 MiB", 4GiB, 1T;
				 * K/M/G/T with or without B/iB, any case,
				 * always powers of 1024 */
	CONFIG_DURATION_MS,	/* int64_t milliseconds: 500ms, 30s, 5m, 1h,
				 * 2d, "1h 30m"; a bare 0 needs no unit */
	CONFIG_STRING_ARRAY,	/* struct config_strv: ["a", "b"] */
};

/* The value of a CONFIG_STRING_ARRAY field.  v holds n strings followed by
 * NULL; v is NULL only when the field was never set. */
struct config_strv {
	char **v;
	size_t n;
};

struct config_key {
	const char *section;	/* "" or NULL: a key before any [section] */
	const char *key;	/* NULL ends the schema */
	enum config_type type;
	size_t offset;		/* offsetof(struct yours, field) */
	/* INT, SIZE, DURATION_MS: the accepted range, when min < max. */
	int64_t min, max;
	/* The default, written the way the value looks without quotes:
	 * "/var/cache/bucketfs", "true", "42", "256 MiB", "30s"; for arrays,
	 * array syntax: "[\"a\", \"b\"]".  ${VAR} is substituted as in the
	 * file.  NULL: no default, the field stays zero/NULL. */
	const char *dflt;
	/* One or more lines of prose for the template. */
	const char *help;
	/* Optional extra validation, called with the field just stored;
	 * returns NULL when fine or a reason ("expected zstd, lz4 or none"). */
	const char *(*check)(const void *field);
};

struct config_error {
	char msg[512];		/* "file:line: [section] key: what is wrong" */
	int line;		/* 0 when the error is not about a line */
};

/* Read a file into target.  0; -EINVAL for a bad file (err says where and
 * why); -ENOENT or another -errno when it cannot be read.  err may be NULL,
 * in which case the message is logged. */
int config_load_file(const struct config_key *schema, void *target,
		     const char *path, struct config_error *err);
/* The same for text in memory; name is used in messages as the file name. */
int config_load_string(const struct config_key *schema, void *target,
		       const char *text, const char *name,
		       struct config_error *err);
/* The same for len bytes that may hold NULs, as a file's bytes may. */
int config_load_mem(const struct config_key *schema, void *target, const char *text,
		    size_t len, const char *name, struct config_error *err);
/* Store every key's default (keys without one are left alone).  0, or
 * -EINVAL when a default is bad or names an unset variable (logged). */
int config_apply_defaults(const struct config_key *schema, void *target);
/* Free the strings and arrays the schema points at, and zero them. */
void config_free(const struct config_key *schema, void *target);
/* Write a commented configuration file listing every key, section by
 * section, with its help, its type and its default; keys without a default
 * are commented out.  Loading it gives exactly the defaults.  0 or -EIO. */
int config_write_template(const struct config_key *schema, FILE *out);

#endif
