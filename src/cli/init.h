/* init.h -- `bucketfs init [--force] [FILE]` (init.c). */
#ifndef BUCKETFS_CLI_INIT_H
#define BUCKETFS_CLI_INIT_H

int cmd_init(int argc, char **argv);

#endif
