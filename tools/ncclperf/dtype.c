/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "dtype.h"

static const struct {
	const char *name;
	size_t size;
} dtypes[DT_COUNT] = {
	[DT_INT8] = { "int8", 1 },     [DT_UINT8] = { "uint8", 1 },
	[DT_INT32] = { "int32", 4 },   [DT_UINT32] = { "uint32", 4 },
	[DT_INT64] = { "int64", 8 },   [DT_UINT64] = { "uint64", 8 },
	[DT_FLOAT] = { "float", 4 },   [DT_DOUBLE] = { "double", 8 },
};
static const char *const redops[OP_COUNT] = { "sum", "prod", "max", "min" };

size_t dtype_size(enum dtype t)
{
	return dtypes[t].size;
}

const char *dtype_name(enum dtype t)
{
	return dtypes[t].name;
}

const char *redop_name(enum redop op)
{
	return redops[op];
}

int dtype_parse(const char *s)
{
	static const struct { const char *alias; enum dtype t; } aliases[] = {
		{ "char", DT_INT8 }, { "int", DT_INT32 }, { "uint", DT_UINT32 },
		{ "float32", DT_FLOAT }, { "float64", DT_DOUBLE }, { "long", DT_INT64 },
	};

	if (strcasecmp(s, "all") == 0)
		return DT_COUNT;
	for (int t = 0; t < DT_COUNT; t++)
		if (strcasecmp(s, dtypes[t].name) == 0)
			return t;
	for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++)
		if (strcasecmp(s, aliases[i].alias) == 0)
			return (int)aliases[i].t;
	return -EINVAL;
}

int redop_parse(const char *s)
{
	if (strcasecmp(s, "all") == 0)
		return OP_COUNT;
	for (int op = 0; op < OP_COUNT; op++)
		if (strcasecmp(s, redops[op]) == 0)
			return op;
	return -EINVAL;
}

/* One loop per (type, op): the compiler vectorises each. U is the
 * unsigned type integer sums and products are done in (no signed
 * overflow). */
#define RED_LOOPS(T, U)                                                          \
static void red_##T(enum redop op, T *d, const T *a, const T *b, size_t n)      \
{                                                                                \
	switch (op) {                                                            \
	case OP_SUM:                                                             \
		for (size_t i = 0; i < n; i++)                                   \
			d[i] = (T)((U)a[i] + (U)b[i]);                           \
		break;                                                           \
	case OP_PROD:                                                            \
		for (size_t i = 0; i < n; i++)                                   \
			d[i] = (T)((U)a[i] * (U)b[i]);                           \
		break;                                                           \
	case OP_MAX:                                                             \
		for (size_t i = 0; i < n; i++)                                   \
			d[i] = a[i] > b[i] ? a[i] : b[i];                        \
		break;                                                           \
	default:                                                                 \
		for (size_t i = 0; i < n; i++)                                   \
			d[i] = a[i] < b[i] ? a[i] : b[i];                        \
		break;                                                           \
	}                                                                        \
}

RED_LOOPS(int8_t, uint32_t)
RED_LOOPS(uint8_t, uint32_t)
RED_LOOPS(int32_t, uint32_t)
RED_LOOPS(uint32_t, uint32_t)
RED_LOOPS(int64_t, uint64_t)
RED_LOOPS(uint64_t, uint64_t)
RED_LOOPS(float, float)
RED_LOOPS(double, double)

void dtype_reduce(enum dtype t, enum redop op, void *d, const void *a, const void *b, size_t n)
{
	switch (t) {
	case DT_INT8:   red_int8_t(op, d, a, b, n); break;
	case DT_UINT8:  red_uint8_t(op, d, a, b, n); break;
	case DT_INT32:  red_int32_t(op, d, a, b, n); break;
	case DT_UINT32: red_uint32_t(op, d, a, b, n); break;
	case DT_INT64:  red_int64_t(op, d, a, b, n); break;
	case DT_UINT64: red_uint64_t(op, d, a, b, n); break;
	case DT_FLOAT:  red_float(op, d, a, b, n); break;
	default:        red_double(op, d, a, b, n); break;
	}
}

static int fill_value(int rank, size_t idx, unsigned seed)
{
	uint64_t h = (uint64_t)idx * 0x9e3779b97f4a7c15ull ^
	             ((uint64_t)rank + 1) * 0xc2b2ae3d27d4eb4full ^ seed;

	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 32;
	return (int)(h % 3 + 1) * ((h >> 7) & 1 ? -1 : 1);
}

/* Stores v (already reduced, 64-bit domain) as element i of type t. */
static void store(enum dtype t, void *buf, size_t i, int64_t iv, double dv)
{
	switch (t) {
	case DT_INT8:   ((int8_t *)buf)[i] = (int8_t)iv; break;
	case DT_UINT8:  ((uint8_t *)buf)[i] = (uint8_t)iv; break;
	case DT_INT32:  ((int32_t *)buf)[i] = (int32_t)iv; break;
	case DT_UINT32: ((uint32_t *)buf)[i] = (uint32_t)iv; break;
	case DT_INT64:  ((int64_t *)buf)[i] = iv; break;
	case DT_UINT64: ((uint64_t *)buf)[i] = (uint64_t)iv; break;
	case DT_FLOAT:  ((float *)buf)[i] = (float)dv; break;
	default:        ((double *)buf)[i] = dv; break;
	}
}

void dtype_fill(enum dtype t, void *buf, size_t n, int rank, size_t first, unsigned seed)
{
	for (size_t i = 0; i < n; i++) {
		int v = fill_value(rank, first + i, seed);

		store(t, buf, i, v, v);
	}
}

/* A rank's input value as the type holds it, widened: unsigned types see
 * -1 as 2^k-1, which matters for max and min. */
static int64_t widen(enum dtype t, int v)
{
	switch (t) {
	case DT_UINT8:  return (uint8_t)v;
	case DT_UINT32: return (uint32_t)v;
	default:        return v;
	}
}

void dtype_ref_reduce(enum dtype t, enum redop op, void *dst, size_t n,
                      int nranks, size_t first, unsigned seed)
{
	int is_u64 = t == DT_UINT64, is_fp = t == DT_FLOAT || t == DT_DOUBLE;

	for (size_t i = 0; i < n; i++) {
		int64_t iv = widen(t, fill_value(0, first + i, seed));
		uint64_t uv = (uint64_t)(int64_t)fill_value(0, first + i, seed);
		double dv = fill_value(0, first + i, seed);

		for (int r = 1; r < nranks; r++) {
			int v = fill_value(r, first + i, seed);
			int64_t w = widen(t, v);

			switch (op) {
			case OP_SUM:
				iv = (int64_t)((uint64_t)iv + (uint64_t)w);
				dv += v;
				break;
			case OP_PROD:
				iv = (int64_t)((uint64_t)iv * (uint64_t)w);
				dv *= v;
				break;
			case OP_MAX:
				iv = w > iv ? w : iv;
				uv = (uint64_t)(int64_t)v > uv ? (uint64_t)(int64_t)v : uv;
				dv = v > dv ? v : dv;
				break;
			default:
				iv = w < iv ? w : iv;
				uv = (uint64_t)(int64_t)v < uv ? (uint64_t)(int64_t)v : uv;
				dv = v < dv ? v : dv;
				break;
			}
		}
		if (is_u64 && (op == OP_MAX || op == OP_MIN))
			iv = (int64_t)uv;
		store(t, dst, i, iv, is_fp ? dv : 0);
	}
}

size_t dtype_count_wrong(enum dtype t, const void *got, const void *exp, size_t n)
{
	size_t es = dtypes[t].size, wrong = 0;
	const char *g = got, *e = exp;

	if (memcmp(got, exp, n * es) == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		wrong += memcmp(g + i * es, e + i * es, es) != 0;
	return wrong;
}
