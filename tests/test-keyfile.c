/* test-keyfile.c -- keyfile.c: bucketfs.key create / load / change password.
 *
 * Every test uses its own memory:// store and libsodium's minimum Argon2id
 * parameters, except one round trip with the real defaults and one through
 * a file:// store.  A key file that was altered in any way must never load:
 * it is -EKEYREJECTED (tag) or -EPROTO (format, parameter bounds). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>

#include "crypt/keyfile.h"
#include "testutil.h"
#include "util/coding.h"

#define KEYFILE_SIZE 120
#define OFF_VERSION 8
#define OFF_KDF 12
#define OFF_OPSLIMIT 16
#define OFF_MEMLIMIT 24

static struct keyfile_params fast;

static int group_setup(void **state)
{
	(void)state;
	assert_int_equal(crypt_init(), 0);
	keyfile_params_fast(&fast);
	return 0;
}

/* The loops below provoke hundreds of (correct) error lines: silence
 * stderr around them.  Single cases elsewhere still show their message. */
static int saved_stderr = -1;

static void quiet_begin(void)
{
	int null = open("/dev/null", O_WRONLY);
	fflush(stderr);
	saved_stderr = dup(2);
	assert_true(null >= 0 && saved_stderr >= 0);
	dup2(null, 2);
	close(null);
}

static void quiet_end(void)
{
	fflush(stderr);
	dup2(saved_stderr, 2);
	close(saved_stderr);
	saved_stderr = -1;
}

/* A fresh, empty store per test. */
static objstore *store_new(void)
{
	static int seq;
	char *url = xasprintf("memory://test-keyfile-%d-%d", (int)getpid(), ++seq);
	objstore *st;
	assert_int_equal(objstore_open(url, &st), 0);
	free(url);
	return st;
}

static void file_get(objstore *st, uint8_t **data, size_t *len)
{
	void *p;
	assert_int_equal(objstore_get(st, KEYFILE_OBJECT, 0, OBJSTORE_GET_TO_END, &p, len), 0);
	*data = p;
}

static void file_put(objstore *st, const uint8_t *data, size_t len)
{
	assert_int_equal(objstore_put(st, KEYFILE_OBJECT, data, len), 0);
}

/* A store holding a fast key file for "secret"; its key in key. */
static objstore *store_with_key(uint8_t key[CRYPT_KEY_BYTES])
{
	objstore *st = store_new();
	assert_int_equal(keyfile_create(st, "secret", &fast, key), 0);
	return st;
}

static void test_params(void **state)
{
	struct keyfile_params p;
	(void)state;
	keyfile_params_default(&p);
	assert_int_equal(p.opslimit, 2);
	assert_int_equal(p.memlimit, 64u << 20);
	keyfile_params_fast(&p);
	assert_int_equal(p.opslimit, 1);
	assert_int_equal(p.memlimit, 8192);
}

static void test_create_then_load(void **state)
{
	uint8_t key[CRYPT_KEY_BYTES], back[CRYPT_KEY_BYTES], zero[CRYPT_KEY_BYTES] = { 0 };
	objstore *st = store_with_key(key);
	uint8_t *file;
	size_t len;
	(void)state;
	assert_memory_not_equal(key, zero, sizeof(key));
	assert_int_equal(keyfile_load(st, "secret", back), 0);
	assert_memory_equal(key, back, sizeof(key));
	file_get(st, &file, &len);
	assert_int_equal(len, KEYFILE_SIZE);
	assert_memory_equal(file, "BFSKEY\0\0", 8);
	assert_int_equal(be32_get(file + OFF_VERSION), 1);
	assert_int_equal(be32_get(file + OFF_KDF), 1);
	assert_int_equal(be64_get(file + OFF_OPSLIMIT), fast.opslimit);
	assert_int_equal(be64_get(file + OFF_MEMLIMIT), fast.memlimit);
	free(file);
	objstore_close(st);
}

static void test_create_then_load_default_params(void **state)
{
	uint8_t key[CRYPT_KEY_BYTES], back[CRYPT_KEY_BYTES];
	objstore *st = store_new();
	(void)state;
	assert_int_equal(keyfile_create(st, "correct horse", NULL, key), 0);
	assert_int_equal(keyfile_load(st, "correct horse", back), 0);
	assert_memory_equal(key, back, sizeof(key));
	objstore_close(st);
}

static void test_file_store_survives_reopen(void **state)
{
	char *dir = test_tmpdir("keyfile");
	char *url = xasprintf("file://%s/store", dir);
	uint8_t key[CRYPT_KEY_BYTES], back[CRYPT_KEY_BYTES];
	objstore *st;
	(void)state;
	assert_int_equal(objstore_open(url, &st), 0);
	assert_int_equal(keyfile_create(st, "pw", &fast, key), 0);
	objstore_close(st);
	assert_int_equal(objstore_open(url, &st), 0);
	assert_int_equal(keyfile_load(st, "pw", back), 0);
	assert_memory_equal(key, back, sizeof(key));
	objstore_close(st);
	test_rmtree(dir);
	free(url);
	free(dir);
}

static void test_two_filesystems_have_different_keys(void **state)
{
	uint8_t a[CRYPT_KEY_BYTES], b[CRYPT_KEY_BYTES];
	objstore *sa = store_with_key(a), *sb = store_with_key(b);
	(void)state;
	assert_memory_not_equal(a, b, sizeof(a));
	objstore_close(sa);
	objstore_close(sb);
}

static void test_wrong_password_is_rejected(void **state)
{
	uint8_t key[CRYPT_KEY_BYTES], back[CRYPT_KEY_BYTES];
	objstore *st = store_with_key(key);
	(void)state;
	assert_int_equal(keyfile_load(st, "Secret", back), -EKEYREJECTED);
	assert_int_equal(keyfile_load(st, "", back), -EKEYREJECTED);
	assert_int_equal(keyfile_load(st, "secret ", back), -EKEYREJECTED);
	objstore_close(st);
}

static void test_create_twice_is_eexist(void **state)
{
	uint8_t key[CRYPT_KEY_BYTES], key2[CRYPT_KEY_BYTES], back[CRYPT_KEY_BYTES];
	objstore *st = store_with_key(key);
	(void)state;
	assert_int_equal(keyfile_create(st, "other", &fast, key2), -EEXIST);
	/* The first key file is untouched. */
	assert_int_equal(keyfile_load(st, "secret", back), 0);
	assert_memory_equal(key, back, sizeof(key));
	assert_int_equal(keyfile_load(st, "other", back), -EKEYREJECTED);
	objstore_close(st);
}

static void test_missing_is_enoent(void **state)
{
	uint8_t back[CRYPT_KEY_BYTES];
	objstore *st = store_new();
	(void)state;
	assert_int_equal(keyfile_load(st, "secret", back), -ENOENT);
	assert_int_equal(keyfile_change_password(st, "secret", "new", &fast), -ENOENT);
	objstore_close(st);
}

static void test_change_password_keeps_the_key(void **state)
{
	uint8_t key[CRYPT_KEY_BYTES], back[CRYPT_KEY_BYTES];
	objstore *st = store_with_key(key);
	uint8_t *before, *after;
	size_t blen, alen;
	(void)state;
	file_get(st, &before, &blen);
	assert_int_equal(keyfile_change_password(st, "secret", "new secret", &fast), 0);
	file_get(st, &after, &alen);
	assert_int_equal(keyfile_load(st, "secret", back), -EKEYREJECTED);
	assert_int_equal(keyfile_load(st, "new secret", back), 0);
	assert_memory_equal(key, back, sizeof(key));
	/* Fresh salt and nonce, same header otherwise. */
	assert_int_equal(alen, blen);
	assert_memory_equal(before, after, 32);
	assert_memory_not_equal(before + 32, after + 32, 16);
	assert_memory_not_equal(before + 48, after + 48, 24);
	free(before);
	free(after);
	objstore_close(st);
}

static void test_change_password_to_the_same_one_rewraps(void **state)
{
	uint8_t key[CRYPT_KEY_BYTES], back[CRYPT_KEY_BYTES];
	objstore *st = store_with_key(key);
	uint8_t *before, *after;
	size_t blen, alen;
	(void)state;
	file_get(st, &before, &blen);
	assert_int_equal(keyfile_change_password(st, "secret", "secret", &fast), 0);
	file_get(st, &after, &alen);
	assert_memory_not_equal(before, after, blen);
	assert_int_equal(keyfile_load(st, "secret", back), 0);
	assert_memory_equal(key, back, sizeof(key));
	free(before);
	free(after);
	objstore_close(st);
}

static void test_change_password_with_wrong_old_fails(void **state)
{
	uint8_t key[CRYPT_KEY_BYTES], back[CRYPT_KEY_BYTES];
	objstore *st = store_with_key(key);
	uint8_t *before, *after;
	size_t blen, alen;
	(void)state;
	file_get(st, &before, &blen);
	assert_int_equal(keyfile_change_password(st, "guess", "mine now", &fast),
			 -EKEYREJECTED);
	file_get(st, &after, &alen);
	assert_int_equal(alen, blen);
	assert_memory_equal(before, after, blen);
	assert_int_equal(keyfile_load(st, "secret", back), 0);
	assert_memory_equal(key, back, sizeof(key));
	free(before);
	free(after);
	objstore_close(st);
}

static void test_change_password_changes_params(void **state)
{
	uint8_t key[CRYPT_KEY_BYTES], back[CRYPT_KEY_BYTES];
	struct keyfile_params p = { 2, 16384 };
	objstore *st = store_with_key(key);
	uint8_t *file;
	size_t len;
	(void)state;
	assert_int_equal(keyfile_change_password(st, "secret", "secret", &p), 0);
	file_get(st, &file, &len);
	assert_int_equal(be64_get(file + OFF_OPSLIMIT), 2);
	assert_int_equal(be64_get(file + OFF_MEMLIMIT), 16384);
	assert_int_equal(keyfile_load(st, "secret", back), 0);
	assert_memory_equal(key, back, sizeof(key));
	free(file);
	objstore_close(st);
}

/* Load a modified copy of file; anything but success is fine as long as it
 * is one of the two documented answers. */
static void expect_load_refused(objstore *st, const uint8_t *file, size_t len)
{
	uint8_t back[CRYPT_KEY_BYTES];
	int rc;
	file_put(st, file, len);
	rc = keyfile_load(st, "secret", back);
	if (rc != -EKEYREJECTED && rc != -EPROTO)
		fail_msg("altered key file gave %d", rc);
}

/* Flip bits in every byte.  Low bits only in memlimit: a high one would be
 * a legal 2 GiB memlimit, which the test would then really spend. */
static void test_every_altered_byte_is_refused(void **state)
{
	uint8_t key[CRYPT_KEY_BYTES];
	objstore *st = store_with_key(key);
	uint8_t *file;
	size_t len;
	(void)state;
	file_get(st, &file, &len);
	quiet_begin();
	for (size_t i = 0; i < len; i++) {
		bool in_memlimit = i >= OFF_MEMLIMIT && i < OFF_MEMLIMIT + 8;
		uint8_t masks[] = { 0x01, in_memlimit ? 0x02 : 0x80, 0xff };
		for (size_t m = 0; m < (in_memlimit ? 2u : 3u); m++) {
			file[i] ^= masks[m];
			expect_load_refused(st, file, len);
			file[i] ^= masks[m];
		}
	}
	quiet_end();
	free(file);
	objstore_close(st);
}

static void expect_eproto(objstore *st, const uint8_t *file, size_t len)
{
	uint8_t back[CRYPT_KEY_BYTES];
	file_put(st, file, len);
	assert_int_equal(keyfile_load(st, "secret", back), -EPROTO);
}

static void test_absurd_parameters_are_eproto(void **state)
{
	static const uint64_t bad_ops[] = { 0, 33, 1u << 20, UINT32_MAX, UINT64_MAX };
	static const uint64_t bad_mem[] = { 0, 8191, (4ull << 30) + 1024, 1ull << 40,
					    UINT64_MAX };
	uint8_t key[CRYPT_KEY_BYTES];
	objstore *st = store_with_key(key);
	uint8_t *file, copy[KEYFILE_SIZE];
	size_t len;
	(void)state;
	file_get(st, &file, &len);
	for (size_t i = 0; i < sizeof(bad_ops) / sizeof(bad_ops[0]); i++) {
		memcpy(copy, file, len);
		be64_put(copy + OFF_OPSLIMIT, bad_ops[i]);
		expect_eproto(st, copy, len);
	}
	for (size_t i = 0; i < sizeof(bad_mem) / sizeof(bad_mem[0]); i++) {
		memcpy(copy, file, len);
		be64_put(copy + OFF_MEMLIMIT, bad_mem[i]);
		expect_eproto(st, copy, len);
	}
	free(file);
	objstore_close(st);
}

static void test_unknown_version_or_kdf_is_eproto(void **state)
{
	uint8_t key[CRYPT_KEY_BYTES];
	objstore *st = store_with_key(key);
	uint8_t *file, copy[KEYFILE_SIZE];
	size_t len;
	(void)state;
	file_get(st, &file, &len);
	memcpy(copy, file, len);
	be32_put(copy + OFF_VERSION, 2);
	expect_eproto(st, copy, len);
	memcpy(copy, file, len);
	be32_put(copy + OFF_KDF, 2);
	expect_eproto(st, copy, len);
	memcpy(copy, file, len);
	memcpy(copy, "BFSKEZ\0\0", 8);
	expect_eproto(st, copy, len);
	free(file);
	objstore_close(st);
}

static void test_wrong_size_is_eproto(void **state)
{
	uint8_t key[CRYPT_KEY_BYTES];
	objstore *st = store_with_key(key);
	uint8_t *file, longer[KEYFILE_SIZE + 1];
	size_t len;
	(void)state;
	file_get(st, &file, &len);
	quiet_begin();
	for (size_t n = 0; n < len; n++)
		expect_eproto(st, file, n);
	quiet_end();
	memcpy(longer, file, len);
	longer[len] = 0;
	expect_eproto(st, longer, len + 1);
	free(file);
	objstore_close(st);
}

static void test_create_rejects_absurd_params(void **state)
{
	static const struct keyfile_params bad[] = {
		{ 0, 8192 }, { 33, 8192 }, { 1, 4096 }, { 1, (4ull << 30) + 1 },
	};
	uint8_t key[CRYPT_KEY_BYTES], back[CRYPT_KEY_BYTES];
	objstore *st = store_new();
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(keyfile_create(st, "pw", &bad[i], key), -EINVAL);
	assert_int_equal(keyfile_load(st, "pw", back), -ENOENT);
	assert_int_equal(keyfile_create(st, "pw", &fast, key), 0);
	assert_int_equal(keyfile_change_password(st, "pw", "pw2", &bad[0]), -EINVAL);
	assert_int_equal(keyfile_load(st, "pw", back), 0);
	objstore_close(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_params),
		cmocka_unit_test(test_create_then_load),
		cmocka_unit_test(test_create_then_load_default_params),
		cmocka_unit_test(test_file_store_survives_reopen),
		cmocka_unit_test(test_two_filesystems_have_different_keys),
		cmocka_unit_test(test_wrong_password_is_rejected),
		cmocka_unit_test(test_create_twice_is_eexist),
		cmocka_unit_test(test_missing_is_enoent),
		cmocka_unit_test(test_change_password_keeps_the_key),
		cmocka_unit_test(test_change_password_to_the_same_one_rewraps),
		cmocka_unit_test(test_change_password_with_wrong_old_fails),
		cmocka_unit_test(test_change_password_changes_params),
		cmocka_unit_test(test_every_altered_byte_is_refused),
		cmocka_unit_test(test_absurd_parameters_are_eproto),
		cmocka_unit_test(test_unknown_version_or_kdf_is_eproto),
		cmocka_unit_test(test_wrong_size_is_eproto),
		cmocka_unit_test(test_create_rejects_absurd_params),
	};
	return cmocka_run_group_tests(tests, group_setup, NULL);
}
