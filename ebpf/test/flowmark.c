/* SPDX-License-Identifier: BSD-3-Clause */
/* Test filter declared cacheable: marks and counts by protocol, fragment
 * state and port,
 * drops port 7, and makes more counter adds on port 99 than the verdict
 * cache can replay (so those frames must run every time). */
#include "shunt_filter.h"
#include "shunt_parse.h"

SHUNT_REASONS("seven");
SHUNT_COUNTERS("frames", "dport_sum", "many");
SHUNT_FLOW_CACHEABLE;

SHUNT_FILTER(flowmark)
{
	struct shunt_pkt p;

	if (shunt_parse(ctx, &p) != SHUNT_PARSE_OK)
		return SHUNT_PASS;
	shunt_counter_add(0, 1);
	shunt_counter_add(1, p.dport);
	ctx->mark = ctx->mark | (uint32_t)p.frag << 16 |
		    (uint32_t)(p.dport & 0xff) << 8 | p.proto;
	if (p.dport == 7)
		return SHUNT_DROP_REASON(1);
	if (p.dport == 99) {
		SHUNT_UNROLL
		for (int i = 0; i < 9; i++)
			shunt_counter_add(2, 1);
	}
	return SHUNT_PASS;
}
