/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests: reduction kernels against the serial reference, the
 * nccl-tests number format, collective names. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coll.h"
#include "dtype.h"
#include "report.h"

static int failures;

#define CHECK(cond, ...) do { if (!(cond)) { failures++; \
	fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
	fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } while (0)

/* Folding ranks' inputs with dtype_reduce gives the reference, for every
 * type, op and rank count. */
static void test_kernels(void)
{
	enum { N = 1001 };
	char acc[N * 8], in[N * 8], ref[N * 8];

	for (int t = 0; t < DT_COUNT; t++)
		for (int op = 0; op < OP_COUNT; op++)
			for (int nr = 1; nr <= 9; nr++) {
				dtype_fill(t, acc, N, 0, 5, 7);
				for (int r = 1; r < nr; r++) {
					dtype_fill(t, in, N, r, 5, 7);
					dtype_reduce(t, op, acc, in, acc, N);
				}
				dtype_ref_reduce(t, op, ref, N, nr, 5, 7);
				CHECK(dtype_count_wrong(t, acc, ref, N) == 0, "%s %s %d ranks",
				      dtype_name(t), redop_name(op), nr);
			}
	/* a wrong element is counted */
	dtype_ref_reduce(DT_FLOAT, OP_SUM, ref, N, 3, 0, 1);
	memcpy(acc, ref, N * 4);
	((float *)acc)[17] += 1;
	CHECK(dtype_count_wrong(DT_FLOAT, acc, ref, N) == 1, "one wrong element");
}

static void test_float_format(void)
{
	static const struct { double v; int w; const char *s; } cases[] = {
		{ 12.345, 7, "  12.35" }, { 1234.5678, 7, "1234.57" }, { 12345.678, 7, "12345.7" },
		{ 1234567.8, 7, "1234568" }, { 123456789.0, 7, "1.2e+08" }, { 0.001, 6, "  0.00" },
		{ 123.456, 6, "123.46" }, { 1234.5, 6, "1234.5" }, { 123456.0, 6, "123456" },
		{ 1234567.0, 6, " 1e+06" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char buf[32];

		report_float(buf, cases[i].w, cases[i].v);
		CHECK(strcmp(buf, cases[i].s) == 0, "%g width %d: '%s', want '%s'",
		      cases[i].v, cases[i].w, buf, cases[i].s);
	}
}

static void test_names(void)
{
	CHECK(coll_parse("all_reduce") == COLL_ALL_REDUCE, "all_reduce");
	CHECK(coll_parse("all_reduce_perf") == COLL_ALL_REDUCE, "all_reduce_perf");
	CHECK(coll_parse("allreduce") == COLL_ALL_REDUCE, "allreduce");
	CHECK(coll_parse("alltoall_perf") == COLL_ALLTOALL, "alltoall_perf");
	CHECK(coll_parse("sendrecv") == COLL_SENDRECV, "sendrecv");
	CHECK(coll_parse("reduce") == COLL_REDUCE, "reduce");
	CHECK(coll_parse("ncclperf") < 0, "ncclperf is no collective");
	CHECK(dtype_parse("int") == DT_INT32 && dtype_parse("all") == DT_COUNT, "dtype names");
	CHECK(redop_parse("max") == OP_MAX && redop_parse("avg") < 0, "op names");
}

int main(void)
{
	test_kernels();
	test_float_format();
	test_names();
	printf("%s\n", failures ? "FAILED" : "ok");
	return failures ? 1 : 0;
}
