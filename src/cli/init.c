/* init.c -- `bucketfs init`: write the commented configuration template
 * (daemon/conf.h owns the schema). */
#include "cli/init.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "daemon/conf.h"

#define DEFAULT_CONF "bucketfs.conf"

static int init_usage(FILE *f, int status)
{
	fprintf(f, "usage: bucketfs init [--force] [FILE]\n\n"
		"Write a commented configuration with every setting and its default to FILE\n"
		"(default %s; '-' for standard output).  An existing FILE is kept unless\n"
		"--force is given.  Then edit it and start with 'bucketfs run -c FILE'.\n",
		DEFAULT_CONF);
	return status;
}

static int write_conf_file(const char *path, bool force)
{
	int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (force ? O_TRUNC : O_EXCL);
	int fd = open(path, flags, 0600);
	if (fd < 0) {
		if (errno == EEXIST)
			fprintf(stderr, "bucketfs: %s exists; not overwritten (use --force)\n", path);
		else
			fprintf(stderr, "bucketfs: cannot create %s: %s\n", path, strerror(errno));
		return 1;
	}
	FILE *f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		return 1;
	}
	int r = conf_write_template(f);
	if (fclose(f) != 0)
		r = -EIO;
	if (r < 0) {
		fprintf(stderr, "bucketfs: cannot write %s: %s\n", path, strerror(errno));
		return 1;
	}
	printf("wrote %s: edit it, then start with 'bucketfs run -c %s'\n", path, path);
	return 0;
}

int cmd_init(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool force = false;
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "fh", opts, NULL)) != -1) {
		if (ch == 'f')
			force = true;
		else if (ch == 'h')
			return init_usage(stdout, 0);
		else
			return init_usage(stderr, 2);
	}
	if (argc - optind > 1)
		return init_usage(stderr, 2);
	const char *path = optind < argc ? argv[optind] : DEFAULT_CONF;
	if (!strcmp(path, "-"))
		return conf_write_template(stdout) < 0;
	return write_conf_file(path, force);
}
