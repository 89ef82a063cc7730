/* SPDX-License-Identifier: BSD-3-Clause */
#include <stdio.h>
#include <time.h>
#include "log.h"

static enum log_level cur_level = LOG_LVL_INFO;
static const char *const level_names[] = { "error", "warn", "info", "debug" };

void log_set_level(enum log_level lvl) { cur_level = lvl; }
enum log_level log_get_level(void) { return cur_level; }

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	struct timespec ts;
	va_list ap;

	if (lvl > cur_level)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	flockfile(stderr);
	fprintf(stderr, "%lld.%03ld shunt-dataplane %s: ", (long long)ts.tv_sec,
		ts.tv_nsec / 1000000, level_names[lvl]);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	funlockfile(stderr);
}
