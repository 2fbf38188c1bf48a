/* commit.c -- memtable rotation, flush to L0, and the manifest write that
 * makes a state durable (group commit and writer fencing live here).
 *
 * The durability rule: a manifest written with durable seq D names exactly
 * the files whose max seq <= D.  Frozen memtables have disjoint, ascending
 * seq ranges, so "files with max seq <= D" is always a prefix of the write
 * history; flushes of later memtables may already be in the store as SSTs,
 * but no manifest names them until a commit covers them. */
#include "lsm/db.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "util/clock.h"
#include "util/log.h"
#include "util/mem.h"

void db_install_view_locked(lsm *db)
{
	struct view *old = db->view;
	db->view = view_new(db->mem, db->imm, db->nimm, db->cur);
	view_unref(old);
}

void db_rotate_locked(lsm *db)
{
	if (memtable_entries(db->mem) == 0)
		return;
	db->imm = xrealloc(db->imm, (db->nimm + 1) * sizeof *db->imm);
	db->imm[db->nimm++] = db->mem;
	db->mem = memtable_new(clock_mono_ns());
	db_install_view_locked(db);
	pthread_cond_broadcast(&db->cond);
}

uint64_t db_alloc_sst_id_locked(lsm *db)
{
	return db->epoch << 32 | ++db->next_sst;
}

static int write_memtable(lsm *db, struct memtable *mt, struct sst_file *f)
{
	struct memtable_iter it;
	struct sst_props props = { 0 };
	struct sst_writer *w = sst_writer_new(&db->env, f->id);
	memtable_iter_init(&it, mt, UINT64_MAX);
	for (memtable_iter_first(&it); memtable_iter_valid(&it); memtable_iter_next(&it)) {
		const uint8_t *k, *v;
		size_t kl, vl;
		enum lsm_kind kind;
		memtable_iter_entry(&it, &k, &kl, &kind, &v, &vl, NULL);
		sst_writer_add(w, kind, k, kl, v, vl);
	}
	buf_init(&props.smallest);
	buf_init(&props.largest);
	int r = sst_writer_finish(w, &props);
	struct sst_table *t;
	if (r == 0 && sst_writer_table(w, &t) == 0)
		atomic_store(&f->table, t); /* nobody else sees f yet */
	sst_writer_free(w);
	if (r == 0) {
		f->size = props.size;
		f->meta_off = props.meta_off;
		f->entries = props.entries;
		buf_set(&f->smallest, props.smallest.data, props.smallest.len);
		buf_set(&f->largest, props.largest.data, props.largest.len);
	}
	buf_free(&props.smallest);
	buf_free(&props.largest);
	return r;
}

int db_flush_oldest(lsm *db, uint64_t upto)
{
	pthread_mutex_lock(&db->flush_mu);
	pthread_mutex_lock(&db->mu);
	if (db->fenced) {
		pthread_mutex_unlock(&db->mu);
		pthread_mutex_unlock(&db->flush_mu);
		return -EROFS;
	}
	if (db->nimm == 0 || memtable_min_seq(db->imm[0]) > upto) {
		pthread_mutex_unlock(&db->mu);
		pthread_mutex_unlock(&db->flush_mu);
		return 0;
	}
	struct memtable *mt = db->imm[0];
	memtable_ref(mt);
	struct sst_file *f = sst_file_new(db_alloc_sst_id_locked(db), 0);
	pthread_mutex_unlock(&db->mu);

	f->min_seq = memtable_min_seq(mt);
	f->max_seq = memtable_max_seq(mt);
	int r = write_memtable(db, mt, f);
	if (r == 0) {
		pthread_mutex_lock(&db->mu);
		struct version *v = version_copy(db->cur);
		version_add(v, f);
		version_unref(db->cur);
		db->cur = v;
		/* The SST now answers for the memtable: drop it in the same
		 * step so no reader sees the data twice or not at all. */
		memmove(db->imm, db->imm + 1, (db->nimm - 1) * sizeof *db->imm);
		db->nimm--;
		memtable_unref(mt);
		db_install_view_locked(db);
		db->n_flushes++;
		pthread_cond_broadcast(&db->cond);
		pthread_mutex_unlock(&db->mu);
		log_debug("lsm: flushed memtable seq %" PRIu64 "-%" PRIu64 " to sst %016" PRIx64
			  " (%" PRIu64 " entries, %" PRIu64 " bytes)", f->min_seq, f->max_seq,
			  f->id, f->entries, f->size);
		r = 1;
	} else {
		/* The put may have landed (a lost reply): no manifest will
		 * ever name this id, so collect it like any orphan. */
		pthread_mutex_lock(&db->mu);
		db_obsolete_add_locked(db, f->id, clock_wall_ns(), NULL);
		pthread_mutex_unlock(&db->mu);
	}
	memtable_unref(mt);
	sst_file_unref(f);
	pthread_mutex_unlock(&db->flush_mu);
	return r;
}

void db_add_manifest_seq_locked(lsm *db, uint64_t seq)
{
	db->manifests = xrealloc(db->manifests, (db->nmanifests + 1) * sizeof *db->manifests);
	db->manifests[db->nmanifests++] = seq;
}

static void copy_file(struct manifest *m, const struct sst_file *f)
{
	struct manifest_file *mf = manifest_add_file(m);
	mf->id = f->id;
	mf->level = (uint32_t)f->level;
	mf->size = f->size;
	mf->meta_off = f->meta_off;
	mf->entries = f->entries;
	mf->min_seq = f->min_seq;
	mf->max_seq = f->max_seq;
	buf_set(&mf->smallest, f->smallest.data, f->smallest.len);
	buf_set(&mf->largest, f->largest.data, f->largest.len);
}

static void build_manifest_locked(lsm *db, uint64_t durable, uint64_t now, struct manifest *m)
{
	memset(m, 0, sizeof *m);
	m->seq = db->manifest_seq + 1;
	m->epoch = db->epoch;
	m->durable_seq = durable;
	m->created_ns = now;
	for (int l = 0; l < LSM_LEVELS; l++)
		for (size_t i = 0; i < db->cur->n[l]; i++)
			if (db->cur->files[l][i]->max_seq <= durable)
				copy_file(m, db->cur->files[l][i]);
	for (size_t i = 0; i < db->ncps; i++) {
		const struct checkpoint *cp = &db->cps[i];
		manifest_add_checkpoint(m, cp->name, cp->manifest_seq ? cp->manifest_seq : m->seq,
					cp->created_ns);
	}
	for (size_t i = 0; i < db->nobs; i++)
		manifest_add_obsolete(m, db->obs[i].id, db->obs[i].since_ns);
	/* If this manifest lands, the files compaction removed are obsolete
	 * from now on; record them so a crash cannot lose track of them. */
	for (size_t i = 0; i < db->npending; i++)
		manifest_add_obsolete(m, db->pending[i]->id, now);
	for (size_t i = 0; i < db->nstarts; i++)
		manifest_add_start(m, db->starts[i]);
}

/* EEXIST on our next manifest: a lost acknowledgement of our own earlier
 * write, or another writer.  Returns 1 if it was ours. */
int db_manifest_is_ours(lsm *db, uint64_t seq)
{
	struct manifest other;
	int r = manifest_load(db->o.store, db->key, seq, &other);
	if (r < 0)
		return r;
	bool ours = other.epoch == db->epoch;
	if (!ours) {
		char name[MANIFEST_NAME_MAX];
		manifest_name(seq, name);
		log_error("lsm: fenced out: %s in %s was written by writer epoch %" PRIu64
			  " (this writer is epoch %" PRIu64 "); another bucketfs has taken over "
			  "this store, so this instance stops writing (writes from now on fail "
			  "with EROFS)", name, objstore_url(db->o.store), other.epoch, db->epoch);
	}
	manifest_free(&other);
	return ours;
}

static void manifest_landed_locked(lsm *db, const struct manifest *m, uint64_t now)
{
	db->manifest_seq = m->seq;
	if (m->durable_seq > db->durable_seq)
		db->durable_seq = m->durable_seq;
	for (size_t i = 0; i < db->npending; i++)
		db_obsolete_add_locked(db, db->pending[i]->id, now, db->pending[i]);
	db->npending = 0;
	for (size_t i = 0; i < db->ncps; i++)
		if (!db->cps[i].manifest_seq)
			db->cps[i].manifest_seq = m->seq;
	db->manifest_dirty = false;
	db_add_manifest_seq_locked(db, m->seq);
}

int db_write_manifest(lsm *db, uint64_t durable)
{
	for (;;) {
		struct manifest m;
		uint64_t now = clock_wall_ns();
		pthread_mutex_lock(&db->mu);
		if (db->fenced) {
			pthread_mutex_unlock(&db->mu);
			return -EROFS;
		}
		build_manifest_locked(db, durable, now, &m);
		pthread_mutex_unlock(&db->mu);

		int r = manifest_store(db->o.store, db->key, &m);
		if (r == -EEXIST) {
			int ours = db_manifest_is_ours(db, m.seq);
			pthread_mutex_lock(&db->mu);
			if (ours == 1) {
				db->manifest_seq = m.seq;
				db_add_manifest_seq_locked(db, m.seq);
			} else if (ours == 0) {
				db->fenced = true;
				pthread_cond_broadcast(&db->cond);
			}
			pthread_mutex_unlock(&db->mu);
			manifest_free(&m);
			if (ours == 1)
				continue;
			return ours < 0 ? ours : -EROFS;
		}
		if (r == 0) {
			pthread_mutex_lock(&db->mu);
			manifest_landed_locked(db, &m, now);
			pthread_mutex_unlock(&db->mu);
		}
		manifest_free(&m);
		return r;
	}
}

int lsm_rotate(lsm *db, uint64_t *seq)
{
	if (!db->writer)
		return -EROFS;
	pthread_mutex_lock(&db->write_mu);
	pthread_mutex_lock(&db->mu);
	db_rotate_locked(db);
	*seq = atomic_load(&db->last_seq);
	pthread_mutex_unlock(&db->mu);
	pthread_mutex_unlock(&db->write_mu);
	return 0;
}

/* The highest seq a manifest may claim once everything <= seq is flushed:
 * the end of the newest flushed memtable that holds writes <= seq. */
static uint64_t covered_seq_locked(lsm *db, uint64_t seq)
{
	uint64_t d = db->durable_seq;
	for (int l = 0; l < LSM_LEVELS; l++)
		for (size_t i = 0; i < db->cur->n[l]; i++) {
			const struct sst_file *f = db->cur->files[l][i];
			if (f->min_seq <= seq && f->max_seq > d)
				d = f->max_seq;
		}
	return d;
}

/* Flush every frozen memtable that holds writes <= seq. */
static int flush_through(lsm *db, uint64_t seq)
{
	for (;;) {
		pthread_mutex_lock(&db->mu);
		bool more = db->nimm > 0 && memtable_min_seq(db->imm[0]) <= seq;
		pthread_mutex_unlock(&db->mu);
		if (!more)
			return 0;
		int r = db_flush_oldest(db, seq);
		if (r < 0)
			return r;
	}
}

int lsm_commit(lsm *db, uint64_t seq)
{
	if (!db->writer)
		return -EROFS;
	pthread_mutex_lock(&db->commit_mu);
	pthread_mutex_lock(&db->mu);
	int r = db->fenced ? -EROFS : 0;
	bool done = db->durable_seq >= seq && !db->manifest_dirty;
	pthread_mutex_unlock(&db->mu);
	if (r < 0 || done)
		goto out;

	pthread_mutex_lock(&db->write_mu);
	pthread_mutex_lock(&db->mu);
	if (seq > atomic_load(&db->last_seq))
		seq = atomic_load(&db->last_seq);
	if (memtable_entries(db->mem) && memtable_min_seq(db->mem) <= seq)
		db_rotate_locked(db);
	pthread_mutex_unlock(&db->mu);
	pthread_mutex_unlock(&db->write_mu);

	r = flush_through(db, seq);
	if (r < 0)
		goto out;
	pthread_mutex_lock(&db->mu);
	uint64_t d = covered_seq_locked(db, seq);
	pthread_mutex_unlock(&db->mu);
	r = db_write_manifest(db, d);
out:
	pthread_mutex_unlock(&db->commit_mu);
	return r;
}

int lsm_flush(lsm *db)
{
	if (!db->writer)
		return -EROFS;
	return lsm_commit(db, atomic_load(&db->last_seq));
}

void lsm_mark_fenced(lsm *db, uint64_t newer_epoch)
{
	if (!db->writer || newer_epoch <= db->epoch)
		return;
	pthread_mutex_lock(&db->mu);
	bool was = db->fenced;
	db->fenced = true;
	pthread_cond_broadcast(&db->cond); /* stalled writers see it */
	pthread_mutex_unlock(&db->mu);
	if (!was)
		log_error("lsm: fenced out: writer epoch %" PRIu64 " has taken over %s (this writer "
			  "is epoch %" PRIu64 "); this instance stops writing (writes from now on "
			  "fail with EROFS)", newer_epoch, objstore_url(db->o.store), db->epoch);
}

uint64_t lsm_last_seq(lsm *db)
{
	return atomic_load(&db->last_seq);
}

uint64_t lsm_durable_seq(lsm *db)
{
	pthread_mutex_lock(&db->mu);
	uint64_t d = db->durable_seq;
	pthread_mutex_unlock(&db->mu);
	return d;
}
