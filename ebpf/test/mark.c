/* SPDX-License-Identifier: BSD-3-Clause */
/* Test filter: sets MARK_BIT in ctx->mark and passes; built once per bit.
 * A packet that leaves a two-filter chain with only one bit saw half a
 * chain. */
#include "shunt_filter.h"

SHUNT_FILTER(mark)
{
	ctx->mark |= MARK_BIT;
	return SHUNT_PASS;
}
