/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Reading request parameters into C values. Every getter names the field
 * in its error (as "'field' must be ..."), so a client learns what to fix.
 * Getters return 1 when the field was set, 0 when it is absent and
 * optional, or -EINVAL with e filled (code JSONL_E_PARAMS).
 */
#ifndef SHUNT_PARAMS_H
#define SHUNT_PARAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "jsonl_server.h"

/* A string of 1 to len-1 bytes, no NUL inside. */
int params_str(json_t *o, const char *key, bool required, char *buf,
	       size_t len, struct jsonl_error *e);

/* An integer in [min, max]. */
int params_uint(json_t *o, const char *key, bool required, uint32_t min,
		uint32_t max, uint32_t *out, struct jsonl_error *e);

/* An array of at most max strings; *out is borrowed from o. */
int params_str_array(json_t *o, const char *key, bool required, size_t max,
		     json_t **out, struct jsonl_error *e);

/* Refuse keys of o that are not in the NULL-terminated list known:
 * a misspelt optional field must not pass silently. Returns 0 or
 * -EINVAL. */
int params_only(json_t *o, const char *const *known, struct jsonl_error *e);

#endif
