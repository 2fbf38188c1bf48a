/* bloom.h -- the per-SST bloom filter that lets a point get skip an SST.
 *
 * Built from the XXH3 64-bit hash of each key; blocked: every probe of a
 * key falls in one 64-byte line.
 * Serialised form: k u8, then the bit array.  10 bits per key and k = 7
 * give about 1% false positives. */
#ifndef BUCKETFS_LSM_BLOOM_H
#define BUCKETFS_LSM_BLOOM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

#define BLOOM_BITS_PER_KEY 10

uint64_t bloom_hash(const void *key, size_t klen);
/* Append a filter over the n hashes to out. */
void bloom_build(const uint64_t *hashes, size_t n, struct buf *out);
/* A filter that does not parse (empty, bad k) says "maybe" for everything. */
bool bloom_may_contain(const uint8_t *filter, size_t len, uint64_t hash);

#endif
