/* backend.h -- what a store backend implements (private to src/store).
 *
 * objstore.c validates arguments (key length and characters, NULL
 * pointers) once and dispatches through the ops table; backends may assume
 * valid arguments. */
#ifndef BUCKETFS_STORE_BACKEND_H
#define BUCKETFS_STORE_BACKEND_H

#include "store/objstore.h"

struct objstore_ops {
	const char *name;
	int (*put)(objstore *st, const char *key, const void *data, size_t len);
	int (*put_if_absent)(objstore *st, const char *key, const void *data, size_t len);
	int (*get)(objstore *st, const char *key, uint64_t off, uint64_t len,
		   void **data, size_t *out_len);
	int (*head)(objstore *st, const char *key, struct objstore_info *info);
	int (*del)(objstore *st, const char *key);
	/* Optional: delete many keys at once (else objstore.c loops on del). */
	int (*del_many)(objstore *st, const char *const *keys, size_t n);
	int (*list)(objstore *st, const char *prefix, const char *start_after,
		    size_t max_keys, struct objstore_listing *out);
	void (*close)(objstore *st);
};

/* Every backend's handle starts with this. */
struct objstore {
	const struct objstore_ops *ops;
	char *url;
	size_t key_max;  /* longest valid key; 0 = OBJSTORE_KEY_MAX */
};

int objstore_file_open(const char *url, const char *path, objstore **out);
int objstore_memory_open(const char *url, const char *name, objstore **out);
/* s3.c: "s3://bucket/prefix" with the configuration from the environment. */
int objstore_s3_open(const char *url, const char *rest, objstore **out);

#endif
