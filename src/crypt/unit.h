/* unit.h -- a sealed unit: compressed, then encrypted, self-describing.
 *
 * Layout: nonce[24] || AEAD(key, nonce, ad, header || payload) where the
 * encrypted header is codec u8, raw length u32 (big-endian).  Because the
 * codec and length sit inside the ciphertext they are authenticated and
 * hidden.  If compression does not make the payload smaller the unit is
 * stored with CODEC_NONE.  Every metadata block, manifest and data frame
 * body is a unit.  Opening fails with -EBADMSG on any flipped bit, wrong
 * key, wrong associated data or bad header: never garbage. */
#ifndef BUCKETFS_CRYPT_UNIT_H
#define BUCKETFS_CRYPT_UNIT_H

#include <stddef.h>
#include <stdint.h>

#include "crypt/aead.h"
#include "crypt/codec.h"
#include "util/buf.h"

#define UNIT_HEADER_BYTES 5
#define UNIT_RAW_MAX (1u << 30)

/* Upper bound on the size of a unit holding raw_len bytes. */
size_t unit_bound(struct codec c, size_t raw_len);
/* Append the sealed unit to out (raw must not point into out).  -EINVAL if
 * raw_len > UNIT_RAW_MAX or the codec is invalid. */
int unit_seal(const uint8_t key[CRYPT_KEY_BYTES], struct codec c, const void *ad,
	      size_t adlen, const void *raw, size_t raw_len, struct buf *out);
/* Sealing in two steps, for a caller that can name the associated data
 * only once it knows how long the unit is (a data frame's place in its
 * segment): unit_encode() compresses raw and appends the unit to out with
 * its plaintext in place and the nonce and tag not yet written; it returns
 * the unit's length (> 0) or a negative errno.  unit_encrypt() then seals
 * that unit (wherever it has been copied to) in place.  unit_seal() is the
 * two in one; the bytes are the same. */
int unit_encode(struct codec c, const void *raw, size_t raw_len, struct buf *out);
void unit_encrypt(const uint8_t key[CRYPT_KEY_BYTES], const void *ad, size_t adlen,
		  uint8_t *unit, size_t unit_len);
/* Replace out's contents with the raw bytes (unit may point into out).
 * -EBADMSG as above, and out is left empty. */
int unit_open(const uint8_t key[CRYPT_KEY_BYTES], const void *ad, size_t adlen,
	      const void *unit, size_t unit_len, struct buf *out);
/* The codec a unit was sealed with (for tests and `bucketfs stat`);
 * -EBADMSG if it does not open. */
int unit_codec(const uint8_t key[CRYPT_KEY_BYTES], const void *ad, size_t adlen,
	       const void *unit, size_t unit_len, enum codec_id *codec);

#endif
