/* SPDX-License-Identifier: BSD-3-Clause */
/* Aligned text tables for shuntctl: add rows of strings, print once. */
#ifndef SHUNT_TABLE_H
#define SHUNT_TABLE_H

#include <stdio.h>

#define TABLE_MAX_COLS 12

struct table;

/* A table with the given headers (NULL-terminated). NULL on no memory. */
struct table *table_new(const char *const *headers);
/* Add a row of as many cells as headers; each is copied (NULL prints
 * as "-"). Returns 0 or -ENOMEM. */
int table_row(struct table *t, const char *const *cells);
/* Free t without printing it. */
void table_free(struct table *t);
/* Print with columns padded to their widest cell, then free t. */
void table_print(struct table *t, FILE *f);

#endif
