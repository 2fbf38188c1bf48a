/* run.c -- `bucketfs run`: the daemon that mounts a store with FUSE.
 *
 * It runs in the foreground (there is no daemon mode: use a service
 * manager or `&`), logs to stderr, and stops on SIGINT, SIGTERM or SIGHUP
 * or when the mount point is unmounted.  The start, in order:
 *
 *   configuration (file, then command line) -> mount point check (a dead
 *   mount is cleaned up) -> object store -> conditional-put probe (writer)
 *   -> bucketfs.key (created with the filesystem when the store has none)
 *   -> subkeys -> stop signals -> metadata LSM -> data plane -> core -> mount
 *
 * and the stop, after the mount is gone: fs_sync, fs_close, data_close
 * (the final barrier and the clean-shutdown mark), lsm_flush.  A read-only
 * replica instead polls the store every refresh_interval (data_refresh).
 *
 * Threads: besides those of the layers it opens and the FUSE workers, the
 * signal thread (fuse/fuse.h) and, read-only, one refresh thread. */
#include "cli/run.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "cli/conf.h"
#include "cli/password.h"
#include "crypt/aead.h"
#include "crypt/codec.h"
#include "crypt/keyfile.h"
#include "data/data.h"
#include "fs/fs.h"
#include "fuse/fuse.h"
#include "lsm/lsm.h"
#include "store/objstore.h"
#include "store/s3.h"
#include "util/log.h"
#include "util/mem.h"

struct run_opts {
	const char *config;
	const char *store;
	const char *mount;
	bool read_only, allow_other, check;
};

struct daemon {
	struct conf conf;
	char *mountpoint;          /* absolute */
	char *cache_dir;           /* this store's subdirectory, or NULL */
	objstore *st;
	lsm *db;
	struct data *data;
	struct fs *fs;
	uint8_t meta_key[CRYPT_KEY_BYTES], data_key[CRYPT_KEY_BYTES];
};

/* ---- command line ---- */

static int usage(FILE *f, int status)
{
	fprintf(f, "usage: bucketfs run [-c FILE] [--store URL] [--mount DIR] [--read-only]\n"
		"                    [--allow-other] [--check]\n\n"
		"Mount the filesystem of a store and serve it until SIGINT, SIGTERM or an\n"
		"unmount.  It always runs in the foreground (--foreground is accepted and\n"
		"changes nothing): start it from a service manager, or with & in a shell.\n"
		"Logs go to standard error.\n\n"
		"  -c, --config FILE  settings (default: $BUCKETFS_CONFIG if set, else none;\n"
		"                     'bucketfs init' writes one with every setting)\n"
		"  -s, --store URL    overrides [storage] url (default $BUCKETFS_STORE, else\n"
		"                     %s)\n"
		"  -m, --mount DIR    overrides [mount] dir\n"
		"  -r, --read-only    a read-only replica that follows the writer\n"
		"      --allow-other  let other users use the mount\n"
		"      --check        load and check the configuration, print it, and exit\n\n"
		"A store without a filesystem gets a new one.  The password comes from\n"
		"[storage] encryption_password, else $BUCKETFS_PASSWORD, else a prompt.\n",
		DEFAULT_STORE);
	return status;
}

/* false to go on; true to exit with *status (help: 0, usage error: 2). */
static bool parse_opts(int argc, char **argv, struct run_opts *ro, int *status)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "store", required_argument, NULL, 's' },
		{ "mount", required_argument, NULL, 'm' },
		{ "read-only", no_argument, NULL, 'r' },
		{ "allow-other", no_argument, NULL, 'a' },
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
		case 'r': ro->read_only = true; break;
		case 'a': ro->allow_other = true; break;
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
	if (ro->read_only)
		c->read_only = true;
	if (ro->allow_other)
		c->allow_other = true;
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
	printf("store          %s\n", c->url);
	printf("mount          %s%s\n", c->mount_dir, c->read_only ? " (read-only)" : "");
	printf("compression    %s\n", c->compression);
	printf("cache          %s, %" PRId64 " MiB RAM, %" PRId64 " MiB disk\n",
	       *c->cache_dir ? c->cache_dir : "(no disk tier)", c->cache_memory >> 20,
	       c->cache_disk >> 20);
	printf("flush          every %" PRId64 " ms\n", c->flush_interval_ms);
	printf("password       %s\n", c->password ? "from the configuration" :
	       getenv("BUCKETFS_PASSWORD") ? "from $BUCKETFS_PASSWORD" : "asked at start");
}

/* ---- opening ---- */

/* mkdir -p with mode 0700 for what it creates. */
static int make_dirs(const char *path)
{
	char *p = xstrdup(path);
	int r = 0;
	for (char *s = p + 1; r == 0; s++) {
		if (*s && *s != '/')
			continue;
		char c = *s;
		*s = '\0';
		if (mkdir(p, 0700) < 0 && errno != EEXIST)
			r = -errno;
		*s = c;
		if (!c)
			break;
	}
	free(p);
	return r;
}

/* The disk cache of this store: a subdirectory named by a hash of its URL,
 * so stores never share cached parts. */
static char *store_cache_dir(const char *base, const char *url)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	if (!base || !*base)
		return NULL;
	for (const unsigned char *p = (const unsigned char *)url; *p; p++)
		h = (h ^ *p) * 1099511628211ull;
	int r = make_dirs(base);
	if (r < 0) {
		log_warn("cache dir %s: %s; running without a disk cache", base, strerror(-r));
		return NULL;
	}
	return xasprintf("%s/%016" PRIx64, base, h);
}

static void s3_override(char **field, const char *value)
{
	if (value)
		set_string(field, value);
}

static int open_s3(struct daemon *dm)
{
	const struct conf *c = &dm->conf;
	struct s3_config cfg;
	int r = s3_config_from_env(&cfg);
	if (r < 0)
		return r;
	s3_override(&cfg.endpoint, c->aws_endpoint);
	s3_override(&cfg.region, c->aws_region);
	s3_override(&cfg.access_key, c->aws_access_key_id);
	s3_override(&cfg.secret_key, c->aws_secret_access_key);
	s3_override(&cfg.session_token, c->aws_session_token);
	r = objstore_s3_open_config(c->url, &cfg, &dm->st);
	s3_config_free(&cfg);
	return r;
}

static int open_store(struct daemon *dm)
{
	const struct conf *c = &dm->conf;
	int r = strncmp(c->url, "s3://", 5) ? objstore_open(c->url, &dm->st) : open_s3(dm);
	if (r < 0) {
		log_error("cannot open store %s: %s", c->url, strerror(-r));
		return r;
	}
	if (c->read_only)
		return 0;
	r = objstore_probe_conditional_put(dm->st);
	if (r == -ENOTSUP)
		log_error("store %s does not honour put-if-absent (conditional writes): a "
			  "writer could not be fenced there and two writers could corrupt "
			  "the filesystem; use --read-only or another store", c->url);
	else if (r < 0)
		log_error("store %s: cannot write a probe object: %s", c->url, strerror(-r));
	return r;
}

static char *get_password(const struct conf *c, bool creating)
{
	if (c->password)
		return xstrdup(c->password);
	return password_get("BUCKETFS_PASSWORD", creating ? "New password: " : "Password: ",
			    creating);
}

static void log_key_error(const char *url, int r)
{
	if (r == -EKEYREJECTED)
		log_error("wrong password for %s (or its %s was altered)", url, KEYFILE_OBJECT);
	else
		log_error("cannot read %s in %s: %s", KEYFILE_OBJECT, url, strerror(-r));
}

/* Unwrap the data key, or make one (and so a new filesystem) when the
 * store has none and we are the writer. */
static int open_key(struct daemon *dm, uint8_t key[CRYPT_KEY_BYTES])
{
	const struct conf *c = &dm->conf;
	struct objstore_info info;
	int r = objstore_head(dm->st, KEYFILE_OBJECT, &info);
	if (r < 0 && r != -ENOENT) {
		log_error("cannot read %s in %s: %s", KEYFILE_OBJECT, c->url, strerror(-r));
		return r;
	}
	bool creating = r == -ENOENT;
	if (creating && c->read_only) {
		log_error("%s holds no filesystem (no %s) and a read-only mount cannot create "
			  "one: start a writer first", c->url, KEYFILE_OBJECT);
		return -ENOENT;
	}
	char *pw = get_password(c, creating);
	if (!pw)
		return -EINVAL;
	r = creating ? keyfile_create(dm->st, pw, NULL, key) : -EEXIST;
	if (r == 0) {
		log_info("%s held no filesystem: created a new encrypted one", c->url);
	} else if (r == -EEXIST) {
		r = keyfile_load(dm->st, pw, key); /* there, or created meanwhile */
	}
	password_free(pw);
	if (r < 0)
		log_key_error(c->url, r);
	return r;
}

static int open_keys(struct daemon *dm)
{
	uint8_t key[CRYPT_KEY_BYTES];
	int r = open_key(dm, key);
	if (r == 0) {
		crypt_subkey(key, CRYPT_DOMAIN_META, dm->meta_key);
		crypt_subkey(key, CRYPT_DOMAIN_DATA, dm->data_key);
	}
	crypt_wipe(key, sizeof key);
	return r;
}

static int open_lsm(struct daemon *dm)
{
	const struct conf *c = &dm->conf;
	struct lsm_options o;
	lsm_options_default(&o);
	o.store = dm->st;
	memcpy(o.key, dm->meta_key, sizeof o.key);
	o.create = !c->read_only;
	o.read_only = c->read_only;
	o.block_cache_bytes = (size_t)c->metadata_memory;
	int r = lsm_open(&o, &dm->db);
	crypt_wipe(o.key, sizeof o.key);
	if (r == -ENOENT)
		log_error("%s has a key but no metadata yet: start a writer first", c->url);
	else if (r == -EKEYREJECTED || r == -EBADMSG)
		log_error("%s: the metadata does not decrypt with this key: %s", c->url,
			  strerror(-r));
	else if (r < 0)
		log_error("cannot open the metadata of %s: %s", c->url, strerror(-r));
	return r;
}

static int open_data(struct daemon *dm)
{
	const struct conf *c = &dm->conf;
	struct data_options o;
	data_options_default(&o);
	o.store = dm->st;
	o.db = dm->db;
	memcpy(o.key, dm->data_key, sizeof o.key);
	memcpy(o.meta_key, dm->meta_key, sizeof o.meta_key);
	codec_parse(c->compression, &o.codec); /* checked by the schema */
	o.read_only = c->read_only;
	o.segment_bytes = (uint64_t)c->segment_size;
	o.flush_interval_ms = (uint64_t)c->flush_interval_ms;
	o.cache_dir = dm->cache_dir;
	o.cache_ram_bytes = (uint64_t)c->cache_memory;
	o.cache_disk_bytes = (uint64_t)c->cache_disk;
	o.extent_cache_bytes = (uint64_t)c->extent_memory;
	int r = data_open(&o, &dm->data);
	crypt_wipe(o.key, sizeof o.key);
	crypt_wipe(o.meta_key, sizeof o.meta_key);
	if (r < 0)
		log_error("cannot open the data of %s: %s", c->url, strerror(-r));
	return r;
}

static int open_fs(struct daemon *dm)
{
	const struct conf *c = &dm->conf;
	struct fs_options o = {
		.db = dm->db,
		.data = dm->data,
		.read_only = c->read_only,
		.max_size = (uint64_t)c->max_size,
		.max_inodes = (uint64_t)c->max_inodes,
		.atime = c->atime,
	};
	int r = fs_open(&o, &dm->fs);
	if (r < 0)
		log_error("cannot open the filesystem of %s: %s", c->url, strerror(-r));
	return r;
}

/* The stop signals are taken over once the password is in (so ^C at the
 * prompt simply ends the program) and before the first layer that starts
 * threads (they inherit the blocked signals). */
static int start_signals(struct daemon *dm)
{
	return fuse_signals_start();
}

/* Each step, unless a stop signal came in the meantime. */
static int open_all(struct daemon *dm)
{
	int (*const steps[])(struct daemon *) = { open_store, open_keys, start_signals, open_lsm,
						   open_data, open_fs };
	for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
		if (fuse_stop_requested())
			return -EINTR;
		int r = steps[i](dm);
		if (r < 0)
			return r;
	}
	return fuse_stop_requested() ? -EINTR : 0;
}

/* The final flush, in the order the layers need: the core's pending
 * changes, the data plane's barrier and clean-shutdown mark, the LSM. */
static int close_all(struct daemon *dm)
{
	bool writer = !dm->conf.read_only;
	int r = 0, e;
	if (dm->fs && writer && (e = fs_sync(dm->fs)) < 0) {
		log_error("final sync failed: %s", strerror(-e));
		r = e;
	}
	fs_close(dm->fs);
	if (dm->data && (e = data_close(dm->data)) < 0) {
		log_error("final barrier failed: %s", strerror(-e));
		r = r ? r : e;
	}
	if (dm->db && writer && (e = lsm_flush(dm->db)) < 0) {
		log_error("final metadata flush failed: %s", strerror(-e));
		r = r ? r : e;
	}
	lsm_close(dm->db);
	objstore_close(dm->st);
	dm->fs = NULL;
	dm->data = NULL;
	dm->db = NULL;
	dm->st = NULL;
	return r;
}

/* ---- the read-only replica's refresh ---- */

struct refresher {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	bool stop, started;
	struct data *data;
	uint64_t interval_ms;
};

static void deadline_after(uint64_t ms, struct timespec *ts)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += (time_t)(ms / 1000);
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static void refresh_once(struct refresher *rf, int *last_err)
{
	bool changed = false;
	int r = data_refresh(rf->data, &changed);
	if (r < 0 && r != *last_err)
		log_warn("replica refresh failed: %s (serving the last state read)", strerror(-r));
	else if (r == 0 && *last_err)
		log_info("replica refresh works again");
	else if (changed)
		log_debug("replica: the writer's newest changes are visible");
	*last_err = r;
}

static void *refresh_main(void *arg)
{
	struct refresher *rf = arg;
	struct timespec ts;
	int last_err = 0;
	pthread_mutex_lock(&rf->mu);
	while (!rf->stop) {
		deadline_after(rf->interval_ms, &ts);
		while (!rf->stop && pthread_cond_timedwait(&rf->cond, &rf->mu, &ts) != ETIMEDOUT)
			;
		if (rf->stop)
			break;
		pthread_mutex_unlock(&rf->mu);
		refresh_once(rf, &last_err);
		pthread_mutex_lock(&rf->mu);
	}
	pthread_mutex_unlock(&rf->mu);
	return NULL;
}

static void refresher_start(struct refresher *rf, struct data *d, uint64_t interval_ms)
{
	pthread_condattr_t ca;
	memset(rf, 0, sizeof *rf);
	rf->data = d;
	rf->interval_ms = interval_ms;
	pthread_mutex_init(&rf->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&rf->cond, &ca);
	pthread_condattr_destroy(&ca);
	int r = pthread_create(&rf->thread, NULL, refresh_main, rf);
	if (r != 0)
		log_warn("cannot start the replica refresh thread: %s; the mount shows the "
			 "state at start", strerror(r));
	rf->started = r == 0;
}

static void refresher_stop(struct refresher *rf)
{
	pthread_mutex_lock(&rf->mu);
	rf->stop = true;
	pthread_cond_signal(&rf->cond);
	pthread_mutex_unlock(&rf->mu);
	if (rf->started)
		pthread_join(rf->thread, NULL);
	pthread_cond_destroy(&rf->cond);
	pthread_mutex_destroy(&rf->mu);
}

/* ---- serving ---- */

static void log_start(const struct daemon *dm)
{
	const struct conf *c = &dm->conf;
	struct lsm_stats s;
	lsm_stats(dm->db, &s);
	log_info("serving %s on %s: %s, writer epoch %" PRIu64 ", manifest %" PRIu64
		 ", flush every %" PRId64 " ms, cache %s", c->url, dm->mountpoint,
		 c->read_only ? "read-only replica" : "read-write (the writer)", s.epoch,
		 s.manifest_seq, c->flush_interval_ms, dm->cache_dir ? dm->cache_dir : "RAM only");
}

static int serve(struct daemon *dm)
{
	const struct conf *c = &dm->conf;
	struct fuse_frontend_options fo = {
		.mountpoint = dm->mountpoint,
		.fsname = c->url,
		.read_only = c->read_only,
		.allow_other = c->allow_other,
		.attr_timeout = (double)c->attr_timeout_ms / 1000.0,
		.entry_timeout = (double)c->entry_timeout_ms / 1000.0,
		.writeback_cache = c->writeback_cache,
		.max_threads = (unsigned)c->threads,
	};
	struct refresher rf;
	log_start(dm);
	if (c->read_only)
		refresher_start(&rf, dm->data, (uint64_t)c->refresh_interval_ms);
	int r = fuse_frontend_run(dm->fs, &fo);
	if (c->read_only)
		refresher_stop(&rf);
	return r;
}

static int run_daemon(struct daemon *dm)
{
	int r = fuse_mountpoint_check(dm->conf.mount_dir, &dm->mountpoint);
	if (r < 0)
		return r;
	dm->cache_dir = store_cache_dir(dm->conf.cache_dir, dm->conf.url);
	r = open_all(dm);
	if (r == 0)
		r = serve(dm);
	else if (r == -EINTR)
		log_info("stopped before mounting");
	int e = close_all(dm);
	if (r == 0 && e == 0)
		log_info("stopped cleanly: everything written is in %s", dm->conf.url);
	else if (e < 0)
		log_error("stopped with errors: writes since the last durable point may be lost");
	return r == -EINTR ? e : r ? r : e;
}

int cmd_run(int argc, char **argv)
{
	struct run_opts ro;
	struct daemon dm;
	int status = 0;
	if (parse_opts(argc, argv, &ro, &status))
		return status;
	memset(&dm, 0, sizeof dm);
	if (conf_load(ro.config, &dm.conf) < 0) {
		conf_free(&dm.conf);
		return 1;
	}
	apply_opts(&ro, &dm.conf);
	apply_log_level(&dm.conf);
	if (!dm.conf.mount_dir) {
		fprintf(stderr, "bucketfs: run: no mount point: give --mount DIR%s\n",
			ro.config ? " or set [mount] dir" : "");
		conf_free(&dm.conf);
		return 2;
	}
	if (ro.check) {
		print_conf(&dm.conf);
		conf_free(&dm.conf);
		return 0;
	}
	signal(SIGPIPE, SIG_IGN);
	int r = run_daemon(&dm);
	crypt_wipe(dm.meta_key, sizeof dm.meta_key);
	crypt_wipe(dm.data_key, sizeof dm.data_key);
	free(dm.mountpoint);
	free(dm.cache_dir);
	conf_free(&dm.conf);
	return r < 0;
}
