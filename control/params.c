/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <string.h>
#include "params.h"

int params_str(json_t *o, const char *key, bool required, char *buf,
	       size_t len, struct jsonl_error *e)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL) {
		if (!required)
			return 0;
		jsonl_fail(e, JSONL_E_PARAMS, "'%s' is required", key);
		return -EINVAL;
	}
	if (!json_is_string(v) || json_string_length(v) == 0 ||
	    json_string_length(v) >= len ||
	    strlen(json_string_value(v)) != json_string_length(v)) {
		jsonl_fail(e, JSONL_E_PARAMS,
			   "'%s' must be a string of 1 to %zu bytes", key, len - 1);
		return -EINVAL;
	}
	memcpy(buf, json_string_value(v), json_string_length(v) + 1);
	return 1;
}

int params_uint(json_t *o, const char *key, bool required, uint32_t min,
		uint32_t max, uint32_t *out, struct jsonl_error *e)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL) {
		if (!required)
			return 0;
		jsonl_fail(e, JSONL_E_PARAMS, "'%s' is required", key);
		return -EINVAL;
	}
	if (!json_is_integer(v) || json_integer_value(v) < min ||
	    json_integer_value(v) > max) {
		jsonl_fail(e, JSONL_E_PARAMS, "'%s' must be an integer from %u to %u",
			   key, min, max);
		return -EINVAL;
	}
	*out = (uint32_t)json_integer_value(v);
	return 1;
}

int params_str_array(json_t *o, const char *key, bool required, size_t max,
		     json_t **out, struct jsonl_error *e)
{
	json_t *v = json_object_get(o, key), *s;
	size_t i;

	if (v == NULL) {
		if (!required)
			return 0;
		jsonl_fail(e, JSONL_E_PARAMS, "'%s' is required", key);
		return -EINVAL;
	}
	if (!json_is_array(v) || json_array_size(v) > max) {
		jsonl_fail(e, JSONL_E_PARAMS,
			   "'%s' must be an array of at most %zu strings", key, max);
		return -EINVAL;
	}
	json_array_foreach(v, i, s)
		if (!json_is_string(s)) {
			jsonl_fail(e, JSONL_E_PARAMS, "'%s[%zu]' must be a string",
				   key, i);
			return -EINVAL;
		}
	*out = v;
	return 1;
}

int params_only(json_t *o, const char *const *known, struct jsonl_error *e)
{
	const char *key;
	json_t *v;

	json_object_foreach(o, key, v) {
		size_t i;

		for (i = 0; known[i] != NULL && strcmp(known[i], key) != 0; i++)
			;
		if (known[i] == NULL) {
			jsonl_fail(e, JSONL_E_PARAMS, "unknown field '%.64s'", key);
			return -EINVAL;
		}
	}
	return 0;
}
