/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The smallest useful shunt filter: drop UDP to port 9 (discard), pass the
 * rest. Copy this file to start your own:
 *
 *     clang -O2 -target bpf -mcpu=v2 -I /usr/share/shunt/include \
 *           -c my_filter.c -o my_filter.o
 *
 * Rules of the road (rte_bpf): no loops (unroll them), no global data, no
 * function calls but the helpers in shunt_filter.h (inline the rest).
 */
#include "shunt_filter.h"
#include "shunt_parse.h"

/* Drop reason 1 shows as "udp_discard" in the filter's stats. */
SHUNT_REASONS("udp_discard");
/* Counter 0, added to with shunt_counter_add(0, ...). */
SHUNT_COUNTERS("udp");
/* What it returns and counts depends only on the protocol and ports, so
 * the data plane may run it once per flow and replay the result (see
 * SHUNT_FLOW_CACHEABLE in shunt_filter.h). Delete this line if your
 * filter looks at anything else of the frame, or at the clock. */
SHUNT_FLOW_CACHEABLE;

SHUNT_FILTER(example)
{
	struct shunt_pkt p;

	/* Not IP, or malformed: not this filter's business. */
	if (shunt_parse(ctx, &p) != SHUNT_PARSE_OK || p.proto != 17)
		return SHUNT_PASS;
	shunt_counter_add(0, 1);
	if (p.has_ports && p.dport == 9)
		return SHUNT_DROP_REASON(1);
	return SHUNT_PASS;
}
