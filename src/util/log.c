/* log.c -- leveled logging to stderr (see log.h). */
#include "util/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static _Atomic int current_level = -1;

static int level_from_env(void)
{
	const char *s = getenv("BUCKETFS_LOG");
	if (!s)
		return LOG_INFO;
	if (!strcasecmp(s, "error"))
		return LOG_ERROR;
	if (!strcasecmp(s, "warn"))
		return LOG_WARN;
	if (!strcasecmp(s, "debug"))
		return LOG_DEBUG;
	return LOG_INFO;
}

void log_set_level(enum log_level level)
{
	atomic_store(&current_level, (int)level);
}

int log_enabled(enum log_level level)
{
	int cur = atomic_load(&current_level);
	if (cur < 0) {
		cur = level_from_env();
		atomic_store(&current_level, cur);
	}
	return (int)level <= cur;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };
	char line[2048];
	struct timespec ts;
	struct tm tm;
	size_t n;
	va_list ap;

	if (!log_enabled(level))
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
	n += snprintf(line + n, sizeof line - n, ".%03ldZ bucketfs[%d] %s: ",
		      ts.tv_nsec / 1000000, (int)getpid(), names[level]);
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof line - n, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	n = n + (size_t)m < sizeof line - 1 ? n + (size_t)m : sizeof line - 2;
	line[n++] = '\n';
	ssize_t w = write(STDERR_FILENO, line, n);
	(void)w;
}
