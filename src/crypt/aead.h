/* aead.h -- XChaCha20-Poly1305 sealing and per-domain subkeys (libsodium).
 *
 * A sealed message is nonce[24] || ciphertext || tag[16]; the nonce is
 * random per seal (192 bits: no coordination needed between writers).  The
 * associated data binds a message to its place (object, offset, inode ...)
 * so a message moved elsewhere fails to open.  Opening a message whose tag
 * does not verify is -EBADMSG and writes nothing useful to the output.
 *
 * Subkeys: the data key is never used directly.  crypt_subkey() derives an
 * independent key per domain with libsodium's KDF (BLAKE2b), so data frames
 * and metadata blocks never share a key. */
#ifndef BUCKETFS_CRYPT_AEAD_H
#define BUCKETFS_CRYPT_AEAD_H

#include <stddef.h>
#include <stdint.h>

#define CRYPT_KEY_BYTES 32
#define CRYPT_NONCE_BYTES 24
#define CRYPT_TAG_BYTES 16
#define CRYPT_SEAL_OVERHEAD (CRYPT_NONCE_BYTES + CRYPT_TAG_BYTES)

enum crypt_domain {
	CRYPT_DOMAIN_DATA = 1, /* file data frames in segments */
	CRYPT_DOMAIN_META = 2, /* LSM blocks and manifests */
	CRYPT_DOMAIN_NFS_HANDLES = 3, /* the NFS file handles' MAC (derived from the
				     data-domain subkey: data_subkey) */
};

/* Initialise libsodium; call once before anything else here (idempotent,
 * thread-safe).  -EIO if the library cannot start. */
int crypt_init(void);

void crypt_subkey(const uint8_t master[CRYPT_KEY_BYTES], enum crypt_domain domain,
		  uint8_t out[CRYPT_KEY_BYTES]);

/* out must have room for len + CRYPT_SEAL_OVERHEAD bytes.  plain may be
 * out + CRYPT_NONCE_BYTES (sealing in place); no other overlap is allowed. */
void crypt_seal(const uint8_t key[CRYPT_KEY_BYTES], const void *ad, size_t adlen,
		const void *plain, size_t len, uint8_t *out);
/* plain_out must have room for sealed_len - CRYPT_SEAL_OVERHEAD bytes.
 * -EBADMSG if sealed_len is too short or the tag does not verify.
 * plain_out may be sealed + CRYPT_NONCE_BYTES (opening in place). */
int crypt_open(const uint8_t key[CRYPT_KEY_BYTES], const void *ad, size_t adlen,
	       const uint8_t *sealed, size_t sealed_len, uint8_t *plain_out);

/* Fill with cryptographically random bytes. */
void crypt_random(void *p, size_t n);
/* Zero memory in a way the compiler cannot drop. */
void crypt_wipe(void *p, size_t n);

#endif
