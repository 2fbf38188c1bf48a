/* run.c -- `bucketfs run`: parse the options, load the configuration and
 * hand it to the daemon (src/daemon/daemon.h), which opens the stack,
 * serves the enabled frontends until SIGINT, SIGTERM, SIGHUP or an
 * unmount, and makes everything durable at the stop.  It runs in the
 * foreground (there is no daemon mode: use a service manager or `&`) and
 * logs to stderr. */
#include "cli/run.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "daemon/conf.h"
#include "daemon/daemon.h"
#include "util/log.h"
#include "util/mem.h"

struct run_opts {
	const char *config;
	const char *store;
	const char *mount;
	const char *nfs;
	const char *checkpoint;
	const char *socket;
	const char *ninep, *ninep_socket;
	const char *nbd, *nbd_socket;
	bool read_only, allow_other, check, takeover;
};

/* ---- command line ---- */

static int usage(FILE *f, int status)
{
	fprintf(f, "usage: bucketfs run [-c FILE] [--store URL] [--mount DIR] [--read-only]\n"
		"                    [--checkpoint NAME] [--takeover] [--socket PATH]\n"
		"                    [--nfs ADDR:PORT] [--ninep ADDR:PORT] [--ninep-socket PATH]\n"
		"                    [--nbd ADDR:PORT] [--nbd-socket PATH]\n"
		"                    [--allow-other] [--check]\n\n"
		"Serve the filesystem of a store (mounted with FUSE at --mount DIR) until\n"
		"SIGINT, SIGTERM or an unmount.  It always runs in the foreground\n"
		"(--foreground is accepted and changes nothing): start it from a service\n"
		"manager, or with & in a shell.  "
		"Logs go to standard error.\n\n"
		"  -c, --config FILE  settings (default: $BUCKETFS_CONFIG if set, else none;\n"
		"                     'bucketfs init' writes one with every setting)\n"
		"  -s, --store URL    overrides [storage] url (default $BUCKETFS_STORE, else\n"
		"                     %s)\n"
		"  -m, --mount DIR    overrides [mount] dir\n"
		"      --nfs ADDR:PORT  serve NFSv3 there (MOUNT v3 on the same port; overrides\n"
		"                     [nfs] listen); clients: mount -t nfs -o\n"
		"                     vers=3,proto=tcp,port=PORT,mountport=PORT HOST:/ DIR\n"
		"  -r, --read-only    a read-only replica that follows the writer\n"
		"      --checkpoint NAME  serve that checkpoint, read-only\n"
		"      --takeover     start as the writer even though another writer's lease\n"
		"                     is alive (that writer is fenced out)\n"
		"      --socket PATH  the admin socket (overrides [admin] socket; default one\n"
		"                     per store under /run/bucketfs); 'bucketfs status',\n"
		"                     'flush', 'stats' and 'checkpoint' talk to it\n"
		"      --nbd ADDR:PORT  serve the files of /.nbd as NBD block devices on\n"
		"                     this TCP address (overrides [nbd] listen)\n"
		"      --nbd-socket PATH  the same on a Unix socket (overrides [nbd] socket)\n"
		"      --allow-other  let other users use the mount\n"
		"      --ninep ADDR:PORT  serve 9P2000.L (Linux v9fs) on this TCP address,\n"
		"                     e.g. 127.0.0.1:5640 (overrides [ninep] listen; no\n"
		"                     authentication: keep it on loopback)\n"
		"      --ninep-socket PATH  serve 9P2000.L on this Unix socket (overrides\n"
		"                     [ninep] socket)\n"
		"      --check        load and check the configuration, print it, and exit\n\n"
		"At least one frontend is needed: FUSE (--mount or [mount] dir), NFS\n"
		"(--nfs or [nfs] listen), 9P (--ninep, --ninep-socket or [ninep]) or NBD\n"
		"(--nbd, --nbd-socket or [nbd]).\n"
		"A writer refuses to start while another writer of the store is alive\n"
		"(its lease, refreshed every [filesystem] lease_interval); --takeover fences\n"
		"it out.  A store without a filesystem gets a new one.  The password comes from\n"
		"[storage] encryption_password, else $BUCKETFS_PASSWORD, else a prompt.\n",
		DEFAULT_STORE);
	return status;
}

/* Long-only options, past every char so none can collide with another. */
enum {
	OPT_NFS = 256, OPT_NINEP, OPT_NINEP_SOCKET, OPT_NBD, OPT_NBD_SOCKET,
};

/* false to go on; true to exit with *status (help: 0, usage error: 2). */
static bool parse_opts(int argc, char **argv, struct run_opts *ro, int *status)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "store", required_argument, NULL, 's' },
		{ "mount", required_argument, NULL, 'm' },
		{ "nfs", required_argument, NULL, OPT_NFS },
		{ "read-only", no_argument, NULL, 'r' },
		{ "checkpoint", required_argument, NULL, 'C' },
		{ "takeover", no_argument, NULL, 'T' },
		{ "socket", required_argument, NULL, 'S' },
		{ "allow-other", no_argument, NULL, 'a' },
		{ "ninep", required_argument, NULL, OPT_NINEP },
		{ "ninep-socket", required_argument, NULL, OPT_NINEP_SOCKET },
		{ "nbd", required_argument, NULL, OPT_NBD },
		{ "nbd-socket", required_argument, NULL, OPT_NBD_SOCKET },
		{ "foreground", no_argument, NULL, 'f' },
		{ "check", no_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;
	memset(ro, 0, sizeof *ro);
	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:s:m:rfh", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': ro->config = optarg; break;
		case 's': ro->store = optarg; break;
		case 'm': ro->mount = optarg; break;
		case OPT_NFS: ro->nfs = optarg; break;
		case 'r': ro->read_only = true; break;
		case 'C': ro->checkpoint = optarg; break;
		case 'T': ro->takeover = true; break;
		case 'S': ro->socket = optarg; break;
		case 'a': ro->allow_other = true; break;
		case OPT_NINEP: ro->ninep = optarg; break;
		case OPT_NINEP_SOCKET: ro->ninep_socket = optarg; break;
		case OPT_NBD: ro->nbd = optarg; break;
		case OPT_NBD_SOCKET: ro->nbd_socket = optarg; break;
		case 'f': break;
		case 'k': ro->check = true; break;
		case 'h': *status = usage(stdout, 0); return true;
		default: *status = usage(stderr, 2); return true;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "bucketfs: run: unexpected argument '%s'\n", argv[optind]);
		*status = usage(stderr, 2);
		return true;
	}
	if (!ro->config) {
		const char *env = getenv("BUCKETFS_CONFIG");
		ro->config = env && *env ? env : NULL;
	}
	return false;
}

static void set_string(char **field, const char *value)
{
	free(*field);
	*field = xstrdup(value);
}

static void apply_opts(const struct run_opts *ro, struct conf *c)
{
	if (ro->store)
		set_string(&c->url, ro->store);
	if (ro->mount)
		set_string(&c->mount_dir, ro->mount);
	if (ro->nfs)
		set_string(&c->nfs_listen, ro->nfs);
	if (ro->read_only)
		c->read_only = true;
	if (ro->allow_other)
		c->allow_other = true;
	if (ro->checkpoint)
		set_string(&c->checkpoint, ro->checkpoint);
	if (ro->socket)
		set_string(&c->admin_socket, ro->socket);
	if (ro->ninep)
		set_string(&c->ninep_listen, ro->ninep);
	if (ro->ninep_socket)
		set_string(&c->ninep_socket, ro->ninep_socket);
	if (ro->nbd)
		set_string(&c->nbd_listen, ro->nbd);
	if (ro->nbd_socket)
		set_string(&c->nbd_socket, ro->nbd_socket);
	c->takeover = ro->takeover;
}

static void apply_log_level(const struct conf *c)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };
	if (!c->log_level)
		return;
	for (int i = 0; i < 4; i++)
		if (!strcasecmp(c->log_level, names[i]))
			log_set_level((enum log_level)i);
}

static void print_conf(const struct conf *c)
{
	/* A replica or a checkpoint view serves every frontend read-only. */
	const char *ro = c->checkpoint ? " (checkpoint, read-only)" :
			 c->read_only ? " (read-only)" : "";
	printf("store          %s\n", c->url);
	printf("mount          %s%s\n", c->mount_dir ? c->mount_dir : "(none)",
	       c->mount_dir ? ro : "");
	if (c->nfs_listen && *c->nfs_listen)
		printf("nfs            %s, export %s%s\n", c->nfs_listen, c->nfs_export,
		       *ro ? ro : c->nfs_read_only ? " (read-only)" : "");
	if (c->ninep_listen || c->ninep_socket)
		printf("9p             %s%s%s%s\n", c->ninep_listen ? c->ninep_listen : "",
		       c->ninep_listen && c->ninep_socket ? ", " : "",
		       c->ninep_socket ? c->ninep_socket : "", ro);
	if (c->nbd_listen || c->nbd_socket)
		printf("nbd            %s%s%s%s\n", c->nbd_listen ? c->nbd_listen : "",
		       c->nbd_listen && c->nbd_socket ? ", " : "",
		       c->nbd_socket ? c->nbd_socket : "", ro);
	printf("compression    %s\n", c->compression);
	printf("cache          %s, %" PRId64 " MiB RAM, %" PRId64 " MiB disk\n",
	       *c->cache_dir ? c->cache_dir : "(no disk tier)", c->cache_memory >> 20,
	       c->cache_disk >> 20);
	printf("flush          every %" PRId64 " ms\n", c->flush_interval_ms);
	printf("password       %s\n", c->password ? "from the configuration" :
	       getenv("BUCKETFS_PASSWORD") ? "from $BUCKETFS_PASSWORD" : "asked at start");
}

/* ---- running ---- */

static int run_daemon(const struct conf *c)
{
	struct daemon *d;
	if (daemon_frontends_check(c, true) < 0)
		return -EINVAL;
	int r = daemon_open(c, DAEMON_SIGNALS, &d);
	if (r == -EINTR)
		return 0;
	if (r < 0)
		return r;
	r = daemon_serve(d);
	int e = daemon_close(d);
	return r ? r : e;
}

int cmd_run(int argc, char **argv)
{
	struct run_opts ro;
	struct conf conf;
	int status = 0;
	if (parse_opts(argc, argv, &ro, &status))
		return status;
	if (conf_load(ro.config, &conf) < 0) {
		conf_free(&conf);
		return 1;
	}
	apply_opts(&ro, &conf);
	apply_log_level(&conf);
	if (!daemon_frontends_configured(&conf)) { /* logged */
		conf_free(&conf);
		return 2;
	}
	if (ro.check) {
		/* A malformed frontend address fails here as it would at start. */
		if (daemon_frontends_check(&conf, false) < 0) {
			conf_free(&conf);
			return 1;
		}
		print_conf(&conf);
		conf_free(&conf);
		return 0;
	}
	signal(SIGPIPE, SIG_IGN);
	int r = run_daemon(&conf);
	conf_free(&conf);
	return r < 0;
}
