/* aead.c -- XChaCha20-Poly1305 sealing and per-domain subkeys (see aead.h).
 *
 * Thin wrappers over libsodium.  A sealed message is laid out as
 * nonce || ciphertext || tag, which is libsodium's combined mode with the
 * random nonce in front.  libsodium encrypts and decrypts in place, so
 * plain may be sealed + CRYPT_NONCE_BYTES (unit.c relies on it). */
#include "crypt/aead.h"

#include <errno.h>
#include <sodium.h>

#include "util/log.h"

/* The KDF context: exactly crypto_kdf_CONTEXTBYTES (8) characters. */
static const char subkey_context[crypto_kdf_CONTEXTBYTES] = "bucketfs";

_Static_assert(CRYPT_KEY_BYTES == crypto_aead_xchacha20poly1305_ietf_KEYBYTES, "key size");
_Static_assert(CRYPT_KEY_BYTES == crypto_kdf_KEYBYTES, "kdf key size");
_Static_assert(CRYPT_NONCE_BYTES == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, "nonce");
_Static_assert(CRYPT_TAG_BYTES == crypto_aead_xchacha20poly1305_ietf_ABYTES, "tag size");

int crypt_init(void)
{
	/* sodium_init is itself thread-safe; 1 means "already done". */
	if (sodium_init() < 0) {
		log_error("crypto: libsodium failed to initialise");
		return -EIO;
	}
	return 0;
}

void crypt_subkey(const uint8_t master[CRYPT_KEY_BYTES], enum crypt_domain domain,
		  uint8_t out[CRYPT_KEY_BYTES])
{
	crypto_kdf_derive_from_key(out, CRYPT_KEY_BYTES, (uint64_t)domain,
				   subkey_context, master);
}

void crypt_seal(const uint8_t key[CRYPT_KEY_BYTES], const void *ad, size_t adlen,
		const void *plain, size_t len, uint8_t *out)
{
	uint8_t *nonce = out;

	randombytes_buf(nonce, CRYPT_NONCE_BYTES);
	crypto_aead_xchacha20poly1305_ietf_encrypt(out + CRYPT_NONCE_BYTES, NULL, plain, len,
						   ad, adlen, NULL, nonce, key);
}

int crypt_open(const uint8_t key[CRYPT_KEY_BYTES], const void *ad, size_t adlen,
	       const uint8_t *sealed, size_t sealed_len, uint8_t *plain_out)
{
	if (sealed_len < CRYPT_SEAL_OVERHEAD)
		return -EBADMSG;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(plain_out, NULL, NULL,
						       sealed + CRYPT_NONCE_BYTES,
						       sealed_len - CRYPT_NONCE_BYTES,
						       ad, adlen, sealed, key))
		return -EBADMSG;
	return 0;
}

void crypt_random(void *p, size_t n)
{
	randombytes_buf(p, n);
}

void crypt_wipe(void *p, size_t n)
{
	sodium_memzero(p, n);
}
