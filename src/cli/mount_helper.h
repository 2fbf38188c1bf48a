/* mount_helper.h -- `bucketfs SOURCE DIR -o OPTS`, the form mount(8)
 * runs through mount.fuse3 or /sbin/mount.fuse.bucketfs (mount_helper.c). */
#ifndef BUCKETFS_CLI_MOUNT_HELPER_H
#define BUCKETFS_CLI_MOUNT_HELPER_H

#include <stdbool.h>

/* Is this that form?  Called as mount.*, or argv[1] a URL or a path and
 * a directory after it (no command looks like either). */
bool mount_helper_form(int argc, char **argv);
/* Mount SOURCE on DIR, detach once the mount is live: 0, or non-zero
 * after the daemon's error (see mount_helper.c). */
int mount_helper_main(int argc, char **argv);

#endif
