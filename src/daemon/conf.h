/* conf.h -- the daemon's configuration: its schema, loading, the template.
 *
 * One struct holds every setting of bucketfs.conf; conf_load fills it with
 * the schema's defaults and then the file (util/config.h does the parsing,
 * ${VAR} substitution and the file:line: [section] key error messages).
 * Command-line options are applied over it by the caller. */
#ifndef BUCKETFS_DAEMON_CONF_H
#define BUCKETFS_DAEMON_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct config_error;

#define DEFAULT_STORE "file:///var/lib/bucketfs"

struct conf {
	/* [storage] */
	char *url;
	char *password;            /* NULL: $BUCKETFS_PASSWORD or a prompt */
	char *compression;
	/* [cache] */
	char *cache_dir;           /* "" : no disk cache */
	int64_t cache_memory, cache_disk, extent_memory, metadata_memory;
	/* [filesystem] */
	int64_t max_size, max_inodes;
	int64_t flush_interval_ms, segment_size, refresh_interval_ms, lease_interval_ms;
	int64_t barrier_timeout_ms;
	bool read_only, atime;
	char *checkpoint;          /* serve this checkpoint read-only, or NULL */
	/* [mount] */
	char *mount_dir;
	char *mount_subtype;       /* /proc/mounts type fuse.SUBTYPE; "": plain fuse */
	char *mount_options;       /* kernel mount options (fuse_mount_flag_known) */
	bool allow_other, writeback_cache;
	int64_t attr_timeout_ms, entry_timeout_ms, threads;
	/* [ninep] (9P2000.L; off unless listen or socket is set) */
	char *ninep_listen;        /* "host:port", or NULL */
	char *ninep_socket;        /* a Unix socket path, or NULL */
	int64_t ninep_socket_mode, ninep_msize;
	/* [nbd] (off unless listen or socket is set) */
	char *nbd_listen, *nbd_socket;
	/* [nfs] */
	char *nfs_listen;          /* NULL or "": NFS off; "host:port ..." */
	char *nfs_export;
	bool nfs_read_only, nfs_secure, nfs_async;
	char *nfs_clients;         /* "addr/bits ..." ("" : every client) */
	char *nfs_squash;          /* root, none or all */
	int64_t nfs_anon_uid, nfs_anon_gid;
	/* [aws] (override the AWS_* environment for s3:// stores) */
	char *aws_endpoint, *aws_region, *aws_access_key_id, *aws_secret_access_key;
	char *aws_session_token;
	/* [admin] */
	char *admin_socket;        /* NULL: the default path (admin.h); "": none */
	/* [log] */
	char *log_level;           /* NULL: $BUCKETFS_LOG, else info */
	/* command line only (not in the file) */
	bool takeover;             /* start as writer even while another lives */
};

/* Defaults, then path (when not NULL).  0, or -1 after printing why to
 * stderr (for a bad file: "bucketfs: FILE:LINE: [section] key: reason"). */
int conf_load(const char *path, struct conf *c);
/* Defaults, then text[0, len), the bytes of a file called name (for
 * messages), silently: 0, or the -errno of config_load_mem with err saying
 * why.  For tests and the fuzz target; conf_free *c in every case. */
int conf_load_text(const char *text, size_t len, const char *name, struct conf *c,
		   struct config_error *err);
void conf_free(struct conf *c);
/* The commented template of every setting with its default.  0 or -EIO. */
int conf_write_template(FILE *out);

#endif
