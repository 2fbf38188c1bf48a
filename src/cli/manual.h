/* manual.h -- `bucketfs --help` shows the manual page bucketfs(8) when
 * it can (manual.c), so there is one long text, not two that drift. */
#ifndef BUCKETFS_CLI_MANUAL_H
#define BUCKETFS_CLI_MANUAL_H

/* When standard output is a terminal and man(1) finds bucketfs(8), run
 * it in place of this process; else return (the caller prints the short
 * usage). */
void manual_show(void);

#endif
