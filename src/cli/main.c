/* main.c -- the bucketfs command: one binary, one subcommand per task.
 *
 * Each subcommand parses its own options and prints its own help; the
 * store URL comes from --store, else BUCKETFS_STORE, else the default
 * local directory.  Passwords come from BUCKETFS_PASSWORD (and
 * BUCKETFS_NEW_PASSWORD for change-password) or a terminal prompt. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/conf.h"
#include "cli/password.h"
#include "cli/run.h"
#include "crypt/aead.h"
#include "crypt/keyfile.h"
#include "lsm/lsm.h"
#include "store/objstore.h"
#include "util/log.h"

struct cmd {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
	const char *usage;
};

static const struct cmd *find_cmd(const char *name);

static const char *store_url(const char *opt)
{
	if (opt)
		return opt;
	const char *env = getenv("BUCKETFS_STORE");
	return env && *env ? env : DEFAULT_STORE;
}

static bool opt_if_missing;

/* Options: --store URL, --help, and --if-missing (create only).  Returns
 * the index of the first operand, or -1 after printing help / -2 on a
 * usage error. */
static int parse_common(const struct cmd *c, int argc, char **argv, const char **store)
{
	static const struct option opts[] = {
		{ "store", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ "if-missing", no_argument, NULL, 'm' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "s:h", opts, NULL)) != -1) {
		switch (ch) {
		case 's':
			*store = optarg;
			break;
		case 'h':
			printf("usage: bucketfs %s\n\n%s\n", c->usage, c->summary);
			return -1;
		case 'm':
			if (strcmp(c->name, "create") != 0)
				goto bad;
			opt_if_missing = true;
			break;
		default:
		bad:
			fprintf(stderr, "usage: bucketfs %s\n", c->usage);
			return -2;
		}
	}
	*store = store_url(*store);
	return optind;
}

static int open_store(const char *url, objstore **st)
{
	int r = objstore_open(url, st);
	if (r < 0)
		fprintf(stderr, "bucketfs: cannot open store %s: %s\n", url, strerror(-r));
	return r;
}

/* Unwrap the data key and derive the metadata key. */
static int load_meta_key(objstore *st, uint8_t meta[CRYPT_KEY_BYTES])
{
	uint8_t key[CRYPT_KEY_BYTES];
	char *pw = password_get("BUCKETFS_PASSWORD", "Password: ", 0);
	if (!pw)
		return -EINVAL;
	int r = keyfile_load(st, pw, key);
	password_free(pw);
	if (r == -ENOENT)
		fprintf(stderr, "bucketfs: %s holds no %s: not a bucketfs store (run "
			"'bucketfs create' first)\n", objstore_url(st), KEYFILE_OBJECT);
	else if (r == -EKEYREJECTED)
		fprintf(stderr, "bucketfs: wrong password for %s\n", objstore_url(st));
	else if (r < 0)
		fprintf(stderr, "bucketfs: cannot read %s in %s: %s\n", KEYFILE_OBJECT,
			objstore_url(st), strerror(-r));
	if (r == 0)
		crypt_subkey(key, CRYPT_DOMAIN_META, meta);
	crypt_wipe(key, sizeof key);
	return r;
}

static int cmd_create(int argc, char **argv)
{
	const char *url = NULL;
	objstore *st = NULL;
	lsm *db = NULL;
	uint8_t key[CRYPT_KEY_BYTES];
	struct objstore_info info;
	int i = parse_common(find_cmd("create"), argc, argv, &url);
	if (i < 0)
		return i == -1 ? 0 : 2;
	bool if_missing = opt_if_missing;
	if (i < argc) {
		fprintf(stderr, "usage: bucketfs %s\n", find_cmd("create")->usage);
		return 2;
	}
	if (open_store(url, &st) < 0)
		return 1;
	if (if_missing && objstore_head(st, KEYFILE_OBJECT, &info) == 0) {
		printf("%s already holds a bucketfs store; left as it is\n", url);
		objstore_close(st);
		return 0;
	}
	char *pw = password_get("BUCKETFS_PASSWORD", "New password: ", 1);
	int r = pw ? 0 : -EINVAL;
	if (r == 0)
		r = keyfile_create(st, pw, NULL, key);
	password_free(pw);
	if (r == -EEXIST)
		fprintf(stderr, "bucketfs: %s already holds a filesystem (%s exists)\n", url,
			KEYFILE_OBJECT);
	else if (r < 0 && pw)
		fprintf(stderr, "bucketfs: create %s in %s: %s\n", KEYFILE_OBJECT, url,
			strerror(-r));
	if (r == 0) {
		struct lsm_options o;
		lsm_options_default(&o);
		o.store = st;
		o.create = true;
		o.background = false;
		crypt_subkey(key, CRYPT_DOMAIN_META, o.key);
		r = lsm_open(&o, &db);
		crypt_wipe(o.key, sizeof o.key);
		if (r == 0)
			r = lsm_flush(db);
		if (r < 0)
			fprintf(stderr, "bucketfs: create metadata tree in %s: %s\n", url,
				strerror(-r));
	}
	crypt_wipe(key, sizeof key);
	if (r == 0)
		printf("created an encrypted bucketfs store in %s\n", url);
	lsm_close(db);
	objstore_close(st);
	return r < 0;
}

static void print_checkpoint(void *arg, const char *name, uint64_t seq, uint64_t created_ns)
{
	(void)arg;
	char when[64];
	time_t t = (time_t)(created_ns / 1000000000ull);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(when, sizeof when, "%Y-%m-%d %H:%M:%SZ", &tm);
	printf("checkpoint     %s (manifest %" PRIu64 ", created %s)\n", name, seq, when);
}

static int open_tree(const char *url, bool writer, objstore **st, lsm **db)
{
	struct lsm_options o;
	lsm_options_default(&o);
	if (open_store(url, st) < 0)
		return -EIO;
	int r = load_meta_key(*st, o.key);
	if (r < 0)
		return r;
	o.store = *st;
	o.read_only = !writer;
	o.background = false;
	r = lsm_open(&o, db);
	crypt_wipe(o.key, sizeof o.key);
	if (r < 0)
		fprintf(stderr, "bucketfs: open metadata tree in %s: %s\n", url, strerror(-r));
	return r;
}

static int cmd_stat(int argc, char **argv)
{
	const char *url = NULL;
	objstore *st = NULL;
	lsm *db = NULL;
	int i = parse_common(find_cmd("stat"), argc, argv, &url);
	if (i < 0)
		return i == -1 ? 0 : 2;
	int r = open_tree(url, false, &st, &db);
	if (r == 0) {
		struct lsm_stats s;
		lsm_stats(db, &s);
		printf("store          %s\n", url);
		printf("manifest       %" PRIu64 " (writer epoch %" PRIu64 ")\n", s.manifest_seq,
		       s.epoch);
		printf("durable seq    %" PRIu64 "\n", s.durable_seq);
		for (int l = 0; l < LSM_LEVELS; l++)
			if (s.files[l])
				printf("level %d        %u SSTs, %" PRIu64 " bytes\n", l, s.files[l],
				       s.bytes[l]);
		lsm_checkpoint_list(db, print_checkpoint, NULL);
	}
	lsm_close(db);
	objstore_close(st);
	return r < 0;
}

static int cmd_change_password(int argc, char **argv)
{
	const char *url = NULL;
	objstore *st = NULL;
	int i = parse_common(find_cmd("change-password"), argc, argv, &url);
	if (i < 0)
		return i == -1 ? 0 : 2;
	if (open_store(url, &st) < 0)
		return 1;
	char *old = password_get("BUCKETFS_PASSWORD", "Current password: ", 0);
	char *new = old ? password_get("BUCKETFS_NEW_PASSWORD", "New password: ", 1) : NULL;
	int r = old && new ? keyfile_change_password(st, old, new, NULL) : -EINVAL;
	if (r == 0)
		printf("password changed for %s (data key unchanged, nothing rewritten)\n", url);
	else if (r == -EKEYREJECTED)
		fprintf(stderr, "bucketfs: wrong current password for %s\n", url);
	else if (r == -ENOENT)
		fprintf(stderr, "bucketfs: %s holds no %s: not a bucketfs store\n", url,
			KEYFILE_OBJECT);
	else if (old && new)
		fprintf(stderr, "bucketfs: change password in %s: %s\n", url, strerror(-r));
	password_free(old);
	password_free(new);
	objstore_close(st);
	return r < 0;
}

static int cmd_checkpoint(int argc, char **argv)
{
	const char *url = NULL;
	objstore *st = NULL;
	lsm *db = NULL;
	int i = parse_common(find_cmd("checkpoint"), argc, argv, &url);
	if (i < 0)
		return i == -1 ? 0 : 2;
	const char *verb = i < argc ? argv[i] : NULL;
	const char *name = i + 1 < argc ? argv[i + 1] : NULL;
	bool list = verb && !strcmp(verb, "list");
	if (!verb || (!list && (!name || (strcmp(verb, "create") && strcmp(verb, "delete"))))) {
		fprintf(stderr, "usage: bucketfs %s\n", find_cmd("checkpoint")->usage);
		return 2;
	}
	int r = open_tree(url, !list, &st, &db);
	if (r == 0 && list)
		r = lsm_checkpoint_list(db, print_checkpoint, NULL);
	else if (r == 0 && !strcmp(verb, "create")) {
		r = lsm_flush(db);
		if (r == 0)
			r = lsm_checkpoint_create(db, name);
	}
	else if (r == 0)
		r = lsm_checkpoint_delete(db, name);
	if (r < 0 && db)
		fprintf(stderr, "bucketfs: checkpoint %s '%s' in %s: %s\n", verb, name ? name : "",
			url, r == -EEXIST ? "a checkpoint of that name exists" :
			r == -ENOENT ? "no such checkpoint" : strerror(-r));
	else if (r == 0 && !list)
		printf("checkpoint '%s' %sd\n", name, verb);
	lsm_close(db);
	objstore_close(st);
	return r < 0;
}

static const struct cmd cmds[] = {
	{ "create", cmd_create, "Create an empty encrypted filesystem in the store: a new random "
	  "data key wrapped by\nthe password (BUCKETFS_PASSWORD or prompt), and the first "
	  "manifest.\nWith --if-missing, an existing store is left alone and is not an error.\n", "create [--store URL] [--if-missing]" },
	{ "run", cmd_run, "Mount the store's filesystem with FUSE and serve it in the foreground "
	  "until SIGINT,\nSIGTERM or an unmount; creates the filesystem if the store has none.",
	  "run [-c FILE] [--store URL] [--mount DIR] [--read-only]" },
	{ "init", cmd_init, "Write a commented configuration file with every setting and its "
	  "default\n(default bucketfs.conf; kept if it exists unless --force).",
	  "init [--force] [FILE]" },
	{ "stat", cmd_stat, "Show the newest manifest of the store: writer epoch, levels, "
	  "checkpoints.", "stat [--store URL]" },
	{ "change-password", cmd_change_password, "Re-wrap the data key under a new password "
	  "(BUCKETFS_NEW_PASSWORD or prompt).\nNo data is rewritten.",
	  "change-password [--store URL]" },
	{ "checkpoint", cmd_checkpoint, "Create, delete or list named read-only snapshots. "
	  "Creating or deleting takes\nover as writer (an open writer is fenced out).",
	  "checkpoint [--store URL] create NAME | delete NAME | list" },
};

static const struct cmd *find_cmd(const char *name)
{
	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
		if (!strcmp(cmds[i].name, name))
			return &cmds[i];
	return NULL;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: bucketfs COMMAND [OPTIONS]\n\n"
		"bucketfs keeps an encrypted POSIX filesystem in an object store.\n\n"
		"Commands:\n");
	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
		fprintf(f, "  %s\n", cmds[i].usage);
	fprintf(f, "\nThe store is --store URL, else $BUCKETFS_STORE, else %s.\n"
		"URLs: file:///dir, s3://bucket/prefix, memory://name.  'bucketfs COMMAND --help' for more.\n",
		DEFAULT_STORE);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	const struct cmd *c = find_cmd(argv[1]);
	if (!c) {
		fprintf(stderr, "bucketfs: unknown command '%s'\n\n", argv[1]);
		usage(stderr);
		return 2;
	}
	if (crypt_init() < 0) {
		fprintf(stderr, "bucketfs: cannot initialise libsodium\n");
		return 1;
	}
	return c->run(argc - 1, argv + 1);
}
