/* fuzz-admin-reply.c -- the CLI's decoder of a daemon's admin reply
 * (admin_parse_reply, src/daemon/admin_int.h): a hostile or broken
 * daemon must not crash `bucketfs status`. */
#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/admin_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* The client NUL-terminates what it read; so do we, in a buffer of
	 * exactly that size so ASan sees any read past it. */
	char *reply = malloc(size + 1);
	memcpy(reply, data, size);
	reply[size] = '\0';
	char *body = NULL, err[64];
	int r = admin_parse_reply(reply, size, &body, err, sizeof err);
	if (r == 0) {
		assert(body && strlen(body) <= size);
		free(body);
	} else {
		assert(r < 0 && r >= -4095 && !body);
		assert(memchr(err, '\0', sizeof err));
	}
	free(reply);
	return 0;
}
