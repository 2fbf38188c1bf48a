/* inval_queue.c -- the bounded, coalescing queue of invalidations and the
 * "changed elsewhere" marks (see inval_queue.h). */
#include "fuse/inval_queue.h"

#include <stdlib.h>
#include <string.h>

#include "util/mem.h"

#define INVAL_MARK_ANY UINT64_MAX

static bool same(const struct inval_item *it, uint64_t ino, const char *name)
{
	return it->ino == ino && !it->name == !name && (!name || !strcmp(it->name, name));
}

static bool queued(const struct inval_queue *q, uint64_t ino, const char *name)
{
	for (size_t i = 0; i < q->count; i++)
		if (same(&q->q[(q->head + i) % INVAL_QUEUE_MAX], ino, name))
			return true;
	return false;
}

enum inval_push inval_queue_push(struct inval_queue *q, uint64_t ino, const char *name)
{
	if (queued(q, ino, name))
		return INVAL_COALESCED;
	if (q->count == INVAL_QUEUE_MAX)
		return INVAL_FULL;
	struct inval_item *it = &q->q[(q->head + q->count) % INVAL_QUEUE_MAX];
	it->ino = ino;
	it->name = name ? xstrdup(name) : NULL;
	q->count++;
	return INVAL_QUEUED;
}

bool inval_queue_pop(struct inval_queue *q, struct inval_item *out)
{
	if (q->count == 0)
		return false;
	*out = q->q[q->head];
	q->head = (q->head + 1) % INVAL_QUEUE_MAX;
	q->count--;
	return true;
}

bool inval_queue_full(const struct inval_queue *q)
{
	return q->count == INVAL_QUEUE_MAX;
}

void inval_queue_clear(struct inval_queue *q)
{
	struct inval_item it;
	while (inval_queue_pop(q, &it))
		free(it.name);
}

static uint64_t *mark_slot(struct inval_queue *q, uint64_t ino)
{
	return &q->marks[((ino * 0x9E3779B97F4A7C15ull) >> 40) % INVAL_MARKS];
}

void inval_mark(struct inval_queue *q, uint64_t ino)
{
	uint64_t *m = mark_slot(q, ino);
	*m = (*m == 0 || *m == ino) ? ino : INVAL_MARK_ANY;
}

bool inval_mark_take(struct inval_queue *q, uint64_t ino)
{
	uint64_t *m = mark_slot(q, ino);
	if (*m == ino) {
		*m = 0;
		return true;
	}
	return *m == INVAL_MARK_ANY;
}
