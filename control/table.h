/* SPDX-License-Identifier: BSD-3-Clause */
/* Aligned text tables for shuntctl: add rows of strings, print once. */
#ifndef SHUNT_TABLE_H
#define SHUNT_TABLE_H

#include <stdio.h>
#include <jansson.h>

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

/* Cell text from JSON: a string member ("" if absent); an integer or
 * boolean member ("yes"/"no"; "-" if absent) written into buf; an array of
 * strings joined with commas into buf. Each returns a string to print. */
const char *table_jstr(json_t *o, const char *key);
const char *table_jint(json_t *o, const char *key, char *buf, size_t len);
const char *table_jarr(json_t *arr, char *buf, size_t len);

#endif
