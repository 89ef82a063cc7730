/* SPDX-License-Identifier: BSD-3-Clause */
/* nccl-tests' output, printed by rank 0: the header, the device table,
 * one row per size (out-of-place then in-place), the footer; and the same
 * content as JSON for -J (nccl-tests' JSON layout, version 3). */
#ifndef NCCLPERF_REPORT_H
#define NCCLPERF_REPORT_H

#include <stddef.h>

#include "ncclperf.h"

/* One rank's line of "# Using devices": no GPU, so the device is -1, the
 * bracket names the network namespace, the rest the memory and transport. */
struct report_dev {
	int rank, pid;
	char host[64];
	char netns[64];
	char info[120];
};

struct report;

/* Formats v into exactly width characters as nccl-tests does: two
 * decimals, fewer when the number is wider, exponent when nothing fits. */
void report_float(char *buf, int width, double v);

/* Rank 0 only. Returns NULL on allocation failure. */
struct report *report_open(const struct np_opts *o);
void report_header(struct report *r, const struct report_dev *dev, int nranks);
void report_row_begin(struct report *r, size_t bytes, size_t count, const char *type,
                      const char *op, int root);
void report_row_body(struct report *r, double usec, double algbw, double busbw,
                     long long wrong, int checked, int in_place);
void report_row_end(struct report *r);
/* errors: rows with wrong results summed over ranks. */
void report_footer(struct report *r, int errors, double avg_busbw);
/* Writes the JSON file when -J was given and frees r. Returns 0 or -errno
 * (message on stderr). */
int report_close(struct report *r);

#endif
