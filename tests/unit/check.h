/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The check helper of the C unit tests (one per test binary): CHECK(cond,
 * fmt, ...) counts a pass, or counts a failure and prints the line and
 * the message; check_summary() prints "N passed, N failed" and returns
 * the exit status.
 */
#ifndef SHUNT_TEST_CHECK_H
#define SHUNT_TEST_CHECK_H

#include <stdarg.h>
#include <stdio.h>

static int n_pass, n_fail;

static void check(int ok, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4), unused));
static void check(int ok, int line, const char *fmt, ...)
{
	va_list ap;

	if (ok) {
		n_pass++;
		return;
	}
	n_fail++;
	fprintf(stderr, "FAIL line %d: ", line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}
#define CHECK(cond, ...) check(!!(cond), __LINE__, __VA_ARGS__)

static int check_summary(void) __attribute__((unused));
static int check_summary(void)
{
	printf("%d passed, %d failed\n", n_pass, n_fail);
	return n_fail ? 1 : 0;
}

#endif
