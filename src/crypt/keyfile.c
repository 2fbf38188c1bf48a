/* keyfile.c -- the data key and its password-wrapped form (see keyfile.h).
 *
 * bucketfs.key is a fixed 120-byte object:
 *
 *   offset  0  magic "BFSKEY\0\0"
 *           8  version u32 (1)
 *          12  kdf u32 (1 = Argon2id v1.3)
 *          16  opslimit u64
 *          24  memlimit u64
 *          32  salt[16]                      -- end of the header (the AD)
 *          48  nonce[24] | ciphertext[32] | tag[16]
 *
 * The key-encryption key is Argon2id(password, salt, opslimit, memlimit);
 * it seals the data key with the header as associated data.  The KDF
 * parameters are read from a file anyone with bucket access could have
 * edited, so they are bounds-checked before Argon2id sees them: a corrupt
 * memlimit must not make us try to allocate a terabyte. */
#include "crypt/keyfile.h"

#include <errno.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util/coding.h"
#include "util/log.h"

#define KEYFILE_MAGIC "BFSKEY\0\0"
#define KEYFILE_MAGIC_BYTES 8
#define KEYFILE_VERSION 1
#define KEYFILE_KDF_ARGON2ID13 1
#define KEYFILE_SALT_BYTES crypto_pwhash_argon2id_SALTBYTES
#define KEYFILE_HEADER_BYTES (KEYFILE_MAGIC_BYTES + 4 + 4 + 8 + 8 + KEYFILE_SALT_BYTES)
#define KEYFILE_WRAPPED_BYTES (CRYPT_KEY_BYTES + CRYPT_SEAL_OVERHEAD)
#define KEYFILE_BYTES (KEYFILE_HEADER_BYTES + KEYFILE_WRAPPED_BYTES)

/* Sane upper bounds, well below what libsodium allows: a key file asking
 * for more is corrupt, not paranoid (SENSITIVE is 4 passes, 1 GiB). */
#define KEYFILE_OPSLIMIT_MAX 32ull
#define KEYFILE_MEMLIMIT_MAX (4ull << 30)

_Static_assert(KEYFILE_SALT_BYTES == 16, "bucketfs.key has a 16-byte salt");
_Static_assert(KEYFILE_BYTES == 120, "bucketfs.key is 120 bytes");

void keyfile_params_default(struct keyfile_params *p)
{
	p->opslimit = crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE;
	p->memlimit = crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE;
}

void keyfile_params_fast(struct keyfile_params *p)
{
	p->opslimit = crypto_pwhash_argon2id_OPSLIMIT_MIN;
	p->memlimit = crypto_pwhash_argon2id_MEMLIMIT_MIN;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static uint64_t opslimit_max(void)
{
	return min_u64(KEYFILE_OPSLIMIT_MAX, crypto_pwhash_argon2id_OPSLIMIT_MAX);
}

static uint64_t memlimit_max(void)
{
	return min_u64(KEYFILE_MEMLIMIT_MAX, crypto_pwhash_argon2id_MEMLIMIT_MAX);
}

static bool params_ok(const struct keyfile_params *p)
{
	return p->opslimit >= crypto_pwhash_argon2id_OPSLIMIT_MIN &&
	       p->opslimit <= opslimit_max() &&
	       p->memlimit >= crypto_pwhash_argon2id_MEMLIMIT_MIN &&
	       p->memlimit <= memlimit_max();
}

/* Explain out-of-range parameters, found in a file or asked for by a caller. */
static void params_log(const objstore *st, const struct keyfile_params *p, bool requested)
{
	log_error(KEYFILE_OBJECT " in %s: %s Argon2id parameters out of range: opslimit=%llu "
		  "memlimit=%llu (allowed: opslimit %llu..%llu, memlimit %llu..%llu bytes)",
		  objstore_url(st), requested ? "requested" : "stored",
		  (unsigned long long)p->opslimit, (unsigned long long)p->memlimit,
		  (unsigned long long)crypto_pwhash_argon2id_OPSLIMIT_MIN,
		  (unsigned long long)opslimit_max(),
		  (unsigned long long)crypto_pwhash_argon2id_MEMLIMIT_MIN,
		  (unsigned long long)memlimit_max());
}

/* ---- the header ---- */

static void header_encode(const struct keyfile_params *p, const uint8_t *salt, uint8_t *out)
{
	memcpy(out, KEYFILE_MAGIC, KEYFILE_MAGIC_BYTES);
	be32_put(out + 8, KEYFILE_VERSION);
	be32_put(out + 12, KEYFILE_KDF_ARGON2ID13);
	be64_put(out + 16, p->opslimit);
	be64_put(out + 24, p->memlimit);
	memcpy(out + 32, salt, KEYFILE_SALT_BYTES);
}

/* Check a stored key file; on success p and salt describe its KDF. */
static int header_decode(const objstore *st, const uint8_t *data, size_t len,
			 struct keyfile_params *p, const uint8_t **salt)
{
	struct rd r = rd_make(data, len);
	const char *url = objstore_url(st);
	const uint8_t *magic;
	uint32_t version, kdf;

	if (len != KEYFILE_BYTES) {
		log_error(KEYFILE_OBJECT " in %s: %zu bytes, expected %zu: not a bucketfs "
			  "key file, or a damaged one", url, len, (size_t)KEYFILE_BYTES);
		return -EPROTO;
	}
	magic = rd_raw(&r, KEYFILE_MAGIC_BYTES);
	version = rd_be32(&r);
	kdf = rd_be32(&r);
	p->opslimit = rd_be64(&r);
	p->memlimit = rd_be64(&r);
	*salt = rd_raw(&r, KEYFILE_SALT_BYTES);
	if (r.err || memcmp(magic, KEYFILE_MAGIC, KEYFILE_MAGIC_BYTES)) {
		log_error(KEYFILE_OBJECT " in %s: bad magic: not a bucketfs key file", url);
		return -EPROTO;
	}
	if (version != KEYFILE_VERSION) {
		log_error(KEYFILE_OBJECT " in %s: unknown format version %u (this build "
			  "reads version %d)", url, version, KEYFILE_VERSION);
		return -EPROTO;
	}
	if (kdf != KEYFILE_KDF_ARGON2ID13) {
		log_error(KEYFILE_OBJECT " in %s: unknown key derivation function %u",
			  url, kdf);
		return -EPROTO;
	}
	if (!params_ok(p)) {
		params_log(st, p, false);
		return -EPROTO;
	}
	return 0;
}

/* ---- wrapping ---- */

static int derive_kek(const char *password, const uint8_t *salt,
		      const struct keyfile_params *p, uint8_t kek[CRYPT_KEY_BYTES])
{
	if (crypto_pwhash(kek, CRYPT_KEY_BYTES, password, strlen(password), salt,
			  p->opslimit, (size_t)p->memlimit, crypto_pwhash_ALG_ARGON2ID13)) {
		log_error("Argon2id failed (opslimit=%llu memlimit=%llu): out of memory?",
			  (unsigned long long)p->opslimit, (unsigned long long)p->memlimit);
		return -ENOMEM;
	}
	return 0;
}

/* Build a key file for key under password, with a fresh salt and nonce. */
static int wrap(const char *password, const struct keyfile_params *p,
		const uint8_t key[CRYPT_KEY_BYTES], uint8_t file[KEYFILE_BYTES])
{
	uint8_t salt[KEYFILE_SALT_BYTES];
	uint8_t kek[CRYPT_KEY_BYTES];
	int rc;

	crypt_random(salt, sizeof(salt));
	header_encode(p, salt, file);
	rc = derive_kek(password, salt, p, kek);
	if (rc)
		goto out;
	crypt_seal(kek, file, KEYFILE_HEADER_BYTES, key, CRYPT_KEY_BYTES,
		   file + KEYFILE_HEADER_BYTES);
out:
	crypt_wipe(kek, sizeof(kek));
	return rc;
}

static int unwrap(const objstore *st, const char *password, const uint8_t *file,
		  size_t len, uint8_t key[CRYPT_KEY_BYTES])
{
	struct keyfile_params p;
	uint8_t kek[CRYPT_KEY_BYTES];
	const uint8_t *salt;
	int rc;

	rc = header_decode(st, file, len, &p, &salt);
	if (rc)
		return rc;
	rc = derive_kek(password, salt, &p, kek);
	if (rc)
		goto out;
	if (crypt_open(kek, file, KEYFILE_HEADER_BYTES, file + KEYFILE_HEADER_BYTES,
		       KEYFILE_WRAPPED_BYTES, key)) {
		log_error(KEYFILE_OBJECT " in %s: wrong password (or the key file was altered)",
			  objstore_url(st));
		rc = -EKEYREJECTED;
	}
out:
	crypt_wipe(kek, sizeof(kek));
	return rc;
}

/* Resolve NULL to the defaults and reject parameters we would not load. */
static int params_pick(const objstore *st, const struct keyfile_params *p,
		       struct keyfile_params *out)
{
	if (!p) {
		keyfile_params_default(out);
		return 0;
	}
	if (!params_ok(p)) {
		params_log(st, p, true);
		return -EINVAL;
	}
	*out = *p;
	return 0;
}

/* Wrap key and store it: put_if_absent for a new file, put to replace. */
static int store(objstore *st, const char *password, const struct keyfile_params *p,
		 const uint8_t key[CRYPT_KEY_BYTES], bool create)
{
	uint8_t file[KEYFILE_BYTES];
	int rc;

	rc = wrap(password, p, key, file);
	if (rc)
		return rc;
	if (create)
		return objstore_put_if_absent(st, KEYFILE_OBJECT, file, sizeof(file));
	return objstore_put(st, KEYFILE_OBJECT, file, sizeof(file));
}

/* ---- the API ---- */

int keyfile_create(objstore *st, const char *password, const struct keyfile_params *p,
		   uint8_t key[CRYPT_KEY_BYTES])
{
	struct keyfile_params params;
	int rc;

	if (!password)
		return -EINVAL;
	rc = crypt_init();
	if (rc)
		return rc;
	rc = params_pick(st, p, &params);
	if (rc)
		return rc;
	crypt_random(key, CRYPT_KEY_BYTES);
	rc = store(st, password, &params, key, true);
	if (rc)
		crypt_wipe(key, CRYPT_KEY_BYTES);
	return rc;
}

int keyfile_load(objstore *st, const char *password, uint8_t key[CRYPT_KEY_BYTES])
{
	void *file = NULL;
	size_t len = 0;
	int rc;

	if (!password)
		return -EINVAL;
	rc = crypt_init();
	if (rc)
		return rc;
	rc = objstore_get(st, KEYFILE_OBJECT, 0, OBJSTORE_GET_TO_END, &file, &len);
	if (rc)
		goto out;
	rc = unwrap(st, password, file, len, key);
out:
	if (rc)
		crypt_wipe(key, CRYPT_KEY_BYTES);
	free(file);
	return rc;
}

int keyfile_change_password(objstore *st, const char *old_password,
			    const char *new_password, const struct keyfile_params *p)
{
	struct keyfile_params params;
	uint8_t key[CRYPT_KEY_BYTES];
	int rc;

	if (!new_password)
		return -EINVAL;
	rc = params_pick(st, p, &params);
	if (rc)
		return rc;
	rc = keyfile_load(st, old_password, key);
	if (rc)
		goto out;
	rc = store(st, new_password, &params, key, false);
out:
	crypt_wipe(key, sizeof(key));
	return rc;
}
