/* password.h -- getting a password from the environment or the terminal. */
#ifndef BUCKETFS_DAEMON_PASSWORD_H
#define BUCKETFS_DAEMON_PASSWORD_H

/* The value of env_name if set, else a prompt on the controlling terminal
 * (echo off).  NULL with a message if neither is possible.  Free with
 * password_free, which wipes it. */
char *password_get(const char *env_name, const char *prompt, int confirm);
void password_free(char *pw);

#endif
