/* block_cache.c -- sharded LRU of decoded blocks (see block_cache.h). */
#include "lsm/block_cache.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "util/mem.h"

#define SHARDS 16

struct cblock {
	_Atomic int refs;        /* users + 1 while in the cache */
	bool in_cache;
	uint64_t tick;           /* shard tick when last moved to the front */
	uint64_t id, off;
	size_t charge;
	struct block blk;
	uint8_t *bytes;
	struct cblock *hnext;    /* hash chain */
	struct cblock *prev, *next; /* LRU: head = most recent */
};

struct shard {
	pthread_mutex_t mu;
	struct cblock **table;
	size_t nbuckets, count;
	struct cblock lru;       /* sentinel */
	uint64_t tick;           /* counts insertions */
	size_t bytes, capacity;
	_Atomic uint64_t hits, misses;
};

struct block_cache {
	struct shard shards[SHARDS];
};

static uint64_t hash_key(uint64_t id, uint64_t off)
{
	uint64_t h = id * 0x9e3779b97f4a7c15ull ^ (off + 0x632be59bd9b4e019ull);
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ull;
	return h ^ (h >> 32);
}

struct block_cache *block_cache_new(size_t capacity)
{
	struct block_cache *bc = xcalloc(1, sizeof *bc);
	for (int i = 0; i < SHARDS; i++) {
		struct shard *s = &bc->shards[i];
		pthread_mutex_init(&s->mu, NULL);
		s->nbuckets = 256;
		s->table = xcalloc(s->nbuckets, sizeof *s->table);
		s->lru.prev = s->lru.next = &s->lru;
		s->capacity = capacity / SHARDS;
	}
	return bc;
}

static void cblock_destroy(struct cblock *cb)
{
	block_release(&cb->blk);
	free(cb->bytes);
	free(cb);
}

static void unref(struct cblock *cb)
{
	if (atomic_fetch_sub(&cb->refs, 1) == 1)
		cblock_destroy(cb);
}

void block_cache_free(struct block_cache *bc)
{
	if (!bc)
		return;
	for (int i = 0; i < SHARDS; i++) {
		struct shard *s = &bc->shards[i];
		struct cblock *cb = s->lru.next;
		while (cb != &s->lru) {
			struct cblock *next = cb->next;
			unref(cb);
			cb = next;
		}
		free(s->table);
		pthread_mutex_destroy(&s->mu);
	}
	free(bc);
}

static void lru_unlink(struct cblock *cb)
{
	cb->prev->next = cb->next;
	cb->next->prev = cb->prev;
}

static void lru_push(struct shard *s, struct cblock *cb)
{
	cb->next = s->lru.next;
	cb->prev = &s->lru;
	s->lru.next->prev = cb;
	s->lru.next = cb;
}

static struct cblock **bucket(struct shard *s, uint64_t h)
{
	return &s->table[(h >> 8) & (s->nbuckets - 1)];
}

static void table_remove(struct shard *s, struct cblock *cb, uint64_t h)
{
	struct cblock **pp = bucket(s, h);
	while (*pp != cb)
		pp = &(*pp)->hnext;
	*pp = cb->hnext;
	s->count--;
}

static void table_grow(struct shard *s)
{
	size_t n = s->nbuckets * 2;
	struct cblock **t = xcalloc(n, sizeof *t);
	for (size_t i = 0; i < s->nbuckets; i++) {
		struct cblock *cb = s->table[i];
		while (cb) {
			struct cblock *next = cb->hnext;
			struct cblock **b = &t[(hash_key(cb->id, cb->off) >> 8) & (n - 1)];
			cb->hnext = *b;
			*b = cb;
			cb = next;
		}
	}
	free(s->table);
	s->table = t;
	s->nbuckets = n;
}

static void evict(struct shard *s)
{
	while (s->bytes > s->capacity && s->lru.prev != &s->lru) {
		struct cblock *victim = s->lru.prev;
		lru_unlink(victim);
		table_remove(s, victim, hash_key(victim->id, victim->off));
		s->bytes -= victim->charge;
		victim->in_cache = false;
		unref(victim);
	}
}

struct cblock *block_cache_lookup(struct block_cache *bc, uint64_t id, uint64_t off)
{
	uint64_t h = hash_key(id, off);
	struct shard *s = &bc->shards[h % SHARDS];
	pthread_mutex_lock(&s->mu);
	struct cblock *cb = *bucket(s, h);
	while (cb && (cb->id != id || cb->off != off))
		cb = cb->hnext;
	if (cb) {
		atomic_fetch_add(&cb->refs, 1);
		/* Lazy promotion: move to the front only once it has drifted
		 * a quarter of the way back, so a hot block's hits do not
		 * rewrite list neighbours (cache lines) every time. */
		if (s->tick - cb->tick > s->count / 4 + 1) {
			lru_unlink(cb);
			lru_push(s, cb);
			cb->tick = s->tick;
		}
	}
	pthread_mutex_unlock(&s->mu);
	if (cb)
		atomic_fetch_add_explicit(&s->hits, 1, memory_order_relaxed);
	else
		atomic_fetch_add_explicit(&s->misses, 1, memory_order_relaxed);
	return cb;
}

struct cblock *block_cache_insert(struct block_cache *bc, uint64_t id, uint64_t off,
				  uint8_t *bytes, const struct block *blk)
{
	uint64_t h = hash_key(id, off);
	struct shard *s = &bc->shards[h % SHARDS];
	struct cblock *cb = xcalloc(1, sizeof *cb);
	cb->id = id;
	cb->off = off;
	cb->bytes = bytes;
	cb->blk = *blk;
	cb->charge = blk->len + sizeof *cb;
	atomic_init(&cb->refs, 2); /* the cache's and the caller's */
	cb->in_cache = true;

	pthread_mutex_lock(&s->mu);
	struct cblock *old = *bucket(s, h);
	while (old && (old->id != id || old->off != off))
		old = old->hnext;
	if (old) {
		atomic_fetch_add(&old->refs, 1);
		pthread_mutex_unlock(&s->mu);
		cblock_destroy(cb);
		return old;
	}
	if (s->count >= s->nbuckets)
		table_grow(s);
	struct cblock **b = bucket(s, h);
	cb->hnext = *b;
	*b = cb;
	s->count++;
	lru_push(s, cb);
	cb->tick = ++s->tick;
	s->bytes += cb->charge;
	evict(s);
	pthread_mutex_unlock(&s->mu);
	return cb;
}

void block_cache_release(struct block_cache *bc, struct cblock *cb)
{
	(void)bc;
	if (cb)
		unref(cb);
}

const struct block *cblock_block(const struct cblock *cb)
{
	return &cb->blk;
}

void block_cache_stats(struct block_cache *bc, struct block_cache_stats *st)
{
	st->hits = st->misses = st->bytes = st->entries = 0;
	for (int i = 0; i < SHARDS; i++) {
		struct shard *s = &bc->shards[i];
		pthread_mutex_lock(&s->mu);
		st->bytes += s->bytes;
		st->entries += s->count;
		pthread_mutex_unlock(&s->mu);
		st->hits += atomic_load(&s->hits);
		st->misses += atomic_load(&s->misses);
	}
}
