/* control.h -- commands that talk to the running daemon through its admin
 * socket (daemon/admin.h) and fall back to the store when none serves it:
 * `bucketfs status`, `flush`, `stats`, and the socket side of
 * `checkpoint` (control.c). */
#ifndef BUCKETFS_CLI_CONTROL_H
#define BUCKETFS_CLI_CONTROL_H

#include <stdbool.h>

#include "lsm/lsm.h"
#include "store/objstore.h"

/* What a command needs to find the daemon: --store, --socket and
 * --config (or $BUCKETFS_CONFIG). */
struct control_target {
	const char *url;           /* --store, else [storage] url, else the default */
	char *socket;              /* malloc'ed; NULL: the configuration sets none */
	char *conf_url;            /* owned copy when the url came from the file */
};

/* 0, or -1 after printing why (a bad configuration file). */
int control_target_init(struct control_target *t, const char *store_opt,
			const char *socket_opt, const char *config);
void control_target_free(struct control_target *t);

/* Send request to the daemon of t.  1: it answered OK (*body malloc'ed);
 * 0: no daemon listens there (fall back to the store); -1: an error,
 * printed with what (the daemon's message, or why the socket refused). */
int control_call(const struct control_target *t, const char *what, const char *request,
		 char **body);

/* The store itself (no daemon): the metadata tree, read-only unless
 * writer.  0 or negative errno after printing why. */
int control_open_tree(const char *url, bool writer, objstore **st, lsm **db);

int cmd_status(int argc, char **argv);
int cmd_flush(int argc, char **argv);
int cmd_stats(int argc, char **argv);

#endif
