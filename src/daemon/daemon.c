/* daemon.c -- the daemon object: opening the stack from the
 * configuration, what the admin socket asks of it, and the final flush
 * (order and roles in daemon.h; serving is serve.c). */
#include "daemon/daemon_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "daemon/password.h"
#include "crypt/codec.h"
#include "crypt/keyfile.h"
#include "daemon/admin.h"
#include "daemon/conf.h"
#include "daemon/lease.h"
#include "data/data.h"
#include "fs/fs.h"
#include "store/s3.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/mem.h"

const char *daemon_role_name(enum daemon_role r)
{
	return r == DAEMON_WRITER ? "writer" : r == DAEMON_REPLICA ? "replica" : "checkpoint";
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
	if (value) {
		free(*field);
		*field = xstrdup(value);
	}
}

static int open_s3(struct daemon *d)
{
	const struct conf *c = d->conf;
	struct s3_config cfg;
	int r = s3_config_from_env(&cfg);
	if (r < 0)
		return r;
	s3_override(&cfg.endpoint, c->aws_endpoint);
	s3_override(&cfg.region, c->aws_region);
	s3_override(&cfg.access_key, c->aws_access_key_id);
	s3_override(&cfg.secret_key, c->aws_secret_access_key);
	s3_override(&cfg.session_token, c->aws_session_token);
	r = objstore_s3_open_config(c->url, &cfg, &d->st);
	s3_config_free(&cfg);
	return r;
}

static int open_store(struct daemon *d)
{
	const struct conf *c = d->conf;
	int r = strncmp(c->url, "s3://", 5) ? objstore_open(c->url, &d->st) : open_s3(d);
	if (r < 0) {
		log_error("cannot open store %s: %s", c->url, strerror(-r));
		return r;
	}
	if (!writer(d))
		return 0;
	r = objstore_probe_conditional_put(d->st);
	if (r == -ENOTSUP)
		log_error("store %s does not honour put-if-absent (conditional writes): a "
			  "writer could not be fenced there and two writers could corrupt "
			  "the filesystem; use --read-only or another store", c->url);
	else if (r < 0)
		log_error("store %s: cannot write a probe object: %s", c->url, strerror(-r));
	return r;
}

/* A writer looks for a live one before fencing it (lease.h). */
static int check_lease(struct daemon *d)
{
	return writer(d) ? lease_check(d->st, d->conf->takeover) : 0;
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
static int open_key(struct daemon *d, uint8_t key[CRYPT_KEY_BYTES])
{
	const struct conf *c = d->conf;
	struct objstore_info info;
	int r = objstore_head(d->st, KEYFILE_OBJECT, &info);
	if (r < 0 && r != -ENOENT) {
		log_error("cannot read %s in %s: %s", KEYFILE_OBJECT, c->url, strerror(-r));
		return r;
	}
	bool creating = r == -ENOENT;
	if (creating && !writer(d)) {
		log_error("%s holds no filesystem (no %s) and a read-only mount cannot create "
			  "one (this daemon is a %s): start a writer first", c->url, KEYFILE_OBJECT,
			  daemon_role_name(d->role));
		return -ENOENT;
	}
	char *pw = get_password(c, creating);
	if (!pw)
		return -EINVAL;
	r = creating ? keyfile_create(d->st, pw, NULL, key) : -EEXIST;
	if (r == 0)
		log_info("%s held no filesystem: created a new encrypted one", c->url);
	else if (r == -EEXIST)
		r = keyfile_load(d->st, pw, key); /* there, or created meanwhile */
	password_free(pw);
	if (r < 0)
		log_key_error(c->url, r);
	return r;
}

static int open_keys(struct daemon *d)
{
	uint8_t key[CRYPT_KEY_BYTES];
	int r = open_key(d, key);
	if (r == 0) {
		crypt_subkey(key, CRYPT_DOMAIN_META, d->meta_key);
		crypt_subkey(key, CRYPT_DOMAIN_DATA, d->data_key);
	}
	crypt_wipe(key, sizeof key);
	return r;
}

/* The stop signals are taken over once the password is in (so ^C at the
 * prompt simply ends the program) and before the first layer that starts
 * threads (they inherit the blocked signals). */
static int start_signals(struct daemon *d)
{
	return d->flags & DAEMON_SIGNALS ? daemon_signals_start() : 0;
}

static int open_lsm(struct daemon *d)
{
	const struct conf *c = d->conf;
	struct lsm_options o;
	lsm_options_default(&o);
	o.store = d->st;
	memcpy(o.key, d->meta_key, sizeof o.key);
	o.create = writer(d);
	o.read_only = !writer(d);
	o.checkpoint = d->role == DAEMON_CHECKPOINT ? c->checkpoint : NULL;
	o.block_cache_bytes = (size_t)c->metadata_memory;
	int r = lsm_open(&o, &d->db);
	crypt_wipe(o.key, sizeof o.key);
	if (r == -ENOENT && o.checkpoint)
		log_error("%s has no checkpoint '%s' ('bucketfs checkpoint list' shows them)",
			  c->url, o.checkpoint);
	else if (r == -ENOENT)
		log_error("%s has a key but no metadata yet: start a writer first", c->url);
	else if (r == -EKEYREJECTED || r == -EBADMSG)
		log_error("%s: the metadata does not decrypt with this key: %s", c->url,
			  strerror(-r));
	else if (r < 0)
		log_error("cannot open the metadata of %s: %s", c->url, strerror(-r));
	return r;
}

/* The lease thread read a lease of a newer writer epoch: that writer
 * has written its takeover manifest, so this one is fenced for certain.
 * Tell the LSM at once (an idle writer would otherwise learn it only at
 * its next manifest write, and acknowledge mutations meanwhile).  d->db
 * outlives the lease thread (close_all stops the lease first), so no
 * lock is needed and the callback never waits for a barrier. */
static void on_fenced(void *arg, uint64_t epoch, const char *who)
{
	struct daemon *d = arg;
	lsm_mark_fenced(d->db, epoch);
}

static int start_lease(struct daemon *d)
{
	if (!writer(d))
		return 0;
	struct lsm_stats s;
	lsm_stats(d->db, &s);
	return lease_start(d->st, s.epoch, (uint64_t)d->conf->lease_interval_ms, on_fenced, d,
			   &d->lease);
}

static int open_data(struct daemon *d)
{
	const struct conf *c = d->conf;
	struct data_options o;
	data_options_default(&o);
	o.store = d->st;
	o.db = d->db;
	memcpy(o.key, d->data_key, sizeof o.key);
	memcpy(o.meta_key, d->meta_key, sizeof o.meta_key);
	codec_parse(c->compression, &o.codec); /* checked by the schema */
	o.read_only = !writer(d);
	o.segment_bytes = (uint64_t)c->segment_size;
	o.flush_interval_ms = (uint64_t)c->flush_interval_ms;
	o.barrier_timeout_ms = (uint64_t)c->barrier_timeout_ms;
	o.cache_dir = d->cache_dir;
	o.cache_ram_bytes = (uint64_t)c->cache_memory;
	o.cache_disk_bytes = (uint64_t)c->cache_disk;
	o.extent_cache_bytes = (uint64_t)c->extent_memory;
	int r = data_open(&o, &d->data);
	crypt_wipe(o.key, sizeof o.key);
	crypt_wipe(o.meta_key, sizeof o.meta_key);
	if (r < 0)
		log_error("cannot open the data of %s: %s", c->url, strerror(-r));
	return r;
}

static int open_fs(struct daemon *d)
{
	const struct conf *c = d->conf;
	struct fs_options o = {
		.db = d->db,
		.data = d->data,
		.read_only = !writer(d),
		.max_size = (uint64_t)c->max_size,
		.max_inodes = (uint64_t)c->max_inodes,
		.atime = c->atime,
	};
	int r = fs_open(&o, &d->fs);
	if (r < 0)
		log_error("cannot open the filesystem of %s: %s", c->url, strerror(-r));
	return r;
}

/* Each step, unless a stop signal came in the meantime. */
static int open_all(struct daemon *d)
{
	int (*const steps[])(struct daemon *) = { open_store, check_lease, open_keys,
						  start_signals, open_lsm, start_lease,
						  open_data, open_fs };
	bool sig = d->flags & DAEMON_SIGNALS;
	for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
		if (sig && daemon_stop_signalled())
			return -EINTR;
		int r = steps[i](d);
		if (r < 0)
			return r;
	}
	return sig && daemon_stop_signalled() ? -EINTR : 0;
}

/* The final flush, in the order the layers need: the core's pending
 * changes, then the data plane's barrier and clean-shutdown mark (which
 * commit the LSM); then the lease is released (only after everything is durable). */
static int close_all(struct daemon *d)
{
	int r = 0, e;
	if (d->fs && writer(d) && (e = fs_sync(d->fs)) < 0) {
		log_error("final sync of %s failed: %s", d->conf->url, strerror(-e));
		r = e;
	}
	fs_close(d->fs);
	if (d->data && (e = data_close(d->data)) < 0) {
		log_error("final barrier of %s failed: %s", d->conf->url, strerror(-e));
		r = r ? r : e;
	}
	/* No lsm_flush here: a successful data_close ended with a barrier,
	 * which committed every write; after a failed one the memtable may
	 * hold extents in segments that never reached the store (the
	 * uploads were dropped), and committing it would make a manifest
	 * name missing objects.  Without a data plane nothing was written. */
	lease_stop(d->lease, r == 0);
	lsm_close(d->db);
	objstore_close(d->st);
	d->lease = NULL;
	d->fs = NULL;
	d->data = NULL;
	d->db = NULL;
	d->st = NULL;
	return r;
}

static void daemon_free(struct daemon *d)
{
	crypt_wipe(d->meta_key, sizeof d->meta_key);
	crypt_wipe(d->data_key, sizeof d->data_key);
	pthread_cond_destroy(&d->cond);
	pthread_mutex_destroy(&d->mu);
	free(d->cache_dir);
	free(d);
}

int daemon_open(const struct conf *c, unsigned flags, struct daemon **out)
{
	struct daemon *d = xcalloc(1, sizeof *d);
	d->conf = c;
	d->flags = flags;
	d->role = c->checkpoint ? DAEMON_CHECKPOINT : c->read_only ? DAEMON_REPLICA
								   : DAEMON_WRITER;
	d->start_ns = clock_wall_ns();
	d->cache_dir = store_cache_dir(c->cache_dir, c->url);
	pthread_mutex_init(&d->mu, NULL);
	pthread_cond_init(&d->cond, NULL);
	*out = NULL;
	int r = open_all(d);
	if (r < 0) {
		if (r == -EINTR)
			log_info("stopped before serving");
		(void)close_all(d);
		daemon_free(d);
		return r;
	}
	*out = d;
	return 0;
}

struct fs *daemon_fs(struct daemon *d)
{
	return d->fs;
}

enum daemon_role daemon_role(const struct daemon *d)
{
	return d->role;
}

int daemon_close(struct daemon *d)
{
	if (!d)
		return 0;
	daemon_signals_target(NULL);
	int r = close_all(d);
	if (r == 0)
		log_info("stopped cleanly: everything written is in %s", d->conf->url);
	else
		log_error("stopped with errors: writes since the last durable point may be lost");
	daemon_free(d);
	return r;
}

/* ---- admin requests ---- */

/* A fenced writer with nothing pending would get 0 from the barrier (it
 * writes no manifest): it must not tell the client its data is safe. */
int daemon_flush(struct daemon *d)
{
	if (!writer(d))
		return -EROFS;
	struct lsm_stats s;
	int r = fs_sync(d->fs);
	lsm_stats(d->db, &s);
	return r == 0 && s.fenced ? -EROFS : r;
}

static int check_name(const char *name)
{
	size_t n = strlen(name);
	return n == 0 || n > LSM_CHECKPOINT_NAME_MAX ? -EINVAL : 0;
}

int daemon_checkpoint_create(struct daemon *d, const char *name)
{
	if (!writer(d))
		return -EROFS;
	int r = check_name(name);
	if (r == 0)
		r = fs_sync(d->fs); /* the core's pending changes first */
	if (r == 0)
		r = data_checkpoint(d->data, name);
	if (r == 0)
		log_info("checkpoint '%s' created", name);
	return r;
}

int daemon_checkpoint_delete(struct daemon *d, const char *name)
{
	if (!writer(d))
		return -EROFS;
	int r = check_name(name);
	if (r == 0)
		r = lsm_checkpoint_delete(d->db, name);
	if (r == 0)
		log_info("checkpoint '%s' deleted", name);
	return r;
}

int daemon_checkpoint_list(struct daemon *d,
			   void (*cb)(void *arg, const char *name, uint64_t manifest_seq,
				      uint64_t created_ns),
			   void *arg)
{
	return lsm_checkpoint_list(d->db, cb, arg);
}

const char *daemon_admin_path(const struct daemon *d)
{
	return d->admin ? d->admin_path : NULL;
}
