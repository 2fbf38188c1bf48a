/* password.c -- password from environment or terminal (see password.h). */
#include "daemon/password.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "crypt/aead.h"
#include "util/mem.h"

static char *prompt_tty(const char *prompt)
{
	FILE *tty = fopen("/dev/tty", "r+");
	if (!tty)
		return NULL;
	struct termios old, quiet;
	int fd = fileno(tty);
	bool restore = tcgetattr(fd, &old) == 0;
	if (restore) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(fd, TCSAFLUSH, &quiet);
	}
	fprintf(tty, "%s", prompt);
	fflush(tty);
	char line[1024];
	char *got = fgets(line, sizeof line, tty);
	if (restore)
		tcsetattr(fd, TCSAFLUSH, &old);
	fprintf(tty, "\n");
	fclose(tty);
	if (!got)
		return NULL;
	line[strcspn(line, "\r\n")] = 0;
	char *pw = xstrdup(line);
	crypt_wipe(line, sizeof line);
	return pw;
}

char *password_get(const char *env_name, const char *prompt, int confirm)
{
	const char *env = getenv(env_name);
	if (env)
		return xstrdup(env);
	char *pw = prompt_tty(prompt);
	if (!pw) {
		fprintf(stderr, "bucketfs: no password: set %s or run on a terminal\n", env_name);
		return NULL;
	}
	if (confirm) {
		char *again = prompt_tty("Repeat password: ");
		if (!again || strcmp(again, pw) != 0) {
			fprintf(stderr, "bucketfs: passwords do not match\n");
			password_free(pw);
			password_free(again);
			return NULL;
		}
		password_free(again);
	}
	if (!*pw) {
		fprintf(stderr, "bucketfs: empty password refused\n");
		password_free(pw);
		return NULL;
	}
	return pw;
}

void password_free(char *pw)
{
	if (!pw)
		return;
	crypt_wipe(pw, strlen(pw));
	free(pw);
}
