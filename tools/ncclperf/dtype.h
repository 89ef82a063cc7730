/* SPDX-License-Identifier: BSD-3-Clause */
/* Element types and reduction operators, named and ordered as nccl-tests
 * lists them (-d, -o), with the kernels the collectives reduce with and
 * the data the results are checked against. */
#ifndef NCCLPERF_DTYPE_H
#define NCCLPERF_DTYPE_H

#include <stddef.h>

enum dtype { DT_INT8, DT_UINT8, DT_INT32, DT_UINT32, DT_INT64, DT_UINT64,
             DT_FLOAT, DT_DOUBLE, DT_COUNT };
enum redop { OP_SUM, OP_PROD, OP_MAX, OP_MIN, OP_COUNT };

size_t dtype_size(enum dtype t);
const char *dtype_name(enum dtype t);
const char *redop_name(enum redop op);
/* Parse a name (also nccl-tests' aliases: char, int, uint, ...), "all"
 * gives DT_COUNT / OP_COUNT. Returns the value or -EINVAL. */
int dtype_parse(const char *s);
int redop_parse(const char *s);

/* dst[i] = a[i] op b[i] for n elements; dst may alias a or b. Integers
 * wrap (computed unsigned), as on a GPU. */
void dtype_reduce(enum dtype t, enum redop op, void *dst, const void *a, const void *b, size_t n);

/* Rank rank's input: element i holds a small non-zero integer (±1..3)
 * from (rank, first + i, seed), so that sums and products over up to
 * hundreds of ranks are exact in every type and any reduction order. */
void dtype_fill(enum dtype t, void *buf, size_t n, int rank, size_t first, unsigned seed);
/* The serial reference: dst[i] = op over ranks 0..nranks-1 of their
 * input element first + i, computed element by element in 64 bits. */
void dtype_ref_reduce(enum dtype t, enum redop op, void *dst, size_t n,
                      int nranks, size_t first, unsigned seed);
/* Elements of got that differ from exp. */
size_t dtype_count_wrong(enum dtype t, const void *got, const void *exp, size_t n);

#endif
