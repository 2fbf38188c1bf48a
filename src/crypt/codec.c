/* codec.c -- compression codecs none / lz4 / zstd (see codec.h).
 *
 * zstd contexts are expensive to create (tables of up to megabytes), so
 * each thread keeps one compression and one decompression context, created
 * on first use and freed by a thread-specific-data destructor when the
 * thread exits.  A context that grew very large (a high level on a big
 * input) is dropped after use rather than pinned for the thread's life.
 *
 * Decompression trusts nothing: lz4 uses the bounds-checked
 * LZ4_decompress_safe and zstd decodes into a buffer of exactly the
 * expected size, so corrupt input is -EBADMSG, never an overrun. */
#include "crypt/codec.h"

#include <errno.h>
#include <limits.h>
#include <lz4.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "util/log.h"
#include "util/mem.h"

#define ZSTD_LEVEL_MIN 1
#define ZSTD_LEVEL_MAX 22
#define ZSTD_LEVEL_DEFAULT 3
/* A cached compression context larger than this is freed after use. */
#define ZSTD_CCTX_KEEP_MAX (64u << 20)

struct codec_tls {
	ZSTD_CCtx *cctx;
	ZSTD_DCtx *dctx;
};

static pthread_key_t tls_key;
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;
static __thread struct codec_tls *tls;

static void tls_destroy(void *p)
{
	struct codec_tls *t = p;

	ZSTD_freeCCtx(t->cctx);
	ZSTD_freeDCtx(t->dctx);
	free(t);
	tls = NULL;
}

static void tls_key_create(void)
{
	if (pthread_key_create(&tls_key, tls_destroy)) {
		log_error("codec: pthread_key_create failed");
		abort();
	}
}

static struct codec_tls *tls_get(void)
{
	if (!tls) {
		pthread_once(&tls_once, tls_key_create);
		tls = xcalloc(1, sizeof(*tls));
		pthread_setspecific(tls_key, tls);
	}
	return tls;
}

static ZSTD_CCtx *tls_cctx(void)
{
	struct codec_tls *t = tls_get();

	if (!t->cctx) {
		t->cctx = ZSTD_createCCtx();
		if (!t->cctx) {
			log_error("codec: out of memory creating a zstd context");
			abort();
		}
	}
	return t->cctx;
}

static ZSTD_DCtx *tls_dctx(void)
{
	struct codec_tls *t = tls_get();

	if (!t->dctx) {
		t->dctx = ZSTD_createDCtx();
		if (!t->dctx) {
			log_error("codec: out of memory creating a zstd context");
			abort();
		}
	}
	return t->dctx;
}

static void tls_cctx_trim(void)
{
	struct codec_tls *t = tls_get();

	if (t->cctx && ZSTD_sizeof_CCtx(t->cctx) > ZSTD_CCTX_KEEP_MAX) {
		ZSTD_freeCCtx(t->cctx);
		t->cctx = NULL;
	}
}

/* ---- names ---- */

/* A zstd level: decimal digits only, 1..22. */
static int parse_level(const char *s, int *level)
{
	long v = 0;

	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (*s - '0');
		if (v > ZSTD_LEVEL_MAX)
			return -EINVAL;
	}
	if (v < ZSTD_LEVEL_MIN)
		return -EINVAL;
	*level = (int)v;
	return 0;
}

int codec_parse(const char *spec, struct codec *out)
{
	struct codec c = { CODEC_NONE, 0 };

	if (!spec)
		return -EINVAL;
	if (!strcmp(spec, "none")) {
		c.id = CODEC_NONE;
	} else if (!strcmp(spec, "lz4")) {
		c.id = CODEC_LZ4;
	} else if (!strcmp(spec, "zstd")) {
		c.id = CODEC_ZSTD;
		c.level = ZSTD_LEVEL_DEFAULT;
	} else if (!strncmp(spec, "zstd", 4) && (spec[4] == ':' || spec[4] == '-')) {
		c.id = CODEC_ZSTD;
		if (parse_level(spec + 5, &c.level))
			return -EINVAL;
	} else {
		return -EINVAL;
	}
	*out = c;
	return 0;
}

const char *codec_name(enum codec_id id)
{
	switch (id) {
	case CODEC_NONE:
		return "none";
	case CODEC_LZ4:
		return "lz4";
	case CODEC_ZSTD:
		return "zstd";
	}
	return "unknown";
}

static int codec_check(struct codec c)
{
	switch (c.id) {
	case CODEC_NONE:
	case CODEC_LZ4:
		return 0;
	case CODEC_ZSTD:
		if (c.level < ZSTD_LEVEL_MIN || c.level > ZSTD_LEVEL_MAX)
			return -EINVAL;
		return 0;
	}
	return -EINVAL;
}

size_t codec_bound(struct codec c, size_t len)
{
	switch (c.id) {
	case CODEC_NONE:
		return len;
	case CODEC_LZ4:
		/* LZ4_COMPRESSBOUND, computed in size_t so it cannot wrap. */
		return len + len / 255 + 16;
	case CODEC_ZSTD:
		return ZSTD_compressBound(len);
	}
	return len;
}

/* ---- compression ---- */

static int none_compress(const void *in, size_t len, void *out, size_t cap, size_t *out_len)
{
	if (cap < len)
		return -ENOSPC;
	if (len)
		memcpy(out, in, len);
	*out_len = len;
	return 0;
}

static int lz4_compress(const void *in, size_t len, void *out, size_t cap, size_t *out_len)
{
	int n;

	if (len > LZ4_MAX_INPUT_SIZE)
		return -EINVAL;
	if (cap > INT_MAX)
		cap = INT_MAX;
	n = LZ4_compress_default(in, out, (int)len, (int)cap);
	if (n <= 0)
		return -ENOSPC;
	*out_len = (size_t)n;
	return 0;
}

static int zstd_compress(int level, const void *in, size_t len, void *out, size_t cap,
			 size_t *out_len)
{
	size_t n = ZSTD_compressCCtx(tls_cctx(), out, cap, in, len, level);

	tls_cctx_trim();
	if (ZSTD_isError(n)) {
		if (ZSTD_getErrorCode(n) == ZSTD_error_dstSize_tooSmall)
			return -ENOSPC;
		log_error("codec: zstd level %d failed on %zu bytes: %s", level, len,
			  ZSTD_getErrorName(n));
		return -EIO;
	}
	*out_len = n;
	return 0;
}

int codec_compress(struct codec c, const void *in, size_t len, void *out, size_t cap,
		   size_t *out_len)
{
	if (codec_check(c))
		return -EINVAL;
	switch (c.id) {
	case CODEC_NONE:
		return none_compress(in, len, out, cap, out_len);
	case CODEC_LZ4:
		return lz4_compress(in, len, out, cap, out_len);
	case CODEC_ZSTD:
		return zstd_compress(c.level, in, len, out, cap, out_len);
	}
	return -EINVAL;
}

/* ---- decompression ---- */

static int none_decompress(const void *in, size_t len, void *out, size_t raw_len)
{
	if (len != raw_len)
		return -EBADMSG;
	if (len)
		memcpy(out, in, len);
	return 0;
}

static int lz4_decompress(const void *in, size_t len, void *out, size_t raw_len)
{
	int n;

	if (len > INT_MAX || raw_len > INT_MAX)
		return -EBADMSG;
	n = LZ4_decompress_safe(in, out, (int)len, (int)raw_len);
	if (n < 0 || (size_t)n != raw_len)
		return -EBADMSG;
	return 0;
}

static int zstd_decompress(const void *in, size_t len, void *out, size_t raw_len)
{
	size_t n = ZSTD_decompressDCtx(tls_dctx(), out, raw_len, in, len);

	if (ZSTD_isError(n) || n != raw_len)
		return -EBADMSG;
	return 0;
}

int codec_decompress(enum codec_id id, const void *in, size_t len, void *out, size_t raw_len)
{
	uint8_t dummy[1] = { 0 };

	/* An empty buffer may come as NULL; the libraries want a pointer. */
	if (!out && !raw_len)
		out = dummy;
	if (!in && !len)
		in = dummy;
	switch (id) {
	case CODEC_NONE:
		return none_decompress(in, len, out, raw_len);
	case CODEC_LZ4:
		return lz4_decompress(in, len, out, raw_len);
	case CODEC_ZSTD:
		return zstd_decompress(in, len, out, raw_len);
	}
	return -EINVAL;
}
