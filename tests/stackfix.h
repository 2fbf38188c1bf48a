/* stackfix.h -- test fixture, layer 3 of 3: the whole stack opened
 * in-process by the daemon's own opening code (daemon_open: keyfile,
 * lease, LSM, data plane, core), so it copies none of it.  Header-only.
 * Used by tests/test-daemon.c.
 *
 * struct stackfix holds a configuration (the schema's defaults, then: a
 * fresh memory://<name>-<pid>-<n> store, password "stackfix-password",
 * no disk cache, no admin socket, no periodic flush, lease every 100 ms),
 * the daemon and its core:
 *  - stackfix_init(f, name): the configuration, and a bucketfs.key made
 *    with fast Argon2id parameters (so opening costs no seconds); the
 *    test tweaks f->conf afterwards (stackfix_set for strings);
 *  - stackfix_attach(f, other): another daemon's configuration on f's
 *    store (replica, checkpoint view, second writer), not opened;
 *  - stackfix_open(f) / stackfix_close(f): daemon_open (no signals, no
 *    frontends) and daemon_close, both expected to succeed;
 *  - stackfix_done(f): closes if open, frees the configuration.
 * Include after <cmocka.h>. */
#ifndef BUCKETFS_STACKFIX_H
#define BUCKETFS_STACKFIX_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypt/aead.h"
#include "crypt/keyfile.h"
#include "daemon/conf.h"
#include "daemon/daemon.h"
#include "store/objstore.h"
#include "testutil.h"
#include "util/mem.h"

#define STACKFIX_PASSWORD "stackfix-password"

struct stackfix {
	struct conf conf;
	struct daemon *d;
	struct fs *fs;
	char url[128];
};

static inline void stackfix_set(char **field, const char *value)
{
	free(*field);
	*field = value ? xstrdup(value) : NULL;
}

/* f = the test configuration for the store at url; touches no store. */
static inline void stackfix_conf(struct stackfix *f, const char *url)
{
	memset(f, 0, sizeof *f);
	snprintf(f->url, sizeof f->url, "%s", url);
	assert_int_equal(conf_load(NULL, &f->conf), 0);
	stackfix_set(&f->conf.url, f->url);
	stackfix_set(&f->conf.password, STACKFIX_PASSWORD);
	stackfix_set(&f->conf.cache_dir, "");
	stackfix_set(&f->conf.admin_socket, "");
	f->conf.flush_interval_ms = 0;
	f->conf.lease_interval_ms = 100;
}

static inline void stackfix_init(struct stackfix *f, const char *name)
{
	static int stackfix_counter;
	struct keyfile_params kp;
	uint8_t key[CRYPT_KEY_BYTES];
	char url[128];
	objstore *st;
	assert_int_equal(crypt_init(), 0);
	snprintf(url, sizeof url, "memory://%s-%d-%d", name, (int)getpid(), ++stackfix_counter);
	stackfix_conf(f, url);
	assert_int_equal(objstore_open(f->url, &st), 0);
	keyfile_params_fast(&kp);
	assert_int_equal(keyfile_create(st, STACKFIX_PASSWORD, &kp, key), 0);
	crypt_wipe(key, sizeof key);
	objstore_close(st);
}

/* other = a second daemon's configuration on f's store (a replica, a
 * checkpoint view, a second writer), not opened: the test sets
 * other->conf.read_only, .checkpoint or .takeover, then stackfix_open. */
static inline void stackfix_attach(const struct stackfix *f, struct stackfix *other)
{
	stackfix_conf(other, f->url);
}

static inline void stackfix_open(struct stackfix *f)
{
	assert_int_equal(daemon_open(&f->conf, 0, &f->d), 0);
	f->fs = daemon_fs(f->d);
	assert_non_null(f->fs);
}

static inline void stackfix_close(struct stackfix *f)
{
	assert_int_equal(daemon_close(f->d), 0);
	f->d = NULL;
	f->fs = NULL;
}

static inline void stackfix_done(struct stackfix *f)
{
	if (f->d)
		stackfix_close(f);
	conf_free(&f->conf);
}

#endif
