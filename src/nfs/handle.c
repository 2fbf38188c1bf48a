/* handle.c -- NFS file handles: who a handle names, and proof that this
 * server made it.
 *
 * Format (36 bytes, big-endian):
 *   [0]      version (1)
 *   [1..3]   zero
 *   [4..11]  fsid (fs_fsid)
 *   [12..19] inode number
 *   [20..27] generation (with the inode number: unique forever)
 *   [28..35] HMAC-SHA256 of bytes 0..27, truncated to 8 bytes, keyed by
 *            fs_handle_key (derived from the data key)
 * A handle of another length or version, or whose MAC does not verify, is
 * BADHANDLE: nobody without the data key can make one up (2^-64 per guess).
 * Another fsid is STALE (a handle of another filesystem, whose key we do
 * not know).  The inode and generation are checked by the caller against
 * the core (fs_getattr_handle): a deleted inode is STALE. */
#include "nfs/nfs_int.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>

#include "util/coding.h"

#define FH_VERSION 1
#define FH_BODY 28
#define FH_MAC 8

static void mac(const struct nfs_handles *h, const uint8_t *body, uint8_t out[FH_MAC])
{
	uint8_t full[crypto_auth_hmacsha256_BYTES];
	crypto_auth_hmacsha256(full, body, FH_BODY, h->key);
	memcpy(out, full, FH_MAC);
}

void nfs_handle_make(const struct nfs_handles *h, uint64_t ino, uint64_t gen,
		     struct nfs_fh *out)
{
	memset(out, 0, sizeof *out);
	out->len = NFS_FH_BYTES;
	out->data[0] = FH_VERSION;
	be64_put(out->data + 4, h->fsid);
	be64_put(out->data + 12, ino);
	be64_put(out->data + 20, gen);
	mac(h, out->data, out->data + FH_BODY);
}

int nfs_handle_parse(const struct nfs_handles *h, const struct nfs_fh *fh, uint64_t *ino,
		     uint64_t *gen)
{
	if (fh->len != NFS_FH_BYTES || fh->data[0] != FH_VERSION || fh->data[1] || fh->data[2] ||
	    fh->data[3])
		return -EBADF;
	if (be64_get(fh->data + 4) != h->fsid)
		return -ESTALE;
	uint8_t want[FH_MAC];
	mac(h, fh->data, want);
	if (sodium_memcmp(want, fh->data + FH_BODY, FH_MAC) != 0)
		return -EBADF;
	*ino = be64_get(fh->data + 12);
	*gen = be64_get(fh->data + 20);
	return 0;
}
