/* SPDX-License-Identifier: BSD-3-Clause */
/* Test filter the verifier must refuse: reads past the SHUNT_WINDOW bytes
 * a filter may read. */
#include "shunt_filter.h"

SHUNT_FILTER(bad_oob)
{
	return ctx->data[SHUNT_WINDOW + 8];
}
