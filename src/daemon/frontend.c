/* frontend.c -- the table of frontends the daemon can start (frontend.h).
 * A new frontend adds its adapter's ops here, in the order they start. */
#include "daemon/frontend.h"

#include <stddef.h>

const struct frontend_ops *const daemon_frontends[] = {
	&frontend_fuse,
	&frontend_ninep,
	&frontend_nbd,
	&frontend_nfs,
	NULL,
};
