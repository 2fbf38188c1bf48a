/* memtable.c -- lock-free-read skiplist over an arena (see memtable.h).
 *
 * Order: key ascending, then seq descending, so the first node at or after
 * (key, snap) is the newest visible version of key.  Publication: a new
 * node's forward pointers are written before it is linked with a release
 * store, and readers follow links with acquire loads, so a reader sees
 * either the old list or the list with the complete node.  Readers never
 * see a batch half-applied because they ignore seq > snap, and the snapshot
 * is advanced only after the whole batch is in (lsm.c). */
#include "lsm/memtable.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "util/mem.h"

#define MT_MAX_HEIGHT 20
#define ARENA_CHUNK (1u << 20)

struct mt_node {
	uint64_t seq;
	uint32_t klen;
	uint32_t vlen;
	uint8_t kind;
	uint8_t height;
	uint8_t *key; /* key then value, in the arena */
	_Atomic(struct mt_node *) next[];
};

struct arena_chunk {
	struct arena_chunk *prev;
	size_t used, cap;
	uint8_t data[];
};

struct memtable {
	_Atomic int refs;
	struct arena_chunk *chunk;
	_Atomic size_t bytes;
	_Atomic uint64_t entries;
	_Atomic uint64_t min_seq, max_seq;
	_Atomic int height;
	uint64_t rng;
	struct mt_node *head;
};

static void *arena_alloc(struct memtable *mt, size_t n)
{
	n = (n + 7) & ~(size_t)7;
	struct arena_chunk *c = mt->chunk;
	if (!c || c->cap - c->used < n) {
		size_t cap = n > ARENA_CHUNK / 4 ? n : ARENA_CHUNK;
		struct arena_chunk *nc = xmalloc(sizeof *nc + cap);
		nc->used = 0;
		nc->cap = cap;
		if (cap == n && c) {
			/* A big entry gets its own chunk, kept behind the
			 * current one so the current one stays in use. */
			nc->prev = c->prev;
			c->prev = nc;
			nc->used = n;
			atomic_fetch_add(&mt->bytes, n);
			return nc->data;
		}
		nc->prev = c;
		mt->chunk = c = nc;
	}
	void *p = c->data + c->used;
	c->used += n;
	atomic_fetch_add(&mt->bytes, n);
	return p;
}

static struct mt_node *node_new(struct memtable *mt, int height, size_t kvlen)
{
	struct mt_node *n = arena_alloc(mt, sizeof *n + (size_t)height * sizeof n->next[0]);
	n->height = (uint8_t)height;
	n->key = kvlen ? arena_alloc(mt, kvlen) : NULL;
	for (int i = 0; i < height; i++)
		atomic_init(&n->next[i], NULL);
	return n;
}

struct memtable *memtable_new(uint64_t seed)
{
	struct memtable *mt = xcalloc(1, sizeof *mt);
	atomic_init(&mt->refs, 1);
	atomic_init(&mt->height, 1);
	mt->rng = seed | 1;
	mt->head = node_new(mt, MT_MAX_HEIGHT, 0);
	/* The head node is overhead, not data: do not let it count toward
	 * the rotation threshold. */
	atomic_store(&mt->bytes, 0);
	return mt;
}

void memtable_ref(struct memtable *mt)
{
	atomic_fetch_add(&mt->refs, 1);
}

void memtable_unref(struct memtable *mt)
{
	if (!mt || atomic_fetch_sub(&mt->refs, 1) != 1)
		return;
	struct arena_chunk *c = mt->chunk;
	while (c) {
		struct arena_chunk *prev = c->prev;
		free(c);
		c = prev;
	}
	free(mt);
}

static int random_height(struct memtable *mt)
{
	/* xorshift64; branching factor 4 as in LevelDB. */
	int h = 1;
	uint64_t x = mt->rng;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	mt->rng = x;
	while (h < MT_MAX_HEIGHT && (x & 3) == 0) {
		h++;
		x >>= 2;
	}
	return h;
}

/* (key, seq) order: key ascending, seq descending. */
static int node_cmp(const struct mt_node *n, const void *key, size_t klen, uint64_t seq)
{
	int c = lsm_key_cmp(n->key, n->klen, key, klen);
	if (c)
		return c;
	return n->seq > seq ? -1 : n->seq < seq;
}

/* First node >= (key, seq); fills prev[] when asked (writer only). */
static struct mt_node *find_ge(struct memtable *mt, const void *key, size_t klen, uint64_t seq,
			       struct mt_node **prev)
{
	struct mt_node *x = mt->head;
	int level = atomic_load_explicit(&mt->height, memory_order_acquire) - 1;
	for (;;) {
		struct mt_node *next = atomic_load_explicit(&x->next[level], memory_order_acquire);
		if (next && node_cmp(next, key, klen, seq) < 0) {
			x = next;
			continue;
		}
		if (prev)
			prev[level] = x;
		if (level == 0)
			return next;
		level--;
	}
}

void memtable_add(struct memtable *mt, uint64_t seq, enum lsm_kind kind,
		  const void *key, size_t klen, const void *val, size_t vlen)
{
	struct mt_node *prev[MT_MAX_HEIGHT];
	int height = random_height(mt);
	int cur = atomic_load_explicit(&mt->height, memory_order_relaxed);

	find_ge(mt, key, klen, seq, prev);
	if (height > cur) {
		for (int i = cur; i < height; i++)
			prev[i] = mt->head;
		/* Readers that see the new height before the node is linked
		 * just find NULL at the top levels of head: harmless. */
		atomic_store_explicit(&mt->height, height, memory_order_release);
	}
	struct mt_node *n = node_new(mt, height, klen + vlen);
	n->seq = seq;
	n->klen = (uint32_t)klen;
	n->vlen = (uint32_t)vlen;
	n->kind = (uint8_t)kind;
	memcpy(n->key, key, klen);
	if (vlen)
		memcpy(n->key + klen, val, vlen);
	for (int i = 0; i < height; i++) {
		atomic_store_explicit(&n->next[i],
				      atomic_load_explicit(&prev[i]->next[i], memory_order_relaxed),
				      memory_order_relaxed);
		atomic_store_explicit(&prev[i]->next[i], n, memory_order_release);
	}
	atomic_fetch_add(&mt->entries, 1);
	if (atomic_load(&mt->min_seq) == 0)
		atomic_store(&mt->min_seq, seq);
	atomic_store(&mt->max_seq, seq);
}

bool memtable_get(struct memtable *mt, const void *key, size_t klen, uint64_t snap,
		  enum lsm_kind *kind, const uint8_t **val, size_t *vlen)
{
	struct mt_node *n = find_ge(mt, key, klen, snap, NULL);
	if (!n || lsm_key_cmp(n->key, n->klen, key, klen) != 0)
		return false;
	*kind = (enum lsm_kind)n->kind;
	*val = n->key + n->klen;
	*vlen = n->vlen;
	return true;
}

size_t memtable_bytes(const struct memtable *mt)
{
	return atomic_load(&mt->bytes);
}

uint64_t memtable_entries(const struct memtable *mt)
{
	return atomic_load(&mt->entries);
}

uint64_t memtable_min_seq(const struct memtable *mt)
{
	return atomic_load(&mt->min_seq);
}

uint64_t memtable_max_seq(const struct memtable *mt)
{
	return atomic_load(&mt->max_seq);
}

/* From node n (or the next node), move to the first node that is the
 * newest visible version of its key. */
static struct mt_node *settle(struct mt_node *n, uint64_t snap)
{
	while (n && n->seq > snap)
		n = atomic_load_explicit(&n->next[0], memory_order_acquire);
	return n;
}

void memtable_iter_init(struct memtable_iter *it, struct memtable *mt, uint64_t snap)
{
	it->mt = mt;
	it->snap = snap;
	it->node = NULL;
}

void memtable_iter_seek(struct memtable_iter *it, const void *key, size_t klen)
{
	it->node = settle(find_ge(it->mt, key, klen, UINT64_MAX, NULL), it->snap);
}

void memtable_iter_first(struct memtable_iter *it)
{
	it->node = settle(atomic_load_explicit(&it->mt->head->next[0], memory_order_acquire),
			  it->snap);
}

void memtable_iter_next(struct memtable_iter *it)
{
	struct mt_node *cur = it->node;
	struct mt_node *n = atomic_load_explicit(&cur->next[0], memory_order_acquire);
	/* Skip the older versions of this key; the first visible node after
	 * them is the newest visible version of the next key that has one. */
	while (n && n->klen == cur->klen && memcmp(n->key, cur->key, cur->klen) == 0)
		n = atomic_load_explicit(&n->next[0], memory_order_acquire);
	it->node = settle(n, it->snap);
}

void memtable_iter_entry(const struct memtable_iter *it, const uint8_t **key, size_t *klen,
			 enum lsm_kind *kind, const uint8_t **val, size_t *vlen, uint64_t *seq)
{
	const struct mt_node *n = it->node;
	*key = n->key;
	*klen = n->klen;
	*kind = (enum lsm_kind)n->kind;
	*val = n->key + n->klen;
	*vlen = n->vlen;
	if (seq)
		*seq = n->seq;
}
