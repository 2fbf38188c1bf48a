/* keyfile.h -- the data key and its password-wrapped form, bucketfs.key.
 *
 * A filesystem has one random 256-bit data key, made at creation and never
 * changed.  It is stored wrapped: Argon2id(password, salt, opslimit,
 * memlimit) gives a key-encryption key that seals the data key with
 * XChaCha20-Poly1305, the plaintext header (magic, format version, KDF
 * parameters, salt) being the associated data, so no parameter can be
 * altered unnoticed.  Changing the password re-wraps the same data key: no
 * data is rewritten.
 *
 * Object layout of bucketfs.key (all integers big-endian):
 *   magic "BFSKEY\0\0" | version u32 (=1) | kdf u32 (1 = Argon2id13)
 *   | opslimit u64 | memlimit u64 | salt[16] | nonce[24] | sealed key[32+16]
 */
#ifndef BUCKETFS_CRYPT_KEYFILE_H
#define BUCKETFS_CRYPT_KEYFILE_H

#include <stddef.h>
#include <stdint.h>

#include "crypt/aead.h"
#include "store/objstore.h"

#define KEYFILE_OBJECT "bucketfs.key"

struct keyfile_params {
	uint64_t opslimit;
	uint64_t memlimit; /* bytes */
};

/* Argon2id "interactive" limits (64 MiB, 2 passes): about 0.1-0.3 s here. */
void keyfile_params_default(struct keyfile_params *p);
/* The minimum libsodium allows; for tests only. */
void keyfile_params_fast(struct keyfile_params *p);

/* Make a new random data key and store it wrapped under `password` with
 * put_if_absent.  -EEXIST if the store already has a key file.  p NULL means
 * keyfile_params_default; parameters outside what keyfile_load accepts
 * (libsodium's limits, at most 32 passes and 4 GiB) are -EINVAL. */
int keyfile_create(objstore *st, const char *password, const struct keyfile_params *p,
		   uint8_t key[CRYPT_KEY_BYTES]);
/* Unwrap the data key.  -ENOENT: no key file (not a bucketfs store);
 * -EKEYREJECTED: wrong password (or a key file altered after it was
 * written: the two cannot be told apart, and the message says so);
 * -EPROTO: not a key file or an unknown format version (logged). */
int keyfile_load(objstore *st, const char *password, uint8_t key[CRYPT_KEY_BYTES]);
/* Re-wrap the data key under new_password (same key, new salt and nonce).
 * Errors as keyfile_load for the old password; p as for keyfile_create. */
int keyfile_change_password(objstore *st, const char *old_password,
			    const char *new_password, const struct keyfile_params *p);

#endif
