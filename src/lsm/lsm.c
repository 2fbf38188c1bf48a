/* lsm.c -- opening and closing a tree, batches, reads, the background
 * thread, and read-only views (replicas and checkpoints).
 *
 * Opening as writer is the fencing handshake: read the newest manifest and
 * write its successor with the writer epoch bumped, using put_if_absent.
 * If another process wins that race we read the new newest and try again,
 * so at most one writer per epoch ever exists and the newest epoch wins. */
#include "lsm/db.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "lsm/bloom.h"
#include "lsm/iter.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/mem.h"

#define OPEN_RETRIES 16

void lsm_options_default(struct lsm_options *o)
{
	memset(o, 0, sizeof *o);
	o->codec.id = CODEC_ZSTD;
	o->codec.level = 3;
	o->background = true;
	o->memtable_bytes = 64u << 20;
	o->block_bytes = 4096;
	o->block_cache_bytes = 256u << 20;
	o->sst_target_bytes = 32u << 20;
	o->l0_trigger = 4;
	o->l1_target_bytes = 256u << 20;
	o->gc_grace_ms = 10 * 60 * 1000;
	o->manifests_kept = 10;
}

/* ---- batches ---- */

struct batch_op {
	enum lsm_kind kind;
	size_t koff, klen, voff, vlen;
};

struct lsm_batch {
	struct batch_op *ops;
	size_t n, cap;
	struct buf data;
};

struct lsm_batch *lsm_batch_new(void)
{
	return xcalloc(1, sizeof(struct lsm_batch));
}

void lsm_batch_free(struct lsm_batch *b)
{
	if (!b)
		return;
	free(b->ops);
	buf_free(&b->data);
	free(b);
}

void lsm_batch_clear(struct lsm_batch *b)
{
	b->n = 0;
	buf_reset(&b->data);
}


/* Reads report a block that fails authentication as -EIO, as a disk
 * reports a bad sector: sst_read.c has logged the object and the cause,
 * and callers above (the core, then applications) need no errno of their
 * own for it.  Internally -EBADMSG still tells corruption from an I/O
 * error where that matters (opening a manifest). */
static int lsm_public_error(int r)
{
	return r == -EBADMSG ? -EIO : r;
}

static void batch_add(struct lsm_batch *b, enum lsm_kind kind, const void *key, size_t klen,
		      const void *val, size_t vlen)
{
	if (b->n == b->cap) {
		b->cap = b->cap ? b->cap * 2 : 8;
		b->ops = xrealloc(b->ops, b->cap * sizeof *b->ops);
	}
	struct batch_op *op = &b->ops[b->n++];
	op->kind = kind;
	op->koff = b->data.len;
	op->klen = klen;
	buf_append(&b->data, key, klen);
	op->voff = b->data.len;
	op->vlen = vlen;
	buf_append(&b->data, val, vlen);
}

void lsm_batch_put(struct lsm_batch *b, const void *key, size_t klen, const void *val,
		   size_t vlen)
{
	batch_add(b, LSM_KIND_PUT, key, klen, val, vlen);
}

void lsm_batch_delete(struct lsm_batch *b, const void *key, size_t klen)
{
	batch_add(b, LSM_KIND_DELETE, key, klen, NULL, 0);
}

size_t lsm_batch_count(const struct lsm_batch *b)
{
	return b->n;
}

static int batch_check(const struct lsm_batch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		const struct batch_op *op = &b->ops[i];
		if (op->klen == 0 || op->klen > LSM_KEY_MAX || op->vlen > LSM_VALUE_MAX)
			return -EINVAL;
	}
	return 0;
}

/* Too many frozen memtables: flush one here.  The writer holds write_mu,
 * so it must not wait for anything that needs commit_mu (a commit may be
 * waiting for write_mu while holding it): flushing needs only flush_mu and
 * mu, and a store error reaches the writer instead of hanging it. */
static int stall_locked(lsm *db)
{
	while (db->nimm >= MAX_FROZEN_MEMTABLES && !db->fenced) {
		pthread_mutex_unlock(&db->mu);
		int r = db_flush_oldest(db, UINT64_MAX);
		pthread_mutex_lock(&db->mu);
		if (r < 0)
			return r;
	}
	return db->fenced ? -EROFS : 0;
}

/* Too many L0 files slow every read down: give compaction up to 100 ms
 * per write to catch up.  Waits before taking write_mu (see above). */
static void slowdown(lsm *db)
{
	pthread_mutex_lock(&db->mu);
	if (db->bg_started && db_committed_l0_locked(db) >= L0_SLOWDOWN_FILES && !db->fenced) {
		struct timespec ts;
		clock_deadline(&ts, 100000000);
		while (db_committed_l0_locked(db) >= L0_SLOWDOWN_FILES && !db->fenced && !db->stop)
			if (pthread_cond_timedwait(&db->cond, &db->mu, &ts) != 0)
				break;
	}
	pthread_mutex_unlock(&db->mu);
}

void lsm_throttle(lsm *db)
{
	if (!db->writer)
		return;
	slowdown(db);
	/* Flush a full set of frozen memtables here rather than inside
	 * lsm_write, under write_mu and whatever lock the caller holds. */
	pthread_mutex_lock(&db->mu);
	(void)stall_locked(db); /* fenced or failing: lsm_write reports it */
	pthread_mutex_unlock(&db->mu);
}

int lsm_write(lsm *db, struct lsm_batch *b, uint64_t *seqp)
{
	if (!db->writer)
		return -EROFS;
	int r = batch_check(b);
	if (r < 0)
		return r;
	slowdown(db);
	pthread_mutex_lock(&db->write_mu);
	pthread_mutex_lock(&db->mu);
	r = stall_locked(db);
	pthread_mutex_unlock(&db->mu);
	if (r < 0)
		goto out;
	uint64_t seq = atomic_load(&db->last_seq);
	for (size_t i = 0; i < b->n; i++) {
		const struct batch_op *op = &b->ops[i];
		memtable_add(db->mem, ++seq, op->kind, b->data.data + op->koff, op->klen,
			     b->data.data + op->voff, op->vlen);
	}
	/* Publishing the last seq makes the whole batch visible at once. */
	atomic_store(&db->last_seq, seq);
	if (seqp)
		*seqp = seq;
	if (memtable_bytes(db->mem) >= db->o.memtable_bytes) {
		pthread_mutex_lock(&db->mu);
		db_rotate_locked(db);
		pthread_mutex_unlock(&db->mu);
	}
out:
	pthread_mutex_unlock(&db->write_mu);
	return r;
}

/* ---- reads ---- */

static struct view *view_get(lsm *db, uint64_t *snap)
{
	pthread_mutex_lock(&db->mu);
	struct view *w = db->view;
	view_ref(w);
	*snap = atomic_load(&db->last_seq);
	pthread_mutex_unlock(&db->mu);
	return w;
}

static int found(enum lsm_kind kind, const uint8_t *v, size_t vl, struct buf *val)
{
	if (kind == LSM_KIND_DELETE)
		return -ENOENT;
	if (val)
		buf_set(val, v, vl);
	return 0;
}

static int get_from_files(lsm *db, struct version *v, const void *key, size_t klen,
			  struct buf *val)
{
	uint64_t h = bloom_hash(key, klen);
	enum lsm_kind kind;
	struct sst_table *t;
	int r;
	for (int l = 0; l < LSM_LEVELS; l++) {
		size_t i = 0, end = v->n[l];
		if (l > 0) {
			i = version_find_file(v, l, key, klen);
			end = i < v->n[l] ? i + 1 : i;
		}
		for (; i < end; i++) {
			struct sst_file *f = v->files[l][i];
			if (!sst_file_contains(f, key, klen))
				continue;
			r = sst_file_table(f, &db->env, &t);
			if (r < 0)
				return r;
			r = sst_table_get(t, key, klen, h, &kind, val);
			if (r < 0)
				return r;
			if (r == 1)
				return kind == LSM_KIND_DELETE ? -ENOENT : 0;
		}
	}
	return -ENOENT;
}

int lsm_get(lsm *db, const void *key, size_t klen, struct buf *val)
{
	uint64_t snap;
	enum lsm_kind kind;
	const uint8_t *v;
	size_t vl;
	int r;
	if (klen == 0 || klen > LSM_KEY_MAX)
		return -EINVAL;
	struct view *w = view_get(db, &snap);
	if (memtable_get(w->mem, key, klen, snap, &kind, &v, &vl)) {
		r = found(kind, v, vl, val);
		goto out;
	}
	for (size_t i = 0; i < w->nimm; i++)
		if (memtable_get(w->imm[i], key, klen, snap, &kind, &v, &vl)) {
			r = found(kind, v, vl, val);
			goto out;
		}
	r = get_from_files(db, w->v, key, klen, val);
out:
	view_unref(w);
	return lsm_public_error(r);
}

struct lsm_iter {
	struct view *w;
	struct merge_iter *mi;
	struct buf prefix;
	int status;
	bool valid;
};

/* Skip tombstones; stop at the end of the prefix. */
static void iter_settle(struct lsm_iter *it)
{
	it->valid = false;
	while (merge_valid(it->mi)) {
		enum lsm_kind kind;
		const uint8_t *k, *v;
		size_t kl, vl;
		merge_entry(it->mi, &kind, &k, &kl, &v, &vl);
		if (!lsm_has_prefix(k, kl, it->prefix.data, it->prefix.len))
			return;
		if (kind == LSM_KIND_PUT) {
			it->valid = true;
			return;
		}
		merge_next(it->mi);
	}
	it->status = merge_status(it->mi);
}

int lsm_iter_new(lsm *db, const void *prefix, size_t plen, const void *start, size_t slen,
		 struct lsm_iter **out)
{
	uint64_t snap;
	struct lsm_iter *it = xcalloc(1, sizeof *it);
	it->w = view_get(db, &snap);
	it->mi = merge_iter_new();
	buf_set(&it->prefix, prefix, plen);
	struct view *w = it->w;
	merge_add_memtable(it->mi, w->mem, snap);
	for (size_t i = 0; i < w->nimm; i++)
		merge_add_memtable(it->mi, w->imm[i], snap);
	for (size_t i = 0; i < w->v->n[0]; i++) {
		struct sst_table *t;
		int r = sst_file_table(w->v->files[0][i], &db->env, &t);
		if (r < 0) {
			lsm_iter_free(it);
			return lsm_public_error(r);
		}
		merge_add_table(it->mi, t);
	}
	for (int l = 1; l < LSM_LEVELS; l++)
		if (w->v->n[l])
			merge_add_level(it->mi, w->v->files[l], w->v->n[l], &db->env);

	/* Start at the later of the prefix and the start key. */
	if (start && lsm_key_cmp(start, slen, prefix, plen) > 0)
		merge_seek(it->mi, start, slen);
	else if (plen)
		merge_seek(it->mi, prefix, plen);
	else
		merge_first(it->mi);
	iter_settle(it);
	*out = it;
	return 0;
}

bool lsm_iter_valid(const struct lsm_iter *it)
{
	return it->valid;
}

void lsm_iter_next(struct lsm_iter *it)
{
	if (!it->valid)
		return;
	merge_next(it->mi);
	iter_settle(it);
}

const uint8_t *lsm_iter_key(const struct lsm_iter *it, size_t *klen)
{
	enum lsm_kind kind;
	const uint8_t *k, *v;
	size_t vl;
	merge_entry(it->mi, &kind, &k, klen, &v, &vl);
	return k;
}

const uint8_t *lsm_iter_value(const struct lsm_iter *it, size_t *vlen)
{
	enum lsm_kind kind;
	const uint8_t *k, *v;
	size_t kl;
	merge_entry(it->mi, &kind, &k, &kl, &v, vlen);
	return v;
}

int lsm_iter_status(const struct lsm_iter *it)
{
	return lsm_public_error(it->status);
}

void lsm_iter_free(struct lsm_iter *it)
{
	if (!it)
		return;
	merge_iter_free(it->mi);
	view_unref(it->w);
	buf_free(&it->prefix);
	free(it);
}

/* ---- state from a manifest ---- */

static struct sst_file *file_from_manifest(const struct manifest_file *mf)
{
	struct sst_file *f = sst_file_new(mf->id, (int)mf->level);
	f->size = mf->size;
	f->meta_off = mf->meta_off;
	f->entries = mf->entries;
	f->min_seq = mf->min_seq;
	f->max_seq = mf->max_seq;
	buf_set(&f->smallest, mf->smallest.data, mf->smallest.len);
	buf_set(&f->largest, mf->largest.data, mf->largest.len);
	return f;
}

/* A version for m, reusing (and so keeping open) files of `old`. */
static struct version *version_from_manifest(const struct manifest *m, const struct version *old)
{
	struct version *v = version_new();
	for (size_t i = 0; i < m->nfiles; i++) {
		struct sst_file *f = NULL;
		for (int l = 0; old && !f && l < LSM_LEVELS; l++)
			for (size_t k = 0; k < old->n[l]; k++)
				if (old->files[l][k]->id == m->files[i].id) {
					f = old->files[l][k];
					sst_file_ref(f);
					break;
				}
		if (!f)
			f = file_from_manifest(&m->files[i]);
		version_add(v, f);
		sst_file_unref(f);
	}
	return v;
}

static void adopt_manifest_locked(lsm *db, const struct manifest *m)
{
	struct version *v = version_from_manifest(m, db->cur);
	version_unref(db->cur);
	db->cur = v;
	db->manifest_seq = m->seq;
	db->durable_seq = m->durable_seq;
	atomic_store(&db->last_seq, m->durable_seq);
	if (!db->writer)
		db->epoch = m->epoch;
	db_install_view_locked(db);
}

/* ---- open ---- */

static int take_over(lsm *db, struct manifest *m)
{
	for (int attempt = 0; attempt < OPEN_RETRIES; attempt++) {
		uint64_t seq;
		int r = manifest_find_latest(db->o.store, 0, &seq);
		if (r == -ENOENT) {
			if (!db->o.create) {
				log_error("lsm: no manifest in %s: not a bucketfs store (or not "
					  "created yet)", objstore_url(db->o.store));
				return -ENOENT;
			}
			memset(m, 0, sizeof *m);
			m->seq = 1;
			m->epoch = 1;
			m->created_ns = clock_wall_ns();
			manifest_add_start(m, m->seq);
		} else if (r < 0) {
			return r;
		} else {
			r = manifest_load(db->o.store, db->key, seq, m);
			if (r == -ENOENT)
				continue; /* pruned between list and get */
			if (r < 0)
				return r;
			m->seq++;
			m->epoch++;
			m->created_ns = clock_wall_ns();
			manifest_add_start(m, m->seq);
		}
		r = manifest_store(db->o.store, db->key, m);
		if (r == 0)
			return 0;
		uint64_t lost = m->seq;
		manifest_free(m);
		if (r != -EEXIST)
			return r;
		log_info("lsm: another writer wrote manifest %" PRIu64 " first; retrying", lost);
	}
	log_error("lsm: could not take over %s as writer after %d attempts: other writers "
		  "keep winning", objstore_url(db->o.store), OPEN_RETRIES);
	return -EBUSY;
}

static int open_writer(lsm *db)
{
	struct manifest m;
	int r = take_over(db, &m);
	if (r < 0)
		return r;
	pthread_mutex_lock(&db->mu);
	db->epoch = m.epoch;
	adopt_manifest_locked(db, &m);
	for (size_t i = 0; i < m.nobsolete; i++)
		db_obsolete_add_locked(db, m.obsolete[i].id, m.obsolete[i].since_ns, NULL);
	db->starts = xmemdup(m.starts, m.nstarts * sizeof *m.starts);
	db->nstarts = m.nstarts;
	pthread_mutex_unlock(&db->mu);
	r = db_load_checkpoints(db, &m);
	manifest_free(&m);
	if (r == 0)
		r = db_sweep_orphans(db);
	if (r < 0)
		return r;
	uint64_t *seqs;
	size_t n;
	r = manifest_list(db->o.store, &seqs, &n);
	if (r < 0)
		return r;
	pthread_mutex_lock(&db->mu);
	for (size_t i = 0; i < n; i++)
		db_add_manifest_seq_locked(db, seqs[i]);
	pthread_mutex_unlock(&db->mu);
	free(seqs);
	return 0;
}

static int open_reader(lsm *db)
{
	uint64_t seq;
	struct manifest m;
	int r;
	for (int attempt = 0;; attempt++) {
		r = manifest_find_latest(db->o.store, 0, &seq);
		if (r == -ENOENT)
			log_error("lsm: no manifest in %s: not a bucketfs store",
				  objstore_url(db->o.store));
		if (r < 0)
			return r;
		r = manifest_load(db->o.store, db->key, seq, &m);
		if (r != -ENOENT || attempt == OPEN_RETRIES)
			break;
	}
	if (r < 0)
		return r;
	if (db->o.checkpoint) {
		uint64_t pinned = 0;
		for (size_t i = 0; i < m.ncheckpoints; i++)
			if (!strcmp(m.checkpoints[i].name, db->o.checkpoint))
				pinned = m.checkpoints[i].manifest_seq;
		manifest_free(&m);
		if (!pinned) {
			log_error("lsm: no checkpoint named '%s' in %s", db->o.checkpoint,
				  objstore_url(db->o.store));
			return -ENOENT;
		}
		r = manifest_load(db->o.store, db->key, pinned, &m);
		if (r < 0)
			return r == -ENOENT ? -EIO : r;
	}
	pthread_mutex_lock(&db->mu);
	adopt_manifest_locked(db, &m);
	pthread_mutex_unlock(&db->mu);
	r = db_load_checkpoints(db, &m);
	manifest_free(&m);
	return r;
}

static void *flusher_main(void *arg);
static void *compactor_main(void *arg);

static void options_fill(struct lsm_options *o)
{
	struct lsm_options d;
	lsm_options_default(&d);
	if (!o->memtable_bytes)
		o->memtable_bytes = d.memtable_bytes;
	if (!o->block_bytes)
		o->block_bytes = d.block_bytes;
	if (!o->block_cache_bytes)
		o->block_cache_bytes = d.block_cache_bytes;
	if (!o->sst_target_bytes)
		o->sst_target_bytes = d.sst_target_bytes;
	if (!o->l0_trigger)
		o->l0_trigger = d.l0_trigger;
	if (!o->l1_target_bytes)
		o->l1_target_bytes = d.l1_target_bytes;
	if (!o->manifests_kept)
		o->manifests_kept = d.manifests_kept;
}

int lsm_open(const struct lsm_options *o, lsm **out)
{
	if (!o->store)
		return -EINVAL;
	lsm *db = xcalloc(1, sizeof *db);
	db->o = *o;
	db->o.checkpoint = o->checkpoint ? xstrdup(o->checkpoint) : NULL;
	options_fill(&db->o);
	memcpy(db->key, o->key, sizeof db->key);
	db->writer = !o->read_only && !o->checkpoint;
	db->cache = block_cache_new(db->o.block_cache_bytes);
	db->env.store = o->store;
	db->env.key = db->key;
	db->env.cache = db->cache;
	db->env.codec = db->o.codec;
	db->env.block_bytes = db->o.block_bytes;
	pthread_mutex_init(&db->compact_mu, NULL);
	pthread_mutex_init(&db->commit_mu, NULL);
	pthread_mutex_init(&db->write_mu, NULL);
	pthread_mutex_init(&db->flush_mu, NULL);
	pthread_mutex_init(&db->mu, NULL);
	pthread_mutex_init(&db->refresh_mu, NULL);
	pthread_cond_init(&db->cond, NULL);
	db->mem = memtable_new(clock_mono_ns());
	db->cur = version_new();
	db_install_view_locked(db);

	int r = db->writer ? open_writer(db) : open_reader(db);
	if (r < 0) {
		lsm_close(db);
		return r;
	}
	if (db->writer && db->o.background) {
		r = pthread_create(&db->bg, NULL, flusher_main, db);
		if (r == 0) {
			db->bg_started = true;
			r = pthread_create(&db->bg_compact, NULL, compactor_main, db);
			db->compact_started = r == 0;
		}
		if (r) {
			lsm_close(db);
			return -r;
		}
	}
	log_debug("lsm: opened %s as %s at manifest %" PRIu64 " (epoch %" PRIu64 ")",
		  objstore_url(o->store), db->writer ? "writer" : "reader", db->manifest_seq,
		  db->epoch);
	*out = db;
	return 0;
}

void lsm_close(lsm *db)
{
	if (!db)
		return;
	if (db->bg_started) {
		pthread_mutex_lock(&db->mu);
		db->stop = true;
		pthread_cond_broadcast(&db->cond);
		pthread_mutex_unlock(&db->mu);
		pthread_join(db->bg, NULL);
		if (db->compact_started)
			pthread_join(db->bg_compact, NULL);
	}
	view_unref(db->view);
	version_unref(db->cur);
	memtable_unref(db->mem);
	for (size_t i = 0; i < db->nimm; i++)
		memtable_unref(db->imm[i]);
	free(db->imm);
	for (size_t i = 0; i < db->nobs; i++)
		sst_file_unref(db->obs[i].f);
	free(db->obs);
	for (size_t i = 0; i < db->npending; i++)
		sst_file_unref(db->pending[i]);
	free(db->pending);
	db_checkpoints_free(db);
	free(db->manifests);
	free(db->starts);
	for (int l = 0; l < LSM_LEVELS; l++)
		buf_free(&db->compact_ptr[l]);
	block_cache_free(db->cache);
	free((char *)db->o.checkpoint);
	pthread_cond_destroy(&db->cond);
	pthread_mutex_destroy(&db->mu);
	pthread_mutex_destroy(&db->refresh_mu);
	pthread_mutex_destroy(&db->flush_mu);
	pthread_mutex_destroy(&db->write_mu);
	pthread_mutex_destroy(&db->commit_mu);
	pthread_mutex_destroy(&db->compact_mu);
	crypt_wipe(db->key, sizeof db->key);
	free(db);
}

/* ---- background work ---- */

static void wait_locked(lsm *db, uint64_t ms)
{
	clock_cond_wait(&db->cond, &db->mu, ms * 1000000ull);
}

/* Sleep until the absolute monotonic deadline, or until signalled when
 * `wake` is set; spurious wakeups do not shorten a backoff. */
static void sleep_until_locked(lsm *db, uint64_t deadline, bool wake)
{
	while (!db->stop) {
		uint64_t now = clock_mono_ns();
		if (now >= deadline)
			return;
		wait_locked(db, (deadline - now) / 1000000 + 1);
		if (wake)
			return;
	}
}

/* Flushes frozen memtables and collects garbage. */
static void *flusher_main(void *arg)
{
	lsm *db = arg;
	uint64_t next_gc = 0;
	pthread_mutex_lock(&db->mu);
	while (!db->stop) {
		uint64_t now = clock_mono_ns();
		bool flush = db->nimm > 0 && !db->fenced;
		bool gc = now >= next_gc && !db->fenced;
		if (!flush && !gc) {
			sleep_until_locked(db, next_gc > now ? next_gc : now + 1000000000ull, true);
			continue;
		}
		pthread_mutex_unlock(&db->mu);
		int r = 0;
		if (flush) {
			r = db_flush_oldest(db, UINT64_MAX);
		} else {
			lsm_collect_garbage(db);
			uint64_t period = db->o.gc_grace_ms / 4;
			period = period > 5000 ? 5000 : period < 100 ? 100 : period;
			next_gc = clock_mono_ns() + period * 1000000ull;
		}
		pthread_mutex_lock(&db->mu);
		if (r < 0 && r != -EROFS) {
			log_warn("lsm: background flush failed (%s); retrying in 1 s", strerror(-r));
			sleep_until_locked(db, clock_mono_ns() + 1000000000ull, false);
		}
	}
	pthread_mutex_unlock(&db->mu);
	return NULL;
}

/* Runs compactions, on its own so that flushes never starve it. */
static void *compactor_main(void *arg)
{
	lsm *db = arg;
	pthread_mutex_lock(&db->mu);
	while (!db->stop) {
		if (!db_compaction_due_locked(db)) {
			sleep_until_locked(db, clock_mono_ns() + 1000000000ull, true);
			continue;
		}
		pthread_mutex_unlock(&db->mu);
		int r = db_compact_once(db, false);
		pthread_mutex_lock(&db->mu);
		if (r < 0 && r != -EROFS) {
			log_warn("lsm: background compaction failed (%s); retrying in 1 s",
				 strerror(-r));
			sleep_until_locked(db, clock_mono_ns() + 1000000000ull, false);
		} else if (r == 0) {
			/* Due but nothing could be picked (inputs not yet
			 * committed): wait for a commit instead of spinning. */
			sleep_until_locked(db, clock_mono_ns() + 1000000000ull, true);
		}
	}
	pthread_mutex_unlock(&db->mu);
	return NULL;
}

/* ---- replicas ---- */

int lsm_refresh(lsm *db, bool *changed)
{
	*changed = false;
	if (db->writer)
		return -EINVAL;
	if (db->o.checkpoint)
		return 0; /* a checkpoint never changes */
	pthread_mutex_lock(&db->refresh_mu);
	int r = -EIO;
	for (int attempt = 0; attempt < OPEN_RETRIES; attempt++) {
		uint64_t seq;
		struct manifest m;
		r = manifest_find_latest(db->o.store, db->manifest_seq, &seq);
		if (r == -ENOENT) {
			r = 0;
			break;
		}
		if (r < 0)
			break;
		r = manifest_load(db->o.store, db->key, seq, &m);
		if (r == -ENOENT)
			continue; /* pruned between list and get */
		if (r < 0)
			break;
		pthread_mutex_lock(&db->mu);
		adopt_manifest_locked(db, &m);
		db_checkpoints_free(db);
		pthread_mutex_unlock(&db->mu);
		r = db_load_checkpoints(db, &m);
		manifest_free(&m);
		*changed = true;
		break;
	}
	pthread_mutex_unlock(&db->refresh_mu);
	return r;
}

void lsm_stats(lsm *db, struct lsm_stats *st)
{
	struct block_cache_stats cs;
	memset(st, 0, sizeof *st);
	pthread_mutex_lock(&db->mu);
	st->epoch = db->epoch;
	st->manifest_seq = db->manifest_seq;
	st->last_seq = atomic_load(&db->last_seq);
	st->durable_seq = db->durable_seq;
	st->memtable_bytes = memtable_bytes(db->mem);
	for (size_t i = 0; i < db->nimm; i++)
		st->memtable_bytes += memtable_bytes(db->imm[i]);
	for (int l = 0; l < LSM_LEVELS; l++) {
		st->files[l] = (unsigned)db->cur->n[l];
		st->bytes[l] = version_level_bytes(db->cur, l);
	}
	st->flushes = db->n_flushes;
	st->compactions = db->n_compactions;
	st->compaction_bytes_in = db->n_cbytes_in;
	st->compaction_bytes_out = db->n_cbytes_out;
	st->objects_deleted = db->n_deleted;
	st->fenced = db->fenced;
	pthread_mutex_unlock(&db->mu);
	block_cache_stats(db->cache, &cs);
	st->cache_hits = cs.hits;
	st->cache_misses = cs.misses;
	st->cache_bytes = cs.bytes;
}
