/* bloom.c -- bloom filter build and probe (see bloom.h). */
#include "lsm/bloom.h"

#include <string.h>
#include <xxhash.h>

#define BLOOM_K 7

uint64_t bloom_hash(const void *key, size_t klen)
{
	return XXH3_64bits(key, klen);
}

void bloom_build(const uint64_t *hashes, size_t n, struct buf *out)
{
	size_t bits = n * BLOOM_BITS_PER_KEY;
	if (bits < 64)
		bits = 64;
	size_t bytes = (bits + 7) / 8;
	bits = bytes * 8;
	buf_put_u8(out, BLOOM_K);
	buf_reserve(out, bytes);
	uint8_t *arr = out->data + out->len;
	memset(arr, 0, bytes);
	for (size_t i = 0; i < n; i++) {
		uint32_t h1 = (uint32_t)hashes[i], h2 = (uint32_t)(hashes[i] >> 32) | 1;
		for (int j = 0; j < BLOOM_K; j++) {
			uint64_t bit = ((uint64_t)h1 + (uint64_t)j * h2) % bits;
			arr[bit / 8] |= (uint8_t)(1u << (bit % 8));
		}
	}
	out->len += bytes;
}

bool bloom_may_contain(const uint8_t *filter, size_t len, uint64_t hash)
{
	if (len < 2 || filter[0] == 0 || filter[0] > 30)
		return true;
	int k = filter[0];
	const uint8_t *arr = filter + 1;
	uint64_t bits = (uint64_t)(len - 1) * 8;
	uint32_t h1 = (uint32_t)hash, h2 = (uint32_t)(hash >> 32) | 1;
	for (int j = 0; j < k; j++) {
		uint64_t bit = ((uint64_t)h1 + (uint64_t)j * h2) % bits;
		if (!(arr[bit / 8] & (1u << (bit % 8))))
			return false;
	}
	return true;
}
