/* iter.c -- merging iterator (see iter.h).
 *
 * A linear scan picks the smallest key among the children at each step:
 * a tree has at most a few memtables, a few L0 files and one child per
 * level, so a heap would not pay for itself. */
#include "lsm/iter.h"

#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "util/mem.h"

enum child_type { CHILD_MEM, CHILD_TABLE, CHILD_LEVEL };

struct child {
	enum child_type type;
	struct memtable_iter mi;
	struct sst_iter *si;
	/* CHILD_LEVEL */
	struct sst_file *const *files;
	size_t nfiles, fi;
	const struct sst_env *env;
	int status;
	/* The current entry, cached for the merge. */
	bool valid;
	enum lsm_kind kind;
	const uint8_t *key, *val;
	size_t klen, vlen;
};

struct merge_iter {
	struct child *c;
	size_t n, cap;
	ssize_t cur;  /* child holding the current entry, -1 if none */
	int status;
};

struct merge_iter *merge_iter_new(void)
{
	struct merge_iter *mi = xcalloc(1, sizeof *mi);
	mi->cur = -1;
	return mi;
}

void merge_iter_free(struct merge_iter *mi)
{
	if (!mi)
		return;
	for (size_t i = 0; i < mi->n; i++)
		sst_iter_free(mi->c[i].si);
	free(mi->c);
	free(mi);
}

static struct child *add_child(struct merge_iter *mi, enum child_type type)
{
	if (mi->n == mi->cap) {
		mi->cap = mi->cap ? mi->cap * 2 : 8;
		mi->c = xrealloc(mi->c, mi->cap * sizeof *mi->c);
	}
	struct child *c = &mi->c[mi->n++];
	memset(c, 0, sizeof *c);
	c->type = type;
	return c;
}

void merge_add_memtable(struct merge_iter *mi, struct memtable *mt, uint64_t snap)
{
	struct child *c = add_child(mi, CHILD_MEM);
	memtable_iter_init(&c->mi, mt, snap);
}

void merge_add_table(struct merge_iter *mi, struct sst_table *t)
{
	struct child *c = add_child(mi, CHILD_TABLE);
	c->si = sst_iter_new(t);
}

void merge_add_level(struct merge_iter *mi, struct sst_file *const *files, size_t n,
		     const struct sst_env *env)
{
	struct child *c = add_child(mi, CHILD_LEVEL);
	c->files = files;
	c->nfiles = n;
	c->fi = n;
	c->env = env;
}

/* Refresh the cached entry from the underlying iterator. */
static void child_load(struct child *c)
{
	c->valid = false;
	if (c->type == CHILD_MEM) {
		if (memtable_iter_valid(&c->mi)) {
			memtable_iter_entry(&c->mi, &c->key, &c->klen, &c->kind, &c->val, &c->vlen,
					    NULL);
			c->valid = true;
		}
		return;
	}
	if (!c->si)
		return;
	if (sst_iter_valid(c->si)) {
		sst_iter_entry(c->si, &c->kind, &c->key, &c->klen, &c->val, &c->vlen);
		c->valid = true;
	} else if (sst_iter_status(c->si)) {
		c->status = sst_iter_status(c->si);
	}
}

/* CHILD_LEVEL: open file fi and position per (key or first). */
static void level_open(struct child *c, size_t fi, const void *key, size_t klen)
{
	sst_iter_free(c->si);
	c->si = NULL;
	c->fi = fi;
	while (c->fi < c->nfiles) {
		struct sst_table *t;
		int r = sst_file_table(c->files[c->fi], c->env, &t);
		if (r < 0) {
			c->status = r;
			return;
		}
		c->si = sst_iter_new(t);
		if (key)
			sst_iter_seek(c->si, key, klen);
		else
			sst_iter_first(c->si);
		if (sst_iter_valid(c->si) || sst_iter_status(c->si))
			return;
		sst_iter_free(c->si);
		c->si = NULL;
		c->fi++;
		key = NULL;
	}
}

static void child_seek(struct child *c, const void *key, size_t klen)
{
	switch (c->type) {
	case CHILD_MEM:
		if (key)
			memtable_iter_seek(&c->mi, key, klen);
		else
			memtable_iter_first(&c->mi);
		break;
	case CHILD_TABLE:
		if (key)
			sst_iter_seek(c->si, key, klen);
		else
			sst_iter_first(c->si);
		break;
	case CHILD_LEVEL: {
		size_t fi = 0;
		if (key) {
			while (fi < c->nfiles &&
			       lsm_key_cmp(c->files[fi]->largest.data, c->files[fi]->largest.len,
					   key, klen) < 0)
				fi++;
		}
		level_open(c, fi, key, klen);
		break;
	}
	}
	child_load(c);
}

static void child_next(struct child *c)
{
	switch (c->type) {
	case CHILD_MEM:
		memtable_iter_next(&c->mi);
		break;
	case CHILD_TABLE:
		sst_iter_next(c->si);
		break;
	case CHILD_LEVEL:
		sst_iter_next(c->si);
		if (!sst_iter_valid(c->si) && !sst_iter_status(c->si))
			level_open(c, c->fi + 1, NULL, 0);
		break;
	}
	child_load(c);
}

static void pick(struct merge_iter *mi)
{
	mi->cur = -1;
	for (size_t i = 0; i < mi->n; i++) {
		struct child *c = &mi->c[i];
		if (c->status) {
			mi->status = c->status;
			mi->cur = -1;
			return;
		}
		if (!c->valid)
			continue;
		/* Strictly smaller only: on a tie the earlier (newer) child wins. */
		if (mi->cur < 0 || lsm_key_cmp(c->key, c->klen, mi->c[mi->cur].key,
					       mi->c[mi->cur].klen) < 0)
			mi->cur = (ssize_t)i;
	}
}

void merge_seek(struct merge_iter *mi, const void *key, size_t klen)
{
	for (size_t i = 0; i < mi->n; i++)
		child_seek(&mi->c[i], key, klen);
	pick(mi);
}

void merge_first(struct merge_iter *mi)
{
	merge_seek(mi, NULL, 0);
}

bool merge_valid(const struct merge_iter *mi)
{
	return mi->cur >= 0 && !mi->status;
}

void merge_next(struct merge_iter *mi)
{
	struct child *cur = &mi->c[mi->cur];
	/* Skip the shadowed versions first: cur's key bytes stay valid until
	 * cur itself moves. */
	for (size_t i = 0; i < mi->n; i++) {
		struct child *c = &mi->c[i];
		if (c != cur && c->valid && c->klen == cur->klen &&
		    memcmp(c->key, cur->key, c->klen) == 0)
			child_next(c);
	}
	child_next(cur);
	pick(mi);
}

void merge_entry(const struct merge_iter *mi, enum lsm_kind *kind, const uint8_t **key,
		 size_t *klen, const uint8_t **val, size_t *vlen)
{
	const struct child *c = &mi->c[mi->cur];
	*kind = c->kind;
	*key = c->key;
	*klen = c->klen;
	*val = c->val;
	*vlen = c->vlen;
}

int merge_status(const struct merge_iter *mi)
{
	return mi->status;
}
