/* SPDX-License-Identifier: BSD-3-Clause */
/* Test filter the loader must refuse: calls a helper that does not exist. */
#include "shunt_filter.h"

extern uint64_t shunt_no_such_helper(uint32_t x);

SHUNT_FILTER(bad_helper)
{
	return shunt_no_such_helper(ctx->len);
}
