/* conf.c -- bucketfs.conf: the schema of every setting, loading it, and
 * the commented template (`bucketfs init` writes it, src/cli/init.c).
 *
 * The schema is the single list of settings: the template, the defaults
 * and the parser all come from it, so a setting added here is documented
 * and parsed at once.  Keys without a default stay NULL / 0 and mean "not
 * set" (the caller then falls back to the environment). */
#include "daemon/conf.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypt/codec.h"
#include "fuse/fuse.h"
#include "util/mem.h"
#include "util/config.h"
#include "util/log.h"

#define MS_PER_DAY 86400000LL

static const char *check_codec(const void *field)
{
	struct codec c;
	const char *s = *(char *const *)field;
	return codec_parse(s, &c) == 0 ? NULL
				       : "unknown codec (expected lz4, zstd, zstd:N with N 1-22, or none)";
}

static const char *check_level(const void *field)
{
	static const char *const levels[] = { "error", "warn", "info", "debug" };
	const char *s = *(char *const *)field;
	for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++)
		if (!strcasecmp(s, levels[i]))
			return NULL;
	return "unknown level (expected error, warn, info or debug)";
}

static const char *check_not_empty(const void *field)
{
	const char *s = *(char *const *)field;
	return *s ? NULL : "must not be empty";
}

static const char *check_squash(const void *field)
{
	const char *s = *(char *const *)field;
	return !strcmp(s, "root") || !strcmp(s, "none") || !strcmp(s, "all")
		       ? NULL : "unknown squash (expected root, none or all)";
}

static const char *check_mount_options(const void *field)
{
	char *copy = xstrdup(*(char *const *)field), *save = NULL;
	bool ok = true;
	for (char *t = strtok_r(copy, ",", &save); t && ok; t = strtok_r(NULL, ",", &save))
		ok = fuse_mount_flag_known(t);
	free(copy);
	return ok ? NULL : "unknown mount option (expected a comma-separated list of dev, nodev, "
			   "suid, nosuid, exec, noexec, noatime, relatime, strictatime)";
}

#define F(x) offsetof(struct conf, x)

static const struct config_key schema[] = {
	{ "storage", "url", CONFIG_STRING, F(url), .dflt = "${BUCKETFS_STORE:-" DEFAULT_STORE "}",
	  .check = check_not_empty,
	  .help = "Where the filesystem lives: file:///dir (a local directory) or\n"
		  "s3://bucket/prefix (credentials in [aws] or the AWS_* environment).\n"
		  "A store without a filesystem gets a new one at the first run.\n"
		  "--store overrides this." },
	{ "storage", "encryption_password", CONFIG_STRING, F(password), .check = check_not_empty,
	  .help = "The password that unwraps the data key.  Unset: $BUCKETFS_PASSWORD,\n"
		  "else a prompt on the terminal.  Best written as \"${BUCKETFS_PASSWORD}\";\n"
		  "a file holding the password itself must be readable by you alone." },
	{ "storage", "compression", CONFIG_STRING, F(compression), .dflt = "lz4",
	  .check = check_codec,
	  .help = "Codec for new file data: lz4, zstd, zstd:N (N 1-22) or none.\n"
		  "Metadata is always zstd.  Changing it affects new writes only." },

	{ "cache", "dir", CONFIG_STRING, F(cache_dir), .dflt = "${XDG_CACHE_HOME:-/var/cache}/bucketfs",
	  .help = "Disk tier of the cache: encrypted bytes as stored, so it needs no\n"
		  "protection and can be deleted at any time.  Each store gets its own\n"
		  "subdirectory.  \"\" turns the disk tier off." },
	{ "cache", "memory", CONFIG_SIZE, F(cache_memory), .min = 0, .max = 1LL << 40,
	  .dflt = "256 MiB", .help = "RAM for stored bytes (segment parts)." },
	{ "cache", "disk", CONFIG_SIZE, F(cache_disk), .min = 0, .max = 1LL << 50,
	  .dflt = "4 GiB", .help = "Disk space for stored bytes under dir." },
	{ "cache", "extent_memory", CONFIG_SIZE, F(extent_memory), .min = 0, .max = 1LL << 40,
	  .dflt = "256 MiB", .help = "RAM for decoded (decrypted, decompressed) file extents." },
	{ "cache", "metadata_memory", CONFIG_SIZE, F(metadata_memory), .min = 1 << 20,
	  .max = 1LL << 40, .dflt = "256 MiB", .help = "RAM for decoded metadata blocks." },

	{ "filesystem", "max_size", CONFIG_SIZE, F(max_size), .min = 0, .max = INT64_MAX,
	  .dflt = "0", .help = "Quota: writes past this many bytes fail with ENOSPC, and df\n"
			       "shows it as the size.  0: no limit." },
	{ "filesystem", "max_inodes", CONFIG_INT, F(max_inodes), .min = 0, .max = INT64_MAX,
	  .dflt = "0", .help = "Most files, directories and links that may exist.  0: no limit." },
	{ "filesystem", "flush_interval", CONFIG_DURATION_MS, F(flush_interval_ms), .min = 0,
	  .max = MS_PER_DAY, .dflt = "5s",
	  .help = "How often what was written becomes durable by itself (fsync and\n"
		  "unmount do it at once), as ext4's 5 s commit interval; a crash\n"
		  "loses at most this much.  sync(1) is not a barrier on the FUSE\n"
		  "mount (the kernel sends no request for it): fsync is.\n"
		  "0: only at fsync and unmount." },
	{ "filesystem", "barrier_timeout", CONFIG_DURATION_MS, F(barrier_timeout_ms),
	  .min = 100, .max = MS_PER_DAY, .dflt = "120s",
	  .help = "How long a flush (fsync, unmount) waits for its uploads before it\n"
		  "reports EIO; the uploads keep retrying in the background." },
	{ "filesystem", "segment_size", CONFIG_SIZE, F(segment_size), .min = 1 << 20,
	  .max = 4LL << 30, .dflt = "256 MiB",
	  .help = "File data is uploaded in objects of up to this size." },
	{ "filesystem", "refresh_interval", CONFIG_DURATION_MS, F(refresh_interval_ms),
	  .min = 100, .max = MS_PER_DAY, .dflt = "5s",
	  .help = "Read-only mounts: how often to look for the writer's new changes." },
	{ "filesystem", "read_only", CONFIG_BOOL, F(read_only), .dflt = "false",
	  .help = "Mount a read-only replica: every change fails with EROFS, and the\n"
		  "writer's changes appear every refresh_interval.  --read-only sets it." },
	{ "filesystem", "lease_interval", CONFIG_DURATION_MS, F(lease_interval_ms), .min = 100,
	  .max = 3600000, .dflt = "10s",
	  .help = "The writer: how often it refreshes its lease object, which tells\n"
		  "another 'bucketfs run' that it is alive.  A lease not refreshed for\n"
		  "3 intervals is stale (the writer died)." },
	{ "filesystem", "checkpoint", CONFIG_STRING, F(checkpoint), .check = check_not_empty,
	  .help = "Serve this named checkpoint, read-only, instead of the newest\n"
		  "state.  --checkpoint NAME sets it." },
	{ "filesystem", "atime", CONFIG_BOOL, F(atime), .dflt = "true",
	  .help = "Update access times on read, with the relatime rules of Linux." },

	{ "mount", "dir", CONFIG_STRING, F(mount_dir), .check = check_not_empty,
	  .help = "The directory to mount on.  --mount overrides this." },
	{ "mount", "subtype", CONFIG_STRING, F(mount_subtype), .dflt = "bucketfs",
	  .help = "The type /proc/mounts shows is fuse.SUBTYPE; \"\" gives plain \"fuse\"." },
	{ "mount", "options", CONFIG_STRING, F(mount_options), .dflt = "",
	  .check = check_mount_options,
	  .help = "Kernel mount options, comma-separated: dev, nodev, suid, nosuid,\n"
		  "exec, noexec, noatime, relatime, strictatime.  \"\": the kernel's\n"
		  "(relatime; suid and dev allowed when root mounts).  The filesystem's\n"
		  "own access-time updates follow [filesystem] atime (mount -o noatime\n"
		  "sets both)." },
	{ "mount", "allow_other", CONFIG_BOOL, F(allow_other), .dflt = "false",
	  .help = "Let users other than the one running bucketfs use the mount\n"
		  "(permissions are checked as on any filesystem).  Non-root daemons\n"
		  "need user_allow_other in /etc/fuse.conf." },
	{ "mount", "attr_timeout", CONFIG_DURATION_MS, F(attr_timeout_ms), .min = 0,
	  .max = 3600000, .dflt = "1s", .help = "How long the kernel may cache attributes." },
	{ "mount", "entry_timeout", CONFIG_DURATION_MS, F(entry_timeout_ms), .min = 0,
	  .max = 3600000, .dflt = "1s", .help = "How long the kernel may cache names (and misses)." },
	{ "mount", "writeback_cache", CONFIG_BOOL, F(writeback_cache), .dflt = "true",
	  .help = "Let the kernel gather small writes in its page cache (faster;\n"
		  "close() still does not make data durable, fsync does)." },
	{ "mount", "threads", CONFIG_INT, F(threads), .min = 1, .max = 256, .dflt = "16",
	  .help = "Most requests served at once." },

	{ "ninep", "listen", CONFIG_STRING, F(ninep_listen), .check = check_not_empty,
	  .help = "Serve 9P2000.L (Linux v9fs, diod's tools) on this TCP address,\n"
		  "e.g. \"127.0.0.1:5640\" or \"[::1]:5640\".  Unset: no TCP listener.\n"
		  "There is no authentication: any client that connects acts as any\n"
		  "uid it names, so keep it on loopback or a trusted network.\n"
		  "--ninep ADDR:PORT sets it." },
	{ "ninep", "socket", CONFIG_STRING, F(ninep_socket), .check = check_not_empty,
	  .help = "Serve 9P2000.L on this Unix socket too, e.g. \"/run/bucketfs/9p.sock\"\n"
		  "(mount -t 9p -o trans=unix).  Unset: none.  --ninep-socket PATH sets it." },
	{ "ninep", "socket_mode", CONFIG_INT, F(ninep_socket_mode), .min = 0, .max = 0777,
	  .dflt = "0o660", .help = "Permissions of the socket (octal: 0o660)." },
	{ "ninep", "msize", CONFIG_SIZE, F(ninep_msize), .min = 4096, .max = 1 << 20,
	  .dflt = "1 MiB",
	  .help = "Largest 9P message offered to clients (they may ask for less)." },
	{ "nbd", "listen", CONFIG_STRING, F(nbd_listen), .check = check_not_empty,
	  .help = "Serve the files of /.nbd as NBD block devices on this TCP address,\n"
		  "e.g. \"127.0.0.1:10809\" (no authentication: keep it local or firewalled).\n"
		  "Unset: no TCP listener.  --nbd ADDR:PORT sets it." },
	{ "nbd", "socket", CONFIG_STRING, F(nbd_socket), .check = check_not_empty,
	  .help = "The same on a Unix socket at this path (mode 0660).  Unset: none.\n"
		  "--nbd-socket PATH sets it.  Make an export with e.g.\n"
		  "'truncate -s 10G MOUNT/.nbd/disk1' through any frontend." },
	{ "nfs", "listen", CONFIG_STRING, F(nfs_listen),
	  .help = "Serve NFSv3 (and MOUNT v3, on the same port: no portmapper) on\n"
		  "these addresses, e.g. \"127.0.0.1:2049\" or \"0.0.0.0:2049 [::]:2049\".\n"
		  "Unset or \"\": no NFS.  --nfs ADDR:PORT sets it.  Clients mount with\n"
		  "mount -t nfs -o vers=3,proto=tcp,port=P,mountport=P HOST:/ DIR" },
	{ "nfs", "export", CONFIG_STRING, F(nfs_export), .dflt = "/", .check = check_not_empty,
	  .help = "The directory of the filesystem that clients mount (MNT of it or\n"
		  "of a directory below it)." },
	{ "nfs", "read_only", CONFIG_BOOL, F(nfs_read_only), .dflt = "false",
	  .help = "Every change over NFS fails with NFS3ERR_ROFS." },
	{ "nfs", "clients", CONFIG_STRING, F(nfs_clients), .dflt = "",
	  .help = "The client addresses admitted, ADDR or ADDR/BITS separated by\n"
		  "spaces or commas, e.g. \"127.0.0.1/32 192.0.2.0/24 ::1\".  \"\": every\n"
		  "client that reaches the listen address (so keep that on loopback or\n"
		  "a private network, or list the clients here)." },
	{ "nfs", "squash", CONFIG_STRING, F(nfs_squash), .dflt = "none", .check = check_squash,
	  .help = "none: credentials as the client sends them, root included (a new\n"
		  "filesystem's root directory is root's, so a client's root must be root\n"
		  "to start filling it); root: uid 0 and gid 0 become anon_uid/anon_gid\n"
		  "(Linux's root_squash: set it when clients whose root you do not trust\n"
		  "can reach the listen address); all: every caller is anon." },
	{ "nfs", "anon_uid", CONFIG_INT, F(nfs_anon_uid), .min = 0, .max = 4294967295LL,
	  .dflt = "65534", .help = "The uid of squashed and AUTH_NONE callers." },
	{ "nfs", "anon_gid", CONFIG_INT, F(nfs_anon_gid), .min = 0, .max = 4294967295LL,
	  .dflt = "65534", .help = "The gid of squashed and AUTH_NONE callers." },
	{ "nfs", "secure", CONFIG_BOOL, F(nfs_secure), .dflt = "false",
	  .help = "Admit only clients on privileged ports (below 1024), as Linux's\n"
		  "'secure' export option.  Off: user-space clients (libnfs) work too." },

	{ "nfs", "async", CONFIG_BOOL, F(nfs_async), .dflt = "false",
	  .help = "Reply to creates, removes, renames and attribute changes before\n"
		  "they are durable (Linux's 'async' export option): faster, but a\n"
		  "crash of the daemon may lose them although the client saw them done.\n"
		  "false: each is committed first, as NFSv3 requires (file data is\n"
		  "always durable at the client's COMMIT or stable WRITE either way)." },

	{ "aws", "endpoint", CONFIG_STRING, F(aws_endpoint),
	  .help = "s3:// stores: http(s)://host[:port] of the service.\n"
		  "Unset: $AWS_ENDPOINT_URL, else AWS itself." },
	{ "aws", "region", CONFIG_STRING, F(aws_region),
	  .help = "Unset: $AWS_REGION, $AWS_DEFAULT_REGION, else us-east-1." },
	{ "aws", "access_key_id", CONFIG_STRING, F(aws_access_key_id),
	  .help = "Unset: $AWS_ACCESS_KEY_ID." },
	{ "aws", "secret_access_key", CONFIG_STRING, F(aws_secret_access_key),
	  .help = "Unset: $AWS_SECRET_ACCESS_KEY.  Best written as \"${AWS_SECRET_ACCESS_KEY}\"." },
	{ "aws", "session_token", CONFIG_STRING, F(aws_session_token),
	  .help = "Unset: $AWS_SESSION_TOKEN (temporary credentials only)." },

	{ "admin", "socket", CONFIG_STRING, F(admin_socket),
	  .help = "The Unix socket (mode 0600) on which the daemon answers 'bucketfs\n"
		  "status', 'flush', 'stats' and 'checkpoint'.  Unset: one per store\n"
		  "under /run/bucketfs (root) or $XDG_RUNTIME_DIR/bucketfs.  \"\": none." },

	{ "log", "level", CONFIG_STRING, F(log_level), .check = check_level,
	  .help = "error, warn, info or debug.  Unset: $BUCKETFS_LOG, else info.\n"
		  "Logs go to standard error." },
	{ NULL },
};

static void warn_if_readable(const char *path, const struct conf *c)
{
	struct stat st;
	if (!c->password || stat(path, &st) < 0 || !(st.st_mode & 077))
		return;
	log_warn("%s sets encryption_password and other users can read it (mode %04o): if it "
		 "holds the password itself, chmod 600 %s", path, (unsigned)(st.st_mode & 07777),
		 path);
}

/* The schema's defaults into a zeroed *c. */
static int load_defaults(struct conf *c)
{
	memset(c, 0, sizeof *c);
	if (config_apply_defaults(schema, c) < 0) {
		fprintf(stderr, "bucketfs: bad built-in default (see the log above)\n");
		return -1;
	}
	return 0;
}

int conf_load(const char *path, struct conf *c)
{
	struct config_error err;
	if (load_defaults(c) < 0)
		return -1;
	if (!path)
		return 0;
	int r = config_load_file(schema, c, path, &err);
	if (r == -EINVAL) {
		fprintf(stderr, "bucketfs: %s\n", err.msg);
		return -1;
	}
	if (r < 0) {
		fprintf(stderr, "bucketfs: cannot read configuration %s: %s\n", path, strerror(-r));
		return -1;
	}
	warn_if_readable(path, c);
	return 0;
}

int conf_load_text(const char *text, size_t len, const char *name, struct conf *c,
		   struct config_error *err)
{
	if (load_defaults(c) < 0)
		return -EINVAL;
	return config_load_mem(schema, c, text, len, name, err);
}

void conf_free(struct conf *c)
{
	config_free(schema, c);
}

int conf_write_template(FILE *out)
{
	fprintf(out, "# bucketfs.conf -- configuration of 'bucketfs run -c FILE'.\n"
		"#\n"
		"# Every setting is listed with its default; a commented-out one has no\n"
		"# default.  Strings may use ${VAR} or ${VAR:-default} from the\n"
		"# environment.  Sizes: \"256 MiB\", \"4 GiB\"; durations: \"500ms\", \"30s\", \"5m\".\n"
		"# Command-line options override this file.\n\n");
	return config_write_template(schema, out);
}
