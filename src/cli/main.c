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

#include "daemon/conf.h"
#include "daemon/password.h"
#include "cli/control.h"
#include "cli/init.h"
#include "cli/manual.h"
#include "cli/mount_helper.h"
#include "cli/run.h"
#include "crypt/aead.h"
#include "crypt/keyfile.h"
#include "daemon/lease.h"
#include "lsm/lsm.h"
#include "store/objstore.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/mem.h"

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
static const char *opt_socket, *opt_config;   /* checkpoint: finding the daemon */

/* Options: --store URL, --help, and --if-missing (create only).  Returns
 * the index of the first operand, or -1 after printing help / -2 on a
 * usage error. */
static int parse_common(const struct cmd *c, int argc, char **argv, const char **store)
{
	static const struct option opts[] = {
		{ "store", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ "if-missing", no_argument, NULL, 'm' },
		{ "socket", required_argument, NULL, 'S' },
		{ "config", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "s:c:h", opts, NULL)) != -1) {
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
		case 'S':
		case 'c':
			if (strcmp(c->name, "checkpoint") != 0)
				goto bad;
			*(ch == 'S' ? &opt_socket : &opt_config) = optarg;
			break;
		default:
		bad:
			fprintf(stderr, "usage: bucketfs %s\n", c->usage);
			return -2;
		}
	}
	if (strcmp(c->name, "checkpoint") != 0)
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

static int cmd_stat(int argc, char **argv)
{
	const char *url = NULL;
	objstore *st = NULL;
	lsm *db = NULL;
	int i = parse_common(find_cmd("stat"), argc, argv, &url);
	if (i < 0)
		return i == -1 ? 0 : 2;
	int r = control_open_tree(url, false, &st, &db);
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
		r = lsm_checkpoint_list(db, print_checkpoint, NULL);
		if (r < 0) /* a short list must not pass for the whole one */
			fprintf(stderr, "bucketfs: stat: cannot list the checkpoints of %s: %s\n",
				url, strerror(-r));
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

/* "SEQ CREATED_NS NAME" lines from the daemon, printed as print_checkpoint. */
static void print_checkpoint_lines(const char *body)
{
	while (*body) {
		uint64_t seq, ns;
		int used = 0;
		const char *nl = strchr(body, '\n');
		size_t len = nl ? (size_t)(nl - body) : strlen(body);
		char *line = strndup(body, len);
		if (line && sscanf(line, "%" SCNu64 " %" SCNu64 " %n", &seq, &ns, &used) == 2 && used)
			print_checkpoint(NULL, line + used, seq, ns);
		free(line);
		body += len + (nl ? 1 : 0);
	}
}

/* Through the running daemon: 1 done (r set), 0 no daemon there. */
static int checkpoint_via_daemon(const struct control_target *t, const char *verb,
				 const char *name, int *status)
{
	char *req = name ? xasprintf("checkpoint %s %s", verb, name)
			 : xasprintf("checkpoint %s", verb);
	char *what = xasprintf("checkpoint %s%s%s%s", verb, name ? " '" : "", name ? name : "",
			       name ? "'" : "");
	char *body = NULL;
	int r = control_call(t, what, req, &body);
	if (r == 1 && !name)
		print_checkpoint_lines(body);
	else if (r == 1)
		printf("checkpoint '%s' %sd (by the running daemon)\n", name, verb);
	free(body);
	free(what);
	free(req);
	*status = r < 0;
	return r != 0;
}

/* No daemon here: a live writer elsewhere would be fenced by opening the
 * store as writer; refuse instead.  Only no lease at all, or one that
 * reads and parses as released or stale, lets the command go on. */
static int refuse_if_live_writer(const struct control_target *t)
{
	struct lease_info l;
	char who[400];
	objstore *st;
	if (open_store(t->url, &st) < 0)
		return -EIO;
	int r = lease_read(st, &l);
	objstore_close(st);
	if (r == -ENOENT)
		return 0; /* no writer ever ran, or not since the store was made */
	if (r < 0) {
		/* Not knowing is not "no writer": it may be alive elsewhere. */
		fprintf(stderr, "bucketfs: checkpoint: cannot read the writer's lease (object '%s') in %s: %s; "
			"refusing to open the store as a writer, which would fence out a live "
			"writer (run the command where the daemon runs, or fix the %s object)\n",
			LEASE_OBJECT, t->url, r == -EBADMSG ? "it does not parse" : strerror(-r),
			LEASE_OBJECT);
		return r;
	}
	if (!lease_alive(&l, clock_wall_ns()))
		return 0; /* released, or stale: its writer is gone */
	lease_describe(&l, who, sizeof who);
	fprintf(stderr, "bucketfs: checkpoint: %s has a live writer (%s) but no daemon answers "
		"at %s; run the command where it runs (or give --socket PATH): opening the "
		"store here would fence it out\n", t->url, who, t->socket ? t->socket : "(none)");
	return -EBUSY;
}

static int cmd_checkpoint(int argc, char **argv)
{
	const char *url = NULL;
	objstore *st = NULL;
	lsm *db = NULL;
	struct control_target t;
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
	if (control_target_init(&t, url, opt_socket, opt_config) < 0)
		return 1;
	url = t.url;
	int status;
	if (checkpoint_via_daemon(&t, verb, list ? NULL : name, &status)) {
		control_target_free(&t);
		return status;
	}
	int r = list ? 0 : refuse_if_live_writer(&t);
	if (r == 0)
		r = control_open_tree(url, !list, &st, &db);
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
	control_target_free(&t);
	return r < 0;
}

static const struct cmd cmds[] = {
	{ "create", cmd_create, "Create an empty encrypted filesystem in the store: a new random "
	  "data key wrapped by\nthe password (BUCKETFS_PASSWORD or prompt), and the first "
	  "manifest.\nWith --if-missing, an existing store is left alone and is not an error.\n", "create [--store URL] [--if-missing]" },
	{ "run", cmd_run, "Serve the store's filesystem (FUSE mount) in the foreground until "
	  "SIGINT,\nSIGTERM or an unmount; creates the filesystem if the store has none.",
	  "run [-c FILE] [--store URL] [--mount DIR] [--read-only] [--checkpoint NAME] [--takeover]" },
	{ "init", cmd_init, "Write a commented configuration file with every setting and its "
	  "default\n(default bucketfs.conf; kept if it exists unless --force).",
	  "init [--force] [FILE]" },
	{ "stat", cmd_stat, "Show the newest manifest of the store: writer epoch, levels, "
	  "checkpoints.", "stat [--store URL]" },
	{ "status", cmd_status, "Show what the daemon serving the store is doing.",
	  "status [--store URL] [-c FILE] [--socket PATH]" },
	{ "flush", cmd_flush, "Make everything written so far durable (asks the running daemon).",
	  "flush [--store URL] [-c FILE] [--socket PATH]" },
	{ "stats", cmd_stats, "Print the running daemon's counters, one 'name value' per line.",
	  "stats [--store URL] [-c FILE] [--socket PATH]" },
	{ "change-password", cmd_change_password, "Re-wrap the data key under a new password "
	  "(BUCKETFS_NEW_PASSWORD or prompt).\nNo data is rewritten.",
	  "change-password [--store URL]" },
	{ "checkpoint", cmd_checkpoint, "Create, delete or list named read-only snapshots.  When "
	  "a daemon serves the store\n(its admin socket answers) it does the work, so it is never "
	  "fenced; else the\nstore is opened as writer, unless a live writer's lease shows a "
	  "daemon elsewhere.",
	  "checkpoint [--store URL] [-c FILE] [--socket PATH] create NAME | delete NAME | list" },
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
	fprintf(f, "  SOURCE DIR [-o OPTIONS]   (mount -t fuse.bucketfs)\n"
		"\nThe store is --store URL, else $BUCKETFS_STORE, else %s.\n"
		"URLs: file:///dir, s3://bucket/prefix, memory://name.  'bucketfs COMMAND --help' "
		"for more; man 8 bucketfs for all.\n",
		DEFAULT_STORE);
}

int main(int argc, char **argv)
{
	if (mount_helper_form(argc, argv))
		return mount_helper_main(argc, argv);
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		manual_show(); /* returns unless bucketfs(8) is shown */
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
