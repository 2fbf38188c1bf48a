/* ecache.c -- decoded extent cache (see ecache.h). */
#include "data/ecache.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "util/mem.h"

#define SHARDS 16
#define GENS 4096

struct entry {
	uint64_t ino, ext;
	uint64_t tick;            /* shard tick when last moved to the front */
	uint32_t len;
	struct entry *hnext, *prev, *next;
	uint8_t data[];
};

struct shard {
	pthread_mutex_t mu;
	struct entry **table;
	size_t nbuckets, count, bytes, capacity;
	struct entry lru;
	uint64_t tick;            /* counts insertions */
};

struct ecache {
	struct shard shards[SHARDS];
	_Atomic uint64_t gens[GENS];
	_Atomic uint64_t hits, misses;
};

static uint64_t mix(uint64_t ino, uint64_t ext)
{
	uint64_t h = ino * 0x9e3779b97f4a7c15ull ^ ext * 0xc2b2ae3d27d4eb4full;
	h ^= h >> 31;
	h *= 0xbf58476d1ce4e5b9ull;
	return h ^ (h >> 29);
}

struct ecache *ecache_new(uint64_t capacity)
{
	struct ecache *ec = xcalloc(1, sizeof *ec);
	for (int i = 0; i < SHARDS; i++) {
		struct shard *s = &ec->shards[i];
		pthread_mutex_init(&s->mu, NULL);
		s->nbuckets = 1024;
		s->table = xcalloc(s->nbuckets, sizeof *s->table);
		s->lru.prev = s->lru.next = &s->lru;
		s->capacity = capacity / SHARDS;
	}
	return ec;
}

void ecache_free(struct ecache *ec)
{
	if (!ec)
		return;
	for (int i = 0; i < SHARDS; i++) {
		struct shard *s = &ec->shards[i];
		struct entry *e = s->lru.next;
		while (e != &s->lru) {
			struct entry *n = e->next;
			free(e);
			e = n;
		}
		free(s->table);
		pthread_mutex_destroy(&s->mu);
	}
	free(ec);
}

uint64_t ecache_gen(struct ecache *ec, uint64_t ino)
{
	return atomic_load(&ec->gens[mix(ino, 0) % GENS]);
}

void ecache_bump(struct ecache *ec, uint64_t ino)
{
	atomic_fetch_add(&ec->gens[mix(ino, 0) % GENS], 1);
}

static struct shard *shard_of(struct ecache *ec, uint64_t h)
{
	return &ec->shards[h % SHARDS];
}

static struct entry **slot(struct shard *s, uint64_t h, uint64_t ino, uint64_t ext)
{
	struct entry **pp = &s->table[(h >> 4) & (s->nbuckets - 1)];
	while (*pp && ((*pp)->ino != ino || (*pp)->ext != ext))
		pp = &(*pp)->hnext;
	return pp;
}

static void lru_unlink(struct entry *e)
{
	e->prev->next = e->next;
	e->next->prev = e->prev;
}

static void lru_push(struct shard *s, struct entry *e)
{
	e->next = s->lru.next;
	e->prev = &s->lru;
	s->lru.next->prev = e;
	s->lru.next = e;
}

static void remove_entry(struct shard *s, struct entry **pp)
{
	struct entry *e = *pp;
	*pp = e->hnext;
	lru_unlink(e);
	s->count--;
	s->bytes -= sizeof *e + e->len;
	free(e);
}

static struct entry *lookup(struct ecache *ec, uint64_t ino, uint64_t ext, struct shard **sp)
{
	uint64_t h = mix(ino, ext);
	struct shard *s = shard_of(ec, h);
	*sp = s;
	pthread_mutex_lock(&s->mu);
	struct entry *e = *slot(s, h, ino, ext);
	/* Lazy promotion: a hit moves the entry to the front only once it
	 * has drifted a quarter of the way back, so hot hits write nothing. */
	if (e && s->tick - e->tick > s->count / 4 + 1) {
		lru_unlink(e);
		lru_push(s, e);
		e->tick = s->tick;
	}
	atomic_fetch_add_explicit(e ? &ec->hits : &ec->misses, 1, memory_order_relaxed);
	return e;
}

bool ecache_read(struct ecache *ec, uint64_t ino, uint64_t ext, uint32_t off, void *buf,
		 size_t len)
{
	struct shard *s;
	struct entry *e = lookup(ec, ino, ext, &s);
	if (e) {
		size_t have = off < e->len ? e->len - off : 0;
		if (have > len)
			have = len;
		memcpy(buf, e->data + off, have);
		memset((uint8_t *)buf + have, 0, len - have);
	}
	pthread_mutex_unlock(&s->mu);
	return e != NULL;
}

bool ecache_get(struct ecache *ec, uint64_t ino, uint64_t ext, void *out, uint32_t *raw_len)
{
	struct shard *s;
	struct entry *e = lookup(ec, ino, ext, &s);
	if (e) {
		memcpy(out, e->data, e->len);
		*raw_len = e->len;
	}
	pthread_mutex_unlock(&s->mu);
	return e != NULL;
}

static void grow(struct shard *s)
{
	size_t n = s->nbuckets * 2;
	struct entry **t = xcalloc(n, sizeof *t);
	for (size_t i = 0; i < s->nbuckets; i++) {
		struct entry *e = s->table[i];
		while (e) {
			struct entry *next = e->hnext;
			struct entry **b = &t[(mix(e->ino, e->ext) >> 4) & (n - 1)];
			e->hnext = *b;
			*b = e;
			e = next;
		}
	}
	free(s->table);
	s->table = t;
	s->nbuckets = n;
}

void ecache_put(struct ecache *ec, uint64_t ino, uint64_t ext, const void *raw,
		uint32_t raw_len, uint64_t gen)
{
	uint64_t h = mix(ino, ext);
	struct shard *s = shard_of(ec, h);
	struct entry *e = xmalloc(sizeof *e + raw_len);
	e->ino = ino;
	e->ext = ext;
	e->len = raw_len;
	if (raw_len)
		memcpy(e->data, raw, raw_len);
	pthread_mutex_lock(&s->mu);
	if (gen != ECACHE_ALWAYS && ecache_gen(ec, ino) != gen) {
		pthread_mutex_unlock(&s->mu);
		free(e);
		return;
	}
	struct entry **pp = slot(s, h, ino, ext);
	if (*pp)
		remove_entry(s, pp);
	if (s->count >= s->nbuckets)
		grow(s);
	pp = slot(s, h, ino, ext);
	e->hnext = NULL;
	*pp = e;
	lru_push(s, e);
	e->tick = ++s->tick;
	s->count++;
	s->bytes += sizeof *e + raw_len;
	while (s->bytes > s->capacity && s->lru.prev != &s->lru) {
		struct entry *victim = s->lru.prev;
		remove_entry(s, slot(s, mix(victim->ino, victim->ext), victim->ino, victim->ext));
	}
	pthread_mutex_unlock(&s->mu);
}

void ecache_drop(struct ecache *ec, uint64_t ino, uint64_t ext)
{
	uint64_t h = mix(ino, ext);
	struct shard *s = shard_of(ec, h);
	pthread_mutex_lock(&s->mu);
	struct entry **pp = slot(s, h, ino, ext);
	if (*pp)
		remove_entry(s, pp);
	pthread_mutex_unlock(&s->mu);
}

void ecache_clear(struct ecache *ec)
{
	for (int i = 0; i < SHARDS; i++) {
		struct shard *s = &ec->shards[i];
		pthread_mutex_lock(&s->mu);
		while (s->lru.next != &s->lru) {
			struct entry *e = s->lru.next;
			remove_entry(s, slot(s, mix(e->ino, e->ext), e->ino, e->ext));
		}
		pthread_mutex_unlock(&s->mu);
	}
	/* Readers that looked an extent up before the clear must not insert. */
	for (size_t i = 0; i < GENS; i++)
		atomic_fetch_add(&ec->gens[i], 1);
}

void ecache_counts(struct ecache *ec, uint64_t *hits, uint64_t *misses)
{
	*hits = atomic_load(&ec->hits);
	*misses = atomic_load(&ec->misses);
}
