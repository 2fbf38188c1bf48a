/* run.h -- `bucketfs run`: the daemon (daemon/daemon.h) from the command line (run.c). */
#ifndef BUCKETFS_CLI_RUN_H
#define BUCKETFS_CLI_RUN_H

int cmd_run(int argc, char **argv);

#endif
