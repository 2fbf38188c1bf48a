/* format.h -- internal constants shared by the LSM modules (private). */
#ifndef BUCKETFS_LSM_FORMAT_H
#define BUCKETFS_LSM_FORMAT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* What an entry says about its key.  A delete is a tombstone that shadows
 * older versions until compaction reaches the bottom level. */
enum lsm_kind {
	LSM_KIND_DELETE = 0,
	LSM_KIND_PUT = 1,
};

/* memcmp order, shorter first on a common prefix. */
static inline int lsm_key_cmp(const void *a, size_t alen, const void *b, size_t blen)
{
	size_t n = alen < blen ? alen : blen;
	int c = n ? memcmp(a, b, n) : 0;
	if (c)
		return c;
	return alen < blen ? -1 : alen > blen;
}

static inline int lsm_has_prefix(const void *key, size_t klen, const void *prefix, size_t plen)
{
	return klen >= plen && (plen == 0 || memcmp(key, prefix, plen) == 0);
}

#endif
