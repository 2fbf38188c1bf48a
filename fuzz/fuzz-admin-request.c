/* fuzz-admin-request.c -- the daemon's admin request decoder
 * (admin_parse, src/daemon/admin_int.h): the bytes a local client sends.
 * Besides not crashing, a decoded request must keep the protocol's
 * promises: one printable line within ADMIN_REQUEST_MAX bytes, and a
 * checkpoint name that lies inside that line. */
#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "daemon/admin_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct admin_request rq;
	int r = admin_parse((const char *)data, size, &rq);
	if (r < 0) {
		assert(r == -EINVAL || r == -E2BIG);
		assert(memchr(rq.msg, '\0', sizeof rq.msg) && rq.msg[0]);
		return 0;
	}
	assert(r == 0);
	/* line is the bytes before the newline, the verb cut off at its
	 * first space by a NUL. */
	const uint8_t *nl = memchr(data, '\n', size);
	assert(nl);
	size_t n = (size_t)(nl - data);
	assert(n < ADMIN_REQUEST_MAX && rq.line[n] == '\0');
	const char *space = memchr(data, ' ', n);
	for (size_t i = 0; i < n; i++) {
		assert(data[i] >= 0x20 && data[i] <= 0x7e);
		assert(rq.line[i] == (space && i == (size_t)(space - (const char *)data) ? '\0'
										    : (char)data[i]));
	}
	switch (rq.verb) {
	case ADMIN_CHECKPOINT_CREATE:
	case ADMIN_CHECKPOINT_DELETE:
		assert(rq.name > rq.line && rq.name <= rq.line + n);
		break;
	case ADMIN_STATUS:
	case ADMIN_FLUSH:
	case ADMIN_STATS:
	case ADMIN_CHECKPOINT_LIST:
		assert(!rq.name);
		break;
	default:
		assert(!"unknown verb");
	}
	return 0;
}
