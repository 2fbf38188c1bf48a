/* file.h -- internals shared by the file:// backend's two halves (private
 * to src/store): file.c (open, put, get, head, delete) and file_list.c
 * (listing by an ordered directory walk).
 *
 * Layout under the store root: an object with key "a/b/c" is the regular
 * file root/a/b/c; directories exist only to hold objects and are removed
 * when a delete empties them.  The top-level directory ".tmp" holds puts in
 * progress and is never listed; keys under ".tmp" are refused.  Because
 * objects are files, a key cannot also be a directory of another key
 * ("a" and "a/b" cannot both exist); bucketfs's key layout never asks for
 * that. */
#ifndef BUCKETFS_STORE_FILE_H
#define BUCKETFS_STORE_FILE_H

#include "store/backend.h"

#define FILE_TMP_DIR ".tmp"

struct file_store {
	struct objstore base;
	char *root;  /* absolute path of the store directory, for messages */
	int rootfd;  /* the store directory */
	int tmpfd;   /* root/.tmp */
};

/* Map an errno to what the store returns: conditions the caller may act on
 * (no space, read-only, name too long, key conflicts with a directory) pass
 * through, everything else becomes -EIO. */
int file_store_errno(int e);

/* The ops->list of the file backend. */
int file_store_list(objstore *st, const char *prefix, const char *start_after,
		    size_t max_keys, struct objstore_listing *out);

#endif
