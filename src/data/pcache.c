/* pcache.c -- parts cache, RAM and disk tiers (see pcache.h).
 *
 * One mutex guards the RAM index; it is never held across I/O.  A part
 * being fetched is in the index as LOADING: readers that need it wait on
 * the condition variable, and if the fetch fails the placeholder goes away
 * and each waiter tries for itself.  Readahead runs on one thread that
 * takes requests from a small queue and drops them when it falls behind. */
#include "data/pcache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/segment.h"
#include "util/log.h"
#include "util/mem.h"

enum part_state { PART_LOADING, PART_READY };

struct part {
	uint64_t epoch, counter, index;
	enum part_state state;
	int refs;                 /* readers copying from it (under mu) */
	uint8_t *data;
	size_t len;
	struct part *hnext, *prev, *next;
};

struct disk_entry {
	uint64_t epoch, counter, index, size;
	struct disk_entry *next;  /* FIFO: oldest first */
};

#define PREFETCH_QUEUE 16

struct prefetch_req {
	uint64_t epoch, counter, off;
	size_t len;
};

struct pcache {
	objstore *st;
	char *dir;
	pthread_mutex_t mu;
	pthread_cond_t loaded;
	struct part **table;
	size_t nbuckets, count;
	struct part lru;
	uint64_t ram_bytes, ram_cap;
	struct disk_entry *disk_head, *disk_tail;
	uint64_t disk_bytes, disk_cap;
	uint64_t hits, misses, disk_hits, gets, get_bytes;
	/* readahead */
	pthread_t pf_thread;
	pthread_cond_t pf_cond;
	struct prefetch_req pf[PREFETCH_QUEUE];
	unsigned pf_n;
	bool stop, pf_started;
};

static uint64_t hash3(uint64_t a, uint64_t b, uint64_t c)
{
	uint64_t h = a * 0x9e3779b97f4a7c15ull ^ b * 0xc2b2ae3d27d4eb4full ^ c * 0x165667b19e3779f9ull;
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ull;
	return h ^ (h >> 32);
}

static struct part **slot(struct pcache *pc, uint64_t e, uint64_t c, uint64_t i)
{
	struct part **pp = &pc->table[hash3(e, c, i) & (pc->nbuckets - 1)];
	while (*pp && ((*pp)->epoch != e || (*pp)->counter != c || (*pp)->index != i))
		pp = &(*pp)->hnext;
	return pp;
}

static void lru_unlink(struct part *p)
{
	p->prev->next = p->next;
	p->next->prev = p->prev;
	p->prev = p->next = p;
}

static void lru_push(struct pcache *pc, struct part *p)
{
	p->next = pc->lru.next;
	p->prev = &pc->lru;
	pc->lru.next->prev = p;
	pc->lru.next = p;
}

static void part_remove_locked(struct pcache *pc, struct part *p)
{
	struct part **pp = slot(pc, p->epoch, p->counter, p->index);
	*pp = p->hnext;
	lru_unlink(p);
	pc->count--;
	if (p->state == PART_READY)
		pc->ram_bytes -= p->len;
	free(p->data);
	free(p);
}

static void grow_locked(struct pcache *pc)
{
	size_t n = pc->nbuckets * 2;
	struct part **t = xcalloc(n, sizeof *t);
	for (size_t i = 0; i < pc->nbuckets; i++) {
		struct part *p = pc->table[i];
		while (p) {
			struct part *next = p->hnext;
			struct part **b = &t[hash3(p->epoch, p->counter, p->index) & (n - 1)];
			p->hnext = *b;
			*b = p;
			p = next;
		}
	}
	free(pc->table);
	pc->table = t;
	pc->nbuckets = n;
}

static void evict_locked(struct pcache *pc)
{
	struct part *p = pc->lru.prev;
	while (pc->ram_bytes > pc->ram_cap && p != &pc->lru) {
		struct part *prev = p->prev;
		if (p->state == PART_READY && p->refs == 0)
			part_remove_locked(pc, p);
		p = prev;
	}
}

/* ---- disk tier ---- */

static char *disk_path(struct pcache *pc, uint64_t e, uint64_t c, uint64_t i)
{
	return xasprintf("%s/%" PRIu64 "-%" PRIu64 "-%" PRIu64, pc->dir, e, c, i);
}

static void disk_evict_locked(struct pcache *pc)
{
	while (pc->disk_bytes > pc->disk_cap && pc->disk_head) {
		struct disk_entry *d = pc->disk_head;
		pc->disk_head = d->next;
		if (!pc->disk_head)
			pc->disk_tail = NULL;
		pc->disk_bytes -= d->size;
		char *path = disk_path(pc, d->epoch, d->counter, d->index);
		unlink(path);
		free(path);
		free(d);
	}
}

static void disk_note_locked(struct pcache *pc, uint64_t e, uint64_t c, uint64_t i, uint64_t size)
{
	struct disk_entry *d = xcalloc(1, sizeof *d);
	d->epoch = e;
	d->counter = c;
	d->index = i;
	d->size = size;
	if (pc->disk_tail)
		pc->disk_tail->next = d;
	else
		pc->disk_head = d;
	pc->disk_tail = d;
	pc->disk_bytes += size;
	disk_evict_locked(pc);
}

static void disk_scan(struct pcache *pc)
{
	DIR *dir = opendir(pc->dir);
	struct dirent *de;
	if (!dir)
		return;
	while ((de = readdir(dir))) {
		uint64_t e, c, i;
		int n = 0;
		if (sscanf(de->d_name, "%" SCNu64 "-%" SCNu64 "-%" SCNu64 "%n", &e, &c, &i, &n) != 3 ||
		    de->d_name[n]) {
			if (de->d_name[0] != '.')
				unlinkat(dirfd(dir), de->d_name, 0); /* a temp file of a crash */
			continue;
		}
		struct stat sb;
		if (fstatat(dirfd(dir), de->d_name, &sb, 0) == 0)
			disk_note_locked(pc, e, c, i, (uint64_t)sb.st_size);
	}
	closedir(dir);
}

/* Read a part from disk; NULL if absent. */
static uint8_t *disk_load(struct pcache *pc, uint64_t e, uint64_t c, uint64_t i, size_t *len)
{
	if (!pc->dir)
		return NULL;
	char *path = disk_path(pc, e, c, i);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	free(path);
	if (fd < 0)
		return NULL;
	struct stat sb;
	uint8_t *data = NULL;
	if (fstat(fd, &sb) == 0 && sb.st_size > 0 && sb.st_size <= PCACHE_PART_BYTES) {
		data = xmalloc((size_t)sb.st_size);
		if (pread(fd, data, (size_t)sb.st_size, 0) != sb.st_size) {
			free(data);
			data = NULL;
		}
		*len = (size_t)sb.st_size;
	}
	close(fd);
	return data;
}

/* Best effort: the cache is only a copy. */
static void disk_store(struct pcache *pc, uint64_t e, uint64_t c, uint64_t i, const uint8_t *data,
		       size_t len)
{
	if (!pc->dir || !pc->disk_cap)
		return;
	char *path = disk_path(pc, e, c, i);
	char *tmp = xasprintf("%s.tmp.%d", path, (int)gettid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	bool ok = fd >= 0 && write(fd, data, len) == (ssize_t)len;
	if (fd >= 0)
		close(fd);
	if (ok && rename(tmp, path) == 0) {
		pthread_mutex_lock(&pc->mu);
		disk_note_locked(pc, e, c, i, len);
		pthread_mutex_unlock(&pc->mu);
	} else {
		unlink(tmp);
	}
	free(tmp);
	free(path);
}

/* ---- loading ---- */

static void fill_locked(struct pcache *pc, struct part *p, uint8_t *data, size_t len)
{
	p->data = data;
	p->len = len;
	p->state = PART_READY;
	pc->ram_bytes += len;
}

/* Fetch parts [first, last] (all LOADING placeholders we own) with one GET. */
static int fetch_run(struct pcache *pc, uint64_t e, uint64_t c, uint64_t first, uint64_t last)
{
	char name[SEGMENT_NAME_MAX];
	void *data;
	size_t got;
	segment_name(e, c, name);
	uint64_t off = first * PCACHE_PART_BYTES;
	uint64_t want = (last - first + 1) * PCACHE_PART_BYTES;
	int r = objstore_get(pc->st, name, off, want, &data, &got);
	pthread_mutex_lock(&pc->mu);
	pc->gets++;
	if (r == 0)
		pc->get_bytes += got;
	for (uint64_t i = first; i <= last; i++) {
		struct part *p = *slot(pc, e, c, i);
		if (!p)
			continue;
		uint64_t start = (i - first) * PCACHE_PART_BYTES;
		if (r < 0 || start >= got) {
			part_remove_locked(pc, p);
			continue;
		}
		size_t n = got - start < PCACHE_PART_BYTES ? got - start : PCACHE_PART_BYTES;
		fill_locked(pc, p, xmemdup((uint8_t *)data + start, n), n);
	}
	/* No eviction here: the caller has not referenced these parts yet. */
	pthread_cond_broadcast(&pc->loaded);
	pthread_mutex_unlock(&pc->mu);
	if (r == -ERANGE)
		return r; /* starts past the end: the caller decides if that is wrong */
	if (r < 0) {
		log_error("data: read %s bytes %" PRIu64 "+%" PRIu64 " from %s: %s", name, off, want,
			  objstore_url(pc->st), r == -ENOENT ? "object missing" : strerror(-r));
		return r == -ENOENT ? -EIO : r;
	}
	for (uint64_t i = first; i <= last; i++) {
		uint64_t start = (i - first) * PCACHE_PART_BYTES;
		if (start < got)
			disk_store(pc, e, c, i, (uint8_t *)data + start,
				   got - start < PCACHE_PART_BYTES ? got - start : PCACHE_PART_BYTES);
	}
	free(data);
	return 0;
}

/* Make parts [p0, p1] present; on return each is READY and referenced by
 * us (refs), or an error.  Loads what is missing: from disk, else one GET
 * per run of missing parts. */
static int acquire(struct pcache *pc, uint64_t e, uint64_t c, uint64_t p0, uint64_t p1,
		   struct part **parts)
{
	for (;;) {
		bool *mine = xcalloc(p1 - p0 + 1, sizeof *mine);
		bool wait = false;
		pthread_mutex_lock(&pc->mu);
		for (uint64_t i = p0; i <= p1; i++) {
			struct part *p = *slot(pc, e, c, i);
			if (!p) {
				if (pc->count >= pc->nbuckets)
					grow_locked(pc);
				p = xcalloc(1, sizeof *p);
				p->epoch = e;
				p->counter = c;
				p->index = i;
				p->state = PART_LOADING;
				p->prev = p->next = p;
				*slot(pc, e, c, i) = p;
				pc->count++;
				mine[i - p0] = true;
				pc->misses++;
			} else if (p->state == PART_LOADING) {
				wait = true;
			}
		}
		pthread_mutex_unlock(&pc->mu);

		/* Disk first, then one GET per run of what is still missing. */
		int r = 0;
		for (uint64_t i = p0; i <= p1; i++) {
			size_t len;
			uint8_t *d = mine[i - p0] ? disk_load(pc, e, c, i, &len) : NULL;
			if (!d)
				continue;
			pthread_mutex_lock(&pc->mu);
			fill_locked(pc, *slot(pc, e, c, i), d, len);
			pc->disk_hits++;
			pc->misses--;
			pthread_cond_broadcast(&pc->loaded);
			pthread_mutex_unlock(&pc->mu);
			mine[i - p0] = false;
		}
		for (uint64_t i = p0; i <= p1;) {
			if (!mine[i - p0]) {
				i++;
				continue;
			}
			uint64_t j = i;
			while (j + 1 <= p1 && mine[j + 1 - p0])
				j++;
			int rr = fetch_run(pc, e, c, i, j);
			if (rr < 0 && !r)
				r = rr;
			i = j + 1;
		}
		free(mine);
		if (r < 0)
			return r;

		pthread_mutex_lock(&pc->mu);
		bool ready = true;
		for (uint64_t i = p0; i <= p1 && ready; i++) {
			struct part *p = *slot(pc, e, c, i);
			if (!p || p->state != PART_READY)
				ready = false;
		}
		if (ready) {
			for (uint64_t i = p0; i <= p1; i++) {
				struct part *p = *slot(pc, e, c, i);
				p->refs++;
				if (pc->lru.next != p) {
					lru_unlink(p);
					lru_push(pc, p);
				}
				parts[i - p0] = p;
			}
			pthread_mutex_unlock(&pc->mu);
			return 0;
		}
		if (wait)
			pthread_cond_wait(&pc->loaded, &pc->mu);
		pthread_mutex_unlock(&pc->mu);
	}
}

int pcache_read(struct pcache *pc, uint64_t epoch, uint64_t counter, uint64_t off, size_t len,
		void *out)
{
	if (len == 0)
		return 0;
	uint64_t p0 = off / PCACHE_PART_BYTES, p1 = (off + len - 1) / PCACHE_PART_BYTES;
	struct part *stack[4], **parts = p1 - p0 < 4 ? stack : xcalloc(p1 - p0 + 1, sizeof *parts);
	int r = acquire(pc, epoch, counter, p0, p1, parts);
	if (r == -ERANGE) {
		char name[SEGMENT_NAME_MAX];
		segment_name(epoch, counter, name);
		log_error("data: read %s bytes %" PRIu64 "+%zu: past the end of the object", name,
			  off, len);
		r = -EIO;
	}
	if (r == 0) {
		uint8_t *dst = out;
		uint64_t pos = off, end = off + len;
		for (uint64_t i = p0; i <= p1; i++) {
			struct part *p = parts[i - p0];
			uint64_t pstart = i * PCACHE_PART_BYTES;
			uint64_t from = pos - pstart;
			uint64_t to = end - pstart < PCACHE_PART_BYTES ? end - pstart : PCACHE_PART_BYTES;
			if (to > p->len) {
				r = -EIO; /* the object is shorter than the frame says */
				break;
			}
			memcpy(dst, p->data + from, to - from);
			dst += to - from;
			pos = pstart + to;
		}
		pthread_mutex_lock(&pc->mu);
		pc->hits++;
		for (uint64_t i = p0; i <= p1; i++)
			parts[i - p0]->refs--;
		evict_locked(pc);
		pthread_mutex_unlock(&pc->mu);
	}
	if (parts != stack)
		free(parts);
	return r;
}

void pcache_drop_segment(struct pcache *pc, uint64_t epoch, uint64_t counter)
{
	pthread_mutex_lock(&pc->mu);
	for (size_t b = 0; b < pc->nbuckets; b++) {
		struct part *p = pc->table[b];
		while (p) {
			struct part *next = p->hnext;
			if (p->epoch == epoch && p->counter == counter && p->state == PART_READY &&
			    p->refs == 0)
				part_remove_locked(pc, p);
			p = next;
		}
	}
	struct disk_entry **dp = &pc->disk_head;
	pc->disk_tail = NULL;
	while (*dp) {
		struct disk_entry *d = *dp;
		if (d->epoch == epoch && d->counter == counter) {
			char *path = disk_path(pc, d->epoch, d->counter, d->index);
			unlink(path);
			free(path);
			pc->disk_bytes -= d->size;
			*dp = d->next;
			free(d);
			continue;
		}
		pc->disk_tail = d;
		dp = &d->next;
	}
	pthread_mutex_unlock(&pc->mu);
}

static void *prefetch_main(void *arg)
{
	struct pcache *pc = arg;
	pthread_mutex_lock(&pc->mu);
	while (!pc->stop) {
		if (!pc->pf_n) {
			pthread_cond_wait(&pc->pf_cond, &pc->mu);
			continue;
		}
		struct prefetch_req req = pc->pf[0];
		memmove(pc->pf, pc->pf + 1, --pc->pf_n * sizeof pc->pf[0]);
		pthread_mutex_unlock(&pc->mu);
		uint64_t p0 = req.off / PCACHE_PART_BYTES;
		uint64_t p1 = (req.off + req.len - 1) / PCACHE_PART_BYTES;
		struct part **parts = xcalloc(p1 - p0 + 1, sizeof *parts);
		if (acquire(pc, req.epoch, req.counter, p0, p1, parts) == 0) {
			pthread_mutex_lock(&pc->mu);
			for (uint64_t i = p0; i <= p1; i++)
				parts[i - p0]->refs--;
			pthread_mutex_unlock(&pc->mu);
		}
		free(parts);
		pthread_mutex_lock(&pc->mu);
	}
	pthread_mutex_unlock(&pc->mu);
	return NULL;
}

void pcache_prefetch(struct pcache *pc, uint64_t epoch, uint64_t counter, uint64_t off,
		     size_t len)
{
	if (!len)
		return;
	pthread_mutex_lock(&pc->mu);
	if (pc->pf_n < PREFETCH_QUEUE) {
		struct prefetch_req r = { epoch, counter, off, len };
		pc->pf[pc->pf_n++] = r;
		pthread_cond_signal(&pc->pf_cond);
	}
	pthread_mutex_unlock(&pc->mu);
}

struct pcache *pcache_new(objstore *st, const char *dir, uint64_t ram_bytes, uint64_t disk_bytes)
{
	struct pcache *pc = xcalloc(1, sizeof *pc);
	pc->st = st;
	pc->ram_cap = ram_bytes;
	pc->disk_cap = disk_bytes;
	pc->nbuckets = 1024;
	pc->table = xcalloc(pc->nbuckets, sizeof *pc->table);
	pc->lru.prev = pc->lru.next = &pc->lru;
	pthread_mutex_init(&pc->mu, NULL);
	pthread_cond_init(&pc->loaded, NULL);
	pthread_cond_init(&pc->pf_cond, NULL);
	if (dir && *dir) {
		if (mkdir(dir, 0700) < 0 && errno != EEXIST)
			log_warn("data: cache dir %s: %s; running without a disk cache", dir,
				 strerror(errno));
		else {
			pc->dir = xstrdup(dir);
			disk_scan(pc);
		}
	}
	if (pthread_create(&pc->pf_thread, NULL, prefetch_main, pc) == 0)
		pc->pf_started = true;
	return pc;
}

void pcache_free(struct pcache *pc)
{
	if (!pc)
		return;
	pthread_mutex_lock(&pc->mu);
	pc->stop = true;
	pthread_cond_broadcast(&pc->pf_cond);
	pthread_mutex_unlock(&pc->mu);
	if (pc->pf_started)
		pthread_join(pc->pf_thread, NULL);
	while (pc->lru.next != &pc->lru)
		part_remove_locked(pc, pc->lru.next);
	for (size_t b = 0; b < pc->nbuckets; b++)
		while (pc->table[b])
			part_remove_locked(pc, pc->table[b]);
	while (pc->disk_head) {
		struct disk_entry *d = pc->disk_head;
		pc->disk_head = d->next;
		free(d);
	}
	free(pc->table);
	free(pc->dir);
	pthread_cond_destroy(&pc->loaded);
	pthread_cond_destroy(&pc->pf_cond);
	pthread_mutex_destroy(&pc->mu);
	free(pc);
}

void pcache_stats(struct pcache *pc, struct pcache_stats *st)
{
	pthread_mutex_lock(&pc->mu);
	st->hits = pc->hits;
	st->misses = pc->misses;
	st->disk_hits = pc->disk_hits;
	st->gets = pc->gets;
	st->get_bytes = pc->get_bytes;
	st->ram_bytes = pc->ram_bytes;
	st->disk_bytes = pc->disk_bytes;
	pthread_mutex_unlock(&pc->mu);
}
