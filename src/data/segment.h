/* segment.h -- immutable data segments and the frames inside them.
 *
 * A file's data is cut into 32 KiB extents; each non-zero extent is stored
 * as one frame, appended to the open segment:
 *
 *   frame      len u32 (bytes after this field) | sealed unit (unit.h)
 *
 * The unit's associated data binds the frame to its place: segment epoch
 * and counter, frame index, inode and extent index, so a frame moved to
 * another segment, slot or file fails authentication.  A sealed segment
 * object ends with a directory and a footer:
 *
 *   directory  sealed unit: per frame ino u64 | extent u64 | offset u64 | len u32
 *              (the reverse map that GC uses to find a frame's owner)
 *   footer     64 bytes, plaintext: magic "BFSSEG01" | version u32 | flags u32
 *              | frames u32 | reserved u32 | directory offset u64
 *              | directory length u64 | epoch u64 | counter u64 | reserved u32
 *              | crc32c u32 (of the 60 bytes before it)
 *
 * Object name: segments/<shard 2 hex>/<epoch 10 digits>/<counter 12 digits>,
 * the shard being counter % 16 so that requests spread over prefixes.
 *
 * A FrameLoc, the value of an extent key, says where a frame is:
 *   epoch u64 | counter u64 | frame index u32 | frame length u32 | offset u64
 * all big-endian, 32 bytes. */
#ifndef BUCKETFS_DATA_SEGMENT_H
#define BUCKETFS_DATA_SEGMENT_H

#include <stddef.h>
#include <stdint.h>

#include "crypt/aead.h"
#include "crypt/codec.h"
#include "util/buf.h"

#define EXTENT_BYTES 32768u
#define FRAME_LOC_BYTES 32
#define SEGMENT_FOOTER_BYTES 64
#define SEGMENT_NAME_MAX 64
#define SEGMENT_SHARDS 16

struct frame_loc {
	uint64_t epoch, counter;
	uint32_t frame;
	uint32_t len;      /* whole frame, length field included */
	uint64_t off;      /* of the frame's length field */
};

void frame_loc_encode(const struct frame_loc *loc, uint8_t out[FRAME_LOC_BYTES]);
/* -EBADMSG unless n == FRAME_LOC_BYTES and the fields are sane. */
int frame_loc_decode(const uint8_t *p, size_t n, struct frame_loc *loc);

void segment_name(uint64_t epoch, uint64_t counter, char name[SEGMENT_NAME_MAX]);
/* -EINVAL if name is not a segment object name. */
int segment_parse_name(const char *name, uint64_t *epoch, uint64_t *counter);

struct segment_dir_entry {
	uint64_t ino, ext;
	uint64_t off;
	uint32_t len;
};

/* ---- building (the open segment) ---- */
struct segment;

struct segment *segment_new(uint64_t epoch, uint64_t counter);
void segment_free(struct segment *s);
uint64_t segment_epoch(const struct segment *s);
uint64_t segment_counter(const struct segment *s);
uint32_t segment_frames(const struct segment *s);
/* Bytes so far (frames, plus directory and footer once sealed). */
size_t segment_size(const struct segment *s);
/* Seal raw (1..EXTENT_BYTES bytes) as the next frame. */
int segment_append(struct segment *s, const uint8_t key[CRYPT_KEY_BYTES], struct codec c,
		   uint64_t ino, uint64_t ext, const void *raw, size_t len, struct frame_loc *loc);
/* Append directory and footer; the segment is then immutable. */
int segment_seal(struct segment *s, const uint8_t key[CRYPT_KEY_BYTES]);
const uint8_t *segment_bytes(const struct segment *s);
/* Copy a frame out (for reads of data not yet in the store).  -ENOENT if
 * loc is not a frame of this segment. */
int segment_copy_frame(const struct segment *s, const struct frame_loc *loc, struct buf *out);

/* ---- reading ---- */
/* Authenticate and decode one frame (bytes exactly loc->len long) into raw.
 * -EBADMSG on any mismatch. */
int frame_open(const uint8_t key[CRYPT_KEY_BYTES], const struct frame_loc *loc, uint64_t ino,
	       uint64_t ext, const uint8_t *frame, size_t n, struct buf *raw);
/* Parse the footer (the object's last SEGMENT_FOOTER_BYTES). */
int segment_parse_footer(const uint8_t *footer, uint64_t object_size, uint64_t *dir_off,
			 uint64_t *dir_len, uint32_t *frames, uint64_t *epoch, uint64_t *counter);
/* Decode the directory unit. */
int segment_parse_dir(const uint8_t key[CRYPT_KEY_BYTES], uint64_t epoch, uint64_t counter,
		      const uint8_t *dir, size_t n, uint32_t frames,
		      struct segment_dir_entry **ents);

#endif
