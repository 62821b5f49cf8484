/* log.c - see log.h. */
#include "common/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int g_level = -1;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void log_init(void)
{
	const char *env = getenv("DKV_LOG");
	static const char *const names[] = { "error", "warn", "info", "debug" };

	g_level = DKV_LOG_WARN;
	if (env == NULL)
		return;
	for (int i = 0; i < 4; i++)
		if (strcmp(env, names[i]) == 0)
			g_level = i;
}

int dkv_log_enabled(enum dkv_log_level level)
{
	pthread_once(&g_once, log_init);
	return (int)level <= g_level;
}

void dkv_log(enum dkv_log_level level, const char *module, const char *fmt, ...)
{
	static const char tags[] = "EWID";
	char line[1024];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	int n;

	if (!dkv_log_enabled(level))
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = snprintf(line, sizeof(line), "%02d:%02d:%02d.%06ld %c %s: ",
		     tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000,
		     tags[level], module);
	if (n < 0 || (size_t)n >= sizeof(line))
		return;
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s\n", line);
}
