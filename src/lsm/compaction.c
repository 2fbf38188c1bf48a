/* compaction.c -- merging SSTs down the levels.
 *
 * Policy (leveled, as LevelDB/RocksDB): when enough committed L0 files
 * pile up, all of them merge with the overlapping L1 files into L1; when a
 * level L >= 1 outgrows its target (l1_target x 10^(L-1)), one of its files
 * (round robin through the key space) merges with the overlapping files of
 * L+1.  A full compaction merges everything committed into the deepest
 * level.  Merging keeps only the newest version of each key and drops
 * tombstones when no deeper level can hold an older version.
 *
 * Only committed files (max seq <= durable seq) are ever compacted, so a
 * compaction never makes uncommitted writes durable (see commit.c), and the
 * manifest written after it names only committed state.  Inputs stay in
 * the store until a durable manifest no longer names them and the grace
 * period has passed (gc.c). */
#include "lsm/db.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "lsm/iter.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/mem.h"

struct compaction {
	int out_level;
	bool drop_tombstones;
	struct sst_file **in;
	size_t nin;
	struct sst_file **out;
	size_t nout;
};

static uint64_t level_target(const lsm *db, int level)
{
	uint64_t t = db->o.l1_target_bytes;
	for (int l = 1; l < level; l++)
		t *= 10;
	return t;
}

static bool committed(const lsm *db, const struct sst_file *f)
{
	return f->max_seq <= db->durable_seq && !f->compacting;
}

static size_t committed_l0(const lsm *db)
{
	size_t n = 0;
	for (size_t i = 0; i < db->cur->n[0]; i++)
		n += committed(db, db->cur->files[0][i]);
	return n;
}

size_t db_committed_l0_locked(lsm *db)
{
	return committed_l0(db);
}

/* The level >= 1 most over its target, or 0. */
static int worst_level(const lsm *db)
{
	int best = 0;
	double best_score = 1.0;
	for (int l = 1; l < LSM_LEVELS - 1; l++) {
		double score = (double)version_level_bytes(db->cur, l) / (double)level_target(db, l);
		if (score > best_score) {
			best_score = score;
			best = l;
		}
	}
	return best;
}

bool db_compaction_due_locked(lsm *db)
{
	if (!db->writer || db->fenced)
		return false;
	return committed_l0(db) >= db->o.l0_trigger || worst_level(db) > 0;
}

static void add_input(struct compaction *c, struct sst_file *f)
{
	c->in = xrealloc(c->in, (c->nin + 1) * sizeof *c->in);
	c->in[c->nin++] = f;
	sst_file_ref(f);
}

/* Key range of the inputs so far. */
static void input_range(const struct compaction *c, const struct buf **lo, const struct buf **hi)
{
	*lo = *hi = NULL;
	for (size_t i = 0; i < c->nin; i++) {
		const struct sst_file *f = c->in[i];
		if (!*lo || lsm_key_cmp(f->smallest.data, f->smallest.len, (*lo)->data, (*lo)->len) < 0)
			*lo = &f->smallest;
		if (!*hi || lsm_key_cmp(f->largest.data, f->largest.len, (*hi)->data, (*hi)->len) > 0)
			*hi = &f->largest;
	}
}

/* Add every file of `level` overlapping the inputs; false if one is busy. */
static bool add_overlapping(lsm *db, struct compaction *c, int level)
{
	const struct buf *lo, *hi;
	input_range(c, &lo, &hi);
	if (!lo)
		return true;
	for (size_t i = 0; i < db->cur->n[level]; i++) {
		struct sst_file *f = db->cur->files[level][i];
		if (!sst_file_overlaps(f, lo->data, lo->len, hi->data, hi->len))
			continue;
		if (!committed(db, f))
			return false;
		add_input(c, f);
	}
	return true;
}

static bool deeper_overlap(lsm *db, const struct compaction *c)
{
	const struct buf *lo, *hi;
	input_range(c, &lo, &hi);
	for (int l = c->out_level + 1; l < LSM_LEVELS; l++)
		for (size_t i = 0; i < db->cur->n[l]; i++)
			if (sst_file_overlaps(db->cur->files[l][i], lo->data, lo->len, hi->data, hi->len))
				return true;
	return false;
}

static void pick_level(lsm *db, struct compaction *c, int level)
{
	struct buf *ptr = &db->compact_ptr[level];
	size_t n = db->cur->n[level], start = 0;
	/* Round robin: the first file after the last one compacted. */
	while (ptr->len && start < n &&
	       lsm_key_cmp(db->cur->files[level][start]->largest.data,
			   db->cur->files[level][start]->largest.len, ptr->data, ptr->len) <= 0)
		start++;
	for (size_t k = 0; k < n; k++) {
		struct sst_file *f = db->cur->files[level][(start + k) % n];
		if (!committed(db, f))
			continue;
		add_input(c, f);
		buf_set(ptr, f->largest.data, f->largest.len);
		return;
	}
}

static void compaction_clear(struct compaction *c)
{
	for (size_t i = 0; i < c->nin; i++)
		sst_file_unref(c->in[i]);
	for (size_t i = 0; i < c->nout; i++)
		sst_file_unref(c->out[i]);
	free(c->in);
	free(c->out);
	memset(c, 0, sizeof *c);
}

static bool pick_full(lsm *db, struct compaction *c)
{
	int deepest = 1;
	for (int l = 1; l < LSM_LEVELS; l++)
		if (db->cur->n[l])
			deepest = l;
	c->out_level = deepest;
	for (int l = 0; l <= deepest; l++)
		for (size_t i = 0; i < db->cur->n[l]; i++)
			if (committed(db, db->cur->files[l][i]))
				add_input(c, db->cur->files[l][i]);
	/* Nothing to gain from rewriting a single bottom file. */
	return c->nin > 1 || (c->nin == 1 && c->in[0]->level != deepest);
}

static bool pick(lsm *db, bool full, struct compaction *c)
{
	memset(c, 0, sizeof *c);
	bool ok;
	if (full) {
		ok = pick_full(db, c);
	} else if (committed_l0(db) >= db->o.l0_trigger) {
		c->out_level = 1;
		for (size_t i = 0; i < db->cur->n[0]; i++)
			if (committed(db, db->cur->files[0][i]))
				add_input(c, db->cur->files[0][i]);
		ok = add_overlapping(db, c, 1);
	} else {
		int l = worst_level(db);
		if (!l)
			return false;
		c->out_level = l + 1;
		pick_level(db, c, l);
		ok = c->nin > 0 && add_overlapping(db, c, l + 1);
	}
	if (!ok) {
		compaction_clear(c);
		return false;
	}
	c->drop_tombstones = !deeper_overlap(db, c);
	for (size_t i = 0; i < c->nin; i++)
		c->in[i]->compacting = true;
	return true;
}

/* Read an input whole: one GET instead of one per block. */
static int load_input(lsm *db, const struct sst_file *f, struct sst_table **t)
{
	char name[SST_NAME_MAX];
	void *data;
	size_t len;
	sst_object_name(f->id, name);
	int r = objstore_get(db->o.store, name, 0, OBJSTORE_GET_TO_END, &data, &len);
	if (r < 0) {
		log_error("lsm: compaction: read %s from %s: %s", name, objstore_url(db->o.store),
			  r == -ENOENT ? "object missing" : strerror(-r));
		return r == -ENOENT ? -EIO : r;
	}
	return sst_table_open_bytes(&db->env, f->id, data, len, t);
}

static int finish_output(lsm *db, struct compaction *c, struct sst_writer *w,
			 struct sst_file *f)
{
	struct sst_props props = { 0 };
	buf_init(&props.smallest);
	buf_init(&props.largest);
	int r = sst_writer_finish(w, &props);
	struct sst_table *t;
	if (r == 0 && sst_writer_table(w, &t) == 0)
		atomic_store(&f->table, t); /* not installed yet: ours alone */
	if (r == 0) {
		f->size = props.size;
		f->meta_off = props.meta_off;
		f->entries = props.entries;
		buf_set(&f->smallest, props.smallest.data, props.smallest.len);
		buf_set(&f->largest, props.largest.data, props.largest.len);
		c->out = xrealloc(c->out, (c->nout + 1) * sizeof *c->out);
		c->out[c->nout++] = f;
		sst_file_ref(f);
	}
	buf_free(&props.smallest);
	buf_free(&props.largest);
	return r;
}

static struct sst_file *new_output(lsm *db, const struct compaction *c)
{
	pthread_mutex_lock(&db->mu);
	struct sst_file *f = sst_file_new(db_alloc_sst_id_locked(db), c->out_level);
	pthread_mutex_unlock(&db->mu);
	f->min_seq = UINT64_MAX;
	for (size_t i = 0; i < c->nin; i++) {
		if (c->in[i]->min_seq < f->min_seq)
			f->min_seq = c->in[i]->min_seq;
		if (c->in[i]->max_seq > f->max_seq)
			f->max_seq = c->in[i]->max_seq;
	}
	return f;
}

/* Inputs are added newest first: L0 in version order, then each level. */
static int merge_inputs(lsm *db, struct compaction *c, struct sst_table **tables)
{
	struct merge_iter *mi = merge_iter_new();
	struct sst_writer *w = NULL;
	struct sst_file *f = NULL;
	int r = 0;

	for (size_t i = 0; i < c->nin; i++)
		merge_add_table(mi, tables[i]);
	for (merge_first(mi); merge_valid(mi); merge_next(mi)) {
		enum lsm_kind kind;
		const uint8_t *k, *v;
		size_t kl, vl;
		merge_entry(mi, &kind, &k, &kl, &v, &vl);
		if (kind == LSM_KIND_DELETE && c->drop_tombstones)
			continue;
		if (!w) {
			f = new_output(db, c);
			w = sst_writer_new(&db->env, f->id);
		}
		sst_writer_add(w, kind, k, kl, v, vl);
		if (sst_writer_size(w) >= db->o.sst_target_bytes) {
			r = finish_output(db, c, w, f);
			sst_writer_free(w);
			sst_file_unref(f);
			w = NULL;
			f = NULL;
			if (r < 0)
				goto out;
		}
	}
	r = merge_status(mi);
	if (r == 0 && w)
		r = finish_output(db, c, w, f);
out:
	sst_writer_free(w);
	sst_file_unref(f);
	merge_iter_free(mi);
	return r;
}

static void delete_outputs(lsm *db, struct compaction *c)
{
	for (size_t i = 0; i < c->nout; i++) {
		char name[SST_NAME_MAX];
		sst_object_name(c->out[i]->id, name);
		(void)objstore_delete(db->o.store, name);
	}
}

static void install_locked(lsm *db, struct compaction *c)
{
	struct version *v = version_copy(db->cur);
	for (size_t i = 0; i < c->nin; i++) {
		version_remove(v, c->in[i]);
		db->pending = xrealloc(db->pending, (db->npending + 1) * sizeof *db->pending);
		db->pending[db->npending++] = c->in[i];
		sst_file_ref(c->in[i]);
	}
	for (size_t i = 0; i < c->nout; i++)
		version_add(v, c->out[i]);
	version_unref(db->cur);
	db->cur = v;
	db->manifest_dirty = true;
	db_install_view_locked(db);
	pthread_cond_broadcast(&db->cond); /* writers slowed down by L0 */
}

static int run(lsm *db, struct compaction *c)
{
	struct sst_table **tables = xcalloc(c->nin, sizeof *tables);
	uint64_t t0 = clock_mono_ns(), in_bytes = 0, out_bytes = 0;
	int r = 0;

	for (size_t i = 0; i < c->nin && r == 0; i++) {
		r = load_input(db, c->in[i], &tables[i]);
		in_bytes += c->in[i]->size;
	}
	if (r == 0)
		r = merge_inputs(db, c, tables);
	for (size_t i = 0; i < c->nin; i++)
		sst_table_free(tables[i]);
	free(tables);
	if (r < 0) {
		delete_outputs(db, c);
		pthread_mutex_lock(&db->mu);
		for (size_t i = 0; i < c->nin; i++)
			c->in[i]->compacting = false;
		pthread_mutex_unlock(&db->mu);
		log_error("lsm: compaction into L%d failed: %s", c->out_level, strerror(-r));
		return r;
	}
	for (size_t i = 0; i < c->nout; i++)
		out_bytes += c->out[i]->size;

	pthread_mutex_lock(&db->commit_mu);
	pthread_mutex_lock(&db->mu);
	install_locked(db, c);
	db->n_compactions++;
	db->n_cbytes_in += in_bytes;
	db->n_cbytes_out += out_bytes;
	uint64_t durable = db->durable_seq;
	pthread_mutex_unlock(&db->mu);
	r = db_write_manifest(db, durable);
	pthread_mutex_unlock(&db->commit_mu);
	log_debug("lsm: compacted %zu files (%" PRIu64 " bytes) into %zu L%d files (%" PRIu64
		  " bytes) in %.1f ms", c->nin, in_bytes, c->nout, c->out_level, out_bytes,
		  (double)(clock_mono_ns() - t0) / 1e6);
	if (r < 0 && r != -EROFS)
		log_warn("lsm: manifest after compaction not written (%s); the next commit "
			 "writes it", strerror(-r));
	return r == -EROFS ? r : 1;
}

int db_compact_once(lsm *db, bool full)
{
	struct compaction c;
	pthread_mutex_lock(&db->compact_mu);
	pthread_mutex_lock(&db->mu);
	bool ok = !db->fenced && pick(db, full, &c);
	pthread_mutex_unlock(&db->mu);
	int r = ok ? run(db, &c) : 0;
	if (ok)
		compaction_clear(&c);
	pthread_mutex_unlock(&db->compact_mu);
	return r;
}

int lsm_compact(lsm *db, bool full)
{
	if (!db->writer)
		return -EROFS;
	pthread_mutex_lock(&db->mu);
	bool fenced = db->fenced;
	pthread_mutex_unlock(&db->mu);
	if (fenced)
		return -EROFS;
	int r = 0;
	if (full) {
		/* One full merge, then the normal policy for what remains. */
		r = db_compact_once(db, true);
		if (r < 0)
			return r;
	}
	do {
		pthread_mutex_lock(&db->mu);
		bool due = db_compaction_due_locked(db);
		pthread_mutex_unlock(&db->mu);
		if (!due)
			break;
		r = db_compact_once(db, false);
	} while (r > 0);
	if (r < 0)
		return r;
	pthread_mutex_lock(&db->mu);
	bool dirty = db->manifest_dirty;
	uint64_t durable = db->durable_seq;
	pthread_mutex_unlock(&db->mu);
	if (!dirty)
		return 0;
	pthread_mutex_lock(&db->commit_mu);
	r = db_write_manifest(db, durable);
	pthread_mutex_unlock(&db->commit_mu);
	return r;
}
