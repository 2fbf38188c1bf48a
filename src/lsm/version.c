/* version.c -- reference-counted files, versions and views (see version.h). */
#include "lsm/version.h"

#include <stdlib.h>
#include <string.h>

#include "lsm/format.h"
#include "util/mem.h"

struct sst_file *sst_file_new(uint64_t id, int level)
{
	struct sst_file *f = xcalloc(1, sizeof *f);
	atomic_init(&f->refs, 1);
	f->id = id;
	f->level = level;
	buf_init(&f->smallest);
	buf_init(&f->largest);
	pthread_mutex_init(&f->open_mu, NULL);
	return f;
}

void sst_file_ref(struct sst_file *f)
{
	atomic_fetch_add(&f->refs, 1);
}

void sst_file_unref(struct sst_file *f)
{
	if (!f || atomic_fetch_sub(&f->refs, 1) != 1)
		return;
	sst_table_free(atomic_load(&f->table));
	buf_free(&f->smallest);
	buf_free(&f->largest);
	pthread_mutex_destroy(&f->open_mu);
	free(f);
}

int sst_file_table(struct sst_file *f, const struct sst_env *env, struct sst_table **t)
{
	*t = atomic_load_explicit(&f->table, memory_order_acquire);
	if (*t)
		return 0;
	pthread_mutex_lock(&f->open_mu);
	int r = 0;
	*t = atomic_load(&f->table);
	if (!*t) {
		r = sst_table_open(env, f->id, f->size, f->meta_off, t);
		if (r == 0)
			atomic_store_explicit(&f->table, *t, memory_order_release);
	}
	pthread_mutex_unlock(&f->open_mu);
	return r;
}

bool sst_file_contains(const struct sst_file *f, const void *key, size_t klen)
{
	return lsm_key_cmp(key, klen, f->smallest.data, f->smallest.len) >= 0 &&
	       lsm_key_cmp(key, klen, f->largest.data, f->largest.len) <= 0;
}

bool sst_file_overlaps(const struct sst_file *f, const void *lo, size_t lolen,
		       const void *hi, size_t hilen)
{
	return lsm_key_cmp(f->largest.data, f->largest.len, lo, lolen) >= 0 &&
	       lsm_key_cmp(f->smallest.data, f->smallest.len, hi, hilen) <= 0;
}

struct version *version_new(void)
{
	struct version *v = xcalloc(1, sizeof *v);
	atomic_init(&v->refs, 1);
	return v;
}

struct version *version_copy(const struct version *src)
{
	struct version *v = version_new();
	for (int l = 0; l < LSM_LEVELS; l++) {
		v->n[l] = src->n[l];
		v->files[l] = xmemdup(src->files[l], src->n[l] * sizeof(struct sst_file *));
		for (size_t i = 0; i < v->n[l]; i++)
			sst_file_ref(v->files[l][i]);
	}
	return v;
}

void version_ref(struct version *v)
{
	atomic_fetch_add(&v->refs, 1);
}

void version_unref(struct version *v)
{
	if (!v || atomic_fetch_sub(&v->refs, 1) != 1)
		return;
	for (int l = 0; l < LSM_LEVELS; l++) {
		for (size_t i = 0; i < v->n[l]; i++)
			sst_file_unref(v->files[l][i]);
		free(v->files[l]);
	}
	free(v);
}

/* L0: newest (highest max_seq) first.  L1+: by smallest key. */
static bool goes_before(const struct sst_file *a, const struct sst_file *b, int level)
{
	if (level == 0)
		return a->max_seq > b->max_seq;
	return lsm_key_cmp(a->smallest.data, a->smallest.len, b->smallest.data, b->smallest.len) < 0;
}

void version_add(struct version *v, struct sst_file *f)
{
	int l = f->level;
	size_t i = 0;
	while (i < v->n[l] && goes_before(v->files[l][i], f, l))
		i++;
	v->files[l] = xrealloc(v->files[l], (v->n[l] + 1) * sizeof(struct sst_file *));
	memmove(&v->files[l][i + 1], &v->files[l][i], (v->n[l] - i) * sizeof(struct sst_file *));
	v->files[l][i] = f;
	v->n[l]++;
	sst_file_ref(f);
}

void version_remove(struct version *v, const struct sst_file *f)
{
	int l = f->level;
	for (size_t i = 0; i < v->n[l]; i++) {
		if (v->files[l][i]->id != f->id)
			continue;
		sst_file_unref(v->files[l][i]);
		memmove(&v->files[l][i], &v->files[l][i + 1],
			(v->n[l] - i - 1) * sizeof(struct sst_file *));
		v->n[l]--;
		return;
	}
}

uint64_t version_level_bytes(const struct version *v, int level)
{
	uint64_t sum = 0;
	for (size_t i = 0; i < v->n[level]; i++)
		sum += v->files[level][i]->size;
	return sum;
}

size_t version_find_file(const struct version *v, int level, const void *key, size_t klen)
{
	size_t lo = 0, hi = v->n[level];
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct sst_file *f = v->files[level][mid];
		if (lsm_key_cmp(f->largest.data, f->largest.len, key, klen) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct view *view_new(struct memtable *mem, struct memtable *const *imm_oldest_first,
		      size_t nimm, struct version *v)
{
	struct view *w = xcalloc(1, sizeof *w);
	atomic_init(&w->refs, 1);
	w->mem = mem;
	memtable_ref(mem);
	w->nimm = nimm;
	w->imm = xcalloc(nimm ? nimm : 1, sizeof *w->imm);
	for (size_t i = 0; i < nimm; i++) {
		w->imm[i] = imm_oldest_first[nimm - 1 - i];
		memtable_ref(w->imm[i]);
	}
	w->v = v;
	version_ref(v);
	return w;
}

void view_ref(struct view *w)
{
	atomic_fetch_add(&w->refs, 1);
}

void view_unref(struct view *w)
{
	if (!w || atomic_fetch_sub(&w->refs, 1) != 1)
		return;
	memtable_unref(w->mem);
	for (size_t i = 0; i < w->nimm; i++)
		memtable_unref(w->imm[i]);
	free(w->imm);
	version_unref(w->v);
	free(w);
}
