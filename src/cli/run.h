/* run.h -- `bucketfs run`: mount a store with FUSE and serve it (run.c). */
#ifndef BUCKETFS_CLI_RUN_H
#define BUCKETFS_CLI_RUN_H

int cmd_run(int argc, char **argv);

#endif
