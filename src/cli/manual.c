/* manual.c -- `bucketfs --help` on a terminal: the installed bucketfs(8).
 *
 * The manual page (docs/bucketfs.8, installed by `make install`) is the
 * long text; the short usage main.c prints comes from its command table.
 * The page is shown only when standard output is a terminal (a pipe or a
 * script gets the short usage, as before) and `man -w 8 bucketfs` finds
 * it; otherwise nothing happens here. */
#include "cli/manual.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

/* Does `man -w 8 bucketfs` find the page?  Quietly. */
static int page_installed(void)
{
	pid_t pid = fork();
	if (pid < 0)
		return 0;
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
		if (null >= 0) {
			dup2(null, STDOUT_FILENO);
			dup2(null, STDERR_FILENO);
		}
		execlp("man", "man", "-w", "8", "bucketfs", (char *)NULL);
		_exit(127);
	}
	int st;
	if (waitpid(pid, &st, 0) < 0)
		return 0;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

void manual_show(void)
{
	if (!isatty(STDOUT_FILENO) || !page_installed())
		return;
	fflush(NULL);
	execlp("man", "man", "8", "bucketfs", (char *)NULL);
	/* man vanished meanwhile: the caller prints the short usage */
}
