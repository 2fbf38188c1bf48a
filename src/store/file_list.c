/* file_list.c -- listing for the file:// backend: an ordered walk of only
 * the directories that can hold keys of the page.
 *
 * The prefix splits at its last '/' into a directory ("segments/0/12/")
 * and a name prefix ("3"): the walk starts in that directory and looks at
 * its entries starting with the name prefix; every key below a matching
 * subdirectory has the prefix.
 *
 * Byte order of keys is kept by sorting a directory's entries on the name
 * for files and on the name plus '/' for subdirectories: all keys below
 * subdirectory "x" start with "x/", no other entry's name does, so they
 * form one contiguous run that sorts exactly where "x/" sorts ("x-1" <
 * "x/..." < "x0").  Entries wholly at or before start_after are dropped
 * before sorting, and only the entries the page can still use are ordered
 * (a selection, then a sort of those), so paging through a directory of n
 * objects costs about one readdir of it per page, not a sort of it. */
#include "store/file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/log.h"
#include "util/mem.h"

struct walk {
	struct file_store *fs;
	const char *prefix;       /* of the listing, for messages */
	const char *after;        /* "" = from the start */
	size_t want;              /* entries to collect: max_keys + 1 */
	struct objstore_listing *out;
	size_t cap;
	char path[OBJSTORE_KEY_MAX + 2]; /* the current directory's key prefix */
	size_t plen;
};

/* A directory entry that may hold keys of the page. */
struct cand {
	const char *name; /* sort key: the name, plus '/' for a directory */
	size_t off;       /* of name in the names buffer while collecting */
	bool dir;
};

static int walk_dir(struct walk *w, const char *name_prefix);

static int cand_cmp(const void *a, const void *b)
{
	return strcmp(((const struct cand *)a)->name, ((const struct cand *)b)->name);
}

static void cand_swap(struct cand *c, size_t i, size_t j)
{
	struct cand t = c[i];

	c[i] = c[j];
	c[j] = t;
}

/* Reorder c so that c[0..k) are its k smallest entries (in any order). */
static void select_smallest(struct cand *c, size_t n, size_t k)
{
	size_t lo = 0, hi = n;

	while (hi - lo > 1) {
		size_t i, store = lo;
		cand_swap(c, lo + (hi - lo) / 2, hi - 1);
		for (i = lo; i < hi - 1; i++)
			if (strcmp(c[i].name, c[hi - 1].name) < 0)
				cand_swap(c, i, store++);
		cand_swap(c, store, hi - 1);
		if (store == k)
			return;
		if (store < k)
			lo = store + 1;
		else
			hi = store;
	}
}

/* Could the entry (file `key`, or directory whose keys start with `key`,
 * which ends in '/') hold a key after w->after? */
static bool after_start(const struct walk *w, const char *key, size_t len, bool dir)
{
	if (!*w->after || strcmp(key, w->after) > 0)
		return true;
	return dir && !strncmp(w->after, key, len);
}

static void emit(struct walk *w, const char *name, uint64_t size)
{
	struct objstore_listing *out = w->out;

	if (out->count == w->cap) {
		w->cap = w->cap ? w->cap * 2 : 64;
		out->entries = xrealloc(out->entries, w->cap * sizeof out->entries[0]);
	}
	out->entries[out->count].key = xasprintf("%.*s%s", (int)w->plen, w->path, name);
	out->entries[out->count].size = size;
	out->count++;
}

/* Is the entry a regular file or a directory (which is *dir)? */
static bool entry_kind(int dfd, const struct dirent *de, bool *dir)
{
	struct stat st;

	if (de->d_type == DT_REG || de->d_type == DT_DIR) {
		*dir = de->d_type == DT_DIR;
		return true;
	}
	if (de->d_type != DT_UNKNOWN ||
	    fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW))
		return false;
	*dir = S_ISDIR(st.st_mode);
	return *dir || S_ISREG(st.st_mode);
}

/* Is the directory entry a candidate?  Then its sort key is left in
 * w->path after the current prefix, and its length in *len. */
static bool wanted(struct walk *w, DIR *d, const struct dirent *de,
		   const char *name_prefix, size_t *len, bool *dir)
{
	const char *name = de->d_name;

	*len = strlen(name);
	if (!strcmp(name, ".") || !strcmp(name, "..") ||
	    strncmp(name, name_prefix, strlen(name_prefix)) ||
	    (w->plen == 0 && !strcmp(name, FILE_TMP_DIR)) ||
	    w->plen + *len + 1 > OBJSTORE_KEY_MAX ||
	    !entry_kind(dirfd(d), de, dir))
		return false;
	memcpy(w->path + w->plen, name, *len);
	if (*dir)
		w->path[w->plen + (*len)++] = '/';
	w->path[w->plen + *len] = '\0';
	return after_start(w, w->path, w->plen + *len, *dir);
}

/* Read the entries of d that start with name_prefix and can hold keys
 * after w->after into *c (count *n), their names into names.  Returns 0
 * or the errno of a failed readdir. */
static int collect(struct walk *w, DIR *d, const char *name_prefix,
		   struct cand **c, size_t *n, struct buf *names)
{
	size_t cap = 0, len;
	struct dirent *de;
	int e = 0;
	bool dir;

	*n = 0;
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (!de) {
			e = errno;
			break;
		}
		if (!wanted(w, d, de, name_prefix, &len, &dir))
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			*c = xrealloc(*c, cap * sizeof **c);
		}
		(*c)[*n].off = names->len;
		(*c)[*n].dir = dir;
		buf_append(names, w->path + w->plen, len + 1);
		(*n)++;
	}
	w->path[w->plen] = '\0';
	return e;
}

/* Emit a file's key, or walk a subdirectory. */
static int visit(struct walk *w, int dfd, const struct cand *c)
{
	size_t len = strlen(c->name);
	struct stat st;
	int rc;

	if (!c->dir) {
		if (fstatat(dfd, c->name, &st, 0) == 0 && S_ISREG(st.st_mode))
			emit(w, c->name, (uint64_t)st.st_size);
		return 0; /* a file deleted meanwhile is simply not listed */
	}
	memcpy(w->path + w->plen, c->name, len + 1);
	w->plen += len;
	rc = walk_dir(w, "");
	w->plen -= len;
	w->path[w->plen] = '\0';
	return rc;
}

/* Visit candidates in order until the page is full: first the few the page
 * can use at most, and only if empty directories leave it short, the rest. */
static int visit_in_order(struct walk *w, int dfd, struct cand *c, size_t n)
{
	size_t k = w->want - w->out->count, i;
	int rc;

	if (n == 0)
		return 0;
	if (n > k) {
		select_smallest(c, n, k);
		qsort(c, k, sizeof *c, cand_cmp);
	} else {
		qsort(c, n, sizeof *c, cand_cmp);
		k = n;
	}
	for (i = 0; i < n && w->out->count < w->want; i++) {
		if (i == k)
			qsort(c + k, n - k, sizeof *c, cand_cmp);
		rc = visit(w, dfd, &c[i]);
		if (rc)
			return rc;
	}
	return 0;
}

static DIR *open_dir(struct walk *w, int *err)
{
	const char *path = w->plen ? w->path : ".";
	int fd = openat(w->fs->rootfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d;

	*err = 0;
	if (fd < 0) {
		*err = errno;
		return NULL;
	}
	d = fdopendir(fd);
	if (!d) {
		*err = errno;
		close(fd);
	}
	return d;
}

/* Walk the directory w->path, listing keys whose name in it starts with
 * name_prefix. */
static int walk_dir(struct walk *w, const char *name_prefix)
{
	struct buf names = BUF_INIT;
	struct cand *c = NULL;
	size_t n, i;
	int e, rc = 0;
	DIR *d = open_dir(w, &e);

	if (!d) {
		if (e == ENOENT || e == ENOTDIR)
			return 0; /* no such directory: no keys; or removed meanwhile */
		log_error("file store: list %s: open directory %s/%s: %s", w->prefix,
			  w->fs->root, w->plen ? w->path : ".", strerror(e));
		return file_store_errno(e);
	}
	e = collect(w, d, name_prefix, &c, &n, &names);
	if (e) {
		log_error("file store: list %s: read directory %s/%s: %s", w->prefix,
			  w->fs->root, w->plen ? w->path : ".", strerror(e));
		rc = file_store_errno(e);
		goto out;
	}
	for (i = 0; i < n; i++)
		c[i].name = (const char *)names.data + c[i].off;
	rc = visit_in_order(w, dirfd(d), c, n);
out:
	closedir(d);
	free(c);
	buf_free(&names);
	return rc;
}

/* Does the directory part of a prefix name a place keys can be?  Its
 * components must be valid key components outside the temp directory. */
static bool valid_dir_part(const char *prefix, size_t len)
{
	const char *comp = prefix, *end = prefix + len;

	if (len == 0)
		return true;
	while (comp < end) {
		const char *slash = memchr(comp, '/', (size_t)(end - comp));
		size_t n = (size_t)(slash - comp);
		if (n == 0 || (n == 1 && comp[0] == '.') ||
		    (n == 2 && comp[0] == '.' && comp[1] == '.'))
			return false;
		if (comp == prefix && n == strlen(FILE_TMP_DIR) &&
		    !memcmp(comp, FILE_TMP_DIR, n))
			return false;
		comp = slash + 1;
	}
	return true;
}

int file_store_list(objstore *st, const char *prefix, const char *start_after,
		    size_t max_keys, struct objstore_listing *out)
{
	struct walk w = { 0 };
	const char *slash = strrchr(prefix, '/');
	size_t dirlen = slash ? (size_t)(slash - prefix) + 1 : 0;
	int rc;

	if (!valid_dir_part(prefix, dirlen))
		return 0;
	w.fs = (struct file_store *)st;
	w.prefix = prefix;
	w.after = start_after;
	w.want = max_keys < SIZE_MAX ? max_keys + 1 : max_keys;
	w.out = out;
	memcpy(w.path, prefix, dirlen);
	w.path[dirlen] = '\0';
	w.plen = dirlen;
	rc = walk_dir(&w, prefix + dirlen);
	if (rc) {
		objstore_listing_free(out);
		return rc;
	}
	if (out->count > max_keys) {
		out->count--;
		free(out->entries[out->count].key);
		out->truncated = true;
	}
	return 0;
}
