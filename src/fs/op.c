/* op.c -- the one mutation path: lock, load, check, stage, commit, end.
 *
 *   struct fs_op op;
 *   int r = fs_op_begin(fs, &op, FS_OP_SETATTR, c, true);
 *   if (r == 0) { fs_op_lock(&op, ino, 0, 0, 0); r = fs_op_load(&op, ino, &in); }
 *   ... checks, changes to *in, fs_op_dirty(&op, in), data_* on fs_op_txn ...
 *   if (r == 0) r = fs_op_commit(&op);
 *   return fs_op_end(&op, r, wcc, ino, 0, 0);
 *
 * The op owns the inode records it loaded (up to OP_INODES) and remembers
 * their attributes from before, for wcc.  fs_op_commit bumps the change
 * counter of each changed record and commits with data_txn_commit_nowait
 * while the stripes are held; the records are put in the batch by the
 * data plane's commit hook, after its extent hook told each inode how many
 * stored extents it gained or lost (st_blocks), and the same hook keeps
 * the counters ('F') in step with the tree under ctr_mu for a moment only.
 * fs_op_end lets go of the stripes, then (if the op staged new data)
 * waits for upload room, reports to observers and counts the call. */
#include "fs/fs_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "util/coding.h"
#include "util/log.h"

uint64_t fs_clock_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void fs_stat_count(struct fs *fs, enum fs_op_kind kind, uint64_t t0, int r)
{
	struct fs_op_counter *s = &fs->stats[kind];
	atomic_fetch_add_explicit(&s->count, 1, memory_order_relaxed);
	if (r < 0)
		atomic_fetch_add_explicit(&s->errors, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->ns, fs_clock_ns() - t0, memory_order_relaxed);
}

/* ---- counters ---- */

static void put_counters(struct lsm_batch *b, uint64_t reserved, uint64_t used, uint64_t inodes)
{
	uint8_t k[1] = { KEY_COUNTERS }, v[24];
	be64_put(v, reserved);
	be64_put(v + 8, used);
	be64_put(v + 16, inodes);
	lsm_batch_put(b, k, 1, v, sizeof v);
}

int fs_counters_load(struct fs *fs)
{
	uint8_t k[1] = { KEY_COUNTERS };
	struct buf v = BUF_INIT;
	int r = lsm_get(fs->db, k, 1, &v);
	if (r == 0 && v.len == 24) {
		fs->reserved_ino = be64_get(v.data);
		fs->used_bytes = be64_get(v.data + 8);
		fs->inodes = be64_get(v.data + 16);
	} else if (r == 0) {
		log_error("fs: the counters key holds %zu bytes, not 24", v.len);
		r = -EIO;
	} else if (r == -ENOENT) {
		fs->reserved_ino = FS_ROOT_INO + 1;
		r = 0;
	}
	/* Numbers below the reservation may have been handed out before a
	 * crash: start above it, so none is ever used twice. */
	fs->next_ino = fs->reserved_ino;
	buf_free(&v);
	return r;
}

int fs_quota_check(struct fs *fs, int64_t d_bytes, int64_t d_inodes)
{
	int r = 0;
	pthread_mutex_lock(&fs->ctr_mu);
	if (d_bytes > 0 && fs->o.max_size && fs->used_bytes + (uint64_t)d_bytes > fs->o.max_size)
		r = -ENOSPC;
	if (d_inodes > 0 && fs->o.max_inodes && fs->inodes + (uint64_t)d_inodes > fs->o.max_inodes)
		r = -ENOSPC;
	pthread_mutex_unlock(&fs->ctr_mu);
	return r;
}

/* ---- begin, lock, load ---- */

int fs_op_begin(struct fs *fs, struct fs_op *op, enum fs_op_kind kind, const struct fs_cred *c,
		bool mutation)
{
	memset(op, 0, sizeof *op);
	op->fs = fs;
	op->c = c;
	op->kind = kind;
	op->t0 = fs_clock_ns();
	return mutation && fs->o.read_only ? -EROFS : 0;
}

static void sort4(uint32_t *s)
{
	for (int i = 1; i < 4; i++)
		for (int j = i; j > 0 && s[j] < s[j - 1]; j--) {
			uint32_t t = s[j];
			s[j] = s[j - 1];
			s[j - 1] = t;
		}
}

static void stripes_of(const uint64_t v[4], uint32_t s[4])
{
	for (int i = 0; i < 4; i++)
		s[i] = v[i] ? (uint32_t)(v[i] % FS_STRIPES) : UINT32_MAX;
	sort4(s);
}

void fs_op_lock(struct fs_op *op, uint64_t a, uint64_t b, uint64_t c, uint64_t d)
{
	uint32_t s[4];
	op->lk[0] = a;
	op->lk[1] = b;
	op->lk[2] = c;
	op->lk[3] = d;
	stripes_of(op->lk, s);
	for (int i = 0; i < 4; i++)
		if (s[i] != UINT32_MAX && (i == 0 || s[i] != s[i - 1]))
			pthread_mutex_lock(&op->fs->stripes[s[i]]);
	op->locked = true;
}

void fs_op_unlock(struct fs_op *op)
{
	uint32_t s[4];
	if (!op->locked)
		return;
	stripes_of(op->lk, s);
	for (int i = 3; i >= 0; i--)
		if (s[i] != UINT32_MAX && (i == 0 || s[i] != s[i - 1]))
			pthread_mutex_unlock(&op->fs->stripes[s[i]]);
	op->locked = false;
}

static struct fs_op_slot *slot_of(struct fs_op *op, uint64_t ino)
{
	for (int i = 0; i < OP_INODES; i++)
		if (op->slot[i].used && op->slot[i].in.ino == ino)
			return &op->slot[i];
	return NULL;
}

static struct fs_op_slot *slot_free(struct fs_op *op)
{
	for (int i = 0; i < OP_INODES; i++)
		if (!op->slot[i].used)
			return &op->slot[i];
	abort(); /* a caller touching more than OP_INODES inodes is a bug */
}

int fs_op_load(struct fs_op *op, uint64_t ino, struct inode **out)
{
	struct fs_op_slot *s = slot_of(op, ino);
	if (s) {
		*out = &s->in;
		return 0;
	}
	s = slot_free(op);
	int r = fs_inode_load(op->fs, ino, &s->in);
	/* Under the inode's lock the count stays right until the put. */
	if (r == 0 && (r = fs_inode_count_extents(op->fs, &s->in)) < 0)
		fs_inode_free(&s->in);
	if (r < 0)
		return r;
	s->used = s->loaded = true;
	fs_inode_attr(&s->in, &s->pre);
	*out = &s->in;
	return 0;
}

int fs_op_load_dir(struct fs_op *op, uint64_t ino, struct inode **out)
{
	int r = fs_op_load(op, ino, out);
	return r == 0 && !S_ISDIR((*out)->mode) ? -ENOTDIR : r;
}

struct inode *fs_op_new(struct fs_op *op)
{
	struct fs *fs = op->fs;
	struct fs_op_slot *s = slot_free(op);
	memset(s, 0, sizeof *s);
	s->used = s->dirty = true;
	pthread_mutex_lock(&fs->ctr_mu);
	s->in.ino = fs->next_ino++;
	pthread_mutex_unlock(&fs->ctr_mu);
	s->in.generation = fs->gen;
	s->in.extents_known = true;
	return &s->in;
}

static struct fs_op_slot *slot_by_ptr(struct fs_op *op, struct inode *in)
{
	struct fs_op_slot *s = (struct fs_op_slot *)((char *)in - offsetof(struct fs_op_slot, in));
	if (s < op->slot || s >= op->slot + OP_INODES)
		abort(); /* not a record of this op */
	return s;
}

void fs_op_dirty(struct fs_op *op, struct inode *in)
{
	struct fs_op_slot *s = slot_by_ptr(op, in);
	if (!s->gone)
		s->dirty = true;
}

void fs_op_gone(struct fs_op *op, struct inode *in)
{
	struct fs_op_slot *s = slot_by_ptr(op, in);
	s->gone = true;
	s->dirty = false;
}

void fs_op_entry(struct fs_op *op, uint64_t parent, const char *name)
{
	if (op->nent < OP_ENTRIES) {
		op->ent[op->nent].parent = parent;
		op->ent[op->nent].name = name;
		op->nent++;
	}
}

struct data_txn *fs_op_txn(struct fs_op *op)
{
	if (!op->txn)
		op->txn = data_txn_new(op->fs->data);
	return op->txn;
}

struct lsm_batch *fs_op_batch(struct fs_op *op)
{
	if (!op->b)
		op->b = lsm_batch_new();
	return op->b;
}

/* ---- commit ---- */

/* Before the batch is applied: the data plane says how many stored
 * extents each inode gained or lost. */
static void on_extents(void *arg, struct lsm_batch *b, uint64_t ino, int64_t delta)
{
	struct fs_op *op = arg;
	struct fs_op_slot *s = slot_of(op, ino);
	(void)b;
	if (!s || s->gone)
		return;
	if (delta < 0 && (uint64_t)-delta > s->in.extents) {
		log_error("fs: inode %" PRIu64 ": stored extent count %" PRIu64 " would go below 0",
			  ino, s->in.extents);
		s->in.extents = 0;
	} else {
		s->in.extents = (uint64_t)((int64_t)s->in.extents + delta);
	}
	s->dirty = true;
}

static void prepare(struct fs_op *op, struct lsm_batch *b)
{
	struct fs *fs = op->fs;
	for (int i = 0; i < OP_INODES; i++)
		if (op->slot[i].used && op->slot[i].dirty)
			fs_inode_put(b, &op->slot[i].in);
	pthread_mutex_lock(&fs->ctr_mu);
	op->prev_reserved = fs->reserved_ino;
	uint64_t reserved = fs->reserved_ino;
	if (fs->next_ino > reserved)
		reserved = fs->next_ino + INO_BATCH;
	if (op->d_bytes || op->d_inodes || reserved != fs->reserved_ino) {
		uint64_t used = (uint64_t)((int64_t)fs->used_bytes + op->d_bytes);
		uint64_t inodes = (uint64_t)((int64_t)fs->inodes + op->d_inodes);
		put_counters(b, reserved, used, inodes);
		fs->used_bytes = used;
		fs->inodes = inodes;
		fs->reserved_ino = reserved;
		op->applied_bytes = op->d_bytes;
		op->applied_inodes = op->d_inodes;
	}
	op->new_reserved = reserved;
	pthread_mutex_unlock(&fs->ctr_mu);
}

/* Counters move at PREPARE, in apply order; a failed batch takes its
 * part back. */
static void on_commit(void *arg, struct lsm_batch *b, int phase)
{
	struct fs_op *op = arg;
	struct fs *fs = op->fs;
	if (phase == DATA_HOOK_PREPARE) {
		prepare(op, b);
	} else if (phase == DATA_HOOK_FAILED) {
		pthread_mutex_lock(&fs->ctr_mu);
		fs->used_bytes = (uint64_t)((int64_t)fs->used_bytes - op->applied_bytes);
		fs->inodes = (uint64_t)((int64_t)fs->inodes - op->applied_inodes);
		if (fs->reserved_ino == op->new_reserved)
			fs->reserved_ino = op->prev_reserved;
		pthread_mutex_unlock(&fs->ctr_mu);
	}
}

static void stamp_seq(struct fs *fs, uint64_t ino, uint64_t seq)
{
	_Atomic uint64_t *p = &fs->seqs[ino % SEQ_SLOTS];
	uint64_t cur = atomic_load(p);
	while (cur < seq && !atomic_compare_exchange_weak(p, &cur, seq))
		;
}

int fs_op_commit(struct fs_op *op)
{
	bool any = op->b || op->txn || op->d_bytes || op->d_inodes;
	for (int i = 0; i < OP_INODES; i++)
		if (op->slot[i].used && (op->slot[i].dirty || op->slot[i].gone)) {
			any = true;
			/* atime alone is not a change (as i_version on Linux) */
			if (op->slot[i].dirty && op->kind != FS_OP_ATIME)
				op->slot[i].in.change++;
		}
	if (!any)
		return 0;
	struct data_txn *t = fs_op_txn(op);
	data_txn_on_extents(t, on_extents, op);
	data_txn_on_commit(t, on_commit, op);
	int r = data_txn_commit_nowait(t, fs_op_batch(op), &op->seq);
	if (r < 0) {
		log_error("fs: %s: commit failed: %s", fs_op_name(op->kind), strerror(-r));
		for (int i = 0; i < OP_INODES; i++)
			if (op->slot[i].used && op->slot[i].dirty)
				op->slot[i].in.change--;
		return r;
	}
	op->committed = true;
	for (int i = 0; i < OP_INODES; i++)
		if (op->slot[i].used && (op->slot[i].dirty || op->slot[i].gone))
			stamp_seq(op->fs, op->slot[i].in.ino, op->seq);
	return 0;
}

/* ---- end ---- */

static void fill_wcc(struct fs_op *op, uint64_t ino, struct fs_wcc *w)
{
	memset(w, 0, sizeof *w);
	struct fs_op_slot *s = ino ? slot_of(op, ino) : NULL;
	if (!s)
		return;
	if (s->loaded) {
		w->pre_valid = true;
		w->pre_size = s->pre.size;
		w->pre_mtime = s->pre.mtime;
		w->pre_ctime = s->pre.ctime;
		w->pre_change = s->pre.change;
	}
	if (op->committed && !s->gone) {
		w->post_valid = true;
		fs_inode_attr(&s->in, &w->post);
	} else if (!op->committed && s->loaded) {
		w->post_valid = true;
		w->post = s->pre;
	}
}

int fs_op_end(struct fs_op *op, int r, struct fs_wcc_out *wcc, uint64_t obj, uint64_t dir,
	      uint64_t dir2)
{
	struct fs *fs = op->fs;
	/* Queued before the lock goes, so the queue is never behind the
	 * orphan keys the next op on the inode sees (growth reads the key
	 * itself: the key, not the queue, decides whether it trims first). */
	if (op->committed && op->reclaim)
		fs_reclaim_queue(fs, op->reclaim);
	fs_op_unlock(op);
	if (op->txn && op->wrote_data)
		data_throttle(fs->data); /* upload room, with no lock of ours held */
	if (wcc) {
		fill_wcc(op, obj, &wcc->obj);
		fill_wcc(op, dir, &wcc->dir);
		fill_wcc(op, dir2, &wcc->dir2);
	}
	/* Observers hear of what a client caches and must see: not of an
	 * atime update, nor of the reclaimer removing data past the size
	 * (neither changes size, mtime or content; a frontend acting on them,
	 * such as FUSE's write-back fix-up, could only do harm). */
	if (op->committed && op->kind != FS_OP_ATIME && op->kind != FS_OP_RECLAIM) {
		uint32_t origin = op->c ? op->c->origin : 0;
		for (int i = 0; i < op->nent; i++)
			fs_notify_entry(fs, origin, op->ent[i].parent, op->ent[i].name);
		for (int i = 0; i < OP_INODES; i++)
			if (op->slot[i].used && (op->slot[i].dirty || op->slot[i].gone))
				fs_notify_inode(fs, origin, op->slot[i].in.ino);
	}
	for (int i = 0; i < OP_INODES; i++)
		if (op->slot[i].used)
			fs_inode_free(&op->slot[i].in);
	data_txn_free(op->txn);
	if (op->b)
		lsm_batch_free(op->b);
	op->txn = NULL;
	op->b = NULL;
	fs_stat_count(fs, op->kind, op->t0, r);
	return r;
}

/* ---- metrics ---- */

static const char *const op_names[FS_OP_KINDS] = {
	[FS_OP_LOOKUP] = "lookup", [FS_OP_GETATTR] = "getattr", [FS_OP_SETATTR] = "setattr",
	[FS_OP_MKNOD] = "mknod", [FS_OP_MKDIR] = "mkdir", [FS_OP_SYMLINK] = "symlink",
	[FS_OP_CREATE] = "create", [FS_OP_LINK] = "link", [FS_OP_UNLINK] = "unlink",
	[FS_OP_RMDIR] = "rmdir", [FS_OP_RENAME] = "rename", [FS_OP_OPEN] = "open",
	[FS_OP_RELEASE] = "release", [FS_OP_READ] = "read", [FS_OP_WRITE] = "write",
	[FS_OP_FALLOCATE] = "fallocate", [FS_OP_COMMIT] = "commit", [FS_OP_READDIR] = "readdir",
	[FS_OP_SETXATTR] = "setxattr", [FS_OP_REMOVEXATTR] = "removexattr",
	[FS_OP_ATIME] = "atime", [FS_OP_RECLAIM] = "reclaim", [FS_OP_ACCESS] = "access",
	[FS_OP_READLINK] = "readlink", [FS_OP_STATFS] = "statfs", [FS_OP_GETXATTR] = "getxattr",
	[FS_OP_LISTXATTR] = "listxattr", [FS_OP_MAP] = "map",
};

const char *fs_op_name(enum fs_op_kind k)
{
	return (unsigned)k < FS_OP_KINDS && op_names[k] ? op_names[k] : "unknown";
}
