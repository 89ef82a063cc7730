/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Test filter: drops a pseudo-random fraction of UDP frames (about
 * DROP_PER_1024 in 1024; default 10, ~1%) to induce loss for transport
 * tests (tests/test_transport_memif.py). The dice are the clock's low
 * bits, mixed: a resent frame, identical to the lost one, gets a fresh
 * roll. Everything that is not UDP (ARP, ICMP) passes.
 */
#include "shunt_filter.h"
#include "shunt_parse.h"

#ifndef DROP_PER_1024
#define DROP_PER_1024 10
#endif

SHUNT_REASONS("dice");
SHUNT_COUNTERS("udp", "dropped");

SHUNT_FILTER(drop_some)
{
	struct shunt_pkt p;
	uint64_t x;

	if (shunt_parse(ctx, &p) != SHUNT_PARSE_OK || p.proto != 17)
		return SHUNT_PASS;
	shunt_counter_add(0, 1);
	x = shunt_now_ns();
	x ^= x >> 29;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 32;
	if ((x & 1023) < DROP_PER_1024) {
		shunt_counter_add(1, 1);
		return SHUNT_DROP_REASON(1);
	}
	return SHUNT_PASS;
}
