/* segment.h -- immutable data segments and the frames inside them.
 *
 * A file's data is cut into 32 KiB extents; each non-zero extent is stored
 * as one frame, appended to the open segment:
 *
 *   frame      len u32 (bytes after this field) | sealed unit (unit.h)
 *
 * The unit's associated data binds the frame to its place: segment epoch
 * and counter (the object's name), frame index, inode and extent index,
 * so a frame moved to another segment, slot or file fails
 * authentication.  A sealed segment object ends with a directory and a
 * footer:
 *
 *   directory  sealed unit: per frame ino u64 | extent u64 | offset u64 | len u32
 *              (the reverse map that GC uses to find a frame's owner)
 *   footer     64 bytes, plaintext: magic "BFSSEG01" | version u32 (2)
 *              | frames u32 | directory offset u64 | directory length u64
 *              | epoch u64 | counter u64 | reserved 16 bytes (zero)
 *
 * Every byte of the object is authenticated: the footer is the associated
 * data of the directory unit (with the epoch and counter the reader
 * expects, so one segment cannot stand in for another), the directory says
 * where every frame is and how long (the frames tile the bytes before it
 * exactly, each length field matching), and each frame is its own unit.
 * A reader that wants one frame by FrameLoc needs none of this: the
 * FrameLoc comes from authenticated metadata and the frame's own AD binds
 * its place.  segment_verify() checks a whole object (GC, scrubbing).
 *
 * Object name: segments/<shard 2 hex>/<epoch 10 digits>/<counter 12 digits>,
 * the shard being counter % 16 so that requests spread over prefixes.
 *
 * A FrameLoc, the value of an extent key, says where a frame is:
 *   epoch u64 | counter u64 | frame index u32 | frame length u32 | offset u64
 * all big-endian, 32 bytes. */
#ifndef BUCKETFS_DATA_SEGMENT_H
#define BUCKETFS_DATA_SEGMENT_H

#include <stdbool.h>
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

/* ---- building (the open segment) ----
 *
 * A frame is built in three steps so that the expensive ones run outside
 * the data plane's commit lock: frame_encode() compresses (anywhere; the
 * length is then known), segment_reserve() takes the next slot of that
 * length (under the commit lock: it fixes the frame index and offset the
 * associated data binds), frame_encrypt() seals the private copy for that
 * slot (anywhere), and segment_fill() copies it into place.  Until then a
 * reader of the frame waits (segment_copy_frame), and segment_seal() waits
 * until every reserved frame is filled.  The owner of a reservation must
 * fill it, whatever else fails, and must not wait for any lock before it
 * has: others may be waiting for the frame while holding theirs.
 *
 * Segments are reference counted: segment_new() returns one reference,
 * segment_ref() adds one, segment_free() drops one. */
struct segment;

struct segment *segment_new(uint64_t epoch, uint64_t counter);
void segment_ref(struct segment *s);
void segment_free(struct segment *s);
uint64_t segment_epoch(const struct segment *s);
uint64_t segment_counter(const struct segment *s);
uint32_t segment_frames(struct segment *s);
/* Bytes so far (reserved frames, plus directory and footer once sealed). */
size_t segment_size(struct segment *s);
/* frame (reset first) = length field | unit of raw (1..EXTENT_BYTES bytes)
 * with its plaintext in place; frame->len is the frame's length. */
int frame_encode(struct codec c, const void *raw, size_t len, struct buf *frame);
/* Seal a frame_encode()d frame for its slot loc, in place. */
void frame_encrypt(const uint8_t key[CRYPT_KEY_BYTES], const struct frame_loc *loc, uint64_t ino,
		   uint64_t ext, uint8_t *frame);
/* The next frame slot, frame_len bytes: sets loc.  -EINVAL if sealed. */
int segment_reserve(struct segment *s, uint64_t ino, uint64_t ext, size_t frame_len,
		    struct frame_loc *loc);
/* Copy the sealed frame (loc->len bytes) into its reserved slot. */
void segment_fill(struct segment *s, const struct frame_loc *loc, const uint8_t *frame);
/* All of the above at once: seal raw as the next frame. */
int segment_append(struct segment *s, const uint8_t key[CRYPT_KEY_BYTES], struct codec c,
		   uint64_t ino, uint64_t ext, const void *raw, size_t len, struct frame_loc *loc);
/* Wait until every reserved frame is filled, then append directory and
 * footer; the segment is then immutable. */
int segment_seal(struct segment *s, const uint8_t key[CRYPT_KEY_BYTES]);
bool segment_sealed(struct segment *s);
/* The object's bytes (sealed segments only). */
const uint8_t *segment_bytes(const struct segment *s);
/* Copy a frame out (for reads of data not yet in the store), waiting for
 * it to be filled.  -ENOENT if loc is not a frame of this segment. */
int segment_copy_frame(struct segment *s, const struct frame_loc *loc, struct buf *out);

/* ---- reading ---- */
/* Authenticate and decode one frame (bytes exactly loc->len long) into raw.
 * -EBADMSG on any mismatch. */
int frame_open(const uint8_t key[CRYPT_KEY_BYTES], const struct frame_loc *loc, uint64_t ino,
	       uint64_t ext, const uint8_t *frame, size_t n, struct buf *raw);
/* A sealed object's footer and directory, authenticated. */
struct segment_index {
	uint32_t frames;
	uint64_t dir_off, dir_len;
	struct segment_dir_entry *ents; /* frames entries, in object order */
};
#define SEGMENT_WHY_MAX 160
/* Authenticate the footer and directory of obj (n bytes: the whole object
 * named by epoch and counter) and check that the directory's frames tile
 * the bytes before it.  The frames themselves are not opened.  -EBADMSG if
 * anything is wrong (corrupt, truncated, extended, another segment's
 * bytes), -ENOTSUP for a footer of an unknown format version; either way
 * why (if not NULL) says what, without the object's name.  On success
 * free ix with segment_index_free(). */
int segment_open_index(const uint8_t key[CRYPT_KEY_BYTES], uint64_t epoch, uint64_t counter,
		       const uint8_t *obj, size_t n, struct segment_index *ix,
		       char why[SEGMENT_WHY_MAX]);
/* segment_open_index() and every frame opened: 0 means every byte of the
 * object is what its writer sealed.  ix may be NULL. */
int segment_verify(const uint8_t key[CRYPT_KEY_BYTES], uint64_t epoch, uint64_t counter,
		   const uint8_t *obj, size_t n, struct segment_index *ix,
		   char why[SEGMENT_WHY_MAX]);
void segment_index_free(struct segment_index *ix);

#endif
