/* control.c -- `bucketfs status`, `flush` and `stats`, and finding and
 * asking the running daemon (daemon/admin.h) for them and for
 * `checkpoint`.
 *
 * A command first tries the admin socket of the store (--socket, else
 * [admin] socket of the configuration, else the default path for the
 * store URL).  When a daemon answers, it does the work: a checkpoint
 * made that way never fences it.  When none listens there, status and
 * stats read the store themselves (read-only), flush says there is
 * nothing to flush here (exit 3, as for a stopped service), and
 * checkpoint create/delete open the store as writer, unless a live
 * writer's lease shows a daemon elsewhere (then they refuse).  A socket
 * that refuses us (another user's daemon) is an error, never a reason to
 * open a second writer. */
#include "cli/control.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypt/aead.h"
#include "crypt/keyfile.h"
#include "daemon/admin.h"
#include "daemon/conf.h"
#include "daemon/lease.h"
#include "daemon/password.h"
#include "lsm/lsm.h"
#include "store/objstore.h"
#include "util/clock.h"
#include "util/mem.h"

#define EXIT_NO_DAEMON 3

int control_target_init(struct control_target *t, const char *store_opt,
			const char *socket_opt, const char *config)
{
	memset(t, 0, sizeof t[0]);
	if (!config) {
		const char *env = getenv("BUCKETFS_CONFIG");
		config = env && *env ? env : NULL;
	}
	struct conf c;
	bool have = false;
	if (config) {
		if (conf_load(config, &c) < 0) {
			conf_free(&c);
			return -1;
		}
		have = true;
	}
	if (store_opt) {
		t->url = store_opt;
	} else if (have) {
		t->conf_url = xstrdup(c.url);
		t->url = t->conf_url;
	} else {
		const char *env = getenv("BUCKETFS_STORE");
		t->url = env && *env ? env : DEFAULT_STORE;
	}
	if (socket_opt)
		t->socket = xstrdup(socket_opt);
	else if (have && c.admin_socket)
		t->socket = *c.admin_socket ? xstrdup(c.admin_socket) : NULL;
	else
		t->socket = admin_default_path(t->url, false, NULL);
	if (have)
		conf_free(&c);
	return 0;
}

void control_target_free(struct control_target *t)
{
	free(t->socket);
	free(t->conf_url);
	t->socket = t->conf_url = NULL;
}

int control_call(const struct control_target *t, const char *what, const char *request,
		 char **body)
{
	char err[512];
	*body = NULL;
	if (!t->socket)
		return 0;
	int r = admin_request(t->socket, request, body, err, sizeof err);
	if (r == 0)
		return 1;
	if (r == -ENOENT || r == -ECONNREFUSED)
		return 0;
	if (r == -EACCES && !*err)
		fprintf(stderr, "bucketfs: %s: admin socket %s: permission denied (the daemon of "
			"%s runs as another user)\n", what, t->socket, t->url);
	else if (r == -ETIMEDOUT)
		fprintf(stderr, "bucketfs: %s: admin socket %s: the daemon did not answer within "
			"%d s (wedged, or a flush waiting for the store?)\n", what, t->socket,
			ADMIN_CLIENT_TIMEOUT_MS / 1000);
	else if (r == -EPROTO)
		fprintf(stderr, "bucketfs: %s: admin socket %s: the reply breaks the protocol\n",
			what, t->socket);
	else if (*err)
		fprintf(stderr, "bucketfs: %s: %s\n", what, err);
	else
		fprintf(stderr, "bucketfs: %s: admin socket %s: %s\n", what, t->socket,
			strerror(-r));
	return -1;
}

/* ---- options ---- */

struct control_opts {
	const char *store, *socket, *config;
};

/* -1 after help, -2 on a usage error, else the index of the first operand. */
static int parse(const char *usage, const char *summary, int argc, char **argv,
		 struct control_opts *o)
{
	static const struct option opts[] = {
		{ "store", required_argument, NULL, 's' },
		{ "socket", required_argument, NULL, 'S' },
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;
	memset(o, 0, sizeof *o);
	optind = 1;
	while ((ch = getopt_long(argc, argv, "s:c:h", opts, NULL)) != -1) {
		switch (ch) {
		case 's': o->store = optarg; break;
		case 'S': o->socket = optarg; break;
		case 'c': o->config = optarg; break;
		case 'h': printf("usage: bucketfs %s\n\n%s\n", usage, summary); return -1;
		default: fprintf(stderr, "usage: bucketfs %s\n", usage); return -2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "usage: bucketfs %s\n", usage);
		return -2;
	}
	return optind;
}

/* ---- the store itself, when no daemon serves it ---- */

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

int control_open_tree(const char *url, bool writer, objstore **st, lsm **db)
{
	struct lsm_options o;
	lsm_options_default(&o);
	int r = objstore_open(url, st);
	if (r < 0) {
		fprintf(stderr, "bucketfs: cannot open store %s: %s\n", url, strerror(-r));
		return r;
	}
	r = load_meta_key(*st, o.key);
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

static void print_lease(objstore *st)
{
	struct lease_info l;
	char who[400];
	int r = lease_read(st, &l);
	if (r == -ENOENT) {
		printf("writer         none recorded\n");
		return;
	}
	if (r < 0) {
		printf("writer         lease unreadable: %s\n", strerror(-r));
		return;
	}
	lease_describe(&l, who, sizeof who);
	printf("writer         %s (%s)\n", who,
	       l.released ? "stopped cleanly" :
	       lease_alive(&l, clock_wall_ns()) ? "alive, on another host or socket" :
						  "stale: it died");
}

/* ---- the commands ---- */

/* The start every control command shares: parse its options, find the
 * daemon serving the store and ask it verb, printing the answer when
 * print.  1: the daemon answered; 2: help was printed; 0: no daemon
 * serves the store here (t is set up: fall back to the store, then
 * control_target_free); < 0: done, -status is the exit status. */
static int ask_daemon(const char *usage, const char *help, const char *verb, bool print,
		      int argc, char **argv, struct control_target *t)
{
	struct control_opts o;
	char *body = NULL;
	int i = parse(usage, help, argc, argv, &o);
	if (i < 0)
		return i == -1 ? 2 : -2;
	if (control_target_init(t, o.store, o.socket, o.config) < 0)
		return -1;
	int r = control_call(t, verb, verb, &body);
	if (r == 1 && print)
		fputs(body, stdout);
	free(body);
	if (r != 0)
		control_target_free(t);
	return r < 0 ? -1 : r;
}

int cmd_status(int argc, char **argv)
{
	struct control_target t;
	int r = ask_daemon("status [--store URL] [-c FILE] [--socket PATH]",
			   "Show what the daemon serving the store is doing: role, epoch,\n"
			   "frontends, dirty bytes, last barrier, uploads pending.  Without a\n"
			   "daemon here, what the store itself says (exit status 3).",
			   "status", true, argc, argv, &t);
	if (r != 0)
		return r < 0 ? -r : 0;
	printf("daemon         none serves %s here (no admin socket at %s)\n", t.url,
	       t.socket ? t.socket : "(none configured)");
	objstore *st = NULL;
	lsm *db = NULL;
	int e = control_open_tree(t.url, false, &st, &db);
	if (e == 0) {
		struct lsm_stats s;
		lsm_stats(db, &s);
		printf("store          %s\n", t.url);
		printf("manifest       %" PRIu64 " (writer epoch %" PRIu64 ")\n", s.manifest_seq,
		       s.epoch);
		print_lease(st);
	}
	lsm_close(db);
	objstore_close(st);
	control_target_free(&t);
	return e < 0 ? 1 : EXIT_NO_DAEMON;
}

int cmd_flush(int argc, char **argv)
{
	struct control_target t;
	int r = ask_daemon("flush [--store URL] [-c FILE] [--socket PATH]",
			   "Make everything written so far durable in the store (a barrier in\n"
			   "the running daemon).  Exit status 3 when no daemon serves the store here.",
			   "flush", false, argc, argv, &t);
	if (r == 1)
		printf("flushed: everything written so far is durable\n");
	if (r != 0)
		return r < 0 ? -r : 0;
	fprintf(stderr, "bucketfs: flush: no daemon serves %s here (no admin socket at %s): "
		"nothing to flush\n", t.url, t.socket ? t.socket : "(none configured)");
	control_target_free(&t);
	return EXIT_NO_DAEMON;
}

int cmd_stats(int argc, char **argv)
{
	struct control_target t;
	int r = ask_daemon("stats [--store URL] [-c FILE] [--socket PATH]",
			   "Print the daemon's counters, one 'name value' per line.  Without a\n"
			   "daemon here, the metadata counters read from the store.",
			   "stats", true, argc, argv, &t);
	if (r != 0)
		return r < 0 ? -r : 0;
	objstore *st = NULL;
	lsm *db = NULL;
	int e = control_open_tree(t.url, false, &st, &db);
	if (e == 0) {
		struct lsm_stats s;
		lsm_stats(db, &s);
		printf("lsm.epoch %" PRIu64 "\nlsm.manifest_seq %" PRIu64 "\nlsm.durable_seq %" PRIu64
		       "\n", s.epoch, s.manifest_seq, s.durable_seq);
		for (int l = 0; l < LSM_LEVELS; l++)
			printf("lsm.level%d_files %u\nlsm.level%d_bytes %" PRIu64 "\n", l, s.files[l],
			       l, s.bytes[l]);
	}
	lsm_close(db);
	objstore_close(st);
	control_target_free(&t);
	return e < 0;
}
