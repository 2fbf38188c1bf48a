/* pin.c -- pinned inodes (fs.h: fs_pin): a file in use as a whole, such
 * as an NBD export, keeps its size and its last name while pinned.
 *
 * Pins are few (one per export in use), so a list under open_mu does.
 * The checks run inside an op, under the inode's stripe, and a pin taken
 * after a check does not undo that op: a holder pins first and then
 * reads the size it will serve (fs_getattr), so the size it serves is the
 * one no later op may change. */
#include "fs/fs_int.h"

#include <inttypes.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "util/log.h"
#include "util/mem.h"

struct pin {
	uint64_t ino;
	uint32_t count;
	char *holder;
	struct pin *next;
};

static struct pin **pin_slot(struct fs *fs, uint64_t ino)
{
	struct pin **pp = &fs->pins;
	while (*pp && (*pp)->ino != ino)
		pp = &(*pp)->next;
	return pp;
}

void fs_pin(struct fs *fs, uint64_t ino, const char *holder)
{
	pthread_mutex_lock(&fs->open_mu);
	struct pin **pp = pin_slot(fs, ino);
	if (!*pp) {
		*pp = xcalloc(1, sizeof **pp);
		(*pp)->ino = ino;
		(*pp)->holder = xstrdup(holder ? holder : "a frontend");
	}
	(*pp)->count++;
	pthread_mutex_unlock(&fs->open_mu);
}

void fs_unpin(struct fs *fs, uint64_t ino)
{
	pthread_mutex_lock(&fs->open_mu);
	struct pin **pp = pin_slot(fs, ino), *p = *pp;
	if (p && --p->count == 0) {
		*pp = p->next;
		free(p->holder);
		free(p);
	}
	pthread_mutex_unlock(&fs->open_mu);
}

bool fs_pinned(struct fs *fs, uint64_t ino)
{
	pthread_mutex_lock(&fs->open_mu);
	bool pinned = *pin_slot(fs, ino) != NULL;
	pthread_mutex_unlock(&fs->open_mu);
	return pinned;
}

int fs_pin_check(struct fs *fs, uint64_t ino, const char *what)
{
	char holder[128];
	uint32_t count = 0;
	pthread_mutex_lock(&fs->open_mu);
	struct pin *p = *pin_slot(fs, ino);
	if (p) {
		count = p->count;
		snprintf(holder, sizeof holder, "%s", p->holder);
	}
	pthread_mutex_unlock(&fs->open_mu);
	if (!p)
		return 0;
	log_warn("inode %" PRIu64 " is in use as %s (%u user%s): refused %s (EBUSY); "
		 "disconnect its clients first", ino, holder, count, count == 1 ? "" : "s", what);
	return -EBUSY;
}

void fs_pins_free(struct fs *fs)
{
	while (fs->pins) {
		struct pin *p = fs->pins;
		fs->pins = p->next;
		free(p->holder);
		free(p);
	}
}
