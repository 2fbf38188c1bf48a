/* fuzz-segment.c -- segment_verify (src/data/segment.c) on objects read
 * from the store, which is not trusted.
 *
 * First input byte even: the rest is the object itself (almost never
 * authentic: footer parsing and every bound before the AEAD are reached).
 * Odd: the rest is split into a directory (the frame count in the next two
 * bytes, then 28 bytes per entry) and the bytes before it, and sealed here
 * with the key the way segment.h documents (the footer as the directory's
 * associated data), so a directory that authenticates but lies about its
 * frames (overlaps, gaps, huge lengths, offsets past the end) reaches
 * frames_tile and frame_open.  Either way verify must not crash or read
 * out of bounds, and a success must mean every frame lies inside. */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypt/aead.h"
#include "crypt/unit.h"
#include "data/segment.h"
#include "util/buf.h"
#include "util/coding.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t key[CRYPT_KEY_BYTES] = { 1, 2, 3 };

static void check(const uint8_t *obj, size_t n)
{
	struct segment_index ix;
	char why[SEGMENT_WHY_MAX];
	if (segment_verify(key, 7, 9, obj, n, &ix, why) == 0) {
		uint64_t end = 0;
		for (uint32_t i = 0; i < ix.frames; i++) {
			assert(ix.ents[i].off == end);
			end += ix.ents[i].len;
		}
		assert(end == ix.dir_off && ix.dir_off + ix.dir_len + SEGMENT_FOOTER_BYTES == n);
		segment_index_free(&ix);
	}
}

static void sealed(const uint8_t *p, size_t n)
{
	if (n < 2)
		return;
	uint32_t frames = be16_get(p);
	p += 2;
	n -= 2;
	size_t dir_raw = (size_t)frames * 28;
	if (dir_raw > n)
		return;
	size_t body = n - dir_raw;
	struct buf obj = BUF_INIT;
	uint8_t f[SEGMENT_FOOTER_BYTES] = { 0 }, ad[4 + SEGMENT_FOOTER_BYTES];
	buf_append(&obj, p + dir_raw, body);
	int len = unit_encode((struct codec){ CODEC_NONE, 0 }, p, dir_raw, &obj);
	assert(len > 0);
	memcpy(f, "BFSSEG01", 8);
	be32_put(f + 8, 2);
	be32_put(f + 12, frames);
	be64_put(f + 16, body);
	be64_put(f + 24, (uint64_t)len);
	be64_put(f + 32, 7);
	be64_put(f + 40, 9);
	memcpy(ad, "dir\0", 4);
	memcpy(ad + 4, f, sizeof f);
	unit_encrypt(key, ad, sizeof ad, obj.data + body, (size_t)len);
	buf_append(&obj, f, sizeof f);
	check(obj.data, obj.len);
	buf_free(&obj);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int once;
	if (!once) {
		assert(crypt_init() == 0);
		once = 1;
	}
	if (size == 0)
		return 0;
	if (data[0] & 1) {
		sealed(data + 1, size - 1);
	} else {
		/* A copy of exactly the object's size: reads past it are caught. */
		uint8_t *obj = malloc(size - 1 ? size - 1 : 1);
		memcpy(obj, data + 1, size - 1);
		check(obj, size - 1);
		free(obj);
	}
	return 0;
}
