/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "table.h"

struct table {
	int ncols;
	size_t nrows, cap;
	char **cells;            /* nrows * ncols, row 0 the headers */
};

struct table *table_new(const char *const *headers)
{
	struct table *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return NULL;
	while (headers[t->ncols] != NULL && t->ncols < TABLE_MAX_COLS)
		t->ncols++;
	if (table_row(t, headers) < 0) {
		free(t);
		return NULL;
	}
	return t;
}

int table_row(struct table *t, const char *const *cells)
{
	if (t->nrows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		char **grown = realloc(t->cells, cap * (size_t)t->ncols * sizeof(*grown));

		if (grown == NULL)
			return -ENOMEM;
		t->cells = grown;
		t->cap = cap;
	}
	for (int c = 0; c < t->ncols; c++)
		t->cells[t->nrows * (size_t)t->ncols + (size_t)c] =
			strdup(cells[c] && cells[c][0] ? cells[c] : "-");
	t->nrows++;
	return 0;
}

void table_print(struct table *t, FILE *f)
{
	size_t width[TABLE_MAX_COLS] = { 0 };

	for (size_t r = 0; r < t->nrows; r++)
		for (int c = 0; c < t->ncols; c++) {
			const char *s = t->cells[r * (size_t)t->ncols + (size_t)c];
			size_t w = s ? strlen(s) : 1;

			if (w > width[c])
				width[c] = w;
		}
	for (size_t r = 0; r < t->nrows; r++) {
		for (int c = 0; c < t->ncols; c++) {
			char *s = t->cells[r * (size_t)t->ncols + (size_t)c];
			bool last = c == t->ncols - 1;

			/* No padding after the last column: no trailing blanks. */
			fprintf(f, "%-*s%s", last ? 0 : (int)width[c], s ? s : "-",
				last ? "\n" : "  ");
			free(s);
		}
	}
	free(t->cells);
	free(t);
}

void table_free(struct table *t)
{
	for (size_t i = 0; i < t->nrows * (size_t)t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t);
}

const char *table_jstr(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

const char *table_jint(json_t *o, const char *key, char *buf, size_t len)
{
	json_t *v = json_object_get(o, key);

	if (json_is_integer(v))
		snprintf(buf, len, "%lld", (long long)json_integer_value(v));
	else if (json_is_boolean(v))
		snprintf(buf, len, "%s", json_is_true(v) ? "yes" : "no");
	else
		snprintf(buf, len, "-");
	return buf;
}

const char *table_jarr(json_t *arr, char *buf, size_t len)
{
	size_t i, used = 0;
	json_t *v;

	buf[0] = '\0';
	json_array_foreach(arr, i, v)
		if (json_is_string(v) && used < len)
			used += (size_t)snprintf(buf + used, len - used, "%s%s",
						 i ? "," : "", json_string_value(v));
	return buf;
}
