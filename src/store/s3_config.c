/* s3_config.c -- the s3:// backend's settings: defaults, reading them from
 * the environment (s3_config_from_env, see s3.h for the variables), and
 * the checks that an endpoint, bucket name and key prefix can be used.
 *
 * Sizes read from the environment take a k/m/g suffix (binary).  A bad
 * value is an error that names the variable, never a silent default. */
#include "store/s3_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/log.h"
#include "util/mem.h"

#define MIB (1ull << 20)

/* ---- the environment ---- */

static const char *env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

static char *env_dup(const char *name)
{
	const char *v = env(name);

	return v ? xstrdup(v) : NULL;
}

/* A byte count with an optional k/m/g suffix (binary). */
static int parse_size(const char *name, const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (*end == 'k' || *end == 'K')
		shift = 10;
	else if (*end == 'm' || *end == 'M')
		shift = 20;
	else if (*end == 'g' || *end == 'G')
		shift = 30;
	if (shift)
		end++;
	if (errno || end == s || *end || v > (UINT64_MAX >> shift)) {
		log_error("s3: %s=%s: not a size (bytes, or a number with k, m or g)", name, s);
		return -EINVAL;
	}
	*out = (uint64_t)v << shift;
	return 0;
}

static int env_size(const char *name, uint64_t min, uint64_t max, uint64_t *out)
{
	const char *s = env(name);
	uint64_t v;

	if (!s)
		return 0;
	if (parse_size(name, s, &v))
		return -EINVAL;
	if (v < min || v > max) {
		log_error("s3: %s=%s: must be between %" PRIu64 " and %" PRIu64 " bytes",
			  name, s, min, max);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static int env_uint(const char *name, unsigned min, unsigned max, unsigned *out)
{
	const char *s = env(name);
	char *end;
	unsigned long v;

	if (!s)
		return 0;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max) {
		log_error("s3: %s=%s: must be a whole number from %u to %u", name, s, min, max);
		return -EINVAL;
	}
	*out = (unsigned)v;
	return 0;
}

static int env_bool(const char *name, bool *out)
{
	const char *s = env(name);

	if (!s)
		return 0;
	if (!strcmp(s, "1") || !strcasecmp(s, "true") || !strcasecmp(s, "yes")) {
		*out = true;
	} else if (!strcmp(s, "0") || !strcasecmp(s, "false") || !strcasecmp(s, "no")) {
		*out = false;
	} else {
		log_error("s3: %s=%s: want 1 or 0", name, s);
		return -EINVAL;
	}
	return 0;
}

static void config_defaults(struct s3_config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->multipart_threshold = 64 * MIB;
	cfg->part_size = 16 * MIB;
	cfg->upload_threads = 4;
	cfg->max_attempts = 10;
	cfg->retry_seconds = 60;
	cfg->connect_timeout_seconds = 10;
	cfg->stall_seconds = 30;
}

int s3_config_from_env(struct s3_config *cfg)
{
	const char *region = env("AWS_REGION");
	int rc = 0;

	config_defaults(cfg);
	if (!region)
		region = env("AWS_DEFAULT_REGION");
	cfg->region = xstrdup(region ? region : "us-east-1");
	cfg->endpoint = env_dup("AWS_ENDPOINT_URL");
	/* AWS itself wants virtual-hosted addressing; other servers path style. */
	cfg->virtual_host = !cfg->endpoint;
	if (!cfg->endpoint)
		cfg->endpoint = xasprintf("https://s3.%s.amazonaws.com", cfg->region);
	cfg->access_key = env_dup("AWS_ACCESS_KEY_ID");
	cfg->secret_key = env_dup("AWS_SECRET_ACCESS_KEY");
	cfg->session_token = env_dup("AWS_SESSION_TOKEN");
	cfg->ca_bundle = env_dup("AWS_CA_BUNDLE");
	rc |= env_bool("BUCKETFS_S3_VIRTUAL_HOST", &cfg->virtual_host);
	rc |= env_size("BUCKETFS_S3_MULTIPART_THRESHOLD", 1, S3_MAX_PUT_SIZE,
		       &cfg->multipart_threshold);
	rc |= env_size("BUCKETFS_S3_PART_SIZE", S3_LOWEST_PART_SIZE, S3_MAX_PUT_SIZE,
		       &cfg->part_size);
	rc |= env_uint("BUCKETFS_S3_UPLOAD_THREADS", 1, 64, &cfg->upload_threads);
	rc |= env_uint("BUCKETFS_S3_MAX_ATTEMPTS", 1, 100, &cfg->max_attempts);
	rc |= env_uint("BUCKETFS_S3_RETRY_SECONDS", 0, 3600, &cfg->retry_seconds);
	if (rc) {
		s3_config_free(cfg);
		return -EINVAL;
	}
	return 0;
}

static void free_secret(char *s)
{
	if (s)
		explicit_bzero(s, strlen(s));
	free(s);
}

void s3_config_free(struct s3_config *cfg)
{
	free(cfg->endpoint);
	free(cfg->region);
	free(cfg->access_key);
	free_secret(cfg->secret_key);
	free_secret(cfg->session_token);
	free(cfg->ca_bundle);
	memset(cfg, 0, sizeof *cfg);
}

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

void s3_config_copy(struct s3_config *dst, const struct s3_config *src)
{
	*dst = *src;
	dst->endpoint = dup_or_null(src->endpoint);
	dst->region = dup_or_null(src->region);
	dst->access_key = dup_or_null(src->access_key);
	dst->secret_key = dup_or_null(src->secret_key);
	dst->session_token = dup_or_null(src->session_token);
	dst->ca_bundle = dup_or_null(src->ca_bundle);
}

/* ---- checks ---- */

/* Split the endpoint into scheme ("http://" or "https://") and host[:port]. */
static const char *endpoint_problem(const char *ep, size_t *scheme_len)
{
	const char *host;
	size_t n;

	if (!strncmp(ep, "https://", 8))
		*scheme_len = 8;
	else if (!strncmp(ep, "http://", 7))
		*scheme_len = 7;
	else
		return "the endpoint must start with http:// or https://";
	host = ep + *scheme_len;
	n = strcspn(host, "/?#@ ");
	if (n == 0)
		return "the endpoint has no host";
	if (host[n] && strcmp(host + n, "/"))
		return "the endpoint may not have a path, query or user name";
	return NULL;
}

const char *s3_config_problem(const struct s3_config *cfg, size_t *scheme_len)
{
	if (!cfg->access_key || !cfg->secret_key)
		return "no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY";
	if (!cfg->region || !*cfg->region || strchr(cfg->region, '/'))
		return "no usable region (AWS_REGION)";
	if (!cfg->endpoint)
		return "no endpoint";
	if (cfg->part_size < S3_LOWEST_PART_SIZE || cfg->part_size > S3_MAX_PUT_SIZE)
		return "part size must be between 64 KiB (5 MiB for most servers) and 5 GiB";
	if (!cfg->multipart_threshold || cfg->multipart_threshold > S3_MAX_PUT_SIZE)
		return "multipart threshold must be between 1 byte and 5 GiB";
	if (!cfg->upload_threads || !cfg->max_attempts)
		return "upload threads and attempts must be at least 1";
	return endpoint_problem(cfg->endpoint, scheme_len);
}

static bool bucket_char(char c, bool dns)
{
	if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-')
		return true;
	return !dns && ((c >= 'A' && c <= 'Z') || c == '_');
}

const char *s3_bucket_problem(const char *b, size_t n, bool virtual_host)
{
	size_t i;

	if (n < 3 || n > 255)
		return "the bucket name must have 3 to 255 characters";
	if (virtual_host && n > 63)
		return "a bucket name for virtual-hosted addressing has at most 63 characters";
	for (i = 0; i < n; i++)
		if (!bucket_char(b[i], virtual_host))
			return virtual_host ? "the bucket name must be lower-case letters, digits, '.' and '-' for virtual-hosted addressing"
					    : "the bucket name may only have letters, digits, '.', '-' and '_'";
	return NULL;
}

const char *s3_prefix_problem(const char *p)
{
	const char *comp, *slash;
	size_t len;

	if (strlen(p) >= OBJSTORE_KEY_MAX)
		return "the prefix is too long";
	for (comp = p; *comp; comp = slash + 1) {
		slash = strchr(comp, '/');
		len = slash ? (size_t)(slash - comp) : strlen(comp);
		if (len == 0)
			return "empty component in the prefix";
		if ((len == 1 && comp[0] == '.') || (len == 2 && !strncmp(comp, "..", 2)))
			return "'.' or '..' in the prefix";
		if (!slash)
			break;
	}
	for (; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return "control character in the prefix";
	return NULL;
}
