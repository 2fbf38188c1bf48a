/* gc.c -- deleting what no manifest needs, and checkpoints (which pin).
 *
 * An SST becomes obsolete when a durable manifest stops naming it
 * (compaction inputs), or when the writer finds it unreferenced at open
 * (left by a crash or a fenced writer).  It is deleted once the grace
 * period has passed since then, no open iterator of this process uses it,
 * and no checkpoint pins it.  Old manifests are deleted beyond the newest
 * `manifests_kept`, except those checkpoints pin.
 *
 * A checkpoint is a name recorded in every later manifest, pointing at the
 * manifest that holds its state; that manifest and its SSTs stay until the
 * checkpoint is deleted. */
#include "lsm/db.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "util/clock.h"
#include "util/log.h"
#include "util/mem.h"

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

bool db_is_pinned_locked(lsm *db, uint64_t id)
{
	for (size_t i = 0; i < db->ncps; i++)
		if (db->cps[i].nids &&
		    bsearch(&id, db->cps[i].ids, db->cps[i].nids, sizeof id, cmp_u64))
			return true;
	return false;
}

void db_obsolete_add_locked(lsm *db, uint64_t id, uint64_t since_ns, struct sst_file *f)
{
	for (size_t i = 0; i < db->nobs; i++)
		if (db->obs[i].id == id) {
			sst_file_unref(f);
			return;
		}
	db->obs = xrealloc(db->obs, (db->nobs + 1) * sizeof *db->obs);
	db->obs[db->nobs].id = id;
	db->obs[db->nobs].since_ns = since_ns;
	db->obs[db->nobs].f = f;
	db->nobs++;
}

void db_checkpoints_free(lsm *db)
{
	for (size_t i = 0; i < db->ncps; i++) {
		free(db->cps[i].name);
		free(db->cps[i].ids);
	}
	free(db->cps);
	db->cps = NULL;
	db->ncps = 0;
}

static struct checkpoint *checkpoint_add_locked(lsm *db, const char *name, uint64_t seq,
						uint64_t created)
{
	db->cps = xrealloc(db->cps, (db->ncps + 1) * sizeof *db->cps);
	struct checkpoint *cp = &db->cps[db->ncps++];
	memset(cp, 0, sizeof *cp);
	cp->name = xstrdup(name);
	cp->manifest_seq = seq;
	cp->created_ns = created;
	return cp;
}

static void checkpoint_set_ids(struct checkpoint *cp, const uint64_t *ids, size_t n)
{
	cp->ids = xmemdup(ids, n * sizeof *ids);
	cp->nids = n;
	qsort(cp->ids, n, sizeof *ids, cmp_u64);
}

/* Build the checkpoint list of m (with the SSTs each pins, for a writer)
 * off the lock, then swap it in under mu. */
int db_load_checkpoints(lsm *db, const struct manifest *m)
{
	struct checkpoint *cps = xcalloc(m->ncheckpoints ? m->ncheckpoints : 1, sizeof *cps);
	size_t n = 0;
	int r = 0;
	for (size_t i = 0; i < m->ncheckpoints && r == 0; i++) {
		const struct manifest_checkpoint *mc = &m->checkpoints[i];
		struct checkpoint *cp = &cps[n++];
		cp->name = xstrdup(mc->name);
		cp->manifest_seq = mc->manifest_seq;
		cp->created_ns = mc->created_ns;
		if (!db->writer)
			continue; /* readers do not delete, so need no pins */
		struct manifest pinned;
		r = manifest_load(db->o.store, db->key, mc->manifest_seq, &pinned);
		if (r < 0) {
			log_error("lsm: checkpoint '%s': cannot read its manifest %" PRIu64 ": %s",
				  mc->name, mc->manifest_seq, strerror(-r));
			r = r == -ENOENT ? -EIO : r;
			break;
		}
		uint64_t *ids = xcalloc(pinned.nfiles ? pinned.nfiles : 1, sizeof *ids);
		for (size_t k = 0; k < pinned.nfiles; k++)
			ids[k] = pinned.files[k].id;
		checkpoint_set_ids(cp, ids, pinned.nfiles);
		free(ids);
		manifest_free(&pinned);
	}
	pthread_mutex_lock(&db->mu);
	db_checkpoints_free(db);
	db->cps = cps;
	db->ncps = n;
	pthread_mutex_unlock(&db->mu);
	return r;
}

struct sweep_ctx {
	lsm *db;
	uint64_t now;
	size_t found;
};

static bool in_version_locked(lsm *db, uint64_t id)
{
	for (int l = 0; l < LSM_LEVELS; l++)
		for (size_t i = 0; i < db->cur->n[l]; i++)
			if (db->cur->files[l][i]->id == id)
				return true;
	return false;
}

static int sweep_one(void *arg, const struct objstore_entry *e)
{
	struct sweep_ctx *s = arg;
	lsm *db = s->db;
	uint64_t id;
	if (sst_parse_name(e->key, &id) < 0)
		return 0;
	if (id >> 32 >= db->epoch)
		return 0; /* ours, or a newer writer's: never an orphan to us */
	pthread_mutex_lock(&db->mu);
	if (!in_version_locked(db, id) && !db_is_pinned_locked(db, id)) {
		size_t before = db->nobs;
		db_obsolete_add_locked(db, id, s->now, NULL);
		if (db->nobs != before) {
			s->found++;
			db->manifest_dirty = true;
		}
	}
	pthread_mutex_unlock(&db->mu);
	return 0;
}

int db_sweep_orphans(lsm *db)
{
	struct sweep_ctx s = { db, clock_wall_ns(), 0 };
	int r = objstore_list_all(db->o.store, "sst/", NULL, sweep_one, &s);
	if (r < 0) {
		log_error("lsm: list sst/ in %s: %s", objstore_url(db->o.store), strerror(-r));
		return r;
	}
	if (s.found)
		log_info("lsm: %zu unreferenced SSTs in %s (left by a crash or an earlier "
			 "writer) will be deleted after the grace period", s.found,
			 objstore_url(db->o.store));
	return 0;
}

static bool manifest_pinned_locked(lsm *db, uint64_t seq)
{
	for (size_t i = 0; i < db->ncps; i++)
		if (db->cps[i].manifest_seq == seq)
			return true;
	for (size_t i = 0; i < db->nstarts; i++)
		if (db->starts[i] == seq)
			return true; /* fences writers that have not noticed yet */
	return false;
}

static void collect_ssts(lsm *db, uint64_t now)
{
	uint64_t grace = db->o.gc_grace_ms * 1000000ull;
	pthread_mutex_lock(&db->mu);
	size_t n = 0;
	uint64_t *ids = xcalloc(db->nobs ? db->nobs : 1, sizeof *ids);
	for (size_t i = 0; i < db->nobs; i++) {
		struct obsolete *o = &db->obs[i];
		if (o->since_ns + grace > now || db_is_pinned_locked(db, o->id))
			continue;
		if (o->f && atomic_load(&o->f->refs) > 1)
			continue; /* an iterator or get of this process still reads it */
		ids[n++] = o->id;
	}
	pthread_mutex_unlock(&db->mu);

	for (size_t i = 0; i < n; i++) {
		char name[SST_NAME_MAX];
		sst_object_name(ids[i], name);
		int r = objstore_delete(db->o.store, name);
		pthread_mutex_lock(&db->mu);
		for (size_t k = 0; r == 0 && k < db->nobs; k++) {
			if (db->obs[k].id != ids[i])
				continue;
			sst_file_unref(db->obs[k].f);
			db->obs[k] = db->obs[--db->nobs];
			db->n_deleted++;
			break;
		}
		pthread_mutex_unlock(&db->mu);
		if (r < 0)
			log_warn("lsm: delete obsolete %s: %s (retried later)", name, strerror(-r));
	}
	free(ids);
}

static void collect_manifests(lsm *db)
{
	pthread_mutex_lock(&db->mu);
	size_t keep = db->o.manifests_kept ? db->o.manifests_kept : 1;
	size_t n = 0;
	uint64_t *seqs = xcalloc(db->nmanifests ? db->nmanifests : 1, sizeof *seqs);
	for (size_t i = 0; i + keep < db->nmanifests; i++)
		if (!manifest_pinned_locked(db, db->manifests[i]))
			seqs[n++] = db->manifests[i];
	pthread_mutex_unlock(&db->mu);

	for (size_t i = 0; i < n; i++) {
		char name[MANIFEST_NAME_MAX];
		manifest_name(seqs[i], name);
		if (objstore_delete(db->o.store, name) < 0)
			continue;
		pthread_mutex_lock(&db->mu);
		for (size_t k = 0; k < db->nmanifests; k++)
			if (db->manifests[k] == seqs[i]) {
				memmove(&db->manifests[k], &db->manifests[k + 1],
					(db->nmanifests - k - 1) * sizeof *db->manifests);
				db->nmanifests--;
				db->n_deleted++;
				break;
			}
		pthread_mutex_unlock(&db->mu);
	}
	free(seqs);
}

/* A writer learns it was fenced only when its next manifest write fails.
 * Before deleting anything, look: if manifest seq+1 exists, someone else
 * writes this store now, and what looks unreferenced to us may be theirs. */
static int check_still_writer(lsm *db)
{
	char name[MANIFEST_NAME_MAX];
	struct objstore_info info;
	pthread_mutex_lock(&db->commit_mu);
	pthread_mutex_lock(&db->mu);
	bool fenced = db->fenced;
	uint64_t next = db->manifest_seq + 1;
	pthread_mutex_unlock(&db->mu);
	int r = fenced ? -EROFS : 0;
	if (r == 0) {
		manifest_name(next, name);
		r = objstore_head(db->o.store, name, &info);
		if (r == 0) {
			/* Ours after a lost reply, or another writer's. */
			int ours = db_manifest_is_ours(db, next);
			pthread_mutex_lock(&db->mu);
			if (ours == 1) {
				db->manifest_seq = next;
				db_add_manifest_seq_locked(db, next);
				r = 0;
			} else if (ours == 0) {
				db->fenced = true;
				pthread_cond_broadcast(&db->cond);
				r = -EROFS;
			} else {
				r = ours;
			}
			pthread_mutex_unlock(&db->mu);
		} else if (r == -ENOENT) {
			r = 0;
		}
	}
	pthread_mutex_unlock(&db->commit_mu);
	return r;
}

int lsm_collect_garbage(lsm *db)
{
	if (!db->writer)
		return -EROFS;
	pthread_mutex_lock(&db->mu);
	bool work = db->nobs > 0 || db->nmanifests > db->o.manifests_kept;
	bool fenced = db->fenced;
	pthread_mutex_unlock(&db->mu);
	if (fenced)
		return -EROFS;
	if (!work)
		return 0;
	int r = check_still_writer(db);
	if (r < 0)
		return r;
	collect_ssts(db, clock_wall_ns());
	collect_manifests(db);
	return 0;
}

static int check_name(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > LSM_CHECKPOINT_NAME_MAX)
		return -EINVAL;
	for (const char *p = name; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == '/' || *p == 0x7f)
			return -EINVAL;
	return 0;
}

static struct checkpoint *find_checkpoint_locked(lsm *db, const char *name)
{
	for (size_t i = 0; i < db->ncps; i++)
		if (!strcmp(db->cps[i].name, name))
			return &db->cps[i];
	return NULL;
}

static void remove_checkpoint_locked(lsm *db, const char *name)
{
	struct checkpoint *cp = find_checkpoint_locked(db, name);
	if (!cp)
		return;
	free(cp->name);
	free(cp->ids);
	*cp = db->cps[--db->ncps];
}

int lsm_checkpoint_create(lsm *db, const char *name)
{
	if (!db->writer)
		return -EROFS;
	int r = check_name(name);
	if (r < 0)
		return r;
	pthread_mutex_lock(&db->commit_mu);
	pthread_mutex_lock(&db->mu);
	if (find_checkpoint_locked(db, name)) {
		pthread_mutex_unlock(&db->mu);
		pthread_mutex_unlock(&db->commit_mu);
		return -EEXIST;
	}
	/* The manifest about to be written names exactly the files with
	 * max seq <= durable seq: those are what the checkpoint pins. */
	size_t n = 0;
	uint64_t *ids = NULL;
	for (int l = 0; l < LSM_LEVELS; l++)
		for (size_t i = 0; i < db->cur->n[l]; i++)
			if (db->cur->files[l][i]->max_seq <= db->durable_seq) {
				ids = xrealloc(ids, (n + 1) * sizeof *ids);
				ids[n++] = db->cur->files[l][i]->id;
			}
	struct checkpoint *cp = checkpoint_add_locked(db, name, 0, clock_wall_ns());
	checkpoint_set_ids(cp, ids, n);
	free(ids);
	uint64_t durable = db->durable_seq;
	pthread_mutex_unlock(&db->mu);

	r = db_write_manifest(db, durable);
	if (r < 0) {
		pthread_mutex_lock(&db->mu);
		remove_checkpoint_locked(db, name);
		pthread_mutex_unlock(&db->mu);
	} else {
		log_info("lsm: checkpoint '%s' created at manifest %" PRIu64, name,
			 db->manifest_seq);
	}
	pthread_mutex_unlock(&db->commit_mu);
	return r;
}

int lsm_checkpoint_delete(lsm *db, const char *name)
{
	if (!db->writer)
		return -EROFS;
	pthread_mutex_lock(&db->commit_mu);
	pthread_mutex_lock(&db->mu);
	struct checkpoint *cp = find_checkpoint_locked(db, name);
	if (!cp) {
		pthread_mutex_unlock(&db->mu);
		pthread_mutex_unlock(&db->commit_mu);
		return -ENOENT;
	}
	struct checkpoint saved = *cp;
	saved.name = xstrdup(cp->name);
	saved.ids = xmemdup(cp->ids, cp->nids * sizeof *cp->ids);
	remove_checkpoint_locked(db, name);
	uint64_t durable = db->durable_seq;
	pthread_mutex_unlock(&db->mu);

	int r = db_write_manifest(db, durable);
	pthread_mutex_lock(&db->mu);
	if (r < 0) {
		/* Not durable: the checkpoint still exists. */
		db->cps = xrealloc(db->cps, (db->ncps + 1) * sizeof *db->cps);
		db->cps[db->ncps++] = saved;
	} else {
		free(saved.name);
		free(saved.ids);
	}
	pthread_mutex_unlock(&db->mu);
	pthread_mutex_unlock(&db->commit_mu);
	return r;
}

int lsm_checkpoint_list(lsm *db, void (*cb)(void *arg, const char *name, uint64_t manifest_seq,
					   uint64_t created_ns), void *arg)
{
	pthread_mutex_lock(&db->mu);
	for (size_t i = 0; i < db->ncps; i++)
		cb(arg, db->cps[i].name, db->cps[i].manifest_seq, db->cps[i].created_ns);
	pthread_mutex_unlock(&db->mu);
	return 0;
}
