/* codec.h -- compression codecs: none, lz4, zstd (levels 1-22).
 *
 * The codec is chosen per sealed unit and recorded in it (see unit.h), so a
 * store may hold units of every codec at once and the configured codec can
 * change at any time.  Compression contexts are cached per thread. */
#ifndef BUCKETFS_CRYPT_CODEC_H
#define BUCKETFS_CRYPT_CODEC_H

#include <stddef.h>
#include <stdint.h>

enum codec_id {
	CODEC_NONE = 0,
	CODEC_LZ4 = 1,
	CODEC_ZSTD = 2,
};

struct codec {
	enum codec_id id;
	int level; /* zstd: 1-22; ignored otherwise */
};

/* "none", "lz4", "zstd" (level 3) or "zstd:N" / "zstd-N" with N in 1..22.
 * -EINVAL for anything else. */
int codec_parse(const char *spec, struct codec *out);
const char *codec_name(enum codec_id id);
/* Largest output codec_compress can produce for len input bytes. */
size_t codec_bound(struct codec c, size_t len);
/* Compress into out (cap bytes; cap >= codec_bound is always enough).
 * -EINVAL for an unknown codec, -ENOSPC if out is too small. */
int codec_compress(struct codec c, const void *in, size_t len, void *out, size_t cap,
		   size_t *out_len);
/* Decompress exactly raw_len bytes into out.  -EBADMSG if the input is
 * corrupt or does not decode to exactly raw_len bytes; -EINVAL for an
 * unknown codec id. */
int codec_decompress(enum codec_id id, const void *in, size_t len, void *out, size_t raw_len);

#endif
