/* SPDX-License-Identifier: BSD-3-Clause */
/* Test filter: sets MARK_BIT and the chain's tenant (bits 8 up) in
 * ctx->mark and passes; built once per bit, and again flow-cacheable
 * (CACHEABLE: its result depends on nothing of the frame). A packet that
 * leaves a two-filter chain with only one bit saw half a chain; one whose
 * tenant is not its chain's got a result of another chain. */
#include "shunt_filter.h"

#ifdef CACHEABLE
SHUNT_FLOW_CACHEABLE;
#endif

SHUNT_FILTER(mark)
{
	ctx->mark |= MARK_BIT | ctx->tenant << 8;
	return SHUNT_PASS;
}
