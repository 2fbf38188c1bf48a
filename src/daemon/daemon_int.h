/* daemon_int.h -- what the files of the daemon share: the daemon object
 * itself (daemon.c opens and closes it, serve.c serves), the stop signals
 * (signals.c) and the replica follower (follower.c).  Not for use outside
 * src/daemon. */
#ifndef BUCKETFS_DAEMON_DAEMON_INT_H
#define BUCKETFS_DAEMON_DAEMON_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "crypt/aead.h"
#include "daemon/daemon.h"
#include "daemon/frontend.h"
#include "lsm/lsm.h"
#include "store/objstore.h"

struct admin;
struct lease;
struct follower;

struct running_frontend {
	const struct frontend_ops *ops;
	struct frontend *f;
};

#define DAEMON_MAX_FRONTENDS 8

struct daemon {
	const struct conf *conf;
	enum daemon_role role;
	unsigned flags;
	char *cache_dir;            /* this store's subdirectory, or NULL */
	objstore *st;
	lsm *db;
	struct data *data;
	struct fs *fs;
	struct lease *lease;        /* writer only */
	struct admin *admin;        /* while serving */
	char *admin_path;           /* its path, while serving */
	struct follower *follower;  /* replica, while serving */
	uint64_t start_ns;          /* wall clock */
	struct frontend_env env;
	struct running_frontend fronts[DAEMON_MAX_FRONTENDS];
	unsigned nfronts;
	pthread_mutex_t mu;         /* guards stop, why and fronts while serving */
	pthread_cond_t cond;
	bool stop;
	char why[128];
	uint8_t meta_key[CRYPT_KEY_BYTES], data_key[CRYPT_KEY_BYTES];
};

static inline bool writer(const struct daemon *d)
{
	return d->role == DAEMON_WRITER;
}

/* ---- signals.c: SIGINT, SIGTERM, SIGHUP (process-wide) ---- */
/* Block them in the calling thread (later threads inherit the mask) and
 * start the thread that takes them with sigwait().  A second call does
 * nothing.  Without a target a first signal only marks a stop request
 * (daemon_stop_signalled) and a second one ends the process at once;
 * with one, each signal calls daemon_request_stop(target). */
int daemon_signals_start(void);
bool daemon_stop_signalled(void);
/* The daemon that signals stop (NULL: none); returns once no signal is
 * being handled for the previous target. */
void daemon_signals_target(struct daemon *d);

/* ---- follower.c: a replica's periodic data_refresh ---- */
struct follower *follower_start(struct data *data, uint64_t interval_ms);
void follower_stop(struct follower *f);

/* ---- daemon.c, for admin.c ---- */
/* Describe the running frontends, "name address" per line into buf. */
void daemon_frontends_describe(struct daemon *d, void (*cb)(void *arg, const char *name,
							   const char *address),
			       void *arg);

/* ---- serve.c ---- */
/* Drain every running frontend, then stop them, last started first. */
void daemon_frontends_stop(struct daemon *d);

#endif
