/* fid.c -- a connection's fid table: fid number -> struct ninep_fid, a
 * chained hash that doubles as it fills, at most NINEP_MAX_FIDS entries
 * (so a client cannot make us hold unbounded state).  A fid lives until
 * its last reference goes: the table's (dropped by Tclunk / Tremove /
 * Tversion / the connection's end) or a running handler's. */
#include "ninep/ninep_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/mem.h"

#define FID_BUCKETS_MIN 64

static unsigned bucket_of(const struct ninep_conn *c, uint32_t fid)
{
	return (fid * 2654435761u) & (c->nbuckets - 1);
}

void fid_table_init(struct ninep_conn *c)
{
	c->nbuckets = FID_BUCKETS_MIN;
	c->buckets = xcalloc(c->nbuckets, sizeof *c->buckets);
	c->nfids = 0;
}

static void grow(struct ninep_conn *c)
{
	unsigned old = c->nbuckets;
	struct ninep_fid **ob = c->buckets;
	c->nbuckets = old * 2;
	c->buckets = xcalloc(c->nbuckets, sizeof *c->buckets);
	for (unsigned i = 0; i < old; i++) {
		struct ninep_fid *f = ob[i], *next;
		for (; f; f = next) {
			next = f->hnext;
			unsigned b = bucket_of(c, f->fid);
			f->hnext = c->buckets[b];
			c->buckets[b] = f;
		}
	}
	free(ob);
}

struct ninep_fid *fid_alloc(uint32_t fid, struct ninep_user *u, uint64_t root_ino)
{
	struct ninep_fid *f = xcalloc(1, sizeof *f);
	f->fid = fid;
	f->refs = 1;
	f->user = u;
	f->root_ino = root_ino;
	pthread_mutex_init(&f->mu, NULL);
	return f;
}

static void fid_free(struct ninep_conn *c, struct ninep_fid *f)
{
	if (f->open)
		fs_release(c->srv->fs, f->ino);
	if (f->kind != FID_PATH) {   /* xattr buffers count against the connection */
		pthread_mutex_lock(&c->mu);
		c->xattr_bytes -= f->xsize;
		pthread_mutex_unlock(&c->mu);
	}
	ninep_user_put(c->srv, f->user);
	pthread_mutex_destroy(&f->mu);
	free(f->name);
	free(f->xname);
	free(f->xbuf);
	free(f);
}

struct ninep_fid *fid_get(struct ninep_conn *c, uint32_t fid)
{
	pthread_mutex_lock(&c->mu);
	struct ninep_fid *f = c->buckets[bucket_of(c, fid)];
	while (f && f->fid != fid)
		f = f->hnext;
	if (f)
		f->refs++;
	pthread_mutex_unlock(&c->mu);
	return f;
}

void fid_put(struct ninep_conn *c, struct ninep_fid *f)
{
	if (!f)
		return;
	pthread_mutex_lock(&c->mu);
	bool last = --f->refs == 0;
	pthread_mutex_unlock(&c->mu);
	if (last)
		fid_free(c, f);
}

int fid_insert(struct ninep_conn *c, struct ninep_fid *f)
{
	pthread_mutex_lock(&c->mu);
	unsigned b = bucket_of(c, f->fid);
	struct ninep_fid *o = c->buckets[b];
	while (o && o->fid != f->fid)
		o = o->hnext;
	int r = 0;
	if (o)
		r = -EEXIST;
	else if (c->nfids >= NINEP_MAX_FIDS)
		r = -EMFILE;
	if (r == 0) {
		f->refs++;
		f->hnext = c->buckets[b];
		c->buckets[b] = f;
		if (++c->nfids > 2 * c->nbuckets)
			grow(c);
	}
	pthread_mutex_unlock(&c->mu);
	return r;
}

struct ninep_fid *fid_remove(struct ninep_conn *c, uint32_t fid)
{
	pthread_mutex_lock(&c->mu);
	struct ninep_fid **pp = &c->buckets[bucket_of(c, fid)];
	while (*pp && (*pp)->fid != fid)
		pp = &(*pp)->hnext;
	struct ninep_fid *f = *pp;
	if (f) {
		*pp = f->hnext;
		f->hnext = NULL;
		c->nfids--;
	}
	pthread_mutex_unlock(&c->mu);
	return f;
}

void fid_table_clear(struct ninep_conn *c)
{
	/* Unhook them all at once, then drop the table's references outside
	 * the lock (the last one may call into the core).  An xattr being
	 * written is dropped: only Tclunk sets it. */
	struct ninep_fid *all = NULL;
	pthread_mutex_lock(&c->mu);
	for (unsigned i = 0; i < c->nbuckets; i++) {
		while (c->buckets[i]) {
			struct ninep_fid *f = c->buckets[i];
			c->buckets[i] = f->hnext;
			f->hnext = all;
			all = f;
		}
	}
	c->nfids = 0;
	pthread_mutex_unlock(&c->mu);
	while (all) {
		struct ninep_fid *f = all;
		all = f->hnext;
		f->hnext = NULL;
		fid_put(c, f);
	}
}

void fid_set_file(struct ninep_fid *f, const struct fs_attr *a, uint64_t parent,
		  const char *name)
{
	f->ino = a->ino;
	f->gen = a->generation;
	f->mode = a->mode;
	f->parent = parent;
	free(f->name);
	f->name = name ? xstrdup(name) : NULL;
}
