/* mem.h -- allocation that never returns NULL.
 *
 * bucketfs treats running out of memory as fatal, as Redis and SQLite's
 * default configuration do: every caller of malloc would otherwise need an
 * error path that is never tested.  These wrappers print what was asked for
 * and abort. */
#ifndef BUCKETFS_UTIL_MEM_H
#define BUCKETFS_UTIL_MEM_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
void *xmemdup(const void *p, size_t n);
/* asprintf that aborts on failure. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
